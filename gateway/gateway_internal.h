// gateway_internal.h: what the gateway's files share — one HTTP request in
// progress (sf__gw_ctx), the RPC call, replies and Kubernetes Status errors,
// query and body helpers, and the per-resource handlers. All of it is the
// gateway's own, named sf__gw_* (SF__GW_* for macros) so that it is told
// apart from the public sf_gateway_* of gateway.h.
#ifndef SF_GATEWAY_INTERNAL_H
#define SF_GATEWAY_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "gateway.h"
#include "model.h"
#include "svcfleet/svcfleet.h"

#define SF__GW_PREFIX    "/apis/svcfleet.io/v1"
#define SF__GW_API_GROUP SF_MODEL_API_GROUP
#define SF__GW_MAX_SEG   8

struct sf_gateway {
	// libsvcfleet's handle, dialled to the server's inproc listener;
	// every HTTP request calls through it with its own token and id.
	svcfleet_client *g_client;
	uint32_t         g_timeout_ms;
};

// One HTTP request in progress. Everything it allocates comes from
// x_arena (RPC replies included) and goes when the request ends.
typedef struct sf__gw_ctx {
	sf_gateway        *x_gw;
	const sf_http_req *x_req;
	sf_http_resp      *x_resp;
	sf_arena           x_arena;
	const char        *x_token; // bearer token, "" when none
	char               x_rid[64];
	bool               x_yaml; // the client asked for YAML
	// Path segments after SF__GW_PREFIX, and the values of the route's {}
	// segments in order (cluster, namespace, name, ...).
	char       *x_seg[SF__GW_MAX_SEG];
	size_t      x_nseg;
	const char *x_arg[4];
	// What every RPC of the request sends (its token and id, the
	// deadline) and where replies go (x_arena); and the status of the
	// last RPC that failed.
	svcfleet_call_opts x_call;
	svcfleet_status    x_st;
	// The request body as parsed (kept so a violation's field can be
	// mapped to the line of the YAML or JSON the client sent).
	sf_manifest_set x_body;
	bool            x_body_parsed;
} sf__gw_ctx;

// ------------------------------------------------------------------ RPC

// SF__GW_CALL makes one RPC through libsvcfleet's typed call for method (its
// snake_case name, as svcfleet.h has it: get_service), with the caller's
// token and request id and the gateway's deadline. On success it returns 0
// and sets *rep (from the request's arena). Otherwise it returns the code
// and leaves the server's message and violations in x->x_st for
// sf__gw_fail_rpc.
#define SF__GW_CALL(x, method, req, rep) \
	svcfleet_##method##_with(        \
	    (x)->x_gw->g_client, (req), (rep), &(x)->x_call, &(x)->x_st)

// -------------------------------------------------------------- replies

// sf__gw_reply sends obj (a new reference, consumed; NULL = out of memory) as
// JSON, or YAML when the client asked for it, with HTTP status code.
void sf__gw_reply(sf__gw_ctx *x, int code, json_t *obj);

// sf__gw_fail answers with a Kubernetes Status of the gateway's own: code,
// reason ("BadRequest", "NotFound", ...) and message.
void sf__gw_fail(sf__gw_ctx *x, int code, const char *reason, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

// sf__gw_fail_rpc answers with the Status of the last failed RPC: the HTTP
// code and reason its status code maps to, its message, and its
// violations as details.causes (each with the body line when known).
// kind names the object for details ("services", "clusters"), name its
// name ("" when none).
void sf__gw_fail_rpc(sf__gw_ctx *x, const char *kind, const char *name);

// sf__gw_fail_status answers from an sf_status of the gateway's own making
// (a body that does not convert: 422 with its violations).
void sf__gw_fail_status(
    sf__gw_ctx *x, const sf_status *st, const char *kind, const char *name);

// sf__gw_deleted answers a delete of the object the URL names (x_arg[0]) whose
// RPC returned rv: 200 with Kubernetes' Status Success naming it (kind:
// "clusters", ...), else as sf__gw_fail_rpc.
void sf__gw_deleted(sf__gw_ctx *x, int rv, const char *kind);

// sf__gw_header adds a response header (name and value must outlive the
// request: literals or arena strings).
void sf__gw_header(sf__gw_ctx *x, const char *name, const char *value);

// --------------------------------------------------------------- inputs

// sf__gw_query returns a query argument, or NULL.
const char *sf__gw_query(sf__gw_ctx *x, const char *name);
// sf__gw_query_u32 reads a non-negative integer argument (absent: *out keeps
// its value). Returns false after answering 400 when it is malformed.
bool sf__gw_query_u32(
    sf__gw_ctx *x, const char *name, uint32_t max, uint32_t *out);
// sf__gw_query_bool: "true", "1" or "" (bare) are true.
bool sf__gw_query_bool(sf__gw_ctx *x, const char *name);

// sf__gw_body parses the request body (JSON or YAML) as exactly one object.
// Returns it (borrowed, valid for the request), or NULL after answering
// 400 (empty, unparsable, several documents, not an object).
json_t *sf__gw_body(sf__gw_ctx *x);

// sf__gw_line_of returns the body line of a violation's field, 0 if unknown.
int sf__gw_line_of(sf__gw_ctx *x, const char *field);

// ------------------------------------------------------------ JSON bits

// Objects are encoded with model/'s sf_model_*_json and sf_model_json_*
// setters, as the CLI encodes them.
// sf__gw_str returns a string member or NULL; sf__gw_obj an object member or
// NULL.
const char *sf__gw_str(const json_t *obj, const char *key);
json_t     *sf__gw_obj(const json_t *obj, const char *key);

// ------------------------------------------------------------- handlers

// Each answers the request in x (the route table is in gateway.c).
void sf__gw_services_list(sf__gw_ctx *x);
void sf__gw_services_create(sf__gw_ctx *x);
void sf__gw_service_get(sf__gw_ctx *x);
void sf__gw_service_update(sf__gw_ctx *x);
void sf__gw_service_apply(sf__gw_ctx *x);
void sf__gw_service_delete(sf__gw_ctx *x);
// i19: GET .../services/NAME/history[?generation=G] and POST
// .../services/NAME/rollback {"toGeneration": G, "resourceVersion": "V"}.
void sf__gw_service_history(sf__gw_ctx *x);
void sf__gw_service_rollback(sf__gw_ctx *x);
// console: a Service's drift events, read-only (issue 19 item 5).
void sf__gw_service_drift(sf__gw_ctx *x);

void sf__gw_clusters_list(sf__gw_ctx *x);
void sf__gw_clusters_register(sf__gw_ctx *x);
void sf__gw_cluster_get(sf__gw_ctx *x);
void sf__gw_cluster_update(sf__gw_ctx *x);
void sf__gw_cluster_delete(sf__gw_ctx *x);
void sf__gw_namespaces_list(sf__gw_ctx *x);
void sf__gw_workloads_list(sf__gw_ctx *x);
void sf__gw_pools_list(sf__gw_ctx *x);

void sf__gw_audit_list(sf__gw_ctx *x);
void sf__gw_version(sf__gw_ctx *x);
void sf__gw_whoami(sf__gw_ctx *x);
void sf__gw_rules_review(sf__gw_ctx *x);
void sf__gw_bindings_list(sf__gw_ctx *x);
void sf__gw_bindings_create(sf__gw_ctx *x);
void sf__gw_binding_delete(sf__gw_ctx *x);
void sf__gw_tokens_list(sf__gw_ctx *x);
void sf__gw_tokens_create(sf__gw_ctx *x);
void sf__gw_token_revoke(sf__gw_ctx *x);

// FleetService (issue 18), gateway_fleet.c.
void sf__gw_fleet_list(sf__gw_ctx *x);
void sf__gw_fleet_get(sf__gw_ctx *x);
void sf__gw_fleet_apply(sf__gw_ctx *x);
void sf__gw_fleet_delete(sf__gw_ctx *x);
void sf__gw_fleet_convert(sf__gw_ctx *x); // i18-console

// i19-diff: the server-side preview (gateway_preview.c): POST
// .../services/{name}/preview and .../fleetservices/{name}/preview.
void sf__gw_service_preview(sf__gw_ctx *x);
void sf__gw_fleet_preview(sf__gw_ctx *x);
// sf__gw_preview_new starts a preview answer: {apiVersion, kind, metadata:
// {namespace, name}, action: what svcfleetd's apply would do (an
// ApplyAction: created, configured, unchanged)}. A new reference.
json_t *sf__gw_preview_new(
    const char *kind, const char *ns, const char *name, int action);
// sf__gw_dry_run_json: one cluster's answer to a server-side dry run as
// the preview shows it — cluster, namespace, name, result (Unchanged,
// Changed, Refused: the API server said no, Unanswered: no answer), code
// (its HTTP status), message, live, dryRun and changes ([{path, live,
// dryRun}]). A new reference.
json_t *sf__gw_dry_run_json(const Svcfleet__V1__ServerDryRun *d);
// i18-console: sf__gw_preview_owners says, on each entry of a preview's
// clusters[] whose cluster holds the object ("live"), whose it is:
// "liveOwner" is "svcfleet" (this installation manages it there), "other"
// (another svcfleet installation's) or "none" (nobody's svcfleet: an
// apply would not overwrite it unless adoption is asked for).
void sf__gw_preview_owners(sf__gw_ctx *x, json_t *clusters);

// ------------------------------------------------------------- console

typedef struct sf__gw_asset {
	const char          *a_path; // "/ui/app.js"
	const char          *a_type; // Content-Type
	const unsigned char *a_data;
	size_t               a_len;
} sf__gw_asset;

// Generated from gateway/web/ at build time (gateway_assets.c).
extern const sf__gw_asset sf__gw_assets[];
extern const size_t       sf__gw_nassets;

#endif // SF_GATEWAY_INTERNAL_H
