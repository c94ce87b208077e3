// ops_log_test.c: svcfleetd's log — one logfmt line per event with time,
// level and module; every line written while a request is served carries
// its request id (on whichever thread writes it), and no token ever
// appears, whether the caller's, the admin's or a cluster's.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_util.h"
#include "ops_util.h"
#include "svcfleet/svcfleet.h"

#define BAD_TOKEN "not-a-real-token-0123456789abcdefXYZ"

static size_t
log_size(const ct_env *e)
{
	size_t n   = 0;
	char  *log = th_read_file(e->ce_srv.ts_log, &n);
	free(log);
	return (log != NULL ? n : 0);
}

// The log written since offset from (malloc'd).
static char *
log_since(const ct_env *e, size_t from)
{
	size_t n   = 0;
	char  *log = th_read_file(e->ce_srv.ts_log, &n);
	assert_non_null(log);
	assert_true(n >= from);
	char *tail = strdup(log + from);
	free(log);
	return (tail);
}

// The lines of the ipc listener guard's probes (server/ipcguard.c calls
// Health every second): another request, which may land between a test's
// call and its reading of the log.
#define PROBE_LINE "/svcfleet.v1.System/Health"

// Every line of text (the guard's aside) is logfmt with time, level, mod
// and req=id.
static size_t
assert_lines_tagged(const char *text, const char *id)
{
	char   want[96];
	size_t lines = 0;
	char  *copy = strdup(text), *line, *rest = copy;
	snprintf(want, sizeof(want), " req=%s ", id);
	while ((line = strsep(&rest, "\n")) != NULL) {
		if (*line == '\0' || strstr(line, PROBE_LINE) != NULL) {
			continue;
		}
		lines++;
		if (strncmp(line, "time=", 5) != 0
		    || strstr(line, " level=") == NULL
		    || strstr(line, " mod=") == NULL
		    || strstr(line, want) == NULL) {
			fail_msg("line without req=%s: %s", id, line);
		}
	}
	free(copy);
	return (lines);
}

// Runs one failing call with token and returns its request id.
static void
failing_call(ct_env *e, const char *token, int want, char *id, size_t cap)
{
	svcfleet_client                   *c  = NULL;
	svcfleet_status                    st = {0};
	svcfleet_options                   o  = {.url = e->ce_srv.ts_url,
	                       .token                 = token,
	                       .timeout_ms            = 10000,
	                       .connect_now           = true};
	Svcfleet__V1__CreateServiceRequest req
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service     svc  = SVCFLEET__V1__SERVICE__INIT;
	Svcfleet__V1__ObjectMeta  meta = SVCFLEET__V1__OBJECT_META__INIT;
	Svcfleet__V1__ServiceSpec spec = SVCFLEET__V1__SERVICE_SPEC__INIT;
	Svcfleet__V1__Service    *out  = NULL;

	assert_int_equal(svcfleet_open(&c, &o, &st), 0);
	meta.name       = "x"; // too short: INVALID_ARGUMENT
	meta.namespace_ = "shop";
	meta.cluster    = "east";
	svc.metadata    = &meta;
	svc.spec        = &spec;
	req.service     = &svc;
	assert_int_equal(svcfleet_create_service(c, &req, &out, &st), want);
	assert_true(st.request_id[0] != '\0');
	snprintf(id, cap, "%s", st.request_id);
	svcfleet_free(out);
	svcfleet_status_fini(&st);
	svcfleet_close(c);
}

static void
test_request_lines(void **state)
{
	ct_env e;
	char   id[64];
	(void) state;

	ct_start(&e, NULL); // the harness runs it at --log-level debug
	ct_add_cluster(&e, "east");
	usleep(100000);

	// An unknown token: UNAUTHENTICATED, recorded in the audit log.
	size_t from = log_size(&e);
	failing_call(&e, BAD_TOKEN, SVCFLEET_UNAUTHENTICATED, id, sizeof(id));
	usleep(100000);
	char *tail = log_since(&e, from);
	assert_true(assert_lines_tagged(tail, id) >= 2);
	assert_null(strstr(tail, BAD_TOKEN));
	assert_null(strstr(tail, "not-a-real-token"));
	free(tail);

	// A valid token, an invalid Service: INVALID_ARGUMENT.
	from = log_size(&e);
	failing_call(
	    &e, e.ce_srv.ts_token, SVCFLEET_INVALID_ARGUMENT, id, sizeof(id));
	usleep(100000);
	tail = log_since(&e, from);
	assert_true(assert_lines_tagged(tail, id) >= 2);
	assert_non_null(strstr(tail, "INVALID_ARGUMENT"));
	free(tail);

	// A write that fails in the store's writer (the Service exists):
	// the reply's line is written on the writer thread.
	free(ct_ok(&e,
	    "create service web-1 --cluster east -n shop --selector app=w "
	    "--port 80"));
	from       = log_size(&e);
	char *err  = NULL;
	int   code = ct_cli(&e, NULL, NULL, &err,
	      "create service web-1 --cluster east -n shop --selector app=w "
	        "--port 80");
	assert_int_equal(code, 1);
	assert_non_null(strstr(err, "ALREADY_EXISTS"));
	free(err);
	usleep(100000);
	tail = log_since(&e, from);
	// The CLI does not print its request id; take it from the line
	// of its request and check every other line has the same.
	const char *r = strstr(tail, "CreateService");
	assert_non_null(r);
	while (r > tail && r[-1] != '\n') {
		r--;
	}
	r = strstr(r, " req=");
	assert_non_null(r);
	snprintf(id, sizeof(id), "%.*s", (int) strcspn(r + 5, " "), r + 5);
	assert_true(assert_lines_tagged(tail, id) >= 2);
	assert_non_null(strstr(tail, "ALREADY_EXISTS"));
	free(tail);

	// No secret anywhere in the whole log: the admin token, the
	// cluster's bearer token.
	char *log = th_read_file(e.ce_srv.ts_log, NULL);
	assert_non_null(log);
	assert_true(strlen(e.ce_srv.ts_token) > 20);
	assert_null(strstr(log, e.ce_srv.ts_token));
	assert_null(strstr(log, CT_CLUSTER_TOKEN));
	assert_null(strstr(log, BAD_TOKEN));
	free(log);
	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_request_lines, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
