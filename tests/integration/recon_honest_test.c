// recon_honest_test.c: issue 19's honest status with a real reconciler and
// kubefake — a cluster that stops answering turns its Services UNKNOWN
// (keeping the time of the last confirmation) in the RPC and the CLI, and
// back to SYNCED when it returns; a heal moves LAST-SYNC; a rollback
// reaches the cluster.
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
#define UNKNOWN SVCFLEET__V1__SYNC_STATE__SYNC_STATE_UNKNOWN

static void
test_unreachable_reads_unknown(void **state)
{
	rt_env                 e;
	Svcfleet__V1__Service *s;
	int64_t                confirmed;
	char                  *out;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	free(rt_cli(&e, NULL,
	    "create service honest-a --cluster alpha --selector app=a "
	    "--port 80"));
	s         = rt_wait(&e, "alpha", "default", "honest-a", SYNCED, 15000);
	confirmed = rt_status(s)->last_sync_time_ms;
	assert_true(confirmed > 0);
	svcfleet_free(s);

	// The cluster dies: UNKNOWN, with the last confirmation.
	int port = e.re_kf[0].k_port;
	kft_kill(&e.re_kf[0]);
	rt_wait_health(&e, "alpha",
	    SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNREACHABLE,
	    15000);
	s = rt_wait(&e, "alpha", "default", "honest-a", UNKNOWN, 5000);
	assert_int_equal(rt_status(s)->last_sync_time_ms, confirmed);
	svcfleet_free(s);
	out = rt_cli(&e, NULL, "get services --cluster alpha");
	assert_non_null(strstr(out, "UNKNOWN(synced "));
	assert_null(strstr(out, " SYNCED "));
	free(out);
	out = rt_cli(&e, NULL, "describe service honest-a --cluster alpha");
	assert_non_null(strstr(out, "UNKNOWN"));
	free(out);

	// Back on its address with its state: SYNCED again.
	char        listen[64];
	const char *again[] = {"--listen", listen, NULL};
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	assert_int_equal(kft_start(&e.re_kf[0], again), 0);
	assert_int_equal(e.re_kf[0].k_port, port);
	s         = rt_wait(&e, "alpha", "default", "honest-a", SYNCED, 20000);
	confirmed = rt_status(s)->last_sync_time_ms;
	svcfleet_free(s);

	// A heal is a confirmation: LAST-SYNC moves even though nothing the
	// status shows has changed.
	free(rt_kubectl(&e, 0, NULL,
	    "label --overwrite service honest-a -n default "
	    "app.kubernetes.io/managed-by=someone-else"));
	for (int i = 0;; i++) {
		s = rt_get(&e, "alpha", "default", "honest-a");
		assert_non_null(s);
		int64_t t = rt_status(s)->last_sync_time_ms;
		svcfleet_free(s);
		if (t > confirmed) {
			break;
		}
		if (i == 300) { // 15 s
			fail_msg("LAST-SYNC did not move after a heal");
		}
		rt_sleep_ms(50);
	}

	// The heal is a drift event naming kubectl's field manager, the
	// path it changed and the value it wrote.
	for (int i = 0;; i++) {
		out = rt_cli(&e, NULL, "drift --cluster alpha");
		if (strstr(out, "honest-a") != NULL) {
			break;
		}
		free(out);
		if (i == 200) {
			fail_msg("no drift event after a heal");
		}
		rt_sleep_ms(50);
	}
	assert_non_null(strstr(out, "kubectl-label (Update)"));
	assert_non_null(strstr(
	    out, "metadata.labels.app.kubernetes.io/managed-by=someone-else"));
	assert_non_null(strstr(out, "reverted"));
	free(out);
	out = rt_cli(&e, NULL, "audit --name honest-a");
	assert_non_null(strstr(out, "ReportDrift"));
	free(out);

	// A rollback is healed into the cluster like any change.
	free(rt_cli(
	    &e, NULL, "update service honest-a --cluster alpha --port 81"));
	svcfleet_free(
	    rt_wait(&e, "alpha", "default", "honest-a", SYNCED, 15000));
	out = rt_kubectl(&e, 0, NULL,
	    "get svc honest-a -n default -o jsonpath={.spec.ports[0].port}");
	assert_string_equal(out, "81");
	free(out);
	free(rt_cli(&e, NULL,
	    "rollback service honest-a --cluster alpha --to-generation 1"));
	s = rt_wait(&e, "alpha", "default", "honest-a", SYNCED, 15000);
	assert_int_equal(s->metadata->generation, 3);
	svcfleet_free(s);
	out = rt_kubectl(&e, 0, NULL,
	    "get svc honest-a -n default -o jsonpath={.spec.ports[0].port}");
	assert_string_equal(out, "80");
	free(out);
	rt_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_unreachable_reads_unknown, rt_teardown),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
