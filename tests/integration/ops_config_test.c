// ops_config_test.c: svcfleetd's configuration — defaults < --config file
// < SVCFLEET_* environment < flags (lists replaced whole, not merged),
// --help lists every option with its variable and default, and a bad value
// from any source stops start-up (exit 2, nothing created) with one line
// naming the option and where the value came from (file and line).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"

static char g_dir[300];

// Runs svcfleetd in dir with env (a prefix like "A=1 B=2", may be "") and
// args until it logs that it serves, then stops it; returns the log.
static char *
run_daemon(const char *env, const char *args)
{
	char *log = NULL;
	int   rc  = th_runf(NULL, NULL,
	       "cd %s && rm -f log && { env %s %s %s >log 2>&1 & p=$!; } && "
	          "for i in $(seq 200); do grep -q 'serving data-dir' log && "
	          "break; sleep 0.05; done; kill -TERM $p; wait $p",
	       g_dir, env, th_bin("cmd/svcfleetd/svcfleetd"), args);
	assert_int_equal(rc, 0);
	char path[400];
	snprintf(path, sizeof(path), "%s/log", g_dir);
	log = th_read_file(path, NULL);
	assert_non_null(log);
	if (strstr(log, "serving data-dir") == NULL) {
		fail_msg("svcfleetd did not start:\n%s", log);
	}
	return (log);
}

static const char *
conf(const char *name, const char *text)
{
	static char paths[8][400];
	static int  slot;
	char       *path = paths[slot++ & 7];
	snprintf(path, 400, "%s/%s", g_dir, name);
	assert_int_equal(th_write_file(path, text), 0);
	return (path);
}

static void
test_precedence(void **state)
{
	char args[1200], env[600];
	(void) state;

	const char *f = conf("a.conf",
	    "# svcfleetd.conf\n"
	    "data-dir = file-data\n"
	    "\n"
	    "listen = ipc://file-a.sock\n"
	    "listen = \"ipc://file-b.sock\"\n"
	    "http = off\n");
	static const struct {
		const char *env;   // besides SVCFLEET_CONFIG
		const char *flags; // besides --config
		const char *dir;   // data-dir in effect
		const char *listen[2];
		bool        http;
	} cases[] = {
	    // The file alone: both its listeners, its data dir, no HTTP.
	    {"", "", "file-data", {"ipc://file-a.sock", "ipc://file-b.sock"},
	        false},
	    // The environment beats the file; its list replaces the file's.
	    {"SVCFLEET_DATA_DIR=env-data SVCFLEET_LISTEN=ipc://env.sock "
	     "SVCFLEET_HTTP=127.0.0.1:0",
	        "", "env-data", {"ipc://env.sock", NULL}, true},
	    // Flags beat both.
	    {"SVCFLEET_DATA_DIR=env-data SVCFLEET_LISTEN=ipc://env.sock",
	        "--data-dir flag-data --listen ipc://flag.sock --http off",
	        "flag-data", {"ipc://flag.sock", NULL}, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(env, sizeof(env), "SVCFLEET_CONFIG=%s %s", f,
		    cases[i].env);
		snprintf(args, sizeof(args), "%s", cases[i].flags);
		char *log = run_daemon(env, args);
		char  want[200];
		snprintf(
		    want, sizeof(want), "serving data-dir=%s\"", cases[i].dir);
		if (strstr(log, want) == NULL) {
			fail_msg("case %zu: want %s in\n%s", i, want, log);
		}
		size_t nlisten = 0;
		for (const char *p = log;
		     (p = strstr(p, "listening on ")) != NULL; p++) {
			// (The in-process inproc:// listener, for the
			// reconciler and the HTTP gateway, is not one of the
			// RPC listeners configured.)
			nlisten
			    += strncmp(p, "listening on inproc://", 22) != 0;
		}
		for (size_t k = 0; k < 2 && cases[i].listen[k] != NULL; k++) {
			snprintf(want, sizeof(want), "listening on %s\"",
			    cases[i].listen[k]);
			assert_non_null(strstr(log, want));
			assert_true(k + 1 <= nlisten);
		}
		assert_int_equal(nlisten, cases[i].listen[1] != NULL ? 2 : 1);
		assert_int_equal(strstr(log, "svcfleetd serving http") != NULL,
		    cases[i].http);
		free(log);
	}
	// --config on the command line beats SVCFLEET_CONFIG.
	const char *g = conf("b.conf", "data-dir = other-data\nhttp = off\n");
	snprintf(env, sizeof(env), "SVCFLEET_CONFIG=%s", f);
	snprintf(args, sizeof(args), "--config %s", g);
	char *log = run_daemon(env, args);
	assert_non_null(strstr(log, "serving data-dir=other-data\""));
	free(log);
}

static void
test_bad_values(void **state)
{
	char args[1200], env[600], path[400];
	(void) state;

	const char *f3
	    = conf("bad3.conf", "data-dir = d\n# the pool\nworkers = many\n");
	const char *fu = conf("unknown.conf", "http = off\nunknown-opt = 1\n");
	const char *fs = conf("syntax.conf", "this is not an option\n");
	const char *fh = conf("https.conf", "http = https://127.0.0.1:0\n");
	const char *fc = conf("nested.conf", "config = other.conf\n");
	static struct {
		const char *env;
		const char *flags;
		const char *file; // --config
		const char *want; // the whole message after "svcfleetd: "
	} cases[] = {
	    {"", "", NULL,
	        "%s:3: invalid value \"many\" for workers: want an integer "
	        "from 1 to 256"},
	    {"", "", NULL,
	        "%s:2: unknown option \"unknown-opt\" (see --help)"},
	    {"", "", NULL,
	        "%s:1: want \"name = value\", got \"this is not an option\""},
	    {"", "", NULL,
	        "invalid value for --http (from %s:1): "
	        "\"https://127.0.0.1:0\": https:// needs a certificate and "
	        "key (--tls-cert, --tls-key)"},
	    {"", "", NULL,
	        "%s:1: unknown option \"config\" (a file cannot name "
	        "another file)"},
	    // A bad file value is an error even when a flag overrides it.
	    {"", "--workers 2", NULL,
	        "%s:3: invalid value \"many\" for workers: want an integer "
	        "from 1 to 256"},
	    {"SVCFLEET_CONTEXTS=1", "", "",
	        "invalid value \"1\" for SVCFLEET_CONTEXTS (environment, "
	        "--contexts): want an integer from 8 to 65536"},
	    {"SVCFLEET_UNSAFE_NO_FSYNC=maybe", "", "",
	        "invalid value \"maybe\" for SVCFLEET_UNSAFE_NO_FSYNC "
	        "(environment, --unsafe-no-fsync): want true or false"},
	    {"", "--log-level loud", "",
	        "invalid value \"loud\" for --log-level: want debug, info, "
	        "warn or error"},
	    {"", "--http 127.0.0.1:99999", "",
	        "invalid value \"127.0.0.1:99999\" for --http: "
	        "\"127.0.0.1:99999\": the port must be a number from 0 to "
	        "65535"},
	    {"", "--audit-max-age=10ms", "",
	        "invalid value \"10ms\" for --audit-max-age: want a duration "
	        "of at least 1s, such as 30d, 12h or 90s"},
	    {"", "--tls-key k.pem", "",
	        "--tls-key (from --tls-key) needs --tls-cert too"},
	    {"", "--workers", "", "--workers needs a value"},
	    {"", "--no-such-flag", "",
	        "unknown flag --no-such-flag (see --help)"},
	    {"SVCFLEET_CONFIG=/nonexistent/svcfleetd.conf", "", "",
	        "cannot read the configuration file "
	        "/nonexistent/svcfleetd.conf: No such file or directory"},
	};
	const char *files[] = {f3, fu, fs, fh, fc, f3};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *file = i < 6 ? files[i] : NULL;
		char        want[600], *err = NULL;
		snprintf(path, sizeof(path), "%s/fresh-%zu", g_dir, i);
		snprintf(env, sizeof(env), "%s", cases[i].env);
		snprintf(args, sizeof(args), "--data-dir %s %s%s %s", path,
		    file != NULL ? "--config " : "", file != NULL ? file : "",
		    cases[i].flags);
		// "%s" in a case's message stands for its file.
		const char *pct = strstr(cases[i].want, "%s");
		snprintf(want, sizeof(want), "svcfleetd: %.*s%s%s\n",
		    pct != NULL ? (int) (pct - cases[i].want)
		                : (int) strlen(cases[i].want),
		    cases[i].want, pct != NULL && file != NULL ? file : "",
		    pct != NULL ? pct + 2 : "");
		int rc = th_runf(NULL, &err, "cd %s && env %s %s %s", g_dir,
		    env, th_bin("cmd/svcfleetd/svcfleetd"), args);
		if (rc != 2 || strcmp(err, want) != 0) {
			fail_msg("case %zu: exit %d, stderr\n%s\nwant\n%s", i,
			    rc, err, want);
		}
		free(err);
		// Nothing was started: no data directory.
		struct stat sb;
		assert_int_not_equal(stat(path, &sb), 0);
	}
}

static void
test_help(void **state)
{
	char *out = NULL;
	(void) state;
	static const char *const opts[][3] = {
	    {"--config", "SVCFLEET_CONFIG", "none"},
	    {"--check-config", "SVCFLEET_CHECK_CONFIG", "false"},
	    {"--data-dir", "SVCFLEET_DATA_DIR", "./svcfleet-data"},
	    {"--listen", "SVCFLEET_LISTEN",
	        "ipc://DATA-DIR/svcfleet.sock, tcp://127.0.0.1:7070"},
	    {"--http", "SVCFLEET_HTTP", "127.0.0.1:7071"},
	    {"--log-level", "SVCFLEET_LOG_LEVEL", "info"},
	    {"--workers", "SVCFLEET_WORKERS", "4"},
	    {"--contexts", "SVCFLEET_CONTEXTS", "256"},
	    {"--max-connections", "SVCFLEET_MAX_CONNECTIONS", "1024"},
	    {"--max-connections-per-peer", "SVCFLEET_MAX_CONNECTIONS_PER_PEER",
	        "max-connections/4"},
	    {"--max-watches", "SVCFLEET_MAX_WATCHES", "contexts/2"},
	    {"--max-inflight", "SVCFLEET_MAX_INFLIGHT",
	        "contexts - max-watches - 8"},
	    {"--max-message-size", "SVCFLEET_MAX_MESSAGE_SIZE", "4194304"},
	    {"--change-history", "SVCFLEET_CHANGE_HISTORY", "100000"},
	    {"--token-file", "SVCFLEET_TOKEN_FILE", "none"},
	    {"--audit-max-events", "SVCFLEET_AUDIT_MAX_EVENTS", "1000000"},
	    {"--audit-max-age", "SVCFLEET_AUDIT_MAX_AGE", "90d"},
	    {"--secret-key-file", "SVCFLEET_SECRET_KEY_FILE",
	        "DATA-DIR/secret.key"},
	    {"--tls-cert", "SVCFLEET_TLS_CERT", "none"},
	    {"--tls-key", "SVCFLEET_TLS_KEY", "none"},
	    {"--no-reconciler", "SVCFLEET_NO_RECONCILER", "false"},
	    {"--unsafe-no-fsync", "SVCFLEET_UNSAFE_NO_FSYNC", "false"},
	    // issue 17
	    {"--max-watches-per-user", "SVCFLEET_MAX_WATCHES_PER_USER",
	        "max-watches/4"},
	    {"--connection-idle-timeout", "SVCFLEET_CONNECTION_IDLE_TIMEOUT",
	        "10s"},
	    {"--allow-core-dumps", "SVCFLEET_ALLOW_CORE_DUMPS", "false"},
	    // The HTTP endpoint against hostile clients (issue 17).
	    {"--metrics", "SVCFLEET_METRICS", "token"},
	    {"--allowed-hosts", "SVCFLEET_ALLOWED_HOSTS", "none"},
	    {"--header-timeout", "SVCFLEET_HEADER_TIMEOUT", "10s"},
	    // Several replicas on etcd (issue 15).
	    {"--store", "SVCFLEET_STORE", "lmdb"},
	    {"--etcd-endpoints", "SVCFLEET_ETCD_ENDPOINTS", "none"},
	    {"--etcd-ca-file", "SVCFLEET_ETCD_CA_FILE", "the system's"},
	    {"--etcd-cert-file", "SVCFLEET_ETCD_CERT_FILE", "none"},
	    {"--etcd-key-file", "SVCFLEET_ETCD_KEY_FILE", "none"},
	    {"--etcd-prefix", "SVCFLEET_ETCD_PREFIX", "/svcfleet/"},
	    {"--etcd-timeout-ms", "SVCFLEET_ETCD_TIMEOUT_MS", "2000"},
	    // i19
	    {"--audit-status-reports", "SVCFLEET_AUDIT_STATUS_REPORTS",
	        "false"},
	    {"--history-keep", "SVCFLEET_HISTORY_KEEP", "20"},
	};
	assert_int_equal(th_runf(&out, NULL, "%s --help",
	                     th_bin("cmd/svcfleetd/svcfleetd")),
	    0);
	size_t nflags = 0;
	for (const char *p = out; (p = strstr(p, "\n  --")) != NULL; p++) {
		nflags++;
	}
	// Every option, plus --help and --version, and nothing else.
	assert_int_equal(nflags, sizeof(opts) / sizeof(opts[0]) + 2);
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char want[200];
		snprintf(want, sizeof(want), "\n  %s", opts[i][0]);
		const char *at = strstr(out, want);
		if (at == NULL) {
			fail_msg("--help lacks %s", opts[i][0]);
		}
		snprintf(want, sizeof(want), "(%s; default: %s)", opts[i][1],
		    opts[i][2]);
		const char *d = strstr(at, want);
		assert_non_null(d);
		assert_true(d - at < 400);
	}
	free(out);
}

static int
setup(void **state)
{
	(void) state;
	th_tmpdir(g_dir, sizeof(g_dir), "ops-config");
	return (0);
}

static int
teardown(void **state)
{
	(void) state;
	th_runf(NULL, NULL, "rm -rf '%s'", g_dir);
	return (0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_help),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
