// metrics.h: a small registry of Prometheus metrics — counters, gauges and
// histograms with labels — that any module can register and update, and
// that the HTTP endpoint (http.h) renders in the Prometheus text format
// (version 0.0.4) on GET /metrics.
//
// svcfleetd has one registry (RPC, store and, when embedded, reconciler
// metrics); the standalone svcfleet-reconciler makes its own and serves it
// with the same endpoint code. A module registers its families once, keeps
// the returned sf_metric pointers, and updates series by label values:
//
//   sf_metric *lag = sf_metrics_gauge(reg, "svcfleet_reconciler_sync_lag_"
//       "seconds", "Time since the cluster was last in sync.", "cluster");
//   ...
//   sf_metric_set(lag, (const char *[]){"east"}, 1.5);
//
// Values that live elsewhere (a queue length, a store statistic) are best
// read at scrape time by a collector (sf_metrics_add_collector), which sets
// gauges just before rendering.
//
// Threading: every function may be called from any thread at any time
// after sf_metrics_alloc and before sf_metrics_free. Updates take a mutex
// per family (a few hundred nanoseconds); no update ever blocks on I/O.
//
// Naming: follow Prometheus' conventions — snake_case with the svcfleet_
// prefix, a unit suffix (_seconds, _bytes), _total on counters. Label
// values are free text (escaped when rendered); keep their number bounded
// (methods, codes, clusters — never request ids or user input).
#ifndef SF_METRICS_H
#define SF_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct sf_metrics sf_metrics;
typedef struct sf_metric  sf_metric;

// sf_metrics_alloc makes an empty registry. Returns 0 or SF_RESOURCE_
// EXHAUSTED (*out is NULL).
int sf_metrics_alloc(sf_metrics **out);

// sf_metrics_free frees the registry and every family in it; the
// sf_metric pointers become invalid. NULL is fine. No other thread may use
// the registry any more (stop the HTTP endpoint first).
void sf_metrics_free(sf_metrics *r);

// Registering a family: name must match [a-zA-Z_:][a-zA-Z0-9_:]*, labels
// is a comma-separated list of label names ("" or NULL: none; at most 8).
// Registering a name again with the same type and labels returns the
// existing family (so two reconcilers in one process can share one);
// with another type or labels, or a malformed name, these return NULL.
// help is copied.
sf_metric *sf_metrics_counter(
    sf_metrics *r, const char *name, const char *help, const char *labels);
sf_metric *sf_metrics_gauge(
    sf_metrics *r, const char *name, const char *help, const char *labels);
// buckets: upper bounds, strictly increasing, +Inf implied (at most 32).
// NULL/0 takes SF_METRICS_LATENCY_BUCKETS.
sf_metric *sf_metrics_histogram(sf_metrics *r, const char *name,
    const char *help, const char *labels, const double *buckets,
    size_t nbuckets);

// Latency buckets in seconds, from 0.5 ms to 30 s.
extern const double sf_metrics_latency_buckets[];
extern const size_t sf_metrics_latency_nbuckets;

// Updating a series. values holds exactly as many label values as the
// family has labels, in order (NULL when it has none); the series is made
// on first use. m may be NULL (a failed registration): nothing happens.
// sf_metric_add: counters (v >= 0) and gauges; sf_metric_set: gauges only;
// sf_metric_observe: histograms only. A call of the wrong kind is ignored.
void sf_metric_add(sf_metric *m, const char *const *values, double v);
void sf_metric_set(sf_metric *m, const char *const *values, double v);
void sf_metric_observe(sf_metric *m, const char *const *values, double v);

// sf_metric_remove drops one series (a cluster that went away); absent is
// fine. sf_metric_clear drops every series of the family (a collector that
// rebuilds a gauge from scratch on each scrape).
void sf_metric_remove(sf_metric *m, const char *const *values);
void sf_metric_clear(sf_metric *m);

// sf_metric_value returns a counter or gauge series' value, or a
// histogram series' count; 0 when the series does not exist. For tests.
double sf_metric_value(sf_metric *m, const char *const *values);

// A collector runs on the scraping thread right before rendering, in
// registration order, to set gauges from their sources. It must not call
// sf_metrics_render or add collectors. arg is borrowed until
// sf_metrics_remove_collector or sf_metrics_free.
typedef void (*sf_metrics_collect_fn)(void *arg, sf_metrics *r);
int sf_metrics_add_collector(
    sf_metrics *r, sf_metrics_collect_fn fn, void *arg);
void sf_metrics_remove_collector(
    sf_metrics *r, sf_metrics_collect_fn fn, void *arg);

// sf_metrics_render runs the collectors and appends every family, in
// registration order with series in label order, to out in the Prometheus
// text format. Returns 0 or SF_RESOURCE_EXHAUSTED.
int sf_metrics_render(sf_metrics *r, sf_buf *out);

// The content type of what sf_metrics_render writes.
#define SF_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif // SF_METRICS_H
