// lmdb_read.c: reads in read-only snapshots: get, paged lists, the feed.
//
// Every read holds the map lock shared for its transaction (see
// sf__store_read_begin), decodes what it returns before the transaction
// ends (LMDB's values point into the map), and never blocks the writer.
#include "lmdb_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

// get_one reads the value at key kb[0..kl) of dbi in a read snapshot and
// unpacks it as desc with alloc; fill (NULL: none) completes it inside the
// same snapshot. Returns 0, or NOT_FOUND, DATA_LOSS (undecodable), fill's
// failure or the store's code, with *out NULL.
typedef int get_fill_fn(sf_store *s, MDB_txn *txn, const uint8_t *kb,
    size_t kl, ProtobufCAllocator *alloc, ProtobufCMessage *m);

static int
get_one(sf_store *s, int dbi, const uint8_t *kb, size_t kl,
    const ProtobufCMessageDescriptor *desc, get_fill_fn *fill,
    ProtobufCAllocator *alloc, ProtobufCMessage **out)
{
	MDB_txn *txn;
	MDB_val  k = {kl, (void *) kb}, v;
	int      rv;

	*out = NULL;
	if ((rv = sf__store_read_begin(s, &txn)) != 0) {
		return (rv);
	}
	rv = mdb_get(txn, s->s_dbi[dbi], &k, &v);
	if (rv == 0) {
		*out = protobuf_c_message_unpack(
		    desc, alloc, v.mv_size, v.mv_data);
		rv = *out == NULL  ? SF_DATA_LOSS
		    : fill != NULL ? fill(s, txn, kb, kl, alloc, *out)
		                   : 0;
		if (rv != 0 && *out != NULL) {
			protobuf_c_message_free_unpacked(*out, alloc);
			*out = NULL;
		}
	} else {
		rv = sf__store_mdb_code(rv);
	}
	sf__store_read_end(s, txn);
	return (rv);
}

int
sf__store_lmdb_service_get(sf_store *s, const sf_store_key *key,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out)
{
	uint8_t kb[SF__STORE_KEY_MAX];
	size_t  kl;
	int     rv;

	*out = NULL;
	if ((rv = sf__store_key_service(key, kb, &kl, NULL)) != 0) {
		return (rv);
	}
	return (get_one(s, SF__DB_SERVICES, kb, kl,
	    &svcfleet__v1__service__descriptor, NULL, alloc,
	    (ProtobufCMessage **) out));
}

// ---------------------------------------------------------------- lists

// A scratch arena decodes objects a filter looks at; only the ones it keeps
// are decoded again with the caller's allocator.
static bool
keep_obj(
    const sf_store_filter *f, sf_arena *scratch, const MDB_val *v, int *err)
{
	Svcfleet__V1__Service *svc;
	bool                   keep;

	if (f == NULL || f->f_obj == NULL) {
		return (true);
	}
	sf_arena_reset(scratch);
	svc = svcfleet__v1__service__unpack(
	    sf_arena_pbc(scratch), v->mv_size, v->mv_data);
	if (svc == NULL) {
		*err = SF_DATA_LOSS;
		return (false);
	}
	keep = f->f_obj(f->f_arg, svc);
	return (keep);
}

static bool
has_prefix(const MDB_val *k, const uint8_t *pre, size_t pl)
{
	return (k->mv_size >= pl && memcmp(k->mv_data, pre, pl) == 0);
}

int
sf__store_lmdb_service_list(sf_store *s, const sf_store_list_req *req,
    ProtobufCAllocator *alloc, sf_store_list_res *res, sf_status *st)
{
	const char             *cluster, *ns;
	uint8_t                 pre[SF__STORE_KEY_MAX];
	size_t                  pl = 0;
	uint8_t                 last[SF__STORE_KEY_MAX];
	size_t                  lastlen = 0;
	char                    tcluster[SF__STORE_KEY_MAX + 1];
	char                    tns[SF__STORE_KEY_MAX + 1];
	bool                    skip_ns, more = false;
	uint32_t                examined = 0;
	Svcfleet__V1__Service **items;
	MDB_txn                *txn = NULL;
	MDB_cursor             *cur = NULL;
	MDB_val                 k, v;
	sf_arena                scratch;
	int                     rv, rc;

	memset(res, 0, sizeof(*res));
	cluster = req->lr_cluster != NULL ? req->lr_cluster : "";
	ns      = req->lr_namespace != NULL ? req->lr_namespace : "";
	// A namespace without a cluster: visit that namespace's range in
	// each cluster, jumping over the rest.
	skip_ns = cluster[0] == '\0' && ns[0] != '\0';
	if (req->lr_limit < 1 || req->lr_limit > SF__STORE_LIST_MAX) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "page size %" PRIu32 " is out of range: must be 1..%d",
		    req->lr_limit, SF__STORE_LIST_MAX));
	}
	if ((rv = sf__store_key_prefix(cluster, ns, pre, &pl, st)) != 0) {
		return (rv);
	}
	if (skip_ns && strlen(ns) + 4 > SF__STORE_KEY_MAX) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "namespace is too long for a store key"));
	}
	if (req->lr_page_token != NULL && req->lr_page_token[0] != '\0') {
		sf_store_key tk;
		uint64_t     trev;
		if (sf__store_token_decode(req->lr_page_token, tcluster, tns,
		        last, &lastlen, &trev)
		        != 0
		    || sf__store_key_parse(last, lastlen, &tk) != 0) {
			return (sf_status_set(st, SF_INVALID_ARGUMENT,
			    "page_token: malformed page token"));
		}
		if (strcmp(tcluster, cluster) != 0 || strcmp(tns, ns) != 0
		    || !has_prefix(&(MDB_val) {lastlen, last}, pre, pl)) {
			return (sf_status_set(st, SF_INVALID_ARGUMENT,
			    "page_token: the token belongs to a list with "
			    "other filters (cluster \"%s\", namespace \"%s\")",
			    tcluster, tns));
		}
	}
	items = sf__store_alloc(alloc, req->lr_limit * sizeof(*items));
	if (items == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	sf_arena_init(&scratch);
	if ((rv = sf__store_read_begin(s, &txn)) != 0) {
		sf__store_free(alloc, items);
		return (sf_status_set(st, rv, "store: cannot read"));
	}
	if ((rc = sf__store_meta_get(
	         s, txn, SF__META_REVISION, &res->lr_revision))
	        != 0
	    || (rc = mdb_cursor_open(txn, s->s_dbi[SF__DB_SERVICES], &cur))
	        != 0) {
		goto fail;
	}

	// Position: after the token's key, else at the range's start.
	if (lastlen > 0) {
		k.mv_data = last;
		k.mv_size = lastlen;
		rc        = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && k.mv_size == lastlen
		    && memcmp(k.mv_data, last, lastlen) == 0) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
	} else if (pl > 0) {
		k.mv_data = pre;
		k.mv_size = pl;
		rc        = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	}

	while (rc == 0) {
		sf_store_key sk;
		int          err = 0;

		if (!has_prefix(&k, pre, pl)) {
			break;
		}
		if (res->lr_n == req->lr_limit
		    || examined >= SF__STORE_SCAN_MAX) {
			more = true;
			break;
		}
		if (sf__store_key_parse(k.mv_data, k.mv_size, &sk) != 0) {
			rv = sf_status_set(st, SF_DATA_LOSS,
			    "store: a malformed key in services");
			goto out;
		}
		if (skip_ns && strcmp(sk.k_namespace, ns) != 0) {
			// Seek to cluster\0ns\0 when that is ahead in this
			// cluster, else to the next cluster (cluster\1 sorts
			// after all of its keys); then examine where it lands.
			// A cluster\0ns\0 longer than a key can be holds no
			// Service: then the next cluster too.
			uint8_t seek[SF__STORE_KEY_MAX];
			size_t  sl = strlen(sk.k_cluster) + 1;
			size_t  nl = strlen(ns) + 1;
			memcpy(seek, sk.k_cluster, sl);
			if (strcmp(sk.k_namespace, ns) < 0
			    && sl + nl <= SF__STORE_KEY_MAX) {
				memcpy(seek + sl, ns, nl);
				sl += nl;
			} else {
				seek[sl - 1] = '\1';
			}
			k.mv_data = seek;
			k.mv_size = sl;
			rc        = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
			continue;
		}
		memcpy(last, k.mv_data, k.mv_size);
		lastlen = k.mv_size;
		examined++;
		if ((req->lr_filter.f_key == NULL
		        || req->lr_filter.f_key(req->lr_filter.f_arg,
		            sk.k_cluster, sk.k_namespace))
		    && keep_obj(&req->lr_filter, &scratch, &v, &err)) {
			items[res->lr_n] = svcfleet__v1__service__unpack(
			    alloc, v.mv_size, v.mv_data);
			err = items[res->lr_n] == NULL ? SF_DATA_LOSS : 0;
			if (err == 0) {
				res->lr_n++;
			}
		}
		if (err != 0) {
			rv = sf_status_set(st, err,
			    "store: the stored service %s/%s in cluster %s "
			    "cannot be decoded",
			    sk.k_namespace, sk.k_name, sk.k_cluster);
			goto out;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		goto fail;
	}
	rv = 0;
	goto out;
fail:
	rv = sf_status_set(
	    st, sf__store_mdb_code(rc), "store: list: %s", mdb_strerror(rc));
out:
	if (cur != NULL) {
		mdb_cursor_close(cur);
	}
	sf__store_read_end(s, txn);
	sf_arena_fini(&scratch);
	if (rv == 0) {
		res->lr_items      = items;
		res->lr_next_token = more ? sf__store_token_encode(
		                         alloc, cluster, ns, last, lastlen, 0)
		                          : sf__store_strdup(alloc, "");
		if (res->lr_next_token == NULL) {
			rv = sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL);
		}
	}
	if (rv != 0) {
		for (size_t i = 0; i < res->lr_n; i++) {
			svcfleet__v1__service__free_unpacked(items[i], alloc);
		}
		sf__store_free(alloc, items);
		memset(res, 0, sizeof(*res));
	}
	return (rv);
}

// ------------------------------------------------------------- clusters

// The cluster's credentials are sealed apart from its record.
static int
fill_secrets(sf_store *s, MDB_txn *txn, const uint8_t *kb, size_t kl,
    ProtobufCAllocator *alloc, ProtobufCMessage *m)
{
	return (sf__store_secrets_fill(
	    s, txn, kb, kl, alloc, (Svcfleet__V1__Cluster *) m));
}

int
sf__store_lmdb_cluster_get(sf_store *s, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	uint8_t kb[SF__STORE_KEY_MAX];
	size_t  kl;
	int     rv;

	*out = NULL;
	if ((rv = sf__store_key_cluster(name, kb, &kl, NULL)) != 0) {
		return (rv);
	}
	return (get_one(s, SF__DB_CLUSTERS, kb, kl,
	    &svcfleet__v1__cluster__descriptor, fill_secrets, alloc,
	    (ProtobufCMessage **) out));
}

static int cluster_list(sf_store *s, ProtobufCAllocator *alloc,
    Svcfleet__V1__Cluster ***out, size_t *n, bool secrets);

int
sf__store_lmdb_cluster_list(sf_store *s, ProtobufCAllocator *alloc,
    Svcfleet__V1__Cluster ***out, size_t *n)
{
	return (cluster_list(s, alloc, out, n, true));
}

// i21-cpu2: the clusters without their credentials (nothing unsealed),
// for the fleet loop that reads them five times a second. LMDB's reads
// are always current, so min_rev says nothing here.
int
sf__store_lmdb_cluster_specs_min(sf_store *s, uint64_t min_rev,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster ***out, size_t *n)
{
	(void) min_rev;
	return (cluster_list(s, alloc, out, n, false));
}

static int
cluster_list(sf_store *s, ProtobufCAllocator *alloc,
    Svcfleet__V1__Cluster ***out, size_t *n, bool secrets)
{
	MDB_txn         *txn;
	MDB_cursor      *cur;
	MDB_val          k, v;
	sf__store_ptrvec pv = {NULL, 0, 0};
	int              rv, rc;

	*out = NULL;
	*n   = 0;
	if ((rv = sf__store_read_begin(s, &txn)) != 0) {
		return (rv);
	}
	if ((rc = mdb_cursor_open(txn, s->s_dbi[SF__DB_CLUSTERS], &cur))
	    != 0) {
		sf__store_read_end(s, txn);
		return (sf__store_mdb_code(rc));
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Svcfleet__V1__Cluster *c = svcfleet__v1__cluster__unpack(
		    alloc, v.mv_size, v.mv_data);
		if (c == NULL) {
			rv = SF_DATA_LOSS;
			break;
		}
		if ((secrets
		        && (rv = sf__store_secrets_fill(
		                s, txn, k.mv_data, k.mv_size, alloc, c))
		            != 0)
		    || (rv = sf__store_ptrvec_push(&pv, c)) != 0) {
			svcfleet__v1__cluster__free_unpacked(c, alloc);
			break;
		}
	}
	mdb_cursor_close(cur);
	sf__store_read_end(s, txn);
	if (rv == 0 && rc != MDB_NOTFOUND) {
		rv = sf__store_mdb_code(rc);
	}
	if (rv == 0) {
		size_t cnt = pv.pv_n;
		*out       = (Svcfleet__V1__Cluster **) sf__store_ptrvec_take(
		          &pv, alloc);
		if (*out != NULL) {
			*n = cnt;
			return (0);
		}
		rv = SF_RESOURCE_EXHAUSTED;
	}
	sf__store_ptrvec_abort(&pv, alloc);
	return (rv);
}

// ---------------------------------------------------------- change feed

int
sf__store_lmdb_feed_read(sf_store *s, uint64_t since, uint32_t max,
    const sf_store_filter *filter, ProtobufCAllocator *alloc,
    Svcfleet__V1__WatchEvent ***out, size_t *n, uint64_t *next)
{
	MDB_txn         *txn;
	MDB_cursor      *cur = NULL;
	MDB_val          k, v;
	uint8_t          kb[SF__STORE_FEED_KEY_LEN];
	uint64_t         cur_rev, floor, last = 0;
	uint32_t         examined = 0;
	bool             at_end   = false;
	sf__store_ptrvec pv       = {NULL, 0, 0};
	sf_arena         scratch;
	int              rv = 0, rc;

	*out  = NULL;
	*n    = 0;
	*next = since;
	if (max == 0) {
		return (SF_INVALID_ARGUMENT);
	}
	if (max > SF__STORE_FEED_MAX) {
		max = SF__STORE_FEED_MAX;
	}
	if ((rv = sf__store_read_begin(s, &txn)) != 0) {
		return (rv);
	}
	if ((rc = sf__store_meta_get(s, txn, SF__META_REVISION, &cur_rev)) != 0
	    || (rc = sf__store_meta_get(s, txn, SF__META_FEED_FLOOR, &floor))
	        != 0) {
		sf__store_read_end(s, txn);
		return (sf__store_mdb_code(rc));
	}
	// Entries up to floor - 1 were trimmed: a reader that has seen less
	// than that has missed changes and must relist. A reader ahead of
	// this store has seen another store's revisions.
	if ((floor > 0 && since < floor - 1) || since > cur_rev) {
		sf__store_read_end(s, txn);
		return (SF_OUT_OF_RANGE);
	}
	if ((rc = mdb_cursor_open(txn, s->s_dbi[SF__DB_FEED], &cur)) != 0) {
		sf__store_read_end(s, txn);
		return (sf__store_mdb_code(rc));
	}
	sf_arena_init(&scratch);
	sf__store_key_feed(kb, since + 1, 0);
	k.mv_data = kb;
	k.mv_size = sizeof(kb);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t                  rev = sf__store_key_feed_rev(&k);
		Svcfleet__V1__WatchEvent *ev;

		// Stop only between revisions, never inside one.
		if (rev != last
		    && (pv.pv_n >= max || examined >= SF__STORE_SCAN_MAX)) {
			break;
		}
		last = rev;
		examined++;
		if (filter != NULL
		    && (filter->f_key != NULL || filter->f_obj != NULL)) {
			sf_arena_reset(&scratch);
			ev = svcfleet__v1__watch_event__unpack(
			    sf_arena_pbc(&scratch), v.mv_size, v.mv_data);
			if (ev == NULL) {
				rv = SF_DATA_LOSS;
				break;
			}
			if (!sf__store_keep_event(filter, ev)) {
				continue;
			}
		}
		ev = svcfleet__v1__watch_event__unpack(
		    alloc, v.mv_size, v.mv_data);
		if (ev == NULL) {
			rv = SF_DATA_LOSS;
			break;
		}
		if ((rv = sf__store_ptrvec_push(&pv, ev)) != 0) {
			svcfleet__v1__watch_event__free_unpacked(ev, alloc);
			break;
		}
	}
	if (rv == 0 && rc == MDB_NOTFOUND) {
		at_end = true;
	} else if (rv == 0 && rc != 0) {
		rv = sf__store_mdb_code(rc);
	}
	mdb_cursor_close(cur);
	sf__store_read_end(s, txn);
	sf_arena_fini(&scratch);
	if (rv == 0) {
		size_t cnt = pv.pv_n;
		*out = (Svcfleet__V1__WatchEvent **) sf__store_ptrvec_take(
		    &pv, alloc);
		if (*out != NULL) {
			*n = cnt;
			// At the end every revision up to the snapshot's has
			// been seen (those without feed entries included).
			*next = at_end ? cur_rev : last;
			return (0);
		}
		rv = SF_RESOURCE_EXHAUSTED;
	}
	sf__store_ptrvec_abort(&pv, alloc);
	return (rv);
}
