// manifest_in.c: a Kubernetes v1 Service manifest (as JSON values) into a
// Service message.
//
// Conversion checks shapes only: JSON types, unknown fields, features
// svcfleet does not offer. Values are checked later by validation, so a
// manifest gets the same messages as the same Service built by hand.
// Every problem is reported with its field path; JSON of any shape in any
// field produces violations, never a crash.
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PATH_LEN 1024

typedef struct conv {
	sf__model_vctx *c_vc;
	sf_arena       *c_a;
	int             c_oom;
} conv;

static char *
cdup(conv *c, const char *s)
{
	char *d = sf__model_adup(c->c_a, s);
	if (d == NULL) {
		c->c_oom = 1;
		return ((char *) protobuf_c_empty_string);
	}
	return (d);
}

static void *
calloc_arena(conv *c, size_t n)
{
	void *p = sf_arena_zalloc(c->c_a, n > 0 ? n : 1);
	if (p == NULL) {
		c->c_oom = 1;
	}
	return (p);
}

// print_value writes a bad value the way Kubernetes prints it: strings
// quoted, numbers and booleans bare, structures as (shortened) JSON.
static void
print_value(sf_buf *b, const json_t *v)
{
	char *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		sf__model_quote(b, json_string_value(v));
		return;
	case JSON_INTEGER:
		sf_buf_printf(
		    b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return;
	case JSON_REAL:
		sf_buf_printf(b, "%.17g", json_real_value(v));
		return;
	case JSON_TRUE:
		sf_buf_puts(b, "true");
		return;
	case JSON_FALSE:
		sf_buf_puts(b, "false");
		return;
	case JSON_NULL:
		sf_buf_puts(b, "null");
		return;
	default:
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (s == NULL) {
			sf_buf_puts(b, "?");
		} else if (strlen(s) > 64) {
			sf_buf_put(b, s, 60);
			sf_buf_puts(b, "...");
		} else {
			sf_buf_puts(b, s);
		}
		free(s);
	}
}

static void
type_error(conv *c, const char *path, const json_t *v, const char *expected)
{
	sf_buf b = SF_BUF_INIT;

	print_value(&b, v);
	sf__model_viol(c->c_vc, SF_V_INVALID, path,
	    "Invalid value: %s: expected %s, got %s", sf_buf_cstr(&b),
	    expected, sf__model_json_type_name(v));
	sf_buf_fini(&b);
}

// join writes parent.key (or key at the top) into out, cut at PATH_LEN.
static void
join(char *out, const char *parent, const char *key)
{
	size_t n = 0;

	for (const char *s = parent; *s != '\0' && n + 1 < PATH_LEN; s++) {
		out[n++] = *s;
	}
	if (n > 0 && n + 1 < PATH_LEN) {
		out[n++] = '.';
	}
	for (const char *s = key; *s != '\0' && n + 1 < PATH_LEN; s++) {
		out[n++] = *s;
	}
	out[n] = '\0';
}

// check_fields reports every key of obj not in known (NULL-terminated).
static void
check_fields(
    conv *c, const json_t *obj, const char *path, const char *const *known)
{
	const char *k;
	json_t     *v;
	char        p[PATH_LEN];

	json_object_foreach((json_t *) obj, k, v)
	{
		bool ok = false;
		for (size_t i = 0; known[i] != NULL && !ok; i++) {
			ok = strcmp(k, known[i]) == 0;
		}
		if (!ok && k[0] == '\0') {
			// An empty key (YAML allows one) still needs a path a
			// reader can see and sf_manifest_line_of can place.
			join(p, path, "\"\"");
			sf__model_viol(c->c_vc, SF_V_INVALID, p,
			    "unknown field with an empty name");
		} else if (!ok) {
			join(p, path, k);
			sf__model_viol(c->c_vc, SF_V_INVALID, p,
			    "unknown field \"%s\"", p);
		}
	}
}

// get_string: a string field; absent or null gives NULL without a report.
static const char *
get_string(conv *c, const json_t *obj, const char *key, const char *path)
{
	const json_t *v = json_object_get(obj, key);
	char          p[PATH_LEN];

	if (v == NULL || json_is_null(v)) {
		return (NULL);
	}
	if (!json_is_string(v)) {
		join(p, path, key);
		type_error(c, p, v, "a string");
		return (NULL);
	}
	return (json_string_value(v));
}

// get_int32: an integer field; false when absent, null or wrong.
static bool
get_int32(conv *c, const json_t *obj, const char *key, const char *path,
    int32_t *out)
{
	const json_t *v = json_object_get(obj, key);
	char          p[PATH_LEN];

	if (v == NULL || json_is_null(v)) {
		return (false);
	}
	join(p, path, key);
	if (!json_is_integer(v)) {
		type_error(c, p, v, "an integer");
		return (false);
	}
	json_int_t i = json_integer_value(v);
	if (i < INT32_MIN || i > INT32_MAX) {
		sf__model_viol(c->c_vc, SF_V_INVALID, p,
		    "Invalid value: %" JSON_INTEGER_FORMAT
		    ": out of range for a 32-bit integer",
		    i);
		return (false);
	}
	*out = (int32_t) i;
	return (true);
}

// get_object: an object field; NULL when absent, null or wrong.
static const json_t *
get_object(conv *c, const json_t *obj, const char *key, const char *path)
{
	const json_t *v = json_object_get(obj, key);
	char          p[PATH_LEN];

	if (v == NULL || json_is_null(v)) {
		return (NULL);
	}
	if (!json_is_object(v)) {
		join(p, path, key);
		type_error(c, p, v, "an object");
		return (NULL);
	}
	return (v);
}

static const json_t *
get_array(conv *c, const json_t *obj, const char *key, const char *path)
{
	const json_t *v = json_object_get(obj, key);
	char          p[PATH_LEN];

	if (v == NULL || json_is_null(v)) {
		return (NULL);
	}
	if (!json_is_array(v)) {
		join(p, path, key);
		type_error(c, p, v, "an array");
		return (NULL);
	}
	return (v);
}

// get_bool: returns -1 when absent or null, else 0/1.
static int
get_bool(conv *c, const json_t *obj, const char *key, const char *path)
{
	const json_t *v = json_object_get(obj, key);
	char          p[PATH_LEN];

	if (v == NULL || json_is_null(v)) {
		return (-1);
	}
	if (!json_is_boolean(v)) {
		join(p, path, key);
		type_error(c, p, v, "a boolean");
		return (-1);
	}
	return (json_is_true(v) ? 1 : 0);
}

// kv list building ------------------------------------------------------

typedef struct kvlist {
	sf_kv **kl_v;
	size_t  kl_n;
	size_t  kl_cap;
} kvlist;

static void
kv_add(conv *c, kvlist *l, const char *k, const char *v)
{
	sf_kv *kv;

	if (l->kl_n == l->kl_cap) {
		size_t  cap = l->kl_cap ? l->kl_cap * 2 : 8;
		sf_kv **nv  = sf_arena_alloc(c->c_a, cap * sizeof(*nv));
		if (nv == NULL) {
			c->c_oom = 1;
			return;
		}
		if (l->kl_n > 0) {
			memcpy(nv, l->kl_v, l->kl_n * sizeof(*nv));
		}
		l->kl_v   = nv;
		l->kl_cap = cap;
	}
	if ((kv = sf_arena_alloc(c->c_a, sizeof(*kv))) == NULL) {
		c->c_oom = 1;
		return;
	}
	*kv                = (sf_kv) SVCFLEET__V1__KEY_VALUE__INIT;
	kv->key            = cdup(c, k);
	kv->value          = cdup(c, v);
	l->kl_v[l->kl_n++] = kv;
}

// string_map reads an object of strings (labels, selector) in order;
// skip, when given, filters out pairs the caller handles itself.
static void
string_map(conv *c, const json_t *obj, const char *path, kvlist *l,
    bool (*skip)(const char *k, const char *v))
{
	const char *k;
	json_t     *v;
	char        p[PATH_LEN];

	json_object_foreach((json_t *) obj, k, v)
	{
		if (!json_is_string(v)) {
			snprintf(p, sizeof(p), "%s[%s]", path, k);
			type_error(c, p, v, "a string");
			continue;
		}
		if (skip != NULL && skip(k, json_string_value(v))) {
			continue;
		}
		kv_add(c, l, k, json_string_value(v));
	}
}

static bool
skip_managed_by(const char *k, const char *v)
{
	// The reconciler's own mark on cluster copies, not the user's label.
	return (
	    strcmp(k, SF_LABEL_MANAGED_BY) == 0 && strcmp(v, "svcfleet") == 0);
}

// annotations -----------------------------------------------------------

typedef struct ann_state {
	const char *cluster;
	const char *pool, *pool_old;
	const char *ips, *ips_old;
	const char *adoption;
	const char *selector_from;
} ann_state;

static bool
is_fact_annotation(const char *k)
{
	static const char *const facts[]
	    = {SF_ANN_SYNC_STATE, SF_ANN_SYNC_MESSAGE, SF_ANN_RESOURCE_VERSION,
	        SF_ANN_CLUSTER_IP, SF_ANN_NODE_PORTS, SF_ANN_OWNER,
	        SF_ANN_GENERATION, "metallb.io/ip-allocated-from-pool",
	        "metallb.universe.tf/ip-allocated-from-pool", NULL};
	for (size_t i = 0; facts[i] != NULL; i++) {
		if (strcmp(k, facts[i]) == 0) {
			return (true);
		}
	}
	return (false);
}

static void
annotations(conv *c, const json_t *obj, kvlist *l, ann_state *as)
{
	const char *k;
	json_t     *v;
	char        p[PATH_LEN];

	json_object_foreach((json_t *) obj, k, v)
	{
		const char *s;
		if (!json_is_string(v)) {
			snprintf(p, sizeof(p), "metadata.annotations[%s]", k);
			type_error(c, p, v, "a string");
			continue;
		}
		s = json_string_value(v);
		if (strcmp(k, SF_ANN_CLUSTER) == 0) {
			as->cluster = s;
		} else if (strcmp(k, SF_ANN_METALLB_POOL) == 0) {
			as->pool = s;
		} else if (strcmp(k, SF_ANN_METALLB_POOL_OLD) == 0) {
			as->pool_old = s;
		} else if (strcmp(k, SF_ANN_METALLB_IPS) == 0) {
			as->ips = s;
		} else if (strcmp(k, SF_ANN_METALLB_IPS_OLD) == 0) {
			as->ips_old = s;
		} else if (strcmp(k, SF_ANN_ALLOW_ADOPTION) == 0) {
			as->adoption = s;
		} else if (strcmp(k, SF_ANN_SELECTOR_FROM) == 0) {
			as->selector_from = s;
		} else if (!is_fact_annotation(k)) {
			kv_add(c, l, k, s);
		}
	}
}

static void
metadata(conv *c, const json_t *md, const char *cluster, sf_service *svc)
{
	static const char *const known[] = {"name", "namespace", "labels",
	    "annotations", "resourceVersion", "generateName", "uid",
	    "creationTimestamp", "managedFields", "generation", "selfLink",
	    "deletionTimestamp", "deletionGracePeriodSeconds", "finalizers",
	    "ownerReferences", NULL};
	sf_object_meta          *m       = svc->metadata;
	sf_service_spec         *sp      = svc->spec;
	const json_t            *o;
	const char              *s;
	kvlist                   labels = {0}, anns = {0};
	ann_state                as = {0};

	m->namespace_ = cdup(c, "default");
	if (md != NULL) {
		check_fields(c, md, "metadata", known);
		if ((s = get_string(c, md, "name", "metadata")) != NULL) {
			m->name = cdup(c, s);
		}
		s = get_string(c, md, "namespace", "metadata");
		if (!sf__model_empty(s)) {
			m->namespace_ = cdup(c, s);
		}
		s = get_string(c, md, "generateName", "metadata");
		if (!sf__model_empty(s)) {
			sf__model_v_forbidden(c->c_vc, "metadata.generateName",
			    "is not supported by svcfleet; set metadata.name");
		}
		if ((o = get_object(c, md, "labels", "metadata")) != NULL) {
			string_map(
			    c, o, "metadata.labels", &labels, skip_managed_by);
		}
		if ((o = get_object(c, md, "annotations", "metadata"))
		    != NULL) {
			annotations(c, o, &anns, &as);
		}
		s = get_string(c, md, "resourceVersion", "metadata");
		if (!sf__model_empty(s)) {
			char              *end;
			unsigned long long rv;
			errno = 0;
			rv    = strtoull(s, &end, 10);
			if (errno != 0 || *end != '\0' || s[0] < '0'
			    || s[0] > '9') {
				sf__model_v_invalid_str(c->c_vc,
				    "metadata.resourceVersion", s,
				    "must be a decimal number (a svcfleet "
				    "resource version)");
			} else {
				m->resource_version = rv;
			}
		}
	}
	m->labels        = labels.kl_v;
	m->n_labels      = labels.kl_n;
	m->annotations   = anns.kl_v;
	m->n_annotations = anns.kl_n;

	if (!sf__model_empty(cluster)) {
		if (as.cluster != NULL && strcmp(as.cluster, cluster) != 0) {
			char detail[320];
			snprintf(detail, sizeof(detail),
			    "does not match the requested cluster \"%s\"",
			    cluster);
			sf__model_v_invalid_str(c->c_vc,
			    "metadata.annotations[" SF_ANN_CLUSTER "]",
			    as.cluster, detail);
		}
		m->cluster = cdup(c, cluster);
	} else if (as.cluster != NULL) {
		m->cluster = cdup(c, as.cluster);
	}

	// MetalLB: the new annotation names win over the deprecated ones.
	const char *pool = as.pool != NULL ? as.pool : as.pool_old;
	const char *ips  = as.ips != NULL ? as.ips : as.ips_old;
	if (pool != NULL || ips != NULL) {
		sp->lb_type = cdup(c, "metallb");
	}
	if (pool != NULL) {
		sp->lb_pool = cdup(c, pool);
	}
	if (ips != NULL) {
		sp->lb_address = cdup(c, ips);
	}
	if (as.adoption != NULL) {
		if (strcmp(as.adoption, "true") == 0) {
			sp->allow_adoption = 1;
		} else if (strcmp(as.adoption, "false") != 0
		    && as.adoption[0] != '\0') {
			sf__model_v_invalid_str(c->c_vc,
			    "metadata.annotations[" SF_ANN_ALLOW_ADOPTION "]",
			    as.adoption, "must be \"true\" or \"false\"");
		}
	}
	if (as.selector_from != NULL) {
		sp->selector_from = cdup(c, as.selector_from);
	}
}

// spec ------------------------------------------------------------------

static void
port(conv *c, const json_t *po, const char *path, sf_service_port *p)
{
	static const char *const known[] = {"name", "protocol", "port",
	    "targetPort", "nodePort", "appProtocol", NULL};
	const char              *s;
	const json_t            *tp;
	char                     tpath[PATH_LEN];

	check_fields(c, po, path, known);
	if ((s = get_string(c, po, "name", path)) != NULL) {
		p->name = cdup(c, s);
	}
	if ((s = get_string(c, po, "protocol", path)) != NULL) {
		p->protocol = cdup(c, s);
	}
	get_int32(c, po, "port", path, &p->port);
	get_int32(c, po, "nodePort", path, &p->node_port);
	if ((s = get_string(c, po, "appProtocol", path)) != NULL) {
		p->app_protocol = cdup(c, s);
	}
	// targetPort is an int-or-string: a number, or a named container
	// port (a string is always a name, even "8080").
	tp = json_object_get(po, "targetPort");
	join(tpath, path, "targetPort");
	if (tp == NULL || json_is_null(tp)) {
		return;
	} else if (json_is_integer(tp)) {
		get_int32(c, po, "targetPort", path, &p->target_port);
	} else if (json_is_string(tp)) {
		p->target_port_name = cdup(c, json_string_value(tp));
	} else {
		type_error(c, tpath, tp, "an integer or a string");
	}
}

static void
ports(conv *c, const json_t *arr, sf_service_spec *sp)
{
	size_t n = json_array_size(arr);
	char   path[PATH_LEN];

	sp->ports = calloc_arena(c, n * sizeof(*sp->ports));
	if (sp->ports == NULL) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t    *po = json_array_get(arr, i);
		sf_service_port *p  = calloc_arena(c, sizeof(*p));
		snprintf(path, sizeof(path), "spec.ports[%zu]", i);
		if (p == NULL) {
			return;
		}
		*p = (sf_service_port) SVCFLEET__V1__SERVICE_PORT__INIT;
		if (!json_is_object(po)) {
			type_error(c, path, po, "an object");
		} else {
			port(c, po, path, p);
		}
		sp->ports[sp->n_ports++] = p;
	}
}

static void
affinity_config(conv *c, const json_t *cfg, sf_service_spec *sp)
{
	static const char *const known_cfg[] = {"clientIP", NULL};
	static const char *const known_cip[] = {"timeoutSeconds", NULL};
	static const char        cpath[]     = "spec.sessionAffinityConfig";
	const json_t            *cip;
	int32_t                  t;

	check_fields(c, cfg, cpath, known_cfg);
	if ((cip = get_object(c, cfg, "clientIP", cpath)) == NULL) {
		return;
	}
	check_fields(c, cip, "spec.sessionAffinityConfig.clientIP", known_cip);
	if (get_int32(c, cip, "timeoutSeconds",
	        "spec.sessionAffinityConfig.clientIP", &t)) {
		if (t <= 0) {
			// 0 means "unset" in the message; in a manifest it is
			// a value, and Kubernetes rejects it.
			sf__model_v_invalid_int(c->c_vc,
			    "spec.sessionAffinityConfig.clientIP."
			    "timeoutSeconds",
			    t, "must be greater than 0 and less than 86400");
		} else {
			sp->session_timeout_seconds = t;
		}
	}
}

static void
unsupported(conv *c, const json_t *spec)
{
	const json_t *v;
	const char   *s;
	int           b;

	// Output-only or defaulted by the cluster: clusterIP(s), ipFamilies,
	// ipFamilyPolicy, healthCheckNodePort. Only headless is refused.
	s = json_string_value(json_object_get(spec, "clusterIP"));
	if (s != NULL && strcmp(s, "None") == 0) {
		sf__model_v_forbidden(c->c_vc, "spec.clusterIP",
		    "headless Services (clusterIP \"None\") are not supported "
		    "by svcfleet");
	}
	v = json_object_get(spec, "clusterIPs");
	if (json_is_array(v)) {
		size_t  i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			if (json_is_string(e)
			    && strcmp(json_string_value(e), "None") == 0) {
				sf__model_v_forbidden(c->c_vc,
				    "spec.clusterIPs",
				    "headless Services (clusterIP \"None\") "
				    "are not supported by svcfleet");
				break;
			}
		}
	}
	s = get_string(c, spec, "internalTrafficPolicy", "spec");
	if (s != NULL && strcmp(s, "Local") == 0) {
		sf__model_v_forbidden(c->c_vc, "spec.internalTrafficPolicy",
		    "Local is not supported by svcfleet");
	} else if (s != NULL && strcmp(s, "Cluster") != 0) {
		static const char *const itps[] = {"Cluster", "Local", NULL};
		sf__model_v_not_supported(
		    c->c_vc, "spec.internalTrafficPolicy", s, itps);
	}
	if (get_bool(c, spec, "allocateLoadBalancerNodePorts", "spec") == 0) {
		sf__model_v_forbidden(c->c_vc,
		    "spec.allocateLoadBalancerNodePorts",
		    "false is not supported by svcfleet");
	}
	if ((b = get_bool(c, spec, "publishNotReadyAddresses", "spec")) == 1) {
		sf__model_v_forbidden(c->c_vc, "spec.publishNotReadyAddresses",
		    "is not supported by svcfleet");
	}
	v = get_array(c, spec, "externalIPs", "spec");
	if (v != NULL && json_array_size(v) > 0) {
		sf__model_v_forbidden(c->c_vc, "spec.externalIPs",
		    "externalIPs are not supported by svcfleet");
	}
	s = get_string(c, spec, "externalName", "spec");
	if (!sf__model_empty(s)) {
		sf__model_v_forbidden(c->c_vc, "spec.externalName",
		    "ExternalName Services are not supported by svcfleet");
	}
	v = json_object_get(spec, "trafficDistribution");
	if (v != NULL && !json_is_null(v)) {
		sf__model_v_forbidden(c->c_vc, "spec.trafficDistribution",
		    "is not supported by svcfleet");
	}
}

static void
spec(conv *c, const json_t *so, sf_service *svc)
{
	static const char *const known[] = {"type", "selector", "ports",
	    "sessionAffinity", "sessionAffinityConfig",
	    "externalTrafficPolicy", "loadBalancerIP", "loadBalancerClass",
	    "loadBalancerSourceRanges", "clusterIP", "clusterIPs",
	    "ipFamilies", "ipFamilyPolicy", "healthCheckNodePort",
	    "internalTrafficPolicy", "allocateLoadBalancerNodePorts",
	    "publishNotReadyAddresses", "externalIPs", "externalName",
	    "trafficDistribution", NULL};
	sf_service_spec         *sp      = svc->spec;
	const json_t            *o;
	const char              *s;
	kvlist                   sel = {0};

	check_fields(c, so, "spec", known);
	if ((s = get_string(c, so, "type", "spec")) != NULL) {
		sp->type = cdup(c, s);
	}
	if ((o = get_object(c, so, "selector", "spec")) != NULL) {
		string_map(c, o, "spec.selector", &sel, NULL);
		sp->selector   = sel.kl_v;
		sp->n_selector = sel.kl_n;
	}
	if ((o = get_array(c, so, "ports", "spec")) != NULL) {
		ports(c, o, sp);
	}
	if ((s = get_string(c, so, "sessionAffinity", "spec")) != NULL) {
		sp->session_affinity = cdup(c, s);
	}
	if ((o = get_object(c, so, "sessionAffinityConfig", "spec")) != NULL) {
		affinity_config(c, o, sp);
	}
	if ((s = get_string(c, so, "externalTrafficPolicy", "spec")) != NULL) {
		sp->external_traffic_policy = cdup(c, s);
	}
	if ((s = get_string(c, so, "loadBalancerIP", "spec")) != NULL
	    && s[0] != '\0') {
		if (!sf__model_empty(sp->lb_address)
		    && sf__model_streq(sp->lb_type, "metallb")) {
			// MetalLB's own rule: one place for the address.
			sf__model_v_forbidden(c->c_vc, "spec.loadBalancerIP",
			    "may not be used together with the "
			    "metallb.io/loadBalancerIPs annotation");
		} else {
			sp->lb_address = cdup(c, s);
			if (sf__model_empty(sp->lb_type)) {
				sp->lb_type = cdup(c, "other");
			}
		}
	}
	if ((s = get_string(c, so, "loadBalancerClass", "spec")) != NULL
	    && s[0] != '\0') {
		sp->load_balancer_class = cdup(c, s);
		if (sf__model_empty(sp->lb_type)) {
			sp->lb_type = cdup(c, "other");
		}
	}
	if ((o = get_array(c, so, "loadBalancerSourceRanges", "spec"))
	    != NULL) {
		size_t n = json_array_size(o);
		char   p[PATH_LEN];
		sp->load_balancer_source_ranges
		    = calloc_arena(c, n * sizeof(char *));
		for (size_t i = 0;
		     sp->load_balancer_source_ranges != NULL && i < n; i++) {
			const json_t *e = json_array_get(o, i);
			if (!json_is_string(e)) {
				snprintf(p, sizeof(p),
				    "spec.loadBalancerSourceRanges[%zu]", i);
				type_error(c, p, e, "a string");
				continue;
			}
			sp->load_balancer_source_ranges
			    [sp->n_load_balancer_source_ranges++]
			    = cdup(c, json_string_value(e));
		}
	}
	unsupported(c, so);
}

int
sf_model_service_from_manifest(const json_t *obj, const char *cluster,
    sf_arena *a, sf_service **out, sf_status *st)
{
	static const char *const known[]
	    = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
	sf__model_vctx vc;
	conv           c = {&vc, a, 0};
	sf_service    *svc;
	const char    *s, *name = "";
	const json_t  *md, *so;

	*out = NULL;
	if (!json_is_object(obj)) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "expected a Kubernetes object (a mapping), got %s",
		    obj != NULL ? sf__model_json_type_name(obj) : "nothing"));
	}
	sf__model_vctx_init(&vc, st);
	md = json_object_get(obj, "metadata");
	if (json_is_object(md)
	    && json_is_string(json_object_get(md, "name"))) {
		name = json_string_value(json_object_get(md, "name"));
	}

	// apiVersion and kind first: fields of another kind mean nothing.
	if (json_object_get(obj, "apiVersion") == NULL) {
		sf__model_v_required(&vc, "apiVersion", NULL);
	} else if ((s = get_string(&c, obj, "apiVersion", "")) != NULL
	    && strcmp(s, "v1") != 0) {
		sf__model_v_invalid_str(
		    &vc, "apiVersion", s, "must be \"v1\"");
	} else if (s == NULL
	    && json_is_null(json_object_get(obj, "apiVersion"))) {
		sf__model_v_required(&vc, "apiVersion", NULL);
	}
	if (json_object_get(obj, "kind") == NULL) {
		sf__model_v_required(&vc, "kind", NULL);
	} else if ((s = get_string(&c, obj, "kind", "")) != NULL
	    && strcmp(s, "Service") != 0) {
		sf__model_v_invalid_str(&vc, "kind", s, "must be \"Service\"");
	} else if (s == NULL && json_is_null(json_object_get(obj, "kind"))) {
		sf__model_v_required(&vc, "kind", NULL);
	}
	if (vc.vc_n > 0) {
		return (sf__model_vctx_finish(&vc, "Service", name));
	}

	svc = calloc_arena(&c, sizeof(*svc));
	if (svc == NULL) {
		return (
		    sf_status_set(st, SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	*svc          = (sf_service) SVCFLEET__V1__SERVICE__INIT;
	svc->metadata = calloc_arena(&c, sizeof(*svc->metadata));
	svc->spec     = calloc_arena(&c, sizeof(*svc->spec));
	if (svc->metadata == NULL || svc->spec == NULL) {
		return (
		    sf_status_set(st, SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	*svc->metadata = (sf_object_meta) SVCFLEET__V1__OBJECT_META__INIT;
	*svc->spec     = (sf_service_spec) SVCFLEET__V1__SERVICE_SPEC__INIT;

	check_fields(&c, obj, "", known);
	md = get_object(&c, obj, "metadata", "");
	metadata(&c, md, cluster, svc);
	if ((so = get_object(&c, obj, "spec", "")) != NULL) {
		spec(&c, so, svc);
	}
	if (c.c_oom) {
		return (
		    sf_status_set(st, SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	if (vc.vc_n > 0) {
		return (sf__model_vctx_finish(&vc, "Service", name));
	}
	*out = svc;
	return (0);
}
