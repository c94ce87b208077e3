// etcd_view.c: the replica's watch-fed view of the Services and the
// clusters (i15-perf).
//
// The store's watch (etcd_feed.c) brings every change under the prefix;
// the view keeps the current value and mod_revision of every key under
// P svc/ and P cl/, in key order (a sorted array: binary search to find,
// memmove to insert; writes are rare next to reads). start_epoch seeds it
// with two ranges at the revision its watch starts from, and on_watch
// applies each event under s_fmtx, so the view is always the state at
// f_hi, and also at every revision from s_v_changed (its last change) to
// f_hi.
//
// Two users:
// - a write reads a cluster's settings from the view instead of etcd: the
//   key is compared at commit with the view's mod_revision like any key
//   read, so a stale view only makes the write run again (reading etcd);
// - a read that names the newest revision its caller has seen (DESIGN §9)
//   is answered from the view once f_hi has reached it, in the very shape
//   of etcd's range answer, so the read code is the same for both.
// The view holds every Service and cluster record of the installation in
// memory, as LMDB's page cache would.
#include "etcd_internal.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"

static bool
tracked(const sf_store *s, const uint8_t *k, size_t kn)
{
	static const char *const sect[]
	    = {SF__STORE_ETCD_SVC, SF__STORE_ETCD_CL};
	if (kn < s->s_plen || memcmp(k, s->s_prefix, s->s_plen) != 0) {
		return (false);
	}
	for (size_t i = 0; i < 2; i++) {
		size_t l = strlen(sect[i]);
		if (kn >= s->s_plen + l
		    && memcmp(k + s->s_plen, sect[i], l) == 0) {
			return (true);
		}
	}
	return (false);
}

static int
kcmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	int    c = memcmp(a, b, n);
	return (c != 0 ? c : (an < bn ? -1 : an > bn));
}

// lower returns the index of the first entry >= k.
static size_t
lower(const sf_store *s, const uint8_t *k, size_t kn)
{
	size_t lo = 0, hi = s->s_v_n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (kcmp(s->s_v[mid].ve_k, s->s_v[mid].ve_kn, k, kn) < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return (lo);
}

static bool
at(const sf_store *s, size_t i, const uint8_t *k, size_t kn)
{
	return (
	    i < s->s_v_n && kcmp(s->s_v[i].ve_k, s->s_v[i].ve_kn, k, kn) == 0);
}

static void
blob_unref(sf__store_vblob *b)
{
	if (b != NULL && atomic_fetch_sub(&b->b_ref, 1) == 1) {
		free(b);
	}
}

// vent_make fills e with a new block holding k and v (one reference).
// Returns 0 or -1.
static int
vent_make(sf__store_vent *e, const uint8_t *k, size_t kn, const uint8_t *v,
    size_t vn, int64_t mod)
{
	sf__store_vblob *b = malloc(sizeof(*b) + kn + vn + 1);

	if (b == NULL) {
		return (-1);
	}
	atomic_init(&b->b_ref, 1);
	memcpy(b->b_data, k, kn);
	memcpy(b->b_data + kn, v, vn);
	b->b_data[kn + vn] = 0;
	e->ve_blob         = b;
	e->ve_k            = b->b_data;
	e->ve_kn           = kn;
	e->ve_v            = b->b_data + kn;
	e->ve_vn           = vn;
	e->ve_mod          = mod;
	return (0);
}

void
sf__store_view_clear(sf_store *s)
{
	for (size_t i = 0; i < s->s_v_n; i++) {
		blob_unref(s->s_v[i].ve_blob);
	}
	s->s_v_n  = 0;
	s->s_v_ok = false;
}

void
sf__store_view_free(sf_store *s)
{
	sf__store_view_clear(s);
	free(s->s_v);
	s->s_v     = NULL;
	s->s_v_cap = 0;
}

// view_set puts (k, v, mod) into the view, or deletes k (v NULL).
// Returns 0 or -1 (out of memory: the view is no longer usable). A value
// replaced or deleted stays alive while a list still holds it.
static int
view_set(sf_store *s, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn,
    int64_t mod)
{
	size_t         i = lower(s, k, kn);
	sf__store_vent ne;

	if (v == NULL) {
		if (at(s, i, k, kn)) {
			blob_unref(s->s_v[i].ve_blob);
			memmove(&s->s_v[i], &s->s_v[i + 1],
			    (s->s_v_n - i - 1) * sizeof(*s->s_v));
			s->s_v_n--;
		}
		return (0);
	}
	if (vent_make(&ne, k, kn, v, vn, mod) != 0) {
		return (-1);
	}
	if (at(s, i, k, kn)) {
		blob_unref(s->s_v[i].ve_blob);
		s->s_v[i] = ne;
		return (0);
	}
	if (s->s_v_n == s->s_v_cap) {
		size_t          cap = s->s_v_cap ? s->s_v_cap * 2 : 256;
		sf__store_vent *n   = realloc(s->s_v, cap * sizeof(*n));
		if (n == NULL) {
			blob_unref(ne.ve_blob);
			return (-1);
		}
		s->s_v     = n;
		s->s_v_cap = cap;
	}
	memmove(&s->s_v[i + 1], &s->s_v[i], (s->s_v_n - i) * sizeof(*s->s_v));
	s->s_v[i] = ne;
	s->s_v_n++;
	return (0);
}

// sf__store_view_seed_kvs puts the kvs of a range answer into the view (s_fmtx
// held). Returns 0 or -1.
int
sf__store_view_seed_kvs(sf_store *s, const json_t *resp)
{
	const json_t *kvs = json_object_get(resp, "kvs");

	for (size_t i = 0; i < json_array_size(kvs); i++) {
		const json_t *kv = json_array_get(kvs, i);
		uint8_t      *k = NULL, *v = NULL;
		size_t        kn, vn;
		int           rv = -1;

		if (sf__store_etcd_unb64(kv, "key", &k, &kn) == 0
		    && sf__store_etcd_kv_value(kv, &v, &vn) == 0) {
			rv = view_set(s, k, kn, v, vn,
			    sf__store_etcd_i64(kv, "mod_revision"));
		}
		free(k);
		free(v);
		if (rv != 0) {
			return (-1);
		}
	}
	return (0);
}

void
sf__store_view_event(sf_store *s, const json_t *ev, uint64_t rev)
{
	const json_t *kv   = json_object_get(ev, "kv");
	const char   *type = json_string_value(json_object_get(ev, "type"));
	bool          del  = type != NULL && strcmp(type, "DELETE") == 0;
	uint8_t      *k = NULL, *v = NULL;
	size_t        kn, vn       = 0;

	if (!s->s_v_ok || sf__store_etcd_unb64(kv, "key", &k, &kn) != 0) {
		free(k);
		return;
	}
	if (!tracked(s, k, kn)) {
		free(k);
		return;
	}
	if ((!del && sf__store_etcd_kv_value(kv, &v, &vn) != 0)
	    || view_set(s, k, kn, del ? NULL : (v != NULL ? v : k), vn,
	           (int64_t) rev)
	        != 0) {
		// Out of memory: readers go to etcd until the next epoch.
		sf__store_view_clear(s);
	}
	s->s_v_changed = rev;
	free(k);
	free(v);
}

// The revision a read from the view must wait for: the caller's (the
// newest it has seen; 0: the caller reads etcd, not the view) and this
// store's own newest commit. A client reads what it wrote through any
// replica (its revision), and every client of this replica reads what
// others wrote through it: a delete made by one process is seen by the
// next read of another, as it would be from etcd (a stress run's
// recon_sync_test on etcd read a Service without the deletion mark the
// CLI had just written, from a view its watch had not yet brought up to
// date).
static uint64_t
own_writes(sf_store *s, uint64_t min_rev)
{
	uint64_t w = atomic_load(&s->s_last_write);

	return (min_rev == 0 || w < min_rev ? min_rev : w);
}

int
sf__store_etcd_view_get(sf_store *s, const sf__store_ekey *k, uint64_t min_rev,
    uint8_t **v, size_t *vn, int64_t *mod)
{
	size_t i;
	int    rv;

	*v = NULL;
	pthread_mutex_lock(&s->s_fmtx);
	if (!s->s_v_ok || !s->s_f_started || s->s_f_hi < min_rev) {
		pthread_mutex_unlock(&s->s_fmtx);
		return (-1);
	}
	i = lower(s, k->k_b, k->k_n);
	if (!at(s, i, k->k_b, k->k_n)) {
		rv = 0;
	} else if ((*v = malloc(s->s_v[i].ve_vn + 1)) == NULL) {
		rv = -1;
	} else {
		memcpy(*v, s->s_v[i].ve_v, s->s_v[i].ve_vn);
		*vn  = s->s_v[i].ve_vn;
		*mod = s->s_v[i].ve_mod;
		rv   = 1;
	}
	pthread_mutex_unlock(&s->s_fmtx);
	return (rv);
}

static json_t *
kv_json(const sf__store_vent *e)
{
	return (json_pack("{s:o,s:o,s:o}", "key",
	    sf__store_etcd_b64(e->ve_k, e->ve_kn), "value",
	    sf__store_etcd_b64(e->ve_v, e->ve_vn), "mod_revision",
	    sf__store_etcd_str64(e->ve_mod)));
}

int
sf__store_etcd_view_range(sf_store *s, const sf__store_ekey *k,
    const sf__store_ekey *end, uint64_t rev, int64_t limit, uint64_t min_rev,
    int64_t wait_ms, json_t **resp)
{
	int64_t         until = sf_clock_mono_ms() + wait_ms;
	struct timespec ts = {until / 1000, (long) (until % 1000) * 1000000};
	json_t         *kvs;
	uint64_t        at_rev;
	size_t          i, n = 0;
	bool            more = false;

	*resp = NULL;
	if (!tracked(s, k->k_b, k->k_n)) {
		return (-1);
	}
	if (rev != 0) {
		min_rev = 0; // a page of a pinned list: its revision rules
	}
	min_rev = own_writes(s, min_rev);
	pthread_mutex_lock(&s->s_fmtx);
	while (s->s_v_ok && s->s_f_started && s->s_f_hi < min_rev
	    && !atomic_load(&s->s_stopping) && sf_clock_mono_ms() < until) {
		pthread_cond_timedwait(&s->s_fcv, &s->s_fmtx, &ts);
	}
	// The view is the state at every revision in [s_v_changed, f_hi]:
	// a page pinned at one of them may come from it.
	if (!s->s_v_ok || !s->s_f_started || s->s_f_hi < min_rev
	    || (rev != 0 && (rev < s->s_v_changed || rev > s->s_f_hi))) {
		pthread_mutex_unlock(&s->s_fmtx);
		return (-1);
	}
	at_rev = rev != 0 ? rev : s->s_f_hi;
	if ((kvs = json_array()) == NULL) {
		pthread_mutex_unlock(&s->s_fmtx);
		return (-1);
	}
	for (i = lower(s, k->k_b, k->k_n); i < s->s_v_n; i++) {
		const sf__store_vent *e = &s->s_v[i];
		if (end == NULL
		        ? kcmp(e->ve_k, e->ve_kn, k->k_b, k->k_n) != 0
		        : kcmp(e->ve_k, e->ve_kn, end->k_b, end->k_n) >= 0) {
			break;
		}
		if (limit > 0 && (int64_t) n == limit) {
			more = true;
			break;
		}
		if (json_array_append_new(kvs, kv_json(e)) != 0) {
			pthread_mutex_unlock(&s->s_fmtx);
			json_decref(kvs);
			return (-1);
		}
		n++;
	}
	pthread_mutex_unlock(&s->s_fmtx);
	*resp = json_pack("{s:{s:o},s:o,s:b}", "header", "revision",
	    sf__store_etcd_str64((int64_t) at_rev), "kvs", kvs, "more", more);
	return (*resp != NULL ? 0 : -1);
}

void
sf__store_view_copy_free(sf__store_vent *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		blob_unref(e[i].ve_blob);
	}
	free(e);
}

int
sf__store_etcd_view_copy(sf_store *s, const sf__store_ekey *k,
    const sf__store_ekey *end, uint64_t rev, int64_t limit, uint64_t min_rev,
    int64_t wait_ms, sf__store_vent **out, size_t *n, bool *more, uint64_t *at)
{
	int64_t         until = sf_clock_mono_ms() + wait_ms;
	struct timespec ts  = {until / 1000, (long) (until % 1000) * 1000000};
	sf__store_vent *e   = NULL;
	size_t          cnt = 0, cap = 0;
	bool            oom = false;

	*out  = NULL;
	*n    = 0;
	*more = false;
	if (!tracked(s, k->k_b, k->k_n)) {
		return (-1);
	}
	if (rev != 0) {
		min_rev = 0; // a page of a pinned list: its revision rules
	}
	min_rev = own_writes(s, min_rev);
	// The array is sized before the lock (limit entries, or a first
	// guess when there is no limit): no allocation while the watch
	// waits, unless a list without a limit outgrows it.
	cap = limit > 0 ? (size_t) limit : 64;
	if ((e = malloc(cap * sizeof(*e))) == NULL) {
		return (-1);
	}
	pthread_mutex_lock(&s->s_fmtx);
	while (s->s_v_ok && s->s_f_started && s->s_f_hi < min_rev
	    && !atomic_load(&s->s_stopping) && sf_clock_mono_ms() < until) {
		pthread_cond_timedwait(&s->s_fcv, &s->s_fmtx, &ts);
	}
	if (!s->s_v_ok || !s->s_f_started || s->s_f_hi < min_rev
	    || (rev != 0 && (rev < s->s_v_changed || rev > s->s_f_hi))) {
		pthread_mutex_unlock(&s->s_fmtx);
		free(e);
		return (-1);
	}
	*at = rev != 0 ? rev : s->s_f_hi;
	for (size_t i = lower(s, k->k_b, k->k_n); i < s->s_v_n && !oom; i++) {
		const sf__store_vent *v = &s->s_v[i];
		if (kcmp(v->ve_k, v->ve_kn, end->k_b, end->k_n) >= 0) {
			break;
		}
		if (limit > 0 && (int64_t) cnt == limit) {
			*more = true;
			break;
		}
		if (cnt == cap) {
			size_t          nc = cap ? cap * 2 : 64;
			sf__store_vent *ne = realloc(e, nc * sizeof(*ne));
			if (ne == NULL) {
				oom = true;
				break;
			}
			e   = ne;
			cap = nc;
		}
		// A reference, not a copy (i15-perf3: two allocations and
		// copies per entry, all under the feed's lock, before).
		atomic_fetch_add(&v->ve_blob->b_ref, 1);
		e[cnt++] = *v;
	}
	pthread_mutex_unlock(&s->s_fmtx);
	if (oom) {
		sf__store_view_copy_free(e, cnt);
		return (-1); // ask etcd
	}
	*out = e;
	*n   = cnt;
	return (0);
}

// ------------------------------------------------------------ test hooks

struct sf__store_view_hold {
	sf__store_vent *h_e;
	size_t          h_n;
};

int
sf__store_etcd_view_hold(sf_store *s, const char *cluster, const char *ns,
    uint64_t min_rev, sf__store_view_hold **out, size_t *n)
{
	uint8_t              pre[SF__STORE_KEY_MAX];
	size_t               pl;
	sf__store_ekey       k, end;
	sf__store_view_hold *h;
	bool                 more;
	uint64_t             at;

	*out = NULL;
	*n   = 0;
	if (sf__store_key_prefix(cluster, ns, pre, &pl, NULL) != 0
	    || sf__store_ekey_make(s, SF__STORE_ETCD_SVC, pre, pl, &k) != 0
	    || (h = calloc(1, sizeof(*h))) == NULL) {
		return (-1);
	}
	sf__store_ekey_end(&k, &end);
	if (sf__store_etcd_view_copy(
	        s, &k, &end, 0, 0, min_rev, 3000, &h->h_e, &h->h_n, &more, &at)
	    != 0) {
		free(h);
		return (-1);
	}
	*out = h;
	*n   = h->h_n;
	return (0);
}

const uint8_t *
sf__store_etcd_view_held(const sf__store_view_hold *h, size_t i, size_t *vn)
{
	*vn = h->h_e[i].ve_vn;
	return (h->h_e[i].ve_v);
}

void
sf__store_etcd_view_release(sf__store_view_hold *h)
{
	if (h != NULL) {
		sf__store_view_copy_free(h->h_e, h->h_n);
		free(h);
	}
}
