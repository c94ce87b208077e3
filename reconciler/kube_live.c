// kube_live.c: synchronous reads of a cluster for the "create a Service"
// form (namespaces, workloads, MetalLB pools) and for cluster health
// (/version). See kube.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"

// Runs one GET and parses the answer. Returns 0 with *out (new reference)
// or an SF_* code with st set; *cls gets the outcome class.
static int
get_json(const sf_kube_cfg *cfg, const char *path, long timeout_ms,
    json_t **out, int *cls, sf_status *st)
{
	sf_kube_req r = {0};
	char        msg[400];
	CURLcode    cc;
	int         rv = 0;

	*out = NULL;
	if (sf_kube_req_setup(&r, cfg, "GET", path, NULL, NULL, timeout_ms)
	    != 0) {
		sf_kube_req_fini(&r);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	cc   = sf_kube_perform(&r);
	*cls = sf_kube_outcome(&r, cc, msg, sizeof(msg));
	switch (*cls) {
	case SF_KUBE_OK:
		*out = json_loadb(
		    r.kr_body.b_data, r.kr_body.b_len, JSON_DECODE_ANY, NULL);
		if (*out == NULL) {
			rv = sf_status_set(st, SF_INTERNAL,
			    "cluster \"%s\" sent an answer to GET %s that is "
			    "not JSON",
			    sf_kube_cfg_name(cfg), path);
		}
		break;
	case SF_KUBE_UNAUTHORIZED:
		rv = sf_status_set(st, SF_PERMISSION_DENIED,
		    "cluster \"%s\" refused GET %s: %s", sf_kube_cfg_name(cfg),
		    path, msg);
		break;
	case SF_KUBE_NOT_FOUND:
		rv = sf_status_set(st, SF_NOT_FOUND, "cluster \"%s\": %s",
		    sf_kube_cfg_name(cfg), msg);
		break;
	default:
		rv = sf_status_set(st, SF_UNAVAILABLE,
		    "cluster \"%s\" could not answer GET %s: %s",
		    sf_kube_cfg_name(cfg), path, msg);
		break;
	}
	sf_kube_req_fini(&r);
	return (rv);
}

void
sf_kube_strv_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
		free(v[i]);
	}
	free(v);
}

int
sf_kube_list_namespaces(
    const sf_kube_cfg *cfg, long timeout_ms, char ***names, sf_status *st)
{
	json_t *j, *items;
	int     cls, rv;
	size_t  n = 0;

	*names = NULL;
	if ((rv = get_json(
	         cfg, "/api/v1/namespaces", timeout_ms, &j, &cls, st))
	    != 0) {
		return (rv);
	}
	items = json_object_get(j, "items");
	if ((*names = calloc(json_array_size(items) + 1, sizeof(char *)))
	    == NULL) {
		json_decref(j);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	for (size_t i = 0; i < json_array_size(items); i++) {
		const char *nm = json_string_value(json_object_get(
		    json_object_get(json_array_get(items, i), "metadata"),
		    "name"));
		if (nm != NULL && ((*names)[n] = strdup(nm)) != NULL) {
			n++;
		}
	}
	json_decref(j);
	return (0);
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

	*out = NULL;
	if (all == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		json_t *j, *items;
		int     cls, rv;
		sf_buf_reset(&path);
		sf_buf_puts(&path, "/apis/apps/v1/namespaces/");
		sf_kube_query_escape(&path, ns);
		sf_buf_printf(&path, "/%s", kinds[k].resource);
		if (path.b_oom) {
			sf_buf_fini(&path);
			json_decref(all);
			return (
			    sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
		}
		if ((rv = get_json(cfg, path.b_data, timeout_ms, &j, &cls, st))
		    != 0) {
			sf_buf_fini(&path);
			json_decref(all);
			return (rv);
		}
		items = json_object_get(j, "items");
		for (size_t i = 0; i < json_array_size(items); i++) {
			json_t *it     = json_array_get(items, i);
			json_t *md     = json_object_get(it, "metadata");
			json_t *labels = json_object_get(
			    json_object_get(
			        json_object_get(
			            json_object_get(it, "spec"), "template"),
			        "metadata"),
			    "labels");
			json_array_append_new(all,
			    json_pack("{s:O?,s:s,s:o}", "name",
			        json_object_get(md, "name"), "kind",
			        kinds[k].kind, "labels",
			        json_is_object(labels) ? json_copy(labels)
			                               : json_object()));
		}
		json_decref(j);
	}
	sf_buf_fini(&path);
	*out = all;
	return (0);
}

int
sf_kube_list_pools(const sf_kube_cfg *cfg, long timeout_ms, json_t **out,
    bool *known, sf_status *st)
{
	json_t   *j, *items, *pools;
	int       cls, rv;
	sf_status tmp;

	*out   = NULL;
	*known = false;
	sf_status_init(&tmp);
	// MetalLB proper: IPAddressPool objects in any namespace.
	rv = get_json(cfg, "/apis/metallb.io/v1beta1/ipaddresspools",
	    timeout_ms, &j, &cls, &tmp);
	if (rv == 0) {
		sf_status_fini(&tmp);
		if ((pools = json_array()) == NULL) {
			json_decref(j);
			return (
			    sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
		}
		items = json_object_get(j, "items");
		for (size_t i = 0; i < json_array_size(items); i++) {
			json_t *it = json_array_get(items, i);
			json_t *nm = json_object_get(
			    json_object_get(it, "metadata"), "name");
			json_t *ad = json_object_get(
			    json_object_get(it, "spec"), "addresses");
			json_array_append_new(pools,
			    json_pack("{s:O?,s:o}", "name", nm, "addresses",
			        json_is_array(ad) ? json_copy(ad)
			                          : json_array()));
		}
		json_decref(j);
		*out   = pools;
		*known = true;
		return (0);
	}
	if (cls != SF_KUBE_NOT_FOUND) {
		sf_status_copy(st, &tmp);
		sf_status_fini(&tmp);
		return (rv);
	}
	sf_status_reset(&tmp);
	// kubefake's simulated MetalLB.
	rv = get_json(
	    cfg, "/_kubefake/metallb/pools", timeout_ms, &j, &cls, &tmp);
	if (rv == 0 && json_is_array(j)) {
		sf_status_fini(&tmp);
		*out   = j;
		*known = true;
		return (0);
	}
	json_decref(j);
	if (rv != 0 && cls != SF_KUBE_NOT_FOUND) {
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
	json_t     *j;
	int         cls, rv;
	const char *v;

	buf[0] = '\0';
	if ((rv = get_json(cfg, "/version", timeout_ms, &j, &cls, NULL))
	    != 0) {
		return (rv);
	}
	v = json_string_value(json_object_get(j, "gitVersion"));
	snprintf(buf, cap, "%s", v != NULL ? v : "");
	json_decref(j);
	return (0);
}
