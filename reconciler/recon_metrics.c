// recon_metrics.c: the reconciler's metrics (see reconciler.h).
#include "reconciler.h"

#include <stdlib.h>

#include "status.h"

struct sf_recon_metrics {
	sf_reconciler *rm_r;
	sf_metrics    *rm_m;
	sf_metric     *rm_objects, *rm_synced, *rm_queue, *rm_lag;
	sf_metric     *rm_applies, *rm_errors, *rm_deletes, *rm_reports;
	sf_metric     *rm_heals, *rm_heal_p99, *rm_echoes;
	uint64_t       rm_last[6]; // counters seen at the previous scrape
};

// A counter follows a total kept elsewhere: add what is new.
static void
follow(sf_metric *m, uint64_t now, uint64_t *last)
{
	if (now > *last) {
		sf_metric_add(m, NULL, (double) (now - *last));
	}
	*last = now;
}

static void
per_cluster(void *arg, const sf_reconciler_cluster_stats *cs)
{
	sf_recon_metrics *rm  = arg;
	const char *const v[] = {cs->cs_name};
	sf_metric_set(rm->rm_objects, v, (double) cs->cs_objects);
	sf_metric_set(rm->rm_synced, v, (double) cs->cs_synced);
	sf_metric_set(rm->rm_queue, v, (double) cs->cs_pending);
	sf_metric_set(rm->rm_lag, v, cs->cs_lag_s);
}

static void
collect(void *arg, sf_metrics *m)
{
	sf_recon_metrics   *rm = arg;
	sf_reconciler_stats st;
	(void) m;

	// Rebuilt each time, so clusters that went away disappear.
	sf_metric_clear(rm->rm_objects);
	sf_metric_clear(rm->rm_synced);
	sf_metric_clear(rm->rm_queue);
	sf_metric_clear(rm->rm_lag);
	sf_reconciler_clusters_each(rm->rm_r, per_cluster, rm);
	sf_reconciler_stats_get(rm->rm_r, &st);
	follow(rm->rm_applies, st.rs_applies, &rm->rm_last[0]);
	follow(rm->rm_errors, st.rs_apply_errors, &rm->rm_last[1]);
	follow(rm->rm_deletes, st.rs_deletes, &rm->rm_last[2]);
	follow(rm->rm_reports, st.rs_reports, &rm->rm_last[3]);
	follow(rm->rm_heals, st.rs_drift_heals, &rm->rm_last[4]);
	follow(rm->rm_echoes, st.rs_watch_echoes, &rm->rm_last[5]);
	sf_metric_set(rm->rm_heal_p99, NULL, st.rs_heal_ms_p99 / 1000.0);
}

int
sf_recon_metrics_attach(
    sf_recon_metrics **out, sf_reconciler *r, sf_metrics *m)
{
	sf_recon_metrics *rm = calloc(1, sizeof(*rm));

	*out = NULL;
	if (rm == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	rm->rm_r       = r;
	rm->rm_m       = m;
	rm->rm_objects = sf_metrics_gauge(m, "svcfleet_reconciler_objects",
	    "Services the reconciler tracks in the cluster (its own and "
	    "others').",
	    "cluster");
	rm->rm_synced
	    = sf_metrics_gauge(m, "svcfleet_reconciler_synced_objects",
	        "Stored Services the cluster holds as wanted.", "cluster");
	rm->rm_queue = sf_metrics_gauge(m, "svcfleet_reconciler_queue_depth",
	    "Stored Services not in sync with the cluster yet.", "cluster");
	rm->rm_lag
	    = sf_metrics_gauge(m, "svcfleet_reconciler_sync_lag_seconds",
	        "Time since the cluster last had nothing left to sync (0: in "
	        "sync).",
	        "cluster");
	rm->rm_applies
	    = sf_metrics_counter(m, "svcfleet_reconciler_applies_total",
	        "Server-side applies sent to clusters.", NULL);
	rm->rm_errors
	    = sf_metrics_counter(m, "svcfleet_reconciler_apply_errors_total",
	        "Applies a cluster refused or did not answer.", NULL);
	rm->rm_deletes = sf_metrics_counter(m,
	    "svcfleet_reconciler_deletes_total",
	    "Deletes sent to clusters (deleted Services and garbage).", NULL);
	rm->rm_reports = sf_metrics_counter(m,
	    "svcfleet_reconciler_status_report_calls_total",
	    "Status report calls made to svcfleetd (each carries many "
	    "reports).",
	    NULL);
	rm->rm_heals
	    = sf_metrics_counter(m, "svcfleet_reconciler_drift_heals_total",
	        "Out-of-band changes in a cluster put back.", NULL);
	rm->rm_echoes
	    = sf_metrics_counter(m, "svcfleet_reconciler_watch_echoes_total",
	        "Objects a cluster sent twice (an apply's answer and its "
	        "watch event) that were parsed once.",
	        NULL);
	rm->rm_heal_p99 = sf_metrics_gauge(m,
	    "svcfleet_reconciler_drift_heal_p99_seconds",
	    "99th percentile of the last 1024 drift heals, from the change "
	    "seen to the cluster holding the Service again.",
	    NULL);
	if (sf_metrics_add_collector(m, collect, rm) != 0) {
		free(rm);
		return (SF_RESOURCE_EXHAUSTED);
	}
	*out = rm;
	return (0);
}

void
sf_recon_metrics_detach(sf_recon_metrics *rm)
{
	if (rm != NULL) {
		sf_metrics_remove_collector(rm->rm_m, collect, rm);
		free(rm);
	}
}
