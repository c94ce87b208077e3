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
#define SF__ETCD_META  "meta/"
#define SF__ETCD_SVC   "svc/"
#define SF__ETCD_NP    "np/"
#define SF__ETCD_CL    "cl/"
#define SF__ETCD_SEC   "sec/"
#define SF__ETCD_TOK   "tok/"
#define SF__ETCD_BIND  "bind/"
#define SF__ETCD_HIST  "hist/"  // i19: spec history records
#define SF__ETCD_FLEET "fleet/" // FleetServices (issue 18)
#define SF__ETCD_TXN   "txn/"
#define SF__ETCD_AUDIT "~audit/"
// Request records (SF_STORE_REQUESTS): under "~", outside every watch.
#define SF__ETCD_REQ "~req/"

// sf__etcd_put_raw puts value under P key (tests: a newer schema).
int sf__etcd_put_raw(sf_store *s, const char *key, const void *v, size_t n);
// sf__etcd_get_raw reads P key (klen bytes) into a malloc'd buffer
// (NUL-terminated). Returns 0, SF_NOT_FOUND or a failure.
int sf__etcd_get_raw(
    sf_store *s, const void *key, size_t klen, uint8_t **v, size_t *n);
// sf__etcd_count counts the keys under P section.
int sf__etcd_count(sf_store *s, const char *section, uint64_t *n);
// The client of a store (tests inject faults through it).
sf__etcd *sf__etcd_client(sf_store *s);
// sf__etcd_janitor trims what retention asks for now: writes' markers,
// audit records beyond so_audit_keep or so_audit_max_age_ms, history
// beyond so_feed_keep revisions (also run every minute by the writer).
void sf__etcd_janitor(sf_store *s);

// i15-perf: sf__etcd_set_watch_delay makes the store's watch wait ms
// before it applies each answer (tests: a replica whose view lags).
void sf__etcd_set_watch_delay(sf_store *s, int ms);

#endif // SF_STORE_ETCD_HOOKS_H
