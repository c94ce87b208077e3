// worker.c: one cluster's worker — its thread, loop and inbox, its
// libcurl multi handle and pool of requests, its dirty queue, and its start
// and stop. What it does with the connection is in worker_conn.c, with the
// objects in worker_obj.c (worker.h).
//
// The loop: take the inbox (desired changes, report outcomes), run curl
// (finished requests, watch lines), fire due timers, advance the
// connection (version, list, watch, resync), then turn dirty objects into
// requests while fewer than max_inflight are running, and sleep in poll()
// until a socket, a timer or the wakeup eventfd (a post to the inbox)
// needs us. There is no periodic turn (s28-tick): whatever is due at a
// time is armed in next_timeout, and an idle worker sleeps until then.
// curl is driven through its socket interface (issue 21):
// curl_multi_socket_action runs the transfers of a socket that had events
// and those whose timer expired, where curl_multi_perform walked every
// transfer and polled each one's socket.
//
// Every decision about an object is made in sf__recon_decide(), from its
// flags and hashes; everything else only updates them and marks the
// object dirty. Callbacks from curl (watch lines) never start requests:
// libcurl forbids calling the multi interface from inside its callbacks.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "str.h"

#include "worker.h"

#define IDLE_REQUESTS   4    // easy handles kept between bursts
#define STATS_PERIOD_MS 1000 // published counts lag the objects by this

// ------------------------------------------------------------ helpers

static unsigned
rnd(unsigned n)
{
	unsigned v = 0;
	if (n == 0) {
		return (0);
	}
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t) sizeof(v)) {
		v = (unsigned) rand();
	}
	return (v % n);
}

int64_t
sf__recon_backoff_ms(unsigned attempt, uint32_t min, uint32_t max)
{
	uint64_t d = min;
	for (unsigned i = 1; i < attempt && d < max; i++) {
		d *= 2;
	}
	if (d > max) {
		d = max;
	}
	return ((int64_t) (d / 2 + rnd((unsigned) (d / 2 + 1))));
}

// ------------------------------------------------------------ dirty list

void
sf__recon_mark_dirty(sf__recon_worker *w, sf__recon_obj *o)
{
	if (o->o_flags & (O_DIRTY | O_WAITING)) {
		return; // it will be decided anyway
	}
	sf__recon_fifo_push(&w->w_dirty, o, O_DIRTY);
}

static sf__recon_obj *
pop_dirty(sf__recon_worker *w)
{
	return (sf__recon_fifo_pop(&w->w_dirty, O_DIRTY));
}

void
sf__recon_push_wait(sf__recon_worker *w, sf__recon_obj *o)
{
	sf__recon_fifo_push(&w->w_wait, o, O_WAITING);
}

static sf__recon_obj *
pop_wait(sf__recon_worker *w)
{
	return (sf__recon_fifo_pop(&w->w_wait, O_WAITING));
}

void
sf__recon_mark_all_dirty(sf__recon_worker *w)
{
	sf__recon_obj *o;
	size_t         i = 0;
	while ((o = sf__recon_objtab_next(&w->w_objs, &i)) != NULL) {
		sf__recon_mark_dirty(w, o);
	}
}

// ------------------------------------------------------------ timer heap

static void
run_timers(sf__recon_worker *w, int64_t now)
{
	sf__recon_obj *o;
	while ((o = sf__recon_heap_first(&w->w_timers)) != NULL
	    && o->o_next_ms <= now) {
		sf__recon_heap_remove(&w->w_timers, o);
		sf__recon_mark_dirty(w, o);
	}
}

// ------------------------------------------------------------ requests

sf__recon_req *
sf__recon_req_get(sf__recon_worker *w, int kind)
{
	sf__recon_req *q = w->w_free;
	if (q != NULL) {
		w->w_free = q->q_next;
		w->w_nfree--;
	} else if ((q = calloc(1, sizeof(*q))) == NULL) {
		return (NULL);
	}
	q->q_next       = NULL;
	q->q_prev       = NULL;
	q->q_w          = w;
	q->q_kind       = kind;
	q->q_obj        = NULL;
	q->q_want       = 0;
	q->q_resync     = false;
	q->q_kubefake   = false;
	q->q_kept_ports = false;
	return (q);
}

void
sf__recon_req_put(sf__recon_worker *w, sf__recon_req *q)
{
	// During a burst every request slot keeps its easy handle (making
	// and freeing one per apply cost a tenth of the worker's time:
	// issue 21); trim_idle gives the extra ones back once it is over.
	if (w->w_nfree >= IDLE_REQUESTS + w->w_r->r_opts.ro_max_inflight) {
		// Enough kept for the next burst; this one's easy handle
		// (and buffers) go.
		sf_kube_req_fini(&q->q_kr);
		free(q);
		return;
	}
	w->w_nfree++;
	q->q_kr.kr_line_fn  = NULL;
	q->q_kr.kr_line_arg = NULL;
	// A list page or a watch can leave megabytes behind; an idle
	// request keeps only small buffers.
	if (q->q_kr.kr_body.b_cap > (64u << 10)) {
		sf_buf_fini(&q->q_kr.kr_body);
	}
	if (q->q_kr.kr_line.b_cap > (64u << 10)) {
		sf_buf_fini(&q->q_kr.kr_line);
	}
	q->q_obj  = NULL;
	q->q_next = w->w_free;
	w->w_free = q;
}

static bool
counted(const sf__recon_req *q)
{
	return (q->q_kind == R_APPLY || q->q_kind == R_DELETE);
}

int
sf__recon_req_start(sf__recon_worker *w, sf__recon_req *q)
{
	if (curl_multi_add_handle(w->w_c->c_multi, q->q_kr.kr_easy)
	    != CURLM_OK) {
		sf__recon_req_put(w, q);
		return (-1);
	}
	q->q_prev = NULL;
	q->q_next = w->w_active;
	if (w->w_active != NULL) {
		w->w_active->q_prev = q;
	}
	w->w_active = q;
	w->w_started++;
	if (counted(q)) {
		w->w_inflight++;
	}
	return (0);
}

// req_detach takes q off the multi handle and the active list.
static void
req_detach(sf__recon_worker *w, sf__recon_req *q)
{
	curl_multi_remove_handle(w->w_c->c_multi, q->q_kr.kr_easy);
	if (q->q_prev != NULL) {
		q->q_prev->q_next = q->q_next;
	} else {
		w->w_active = q->q_next;
	}
	if (q->q_next != NULL) {
		q->q_next->q_prev = q->q_prev;
	}
	q->q_next = q->q_prev = NULL;
	if (counted(q)) {
		w->w_inflight--;
	}
	if (q == w->w_watch) {
		w->w_watch = NULL;
	}
	if (q == w->w_list) {
		w->w_list = NULL;
	}
	if (q == w->w_probe) {
		w->w_probe = NULL;
	}
	if (q == w->w_pools) {
		w->w_pools = NULL;
	}
}

void
sf__recon_cancel_all(sf__recon_worker *w)
{
	sf__recon_touched(w);
	while (w->w_active != NULL) {
		sf__recon_req *q = w->w_active;
		req_detach(w, q);
		if (q->q_obj != NULL) {
			q->q_obj->o_flags &= ~O_INFLIGHT;
			sf__recon_mark_dirty(w, q->q_obj);
		}
		sf__recon_req_put(w, q);
	}
}

// ------------------------------------------------------------ completions

// process_done hands every finished request to the file that made it;
// returns how many.
static unsigned
process_done(sf__recon_worker *w)
{
	CURLMsg *m;
	int      left;
	unsigned done = 0;

	while ((m = curl_multi_info_read(w->w_c->c_multi, &left)) != NULL) {
		sf__recon_req *q = NULL;
		CURLcode       cc;
		char           msg[512];
		int            cls;
		int64_t        now = sf_clock_mono_ms();

		if (m->msg != CURLMSG_DONE) {
			continue;
		}
		cc = m->data.result;
		curl_easy_getinfo(
		    m->easy_handle, CURLINFO_PRIVATE, (char **) &q);
		if (q == NULL) {
			continue;
		}
		req_detach(w, q); // m is invalid from here on
		cls = sf_kube_outcome(&q->q_kr, cc, msg, sizeof(msg));
		if (sf_kube_class_answered(cls)) {
			w->w_failures = 0;
		}
		// "Last contact" is the last success (issue 20): a 401, a
		// throttle or a 5xx is an answer, not a working cluster.
		if (sf_kube_class_answered(cls) && cls != SF_KUBE_UNAUTHORIZED
		    && cls != SF_KUBE_THROTTLED && cls != SF_KUBE_SERVER) {
			w->w_contact_ms = sf_clock_now_ms();
		}
		switch (q->q_kind) {
		case R_APPLY:
		case R_DELETE:
			sf__recon_obj_done(w, q, cls, msg, now);
			break;
		default:
			sf__recon_conn_done(w, q, cls, msg, now);
			break;
		}
		sf__recon_req_put(w, q);
		done++;
	}
	return (done);
}

// ------------------------------------------------------------ inbox

void
sf__recon_drop_body(sf__recon_worker *w, sf__recon_obj *o)
{
	if (o->o_body != NULL) {
		w->w_body_bytes -= o->o_bodylen;
		free(o->o_body);
		o->o_body    = NULL;
		o->o_bodylen = 0;
	}
}

void
sf__recon_drop_pb(sf__recon_worker *w, sf__recon_obj *o)
{
	sf__recon_touched(w);
	sf__recon_drop_body(w, o);
	free(o->o_pb);
	o->o_pb    = NULL;
	o->o_pblen = 0;
}

// keep_pb takes the packed Service out of m. A body kept from an
// older one goes: the new one may hold facts a re-create asks for.
static void
keep_pb(sf__recon_worker *w, sf__recon_obj *o, sf__recon_msg *m)
{
	sf__recon_drop_pb(w, o);
	o->o_pb    = m->m_pb;
	o->o_pblen = (uint32_t) m->m_pblen;
	m->m_pb    = NULL;
}

// i21-cpu3: whether the body digest builds for svc is the one an apply
// of o would send: o is new to the cluster or its desired state changed
// (an apply is likely), the worker's budget has room, and the Service
// holds no status of this cluster (a re-create, sf_kube_body_recreate,
// asks for the facts recorded there; without them its body is the
// plain one).
static bool
body_keepable(
    const sf__recon_worker *w, const sf__recon_obj *o, const sf_service *svc)
{
	const char *cluster;

	if ((o->o_want == 0 && (o->o_flags & O_EXISTS))
	    || w->w_body_bytes >= SF__RECON_BODY_BUDGET) {
		return (false);
	}
	cluster = svc->metadata != NULL ? sf_nz(svc->metadata->cluster) : "";
	for (size_t i = 0; i < svc->n_status; i++) {
		if (svc->status[i] != NULL
		    && strcmp(sf_nz(svc->status[i]->cluster), cluster) == 0) {
			return (false);
		}
	}
	return (true);
}

// digest computes the desired hash of the Service in m and keeps the
// packed Service (taken from m) for applying, with the apply body when
// body_keepable (built by the same sf_kube_body call as the hash).
static void
digest(sf__recon_worker *w, sf__recon_obj *o, sf__recon_msg *m)
{
	sf_service *svc;
	uint64_t    want = 0;
	char       *body = NULL;

	svc = svcfleet__v1__service__unpack(
	    sf_arena_pbc(&w->w_unpack), m->m_pblen, m->m_pb);
	if (svc == NULL
	    || sf_kube_body(svc, w->w_r->r_owner,
	           body_keepable(w, o, svc) ? &body : NULL, &want)
	        != 0) {
		// Out of memory: decided again at the next change or resync.
		sf_arena_reset(&w->w_unpack);
		return;
	}
	sf_arena_reset(&w->w_unpack);
	if (o->o_want != want) {
		// A new spec: retried at once whatever failed before.
		o->o_attempts = 0;
		o->o_next_ms  = 0;
		o->o_alias    = 0;
		o->o_flags &= ~O_PERM;
	}
	o->o_want  = want;
	o->o_input = m->m_input;
	keep_pb(w, o, m);
	if (body != NULL && !sf__recon_in_sync(o)) {
		o->o_body    = body;
		o->o_bodylen = (uint32_t) strlen(body);
		w->w_body_bytes += o->o_bodylen;
	} else {
		free(body);
	}
}

static void
on_desired(sf__recon_worker *w, sf__recon_msg *m)
{
	sf__recon_obj *o;

	if (m->m_fetch != 0
	    && ((o = sf__recon_objtab_get(&w->w_objs, m->m_key)) == NULL
	        || !(o->o_flags & O_FETCHING) || o->o_fetch != m->m_fetch)) {
		// A late answer: the watch brought the object since the fetch
		// was asked (its deletion, or a newer state the answer may
		// predate), or it was forgotten or fetched again.
		return;
	}
	if (!(m->m_flags & D_PRESENT)) {
		if ((o = sf__recon_objtab_get(&w->w_objs, m->m_key)) == NULL) {
			return;
		}
		o->o_flags &= ~(uint32_t) (D_MASK | O_FETCHING);
		o->o_fetch = 0;
		o->o_want  = 0;
		o->o_input = 0;
		sf__recon_drop_pb(w, o);
		sf__recon_mark_dirty(w, o);
		return;
	}
	if ((o = sf__recon_objtab_add(&w->w_objs, m->m_key)) == NULL) {
		return;
	}
	if (m->m_epoch != 0) {
		o->o_epoch = m->m_epoch;
	}
	o->o_gen          = m->m_gen;
	o->o_stored       = m->m_stored;
	o->o_stored_drift = m->m_drift_want;
	o->o_flags        = (o->o_flags & ~(uint32_t) (D_MASK | O_FETCHING))
	    | (m->m_flags & D_MASK);
	o->o_fetch = 0;
	// Most updates are echoes of our own status reports: the same
	// metadata and spec, nothing to compute. A changed input is
	// digested; with an unchanged one the newest packed Service (the
	// facts a re-create asks for again may be new) replaces the one
	// held, or is kept when it may have to be applied.
	if (o->o_input != m->m_input || o->o_want == 0) {
		digest(w, o, m);
	} else if (o->o_pb != NULL || !sf__recon_in_sync(o)) {
		keep_pb(w, o, m);
	}
	sf__recon_mark_dirty(w, o);
}

static void
on_list_done_msg(sf__recon_worker *w, uint32_t epoch)
{
	sf__recon_obj *o;
	size_t         i = 0;

	w->w_desired_epoch = epoch;
	w->w_desired_done  = true;
	while ((o = sf__recon_objtab_next(&w->w_objs, &i)) != NULL) {
		if ((o->o_flags & D_PRESENT) && o->o_epoch < epoch) {
			// Deleted from the store while the watcher could not
			// follow the change feed (an answer to a fetch asked
			// before the list may still bring it back: not taken).
			o->o_flags &= ~(uint32_t) (D_MASK | O_FETCHING);
			o->o_fetch = 0;
			o->o_want  = 0;
			o->o_input = 0;
			sf__recon_drop_pb(w, o);
		}
		sf__recon_mark_dirty(w, o);
	}
}

static void
on_reported(sf__recon_worker *w, sf__recon_msg *m, int64_t now)
{
	sf__recon_obj *o = sf__recon_objtab_get(&w->w_objs, m->m_key);
	if (o == NULL) {
		return;
	}
	o->o_flags &= ~O_REPORTING;
	if (m->m_ok) {
		o->o_flags |= (m->m_flags & FIN_ADD) ? O_FIN_SENT : 0;
		o->o_flags |= (m->m_flags & FIN_REMOVE) ? O_UNFIN_SENT : 0;
		sf__recon_mark_dirty(w, o);
		return;
	}
	o->o_reported = 0;
	if (m->m_again) {
		// Not applied for want of room in svcfleetd's write: again
		// now (each call applies its first report, so this ends).
		sf__recon_mark_dirty(w, o);
		return;
	}
	// Try again in a while (the server may be restarting).
	if (o->o_next_ms < now + 1000) {
		o->o_next_ms = now + 1000;
	}
	sf__recon_heap_arm(&w->w_timers, o);
}

void
sf__recon_take_msg(sf__recon_worker *w, sf__recon_msg *m, int64_t now)
{
	sf__recon_obj *o;

	sf__recon_touched(w);
	switch (m->m_kind) {
	case M_DESIRED:
		on_desired(w, m);
		break;
	case M_LIST_DONE:
		on_list_done_msg(w, m->m_epoch);
		break;
	case M_REPORTED:
		on_reported(w, m, now);
		break;
	case M_FETCHED:
		o = sf__recon_objtab_get(&w->w_objs, m->m_key);
		if (o != NULL && (o->o_flags & O_FETCHING)
		    && o->o_fetch == m->m_fetch) {
			o->o_flags &= ~O_FETCHING;
			o->o_fetch   = 0;
			o->o_next_ms = now + 1000;
			sf__recon_heap_arm(&w->w_timers, o);
		}
		break;
	case M_CONFIG:
		sf__recon_cancel_all(w);
		sf_kube_cfg_free(w->w_cfg);
		w->w_cfg      = m->m_cfg;
		m->m_cfg      = NULL;
		w->w_conn     = C_IDLE;
		w->w_retry_at = 0; // probed with the new settings at once
		SF_INFO("recon", "cluster=%s: new connection settings",
		    w->w_c->c_name);
		break;
	}
}

static bool
take_inbox(sf__recon_worker *w)
{
	sf__recon_cluster *c = w->w_c;
	sf__recon_msg     *m, *next;
	bool               stop;
	int64_t            now = sf_clock_mono_ms();

	pthread_mutex_lock(&c->c_mtx);
	m            = c->c_in_head;
	c->c_in_head = c->c_in_tail = NULL;
	stop                        = c->c_stop;
	pthread_mutex_unlock(&c->c_mtx);
	for (; m != NULL; m = next) {
		next = m->m_next;
		sf__recon_take_msg(w, m, now);
		sf__recon_msg_free(m);
	}
	return (!stop);
}

// ------------------------------------------------------------ the loop

// pump decides every changed object now (most only need a report) and
// lets waiting objects take the request slots that are free, in order.
static void
pump(sf__recon_worker *w, int64_t now)
{
	unsigned       max = w->w_r->r_opts.ro_max_inflight;
	sf__recon_obj *o;
	while (w->w_wait.f_head != NULL && w->w_inflight < max) {
		sf__recon_decide(w, pop_wait(w), now);
	}
	while ((o = pop_dirty(w)) != NULL) {
		sf__recon_decide(w, o, now);
	}
}

// trim_idle frees the idle requests beyond IDLE_REQUESTS once nothing is
// in flight.
static void
trim_idle(sf__recon_worker *w)
{
	if (w->w_inflight != 0) {
		return;
	}
	while (w->w_nfree > IDLE_REQUESTS) {
		sf__recon_req *q = w->w_free;
		w->w_free        = q->q_next;
		w->w_nfree--;
		sf_kube_req_fini(&q->q_kr);
		free(q);
	}
}

// trim_after_burst gives memory back to the system when a burst of work
// is over: holding_pb objects hold a packed Service now, and once none
// does after a thousand or more did at once, what the burst allocated
// (packed Services, bodies, answers) is free.
static void
trim_after_burst(sf__recon_worker *w, size_t holding_pb)
{
	if (holding_pb > w->w_holding_pb_peak) {
		w->w_holding_pb_peak = holding_pb;
	}
#ifdef __GLIBC__
	if (holding_pb == 0 && w->w_holding_pb_peak >= 1000) {
		malloc_trim(0);
		w->w_holding_pb_peak = 0;
	}
#endif
}

// sf__recon_publish_stats (worker.h): the figures other threads read
// without the worker (sf_reconciler_stats_get, the metrics). i21-idle:
// counting walks every object (a thousand per worker, once a second, for
// ever); it is done only when something touched the objects since the
// last count, and the counts of then are published again otherwise.
void
sf__recon_publish_stats(sf__recon_worker *w, int64_t now)
{
	sf__recon_obj *o;
	size_t         i = 0, synced = 0, not_synced = 0, holding_pb = 0;
	if (now - w->w_stats_at < STATS_PERIOD_MS) {
		return;
	}
	w->w_stats_at = now;
	if (w->w_touched) {
		w->w_touched = false;
		w->w_stats_scans++;
		while ((o = sf__recon_objtab_next(&w->w_objs, &i)) != NULL) {
			bool desired = (o->o_flags & D_PRESENT) != 0;
			bool ok      = desired && sf__recon_in_sync(o);
			synced += ok;
			not_synced += desired && !ok;
			holding_pb += o->o_pb != NULL;
		}
		w->w_nsynced     = synced;
		w->w_npending    = not_synced;
		w->w_nholding_pb = holding_pb;
	}
	atomic_store(&w->w_c->c_nobjs, w->w_objs.t_n);
	atomic_store(&w->w_c->c_nsynced, w->w_nsynced);
	atomic_store(&w->w_c->c_npending, w->w_npending);
	atomic_store(&w->w_c->c_health, w->w_health);
	if (w->w_npending == 0) {
		atomic_store(&w->w_c->c_pending_since, 0);
	} else if (atomic_load(&w->w_c->c_pending_since) == 0) {
		atomic_store(&w->w_c->c_pending_since, now);
	}
	trim_idle(w);
	trim_after_burst(w, w->w_nholding_pb);
}

// next_timeout is how long the loop may sleep (ms; -1: until a socket or
// the wakeup eventfd has events): until the first object timer, the
// connection's next step (sf__recon_conn_due), or the publication of
// counts touched since the last one; 0 when objects wait to be decided.
// s28-tick: no once-a-second turn covers a time not armed here.
static int
next_timeout(const sf__recon_worker *w, int64_t now)
{
	int64_t              t     = sf__recon_conn_due(w);
	const sf__recon_obj *first = sf__recon_heap_first(&w->w_timers);
	if (first != NULL && first->o_next_ms < t) {
		t = first->o_next_ms;
	}
	if (w->w_touched && w->w_stats_at + STATS_PERIOD_MS < t) {
		t = w->w_stats_at + STATS_PERIOD_MS;
	}
	if (w->w_dirty.f_head != NULL
	    || (w->w_wait.f_head != NULL
	        && w->w_inflight < w->w_r->r_opts.ro_max_inflight)) {
		t = now;
	}
	if (t == INT64_MAX) {
		return (-1);
	}
	if (t <= now) {
		return (0);
	}
	return (t - now > INT_MAX ? INT_MAX : (int) (t - now));
}

// ------------------------------------------------------------ curl

// on_socket (CURLMOPT_SOCKETFUNCTION) keeps w_pfd as curl asks: which of
// its sockets to watch, and for what.
static int
on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	sf__recon_worker *w = userp;
	unsigned          i = 1;
	(void) e;
	(void) socketp;

	while (i < w->w_npfd && w->w_pfd[i].fd != s) {
		i++;
	}
	if (what == CURL_POLL_REMOVE) {
		if (i < w->w_npfd) {
			w->w_pfd[i] = w->w_pfd[--w->w_npfd];
		}
		return (0);
	}
	if (i == w->w_npfd) {
		if (w->w_npfd == w->w_pfdcap) {
			unsigned       cap = w->w_pfdcap * 2;
			struct pollfd *p = realloc(w->w_pfd, cap * sizeof(*p));
			struct pollfd *r;
			if (p == NULL) {
				return (-1);
			}
			w->w_pfd = p;
			if ((r = realloc(w->w_ready, cap * sizeof(*r)))
			    == NULL) {
				return (-1);
			}
			w->w_ready  = r;
			w->w_pfdcap = cap;
		}
		w->w_pfd[i].fd = s;
		w->w_npfd++;
	}
	w->w_pfd[i].events  = (short) (((what & CURL_POLL_IN) ? POLLIN : 0)
            | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
	w->w_pfd[i].revents = 0;
	return (0);
}

// on_timer (CURLMOPT_TIMERFUNCTION) notes when curl wants
// CURL_SOCKET_TIMEOUT (0: at once; -1: no timer).
static int
on_timer(CURLM *m, long timeout_ms, void *userp)
{
	sf__recon_worker *w = userp;
	(void) m;
	w->w_curl_due = timeout_ms < 0 ? -1 : sf_clock_mono_ms() + timeout_ms;
	return (0);
}

// run_curl runs the transfers of the sockets that had events in the last
// poll and, when curl's timer has expired, those it is due for; then
// hands what finished to process_done. Returns how many finished.
static unsigned
run_curl(sf__recon_worker *w)
{
	CURLM   *mh = w->w_c->c_multi;
	unsigned n  = 0;
	int      running;

	// Copied first: socket_action changes w_pfd as it goes.
	for (unsigned i = 1; i < w->w_npfd; i++) {
		if (w->w_pfd[i].revents != 0) {
			w->w_ready[n++]     = w->w_pfd[i];
			w->w_pfd[i].revents = 0;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		short re = w->w_ready[i].revents;
		int   ev = ((re & POLLIN) ? CURL_CSELECT_IN : 0)
		    | ((re & POLLOUT) ? CURL_CSELECT_OUT : 0)
		    | ((re & (POLLERR | POLLHUP | POLLNVAL)) ? CURL_CSELECT_ERR
		                                             : 0);
		curl_multi_socket_action(mh, w->w_ready[i].fd, ev, &running);
	}
	if (w->w_curl_due >= 0 && sf_clock_mono_ms() >= w->w_curl_due) {
		long ms;
		w->w_curl_due = -1; // on_timer sets the next one
		curl_multi_socket_action(mh, CURL_SOCKET_TIMEOUT, 0, &running);
		// s28-tick: curl calls on_timer only for a deadline other than
		// the last it announced. Taken early by its clock (w_curl_due
		// is in whole ms, curl's in µs), that deadline is still there
		// and would be announced never again: ask for it.
		if (w->w_curl_due < 0
		    && curl_multi_timeout(mh, &ms) == CURLM_OK && ms >= 0) {
			w->w_curl_due = sf_clock_mono_ms() + ms;
		}
	}
	return (process_done(w));
}

// wait_events sleeps in poll() until a socket curl watches has events,
// the wakeup eventfd is written, or the next timer (the worker's or
// curl's) expires.
static void
wait_events(sf__recon_worker *w)
{
	int64_t now = sf_clock_mono_ms();
	int     t   = next_timeout(w, now);

	if (w->w_curl_due >= 0) {
		int64_t c = w->w_curl_due <= now ? 0 : w->w_curl_due - now;
		if (c > INT_MAX) {
			c = INT_MAX;
		}
		if (t < 0 || c < t) {
			t = (int) c;
		}
	}
	w->w_pfd[0].revents = 0;
	if (poll(w->w_pfd, w->w_npfd, t) <= 0) {
		for (unsigned i = 0; i < w->w_npfd; i++) {
			w->w_pfd[i].revents = 0; // EINTR: nothing is known
		}
		return;
	}
	if (w->w_pfd[0].revents != 0) {
		uint64_t v;
		while (read(w->w_c->c_wake, &v, sizeof(v)) < 0
		    && errno == EINTR) {
		}
	}
}

static void *
worker_main(void *arg)
{
	sf__recon_cluster *c = arg;
	sf__recon_worker  *w = c->c_w;
	char               tname[16];

	snprintf(tname, sizeof(tname), "rc:%s", c->c_name);
	pthread_setname_np(pthread_self(), tname);
	SF_INFO("recon", "cluster=%s worker started", c->c_name);
	while (take_inbox(w)) {
		int64_t  now;
		unsigned started;
		run_curl(w);
		now     = sf_clock_mono_ms();
		started = w->w_started;
		run_timers(w, now);
		sf__recon_conn_step(w, now);
		pump(w, now);
		sf__recon_health_maybe_report(w, now);
		sf__recon_publish_stats(w, now);
		if (w->w_started != started && run_curl(w) > 0) {
			// Send what was just started before sleeping (curl's
			// timer is due at once for a new transfer). What that
			// finished is acted on by another turn, not after a
			// sleep that nothing may end (s28-tick).
			continue;
		}
		wait_events(w);
	}
	sf__recon_cancel_all(w);
	while (w->w_free != NULL) {
		sf__recon_req *q = w->w_free;
		w->w_free        = q->q_next;
		sf_kube_req_fini(&q->q_kr);
		free(q);
	}
	SF_INFO("recon", "cluster=%s worker stopped", c->c_name);
	return (NULL);
}

// ------------------------------------------------------------ lifecycle

sf__recon_cluster *
sf__recon_cluster_start(
    sf_reconciler *r, const char *name, sf_kube_cfg *cfg, uint64_t cfg_hash)
{
	sf__recon_cluster *c     = calloc(1, sizeof(*c));
	sf__recon_worker  *w     = calloc(1, sizeof(*w));
	long               conns = (long) r->r_opts.ro_max_conns;

	if (c != NULL) {
		c->c_wake = -1;
	}
	if (c == NULL || w == NULL || (c->c_name = strdup(name)) == NULL
	    || (c->c_multi = curl_multi_init()) == NULL
	    || (c->c_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0
	    || (w->w_pfd = calloc(8, sizeof(*w->w_pfd))) == NULL
	    || (w->w_ready = calloc(8, sizeof(*w->w_ready))) == NULL) {
		goto fail;
	}
	w->w_pfdcap        = 8;
	w->w_npfd          = 1;
	w->w_pfd[0].fd     = c->c_wake;
	w->w_pfd[0].events = POLLIN;
	w->w_curl_due      = -1;
	c->c_rec           = r;
	c->c_cfg_hash      = cfg_hash;
	c->c_w             = w;
	w->w_c             = c;
	w->w_r             = r;
	w->w_cfg           = cfg;
	sf__recon_objtab_init(&w->w_objs);
	// Several keep-alive connections for an HTTP/1.1 server; with
	// HTTP/2 one connection carries every stream.
	curl_multi_setopt(c->c_multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
	curl_multi_setopt(c->c_multi, CURLMOPT_MAXCONNECTS, conns + 2);
	curl_multi_setopt(c->c_multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	curl_multi_setopt(c->c_multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->c_multi, CURLMOPT_SOCKETDATA, w);
	curl_multi_setopt(c->c_multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(c->c_multi, CURLMOPT_TIMERDATA, w);
	pthread_mutex_init(&c->c_mtx, NULL);
	if (pthread_create(&c->c_thread, NULL, worker_main, c) != 0) {
		pthread_mutex_destroy(&c->c_mtx);
		goto fail;
	}
	return (c);
fail:
	if (c != NULL) {
		if (c->c_multi != NULL) {
			curl_multi_cleanup(c->c_multi);
		}
		if (c->c_wake >= 0) {
			close(c->c_wake);
		}
		free(c->c_name);
	}
	if (w != NULL) {
		free(w->w_pfd);
		free(w->w_ready);
	}
	free(c);
	free(w);
	sf_kube_cfg_free(cfg);
	return (NULL);
}

// wake_worker makes the worker's poll() return.
static void
wake_worker(sf__recon_cluster *c)
{
	uint64_t one = 1;
	while (write(c->c_wake, &one, sizeof(one)) < 0 && errno == EINTR) {
	}
}

void
sf__recon_cluster_post(sf__recon_cluster *c, sf__recon_msg *m)
{
	bool wake;

	m->m_next = NULL;
	pthread_mutex_lock(&c->c_mtx);
	// Only the post that finds the inbox empty wakes the worker (issue
	// 21: a wakeup is a syscall on each side): a message behind it is
	// taken by the same take_inbox, which that wakeup guarantees.
	wake = c->c_in_head == NULL;
	if (c->c_in_tail != NULL) {
		c->c_in_tail->m_next = m;
	} else {
		c->c_in_head = m;
	}
	c->c_in_tail = m;
	pthread_mutex_unlock(&c->c_mtx);
	if (wake) {
		wake_worker(c);
	}
}

void
sf__recon_cluster_stop(sf__recon_cluster *c)
{
	sf__recon_worker *w = c->c_w;
	sf__recon_msg    *m, *next;

	pthread_mutex_lock(&c->c_mtx);
	c->c_stop = true;
	pthread_mutex_unlock(&c->c_mtx);
	wake_worker(c);
	pthread_join(c->c_thread, NULL);
	for (m = c->c_in_head; m != NULL; m = next) {
		next = m->m_next;
		sf__recon_msg_free(m);
	}
	sf__recon_objtab_fini(&w->w_objs);
	free(w->w_echo);
	sf_arena_fini(&w->w_unpack);
	sf__recon_heap_fini(&w->w_timers);
	free(w->w_continue);
	free(w->w_pools_json);
	sf_kube_cfg_free(w->w_cfg);
	curl_multi_cleanup(c->c_multi);
	close(c->c_wake);
	free(w->w_pfd);
	free(w->w_ready);
	pthread_mutex_destroy(&c->c_mtx);
	free(c->c_name);
	free(w);
	free(c);
}
