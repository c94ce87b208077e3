// claims.c: reconciler membership and cluster claims (issue 16; DESIGN §9).
//
// Every reconciler registers (RegisterReconciler) and renews its lease
// every TTL/3 (RenewReconciler); the leases, the member records and the
// claims live behind the store (sf_store_lease_*, sf_store_claim_*: in
// memory on LMDB, etcd leases on etcd). Each cluster belongs to the live
// reconciler with the highest rendezvous score hash(cluster, id), so a
// reconciler joining or leaving moves only the clusters it wins or held
// (about 1/N of them). A claim is exclusive (create-if-absent in the
// store) and carries a fencing token that grows with every new claim.
//
// Moving a claim: the holder gives it up only inside its own renewal (it
// learns from that very answer that the cluster is no longer its own and
// stops), and the new owner is given it in the same step but hears of it
// at its own next renewal, so two owners never act on a cluster at once;
// a dead holder's claim ends with its lease and the next renewal of any
// reconciler gives the cluster to its new owner. Unregistering ends the
// lease at once and hands its clusters over in the same call.
//
// Status and health reports carry the sender's token; one that is not the
// cluster's current claim is refused (sf__srv_claims_check). A cluster
// nobody has held for more than 2 x TTL is a readiness warning and its
// Services read SYNC_STATE_UNKNOWN (sf__srv_claims_decorate_services) —
// once any reconciler has registered with this server: reconcilers
// pinned with --shard (which do not register) leave all of this off.
//
// It is one file of about 900 lines because membership, rendezvous and
// the fencing of reports are one state machine over the same leases and
// claims: every handler here reads and moves them under the same lock, and
// split by handler they would share that state through a header.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "hash.h"
#include "internal.h"
#include "log.h"
#include "str.h"

#define TTL_DEFAULT_MS 10000

typedef struct unowned {
	char   *u_cluster;
	int64_t u_since; // wall ms
	bool    u_seen;  // mark of the current pass
} unowned;

struct sf__srv_claims {
	pthread_mutex_t cl_mtx;    // one rebalance at a time; the fields below
	bool            cl_active; // a reconciler registered since start
	int64_t         cl_ttl_ms; // the longest TTL registered (0: none)
	unowned        *cl_u;
	size_t          cl_nu, cl_capu;
	atomic_uint_fast64_t cl_refused;   // reports refused for a stale token
	int64_t              cl_refreshed; // mono ms of the last note_unowned
	// Metrics (so_metrics; NULL: none).
	sf_metric *cl_m_owner, *cl_m_age, *cl_m_unowned, *cl_m_refused;
	uint64_t   cl_refused_seen; // what cl_m_refused counts so far
};

static void claims_collect(void *arg, sf_metrics *r);

int
sf__srv_claims_init(sf_server *srv)
{
	struct sf__srv_claims *c = calloc(1, sizeof(*c));
	if (c == NULL || pthread_mutex_init(&c->cl_mtx, NULL) != 0) {
		free(c);
		return (SF_RESOURCE_EXHAUSTED);
	}
	srv->s_claims = c;
	sf_metrics *r = srv->s_opts.so_metrics;
	if (r != NULL) {
		c->cl_m_owner   = sf_metrics_gauge(r, "svcfleet_cluster_owner",
		      "1 for the reconciler that holds each cluster's claim.",
		      "cluster,reconciler");
		c->cl_m_age     = sf_metrics_gauge(r,
		        "svcfleet_cluster_last_sync_age_seconds",
		        "Seconds since the cluster's owner last reached its API "
		            "server.",
		        "cluster");
		c->cl_m_unowned = sf_metrics_gauge(r,
		    "svcfleet_cluster_unowned_seconds",
		    "Seconds each cluster has had no reconciler (0: held).",
		    "cluster");
		c->cl_m_refused = sf_metrics_counter(r,
		    "svcfleet_claim_stale_reports_total",
		    "Status and health reports refused for a stale claim "
		    "token.",
		    NULL);
		if (sf_metrics_add_collector(r, claims_collect, srv) != 0) {
			return (SF_RESOURCE_EXHAUSTED);
		}
	}
	return (0);
}

void
sf__srv_claims_fini(sf_server *srv)
{
	struct sf__srv_claims *c = srv->s_claims;
	if (c == NULL) {
		return;
	}
	if (srv->s_opts.so_metrics != NULL) {
		sf_metrics_remove_collector(
		    srv->s_opts.so_metrics, claims_collect, srv);
	}
	for (size_t i = 0; i < c->cl_nu; i++) {
		free(c->cl_u[i].u_cluster);
	}
	free(c->cl_u);
	pthread_mutex_destroy(&c->cl_mtx);
	free(c);
	srv->s_claims = NULL;
}

uint64_t
sf__srv_claims_refused(sf_server *srv)
{
	return (srv->s_claims != NULL ? atomic_load(&srv->s_claims->cl_refused)
	                              : 0);
}

// score is the rendezvous weight of member id for cluster.
static uint64_t
score(const char *cluster, const char *id)
{
	uint64_t z = sf_hash_str(sf_hash_str(SF_HASH_INIT, cluster), id);
	// splitmix64's finaliser: FNV's low bits alone spread poorly.
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (z ^ (z >> 31));
}

static const sf_store_member *
best_of(const char *cluster, const sf_store_member *m, size_t n)
{
	const sf_store_member *best = NULL;
	uint64_t               bs   = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t s = score(cluster, m[i].sm_id);
		if (best == NULL || s > bs
		    || (s == bs && strcmp(m[i].sm_id, best->sm_id) < 0)) {
			best = &m[i];
			bs   = s;
		}
	}
	return (best);
}

static sf_store_claim *
claim_of(sf_store_claim *c, size_t n, const char *cluster)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(c[i].sc_cluster, cluster) == 0) {
			return (&c[i]);
		}
	}
	return (NULL);
}

// note_unowned updates the table of clusters nobody holds (under cl_mtx):
// names are the registered clusters, claims the live claims.
static void
note_unowned(struct sf__srv_claims *cc, Svcfleet__V1__Cluster **cl, size_t n,
    sf_store_claim *claims, size_t nc)
{
	int64_t now = sf_clock_now_ms();
	for (size_t i = 0; i < cc->cl_nu; i++) {
		cc->cl_u[i].u_seen = false;
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = cl[i]->name;
		size_t      j;
		if (name == NULL || claim_of(claims, nc, name) != NULL) {
			continue;
		}
		for (j = 0; j < cc->cl_nu; j++) {
			if (strcmp(cc->cl_u[j].u_cluster, name) == 0) {
				break;
			}
		}
		if (j == cc->cl_nu) {
			if (cc->cl_nu == cc->cl_capu) {
				size_t cap
				    = cc->cl_capu ? cc->cl_capu * 2 : 16;
				unowned *u
				    = realloc(cc->cl_u, cap * sizeof(*u));
				if (u == NULL) {
					continue;
				}
				cc->cl_u    = u;
				cc->cl_capu = cap;
			}
			if ((cc->cl_u[j].u_cluster = strdup(name)) == NULL) {
				continue;
			}
			cc->cl_u[j].u_since = now;
			cc->cl_nu++;
		}
		cc->cl_u[j].u_seen = true;
	}
	size_t k = 0;
	for (size_t i = 0; i < cc->cl_nu; i++) {
		if (!cc->cl_u[i].u_seen) {
			free(cc->cl_u[i].u_cluster);
			continue;
		}
		cc->cl_u[k++] = cc->cl_u[i];
	}
	cc->cl_nu        = k;
	cc->cl_refreshed = sf_clock_mono_ms();
}

static void
clusters_free(Svcfleet__V1__Cluster **cl, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		svcfleet__v1__cluster__free_unpacked(cl[i], NULL);
	}
	free(cl);
}

// The state one pass reads: members, claims and cluster records.
typedef struct view {
	sf_store_member        *v_m;
	size_t                  v_nm;
	sf_store_claim         *v_c;
	size_t                  v_nc;
	Svcfleet__V1__Cluster **v_cl;
	size_t                  v_ncl;
} view;

static void
view_fini(view *v)
{
	sf_store_members_free(v->v_m, v->v_nm);
	sf_store_claims_free(v->v_c, v->v_nc);
	clusters_free(v->v_cl, v->v_ncl);
	memset(v, 0, sizeof(*v));
}

static int
view_read(sf_server *srv, view *v, sf_status *st)
{
	int rv;
	memset(v, 0, sizeof(*v));
	if ((rv = sf_store_member_list(srv->s_store, &v->v_m, &v->v_nm, st))
	        != 0
	    || (rv = sf_store_claim_list(srv->s_store, &v->v_c, &v->v_nc, st))
	        != 0) {
		view_fini(v);
		return (rv);
	}
	if ((rv = sf_store_cluster_list(
	         srv->s_store, NULL, &v->v_cl, &v->v_ncl))
	    != 0) {
		view_fini(v);
		return (sf_status_set(st, rv, "listing clusters failed"));
	}
	return (0);
}

// refresh reads claims and clusters again when the table of unowned
// clusters is older than a second (nobody renewed meanwhile: all
// reconcilers may be gone).
static void
refresh(sf_server *srv)
{
	struct sf__srv_claims *cc = srv->s_claims;
	view                   v;
	sf_status              st;

	pthread_mutex_lock(&cc->cl_mtx);
	if (cc->cl_active && sf_clock_mono_ms() - cc->cl_refreshed > 1000) {
		sf_status_init(&st);
		if (view_read(srv, &v, &st) == 0) {
			note_unowned(cc, v.v_cl, v.v_ncl, v.v_c, v.v_nc);
			view_fini(&v);
		}
		sf_status_fini(&st);
	}
	pthread_mutex_unlock(&cc->cl_mtx);
}

// rebalance gives every unclaimed cluster to its owner and, when me is
// set, gives up me's clusters that belong to someone else or are no
// longer registered. Under cl_mtx. v is read again afterwards.
static int
rebalance(sf_server *srv, const char *me, view *v, sf_status *st)
{
	bool changed = false;
	int  rv;

	if ((rv = view_read(srv, v, st)) != 0) {
		return (rv);
	}
	for (size_t i = 0; i < v->v_ncl; i++) {
		const char            *name = v->v_cl[i]->name;
		const sf_store_member *best;
		sf_store_claim        *cur;
		sf_status              ost;
		uint64_t               tok;

		if (name == NULL) {
			continue;
		}
		best = best_of(name, v->v_m, v->v_nm);
		cur  = claim_of(v->v_c, v->v_nc, name);
		sf_status_init(&ost);
		if (cur != NULL && me != NULL && strcmp(cur->sc_owner, me) == 0
		    && best != NULL && strcmp(best->sm_id, me) != 0) {
			SF_INFO("claims",
			    "cluster=%s moves from %s to %s (it joined)", name,
			    me, best->sm_id);
			if (sf_store_claim_release(
			        srv->s_store, name, cur->sc_token, &ost)
			    == 0) {
				cur     = NULL;
				changed = true;
			}
			sf_status_reset(&ost);
		}
		if (cur == NULL && best != NULL) {
			rv = sf_store_claim_acquire(srv->s_store, name,
			    best->sm_id, best->sm_lease, &tok, &ost);
			if (rv == 0) {
				SF_INFO("claims",
				    "cluster=%s claimed for %s, token "
				    "%" PRIu64,
				    name, best->sm_id, tok);
				changed = true;
			} else if (rv != SF_ALREADY_EXISTS
			    && rv != SF_NOT_FOUND) {
				SF_WARN("claims", "cluster=%s: %s", name,
				    ost.st_msg);
			}
		}
		sf_status_fini(&ost);
	}
	// Claims of clusters that are no longer registered end.
	for (size_t i = 0; i < v->v_nc; i++) {
		bool known = false;
		for (size_t j = 0; j < v->v_ncl && !known; j++) {
			known = v->v_cl[j]->name != NULL
			    && strcmp(v->v_cl[j]->name, v->v_c[i].sc_cluster)
			        == 0;
		}
		if (!known) {
			sf_status ost;
			sf_status_init(&ost);
			sf_store_claim_release(srv->s_store,
			    v->v_c[i].sc_cluster, v->v_c[i].sc_token, &ost);
			sf_status_fini(&ost);
			changed = true;
		}
	}
	if (changed) {
		view_fini(v);
		if ((rv = view_read(srv, v, st)) != 0) {
			return (rv);
		}
	}
	note_unowned(srv->s_claims, v->v_cl, v->v_ncl, v->v_c, v->v_nc);
	return (0);
}

static Svcfleet__V1__ClusterClaim *
claim_msg(sf__srv_call *c, const sf_store_claim *sc)
{
	Svcfleet__V1__ClusterClaim *m
	    = sf_arena_alloc(&c->c_arena, sizeof(*m));
	if (m == NULL) {
		return (NULL);
	}
	svcfleet__v1__cluster_claim__init(m);
	m->cluster = sf_arena_strdup(&c->c_arena, sc->sc_cluster);
	m->owner   = sf_arena_strdup(&c->c_arena, sc->sc_owner);
	m->token   = sc->sc_token;
	return (m->cluster != NULL && m->owner != NULL ? m : NULL);
}

// answer fills and sends the ReconcilerLease of member id.
static void
answer(sf__srv_call *c, const char *id, uint64_t lease, int64_t ttl,
    const view *v)
{
	Svcfleet__V1__ReconcilerLease *r = sf__srv_reply_new(
	    c, &svcfleet__v1__reconciler_lease__descriptor);
	if (r == NULL) {
		return;
	}
	r->id       = sf_arena_strdup(&c->c_arena, id);
	r->lease    = lease;
	r->ttl_ms   = ttl;
	r->renew_ms = ttl / 3;
	r->members  = (uint32_t) v->v_nm;
	r->claims
	    = sf_arena_alloc(&c->c_arena, (v->v_nc + 1) * sizeof(void *));
	r->all_claims
	    = sf_arena_alloc(&c->c_arena, (v->v_nc + 1) * sizeof(void *));
	if (r->id == NULL || r->claims == NULL || r->all_claims == NULL) {
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	for (size_t i = 0; i < v->v_nc; i++) {
		Svcfleet__V1__ClusterClaim *m = claim_msg(c, &v->v_c[i]);
		if (m == NULL) {
			sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
			return;
		}
		r->all_claims[r->n_all_claims++] = m;
		if (strcmp(v->v_c[i].sc_owner, id) == 0
		    && v->v_c[i].sc_lease == lease) {
			r->claims[r->n_claims++] = m;
		}
	}
	sf__srv_call_finish(c, &r->base);
}

static bool
id_ok(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0;
	if (n == 0 || n > 200) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char) id[i];
		if (ch <= ' ' || ch >= 0x7f) {
			return (false);
		}
	}
	return (true);
}

void
sf__srv_claims_register(
    sf__srv_call *c, const Svcfleet__V1__RegisterReconcilerRequest *in)
{
	sf_server               *srv = c->c_srv;
	struct sf__srv_claims   *cc  = srv->s_claims;
	Svcfleet__V1__Reconciler rec = SVCFLEET__V1__RECONCILER__INIT;
	sf_store_member         *m   = NULL;
	size_t                   nm  = 0;
	uint64_t                 lease;
	uint8_t                 *packed;
	view                     v;
	int                      rv;

	if (in->reconciler != NULL) {
		rec = *in->reconciler;
	}
	if (rec.id == NULL || rec.id[0] == '\0') {
		char host[64] = "";
		gethostname(host, sizeof(host) - 1);
		rec.id = sf_arena_strdup(&c->c_arena, "");
		char buf[128];
		snprintf(buf, sizeof(buf), "%s-%d-%llx", host[0] ? host : "r",
		    (int) rec.pid, (unsigned long long) sf_clock_mono_us());
		rec.id = sf_arena_strdup(&c->c_arena, buf);
	}
	if (!id_ok(rec.id)) {
		sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
		    "reconciler.id: 1 to 200 printable characters without "
		    "spaces");
		return;
	}
	if (rec.ttl_ms == 0) {
		rec.ttl_ms = TTL_DEFAULT_MS;
	}
	if (rec.ttl_ms < 1000 || rec.ttl_ms > 3600 * 1000) {
		sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
		    "reconciler.ttl_ms: must be from 1000 (1 s) to 3600000 "
		    "(1 h), not %" PRId64,
		    rec.ttl_ms);
		return;
	}
	if (rec.host != NULL && strlen(rec.host) > 255) {
		sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
		    "reconciler.host: at most 255 bytes");
		return;
	}
	if (rec.version != NULL && strlen(rec.version) > 100) {
		sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
		    "reconciler.version: at most 100 bytes");
		return;
	}
	if (rec.started_ms == 0) {
		rec.started_ms = sf_clock_now_ms();
	}
	rec.n_clusters    = 0;
	rec.last_renew_ms = 0;
	if ((rv = sf_store_member_list(srv->s_store, &m, &nm, &c->c_status))
	    != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	for (size_t i = 0; i < nm; i++) {
		if (strcmp(m[i].sm_id, rec.id) == 0) {
			sf_store_members_free(m, nm);
			sf__srv_call_fail(c, SF_ALREADY_EXISTS,
			    "reconciler \"%s\" is registered and its lease is "
			    "alive: two reconcilers must not share an id",
			    rec.id);
			return;
		}
	}
	sf_store_members_free(m, nm);
	size_t len = svcfleet__v1__reconciler__get_packed_size(&rec);
	if ((packed = sf__srv_call_alloc(c, len + 1)) == NULL) {
		return;
	}
	svcfleet__v1__reconciler__pack(&rec, packed);
	if ((rv = sf_store_lease_grant(
	         srv->s_store, rec.ttl_ms, &lease, &c->c_status))
	        != 0
	    || (rv = sf_store_member_put(
	            srv->s_store, rec.id, lease, packed, len, &c->c_status))
	        != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	pthread_mutex_lock(&cc->cl_mtx);
	cc->cl_active = true;
	if (rec.ttl_ms > cc->cl_ttl_ms) {
		cc->cl_ttl_ms = rec.ttl_ms;
	}
	rv = rebalance(srv, rec.id, &v, &c->c_status);
	pthread_mutex_unlock(&cc->cl_mtx);
	if (rv != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	SF_INFO("claims",
	    "reconciler %s registered (host %s, ttl %" PRId64 " ms, %zu "
	    "live)",
	    rec.id, sf_nz(rec.host), rec.ttl_ms, v.v_nm);
	answer(c, rec.id, lease, rec.ttl_ms, &v);
	view_fini(&v);
}

// ttl_of reads member id's TTL from its record (0 when absent).
static int64_t
ttl_of(const view *v, const char *id)
{
	for (size_t i = 0; i < v->v_nm; i++) {
		if (strcmp(v->v_m[i].sm_id, id) == 0) {
			Svcfleet__V1__Reconciler *r
			    = svcfleet__v1__reconciler__unpack(
			        NULL, v->v_m[i].sm_len, v->v_m[i].sm_val);
			int64_t t = r != NULL ? r->ttl_ms : 0;
			svcfleet__v1__reconciler__free_unpacked(r, NULL);
			return (t);
		}
	}
	return (0);
}

void
sf__srv_claims_renew(
    sf__srv_call *c, const Svcfleet__V1__RenewReconcilerRequest *in)
{
	sf_server             *srv = c->c_srv;
	struct sf__srv_claims *cc  = srv->s_claims;
	view                   v;
	int                    rv;

	if (!id_ok(in->id) || in->lease == 0) {
		sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
		    "id and lease: both required (from RegisterReconciler)");
		return;
	}
	if ((rv = sf_store_lease_renew(srv->s_store, in->lease, &c->c_status))
	    != 0) {
		if (rv == SF_NOT_FOUND) {
			sf_status_reset(&c->c_status);
			sf__srv_call_fail(c, SF_NOT_FOUND,
			    "the lease of reconciler \"%s\" has run out: its "
			    "claims are gone; register again",
			    in->id);
			return;
		}
		sf__srv_call_finish(c, NULL);
		return;
	}
	pthread_mutex_lock(&cc->cl_mtx);
	cc->cl_active = true;
	rv            = rebalance(srv, in->id, &v, &c->c_status);
	pthread_mutex_unlock(&cc->cl_mtx);
	if (rv != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	int64_t ttl = ttl_of(&v, in->id);
	answer(c, in->id, in->lease, ttl > 0 ? ttl : TTL_DEFAULT_MS, &v);
	view_fini(&v);
}

void
sf__srv_claims_unregister(
    sf__srv_call *c, const Svcfleet__V1__UnregisterReconcilerRequest *in)
{
	sf_server             *srv = c->c_srv;
	struct sf__srv_claims *cc  = srv->s_claims;
	view                   v;
	int                    rv;

	if (!id_ok(in->id) || in->lease == 0) {
		sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
		    "id and lease: both required (from RegisterReconciler)");
		return;
	}
	rv = sf_store_lease_revoke(srv->s_store, in->lease, &c->c_status);
	if (rv != 0 && rv != SF_NOT_FOUND) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	sf_status_reset(&c->c_status);
	SF_INFO("claims", "reconciler %s unregistered: its clusters move now",
	    in->id);
	// Its clusters go to their new owners at once.
	pthread_mutex_lock(&cc->cl_mtx);
	rv = rebalance(srv, NULL, &v, &c->c_status);
	pthread_mutex_unlock(&cc->cl_mtx);
	if (rv == 0) {
		view_fini(&v);
	}
	sf_status_reset(&c->c_status);
	Svcfleet__V1__Empty *e
	    = sf__srv_reply_new(c, &svcfleet__v1__empty__descriptor);
	if (e != NULL) {
		sf__srv_call_finish(c, &e->base);
	}
}

void
sf__srv_claims_list(sf__srv_call *c)
{
	sf_server                          *srv = c->c_srv;
	struct sf__srv_claims              *cc  = srv->s_claims;
	Svcfleet__V1__ListReconcilersReply *r;
	view                                v;
	int                                 rv;

	pthread_mutex_lock(&cc->cl_mtx);
	if ((rv = view_read(srv, &v, &c->c_status)) == 0) {
		note_unowned(cc, v.v_cl, v.v_ncl, v.v_c, v.v_nc);
	}
	pthread_mutex_unlock(&cc->cl_mtx);
	if (rv != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	r = sf__srv_reply_new(
	    c, &svcfleet__v1__list_reconcilers_reply__descriptor);
	if (r == NULL) {
		view_fini(&v);
		return;
	}
	r->reconcilers
	    = sf_arena_alloc(&c->c_arena, (v.v_nm + 1) * sizeof(void *));
	r->unowned
	    = sf_arena_alloc(&c->c_arena, (v.v_ncl + 1) * sizeof(void *));
	for (size_t i = 0; r->reconcilers != NULL && i < v.v_nm; i++) {
		Svcfleet__V1__Reconciler *m = svcfleet__v1__reconciler__unpack(
		    sf_arena_pbc(&c->c_arena), v.v_m[i].sm_len,
		    v.v_m[i].sm_val);
		if (m == NULL) {
			continue;
		}
		m->id = sf_arena_strdup(&c->c_arena, v.v_m[i].sm_id);
		m->last_renew_ms = v.v_m[i].sm_expires_ms > 0
		    ? v.v_m[i].sm_expires_ms - m->ttl_ms
		    : 0;
		m->clusters      = sf_arena_alloc(
		         &c->c_arena, (v.v_nc + 1) * sizeof(char *));
		for (size_t j = 0; m->clusters != NULL && j < v.v_nc; j++) {
			if (strcmp(v.v_c[j].sc_owner, v.v_m[i].sm_id) == 0
			    && sf__srv_call_allowed(c, "clusters", "list",
			        v.v_c[j].sc_cluster, "")) {
				m->clusters[m->n_clusters++] = sf_arena_strdup(
				    &c->c_arena, v.v_c[j].sc_cluster);
			}
		}
		r->reconcilers[r->n_reconcilers++] = m;
	}
	for (size_t i = 0; r->unowned != NULL && i < v.v_ncl; i++) {
		const char *n = v.v_cl[i]->name;
		if (n != NULL && claim_of(v.v_c, v.v_nc, n) == NULL
		    && sf__srv_call_allowed(c, "clusters", "list", n, "")) {
			r->unowned[r->n_unowned++]
			    = sf_arena_strdup(&c->c_arena, n);
		}
	}
	view_fini(&v);
	if (r->reconcilers == NULL || r->unowned == NULL) {
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	sf__srv_call_finish(c, &r->base);
}

// ------------------------------------------------------------- fencing

void
sf__srv_claims_view_fini(sf__srv_claims_view *cv)
{
	if (cv->cv_read) {
		sf_store_claims_free(cv->cv_c, cv->cv_n);
	}
	memset(cv, 0, sizeof(*cv));
}

int
sf__srv_claims_check(sf_server *srv, sf__srv_claims_view *cv,
    const char *cluster, uint64_t token, const char *rid, sf_status *st)
{
	const sf_store_claim *cur;
	int                   rv;

	if (!cv->cv_read) {
		if ((rv = sf_store_claim_list(
		         srv->s_store, &cv->cv_c, &cv->cv_n, st))
		    != 0) {
			return (rv);
		}
		cv->cv_read = true;
	}
	cur = claim_of(cv->cv_c, cv->cv_n, cluster);
	if (cur == NULL && token == 0) {
		return (0); // nobody claims it: a static --shard reconciler
	}
	if (cur != NULL && cur->sc_token == token) {
		return (0);
	}
	atomic_fetch_add(&srv->s_claims->cl_refused, 1);
	if (cur == NULL) {
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "stale claim: reconciler \"%s\" reports on cluster \"%s\" "
		    "with token %" PRIu64
		    ", but nobody holds that cluster now",
		    sf_nz(rid), cluster, token));
	}
	return (sf_status_set(st, SF_FAILED_PRECONDITION,
	    "stale claim: cluster \"%s\" is held by reconciler \"%s\" with "
	    "token %" PRIu64 "; a report from \"%s\" with token %" PRIu64
	    " is refused",
	    cluster, cur->sc_owner, cur->sc_token, sf_nz(rid), token));
}

// ---------------------------------------------------------- visibility

// unowned_since returns since when cluster has had no owner (0: owned, or
// claims are not in use). Under cl_mtx.
static int64_t
unowned_since(struct sf__srv_claims *cc, const char *cluster)
{
	for (size_t i = 0; i < cc->cl_nu; i++) {
		if (strcmp(cc->cl_u[i].u_cluster, cluster) == 0) {
			return (cc->cl_u[i].u_since);
		}
	}
	return (0);
}

void
sf__srv_claims_decorate_clusters(
    sf__srv_call *c, Svcfleet__V1__Cluster **cl, size_t n)
{
	sf_server             *srv    = c->c_srv;
	struct sf__srv_claims *cc     = srv->s_claims;
	sf_store_claim        *claims = NULL;
	size_t                 nc     = 0;
	sf_status              st;

	sf_status_init(&st);
	if (sf_store_claim_list(srv->s_store, &claims, &nc, &st) != 0) {
		sf_status_fini(&st);
		return;
	}
	sf_status_fini(&st);
	pthread_mutex_lock(&cc->cl_mtx);
	if (cc->cl_active) {
		note_unowned(cc, cl, n, claims, nc);
	}
	for (size_t i = 0; i < n; i++) {
		const sf_store_claim *sc = cl[i]->name != NULL
		    ? claim_of(claims, nc, cl[i]->name)
		    : NULL;
		if (sc != NULL) {
			cl[i]->owner
			    = sf_arena_strdup(&c->c_arena, sc->sc_owner);
			cl[i]->claim_token = sc->sc_token;
		} else if (cc->cl_active && cl[i]->name != NULL) {
			cl[i]->unowned_since_ms
			    = unowned_since(cc, cl[i]->name);
		}
		if (cl[i]->health != NULL
		    && cl[i]->health->state
		        == SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_READY) {
			cl[i]->last_sync_ms = cl[i]->health->last_contact_ms;
		}
	}
	pthread_mutex_unlock(&cc->cl_mtx);
	sf_store_claims_free(claims, nc);
}

// stale_cluster: has cluster had no owner for more than 2 x TTL?
static bool
stale_cluster(struct sf__srv_claims *cc, const char *cluster, int64_t now,
    int64_t *since)
{
	*since = unowned_since(cc, cluster);
	return (*since > 0 && now - *since > 2 * cc->cl_ttl_ms);
}

void
sf__srv_claims_decorate_services(
    sf__srv_call *c, Svcfleet__V1__Service **svc, size_t n)
{
	struct sf__srv_claims *cc  = c->c_srv->s_claims;
	int64_t                now = sf_clock_now_ms();

	refresh(c->c_srv);
	pthread_mutex_lock(&cc->cl_mtx);
	if (!cc->cl_active || cc->cl_nu == 0) {
		pthread_mutex_unlock(&cc->cl_mtx);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; svc[i] != NULL && j < svc[i]->n_status;
		     j++) {
			Svcfleet__V1__ClusterStatus *cs = svc[i]->status[j];
			int64_t                      since;
			if (cs->cluster == NULL
			    || !stale_cluster(cc, cs->cluster, now, &since)) {
				continue;
			}
			cs->state
			    = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_UNKNOWN;
			char msg[200];
			snprintf(msg, sizeof(msg),
			    "no reconciler has held cluster %s for %" PRId64
			    " s; last confirmed state may be stale",
			    cs->cluster, (now - since) / 1000);
			cs->message = sf_arena_strdup(&c->c_arena, msg);
		}
	}
	pthread_mutex_unlock(&cc->cl_mtx);
}

void
sf__srv_claims_warning(sf_server *srv, sf_buf *why)
{
	struct sf__srv_claims *cc     = srv->s_claims;
	int64_t                now    = sf_clock_now_ms(), since;
	size_t                 nstale = 0;

	if (cc == NULL) {
		return;
	}
	refresh(srv);
	pthread_mutex_lock(&cc->cl_mtx);
	for (size_t i = 0; cc->cl_active && i < cc->cl_nu; i++) {
		if (stale_cluster(cc, cc->cl_u[i].u_cluster, now, &since)) {
			if (nstale++ < 5) {
				sf_buf_printf(why,
				    "%scluster %s has no reconciler "
				    "for %" PRId64 " s",
				    nstale > 1 ? "; " : "",
				    cc->cl_u[i].u_cluster,
				    (now - since) / 1000);
			}
		}
	}
	pthread_mutex_unlock(&cc->cl_mtx);
}

// ------------------------------------------------------------- metrics

static void
claims_collect(void *arg, sf_metrics *r)
{
	sf_server             *srv = arg;
	struct sf__srv_claims *cc  = srv->s_claims;
	int64_t                now = sf_clock_now_ms();
	view                   v;
	sf_status              st;
	(void) r;

	uint64_t refused = atomic_load(&cc->cl_refused);
	sf_metric_add(
	    cc->cl_m_refused, NULL, (double) (refused - cc->cl_refused_seen));
	cc->cl_refused_seen = refused;
	sf_status_init(&st);
	pthread_mutex_lock(&cc->cl_mtx);
	if (view_read(srv, &v, &st) != 0) {
		pthread_mutex_unlock(&cc->cl_mtx);
		sf_status_fini(&st);
		return;
	}
	if (cc->cl_active) {
		note_unowned(cc, v.v_cl, v.v_ncl, v.v_c, v.v_nc);
	}
	sf_metric_clear(cc->cl_m_owner);
	sf_metric_clear(cc->cl_m_age);
	sf_metric_clear(cc->cl_m_unowned);
	for (size_t i = 0; i < v.v_ncl; i++) {
		const Svcfleet__V1__Cluster *cl = v.v_cl[i];
		const sf_store_claim        *sc;
		const char                  *name = cl->name;
		if (name == NULL) {
			continue;
		}
		if ((sc = claim_of(v.v_c, v.v_nc, name)) != NULL) {
			sf_metric_set(cc->cl_m_owner,
			    (const char *[]) {name, sc->sc_owner}, 1);
		}
		if (cl->health != NULL && cl->health->last_contact_ms > 0) {
			sf_metric_set(cc->cl_m_age, (const char *[]) {name},
			    (double) (now - cl->health->last_contact_ms)
			        / 1000.0);
		}
		int64_t since = cc->cl_active ? unowned_since(cc, name) : 0;
		sf_metric_set(cc->cl_m_unowned, (const char *[]) {name},
		    since > 0 ? (double) (now - since) / 1000.0 : 0);
	}
	pthread_mutex_unlock(&cc->cl_mtx);
	view_fini(&v);
	sf_status_fini(&st);
}
