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
bool    is_true(const char *v);
json_t *typed(json_t *o, const kf_resource *rs);
void    conflict(kf_resp *r, const kf_resource *rs, const char *name);
void    already_exists(kf_resp *r, const kf_resource *rs, const char *name);
void    options_invalid(kf_resp *r, const char *kind, kf_errs *e);

// ---- kf_list.c ----
void handle_list(kf_req *q, kf_resp *r, int res, const char *ns);
int  handle_watch(kf_req *q, kf_resp *r, int res, const char *ns);

// ---- kf_decode.c ----
json_t *decode_body(const kf_req *q, kf_resp *r, bool yaml_ok);
int     check_fields(const kf_req *q, kf_resp *r, const kf_resource *rs,
        json_t *obj, bool check_only);
int     check_typemeta(kf_resp *r, const kf_resource *rs, json_t *obj);
int     check_identity(kf_resp *r, const kf_resource *rs, json_t *obj,
        const char *ns, const char *name);
void    generate_name(json_t *obj);
void    stamp_generic(json_t *obj);
void    namespace_prepare(json_t *obj);
void    workload_prepare(json_t *obj, int res);
int     validate_generic(kf_resp *r, const kf_resource *rs, json_t *obj);

// ---- kf_write.c ----
void handle_create(kf_req *q, kf_resp *r, wctx *w);
void handle_update(kf_req *q, kf_resp *r, wctx *w);
void handle_patch(kf_req *q, kf_resp *r, wctx *w);
void handle_delete(kf_req *q, kf_resp *r, wctx *w);
void handle_deletecollection(kf_req *q, kf_resp *r, int res, const char *ns);
void handle_get(
    kf_req *q, kf_resp *r, int res, const char *ns, const char *name);

#endif // KF_REST_H
