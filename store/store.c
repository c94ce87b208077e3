// store.c: the store's API, dispatched through the backend's ops table.
//
// Every sf_store and sf_store_txn begins with a pointer to its backend's
// ops (store.h), which is all this file knows about either; the backend
// defines the rest of the structs.
#include "store.h"
#include "store_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct store_head {
	const sf_store_ops *s_ops;
};

struct txn_head {
	const sf_store_ops *t_ops;
};

#define OPS(s)  (((const struct store_head *) (const void *) (s))->s_ops)
#define TOPS(t) (((const struct txn_head *) (const void *) (t))->t_ops)

// ops_complete checks that a backend filled every slot: a missing one
// would otherwise be a crash far from its cause.
static bool
ops_complete(const sf_store_ops *o)
{
	const void *slots[] = {(const void *) o->so_name,
	    (const void *) o->so_open, (const void *) o->so_close,
	    (const void *) o->so_stats, (const void *) o->so_installation_id,
	    (const void *) o->so_service_get,
	    (const void *) o->so_service_list,
	    (const void *) o->so_cluster_get,
	    (const void *) o->so_cluster_list, (const void *) o->so_feed_read,
	    (const void *) o->so_set_commit_hook, (const void *) o->so_submit,
	    (const void *) o->so_txn_revision, (const void *) o->so_txn_now_ms,
	    (const void *) o->so_txn_service_get,
	    (const void *) o->so_txn_service_put,
	    (const void *) o->so_txn_service_delete,
	    (const void *) o->so_txn_nodeport_owner,
	    (const void *) o->so_txn_cluster_count_services,
	    (const void *) o->so_txn_cluster_get,
	    (const void *) o->so_txn_cluster_spec_get,
	    (const void *) o->so_txn_cluster_put,
	    (const void *) o->so_txn_cluster_delete,
	    (const void *) o->so_record_get, (const void *) o->so_record_list,
	    (const void *) o->so_txn_record_get,
	    (const void *) o->so_txn_record_put,
	    (const void *) o->so_txn_record_delete,
	    (const void *) o->so_txn_audit_append,
	    (const void *) o->so_audit_list, (const void *) o->so_txn_wrote,
	    (const void *) o->so_lease_grant, (const void *) o->so_lease_renew,
	    (const void *) o->so_lease_revoke, (const void *) o->so_member_put,
	    (const void *) o->so_member_list,
	    (const void *) o->so_claim_acquire,
	    (const void *) o->so_claim_release,
	    (const void *) o->so_claim_list};

	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		if (slots[i] == NULL) {
			return (false);
		}
	}
	return (true);
}

int
sf_store_open_with(const sf_store_ops *ops, sf_store **out,
    const sf_store_opts *o, sf_status *st)
{
	int rv;

	*out = NULL;
	if (ops == NULL || ops->so_size != sizeof(*ops)
	    || !ops_complete(ops)) {
		return (sf_status_set(st, SF_INTERNAL,
		    "store backend \"%s\" does not match this build's "
		    "sf_store_ops",
		    ops != NULL && ops->so_name != NULL ? ops->so_name : "?"));
	}
	if ((rv = ops->so_open(out, o, st)) != 0) {
		*out = NULL;
		return (rv);
	}
	return (0);
}

int
sf_store_open(sf_store **out, const sf_store_opts *o, sf_status *st)
{
	return (sf_store_open_with(&sf_store_lmdb_ops, out, o, st));
}

const sf_store_ops *
sf_store_backend(const char *name)
{
	static const sf_store_ops *const all[]
	    = {&sf_store_lmdb_ops, &sf_store_etcd_ops};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (name != NULL && strcmp(name, all[i]->so_name) == 0) {
			return (all[i]);
		}
	}
	return (NULL);
}

int
sf_store_open_backend(
    const char *name, sf_store **out, const sf_store_opts *o, sf_status *st)
{
	const sf_store_ops *ops = sf_store_backend(
	    name != NULL && name[0] != '\0' ? name : "lmdb");

	*out = NULL;
	if (ops == NULL) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "unknown store backend \"%s\": lmdb or etcd", name));
	}
	return (sf_store_open_with(ops, out, o, st));
}

void
sf_store_close(sf_store *s)
{
	if (s != NULL) {
		OPS(s)->so_close(s);
	}
}

void
sf_store_stats_get(sf_store *s, sf_store_stats *out)
{
	OPS(s)->so_stats(s, out);
}

uint64_t
sf_store_revision(sf_store *s)
{
	sf_store_stats ss;

	OPS(s)->so_stats(s, &ss);
	return (ss.ss_revision);
}

const char *
sf_store_installation_id(sf_store *s)
{
	return (OPS(s)->so_installation_id(s));
}

int
sf_store_service_get(sf_store *s, const sf_store_key *key,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out)
{
	return (OPS(s)->so_service_get(s, key, alloc, out));
}

int
sf_store_service_get_min(sf_store *s, const sf_store_key *key,
    uint64_t min_rev, ProtobufCAllocator *alloc, Svcfleet__V1__Service **out,
    uint64_t *rev)
{
	uint64_t r = 0;
	int      rv;
	if (OPS(s)->so_service_get_min != NULL) {
		rv = OPS(s)->so_service_get_min(
		    s, key, min_rev, alloc, out, &r);
	} else {
		rv = OPS(s)->so_service_get(s, key, alloc, out);
	}
	if (rev != NULL) {
		*rev = r;
	}
	return (rv);
}

int
sf_store_service_get_at(sf_store *s, const sf_store_key *key, uint64_t rev,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out)
{
	*out = NULL;
	if (OPS(s)->so_service_get_at == NULL) {
		return (SF_UNIMPLEMENTED);
	}
	return (OPS(s)->so_service_get_at(s, key, rev, alloc, out));
}

int
sf_store_cluster_specs_min(sf_store *s, uint64_t min_rev,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster ***out, size_t *n)
{
	if (OPS(s)->so_cluster_specs_min != NULL) {
		return (
		    OPS(s)->so_cluster_specs_min(s, min_rev, alloc, out, n));
	}
	return (OPS(s)->so_cluster_list(s, alloc, out, n));
}

int
sf_store_cluster_spec_get(sf_store *s, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	if (OPS(s)->so_cluster_spec_get != NULL) {
		return (OPS(s)->so_cluster_spec_get(s, name, alloc, out));
	}
	return (OPS(s)->so_cluster_get(s, name, alloc, out));
}

uint64_t
sf_store_revision_seen(sf_store *s)
{
	if (OPS(s)->so_revision_seen != NULL) {
		return (OPS(s)->so_revision_seen(s));
	}
	return (0);
}

uint64_t
sf_store_revision_reached(sf_store *s)
{
	if (OPS(s)->so_revision_reached != NULL) {
		return (OPS(s)->so_revision_reached(s));
	}
	return (0);
}

int
sf_store_service_list(sf_store *s, const sf_store_list_req *req,
    ProtobufCAllocator *alloc, sf_store_list_res *res, sf_status *st)
{
	return (OPS(s)->so_service_list(s, req, alloc, res, st));
}

int
sf_store_cluster_get(sf_store *s, const char *name, ProtobufCAllocator *alloc,
    Svcfleet__V1__Cluster **out)
{
	return (OPS(s)->so_cluster_get(s, name, alloc, out));
}

int
sf_store_cluster_list(sf_store *s, ProtobufCAllocator *alloc,
    Svcfleet__V1__Cluster ***out, size_t *n)
{
	return (OPS(s)->so_cluster_list(s, alloc, out, n));
}

int
sf_store_feed_read(sf_store *s, uint64_t since, uint32_t max,
    const sf_store_filter *filter, ProtobufCAllocator *alloc,
    Svcfleet__V1__WatchEvent ***out, size_t *n, uint64_t *next)
{
	return (
	    OPS(s)->so_feed_read(s, since, max, filter, alloc, out, n, next));
}

void
sf_store_set_commit_hook(
    sf_store *s, void (*fn)(void *arg, uint64_t revision), void *arg)
{
	OPS(s)->so_set_commit_hook(s, fn, arg);
}

int
sf_store_submit(sf_store *s, const sf_store_write *w)
{
	return (OPS(s)->so_submit(s, w));
}

// ------------------------------------------------------ synchronous write

// sync_req wraps the caller's request: its functions see the caller's arg,
// and its done callback also wakes the waiting thread.
typedef struct sync_req {
	const sf_store_write *sr_w;
	pthread_mutex_t       sr_mtx;
	pthread_cond_t        sr_cv;
	bool                  sr_done;
	int                   sr_code;
	uint64_t              sr_rev;
} sync_req;

static int
sync_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	const sync_req *r = arg;
	return (r->sr_w->w_fn(txn, r->sr_w->w_arg, st));
}

static int
sync_audit(sf_store_txn *txn, void *arg, int code, const sf_status *st)
{
	const sync_req *r = arg;
	return (r->sr_w->w_audit(txn, r->sr_w->w_arg, code, st));
}

static void
sync_done(void *arg, int code, uint64_t revision)
{
	sync_req *r = arg;

	if (r->sr_w->w_done != NULL) {
		r->sr_w->w_done(r->sr_w->w_arg, code, revision);
	}
	pthread_mutex_lock(&r->sr_mtx);
	r->sr_code = code;
	r->sr_rev  = revision;
	r->sr_done = true;
	pthread_cond_signal(&r->sr_cv);
	pthread_mutex_unlock(&r->sr_mtx);
}

int
sf_store_write_sync(sf_store *s, const sf_store_write *w, uint64_t *revision)
{
	sync_req       r;
	sf_store_write sw;
	int            rv;

	if (revision != NULL) {
		*revision = 0;
	}
	if (w == NULL || w->w_fn == NULL) {
		return (SF_INVALID_ARGUMENT);
	}
	memset(&r, 0, sizeof(r));
	r.sr_w = w;
	pthread_mutex_init(&r.sr_mtx, NULL);
	pthread_cond_init(&r.sr_cv, NULL);
	sw         = *w;
	sw.w_fn    = sync_fn;
	sw.w_audit = w->w_audit != NULL ? sync_audit : NULL;
	sw.w_done  = sync_done;
	sw.w_arg   = &r;
	if ((rv = sf_store_submit(s, &sw)) == 0) {
		pthread_mutex_lock(&r.sr_mtx);
		while (!r.sr_done) {
			pthread_cond_wait(&r.sr_cv, &r.sr_mtx);
		}
		pthread_mutex_unlock(&r.sr_mtx);
		rv = r.sr_code;
		if (revision != NULL) {
			*revision = r.sr_rev;
		}
	}
	pthread_cond_destroy(&r.sr_cv);
	pthread_mutex_destroy(&r.sr_mtx);
	return (rv);
}

// ------------------------------------------------------ in a write function

uint64_t
sf_store_txn_revision(sf_store_txn *txn)
{
	return (TOPS(txn)->so_txn_revision(txn));
}

bool
sf_store_txn_wrote(sf_store_txn *txn)
{
	return (TOPS(txn)->so_txn_wrote(txn));
}

int64_t
sf_store_txn_now_ms(sf_store_txn *txn)
{
	return (TOPS(txn)->so_txn_now_ms(txn));
}

int
sf_store_txn_service_get(sf_store_txn *txn, const sf_store_key *key,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out)
{
	return (TOPS(txn)->so_txn_service_get(txn, key, alloc, out));
}

int
sf_store_txn_service_put(
    sf_store_txn *txn, Svcfleet__V1__Service *svc, bool create_only)
{
	return (TOPS(txn)->so_txn_service_put(txn, svc, create_only));
}

int
sf_store_txn_service_delete(sf_store_txn *txn, const sf_store_key *key)
{
	return (TOPS(txn)->so_txn_service_delete(txn, key));
}

int
sf_store_txn_nodeport_owner(sf_store_txn *txn, const char *cluster,
    const char *protocol, int32_t port, ProtobufCAllocator *alloc,
    sf_store_key *owner)
{
	return (TOPS(txn)->so_txn_nodeport_owner(
	    txn, cluster, protocol, port, alloc, owner));
}

int
sf_store_txn_cluster_count_services(
    sf_store_txn *txn, const char *cluster, uint64_t limit, uint64_t *n)
{
	return (
	    TOPS(txn)->so_txn_cluster_count_services(txn, cluster, limit, n));
}

int
sf_store_txn_cluster_get(sf_store_txn *txn, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	return (TOPS(txn)->so_txn_cluster_get(txn, name, alloc, out));
}

int
sf_store_txn_cluster_spec_get(sf_store_txn *txn, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	return (TOPS(txn)->so_txn_cluster_spec_get(txn, name, alloc, out));
}

int
sf_store_txn_cluster_put(
    sf_store_txn *txn, Svcfleet__V1__Cluster *c, bool create_only)
{
	return (TOPS(txn)->so_txn_cluster_put(txn, c, create_only));
}

int
sf_store_txn_cluster_delete(sf_store_txn *txn, const char *name)
{
	return (TOPS(txn)->so_txn_cluster_delete(txn, name));
}

// Request records are the etcd backend's (store.h).
static bool
kind_ok(const sf_store_ops *ops, sf_store_kind kind)
{
	return (kind != SF_STORE_REQUESTS || ops != &sf_store_lmdb_ops);
}

int
sf_store_record_get(sf_store *s, sf_store_kind kind, const char *id,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    ProtobufCMessage **out)
{
	if (!kind_ok(OPS(s), kind)) {
		*out = NULL;
		return (SF_UNIMPLEMENTED);
	}
	return (OPS(s)->so_record_get(s, kind, id, desc, alloc, out));
}

int
sf_store_record_list(sf_store *s, sf_store_kind kind,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    ProtobufCMessage ***out, size_t *n)
{
	if (!kind_ok(OPS(s), kind)) {
		*out = NULL;
		*n   = 0;
		return (SF_UNIMPLEMENTED);
	}
	return (OPS(s)->so_record_list(s, kind, desc, alloc, out, n));
}

int
sf_store_txn_record_get(sf_store_txn *txn, sf_store_kind kind, const char *id,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    ProtobufCMessage **out)
{
	if (!kind_ok(TOPS(txn), kind)) {
		*out = NULL;
		return (SF_UNIMPLEMENTED);
	}
	return (TOPS(txn)->so_txn_record_get(txn, kind, id, desc, alloc, out));
}

int
sf_store_txn_record_put(sf_store_txn *txn, sf_store_kind kind, const char *id,
    const ProtobufCMessage *msg, bool create_only)
{
	if (!kind_ok(TOPS(txn), kind)) {
		return (SF_UNIMPLEMENTED);
	}
	return (TOPS(txn)->so_txn_record_put(txn, kind, id, msg, create_only));
}

int
sf_store_txn_record_delete(
    sf_store_txn *txn, sf_store_kind kind, const char *id)
{
	if (!kind_ok(TOPS(txn), kind)) {
		return (SF_UNIMPLEMENTED);
	}
	return (TOPS(txn)->so_txn_record_delete(txn, kind, id));
}

int
sf_store_txn_audit_append(sf_store_txn *txn, Svcfleet__V1__AuditEvent *ev)
{
	return (TOPS(txn)->so_txn_audit_append(txn, ev));
}

int
sf_store_audit_list(sf_store *s, const sf_store_audit_query *q,
    ProtobufCAllocator *alloc, Svcfleet__V1__AuditEvent ***out, size_t *n,
    uint64_t *next)
{
	return (OPS(s)->so_audit_list(s, q, alloc, out, n, next));
}

// ------------------------------------ reconciler leases and claims (issue 16)

int
sf_store_lease_grant(
    sf_store *s, int64_t ttl_ms, uint64_t *lease, sf_status *st)
{
	if (ttl_ms < 1000 || ttl_ms > 3600 * 1000) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "ttl_ms: must be from 1000 to 3600000, not %lld",
		    (long long) ttl_ms));
	}
	return (OPS(s)->so_lease_grant(s, ttl_ms, lease, st));
}

int
sf_store_lease_renew(sf_store *s, uint64_t lease, sf_status *st)
{
	return (OPS(s)->so_lease_renew(s, lease, st));
}

int
sf_store_lease_revoke(sf_store *s, uint64_t lease, sf_status *st)
{
	return (OPS(s)->so_lease_revoke(s, lease, st));
}

int
sf_store_member_put(sf_store *s, const char *id, uint64_t lease,
    const uint8_t *v, size_t n, sf_status *st)
{
	if (id == NULL || id[0] == '\0' || strlen(id) > 200) {
		return (sf_status_set(
		    st, SF_INVALID_ARGUMENT, "id: 1 to 200 bytes"));
	}
	if (n > 4096) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "a member record is at most 4096 bytes, not %zu", n));
	}
	return (OPS(s)->so_member_put(s, id, lease, v, n, st));
}

int
sf_store_member_list(
    sf_store *s, sf_store_member **out, size_t *n, sf_status *st)
{
	*out = NULL;
	*n   = 0;
	return (OPS(s)->so_member_list(s, out, n, st));
}

void
sf_store_members_free(sf_store_member *m, size_t n)
{
	for (size_t i = 0; m != NULL && i < n; i++) {
		free(m[i].sm_id);
		free(m[i].sm_val);
	}
	free(m);
}

int
sf_store_claim_acquire(sf_store *s, const char *cluster, const char *owner,
    uint64_t lease, uint64_t *token, sf_status *st)
{
	if (cluster == NULL || cluster[0] == '\0' || strlen(cluster) > 200
	    || owner == NULL || owner[0] == '\0' || strlen(owner) > 200) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "cluster and owner: 1 to 200 bytes"));
	}
	return (OPS(s)->so_claim_acquire(s, cluster, owner, lease, token, st));
}

int
sf_store_claim_release(
    sf_store *s, const char *cluster, uint64_t token, sf_status *st)
{
	if (cluster == NULL || cluster[0] == '\0' || strlen(cluster) > 200) {
		return (sf_status_set(
		    st, SF_INVALID_ARGUMENT, "cluster: 1 to 200 bytes"));
	}
	return (OPS(s)->so_claim_release(s, cluster, token, st));
}

int
sf_store_claim_list(
    sf_store *s, sf_store_claim **out, size_t *n, sf_status *st)
{
	*out = NULL;
	*n   = 0;
	return (OPS(s)->so_claim_list(s, out, n, st));
}

void
sf_store_claims_free(sf_store_claim *c, size_t n)
{
	for (size_t i = 0; c != NULL && i < n; i++) {
		free(c[i].sc_cluster);
		free(c[i].sc_owner);
	}
	free(c);
}

// ------------------------------------------------- several replicas (i15)

int
sf_store_health(sf_store *s, sf_status *st)
{
	const sf_store_ops *ops = OPS(s);
	if (ops->so_size < offsetof(sf_store_ops, so_health) + sizeof(void *)
	    || ops->so_health == NULL) {
		return (0);
	}
	return (ops->so_health(s, st));
}

uint64_t
sf_store_record_generation(sf_store *s, sf_store_kind kind)
{
	const sf_store_ops *ops = OPS(s);
	if (ops->so_size
	        < offsetof(sf_store_ops, so_record_generation) + sizeof(void *)
	    || ops->so_record_generation == NULL) {
		return (0);
	}
	return (ops->so_record_generation(s, kind));
}

// i18-plan
uint32_t
sf_store_txn_ops_left(sf_store_txn *txn, uint32_t *max)
{
	const sf_store_ops *ops = TOPS(txn);
	if (max != NULL) {
		*max = 0;
	}
	if (ops->so_size
	        < offsetof(sf_store_ops, so_txn_ops_left) + sizeof(void *)
	    || ops->so_txn_ops_left == NULL) {
		return (UINT32_MAX);
	}
	return (ops->so_txn_ops_left(txn, max));
}

// i18-wide
void
sf_store_txn_part(sf_store_txn *txn, uint32_t part)
{
	const sf_store_ops *ops = TOPS(txn);
	if (ops->so_size
	        >= offsetof(sf_store_ops, so_txn_part) + sizeof(void *)
	    && ops->so_txn_part != NULL) {
		ops->so_txn_part(txn, part);
	}
}

int
sf_store_txn_split_guard(sf_store_txn *txn, sf_store_kind kind, const char *id)
{
	const sf_store_ops *ops = TOPS(txn);
	if (ops->so_size
	        < offsetof(sf_store_ops, so_txn_split_guard) + sizeof(void *)
	    || ops->so_txn_split_guard == NULL) {
		return (0);
	}
	return (ops->so_txn_split_guard(txn, kind, id));
}

static _Thread_local bool on_writer;

void
sf__store_writer_enter(void)
{
	on_writer = true;
}

bool
sf_store_on_writer(void)
{
	return (on_writer);
}
