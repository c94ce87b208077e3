// etcd_read.c: reads on the etcd backend: get, paged lists, clusters,
// identity records and the audit log.
//
// Reads are linearizable ranges (etcd's default): a read never returns
// older data than a write acknowledged before it began. Reads that must
// agree with each other (a cluster and its sealed credentials) are one
// read-only transaction. Lists page at a pinned revision: the first page's
// answer fixes it and the page token carries it, so a list read in pages
// is one snapshot; when that revision has been compacted away the list
// goes on from the token's key at the current revision, which is what the
// LMDB backend guarantees anyway (nothing twice, nothing that existed
// throughout skipped).
//
// etcd (3.4 and 3.5 alike) walks its whole index over a range's
// [key, range_end) whatever the limit, to count it: a page read as "from
// here to the end of the list, limit N" costs as much as the rest of the
// list, and reading a long list in pages costs its length squared. So a
// page that goes on from a key first reads to the end of that key's
// namespace, and only when it is exhausted reads on beyond: a page costs
// about its namespace, plus one walk of the rest each time a list crosses
// into another namespace.
#include "etcd_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

Svcfleet__V1__Service *
sf__store_etcd_unpack_service(
    const uint8_t *v, size_t n, int64_t mod, ProtobufCAllocator *alloc)
{
	Svcfleet__V1__Service *svc
	    = svcfleet__v1__service__unpack(alloc, n, v);

	if (svc != NULL && svc->metadata != NULL) {
		svc->metadata->resource_version = (uint64_t) mod;
	}
	return (svc);
}

int
sf__store_etcd_fill_credentials(sf_store *s, const uint8_t *blob, size_t n,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster *c)
{
	int rv;

	if (blob == NULL) {
		return (0);
	}
	if (!s->s_sealing) {
		return (SF_FAILED_PRECONDITION);
	}
	rv = sf__store_unseal(s->s_secret_key, c->name, blob, n, alloc, c);
	if (rv != 0) {
		SF_ERROR("store",
		    "the credentials of cluster \"%s\" cannot be opened: %s",
		    c->name,
		    rv == SF_FAILED_PRECONDITION
		        ? "sealed with another secret key"
		        : "the sealed data is damaged or was moved");
	}
	return (rv);
}

// How long a read waits for the view to reach its caller's revision
// before it asks etcd (i15-perf).
#define VIEW_WAIT_MS 1000

// get_one reads key k; *kv is NULL when absent. *resp holds it.
static int
get_one(sf_store *s, const sf__store_ekey *k, const char *what, json_t **resp,
    json_t **kv, sf_status *st)
{
	int rv = sf__store_etcd_range(s, k, NULL, 0, 0, 0, what, resp, st);
	*kv    = rv == 0 ? json_array_get(json_object_get(*resp, "kvs"), 0)
	                 : NULL;
	return (rv);
}

int
sf__store_etcd_service_get(sf_store *s, const sf_store_key *key,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out)
{
	return (sf__store_etcd_service_get_min(s, key, 0, alloc, out, NULL));
}

// kv_service decodes a range answer's key (NULL: absent) into *out, its
// resource_version the key's mod_revision.
static int
kv_service(
    const json_t *kv, ProtobufCAllocator *alloc, Svcfleet__V1__Service **out)
{
	uint8_t *v = NULL;
	size_t   n;
	int      rv = 0;

	if (kv == NULL) {
		return (SF_NOT_FOUND);
	}
	if (sf__store_etcd_kv_value(kv, &v, &n) != 0
	    || (*out = sf__store_etcd_unpack_service(
	            v, n, sf__store_etcd_i64(kv, "mod_revision"), alloc))
	        == NULL) {
		rv = SF_DATA_LOSS;
	}
	free(v);
	return (rv);
}

// service_ekey makes the etcd key of the Service key.
static int
service_ekey(sf_store *s, const sf_store_key *key, sf__store_ekey *ek)
{
	uint8_t kb[SF__STORE_KEY_MAX];
	size_t  kl;
	int     rv;

	if ((rv = sf__store_key_service(key, kb, &kl, NULL)) != 0) {
		return (rv);
	}
	return (sf__store_ekey_make(s, SF__STORE_ETCD_SVC, kb, kl, ek) != 0
	        ? SF_INVALID_ARGUMENT
	        : 0);
}

int
sf__store_etcd_service_get_min(sf_store *s, const sf_store_key *key,
    uint64_t min_rev, ProtobufCAllocator *alloc, Svcfleet__V1__Service **out,
    uint64_t *rev)
{
	sf__store_ekey ek;
	json_t        *resp = NULL, *kv;
	sf_status      st;
	int            rv;

	*out = NULL;
	if ((rv = service_ekey(s, key, &ek)) != 0) {
		return (rv);
	}
	sf_status_init(&st);
	if (min_rev > 0
	    && sf__store_etcd_view_range(
	           s, &ek, NULL, 0, 0, min_rev, VIEW_WAIT_MS, &resp)
	        == 0) {
		rv = 0; // i15-perf: the caller's revision is in the view
		kv = json_array_get(json_object_get(resp, "kvs"), 0);
	} else {
		rv = get_one(s, &ek, "a service", &resp, &kv, &st);
	}
	if (rv == 0 && rev != NULL) {
		*rev = sf__store_etcd_rev(resp);
	}
	if (rv == 0) {
		rv = kv_service(kv, alloc, out);
	} else {
		SF_WARN("store", "%s", st.st_msg);
	}
	json_decref(resp);
	sf_status_fini(&st);
	return (rv);
}

// i15-create: the Service at revision rev (a replay's answer).
int
sf__store_etcd_service_get_at(sf_store *s, const sf_store_key *key,
    uint64_t rev, ProtobufCAllocator *alloc, Svcfleet__V1__Service **out)
{
	sf__store_ekey ek;
	json_t        *resp = NULL, *kv;
	sf_status      st;
	int            rv;

	*out = NULL;
	if (rev == 0) {
		return (SF_INVALID_ARGUMENT);
	}
	if ((rv = service_ekey(s, key, &ek)) != 0) {
		return (rv);
	}
	sf_status_init(&st);
	rv = sf__store_etcd_range(
	    s, &ek, NULL, rev, 0, 0, "a service", &resp, &st);
	if (rv == 0) {
		kv = json_array_get(json_object_get(resp, "kvs"), 0);
		rv = kv_service(kv, alloc, out);
	} else if (rv != SF_OUT_OF_RANGE) {
		SF_WARN("store", "%s", st.st_msg);
	}
	json_decref(resp);
	sf_status_fini(&st);
	return (rv);
}

// ---------------------------------------------------------------- lists

// A list's walk: where the next range starts, what it has examined.
typedef struct walk {
	sf_store                *w_s;
	const sf_store_list_req *w_req;
	ProtobufCAllocator      *w_alloc;
	sf_status               *w_st;
	const char              *w_ns;
	bool                     w_skip_ns;
	sf__store_ekey           w_from; // the next range's first key
	sf__store_ekey           w_end;  // the end of the listed range
	uint64_t                 w_rev;  // pinned revision, 0 until known
	uint64_t                 w_min;  // the caller's revision (i15-perf)
	uint8_t                  w_last[SF__STORE_KEY_MAX];
	size_t                   w_lastlen;
	uint32_t                 w_examined;
	bool                     w_more;
	Svcfleet__V1__Service  **w_items;
	size_t                   w_n;
	sf_arena                 w_scratch;
} walk;

static bool
keep_obj(walk *w, const uint8_t *v, size_t n, int *err)
{
	const sf_store_filter *f = &w->w_req->lr_filter;
	Svcfleet__V1__Service *svc;

	if (f->f_obj == NULL) {
		return (true);
	}
	sf_arena_reset(&w->w_scratch);
	svc = svcfleet__v1__service__unpack(sf_arena_pbc(&w->w_scratch), n, v);
	if (svc == NULL) {
		*err = SF_DATA_LOSS;
		return (false);
	}
	return (f->f_obj(f->f_arg, svc));
}

// ekey_cmp orders etcd keys as etcd does (bytewise).
static int
ekey_cmp(const sf__store_ekey *a, const sf__store_ekey *b)
{
	size_t n = a->k_n < b->k_n ? a->k_n : b->k_n;
	int    c = memcmp(a->k_b, b->k_b, n);
	return (c != 0 ? c : (a->k_n < b->k_n ? -1 : a->k_n > b->k_n));
}

// ns_end makes the end of the namespace of the walk's last key
// (cluster\0ns\1); false when there is no last key.
static bool
ns_end(walk *w, sf__store_ekey *end)
{
	sf_store_key sk;
	size_t       n;

	if (w->w_lastlen == 0
	    || sf__store_key_parse(w->w_last, w->w_lastlen, &sk) != 0) {
		return (false);
	}
	n = strlen(sk.k_cluster) + 1 + strlen(sk.k_namespace) + 1;
	sf__store_ekey_make(w->w_s, SF__STORE_ETCD_SVC, w->w_last, n, end);
	end->k_b[end->k_n - 1] = 1;
	return (true);
}

// seek_past_ns moves w_from to the next place the namespace can be found
// after key sk (in this cluster, or the next cluster).
static void
seek_past_ns(walk *w, const sf_store_key *sk)
{
	uint8_t seek[SF__STORE_KEY_MAX];
	size_t  sl = strlen(sk->k_cluster) + 1;
	size_t  nl = strlen(w->w_ns) + 1;

	memcpy(seek, sk->k_cluster, sl);
	if (strcmp(sk->k_namespace, w->w_ns) < 0
	    && sl + nl <= SF__STORE_KEY_MAX) {
		memcpy(seek + sl, w->w_ns, nl);
		sl += nl;
	} else {
		// cluster\1 sorts after every key of the cluster.
		seek[sl - 1] = '\1';
	}
	sf__store_ekey_make(w->w_s, SF__STORE_ETCD_SVC, seek, sl, &w->w_from);
}

// take_one walks one key of a range (inner: the key without P svc/).
// Returns 0 (go on), -1 (this range ends here; *done, w_more and w_from
// say why) or an SF_* code.
static int
take_one(walk *w, const uint8_t *inner, size_t il, const uint8_t *v, size_t vn,
    int64_t mod, bool *done)
{
	const sf_store_list_req *req = w->w_req;
	sf_store_key             sk;
	int                      err = 0;

	if (sf__store_key_parse(inner, il, &sk) != 0) {
		return (sf_status_set(w->w_st, SF_DATA_LOSS,
		    "store: a malformed key in services"));
	}
	if (w->w_n == req->lr_limit || w->w_examined >= SF__STORE_SCAN_MAX) {
		w->w_more = true;
		*done     = true;
		return (-1);
	}
	if (w->w_skip_ns && strcmp(sk.k_namespace, w->w_ns) != 0) {
		seek_past_ns(w, &sk);
		return (-1);
	}
	memcpy(w->w_last, inner, il);
	w->w_lastlen = il;
	w->w_examined++;
	if ((req->lr_filter.f_key == NULL
	        || req->lr_filter.f_key(
	            req->lr_filter.f_arg, sk.k_cluster, sk.k_namespace))
	    && keep_obj(w, v, vn, &err)) {
		w->w_items[w->w_n]
		    = sf__store_etcd_unpack_service(v, vn, mod, w->w_alloc);
		err = w->w_items[w->w_n] == NULL ? SF_DATA_LOSS : 0;
		if (err == 0) {
			w->w_n++;
		}
	}
	if (err != 0) {
		return (sf_status_set(w->w_st, err,
		    "store: the stored service %s/%s in cluster %s cannot be "
		    "decoded",
		    sk.k_namespace, sk.k_name, sk.k_cluster));
	}
	return (0);
}

// step reads one range and walks its keys. Returns 0 (*done tells whether
// the page is complete) or an SF_* code.
static int
step(walk *w, bool *done)
{
	const sf_store_list_req *req  = w->w_req;
	json_t                  *resp = NULL, *kvs;
	uint32_t                 want = req->lr_limit - (uint32_t) w->w_n;
	size_t                   i, cnt;
	bool                     more, bounded;
	sf__store_ekey           end;
	int                      rv;

	*done = false;
	// Within the last key's namespace first (see the top of the file).
	bounded = ns_end(w, &end) && ekey_cmp(&w->w_from, &end) < 0
	    && ekey_cmp(&end, &w->w_end) < 0;
	if (!bounded) {
		end = w->w_end;
	}
	if (req->lr_filter.f_key != NULL || req->lr_filter.f_obj != NULL
	    || (w->w_skip_ns && !bounded)) {
		// Filters: read ahead, within what the page may examine.
		want = want < 100 ? 100 : want;
		want = want > 1000 ? 1000 : want;
	}
	if (want > SF__STORE_SCAN_MAX - w->w_examined) {
		want = SF__STORE_SCAN_MAX - w->w_examined;
	}
	// One key more than the page can take tells whether there is more.
	// i15-perf: from the view when the caller named a revision it has
	// reached (and a pinned one it still holds), its entries taken as
	// they are; else from etcd.
	if (w->w_min > 0) {
		sf__store_vent *ents  = NULL;
		size_t          nents = 0;
		uint64_t        at    = 0;
		if (sf__store_etcd_view_copy(w->w_s, &w->w_from, &end,
		        w->w_rev, (int64_t) want + 1, w->w_min, VIEW_WAIT_MS,
		        &ents, &nents, &more, &at)
		    == 0) {
			size_t pl
			    = w->w_s->s_plen + strlen(SF__STORE_ETCD_SVC);
			rv = 0;
			if (w->w_rev == 0) {
				w->w_rev = at;
			}
			for (i = 0; i < nents && rv == 0; i++) {
				rv = ents[i].ve_kn < pl
				    ? sf_status_set(w->w_st, SF_DATA_LOSS,
				        "store: a malformed key in services")
				    : take_one(w, ents[i].ve_k + pl,
				        ents[i].ve_kn - pl, ents[i].ve_v,
				        ents[i].ve_vn, ents[i].ve_mod, done);
			}
			sf__store_view_copy_free(ents, nents);
			if (rv != 0) {
				return (rv < 0 ? 0 : rv);
			}
			goto walked;
		}
		w->w_min = 0; // not again in this page
	}
	rv = sf__store_etcd_range(w->w_s, &w->w_from, &end, w->w_rev,
	    (int64_t) want + 1, 0, "a list of services", &resp, w->w_st);
	if (rv == SF_OUT_OF_RANGE && w->w_rev != 0) {
		// The pinned revision was compacted: go on from here at the
		// current one.
		sf_status_reset(w->w_st);
		json_decref(resp);
		w->w_rev = 0;
		return (0);
	}
	if (rv != 0) {
		return (rv);
	}
	if (w->w_rev == 0) {
		w->w_rev = sf__store_etcd_rev(resp);
	}
	kvs  = json_object_get(resp, "kvs");
	cnt  = json_array_size(kvs);
	more = json_is_true(json_object_get(resp, "more"));
	for (i = 0; i < cnt; i++) {
		json_t        *kv  = json_array_get(kvs, i);
		uint8_t       *buf = NULL, *v = NULL;
		const uint8_t *inner;
		size_t         il, vn = 0;

		if (sf__store_etcd_kv_key(
		        w->w_s, kv, SF__STORE_ETCD_SVC, &buf, &inner, &il)
		        != 0
		    || sf__store_etcd_kv_value(kv, &v, &vn) != 0) {
			free(buf);
			free(v);
			json_decref(resp);
			return (sf_status_set(w->w_st, SF_DATA_LOSS,
			    "store: a malformed key or value in services"));
		}
		rv = take_one(w, inner, il, v, vn,
		    sf__store_etcd_i64(kv, "mod_revision"), done);
		free(buf);
		free(v);
		if (rv != 0) {
			json_decref(resp);
			return (rv < 0 ? 0 : rv);
		}
	}
	json_decref(resp);
walked:
	if (!more && bounded) {
		// The namespace is done: on beyond it.
		w->w_from = end;
		return (0);
	}
	if (!more) {
		*done = true;
		return (0);
	}
	// The next range starts right after the last key examined.
	sf__store_ekey_make(
	    w->w_s, SF__STORE_ETCD_SVC, w->w_last, w->w_lastlen, &w->w_from);
	w->w_from.k_b[w->w_from.k_n++] = 0;
	return (0);
}

int
sf__store_etcd_service_list(sf_store *s, const sf_store_list_req *req,
    ProtobufCAllocator *alloc, sf_store_list_res *res, sf_status *st)
{
	const char    *cluster, *ns;
	uint8_t        pre[SF__STORE_KEY_MAX];
	size_t         pl = 0;
	char           tcluster[SF__STORE_KEY_MAX + 1];
	char           tns[SF__STORE_KEY_MAX + 1];
	walk           w;
	sf__store_ekey base;
	int            rv   = 0;
	bool           done = false;

	memset(res, 0, sizeof(*res));
	memset(&w, 0, sizeof(w));
	cluster     = req->lr_cluster != NULL ? req->lr_cluster : "";
	ns          = req->lr_namespace != NULL ? req->lr_namespace : "";
	w.w_s       = s;
	w.w_req     = req;
	w.w_alloc   = alloc;
	w.w_st      = st;
	w.w_ns      = ns;
	w.w_skip_ns = cluster[0] == '\0' && ns[0] != '\0';
	w.w_min     = req->lr_min_revision;
	if (req->lr_limit < 1 || req->lr_limit > SF__STORE_LIST_MAX) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "page size %" PRIu32 " is out of range: must be 1..%d",
		    req->lr_limit, SF__STORE_LIST_MAX));
	}
	if ((rv = sf__store_key_prefix(cluster, ns, pre, &pl, st)) != 0) {
		return (rv);
	}
	if (w.w_skip_ns && strlen(ns) + 4 > SF__STORE_KEY_MAX) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "namespace is too long for a store key"));
	}
	sf__store_ekey_make(s, SF__STORE_ETCD_SVC, pre, pl, &base);
	sf__store_ekey_end(&base, &w.w_end);
	w.w_from = base;
	if (req->lr_page_token != NULL && req->lr_page_token[0] != '\0') {
		sf_store_key tk;
		if (sf__store_token_decode(req->lr_page_token, tcluster, tns,
		        w.w_last, &w.w_lastlen, &w.w_rev)
		        != 0
		    || sf__store_key_parse(w.w_last, w.w_lastlen, &tk) != 0) {
			return (sf_status_set(st, SF_INVALID_ARGUMENT,
			    "page_token: malformed page token"));
		}
		if (strcmp(tcluster, cluster) != 0 || strcmp(tns, ns) != 0
		    || w.w_lastlen < pl || memcmp(w.w_last, pre, pl) != 0) {
			return (sf_status_set(st, SF_INVALID_ARGUMENT,
			    "page_token: the token belongs to a list with "
			    "other filters (cluster \"%s\", namespace \"%s\")",
			    tcluster, tns));
		}
		sf__store_ekey_make(
		    s, SF__STORE_ETCD_SVC, w.w_last, w.w_lastlen, &w.w_from);
		w.w_from.k_b[w.w_from.k_n++] = 0;
	}
	w.w_items = sf__store_alloc(alloc, req->lr_limit * sizeof(*w.w_items));
	if (w.w_items == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	sf_arena_init(&w.w_scratch);
	while (!done && rv == 0) {
		rv = step(&w, &done);
	}
	sf_arena_fini(&w.w_scratch);
	if (rv == 0) {
		res->lr_items      = w.w_items;
		res->lr_n          = w.w_n;
		res->lr_revision   = w.w_rev;
		res->lr_next_token = w.w_more
		    ? sf__store_token_encode(
		        alloc, cluster, ns, w.w_last, w.w_lastlen, w.w_rev)
		    : sf__store_strdup(alloc, "");
		if (res->lr_next_token == NULL) {
			rv = sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL);
		}
	}
	if (rv != 0) {
		for (size_t i = 0; i < w.w_n; i++) {
			svcfleet__v1__service__free_unpacked(
			    w.w_items[i], alloc);
		}
		sf__store_free(alloc, w.w_items);
		memset(res, 0, sizeof(*res));
	}
	return (rv);
}

// ------------------------------------------------------------- clusters

// read_txn reads several ranges in one read-only transaction (one
// snapshot, one round trip). ops is taken.
static int
read_txn(
    sf_store *s, json_t *ops, const char *what, json_t **resp, sf_status *st)
{
	json_t *req = json_pack("{s:o}", "success", ops);
	int     rv;

	*resp = NULL;
	if (req == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	rv = sf__store_etcd_call(
	    s->s_etcd, "kv/txn", req, what, resp, NULL, st);
	json_decref(req);
	if (rv == 0) {
		sf__store_etcd_saw(s, sf__store_etcd_rev(*resp));
	}
	return (rv);
}

static json_t *
range_op(const sf__store_ekey *k, const sf__store_ekey *end)
{
	json_t *r
	    = json_pack("{s:o}", "key", sf__store_etcd_b64(k->k_b, k->k_n));
	if (r != NULL && end != NULL) {
		json_object_set_new(
		    r, "range_end", sf__store_etcd_b64(end->k_b, end->k_n));
	}
	return (json_pack("{s:o}", "request_range", r));
}

static json_t *
txn_kvs(const json_t *resp, size_t i)
{
	json_t *r = json_array_get(json_object_get(resp, "responses"), i);
	return (json_object_get(json_object_get(r, "response_range"), "kvs"));
}

// cluster_of decodes a cluster record kv and fills its credentials from
// sec (may be NULL).
static int
cluster_of(sf_store *s, const json_t *kv, const json_t *sec,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	uint8_t *v = NULL, *b = NULL;
	size_t   n, bn;
	int      rv = 0;

	*out = NULL;
	if (sf__store_etcd_kv_value(kv, &v, &n) != 0
	    || (*out = svcfleet__v1__cluster__unpack(alloc, n, v)) == NULL) {
		free(v);
		return (SF_DATA_LOSS);
	}
	free(v);
	(*out)->resource_version
	    = (uint64_t) sf__store_etcd_i64(kv, "mod_revision");
	if (sec != NULL) {
		if (sf__store_etcd_kv_value(sec, &b, &bn) != 0) {
			rv = SF_DATA_LOSS;
		} else {
			rv = sf__store_etcd_fill_credentials(
			    s, b, bn, alloc, *out);
		}
		free(b);
	}
	if (rv != 0) {
		svcfleet__v1__cluster__free_unpacked(*out, alloc);
		*out = NULL;
	}
	return (rv);
}

int
sf__store_etcd_cluster_get(sf_store *s, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	uint8_t        kb[SF__STORE_KEY_MAX];
	size_t         kl;
	sf__store_ekey kc, ks;
	json_t        *resp = NULL, *kv;
	sf_status      st;
	int            rv;

	*out = NULL;
	if ((rv = sf__store_key_cluster(name, kb, &kl, NULL)) != 0) {
		return (rv);
	}
	if (sf__store_ekey_make(s, SF__STORE_ETCD_CL, kb, kl, &kc) != 0
	    || sf__store_ekey_make(s, SF__STORE_ETCD_SEC, kb, kl, &ks) != 0) {
		return (SF_INVALID_ARGUMENT);
	}
	sf_status_init(&st);
	rv = read_txn(s,
	    json_pack("[o,o]", range_op(&kc, NULL), range_op(&ks, NULL)),
	    "a cluster", &resp, &st);
	if (rv == 0) {
		kv = json_array_get(txn_kvs(resp, 0), 0);
		rv = kv == NULL
		    ? SF_NOT_FOUND
		    : cluster_of(s, kv, json_array_get(txn_kvs(resp, 1), 0),
		        alloc, out);
	} else {
		SF_WARN("store", "%s", st.st_msg);
	}
	json_decref(resp);
	sf_status_fini(&st);
	return (rv);
}

// One cluster's settings from the view (no credentials), once the view has
// this store's last commit; etcd (with credentials) when it has not.
int
sf__store_etcd_cluster_spec_get(sf_store *s, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	uint8_t        kb[SF__STORE_KEY_MAX];
	size_t         kl, vn = 0;
	sf__store_ekey kc;
	json_t        *resp = NULL, *kv;
	uint8_t       *v    = NULL;
	uint64_t       min  = sf__store_etcd_revision_seen(s);
	int            rv;

	*out = NULL;
	if ((rv = sf__store_key_cluster(name, kb, &kl, NULL)) != 0) {
		return (rv);
	}
	if (sf__store_ekey_make(s, SF__STORE_ETCD_CL, kb, kl, &kc) != 0) {
		return (SF_INVALID_ARGUMENT);
	}
	if (min == 0
	    || sf__store_etcd_view_range(
	           s, &kc, NULL, 0, 0, min, VIEW_WAIT_MS, &resp)
	        != 0) {
		return (sf__store_etcd_cluster_get(s, name, alloc, out));
	}
	kv = json_array_get(json_object_get(resp, "kvs"), 0);
	if (kv == NULL) {
		rv = SF_NOT_FOUND;
	} else if (sf__store_etcd_kv_value(kv, &v, &vn) != 0
	    || (*out = svcfleet__v1__cluster__unpack(alloc, vn, v)) == NULL) {
		rv = SF_DATA_LOSS;
	} else {
		(*out)->resource_version
		    = (uint64_t) sf__store_etcd_i64(kv, "mod_revision");
	}
	free(v);
	json_decref(resp);
	return (rv);
}

// i15-perf: the clusters' settings from the view (no credentials).
int
sf__store_etcd_cluster_specs_min(sf_store *s, uint64_t min_rev,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster ***out, size_t *n)
{
	sf__store_ekey k, end;
	json_t        *resp = NULL, *kvs;
	size_t         cnt, got = 0;
	int            rv = 0;

	sf__store_ekey_make(s, SF__STORE_ETCD_CL, NULL, 0, &k);
	sf__store_ekey_end(&k, &end);
	if (min_rev == 0
	    || sf__store_etcd_view_range(
	           s, &k, &end, 0, 0, min_rev, VIEW_WAIT_MS, &resp)
	        != 0) {
		return (sf__store_etcd_cluster_list(s, alloc, out, n));
	}
	kvs  = json_object_get(resp, "kvs");
	cnt  = json_array_size(kvs);
	*n   = 0;
	*out = sf__store_alloc(alloc, (cnt + 1) * sizeof(**out));
	if (*out == NULL) {
		json_decref(resp);
		return (SF_RESOURCE_EXHAUSTED);
	}
	for (size_t i = 0; i < cnt && rv == 0; i++) {
		const json_t          *kv = json_array_get(kvs, i);
		uint8_t               *v  = NULL;
		size_t                 vn = 0;
		Svcfleet__V1__Cluster *c  = NULL;
		if (sf__store_etcd_kv_value(kv, &v, &vn) != 0
		    || (c = svcfleet__v1__cluster__unpack(alloc, vn, v))
		        == NULL) {
			rv = SF_DATA_LOSS;
		} else {
			c->resource_version = (uint64_t) sf__store_etcd_i64(
			    kv, "mod_revision");
			(*out)[got++] = c;
		}
		free(v);
	}
	json_decref(resp);
	if (rv != 0) {
		for (size_t i = 0; i < got; i++) {
			svcfleet__v1__cluster__free_unpacked((*out)[i], alloc);
		}
		sf__store_free(alloc, *out);
		*out = NULL;
		return (rv);
	}
	*n = got;
	return (0);
}

int
sf__store_etcd_cluster_list(sf_store *s, ProtobufCAllocator *alloc,
    Svcfleet__V1__Cluster ***out, size_t *n)
{
	sf__store_ekey   kc, kce, ks, kse;
	json_t          *resp = NULL, *cls, *secs;
	sf__store_ptrvec pv   = {NULL, 0, 0};
	sf_status        st;
	size_t           j = 0;
	int              rv;

	*out = NULL;
	*n   = 0;
	sf__store_ekey_make(s, SF__STORE_ETCD_CL, NULL, 0, &kc);
	sf__store_ekey_end(&kc, &kce);
	sf__store_ekey_make(s, SF__STORE_ETCD_SEC, NULL, 0, &ks);
	sf__store_ekey_end(&ks, &kse);
	sf_status_init(&st);
	rv = read_txn(s,
	    json_pack("[o,o]", range_op(&kc, &kce), range_op(&ks, &kse)),
	    "the clusters", &resp, &st);
	if (rv != 0) {
		SF_WARN("store", "%s", st.st_msg);
		sf_status_fini(&st);
		return (rv);
	}
	sf_status_fini(&st);
	cls  = txn_kvs(resp, 0);
	secs = txn_kvs(resp, 1);
	// Both ranges are in name order: walk them side by side.
	for (size_t i = 0; i < json_array_size(cls) && rv == 0; i++) {
		json_t        *kv = json_array_get(cls, i), *sec = NULL;
		uint8_t       *kbuf = NULL;
		const uint8_t *name;
		size_t         nl;
		Svcfleet__V1__Cluster *c;

		if (sf__store_etcd_kv_key(
		        s, kv, SF__STORE_ETCD_CL, &kbuf, &name, &nl)
		    != 0) {
			rv = SF_DATA_LOSS;
			break;
		}
		for (; j < json_array_size(secs); j++) {
			uint8_t       *sbuf = NULL;
			const uint8_t *sname;
			size_t         sl;
			int            c2;
			if (sf__store_etcd_kv_key(s, json_array_get(secs, j),
			        SF__STORE_ETCD_SEC, &sbuf, &sname, &sl)
			    != 0) {
				continue;
			}
			c2 = memcmp(sname, name, sl < nl ? sl : nl);
			c2 = c2 != 0 ? c2 : (sl < nl ? -1 : sl > nl);
			free(sbuf);
			if (c2 == 0) {
				sec = json_array_get(secs, j);
			}
			if (c2 >= 0) {
				break;
			}
		}
		free(kbuf);
		if ((rv = cluster_of(s, kv, sec, alloc, &c)) == 0
		    && (rv = sf__store_ptrvec_push(&pv, c)) != 0) {
			svcfleet__v1__cluster__free_unpacked(c, alloc);
		}
	}
	json_decref(resp);
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
	for (size_t i = 0; i < pv.pv_n; i++) {
		svcfleet__v1__cluster__free_unpacked(pv.pv_p[i], alloc);
	}
	free(pv.pv_p);
	return (rv);
}

// -------------------------------------------------------------- records

static const char *
section_of(sf_store_kind kind)
{
	return (kind == SF_STORE_TOKENS     ? SF__STORE_ETCD_TOK
	        : kind == SF_STORE_REQUESTS ? SF__STORE_ETCD_REQ
	        : kind == SF_STORE_HISTORY  ? SF__STORE_ETCD_HIST
	        : kind == SF_STORE_FLEET    ? SF__STORE_ETCD_FLEET
	        : kind == SF_STORE_ADDRS    ? SF__STORE_ETCD_ADDRS
	                                    : SF__STORE_ETCD_BIND);
}

int
sf__store_etcd_record_get(sf_store *s, sf_store_kind kind, const char *id,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    ProtobufCMessage **out)
{
	sf__store_ekey k;
	size_t         kl   = 0, n;
	uint8_t       *v    = NULL;
	json_t        *resp = NULL, *kv;
	sf_status      st;
	int            rv;

	*out = NULL;
	if ((rv = sf__store_key_record(id, &kl, NULL)) != 0) {
		return (rv);
	}
	sf__store_ekey_make(s, section_of(kind), id, kl, &k);
	sf_status_init(&st);
	if ((rv = get_one(s, &k, "a record", &resp, &kv, &st)) == 0) {
		if (kv == NULL) {
			rv = SF_NOT_FOUND;
		} else if (sf__store_etcd_kv_value(kv, &v, &n) != 0
		    || (*out = protobuf_c_message_unpack(desc, alloc, n, v))
		        == NULL) {
			SF_ERROR("store",
			    "the stored %s \"%s\" cannot be decoded",
			    desc->short_name, id);
			rv = SF_DATA_LOSS;
		}
	} else {
		SF_WARN("store", "%s", st.st_msg);
	}
	free(v);
	json_decref(resp);
	sf_status_fini(&st);
	return (rv);
}

int
sf__store_etcd_record_list(sf_store *s, sf_store_kind kind,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    ProtobufCMessage ***out, size_t *n)
{
	sf__store_ekey   k, end;
	json_t          *resp = NULL, *kvs;
	sf__store_ptrvec pv   = {NULL, 0, 0};
	sf_status        st;
	int              rv;

	*out = NULL;
	*n   = 0;
	sf__store_ekey_make(s, section_of(kind), NULL, 0, &k);
	sf__store_ekey_end(&k, &end);
	sf_status_init(&st);
	rv = sf__store_etcd_range(
	    s, &k, &end, 0, 0, 0, "the records", &resp, &st);
	if (rv != 0) {
		SF_WARN("store", "%s", st.st_msg);
	}
	sf_status_fini(&st);
	kvs = json_object_get(resp, "kvs");
	for (size_t i = 0; rv == 0 && i < json_array_size(kvs); i++) {
		uint8_t          *v = NULL;
		size_t            vn;
		ProtobufCMessage *m = NULL;
		if (sf__store_etcd_kv_value(json_array_get(kvs, i), &v, &vn)
		        != 0
		    || (m = protobuf_c_message_unpack(desc, alloc, vn, v))
		        == NULL) {
			SF_ERROR("store", "a stored %s cannot be decoded",
			    desc->short_name);
			rv = SF_DATA_LOSS;
		} else if ((rv = sf__store_ptrvec_push(&pv, m)) != 0) {
			if (alloc == NULL) {
				protobuf_c_message_free_unpacked(m, NULL);
			}
		}
		free(v);
	}
	json_decref(resp);
	if (rv != 0) {
		if (alloc == NULL) {
			for (size_t i = 0; i < pv.pv_n; i++) {
				protobuf_c_message_free_unpacked(
				    pv.pv_p[i], NULL);
			}
		}
		free(pv.pv_p);
		return (rv);
	}
	*n   = pv.pv_n;
	*out = (ProtobufCMessage **) sf__store_ptrvec_take(&pv, alloc);
	if (*out == NULL) {
		*n = 0;
		return (SF_RESOURCE_EXHAUSTED);
	}
	return (0);
}

// ---------------------------------------------------------------- audit

// id_of reads an audit id back from its key.
static int
id_of(sf_store *s, const json_t *kv, uint64_t *id)
{
	uint8_t       *buf = NULL;
	const uint8_t *inner;
	size_t         n;
	char           hex[17];

	if (sf__store_etcd_kv_key(
	        s, kv, SF__STORE_ETCD_AUDIT, &buf, &inner, &n)
	        != 0
	    || n != 16) {
		free(buf);
		return (-1);
	}
	memcpy(hex, inner, 16);
	hex[16] = '\0';
	free(buf);
	*id = ~(uint64_t) strtoull(hex, NULL, 16);
	return (0);
}

int
sf__store_etcd_audit_list(sf_store *s, const sf_store_audit_query *q,
    ProtobufCAllocator *alloc, Svcfleet__V1__AuditEvent ***out, size_t *n,
    uint64_t *next)
{
	sf__store_ptrvec pv      = {NULL, 0, 0};
	uint32_t         limit   = q->aq_limit;
	uint64_t         scanned = 0, rev = 0;
	sf__store_ekey   from, end;
	sf_status        st;
	int              rv   = 0;
	bool             done = false;

	*out  = NULL;
	*n    = 0;
	*next = 0;
	if (limit == 0 || limit > SF__STORE_AUDIT_PAGE) {
		limit = limit == 0 ? 100 : SF__STORE_AUDIT_PAGE;
	}
	sf__store_ekey_make(s, SF__STORE_ETCD_AUDIT, NULL, 0, &from);
	sf__store_ekey_end(&from, &end);
	if (q->aq_before > 1) {
		// Newest first: ids below aq_before start at its key's
		// successor in key order.
		sf__store_etcd_audit_key(s, q->aq_before - 1, &from);
	} else if (q->aq_before == 1) {
		return (0);
	}
	sf_status_init(&st);
	while (!done && rv == 0) {
		json_t *resp = NULL, *kvs;
		size_t  cnt;
		int64_t want = (int64_t) (limit - pv.pv_n) + 1;

		want = want < 64 && q->aq_keep != NULL ? 64 : want;
		rv   = sf__store_etcd_range(
		      s, &from, &end, rev, want, 0, "the audit log", &resp, &st);
		if (rv != 0) {
			SF_WARN("store", "%s", st.st_msg);
			break;
		}
		if (rev == 0) {
			rev = sf__store_etcd_rev(resp);
		}
		kvs = json_object_get(resp, "kvs");
		cnt = json_array_size(kvs);
		for (size_t i = 0; i < cnt; i++) {
			json_t                   *kv = json_array_get(kvs, i);
			Svcfleet__V1__AuditEvent *ev;
			uint8_t                  *v = NULL;
			size_t                    vn;
			uint64_t                  id;

			if (id_of(s, kv, &id) != 0) {
				rv = SF_DATA_LOSS;
				break;
			}
			if (pv.pv_n >= limit
			    || scanned >= SF__STORE_SCAN_MAX) {
				*next = id + 1;
				done  = true;
				break;
			}
			scanned++;
			if (sf__store_etcd_kv_value(kv, &v, &vn) != 0
			    || (ev = svcfleet__v1__audit_event__unpack(
			            alloc, vn, v))
			        == NULL) {
				free(v);
				rv = SF_DATA_LOSS;
				break;
			}
			free(v);
			ev->id = id;
			// Written in the transaction of the write it tells
			// of: that transaction's revision is the write's.
			if (ev->revision != 0) {
				ev->revision = (uint64_t) sf__store_etcd_i64(
				    kv, "mod_revision");
			}
			if (q->aq_keep != NULL && !q->aq_keep(q->aq_arg, ev)) {
				if (alloc == NULL) {
					svcfleet__v1__audit_event__free_unpacked(
					    ev, NULL);
				}
				continue;
			}
			if ((rv = sf__store_ptrvec_push(&pv, ev)) != 0) {
				break;
			}
		}
		if (!done && rv == 0) {
			if (!json_is_true(json_object_get(resp, "more"))) {
				done = true;
			} else if (cnt > 0) {
				uint64_t id = 0;
				if (id_of(s, json_array_get(kvs, cnt - 1), &id)
				    != 0) {
					rv = SF_DATA_LOSS;
				} else {
					sf__store_etcd_audit_key(s, id, &from);
					from.k_b[from.k_n++] = 0;
				}
			}
		}
		json_decref(resp);
	}
	sf_status_fini(&st);
	if (rv != 0) {
		if (alloc == NULL) {
			for (size_t i = 0; i < pv.pv_n; i++) {
				svcfleet__v1__audit_event__free_unpacked(
				    pv.pv_p[i], NULL);
			}
		}
		free(pv.pv_p);
		*next = 0;
		return (rv);
	}
	*n   = pv.pv_n;
	*out = (Svcfleet__V1__AuditEvent **) sf__store_ptrvec_take(&pv, alloc);
	if (*out == NULL) {
		*n = 0;
		return (SF_RESOURCE_EXHAUSTED);
	}
	return (0);
}
