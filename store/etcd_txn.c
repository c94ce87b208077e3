// etcd_txn.c: what a write function can do on the etcd backend, and the
// one etcd transaction an attempt becomes.
//
// A write function runs optimistically, as etcd's own STM does
// (clientv3/concurrency/stm.go, serializable snapshot): its first read
// fixes a snapshot revision, every later read is made at that revision and
// remembered with the key's mod_revision (0 when absent), and its writes
// are buffered (a read sees the attempt's own writes). The commit is one
// transaction: "every key read still has the mod_revision seen" and "the
// attempt's marker key does not exist", then the writes and the marker.
// When a compare fails the writer runs the function again.
//
// Creates read nothing: a key a create expects to be absent (the new
// Service, its node-port index entries, a new record) is assumed absent
// and compared so (mod_revision 0) at commit. Most creates then cost one
// round trip, the commit; when the assumption was wrong, or the function
// failed on it, the writer runs the function again reading everything.
//
// Exactly once: the marker (P txn/<ms>-<random>, or P ~txn/... outside
// the watch when the transaction changes a watched key) is created by the
// commit and by nothing else, so a transaction sent again after its answer was
// lost (timeout, 503, connection gone) either commits now or finds the
// marker, which the first send created: the write happened once, at the
// marker's mod_revision. When the answer says the compare failed and the
// marker is absent after such a loss, the first send may still be on its
// way (queued in a member); the writer then fences it, creating the marker
// itself ("f"), before running the function again: the first send's
// create-if-absent compare can never succeed after that.
#include "etcd_internal.h"

#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define MARKER_COMMIT "c"
#define MARKER_FENCE  "f"

void
sf__store_etxn_init(sf_store_txn *t, sf_store *s, sf__store_etcd_req *rq)
{
	memset(t, 0, sizeof(*t));
	t->t_ops   = s->s_ops;
	t->t_store = s;
	t->t_st = rq->rq_w.w_status != NULL ? rq->rq_w.w_status : &rq->rq_st;
	t->t_alloc = rq->rq_w.w_alloc != NULL ? rq->rq_w.w_alloc
	                                      : sf_arena_pbc(&rq->rq_arena);
	t->t_now   = sf_clock_now_ms();
}

void
sf__store_etxn_fini(sf_store_txn *t)
{
	for (size_t i = 0; i < t->t_nkv; i++) {
		free(t->t_kv[i].e_k);
		free(t->t_kv[i].e_snap);
		free(t->t_kv[i].e_val);
		free(t->t_kv[i].e_what);
	}
	for (size_t i = 0; i < t->t_nrg; i++) {
		free(t->t_rg[i].r_k);
		free(t->t_rg[i].r_end);
	}
	free(t->t_kv);
	free(t->t_rg);
	free(t->t_patch);
	free(t->t_patch_part);
	free(t->t_guard);
	free(t->t_guard_id);
	free(t->t_part_rev);
	t->t_kv         = NULL;
	t->t_rg         = NULL;
	t->t_patch      = NULL;
	t->t_patch_part = NULL;
	t->t_guard      = NULL;
	t->t_guard_id   = NULL;
	t->t_part_rev   = NULL;
	t->t_nkv = t->t_nrg = t->t_npatch = 0;
	t->t_guard_n = t->t_npart_rev = 0;
}

bool
sf__store_etxn_dirty(const sf_store_txn *t)
{
	for (size_t i = 0; i < t->t_nkv; i++) {
		if (t->t_kv[i].e_op != SF__EOP_NONE) {
			return (true);
		}
	}
	return (false);
}

uint64_t
sf__store_etcd_txn_revision(sf_store_txn *t)
{
	// The revision the commit will most likely get; the resource
	// versions written into messages are corrected after the commit.
	return (
	    (t->t_snap != 0 ? t->t_snap : atomic_load(&t->t_store->s_known))
	    + 1);
}

bool
sf__store_etcd_txn_wrote(sf_store_txn *t)
{
	return (t->t_wrote);
}

int64_t
sf__store_etcd_txn_now_ms(sf_store_txn *t)
{
	return (t->t_now);
}

// ------------------------------------------------------------ key set

// kv_find returns the attempt's entry of key k, or NULL. Touched in a
// lower part than its own (i18-wide), the key moves to that part: a key
// belongs to one transaction of a split write.
static sf__ekv *
kv_find(sf_store_txn *t, const sf__store_ekey *k)
{
	for (size_t i = 0; i < t->t_nkv; i++) {
		sf__ekv *e = &t->t_kv[i];
		if (e->e_kn == k->k_n && memcmp(e->e_k, k->k_b, k->k_n) == 0) {
			if (t->t_part < e->e_part) {
				e->e_part = t->t_part;
			}
			return (e);
		}
	}
	return (NULL);
}

// glibc's largest small-bin request on 64 bits (see kv_add).
_Static_assert(8 * sizeof(sf__ekv) <= 1008, "8 key entries are a small bin");

static sf__ekv *
kv_add(sf_store_txn *t, const sf__store_ekey *k)
{
	sf__ekv *e;

	if (t->t_nkv == t->t_capkv) {
		// i15-create: 8 entries (640 bytes) hold a create's keys and
		// stay a small-bin request: glibc consolidates the arena's
		// fast bins before every larger one, which at 16 (1280 bytes)
		// cost svcfleetd 5 % of its CPU per create (perf).
		size_t   cap = t->t_capkv ? t->t_capkv * 2 : 8;
		sf__ekv *n   = realloc(t->t_kv, cap * sizeof(*n));
		if (n == NULL) {
			return (NULL);
		}
		t->t_kv    = n;
		t->t_capkv = cap;
	}
	e = &t->t_kv[t->t_nkv];
	memset(e, 0, sizeof(*e));
	if ((e->e_k = malloc(k->k_n)) == NULL) {
		return (NULL);
	}
	memcpy(e->e_k, k->k_b, k->k_n);
	e->e_kn   = k->k_n;
	e->e_part = t->t_part;
	t->t_nkv++;
	return (e);
}

static int
oom(sf_store_txn *t)
{
	return (sf_status_set(
	    t->t_st, SF_RESOURCE_EXHAUSTED, "store: out of memory"));
}

// fail records a failure of etcd under the write function; the writer
// ends the request with it (or runs the function again for ABORTED).
static int
fail(sf_store_txn *t, int code)
{
	if (t->t_err == 0) {
		t->t_err = code;
	}
	return (code);
}

static bool
is_audit(const sf_store *s, const sf__ekv *e)
{
	size_t al = strlen(SF__STORE_ETCD_AUDIT);
	return (e->e_kn > s->s_plen + al
	    && memcmp(e->e_k + s->s_plen, SF__STORE_ETCD_AUDIT, al) == 0);
}

// Whether the commit compares e: a key read, or an audit key (create-if-
// absent).
static bool
is_compared(const sf_store *s, const sf__ekv *e)
{
	return (e->e_read || (e->e_op == SF__EOP_PUT && is_audit(s, e)));
}

// compares counts what the transaction of the current part will compare:
// the keys read, the audit keys, the marker, and the ranges counted (the
// head's) or the guard (another part's, i18-wide).
static size_t
compares(const sf_store_txn *t)
{
	size_t n = 1 + (t->t_part == 0 ? t->t_nrg : 1);
	for (size_t i = 0; i < t->t_nkv; i++) {
		const sf__ekv *e = &t->t_kv[i];
		n += e->e_part == t->t_part && is_compared(t->t_store, e);
	}
	return (n);
}

// writes counts the current part's operations, the marker's and (not the
// head) the guard's.
static size_t
writes(const sf_store_txn *t)
{
	size_t n = 1 + (t->t_part == 0 ? 0 : 1);
	for (size_t i = 0; i < t->t_nkv; i++) {
		n += t->t_kv[i].e_part == t->t_part
		    && t->t_kv[i].e_op != SF__EOP_NONE;
	}
	return (n);
}

static int
too_many(sf_store_txn *t)
{
	size_t c = compares(t), w = writes(t);
	t->t_too_many = true;
	return (fail(t,
	    sf_status_set(t->t_st, SF_RESOURCE_EXHAUSTED,
	        "store: this write needs %zu compares and %zu operations in "
	        "one etcd transaction; etcd allows %" PRIu32
	        " (--max-txn-ops): change fewer objects per request",
	        c, w, t->t_store->s_max_ops)));
}

// kv_read returns the attempt's view of key k: what it wrote, else what
// the snapshot holds (read once, at the snapshot revision).
static int
kv_read(
    sf_store_txn *t, const sf__store_ekey *k, const char *what, sf__ekv **out)
{
	sf_store *s    = t->t_store;
	sf__ekv  *e    = kv_find(t, k);
	json_t   *resp = NULL, *kv;
	int       rv;

	*out = NULL;
	if (e != NULL && (e->e_read || e->e_op != SF__EOP_NONE)) {
		*out = e;
		return (0);
	}
	if (e == NULL && compares(t) + 1 > s->s_max_ops) {
		return (too_many(t));
	}
	rv = sf__store_etcd_range(
	    s, k, NULL, t->t_snap, 0, 0, what, &resp, t->t_st);
	if (rv == SF_OUT_OF_RANGE) {
		// The snapshot was compacted away under the function: run it
		// again on a new one.
		json_decref(resp);
		return (fail(t, SF_ABORTED));
	}
	if (rv != 0) {
		return (fail(t, rv));
	}
	if (t->t_snap == 0) {
		t->t_snap = sf__store_etcd_rev(resp);
	}
	if (e == NULL && (e = kv_add(t, k)) == NULL) {
		json_decref(resp);
		return (fail(t, oom(t)));
	}
	e->e_read = true;
	if ((kv = json_array_get(json_object_get(resp, "kvs"), 0)) != NULL) {
		e->e_existed = true;
		e->e_mod     = sf__store_etcd_i64(kv, "mod_revision");
		if (sf__store_etcd_kv_value(kv, &e->e_snap, &e->e_snapn)
		    != 0) {
			json_decref(resp);
			return (fail(t,
			    sf_status_set(t->t_st, SF_DATA_LOSS,
			        "store: etcd answered an undecodable value "
			        "for %s",
			        what)));
		}
	}
	json_decref(resp);
	*out = e;
	return (0);
}

// kv_assume_absent is kv_read for a key a create expects not to exist:
// unless the attempt reads everything (t_blind_ok false), it assumes so
// without asking etcd, and the commit checks it.
static int
kv_assume_absent(
    sf_store_txn *t, const sf__store_ekey *k, const char *what, sf__ekv **out)
{
	sf__ekv *e = kv_find(t, k);

	if (e != NULL || !t->t_blind_ok) {
		return (kv_read(t, k, what, out));
	}
	if (compares(t) + 1 > t->t_store->s_max_ops) {
		return (too_many(t));
	}
	if ((e = kv_add(t, k)) == NULL) {
		return (fail(t, oom(t)));
	}
	e->e_read  = true;
	e->e_blind = true;
	t->t_nblind++;
	*out = e;
	return (0);
}

// kv_view is kv_read for a key the view holds (etcd_view.c, i15-perf):
// unless the attempt reads everything (t_blind_ok false), the value and
// mod_revision come from the replica's watch-fed view, and the commit
// compares that mod_revision as for any key read: a stale view makes the
// write run again (reading etcd), never write on what it saw. Counted as
// an assumption, so a failure on it is checked by reading too.
static int
kv_view(
    sf_store_txn *t, const sf__store_ekey *k, const char *what, sf__ekv **out)
{
	sf__ekv *e   = kv_find(t, k);
	uint8_t *v   = NULL;
	size_t   vn  = 0;
	int64_t  mod = 0;

	if (e != NULL || !t->t_blind_ok
	    || compares(t) + 1 > t->t_store->s_max_ops
	    || sf__store_etcd_view_get(t->t_store, k, 0, &v, &vn, &mod) != 1) {
		free(v);
		return (kv_read(t, k, what, out));
	}
	if ((e = kv_add(t, k)) == NULL) {
		free(v);
		return (fail(t, oom(t)));
	}
	e->e_read    = true;
	e->e_blind   = true;
	e->e_existed = true;
	e->e_mod     = mod;
	e->e_snap    = v;
	e->e_snapn   = vn;
	t->t_nblind++;
	*out = e;
	return (0);
}

static bool
kv_present(const sf__ekv *e)
{
	return (e->e_op == SF__EOP_PUT
	    || (e->e_op == SF__EOP_NONE && e->e_existed));
}

static const uint8_t *
kv_value(const sf__ekv *e, size_t *n)
{
	if (e->e_op == SF__EOP_PUT) {
		*n = e->e_valn;
		return (e->e_val);
	}
	*n = e->e_snapn;
	return (e->e_snap != NULL ? e->e_snap : (const uint8_t *) "");
}

// kv_write buffers a put (val != NULL; the buffer is taken) or a delete.
static int
kv_write(sf_store_txn *t, const sf__store_ekey *k, uint8_t *val, size_t n,
    const char *what)
{
	sf__ekv *e = kv_find(t, k);

	if ((e == NULL || e->e_op == SF__EOP_NONE)
	    && writes(t) + 1 > t->t_store->s_max_ops) {
		free(val);
		return (too_many(t));
	}
	if (e == NULL && (e = kv_add(t, k)) == NULL) {
		free(val);
		return (fail(t, oom(t)));
	}
	free(e->e_val);
	e->e_val  = val;
	e->e_valn = n;
	e->e_op   = val != NULL ? SF__EOP_PUT : SF__EOP_DEL;
	if (what != NULL && e->e_what == NULL) {
		e->e_what = strdup(what);
	}
	return (0);
}

static int
kv_put_msg(sf_store_txn *t, const sf__store_ekey *k, const ProtobufCMessage *m,
    const char *what)
{
	size_t   n = protobuf_c_message_get_packed_size(m);
	uint8_t *p = malloc(n > 0 ? n : 1);

	if (p == NULL) {
		return (fail(t, oom(t)));
	}
	protobuf_c_message_pack(m, p);
	return (kv_write(t, k, p, n, what));
}

// add_patch: field is set to the revision of the transaction that writes
// the message of key k.
static int
add_patch(sf_store_txn *t, const sf__store_ekey *k, uint64_t *field)
{
	sf__ekv *e = kv_find(t, k);

	if (t->t_npatch == t->t_cappatch) {
		size_t     cap = t->t_cappatch ? t->t_cappatch * 2 : 8;
		uint64_t **n   = realloc(t->t_patch, cap * sizeof(*n));
		uint32_t  *np  = realloc(t->t_patch_part, cap * sizeof(*np));
		if (n != NULL) {
			t->t_patch = n;
		}
		if (np != NULL) {
			t->t_patch_part = np;
		}
		if (n == NULL || np == NULL) {
			return (fail(t, oom(t)));
		}
		t->t_cappatch = cap;
	}
	t->t_patch_part[t->t_npatch] = e != NULL ? e->e_part : 0;
	t->t_patch[t->t_npatch++]    = field;
	return (0);
}

// sf__store_etxn_patch sets the fields add_patch named: each to the
// revision of its part's transaction (i18-wide), else rev.
void
sf__store_etxn_patch(sf_store_txn *t, uint64_t rev)
{
	for (size_t i = 0; i < t->t_npatch; i++) {
		uint32_t p     = t->t_patch_part[i];
		*t->t_patch[i] = p < t->t_npart_rev && t->t_part_rev[p] != 0
		    ? t->t_part_rev[p]
		    : rev;
	}
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
		return (oom(t));
	}
	*dst = p;
	return (0);
}

// ------------------------------------------------------------- services

static void
svc_what(const sf_store_key *k, char *buf, size_t cap)
{
	snprintf(buf, cap, "service %s/%s in cluster %s", k->k_namespace,
	    k->k_name, k->k_cluster);
}

// svc_key builds the backend-neutral key (inner) and the etcd key.
static int
svc_key(sf_store_txn *t, const sf_store_key *key, uint8_t *inner, size_t *il,
    sf__store_ekey *ek)
{
	int rv;

	if ((rv = sf__store_key_service(key, inner, il, t->t_st)) != 0) {
		return (rv);
	}
	if (sf__store_ekey_make(t->t_store, SF__STORE_ETCD_SVC, inner, *il, ek)
	    != 0) {
		return (sf_status_set(t->t_st, SF_INVALID_ARGUMENT,
		    "cluster/namespace/name is too long for a store key"));
	}
	return (0);
}

// get_service reads the Service under ek as this attempt sees it (a
// create assumes it absent).
static int
get_service(sf_store_txn *t, const sf__store_ekey *ek, const sf_store_key *key,
    bool create, ProtobufCAllocator *alloc, Svcfleet__V1__Service **out)
{
	sf__ekv       *e;
	const uint8_t *v;
	size_t         n;
	char           what[SF__STORE_KEY_MAX + 64];
	int            rv;

	*out = NULL;
	svc_what(key, what, sizeof(what));
	if ((rv = create ? kv_assume_absent(t, ek, what, &e)
	                 : kv_read(t, ek, what, &e))
	    != 0) {
		return (rv);
	}
	if (!kv_present(e)) {
		return (SF_NOT_FOUND);
	}
	v    = kv_value(e, &n);
	*out = sf__store_etcd_unpack_service(v, n,
	    e->e_op == SF__EOP_PUT ? (int64_t) sf__store_etcd_txn_revision(t)
	                           : e->e_mod,
	    alloc);
	if (*out == NULL || (*out)->metadata == NULL) {
		if (*out != NULL) {
			svcfleet__v1__service__free_unpacked(*out, alloc);
			*out = NULL;
		}
		return (sf_status_set(t->t_st, SF_DATA_LOSS,
		    "store: the stored %s cannot be decoded", what));
	}
	return (0);
}

int
sf__store_etcd_txn_service_get(sf_store_txn *t, const sf_store_key *key,
    ProtobufCAllocator *alloc, Svcfleet__V1__Service **out)
{
	uint8_t        kb[SF__STORE_KEY_MAX];
	size_t         kl;
	sf__store_ekey ek;
	int            rv;

	*out = NULL;
	if ((rv = svc_key(t, key, kb, &kl, &ek)) != 0) {
		return (rv);
	}
	return (get_service(t, &ek, key, false, alloc, out));
}

static int
np_ekey(sf_store_txn *t, const char *cluster, const char *protocol,
    int32_t port, sf__store_ekey *ek, sf_status *st)
{
	uint8_t kb[SF__STORE_KEY_MAX];
	size_t  kl;
	int     rv;

	if ((rv = sf__store_key_nodeport(cluster, protocol, port, kb, &kl, st))
	    != 0) {
		return (rv);
	}
	if (sf__store_ekey_make(t->t_store, SF__STORE_ETCD_NP, kb, kl, ek)
	    != 0) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "cluster/protocol is too long for a store key"));
	}
	return (0);
}

// np_check fails with SF_FAILED_PRECONDITION when a node port of svc is
// indexed for another Service (owner is svc's own key). A new Service
// assumes its ports free.
static int
np_check(sf_store_txn *t, const Svcfleet__V1__Service *svc,
    const uint8_t *owner, size_t olen, bool create)
{
	if (svc->spec == NULL) {
		return (0);
	}
	for (size_t i = 0; i < svc->spec->n_ports; i++) {
		const Svcfleet__V1__ServicePort *p = svc->spec->ports[i];
		sf__store_ekey                   ek;
		sf__ekv                         *e;
		sf_store_key                     other;
		const uint8_t                   *v;
		size_t                           n;
		int                              rv;

		if (p == NULL || p->node_port <= 0) {
			continue;
		}
		if ((rv = np_ekey(t, svc->metadata->cluster, p->protocol,
		         p->node_port, &ek, t->t_st))
		    != 0) {
			return (rv);
		}
		rv = create
		    ? kv_assume_absent(t, &ek, "the node-port index", &e)
		    : kv_read(t, &ek, "the node-port index", &e);
		if (rv != 0) {
			return (rv);
		}
		if (!kv_present(e)) {
			continue;
		}
		v = kv_value(e, &n);
		if (n == olen && memcmp(v, owner, olen) == 0) {
			continue;
		}
		if (sf__store_key_parse(v, n, &other) != 0) {
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
	return (0);
}

// np_unindex removes svc's node ports from the index where they point at
// owner.
static int
np_unindex(sf_store_txn *t, const Svcfleet__V1__Service *svc,
    const uint8_t *owner, size_t olen)
{
	if (svc->spec == NULL || svc->metadata == NULL) {
		return (0);
	}
	for (size_t i = 0; i < svc->spec->n_ports; i++) {
		const Svcfleet__V1__ServicePort *p = svc->spec->ports[i];
		sf__store_ekey                   ek;
		sf__ekv                         *e;
		const uint8_t                   *v;
		size_t                           n;
		int                              rv;

		if (p == NULL || p->node_port <= 0
		    || np_ekey(t, svc->metadata->cluster, p->protocol,
		           p->node_port, &ek, NULL)
		        != 0) {
			continue;
		}
		if ((rv = kv_read(t, &ek, "the node-port index", &e)) != 0) {
			return (rv);
		}
		if (!kv_present(e)) {
			continue;
		}
		v = kv_value(e, &n);
		if (n == olen && memcmp(v, owner, olen) == 0
		    && (rv = kv_write(t, &ek, NULL, 0, NULL)) != 0) {
			return (rv);
		}
	}
	return (0);
}

static int
np_index(sf_store_txn *t, const Svcfleet__V1__Service *svc,
    const uint8_t *owner, size_t olen)
{
	if (svc->spec == NULL) {
		return (0);
	}
	for (size_t i = 0; i < svc->spec->n_ports; i++) {
		const Svcfleet__V1__ServicePort *p = svc->spec->ports[i];
		sf__store_ekey                   ek;
		uint8_t                         *v;
		int                              rv;

		if (p == NULL || p->node_port <= 0) {
			continue;
		}
		if ((rv = np_ekey(t, svc->metadata->cluster, p->protocol,
		         p->node_port, &ek, t->t_st))
		    != 0) {
			return (rv);
		}
		if ((v = malloc(olen)) == NULL) {
			return (fail(t, oom(t)));
		}
		memcpy(v, owner, olen);
		if ((rv = kv_write(t, &ek, v, olen, "the node-port index"))
		    != 0) {
			return (rv);
		}
	}
	return (0);
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

// spec_differs compares the packed specs (as the LMDB backend does).
// Returns 1, 0 or -1 (out of memory).
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

int
sf__store_etcd_txn_service_put(
    sf_store_txn *t, Svcfleet__V1__Service *svc, bool create_only)
{
	Svcfleet__V1__ObjectMeta *m;
	Svcfleet__V1__Service    *old = NULL;
	uint8_t                   kb[SF__STORE_KEY_MAX];
	size_t                    kl;
	sf__store_ekey            ek;
	sf_store_key              key;
	char                      uid[37], what[SF__STORE_KEY_MAX + 64];
	int                       rv, differs = 1;

	if (svc == NULL || (m = svc->metadata) == NULL) {
		return (sf_status_set(
		    t->t_st, SF_INVALID_ARGUMENT, "metadata: Required value"));
	}
	key.k_cluster   = m->cluster;
	key.k_namespace = m->namespace_;
	key.k_name      = m->name;
	if ((rv = svc_key(t, &key, kb, &kl, &ek)) != 0) {
		return (rv);
	}
	rv = get_service(t, &ek, &key, create_only, NULL, &old);
	if (rv != 0 && rv != SF_NOT_FOUND) {
		return (rv);
	}
	if (old != NULL && create_only) {
		svcfleet__v1__service__free_unpacked(old, NULL);
		return (SF_ALREADY_EXISTS);
	}
	// Checks first, so a refused put leaves svc as it was.
	if ((rv = np_check(t, svc, kb, kl, old == NULL)) != 0) {
		goto out;
	}
	if (old != NULL
	    && (differs = spec_differs(old->spec, svc->spec)) < 0) {
		rv = oom(t);
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
	m->update_time_ms = t->t_now;
	// Stored without its revision: the key's mod_revision is it.
	m->resource_version = 0;
	svc_what(&key, what, sizeof(what));
	if ((old == NULL || (rv = np_unindex(t, old, kb, kl)) == 0)
	    && (rv = np_index(t, svc, kb, kl)) == 0
	    && (rv = kv_put_msg(t, &ek, &svc->base, what)) == 0
	    && (rv = add_patch(t, &ek, &m->resource_version)) == 0) {
		t->t_wrote = true;
	}
	m->resource_version = sf__store_etcd_txn_revision(t);
out:
	if (old != NULL) {
		svcfleet__v1__service__free_unpacked(old, NULL);
	}
	return (rv);
}

int
sf__store_etcd_txn_service_delete(sf_store_txn *t, const sf_store_key *key)
{
	Svcfleet__V1__Service *old;
	uint8_t                kb[SF__STORE_KEY_MAX];
	size_t                 kl;
	sf__store_ekey         ek;
	int                    rv;

	if ((rv = svc_key(t, key, kb, &kl, &ek)) != 0) {
		return (rv);
	}
	if ((rv = get_service(t, &ek, key, false, NULL, &old)) != 0) {
		return (rv);
	}
	// The DELETED event (the last stored state) comes from the watch.
	if ((rv = np_unindex(t, old, kb, kl)) == 0
	    && (rv = kv_write(t, &ek, NULL, 0, NULL)) == 0) {
		t->t_wrote = true;
	}
	svcfleet__v1__service__free_unpacked(old, NULL);
	return (rv);
}

int
sf__store_etcd_txn_nodeport_owner(sf_store_txn *t, const char *cluster,
    const char *protocol, int32_t port, ProtobufCAllocator *alloc,
    sf_store_key *owner)
{
	sf__store_ekey ek;
	sf__ekv       *e;
	sf_store_key   o;
	const uint8_t *v;
	size_t         n;
	char          *c, *ns, *name;
	int            rv;

	memset(owner, 0, sizeof(*owner));
	if ((rv = np_ekey(t, cluster, protocol, port, &ek, t->t_st)) != 0
	    || (rv = kv_read(t, &ek, "the node-port index", &e)) != 0) {
		return (rv);
	}
	if (!kv_present(e)) {
		return (SF_NOT_FOUND);
	}
	v = kv_value(e, &n);
	if (sf__store_key_parse(v, n, &o) != 0) {
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
		return (oom(t));
	}
	owner->k_cluster   = c;
	owner->k_namespace = ns;
	owner->k_name      = name;
	return (0);
}

static bool
in_range(const sf__ekv *e, const sf__store_ekey *k, const sf__store_ekey *end)
{
	size_t a  = e->e_kn < k->k_n ? e->e_kn : k->k_n;
	size_t b  = e->e_kn < end->k_n ? e->e_kn : end->k_n;
	int    lo = memcmp(e->e_k, k->k_b, a);
	int    hi = memcmp(e->e_k, end->k_b, b);

	if (lo < 0 || (lo == 0 && e->e_kn < k->k_n)) {
		return (false);
	}
	return (hi < 0 || (hi == 0 && e->e_kn < end->k_n));
}

int
sf__store_etcd_txn_cluster_count_services(
    sf_store_txn *t, const char *cluster, uint64_t limit, uint64_t *n)
{
	sf_store      *s = t->t_store;
	uint8_t        pre[SF__STORE_KEY_MAX];
	size_t         pl;
	sf__store_ekey k, end;
	json_t        *resp = NULL;
	sf__erange    *r;
	int64_t        cnt;
	int            rv;

	*n = 0;
	if ((rv = sf__store_key_cluster(cluster, pre, &pl, t->t_st)) != 0) {
		return (rv);
	}
	if (sf__store_ekey_make(s, SF__STORE_ETCD_SVC, pre, pl, &k) != 0) {
		return (sf_status_set(t->t_st, SF_INVALID_ARGUMENT,
		    "cluster name is too long for a store key"));
	}
	sf__store_ekey_end(&k, &end);
	if (compares(t) + 1 > s->s_max_ops) {
		return (too_many(t));
	}
	rv = sf__store_etcd_range(s, &k, &end, t->t_snap, 0,
	    SF__RANGE_COUNT_ONLY, "the services of a cluster", &resp, t->t_st);
	if (rv == SF_OUT_OF_RANGE) {
		json_decref(resp);
		return (fail(t, SF_ABORTED));
	}
	if (rv != 0) {
		return (fail(t, rv));
	}
	if (t->t_snap == 0) {
		t->t_snap = sf__store_etcd_rev(resp);
	}
	cnt = sf__store_etcd_i64(resp, "count");
	json_decref(resp);
	// The range is compared at commit: nothing in it may be written
	// after the snapshot. (A Service deleted there meanwhile passes the
	// compare; a count it makes stale can only be too high.)
	if (t->t_nrg == t->t_caprg) {
		size_t      cap = t->t_caprg ? t->t_caprg * 2 : 4;
		sf__erange *nr  = realloc(t->t_rg, cap * sizeof(*nr));
		if (nr == NULL) {
			return (fail(t, oom(t)));
		}
		t->t_rg    = nr;
		t->t_caprg = cap;
	}
	r        = &t->t_rg[t->t_nrg];
	r->r_k   = malloc(k.k_n);
	r->r_end = malloc(end.k_n);
	if (r->r_k == NULL || r->r_end == NULL) {
		free(r->r_k);
		free(r->r_end);
		return (fail(t, oom(t)));
	}
	memcpy(r->r_k, k.k_b, k.k_n);
	memcpy(r->r_end, end.k_b, end.k_n);
	r->r_kn   = k.k_n;
	r->r_endn = end.k_n;
	t->t_nrg++;
	// What this attempt created or deleted there counts too.
	for (size_t i = 0; i < t->t_nkv; i++) {
		const sf__ekv *e = &t->t_kv[i];
		if (e->e_op == SF__EOP_NONE || !in_range(e, &k, &end)) {
			continue;
		}
		if (e->e_op == SF__EOP_PUT && !e->e_existed) {
			cnt++;
		} else if (e->e_op == SF__EOP_DEL && e->e_existed) {
			cnt--;
		}
	}
	*n = cnt > 0 ? (uint64_t) cnt : 0;
	if (limit > 0 && *n > limit) {
		*n = limit;
	}
	return (0);
}

// ------------------------------------------------------------- clusters

static int
cluster_keys(
    sf_store_txn *t, const char *name, sf__store_ekey *kc, sf__store_ekey *ks)
{
	uint8_t kb[SF__STORE_KEY_MAX];
	size_t  kl;
	int     rv;

	if ((rv = sf__store_key_cluster(name, kb, &kl, t->t_st)) != 0) {
		return (rv);
	}
	if (sf__store_ekey_make(t->t_store, SF__STORE_ETCD_CL, kb, kl, kc) != 0
	    || sf__store_ekey_make(t->t_store, SF__STORE_ETCD_SEC, kb, kl, ks)
	        != 0) {
		return (sf_status_set(t->t_st, SF_INVALID_ARGUMENT,
		    "cluster name is too long for a store key"));
	}
	return (0);
}

// get_cluster_with reads a cluster record; its credentials are unsealed
// only when creds.
static int
get_cluster_with(sf_store_txn *t, const char *name, bool creds,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	sf__store_ekey kc, ks;
	sf__ekv       *e, *es;
	const uint8_t *v;
	size_t         n;
	char           what[SF__STORE_KEY_MAX + 16];
	int            rv;

	*out = NULL;
	if ((rv = cluster_keys(t, name, &kc, &ks)) != 0) {
		return (rv);
	}
	snprintf(what, sizeof(what), "cluster %s", name);
	if ((rv = !creds ? kv_view(t, &kc, what, &e)
	                 : kv_read(t, &kc, what, &e))
	    != 0) {
		return (rv);
	}
	if (!kv_present(e)) {
		return (SF_NOT_FOUND);
	}
	v    = kv_value(e, &n);
	*out = svcfleet__v1__cluster__unpack(alloc, n, v);
	if (*out == NULL) {
		return (sf_status_set(t->t_st, SF_DATA_LOSS,
		    "store: the stored cluster %s cannot be decoded", name));
	}
	(*out)->resource_version = e->e_op == SF__EOP_PUT
	    ? sf__store_etcd_txn_revision(t)
	    : (uint64_t) e->e_mod;
	if (!creds) {
		return (0);
	}
	if ((rv = kv_read(t, &ks, what, &es)) == 0 && kv_present(es)) {
		v  = kv_value(es, &n);
		rv = sf__store_etcd_fill_credentials(
		    t->t_store, v, n, alloc, *out);
		if (rv != 0) {
			rv = sf_status_set(t->t_st, rv,
			    "store: the credentials of cluster %s cannot be "
			    "read",
			    name);
		}
	}
	if (rv != 0) {
		svcfleet__v1__cluster__free_unpacked(*out, alloc);
		*out = NULL;
	}
	return (rv);
}

int
sf__store_etcd_txn_cluster_get(sf_store_txn *t, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	return (get_cluster_with(t, name, true, alloc, out));
}

int
sf__store_etcd_txn_cluster_spec_get(sf_store_txn *t, const char *name,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster **out)
{
	return (get_cluster_with(t, name, false, alloc, out));
}

int
sf__store_etcd_txn_cluster_put(
    sf_store_txn *t, Svcfleet__V1__Cluster *c, bool create_only)
{
	sf_store              *s   = t->t_store;
	Svcfleet__V1__Cluster *old = NULL;
	sf__store_ekey         kc, ks;
	char                   what[SF__STORE_KEY_MAX + 16];
	uint8_t               *blob = NULL;
	size_t                 blen = 0;
	int                    rv;

	if (c == NULL) {
		return (sf_status_set(
		    t->t_st, SF_INVALID_ARGUMENT, "cluster: Required value"));
	}
	if ((rv = cluster_keys(t, c->name, &kc, &ks)) != 0) {
		return (rv);
	}
	rv = get_cluster_with(t, c->name, false, NULL, &old);
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
	c->update_time_ms = t->t_now;
	snprintf(what, sizeof(what), "cluster %s", c->name);
	if (s->s_sealing && sf__store_has_credentials(c)
	    && (rv = sf__store_seal(s->s_secret_key, c->name, c, &blob, &blen))
	        != 0) {
		rv = sf_status_set(t->t_st, rv,
		    "store: sealing the credentials of cluster %s failed",
		    c->name);
		goto out;
	}
	c->resource_version = 0;
	if (s->s_sealing) {
		// The record goes in without its credentials; they are put
		// back into the caller's message afterwards.
		Svcfleet__V1__Cluster saved;
		sf__store_strip_credentials(c, &saved);
		rv = kv_put_msg(t, &kc, &c->base, what);
		sf__store_restore_credentials(c, &saved);
		if (rv == 0) {
			rv = blob != NULL ? kv_write(t, &ks, blob, blen, what)
			                  : kv_write(t, &ks, NULL, 0, NULL);
			blob = NULL;
		}
	} else {
		rv = kv_put_msg(t, &kc, &c->base, what);
	}
	if (rv == 0) {
		rv = add_patch(t, &kc, &c->resource_version);
	}
	c->resource_version = sf__store_etcd_txn_revision(t);
	if (rv == 0) {
		t->t_wrote = true;
	}
out:
	free(blob);
	if (old != NULL) {
		svcfleet__v1__cluster__free_unpacked(old, NULL);
	}
	return (rv);
}

int
sf__store_etcd_txn_cluster_delete(sf_store_txn *t, const char *name)
{
	sf__store_ekey kc, ks;
	sf__ekv       *e;
	char           what[SF__STORE_KEY_MAX + 16];
	int            rv;

	if ((rv = cluster_keys(t, name, &kc, &ks)) != 0) {
		return (rv);
	}
	snprintf(what, sizeof(what), "cluster %s", name);
	if ((rv = kv_read(t, &kc, what, &e)) != 0) {
		return (rv);
	}
	if (!kv_present(e)) {
		return (SF_NOT_FOUND);
	}
	if ((rv = kv_write(t, &kc, NULL, 0, NULL)) != 0
	    || (rv = kv_write(t, &ks, NULL, 0, NULL)) != 0) {
		return (rv);
	}
	t->t_wrote = true;
	return (0);
}

// ------------------------------------------------------------- records

static int
record_ekey(
    sf_store_txn *t, sf_store_kind kind, const char *id, sf__store_ekey *ek)
{
	size_t kl;
	int    rv;

	if ((rv = sf__store_key_record(id, &kl, t->t_st)) != 0) {
		return (rv);
	}
	sf__store_ekey_make(t->t_store,
	    kind == SF_STORE_TOKENS         ? SF__STORE_ETCD_TOK
	        : kind == SF_STORE_REQUESTS ? SF__STORE_ETCD_REQ
	        : kind == SF_STORE_HISTORY  ? SF__STORE_ETCD_HIST
	        : kind == SF_STORE_FLEET    ? SF__STORE_ETCD_FLEET
	        : kind == SF_STORE_ADDRS    ? SF__STORE_ETCD_ADDRS
	                                    : SF__STORE_ETCD_BIND,
	    id, kl, ek);
	return (0);
}

int
sf__store_etcd_txn_record_get(sf_store_txn *t, sf_store_kind kind,
    const char *id, const ProtobufCMessageDescriptor *desc,
    ProtobufCAllocator *alloc, ProtobufCMessage **out)
{
	sf__store_ekey ek;
	sf__ekv       *e;
	const uint8_t *v;
	size_t         n;
	int            rv;

	*out = NULL;
	// A request record (a write's request id, looked up before every
	// deduplicated write) is almost always absent: assumed so, and
	// compared at commit, as a create's keys are (etcd-perf).
	if ((rv = record_ekey(t, kind, id, &ek)) != 0
	    || (rv = kind == SF_STORE_REQUESTS
	               ? kv_assume_absent(t, &ek, "a record", &e)
	               : kv_read(t, &ek, "a record", &e))
	        != 0) {
		return (rv);
	}
	if (!kv_present(e)) {
		return (SF_NOT_FOUND);
	}
	v    = kv_value(e, &n);
	*out = protobuf_c_message_unpack(desc, alloc, n, v);
	if (*out == NULL) {
		return (sf_status_set(t->t_st, SF_DATA_LOSS,
		    "store: the stored %s \"%s\" cannot be decoded",
		    desc->short_name, id));
	}
	if (kind == SF_STORE_REQUESTS
	    && desc == &svcfleet__v1__stored_reply__descriptor
	    && e->e_op == SF__EOP_NONE) {
		// i15-create: the revision of the write that put it (store.h).
		((Svcfleet__V1__StoredReply *) *out)->revision = e->e_mod;
	}
	return (0);
}

int
sf__store_etcd_txn_record_put(sf_store_txn *t, sf_store_kind kind,
    const char *id, const ProtobufCMessage *msg, bool create_only)
{
	sf__store_ekey ek;
	sf__ekv       *e;
	char           what[SF__STORE_RECORD_MAX + 32];
	int            rv;

	if ((rv = record_ekey(t, kind, id, &ek)) != 0) {
		return (rv);
	}
	// Overwriting a request record (its answer, added after the write)
	// depends on nothing: no read, no compare (etcd-perf). Elsewhere
	// the write is compared with what was read.
	if (kind == SF_STORE_REQUESTS && !create_only
	    && kv_find(t, &ek) == NULL) {
		e = NULL;
	} else if ((rv = create_only ? kv_assume_absent(t, &ek, "a record", &e)
	                             : kv_read(t, &ek, "a record", &e))
	    != 0) {
		return (rv);
	}
	if (create_only && e != NULL && kv_present(e)) {
		return (SF_ALREADY_EXISTS);
	}
	snprintf(what, sizeof(what), "%s %s",
	    kind == SF_STORE_TOKENS         ? "token"
	        : kind == SF_STORE_REQUESTS ? "request"
	        : kind == SF_STORE_HISTORY  ? "history of"
	        : kind == SF_STORE_FLEET    ? "fleet service"
	        : kind == SF_STORE_ADDRS    ? "address claim of"
	                                    : "role binding",
	    id);
	if ((rv = kv_put_msg(t, &ek, msg, what)) != 0) {
		return (rv);
	}
	t->t_wrote = true;
	return (0);
}

int
sf__store_etcd_txn_record_delete(
    sf_store_txn *t, sf_store_kind kind, const char *id)
{
	sf__store_ekey ek;
	sf__ekv       *e;
	int            rv;

	if ((rv = record_ekey(t, kind, id, &ek)) != 0
	    || (rv = kv_read(t, &ek, "a record", &e)) != 0) {
		return (rv);
	}
	if (!kv_present(e)) {
		return (SF_NOT_FOUND);
	}
	if ((rv = kv_write(t, &ek, NULL, 0, NULL)) != 0) {
		return (rv);
	}
	t->t_wrote = true;
	return (0);
}

// ---------------------------------------------------------------- audit

int
sf__store_etcd_audit_key(const sf_store *s, uint64_t id, sf__store_ekey *k)
{
	char hex[24];

	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long) ~id);
	return (sf__store_ekey_make(s, SF__STORE_ETCD_AUDIT, hex, 16, k));
}

// An audit id: the time in ms, then 22 random bits. No counter (every
// write would contend on it); the audit key's create-if-absent compare
// turns the rare clash of two ids into a re-run of the write.
static uint64_t
audit_id(int64_t now_ms)
{
	uint8_t  r[3] = {0, 0, 0};
	uint64_t rnd;

	RAND_bytes(r, sizeof(r));
	rnd = ((uint64_t) r[0] << 16 | (uint64_t) r[1] << 8 | r[2]) & 0x3fffff;
	return (((uint64_t) now_ms << 22) | rnd);
}

int
sf__store_etcd_txn_audit_append(sf_store_txn *t, Svcfleet__V1__AuditEvent *ev)
{
	sf__store_ekey ek;
	uint64_t       id;

	do {
		id = audit_id(t->t_now);
		sf__store_etcd_audit_key(t->t_store, id, &ek);
	} while (id == 0 || kv_find(t, &ek) != NULL);
	ev->id = id;
	if (ev->time_ms == 0) {
		ev->time_ms = t->t_now;
	}
	// ev->revision (the write's, when it wrote) is taken from the
	// record's mod_revision when it is read: the same transaction.
	return (kv_put_msg(t, &ek, &ev->base, "an audit record"));
}

// --------------------------------------------------------------- commit

static void
ekv_key(const sf__ekv *e, sf__store_ekey *k)
{
	memcpy(k->k_b, e->e_k, e->e_kn);
	k->k_n = e->e_kn;
}

// The guard of a write split in parts (i18-wide): what a transaction
// after the head compares it with, and puts again.
typedef struct part_guard {
	const sf__ekv *g_e;   // the guard record's entry (in the head)
	int64_t        g_mod; // its mod_revision now (0: absent)
} part_guard;

// make_marker names a new marker: under P ~txn/ (outside the watch) when
// the transaction also changes a watched key, else under P txn/, so that
// every write moves the watch to its revision (the feed waits for it).
static int
make_marker(sf_store *s, int64_t now, bool watched, sf__store_ekey *k)
{
	uint8_t r[8];
	char    name[48];

	if (RAND_bytes(r, sizeof(r)) != 1) {
		return (-1);
	}
	snprintf(name, sizeof(name),
	    "%016llx-%02x%02x%02x%02x%02x%02x%02x%02x",
	    (unsigned long long) now, r[0], r[1], r[2], r[3], r[4], r[5], r[6],
	    r[7]);
	return (sf__store_ekey_make(s,
	    watched ? SF__STORE_ETCD_TXN_OUT : SF__STORE_ETCD_TXN, name,
	    strlen(name), k));
}

// Whether a key is in the watched range [P, P~).
static bool
in_watch(const sf_store *s, const uint8_t *k, size_t n)
{
	return (n > s->s_plen && k[s->s_plen] != '~');
}

// changes_watched tells whether transaction x of the attempt (see build)
// is sure to bring the watch an event at its revision: it puts a watched
// key (a put always makes an event), or deletes one that its compare
// proves present. (A delete of a key that may be absent makes none.)
static bool
changes_watched(const sf_store_txn *t, const uint32_t *txn_of, uint32_t x,
    const part_guard *g)
{
	const sf_store *s = t->t_store;

	if (g != NULL && g->g_e->e_op == SF__EOP_PUT
	    && in_watch(s, g->g_e->e_k, g->g_e->e_kn)) {
		return (true);
	}
	for (size_t i = 0; i < t->t_nkv; i++) {
		const sf__ekv *e = &t->t_kv[i];
		if ((txn_of != NULL && txn_of[e->e_part] != x)
		    || !in_watch(s, e->e_k, e->e_kn)) {
			continue;
		}
		if (e->e_op == SF__EOP_PUT
		    || (e->e_op == SF__EOP_DEL && e->e_read
		        && e->e_mod != 0)) {
			return (true);
		}
	}
	return (false);
}

// Whether e is a request record (SF_STORE_REQUESTS).
static bool
is_request(const sf_store *s, const sf__ekv *e)
{
	size_t n = strlen(SF__STORE_ETCD_REQ);
	return (e->e_kn > s->s_plen + n
	    && memcmp(e->e_k + s->s_plen, SF__STORE_ETCD_REQ, n) == 0);
}

// req_lease returns the lease request records are put with, granted anew
// every REQ_LEASE_EVERY_MS with a TTL of REQ_LEASE_TTL_S, so that each
// record lives 10 to 15 minutes and etcd deletes it (no janitor scan).
// 0 when etcd does not grant one now: the record is then kept until the
// next time its key is written (a rare leak, logged). Under s_lmtx (the
// writer threads share it).
#define REQ_LEASE_TTL_S    900
#define REQ_LEASE_EVERY_MS (5 * 60 * 1000)
static int64_t req_lease_locked(sf_store *s);

static int64_t
req_lease(sf_store *s)
{
	int64_t l;

	pthread_mutex_lock(&s->s_lmtx);
	l = req_lease_locked(s);
	pthread_mutex_unlock(&s->s_lmtx);
	return (l);
}

static int64_t
req_lease_locked(sf_store *s)
{
	int64_t   now = sf_clock_mono_ms();
	json_t   *req, *resp = NULL;
	sf_status st;

	if (s->s_req_lease != 0
	    && now - s->s_req_lease_at < REQ_LEASE_EVERY_MS) {
		return (s->s_req_lease);
	}
	sf_status_init(&st);
	req = json_pack("{s:o}", "TTL", sf__store_etcd_str64(REQ_LEASE_TTL_S));
	if (req != NULL
	    && sf__store_etcd_call_timeout(s->s_etcd, "lease/grant", req,
	           "the lease of request records", 2000, &resp, NULL, &st)
	        == 0
	    && sf__store_etcd_i64(resp, "ID") != 0) {
		s->s_req_lease    = sf__store_etcd_i64(resp, "ID");
		s->s_req_lease_at = now;
	} else {
		SF_WARN("store",
		    "no etcd lease for request records (%s): this one is "
		    "kept without expiry",
		    st.st_msg[0] != '\0' ? st.st_msg : "no lease id");
	}
	json_decref(req);
	json_decref(resp);
	sf_status_fini(&st);
	return (
	    s->s_req_lease != 0 && now - s->s_req_lease_at < REQ_LEASE_EVERY_MS
	        ? s->s_req_lease
	        : 0);
}

// dup_compare tells whether e, an entry of ts[i] that is only compared,
// is compared alike by a write before it in the batch (every write of a
// cluster compares the cluster's record at the revision its view holds).
static bool
dup_compare(sf_store_txn *const *ts, size_t i, const sf__ekv *e)
{
	if (!e->e_read || e->e_op != SF__EOP_NONE) {
		return (false);
	}
	for (size_t j = 0; j < i; j++) {
		for (size_t m = 0; m < ts[j]->t_nkv; m++) {
			const sf__ekv *o = &ts[j]->t_kv[m];
			if (o->e_read && o->e_mod == e->e_mod
			    && o->e_kn == e->e_kn
			    && memcmp(o->e_k, e->e_k, e->e_kn) == 0) {
				return (true);
			}
		}
	}
	return (false);
}

// build_add adds the compares and operations of transaction x of the
// attempt ts[i] (see build) to cmp and ok.
static void
build_add(sf_store_txn *const *ts, size_t i, const uint32_t *txn_of,
    uint32_t x, json_t *cmp, json_t *ok, size_t *biggest, const char **what)
{
	sf_store_txn *t = ts[i];
	sf_store     *s = t->t_store;

	for (size_t m = 0; m < t->t_nkv; m++) {
		sf__ekv       *e = &t->t_kv[m];
		sf__store_ekey k;
		if (txn_of != NULL && txn_of[e->e_part] != x) {
			continue;
		}
		ekv_key(e, &k);
		if (e->e_read) {
			if (!dup_compare(ts, i, e)) {
				json_array_append_new(
				    cmp, sf__store_etcd_cmp_mod(&k, e->e_mod));
			}
		} else if (e->e_op == SF__EOP_PUT && is_audit(s, e)) {
			json_array_append_new(
			    cmp, sf__store_etcd_cmp_absent(&k));
		}
		if (e->e_op == SF__EOP_PUT) {
			json_t *put
			    = sf__store_etcd_op_put(&k, e->e_val, e->e_valn);
			int64_t lease;
			if (is_request(s, e) && (lease = req_lease(s)) != 0) {
				json_object_set_new(
				    json_object_get(put, "request_put"),
				    "lease", sf__store_etcd_str64(lease));
			}
			json_array_append_new(ok, put);
			if (e->e_valn >= *biggest && e->e_what != NULL) {
				*biggest = e->e_valn;
				*what    = e->e_what;
			}
		} else if (e->e_op == SF__EOP_DEL) {
			json_array_append_new(
			    ok, sf__store_etcd_op_del(&k, NULL));
		}
	}
	for (size_t m = 0; x == 0 && m < t->t_nrg; m++) {
		sf__store_ekey k, end;
		memcpy(k.k_b, t->t_rg[m].r_k, t->t_rg[m].r_kn);
		k.k_n = t->t_rg[m].r_kn;
		memcpy(end.k_b, t->t_rg[m].r_end, t->t_rg[m].r_endn);
		end.k_n = t->t_rg[m].r_endn;
		json_array_append_new(cmp,
		    sf__store_etcd_cmp_mod_below(&k, &end, t->t_snap + 1));
	}
}

// build makes transaction x of the attempt: the keys of the parts p with
// txn_of[p] == x (txn_of NULL: every key, one transaction). x 0 is the
// head (g NULL); the others compare and put the guard g. A batch (n > 1,
// i15-batch) is the head of each of the n attempts ts (txn_of NULL, x 0,
// g NULL) in one transaction, with one marker.
static json_t *
build(sf_store_txn *const *ts, size_t n, const uint32_t *txn_of, uint32_t x,
    const part_guard *g, const sf__store_ekey *marker, const char **what)
{
	json_t *cmp = json_array(), *ok = json_array();
	json_t *req, *fail_ops;
	size_t  biggest = 0;

	*what = "a write";
	for (size_t i = 0; i < n; i++) {
		build_add(ts, i, txn_of, x, cmp, ok, &biggest, what);
	}
	fail_ops = json_array();
	json_array_append_new(fail_ops, sf__store_etcd_op_range(marker));
	if (g != NULL) {
		// The guard as the write's last transaction left it; put
		// again (same value) when the head put it, so that a write
		// that read it before this one cannot commit after.
		sf__store_ekey k;
		ekv_key(g->g_e, &k);
		json_array_append_new(cmp,
		    g->g_mod != 0 ? sf__store_etcd_cmp_mod(&k, g->g_mod)
		                  : sf__store_etcd_cmp_absent(&k));
		if (g->g_e->e_op == SF__EOP_PUT) {
			json_array_append_new(ok,
			    sf__store_etcd_op_put(
			        &k, g->g_e->e_val, g->g_e->e_valn));
		}
		json_array_append_new(fail_ops, sf__store_etcd_op_range(&k));
	}
	json_array_append_new(cmp, sf__store_etcd_cmp_absent(marker));
	json_array_append_new(ok,
	    sf__store_etcd_op_put(
	        marker, MARKER_COMMIT, strlen(MARKER_COMMIT)));
	req = json_pack("{s:o,s:o,s:o}", "compare", cmp, "success", ok,
	    "failure", fail_ops);
	return (req);
}

// marker_state reads the marker out of a failed transaction's answer:
// 'c' committed (at *rev), 'f' fenced, 0 absent.
static int
marker_state(const json_t *resp, uint64_t *rev)
{
	json_t  *kv = sf__store_etcd_txn_kv(resp, 0);
	uint8_t *v  = NULL;
	size_t   n;
	int      c = 0;

	if (kv == NULL) {
		return (0);
	}
	if (sf__store_etcd_kv_value(kv, &v, &n) == 0 && n == 1) {
		c = v[0];
	}
	free(v);
	*rev = (uint64_t) sf__store_etcd_i64(kv, "mod_revision");
	return (c);
}

// fence makes sure a transaction sent earlier with this marker can no
// longer commit. Returns 0 (fenced: run the write again), 1 with *rev (it
// had committed), or an SF_* code (etcd did not answer: the outcome is
// unknown).
static int
fence(sf_store_txn *t, const sf__store_ekey *marker, uint64_t *rev)
{
	sf_store *s = t->t_store;
	json_t   *req, *resp = NULL;
	int       rv, st;

	req = json_pack("{s:[o],s:[o],s:[o]}", "compare",
	    sf__store_etcd_cmp_absent(marker), "success",
	    sf__store_etcd_op_put(marker, MARKER_FENCE, strlen(MARKER_FENCE)),
	    "failure", sf__store_etcd_op_range(marker));
	if (req == NULL) {
		return (oom(t));
	}
	rv = sf__store_etcd_call(s->s_etcd, "kv/txn", req, "a write's marker",
	    &resp, NULL, t->t_st);
	json_decref(req);
	if (rv != 0) {
		return (rv);
	}
	sf__store_etcd_saw(s, sf__store_etcd_rev(resp));
	if (json_is_true(json_object_get(resp, "succeeded"))) {
		json_decref(resp);
		return (0);
	}
	st = marker_state(resp, rev);
	json_decref(resp);
	return (st == MARKER_COMMIT[0] ? 1 : 0);
}

// commit_txns sends transaction x of the attempt ts[0] (see build; g: the
// guard, for those after the head), or the heads of the n attempts ts as
// one transaction (a batch: txn_of NULL, x 0, g NULL). Returns 0 with
// *rev (committed, possibly by an earlier send whose answer was lost),
// SF_ABORTED when a compare failed (*guard_mod: the guard's mod_revision
// then, -1 when not known), or another SF_* code with ts[0]'s status set.
static int
commit_txns(sf_store_txn *const *ts, size_t n, const uint32_t *txn_of,
    uint32_t x, const part_guard *g, uint64_t *rev, int64_t *guard_mod)
{
	sf_store_txn  *t = ts[0];
	sf_store      *s = t->t_store;
	sf__store_ekey marker;
	json_t        *req, *resp = NULL;
	const char    *what;
	bool           ambiguous = false, watched = false;
	int            rv;

	*rev       = 0;
	*guard_mod = -1;
	for (size_t i = 0; i < n && !watched; i++) {
		watched = changes_watched(ts[i], txn_of, x, g);
	}
	// The marker is named once: every send of this transaction, and
	// the fence, use the same key.
	if (make_marker(s, t->t_now, watched, &marker) != 0) {
		return (sf_status_set(t->t_st, SF_INTERNAL,
		    "store: no randomness for a marker"));
	}
	if ((req = build(ts, n, txn_of, x, g, &marker, &what)) == NULL) {
		return (oom(t));
	}
	rv = sf__store_etcd_call(
	    s->s_etcd, "kv/txn", req, what, &resp, &ambiguous, t->t_st);
	json_decref(req);
	if (rv != 0) {
		if (ambiguous && rv == SF_UNAVAILABLE) {
			sf_status_reset(t->t_st);
			sf_status_set(t->t_st, SF_UNAVAILABLE,
			    "store: etcd did not answer (%s); the write may "
			    "or may not have been applied",
			    sf__store_etcd_endpoints(s->s_etcd));
		}
		return (rv);
	}
	sf__store_etcd_saw(s, sf__store_etcd_rev(resp));
	if (json_is_true(json_object_get(resp, "succeeded"))) {
		*rev = sf__store_etcd_rev(resp);
		json_decref(resp);
		return (0);
	}
	if (g != NULL) {
		json_t *gkv = sf__store_etcd_txn_kv(resp, 1);
		*guard_mod  = gkv != NULL
		     ? sf__store_etcd_i64(gkv, "mod_revision")
		     : 0;
	}
	rv = marker_state(resp, rev);
	json_decref(resp);
	if (rv == MARKER_COMMIT[0]) {
		// An earlier send of this very transaction committed; its
		// answer was lost.
		SF_INFO("store",
		    "a write whose answer was lost had committed at revision "
		    "%" PRIu64 "; not applied again",
		    *rev);
		return (0);
	}
	*rev = 0;
	if (!ambiguous) {
		return (SF_ABORTED);
	}
	// The compare failed and no send committed so far, but one whose
	// answer was lost may still be on its way: fence it.
	switch ((rv = fence(t, &marker, rev))) {
	case 0:
		return (SF_ABORTED);
	case 1:
		return (0);
	default:
		sf_status_reset(t->t_st);
		return (sf_status_set(t->t_st, rv,
		    "store: etcd did not answer (%s); the write may or may "
		    "not have been applied",
		    sf__store_etcd_endpoints(s->s_etcd)));
	}
}

void (*_Atomic sf__store_etcd_part_hook)(const char *guard_id);

// The parts of the attempt: the highest part a key is in, plus one.
static uint32_t
nparts(const sf_store_txn *t)
{
	uint32_t n = 1;
	for (size_t i = 0; i < t->t_nkv; i++) {
		if (t->t_kv[i].e_part >= n) {
			n = t->t_kv[i].e_part + 1;
		}
	}
	return (n);
}

static const sf__ekv *
guard_entry(const sf_store_txn *t)
{
	for (size_t i = 0; t->t_guard_n > 0 && i < t->t_nkv; i++) {
		const sf__ekv *e = &t->t_kv[i];
		if (e->e_kn == t->t_guard_n
		    && memcmp(e->e_k, t->t_guard, e->e_kn) == 0) {
			return (e->e_part == 0 ? e : NULL);
		}
	}
	return (NULL);
}

#define NO_TXN UINT32_MAX

// plan assigns each part of the attempt to a transaction (txn_of; NO_TXN:
// none) and returns how many there are, or 0 when the write cannot be
// sent (a part that does not fit a transaction alone, or several
// transactions without a guard). The head (0) takes part 0, then as many
// of the parts that write as fit, in order, then of those that only
// read; the other parts that write are packed, in order, into further
// transactions, each with the guard; the other parts that only read are
// left out (nothing of theirs is written; what they read was checked at
// the snapshot). pc and pw are each part's compares and writes.
static uint32_t
plan(const sf_store_txn *t, uint32_t np, const size_t *pc, const size_t *pw,
    bool guarded, uint32_t *txn_of)
{
	uint32_t m = t->t_store->s_max_ops, ntx = 1;
	size_t   c = 1 + t->t_nrg + pc[0], w = 1 + pw[0];

	if (c > m || w > m) {
		return (0);
	}
	txn_of[0] = 0;
	for (uint32_t p = 1; p < np; p++) {
		txn_of[p] = NO_TXN;
	}
	for (int ro = 0; ro < 2; ro++) {
		for (uint32_t p = 1; p < np; p++) {
			if ((pw[p] == 0) != (ro == 1)
			    || (pc[p] == 0 && pw[p] == 0)) {
				continue;
			}
			if (c + pc[p] > m || w + pw[p] > m) {
				if (ro == 0) {
					goto rest;
				}
				continue;
			}
			c += pc[p];
			w += pw[p];
			txn_of[p] = 0;
		}
	}
	return (1);
rest:
	// The head is full: it takes the parts that only read no more.
	c = w = 0;
	for (uint32_t p = 1; p < np; p++) {
		if (txn_of[p] != NO_TXN || pw[p] == 0) {
			continue;
		}
		if (!guarded || 2 + pc[p] > m || 2 + pw[p] > m) {
			return (0);
		}
		if (ntx == 1 || c + pc[p] > m || w + pw[p] > m) {
			ntx++;
			c = w = 2; // the guard and the marker
		}
		c += pc[p];
		w += pw[p];
		txn_of[p] = ntx - 1;
	}
	return (ntx);
}

// commit_rest sends transactions 1 .. ntx - 1 of the attempt (i18-wide),
// after the head committed at *rev, each guarded (see sf_store_txn_part).
// One that cannot commit is logged and left: the write's outcome is the
// head's. *rev becomes the newest revision written.
static void
commit_rest(sf_store_txn *t, const uint32_t *txn_of, uint32_t np, uint32_t ntx,
    const sf__ekv *ge, uint64_t *rev)
{
	part_guard g = {.g_e = ge,
	    .g_mod           = ge->e_op == SF__EOP_PUT ? (int64_t) *rev
	                  : ge->e_op == SF__EOP_DEL    ? 0
	                  : ge->e_existed              ? ge->e_mod
	                                               : 0};

	for (uint32_t x = 1; x < ntx; x++) {
		uint64_t r;
		int64_t  gm;
		int      rv;
		void (*hook)(const char *) = sf__store_etcd_part_hook;

		if (hook != NULL) {
			hook(t->t_guard_id);
		}
		rv = commit_txns(&t, 1, txn_of, x, &g, &r, &gm);
		if (rv == 0) {
			for (uint32_t p = 0; p < np; p++) {
				if (txn_of[p] == x) {
					t->t_part_rev[p] = r;
				}
			}
			if (ge->e_op == SF__EOP_PUT) {
				g.g_mod = (int64_t) r;
			}
			*rev = r;
		} else if (rv == SF_ABORTED && gm >= 0 && gm != g.g_mod) {
			SF_INFO("store",
			    "%s changed after this write's first transaction: "
			    "its remaining parts are left to the newer write",
			    t->t_guard_id != NULL ? t->t_guard_id : "");
			return;
		} else {
			SF_WARN("store",
			    "a part of the write of %s was not written (%s); "
			    "it is left to be written again",
			    t->t_guard_id != NULL ? t->t_guard_id : "",
			    rv == SF_ABORTED ? "what it read changed"
			                     : t->t_st->st_msg);
			if (rv != SF_ABORTED) {
				// etcd does not answer: the next ones would
				// not fare better.
				sf_status_reset(t->t_st);
				return;
			}
		}
	}
}

int
sf__store_etxn_commit(sf_store_txn *t, uint64_t *rev)
{
	uint32_t       np = nparts(t), ntx;
	size_t        *pc, *pw;
	uint32_t      *txn_of;
	const sf__ekv *ge = guard_entry(t);
	int64_t        gm;
	int            rv;

	*rev   = 0;
	pc     = calloc(np, sizeof(*pc));
	pw     = calloc(np, sizeof(*pw));
	txn_of = calloc(np, sizeof(*txn_of));
	if (pc == NULL || pw == NULL || txn_of == NULL) {
		rv = oom(t);
		goto out;
	}
	for (size_t i = 0; i < t->t_nkv; i++) {
		const sf__ekv *e = &t->t_kv[i];
		pc[e->e_part] += is_compared(t->t_store, e);
		pw[e->e_part] += e->e_op != SF__EOP_NONE;
	}
	if ((ntx = plan(t, np, pc, pw, ge != NULL, txn_of)) == 0) {
		rv = too_many(t);
		goto out;
	}
	if (ntx > 1) {
		if ((t->t_part_rev = calloc(np, sizeof(*t->t_part_rev)))
		    == NULL) {
			rv = oom(t);
			goto out;
		}
		t->t_npart_rev = np;
	}
	rv = commit_txns(&t, 1, np > 1 ? txn_of : NULL, 0, NULL, rev, &gm);
	if (rv == 0 && ntx > 1) {
		for (uint32_t p = 0; p < np; p++) {
			if (txn_of[p] == 0) {
				t->t_part_rev[p] = *rev;
			}
		}
		commit_rest(t, txn_of, np, ntx, ge, rev);
	}
out:
	free(pc);
	free(pw);
	free(txn_of);
	return (rv);
}

// i15-batch: writes that share one transaction.

bool
sf__store_etxn_batchable(
    const sf_store_txn *t, size_t *cmp, size_t *wr, size_t *bytes)
{
	*cmp = t->t_nrg;
	*wr = *bytes = 0;
	if (t->t_guard_n > 0 || t->t_too_many || t->t_err != 0) {
		return (false);
	}
	for (size_t i = 0; i < t->t_nkv; i++) {
		const sf__ekv *e = &t->t_kv[i];
		if (e->e_part != 0) {
			return (false); // a write split in parts (i18-wide)
		}
		*cmp += is_compared(t->t_store, e);
		*wr += e->e_op != SF__EOP_NONE;
		*bytes += e->e_kn + (e->e_op == SF__EOP_PUT ? e->e_valn : 0);
	}
	return (*wr > 0);
}

// key_cmp orders two keys as etcd does (bytes, then length).
static int
key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return (c != 0 ? c : an < bn ? -1 : an > bn ? 1 : 0);
}

// range_written tells whether b writes a key in a range a counted (a's
// compare of that range would pass before b's put in one transaction).
static bool
range_written(const sf_store_txn *a, const sf_store_txn *b)
{
	for (size_t i = 0; i < a->t_nrg; i++) {
		const sf__erange *r = &a->t_rg[i];
		for (size_t j = 0; j < b->t_nkv; j++) {
			const sf__ekv *y = &b->t_kv[j];
			if (y->e_op != SF__EOP_NONE
			    && key_cmp(y->e_k, y->e_kn, r->r_k, r->r_kn) >= 0
			    && (r->r_endn == 0
			        || key_cmp(
			               y->e_k, y->e_kn, r->r_end, r->r_endn)
			            < 0)) {
				return (true);
			}
		}
	}
	return (false);
}

bool
sf__store_etxn_conflict(const sf_store_txn *a, const sf_store_txn *b)
{
	if (range_written(a, b) || range_written(b, a)) {
		return (true);
	}
	for (size_t i = 0; i < a->t_nkv; i++) {
		const sf__ekv *x = &a->t_kv[i];
		for (size_t j = 0; j < b->t_nkv; j++) {
			const sf__ekv *y = &b->t_kv[j];
			if ((x->e_op != SF__EOP_NONE
			        || y->e_op != SF__EOP_NONE)
			    && x->e_kn == y->e_kn
			    && memcmp(x->e_k, y->e_k, x->e_kn) == 0) {
				return (true);
			}
		}
	}
	return (false);
}

int
sf__store_etxn_commit_batch(sf_store_txn *const *ts, size_t n, uint64_t *rev)
{
	int64_t gm;

	*rev = 0;
	return (commit_txns(ts, n, NULL, 0, NULL, rev, &gm));
}

// i18-plan: what is left of the --max-txn-ops bound (one kept for the
// audit record the write may append after its function).
uint32_t
sf__store_etxn_ops_left(sf_store_txn *t, uint32_t *max)
{
	// i18-wide: of the current part.
	size_t   c = compares(t), w = writes(t) + 1;
	uint32_t m = t->t_store->s_max_ops;
	if (max != NULL) {
		*max = m;
	}
	if (t->t_too_many || c >= m || w >= m) {
		return (0);
	}
	return ((uint32_t) (m - (c > w ? c : w)));
}

// i18-wide: see sf_store_txn_part.
void
sf__store_etxn_part(sf_store_txn *t, uint32_t part)
{
	t->t_part = part;
}

int
sf__store_etxn_split_guard(sf_store_txn *t, sf_store_kind kind, const char *id)
{
	sf__store_ekey ek;
	sf__ekv       *e;
	uint32_t       part = t->t_part;
	int            rv;

	if ((rv = record_ekey(t, kind, id, &ek)) != 0) {
		return (rv);
	}
	free(t->t_guard);
	free(t->t_guard_id);
	t->t_guard_n  = 0;
	t->t_guard    = malloc(ek.k_n);
	t->t_guard_id = strdup(id);
	if (t->t_guard == NULL || t->t_guard_id == NULL) {
		return (fail(t, oom(t)));
	}
	memcpy(t->t_guard, ek.k_b, ek.k_n);
	t->t_guard_n = ek.k_n;
	// The guard belongs to the head.
	t->t_part = 0;
	e         = kv_find(t, &ek);
	t->t_part = part;
	(void) e;
	return (0);
}
