// recon_faults_test.c: the reconciler when clusters misbehave — a cluster
// refusing every connection (UNREACHABLE, its Services show the error, the
// other cluster converges regardless, everything converges after), 429
// with Retry-After (counted requests), 422 (an ERROR with the cluster's
// cause and no retry until the spec changes), a LoadBalancer waiting
// for its MetalLB address, and a cluster killed right after acknowledging
// an apply.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "recon_util.h"

#define SYNCED  SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
#define ERROR   SVCFLEET__V1__SYNC_STATE__SYNC_STATE_ERROR
#define WAITING SVCFLEET__V1__SYNC_STATE__SYNC_STATE_WAITING_ADDRESS
#define READY   SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_READY
#define UNREACHABLE \
	SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNREACHABLE
#define UNAUTHORIZED \
	SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED

static void
reset_stats(rt_env *e, int i)
{
	kft_resp r;
	memset(&r, 0, sizeof(r));
	kft_do(&e->re_kf[i], "POST", "/_kubefake/stats/reset", NULL, NULL, &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);
}

static void
test_cluster_refusing_everything(void **state)
{
	rt_env                 e;
	Svcfleet__V1__Service *s;
	const char            *msg;
	json_t                *k;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	rt_cluster(&e, 1, "beta", NULL);
	assert_int_equal(kft_faults(&e.re_kf[1], "{\"refuse_all\": true}"), 0);
	free(rt_cli(&e, NULL,
	    "create service one-a --cluster alpha --selector app=one "
	    "--port 80"));
	free(rt_cli(&e, NULL,
	    "create service one-b --cluster beta --selector app=one "
	    "--port 80"));
	svcfleet_free(rt_wait(&e, "alpha", "default", "one-a", SYNCED, 15000));
	s = rt_wait(&e, "beta", "default", "one-b", ERROR, 15000);
	assert_non_null(strstr(rt_status(s)->message,
	    "cluster \"beta\" is "
	    "unreachable"));
	svcfleet_free(s);
	msg = rt_wait_health(&e, "beta", UNREACHABLE, 10000);
	assert_true(msg[0] != '\0');
	rt_wait_health(&e, "alpha", READY, 5000);

	// The dead cluster holds nobody up.
	free(rt_cli(&e, NULL,
	    "create service two-a --cluster alpha --selector app=two "
	    "--port 80"));
	svcfleet_free(rt_wait(&e, "alpha", "default", "two-a", SYNCED, 5000));
	free(rt_cli(&e, NULL,
	    "create service two-b --cluster beta --selector app=two "
	    "--port 80"));

	// Recovery: everything converges.
	assert_int_equal(kft_faults(&e.re_kf[1], "{}"), 0);
	svcfleet_free(rt_wait(&e, "beta", "default", "one-b", SYNCED, 20000));
	svcfleet_free(rt_wait(&e, "beta", "default", "two-b", SYNCED, 20000));
	rt_wait_health(&e, "beta", READY, 10000);
	k = rt_kget(&e, 1, "default", "two-b");
	assert_non_null(k);
	json_decref(k);
	rt_stop(&e);
}

static void
test_wrong_token_is_unauthorized(void **state)
{
	rt_env                 e;
	Svcfleet__V1__Service *s;
	char                   bad[600];
	(void) state;

	rt_start(&e, true);
	assert_int_equal(kft_start(&e.re_kf[0], NULL), 0);
	e.re_nkf = 1;
	snprintf(bad, sizeof(bad), "%s/bad.token", e.re_srv.ts_dir);
	assert_int_equal(th_write_file(bad, "not-the-token"), 0);
	free(rt_cli(&e, NULL,
	    "cluster add alpha --api-server %s --ca-file %s "
	    "--cluster-token-file %s",
	    e.re_kf[0].k_url, e.re_kf[0].k_ca, bad));
	free(rt_cli(&e, NULL,
	    "create service locked --cluster alpha --selector app=l "
	    "--port 80"));
	rt_wait_health(&e, "alpha", UNAUTHORIZED, 10000);
	s = rt_wait(&e, "alpha", "default", "locked", ERROR, 10000);
	assert_non_null(strstr(rt_status(s)->message,
	    "cluster \"alpha\" is refusing svcfleet's credentials"));
	svcfleet_free(s);
	rt_stop(&e);
}

static void
test_throttled_honours_retry_after(void **state)
{
	rt_env    e;
	long long a, b, c;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	free(rt_cli(&e, NULL,
	    "create service warm --cluster alpha --selector app=w --port 80"));
	svcfleet_free(rt_wait(&e, "alpha", "default", "warm", SYNCED, 15000));
	assert_int_equal(kft_faults(&e.re_kf[0],
	                     "{\"error_rate\": 1.0, \"error_status\": 429, "
	                     "\"retry_after_s\": 5}"),
	    0);
	reset_stats(&e, 0);
	// Five Services at once (one apply of five documents).
	char   docs[2000];
	size_t len = 0;
	for (int i = 0; i < 5; i++) {
		len += (size_t) snprintf(docs + len, sizeof(docs) - len,
		    "---\napiVersion: v1\nkind: Service\nmetadata: {name: "
		    "burst-%d}\nspec:\n  selector: {app: b}\n  ports: [{port: "
		    "80}]\n",
		    i);
	}
	free(rt_cli(&e, docs, "apply --cluster alpha -f -"));
	// From the first 429 on: after the first wave, no apply at all for
	// the five seconds of Retry-After, then the next wave (of at most
	// one apply per Service). The samples leave room for a slow test
	// process (sanitizers) noticing the first 429 late.
	for (int t = 0; kft_stat(&e.re_kf[0], "codes.429") == 0; t += 10) {
		assert_true(t < 10000);
		rt_sleep_ms(10);
	}
	rt_sleep_ms(300);
	a = kft_stat(&e.re_kf[0], "resources.services.patch");
	rt_sleep_ms(1700);
	b = kft_stat(&e.re_kf[0], "resources.services.patch");
	rt_sleep_ms(4500);
	c = kft_stat(&e.re_kf[0], "resources.services.patch");
	print_message("applies 0.3 s after the first 429: %lld, 2 s: %lld, "
	              "6.5 s: %lld\n",
	    a, b, c);
	assert_in_range(a, 1, 5);
	assert_int_equal(b, a);
	assert_in_range(c, b + 1, b + 5);
	assert_int_equal(kft_stat(&e.re_kf[0], "codes.429"), c);
	assert_int_equal(kft_faults(&e.re_kf[0], "{}"), 0);
	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "burst-%d", i);
		svcfleet_free(
		    rt_wait(&e, "alpha", "default", name, SYNCED, 15000));
	}
	rt_stop(&e);
}

static void
test_invalid_is_an_error_without_retries(void **state)
{
	rt_env                 e;
	Svcfleet__V1__Service *s;
	const char *const kf[] = {"--node-port-range", "31000-31100", NULL};
	(void) state;

	rt_start(&e, true);
	// svcfleet's record of the cluster says 30000-32767; the cluster
	// knows better and answers 422.
	rt_cluster(&e, 0, "alpha", kf);
	free(rt_cli(&e, NULL,
	    "create service strict --cluster alpha --type nodeport "
	    "--selector app=s --port 80@30080"));
	s = rt_wait(&e, "alpha", "default", "strict", ERROR, 15000);
	assert_non_null(strstr(rt_status(s)->message,
	    "spec.ports[0].nodePort: Invalid value: 30080: provided port is "
	    "not in the valid range. The range of valid ports is "
	    "31000-31100"));
	svcfleet_free(s);
	reset_stats(&e, 0);
	rt_sleep_ms(3000);
	assert_int_equal(kft_stat(&e.re_kf[0], "resources.services.patch"), 0);
	// A new spec is tried at once.
	free(rt_cli(&e,
	    "apiVersion: v1\nkind: Service\nmetadata: {name: strict}\n"
	    "spec:\n  type: NodePort\n  selector: {app: s}\n"
	    "  ports: [{port: 80, nodePort: 31050}]\n",
	    "apply --cluster alpha -f -"));
	s = rt_wait(&e, "alpha", "default", "strict", SYNCED, 15000);
	assert_int_equal(rt_status(s)->node_ports[0]->node_port, 31050);
	assert_string_equal(rt_status(s)->message, "");
	svcfleet_free(s);
	assert_int_equal(kft_stat(&e.re_kf[0], "resources.services.patch"), 1);
	rt_stop(&e);
}

static void
test_load_balancer_waits_for_address(void **state)
{
	rt_env                 e;
	Svcfleet__V1__Service *s;
	json_t                *k;
	const char *const kf[] = {"--metallb-pool", "default=192.168.10.0/29",
	    "--lb-delay-ms", "2500", NULL};
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", kf);
	free(rt_cli(&e, NULL,
	    "create service edge --cluster alpha --type loadbalancer "
	    "--lb-pool default --selector app=edge --port 443"));
	s = rt_wait(&e, "alpha", "default", "edge", WAITING, 2000);
	assert_int_equal(rt_status(s)->n_ingress, 0);
	svcfleet_free(s);
	s = rt_wait(&e, "alpha", "default", "edge", SYNCED, 15000);
	assert_int_equal(rt_status(s)->n_ingress, 1);
	assert_true(strncmp(rt_status(s)->ingress[0], "192.168.10.", 11) == 0);
	k = rt_kget(&e, 0, "default", "edge");
	assert_string_equal(kft_jstr(k, "status.loadBalancer.ingress.0.ip"),
	    rt_status(s)->ingress[0]);
	json_decref(k);
	svcfleet_free(s);
	rt_stop(&e);
}

// The selector app of Service ns/name in cluster i ("" when absent).
static void
cluster_selector(rt_env *e, int i, const char *name, char *out, size_t cap)
{
	char     path[256];
	kft_resp r;
	snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s",
	    name);
	kft_do(&e->re_kf[i], "GET", path, NULL, NULL, &r);
	const char *app = kft_jstr(r.r_json, "spec.selector.app");
	snprintf(out, cap, "%s", r.r_code == 200 && app != NULL ? app : "");
	kft_resp_fini(&r);
}

static void
apply_selector(rt_env *e, const char *app)
{
	char doc[600];
	snprintf(doc, sizeof(doc),
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata:\n"
	    "  name: kept\n"
	    "  namespace: default\n"
	    "  annotations:\n"
	    "    svcfleet.io/cluster: alpha\n"
	    "spec:\n"
	    "  selector: {app: %s}\n"
	    "  ports:\n"
	    "  - {port: 80}\n",
	    app);
	free(rt_cli(e, doc, "apply -f -"));
}

// chaos_test's divergence, step by step: an apply is answered (SYNCED),
// the cluster's API server is killed at once and comes back on the same
// storage. The cluster must hold the applied spec afterwards. kubefake
// used to lose such a write and give its resourceVersion again; the
// reconciler, which had seen the newer version in the answer, took the
// older object it then listed for stale, and left it so for good.
static void
test_cluster_killed_after_apply(void **state)
{
	rt_env e;
	char   port[32], got[64];
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	snprintf(port, sizeof(port), "127.0.0.1:%d", e.re_kf[0].k_port);
	const char *const same_port[] = {"--listen", port, NULL};
	apply_selector(&e, "v1");
	svcfleet_free(rt_wait(&e, "alpha", "default", "kept", SYNCED, 15000));
	for (int round = 2; round <= 4; round++) {
		char want[16];
		snprintf(want, sizeof(want), "v%d", round);
		apply_selector(&e, want);
		svcfleet_free(
		    rt_wait(&e, "alpha", "default", "kept", SYNCED, 15000));
		kft_kill(&e.re_kf[0]);
		int tries = 0;
		while (
		    kft_start(&e.re_kf[0], same_port) != 0 && tries++ < 20) {
			rt_sleep_ms(250); // the port may linger a moment
		}
		assert_true(e.re_kf[0].k_pid > 0);
		// The desired state, now or once the reconciler has
		// reconnected (it checks what the cluster holds).
		cluster_selector(&e, 0, "kept", got, sizeof(got));
		for (int i = 0; i < 100 && strcmp(got, want) != 0; i++) {
			rt_sleep_ms(100);
			cluster_selector(&e, 0, "kept", got, sizeof(got));
		}
		if (strcmp(got, want) != 0) {
			fail_msg("round %d: the cluster's selector is app=%s "
			         "10 s after the restart, app=%s was applied",
			    round, got, want);
		}
	}
	// Writes after the restarts get new versions: the next change is
	// applied and seen.
	apply_selector(&e, "v5");
	svcfleet_free(rt_wait(&e, "alpha", "default", "kept", SYNCED, 15000));
	cluster_selector(&e, 0, "kept", got, sizeof(got));
	assert_string_equal(got, "v5");
	rt_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_cluster_refusing_everything, rt_teardown),
	    cmocka_unit_test_teardown(
	        test_wrong_token_is_unauthorized, rt_teardown),
	    cmocka_unit_test_teardown(
	        test_throttled_honours_retry_after, rt_teardown),
	    cmocka_unit_test_teardown(
	        test_invalid_is_an_error_without_retries, rt_teardown),
	    cmocka_unit_test_teardown(
	        test_load_balancer_waits_for_address, rt_teardown),
	    cmocka_unit_test_teardown(
	        test_cluster_killed_after_apply, rt_teardown),
	};
	if (access("/usr/bin/kubectl", X_OK) != 0) {
		fprintf(stderr, "kubectl not found: skipped\n");
		return (77);
	}
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
