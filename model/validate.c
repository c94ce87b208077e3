// validate.c: the Kubernetes API server's Service rules (notes B 8-12,
// D 23-32, 35-36, 41-45, E 52) plus the form's stricter rules (DESIGN §2).
//
// Every check runs; nothing stops at the first problem. Field paths are
// Kubernetes' where a Kubernetes field exists. svcfleet-only fields use:
//   metadata.cluster                               the target cluster
//   spec.lbType                                    load balancing type
//   metadata.annotations[metallb.io/address-pool]  the MetalLB pool
//   metadata.annotations[metallb.io/loadBalancerIPs] a MetalLB address
//   spec.loadBalancerIP                            an "other" LB address
//   metadata.annotations[svcfleet.io/selector-from] the selector's source
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

#define PATH_MAX_LEN 1024

static const char *const service_types[]
    = {"ClusterIP", "LoadBalancer", "NodePort", NULL};
static const char *const protocols[]  = {"SCTP", "TCP", "UDP", NULL};
static const char *const affinities[] = {"ClientIP", "None", NULL};
static const char *const etps[]       = {"Cluster", "Local", NULL};
static const char *const lb_types[]   = {"metallb", "other", NULL};

#define LB_ONLY "may only be used when `type` is 'LoadBalancer'"

static bool
in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++) {
		if (strcmp(sf_nz(s), list[i]) == 0) {
			return (true);
		}
	}
	return (false);
}

static bool
is_type(const sf_service_spec *sp, const char *t)
{
	return (sf__model_streq(sp->type, t));
}

static bool
externally_accessible(const sf_service_spec *sp)
{
	return (is_type(sp, "NodePort") || is_type(sp, "LoadBalancer"));
}

// each_msg reports every message of a name rule as an Invalid on field.
static void
invalid_msgs(sf__model_vctx *vc, const char *field, const char *value,
    const char **msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sf__model_v_invalid_str(vc, field, value, msgs[i]);
	}
}

// ------------------------------------------------------------- metadata

// Annotations svcfleet writes itself; a client may not set them directly.
static const struct {
	const char *key;
	const char *why;
} reserved_annotations[] = {
    {SF_ANN_CLUSTER,
        "is written by svcfleet; the cluster is "
        "metadata.cluster"},
    {SF_ANN_SYNC_STATE, "is written by svcfleet"},
    {SF_ANN_SYNC_MESSAGE, "is written by svcfleet"},
    {SF_ANN_RESOURCE_VERSION, "is written by svcfleet"},
    {SF_ANN_CLUSTER_IP, "is written by svcfleet"},
    {SF_ANN_NODE_PORTS, "is written by svcfleet"},
    {SF_ANN_OWNER, "is written by svcfleet"},
    {SF_ANN_GENERATION, "is written by svcfleet"},
    {SF_ANN_ALLOW_ADOPTION,
        "is written by svcfleet from spec "
        "allow_adoption"},
    {SF_ANN_SELECTOR_FROM,
        "is written by svcfleet from spec "
        "selector_from"},
    {SF_ANN_METALLB_POOL, "is written by svcfleet from spec lb_pool"},
    {SF_ANN_METALLB_POOL_OLD, "is written by svcfleet from spec lb_pool"},
    {SF_ANN_METALLB_IPS, "is written by svcfleet from spec lb_address"},
    {SF_ANN_METALLB_IPS_OLD,
        "is written by svcfleet from spec "
        "lb_address"},
    {"metallb.io/ip-allocated-from-pool", "is written by MetalLB"},
    {"metallb.universe.tf/ip-allocated-from-pool", "is written by MetalLB"},
};

#define TOPOLOGY_MODE  "service.kubernetes.io/topology-mode"
#define TOPOLOGY_HINTS "service.kubernetes.io/topology-aware-hints"
#define LB_SOURCE_RANGES_ANN \
	"service.beta.kubernetes.io/load-balancer-source-ranges"

// Duplicates are found by sorting (n log n), never by comparing every pair
// (issue 17: 320,000 annotations compared pairwise held the store's writer
// for minutes). A key is a string, a number, or both.
typedef struct dup_key {
	const char *d_s;
	long long   d_n;
	size_t      d_i; // position in the request
} dup_key;

static int
dup_key_cmp(const void *a, const void *b)
{
	const dup_key *x = a, *y = b;
	int            c = strcmp(x->d_s, y->d_s);
	if (c != 0) {
		return (c);
	}
	if (x->d_n != y->d_n) {
		return (x->d_n < y->d_n ? -1 : 1);
	}
	return (x->d_i < y->d_i ? -1 : x->d_i > y->d_i);
}

// dup_marks sorts keys[0..n) and returns flags (calloc'd, nitems long, free
// with free) where flags[i] says an earlier item has the same key as item
// i; NULL when out of memory (vc_oom is set).
static bool *
dup_marks(sf__model_vctx *vc, dup_key *keys, size_t n, size_t nitems)
{
	bool *flags = calloc(nitems + 1, sizeof(*flags));
	if (flags == NULL) {
		vc->vc_oom = 1;
		return (NULL);
	}
	qsort(keys, n, sizeof(*keys), dup_key_cmp);
	for (size_t i = 1; i < n; i++) {
		if (keys[i].d_n == keys[i - 1].d_n
		    && strcmp(keys[i].d_s, keys[i - 1].d_s) == 0) {
			flags[keys[i].d_i] = true;
		}
	}
	return (flags);
}

// kv_dups: dup_marks over the keys of a label or annotation list.
static bool *
kv_dups(sf__model_vctx *vc, sf_kv *const *kvs, size_t n)
{
	dup_key *keys = calloc(n + 1, sizeof(*keys));
	size_t   m    = 0;
	bool    *flags;

	if (keys == NULL) {
		vc->vc_oom = 1;
		return (NULL);
	}
	for (size_t i = 0; i < n; i++) {
		if (kvs[i] != NULL) {
			keys[m++] = (dup_key) {sf_nz(kvs[i]->key), 0, i};
		}
	}
	flags = dup_marks(vc, keys, m, n);
	free(keys);
	return (flags);
}

// validate_labels: Kubernetes ValidateLabels (rules 10-11) on path, which
// carries no key, plus duplicates (possible only in our list form).
static void
validate_labels(
    sf__model_vctx *vc, sf_kv *const *kvs, size_t n, const char *path)
{
	const char *msgs[SF__MODEL_MSGS_MAX];
	size_t      k;
	bool       *dup = kv_dups(vc, kvs, n);

	for (size_t i = 0; i < n && dup != NULL; i++) {
		if (kvs[i] == NULL) {
			continue;
		}
		k = sf__model_qualified_name(kvs[i]->key, msgs);
		invalid_msgs(vc, path, sf_nz(kvs[i]->key), msgs, k);
		k = sf__model_label_value(kvs[i]->value, msgs);
		invalid_msgs(vc, path, sf_nz(kvs[i]->value), msgs, k);
		if (dup[i]) {
			sf__model_v_duplicate_str(
			    vc, path, sf_nz(kvs[i]->key));
		}
	}
	free(dup);
}

static void
validate_annotations(sf__model_vctx *vc, sf_kv *const *kvs, size_t n)
{
	const char *msgs[SF__MODEL_MSGS_MAX];
	char        path[PATH_MAX_LEN];
	size_t      total = 0;
	bool       *dup   = kv_dups(vc, kvs, n);

	for (size_t i = 0; i < n && dup != NULL; i++) {
		if (kvs[i] == NULL) {
			continue;
		}
		const char *key = sf_nz(kvs[i]->key);
		sf_buf      low = SF_BUF_INIT;
		for (const char *p = key; *p != '\0'; p++) {
			sf_buf_putc(&low, (char) tolower((unsigned char) *p));
		}
		size_t k = sf__model_qualified_name(sf_buf_cstr(&low), msgs);
		sf_buf_fini(&low);
		invalid_msgs(vc, "metadata.annotations", key, msgs, k);
		if (dup[i]) {
			sf__model_v_duplicate_str(
			    vc, "metadata.annotations", key);
		}
		for (size_t r = 0; r < sizeof(reserved_annotations)
		         / sizeof(reserved_annotations[0]);
		     r++) {
			if (strcmp(key, reserved_annotations[r].key) == 0) {
				snprintf(path, sizeof(path),
				    "metadata.annotations[%s]", key);
				sf__model_v_forbidden(
				    vc, path, reserved_annotations[r].why);
			}
		}
		total += strlen(key) + strlen(sf_nz(kvs[i]->value));
	}
	free(dup);
	if (total > SF_MODEL_ANNOTATIONS_MAX_BYTES) {
		sf__model_v_too_long(vc, "metadata.annotations",
		    SF_MODEL_ANNOTATIONS_MAX_BYTES);
	}

	const char *mode  = sf_model_kv_get(kvs, n, TOPOLOGY_MODE);
	const char *hints = sf_model_kv_get(kvs, n, TOPOLOGY_HINTS);
	if (mode != NULL && hints != NULL && strcmp(mode, hints) != 0) {
		sf__model_v_invalid_str(vc,
		    "metadata.annotations[" TOPOLOGY_MODE "]", mode,
		    "must match annotations[" TOPOLOGY_HINTS
		    "] when both are specified");
	}
	// i19-edit: the drift policy.
	const char *dp = sf_model_kv_get(kvs, n, SF_ANN_DRIFT_POLICY);
	if (dp != NULL && strcmp(dp, SF_DRIFT_POLICY_REPORT) != 0
	    && strcmp(dp, SF_DRIFT_POLICY_REVERT) != 0) {
		static const char *const policies[]
		    = {SF_DRIFT_POLICY_REPORT, SF_DRIFT_POLICY_REVERT, NULL};
		sf__model_v_not_supported(vc,
		    "metadata.annotations[" SF_ANN_DRIFT_POLICY "]", dp,
		    policies);
	}
}

static void
validate_meta(sf__model_vctx *vc, const sf_object_meta *m)
{
	const char *msgs[SF__MODEL_MSGS_MAX];
	size_t      k;

	if (sf__model_empty(m->cluster)) {
		sf__model_v_required(vc, "metadata.cluster", NULL);
	} else {
		k = sf__model_dns1123_label(m->cluster, msgs);
		invalid_msgs(vc, "metadata.cluster", m->cluster, msgs, k);
	}
	if (sf__model_empty(m->namespace_)) {
		sf__model_v_required(vc, "metadata.namespace", NULL);
	} else {
		k = sf__model_dns1123_label(m->namespace_, msgs);
		invalid_msgs(vc, "metadata.namespace", m->namespace_, msgs, k);
	}
	if (sf__model_empty(m->name)) {
		sf__model_v_required(
		    vc, "metadata.name", "name or generateName is required");
	} else {
		k = sf__model_dns1035_label(m->name, msgs);
		invalid_msgs(vc, "metadata.name", m->name, msgs, k);
		if (strlen(m->name) < 4) {
			// The form's rule, stricter than Kubernetes' 1-63.
			sf__model_v_invalid_str(vc, "metadata.name", m->name,
			    "must be at least 4 characters");
		}
	}
	validate_labels(vc, m->labels, m->n_labels, "metadata.labels");
	for (size_t i = 0; i < m->n_labels; i++) {
		if (m->labels[i] != NULL
		    && sf__model_streq(
		        m->labels[i]->key, SF_LABEL_MANAGED_BY)) {
			sf__model_v_forbidden(vc,
			    "metadata.labels[" SF_LABEL_MANAGED_BY "]",
			    "is written by svcfleet on the cluster's copy");
		}
	}
	validate_annotations(vc, m->annotations, m->n_annotations);
}

// ----------------------------------------------------------------- ports

static void
go_port_key(sf_buf *b, const char *protocol, int32_t port)
{
	// Kubernetes prints the duplicate key struct with %#v.
	sf_buf_puts(b, "core.ServicePort{Name:\"\", Protocol:");
	sf__model_quote(b, protocol);
	sf_buf_printf(b,
	    ", AppProtocol:(*string)(nil), Port:%d, "
	    "TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, "
	    "NodePort:0}",
	    port);
}

// The nodePort of port i: not on a ClusterIP, within the cluster's range.
static void
validate_node_port(sf__model_vctx *vc, const sf_service_spec *sp, size_t i,
    const sf_model_limits *lim)
{
	const sf_service_port *p = sp->ports[i];
	char                   path[PATH_MAX_LEN];

	snprintf(path, sizeof(path), "spec.ports[%zu].nodePort", i);
	if (p->node_port != 0 && is_type(sp, "ClusterIP")) {
		sf__model_v_forbidden(
		    vc, path, "may not be used when `type` is 'ClusterIP'");
	} else if (p->node_port != 0 && externally_accessible(sp)) {
		int32_t lo = SF_MODEL_NODE_PORT_MIN_DEFAULT;
		int32_t hi = SF_MODEL_NODE_PORT_MAX_DEFAULT;
		if (lim != NULL && lim->node_port_min != 0) {
			lo = lim->node_port_min;
		}
		if (lim != NULL && lim->node_port_max != 0) {
			hi = lim->node_port_max;
		}
		if (p->node_port < lo || p->node_port > hi) {
			char detail[160];
			snprintf(detail, sizeof(detail),
			    "provided port is not in the valid range. The "
			    "range of valid ports is %d-%d",
			    lo, hi);
			sf__model_v_invalid_int(
			    vc, path, p->node_port, detail);
		}
	}
}

static void
validate_port(sf__model_vctx *vc, const sf_service_spec *sp, size_t i,
    const sf_model_limits *lim, bool name_dup)
{
	const sf_service_port *p = sp->ports[i];
	const char            *msgs[SF__MODEL_MSGS_MAX];
	char                   path[PATH_MAX_LEN];
	size_t                 k;

	snprintf(path, sizeof(path), "spec.ports[%zu].name", i);
	if (sp->n_ports > 1 && sf__model_empty(p->name)) {
		sf__model_v_required(vc, path, NULL);
	} else if (!sf__model_empty(p->name)) {
		k = sf__model_dns1123_label(p->name, msgs);
		invalid_msgs(vc, path, p->name, msgs, k);
		if (name_dup) {
			sf__model_v_duplicate_str(vc, path, p->name);
		}
	}

	snprintf(path, sizeof(path), "spec.ports[%zu].port", i);
	if (p->port < 1 || p->port > 65535) {
		sf__model_v_invalid_int(vc, path, p->port,
		    "must be between 1 and 65535, inclusive");
	}

	snprintf(path, sizeof(path), "spec.ports[%zu].protocol", i);
	if (sf__model_empty(p->protocol)) {
		sf__model_v_required(vc, path, NULL);
	} else if (!in_list(p->protocol, protocols)) {
		sf__model_v_not_supported(vc, path, p->protocol, protocols);
	}

	snprintf(path, sizeof(path), "spec.ports[%zu].targetPort", i);
	if (!sf__model_empty(p->target_port_name)) {
		k = sf__model_port_name(p->target_port_name, msgs);
		invalid_msgs(vc, path, p->target_port_name, msgs, k);
		if (p->target_port != 0) {
			sf__model_v_invalid_int(vc, path, p->target_port,
			    "a target port is a number or a name, not both");
		}
	} else if (p->target_port < 1 || p->target_port > 65535) {
		sf__model_v_invalid_int(vc, path, p->target_port,
		    "must be between 1 and 65535, inclusive");
	}

	if (!sf__model_empty(p->app_protocol)) {
		snprintf(path, sizeof(path), "spec.ports[%zu].appProtocol", i);
		k = sf__model_qualified_name(p->app_protocol, msgs);
		invalid_msgs(vc, path, p->app_protocol, msgs, k);
	}

	validate_node_port(vc, sp, i, lim);
}

static void
validate_ports(
    sf__model_vctx *vc, const sf_service_spec *sp, const sf_model_limits *lim)
{
	char     path[PATH_MAX_LEN];
	size_t   n     = sp->n_ports, m;
	dup_key *keys  = calloc(n + 1, sizeof(*keys));
	bool    *names = NULL, *nodes = NULL, *ports = NULL;

	if (n == 0) {
		sf__model_v_required(vc, "spec.ports", NULL);
	}
	if (keys == NULL) {
		vc->vc_oom = 1;
		return;
	}
	// Duplicate names (nonempty), nonzero (protocol, nodePort), then
	// (protocol, port): each found by sorting.
	m = 0;
	for (size_t i = 0; i < n; i++) {
		if (sp->ports[i] != NULL
		    && !sf__model_empty(sp->ports[i]->name)) {
			keys[m++] = (dup_key) {sp->ports[i]->name, 0, i};
		}
	}
	names = dup_marks(vc, keys, m, n);
	m     = 0;
	for (size_t i = 0; i < n; i++) {
		if (sp->ports[i] != NULL && sp->ports[i]->node_port != 0) {
			keys[m++] = (dup_key) {sf_nz(sp->ports[i]->protocol),
			    sp->ports[i]->node_port, i};
		}
	}
	nodes = names != NULL ? dup_marks(vc, keys, m, n) : NULL;
	m     = 0;
	for (size_t i = 0; i < n; i++) {
		if (sp->ports[i] != NULL) {
			keys[m++] = (dup_key) {sf_nz(sp->ports[i]->protocol),
			    sp->ports[i]->port, i};
		}
	}
	ports = nodes != NULL ? dup_marks(vc, keys, m, n) : NULL;
	free(keys);
	if (ports == NULL) {
		free(names);
		free(nodes);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (sp->ports[i] != NULL) {
			validate_port(vc, sp, i, lim, names[i]);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (nodes[i]) {
			snprintf(
			    path, sizeof(path), "spec.ports[%zu].nodePort", i);
			sf__model_v_duplicate_int(
			    vc, path, sp->ports[i]->node_port);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (ports[i]) {
			const sf_service_port *p = sp->ports[i];
			sf_buf                 b = SF_BUF_INIT;
			go_port_key(&b, sf_nz(p->protocol), p->port);
			snprintf(path, sizeof(path), "spec.ports[%zu]", i);
			sf__model_viol(vc, SF_V_DUPLICATE, path,
			    "Duplicate value: %s", sf_buf_cstr(&b));
			sf_buf_fini(&b);
		}
	}
	free(names);
	free(nodes);
	free(ports);
}

// ------------------------------------------------------ session affinity

static void
validate_affinity(sf__model_vctx *vc, const sf_service_spec *sp)
{
	static const char tpath[]
	    = "spec.sessionAffinityConfig.clientIP.timeoutSeconds";

	if (sf__model_empty(sp->session_affinity)) {
		sf__model_v_required(vc, "spec.sessionAffinity", NULL);
	} else if (!in_list(sp->session_affinity, affinities)) {
		sf__model_v_not_supported(vc, "spec.sessionAffinity",
		    sp->session_affinity, affinities);
	}
	if (sf__model_streq(sp->session_affinity, "ClientIP")) {
		if (sp->session_timeout_seconds == 0) {
			sf__model_v_required(vc, tpath,
			    "when session affinity type is ClientIP");
		} else if (sp->session_timeout_seconds < 0
		    || sp->session_timeout_seconds
		        > SF_MODEL_SESSION_TIMEOUT_MAX) {
			sf__model_v_invalid_int(vc, tpath,
			    sp->session_timeout_seconds,
			    "must be greater than 0 and less than 86400");
		}
	} else if (sp->session_timeout_seconds != 0) {
		sf__model_v_forbidden(vc, "spec.sessionAffinityConfig",
		    "must not be set when session affinity is None");
	}
}

// ------------------------------------------------------- load balancers

// next_item returns the next comma-separated item of *cursor, spaces
// trimmed (malloc'd, NULL when out of memory), and says whether more follow.
// "a," has two items, the second empty, as Go's strings.Split has.
static char *
next_item(const char **cursor, bool *more)
{
	const char *p = *cursor, *e = strchr(p, ',');
	size_t      n = e != NULL ? (size_t) (e - p) : strlen(p);

	*more   = e != NULL;
	*cursor = p + n + (e != NULL ? 1 : 0);
	while (n > 0 && isspace((unsigned char) p[0])) {
		p++;
		n--;
	}
	while (n > 0 && isspace((unsigned char) p[n - 1])) {
		n--;
	}
	return (strndup(p, n));
}

static void
validate_source_ranges(
    sf__model_vctx *vc, const sf_service_spec *sp, const sf_object_meta *m)
{
	static const char fpath[] = "spec.LoadBalancerSourceRanges";
	char              path[PATH_MAX_LEN];
	sf__model_ip      ip;
	int               bits;

	if (sp->n_load_balancer_source_ranges > 0) {
		// Kubernetes' path really has a capital L here.
		if (!is_type(sp, "LoadBalancer")) {
			sf__model_v_forbidden(vc, fpath, LB_ONLY);
		}
		for (size_t i = 0; i < sp->n_load_balancer_source_ranges;
		     i++) {
			const char *v
			    = sf_nz(sp->load_balancer_source_ranges[i]);
			size_t n = strlen(v);
			while (n > 0 && isspace((unsigned char) v[0])) {
				v++;
				n--;
			}
			while (n > 0 && isspace((unsigned char) v[n - 1])) {
				n--;
			}
			char *t = strndup(v, n);
			snprintf(path, sizeof(path), "%s[%zu]", fpath, i);
			if (t == NULL) {
				vc->vc_oom = 1;
				return;
			}
			if (!sf__model_cidr_parse(t, &ip, &bits)) {
				sf__model_v_invalid_str(
				    vc, path, t, SF__MODEL_CIDR_MSG);
			}
			free(t);
		}
		return;
	}
	const char *ann = sf_model_kv_get(
	    m->annotations, m->n_annotations, LB_SOURCE_RANGES_ANN);
	if (ann == NULL) {
		return;
	}
	static const char apath[]
	    = "metadata.annotations[" LB_SOURCE_RANGES_ANN "]";
	if (!is_type(sp, "LoadBalancer")) {
		sf__model_v_forbidden(vc, apath, LB_ONLY);
	}
	// An all-blank annotation is allowed; blank items are not.
	const char *cur  = ann;
	bool        more = true;
	while (isspace((unsigned char) *cur)) {
		cur++;
	}
	if (*cur == '\0') {
		return;
	}
	while (more) {
		char *t = next_item(&cur, &more);
		if (t == NULL) {
			vc->vc_oom = 1;
			return;
		}
		if (!sf__model_cidr_parse(t, &ip, &bits)) {
			sf__model_v_invalid_str(
			    vc, apath, t, SF__MODEL_CIDR_MSG);
		}
		free(t);
	}
}

static const char *
address_path(const sf_service_spec *sp)
{
	return (sf__model_streq(sp->lb_type, "metallb")
	        ? "metadata.annotations[" SF_ANN_METALLB_IPS "]"
	        : "spec.loadBalancerIP");
}

static void
pool_list(sf_buf *b, const Svcfleet__V1__IPPool *pool)
{
	for (size_t i = 0; i < pool->n_addresses; i++) {
		sf_buf_printf(
		    b, "%s%s", i > 0 ? ", " : "", sf_nz(pool->addresses[i]));
	}
}

static const Svcfleet__V1__IPPool *
find_pool(
    sf__model_vctx *vc, const sf_service_spec *sp, const sf_model_limits *lim)
{
	static const char ppath[]
	    = "metadata.annotations[" SF_ANN_METALLB_POOL "]";

	if (lim == NULL || lim->pools == NULL) {
		return (NULL);
	}
	for (size_t i = 0; i < lim->npools; i++) {
		if (lim->pools[i] != NULL
		    && sf__model_streq(lim->pools[i]->name, sp->lb_pool)) {
			return (lim->pools[i]);
		}
	}
	sf_buf b = SF_BUF_INIT;
	if (lim->npools == 0) {
		sf_buf_puts(&b, "the cluster has no MetalLB address pools");
	} else {
		sf_buf_puts(&b,
		    "no such MetalLB address pool in the cluster; "
		    "known pools: ");
		for (size_t i = 0; i < lim->npools; i++) {
			if (i > 0) {
				sf_buf_puts(&b, ", ");
			}
			sf__model_quote(&b,
			    lim->pools[i] != NULL ? lim->pools[i]->name : "");
		}
	}
	sf__model_v_not_found_str(vc, ppath, sp->lb_pool, sf_buf_cstr(&b));
	sf_buf_fini(&b);
	return (NULL);
}

static void
validate_metallb_address(sf__model_vctx *vc, const sf_service_spec *sp,
    const Svcfleet__V1__IPPool *pool)
{
	const char *path = address_path(sp);
	const char *cur  = sp->lb_address;
	bool        more = true;
	int         nv4 = 0, nv6 = 0;

	// metallb.io/loadBalancerIPs: comma-separated, one per family.
	while (more) {
		sf__model_ip ip;
		char        *t = next_item(&cur, &more);
		if (t == NULL) {
			vc->vc_oom = 1;
			return;
		}
		if (!sf__model_ip_parse(t, &ip)) {
			sf__model_v_invalid_str(vc, path, t, SF__MODEL_IP_MSG);
		} else {
			*(ip.ip_family == 4 ? &nv4 : &nv6) += 1;
			bool in = false;
			for (size_t i = 0;
			     pool != NULL && i < pool->n_addresses; i++) {
				if (sf__model_pool_entry_contains(
				        pool->addresses[i], &ip)
				    == 1) {
					in = true;
				}
			}
			if (pool != NULL && !in) {
				sf_buf b = SF_BUF_INIT;
				sf_buf_puts(
				    &b, "is not in MetalLB address pool ");
				sf__model_quote(&b, pool->name);
				sf_buf_puts(&b, " (");
				pool_list(&b, pool);
				sf_buf_puts(&b, ")");
				sf__model_v_invalid_str(
				    vc, path, t, sf_buf_cstr(&b));
				sf_buf_fini(&b);
			}
		}
		free(t);
	}
	if (nv4 > 1 || nv6 > 1) {
		sf__model_v_invalid_str(vc, path, sp->lb_address,
		    "may specify no more than one IP for each IP family");
	}
}

static void
validate_lb(
    sf__model_vctx *vc, const sf_service_spec *sp, const sf_model_limits *lim)
{
	static const char ppath[]
	    = "metadata.annotations[" SF_ANN_METALLB_POOL "]";
	const char  *msgs[SF__MODEL_MSGS_MAX];
	size_t       k;
	sf__model_ip ip;

	if (!is_type(sp, "LoadBalancer")) {
		bool any = false;
		if (!sf__model_empty(sp->lb_pool)) {
			sf__model_v_forbidden(vc, ppath, LB_ONLY);
			any = true;
		}
		if (!sf__model_empty(sp->lb_address)) {
			sf__model_v_forbidden(vc, address_path(sp), LB_ONLY);
			any = true;
		}
		if (!sf__model_empty(sp->load_balancer_class)) {
			sf__model_v_forbidden(
			    vc, "spec.loadBalancerClass", LB_ONLY);
			any = true;
		}
		if (!any && !sf__model_empty(sp->lb_type)) {
			sf__model_v_forbidden(vc, "spec.lbType", LB_ONLY);
		}
		return;
	}
	if (sf__model_empty(sp->lb_type)) {
		sf__model_v_required(vc, "spec.lbType", NULL);
		return;
	}
	if (!in_list(sp->lb_type, lb_types)) {
		sf__model_v_not_supported(
		    vc, "spec.lbType", sp->lb_type, lb_types);
		return;
	}
	if (sf__model_streq(sp->lb_type, "metallb")) {
		const Svcfleet__V1__IPPool *pool = NULL;
		if (sf__model_empty(sp->lb_pool)) {
			sf__model_v_required(
			    vc, ppath, "a MetalLB address pool");
		} else if ((k = sf__model_dns1123_subdomain(sp->lb_pool, msgs))
		    > 0) {
			invalid_msgs(vc, ppath, sp->lb_pool, msgs, k);
		} else {
			pool = find_pool(vc, sp, lim);
		}
		if (!sf__model_empty(sp->lb_address)) {
			validate_metallb_address(vc, sp, pool);
		}
		if (!sf__model_empty(sp->load_balancer_class)) {
			sf__model_v_forbidden(vc, "spec.loadBalancerClass",
			    "may only be used when the load balancing type "
			    "is 'other'");
		}
		return;
	}
	// "other": a cloud provider's (or another controller's) balancer.
	if (!sf__model_empty(sp->lb_pool)) {
		sf__model_v_forbidden(vc, ppath,
		    "may only be used when the load balancing type is "
		    "'metallb'");
	}
	if (!sf__model_empty(sp->lb_address)
	    && !sf__model_ip_parse(sp->lb_address, &ip)) {
		sf__model_v_invalid_str(vc, "spec.loadBalancerIP",
		    sp->lb_address, SF__MODEL_IP_MSG);
	}
	if (!sf__model_empty(sp->load_balancer_class)) {
		k = sf__model_qualified_name(sp->load_balancer_class, msgs);
		invalid_msgs(vc, "spec.loadBalancerClass",
		    sp->load_balancer_class, msgs, k);
	}
}

static void
validate_etp(sf__model_vctx *vc, const sf_service_spec *sp)
{
	static const char path[] = "spec.externalTrafficPolicy";

	if (!externally_accessible(sp)) {
		if (!sf__model_empty(sp->external_traffic_policy)) {
			sf__model_v_invalid_str(vc, path,
			    sp->external_traffic_policy,
			    "may only be set for externally-accessible "
			    "services");
		}
	} else if (sf__model_empty(sp->external_traffic_policy)) {
		sf__model_v_required(vc, path, NULL);
	} else if (!in_list(sp->external_traffic_policy, etps)) {
		sf__model_v_not_supported(
		    vc, path, sp->external_traffic_policy, etps);
	}
}

static void
validate_selector_from(sf__model_vctx *vc, const sf_service_spec *sp)
{
	static const char *const kinds[]
	    = {"deployment", "statefulset", "daemonset"};
	const char *s = sp->selector_from, *slash;
	const char *msgs[SF__MODEL_MSGS_MAX];
	bool        ok = false;

	if (sf__model_empty(s)) {
		return;
	}
	slash = strchr(s, '/');
	if (slash != NULL) {
		size_t kl = (size_t) (slash - s);
		for (size_t i = 0; i < 3; i++) {
			if (kl == strlen(kinds[i])
			    && strncasecmp(s, kinds[i], kl) == 0) {
				ok = sf__model_dns1123_subdomain(
				         slash + 1, msgs)
				    == 0;
			}
		}
	}
	if (!ok) {
		sf__model_v_invalid_str(vc,
		    "metadata.annotations[" SF_ANN_SELECTOR_FROM "]", s,
		    "must be deployment/NAME, statefulset/NAME or "
		    "daemonset/NAME");
	}
}

static void
validate_spec(sf__model_vctx *vc, const sf_service_spec *sp,
    const sf_object_meta *m, const sf_model_limits *lim)
{
	validate_ports(vc, sp, lim);

	// The form requires a selector; Kubernetes does not.
	if (sp->n_selector == 0) {
		sf__model_v_required(vc, "spec.selector",
		    "at least one key=value pair is required");
	}
	validate_labels(vc, sp->selector, sp->n_selector, "spec.selector");

	validate_affinity(vc, sp);

	if (sf__model_empty(sp->type)) {
		sf__model_v_required(vc, "spec.type", NULL);
	} else if (!in_list(sp->type, service_types)) {
		sf__model_v_not_supported(
		    vc, "spec.type", sp->type, service_types);
	}

	validate_source_ranges(vc, sp, m);
	validate_lb(vc, sp, lim);
	validate_etp(vc, sp);
	validate_selector_from(vc, sp);
}

// The test hook (sf_model_set_validate_hook): set by a test before the
// server runs, read by every validation.
static _Atomic(void (*)(const sf_service *, void *)) validate_hook;
static _Atomic(void *)                               validate_hook_arg;

void
sf_model_set_validate_hook(
    void (*fn)(const sf_service *svc, void *arg), void *arg)
{
	atomic_store(&validate_hook_arg, arg);
	atomic_store(&validate_hook, fn);
}

void
sf__model_validate_service(
    sf__model_vctx *vc, const sf_service *svc, const sf_model_limits *lim)
{
	void (*hook)(const sf_service *, void *) = atomic_load(&validate_hook);
	if (hook != NULL) {
		hook(svc, atomic_load(&validate_hook_arg));
	}
	static const sf_object_meta empty_meta
	    = SVCFLEET__V1__OBJECT_META__INIT;
	static const sf_service_spec empty_spec
	    = SVCFLEET__V1__SERVICE_SPEC__INIT;
	const sf_object_meta  *m = svc->metadata ? svc->metadata : &empty_meta;
	const sf_service_spec *sp = svc->spec ? svc->spec : &empty_spec;

	validate_meta(vc, m);
	validate_spec(vc, sp, m, lim);
}

const char *
sf__model_service_name(const sf_service *svc)
{
	return (svc->metadata != NULL ? sf_nz(svc->metadata->name) : "");
}

int
sf_model_service_validate(
    const sf_service *svc, const sf_model_limits *lim, sf_status *st)
{
	sf__model_vctx vc;

	sf__model_vctx_init(&vc, st);
	sf__model_validate_service(&vc, svc, lim);
	return (sf__model_vctx_finish(
	    &vc, "Service", sf__model_service_name(svc)));
}

// i17-bulk: the part of validation a write makes after it picked node
// ports (a FleetService's "Same" ports, on the store's writer): each
// nodePort as validate_port checks it, then duplicate (protocol,
// nodePort) pairs as validate_ports finds them (sorted, n log n). No
// hook: this is not a validation of the whole Service.
int
sf_model_service_validate_node_ports(
    const sf_service *svc, const sf_model_limits *lim, sf_status *st)
{
	sf__model_vctx         vc;
	const sf_service_spec *sp = svc->spec;
	size_t                 n = sp != NULL ? sp->n_ports : 0, m = 0;
	dup_key               *keys;
	bool                  *nodes;
	char                   path[PATH_MAX_LEN];

	sf__model_vctx_init(&vc, st);
	if (n == 0) {
		return (sf__model_vctx_finish(
		    &vc, "Service", sf__model_service_name(svc)));
	}
	if ((keys = calloc(n + 1, sizeof(*keys))) == NULL) {
		vc.vc_oom = 1;
		return (sf__model_vctx_finish(
		    &vc, "Service", sf__model_service_name(svc)));
	}
	for (size_t i = 0; i < n; i++) {
		if (sp->ports[i] != NULL && sp->ports[i]->node_port != 0) {
			keys[m++] = (dup_key) {sf_nz(sp->ports[i]->protocol),
			    sp->ports[i]->node_port, i};
		}
	}
	nodes = dup_marks(&vc, keys, m, n);
	free(keys);
	for (size_t i = 0; i < n; i++) {
		if (sp->ports[i] != NULL) {
			validate_node_port(&vc, sp, i, lim);
		}
	}
	for (size_t i = 0; nodes != NULL && i < n; i++) {
		if (nodes[i]) {
			snprintf(
			    path, sizeof(path), "spec.ports[%zu].nodePort", i);
			sf__model_v_duplicate_int(
			    &vc, path, sp->ports[i]->node_port);
		}
	}
	free(nodes);
	return (sf__model_vctx_finish(
	    &vc, "Service", sf__model_service_name(svc)));
}
