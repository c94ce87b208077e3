// recon_config_test.c: the reconciler's configuration through ops.h's
// option engine — svcfleet-reconciler's --help lists every option with its
// SVCFLEET_RECONCILER_* variable and default; defaults < --config file <
// environment < flags, as --check-config shows; a former SVCFLEET_* name
// is still read with a warning, and never over the new one; a bad value
// stops it (exit 2) with one line naming the option and its source. And
// the reconciler inside svcfleetd reads the same tuning variables
// (sf_reconciler_opts_from_env).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "reconciler.h"

static char g_dir[300];

// Runs svcfleet-reconciler in g_dir with env (a prefix like "A=1", may be
// "") and args; returns its exit code, stdout in *out and stderr in *err.
static int
run(const char *env, const char *args, char **out, char **err)
{
	return (th_runf(out, err, "cd %s && env %s %s %s", g_dir, env,
	    th_bin("cmd/svcfleet-reconciler/svcfleet-reconciler"), args));
}

// The line of --check-config's output for option name.
static void
want_line(
    const char *out, const char *name, const char *value, const char *where)
{
	char want[400];
	snprintf(want, sizeof(want), "\n%s = %s  # %s\n", name, value, where);
	if (strstr(out, want) == NULL) {
		fail_msg("want \"%s\" in\n%s", want + 1, out);
	}
}

static void
test_help(void **state)
{
	static const char *const opts[][3] = {
	    {"--config", "SVCFLEET_RECONCILER_CONFIG", "none"},
	    {"--check-config", "SVCFLEET_RECONCILER_CHECK_CONFIG", "false"},
	    {"--server", "SVCFLEET_RECONCILER_SERVER", "none: required"},
	    {"--token-file", "SVCFLEET_RECONCILER_TOKEN_FILE",
	        "none: required"},
	    {"--ca-file", "SVCFLEET_RECONCILER_CA_FILE", "none"},
	    {"--shard", "SVCFLEET_RECONCILER_SHARD",
	        "none: claim clusters through svcfleetd"},
	    {"--resync", "SVCFLEET_RECONCILER_RESYNC", "5m"},
	    {"--max-inflight", "SVCFLEET_RECONCILER_MAX_INFLIGHT", "16"},
	    {"--max-conns", "SVCFLEET_RECONCILER_MAX_CONNS", "6"},
	    {"--backoff-max", "SVCFLEET_RECONCILER_BACKOFF_MAX", "30s"},
	    {"--stats-every", "SVCFLEET_RECONCILER_STATS_EVERY", "never"},
	    {"--http", "SVCFLEET_RECONCILER_HTTP", "off"},
	    {"--log-level", "SVCFLEET_RECONCILER_LOG_LEVEL", "info"},
	    {"--id", "SVCFLEET_RECONCILER_ID", "HOSTNAME-PID"},
	    {"--lease-ttl", "SVCFLEET_RECONCILER_LEASE_TTL", "10s"},
	    // issue 20
	    {"--allow-core-dumps", "SVCFLEET_RECONCILER_ALLOW_CORE_DUMPS",
	        "false"},
	};
	char  *out    = NULL;
	size_t nflags = 0;
	(void) state;

	assert_int_equal(run("", "--help", &out, NULL), 0);
	for (const char *p = out; (p = strstr(p, "\n  --")) != NULL; p++) {
		nflags++;
	}
	// Every option, plus --help and --version, and nothing else.
	assert_int_equal(nflags, sizeof(opts) / sizeof(opts[0]) + 2);
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char        want[200];
		const char *at;
		snprintf(want, sizeof(want), "\n  %s", opts[i][0]);
		if ((at = strstr(out, want)) == NULL) {
			fail_msg("--help lacks %s", opts[i][0]);
		}
		snprintf(want, sizeof(want), "(%s; default: %s)", opts[i][1],
		    opts[i][2]);
		const char *d = strstr(at, want);
		if (d == NULL || d - at > 400) {
			fail_msg("--help lacks %s after %s", want, opts[i][0]);
		}
	}
	assert_non_null(strstr(out,
	    "  SVCFLEET_SHARD: now "
	    "SVCFLEET_RECONCILER_SHARD\n"));
	assert_non_null(strstr(out,
	    "  SVCFLEET_ALLOW_CORE_DUMPS: now "
	    "SVCFLEET_RECONCILER_ALLOW_CORE_DUMPS\n"));
	assert_non_null(
	    strstr(out, "--config (or SVCFLEET_RECONCILER_CONFIG)"));
	free(out);
}

// "FILE:LINE" of the configuration file path.
static const char *
at(const char *path, int line)
{
	static char buf[4][420];
	static int  slot;
	char       *b = buf[slot++ & 3];
	snprintf(b, sizeof(buf[0]), "%s:%d", path, line);
	return (b);
}

static void
test_precedence(void **state)
{
	char  path[400], args[600], env[600];
	char *out = NULL, *err = NULL;
	(void) state;

	snprintf(path, sizeof(path), "%s/r.conf", g_dir);
	assert_int_equal(th_write_file(path,
	                     "# svcfleet-reconciler.conf\n"
	                     "server = ipc://file.sock\n"
	                     "token-file = file.token\n"
	                     "shard = 1/4\n"
	                     "resync = 10m\n"
	                     "max-conns = 2\n"),
	    0);
	// The file alone; what it does not set keeps its default.
	snprintf(args, sizeof(args), "--check-config --config %s", path);
	assert_int_equal(run("", args, &out, &err), 0);
	assert_string_equal(err, "");
	want_line(out, "server", "ipc://file.sock", at(path, 2));
	want_line(out, "shard", "1/4", at(path, 4));
	want_line(out, "resync", "10m", at(path, 5));
	want_line(out, "max-conns", "2", at(path, 6));
	want_line(out, "max-inflight", "16", "default");
	want_line(out, "backoff-max", "30s", "default");
	want_line(out, "http", "off", "default");
	free(out);
	free(err);

	// The environment over the file (named by its variable), flags over
	// both.
	snprintf(env, sizeof(env),
	    "SVCFLEET_RECONCILER_CONFIG=%s SVCFLEET_RECONCILER_RESYNC=2m "
	    "SVCFLEET_RECONCILER_SHARD=0/2",
	    path);
	assert_int_equal(run(env,
	                     "--check-config --resync 1m --max-inflight=3 "
	                     "--http 127.0.0.1:0",
	                     &out, &err),
	    0);
	assert_string_equal(err, "");
	want_line(out, "token-file", "file.token", at(path, 3));
	want_line(out, "shard", "0/2", "SVCFLEET_RECONCILER_SHARD");
	want_line(out, "resync", "1m", "--resync");
	want_line(out, "max-inflight", "3", "--max-inflight");
	want_line(out, "http", "127.0.0.1:0", "--http");
	free(out);
	free(err);
}

static void
test_renamed_variables(void **state)
{
	char *out = NULL, *err = NULL;
	(void) state;

	// A former name alone is read, and says what to set instead.
	assert_int_equal(run("SVCFLEET_SERVER=ipc://old.sock "
	                     "SVCFLEET_RECONCILER_TOKEN_FILE=t "
	                     "SVCFLEET_BACKOFF_MAX=5s",
	                     "--check-config", &out, &err),
	    0);
	want_line(out, "server", "ipc://old.sock", "SVCFLEET_SERVER");
	want_line(out, "backoff-max", "5s", "SVCFLEET_BACKOFF_MAX");
	assert_non_null(strstr(err,
	    "svcfleet-reconciler: warning: SVCFLEET_SERVER is deprecated and "
	    "will stop working in a later release: set "
	    "SVCFLEET_RECONCILER_SERVER instead\n"));
	assert_non_null(strstr(err, "set SVCFLEET_RECONCILER_BACKOFF_MAX"));
	free(out);
	free(err);
	// The new name wins, without a word about the old one (the CLI's
	// SVCFLEET_SERVER may well be set in the same shell).
	assert_int_equal(run("SVCFLEET_SERVER=ipc://cli.sock "
	                     "SVCFLEET_RECONCILER_SERVER=ipc://new.sock "
	                     "SVCFLEET_RECONCILER_TOKEN_FILE=t",
	                     "--check-config", &out, &err),
	    0);
	want_line(
	    out, "server", "ipc://new.sock", "SVCFLEET_RECONCILER_SERVER");
	assert_string_equal(err, "");
	free(out);
	free(err);
}

static void
test_bad_values(void **state)
{
	static const struct {
		const char *env;
		const char *args;
		const char *want; // stderr, after "svcfleet-reconciler: "
	} cases[] = {
	    {"", "--token-file t",
	        "--server and --token-file are required (see --help)"},
	    {"", "--server s --token-file t --shard 2/2",
	        "invalid value \"2/2\" for --shard: want I/N with 0 <= I < N, "
	        "e.g. 0/2"},
	    {"", "--server s --token-file t --max-inflight 0",
	        "invalid value \"0\" for --max-inflight: want an integer from "
	        "1 to 100000"},
	    {"SVCFLEET_RECONCILER_RESYNC=soon", "--server s --token-file t",
	        "invalid value \"soon\" for SVCFLEET_RECONCILER_RESYNC "
	        "(environment, --resync): want a duration such as 30s or 5m, "
	        "at most 24h"},
	    {"", "--server s --token-file t --http 127.0.0.1:99999",
	        "invalid value \"127.0.0.1:99999\" for --http: "
	        "\"127.0.0.1:99999\": the port must be a number from 0 to "
	        "65535"},
	    {"SVCFLEET_RECONCILER_HTTP=https://127.0.0.1:0",
	        "--server s --token-file t",
	        "invalid value \"https://127.0.0.1:0\" for --http (from "
	        "SVCFLEET_RECONCILER_HTTP): the endpoint serves plain HTTP "
	        "only"},
	    {"", "--server s --token-file t --log-level loud",
	        "invalid value \"loud\" for --log-level: want debug, info, "
	        "warn or error"},
	    {"", "--server s --token-file t --no-such-flag",
	        "unknown flag --no-such-flag (see --help)"},
	};
	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *err = NULL, want[600];
		int   rc  = run(cases[i].env, cases[i].args, NULL, &err);
		snprintf(want, sizeof(want), "svcfleet-reconciler: %s\n",
		    cases[i].want);
		if (rc != 2 || strcmp(err, want) != 0) {
			fail_msg("case %zu: exit %d, stderr\n%s\nwant\n%s", i,
			    rc, err, want);
		}
		free(err);
	}
}

// The reconciler inside svcfleetd: the same variables, the former names
// of its tuning (but not SVCFLEET_MAX_INFLIGHT, svcfleetd's own), and only
// for what the caller left at 0.
static void
test_embedded_from_env(void **state)
{
	sf_reconciler_opts o;
	sf_status          st;
	(void) state;

	sf_status_init(&st);
	setenv("SVCFLEET_RECONCILER_RESYNC", "90s", 1);
	setenv("SVCFLEET_BACKOFF_MAX", "2s", 1);
	setenv("SVCFLEET_MAX_INFLIGHT", "999", 1);
	setenv("SVCFLEET_RECONCILER_MAX_CONNS", "3", 1);
	memset(&o, 0, sizeof(o));
	o.ro_max_conns = 1;
	assert_int_equal(sf_reconciler_opts_from_env(&o, &st), 0);
	assert_int_equal(o.ro_resync_ms, 90000);
	assert_int_equal(o.ro_backoff_max_ms, 2000);
	assert_int_equal(o.ro_max_inflight, 16);
	assert_int_equal(o.ro_max_conns, 1);
	// The lease TTL (issue 16): 10 s when unset, as standalone.
	assert_int_equal(o.ro_ttl_ms, 10000);

	// The lease TTL from the environment, only where the caller left 0,
	// and checked as --lease-ttl is. (The error is the message even
	// though the warning about SVCFLEET_BACKOFF_MAX comes first.)
	setenv("SVCFLEET_RECONCILER_LEASE_TTL", "3s", 1);
	memset(&o, 0, sizeof(o));
	assert_int_equal(sf_reconciler_opts_from_env(&o, &st), 0);
	assert_int_equal(o.ro_ttl_ms, 3000);
	memset(&o, 0, sizeof(o));
	o.ro_ttl_ms = 7000;
	assert_int_equal(sf_reconciler_opts_from_env(&o, &st), 0);
	assert_int_equal(o.ro_ttl_ms, 7000);
	setenv("SVCFLEET_RECONCILER_LEASE_TTL", "500ms", 1);
	memset(&o, 0, sizeof(o));
	assert_int_equal(
	    sf_reconciler_opts_from_env(&o, &st), SF_INVALID_ARGUMENT);
	assert_string_equal(st.st_msg,
	    "invalid value \"500ms\" for SVCFLEET_RECONCILER_LEASE_TTL "
	    "(environment, --lease-ttl): want a duration from 1s to 1h, "
	    "e.g. 10s");
	sf_status_reset(&st);
	unsetenv("SVCFLEET_RECONCILER_LEASE_TTL");

	setenv("SVCFLEET_RECONCILER_MAX_INFLIGHT", "many", 1);
	memset(&o, 0, sizeof(o));
	assert_int_equal(
	    sf_reconciler_opts_from_env(&o, &st), SF_INVALID_ARGUMENT);
	assert_string_equal(st.st_msg,
	    "invalid value \"many\" for SVCFLEET_RECONCILER_MAX_INFLIGHT "
	    "(environment, --max-inflight): want an integer from 1 to "
	    "100000");
	sf_status_fini(&st);
	unsetenv("SVCFLEET_RECONCILER_RESYNC");
	unsetenv("SVCFLEET_BACKOFF_MAX");
	unsetenv("SVCFLEET_MAX_INFLIGHT");
	unsetenv("SVCFLEET_RECONCILER_MAX_CONNS");
	unsetenv("SVCFLEET_RECONCILER_MAX_INFLIGHT");
}

static int
setup(void **state)
{
	(void) state;
	th_tmpdir(g_dir, sizeof(g_dir), "recon-config");
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
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_renamed_variables),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_embedded_from_env),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
