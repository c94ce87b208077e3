// recon_h2_test.c: the reconciler on the path production takes (issue 21)
// — HTTP/2 to the API server, negotiated by ALPN. Many applies share few
// connections (kubefake counts connections per protocol and h2 streams);
// stream resets before and after a request is served and GOAWAYs while
// requests are in flight are retried without losing a change or applying
// one twice; a cluster whose API server offers only HTTP/1.1 converges
// over HTTP/1.1.
//
// kft's own requests (stats, listings) use HTTP/1.1 here (KFT_HTTP), so
// every h2 connection kubefake counts is the reconciler's.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "recon_util.h"

#define SYNCED SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
#define NSVC   60

// apply_many applies Services name-0..name-(n-1) to cluster with
// targetPort port, in one multi-document apply.
static void
apply_many(rt_env *e, const char *cluster, const char *name, int n, int port)
{
	size_t cap = (size_t) n * 256 + 1, len = 0;
	char  *doc = malloc(cap);
	assert_non_null(doc);
	doc[0] = '\0';
	for (int i = 0; i < n; i++) {
		len += (size_t) snprintf(doc + len, cap - len,
		    "---\napiVersion: v1\nkind: Service\nmetadata:\n"
		    "  name: %s-%d\n  namespace: default\nspec:\n"
		    "  selector: {app: %s}\n"
		    "  ports: [{port: 80, targetPort: %d}]\n",
		    name, i, name, port);
		assert_true(len < cap);
	}
	free(rt_cli(e, doc, "apply --cluster %s -f -", cluster));
	free(doc);
}

// wait_all waits until every Service name-i of cluster is SYNCED.
static void
wait_all(rt_env *e, const char *cluster, const char *name, int n)
{
	for (int i = 0; i < n; i++) {
		char svc[64];
		snprintf(svc, sizeof(svc), "%s-%d", name, i);
		svcfleet_free(
		    rt_wait(e, cluster, "default", svc, SYNCED, 60000));
	}
}

// check_cluster: every Service name-i in kubefake i has targetPort port and
// generation gen (a lost change leaves an older generation; a change
// applied twice is a write that changes nothing, which kubefake does not
// store, as kube-apiserver does not).
static void
check_cluster(rt_env *e, int k, const char *name, int n, int port, int gen)
{
	for (int i = 0; i < n; i++) {
		char     path[200];
		kft_resp r;
		snprintf(path, sizeof(path),
		    "/api/v1/namespaces/default/services/%s-%d", name, i);
		kft_do(&e->re_kf[k], "GET", path, NULL, NULL, &r);
		assert_int_equal(r.r_code, 200);
		json_t *tp = kft_jget(r.r_json, "spec.ports");
		assert_int_equal(json_integer_value(json_object_get(
		                     json_array_get(tp, 0), "targetPort")),
		    port);
		assert_int_equal(json_integer_value(kft_jget(
		                     r.r_json, "metadata.generation")),
		    gen);
		kft_resp_fini(&r);
	}
}

static void
test_h2_multiplexed_and_faults(void **state)
{
	rt_env e;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	apply_many(&e, "alpha", "mux", NSVC, 8080);
	wait_all(&e, "alpha", "mux", NSVC);
	check_cluster(&e, 0, "mux", NSVC, 8080, 1);
	// Multiplexed: the version probe, list, watch and 60 applies went
	// over h2 on a couple of connections.
	long long conns   = kft_stat(&e.re_kf[0], "connections.h2");
	long long streams = kft_stat(&e.re_kf[0], "h2_streams");
	assert_true(conns >= 1);
	assert_true(conns <= 3);
	assert_true(streams >= NSVC);

	// Now every request may be reset before or after it is served, and
	// every connection says GOAWAY at its 5th stream, with requests in
	// flight behind it.
	assert_int_equal(kft_faults(&e.re_kf[0],
	                     "{\"h2_rst_rate\":0.2,\"h2_rst_after_rate\":0.2,"
	                     "\"h2_goaway_after\":5}"),
	    0);
	apply_many(&e, "alpha", "mux", NSVC, 9090);
	apply_many(&e, "alpha", "late", 20, 7070);
	wait_all(&e, "alpha", "mux", NSVC);
	wait_all(&e, "alpha", "late", 20);
	assert_true(kft_stat(&e.re_kf[0], "faults.h2_rst") > 0);
	assert_true(kft_stat(&e.re_kf[0], "faults.h2_goaway") > 0);
	assert_int_equal(kft_faults(&e.re_kf[0], "{}"), 0);
	// Nothing lost, nothing twice, nothing more.
	check_cluster(&e, 0, "mux", NSVC, 9090, 2);
	check_cluster(&e, 0, "late", 20, 7070, 1);
	assert_int_equal(rt_count_managed(&e, 0, "default"), NSVC + 20);
	rt_stop(&e);
}

static void
test_http1_only_cluster(void **state)
{
	rt_env                   e;
	static const char *const h1[] = {"--alpn", "http/1.1", NULL};
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "old", h1);
	apply_many(&e, "old", "plain", 20, 8080);
	wait_all(&e, "old", "plain", 20);
	check_cluster(&e, 0, "plain", 20, 8080, 1);
	assert_int_equal(kft_stat(&e.re_kf[0], "connections.h2"), 0);
	assert_true(kft_stat(&e.re_kf[0], "connections.http1") > 0);
	rt_stop(&e);
}

int
main(void)
{
	setenv("KFT_HTTP", "1.1", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_h2_multiplexed_and_faults, rt_teardown),
	    cmocka_unit_test_teardown(test_http1_only_cluster, rt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
