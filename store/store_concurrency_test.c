// store_concurrency_test.c: group commit under concurrent writers, and map
// growth while readers run. Threads other than the test's main thread only
// record what they see (cmocka's asserts belong to the main thread).
//
// On etcd (SF_STORE_BACKEND=etcd) the same writers and readers run; what
// is about LMDB's group commit and map growth is checked on LMDB only.
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "log.h"
#include "store.h"
#include "store_testutil.h"

#define WRITERS           8
#define WRITES_PER_WRITER 150

typedef struct writer_arg {
	sf_store *s;
	int       id;
	uint64_t  revs[WRITES_PER_WRITER];
	int       errors;
} writer_arg;

static void *
writer_main(void *arg)
{
	writer_arg *w = arg;
	sf_arena    a;

	sf_arena_init(&a);
	for (int i = 0; i < WRITES_PER_WRITER; i++) {
		char ns[16], name[32];
		snprintf(ns, sizeof(ns), "w%d", w->id);
		snprintf(name, sizeof(name), "svc-%04d", i);
		if (tu_put(w->s, &a, tu_svc(&a, "c1", ns, name, 0), true,
		        &w->revs[i])
		    != 0) {
			w->errors++;
		}
		sf_arena_reset(&a);
	}
	sf_arena_fini(&a);
	return (NULL);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
	return (x < y ? -1 : x > y);
}

// Eight threads each doing synchronous, durable writes: while the writer
// is in a commit (fsync) the others queue, so commits carry several writes.
static void
test_group_commit(void **state)
{
	char          *dir = tu_tmpdir();
	sf_store_opts  o   = {.so_dir = dir}; // durable
	sf_store      *s   = tu_open_opts(&o);
	uint64_t       b0  = sf_store_revision(s);
	writer_arg    *w   = calloc(WRITERS, sizeof(*w));
	pthread_t      t[WRITERS];
	uint64_t      *all = calloc(WRITERS * WRITES_PER_WRITER, sizeof(*all));
	sf_store_stats ss;
	int64_t        t0 = sf_clock_mono_us(), dt;

	(void) state;
	for (int i = 0; i < WRITERS; i++) {
		w[i].s  = s;
		w[i].id = i;
		assert_int_equal(
		    pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].errors, 0);
		memcpy(
		    all + i * WRITES_PER_WRITER, w[i].revs, sizeof(w[i].revs));
		// Each thread's writes got increasing revisions.
		for (int j = 1; j < WRITES_PER_WRITER; j++) {
			assert_true(w[i].revs[j] > w[i].revs[j - 1]);
		}
	}
	dt = sf_clock_mono_us() - t0;
	// Every write got its own revision, in a row without gaps.
	qsort(all, WRITERS * WRITES_PER_WRITER, sizeof(*all), cmp_u64);
	for (int i = 0; i < WRITERS * WRITES_PER_WRITER; i++) {
		assert_int_equal(all[i], b0 + (uint64_t) i + 1);
	}
	sf_store_stats_get(s, &ss);
	assert_int_equal(ss.ss_writes, WRITERS * WRITES_PER_WRITER);
	assert_int_equal(ss.ss_revision, b0 + WRITERS * WRITES_PER_WRITER);
	assert_int_equal(ss.ss_services, WRITERS * WRITES_PER_WRITER);
	if (!tu_etcd()) {
		// LMDB only: group commit (etcd batches proposals itself).
		assert_true(ss.ss_commits < ss.ss_writes);
		assert_true(ss.ss_batch_max > 1);
	}
	print_message("group commit: %d writers x %d durable writes: %" PRIu64
	              " commits, %.2f writes/commit, largest batch %" PRIu64
	              ", %.0f writes/s\n",
	    WRITERS, WRITES_PER_WRITER, ss.ss_commits,
	    (double) ss.ss_writes / (double) ss.ss_commits, ss.ss_batch_max,
	    (double) ss.ss_writes * 1e6 / (double) (dt > 0 ? dt : 1));
	sf_store_close(s);
	free(all);
	free(w);
	tu_rmrf(dir);
}

// Map growth --------------------------------------------------------------

// Requests of GROW_PER_REQ Services each: on LMDB enough to grow a
// 256 KiB map several times; etcd has no map to grow, and each Service
// costs it a round trip, so fewer there.
#define GROW_REQS_LMDB 160
#define GROW_REQS_ETCD 40
static int grow_reqs;
#define GROW_PER_REQ 25

typedef struct grow_state {
	sf_store   *s;
	uint64_t    base; // the revision after opening
	atomic_bool stop;
	atomic_int  read_errors;
	atomic_long reads;
	atomic_int  done_calls;
	atomic_int  done_errors;
	atomic_int  fn_runs;
} grow_state;

typedef struct grow_req {
	grow_state *g;
	int         first;
	sf_arena    a; // what is stored lives until the write is done
} grow_req;

static int
grow_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	grow_req *r  = arg;
	int       rv = 0;

	(void) st;
	atomic_fetch_add(&r->g->fn_runs, 1);
	for (int i = r->first; i < r->first + GROW_PER_REQ && rv == 0; i++) {
		char                   name[32];
		Svcfleet__V1__Service *svc;
		snprintf(name, sizeof(name), "svc-%05d", i);
		svc = tu_svc(&r->a, "c1", "dev", name, 30000 + i);
		// Some bulk, so the map fills quickly.
		for (int l = 0; l < 4; l++) {
			char k[16], v[80];
			snprintf(k, sizeof(k), "k%d", l);
			snprintf(v, sizeof(v), "%0*d", 70, i);
			tu_add_label(&r->a, svc, k, v);
		}
		rv = sf_store_txn_service_put(txn, svc, false);
	}
	return (rv);
}

static void
grow_done(void *arg, int code, uint64_t rev)
{
	grow_req *r = arg;
	(void) rev;
	atomic_fetch_add(&r->g->done_calls, 1);
	if (code != 0) {
		atomic_fetch_add(&r->g->done_errors, 1);
	}
}

static void *
reader_main(void *arg)
{
	grow_state *g = arg;
	sf_arena    a;
	sf_status   st;
	unsigned    seed = (unsigned) (uintptr_t) &a;

	sf_arena_init(&a);
	sf_status_init(&st);
	while (!atomic_load(&g->stop)) {
		char                       name[32];
		Svcfleet__V1__Service     *svc;
		Svcfleet__V1__WatchEvent **ev;
		size_t                     n;
		uint64_t                   next;
		sf_store_stats             ss;
		int                        rv;

		snprintf(name, sizeof(name), "svc-%05d",
		    rand_r(&seed) % (grow_reqs * GROW_PER_REQ));
		sf_store_key k = {"c1", "dev", name};
		rv = sf_store_service_get(g->s, &k, sf_arena_pbc(&a), &svc);
		if (rv != 0 && rv != SF_NOT_FOUND) {
			atomic_fetch_add(&g->read_errors, 1);
		}
		if (rv == 0 && strcmp(svc->metadata->name, name) != 0) {
			atomic_fetch_add(&g->read_errors, 1);
		}
		sf_store_list_req req = {.lr_cluster = "c1", .lr_limit = 50};
		sf_store_list_res res;
		if (sf_store_service_list(
		        g->s, &req, sf_arena_pbc(&a), &res, &st)
		    != 0) {
			atomic_fetch_add(&g->read_errors, 1);
		}
		rv = sf_store_feed_read(
		    g->s, g->base, 20, NULL, sf_arena_pbc(&a), &ev, &n, &next);
		if (rv != 0) {
			atomic_fetch_add(&g->read_errors, 1);
		}
		sf_store_stats_get(g->s, &ss);
		sf_arena_reset(&a);
		atomic_fetch_add(&g->reads, 1);
		if (tu_etcd()) {
			// Remote reads: readers that spin would only measure
			// how much CPU etcd gets on 2 cores.
			usleep(10000);
		}
	}
	sf_status_fini(&st);
	sf_arena_fini(&a);
	return (NULL);
}

static void
test_map_growth(void **state)
{
	char          *dir = tu_tmpdir();
	grow_state     g;
	grow_req      *reqs = calloc(grow_reqs, sizeof(*reqs));
	pthread_t      rd[4];
	sf_store_stats ss;

	(void) state;
	memset(&g, 0, sizeof(g));
	g.s    = tu_open(dir, 256 << 10, 0); // a 256 KiB map: it must grow
	g.base = sf_store_revision(g.s);
	sf_store_stats_get(g.s, &ss);
	if (!tu_etcd()) {
		assert_int_equal(ss.ss_map_size, 256 << 10);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(
		    pthread_create(&rd[i], NULL, reader_main, &g), 0);
	}
	// Queue everything at once: batches of many requests hit the full
	// map in their middle and are run again whole.
	for (int i = 0; i < grow_reqs; i++) {
		reqs[i].g     = &g;
		reqs[i].first = i * GROW_PER_REQ;
		sf_arena_init(&reqs[i].a);
		sf_store_write w = {
		    .w_fn = grow_fn, .w_done = grow_done, .w_arg = &reqs[i]};
		assert_int_equal(sf_store_submit(g.s, &w), 0);
	}
	// A synchronous write after them returns when all are done.
	sf_arena a;
	sf_arena_init(&a);
	assert_int_equal(
	    tu_put(g.s, &a, tu_svc(&a, "c2", "dev", "last", 0), true, NULL),
	    0);
	atomic_store(&g.stop, true);
	for (int i = 0; i < 4; i++) {
		pthread_join(rd[i], NULL);
	}
	assert_int_equal(atomic_load(&g.done_calls), grow_reqs);
	assert_int_equal(atomic_load(&g.done_errors), 0);
	assert_int_equal(atomic_load(&g.read_errors), 0);
	assert_true(atomic_load(&g.reads) > 0);
	sf_store_stats_get(g.s, &ss);
	if (!tu_etcd()) {
		// LMDB only: the map grew, and batches hit by MDB_MAP_FULL
		// ran their functions again.
		assert_true(ss.ss_map_grows >= 3);
		assert_true(ss.ss_map_size >= (256u << 10) << ss.ss_map_grows);
		assert_true(ss.ss_map_used <= ss.ss_map_size);
		assert_true(atomic_load(&g.fn_runs) > grow_reqs);
	}
	assert_int_equal(ss.ss_services, grow_reqs * GROW_PER_REQ + 1);
	assert_int_equal(ss.ss_writes, grow_reqs + 1);
	print_message("map growth: %" PRIu64 " grows to %" PRIu64
	              " KiB, %d fn runs for %d requests, %ld reads\n",
	    ss.ss_map_grows, ss.ss_map_size >> 10, atomic_load(&g.fn_runs),
	    grow_reqs, atomic_load(&g.reads));

	// Everything intact, and still so after a reopen (which keeps the
	// grown map rather than the configured 256 KiB).
	uint64_t grown = ss.ss_map_size;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < grow_reqs * GROW_PER_REQ; i++) {
			char name[32], v[80];
			snprintf(name, sizeof(name), "svc-%05d", i);
			snprintf(v, sizeof(v), "%0*d", 70, i);
			Svcfleet__V1__Service *svc
			    = tu_get(g.s, "c1", "dev", name);
			assert_non_null(svc);
			assert_int_equal(svc->metadata->n_labels, 4);
			assert_string_equal(
			    svc->metadata->labels[3]->value, v);
			assert_int_equal(
			    svc->spec->ports[0]->node_port, 30000 + i);
			svcfleet__v1__service__free_unpacked(svc, NULL);
		}
		if (pass == 0) {
			sf_store_close(g.s);
			g.s = tu_open(dir, 256 << 10, 0);
			sf_store_stats_get(g.s, &ss);
			if (!tu_etcd()) {
				assert_int_equal(ss.ss_map_size, grown);
			}
			assert_int_equal(
			    ss.ss_services, grow_reqs * GROW_PER_REQ + 1);
		}
	}
	sf_arena_fini(&a);
	sf_store_close(g.s);
	for (int i = 0; i < grow_reqs; i++) {
		sf_arena_fini(&reqs[i].a);
	}
	free(reqs);
	tu_rmrf(dir);
}

int
main(void)
{
	if (tu_skip()) {
		return (77);
	}
	grow_reqs = tu_etcd() ? GROW_REQS_ETCD : GROW_REQS_LMDB;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_group_commit),
	    cmocka_unit_test(test_map_growth),
	};
	sf_log_set_level(SF_LOG_WARN);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
