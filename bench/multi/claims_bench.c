// claims_bench.c: cluster claims (issue 16), measured.
//
//   claims-bench [-k KUBEFAKES] [--trials N] [--ttl S1,S2,...]
//                [--move-clusters M] [--move-cycles C] [--move-ttl S]
//                [--keep]
//
// 1. Join and leave: M cluster records (spread over the K kubefakes,
//    nothing stored in them) and three svcfleet-reconciler processes
//    (lease TTL --move-ttl, 3 s). Once every cluster sits with its rendezvous
//    owner, C times a fourth reconciler (a new id each time) joins, then
//    leaves gracefully (SIGTERM); finally one of the three is killed (kill
//    -9). Each step counts the clusters whose owner changed, beside what a
//    static hash(cluster) mod N split (the former --shard I/N) would move
//    for the same names.
// 2. Takeover, for each TTL: K clusters (one kubefake each), three
//    reconcilers with that --lease-ttl. N trials: kill -9 a reconciler
//    that holds clusters (in turn), store a new Service in each of its
//    clusters at once, and time until every one of those clusters has a
//    new owner (ListReconcilers) AND holds the new Service (kubefake's
//    API). The victim is then started again and the owners settle before
//    the next trial.
// Every figure is also printed as "RESULT key=value" for bench/run-all.
// Binaries come from $SF_BIN_DIR (default ./build); nothing is left
// behind unless --keep.
#include "bench_proc.h"

#include <nng/nng.h>

#define MAXREC 8

typedef struct rec {
	char  id[32];
	pid_t pid;
} rec;

static rec  recs[MAXREC];
static char tokfile[400];
static char names[BP_MAX_CLUSTERS][16];
static int  nnames;

static void
bp_cleanup(void)
{
	for (int i = 0; i < MAXREC; i++) {
		bp_stop(&recs[i].pid, SIGKILL);
	}
	bp_stop_all();
	bp_rmdir();
}

static void
spawn_rec(int k, const char *id, int ttl_s)
{
	char        bin[600], log[400], url[450], ttl[16];
	const char *argv[] = {bin, "--server", url, "--token-file", tokfile,
	    "--id", recs[k].id, "--lease-ttl", ttl, "--resync", "1m",
	    "--log-level", "info", NULL};
	snprintf(recs[k].id, sizeof(recs[k].id), "%s", id);
	snprintf(bin, sizeof(bin),
	    "%s/cmd/svcfleet-reconciler/svcfleet-reconciler", bp_bindir);
	snprintf(url, sizeof(url), "ipc://%s", bp_sock);
	snprintf(ttl, sizeof(ttl), "%ds", ttl_s);
	snprintf(log, sizeof(log), "%s/%s.log", bp_dir, id);
	recs[k].pid = bp_spawn(argv, log, NULL);
}

// The rendezvous score svcfleetd gives (cluster, id): server/claims.c.
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

// A static split: FNV-1a of the name mod n.
static int
modshard(const char *cluster, int n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (const char *s = cluster; *s != '\0'; s++) {
		h ^= (unsigned char) *s;
		h *= UINT64_C(0x100000001b3);
	}
	return ((int) (h % (uint64_t) n));
}

// owners fills owner[i] (the id, "" = nobody) of every cluster and
// returns the number of live reconcilers.
static size_t
owners(svcfleet_client *c, char owner[][32])
{
	Svcfleet__V1__ListReconcilersRequest req
	    = SVCFLEET__V1__LIST_RECONCILERS_REQUEST__INIT;
	Svcfleet__V1__ListReconcilersReply *rep = NULL;
	svcfleet_status                     st;
	size_t                              n;
	svcfleet_status_init(&st);
	if (svcfleet_list_reconcilers(c, &req, &rep, &st) != 0) {
		bp_die("ListReconcilers: %s", st.message);
	}
	for (int i = 0; i < nnames; i++) {
		owner[i][0] = '\0';
	}
	for (size_t k = 0; k < rep->n_reconcilers; k++) {
		const Svcfleet__V1__Reconciler *r = rep->reconcilers[k];
		for (size_t j = 0; j < r->n_clusters; j++) {
			for (int i = 0; i < nnames; i++) {
				if (strcmp(r->clusters[j], names[i]) == 0) {
					snprintf(owner[i], 32, "%s", r->id);
				}
			}
		}
	}
	n = rep->n_reconcilers;
	svcfleet_free(rep);
	svcfleet_status_fini(&st);
	return (n);
}

// settle waits until the live reconcilers (recs[k].pid > 0) are all that
// is listed and every cluster sits with its rendezvous owner among them;
// fills owner and returns the seconds it took.
static double
settle(svcfleet_client *c, char owner[][32], double limit_s)
{
	double t0    = bp_now();
	size_t nlive = 0;
	for (int k = 0; k < MAXREC; k++) {
		nlive += recs[k].pid > 0;
	}
	for (;;) {
		bool done = owners(c, owner) == nlive;
		for (int i = 0; done && i < nnames; i++) {
			const char *best = NULL;
			uint64_t    bs   = 0;
			for (int k = 0; k < MAXREC; k++) {
				uint64_t s = score(names[i], recs[k].id);
				if (recs[k].pid > 0
				    && (best == NULL || s > bs)) {
					best = recs[k].id;
					bs   = s;
				}
			}
			done = strcmp(owner[i], best) == 0;
		}
		if (done) {
			return (bp_now() - t0);
		}
		if (bp_now() - t0 > limit_s) {
			bp_die("owners did not settle in %.0f s (see %s)",
			    limit_s, bp_dir);
		}
		bp_sleep_ms(50);
	}
}

static int
changed(char a[][32], char b[][32])
{
	int n = 0;
	for (int i = 0; i < nnames; i++) {
		n += strcmp(a[i], b[i]) != 0;
	}
	return (n);
}

static int
mod_moved(int from, int to)
{
	int n = 0;
	for (int i = 0; i < nnames; i++) {
		n += modshard(names[i], from) != modshard(names[i], to);
	}
	return (n);
}

// write_token makes a token for user "recon" bound to the reconciler
// role (only that role may read the clusters' credentials) and writes it
// where the reconcilers read it.
static void
write_token(svcfleet_client *c)
{
	Svcfleet__V1__CreateTokenRequest treq
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply        *trep = NULL;
	Svcfleet__V1__CreateRoleBindingRequest breq
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__RoleBinding  b    = SVCFLEET__V1__ROLE_BINDING__INIT;
	Svcfleet__V1__RoleBinding *brep = NULL;
	svcfleet_status            st;
	svcfleet_status_init(&st);
	treq.user = "recon";
	if (svcfleet_create_token(c, &treq, &trep, &st) != 0) {
		bp_die("CreateToken: %s", st.message);
	}
	snprintf(tokfile, sizeof(tokfile), "%s/recon.token", bp_dir);
	FILE *f = fopen(tokfile, "w");
	if (f == NULL || fprintf(f, "%s\n", trep->secret) < 0
	    || fclose(f) != 0) {
		bp_die("cannot write %s", tokfile);
	}
	svcfleet_free(trep);
	b.role       = "reconciler";
	b.user       = "recon";
	breq.binding = &b;
	if (svcfleet_create_role_binding(c, &breq, &brep, &st) != 0) {
		bp_die("CreateRoleBinding: %s", st.message);
	}
	svcfleet_free(brep);
	svcfleet_status_fini(&st);
}

static void
run_moves(int kf, int m, int cycles, int ttl)
{
	static char      o0[BP_MAX_CLUSTERS][32], o1[BP_MAX_CLUSTERS][32];
	svcfleet_client *c;
	int              join_sum = 0, leave_sum = 0, moved_to_new = 1;
	double           join_s[16], leave_s[16];

	bp_start_svcfleetd("moves", false);
	c = bp_connect("moves");
	write_token(c);
	nnames = m;
	for (int i = 0; i < m; i++) {
		snprintf(names[i], sizeof(names[i]), "m%d", i);
		bp_register(c, names[i], i % kf, NULL);
	}
	spawn_rec(0, "rec-a", ttl);
	spawn_rec(1, "rec-b", ttl);
	spawn_rec(2, "rec-c", ttl);
	settle(c, o0, 60);
	printf("join and leave: %d clusters, 3 reconcilers (TTL %d s); "
	       "expected share of a fourth: %d\n",
	    m, ttl, m / 4);
	for (int y = 0; y < cycles && y < 16; y++) {
		char id[32];
		snprintf(id, sizeof(id), "rec-new%d", y);
		spawn_rec(3, id, ttl);
		join_s[y]  = settle(c, o1, 60);
		int moved  = changed(o0, o1);
		int to_new = 0;
		for (int i = 0; i < m; i++) {
			to_new += strcmp(o1[i], id) == 0;
		}
		moved_to_new &= moved == to_new;
		join_sum += moved;
		bp_stop(&recs[3].pid, SIGTERM);
		leave_s[y] = settle(c, o1, 60);
		int back   = changed(o0, o1);
		leave_sum += to_new;
		printf("  %s joins: %d of %d clusters moved (%d to it), "
		       "settled in %.1f s; leaves (SIGTERM): %d moved back, "
		       "settled in %.1f s, %d differ from before\n",
		    id, moved, m, to_new, join_s[y], to_new, leave_s[y], back);
	}
	// kill -9 one of the three: what it held moves, nothing else.
	int nheld = 0;
	for (int i = 0; i < m; i++) {
		nheld += strcmp(o0[i], "rec-a") == 0;
	}
	double t0 = bp_now();
	bp_stop(&recs[0].pid, SIGKILL);
	settle(c, o1, 60);
	double crash_s = bp_now() - t0;
	int    crash   = changed(o0, o1);
	printf("  rec-a killed (-9): %d moved (it held %d), settled in "
	       "%.1f s\n",
	    crash, nheld, crash_s);
	printf("  a static hash(name) mod N split over the same names: "
	       "3->4 moves %d, 4->3 moves %d, 3->2 moves %d\n",
	    mod_moved(3, 4), mod_moved(4, 3), mod_moved(3, 2));
	printf("RESULT move_clusters=%d move_cycles=%d join_moved_avg=%.1f "
	       "leave_moved_avg=%.1f join_all_to_new=%d join_settle_s=%.1f "
	       "crash_moved=%d crash_held=%d mod_join_moved=%d "
	       "mod_leave_moved=%d mod_crash_moved=%d\n",
	    m, cycles, (double) join_sum / cycles, (double) leave_sum / cycles,
	    moved_to_new, bp_pct(join_s, cycles, 50), crash, nheld,
	    mod_moved(3, 4), mod_moved(4, 3), mod_moved(3, 2));
	// Nothing more to measure here: no graceful goodbyes.
	for (int k = 0; k < MAXREC; k++) {
		bp_stop(&recs[k].pid, SIGKILL);
	}
	svcfleet_close(c);
	bp_stop(&bp_srv, SIGKILL);
}

static void
run_takeover(int kf, int ttl, int trials, svcfleet_client *c, CURL *h)
{
	static char owner[BP_MAX_CLUSTERS][32], now[BP_MAX_CLUSTERS][32];
	double      take[64], claim[64];
	int         done   = 0;
	const char *ids[3] = {"rec-a", "rec-b", "rec-c"};

	for (int k = 0; k < 3; k++) {
		spawn_rec(k, ids[k], ttl);
	}
	settle(c, owner, 60 + 3 * ttl);
	for (int t = 0; t < trials && t < 64; t++) {
		char svc[32], path[100];
		bool mine[BP_MAX_CLUSTERS], arrived[BP_MAX_CLUSTERS];
		int  nmine = 0;
		// The next reconciler, in turn, that holds something.
		int victim = -1;
		for (int tries = 0; tries < 3 && victim < 0; tries++) {
			int k = (t + tries) % 3;
			nmine = 0;
			for (int i = 0; i < nnames; i++) {
				mine[i] = strcmp(owner[i], ids[k]) == 0;
				nmine += mine[i];
			}
			victim = nmine > 0 ? k : -1;
		}
		if (victim < 0) {
			bp_die("no reconciler holds a cluster");
		}
		snprintf(svc, sizeof(svc), "tk-%d-%d", ttl, t);
		snprintf(path, sizeof(path),
		    "/api/v1/namespaces/default/services/%s", svc);
		double t0 = bp_now();
		bp_stop(&recs[victim].pid, SIGKILL);
		svcfleet_status st;
		svcfleet_status_init(&st);
		for (int i = 0; i < nnames; i++) {
			arrived[i] = !mine[i];
			if (mine[i]
			    && bp_create_service(
			           c, names[i], "default", svc, &st)
			        != 0) {
				bp_die("create %s: %s", svc, st.message);
			}
		}
		svcfleet_status_fini(&st);
		double t_claim = 0, t_all = 0;
		while (t_all == 0) {
			double tn = bp_now();
			if (tn - t0 > 3 * ttl + 60) {
				bp_die(
				    "trial %d (TTL %d s): no takeover after "
				    "%.0f s",
				    t, ttl, tn - t0);
			}
			if (t_claim == 0) {
				owners(c, now);
				bool ok = true;
				for (int i = 0; ok && i < nnames; i++) {
					ok = !mine[i]
					    || (now[i][0] != '\0'
					        && strcmp(now[i], ids[victim])
					            != 0);
				}
				t_claim = ok ? bp_now() : 0;
			}
			bool all = true;
			for (int i = 0; i < nnames; i++) {
				if (!arrived[i]) {
					arrived[i]
					    = bp_kf_status(h, i, path) == 200;
					all &= arrived[i];
				}
			}
			if (all && t_claim != 0) {
				t_all = bp_now();
			} else {
				bp_sleep_ms(20);
			}
		}
		claim[done]  = t_claim - t0;
		take[done++] = t_all - t0;
		printf(
		    "  TTL %d s, trial %d: killed %s (held %d): new owners "
		    "after %.2f s, the new Service in all its clusters after "
		    "%.2f s\n",
		    ttl, t + 1, ids[victim], nmine, t_claim - t0, t_all - t0);
		fflush(stdout);
		// Back to three, settled, for the next trial.
		if (t + 1 < trials) {
			spawn_rec(victim, ids[victim], ttl);
			settle(c, owner, 60 + 3 * ttl);
		}
	}
	double c50 = bp_pct(claim, done, 50), c99 = bp_pct(claim, done, 99);
	double t50 = bp_pct(take, done, 50), t99 = bp_pct(take, done, 99);
	double tmax = bp_pct(take, done, 100);
	printf("TTL %d s, %d trials: takeover p50 %.2f s, p99 %.2f s (max "
	       "%.2f s); new owners alone p50 %.2f s, p99 %.2f s\n",
	    ttl, done, t50, t99, tmax, c50, c99);
	printf("RESULT ttl=%d trials=%d clusters=%d takeover_p50_s=%.2f "
	       "takeover_p99_s=%.2f takeover_max_s=%.2f claim_p50_s=%.2f "
	       "claim_p99_s=%.2f\n",
	    ttl, done, nnames, t50, t99, tmax, c50, c99);
	// The next TTL starts from nothing: these go without handing over.
	for (int k = 0; k < 3; k++) {
		bp_stop(&recs[k].pid, SIGKILL);
	}
	(void) kf;
}

int
main(int argc, char **argv)
{
	int  kf = 6, trials = 10, m = 60, cycles = 3, nttl = 0, ttls[8];
	int  mttl       = 3;
	char ttlarg[64] = "10,3";

	for (int i = 1; i < argc; i++) {
		const char *a    = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-k") == 0 && next != NULL) {
			kf = atoi(argv[++i]);
		} else if (strcmp(a, "--trials") == 0 && next != NULL) {
			trials = atoi(argv[++i]);
		} else if (strcmp(a, "--ttl") == 0 && next != NULL) {
			snprintf(ttlarg, sizeof(ttlarg), "%s", argv[++i]);
		} else if (strcmp(a, "--move-clusters") == 0 && next != NULL) {
			m = atoi(argv[++i]);
		} else if (strcmp(a, "--move-cycles") == 0 && next != NULL) {
			cycles = atoi(argv[++i]);
		} else if (strcmp(a, "--move-ttl") == 0 && next != NULL) {
			mttl = atoi(argv[++i]);
		} else if (strcmp(a, "--keep") == 0) {
			bp_keep = 1;
		} else {
			fprintf(stderr,
			    "usage: claims-bench [-k KUBEFAKES] [--trials N] "
			    "[--ttl S1,S2,...]\n"
			    "                    [--move-clusters M] "
			    "[--move-cycles C] [--move-ttl S] [--keep]\n");
			return (2);
		}
	}
	for (char *s = ttlarg, *end; *s != '\0' && nttl < 8;
	     s       = *end == ',' ? end + 1 : end) {
		ttls[nttl] = (int) strtol(s, &end, 10);
		if (end == s || ttls[nttl] < 1
		    || (*end != ',' && *end != '\0')) {
			fprintf(stderr, "--ttl: whole seconds, 1 or more\n");
			return (2);
		}
		nttl++;
	}
	if (kf < 1 || kf > BP_MAX_CLUSTERS || m < 4 || m > BP_MAX_CLUSTERS
	    || trials < 0 || trials > 64 || cycles < 0 || cycles > 16
	    || mttl < 1) {
		fprintf(stderr,
		    "bad -k, --trials, --move-clusters or "
		    "--move-cycles\n");
		return (2);
	}
	bp_init("claims-bench");
	setvbuf(stdout, NULL, _IOLBF, 0);
	double start = bp_now();
	printf("machine: %ld CPUs\n", sysconf(_SC_NPROCESSORS_ONLN));
	bp_start_kubefakes(kf);
	fprintf(stderr, "%.1f s: kubefakes up\n", bp_now() - start);
	if (cycles > 0) {
		run_moves(kf, m, cycles, mttl);
		fprintf(
		    stderr, "%.1f s: join and leave done\n", bp_now() - start);
	}
	if (trials > 0) {
		CURL *h = curl_easy_init();
		bp_start_svcfleetd("takeover", false);
		svcfleet_client *c = bp_connect("takeover");
		write_token(c);
		nnames = kf;
		for (int i = 0; i < kf; i++) {
			snprintf(names[i], sizeof(names[i]), "c%d", i);
			bp_register(c, names[i], i, NULL);
		}
		printf("takeover: %d clusters (one kubefake each), 3 "
		       "reconcilers, kill -9 one holding clusters\n",
		    kf);
		for (int i = 0; i < nttl; i++) {
			run_takeover(kf, ttls[i], trials, c, h);
		}
		svcfleet_close(c);
		curl_easy_cleanup(h);
	}
	bp_cleanup();
	fprintf(stderr, "%.1f s: all done\n", bp_now() - start);
	curl_global_cleanup();
	nng_fini();
	return (0);
}
