// gw_status_test: the JSON gateway's HTTP status codes, with curl — each
// error a Kubernetes Status with the reason and code that match it (400,
// 401, 403, 404, 405, 409, 415, 422, 429, 503), and the headers that say
// what to do next.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_util.h"

#define SVC_DEV GW_API "/clusters/east/namespaces/dev/services"
#define SVC_BODY_F                                                           \
	"{\"metadata\":{\"name\":\"%s\"%s},\"spec\":{\"type\":\"NodePort\"," \
	"\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80}]}}"

static char body_buf[16][512];

// A Service body named name, with extra metadata (",...") or "" (each
// call has a buffer of its own, for a table of cases).
static const char *
svc(const char *name, const char *extra_md)
{
	static int next;
	char      *b = body_buf[next++ % 16];
	snprintf(b, sizeof(body_buf[0]), SVC_BODY_F, name, extra_md);
	return (b);
}

static ct_env env;
static char  *viewer;

static int
setup(void **state)
{
	static const char *const extra[]
	    = {"--max-message-size", "65536", NULL};
	gw_resp r;
	(void) state;
	ct_start(&env, extra);
	ct_add_cluster(&env, "east");
	viewer = gw_token(&env, "viewer", "ns-view", "east", "dev");
	gw_req(&r, &env, "POST", SVC_DEV, env.ce_srv.ts_token,
	    "application/json", svc("front", ""), NULL);
	if (r.gr_code != 201) {
		fail_msg("creating front: HTTP %d %s", r.gr_code, r.gr_body);
	}
	gw_resp_fini(&r);
	return (0);
}

static int
teardown(void **state)
{
	(void) state;
	free(viewer);
	ct_stop(&env);
	return (0);
}

// One request and the answer it must get. token: "admin", "viewer",
// NULL (none) or a literal.
typedef struct gw_case {
	const char *name;
	const char *method;
	const char *path;
	const char *token;
	const char *ctype;
	const char *body;
	int         code;
	const char *reason; // NULL for a success
	const char *in_body;
	const char *header; // "Name: value" the answer must carry
} gw_case;

static void
run_case(const gw_case *c)
{
	gw_resp     r;
	const char *tok = c->token == NULL    ? NULL
	    : strcmp(c->token, "admin") == 0  ? env.ce_srv.ts_token
	    : strcmp(c->token, "viewer") == 0 ? viewer
	                                      : c->token;
	gw_req(&r, &env, c->method, c->path, tok, c->ctype, c->body, NULL);
	if (c->reason != NULL) {
		gw_status_ok(&r, c->code, c->reason);
	} else if (r.gr_code != c->code) {
		fail_msg("%s: want %d, got %d: %s", c->name, c->code,
		    r.gr_code, r.gr_body);
	}
	if (c->in_body != NULL && strstr(r.gr_body, c->in_body) == NULL) {
		fail_msg(
		    "%s: want \"%s\" in %s", c->name, c->in_body, r.gr_body);
	}
	if (c->header != NULL) {
		char        name[64];
		const char *colon = strchr(c->header, ':');
		snprintf(name, sizeof(name), "%.*s", (int) (colon - c->header),
		    c->header);
		const char *v = gw_header(&r, name);
		if (v == NULL || strcmp(v, colon + 2) != 0) {
			fail_msg("%s: want header %s, got %s in\n%s", c->name,
			    c->header, v ? v : "(none)", r.gr_headers);
		}
	}
	// Every answer names its request, for the audit log and the logs.
	assert_non_null(gw_header(&r, "X-Request-Id"));
	print_message("ok   %d %s\n", c->code, c->name);
	gw_resp_fini(&r);
}

static void
test_codes(void **state)
{
	static char big[80000];
	(void) state;
	// An annotation larger than the server's message limit (64 KiB
	// here): RESOURCE_EXHAUSTED.
	int n = snprintf(big, sizeof(big),
	    "{\"metadata\":{\"name\":\"huge\",\"annotations\":{\"a\":\"");
	memset(big + n, 'x', 70000);
	n += 70000;
	snprintf(big + n, sizeof(big) - (size_t) n,
	    "\"}},\"spec\":{\"selector\":{\"app\":\"web\"},\"ports\":"
	    "[{\"port\":80}]}}");

	const gw_case cases[] = {
	    {"list", "GET", SVC_DEV, "admin", NULL, NULL, 200, NULL,
	        "\"kind\":\"ServiceList\"", NULL},
	    {"create", "POST", SVC_DEV, "admin", "application/json",
	        svc("front2", ""), 201, NULL, "\"name\":\"front2\"", NULL},
	    {"malformed JSON", "POST", SVC_DEV, "admin", "application/json",
	        "{\"metadata\":", 400, "BadRequest", "line 1", NULL},
	    {"unparsable label selector", "GET",
	        SVC_DEV "?labelSelector=a%20in%20(", "admin", NULL, NULL, 400,
	        "BadRequest", NULL, NULL},
	    {"body namespace differs from the URL's", "POST", SVC_DEV, "admin",
	        "application/json", svc("front3", ",\"namespace\":\"prod\""),
	        400, "BadRequest", "does not match the namespace", NULL},
	    {"malformed limit", "GET", SVC_DEV "?limit=many", "admin", NULL,
	        NULL, 400, "BadRequest", NULL, NULL},
	    {"no token", "GET", SVC_DEV, NULL, NULL, NULL, 401, "Unauthorized",
	        "Authorization: Bearer",
	        "WWW-Authenticate: Bearer realm=\"svcfleet\""},
	    {"unknown token", "GET", SVC_DEV, "not-a-token", NULL, NULL, 401,
	        "Unauthorized", NULL, NULL},
	    {"ns-view creates", "POST", SVC_DEV, "viewer", "application/json",
	        svc("front4", ""), 403, "Forbidden",
	        "cannot create services in namespace \\\"dev\\\"",
	        "X-Svcfleet-Status: PERMISSION_DENIED"},
	    {"ns-view reads another namespace", "GET",
	        GW_API "/clusters/east/namespaces/prod/services/front",
	        "viewer", NULL, NULL, 403, "Forbidden", NULL, NULL},
	    {"ns-view reads its namespace", "GET", SVC_DEV "/front", "viewer",
	        NULL, NULL, 200, NULL, "\"resourceVersion\"", NULL},
	    {"missing Service", "GET", SVC_DEV "/nope", "admin", NULL, NULL,
	        404, "NotFound", NULL, NULL},
	    {"unknown path", "GET", GW_API "/gadgets", "admin", NULL, NULL,
	        404, "NotFound", NULL, NULL},
	    {"unknown cluster", "GET", GW_API "/clusters/west", "admin", NULL,
	        NULL, 404, "NotFound", NULL, NULL},
	    {"method not allowed", "POST", SVC_DEV "/front", "admin",
	        "application/json", "{}", 405, "MethodNotAllowed", NULL,
	        "Allow: GET, PUT, PATCH, DELETE"},
	    {"name taken", "POST", SVC_DEV, "admin", "application/json",
	        svc("front", ""), 409, "AlreadyExists", NULL,
	        "X-Svcfleet-Status: ALREADY_EXISTS"},
	    {"stale resourceVersion", "PUT", SVC_DEV "/front", "admin",
	        "application/json", svc("front", ",\"resourceVersion\":\"1\""),
	        409, "Conflict", "the object has been modified",
	        "X-Svcfleet-Status: ABORTED"},
	    {"name on the URL differs", "PUT", SVC_DEV "/front", "admin",
	        "application/json", svc("other", ""), 400, "BadRequest",
	        "does not match the name on the URL", NULL},
	    {"form-encoded body", "POST", SVC_DEV, "admin",
	        "application/x-www-form-urlencoded", "a=b", 415,
	        "UnsupportedMediaType", NULL, NULL},
	    {"merge patch", "PATCH", SVC_DEV "/front", "admin",
	        "application/merge-patch+json", "{}", 415,
	        "UnsupportedMediaType", "apply-patch+yaml", NULL},
	    {"invalid Service", "POST", SVC_DEV, "admin", "application/json",
	        "{\"metadata\":{\"name\":\"Bad_Name\"},\"spec\":{\"selector\":"
	        "{\"app\":\"web\"},\"ports\":[{\"port\":0}]}}",
	        422, "Invalid", "\"field\":\"spec.ports[0].port\"",
	        "X-Svcfleet-Status: INVALID_ARGUMENT"},
	    {"node port on ClusterIP", "POST", SVC_DEV, "admin",
	        "application/json",
	        "{\"metadata\":{\"name\":\"front5\"},\"spec\":{\"selector\":"
	        "{\"app\":\"web\"},\"ports\":[{\"port\":80,\"nodePort\":"
	        "30080}]}}",
	        422, "Invalid", "\"field\":\"spec.ports[0].nodePort\"", NULL},
	    {"unknown field", "POST", SVC_DEV, "admin", "application/json",
	        "{\"metadata\":{\"name\":\"front6\"},\"spec\":{\"selector\":"
	        "{\"app\":\"web\"},\"ports\":[{\"port\":80}],\"colour\":1}}",
	        422, "Invalid", "\"field\":\"spec.colour\"", NULL},
	    {"larger than the message limit", "POST", SVC_DEV, "admin",
	        "application/json", big, 429, "TooManyRequests", NULL,
	        "Retry-After: 1"},
	    {"delete", "DELETE", SVC_DEV "/front2", "admin", NULL, NULL, 200,
	        NULL, "\"name\":\"front2\"", NULL},
	    {"delete again", "DELETE", SVC_DEV "/front2", "admin", NULL, NULL,
	        404, "NotFound", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_case(&cases[i]);
	}
	// The Status carries every violation, each with its field path.
	gw_resp r;
	gw_req(&r, &env, "POST", SVC_DEV, env.ce_srv.ts_token,
	    "application/json",
	    "{\"metadata\":{\"name\":\"Bad_Name\"},\"spec\":{\"ports\":"
	    "[{\"port\":0}]}}",
	    NULL);
	gw_status_ok(&r, 422, "Invalid");
	json_t *causes
	    = json_object_get(json_object_get(r.gr_json, "details"), "causes");
	const char *want[]
	    = {"metadata.name", "spec.ports[0].port", "spec.selector"};
	for (size_t w = 0; w < 3; w++) {
		bool    found = false;
		size_t  i;
		json_t *c;
		json_array_foreach(causes, i, c)
		{
			const char *f
			    = json_string_value(json_object_get(c, "field"));
			found |= f != NULL && strcmp(f, want[w]) == 0
			    && json_string_value(json_object_get(c, "reason"))
			        != NULL
			    && json_string_value(json_object_get(c, "message"))
			        != NULL;
		}
		if (!found) {
			fail_msg("no cause for %s in %s", want[w], r.gr_body);
		}
	}
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(r.gr_json, "details"), "kind")),
	    "Service");
	gw_resp_fini(&r);
}

// Two writes with one X-Request-Id at the same moment: the second arrives
// while the first is being committed and is told to retry (UNAVAILABLE
// from the server's dedupe: 503 with Retry-After). Which of the two is
// second is up to the scheduler, so this tries a few times.
static void
test_unavailable(void **state)
{
	(void) state;
	for (int attempt = 0; attempt < 40; attempt++) {
		char cmd[2048], *out = NULL;
		char body[512];
		snprintf(body, sizeof(body),
		    "{\"metadata\":{\"name\":\"web-r%d\"},\"spec\":{"
		    "\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80}]}"
		    "}",
		    attempt);
		const char *file = ct_file(&env, "race.json", body);
		snprintf(cmd, sizeof(cmd),
		    "for i in 1 2; do curl -s -o /dev/null -D - "
		    "-w 'status=%%{http_code}\\n' -X POST "
		    "-H 'Authorization: Bearer %s' "
		    "-H 'Content-Type: application/json' "
		    "-H 'X-Request-Id: race-%d' --data-binary @%s '%s%s' & "
		    "done; wait",
		    env.ce_srv.ts_token, attempt, file, env.ce_srv.ts_http,
		    SVC_DEV);
		th_run(cmd, NULL, &out, NULL);
		bool got503 = out != NULL && strstr(out, "status=503") != NULL;
		bool got201 = out != NULL && strstr(out, "status=201") != NULL;
		assert_true(got201);
		if (got503) {
			assert_non_null(strstr(out, "Retry-After: 1"));
			assert_non_null(
			    strstr(out, "X-Svcfleet-Status: UNAVAILABLE"));
			print_message("ok   503 on attempt %d\n", attempt + 1);
			free(out);
			return;
		}
		free(out);
	}
	fail_msg("never saw 503 from a write in flight with the same id");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_codes),
	    cmocka_unit_test(test_unavailable),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
