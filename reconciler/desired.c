// desired.c: the watcher thread — svcfleetd's side of the reconciler.
//
// It reads the installation id (Version), keeps one worker per registered
// cluster of this shard (ListClusters, polled), lists every stored Service
// once (ListServices, paged) and then follows WatchServices from the
// revision of the first page, handing each Service to its cluster's
// worker as an sf__recon_msg (hashes, flags and the apply body). OUT_OF_RANGE
// (the change feed was trimmed past us) means: list again, under a new
// epoch, so the workers can tell what disappeared meanwhile.
#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#include "hash.h"
#include "internal.h"
#include "str.h"

#define FINALIZER    "svcfleet.io/cluster"
#define LIST_PAGE    500
#define WATCH_WAIT   1000 // ms; also bounds how long stopping takes
#define WATCH_EVENTS 2000

typedef struct watcher {
	sf_reconciler *w_r;
	uint32_t       w_epoch;
	bool           w_listed; // the list of w_epoch is complete
	// Claims (issue 16): a worker started for a cluster just claimed
	// needs every stored Service of it: list again (a new epoch).
	bool     w_relist;
	unsigned w_claims_gen;
	// Short watch waits left after asking for a new cluster's claim, so
	// the answer is seen at once.
	unsigned        w_short;
	int64_t         w_clusters_at;
	svcfleet_status w_st;
	// The replies of ListServices and WatchServices (issue 21: a
	// thousand Services unpacked and freed field by field cost the
	// watcher as much malloc time as the rest of its work).
	sf_arena w_arena;
} watcher;

sf__recon_msg *
sf__recon_msg_new(int kind, const char *key)
{
	size_t         n = key != NULL ? strlen(key) : 0;
	sf__recon_msg *m = calloc(1, sizeof(*m) + n + 1);
	if (m != NULL) {
		m->m_kind = kind;
		if (n > 0) {
			memcpy(m->m_key, key, n + 1);
		}
	}
	return (m);
}

void
sf__recon_msg_free(sf__recon_msg *m)
{
	if (m != NULL) {
		free(m->m_pb);
		sf_kube_cfg_free(m->m_cfg);
		free(m);
	}
}

// A ProtobufCBuffer that hashes what is packed into it.
typedef struct hash_buf {
	ProtobufCBuffer hb_base;
	uint64_t        hb_h;
} hash_buf;

static void
hash_append(ProtobufCBuffer *b, size_t n, const uint8_t *data)
{
	hash_buf *hb = (hash_buf *) b;
	hb->hb_h     = sf_hash_bytes(hb->hb_h, data, n);
}

sf__recon_msg *
sf__recon_desired_msg(
    sf_reconciler *r, const sf_service *svc, uint32_t epoch, bool present)
{
	const sf_object_meta *md = svc->metadata;
	char                  key[400];
	sf__recon_msg        *m;

	if (md == NULL || md->namespace_ == NULL || md->name == NULL) {
		return (NULL);
	}
	snprintf(key, sizeof(key), "%s/%s", md->namespace_, md->name);
	(void) r;
	if ((m = sf__recon_msg_new(M_DESIRED, key)) == NULL) {
		return (NULL);
	}
	m->m_epoch = epoch;
	if (!present) {
		return (m);
	}
	m->m_flags = D_PRESENT;
	m->m_gen   = md->generation;
	if (md->deleting) {
		m->m_flags |= D_DELETING;
	}
	for (size_t i = 0; i < md->n_finalizers; i++) {
		if (strcmp(md->finalizers[i], FINALIZER) == 0) {
			m->m_flags |= D_HAS_FIN;
		}
	}
	if (svc->spec != NULL && svc->spec->allow_adoption) {
		m->m_flags |= D_ADOPT;
	}
	if (svc->spec != NULL && svc->spec->type != NULL
	    && strcmp(svc->spec->type, "LoadBalancer") == 0) {
		m->m_flags |= D_LB;
	}
	// i19-edit: the Service's drift policy (validated by model).
	const char *dp = sf_model_kv_get(
	    md->annotations, md->n_annotations, SF_ANN_DRIFT_POLICY);
	if (dp != NULL && strcmp(dp, SF_DRIFT_POLICY_REPORT) == 0) {
		m->m_flags |= D_REPORT;
	}
	// Only what the apply body is made from, packed: the worker builds
	// the body, and only when this differs from what it has.
	sf_object_meta view_md = SVCFLEET__V1__OBJECT_META__INIT;
	sf_service     view    = SVCFLEET__V1__SERVICE__INIT;
	view_md.cluster        = md->cluster;
	view_md.namespace_     = md->namespace_;
	view_md.name           = md->name;
	view_md.generation     = md->generation;
	view_md.labels         = md->labels;
	view_md.n_labels       = md->n_labels;
	view_md.annotations    = md->annotations;
	view_md.n_annotations  = md->n_annotations;
	view.metadata          = &view_md;
	view.spec              = svc->spec;
	// The desired hash depends on these alone (sf_kube_body reads no
	// status): their hash is the input, so a status report's echo that
	// brings the facts it reported (below) is not digested again (issue
	// 21: each converged Service was).
	hash_buf hb
	    = {.hb_base = {.append = hash_append}, .hb_h = SF_HASH_INIT};
	protobuf_c_message_pack_to_buffer(&view.base, &hb.hb_base);
	m->m_input = hb.hb_h;
	// i19-ssd: and the node ports and cluster IP this cluster had
	// assigned, which a re-create after a delete in the cluster asks for
	// again.
	sf_cluster_status  view_cs = SVCFLEET__V1__CLUSTER_STATUS__INIT;
	sf_cluster_status *view_csp[1];
	for (size_t i = 0; i < svc->n_status; i++) {
		const sf_cluster_status *cs = svc->status[i];
		if (cs != NULL
		    && (cs->n_node_ports > 0
		        || sf_nz(cs->cluster_ip)[0] != '\0')
		    && strcmp(sf_nz(cs->cluster), sf_nz(md->cluster)) == 0) {
			view_cs.cluster      = cs->cluster;
			view_cs.cluster_ip   = cs->cluster_ip;
			view_cs.node_ports   = cs->node_ports;
			view_cs.n_node_ports = cs->n_node_ports;
			view_csp[0]          = &view_cs;
			view.status          = view_csp;
			view.n_status        = 1;
		}
	}
	m->m_pblen = svcfleet__v1__service__get_packed_size(&view);
	if ((m->m_pb = malloc(m->m_pblen > 0 ? m->m_pblen : 1)) == NULL) {
		sf__recon_msg_free(m);
		return (NULL);
	}
	svcfleet__v1__service__pack(&view, m->m_pb);
	m->m_stored = sf_kube_stored_status_hash(svc, sf_nz(md->cluster));
	// i19-ssd: a drift kept under drift policy Report stays kept when
	// another reconciler takes the cluster over.
	for (size_t i = 0; i < svc->n_status; i++) {
		const sf_cluster_status *cs = svc->status[i];
		if (cs != NULL
		    && cs->state
		        == SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DRIFTED
		    && strcmp(sf_nz(cs->cluster), sf_nz(md->cluster)) == 0) {
			m->m_drift_want = cs->drift_want;
		}
	}
	return (m);
}

// in_shard: is cluster this reconciler's? Held (claims.c), or in its
// static shard.
static bool
in_shard(sf_reconciler *r, const char *cluster)
{
	return (sf__recon_in_scope(r, cluster));
}

static sf__recon_cluster *
find_cluster(sf_reconciler *r, const char *name)
{
	sf__recon_cluster *c;
	pthread_mutex_lock(&r->r_mtx);
	for (c = r->r_clusters; c != NULL; c = c->c_next) {
		if (strcmp(c->c_name, name) == 0) {
			break;
		}
	}
	pthread_mutex_unlock(&r->r_mtx);
	return (c);
}

// Reads the cluster records and starts, reconfigures or stops workers.
static int
sync_clusters(watcher *wt)
{
	sf_reconciler                    *r = wt->w_r;
	Svcfleet__V1__ListClustersRequest req
	    = SVCFLEET__V1__LIST_CLUSTERS_REQUEST__INIT;
	Svcfleet__V1__ListClustersReply *rep = NULL;
	sf__recon_cluster               *c, **pp;
	int                              rv;

	wt->w_clusters_at = sf_clock_mono_ms() + r->r_opts.ro_cluster_poll_ms;
	if ((rv = svcfleet_list_clusters(r->r_client, &req, &rep, &wt->w_st))
	    != 0) {
		SF_DEBUG("recon", "ListClusters: %s: %s",
		    svcfleet_code_name(rv), wt->w_st.message);
		return (rv);
	}
	for (size_t i = 0; i < rep->n_clusters; i++) {
		const Svcfleet__V1__Cluster *cl = rep->clusters[i];
		sf_kube_cfg                 *cfg;
		sf_status                    st;
		uint64_t                     h;
		if (cl->name == NULL) {
			continue;
		}
		if (sf__recon_claiming(r)
		    && !sf__recon_claim_known(r, cl->name)) {
			// A cluster nobody holds yet: ask for it now rather
			// than at the next renewal.
			sf__recon_claims_poke(r);
		}
		if (!in_shard(r, cl->name)) {
			continue;
		}
		sf_status_init(&st);
		if (sf_kube_cfg_alloc(&cfg, cl, &st) != 0) {
			SF_WARN(
			    "recon", "cluster=%s: %s", cl->name, st.st_msg);
			sf_status_fini(&st);
			continue;
		}
		sf_status_fini(&st);
		h = sf_kube_cfg_hash(cfg);
		if ((c = find_cluster(r, cl->name)) != NULL) {
			if (c->c_cfg_hash == h) {
				sf_kube_cfg_free(cfg);
				continue;
			}
			sf__recon_msg *m = sf__recon_msg_new(M_CONFIG, NULL);
			if (m == NULL) {
				sf_kube_cfg_free(cfg);
				continue;
			}
			m->m_cfg      = cfg;
			c->c_cfg_hash = h;
			sf__recon_cluster_post(c, m);
			continue;
		}
		if ((c = sf__recon_cluster_start(r, cl->name, cfg, h))
		    == NULL) {
			SF_ERROR("recon", "cluster=%s: cannot start a worker",
			    cl->name);
			continue;
		}
		pthread_mutex_lock(&r->r_mtx);
		c->c_next     = r->r_clusters;
		r->r_clusters = c;
		pthread_mutex_unlock(&r->r_mtx);
		if (sf__recon_claiming(r)) {
			// Claimed while its Services may already be stored:
			// it gets them all from a new list, never an early
			// end of list (which would make it delete them).
			wt->w_relist = wt->w_relist || wt->w_listed;
			continue;
		}
		if (wt->w_listed) {
			sf__recon_msg *m
			    = sf__recon_msg_new(M_LIST_DONE, NULL);
			if (m != NULL) {
				m->m_epoch = wt->w_epoch;
				sf__recon_cluster_post(c, m);
			}
		}
	}
	// Workers of clusters no longer registered (or moved to another
	// shard) stop.
	pthread_mutex_lock(&r->r_mtx);
	pp = &r->r_clusters;
	while ((c = *pp) != NULL) {
		bool keep = false;
		for (size_t i = 0; i < rep->n_clusters && !keep; i++) {
			keep = rep->clusters[i]->name != NULL
			    && strcmp(rep->clusters[i]->name, c->c_name) == 0
			    && in_shard(r, c->c_name);
		}
		if (keep) {
			pp = &c->c_next;
			continue;
		}
		*pp = c->c_next;
		pthread_mutex_unlock(&r->r_mtx);
		SF_INFO("recon", "cluster=%s is no longer registered here",
		    c->c_name);
		sf__recon_cluster_stop(c);
		pthread_mutex_lock(&r->r_mtx);
		pp = &r->r_clusters;
	}
	pthread_mutex_unlock(&r->r_mtx);
	svcfleet_free(rep);
	return (0);
}

// Hands one Service to its worker; a cluster we do not know yet makes us
// read the cluster records at once.
static void
dispatch(watcher *wt, const sf_service *svc, bool present)
{
	sf_reconciler     *r = wt->w_r;
	const char        *cl;
	sf__recon_cluster *c;
	sf__recon_msg     *m;

	if (svc == NULL || svc->metadata == NULL
	    || (cl = svc->metadata->cluster) == NULL) {
		return;
	}
	if (!in_shard(r, cl)) {
		if (sf__recon_claiming(r) && !sf__recon_claim_known(r, cl)) {
			// A cluster nobody holds yet (just registered): ask
			// for it now.
			sf__recon_claims_poke(r);
			wt->w_short = 20;
		}
		return;
	}
	if ((c = find_cluster(r, cl)) == NULL) {
		if (sf__recon_claiming(r)) {
			// Just claimed: the watcher starts its worker and
			// lists again.
			atomic_fetch_add(&r->r_claims_gen, 1);
			return;
		}
		sync_clusters(wt);
		if ((c = find_cluster(r, cl)) == NULL) {
			SF_DEBUG("recon",
			    "cluster=%s unknown: service %s/%s "
			    "skipped",
			    cl, svc->metadata->namespace_,
			    svc->metadata->name);
			return;
		}
	}
	if ((m = sf__recon_desired_msg(r, svc, wt->w_epoch, present))
	    != NULL) {
		sf__recon_cluster_post(c, m);
	}
}

static void
post_all(sf_reconciler *r, int kind, uint32_t epoch)
{
	pthread_mutex_lock(&r->r_mtx);
	for (sf__recon_cluster *c = r->r_clusters; c != NULL; c = c->c_next) {
		sf__recon_msg *m = sf__recon_msg_new(kind, NULL);
		if (m != NULL) {
			m->m_epoch = epoch;
			sf__recon_cluster_post(c, m);
		}
	}
	pthread_mutex_unlock(&r->r_mtx);
}

// Lists every stored Service under a new epoch. Returns 0 and the
// revision to watch from, or the failing call's code.
static int
list_all(watcher *wt, uint64_t *since)
{
	sf_reconciler *r     = wt->w_r;
	char          *token = NULL;
	bool           first = true;
	size_t         total = 0;
	int            rv;

	wt->w_epoch++;
	wt->w_listed = false;
	do {
		Svcfleet__V1__ListServicesRequest req
		    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
		Svcfleet__V1__ListServicesReply *rep = NULL;
		svcfleet_call_opts               o   = {0};
		req.page_size                        = LIST_PAGE;
		req.page_token = token != NULL ? token : "";
		o.allocator    = sf_arena_pbc(&wt->w_arena);
		rv             = svcfleet_list_services_with(
		                r->r_client, &req, &rep, &o, &wt->w_st);
		free(token);
		token = NULL;
		if (rv != 0) {
			sf_arena_reset(&wt->w_arena);
			return (rv);
		}
		if (first) {
			*since = rep->revision;
			first  = false;
		}
		for (size_t i = 0; i < rep->n_services; i++) {
			dispatch(wt, rep->services[i], true);
		}
		total += rep->n_services;
		if (rep->next_page_token != NULL
		    && rep->next_page_token[0] != '\0') {
			token = strdup(rep->next_page_token);
		}
		sf_arena_reset(&wt->w_arena);
	} while (token != NULL && !atomic_load(&r->r_stop));
	wt->w_listed = true;
	post_all(r, M_LIST_DONE, wt->w_epoch);
#ifdef __GLIBC__
	malloc_trim(0); // the pages are gone; so may their memory be
#endif
	SF_INFO("recon", "listed %zu stored services (revision %llu)", total,
	    (unsigned long long) *since);
	return (0);
}

static int
read_owner(watcher *wt)
{
	sf_reconciler              *r = wt->w_r;
	Svcfleet__V1__Empty         e = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *v = NULL;
	int                         rv;

	if ((rv = svcfleet_version(r->r_client, &e, &v, &wt->w_st)) != 0) {
		return (rv);
	}
	if (v->installation_id == NULL || v->installation_id[0] == '\0') {
		SF_ERROR("recon",
		    "svcfleetd %s does not say its installation id; the "
		    "reconciler needs a newer server",
		    v->version);
		svcfleet_free(v);
		return (SF_UNIMPLEMENTED);
	}
	snprintf(r->r_owner, sizeof(r->r_owner), "%s", v->installation_id);
	SF_INFO("recon",
	    "reconciling for svcfleet installation %s (server %s)", r->r_owner,
	    v->version);
	svcfleet_free(v);
	return (0);
}

static void
nap(sf_reconciler *r, unsigned *fails)
{
	unsigned ms = 100u << (*fails < 5 ? *fails : 5);
	if (*fails < 100) {
		(*fails)++;
	}
	for (unsigned t = 0; t < ms && !atomic_load(&r->r_stop); t += 50) {
		usleep(50 * 1000);
	}
}

void *
sf__recon_watcher_main(void *arg)
{
	watcher        wt        = {.w_r = arg};
	sf_reconciler *r         = wt.w_r;
	uint64_t       since     = 0;
	bool           need_list = true;
	unsigned       fails     = 0;
	int            rv;

	pthread_setname_np(pthread_self(), "rc:watch");
	svcfleet_status_init(&wt.w_st);
	while (!atomic_load(&r->r_stop)) {
		if (r->r_owner[0] == '\0') {
			if (read_owner(&wt) != 0) {
				if (fails == 0) {
					SF_INFO("recon",
					    "waiting for svcfleetd: %s",
					    wt.w_st.message);
				}
				nap(r, &fails);
				continue;
			}
		}
		unsigned gen = atomic_load(&r->r_claims_gen);
		if (sf_clock_mono_ms() >= wt.w_clusters_at
		    || gen != wt.w_claims_gen) {
			wt.w_claims_gen = gen;
			sync_clusters(&wt);
			if (wt.w_relist) {
				wt.w_relist = false;
				need_list   = true;
			}
		}
		if (need_list) {
			if ((rv = list_all(&wt, &since)) != 0) {
				SF_WARN("recon", "listing services: %s: %s",
				    svcfleet_code_name(rv), wt.w_st.message);
				atomic_store(&r->r_connected, false);
				nap(r, &fails);
				continue;
			}
			need_list = false;
			atomic_store(&r->r_connected, true);
		}
		Svcfleet__V1__WatchServicesRequest req
		    = SVCFLEET__V1__WATCH_SERVICES_REQUEST__INIT;
		Svcfleet__V1__WatchServicesReply *rep = NULL;
		svcfleet_call_opts                o   = {0};
		req.since_revision                    = since;
		req.wait_ms = wt.w_short > 0 ? 100 : WATCH_WAIT;
		if (wt.w_short > 0) {
			wt.w_short--;
		}
		req.max_events = WATCH_EVENTS;
		// svcfleet_watch_services_wait's deadline, the reply in the
		// arena.
		o.timeout_ms = req.wait_ms + 5000 > SF__RECON_CALL_TIMEOUT_MS
		    ? req.wait_ms + 5000
		    : SF__RECON_CALL_TIMEOUT_MS;
		o.allocator  = sf_arena_pbc(&wt.w_arena);
		rv           = svcfleet_watch_services_with(
		              r->r_client, &req, &rep, &o, &wt.w_st);
		if (rv != 0) {
			sf_arena_reset(&wt.w_arena);
		}
		if (rv == SVCFLEET_OUT_OF_RANGE) {
			SF_WARN("recon",
			    "change feed trimmed past revision %llu: listing "
			    "again",
			    (unsigned long long) since);
			need_list = true;
			continue;
		}
		if (rv != 0) {
			SF_DEBUG("recon", "WatchServices: %s: %s",
			    svcfleet_code_name(rv), wt.w_st.message);
			atomic_store(&r->r_connected, false);
			nap(r, &fails);
			continue;
		}
		fails = 0;
		atomic_store(&r->r_connected, true);
		for (size_t i = 0; i < rep->n_events; i++) {
			const Svcfleet__V1__WatchEvent *ev = rep->events[i];
			dispatch(&wt, ev->service,
			    ev->type
			        != SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_DELETED);
		}
		since = rep->revision;
		sf_arena_reset(&wt.w_arena);
	}
	sf_arena_fini(&wt.w_arena);
	svcfleet_status_fini(&wt.w_st);
	return (NULL);
}
