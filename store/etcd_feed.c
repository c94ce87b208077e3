// etcd_feed.c: the change feed of the etcd backend, from one etcd watch.
//
// Each store keeps one watch on [P, P~) (everything of the store but the
// audit log) with prev_kv, run by a thread of its own, and keeps the
// Service events it brings in a ring of so_feed_keep events, packed as
// WatchEvents: ADDED when the key's version is 1, MODIFIED otherwise,
// DELETED with the last state (prev_kv) at the deletion's revision. Every
// write of every svcfleetd sharing the etcd comes through the watch (each
// write puts a marker key in the watched range, so even a write that
// changed no Service moves the watch on), and the commit hook fires for
// each answer: WatchServices on any replica sees writes made through every
// other.
//
// The ring covers the revisions (f_lo, f_hi]. A read from before f_lo
// replays etcd's history with a watch of its own from since + 1, until it
// meets a revision above f_lo (one exists: f_lo is either a revision whose
// events were evicted from the ring, or the one before this store's start
// marker, meta/start, which the store put when its watch began). When
// etcd has compacted that history the replay's watch is cancelled with
// compact_revision, and the read answers SF_OUT_OF_RANGE (relist). A read
// from beyond f_hi waits a little for the watch (the caller saw a revision
// through another replica); a read from beyond etcd's revision is
// SF_OUT_OF_RANGE, as on LMDB. Before any read, the watch is waited for
// until it has brought this store's own last write, so a caller always
// reads its writes.
#include "etcd_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define ADDED    SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_ADDED
#define MODIFIED SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_MODIFIED
#define DELETED  SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_DELETED

// How long a read waits for the watch to bring a revision it knows of.
#define CATCH_UP_MS 3000

// ------------------------------------------------------------- events

// build_event makes a packed WatchEvent of a watch event of a Service;
// *packed is NULL for other keys. *delta is the change in the number of
// Services.
static int
build_event(sf_store *s, const json_t *ev, uint64_t *rev, uint8_t **packed,
    size_t *n, int *delta)
{
	const json_t *kv   = json_object_get(ev, "kv");
	const char   *type = json_string_value(json_object_get(ev, "type"));
	bool          del  = type != NULL && strcmp(type, "DELETE") == 0;
	Svcfleet__V1__WatchEvent we   = SVCFLEET__V1__WATCH_EVENT__INIT;
	Svcfleet__V1__Service   *svc  = NULL;
	Svcfleet__V1__ObjectMeta meta = SVCFLEET__V1__OBJECT_META__INIT;
	Svcfleet__V1__Service    bare = SVCFLEET__V1__SERVICE__INIT;
	uint8_t                 *kbuf = NULL, *v = NULL;
	const uint8_t           *inner;
	size_t                   il, vn;
	sf_store_key             sk;
	int                      rv = 0;

	*packed = NULL;
	*n      = 0;
	*delta  = 0;
	*rev    = (uint64_t) sf__store_etcd_i64(kv, "mod_revision");
	if (sf__store_etcd_kv_key(
	        s, kv, SF__STORE_ETCD_SVC, &kbuf, &inner, &il)
	    != 0) {
		return (0); // not a Service
	}
	if (sf__store_key_parse(inner, il, &sk) != 0) {
		// Not one of ours: leave it out (failing the watch on it would
		// only meet it again when the watch resumes).
		SF_ERROR("store",
		    "a malformed key among the services at revision %" PRIu64
		    " is left out of the feed",
		    *rev);
		free(kbuf);
		return (0);
	}
	if (!del) {
		if (sf__store_etcd_kv_value(kv, &v, &vn) == 0) {
			svc = sf__store_etcd_unpack_service(
			    v, vn, (int64_t) *rev, NULL);
		}
		we.type = sf__store_etcd_i64(kv, "version") == 1 ? ADDED
		                                                 : MODIFIED;
		*delta  = we.type == ADDED ? 1 : 0;
	} else {
		const json_t *prev = json_object_get(ev, "prev_kv");
		if (prev != NULL
		    && sf__store_etcd_kv_value(prev, &v, &vn) == 0) {
			svc = sf__store_etcd_unpack_service(
			    v, vn, (int64_t) *rev, NULL);
		}
		we.type = DELETED;
		*delta  = -1;
	}
	free(v);
	if (svc == NULL || svc->metadata == NULL) {
		if (svc != NULL) {
			svcfleet__v1__service__free_unpacked(svc, NULL);
			svc = NULL;
		}
		if (!del) {
			SF_ERROR("store",
			    "the service %s/%s in cluster %s at revision "
			    "%" PRIu64
			    " cannot be decoded; its event is left out of the "
			    "feed",
			    sk.k_namespace, sk.k_name, sk.k_cluster, *rev);
			free(kbuf);
			return (0);
		}
		// Its last state was compacted away: the key is all there is.
		meta.cluster          = (char *) sk.k_cluster;
		meta.namespace_       = (char *) sk.k_namespace;
		meta.name             = (char *) sk.k_name;
		meta.resource_version = *rev;
		bare.metadata         = &meta;
	}
	we.revision = *rev;
	we.service  = svc != NULL ? svc : &bare;
	*n          = svcfleet__v1__watch_event__get_packed_size(&we);
	if ((*packed = malloc(*n > 0 ? *n : 1)) == NULL) {
		rv = SF_RESOURCE_EXHAUSTED;
	} else {
		svcfleet__v1__watch_event__pack(&we, *packed);
	}
	if (svc != NULL) {
		svcfleet__v1__service__free_unpacked(svc, NULL);
	}
	free(kbuf);
	return (rv);
}

// --------------------------------------------------------------- ring

static sf__feed_ev *
ring_at(sf_store *s, size_t i)
{
	return (&s->s_ring[s->s_ring_start + i]);
}

static int
ring_push(sf_store *s, uint64_t rev, uint8_t *packed, size_t n)
{
	if (s->s_ring_start + s->s_ring_n == s->s_ring_cap) {
		if (s->s_ring_start > 0) {
			memmove(s->s_ring, s->s_ring + s->s_ring_start,
			    s->s_ring_n * sizeof(*s->s_ring));
			s->s_ring_start = 0;
		}
		if (s->s_ring_n == s->s_ring_cap) {
			size_t cap = s->s_ring_cap ? s->s_ring_cap * 2 : 256;
			sf__feed_ev *nr
			    = realloc(s->s_ring, cap * sizeof(*nr));
			if (nr == NULL) {
				return (SF_RESOURCE_EXHAUSTED);
			}
			s->s_ring     = nr;
			s->s_ring_cap = cap;
		}
	}
	s->s_ring[s->s_ring_start + s->s_ring_n].fe_rev    = rev;
	s->s_ring[s->s_ring_start + s->s_ring_n].fe_packed = packed;
	s->s_ring[s->s_ring_start + s->s_ring_n].fe_n      = n;
	s->s_ring_n++;
	return (0);
}

// ring_evict keeps so_feed_keep events, dropping whole revisions from the
// oldest; the newest revision always stays.
static void
ring_evict(sf_store *s)
{
	while (s->s_ring_n > s->s_feed_keep) {
		uint64_t old = ring_at(s, 0)->fe_rev;
		if (old == ring_at(s, s->s_ring_n - 1)->fe_rev) {
			break;
		}
		while (s->s_ring_n > 0 && ring_at(s, 0)->fe_rev == old) {
			free(ring_at(s, 0)->fe_packed);
			s->s_ring_start++;
			s->s_ring_n--;
		}
		s->s_f_lo = old;
	}
}

static void
ring_clear(sf_store *s)
{
	for (size_t i = 0; i < s->s_ring_n; i++) {
		free(ring_at(s, i)->fe_packed);
	}
	s->s_ring_start = 0;
	s->s_ring_n     = 0;
}

// --------------------------------------------------------------- watch

static void
fire_hook(sf_store *s, uint64_t rev)
{
	void (*hook)(void *, uint64_t);
	void *arg;

	pthread_mutex_lock(&s->s_hookmtx);
	hook = s->s_hook;
	arg  = s->s_hookarg;
	pthread_mutex_unlock(&s->s_hookmtx);
	if (hook != NULL) {
		hook(arg, rev);
	}
}

// note_record bumps the record generation of a token's or binding's event
// (any replica's write): caches of them compare it (issue 15).
static void
note_record(sf_store *s, const json_t *ev)
{
	const json_t  *kv = json_object_get(ev, "kv");
	uint8_t       *buf;
	const uint8_t *inner;
	size_t         n;

	if (sf__store_etcd_kv_key(s, kv, SF__STORE_ETCD_BIND, &buf, &inner, &n)
	    == 0) {
		atomic_fetch_add(&s->s_gen_bindings, 1);
		free(buf);
	} else if (sf__store_etcd_kv_key(
	               s, kv, SF__STORE_ETCD_TOK, &buf, &inner, &n)
	    == 0) {
		atomic_fetch_add(&s->s_gen_tokens, 1);
		free(buf);
	}
}

uint64_t
sf__store_etcd_record_generation(sf_store *s, sf_store_kind kind)
{
	switch (kind) {
	case SF_STORE_TOKENS:
		return (atomic_load(&s->s_gen_tokens));
	case SF_STORE_BINDINGS:
		return (atomic_load(&s->s_gen_bindings));
	default:
		return (0);
	}
}

static void pause_ms(sf_store *s, int64_t ms);

// on_watch takes one answer of the store's watch into the ring.
static int
on_watch(void *arg, json_t *res, sf_status *st)
{
	sf_store     *s      = arg;
	const json_t *events = json_object_get(res, "events");
	size_t        cnt    = json_array_size(events);
	uint64_t      hi     = 0;
	int           rv     = 0;

	if (json_is_true(json_object_get(res, "canceled"))) {
		if (sf__store_etcd_i64(res, "compact_revision") > 0) {
			return (sf_status_set(st, SF_OUT_OF_RANGE,
			    "store: etcd compacted the history the watch "
			    "needed (up to revision %lld)",
			    (long long) sf__store_etcd_i64(
			        res, "compact_revision")));
		}
		return (sf_status_set(st, SF_UNAVAILABLE,
		    "store: etcd cancelled the watch: %s",
		    json_string_value(json_object_get(res, "cancel_reason"))));
	}
	if (cnt == 0) {
		return (0);
	}
	if (atomic_load(&s->s_watch_delay_ms) > 0) {
		pause_ms(s, atomic_load(&s->s_watch_delay_ms)); // tests only
	}
	pthread_mutex_lock(&s->s_fmtx);
	for (size_t i = 0; i < cnt && rv == 0; i++) {
		uint8_t *packed;
		size_t   n;
		uint64_t rev;
		int      delta;

		note_record(s, json_array_get(events, i));
		rv = build_event(
		    s, json_array_get(events, i), &rev, &packed, &n, &delta);
		if (rev <= s->s_f_hi) {
			free(packed); // seen before a reconnection
			continue;
		}
		if (rv == 0 && packed != NULL
		    && (rv = ring_push(s, rev, packed, n)) != 0) {
			free(packed);
		}
		sf__store_view_event(s, json_array_get(events, i), rev);
		s->s_f_services
		    = (uint64_t) ((int64_t) s->s_f_services + delta);
		hi = rev > hi ? rev : hi;
	}
	if (hi > s->s_f_hi) {
		s->s_f_hi = hi;
	}
	ring_evict(s);
	s->s_f_err = 0;
	pthread_cond_broadcast(&s->s_fcv);
	pthread_mutex_unlock(&s->s_fmtx);
	if (rv != 0) {
		return (
		    sf_status_set(st, rv, "store: a watch event was lost"));
	}
	if (hi > 0) {
		sf__store_etcd_saw(s, hi);
		fire_hook(s, hi);
	}
	return (0);
}

// start_epoch puts meta/start and counts the Services at its revision S:
// the ring then covers (S - 1, S - 1] and the watch starts at S.
static int
start_epoch(sf_store *s, sf_status *st)
{
	sf__store_ekey k, svc, end;
	char           v[96];
	json_t        *req, *resp = NULL;
	uint64_t       rev;
	int64_t        cnt;
	int            rv;

	sf__store_ekey_make(s, SF__STORE_ETCD_META, "start", 5, &k);
	snprintf(v, sizeof(v), "%s %lld", s->s_instid,
	    (long long) sf_clock_now_ms());
	req = json_pack("{s:o,s:o}", "key", sf__store_etcd_b64(k.k_b, k.k_n),
	    "value", sf__store_etcd_b64(v, strlen(v)));
	rv  = req != NULL ? sf__store_etcd_call(s->s_etcd, "kv/put", req,
	          "the store's start marker", &resp, NULL, st)
	                  : sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL);
	json_decref(req);
	if (rv != 0) {
		return (rv);
	}
	rev = sf__store_etcd_rev(resp);
	json_decref(resp);
	sf__store_ekey_make(s, SF__STORE_ETCD_SVC, NULL, 0, &svc);
	sf__store_ekey_end(&svc, &end);
	if ((rv = sf__store_etcd_range(s, &svc, &end, rev, 0,
	         SF__RANGE_COUNT_ONLY, "the services", &resp, st))
	    != 0) {
		return (rv);
	}
	cnt = sf__store_etcd_i64(resp, "count");
	json_decref(resp);
	// The view (etcd_view.c) starts at the same revision: every Service
	// and cluster record at rev. Failing that, it stays off.
	json_t        *vsvc = NULL, *vcl = NULL;
	sf__store_ekey cl, clend;
	sf__store_ekey_make(s, SF__STORE_ETCD_CL, NULL, 0, &cl);
	sf__store_ekey_end(&cl, &clend);
	sf_status vst;
	sf_status_init(&vst);
	if (sf__store_etcd_range(
	        s, &svc, &end, rev, 0, 0, "the services", &vsvc, &vst)
	        != 0
	    || sf__store_etcd_range(
	           s, &cl, &clend, rev, 0, 0, "the clusters", &vcl, &vst)
	        != 0) {
		SF_WARN("store",
		    "the view of services is off until the watch restarts: %s",
		    vst.st_msg);
	}
	sf_status_fini(&vst);
	pthread_mutex_lock(&s->s_fmtx);
	sf__store_view_clear(s);
	if (vsvc != NULL && vcl != NULL) {
		s->s_v_ok = sf__store_view_seed_kvs(s, vsvc) == 0
		    && sf__store_view_seed_kvs(s, vcl) == 0;
		if (!s->s_v_ok) {
			sf__store_view_clear(s);
		}
		s->s_v_changed = rev - 1;
	}
	json_decref(vsvc);
	json_decref(vcl);
	ring_clear(s);
	s->s_f_lo       = rev - 1;
	s->s_f_hi       = rev - 1;
	s->s_f_services = (uint64_t) cnt;
	s->s_f_started  = true;
	pthread_cond_broadcast(&s->s_fcv);
	pthread_mutex_unlock(&s->s_fmtx);
	return (0);
}

static json_t *
watch_req(sf_store *s, uint64_t from)
{
	sf__store_ekey k, end;

	sf__store_ekey_make(s, "", NULL, 0, &k);
	sf__store_ekey_make(s, "~", NULL, 0, &end);
	return (json_pack("{s:{s:o,s:o,s:o,s:b}}", "create_request", "key",
	    sf__store_etcd_b64(k.k_b, k.k_n), "range_end",
	    sf__store_etcd_b64(end.k_b, end.k_n), "start_revision",
	    sf__store_etcd_str64((int64_t) from), "prev_kv", 1));
}

// pause_ms sleeps, unless the store closes meanwhile.
static void
pause_ms(sf_store *s, int64_t ms)
{
	int64_t         until = sf_clock_mono_ms() + ms;
	struct timespec ts = {until / 1000, (long) (until % 1000) * 1000000};

	pthread_mutex_lock(&s->s_fmtx);
	while (!atomic_load(&s->s_stopping) && sf_clock_mono_ms() < until) {
		pthread_cond_timedwait(&s->s_fcv, &s->s_fmtx, &ts);
	}
	pthread_mutex_unlock(&s->s_fmtx);
}

static void *
watcher_main(void *arg)
{
	sf_store *s       = arg;
	int64_t   backoff = 0;

	while (!atomic_load(&s->s_stopping)) {
		sf_status st;
		json_t   *req;
		uint64_t  from;
		int       rv;

		sf_status_init(&st);
		pthread_mutex_lock(&s->s_fmtx);
		bool started = s->s_f_started;
		from         = s->s_f_hi + 1;
		pthread_mutex_unlock(&s->s_fmtx);
		if (!started) {
			rv = start_epoch(s, &st);
		} else if ((req = watch_req(s, from)) == NULL) {
			rv = SF_RESOURCE_EXHAUSTED;
		} else {
			rv = sf__store_etcd_stream_run(
			    s->s_stream, "watch", req, 0, on_watch, s, &st);
			json_decref(req);
		}
		if (atomic_load(&s->s_stopping)) {
			sf_status_fini(&st);
			break;
		}
		if (rv == SF_CANCELLED || (rv == 0 && started)) {
			// Kicked: the watch stopped moving; ask another
			// member.
			sf__store_etcd_rotate(s->s_etcd);
			sf_status_fini(&st);
			continue;
		}
		if (rv == SF_OUT_OF_RANGE) {
			SF_WARN("store",
			    "%s; the change feed starts again (readers from "
			    "before relist)",
			    st.st_msg);
			pthread_mutex_lock(&s->s_fmtx);
			s->s_f_started = false;
			pthread_mutex_unlock(&s->s_fmtx);
			sf_status_fini(&st);
			continue;
		}
		if (rv != 0) {
			pthread_mutex_lock(&s->s_fmtx);
			if (s->s_f_err == 0) {
				SF_WARN("store", "the watch on etcd ended: %s",
				    st.st_msg);
			}
			s->s_f_err = rv;
			pthread_mutex_unlock(&s->s_fmtx);
			backoff = backoff == 0 ? 50 : backoff * 2;
			backoff = backoff > 1000 ? 1000 : backoff;
			pause_ms(s, backoff);
		} else {
			backoff = 0;
		}
		sf_status_fini(&st);
	}
	return (NULL);
}

int
sf__store_etcd_feed_start(sf_store *s, sf_status *st)
{
	int rv;

	if (sf__store_etcd_stream_new(s->s_etcd, &s->s_stream) != 0) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	if ((rv = start_epoch(s, st)) != 0) {
		return (rv);
	}
	uint64_t first = s->s_f_hi + 1; // meta/start's revision
	if (pthread_create(&s->s_watcher, NULL, watcher_main, s) != 0) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
		    "cannot start the store's watch thread"));
	}
	s->s_watcher_running = true;
	if (!sf__store_etcd_feed_wait(s, first, s->s_retry_ms)) {
		return (sf_status_set(st, SF_UNAVAILABLE,
		    "store: the watch on etcd (%s) did not start",
		    sf__store_etcd_endpoints(s->s_etcd)));
	}
	return (0);
}

void
sf__store_etcd_feed_stop(sf_store *s)
{
	atomic_store(&s->s_stopping, true);
	if (s->s_watcher_running) {
		sf__store_etcd_stream_wake(s->s_stream);
		pthread_mutex_lock(&s->s_fmtx);
		pthread_cond_broadcast(&s->s_fcv);
		pthread_mutex_unlock(&s->s_fmtx);
		pthread_join(s->s_watcher, NULL);
		s->s_watcher_running = false;
	}
	sf__store_etcd_stream_free(s->s_stream);
	s->s_stream = NULL;
	ring_clear(s);
	sf__store_view_free(s);
	free(s->s_ring);
	s->s_ring     = NULL;
	s->s_ring_cap = 0;
}

// wait_locked waits, s_fmtx held, until f_hi >= rev or until (mono ms).
static bool
wait_locked(sf_store *s, uint64_t rev, int64_t until)
{
	struct timespec ts = {until / 1000, (long) (until % 1000) * 1000000};

	while (s->s_f_hi < rev && !atomic_load(&s->s_stopping)
	    && sf_clock_mono_ms() < until) {
		pthread_cond_timedwait(&s->s_fcv, &s->s_fmtx, &ts);
	}
	return (s->s_f_hi >= rev);
}

bool
sf__store_etcd_feed_wait(sf_store *s, uint64_t rev, int64_t ms)
{
	bool ok;

	pthread_mutex_lock(&s->s_fmtx);
	ok      = wait_locked(s, rev, sf_clock_mono_ms() + ms);
	bool up = s->s_f_err == 0;
	pthread_mutex_unlock(&s->s_fmtx);
	if (!ok && up && s->s_watcher_running
	    && !atomic_load(&s->s_stopping)) {
		// Up, yet it did not bring a revision etcd has: the member it
		// reads from lags (or hangs). Move it to another.
		sf__store_etcd_stream_wake(s->s_stream);
	}
	return (ok);
}

void
sf__store_etcd_set_watch_delay(sf_store *s, int ms)
{
	atomic_store(&s->s_watch_delay_ms, ms);
}

uint64_t
sf__store_etcd_feed_services(sf_store *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->s_fmtx);
	n = s->s_f_services;
	pthread_mutex_unlock(&s->s_fmtx);
	return (n);
}

void
sf__store_etcd_set_commit_hook(
    sf_store *s, void (*fn)(void *, uint64_t), void *arg)
{
	pthread_mutex_lock(&s->s_hookmtx);
	s->s_hook    = fn;
	s->s_hookarg = arg;
	pthread_mutex_unlock(&s->s_hookmtx);
}

// ---------------------------------------------------------------- reads

// What one feed read has gathered.
typedef struct gather {
	uint32_t               g_max;
	const sf_store_filter *g_filter;
	ProtobufCAllocator    *g_alloc;
	sf__store_ptrvec       g_pv;
	sf_arena               g_scratch;
	uint64_t               g_last; // last revision examined
	uint32_t               g_examined;
	bool                   g_full; // stopped at max or the scan limit
} gather;

// take considers one event; returns 0 or an SF_* code. The caller has
// checked that it may (g_full).
static int
take(gather *g, uint64_t rev, const uint8_t *packed, size_t n)
{
	const sf_store_filter    *f = g->g_filter;
	Svcfleet__V1__WatchEvent *ev;

	g->g_last = rev;
	g->g_examined++;
	if (f != NULL && (f->f_key != NULL || f->f_obj != NULL)) {
		sf_arena_reset(&g->g_scratch);
		ev = svcfleet__v1__watch_event__unpack(
		    sf_arena_pbc(&g->g_scratch), n, packed);
		if (ev == NULL) {
			return (SF_DATA_LOSS);
		}
		if (!sf__store_keep_event(f, ev)) {
			return (0);
		}
	}
	if ((ev = svcfleet__v1__watch_event__unpack(g->g_alloc, n, packed))
	    == NULL) {
		return (SF_DATA_LOSS);
	}
	if (sf__store_ptrvec_push(&g->g_pv, ev) != 0) {
		svcfleet__v1__watch_event__free_unpacked(ev, g->g_alloc);
		return (SF_RESOURCE_EXHAUSTED);
	}
	return (0);
}

// full tells whether the read must stop before an event of rev (never
// inside a revision).
static bool
full(gather *g, uint64_t rev)
{
	if (rev != g->g_last
	    && (g->g_pv.pv_n >= g->g_max
	        || g->g_examined >= SF__STORE_SCAN_MAX)) {
		g->g_full = true;
	}
	return (g->g_full);
}

// ring_read gathers the ring's events after since (s_fmtx held).
static int
ring_read(sf_store *s, uint64_t since, gather *g)
{
	size_t lo = 0, hi = s->s_ring_n;
	int    rv = 0;

	while (lo < hi) { // the first event after since
		size_t mid = lo + (hi - lo) / 2;
		if (ring_at(s, mid)->fe_rev <= since) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	for (size_t i = lo; i < s->s_ring_n && rv == 0; i++) {
		sf__feed_ev *e = ring_at(s, i);
		if (full(g, e->fe_rev)) {
			break;
		}
		rv = take(g, e->fe_rev, e->fe_packed, e->fe_n);
	}
	return (rv);
}

typedef struct replay {
	sf_store *r_s;
	gather   *r_g;
	uint64_t  r_lo;
	bool      r_reached; // met a revision above r_lo
} replay;

static int
on_replay(void *arg, json_t *res, sf_status *st)
{
	replay       *r      = arg;
	const json_t *events = json_object_get(res, "events");

	if (json_is_true(json_object_get(res, "canceled"))) {
		return (sf_status_set(st,
		    sf__store_etcd_i64(res, "compact_revision") > 0
		        ? SF_OUT_OF_RANGE
		        : SF_UNAVAILABLE,
		    "store: the change feed from there is compacted away"));
	}
	for (size_t i = 0; i < json_array_size(events); i++) {
		uint8_t *packed;
		size_t   n;
		uint64_t rev;
		int      delta, rv;

		rv = build_event(r->r_s, json_array_get(events, i), &rev,
		    &packed, &n, &delta);
		if (rv != 0) {
			return (sf_status_set(st, rv, "store: a feed event"));
		}
		if (rev > r->r_lo) {
			free(packed);
			r->r_reached = true;
			return (1);
		}
		if (packed == NULL) {
			continue;
		}
		if (full(r->r_g, rev)) {
			free(packed);
			return (1);
		}
		rv = take(r->r_g, rev, packed, n);
		free(packed);
		if (rv != 0) {
			return (sf_status_set(st, rv, "store: a feed event"));
		}
	}
	return (0);
}

// replay_read gathers the events in (since, lo] from etcd's history.
static int
replay_read(sf_store *s, uint64_t since, uint64_t lo, gather *g, bool *reached)
{
	sf__store_etcd_stream *stream;
	replay                 r = {s, g, lo, false};
	json_t                *req;
	sf_status              st;
	int                    rv;

	*reached = false;
	if (sf__store_etcd_stream_new(s->s_etcd, &stream) != 0) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	if ((req = watch_req(s, since + 1)) == NULL) {
		sf__store_etcd_stream_free(stream);
		return (SF_RESOURCE_EXHAUSTED);
	}
	sf_status_init(&st);
	rv = sf__store_etcd_stream_run(
	    stream, "watch", req, s->s_retry_ms, on_replay, &r, &st);
	if (rv != 0 && rv != SF_OUT_OF_RANGE) {
		SF_WARN("store", "reading the change feed from etcd: %s",
		    st.st_msg);
	}
	sf_status_fini(&st);
	json_decref(req);
	sf__store_etcd_stream_free(stream);
	*reached = r.r_reached;
	return (rv);
}

// current asks etcd for its revision.
static int
current(sf_store *s, uint64_t *rev)
{
	sf__store_ekey k;
	json_t        *resp = NULL;
	sf_status      st;
	int            rv;

	sf__store_ekey_make(s, SF__STORE_ETCD_META, "schema", 6, &k);
	sf_status_init(&st);
	rv   = sf__store_etcd_range(s, &k, NULL, 0, 1, SF__RANGE_KEYS_ONLY,
	      "the current revision", &resp, &st);
	*rev = rv == 0 ? sf__store_etcd_rev(resp) : 0;
	json_decref(resp);
	sf_status_fini(&st);
	return (rv);
}

int
sf__store_etcd_feed_read(sf_store *s, uint64_t since, uint32_t max,
    const sf_store_filter *filter, ProtobufCAllocator *alloc,
    Svcfleet__V1__WatchEvent ***out, size_t *n, uint64_t *next)
{
	gather   g;
	uint64_t lo, hi, now;
	bool     reached = false;
	int      rv      = 0;

	*out  = NULL;
	*n    = 0;
	*next = since;
	if (max == 0) {
		return (SF_INVALID_ARGUMENT);
	}
	memset(&g, 0, sizeof(g));
	g.g_max    = max > SF__STORE_FEED_MAX ? SF__STORE_FEED_MAX : max;
	g.g_filter = filter;
	g.g_alloc  = alloc;
	g.g_last   = since;
	sf_arena_init(&g.g_scratch);

	pthread_mutex_lock(&s->s_fmtx);
	bool ahead = since > s->s_f_hi;
	pthread_mutex_unlock(&s->s_fmtx);
	if (ahead) {
		// Beyond the watch: a revision of another etcd, or one the
		// caller saw through another replica.
		if ((rv = current(s, &now)) != 0) {
			goto out;
		}
		if (since > now) {
			rv = SF_OUT_OF_RANGE;
			goto out;
		}
	}
	pthread_mutex_lock(&s->s_fmtx);
	// The caller reads its own writes, and what it saw elsewhere.
	uint64_t want = atomic_load(&s->s_last_write);
	want          = since > want ? since : want;
	if (!wait_locked(s, want, sf_clock_mono_ms() + CATCH_UP_MS)) {
		ahead = since > s->s_f_hi;
		pthread_mutex_unlock(&s->s_fmtx);
		sf__store_etcd_feed_wait(
		    s, want, 0); // moves a lagging watch on
		// Not even its own last write: the watch is down. Else the
		// caller saw since elsewhere, and nothing newer can be told
		// yet.
		rv = ahead ? 0 : SF_UNAVAILABLE;
		goto out;
	}
	lo = s->s_f_lo;
	hi = s->s_f_hi;
	if (since >= lo) {
		rv = ring_read(s, since, &g);
		pthread_mutex_unlock(&s->s_fmtx);
		if (rv == 0 && !g.g_full) {
			g.g_last = hi;
		}
		goto out;
	}
	pthread_mutex_unlock(&s->s_fmtx);
	// Older than the ring: etcd's history, up to lo.
	if ((rv = replay_read(s, since, lo, &g, &reached)) != 0 || !reached
	    || g.g_full) {
		if (rv == 0 && !reached && !g.g_full) {
			rv = SF_UNAVAILABLE;
		}
		goto out;
	}
	pthread_mutex_lock(&s->s_fmtx);
	if (s->s_f_lo <= lo) {
		hi = s->s_f_hi;
		rv = ring_read(s, lo, &g);
		if (rv == 0 && !g.g_full) {
			g.g_last = hi;
		}
	} else {
		g.g_last = lo; // the ring moved on meanwhile: next time
	}
	pthread_mutex_unlock(&s->s_fmtx);
out:
	sf_arena_fini(&g.g_scratch);
	if (rv == 0) {
		size_t cnt = g.g_pv.pv_n;
		*out = (Svcfleet__V1__WatchEvent **) sf__store_ptrvec_take(
		    &g.g_pv, alloc);
		if (*out != NULL) {
			*n    = cnt;
			*next = g.g_last > since ? g.g_last : since;
			return (0);
		}
		rv = SF_RESOURCE_EXHAUSTED;
	}
	for (size_t i = 0; i < g.g_pv.pv_n; i++) {
		svcfleet__v1__watch_event__free_unpacked(
		    g.g_pv.pv_p[i], alloc);
	}
	free(g.g_pv.pv_p);
	return (rv);
}
