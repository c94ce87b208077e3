// recon_shard_test.c: the reconciler as its own service, and across
// restarts — two svcfleet-reconciler processes pinned with --shard 0/2
// and 1/2 (the static pin: no claims, no fencing; claims_test covers the
// claiming reconcilers)
// split the clusters and nothing is applied twice; svcfleetd killed in the
// middle of converging starts again and everything converges, each
// Service in its cluster once.
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

#include "reconciler.h"
#include "recon_util.h"

#define SYNCED SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED

static int
stop_reconciler(pid_t pid)
{
	int st;
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	return (WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static bool
file_contains(const char *path, const char *needle)
{
	char *text = th_read_file(path, NULL);
	bool  yes  = text != NULL && strstr(text, needle) != NULL;
	free(text);
	return (yes);
}

// Counts the Services of cluster that svcfleetd says are SYNCED.
static int
count_synced(rt_env *e, const char *cluster)
{
	char *token = NULL;
	int   n     = 0;
	do {
		Svcfleet__V1__ListServicesRequest req
		    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
		Svcfleet__V1__ListServicesReply *rep = NULL;
		req.cluster                          = (char *) cluster;
		req.page_size                        = 500;
		req.page_token                       = token ? token : "";
		assert_int_equal(
		    svcfleet_list_services(e->re_cli, &req, &rep, &e->re_st),
		    0);
		free(token);
		token = NULL;
		for (size_t i = 0; i < rep->n_services; i++) {
			const Svcfleet__V1__ClusterStatus *cs
			    = rt_status(rep->services[i]);
			n += cs != NULL && cs->state == SYNCED
			    && cs->observed_generation
			        >= rep->services[i]->metadata->generation;
		}
		if (rep->next_page_token[0] != '\0') {
			token = strdup(rep->next_page_token);
		}
		svcfleet_free(rep);
	} while (token != NULL);
	return (n);
}

static void
wait_synced(rt_env *e, const char *cluster, int want, int ms)
{
	int n = 0;
	for (int t = 0; t <= ms; t += 200) {
		if ((n = count_synced(e, cluster)) == want) {
			return;
		}
		rt_sleep_ms(200);
	}
	fail_msg("cluster %s: %d of %d services synced after %d ms", cluster,
	    n, want, ms);
}

static void
test_two_shards_split_clusters(void **state)
{
	static const char *const candidates[] = {"east", "west", "north",
	    "south", "up", "down", "left", "right", "fore", "aft"};
	rt_env                   e;
	const char              *names[4];
	int                      shard_of[4], have[2] = {0, 0}, n = 0;
	char                     log0[400], log1[400], tok[400];
	pid_t                    r0, r1;
	(void) state;

	// Two clusters for each shard.
	for (size_t i = 0;
	     i < sizeof(candidates) / sizeof(candidates[0]) && n < 4; i++) {
		int s = (int) sf_reconciler_shard_of(candidates[i], 2);
		if (have[s] < 2) {
			names[n]    = candidates[i];
			shard_of[n] = s;
			have[s]++;
			n++;
		}
	}
	assert_int_equal(n, 4);

	rt_start(&e, false); // svcfleetd --no-reconciler
	for (int i = 0; i < 4; i++) {
		rt_cluster(&e, i, names[i], NULL);
	}
	snprintf(log0, sizeof(log0), "%s/reconciler-0.log", e.re_srv.ts_dir);
	snprintf(log1, sizeof(log1), "%s/reconciler-1.log", e.re_srv.ts_dir);
	snprintf(tok, sizeof(tok), "%s/reconciler.token", e.re_srv.ts_dir);
	rt_reconciler_token(&e, tok);
	r0 = rt_spawn_reconciler(
	    &e, tok, log0, (const char *const[]) {"--shard", "0/2", NULL});
	r1 = rt_spawn_reconciler(
	    &e, tok, log1, (const char *const[]) {"--shard", "1/2", NULL});
	for (int i = 0; i < 4; i++) {
		for (int k = 0; k < 5; k++) {
			free(rt_cli(&e, NULL,
			    "create service svc-%d --cluster %s --selector "
			    "app=a "
			    "--port 80",
			    k, names[i]));
		}
	}
	for (int i = 0; i < 4; i++) {
		wait_synced(&e, names[i], 5, 20000);
	}
	// Each Service was applied once, by one reconciler.
	rt_sleep_ms(500);
	for (int i = 0; i < 4; i++) {
		char started[100];
		assert_int_equal(
		    kft_stat(&e.re_kf[i], "resources.services.patch"), 5);
		assert_int_equal(rt_count_managed(&e, i, "default"), 5);
		snprintf(started, sizeof(started), "cluster=%s worker started",
		    names[i]);
		assert_true(
		    file_contains(shard_of[i] == 0 ? log0 : log1, started));
		assert_false(
		    file_contains(shard_of[i] == 0 ? log1 : log0, started));
	}
	assert_int_equal(stop_reconciler(r0), 0);
	assert_int_equal(stop_reconciler(r1), 0);
	rt_stop(&e);
}

static void
test_restart_midway(void **state)
{
	rt_env e;
	char  *docs;
	size_t cap = 300 * 200, len = 0;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	rt_cluster(&e, 1, "beta", NULL);
	docs = malloc(cap);
	assert_non_null(docs);
	for (int i = 0; i < 300; i++) {
		len += (size_t) snprintf(docs + len, cap - len,
		    "---\napiVersion: v1\nkind: Service\nmetadata:\n"
		    "  name: bulk-%03d\n  annotations: {svcfleet.io/cluster: "
		    "%s}\nspec:\n  selector: {app: bulk}\n  ports: [{port: "
		    "80}]\n",
		    i, i % 2 ? "beta" : "alpha");
	}
	free(rt_cli(&e, docs, "apply -f -"));
	free(docs);
	// Kill svcfleetd (and its reconciler) as soon as some are out.
	for (int t = 0; rt_count_managed(&e, 0, "default") < 20; t += 10) {
		assert_true(t < 20000);
		rt_sleep_ms(10);
	}
	rt_restart(&e, true);
	wait_synced(&e, "alpha", 150, 60000);
	wait_synced(&e, "beta", 150, 60000);
	for (int i = 0; i < 2; i++) {
		long long patches
		    = kft_stat(&e.re_kf[i], "resources.services.patch");
		print_message(
		    "cluster %d: %lld applies for 150 services\n", i, patches);
		assert_int_equal(rt_count_managed(&e, i, "default"), 150);
		// Once each; a few more at most for those in flight at the
		// kill.
		assert_in_range(patches, 150, 150 + 40);
	}
	rt_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_two_shards_split_clusters, rt_teardown),
	    cmocka_unit_test_teardown(test_restart_midway, rt_teardown),
	};
	if (access("/usr/bin/kubectl", X_OK) != 0) {
		fprintf(stderr, "kubectl not found: skipped\n");
		return (77);
	}
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
