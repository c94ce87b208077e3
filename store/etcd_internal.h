// etcd_internal.h: what the files of the etcd backend share.
//
// Not part of the store's API: only etcd_*.c and the store's tests include
// it. The design (keys, transactions, the feed, paging, exactly-once) is
// explained in store/README.md; in short, under the key prefix P
// ("/svcfleet/" unless so_etcd_prefix says otherwise):
//
//   P meta/schema            "2"
//   P meta/installation_id   uuid, created once (create-if-absent)
//   P meta/secret_key_id     8 bytes, the sealing key's id
//   P meta/start             put by every store as it opens (feed.c)
//   P svc/cluster\0ns\0name\0  packed Service, resource_version 0
//   P np/cluster\0proto\0port  the owner's svc key (without P svc/)
//   P cl/name\0               packed Cluster without its credentials
//   P sec/name\0              the credentials, sealed (seal.c)
//   P tok/id\0, P bind/id\0    packed StoredToken, RoleBinding
//   P txn/<ms hex>-<random>    a write's marker (exactly-once), or under
//   P ~txn/ when the write changes a watched key (i15-create)
//   P ~audit/<hex(~id)>        packed AuditEvent, newest first
//
// An object's resource_version is its key's mod_revision, filled in when
// it is read: a value cannot hold the revision of its own write. Every
// store watches [P, P~): everything but the audit log, whose records would
// otherwise cross every replica's watch.
#ifndef SF_STORE_ETCD_INTERNAL_H
#define SF_STORE_ETCD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "etcd_client.h"
#include "etcd_hooks.h"
#include "status.h"
#include "store.h"
#include "store_internal.h"

#define SF__STORE_ETCD_PREFIX_DEFAULT "/svcfleet/"
#define SF__STORE_ETCD_PREFIX_MAX     256
#define SF__STORE_ETCD_KEY_MAX \
	(SF__STORE_ETCD_PREFIX_MAX + 16 + SF__STORE_KEY_MAX)
#define SF__STORE_ETCD_TXN_OPS   128 // etcd's --max-txn-ops default
#define SF__STORE_ETCD_ATTEMPTS  64  // optimistic re-runs of one write
#define SF__STORE_ETCD_QUEUE_MAX 4096
// Markers of writes older than this are deleted by the janitor: a write's
// retries (so_etcd_retry_ms) and any send of it still queued in a member
// (etcd fails a proposal after about 7 s) end long before.
#define SF__STORE_ETCD_MARKER_TTL_MS (2 * 60 * 1000)
#define SF__STORE_ETCD_JANITOR_MS    (60 * 1000)
// Writer threads (etcd-perf): writes flagged SF_STORE_CONCURRENT run on
// any of them at once, each a round trip to etcd most of its time.
#define SF__STORE_ETCD_WRITERS 16
// i15-batch: writes flagged SF_STORE_CONCURRENT that wait in the queue
// when a writer takes one share its transaction, up to so_batch_max (this
// default when 0; 1: one write per transaction), and at most
// SF__STORE_ETCD_INFLIGHT (etcd_hooks.h) such transactions are in flight:
// the rest queue, and go together.
#define SF__STORE_ETCD_BATCH_DEFAULT 16
#define SF__STORE_ETCD_BATCH_MAX     64 // so_batch_max beyond: this

// A full etcd key: P, a section and the backend-neutral key.
typedef struct sf__store_ekey {
	uint8_t k_b[SF__STORE_ETCD_KEY_MAX];
	size_t  k_n;
} sf__store_ekey;

// One queued write request.
typedef struct sf__store_etcd_req sf__store_etcd_req;
struct sf__store_etcd_req {
	sf_store_write      rq_w;
	sf__store_etcd_req *rq_next;
	sf_status rq_st;    // reports go here when rq_w.w_status is NULL
	sf_arena  rq_arena; // strings the store writes into messages
	int       rq_code;
	uint64_t  rq_rev;
};

// One event of the ring (etcd_feed.c).
typedef struct sf__feed_ev {
	uint64_t fe_rev;
	uint8_t *fe_packed; // a packed WatchEvent (malloc)
	size_t   fe_n;
} sf__feed_ev;

struct sf_store {
	const sf_store_ops *s_ops; // first: store.c dispatches through it
	sf__store_etcd     *s_etcd;
	char                s_prefix[SF__STORE_ETCD_PREFIX_MAX + 1];
	size_t              s_plen;
	char                s_instid[40];
	uint32_t            s_feed_keep;
	uint64_t            s_audit_keep;
	int64_t             s_audit_max_age_ms;
	uint32_t            s_max_ops;
	int32_t             s_retry_ms;

	// Sealing (seal.c); without a key (tests only) credentials are
	// stored as given.
	bool    s_sealing;
	bool    s_sealed_ok;
	uint8_t s_secret_key[SF_STORE_SECRET_KEY_LEN];
	uint8_t s_key_id[SF__STORE_KEY_ID_LEN];

	// The write queue and its writer threads (etcd_writer.c): under
	// s_qmtx, how many concurrent writes run and whether an exclusive
	// one (or the janitor) does.
	pthread_mutex_t     s_qmtx;
	pthread_cond_t      s_qcv;
	bool                s_sync_ok;
	sf__store_etcd_req *s_qhead, *s_qtail;
	uint32_t            s_qlen, s_queue_max;
	bool                s_closing;
	int                 s_nwriters; // started
	pthread_t           s_writers[SF__STORE_ETCD_WRITERS];
	uint32_t            s_conc_running;
	bool                s_excl_running;
	uint32_t            s_batch_max;   // writes per transaction at most
	size_t              s_batch_bytes; // keys and values in one, at most
	_Atomic uint64_t    s_batch_seen;  // the largest batch committed
	int64_t             s_janitor_at;  // mono ms of the next janitor run

	// The feed (etcd_feed.c): a ring of service events from one watch
	// covering the revisions (f_lo, f_hi], under s_fmtx; s_fcv is
	// broadcast when f_hi moves.
	pthread_mutex_t        s_fmtx;
	pthread_cond_t         s_fcv;
	sf__feed_ev           *s_ring;
	size_t                 s_ring_start, s_ring_n, s_ring_cap;
	uint64_t               s_f_lo, s_f_hi;
	uint64_t               s_f_services; // Services at f_hi
	bool                   s_f_started;  // f_lo/f_hi are valid
	int                    s_f_err; // why the watch is down (0: it is up)
	sf__store_etcd_stream *s_stream;
	pthread_t              s_watcher;
	bool                   s_watcher_running;
	_Atomic bool           s_stopping;

	// The view (etcd_view.c, i15-perf), under s_fmtx: every key under
	// P svc/ and P cl/ at f_hi, in key order; it is also the state at
	// every revision from s_v_changed to f_hi. s_v_ok false: not seeded
	// (or out of memory) until the next epoch.
	struct sf__store_vent *s_v;
	size_t                 s_v_n, s_v_cap;
	bool                   s_v_ok;
	uint64_t               s_v_changed;
	_Atomic int            s_watch_delay_ms; // tests (etcd_hooks.h)

	pthread_mutex_t s_hookmtx;
	void (*s_hook)(void *, uint64_t);
	void *s_hookarg;

	// Revisions: the newest this store has seen in any answer, and the
	// newest of its own commits (the feed waits for its watch to reach
	// it, so a caller reads its own writes).
	_Atomic uint64_t s_known;
	_Atomic uint64_t s_last_write;
	_Atomic uint64_t s_compacted; // history is compacted up to here
	_Atomic uint64_t s_commits;
	_Atomic uint64_t s_writes;
	_Atomic uint64_t s_failed;
	_Atomic uint64_t s_db_size, s_db_used;

	// Several replicas (issue 15): the lease of request records
	// (etcd_txn.c, under s_lmtx: writers share it), and record
	// generations bumped by the watch when it brings a token or binding
	// (etcd_feed.c).
	pthread_mutex_t  s_lmtx;
	int64_t          s_req_lease;
	int64_t          s_req_lease_at; // mono ms of its grant
	_Atomic uint64_t s_gen_tokens, s_gen_bindings;
};

// One key of the view (etcd_view.c): its key and value live in one
// reference-counted block (i15-perf3), so a list takes a reference to each
// entry under the feed's lock instead of copying it.
typedef struct sf__store_vblob {
	_Atomic uint32_t b_ref;
	_Alignas(16) uint8_t b_data[]; // the key, then the value
} sf__store_vblob;
typedef struct sf__store_vent {
	uint8_t         *ve_k, *ve_v; // into ve_blob
	size_t           ve_kn, ve_vn;
	int64_t          ve_mod;
	sf__store_vblob *ve_blob;
} sf__store_vent;

// A key this write attempt read or will write (etcd_txn.c).
typedef struct sf__ekv {
	uint8_t *e_k;
	size_t   e_kn;
	bool     e_read;    // in the read set: compared at commit
	bool     e_blind;   // assumed absent, not read (kv_assume_absent)
	bool     e_existed; // present in the snapshot
	int64_t  e_mod;     // its mod_revision there (0: absent)
	uint8_t *e_snap;    // its value there (malloc)
	size_t   e_snapn;
	uint32_t e_part; // i18-wide: the part of the write it belongs to
	int      e_op;   // SF__EOP_*
	uint8_t *e_val;  // the value to put (malloc)
	size_t   e_valn;
	char    *e_what; // names the object in errors (malloc, may be NULL)
} sf__ekv;

enum { SF__EOP_NONE, SF__EOP_PUT, SF__EOP_DEL };

// A range this attempt read (counted): compared as "nothing in it changed
// after the snapshot".
typedef struct sf__erange {
	uint8_t *r_k, *r_end;
	size_t   r_kn, r_endn;
} sf__erange;

struct sf_store_txn {
	const sf_store_ops *t_ops; // first: store.c dispatches through it
	sf_store           *t_store;
	sf_status          *t_st;
	ProtobufCAllocator *t_alloc;
	int64_t             t_now;
	uint64_t            t_snap; // the snapshot revision, 0 before a read
	int                 t_err;  // the first failure of etcd under the fn
	bool                t_too_many; // i18-plan: refused for the op bound
	bool                t_wrote;
	bool                t_blind_ok; // creates may assume keys absent
	size_t              t_nblind;   // keys assumed so
	sf__ekv            *t_kv;
	size_t              t_nkv, t_capkv;
	sf__erange         *t_rg;
	size_t              t_nrg, t_caprg;
	// resource_version fields of the messages put, set to the commit's
	// revision after it (the messages must live until w_done).
	uint64_t **t_patch;
	uint32_t  *t_patch_part; // i18-wide: the part each belongs to
	size_t     t_npatch, t_cappatch;
	// i18-wide: the part keys touched now go to, the guard record's
	// key (t_guard_n 0: none) and, after the commit, each part's
	// revision (0: not written).
	uint32_t  t_part;
	uint8_t  *t_guard;
	size_t    t_guard_n;
	char     *t_guard_id; // the record's id (the test hook's)
	uint64_t *t_part_rev;
	size_t    t_npart_rev;
};

// ------------------------------------------------------ etcd_store.c

// sf__store_ekey_make builds P section inner into k. Returns 0 or -1 (too
// long).
int sf__store_ekey_make(const sf_store *s, const char *section,
    const void *inner, size_t n, sf__store_ekey *k);
// sf__store_ekey_end makes the end of the range of every key that begins with
// k: k with its last byte plus one.
void sf__store_ekey_end(const sf__store_ekey *k, sf__store_ekey *end);
// The revision seen in an answer: s_known moves forward.
void sf__store_etcd_saw(sf_store *s, uint64_t rev);
// sf__store_etcd_range asks for [k, end) (end NULL: k alone) at rev (0:
// current), limit 0 = all. keys_only/count_only as etcd has them. *resp
// is etcd's answer (json_decref()).
int sf__store_etcd_range(sf_store *s, const sf__store_ekey *k,
    const sf__store_ekey *end, uint64_t rev, int64_t limit, int flags,
    const char *what, json_t **resp, sf_status *st);
#define SF__RANGE_KEYS_ONLY  1
#define SF__RANGE_COUNT_ONLY 2
// sf__store_etcd_kv_value decodes the value of a kv object (malloc, see
// sf__store_etcd_unb64).
int sf__store_etcd_kv_value(const json_t *kv, uint8_t **v, size_t *n);
// sf__store_etcd_kv_key decodes a kv's key and checks it begins with P
// section; *inner points past them into the malloc'd *buf. Returns 0 or -1.
int sf__store_etcd_kv_key(const sf_store *s, const json_t *kv,
    const char *section, uint8_t **buf, const uint8_t **inner, size_t *n);
// Transaction pieces as the gateway's JSON has them (new references).
json_t *sf__store_etcd_op_put(
    const sf__store_ekey *k, const void *v, size_t n);
json_t *sf__store_etcd_op_del(
    const sf__store_ekey *k, const sf__store_ekey *end);
json_t *sf__store_etcd_op_range(const sf__store_ekey *k);
json_t *sf__store_etcd_cmp_absent(const sf__store_ekey *k); // CREATE(k) == 0
json_t *sf__store_etcd_cmp_mod(
    const sf__store_ekey *k, int64_t mod); // MOD(k) == mod
// MOD of every key in [k, end) < rev: nothing in it written after rev - 1.
json_t *sf__store_etcd_cmp_mod_below(
    const sf__store_ekey *k, const sf__store_ekey *end, uint64_t rev);
// sf__store_etcd_txn_kv returns kvs[0] of the i-th range answer of a txn, or
// NULL.
json_t *sf__store_etcd_txn_kv(const json_t *resp, size_t i);
// sf__store_etcd_compact_due compacts etcd's history when so_feed_keep asks
// for it (a local check; the writer calls it after each commit).
void sf__store_etcd_compact_due(sf_store *s);

// ------------------------------------------------------ etcd_txn.c

void sf__store_etxn_init(sf_store_txn *t, sf_store *s, sf__store_etcd_req *rq);
void sf__store_etxn_fini(sf_store_txn *t);
// Whether the attempt has anything to commit.
bool sf__store_etxn_dirty(const sf_store_txn *t);
// sf__store_etxn_commit sends the attempt as one transaction. Returns 0 with
// *rev (committed, possibly by an earlier send whose answer was lost),
// SF_ABORTED when something it read changed (run the write again), or
// another SF_* code with the request's status set.
int sf__store_etxn_commit(sf_store_txn *t, uint64_t *rev);
// i15-batch: several writes in one transaction (etcd_writer.c).
// sf__store_etxn_batchable tells whether attempt t may share a transaction
// (it writes, in one part, without a guard), with its compares, writes and
// bytes of keys and values (the marker not counted).
bool sf__store_etxn_batchable(
    const sf_store_txn *t, size_t *cmp, size_t *wr, size_t *bytes);
// sf__store_etxn_conflict tells whether a and b have a key in common that
// either of them writes, or one writes a key in a range the other counted
// (one transaction cannot hold both: its compares would all pass before
// either put).
bool sf__store_etxn_conflict(const sf_store_txn *a, const sf_store_txn *b);
// sf__store_etxn_commit_batch sends the attempts ts[0..n) as one
// transaction with one marker, exactly once as a single attempt is.
// Returns 0 with *rev (all committed there), SF_ABORTED (none did: a
// compare failed), or another SF_* code with ts[0]'s status set (etcd
// refused or did not answer; when it did not, the batch may have been
// applied, and the status says so).
int sf__store_etxn_commit_batch(
    sf_store_txn *const *ts, size_t n, uint64_t *rev);
// i18-plan: sf_store_txn_ops_left on etcd.
uint32_t sf__store_etxn_ops_left(sf_store_txn *t, uint32_t *max);
// i18-wide: sf_store_txn_part and sf_store_txn_split_guard on etcd.
void sf__store_etxn_part(sf_store_txn *t, uint32_t part);
int  sf__store_etxn_split_guard(
     sf_store_txn *t, sf_store_kind kind, const char *id);
void sf__store_etxn_patch(sf_store_txn *t, uint64_t rev);

uint64_t sf__store_etcd_txn_revision(sf_store_txn *t);
bool     sf__store_etcd_txn_wrote(sf_store_txn *t);
int64_t  sf__store_etcd_txn_now_ms(sf_store_txn *t);
int sf__store_etcd_txn_service_get(sf_store_txn *t, const sf_store_key *key,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out);
int sf__store_etcd_txn_service_put(
    sf_store_txn *t, Svcfleet__V1__Service *svc, bool create_only);
int sf__store_etcd_txn_service_delete(
    sf_store_txn *t, const sf_store_key *key);
int sf__store_etcd_txn_nodeport_owner(sf_store_txn *t, const char *cluster,
    const char *protocol, int32_t port, ProtobufCAllocator *alloc,
    sf_store_key *owner);
int sf__store_etcd_txn_cluster_count_services(
    sf_store_txn *t, const char *cluster, uint64_t limit, uint64_t *n);
int sf__store_etcd_txn_cluster_get(sf_store_txn *t, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out);
int sf__store_etcd_txn_cluster_spec_get(sf_store_txn *t, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out);
int sf__store_etcd_txn_cluster_put(
    sf_store_txn *t, Svcfleet__V1__Cluster *c, bool create_only);
int sf__store_etcd_txn_cluster_delete(sf_store_txn *t, const char *name);
int sf__store_etcd_txn_record_get(sf_store_txn *t, sf_store_kind kind,
    const char *id, const ProtobufCMessageDescriptor *desc,
    ProtobufCAllocator *alloc, ProtobufCMessage **out);
int sf__store_etcd_txn_record_put(sf_store_txn *t, sf_store_kind kind,
    const char *id, const ProtobufCMessage *msg, bool create_only);
int sf__store_etcd_txn_record_delete(
    sf_store_txn *t, sf_store_kind kind, const char *id);
int sf__store_etcd_txn_audit_append(
    sf_store_txn *t, Svcfleet__V1__AuditEvent *ev);

// The audit key of an id (newest first: the id inverted, in hex).
int sf__store_etcd_audit_key(
    const sf_store *s, uint64_t id, sf__store_ekey *k);

// ------------------------------------------------------ etcd_writer.c

int  sf__store_etcd_writer_start(sf_store *s);
void sf__store_etcd_writer_stop(sf_store *s);
int  sf__store_etcd_submit(sf_store *s, const sf_store_write *w);

// ------------------------------------------------------ etcd_read.c

int sf__store_etcd_service_get(sf_store *s, const sf_store_key *key,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out);
// i15-perf: from the view once it has reached min_rev (store.h).
int      sf__store_etcd_service_get_min(sf_store *s, const sf_store_key *key,
         uint64_t min_rev, ProtobufCAllocator *alloc, Svcfleet__V1__Service **out,
         uint64_t *rev);
uint64_t sf__store_etcd_revision_seen(sf_store *s);
int      sf__store_etcd_service_get_at(sf_store *s, const sf_store_key *key,
         uint64_t rev, ProtobufCAllocator *alloc, Svcfleet__V1__Service **out);
int      sf__store_etcd_cluster_spec_get(sf_store *s, const char *name,
         ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out);
uint64_t sf__store_etcd_revision_reached(sf_store *s);
int      sf__store_etcd_cluster_specs_min(sf_store *s, uint64_t min_rev,
         ProtobufCAllocator *alloc, Svcfleet__V1__Cluster ***out, size_t *n);
int      sf__store_etcd_service_list(sf_store *s, const sf_store_list_req *req,
         ProtobufCAllocator *alloc, sf_store_list_res *res, sf_status *st);
int      sf__store_etcd_cluster_get(sf_store *s, const char *name,
         ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out);
int      sf__store_etcd_cluster_list(sf_store *s, ProtobufCAllocator *alloc,
         Svcfleet__V1__Cluster ***out, size_t *n);
int sf__store_etcd_record_get(sf_store *s, sf_store_kind kind, const char *id,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    ProtobufCMessage **out);
int sf__store_etcd_record_list(sf_store *s, sf_store_kind kind,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    ProtobufCMessage ***out, size_t *n);
int sf__store_etcd_audit_list(sf_store *s, const sf_store_audit_query *q,
    ProtobufCAllocator *alloc, Svcfleet__V1__AuditEvent ***out, size_t *n,
    uint64_t *next);
// sf__store_etcd_unpack_service decodes a svc value and sets its
// resource_version to mod. NULL when undecodable.
Svcfleet__V1__Service *sf__store_etcd_unpack_service(
    const uint8_t *v, size_t n, int64_t mod, ProtobufCAllocator *alloc);
// sf__store_etcd_fill_credentials puts the credentials sealed in blob (NULL:
// none) into c.
int sf__store_etcd_fill_credentials(sf_store *s, const uint8_t *blob, size_t n,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster *c);

// ------------------------------------------------------ etcd_feed.c

// sf__store_etcd_feed_start starts the watch and waits for it to be up.
int  sf__store_etcd_feed_start(sf_store *s, sf_status *st);
void sf__store_etcd_feed_stop(sf_store *s);
int  sf__store_etcd_feed_read(sf_store *s, uint64_t since, uint32_t max,
     const sf_store_filter *filter, ProtobufCAllocator *alloc,
     Svcfleet__V1__WatchEvent ***out, size_t *n, uint64_t *next);
void sf__store_etcd_set_commit_hook(
    sf_store *s, void (*fn)(void *, uint64_t), void *arg);
// sf__store_etcd_feed_wait waits (at most ms) until the watch has reached rev.
// Returns true when it has.
bool sf__store_etcd_feed_wait(sf_store *s, uint64_t rev, int64_t ms);
// Several replicas (issue 15): sf_store_health and
// sf_store_record_generation of this backend.
int      sf__store_etcd_health(sf_store *s, sf_status *st);
uint64_t sf__store_etcd_record_generation(sf_store *s, sf_store_kind kind);
// The number of Services, as the watch last saw it.
uint64_t sf__store_etcd_feed_services(sf_store *s);

// ------------------------------------------------------ etcd_view.c

// i15-perf: the watch-fed view of the Services and clusters. Under
// s_fmtx: sf__store_view_clear (not seeded), sf__store_view_seed_kvs (puts a
// range answer's kvs; 0 or -1), sf__store_view_event (one watch event at rev).
void sf__store_view_clear(sf_store *s);
void sf__store_view_free(sf_store *s);
int  sf__store_view_seed_kvs(sf_store *s, const json_t *resp);
void sf__store_view_event(sf_store *s, const json_t *ev, uint64_t rev);
// sf__store_etcd_view_get copies key k's value and mod_revision out of the
// view when the view has reached min_rev: 1 (found), 0 (absent), -1 (the view
// cannot tell: ask etcd).
int sf__store_etcd_view_get(sf_store *s, const sf__store_ekey *k,
    uint64_t min_rev, uint8_t **v, size_t *vn, int64_t *mod);
// sf__store_etcd_view_range answers the range [k, end) (end NULL: k alone) at
// rev (0: the view's newest) with at most limit keys (0: all), in the
// shape of etcd's range answer, once the view has reached min_rev
// (waiting at most wait_ms). Returns 0 with *resp or -1 (ask etcd: the
// view does not reach min_rev in time, does not hold rev, or is not
// seeded).
int sf__store_etcd_view_range(sf_store *s, const sf__store_ekey *k,
    const sf__store_ekey *end, uint64_t rev, int64_t limit, uint64_t min_rev,
    int64_t wait_ms, json_t **resp);

// sf__store_etcd_view_copy is sf__store_etcd_view_range for a range with an
// end, answered with the view's entries (an array, malloc, each holding a
// reference to its entry's key and value: free with
// sf__store_view_copy_free), *more when there are more than limit, *at the
// revision they are at. 0 or -1 (ask etcd).
int  sf__store_etcd_view_copy(sf_store *s, const sf__store_ekey *k,
     const sf__store_ekey *end, uint64_t rev, int64_t limit, uint64_t min_rev,
     int64_t wait_ms, sf__store_vent **out, size_t *n, bool *more,
     uint64_t *at);
void sf__store_view_copy_free(sf__store_vent *e, size_t n);

// ------------------------------------------------------ etcd_lease.c

// Reconciler leases and claims (issue 16): sf_store_lease_* and
// sf_store_claim_* of store.h.
int sf__store_etcd_lease_grant(sf_store *, int64_t, uint64_t *, sf_status *);
int sf__store_etcd_lease_renew(sf_store *, uint64_t, sf_status *);
int sf__store_etcd_lease_revoke(sf_store *, uint64_t, sf_status *);
int sf__store_etcd_member_put(
    sf_store *, const char *, uint64_t, const uint8_t *, size_t, sf_status *);
int sf__store_etcd_member_list(
    sf_store *, sf_store_member **, size_t *, sf_status *);
int sf__store_etcd_claim_acquire(
    sf_store *, const char *, const char *, uint64_t, uint64_t *, sf_status *);
int sf__store_etcd_claim_release(
    sf_store *, const char *, uint64_t, sf_status *);
int sf__store_etcd_claim_list(
    sf_store *, sf_store_claim **, size_t *, sf_status *);

#endif // SF_STORE_ETCD_INTERNAL_H
