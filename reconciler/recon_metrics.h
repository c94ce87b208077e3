// recon_metrics.h: the reconciler's figures as Prometheus metrics (in the
// registry of metrics.h), for svcfleetd's /metrics when it runs the
// reconciler inside and for svcfleet-reconciler's own endpoint.
#ifndef SF_RECON_METRICS_H
#define SF_RECON_METRICS_H

#include "metrics.h"
#include "reconciler.h"

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

#endif // SF_RECON_METRICS_H
