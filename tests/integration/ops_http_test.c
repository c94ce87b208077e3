// ops_http_test.c: svcfleetd's HTTP endpoint — /healthz, /readyz and
// /metrics over HTTP and HTTPS, metric names and labels after real RPCs
// (counts grow, histogram buckets add up), 404/405, and the endpoint's
// address checked at start-up.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "cli_util.h"
#include "ops_util.h"

#define CREATE_OK                                                             \
	"svcfleet_rpc_requests_total{service=\"svcfleet.v1.ServiceManager\"," \
	"method=\"CreateService\",code=\"OK\"}"
#define CREATE_BAD                                                            \
	"svcfleet_rpc_requests_total{service=\"svcfleet.v1.ServiceManager\"," \
	"method=\"CreateService\",code=\"INVALID_ARGUMENT\"}"
#define GET_NF                                                                \
	"svcfleet_rpc_requests_total{service=\"svcfleet.v1.ServiceManager\"," \
	"method=\"GetService\",code=\"NOT_FOUND\"}"
#define CREATE_HIST                                              \
	"svcfleet_rpc_duration_seconds%s{service=\"svcfleet.v1." \
	"ServiceManager\",method=\"CreateService\",code=\"OK\"%s}"

static char *
url(const ct_env *e, const char *path)
{
	static char buf[4][300];
	static int  slot;
	char       *p = buf[slot++ & 3];
	snprintf(p, 300, "%s%s", e->ce_srv.ts_http, path);
	return (p);
}

static double
hist(const char *text, const char *suffix, const char *le)
{
	char series[400], lab[64] = "";
	if (le != NULL) {
		snprintf(lab, sizeof(lab), ",le=\"%s\"", le);
	}
	snprintf(series, sizeof(series), CREATE_HIST, suffix, lab);
	return (ot_metric(text, series));
}

static void
test_probes_and_metrics(void **state)
{
	ct_env e;
	char  *body, *ctype, *out;
	(void) state;

	// /metrics for anyone (the default asks for a token: issue 17,
	// tests/security/sec_12_test.c).
	const char *pub[] = {"--metrics", "public", NULL};
	ct_start(&e, pub);
	assert_true(strncmp(e.ce_srv.ts_http, "http://127.0.0.1:", 17) == 0);

	body = ot_get(url(&e, "/healthz"));
	assert_string_equal(body, "ok\n");
	free(body);
	body = ot_get(url(&e, "/readyz"));
	assert_string_equal(body, "ok\n");
	free(body);
	body = ot_get(url(&e, "/readyz?verbose"));
	assert_non_null(strstr(body, "[+]store ok\n"));
	assert_non_null(strstr(body, "readyz check passed\n"));
	free(body);

	// Before: no CreateService at all.
	assert_int_equal(
	    ot_http("GET", url(&e, "/metrics"), NULL, &body, &ctype), 200);
	assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
	free(ctype);
	ot_check_exposition(body);
	assert_true(ot_metric(body, CREATE_OK) == -1);
	double rev0 = ot_metric(body, "svcfleet_store_revision");
	assert_true(rev0 >= 1);
	assert_true(ot_metric(body, "svcfleet_store_services") == 0);
	assert_true(
	    ot_metric(body, "svcfleet_build_info{version=\"" SF_VERSION "\"}")
	    == 1);
	free(body);

	// Some RPCs: a cluster, three Services, one invalid, one missing.
	ct_add_cluster(&e, "east");
	for (int i = 0; i < 3; i++) {
		out = ct_ok(&e,
		    "create service web-%d --cluster east -n shop "
		    "--selector app=web --port 80",
		    i);
		free(out);
	}
	free(ct_fails(&e, 1,
	    "create service x --cluster east -n shop --selector app=web "
	    "--port 80"));
	free(ct_fails(&e, 1, "get service ghost-svc --cluster east -n shop"));

	body = ot_get(url(&e, "/metrics"));
	ot_check_exposition(body);
	assert_true(ot_metric(body, CREATE_OK) == 3);
	assert_true(ot_metric(body, CREATE_BAD) == 1);
	assert_true(ot_metric(body, GET_NF) == 1);
	// The latency histogram: cumulative buckets, +Inf = count = 3.
	assert_true(hist(body, "_count", NULL) == 3);
	assert_true(hist(body, "_bucket", "+Inf") == 3);
	assert_true(
	    hist(body, "_bucket", "0.0005") <= hist(body, "_bucket", "0.1"));
	assert_true(hist(body, "_sum", NULL) > 0);
	// The store: four writes more (cluster + 3 Services).
	assert_true(ot_metric(body, "svcfleet_store_revision") >= rev0 + 4);
	assert_true(ot_metric(body, "svcfleet_store_services") == 3);
	assert_true(ot_metric(body, "svcfleet_store_commits_total") >= 4);
	double writes = ot_metric(body, "svcfleet_store_writes_total");
	double bsum   = ot_metric(body, "svcfleet_store_batch_writes_sum");
	double bcount = ot_metric(body, "svcfleet_store_batch_writes_count");
	assert_true(bcount >= 1 && bsum >= 4 && bsum <= writes);
	assert_true(ot_metric(body, "svcfleet_store_used_bytes") > 0);
	assert_true(ot_metric(body, "svcfleet_store_map_size_bytes")
	    >= ot_metric(body, "svcfleet_store_used_bytes"));
	// The cluster, health not yet reported.
	assert_true(ot_metric(body,
	                "svcfleet_cluster_health{cluster=\"east\",state="
	                "\"unknown\"}")
	    == 1);
	assert_true(ot_metric(body,
	                "svcfleet_cluster_health{cluster=\"east\",state="
	                "\"ready\"}")
	    == 0);
	free(body);

	// Counting goes on: one more create is one more.
	free(ct_ok(&e,
	    "create service web-9 --cluster east -n shop --selector app=web "
	    "--port 80"));
	body = ot_get(url(&e, "/metrics"));
	assert_true(ot_metric(body, CREATE_OK) == 4);
	assert_true(hist(body, "_count", NULL) == 4);
	free(body);

	// Unknown paths and methods.
	assert_int_equal(
	    ot_http("GET", url(&e, "/nope"), NULL, NULL, NULL), 404);
	assert_int_equal(
	    ot_http("POST", url(&e, "/metrics"), NULL, NULL, NULL), 405);
	ct_stop(&e);
}

static void
test_https(void **state)
{
	ct_env e;
	char   dir[300], cert[400], key[400], flags[2][440];
	(void) state;

	if (!ot_have("openssl")) {
		skip();
	}
	th_tmpdir(dir, sizeof(dir), "ops-tls");
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	assert_int_equal(th_runf(NULL, NULL,
	                     "openssl req -x509 -newkey ec -pkeyopt "
	                     "ec_paramgen_curve:P-256 -nodes -days 1 "
	                     "-subj /CN=127.0.0.1 -addext "
	                     "subjectAltName=IP:127.0.0.1 -keyout %s -out %s "
	                     ">/dev/null 2>&1",
	                     key, cert),
	    0);
	snprintf(flags[0], sizeof(flags[0]), "--tls-cert=%s", cert);
	snprintf(flags[1], sizeof(flags[1]), "--tls-key=%s", key);
	// A bare HOST:PORT serves HTTPS once a certificate is set.
	const char *extra[] = {flags[0], flags[1], NULL};
	ct_start(&e, extra);
	assert_true(strncmp(e.ce_srv.ts_http, "https://127.0.0.1:", 18) == 0);
	char *body = NULL;
	assert_int_equal(
	    ot_http("GET", url(&e, "/readyz"), cert, &body, NULL), 200);
	assert_string_equal(body, "ok\n");
	free(body);
	// Without trusting the certificate: refused.
	assert_int_equal(
	    ot_http("GET", url(&e, "/readyz"), NULL, NULL, NULL), 0);
	ct_stop(&e);
	th_runf(NULL, NULL, "rm -rf %s", dir);
}

static void
test_bad_address(void **state)
{
	char *err = NULL;
	(void) state;
	// Taken port: start-up fails and says which address.
	ct_env e;
	ct_start(&e, NULL);
	const char *taken = e.ce_srv.ts_http + strlen("http://");
	char        dir[300];
	th_tmpdir(dir, sizeof(dir), "ops-addr");
	int rc = th_runf(NULL, &err,
	    "%s --data-dir %s/d --listen ipc://%s/d/s.sock --http %s",
	    th_bin("cmd/svcfleetd/svcfleetd"), dir, dir, taken);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "cannot serve HTTP on"));
	assert_non_null(strstr(err, taken));
	// issue 20: the flag and the address with its port, not
	// libmicrohttpd's "Failed to bind to port 0"; and it fails before it
	// creates the data directory, the admin token or the secret key.
	char want[1200];
	snprintf(want, sizeof(want),
	    "svcfleetd: --http: INVALID_ARGUMENT: cannot serve HTTP on %s: "
	    "Address already in use (another process listens on that port)\n",
	    taken);
	assert_string_equal(err, want);
	char        path[400];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/d", dir);
	assert_int_not_equal(stat(path, &sb), 0);
	free(err);
	// The same for --metrics on an address of its own.
	rc = th_runf(NULL, &err,
	    "%s --data-dir %s/d --listen ipc://%s/d/s.sock --http 127.0.0.1:0 "
	    "--metrics %s",
	    th_bin("cmd/svcfleetd/svcfleetd"), dir, dir, taken);
	assert_int_equal(rc, 1);
	snprintf(want, sizeof(want),
	    "svcfleetd: --metrics: INVALID_ARGUMENT: cannot serve HTTP on %s: "
	    "Address already in use (another process listens on that port)\n",
	    taken);
	assert_string_equal(err, want);
	assert_int_not_equal(stat(path, &sb), 0);
	free(err);
	// And a taken RPC port (here the same one): nothing created either.
	rc = th_runf(NULL, &err,
	    "%s --data-dir %s/d --listen tcp://%s --http off",
	    th_bin("cmd/svcfleetd/svcfleetd"), dir, taken);
	assert_int_equal(rc, 1);
	snprintf(want, sizeof(want),
	    "svcfleetd: --listen: cannot listen on tcp://%s: Address already "
	    "in use (another process listens on that port)\n",
	    taken);
	assert_string_equal(err, want);
	assert_int_not_equal(stat(path, &sb), 0);
	free(err);
	// issue 20: the start-up log names the web console's URL, and the
	// token to sign in with.
	char console[1200];
	snprintf(console, sizeof(console), "web console %s/ (sign in with",
	    e.ce_srv.ts_http);
	// (Logged just after the server starts: poll with a deadline.)
	for (int i = 0; i < 500 && !th_server_log_contains(&e.ce_srv, console);
	     i++) {
		nanosleep(&(struct timespec) {0, 20 * 1000 * 1000}, NULL);
	}
	assert_true(th_server_log_contains(&e.ce_srv, console));
	ct_stop(&e);
	th_runf(NULL, NULL, "rm -rf %s", dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_probes_and_metrics, ct_cleanup),
	    cmocka_unit_test_teardown(test_https, ct_cleanup),
	    cmocka_unit_test_teardown(test_bad_address, ct_cleanup),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rv = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return (rv);
}
