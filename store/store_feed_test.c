// store_feed_test.c: the change feed: events and their revisions, DELETED
// carrying the last state, *next, filters, several Services in one write,
// compaction and OUT_OF_RANGE. Revisions count from the store's revision
// after it opened (f->base): on etcd the revision is etcd's.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lmdb_internal.h"
#include "log.h"
#include "store.h"
#include "store_testutil.h"

#define ADDED    SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_ADDED
#define MODIFIED SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_MODIFIED
#define DELETED  SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_DELETED

typedef struct fixture {
	char     *dir;
	sf_store *s;
	sf_arena  a;    // messages the test builds
	sf_arena  ra;   // what reads return
	uint64_t  base; // the revision after opening
} fixture;

static int
setup_keep(void **state, uint32_t keep)
{
	fixture *f = calloc(1, sizeof(*f));
	f->dir     = tu_tmpdir();
	f->s       = tu_open(f->dir, 0, keep);
	f->base    = sf_store_revision(f->s);
	sf_arena_init(&f->a);
	sf_arena_init(&f->ra);
	*state = f;
	return (0);
}

static int
setup(void **state)
{
	return (setup_keep(state, 0));
}

static int
setup_keep10(void **state)
{
	return (setup_keep(state, 10));
}

static int
teardown(void **state)
{
	fixture *f = *state;
	sf_store_close(f->s);
	sf_arena_fini(&f->a);
	sf_arena_fini(&f->ra);
	tu_rmrf(f->dir);
	free(f);
	return (0);
}

// feed reads after base + since; *next comes back relative to base too.
static int
feed(fixture *f, uint64_t since, uint32_t max, const sf_store_filter *flt,
    Svcfleet__V1__WatchEvent ***ev, size_t *n, uint64_t *next)
{
	int rv = sf_store_feed_read(f->s, f->base + since, max, flt,
	    sf_arena_pbc(&f->ra), ev, n, next);
	*next -= f->base;
	return (rv);
}

static void
test_events(void **state)
{
	fixture                   *f = *state;
	Svcfleet__V1__WatchEvent **ev;
	size_t                     n;
	uint64_t                   next;
	Svcfleet__V1__Service     *a = tu_svc(&f->a, "c1", "dev", "alpha", 0);

	assert_int_equal(tu_put(f->s, &f->a, a, true, NULL), 0);
	a->spec->ports[0]->port = 81;
	assert_int_equal(tu_put(f->s, &f->a, a, false, NULL), 0);
	assert_int_equal(
	    tu_put(f->s, &f->a, tu_svc(&f->a, "c1", "dev", "beta", 0), true,
	        NULL),
	    0);
	assert_int_equal(tu_delete(f->s, "c1", "dev", "alpha", NULL), 0);

	assert_int_equal(feed(f, 0, 100, NULL, &ev, &n, &next), 0);
	assert_int_equal(n, 4);
	assert_int_equal(next, 4);
	static const Svcfleet__V1__EventType types[]
	    = {ADDED, MODIFIED, ADDED, DELETED};
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ev[i]->type, types[i]);
		assert_int_equal(ev[i]->revision, f->base + i + 1);
		assert_int_equal(ev[i]->service->metadata->resource_version,
		    f->base + i + 1);
	}
	assert_string_equal(ev[1]->service->metadata->name, "alpha");
	assert_int_equal(ev[1]->service->metadata->generation, 2);
	// DELETED: the last stored state, at the deletion's revision.
	assert_string_equal(ev[3]->service->metadata->name, "alpha");
	assert_int_equal(ev[3]->service->spec->ports[0]->port, 81);
	assert_int_equal(ev[3]->service->metadata->generation, 2);
	assert_string_equal(
	    ev[3]->service->metadata->uid, ev[0]->service->metadata->uid);

	// Nothing newer: next is the current revision.
	assert_int_equal(feed(f, 4, 100, NULL, &ev, &n, &next), 0);
	assert_int_equal(n, 0);
	assert_int_equal(next, 4);
	assert_int_equal(feed(f, 2, 100, NULL, &ev, &n, &next), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ev[0]->revision, f->base + 3);
	// max stops early; next is the last revision returned.
	assert_int_equal(feed(f, 0, 2, NULL, &ev, &n, &next), 0);
	assert_int_equal(n, 2);
	assert_int_equal(next, 2);
	assert_int_equal(feed(f, next, 2, NULL, &ev, &n, &next), 0);
	assert_int_equal(n, 2);
	assert_int_equal(next, 4);

	assert_int_equal(
	    feed(f, 0, 0, NULL, &ev, &n, &next), SF_INVALID_ARGUMENT);
	assert_int_equal(
	    feed(f, 5, 10, NULL, &ev, &n, &next), SF_OUT_OF_RANGE);

	// Heap results.
	assert_int_equal(sf_store_feed_read(f->s, f->base, 100000, NULL, NULL,
	                     &ev, &n, &next),
	    0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		svcfleet__v1__watch_event__free_unpacked(ev[i], NULL);
	}
	free(ev);
}

static bool
only_c2(void *arg, const char *cluster, const char *ns)
{
	(void) arg;
	(void) ns;
	return (strcmp(cluster, "c2") == 0);
}

static bool
only_gamma(void *arg, const Svcfleet__V1__Service *svc)
{
	(void) arg;
	return (strcmp(svc->metadata->name, "gamma") == 0);
}

static int
cluster_put_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	(void) st;
	return (sf_store_txn_cluster_put(txn, arg, false));
}

static void
test_filter_and_next(void **state)
{
	fixture                   *f = *state;
	Svcfleet__V1__WatchEvent **ev;
	size_t                     n;
	uint64_t                   next;
	sf_store_filter            flt = {.f_key = only_c2};
	Svcfleet__V1__Cluster      c   = SVCFLEET__V1__CLUSTER__INIT;

	tu_put(
	    f->s, &f->a, tu_svc(&f->a, "c1", "dev", "alpha", 0), true, NULL);
	tu_put(f->s, &f->a, tu_svc(&f->a, "c2", "dev", "beta", 0), true, NULL);
	tu_put(
	    f->s, &f->a, tu_svc(&f->a, "c2", "dev", "gamma", 0), true, NULL);
	tu_put(
	    f->s, &f->a, tu_svc(&f->a, "c1", "dev", "delta", 0), true, NULL);
	// A cluster write uses a revision but appends no event.
	c.name           = "c3";
	sf_store_write w = {.w_fn = cluster_put_fn, .w_arg = &c};
	uint64_t       cluster_rev;
	assert_int_equal(sf_store_write_sync(f->s, &w, &cluster_rev), 0);
	assert_int_equal(cluster_rev, f->base + 5);

	assert_int_equal(feed(f, 0, 100, &flt, &ev, &n, &next), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ev[0]->service->metadata->name, "beta");
	assert_string_equal(ev[1]->service->metadata->name, "gamma");
	assert_int_equal(next, 5); // to the end, the cluster write included

	// Stopping at max: next is the last revision examined, even when
	// it was filtered out, so the following read does not redo it.
	assert_int_equal(feed(f, 0, 1, &flt, &ev, &n, &next), 0);
	assert_int_equal(n, 1);
	assert_int_equal(next, 2);

	sf_store_filter flt2 = {.f_key = only_c2, .f_obj = only_gamma};
	assert_int_equal(feed(f, 0, 100, &flt2, &ev, &n, &next), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0]->service->metadata->name, "gamma");
	assert_int_equal(next, 5);
}

typedef struct multi_arg {
	sf_arena *a;
	int       base;
} multi_arg;

// One write that creates three Services: three events, one revision.
static int
multi_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	multi_arg *m = arg;
	(void) st;
	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "m%d-%d", m->base, i);
		int rv = sf_store_txn_service_put(
		    txn, tu_svc(m->a, "c1", "dev", name, 0), true);
		if (rv != 0) {
			return (rv);
		}
	}
	return (0);
}

static void
test_multi_event_revision(void **state)
{
	fixture                   *f = *state;
	Svcfleet__V1__WatchEvent **ev;
	size_t                     n;
	uint64_t                   next, rev;
	multi_arg                  m = {&f->a, 0};
	sf_store_write             w = {.w_fn = multi_fn, .w_arg = &m};

	tu_put(
	    f->s, &f->a, tu_svc(&f->a, "c1", "dev", "first", 0), true, NULL);
	assert_int_equal(sf_store_write_sync(f->s, &w, &rev), 0);
	assert_int_equal(rev, f->base + 2);
	// max 2 does not split revision 2.
	assert_int_equal(feed(f, 0, 2, NULL, &ev, &n, &next), 0);
	assert_int_equal(n, 4);
	assert_int_equal(next, 2);
	for (size_t i = 1; i < 4; i++) {
		assert_int_equal(ev[i]->revision, f->base + 2);
		assert_int_equal(
		    ev[i]->service->metadata->resource_version, f->base + 2);
	}
	assert_int_equal(feed(f, 1, 1, NULL, &ev, &n, &next), 0);
	assert_int_equal(n, 3);
	assert_int_equal(next, 2);
}

static void
test_compaction(void **state)
{
	if (tu_etcd()) {
		// LMDB only: the feed kept as so_feed_keep entries (etcd's
		// compaction of its history is in store_etcd_test).
		skip();
	}
	fixture                   *f = *state;
	Svcfleet__V1__WatchEvent **ev;
	size_t                     n;
	uint64_t                   next, cnt;
	sf_store_stats             ss;

	for (int i = 0; i < 30; i++) {
		char name[16];
		snprintf(name, sizeof(name), "svc-%02d", i);
		assert_int_equal(
		    tu_put(f->s, &f->a, tu_svc(&f->a, "c1", "dev", name, 0),
		        true, NULL),
		    0);
	}
	sf_store_stats_get(f->s, &ss);
	assert_int_equal(ss.ss_revision, 30);
	assert_int_equal(ss.ss_feed_first, 21);
	assert_int_equal(sf__store_count_raw(f->s, SF__DB_FEED, &cnt), 0);
	assert_int_equal(cnt, 10);

	assert_int_equal(
	    feed(f, 0, 100, NULL, &ev, &n, &next), SF_OUT_OF_RANGE);
	assert_int_equal(
	    feed(f, 19, 100, NULL, &ev, &n, &next), SF_OUT_OF_RANGE);
	assert_int_equal(feed(f, 20, 100, NULL, &ev, &n, &next), 0);
	assert_int_equal(n, 10);
	assert_int_equal(ev[0]->revision, 21);
	assert_int_equal(next, 30);
	assert_int_equal(feed(f, 30, 100, NULL, &ev, &n, &next), 0);
	assert_int_equal(n, 0);
	assert_int_equal(
	    feed(f, 31, 100, NULL, &ev, &n, &next), SF_OUT_OF_RANGE);

	// The floor survives a reopen; a smaller keep trims the backlog on
	// the next write; several events of one revision go together.
	sf_store_close(f->s);
	f->s = tu_open(f->dir, 0, 4);
	assert_int_equal(
	    feed(f, 19, 100, NULL, &ev, &n, &next), SF_OUT_OF_RANGE);
	multi_arg      m = {&f->a, 1};
	sf_store_write w = {.w_fn = multi_fn, .w_arg = &m};
	assert_int_equal(sf_store_write_sync(f->s, &w, NULL), 0);
	assert_int_equal(sf__store_count_raw(f->s, SF__DB_FEED, &cnt), 0);
	assert_int_equal(cnt, 4); // 13 entries, trimmed to the newest 4
	sf_store_stats_get(f->s, &ss);
	assert_int_equal(ss.ss_feed_first, 30);
	assert_int_equal(
	    feed(f, 28, 100, NULL, &ev, &n, &next), SF_OUT_OF_RANGE);
	assert_int_equal(feed(f, 29, 100, NULL, &ev, &n, &next), 0);
	assert_int_equal(n, 4);
	// Trimming never leaves part of a revision: one more write of
	// three drops revision 30 and, of 31, all three or none.
	m.base = 2;
	assert_int_equal(sf_store_write_sync(f->s, &w, NULL), 0);
	assert_int_equal(sf__store_count_raw(f->s, SF__DB_FEED, &cnt), 0);
	assert_int_equal(cnt, 3);
	assert_int_equal(feed(f, 31, 100, NULL, &ev, &n, &next), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ev[0]->revision, 32);
	assert_int_equal(
	    feed(f, 30, 100, NULL, &ev, &n, &next), SF_OUT_OF_RANGE);
}

int
main(void)
{
	if (tu_skip()) {
		return (77);
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_filter_and_next, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_multi_event_revision, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_compaction, setup_keep10, teardown),
	};
	sf_log_set_level(SF_LOG_WARN);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
