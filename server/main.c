// main.c: svcfleetd — flags (each also read from an SVCFLEET_* environment
// variable), signals, and the server's lifetime.
#include <errno.h>
#include <execinfo.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>

#include "clock.h"
#include "log.h"
#include "secrets.h"
#include "server.h"

#define MAX_LISTEN 16

typedef struct config {
	const char *data_dir;
	const char *listen[MAX_LISTEN];
	size_t      nlisten;
	const char *log_level;
	long        workers;
	long        contexts;
	long        max_msg;
	long        unsafe_nosync;
	const char *tls_cert;
	const char *tls_key;
	long        change_history;
	const char *token_file;
	long        audit_max_events;
	const char *audit_max_age;
	const char *secret_key_file;
	long        max_connections;
	long        max_watches;
	long        max_inflight;
} config;

enum opt_type { OPT_STRING, OPT_LIST, OPT_INT, OPT_BOOL };

// The option table drives parsing, the environment and --help.
static const struct option_def {
	const char *name;
	const char *env;
	int         type;
	const char *def;
	const char *help;
	size_t      off;
	long        min, max;
} options[] = {
    {"data-dir", "SVCFLEET_DATA_DIR", OPT_STRING, "./svcfleet-data",
        "directory of the LMDB store (created with mode 0700)",
        offsetof(config, data_dir), 0, 0},
    {"listen", "SVCFLEET_LISTEN", OPT_LIST,
        "ipc://DATA-DIR/svcfleet.sock, tcp://127.0.0.1:7070",
        "RPC listener URL (repeatable; the environment takes a comma "
        "list); tcp port 0 picks a free port",
        offsetof(config, listen), 0, 0},
    {"log-level", "SVCFLEET_LOG_LEVEL", OPT_STRING, "info",
        "debug, info, warn or error", offsetof(config, log_level), 0, 0},
    {"workers", "SVCFLEET_WORKERS", OPT_INT, "4",
        "threads running request handlers", offsetof(config, workers), 1, 256},
    {"contexts", "SVCFLEET_CONTEXTS", OPT_INT, "256",
        "requests in flight at once, long polls included",
        offsetof(config, contexts), 8, 65536},
    {"max-connections", "SVCFLEET_MAX_CONNECTIONS", OPT_INT, "1024",
        "RPC connections open at once; more are closed as they arrive",
        offsetof(config, max_connections), 1, 1000000},
    {"max-watches", "SVCFLEET_MAX_WATCHES", OPT_INT, "contexts/2",
        "WatchServices long polls waiting at once; more get "
        "RESOURCE_EXHAUSTED",
        offsetof(config, max_watches), 1, 65535},
    {"max-inflight", "SVCFLEET_MAX_INFLIGHT", OPT_INT,
        "contexts - max-watches - 8",
        "other requests in flight at once; more get RESOURCE_EXHAUSTED "
        "(at once, undecoded)",
        offsetof(config, max_inflight), 1, 65535},
    {"max-message-size", "SVCFLEET_MAX_MESSAGE_SIZE", OPT_INT, "4194304",
        "largest request accepted, in bytes (larger: RESOURCE_EXHAUSTED)",
        offsetof(config, max_msg), 1024, 64 << 20},
    {"change-history", "SVCFLEET_CHANGE_HISTORY", OPT_INT, "100000",
        "changes kept for WatchServices; a watcher further behind must "
        "list again (OUT_OF_RANGE)",
        offsetof(config, change_history), 1, 100000000},
    {"token-file", "SVCFLEET_TOKEN_FILE", OPT_STRING, "(none)",
        "static tokens in kube-apiserver's CSV format: "
        "token,user,uid,\"group1,group2\"",
        offsetof(config, token_file), 0, 0},
    {"audit-max-events", "SVCFLEET_AUDIT_MAX_EVENTS", OPT_INT, "1000000",
        "audit events kept; the oldest go first",
        offsetof(config, audit_max_events), 100, 1000000000},
    {"audit-max-age", "SVCFLEET_AUDIT_MAX_AGE", OPT_STRING, "90d",
        "audit events older than this are dropped (e.g. 30d, 12h)",
        offsetof(config, audit_max_age), 0, 0},
    {"secret-key-file", "SVCFLEET_SECRET_KEY_FILE", OPT_STRING,
        "DATA-DIR/secret.key",
        "key sealing cluster credentials in the store (32 bytes, base64; "
        "created with mode 0600 when absent); see `svcfleetd "
        "rotate-secret-key --help`",
        offsetof(config, secret_key_file), 0, 0},
    {"tls-cert", "SVCFLEET_TLS_CERT", OPT_STRING, "(none)",
        "PEM certificate for tls+tcp:// listeners", offsetof(config, tls_cert),
        0, 0},
    {"tls-key", "SVCFLEET_TLS_KEY", OPT_STRING, "(none)",
        "PEM private key of --tls-cert", offsetof(config, tls_key), 0, 0},
    {"unsafe-no-fsync", "SVCFLEET_UNSAFE_NO_FSYNC", OPT_BOOL, "false",
        "do not fsync commits (loses acknowledged writes on a crash; "
        "benchmarks only)",
        offsetof(config, unsafe_nosync), 0, 1},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: svcfleetd [flags]\n\n"
	    "svcfleet's control-plane daemon: the Service API over "
	    "nng, durable in LMDB.\n\nflags (environment variable, "
	    "default):\n");
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_def *o = &options[i];
		fprintf(f, "  --%-18s %s\n  %-20s (%s, default %s)\n", o->name,
		    o->type == OPT_BOOL ? "" : "VALUE", "", o->env, o->def);
		fprintf(f, "  %-20s %s\n", "", o->help);
	}
	fprintf(f,
	    "  --help               this text\n"
	    "  --version            print the version\n\n"
	    "commands:\n"
	    "  rotate-secret-key    seal the credentials with a new key "
	    "(offline; --help)\n");
}

// Sets option o from text; returns 0 or -1 with a message on stderr.
static int
set_option(
    config *cfg, const struct option_def *o, const char *val, const char *from)
{
	char *field = (char *) cfg + o->off;
	switch (o->type) {
	case OPT_STRING:
		*(const char **) field = val;
		return (0);
	case OPT_LIST: {
		if (cfg->nlisten >= MAX_LISTEN) {
			fprintf(stderr, "svcfleetd: at most %d --%s values\n",
			    MAX_LISTEN, o->name);
			return (-1);
		}
		cfg->listen[cfg->nlisten++] = val;
		return (0);
	}
	case OPT_INT: {
		char *end;
		errno  = 0;
		long v = strtol(val, &end, 10);
		if (errno != 0 || end == val || *end != '\0' || v < o->min
		    || v > o->max) {
			fprintf(stderr,
			    "svcfleetd: invalid %s value \"%s\" for %s: want "
			    "an integer from %ld to %ld\n",
			    from, val, o->name, o->min, o->max);
			return (-1);
		}
		*(long *) field = v;
		return (0);
	}
	case OPT_BOOL:
		if (strcmp(val, "1") == 0 || strcmp(val, "true") == 0) {
			*(long *) field = 1;
		} else if (strcmp(val, "0") == 0
		    || strcmp(val, "false") == 0) {
			*(long *) field = 0;
		} else {
			fprintf(stderr,
			    "svcfleetd: invalid %s value \"%s\" for %s: want "
			    "true or false\n",
			    from, val, o->name);
			return (-1);
		}
		return (0);
	}
	return (-1);
}

// The environment first, so flags override it.
static int
load_env(config *cfg, char **envcopy)
{
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_def *o = &options[i];
		const char              *v = getenv(o->env);
		if (v == NULL || v[0] == '\0') {
			continue;
		}
		if (o->type == OPT_LIST) {
			char *copy = strdup(v), *save = NULL;
			*envcopy = copy;
			for (char *t = strtok_r(copy, ",", &save); t != NULL;
			     t       = strtok_r(NULL, ",", &save)) {
				while (*t == ' ') {
					t++;
				}
				if (*t != '\0'
				    && set_option(cfg, o, t, "environment")
				        != 0) {
					return (-1);
				}
			}
			continue;
		}
		if (set_option(cfg, o, v, "environment") != 0) {
			return (-1);
		}
	}
	return (0);
}

static int
parse_flags(config *cfg, int argc, char **argv)
{
	bool listen_from_flags = false;
	for (int i = 1; i < argc; i++) {
		const char              *arg = argv[i], *val = NULL;
		const struct option_def *o = NULL;
		char                     name[64];

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(arg, "--version") == 0) {
			printf("svcfleetd %s\n", SF_VERSION);
			exit(0);
		}
		if (strncmp(arg, "--", 2) != 0) {
			fprintf(stderr,
			    "svcfleetd: unexpected argument \"%s\" "
			    "(see --help)\n",
			    arg);
			return (-1);
		}
		snprintf(name, sizeof(name), "%s", arg + 2);
		char *eq = strchr(name, '=');
		if (eq != NULL) {
			*eq = '\0';
			val = strchr(arg, '=') + 1;
		}
		for (size_t k = 0; k < NOPTIONS; k++) {
			if (strcmp(options[k].name, name) == 0) {
				o = &options[k];
			}
		}
		if (o == NULL) {
			fprintf(stderr,
			    "svcfleetd: unknown flag --%s (see --help)\n",
			    name);
			return (-1);
		}
		if (val == NULL) {
			if (o->type == OPT_BOOL) {
				val = "true";
			} else if (i + 1 < argc) {
				val = argv[++i];
			} else {
				fprintf(stderr,
				    "svcfleetd: --%s needs a value\n", name);
				return (-1);
			}
		}
		if (o->type == OPT_LIST && !listen_from_flags) {
			// Flags replace the environment's list.
			cfg->nlisten      = 0;
			listen_from_flags = true;
		}
		if (set_option(cfg, o, val, "flag") != 0) {
			return (-1);
		}
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

int
main(int argc, char **argv)
{
	config     cfg     = {0};
	char      *envlist = NULL;
	sf_status  st;
	sf_server *srv;
	sigset_t   sigs;
	int        sig, lvl;

	if (argc > 1 && strcmp(argv[1], "rotate-secret-key") == 0) {
		return (sf_secrets_rotate_main(argc - 1, argv + 1));
	}
	cfg.data_dir  = "./svcfleet-data";
	cfg.log_level = "info";
	if (load_env(&cfg, &envlist) != 0
	    || parse_flags(&cfg, argc, argv) != 0) {
		free(envlist);
		return (2);
	}
	if ((lvl = sf_log_level_parse(cfg.log_level)) < 0) {
		fprintf(stderr,
		    "svcfleetd: invalid log level \"%s\": want debug, info, "
		    "warn or error\n",
		    cfg.log_level);
		free(envlist);
		return (2);
	}
	sf_log_set_level(lvl);
	int64_t audit_age = 0;
	if (cfg.audit_max_age != NULL
	    && (sf_duration_parse(cfg.audit_max_age, &audit_age) != 0
	        || audit_age < 1000)) {
		fprintf(stderr,
		    "svcfleetd: invalid audit-max-age \"%s\": want a duration "
		    "of at least 1s, such as 30d or 12h\n",
		    cfg.audit_max_age);
		free(envlist);
		return (2);
	}

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

	sf_server_opts o = {
	    .so_data_dir         = cfg.data_dir,
	    .so_listen           = cfg.listen,
	    .so_nlisten          = cfg.nlisten,
	    .so_workers          = (unsigned) cfg.workers,
	    .so_contexts         = (unsigned) cfg.contexts,
	    .so_max_msg          = (size_t) cfg.max_msg,
	    .so_nosync           = cfg.unsafe_nosync != 0,
	    .so_tls_cert         = cfg.tls_cert,
	    .so_tls_key          = cfg.tls_key,
	    .so_feed_keep        = (uint32_t) cfg.change_history,
	    .so_token_file       = cfg.token_file,
	    .so_audit_keep       = (uint64_t) cfg.audit_max_events,
	    .so_audit_max_age_ms = audit_age,
	    .so_secret_key_file  = cfg.secret_key_file,
	    .so_max_connections  = (unsigned) cfg.max_connections,
	    .so_max_watches      = (unsigned) cfg.max_watches,
	    .so_max_inflight     = (unsigned) cfg.max_inflight,
	};
	sf_status_init(&st);
	if (sf_server_start(&srv, &o, &st) != 0) {
		fprintf(stderr, "svcfleetd: %s: %s\n",
		    sf_status_name(st.st_code), st.st_msg);
		sf_status_fini(&st);
		free(envlist);
		return (1);
	}
	if (cfg.unsafe_nosync) {
		SF_WARN("server",
		    "fsync is off (--unsafe-no-fsync): a crash "
		    "can lose acknowledged writes");
	}
	SF_INFO("server", "svcfleetd %s serving data-dir=%s", SF_VERSION,
	    cfg.data_dir);
	sigwait(&sigs, &sig);
	SF_INFO("server", "%s received, shutting down",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	sf_server_stop(srv);
	// nng frees closed sockets on its reaper thread; wait for it so the
	// process ends with nothing outstanding.
	nng_fini();
	SF_INFO("server", "stopped");
	sf_status_fini(&st);
	free(envlist);
	return (0);
}
