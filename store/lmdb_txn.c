// lmdb_txn.c: what a write function can do, inside its child transaction.
//
// Everything here runs on the writer thread. Services carry their
// bookkeeping (uid, generation, resource_version, stamps), the node-port
// index follows their spec, and each change appends to the change feed.
#include "lmdb_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int
sf__store_txn_fail(sf_store_txn *t, int rc, const char *what)
{
	if (t->t_mdb_err == 0) {
		t->t_mdb_err = rc;
	}
	return (sf_status_set(t->t_st, sf__store_mdb_code(rc), "store: %s: %s",
	    what, mdb_strerror(rc)));
}

uint64_t
sf__store_lmdb_txn_revision(sf_store_txn *t)
{
	return (t->t_rev);
}

bool
sf__store_lmdb_txn_wrote(sf_store_txn *t)
{
	return (t->t_wrote);
}

int64_t
sf__store_lmdb_txn_now_ms(sf_store_txn *t)
{
	return (t->t_now);
}

// get_service reads and decodes the Service under key (alloc NULL: heap).
// Returns 0, SF_NOT_FOUND or a failure.
static int
get_service(sf_store_txn *t, const uint8_t *key, size_t klen,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out)
{
	MDB_val k = {klen, (void *) key}, v;
	int     rc;

	*out = NULL;
	rc   = mdb_get(t->t_mdb, t->t_store->s_dbi[SF__DB_SERVICES], &k, &v);
	if (rc == MDB_NOTFOUND) {
		return (SF_NOT_FOUND);
	}
	if (rc != 0) {
		return (sf__store_txn_fail(t, rc, "read service"));
	}
	*out = svcfleet__v1__service__unpack(alloc, v.mv_size, v.mv_data);
	if (*out == NULL) {
		sf_store_key sk = {"?", "?", "?"};
		sf__store_key_parse(key, klen, &sk);
		return (sf_status_set(t->t_st, SF_DATA_LOSS,
		    "store: the stored service %s/%s in cluster %s cannot be "
		    "decoded",
		    sk.k_namespace, sk.k_name, sk.k_cluster));
	}
	return (0);
}

int
sf__store_lmdb_txn_service_get(sf_store_txn *t, const sf_store_key *key,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out)
{
	uint8_t kb[SF__STORE_KEY_MAX];
	size_t  kl;
	int     rv;

	*out = NULL;
	if ((rv = sf__store_key_service(key, kb, &kl, t->t_st)) != 0) {
		return (rv);
	}
	return (get_service(t, kb, kl, alloc, out));
}

// put_packed stores msg under (db, key), packed straight into the map.
static int
put_packed(sf_store_txn *t, enum sf__store_db db, const void *key, size_t klen,
    const ProtobufCMessage *msg, const char *what)
{
	MDB_val k = {klen, (void *) key};
	MDB_val v = {protobuf_c_message_get_packed_size(msg), NULL};
	int     rc;

	rc = mdb_put(t->t_mdb, t->t_store->s_dbi[db], &k, &v, MDB_RESERVE);
	if (rc != 0) {
		return (sf__store_txn_fail(t, rc, what));
	}
	protobuf_c_message_pack(msg, v.mv_data);
	return (0);
}

static int
feed_append(
    sf_store_txn *t, Svcfleet__V1__EventType type, Svcfleet__V1__Service *svc)
{
	Svcfleet__V1__WatchEvent ev = SVCFLEET__V1__WATCH_EVENT__INIT;
	uint8_t                  key[SF__STORE_FEED_KEY_LEN];

	ev.type     = type;
	ev.revision = t->t_rev;
	ev.service  = svc;
	sf__store_key_feed(key, t->t_rev, t->t_feed_seq++);
	t->t_feed_added++;
	return (put_packed(t, SF__DB_FEED, key, sizeof(key), &ev.base,
	    "append to the change feed"));
}

// pack_spec packs a spec (NULL = empty) into a heap buffer.
static uint8_t *
pack_spec(const Svcfleet__V1__ServiceSpec *spec, size_t *n)
{
	Svcfleet__V1__ServiceSpec empty = SVCFLEET__V1__SERVICE_SPEC__INIT;
	uint8_t                  *p;

	if (spec == NULL) {
		spec = &empty;
	}
	*n = svcfleet__v1__service_spec__get_packed_size(spec);
	if ((p = malloc(*n > 0 ? *n : 1)) != NULL) {
		svcfleet__v1__service_spec__pack(spec, p);
	}
	return (p);
}

// spec_differs compares the packed specs: protobuf-c packs fields in
// number order and repeated fields in their order, so equal messages pack
// to equal bytes. Returns 1, 0 or -1 (out of memory).
static int
spec_differs(
    const Svcfleet__V1__ServiceSpec *a, const Svcfleet__V1__ServiceSpec *b)
{
	size_t   na, nb;
	uint8_t *pa = pack_spec(a, &na);
	uint8_t *pb = pack_spec(b, &nb);
	int      rv = -1;

	if (pa != NULL && pb != NULL) {
		rv = na != nb || memcmp(pa, pb, na) != 0;
	}
	free(pa);
	free(pb);
	return (rv);
}

// set_str points *dst at a copy of src from the request's allocator unless
// it already holds that text.
static int
set_str(sf_store_txn *t, char **dst, const char *src)
{
	char *p;

	if (src == NULL) {
		src = "";
	}
	if (*dst != NULL && strcmp(*dst, src) == 0) {
		return (0);
	}
	if ((p = sf__store_strdup(t->t_alloc, src)) == NULL) {
		return (sf_status_set(
		    t->t_st, SF_RESOURCE_EXHAUSTED, "store: out of memory"));
	}
	*dst = p;
	return (0);
}

// Node-port index ---------------------------------------------------

// np_fn: what np_foreach does with port i of a Service (owner: its key),
// whose index key is k. Returns 0 to go on, or the failure (set in t).
typedef int np_fn(sf_store_txn *t, size_t i,
    const Svcfleet__V1__ServicePort *p, MDB_val *k, const uint8_t *owner,
    size_t olen);

// np_foreach calls fn for each node port of svc. A port whose index key
// cannot be made fails the walk with t's status, unless skip_bad
// (unindexing: such a port was never indexed).
static int
np_foreach(sf_store_txn *t, const Svcfleet__V1__Service *svc,
    const uint8_t *owner, size_t olen, bool skip_bad, np_fn *fn)
{
	if (svc->spec == NULL) {
		return (0);
	}
	for (size_t i = 0; i < svc->spec->n_ports; i++) {
		const Svcfleet__V1__ServicePort *p = svc->spec->ports[i];
		uint8_t                          kb[SF__STORE_KEY_MAX];
		size_t                           kl;
		MDB_val                          k;
		int                              rc;

		if (p == NULL || p->node_port <= 0) {
			continue;
		}
		if ((rc = sf__store_key_nodeport(svc->metadata->cluster,
		         p->protocol, p->node_port, kb, &kl,
		         skip_bad ? NULL : t->t_st))
		    != 0) {
			if (skip_bad) {
				continue;
			}
			return (rc);
		}
		k.mv_data = kb;
		k.mv_size = kl;
		if ((rc = fn(t, i, p, &k, owner, olen)) != 0) {
			return (rc);
		}
	}
	return (0);
}

// np_unindex_one removes a node port from the index where it points at
// owner (the Service's key).
static int
np_unindex_one(sf_store_txn *t, size_t i, const Svcfleet__V1__ServicePort *p,
    MDB_val *k, const uint8_t *owner, size_t olen)
{
	MDB_val v;
	int     rc;

	(void) i;
	(void) p;
	rc = mdb_get(t->t_mdb, t->t_store->s_dbi[SF__DB_NODEPORTS], k, &v);
	if (rc == MDB_NOTFOUND) {
		return (0);
	}
	if (rc == 0 && v.mv_size == olen
	    && memcmp(v.mv_data, owner, olen) == 0) {
		rc = mdb_del(
		    t->t_mdb, t->t_store->s_dbi[SF__DB_NODEPORTS], k, NULL);
	}
	if (rc != 0) {
		return (sf__store_txn_fail(t, rc, "node-port index"));
	}
	return (0);
}

// np_check_one fails with SF_FAILED_PRECONDITION when the node port is
// indexed for another Service than owner.
static int
np_check_one(sf_store_txn *t, size_t i, const Svcfleet__V1__ServicePort *p,
    MDB_val *k, const uint8_t *owner, size_t olen)
{
	MDB_val      v;
	sf_store_key other;
	int          rc;

	rc = mdb_get(t->t_mdb, t->t_store->s_dbi[SF__DB_NODEPORTS], k, &v);
	if (rc == MDB_NOTFOUND) {
		return (0);
	}
	if (rc != 0) {
		return (sf__store_txn_fail(t, rc, "node-port index"));
	}
	if (v.mv_size == olen && memcmp(v.mv_data, owner, olen) == 0) {
		return (0);
	}
	if (sf__store_key_parse(v.mv_data, v.mv_size, &other) != 0) {
		return (sf_status_set(t->t_st, SF_DATA_LOSS,
		    "store: node-port index entry for %d is corrupt",
		    p->node_port));
	}
	return (sf_status_set(t->t_st, SF_FAILED_PRECONDITION,
	    "spec.ports[%zu].nodePort: Invalid value: %d: provided "
	    "port is already requested by service %s/%s in cluster "
	    "%s",
	    i, p->node_port, other.k_namespace, other.k_name,
	    other.k_cluster));
}

// np_index_one points the node port's index entry at owner.
static int
np_index_one(sf_store_txn *t, size_t i, const Svcfleet__V1__ServicePort *p,
    MDB_val *k, const uint8_t *owner, size_t olen)
{
	MDB_val v = {olen, (void *) owner};
	int     rc;

	(void) i;
	(void) p;
	rc = mdb_put(t->t_mdb, t->t_store->s_dbi[SF__DB_NODEPORTS], k, &v, 0);
	if (rc != 0) {
		return (sf__store_txn_fail(t, rc, "node-port index"));
	}
	return (0);
}

// Services -----------------------------------------------------------

int
sf__store_lmdb_txn_service_put(
    sf_store_txn *t, Svcfleet__V1__Service *svc, bool create_only)
{
	Svcfleet__V1__ObjectMeta *m;
	Svcfleet__V1__Service    *old = NULL;
	uint8_t                   kb[SF__STORE_KEY_MAX];
	size_t                    kl;
	sf_store_key              key;
	int                       rv, differs = 1;
	char                      uid[37];

	if (svc == NULL || (m = svc->metadata) == NULL) {
		return (sf_status_set(
		    t->t_st, SF_INVALID_ARGUMENT, "metadata: Required value"));
	}
	key.k_cluster   = m->cluster;
	key.k_namespace = m->namespace_;
	key.k_name      = m->name;
	if ((rv = sf__store_key_service(&key, kb, &kl, t->t_st)) != 0) {
		return (rv);
	}
	rv = get_service(t, kb, kl, NULL, &old);
	if (rv != 0 && rv != SF_NOT_FOUND) {
		return (rv);
	}
	if (old != NULL && old->metadata == NULL) {
		svcfleet__v1__service__free_unpacked(old, NULL);
		return (sf_status_set(t->t_st, SF_DATA_LOSS,
		    "store: the stored service %s/%s has no metadata",
		    m->namespace_, m->name));
	}
	if (old != NULL && create_only) {
		svcfleet__v1__service__free_unpacked(old, NULL);
		return (SF_ALREADY_EXISTS);
	}
	// Checks first, so a refused put leaves svc as it was.
	if ((rv = np_foreach(t, svc, kb, kl, false, np_check_one)) != 0) {
		goto out;
	}
	if (old != NULL
	    && (differs = spec_differs(old->spec, svc->spec)) < 0) {
		rv = sf_status_set(
		    t->t_st, SF_RESOURCE_EXHAUSTED, "store: out of memory");
		goto out;
	}
	if (old == NULL) {
		if (sf__store_uuid(uid) != 0) {
			rv = sf_status_set(t->t_st, SF_INTERNAL,
			    "store: no randomness for a uid");
			goto out;
		}
		if ((rv = set_str(t, &m->uid, uid)) != 0) {
			goto out;
		}
		m->generation     = 1;
		m->create_time_ms = t->t_now;
	} else {
		if ((rv = set_str(t, &m->uid, old->metadata->uid)) != 0
		    || (rv = set_str(
		            t, &m->created_by, old->metadata->created_by))
		        != 0) {
			goto out;
		}
		m->create_time_ms = old->metadata->create_time_ms;
		m->generation = old->metadata->generation + (differs ? 1 : 0);
		if (m->generation < 1) {
			m->generation = 1;
		}
	}
	m->resource_version = t->t_rev;
	m->update_time_ms   = t->t_now;

	if ((old != NULL
	        && (rv = np_foreach(t, old, kb, kl, true, np_unindex_one))
	            != 0)
	    || (rv = np_foreach(t, svc, kb, kl, false, np_index_one)) != 0
	    || (rv = put_packed(
	            t, SF__DB_SERVICES, kb, kl, &svc->base, "store service"))
	        != 0
	    || (rv = feed_append(t,
	            old == NULL
	                ? SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_ADDED
	                : SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_MODIFIED,
	            svc))
	        != 0) {
		goto out;
	}
	t->t_wrote = true;
	if (old == NULL) {
		t->t_services_delta++;
	}
out:
	if (old != NULL) {
		svcfleet__v1__service__free_unpacked(old, NULL);
	}
	return (rv);
}

int
sf__store_lmdb_txn_service_delete(sf_store_txn *t, const sf_store_key *key)
{
	Svcfleet__V1__Service *old;
	uint8_t                kb[SF__STORE_KEY_MAX];
	size_t                 kl;
	MDB_val                k;
	int                    rv, rc;

	if ((rv = sf__store_key_service(key, kb, &kl, t->t_st)) != 0) {
		return (rv);
	}
	if ((rv = get_service(t, kb, kl, NULL, &old)) != 0) {
		return (rv);
	}
	k.mv_data = kb;
	k.mv_size = kl;
	if (old->metadata != NULL
	    && (rv = np_foreach(t, old, kb, kl, true, np_unindex_one)) != 0) {
		goto out;
	}
	rc = mdb_del(t->t_mdb, t->t_store->s_dbi[SF__DB_SERVICES], &k, NULL);
	if (rc != 0) {
		rv = sf__store_txn_fail(t, rc, "delete service");
		goto out;
	}
	// The DELETED event carries the last stored state, at the revision
	// of its deletion.
	if (old->metadata != NULL) {
		old->metadata->resource_version = t->t_rev;
	}
	if ((rv = feed_append(
	         t, SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_DELETED, old))
	    != 0) {
		goto out;
	}
	t->t_wrote = true;
	t->t_services_delta--;
out:
	svcfleet__v1__service__free_unpacked(old, NULL);
	return (rv);
}

int
sf__store_lmdb_txn_nodeport_owner(sf_store_txn *t, const char *cluster,
    const char *protocol, int32_t port, ProtobufCAllocator *alloc,
    sf_store_key *owner)
{
	uint8_t      kb[SF__STORE_KEY_MAX];
	size_t       kl;
	MDB_val      k, v;
	sf_store_key o;
	char        *c, *ns, *name;
	int          rv, rc;

	memset(owner, 0, sizeof(*owner));
	if ((rv = sf__store_key_nodeport(
	         cluster, protocol, port, kb, &kl, t->t_st))
	    != 0) {
		return (rv);
	}
	k.mv_data = kb;
	k.mv_size = kl;
	rc = mdb_get(t->t_mdb, t->t_store->s_dbi[SF__DB_NODEPORTS], &k, &v);
	if (rc == MDB_NOTFOUND) {
		return (SF_NOT_FOUND);
	}
	if (rc != 0) {
		return (sf__store_txn_fail(t, rc, "node-port index"));
	}
	if (sf__store_key_parse(v.mv_data, v.mv_size, &o) != 0) {
		return (sf_status_set(t->t_st, SF_DATA_LOSS,
		    "store: node-port index entry for %d is corrupt", port));
	}
	c    = sf__store_strdup(alloc, o.k_cluster);
	ns   = sf__store_strdup(alloc, o.k_namespace);
	name = sf__store_strdup(alloc, o.k_name);
	if (c == NULL || ns == NULL || name == NULL) {
		sf__store_free(alloc, c);
		sf__store_free(alloc, ns);
		sf__store_free(alloc, name);
		return (sf_status_set(
		    t->t_st, SF_RESOURCE_EXHAUSTED, "store: out of memory"));
	}
	owner->k_cluster   = c;
	owner->k_namespace = ns;
	owner->k_name      = name;
	return (0);
}

int
sf__store_lmdb_txn_cluster_count_services(
    sf_store_txn *t, const char *cluster, uint64_t limit, uint64_t *n)
{
	uint8_t     pre[SF__STORE_KEY_MAX];
	size_t      pl;
	MDB_cursor *cur;
	MDB_val     k, v;
	int         rv, rc;

	*n = 0;
	if ((rv = sf__store_key_cluster(cluster, pre, &pl, t->t_st)) != 0) {
		return (rv);
	}
	rc = mdb_cursor_open(
	    t->t_mdb, t->t_store->s_dbi[SF__DB_SERVICES], &cur);
	if (rc != 0) {
		return (sf__store_txn_fail(t, rc, "count services"));
	}
	k.mv_data = pre;
	k.mv_size = pl;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < pl || memcmp(k.mv_data, pre, pl) != 0) {
			break;
		}
		(*n)++;
		if (limit > 0 && *n >= limit) {
			break;
		}
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		return (sf__store_txn_fail(t, rc, "count services"));
	}
	return (0);
}

// Clusters -----------------------------------------------------------

// get_cluster_with reads a cluster record; its credentials are unsealed
// only when creds (Service writes need the rest, not them).
static int
get_cluster_with(sf_store_txn *t, const uint8_t *key, size_t klen, bool creds,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	MDB_val k = {klen, (void *) key}, v;
	int     rc;

	*out = NULL;
	rc   = mdb_get(t->t_mdb, t->t_store->s_dbi[SF__DB_CLUSTERS], &k, &v);
	if (rc == MDB_NOTFOUND) {
		return (SF_NOT_FOUND);
	}
	if (rc != 0) {
		return (sf__store_txn_fail(t, rc, "read cluster"));
	}
	*out = svcfleet__v1__cluster__unpack(alloc, v.mv_size, v.mv_data);
	if (*out == NULL) {
		return (sf_status_set(t->t_st, SF_DATA_LOSS,
		    "store: the stored cluster %s cannot be decoded",
		    (const char *) key));
	}
	if (creds
	    && (rc = sf__store_secrets_fill(
	            t->t_store, t->t_mdb, key, klen, alloc, *out))
	        != 0) {
		svcfleet__v1__cluster__free_unpacked(*out, alloc);
		*out = NULL;
		return (sf_status_set(t->t_st, rc,
		    "store: the credentials of cluster %s cannot be read",
		    (const char *) key));
	}
	return (0);
}

static int
get_cluster(sf_store_txn *t, const uint8_t *key, size_t klen,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	return (get_cluster_with(t, key, klen, true, alloc, out));
}

int
sf__store_lmdb_txn_cluster_get(sf_store_txn *t, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	uint8_t kb[SF__STORE_KEY_MAX];
	size_t  kl;
	int     rv;

	*out = NULL;
	if ((rv = sf__store_key_cluster(name, kb, &kl, t->t_st)) != 0) {
		return (rv);
	}
	return (get_cluster(t, kb, kl, alloc, out));
}

int
sf__store_lmdb_txn_cluster_spec_get(sf_store_txn *t, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	uint8_t kb[SF__STORE_KEY_MAX];
	size_t  kl;
	int     rv;

	*out = NULL;
	if ((rv = sf__store_key_cluster(name, kb, &kl, t->t_st)) != 0) {
		return (rv);
	}
	return (get_cluster_with(t, kb, kl, false, alloc, out));
}

int
sf__store_lmdb_txn_cluster_put(
    sf_store_txn *t, Svcfleet__V1__Cluster *c, bool create_only)
{
	Svcfleet__V1__Cluster *old = NULL;
	uint8_t                kb[SF__STORE_KEY_MAX];
	size_t                 kl;
	int                    rv;

	if (c == NULL) {
		return (sf_status_set(
		    t->t_st, SF_INVALID_ARGUMENT, "cluster: Required value"));
	}
	if ((rv = sf__store_key_cluster(c->name, kb, &kl, t->t_st)) != 0) {
		return (rv);
	}
	rv = get_cluster(t, kb, kl, NULL, &old);
	if (rv != 0 && rv != SF_NOT_FOUND) {
		return (rv);
	}
	if (old != NULL && create_only) {
		svcfleet__v1__cluster__free_unpacked(old, NULL);
		return (SF_ALREADY_EXISTS);
	}
	if (old == NULL) {
		c->create_time_ms = t->t_now;
	} else {
		c->create_time_ms = old->create_time_ms;
		if ((rv = set_str(t, &c->created_by, old->created_by)) != 0) {
			goto out;
		}
	}
	c->resource_version = t->t_rev;
	c->update_time_ms   = t->t_now;
	int mrc;
	rv = sf__store_cluster_write(t->t_store, t->t_mdb, kb, kl, c, &mrc);
	if (mrc != 0) {
		rv = sf__store_txn_fail(t, mrc, "store cluster");
		goto out;
	}
	if (rv != 0) {
		rv = sf_status_set(t->t_st, rv,
		    "store: sealing the credentials of cluster %s failed",
		    c->name);
		goto out;
	}
	t->t_wrote = true;
out:
	if (old != NULL) {
		svcfleet__v1__cluster__free_unpacked(old, NULL);
	}
	return (rv);
}

int
sf__store_lmdb_txn_cluster_delete(sf_store_txn *t, const char *name)
{
	uint8_t kb[SF__STORE_KEY_MAX];
	size_t  kl;
	MDB_val k;
	int     rv, rc;

	if ((rv = sf__store_key_cluster(name, kb, &kl, t->t_st)) != 0) {
		return (rv);
	}
	k.mv_data = kb;
	k.mv_size = kl;
	rc = mdb_del(t->t_mdb, t->t_store->s_dbi[SF__DB_CLUSTERS], &k, NULL);
	if (rc == MDB_NOTFOUND) {
		return (SF_NOT_FOUND);
	}
	if (rc == 0) {
		rc = sf__store_secrets_delete(t->t_store, t->t_mdb, kb, kl);
	}
	if (rc != 0) {
		return (sf__store_txn_fail(t, rc, "delete cluster"));
	}
	t->t_wrote = true;
	return (0);
}
