// gateway.c: the gateway's core (see gateway.h) — its libsvcfleet handle
// over inproc://, the route table, status codes to HTTP codes, Kubernetes
// Status bodies, query and body parsing, and the console's static files.
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "gateway_internal.h"
#include "log.h"
#include "status.h"
#include "str.h"

#define DEFAULT_TIMEOUT_MS 30000
// Extra time the transport waits beyond the deadline the server enforces,
// so a slow call ends with the server's DEADLINE_EXCEEDED, not ours.
#define TRANSPORT_SLACK_MS 2000
// What a request body may expand to (issue 17): its size, and the values
// its JSON or YAML can hold (an upper bound counted before parsing; each
// costs a few hundred bytes once parsed and converted). A Service
// manifest with Kubernetes' 256 KiB of annotations fits well within.
#define GW_MAX_BODY   (1u << 20)
#define GW_MAX_VALUES 65536
// Bodies parsed at once; more wait for a slot up to their deadline, so
// that many large bodies at once cannot add up.
#define GW_PARSE_SLOTS 4

// ------------------------------------------------------- status mapping

// Status codes to HTTP, with the Kubernetes Status reason. The rows for
// INVALID_ARGUMENT and FAILED_PRECONDITION are refined in http_of().
static const struct code_map {
	int         code;
	int         http;
	const char *reason;
} code_map[] = {
    {SF_OK, 200, ""},
    {SF_CANCELLED, 499, "Cancelled"},
    {SF_UNKNOWN, 500, "InternalError"},
    {SF_INVALID_ARGUMENT, 400, "BadRequest"},
    {SF_DEADLINE_EXCEEDED, 504, "Timeout"},
    {SF_NOT_FOUND, 404, "NotFound"},
    {SF_ALREADY_EXISTS, 409, "AlreadyExists"},
    {SF_PERMISSION_DENIED, 403, "Forbidden"},
    {SF_RESOURCE_EXHAUSTED, 429, "TooManyRequests"},
    {SF_FAILED_PRECONDITION, 409, "Conflict"},
    {SF_ABORTED, 409, "Conflict"},
    {SF_OUT_OF_RANGE, 410, "Expired"},
    {SF_UNIMPLEMENTED, 501, "NotImplemented"},
    {SF_INTERNAL, 500, "InternalError"},
    {SF_UNAVAILABLE, 503, "ServiceUnavailable"},
    {SF_DATA_LOSS, 500, "InternalError"},
    {SF_UNAUTHENTICATED, 401, "Unauthorized"},
};

// A request that names fields (violations), or any invalid write, is
// Kubernetes' 422 Invalid; an invalid read argument (a label selector, a
// page token) is 400 BadRequest, as kube-apiserver answers them.
static int
http_of(int code, size_t nviol, bool write, const char **reason)
{
	if ((code == SF_INVALID_ARGUMENT && (nviol > 0 || write))
	    || (code == SF_FAILED_PRECONDITION && nviol > 0)) {
		*reason = "Invalid";
		return (422);
	}
	for (size_t i = 0; i < sizeof(code_map) / sizeof(code_map[0]); i++) {
		if (code_map[i].code == code) {
			*reason = code_map[i].reason;
			return (code_map[i].http);
		}
	}
	*reason = "InternalError";
	return (500);
}

// -------------------------------------------------------------- replies

// Header values are copied when the response is sent, after the handler
// (and the request's arena) is gone, on the same thread: they live in
// per-thread slots until then.
static _Thread_local char hdr_values[4][256];

void
sf__gw_header(sf__gw_ctx *x, const char *name, const char *value)
{
	sf_http_resp *r = x->x_resp;
	if (r->hs_nhdr < 4) {
		snprintf(hdr_values[r->hs_nhdr], sizeof(hdr_values[0]), "%s",
		    value);
		r->hs_hdr[r->hs_nhdr][0] = name;
		r->hs_hdr[r->hs_nhdr][1] = hdr_values[r->hs_nhdr];
		r->hs_nhdr++;
	}
}

void
sf__gw_reply(sf__gw_ctx *x, int code, json_t *obj)
{
	sf_http_resp *r = x->x_resp;
	char         *text;

	sf_buf_reset(&r->hs_body);
	if (obj == NULL) {
		r->hs_status = 500;
		r->hs_type   = "application/json";
		sf_buf_puts(&r->hs_body,
		    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":"
		    "\"Failure\",\"message\":\"out of memory\",\"reason\":"
		    "\"InternalError\",\"code\":500}\n");
		return;
	}
	r->hs_status = code;
	if (x->x_yaml) {
		r->hs_type = "application/yaml";
		if (sf_model_json_to_yaml(obj, &r->hs_body) != 0) {
			json_decref(obj);
			sf__gw_reply(x, 500, NULL);
			return;
		}
		json_decref(obj);
		return;
	}
	r->hs_type = "application/json";
	text       = json_dumps(obj,
            sf__gw_query_bool(x, "pretty") ? JSON_INDENT(2) : JSON_COMPACT);
	json_decref(obj);
	if (text == NULL) {
		sf__gw_reply(x, 500, NULL);
		return;
	}
	sf_buf_puts(&r->hs_body, text);
	sf_buf_putc(&r->hs_body, '\n');
	free(text);
}

static json_t *
status_obj(int code, const char *reason, const char *msg)
{
	return (json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status",
	    "apiVersion", "v1", "metadata", "status", "Failure", "message",
	    sf_nz(msg), "reason", reason, "code", code));
}

// Headers that tell a client what to do next: how to authenticate, or
// when to try again.
static void
unauthorized_hint(sf__gw_ctx *x, int code)
{
	if (code == 401) {
		sf__gw_header(
		    x, "WWW-Authenticate", "Bearer realm=\"svcfleet\"");
	} else if (code == 429 || code == 503) {
		sf__gw_header(x, "Retry-After", "1");
	}
}

void
sf__gw_fail(sf__gw_ctx *x, int code, const char *reason, const char *fmt, ...)
{
	char    msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	unauthorized_hint(x, code);
	sf__gw_reply(x, code, status_obj(code, reason, msg));
}

static json_t *
cause(sf__gw_ctx *x, const char *type, const char *field, const char *reason)
{
	json_t *c = json_object();
	int     line
	    = field != NULL && field[0] != '\0' ? sf__gw_line_of(x, field) : 0;
	sf_model_json_set_str(c, "reason", type);
	sf_model_json_set_str(c, "message", reason);
	sf_model_json_set_str(c, "field", field);
	if (line > 0) {
		// Not in Kubernetes' Status: where in the body the field is,
		// for an editor to point at (the console's YAML view).
		sf_model_json_set(c, "line", json_integer(line));
	}
	return (c);
}

static void
fail_with(sf__gw_ctx *x, int code, const char *msg, json_t *causes,
    const char *kind, const char *name, bool write)
{
	const char *reason;
	int     http = http_of(code, json_array_size(causes), write, &reason);
	json_t *st   = status_obj(http, reason, msg);
	json_t *det  = json_object();

	sf_model_json_set_str(det, "name", name);
	sf_model_json_set_str(det, "kind", kind);
	if (json_array_size(causes) > 0) {
		sf_model_json_set(det, "causes", causes);
	} else {
		json_decref(causes);
	}
	sf_model_json_set(st, "details", det);
	// The RPC's status name, for programs that speak its codes.
	sf__gw_header(x, "X-Svcfleet-Status", sf_status_name(code));
	unauthorized_hint(x, http);
	sf__gw_reply(x, http, st);
}

static bool
method_writes(const sf__gw_ctx *x)
{
	return (strcmp(x->x_req->hr_method, "GET") != 0
	    && strcmp(x->x_req->hr_method, "HEAD") != 0);
}

void
sf__gw_fail_rpc(sf__gw_ctx *x, const char *kind, const char *name)
{
	json_t *causes = json_array();
	for (size_t i = 0; i < x->x_st.n_violations; i++) {
		const svcfleet_violation *v = &x->x_st.violations[i];
		json_array_append_new(
		    causes, cause(x, v->type, v->field, v->reason));
	}
	// The server words a missing token for its CLI; say it for HTTP.
	fail_with(x, x->x_st.code,
	    x->x_st.code == SF_UNAUTHENTICATED && x->x_token[0] == '\0'
	        ? "no token given: send \"Authorization: Bearer <token>\""
	        : x->x_st.message,
	    causes, kind, name, method_writes(x));
}

void
sf__gw_fail_status(
    sf__gw_ctx *x, const sf_status *st, const char *kind, const char *name)
{
	json_t *causes = json_array();
	for (size_t i = 0; i < st->st_nviol; i++) {
		const sf_violation *v = &st->st_viol[i];
		json_array_append_new(
		    causes, cause(x, v->v_type, v->v_field, v->v_reason));
	}
	fail_with(x, st->st_code, st->st_msg, causes, kind, name, true);
}

void
sf__gw_deleted(sf__gw_ctx *x, int rv, const char *kind)
{
	const char *name = x->x_arg[0];
	if (rv != 0) {
		sf__gw_fail_rpc(x, kind, name);
		return;
	}
	sf__gw_reply(x, 200,
	    json_pack("{s:s,s:s,s:{},s:s,s:{s:s,s:s}}", "kind", "Status",
	        "apiVersion", "v1", "metadata", "status", "Success", "details",
	        "name", name, "kind", kind));
}

// --------------------------------------------------------------- inputs

const char *
sf__gw_query(sf__gw_ctx *x, const char *name)
{
	return (sf_http_req_query(x->x_req, name));
}

bool
sf__gw_query_bool(sf__gw_ctx *x, const char *name)
{
	const char *v = sf__gw_query(x, name);
	return (v != NULL
	    && (v[0] == '\0' || strcmp(v, "true") == 0
	        || strcmp(v, "1") == 0));
}

bool
sf__gw_query_u32(sf__gw_ctx *x, const char *name, uint32_t max, uint32_t *out)
{
	const char        *v = sf__gw_query(x, name);
	char              *end;
	unsigned long long n;

	if (v == NULL || v[0] == '\0') {
		return (true);
	}
	n = strtoull(v, &end, 10);
	if (*end != '\0' || v[0] < '0' || v[0] > '9' || n > max) {
		sf__gw_fail(x, 400, "BadRequest",
		    "invalid value %.64s for %s: want an integer from 0 to %u",
		    v, name, max);
		return (false);
	}
	*out = (uint32_t) n;
	return (true);
}

static bool
body_type_ok(const char *ct)
{
	static const char *const ok[] = {"application/json",
	    "application/yaml", "application/x-yaml", "text/yaml",
	    "application/apply-patch+yaml", "text/plain", NULL};
	if (ct == NULL || ct[0] == '\0') {
		return (true);
	}
	for (size_t i = 0; ok[i] != NULL; i++) {
		size_t n = strlen(ok[i]);
		if (strncasecmp(ct, ok[i], n) == 0
		    && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ')) {
			return (true);
		}
	}
	return (false);
}

// An upper bound on the values (scalars, objects, arrays) of a JSON or
// YAML text: every value but the first follows one of , : [ { - or a line
// break outside a quoted string. (Aliases are bounded by the YAML loader.)
static size_t
values_bound(const char *t, size_t len)
{
	size_t n     = 1;
	char   quote = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = t[i];
		if (quote != 0) {
			if (ch == '\\' && quote == '"') {
				i++;
			} else if (ch == quote) {
				quote = 0;
			} else if (ch == '\n') {
				n++;
			}
			continue;
		}
		switch (ch) {
		case '"':
		case '\'':
			quote = ch;
			break;
		case ',':
		case ':':
		case '[':
		case '{':
		case '-':
		case '\n':
			n++;
			break;
		default:
			break;
		}
	}
	return (n);
}

static pthread_mutex_t parse_mtx   = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  parse_cv    = PTHREAD_COND_INITIALIZER;
static unsigned        parse_inuse = 0;

// Waits for a parse slot until the request's deadline; false when none
// came free.
static bool
parse_slot_take(sf__gw_ctx *x)
{
	struct timespec ts;
	bool            ok = true;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t) (x->x_gw->g_timeout_ms / 1000);
	pthread_mutex_lock(&parse_mtx);
	while (parse_inuse >= GW_PARSE_SLOTS && ok) {
		ok = pthread_cond_timedwait(&parse_cv, &parse_mtx, &ts) == 0
		    || parse_inuse < GW_PARSE_SLOTS;
	}
	if (ok) {
		parse_inuse++;
	}
	pthread_mutex_unlock(&parse_mtx);
	return (ok);
}

static void
parse_slot_give(void)
{
	pthread_mutex_lock(&parse_mtx);
	parse_inuse--;
	pthread_cond_signal(&parse_cv);
	pthread_mutex_unlock(&parse_mtx);
}

json_t *
sf__gw_body(sf__gw_ctx *x)
{
	const sf_http_req *r  = x->x_req;
	const char        *ct = sf_http_req_header(r, "Content-Type");
	sf_status          st;
	json_t            *obj;

	if (!body_type_ok(ct)) {
		sf__gw_fail(x, 415, "UnsupportedMediaType",
		    "the body's media type \"%.100s\" is not supported: send "
		    "application/json or application/yaml",
		    ct);
		return (NULL);
	}
	if (x->x_body_parsed) {
		sf_manifest_set_fini(&x->x_body);
		x->x_body_parsed = false;
	}
	if (r->hr_body_len > GW_MAX_BODY) {
		sf__gw_fail(x, 413, "RequestEntityTooLarge",
		    "the request body is %zu bytes: at most %u are accepted",
		    r->hr_body_len, GW_MAX_BODY);
		return (NULL);
	}
	if (values_bound(r->hr_body, r->hr_body_len) > GW_MAX_VALUES) {
		sf__gw_fail(x, 413, "RequestEntityTooLarge",
		    "the request body holds more than %u values",
		    GW_MAX_VALUES);
		return (NULL);
	}
	if (!parse_slot_take(x)) {
		sf__gw_header(x, "Retry-After", "1");
		sf__gw_fail(x, 429, "TooManyRequests",
		    "too many request bodies are being read: try again");
		return (NULL);
	}
	sf_status_init(&st);
	int prv = sf_manifest_parse(
	    r->hr_body, r->hr_body_len, "request body", &x->x_body, &st);
	parse_slot_give();
	if (prv != 0) {
		sf__gw_fail(x, 400, "BadRequest", "%s", st.st_msg);
		sf_status_fini(&st);
		return (NULL);
	}
	sf_status_fini(&st);
	x->x_body_parsed = true;
	if (x->x_body.ms_ndocs != 1) {
		sf__gw_fail(x, 400, "BadRequest",
		    x->x_body.ms_ndocs == 0
		        ? "the request body is empty: send one object"
		        : "the request body holds %zu objects: send one",
		    x->x_body.ms_ndocs);
		return (NULL);
	}
	obj = x->x_body.ms_docs[0].md_obj;
	if (!json_is_object(obj)) {
		sf__gw_fail(
		    x, 400, "BadRequest", "the request body is not an object");
		return (NULL);
	}
	return (obj);
}

int
sf__gw_line_of(sf__gw_ctx *x, const char *field)
{
	if (!x->x_body_parsed || x->x_body.ms_ndocs != 1) {
		return (0);
	}
	return (sf_manifest_line_of(&x->x_body.ms_docs[0], field));
}

// ------------------------------------------------------------ JSON bits

const char *
sf__gw_str(const json_t *obj, const char *key)
{
	return (json_string_value(json_object_get(obj, key)));
}

json_t *
sf__gw_obj(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return (json_is_object(v) ? v : NULL);
}

// ---------------------------------------------------------- route table

// Paths below SF__GW_PREFIX; "{}" is a value (cluster, namespace, name, id),
// handed to the handler in x_arg in order.
static const struct route {
	const char *method;
	const char *pattern;
	void (*fn)(sf__gw_ctx *);
} routes[] = {
    {"GET", "clusters", sf__gw_clusters_list},
    {"POST", "clusters", sf__gw_clusters_register},
    {"GET", "clusters/{}", sf__gw_cluster_get},
    {"PUT", "clusters/{}", sf__gw_cluster_update},
    {"DELETE", "clusters/{}", sf__gw_cluster_delete},
    {"GET", "clusters/{}/namespaces", sf__gw_namespaces_list},
    {"GET", "clusters/{}/metallb/pools", sf__gw_pools_list},
    {"GET", "clusters/{}/services", sf__gw_services_list},
    {"GET", "clusters/{}/namespaces/{}/services", sf__gw_services_list},
    {"POST", "clusters/{}/namespaces/{}/services", sf__gw_services_create},
    {"GET", "clusters/{}/namespaces/{}/services/{}", sf__gw_service_get},
    {"PUT", "clusters/{}/namespaces/{}/services/{}", sf__gw_service_update},
    {"PATCH", "clusters/{}/namespaces/{}/services/{}", sf__gw_service_apply},
    {"DELETE", "clusters/{}/namespaces/{}/services/{}", sf__gw_service_delete},
    {"GET", "clusters/{}/namespaces/{}/workloads", sf__gw_workloads_list},
    {"GET", "services", sf__gw_services_list},
    {"GET", "audit", sf__gw_audit_list},
    {"GET", "whoami", sf__gw_whoami},
    {"GET", "version", sf__gw_version},
    {"POST", "selfsubjectrulesreviews", sf__gw_rules_review},
    {"GET", "rolebindings", sf__gw_bindings_list},
    {"POST", "rolebindings", sf__gw_bindings_create},
    {"DELETE", "rolebindings/{}", sf__gw_binding_delete},
    {"GET", "tokens", sf__gw_tokens_list},
    {"POST", "tokens", sf__gw_tokens_create},
    {"DELETE", "tokens/{}", sf__gw_token_revoke},
    // i19: history and rollback.
    {"GET", "clusters/{}/namespaces/{}/services/{}/history",
        sf__gw_service_history},
    {"POST", "clusters/{}/namespaces/{}/services/{}/rollback",
        sf__gw_service_rollback},
    // FleetService (issue 18).
    {"GET", "fleetservices", sf__gw_fleet_list},
    {"GET", "namespaces/{}/fleetservices", sf__gw_fleet_list},
    {"POST", "namespaces/{}/fleetservices", sf__gw_fleet_apply},
    {"GET", "namespaces/{}/fleetservices/{}", sf__gw_fleet_get},
    {"PUT", "namespaces/{}/fleetservices/{}", sf__gw_fleet_apply},
    {"PATCH", "namespaces/{}/fleetservices/{}", sf__gw_fleet_apply},
    {"DELETE", "namespaces/{}/fleetservices/{}", sf__gw_fleet_delete},
    // console: a Service's drift events for its detail page.
    {"GET", "clusters/{}/namespaces/{}/services/{}/drift",
        sf__gw_service_drift},
    // i18-console: convert a Service into a FleetService.
    {"POST", "clusters/{}/namespaces/{}/services/{}/convert",
        sf__gw_fleet_convert},
    // i19-diff: the clusters' own dry runs of an apply, before it.
    {"POST", "clusters/{}/namespaces/{}/services/{}/preview",
        sf__gw_service_preview},
    {"POST", "namespaces/{}/fleetservices/{}/preview", sf__gw_fleet_preview},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

// Does the request's path match pattern? Fills x_arg when it does.
static bool
path_matches(sf__gw_ctx *x, const char *pattern)
{
	const char *p     = pattern;
	size_t      i     = 0;
	size_t      nargs = 0;

	while (*p != '\0') {
		const char *e = strchr(p, '/');
		size_t      n = e != NULL ? (size_t) (e - p) : strlen(p);
		if (i >= x->x_nseg) {
			return (false);
		}
		if (n == 2 && strncmp(p, "{}", 2) == 0) {
			if (x->x_seg[i][0] == '\0' || nargs >= 4) {
				return (false);
			}
			x->x_arg[nargs++] = x->x_seg[i];
		} else if (strlen(x->x_seg[i]) != n
		    || strncmp(p, x->x_seg[i], n) != 0) {
			return (false);
		}
		i++;
		p += n;
		if (*p == '/') {
			p++;
		}
	}
	return (i == x->x_nseg);
}

static void
dispatch(sf__gw_ctx *x)
{
	const char *method = x->x_req->hr_method;
	char       *allow  = NULL;

	if (strcmp(method, "HEAD") == 0) {
		method = "GET";
	}
	for (size_t i = 0; i < NROUTES; i++) {
		if (!path_matches(x, routes[i].pattern)) {
			continue;
		}
		if (strcmp(routes[i].method, method) == 0) {
			routes[i].fn(x);
			return;
		}
		allow = allow == NULL
		    ? sf_arena_strdup(&x->x_arena, routes[i].method)
		    : sf_arena_printf(
		        &x->x_arena, "%s, %s", allow, routes[i].method);
	}
	if (allow != NULL) {
		sf__gw_header(x, "Allow", allow);
		sf__gw_fail(x, 405, "MethodNotAllowed",
		    "the server does not allow method %s on %s (allowed: %s)",
		    method, x->x_req->hr_path, allow);
		return;
	}
	sf__gw_fail(x, 404, "NotFound",
	    "the server could not find the requested resource (%s)",
	    x->x_req->hr_path);
}

// The caller's token: "Authorization: Bearer T". Anything else is no
// token, which the server answers with UNAUTHENTICATED.
static const char *
bearer(const sf_http_req *r)
{
	const char *h = sf_http_req_header(r, "Authorization");
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
		return ("");
	}
	h += 7;
	while (*h == ' ') {
		h++;
	}
	return (h);
}

// The request id: the client's X-Request-Id when it is short and plain
// (a retried write with the same id gets the first answer: the server
// deduplicates by it), else a fresh random one.
static void
request_id(sf__gw_ctx *x)
{
	const char *id = sf_http_req_header(x->x_req, "X-Request-Id");
	size_t      n  = 0;

	for (; id != NULL && id[n] != '\0' && n + 1 < sizeof(x->x_rid); n++) {
		unsigned char ch = (unsigned char) id[n];
		if (ch <= 0x20 || ch >= 0x7f || ch == '"') {
			n = 0;
			break;
		}
		x->x_rid[n] = (char) ch;
	}
	if (id != NULL && id[n] != '\0') {
		n = 0; // too long: ignored
	}
	x->x_rid[n] = '\0';
	if (n == 0) {
		svcfleet_new_request_id(x->x_rid);
	}
}

static bool
wants_yaml(const sf_http_req *r)
{
	const char *a = sf_http_req_header(r, "Accept");
	return (a != NULL
	    && (strstr(a, "application/yaml") != NULL
	        || strstr(a, "application/x-yaml") != NULL
	        || strstr(a, "text/yaml") != NULL)
	    && strstr(a, "application/json") == NULL);
}

// Issue 17: a request with a body is let in only when its token is
// good, before the endpoint reads the body: no one without a token can
// make the daemon hold (and parse) megabytes. One WhoAmI per write.
bool
sf_gateway_token_gate(
    void *arg, const sf_http_req *req, bool has_body, sf_http_resp *resp)
{
	sf_gateway *g = arg;
	int         rv;

	(void) has_body;
	if ((rv = sf_gateway_authenticate(g, bearer(req))) == 0) {
		return (true);
	}
	int         http = rv == SF_UNAUTHENTICATED ? 401 : 503;
	const char *reason
	    = rv == SF_UNAUTHENTICATED ? "Unauthorized" : "ServiceUnavailable";
	json_t *st   = status_obj(http, reason,
            rv == SF_UNAUTHENTICATED
	          ? "this request needs a valid token: send "
	            "\"Authorization: Bearer <token>\""
	          : "cannot check the token now: try again");
	char   *text = st != NULL ? json_dumps(st, JSON_COMPACT) : NULL;
	json_decref(st);
	resp->hs_status = http;
	resp->hs_type   = "application/json";
	sf_buf_puts(&resp->hs_body, text != NULL ? text : "");
	sf_buf_putc(&resp->hs_body, '\n');
	free(text);
	if (rv == SF_UNAUTHENTICATED && resp->hs_nhdr < 3) {
		resp->hs_hdr[resp->hs_nhdr][0]   = "WWW-Authenticate";
		resp->hs_hdr[resp->hs_nhdr++][1] = "Bearer realm=\"svcfleet\"";
	}
	return (false);
}

static bool
gate_api(void *arg, const sf_http_req *req, bool has_body, sf_http_resp *resp)
{
	if (!has_body) {
		return (true); // the RPC authenticates it as any other
	}
	return (sf_gateway_token_gate(arg, req, has_body, resp));
}

int
sf_gateway_authenticate(sf_gateway *g, const char *token)
{
	Svcfleet__V1__WhoAmIRequest req = SVCFLEET__V1__WHO_AM_IREQUEST__INIT;
	Svcfleet__V1__WhoAmIReply  *rep = NULL;
	svcfleet_call_opts          co  = {0};
	svcfleet_status             st;
	int                         rv;

	if (token == NULL || token[0] == '\0') {
		return (SF_UNAUTHENTICATED);
	}
	co.token      = token;
	co.timeout_ms = 5000;
	svcfleet_status_init(&st);
	rv = svcfleet_who_am_i_with(g->g_client, &req, &rep, &co, &st);
	svcfleet_free(rep);
	svcfleet_status_fini(&st);
	return (rv == 0 ? 0
	        : rv == SF_UNAUTHENTICATED || rv == SF_PERMISSION_DENIED
	        ? SF_UNAUTHENTICATED
	        : rv);
}

static void
h_api(void *arg, const sf_http_req *req, sf_http_resp *resp)
{
	sf__gw_ctx x;
	char      *rest;

	memset(&x, 0, sizeof(x));
	x.x_gw   = arg;
	x.x_req  = req;
	x.x_resp = resp;
	sf_arena_init(&x.x_arena);
	x.x_token = bearer(req);
	x.x_yaml  = wants_yaml(req);
	request_id(&x);
	svcfleet_status_init(&x.x_st);
	x.x_call.token      = x.x_token;
	x.x_call.request_id = x.x_rid;
	x.x_call.timeout_ms = x.x_gw->g_timeout_ms;
	// The transport waits a little longer than the deadline the server
	// enforces, so a slow call ends with the server's DEADLINE_EXCEEDED.
	x.x_call.grace_ms  = TRANSPORT_SLACK_MS;
	x.x_call.allocator = sf_arena_pbc(&x.x_arena);
	sf__gw_header(&x, "X-Request-Id", x.x_rid);
	// A JSON answer is never to be read as anything else.
	sf__gw_header(&x, "X-Content-Type-Options", "nosniff");

	rest = sf_arena_strdup(
	    &x.x_arena, req->hr_path + strlen(SF__GW_PREFIX));
	if (rest == NULL) {
		sf__gw_reply(&x, 500, NULL);
		svcfleet_status_fini(&x.x_st);
		sf_arena_fini(&x.x_arena);
		return;
	}
	// "/a//b" keeps its empty segment (no route has one); one trailing
	// slash is forgiven.
	size_t len = strlen(rest);
	if (len > 1 && rest[len - 1] == '/') {
		rest[len - 1] = '\0';
	}
	for (char *p = rest[0] == '/' ? rest + 1 : rest; p != NULL;) {
		char *slash = strchr(p, '/');
		if (slash != NULL) {
			*slash = '\0';
		}
		if (x.x_nseg == SF__GW_MAX_SEG) {
			x.x_nseg = 0;
			break;
		}
		if (!(x.x_nseg == 0 && p[0] == '\0' && slash == NULL)) {
			x.x_seg[x.x_nseg++] = p;
		}
		p = slash != NULL ? slash + 1 : NULL;
	}
	SF_DEBUG(
	    "gateway", "%s %s req=%s", req->hr_method, req->hr_path, x.x_rid);
	dispatch(&x);
	if (x.x_body_parsed) {
		sf_manifest_set_fini(&x.x_body);
	}
	svcfleet_status_fini(&x.x_st);
	sf_arena_fini(&x.x_arena);
}

// ------------------------------------------------------------- console

// Static files are public (the console asks for a token itself). The
// policy keeps the page to its own origin: no inline script, no framing.
#define GW_CSP                                                          \
	"default-src 'self'; img-src 'self' data:; object-src 'none'; " \
	"base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

static void
serve_asset(sf_http_resp *resp, const sf__gw_asset *a)
{
	resp->hs_status = 200;
	resp->hs_type   = a->a_type;
	sf_buf_put(&resp->hs_body, a->a_data, a->a_len);
	resp->hs_hdr[resp->hs_nhdr][0]   = "Content-Security-Policy";
	resp->hs_hdr[resp->hs_nhdr++][1] = GW_CSP;
	resp->hs_hdr[resp->hs_nhdr][0]   = "X-Content-Type-Options";
	resp->hs_hdr[resp->hs_nhdr++][1] = "nosniff";
	resp->hs_hdr[resp->hs_nhdr][0]   = "Referrer-Policy";
	resp->hs_hdr[resp->hs_nhdr++][1] = "no-referrer";
}

static void
h_console(void *arg, const sf_http_req *req, sf_http_resp *resp)
{
	const char *path
	    = strcmp(req->hr_path, "/") == 0 ? "/ui/index.html" : req->hr_path;
	(void) arg;
	for (size_t i = 0; i < sf__gw_nassets; i++) {
		if (strcmp(sf__gw_assets[i].a_path, path) == 0) {
			serve_asset(resp, &sf__gw_assets[i]);
			return;
		}
	}
	resp->hs_status = 404;
	sf_buf_printf(&resp->hs_body, "no such file: %s\n", req->hr_path);
}

// --------------------------------------------------------------- object

int
sf_gateway_alloc(sf_gateway **out, const sf_gateway_opts *o, sf_status *st)
{
	svcfleet_options co = {0};
	svcfleet_status  cst;
	sf_gateway      *g;
	int              rv;

	*out = NULL;
	if (o == NULL || o->go_rpc_url == NULL) {
		return (sf_status_set(
		    st, SF_INVALID_ARGUMENT, "gateway: no RPC URL"));
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	g->g_timeout_ms
	    = o->go_timeout_ms ? o->go_timeout_ms : DEFAULT_TIMEOUT_MS;
	co.url         = o->go_rpc_url;
	co.timeout_ms  = g->g_timeout_ms;
	co.connect_now = !o->go_connect_later; // the listener is there
	// i15-perf: one handle serves every web user, who may also go
	// through another replica's gateway: its reads stay linearizable.
	co.linearizable_reads = true;
	svcfleet_status_init(&cst);
	if ((rv = svcfleet_open(&g->g_client, &co, &cst)) != 0) {
		sf_status_set(st, rv, "gateway: %s", cst.message);
		svcfleet_status_fini(&cst);
		free(g);
		return (rv);
	}
	svcfleet_status_fini(&cst);
	*out = g;
	return (0);
}

int
sf_gateway_add_routes(sf_gateway *g, sf_http *h)
{
	if (sf_http_route(h, "*", SF__GW_PREFIX, true, h_api, g) != 0
	    || sf_http_gate(h, SF__GW_PREFIX, gate_api, g) != 0
	    || sf_http_route(h, "GET", "/", false, h_console, g) != 0
	    || sf_http_route(h, "GET", "/ui/", true, h_console, g) != 0) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	return (0);
}

// Ends the calls in flight at once (a watch may wait for minutes) and
// makes later ones fail: both answer UNAVAILABLE (503).
void
sf_gateway_close(sf_gateway *g)
{
	if (g != NULL) {
		svcfleet_shutdown(g->g_client);
	}
}

void
sf_gateway_free(sf_gateway *g)
{
	if (g == NULL) {
		return;
	}
	svcfleet_close(g->g_client);
	free(g);
}
