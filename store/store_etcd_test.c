// store_etcd_test.c: what only the etcd backend has: a write retried after
// its answer was lost takes effect once (the marker, the fence), failover
// to another member when one is killed, compaction (the feed's
// OUT_OF_RANGE, page tokens going on), etcd's limits (request size, the
// NOSPACE alarm, operations per transaction), several stores on one etcd
// (replicas), the installation id made once, sealed credentials, audit
// and history retention, TLS, opening errors, and writes run side by side
// (SF_STORE_CONCURRENT).
//
// Each test uses a key prefix of its own on one shared etcd member, or an
// etcd of its own when it kills members, fills the quota or wants TLS.
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "etcd_hooks.h"
#include "etcdfix.h"
#include "log.h"
#include "store.h"
#include "store_testutil.h"

#define ADDED SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_ADDED

static int prefix_seq;

// open_on opens a store on endpoints under a fresh prefix (or prefix).
static sf_store *
open_on(const char *endpoints, const char *prefix, sf_store_opts *o)
{
	sf_store_opts oo = {0};
	char          pre[64];
	sf_store     *s = NULL;
	sf_status     st;
	int           rv;

	if (o != NULL) {
		oo = *o;
	}
	if (prefix == NULL) {
		snprintf(pre, sizeof(pre), "/e/%d-%d/", (int) getpid(),
		    ++prefix_seq);
		prefix = pre;
	}
	oo.so_etcd_endpoints = endpoints;
	oo.so_etcd_prefix    = prefix;
	sf_status_init(&st);
	rv = sf_store_open_backend("etcd", &s, &oo, &st);
	if (rv != 0) {
		fail_msg("open on %s: %s: %s", endpoints, sf_status_name(rv),
		    st.st_msg);
	}
	sf_status_fini(&st);
	return (s);
}

static size_t
feed_count(sf_store *s, uint64_t since, int *added)
{
	Svcfleet__V1__WatchEvent **ev;
	size_t                     n;
	uint64_t                   next;

	assert_int_equal(
	    sf_store_feed_read(s, since, 10000, NULL, NULL, &ev, &n, &next),
	    0);
	if (added != NULL) {
		*added = 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (added != NULL && ev[i]->type == ADDED) {
			(*added)++;
		}
		svcfleet__v1__watch_event__free_unpacked(ev[i], NULL);
	}
	free(ev);
	return (n);
}

static size_t
audit_count(sf_store *s)
{
	sf_store_audit_query       q = {.aq_limit = 1000};
	Svcfleet__V1__AuditEvent **evs;
	size_t                     n;
	uint64_t                   next;

	assert_int_equal(sf_store_audit_list(s, &q, NULL, &evs, &n, &next), 0);
	for (size_t i = 0; i < n; i++) {
		svcfleet__v1__audit_event__free_unpacked(evs[i], NULL);
	}
	free(evs);
	return (n);
}

// A write that creates a Service and audits itself, as the server's do.
typedef struct create_arg {
	sf_arena a;
	char     name[32];
	int32_t  node_port;
	int      runs;
} create_arg;

static int
create_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	create_arg *c = arg;
	(void) st;
	c->runs++;
	return (sf_store_txn_service_put(
	    txn, tu_svc(&c->a, "c1", "dev", c->name, c->node_port), true));
}

static int
audit_fn(sf_store_txn *txn, void *arg, int code, const sf_status *st)
{
	Svcfleet__V1__AuditEvent ev = SVCFLEET__V1__AUDIT_EVENT__INIT;
	(void) arg;
	ev.method   = "test";
	ev.code     = code;
	ev.message  = (char *) (code != 0 && st != NULL ? st->st_msg : "");
	ev.revision = code == 0 && sf_store_txn_wrote(txn)
	    ? sf_store_txn_revision(txn)
	    : 0;
	return (sf_store_txn_audit_append(txn, &ev));
}

static int
create(sf_store *s, const char *name, sf_status *st, uint64_t *rev)
{
	create_arg c;
	int        rv;

	memset(&c, 0, sizeof(c));
	sf_arena_init(&c.a);
	snprintf(c.name, sizeof(c.name), "%s", name);
	sf_store_write w = {.w_fn = create_fn,
	    .w_audit              = audit_fn,
	    .w_arg                = &c,
	    .w_status             = st,
	    .w_alloc              = sf_arena_pbc(&c.a)};
	rv               = sf_store_write_sync(s, &w, rev);
	sf_arena_fini(&c.a);
	return (rv);
}

// ------------------------------------------------------ exactly once

typedef struct fault {
	atomic_int  armed; // faults left to inject
	atomic_int  fired;
	int         phase; // 0: before sending, 1: answer lost
	sf_store   *other; // the fence test writes through it meanwhile
	const char *conflict;
} fault;

typedef struct label_arg {
	const char *label;
	sf_arena    a; // what is stored lives until the write is done
} label_arg;

static int label_fn(sf_store_txn *txn, void *arg, sf_status *st);

static int
add_label(sf_store *s, const char *label)
{
	label_arg l = {.label = label};
	int       rv;

	sf_arena_init(&l.a);
	sf_store_write w
	    = {.w_fn = label_fn, .w_arg = &l, .w_alloc = sf_arena_pbc(&l.a)};
	rv = sf_store_write_sync(s, &w, NULL);
	sf_arena_fini(&l.a);
	return (rv);
}

static int
fault_fn(void *arg, const char *path, int phase)
{
	fault *f = arg;

	if (strcmp(path, "kv/txn") != 0 || phase != f->phase
	    || atomic_load(&f->armed) == 0) {
		return (0);
	}
	atomic_fetch_sub(&f->armed, 1);
	atomic_fetch_add(&f->fired, 1);
	if (f->other != NULL) {
		// Meanwhile another replica changes what the write read.
		assert_int_equal(add_label(f->other, f->conflict), 0);
	}
	return (1);
}

// The answer of a committed transaction is lost: the writer sends it
// again, finds its marker, and reports the first commit's revision; the
// Service, its feed event and its audit record exist once.
static void
test_lost_answer_once(void **state)
{
	sf_store      *s = open_on(tu_etcd_endpoints(), NULL, NULL);
	fault          f = {.phase = 1};
	sf_status      st;
	uint64_t       base = sf_store_revision(s), rev = 0;
	sf_store_stats ss;

	(void) state;
	atomic_store(&f.armed, 1);
	sf__store_etcd_set_fault(sf__store_etcd_client(s), fault_fn, &f);
	sf_status_init(&st);
	assert_int_equal(create(s, "once", &st, &rev), 0);
	sf__store_etcd_set_fault(sf__store_etcd_client(s), NULL, NULL);
	assert_int_equal(atomic_load(&f.fired), 1);
	assert_int_equal(rev, base + 1); // the first send's commit
	Svcfleet__V1__Service *got = tu_get(s, "c1", "dev", "once");
	assert_non_null(got);
	assert_int_equal(got->metadata->resource_version, rev);
	svcfleet__v1__service__free_unpacked(got, NULL);
	int added;
	assert_int_equal(feed_count(s, base, &added), 1);
	assert_int_equal(added, 1);
	assert_int_equal(audit_count(s), 1);
	sf_store_stats_get(s, &ss);
	assert_int_equal(ss.ss_writes, 1);
	assert_int_equal(ss.ss_revision, base + 1);
	sf_status_fini(&st);
	sf_store_close(s);
}

// label_fn adds a label to c1/dev/shared.
static int
label_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	label_arg             *l = arg;
	sf_store_key           k = {"c1", "dev", "shared"};
	Svcfleet__V1__Service *svc;
	int                    rv;

	(void) st;
	if ((rv = sf_store_txn_service_get(txn, &k, sf_arena_pbc(&l->a), &svc))
	    != 0) {
		return (rv);
	}
	tu_add_label(&l->a, svc, l->label, "x");
	return (sf_store_txn_service_put(txn, svc, false));
}

// A send that may have reached etcd is lost, and before the writer sends it
// again another replica changes what the write read: the compare fails,
// and the marker is absent. The writer must fence the lost send (it could
// still commit) before running the write again, which then commits once.
static void
test_fence_then_rerun(void **state)
{
	char      prefix[64];
	sf_store *a, *b;
	fault     f = {.phase = 0, .conflict = "from-b"};
	sf_arena  ar;
	uint64_t  markers = 0;

	(void) state;
	snprintf(prefix, sizeof(prefix), "/e/%d-fence/", (int) getpid());
	a = open_on(tu_etcd_endpoints(), prefix, NULL);
	b = open_on(tu_etcd_endpoints(), prefix, NULL);
	sf_arena_init(&ar);
	assert_int_equal(
	    tu_put(a, &ar, tu_svc(&ar, "c1", "dev", "shared", 0), true, NULL),
	    0);
	// i15-create: a Service write's marker is outside the watch.
	assert_int_equal(
	    sf__store_etcd_count(a, SF__STORE_ETCD_TXN_OUT, &markers), 0);
	assert_int_equal(markers, 1);
	f.other = b;
	atomic_store(&f.armed, 1);
	sf__store_etcd_set_fault(sf__store_etcd_client(a), fault_fn, &f);
	assert_int_equal(add_label(a, "from-a"), 0);
	sf__store_etcd_set_fault(sf__store_etcd_client(a), NULL, NULL);
	assert_int_equal(atomic_load(&f.fired), 1);
	// Both labels, each once.
	Svcfleet__V1__Service *got = tu_get(a, "c1", "dev", "shared");
	assert_non_null(got);
	assert_int_equal(got->metadata->n_labels, 2);
	assert_string_equal(got->metadata->labels[0]->key, "from-b");
	assert_string_equal(got->metadata->labels[1]->key, "from-a");
	svcfleet__v1__service__free_unpacked(got, NULL);
	// Markers: the create, b's write, a's fenced first send (the fence
	// created the very key that send named), a's rerun.
	assert_int_equal(
	    sf__store_etcd_count(a, SF__STORE_ETCD_TXN_OUT, &markers), 0);
	assert_int_equal(markers, 4);
	assert_int_equal(
	    sf__store_etcd_count(a, SF__STORE_ETCD_TXN, &markers), 0);
	assert_int_equal(markers, 0);
	sf_arena_fini(&ar);
	sf_store_close(b);
	sf_store_close(a);
}

// ------------------------------------------------------------ failover

typedef struct writer_job {
	sf_store   *s;
	int         first, n;
	atomic_int *errors;
	uint64_t    revs[64];
} writer_job;

static void *
writer_main(void *arg)
{
	writer_job *j = arg;
	for (int i = 0; i < j->n; i++) {
		char      name[32];
		sf_status st;
		sf_status_init(&st);
		snprintf(name, sizeof(name), "svc-%03d", j->first + i);
		if (create(j->s, name, &st, &j->revs[i]) != 0) {
			fprintf(stderr, "write %s: %s\n", name, st.st_msg);
			atomic_fetch_add(j->errors, 1);
		}
		sf_status_fini(&st);
	}
	return (NULL);
}

// Three members; the member the store talks to is killed, then the leader
// while writes are in flight: reads and writes go on through the others,
// every write is stored once, and the feed (whose watch was on a killed
// member) has them all.
static void
test_failover(void **state)
{
	sf_etcdfix     *fx;
	sf_etcdfix_opts fo = {.eo_members = 3};
	sf_store_opts   o
	    = {.so_etcd_timeout_ms = 1000, .so_etcd_retry_ms = 20000};
	sf_store  *s, *peer;
	atomic_int errors = 0;
	sf_status  st;
	uint64_t   base, rev;
	char       rotated[512];
	int        leader, added;

	(void) state;
	assert_int_equal(sf_etcdfix_start(&fx, &fo), 0);
	s = open_on(sf_etcdfix_endpoints(fx), "/f/", &o);
	// A second replica that lists the members the other way round.
	snprintf(rotated, sizeof(rotated), "%s,%s,%s",
	    sf_etcdfix_endpoint(fx, 2), sf_etcdfix_endpoint(fx, 1),
	    sf_etcdfix_endpoint(fx, 0));
	peer = open_on(rotated, "/f/", &o);
	base = sf_store_revision(s);
	sf_status_init(&st);
	for (int i = 0; i < 10; i++) {
		char name[32];
		snprintf(name, sizeof(name), "svc-%03d", i);
		assert_int_equal(create(s, name, &st, &rev), 0);
	}
	// The member listed first is the one the store talks to.
	assert_int_equal(sf_etcdfix_kill(fx, 0), 0);
	for (int i = 10; i < 20; i++) {
		char name[32];
		snprintf(name, sizeof(name), "svc-%03d", i);
		assert_int_equal(create(s, name, &st, &rev), 0);
	}
	Svcfleet__V1__Service *got = tu_get(s, "c1", "dev", "svc-015");
	assert_non_null(got);
	svcfleet__v1__service__free_unpacked(got, NULL);
	// Now the leader, with writers running.
	writer_job jobs[2]
	    = {{.s = s, .first = 20, .n = 15, .errors = &errors},
	        {.s = peer, .first = 40, .n = 15, .errors = &errors}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++) {
		pthread_create(&th[i], NULL, writer_main, &jobs[i]);
	}
	usleep(30000);
	leader = sf_etcdfix_leader(fx, 3000);
	assert_true(leader >= 0);
	assert_int_equal(sf_etcdfix_kill(fx, leader), 0);
	// One member left of three: no quorum until one comes back.
	usleep(300000);
	assert_int_equal(sf_etcdfix_restart(fx, 0), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
	}
	assert_int_equal(atomic_load(&errors), 0);
	// Every write once: 50 Services, 50 ADDED events, 50 audit records,
	// on both replicas (once their watches have brought each other's
	// writes: a read from a revision the caller saw elsewhere waits).
	uint64_t newest = jobs[0].revs[14] > jobs[1].revs[14]
	    ? jobs[0].revs[14]
	    : jobs[1].revs[14];
	feed_count(s, newest, NULL);
	feed_count(peer, newest, NULL);
	sf_store_stats ss;
	sf_store_stats_get(s, &ss);
	assert_int_equal(ss.ss_services, 50);
	assert_int_equal(feed_count(s, base, &added), 50);
	assert_int_equal(added, 50);
	assert_int_equal(feed_count(peer, base, &added), 50);
	assert_int_equal(audit_count(s), 50);
	for (int i = 0; i < 2; i++) {
		for (int k = 1; k < jobs[i].n; k++) {
			assert_true(jobs[i].revs[k] > jobs[i].revs[k - 1]);
		}
	}
	sf_status_fini(&st);
	sf_store_close(peer);
	sf_store_close(s);
	sf_etcdfix_stop(fx);
}

// ---------------------------------------------------------- compaction

// The history kept is so_feed_keep revisions: older feed reads answer
// OUT_OF_RANGE (relist), newer ones are served; a page token pinned to a
// compacted revision goes on from its key at the current revision, with
// nothing twice and nothing skipped.
static void
test_compaction(void **state)
{
	sf_store_opts              o = {.so_feed_keep = 8};
	sf_store                  *s = open_on(tu_etcd_endpoints(), NULL, &o);
	sf_arena                   a;
	sf_status                  st;
	sf_store_list_req          req = {.lr_cluster = "c1", .lr_limit = 5};
	sf_store_list_res          res;
	uint64_t                   base = sf_store_revision(s), rev = 0, next;
	Svcfleet__V1__WatchEvent **ev;
	size_t                     n;
	char                       tok[2048], last[64];

	(void) state;
	sf_arena_init(&a);
	sf_status_init(&st);
	for (int i = 0; i < 12; i++) {
		char name[32];
		snprintf(name, sizeof(name), "svc-%02d", i);
		assert_int_equal(
		    tu_put(
		        s, &a, tu_svc(&a, "c1", "dev", name, 0), true, &rev),
		    0);
	}
	// The first page, pinned to its revision.
	assert_int_equal(
	    sf_store_service_list(s, &req, sf_arena_pbc(&a), &res, &st), 0);
	assert_int_equal(res.lr_n, 5);
	uint64_t pinned = res.lr_revision;
	snprintf(tok, sizeof(tok), "%s", res.lr_next_token);
	snprintf(last, sizeof(last), "%s", res.lr_items[4]->metadata->name);
	// More writes, then compaction far past the pinned revision.
	for (int i = 12; i < 40; i++) {
		char name[32];
		snprintf(name, sizeof(name), "svc-%02d", i);
		assert_int_equal(
		    tu_put(
		        s, &a, tu_svc(&a, "c1", "dev", name, 0), true, &rev),
		    0);
	}
	sf__store_etcd_janitor(s);
	sf_store_stats ss;
	sf_store_stats_get(s, &ss);
	assert_true(ss.ss_feed_first > pinned);
	assert_true(ss.ss_feed_first <= rev - 8 + 1);
	// The feed: from before the compaction, relist; within the history
	// kept (and the ring), events.
	assert_int_equal(sf_store_feed_read(s, base, 100, NULL,
	                     sf_arena_pbc(&a), &ev, &n, &next),
	    SF_OUT_OF_RANGE);
	assert_int_equal(sf_store_feed_read(s, rev - 3, 100, NULL,
	                     sf_arena_pbc(&a), &ev, &n, &next),
	    0);
	assert_int_equal(n, 3);
	assert_int_equal(next, rev);
	// The token goes on after its key, at the current revision.
	req.lr_page_token = tok;
	req.lr_limit      = 100;
	assert_int_equal(
	    sf_store_service_list(s, &req, sf_arena_pbc(&a), &res, &st), 0);
	assert_int_equal(res.lr_n, 35);
	assert_true(strcmp(res.lr_items[0]->metadata->name, last) > 0);
	assert_string_equal(res.lr_items[0]->metadata->name, "svc-05");
	assert_true(res.lr_revision > pinned);
	assert_string_equal(res.lr_next_token, "");
	sf_status_fini(&st);
	sf_arena_fini(&a);
	sf_store_close(s);
}

// ------------------------------------------------------------- limits

static void
test_value_too_large(void **state)
{
	sf_store *s = open_on(tu_etcd_endpoints(), NULL, NULL);
	sf_arena  a;
	sf_status st;
	size_t    sizes[] = {1600 << 10, 2200 << 10}; // 400 and 429 from etcd
	uint64_t  base    = sf_store_revision(s);

	(void) state;
	sf_arena_init(&a);
	sf_status_init(&st);
	for (size_t i = 0; i < 2; i++) {
		Svcfleet__V1__Service *svc = tu_svc(&a, "c1", "dev", "big", 0);
		char                  *v   = sf_arena_alloc(&a, sizes[i] + 1);
		memset(v, 'x', sizes[i]);
		v[sizes[i]] = '\0';
		tu_add_label(&a, svc, "blob", v);
		sf_status_reset(&st);
		assert_int_equal(tu_put_flags(s, &a, svc, true, 0, &st, NULL),
		    SF_RESOURCE_EXHAUSTED);
		// Refused before it is sent, naming etcd's limit.
		if (strstr(st.st_msg, "service dev/big in cluster c1") == NULL
		    || strstr(st.st_msg, "--max-request-bytes") == NULL) {
			fail_msg("the error does not name the object: %s",
			    st.st_msg);
		}
		assert_null(tu_get(s, "c1", "dev", "big"));
	}
	assert_int_equal(sf_store_revision(s), base);
	sf_status_fini(&st);
	sf_arena_fini(&a);
	sf_store_close(s);
}

// A write of many Services does not fit one etcd transaction: refused,
// clearly, with nothing stored.
typedef struct many_arg {
	sf_arena a;
	int      n;
} many_arg;

static int
many_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	many_arg *m  = arg;
	int       rv = 0;
	(void) st;
	for (int i = 0; i < m->n && rv == 0; i++) {
		char name[32];
		snprintf(name, sizeof(name), "m-%03d", i);
		rv = sf_store_txn_service_put(
		    txn, tu_svc(&m->a, "c1", "dev", name, 31000 + i), true);
	}
	return (rv);
}

static void
test_txn_too_many_ops(void **state)
{
	sf_store *s = open_on(tu_etcd_endpoints(), NULL, NULL);
	many_arg  m;
	sf_status st;

	(void) state;
	memset(&m, 0, sizeof(m));
	sf_arena_init(&m.a);
	m.n = 70; // 140 puts
	sf_status_init(&st);
	sf_store_write w = {.w_fn = many_fn,
	    .w_arg                = &m,
	    .w_status             = &st,
	    .w_alloc              = sf_arena_pbc(&m.a)};
	assert_int_equal(
	    sf_store_write_sync(s, &w, NULL), SF_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(st.st_msg, "--max-txn-ops"));
	assert_null(tu_get(s, "c1", "dev", "m-000"));
	m.n = 30; // 60 puts, 60 compares: fits
	sf_status_reset(&st);
	assert_int_equal(sf_store_write_sync(s, &w, NULL), 0);
	Svcfleet__V1__Service *got = tu_get(s, "c1", "dev", "m-029");
	assert_non_null(got);
	svcfleet__v1__service__free_unpacked(got, NULL);
	sf_status_fini(&st);
	sf_arena_fini(&m.a);
	sf_store_close(s);
}

// i18-wide: a write split in parts. parts_fn creates n Services (each
// with a node port: 2 compares and 2 writes), each in a part of its own,
// guarded (when guard) by record "dev/many" (SF_STORE_FLEET) put in the
// head, as a wide FleetService's write is.
typedef struct parts_arg {
	sf_arena                a;
	int                     n;
	bool                    guard;
	const char             *tag;
	Svcfleet__V1__Service **svcs;
	// When set, the function's first run waits there once it has read
	// everything (pause_wait).
	struct parts_pause *pause;
} parts_arg;

typedef struct parts_pause {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	bool            paused, go;
} parts_pause;

static void
pause_wait(parts_pause *p)
{
	pthread_mutex_lock(&p->mtx);
	if (!p->paused) {
		p->paused = true;
		pthread_cond_broadcast(&p->cv);
		while (!p->go) {
			pthread_cond_wait(&p->cv, &p->mtx);
		}
	}
	pthread_mutex_unlock(&p->mtx);
}

static int
parts_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	parts_arg                *m  = arg;
	Svcfleet__V1__RoleBinding rb = SVCFLEET__V1__ROLE_BINDING__INIT;
	int                       rv;
	(void) st;
	rb.user = (char *) m->tag;
	if ((rv = sf_store_txn_record_put(
	         txn, SF_STORE_FLEET, "dev/many", &rb.base, false))
	    != 0) {
		return (rv);
	}
	if (m->guard
	    && (rv = sf_store_txn_split_guard(txn, SF_STORE_FLEET, "dev/many"))
	        != 0) {
		return (rv);
	}
	for (int i = 0; i < m->n && rv == 0; i++) {
		char name[32];
		snprintf(name, sizeof(name), "p-%03d", i);
		m->svcs[i] = tu_svc(&m->a, "c1", "dev", name, 31000 + i);
		sf_store_txn_part(txn, (uint32_t) i + 1);
		tu_add_label(&m->a, m->svcs[i], "tag", m->tag);
		rv = sf_store_txn_service_put(txn, m->svcs[i], false);
		sf_store_txn_part(txn, 0);
	}
	if (rv == 0 && m->pause != NULL) {
		pause_wait(m->pause);
	}
	return (rv);
}

static int
parts_write(sf_store *s, parts_arg *m, sf_status *st)
{
	sf_store_write w = {.w_fn = parts_fn,
	    .w_arg                = m,
	    .w_status             = st,
	    .w_alloc              = sf_arena_pbc(&m->a),
	    .w_audit              = audit_fn};
	sf_status_reset(st);
	return (sf_store_write_sync(s, &w, NULL));
}

// A second store (another replica) writes the guard record between the
// first transaction of a split write and the rest.
static sf_store *parts_other;

static void
parts_hook(const char *guard)
{
	parts_arg m;
	sf_status st;
	(void) guard;
	sf__store_etcd_part_hook = NULL; // once
	memset(&m, 0, sizeof(m));
	sf_arena_init(&m.a);
	m.n    = 0;
	m.tag  = "other";
	m.svcs = NULL;
	sf_status_init(&st);
	assert_int_equal(parts_write(parts_other, &m, &st), 0);
	sf_status_fini(&st);
	sf_arena_fini(&m.a);
}

// The second case: a split write (y, through the other store) reads the
// guard and every Service after the first transaction of another (x) and
// commits after x's remaining parts did. Each of x's parts puts the guard
// again, so y's first transaction fails its compare and y runs again, now
// seeing x's Services: every Service ends as y's. (Without that put, y's
// first transaction would commit and y's later parts, comparing Services x
// wrote meanwhile, would fail: a mix of x and y.)
static parts_pause y_pause
    = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};
static parts_arg y_arg;
static int       y_rv;
static pthread_t y_thread;

static void *
y_main(void *arg)
{
	sf_status st;
	(void) arg;
	sf_status_init(&st);
	y_rv = parts_write(parts_other, &y_arg, &st);
	sf_status_fini(&st);
	return (NULL);
}

static void
y_hook(const char *guard)
{
	(void) guard;
	sf__store_etcd_part_hook = NULL; // once
	assert_int_equal(pthread_create(&y_thread, NULL, y_main, NULL), 0);
	pthread_mutex_lock(&y_pause.mtx);
	while (!y_pause.paused) {
		pthread_cond_wait(&y_pause.cv, &y_pause.mtx);
	}
	pthread_mutex_unlock(&y_pause.mtx);
}

// The "tag" label of Service c1/dev/name as stored (into buf; "" when
// none); fails when the Service is not stored.
static void
stored_tag(sf_store *s, const char *name, char *buf, size_t cap)
{
	Svcfleet__V1__Service *got = tu_get(s, "c1", "dev", name);
	assert_non_null(got);
	buf[0] = '\0';
	for (size_t l = 0; l < got->metadata->n_labels; l++) {
		if (strcmp(got->metadata->labels[l]->key, "tag") == 0) {
			snprintf(
			    buf, cap, "%s", got->metadata->labels[l]->value);
		}
	}
	svcfleet__v1__service__free_unpacked(got, NULL);
}

static void
test_txn_parts(void **state)
{
	char      prefix[64];
	sf_store *s;
	parts_arg m;
	sf_status st;

	(void) state;
	snprintf(prefix, sizeof(prefix), "/e/%d-parts/", (int) getpid());
	s = open_on(tu_etcd_endpoints(), prefix, NULL);
	memset(&m, 0, sizeof(m));
	sf_arena_init(&m.a);
	sf_status_init(&st);
	m.n    = 150; // 300 compares, 300 writes
	m.tag  = "one";
	m.svcs = sf_arena_zalloc(&m.a, 200 * sizeof(*m.svcs));
	// Without a guard the parts cannot be split: refused, nothing
	// written.
	assert_int_equal(parts_write(s, &m, &st), SF_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(st.st_msg, "--max-txn-ops"));
	assert_null(tu_get(s, "c1", "dev", "p-000"));
	// With one: every Service written, over several transactions, each
	// with the revision of its own (the messages too).
	m.guard       = true;
	size_t audits = audit_count(s);
	assert_int_equal(parts_write(s, &m, &st), 0);
	uint64_t first = 0, last = 0;
	for (int i = 0; i < m.n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "p-%03d", i);
		Svcfleet__V1__Service *got = tu_get(s, "c1", "dev", name);
		if (got == NULL) {
			fail_msg("%s was not written", name);
		}
		assert_int_equal(got->metadata->resource_version,
		    m.svcs[i]->metadata->resource_version);
		first = i == 0 ? got->metadata->resource_version : first;
		last  = got->metadata->resource_version;
		svcfleet__v1__service__free_unpacked(got, NULL);
	}
	assert_true(last > first); // split: more than one transaction
	// Once: one audit record.
	assert_int_equal(audit_count(s), audits + 1);
	// A newer write of the guard between the head and the rest stops
	// the rest: the Services after the head keep the older tag.
	parts_other              = open_on(tu_etcd_endpoints(), prefix, NULL);
	m.tag                    = "two";
	sf__store_etcd_part_hook = parts_hook;
	assert_int_equal(parts_write(s, &m, &st), 0);
	assert_null(sf__store_etcd_part_hook); // it ran
	int twos = 0, ones = 0;
	for (int i = 0; i < m.n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "p-%03d", i);
		char t[32];
		stored_tag(s, name, t, sizeof(t));
		twos += strcmp(t, "two") == 0;
		ones += strcmp(t, "one") == 0;
		// In order: the head's first, then none.
		if (i > 0 && strcmp(t, "two") == 0) {
			assert_int_equal(ones, 0);
		}
	}
	assert_true(twos > 0 && ones > 0 && twos + ones == m.n);

	memset(&y_arg, 0, sizeof(y_arg));
	sf_arena_init(&y_arg.a);
	y_arg.n     = m.n;
	y_arg.guard = true;
	y_arg.tag   = "y";
	y_arg.svcs  = sf_arena_zalloc(&y_arg.a, 200 * sizeof(*y_arg.svcs));
	y_arg.pause = &y_pause;
	m.tag       = "x";
	sf__store_etcd_part_hook = y_hook;
	// x's first transaction, then (y_hook) y starts and reads
	// everything, then x's other parts, then y commits.
	assert_int_equal(parts_write(s, &m, &st), 0);
	assert_null(sf__store_etcd_part_hook); // it ran
	pthread_mutex_lock(&y_pause.mtx);
	y_pause.go = true;
	pthread_cond_broadcast(&y_pause.cv);
	pthread_mutex_unlock(&y_pause.mtx);
	pthread_join(y_thread, NULL);
	assert_int_equal(y_rv, 0);
	for (int i = 0; i < m.n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "p-%03d", i);
		char t[32];
		stored_tag(s, name, t, sizeof(t));
		if (strcmp(t, "y") != 0) {
			fail_msg("%s is %s's, not y's", name, t);
		}
	}
	sf_arena_fini(&y_arg.a);
	sf_store_close(parts_other);
	sf_status_fini(&st);
	sf_arena_fini(&m.a);
	sf_store_close(s);
}

typedef struct log_catch {
	atomic_int seen;
} log_catch;

static void
log_sink(void *arg, int level, const char *line)
{
	log_catch *c = arg;
	(void) level;
	if (strstr(line, "NOSPACE") != NULL
	    && strstr(line, "etcdctl alarm disarm") != NULL) {
		atomic_fetch_add(&c->seen, 1);
	}
}

// etcd's quota fills: writes fail with RESOURCE_EXHAUSTED, the log says
// how to recover, reads go on.
static void
test_quota_alarm(void **state)
{
	sf_etcdfix     *fx;
	sf_etcdfix_opts fo = {.eo_quota_bytes = 1 << 20};
	sf_store       *s;
	sf_arena        a;
	sf_status       st;
	log_catch       lc = {0};
	int             rv = 0, ok = 0;

	(void) state;
	assert_int_equal(sf_etcdfix_start(&fx, &fo), 0);
	s = open_on(sf_etcdfix_endpoints(fx), NULL, NULL);
	sf_arena_init(&a);
	sf_status_init(&st);
	sf_log_set_sink(log_sink, &lc);
	char *v = sf_arena_alloc(&a, 64 << 10);
	memset(v, 'q', (64 << 10) - 1);
	v[(64 << 10) - 1] = '\0';
	for (; ok < 200; ok++) {
		char name[32];
		snprintf(name, sizeof(name), "q-%03d", ok);
		Svcfleet__V1__Service *svc = tu_svc(&a, "c1", "dev", name, 0);
		tu_add_label(&a, svc, "blob", v);
		sf_status_reset(&st);
		if ((rv = tu_put_flags(s, &a, svc, true, 0, &st, NULL)) != 0) {
			break;
		}
	}
	sf_log_set_sink(NULL, NULL);
	assert_int_equal(rv, SF_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(st.st_msg, "NOSPACE"));
	assert_true(ok > 2);
	assert_true(atomic_load(&lc.seen) >= 1);
	Svcfleet__V1__Service *got = tu_get(s, "c1", "dev", "q-000");
	assert_non_null(got);
	svcfleet__v1__service__free_unpacked(got, NULL);
	sf_status_fini(&st);
	sf_arena_fini(&a);
	sf_store_close(s);
	sf_etcdfix_stop(fx);
}

// ----------------------------------------------------------- replicas

typedef struct hook_rec {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	uint64_t        last;
} hook_rec;

static void
hook(void *arg, uint64_t rev)
{
	hook_rec *h = arg;
	pthread_mutex_lock(&h->mtx);
	if (rev > h->last) {
		h->last = rev;
	}
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mtx);
}

static bool
hook_wait(hook_rec *h, uint64_t rev, int ms)
{
	int64_t until = sf_clock_mono_ms() + ms;
	bool    ok;

	pthread_mutex_lock(&h->mtx);
	while (h->last < rev && sf_clock_mono_ms() < until) {
		pthread_mutex_unlock(&h->mtx);
		usleep(5000);
		pthread_mutex_lock(&h->mtx);
	}
	ok = h->last >= rev;
	pthread_mutex_unlock(&h->mtx);
	return (ok);
}

// Two stores on one prefix, as two svcfleetd replicas: a write through
// one fires the other's commit hook and shows in its feed and reads.
static void
test_two_replicas(void **state)
{
	char      prefix[64];
	sf_store *a, *b;
	hook_rec  h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	sf_arena  ar;
	uint64_t  since, rev;
	Svcfleet__V1__WatchEvent **ev;
	size_t                     n;
	uint64_t                   next;

	(void) state;
	snprintf(prefix, sizeof(prefix), "/e/%d-replicas/", (int) getpid());
	a = open_on(tu_etcd_endpoints(), prefix, NULL);
	b = open_on(tu_etcd_endpoints(), prefix, NULL);
	assert_string_equal(
	    sf_store_installation_id(a), sf_store_installation_id(b));
	sf_store_set_commit_hook(b, hook, &h);
	since = sf_store_revision(b);
	sf_arena_init(&ar);
	assert_int_equal(
	    tu_put(
	        a, &ar, tu_svc(&ar, "c1", "dev", "from-a", 30500), true, &rev),
	    0);
	assert_true(hook_wait(&h, rev, 3000));
	assert_int_equal(sf_store_feed_read(b, since, 100, NULL,
	                     sf_arena_pbc(&ar), &ev, &n, &next),
	    0);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0]->type, ADDED);
	assert_int_equal(ev[0]->revision, rev);
	assert_string_equal(ev[0]->service->metadata->name, "from-a");
	Svcfleet__V1__Service *got = tu_get(b, "c1", "dev", "from-a");
	assert_non_null(got);
	assert_int_equal(got->metadata->resource_version, rev);
	svcfleet__v1__service__free_unpacked(got, NULL);
	// b sees a's node port: a clash through b is refused.
	sf_status st;
	sf_status_init(&st);
	assert_int_equal(
	    tu_put_flags(b, &ar, tu_svc(&ar, "c1", "dev", "from-b", 30500),
	        true, 0, &st, NULL),
	    SF_FAILED_PRECONDITION);
	assert_non_null(strstr(st.st_msg, "dev/from-a"));
	sf_status_fini(&st);
	// A deletion through b reaches a's feed, with the last state.
	hook_rec ha = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	sf_store_set_commit_hook(a, hook, &ha);
	assert_int_equal(tu_delete(b, "c1", "dev", "from-a", &rev), 0);
	assert_true(hook_wait(&ha, rev, 3000));
	assert_int_equal(sf_store_feed_read(a, rev - 1, 100, NULL,
	                     sf_arena_pbc(&ar), &ev, &n, &next),
	    0);
	assert_int_equal(n, 1);
	assert_int_equal(
	    ev[0]->type, SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_DELETED);
	assert_int_equal(ev[0]->service->spec->ports[0]->node_port, 30500);
	sf_store_set_commit_hook(a, NULL, NULL);
	sf_store_set_commit_hook(b, NULL, NULL);
	sf_arena_fini(&ar);
	sf_store_close(b);
	sf_store_close(a);
}

typedef struct opener {
	const char *prefix;
	sf_store   *s;
} opener;

static void *
opener_main(void *arg)
{
	opener       *o  = arg;
	sf_store_opts so = {.so_etcd_endpoints = tu_etcd_endpoints(),
	    .so_etcd_prefix                    = o->prefix};
	sf_status     st;
	sf_status_init(&st);
	sf_store_open_backend("etcd", &o->s, &so, &st);
	sf_status_fini(&st);
	return (NULL);
}

// Stores opening an empty prefix at once agree on one installation id.
static void
test_installation_id_once(void **state)
{
	char      prefix[64];
	opener    o[4];
	pthread_t th[4];

	(void) state;
	snprintf(prefix, sizeof(prefix), "/e/%d-instid/", (int) getpid());
	tu_etcd_endpoints(); // started by the main thread
	for (int i = 0; i < 4; i++) {
		o[i].prefix = prefix;
		o[i].s      = NULL;
		pthread_create(&th[i], NULL, opener_main, &o[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_non_null(o[i].s);
	}
	for (int i = 1; i < 4; i++) {
		assert_string_equal(sf_store_installation_id(o[0].s),
		    sf_store_installation_id(o[i].s));
	}
	for (int i = 0; i < 4; i++) {
		sf_store_close(o[i].s);
	}
}

// ------------------------------------------------------------- secrets

static int
cluster_put_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	(void) st;
	return (sf_store_txn_cluster_put(txn, arg, true));
}

static void
test_sealed_credentials(void **state)
{
	char                  prefix[64];
	uint8_t               key[32], other[32];
	sf_store_opts         o = {.so_secret_key = key};
	sf_store             *s;
	Svcfleet__V1__Cluster c = SVCFLEET__V1__CLUSTER__INIT, *got;
	sf_arena              a;
	uint8_t              *raw;
	size_t                rn;
	sf_status             st;

	(void) state;
	memset(key, 7, sizeof(key));
	memset(other, 9, sizeof(other));
	snprintf(prefix, sizeof(prefix), "/e/%d-sealed/", (int) getpid());
	s = open_on(tu_etcd_endpoints(), prefix, &o);
	sf_arena_init(&a);
	c.name            = "east";
	c.api_server      = "https://east:6443";
	c.token           = "s3cret-token";
	c.client_key.data = (uint8_t *) "PRIVATE-KEY-BYTES";
	c.client_key.len  = 17;
	sf_store_write w  = {
	     .w_fn = cluster_put_fn, .w_arg = &c, .w_alloc = sf_arena_pbc(&a)};
	assert_int_equal(sf_store_write_sync(s, &w, NULL), 0);
	assert_string_equal(c.token, "s3cret-token"); // given back as it was
	// Nothing in the clear in etcd: the record without its credentials,
	// the credentials sealed beside it (keys keep their NUL).
	static const char *const keys[] = {"cl/east", "sec/east"};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sf__store_etcd_get_raw(s, keys[i],
		                     strlen(keys[i]) + 1, &raw, &rn),
		    0);
		assert_true(rn > 0);
		assert_null(memmem(raw, rn, "s3cret", 6));
		assert_null(memmem(raw, rn, "PRIVATE-KEY", 11));
		free(raw);
	}
	assert_int_equal(sf_store_cluster_get(s, "east", NULL, &got), 0);
	assert_string_equal(got->token, "s3cret-token");
	assert_int_equal(got->client_key.len, 17);
	svcfleet__v1__cluster__free_unpacked(got, NULL);
	sf_store_close(s);
	// Another key, or none: refused at open.
	sf_status_init(&st);
	sf_store_opts bad = {.so_etcd_endpoints = tu_etcd_endpoints(),
	    .so_etcd_prefix                     = prefix,
	    .so_secret_key                      = other};
	assert_int_equal(sf_store_open_backend("etcd", &s, &bad, &st),
	    SF_FAILED_PRECONDITION);
	assert_non_null(strstr(st.st_msg, "secret key"));
	sf_status_reset(&st);
	bad.so_secret_key = NULL;
	assert_int_equal(sf_store_open_backend("etcd", &s, &bad, &st),
	    SF_FAILED_PRECONDITION);
	bad.so_sealed_ok = true;
	sf_status_reset(&st);
	if (sf_store_open_backend("etcd", &s, &bad, &st) != 0) {
		fail_msg("sealed_ok: %s", st.st_msg);
	}
	assert_int_equal(sf_store_cluster_get(s, "east", NULL, &got),
	    SF_FAILED_PRECONDITION);
	sf_store_close(s);
	sf_status_fini(&st);
	sf_arena_fini(&a);
}

// ----------------------------------------------------------- retention

static void
test_audit_retention(void **state)
{
	sf_store_opts o = {.so_audit_keep = 5};
	sf_store     *s = open_on(tu_etcd_endpoints(), NULL, &o);
	sf_status     st;

	(void) state;
	sf_status_init(&st);
	for (int i = 0; i < 12; i++) {
		char name[32];
		snprintf(name, sizeof(name), "a-%02d", i);
		assert_int_equal(create(s, name, &st, NULL), 0);
		usleep(2000); // ids begin with the millisecond
	}
	assert_int_equal(audit_count(s), 12);
	sf__store_etcd_janitor(s);
	assert_int_equal(audit_count(s), 5);
	// The newest stay, newest first.
	sf_store_audit_query       q = {.aq_limit = 10};
	Svcfleet__V1__AuditEvent **evs;
	size_t                     n;
	uint64_t                   next;
	assert_int_equal(sf_store_audit_list(s, &q, NULL, &evs, &n, &next), 0);
	assert_int_equal(n, 5);
	for (size_t i = 1; i < n; i++) {
		assert_true(evs[i]->id < evs[i - 1]->id);
	}
	for (size_t i = 0; i < n; i++) {
		svcfleet__v1__audit_event__free_unpacked(evs[i], NULL);
	}
	free(evs);
	// Paging: two, then the rest from the cursor.
	q.aq_limit = 2;
	assert_int_equal(sf_store_audit_list(s, &q, NULL, &evs, &n, &next), 0);
	assert_int_equal(n, 2);
	assert_true(next > 0);
	for (size_t i = 0; i < n; i++) {
		svcfleet__v1__audit_event__free_unpacked(evs[i], NULL);
	}
	free(evs);
	q.aq_before = next;
	q.aq_limit  = 10;
	assert_int_equal(sf_store_audit_list(s, &q, NULL, &evs, &n, &next), 0);
	assert_int_equal(n, 3);
	assert_int_equal(next, 0);
	for (size_t i = 0; i < n; i++) {
		svcfleet__v1__audit_event__free_unpacked(evs[i], NULL);
	}
	free(evs);
	sf_store_close(s);
	// By age: everything older than 1 ms goes.
	o.so_audit_max_age_ms = 1;
	o.so_audit_keep       = 0;
	s                     = open_on(tu_etcd_endpoints(), NULL, &o);
	assert_int_equal(create(s, "old", &st, NULL), 0);
	usleep(5000);
	sf__store_etcd_janitor(s);
	assert_int_equal(audit_count(s), 0);
	sf_status_fini(&st);
	sf_store_close(s);
}

// ----------------------------------------------------------------- TLS

static void
test_tls(void **state)
{
	sf_etcdfix     *fx;
	sf_etcdfix_opts fo = {.eo_tls = true};
	sf_store_opts   o  = {.so_etcd_retry_ms = 5000};
	sf_store       *s;
	sf_arena        a;
	sf_status       st;
	uint64_t        rev;

	(void) state;
	assert_int_equal(sf_etcdfix_start(&fx, &fo), 0);
	o.so_etcd_ca_file   = sf_etcdfix_ca_file(fx);
	o.so_etcd_cert_file = sf_etcdfix_cert_file(fx);
	o.so_etcd_key_file  = sf_etcdfix_key_file(fx);
	s                   = open_on(sf_etcdfix_endpoints(fx), "/tls/", &o);
	sf_arena_init(&a);
	assert_int_equal(
	    tu_put(s, &a, tu_svc(&a, "c1", "dev", "secure", 0), true, &rev),
	    0);
	assert_int_equal(feed_count(s, rev - 1, NULL), 1);
	sf_store_close(s);
	// Without a client certificate, or trusting another CA: refused.
	sf_status_init(&st);
	o.so_etcd_endpoints = sf_etcdfix_endpoints(fx);
	o.so_etcd_prefix    = "/tls/";
	o.so_etcd_cert_file = NULL;
	o.so_etcd_key_file  = NULL;
	assert_true(sf_store_open_backend("etcd", &s, &o, &st) != 0);
	assert_null(s);
	sf_status_reset(&st);
	o.so_etcd_cert_file = sf_etcdfix_cert_file(fx);
	o.so_etcd_key_file  = sf_etcdfix_key_file(fx);
	o.so_etcd_ca_file   = "/etc/ssl/certs/ca-certificates.crt";
	int rv              = sf_store_open_backend("etcd", &s, &o, &st);
	if (rv != SF_FAILED_PRECONDITION || strstr(st.st_msg, "TLS") == NULL) {
		fail_msg("another CA: %s: %s", sf_status_name(rv), st.st_msg);
	}
	sf_status_fini(&st);
	sf_arena_fini(&a);
	sf_etcdfix_stop(fx);
}

// ------------------------------------------------------------- opening

static void
test_open_errors(void **state)
{
	sf_store_opts o = {.so_etcd_retry_ms = 500, .so_etcd_timeout_ms = 200};
	sf_store     *s;
	sf_status     st;
	char          dead[64];
	int64_t       t0;

	(void) state;
	sf_status_init(&st);
	assert_int_equal(
	    sf_store_open_backend("etcd", &s, &o, &st), SF_INVALID_ARGUMENT);
	sf_status_reset(&st);
	o.so_etcd_endpoints = "127.0.0.1:2379";
	assert_int_equal(
	    sf_store_open_backend("etcd", &s, &o, &st), SF_INVALID_ARGUMENT);
	assert_non_null(strstr(st.st_msg, "127.0.0.1:2379"));
	sf_status_reset(&st);
	o.so_etcd_endpoints = tu_etcd_endpoints();
	o.so_etcd_prefix    = "no-slash";
	assert_int_equal(
	    sf_store_open_backend("etcd", &s, &o, &st), SF_INVALID_ARGUMENT);
	sf_status_reset(&st);
	assert_int_equal(sf_store_open_backend("rocksdb", &s, &o, &st),
	    SF_INVALID_ARGUMENT);
	sf_status_reset(&st);
	// Nothing listens there: UNAVAILABLE, naming it, within the budget.
	snprintf(dead, sizeof(dead), "http://127.0.0.1:1");
	o.so_etcd_endpoints = dead;
	o.so_etcd_prefix    = NULL;
	t0                  = sf_clock_mono_ms();
	assert_int_equal(
	    sf_store_open_backend("etcd", &s, &o, &st), SF_UNAVAILABLE);
	assert_non_null(strstr(st.st_msg, "http://127.0.0.1:1"));
	assert_true(sf_clock_mono_ms() - t0 < 3000);
	sf_status_fini(&st);
}

// ------------------------------------------- concurrent writes (etcd-perf)

// Writes flagged SF_STORE_CONCURRENT run side by side, each still applied
// once: NCONC of them, each creating a Service of its own and adding one
// to a counter in a shared Service (its port's targetPort), which makes
// them conflict and run again. An exclusive write submitted among them
// runs alone: after every earlier write is done, before every later one
// starts.
#define NCONC 8

typedef struct conc_state {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	int             running, max_running;
	int             started_after_excl; // later writes that saw it done
	bool            excl_ran, excl_done, excl_alone;
} conc_state;

typedef struct conc_arg {
	conc_state *cs;
	sf_arena    a;
	char        name[32];
	bool        entered, late;
} conc_arg;

static int
conc_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	conc_arg              *c  = arg;
	conc_state            *cs = c->cs;
	sf_store_key           k  = {"c1", "dev", "shared"};
	Svcfleet__V1__Service *svc;
	int                    rv;

	(void) st;
	pthread_mutex_lock(&cs->mtx);
	if (!c->entered) {
		c->entered = true;
		cs->running++;
		if (cs->running > cs->max_running) {
			cs->max_running = cs->running;
		}
		if (c->late && cs->excl_done) {
			cs->started_after_excl++;
		}
		pthread_cond_broadcast(&cs->cv);
		// The first writes wait (5 s at most) for a second one to
		// run beside them: that is what is tested.
		int64_t until = sf_clock_mono_ms() + 5000;
		while (!c->late && cs->running < 2
		    && sf_clock_mono_ms() < until) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&cs->cv, &cs->mtx, &ts);
		}
	}
	pthread_mutex_unlock(&cs->mtx);
	if ((rv = sf_store_txn_service_get(txn, &k, sf_arena_pbc(&c->a), &svc))
	    != 0) {
		return (rv);
	}
	svc->spec->ports[0]->target_port++;
	if ((rv = sf_store_txn_service_put(txn, svc, false)) != 0) {
		return (rv);
	}
	return (sf_store_txn_service_put(
	    txn, tu_svc(&c->a, "c1", "dev", c->name, 0), true));
}

static void
conc_done(void *arg, int code, uint64_t rev)
{
	conc_arg *c = arg;
	(void) rev;
	assert_int_equal(code, 0);
	pthread_mutex_lock(&c->cs->mtx);
	c->cs->running--;
	pthread_cond_broadcast(&c->cs->cv);
	pthread_mutex_unlock(&c->cs->mtx);
}

static int
excl_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	conc_state *cs = arg;
	(void) txn;
	(void) st;
	pthread_mutex_lock(&cs->mtx);
	cs->excl_ran   = true;
	cs->excl_alone = cs->running == 0;
	pthread_mutex_unlock(&cs->mtx);
	return (0);
}

static void
excl_done(void *arg, int code, uint64_t rev)
{
	conc_state *cs = arg;
	(void) code;
	(void) rev;
	pthread_mutex_lock(&cs->mtx);
	cs->excl_done = true;
	pthread_mutex_unlock(&cs->mtx);
}

static void
test_concurrent_writes(void **state)
{
	conc_state cs = {
	    .mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	conc_arg  args[NCONC + 2];
	sf_store *s;
	sf_arena  ar;

	(void) state;
	s = open_on(tu_etcd_endpoints(), NULL, NULL);
	sf_arena_init(&ar);
	assert_int_equal(
	    tu_put(s, &ar, tu_svc(&ar, "c1", "dev", "shared", 0), true, NULL),
	    0);
	memset(args, 0, sizeof(args));
	for (int i = 0; i < NCONC + 2; i++) {
		conc_arg *c = &args[i];
		c->cs       = &cs;
		c->late     = i >= NCONC;
		sf_arena_init(&c->a);
		snprintf(c->name, sizeof(c->name), "w-%d", i);
		sf_store_write w = {.w_fn = conc_fn,
		    .w_done               = conc_done,
		    .w_arg                = c,
		    .w_flags              = SF_STORE_CONCURRENT,
		    .w_alloc              = sf_arena_pbc(&c->a)};
		if (i == NCONC) {
			sf_store_write x = {.w_fn = excl_fn,
			    .w_done               = excl_done,
			    .w_arg                = &cs};
			assert_int_equal(sf_store_submit(s, &x), 0);
		}
		assert_int_equal(sf_store_submit(s, &w), 0);
	}
	// A write without the flag, after all of them, waits for them.
	assert_int_equal(add_label(s, "after"), 0);
	pthread_mutex_lock(&cs.mtx);
	assert_int_equal(cs.running, 0);
	assert_true(cs.max_running >= 2);
	assert_true(cs.excl_ran);
	assert_true(cs.excl_alone);
	assert_int_equal(cs.started_after_excl, 2);
	pthread_mutex_unlock(&cs.mtx);
	Svcfleet__V1__Service *got = tu_get(s, "c1", "dev", "shared");
	assert_non_null(got);
	assert_int_equal(got->spec->ports[0]->target_port, 8080 + NCONC + 2);
	svcfleet__v1__service__free_unpacked(got, NULL);
	for (int i = 0; i < NCONC + 2; i++) {
		assert_non_null(got = tu_get(s, "c1", "dev", args[i].name));
		svcfleet__v1__service__free_unpacked(got, NULL);
		sf_arena_fini(&args[i].a);
	}
	sf_arena_fini(&ar);
	sf_store_close(s);
}

// ------------------------------------------- i15-perf: a create's requests

typedef struct count_rec {
	atomic_int ranges, txns;
} count_rec;

static int
count_fn(void *arg, const char *path, int phase)
{
	count_rec *c = arg;
	if (phase == 0 && strcmp(path, "kv/range") == 0) {
		atomic_fetch_add(&c->ranges, 1);
	} else if (phase == 0 && strcmp(path, "kv/txn") == 0) {
		atomic_fetch_add(&c->txns, 1);
	}
	return (0);
}

typedef struct vcl_arg {
	sf_arena a;
	int32_t  min;
} vcl_arg;

static int
vcl_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	vcl_arg               *v = arg;
	Svcfleet__V1__Cluster *c = sf_arena_zalloc(&v->a, sizeof(*c));
	(void) st;
	svcfleet__v1__cluster__init(c);
	c->name          = "vc1";
	c->node_port_min = v->min;
	c->node_port_max = 32767;
	return (sf_store_txn_cluster_put(txn, c, false));
}

static uint64_t
put_vcluster(sf_store *s, int32_t min)
{
	vcl_arg  v = {.min = min};
	uint64_t rev;
	sf_arena_init(&v.a);
	sf_store_write w
	    = {.w_fn = vcl_fn, .w_arg = &v, .w_alloc = sf_arena_pbc(&v.a)};
	assert_int_equal(sf_store_write_sync(s, &w, &rev), 0);
	sf_arena_fini(&v.a);
	return (rev);
}

// A create as svcfleetd makes it: the cluster's settings, the request
// record (absent), the Service, its first history record, the audit.
typedef struct vcreate_arg {
	sf_arena a;
	char     name[32];
	char     hist[32];
	uint64_t cl_rv;
	int32_t  cl_min;
	int      runs;
} vcreate_arg;

static int
vcreate_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	vcreate_arg                  *v = arg;
	Svcfleet__V1__Cluster        *cl;
	ProtobufCMessage             *m = NULL;
	Svcfleet__V1__ServiceHistory *h = sf_arena_zalloc(&v->a, sizeof(*h));
	int                           rv;
	(void) st;

	v->runs++;
	if ((rv = sf_store_txn_cluster_spec_get(
	         txn, "vc1", sf_arena_pbc(&v->a), &cl))
	    != 0) {
		return (rv);
	}
	v->cl_rv  = cl->resource_version;
	v->cl_min = cl->node_port_min;
	rv        = sf_store_txn_record_get(txn, SF_STORE_REQUESTS, v->name,
	           &svcfleet__v1__stored_reply__descriptor, sf_arena_pbc(&v->a), &m);
	if (rv != SF_NOT_FOUND) {
		return (rv == 0 ? SF_ALREADY_EXISTS : rv);
	}
	if ((rv = sf_store_txn_service_put(
	         txn, tu_svc(&v->a, "vc1", "dev", v->name, 0), true))
	    != 0) {
		return (rv);
	}
	svcfleet__v1__service_history__init(h);
	h->keep = 20;
	return (sf_store_txn_record_put(
	    txn, SF_STORE_HISTORY, v->hist, &h->base, true));
}

static int
vcreate(sf_store *s, vcreate_arg *v, const char *name, const char *hist)
{
	int rv;
	memset(v, 0, sizeof(*v));
	sf_arena_init(&v->a);
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->hist, sizeof(v->hist), "%s", hist);
	sf_store_write w = {.w_fn = vcreate_fn,
	    .w_audit              = audit_fn,
	    .w_arg                = v,
	    .w_flags              = SF_STORE_CONCURRENT,
	    .w_alloc              = sf_arena_pbc(&v->a)};
	rv               = sf_store_write_sync(s, &w, NULL);
	sf_arena_fini(&v->a);
	return (rv);
}

// A create reads nothing from etcd: the cluster comes from the watch-fed
// view, the request and history records are assumed absent; all three
// are compared in its one transaction. A view that lags (another replica
// changed the cluster) or a history record that exists only make the
// write run again, reading etcd: it never writes on what was stale.
static void
test_create_one_request(void **state)
{
	char        prefix[64];
	sf_store   *a, *b;
	count_rec   cnt = {0};
	vcreate_arg v;
	hook_rec h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	uint64_t rev;

	(void) state;
	snprintf(prefix, sizeof(prefix), "/e/%d-onereq/", (int) getpid());
	a = open_on(tu_etcd_endpoints(), prefix, NULL);
	b = open_on(tu_etcd_endpoints(), prefix, NULL);
	sf_store_set_commit_hook(a, hook, &h);
	rev = put_vcluster(a, 30000);
	assert_true(hook_wait(&h, rev, 3000)); // a's view has it
	sf__store_etcd_set_fault(sf__store_etcd_client(a), count_fn, &cnt);
	assert_int_equal(vcreate(a, &v, "one", "h-one"), 0);
	assert_int_equal(v.runs, 1);
	assert_int_equal(v.cl_rv, rev);
	assert_int_equal(atomic_load(&cnt.ranges), 0);
	assert_int_equal(atomic_load(&cnt.txns), 1);

	// The history record exists: the commit's compare fails, the write
	// runs again reading it, and the function sees it.
	assert_int_equal(vcreate(a, &v, "two", "h-one"), SF_ALREADY_EXISTS);
	assert_int_equal(v.runs, 2);
	assert_null(tu_get(a, "vc1", "dev", "two"));

	// a's view lags behind b's change of the cluster: a create through
	// a still validates against the cluster as b left it.
	for (int i = 0; i < 3; i++) {
		char name[16];
		sf__store_etcd_set_watch_delay(a, 300);
		rev = put_vcluster(b, 30100 + i);
		snprintf(name, sizeof(name), "lag-%d", i);
		assert_int_equal(vcreate(a, &v, name, name), 0);
		assert_int_equal(v.cl_rv, rev);
		assert_int_equal(v.cl_min, 30100 + i);
		sf__store_etcd_set_watch_delay(a, 0);
	}
	sf__store_etcd_set_fault(sf__store_etcd_client(a), NULL, NULL);
	sf_store_set_commit_hook(a, NULL, NULL);
	sf_store_close(b);
	sf_store_close(a);
}

// ------------------------------------------ i15-batch: group commit

// A gate that holds writes in their function: each one that enters counts
// itself and waits until the gate opens.
typedef struct gate {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	int             entered;
	bool            open;
} gate;

static int
gate_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	gate *g = arg;
	(void) txn;
	(void) st;
	pthread_mutex_lock(&g->mtx);
	g->entered++;
	pthread_cond_broadcast(&g->cv);
	while (!g->open) {
		pthread_cond_wait(&g->cv, &g->mtx);
	}
	pthread_mutex_unlock(&g->mtx);
	return (0); // reads nothing, writes nothing
}

// hold fills every slot for batched transactions with a write held in
// gate g, one at a time (so that no two of them share a batch).
static void
hold(sf_store *s, gate *g)
{
	g->entered = 0;
	g->open    = false;
	for (int i = 0; i < SF__STORE_ETCD_INFLIGHT; i++) {
		sf_store_write w = {.w_fn = gate_fn,
		    .w_arg                = g,
		    .w_flags              = SF_STORE_CONCURRENT};
		assert_int_equal(sf_store_submit(s, &w), 0);
		pthread_mutex_lock(&g->mtx);
		while (g->entered < i + 1) {
			pthread_cond_wait(&g->cv, &g->mtx);
		}
		pthread_mutex_unlock(&g->mtx);
	}
}

static void
release(gate *g)
{
	pthread_mutex_lock(&g->mtx);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mtx);
}

// A create submitted without waiting; done records its outcome.
typedef struct bcreate {
	create_arg      c;
	sf_status       st;
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	bool            done;
	int             code;
	uint64_t        rev;
} bcreate;

static void
bcreate_done(void *arg, int code, uint64_t rev)
{
	bcreate *b = arg;
	pthread_mutex_lock(&b->mtx);
	b->done = true;
	b->code = code;
	b->rev  = rev;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mtx);
}

static void
bcreate_submit_fn(sf_store *s, bcreate *b, const char *name, int32_t node_port,
    sf_store_write_fn fn)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->mtx, NULL);
	pthread_cond_init(&b->cv, NULL);
	sf_arena_init(&b->c.a);
	sf_status_init(&b->st);
	snprintf(b->c.name, sizeof(b->c.name), "%s", name);
	b->c.node_port   = node_port;
	sf_store_write w = {.w_fn = fn,
	    .w_audit              = audit_fn,
	    .w_done               = bcreate_done,
	    .w_arg                = b,
	    .w_status             = &b->st,
	    .w_flags              = SF_STORE_CONCURRENT,
	    .w_alloc              = sf_arena_pbc(&b->c.a)};
	assert_int_equal(sf_store_submit(s, &w), 0);
}

static void
bcreate_submit(sf_store *s, bcreate *b, const char *name, int32_t node_port)
{
	bcreate_submit_fn(s, b, name, node_port, create_fn);
}

static void
bcreate_wait(bcreate *b)
{
	pthread_mutex_lock(&b->mtx);
	while (!b->done) {
		pthread_cond_wait(&b->cv, &b->mtx);
	}
	pthread_mutex_unlock(&b->mtx);
}

static void
bcreate_fini(bcreate *b)
{
	sf_arena_fini(&b->c.a);
	sf_status_fini(&b->st);
	pthread_mutex_destroy(&b->mtx);
	pthread_cond_destroy(&b->cv);
}

// Concurrent writes that queue while every batch slot is busy go to etcd
// together, in one transaction: each is applied once, at that
// transaction's revision, with its own audit record. Two writes of one key
// never share a transaction (its compares would all pass before either
// put): the second runs alone and finds the first's Service. A batch
// whose compare fails (one write assumed absent a Service that exists)
// runs its writes one by one: the others are still applied.
static void
test_batch(void **state)
{
	enum { N = 8 };
	gate g
	    = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};
	bcreate        b[N + 2];
	count_rec      cnt = {0};
	sf_store      *s;
	sf_store_stats ss, before;
	size_t         audits, same = 0;
	char           name[32];

	(void) state;
	s      = open_on(tu_etcd_endpoints(), NULL, NULL);
	audits = audit_count(s);
	sf_store_stats_get(s, &before);
	hold(s, &g);
	sf__store_etcd_set_fault(sf__store_etcd_client(s), count_fn, &cnt);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "b-%d", i);
		bcreate_submit(s, &b[i], name, 30100 + i);
	}
	// Two creates of one Service, one of them in the middle.
	bcreate_submit(s, &b[N], "b-dup", 30200);
	bcreate_submit(s, &b[N + 1], "b-dup", 30201);
	release(&g);
	for (int i = 0; i < N + 2; i++) {
		bcreate_wait(&b[i]);
	}
	for (int i = 0; i < N; i++) {
		Svcfleet__V1__Service *got;
		assert_int_equal(b[i].code, 0);
		assert_true(b[i].rev > 0);
		assert_int_equal(b[i].c.runs, 1);
		assert_non_null(got = tu_get(s, "c1", "dev", b[i].c.name));
		assert_int_equal(got->metadata->resource_version, b[i].rev);
		svcfleet__v1__service__free_unpacked(got, NULL);
		same += b[i].rev == b[0].rev;
	}
	assert_int_equal(same, N); // one transaction
	// The first create of b-dup joins the batch; the second, whose key
	// meets it, runs alone after it and finds b-dup there.
	assert_int_equal(b[N].code, 0);
	assert_int_equal(b[N].rev, b[0].rev);
	assert_int_equal(b[N + 1].code, SF_ALREADY_EXISTS);
	bcreate               *won = &b[N];
	Svcfleet__V1__Service *dup = tu_get(s, "c1", "dev", "b-dup");
	assert_non_null(dup);
	assert_int_equal(dup->metadata->resource_version, won->rev);
	svcfleet__v1__service__free_unpacked(dup, NULL);
	// The batch, the second b-dup and the audit of its failure: far
	// fewer transactions than writes.
	assert_true(atomic_load(&cnt.txns) <= 5);
	sf_store_stats_get(s, &ss);
	assert_true(ss.ss_batch_max >= N);
	// Transactions counted once: the batch, and the failed write's
	// audit record. Writes: the held ones (read only), the batch's,
	// b-dup's failure is not one.
	assert_int_equal(ss.ss_commits - before.ss_commits, 2);
	assert_int_equal(
	    ss.ss_writes - before.ss_writes, SF__STORE_ETCD_INFLIGHT + N + 1);
	assert_int_equal(ss.ss_failed - before.ss_failed, 1);
	// One audit record per write, the failed one's too.
	assert_int_equal(audit_count(s), audits + N + 2);
	for (int i = 0; i < N + 2; i++) {
		bcreate_fini(&b[i]);
	}

	// b-3 exists: a create of it, assumed absent, fails the batch's
	// compare; each write then runs alone.
	hold(s, &g);
	bcreate_submit(s, &b[0], "c-0", 30300);
	bcreate_submit(s, &b[1], "b-3", 30301);
	bcreate_submit(s, &b[2], "c-2", 30302);
	release(&g);
	for (int i = 0; i < 3; i++) {
		bcreate_wait(&b[i]);
	}
	assert_int_equal(b[0].code, 0);
	assert_int_equal(b[1].code, SF_ALREADY_EXISTS);
	assert_int_equal(b[2].code, 0);
	assert_int_equal(b[0].c.runs, 2); // the batch, then alone
	assert_true(b[0].rev != b[2].rev);
	for (int i = 0; i < 3; i += 2) {
		Svcfleet__V1__Service *got
		    = tu_get(s, "c1", "dev", b[i].c.name);
		assert_non_null(got);
		assert_int_equal(got->metadata->resource_version, b[i].rev);
		svcfleet__v1__service__free_unpacked(got, NULL);
	}
	assert_int_equal(audit_count(s), audits + N + 2 + 3);
	for (int i = 0; i < 3; i++) {
		bcreate_fini(&b[i]);
	}
	sf__store_etcd_set_fault(sf__store_etcd_client(s), NULL, NULL);
	sf_store_close(s);
}

// A create allowed only while cluster c2 holds fewer than 2 Services: it
// counts them (a range, compared at commit) before it writes.
static int
capped_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	create_arg *c = arg;
	uint64_t    n;
	int         rv;
	(void) st;
	c->runs++;
	if ((rv = sf_store_txn_cluster_count_services(txn, "c2", 0, &n))
	    != 0) {
		return (rv);
	}
	if (n >= 2) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	return (sf_store_txn_service_put(
	    txn, tu_svc(&c->a, "c2", "dev", c->name, 0), true));
}

// Writes that count a range another one writes into never share a
// transaction: each compare of the range would pass before the other's
// put, and both creates would pass a limit only one may.
static void
test_batch_range(void **state)
{
	gate g
	    = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};
	bcreate   b[4];
	sf_store *s;
	sf_arena  ar;
	int       made = 0;

	(void) state;
	s = open_on(tu_etcd_endpoints(), NULL, NULL);
	sf_arena_init(&ar);
	assert_int_equal(
	    tu_put(s, &ar, tu_svc(&ar, "c2", "dev", "first", 0), true, NULL),
	    0);
	hold(s, &g);
	for (int i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof(name), "r-%d", i);
		bcreate_submit_fn(s, &b[i], name, 0, capped_fn);
	}
	release(&g);
	for (int i = 0; i < 4; i++) {
		bcreate_wait(&b[i]);
		assert_true(
		    b[i].code == 0 || b[i].code == SF_RESOURCE_EXHAUSTED);
		made += b[i].code == 0;
	}
	assert_int_equal(made, 1); // "first" and one more
	for (int i = 0; i < 4; i++) {
		Svcfleet__V1__Service *got
		    = tu_get(s, "c2", "dev", b[i].c.name);
		assert_true((got != NULL) == (b[i].code == 0));
		if (got != NULL) {
			svcfleet__v1__service__free_unpacked(got, NULL);
		}
		bcreate_fini(&b[i]);
	}
	sf_arena_fini(&ar);
	sf_store_close(s);
}

// ------------------------------------------ i15-perf: reads from the view

// get_min reads c1/dev/name through s as a caller that saw min_rev.
static int
get_min(sf_store *s, const char *name, uint64_t min_rev, uint64_t *svc_rv,
    uint64_t *at)
{
	sf_store_key           k   = {"c1", "dev", name};
	Svcfleet__V1__Service *got = NULL;
	int rv  = sf_store_service_get_min(s, &k, min_rev, NULL, &got, at);
	*svc_rv = got != NULL ? got->metadata->resource_version : 0;
	if (got != NULL) {
		svcfleet__v1__service__free_unpacked(got, NULL);
	}
	return (rv);
}

// list_all lists c1/dev in pages of 2 as a caller that saw min_rev,
// writing through w between pages when w is not NULL; returns the names
// seen (joined) and checks that every page has the first's revision.
static void
list_all(sf_store *s, uint64_t min_rev, sf_store *w, char *names, size_t cap)
{
	char     token[512] = "";
	uint64_t first      = 0;
	int      page       = 0;
	sf_arena ar;

	names[0] = '\0';
	sf_arena_init(&ar);
	do {
		sf_store_list_req req = {.lr_cluster = "c1",
		    .lr_namespace                    = "dev",
		    .lr_limit                        = 2,
		    .lr_page_token                   = token,
		    .lr_min_revision                 = min_rev};
		sf_store_list_res res;
		sf_status         st;
		sf_status_init(&st);
		assert_int_equal(sf_store_service_list(
		                     s, &req, sf_arena_pbc(&ar), &res, &st),
		    0);
		sf_status_fini(&st);
		if (first == 0) {
			first = res.lr_revision;
		}
		assert_int_equal(res.lr_revision, first);
		for (size_t i = 0; i < res.lr_n; i++) {
			size_t l = strlen(names);
			snprintf(names + l, cap - l, "%s ",
			    res.lr_items[i]->metadata->name);
		}
		snprintf(token, sizeof(token), "%s", res.lr_next_token);
		if (w != NULL && page == 0) {
			// Between pages another replica adds one at the end
			// and deletes the first: the list is still of the
			// first page's snapshot.
			assert_int_equal(
			    tu_put(w, &ar, tu_svc(&ar, "c1", "dev", "v9", 0),
			        true, NULL),
			    0);
			assert_int_equal(
			    tu_delete(w, "c1", "dev", "v0", NULL), 0);
		}
		page++;
	} while (token[0] != '\0');
	sf_arena_fini(&ar);
}

// A caller that saw revision R reads, through a replica whose watch lags,
// data at least as new as R (the view waits, or etcd answers); a caller
// without a revision reads etcd. Once the view has the revision, Gets and
// pages come from it without a request to etcd, and a list's pages stay
// one snapshot whatever is written between them.
static void
test_view_reads(void **state)
{
	char      prefix[64], names[256];
	sf_store *a, *b;
	count_rec cnt = {0};
	sf_arena  ar;
	uint64_t  rev, got_rv, at;
	hook_rec  h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

	(void) state;
	snprintf(prefix, sizeof(prefix), "/e/%d-view/", (int) getpid());
	a = open_on(tu_etcd_endpoints(), prefix, NULL);
	b = open_on(tu_etcd_endpoints(), prefix, NULL);
	sf_store_set_commit_hook(b, hook, &h);
	sf_arena_init(&ar);
	for (int i = 0; i < 20; i++) {
		char name[16];
		snprintf(name, sizeof(name), "lag-%d", i);
		sf__store_etcd_set_watch_delay(b, 200);
		assert_int_equal(
		    tu_put(
		        a, &ar, tu_svc(&ar, "c1", "x", name, 0), true, &rev),
		    0);
		// b's watch is 200 ms behind: a caller that saw rev still
		// reads it (seen: found, at rev or later).
		sf_store_key           k   = {"c1", "x", name};
		Svcfleet__V1__Service *got = NULL;
		assert_int_equal(
		    sf_store_service_get_min(b, &k, rev, NULL, &got, &at), 0);
		assert_int_equal(got->metadata->resource_version, rev);
		assert_true(at >= rev);
		svcfleet__v1__service__free_unpacked(got, NULL);
		sf__store_etcd_set_watch_delay(b, 0);
	}
	for (int i = 0; i < 5; i++) {
		char name[8];
		snprintf(name, sizeof(name), "v%d", i);
		assert_int_equal(
		    tu_put(
		        a, &ar, tu_svc(&ar, "c1", "dev", name, 0), true, &rev),
		    0);
	}
	// Without a revision: etcd, even with the watch held back.
	sf__store_etcd_set_watch_delay(b, 300);
	assert_int_equal(tu_delete(a, "c1", "dev", "v4", &rev), 0);
	assert_int_equal(get_min(b, "v4", 0, &got_rv, &at), SF_NOT_FOUND);
	sf__store_etcd_set_watch_delay(b, 0);
	assert_true(hook_wait(&h, rev, 3000));
	// The view has it: no request to etcd.
	sf__store_etcd_set_fault(sf__store_etcd_client(b), count_fn, &cnt);
	assert_int_equal(get_min(b, "v1", rev, &got_rv, &at), 0);
	assert_true(at >= rev);
	assert_int_equal(get_min(b, "v4", rev, &got_rv, &at), SF_NOT_FOUND);
	list_all(b, rev, NULL, names, sizeof(names));
	assert_string_equal(names, "v0 v1 v2 v3 ");
	assert_int_equal(atomic_load(&cnt.ranges), 0);
	// Written between pages: the pages keep the first one's snapshot
	// (the view no longer holds it: those pages come from etcd).
	list_all(b, rev, a, names, sizeof(names));
	assert_string_equal(names, "v0 v1 v2 v3 ");
	sf__store_etcd_set_fault(sf__store_etcd_client(b), NULL, NULL);
	sf_store_set_commit_hook(b, NULL, NULL);
	sf_arena_fini(&ar);
	sf_store_close(b);
	sf_store_close(a);
}

// Every client of one replica reads what another client wrote through
// it, even from the view and with the watch behind: a caller that saw an
// older revision (min_rev) gets the replica's own newer write, as it
// would from etcd. (A stress run's recon_sync_test on etcd read a Service
// without the deletion mark the CLI had just written.)
static void
test_view_reads_own_writes(void **state)
{
	char      prefix[64];
	sf_store *a;
	sf_arena  ar;
	uint64_t  seen, rev, got_rv, at;
	hook_rec  h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

	(void) state;
	snprintf(prefix, sizeof(prefix), "/e/%d-ownw/", (int) getpid());
	a = open_on(tu_etcd_endpoints(), prefix, NULL);
	sf_store_set_commit_hook(a, hook, &h);
	sf_arena_init(&ar);
	assert_int_equal(
	    tu_put(a, &ar, tu_svc(&ar, "c1", "dev", "w0", 0), true, &seen), 0);
	assert_true(hook_wait(&h, seen, 3000)); // the view has it
	for (int i = 0; i < 5; i++) {
		char name[8];
		snprintf(name, sizeof(name), "w%d", i + 1);
		// The watch is held back; another client of a writes.
		sf__store_etcd_set_watch_delay(a, 300);
		assert_int_equal(
		    tu_put(
		        a, &ar, tu_svc(&ar, "c1", "dev", name, 0), true, &rev),
		    0);
		assert_int_equal(get_min(a, name, seen, &got_rv, &at), 0);
		assert_int_equal(got_rv, rev);
		assert_true(at >= rev);
		char names[128];
		list_all(a, seen, NULL, names, sizeof(names));
		assert_non_null(strstr(names, name));
		assert_int_equal(tu_delete(a, "c1", "dev", name, &rev), 0);
		assert_int_equal(
		    get_min(a, name, seen, &got_rv, &at), SF_NOT_FOUND);
		sf__store_etcd_set_watch_delay(a, 0);
	}
	sf_store_set_commit_hook(a, NULL, NULL);
	sf_arena_fini(&ar);
	sf_store_close(a);
}

// i15-create: a write that puts only keys outside the watch (a request
// record).
static int
req_only_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	Svcfleet__V1__StoredReply r = SVCFLEET__V1__STORED_REPLY__INIT;
	(void) st;
	r.method = "m";
	return (sf_store_txn_record_put(
	    txn, SF_STORE_REQUESTS, (const char *) arg, &r.base, false));
}

// i15-create: a write that changes a watched key has its marker under
// P ~txn/, outside the watch (the key it changed brings the watch to its
// revision); one that changes none keeps it under P txn/, so that its
// caller still reads its own write: the feed reaches its revision at
// once. The janitor deletes old markers of both kinds (P txn/ is also
// where replicas of earlier versions put every marker).
static void
test_markers_out_of_watch(void **state)
{
	char                       prefix[64];
	sf_store                  *a;
	sf_arena                   ar;
	uint64_t                   n, rev = 0, next;
	size_t                     nev;
	int64_t                    t0;
	Svcfleet__V1__WatchEvent **ev = NULL;

	(void) state;
	snprintf(prefix, sizeof(prefix), "/e/%d-mark/", (int) getpid());
	a = open_on(tu_etcd_endpoints(), prefix, NULL);
	sf_arena_init(&ar);
	assert_int_equal(
	    tu_put(a, &ar, tu_svc(&ar, "c1", "dev", "m0", 0), true, NULL), 0);
	assert_int_equal(
	    sf__store_etcd_count(a, SF__STORE_ETCD_TXN_OUT, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sf__store_etcd_count(a, SF__STORE_ETCD_TXN, &n), 0);
	assert_int_equal(n, 0);

	// A write of nothing watched: its marker is watched, and the feed
	// reads it back at once (not after the 3 s it would wait for a
	// revision its watch never brings, then UNAVAILABLE).
	sf_store_write w = {.w_fn = req_only_fn, .w_arg = "r1"};
	assert_int_equal(sf_store_write_sync(a, &w, &rev), 0);
	assert_true(rev > 0);
	t0 = sf_clock_mono_ms();
	assert_int_equal(
	    sf_store_feed_read(a, rev, 10, NULL, NULL, &ev, &nev, &next), 0);
	for (size_t i = 0; i < nev; i++) {
		svcfleet__v1__watch_event__free_unpacked(ev[i], NULL);
	}
	free(ev);
	assert_true(sf_clock_mono_ms() - t0 < 2000);
	assert_true(sf_store_revision_reached(a) >= rev);
	assert_int_equal(sf__store_etcd_count(a, SF__STORE_ETCD_TXN, &n), 0);
	assert_int_equal(n, 1);

	// Old markers of both kinds go; the new ones stay.
	assert_int_equal(sf__store_etcd_put_raw(a,
	                     SF__STORE_ETCD_TXN "0000000000000001-00", "c", 1),
	    0);
	assert_int_equal(
	    sf__store_etcd_put_raw(
	        a, SF__STORE_ETCD_TXN_OUT "0000000000000001-00", "c", 1),
	    0);
	sf__store_etcd_janitor(a);
	assert_int_equal(
	    sf__store_etcd_count(a, SF__STORE_ETCD_TXN_OUT, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sf__store_etcd_count(a, SF__STORE_ETCD_TXN, &n), 0);
	assert_int_equal(n, 1);
	sf_arena_fini(&ar);
	sf_store_close(a);
}

// i15-create: a request record read in a write tells the revision of the
// write that put it, and sf_store_service_get_at reads a Service as it
// was at a revision (a replay's answer).
static int
req_svc_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	create_arg               *c = arg;
	Svcfleet__V1__StoredReply r = SVCFLEET__V1__STORED_REPLY__INIT;
	ProtobufCMessage         *m = NULL;
	int                       rv;
	(void) st;
	rv = sf_store_txn_record_get(txn, SF_STORE_REQUESTS, c->name,
	    &svcfleet__v1__stored_reply__descriptor, sf_arena_pbc(&c->a), &m);
	if (rv == 0) {
		c->node_port
		    = (int32_t) ((Svcfleet__V1__StoredReply *) m)->revision;
		return (SF_ALREADY_EXISTS);
	}
	if (rv != SF_NOT_FOUND) {
		return (rv);
	}
	r.method       = "m";
	r.from_service = true;
	if ((rv = sf_store_txn_record_put(
	         txn, SF_STORE_REQUESTS, c->name, &r.base, false))
	    != 0) {
		return (rv);
	}
	return (sf_store_txn_service_put(
	    txn, tu_svc(&c->a, "c1", "dev", c->name, 0), false));
}

static void
test_replay_revision(void **state)
{
	sf_store              *a;
	create_arg             c;
	uint64_t               r1 = 0, r2 = 0;
	Svcfleet__V1__Service *svc = NULL;
	sf_arena               ar;

	(void) state;
	a = open_on(tu_etcd_endpoints(), NULL, NULL);
	memset(&c, 0, sizeof(c));
	sf_arena_init(&c.a);
	sf_arena_init(&ar);
	snprintf(c.name, sizeof(c.name), "rp1");
	sf_store_write w = {.w_fn = req_svc_fn, .w_arg = &c};
	assert_int_equal(sf_store_write_sync(a, &w, &r1), 0);
	// The Service changes after it.
	assert_int_equal(
	    tu_put(a, &ar, tu_svc(&ar, "c1", "dev", "rp1", 0), false, &r2), 0);
	assert_true(r2 > r1);
	// The same request again: found, at the first write's revision.
	assert_int_equal(sf_store_write_sync(a, &w, NULL), SF_ALREADY_EXISTS);
	assert_int_equal(c.node_port, (int32_t) r1);
	sf_store_key k = {"c1", "dev", "rp1"};
	assert_int_equal(
	    sf_store_service_get_at(a, &k, r1, sf_arena_pbc(&ar), &svc), 0);
	assert_int_equal(svc->metadata->resource_version, r1);
	assert_int_equal(
	    sf_store_service_get_at(a, &k, r2, sf_arena_pbc(&ar), &svc), 0);
	assert_int_equal(svc->metadata->resource_version, r2);
	assert_int_equal(
	    sf_store_service_get_at(a, &k, r1 - 1, sf_arena_pbc(&ar), &svc),
	    SF_NOT_FOUND);
	sf_arena_fini(&c.a);
	sf_arena_fini(&ar);
	sf_store_close(a);
}

// i15-perf3: a list page holds references to the view's entries, not
// copies. While it holds them the watch replaces one Service and deletes
// another: the page still reads the values it took, whole (under ASan a
// value freed by the view while held fails here), and the view has moved
// on (a new hold sees the change).
static void
test_view_refs(void **state)
{
	char                 prefix[64];
	sf_store            *a;
	sf_arena             ar;
	uint64_t             rev = 0;
	sf__store_view_hold *h, *h2;
	size_t               n, n2, vn;
	uint8_t             *before[3];
	size_t               beforen[3];
	hook_rec hk = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

	(void) state;
	snprintf(prefix, sizeof(prefix), "/e/%d-vref/", (int) getpid());
	a = open_on(tu_etcd_endpoints(), prefix, NULL);
	sf_store_set_commit_hook(a, hook, &hk);
	sf_arena_init(&ar);
	for (int i = 0; i < 3; i++) {
		char name[8];
		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(
		    tu_put(
		        a, &ar, tu_svc(&ar, "c1", "ref", name, 0), true, &rev),
		    0);
	}
	assert_true(hook_wait(&hk, rev, 3000));
	assert_int_equal(
	    sf__store_etcd_view_hold(a, "c1", "ref", rev, &h, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = sf__store_etcd_view_held(h, i, &vn);
		before[i]        = malloc(vn + 1);
		assert_non_null(before[i]);
		memcpy(before[i], v, vn);
		beforen[i] = vn;
	}
	// r0 replaced (another target port), r1 deleted, through the store;
	// the watch brings both into the view while h holds the old entries.
	Svcfleet__V1__Service *r0       = tu_svc(&ar, "c1", "ref", "r0", 0);
	r0->spec->ports[0]->target_port = 9090;
	assert_int_equal(tu_put(a, &ar, r0, false, &rev), 0);
	assert_int_equal(tu_delete(a, "c1", "ref", "r1", &rev), 0);
	assert_true(hook_wait(&hk, rev, 3000));
	assert_int_equal(
	    sf__store_etcd_view_hold(a, "c1", "ref", rev, &h2, &n2), 0);
	assert_int_equal(n2, 2);
	size_t         v2n;
	const uint8_t *v2 = sf__store_etcd_view_held(h2, 0, &v2n);
	assert_false(v2n == beforen[0] && memcmp(v2, before[0], v2n) == 0);
	sf__store_etcd_view_release(h2);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = sf__store_etcd_view_held(h, i, &vn);
		assert_int_equal(vn, beforen[i]);
		assert_memory_equal(v, before[i], vn);
		Svcfleet__V1__Service *svc
		    = svcfleet__v1__service__unpack(NULL, vn, v);
		assert_non_null(svc);
		char name[32];
		snprintf(name, sizeof(name), "r%zu", i);
		assert_string_equal(svc->metadata->name, name);
		svcfleet__v1__service__free_unpacked(svc, NULL);
		free(before[i]);
	}
	sf__store_etcd_view_release(h);
	sf_store_set_commit_hook(a, NULL, NULL);
	sf_arena_fini(&ar);
	sf_store_close(a);
}

int
main(void)
{
	if (!sf_etcdfix_available()) {
		fprintf(stderr, "no etcd binary: skipped\n");
		return (77);
	}
	setenv("SF_STORE_BACKEND", "etcd", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lost_answer_once),
	    cmocka_unit_test(test_fence_then_rerun),
	    cmocka_unit_test(test_two_replicas),
	    cmocka_unit_test(test_installation_id_once),
	    cmocka_unit_test(test_compaction),
	    cmocka_unit_test(test_value_too_large),
	    cmocka_unit_test(test_txn_too_many_ops),
	    cmocka_unit_test(test_txn_parts), // i18-wide
	    cmocka_unit_test(test_sealed_credentials),
	    cmocka_unit_test(test_audit_retention),
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test(test_quota_alarm),
	    cmocka_unit_test(test_tls),
	    cmocka_unit_test(test_failover),
	    cmocka_unit_test(test_concurrent_writes),  // etcd-perf
	    cmocka_unit_test(test_create_one_request), // i15-perf
	    cmocka_unit_test(test_view_reads),         // i15-perf
	    cmocka_unit_test(test_view_reads_own_writes),
	    cmocka_unit_test(test_view_refs),            // i15-perf3
	    cmocka_unit_test(test_markers_out_of_watch), // i15-create
	    cmocka_unit_test(test_replay_revision),
	    cmocka_unit_test(test_batch), // i15-batch
	    cmocka_unit_test(test_batch_range),
	};
	sf_log_set_level(SF_LOG_WARN);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
