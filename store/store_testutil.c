// store_testutil.c: helpers shared by the store's tests.
#include "store_testutil.h"

#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "etcd_hooks.h"
#include "etcdfix.h"
#include "lmdb_internal.h"

static sf_etcdfix *fix;

const char *
tu_backend(void)
{
	const char *b = getenv("SF_STORE_BACKEND");
	return (b != NULL && b[0] != '\0' ? b : "lmdb");
}

bool
tu_etcd(void)
{
	return (strcmp(tu_backend(), "etcd") == 0);
}

bool
tu_skip(void)
{
	if (tu_etcd() && !sf_etcdfix_available()) {
		fprintf(
		    stderr, "no etcd binary: the etcd tests are skipped\n");
		return (true);
	}
	return (false);
}

static void
stop_fix(void)
{
	sf_etcdfix_stop(fix);
	fix = NULL;
}

const char *
tu_etcd_endpoints(void)
{
	if (fix == NULL) {
		if (sf_etcdfix_start(&fix, NULL) != 0) {
			fail_msg("cannot start etcd for the tests");
		}
		atexit(stop_fix);
	}
	return (sf_etcdfix_endpoints(fix));
}

void
tu_opts_for(sf_store_opts *o, char *prefix, size_t cap)
{
	uint32_t h = 2166136261u;

	if (!tu_etcd()) {
		return;
	}
	// Every directory a test names is a prefix of its own.
	for (const char *p = o->so_dir != NULL ? o->so_dir : ""; *p != '\0';
	     p++) {
		h = (h ^ (uint8_t) *p) * 16777619u;
	}
	snprintf(prefix, cap, "/t/%08x/", h);
	o->so_etcd_endpoints = tu_etcd_endpoints();
	o->so_etcd_prefix    = prefix;
}

char *
tu_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char        tmpl[4096];
	char       *p;

	snprintf(tmpl, sizeof(tmpl), "%s/sfstore-XXXXXX",
	    base != NULL && base[0] != '\0' ? base : "/tmp");
	p = mkdtemp(tmpl);
	assert_non_null(p);
	p = strdup(p);
	assert_non_null(p);
	return (p);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void) sb;
	(void) flag;
	(void) ftw;
	return (remove(path));
}

void
tu_rmrf(char *path)
{
	if (path != NULL) {
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		free(path);
	}
}

sf_store *
tu_open_opts(const sf_store_opts *o)
{
	sf_store     *s  = NULL;
	sf_store_opts oo = *o;
	char          prefix[64];
	sf_status     st;
	int           rv;

	sf_status_init(&st);
	tu_opts_for(&oo, prefix, sizeof(prefix));
	rv = sf_store_open_backend(tu_backend(), &s, &oo, &st);
	if (rv != 0) {
		print_error("sf_store_open(%s, %s): %s: %s\n", tu_backend(),
		    o->so_dir, sf_status_name(rv), st.st_msg);
	}
	assert_int_equal(rv, 0);
	assert_non_null(s);
	sf_status_fini(&st);
	return (s);
}

sf_store *
tu_open(const char *dir, uint64_t map_size, uint32_t feed_keep)
{
	sf_store_opts o = {
	    .so_dir       = dir,
	    .so_map_size  = map_size,
	    .so_feed_keep = feed_keep,
	    .so_nosync    = true,
	};
	return (tu_open_opts(&o));
}

static Svcfleet__V1__KeyValue *
kv(sf_arena *a, const char *k, const char *v)
{
	Svcfleet__V1__KeyValue *p = sf_arena_zalloc(a, sizeof(*p));
	svcfleet__v1__key_value__init(p);
	p->key   = sf_arena_strdup(a, k);
	p->value = sf_arena_strdup(a, v);
	return (p);
}

Svcfleet__V1__Service *
tu_svc(sf_arena *a, const char *cluster, const char *ns, const char *name,
    int32_t node_port)
{
	Svcfleet__V1__Service     *svc  = sf_arena_zalloc(a, sizeof(*svc));
	Svcfleet__V1__ObjectMeta  *m    = sf_arena_zalloc(a, sizeof(*m));
	Svcfleet__V1__ServiceSpec *spec = sf_arena_zalloc(a, sizeof(*spec));
	Svcfleet__V1__ServicePort *port = sf_arena_zalloc(a, sizeof(*port));

	svcfleet__v1__service__init(svc);
	svcfleet__v1__object_meta__init(m);
	svcfleet__v1__service_spec__init(spec);
	svcfleet__v1__service_port__init(port);
	m->cluster        = sf_arena_strdup(a, cluster);
	m->namespace_     = sf_arena_strdup(a, ns);
	m->name           = sf_arena_strdup(a, name);
	m->created_by     = sf_arena_strdup(a, "tester");
	port->protocol    = sf_arena_strdup(a, "TCP");
	port->port        = 80;
	port->target_port = 8080;
	port->node_port   = node_port;
	spec->type = sf_arena_strdup(a, node_port ? "NodePort" : "ClusterIP");
	spec->n_selector  = 1;
	spec->selector    = sf_arena_alloc(a, sizeof(*spec->selector));
	spec->selector[0] = kv(a, "app", name);
	spec->n_ports     = 1;
	spec->ports       = sf_arena_alloc(a, sizeof(*spec->ports));
	spec->ports[0]    = port;
	svc->metadata     = m;
	svc->spec         = spec;
	return (svc);
}

void
tu_add_label(
    sf_arena *a, Svcfleet__V1__Service *svc, const char *k, const char *v)
{
	Svcfleet__V1__ObjectMeta *m = svc->metadata;
	Svcfleet__V1__KeyValue  **l
	    = sf_arena_alloc(a, (m->n_labels + 1) * sizeof(*l));
	for (size_t i = 0; i < m->n_labels; i++) {
		l[i] = m->labels[i];
	}
	l[m->n_labels++] = kv(a, k, v);
	m->labels        = l;
}

typedef struct put_arg {
	Svcfleet__V1__Service *svc;
	bool                   create_only;
} put_arg;

static int
put_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	put_arg *p = arg;
	(void) st;
	return (sf_store_txn_service_put(txn, p->svc, p->create_only));
}

int
tu_put_flags(sf_store *s, sf_arena *a, Svcfleet__V1__Service *svc,
    bool create_only, int flags, sf_status *st, uint64_t *rev)
{
	put_arg        p = {svc, create_only};
	sf_store_write w = {.w_fn = put_fn,
	    .w_arg                = &p,
	    .w_status             = st,
	    .w_flags              = flags,
	    .w_alloc              = a != NULL ? sf_arena_pbc(a) : NULL};
	return (sf_store_write_sync(s, &w, rev));
}

int
tu_put(sf_store *s, sf_arena *a, Svcfleet__V1__Service *svc, bool create_only,
    uint64_t *rev)
{
	return (tu_put_flags(s, a, svc, create_only, 0, NULL, rev));
}

static int
del_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	(void) st;
	return (sf_store_txn_service_delete(txn, arg));
}

int
tu_delete(sf_store *s, const char *cluster, const char *ns, const char *name,
    uint64_t *rev)
{
	sf_store_key   k = {cluster, ns, name};
	sf_store_write w = {.w_fn = del_fn, .w_arg = &k};
	return (sf_store_write_sync(s, &w, rev));
}

uint64_t
tu_count_raw(sf_store *s, const char *what)
{
	uint64_t n  = 0;
	bool     np = strcmp(what, "nodeports") == 0;

	if (tu_etcd()) {
		assert_int_equal(
		    sf__store_etcd_count(
		        s, np ? SF__STORE_ETCD_NP : SF__STORE_ETCD_AUDIT, &n),
		    0);
	} else {
		assert_int_equal(sf__store_count_raw(s,
		                     np ? SF__DB_NODEPORTS : SF__DB_AUDIT, &n),
		    0);
	}
	return (n);
}

static int
schema_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	uint8_t b[4];
	(void) st;
	sf__store_be32_put(b, *(uint32_t *) arg);
	return (sf__store_txn_put_raw(txn, SF__DB_META, "schema", 6, b, 4));
}

void
tu_set_schema(sf_store *s, uint32_t v)
{
	if (tu_etcd()) {
		char b[16];
		snprintf(b, sizeof(b), "%u", (unsigned) v);
		assert_int_equal(
		    sf__store_etcd_put_raw(s, "meta/schema", b, strlen(b)), 0);
	} else {
		sf_store_write w = {.w_fn = schema_fn, .w_arg = &v};
		assert_int_equal(sf_store_write_sync(s, &w, NULL), 0);
	}
}

Svcfleet__V1__Service *
tu_get(sf_store *s, const char *cluster, const char *ns, const char *name)
{
	sf_store_key           k   = {cluster, ns, name};
	Svcfleet__V1__Service *out = NULL;
	int                    rv  = sf_store_service_get(s, &k, NULL, &out);
	if (rv != 0) {
		assert_int_equal(rv, SF_NOT_FOUND);
		return (NULL);
	}
	return (out);
}

// Bulk creation: each request creates up to FILL_PER_REQ Services (with
// their reads, what one etcd transaction of 128 operations takes).
#define FILL_PER_REQ 50

typedef struct fill_req {
	int      first, n, nclusters, nns;
	sf_arena a; // the Services stored: they live until the write is done
} fill_req;

typedef struct fill_wait {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	int             pending;
	int             failed;
} fill_wait;

static fill_wait *fill_w;

static int
fill_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	fill_req *f  = arg;
	int       rv = 0;

	(void) st;
	for (int i = f->first; i < f->first + f->n && rv == 0; i++) {
		char c[32], ns[32], name[32];
		snprintf(c, sizeof(c), "c%d", i % f->nclusters);
		snprintf(ns, sizeof(ns), "ns%d", (i / f->nclusters) % f->nns);
		snprintf(name, sizeof(name), "svc-%05d", i);
		rv = sf_store_txn_service_put(
		    txn, tu_svc(&f->a, c, ns, name, 0), true);
	}
	return (rv);
}

static void
fill_done(void *arg, int code, uint64_t rev)
{
	fill_req *f = arg;
	(void) rev;
	sf_arena_fini(&f->a);
	free(f);
	pthread_mutex_lock(&fill_w->mtx);
	if (code != 0) {
		fill_w->failed++;
	}
	if (--fill_w->pending == 0) {
		pthread_cond_signal(&fill_w->cv);
	}
	pthread_mutex_unlock(&fill_w->mtx);
}

void
tu_fill(sf_store *s, int first, int n, int nclusters, int nns)
{
	fill_wait w
	    = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

	fill_w = &w;
	pthread_mutex_lock(&w.mtx);
	for (int i = first; i < first + n; i += FILL_PER_REQ) {
		fill_req *f = calloc(1, sizeof(*f));
		assert_non_null(f);
		sf_arena_init(&f->a);
		f->first     = i;
		f->n         = first + n - i < FILL_PER_REQ ? first + n - i
		                                            : FILL_PER_REQ;
		f->nclusters = nclusters;
		f->nns       = nns;
		sf_store_write wr = {.w_fn = fill_fn,
		    .w_done                = fill_done,
		    .w_arg                 = f,
		    .w_alloc               = sf_arena_pbc(&f->a)};
		w.pending++;
		assert_int_equal(sf_store_submit(s, &wr), 0);
	}
	while (w.pending > 0) {
		pthread_cond_wait(&w.cv, &w.mtx);
	}
	pthread_mutex_unlock(&w.mtx);
	assert_int_equal(w.failed, 0);
	fill_w = NULL;
}
