// kube_live.c: synchronous reads of a cluster for the "create a Service"
// form (namespaces, workloads, MetalLB pools) and for cluster health
// (/version). What they read is parsed in kube_parse.c. See kube.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"

// Runs one GET. Returns 0 with the answer's body in r (the caller parses
// it, then calls sf_kube_req_fini) or an SF_* code with st set; *cls gets
// the outcome class.
static int
get_body(const sf_kube_cfg *cfg, const char *path, long timeout_ms,
    sf_kube_req *r, int *cls, sf_status *st)
{
	char     msg[400];
	CURLcode cc;

	*cls = SF_KUBE_TRANSPORT;
	if (sf_kube_req_setup(r, cfg, "GET", path, NULL, NULL, timeout_ms)
	    != 0) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	cc   = sf_kube_perform(r);
	*cls = sf_kube_outcome(r, cc, msg, sizeof(msg));
	switch (*cls) {
	case SF_KUBE_OK:
		return (0);
	case SF_KUBE_UNAUTHORIZED:
		return (sf_status_set(st, SF_PERMISSION_DENIED,
		    "cluster \"%s\" refused GET %s: %s", sf_kube_cfg_name(cfg),
		    path, msg));
	case SF_KUBE_NOT_FOUND:
		return (sf_status_set(st, SF_NOT_FOUND, "cluster \"%s\": %s",
		    sf_kube_cfg_name(cfg), msg));
	default:
		return (sf_status_set(st, SF_UNAVAILABLE,
		    "cluster \"%s\" could not answer GET %s: %s",
		    sf_kube_cfg_name(cfg), path, msg));
	}
}

// The status of an answer that is not what path serves.
static int
unreadable(const sf_kube_cfg *cfg, const char *path, int rv, sf_status *st)
{
	if (rv == SF_RESOURCE_EXHAUSTED) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	return (sf_status_set(st, SF_INTERNAL,
	    "cluster \"%s\" sent an answer to GET %s that svcfleet cannot "
	    "read",
	    sf_kube_cfg_name(cfg), path));
}

int
sf_kube_list_namespaces(
    const sf_kube_cfg *cfg, long timeout_ms, char ***names, sf_status *st)
{
	static const char path[] = "/api/v1/namespaces";
	sf_kube_req       r      = {0};
	int               cls, rv;

	*names = NULL;
	if ((rv = get_body(cfg, path, timeout_ms, &r, &cls, st)) == 0
	    && (rv = sf_kube_namespaces_parse(
	            r.kr_body.b_data, r.kr_body.b_len, names))
	        != 0) {
		rv = unreadable(cfg, path, rv, st);
	}
	sf_kube_req_fini(&r);
	return (rv);
}

int
sf_kube_list_workloads(const sf_kube_cfg *cfg, const char *ns, long timeout_ms,
    json_t **out, sf_status *st)
{
	static const struct {
		const char *resource;
		const char *kind;
	} kinds[] = {
	    {"deployments", "Deployment"},
	    {"statefulsets", "StatefulSet"},
	    {"daemonsets", "DaemonSet"},
	};
	json_t *all  = json_array();
	sf_buf  path = SF_BUF_INIT;
	int     rv   = 0;

	*out = NULL;
	if (all == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	for (size_t k = 0; rv == 0 && k < sizeof(kinds) / sizeof(kinds[0]);
	     k++) {
		sf_kube_req r = {0};
		int         cls;
		sf_buf_reset(&path);
		sf_buf_puts(&path, "/apis/apps/v1/namespaces/");
		sf_kube_query_escape(&path, ns);
		sf_buf_printf(&path, "/%s", kinds[k].resource);
		if (path.b_oom) {
			rv = sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL);
			break;
		}
		if ((rv = get_body(cfg, path.b_data, timeout_ms, &r, &cls, st))
		        == 0
		    && (rv = sf_kube_workloads_parse(r.kr_body.b_data,
		            r.kr_body.b_len, kinds[k].kind, all))
		        != 0) {
			rv = unreadable(cfg, path.b_data, rv, st);
		}
		sf_kube_req_fini(&r);
	}
	sf_buf_fini(&path);
	if (rv != 0) {
		json_decref(all);
		return (rv);
	}
	*out = all;
	return (0);
}

int
sf_kube_list_pools(const sf_kube_cfg *cfg, long timeout_ms, json_t **out,
    bool *known, sf_status *st)
{
	// MetalLB proper, then kubefake's simulated MetalLB.
	static const struct {
		const char *path;
		bool        kubefake;
	} sources[] = {
	    {SF_KUBE_POOLS_PATH, false},
	    {SF_KUBE_POOLS_KUBEFAKE_PATH, true},
	};

	*out   = NULL;
	*known = false;
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		sf_kube_req r = {0};
		sf_status   tmp;
		int         cls, rv;

		sf_status_init(&tmp);
		rv = get_body(
		    cfg, sources[i].path, timeout_ms, &r, &cls, &tmp);
		if (rv == 0) {
			rv = sf_kube_pools_parse(r.kr_body.b_data,
			    r.kr_body.b_len, sources[i].kubefake, out);
		} else if (cls != SF_KUBE_NOT_FOUND) {
			sf_status_copy(st, &tmp);
		}
		sf_kube_req_fini(&r);
		sf_status_fini(&tmp);
		if (rv == 0) {
			*known = true;
			return (0);
		}
		if (cls == SF_KUBE_OK) {
			return (unreadable(cfg, sources[i].path, rv, st));
		}
		if (cls != SF_KUBE_NOT_FOUND) {
			return (rv);
		}
	}
	// No MetalLB here: pools are unknown, which is not an error.
	if ((*out = json_array()) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	return (0);
}

int
sf_kube_version(const sf_kube_cfg *cfg, long timeout_ms, char *buf, size_t cap)
{
	sf_kube_req r = {0};
	int         cls, rv;

	buf[0] = '\0';
	if ((rv = get_body(cfg, "/version", timeout_ms, &r, &cls, NULL)) == 0
	    && sf_kube_version_parse(
	           r.kr_body.b_data, r.kr_body.b_len, buf, cap)
	        != 0) {
		rv = SF_INTERNAL;
	}
	sf_kube_req_fini(&r);
	return (rv);
}
