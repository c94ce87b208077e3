// sec_12_test.c (issue 17, finding 12): /metrics names every cluster, so
// by default it answers only callers with a valid token (--metrics
// token), or is served on a listener of its own (--metrics HOST:PORT);
// and the console, the gateway and /metrics answer only to Host names
// they know (IP literals, localhost, --allowed-hosts): a page whose DNS
// name was rebound to 127.0.0.1 reads nothing.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_util.h"
#include "sec_http.h"

static int
get(unsigned port, const char *path, const char *host, const char *token,
    char **ans)
{
	char req[1024];
	snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: %s\r\n%s%s%sConnection: close\r\n\r\n",
	    path, host, token ? "Authorization: Bearer " : "",
	    token ? token : "", token ? "\r\n" : "");
	return (sh_request(port, NULL, req, 15000, ans));
}

static void
test_metrics_need_a_token(void **state)
{
	ct_env   e;
	unsigned port;
	char    *ans = NULL;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "secret-cluster-name");
	port = sh_port(e.ce_srv.ts_http);
	assert_int_equal(get(port, "/metrics", "127.0.0.1", NULL, &ans), 401);
	assert_null(strstr(ans, "secret-cluster-name"));
	free(ans);
	assert_int_equal(
	    get(port, "/metrics", "127.0.0.1", "not-a-token", NULL), 401);
	assert_int_equal(
	    get(port, "/metrics", "127.0.0.1", e.ce_srv.ts_token, &ans), 200);
	assert_non_null(strstr(ans, "svcfleet_"));
	free(ans);
	ct_stop(&e);
}

static void
test_metrics_apart(void **state)
{
	ct_env      e;
	const char *extra[] = {"--metrics", "127.0.0.1:0", NULL};
	char       *log, *p, *ans = NULL;
	unsigned    port, mport = 0;
	(void) state;

	ct_start(&e, extra);
	port = sh_port(e.ce_srv.ts_http);
	// The metrics listener says where it serves in the log; svcfleetd is
	// ready (/readyz on --http) before that line need be written, so
	// wait for it (ASan on a loaded machine read the log too early).
	long long until = sh_now_ms() + 20000;
	for (;;) {
		log = th_read_file(e.ce_srv.ts_log, NULL);
		assert_non_null(log);
		p = strstr(log, "svcfleetd-metrics serving http://127.0.0.1:");
		if (p != NULL) {
			break;
		}
		free(log);
		if (sh_now_ms() > until) {
			fail_msg(
			    "no 'svcfleetd-metrics serving' line in 20 s");
		}
		usleep(20 * 1000); // polling the log, not waiting for an event
	}
	mport = (unsigned) strtoul(
	    p + strlen("svcfleetd-metrics serving http://127.0.0.1:"), NULL,
	    10);
	free(log);
	assert_int_equal(
	    get(port, "/metrics", "127.0.0.1", e.ce_srv.ts_token, NULL), 404);
	assert_int_equal(get(mport, "/metrics", "127.0.0.1", NULL, &ans), 200);
	assert_non_null(strstr(ans, "svcfleet_"));
	free(ans);
	// Only metrics and probes there: no gateway.
	assert_int_equal(get(mport, "/apis/svcfleet.io/v1/version",
	                     "127.0.0.1", NULL, NULL),
	    404);
	ct_stop(&e);
}

static void
test_host_checked(void **state)
{
	ct_env      e;
	const char *extra[]
	    = {"--allowed-hosts", "svcfleet.example.org", NULL};
	unsigned port;
	char     host[64];
	(void) state;

	ct_start(&e, extra);
	port = sh_port(e.ce_srv.ts_http);
	snprintf(host, sizeof(host), "127.0.0.1:%u", port);
	static const char *const paths[]
	    = {"/", "/ui/app.js", "/apis/svcfleet.io/v1/clusters", "/metrics"};
	for (size_t i = 0; i < 4; i++) {
		int code = get(port, paths[i], "rebound.attacker.example",
		    e.ce_srv.ts_token, NULL);
		if (code != 421) {
			fail_msg("%s with a foreign Host: %d", paths[i], code);
		}
		assert_int_equal(
		    get(port, paths[i], host, e.ce_srv.ts_token, NULL), 200);
		assert_int_equal(get(port, paths[i], "localhost:1",
		                     e.ce_srv.ts_token, NULL),
		    200);
		assert_int_equal(get(port, paths[i], "SVCFLEET.example.org",
		                     e.ce_srv.ts_token, NULL),
		    200);
	}
	// Probes answer whatever the Host (kubelet sends the pod's IP).
	assert_int_equal(
	    get(port, "/healthz", "rebound.attacker.example", NULL, NULL),
	    200);
	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_metrics_need_a_token, ct_cleanup),
	    cmocka_unit_test_teardown(test_metrics_apart, ct_cleanup),
	    cmocka_unit_test_teardown(test_host_checked, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
