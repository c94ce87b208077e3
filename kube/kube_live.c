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
	static const char metallb[]
	    = "/apis/metallb.io/v1beta1/ipaddresspools";
	static const char kubefake[] = "/_kubefake/metallb/pools";
	sf_kube_req       r          = {0};
	int               cls, rv;
	sf_status         tmp;

	*out   = NULL;
	*known = false;
	sf_status_init(&tmp);
	// MetalLB proper: IPAddressPool objects in any namespace.
	if ((rv = get_body(cfg, metallb, timeout_ms, &r, &cls, &tmp)) == 0) {
		sf_status_fini(&tmp);
		rv = sf_kube_pools_parse(
		    r.kr_body.b_data, r.kr_body.b_len, false, out);
		sf_kube_req_fini(&r);
		if (rv != 0) {
			return (unreadable(cfg, metallb, rv, st));
		}
		*known = true;
		return (0);
	}
	sf_kube_req_fini(&r);
	if (cls != SF_KUBE_NOT_FOUND) {
		sf_status_copy(st, &tmp);
		sf_status_fini(&tmp);
		return (rv);
	}
	sf_status_reset(&tmp);
	// kubefake's simulated MetalLB.
	if ((rv = get_body(cfg, kubefake, timeout_ms, &r, &cls, &tmp)) == 0) {
		sf_status_fini(&tmp);
		rv = sf_kube_pools_parse(
		    r.kr_body.b_data, r.kr_body.b_len, true, out);
		sf_kube_req_fini(&r);
		if (rv != 0) {
			return (unreadable(cfg, kubefake, rv, st));
		}
		*known = true;
		return (0);
	}
	sf_kube_req_fini(&r);
	if (cls != SF_KUBE_NOT_FOUND) {
		sf_status_copy(st, &tmp);
		sf_status_fini(&tmp);
		return (rv);
	}
	sf_status_fini(&tmp);
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
