// store_testutil.h: helpers shared by the store's tests (temporary
// directories, Service builders, synchronous writes).
#ifndef SF_STORE_TESTUTIL_H
#define SF_STORE_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "store.h"

// The backend the tests run against: $SF_STORE_BACKEND, "lmdb" (the
// default) or "etcd". With etcd, the first store opened starts one etcd
// member for the whole test program (tests/etcdfix), and each data
// directory a test names becomes a key prefix of its own in it, so a test
// that reopens "the same directory" reopens the same store.
const char *tu_backend(void);
bool        tu_etcd(void);
// tu_skip tells main() to exit 77 (skipped): the backend is etcd and no
// etcd binary is installed.
bool tu_skip(void);
// The etcd fixture's endpoints (starting it when needed).
const char *tu_etcd_endpoints(void);

// tu_tmpdir makes a fresh directory (mkdtemp) and returns its path
// (free()); tu_rmrf removes it with everything in it, then frees path.
char *tu_tmpdir(void);
void  tu_rmrf(char *path);

// tu_opts_for fills o for the backend: for etcd, the fixture's endpoints
// and a key prefix made from o->so_dir.
void tu_opts_for(sf_store_opts *o, char *prefix, size_t cap);

// tu_open opens a store in dir with nosync (durability is not what most
// tests check) and fails the test on error. map_size 0 = default.
sf_store *tu_open(const char *dir, uint64_t map_size, uint32_t feed_keep);
sf_store *tu_open_opts(const sf_store_opts *o);

// tu_svc builds a Service (from arena a): one TCP port 80 -> 8080, with
// nodePort node_port when nonzero (type NodePort), a selector app=name.
Svcfleet__V1__Service *tu_svc(sf_arena *a, const char *cluster, const char *ns,
    const char *name, int32_t node_port);
// tu_add_label appends a label.
void tu_add_label(
    sf_arena *a, Svcfleet__V1__Service *svc, const char *k, const char *v);

// tu_put stores svc (create_only as given) and waits; returns the code and
// the write's revision. svc gets the store's bookkeeping written back. a is
// the arena svc was built from: the strings the store writes into svc (the
// uid) come from it, so svc stays usable after the write (with NULL they
// would be valid only until the write is done; see sf_store_write.w_alloc).
int tu_put(sf_store *s, sf_arena *a, Svcfleet__V1__Service *svc,
    bool create_only, uint64_t *rev);
int tu_put_flags(sf_store *s, sf_arena *a, Svcfleet__V1__Service *svc,
    bool create_only, int flags, sf_status *st, uint64_t *rev);
int tu_delete(sf_store *s, const char *cluster, const char *ns,
    const char *name, uint64_t *rev);

// Backend internals the tests look at: the number of node-port index
// entries or audit records stored ("nodeports", "audit"), and a schema
// version written over the store's (a newer one must be refused).
uint64_t tu_count_raw(sf_store *s, const char *what);
void     tu_set_schema(sf_store *s, uint32_t v);

// tu_get returns the stored Service (heap; free with
// svcfleet__v1__service__free_unpacked(p, NULL)) or NULL.
Svcfleet__V1__Service *tu_get(
    sf_store *s, const char *cluster, const char *ns, const char *name);

// tu_fill creates n Services named svc-<i> (i from first), spread over
// nclusters clusters c<j> and nns namespaces ns<k>, with few requests
// (asynchronously, 50 Services per request: what one etcd transaction
// takes), and waits for them.
void tu_fill(sf_store *s, int first, int n, int nclusters, int nns);

#endif // SF_STORE_TESTUTIL_H
