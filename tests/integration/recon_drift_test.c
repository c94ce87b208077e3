// recon_drift_test.c: issue 19's per-Service drift policy with a real
// reconciler and kubefake. A Service with svcfleet.io/drift-policy: Report
// changed with kubectl keeps the change in the cluster, and `svcfleet
// drift` and `describe` show it (who wrote it, which path, "kept"); its
// neighbour with the default policy (Revert) changed the same way is
// healed. Switching the policy to Revert (through `svcfleet edit`) heals
// it; a policy that is neither is refused naming the field.
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
#define DRIFTED SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DRIFTED

// The selector kubefake holds for Service name.
static char *
kselector(rt_env *e, const char *name)
{
	return (rt_kubectl(e, 0, NULL,
	    "get svc %s -n default -o jsonpath={.spec.selector.app}", name));
}

// Waits until the cluster's selector of name reads want.
static void
wait_selector(rt_env *e, const char *name, const char *want, int ms)
{
	for (int waited = 0;; waited += 50) {
		char *s  = kselector(e, name);
		bool  ok = strcmp(s, want) == 0;
		if (ok || waited >= ms) {
			if (!ok) {
				fail_msg(
				    "%s: selector %s, want %s", name, s, want);
			}
			free(s);
			return;
		}
		free(s);
		rt_sleep_ms(50);
	}
}

// Polls `svcfleet drift` until a line names name; returns the output.
static char *
wait_drift(rt_env *e, const char *name, const char *want, int ms)
{
	char pat[128];
	snprintf(pat, sizeof(pat), "/%s ", name);
	for (int waited = 0;; waited += 50) {
		char *out = rt_cli(e, NULL, "drift --cluster alpha");
		char *at  = strstr(out, pat);
		if (at != NULL && strstr(at, want) != NULL) {
			return (out);
		}
		if (waited >= ms) {
			fail_msg("no drift event for %s with \"%s\":\n%s",
			    name, want, out);
		}
		free(out);
		rt_sleep_ms(50);
	}
}

// Runs `svcfleet edit service name` with a sed script as the editor; the
// edit must save.
static void
edit(rt_env *e, const char *name, const char *sed_script)
{
	char cmd[1400], path[600], *out = NULL, *err = NULL, want[128];
	int  rc;
	snprintf(path, sizeof(path), "%s/edit.sed", e->re_srv.ts_dir);
	assert_int_equal(th_write_file(path, sed_script), 0);
	snprintf(cmd, sizeof(cmd),
	    "EDITOR='sed -i -f %s' %s --server '%s' edit service %s "
	    "--cluster alpha",
	    path, th_bin("client/cli/svcfleet"), e->re_srv.ts_url, name);
	setenv("SVCFLEET_TOKEN", e->re_srv.ts_token, 1);
	unsetenv("KUBE_EDITOR");
	rc = th_run(cmd, NULL, &out, &err);
	unsetenv("SVCFLEET_TOKEN");
	snprintf(want, sizeof(want), "service/%s edited\n", name);
	if (rc != 0 || strcmp(out, want) != 0) {
		fail_msg("edit: exit %d\n%s%s", rc, out, err);
	}
	free(out);
	free(err);
}

static void
test_report_policy_keeps_the_change(void **state)
{
	rt_env                 e;
	Svcfleet__V1__Service *s;
	char                  *out;
	int                    rc;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	free(rt_cli(&e, NULL,
	    "create service keep --cluster alpha --selector app=a --port 80 "
	    "--annotation svcfleet.io/drift-policy=Report"));
	free(rt_cli(&e, NULL,
	    "create service heal --cluster alpha --selector app=a --port 80"));
	svcfleet_free(rt_wait(&e, "alpha", "default", "keep", SYNCED, 15000));
	svcfleet_free(rt_wait(&e, "alpha", "default", "heal", SYNCED, 15000));

	// The same out-of-band change to both, by kubectl.
	free(rt_kubectl(&e, 0, NULL,
	    "patch svc keep -n default --type merge "
	    "-p {\\\"spec\\\":{\\\"selector\\\":{\\\"app\\\":\\\"b\\\"}}}"));
	free(rt_kubectl(&e, 0, NULL,
	    "patch svc heal -n default --type merge "
	    "-p {\\\"spec\\\":{\\\"selector\\\":{\\\"app\\\":\\\"b\\\"}}}"));

	// Revert (the default): healed, and the event says so.
	wait_selector(&e, "heal", "a", 15000);
	free(wait_drift(&e, "heal", "reverted", 15000));

	// Report: the event names kubectl's field manager, the path and the
	// value, and says the change was kept.
	out = wait_drift(&e, "keep", "kept (drift policy Report)", 15000);
	char *line = strstr(out, "/keep ");
	assert_non_null(line);
	*strchrnul(line, '\n') = '\0';
	if (strstr(line, "kubectl-patch (Update)") == NULL
	    || strstr(line, "spec.selector={\"app\":\"b\"}") == NULL) {
		fail_msg("drift line: %s", line);
	}
	free(out);
	// The status says the cluster holds another state, and why.
	s = rt_wait(&e, "alpha", "default", "keep", DRIFTED, 15000);
	assert_non_null(strstr(rt_status(s)->message, "drift policy Report"));
	svcfleet_free(s);
	// Decided (the status above is the decision) and not healed: the
	// change stays in the cluster, after its neighbour was healed.
	out = kselector(&e, "keep");
	assert_string_equal(out, "b");
	free(out);

	// describe: the policy and the Drift section.
	out = rt_cli(&e, NULL, "describe service keep --cluster alpha");
	assert_non_null(strstr(out, "Drift Policy:"));
	assert_non_null(strstr(out, "Report (a change made in the cluster"));
	char *sec = strstr(out, "\nDrift:\n");
	assert_non_null(sec);
	assert_non_null(strstr(sec, "kubectl-patch (Update)"));
	assert_non_null(strstr(sec, "kept (drift policy Report)"));
	assert_non_null(strstr(sec, "spec.selector={\"app\":\"b\"}"));
	free(out);
	out = rt_cli(&e, NULL, "describe service heal --cluster alpha");
	assert_non_null(strstr(out, "Revert (a change made in the cluster"));
	sec = strstr(out, "\nDrift:\n");
	assert_non_null(sec);
	assert_non_null(strstr(sec, "reverted"));
	free(out);

	// The policy back to Revert (edited as a person would): healed.
	edit(&e, "keep", "s/drift-policy: Report/drift-policy: Revert/\n");
	wait_selector(&e, "keep", "a", 15000);
	svcfleet_free(rt_wait(&e, "alpha", "default", "keep", SYNCED, 15000));

	// Under Report, a change of desired state that keeps the generation
	// (an annotation) still reaches the cluster (a Service of its own:
	// its apply must not race the drift below).
	free(rt_cli(&e, NULL,
	    "create service anno --cluster alpha --selector app=a --port 80 "
	    "--annotation svcfleet.io/drift-policy=Report"));
	svcfleet_free(rt_wait(&e, "alpha", "default", "anno", SYNCED, 15000));
	edit(&e, "anno", "s/^  annotations:$/&\\n    team: web/\n");
	for (int waited = 0;; waited += 50) {
		char *t  = rt_kubectl(&e, 0, NULL,
		     "get svc anno -n default -o "
		      "jsonpath={.metadata.annotations.team}");
		bool  ok = strcmp(t, "web") == 0;
		free(t);
		if (ok) {
			break;
		}
		if (waited >= 15000) {
			fail_msg("the annotation did not reach the cluster");
		}
		rt_sleep_ms(50);
	}
	svcfleet_free(rt_wait(&e, "alpha", "default", "anno", SYNCED, 15000));

	// Neither Report nor Revert: refused, naming the field.
	{
		char cmd[1400], *err = NULL;
		snprintf(cmd, sizeof(cmd),
		    "%s --server '%s' --token %s create service bad --cluster "
		    "alpha --selector app=a --port 80 --annotation "
		    "svcfleet.io/drift-policy=Sometimes",
		    th_bin("client/cli/svcfleet"), e.re_srv.ts_url,
		    e.re_srv.ts_token);
		rc = th_run(cmd, NULL, &out, &err);
		assert_int_equal(rc, 1);
		assert_non_null(strstr(err,
		    "metadata.annotations[svcfleet.io/drift-policy]: "
		    "Unsupported value: \"Sometimes\""));
		free(out);
		free(err);
	}
	rt_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_report_policy_keeps_the_change, rt_teardown),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
