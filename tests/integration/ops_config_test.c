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
		const char *env;   // besides SVCFLEETD_CONFIG
		const char *flags; // besides --config
		const char *dir;   // data-dir in effect
		const char *listen[2];
		bool        http;
	} cases[] = {
	    // The file alone: both its listeners, its data dir, no HTTP.
	    {"", "", "file-data", {"ipc://file-a.sock", "ipc://file-b.sock"},
	        false},
	    // The environment beats the file; its list replaces the file's.
	    {"SVCFLEETD_DATA_DIR=env-data SVCFLEETD_LISTEN=ipc://env.sock "
	     "SVCFLEETD_HTTP=127.0.0.1:0",
	        "", "env-data", {"ipc://env.sock", NULL}, true},
	    // Flags beat both.
	    {"SVCFLEETD_DATA_DIR=env-data SVCFLEETD_LISTEN=ipc://env.sock",
	        "--data-dir flag-data --listen ipc://flag.sock --http off",
	        "flag-data", {"ipc://flag.sock", NULL}, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(env, sizeof(env), "SVCFLEETD_CONFIG=%s %s", f,
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
	// --config on the command line beats SVCFLEETD_CONFIG.
	const char *g = conf("b.conf", "data-dir = other-data\nhttp = off\n");
	snprintf(env, sizeof(env), "SVCFLEETD_CONFIG=%s", f);
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
	    {"SVCFLEETD_CONTEXTS=1", "", "",
	        "invalid value \"1\" for SVCFLEETD_CONTEXTS (environment, "
	        "--contexts): want an integer from 8 to 65536"},
	    {"SVCFLEETD_UNSAFE_NO_FSYNC=maybe", "", "",
	        "invalid value \"maybe\" for SVCFLEETD_UNSAFE_NO_FSYNC "
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
	    {"SVCFLEETD_CONFIG=/nonexistent/svcfleetd.conf", "", "",
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
	    {"--config", "SVCFLEETD_CONFIG", "none"},
	    {"--check-config", "SVCFLEETD_CHECK_CONFIG", "false"},
	    {"--data-dir", "SVCFLEETD_DATA_DIR", "./svcfleet-data"},
	    {"--listen", "SVCFLEETD_LISTEN",
	        "ipc://DATA-DIR/svcfleet.sock, tcp://127.0.0.1:7070"},
	    {"--http", "SVCFLEETD_HTTP", "127.0.0.1:7071"},
	    {"--log-level", "SVCFLEETD_LOG_LEVEL", "info"},
	    {"--workers", "SVCFLEETD_WORKERS", "4"},
	    {"--contexts", "SVCFLEETD_CONTEXTS", "256"},
	    {"--max-connections", "SVCFLEETD_MAX_CONNECTIONS", "1024"},
	    {"--max-connections-per-peer",
	        "SVCFLEETD_MAX_CONNECTIONS_PER_PEER", "max-connections/4"},
	    {"--max-watches", "SVCFLEETD_MAX_WATCHES", "contexts/2"},
	    {"--max-inflight", "SVCFLEETD_MAX_INFLIGHT",
	        "contexts - max-watches - 8"},
	    {"--max-message-size", "SVCFLEETD_MAX_MESSAGE_SIZE", "4194304"},
	    {"--change-history", "SVCFLEETD_CHANGE_HISTORY", "100000"},
	    {"--token-auth-file", "SVCFLEETD_TOKEN_AUTH_FILE", "none"},
	    {"--audit-max-events", "SVCFLEETD_AUDIT_MAX_EVENTS", "1000000"},
	    {"--audit-max-age", "SVCFLEETD_AUDIT_MAX_AGE", "90d"},
	    {"--secret-key-file", "SVCFLEETD_SECRET_KEY_FILE",
	        "DATA-DIR/secret.key"},
	    {"--tls-cert", "SVCFLEETD_TLS_CERT", "none"},
	    {"--tls-key", "SVCFLEETD_TLS_KEY", "none"},
	    {"--no-reconciler", "SVCFLEETD_NO_RECONCILER", "false"},
	    {"--unsafe-no-fsync", "SVCFLEETD_UNSAFE_NO_FSYNC", "false"},
	    // issue 17
	    {"--max-watches-per-user", "SVCFLEETD_MAX_WATCHES_PER_USER",
	        "max-watches/4"},
	    {"--connection-idle-timeout", "SVCFLEETD_CONNECTION_IDLE_TIMEOUT",
	        "10s"},
	    {"--bulk-rate-per-user", "SVCFLEETD_BULK_RATE_PER_USER",
	        "8388608"}, // i17-rate
	    {"--allow-core-dumps", "SVCFLEETD_ALLOW_CORE_DUMPS", "false"},
	    // The HTTP endpoint against hostile clients (issue 17).
	    {"--metrics", "SVCFLEETD_METRICS", "token"},
	    {"--allowed-hosts", "SVCFLEETD_ALLOWED_HOSTS", "none"},
	    {"--header-timeout", "SVCFLEETD_HEADER_TIMEOUT", "10s"},
	    // Several replicas on etcd (issue 15).
	    {"--store", "SVCFLEETD_STORE", "lmdb"},
	    {"--etcd-endpoints", "SVCFLEETD_ETCD_ENDPOINTS", "none"},
	    {"--etcd-ca-file", "SVCFLEETD_ETCD_CA_FILE", "the system's"},
	    {"--etcd-cert-file", "SVCFLEETD_ETCD_CERT_FILE", "none"},
	    {"--etcd-key-file", "SVCFLEETD_ETCD_KEY_FILE", "none"},
	    {"--etcd-prefix", "SVCFLEETD_ETCD_PREFIX", "/svcfleet/"},
	    {"--etcd-timeout-ms", "SVCFLEETD_ETCD_TIMEOUT_MS", "2000"},
	    {"--etcd-max-request-bytes", "SVCFLEETD_ETCD_MAX_REQUEST_BYTES",
	        "1572864"},
	    // i19
	    {"--audit-status-reports", "SVCFLEETD_AUDIT_STATUS_REPORTS",
	        "false"},
	    {"--history-keep", "SVCFLEETD_HISTORY_KEEP", "20"},
	};
	assert_int_equal(th_runf(&out, NULL, "%s --help",
	                     th_bin("cmd/svcfleetd/svcfleetd")),
	    0);
	size_t nflags = 0;
	for (const char *p = out; (p = strstr(p, "\n  --")) != NULL; p++) {
		nflags++;
	}
	// Every option, plus --help and --version, and the renamed flag
	// (issue 20), and nothing else.
	assert_int_equal(nflags, sizeof(opts) / sizeof(opts[0]) + 3);
	assert_non_null(
	    strstr(out, "\n  --token-file: now --token-auth-file\n"));
	assert_non_null(
	    strstr(out, "\n  SVCFLEET_HTTP: now SVCFLEETD_HTTP\n"));
	// The CLI's bearer token file is no name of svcfleetd's.
	assert_null(strstr(out, "SVCFLEET_TOKEN_FILE"));
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

// issue 20 (item 3): the daemon's variables are SVCFLEETD_*; SVCFLEET_*
// belongs to the CLI. svcfleetd started in a shell that exported
// SVCFLEET_TOKEN_FILE (and SVCFLEET_SERVER) for the CLI ignores them; its
// former variable names still work, with a warning, below the new ones;
// --token-file (and "token-file =" in a file) is --token-auth-file now.
static void
test_daemon_variables(void **state)
{
	char env[1200], *out = NULL, *err = NULL;
	(void) state;

	// The CLI's token file: a bearer token, not a CSV. It used to be
	// read as --token-file's CSV ("line 1: the user name is empty").
	const char *cli_token
	    = conf("admin.token", "sfk_0123456789ab_secret\n");
	snprintf(env, sizeof(env),
	    "SVCFLEET_TOKEN_FILE=%s SVCFLEET_SERVER=ipc://cli.sock "
	    "SVCFLEET_TOKEN=sfk_x",
	    cli_token);
	char args[600];
	snprintf(args, sizeof(args),
	    "--data-dir cli-data --listen ipc://d.sock --http off");
	char *log = run_daemon(env, args);
	assert_null(strstr(log, "SVCFLEET_TOKEN"));
	assert_null(strstr(log, "the user name is empty"));
	free(log);

	// Former names: read with a warning; the new name wins over them.
	assert_int_equal(
	    th_runf(&out, &err,
	        "cd %s && env SVCFLEET_DATA_DIR=old-data SVCFLEET_WORKERS=3 "
	        "SVCFLEETD_WORKERS=5 SVCFLEET_HTTP=off %s --check-config",
	        g_dir, th_bin("cmd/svcfleetd/svcfleetd")),
	    0);
	assert_non_null(
	    strstr(out, "\ndata-dir = old-data  # SVCFLEET_DATA_DIR\n"));
	assert_non_null(strstr(out, "\nworkers = 5  # SVCFLEETD_WORKERS\n"));
	assert_non_null(strstr(err,
	    "svcfleetd: warning: SVCFLEET_DATA_DIR is deprecated and will "
	    "stop working in a later release: set SVCFLEETD_DATA_DIR "
	    "instead\n"));
	assert_null(strstr(err, "SVCFLEET_WORKERS")); // not read: shadowed
	free(out);
	free(err);

	// The static token CSV: --token-auth-file, SVCFLEETD_TOKEN_AUTH_FILE,
	// and the former flag and file key with a warning.
	conf("tokens.csv", "s3cret-token-0001,carl,uid-1\n");
	conf("old.conf", "token-file = tokens.csv\nhttp = off\n");
	struct {
		const char *env, *args, *where, *warn;
	} cases[] = {
	    {"", "--token-auth-file tokens.csv", "--token-auth-file", NULL},
	    {"SVCFLEETD_TOKEN_AUTH_FILE=tokens.csv", "",
	        "SVCFLEETD_TOKEN_AUTH_FILE", NULL},
	    {"", "--token-file tokens.csv", "--token-file",
	        "svcfleetd: warning: --token-file is deprecated and will stop "
	        "working in a later release: use --token-auth-file instead\n"},
	    {"", "--config old.conf", NULL,
	        ":1: warning: token-file is deprecated and will stop working "
	        "in a later release: write token-auth-file instead\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[600];
		assert_int_equal(
		    th_runf(&out, &err,
		        "cd %s && env %s %s --http off --check-config %s",
		        g_dir, cases[i].env, th_bin("cmd/svcfleetd/svcfleetd"),
		        cases[i].args),
		    0);
		snprintf(want, sizeof(want),
		    "\ntoken-auth-file = tokens.csv  # %s",
		    cases[i].where != NULL ? cases[i].where : "old.conf:1");
		if (strstr(out, want) == NULL) {
			fail_msg("case %zu: want %s in\n%s", i, want, out);
		}
		if (cases[i].warn == NULL) {
			assert_string_equal(err, "");
		} else if (strstr(err, cases[i].warn) == NULL) {
			fail_msg(
			    "case %zu: want %s in\n%s", i, cases[i].warn, err);
		}
		free(out);
		free(err);
	}
}

// issue 20 (item 13): --check-config prints the values in effect of the
// defaults derived from other options, not 0 or nothing; and it creates
// nothing.
static void
test_check_config_derived(void **state)
{
	char *out = NULL;
	(void) state;
	static const struct {
		const char *args;
		const char *want[6];
	} cases[] = {
	    {"",
	        {"\nmax-connections-per-peer = 256  # default: "
	         "max-connections/4\n",
	            "\nmax-watches = 128  # default: contexts/2\n",
	            "\nmax-inflight = 120  # default: contexts - max-watches "
	            "- "
	            "8\n",
	            "\nmax-watches-per-user = 32  # default: max-watches/4\n",
	            "\nsecret-key-file = cc-data/secret.key  # default: "
	            "DATA-DIR/secret.key\n",
	            "\nlisten = ipc://cc-data/svcfleet.sock\nlisten = "
	            "tcp://127.0.0.1:7070  # default: "}},
	    {"--contexts 64 --max-connections 100 --max-watches 10 "
	     "--listen ipc://x.sock --secret-key-file k",
	        {"\nmax-connections-per-peer = 25  # default: "
	         "max-connections/4\n",
	            "\nmax-watches = 10  # --max-watches\n",
	            "\nmax-inflight = 46  # default: contexts - max-watches - "
	            "8\n",
	            "\nmax-watches-per-user = 2  # default: max-watches/4\n",
	            "\nsecret-key-file = k  # --secret-key-file\n",
	            "\nlisten = ipc://x.sock  # --listen\n"}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    th_runf(&out, NULL,
		        "cd %s && %s --check-config --data-dir cc-data %s",
		        g_dir, th_bin("cmd/svcfleetd/svcfleetd"),
		        cases[i].args),
		    0);
		for (size_t k = 0; k < 6; k++) {
			if (strstr(out, cases[i].want[k]) == NULL) {
				fail_msg("case %zu: want %s in\n%s", i,
				    cases[i].want[k], out);
			}
		}
		assert_null(strstr(out, " = 0  #"));
		free(out);
	}
	char        path[400];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/cc-data", g_dir);
	assert_int_not_equal(stat(path, &sb), 0);
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
	    cmocka_unit_test(test_bad_values), cmocka_unit_test(test_help),
	    cmocka_unit_test(test_daemon_variables),     // issue 20
	    cmocka_unit_test(test_check_config_derived), // issue 20
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
