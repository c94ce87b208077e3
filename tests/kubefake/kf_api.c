// kf_api.c: the Kubernetes REST surface's front — routing, discovery and
// the small helpers every handler shares. The handlers live in kf_list.c
// (list, watch), kf_write.c (get, create, update, apply, patch, delete) and
// kf_decode.c (bodies and per-kind preparation); Service-specific steps in
// kf_service.c.
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"
#include "kf_rest.h"
#include "log.h"

// ---- small helpers -------------------------------------------------------

bool
kf__is_true(const char *v)
{
	return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static const char *
verb_name(int verb)
{
	static const char *names[] = {"get", "list", "watch", "create",
	    "update", "patch", "delete", "deletecollection", "other"};
	return names[verb];
}

// typed puts kind and apiVersion first, the way Go encodes TypeMeta.
json_t *
kf__typed(json_t *o, const kf_resource *rs)
{
	json_t *out = json_object();
	json_object_set_new(out, "kind", json_string(rs->rs_kind));
	json_object_set_new(out, "apiVersion", json_string(rs->rs_apiversion));
	const char *k;
	json_t     *v;
	json_object_foreach(o, k, v)
	{
		if (strcmp(k, "kind") != 0 && strcmp(k, "apiVersion") != 0) {
			json_object_set(out, k, v);
		}
	}
	json_decref(o);
	return out;
}

static const char *
manager_name(const kf_req *q, char *buf, size_t cap)
{
	const char *fm = kf_query(q, "fieldManager");
	if (fm && *fm) {
		snprintf(buf, cap, "%s", fm);
		return buf;
	}
	// managerOrUserAgent: the User-Agent up to its first '/'.
	const char *ua = q->q_agent && *q->q_agent ? q->q_agent : "unknown";
	size_t      n  = strcspn(ua, "/");
	if (n >= cap) {
		n = cap - 1;
	}
	memcpy(buf, ua, n);
	buf[n] = '\0';
	return buf;
}

static void
forbidden(kf_resp *r, const kf_req *q, const kf_resource *rs, int verb,
    const char *ns, const char *name, const char *sub)
{
	json_t *det = json_object();
	if (name && *name) {
		json_object_set_new(det, "name", json_string(name));
	}
	if (*rs->rs_group) {
		json_object_set_new(det, "group", json_string(rs->rs_group));
	}
	json_object_set_new(det, "kind", json_string(rs->rs_name));
	char what[256], scope[160], res[96];
	if (name && *name) {
		char *qn = kf_goquote(name);
		snprintf(what, sizeof(what), "%s %s", rs->rs_name, qn);
		free(qn);
	} else {
		snprintf(what, sizeof(what), "%s", rs->rs_name);
	}
	if (ns && *ns && rs->rs_namespaced) {
		snprintf(scope, sizeof(scope), "in the namespace \"%s\"", ns);
	} else {
		snprintf(scope, sizeof(scope), "at the cluster scope");
	}
	snprintf(res, sizeof(res), "%s%s%s", rs->rs_name, sub ? "/" : "",
	    sub ? sub : "");
	kf_status(r, 403, "Forbidden", det,
	    "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API "
	    "group \"%s\" %s",
	    what, q->q_user, verb_name(verb), res, rs->rs_group, scope);
}

void
kf__conflict(kf_resp *r, const kf_resource *rs, const char *name)
{
	json_t *det = json_object();
	json_object_set_new(det, "name", json_string(name));
	if (*rs->rs_group) {
		json_object_set_new(det, "group", json_string(rs->rs_group));
	}
	json_object_set_new(det, "kind", json_string(rs->rs_name));
	char *qn = kf_goquote(name);
	if (*rs->rs_group) {
		kf_status(r, 409, "Conflict", det,
		    "Operation cannot be fulfilled on %s.%s %s: the object "
		    "has been "
		    "modified; please apply your changes to the latest "
		    "version and "
		    "try again",
		    rs->rs_name, rs->rs_group, qn);
	} else {
		kf_status(r, 409, "Conflict", det,
		    "Operation cannot be fulfilled on %s %s: the object has "
		    "been "
		    "modified; please apply your changes to the latest "
		    "version and "
		    "try again",
		    rs->rs_name, qn);
	}
	free(qn);
}

void
kf__already_exists(kf_resp *r, const kf_resource *rs, const char *name)
{
	json_t *det = json_object();
	json_object_set_new(det, "name", json_string(name));
	if (*rs->rs_group) {
		json_object_set_new(det, "group", json_string(rs->rs_group));
	}
	json_object_set_new(det, "kind", json_string(rs->rs_name));
	char *qn = kf_goquote(name);
	if (*rs->rs_group) {
		kf_status(r, 409, "AlreadyExists", det,
		    "%s.%s %s already exists", rs->rs_name, rs->rs_group, qn);
	} else {
		kf_status(r, 409, "AlreadyExists", det, "%s %s already exists",
		    rs->rs_name, qn);
	}
	free(qn);
}

void
kf__options_invalid(kf_resp *r, const char *kind, kf_errs *e)
{
	kf_status_invalid(r, "meta.k8s.io", kind, "", e);
}

// ---- discovery ----------------------------------------------------------

static json_t *
resource_list(const char *group)
{
	json_t *res = json_array();
	for (int i = 0; i < KF_R_COUNT; i++) {
		const kf_resource *rs = &kf_resources[i];
		if (strcmp(rs->rs_group, group) != 0) {
			continue;
		}
		json_t *e = json_object();
		json_object_set_new(e, "name", json_string(rs->rs_name));
		json_object_set_new(
		    e, "singularName", json_string(rs->rs_singular));
		json_object_set_new(
		    e, "namespaced", json_boolean(rs->rs_namespaced));
		json_object_set_new(e, "kind", json_string(rs->rs_kind));
		json_t *verbs = i == KF_R_NAMESPACES
		    ? json_pack("[s,s,s,s,s,s]", "create", "get", "list",
		        "patch", "update", "watch")
		    : json_pack("[s,s,s,s,s,s,s,s]", "create", "delete",
		        "deletecollection", "get", "list", "patch", "update",
		        "watch");
		json_object_set_new(e, "verbs", verbs);
		if (rs->rs_short) {
			json_object_set_new(
			    e, "shortNames", json_pack("[s]", rs->rs_short));
		}
		if (i == KF_R_SERVICES || i >= KF_R_DEPLOYMENTS) {
			json_object_set_new(
			    e, "categories", json_pack("[s]", "all"));
		}
		json_object_set_new(
		    e, "storageVersionHash", json_string("kubefake"));
		json_array_append_new(res, e);
		if (rs->rs_status) {
			json_t *s = json_object();
			char    n[64];
			snprintf(n, sizeof(n), "%s/status", rs->rs_name);
			json_object_set_new(s, "name", json_string(n));
			json_object_set_new(
			    s, "singularName", json_string(""));
			json_object_set_new(
			    s, "namespaced", json_boolean(rs->rs_namespaced));
			json_object_set_new(
			    s, "kind", json_string(rs->rs_kind));
			json_object_set_new(s, "verbs",
			    json_pack("[s,s,s]", "get", "patch", "update"));
			json_array_append_new(res, s);
		}
	}
	json_t *l = json_object();
	json_object_set_new(l, "kind", json_string("APIResourceList"));
	json_object_set_new(l, "apiVersion", json_string("v1"));
	json_object_set_new(
	    l, "groupVersion", json_string(*group ? "apps/v1" : "v1"));
	json_object_set_new(l, "resources", res);
	return l;
}

// openapi_v3 serves the least kubectl needs to trust server-side field
// validation: for each kind, a PATCH operation tagged with its
// x-kubernetes-group-version-kind that takes the fieldValidation query
// parameter. No schemas are published, so kubectl computes strategic
// merge patches from its built-in types (its documented fallback).
static json_t *
openapi_v3(const char *group)
{
	json_t *paths = json_object();
	for (int i = 0; i < KF_R_COUNT; i++) {
		const kf_resource *rs = &kf_resources[i];
		if (strcmp(rs->rs_group, group) != 0) {
			continue;
		}
		char p[256];
		if (rs->rs_namespaced) {
			snprintf(p, sizeof(p),
			    "/%s%s/namespaces/{namespace}/%s/{name}",
			    *group ? "apis/" : "api/",
			    *group ? "apps/v1" : "v1", rs->rs_name);
		} else {
			snprintf(p, sizeof(p), "/%s%s/%s/{name}",
			    *group ? "apis/" : "api/",
			    *group ? "apps/v1" : "v1", rs->rs_name);
		}
		json_t *gvk = json_pack("{s:s,s:s,s:s}", "group", rs->rs_group,
		    "version", rs->rs_version, "kind", rs->rs_kind);
		json_t *params
		    = json_pack("[{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:s}},"
		                "{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:s}}]",
		        "name", "dryRun", "in", "query", "schema", "type",
		        "string", "name", "fieldManager", "in", "query",
		        "schema", "type", "string", "name", "fieldValidation",
		        "in", "query", "schema", "type", "string", "name",
		        "force", "in", "query", "schema", "type", "boolean");
		json_t *op = json_object();
		json_object_set_new(op, "operationId", json_string("patch"));
		json_object_set_new(op, "parameters", params);
		json_object_set_new(
		    op, "x-kubernetes-action", json_string("patch"));
		json_object_set_new(
		    op, "x-kubernetes-group-version-kind", gvk);
		json_object_set_new(paths, p, json_pack("{s:o}", "patch", op));
	}
	// Schemas (issue 21): `kubectl explain`, and kubectl's patches.
	json_t *schemas = *group ? json_object() : kf_openapi_schemas(true);
	return json_pack("{s:s,s:{s:s,s:s},s:o,s:{s:o}}", "openapi", "3.0.0",
	    "info", "title", "Kubernetes", "version", "v1.32.0", "paths",
	    paths, "components", "schemas", schemas);
}

static bool
discovery(const char *path, kf_resp *r)
{
	if (strcmp(path, "/openapi/v3") == 0) {
		json_t *j = json_pack("{s:{s:{s:s},s:{s:s}}}", "paths",
		    "api/v1", "serverRelativeURL",
		    "/openapi/v3/api/v1?hash=kubefake1", "apis/apps/v1",
		    "serverRelativeURL",
		    "/openapi/v3/apis/apps/v1?hash=kubefake1");
		kf_resp_json(r, 200, j);
		return true;
	}
	if (strcmp(path, "/openapi/v3/api/v1") == 0) {
		kf_resp_json(r, 200, openapi_v3(""));
		return true;
	}
	if (strcmp(path, "/openapi/v3/apis/apps/v1") == 0) {
		kf_resp_json(r, 200, openapi_v3("apps"));
		return true;
	}
	if (strcmp(path, "/api") == 0 || strcmp(path, "/api/") == 0) {
		json_t *j = json_pack("{s:s,s:[s],s:[{s:s,s:s}]}", "kind",
		    "APIVersions", "versions", "v1",
		    "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0",
		    "serverAddress", kf_st.st_host);
		kf_resp_json(r, 200, j);
		return true;
	}
	if (strcmp(path, "/apis") == 0 || strcmp(path, "/apis/") == 0) {
		json_t *j = json_pack(
		    "{s:s,s:s,s:[{s:s,s:[{s:s,s:s}],s:{s:s,s:s}}]}", "kind",
		    "APIGroupList", "apiVersion", "v1", "groups", "name",
		    "apps", "versions", "groupVersion", "apps/v1", "version",
		    "v1", "preferredVersion", "groupVersion", "apps/v1",
		    "version", "v1");
		kf_resp_json(r, 200, j);
		return true;
	}
	if (strcmp(path, "/apis/apps") == 0) {
		json_t *j
		    = json_pack("{s:s,s:s,s:s,s:[{s:s,s:s}],s:{s:s,s:s}}",
		        "kind", "APIGroup", "apiVersion", "v1", "name", "apps",
		        "versions", "groupVersion", "apps/v1", "version", "v1",
		        "preferredVersion", "groupVersion", "apps/v1",
		        "version", "v1");
		kf_resp_json(r, 200, j);
		return true;
	}
	if (strcmp(path, "/api/v1") == 0) {
		kf_resp_json(r, 200, resource_list(""));
		return true;
	}
	if (strcmp(path, "/apis/apps/v1") == 0) {
		kf_resp_json(r, 200, resource_list("apps"));
		return true;
	}
	if (strcmp(path, "/version") == 0) {
		json_t *j = json_pack(
		    "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "major", "1",
		    "minor", "32", "gitVersion", "v1.32.0-kubefake",
		    "gitCommit", "0000000000000000000000000000000000000000",
		    "gitTreeState", "clean", "buildDate",
		    "2025-01-01T00:00:00Z", "goVersion", "c11", "compiler",
		    "gc", "platform", "linux/amd64", "emulationMajor", "1");
		json_object_del(j, "emulationMajor");
		kf_resp_json(r, 200, j);
		return true;
	}
	return false;
}

// ---- routing ------------------------------------------------------------

static int
find_resource(const char *group, const char *name)
{
	for (int i = 0; i < KF_R_COUNT; i++) {
		if (strcmp(kf_resources[i].rs_group, group) == 0
		    && strcmp(kf_resources[i].rs_name, name) == 0) {
			return i;
		}
	}
	return -1;
}

static void
not_found_path(kf_resp *r)
{
	kf_status(r, 404, "NotFound", json_object(),
	    "the server could not find the requested resource");
}

static void
method_not_allowed(kf_resp *r)
{
	kf_status(r, 405, "MethodNotAllowed", json_object(),
	    "the server does not allow this method on the requested resource");
}

typedef struct route {
	int         rt_res;
	int         rt_verb;
	const char *rt_ns;
	const char *rt_name;
	const char *rt_sub;
	char        rt_buf[1024];
} route;

enum { RT_OK, RT_NOTFOUND, RT_METHOD };

// route_parse maps method and path to (verb, resource, ns, name, sub).
static int
route_parse(const kf_req *q, route *rt)
{
	memset(rt, 0, sizeof(*rt));
	rt->rt_res        = -1;
	rt->rt_verb       = KF_V_OTHER;
	const char *path  = q->q_path;
	const char *group = NULL, *rest = NULL;
	if (strncmp(path, "/api/v1/", 8) == 0) {
		group = "";
		rest  = path + 8;
	} else if (strncmp(path, "/apis/apps/v1/", 14) == 0) {
		group = "apps";
		rest  = path + 14;
	} else {
		return RT_NOTFOUND;
	}
	char *seg[7];
	int   n = 0;
	snprintf(rt->rt_buf, sizeof(rt->rt_buf), "%s", rest);
	for (char *s = rt->rt_buf; s && *s && n < 7;) {
		seg[n++]    = s;
		char *slash = strchr(s, '/');
		if (slash) {
			*slash = '\0';
			s      = slash + 1;
		} else {
			s = NULL;
		}
	}
	const char *ns = NULL, *name = NULL, *sub = NULL;
	int         res = -1;
	if (n >= 1 && strcmp(seg[0], "namespaces") == 0 && *group == '\0'
	    && n <= 2) {
		res  = KF_R_NAMESPACES;
		name = n == 2 ? seg[1] : NULL;
	} else if (n >= 3 && strcmp(seg[0], "namespaces") == 0) {
		ns   = seg[1];
		res  = find_resource(group, seg[2]);
		name = n >= 4 ? seg[3] : NULL;
		sub  = n >= 5 ? seg[4] : NULL;
		if (n > 5 || (res >= 0 && !kf_resources[res].rs_namespaced)) {
			res = -1;
		}
	} else if (n == 1) {
		res = find_resource(group, seg[0]);
	}
	if (res < 0
	    || (sub
	        && (strcmp(sub, "status") != 0
	            || !kf_resources[res].rs_status))) {
		return RT_NOTFOUND;
	}
	rt->rt_res    = res;
	rt->rt_ns     = ns;
	rt->rt_name   = name;
	rt->rt_sub    = sub;
	const char *m = q->q_method;
	if (strcmp(m, "GET") == 0) {
		rt->rt_verb = name                      ? KF_V_GET
		    : kf__is_true(kf_query(q, "watch")) ? KF_V_WATCH
		                                        : KF_V_LIST;
	} else if (strcmp(m, "POST") == 0 && !name) {
		rt->rt_verb = KF_V_CREATE;
	} else if (strcmp(m, "PUT") == 0 && name) {
		rt->rt_verb = KF_V_UPDATE;
	} else if (strcmp(m, "PATCH") == 0 && name) {
		rt->rt_verb = KF_V_PATCH;
	} else if (strcmp(m, "DELETE") == 0) {
		rt->rt_verb = name ? KF_V_DELETE : KF_V_DELETECOLLECTION;
	} else {
		return RT_METHOD;
	}
	return RT_OK;
}

void
kf_api_classify(const kf_req *q, int *verb, int *res)
{
	route rt;
	route_parse(q, &rt);
	*verb = rt.rt_verb;
	*res  = rt.rt_res;
}

int
kf_api_handle(kf_req *q, kf_resp *r)
{
	if (strcmp(q->q_path, "/openapi/v2") == 0) {
		kf_openapi_v2(q, r);
		atomic_fetch_add(&kf_st.st_stats.s_discovery, 1);
		return 0;
	}
	if (discovery(q->q_path, r)) {
		atomic_fetch_add(&kf_st.st_stats.s_discovery, 1);
		return 0;
	}
	route rt;
	switch (route_parse(q, &rt)) {
	case RT_NOTFOUND:
		not_found_path(r);
		return 0;
	case RT_METHOD:
		method_not_allowed(r);
		return 0;
	default:
		break;
	}
	int                res  = rt.rt_res;
	int                verb = rt.rt_verb;
	const char        *ns   = rt.rt_ns;
	const char        *name = rt.rt_name;
	const char        *sub  = rt.rt_sub;
	const kf_resource *rs   = &kf_resources[res];
	if (q->q_readonly && verb != KF_V_GET && verb != KF_V_LIST
	    && verb != KF_V_WATCH) {
		forbidden(r, q, rs, verb, ns, name, sub);
		return 0;
	}
	if (res == KF_R_NAMESPACES
	    && (verb == KF_V_DELETE || verb == KF_V_DELETECOLLECTION)) {
		method_not_allowed(r);
		return 0;
	}
	if (ns && !kf_is_dns1123_label(ns)) {
		kf_status_notfound(r, "", "namespaces", ns);
		return 0;
	}
	wctx w;
	memset(&w, 0, sizeof(w));
	w.w_q    = q;
	w.w_res  = res;
	w.w_rs   = rs;
	w.w_ns   = ns;
	w.w_name = name;
	w.w_sub  = sub;
	manager_name(q, w.w_manager, sizeof(w.w_manager));
	kf_now_rfc3339(w.w_now);
	switch (verb) {
	case KF_V_GET:
		kf__handle_get(q, r, res, ns, name);
		break;
	case KF_V_LIST:
		kf__handle_list(q, r, res, ns);
		break;
	case KF_V_WATCH:
		return kf__handle_watch(q, r, res, ns);
	case KF_V_CREATE:
		kf__handle_create(q, r, &w);
		break;
	case KF_V_UPDATE:
		kf__handle_update(q, r, &w);
		break;
	case KF_V_PATCH:
		kf__handle_patch(q, r, &w);
		break;
	case KF_V_DELETE:
		if (sub) {
			method_not_allowed(r);
		} else {
			kf__handle_delete(q, r, &w);
		}
		break;
	case KF_V_DELETECOLLECTION:
		kf__handle_deletecollection(q, r, res, ns);
		break;
	default:
		method_not_allowed(r);
	}
	return 0;
}
