// kf_write.c: the write path — create, update, apply, patch, delete and
// get (kube-apiserver's handlers/{create,update,patch,delete}.go).
//
// Order of checks follows the generic registry store (rule 50, 62-69):
// decode and default, field manager, allocation, validation, then storage
// (AlreadyExists and Conflict come from storage, after validation).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"
#include "kf_rest.h"
#include "log.h"

// ---- the write path -----------------------------------------------------

static void
ssa_ctx(const wctx *w, kf_ssa_ctx *x)
{
	x->x_type        = w->w_rs->rs_type;
	x->x_apiversion  = w->w_rs->rs_apiversion;
	x->x_subresource = w->w_sub;
	x->x_manager     = w->w_manager;
	x->x_now         = w->w_now;
}

// finish_object canonicalizes obj before storing it.
static void
finish_object(const wctx *w, json_t **obj)
{
	*obj = kf__typed(*obj, w->w_rs);
	if (w->w_rs->rs_type != &kf_type_any) {
		char err[64];
		kf_schema_normalize(
		    w->w_rs->rs_type, *obj, NULL, false, err, sizeof(err));
	}
}

static void
after_store(const wctx *w, const char *key, json_t *obj, json_t *old)
{
	if (w->w_res == KF_R_SERVICES) {
		kf_metallb_changed(key, obj, old);
	}
}

// do_create stores a new object (st_mu held). mg may be NULL (then an
// Update entry by the manager is computed). Consumes obj.
static void
do_create(const wctx *w, kf_resp *r, json_t *obj, kf_managers *mg)
{
	char        key[512];
	const char *name = kf_jstr(obj, "metadata.name");
	kf_key(w->w_res, w->w_ns, name, key, sizeof(key));
	if (w->w_rs->rs_namespaced
	    && kf_lookup(KF_R_NAMESPACES, w->w_ns) == NULL) {
		kf_status_notfound(r, "", "namespaces", w->w_ns);
		json_decref(obj);
		return;
	}
	kf_managers own = {0};
	if (mg == NULL) {
		mg = &own;
		if (kf_managers_decode(mg, obj) != 0) {
			kf_managers_fini(mg);
		}
		kf_ssa_ctx x;
		ssa_ctx(w, &x);
		kf_ssa_update(&x, NULL, obj, mg);
	}
	if (w->w_res == KF_R_SERVICES) {
		if (kf_service_create(obj, w->w_dry, r) != 0) {
			goto out;
		}
	} else {
		if (kf__validate_generic(r, w->w_rs, obj) != 0) {
			goto out;
		}
		kf__stamp_generic(obj);
		json_object_set_new(
		    kf_jobj(obj, "metadata"), "generation", json_integer(1));
		if (w->w_res == KF_R_NAMESPACES) {
			kf__namespace_prepare(obj);
			json_object_del(
			    kf_jobj(obj, "metadata"), "generation");
		} else if (w->w_res >= KF_R_DEPLOYMENTS) {
			kf__workload_prepare(obj, w->w_res);
			if (json_object_get(obj, "status") == NULL) {
				json_object_set_new(
				    obj, "status", json_object());
			}
		} else if (w->w_res == KF_R_EVENTS) {
			json_object_del(
			    kf_jobj(obj, "metadata"), "generation");
		}
	}
	kf_managers_encode(mg, obj);
	if (kf_lookup(w->w_res, key) != NULL) {
		if (w->w_res == KF_R_SERVICES && !w->w_dry) {
			kf_service_release(obj);
		}
		kf__already_exists(r, w->w_rs, name);
		goto out;
	}
	// Its place in metadata; kf_commit sets the value.
	json_object_set_new(
	    kf_jobj(obj, "metadata"), "resourceVersion", json_string(""));
	finish_object(w, &obj);
	if (w->w_dry) {
		json_object_del(kf_jobj(obj, "metadata"), "resourceVersion");
		kf_resp_json(r, 201, json_incref(obj));
		goto out;
	}
	kf_obj *o = kf_commit(w->w_res, key, json_incref(obj), KF_EV_ADDED);
	after_store(w, key, o->o_json, NULL);
	kf_resp_text(r, 201, o->o_text, o->o_len);
out:
	kf_managers_fini(&own);
	json_decref(obj);
}

// managed_for_update: decodeLiveOrNew — the request's managedFields if it
// carries some, a reset for an explicit [], else the live object's.
static void
managed_for_update(kf_managers *mg, json_t *obj, json_t *live)
{
	json_t *mf = kf_jget(obj, "metadata.managedFields");
	if (json_is_array(mf) && json_array_size(mf) == 0) {
		return;
	}
	if (json_is_array(mf) && json_array_size(mf) == 1
	    && json_object_size(json_array_get(mf, 0)) == 0) {
		return;
	}
	if (mf != NULL && kf_managers_decode(mg, obj) == 0 && mg->ms_n > 0) {
		return;
	}
	kf_managers_fini(mg);
	kf_managers_decode(mg, live);
}

// do_update stores obj as the new version of old (st_mu held). mg holds
// the managers already computed (apply), or NULL. Consumes obj.
static void
do_update(const wctx *w, kf_resp *r, json_t *obj, kf_obj *old, kf_managers *mg)
{
	const char *name = w->w_name;
	char        key[512];
	kf_key(w->w_res, w->w_ns, name, key, sizeof(key));
	const char *brv = kf_jstr(obj, "metadata.resourceVersion");
	const char *orv = kf_jstr(old->o_json, "metadata.resourceVersion");
	if (brv && *brv && strcmp(brv, orv ? orv : "") != 0) {
		kf__conflict(r, w->w_rs, name);
		json_decref(obj);
		return;
	}
	json_t     *meta = kf_jobj(obj, "metadata");
	json_t     *om   = kf_jget(old->o_json, "metadata");
	const char *buid = kf_jstr(meta, "uid");
	const char *ouid = kf_jstr(om, "uid");
	if (buid && *buid && ouid && strcmp(buid, ouid) != 0) {
		// The generic store treats a uid as a precondition.
		json_t *det = json_object();
		json_object_set_new(det, "name", json_string(name));
		json_object_set_new(
		    det, "kind", json_string(w->w_rs->rs_name));
		char *qn = kf_goquote(name);
		kf_status(r, 409, "Conflict", det,
		    "Operation cannot be fulfilled on %s %s: Precondition "
		    "failed: "
		    "UID in precondition: %s, UID in object meta: %s",
		    w->w_rs->rs_name, qn, buid, ouid);
		free(qn);
		json_decref(obj);
		return;
	}
	// System fields cannot be changed by a client.
	static const char *keep[]
	    = {"uid", "creationTimestamp", "deletionTimestamp", NULL};
	for (int i = 0; keep[i]; i++) {
		json_t *v = json_object_get(om, keep[i]);
		if (v) {
			json_object_set(meta, keep[i], v);
		} else {
			json_object_del(meta, keep[i]);
		}
	}
	kf_managers own = {0};
	if (mg == NULL) {
		mg = &own;
		managed_for_update(mg, obj, old->o_json);
		kf_ssa_ctx x;
		ssa_ctx(w, &x);
		kf_ssa_update(&x, old->o_json, obj, mg);
	}
	if (w->w_res == KF_R_SERVICES) {
		int rc = w->w_sub
		    ? kf_service_status_update(obj, old->o_json, r)
		    : kf_service_update(obj, old->o_json, w->w_dry, r);
		if (rc != 0) {
			goto out;
		}
	} else {
		if (kf__validate_generic(r, w->w_rs, obj) != 0) {
			goto out;
		}
		if (w->w_sub) {
			json_t *spec = kf_jget(old->o_json, "spec");
			if (spec) {
				json_object_set_new(
				    obj, "spec", json_deep_copy(spec));
			}
		} else if (w->w_rs->rs_status) {
			json_t *st = kf_jget(old->o_json, "status");
			if (st) {
				json_object_set_new(
				    obj, "status", json_deep_copy(st));
			}
		}
		if (w->w_res == KF_R_NAMESPACES) {
			kf__namespace_prepare(obj);
		}
		json_t *gen = json_object_get(om, "generation");
		if (gen) {
			long long g = json_integer_value(gen);
			if (!json_equal(kf_jget(obj, "spec")
			            ? kf_jget(obj, "spec")
			            : json_null(),
			        kf_jget(old->o_json, "spec")
			            ? kf_jget(old->o_json, "spec")
			            : json_null())) {
				g++;
			}
			json_object_set_new(
			    meta, "generation", json_integer(g));
		}
	}
	kf_managers_encode(mg, obj);
	// An update that changes nothing is not written (no new version).
	json_object_set(kf_jobj(obj, "metadata"), "resourceVersion",
	    kf_jget(old->o_json, "metadata.resourceVersion"));
	finish_object(w, &obj);
	if (json_equal(obj, old->o_json) || w->w_dry) {
		kf_resp_json(r, 200, json_incref(obj));
		if (w->w_dry && w->w_res == KF_R_SERVICES) {
			// Dry runs rolled their allocations back already.
		}
		goto out;
	}
	json_t *oldj = json_incref(old->o_json);
	kf_obj *o = kf_commit(w->w_res, key, json_incref(obj), KF_EV_MODIFIED);
	after_store(w, key, o->o_json, oldj);
	json_decref(oldj);
	kf_resp_text(r, 200, o->o_text, o->o_len);
out:
	kf_managers_fini(&own);
	json_decref(obj);
}

static bool
dry_run(const kf_req *q, kf_resp *r, const char *optkind)
{
	const char *d = kf_query(q, "dryRun");
	if (d && *d && strcmp(d, "All") != 0) {
		kf_errs e = {0};
		char   *v = kf_goquote(d);
		char    val[300];
		snprintf(val, sizeof(val), "[]string{%s}", v);
		free(v);
		kf_errs_addf(&e, KF_NOTSUPPORTED, "dryRun",
		    "Unsupported value: %s: supported values: \"All\"", val);
		kf__options_invalid(r, optkind, &e);
		kf_errs_fini(&e);
	}
	return d && strcmp(d, "All") == 0;
}

static void
prepare_body(json_t *obj)
{
	json_t *meta = kf_jobj(obj, "metadata");
	json_object_del(meta, "uid");
	json_object_del(meta, "creationTimestamp");
	json_object_del(meta, "generation");
	json_object_del(meta, "selfLink");
	json_object_del(meta, "deletionTimestamp");
}

void
kf__handle_create(kf_req *q, kf_resp *r, wctx *w)
{
	bool dry = dry_run(q, r, "CreateOptions");
	if (r->r_code) {
		return;
	}
	w->w_dry    = dry;
	json_t *obj = kf__decode_body(q, r, true);
	if (obj == NULL) {
		return;
	}
	if (kf__check_typemeta(r, w->w_rs, obj) != 0
	    || kf__check_fields(q, r, w->w_rs, obj, false) != 0
	    || kf__check_identity(r, w->w_rs, obj, w->w_ns, NULL) != 0) {
		json_decref(obj);
		return;
	}
	const char *rv = kf_jstr(obj, "metadata.resourceVersion");
	if (rv && *rv) {
		json_decref(obj);
		kf_status_internal(r,
		    "resourceVersion should not be set on objects to be "
		    "created");
		return;
	}
	kf__generate_name(obj);
	prepare_body(obj);
	if (w->w_res == KF_R_NAMESPACES) {
		const char *n = kf_jstr(obj, "metadata.name");
		if (n && !kf_is_dns1123_label(n)) {
			kf_errs e = {0};
			kf_err_invalid_str(
			    &e, "metadata.name", n, MSG_DNS1123_LABEL);
			kf_status_invalid(r, "", "Namespace", n, &e);
			kf_errs_fini(&e);
			json_decref(obj);
			return;
		}
	}
	if (w->w_res == KF_R_SERVICES) {
		kf_service_default(obj);
	}
	pthread_mutex_lock(&kf_st.st_mu);
	do_create(w, r, obj, NULL);
	pthread_mutex_unlock(&kf_st.st_mu);
}

void
kf__handle_update(kf_req *q, kf_resp *r, wctx *w)
{
	bool dry = dry_run(q, r, "UpdateOptions");
	if (r->r_code) {
		return;
	}
	w->w_dry    = dry;
	json_t *obj = kf__decode_body(q, r, true);
	if (obj == NULL) {
		return;
	}
	if (kf__check_typemeta(r, w->w_rs, obj) != 0
	    || kf__check_fields(q, r, w->w_rs, obj, false) != 0
	    || kf__check_identity(r, w->w_rs, obj, w->w_ns, w->w_name) != 0) {
		json_decref(obj);
		return;
	}
	if (w->w_res == KF_R_SERVICES) {
		kf_service_default(obj);
	}
	char key[512];
	kf_key(w->w_res, w->w_ns, w->w_name, key, sizeof(key));
	pthread_mutex_lock(&kf_st.st_mu);
	kf_obj *old = kf_lookup(w->w_res, key);
	if (old == NULL) {
		if (w->w_sub) {
			kf_status_notfound(
			    r, w->w_rs->rs_group, w->w_rs->rs_name, w->w_name);
			json_decref(obj);
		} else {
			// PUT creates a missing object (AllowCreateOnUpdate).
			json_object_del(
			    kf_jobj(obj, "metadata"), "resourceVersion");
			prepare_body(obj);
			do_create(w, r, obj, NULL);
		}
	} else {
		do_update(w, r, obj, old, NULL);
	}
	pthread_mutex_unlock(&kf_st.st_mu);
}

static bool
ct_is(const char *ct, const char *want)
{
	size_t n = strlen(want);
	return ct && strncmp(ct, want, n) == 0
	    && (ct[n] == '\0' || ct[n] == ';');
}

static void
handle_apply(kf_req *q, kf_resp *r, wctx *w, bool force)
{
	char    err[256] = "";
	json_t *cfg = kf_yaml_to_json(q->q_body, q->q_blen, err, sizeof(err));
	if (cfg == NULL || !json_is_object(cfg)) {
		json_decref(cfg);
		kf_status_badrequest(r, "error decoding YAML: %s",
		    *err ? err : "the apply configuration must be an object");
		return;
	}
	const char *k  = kf_jstr(cfg, "kind");
	const char *av = kf_jstr(cfg, "apiVersion");
	if (k == NULL || *k == '\0' || av == NULL || *av == '\0') {
		char *txt = kf_json_dump(cfg, NULL);
		kf_status_badrequest(
		    r, "Object 'Kind' is missing in '%s'", txt ? txt : "");
		free(txt);
		json_decref(cfg);
		return;
	}
	if (kf__check_typemeta(r, w->w_rs, cfg) != 0) {
		json_decref(cfg);
		return;
	}
	if (kf_jget(cfg, "metadata.managedFields")) {
		kf_status_badrequest(r, "metadata.managedFields must be nil");
		json_decref(cfg);
		return;
	}
	if (kf__check_identity(r, w->w_rs, cfg, w->w_ns, w->w_name) != 0) {
		json_decref(cfg);
		return;
	}
	// Unknown fields cannot be owned; Strict rejects them, otherwise
	// they are dropped (with a warning unless Ignore).
	const char *fv = kf_query(q, "fieldValidation");
	if (w->w_rs->rs_type != &kf_type_any) {
		sf_buf unknown = SF_BUF_INIT;
		if (kf_schema_normalize(w->w_rs->rs_type, cfg, &unknown, true,
		        err, sizeof(err))
		    != 0) {
			kf_status_badrequest(r,
			    "failed to create typed patch object "
			    "(/v1, Kind=%s): %s",
			    w->w_rs->rs_kind, err);
			sf_buf_fini(&unknown);
			json_decref(cfg);
			return;
		}
		if (unknown.b_len > 0) {
			if (fv && strcmp(fv, "Strict") == 0) {
				kf_status_badrequest(r,
				    "failed to create typed patch object "
				    "(/v1, Kind=%s): %s: field not "
				    "declared in schema",
				    w->w_rs->rs_kind, sf_buf_cstr(&unknown));
				sf_buf_fini(&unknown);
				json_decref(cfg);
				return;
			}
			// They are dropped, with a warning unless Ignore.
			if (!(fv && strcmp(fv, "Ignore") == 0)) {
				r->r_warning = sf_buf_take(&unknown);
			}
			kf_schema_drop_unknown(w->w_rs->rs_type, cfg);
		}
		sf_buf_fini(&unknown);
	}
	char key[512];
	kf_key(w->w_res, w->w_ns, w->w_name, key, sizeof(key));
	kf_ssa_ctx x;
	ssa_ctx(w, &x);
	pthread_mutex_lock(&kf_st.st_mu);
	kf_obj     *old = kf_lookup(w->w_res, key);
	kf_managers mg  = {0};
	if (old == NULL && w->w_sub) {
		pthread_mutex_unlock(&kf_st.st_mu);
		kf_status_notfound(
		    r, w->w_rs->rs_group, w->w_rs->rs_name, w->w_name);
		json_decref(cfg);
		return;
	}
	if (old) {
		kf_managers_decode(&mg, old->o_json);
	}
	json_t *merged
	    = kf_ssa_apply(&x, old ? old->o_json : NULL, cfg, force, &mg, r);
	json_decref(cfg);
	if (merged == NULL) {
		pthread_mutex_unlock(&kf_st.st_mu);
		kf_managers_fini(&mg);
		return;
	}
	if (w->w_rs->rs_type != &kf_type_any) {
		kf_schema_normalize(
		    w->w_rs->rs_type, merged, NULL, false, err, sizeof(err));
	}
	json_object_set_new(
	    kf_jobj(merged, "metadata"), "name", json_string(w->w_name));
	if (w->w_res == KF_R_SERVICES) {
		kf_service_default(merged);
	}
	if (old == NULL) {
		json_object_del(
		    kf_jobj(merged, "metadata"), "resourceVersion");
		prepare_body(merged);
		do_create(w, r, merged, &mg);
	} else {
		json_object_set(kf_jobj(merged, "metadata"), "resourceVersion",
		    kf_jget(old->o_json, "metadata.resourceVersion"));
		do_update(w, r, merged, old, &mg);
	}
	pthread_mutex_unlock(&kf_st.st_mu);
	kf_managers_fini(&mg);
}

void
kf__handle_patch(kf_req *q, kf_resp *r, wctx *w)
{
	const char *ct    = q->q_ctype;
	bool        apply = ct_is(ct, "application/apply-patch+yaml");
	int         kind  = ct_is(ct, "application/json-patch+json")       ? 1
	             : ct_is(ct, "application/merge-patch+json")           ? 2
	             : ct_is(ct, "application/strategic-merge-patch+json") ? 3
	             : apply                                               ? 4
	                                                                   : 0;
	if (kind == 0) {
		kf_status(r, 415, "UnsupportedMediaType", NULL,
		    "the body of the request was in an unknown format - "
		    "accepted "
		    "media types include: application/json-patch+json, "
		    "application/merge-patch+json, "
		    "application/apply-patch+yaml%s",
		    w->w_rs->rs_type == &kf_type_service
		            || w->w_res != KF_R_EVENTS
		        ? ", application/strategic-merge-patch+json"
		        : "");
		return;
	}
	bool dry = dry_run(q, r, "PatchOptions");
	if (r->r_code) {
		return;
	}
	w->w_dry          = dry;
	const char *force = kf_query(q, "force");
	const char *fm    = kf_query(q, "fieldManager");
	if (force && !apply) {
		kf_errs e = {0};
		kf_err_forbidden(
		    &e, "force", "may not be specified for non-apply patch");
		kf__options_invalid(r, "PatchOptions", &e);
		kf_errs_fini(&e);
		return;
	}
	if (apply && (fm == NULL || *fm == '\0')) {
		kf_errs e = {0};
		kf_err_required(
		    &e, "fieldManager", "is required for apply patch");
		kf__options_invalid(r, "PatchOptions", &e);
		kf_errs_fini(&e);
		return;
	}
	if (fm && strlen(fm) > 128) {
		kf_errs e = {0};
		kf_err_toolong(&e, "fieldManager", 128);
		kf__options_invalid(r, "PatchOptions", &e);
		kf_errs_fini(&e);
		return;
	}
	if (q->q_blen == 0) {
		kf_status_badrequest(r, "the body of the request is empty");
		return;
	}
	if (apply) {
		handle_apply(q, r, w, kf__is_true(force));
		return;
	}
	json_error_t je;
	json_t *patch = json_loadb(q->q_body, q->q_blen, JSON_DECODE_ANY, &je);
	if (patch == NULL) {
		kf_status_badrequest(r, "error decoding patch: %s", je.text);
		return;
	}
	char key[512];
	kf_key(w->w_res, w->w_ns, w->w_name, key, sizeof(key));
	pthread_mutex_lock(&kf_st.st_mu);
	kf_obj *old = kf_lookup(w->w_res, key);
	if (old == NULL) {
		pthread_mutex_unlock(&kf_st.st_mu);
		kf_status_notfound(
		    r, w->w_rs->rs_group, w->w_rs->rs_name, w->w_name);
		json_decref(patch);
		return;
	}
	json_t *doc = json_incref(old->o_json);
	char    err[512];
	int     rc = kind == 1 ? kf_patch_json(&doc, patch, err, sizeof(err))
	        : kind == 2    ? kf_patch_merge(&doc, patch, err, sizeof(err))
	                       : kf_patch_strategic(
	                           w->w_rs->rs_type, &doc, patch, err, sizeof(err));
	json_decref(patch);
	if (rc != 0) {
		pthread_mutex_unlock(&kf_st.st_mu);
		json_decref(doc);
		if (kind == 1) {
			kf_status(r, 422, "Invalid", NULL, "%s", err);
		} else {
			kf_status_badrequest(r, "%s", err);
		}
		return;
	}
	if (!json_is_object(doc) || kf__check_typemeta(r, w->w_rs, doc) != 0
	    || kf__check_fields(q, r, w->w_rs, doc, false) != 0) {
		pthread_mutex_unlock(&kf_st.st_mu);
		if (r->r_code == 0) {
			kf_status_badrequest(
			    r, "the patched object is not an object");
		}
		json_decref(doc);
		return;
	}
	const char *pn = kf_jstr(doc, "metadata.name");
	if (pn == NULL || strcmp(pn, w->w_name) != 0) {
		pthread_mutex_unlock(&kf_st.st_mu);
		kf_errs e = {0};
		kf_err_invalid_str(
		    &e, "metadata.name", pn ? pn : "", "field is immutable");
		kf_status_invalid(
		    r, w->w_rs->rs_group, w->w_rs->rs_kind, w->w_name, &e);
		kf_errs_fini(&e);
		json_decref(doc);
		return;
	}
	if (kf__check_identity(r, w->w_rs, doc, w->w_ns, w->w_name) != 0) {
		pthread_mutex_unlock(&kf_st.st_mu);
		json_decref(doc);
		return;
	}
	if (w->w_res == KF_R_SERVICES) {
		kf_service_default(doc);
	}
	do_update(w, r, doc, old, NULL);
	pthread_mutex_unlock(&kf_st.st_mu);
}

void
kf__handle_delete(kf_req *q, kf_resp *r, wctx *w)
{
	bool dry = dry_run(q, r, "DeleteOptions");
	if (r->r_code) {
		return;
	}
	json_t *opts = NULL;
	if (q->q_blen > 0) {
		json_error_t je;
		opts = json_loadb(q->q_body, q->q_blen, 0, &je);
		if (opts == NULL) {
			kf_status_badrequest(
			    r, "error decoding DeleteOptions: %s", je.text);
			return;
		}
		json_t *dr = json_object_get(opts, "dryRun");
		if (json_array_size(dr) > 0) {
			dry = true;
		}
	}
	char key[512];
	kf_key(w->w_res, w->w_ns, w->w_name, key, sizeof(key));
	pthread_mutex_lock(&kf_st.st_mu);
	kf_obj *old = kf_lookup(w->w_res, key);
	if (old == NULL) {
		pthread_mutex_unlock(&kf_st.st_mu);
		kf_status_notfound(
		    r, w->w_rs->rs_group, w->w_rs->rs_name, w->w_name);
		json_decref(opts);
		return;
	}
	const char *puid = kf_jstr(opts, "preconditions.uid");
	const char *prv  = kf_jstr(opts, "preconditions.resourceVersion");
	const char *ouid = kf_jstr(old->o_json, "metadata.uid");
	const char *orv  = kf_jstr(old->o_json, "metadata.resourceVersion");
	if (puid && ouid && strcmp(puid, ouid) != 0) {
		pthread_mutex_unlock(&kf_st.st_mu);
		json_t *det = json_object();
		json_object_set_new(det, "name", json_string(w->w_name));
		json_object_set_new(
		    det, "kind", json_string(w->w_rs->rs_name));
		kf_status(r, 409, "Conflict", det,
		    "Operation cannot be fulfilled on %s \"%s\": Precondition "
		    "failed: UID in precondition: %s, UID in object meta: %s",
		    w->w_rs->rs_name, w->w_name, puid, ouid);
		json_decref(opts);
		return;
	}
	if (prv && orv && strcmp(prv, orv) != 0) {
		pthread_mutex_unlock(&kf_st.st_mu);
		json_t *det = json_object();
		json_object_set_new(det, "name", json_string(w->w_name));
		json_object_set_new(
		    det, "kind", json_string(w->w_rs->rs_name));
		kf_status(r, 409, "Conflict", det,
		    "Operation cannot be fulfilled on %s \"%s\": Precondition "
		    "failed: ResourceVersion in precondition: %s, "
		    "ResourceVersion "
		    "in object meta: %s",
		    w->w_rs->rs_name, w->w_name, prv, orv);
		json_decref(opts);
		return;
	}
	json_decref(opts);
	if (dry) {
		kf_resp_text(r, 200, old->o_text, old->o_len);
		pthread_mutex_unlock(&kf_st.st_mu);
		return;
	}
	json_t *oldj = json_incref(old->o_json);
	kf_obj *o
	    = kf_commit(w->w_res, key, json_deep_copy(oldj), KF_EV_DELETED);
	if (w->w_res == KF_R_SERVICES) {
		kf_service_release(oldj);
		kf_metallb_changed(key, NULL, oldj);
		kf_resp_text(r, 200, o->o_text, o->o_len);
	} else {
		json_t *det = json_object();
		json_object_set_new(det, "name", json_string(w->w_name));
		if (*w->w_rs->rs_group) {
			json_object_set_new(
			    det, "group", json_string(w->w_rs->rs_group));
		}
		json_object_set_new(
		    det, "kind", json_string(w->w_rs->rs_name));
		json_object_set(det, "uid", kf_jget(oldj, "metadata.uid"));
		json_t *j = json_object();
		json_object_set_new(j, "kind", json_string("Status"));
		json_object_set_new(j, "apiVersion", json_string("v1"));
		json_object_set_new(j, "metadata", json_object());
		json_object_set_new(j, "status", json_string("Success"));
		json_object_set_new(j, "details", det);
		kf_resp_json(r, 200, j);
	}
	json_decref(oldj);
	pthread_mutex_unlock(&kf_st.st_mu);
}

typedef struct delctx {
	char             **d_keys;
	size_t             d_n;
	size_t             d_cap;
	const kf_selector *d_labels;
	const kf_selector *d_fields;
} delctx;

static int
del_cb(void *arg, const char *key, void *val)
{
	delctx *d = arg;
	kf_obj *o = val;
	if (!kf_selector_match(
	        d->d_labels, kf_jget(o->o_json, "metadata.labels"))
	    || !kf_selector_match(d->d_fields, o->o_json)) {
		return 0;
	}
	if (d->d_n == d->d_cap) {
		d->d_cap  = d->d_cap ? d->d_cap * 2 : 32;
		char **nv = realloc(d->d_keys, d->d_cap * sizeof(char *));
		if (nv == NULL) {
			return 1;
		}
		d->d_keys = nv;
	}
	d->d_keys[d->d_n++] = strdup(key);
	return 0;
}

void
kf__handle_deletecollection(kf_req *q, kf_resp *r, int res, const char *ns)
{
	char         err[512];
	kf_selector *ls = kf_selector_parse(
	    kf_query(q, "labelSelector"), false, err, sizeof(err));
	kf_selector *fs = ls ? kf_selector_parse(kf_query(q, "fieldSelector"),
	                      true, err, sizeof(err))
	                     : NULL;
	if (ls == NULL || fs == NULL) {
		kf_selector_free(ls);
		kf_status_badrequest(r, "%s", err);
		return;
	}
	delctx d   = {0};
	d.d_labels = ls;
	d.d_fields = fs;
	char prefix[300];
	snprintf(prefix, sizeof(prefix), "%s/", ns ? ns : "");
	pthread_mutex_lock(&kf_st.st_mu);
	kf_tree_walk(kf_st.st_objs[res], NULL,
	    ns && kf_resources[res].rs_namespaced ? prefix : NULL, del_cb, &d);
	for (size_t i = 0; i < d.d_n; i++) {
		kf_obj *old  = kf_lookup(res, d.d_keys[i]);
		json_t *oldj = json_incref(old->o_json);
		kf_commit(
		    res, d.d_keys[i], json_deep_copy(oldj), KF_EV_DELETED);
		if (res == KF_R_SERVICES) {
			kf_service_release(oldj);
			kf_metallb_changed(d.d_keys[i], NULL, oldj);
		}
		json_decref(oldj);
		free(d.d_keys[i]);
	}
	uint64_t rv = kf_st.st_rv;
	pthread_mutex_unlock(&kf_st.st_mu);
	free(d.d_keys);
	kf_selector_free(ls);
	kf_selector_free(fs);
	const kf_resource *rs = &kf_resources[res];
	char               body[256];
	int                n = snprintf(body, sizeof(body),
	                   "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{"
	                                  "\"resourceVersion\":\"%llu\"},\"items\":[]}",
	                   rs->rs_kind, rs->rs_apiversion, (unsigned long long) rv);
	kf_resp_text(r, 200, body, (size_t) n);
}

void
kf__handle_get(
    kf_req *q, kf_resp *r, int res, const char *ns, const char *name)
{
	char key[512];
	kf_key(res, ns, name, key, sizeof(key));
	pthread_mutex_lock(&kf_st.st_mu);
	kf_obj *o = kf_obj_ref(kf_lookup(res, key));
	pthread_mutex_unlock(&kf_st.st_mu);
	if (o == NULL) {
		kf_status_notfound(r, kf_resources[res].rs_group,
		    kf_resources[res].rs_name, name);
		return;
	}
	if (kf_table_wanted(q->q_accept)) {
		char rv[32];
		snprintf(rv, sizeof(rv), "%llu", (unsigned long long) o->o_rv);
		kf_resp_json(r, 200, kf_table_new(res, &o, 1, rv, NULL, true));
	} else {
		kf_resp_text(r, 200, o->o_text, o->o_len);
	}
	kf_obj_unref(o);
}
