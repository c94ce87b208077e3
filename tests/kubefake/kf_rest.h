// kf_rest.h: what the files of kubefake's generic REST layer share —
// routing (kf_api.c), list and watch (kf_list.c), body decoding
// (kf_decode.c) and the write path (kf_write.c). Not used elsewhere.
#ifndef KF_REST_H
#define KF_REST_H

#include "kf.h"

// The context of one write: request, resource, names, dry-run, manager.
typedef struct wctx {
	const kf_req      *w_q;
	int                w_res;
	const kf_resource *w_rs;
	const char        *w_ns;
	const char        *w_name;
	const char        *w_sub; // "status" or NULL
	bool               w_dry;
	char               w_manager[160];
	char               w_now[32];
} wctx;

// ---- kf_api.c ----
bool    kf__is_true(const char *v);
json_t *kf__typed(json_t *o, const kf_resource *rs);
void    kf__conflict(kf_resp *r, const kf_resource *rs, const char *name);
void kf__already_exists(kf_resp *r, const kf_resource *rs, const char *name);
void kf__options_invalid(kf_resp *r, const char *kind, kf_errs *e);

// ---- kf_list.c ----
void kf__handle_list(kf_req *q, kf_resp *r, int res, const char *ns);
int  kf__handle_watch(kf_req *q, kf_resp *r, int res, const char *ns);

// ---- kf_decode.c ----
json_t *kf__decode_body(const kf_req *q, kf_resp *r, bool yaml_ok);
int     kf__check_fields(const kf_req *q, kf_resp *r, const kf_resource *rs,
        json_t *obj, bool check_only);
int     kf__check_typemeta(kf_resp *r, const kf_resource *rs, json_t *obj);
int     kf__check_identity(kf_resp *r, const kf_resource *rs, json_t *obj,
        const char *ns, const char *name);
void    kf__generate_name(json_t *obj);
void    kf__stamp_generic(json_t *obj);
void    kf__namespace_prepare(json_t *obj);
void    kf__workload_prepare(json_t *obj, int res);
int     kf__validate_generic(kf_resp *r, const kf_resource *rs, json_t *obj);

// ---- kf_write.c ----
void kf__handle_create(kf_req *q, kf_resp *r, wctx *w);
void kf__handle_update(kf_req *q, kf_resp *r, wctx *w);
void kf__handle_patch(kf_req *q, kf_resp *r, wctx *w);
void kf__handle_delete(kf_req *q, kf_resp *r, wctx *w);
void kf__handle_deletecollection(
    kf_req *q, kf_resp *r, int res, const char *ns);
void kf__handle_get(
    kf_req *q, kf_resp *r, int res, const char *ns, const char *name);

// ---- kf_openapi.c ----
// kf_openapi_schemas: the schema definitions (a new object), with v2 or
// v3 references.
json_t *kf_openapi_schemas(bool v3);
// kf_openapi_v2 serves /openapi/v2 in the form q accepts.
void kf_openapi_v2(const kf_req *q, kf_resp *r);

#endif // KF_REST_H
