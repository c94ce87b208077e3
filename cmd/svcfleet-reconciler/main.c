// main.c: svcfleet-reconciler — the reconciler as its own service: its
// option table (flags, SVCFLEET_RECONCILER_* environment variables and the
// --config file, through ops.h's engine as svcfleetd's), signals, and the
// reconciler's and the HTTP endpoint's lifetime.
//
//   svcfleet-reconciler --server URL --token-file F [--shard I/N] ...
//
// SIGTERM/SIGINT stop it: requests in flight are cancelled, nothing
// half-done is left (every apply is idempotent).
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <nng/nng.h>

#include "clock.h"
#include "file.h"
#include "kube.h"
#include "log.h"
#include "ops.h"
#include "reconciler.h"

// The longest token file read.
#define TOKEN_MAX 4096

typedef struct config {
	const char          *config;
	bool                 check_config;
	const char          *server;
	const char          *token_file;
	const char          *ca_file;
	const char          *shard;
	sf_reconciler_tuning tuning;
	const char          *stats_every;
	const char          *http;
	const char          *log_level;
	// Cluster claims (issue 16).
	const char *id;
	const char *lease_ttl;
	bool allow_core_dumps; // issue 20: was read from the CLI's prefix
} config;

static bool
check_shard(const char *v, sf_buf *why)
{
	unsigned i, n;
	char     extra;
	if (sscanf(v, "%u/%u%c", &i, &n, &extra) != 2 || n == 0 || i >= n) {
		sf_buf_puts(why, "want I/N with 0 <= I < N, e.g. 0/2");
		return (false);
	}
	return (true);
}

// The option table drives flags, the environment, the --config file,
// --help and validation (ops.h).
static const sf_opt options[] = {
    {"config", "SVCFLEET_RECONCILER_CONFIG", SF_OPT_STRING, NULL,
        "configuration file of \"name = value\" lines (see below)",
        offsetof(config, config), 0, 0, NULL, NULL},
    {"check-config", "SVCFLEET_RECONCILER_CHECK_CONFIG", SF_OPT_BOOL, "false",
        "check the configuration, print the values in effect and where "
        "each came from, and exit (0 when it is valid)",
        offsetof(config, check_config), 0, 0, NULL, NULL},
    {"server", "SVCFLEET_RECONCILER_SERVER", SF_OPT_STRING, NULL,
        "svcfleetd URL (ipc://, tcp://, tls+tcp://), or URL,URL,... of "
        "replicas (a call moves to the next on UNAVAILABLE)",
        offsetof(config, server), 0, 0, NULL, "none: required"},
    {"token-file", "SVCFLEET_RECONCILER_TOKEN_FILE", SF_OPT_STRING, NULL,
        "file holding a bearer token with the reconciler role",
        offsetof(config, token_file), 0, 0, NULL, "none: required"},
    {"ca-file", "SVCFLEET_RECONCILER_CA_FILE", SF_OPT_STRING, NULL,
        "CA bundle verifying a tls+tcp:// server", offsetof(config, ca_file),
        0, 0, NULL, NULL},
    {"shard", "SVCFLEET_RECONCILER_SHARD", SF_OPT_STRING, NULL,
        "I/N: a static pin: handle only the clusters whose name hashes to "
        "shard I of N, without claims or fencing (0/1: every cluster)",
        offsetof(config, shard), 0, 0, check_shard,
        "none: claim clusters through svcfleetd"},
    SF_RECONCILER_TUNING_OPTS(config, tuning),
    {"stats-every", "SVCFLEET_RECONCILER_STATS_EVERY", SF_OPT_STRING, NULL,
        "log a statistics line this often (e.g. 10s)",
        offsetof(config, stats_every), 0, 0, sf_reconciler_check_duration,
        "never"},
    {"http", "SVCFLEET_RECONCILER_HTTP", SF_OPT_STRING, "off",
        "HTTP endpoint with /healthz, /readyz and /metrics: HOST:PORT, "
        "http://HOST:PORT, or off",
        offsetof(config, http), 0, 0, sf_opt_check_http, NULL},
    {"log-level", "SVCFLEET_RECONCILER_LOG_LEVEL", SF_OPT_STRING, "info",
        "debug, info, warn or error", offsetof(config, log_level), 0, 0,
        sf_opt_check_log_level, NULL},
    // Cluster claims (issue 16).
    {"id", "SVCFLEET_RECONCILER_ID", SF_OPT_STRING, NULL,
        "this reconciler's id among the live ones (unique)",
        offsetof(config, id), 0, 0, NULL, "HOSTNAME-PID"},
    SF_RECONCILER_LEASE_TTL_OPT(config, lease_ttl),
    // issue 20: an option like the others (it was SVCFLEET_ALLOW_CORE_DUMPS
    // only).
    {"allow-core-dumps", "SVCFLEET_RECONCILER_ALLOW_CORE_DUMPS", SF_OPT_BOOL,
        "false",
        "let the kernel dump core (and other users' tools read this "
        "process' memory); off by default because the memory holds "
        "cluster credentials",
        offsetof(config, allow_core_dumps), 0, 0, NULL, NULL},
};

// The variables were named SVCFLEET_* before, the prefix that belongs to
// the CLI (DESIGN §8): the former names are still read, with a warning.
static const sf_opt_renamed renamed[] = {
    {"SVCFLEET_RECONCILER_SERVER", "SVCFLEET_SERVER"},
    {"SVCFLEET_RECONCILER_TOKEN_FILE", "SVCFLEET_TOKEN_FILE"},
    {"SVCFLEET_RECONCILER_CA_FILE", "SVCFLEET_CA_FILE"},
    {"SVCFLEET_RECONCILER_SHARD", "SVCFLEET_SHARD"},
    {"SVCFLEET_RECONCILER_RESYNC", "SVCFLEET_RESYNC"},
    {"SVCFLEET_RECONCILER_MAX_INFLIGHT", "SVCFLEET_MAX_INFLIGHT"},
    {"SVCFLEET_RECONCILER_MAX_CONNS", "SVCFLEET_MAX_CONNS"},
    {"SVCFLEET_RECONCILER_BACKOFF_MAX", "SVCFLEET_BACKOFF_MAX"},
    {"SVCFLEET_RECONCILER_STATS_EVERY", "SVCFLEET_STATS_EVERY"},
    {"SVCFLEET_RECONCILER_HTTP", "SVCFLEET_HTTP"},
    {"SVCFLEET_RECONCILER_LOG_LEVEL", "SVCFLEET_LOG_LEVEL"},
    {"SVCFLEET_RECONCILER_ALLOW_CORE_DUMPS", "SVCFLEET_ALLOW_CORE_DUMPS"},
};

static const sf_opt_table option_table = {
    .t_prog     = "svcfleet-reconciler",
    .t_usage    = "usage: svcfleet-reconciler --server URL --token-file FILE "
                  "[flags]\n\n"
                  "Makes the Services stored in svcfleetd real in every "
                  "registered cluster:\napplies, heals drift, prunes, "
                  "reports status. Reconcilers register with svcfleetd and "
                  "claim clusters:\nany number share them, and a dead "
                  "one's clusters move to the others\nwithin the lease "
                  "TTL. --shard I/N pins a static share instead.\n",
    .t_opts     = options,
    .t_nopts    = sizeof(options) / sizeof(options[0]),
    .t_file     = true,
    .t_renamed  = renamed,
    .t_nrenamed = sizeof(renamed) / sizeof(renamed[0]),
};

// Checks beyond one option's value: the required options, and an HTTP
// endpoint without TLS (there is no certificate option). Returns 0 or -1
// with a message on stderr.
static int
check_config(const sf_config *cc, const void *fields)
{
	const config *cfg = fields;
	if (cfg->server == NULL || cfg->token_file == NULL) {
		fprintf(stderr,
		    "svcfleet-reconciler: --server and --token-file are "
		    "required (see --help)\n");
		return (-1);
	}
	if (strncmp(cfg->http, "https://", 8) == 0) {
		fprintf(stderr,
		    "svcfleet-reconciler: invalid value \"%s\" for --http "
		    "(from %s): the endpoint serves plain HTTP only\n",
		    cfg->http, sf_config_where(cc, "http"));
		return (-1);
	}
	return (0);
}

// read_token returns the token in path, blanks at its end trimmed
// (malloc'd), or NULL with errno set.
static char *
read_token(const char *path)
{
	size_t n;
	char  *s = sf_file_read(path, TOKEN_MAX, &n);

	while (s != NULL && n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL) {
		s[--n] = '\0';
	}
	return (s);
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
	}
	sf_status_fini(&st);
	return (rv);
}

// Waits for SIGTERM or SIGINT, logging statistics every stats_ms (0:
// never) meanwhile; returns the signal.
static int
wait_for_signal(sf_reconciler *r, const sigset_t *sigs, uint32_t stats_ms)
{
	int sig;

	for (;;) {
		struct timespec ts
		    = {stats_ms / 1000, (stats_ms % 1000) * 1000000L};
		if (stats_ms == 0) {
			sigwait(sigs, &sig);
			return (sig);
		}
		if ((sig = sigtimedwait(sigs, NULL, &ts)) > 0) {
			return (sig);
		}
		sf_reconciler_stats st;
		long long           heap_used = -1, heap_free = -1;
#ifdef __GLIBC__
		struct mallinfo2 mi = mallinfo2();
		heap_used           = (long long) (mi.uordblks + mi.hblkhd);
		heap_free           = (long long) mi.fordblks;
#endif
		sf_reconciler_stats_get(r, &st);
		SF_INFO("recon",
		    "stats heap_used=%lld heap_free=%lld "
		    "clusters=%u objects=%llu synced=%llu applies=%llu "
		    "deletes=%llu reports=%llu heals=%llu heal_p99_ms=%llu",
		    heap_used, heap_free, st.rs_clusters,
		    (unsigned long long) st.rs_objects,
		    (unsigned long long) st.rs_synced,
		    (unsigned long long) st.rs_applies,
		    (unsigned long long) st.rs_deletes,
		    (unsigned long long) st.rs_reports,
		    (unsigned long long) st.rs_drift_heals,
		    (unsigned long long) st.rs_heal_ms_p99);
	}
}

int
main(int argc, char **argv)
{
	config             cfg = {0};
	sf_config          cc;
	sf_reconciler_opts o = {0};
	sf_reconciler     *r = NULL;
	sf_status          st;
	sigset_t           sigs;
	char              *token    = NULL;
	int64_t            stats_ms = 0;
	sf_metrics        *metrics  = NULL;
	sf_recon_metrics  *rmetrics = NULL;
	sf_http           *http     = NULL;
	int                rv, sig, status = 1;

	if ((rv = sf_config_main(
	         &cc, &option_table, &cfg, argc, argv, check_config))
	    >= 0) {
		return (rv);
	}
	// The table checked every value: what follows only converts.
	sf_log_set_level(sf_log_level_parse(cfg.log_level));
	// Cluster tokens live in this process' memory: no core dumps, no
	// ptrace by the same user, unless asked (issue 17, finding 18).
	if (!cfg.allow_core_dumps && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		SF_WARN(
		    "main", "cannot turn core dumps off: %s", strerror(errno));
	}
	if (cfg.shard != NULL) {
		sscanf(cfg.shard, "%u/%u", &o.ro_shard, &o.ro_shards);
		o.ro_no_claims = true; // a static pin (0/1: every cluster)
	}
	if (cfg.lease_ttl != NULL) {
		sf_duration_parse(cfg.lease_ttl, &o.ro_ttl_ms);
	}
	o.ro_id = cfg.id;
	sf_reconciler_tuning_apply(&cfg.tuning, &o);
	if (cfg.stats_every != NULL) {
		sf_duration_parse(cfg.stats_every, &stats_ms);
	}
	if ((token = read_token(cfg.token_file)) == NULL || token[0] == '\0') {
		fprintf(stderr,
		    "svcfleet-reconciler: cannot read a token from %s: %s\n",
		    cfg.token_file,
		    token ? "the file is empty" : strerror(errno));
		free(token);
		sf_config_fini(&cc);
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
	rv = sf_reconciler_start(&r, &o, &st);
	// The reconciler keeps its own copy.
	explicit_bzero(token, strlen(token));
	free(token);
	if (rv != 0) {
		fprintf(stderr, "svcfleet-reconciler: %s: %s\n",
		    sf_status_name(st.st_code), st.st_msg);
		goto out;
	}
	if (strcmp(cfg.http, "off") != 0
	    && start_http(&cfg, r, &metrics, &rmetrics, &http) != 0) {
		goto out;
	}
	sig = wait_for_signal(r, &sigs, (uint32_t) stats_ms);
	SF_INFO("recon", "%s received, stopping",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	status = 0;
out:
	// The endpoint's collector reads the reconciler: it goes first.
	sf_http_free(http);
	sf_recon_metrics_detach(rmetrics);
	sf_metrics_free(metrics);
	sf_reconciler_stop(r);
	sf_status_fini(&st);
	sf_kube_global_fini();
	nng_fini();
	sf_config_fini(&cc);
	return (status);
}
