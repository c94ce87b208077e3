// srvmetrics.c: svcfleetd's own metrics in the registry it was given
// (sf_server_opts.so_metrics): RPC calls and latency by method and status,
// the store (revision, size, writer batches), cluster health as last
// reported by the reconciler, and readiness.
//
// Metric names (all in seconds and bytes where they measure time or size):
//   svcfleet_rpc_requests_total{service,method,code}     counter
//   svcfleet_rpc_duration_seconds{service,method,code}   histogram
//   svcfleet_rpc_in_flight, svcfleet_rpc_queued          gauges
//   svcfleet_rpc_bulk_queued, svcfleet_rpc_bulk_users    gauges (i17-bulk:
//                                                         large requests in
//                                                         users' lanes)
//   svcfleet_store_revision, svcfleet_store_services,
//   svcfleet_store_map_size_bytes, svcfleet_store_used_bytes,
//   svcfleet_store_feed_oldest_revision                   gauges
//   svcfleet_store_commits_total, svcfleet_store_writes_total,
//   svcfleet_store_write_failures_total,
//   svcfleet_store_map_grows_total                        counters
//   svcfleet_store_batch_writes                           histogram (writes
//                                                         per durable commit)
//   svcfleet_cluster_health{cluster,state}                1 for the state
//   svcfleet_cluster_last_contact_timestamp_seconds{cluster}
//   svcfleet_cluster_sync_unknown{cluster}                1 while its Services
//                                                         read UNKNOWN (i19)
//   svcfleet_build_info{version}, svcfleet_start_time_seconds
//   svcfleet_fleet_renders_total                          counter (i17-turns:
//                                                         FleetServices the
//                                                         placement loop
//                                                         rendered again)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "ops.h"

struct sf__srv_obs {
	sf_metrics *o_reg;
	sf_metric  *o_requests;
	sf_metric  *o_duration;
	sf_metric  *o_inflight;
	sf_metric  *o_queued;
	sf_metric  *o_revision;
	sf_metric  *o_services;
	sf_metric  *o_map_size;
	sf_metric  *o_map_used;
	sf_metric  *o_feed_first;
	sf_metric  *o_commits;
	sf_metric  *o_writes;
	sf_metric  *o_failed;
	sf_metric  *o_grows;
	sf_metric  *o_batch;
	sf_metric  *o_health;
	sf_metric  *o_contact;
	sf_metric  *o_unknown; // i19: honest status
	// Counters copied from the store's statistics: what was added so far.
	uint64_t o_last_commits, o_last_writes, o_last_failed, o_last_grows;
	// The writer's count of applied writes at the previous commit (only
	// touched on the writer thread).
	uint64_t o_batch_mark;
	// Failed authentications (issue 17): every one, those refused by the
	// per-source limit, and the audit records they made.
	sf_metric *o_auth_failures, *o_auth_limited, *o_auth_audited;
	sf_metric *o_parked; // WatchServices calls parked
	// i17-bulk: large requests waiting in users' lanes, and the users.
	sf_metric *o_bulk_queued, *o_bulk_users;
	sf_metric *o_conns; // open TCP/TLS connections
	uint64_t   o_last_auth_failures, o_last_auth_limited;
	uint64_t   o_last_auth_audited;
	// i17-turns: FleetServices the placement loop rendered again.
	sf_metric *o_fleet_renders;
	uint64_t   o_last_fleet_renders;
};

static const double batch_buckets[]
    = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

static const char *const health_names[] = {
    [SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNKNOWN] = "unknown",
    [SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_READY]   = "ready",
    [SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNREACHABLE]
    = "unreachable",
    [SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED]
    = "unauthorized",
};
#define NHEALTH (sizeof(health_names) / sizeof(health_names[0]))

// Adds to counter m what cur grew by since *last.
static void
counter_follow(sf_metric *m, uint64_t cur, uint64_t *last)
{
	if (cur > *last) {
		sf_metric_add(m, NULL, (double) (cur - *last));
	}
	*last = cur;
}

static void
collect(void *arg, sf_metrics *r)
{
	sf_server          *srv = arg;
	struct sf__srv_obs *o   = srv->s_obs;
	sf_store_stats      ss;
	sf_arena            a;
	(void) r;

	sf_metric_set(
	    o->o_inflight, NULL, (double) atomic_load(&srv->s_inflight));
	pthread_mutex_lock(&srv->s_qmtx);
	size_t queued = srv->s_qlen;
	size_t bulk_q = srv->s_bulk_queued, bulk_u = srv->s_bulk_users;
	pthread_mutex_unlock(&srv->s_qmtx);
	sf_metric_set(o->o_queued, NULL, (double) queued);
	sf_metric_set(o->o_bulk_queued, NULL, (double) bulk_q);
	sf_metric_set(o->o_bulk_users, NULL, (double) bulk_u);

	sf_store_stats_get(srv->s_store, &ss);
	sf_metric_set(o->o_revision, NULL, (double) ss.ss_revision);
	sf_metric_set(o->o_services, NULL, (double) ss.ss_services);
	sf_metric_set(o->o_map_size, NULL, (double) ss.ss_map_size);
	sf_metric_set(o->o_map_used, NULL, (double) ss.ss_map_used);
	sf_metric_set(o->o_feed_first, NULL, (double) ss.ss_feed_first);
	counter_follow(o->o_commits, ss.ss_commits, &o->o_last_commits);
	counter_follow(o->o_writes, ss.ss_writes, &o->o_last_writes);
	counter_follow(o->o_failed, ss.ss_failed, &o->o_last_failed);
	counter_follow(o->o_grows, ss.ss_map_grows, &o->o_last_grows);
	sf_metric_set(o->o_parked, NULL, (double) atomic_load(&srv->s_parked));
	counter_follow(o->o_fleet_renders, sf__srv_fleet_loop_renders(srv),
	    &o->o_last_fleet_renders); // i17-turns
	if (srv->s_pipe_mtx_ok) {
		pthread_mutex_lock(&srv->s_pipe_mtx);
		size_t conns = srv->s_npipes;
		pthread_mutex_unlock(&srv->s_pipe_mtx);
		sf_metric_set(o->o_conns, NULL, (double) conns);
	}
	counter_follow(o->o_auth_failures, atomic_load(&srv->s_auth_failures),
	    &o->o_last_auth_failures);
	counter_follow(o->o_auth_limited, atomic_load(&srv->s_auth_limited),
	    &o->o_last_auth_limited);
	counter_follow(o->o_auth_audited, atomic_load(&srv->s_auth_audited),
	    &o->o_last_auth_audited);

	// Cluster health as the reconciler last reported it; clusters are
	// few, and the series are rebuilt so removed clusters disappear.
	Svcfleet__V1__Cluster **cl = NULL;
	size_t                  n  = 0;
	sf_arena_init(&a);
	if (sf_store_cluster_list(srv->s_store, sf_arena_pbc(&a), &cl, &n)
	    == 0) {
		sf_metric_clear(o->o_health);
		sf_metric_clear(o->o_contact);
		sf_metric_clear(o->o_unknown);
		for (size_t i = 0; i < n; i++) {
			int state = cl[i]->health != NULL
			    ? (int) cl[i]->health->state
			    : 0;
			for (size_t k = 0; k < NHEALTH; k++) {
				sf_metric_set(o->o_health,
				    (const char *[]) {
				        cl[i]->name, health_names[k]},
				    (int) k == state ? 1 : 0);
			}
			sf_metric_set(o->o_unknown,
			    (const char *[]) {cl[i]->name},
			    state == SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNREACHABLE
			            || state
			                == SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED
			        ? 1
			        : 0);
			if (cl[i]->health != NULL
			    && cl[i]->health->last_contact_ms > 0) {
				sf_metric_set(o->o_contact,
				    (const char *[]) {cl[i]->name},
				    (double) cl[i]->health->last_contact_ms
				        / 1000.0);
			}
		}
	}
	sf_arena_fini(&a);
}

int
sf__srv_metrics_init(sf_server *srv)
{
	sf_metrics         *r = srv->s_opts.so_metrics;
	struct sf__srv_obs *o;

	if (r == NULL) {
		return (0);
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	o->o_reg      = r;
	o->o_requests = sf_metrics_counter(r, "svcfleet_rpc_requests_total",
	    "RPC requests answered, by method and status code.",
	    "service,method,code");
	o->o_duration = sf_metrics_histogram(r,
	    "svcfleet_rpc_duration_seconds",
	    "Time from receiving an RPC request to its reply, by method and "
	    "status code (long polls included).",
	    "service,method,code", NULL, 0);
	o->o_inflight = sf_metrics_gauge(r, "svcfleet_rpc_in_flight",
	    "RPC requests received and not yet answered.", NULL);
	o->o_queued   = sf_metrics_gauge(r, "svcfleet_rpc_queued",
	      "RPC requests waiting for a worker thread.", NULL);
	o->o_revision = sf_metrics_gauge(r, "svcfleet_store_revision",
	    "The store's current global revision.", NULL);
	o->o_services = sf_metrics_gauge(
	    r, "svcfleet_store_services", "Services stored.", NULL);
	o->o_map_size = sf_metrics_gauge(r, "svcfleet_store_map_size_bytes",
	    "Size of the LMDB map (the store's current size limit).", NULL);
	o->o_map_used = sf_metrics_gauge(r, "svcfleet_store_used_bytes",
	    "Bytes of the LMDB map in use.", NULL);
	o->o_feed_first
	    = sf_metrics_gauge(r, "svcfleet_store_feed_oldest_revision",
	        "Oldest revision still in the change feed (older watchers "
	        "must list again).",
	        NULL);
	o->o_commits = sf_metrics_counter(r, "svcfleet_store_commits_total",
	    "Durable commits made by the store's writer.", NULL);
	o->o_writes  = sf_metrics_counter(r, "svcfleet_store_writes_total",
	     "Write requests applied by the store's writer.", NULL);
	o->o_failed
	    = sf_metrics_counter(r, "svcfleet_store_write_failures_total",
	        "Write requests whose write failed (validation, conflicts, "
	        "full store).",
	        NULL);
	o->o_grows  = sf_metrics_counter(r, "svcfleet_store_map_grows_total",
	     "Times the LMDB map was grown because it was full.", NULL);
	o->o_batch  = sf_metrics_histogram(r, "svcfleet_store_batch_writes",
	     "Write requests applied per durable commit (group commit).", NULL,
	     batch_buckets, sizeof(batch_buckets) / sizeof(batch_buckets[0]));
	o->o_conns  = sf_metrics_gauge(r, "svcfleet_rpc_connections",
	     "Open TCP/TLS connections to the RPC listeners "
	      "(--max-connections).",
	     NULL);
	o->o_parked = sf_metrics_gauge(r, "svcfleet_rpc_watches_parked",
	    "WatchServices calls waiting for a change (--max-watches).", NULL);
	// i17-bulk
	o->o_bulk_queued = sf_metrics_gauge(r, "svcfleet_rpc_bulk_queued",
	    "RPC requests over 16 KiB waiting for the bulk thread, which "
	    "serves each user's in turn.",
	    NULL);
	o->o_bulk_users  = sf_metrics_gauge(r, "svcfleet_rpc_bulk_users",
	     "Users with RPC requests over 16 KiB waiting for the bulk thread.",
	     NULL);
	// i17-turns
	o->o_fleet_renders
	    = sf_metrics_counter(r, "svcfleet_fleet_renders_total",
	        "FleetServices whose copies the placement loop rendered and "
	        "validated again (only when the FleetService, or a cluster it "
	        "places or selects, changed, or a cluster is not placed).",
	        NULL);
	o->o_auth_failures
	    = sf_metrics_counter(r, "svcfleet_auth_failures_total",
	        "Calls whose authentication failed (no, unknown, revoked or "
	        "expired token).",
	        NULL);
	o->o_auth_limited
	    = sf_metrics_counter(r, "svcfleet_auth_limited_total",
	        "Failed authentications refused by the per-source rate limit.",
	        NULL);
	o->o_auth_audited = sf_metrics_counter(r,
	    "svcfleet_auth_failure_records_total",
	    "Audit records written for failed authentications (at most one "
	    "per source per minute).",
	    NULL);
	o->o_health       = sf_metrics_gauge(r, "svcfleet_cluster_health",
	          "Health of each registered cluster as last reported by the "
	                "reconciler: 1 for its current state, 0 for the others.",
	          "cluster,state");
	o->o_contact      = sf_metrics_gauge(r,
	         "svcfleet_cluster_last_contact_timestamp_seconds",
	         "When the reconciler last reached the cluster's API server.",
	         "cluster");
	o->o_unknown = sf_metrics_gauge(r, "svcfleet_cluster_sync_unknown",
	    "1 while the cluster is unreachable, so its Services read UNKNOWN "
	    "(last confirmed at svcfleet_cluster_last_contact_timestamp_"
	    "seconds).",
	    "cluster");
	sf_metric_set(
	    sf_metrics_gauge(r, "svcfleet_build_info",
	        "svcfleetd's version (the value is always 1).", "version"),
	    (const char *[]) {SF_VERSION}, 1);
	sf_metric_set(sf_metrics_gauge(r, "svcfleet_start_time_seconds",
	                  "When svcfleetd started (Unix time).", NULL),
	    NULL, (double) srv->s_start_ms / 1000.0);

	sf_store_stats ss;
	sf_store_stats_get(srv->s_store, &ss);
	o->o_batch_mark = ss.ss_writes;
	srv->s_obs      = o;
	if (sf_metrics_add_collector(r, collect, srv) != 0) {
		srv->s_obs = NULL;
		free(o);
		return (SF_RESOURCE_EXHAUSTED);
	}
	return (0);
}

void
sf__srv_metrics_fini(sf_server *srv)
{
	if (srv->s_obs == NULL) {
		return;
	}
	sf_metrics_remove_collector(srv->s_obs->o_reg, collect, srv);
	free(srv->s_obs);
	srv->s_obs = NULL;
}

void
sf__srv_metrics_call_done(sf__srv_call *c)
{
	struct sf__srv_obs *o           = c->c_srv->s_obs;
	char                service[96] = "unknown";
	const char         *method      = "unknown";

	if (o == NULL) {
		return;
	}
	// "/svcfleet.v1.ServiceManager/CreateService": service
	// "svcfleet.v1.ServiceManager", method "CreateService". Unknown
	// methods are one series, whatever the caller sent.
	if (c->c_method != NULL) {
		const char *p     = c->c_method->m_path + 1;
		const char *slash = strrchr(p, '/');
		if (slash != NULL) {
			snprintf(service, sizeof(service), "%.*s",
			    (int) (slash - p), p);
			method = slash + 1;
		}
	}
	const char *labels[]
	    = {service, method, sf_status_name(c->c_status.st_code)};
	double secs = (double) (sf_clock_mono_us() - c->c_start_us) / 1e6;
	sf_metric_add(o->o_requests, labels, 1);
	sf_metric_observe(o->o_duration, labels, secs);
}

void
sf__srv_metrics_commit(sf_server *srv)
{
	struct sf__srv_obs *o = srv->s_obs;
	sf_store_stats      ss;

	if (o == NULL) {
		return;
	}
	// Runs on the writer thread right after a commit, so the writes
	// counted since the previous commit are exactly this batch's.
	sf_store_stats_get(srv->s_store, &ss);
	if (ss.ss_writes > o->o_batch_mark) {
		sf_metric_observe(o->o_batch, NULL,
		    (double) (ss.ss_writes - o->o_batch_mark));
	}
	o->o_batch_mark = ss.ss_writes;
}

bool
sf_server_ready(sf_server *srv, sf_buf *why)
{
	if (atomic_load(&srv->s_draining)) {
		sf_buf_puts(why, "shutting down");
		return (false);
	}
	if (srv->s_store == NULL) {
		sf_buf_puts(why, "the store is not open");
		return (false);
	}
	// Ready, but say so when clusters have had no reconciler for long
	// (issue 16): /readyz shows it as a warning.
	if (!sf_server_store_health(srv, why)) {
		return (false);
	}
	sf__srv_claims_warning(srv, why);
	return (true);
}
