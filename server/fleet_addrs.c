// fleet_addrs.c: the address plan's claims (issue 18 point 5) — which
// FleetService's copy requests which LoadBalancer address in which
// cluster, kept in the store itself.
//
// Every address a copy requests is claimed by a record of its own
// (SF_STORE_ADDRS, an AddressClaim listing who requests it), read and
// written by the same write function that writes the FleetService and its
// copies. Checking that an address is free and claiming it are thus one
// transaction, whatever else is in flight: on LMDB the writer runs write
// functions one at a time, each seeing those before it in its batch (a
// write that fails, or a dry run, takes its claims with it when its child
// transaction is aborted); on etcd the claim's key is read inside the
// transaction, so a write that another replica (or writer) committed
// meanwhile makes its compare fail and the function run again, now
// seeing the claim. (An index in memory, updated by the writes' done
// functions, let two writes of one batch, or of two replicas, both take
// one address.) A write reads one record per address it requests or gives
// up, never every FleetService.
//
// Sharing (MetalLB's allow-shared-ip): copies share an address when each
// of them asks to (spec.shareAddresses, or the allow-shared-ip
// annotation), and, when both name a sharing key (the annotation's
// value), the same key.
//
// Stores written before the claims existed get them once at start
// (sf__srv_fleet_addrs_backfill): each stored FleetService's addresses
// are claimed, then a marker record says it is done.
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "log.h"
#include "str.h"

void (*_Atomic sf__srv_fleet_addrs_hook)(const char *fleet);

typedef Svcfleet__V1__AddressHolder ad_holder;
typedef Svcfleet__V1__AddressClaim  ad_claim;

const char *sf__srv_addrs_holder_name(sf_arena *a, const ad_holder *h);

static const char *const SHARE_ANN[] = {
    "metallb.universe.tf/allow-shared-ip",
    "metallb.io/allow-shared-ip",
};

void
sf__srv_fleet_addrs_share(
    const sf_fleet *fs, const sf_service *svc, bool *shared, const char **key)
{
	*shared = fs->spec != NULL && fs->spec->share_addresses;
	*key    = "";
	for (size_t i = 0; i < sizeof(SHARE_ANN) / sizeof(SHARE_ANN[0]); i++) {
		const char *v = sf_model_kv_get(svc->metadata->annotations,
		    svc->metadata->n_annotations, SHARE_ANN[i]);
		if (v != NULL) {
			*shared = true;
			*key    = v;
			break;
		}
	}
}

int
sf__srv_fleet_addrs_split(
    sf_arena *a, const char *lb_address, const char ***out, size_t *n)
{
	const char  *p   = sf_nz(lb_address);
	size_t       cap = 1;
	const char **r;

	for (const char *q = p; *q != '\0'; q++) {
		cap += *q == ',' ? 1 : 0;
	}
	if ((r = sf_arena_zalloc(a, (cap + 1) * sizeof(*r))) == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	*n = 0;
	while (*p != '\0') {
		const char *e = strchr(p, ',');
		size_t      len;
		char        item[128], canon[INET6_ADDRSTRLEN];
		uint8_t     bin[16];
		e   = e != NULL ? e : p + strlen(p);
		len = (size_t) (e - p);
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
			len--;
		}
		if (len > 0) {
			const char *s;
			snprintf(item, sizeof(item), "%.*s", (int) len, p);
			// One text per address: "fd00::1" and "fd00:0::1"
			// are one claim.
			if (inet_pton(AF_INET, item, bin) == 1) {
				s = inet_ntop(
				    AF_INET, bin, canon, sizeof(canon));
			} else if (inet_pton(AF_INET6, item, bin) == 1) {
				s = inet_ntop(
				    AF_INET6, bin, canon, sizeof(canon));
			} else {
				s = item;
			}
			s = sf_arena_strdup(a, s != NULL ? s : item);
			if (s == NULL) {
				return (SF_RESOURCE_EXHAUSTED);
			}
			r[(*n)++] = s;
		}
		p = *e == ',' ? e + 1 : e;
	}
	*out = r;
	return (0);
}

bool
sf__srv_fleet_addrs_can_share(
    bool shared_a, const char *key_a, bool shared_b, const char *key_b)
{
	key_a = sf_nz(key_a);
	key_b = sf_nz(key_b);
	return (shared_a && shared_b
	    && (key_a[0] == '\0' || key_b[0] == '\0'
	        || strcmp(key_a, key_b) == 0));
}

// Reads addr's claim (NULL when nobody claims it).
static int
claim_read(sf_store_txn *txn, sf_arena *a, const char *addr, ad_claim **out)
{
	ProtobufCMessage *m = NULL;
	int               rv;

	*out = NULL;
	rv   = sf_store_txn_record_get(txn, SF_STORE_ADDRS, addr,
	      &svcfleet__v1__address_claim__descriptor, sf_arena_pbc(a), &m);
	if (rv == SF_NOT_FOUND) {
		return (0);
	}
	if (rv == 0) {
		*out = (ad_claim *) m;
	}
	return (rv);
}

int
sf__srv_fleet_addrs_clash(sf_store_txn *txn, sf_arena *a, const char *fleet,
    const sf__srv_addr_want *w, const char **clash)
{
	ad_claim *c;
	int       rv;

	*clash = NULL;
	if ((rv = claim_read(txn, a, w->aw_addr, &c)) != 0 || c == NULL) {
		return (rv);
	}
	// i18-plan: this copy holds it already (a clash stored before the
	// plan covered plain Services is kept, not turned into a conflict),
	// or the plain Service it adopts does (same cluster and name).
	for (size_t i = 0; i < c->n_holders; i++) {
		const ad_holder *h = c->holders[i];
		if (strcmp(sf_nz(h->cluster), sf_nz(w->aw_cluster)) == 0
		    && (strcmp(sf_nz(h->fleet), fleet) == 0
		        || (sf_nz(h->fleet)[0] == '\0'
		            && strcmp(sf_nz(h->service), fleet) == 0))) {
			return (0);
		}
	}
	// Holders are kept by FleetService, then status order: the first
	// that cannot share is the one to name.
	for (size_t i = 0; i < c->n_holders; i++) {
		const ad_holder *h = c->holders[i];
		if (strcmp(sf_nz(h->fleet), fleet) == 0
		    || sf__srv_fleet_addrs_can_share(
		        h->shared, h->share_key, w->aw_shared, w->aw_key)) {
			continue;
		}
		*clash = sf__srv_addrs_holder_name(a, h);
		return (0);
	}
	return (0);
}

static int
holder_cmp(const void *x, const void *y)
{
	const ad_holder *a = *(const ad_holder *const *) x;
	const ad_holder *b = *(const ad_holder *const *) y;
	int              c = strcmp(sf_nz(a->fleet), sf_nz(b->fleet));
	if (c != 0) {
		return (c);
	}
	if (a->pos != b->pos) {
		return (a->pos < b->pos ? -1 : 1);
	}
	// i18-plan: plain Services (fleet "") by cluster, then name.
	if ((c = strcmp(sf_nz(a->cluster), sf_nz(b->cluster))) != 0) {
		return (c);
	}
	return (strcmp(sf_nz(a->service), sf_nz(b->service)));
}

static bool
holders_equal(const ad_claim *c, ad_holder **hs, size_t n)
{
	if ((c == NULL ? 0 : c->n_holders) != n) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		const ad_holder *x = c->holders[i], *y = hs[i];
		if (strcmp(sf_nz(x->fleet), sf_nz(y->fleet)) != 0
		    || strcmp(sf_nz(x->cluster), sf_nz(y->cluster)) != 0
		    || x->pos != y->pos || x->shared != y->shared
		    || strcmp(sf_nz(x->share_key), sf_nz(y->share_key)) != 0
		    || strcmp(sf_nz(x->service), sf_nz(y->service)) != 0) {
			return (false);
		}
	}
	return (true);
}

// Makes fleet's holders of addr those of want that name it.
static int
claim_one(sf_store_txn *txn, sf_arena *a, const char *fleet, const char *addr,
    const sf__srv_addr_want *want, size_t nwant)
{
	ad_claim   *c;
	ad_holder **hs;
	size_t      n = 0;
	int         rv;

	if ((rv = claim_read(txn, a, addr, &c)) != 0) {
		return (rv);
	}
	hs = sf_arena_zalloc(
	    a, ((c != NULL ? c->n_holders : 0) + nwant + 1) * sizeof(*hs));
	if (hs == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	for (size_t i = 0; c != NULL && i < c->n_holders; i++) {
		if (strcmp(sf_nz(c->holders[i]->fleet), fleet) != 0) {
			hs[n++] = c->holders[i];
		}
	}
	for (size_t i = 0; i < nwant; i++) {
		ad_holder *h;
		if (strcmp(want[i].aw_addr, addr) != 0) {
			continue;
		}
		if ((h = sf_arena_zalloc(a, sizeof(*h))) == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		svcfleet__v1__address_holder__init(h);
		h->fleet     = (char *) fleet;
		h->cluster   = (char *) want[i].aw_cluster;
		h->pos       = want[i].aw_pos;
		h->shared    = want[i].aw_shared;
		h->share_key = (char *) sf_nz(want[i].aw_key);
		hs[n++]      = h;
	}
	qsort(hs, n, sizeof(*hs), holder_cmp);
	if (holders_equal(c, hs, n)) {
		return (0); // nothing to write
	}
	if (n == 0) {
		rv = sf_store_txn_record_delete(txn, SF_STORE_ADDRS, addr);
		return (rv == SF_NOT_FOUND ? 0 : rv);
	}
	ad_claim nc  = SVCFLEET__V1__ADDRESS_CLAIM__INIT;
	nc.holders   = hs;
	nc.n_holders = n;
	return (sf_store_txn_record_put(
	    txn, SF_STORE_ADDRS, addr, &nc.base, false));
}

static bool
seen(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(list[i], s) == 0) {
			return (true);
		}
	}
	return (false);
}

int
sf__srv_fleet_addrs_claim(sf_store_txn *txn, sf_arena *a, const char *fleet,
    const sf__srv_addr_want *want, size_t nwant, const sf_fleet *old)
{
	const char **addrs;
	size_t       n = 0, cap = nwant + 1;
	int          rv;

	// Every address fleet requests now or requested before.
	for (size_t i = 0; old != NULL && i < old->n_status; i++) {
		const char *s = sf_nz(old->status[i]->lb_address);
		cap += 1;
		for (; *s != '\0'; s++) {
			cap += *s == ',' ? 1 : 0;
		}
	}
	if ((addrs = sf_arena_zalloc(a, cap * sizeof(*addrs))) == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	for (size_t i = 0; i < nwant; i++) {
		if (!seen(addrs, n, want[i].aw_addr)) {
			addrs[n++] = want[i].aw_addr;
		}
	}
	for (size_t i = 0; old != NULL && i < old->n_status; i++) {
		const char **it;
		size_t       nit;
		rv = sf__srv_fleet_addrs_split(
		    a, old->status[i]->lb_address, &it, &nit);
		if (rv != 0) {
			return (rv);
		}
		for (size_t k = 0; k < nit; k++) {
			if (!seen(addrs, n, it[k])) {
				addrs[n++] = it[k];
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		if ((rv = claim_one(txn, a, fleet, addrs[i], want, nwant))
		    != 0) {
			return (rv);
		}
	}
	return (0);
}

// ------------------------------------------------------------ backfill

typedef struct backfill_job {
	sf_arena    b_arena;
	const char *b_id;
} backfill_job;

// Claims the addresses one stored FleetService's copies request, as its
// status and the copies stored say.
static int
backfill_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	backfill_job      *b = arg;
	sf_arena          *a = &b->b_arena;
	ProtobufCMessage  *m = NULL;
	sf_fleet          *fs;
	sf__srv_addr_want *want;
	size_t             nwant = 0, cap = 0;
	int                rv;

	rv = sf_store_txn_record_get(txn, SF_STORE_FLEET, b->b_id,
	    &svcfleet__v1__fleet_service__descriptor, sf_arena_pbc(a), &m);
	if (rv == SF_NOT_FOUND) {
		return (0); // deleted meanwhile
	}
	if (rv != 0) {
		return (sf_status_set(st, rv, "reading %s failed", b->b_id));
	}
	fs = (sf_fleet *) m;
	for (size_t i = 0; i < fs->n_status; i++) {
		const char *s = sf_nz(fs->status[i]->lb_address);
		cap += s[0] != '\0' ? 1 : 0;
		for (; *s != '\0'; s++) {
			cap += *s == ',' ? 1 : 0;
		}
	}
	if ((want = sf_arena_zalloc(a, (cap + 1) * sizeof(*want))) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	for (size_t i = 0; i < fs->n_status; i++) {
		Svcfleet__V1__FleetClusterStatus *cs = fs->status[i];
		sf_store_key                      k  = {
		                          cs->cluster, fs->metadata->namespace_, fs->metadata->name};
		sf_service  *svc = NULL;
		const char **it;
		size_t       nit;
		bool shared = fs->spec != NULL && fs->spec->share_addresses;
		const char *key = "";

		if (sf_nz(cs->lb_address)[0] == '\0') {
			continue;
		}
		rv = sf_store_txn_service_get(txn, &k, sf_arena_pbc(a), &svc);
		if (rv == 0) {
			sf__srv_fleet_addrs_share(fs, svc, &shared, &key);
		} else if (rv != SF_NOT_FOUND) {
			return (
			    sf_status_set(st, rv, "reading a copy failed"));
		}
		rv = sf__srv_fleet_addrs_split(a, cs->lb_address, &it, &nit);
		if (rv != 0) {
			return (sf_status_set(st, rv, NULL));
		}
		for (size_t x = 0; x < nit && nwant < cap; x++) {
			want[nwant].aw_addr    = it[x];
			want[nwant].aw_cluster = sf_nz(cs->cluster);
			want[nwant].aw_pos     = (uint32_t) i;
			want[nwant].aw_shared  = shared;
			want[nwant].aw_key     = key;
			nwant++;
		}
	}
	rv = sf__srv_fleet_addrs_claim(txn, a, b->b_id, want, nwant, fs);
	if (rv != 0) {
		return (sf_status_set(
		    st, rv, "claiming the addresses of %s", b->b_id));
	}
	return (0);
}

static int
marker_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	ad_claim none = SVCFLEET__V1__ADDRESS_CLAIM__INIT;
	int      rv;
	(void) arg;
	rv = sf_store_txn_record_put(
	    txn, SF_STORE_ADDRS, SF__SRV_ADDRS_MARKER, &none.base, false);
	return (rv != 0 ? sf_status_set(st, rv, "writing the marker") : 0);
}

static int
write_one(sf_server *srv, sf_store_write_fn fn, void *arg, sf_status *st)
{
	sf_store_write w = {.w_fn = fn, .w_arg = arg, .w_status = st};
	return (sf_store_write_sync(srv->s_store, &w, NULL));
}

// Does every address fs's status requests have its claim already (read
// outside a write: only to spare the writer)?
static bool
all_claimed(sf_store *s, sf_arena *a, const char *id, const sf_fleet *fs)
{
	for (size_t i = 0; i < fs->n_status; i++) {
		const char **it;
		size_t       nit;
		if (sf__srv_fleet_addrs_split(
		        a, fs->status[i]->lb_address, &it, &nit)
		    != 0) {
			return (false);
		}
		for (size_t x = 0; x < nit; x++) {
			ProtobufCMessage *m     = NULL;
			bool              found = false;
			if (sf_store_record_get(s, SF_STORE_ADDRS, it[x],
			        &svcfleet__v1__address_claim__descriptor,
			        sf_arena_pbc(a), &m)
			    != 0) {
				return (false);
			}
			const ad_claim *c = (const ad_claim *) m;
			for (size_t h = 0; h < c->n_holders; h++) {
				found = found
				    || (strcmp(sf_nz(c->holders[h]->fleet), id)
				            == 0
				        && strcmp(
				               sf_nz(c->holders[h]->cluster),
				               sf_nz(fs->status[i]->cluster))
				            == 0);
			}
			if (!found) {
				return (false);
			}
		}
	}
	return (true);
}

int
sf__srv_fleet_addrs_backfill(sf_server *srv, sf_status *st)
{
	ProtobufCMessage **all  = NULL;
	ProtobufCMessage  *mark = NULL;
	size_t             n = 0, nclaimed = 0;
	sf_arena           a;
	int                rv;

	sf_arena_init(&a);
	rv = sf_store_record_get(srv->s_store, SF_STORE_ADDRS,
	    SF__SRV_ADDRS_MARKER, &svcfleet__v1__address_claim__descriptor,
	    sf_arena_pbc(&a), &mark);
	if (rv == 0) {
		sf_arena_fini(&a);
		return (0); // done before
	}
	rv = sf_store_record_list(srv->s_store, SF_STORE_FLEET,
	    &svcfleet__v1__fleet_service__descriptor, sf_arena_pbc(&a), &all,
	    &n);
	for (size_t i = 0; rv == 0 && i < n; i++) {
		const sf_fleet *fs = (const sf_fleet *) all[i];
		backfill_job    b;
		sf_arena_init(&b.b_arena);
		b.b_id = sf_arena_printf(&b.b_arena, "%s/%s",
		    sf_nz(fs->metadata->namespace_),
		    sf_nz(fs->metadata->name));
		if (b.b_id == NULL) {
			rv = SF_RESOURCE_EXHAUSTED;
		} else if (!all_claimed(
		               srv->s_store, &b.b_arena, b.b_id, fs)) {
			rv = write_one(srv, backfill_fn, &b, st);
			nclaimed++;
		}
		sf_arena_fini(&b.b_arena);
	}
	// A store without FleetServices takes no write (nor revision): the
	// marker comes with the first start that finds some.
	if (rv == 0 && n > 0) {
		rv = write_one(srv, marker_fn, NULL, st);
	}
	if (rv == 0 && nclaimed > 0) {
		SF_INFO("fleet",
		    "claimed the addresses of %zu FleetServices stored before "
		    "the address plan's claims",
		    nclaimed);
	}
	sf_arena_fini(&a);
	if (rv != 0) {
		char why[SF_STATUS_MSG_MAX];
		snprintf(why, sizeof(why), "%s",
		    st->st_msg[0] != '\0' ? st->st_msg : sf_status_str(rv));
		return (sf_status_set(st, rv,
		    "claiming the addresses of the stored FleetServices "
		    "failed: %s",
		    why));
	}
	return (0);
}

// ------------------------------------------- i18-plan: plain Services
//
// A plain Service (no FleetService owns it) of type LoadBalancer that
// requests an address claims it like a FleetService's copy does, in its
// own write: holder.fleet "", holder.service "namespace/name",
// holder.cluster its cluster. Sharing is MetalLB's: the allow-shared-ip
// annotation on every requester, the same key when both name one.

const char *
sf__srv_addrs_holder_name(sf_arena *a, const ad_holder *h)
{
	const char *r;
	if (sf_nz(h->fleet)[0] != '\0') {
		r = sf_arena_printf(a, "FleetService %s in cluster %s",
		    sf_nz(h->fleet), sf_nz(h->cluster));
	} else {
		r = sf_arena_printf(a, "Service %s in cluster %s",
		    sf_nz(h->service), sf_nz(h->cluster));
	}
	return (r != NULL ? r : "another Service");
}

const char *
sf__srv_svc_addrs_of(const sf_service *svc)
{
	if (svc == NULL || svc->spec == NULL
	    || strcmp(sf_nz(svc->spec->type), "LoadBalancer") != 0) {
		return ("");
	}
	return (sf_nz(svc->spec->lb_address));
}

static void
svc_share(const sf_service *svc, bool *shared, const char **key)
{
	*shared = false;
	*key    = "";
	for (size_t i = 0; i < sizeof(SHARE_ANN) / sizeof(SHARE_ANN[0]); i++) {
		const char *v = sf_model_kv_get(svc->metadata->annotations,
		    svc->metadata->n_annotations, SHARE_ANN[i]);
		if (v != NULL) {
			*shared = true;
			*key    = v;
			return;
		}
	}
}

static bool
is_svc_holder(const ad_holder *h, const char *cluster, const char *id)
{
	return (sf_nz(h->fleet)[0] == '\0'
	    && strcmp(sf_nz(h->cluster), cluster) == 0
	    && strcmp(sf_nz(h->service), id) == 0);
}

int
sf__srv_svc_addrs_clash(sf_store_txn *txn, sf_arena *a, const sf_service *svc,
    const char **addr, const ad_holder **clash)
{
	const char **it;
	size_t       nit;
	bool         shared;
	const char  *key, *cluster = sf_nz(svc->metadata->cluster);
	const char  *id = sf_arena_printf(a, "%s/%s",
	     sf_nz(svc->metadata->namespace_), sf_nz(svc->metadata->name));
	int          rv;

	*addr  = NULL;
	*clash = NULL;
	if (id == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	if ((rv = sf__srv_fleet_addrs_split(
	         a, sf__srv_svc_addrs_of(svc), &it, &nit))
	    != 0) {
		return (rv);
	}
	svc_share(svc, &shared, &key);
	for (size_t x = 0; x < nit; x++) {
		ad_claim *c;
		bool      mine = false;
		if ((rv = claim_read(txn, a, it[x], &c)) != 0) {
			return (rv);
		}
		for (size_t i = 0; c != NULL && i < c->n_holders; i++) {
			mine = mine
			    || is_svc_holder(c->holders[i], cluster, id);
		}
		// Held already (a clash stored before the plan covered
		// plain Services is kept: both still hold it).
		for (size_t i = 0; !mine && c != NULL && i < c->n_holders;
		     i++) {
			const ad_holder *h = c->holders[i];
			if (!sf__srv_fleet_addrs_can_share(
			        h->shared, h->share_key, shared, key)) {
				*addr  = it[x];
				*clash = h;
				return (0);
			}
		}
	}
	return (0);
}

// Makes the holder (cluster, id) of addr what nw asks (nw NULL: none).
static int
svc_claim_one(sf_store_txn *txn, sf_arena *a, const char *cluster,
    const char *id, const char *addr, bool want, bool shared, const char *key)
{
	ad_claim   *c;
	ad_holder **hs;
	size_t      n = 0;
	int         rv;

	if ((rv = claim_read(txn, a, addr, &c)) != 0) {
		return (rv);
	}
	hs = sf_arena_zalloc(
	    a, ((c != NULL ? c->n_holders : 0) + 2) * sizeof(*hs));
	if (hs == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	for (size_t i = 0; c != NULL && i < c->n_holders; i++) {
		if (!is_svc_holder(c->holders[i], cluster, id)) {
			hs[n++] = c->holders[i];
		}
	}
	if (want) {
		ad_holder *h = sf_arena_zalloc(a, sizeof(*h));
		if (h == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		svcfleet__v1__address_holder__init(h);
		h->fleet     = "";
		h->service   = (char *) id;
		h->cluster   = (char *) cluster;
		h->shared    = shared;
		h->share_key = (char *) key;
		hs[n++]      = h;
	}
	qsort(hs, n, sizeof(*hs), holder_cmp);
	if (holders_equal(c, hs, n)) {
		return (0);
	}
	if (n == 0) {
		rv = sf_store_txn_record_delete(txn, SF_STORE_ADDRS, addr);
		return (rv == SF_NOT_FOUND ? 0 : rv);
	}
	ad_claim nc  = SVCFLEET__V1__ADDRESS_CLAIM__INIT;
	nc.holders   = hs;
	nc.n_holders = n;
	return (sf_store_txn_record_put(
	    txn, SF_STORE_ADDRS, addr, &nc.base, false));
}

int
sf__srv_svc_addrs_claim(sf_store_txn *txn, sf_arena *a, const sf_service *old,
    const sf_service *nw)
{
	const sf_service *who = nw != NULL ? nw : old;
	const char       *cluster, *id;
	const char      **na = NULL, **oa = NULL;
	size_t            nn = 0, no = 0;
	bool              shared = false;
	const char       *key    = "";
	int               rv;

	if (who == NULL) {
		return (0);
	}
	cluster = sf_nz(who->metadata->cluster);
	id      = sf_arena_printf(a, "%s/%s", sf_nz(who->metadata->namespace_),
	         sf_nz(who->metadata->name));
	if (id == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	if (nw != NULL) {
		svc_share(nw, &shared, &key);
		rv = sf__srv_fleet_addrs_split(
		    a, sf__srv_svc_addrs_of(nw), &na, &nn);
		if (rv != 0) {
			return (rv);
		}
	}
	if (old != NULL) {
		rv = sf__srv_fleet_addrs_split(
		    a, sf__srv_svc_addrs_of(old), &oa, &no);
		if (rv != 0) {
			return (rv);
		}
	}
	for (size_t i = 0; i < nn; i++) {
		if (seen(na, i, na[i])) {
			continue;
		}
		rv = svc_claim_one(
		    txn, a, cluster, id, na[i], true, shared, key);
		if (rv != 0) {
			return (rv);
		}
	}
	for (size_t i = 0; i < no; i++) {
		if (seen(na, nn, oa[i]) || seen(oa, i, oa[i])) {
			continue;
		}
		rv = svc_claim_one(
		    txn, a, cluster, id, oa[i], false, false, "");
		if (rv != 0) {
			return (rv);
		}
	}
	return (0);
}

// Plain Services stored before the plan covered them get their claims at
// start, SVC_BATCH per write (each Service: its read, and a read and a
// write per address, well inside one etcd transaction). Two that already
// ask for one address without sharing both keep it: logged, and listed
// by `svcfleet addresses` as a conflict; nothing is deleted or refused.
#define SVC_BATCH 16
#define SVC_MARK  "~claimed-services"

typedef struct svc_backfill {
	sf_arena     sb_arena;
	sf_store_key sb_keys[SVC_BATCH];
	size_t       sb_n;
	size_t       sb_clashes; // set by the last run of the write
	const char  *sb_clash[SVC_BATCH];
} svc_backfill;

static bool
svc_plain_wants(const sf_service *svc)
{
	return (sf_nz(svc->metadata->owner)[0] == '\0'
	    && !svc->metadata->deleting
	    && sf__srv_svc_addrs_of(svc)[0] != '\0');
}

static int
svc_backfill_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	svc_backfill *b = arg;
	sf_arena     *a = &b->sb_arena;
	int           rv;

	b->sb_clashes = 0;
	for (size_t i = 0; i < b->sb_n; i++) {
		sf_service      *svc = NULL;
		const char      *addr;
		const ad_holder *h;
		rv = sf_store_txn_service_get(
		    txn, &b->sb_keys[i], sf_arena_pbc(a), &svc);
		if (rv == SF_NOT_FOUND) {
			continue;
		}
		if (rv != 0) {
			return (sf_status_set(st, rv, "reading a Service"));
		}
		if (!svc_plain_wants(svc)) {
			continue;
		}
		rv = sf__srv_svc_addrs_clash(txn, a, svc, &addr, &h);
		if (rv == 0 && h != NULL) {
			b->sb_clash[b->sb_clashes++] = sf_arena_printf(a,
			    "address %s: Service %s/%s in cluster %s and %s "
			    "both request it without sharing",
			    addr, svc->metadata->namespace_,
			    svc->metadata->name, svc->metadata->cluster,
			    sf__srv_addrs_holder_name(a, h));
		}
		if (rv == 0) {
			rv = sf__srv_svc_addrs_claim(txn, a, NULL, svc);
		}
		if (rv != 0) {
			return (sf_status_set(st, rv,
			    "claiming the addresses of Service %s/%s in "
			    "cluster %s",
			    svc->metadata->namespace_, svc->metadata->name,
			    svc->metadata->cluster));
		}
	}
	return (0);
}

static int
svc_marker_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	ad_claim none = SVCFLEET__V1__ADDRESS_CLAIM__INIT;
	int      rv;
	(void) arg;
	rv = sf_store_txn_record_put(
	    txn, SF_STORE_ADDRS, SVC_MARK, &none.base, false);
	return (rv != 0 ? sf_status_set(st, rv, "writing the marker") : 0);
}

// Holds every address of svc already (read outside a write)?
static bool
svc_all_claimed(sf_store *s, sf_arena *a, const sf_service *svc)
{
	const char **it;
	size_t       nit;
	const char  *id = sf_arena_printf(a, "%s/%s",
	     sf_nz(svc->metadata->namespace_), sf_nz(svc->metadata->name));
	if (id == NULL
	    || sf__srv_fleet_addrs_split(
	           a, sf__srv_svc_addrs_of(svc), &it, &nit)
	        != 0) {
		return (false);
	}
	for (size_t x = 0; x < nit; x++) {
		ProtobufCMessage *m     = NULL;
		bool              found = false;
		if (sf_store_record_get(s, SF_STORE_ADDRS, it[x],
		        &svcfleet__v1__address_claim__descriptor,
		        sf_arena_pbc(a), &m)
		    != 0) {
			return (false);
		}
		const ad_claim *c = (const ad_claim *) m;
		for (size_t h = 0; h < c->n_holders; h++) {
			found = found
			    || is_svc_holder(c->holders[h],
			        sf_nz(svc->metadata->cluster), id);
		}
		if (!found) {
			return (false);
		}
	}
	return (true);
}

static int
svc_backfill_flush(sf_server *srv, svc_backfill *b, size_t *nclaimed,
    size_t *nclash, sf_status *st)
{
	int rv;
	if (b->sb_n == 0) {
		return (0);
	}
	if ((rv = write_one(srv, svc_backfill_fn, b, st)) != 0) {
		return (rv);
	}
	for (size_t i = 0; i < b->sb_clashes; i++) {
		SF_WARN("fleet",
		    "%s (stored before the address plan covered plain "
		    "Services; both kept, see `svcfleet addresses`)",
		    b->sb_clash[i]);
	}
	*nclaimed += b->sb_n;
	*nclash += b->sb_clashes;
	b->sb_n = 0;
	sf_arena_fini(&b->sb_arena);
	sf_arena_init(&b->sb_arena);
	return (0);
}

int
sf__srv_svc_addrs_backfill(sf_server *srv, sf_status *st)
{
	ProtobufCMessage *mark = NULL;
	sf_arena          a;
	svc_backfill     *b;
	size_t            nclaimed = 0, nclash = 0, nsvc = 0;
	char             *token = "", *tokbuf = NULL;
	int               rv;

	sf_arena_init(&a);
	rv = sf_store_record_get(srv->s_store, SF_STORE_ADDRS, SVC_MARK,
	    &svcfleet__v1__address_claim__descriptor, sf_arena_pbc(&a), &mark);
	if (rv == 0) {
		sf_arena_fini(&a);
		return (0); // done before
	}
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		sf_arena_fini(&a);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	sf_arena_init(&b->sb_arena);
	rv = 0;
	for (;;) {
		sf_store_list_req req
		    = {.lr_limit = 500, .lr_page_token = token};
		sf_store_list_res res;
		memset(&res, 0, sizeof(res));
		if (sf_store_service_list(
		        srv->s_store, &req, sf_arena_pbc(&a), &res, st)
		    != 0) {
			rv = st->st_code;
			break;
		}
		nsvc += res.lr_n;
		for (size_t i = 0; rv == 0 && i < res.lr_n; i++) {
			sf_service *svc = res.lr_items[i];
			if (!svc_plain_wants(svc)
			    || svc_all_claimed(srv->s_store, &a, svc)) {
				continue;
			}
			sf_store_key *k = &b->sb_keys[b->sb_n++];
			k->k_cluster    = sf_arena_strdup(
			       &b->sb_arena, svc->metadata->cluster);
			k->k_namespace = sf_arena_strdup(
			    &b->sb_arena, svc->metadata->namespace_);
			k->k_name = sf_arena_strdup(
			    &b->sb_arena, svc->metadata->name);
			if (k->k_cluster == NULL || k->k_namespace == NULL
			    || k->k_name == NULL) {
				rv = sf_status_set(
				    st, SF_RESOURCE_EXHAUSTED, NULL);
			} else if (b->sb_n == SVC_BATCH) {
				rv = svc_backfill_flush(
				    srv, b, &nclaimed, &nclash, st);
			}
		}
		if (rv != 0 || res.lr_next_token == NULL
		    || res.lr_next_token[0] == '\0') {
			break;
		}
		// The page's Services are done with: keep the token only.
		free(tokbuf);
		if ((tokbuf = strdup(res.lr_next_token)) == NULL) {
			rv = sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL);
			break;
		}
		token = tokbuf;
		sf_arena_reset(&a);
	}
	if (rv == 0) {
		rv = svc_backfill_flush(srv, b, &nclaimed, &nclash, st);
	}
	// A store without Services takes no write (nor revision).
	if (rv == 0 && nsvc > 0) {
		rv = write_one(srv, svc_marker_fn, NULL, st);
	}
	if (rv == 0 && nclaimed > 0) {
		SF_INFO("fleet",
		    "claimed the addresses of %zu Services stored before the "
		    "address plan covered plain Services (%zu conflicts kept)",
		    nclaimed, nclash);
	}
	sf_arena_fini(&b->sb_arena);
	free(b);
	free(tokbuf);
	sf_arena_fini(&a);
	if (rv != 0) {
		char why[SF_STATUS_MSG_MAX];
		snprintf(why, sizeof(why), "%s",
		    st->st_msg[0] != '\0' ? st->st_msg : sf_status_str(rv));
		return (sf_status_set(st, rv,
		    "claiming the addresses of the stored Services failed: %s",
		    why));
	}
	return (0);
}

// `svcfleet addresses`: the clashes kept from before the plan. Only an
// address requested by two entries can have two holders: only those
// claims are read (one read each, not one per address listed).
static int
str_cmp(const void *x, const void *y)
{
	return (strcmp(*(const char *const *) x, *(const char *const *) y));
}

int
sf__srv_addrs_conflicts(
    sf_store *s, sf_arena *a, Svcfleet__V1__AddressesReply *r, sf_status *st)
{
	const char **all;
	size_t       nall = 0, cap = 0;
	char       **out;

	for (size_t i = 0; i < r->n_addresses; i++) {
		const char *v = sf_nz(r->addresses[i]->address);
		cap += 1;
		for (; *v != '\0'; v++) {
			cap += *v == ',' ? 1 : 0;
		}
	}
	all = sf_arena_zalloc(a, (cap + 1) * sizeof(*all));
	out = sf_arena_zalloc(a, (cap + 1) * sizeof(*out));
	if (all == NULL || out == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	r->conflicts   = out;
	r->n_conflicts = 0;
	for (size_t i = 0; i < r->n_addresses; i++) {
		const char **it;
		size_t       nit;
		if (strcmp(sf_nz(r->addresses[i]->kind), "requested") != 0) {
			continue;
		}
		if (sf__srv_fleet_addrs_split(
		        a, r->addresses[i]->address, &it, &nit)
		    != 0) {
			return (
			    sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
		}
		for (size_t x = 0; x < nit && nall < cap; x++) {
			all[nall++] = it[x];
		}
	}
	qsort(all, nall, sizeof(*all), str_cmp);
	for (size_t i = 0; i + 1 < nall; i++) {
		ProtobufCMessage *m = NULL;
		if (strcmp(all[i], all[i + 1]) != 0
		    || (i > 0 && strcmp(all[i - 1], all[i]) == 0)) {
			continue; // once per address requested twice or more
		}
		if (sf_store_record_get(s, SF_STORE_ADDRS, all[i],
		        &svcfleet__v1__address_claim__descriptor,
		        sf_arena_pbc(a), &m)
		    != 0) {
			continue;
		}
		const ad_claim *c    = (const ad_claim *) m;
		const char     *line = NULL;
		for (size_t p = 0; p < c->n_holders; p++) {
			for (size_t q = p + 1; q < c->n_holders; q++) {
				const ad_holder *hp = c->holders[p];
				const ad_holder *hq = c->holders[q];
				if ((sf_nz(hp->fleet)[0] != '\0'
				        && strcmp(hp->fleet, sf_nz(hq->fleet))
				            == 0)
				    || sf__srv_fleet_addrs_can_share(
				        hp->shared, hp->share_key, hq->shared,
				        hq->share_key)) {
					continue;
				}
				line = sf_arena_printf(a, "%s%s%s and %s",
				    line != NULL ? line : all[i],
				    line != NULL ? "; " : ": ",
				    sf__srv_addrs_holder_name(a, hp),
				    sf__srv_addrs_holder_name(a, hq));
			}
		}
		if (line != NULL) {
			out[r->n_conflicts++] = sf_arena_printf(a,
			    "%s (both request it without sharing; stored "
			    "before the address plan covered them, both kept)",
			    line);
		}
	}
	return (0);
}
