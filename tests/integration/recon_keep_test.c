// recon_keep_test.c: what the reconciler keeps for a Service across events
// in the cluster (issue 19), with kubefake:
//   * a NodePort Service deleted in the cluster (kubectl delete) is made
//     again with the node ports it had (kubefake allocates at random, so
//     a re-create that let the cluster choose would get another);
//   * a drift kept by drift policy Report is a state of its own
//     (DRIFTED), stored with the Service: when the cluster's claim moves
//     to another reconciler, that one keeps reporting it and does not heal
//     it.
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "recon_util.h"

#define SYNCED SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED

// The node ports of Service name in cluster 0, "p1,p2" (malloc'd).
static char *
knodeports(rt_env *e, const char *name)
{
	return (rt_kubectl(e, 0, NULL,
	    "get svc %s -n default -o jsonpath={.spec.ports[*].nodePort}",
	    name));
}

static char *
kuid(rt_env *e, const char *name, int *rc)
{
	return (rt_kubectl(e, 0, rc,
	    "get svc %s -n default -o jsonpath={.metadata.uid} 2>/dev/null",
	    name));
}

static void
test_recreate_keeps_node_ports(void **state)
{
	rt_env e;
	char  *before, *uid, *after = NULL;
	int    rc;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	free(rt_cli(&e, NULL,
	    "create service nport --cluster alpha --type nodeport --selector "
	    "app=a --port http:80 --port metrics:9090"));
	svcfleet_free(rt_wait(&e, "alpha", "default", "nport", SYNCED, 15000));
	// The status records what the cluster assigned (the re-create reads
	// it from there).
	before = knodeports(&e, "nport");
	for (int waited = 0;; waited += 50) {
		Svcfleet__V1__Service *s
		    = rt_get(&e, "alpha", "default", "nport");
		const Svcfleet__V1__ClusterStatus *cs = rt_status(s);
		bool ok = cs != NULL && cs->n_node_ports == 2;
		svcfleet_free(s);
		if (ok) {
			break;
		}
		if (waited >= 15000) {
			fail_msg("the status never recorded the node ports");
		}
		rt_sleep_ms(50);
	}
	assert_non_null(strchr(before, ' '));
	uid = kuid(&e, "nport", NULL);

	free(rt_kubectl(&e, 0, NULL, "delete svc nport -n default"));
	// Made again (another uid) ...
	for (int waited = 0;; waited += 50) {
		char *u  = kuid(&e, "nport", &rc);
		bool  ok = rc == 0 && u[0] != '\0' && strcmp(u, uid) != 0;
		free(u);
		if (ok) {
			break;
		}
		if (waited >= 15000) {
			fail_msg("nport was not made again");
		}
		rt_sleep_ms(50);
	}
	// ... with the node ports it had.
	after = knodeports(&e, "nport");
	if (strcmp(before, after) != 0) {
		fail_msg("node ports before %s, after the re-create %s",
		    before, after);
	}
	svcfleet_free(rt_wait(&e, "alpha", "default", "nport", SYNCED, 15000));
	free(before);
	free(after);
	free(uid);
	rt_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_recreate_keeps_node_ports, rt_teardown),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
