// kf_decode.c: decoding request bodies and the per-kind preparation
// (typemeta, identity, unknown fields, generated names, generic validation)
// shared by every write.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"
#include "kf_rest.h"
#include "log.h"

// ---- decoding request bodies --------------------------------------------

// decode_body parses q's body as JSON or YAML by Content-Type.
json_t *
kf__decode_body(const kf_req *q, kf_resp *r, bool yaml_ok)
{
	const char *ct = q->q_ctype ? q->q_ctype : "application/json";
	if (strncmp(ct, "application/vnd.kubernetes.protobuf", 35) == 0) {
		char    perr[256];
		json_t *j = kf_proto_decode(
		    q->q_body, q->q_blen, perr, sizeof(perr));
		if (j == NULL) {
			kf_status(
			    r, 415, "UnsupportedMediaType", NULL, "%s", perr);
		}
		return j;
	}
	if ((!yaml_ok && strncmp(ct, "application/yaml", 16) != 0
	        && strncmp(ct, "application/json", 16) != 0
	        && strncmp(ct, "*/*", 3) != 0)) {
		kf_status(r, 415, "UnsupportedMediaType", NULL,
		    "the body of the request was in an unknown format - "
		    "accepted "
		    "media types include: application/json, application/yaml");
		return NULL;
	}
	if (q->q_blen == 0) {
		kf_status_badrequest(r, "the body of the request is empty");
		return NULL;
	}
	char    err[256] = "";
	json_t *j        = NULL;
	if (strncmp(ct, "application/json", 16) == 0) {
		json_error_t je;
		j = json_loadb(q->q_body, q->q_blen, 0, &je);
		if (j == NULL) {
			snprintf(err, sizeof(err), "json: %s", je.text);
		}
	} else {
		j = kf_yaml_to_json(q->q_body, q->q_blen, err, sizeof(err));
	}
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		kf_status_badrequest(r,
		    "couldn't get version/kind; json parse "
		    "error: %s",
		    *err ? err : "not an object");
		return NULL;
	}
	return j;
}

// check_fields normalizes obj against its schema, handling unknown fields
// as fieldValidation asks (Strict: error; Warn: Warning header).
int
kf__check_fields(const kf_req *q, kf_resp *r, const kf_resource *rs,
    json_t *obj, bool check_only)
{
	const char *fv     = kf_query(q, "fieldValidation");
	bool        strict = fv && strcmp(fv, "Strict") == 0;
	bool        ignore = fv && strcmp(fv, "Ignore") == 0;
	if (fv && *fv && !strict && !ignore && strcmp(fv, "Warn") != 0) {
		kf_status_badrequest(r,
		    "fieldValidation parameter unsupported: %s. Must be one "
		    "of "
		    "Ignore, Warn, Strict",
		    fv);
		return -1;
	}
	sf_buf unknown = SF_BUF_INIT;
	char   err[512];
	if (kf_schema_normalize(
	        rs->rs_type, obj, &unknown, check_only, err, sizeof(err))
	    != 0) {
		kf_status_badrequest(r,
		    "%s in version \"%s\" cannot be handled as a %s: %s",
		    rs->rs_kind, rs->rs_version, rs->rs_kind, err);
		sf_buf_fini(&unknown);
		return -1;
	}
	if (unknown.b_len > 0 && strict) {
		kf_status_badrequest(
		    r, "strict decoding error: %s", sf_buf_cstr(&unknown));
		sf_buf_fini(&unknown);
		return -1;
	}
	if (unknown.b_len > 0 && !ignore) {
		r->r_warning = sf_buf_take(&unknown);
	}
	sf_buf_fini(&unknown);
	return 0;
}

// check_typemeta rejects a body of another kind or version.
int
kf__check_typemeta(kf_resp *r, const kf_resource *rs, json_t *obj)
{
	const char *k  = kf_jstr(obj, "kind");
	const char *av = kf_jstr(obj, "apiVersion");
	if (k && *k && strcmp(k, rs->rs_kind) != 0) {
		kf_status_badrequest(r,
		    "the object provided is unrecognized (must be of type "
		    "%s): "
		    "kind %s does not match the expected kind %s",
		    rs->rs_kind, k, rs->rs_kind);
		return -1;
	}
	if (av && *av && strcmp(av, rs->rs_apiversion) != 0) {
		kf_status_badrequest(r,
		    "the API version in the data (%s) does not match the "
		    "expected "
		    "API version (%s)",
		    av, rs->rs_apiversion);
		return -1;
	}
	return 0;
}

int
kf__check_identity(kf_resp *r, const kf_resource *rs, json_t *obj,
    const char *ns, const char *name)
{
	json_t     *meta = kf_jobj(obj, "metadata");
	const char *bns  = kf_jstr(meta, "namespace");
	if (rs->rs_namespaced) {
		if (bns && *bns && strcmp(bns, ns) != 0) {
			kf_status_badrequest(r,
			    "the namespace of the provided object does not "
			    "match "
			    "the namespace sent on the request");
			return -1;
		}
		json_object_set_new(meta, "namespace", json_string(ns));
	} else {
		json_object_del(meta, "namespace");
	}
	if (name) {
		const char *bn = kf_jstr(meta, "name");
		if (bn && *bn && strcmp(bn, name) != 0) {
			kf_status_badrequest(r,
			    "the name of the object (%s) does not match the "
			    "name on "
			    "the URL (%s)",
			    bn, name);
			return -1;
		}
		json_object_set_new(meta, "name", json_string(name));
	}
	return 0;
}

void
kf__generate_name(json_t *obj)
{
	json_t     *meta = kf_jobj(obj, "metadata");
	const char *name = kf_jstr(meta, "name");
	const char *gen  = kf_jstr(meta, "generateName");
	if ((name && *name) || gen == NULL || *gen == '\0') {
		return;
	}
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	char              buf[128];
	size_t            n = strlen(gen);
	if (n > 58) {
		n = 58;
	}
	memcpy(buf, gen, n);
	for (int i = 0; i < 5; i++) {
		buf[n + (size_t) i] = alphabet[kf_rand_u64() % 27];
	}
	buf[n + 5] = '\0';
	json_object_set_new(meta, "name", json_string(buf));
}

// ---- per-kind preparation -----------------------------------------------

void
kf__stamp_generic(json_t *obj)
{
	json_t *meta = kf_jobj(obj, "metadata");
	char    uid[37], now[32];
	kf_uuid(uid);
	kf_now_rfc3339(now);
	json_object_set_new(meta, "uid", json_string(uid));
	json_object_set_new(meta, "creationTimestamp", json_string(now));
}

void
kf__namespace_prepare(json_t *obj)
{
	json_t     *meta = kf_jobj(obj, "metadata");
	const char *name = kf_jstr(meta, "name");
	json_object_set_new(kf_jobj(meta, "labels"),
	    "kubernetes.io/metadata.name", json_string(name ? name : ""));
	json_t *spec = kf_jobj(obj, "spec");
	if (json_object_get(spec, "finalizers") == NULL) {
		json_object_set_new(
		    spec, "finalizers", json_pack("[s]", "kubernetes"));
	}
	json_object_set_new(
	    obj, "status", json_pack("{s:s}", "phase", "Active"));
}

void
kf__workload_prepare(json_t *obj, int res)
{
	json_t *spec = kf_jobj(obj, "spec");
	if (res != KF_R_DAEMONSETS
	    && json_object_get(spec, "replicas") == NULL) {
		json_object_set_new(spec, "replicas", json_integer(1));
	}
}

// validate_generic: names and labels for the kinds without a schema.
int
kf__validate_generic(kf_resp *r, const kf_resource *rs, json_t *obj)
{
	kf_errs     e    = {0};
	const char *name = kf_jstr(obj, "metadata.name");
	kf_validate_meta(obj, rs->rs_namespaced, false, &e);
	// Most kinds take DNS-1123 subdomains; replace the label message.
	if (name && rs - kf_resources != KF_R_NAMESPACES
	    && kf_is_dns1123_subdomain(name)) {
		kf_errs keep = {0};
		for (size_t i = 0; i < e.e_n; i++) {
			if (strcmp(e.e_c[i].c_field, "metadata.name") != 0) {
				kf_errs_addf(&keep, e.e_c[i].c_type,
				    e.e_c[i].c_field, "%s", e.e_c[i].c_msg);
			}
		}
		kf_errs_fini(&e);
		e = keep;
	}
	if (rs - kf_resources >= KF_R_DEPLOYMENTS) {
		json_t *tl = kf_jget(obj, "spec.template.metadata.labels");
		json_t *ml = kf_jget(obj, "spec.selector.matchLabels");
		if (kf_jget(obj, "spec.selector") == NULL) {
			kf_err_required(&e, "spec.selector", "");
		} else if (json_is_object(ml)) {
			const char *k;
			json_t     *v;
			json_object_foreach(ml, k, v)
			{
				if (!json_equal(json_object_get(tl, k), v)) {
					kf_err_invalid(&e,
					    "spec.template.metadata.labels",
					    "map[string]string{...}",
					    "`selector` does not match "
					    "template `labels`");
					break;
				}
			}
		}
	}
	if (e.e_n > 0) {
		kf_status_invalid(r, rs->rs_group, rs->rs_kind, name, &e);
		kf_errs_fini(&e);
		return -1;
	}
	return 0;
}
