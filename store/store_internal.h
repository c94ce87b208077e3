// store_internal.h: what every backend of the store shares.
//
// Not part of the store's API: only the backends (lmdb_*.c, etcd_*.c), the
// shared helpers (key.c, util.c, seal.c) and the store's own tests include
// it. Both backends lay out keys the same way, so lists sort alike and a
// key that one backend refuses the other refuses too:
//   services   cluster\0namespace\0name\0
//   clusters   name\0
//   nodeports  cluster\0protocol\0 port (u32 BE)
// Keys keep their components' terminating NULs, so the components of a
// stored key are C strings in place, and keys sort by cluster, then
// namespace, then name ("dev\0" sorts before "dev-x\0", which "dev/" would
// not).
#ifndef SF_STORE_INTERNAL_H
#define SF_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "store.h"

#define SF__STORE_SCHEMA   2
#define SF__STORE_KEY_MAX  511   // LMDB's default maximum key size
#define SF__STORE_LIST_MAX 5000  // largest page
#define SF__STORE_FEED_MAX 10000 // most events per feed read
// A list page or feed read examines at most this many entries, so a
// filter that matches little cannot turn one call into a full scan; the
// page then comes back short with a token to continue.
#define SF__STORE_SCAN_MAX     10000
#define SF__STORE_FEED_KEEP    100000 // so_feed_keep's default
#define SF__STORE_KEY_ID_LEN   8
#define SF__STORE_RECORD_MAX   128 // longest record id (ns/name)
#define SF__STORE_AUDIT_PAGE   1000
#define SF__STORE_AUDIT_KEEP   1000000
#define SF__STORE_AUDIT_AGE_MS ((int64_t) 90 * 24 * 3600 * 1000)

// ------------------------------------------------------ key.c

// Byte order helpers (keys sort bytewise, so numbers are big-endian).
void     sf__store_be64_put(uint8_t *p, uint64_t v);
uint64_t sf__store_be64_get(const uint8_t *p);
void     sf__store_be32_put(uint8_t *p, uint32_t v);
uint32_t sf__store_be32_get(const uint8_t *p);

// sf__store_key_service builds cluster\0namespace\0name\0 into buf (at
// least SF__STORE_KEY_MAX bytes). Returns 0 or SF_INVALID_ARGUMENT with a
// message in st (may be NULL) for an empty part or a key too long.
int sf__store_key_service(
    const sf_store_key *k, uint8_t *buf, size_t *len, sf_status *st);
// sf__store_key_parse splits a stored key into its three parts, pointing
// into data. Returns 0, or -1 when data is not such a key.
int sf__store_key_parse(const void *data, size_t len, sf_store_key *out);
// sf__store_key_prefix builds cluster\0 or cluster\0namespace\0 (ns may be
// NULL or ""). Returns 0 or SF_INVALID_ARGUMENT.
int sf__store_key_prefix(const char *cluster, const char *ns, uint8_t *buf,
    size_t *len, sf_status *st);
int sf__store_key_cluster(
    const char *name, uint8_t *buf, size_t *len, sf_status *st);
int sf__store_key_nodeport(const char *cluster, const char *protocol,
    int32_t port, uint8_t *buf, size_t *len, sf_status *st);
// sf__store_key_record validates a token or binding id (1..100 bytes) and
// returns its key length with the NUL. Returns 0 or SF_INVALID_ARGUMENT.
int sf__store_key_record(const char *id, size_t *klen, sf_status *st);

// Page tokens: base64url of {version, cluster, namespace, last key,
// [revision], checksum}. rev 0 makes the LMDB backend's version-1 token
// (tokens of an existing store stay valid); the etcd backend pins the
// revision its first page was read at. encode returns a string from alloc
// (NULL when out of memory); decode returns 0 and the parts (last key
// copied into key, at least SF__STORE_KEY_MAX bytes; cluster/ns into
// caller buffers of SF__STORE_KEY_MAX + 1 bytes; *rev 0 for a version-1
// token), or -1 when malformed.
char *sf__store_token_encode(ProtobufCAllocator *alloc, const char *cluster,
    const char *ns, const uint8_t *key, size_t klen, uint64_t rev);
int   sf__store_token_decode(const char *tok, char *cluster, char *ns,
      uint8_t *key, size_t *klen, uint64_t *rev);

// ------------------------------------------------------ util.c

// Allocation through an optional protobuf-c allocator (NULL = malloc).
void *sf__store_alloc(ProtobufCAllocator *a, size_t n);
void  sf__store_free(ProtobufCAllocator *a, void *p);
char *sf__store_strdup(ProtobufCAllocator *a, const char *s);

// sf__store_uuid writes a random (version 4) UUID into out (37 bytes).
int sf__store_uuid(char out[37]);

// A growing heap array of pointers, copied into the caller's allocator at
// the end (an arena has no realloc).
typedef struct sf__store_ptrvec {
	void **pv_p;
	size_t pv_n;
	size_t pv_cap;
} sf__store_ptrvec;
int sf__store_ptrvec_push(sf__store_ptrvec *pv, void *p);
// sf__store_ptrvec_take copies the pointers into alloc's memory and
// empties pv either way; NULL when out of memory.
void **sf__store_ptrvec_take(sf__store_ptrvec *pv, ProtobufCAllocator *alloc);
// sf__store_ptrvec_abort, for a list read that failed half-way: frees
// each message pv collected (protobuf_c_message_free_unpacked with alloc,
// which an arena ignores) and the array, and empties pv.
void sf__store_ptrvec_abort(sf__store_ptrvec *pv, ProtobufCAllocator *alloc);

// sf__store_keep_event applies a feed filter to an event.
bool sf__store_keep_event(
    const sf_store_filter *f, const Svcfleet__V1__WatchEvent *ev);

// ------------------------------------------------------ seal.c

// Cluster credentials sealed at rest with AES-256-GCM (format in seal.c).

// The key id: the first bytes of SHA-256 over a label and the key.
void sf__store_key_id(const uint8_t key[SF_STORE_SECRET_KEY_LEN],
    uint8_t                         id[SF__STORE_KEY_ID_LEN]);
void sf__store_key_id_hex(
    const uint8_t id[SF__STORE_KEY_ID_LEN], char out[17]);
bool sf__store_has_credentials(const Svcfleet__V1__Cluster *c);
// sf__store_seal seals c's token, client_cert and client_key for cluster
// name. *out is malloc'd. Returns 0 or an SF_* code.
int sf__store_seal(const uint8_t key[SF_STORE_SECRET_KEY_LEN],
    const char *name, const Svcfleet__V1__Cluster *c, uint8_t **out,
    size_t *outlen);
// sf__store_unseal opens a blob of cluster name into c's three credential
// fields (allocated with alloc). SF_FAILED_PRECONDITION: sealed with
// another key; SF_DATA_LOSS: damaged, or sealed for another name.
int sf__store_unseal(const uint8_t key[SF_STORE_SECRET_KEY_LEN],
    const char *name, const void *blob, size_t len, ProtobufCAllocator *alloc,
    Svcfleet__V1__Cluster *c);
// sf__store_strip_credentials empties c's three credential fields, saving
// them in saved; sf__store_restore_credentials puts them back. A record is
// stored stripped, its credentials sealed beside it.
void sf__store_strip_credentials(
    Svcfleet__V1__Cluster *c, Svcfleet__V1__Cluster *saved);
void sf__store_restore_credentials(
    Svcfleet__V1__Cluster *c, const Svcfleet__V1__Cluster *saved);

// ------------------------------------------------------ lease_mem.c

// Reconciler leases and claims in memory (issue 16): what the LMDB
// backend uses for sf_store_lease_* and sf_store_claim_* (store.h). Time
// is the monotonic clock; expired leases are swept by every call.
typedef struct sf__store_lease_mem sf__store_lease_mem;

int  sf__store_lease_mem_new(sf__store_lease_mem **out);
void sf__store_lease_mem_free(sf__store_lease_mem *m);
int  sf__store_lease_mem_grant(
     sf__store_lease_mem *m, int64_t ttl_ms, uint64_t *lease, sf_status *st);
int sf__store_lease_mem_renew(
    sf__store_lease_mem *m, uint64_t lease, sf_status *st);
int sf__store_lease_mem_revoke(
    sf__store_lease_mem *m, uint64_t lease, sf_status *st);
int sf__store_lease_mem_member_put(sf__store_lease_mem *m, const char *id,
    uint64_t lease, const uint8_t *v, size_t n, sf_status *st);
int sf__store_lease_mem_member_list(
    sf__store_lease_mem *m, sf_store_member **out, size_t *n, sf_status *st);
int sf__store_lease_mem_claim_acquire(sf__store_lease_mem *m,
    const char *cluster, const char *owner, uint64_t lease, uint64_t *token,
    sf_status *st);
int sf__store_lease_mem_claim_release(sf__store_lease_mem *m,
    const char *cluster, uint64_t token, sf_status *st);
int sf__store_lease_mem_claim_list(
    sf__store_lease_mem *m, sf_store_claim **out, size_t *n, sf_status *st);

#endif // SF_STORE_INTERNAL_H
