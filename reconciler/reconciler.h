// reconciler.h: sf_reconciler, svcfleet's multi-cluster reconciler.
//
// It makes the Services stored in svcfleetd real in every registered
// cluster and keeps them so. It is an RPC client of svcfleetd (over
// inproc:// inside svcfleetd, tcp/ipc/tls as its own service):
//
//   * a watcher thread lists the desired Services (ListServices), then
//     follows WatchServices from that revision (OUT_OF_RANGE: list again),
//     and polls ListClusters for the cluster records it needs;
//   * one worker thread per cluster owns that cluster's libcurl multi
//     handle, its object table, queue, timers and in-flight limit: it
//     lists and watches the cluster's Services, applies with server-side
//     apply, deletes what was deleted centrally (and garbage-collects
//     what this installation owns but no longer stores), heals drift and
//     reports — so a slow or dead cluster delays nobody else;
//   * reporter threads send status and health reports (ReportStatus,
//     ReportClusterHealth), each only when it says something new.
//
// Reconcilers share the clusters by claims (claims.c, issue 16): each
// registers with svcfleetd and holds a lease; svcfleetd gives each
// cluster to one live reconciler at a time, with a fencing token. A
// reconciler pinned to a static shard (I of N, by a hash of the cluster
// name) does not take part.
#ifndef SF_RECONCILER_H
#define SF_RECONCILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "ops.h"

typedef struct sf_reconciler sf_reconciler;

typedef struct sf_reconciler_opts {
	const char *ro_server; // svcfleetd URL (inproc://, ipc://, tcp://...)
	const char *ro_token;  // bearer token with the reconciler role
	// TLS to svcfleetd (tls+tcp:// only).
	const char *ro_ca_file;
	// A static pin (--shard I/N): only the clusters whose name hashes to
	// shard I of N, without registering, claims or fencing. 0 or 1
	// shards: the reconciler registers and claims (issue 16).
	unsigned ro_shard;  // this reconciler's shard, 0..ro_shards-1
	unsigned ro_shards; // 0 or 1: claim clusters
	// Cluster claims (issue 16): this reconciler's id (NULL: host-pid)
	// and its lease's TTL (0 = 10000 ms; renewed every TTL/3).
	const char *ro_id;
	int64_t     ro_ttl_ms;
	// Neither claims nor a pin: every cluster, unfenced (tests only).
	bool ro_no_claims;
	// Per cluster: requests in flight at once (0 = 16) and connections
	// kept to the API server (0 = 6; one suffices with HTTP/2).
	unsigned ro_max_inflight;
	unsigned ro_max_conns;
	// Full resync period: the cluster is listed again and every object
	// compared in memory (0 = 300 s). Nothing is sent for objects that
	// match.
	uint32_t ro_resync_ms;
	// Per-object retry backoff: first delay and cap (0 = 500 ms, 30 s).
	uint32_t ro_backoff_min_ms;
	uint32_t ro_backoff_max_ms;
	// How often cluster records are read again (0 = 5000 ms).
	uint32_t ro_cluster_poll_ms;
	// Threads sending status reports, in batches (0 = 8).
	unsigned ro_reporters;
	// Timeout of one Kubernetes request (0 = 30000 ms).
	uint32_t ro_request_timeout_ms;
} sf_reconciler_opts;

// ----------------------------------------------------------------------
// Tuning as configuration: the options of ops.h's engine that set
// sf_reconciler_opts' tuning, written once for both places a reconciler
// runs — svcfleet-reconciler's option table ends with these rows, and
// svcfleetd's embedded reconciler reads the same variables through
// sf_reconciler_opts_from_env.

// The tuning options' values, as the option engine fills them.
typedef struct sf_reconciler_tuning {
	const char *rt_resync;      // duration, e.g. "5m"
	const char *rt_backoff_max; // duration
	long        rt_max_inflight;
	long        rt_max_conns;
} sf_reconciler_tuning;

// SF_RECONCILER_TUNING_OPTS(type, member) expands to the sf_opt rows of
// the tuning options, for a table whose fields struct type holds an
// sf_reconciler_tuning named member.
// clang-format off
#define SF_RECONCILER_TUNING_OPTS(type, member)                              \
	{"resync", "SVCFLEET_RECONCILER_RESYNC", SF_OPT_STRING, "5m",        \
	    "full resync period: each cluster is listed again and every "    \
	    "object compared in memory",                                     \
	    offsetof(type, member.rt_resync), 0, 0,                          \
	    sf_reconciler_check_duration, NULL},                             \
	{"max-inflight", "SVCFLEET_RECONCILER_MAX_INFLIGHT", SF_OPT_INT,     \
	    "16", "requests in flight per cluster",                          \
	    offsetof(type, member.rt_max_inflight), 1, 100000, NULL, NULL},  \
	{"max-conns", "SVCFLEET_RECONCILER_MAX_CONNS", SF_OPT_INT, "6",      \
	    "connections per cluster API server (one suffices with HTTP/2)", \
	    offsetof(type, member.rt_max_conns), 1, 100000, NULL, NULL},     \
	{"backoff-max", "SVCFLEET_RECONCILER_BACKOFF_MAX", SF_OPT_STRING,    \
	    "30s", "longest per-object retry delay",                         \
	    offsetof(type, member.rt_backoff_max), 0, 0,                     \
	    sf_reconciler_check_duration, NULL}
// clang-format on

// sf_reconciler_check_duration is the value check of the duration
// options: from 1 ms to a day ("500ms", "30s", "5m").
bool sf_reconciler_check_duration(const char *v, sf_buf *why);

// SF_RECONCILER_LEASE_TTL_OPT(type, member) expands to the sf_opt row of
// the lease TTL (issue 16), for a table whose fields struct type holds a
// const char * named member: svcfleet-reconciler's --lease-ttl, and the
// embedded reconciler's SVCFLEET_RECONCILER_LEASE_TTL.
// clang-format off
#define SF_RECONCILER_LEASE_TTL_OPT(type, member)                            \
	{"lease-ttl", "SVCFLEET_RECONCILER_LEASE_TTL", SF_OPT_STRING, "10s", \
	    "lease TTL: renewed every TTL/3; after 2/3 TTL without a "      \
	    "renewal this reconciler stops writing, after TTL its "          \
	    "clusters move",                                                 \
	    offsetof(type, member), 0, 0, sf_reconciler_check_ttl, NULL}
// clang-format on

// sf_reconciler_check_ttl is the value check of the lease TTL: from 1 s
// to 1 h.
bool sf_reconciler_check_ttl(const char *v, sf_buf *why);

// sf_reconciler_tuning_apply sets o's tuning left at 0 from t (values as
// the rows above checked them).
void sf_reconciler_tuning_apply(
    const sf_reconciler_tuning *t, sf_reconciler_opts *o);

// sf_reconciler_opts_from_env fills the tuning options left at 0 from the
// environment, through the rows above (SVCFLEET_RECONCILER_RESYNC,
// _BACKOFF_MAX, _MAX_INFLIGHT, _MAX_CONNS, and _LEASE_TTL into
// ro_ttl_ms), for a reconciler inside svcfleetd. The former names
// SVCFLEET_RESYNC, SVCFLEET_BACKOFF_MAX and SVCFLEET_MAX_CONNS are still
// read, with a warning on stderr (not SVCFLEET_MAX_INFLIGHT: inside
// svcfleetd that is svcfleetd's own --max-inflight). Returns 0, or
// SF_INVALID_ARGUMENT naming the variable whose value is malformed.
int sf_reconciler_opts_from_env(sf_reconciler_opts *o, sf_status *st);

// sf_reconciler_start starts the threads and returns at once: the server
// may not be reachable yet (the watcher keeps trying). Returns 0, or an
// SF_* code with st set (bad options, out of memory). On failure *out is
// NULL.
int sf_reconciler_start(
    sf_reconciler **out, const sf_reconciler_opts *o, sf_status *st);

// sf_reconciler_stop stops every thread, cancels requests in flight and
// frees everything. NULL is fine.
void sf_reconciler_stop(sf_reconciler *r);

typedef struct sf_reconciler_stats {
	uint64_t rs_applies;        // server-side applies sent
	uint64_t rs_apply_errors;   // applies the cluster refused or failed
	uint64_t rs_deletes;        // deletes sent (prune and GC)
	uint64_t rs_reports;        // ReportStatus calls made
	uint64_t rs_health_reports; // ReportClusterHealth calls made
	uint64_t rs_drift_heals;    // applies caused by an out-of-band change
	uint64_t rs_watch_echoes;   // watch events known as our applies' echo
	uint64_t rs_heal_ms_max;    // slowest heal, event to applied
	uint64_t rs_heal_ms_p99;    // of the last 1024 heals
	uint64_t rs_objects;        // objects tracked over all clusters
	uint64_t rs_synced;         // objects in sync
	unsigned rs_clusters;       // clusters handled by this shard
} sf_reconciler_stats;

void sf_reconciler_stats_get(sf_reconciler *r, sf_reconciler_stats *out);

// sf_reconciler_connected: has the reconciler listed the stored Services
// and is its watch on svcfleetd working (its last call succeeded)?
bool sf_reconciler_connected(sf_reconciler *r);

// Per-cluster figures, refreshed by each worker about once a second.
typedef struct sf_reconciler_cluster_stats {
	const char *cs_name;    // valid during the callback
	uint64_t    cs_objects; // Services tracked (the cluster's and ours)
	uint64_t    cs_synced;  // stored Services the cluster holds as wanted
	uint64_t    cs_pending; // stored Services not (yet) in sync
	int         cs_health;  // ClusterHealthState as last seen
	double      cs_lag_s;   // seconds since nothing was pending (0: now)
} sf_reconciler_cluster_stats;

// sf_reconciler_clusters_each calls fn for every cluster of this shard
// (under the reconciler's lock: fn must be quick and not call back in).
void sf_reconciler_clusters_each(sf_reconciler *r,
    void (*fn)(void *arg, const sf_reconciler_cluster_stats *cs), void *arg);

// sf_reconciler_id returns this reconciler's id in claims (valid until
// sf_reconciler_stop).
const char *sf_reconciler_id(const sf_reconciler *r);

// sf_reconciler_shard_of returns the shard (0..shards-1) a cluster
// belongs to.
unsigned sf_reconciler_shard_of(const char *cluster, unsigned shards);

// ----------------------------------------------------------------------
// Metrics (recon_metrics.c): the reconciler's figures as Prometheus metrics
// (in the registry of ops.h), for svcfleetd's /metrics when it runs the
// reconciler inside and for svcfleet-reconciler's own endpoint.

typedef struct sf_recon_metrics sf_recon_metrics;

// sf_recon_metrics_attach registers the reconciler's families in m and a
// collector that fills them from r at every scrape: per cluster objects,
// synced objects, queue depth (stored Services not in sync) and sync lag;
// totals of applies, apply errors, deletes, status report calls and drift
// heals, and the 99th percentile of recent heal times. Returns 0 and *out
// (detach with sf_recon_metrics_detach before stopping r), or
// SF_RESOURCE_EXHAUSTED.
int sf_recon_metrics_attach(
    sf_recon_metrics **out, sf_reconciler *r, sf_metrics *m);
void sf_recon_metrics_detach(sf_recon_metrics *rm);

#endif // SF_RECONCILER_H
