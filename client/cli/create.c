// create.c: `svcfleet create service NAME` — the "Create a service" form
// as flags. Flag syntax is checked here (usage errors, exit 2); every rule
// about values (name length, port ranges, nodePort on ClusterIP, ...) is
// the server's, which reports all violations with their field paths.
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "clock.h"

typedef struct choice {
	const char *ch_flag; // what the user types (case-insensitive)
	const char *ch_api;  // what the API takes
} choice;

static const choice types[] = {{"clusterip", "ClusterIP"},
    {"nodeport", "NodePort"}, {"loadbalancer", "LoadBalancer"}, {NULL, NULL}};
static const choice policies[]
    = {{"cluster", "Cluster"}, {"local", "Local"}, {NULL, NULL}};
static const choice lb_types[]
    = {{"metallb", "metallb"}, {"other", "other"}, {NULL, NULL}};

// Maps a flag value through a choice table; usage error otherwise.
static int
pick(cli *c, int flag, const choice *tab, char **out)
{
	const char *v         = sf__cli_value(c, flag, NULL);
	char        want[128] = "";
	if (v == NULL) {
		return (0);
	}
	for (const choice *ch = tab; ch->ch_flag != NULL; ch++) {
		if (strcasecmp(v, ch->ch_flag) == 0) {
			*out = (char *) ch->ch_api;
			return (0);
		}
		strcat(want, ch == tab ? "" : (ch[1].ch_flag ? ", " : " or "));
		strcat(want, ch->ch_flag);
	}
	return (sf__cli_usage(c, "invalid value \"%s\" for --%s: want %s", v,
	    sf__cli_flag_defs[flag].fd_name, want));
}

// Appends the key=value pairs of a list flag; with split, each value may
// hold several pairs separated by commas (--selector a=b,c=d).
static int
kvs(cli *c, int flag, bool split, Svcfleet__V1__KeyValue ***out, size_t *n)
{
	const cli_list *l   = &c->c_list[flag];
	size_t          max = 0;
	for (size_t i = 0; i < l->l_n; i++) {
		max++;
		for (const char *p = l->l_v[i]; split && *p != '\0'; p++) {
			max += *p == ',';
		}
	}
	*n = 0;
	if (max == 0) {
		return (0);
	}
	*out = sf_arena_alloc(&c->c_arena, max * sizeof(**out));
	if (*out == NULL) {
		return (sf__cli_fail(SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	for (size_t i = 0; i < l->l_n; i++) {
		const char *p = l->l_v[i];
		do {
			size_t len = split ? strcspn(p, ",") : strlen(p);
			char  *one = sf_arena_strndup(&c->c_arena, p, len);
			Svcfleet__V1__KeyValue *kv
			    = sf_arena_alloc(&c->c_arena, sizeof(*kv));
			if (one == NULL || kv == NULL) {
				return (sf__cli_fail(
				    SF_RESOURCE_EXHAUSTED, "out of memory"));
			}
			if (sf__cli_kv_parse(one, &c->c_arena, kv) != 0) {
				return (sf__cli_usage(c,
				    "invalid value \"%s\" for --%s: want "
				    "KEY=VALUE%s",
				    l->l_v[i], sf__cli_flag_defs[flag].fd_name,
				    split ? "[,KEY=VALUE]" : ""));
			}
			(*out)[(*n)++] = kv;
			p += len;
		} while (split && *p++ == ',');
	}
	return (0);
}

static int
ports(cli *c, Svcfleet__V1__ServiceSpec *sp)
{
	const cli_list *l = &c->c_list[F_PORT];
	sp->ports = sf_arena_alloc(&c->c_arena, l->l_n * sizeof(*sp->ports));
	if (sp->ports == NULL) {
		return (sf__cli_fail(SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	for (size_t i = 0; i < l->l_n; i++) {
		Svcfleet__V1__ServicePort *p
		    = sf_arena_alloc(&c->c_arena, sizeof(*p));
		char why[300];
		if (p == NULL) {
			return (sf__cli_fail(
			    SF_RESOURCE_EXHAUSTED, "out of memory"));
		}
		if (sf__cli_port_parse(
		        l->l_v[i], &c->c_arena, p, why, sizeof(why))
		    != 0) {
			return (sf__cli_usage(
			    c, "invalid --port \"%s\": %s", l->l_v[i], why));
		}
		sp->ports[sp->n_ports++] = p;
	}
	return (0);
}

static int
session_timeout(cli *c, Svcfleet__V1__ServiceSpec *sp)
{
	const char *v = sf__cli_value(c, F_SESSION_TIMEOUT, NULL);
	int64_t     ms;
	if (v == NULL) {
		return (0);
	}
	if (sf_duration_parse(v, &ms) != 0 || ms % 1000 != 0 || ms < 1000
	    || ms / 1000 > INT32_MAX) {
		return (sf__cli_usage(c,
		    "invalid value \"%s\" for --session-timeout: want a whole "
		    "number of seconds, at least 1",
		    v));
	}
	sp->session_timeout_seconds = (int32_t) (ms / 1000);
	return (0);
}

// Builds the Service the flags describe; returns 0 or an exit code.
static int
build(cli *c, Svcfleet__V1__Service *svc, Svcfleet__V1__ObjectMeta *m,
    Svcfleet__V1__ServiceSpec *sp)
{
	int rv;

	svc->metadata = m;
	svc->spec     = sp;
	m->cluster    = (char *) sf__cli_value(c, F_CLUSTER, "");
	m->namespace_ = (char *) sf__cli_namespace(c);
	m->name       = (char *) c->c_args[0];
	if ((rv = pick(c, F_TYPE, types, &sp->type)) != 0
	    || (rv = pick(c, F_TRAFFIC_POLICY, policies,
	            &sp->external_traffic_policy))
	        != 0
	    || (rv = pick(c, F_LB_TYPE, lb_types, &sp->lb_type)) != 0
	    || (rv = kvs(c, F_SELECTOR, true, &sp->selector, &sp->n_selector))
	        != 0
	    || (rv = kvs(c, F_LABEL, false, &m->labels, &m->n_labels)) != 0
	    || (rv = kvs(c, F_ANNOTATION, false, &m->annotations,
	            &m->n_annotations))
	        != 0
	    || (rv = ports(c, sp)) != 0
	    || (rv = session_timeout(c, sp)) != 0) {
		return (rv);
	}
	if (sf__cli_flag(c, F_SESSION_AFFINITY)) {
		sp->session_affinity = "ClientIP";
	}
	sp->lb_pool             = (char *) sf__cli_value(c, F_LB_POOL, "");
	sp->lb_address          = (char *) sf__cli_value(c, F_LB_ADDRESS, "");
	sp->load_balancer_class = (char *) sf__cli_value(c, F_LB_CLASS, "");
	sp->allow_adoption      = sf__cli_flag(c, F_ALLOW_ADOPTION);
	return (0);
}

// The workload kinds --from-workload accepts, as kubectl spells them.
static const struct workload_kind {
	const char *words; // '|'-separated spellings, the first canonical
	const char *kind;
} workload_kinds[] = {
    {"deployment|deployments|deploy", "Deployment"},
    {"statefulset|statefulsets|sts", "StatefulSet"},
    {"daemonset|daemonsets|ds", "DaemonSet"},
};

static const struct workload_kind *
workload_kind(const char *word, size_t n)
{
	for (size_t i = 0;
	     i < sizeof(workload_kinds) / sizeof(workload_kinds[0]); i++) {
		const char *w = workload_kinds[i].words;
		while (*w != '\0') {
			size_t k = strcspn(w, "|");
			if (k == n && strncasecmp(w, word, n) == 0) {
				return (&workload_kinds[i]);
			}
			w += k;
			w += *w == '|';
		}
	}
	return (NULL);
}

// The selector from a workload's pod-template labels, read live from the
// cluster (the form's "Reference workload label").
static int
from_workload(
    cli *c, const char *cluster, const char *ns, Svcfleet__V1__ServiceSpec *sp)
{
	Svcfleet__V1__ListWorkloadsRequest req
	    = SVCFLEET__V1__LIST_WORKLOADS_REQUEST__INIT;
	Svcfleet__V1__ListWorkloadsReply *rep = NULL;
	const char *ref = c->c_val[F_FROM_WORKLOAD], *slash = strchr(ref, '/');
	const struct workload_kind *wk;
	const char                 *kind, *name;
	int                         rv = 0;

	if (slash == NULL || slash[1] == '\0'
	    || (wk = workload_kind(ref, (size_t) (slash - ref))) == NULL) {
		return (sf__cli_usage(c,
		    "invalid value \"%s\" for --from-workload: want "
		    "deployment/NAME, statefulset/NAME or daemonset/NAME",
		    ref));
	}
	kind           = wk->kind;
	name           = slash + 1;
	req.cluster    = (char *) cluster;
	req.namespace_ = (char *) ns;
	if (svcfleet_list_workloads(c->c_client, &req, &rep, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	for (size_t i = 0; i < rep->n_workloads; i++) {
		const Svcfleet__V1__Workload *w = rep->workloads[i];
		if (strcmp(w->kind, kind) != 0 || strcmp(w->name, name) != 0) {
			continue;
		}
		if (w->n_labels == 0) {
			rv = sf__cli_fail(SF_FAILED_PRECONDITION,
			    "%s \"%s\" has no pod-template labels to select "
			    "by",
			    kind, name);
			break;
		}
		sp->selector = sf_arena_alloc(
		    &c->c_arena, w->n_labels * sizeof(*sp->selector));
		for (size_t k = 0; sp->selector != NULL && k < w->n_labels;
		     k++) {
			Svcfleet__V1__KeyValue *kv
			    = sf_arena_alloc(&c->c_arena, sizeof(*kv));
			if (kv == NULL) {
				break;
			}
			svcfleet__v1__key_value__init(kv);
			kv->key
			    = sf_arena_strdup(&c->c_arena, w->labels[k]->key);
			kv->value = sf_arena_strdup(
			    &c->c_arena, w->labels[k]->value);
			sp->selector[sp->n_selector++] = kv;
		}
		sp->selector_from = sf_arena_printf(&c->c_arena, "%.*s/%s",
		    (int) strcspn(wk->words, "|"), wk->words, name);
		svcfleet_free(rep);
		return (sp->selector == NULL || sp->selector_from == NULL
		        ? sf__cli_fail(SF_RESOURCE_EXHAUSTED, "out of memory")
		        : rv);
	}
	if (rv == 0) {
		rv = sf__cli_fail(SF_NOT_FOUND,
		    "%s \"%s\" not found in namespace \"%s\" of cluster "
		    "\"%s\"",
		    kind, name, ns, cluster);
	}
	svcfleet_free(rep);
	return (rv);
}

int
sf__cli_cmd_create_service(cli *c)
{
	Svcfleet__V1__CreateServiceRequest req
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service     svc = SVCFLEET__V1__SERVICE__INIT;
	Svcfleet__V1__ObjectMeta  m   = SVCFLEET__V1__OBJECT_META__INIT;
	Svcfleet__V1__ServiceSpec sp  = SVCFLEET__V1__SERVICE_SPEC__INIT;
	Svcfleet__V1__Service    *out = NULL;
	bool                      dry = sf__cli_flag(c, F_DRY_RUN);
	int                       rv;

	// A value given wrong is reported before a flag left out (issue 20):
	// fixing `--type nodeprt` first is what the user came for.
	if ((rv = build(c, &svc, &m, &sp)) != 0) {
		return (rv);
	}
	if (c->c_set[F_FROM_WORKLOAD] && c->c_set[F_SELECTOR]) {
		return (sf__cli_usage(
		    c, "give --selector or --from-workload, not both"));
	}
	if (!c->c_set[F_SELECTOR] && !c->c_set[F_FROM_WORKLOAD]) {
		return (sf__cli_usage(c,
		    "required flag --selector (or --from-workload) is missing "
		    "(spec.selector)"));
	}
	if (c->c_set[F_SESSION_TIMEOUT]
	    && !sf__cli_flag(c, F_SESSION_AFFINITY)) {
		return (sf__cli_usage(c,
		    "--session-timeout requires --session-affinity "
		    "(spec.sessionAffinityConfig)"));
	}
	sf__cli_name_flags(c);
	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	if (c->c_set[F_FROM_WORKLOAD]
	    && (rv = from_workload(c, m.cluster, m.namespace_, &sp)) != 0) {
		return (rv);
	}
	req.service = &svc;
	req.dry_run = dry;
	if (svcfleet_create_service(c->c_client, &req, &out, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	// Accepted: now say whether the cluster can take it (issue 20).
	sf__cli_warn_missing_namespace(c, m.cluster, m.namespace_);
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		rv = sf__cli_print_services(c, &out, 1, false, false);
	} else if (c->c_output == OUT_NAME) {
		sf__cli_print_service_name(m.cluster, m.namespace_, m.name);
	} else {
		printf(
		    "service/%s created%s\n", m.name, dry ? " (dry run)" : "");
	}
	svcfleet_free(out);
	return (rv);
}

// i19: `svcfleet update service NAME --port ... --selector ... --type ...`
// changes the fields the flags name and keeps the rest, saving with the
// resource version it read: a concurrent change of the spec fails ABORTED
// naming its author, a status report does not.
int
sf__cli_cmd_update_service(cli *c)
{
	Svcfleet__V1__GetServiceRequest get
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__UpdateServiceRequest req
	    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey  key = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__Service     fl  = SVCFLEET__V1__SERVICE__INIT;
	Svcfleet__V1__ObjectMeta  m   = SVCFLEET__V1__OBJECT_META__INIT;
	Svcfleet__V1__ServiceSpec sp  = SVCFLEET__V1__SERVICE_SPEC__INIT;
	Svcfleet__V1__Service    *cur = NULL, *out = NULL;
	bool                      dry = sf__cli_flag(c, F_DRY_RUN);
	int                       rv;

	if ((rv = build(c, &fl, &m, &sp)) != 0
	    || (rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	sf__cli_name_flags(c);
	key.cluster    = m.cluster;
	key.namespace_ = m.namespace_;
	key.name       = m.name;
	get.key        = &key;
	if (svcfleet_get_service(c->c_client, &get, &cur, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	// Shallow copies: cur keeps what it owns (svcfleet_free frees it),
	// the copies point at it and at the flags' arena values.
	Svcfleet__V1__ServiceSpec  ns   = *cur->spec;
	Svcfleet__V1__Service      nsvc = *cur;
	Svcfleet__V1__ServiceSpec *s    = &ns;
	nsvc.spec                       = &ns;
	if (c->c_set[F_TYPE]) {
		s->type = sp.type;
	}
	if (c->c_set[F_SELECTOR]) {
		s->selector   = sp.selector;
		s->n_selector = sp.n_selector;
	}
	if (c->c_set[F_PORT]) {
		s->ports   = sp.ports;
		s->n_ports = sp.n_ports;
	}
	if (c->c_set[F_TRAFFIC_POLICY]) {
		s->external_traffic_policy = sp.external_traffic_policy;
	}
	if (c->c_set[F_SESSION_AFFINITY]) {
		s->session_affinity = sp.session_affinity != NULL
		        && sp.session_affinity[0] != '\0'
		    ? sp.session_affinity
		    : "None";
		if (!sf__cli_flag(c, F_SESSION_AFFINITY)) {
			s->session_timeout_seconds = 0;
		}
	}
	if (c->c_set[F_SESSION_TIMEOUT]) {
		s->session_timeout_seconds = sp.session_timeout_seconds;
	}
	if (c->c_set[F_LB_TYPE]) {
		s->lb_type = sp.lb_type;
	}
	if (c->c_set[F_LB_POOL]) {
		s->lb_pool = sp.lb_pool;
	}
	if (c->c_set[F_LB_ADDRESS]) {
		s->lb_address = sp.lb_address;
	}
	if (c->c_set[F_LB_CLASS]) {
		s->load_balancer_class = sp.load_balancer_class;
	}
	req.service = &nsvc;
	req.dry_run = dry;
	if (svcfleet_update_service(c->c_client, &req, &out, &c->c_st) != 0) {
		svcfleet_free(cur);
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		rv = sf__cli_print_services(c, &out, 1, false, false);
	} else {
		printf("service/%s %s%s\n", m.name,
		    out->metadata->generation != cur->metadata->generation
		        ? "updated"
		        : "unchanged",
		    dry ? " (dry run)" : "");
	}
	svcfleet_free(out);
	svcfleet_free(cur);
	return (rv);
}
