// etcd_hooks.h: what the store's tests reach inside the etcd backend.
//
// Declares functions on the opaque sf_store only, so a test can include it
// beside lmdb_internal.h (each backend defines struct sf_store its way).
#ifndef SF_STORE_ETCD_HOOKS_H
#define SF_STORE_ETCD_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "etcd_client.h"
#include "store.h"

// Sections of the key space under the store's prefix (etcd_internal.h).
#define SF__STORE_ETCD_META  "meta/"
#define SF__STORE_ETCD_SVC   "svc/"
#define SF__STORE_ETCD_NP    "np/"
#define SF__STORE_ETCD_CL    "cl/"
#define SF__STORE_ETCD_SEC   "sec/"
#define SF__STORE_ETCD_TOK   "tok/"
#define SF__STORE_ETCD_BIND  "bind/"
#define SF__STORE_ETCD_HIST  "hist/"  // i19: spec history records
#define SF__STORE_ETCD_FLEET "fleet/" // FleetServices (issue 18)
#define SF__STORE_ETCD_ADDRS "addr/"  // i18-addr: address claims
#define SF__STORE_ETCD_TXN   "txn/"
// i15-create: the marker of a write that also puts or deletes a watched
// key, outside the watch (that key brings the watch to its revision).
#define SF__STORE_ETCD_TXN_OUT "~txn/"
#define SF__STORE_ETCD_AUDIT   "~audit/"
// Request records (SF_STORE_REQUESTS): under "~", outside every watch.
#define SF__STORE_ETCD_REQ "~req/"

// i15-batch: transactions of batched concurrent writes in flight at once
// (etcd_writer.c); tests fill them to make writes queue.
#define SF__STORE_ETCD_INFLIGHT 4

// i18-wide: when set, called before each further transaction of a write
// split in parts (sf_store_txn_part), after its head committed, with the
// guard record's id (tests: another write runs in between).
extern void (*_Atomic sf__store_etcd_part_hook)(const char *guard_id);

// sf__store_etcd_put_raw puts value under P key (tests: a newer schema).
int sf__store_etcd_put_raw(
    sf_store *s, const char *key, const void *v, size_t n);
// sf__store_etcd_get_raw reads P key (klen bytes) into a malloc'd buffer
// (NUL-terminated). Returns 0, SF_NOT_FOUND or a failure.
int sf__store_etcd_get_raw(
    sf_store *s, const void *key, size_t klen, uint8_t **v, size_t *n);
// sf__store_etcd_count counts the keys under P section.
int sf__store_etcd_count(sf_store *s, const char *section, uint64_t *n);
// The client of a store (tests inject faults through it).
sf__store_etcd *sf__store_etcd_client(sf_store *s);

// i15-perf3: the view's entries of the Services in cluster ns, held as a
// list page holds them (a reference each, taken once the view has
// reached min_rev), for a test of their lifetime:
// sf__store_etcd_view_hold returns 0 with *n entries or -1 (the view
// cannot answer); sf__store_etcd_view_held gives entry i's value;
// sf__store_etcd_view_release drops them.
typedef struct sf__store_view_hold sf__store_view_hold;
int sf__store_etcd_view_hold(sf_store *s, const char *cluster, const char *ns,
    uint64_t min_rev, sf__store_view_hold **out, size_t *n);
const uint8_t *sf__store_etcd_view_held(
    const sf__store_view_hold *h, size_t i, size_t *vn);
void sf__store_etcd_view_release(sf__store_view_hold *h);
// sf__store_etcd_janitor trims what retention asks for now: writes' markers,
// audit records beyond so_audit_keep or so_audit_max_age_ms, history
// beyond so_feed_keep revisions (also run every minute by the writer).
void sf__store_etcd_janitor(sf_store *s);

// i15-perf: sf__store_etcd_set_watch_delay makes the store's watch wait ms
// before it applies each answer (tests: a replica whose view lags).
void sf__store_etcd_set_watch_delay(sf_store *s, int ms);

#endif // SF_STORE_ETCD_HOOKS_H
