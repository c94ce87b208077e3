// store.h: svcfleet's durable desired state.
//
// One store holds Services, cluster records, role bindings, tokens and the
// audit log, plus a change feed for WatchServices. Every write transaction
// gets a new value of one global revision (uint64); an object's
// resource_version is the revision of its last write.
//
// The server reaches the store only through this header; the functions
// below dispatch through an operations table (sf_store_ops, as nng's
// protocol ops), so that backends can be added without touching the
// handlers. There are two: etcd (store/etcd_store.c, several svcfleetd on
// one etcd cluster; see sf_store_etcd_ops) and LMDB (store/lmdb_store.c):
// one environment in the data directory, named databases, readers that
// never block the writer, and a single writer thread that commits batches
// (group commit): concurrent write requests share one durable commit.
//
// Threading: every function is safe to call from any thread. Write
// functions (sf_store_write_fn) run on the writer thread only (on etcd,
// writes flagged SF_STORE_CONCURRENT run on one of several writer
// threads, see there).
//
// Memory: messages returned by reads are unpacked with the allocator the
// caller passes (an arena's, usually); with NULL they are heap-allocated
// and the caller frees them with the matching __free_unpacked(p, NULL).
#ifndef SF_STORE_H
#define SF_STORE_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "svcfleet.pb-c.h"

typedef struct sf_store     sf_store;
typedef struct sf_store_txn sf_store_txn;

typedef struct sf_store_opts {
	const char *so_dir;       // data directory (created 0700)
	uint64_t    so_map_size;  // initial LMDB map size, 0 = 64 MiB
	uint32_t    so_batch_max; // max requests per commit, 0 = 256
	uint32_t    so_feed_keep; // change-feed entries kept, 0 = 100000
	bool        so_nosync;    // tests/benchmarks only: no fsync
	// Longest wait, after the first request of a batch, for as many
	// requests as the last batch held (group commit); 0 = 1000 µs, < 0 =
	// never wait. Never waits without fsync.
	int32_t  so_linger_us;
	uint64_t so_audit_keep;       // audit events kept, 0 = 1,000,000
	int64_t  so_audit_max_age_ms; // older ones dropped, 0 = 90 days
	// 32 bytes: the AES-256-GCM key that seals cluster credentials
	// (token, client certificate and key) in the store; copied. NULL:
	// credentials are stored as given (store tests only); a store that
	// holds sealed credentials then refuses to open.
	const uint8_t *so_secret_key;
	// Without so_secret_key, open a store whose credentials are sealed
	// anyway (their cluster reads then fail with FAILED_PRECONDITION):
	// for tools that check or copy a store without using credentials.
	bool so_sealed_ok;
	// Writes queued for the writer at most (beyond: sf_store_submit
	// fails with SF_RESOURCE_EXHAUSTED), 0 = 4096.
	uint32_t so_queue_max;

	// The etcd backend (sf_store_etcd_ops; so_dir, so_map_size,
	// so_linger_us and so_nosync do not apply to it, so_batch_max counts
	// concurrent writes per etcd transaction (0 = 16, i15-batch); its
	// so_feed_keep counts revisions of etcd's history, which it compacts
	// beyond that). Strings are copied.
	const char *so_etcd_endpoints; // "http://10.0.0.1:2379,https://..."
	const char *so_etcd_ca_file;   // PEM CA bundle (NULL: the system's)
	const char *so_etcd_cert_file; // client certificate (PEM), or NULL
	const char *so_etcd_key_file;  // its private key (PEM), or NULL
	const char *so_etcd_prefix; // every key under it, NULL = "/svcfleet/"
	int32_t     so_etcd_timeout_ms; // one request to one member, 0 = 2000
	// One operation, across members and elections, before it fails
	// with SF_UNAVAILABLE, 0 = 10000.
	int32_t  so_etcd_retry_ms;
	uint32_t so_etcd_max_txn_ops; // etcd's --max-txn-ops, 0 = 128
	// etcd's --max-request-bytes, 0 = 1.5 MiB (its default).
	uint32_t so_etcd_max_request_bytes;
} sf_store_opts;

#define SF_STORE_SECRET_KEY_LEN 32

typedef struct sf_store_stats {
	uint64_t ss_revision;   // current revision
	uint64_t ss_commits;    // durable commits done by the writer
	uint64_t ss_writes;     // requests applied (successful children)
	uint64_t ss_failed;     // requests whose write function failed
	uint64_t ss_batch_max;  // largest batch committed
	uint64_t ss_map_size;   // current map size in bytes
	uint64_t ss_map_used;   // bytes in use (last page * page size)
	uint64_t ss_services;   // number of stored Services
	uint64_t ss_feed_first; // oldest revision still in the change feed
	uint64_t ss_map_grows;  // times the map was grown on MDB_MAP_FULL
} sf_store_stats;

// sf_store_open opens (creating when absent) the LMDB store in o->so_dir.
// Returns 0, or an SF_* code with a message in st (a directory that cannot
// be created, a file that is not an LMDB environment, a schema from a newer
// svcfleet, a directory already opened by another store: FAILED_
// PRECONDITION, ...). On failure *out is NULL. One process may open one
// directory once; the map grown on MDB_MAP_FULL is kept across reopens.
int sf_store_open(sf_store **out, const sf_store_opts *o, sf_status *st);

// sf_store_close stops the writer after the queued requests are done
// (their done callbacks run), waits for reads in progress, then closes the
// environment. NULL is fine. Like free(), closing twice is an error; never
// call it from a write, done or hook function.
void sf_store_close(sf_store *s);

// sf_store_rekey (LMDB backend, offline): opens the store in o->so_dir
// with its current key o->so_secret_key, seals every cluster's credentials
// again with new_key in one transaction (recording the new key's id), then
// rewrites data.mdb compacted, so no page sealed with the old key (or left
// in the clear by an older svcfleetd) survives in the file. *n gets the
// number of clusters re-sealed. Fails with FAILED_PRECONDITION when the
// store is open elsewhere or the current key is not the store's; nothing
// is changed then. Once the new key is committed it returns 0, even when
// the compacting rewrite fails (that is logged as a warning).
int sf_store_rekey(const sf_store_opts *o,
    const uint8_t new_key[SF_STORE_SECRET_KEY_LEN], uint64_t *n,
    sf_status *st);

void     sf_store_stats_get(sf_store *s, sf_store_stats *out);
uint64_t sf_store_revision(sf_store *s);

// sf_store_installation_id returns a random id made when the store was
// first created (valid while s is open); the reconciler puts it into the
// svcfleet.io/owner annotation of what it creates.
const char *sf_store_installation_id(sf_store *s);

// ------------------------------------------------------------ services

// Keys: (cluster, namespace, name). Services sort by cluster, then
// namespace, then name, so a (cluster, namespace) list is one range.
typedef struct sf_store_key {
	const char *k_cluster;
	const char *k_namespace;
	const char *k_name;
} sf_store_key;

// sf_store_service_get reads one Service. Returns 0 and *out, or
// SF_NOT_FOUND.
int sf_store_service_get(sf_store *s, const sf_store_key *key,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out);

// A list filter: may skip whole keys before decoding (keyfn), and decoded
// objects (objfn). Either may be NULL (accept). Return true to keep.
typedef struct sf_store_filter {
	bool (*f_key)(void *arg, const char *cluster, const char *ns);
	bool (*f_obj)(void *arg, const Svcfleet__V1__Service *svc);
	void *f_arg;
} sf_store_filter;

typedef struct sf_store_list_req {
	const char *lr_cluster;        // NULL or "" = every cluster
	const char *lr_namespace;      // NULL or "" = every namespace (needs
	                               // lr_cluster set to be one range)
	uint32_t        lr_limit;      // page size, 1..5000
	const char     *lr_page_token; // "" or NULL = first page
	sf_store_filter lr_filter;
	// i15-perf: > 0: the page may come from data at least this new
	// rather than from a linearizable read (on etcd: the watch-fed view;
	// see sf_store_service_get_min). Pages after the first stay at the
	// token's revision.
	uint64_t lr_min_revision;
} sf_store_list_req;

typedef struct sf_store_list_res {
	Svcfleet__V1__Service **lr_items; // from alloc
	size_t                  lr_n;
	char                   *lr_next_token; // from alloc; "" when done
	uint64_t                lr_revision;   // snapshot revision
} sf_store_list_res;

// sf_store_service_list returns up to lr_limit Services in key order, all
// read in one snapshot, starting after the page token. Page tokens are
// opaque, survive restarts and concurrent writes (the next page starts
// after the last key examined: nothing is returned twice, nothing that
// existed throughout is skipped). On LMDB each page reads the current
// state; on etcd every page reads at the first page's revision (the token
// carries it), so the pages are one snapshot, lr_revision on each, unless
// etcd has compacted that revision away meanwhile: the list then goes on
// from the token's key at the current revision. A malformed token or one from
// a list with other cluster/namespace filters is SF_INVALID_ARGUMENT, as is
// lr_limit outside 1..5000. The cost of a page does not depend on how many
// Services are stored outside the range visited: a page examines at most
// 10000 keys, so with a selective filter it may hold fewer than lr_limit
// Services (even none) and still carry a next token; callers follow tokens
// until "" (a last page may also be empty). With lr_namespace but no
// lr_cluster, each cluster's namespace range is visited in turn. With alloc
// NULL, free lr_items and lr_next_token with free() and each item with
// svcfleet__v1__service__free_unpacked(item, NULL).
int sf_store_service_list(sf_store *s, const sf_store_list_req *req,
    ProtobufCAllocator *alloc, sf_store_list_res *res, sf_status *st);

// ------------------------------------------------------------ clusters

int sf_store_cluster_get(sf_store *s, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out);
// Every cluster in name order (there are few). *out is from alloc.
int sf_store_cluster_list(sf_store *s, ProtobufCAllocator *alloc,
    Svcfleet__V1__Cluster ***out, size_t *n);

// --------------------------------------------------------- change feed

// sf_store_feed_read returns the changes with revision > since, at most max
// (1..10000), in revision order, each a WatchEvent from alloc (DELETED
// carries the last stored state, its resource_version set to the deletion
// revision). filter (may be NULL) selects events. *next is the revision to
// pass next time (the last revision examined, even when filtered out, or
// the current revision when nothing is newer). Returns SF_OUT_OF_RANGE when
// since is older than the oldest kept entry minus one, or newer than the
// current revision (the caller must relist), SF_INVALID_ARGUMENT when max
// is 0 (above 10000 means 10000). A write that changed several Services
// has several events with one revision; a revision is never split between
// two reads, so *n may exceed max by the rest of the last revision's
// events. *out is an array from alloc (free() it when alloc is NULL).
// At most 10000 entries are examined per call, so a selective filter may
// return fewer than max events (even none) with *next advanced.
int sf_store_feed_read(sf_store *s, uint64_t since, uint32_t max,
    const sf_store_filter *filter, ProtobufCAllocator *alloc,
    Svcfleet__V1__WatchEvent ***out, size_t *n, uint64_t *next);

// sf_store_set_commit_hook installs fn, called on the writer thread after
// every durable commit with the revision now current (for waking long
// polls). It must not block. One hook; NULL removes it.
void sf_store_set_commit_hook(
    sf_store *s, void (*fn)(void *arg, uint64_t revision), void *arg);

// -------------------------------------------------------------- writes

// sf_store_on_writer is true on a thread of the store's writer, where
// write functions run (issue 17: tests check that no validation does).
bool sf_store_on_writer(void);

// A write function runs on the writer thread inside its own nested
// transaction: everything it does is committed together, or, when it
// returns nonzero, nothing is (the child transaction is aborted). It may be
// called more than once for one request (when the batch is retried after
// the map grows), so it must only touch the store through txn and its own
// arg. It returns 0 or an SF_* code with st filled.
typedef int (*sf_store_write_fn)(sf_store_txn *txn, void *arg, sf_status *st);

// Called on the writer thread once per request after the batch is durable
// (or has failed): code is the write function's result or the commit's
// failure; revision is the revision its writes carry (0 when it wrote
// nothing). Must not block: hand the reply to nng and return.
typedef void (*sf_store_done_fn)(void *arg, int code, uint64_t revision);

// Optional: record what happened (audit) whatever the write's outcome, in
// the same durable commit. Runs after fn in the same child transaction
// when fn succeeded, or in a fresh child when it failed. code/st are fn's
// result.
typedef int (*sf_store_audit_fn)(
    sf_store_txn *txn, void *arg, int code, const sf_status *st);

enum sf_store_write_flags {
	SF_STORE_DRY_RUN = 1, // run fn, then abort its child; nothing stored
	// etcd-perf (issue 15): fn, its audit and done functions touch
	// nothing but txn, their arg and thread-safe state, so the store may
	// run them at the same time as other writes with this flag (the etcd
	// backend does, each an optimistic transaction retried on conflict;
	// LMDB ignores it). A write without it still runs alone: after every
	// write submitted before it, and before every write submitted after.
	SF_STORE_CONCURRENT = 2,
};

typedef struct sf_store_write {
	sf_store_write_fn w_fn;
	sf_store_audit_fn w_audit; // may be NULL
	sf_store_done_fn  w_done;
	void             *w_arg;
	sf_status        *w_status; // where fn reports; owned by the caller
	int               w_flags;
	// Where the store allocates the strings it writes into the caller's
	// messages (the uid set by sf_store_txn_service_put; created_by kept
	// on update). Used on the writer thread between submit and w_done, so
	// the caller must not use it meanwhile. NULL: memory owned by the
	// store, valid until w_done returns (copy what must live longer).
	ProtobufCAllocator *w_alloc;
} sf_store_write;

// sf_store_submit queues a write. The struct is copied. Returns 0 (w_done
// will be called exactly once), SF_UNAVAILABLE when the store is closing
// or SF_RESOURCE_EXHAUSTED when so_queue_max writes are already waiting
// (w_done is not called then).
int sf_store_submit(sf_store *s, const sf_store_write *w);

// sf_store_write_sync submits w and waits until it is done. Returns the
// request's code (the write function's result, a commit failure, or
// SF_UNAVAILABLE when the store is closing) and, when revision is not NULL,
// its revision (0 when it wrote nothing). w->w_done, when set, is called
// as usual before this returns. Never call it from a write, audit, done or
// hook function: the writer thread would wait for itself.
int sf_store_write_sync(
    sf_store *s, const sf_store_write *w, uint64_t *revision);

// Inside a write function ---------------------------------------------
//
// These return 0 or an SF_* code. On SF_INVALID_ARGUMENT (a key part empty
// or a key over LMDB's 511 bytes), SF_FAILED_PRECONDITION,
// SF_RESOURCE_EXHAUSTED or SF_INTERNAL/SF_DATA_LOSS (the database itself)
// they also write a message into the request's w_status (first failure
// wins). SF_NOT_FOUND and SF_ALREADY_EXISTS leave the status alone: a write
// function may expect them (apply = create, else update) and words them
// itself.

// The revision this request's writes will carry.
uint64_t sf_store_txn_revision(sf_store_txn *txn);
// Whether this request has changed desired state so far (it will take a
// revision): false for an update that found nothing to change. For audit
// functions, which run after the write function.
bool sf_store_txn_wrote(sf_store_txn *txn);
// The current wall time used for create/update stamps in this batch.
int64_t sf_store_txn_now_ms(sf_store_txn *txn);

int sf_store_txn_service_get(sf_store_txn *txn, const sf_store_key *key,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out);

// sf_store_txn_service_put stores svc under its metadata's key. The store
// keeps the bookkeeping: on create (no stored object) it sets uid (random
// UUID), generation 1, create_time_ms; on update it keeps uid,
// create_time_ms and created_by, and bumps generation when the spec differs
// from the stored one (the packed ServiceSpec bytes are compared, so any
// change of a spec field counts, metadata and status changes do not). It
// always sets resource_version to the txn revision and update_time_ms,
// writing those back into svc (strings from w_alloc). Everything else
// (labels, annotations, finalizers, deleting, status, updated_by) is stored
// as the caller set it. It maintains the node-port index (spec nodePorts;
// an empty protocol is indexed as TCP) and appends ADDED/MODIFIED to the
// change feed. create_only: fail with SF_ALREADY_EXISTS when present. A
// nodePort/protocol already indexed for another Service of the cluster
// fails with SF_FAILED_PRECONDITION. On the etcd backend the revision is
// known only once etcd commits: resource_version is then the one the write
// expects, and the store sets it to the committed one after the commit,
// before w_done, so svc must stay valid until w_done returns (allocate it
// from w_alloc, or memory that lives as long).
int sf_store_txn_service_put(
    sf_store_txn *txn, Svcfleet__V1__Service *svc, bool create_only);

// sf_store_txn_service_delete removes a Service (index and feed DELETED
// entry included). SF_NOT_FOUND when absent.
int sf_store_txn_service_delete(sf_store_txn *txn, const sf_store_key *key);

// sf_store_txn_nodeport_owner finds which Service in cluster requests
// nodePort port/protocol. Returns 0 and the owner's key strings (from
// alloc), or SF_NOT_FOUND.
int sf_store_txn_nodeport_owner(sf_store_txn *txn, const char *cluster,
    const char *protocol, int32_t port, ProtobufCAllocator *alloc,
    sf_store_key *owner);

// sf_store_txn_cluster_count_services counts Services of a cluster (stops
// counting at limit when limit > 0).
int sf_store_txn_cluster_count_services(
    sf_store_txn *txn, const char *cluster, uint64_t limit, uint64_t *n);

int sf_store_txn_cluster_get(sf_store_txn *txn, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out);
// The same without the credentials (token, client certificate and key are
// left empty, not unsealed): for writes that need the cluster's settings
// only, such as every write of a Service.
int sf_store_txn_cluster_spec_get(sf_store_txn *txn, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out);
// Sets resource_version (and create/update time as for services); on
// etcd, c must stay valid until w_done returns, as svc above.
int sf_store_txn_cluster_put(
    sf_store_txn *txn, Svcfleet__V1__Cluster *c, bool create_only);
int sf_store_txn_cluster_delete(sf_store_txn *txn, const char *name);

// ----------------------------------------------------- identity records

// Small keyed collections of the identity work: tokens (StoredToken by
// token id) and role bindings (RoleBinding by binding id), and
// FleetServices. Ids are printable, 1..128 bytes. Writing one is a change of
// desired state (it takes a revision).
typedef enum sf_store_kind {
	SF_STORE_TOKENS   = 0,
	SF_STORE_BINDINGS = 1,
	// Replies of writes by request id, so that a write retried through
	// another svcfleetd replica is applied once (issue 15). etcd only
	// (LMDB: SF_UNIMPLEMENTED; one svcfleetd remembers them in memory);
	// kept 10 to 15 min (an etcd lease), never listed, not watched.
	// Read with svcfleet.v1.StoredReply's descriptor in a write
	// (sf_store_txn_record_get), its `revision` is the record's
	// revision (i15-create).
	SF_STORE_REQUESTS = 2,
	// i19: a Service's spec history (ServiceHistory, one record per
	// Service, id made by h_services.c's history_id), bounded by the
	// server.
	SF_STORE_HISTORY = 3,
	// FleetServices (issue 18): FleetService by "namespace/name".
	SF_STORE_FLEET = 4,
	// i18-addr: the address plan's claims (AddressClaim by address).
	SF_STORE_ADDRS = 5,
} sf_store_kind;

// sf_store_record_get reads one record and unpacks it as desc. Returns 0,
// SF_NOT_FOUND or SF_DATA_LOSS (undecodable).
int sf_store_record_get(sf_store *s, sf_store_kind kind, const char *id,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    ProtobufCMessage **out);
// sf_store_record_list reads every record of a kind, in id order.
int sf_store_record_list(sf_store *s, sf_store_kind kind,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    ProtobufCMessage ***out, size_t *n);

int sf_store_txn_record_get(sf_store_txn *txn, sf_store_kind kind,
    const char *id, const ProtobufCMessageDescriptor *desc,
    ProtobufCAllocator *alloc, ProtobufCMessage **out);
// sf_store_txn_record_put stores msg under id (create_only: fail with
// SF_ALREADY_EXISTS when present).
int sf_store_txn_record_put(sf_store_txn *txn, sf_store_kind kind,
    const char *id, const ProtobufCMessage *msg, bool create_only);
// sf_store_txn_record_delete: SF_NOT_FOUND when absent.
int sf_store_txn_record_delete(
    sf_store_txn *txn, sf_store_kind kind, const char *id);

// ----------------------------------------------------------------- audit

// sf_store_txn_audit_append records ev, giving it the next audit id (set
// in ev->id). Meant for audit functions (sf_store_audit_fn), so the record
// commits with the write it describes. It takes no revision of its own.
// The oldest events beyond so_audit_keep, or older than
// so_audit_max_age_ms, are dropped as batches commit.
int sf_store_txn_audit_append(sf_store_txn *txn, Svcfleet__V1__AuditEvent *ev);

typedef struct sf_store_audit_query {
	uint64_t aq_before; // return events with id < aq_before; 0 = newest
	uint32_t aq_limit;  // 1..1000
	// Optional filter; return true to keep.
	bool (*aq_keep)(void *arg, const Svcfleet__V1__AuditEvent *ev);
	void *aq_arg;
} sf_store_audit_query;

// sf_store_audit_list returns up to aq_limit events, newest first, from one
// snapshot. *next is the aq_before of the next page, 0 when there is no
// more. Like listing, a page examines a bounded number of events, so a
// selective filter can return a short page with a next cursor.
int sf_store_audit_list(sf_store *s, const sf_store_audit_query *q,
    ProtobufCAllocator *alloc, Svcfleet__V1__AuditEvent ***out, size_t *n,
    uint64_t *next);

// ------------------------------------ reconciler leases and claims (issue 16)
//
// Which reconcilers are alive and which cluster each holds: members
// attached to leases, and exclusive claims on clusters attached to their
// owner's lease, each with a fencing token. A lease that is not renewed
// within its TTL takes its member and claims with it. They are not desired
// state: they take no revision of the change feed and are not audited.
// The LMDB backend keeps them in memory (the one svcfleetd that opened
// the store is the only one using them; after a restart reconcilers
// register again, and tokens still grow, being numbered from the wall
// clock in microseconds at open); the etcd backend keeps them as keys
// attached to etcd leases (P~rec/<id>, P~claim/<cluster>), shared by every
// replica, the token being the claim key's create_revision.
//
// Every function returns 0 or an SF_* code with st set; SF_UNAVAILABLE
// when etcd does not answer.

typedef struct sf_store_member {
	char    *sm_id;
	uint64_t sm_lease;
	// Wall ms at which the lease runs out unless renewed (on etcd, from
	// the TTL etcd says is left; 0 when it could not say).
	int64_t  sm_expires_ms;
	uint8_t *sm_val; // what sf_store_member_put stored
	size_t   sm_len;
} sf_store_member;

typedef struct sf_store_claim {
	char    *sc_cluster;
	char    *sc_owner; // member id
	uint64_t sc_lease;
	uint64_t sc_token; // fencing token: every new claim gets a larger one
} sf_store_claim;

// sf_store_lease_grant makes a lease of ttl_ms (1 s .. 1 h; etcd rounds
// up to whole seconds). SF_INVALID_ARGUMENT outside that range.
int sf_store_lease_grant(
    sf_store *s, int64_t ttl_ms, uint64_t *lease, sf_status *st);
// sf_store_lease_renew restarts the lease's TTL; SF_NOT_FOUND when it has
// run out (or was revoked): its member and claims are gone then.
int sf_store_lease_renew(sf_store *s, uint64_t lease, sf_status *st);
// sf_store_lease_revoke ends a lease at once, with its member and claims.
// SF_NOT_FOUND when it had already ended.
int sf_store_lease_revoke(sf_store *s, uint64_t lease, sf_status *st);
// sf_store_member_put stores (replaces) member id's record v (at most 4
// KiB) attached to lease. SF_NOT_FOUND when the lease has ended.
int sf_store_member_put(sf_store *s, const char *id, uint64_t lease,
    const uint8_t *v, size_t n, sf_status *st);
// sf_store_member_list returns the live members in id order; free with
// sf_store_members_free.
int sf_store_member_list(
    sf_store *s, sf_store_member **out, size_t *n, sf_status *st);
void sf_store_members_free(sf_store_member *m, size_t n);
// sf_store_claim_acquire claims cluster for owner under lease, if nobody
// holds it: 0 and the new claim's token, SF_ALREADY_EXISTS when it is
// held (by anyone; on etcd a send whose answer was lost and that made the
// claim under this very lease returns that claim's token instead),
// SF_NOT_FOUND when the lease has ended.
int sf_store_claim_acquire(sf_store *s, const char *cluster, const char *owner,
    uint64_t lease, uint64_t *token, sf_status *st);
// sf_store_claim_release drops the claim on cluster if its token is
// token; SF_NOT_FOUND when there is no such claim (anymore).
int sf_store_claim_release(
    sf_store *s, const char *cluster, uint64_t token, sf_status *st);
// sf_store_claim_list returns every live claim in cluster order; free
// with sf_store_claims_free.
int sf_store_claim_list(
    sf_store *s, sf_store_claim **out, size_t *n, sf_status *st);
void sf_store_claims_free(sf_store_claim *c, size_t n);
// ------------------------------------------------- several replicas (i15)

// sf_store_health asks the store's backend whether it can serve now, in
// about 1.5 s at most: on etcd, a linearizable read (it fails while etcd
// has no quorum or no member answers: SF_UNAVAILABLE naming the endpoints
// tried); on LMDB always 0. For /readyz.
int sf_store_health(sf_store *s, sf_status *st);

// i15-perf (DESIGN §9): sf_store_service_get_min is sf_store_service_get
// for a caller that has seen revision min_rev (0: none): on etcd the
// Service comes from the replica's watch-fed view once it has reached
// min_rev (waiting up to a second), else from a linearizable read; *rev
// (may be NULL) is the revision the answer is at. On LMDB, whose reads
// are always current, it is sf_store_service_get and *rev 0.
int sf_store_service_get_min(sf_store *s, const sf_store_key *key,
    uint64_t min_rev, ProtobufCAllocator *alloc, Svcfleet__V1__Service **out,
    uint64_t *rev);
// i15-create: sf_store_service_get_at reads the Service as it was at
// revision rev (etcd's history): SF_NOT_FOUND when it did not exist then,
// SF_OUT_OF_RANGE when etcd has compacted that revision away, and
// SF_UNIMPLEMENTED on a backend that keeps no history (LMDB).
int sf_store_service_get_at(sf_store *s, const sf_store_key *key, uint64_t rev,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out);
// sf_store_cluster_specs_min lists the clusters as sf_store_cluster_list
// does, but without their credentials, for a caller that has seen
// min_rev (0: none): on etcd from the view once it has reached min_rev,
// like sf_store_service_get_min; elsewhere sf_store_cluster_list.
int sf_store_cluster_specs_min(sf_store *s, uint64_t min_rev,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster ***out, size_t *n);
// sf_store_revision_seen is the newest revision of a write this store
// committed (at least that of every write it answered), without waiting;
// 0 on LMDB. Every replica's view reaches it (each commit puts a key the
// watches see).
uint64_t sf_store_revision_seen(sf_store *s);
// sf_store_revision_reached is the revision the view has reached (on
// etcd: its watch's; 0 on LMDB). A read's answer names at most this: a
// linearizable read's etcd revision may be one no watch of the prefix
// ever brings (a write elsewhere in etcd), which no view would reach.
uint64_t sf_store_revision_reached(sf_store *s);
// sf_store_cluster_spec_get reads one cluster's record without its
// credentials, for a check made before a write (issue 17's validation off
// the writer): on etcd from the view when it has reached this store's
// last commit (no round trip; possibly older than another replica's
// write, so the caller compares what it read when it writes), elsewhere
// sf_store_cluster_get. SF_NOT_FOUND when there is none.
int sf_store_cluster_spec_get(sf_store *s, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out);

// sf_store_record_generation returns a number that changes whenever a
// record of kind may have changed through another process sharing the
// store (on etcd: another svcfleetd replica's write, as this store's watch
// brings it, within milliseconds); 0 on LMDB, whose one process knows its
// own writes. Caches of records compare it.
uint64_t sf_store_record_generation(sf_store *s, sf_store_kind kind);

// ----------------------------------------------------------- backends

// sf_store_ops: what a backend implements. Every slot is required.
typedef struct sf_store_ops {
	size_t      so_size; // sizeof(sf_store_ops), for versioning
	const char *so_name; // "lmdb"
	int (*so_open)(sf_store **, const sf_store_opts *, sf_status *);
	void (*so_close)(sf_store *);
	void (*so_stats)(sf_store *, sf_store_stats *);
	const char *(*so_installation_id)(sf_store *);
	int (*so_service_get)(sf_store *, const sf_store_key *,
	    ProtobufCAllocator *, Svcfleet__V1__Service **);
	int (*so_service_list)(sf_store *, const sf_store_list_req *,
	    ProtobufCAllocator *, sf_store_list_res *, sf_status *);
	int (*so_cluster_get)(sf_store *, const char *, ProtobufCAllocator *,
	    Svcfleet__V1__Cluster **);
	int (*so_cluster_list)(sf_store *, ProtobufCAllocator *,
	    Svcfleet__V1__Cluster ***, size_t *);
	int (*so_feed_read)(sf_store *, uint64_t, uint32_t,
	    const sf_store_filter *, ProtobufCAllocator *,
	    Svcfleet__V1__WatchEvent ***, size_t *, uint64_t *);
	void (*so_set_commit_hook)(
	    sf_store *, void (*)(void *, uint64_t), void *);
	int (*so_submit)(sf_store *, const sf_store_write *);
	// Transaction operations (used by write functions).
	uint64_t (*so_txn_revision)(sf_store_txn *);
	int64_t (*so_txn_now_ms)(sf_store_txn *);
	int (*so_txn_service_get)(sf_store_txn *, const sf_store_key *,
	    ProtobufCAllocator *, Svcfleet__V1__Service **);
	int (*so_txn_service_put)(
	    sf_store_txn *, Svcfleet__V1__Service *, bool);
	int (*so_txn_service_delete)(sf_store_txn *, const sf_store_key *);
	int (*so_txn_nodeport_owner)(sf_store_txn *, const char *,
	    const char *, int32_t, ProtobufCAllocator *, sf_store_key *);
	int (*so_txn_cluster_count_services)(
	    sf_store_txn *, const char *, uint64_t, uint64_t *);
	int (*so_txn_cluster_get)(sf_store_txn *, const char *,
	    ProtobufCAllocator *, Svcfleet__V1__Cluster **);
	int (*so_txn_cluster_spec_get)(sf_store_txn *, const char *,
	    ProtobufCAllocator *, Svcfleet__V1__Cluster **);
	int (*so_txn_cluster_put)(
	    sf_store_txn *, Svcfleet__V1__Cluster *, bool);
	int (*so_txn_cluster_delete)(sf_store_txn *, const char *);
	// Identity records and audit (appended; see so_size).
	int (*so_record_get)(sf_store *, sf_store_kind, const char *,
	    const ProtobufCMessageDescriptor *, ProtobufCAllocator *,
	    ProtobufCMessage **);
	int (*so_record_list)(sf_store *, sf_store_kind,
	    const ProtobufCMessageDescriptor *, ProtobufCAllocator *,
	    ProtobufCMessage ***, size_t *);
	int (*so_txn_record_get)(sf_store_txn *, sf_store_kind, const char *,
	    const ProtobufCMessageDescriptor *, ProtobufCAllocator *,
	    ProtobufCMessage **);
	int (*so_txn_record_put)(sf_store_txn *, sf_store_kind, const char *,
	    const ProtobufCMessage *, bool);
	int (*so_txn_record_delete)(
	    sf_store_txn *, sf_store_kind, const char *);
	int (*so_txn_audit_append)(sf_store_txn *, Svcfleet__V1__AuditEvent *);
	int (*so_audit_list)(sf_store *, const sf_store_audit_query *,
	    ProtobufCAllocator *, Svcfleet__V1__AuditEvent ***, size_t *,
	    uint64_t *);
	bool (*so_txn_wrote)(sf_store_txn *);
	// Reconciler leases and claims (issue 16).
	int (*so_lease_grant)(sf_store *, int64_t, uint64_t *, sf_status *);
	int (*so_lease_renew)(sf_store *, uint64_t, sf_status *);
	int (*so_lease_revoke)(sf_store *, uint64_t, sf_status *);
	int (*so_member_put)(sf_store *, const char *, uint64_t,
	    const uint8_t *, size_t, sf_status *);
	int (*so_member_list)(
	    sf_store *, sf_store_member **, size_t *, sf_status *);
	int (*so_claim_acquire)(sf_store *, const char *, const char *,
	    uint64_t, uint64_t *, sf_status *);
	int (*so_claim_release)(
	    sf_store *, const char *, uint64_t, sf_status *);
	int (*so_claim_list)(
	    sf_store *, sf_store_claim **, size_t *, sf_status *);
	// Several replicas (issue 15); NULL in a backend that has nothing to
	// say (the dispatch answers 0).
	int (*so_health)(sf_store *, sf_status *);
	uint64_t (*so_record_generation)(sf_store *, sf_store_kind);
	// i15-perf: reads at least as new as a revision, and the newest
	// revision seen; NULL in a backend whose reads are always current
	// (the dispatch reads as usual and answers 0).
	int (*so_service_get_min)(sf_store *, const sf_store_key *, uint64_t,
	    ProtobufCAllocator *, Svcfleet__V1__Service **, uint64_t *);
	uint64_t (*so_revision_seen)(sf_store *);
	// i15-create: a Service at a past revision (NULL: SF_UNIMPLEMENTED).
	int (*so_service_get_at)(sf_store *, const sf_store_key *, uint64_t,
	    ProtobufCAllocator *, Svcfleet__V1__Service **);
	int (*so_cluster_specs_min)(sf_store *, uint64_t, ProtobufCAllocator *,
	    Svcfleet__V1__Cluster ***, size_t *);
	uint64_t (*so_revision_reached)(sf_store *);
	// One cluster without credentials, from the view (NULL: cluster_get).
	int (*so_cluster_spec_get)(sf_store *, const char *,
	    ProtobufCAllocator *, Svcfleet__V1__Cluster **);
	// i18-plan: operations a write function may still add to its
	// transaction (NULL: no bound; see sf_store_txn_ops_left).
	uint32_t (*so_txn_ops_left)(sf_store_txn *, uint32_t *);
	// i18-wide: a write split over several transactions (NULL: one
	// transaction holds any write; see sf_store_txn_part).
	void (*so_txn_part)(sf_store_txn *, uint32_t);
	int (*so_txn_split_guard)(sf_store_txn *, sf_store_kind, const char *);
} sf_store_ops;

// The LMDB backend.
extern const sf_store_ops sf_store_lmdb_ops;

// The etcd backend: every record in an etcd v3 cluster (o->so_etcd_*),
// shared by any number of stores in other processes (svcfleetd replicas).
// What differs from LMDB, by design: the revision is etcd's, so writes of
// other replicas, audit records of failed writes and the store's own
// bookkeeping take revisions too (a write's revision is still the one its
// objects carry); there is no group commit (etcd batches); a write
// function's reads and writes must fit one etcd transaction (so_etcd_
// max_txn_ops compares and as many writes, else SF_RESOURCE_EXHAUSTED);
// sf_store_txn_revision is the revision the write will most likely get,
// and the messages a write function stored get their resource_version set
// to the real one after the commit, before w_done (so they must live until
// then); an etcd that does not answer within so_etcd_retry_ms fails reads
// and writes with SF_UNAVAILABLE (a write then says whether it may have
// been applied). store/README.md has the design.
extern const sf_store_ops sf_store_etcd_ops;

// sf_store_backend returns the backend called name ("lmdb", "etcd"), or
// NULL.
const sf_store_ops *sf_store_backend(const char *name);

// sf_store_open_backend opens a store with the backend called name (NULL
// or "" = "lmdb"); an unknown name is SF_INVALID_ARGUMENT.
int sf_store_open_backend(
    const char *name, sf_store **out, const sf_store_opts *o, sf_status *st);

// sf_store_open_with opens a store with a given backend (sf_store_open
// uses LMDB). Every sf_store begins with a pointer to its ops table, so
// the dispatch functions above can find it:
//   struct sf_store { const sf_store_ops *s_ops; ... };
// and every sf_store_txn likewise begins with { const sf_store_ops *t_ops; }.
int sf_store_open_with(const sf_store_ops *ops, sf_store **out,
    const sf_store_opts *o, sf_status *st);

// i18-plan: sf_store_txn_ops_left (in a write function) is how many more
// reads or writes of distinct keys the write's transaction can take
// (UINT32_MAX: no bound, as on LMDB); 0 once one was refused for the
// bound (SF_RESOURCE_EXHAUSTED). *max (may be NULL) gets the bound (etcd's
// --max-txn-ops, so_etcd_max_txn_ops), 0 when there is none. One more key
// is left for the write's audit record. A write function that may touch
// many keys reads it to refuse, with its own words, what cannot fit.
uint32_t sf_store_txn_ops_left(sf_store_txn *txn, uint32_t *max);

// i18-wide: a write too wide for one etcd transaction (a FleetService on
// many clusters). A write function names the part of the write each key it
// touches from now on belongs to (sf_store_txn_part; part 0, the head, is
// where every write starts and where the writer's audit and request
// records go; a key touched in two parts belongs to the lower one) and the
// record that guards the split (sf_store_txn_split_guard, a record the
// head reads or writes). When all of it fits one transaction, it is one,
// as before. Otherwise the head (with as many parts as fit) commits first,
// the other parts follow in further transactions, each comparing the keys
// its part read (at the function's snapshot) and the guard record: still
// as the write's previous transaction left it (put again, same value, by
// each, so that a write that read the guard before a part committed must
// run again; absent when the head deleted it). A newer write of the guard
// record thus stops an older write's remaining parts, and the older one's
// parts never land after a newer one's head. A part whose own keys changed
// after the snapshot is not written (logged; the function's caller heals
// it, as the placement loop does for FleetServices); the write's outcome
// is the head's. Each part must fit one transaction alone (else
// SF_RESOURCE_EXHAUSTED, as any write that does not fit). No-ops on LMDB,
// whose one transaction holds any write.
void sf_store_txn_part(sf_store_txn *txn, uint32_t part);
int  sf_store_txn_split_guard(
     sf_store_txn *txn, sf_store_kind kind, const char *id);

#endif // SF_STORE_H
