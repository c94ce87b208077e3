// main.c: svcfleetd — its option table (flags, SVCFLEETD_* environment
// variables and the --config file: ops.h), signals, the server's and the
// HTTP endpoint's lifetime, and the backup/restore subcommands (backup.h).
//
// It is one file of about 900 lines because some 240 of them are the
// option table's rows and most of the rest is main()'s one start-up and
// its one unwind in reverse order; split apart, the pieces would share the
// private config struct through a header with no other reader.
#include <errno.h>
#include <execinfo.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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
	const char *token_auth_file;
	long        audit_max_events;
	const char *audit_max_age;
	const char *secret_key_file;
	long        max_connections;
	long        max_connections_per_peer;
	long        max_watches;
	long        max_inflight;
	bool        no_reconciler;
	bool        allow_core_dumps;     // issue 17
	long        max_watches_per_user; // issue 17
	long        bulk_rate;            // i17-rate
	const char *idle_timeout;         // issue 17
	// The HTTP endpoint against hostile clients (issue 17).
	const char *metrics;
	const char *allowed_hosts;
	const char *header_timeout;
	// Several replicas on etcd (issue 15, DESIGN.md §9).
	const char *store;
	const char *etcd_endpoints;
	const char *etcd_ca_file;
	const char *etcd_cert_file;
	const char *etcd_key_file;
	const char *etcd_prefix;
	long        etcd_timeout_ms;
	long        etcd_max_request_bytes;
	bool        audit_status_reports; // i19
	long        history_keep;         // i19
} config;

// --metrics: token, public or an address of its own.
static bool
check_metrics(const char *v, sf_buf *why)
{
	if (strcmp(v, "token") == 0 || strcmp(v, "public") == 0
	    || sf_opt_check_http(v, why)) {
		if (strcmp(v, "off") == 0) {
			sf_buf_puts(why, "want token, public or HOST:PORT");
			return (false);
		}
		return (true);
	}
	sf_buf_reset(why);
	sf_buf_puts(why, "want token, public or HOST:PORT");
	return (false);
}

// The option table drives flags, the environment, the --config file,
// --help and validation (ops.h).
static bool check_store_name(const char *v, sf_buf *why);

static const sf_opt options[] = {
    {"config", "SVCFLEETD_CONFIG", SF_OPT_STRING, NULL,
        "configuration file of \"name = value\" lines (see below)",
        offsetof(config, config), 0, 0, NULL, NULL},
    {"check-config", "SVCFLEETD_CHECK_CONFIG", SF_OPT_BOOL, "false",
        "check the configuration, print the values in effect and where "
        "each came from, and exit (0 when it is valid)",
        offsetof(config, check_config), 0, 0, NULL, NULL},
    {"data-dir", "SVCFLEETD_DATA_DIR", SF_OPT_STRING, "./svcfleet-data",
        "directory of the LMDB store (created with mode 0700)",
        offsetof(config, data_dir), 0, 0, NULL, NULL},
    {"listen", "SVCFLEETD_LISTEN", SF_OPT_LIST, NULL,
        "RPC listener URL (repeatable; the environment takes a comma "
        "list); tcp port 0 picks a free port",
        offsetof(config, listen), 0, 0, NULL,
        "ipc://DATA-DIR/svcfleet.sock, tcp://127.0.0.1:7070"},
    {"http", "SVCFLEETD_HTTP", SF_OPT_STRING, "127.0.0.1:7071",
        "HTTP endpoint (/healthz /readyz /metrics, the JSON gateway "
        "/apis/svcfleet.io/v1 and the web console /): HOST:PORT (HTTPS "
        "when --tls-cert is set), http://HOST:PORT, https://HOST:PORT, "
        "or off",
        offsetof(config, http), 0, 0, sf_opt_check_http, NULL},
    {"log-level", "SVCFLEETD_LOG_LEVEL", SF_OPT_STRING, "info",
        "debug, info, warn or error", offsetof(config, log_level), 0, 0,
        sf_opt_check_log_level, NULL},
    {"workers", "SVCFLEETD_WORKERS", SF_OPT_INT, "4",
        "threads running request handlers", offsetof(config, workers), 1, 256,
        NULL, NULL},
    {"contexts", "SVCFLEETD_CONTEXTS", SF_OPT_INT, "256",
        "requests in flight at once, long polls included",
        offsetof(config, contexts), 8, 65536, NULL, NULL},
    {"max-connections", "SVCFLEETD_MAX_CONNECTIONS", SF_OPT_INT, "1024",
        "RPC connections open at once; more are closed as they arrive",
        offsetof(config, max_connections), 1, 1000000, NULL, NULL},
    {"max-connections-per-peer", "SVCFLEETD_MAX_CONNECTIONS_PER_PEER",
        SF_OPT_INT, NULL,
        "RPC connections from one IP address at once; more are closed as "
        "they arrive",
        offsetof(config, max_connections_per_peer), 1, 1000000, NULL,
        "max-connections/4"},
    {"max-watches", "SVCFLEETD_MAX_WATCHES", SF_OPT_INT, NULL,
        "WatchServices long polls waiting at once; more get "
        "RESOURCE_EXHAUSTED",
        offsetof(config, max_watches), 1, 65535, NULL, "contexts/2"},
    {"max-inflight", "SVCFLEETD_MAX_INFLIGHT", SF_OPT_INT, NULL,
        "other requests in flight at once; more get RESOURCE_EXHAUSTED "
        "(at once, undecoded)",
        offsetof(config, max_inflight), 1, 65535, NULL,
        "contexts - max-watches - 8"},
    {"max-message-size", "SVCFLEETD_MAX_MESSAGE_SIZE", SF_OPT_INT, "4194304",
        "largest request accepted, in bytes (larger: RESOURCE_EXHAUSTED)",
        offsetof(config, max_msg), 1024, 64 << 20, NULL, NULL},
    {"change-history", "SVCFLEETD_CHANGE_HISTORY", SF_OPT_INT, "100000",
        "changes kept for WatchServices; a watcher further behind must "
        "list again (OUT_OF_RANGE)",
        offsetof(config, change_history), 1, 100000000, NULL, NULL},
    {"token-auth-file", "SVCFLEETD_TOKEN_AUTH_FILE", SF_OPT_STRING, NULL,
        "static tokens in kube-apiserver's CSV format (its "
        "--token-auth-file): token,user,uid,\"group1,group2\"",
        offsetof(config, token_auth_file), 0, 0, NULL, NULL},
    {"audit-max-events", "SVCFLEETD_AUDIT_MAX_EVENTS", SF_OPT_INT, "1000000",
        "audit events kept; the oldest go first",
        offsetof(config, audit_max_events), 100, 1000000000, NULL, NULL},
    {"audit-max-age", "SVCFLEETD_AUDIT_MAX_AGE", SF_OPT_STRING, "90d",
        "audit events older than this are dropped (e.g. 30d, 12h)",
        offsetof(config, audit_max_age), 0, 0, sf_opt_check_duration, NULL},
    {"secret-key-file", "SVCFLEETD_SECRET_KEY_FILE", SF_OPT_STRING, NULL,
        "key sealing cluster credentials in the store (32 bytes, base64; "
        "created with mode 0600 when absent); see `svcfleetd "
        "rotate-secret-key --help`",
        offsetof(config, secret_key_file), 0, 0, NULL, "DATA-DIR/secret.key"},
    {"tls-cert", "SVCFLEETD_TLS_CERT", SF_OPT_STRING, NULL,
        "PEM certificate for tls+tcp:// listeners and the HTTPS endpoint",
        offsetof(config, tls_cert), 0, 0, NULL, NULL},
    {"tls-key", "SVCFLEETD_TLS_KEY", SF_OPT_STRING, NULL,
        "PEM private key of --tls-cert", offsetof(config, tls_key), 0, 0, NULL,
        NULL},
    {"no-reconciler", "SVCFLEETD_NO_RECONCILER", SF_OPT_BOOL, "false",
        "do not run the embedded reconciler (run svcfleet-reconciler "
        "instead)",
        offsetof(config, no_reconciler), 0, 0, NULL, NULL},
    {"unsafe-no-fsync", "SVCFLEETD_UNSAFE_NO_FSYNC", SF_OPT_BOOL, "false",
        "do not fsync commits (loses acknowledged writes on a crash; "
        "benchmarks only)",
        offsetof(config, unsafe_nosync), 0, 0, NULL, NULL},
    // issue 17: one user cannot hold every watch.
    {"max-watches-per-user", "SVCFLEETD_MAX_WATCHES_PER_USER", SF_OPT_INT,
        NULL,
        "WatchServices long polls one user may have waiting; the "
        "reconciler's are not counted (an eighth of --max-watches is "
        "kept for them)",
        offsetof(config, max_watches_per_user), 1, 65535, NULL,
        "max-watches/4"},
    // i17-rate: one user's megabytes cannot take the CPUs.
    {"bulk-rate-per-user", "SVCFLEETD_BULK_RATE_PER_USER", SF_OPT_INT,
        "8388608",
        "bytes a second of one user's large requests (over 16 KiB) the "
        "server reads on; beyond that (after one largest request at "
        "once) they wait their turn. 0: no limit. The reconciler's are "
        "not counted",
        offsetof(config, bulk_rate), 0, 1 << 30, NULL, NULL},
    // issue 17: idle connections cannot hold every place.
    {"connection-idle-timeout", "SVCFLEETD_CONNECTION_IDLE_TIMEOUT",
        SF_OPT_STRING, "10s",
        "a TCP/TLS connection that has sent no request this long after it "
        "came is closed (e.g. 10s, 1m)",
        offsetof(config, idle_timeout), 0, 0, sf_opt_check_duration, NULL},
    // issue 17: core dumps hold the sealing key and cluster tokens.
    {"allow-core-dumps", "SVCFLEETD_ALLOW_CORE_DUMPS", SF_OPT_BOOL, "false",
        "let the kernel dump core (and other users' tools read this "
        "process' memory); off by default because the memory holds the "
        "secret key and cluster credentials",
        offsetof(config, allow_core_dumps), 0, 0, NULL, NULL},
    // The HTTP endpoint against hostile clients (issue 17).
    {"metrics", "SVCFLEETD_METRICS", SF_OPT_STRING, "token",
        "/metrics: token (on --http, for callers with a valid token), "
        "public (on --http for anyone), or HOST:PORT (a listener of its "
        "own, no token: keep it private)",
        offsetof(config, metrics), 0, 0, check_metrics, NULL},
    {"allowed-hosts", "SVCFLEETD_ALLOWED_HOSTS", SF_OPT_STRING, NULL,
        "host names (comma-separated) the console, the gateway and "
        "/metrics answer to in the Host header besides IP addresses, "
        "localhost and --http's host (a guard against DNS rebinding); * "
        "for any",
        offsetof(config, allowed_hosts), 0, 0, NULL, NULL},
    {"header-timeout", "SVCFLEETD_HEADER_TIMEOUT", SF_OPT_STRING, "10s",
        "time an HTTP client has to send a request's headers (and to send "
        "its next request on a kept-alive connection)",
        offsetof(config, header_timeout), 0, 0, sf_opt_check_duration, NULL},
    // Several replicas on etcd (issue 15, DESIGN.md §9).
    {"store", "SVCFLEETD_STORE", SF_OPT_STRING, "lmdb",
        "where state is kept: lmdb (in --data-dir, one svcfleetd) or etcd "
        "(--etcd-endpoints; any number of svcfleetd replicas)",
        offsetof(config, store), 0, 0, check_store_name, NULL},
    {"etcd-endpoints", "SVCFLEETD_ETCD_ENDPOINTS", SF_OPT_STRING, NULL,
        "etcd v3 client URLs, comma-separated (http:// or https://), for "
        "--store etcd",
        offsetof(config, etcd_endpoints), 0, 0, NULL, NULL},
    {"etcd-ca-file", "SVCFLEETD_ETCD_CA_FILE", SF_OPT_STRING, NULL,
        "PEM CA bundle verifying etcd's certificates (https:// endpoints)",
        offsetof(config, etcd_ca_file), 0, 0, NULL, "the system's"},
    {"etcd-cert-file", "SVCFLEETD_ETCD_CERT_FILE", SF_OPT_STRING, NULL,
        "PEM client certificate presented to etcd",
        offsetof(config, etcd_cert_file), 0, 0, NULL, NULL},
    {"etcd-key-file", "SVCFLEETD_ETCD_KEY_FILE", SF_OPT_STRING, NULL,
        "PEM private key of --etcd-cert-file", offsetof(config, etcd_key_file),
        0, 0, NULL, NULL},
    {"etcd-prefix", "SVCFLEETD_ETCD_PREFIX", SF_OPT_STRING, "/svcfleet/",
        "key prefix of every record in etcd (replicas of one installation "
        "share it)",
        offsetof(config, etcd_prefix), 0, 0, NULL, NULL},
    {"etcd-timeout-ms", "SVCFLEETD_ETCD_TIMEOUT_MS", SF_OPT_INT, "2000",
        "one request to one etcd member; a failed one moves to the next "
        "member",
        offsetof(config, etcd_timeout_ms), 100, 60000, NULL, NULL},
    {"etcd-max-request-bytes", "SVCFLEETD_ETCD_MAX_REQUEST_BYTES", SF_OPT_INT,
        "1572864",
        "etcd's --max-request-bytes: a write larger than it is refused "
        "before it is sent (RESOURCE_EXHAUSTED)",
        offsetof(config, etcd_max_request_bytes), 4096, 1073741824, NULL,
        NULL},
    // i19: audit that reads.
    {"audit-status-reports", "SVCFLEETD_AUDIT_STATUS_REPORTS", SF_OPT_BOOL,
        "false",
        "also record the reconciler's successful status and health "
        "reports in the audit log (they are always counted in /metrics)",
        offsetof(config, audit_status_reports), 0, 0, NULL, NULL},
    {"history-keep", "SVCFLEETD_HISTORY_KEEP", SF_OPT_INT, "20",
        "generations of each Service's spec kept for `svcfleet history` "
        "and rollback",
        offsetof(config, history_keep), 1, 1000, NULL, NULL},
};

// The variables were named SVCFLEET_* before, the prefix that belongs to
// the CLI (DESIGN §8; issue 20): the former names are still read, with a
// warning. Not SVCFLEET_TOKEN_FILE: that is the CLI's bearer token file,
// and svcfleetd started in a shell that exported it for the CLI took it
// for its static token CSV. --token-file is now --token-auth-file
// (kube-apiserver's name); the flag's former name is still taken.
static const sf_opt_renamed renamed[] = {
    {"SVCFLEETD_CONFIG", "SVCFLEET_CONFIG"},
    {"SVCFLEETD_CHECK_CONFIG", "SVCFLEET_CHECK_CONFIG"},
    {"SVCFLEETD_DATA_DIR", "SVCFLEET_DATA_DIR"},
    {"SVCFLEETD_LISTEN", "SVCFLEET_LISTEN"},
    {"SVCFLEETD_HTTP", "SVCFLEET_HTTP"},
    {"SVCFLEETD_LOG_LEVEL", "SVCFLEET_LOG_LEVEL"},
    {"SVCFLEETD_WORKERS", "SVCFLEET_WORKERS"},
    {"SVCFLEETD_CONTEXTS", "SVCFLEET_CONTEXTS"},
    {"SVCFLEETD_MAX_CONNECTIONS", "SVCFLEET_MAX_CONNECTIONS"},
    {"SVCFLEETD_MAX_CONNECTIONS_PER_PEER",
        "SVCFLEET_MAX_CONNECTIONS_PER_PEER"},
    {"SVCFLEETD_MAX_WATCHES", "SVCFLEET_MAX_WATCHES"},
    {"SVCFLEETD_MAX_INFLIGHT", "SVCFLEET_MAX_INFLIGHT"},
    {"SVCFLEETD_MAX_MESSAGE_SIZE", "SVCFLEET_MAX_MESSAGE_SIZE"},
    {"SVCFLEETD_CHANGE_HISTORY", "SVCFLEET_CHANGE_HISTORY"},
    {"SVCFLEETD_AUDIT_MAX_EVENTS", "SVCFLEET_AUDIT_MAX_EVENTS"},
    {"SVCFLEETD_AUDIT_MAX_AGE", "SVCFLEET_AUDIT_MAX_AGE"},
    {"SVCFLEETD_SECRET_KEY_FILE", "SVCFLEET_SECRET_KEY_FILE"},
    {"SVCFLEETD_TLS_CERT", "SVCFLEET_TLS_CERT"},
    {"SVCFLEETD_TLS_KEY", "SVCFLEET_TLS_KEY"},
    {"SVCFLEETD_NO_RECONCILER", "SVCFLEET_NO_RECONCILER"},
    {"SVCFLEETD_UNSAFE_NO_FSYNC", "SVCFLEET_UNSAFE_NO_FSYNC"},
    {"SVCFLEETD_MAX_WATCHES_PER_USER", "SVCFLEET_MAX_WATCHES_PER_USER"},
    {"SVCFLEETD_CONNECTION_IDLE_TIMEOUT", "SVCFLEET_CONNECTION_IDLE_TIMEOUT"},
    {"SVCFLEETD_ALLOW_CORE_DUMPS", "SVCFLEET_ALLOW_CORE_DUMPS"},
    {"SVCFLEETD_METRICS", "SVCFLEET_METRICS"},
    {"SVCFLEETD_ALLOWED_HOSTS", "SVCFLEET_ALLOWED_HOSTS"},
    {"SVCFLEETD_HEADER_TIMEOUT", "SVCFLEET_HEADER_TIMEOUT"},
    {"SVCFLEETD_STORE", "SVCFLEET_STORE"},
    {"SVCFLEETD_ETCD_ENDPOINTS", "SVCFLEET_ETCD_ENDPOINTS"},
    {"SVCFLEETD_ETCD_CA_FILE", "SVCFLEET_ETCD_CA_FILE"},
    {"SVCFLEETD_ETCD_CERT_FILE", "SVCFLEET_ETCD_CERT_FILE"},
    {"SVCFLEETD_ETCD_KEY_FILE", "SVCFLEET_ETCD_KEY_FILE"},
    {"SVCFLEETD_ETCD_PREFIX", "SVCFLEET_ETCD_PREFIX"},
    {"SVCFLEETD_ETCD_TIMEOUT_MS", "SVCFLEET_ETCD_TIMEOUT_MS"},
    {"SVCFLEETD_AUDIT_STATUS_REPORTS", "SVCFLEET_AUDIT_STATUS_REPORTS"},
    {"SVCFLEETD_HISTORY_KEEP", "SVCFLEET_HISTORY_KEEP"},
};

static const sf_opt_renamed_flag renamed_flags[] = {
    {"token-auth-file", "token-file"},
};

static int derive_defaults(sf_config *cc, void *fields);

static bool
check_store_name(const char *v, sf_buf *why)
{
	if (strcmp(v, "lmdb") == 0 || strcmp(v, "etcd") == 0) {
		return (true);
	}
	sf_buf_puts(why, "want lmdb or etcd");
	return (false);
}

static const sf_opt_table option_table = {
    .t_prog           = "svcfleetd",
    .t_usage          = "usage: svcfleetd [flags]\n"
                        "       svcfleetd backup --data-dir DIR --out FILE\n"
                        "       svcfleetd restore --in FILE --data-dir DIR\n"
                        "       svcfleetd rotate-secret-key --data-dir DIR "
                        "--new-key-file F\n\n"
                        "svcfleet's control-plane daemon: the Service API over nng, "
                        "durable in LMDB.\n(backup, restore and rotate-secret-key "
                        "--help say more about those.)\n",
    .t_opts           = options,
    .t_nopts          = sizeof(options) / sizeof(options[0]),
    .t_file           = true,
    .t_renamed        = renamed,
    .t_nrenamed       = sizeof(renamed) / sizeof(renamed[0]),
    .t_renamed_flags  = renamed_flags,
    .t_nrenamed_flags = sizeof(renamed_flags) / sizeof(renamed_flags[0]),
    .t_derive         = derive_defaults,
};

// derive_defaults (issue 20) sets the options whose defaults derive from
// others to the values the server will use, so --check-config prints
// them and not 0: max-connections-per-peer, max-watches, max-inflight,
// max-watches-per-user, secret-key-file and listen.
static int
derive_defaults(sf_config *cc, void *fields)
{
	config        *cfg = fields;
	sf_server_opts o   = {
	      .so_data_dir        = cfg->data_dir,
	      .so_contexts        = (unsigned) cfg->contexts,
	      .so_max_connections = (unsigned) cfg->max_connections,
	      .so_max_connections_per_peer
	      = (unsigned) cfg->max_connections_per_peer,
	      .so_max_watches          = (unsigned) cfg->max_watches,
	      .so_max_inflight         = (unsigned) cfg->max_inflight,
	      .so_max_watches_per_user = (unsigned) cfg->max_watches_per_user,
        };
	char  v[4200];
	char *key;
	int   rv;

	sf_server_opts_defaults(&o);
	static const struct {
		const char *name;
		size_t      off;
	} ints[] = {
	    {"max-connections-per-peer",
	        offsetof(sf_server_opts, so_max_connections_per_peer)},
	    {"max-watches", offsetof(sf_server_opts, so_max_watches)},
	    {"max-inflight", offsetof(sf_server_opts, so_max_inflight)},
	    {"max-watches-per-user",
	        offsetof(sf_server_opts, so_max_watches_per_user)},
	};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		snprintf(v, sizeof(v), "%u",
		    *(const unsigned *) ((const char *) &o + ints[i].off));
		if (sf_config_derive(cc, cfg, ints[i].name, v) != 0) {
			return (-1);
		}
	}
	if ((key = sf_secret_key_path(NULL, cfg->data_dir)) == NULL) {
		fprintf(stderr, "svcfleetd: out of memory\n");
		return (-1);
	}
	rv = sf_config_derive(cc, cfg, "secret-key-file", key);
	free(key);
	// (As sf_server_start's defaults: the same URLs. A data directory
	// with a comma in its name is left to the server: the list splits at
	// commas.)
	snprintf(v, sizeof(v), "ipc://%s/svcfleet.sock,tcp://127.0.0.1:7070",
	    cfg->data_dir);
	if (rv == 0 && cfg->listen.l_n == 0
	    && strchr(cfg->data_dir, ',') == NULL) {
		rv = sf_config_derive(cc, cfg, "listen", v);
	}
	return (rv);
}

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
	bool etcd = strcmp(cfg->store, "etcd") == 0;
	bool eps
	    = cfg->etcd_endpoints != NULL && cfg->etcd_endpoints[0] != '\0';
	if (etcd != eps) {
		fprintf(stderr, "svcfleetd: %s (from %s) needs %s\n",
		    etcd ? "--store etcd" : "--etcd-endpoints",
		    sf_config_where(cc, etcd ? "store" : "etcd-endpoints"),
		    etcd ? "--etcd-endpoints" : "--store etcd");
		return (-1);
	}
	bool ecert
	    = cfg->etcd_cert_file != NULL && cfg->etcd_cert_file[0] != '\0';
	bool ekey
	    = cfg->etcd_key_file != NULL && cfg->etcd_key_file[0] != '\0';
	if (ecert != ekey) {
		fprintf(stderr, "svcfleetd: %s (from %s) needs %s too\n",
		    ecert ? "--etcd-cert-file" : "--etcd-key-file",
		    sf_config_where(
		        cc, ecert ? "etcd-cert-file" : "etcd-key-file"),
		    ecert ? "--etcd-key-file" : "--etcd-cert-file");
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

// What /readyz reads of the server: published once it has started (on
// etcd the endpoint serves before, while svcfleetd waits for etcd, and
// says why it is not ready from start_why).
static _Atomic(sf_server *) server_ready;
static pthread_mutex_t      start_mtx      = PTHREAD_MUTEX_INITIALIZER;
static char                 start_why[600] = "svcfleetd is starting";

static bool
ready_check(void *arg, sf_buf *why)
{
	sf_server *srv = atomic_load(&server_ready);
	(void) arg;
	if (srv == NULL) {
		pthread_mutex_lock(&start_mtx);
		sf_buf_puts(why, start_why);
		pthread_mutex_unlock(&start_mtx);
		return (false);
	}
	return (sf_server_ready(srv, why));
}

// start_server starts the server; on etcd, while etcd cannot be reached
// (UNAVAILABLE), it says so (naming the endpoints tried), keeps trying
// with a growing pause (at most 5 s), and serves /readyz false meanwhile.
// Returns 0, 1 when a signal came first (stop cleanly), -1 on failure.
static int
start_server(sf_server **srv, const sf_server_opts *o, bool etcd,
    const sigset_t *sigs, int *sig)
{
	sf_status st;
	int64_t   pause_ms = 250;
	int       rv;

	sf_status_init(&st);
	for (;;) {
		if ((rv = sf_server_start(srv, o, &st)) == 0) {
			sf_status_fini(&st);
			return (0);
		}
		if (!etcd || rv != SF_UNAVAILABLE) {
			fprintf(stderr, "svcfleetd: %s: %s\n",
			    sf_status_name(st.st_code), st.st_msg);
			sf_status_fini(&st);
			return (-1);
		}
		SF_WARN("server",
		    "cannot start: %s; trying again in %.1f s (etcd endpoints "
		    "%s)",
		    st.st_msg, (double) pause_ms / 1000.0,
		    o->so_etcd_endpoints);
		pthread_mutex_lock(&start_mtx);
		snprintf(start_why, sizeof(start_why), "waiting for etcd: %s",
		    st.st_msg);
		pthread_mutex_unlock(&start_mtx);
		sf_status_reset(&st);
		struct timespec ts
		    = {pause_ms / 1000, (long) (pause_ms % 1000) * 1000000};
		if ((*sig = sigtimedwait(sigs, NULL, &ts)) > 0) {
			sf_status_fini(&st);
			return (1);
		}
		pause_ms = pause_ms * 2 > 5000 ? 5000 : pause_ms * 2;
	}
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

// tcp_port_taken (issue 20) says whether a tcp:// or tls+tcp:// listener
// URL's port is in use, by binding it as nng will (SO_REUSEADDR) and
// letting go: a taken RPC port then fails start-up before the data
// directory, the admin token and the secret key are made. (Anything else,
// or a URL this cannot read, is left to nng; so is a port taken between
// this and the listener.)
static bool
tcp_port_taken(const char *url)
{
	const char *rest = NULL;
	if (strncmp(url, "tcp://", 6) == 0) {
		rest = url + 6;
	} else if (strncmp(url, "tls+tcp://", 10) == 0) {
		rest = url + 10;
	}
	const char *colon = rest != NULL ? strrchr(rest, ':') : NULL;
	if (colon == NULL || strcmp(colon + 1, "0") == 0) {
		return (false);
	}
	char host[256];
	snprintf(host, sizeof(host), "%.*s", (int) (colon - rest), rest);
	char *h = host;
	if (h[0] == '[' && h[strlen(h) - 1] == ']') {
		h[strlen(h) - 1] = '\0';
		h++;
	}
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_family   = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags    = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(h[0] == '\0' || strcmp(h, "*") == 0 ? NULL : h,
	        colon + 1, &hints, &res)
	        != 0
	    || res == NULL) {
		return (false);
	}
	bool taken = false;
	int  fd    = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0),
	    one    = 1;
	if (fd >= 0) {
		(void) setsockopt(
		    fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		taken = bind(fd, res->ai_addr, res->ai_addrlen) != 0
		    && errno == EADDRINUSE;
		close(fd);
	}
	freeaddrinfo(res);
	return (taken);
}

// log_console (issue 20) names the web console's URL at start-up, and
// the token to sign in with when svcfleetd made one.
static void
log_console(const char *url, const char *data_dir)
{
	char token[4200];
	snprintf(token, sizeof(token), "%s/admin.token", data_dir);
	if (access(token, R_OK) == 0) {
		SF_INFO("server",
		    "web console %s/ (sign in with the token in %s, or one "
		    "from "
		    "`svcfleet token create USER`)",
		    url, token);
	} else {
		SF_INFO("server",
		    "web console %s/ (sign in with a token from `svcfleet "
		    "token create USER`)",
		    url);
	}
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
	sf_http    *mhttp   = NULL; // --metrics HOST:PORT
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
	// i15-perf3: glibc's malloc thresholds, raised at start. A call's
	// arena (8 KiB chunks, some hundreds of KiB for a page of Services)
	// is freed by the nng thread that sent the reply; with the trim
	// threshold at its default (128 KiB) each reset gave the pages back
	// (madvise) and the next call faulted them in again: 12 % of
	// svcfleetd's CPU for ListServices. glibc raises both thresholds
	// itself once a large mmap'd block is freed (mallopt(3), "dynamic
	// mmap threshold"), which some processes happened to do early and
	// others never did. Freeing one such block here raises them in every
	// process (mmap from 4 MiB, trim above 8 MiB) and keeps them
	// adjusting: fixing them with mallopt instead stops that, and made
	// LMDB creates cost three times the CPU.
	{
		void *volatile big = malloc(4u << 20);
		free(big);
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
	// No core dump, no ptrace by other processes of the same user, no
	// /proc/PID/mem: the secret key and cluster tokens stay in here.
	if (cfg.allow_core_dumps) {
		SF_WARN("main",
		    "core dumps allowed (--allow-core-dumps): they "
		    "hold the secret key and cluster credentials");
	} else if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		SF_WARN(
		    "main", "cannot turn core dumps off: %s", strerror(errno));
	} else {
		SF_DEBUG("main", "core dumps off (not dumpable)");
	}
	sf_duration_parse(cfg.audit_max_age, &audit_age);
	int64_t idle_ms = 0;
	sf_duration_parse(cfg.idle_timeout, &idle_ms);

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
	    .so_token_file       = cfg.token_auth_file,
	    .so_audit_keep       = (uint64_t) cfg.audit_max_events,
	    .so_audit_max_age_ms = audit_age,
	    .so_metrics          = metrics,
	    .so_secret_key_file  = cfg.secret_key_file,
	    .so_max_connections  = (unsigned) cfg.max_connections,
	    .so_max_connections_per_peer
	    = (unsigned) cfg.max_connections_per_peer,
	    .so_max_watches          = (unsigned) cfg.max_watches,
	    .so_max_watches_per_user = (unsigned) cfg.max_watches_per_user,
	    .so_bulk_rate            = cfg.bulk_rate > 0 ? cfg.bulk_rate : -1,
	    .so_idle_timeout_ms      = idle_ms,
	    .so_max_inflight         = (unsigned) cfg.max_inflight,
	    .so_inproc = !cfg.no_reconciler || http_on ? INPROC_URL : NULL,
	    .so_store  = cfg.store,
	    .so_etcd_endpoints         = cfg.etcd_endpoints,
	    .so_etcd_ca_file           = cfg.etcd_ca_file,
	    .so_etcd_cert_file         = cfg.etcd_cert_file,
	    .so_etcd_key_file          = cfg.etcd_key_file,
	    .so_etcd_prefix            = cfg.etcd_prefix,
	    .so_etcd_timeout_ms        = (int32_t) cfg.etcd_timeout_ms,
	    .so_etcd_max_request_bytes = (uint32_t) cfg.etcd_max_request_bytes,
	};
	// On etcd the HTTP endpoint serves first, so /readyz can say that
	// svcfleetd waits for etcd; on LMDB the store opens at once.
	bool etcd = strcmp(cfg.store, "etcd") == 0;
	if (etcd) {
		snprintf(start_why, sizeof(start_why),
		    "connecting to etcd (%s)", cfg.etcd_endpoints);
	}
	o.so_audit_system_reports = cfg.audit_status_reports; // i19
	o.so_history_keep         = (uint32_t) cfg.history_keep;
	// issue 20: the HTTP ports are taken (bound and listening, and the
	// certificate read) before anything is created: a taken port fails
	// start-up naming it, with no data directory, admin token or secret
	// key left behind.
	bool metrics_apart = http_on && strcmp(cfg.metrics, "token") != 0
	    && strcmp(cfg.metrics, "public") != 0;
	if (http_on) {
		int64_t hto_ms = 10000;
		sf_duration_parse(cfg.header_timeout, &hto_ms);
		sf_http_opts ho = {
		    .ho_addr              = cfg.http,
		    .ho_tls_cert          = cfg.tls_cert,
		    .ho_tls_key           = cfg.tls_key,
		    .ho_metrics           = metrics_apart ? NULL : metrics,
		    .ho_name              = "svcfleetd",
		    .ho_header_timeout_ms = (unsigned) hto_ms,
		    .ho_allowed_hosts     = cfg.allowed_hosts,
		};
		sf_http_opts mo = ho;
		mo.ho_addr      = cfg.metrics;
		mo.ho_metrics   = metrics;
		mo.ho_name      = "svcfleetd-metrics";
		if (sf_http_alloc(&http, &ho, &st) != 0
		    || sf_http_listen(http, &st) != 0) {
			fprintf(stderr, "svcfleetd: --http: %s: %s\n",
			    sf_status_name(st.st_code), st.st_msg);
			goto out;
		}
		if (metrics_apart
		    && (sf_http_alloc(&mhttp, &mo, &st) != 0
		        || sf_http_listen(mhttp, &st) != 0)) {
			fprintf(stderr, "svcfleetd: --metrics: %s: %s\n",
			    sf_status_name(st.st_code), st.st_msg);
			goto out;
		}
	}
	for (size_t i = 0; i < cfg.listen.l_n; i++) {
		if (tcp_port_taken(cfg.listen.l_items[i])) {
			fprintf(stderr,
			    "svcfleetd: --listen: cannot listen on %s: "
			    "Address "
			    "already in use (another process listens on that "
			    "port)\n",
			    cfg.listen.l_items[i]);
			goto out;
		}
	}
	if (!etcd && start_server(&srv, &o, false, &sigs, &sig) != 0) {
		goto out;
	}
	if (!etcd) {
		atomic_store(&server_ready, srv);
	}
	if (http_on) {
		sf_gateway_opts go
		    = {.go_rpc_url = INPROC_URL, .go_connect_later = etcd};
		if (sf_http_add_check(http, "store", ready_check, NULL) != 0
		    || (!cfg.no_reconciler
		        && sf_http_add_check(http, "reconciler",
		               recon_ready_check, &embedded_ready)
		            != 0)
		    || sf_gateway_alloc(&gw, &go, &st) != 0
		    || sf_gateway_add_routes(gw, http) != 0
		    || (strcmp(cfg.metrics, "token") == 0
		        && sf_http_gate(
		               http, "/metrics", sf_gateway_token_gate, gw)
		            != 0)
		    || sf_http_start(http, &st) != 0
		    || (metrics_apart && sf_http_start(mhttp, &st) != 0)) {
			fprintf(stderr, "svcfleetd: %s: %s\n",
			    sf_status_name(st.st_code), st.st_msg);
			goto out;
		}
	}
	if (etcd) {
		if ((rv = start_server(&srv, &o, true, &sigs, &sig)) < 0) {
			goto out;
		}
		if (rv > 0) {
			SF_INFO("server", "%s received while waiting for etcd",
			    sig == SIGTERM ? "SIGTERM" : "SIGINT");
			code = 0;
			goto out;
		}
		atomic_store(&server_ready, srv);
	}
	if (cfg.unsafe_nosync) {
		SF_WARN("server",
		    "fsync is off (--unsafe-no-fsync): a crash "
		    "can lose acknowledged writes");
	}
	if (cc.c_file != NULL) {
		SF_INFO("server", "configuration file %s", cc.c_file);
	}
	if (etcd) {
		SF_INFO("server",
		    "svcfleetd %s serving store=etcd endpoints=%s prefix=%s "
		    "data-dir=%s",
		    SF_VERSION, cfg.etcd_endpoints, cfg.etcd_prefix,
		    cfg.data_dir);
	} else {
		SF_INFO("server", "svcfleetd %s serving data-dir=%s",
		    SF_VERSION, cfg.data_dir);
	}
	if (http != NULL) {
		// issue 20: where a person goes first.
		log_console(sf_http_url(http), cfg.data_dir);
	}
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
	sf_http_free(mhttp);
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
