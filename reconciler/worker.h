// worker.h: what the three files of a cluster's worker share, private to
// them (internal.h is what the whole reconciler shares):
//
//   worker.c       the loop, the inbox, the request pool, the dirty and
//                  wait queues, and the worker's start and stop;
//   worker_conn.c  the connection to the cluster: /version, the list and
//                  the watch of its Services, MetalLB pools, health, and
//                  the completions of those requests;
//   worker_obj.c   the objects: observe, decide, apply, delete, report,
//                  and the completions of applies and deletes.
//
// Everything here runs on the worker's own thread (internal.h, Threads).
#ifndef SF_RECON_WORKER_H
#define SF_RECON_WORKER_H

#include <poll.h>

#include "internal.h"

enum conn_state {
	C_IDLE,    // nothing yet: start with /version
	C_VERSION, // /version in flight
	C_LISTING, // first list in flight (no writes before it completes)
	C_UP,      // listed, watching
	C_DOWN,    // unreachable or refused: retry at w_retry_at
};

enum req_kind { R_APPLY, R_DELETE, R_LIST, R_WATCH, R_VERSION, R_POOLS };

typedef struct sf__recon_req {
	sf_kube_req              q_kr;
	struct sf__recon_req    *q_next; // free list / active list
	struct sf__recon_req    *q_prev;
	struct sf__recon_worker *q_w;
	int                      q_kind;
	sf__recon_obj           *q_obj;
	uint64_t                 q_want; // R_APPLY: the desired hash sent
	bool                     q_resync;
	bool                     q_kubefake; // R_POOLS: the kubefake fallback
	bool q_kept_ports; // R_APPLY (i19-ssd): a re-create asking for the
	                   // node ports the Service had
} sf__recon_req;

typedef struct sf__recon_worker {
	sf__recon_cluster *w_c;
	sf_reconciler     *w_r;
	sf_kube_cfg       *w_cfg;
	sf__recon_objtab   w_objs;
	sf__recon_fifo     w_dirty;
	sf__recon_fifo     w_wait; // waiting for a request slot
	sf__recon_heap     w_timers;
	sf__recon_req     *w_free; // idle requests (easy handles kept)
	unsigned           w_nfree;
	sf__recon_req     *w_active; // requests added to the multi handle
	unsigned           w_inflight;
	unsigned           w_started; // requests started (wraps; issue 21)
	sf__recon_req     *w_watch, *w_list, *w_probe, *w_pools;
	int                w_conn;
	int64_t            w_retry_at;
	unsigned           w_down_attempts;
	unsigned           w_failures;
	char               w_rv[SF_KUBE_RV_MAX];
	uint32_t           w_list_epoch;
	char              *w_continue;
	bool               w_relist;
	int64_t            w_next_resync;
	int64_t            w_watch_at;
	uint32_t           w_desired_epoch;
	uint32_t           w_fetch_seq; // the last fetch number given
	bool               w_desired_done;
	int64_t            w_paused_until;
	// Health.
	int      w_health;
	char     w_health_msg[300];
	char     w_version[64];
	int64_t  w_contact_ms;
	uint64_t w_health_sent;
	int64_t  w_health_sent_at;
	char    *w_pools_json;
	bool     w_pools_known;
	int64_t  w_stats_at;
	// i21-idle: objects may have changed since the last count
	// (sf__recon_touched); the counts taken then, published again while
	// nothing changed; and how many counts were taken (tests).
	bool     w_touched;
	size_t   w_nsynced, w_npending, w_nholding_pb;
	unsigned w_stats_scans;
	size_t   w_holding_pb_peak; // most objects holding a packed Service
	// Objects parsed from an apply's answer or the watch, by a hash of
	// their bytes (worker_obj.c, echoes); made at first use.
	struct sf__recon_echo *w_echo;
	// Where a packed Service is unpacked to build its body or hash
	// (issue 21: no malloc and free per field); reset after each use.
	sf_arena w_unpack;
	// i21-cpu3: bytes of apply bodies kept from digest (o_body), at most
	// SF__RECON_BODY_BUDGET.
	size_t w_body_bytes;
	// curl's socket interface (issue 21): the sockets curl asks to have
	// watched, after the worker's wakeup eventfd at [0], as poll() takes
	// them; w_ready is where a turn copies those that had events;
	// w_curl_due is when curl's timer expires (mono ms, -1: none).
	struct pollfd *w_pfd, *w_ready;
	unsigned       w_npfd, w_pfdcap;
	int64_t        w_curl_due;
} sf__recon_worker;

// ------------------------------------------------------------ worker.c

// sf__recon_backoff_ms: exponential backoff with jitter, a delay in
// [d/2, d] where d doubles per attempt from min up to max.
int64_t sf__recon_backoff_ms(unsigned attempt, uint32_t min, uint32_t max);

// i21-cpu3: apply bodies kept from digest take at most this many bytes
// per worker (a body is a few hundred bytes: a burst of a few thousand
// new Services keeps all of theirs).
#define SF__RECON_BODY_BUDGET ((size_t) 2 << 20)

// sf__recon_drop_body frees the apply body o keeps (o_body), if any.
void sf__recon_drop_body(sf__recon_worker *w, sf__recon_obj *o);
// sf__recon_take_msg acts on one message from the inbox (m stays the
// caller's to free).
void sf__recon_take_msg(sf__recon_worker *w, sf__recon_msg *m, int64_t now);

// sf__recon_touched notes that objects may have changed (one was added,
// forgotten, or its desired or observed state or packed Service moved):
// the next sf__recon_publish_stats counts them again. Every entry point
// that changes objects calls it (take_msg, observe, gone, decide,
// obj_done, conn_done, cancel_all, drop_pb).
static inline void
sf__recon_touched(sf__recon_worker *w)
{
	w->w_touched = true;
}
// sf__recon_publish_stats refreshes, at most once a second, the figures
// other threads read (objects, in sync, not, pending since, health);
// the objects are counted only when touched since the last count. The
// loop wakes for it a second after the last publication while the
// objects were touched since (s28-tick), and not otherwise.
void sf__recon_publish_stats(sf__recon_worker *w, int64_t now);
// sf__recon_drop_pb frees the packed Service o holds and its body.
void sf__recon_drop_pb(sf__recon_worker *w, sf__recon_obj *o);

// sf__recon_mark_dirty queues o to be decided in this turn of the loop
// (nothing when it is queued already, dirty or waiting for a slot).
void sf__recon_mark_dirty(sf__recon_worker *w, sf__recon_obj *o);
void sf__recon_mark_all_dirty(sf__recon_worker *w);
// sf__recon_push_wait parks o until a request slot is free (objects are
// served in the order they asked).
void sf__recon_push_wait(sf__recon_worker *w, sf__recon_obj *o);

// Requests: sf__recon_req_get takes an idle request (its easy handle kept
// from before) or makes one; NULL when out of memory. sf__recon_req_put
// gives it back. sf__recon_req_start adds a set-up request to the multi
// handle (and counts it against max_inflight when it is an apply or a
// delete); on failure it puts q back itself and returns -1.
sf__recon_req *sf__recon_req_get(sf__recon_worker *w, int kind);
void           sf__recon_req_put(sf__recon_worker *w, sf__recon_req *q);
int            sf__recon_req_start(sf__recon_worker *w, sf__recon_req *q);
// sf__recon_cancel_all drops every transfer; objects whose request was
// dropped are decided again.
void sf__recon_cancel_all(sf__recon_worker *w);

// The timeout of one Kubernetes request.
static inline uint32_t
sf__recon_timeout_ms(const sf__recon_worker *w)
{
	return (w->w_r->r_opts.ro_request_timeout_ms);
}

// sf__recon_retry_after_ms is the wait a 429 answer to q asked for
// (Retry-After; a second when it said none).
static inline int64_t
sf__recon_retry_after_ms(const sf__recon_req *q)
{
	return ((q->q_kr.kr_retry_after >= 0 ? q->q_kr.kr_retry_after : 1)
	    * 1000L);
}

// ------------------------------------------------------------ worker_conn.c

// sf__recon_conn_step advances the connection: /version, then the first
// list, then the watch and the periodic resyncs; retries a down cluster.
void sf__recon_conn_step(sf__recon_worker *w, int64_t now);
// sf__recon_conn_due is when the connection next needs a step without a
// transfer finishing or a message coming (a down cluster's retry, the
// watch's re-open, the resync, the health refresh); INT64_MAX: never.
// The loop sleeps no longer than that (s28-tick).
int64_t sf__recon_conn_due(const sf__recon_worker *w);
// sf__recon_conn_done takes the outcome of a finished version, list,
// watch or pools request (cls: enum sf_kube_class, msg its words).
void sf__recon_conn_done(sf__recon_worker *w, sf__recon_req *q, int cls,
    const char *msg, int64_t now);
// sf__recon_cluster_failure decides, after a request failed (with an
// object to blame or without), whether the cluster as a whole is down;
// true when it went down.
bool sf__recon_cluster_failure(
    sf__recon_worker *w, int cls, long code, const char *msg, int64_t now);
// sf__recon_health_maybe_report reports the cluster's health when it
// changed, or every few minutes.
void sf__recon_health_maybe_report(sf__recon_worker *w, int64_t now);

// ------------------------------------------------------------ worker_obj.c

// sf__recon_in_sync: the cluster holds what is desired.
bool sf__recon_in_sync(const sf__recon_obj *o);
// sf__recon_drift_held (i19-edit): drift policy Report keeps a change made
// in the cluster, so o is neither applied nor healed.
bool sf__recon_drift_held(const sf__recon_obj *o);
// sf__recon_observe takes in a Service the cluster sent (a list item, a
// watch event's object or an apply's answer).
void sf__recon_observe(sf__recon_worker *w, const json_t *obj, int64_t now);
// sf__recon_gone notes that the cluster no longer has o (rv: the version
// that said so, 0: unknown).
void sf__recon_gone(
    sf__recon_worker *w, sf__recon_obj *o, uint64_t rv, int64_t now);
// sf__recon_decide looks at one object and does what it needs: nothing,
// a report, an apply, a delete, a body fetch, or forgetting it.
void sf__recon_decide(sf__recon_worker *w, sf__recon_obj *o, int64_t now);
// sf__recon_fetch asks svcfleetd for o's stored Service (a reporter's
// GetService) under a new fetch number, unless a fetch is in flight; the
// answer comes back as M_DESIRED or M_FETCHED carrying that number.
void sf__recon_fetch(sf__recon_worker *w, sf__recon_obj *o);
// sf__recon_obj_done takes the outcome of a finished apply or delete.
void sf__recon_obj_done(sf__recon_worker *w, sf__recon_req *q, int cls,
    const char *msg, int64_t now);

// Echoes: an object's bytes parsed once are not parsed again when the
// other copy of them comes (worker_obj.c says why). sf__recon_echo_hash
// hashes the bytes of an object; sf__recon_echo_put remembers one just
// parsed and observed (rv: its resourceVersion, may be NULL);
// sf__recon_echo_take tells whether it was (and forgets it: a third copy
// is parsed), with its resourceVersion into rv when rv is not NULL.
uint64_t sf__recon_echo_hash(const char *p, size_t n);
void     sf__recon_echo_put(sf__recon_worker *w, uint64_t h, const char *rv);
bool     sf__recon_echo_take(
        sf__recon_worker *w, uint64_t h, char *rv, size_t cap);

#endif // SF_RECON_WORKER_H
