// main.c: svcfleet-reconciler — the reconciler as its own service.
//
//   svcfleet-reconciler --server URL --token-file F [--shard I/N] ...
//
// Every flag also reads from an environment variable (SVCFLEET_SERVER,
// SVCFLEET_TOKEN_FILE, ...). SIGTERM/SIGINT stop it: requests in flight
// are cancelled, nothing half-done is left (every apply is idempotent).
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <nng/nng.h>

#include "clock.h"
#include "ops.h"
#include "kube.h"
#include "log.h"
#include "reconciler.h"

typedef struct config {
	const char *server;
	const char *token_file;
	const char *ca_file;
	const char *shard;
	const char *resync;
	const char *log_level;
	const char *max_inflight;
	const char *max_conns;
	const char *backoff_max;
	const char *stats_every;
	const char *http;
} config;

static const struct flag {
	const char *name;
	const char *env;
	size_t      off;
	const char *help;
} flags[] = {
    {"server", "SVCFLEET_SERVER", offsetof(config, server),
        "svcfleetd URL (ipc://, tcp://, tls+tcp://); required"},
    {"token-file", "SVCFLEET_TOKEN_FILE", offsetof(config, token_file),
        "file holding a bearer token with the reconciler role; required"},
    {"ca-file", "SVCFLEET_CA_FILE", offsetof(config, ca_file),
        "CA bundle verifying a tls+tcp:// server"},
    {"shard", "SVCFLEET_SHARD", offsetof(config, shard),
        "I/N: handle only the clusters whose name hashes to shard I of N"},
    {"resync", "SVCFLEET_RESYNC", offsetof(config, resync),
        "full resync period (list each cluster, compare in memory); "
        "default 5m"},
    {"max-inflight", "SVCFLEET_MAX_INFLIGHT", offsetof(config, max_inflight),
        "requests in flight per cluster; default 16"},
    {"max-conns", "SVCFLEET_MAX_CONNS", offsetof(config, max_conns),
        "connections per cluster API server; default 6"},
    {"backoff-max", "SVCFLEET_BACKOFF_MAX", offsetof(config, backoff_max),
        "longest per-object retry delay; default 30s"},
    {"stats-every", "SVCFLEET_STATS_EVERY", offsetof(config, stats_every),
        "log a statistics line this often (e.g. 10s); default never"},
    {"http", "SVCFLEET_HTTP", offsetof(config, http),
        "HOST:PORT of an HTTP endpoint with /healthz and /metrics; "
        "default none"},
    {"log-level", "SVCFLEET_LOG_LEVEL", offsetof(config, log_level),
        "debug, info, warn or error; default info"},
};

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: svcfleet-reconciler --server URL --token-file FILE "
	    "[flags]\n\n"
	    "Makes the Services stored in svcfleetd real in every registered "
	    "cluster:\napplies, heals drift, prunes, reports status. N "
	    "reconcilers started with\n--shard 0/N .. N-1/N split the "
	    "clusters between them.\n\nflags (environment variable):\n");
	for (size_t i = 0; i < NFLAGS; i++) {
		fprintf(f, "  --%-14s %s\n  %-16s (%s)\n", flags[i].name,
		    flags[i].help, "", flags[i].env);
	}
}

static int
parse(config *cfg, int argc, char **argv)
{
	for (size_t i = 0; i < NFLAGS; i++) {
		const char *v = getenv(flags[i].env);
		if (v != NULL && v[0] != '\0') {
			*(const char **) ((char *) cfg + flags[i].off) = v;
		}
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		char        name[64];
		size_t      k;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--version") == 0) {
			printf("svcfleet-reconciler %s\n", SF_VERSION);
			exit(0);
		}
		if (strncmp(a, "--", 2) != 0) {
			fprintf(stderr,
			    "svcfleet-reconciler: unexpected argument \"%s\" "
			    "(see --help)\n",
			    a);
			return (-1);
		}
		snprintf(name, sizeof(name), "%s", a + 2);
		if (strchr(name, '=') != NULL) {
			*strchr(name, '=') = '\0';
			val                = strchr(a, '=') + 1;
		}
		for (k = 0; k < NFLAGS && strcmp(flags[k].name, name) != 0;
		     k++) {
		}
		if (k == NFLAGS) {
			fprintf(stderr,
			    "svcfleet-reconciler: unknown flag --%s (see "
			    "--help)\n",
			    name);
			return (-1);
		}
		if (val == NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr,
				    "svcfleet-reconciler: --%s needs a "
				    "value\n",
				    name);
				return (-1);
			}
			val = argv[++i];
		}
		*(const char **) ((char *) cfg + flags[k].off) = val;
	}
	return (0);
}

static char *
read_token(const char *path)
{
	FILE  *f = fopen(path, "r");
	char   buf[4096];
	size_t n;

	if (f == NULL) {
		return (NULL);
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0
	    && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '
	        || buf[n - 1] == '\t')) {
		buf[--n] = '\0';
	}
	return (strdup(buf));
}

static int
parse_uint(const char *s, const char *what, unsigned *out)
{
	char         *end;
	unsigned long v;
	errno = 0;
	v     = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v == 0 || v > 100000) {
		fprintf(stderr,
		    "svcfleet-reconciler: invalid --%s \"%s\": want a number "
		    "from 1 to 100000\n",
		    what, s);
		return (-1);
	}
	*out = (unsigned) v;
	return (0);
}

static int
parse_ms(const char *s, const char *what, uint32_t *out)
{
	int64_t ms;
	if (sf_duration_parse(s, &ms) != 0 || ms <= 0 || ms > 86400000) {
		fprintf(stderr,
		    "svcfleet-reconciler: invalid --%s \"%s\": want a "
		    "duration such as 30s or 5m\n",
		    what, s);
		return (-1);
	}
	*out = (uint32_t) ms;
	return (0);
}

// The HTTP endpoint: /healthz and the reconciler's /metrics.
static int
start_http(const config *cfg, sf_reconciler *r, sf_metrics **metrics,
    sf_recon_metrics **rmetrics, sf_http **http)
{
	sf_status    st;
	sf_http_opts ho = {
	    .ho_addr = cfg->http,
	    .ho_name = "svcfleet-reconciler",
	};
	int rv;

	sf_status_init(&st);
	if ((rv = sf_metrics_alloc(metrics)) != 0
	    || (rv = sf_recon_metrics_attach(rmetrics, r, *metrics)) != 0) {
		fprintf(stderr, "svcfleet-reconciler: out of memory\n");
		sf_status_fini(&st);
		return (rv);
	}
	ho.ho_metrics = *metrics;
	if ((rv = sf_http_alloc(http, &ho, &st)) != 0
	    || (rv = sf_http_start(*http, &st)) != 0) {
		fprintf(stderr, "svcfleet-reconciler: --http %s: %s\n",
		    cfg->http, st.st_msg);
		sf_http_free(*http);
		*http = NULL;
		sf_recon_metrics_detach(*rmetrics);
		*rmetrics = NULL;
		sf_metrics_free(*metrics);
		*metrics = NULL;
	}
	sf_status_fini(&st);
	return (rv);
}

int
main(int argc, char **argv)
{
	config             cfg = {0};
	sf_reconciler_opts o   = {0};
	sf_reconciler     *r;
	sf_status          st;
	sigset_t           sigs;
	char              *token;
	uint32_t           stats_ms = 0;
	int                lvl, sig;
	sf_metrics        *metrics  = NULL;
	sf_recon_metrics  *rmetrics = NULL;
	sf_http           *http     = NULL;

	if (parse(&cfg, argc, argv) != 0) {
		return (2);
	}
	if (cfg.server == NULL || cfg.token_file == NULL) {
		fprintf(stderr,
		    "svcfleet-reconciler: --server and --token-file are "
		    "required (see --help)\n");
		return (2);
	}
	if ((lvl = sf_log_level_parse(cfg.log_level ? cfg.log_level : "info"))
	    < 0) {
		fprintf(stderr,
		    "svcfleet-reconciler: invalid log level \"%s\"\n",
		    cfg.log_level);
		return (2);
	}
	sf_log_set_level(lvl);
	if (cfg.shard != NULL) {
		unsigned i, n;
		char     extra;
		if (sscanf(cfg.shard, "%u/%u%c", &i, &n, &extra) != 2 || n == 0
		    || i >= n) {
			fprintf(stderr,
			    "svcfleet-reconciler: invalid --shard \"%s\": "
			    "want I/N with 0 <= I < N, e.g. 0/2\n",
			    cfg.shard);
			return (2);
		}
		o.ro_shard  = i;
		o.ro_shards = n;
	}
	if ((cfg.resync && parse_ms(cfg.resync, "resync", &o.ro_resync_ms))
	    || (cfg.backoff_max
	        && parse_ms(
	            cfg.backoff_max, "backoff-max", &o.ro_backoff_max_ms))
	    || (cfg.stats_every
	        && parse_ms(cfg.stats_every, "stats-every", &stats_ms))
	    || (cfg.max_inflight
	        && parse_uint(
	            cfg.max_inflight, "max-inflight", &o.ro_max_inflight))
	    || (cfg.max_conns
	        && parse_uint(cfg.max_conns, "max-conns", &o.ro_max_conns))) {
		return (2);
	}
	if ((token = read_token(cfg.token_file)) == NULL || token[0] == '\0') {
		fprintf(stderr,
		    "svcfleet-reconciler: cannot read a token from %s: %s\n",
		    cfg.token_file,
		    token ? "the file is empty" : strerror(errno));
		free(token);
		return (1);
	}
	o.ro_server  = cfg.server;
	o.ro_token   = token;
	o.ro_ca_file = cfg.ca_file;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	sf_kube_global_init();
	sf_status_init(&st);
	if (sf_reconciler_start(&r, &o, &st) != 0) {
		fprintf(stderr, "svcfleet-reconciler: %s: %s\n",
		    sf_status_name(st.st_code), st.st_msg);
		sf_status_fini(&st);
		explicit_bzero(token, strlen(token));
		free(token);
		sf_kube_global_fini();
		return (1);
	}
	explicit_bzero(token, strlen(token));
	free(token);
	if (cfg.http != NULL
	    && start_http(&cfg, r, &metrics, &rmetrics, &http) != 0) {
		sf_reconciler_stop(r);
		sf_status_fini(&st);
		sf_kube_global_fini();
		nng_fini();
		return (1);
	}
	for (;;) {
		struct timespec ts
		    = {stats_ms / 1000, (stats_ms % 1000) * 1000000L};
		if (stats_ms == 0) {
			sigwait(&sigs, &sig);
			break;
		}
		if ((sig = sigtimedwait(&sigs, NULL, &ts)) > 0) {
			break;
		}
		sf_reconciler_stats st2;
		long long           heap_used = -1, heap_free = -1;
#ifdef __GLIBC__
		struct mallinfo2 mi = mallinfo2();
		heap_used           = (long long) (mi.uordblks + mi.hblkhd);
		heap_free           = (long long) mi.fordblks;
#endif
		sf_reconciler_stats_get(r, &st2);
		SF_INFO("recon",
		    "stats heap_used=%lld heap_free=%lld "
		    "clusters=%u objects=%llu synced=%llu applies=%llu "
		    "deletes=%llu reports=%llu heals=%llu heal_p99_ms=%llu",
		    heap_used, heap_free, st2.rs_clusters,
		    (unsigned long long) st2.rs_objects,
		    (unsigned long long) st2.rs_synced,
		    (unsigned long long) st2.rs_applies,
		    (unsigned long long) st2.rs_deletes,
		    (unsigned long long) st2.rs_reports,
		    (unsigned long long) st2.rs_drift_heals,
		    (unsigned long long) st2.rs_heal_ms_p99);
	}
	SF_INFO("recon", "%s received, stopping",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	sf_http_free(http);
	sf_recon_metrics_detach(rmetrics);
	sf_metrics_free(metrics);
	sf_reconciler_stop(r);
	sf_status_fini(&st);
	sf_kube_global_fini();
	nng_fini();
	return (0);
}
