// lmdb_writer.c: the single writer thread (group commit).
//
// Requests queue up while the writer is busy; the writer takes up to
// s_batch_max of them and applies them in one parent write transaction,
// each in a child transaction of its own, so a failing request leaves
// nothing behind while the others still commit. One commit (one fsync pair
// unless nosync) then makes the whole batch durable; only after it are the
// done callbacks run, in submission order, and then the commit hook.
//
// Group commit needs company: with N clients each waiting for its reply
// before sending the next write, the writes of one commit come back spread
// over the time the replies take to go out and the clients to answer. The
// writer takes whatever is queued at once, so without waiting it commits
// the first few alone and the rest a commit later, and N clients share two
// or three fsync pairs per round instead of one. So when fewer requests
// are queued than the last batch held, the writer lingers until that many
// have come, for at most s_linger_us after the first and never longer
// than the last commit took (waiting longer than a commit saves nothing).
// The expectation follows the load down at once: a batch that did not
// fill sets the next expectation.
//
// MDB_MAP_FULL anywhere in a batch aborts the batch, doubles the map under
// the exclusive map lock (LMDB may only resize while no transaction of the
// process is active) and runs the whole batch again: write functions are
// re-runnable by contract.
#include "lmdb_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

// The state of one batch (one attempt) on the writer thread.
typedef struct batch {
	sf_store *b_store;
	MDB_txn  *b_parent;
	int64_t   b_now;
	uint64_t  b_rev;      // revision after the children committed so far
	uint64_t  b_services; // number of Services likewise
	uint64_t  b_feed_new; // feed entries appended
	uint64_t  b_feed_first;
	uint64_t  b_writes;
	uint64_t  b_failed;
	bool      b_dirty; // some child committed: the parent must commit
} batch;

// Feed entries trimmed beyond the ones a batch appended, so a backlog
// (a lower so_feed_keep after a restart) shrinks without one huge batch.
#define TRIM_EXTRA 1024

static sf_status *
req_status(sf__store_req *rq)
{
	return (rq->rq_w.w_status != NULL ? rq->rq_w.w_status : &rq->rq_st);
}

static void
txn_init(sf_store_txn *t, batch *b, sf__store_req *rq, MDB_txn *mdb)
{
	memset(t, 0, sizeof(*t));
	t->t_ops   = b->b_store->s_ops;
	t->t_store = b->b_store;
	t->t_mdb   = mdb;
	t->t_st    = req_status(rq);
	t->t_alloc = rq->rq_w.w_alloc != NULL ? rq->rq_w.w_alloc
	                                      : sf_arena_pbc(&rq->rq_arena);
	// The revision is assigned at child begin: the next one. It is
	// consumed only when the child commits having changed something.
	t->t_rev = b->b_rev + 1;
	t->t_now = b->b_now;
}

// child_done folds a committed child into the batch.
static void
child_done(batch *b, sf_store_txn *t, sf__store_req *rq)
{
	b->b_dirty = true;
	if (t->t_wrote) {
		b->b_rev++;
		if (rq != NULL) {
			rq->rq_rev = b->b_rev;
		}
	}
	b->b_services
	    = (uint64_t) ((int64_t) b->b_services + t->t_services_delta);
	b->b_feed_new += t->t_feed_added;
}

// run_audit records a request's outcome in a fresh child (fn failed, or
// was a dry run). A failing audit is logged: it cannot change the outcome.
// Returns 0, MDB_MAP_FULL (retry the batch) or an LMDB error that breaks
// the batch.
static int
run_audit(batch *b, sf__store_req *rq, int code)
{
	sf_store_txn t;
	MDB_txn     *child;
	int          rc, a;

	if ((rc = mdb_txn_begin(b->b_store->s_env, b->b_parent, 0, &child))
	    != 0) {
		return (rc);
	}
	txn_init(&t, b, rq, child);
	a = rq->rq_w.w_audit(&t, rq->rq_w.w_arg, code, req_status(rq));
	if (t.t_mdb_err == MDB_MAP_FULL) {
		mdb_txn_abort(child);
		return (MDB_MAP_FULL);
	}
	if (a != 0 || t.t_mdb_err != 0) {
		mdb_txn_abort(child);
		SF_ERROR("store",
		    "the audit record of a request that ended with %s could "
		    "not be written: %s",
		    sf_status_name(code),
		    t.t_mdb_err ? mdb_strerror(t.t_mdb_err)
		                : sf_status_name(a));
		return (0);
	}
	if ((rc = mdb_txn_commit(child)) != 0) {
		return (rc);
	}
	child_done(b, &t, NULL);
	return (0);
}

// run_one applies one request in a child of the batch's transaction.
// Returns 0 (the request's outcome is in rq), MDB_MAP_FULL (retry the
// batch) or another LMDB error that breaks the batch.
static int
run_one(batch *b, sf__store_req *rq)
{
	sf_store_txn t;
	MDB_txn     *child;
	sf_status   *st  = req_status(rq);
	bool         dry = (rq->rq_w.w_flags & SF_STORE_DRY_RUN) != 0;
	int          rc, code;

	if ((rc = mdb_txn_begin(b->b_store->s_env, b->b_parent, 0, &child))
	    != 0) {
		return (rc);
	}
	txn_init(&t, b, rq, child);
	code = rq->rq_w.w_fn(&t, rq->rq_w.w_arg, st);
	if (t.t_mdb_err == MDB_MAP_FULL) {
		mdb_txn_abort(child);
		return (MDB_MAP_FULL);
	}
	if (code == 0 && t.t_mdb_err != 0) {
		// The function went on after the store failed under it.
		code = sf__store_mdb_code(t.t_mdb_err);
	}
	if (code == 0 && !dry && rq->rq_w.w_audit != NULL) {
		int a = rq->rq_w.w_audit(&t, rq->rq_w.w_arg, 0, st);
		if (t.t_mdb_err == MDB_MAP_FULL) {
			mdb_txn_abort(child);
			return (MDB_MAP_FULL);
		}
		if (a != 0 || t.t_mdb_err != 0) {
			// No write without its audit record.
			code = a != 0 ? a : sf__store_mdb_code(t.t_mdb_err);
			sf_status_set(st, code,
			    "the audit record could not be written; nothing "
			    "was stored");
			mdb_txn_abort(child);
			rq->rq_code = code;
			b->b_failed++;
			return (0);
		}
	}
	if (code == 0 && !dry) {
		if ((rc = mdb_txn_commit(child)) != 0) {
			return (rc);
		}
		child_done(b, &t, rq);
		rq->rq_code = 0;
		b->b_writes++;
		return (0);
	}
	// Failed, or a dry run: nothing of it is kept.
	mdb_txn_abort(child);
	rq->rq_code = code;
	if (code != 0) {
		b->b_failed++;
	}
	return (rq->rq_w.w_audit != NULL ? run_audit(b, rq, code) : 0);
}

// trim_feed keeps the newest s_feed_keep entries, deleting at most what
// this batch appended plus TRIM_EXTRA, and never part of a revision. A
// failure other than MDB_MAP_FULL only postpones trimming.
static int
trim_feed(batch *b)
{
	sf_store   *s = b->b_store;
	MDB_txn    *child;
	MDB_cursor *cur;
	MDB_stat    ms;
	MDB_val     k, v;
	uint64_t    excess, todo, last = 0, n = 0;
	int         rc;

	if ((rc = mdb_stat(b->b_parent, s->s_dbi[SF__DB_FEED], &ms)) != 0) {
		return (rc);
	}
	if (ms.ms_entries <= s->s_feed_keep) {
		goto first;
	}
	excess = ms.ms_entries - s->s_feed_keep;
	todo   = b->b_feed_new + TRIM_EXTRA;
	todo   = excess < todo ? excess : todo;
	if ((rc = mdb_txn_begin(s->s_env, b->b_parent, 0, &child)) != 0) {
		return (rc);
	}
	if ((rc = mdb_cursor_open(child, s->s_dbi[SF__DB_FEED], &cur)) != 0) {
		mdb_txn_abort(child);
		return (rc);
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		uint64_t rev = sf__store_key_feed_rev(&k);
		if (n >= todo && rev != last) {
			break;
		}
		if ((rc = mdb_cursor_del(cur, 0)) != 0) {
			break;
		}
		last = rev;
		n++;
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND) {
		rc = 0;
	}
	if (rc == 0 && n > 0) {
		rc = sf__store_meta_put(
		    s, child, SF__META_FEED_FLOOR, last + 1);
	}
	if (rc == 0) {
		rc = mdb_txn_commit(child);
	} else {
		mdb_txn_abort(child);
	}
	if (rc == MDB_MAP_FULL) {
		return (rc);
	}
	if (rc != 0) {
		SF_WARN(
		    "store", "change feed not trimmed: %s", mdb_strerror(rc));
	}
first:
	if ((rc = mdb_cursor_open(b->b_parent, s->s_dbi[SF__DB_FEED], &cur))
	    != 0) {
		return (rc);
	}
	b->b_feed_first = mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0
	    ? sf__store_key_feed_rev(&k)
	    : 0;
	mdb_cursor_close(cur);
	return (0);
}

// fail_batch gives every request that has not failed on its own the
// batch's failure.
static void
fail_batch(sf__store_req **rq, size_t n, int rc, const char *what)
{
	int code = sf__store_mdb_code(rc);

	SF_ERROR("store", "a batch of %zu write(s) failed (%s): %s", n, what,
	    mdb_strerror(rc));
	for (size_t i = 0; i < n; i++) {
		rq[i]->rq_rev = 0;
		if (rq[i]->rq_code == 0) {
			rq[i]->rq_code = code;
			sf_status_set(req_status(rq[i]), code,
			    "store: %s failed: %s", what, mdb_strerror(rc));
		}
	}
}

// try_batch runs one attempt. Returns MDB_MAP_FULL to ask for a retry
// after growing the map, otherwise 0 with every request's outcome set and
// *committed telling whether a commit happened.
static int
try_batch(
    sf_store *s, sf__store_req **rq, size_t n, int attempt, bool *committed)
{
	batch       b;
	const char *what = "begin";
	int         rc;

	memset(&b, 0, sizeof(b));
	b.b_store    = s;
	b.b_now      = sf_clock_now_ms();
	b.b_rev      = atomic_load(&s->s_revision);
	b.b_services = atomic_load(&s->s_services);
	*committed   = false;

	for (size_t i = 0; i < n; i++) {
		rq[i]->rq_code = 0;
		rq[i]->rq_rev  = 0;
		if (attempt > 0) {
			// The last attempt's report no longer holds. Its
			// arena is kept: the caller's message may still point
			// into it until the function runs again.
			sf_status_reset(req_status(rq[i]));
		}
	}
	if ((rc = mdb_txn_begin(s->s_env, NULL, 0, &b.b_parent)) != 0) {
		goto fail;
	}
	what = "apply";
	for (size_t i = 0; i < n; i++) {
		if ((rc = run_one(&b, rq[i])) != 0) {
			goto fail;
		}
	}
	if (!b.b_dirty) {
		// Only failures and dry runs without audit: nothing to commit.
		mdb_txn_abort(b.b_parent);
		atomic_fetch_add(&s->s_failed, b.b_failed);
		return (0);
	}
	what = "update meta";
	if (b.b_rev != atomic_load(&s->s_revision)
	    && (rc = sf__store_meta_put(
	            s, b.b_parent, SF__META_REVISION, b.b_rev))
	        != 0) {
		goto fail;
	}
	if (b.b_services != atomic_load(&s->s_services)
	    && (rc = sf__store_meta_put(
	            s, b.b_parent, SF__META_SERVICES, b.b_services))
	        != 0) {
		goto fail;
	}
	what = "trim the change feed";
	if ((rc = trim_feed(&b)) != 0) {
		goto fail;
	}
	what = "trim the audit log";
	if ((rc = sf__store_trim_audit(
	         s, b.b_parent, b.b_writes + b.b_failed + TRIM_EXTRA))
	    != 0) {
		goto fail;
	}
	what                = "commit";
	int64_t t0          = sf_clock_mono_us();
	rc                  = mdb_txn_commit(b.b_parent);
	b.b_parent          = NULL;
	s->s_last_commit_us = sf_clock_mono_us() - t0;
	if (rc != 0) {
		goto fail;
	}
	*committed = true;
	atomic_store(&s->s_revision, b.b_rev);
	atomic_store(&s->s_services, b.b_services);
	atomic_store(&s->s_feed_first, b.b_feed_first);
	atomic_fetch_add(&s->s_commits, 1);
	atomic_fetch_add(&s->s_writes, b.b_writes);
	atomic_fetch_add(&s->s_failed, b.b_failed);
	if (n > atomic_load(&s->s_batch_largest)) {
		atomic_store(&s->s_batch_largest, n);
	}
	return (0);
fail:
	if (b.b_parent != NULL) {
		mdb_txn_abort(b.b_parent);
	}
	if (rc == MDB_MAP_FULL) {
		return (rc);
	}
	fail_batch(rq, n, rc, what);
	atomic_fetch_add(&s->s_failed, n);
	return (0);
}

// grow doubles the map. Only the writer calls it, with its own
// transactions ended; the exclusive map lock waits out the readers.
// Returns 0, MDB_MAP_FULL when the ceiling is reached, or LMDB's error.
static int
grow(sf_store *s)
{
	uint64_t cur  = atomic_load(&s->s_map_size);
	uint64_t next = cur * 2;
	uint64_t max  = atomic_load(&s->s_map_max);
	int      rc;

	if (next > max) {
		if (cur >= max) {
			return (MDB_MAP_FULL);
		}
		next = max;
	}
	pthread_rwlock_wrlock(&s->s_maplock);
	rc = mdb_env_set_mapsize(s->s_env, (size_t) next);
	if (rc != 0 && mdb_env_set_mapsize(s->s_env, (size_t) cur) != 0) {
		// Unmapped and not remappable: nothing can be read or written.
		atomic_store(&s->s_broken, true);
	}
	pthread_rwlock_unlock(&s->s_maplock);
	if (rc != 0) {
		SF_ERROR("store",
		    "cannot grow the map from %" PRIu64 " to %" PRIu64
		    " bytes: %s",
		    cur, next, mdb_strerror(rc));
		return (rc);
	}
	atomic_store(&s->s_map_size, next);
	atomic_fetch_add(&s->s_map_grows, 1);
	SF_INFO("store",
	    "map full: grew it from %" PRIu64 " to %" PRIu64 " KiB", cur >> 10,
	    next >> 10);
	return (0);
}

// fail_full fails a whole batch that does not fit even in the largest map.
static void
fail_full(sf_store *s, sf__store_req **rq, size_t n, int rc)
{
	uint64_t size = atomic_load(&s->s_map_size);

	SF_ERROR("store", "a batch of %zu write(s) does not fit: %s", n,
	    rc == MDB_MAP_FULL ? "the map is at its maximum size"
	                       : mdb_strerror(rc));
	for (size_t i = 0; i < n; i++) {
		rq[i]->rq_rev  = 0;
		rq[i]->rq_code = SF_RESOURCE_EXHAUSTED;
		sf_status_reset(req_status(rq[i]));
		if (rc == MDB_MAP_FULL) {
			sf_status_set(req_status(rq[i]), SF_RESOURCE_EXHAUSTED,
			    "store is full: the database map cannot grow "
			    "beyond %" PRIu64 " MiB",
			    size >> 20);
		} else {
			sf_status_set(req_status(rq[i]), SF_RESOURCE_EXHAUSTED,
			    "store is full and the map could not grow: %s",
			    mdb_strerror(rc));
		}
	}
	atomic_fetch_add(&s->s_failed, n);
}

static void
run_batch(sf_store *s, sf__store_req **rq, size_t n)
{
	bool committed = false;
	void (*hook)(void *, uint64_t);
	void *hookarg;

	for (int attempt = 0;; attempt++) {
		int rc;
		if (atomic_load(&s->s_broken)) {
			fail_batch(rq, n, MDB_PANIC, "the map is unusable");
			break;
		}
		if (try_batch(s, rq, n, attempt, &committed) != MDB_MAP_FULL) {
			break;
		}
		if ((rc = grow(s)) != 0) {
			fail_full(s, rq, n, rc);
			break;
		}
	}
	for (size_t i = 0; i < n; i++) {
		sf__store_req *r = rq[i];
		if (r->rq_w.w_done != NULL) {
			r->rq_w.w_done(r->rq_w.w_arg, r->rq_code, r->rq_rev);
		}
		sf_status_fini(&r->rq_st);
		sf_arena_fini(&r->rq_arena);
		free(r);
	}
	if (!committed) {
		return;
	}
	pthread_mutex_lock(&s->s_hookmtx);
	hook    = s->s_hook;
	hookarg = s->s_hookarg;
	pthread_mutex_unlock(&s->s_hookmtx);
	if (hook != NULL) {
		hook(hookarg, atomic_load(&s->s_revision));
	}
}

// linger waits (s_qmtx held) until want requests are queued, the store
// closes or the time allowed passes (see the top of the file).
static void
linger(sf_store *s, uint32_t want)
{
	int64_t         wait = s->s_linger_us;
	int64_t         until;
	struct timespec ts;

	if (wait > s->s_last_commit_us) {
		wait = s->s_last_commit_us;
	}
	if (wait <= 0 || s->s_qlen >= want) {
		return;
	}
	until      = sf_clock_mono_us() + wait;
	ts.tv_sec  = until / 1000000;
	ts.tv_nsec = (long) (until % 1000000) * 1000;
	while (s->s_qlen < want && !s->s_closing) {
		if (pthread_cond_timedwait(&s->s_qcv, &s->s_qmtx, &ts) != 0) {
			break;
		}
	}
}

static void *
writer_main(void *arg)
{
	sf_store *s = arg;

	sf__store_writer_enter();

	for (;;) {
		size_t n = 0;
		pthread_mutex_lock(&s->s_qmtx);
		while (s->s_qhead == NULL && !s->s_closing) {
			pthread_cond_wait(&s->s_qcv, &s->s_qmtx);
		}
		if (!s->s_closing) {
			linger(s,
			    s->s_last_batch < s->s_batch_max ? s->s_last_batch
			                                     : s->s_batch_max);
		}
		while (s->s_qhead != NULL && n < s->s_batch_max) {
			s->s_batch[n++] = s->s_qhead;
			s->s_qhead      = s->s_qhead->rq_next;
			s->s_qlen--;
		}
		s->s_last_batch = (uint32_t) n;
		if (s->s_qhead == NULL) {
			s->s_qtail = NULL;
		}
		pthread_mutex_unlock(&s->s_qmtx);
		if (n == 0) {
			break; // closing and drained
		}
		run_batch(s, s->s_batch, n);
	}
	return (NULL);
}

int
sf__store_writer_start(sf_store *s)
{
	if (pthread_create(&s->s_writer, NULL, writer_main, s) != 0) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	s->s_writer_running = true;
	return (0);
}

void
sf__store_writer_stop(sf_store *s)
{
	if (!s->s_sync_ok) {
		return;
	}
	pthread_mutex_lock(&s->s_qmtx);
	s->s_closing = true;
	pthread_cond_signal(&s->s_qcv);
	pthread_mutex_unlock(&s->s_qmtx);
	if (s->s_writer_running) {
		pthread_join(s->s_writer, NULL);
		s->s_writer_running = false;
	}
}

int
sf__store_lmdb_submit(sf_store *s, const sf_store_write *w)
{
	sf__store_req *rq;

	if (w == NULL || w->w_fn == NULL) {
		return (SF_INVALID_ARGUMENT);
	}
	if ((rq = calloc(1, sizeof(*rq))) == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	rq->rq_w = *w;
	pthread_mutex_lock(&s->s_qmtx);
	if (s->s_closing) {
		pthread_mutex_unlock(&s->s_qmtx);
		free(rq);
		return (SF_UNAVAILABLE);
	}
	if (s->s_qlen >= s->s_queue_max) {
		pthread_mutex_unlock(&s->s_qmtx);
		free(rq);
		return (SF_RESOURCE_EXHAUSTED);
	}
	s->s_qlen++;
	if (s->s_qtail != NULL) {
		s->s_qtail->rq_next = rq;
	} else {
		s->s_qhead = rq;
	}
	s->s_qtail = rq;
	pthread_cond_signal(&s->s_qcv);
	pthread_mutex_unlock(&s->s_qmtx);
	return (0);
}

void
sf__store_lmdb_set_commit_hook(
    sf_store *s, void (*fn)(void *, uint64_t), void *arg)
{
	pthread_mutex_lock(&s->s_hookmtx);
	s->s_hook    = fn;
	s->s_hookarg = arg;
	pthread_mutex_unlock(&s->s_hookmtx);
}
