// worker.c: one cluster's worker — its libcurl multi handle, objects,
// dirty queue, backoff timers, list and watch of the cluster's Services,
// applies, deletes and status reports.
//
// The loop: take the inbox (desired changes, report outcomes), run curl
// (finished requests, watch lines), fire due timers, advance the
// connection (version, list, watch, resync), then turn dirty objects into
// requests while fewer than max_inflight are running, and sleep in
// curl_multi_poll until a socket, a timer or curl_multi_wakeup (a post to
// the inbox) needs us.
//
// Every decision about an object is made in decide(), from its flags and
// hashes; everything else only updates them and marks the object dirty.
// Callbacks from curl (watch lines) never start requests: libcurl forbids
// calling the multi interface from inside its callbacks.
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"
#include "log.h"

#include "hash.h"
#include "internal.h"

#define LIST_PAGE          250
#define WATCH_TIMEOUT_S    290
#define DOWN_BACKOFF_MIN   500
#define DOWN_BACKOFF_MAX   5000
#define TRANSPORT_FAILURES 3 // in a row, before the cluster counts as down
#define HEALTH_REFRESH_MS  (5 * 60 * 1000)
#define IDLE_REQUESTS      4 // easy handles kept between bursts
#define MSG_UNOWNED                                                          \
	"service exists in the cluster and is not managed by svcfleet; set " \
	"allow_adoption to take it over"

enum conn_state {
	C_IDLE,    // nothing yet: start with /version
	C_VERSION, // /version in flight
	C_LISTING, // first list in flight (no writes before it completes)
	C_UP,      // listed, watching
	C_DOWN,    // unreachable or refused: retry at w_retry_at
};

enum req_kind { R_APPLY, R_DELETE, R_LIST, R_WATCH, R_VERSION, R_POOLS };

typedef struct rc_req {
	sf_kube_req       q_kr;
	struct rc_req    *q_next; // free list / active list
	struct rc_req    *q_prev;
	struct rc_worker *q_w;
	int               q_kind;
	rc_obj           *q_obj;
	uint64_t          q_want; // R_APPLY: the desired hash sent
	bool              q_resync;
	bool              q_kubefake; // R_POOLS: the kubefake fallback
} rc_req;

typedef struct rc_fifo {
	rc_obj *f_head, *f_tail;
} rc_fifo;

typedef struct rc_worker {
	rc_cluster    *w_c;
	sf_reconciler *w_r;
	sf_kube_cfg   *w_cfg;
	rc_objtab      w_objs;
	rc_fifo        w_dirty;
	rc_fifo        w_wait; // waiting for a request slot
	rc_obj       **w_heap;
	size_t         w_nheap, w_capheap;
	rc_req        *w_free; // idle requests (easy handles kept)
	unsigned       w_nfree;
	rc_req        *w_active; // requests added to the multi handle
	unsigned       w_inflight;
	rc_req        *w_watch, *w_list, *w_probe, *w_pools;
	int            w_conn;
	int64_t        w_retry_at;
	unsigned       w_down_attempts;
	unsigned       w_failures;
	char           w_rv[SF_KUBE_RV_MAX];
	uint32_t       w_list_epoch;
	char          *w_continue;
	bool           w_relist;
	int64_t        w_next_resync;
	int64_t        w_watch_at;
	uint32_t       w_desired_epoch;
	bool           w_desired_done;
	int64_t        w_paused_until;
	// Health.
	int      w_health;
	char     w_health_msg[300];
	char     w_version[64];
	int64_t  w_contact_ms;
	uint64_t w_health_sent;
	int64_t  w_health_sent_at;
	char    *w_pools_json;
	bool     w_pools_known;
	int64_t  w_count_at;
	size_t   w_pending_peak; // most objects holding a packed Service
	// Objects parsed from an apply's answer or the watch, by a hash of
	// their bytes (see echo_take); ECHO_SLOTS, made at first use.
	struct rc_echo *w_echo;
} rc_worker;

// A cluster sends every object this worker applies twice: as the
// apply's answer and as a MODIFIED or ADDED watch event, byte for byte
// the same (both are the stored object, encoded alike), in either order.
// Parsing the second copy cost a fifth of the reconciler's time and told
// nothing new, so objects parsed from either are remembered by a hash of
// their bytes (a direct-mapped table: a slot taken by another object
// only means a parse) and the copy that carries exactly those bytes is
// only counted, not parsed. resourceVersion is in the bytes, so any
// other change to the object is parsed.
#define ECHO_SLOTS 4096
struct rc_echo {
	uint64_t e_hash; // 0: empty
	char     e_rv[24];
};

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

// Exponential backoff with jitter: a delay in [d/2, d] where d doubles
// per attempt from min up to max.
static int64_t
backoff_ms(unsigned attempt, uint32_t min, uint32_t max)
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

static void
set_str(char **dst, const char *s)
{
	if (*dst != NULL && s != NULL && strcmp(*dst, s) == 0) {
		return;
	}
	free(*dst);
	*dst = s != NULL ? strdup(s) : NULL;
}

// ------------------------------------------------------------ dirty list

// An object is in at most one of the two queues (dirty, waiting for a
// request slot), linked through o_dnext and marked by flag.
static void
fifo_push(rc_fifo *q, rc_obj *o, uint32_t flag)
{
	o->o_flags |= flag;
	o->o_dnext = NULL;
	if (q->f_tail != NULL) {
		q->f_tail->o_dnext = o;
	} else {
		q->f_head = o;
	}
	q->f_tail = o;
}

static rc_obj *
fifo_pop(rc_fifo *q, uint32_t flag)
{
	rc_obj *o = q->f_head;
	if (o != NULL) {
		q->f_head = o->o_dnext;
		if (q->f_head == NULL) {
			q->f_tail = NULL;
		}
		o->o_flags &= ~flag;
		o->o_dnext = NULL;
	}
	return (o);
}

static void
mark_dirty(rc_worker *w, rc_obj *o)
{
	if (o->o_flags & (O_DIRTY | O_WAITING)) {
		return; // it will be decided anyway
	}
	fifo_push(&w->w_dirty, o, O_DIRTY);
}

static rc_obj *
pop_dirty(rc_worker *w)
{
	return (fifo_pop(&w->w_dirty, O_DIRTY));
}

// push_wait parks o until a request slot is free (objects are served in
// the order they asked).
static void
push_wait(rc_worker *w, rc_obj *o)
{
	fifo_push(&w->w_wait, o, O_WAITING);
}

static rc_obj *
pop_wait(rc_worker *w)
{
	return (fifo_pop(&w->w_wait, O_WAITING));
}

static void
mark_all_dirty(rc_worker *w)
{
	rc_obj *o;
	size_t  i = 0;
	while ((o = rc_objtab_next(&w->w_objs, &i)) != NULL) {
		mark_dirty(w, o);
	}
}

// ------------------------------------------------------------ timer heap

static void
heap_swap(rc_worker *w, size_t a, size_t b)
{
	rc_obj *t            = w->w_heap[a];
	w->w_heap[a]         = w->w_heap[b];
	w->w_heap[b]         = t;
	w->w_heap[a]->o_heap = (uint32_t) a + 1;
	w->w_heap[b]->o_heap = (uint32_t) b + 1;
}

static void
heap_up(rc_worker *w, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (w->w_heap[p]->o_next_ms <= w->w_heap[i]->o_next_ms) {
			break;
		}
		heap_swap(w, i, p);
		i = p;
	}
}

static void
heap_down(rc_worker *w, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < w->w_nheap
		    && w->w_heap[l]->o_next_ms < w->w_heap[m]->o_next_ms) {
			m = l;
		}
		if (r < w->w_nheap
		    && w->w_heap[r]->o_next_ms < w->w_heap[m]->o_next_ms) {
			m = r;
		}
		if (m == i) {
			return;
		}
		heap_swap(w, i, m);
		i = m;
	}
}

static void
heap_remove(rc_worker *w, rc_obj *o)
{
	size_t i;
	if (o->o_heap == 0) {
		return;
	}
	i         = o->o_heap - 1;
	o->o_heap = 0;
	w->w_nheap--;
	if (i == w->w_nheap) {
		return;
	}
	w->w_heap[i]         = w->w_heap[w->w_nheap];
	w->w_heap[i]->o_heap = (uint32_t) i + 1;
	heap_down(w, i);
	heap_up(w, i);
}

// arm schedules o to be decided again at o->o_next_ms.
static void
arm(rc_worker *w, rc_obj *o)
{
	if (o->o_heap != 0) {
		size_t i = o->o_heap - 1;
		heap_down(w, i);
		heap_up(w, i);
		return;
	}
	if (w->w_nheap == w->w_capheap) {
		size_t   ncap = w->w_capheap ? w->w_capheap * 2 : 256;
		rc_obj **nh   = realloc(w->w_heap, ncap * sizeof(*nh));
		if (nh == NULL) {
			return; // decided again at the next resync
		}
		w->w_heap    = nh;
		w->w_capheap = ncap;
	}
	w->w_heap[w->w_nheap] = o;
	o->o_heap             = (uint32_t) ++w->w_nheap;
	heap_up(w, w->w_nheap - 1);
}

static void
run_timers(rc_worker *w, int64_t now)
{
	while (w->w_nheap > 0 && w->w_heap[0]->o_next_ms <= now) {
		rc_obj *o = w->w_heap[0];
		heap_remove(w, o);
		mark_dirty(w, o);
	}
}

// ------------------------------------------------------------ requests

static bool on_watch_line(void *arg, const char *line, size_t len);
static void fetch(rc_worker *w, rc_obj *o);

static rc_req *
req_get(rc_worker *w, int kind)
{
	rc_req *q = w->w_free;
	if (q != NULL) {
		w->w_free = q->q_next;
		w->w_nfree--;
	} else if ((q = calloc(1, sizeof(*q))) == NULL) {
		return (NULL);
	}
	q->q_next     = NULL;
	q->q_prev     = NULL;
	q->q_w        = w;
	q->q_kind     = kind;
	q->q_obj      = NULL;
	q->q_want     = 0;
	q->q_resync   = false;
	q->q_kubefake = false;
	return (q);
}

static void
req_put(rc_worker *w, rc_req *q)
{
	if (w->w_nfree >= IDLE_REQUESTS) {
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
counted(const rc_req *q)
{
	return (q->q_kind == R_APPLY || q->q_kind == R_DELETE);
}

static int
req_start(rc_worker *w, rc_req *q)
{
	if (curl_multi_add_handle(w->w_c->c_multi, q->q_kr.kr_easy)
	    != CURLM_OK) {
		req_put(w, q);
		return (-1);
	}
	q->q_prev = NULL;
	q->q_next = w->w_active;
	if (w->w_active != NULL) {
		w->w_active->q_prev = q;
	}
	w->w_active = q;
	if (counted(q)) {
		w->w_inflight++;
	}
	return (0);
}

// req_detach takes q off the multi handle and the active list.
static void
req_detach(rc_worker *w, rc_req *q)
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

// cancel_all drops every transfer; objects whose request was dropped are
// decided again.
static void
cancel_all(rc_worker *w)
{
	while (w->w_active != NULL) {
		rc_req *q = w->w_active;
		req_detach(w, q);
		if (q->q_obj != NULL) {
			q->q_obj->o_flags &= ~O_INFLIGHT;
			mark_dirty(w, q->q_obj);
		}
		req_put(w, q);
	}
}

// Splits "ns/name" into the path of the Service.
static void
service_path(sf_buf *b, const char *key)
{
	const char *slash = strchr(key, '/');
	sf_buf_printf(b, "/api/v1/namespaces/%.*s/services/%s",
	    (int) (slash - key), key, slash + 1);
}

static uint32_t
timeout_ms(const rc_worker *w)
{
	return (w->w_r->r_opts.ro_request_timeout_ms);
}

// The apply body, built from the packed Service when it is sent (a
// body is five times the size of the packed Service it comes from, and
// only a few are needed at once). NULL when out of memory or undecodable.
static char *
make_body(rc_worker *w, const rc_obj *o)
{
	sf_service *svc;
	char       *body = NULL;

	if (o->o_pb == NULL) {
		return (NULL);
	}
	svc = svcfleet__v1__service__unpack(NULL, o->o_pblen, o->o_pb);
	if (svc != NULL
	    && sf_recon_body(svc, w->w_r->r_owner, &body, NULL) != 0) {
		body = NULL;
	}
	svcfleet__v1__service__free_unpacked(svc, NULL);
	return (body);
}

static void
start_apply(rc_worker *w, rc_obj *o)
{
	sf_buf  path = SF_BUF_INIT;
	rc_req *q;
	char   *body;

	if ((body = make_body(w, o)) == NULL) {
		// Undecodable or out of memory: read the Service again.
		free(o->o_pb);
		o->o_pb    = NULL;
		o->o_pblen = 0;
		fetch(w, o);
		return;
	}
	if ((q = req_get(w, R_APPLY)) == NULL) {
		free(body);
		return;
	}
	service_path(&path, o->o_key);
	sf_buf_puts(
	    &path, "?fieldManager=" SF_RECON_FIELD_MANAGER "&force=true");
	if (path.b_oom
	    || sf_kube_req_setup(&q->q_kr, w->w_cfg, "PATCH", path.b_data,
	           "application/apply-patch+yaml", body, timeout_ms(w))
	        != 0) {
		sf_buf_fini(&path);
		free(body);
		req_put(w, q);
		return;
	}
	sf_buf_fini(&path);
	free(body);
	q->q_obj  = o;
	q->q_want = o->o_want;
	if (req_start(w, q) == 0) {
		o->o_flags |= O_INFLIGHT;
		atomic_fetch_add(&w->w_r->r_applies, 1);
		SF_DEBUG("recon", "cluster=%s apply %s gen=%lld",
		    w->w_c->c_name, o->o_key, (long long) o->o_gen);
	}
}

static void
start_delete(rc_worker *w, rc_obj *o)
{
	sf_buf  path = SF_BUF_INIT;
	rc_req *q    = req_get(w, R_DELETE);
	char    body[160], uid[37];

	if (q == NULL) {
		return;
	}
	service_path(&path, o->o_key);
	body[0] = '\0';
	if (o->o_flags & O_HAS_UID) {
		// Only the object we saw: a same-name object made since by
		// someone else is not ours to delete.
		sf_recon_uid_format(o->o_uid, uid);
		snprintf(body, sizeof(body),
		    "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\","
		    "\"preconditions\":{\"uid\":\"%s\"}}",
		    uid);
	}
	if (path.b_oom
	    || sf_kube_req_setup(&q->q_kr, w->w_cfg, "DELETE", path.b_data,
	           body[0] ? "application/json" : NULL, body[0] ? body : NULL,
	           timeout_ms(w))
	        != 0) {
		sf_buf_fini(&path);
		req_put(w, q);
		return;
	}
	sf_buf_fini(&path);
	q->q_obj = o;
	if (req_start(w, q) == 0) {
		o->o_flags |= O_INFLIGHT;
		atomic_fetch_add(&w->w_r->r_deletes, 1);
		SF_INFO("recon", "cluster=%s delete %s (%s)", w->w_c->c_name,
		    o->o_key,
		    (o->o_flags & D_PRESENT) ? "deleted in svcfleet"
		                             : "garbage: no longer stored");
	}
}

static void
start_get(rc_worker *w, int kind, const char *path, rc_req **slot)
{
	rc_req *q = req_get(w, kind);
	if (q == NULL) {
		return;
	}
	if (sf_kube_req_setup(
	        &q->q_kr, w->w_cfg, "GET", path, NULL, NULL, timeout_ms(w))
	    != 0) {
		req_put(w, q);
		return;
	}
	if (req_start(w, q) == 0) {
		*slot = q;
	}
}

static void
start_list(rc_worker *w, bool resync)
{
	sf_buf path = SF_BUF_INIT;
	sf_buf_printf(&path, "/api/v1/services?limit=%d", LIST_PAGE);
	if (w->w_continue != NULL) {
		sf_buf_puts(&path, "&continue=");
		sf_kube_query_escape(&path, w->w_continue);
	} else {
		// A new list: observations from now on belong to it.
		w->w_list_epoch++;
	}
	if (!path.b_oom) {
		start_get(w, R_LIST, path.b_data, &w->w_list);
		if (w->w_list != NULL) {
			w->w_list->q_resync = resync;
		}
	}
	sf_buf_fini(&path);
}

static void
start_watch(rc_worker *w)
{
	sf_buf  path = SF_BUF_INIT;
	rc_req *q    = req_get(w, R_WATCH);

	if (q == NULL) {
		return;
	}
	sf_buf_printf(&path,
	    "/api/v1/services?watch=1&allowWatchBookmarks=true"
	    "&timeoutSeconds=%d&resourceVersion=",
	    WATCH_TIMEOUT_S);
	sf_kube_query_escape(&path, w->w_rv);
	// No total timeout: the server ends the watch after timeoutSeconds;
	// this is only the backstop for a server that never does.
	if (path.b_oom
	    || sf_kube_req_setup(&q->q_kr, w->w_cfg, "GET", path.b_data, NULL,
	           NULL, (WATCH_TIMEOUT_S + 60) * 1000L)
	        != 0) {
		sf_buf_fini(&path);
		req_put(w, q);
		return;
	}
	sf_buf_fini(&path);
	q->q_kr.kr_line_fn  = on_watch_line;
	q->q_kr.kr_line_arg = q;
	if (req_start(w, q) == 0) {
		w->w_watch = q;
	}
}

// ------------------------------------------------------------ health

static void
health_set(rc_worker *w, int state, const char *msg)
{
	w->w_health = state;
	// Shorter than the message: cut as a line of UTF-8 for svcfleetd.
	sf_kube_one_line(
	    w->w_health_msg, sizeof(w->w_health_msg), msg != NULL ? msg : "");
}

static void
health_maybe_report(rc_worker *w, int64_t now)
{
	uint64_t h = SF_HASH_INIT;
	rc_job  *j;

	if (w->w_health == 0) {
		return;
	}
	h = sf_hash_u64(h, (uint64_t) w->w_health);
	h = sf_hash_str(h, w->w_health_msg);
	h = sf_hash_str(h, w->w_version);
	h = sf_hash_u64(h, w->w_pools_known);
	h = sf_hash_str(h, w->w_pools_json);
	if (h == w->w_health_sent
	    && now - w->w_health_sent_at < HEALTH_REFRESH_MS) {
		return;
	}
	if ((j = calloc(1, sizeof(*j) + 1)) == NULL) {
		return;
	}
	j->j_kind       = J_HEALTH;
	j->j_cluster    = strdup(w->w_c->c_name);
	j->j_health     = w->w_health;
	j->j_msg        = strdup(w->w_health_msg);
	j->j_version    = strdup(w->w_version);
	j->j_contact_ms = w->w_contact_ms;
	j->j_pools      = w->w_pools_known && w->w_pools_json
	         ? strdup(w->w_pools_json)
	         : NULL;
	if (j->j_cluster == NULL || j->j_msg == NULL || j->j_version == NULL) {
		rc_job_free(j);
		return;
	}
	w->w_health_sent    = h;
	w->w_health_sent_at = now;
	rc_submit(w->w_r, j);
}

// ------------------------------------------------------------ objects

static bool
in_sync(const rc_obj *o)
{
	return ((o->o_flags & O_EXISTS) && o->o_have != 0 && o->o_want != 0
	    && (o->o_have == o->o_want
	        || (o->o_alias != 0
	            && (o->o_have ^ o->o_want) == o->o_alias)));
}

static bool
wants_drift_watch(const rc_obj *o)
{
	return ((o->o_flags & D_PRESENT) && !(o->o_flags & D_DELETING)
	    && o->o_drift_ms == 0 && !(o->o_flags & O_INFLIGHT));
}

// observe takes in a Service the cluster sent (a list item, a watch
// event's object or an apply's answer).
static void
observe(rc_worker *w, const json_t *obj, int64_t now)
{
	sf_kube_meta m;
	sf_recon_obs ob;
	rc_obj      *o;
	bool         before;
	uint64_t     rv;

	sf_kube_meta_read(obj, &m);
	if (!m.km_has_key) {
		return;
	}
	if ((o = rc_objtab_add(&w->w_objs, m.km_key)) == NULL) {
		return;
	}
	o->o_seen = w->w_list_epoch;
	rv        = m.km_rv_num;
	if (rv != 0 && rv <= o->o_rv && (o->o_flags & O_EXISTS)) {
		// Not newer than what we know (a list page behind the watch,
		// or the watch echoing our own apply): nothing to compute.
		return;
	}
	if (sf_recon_observe(obj, w->w_r->r_owner, w->w_c->c_name, &ob) != 0) {
		sf_recon_obs_fini(&ob);
		return;
	}
	before = in_sync(o);
	if ((o->o_flags & O_HAS_UID) && ob.ob_has_uid
	    && memcmp(o->o_uid, ob.ob_uid, sizeof(o->o_uid)) != 0) {
		// Another object of that name (deleted and made again while
		// we did not watch): not the one we applied.
		o->o_flags &= ~O_APPLIED;
	}
	o->o_rv = rv;
	o->o_flags |= O_EXISTS;
	o->o_flags &= ~(O_OWNED | O_OBS_LB | O_INGRESS | O_HAS_UID);
	o->o_flags |= (ob.ob_owned ? O_OWNED : 0) | (ob.ob_lb ? O_OBS_LB : 0)
	    | (ob.ob_has_ingress ? O_INGRESS : 0)
	    | (ob.ob_has_uid ? O_HAS_UID : 0);
	memcpy(o->o_uid, ob.ob_uid, sizeof(o->o_uid));
	o->o_have    = ob.ob_hash;
	o->o_obs_gen = ob.ob_gen;
	free(o->o_facts);
	o->o_facts  = ob.ob_facts;
	ob.ob_facts = NULL;
	if (before && !in_sync(o) && wants_drift_watch(o)) {
		o->o_drift_ms = now;
		SF_INFO("recon",
		    "cluster=%s drift on %s: changed in the cluster",
		    w->w_c->c_name, o->o_key);
	}
	mark_dirty(w, o);
	sf_recon_obs_fini(&ob);
}

static void
gone(rc_worker *w, rc_obj *o, uint64_t rv, int64_t now)
{
	bool before = in_sync(o);
	// What we applied is gone: a same-name object made later by someone
	// else is not ours.
	o->o_flags &= ~(
	    O_EXISTS | O_OWNED | O_OBS_LB | O_INGRESS | O_HAS_UID | O_APPLIED);
	o->o_have = 0;
	free(o->o_facts);
	o->o_facts = NULL;
	if (rv != 0) {
		o->o_rv = rv;
	}
	if (before && wants_drift_watch(o)) {
		o->o_drift_ms = now;
		SF_INFO("recon",
		    "cluster=%s drift on %s: deleted in the cluster",
		    w->w_c->c_name, o->o_key);
	}
	mark_dirty(w, o);
}

static void
report(rc_worker *w, rc_obj *o, int state, int64_t gen, const char *msg,
    const char *facts, bool add_fin, bool remove_fin)
{
	size_t   klen = strlen(o->o_key);
	uint64_t h;
	rc_job  *j;

	if (!(o->o_flags & D_PRESENT)) {
		return;
	}
	msg   = msg != NULL ? msg : "";
	facts = facts != NULL ? facts : "||";
	h     = sf_recon_status_hash(state, gen, msg, facts);
	if (!add_fin && !remove_fin
	    && (h == o->o_reported || h == o->o_stored)) {
		return;
	}
	if (o->o_flags & O_REPORTING) {
		return; // decided again when the report in flight finishes
	}
	if ((j = calloc(1, sizeof(*j) + klen + 1)) == NULL) {
		return;
	}
	memcpy(j->j_key, o->o_key, klen + 1);
	j->j_kind       = J_STATUS;
	j->j_cluster    = strdup(w->w_c->c_name);
	j->j_hash       = h;
	j->j_state      = state;
	j->j_gen        = gen;
	j->j_msg        = strdup(msg);
	j->j_facts      = strdup(facts);
	j->j_add_fin    = add_fin;
	j->j_remove_fin = remove_fin;
	if (j->j_cluster == NULL || j->j_msg == NULL || j->j_facts == NULL) {
		rc_job_free(j);
		return;
	}
	o->o_flags |= O_REPORTING;
	o->o_reported = h;
	rc_submit(w->w_r, j);
}

static void
fetch(rc_worker *w, rc_obj *o)
{
	size_t  klen = strlen(o->o_key);
	rc_job *j;

	if (o->o_flags & O_FETCHING) {
		return;
	}
	if ((j = calloc(1, sizeof(*j) + klen + 1)) == NULL) {
		return;
	}
	memcpy(j->j_key, o->o_key, klen + 1);
	j->j_kind    = J_FETCH;
	j->j_cluster = strdup(w->w_c->c_name);
	if (j->j_cluster == NULL) {
		rc_job_free(j);
		return;
	}
	o->o_flags |= O_FETCHING;
	rc_submit(w->w_r, j);
}

// slot_ok is true when a request may start now; otherwise o waits for
// one.
static bool
slot_ok(rc_worker *w, rc_obj *o)
{
	if (w->w_inflight < w->w_r->r_opts.ro_max_inflight) {
		return (true);
	}
	push_wait(w, o);
	return (false);
}

static bool
backoff_ok(rc_worker *w, rc_obj *o, int64_t now)
{
	if (now < o->o_next_ms) {
		arm(w, o);
		return (false);
	}
	return (true);
}

static void
down_message(const rc_worker *w, char *buf, size_t cap)
{
	char tmp[sizeof(w->w_health_msg) + 200];
	snprintf(tmp, sizeof(tmp), "cluster \"%s\" is %s: %s", w->w_c->c_name,
	    w->w_health
	            == SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED
	        ? "refusing svcfleet's credentials"
	        : "unreachable",
	    w->w_health_msg);
	sf_kube_one_line(buf, cap, tmp);
}

enum {
	ST_SYNCED   = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED,
	ST_ERROR    = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_ERROR,
	ST_DELETING = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DELETING,
	ST_WAITING  = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_WAITING_ADDRESS,
};

// decide looks at one object and does what it needs: nothing, a report,
// an apply, a delete, a body fetch, or forgetting it.
static void
decide(rc_worker *w, rc_obj *o, int64_t now)
{
	uint32_t f    = o->o_flags;
	bool     ours = (f & (O_OWNED | O_APPLIED)) != 0;
	int64_t  gen  = (f & O_OWNED) ? o->o_obs_gen : 0;
	char     msg[512];

	if ((f & O_INFLIGHT) || (w->w_conn != C_UP && w->w_conn != C_DOWN)) {
		// In flight: decided when it finishes. Not listed yet: every
		// object is decided once the first list is complete.
		return;
	}
	if (!(f & D_PRESENT)) {
		if (f & O_REPORTING) {
			return;
		}
		if ((f & O_EXISTS) && (f & O_OWNED)) {
			// Ours in the cluster, not in the store: garbage, once
			// the store's whole list has been seen.
			if (w->w_desired_done && w->w_conn == C_UP
			    && backoff_ok(w, o, now) && slot_ok(w, o)) {
				start_delete(w, o);
			}
			return;
		}
		if (!(f & O_EXISTS) && !(f & O_FETCHING)) {
			heap_remove(w, o);
			rc_objtab_del(&w->w_objs, o);
		}
		return;
	}
	if (f & D_DELETING) {
		if ((f & O_EXISTS) && ours) {
			if (w->w_conn == C_DOWN) {
				down_message(w, msg, sizeof(msg));
				report(w, o, ST_ERROR, gen, msg, o->o_facts,
				    false, false);
				return;
			}
			if (o->o_msg != NULL) {
				report(w, o, ST_ERROR, gen, o->o_msg,
				    o->o_facts, false, false);
			}
			if (backoff_ok(w, o, now) && slot_ok(w, o)) {
				start_delete(w, o);
			}
			return;
		}
		// Gone from the cluster (or never ours there): the store may
		// let the Service go.
		if (!(f & O_UNFIN_SENT)) {
			report(w, o, ST_DELETING, gen, "", NULL, false,
			    (f & D_HAS_FIN) != 0);
		}
		return;
	}
	if ((f & O_EXISTS) && !ours && !(f & D_ADOPT)) {
		report(w, o, ST_ERROR, 0, MSG_UNOWNED, NULL, false, false);
		return;
	}
	if (in_sync(o)) {
		int state
		    = (f & D_LB) && !(f & O_INGRESS) ? ST_WAITING : ST_SYNCED;
		free(o->o_pb);
		o->o_pb    = NULL;
		o->o_pblen = 0;
		free(o->o_msg);
		o->o_msg      = NULL;
		o->o_attempts = 0;
		o->o_flags &= ~O_PERM;
		if (o->o_drift_ms != 0) {
			rc_heal_record(w->w_r, now - o->o_drift_ms);
			SF_INFO("recon", "cluster=%s healed %s in %lld ms",
			    w->w_c->c_name, o->o_key,
			    (long long) (now - o->o_drift_ms));
			o->o_drift_ms = 0;
		}
		report(w, o, state, o->o_gen, "", o->o_facts,
		    !(f & D_HAS_FIN) && !(f & O_FIN_SENT), false);
		return;
	}
	if (f & O_PERM) {
		// The cluster rejected this spec; only a new spec is retried.
		report(
		    w, o, ST_ERROR, gen, o->o_msg, o->o_facts, false, false);
		return;
	}
	if (w->w_conn == C_DOWN) {
		down_message(w, msg, sizeof(msg));
		report(w, o, ST_ERROR, gen, msg, o->o_facts, false, false);
		return;
	}
	if (o->o_msg != NULL) {
		report(
		    w, o, ST_ERROR, gen, o->o_msg, o->o_facts, false, false);
	}
	if (!backoff_ok(w, o, now)) {
		return;
	}
	if (now < w->w_paused_until) {
		o->o_next_ms = w->w_paused_until;
		arm(w, o);
		return;
	}
	if (o->o_pb == NULL) {
		fetch(w, o);
		return;
	}
	if (slot_ok(w, o)) {
		start_apply(w, o);
	}
}

// retry_later counts a failure of o and schedules the next try.
static void
retry_later(rc_worker *w, rc_obj *o, const char *msg, int64_t now)
{
	const sf_reconciler_opts *ro = &w->w_r->r_opts;
	if (o->o_attempts < 1000) {
		o->o_attempts++;
	}
	o->o_next_ms = now
	    + backoff_ms(
	        o->o_attempts, ro->ro_backoff_min_ms, ro->ro_backoff_max_ms);
	set_str(&o->o_msg, msg);
}

static void
go_down(rc_worker *w, int health, const char *msg, int64_t now)
{
	const char *what = health
	        == SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED
	    ? "refuses our credentials"
	    : "is unreachable";
	if (w->w_conn != C_DOWN) {
		SF_WARN(
		    "recon", "cluster=%s %s: %s", w->w_c->c_name, what, msg);
	}
	cancel_all(w);
	free(w->w_continue);
	w->w_continue = NULL;
	w->w_conn     = C_DOWN;
	if (w->w_down_attempts < 100) {
		w->w_down_attempts++;
	}
	w->w_retry_at = now
	    + backoff_ms(
	        w->w_down_attempts, DOWN_BACKOFF_MIN, DOWN_BACKOFF_MAX);
	w->w_failures = 0;
	health_set(w, health, msg);
	mark_all_dirty(w);
}

// A request failed without an object to blame (or with one): decide
// whether the cluster as a whole is down.
static bool
cluster_failure(rc_worker *w, int cls, CURLcode cc, long code, const char *msg,
    int64_t now)
{
	if (cls == SF_KUBE_UNAUTHORIZED && code == 401) {
		go_down(w,
		    SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED,
		    msg, now);
		return (true);
	}
	if (cls == SF_KUBE_TRANSPORT) {
		w->w_failures++;
		if (cc == CURLE_COULDNT_CONNECT
		    || cc == CURLE_COULDNT_RESOLVE_HOST
		    || w->w_failures >= TRANSPORT_FAILURES) {
			go_down(w,
			    SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNREACHABLE,
			    msg, now);
			return (true);
		}
	}
	return (false);
}

// ------------------------------------------------------------ completions

static uint64_t
echo_hash(const char *p, size_t n)
{
	uint64_t h;

	while (n > 0
	    && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ')) {
		n--;
	}
	h = sf_hash_bytes(SF_HASH_INIT, p, n);
	return (h != 0 ? h : 1);
}

// echo_put remembers an object just parsed and observed (h: the hash of
// its bytes, rv: its resourceVersion, may be NULL).
static void
echo_put(rc_worker *w, uint64_t h, const char *rv)
{
	struct rc_echo *e;

	if (w->w_echo == NULL
	    && (w->w_echo = calloc(ECHO_SLOTS, sizeof(*w->w_echo))) == NULL) {
		return;
	}
	e = &w->w_echo[h % ECHO_SLOTS];
	if (rv == NULL || strlen(rv) >= sizeof(e->e_rv)) {
		e->e_hash = 0;
		return;
	}
	e->e_hash = h;
	snprintf(e->e_rv, sizeof(e->e_rv), "%s", rv);
}

// echo_take tells whether the object whose bytes hash to h was parsed
// and observed already (the slot is freed: a third copy is parsed);
// rv, when not NULL, gets its resourceVersion.
static bool
echo_take(rc_worker *w, uint64_t h, char *rv, size_t cap)
{
	struct rc_echo *e;

	if (w->w_echo == NULL
	    || (e = &w->w_echo[h % ECHO_SLOTS])->e_hash != h) {
		return (false);
	}
	e->e_hash = 0;
	if (rv != NULL) {
		snprintf(rv, cap, "%s", e->e_rv);
	}
	atomic_fetch_add(&w->w_r->r_echoes, 1);
	return (true);
}

// watch_object finds the object of an ADDED or MODIFIED watch line
// without parsing it; false for any other line.
static bool
watch_object(const char *line, size_t len, const char **p, size_t *n)
{
	static const char *const pre[] = {"{\"type\":\"MODIFIED\",\"object\":",
	    "{\"type\":\"ADDED\",\"object\":"};

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ')) {
		len--;
	}
	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++) {
		size_t k = strlen(pre[i]);
		if (len > k + 1 && memcmp(line, pre[i], k) == 0
		    && line[len - 1] == '}') {
			*p = line + k;
			*n = len - k - 1;
			return (true);
		}
	}
	return (false);
}

static void
apply_done(rc_worker *w, rc_req *q, int cls, CURLcode cc, const char *msg,
    int64_t now)
{
	rc_obj *o = q->q_obj;

	o->o_flags &= ~O_INFLIGHT;
	mark_dirty(w, o);
	switch (cls) {
	case SF_KUBE_OK: {
		uint64_t h
		    = echo_hash(q->q_kr.kr_body.b_data, q->q_kr.kr_body.b_len);
		bool    seen = echo_take(w, h, NULL, 0);
		json_t *obj  = NULL;
		if (!seen
		    && (obj = sf_kube_json_parse(
		            q->q_kr.kr_body.b_data, q->q_kr.kr_body.b_len))
		        != NULL) {
			// The answer is the object as stored: as good as a
			// watch event, and often earlier.
			observe(w, obj, now);
			echo_put(w, h,
			    json_string_value(json_object_get(
			        json_object_get(obj, "metadata"),
			        "resourceVersion")));
			json_decref(obj);
		}
		if ((seen || obj != NULL) && q->q_want == o->o_want) {
			o->o_alias = o->o_have != o->o_want
			    ? o->o_have ^ o->o_want
			    : 0;
		}
		o->o_flags |= O_APPLIED;
		o->o_flags &= ~O_PERM;
		o->o_attempts = 0;
		free(o->o_msg);
		o->o_msg = NULL;
		return;
	}
	case SF_KUBE_INVALID:
		atomic_fetch_add(&w->w_r->r_apply_errors, 1);
		// The cluster refuses this spec: an error until it changes.
		if (q->q_want == o->o_want) {
			o->o_flags |= O_PERM;
		}
		set_str(&o->o_msg, msg);
		SF_WARN("recon", "cluster=%s rejected %s: %s", w->w_c->c_name,
		    o->o_key, msg);
		return;
	case SF_KUBE_THROTTLED: {
		int s
		    = q->q_kr.kr_retry_after >= 0 ? q->q_kr.kr_retry_after : 1;
		if (now + s * 1000L > w->w_paused_until) {
			w->w_paused_until = now + s * 1000L;
		}
		o->o_next_ms = w->w_paused_until;
		return;
	}
	default:
		atomic_fetch_add(&w->w_r->r_apply_errors, 1);
		if (cluster_failure(w, cls, cc, q->q_kr.kr_code, msg, now)) {
			return;
		}
		retry_later(w, o, msg, now);
		return;
	}
}

static void
delete_done(rc_worker *w, rc_req *q, int cls, CURLcode cc, const char *msg,
    int64_t now)
{
	rc_obj *o = q->q_obj;

	o->o_flags &= ~O_INFLIGHT;
	mark_dirty(w, o);
	switch (cls) {
	case SF_KUBE_OK:
	case SF_KUBE_NOT_FOUND:
		// 404 counts: it is gone either way.
		gone(w, o, 0, now);
		o->o_attempts = 0;
		free(o->o_msg);
		o->o_msg = NULL;
		return;
	case SF_KUBE_CONFLICT:
		// The uid precondition failed: another object of that name
		// stands there now; the watch tells us what it is.
		retry_later(w, o, msg, now);
		return;
	case SF_KUBE_THROTTLED: {
		int s
		    = q->q_kr.kr_retry_after >= 0 ? q->q_kr.kr_retry_after : 1;
		w->w_paused_until = now + s * 1000L;
		o->o_next_ms      = w->w_paused_until;
		return;
	}
	default:
		if (!cluster_failure(w, cls, cc, q->q_kr.kr_code, msg, now)) {
			retry_later(w, o, msg, now);
		}
		return;
	}
}

static void
sweep(rc_worker *w, int64_t now)
{
	rc_obj *o;
	size_t  i = 0;
	while ((o = rc_objtab_next(&w->w_objs, &i)) != NULL) {
		if ((o->o_flags & O_EXISTS) && o->o_seen != w->w_list_epoch) {
			gone(w, o, 0, now);
		}
	}
}

static void
list_done(rc_worker *w, rc_req *q, int cls, CURLcode cc, const char *msg,
    int64_t now)
{
	const sf_reconciler_opts *ro     = &w->w_r->r_opts;
	bool                      resync = q->q_resync;
	sf_kube_list              page;

	if (cls == SF_KUBE_OK
	    && sf_kube_list_parse(
	           &page, q->q_kr.kr_body.b_data, q->q_kr.kr_body.b_len)
	        != 0) {
		// Not a list: taken as an empty one it would say that every
		// Service is gone from the cluster.
		sf_kube_list_fini(&page);
		cls = SF_KUBE_SERVER;
		msg = "the cluster answered a list of Services with something "
		      "else";
	}
	if (cls != SF_KUBE_OK) {
		free(w->w_continue);
		w->w_continue = NULL;
		if (cls == SF_KUBE_GONE) {
			// The continue token expired: list again from the top.
			start_list(w, resync);
			return;
		}
		if (!resync) {
			go_down(w,
			    cls == SF_KUBE_UNAUTHORIZED
			        ? SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED
			        : SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNREACHABLE,
			    msg, now);
			return;
		}
		if (!cluster_failure(w, cls, cc, q->q_kr.kr_code, msg, now)) {
			w->w_next_resync = now + 10000;
		}
		return;
	}
	for (size_t i = 0; i < json_array_size(page.li_items); i++) {
		observe(w, json_array_get(page.li_items, i), now);
	}
	if (w->w_continue == NULL && !resync) {
		// The first page's version: the watch starts there. Without
		// one, it starts from the current state (not from a version
		// kept from before, perhaps the expired one that got us here).
		snprintf(w->w_rv, sizeof(w->w_rv), "%s",
		    page.li_rv != NULL ? page.li_rv : "");
	}
	free(w->w_continue);
	w->w_continue = page.li_continue != NULL && page.li_continue[0] != '\0'
	    ? strdup(page.li_continue)
	    : NULL;
	sf_kube_list_fini(&page);
	if (w->w_continue != NULL) {
		start_list(w, resync);
		return;
	}
	sweep(w, now);
	w->w_next_resync = now + ro->ro_resync_ms;
#ifdef __GLIBC__
	// A list leaves its pages' JSON trees freed in this thread's
	// malloc arena; give those pages back to the system.
	malloc_trim(0);
#endif
	if (!resync) {
		// Listed after a (re)connection: everything is decided anew,
		// without the backoff the outage caused.
		rc_obj *o;
		size_t  i = 0;
		while ((o = rc_objtab_next(&w->w_objs, &i)) != NULL) {
			o->o_next_ms = 0;
			o->o_attempts
			    = (o->o_flags & O_PERM) ? o->o_attempts : 0;
			heap_remove(w, o);
		}
		if (w->w_conn != C_UP) {
			SF_INFO("recon",
			    "cluster=%s listed %zu services (%s), watching",
			    w->w_c->c_name, w->w_objs.t_n, w->w_version);
		}
		w->w_conn          = C_UP;
		w->w_down_attempts = 0;
		w->w_watch_at      = now;
		health_set(w,
		    SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_READY,
		    "");
		if (w->w_pools == NULL) {
			start_get(w, R_POOLS,
			    "/apis/metallb.io/v1beta1/ipaddresspools",
			    &w->w_pools);
		}
	}
	mark_all_dirty(w);
}

static void
watch_done(rc_worker *w, rc_req *q, int cls, CURLcode cc, const char *msg,
    int64_t now)
{
	if (w->w_relist) {
		// 410 Expired: the watch cannot resume; list, then watch
		// from the list's version.
		w->w_relist = false;
		if (w->w_list == NULL) {
			w->w_conn = C_LISTING;
			start_list(w, false);
		}
		return;
	}
	if (cls == SF_KUBE_OK) {
		w->w_watch_at = now; // ended by the server: resume now
		return;
	}
	if (cls == SF_KUBE_GONE) {
		w->w_conn = C_LISTING;
		start_list(w, false);
		return;
	}
	if (cls == SF_KUBE_THROTTLED) {
		int s
		    = q->q_kr.kr_retry_after >= 0 ? q->q_kr.kr_retry_after : 1;
		w->w_watch_at = now + s * 1000L;
		return;
	}
	if (!cluster_failure(w, cls, cc, q->q_kr.kr_code, msg, now)) {
		w->w_watch_at = now + 1000;
	}
}

static void
version_done(rc_worker *w, rc_req *q, int cls, const char *msg, int64_t now)
{
	if (cls != SF_KUBE_OK) {
		go_down(w,
		    cls == SF_KUBE_UNAUTHORIZED
		        ? SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED
		        : SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNREACHABLE,
		    msg, now);
		return;
	}
	// An unreadable answer leaves the version empty; the list decides.
	sf_kube_version_parse(q->q_kr.kr_body.b_data, q->q_kr.kr_body.b_len,
	    w->w_version, sizeof(w->w_version));
	free(w->w_continue);
	w->w_continue = NULL;
	w->w_conn     = C_LISTING;
	start_list(w, false);
}

static void
pools_done(rc_worker *w, rc_req *q, int cls, int64_t now)
{
	json_t *pools;
	char   *s;

	(void) now;
	if (cls == SF_KUBE_NOT_FOUND && !q->q_kubefake) {
		// No MetalLB API: perhaps kubefake's simulation.
		start_get(w, R_POOLS, "/_kubefake/metallb/pools", &w->w_pools);
		if (w->w_pools != NULL) {
			w->w_pools->q_kubefake = true;
		}
		return;
	}
	if (cls == SF_KUBE_NOT_FOUND) {
		w->w_pools_known = false;
		free(w->w_pools_json);
		w->w_pools_json = NULL;
		return;
	}
	if (cls != SF_KUBE_OK
	    || sf_kube_pools_parse(q->q_kr.kr_body.b_data,
	           q->q_kr.kr_body.b_len, q->q_kubefake, &pools)
	        != 0) {
		return; // keep what we knew; tried again at the next resync
	}
	s = json_dumps(pools, JSON_COMPACT);
	json_decref(pools);
	if (s != NULL) {
		free(w->w_pools_json);
		w->w_pools_json  = s;
		w->w_pools_known = true;
	}
}

static void
process_done(rc_worker *w)
{
	CURLMsg *m;
	int      left;

	while ((m = curl_multi_info_read(w->w_c->c_multi, &left)) != NULL) {
		rc_req  *q = NULL;
		CURLcode cc;
		char     msg[512];
		int      cls;
		int64_t  now = sf_clock_mono_ms();

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
		if (cls != SF_KUBE_TRANSPORT) {
			w->w_failures   = 0;
			w->w_contact_ms = sf_clock_now_ms();
		}
		switch (q->q_kind) {
		case R_APPLY:
			apply_done(w, q, cls, cc, msg, now);
			break;
		case R_DELETE:
			delete_done(w, q, cls, cc, msg, now);
			break;
		case R_LIST:
			list_done(w, q, cls, cc, msg, now);
			break;
		case R_WATCH:
			watch_done(w, q, cls, cc, msg, now);
			break;
		case R_VERSION:
			version_done(w, q, cls, msg, now);
			break;
		case R_POOLS:
			pools_done(w, q, cls, now);
			break;
		}
		req_put(w, q);
	}
}

// ------------------------------------------------------------ the watch

static bool
on_watch_line(void *arg, const char *line, size_t len)
{
	rc_req       *q   = arg;
	rc_worker    *w   = q->q_w;
	int64_t       now = sf_clock_mono_ms();
	sf_kube_event ev;
	rc_obj       *o;
	const char   *rv;
	const char   *op;
	size_t        on;
	uint64_t      h = 0;

	if (watch_object(line, len, &op, &on)) {
		char erv[sizeof(w->w_rv)];
		h = echo_hash(op, on);
		if (echo_take(w, h, erv, sizeof(erv))) {
			// An object parsed already, from an apply's answer.
			w->w_contact_ms = sf_clock_now_ms();
			if (erv[0] != '\0') {
				snprintf(w->w_rv, sizeof(w->w_rv), "%s", erv);
			}
			return (true);
		}
	}
	if (sf_kube_event_parse(&ev, line, len) != 0) {
		sf_kube_event_fini(&ev);
		return (true); // not a JSON line: skip it
	}
	w->w_contact_ms = sf_clock_now_ms();
	rv              = ev.ev_meta.km_rv;
	switch (ev.ev_type) {
	case SF_KUBE_EV_NONE:
		break;
	case SF_KUBE_EV_ERROR:
		SF_INFO("recon", "cluster=%s watch error %lld: %s",
		    w->w_c->c_name, (long long) ev.ev_code,
		    ev.ev_message != NULL ? ev.ev_message : "");
		w->w_relist = ev.ev_code == 410;
		sf_kube_event_fini(&ev);
		return (false);
	default:
		if (rv != NULL && rv[0] != '\0') {
			snprintf(w->w_rv, sizeof(w->w_rv), "%s", rv);
		}
		if (ev.ev_type == SF_KUBE_EV_ADDED
		    || ev.ev_type == SF_KUBE_EV_MODIFIED) {
			observe(w, ev.ev_object, now);
			if (h != 0) {
				echo_put(w, h, rv);
			}
		} else if (ev.ev_type == SF_KUBE_EV_DELETED
		    && ev.ev_meta.km_has_key
		    && (o = rc_objtab_get(&w->w_objs, ev.ev_meta.km_key))
		        != NULL) {
			gone(w, o, ev.ev_meta.km_rv_num, now);
		}
		break;
	}
	sf_kube_event_fini(&ev);
	return (true);
}

// ------------------------------------------------------------ inbox

// keep_pb takes the packed Service out of m.
static void
keep_pb(rc_obj *o, rc_msg *m)
{
	free(o->o_pb);
	o->o_pb    = m->m_pb;
	o->o_pblen = (uint32_t) m->m_pblen;
	m->m_pb    = NULL;
}

// digest computes the desired hash of the Service in m and keeps the
// packed Service (taken from m) for applying.
static void
digest(rc_worker *w, rc_obj *o, rc_msg *m)
{
	sf_service *svc;
	uint64_t    want = 0;

	svc = svcfleet__v1__service__unpack(NULL, m->m_pblen, m->m_pb);
	if (svc == NULL
	    || sf_recon_body(svc, w->w_r->r_owner, NULL, &want) != 0) {
		// Out of memory: decided again at the next change or resync.
		svcfleet__v1__service__free_unpacked(svc, NULL);
		return;
	}
	svcfleet__v1__service__free_unpacked(svc, NULL);
	if (o->o_want != want) {
		// A new spec: retried at once whatever failed before.
		o->o_attempts = 0;
		o->o_next_ms  = 0;
		o->o_alias    = 0;
		o->o_flags &= ~O_PERM;
	}
	o->o_want  = want;
	o->o_input = m->m_input;
	keep_pb(o, m);
}

static void
on_desired(rc_worker *w, rc_msg *m)
{
	rc_obj *o;

	if (!(m->m_flags & D_PRESENT)) {
		if ((o = rc_objtab_get(&w->w_objs, m->m_key)) == NULL) {
			return;
		}
		o->o_flags &= ~(uint32_t) (D_MASK | O_FETCHING);
		o->o_want  = 0;
		o->o_input = 0;
		free(o->o_pb);
		o->o_pb    = NULL;
		o->o_pblen = 0;
		mark_dirty(w, o);
		return;
	}
	if ((o = rc_objtab_add(&w->w_objs, m->m_key)) == NULL) {
		return;
	}
	if (m->m_epoch != 0) {
		o->o_epoch = m->m_epoch;
	}
	o->o_gen    = m->m_gen;
	o->o_stored = m->m_stored;
	o->o_flags  = (o->o_flags & ~(uint32_t) (D_MASK | O_FETCHING))
	    | (m->m_flags & D_MASK);
	// Most updates are echoes of our own status reports: the same
	// metadata and spec, nothing to compute. A changed input is
	// digested; an unchanged one is kept when it may have to be applied.
	if (o->o_input != m->m_input || o->o_want == 0) {
		digest(w, o, m);
	} else if (o->o_pb == NULL && !in_sync(o)) {
		keep_pb(o, m);
	}
	mark_dirty(w, o);
}

static void
on_list_done_msg(rc_worker *w, uint32_t epoch)
{
	rc_obj *o;
	size_t  i = 0;

	w->w_desired_epoch = epoch;
	w->w_desired_done  = true;
	while ((o = rc_objtab_next(&w->w_objs, &i)) != NULL) {
		if ((o->o_flags & D_PRESENT) && o->o_epoch < epoch) {
			// Deleted from the store while the watcher could not
			// follow the change feed.
			o->o_flags &= ~(uint32_t) D_MASK;
			o->o_want  = 0;
			o->o_input = 0;
			free(o->o_pb);
			o->o_pb    = NULL;
			o->o_pblen = 0;
		}
		mark_dirty(w, o);
	}
}

static void
on_reported(rc_worker *w, rc_msg *m, int64_t now)
{
	rc_obj *o = rc_objtab_get(&w->w_objs, m->m_key);
	if (o == NULL) {
		return;
	}
	o->o_flags &= ~O_REPORTING;
	if (m->m_ok) {
		o->o_flags |= (m->m_flags & 1) ? O_FIN_SENT : 0;
		o->o_flags |= (m->m_flags & 2) ? O_UNFIN_SENT : 0;
		mark_dirty(w, o);
		return;
	}
	// Try again in a while (the server may be restarting).
	o->o_reported = 0;
	if (o->o_next_ms < now + 1000) {
		o->o_next_ms = now + 1000;
	}
	arm(w, o);
}

static bool
take_inbox(rc_worker *w)
{
	rc_cluster *c = w->w_c;
	rc_msg     *m, *next;
	bool        stop;
	int64_t     now = sf_clock_mono_ms();

	pthread_mutex_lock(&c->c_mtx);
	m            = c->c_in_head;
	c->c_in_head = c->c_in_tail = NULL;
	stop                        = c->c_stop;
	pthread_mutex_unlock(&c->c_mtx);
	for (; m != NULL; m = next) {
		next = m->m_next;
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
		case M_FETCHED: {
			rc_obj *o = rc_objtab_get(&w->w_objs, m->m_key);
			if (o != NULL) {
				o->o_flags &= ~O_FETCHING;
				o->o_next_ms = now + 1000;
				arm(w, o);
			}
			break;
		}
		case M_CONFIG:
			cancel_all(w);
			sf_kube_cfg_free(w->w_cfg);
			w->w_cfg  = m->m_cfg;
			m->m_cfg  = NULL;
			w->w_conn = C_IDLE;
			SF_INFO("recon", "cluster=%s: new connection settings",
			    c->c_name);
			break;
		}
		rc_msg_free(m);
	}
	return (!stop);
}

// ------------------------------------------------------------ the loop

static void
conn_step(rc_worker *w, int64_t now)
{
	switch (w->w_conn) {
	case C_IDLE:
		start_get(w, R_VERSION, "/version", &w->w_probe);
		if (w->w_probe != NULL) {
			w->w_conn = C_VERSION;
		}
		return;
	case C_DOWN:
		if (now >= w->w_retry_at) {
			w->w_conn = C_IDLE;
		}
		return;
	case C_UP:
		if (w->w_watch == NULL && w->w_list == NULL
		    && now >= w->w_watch_at) {
			start_watch(w);
		}
		if (w->w_list == NULL && now >= w->w_next_resync) {
			start_list(w, true);
			// Pools are read again with every resync.
			if (w->w_pools == NULL) {
				start_get(w, R_POOLS,
				    "/apis/metallb.io/v1beta1/ipaddresspools",
				    &w->w_pools);
			}
		}
		return;
	default:
		return;
	}
}

// pump decides every changed object now (most only need a report) and
// lets waiting objects take the request slots that are free, in order.
static void
pump(rc_worker *w, int64_t now)
{
	unsigned max = w->w_r->r_opts.ro_max_inflight;
	rc_obj  *o;
	while (w->w_wait.f_head != NULL && w->w_inflight < max) {
		decide(w, pop_wait(w), now);
	}
	while ((o = pop_dirty(w)) != NULL) {
		decide(w, o, now);
	}
}

static void
count(rc_worker *w, int64_t now)
{
	rc_obj *o;
	size_t  i = 0, synced = 0, pending = 0, behind = 0;
	if (now - w->w_count_at < 1000) {
		return;
	}
	w->w_count_at = now;
	while ((o = rc_objtab_next(&w->w_objs, &i)) != NULL) {
		bool desired = (o->o_flags & D_PRESENT) != 0;
		bool ok      = desired && in_sync(o);
		synced += ok;
		behind += desired && !ok;
		pending += o->o_pb != NULL;
	}
	atomic_store(&w->w_c->c_nobjs, w->w_objs.t_n);
	atomic_store(&w->w_c->c_nsynced, synced);
	atomic_store(&w->w_c->c_npending, behind);
	atomic_store(&w->w_c->c_health, w->w_health);
	if (behind == 0) {
		atomic_store(&w->w_c->c_pending_since, 0);
	} else if (atomic_load(&w->w_c->c_pending_since) == 0) {
		atomic_store(&w->w_c->c_pending_since, now);
	}
	if (pending > w->w_pending_peak) {
		w->w_pending_peak = pending;
	}
#ifdef __GLIBC__
	if (pending == 0 && w->w_pending_peak >= 1000) {
		// A burst of work is over: what it allocated is free now
		// (packed Services, bodies, answers); give it back.
		malloc_trim(0);
		w->w_pending_peak = 0;
	}
#endif
}

static int
next_timeout(const rc_worker *w, int64_t now)
{
	int64_t t = now + 1000;
	if (w->w_nheap > 0 && w->w_heap[0]->o_next_ms < t) {
		t = w->w_heap[0]->o_next_ms;
	}
	if (w->w_conn == C_DOWN && w->w_retry_at < t) {
		t = w->w_retry_at;
	}
	if (w->w_conn == C_UP && w->w_watch == NULL && w->w_watch_at < t) {
		t = w->w_watch_at;
	}
	if (w->w_conn == C_UP && w->w_next_resync < t) {
		t = w->w_next_resync;
	}
	if (w->w_dirty.f_head != NULL
	    || (w->w_wait.f_head != NULL
	        && w->w_inflight < w->w_r->r_opts.ro_max_inflight)) {
		t = now;
	}
	return (t <= now ? 0 : (int) (t - now));
}

static void *
worker_main(void *arg)
{
	rc_cluster *c = arg;
	rc_worker  *w = c->c_w;
	int         running;
	char        tname[16];

	snprintf(tname, sizeof(tname), "rc:%s", c->c_name);
	pthread_setname_np(pthread_self(), tname);
	SF_INFO("recon", "cluster=%s worker started", c->c_name);
	while (take_inbox(w)) {
		int64_t now;
		curl_multi_perform(c->c_multi, &running);
		process_done(w);
		now = sf_clock_mono_ms();
		run_timers(w, now);
		conn_step(w, now);
		pump(w, now);
		health_maybe_report(w, now);
		count(w, now);
		curl_multi_perform(c->c_multi, &running);
		process_done(w);
		curl_multi_poll(c->c_multi, NULL, 0,
		    next_timeout(w, sf_clock_mono_ms()), NULL);
	}
	cancel_all(w);
	while (w->w_free != NULL) {
		rc_req *q = w->w_free;
		w->w_free = q->q_next;
		sf_kube_req_fini(&q->q_kr);
		free(q);
	}
	SF_INFO("recon", "cluster=%s worker stopped", c->c_name);
	return (NULL);
}

// ------------------------------------------------------------ lifecycle

rc_cluster *
rc_cluster_start(
    sf_reconciler *r, const char *name, sf_kube_cfg *cfg, uint64_t cfg_hash)
{
	rc_cluster *c     = calloc(1, sizeof(*c));
	rc_worker  *w     = calloc(1, sizeof(*w));
	long        conns = (long) r->r_opts.ro_max_conns;

	if (c == NULL || w == NULL || (c->c_name = strdup(name)) == NULL
	    || (c->c_multi = curl_multi_init()) == NULL) {
		goto fail;
	}
	c->c_rec      = r;
	c->c_cfg_hash = cfg_hash;
	c->c_w        = w;
	w->w_c        = c;
	w->w_r        = r;
	w->w_cfg      = cfg;
	rc_objtab_init(&w->w_objs);
	// Several keep-alive connections for an HTTP/1.1 server; with
	// HTTP/2 one connection carries every stream.
	curl_multi_setopt(c->c_multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
	curl_multi_setopt(c->c_multi, CURLMOPT_MAXCONNECTS, conns + 2);
	curl_multi_setopt(c->c_multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
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
		free(c->c_name);
	}
	free(c);
	free(w);
	sf_kube_cfg_free(cfg);
	return (NULL);
}

void
rc_cluster_post(rc_cluster *c, rc_msg *m)
{
	m->m_next = NULL;
	pthread_mutex_lock(&c->c_mtx);
	if (c->c_in_tail != NULL) {
		c->c_in_tail->m_next = m;
	} else {
		c->c_in_head = m;
	}
	c->c_in_tail = m;
	pthread_mutex_unlock(&c->c_mtx);
	curl_multi_wakeup(c->c_multi);
}

void
rc_cluster_stop(rc_cluster *c)
{
	rc_worker *w = c->c_w;
	rc_msg    *m, *next;

	pthread_mutex_lock(&c->c_mtx);
	c->c_stop = true;
	pthread_mutex_unlock(&c->c_mtx);
	curl_multi_wakeup(c->c_multi);
	pthread_join(c->c_thread, NULL);
	for (m = c->c_in_head; m != NULL; m = next) {
		next = m->m_next;
		rc_msg_free(m);
	}
	rc_objtab_fini(&w->w_objs);
	free(w->w_echo);
	free(w->w_heap);
	free(w->w_continue);
	free(w->w_pools_json);
	sf_kube_cfg_free(w->w_cfg);
	curl_multi_cleanup(c->c_multi);
	pthread_mutex_destroy(&c->c_mtx);
	free(c->c_name);
	free(w);
	free(c);
}
