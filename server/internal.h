// internal.h: what the server's files share — the server object, one RPC
// call in flight, the method table and the helpers handlers use to finish a
// call. Nothing here is visible outside server/; its names are sf__srv_*.
//
// Threads of svcfleetd (cmd/svcfleetd/main.c wires them) and what each
// may do:
//   main                  parses options, starts everything, waits in
//                         sigwait, stops everything in reverse order.
//   nng callbacks (rpc.c) ctx_cb on nng's task threads: receives, refuses
//                         beyond --max-inflight, decodes the envelope,
//                         serves SF__SRV_M_INLINE methods at once and
//                         queues the rest; starts every send. Never
//                         blocks. limits.c's pipe_cb counts connections
//                         on the same threads.
//   RPC workers (rpc.c)   --workers threads: run the queued methods'
//                         admission and handlers (reads, list pages, the
//                         validation of writes before they are queued,
//                         the submission of writes). May block on the
//                         store's reads, not on a cluster's network.
//   bulk sorter (rpc.c)   one thread: takes each request over 16 KiB
//                         as it arrives, decodes its envelope (not the
//                         payload) and authenticates it, serves those of
//                         the reconciler role at once and puts the others
//                         in their user's lane. Never validates a
//                         tenant's request (i17-bulk).
//   bulk (rpc.c)          one thread at a lower priority: decodes,
//                         validates and submits the lanes' requests,
//                         round-robin by bytes (i17-turns: deficit
//                         round robin, ~64 KiB per user per turn; issue 17:
//                         one tenant's megabytes wait, not the others'
//                         small writes; i17-bulk: nor their large ones,
//                         nor the reconciler's reports).
//   store writer          LMDB: store/lmdb_writer.c's one thread; etcd:
//                         store/etcd_writer.c's up to 16 (writes flagged
//                         concurrent side by side, the rest exclusive).
//                         Runs the write functions (h_*.c's *_fn), then
//                         their done functions, which finish calls
//                         (sf__srv_write_done) and the commit hook
//                         (watch.c: wakes the watch thread; srvmetrics.c:
//                         batch sizes). Never validates a request,
//                         nor a FleetService's copies (sec_3_queue_test,
//                         sec_3_fair_test).
//   etcd watch            store/etcd_feed.c's one thread (etcd only): the
//                         change feed and the view reads are served from.
//   health (health.c)     one thread (etcd only): probes etcd every 500 ms
//                         for /readyz and /metrics.
//   fleet loop            fleet_loop.c's one thread: re-places
//                         FleetServices when clusters change (every 200 ms
//                         a look, every 5 s a round), rendering and
//                         validating their copies itself (i17-bulk).
//   watch (watch.c)       one thread: reads the change feed for parked
//                         WatchServices calls and answers them.
//   ipc guard (ipcguard.c) one thread: probes the ipc:// listeners every
//                         second and reopens a wedged one (nng#1518).
//   live reads (live.c)   a detached thread per ListNamespaces /
//                         ListWorkloads / ListPools call and per
//                         server-side dry run (at most 16 per server):
//                         talks to the cluster, finishes its call;
//                         sf_server_stop waits for them to end.
//   HTTP (ops/http.c)     libmicrohttpd's listening thread, a thread per
//                         connection and the read-deadline watchdog:
//                         /healthz, /readyz, /metrics (the
//                         collectors, srvmetrics.c's included) and the
//                         gateway, which is an RPC client of this server
//                         over inproc:// and may block in its calls.
//   embedded reconciler   reconciler/internal.h's watcher, one worker per
//                         cluster and its reporters: RPC clients of this
//                         server over inproc:// (--no-reconciler: none).
// Everything a call owns lives in its context's arena (sf__srv_call); the
// thread that finishes it hands it back to nng, and after that nobody may
// touch the arena (a context receives its next request at once).
#ifndef SF_SERVER_INTERNAL_H
#define SF_SERVER_INTERNAL_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "model.h"
#include "rbac.h"
#include "server.h"
#include "status.h"
#include "store.h"
#include "svcfleet.pb-c.h"

typedef struct sf__srv_call   sf__srv_call;
typedef struct sf__srv_method sf__srv_method;
typedef struct sf__srv_auth   sf__srv_auth;
typedef struct rpc_ctx        rpc_ctx;

// How a method is admitted before its handler runs.
enum sf_method_flags {
	SF__SRV_M_PUBLIC = 1 << 0, // no token needed (Version, Health)
	SF__SRV_M_WRITE  = 1 << 1, // changes the store: deduplicated, audited
	SF__SRV_M_LONG   = 1 << 2, // may wait (long poll): not counted as busy
	SF__SRV_M_SELF   = 1 << 3, // the handler authorizes (tokens, WhoAmI)
	// Served on nng's callback thread as soon as the request arrives,
	// without the hand-over to a worker thread: the method's work is
	// short and never blocks (a few reads of the map, or a write handed
	// to the store's writer thread). Methods that may take long (pages
	// of thousands, long polls) or talk to a cluster stay on the workers.
	SF__SRV_M_INLINE = 1 << 4,
};

// One row of the method table. The rows are matched against the service
// descriptors generated from svcfleet.proto at start-up; a method declared
// in the proto without a row (or the reverse) stops the server from
// starting, so the two cannot drift apart.
struct sf__srv_method {
	const char *m_path;     // "/svcfleet.v1.ServiceManager/CreateService"
	const char *m_resource; // for authorization: "services", "clusters"...
	const char *m_verb;     // "create", "get", "list", "watch", ...
	int         m_flags;
	// Where the request acts: fills c_cluster/c_namespace/c_name from the
	// decoded input (NULL: nowhere in particular).
	void (*m_scope)(sf__srv_call *c, const ProtobufCMessage *in);
	// Filled at start-up from the descriptors:
	const ProtobufCServiceDescriptor *m_sdesc;
	const ProtobufCMethodDescriptor  *m_mdesc;
	ProtobufCService                 *m_service;
	unsigned                          m_index;
	atomic_uint_fast64_t              m_calls;
	atomic_uint_fast64_t              m_errors;
};

// The caller, as authentication found it. Everything points into the
// call's arena (or static storage).
typedef struct sf__srv_identity {
	const char  *id_user;
	const char **id_groups;
	size_t       id_ngroups;
	const char  *id_token_id;
	// The role bindings that apply to this caller.
	Svcfleet__V1__RoleBinding **id_bindings;
	size_t                      id_nbindings;
	sf_principal                id_p; // the same, as rbac.h wants it
} sf__srv_identity;

// One request in flight. It lives inside its nng context (one request per
// REP context at a time), so serving a request allocates nothing beyond its
// arena.
struct sf__srv_call {
	sf_server            *c_srv;
	rpc_ctx              *c_ctx;
	sf_arena              c_arena; // request, scratch and reply memory
	const sf__srv_method *c_method;
	Svcfleet__V1__RequestEnvelope *c_env;
	const ProtobufCMessage        *c_input;
	sf_status                      c_status;
	int64_t                        c_start_us; // monotonic receipt time
	// i19: the drift a ReportDrift call records in its audit event.
	const Svcfleet__V1__ReportDriftRequest *c_drift;
	// i15-perf: the revision a read answered at (0: the store's newest
	// seen, as the reply goes), for ReplyEnvelope.revision.
	uint64_t         c_revision;
	uint64_t         c_rev_floor; // a write's answer names at least this
	int64_t          c_deadline_us;
	char             c_request_id[64];
	bool             c_client_id; // the request id is the client's own
	sf__srv_identity c_ident;
	bool             c_dedupe; // reply must be remembered
	const char      *c_dedupe_key;
	// What the call acts on (for authorization and audit): cluster,
	// namespace and name, "" where not applicable.
	const char *c_cluster;
	const char *c_namespace;
	const char *c_name;
	// Where the request came from (issue 17): the peer's address key
	// (0: local, ipc:// or inproc://) and its text.
	uint64_t c_peer;
	char     c_peer_text[48];
	// Several replicas (replicas.c, issue 15): the write function the
	// request-record wrapper runs, whether this call put a request
	// record, and the record an earlier attempt left (a replay).
	sf_store_write_fn          c_req_fn;
	bool                       c_req_put;
	Svcfleet__V1__StoredReply *c_req_found;
	// etcd-perf: the write this call submits touches nothing shared but
	// the store (SF_STORE_CONCURRENT): a Service create, update, apply
	// or delete.
	bool c_write_concurrent;
	// Issue 17, finding 3: the write found that what its validation
	// read has changed and will be validated again off the writer
	// (sf__srv_call_defer): this attempt writes no audit record.
	bool c_revalidate;
	void (*c_defer_fn)(void *arg);
	void *c_defer_arg;
};

// The server object. The generated service structs come first in their
// own members so handlers can find the server from the service pointer.
struct sf_server {
	Svcfleet__V1__ServiceManager_Service  s_svcmgr;
	Svcfleet__V1__ClusterRegistry_Service s_clusters;
	Svcfleet__V1__AccessControl_Service   s_access;
	Svcfleet__V1__Audit_Service           s_audit;
	Svcfleet__V1__System_Service          s_system;

	sf_server_opts s_opts;
	sf_store      *s_store;
	nng_socket     s_sock;
	bool           s_sock_open;
	nng_listener  *s_listeners;
	size_t         s_nlisteners;
	char         **s_urls; // bound URLs (tcp port 0 resolved)

	// The ipc listener guard (ipcguard.c).
	pthread_t       s_guard;
	pthread_mutex_t s_guard_mtx;
	pthread_cond_t  s_guard_cv;
	bool            s_guard_stop;
	bool            s_guard_running;

	sf__srv_method *s_methods;
	size_t          s_nmethods;

	rpc_ctx *s_ctxs;
	size_t   s_nctxs;

	// Worker pool: requests waiting for a thread.
	pthread_mutex_t s_qmtx;
	pthread_cond_t  s_qcv;
	rpc_ctx        *s_qhead, *s_qtail;
	size_t          s_qlen;
	pthread_t      *s_workers;
	size_t          s_nworkers;
	// Large requests (issue 17): decoded and served by threads of their
	// own, never on nng's callback threads or the workers, so a tenant
	// sending megabytes delays only other large requests. i17-bulk: and
	// fairly. Arrivals (undecoded, s_bulk_head) wait for the sorter
	// thread, which decodes each envelope, authenticates it, serves the
	// reconciler's at once and puts the others in their user's lane
	// (s_lanes, rpc.c's bulk_lane, in turn order); the bulk thread
	// serves the lanes round-robin (i17-turns: by deficit round robin on
	// request bytes, about 64 KiB per user per turn). All
	// under s_qmtx.
	rpc_ctx             *s_bulk_head, *s_bulk_tail;
	pthread_cond_t       s_bulk_cv;  // arrivals, for the sorter
	pthread_cond_t       s_lanes_cv; // lanes, for the bulk thread
	struct sf__srv_lane *s_lanes, *s_lanes_tail;
	size_t               s_bulk_queued; // requests in lanes
	size_t               s_bulk_users;  // lanes with requests
	uint64_t             s_bulk_rate;   // i17-rate: bytes/s, 0: no limit
	uint64_t             s_bulk_burst;  // a bucket's size
	pthread_t            s_bulk, s_sorter;
	bool                 s_bulk_running; // both threads run
	bool                 s_bulk_started, s_sorter_running;
	bool                 s_sorter_done; // the sorter has ended
	atomic_bool s_stopping; // read by nng callbacks without s_qmtx
	atomic_bool s_draining; // new requests get UNAVAILABLE

	sf__srv_auth        *s_auth;
	atomic_uint_fast64_t s_inflight;
	// Replies being handed to nng (counted out of s_inflight already, so
	// the caller's next request is admitted; a stop's drain waits for
	// these too: send_reply).
	atomic_uint_fast64_t s_sending;
	atomic_uint_fast64_t s_parked; // long polls waiting (watch.c)

	// Limits (limits.c) and what they refused.
	pthread_mutex_t s_pipe_mtx;
	bool            s_pipe_mtx_ok;
	struct sf__srv_limits_pipe {
		uint32_t lp_id;   // nng pipe id
		uint64_t lp_peer; // peer address key, 0: not IP
		// (issue 17) When it came, and whether it has sent a
		// request: one that never does is closed after
		// so_idle_timeout_ms.
		int64_t lp_since_ms;
		bool    lp_active;
	} * s_pipes;         // the open connections
	nng_aio *s_idle_aio; // the idle sweep's timer (limits.c)
	// i21-idle: the sweep's timer is running (or its callback is about
	// to arm it again); under s_pipe_mtx. Whoever sets it arms the timer.
	bool                 s_idle_armed;
	size_t               s_npipes;
	atomic_uint_fast64_t s_refused_conns;
	atomic_uint_fast64_t
	    s_idle_closed; // (issue 17) idle connections closed
	// Pipes from local peers (ipc://, inproc://) the socket took: the ipc
	// guard's proof that a listener still accepts when a probe is slow.
	atomic_uint_fast64_t   s_local_pipes;
	atomic_uint_fast64_t   s_refused_busy;
	atomic_uint_fast64_t   s_refused_watches;
	struct sf__srv_dedupe *s_dedupe;
	// i15-perf: stored answers waiting for their batch (replicas.c).
	struct sf__srv_answers  *s_answers;
	struct sf__srv_watchers *s_watch;
	int64_t                  s_start_ms;
	struct sf__srv_obs      *s_obs; // metrics (srvmetrics.c), NULL: none
	// The embedded reconciler's token (recon_token.c); never empty once
	// the server has started.
	char s_recon_token[65];

	// Failed authentications (authfail.c, issue 17).
	struct sf__srv_authfail *s_authfail;
	atomic_uint_fast64_t     s_auth_failures; // every one
	atomic_uint_fast64_t     s_auth_limited;  // refused by the rate limit
	atomic_uint_fast64_t     s_auth_audited;  // audit records written
	// Bumped whenever tokens or bindings change: parked watches check
	// their caller again (watch.c).
	atomic_uint_fast64_t s_auth_gen;
	// Seals ListServices page tokens (pagetoken.c).
	uint8_t s_page_key[32];

	// Live reads (live.c): detached threads, each finishing one
	// call; sf_server_stop waits until none runs.
	pthread_mutex_t s_live_mtx;
	pthread_cond_t  s_live_cv;
	unsigned        s_live_running;
	bool            s_live_closed; // stopping: no new live read starts
	bool            s_live_inited;

	// Reconciler claims (claims.c, issue 16).
	struct sf__srv_claims *s_claims;
	// The store's health probe (health.c; etcd only, issue 15).
	pthread_t       s_health;
	pthread_mutex_t s_health_mtx;
	pthread_cond_t  s_health_cv;
	bool            s_health_running, s_health_stop;
	bool            s_health_ok;       // the last probe answered
	int64_t         s_health_since_ms; // mono ms it has been so
	char            s_health_why[512]; // what the last failure said
	struct sf__srv_health_obs *s_health_obs;
	// FleetService (issue 18): the FleetManager handlers, and the
	// placement loop (fleet_loop.c) that re-places FleetServices when
	// clusters are registered, removed or relabelled.
	Svcfleet__V1__FleetManager_Service s_fleet;
	struct sf__srv_fleet_loop         *s_fleet_loop;
	// i17-turns: FleetServices the loop rendered again (here, not in
	// the loop: the metrics read it until the server is freed).
	_Atomic uint64_t s_fleet_renders;
	// i18-console: the address plan's index (fleet_addrs.c).
	struct sf__srv_fleet_addrs *s_fleet_addrs;
};

// --------------------------------------------------- replicas (replicas.c)

// With several replicas on one etcd, a write's request id is kept in the
// store (SF_STORE_REQUESTS) in the write's own transaction, and its answer
// right after, so that a client retrying through another replica gets the
// first answer instead of a second application.
bool sf__srv_req_shared(const sf_server *srv);
// sf__srv_req_wrap returns the write function to submit for c's fn: fn
// itself, or a wrapper that first looks the request up (replay) when the
// call is deduplicated and the store shared.
sf_store_write_fn sf__srv_req_wrap(sf__srv_call *c, sf_store_write_fn fn);
// sf__srv_req_audit is called by the audit function in the write's
// transaction: puts the pending record (code 0 only). Returns 0, or an
// SF_* code; *skip is true for a replay (no audit record of its own).
int sf__srv_req_audit(
    sf_store_txn *txn, sf__srv_call *c, int code, bool *skip);
// sf__srv_req_reply returns the reply message to send for a replay (a
// new nng message holding the stored answer), or NULL: not a replay, or
// the answer is not stored. When the replica that applied the request
// has not stored its answer within 2 s (it died in between), a Service
// write's answer is rebuilt from what is stored now (*rebuilt, from the
// call's arena, c's status reset to OK); otherwise c's status says
// UNAVAILABLE (retry).
nng_msg *sf__srv_req_reply(sf__srv_call *c, const ProtobufCMessage **rebuilt);
// sf__srv_req_store keeps the answer m of a call that put a record
// (asynchronously: a write of its own).
void sf__srv_req_store(sf__srv_call *c, const nng_msg *m);
// i15-perf: the revision a caller has seen (RequestEnvelope
// .min_revision; 0 when none).
uint64_t sf__srv_call_min_revision(const sf__srv_call *c);
// i15-perf: the queue of answers to store (sf__srv_req_store batches
// them); fini after the store is closed. init returns 0 or -1.
int  sf__srv_req_init(sf_server *srv);
void sf__srv_req_fini(sf_server *srv);

// ------------------------------------------------------ health (health.c)

// sf__srv_health_start starts the probe thread when the store is etcd
// (nothing to do for LMDB). Returns 0 or -1. _stop joins it; safe when
// it never started.
int  sf__srv_health_start(sf_server *srv);
void sf__srv_health_stop(sf_server *srv);

// ----------------------------------------------------------- method table

// sf__srv_methods_init copies the table into srv and binds it to the server's
// service structs. Returns 0, or SF_INTERNAL naming the method that has no
// row or no descriptor.
int                   sf__srv_methods_init(sf_server *srv, sf_status *st);
void                  sf__srv_methods_fini(sf_server *srv);
const sf__srv_method *sf__srv_methods_find(sf_server *srv, const char *path);

// ------------------------------------------------------- finishing a call

// Handlers receive (service, input, closure, closure_data): closure_data is
// the sf__srv_call. A handler finishes the call exactly once, possibly later
// on another thread, by calling closure(reply, call) — or, on failure,
// sf__srv_call_fail(call, code, ...), which records the status and calls the
// closure with no reply.
static inline sf__srv_call *
sf__srv_call_of(void *closure_data)
{
	return ((sf__srv_call *) closure_data);
}

void sf__srv_call_fail(sf__srv_call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// sf__srv_call_fail_status finishes with the code, message and violations of
// st.
void sf__srv_call_fail_status(sf__srv_call *c, const sf_status *st);
// sf__srv_call_finish finishes with reply (NULL allowed only when the call's
// status is already an error).
void sf__srv_call_finish(sf__srv_call *c, const ProtobufCMessage *reply);

// sf__srv_call_alloc returns n zeroed bytes of the call's arena (a job, a
// reply's parts). Out of memory it finishes the call with
// RESOURCE_EXHAUSTED and returns NULL: the caller just returns.
void *sf__srv_call_alloc(sf__srv_call *c, size_t n);

// sf__srv_reply_new is sf__srv_call_alloc for a message of type desc,
// initialized (protobuf_c_message_init): the reply, typically.
void *sf__srv_reply_new(
    sf__srv_call *c, const ProtobufCMessageDescriptor *desc);

// sf__srv_write_done finishes a call whose store write has ended; the
// done functions of sf__srv_call_write end with it. code != 0 fails the
// call with the status its write function set (or code's own message);
// 0 answers reply, or Empty when reply is NULL.
void sf__srv_write_done(
    sf__srv_call *c, int code, const ProtobufCMessage *reply);

static inline sf_server *
sf__srv_of_svcmgr(Svcfleet__V1__ServiceManager_Service *s)
{
	return ((sf_server *) ((char *) s - offsetof(sf_server, s_svcmgr)));
}
static inline sf_server *
sf__srv_of_clusters(Svcfleet__V1__ClusterRegistry_Service *s)
{
	return ((sf_server *) ((char *) s - offsetof(sf_server, s_clusters)));
}
static inline sf_server *
sf__srv_of_system(Svcfleet__V1__System_Service *s)
{
	return ((sf_server *) ((char *) s - offsetof(sf_server, s_system)));
}

// sf__srv_call_allowed: may the caller do verb on resource at (cluster, ns)?
// Used by handlers that filter items of a list.
bool sf__srv_call_allowed(const sf__srv_call *c, const char *resource,
    const char *verb, const char *cluster, const char *ns);

// sf__srv_call_write submits a store write on behalf of c with the call's
// audit record attached: fn runs in the writer, done finishes the call.
// arg must begin with the sf__srv_call pointer (the audit function finds the
// call through it). On a closing store the call fails with UNAVAILABLE.
void sf__srv_call_write(sf__srv_call *c, sf_store_write_fn fn,
    sf_store_done_fn done, void *arg, bool dry_run);

// i19, audit that reads: status and health reports of the reconciler
// (methods listed in rpc.c) are "system" events. A successful one is not
// recorded unless so_audit_system_reports (it is counted in the RPC
// metrics either way); a list shows system events only when asked to.
bool sf__srv_audit_is_system(const Svcfleet__V1__AuditEvent *ev);

// sf__srv_call_defer runs fn(arg) for c on a worker thread (never the
// store's writer): a write whose validation must be done again (issue 17).
// fn then finishes the call or submits its write again.
void sf__srv_call_defer(sf__srv_call *c, void (*fn)(void *arg), void *arg);

// sf__srv_call_deny finishes c with its status (PERMISSION_DENIED or
// UNAUTHENTICATED), recording the denial in the audit log first.
void sf__srv_call_deny(sf__srv_call *c);

// sf__srv_call_expired is true when the call's deadline has passed.
bool sf__srv_call_expired(const sf__srv_call *c);

// --------------------------------------------------------------- handlers

void sf__srv_handlers_services_init(sf_server *srv);
void sf__srv_handlers_clusters_init(sf_server *srv);
void sf__srv_handlers_access_init(sf_server *srv);
void sf__srv_handlers_system_init(sf_server *srv);

// sf__srv_cluster_basis: what validating a Service against cluster record
// cl reads of it (its limits: nodePort range, MetalLB pools as last
// reported) and, with placement, what placing and rendering a
// FleetService's copy reads too (name, labels), packed into a's memory.
// The store's writer compares it with the record it finds to know the
// validation done before the write still holds. NULL (*len 0) for no
// record, or out of memory.
uint8_t *sf__srv_cluster_basis(
    const Svcfleet__V1__Cluster *cl, bool placement, sf_arena *a, size_t *len);

// ------------------------------------------------------------- live reads

// What a live read (live.c) asks the cluster for.
enum sf__srv_live_kind {
	SF__SRV_LIVE_NAMESPACES, // ListNamespaces
	SF__SRV_LIVE_WORKLOADS,  // ListWorkloads in a namespace
	SF__SRV_LIVE_POOLS,      // ListPools (MetalLB)
};

// sf__srv_live_start answers call c from cluster cl (its record, with
// credentials) on a thread of its own; ns is the namespace of a workloads
// read. It finishes the call, now when it cannot start (too many at once,
// stopping), or later from that thread.
void sf__srv_live_start(sf__srv_call *c, enum sf__srv_live_kind kind,
    const Svcfleet__V1__Cluster *cl, const char *ns);

// i19-ssd: server-side dry runs (`svcfleet diff --server-side`). Each item
// names a cluster, the Service as the reconciler would apply it there
// (stored form: the apply body is kube.h's sf_kube_body of it) and where
// its answer goes; all of it lives in the call's arena.
typedef struct sf__srv_dryrun_item {
	const char                  *di_cluster;
	const Svcfleet__V1__Service *di_svc;
	Svcfleet__V1__ServerDryRun  *di_out; // filled
	// A FleetService's copy: its server_code and server_answer get the
	// dry run's HTTP status and words too (NULL: none).
	Svcfleet__V1__FleetRendered *di_rendered;
} sf__srv_dryrun_item;

// At most this many clusters per call (RESOURCE_EXHAUSTED beyond).
#define SF__SRV_DRYRUN_MAX 64

// sf__srv_live_dryrun_start asks every item's cluster, on a live-read
// thread and all clusters at once, for the object it holds (GET) and a
// dry run of the apply (PATCH ?dryRun=All with the reconciler's field
// manager), each request bounded by the live-read timeout and each answer
// by 256 KiB, fills the items, then finishes call c with reply (which
// holds the items' di_out). A cluster that cannot answer says so in its
// item. The caller has authorized the call (a read and a write of each
// Service). Finishes c at once when it cannot start.
void sf__srv_live_dryrun_start(sf__srv_call *c, const ProtobufCMessage *reply,
    sf__srv_dryrun_item *items, size_t n);

// sf__srv_live_init readies the count of live-read threads.
// sf__srv_live_fini refuses new live reads, waits until the running ones
// have finished (each is bounded by its timeout), and releases the count;
// safe when init never ran.
void sf__srv_live_init(sf_server *srv);
void sf__srv_live_fini(sf_server *srv);

// sf__srv_cluster_strip_credentials hides a cluster's secrets from the reply
// unless the caller may read them.
void sf__srv_cluster_strip_credentials(
    const sf__srv_call *c, Svcfleet__V1__Cluster *cl);

// ------------------------------------------------------------------ dedupe

// Writes are remembered by request id for a while, so a client that sends
// the same request again (after a timeout, or nng's resend) gets the first
// reply instead of a second write.
// max_bytes bounds the replies kept (the oldest finished ones go first).
struct sf__srv_dedupe *sf__srv_dedupe_alloc(
    size_t max_entries, size_t max_bytes, int64_t ttl_ms);
void sf__srv_dedupe_free(struct sf__srv_dedupe *d);
// What sf__srv_dedupe_begin found for a request id.
enum sf__srv_dedupe_seen {
	// A new request: the caller proceeds and calls sf__srv_dedupe_end
	// with its reply.
	SF__SRV_DEDUPE_NEW,
	// Answered before: *reply and *len are a malloc'd copy of that reply
	// for the caller to send (and free).
	SF__SRV_DEDUPE_ANSWERED,
	// The same request is still in flight (or its reply could not be
	// copied): the caller is told to try again later.
	SF__SRV_DEDUPE_BUSY,
};
enum sf__srv_dedupe_seen sf__srv_dedupe_begin(
    struct sf__srv_dedupe *d, const char *key, void **reply, size_t *len);
// sf__srv_dedupe_end keeps reply for key; reply NULL forgets the key (a
// retry runs again).
void sf__srv_dedupe_end(
    struct sf__srv_dedupe *d, const char *key, const void *reply, size_t len);

// ------------------------------------------------------------- limits

// sf__srv_limits_defaults fills the bounds left 0 in o (contexts already set).
void sf__srv_limits_defaults(sf_server_opts *o);
// sf__srv_limits_start counts connections on srv->s_sock from now on (call it
// before the listeners start), refusing those beyond the limit.
int  sf__srv_limits_start(sf_server *srv, sf_status *st);
void sf__srv_limits_stop(sf_server *srv);
// sf__srv_limits_active marks the connection a request came on as active
// (no longer closed as idle); only IP connections are tracked.
void sf__srv_limits_active(sf_server *srv, nng_pipe p);
// sf__srv_limits_admit: may a request just received be served (false: it is
// answered RESOURCE_EXHAUSTED at once)? Called from nng's callback.
bool sf__srv_limits_admit(sf_server *srv);

// ------------------------------------------------------------- listeners

// sf__srv_listener_open creates and starts one listener on the server's socket
// (size limits, ipc permissions, TLS). Returns 0 or a code with st set.
int sf__srv_listener_open(
    sf_server *srv, const char *url, nng_listener *out, sf_status *st);
// The ipc listener guard: see ipcguard.c.
int  sf__srv_ipcguard_start(sf_server *srv);
void sf__srv_ipcguard_stop(sf_server *srv);

// --------------------------------------------------- reconciler credential

// sf__srv_recon_token_mint fills s_recon_token with a fresh in-memory token of
// the embedded reconciler's identity (role reconciler). Returns 0 or an
// SF_* code (no randomness, out of memory).
int sf__srv_recon_token_mint(sf_server *srv);

// ------------------------------------------------------------------- watch

int sf__srv_watch_init(sf_server *srv);
// sf__srv_watch_fini answers every parked call and stops the watch thread;
// later parks are answered at once. sf__srv_watch_free releases the rest.
void sf__srv_watch_fini(sf_server *srv);
void sf__srv_watch_free(sf_server *srv);
// sf__srv_watch_park keeps call c until a commit passes since (or until its
// wait ends), then answers it as sf__srv_watch_try does.
void sf__srv_watch_park(sf__srv_call         *c,
    const Svcfleet__V1__WatchServicesRequest *req, int64_t until_us);
// sf__srv_watch_try answers c now when there are events (or an error) and
// returns true; false means nothing newer than req->since_revision.
bool sf__srv_watch_try(sf__srv_call          *c,
    const Svcfleet__V1__WatchServicesRequest *req, bool final);

// ----------------------------------------------------------------- metrics

// srvmetrics.c: registers the server's metrics in so_metrics (nothing when
// it is NULL) and keeps them current.
int  sf__srv_metrics_init(sf_server *srv);
void sf__srv_metrics_fini(sf_server *srv);
// Counts a finished call (method, status, latency); any thread.
void sf__srv_metrics_call_done(sf__srv_call *c);
// Records a durable commit's batch size; on the writer thread.
void sf__srv_metrics_commit(sf_server *srv);

// ----------------------------------------------------------------------
// The RPC engine's entry points for server.c (rpc.c).

// sf__srv_rpc_start opens the contexts on srv->s_sock and starts the workers.
int sf__srv_rpc_start(sf_server *srv, sf_status *st);
// sf__srv_rpc_drain waits (at most max_ms) until no request is in flight.
void sf__srv_rpc_drain(sf_server *srv, int64_t max_ms);
// sf__srv_rpc_stop stops the workers and the bulk threads: no handler runs
// after it; calls waiting for the store are still answered (their replies
// go out through the contexts, which stay).
void sf__srv_rpc_stop(sf_server *srv);
// sf__srv_rpc_close stops every context's aio, closes the socket and frees
// the contexts: after the store is closed (its last done callbacks reply
// through them).
void sf__srv_rpc_close(sf_server *srv);
// How long a stop waits for calls in flight before it closes the store
// (which answers what still waits for it): DRAIN_MAX_MS; tests shorten it.
extern _Atomic int64_t sf__srv_drain_max_ms;

// ----------------------------------------------------------------------
// Authentication (auth.c): who is calling — bearer tokens (stored, from a
// static token file, or minted in memory for the embedded reconciler), the
// first start's admin token, and the role bindings that apply to a caller.
//
// Stored tokens look like "sfk_<id>_<secret>": the id (12 hex digits)
// names the record, the secret (32 random bytes, base64url) is kept only as
// its SHA-256 and compared in constant time. Tokens from --token-auth-file
// (kube-apiserver's static CSV format) are kept in memory as hashes too.

#define SF__SRV_TOKEN_ID_LEN     12
#define SF__SRV_TOKEN_SECRET_LEN 43
// "sfk_" id "_" secret, plus the NUL.
#define SF__SRV_TOKEN_MAX \
	(4 + SF__SRV_TOKEN_ID_LEN + 1 + SF__SRV_TOKEN_SECRET_LEN + 1)

// sf__srv_auth_open loads the static token file (NULL: none) and, when the
// store holds no role binding at all (a first start), creates the admin token
// and its binding and writes the token to <data-dir>/admin.token (mode 0600).
// Returns 0 or a code with st set (a malformed token file names the line).
int  sf__srv_auth_open(sf_server *srv, const char *token_file, sf_status *st);
void sf__srv_auth_close(sf_server *srv);

// sf__srv_auth_authenticate finds the caller of c from its envelope's token
// and fills c->c_ident (memory from the call's arena). Returns 0 or
// SF_UNAUTHENTICATED with a reason in c->c_status.
int sf__srv_auth_authenticate(sf__srv_call *c);

// Handlers that change bindings or tokens call these so caches reload.
void sf__srv_auth_bindings_changed(sf_server *srv);
void sf__srv_auth_tokens_changed(sf_server *srv);

// sf__srv_auth_token_make creates a token: the full token text into token
// (SF__SRV_TOKEN_MAX bytes), its id, and the SHA-256 of its secret. Returns 0
// or SF_INTERNAL when the OS has no randomness to give.
int sf__srv_auth_token_make(
    char *token, char id[SF__SRV_TOKEN_ID_LEN + 1], uint8_t hash[32]);

// sf__srv_auth_mint_internal registers an in-memory token (lost at exit) for a
// user holding role (global roles only: admin, reconciler) and writes it
// into token (SF__SRV_TOKEN_MAX bytes). The embedded reconciler uses it.
int sf__srv_auth_mint_internal(
    sf_server *srv, const char *user, const char *role, char *token);

// ------------------------------------------------------------------ bounds
// (issue 17) bounds.c: what one request may hold, checked before any work.

// sf__srv_bounds_prescan counts the encoded fields of a payload of message
// type d (nested ones too) without decoding it. Returns 0, or
// SF_RESOURCE_EXHAUSTED with st set when there are too many.
int sf__srv_bounds_prescan(const ProtobufCMessageDescriptor *d,
    const uint8_t *data, size_t len, sf_status *st);

// sf__srv_bounds_check checks a decoded request: every repeated field
// against its cap, every string field for valid UTF-8. Returns 0, or
// SF_INVALID_ARGUMENT with a violation (field path, reason) per problem.
int sf__srv_bounds_check(const ProtobufCMessage *m, sf_status *st);

// sf__srv_peer_key returns a key for the IP address of pipe p's peer (0
// when local: ipc://, inproc://) and writes its text ("local" else) into
// text (cap bytes) when text is not NULL.
uint64_t sf__srv_peer_key(nng_pipe p, char *text, size_t cap);

// ---------------------------------------------------------------- authfail
// (issue 17) authfail.c: failed authentications are counted, rate-limited
// per source, and audited at most once per source per interval.

int  sf__srv_authfail_init(sf_server *srv);
void sf__srv_authfail_fini(sf_server *srv);
// sf__srv_authfail finishes call c, whose authentication failed
// (c_status UNAUTHENTICATED): audited (the first failure of its source in
// an interval, with how many were not), answered without a record, or
// refused with RESOURCE_EXHAUSTED when its source fails too often.
void sf__srv_authfail(sf__srv_call *c);

// --------------------------------------------------------------- pagetoken
// (issue 17) pagetoken.c: ListServices page tokens are sealed.

// sf__srv_page_key_derive derives the page-token key from the secret key.
void sf__srv_page_key_derive(
    sf_server *srv, const uint8_t *secret, size_t len);
// sf__srv_page_token_seal returns the token to hand out for the store's
// plain token ("" for ""), from c's arena; NULL when out of memory.
char *sf__srv_page_token_seal(sf__srv_call *c, const char *plain);
// sf__srv_page_token_open gives the store's token in a caller's token
// ("" for ""); SF_INVALID_ARGUMENT when it is not one of ours.
int sf__srv_page_token_open(sf__srv_call *c, const char *token, char **plain);
// ------------------------------------------------ claims (claims.c, issue 16)

int  sf__srv_claims_init(sf_server *srv);
void sf__srv_claims_fini(sf_server *srv);
// The handlers of RegisterReconciler, RenewReconciler,
// UnregisterReconciler and ListReconcilers; each finishes its call.
void sf__srv_claims_register(
    sf__srv_call *c, const Svcfleet__V1__RegisterReconcilerRequest *in);
void sf__srv_claims_renew(
    sf__srv_call *c, const Svcfleet__V1__RenewReconcilerRequest *in);
void sf__srv_claims_unregister(
    sf__srv_call *c, const Svcfleet__V1__UnregisterReconcilerRequest *in);
void sf__srv_claims_list(sf__srv_call *c);

// The claims a write function read once for all the reports it checks.
// Zeroed is empty; sf__srv_claims_view_fini frees it.
typedef struct sf__srv_claims_view {
	sf_store_claim *cv_c;
	size_t          cv_n;
	bool            cv_read;
} sf__srv_claims_view;
void sf__srv_claims_view_fini(sf__srv_claims_view *cv);
// sf__srv_claims_check: may a report on cluster carrying token (from
// reconciler rid) be stored? 0, or FAILED_PRECONDITION when token is not
// the cluster's current claim (0 passes only while nobody claims it).
int sf__srv_claims_check(sf_server *srv, sf__srv_claims_view *cv,
    const char *cluster, uint64_t token, const char *rid, sf_status *st);
// Reports refused so far for a stale token.
uint64_t sf__srv_claims_refused(sf_server *srv);
// Fill owner, claim_token, unowned_since_ms and last_sync_ms of replies.
void sf__srv_claims_decorate_clusters(
    sf__srv_call *c, Svcfleet__V1__Cluster **cl, size_t n);
// Statuses of clusters unowned for over 2 x TTL read SYNC_STATE_UNKNOWN.
void sf__srv_claims_decorate_services(
    sf__srv_call *c, Svcfleet__V1__Service **svc, size_t n);
// Appends the readiness warning (clusters unowned for over 2 x TTL).
void sf__srv_claims_warning(sf_server *srv, sf_buf *why);
// ------------------------------------------- FleetService (issue 18)

void sf__srv_handlers_fleet_init(sf_server *srv);
// sf__srv_fleet_fill_status fills fs's per-cluster states from its copies
// and its summary ("2/3 synced"), memory from a.
void sf__srv_fleet_fill_status(sf_store *s, sf_arena *a, sf_fleet *fs);
// sf__srv_fleet_resync re-places one stored FleetService against the
// clusters cls (leniently: a cluster that cannot take its copy is skipped
// with the reason in status), waiting for the write. *changed: something
// was written. Returns the write's code.
int sf__srv_fleet_resync(sf_server *srv, sf_arena *a, const sf_fleet *fs,
    Svcfleet__V1__Cluster **cls, size_t ncls, bool *changed);
// sf__srv_fleet_addresses fills r: every cluster's MetalLB pools (overlaps
// flagged) and every requested or assigned LoadBalancer address.
int sf__srv_fleet_addresses(sf_store *s, sf_arena *a,
    Svcfleet__V1__Cluster **cls, size_t ncls, Svcfleet__V1__AddressesReply *r,
    sf_status *st);
// The placement loop: started with the server, stopped before the store
// closes. sf__srv_fleet_loop_kick makes it look at the clusters now.
int  sf__srv_fleet_loop_start(sf_server *srv);
void sf__srv_fleet_loop_stop(sf_server *srv);
void sf__srv_fleet_loop_kick(sf_server *srv);
// i18-addr: full rounds the loop has done (tests wait for them), and how
// often a round looks at FleetServices whose clusters did not change
// (5000 ms; tests shorten it).
uint64_t sf__srv_fleet_loop_rounds(sf_server *srv);
// i17-turns: FleetServices the loop rendered again (svcfleet_fleet_renders_
// total).
uint64_t               sf__srv_fleet_loop_renders(sf_server *srv);
extern _Atomic int64_t sf__srv_fleet_loop_full_ms;

// i18-addr: the address plan's claims (fleet_addrs.c): one store record
// per LoadBalancer address listing the FleetServices' copies that
// request it, read and written by the FleetService writes themselves.
//
// One address a copy asks for, as the claim records it.
typedef struct sf__srv_addr_want {
	const char *aw_addr;    // one address (sf__srv_fleet_addrs_split)
	const char *aw_cluster; // the copy's cluster
	uint32_t    aw_pos;     // its place in the FleetService's status
	bool        aw_shared;  // it asks to share the address
	const char *aw_key;     // its sharing key ("": any)
} sf__srv_addr_want;
// sf__srv_fleet_addrs_share: does the copy svc of fs ask to share its
// address (spec.shareAddresses, or MetalLB's allow-shared-ip annotation,
// whose value is then *key; else "")?
void sf__srv_fleet_addrs_share(
    const sf_fleet *fs, const sf_service *svc, bool *shared, const char **key);
// sf__srv_fleet_addrs_can_share: may two requests share an address (both
// ask to, and their keys agree or one names none)?
bool sf__srv_fleet_addrs_can_share(
    bool shared_a, const char *key_a, bool shared_b, const char *key_b);
// sf__srv_fleet_addrs_split: the addresses of a Service's lb_address
// ("a" or MetalLB's "a,b"), each in one canonical text; memory from a.
int sf__srv_fleet_addrs_split(
    sf_arena *a, const char *lb_address, const char ***out, size_t *n);
// sf__srv_fleet_addrs_clash (in a write function): reads w's address's
// claim in txn; *clash is "FleetService ns/name in cluster c" for the
// first copy of another FleetService than fleet ("namespace/name")
// requesting it that w may not share it with, else NULL. Returns 0 or the
// store's code.
int sf__srv_fleet_addrs_clash(sf_store_txn *txn, sf_arena *a,
    const char *fleet, const sf__srv_addr_want *w, const char **clash);
// sf__srv_fleet_addrs_claim (in a write function): fleet's claims become
// want (n of them; none: it gives them all up): the claim of every
// address in want or requested in old's status (NULL: none) is rewritten
// when it changes.
int sf__srv_fleet_addrs_claim(sf_store_txn *txn, sf_arena *a,
    const char *fleet, const sf__srv_addr_want *want, size_t n,
    const sf_fleet *old);
// sf__srv_fleet_addrs_backfill (at start): claims the addresses of the
// FleetServices a store holds from before the claims, once per store
// (then the marker record says it is done; no address starts with '~').
#define SF__SRV_ADDRS_MARKER "~claimed"
int sf__srv_fleet_addrs_backfill(sf_server *srv, sf_status *st);
// Tests only (NULL otherwise): called by every FleetService write
// function, with the FleetService's "namespace/name", after it has
// checked its addresses and before it writes anything.
extern void (*_Atomic sf__srv_fleet_addrs_hook)(const char *fleet);
// Tests only (NULL otherwise): called with the method's path by every
// reply just before it is handed to nng, on the thread that sends it.
extern void (*_Atomic sf__srv_reply_hook)(const char *method);
// i18-plan: plain Services in the address plan (fleet_addrs.c).
// sf__srv_svc_addrs_of: the address(es) a Service asks for ("" when none
// or not a LoadBalancer).
const char *sf__srv_svc_addrs_of(const sf_service *svc);
// sf__srv_addrs_holder_name: "FleetService ns/n in cluster c" or
// "Service ns/n in cluster c".
const char *sf__srv_addrs_holder_name(
    sf_arena *a, const Svcfleet__V1__AddressHolder *h);
// sf__srv_svc_addrs_clash (in a write function): the first address of the
// plain Service svc that another requester holds without sharing
// (*clash NULL: none; one svc holds already is not a clash).
int sf__srv_svc_addrs_clash(sf_store_txn *txn, sf_arena *a,
    const sf_service *svc, const char **addr,
    const Svcfleet__V1__AddressHolder **clash);
// sf__srv_svc_addrs_claim (in a write function): the plain Service's
// claims become those nw asks for (NULL: it is deleted), giving up those
// only old asked for.
int sf__srv_svc_addrs_claim(sf_store_txn *txn, sf_arena *a,
    const sf_service *old, const sf_service *nw);
// sf__srv_svc_addrs_backfill (at start): claims the addresses of the
// stored plain Services once; clashes among them are kept and logged.
int sf__srv_svc_addrs_backfill(sf_server *srv, sf_status *st);
// sf__srv_addrs_conflicts: r->conflicts, one line per requested address
// (as r->addresses lists them) whose claim has two holders that may not
// share it (kept from before the plan covered them).
int sf__srv_addrs_conflicts(
    sf_store *s, sf_arena *a, Svcfleet__V1__AddressesReply *r, sf_status *st);

#endif // SF_SERVER_INTERNAL_H
