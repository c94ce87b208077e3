// main.c: svcfleetd — its option table (flags, SVCFLEET_* environment
// variables and the --config file: ops.h), signals, the server's and the
// HTTP endpoint's lifetime, and the backup/restore subcommands (backup.h).
#include <errno.h>
#include <execinfo.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>

#include "backup.h"
#include "clock.h"
#include "ops.h"
#include "gateway.h"
#include "kube.h"
#include "log.h"
#include "server.h"
#include "reconciler.h"

// The in-process RPC listener: the embedded reconciler and the HTTP
// gateway are clients of the server over it.
#define INPROC_URL "inproc://svcfleetd"

typedef struct config {
	const char *config;
	bool        check_config;
	const char *data_dir;
	sf_opt_list listen;
	const char *http;
	const char *log_level;
	long        workers;
	long        contexts;
	long        max_msg;
	bool        unsafe_nosync;
	const char *tls_cert;
	const char *tls_key;
	long        change_history;
	const char *token_file;
	long        audit_max_events;
	const char *audit_max_age;
	const char *secret_key_file;
	long        max_connections;
	long        max_connections_per_peer;
	long        max_watches;
	long        max_inflight;
	bool        no_reconciler;
	bool        audit_status_reports; // i19
	long        history_keep;         // i19
} config;

// The option table drives flags, the environment, the --config file,
// --help and validation (ops.h).
static const sf_opt options[] = {
    {"config", "SVCFLEET_CONFIG", SF_OPT_STRING, NULL,
        "configuration file of \"name = value\" lines (see below)",
        offsetof(config, config), 0, 0, NULL, NULL},
    {"check-config", "SVCFLEET_CHECK_CONFIG", SF_OPT_BOOL, "false",
        "check the configuration, print the values in effect and where "
        "each came from, and exit (0 when it is valid)",
        offsetof(config, check_config), 0, 0, NULL, NULL},
    {"data-dir", "SVCFLEET_DATA_DIR", SF_OPT_STRING, "./svcfleet-data",
        "directory of the LMDB store (created with mode 0700)",
        offsetof(config, data_dir), 0, 0, NULL, NULL},
    {"listen", "SVCFLEET_LISTEN", SF_OPT_LIST, NULL,
        "RPC listener URL (repeatable; the environment takes a comma "
        "list); tcp port 0 picks a free port",
        offsetof(config, listen), 0, 0, NULL,
        "ipc://DATA-DIR/svcfleet.sock, tcp://127.0.0.1:7070"},
    {"http", "SVCFLEET_HTTP", SF_OPT_STRING, "127.0.0.1:7071",
        "HTTP endpoint (/healthz /readyz /metrics, the JSON gateway "
        "/apis/svcfleet.io/v1 and the web console /): HOST:PORT (HTTPS "
        "when --tls-cert is set), http://HOST:PORT, https://HOST:PORT, "
        "or off",
        offsetof(config, http), 0, 0, sf_opt_check_http, NULL},
    {"log-level", "SVCFLEET_LOG_LEVEL", SF_OPT_STRING, "info",
        "debug, info, warn or error", offsetof(config, log_level), 0, 0,
        sf_opt_check_log_level, NULL},
    {"workers", "SVCFLEET_WORKERS", SF_OPT_INT, "4",
        "threads running request handlers", offsetof(config, workers), 1, 256,
        NULL, NULL},
    {"contexts", "SVCFLEET_CONTEXTS", SF_OPT_INT, "256",
        "requests in flight at once, long polls included",
        offsetof(config, contexts), 8, 65536, NULL, NULL},
    {"max-connections", "SVCFLEET_MAX_CONNECTIONS", SF_OPT_INT, "1024",
        "RPC connections open at once; more are closed as they arrive",
        offsetof(config, max_connections), 1, 1000000, NULL, NULL},
    {"max-connections-per-peer", "SVCFLEET_MAX_CONNECTIONS_PER_PEER",
        SF_OPT_INT, NULL,
        "RPC connections from one IP address at once; more are closed as "
        "they arrive",
        offsetof(config, max_connections_per_peer), 1, 1000000, NULL,
        "max-connections/4"},
    {"max-watches", "SVCFLEET_MAX_WATCHES", SF_OPT_INT, NULL,
        "WatchServices long polls waiting at once; more get "
        "RESOURCE_EXHAUSTED",
        offsetof(config, max_watches), 1, 65535, NULL, "contexts/2"},
    {"max-inflight", "SVCFLEET_MAX_INFLIGHT", SF_OPT_INT, NULL,
        "other requests in flight at once; more get RESOURCE_EXHAUSTED "
        "(at once, undecoded)",
        offsetof(config, max_inflight), 1, 65535, NULL,
        "contexts - max-watches - 8"},
    {"max-message-size", "SVCFLEET_MAX_MESSAGE_SIZE", SF_OPT_INT, "4194304",
        "largest request accepted, in bytes (larger: RESOURCE_EXHAUSTED)",
        offsetof(config, max_msg), 1024, 64 << 20, NULL, NULL},
    {"change-history", "SVCFLEET_CHANGE_HISTORY", SF_OPT_INT, "100000",
        "changes kept for WatchServices; a watcher further behind must "
        "list again (OUT_OF_RANGE)",
        offsetof(config, change_history), 1, 100000000, NULL, NULL},
    {"token-file", "SVCFLEET_TOKEN_FILE", SF_OPT_STRING, NULL,
        "static tokens in kube-apiserver's CSV format: "
        "token,user,uid,\"group1,group2\"",
        offsetof(config, token_file), 0, 0, NULL, NULL},
    {"audit-max-events", "SVCFLEET_AUDIT_MAX_EVENTS", SF_OPT_INT, "1000000",
        "audit events kept; the oldest go first",
        offsetof(config, audit_max_events), 100, 1000000000, NULL, NULL},
    {"audit-max-age", "SVCFLEET_AUDIT_MAX_AGE", SF_OPT_STRING, "90d",
        "audit events older than this are dropped (e.g. 30d, 12h)",
        offsetof(config, audit_max_age), 0, 0, sf_opt_check_duration, NULL},
    {"secret-key-file", "SVCFLEET_SECRET_KEY_FILE", SF_OPT_STRING, NULL,
        "key sealing cluster credentials in the store (32 bytes, base64; "
        "created with mode 0600 when absent); see `svcfleetd "
        "rotate-secret-key --help`",
        offsetof(config, secret_key_file), 0, 0, NULL, "DATA-DIR/secret.key"},
    {"tls-cert", "SVCFLEET_TLS_CERT", SF_OPT_STRING, NULL,
        "PEM certificate for tls+tcp:// listeners and the HTTPS endpoint",
        offsetof(config, tls_cert), 0, 0, NULL, NULL},
    {"tls-key", "SVCFLEET_TLS_KEY", SF_OPT_STRING, NULL,
        "PEM private key of --tls-cert", offsetof(config, tls_key), 0, 0, NULL,
        NULL},
    {"no-reconciler", "SVCFLEET_NO_RECONCILER", SF_OPT_BOOL, "false",
        "do not run the embedded reconciler (run svcfleet-reconciler "
        "instead)",
        offsetof(config, no_reconciler), 0, 0, NULL, NULL},
    {"unsafe-no-fsync", "SVCFLEET_UNSAFE_NO_FSYNC", SF_OPT_BOOL, "false",
        "do not fsync commits (loses acknowledged writes on a crash; "
        "benchmarks only)",
        offsetof(config, unsafe_nosync), 0, 0, NULL, NULL},
    // i19: audit that reads.
    {"audit-status-reports", "SVCFLEET_AUDIT_STATUS_REPORTS", SF_OPT_BOOL,
        "false",
        "also record the reconciler's successful status and health "
        "reports in the audit log (they are always counted in /metrics)",
        offsetof(config, audit_status_reports), 0, 0, NULL, NULL},
    {"history-keep", "SVCFLEET_HISTORY_KEEP", SF_OPT_INT, "20",
        "generations of each Service's spec kept for `svcfleet history` "
        "and rollback",
        offsetof(config, history_keep), 1, 1000, NULL, NULL},
};

static const sf_opt_table option_table = {
    .t_prog  = "svcfleetd",
    .t_usage = "usage: svcfleetd [flags]\n"
               "       svcfleetd backup --data-dir DIR --out FILE\n"
               "       svcfleetd restore --in FILE --data-dir DIR\n"
               "       svcfleetd rotate-secret-key --data-dir DIR "
               "--new-key-file F\n\n"
               "svcfleet's control-plane daemon: the Service API over nng, "
               "durable in LMDB.\n(backup, restore and rotate-secret-key "
               "--help say more about those.)\n",
    .t_opts  = options,
    .t_nopts = sizeof(options) / sizeof(options[0]),
    .t_file  = true,
};

// Checks that involve more than one option. Returns 0 or -1 with a
// message on stderr.
static int
check_config(const sf_config *cc, const void *fields)
{
	const config *cfg  = fields;
	bool          cert = cfg->tls_cert != NULL && cfg->tls_cert[0] != '\0';
	bool          key  = cfg->tls_key != NULL && cfg->tls_key[0] != '\0';
	if (cert != key) {
		fprintf(stderr, "svcfleetd: %s (from %s) needs %s too\n",
		    cert ? "--tls-cert" : "--tls-key",
		    sf_config_where(cc, cert ? "tls-cert" : "tls-key"),
		    cert ? "--tls-key" : "--tls-cert");
		return (-1);
	}
	if (strcmp(cfg->http, "off") != 0) {
		sf_status st;
		sf_status_init(&st);
		if (sf_http_parse_addr(cfg->http, cert, NULL, &st) != 0) {
			fprintf(stderr,
			    "svcfleetd: invalid value for --http (from %s): "
			    "%s\n",
			    sf_config_where(cc, "http"), st.st_msg);
			sf_status_fini(&st);
			return (-1);
		}
		sf_status_fini(&st);
	}
	return (0);
}

// A crash leaves a backtrace in the log (stderr) before the default
// action (a core dump where enabled) happens.
static void
on_fatal(int sig)
{
	static const char msg[] = "svcfleetd: fatal signal; backtrace:\n";
	void             *frames[64];
	int               n = backtrace(frames, 64);
	ssize_t           w = write(2, msg, sizeof(msg) - 1);
	(void) w;
	backtrace_symbols_fd(frames, n, 2);
	signal(sig, SIG_DFL);
	raise(sig);
}

static bool
ready_check(void *arg, sf_buf *why)
{
	return (sf_server_ready(arg, why));
}

// The embedded reconciler talks to this server over inproc://, with the
// token the server minted for it; tuning comes from the environment
// (SVCFLEET_RECONCILER_RESYNC, ...: sf_reconciler_opts_from_env).
static sf_reconciler    *embedded;
static sf_recon_metrics *embedded_metrics;
// What /readyz reads: the endpoint's threads run while main starts the
// reconciler, so they see it only once it is published here.
static _Atomic(sf_reconciler *) embedded_ready;

// /readyz: the embedded reconciler has listed the stored Services and its
// watch works. (Registered before it starts, so it reads the variable.)
static bool
recon_ready_check(void *arg, sf_buf *why)
{
	sf_reconciler *rec = atomic_load((_Atomic(sf_reconciler *) *) arg);
	if (sf_reconciler_connected(rec)) {
		return (true);
	}
	sf_buf_puts(why,
	    rec == NULL ? "the reconciler has not started"
	                : "the reconciler is not connected to "
	                  "svcfleetd yet");
	return (false);
}

static int
start_reconciler(sf_server *srv, sf_reconciler **rec)
{
	sf_reconciler_opts ro = {0};
	sf_status          st;
	int                rv;

	sf_status_init(&st);
	ro.ro_server = INPROC_URL;
	ro.ro_token  = sf_server_reconciler_token(srv);
	if ((rv = sf_reconciler_opts_from_env(&ro, &st)) != 0
	    || (rv = sf_reconciler_start(rec, &ro, &st)) != 0) {
		fprintf(stderr, "svcfleetd: reconciler: %s: %s\n",
		    sf_status_name(st.st_code), st.st_msg);
	}
	sf_status_fini(&st);
	return (rv);
}

int
main(int argc, char **argv)
{
	config      cfg = {0};
	sf_config   cc;
	sf_status   st;
	sf_server  *srv     = NULL;
	sf_metrics *metrics = NULL;
	sf_http    *http    = NULL;
	sf_gateway *gw      = NULL;
	sigset_t    sigs;
	int         sig, rv, code = 1;
	int64_t     audit_age = 0;
	bool        served    = false;

	if (argc > 1 && strcmp(argv[1], "rotate-secret-key") == 0) {
		return (sf_secrets_rotate_main(argc - 1, argv + 1));
	}
	if (argc > 1
	    && (strcmp(argv[1], "backup") == 0
	        || strcmp(argv[1], "restore") == 0)) {
		return (sf_backup_main(argc - 1, argv + 1));
	}
	// --help, --version, --check-config or a bad option end here (with
	// the configuration already released); -1 goes on.
	if ((rv = sf_config_main(
	         &cc, &option_table, &cfg, argc, argv, check_config))
	    >= 0) {
		return (rv);
	}
	sf_status_init(&st);
	sf_log_set_level(sf_log_level_parse(cfg.log_level));
	sf_duration_parse(cfg.audit_max_age, &audit_age);

	// Signals are taken by this thread only (sigwait below); every
	// thread started from here on inherits the mask.
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (getenv("ASAN_OPTIONS") == NULL) {
		// (The sanitizers print better reports of their own.)
		signal(SIGSEGV, on_fatal);
		signal(SIGBUS, on_fatal);
		signal(SIGABRT, on_fatal);
		signal(SIGFPE, on_fatal);
	}

	bool http_on = strcmp(cfg.http, "off") != 0;
	if (http_on && sf_metrics_alloc(&metrics) != 0) {
		fprintf(stderr, "svcfleetd: out of memory\n");
		goto out;
	}
	sf_server_opts o = {
	    .so_data_dir         = cfg.data_dir,
	    .so_listen           = cfg.listen.l_items,
	    .so_nlisten          = cfg.listen.l_n,
	    .so_workers          = (unsigned) cfg.workers,
	    .so_contexts         = (unsigned) cfg.contexts,
	    .so_max_msg          = (size_t) cfg.max_msg,
	    .so_nosync           = cfg.unsafe_nosync,
	    .so_tls_cert         = cfg.tls_cert,
	    .so_tls_key          = cfg.tls_key,
	    .so_feed_keep        = (uint32_t) cfg.change_history,
	    .so_token_file       = cfg.token_file,
	    .so_audit_keep       = (uint64_t) cfg.audit_max_events,
	    .so_audit_max_age_ms = audit_age,
	    .so_metrics          = metrics,
	    .so_secret_key_file  = cfg.secret_key_file,
	    .so_max_connections  = (unsigned) cfg.max_connections,
	    .so_max_connections_per_peer
	    = (unsigned) cfg.max_connections_per_peer,
	    .so_max_watches  = (unsigned) cfg.max_watches,
	    .so_max_inflight = (unsigned) cfg.max_inflight,
	    .so_inproc = !cfg.no_reconciler || http_on ? INPROC_URL : NULL,
	};
	o.so_audit_system_reports = cfg.audit_status_reports; // i19
	o.so_history_keep         = (uint32_t) cfg.history_keep;
	if (sf_server_start(&srv, &o, &st) != 0) {
		fprintf(stderr, "svcfleetd: %s: %s\n",
		    sf_status_name(st.st_code), st.st_msg);
		goto out;
	}
	if (http_on) {
		sf_http_opts ho = {
		    .ho_addr     = cfg.http,
		    .ho_tls_cert = cfg.tls_cert,
		    .ho_tls_key  = cfg.tls_key,
		    .ho_metrics  = metrics,
		    .ho_name     = "svcfleetd",
		};
		sf_gateway_opts go = {.go_rpc_url = INPROC_URL};
		if (sf_http_alloc(&http, &ho, &st) != 0
		    || sf_http_add_check(http, "store", ready_check, srv) != 0
		    || (!cfg.no_reconciler
		        && sf_http_add_check(http, "reconciler",
		               recon_ready_check, &embedded_ready)
		            != 0)
		    || sf_gateway_alloc(&gw, &go, &st) != 0
		    || sf_gateway_add_routes(gw, http) != 0
		    || sf_http_start(http, &st) != 0) {
			fprintf(stderr, "svcfleetd: %s: %s\n",
			    sf_status_name(st.st_code), st.st_msg);
			goto out;
		}
	}
	if (cfg.unsafe_nosync) {
		SF_WARN("server",
		    "fsync is off (--unsafe-no-fsync): a crash "
		    "can lose acknowledged writes");
	}
	if (cc.c_file != NULL) {
		SF_INFO("server", "configuration file %s", cc.c_file);
	}
	SF_INFO("server", "svcfleetd %s serving data-dir=%s", SF_VERSION,
	    cfg.data_dir);
	if (!cfg.no_reconciler
	    && (start_reconciler(srv, &embedded) != 0
	        || (metrics != NULL
	            && sf_recon_metrics_attach(
	                   &embedded_metrics, embedded, metrics)
	                != 0))) {
		goto out;
	}
	atomic_store(&embedded_ready, embedded);
	sigwait(&sigs, &sig);
	SF_INFO("server", "%s received, shutting down",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	served = true;
	code   = 0;

out:
	// One teardown, in reverse order of start; each step is a no-op for
	// what never started (nng_fini and sf_kube_global_fini too, when
	// nng and curl were never used). The endpoint goes first: its
	// readiness check and collectors use the server (and the reconciler),
	// which are stopped next. (An orchestrator stops routing to a pod when
	// it sends SIGTERM, so /readyz has nothing more to say.) Closing the
	// gateway before it ends the gateway's long polls, so stopping the
	// endpoint does not wait for them.
	sf_gateway_close(gw);
	sf_http_free(http);
	sf_gateway_free(gw);
	// The reconciler is a client of the server: it goes before it.
	sf_recon_metrics_detach(embedded_metrics);
	sf_reconciler_stop(embedded);
	sf_server_stop(srv);
	sf_metrics_free(metrics);
	// nng frees closed sockets on its reaper thread; wait for it so the
	// process ends with nothing outstanding.
	nng_fini();
	sf_kube_global_fini();
	if (served) {
		SF_INFO("server", "stopped");
	}
	sf_status_fini(&st);
	sf_config_fini(&cc);
	return (code);
}
