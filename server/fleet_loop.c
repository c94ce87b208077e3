// fleet_loop.c: FleetService placement (issue 18) when clusters change,
// and the address plan report.
//
// One thread. Every 200 ms it reads the cluster records and compares what
// placement depends on (names, labels, node-port ranges, reported node
// ports and MetalLB pools) with the last round; on a change it re-places
// every stored FleetService through h_fleet.c's lenient write. Cluster
// registration, removal and relabelling are thus seen within a fraction
// of a second; the handlers that change clusters kick it at once.
//
// Every 5 s it also re-places the FleetServices that may have something
// to do without a cluster changing: one with a cluster not placed
// (skipped or in conflict: the copy still being deleted may be gone, the
// Service holding its name or node port may have left), and one changed
// since the loop last found it settled (an apply raced a cluster change).
// The others (i18-addr) take no write: the loop remembers, for the
// clusters as they are, each FleetService's resource version when a
// re-placing of it found nothing to change, and skips it while that
// holds and all its clusters are placed. Before, every FleetService took
// one write every 5 s, each an exclusive one on etcd.
//
// i17-turns: a FleetService's copies are rendered and validated again
// only when what they depend on changed. The loop keeps, with each
// settled FleetService, a fingerprint of its inputs (deps_of): its
// resource version, and the name and fingerprint (cluster_print) of each
// cluster its placement names or selects now. A round after a cluster
// changed re-renders only the FleetServices whose fingerprint moved: a
// relabel, the ones the cluster enters or leaves or that are placed on
// it; a 5 s round with nothing changed renders none (it used to render
// every FleetService's copies after any cluster's change, and an idle
// daemon's CPU grew with FleetServices x clusters).
// svcfleet_fleet_renders_total counts the FleetServices rendered.
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "log.h"
#include "str.h"

#define LOOP_TICK_MS 200

_Atomic int64_t sf__srv_fleet_loop_full_ms = 5000;

// A FleetService a re-placing found settled: its id, resource version
// and (i17-turns) the fingerprint of its inputs then (deps_of).
typedef struct loop_seen {
	char    *ls_id;
	uint64_t ls_rv;
	uint64_t ls_deps;
} loop_seen;

struct sf__srv_fleet_loop {
	sf_server      *l_srv;
	pthread_t       l_thread;
	pthread_mutex_t l_mtx;
	pthread_cond_t  l_cv;
	bool            l_stop;
	bool            l_kick;
	uint64_t        l_print; // fingerprint of the last round
	int64_t         l_last_full_ms;
	// i18-addr: settled FleetServices, by id, for the clusters of
	// l_print; and rounds done (tests wait for them).
	loop_seen       *l_seen;
	size_t           l_nseen;
	_Atomic uint64_t l_rounds;
};

// FNV-1a over what placement reads from the cluster records.
static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h = (h ^ b[i]) * 1099511628211ull;
	}
	return (h);
}

// What placement and a copy read of cluster record c: name, labels,
// nodePort range, reported node ports and MetalLB pools.
static uint64_t
cluster_print(const Svcfleet__V1__Cluster *c)
{
	uint64_t h = 14695981039346656037ull;
	h          = fnv(h, sf_nz(c->name), strlen(sf_nz(c->name)) + 1);
	for (size_t k = 0; k < c->n_labels; k++) {
		h = fnv(h, sf_nz(c->labels[k]->key),
		    strlen(sf_nz(c->labels[k]->key)) + 1);
		h = fnv(h, sf_nz(c->labels[k]->value),
		    strlen(sf_nz(c->labels[k]->value)) + 1);
	}
	h = fnv(h, &c->node_port_min, sizeof(c->node_port_min));
	h = fnv(h, &c->node_port_max, sizeof(c->node_port_max));
	if (c->health != NULL) {
		h = fnv(h, c->health->used_node_ports,
		    c->health->n_used_node_ports * sizeof(int32_t));
		// The pools a copy's address is validated against.
		h = fnv(h, &c->health->pools_known,
		    sizeof(c->health->pools_known));
		for (size_t p = 0; p < c->health->n_pools; p++) {
			const Svcfleet__V1__IPPool *pl = c->health->pools[p];
			h                              = fnv(
			                                 h, sf_nz(pl->name), strlen(sf_nz(pl->name)) + 1);
			for (size_t k = 0; k < pl->n_addresses; k++) {
				h = fnv(h, sf_nz(pl->addresses[k]),
				    strlen(sf_nz(pl->addresses[k])) + 1);
			}
		}
	}
	return (h);
}

// The clusters' fingerprints into prints (one per cluster), and the
// fingerprint of them all.
static uint64_t
fingerprint(Svcfleet__V1__Cluster **cls, size_t n, uint64_t *prints)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < n; i++) {
		prints[i] = cluster_print(cls[i]);
		h         = fnv(h, &prints[i], sizeof(prints[i]));
	}
	return (h);
}

// The fingerprint of fs's inputs (i17-turns): its resource version, and
// the name and fingerprint of each cluster its placement names or selects
// (a relabel that adds or drops one changes it).
static uint64_t
deps_of(const sf_fleet *fs, Svcfleet__V1__Cluster **cls, size_t n,
    const uint64_t *prints)
{
	uint64_t h  = 14695981039346656037ull;
	uint64_t rv = fs->metadata->resource_version;
	h           = fnv(h, &rv, sizeof(rv));
	for (size_t i = 0; i < n; i++) {
		if (sf_model_fleet_places(fs, cls[i])) {
			h = fnv(h, sf_nz(cls[i]->name),
			    strlen(sf_nz(cls[i]->name)) + 1);
			h = fnv(h, &prints[i], sizeof(prints[i]));
		}
	}
	return (h);
}

static void
seen_free(loop_seen *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].ls_id);
	}
	free(v);
}

static int
seen_cmp(const void *x, const void *y)
{
	return (strcmp(
	    ((const loop_seen *) x)->ls_id, ((const loop_seen *) y)->ls_id));
}

// Was fs found settled, as it is now, for its clusters as they are
// (deps, deps_of)?
static bool
seen_settled(const struct sf__srv_fleet_loop *l, const char *id,
    const sf_fleet *fs, uint64_t deps)
{
	loop_seen  key = {.ls_id = (char *) id};
	loop_seen *hit = l->l_nseen == 0 ? NULL
	                                 : bsearch(&key, l->l_seen, l->l_nseen,
	                                     sizeof(*l->l_seen), seen_cmp);
	if (hit == NULL || hit->ls_rv != fs->metadata->resource_version
	    || hit->ls_deps != deps) {
		return (false);
	}
	for (size_t i = 0; i < fs->n_status; i++) {
		if (strcmp(sf_nz(fs->status[i]->placement), "Placed") != 0) {
			return (false);
		}
	}
	return (true);
}

static void
round_once(struct sf__srv_fleet_loop *l)
{
	sf_store               *s = l->l_srv->s_store;
	sf_arena                a;
	Svcfleet__V1__Cluster **cls;
	size_t                  ncls, nfs;
	ProtobufCMessage      **all;
	uint64_t                print;
	int64_t                 now   = sf_clock_mono_ms();
	loop_seen              *seen  = NULL;
	size_t                  nseen = 0;
	uint64_t               *prints;
	bool                    same;

	sf_arena_init(&a);
	// Placement reads no credentials: nothing is unsealed five times a
	// second (i21-cpu2; on etcd, min_rev 0 reads as cluster_list does).
	if (sf_store_cluster_specs_min(s, 0, sf_arena_pbc(&a), &cls, &ncls)
	    != 0) {
		goto done;
	}
	if ((prints = sf_arena_alloc(&a, (ncls + 1) * sizeof(*prints)))
	    == NULL) {
		goto done;
	}
	print = fingerprint(cls, ncls, prints);
	same  = print == l->l_print;
	if (same && now - l->l_last_full_ms < sf__srv_fleet_loop_full_ms) {
		goto done;
	}
	if (sf_store_record_list(s, SF_STORE_FLEET,
	        &svcfleet__v1__fleet_service__descriptor, sf_arena_pbc(&a),
	        &all, &nfs)
	    != 0) {
		goto done;
	}
	if ((seen = calloc(nfs + 1, sizeof(*seen))) == NULL) {
		goto done;
	}
	bool ok = true;
	for (size_t i = 0; i < nfs; i++) {
		sf_fleet *fs      = (sf_fleet *) all[i];
		bool      changed = false;
		uint64_t  deps    = deps_of(fs, cls, ncls, prints);
		char     *id      = sf_arena_printf(&a, "%s/%s",
		             sf_nz(fs->metadata->namespace_),
		             sf_nz(fs->metadata->name));
		if (id == NULL) {
			ok = false;
			continue;
		}
		if (!seen_settled(l, id, fs, deps)) {
			// Something it depends on changed: its copies are
			// rendered again (and written when they differ).
			atomic_fetch_add(&l->l_srv->s_fleet_renders, 1);
			if (sf__srv_fleet_resync(
			        l->l_srv, &a, fs, cls, ncls, &changed)
			    != 0) {
				ok = false;
				continue;
			}
			if (changed) {
				SF_INFO(
				    "fleet", "re-placed FleetService %s", id);
				continue; // settled, maybe, next round
			}
		}
		if ((seen[nseen].ls_id = strdup(id)) != NULL) {
			seen[nseen].ls_rv     = fs->metadata->resource_version;
			seen[nseen++].ls_deps = deps;
		}
	}
	qsort(seen, nseen, sizeof(*seen), seen_cmp);
	seen_free(l->l_seen, l->l_nseen);
	l->l_seen  = seen;
	l->l_nseen = nseen;
	seen       = NULL;
	// A round that failed somewhere is done again on the next tick.
	l->l_print        = ok ? print : 0;
	l->l_last_full_ms = now;
	atomic_fetch_add(&l->l_rounds, 1);
done:
	free(seen);
	sf_arena_fini(&a);
}

static void *
loop_main(void *arg)
{
	struct sf__srv_fleet_loop *l = arg;

	pthread_mutex_lock(&l->l_mtx);
	while (!l->l_stop) {
		pthread_mutex_unlock(&l->l_mtx);
		round_once(l);
		pthread_mutex_lock(&l->l_mtx);
		if (l->l_stop) {
			break;
		}
		if (!l->l_kick) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += LOOP_TICK_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&l->l_cv, &l->l_mtx, &ts);
		}
		l->l_kick = false;
	}
	pthread_mutex_unlock(&l->l_mtx);
	return (NULL);
}

int
sf__srv_fleet_loop_start(sf_server *srv)
{
	struct sf__srv_fleet_loop *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	l->l_srv = srv;
	pthread_mutex_init(&l->l_mtx, NULL);
	pthread_cond_init(&l->l_cv, NULL);
	if (pthread_create(&l->l_thread, NULL, loop_main, l) != 0) {
		pthread_cond_destroy(&l->l_cv);
		pthread_mutex_destroy(&l->l_mtx);
		free(l);
		return (SF_RESOURCE_EXHAUSTED);
	}
	srv->s_fleet_loop = l;
	return (0);
}

void
sf__srv_fleet_loop_stop(sf_server *srv)
{
	struct sf__srv_fleet_loop *l = srv->s_fleet_loop;
	if (l == NULL) {
		return;
	}
	pthread_mutex_lock(&l->l_mtx);
	l->l_stop = true;
	pthread_cond_signal(&l->l_cv);
	pthread_mutex_unlock(&l->l_mtx);
	pthread_join(l->l_thread, NULL);
	pthread_cond_destroy(&l->l_cv);
	pthread_mutex_destroy(&l->l_mtx);
	seen_free(l->l_seen, l->l_nseen);
	free(l);
	srv->s_fleet_loop = NULL;
}

uint64_t
sf__srv_fleet_loop_rounds(sf_server *srv)
{
	struct sf__srv_fleet_loop *l = srv->s_fleet_loop;
	return (l != NULL ? atomic_load(&l->l_rounds) : 0);
}

uint64_t
sf__srv_fleet_loop_renders(sf_server *srv)
{
	return (atomic_load(&srv->s_fleet_renders));
}

void
sf__srv_fleet_loop_kick(sf_server *srv)
{
	struct sf__srv_fleet_loop *l = srv->s_fleet_loop;
	if (l == NULL) {
		return;
	}
	pthread_mutex_lock(&l->l_mtx);
	l->l_kick = true;
	pthread_cond_signal(&l->l_cv);
	pthread_mutex_unlock(&l->l_mtx);
}

// ------------------------------------------------------ address plan

static int
add_entry(sf_arena *a, Svcfleet__V1__AddressesReply *r, const char *addr,
    const char *cluster, const sf_service *svc, const char *kind)
{
	Svcfleet__V1__AddressEntry  *e = sf_arena_zalloc(a, sizeof(*e));
	Svcfleet__V1__AddressEntry **arr
	    = sf_arena_zalloc(a, (r->n_addresses + 1) * sizeof(*arr));
	if (e == NULL || arr == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	if (r->n_addresses > 0) {
		memcpy(arr, r->addresses, r->n_addresses * sizeof(*arr));
	}
	svcfleet__v1__address_entry__init(e);
	e->address            = (char *) addr;
	e->cluster            = (char *) cluster;
	e->namespace_         = svc->metadata->namespace_;
	e->name               = svc->metadata->name;
	e->kind               = (char *) kind;
	e->owner              = svc->metadata->owner;
	arr[r->n_addresses++] = e;
	r->addresses          = arr;
	return (0);
}

int
sf__srv_fleet_addresses(sf_store *s, sf_arena *a, Svcfleet__V1__Cluster **cls,
    size_t ncls, Svcfleet__V1__AddressesReply *r, sf_status *st)
{
	r->clusters = sf_arena_zalloc(a, (ncls + 1) * sizeof(*r->clusters));
	if (r->clusters == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	for (size_t i = 0; i < ncls; i++) {
		Svcfleet__V1__ClusterPools *cp
		    = sf_arena_zalloc(a, sizeof(*cp));
		if (cp == NULL) {
			return (
			    sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
		}
		svcfleet__v1__cluster_pools__init(cp);
		cp->cluster = cls[i]->name;
		if (cls[i]->health != NULL) {
			cp->pools   = cls[i]->health->pools;
			cp->n_pools = cls[i]->health->n_pools;
		}
		// Overlaps: the same address range text in two clusters' pools
		// (MetalLB pools are CIDRs or a-b ranges).
		cp->overlaps = sf_arena_zalloc(a, 64 * sizeof(char *));
		for (size_t p = 0; cp->overlaps != NULL && p < cp->n_pools;
		     p++) {
			for (size_t o = 0; o < ncls; o++) {
				if (o == i || cls[o]->health == NULL) {
					continue;
				}
				for (size_t q = 0; q < cls[o]->health->n_pools;
				     q++) {
					const Svcfleet__V1__IPPool *x
					    = cp->pools[p];
					const Svcfleet__V1__IPPool *y
					    = cls[o]->health->pools[q];
					for (size_t ax = 0;
					     ax < x->n_addresses; ax++) {
						for (size_t ay = 0;
						     ay < y->n_addresses;
						     ay++) {
							if (cp->n_overlaps < 63
							    && strcmp(
							           x->addresses
							               [ax],
							           y->addresses
							               [ay])
							        == 0) {
								cp->overlaps
								    [cp->n_overlaps++]
								    = sf_arena_printf(
								        a,
								        "%s "
								        "overl"
								        "aps "
								        "%s/"
								        "%s "
								        "(%s)",
								        x->name,
								        cls[o]
								            ->name,
								        y->name,
								        x->addresses
								            [ax]);
							}
						}
					}
				}
			}
		}
		r->clusters[r->n_clusters++] = cp;
	}
	// Every Service's requested and assigned addresses, page by page.
	char *token = "";
	for (;;) {
		sf_store_list_req req
		    = {.lr_limit = 1000, .lr_page_token = token};
		sf_store_list_res res;
		memset(&res, 0, sizeof(res));
		if (sf_store_service_list(s, &req, sf_arena_pbc(a), &res, st)
		    != 0) {
			return (st->st_code);
		}
		for (size_t i = 0; i < res.lr_n; i++) {
			sf_service *svc = res.lr_items[i];
			if (sf_nz(svc->spec->lb_address)[0] != '\0'
			    && add_entry(a, r, svc->spec->lb_address,
			           svc->metadata->cluster, svc, "requested")
			        != 0) {
				return (sf_status_set(
				    st, SF_RESOURCE_EXHAUSTED, NULL));
			}
			for (size_t c = 0; c < svc->n_status; c++) {
				for (size_t k = 0;
				     k < svc->status[c]->n_ingress; k++) {
					if (add_entry(a, r,
					        svc->status[c]->ingress[k],
					        svc->status[c]->cluster, svc,
					        "assigned")
					    != 0) {
						return (sf_status_set(st,
						    SF_RESOURCE_EXHAUSTED,
						    NULL));
					}
				}
			}
		}
		if (res.lr_next_token == NULL
		    || res.lr_next_token[0] == '\0') {
			break;
		}
		token = res.lr_next_token;
	}
	return (sf__srv_addrs_conflicts(s, a, r, st));
}
