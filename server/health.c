// health.c: whether the store can serve now, for /readyz and /metrics
// (issue 15, DESIGN.md §9).
//
// On etcd a replica is ready only while etcd answers a linearizable read:
// without quorum (or with no member reachable) writes would only fail
// UNAVAILABLE after their retry budget, so an orchestrator should route
// callers to another replica meanwhile. A thread probes every 500 ms
// (sf_store_health, at most 1.5 s each), so /readyz itself never waits on
// etcd. The probe's latency and failures are metrics. On LMDB nothing runs
// and the store is always healthy.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "log.h"

#define PROBE_EVERY_MS 500

struct sf__srv_health_obs {
	sf_metric *h_latency; // svcfleet_etcd_probe_seconds
	sf_metric *h_errors;  // svcfleet_etcd_probe_errors_total
	sf_metric *h_up;      // svcfleet_etcd_up
};

static bool
is_etcd(const sf_server *srv)
{
	return (srv->s_opts.so_store != NULL
	    && strcmp(srv->s_opts.so_store, "etcd") == 0);
}

static void
probe_once(sf_server *srv)
{
	sf_status st;
	int64_t   t0 = sf_clock_mono_us();
	int       rv;

	sf_status_init(&st);
	rv          = sf_store_health(srv->s_store, &st);
	double secs = (double) (sf_clock_mono_us() - t0) / 1e6;
	if (srv->s_health_obs != NULL) {
		sf_metric_observe(srv->s_health_obs->h_latency, NULL, secs);
		sf_metric_set(srv->s_health_obs->h_up, NULL, rv == 0 ? 1 : 0);
		if (rv != 0) {
			const char *code[] = {sf_status_name(rv)};
			sf_metric_add(srv->s_health_obs->h_errors, code, 1);
		}
	}
	pthread_mutex_lock(&srv->s_health_mtx);
	bool was = srv->s_health_ok;
	if ((rv == 0) != was) {
		srv->s_health_ok       = rv == 0;
		srv->s_health_since_ms = sf_clock_mono_ms();
	}
	if (rv != 0) {
		snprintf(srv->s_health_why, sizeof(srv->s_health_why),
		    "%s: %.400s", sf_status_name(rv), st.st_msg);
	}
	pthread_mutex_unlock(&srv->s_health_mtx);
	if (was && rv != 0) {
		SF_WARN("store",
		    "etcd does not answer a linearizable read (%s): not "
		    "ready; "
		    "writes fail UNAVAILABLE (retry later or on another "
		    "replica) until it does",
		    st.st_msg);
	} else if (!was && rv == 0) {
		SF_INFO("store", "etcd answers again: ready");
	}
	sf_status_fini(&st);
}

static void *
health_main(void *arg)
{
	sf_server *srv = arg;

	pthread_mutex_lock(&srv->s_health_mtx);
	while (!srv->s_health_stop) {
		pthread_mutex_unlock(&srv->s_health_mtx);
		probe_once(srv);
		int64_t         until = sf_clock_now_ms() + PROBE_EVERY_MS;
		struct timespec ts
		    = {until / 1000, (long) (until % 1000) * 1000000};
		pthread_mutex_lock(&srv->s_health_mtx);
		while (!srv->s_health_stop && sf_clock_now_ms() < until) {
			pthread_cond_timedwait(
			    &srv->s_health_cv, &srv->s_health_mtx, &ts);
		}
	}
	pthread_mutex_unlock(&srv->s_health_mtx);
	return (NULL);
}

int
sf__srv_health_start(sf_server *srv)
{
	sf_metrics *r = srv->s_opts.so_metrics;

	pthread_mutex_init(&srv->s_health_mtx, NULL);
	pthread_cond_init(&srv->s_health_cv, NULL);
	// The store has just opened: it answered.
	srv->s_health_ok       = true;
	srv->s_health_since_ms = sf_clock_mono_ms();
	if (!is_etcd(srv)) {
		return (0);
	}
	if (r != NULL) {
		struct sf__srv_health_obs *o = calloc(1, sizeof(*o));
		if (o == NULL) {
			return (-1);
		}
		srv->s_health_obs = o;
		o->h_latency
		    = sf_metrics_histogram(r, "svcfleet_etcd_probe_seconds",
		        "Time of the readiness probe's linearizable read from "
		        "etcd.",
		        "", NULL, 0);
		o->h_errors
		    = sf_metrics_counter(r, "svcfleet_etcd_probe_errors_total",
		        "Readiness probes of etcd that failed, by status.",
		        "code");
		o->h_up = sf_metrics_gauge(r, "svcfleet_etcd_up",
		    "1 while etcd answers linearizable reads (quorum), else "
		    "0.",
		    "");
		sf_metric_set(o->h_up, NULL, 1);
	}
	if (pthread_create(&srv->s_health, NULL, health_main, srv) != 0) {
		return (-1);
	}
	srv->s_health_running = true;
	return (0);
}

void
sf__srv_health_stop(sf_server *srv)
{
	if (srv->s_health_running) {
		pthread_mutex_lock(&srv->s_health_mtx);
		srv->s_health_stop = true;
		pthread_cond_broadcast(&srv->s_health_cv);
		pthread_mutex_unlock(&srv->s_health_mtx);
		pthread_join(srv->s_health, NULL);
		srv->s_health_running = false;
	}
	free(srv->s_health_obs);
	srv->s_health_obs = NULL;
}

bool
sf_server_store_health(sf_server *srv, sf_buf *why)
{
	bool ok;

	if (srv == NULL || !srv->s_health_running) {
		return (true);
	}
	pthread_mutex_lock(&srv->s_health_mtx);
	ok = srv->s_health_ok;
	if (!ok) {
		sf_buf_printf(why, "etcd is not answering for %.1f s (%s)",
		    (double) (sf_clock_mono_ms() - srv->s_health_since_ms)
		        / 1000.0,
		    srv->s_health_why);
	}
	pthread_mutex_unlock(&srv->s_health_mtx);
	return (ok);
}
