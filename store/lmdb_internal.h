// lmdb_internal.h: what the files of the LMDB backend share.
//
// Not part of the store's API: only lmdb_*.c and the store's own tests
// include it (the tests use the raw hooks at the end to reach the audit and
// meta databases, which store.h does not expose yet).
//
// Layout of the environment (schema 1), one named database each:
//   meta       "schema" u32 BE, "revision" u64 BE, "installation_id" text,
//              "feed_floor" u64 BE, "services" u64 BE (number of Services)
//   services   cluster\0namespace\0name\0 -> packed Service
//   clusters   name\0 -> packed Cluster
//   nodeports  cluster\0protocol\0 port (u32 BE) -> the owner's services key
//   feed       revision (u64 BE) seq (u32 BE) -> packed WatchEvent
//   bindings, tokens, audit: created empty, for the identity work.
//   secrets    cluster name\0 -> the cluster's credentials, sealed
//              (lmdb_secrets.c); meta "secret_key_id" names the key.
// Schema 2 added the secrets database: opening a schema-1 store seals the
// credentials its cluster records hold and records schema 2.
// Keys keep their components' terminating NULs, so the components of a key
// read from the map are C strings in place, and keys still sort by cluster,
// then namespace, then name.
#ifndef SF_STORE_LMDB_INTERNAL_H
#define SF_STORE_LMDB_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "status.h"
#include "store.h"
#include "store_internal.h"

#define SF__STORE_MAP_DEFAULT       (64u << 20)
#define SF__STORE_MAP_MAX           (1ull << 40) // growth stops at 1 TiB
#define SF__STORE_BATCH_DEFAULT     256
#define SF__STORE_FEED_KEEP_DEFAULT SF__STORE_FEED_KEEP
#define SF__STORE_MAXDBS            32 // SF__DB_COUNT used; room to grow
#define SF__STORE_MAXREADERS        512
#define SF__STORE_FEED_KEY_LEN      12

enum sf__store_db {
	SF__DB_META,
	SF__DB_SERVICES,
	SF__DB_CLUSTERS,
	SF__DB_NODEPORTS,
	SF__DB_FEED,
	SF__DB_BINDINGS,
	SF__DB_TOKENS,
	SF__DB_AUDIT,
	SF__DB_SECRETS,
	SF__DB_HISTORY, // i19: spec history records
	SF__DB_FLEET,   // FleetServices (issue 18)
	SF__DB_ADDRS,   // i18-addr: the address plan's claims
	SF__DB_COUNT
};

extern const char *const sf__store_db_names[SF__DB_COUNT];

// One queued write request. Owned by the queue, then by the writer thread,
// which frees it after its done callback.
typedef struct sf__store_req sf__store_req;
struct sf__store_req {
	sf_store_write rq_w;
	sf__store_req *rq_next;
	sf_status      rq_st;    // reports go here when rq_w.w_status is NULL
	sf_arena       rq_arena; // strings the store writes into messages,
	                         // when rq_w.w_alloc is NULL
	int      rq_code;
	uint64_t rq_rev;
};

struct sf_store {
	const sf_store_ops *s_ops; // first: store.c dispatches through it
	MDB_env            *s_env;
	MDB_dbi             s_dbi[SF__DB_COUNT];
	char               *s_dir;
	int                 s_lockfd; // flock()ed: one store per directory
	char                s_instid[40];
	uint32_t            s_batch_max;
	uint32_t            s_feed_keep;
	uint64_t            s_audit_keep;
	int64_t             s_audit_max_age_ms;

	// Readers hold s_maplock shared for the life of a read transaction;
	// the writer takes it exclusively to resize the map, which LMDB
	// allows only while no transaction of this process is active.
	pthread_rwlock_t s_maplock;
	bool             s_maplock_ok;

	// The write queue.
	pthread_mutex_t s_qmtx;
	pthread_cond_t  s_qcv;
	bool            s_sync_ok; // s_qmtx, s_qcv and s_hookmtx initialised
	sf__store_req  *s_qhead;
	sf__store_req  *s_qtail;
	uint32_t  s_qlen; // requests queued (not yet taken by the writer)
	uint32_t  s_queue_max;
	bool      s_closing;
	bool      s_writer_running;
	pthread_t s_writer;
	sf__store_req **s_batch; // s_batch_max slots, writer thread only
	// Group commit (writer thread only): the longest wait for a batch to
	// fill, the size of the last batch and how long its commit took.
	int64_t  s_linger_us; // 0: never wait
	uint32_t s_last_batch;
	int64_t  s_last_commit_us;

	pthread_mutex_t s_hookmtx;
	void (*s_hook)(void *, uint64_t);
	void *s_hookarg;

	// Written by the writer thread (after commits), read by anyone.
	_Atomic uint64_t s_revision;
	_Atomic uint64_t s_services;
	_Atomic uint64_t s_feed_first;
	_Atomic uint64_t s_map_size;
	_Atomic uint64_t s_map_max; // growth stops here (SF__STORE_MAP_MAX)
	_Atomic uint64_t s_commits;
	_Atomic uint64_t s_writes;
	_Atomic uint64_t s_failed;
	_Atomic uint64_t s_batch_largest;
	_Atomic uint64_t s_map_grows;
	_Atomic bool     s_broken; // the map could not be restored: all fail

	// Sealing of cluster credentials (lmdb_secrets.c); without a key
	// (tests only) they are stored as given.
	bool    s_sealing;
	bool    s_sealed_ok; // so_sealed_ok
	uint8_t s_secret_key[SF_STORE_SECRET_KEY_LEN];
	uint8_t s_key_id[SF__STORE_KEY_ID_LEN];

	// Reconciler leases and claims (issue 16), in memory: lease_mem.c.
	sf__store_lease_mem *s_leases;
};

// A write function's view of the store: one nested LMDB transaction.
struct sf_store_txn {
	const sf_store_ops *t_ops; // first: store.c dispatches through it
	sf_store           *t_store;
	MDB_txn            *t_mdb;
	sf_status          *t_st;    // the request's status
	ProtobufCAllocator *t_alloc; // for strings written into messages
	uint64_t            t_rev;   // the revision writes carry
	int64_t             t_now;
	int                 t_mdb_err; // first unexpected LMDB error
	bool                t_wrote;   // changed desired state (not audit)
	uint32_t            t_feed_seq;
	uint64_t            t_feed_added;
	int64_t             t_services_delta;
};

// ------------------------------------------------------ lmdb_store.c

// Change-feed keys: revision (u64 BE), sequence in the revision (u32 BE).
void     sf__store_key_feed(uint8_t *buf, uint64_t rev, uint32_t seq);
uint64_t sf__store_key_feed_rev(const MDB_val *k);

// sf__store_mdb_code maps an LMDB (or errno) result to an SF_* code.
int sf__store_mdb_code(int rc);

// Read transactions: begin takes the map lock shared (so the map cannot be
// resized under the transaction); end aborts the transaction and drops it.
int  sf__store_read_begin(sf_store *s, MDB_txn **txn);
void sf__store_read_end(sf_store *s, MDB_txn *txn);

// Meta values (u64 BE). get returns 0, MDB_NOTFOUND or an LMDB error.
int sf__store_meta_get(
    sf_store *s, MDB_txn *txn, const char *name, uint64_t *v);
int sf__store_meta_put(
    sf_store *s, MDB_txn *txn, const char *name, uint64_t v);

#define SF__META_SCHEMA     "schema"
#define SF__META_REVISION   "revision"
#define SF__META_INSTID     "installation_id"
#define SF__META_FEED_FLOOR "feed_floor"
#define SF__META_SERVICES   "services"

// ------------------------------------------------------ lmdb_writer.c

int  sf__store_writer_start(sf_store *s);
void sf__store_writer_stop(sf_store *s);
int  sf__store_lmdb_submit(sf_store *s, const sf_store_write *w);
void sf__store_lmdb_set_commit_hook(
    sf_store *s, void (*fn)(void *, uint64_t), void *arg);

// ------------------------------------------------------ lmdb_read.c

int sf__store_lmdb_service_get(sf_store *s, const sf_store_key *key,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out);
int sf__store_lmdb_service_list(sf_store *s, const sf_store_list_req *req,
    ProtobufCAllocator *alloc, sf_store_list_res *res, sf_status *st);
int sf__store_lmdb_cluster_get(sf_store *s, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out);
int sf__store_lmdb_cluster_list(sf_store *s, ProtobufCAllocator *alloc,
    Svcfleet__V1__Cluster ***out, size_t *n);
// i21-cpu2: sf_store_cluster_specs_min (no credentials).
int sf__store_lmdb_cluster_specs_min(sf_store *s, uint64_t min_rev,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster ***out, size_t *n);
int sf__store_lmdb_feed_read(sf_store *s, uint64_t since, uint32_t max,
    const sf_store_filter *filter, ProtobufCAllocator *alloc,
    Svcfleet__V1__WatchEvent ***out, size_t *n, uint64_t *next);

// ------------------------------------------------------ lmdb_ident.c

int sf__store_lmdb_record_get(sf_store *s, sf_store_kind kind, const char *id,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    ProtobufCMessage **out);
int sf__store_lmdb_record_list(sf_store *s, sf_store_kind kind,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    ProtobufCMessage ***out, size_t *n);
int sf__store_lmdb_txn_record_get(sf_store_txn *t, sf_store_kind kind,
    const char *id, const ProtobufCMessageDescriptor *desc,
    ProtobufCAllocator *alloc, ProtobufCMessage **out);
int sf__store_lmdb_txn_record_put(sf_store_txn *t, sf_store_kind kind,
    const char *id, const ProtobufCMessage *msg, bool create_only);
int sf__store_lmdb_txn_record_delete(
    sf_store_txn *t, sf_store_kind kind, const char *id);
int sf__store_lmdb_txn_audit_append(
    sf_store_txn *t, Svcfleet__V1__AuditEvent *ev);
int sf__store_lmdb_audit_list(sf_store *s, const sf_store_audit_query *q,
    ProtobufCAllocator *alloc, Svcfleet__V1__AuditEvent ***out, size_t *n,
    uint64_t *next);
// sf__store_trim_audit drops the oldest audit events beyond the count and
// age limits, at most max of them, inside txn (the batch's parent).
int sf__store_trim_audit(sf_store *s, MDB_txn *txn, uint64_t max);

#define SF__META_AUDIT_SEQ "audit_seq"

// ------------------------------------------------------ lmdb_secrets.c

#define SF__META_SECRET_KEY_ID "secret_key_id"

// sf__store_secrets_fill puts the credentials kept for the cluster under
// key into c (just read from the clusters database). Returns an SF_* code.
int sf__store_secrets_fill(sf_store *s, MDB_txn *txn, const void *key,
    size_t klen, ProtobufCAllocator *alloc, Svcfleet__V1__Cluster *c);
// sf__store_cluster_write stores c under key: the record without its
// credentials, and the credentials sealed (or their entry removed). c is
// unchanged on return. Returns an SF_* code; *mdb_rc is LMDB's result.
int sf__store_cluster_write(sf_store *s, MDB_txn *txn, const void *key,
    size_t klen, Svcfleet__V1__Cluster *c, int *mdb_rc);
// Removes the sealed credentials of a cluster (absent is fine); LMDB code.
int sf__store_secrets_delete(
    sf_store *s, MDB_txn *txn, const void *key, size_t klen);
// At open (inside the schema transaction): checks the key against the
// store's key id (recording it the first time) and seals credentials left
// in the clear.
int sf__store_secrets_open(sf_store *s, MDB_txn *txn, sf_status *st);

// ------------------------------------------------------ lmdb_txn.c

uint64_t sf__store_lmdb_txn_revision(sf_store_txn *t);
bool     sf__store_lmdb_txn_wrote(sf_store_txn *t);
int64_t  sf__store_lmdb_txn_now_ms(sf_store_txn *t);
int sf__store_lmdb_txn_service_get(sf_store_txn *t, const sf_store_key *key,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out);
int sf__store_lmdb_txn_service_put(
    sf_store_txn *t, Svcfleet__V1__Service *svc, bool create_only);
int sf__store_lmdb_txn_service_delete(
    sf_store_txn *t, const sf_store_key *key);
int sf__store_lmdb_txn_nodeport_owner(sf_store_txn *t, const char *cluster,
    const char *protocol, int32_t port, ProtobufCAllocator *alloc,
    sf_store_key *owner);
int sf__store_lmdb_txn_cluster_count_services(
    sf_store_txn *t, const char *cluster, uint64_t limit, uint64_t *n);
int sf__store_lmdb_txn_cluster_spec_get(sf_store_txn *t, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out);
int sf__store_lmdb_txn_cluster_get(sf_store_txn *t, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out);
int sf__store_lmdb_txn_cluster_put(
    sf_store_txn *t, Svcfleet__V1__Cluster *c, bool create_only);
int sf__store_lmdb_txn_cluster_delete(sf_store_txn *t, const char *name);

// sf__store_txn_fail records an unexpected LMDB error of an operation
// inside a write function (the writer retries the batch on MDB_MAP_FULL)
// and returns the matching SF_* code, with a message in the request's
// status.
int sf__store_txn_fail(sf_store_txn *t, int rc, const char *what);

// ------------------------------------------------- test-only raw hooks

// Put/get raw bytes in any database (tests: fake audit records, a newer
// schema). put runs inside a write function and does not count as a
// change of desired state (no revision). get copies the value (free()).
int sf__store_txn_put_raw(sf_store_txn *t, enum sf__store_db db, const void *k,
    size_t klen, const void *v, size_t vlen);
int sf__store_get_raw(sf_store *s, enum sf__store_db db, const void *k,
    size_t klen, void **v, size_t *vlen);
// Number of entries in a database.
int sf__store_count_raw(sf_store *s, enum sf__store_db db, uint64_t *n);
// Lower the ceiling the map may grow to (tests of a full store).
void sf__store_set_map_max(sf_store *s, uint64_t bytes);

#endif // SF_STORE_LMDB_INTERNAL_H
