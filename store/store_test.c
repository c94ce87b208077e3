// store_test.c: the store's core behaviour through its API: revisions and
// bookkeeping, failing/dry-run/audited writes, keys, reopening, schema and
// directory checks, the node-port index, clusters, closing, the hook.
//
// Runs against the backend $SF_STORE_BACKEND names (store_testutil.h).
// Revisions are counted from the store's revision after it opened: on etcd
// the revision is etcd's, which the store's own bookkeeping moves too.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lmdb_internal.h"
#include "log.h"
#include "store.h"
#include "store_testutil.h"

typedef struct fixture {
	char     *dir;
	sf_store *s;
	sf_arena  a;
	uint64_t  base; // the revision after opening
} fixture;

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	f->dir     = tu_tmpdir();
	f->s       = tu_open(f->dir, 0, 0);
	f->base    = sf_store_revision(f->s);
	sf_arena_init(&f->a);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	fixture *f = *state;
	sf_store_close(f->s);
	sf_arena_fini(&f->a);
	tu_rmrf(f->dir);
	free(f);
	return (0);
}

// A write function that does nothing (no revision is used up).
static int
noop_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	(void) txn;
	(void) arg;
	(void) st;
	return (0);
}

static void
test_open_new(void **state)
{
	char          *base = tu_tmpdir();
	char           dir[4096];
	struct stat    sb;
	sf_store      *s;
	sf_store_stats ss;
	const char    *id;

	(void) state;
	snprintf(dir, sizeof(dir), "%s/a/b", base);
	s = tu_open(dir, 0, 0);
	sf_store_stats_get(s, &ss);
	assert_int_equal(ss.ss_services, 0);
	assert_true(ss.ss_map_used > 0);
	if (!tu_etcd()) {
		// LMDB only: the data directory, the map and a revision that
		// starts at 0 (etcd's is shared and never 0).
		assert_int_equal(stat(dir, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0700);
		assert_int_equal(ss.ss_revision, 0);
		assert_int_equal(ss.ss_map_size, 64u << 20);
	}
	id = sf_store_installation_id(s);
	assert_int_equal(strlen(id), 36);
	assert_int_equal(id[14], '4'); // version 4 UUID
	sf_store_close(s);
	sf_store_close(NULL);
	tu_rmrf(base);
}

static void
test_revisions(void **state)
{
	fixture               *f = *state;
	Svcfleet__V1__Service *a = tu_svc(&f->a, "c1", "dev", "alpha", 0);
	Svcfleet__V1__Service *b = tu_svc(&f->a, "c1", "dev", "beta", 0);
	uint64_t               rev, b0 = f->base;
	sf_store_write         w = {.w_fn = noop_fn};

	assert_int_equal(tu_put(f->s, &f->a, a, true, &rev), 0);
	assert_int_equal(rev, b0 + 1);
	assert_int_equal(a->metadata->resource_version, b0 + 1);
	assert_int_equal(tu_put(f->s, &f->a, b, true, &rev), 0);
	assert_int_equal(rev, b0 + 2);
	assert_int_equal(tu_put(f->s, &f->a, a, false, &rev), 0);
	assert_int_equal(rev, b0 + 3);
	assert_int_equal(a->metadata->resource_version, b0 + 3);
	assert_int_equal(sf_store_revision(f->s), b0 + 3);

	// A write that changes nothing uses up no revision.
	assert_int_equal(sf_store_write_sync(f->s, &w, &rev), 0);
	assert_int_equal(rev, 0);
	assert_int_equal(sf_store_revision(f->s), b0 + 3);

	Svcfleet__V1__Service *got = tu_get(f->s, "c1", "dev", "alpha");
	assert_non_null(got);
	assert_int_equal(got->metadata->resource_version, b0 + 3);
	svcfleet__v1__service__free_unpacked(got, NULL);
	got = tu_get(f->s, "c1", "dev", "beta");
	assert_int_equal(got->metadata->resource_version, b0 + 2);
	svcfleet__v1__service__free_unpacked(got, NULL);
}

static void
test_bookkeeping(void **state)
{
	fixture               *f = *state;
	Svcfleet__V1__Service *a = tu_svc(&f->a, "c1", "dev", "alpha", 0);
	Svcfleet__V1__Service *got;
	char                   uid[40];
	int64_t                created;

	a->metadata->uid            = "caller-made-uid";
	a->metadata->generation     = 42;
	a->metadata->create_time_ms = 7;
	assert_int_equal(tu_put(f->s, &f->a, a, true, NULL), 0);
	assert_int_equal(strlen(a->metadata->uid), 36);
	assert_string_not_equal(a->metadata->uid, "caller-made-uid");
	assert_int_equal(a->metadata->generation, 1);
	assert_true(a->metadata->create_time_ms > 1600000000000);
	assert_int_equal(
	    a->metadata->update_time_ms, a->metadata->create_time_ms);
	snprintf(uid, sizeof(uid), "%s", a->metadata->uid);
	created = a->metadata->create_time_ms;

	// An update from a caller that knows nothing of the bookkeeping,
	// with the same spec and new labels: no new generation.
	Svcfleet__V1__Service *b = tu_svc(&f->a, "c1", "dev", "alpha", 0);
	b->metadata->created_by  = "impostor";
	tu_add_label(&f->a, b, "tier", "web");
	usleep(2000);
	assert_int_equal(tu_put(f->s, &f->a, b, false, NULL), 0);
	assert_string_equal(b->metadata->uid, uid);
	assert_string_equal(b->metadata->created_by, "tester");
	assert_int_equal(b->metadata->generation, 1);
	assert_int_equal(b->metadata->create_time_ms, created);
	assert_true(b->metadata->update_time_ms > created);

	// A spec change bumps the generation.
	b->spec->ports[0]->port = 81;
	assert_int_equal(tu_put(f->s, &f->a, b, false, NULL), 0);
	assert_int_equal(b->metadata->generation, 2);
	// Status, finalizers and deleting are stored as the caller set them.
	Svcfleet__V1__ClusterStatus  cs  = SVCFLEET__V1__CLUSTER_STATUS__INIT;
	Svcfleet__V1__ClusterStatus *csp = &cs;
	char                        *fin[] = {"svcfleet.io/cluster"};
	cs.cluster                         = "c1";
	cs.state               = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED;
	cs.observed_generation = 2;
	b->n_status            = 1;
	b->status              = &csp;
	b->metadata->n_finalizers = 1;
	b->metadata->finalizers   = fin;
	b->metadata->deleting     = true;
	assert_int_equal(tu_put(f->s, &f->a, b, false, NULL), 0);
	assert_int_equal(b->metadata->generation, 2);
	b->status                 = NULL;
	b->n_status               = 0;
	b->metadata->finalizers   = NULL;
	b->metadata->n_finalizers = 0;

	got = tu_get(f->s, "c1", "dev", "alpha");
	assert_non_null(got);
	assert_string_equal(got->metadata->uid, uid);
	assert_int_equal(got->metadata->generation, 2);
	assert_int_equal(got->metadata->n_labels, 1);
	assert_int_equal(got->spec->ports[0]->port, 81);
	assert_int_equal(got->n_status, 1);
	assert_int_equal(got->status[0]->state,
	    SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED);
	assert_int_equal(got->metadata->n_finalizers, 1);
	assert_true(got->metadata->deleting);
	svcfleet__v1__service__free_unpacked(got, NULL);
}

static void
test_create_only(void **state)
{
	fixture               *f = *state;
	Svcfleet__V1__Service *a = tu_svc(&f->a, "c1", "dev", "alpha", 0);
	Svcfleet__V1__Service *b = tu_svc(&f->a, "c1", "dev", "alpha", 0);
	sf_store_stats         before, after;
	uint64_t               rev = 99;

	assert_int_equal(tu_put(f->s, &f->a, a, true, NULL), 0);
	sf_store_stats_get(f->s, &before);
	b->spec->ports[0]->port = 99;
	assert_int_equal(
	    tu_put(f->s, &f->a, b, true, &rev), SF_ALREADY_EXISTS);
	assert_int_equal(rev, 0);
	sf_store_stats_get(f->s, &after);
	assert_int_equal(after.ss_revision, before.ss_revision);
	assert_int_equal(after.ss_failed, before.ss_failed + 1);
	Svcfleet__V1__Service *got = tu_get(f->s, "c1", "dev", "alpha");
	assert_int_equal(got->spec->ports[0]->port, 80);
	assert_int_equal(got->metadata->resource_version, f->base + 1);
	svcfleet__v1__service__free_unpacked(got, NULL);
}

// A write that stores two Services and then fails; its audit function
// writes a record whatever happens.
typedef struct fail_arg {
	sf_arena *a;
	int       audits;
	int       audit_code;
	uint64_t  audit_rev;
} fail_arg;

static int
fail_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	fail_arg *fa = arg;
	int       rv;

	rv = sf_store_txn_service_put(
	    txn, tu_svc(fa->a, "c1", "dev", "doomed", 30001), true);
	assert_int_equal(rv, 0);
	rv = sf_store_txn_service_put(
	    txn, tu_svc(fa->a, "c1", "dev", "doomed2", 0), true);
	assert_int_equal(rv, 0);
	return (sf_status_set(st, SF_FAILED_PRECONDITION, "changed my mind"));
}

// audit_fn records what the server's audit records (rpc.c call_audit):
// the outcome, its message, and the write's revision when it wrote.
static int
audit_fn(sf_store_txn *txn, void *arg, int code, const sf_status *st)
{
	fail_arg                *fa = arg;
	Svcfleet__V1__AuditEvent ev = SVCFLEET__V1__AUDIT_EVENT__INIT;
	char                     msg[600];

	fa->audits++;
	fa->audit_code = code;
	fa->audit_rev  = sf_store_txn_revision(txn);
	snprintf(msg, sizeof(msg), "%s %s", sf_status_name(code),
	    st != NULL ? st->st_msg : "");
	ev.method   = "test";
	ev.code     = code;
	ev.message  = msg;
	ev.revision = code == 0 && sf_store_txn_wrote(txn)
	    ? sf_store_txn_revision(txn)
	    : 0;
	return (sf_store_txn_audit_append(txn, &ev));
}

// audit_newest returns the newest audit event (heap) or fails.
static Svcfleet__V1__AuditEvent *
audit_newest(sf_store *s, size_t *total)
{
	sf_store_audit_query       q = {.aq_limit = 1000};
	Svcfleet__V1__AuditEvent **evs, *ev;
	size_t                     n;
	uint64_t                   next;

	assert_int_equal(sf_store_audit_list(s, &q, NULL, &evs, &n, &next), 0);
	assert_true(n >= 1);
	ev = evs[0];
	for (size_t i = 1; i < n; i++) {
		svcfleet__v1__audit_event__free_unpacked(evs[i], NULL);
	}
	free(evs);
	*total = n;
	return (ev);
}

// feed_count counts the change feed's events after since.
static size_t
feed_count(sf_store *s, uint64_t since)
{
	Svcfleet__V1__WatchEvent **ev;
	size_t                     n;
	uint64_t                   next;

	assert_int_equal(
	    sf_store_feed_read(s, since, 10000, NULL, NULL, &ev, &n, &next),
	    0);
	for (size_t i = 0; i < n; i++) {
		svcfleet__v1__watch_event__free_unpacked(ev[i], NULL);
	}
	free(ev);
	return (n);
}

static void
test_failed_write_leaves_nothing(void **state)
{
	fixture       *f  = *state;
	fail_arg       fa = {.a = &f->a};
	sf_status      st;
	sf_store_stats before, after;
	uint64_t       rev = 99;
	size_t         naudit;

	assert_int_equal(tu_put(f->s, &f->a,
	                     tu_svc(&f->a, "c1", "dev", "x", 0), true, NULL),
	    0);
	sf_store_stats_get(f->s, &before);
	sf_status_init(&st);
	sf_store_write w = {.w_fn = fail_fn,
	    .w_audit              = audit_fn,
	    .w_arg                = &fa,
	    .w_status             = &st};
	assert_int_equal(
	    sf_store_write_sync(f->s, &w, &rev), SF_FAILED_PRECONDITION);
	assert_int_equal(rev, 0);
	assert_string_equal(st.st_msg, "changed my mind");
	sf_status_fini(&st);

	assert_null(tu_get(f->s, "c1", "dev", "doomed"));
	assert_null(tu_get(f->s, "c1", "dev", "doomed2"));
	sf_store_stats_get(f->s, &after);
	// On etcd the audit record of the failure is a transaction of its
	// own, which takes a revision (the request's is still 0).
	assert_int_equal(
	    after.ss_revision, before.ss_revision + (tu_etcd() ? 1 : 0));
	assert_int_equal(after.ss_services, 1);
	assert_int_equal(after.ss_failed, before.ss_failed + 1);
	assert_int_equal(after.ss_writes, before.ss_writes);
	assert_int_equal(feed_count(f->s, f->base), 1);
	assert_int_equal(tu_count_raw(f->s, "nodeports"), 0);

	// The audit ran once, saw the failure, and its record persisted.
	assert_int_equal(fa.audits, 1);
	assert_int_equal(fa.audit_code, SF_FAILED_PRECONDITION);
	Svcfleet__V1__AuditEvent *ev = audit_newest(f->s, &naudit);
	assert_int_equal(naudit, 1);
	assert_string_equal(
	    ev->message, "FAILED_PRECONDITION changed my mind");
	assert_int_equal(ev->code, SF_FAILED_PRECONDITION);
	assert_int_equal(ev->revision, 0);
	assert_true(ev->id > 0);
	svcfleet__v1__audit_event__free_unpacked(ev, NULL);
}

static int
put_one_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	fail_arg *fa = arg;
	(void) st;
	return (sf_store_txn_service_put(
	    txn, tu_svc(fa->a, "c1", "dev", "audited", 0), true));
}

static void
test_audit_with_success(void **state)
{
	fixture *f  = *state;
	fail_arg fa = {.a = &f->a};
	uint64_t rev;
	size_t   n;

	sf_store_write w
	    = {.w_fn = put_one_fn, .w_audit = audit_fn, .w_arg = &fa};
	assert_int_equal(sf_store_write_sync(f->s, &w, &rev), 0);
	assert_int_equal(rev, f->base + 1);
	assert_int_equal(fa.audits, 1);
	assert_int_equal(fa.audit_code, 0);
	assert_int_equal(fa.audit_rev, rev); // same child, same revision
	Svcfleet__V1__AuditEvent *ev = audit_newest(f->s, &n);
	assert_string_equal(ev->message, "OK ");
	assert_int_equal(ev->revision, rev); // the write's, as read back
	svcfleet__v1__audit_event__free_unpacked(ev, NULL);
	assert_int_equal(n, 1);
	assert_int_equal(tu_count_raw(f->s, "audit"), 1);
}

static void
test_dry_run(void **state)
{
	fixture               *f = *state;
	Svcfleet__V1__Service *a = tu_svc(&f->a, "c1", "dev", "dry", 30002);
	sf_store_stats         before, after;
	uint64_t               rev = 99;

	sf_store_stats_get(f->s, &before);
	assert_int_equal(
	    tu_put_flags(f->s, &f->a, a, true, SF_STORE_DRY_RUN, NULL, &rev),
	    0);
	assert_int_equal(rev, 0);
	// The caller sees what would have been stored.
	assert_int_equal(a->metadata->resource_version, f->base + 1);
	assert_int_equal(a->metadata->generation, 1);
	assert_int_equal(strlen(a->metadata->uid), 36);
	assert_null(tu_get(f->s, "c1", "dev", "dry"));
	sf_store_stats_get(f->s, &after);
	assert_int_equal(after.ss_revision, f->base);
	assert_int_equal(after.ss_commits, before.ss_commits);
	assert_int_equal(after.ss_services, 0);
	assert_int_equal(feed_count(f->s, f->base), 0);
	assert_int_equal(tu_count_raw(f->s, "nodeports"), 0);
}

static void
test_keys(void **state)
{
	fixture               *f = *state;
	char                   longname[600];
	sf_status              st;
	Svcfleet__V1__Service *out;
	sf_store_key           k;

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';

	sf_status_init(&st);
	assert_int_equal(
	    tu_put_flags(f->s, &f->a, tu_svc(&f->a, "c1", "dev", longname, 0),
	        true, 0, &st, NULL),
	    SF_INVALID_ARGUMENT);
	assert_non_null(strstr(st.st_msg, "511"));
	sf_status_reset(&st);
	assert_int_equal(
	    tu_put_flags(f->s, &f->a, tu_svc(&f->a, "c1", "", "x", 0), true, 0,
	        &st, NULL),
	    SF_INVALID_ARGUMENT);
	assert_string_equal(st.st_msg, "metadata.namespace: Required value");
	sf_status_reset(&st);
	// 3 + 500 + 3 + 3 NULs = 509 bytes: fits.
	longname[500] = '\0';
	assert_int_equal(
	    tu_put_flags(f->s, &f->a, tu_svc(&f->a, "c1", "dev", longname, 0),
	        true, 0, &st, NULL),
	    0);
	sf_status_fini(&st);

	k.k_cluster   = "c1";
	k.k_namespace = "dev";
	k.k_name      = NULL;
	assert_int_equal(
	    sf_store_service_get(f->s, &k, NULL, &out), SF_INVALID_ARGUMENT);
	k.k_name = "absent";
	assert_int_equal(
	    sf_store_service_get(f->s, &k, NULL, &out), SF_NOT_FOUND);
	assert_null(out);
}

static void
test_reopen_durable(void **state)
{
	char          *dir = tu_tmpdir();
	sf_store_opts  o   = {.so_dir = dir}; // durable: fsync on commit
	sf_store      *s;
	sf_arena       a;
	char           id[40];
	sf_store_stats ss;
	uint64_t       b0, last;

	(void) state;
	sf_arena_init(&a);
	s  = tu_open_opts(&o);
	b0 = sf_store_revision(s);
	snprintf(id, sizeof(id), "%s", sf_store_installation_id(s));
	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof(name), "svc-%d", i);
		assert_int_equal(
		    tu_put(s, &a, tu_svc(&a, "c1", "dev", name, 30010 + i),
		        true, NULL),
		    0);
	}
	assert_int_equal(tu_delete(s, "c1", "dev", "svc-0", &last), 0);
	assert_int_equal(last, b0 + 6);
	sf_store_close(s);

	s = tu_open_opts(&o);
	assert_string_equal(sf_store_installation_id(s), id);
	sf_store_stats_get(s, &ss);
	assert_int_equal(ss.ss_services, 4);
	if (tu_etcd()) {
		// The reopened store's start marker took a revision.
		assert_true(ss.ss_revision > last);
	} else {
		assert_int_equal(ss.ss_revision, last);
		assert_int_equal(ss.ss_feed_first, 1);
	}
	Svcfleet__V1__Service *got = tu_get(s, "c1", "dev", "svc-3");
	assert_non_null(got);
	assert_int_equal(got->metadata->resource_version, b0 + 4);
	assert_int_equal(got->spec->ports[0]->node_port, 30013);
	svcfleet__v1__service__free_unpacked(got, NULL);
	assert_null(tu_get(s, "c1", "dev", "svc-0"));
	// The next write continues the revision sequence.
	uint64_t rev;
	assert_int_equal(
	    tu_put(s, &a, tu_svc(&a, "c1", "dev", "after", 0), true, &rev), 0);
	assert_int_equal(rev, ss.ss_revision + 1);
	sf_store_close(s);
	sf_arena_fini(&a);
	tu_rmrf(dir);
}

static void
test_open_refusals(void **state)
{
	char         *dir = tu_tmpdir();
	char          path[4096];
	sf_store_opts o = {.so_dir = dir, .so_nosync = true};
	sf_store     *s, *s2 = (sf_store *) &o;
	sf_status     st;
	int           fd;

	(void) state;
	sf_status_init(&st);
	s = tu_open_opts(&o);
	if (!tu_etcd()) {
		// LMDB only: a second open of an open directory (several
		// stores on one etcd prefix is what the etcd backend is for).
		assert_int_equal(
		    sf_store_open(&s2, &o, &st), SF_FAILED_PRECONDITION);
		assert_null(s2);
		assert_non_null(strstr(st.st_msg, "in use"));
		sf_status_reset(&st);
	}

	// A newer schema.
	char          prefix[64];
	sf_store_opts oo = o;
	tu_set_schema(s, 99);
	sf_store_close(s);
	tu_opts_for(&oo, prefix, sizeof(prefix));
	assert_int_equal(sf_store_open_backend(tu_backend(), &s, &oo, &st),
	    SF_FAILED_PRECONDITION);
	assert_null(s);
	assert_non_null(strstr(st.st_msg, "schema version 99"));
	sf_status_reset(&st);
	tu_rmrf(dir);
	if (tu_etcd()) {
		// The rest is about LMDB's data directory.
		sf_status_fini(&st);
		return;
	}

	// A data file that is not LMDB.
	dir      = tu_tmpdir();
	o.so_dir = dir;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	char junk[8192];
	memset(junk, 'x', sizeof(junk));
	assert_int_equal(
	    write(fd, junk, sizeof(junk)), (ssize_t) sizeof(junk));
	close(fd);
	assert_int_equal(sf_store_open(&s, &o, &st), SF_FAILED_PRECONDITION);
	assert_non_null(strstr(st.st_msg, "not an LMDB environment"));
	sf_status_reset(&st);

	// A path that is a file.
	o.so_dir = path;
	assert_int_equal(sf_store_open(&s, &o, &st), SF_FAILED_PRECONDITION);
	assert_non_null(strstr(st.st_msg, "not a directory"));
	sf_status_reset(&st);
	o.so_dir = "";
	assert_int_equal(sf_store_open(&s, &o, &st), SF_INVALID_ARGUMENT);
	sf_status_fini(&st);
	tu_rmrf(dir);
}

// Long keys near LMDB's limit in a namespace-only list (the skip-scan
// builds seek keys from a stored cluster and the requested namespace).
static void
test_list_long_keys(void **state)
{
	fixture          *f = *state;
	char              lc[451], ln[101];
	sf_store_list_res res;
	sf_status         st;

	memset(lc, 'c', sizeof(lc) - 1);
	lc[sizeof(lc) - 1] = '\0';
	memset(ln, 'n', sizeof(ln) - 1);
	ln[sizeof(ln) - 1] = '\0';
	sf_status_init(&st);
	assert_int_equal(
	    tu_put(f->s, &f->a, tu_svc(&f->a, lc, "a", "x", 0), true, NULL),
	    0);
	assert_int_equal(
	    tu_put(f->s, &f->a, tu_svc(&f->a, lc, "zz", "w", 0), true, NULL),
	    0);
	assert_int_equal(
	    tu_put(f->s, &f->a, tu_svc(&f->a, "b", ln, "y", 0), true, NULL),
	    0);
	assert_int_equal(
	    tu_put(f->s, &f->a, tu_svc(&f->a, "z", ln, "v", 0), true, NULL),
	    0);

	sf_store_list_req req = {.lr_namespace = ln, .lr_limit = 10};
	assert_int_equal(
	    sf_store_service_list(f->s, &req, sf_arena_pbc(&f->a), &res, &st),
	    0);
	assert_int_equal(res.lr_n, 2);
	assert_string_equal(res.lr_items[0]->metadata->name, "y");
	assert_string_equal(res.lr_items[1]->metadata->name, "v");
	req.lr_namespace = "a";
	assert_int_equal(
	    sf_store_service_list(f->s, &req, sf_arena_pbc(&f->a), &res, &st),
	    0);
	assert_int_equal(res.lr_n, 1);
	assert_string_equal(res.lr_items[0]->metadata->name, "x");
	sf_status_fini(&st);
}

// Node-port index -------------------------------------------------------

typedef struct owner_arg {
	const char *cluster, *protocol;
	int32_t     port;
	char        owner[128];
} owner_arg;

static int
owner_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	owner_arg   *o = arg;
	sf_store_key k;
	sf_arena     a;
	int          rv;

	(void) st;
	sf_arena_init(&a);
	rv = sf_store_txn_nodeport_owner(
	    txn, o->cluster, o->protocol, o->port, sf_arena_pbc(&a), &k);
	if (rv == 0) {
		snprintf(o->owner, sizeof(o->owner), "%s/%s/%s", k.k_cluster,
		    k.k_namespace, k.k_name);
	}
	sf_arena_fini(&a);
	return (rv);
}

static const char *
owner(sf_store *s, owner_arg *o, const char *cluster, const char *proto,
    int32_t port)
{
	o->cluster        = cluster;
	o->protocol       = proto;
	o->port           = port;
	o->owner[0]       = '\0';
	sf_store_write w  = {.w_fn = owner_fn, .w_arg = o};
	int            rv = sf_store_write_sync(s, &w, NULL);
	return (rv == 0 ? o->owner : sf_status_name(rv));
}

static void
test_nodeport_index(void **state)
{
	fixture               *f = *state;
	owner_arg              o;
	sf_status              st;
	Svcfleet__V1__Service *a = tu_svc(&f->a, "c1", "dev", "alpha", 30080);

	assert_int_equal(tu_put(f->s, &f->a, a, true, NULL), 0);
	assert_string_equal(
	    owner(f->s, &o, "c1", "TCP", 30080), "c1/dev/alpha");
	assert_string_equal(owner(f->s, &o, "c1", "", 30080), "c1/dev/alpha");
	assert_string_equal(owner(f->s, &o, "c1", "UDP", 30080), "NOT_FOUND");
	assert_string_equal(owner(f->s, &o, "c2", "TCP", 30080), "NOT_FOUND");

	// Another Service of the cluster cannot have it; another cluster can.
	sf_status_init(&st);
	Svcfleet__V1__Service *b = tu_svc(&f->a, "c1", "prod", "beta", 30080);
	assert_int_equal(tu_put_flags(f->s, &f->a, b, true, 0, &st, NULL),
	    SF_FAILED_PRECONDITION);
	assert_non_null(strstr(st.st_msg, "dev/alpha"));
	sf_status_fini(&st);
	assert_null(tu_get(f->s, "c1", "prod", "beta"));
	assert_int_equal(
	    tu_put(f->s, &f->a, tu_svc(&f->a, "c2", "dev", "alpha", 30080),
	        true, NULL),
	    0);
	b->spec->ports[0]->protocol = "UDP";
	assert_int_equal(tu_put(f->s, &f->a, b, true, NULL), 0);
	assert_string_equal(
	    owner(f->s, &o, "c1", "UDP", 30080), "c1/prod/beta");

	// Updating the port moves the index entry.
	a->spec->ports[0]->node_port = 30081;
	assert_int_equal(tu_put(f->s, &f->a, a, false, NULL), 0);
	assert_string_equal(owner(f->s, &o, "c1", "TCP", 30080), "NOT_FOUND");
	assert_string_equal(
	    owner(f->s, &o, "c1", "TCP", 30081), "c1/dev/alpha");
	b->spec->ports[0]->protocol = "TCP";
	assert_int_equal(tu_put(f->s, &f->a, b, false, NULL), 0);
	assert_string_equal(
	    owner(f->s, &o, "c1", "TCP", 30080), "c1/prod/beta");
	assert_string_equal(owner(f->s, &o, "c1", "UDP", 30080), "NOT_FOUND");

	// Dropping the node port (ClusterIP) and deleting free the entries.
	b->spec->ports[0]->node_port = 0;
	assert_int_equal(tu_put(f->s, &f->a, b, false, NULL), 0);
	assert_string_equal(owner(f->s, &o, "c1", "TCP", 30080), "NOT_FOUND");
	assert_int_equal(tu_delete(f->s, "c1", "dev", "alpha", NULL), 0);
	assert_string_equal(owner(f->s, &o, "c1", "TCP", 30081), "NOT_FOUND");
	assert_string_equal(
	    owner(f->s, &o, "c2", "TCP", 30080), "c2/dev/alpha");
	assert_int_equal(tu_count_raw(f->s, "nodeports"), 1);
	assert_int_equal(
	    tu_delete(f->s, "c1", "dev", "alpha", NULL), SF_NOT_FOUND);
}

// Clusters --------------------------------------------------------------

typedef struct cluster_arg {
	Svcfleet__V1__Cluster *c;
	const char            *name;
	bool                   create_only;
	int                    op; // 0 put, 1 delete, 2 count, 3 get
	uint64_t               limit, count;
	sf_arena              *a; // what the store writes into c comes from it
} cluster_arg;

static int
cluster_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	cluster_arg           *ca = arg;
	Svcfleet__V1__Cluster *got;
	int                    rv;

	(void) st;
	switch (ca->op) {
	case 0:
		return (sf_store_txn_cluster_put(txn, ca->c, ca->create_only));
	case 1:
		return (sf_store_txn_cluster_delete(txn, ca->name));
	case 2:
		return (sf_store_txn_cluster_count_services(
		    txn, ca->name, ca->limit, &ca->count));
	default:
		rv = sf_store_txn_cluster_get(txn, ca->name, NULL, &got);
		if (rv == 0) {
			ca->count = got->resource_version;
			svcfleet__v1__cluster__free_unpacked(got, NULL);
		}
		return (rv);
	}
}

static int
cluster_op(sf_store *s, cluster_arg *ca, uint64_t *rev)
{
	sf_store_write w = {
	    .w_fn = cluster_fn, .w_arg = ca, .w_alloc = sf_arena_pbc(ca->a)};
	return (sf_store_write_sync(s, &w, rev));
}

static void
test_clusters(void **state)
{
	fixture               *f  = *state;
	Svcfleet__V1__Cluster  c1 = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__Cluster  c2 = SVCFLEET__V1__CLUSTER__INIT;
	cluster_arg            ca = {.a = &f->a};
	uint64_t               rev, b0 = f->base;
	Svcfleet__V1__Cluster *got, **all;
	size_t                 n;

	c1.name        = "east";
	c1.api_server  = "https://east:6443";
	c1.created_by  = "admin";
	c2.name        = "west";
	ca.c           = &c2;
	ca.create_only = true;
	assert_int_equal(cluster_op(f->s, &ca, &rev), 0);
	assert_int_equal(rev, b0 + 1);
	ca.c = &c1;
	assert_int_equal(cluster_op(f->s, &ca, &rev), 0);
	assert_int_equal(rev, b0 + 2);
	assert_int_equal(c1.resource_version, b0 + 2);
	int64_t created = c1.create_time_ms;
	assert_true(created > 0);
	assert_int_equal(cluster_op(f->s, &ca, &rev), SF_ALREADY_EXISTS);

	ca.create_only = false;
	c1.api_server  = "https://east2:6443";
	c1.created_by  = "someone-else";
	usleep(2000);
	assert_int_equal(cluster_op(f->s, &ca, &rev), 0);
	assert_int_equal(rev, b0 + 3);
	assert_int_equal(c1.create_time_ms, created);
	assert_string_equal(c1.created_by, "admin");
	assert_true(c1.update_time_ms > created);

	assert_int_equal(sf_store_cluster_get(f->s, "east", NULL, &got), 0);
	assert_string_equal(got->api_server, "https://east2:6443");
	assert_int_equal(got->resource_version, b0 + 3);
	svcfleet__v1__cluster__free_unpacked(got, NULL);
	assert_int_equal(
	    sf_store_cluster_get(f->s, "north", NULL, &got), SF_NOT_FOUND);
	assert_int_equal(
	    sf_store_cluster_get(f->s, "", NULL, &got), SF_INVALID_ARGUMENT);

	assert_int_equal(
	    sf_store_cluster_list(f->s, sf_arena_pbc(&f->a), &all, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0]->name, "east");
	assert_string_equal(all[1]->name, "west");
	assert_int_equal(sf_store_cluster_list(f->s, NULL, &all, &n), 0);
	for (size_t i = 0; i < n; i++) {
		svcfleet__v1__cluster__free_unpacked(all[i], NULL);
	}
	free(all);

	// count_services: only the cluster's own range ("east" is not a
	// prefix match for "east-2"), stopping at the limit.
	tu_fill(f->s, 0, 30, 3, 2); // c0, c1, c2: 10 each
	assert_int_equal(tu_put(f->s, &f->a,
	                     tu_svc(&f->a, "c1-x", "dev", "y", 0), true, NULL),
	    0);
	ca.op   = 2;
	ca.name = "c1";
	assert_int_equal(cluster_op(f->s, &ca, &rev), 0);
	assert_int_equal(ca.count, 10);
	assert_int_equal(rev, 0);
	ca.limit = 3;
	assert_int_equal(cluster_op(f->s, &ca, NULL), 0);
	assert_int_equal(ca.count, 3);
	ca.name  = "none";
	ca.limit = 0;
	assert_int_equal(cluster_op(f->s, &ca, NULL), 0);
	assert_int_equal(ca.count, 0);

	ca.op   = 3;
	ca.name = "west";
	assert_int_equal(cluster_op(f->s, &ca, NULL), 0);
	assert_int_equal(ca.count, b0 + 1);
	ca.op = 1;
	assert_int_equal(cluster_op(f->s, &ca, &rev), 0);
	assert_true(rev > b0 + 3);
	assert_int_equal(cluster_op(f->s, &ca, &rev), SF_NOT_FOUND);
	assert_int_equal(
	    sf_store_cluster_get(f->s, "west", NULL, &got), SF_NOT_FOUND);
}

// Closing and the commit hook -------------------------------------------

typedef struct count_done {
	pthread_mutex_t mtx;
	int             done, ok;
} count_done;

static void
counting_done(void *arg, int code, uint64_t rev)
{
	count_done *c = arg;
	(void) rev;
	pthread_mutex_lock(&c->mtx);
	c->done++;
	if (code == 0) {
		c->ok++;
	}
	pthread_mutex_unlock(&c->mtx);
}

typedef struct named_put {
	char     name[32];
	sf_arena a; // what is stored lives until the write is done
} named_put;

static int
named_put_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	named_put *p = arg;

	(void) st;
	return (sf_store_txn_service_put(
	    txn, tu_svc(&p->a, "c1", "dev", p->name, 0), true));
}

// Runs on the writer thread: records, the test asserts afterwards.
typedef struct hook_rec {
	uint64_t after; // revisions up to it are not counted
	uint64_t last;
	int      calls;
	bool     backwards;
} hook_rec;

static void
hook(void *arg, uint64_t rev)
{
	hook_rec *h = arg;
	if (rev <= h->after) {
		// On etcd, the watch may bring the store's own start marker
		// (meta/start, revision b0) after open returned.
		return;
	}
	if (rev < h->last) {
		h->backwards = true;
	}
	h->last = rev;
	h->calls++;
}

static void
test_close_drains_queue(void **state)
{
	char      *dir = tu_tmpdir();
	sf_store  *s   = tu_open(dir, 0, 0);
	count_done c   = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	named_put  p[200];
	uint64_t   b0 = sf_store_revision(s);
	hook_rec   h  = {b0, 0, 0, false};

	(void) state;
	sf_store_set_commit_hook(s, hook, &h);
	for (int i = 0; i < 200; i++) {
		snprintf(p[i].name, sizeof(p[i].name), "svc-%03d", i);
		sf_arena_init(&p[i].a);
	}
	for (int i = 0; i < 200; i++) {
		sf_store_write w = {.w_fn = named_put_fn, .w_arg = &p[i]};
		assert_int_equal(sf_store_submit(s, &w), 0);
	}
	sf_store_write last
	    = {.w_fn = noop_fn, .w_done = counting_done, .w_arg = &c};
	assert_int_equal(sf_store_submit(s, &last), 0);
	sf_store_close(s); // must run everything queued first
	assert_int_equal(c.done, 1);
	assert_int_equal(c.ok, 1);
	assert_int_equal(h.last, b0 + 200);
	assert_false(h.backwards);
	assert_true(h.calls >= 1 && h.calls <= 200);

	s = tu_open(dir, 0, 0);
	if (tu_etcd()) {
		// The reopened store's start marker took a revision.
		assert_true(sf_store_revision(s) > b0 + 200);
	} else {
		assert_int_equal(sf_store_revision(s), b0 + 200);
	}
	sf_store_stats ss;
	sf_store_stats_get(s, &ss);
	assert_int_equal(ss.ss_services, 200);
	sf_store_set_commit_hook(s, NULL, NULL);
	sf_store_close(s);
	for (int i = 0; i < 200; i++) {
		sf_arena_fini(&p[i].a);
	}
	tu_rmrf(dir);
}

// A map that may not grow further: writes fail clearly with
// RESOURCE_EXHAUSTED and leave nothing; reads go on; once the map may grow
// again, so do writes.
static void
test_store_full(void **state)
{
	if (tu_etcd()) {
		skip();
	}
	char          *dir = tu_tmpdir();
	sf_store      *s   = tu_open(dir, 256 << 10, 0);
	sf_arena       a;
	sf_status      st;
	sf_store_stats ss;
	int            ok = 0, rv = 0;
	char           name[32];

	(void) state;
	sf_arena_init(&a);
	sf_status_init(&st);
	sf__store_set_map_max(s, 512 << 10);
	while (ok < 20000) {
		Svcfleet__V1__Service *svc;
		snprintf(name, sizeof(name), "svc-%05d", ok);
		svc = tu_svc(&a, "c1", "dev", name, 0);
		for (int l = 0; l < 4; l++) {
			tu_add_label(&a, svc, "key",
			    "a-long-enough-label-value-"
			    "to-fill-the-map-quickly");
		}
		sf_status_reset(&st);
		if ((rv = tu_put_flags(s, &a, svc, true, 0, &st, NULL)) != 0) {
			break;
		}
		sf_arena_reset(&a);
		ok++;
	}
	assert_int_equal(rv, SF_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(st.st_msg, "store is full"));
	assert_true(ok > 100);
	sf_store_stats_get(s, &ss);
	assert_int_equal(ss.ss_map_size, 512 << 10);
	assert_int_equal(ss.ss_map_grows, 1);
	assert_int_equal(ss.ss_revision, (uint64_t) ok);
	assert_int_equal(ss.ss_services, (uint64_t) ok);
	assert_null(tu_get(s, "c1", "dev", name));
	Svcfleet__V1__Service *got = tu_get(s, "c1", "dev", "svc-00000");
	assert_non_null(got);
	svcfleet__v1__service__free_unpacked(got, NULL);

	sf__store_set_map_max(s, 4 << 20);
	assert_int_equal(
	    tu_put(s, &a, tu_svc(&a, "c1", "dev", name, 0), true, NULL), 0);
	sf_store_stats_get(s, &ss);
	assert_int_equal(ss.ss_map_size, 1 << 20);
	assert_int_equal(ss.ss_services, (uint64_t) ok + 1);
	sf_status_fini(&st);
	sf_arena_fini(&a);
	sf_store_close(s);
	tu_rmrf(dir);
}

int
main(void)
{
	if (tu_skip()) {
		return (77);
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_new),
	    cmocka_unit_test_setup_teardown(test_revisions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bookkeeping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_failed_write_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_audit_with_success, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_list_long_keys, setup, teardown),
	    cmocka_unit_test(test_reopen_durable),
	    cmocka_unit_test(test_open_refusals),
	    cmocka_unit_test_setup_teardown(
	        test_nodeport_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_clusters, setup, teardown),
	    cmocka_unit_test(test_close_drains_queue),
	    // LMDB only: the map that grows on MDB_MAP_FULL (etcd's quota
	    // has a test of its own in store_etcd_test).
	    cmocka_unit_test(test_store_full),
	};
	sf_log_set_level(SF_LOG_WARN);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
