// recon_keep_test.c: what the reconciler keeps for a Service across events
// in the cluster (issue 19), with kubefake:
//   * a NodePort Service deleted in the cluster (kubectl delete) is made
//     again with the node ports and the cluster IP it had (kubefake
//     allocates both at random, so a re-create that let the cluster
//     choose would get others);
//   * when those node ports are taken meanwhile, it is made again with
//     ports the cluster chooses (not refused for good);
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "recon_util.h"

#define SYNCED  SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
#define DRIFTED SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DRIFTED

// The node ports of Service name in cluster 0, "p1,p2" (malloc'd).
static char *
knodeports(rt_env *e, const char *name)
{
	return (rt_kubectl(e, 0, NULL,
	    "get svc %s -n default -o jsonpath={.spec.ports[*].nodePort}",
	    name));
}

static char *
kclusterip(rt_env *e, const char *name)
{
	return (rt_kubectl(e, 0, NULL,
	    "get svc %s -n default -o jsonpath={.spec.clusterIP}", name));
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
	char  *before, *uid, *after = NULL, *ip_before, *ip_after;
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
		bool ok = cs != NULL && cs->n_node_ports == 2
		    && cs->cluster_ip != NULL && cs->cluster_ip[0] != '\0';
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
	ip_before = kclusterip(&e, "nport");
	assert_true(ip_before[0] != '\0');
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
	// ... with the node ports and the cluster IP it had.
	after    = knodeports(&e, "nport");
	ip_after = kclusterip(&e, "nport");
	if (strcmp(before, after) != 0) {
		fail_msg("node ports before %s, after the re-create %s",
		    before, after);
	}
	if (strcmp(ip_before, ip_after) != 0) {
		fail_msg("cluster IP before %s, after the re-create %s",
		    ip_before, ip_after);
	}
	svcfleet_free(rt_wait(&e, "alpha", "default", "nport", SYNCED, 15000));
	free(before);
	free(after);
	free(ip_before);
	free(ip_after);
	free(uid);
	rt_stop(&e);
}

// ------------------------------------------ DRIFTED across a claim move

// spawn starts reconciler id (lease TTL 3 s, resync 1 min), its log in
// the server's directory as <id>.log.
static pid_t
spawn(rt_env *e, const char *id, const char *tok)
{
	char              log[500];
	const char *const args[]
	    = {"--id", id, "--lease-ttl", "3s", "--resync", "1m", NULL};
	snprintf(log, sizeof(log), "%s/%s.log", e->re_srv.ts_dir, id);
	return (rt_spawn_reconciler(e, tok, log, args));
}

// Waits until reconciler id holds cluster alpha.
static void
wait_owner(rt_env *e, const char *id, int ms)
{
	for (int waited = 0;; waited += 100) {
		char *out = rt_cli(e, NULL, "reconcilers");
		char *at  = strstr(out, id);
		bool  ok  = at != NULL && strstr(at, "alpha") != NULL
		    && strchr(at, '\n') != NULL
		    && strstr(at, "alpha") < strchr(at, '\n');
		if (ok) {
			free(out);
			return;
		}
		if (waited >= ms) {
			fail_msg("%s does not hold alpha:\n%s", id, out);
		}
		free(out);
		rt_sleep_ms(100);
	}
}

static char *
kselector(rt_env *e, const char *name)
{
	return (rt_kubectl(e, 0, NULL,
	    "get svc %s -n default -o jsonpath={.spec.selector.app}", name));
}

// The writes reconciler id made to Service name in cluster 0.
static int
writes_by(rt_env *e, const char *id, const char *name)
{
	kft_resp r;
	char     suffix[100];
	int      n = 0;
	memset(&r, 0, sizeof(r));
	snprintf(suffix, sizeof(suffix), "/services/%s", name);
	kft_do(&e->re_kf[0], "GET", "/_kubefake/writes", NULL, NULL, &r);
	assert_int_equal(r.r_code, 200);
	json_t *w = json_object_get(r.r_json, "writes");
	for (size_t k = 0; k < json_array_size(w); k++) {
		json_t     *x = json_array_get(w, k);
		const char *rec
		    = json_string_value(json_object_get(x, "reconciler"));
		const char *path
		    = json_string_value(json_object_get(x, "path"));
		size_t pl = path != NULL ? strlen(path) : 0;
		if (rec != NULL && strcmp(rec, id) == 0 && pl >= strlen(suffix)
		    && strcmp(path + pl - strlen(suffix), suffix) == 0) {
			n++;
		}
	}
	kft_resp_fini(&r);
	return (n);
}

static void
test_drifted_survives_claim_move(void **state)
{
	rt_env                 e;
	Svcfleet__V1__Service *s;
	char                   tok[600], *out;
	pid_t                  a, b;
	int                    st;
	(void) state;

	rt_start(&e, false);
	rt_cluster(&e, 0, "alpha", NULL);
	snprintf(tok, sizeof(tok), "%s/recon.token", e.re_srv.ts_dir);
	rt_reconciler_token(&e, tok);
	a = spawn(&e, "ra", tok);
	wait_owner(&e, "ra", 15000);
	free(rt_cli(&e, NULL,
	    "create service keep --cluster alpha --selector app=a --port 80 "
	    "--annotation svcfleet.io/drift-policy=Report"));
	svcfleet_free(rt_wait(&e, "alpha", "default", "keep", SYNCED, 15000));

	// Drift under Report: a state of its own, stored with the Service.
	free(rt_kubectl(&e, 0, NULL,
	    "patch svc keep -n default --type merge "
	    "-p {\\\"spec\\\":{\\\"selector\\\":{\\\"app\\\":\\\"b\\\"}}}"));
	s = rt_wait(&e, "alpha", "default", "keep", DRIFTED, 15000);
	assert_non_null(strstr(rt_status(s)->message, "drift policy Report"));
	assert_true(rt_status(s)->drift_want != 0);
	svcfleet_free(s);
	out = rt_cli(&e, NULL, "get services --cluster alpha");
	assert_non_null(strstr(out, "DRIFTED"));
	free(out);
	out = rt_cli(&e, NULL, "describe service keep --cluster alpha");
	assert_non_null(strstr(out, "DRIFTED"));
	free(out);

	// The claim moves: ra stops (SIGTERM hands its clusters over), rb
	// takes alpha.
	kill(a, SIGTERM);
	assert_int_equal(waitpid(a, &st, 0), a);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	b = spawn(&e, "rb", tok);
	wait_owner(&e, "rb", 15000);
	// rb has listed the cluster and decided on its Services once a
	// Service created now is synced by it.
	free(rt_cli(&e, NULL,
	    "create service mark --cluster alpha --selector app=a --port 80"));
	svcfleet_free(rt_wait(&e, "alpha", "default", "mark", SYNCED, 15000));
	assert_true(writes_by(&e, "rb", "mark") > 0);
	// It did not heal keep: no write, the change still there, still
	// DRIFTED.
	assert_int_equal(writes_by(&e, "rb", "keep"), 0);
	out = kselector(&e, "keep");
	assert_string_equal(out, "b");
	free(out);
	s = rt_get(&e, "alpha", "default", "keep");
	assert_int_equal(rt_status(s)->state, DRIFTED);
	svcfleet_free(s);
	// A new change there (of another field svcfleet applied: a change
	// to the selector again would leave svcfleet's fields as they are)
	// is reported by rb, and kept as well.
	free(rt_kubectl(&e, 0, NULL,
	    "patch svc keep -n default --type json -p "
	    "[{\\\"op\\\":\\\"replace\\\",\\\"path\\\":"
	    "\\\"/spec/ports/0/targetPort\\\",\\\"value\\\":81}]"));
	time_t until = time(NULL) + 20;
	for (;;) {
		int n = 0;
		out   = rt_cli(&e, NULL, "drift --cluster alpha");
		for (char *p = out;
		     (p = strstr(p, "alpha/default/keep ")) != NULL; p++) {
			n++;
		}
		if (n >= 2) {
			free(out);
			break;
		}
		if (time(NULL) > until) {
			fail_msg("rb reported no drift of keep:\n%s", out);
		}
		free(out);
		rt_sleep_ms(100);
	}
	assert_int_equal(writes_by(&e, "rb", "keep"), 0);
	out = kselector(&e, "keep");
	assert_string_equal(out, "b");
	free(out);

	kill(b, SIGTERM);
	assert_int_equal(waitpid(b, &st, 0), b);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	rt_stop(&e);
}

// The node ports a Service had are taken when it is made again: the
// cluster refuses them, and it is made with ports the cluster chooses.
static void
test_recreate_ports_taken(void **state)
{
	rt_env e;
	char   tok[600], *port, *after, *uid;
	pid_t  a;
	int    st, rc;
	(void) state;

	rt_start(&e, false);
	rt_cluster(&e, 0, "alpha", NULL);
	snprintf(tok, sizeof(tok), "%s/recon.token", e.re_srv.ts_dir);
	rt_reconciler_token(&e, tok);
	a = spawn(&e, "ra", tok);
	wait_owner(&e, "ra", 15000);
	free(rt_cli(&e, NULL,
	    "create service nport --cluster alpha --type nodeport --selector "
	    "app=a --port 80"));
	svcfleet_free(rt_wait(&e, "alpha", "default", "nport", SYNCED, 15000));
	for (int waited = 0;; waited += 50) {
		Svcfleet__V1__Service *s
		    = rt_get(&e, "alpha", "default", "nport");
		bool ok
		    = rt_status(s) != NULL && rt_status(s)->n_node_ports == 1;
		svcfleet_free(s);
		if (ok) {
			break;
		}
		if (waited >= 15000) {
			fail_msg("the status never recorded the node port");
		}
		rt_sleep_ms(50);
	}
	port = knodeports(&e, "nport");
	uid  = kuid(&e, "nport", NULL);

	// No reconciler: deleted, and its node port taken by another.
	kill(a, SIGTERM);
	assert_int_equal(waitpid(a, &st, 0), a);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	free(rt_kubectl(&e, 0, NULL, "delete svc nport -n default"));
	free(rt_kubectl(&e, 0, NULL,
	    "create service nodeport squat -n default --tcp=80:80 "
	    "--node-port=%s",
	    port));
	a = spawn(&e, "rb", tok);
	for (int waited = 0;; waited += 50) {
		char *u  = kuid(&e, "nport", &rc);
		bool  ok = rc == 0 && u[0] != '\0' && strcmp(u, uid) != 0;
		free(u);
		if (ok) {
			break;
		}
		if (waited >= 20000) {
			fail_msg("nport was not made again");
		}
		rt_sleep_ms(50);
	}
	after = knodeports(&e, "nport");
	assert_string_not_equal(after, port);
	assert_true(atoi(after) >= 30000);
	svcfleet_free(rt_wait(&e, "alpha", "default", "nport", SYNCED, 15000));
	kill(a, SIGTERM);
	assert_int_equal(waitpid(a, &st, 0), a);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	free(port);
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
	    cmocka_unit_test_teardown(
	        test_drifted_survives_claim_move, rt_teardown),
	    cmocka_unit_test_teardown(test_recreate_ports_taken, rt_teardown),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
