// reconciler.c: start, stop, message routing and statistics. See
// reconciler.h for the picture and internal.h for who owns what.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hash.h"
#include "log.h"

#include "internal.h"

unsigned
sf_reconciler_shard_of(const char *cluster, unsigned shards)
{
	if (shards <= 1) {
		return (0);
	}
	return ((unsigned) (sf_hash_str(SF_HASH_INIT, cluster) % shards));
}

void
sf__recon_post(sf_reconciler *r, const char *cluster, sf__recon_msg *m)
{
	sf__recon_cluster *c;
	pthread_mutex_lock(&r->r_mtx);
	for (c = r->r_clusters; c != NULL; c = c->c_next) {
		if (strcmp(c->c_name, cluster) == 0) {
			sf__recon_cluster_post(c, m);
			break;
		}
	}
	pthread_mutex_unlock(&r->r_mtx);
	if (c == NULL) {
		sf__recon_msg_free(m);
	}
}

void
sf__recon_heal_record(sf_reconciler *r, int64_t ms)
{
	if (ms < 0) {
		ms = 0;
	}
	atomic_fetch_add(&r->r_heals, 1);
	pthread_mutex_lock(&r->r_smtx);
	r->r_heal_ms[r->r_nheal++ % 1024] = (uint32_t) ms;
	if ((uint64_t) ms > r->r_heal_max) {
		r->r_heal_max = (uint64_t) ms;
	}
	pthread_mutex_unlock(&r->r_smtx);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
	return (x < y ? -1 : x > y);
}

bool
sf_reconciler_connected(sf_reconciler *r)
{
	return (r != NULL && atomic_load(&r->r_connected));
}

void
sf_reconciler_stats_get(sf_reconciler *r, sf_reconciler_stats *out)
{
	uint32_t heal[1024];
	size_t   n;

	memset(out, 0, sizeof(*out));
	out->rs_applies        = atomic_load(&r->r_applies);
	out->rs_apply_errors   = atomic_load(&r->r_apply_errors);
	out->rs_deletes        = atomic_load(&r->r_deletes);
	out->rs_reports        = atomic_load(&r->r_reports);
	out->rs_health_reports = atomic_load(&r->r_health_reports);
	out->rs_drift_heals    = atomic_load(&r->r_heals);
	out->rs_watch_echoes   = atomic_load(&r->r_echoes);
	pthread_mutex_lock(&r->r_smtx);
	n = r->r_nheal < 1024 ? r->r_nheal : 1024;
	memcpy(heal, r->r_heal_ms, n * sizeof(heal[0]));
	out->rs_heal_ms_max = r->r_heal_max;
	pthread_mutex_unlock(&r->r_smtx);
	if (n > 0) {
		qsort(heal, n, sizeof(heal[0]), cmp_u32);
		out->rs_heal_ms_p99
		    = heal[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
	}
	pthread_mutex_lock(&r->r_mtx);
	for (sf__recon_cluster *c = r->r_clusters; c != NULL; c = c->c_next) {
		out->rs_clusters++;
		out->rs_objects += atomic_load(&c->c_nobjs);
		out->rs_synced += atomic_load(&c->c_nsynced);
	}
	pthread_mutex_unlock(&r->r_mtx);
}

bool
sf_reconciler_check_duration(const char *v, sf_buf *why)
{
	int64_t ms;
	if (sf_duration_parse(v, &ms) != 0 || ms <= 0 || ms > 86400000) {
		sf_buf_puts(
		    why, "want a duration such as 30s or 5m, at most 24h");
		return (false);
	}
	return (true);
}

bool
sf_reconciler_check_ttl(const char *v, sf_buf *why)
{
	int64_t ms = 0;
	if (sf_duration_parse(v, &ms) != 0 || ms < 1000 || ms > 3600 * 1000) {
		sf_buf_puts(why, "want a duration from 1s to 1h, e.g. 10s");
		return (false);
	}
	return (true);
}

void
sf_reconciler_tuning_apply(
    const sf_reconciler_tuning *t, sf_reconciler_opts *o)
{
	int64_t ms;
	if (o->ro_resync_ms == 0 && t->rt_resync != NULL
	    && sf_duration_parse(t->rt_resync, &ms) == 0) {
		o->ro_resync_ms = (uint32_t) ms;
	}
	if (o->ro_backoff_max_ms == 0 && t->rt_backoff_max != NULL
	    && sf_duration_parse(t->rt_backoff_max, &ms) == 0) {
		o->ro_backoff_max_ms = (uint32_t) ms;
	}
	if (o->ro_max_inflight == 0) {
		o->ro_max_inflight = (unsigned) t->rt_max_inflight;
	}
	if (o->ro_max_conns == 0) {
		o->ro_max_conns = (unsigned) t->rt_max_conns;
	}
}

int
sf_reconciler_opts_from_env(sf_reconciler_opts *o, sf_status *st)
{
	struct fields {
		sf_reconciler_tuning f_tuning;
		const char          *f_lease_ttl;
	} fields                   = {0};
	static const sf_opt opts[] = {
	    SF_RECONCILER_TUNING_OPTS(struct fields, f_tuning),
	    SF_RECONCILER_LEASE_TTL_OPT(struct fields, f_lease_ttl),
	};
	static const sf_opt_renamed renamed[] = {
	    {"SVCFLEET_RECONCILER_RESYNC", "SVCFLEET_RESYNC"},
	    {"SVCFLEET_RECONCILER_BACKOFF_MAX", "SVCFLEET_BACKOFF_MAX"},
	    {"SVCFLEET_RECONCILER_MAX_CONNS", "SVCFLEET_MAX_CONNS"},
	};
	static const sf_opt_table table = {
	    .t_prog     = "reconciler",
	    .t_usage    = "",
	    .t_opts     = opts,
	    .t_nopts    = sizeof(opts) / sizeof(opts[0]),
	    .t_renamed  = renamed,
	    .t_nrenamed = sizeof(renamed) / sizeof(renamed[0]),
	};
	sf_config cc;
	char     *said = NULL;
	size_t    len  = 0;
	FILE     *err  = open_memstream(&said, &len);
	int       rv;

	if (err == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	// Nothing but defaults and the environment: no flags.
	rv = sf_config_load(&cc, &table, &fields, 0, NULL, 0, stdout, err);
	fclose(err);
	if (rv == 0) {
		// Warnings (a former name read) go to the log's stream.
		fputs(said != NULL ? said : "", stderr);
		sf_reconciler_tuning_apply(&fields.f_tuning, o);
		if (o->ro_ttl_ms == 0 && fields.f_lease_ttl != NULL) {
			sf_duration_parse(fields.f_lease_ttl, &o->ro_ttl_ms);
		}
	} else {
		// One line: "reconciler: invalid value ... for VARIABLE ...",
		// after any warnings (a former name read before it), which
		// still go to stderr.
		const char *line = said != NULL ? said : "";
		size_t      n    = strcspn(line, "\n");
		while (strncmp(line, "reconciler: warning: ", 21) == 0
		    && line[n] == '\n') {
			fprintf(stderr, "%.*s\n", (int) n, line);
			line += n + 1;
			n = strcspn(line, "\n");
		}
		if (strncmp(line, "reconciler: ", 12) == 0) {
			line += 12;
			n -= 12;
		}
		rv = sf_status_set(
		    st, SF_INVALID_ARGUMENT, "%.*s", (int) n, line);
	}
	sf_config_fini(&cc);
	free(said);
	return (rv);
}

void
sf_reconciler_clusters_each(sf_reconciler *r,
    void (*fn)(void *arg, const sf_reconciler_cluster_stats *cs), void *arg)
{
	int64_t now = sf_clock_mono_ms();
	pthread_mutex_lock(&r->r_mtx);
	for (sf__recon_cluster *c = r->r_clusters; c != NULL; c = c->c_next) {
		sf_reconciler_cluster_stats cs = {0};
		int64_t since = atomic_load(&c->c_pending_since);
		cs.cs_name    = c->c_name;
		cs.cs_objects = atomic_load(&c->c_nobjs);
		cs.cs_synced  = atomic_load(&c->c_nsynced);
		cs.cs_pending = atomic_load(&c->c_npending);
		cs.cs_health  = atomic_load(&c->c_health);
		cs.cs_lag_s
		    = since > 0 && now > since ? (now - since) / 1000.0 : 0;
		fn(arg, &cs);
	}
	pthread_mutex_unlock(&r->r_mtx);
}

static char *
dup_opt(const char *s)
{
	return (s != NULL ? strdup(s) : NULL);
}

int
sf_reconciler_start(
    sf_reconciler **out, const sf_reconciler_opts *o, sf_status *st)
{
	sf_reconciler   *r;
	svcfleet_options co = {0};
	svcfleet_status  cst;
	int              rv;

	*out = NULL;
	if (o->ro_server == NULL || o->ro_server[0] == '\0') {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "the reconciler needs the svcfleetd URL"));
	}
	if (o->ro_shards > 1 && o->ro_shard >= o->ro_shards) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "shard %u of %u does not exist: shards count from 0",
		    o->ro_shard, o->ro_shards));
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	r->r_opts = *o;
	// An HTTP/1.1 server answers one request per connection at a time:
	// more in flight than connections only queue inside curl. With
	// HTTP/2 the streams share one connection.
	if (r->r_opts.ro_max_inflight == 0) {
		r->r_opts.ro_max_inflight = 16;
	}
	if (r->r_opts.ro_max_conns == 0) {
		r->r_opts.ro_max_conns = 6;
	}
	if (r->r_opts.ro_resync_ms == 0) {
		r->r_opts.ro_resync_ms = 300 * 1000;
	}
	if (r->r_opts.ro_backoff_min_ms == 0) {
		r->r_opts.ro_backoff_min_ms = 500;
	}
	if (r->r_opts.ro_backoff_max_ms == 0) {
		r->r_opts.ro_backoff_max_ms = 30 * 1000;
	}
	if (r->r_opts.ro_backoff_max_ms < r->r_opts.ro_backoff_min_ms) {
		r->r_opts.ro_backoff_max_ms = r->r_opts.ro_backoff_min_ms;
	}
	if (r->r_opts.ro_cluster_poll_ms == 0) {
		r->r_opts.ro_cluster_poll_ms = 5000;
	}
	if (r->r_opts.ro_reporters == 0) {
		// Every report is a durable write: reports travel in batches
		// (ReportStatuses), and svcfleetd commits batches that arrive
		// together in one fsync.
		r->r_opts.ro_reporters = 8;
	}
	if (r->r_opts.ro_request_timeout_ms == 0) {
		r->r_opts.ro_request_timeout_ms = 30000;
	}
	r->r_server  = dup_opt(o->ro_server);
	r->r_token   = dup_opt(o->ro_token);
	r->r_ca_file = dup_opt(o->ro_ca_file);
	pthread_mutex_init(&r->r_mtx, NULL);
	pthread_mutex_init(&r->r_jmtx, NULL);
	pthread_mutex_init(&r->r_smtx, NULL);
	pthread_cond_init(&r->r_jcv, NULL);
	if (r->r_server == NULL || (o->ro_token != NULL && r->r_token == NULL)
	    || (o->ro_ca_file != NULL && r->r_ca_file == NULL)) {
		sf_reconciler_stop(r);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	sf_kube_global_init();

	co.url         = r->r_server;
	co.token       = r->r_token;
	co.timeout_ms  = SF__RECON_CALL_TIMEOUT_MS;
	co.connect_now = false; // svcfleetd may start after us
	co.ca_file     = r->r_ca_file;
	svcfleet_status_init(&cst);
	if ((rv = svcfleet_open(&r->r_client, &co, &cst)) != 0) {
		sf_status_set(st, rv, "%s", cst.message);
		svcfleet_status_fini(&cst);
		sf_reconciler_stop(r);
		return (rv);
	}
	svcfleet_status_fini(&cst);
	if ((rv = sf__recon_claims_start(r)) != 0) {
		sf_reconciler_stop(r);
		return (
		    sf_status_set(st, rv, "cannot start the member thread"));
	}
	if ((rv = sf__recon_reporters_start(r)) != 0) {
		sf_reconciler_stop(r);
		return (sf_status_set(
		    st, rv, "cannot start the reporter threads"));
	}
	if (pthread_create(&r->r_watcher, NULL, sf__recon_watcher_main, r)
	    != 0) {
		sf_reconciler_stop(r);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
		    "cannot start the watcher thread"));
	}
	r->r_watcher_started = true;
	if (sf__recon_claiming(r)) {
		SF_INFO("recon",
		    "reconciler %s started: server=%s, claims clusters "
		    "(lease ttl %lld ms)",
		    r->r_id, r->r_server, (long long) r->r_ttl_ms);
	} else {
		SF_INFO("recon",
		    "reconciler started: server=%s static shard=%u/%u "
		    "(no claims, no fencing)",
		    r->r_server,
		    r->r_opts.ro_shards > 1 ? r->r_opts.ro_shard : 0,
		    r->r_opts.ro_shards > 1 ? r->r_opts.ro_shards : 1);
	}
	*out = r;
	return (0);
}

void
sf_reconciler_stop(sf_reconciler *r)
{
	sf__recon_cluster *c;

	if (r == NULL) {
		return;
	}
	atomic_store(&r->r_stop, true);
	// The watcher first (no new workers, no new desired items), then the
	// workers (no new jobs), then the reporters, and only then the
	// client they all share.
	if (r->r_watcher_started) {
		pthread_join(r->r_watcher, NULL);
	}
	for (;;) {
		pthread_mutex_lock(&r->r_mtx);
		c = r->r_clusters;
		if (c != NULL) {
			r->r_clusters = c->c_next;
		}
		pthread_mutex_unlock(&r->r_mtx);
		if (c == NULL) {
			break;
		}
		sf__recon_cluster_stop(c);
	}
	sf__recon_reporters_stop(r);
	// Only now, with nothing left to write, the clusters move on.
	sf__recon_claims_stop(r);
	svcfleet_close(r->r_client);
	pthread_mutex_destroy(&r->r_mtx);
	pthread_mutex_destroy(&r->r_jmtx);
	pthread_mutex_destroy(&r->r_smtx);
	pthread_cond_destroy(&r->r_jcv);
	if (r->r_token != NULL) {
		explicit_bzero(r->r_token, strlen(r->r_token));
	}
	free(r->r_server);
	free(r->r_token);
	free(r->r_ca_file);
	free(r);
}
