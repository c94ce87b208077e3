// claims_test.c: reconcilers claim clusters with leases and fencing tokens
// (issue 16). Three svcfleet-reconciler processes (lease TTL 3 s) share six
// kubefake clusters:
//   * every cluster is held by exactly one of them;
//   * kill -9 one: its clusters move to the others, and a change made
//     meanwhile reaches every cluster within TTL + 5 s;
//   * SIGSTOP one for 3 x TTL, then SIGCONT: its clusters moved, it applies
//     nothing with its old claim, and a report with its old token is
//     refused; kubefake's write log shows, per cluster, that the writes of
//     different owners never interleave and tokens only grow;
//   * the killed one comes back, then a fourth joins: only the clusters
//     the newcomer wins move, all to it (here 1 of 6);
//   * SIGTERM hands a reconciler's clusters over at once (< TTL);
//   * with no reconciler left, after 2 x TTL a cluster's Services read
//     SYNC_STATE_UNKNOWN (never SYNCED) and /readyz warns.
// Everything waits by polling with a deadline.
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

#define NCL        6
#define TTL_MS     3000
#define SYNCED     SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
#define UNKNOWN_ST SVCFLEET__V1__SYNC_STATE__SYNC_STATE_UNKNOWN

static const char *const names[NCL]
    = {"east", "west", "north", "south", "alpha", "omega"};

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

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

// owners fills owner[i] (static strings, "" = nobody) of every cluster
// from ListReconcilers and returns the number of live reconcilers.
static size_t
owners(rt_env *e, char owner[NCL][32], uint64_t token[NCL])
{
	Svcfleet__V1__ListReconcilersRequest req
	    = SVCFLEET__V1__LIST_RECONCILERS_REQUEST__INIT;
	Svcfleet__V1__ListReconcilersReply *rep = NULL;
	Svcfleet__V1__ListClustersRequest   lreq
	    = SVCFLEET__V1__LIST_CLUSTERS_REQUEST__INIT;
	Svcfleet__V1__ListClustersReply *lrep = NULL;
	size_t                           n;

	assert_int_equal(
	    svcfleet_list_reconcilers(e->re_cli, &req, &rep, &e->re_st), 0);
	for (int i = 0; i < NCL; i++) {
		owner[i][0] = '\0';
		int held    = 0;
		for (size_t k = 0; k < rep->n_reconcilers; k++) {
			for (size_t j = 0; j < rep->reconcilers[k]->n_clusters;
			     j++) {
				if (strcmp(rep->reconcilers[k]->clusters[j],
				        names[i])
				    == 0) {
					snprintf(owner[i], 32, "%s",
					    rep->reconcilers[k]->id);
					held++;
				}
			}
		}
		assert_true(held <= 1); // exclusive
	}
	n = rep->n_reconcilers;
	svcfleet_free(rep);
	// The same owners in ListClusters, with the tokens.
	assert_int_equal(
	    svcfleet_list_clusters(e->re_cli, &lreq, &lrep, &e->re_st), 0);
	for (size_t k = 0; k < lrep->n_clusters; k++) {
		for (int i = 0; i < NCL; i++) {
			if (strcmp(lrep->clusters[k]->name, names[i]) == 0
			    && token != NULL) {
				token[i] = lrep->clusters[k]->claim_token;
			}
		}
	}
	svcfleet_free(lrep);
	return (n);
}

// wait_owned waits until every cluster has an owner other than not (may
// be NULL) and n reconcilers are live; fills owner/token.
static void
wait_owned(rt_env *e, const char * not, size_t n, char owner[NCL][32],
    uint64_t token[NCL], int ms)
{
	int64_t until = now_ms() + ms;
	for (;;) {
		size_t live = owners(e, owner, token);
		bool   ok   = live == n;
		for (int i = 0; ok && i < NCL; i++) {
			ok = owner[i][0] != '\0'
			    && (not == NULL || strcmp(owner[i], not ) != 0);
		}
		if (ok) {
			return;
		}
		if (now_ms() > until) {
			fail_msg(
			    "after %d ms: %zu live, owners %s %s %s %s %s "
			    "%s",
			    ms, live, owner[0], owner[1], owner[2], owner[3],
			    owner[4], owner[5]);
		}
		rt_sleep_ms(100);
	}
}

// http_get returns the body of GET svcfleetd's path (curl; malloc'd).
static char *
http_get(rt_env *e, const char *path)
{
	char *out = NULL;
	assert_int_equal(
	    th_runf(&out, NULL, "curl -s %s%s", e->re_srv.ts_http, path), 0);
	return (out);
}

static void
create_all(rt_env *e, const char *svc)
{
	for (int i = 0; i < NCL; i++) {
		free(rt_cli(e, NULL,
		    "create service %s --cluster %s --selector app=a --port "
		    "80",
		    svc, names[i]));
	}
}

// wait_in_clusters waits until every cluster holds want managed Services.
static void
wait_in_clusters(rt_env *e, int want, int ms)
{
	int64_t until = now_ms() + ms;
	for (int i = 0; i < NCL; i++) {
		int n;
		while ((n = rt_count_managed(e, i, "default")) != want) {
			if (now_ms() > until) {
				fail_msg("cluster %s holds %d of %d services "
				         "after %d ms",
				    names[i], n, want, ms);
			}
			rt_sleep_ms(100);
		}
	}
}

// check_writes: in each cluster's write log, tokens never go down and one
// token is one reconciler's, so the writes of two owners never interleave.
// Returns how many writes reconciler id made with a token below min_tok
// after a write with a larger token existed (must be 0).
static void
check_writes(rt_env *e)
{
	for (int i = 0; i < NCL; i++) {
		kft_resp r;
		memset(&r, 0, sizeof(r));
		kft_do(
		    &e->re_kf[i], "GET", "/_kubefake/writes", NULL, NULL, &r);
		assert_int_equal(r.r_code, 200);
		json_t  *w            = json_object_get(r.r_json, "writes");
		uint64_t last         = 0;
		char     last_rec[80] = "";
		assert_true(json_array_size(w) > 0);
		for (size_t k = 0; k < json_array_size(w); k++) {
			json_t  *x   = json_array_get(w, k);
			uint64_t tok = (uint64_t) json_integer_value(
			    json_object_get(x, "token"));
			const char *rec = json_string_value(
			    json_object_get(x, "reconciler"));
			assert_non_null(rec);
			assert_true(rec[0] != '\0'); // every write says who
			if (tok < last) {
				fail_msg(
				    "cluster %s: write %zu by %s with token "
				    "%llu after token %llu (%s)",
				    names[i], k, rec, (unsigned long long) tok,
				    (unsigned long long) last, last_rec);
			}
			if (tok == last && strcmp(rec, last_rec) != 0) {
				fail_msg(
				    "cluster %s: token %llu used by %s and "
				    "%s",
				    names[i], (unsigned long long) tok, rec,
				    last_rec);
			}
			last = tok;
			snprintf(last_rec, sizeof(last_rec), "%s", rec);
		}
		kft_resp_fini(&r);
	}
}

// The rendezvous owner svcfleetd picks (server/claims.c).
static uint64_t
score(const char *cluster, const char *id)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (const char *s = cluster;; s++) {
		h ^= (unsigned char) *s;
		h *= UINT64_C(0x100000001b3);
		if (*s == '\0') {
			break;
		}
	}
	for (const char *s = id;; s++) {
		h ^= (unsigned char) *s;
		h *= UINT64_C(0x100000001b3);
		if (*s == '\0') {
			break;
		}
	}
	h = (h ^ (h >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	h = (h ^ (h >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (h ^ (h >> 31));
}

// wait_expected waits until the owners are the rendezvous owners among
// the live ids (live[k]) and fills owner.
static void
wait_expected(rt_env *e, const char *const ids[4], const bool live[4],
    char owner[NCL][32], int ms)
{
	int64_t until = now_ms() + ms;
	size_t  nlive = 0;
	for (int k = 0; k < 4; k++) {
		nlive += live[k];
	}
	for (;;) {
		bool done = owners(e, owner, NULL) == nlive;
		for (int i = 0; done && i < NCL; i++) {
			const char *best = NULL;
			uint64_t    bs   = 0;
			for (int k = 0; k < 4; k++) {
				uint64_t sc = score(names[i], ids[k]);
				if (live[k] && (best == NULL || sc > bs)) {
					best = ids[k];
					bs   = sc;
				}
			}
			done = strcmp(owner[i], best) == 0;
		}
		if (done) {
			return;
		}
		if (now_ms() > until) {
			fail_msg("owners did not settle in %d ms", ms);
		}
		rt_sleep_ms(100);
	}
}

static void
test_claims(void **state)
{
	rt_env      e;
	char        tok[400], o0[NCL][32], o1[NCL][32], o2[NCL][32];
	uint64_t    t0[NCL], t1[NCL];
	const char *ids[4] = {"rec-a", "rec-b", "rec-c", "rec-h"};
	pid_t       pid[4] = {0, 0, 0, 0};
	int         victim = -1, paused = -1;
	(void) state;

	rt_start(&e, false); // svcfleetd --no-reconciler
	for (int i = 0; i < NCL; i++) {
		rt_cluster(&e, i, names[i], NULL);
	}
	snprintf(tok, sizeof(tok), "%s/reconciler.token", e.re_srv.ts_dir);
	rt_reconciler_token(&e, tok);
	for (int k = 0; k < 3; k++) {
		pid[k] = spawn(&e, ids[k], tok);
	}
	create_all(&e, "svc-0");
	wait_owned(&e, NULL, 3, o0, t0, 20000);
	// Started together, the first to register held every cluster for a
	// moment; claims move to their rendezvous owners at the holders'
	// next renewals. Compare with the metrics only once they have.
	const bool first3[4] = {true, true, true, false};
	wait_expected(&e, ids, first3, o0, 20000);
	assert_int_equal(owners(&e, o0, t0), 3);
	wait_in_clusters(&e, 1, 20000);
	// Ownership shows in the metrics, and nothing is stale.
	char *m = http_get(&e, "/metrics");
	char  want[200];
	snprintf(want, sizeof(want),
	    "svcfleet_cluster_owner{cluster=\"east\",reconciler=\"%s\"} 1",
	    o0[0]);
	assert_non_null(strstr(m, want));
	assert_non_null(strstr(m, "svcfleet_cluster_last_sync_age_seconds{"));
	free(m);
	m = http_get(&e, "/readyz");
	assert_null(strstr(m, "warning"));
	free(m);

	// kill -9 the owner of the first cluster.
	for (int k = 0; k < 3 && victim < 0; k++) {
		victim = strcmp(o0[0], ids[k]) == 0 ? k : -1;
	}
	assert_true(victim >= 0);
	int64_t killed = now_ms();
	kill(pid[victim], SIGKILL);
	waitpid(pid[victim], NULL, 0);
	pid[victim] = 0;
	create_all(&e, "svc-1"); // the change made meanwhile
	wait_owned(&e, ids[victim], 2, o1, t1, TTL_MS + 5000);
	wait_in_clusters(&e, 2, (int) (TTL_MS + 5000 - (now_ms() - killed)));
	for (int i = 0; i < NCL; i++) {
		if (strcmp(o0[i], ids[victim]) != 0) {
			// The survivors kept theirs, with the same token.
			assert_string_equal(o0[i], o1[i]);
			assert_int_equal(t0[i], t1[i]);
		} else {
			assert_true(t1[i] > t0[i]);
		}
	}

	// SIGSTOP a survivor that holds something for 3 x TTL.
	for (int k = 0; k < 3 && paused < 0; k++) {
		for (int i = 0; k != victim && i < NCL; i++) {
			if (strcmp(o1[i], ids[k]) == 0) {
				paused = k;
			}
		}
	}
	assert_true(paused >= 0);
	int64_t stopped = now_ms();
	kill(pid[paused], SIGSTOP);
	wait_owned(&e, ids[paused], 1, o2, NULL, TTL_MS + 5000);
	create_all(&e, "svc-2"); // what the paused one must not apply
	wait_in_clusters(&e, 3, 15000);
	// A report with the paused one's old token is refused.
	for (int i = 0; i < NCL; i++) {
		if (strcmp(o1[i], ids[paused]) != 0) {
			continue;
		}
		Svcfleet__V1__ReportStatusRequest req
		    = SVCFLEET__V1__REPORT_STATUS_REQUEST__INIT;
		Svcfleet__V1__ServiceKey key = SVCFLEET__V1__SERVICE_KEY__INIT;
		Svcfleet__V1__ClusterStatus cs
		    = SVCFLEET__V1__CLUSTER_STATUS__INIT;
		Svcfleet__V1__ReportStatusReply *rep = NULL;
		key.cluster                          = (char *) names[i];
		key.namespace_                       = "default";
		key.name                             = "svc-0";
		cs.state                             = SYNCED;
		req.key                              = &key;
		req.status                           = &cs;
		req.claim_token                      = t1[i];
		req.reconciler_id                    = (char *) ids[paused];
		assert_int_equal(
		    svcfleet_report_status(e.re_cli, &req, &rep, &e.re_st),
		    SVCFLEET_FAILED_PRECONDITION);
		assert_non_null(strstr(e.re_st.message, "stale claim"));
		svcfleet_free(rep);
	}
	while (now_ms() - stopped < 3 * TTL_MS) {
		rt_sleep_ms(100); // the pause itself is the scenario
	}
	kill(pid[paused], SIGCONT);
	// It registers again and gets back what it wins, under new tokens.
	bool live[4] = {true, true, true, false};
	live[victim] = false;
	wait_expected(&e, ids, live, o2, 15000);
	create_all(&e, "svc-3");
	wait_in_clusters(&e, 4, 15000);
	check_writes(&e);

	// The killed one comes back (a new process, same id): three live.
	pid[victim]  = spawn(&e, ids[victim], tok);
	live[victim] = true;
	wait_expected(&e, ids, live, o2, 15000);

	// A fourth joins: only what it wins moves, all of it to the newcomer
	// (rendezvous hashing; with six clusters the share it wins depends on
	// the names: bench/multi/claims-bench measures it over many).
	char o3[NCL][32];
	int  moved = 0, won = 0;
	pid[3]  = spawn(&e, ids[3], tok);
	live[3] = true;
	wait_expected(&e, ids, live, o3, 15000);
	for (int i = 0; i < NCL; i++) {
		if (strcmp(o3[i], o2[i]) != 0) {
			moved++;
			assert_string_equal(o3[i], ids[3]);
		}
		won += strcmp(o3[i], ids[3]) == 0;
	}
	assert_int_equal(moved, won);
	assert_true(moved >= 1 && moved <= (NCL + 3) / 4);
	create_all(&e, "svc-4");
	wait_in_clusters(&e, 5, 15000);
	check_writes(&e);

	// A graceful stop (SIGTERM) unregisters: its lease ends and its
	// clusters move in that call, not when the lease runs out. Shown by
	// the server's log of that call (a deadline of one TTL from the
	// signal was no proof: under ASan on a busy machine the stop alone
	// took seconds).
	int leaving = -1;
	for (int k = 0; k < 4 && leaving < 0; k++) {
		for (int i = 0; live[k] && i < NCL; i++) {
			leaving = strcmp(o3[i], ids[k]) == 0 ? k : leaving;
		}
	}
	assert_true(leaving >= 0);
	int64_t term = now_ms();
	kill(pid[leaving], SIGTERM);
	waitpid(pid[leaving], NULL, 0);
	pid[leaving]  = 0;
	live[leaving] = false;
	wait_expected(&e, ids, live, o3, 15000);
	char  unreg[96];
	char *slog = th_read_file(e.re_srv.ts_log, NULL);
	snprintf(unreg, sizeof(unreg),
	    "reconciler %s unregistered: its clusters move now", ids[leaving]);
	if (slog == NULL || strstr(slog, unreg) == NULL) {
		free(slog);
		fail_msg("no \"%s\" in the server's log (%.1f s after "
		         "SIGTERM)",
		    unreg, (double) (now_ms() - term) / 1000);
	}
	free(slog);

	// Nobody left: after 2 x TTL without an owner the Services read
	// UNKNOWN, never SYNCED.
	for (int k = 0; k < 4; k++) {
		if (pid[k] > 0) {
			kill(pid[k], SIGKILL);
			waitpid(pid[k], NULL, 0);
		}
	}
	int64_t gone  = now_ms();
	int64_t until = gone + 4 * TTL_MS + 5000;
	for (;;) {
		Svcfleet__V1__Service *svc
		    = rt_get(&e, names[0], "default", "svc-0");
		const Svcfleet__V1__ClusterStatus *cs = rt_status(svc);
		assert_non_null(cs);
		int st = cs->state;
		svcfleet_free(svc);
		if (st == UNKNOWN_ST) {
			assert_true(now_ms() - gone >= 2 * TTL_MS);
			char *ready = http_get(&e, "/readyz");
			assert_non_null(strstr(ready, "ok\n"));
			assert_non_null(strstr(ready, "warning:"));
			assert_non_null(strstr(ready, "has no reconciler"));
			free(ready);
			m = http_get(&e, "/metrics");
			assert_non_null(
			    strstr(m, "svcfleet_claim_stale_reports_total"));
			assert_null(strstr(m, "svcfleet_cluster_owner{"));
			free(m);
			break;
		}
		assert_int_equal(st, SYNCED);
		assert_true(now_ms() < until);
		rt_sleep_ms(200);
	}
	rt_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_claims, rt_teardown),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
