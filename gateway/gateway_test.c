// gateway_test.c: the gateway's translation (gateway.h), with the server
// replaced by a scripted RPC peer on inproc:// that answers every call
// with the status the test chooses and records what the gateway sent.
// Over real HTTP (libcurl against the ops endpoint on a free port) it
// checks: URL → RPC method and request fields; the caller's bearer token
// and X-Request-Id reach the RPC; every status code → its HTTP code and
// Kubernetes Status reason (the table in gateway.c, the 422 rule for
// violations); violations → details.causes; a reply → Kubernetes JSON;
// a body is refused with 401 before it is read when its token is not
// accepted. The whole server behind it is tests/integration's gw_*_test.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>

#include "buf.h"
#include "gateway.h"
#include "ops.h"
#include "status.h"
#include "svcfleet/svcfleet.h"

// ------------------------------------------------------- the RPC peer

// What the peer answers (any method but WhoAmI, which answers OK for the
// token "good" only) and what it last received. Guarded by mu.
static struct peer {
	nng_socket  sock;
	nng_thread *thr;
	nng_mtx    *mu;
	int         code;       // reply code for the next calls
	const char *viol_field; // one violation when not NULL
	bool        list_one;   // ListServices: one Service "web"
	char        method[128];
	char        token[64];
	char        rid[64];
	char        key[192]; // GetService's cluster/namespace/name
	int         calls;
} peer;

static void
peer_answer(const Svcfleet__V1__RequestEnvelope *env, nng_msg **out)
{
	Svcfleet__V1__ReplyEnvelope   rep = SVCFLEET__V1__REPLY_ENVELOPE__INIT;
	Svcfleet__V1__FieldViolation  v  = SVCFLEET__V1__FIELD_VIOLATION__INIT;
	Svcfleet__V1__FieldViolation *vp = &v;
	Svcfleet__V1__WhoAmIReply     who = SVCFLEET__V1__WHO_AM_IREPLY__INIT;
	Svcfleet__V1__ListServicesReply ls
	    = SVCFLEET__V1__LIST_SERVICES_REPLY__INIT;
	Svcfleet__V1__Service     svc     = SVCFLEET__V1__SERVICE__INIT;
	Svcfleet__V1__Service    *svcp    = &svc;
	Svcfleet__V1__ObjectMeta  meta    = SVCFLEET__V1__OBJECT_META__INIT;
	Svcfleet__V1__ServiceSpec spec    = SVCFLEET__V1__SERVICE_SPEC__INIT;
	const ProtobufCMessage   *payload = NULL;

	nng_mtx_lock(peer.mu);
	snprintf(peer.method, sizeof(peer.method), "%s", env->method);
	snprintf(peer.token, sizeof(peer.token), "%s", env->token);
	snprintf(peer.rid, sizeof(peer.rid), "%s", env->request_id);
	peer.calls++;
	if (strstr(env->method, "/WhoAmI") != NULL) {
		rep.code = strcmp(env->token, "good") == 0
		    ? SF_OK
		    : SF_UNAUTHENTICATED;
		who.user = "alice";
		payload  = &who.base;
	} else {
		rep.code = peer.code;
	}
	if (strstr(env->method, "/GetService") != NULL) {
		Svcfleet__V1__GetServiceRequest *r
		    = svcfleet__v1__get_service_request__unpack(
		        NULL, env->payload.len, env->payload.data);
		if (r != NULL && r->key != NULL) {
			snprintf(peer.key, sizeof(peer.key), "%s/%s/%s",
			    r->key->cluster, r->key->namespace_, r->key->name);
		}
		svcfleet__v1__get_service_request__free_unpacked(r, NULL);
	}
	if (rep.code == SF_OK && strstr(env->method, "/ListServices") != NULL
	    && peer.list_one) {
		meta.cluster    = "east";
		meta.namespace_ = "dev";
		meta.name       = "web";
		svc.metadata    = &meta;
		svc.spec        = &spec;
		ls.n_services   = 1;
		ls.services     = &svcp;
		payload         = &ls.base;
	}
	if (rep.code != SF_OK) {
		rep.message = "scripted failure";
		if (peer.viol_field != NULL) {
			v.field          = (char *) peer.viol_field;
			v.reason         = "Invalid value: 0";
			v.type           = "FieldValueInvalid";
			rep.n_violations = 1;
			rep.violations   = &vp;
		}
	} else if (payload != NULL) {
		rep.payload.len  = protobuf_c_message_get_packed_size(payload);
		rep.payload.data = malloc(rep.payload.len + 1);
		protobuf_c_message_pack(payload, rep.payload.data);
	}
	nng_mtx_unlock(peer.mu);
	rep.request_id = env->request_id;

	size_t n = svcfleet__v1__reply_envelope__get_packed_size(&rep);
	assert_int_equal(nng_msg_alloc(out, n), 0);
	svcfleet__v1__reply_envelope__pack(&rep, nng_msg_body(*out));
	free(rep.payload.data);
}

static void
peer_loop(void *arg)
{
	(void) arg;
	for (;;) {
		nng_msg *m;
		if (nng_recvmsg(peer.sock, &m, 0) != 0) {
			return; // closed: the test is over
		}
		Svcfleet__V1__RequestEnvelope *env
		    = svcfleet__v1__request_envelope__unpack(
		        NULL, nng_msg_len(m), nng_msg_body(m));
		nng_msg_free(m);
		if (env == NULL) {
			continue;
		}
		nng_msg *out = NULL;
		peer_answer(env, &out);
		svcfleet__v1__request_envelope__free_unpacked(env, NULL);
		if (nng_sendmsg(peer.sock, out, 0) != 0) {
			nng_msg_free(out);
		}
	}
}

// ------------------------------------------------------- the fixture

static sf_gateway *gw;
static sf_http    *endpoint;
static char        base[128];

static int
setup(void **state)
{
	(void) state;
	char            url[64];
	sf_status       st;
	sf_http_opts    ho = {0};
	sf_gateway_opts go = {0};

	snprintf(
	    url, sizeof(url), "inproc://sf-gateway-test-%d", (int) getpid());
	assert_int_equal(nng_mtx_alloc(&peer.mu), 0);
	assert_int_equal(nng_rep0_open(&peer.sock), 0);
	assert_int_equal(nng_listen(peer.sock, url, NULL, 0), 0);
	assert_int_equal(nng_thread_create(&peer.thr, peer_loop, NULL), 0);

	sf_status_init(&st);
	go.go_rpc_url    = url;
	go.go_timeout_ms = 5000;
	assert_int_equal(sf_gateway_alloc(&gw, &go, &st), 0);
	ho.ho_addr = "127.0.0.1:0";
	ho.ho_name = "gateway_test";
	assert_int_equal(sf_http_alloc(&endpoint, &ho, &st), 0);
	assert_int_equal(sf_gateway_add_routes(gw, endpoint), 0);
	if (sf_http_start(endpoint, &st) != 0) {
		fail_msg("sf_http_start: %s", st.st_msg);
	}
	snprintf(base, sizeof(base), "%s/apis/svcfleet.io/v1",
	    sf_http_url(endpoint));
	sf_status_fini(&st);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int
teardown(void **state)
{
	(void) state;
	sf_gateway_close(gw);
	sf_http_free(endpoint);
	sf_gateway_free(gw);
	nng_close(peer.sock);
	nng_thread_destroy(peer.thr);
	nng_mtx_free(peer.mu);
	curl_global_cleanup();
	return 0;
}

static void
script(int code, const char *viol_field)
{
	nng_mtx_lock(peer.mu);
	peer.code       = code;
	peer.viol_field = viol_field;
	peer.list_one   = false;
	peer.method[0]  = '\0';
	peer.calls      = 0;
	nng_mtx_unlock(peer.mu);
}

// ------------------------------------------------------- HTTP requests

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	sf_buf_put(arg, p, size * n);
	return (size * n);
}

// request sends method path (under the API prefix) with token (NULL:
// none) and body (NULL: none); returns the HTTP code and the body parsed
// as JSON in *out (NULL when it is not JSON).
static long
request(const char *method, const char *path, const char *token,
    const char *body, json_t **out)
{
	CURL              *h   = curl_easy_init();
	struct curl_slist *hdr = NULL;
	char               url[256], auth[128];
	sf_buf             b;
	long               code = 0;

	sf_buf_init(&b);
	snprintf(url, sizeof(url), "%s%s", base, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	if (token != NULL) {
		snprintf(
		    auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdr = curl_slist_append(hdr, auth);
	}
	hdr = curl_slist_append(hdr, "X-Request-Id: req-0042");
	if (body != NULL) {
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	CURLcode cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		fail_msg("%s %s: %s", method, url, curl_easy_strerror(cc));
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	*out = json_loadb(b.b_data, b.b_len, 0, NULL);
	sf_buf_fini(&b);
	return (code);
}

static const char *
jstr(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);
	if (b != NULL) {
		v = json_object_get(v, b);
	}
	return (json_is_string(v) ? json_string_value(v) : "");
}

// ------------------------------------------------------- tests

// Every status code of a read answers as gateway.c's table says.
static void
test_status_to_http(void **state)
{
	(void) state;
	static const struct {
		int         code;
		long        http;
		const char *reason;
	} rows[] = {
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
	    {SF_UNAUTHENTICATED, 401, "Unauthorized"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *j;
		script(rows[i].code, NULL);
		long http = request("GET",
		    "/clusters/east/namespaces/dev/services/web", "tok-1",
		    NULL, &j);
		if (http != rows[i].http
		    || strcmp(jstr(j, "reason", NULL), rows[i].reason) != 0) {
			fail_msg("%s: HTTP %ld %s, want %ld %s",
			    sf_status_name(rows[i].code), http,
			    jstr(j, "reason", NULL), rows[i].http,
			    rows[i].reason);
		}
		assert_string_equal(jstr(j, "kind", NULL), "Status");
		assert_string_equal(
		    jstr(j, "message", NULL), "scripted failure");
		assert_int_equal(
		    json_integer_value(json_object_get(j, "code")), http);
		json_decref(j);
	}
	// The route's fields, the caller's token and request id reached the
	// RPC.
	nng_mtx_lock(peer.mu);
	assert_string_equal(
	    peer.method, "/svcfleet.v1.ServiceManager/GetService");
	assert_string_equal(peer.key, "east/dev/web");
	assert_string_equal(peer.token, "tok-1");
	assert_string_equal(peer.rid, "req-0042");
	nng_mtx_unlock(peer.mu);
}

// A violation makes a 422 Invalid with the field in details.causes.
static void
test_violations(void **state)
{
	(void) state;
	json_t *j;

	script(SF_INVALID_ARGUMENT, "spec.ports[0].port");
	long http
	    = request("POST", "/clusters/east/namespaces/dev/services", "good",
	        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	        "\"name\":\"web\"},\"spec\":{\"selector\":{\"app\":\"web\"},"
	        "\"ports\":[{\"port\":0}]}}",
	        &j);
	assert_int_equal(http, 422);
	assert_string_equal(jstr(j, "reason", NULL), "Invalid");
	json_t *c0 = json_array_get(
	    json_object_get(json_object_get(j, "details"), "causes"), 0);
	assert_string_equal(jstr(c0, "field", NULL), "spec.ports[0].port");
	assert_string_equal(jstr(c0, "reason", NULL), "FieldValueInvalid");
	json_decref(j);
	nng_mtx_lock(peer.mu);
	assert_string_equal(
	    peer.method, "/svcfleet.v1.ServiceManager/CreateService");
	nng_mtx_unlock(peer.mu);
}

// A reply becomes Kubernetes JSON: a List of v1 Services.
static void
test_list_reply(void **state)
{
	(void) state;
	json_t *j;

	script(SF_OK, NULL);
	nng_mtx_lock(peer.mu);
	peer.list_one = true;
	nng_mtx_unlock(peer.mu);
	long http = request("GET", "/clusters/east/namespaces/dev/services",
	    "tok-1", NULL, &j);
	assert_int_equal(http, 200);
	json_t *items = json_object_get(j, "items");
	assert_int_equal(json_array_size(items), 1);
	json_t *it = json_array_get(items, 0);
	assert_string_equal(jstr(it, "kind", NULL), "Service");
	assert_string_equal(jstr(it, "metadata", "name"), "web");
	assert_string_equal(jstr(it, "metadata", "namespace"), "dev");
	json_decref(j);
}

// A body with a token the server does not accept is refused (401) after
// one WhoAmI, and the write itself is never called.
static void
test_body_gate(void **state)
{
	(void) state;
	json_t *j;

	script(SF_OK, NULL);
	long http = request("POST", "/clusters/east/namespaces/dev/services",
	    "bad", "{\"kind\":\"Service\"}", &j);
	assert_int_equal(http, 401);
	json_decref(j);
	nng_mtx_lock(peer.mu);
	assert_int_equal(peer.calls, 1);
	assert_string_equal(peer.method, "/svcfleet.v1.AccessControl/WhoAmI");
	nng_mtx_unlock(peer.mu);

	// No route: 404 from the gateway itself, no RPC.
	script(SF_OK, NULL);
	http = request("GET", "/no-such-resource", "tok-1", NULL, &j);
	assert_int_equal(http, 404);
	assert_string_equal(jstr(j, "reason", NULL), "NotFound");
	json_decref(j);
	nng_mtx_lock(peer.mu);
	assert_int_equal(peer.calls, 0);
	nng_mtx_unlock(peer.mu);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_to_http),
	    cmocka_unit_test(test_violations),
	    cmocka_unit_test(test_list_reply),
	    cmocka_unit_test(test_body_gate),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
