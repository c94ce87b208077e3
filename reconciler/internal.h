// internal.h: what the reconciler's files share — the reconciler object,
// the per-cluster worker, the object table, and the messages threads pass
// each other. Nothing here is visible outside reconciler/.
//
// Threads and ownership:
//   watcher (desired.c)    owns the svcfleetd view: lists and watches the
//                          stored Services and the cluster records, starts
//                          and stops workers, posts sf__recon_msg to their
//                          inboxes.
//   worker (worker*.c)     one per cluster; owns everything in its
//                          sf__recon_cluster below the inbox, its curl
//                          multi handle and its objects. Nothing else
//                          touches them.
//   reporters (report.c)   send sf__recon_job to svcfleetd and post the
//                          outcome back to the worker's inbox.
// Workers are reached by name through sf__recon_post (under r_mtx), so a
// message for a worker that has gone is dropped, never sent to freed memory.
//
// Names: what the files share is prefixed sf__recon_ (internal; the
// public API in reconciler.h is sf_reconciler_ and sf_recon_); what one
// file uses alone is static there.
#ifndef SF_RECON_INTERNAL_H
#define SF_RECON_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kube.h"
#include "reconciler.h"
#include "svcfleet/svcfleet.h"

// The timeout of the reconciler's calls to svcfleetd (its client handle's).
#define SF__RECON_CALL_TIMEOUT_MS 15000

typedef struct sf__recon_cluster sf__recon_cluster;
typedef struct sf__recon_obj     sf__recon_obj;
typedef struct sf__recon_msg     sf__recon_msg;
typedef struct sf__recon_job     sf__recon_job;

// ------------------------------------------------------------ messages

enum sf__recon_msg_kind {
	M_DESIRED,   // a stored Service (or its deletion from the store)
	M_LIST_DONE, // the desired list of epoch m_epoch is complete
	M_REPORTED,  // a status report finished (m_ok, m_hash)
	M_FETCHED,   // a body fetch finished without a Service (m_ok false)
	M_CONFIG,    // new connection settings (m_cfg)
};

// Desired-state flags (m_flags, and o_flags' low bits).
enum {
	D_PRESENT  = 1 << 0, // stored (absent: deleted from the store)
	D_DELETING = 1 << 1, // DeleteService called, finalizer pending
	D_HAS_FIN  = 1 << 2, // the stored object carries our finalizer
	D_ADOPT    = 1 << 3, // spec.allow_adoption
	D_LB       = 1 << 4, // type LoadBalancer
	// i19-edit: svcfleet.io/drift-policy: Report — a change made in the
	// cluster is recorded and shown, not reverted.
	D_REPORT = 1 << 5,
	D_MASK   = 0x3f,
};

struct sf__recon_msg {
	sf__recon_msg *m_next;
	int            m_kind;
	uint32_t       m_epoch; // desired list epoch the item belongs to
	uint32_t       m_flags; // D_*
	// M_DESIRED, M_FETCHED: the answer to the object's fetch number
	// m_fetch (o_fetch); 0: not a fetch's answer (the watch's).
	uint32_t m_fetch;
	bool     m_ok;
	// M_REPORTED, not m_ok: svcfleetd did not apply it and asks for it
	// again now (its write was full; s26-ha).
	bool     m_again;
	int64_t  m_gen;    // stored generation
	uint64_t m_input;  // hash of m_pb's metadata and spec alone
	uint64_t m_stored; // hash of the stored status for this cluster
	// i19-ssd: the stored status is DRIFTED (drift policy Report): the
	// body hash the cluster drifted from; 0 otherwise.
	uint64_t     m_drift_want;
	uint64_t     m_hash;  // M_REPORTED: the report's hash
	uint8_t     *m_pb;    // the stored Service's metadata and spec,
	size_t       m_pblen; // packed (owned); the worker builds the body
	sf_kube_cfg *m_cfg;   // M_CONFIG (owned)
	char         m_key[]; // "namespace/name"
};

// sf__recon_msg_new allocates a message with key (may be NULL). NULL when out
// of memory.
sf__recon_msg *sf__recon_msg_new(int kind, const char *key);
void           sf__recon_msg_free(sf__recon_msg *m);

// ------------------------------------------------------------ reporter jobs

enum sf__recon_job_kind {
	J_STATUS, // ReportStatus
	J_HEALTH, // ReportClusterHealth
	J_FETCH,  // GetService, the answer goes back as M_DESIRED
	J_DRIFT,  // i19: ReportDrift; j_msg holds the drift as JSON
};

struct sf__recon_job {
	sf__recon_job *j_next;
	int            j_kind;
	char          *j_cluster;
	uint64_t       j_hash;
	uint32_t       j_fetch; // J_FETCH: the object's fetch number
	// J_STATUS
	int      j_state;
	int64_t  j_gen;
	char    *j_msg;
	char    *j_facts;
	unsigned j_fin; // FIN_*
	// i19-ssd: J_STATUS of a kept drift (DRIFTED): the body hash it
	// drifted from.
	uint64_t j_drift_want;
	// J_HEALTH
	int     j_health;
	char   *j_version;
	int64_t j_contact_ms;
	char   *j_pools; // JSON array of pools, NULL: unknown
	char    j_key[]; // "namespace/name" (J_STATUS, J_FETCH)
};

// What a status report asks of the stored Service's finalizer (j_fin;
// M_REPORTED carries it back in m_flags).
enum {
	FIN_NONE   = 0,
	FIN_ADD    = 1 << 0, // add_finalizer: the Service is in a cluster
	FIN_REMOVE = 1 << 1, // remove_finalizer: gone from the cluster
	// i19: report even when the status says nothing new (a heal must
	// move LAST-SYNC: the cluster confirmed desired state again).
	FIN_REFRESH = 1 << 2,
};

// sf__recon_job_new allocates a job of kind for cluster with key (NULL:
// none) and nothing else set. NULL when out of memory.
sf__recon_job *sf__recon_job_new(
    int kind, const char *cluster, const char *key);
void sf__recon_job_free(sf__recon_job *j);

// ------------------------------------------------------------ objects

// Object flags beyond D_*.
enum {
	O_EXISTS     = 1 << 8,  // the cluster has it
	O_OWNED      = 1 << 9,  // with this installation's owner annotation
	O_OBS_LB     = 1 << 10, // the cluster's object is a LoadBalancer
	O_INGRESS    = 1 << 11, // and has an ingress address
	O_INFLIGHT   = 1 << 12, // an apply or delete is in flight
	O_REPORTING  = 1 << 13, // a status report is in flight
	O_DIRTY      = 1 << 14, // on the dirty list
	O_FETCHING   = 1 << 15, // body fetch in flight
	O_FIN_SENT   = 1 << 16, // add_finalizer reported
	O_UNFIN_SENT = 1 << 17, // remove_finalizer reported
	O_APPLIED    = 1 << 18, // applied by this process (ours even if the
	                        // owner annotation was edited away)
	O_HAS_UID = 1 << 19,
	O_PERM    = 1 << 20, // the cluster refused o_want for good (422)
	O_WAITING = 1 << 21, // on the wait list (needs a request slot)
	// i19-ssd: the cluster refused the node ports this Service had
	// before it was deleted there; it is made again without them.
	O_NO_KEEP_PORTS = 1 << 22,
};

// One Service as the reconciler sees it in one cluster: the desired side
// as hashes and flags, the cluster side likewise, plus the little needed
// to act and report. The apply body is kept only while it is needed.
struct sf__recon_obj {
	sf__recon_obj *o_dnext; // dirty list
	uint64_t       o_want;  // desired hash (0: not desired)
	uint64_t       o_input; // hash of what o_want was built from
	uint64_t       o_have;  // cluster projection hash (0: none)
	// When applying o_want left a projection hash that differs from it
	// (the API server changed a field it was given), their XOR: that
	// projection counts as in sync too. 0: none.
	uint64_t o_alias;
	uint64_t o_reported; // hash of our last report
	uint64_t o_stored;   // hash of the status the store holds
	uint64_t o_rv;       // cluster resourceVersion seen last
	int64_t  o_gen;      // desired generation
	int64_t  o_obs_gen;  // svcfleet.io/generation in the cluster
	int64_t  o_next_ms;  // backoff: nothing before (monotonic ms)
	int64_t  o_drift_ms; // when an out-of-band change was seen
	uint8_t *o_pb; // the stored Service, packed, while it may be applied
	char *o_facts; // cluster-assigned facts (kube.h "apply bodies" format)
	char *o_msg;   // last error from the cluster
	uint32_t o_flags;
	uint32_t o_epoch; // desired list epoch last seen in
	uint32_t o_seen;  // cluster list epoch last seen in
	uint32_t o_heap;  // 1-based index in the timer heap, 0: none
	// The number of the body fetch in flight (O_FETCHING), 0: none.
	// Only its answer is taken: one that comes after the watch brought
	// the object again may be older than what the watch brought.
	uint32_t      o_fetch;
	uint16_t      o_attempts; // failures in a row
	uint32_t      o_pblen;
	unsigned char o_uid[16];
	// i19-edit: o_want when the drift was seen (drift policy Report
	// keeps the cluster's change until the desired state changes).
	uint64_t o_drift_want;
	// i19-ssd: a kept drift the store records (m_drift_want), found by
	// whichever reconciler held the cluster then.
	uint64_t o_stored_drift;
	// i21-cpu3: the apply body built with o_want (digest), kept until
	// the apply sends it so the body is not built twice; NULL when not
	// kept (over the worker's budget, or the Service holds facts a
	// re-create asks for). Goes whenever o_pb goes (sf__recon_drop_pb).
	char    *o_body;
	uint32_t o_bodylen;
	char     o_key[]; // "namespace/name"
};

// An open-addressing table of objects keyed by o_key.
typedef struct sf__recon_objtab {
	sf__recon_obj **t_slots;
	size_t          t_cap; // power of two
	size_t          t_n;
	size_t          t_tomb;
} sf__recon_objtab;

void sf__recon_objtab_init(sf__recon_objtab *t);
void sf__recon_objtab_fini(sf__recon_objtab *t); // frees the objects too
sf__recon_obj *sf__recon_objtab_get(sf__recon_objtab *t, const char *key);
// sf__recon_objtab_add returns the object for key, creating it (zeroed) when
// absent; NULL when out of memory.
sf__recon_obj *sf__recon_objtab_add(sf__recon_objtab *t, const char *key);
// sf__recon_objtab_del removes and frees o.
void sf__recon_objtab_del(sf__recon_objtab *t, sf__recon_obj *o);
// Iteration: for (i = 0; (o = sf__recon_objtab_next(t, &i)) != NULL;)
sf__recon_obj *sf__recon_objtab_next(sf__recon_objtab *t, size_t *i);

// A FIFO of objects linked through o_dnext (fifo_heap.c). An object is in
// at most one at a time; flag (O_DIRTY, O_WAITING) says which.
typedef struct sf__recon_fifo {
	sf__recon_obj *f_head, *f_tail;
} sf__recon_fifo;

// sf__recon_fifo_push appends o and sets flag in o_flags.
void sf__recon_fifo_push(sf__recon_fifo *q, sf__recon_obj *o, uint32_t flag);
// sf__recon_fifo_pop takes the first object out and clears flag in its
// o_flags; NULL when q is empty.
sf__recon_obj *sf__recon_fifo_pop(sf__recon_fifo *q, uint32_t flag);

// A min-heap of objects by o_next_ms, each knowing its place in o_heap
// (fifo_heap.c). Zeroed is empty.
typedef struct sf__recon_heap {
	sf__recon_obj **h_v;
	size_t          h_n, h_cap;
} sf__recon_heap;

// sf__recon_heap_arm puts o in the heap, or moves it to where its
// o_next_ms now belongs when it is there already. Out of memory leaves it
// out (the worker decides every object again at the next resync).
void sf__recon_heap_arm(sf__recon_heap *h, sf__recon_obj *o);
// sf__recon_heap_remove takes o out; nothing when it is not in.
void sf__recon_heap_remove(sf__recon_heap *h, sf__recon_obj *o);
// sf__recon_heap_first returns the object due first, NULL when empty.
sf__recon_obj *sf__recon_heap_first(const sf__recon_heap *h);
// sf__recon_heap_fini frees the heap's array (not the objects).
void sf__recon_heap_fini(sf__recon_heap *h);

// ------------------------------------------------------------ reconciler

struct sf_reconciler {
	sf_reconciler_opts r_opts;
	char              *r_server;
	char              *r_token;
	char              *r_ca_file;
	svcfleet_client   *r_client;
	atomic_bool        r_stop;
	// The watcher's last list or watch call worked (readiness).
	atomic_bool r_connected;

	// Set once by the watcher before any worker starts.
	char r_owner[80]; // the installation id

	pthread_mutex_t    r_mtx; // r_clusters list, r_epoch_done
	sf__recon_cluster *r_clusters;

	pthread_t r_watcher;
	bool      r_watcher_started;

	// Reporter pool.
	pthread_mutex_t r_jmtx;
	pthread_cond_t  r_jcv;
	sf__recon_job  *r_jhead, *r_jtail; // health, fetch, drift jobs
	size_t          r_jlen;            // jobs queued, both queues
	bool            r_jstop;
	pthread_t      *r_reporters;
	size_t          r_nreporters;
	atomic_bool     r_no_batch; // svcfleetd lacks ReportStatuses
	// Status reports wait in a queue of their own (issue 21): at most
	// REPORT_CALLS ReportStatuses calls are in flight (r_scalls), so
	// reports that come while they are travel together in the next.
	sf__recon_job *r_shead, *r_stail;
	unsigned       r_scalls;

	// Statistics.
	atomic_uint_fast64_t r_applies, r_deletes, r_reports, r_health_reports;
	atomic_uint_fast64_t r_apply_errors;
	atomic_uint_fast64_t r_heals;
	atomic_uint_fast64_t r_echoes;
	pthread_mutex_t      r_smtx;
	uint32_t             r_heal_ms[1024];
	size_t               r_nheal;
	uint64_t             r_heal_max;

	// Membership and claims (claims.c, issue 16). r_cmtx guards the
	// fields below it (r_lease is written by the member thread only).
	char            r_id[208];
	int64_t         r_ttl_ms;
	int64_t         r_started_ms;
	bool            r_claims_inited;
	pthread_mutex_t r_cmtx;
	pthread_cond_t  r_ccv;
	uint64_t        r_lease;
	int64_t         r_proof_until; // mono ms
	struct sf__recon_claim {
		char    *rc_cluster;
		uint64_t rc_token;
	} * r_claims; // the clusters this reconciler holds
	size_t      r_nclaims;
	char      **r_known; // every cluster anyone holds
	size_t      r_nknown;
	bool        r_poke;
	atomic_uint r_claims_gen; // bumped when the claims change
	atomic_bool r_mstop;
	pthread_t   r_member;
	bool        r_member_started;
};

// Claims (claims.c, issue 16).
// sf__recon_claiming: does this reconciler register and claim (no static
// --shard pin)?
bool sf__recon_claiming(const sf_reconciler *r);
// sf__recon_in_scope: is cluster this reconciler's (held, or in its
// static shard)? The watcher keeps workers for these.
bool sf__recon_in_scope(sf_reconciler *r, const char *cluster);
// sf__recon_claim_ok: may a worker write to cluster now (held, and the
// claim provable: the last successful renewal was sent less than 2/3 TTL
// ago)? *token (may be NULL) gets the claim's fencing token (0 unclaimed).
bool sf__recon_claim_ok(
    sf_reconciler *r, const char *cluster, uint64_t *token);
// sf__recon_claim_token: the token of cluster's claim, 0 when not held.
uint64_t sf__recon_claim_token(sf_reconciler *r, const char *cluster);
// sf__recon_claim_known: does anyone hold cluster (as of the last answer)?
bool sf__recon_claim_known(sf_reconciler *r, const char *cluster);
// sf__recon_claims_poke asks for an early renewal (a cluster appeared).
void sf__recon_claims_poke(sf_reconciler *r);
int  sf__recon_claims_start(sf_reconciler *r);
// sf__recon_claims_stop stops renewing and unregisters (hands over).
void sf__recon_claims_stop(sf_reconciler *r);

// sf__recon_post delivers m to the worker of cluster (takes ownership; frees
// it when there is no such worker).
void sf__recon_post(sf_reconciler *r, const char *cluster, sf__recon_msg *m);

// sf__recon_submit queues a job for the reporters (takes ownership).
void sf__recon_submit(sf_reconciler *r, sf__recon_job *j);

// sf__recon_heal_record notes one healed drift.
void sf__recon_heal_record(sf_reconciler *r, int64_t ms);

// sf__recon_desired_msg turns a stored Service into the message its worker
// needs (desired.c). present false: it was deleted from the store. NULL
// when out of memory.
sf__recon_msg *sf__recon_desired_msg(
    sf_reconciler *r, const sf_service *svc, uint32_t epoch, bool present);

// Watcher (desired.c).
void *sf__recon_watcher_main(void *arg);

// Reporters (report.c).
// sf__recon_fetch_answer is the message a fetch job j gets back from its
// GetService (rv its result, svc the Service when rv is 0): the Service,
// its absence from the store, or M_FETCHED; NULL when out of memory.
sf__recon_msg *sf__recon_fetch_answer(
    sf_reconciler *r, const sf__recon_job *j, int rv, const sf_service *svc);
int  sf__recon_reporters_start(sf_reconciler *r);
void sf__recon_reporters_stop(sf_reconciler *r);

// ------------------------------------------------------------ workers

struct sf__recon_cluster {
	sf_reconciler     *c_rec;
	sf__recon_cluster *c_next; // r_clusters list
	char              *c_name;
	uint64_t           c_cfg_hash; // of the last config posted (watcher's)
	pthread_t          c_thread;
	CURLM             *c_multi;

	// Inbox: filled by other threads under c_mtx.
	pthread_mutex_t c_mtx;
	sf__recon_msg  *c_in_head, *c_in_tail;
	bool            c_stop;
	int             c_wake; // eventfd: written to wake the worker

	// Figures the stats read (relaxed), refreshed about once a second.
	atomic_uint_fast64_t c_nobjs, c_nsynced, c_npending;
	atomic_int_fast64_t  c_pending_since; // mono ms, 0: nothing pending
	atomic_int           c_health;

	// Everything below belongs to the worker thread.
	struct sf__recon_worker *c_w;
};

// sf__recon_cluster_start creates the worker of a cluster and starts its
// thread (cfg: taken). Returns NULL when out of resources.
sf__recon_cluster *sf__recon_cluster_start(
    sf_reconciler *r, const char *name, sf_kube_cfg *cfg, uint64_t cfg_hash);
// sf__recon_cluster_stop stops the thread and frees the worker (the caller has
// already unlinked it from r_clusters).
void sf__recon_cluster_stop(sf__recon_cluster *c);
// sf__recon_cluster_post puts m in the inbox and wakes the worker.
void sf__recon_cluster_post(sf__recon_cluster *c, sf__recon_msg *m);

#endif // SF_RECON_INTERNAL_H
