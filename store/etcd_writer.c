// etcd_writer.c: the etcd backend's write queue and its writer threads.
//
// Queued writes run one after another, as the LMDB backend's writer runs
// them (write functions may count on running one at a time), except those
// flagged SF_STORE_CONCURRENT, which run side by side on up to
// SF__STORE_ETCD_WRITERS threads: each is an optimistic transaction whose
// compares keep it correct whatever else commits meanwhile, so the only
// thing lost is an order etcd would not keep across replicas anyway. Each
// write is an optimistic transaction (etcd_txn.c): the function runs against a
// snapshot, its writes become one etcd transaction, and a conflict runs it
// again. Group commit (i15-batch): at most SF__STORE_ETCD_INFLIGHT
// transactions of concurrent writes are in flight; a writer that takes one
// takes the concurrent writes queued behind it too (up to so_batch_max),
// runs each function, and commits those whose keys do not meet in one
// transaction (run_batch); they share its revision. etcd's cost is mostly
// per transaction, so this is what lets many clients' creates through.
//
// Between writes, once a minute, the writer runs the janitor
// (etcd_store.c): markers, audit retention, history compaction.
#include "etcd_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

static sf_status *
req_status(sf__store_etcd_req *rq)
{
	return (rq->rq_w.w_status != NULL ? rq->rq_w.w_status : &rq->rq_st);
}

// committed notes a write committed at rev; txn: and counts its
// transaction (a batch's is counted once).
static void
committed(sf_store *s, uint64_t rev, bool txn)
{
	uint64_t cur = atomic_load(&s->s_last_write);

	while (rev > cur
	    && !atomic_compare_exchange_weak(&s->s_last_write, &cur, rev)) {
	}
	if (txn) {
		atomic_fetch_add(&s->s_commits, 1);
	}
	sf__store_etcd_saw(s, rev);
}

// run_audit records a request's outcome (the function failed, or it was a
// dry run) in a transaction of its own. A failing audit is logged: it
// cannot change the outcome.
static void
run_audit(sf_store *s, sf__store_etcd_req *rq, int code)
{
	for (int attempt = 0; attempt < SF__STORE_ETCD_ATTEMPTS; attempt++) {
		sf_store_txn t;
		sf_status    ast;
		uint64_t     rev;
		int          a;

		sf__store_etxn_init(&t, s, rq);
		// The audit reports into a status of its own: the request's
		// holds the failure it describes.
		sf_status_init(&ast);
		t.t_st = &ast;
		a = rq->rq_w.w_audit(&t, rq->rq_w.w_arg, code, req_status(rq));
		if (a == 0 && t.t_err != 0) {
			a = t.t_err;
		}
		if (a == 0 && sf__store_etxn_dirty(&t)) {
			a = sf__store_etxn_commit(&t, &rev);
			if (a == 0) {
				committed(s, rev, true);
			}
		}
		sf__store_etxn_fini(&t);
		if (a != SF_ABORTED) {
			if (a != 0) {
				SF_ERROR("store",
				    "the audit record of a request that ended "
				    "with %s could not be written: %s",
				    sf_status_name(code),
				    ast.st_msg[0] != '\0' ? ast.st_msg
				                          : sf_status_name(a));
			}
			sf_status_fini(&ast);
			return;
		}
		sf_status_fini(&ast);
	}
	SF_ERROR("store",
	    "the audit record of a request that ended with %s kept "
	    "conflicting with other writes and was not written",
	    sf_status_name(code));
}

// What prepare leaves: an attempt to commit, a request whose outcome is
// set, or a function to run again.
enum { PREP_COMMIT, PREP_DONE, PREP_AGAIN };

// prepare runs rq's function once into t (initialised here), with the
// audit record of its success. PREP_COMMIT: t holds the writes to commit;
// PREP_DONE: rq's outcome is set and t finished; PREP_AGAIN: t finished,
// run the function again (*blind: whether it may assume keys absent).
static int
prepare(sf_store *s, sf__store_etcd_req *rq, sf_store_txn *t, bool *blind)
{
	sf_status *st  = req_status(rq);
	bool       dry = (rq->rq_w.w_flags & SF_STORE_DRY_RUN) != 0;
	int        code;

	sf__store_etxn_init(t, s, rq);
	t->t_blind_ok = *blind;
	code          = rq->rq_w.w_fn(t, rq->rq_w.w_arg, st);
	// What the writer adds (the audit record) goes to the head of a
	// write split in parts (i18-wide).
	t->t_part = 0;
	if (t->t_nblind > 0 && (code != 0 || t->t_err != 0)) {
		// A failure may come from what was assumed, not read: find
		// out, reading everything.
		sf__store_etxn_fini(t);
		*blind = false;
		return (PREP_AGAIN);
	}
	if (t->t_err == SF_ABORTED) {
		// The snapshot went away under the function.
		sf__store_etxn_fini(t);
		return (PREP_AGAIN);
	}
	if (code == 0 && t->t_err != 0) {
		// The function went on after the store failed under it.
		code = t->t_err;
	}
	if (code == 0 && !dry && rq->rq_w.w_audit != NULL) {
		int a = rq->rq_w.w_audit(t, rq->rq_w.w_arg, 0, st);
		if (a == 0 && t->t_err != 0) {
			a = t->t_err;
		}
		if (a == SF_ABORTED) {
			sf__store_etxn_fini(t);
			return (PREP_AGAIN);
		}
		if (a != 0) {
			// No write without its audit record.
			sf_status_set(st, a,
			    "the audit record could not be written; nothing "
			    "was stored");
			sf__store_etxn_fini(t);
			rq->rq_code = a;
			atomic_fetch_add(&s->s_failed, 1);
			return (PREP_DONE);
		}
	}
	if (code == 0 && !dry) {
		if (!sf__store_etxn_dirty(t)) {
			// Read only: nothing to commit, no revision.
			sf__store_etxn_fini(t);
			rq->rq_code = 0;
			atomic_fetch_add(&s->s_writes, 1);
			return (PREP_DONE);
		}
		return (PREP_COMMIT);
	}
	// Failed, or a dry run: nothing of it is kept.
	sf__store_etxn_fini(t);
	rq->rq_code = code;
	if (code != 0) {
		atomic_fetch_add(&s->s_failed, 1);
	}
	// An etcd that does not answer would not take the audit record
	// either.
	if (rq->rq_w.w_audit != NULL && code != SF_UNAVAILABLE) {
		run_audit(s, rq, code);
	}
	return (PREP_DONE);
}

// settle ends rq's attempt t after its commit answered code (0 at rev;
// txn: count the transaction). Returns false when the function is to run
// again (*blind updated).
static bool
settle(sf_store *s, sf__store_etcd_req *rq, sf_store_txn *t, int code,
    uint64_t rev, bool txn, bool *blind)
{
	if (code == SF_ABORTED) {
		// Something read changed, or a key assumed absent was there:
		// read everything next time.
		*blind = *blind && t->t_nblind == 0;
		sf__store_etxn_fini(t);
		return (false);
	}
	if (code == 0) {
		committed(s, rev, txn);
		sf__store_etxn_patch(t, rev);
		rq->rq_rev  = t->t_wrote ? rev : 0;
		rq->rq_code = 0;
		atomic_fetch_add(&s->s_writes, 1);
		sf__store_etxn_fini(t);
		sf__store_etcd_compact_due(s);
		return (true);
	}
	// etcd refused or did not answer: the request fails with that, and
	// its audit would fail alike.
	sf__store_etxn_fini(t);
	rq->rq_code = code;
	atomic_fetch_add(&s->s_failed, 1);
	return (true);
}

// run applies one request: its function, optimistically, until a commit
// holds or the outcome is known.
static void
run(sf_store *s, sf__store_etcd_req *rq)
{
	sf_status *st = req_status(rq);
	// Creates may assume their keys absent, unless nothing is committed
	// that would check it (a dry run).
	bool blind = (rq->rq_w.w_flags & SF_STORE_DRY_RUN) == 0;

	for (int attempt = 0;; attempt++) {
		sf_store_txn t;
		uint64_t     rev = 0;
		int          code;

		if (attempt > 0) {
			// The last attempt's report no longer holds. Its arena
			// is kept: the caller's message may still point into
			// it until the function runs again.
			sf_status_reset(st);
		}
		if (attempt == SF__STORE_ETCD_ATTEMPTS) {
			rq->rq_code = sf_status_set(st, SF_ABORTED,
			    "store: the write conflicted with concurrent "
			    "writes "
			    "%d times; retry it",
			    SF__STORE_ETCD_ATTEMPTS);
			atomic_fetch_add(&s->s_failed, 1);
			return;
		}
		switch (prepare(s, rq, &t, &blind)) {
		case PREP_DONE:
			return;
		case PREP_AGAIN:
			continue;
		default:
			break;
		}
		code = sf__store_etxn_commit(&t, &rev);
		if (settle(s, rq, &t, code, rev, true, &blind)) {
			return;
		}
	}
}

// run_batch applies the n requests rqs (i15-batch): each function runs
// once, and those ready to commit whose keys do not meet, within etcd's
// bounds, are committed as one transaction. A request that cannot join
// it, or whose batch did not commit because a compare failed (which
// write's is not known) or was refused as too large, runs alone
// afterwards, as it would have: nothing of the batch was applied. When
// etcd does not answer, every write of the batch fails with that, as each
// alone would.
static void
run_batch(sf_store *s, sf__store_etcd_req **rqs, size_t n)
{
	sf_store_txn  ts[SF__STORE_ETCD_BATCH_MAX];
	sf_store_txn *grp[SF__STORE_ETCD_BATCH_MAX];
	size_t        gi[SF__STORE_ETCD_BATCH_MAX];
	bool          alone[SF__STORE_ETCD_BATCH_MAX];
	size_t        ng = 0, cmp = 1, wr = 1, bytes = 0;
	uint64_t      rev = 0;
	int           code;

	if (n == 1) {
		run(s, rqs[0]);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		bool   blind = (rqs[i]->rq_w.w_flags & SF_STORE_DRY_RUN) == 0;
		size_t c, w, b;
		bool   fits;

		alone[i] = false;
		switch (prepare(s, rqs[i], &ts[i], &blind)) {
		case PREP_DONE:
			continue;
		case PREP_AGAIN:
			alone[i] = true;
			continue;
		default:
			break;
		}
		fits = sf__store_etxn_batchable(&ts[i], &c, &w, &b)
		    && cmp + c <= s->s_max_ops && wr + w <= s->s_max_ops
		    && bytes + b <= s->s_batch_bytes;
		for (size_t j = 0; fits && j < ng; j++) {
			fits = !sf__store_etxn_conflict(grp[j], &ts[i]);
		}
		if (!fits) {
			sf__store_etxn_fini(&ts[i]);
			alone[i] = true;
			continue;
		}
		grp[ng]  = &ts[i];
		gi[ng++] = i;
		cmp += c;
		wr += w;
		bytes += b;
	}
	code = ng == 0 ? 0
	    : ng == 1  ? sf__store_etxn_commit(grp[0], &rev)
	               : sf__store_etxn_commit_batch(grp, ng, &rev);
	if (ng > 0 && code == 0) {
		uint64_t seen = atomic_load(&s->s_batch_seen);
		while (ng > seen
		    && !atomic_compare_exchange_weak(
		        &s->s_batch_seen, &seen, (uint64_t) ng)) {
		}
	}
	for (size_t j = 0; j < ng; j++) {
		sf__store_etcd_req *rq    = rqs[gi[j]];
		bool                blind = true;
		if (code == SF_ABORTED || code == SF_RESOURCE_EXHAUSTED) {
			sf__store_etxn_fini(grp[j]);
			alone[gi[j]] = true;
			continue;
		}
		if (code != 0 && j > 0) {
			sf_status_set(req_status(rq), code, "%s",
			    req_status(rqs[gi[0]])->st_msg);
		}
		if (!settle(s, rq, grp[j], code, rev, j == 0, &blind)) {
			alone[gi[j]] = true;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (alone[i]) {
			sf_status_reset(req_status(rqs[i]));
			run(s, rqs[i]);
		}
	}
}

// wait_until waits on s_qcv (s_qmtx held) until woken or the monotonic
// time at_ms.
static void
wait_until(sf_store *s, int64_t at_ms)
{
	int64_t         now = sf_clock_mono_ms();
	struct timespec ts;

	if (now >= at_ms) {
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (at_ms - now) / 1000;
	ts.tv_nsec += (long) ((at_ms - now) % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&s->s_qcv, &s->s_qmtx, &ts);
}

// Every writer thread runs this. The queue is taken in order: a write
// flagged SF_STORE_CONCURRENT starts as soon as no exclusive write runs;
// any other write (and the janitor) waits until none runs at all, and
// holds back those behind it meanwhile.
static void *
writer_main(void *arg)
{
	sf_store           *s = arg;
	sf__store_etcd_req *batch[SF__STORE_ETCD_BATCH_MAX];
	size_t              nb;

	sf__store_writer_enter();

	pthread_mutex_lock(&s->s_qmtx);
	for (;;) {
		sf__store_etcd_req *rq  = s->s_qhead;
		int64_t             now = sf_clock_mono_ms();
		bool                conc;

		if (s->s_excl_running) {
			pthread_cond_wait(&s->s_qcv, &s->s_qmtx);
			continue;
		}
		if (now >= s->s_janitor_at) {
			if (s->s_conc_running > 0) {
				pthread_cond_wait(&s->s_qcv, &s->s_qmtx);
				continue;
			}
			s->s_janitor_at   = now + SF__STORE_ETCD_JANITOR_MS;
			s->s_excl_running = true;
			pthread_mutex_unlock(&s->s_qmtx);
			sf__store_etcd_janitor(s);
			pthread_mutex_lock(&s->s_qmtx);
			s->s_excl_running = false;
			pthread_cond_broadcast(&s->s_qcv);
			continue;
		}
		if (rq == NULL) {
			if (s->s_closing) {
				break; // closing and drained
			}
			wait_until(s, s->s_janitor_at);
			continue;
		}
		conc = (rq->rq_w.w_flags & SF_STORE_CONCURRENT) != 0;
		if (!conc && s->s_conc_running > 0) {
			pthread_cond_wait(&s->s_qcv, &s->s_qmtx);
			continue;
		}
		if (conc && s->s_batch_max > 1
		    && s->s_conc_running >= SF__STORE_ETCD_INFLIGHT) {
			// i15-batch: enough in flight; the next writer to
			// finish takes what queued meanwhile, together.
			pthread_cond_wait(&s->s_qcv, &s->s_qmtx);
			continue;
		}
		batch[0]   = rq;
		nb         = 1;
		s->s_qhead = rq->rq_next;
		s->s_qlen--;
		while (conc && nb < s->s_batch_max && s->s_qhead != NULL
		    && (s->s_qhead->rq_w.w_flags & SF_STORE_CONCURRENT) != 0) {
			batch[nb++] = s->s_qhead;
			s->s_qhead  = s->s_qhead->rq_next;
			s->s_qlen--;
		}
		if (s->s_qhead == NULL) {
			s->s_qtail = NULL;
		} else {
			pthread_cond_signal(&s->s_qcv); // the next may start
		}
		if (conc) {
			s->s_conc_running++;
		} else {
			s->s_excl_running = true;
		}
		pthread_mutex_unlock(&s->s_qmtx);
		run_batch(s, batch, nb);
		for (size_t i = 0; i < nb; i++) {
			sf__store_etcd_req *r = batch[i];
			if (r->rq_w.w_done != NULL) {
				r->rq_w.w_done(
				    r->rq_w.w_arg, r->rq_code, r->rq_rev);
			}
			sf_status_fini(&r->rq_st);
			sf_arena_fini(&r->rq_arena);
			free(r);
		}
		pthread_mutex_lock(&s->s_qmtx);
		if (conc) {
			s->s_conc_running--;
		} else {
			s->s_excl_running = false;
		}
		// i15-perf3: no wake-up here. This thread goes round the loop
		// itself: the last of the concurrent writes to end starts the
		// exclusive write (or the janitor) that waits for them, and
		// whoever takes a request wakes one more writer while the
		// queue holds more. Waking every idle writer after each write
		// cost svcfleetd a quarter of its CPU in context switches (15
		// threads woken to find nothing). Only closing needs them all.
		if (s->s_closing) {
			pthread_cond_broadcast(&s->s_qcv);
		}
	}
	pthread_mutex_unlock(&s->s_qmtx);
	return (NULL);
}

int
sf__store_etcd_writer_start(sf_store *s)
{
	while (s->s_nwriters < SF__STORE_ETCD_WRITERS) {
		if (pthread_create(
		        &s->s_writers[s->s_nwriters], NULL, writer_main, s)
		    != 0) {
			// Fewer writers still serve; none do not.
			return (s->s_nwriters > 0 ? 0 : SF_RESOURCE_EXHAUSTED);
		}
		s->s_nwriters++;
	}
	return (0);
}

void
sf__store_etcd_writer_stop(sf_store *s)
{
	if (!s->s_sync_ok) {
		return;
	}
	pthread_mutex_lock(&s->s_qmtx);
	s->s_closing = true;
	pthread_cond_broadcast(&s->s_qcv);
	pthread_mutex_unlock(&s->s_qmtx);
	for (int i = 0; i < s->s_nwriters; i++) {
		pthread_join(s->s_writers[i], NULL);
	}
	s->s_nwriters = 0;
}

int
sf__store_etcd_submit(sf_store *s, const sf_store_write *w)
{
	sf__store_etcd_req *rq;

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
