// reconciler_main_test.c: what svcfleet-reconciler's main.c decides, run as
// the binary (found through SF_BIN_DIR) with --check-config, so no server
// is needed: its option table on the shared options engine (a flag, the
// environment, a --config file, each value printed with where it came
// from, defaults marked), the required options, a bad duration named with
// its flag, an unknown option in the file named with its line, and the
// endpoint that serves plain HTTP only. Reconciling itself is
// tests/integration's recon_*_test.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static char dir[256];
static char conf[300];
static char tok[300];

static int
setup(void **state)
{
	(void) state;
	th_tmpdir(dir, sizeof(dir), "reconciler-main-test");
	snprintf(conf, sizeof(conf), "%s/reconciler.conf", dir);
	snprintf(tok, sizeof(tok), "%s/token", dir);
	return th_write_file(tok, "t0ken\n");
}

static int
teardown(void **state)
{
	(void) state;
	char *out = NULL;
	th_runf(&out, NULL, "rm -rf '%s'", dir);
	free(out);
	return 0;
}

static void
expect(const char *env, const char *args, int code, const char *in_out,
    const char *in_err)
{
	char *out = NULL, *err = NULL;
	int   rc = th_runf(&out, &err, "env %s '%s' --check-config %s",
            env != NULL ? env : "",
	      th_bin("cmd/svcfleet-reconciler/svcfleet-reconciler"), args);
	if (rc != code || (in_out != NULL && strstr(out, in_out) == NULL)
	    || (in_err != NULL && strstr(err, in_err) == NULL)) {
		fail_msg(
		    "svcfleet-reconciler --check-config %s: exit %d (want "
		    "%d)\nstdout: %s\nstderr: %s\nwanted in stdout: %s\n"
		    "wanted in stderr: %s",
		    args, rc, code, out, err, in_out ? in_out : "-",
		    in_err ? in_err : "-");
	}
	free(out);
	free(err);
}

// One run: a flag, the environment and a --config file, each value
// printed with where it came from, a flag winning over the file.
static void
test_sources(void **state)
{
	(void) state;
	char args[700], want[400];

	assert_int_equal(
	    th_write_file(conf, "backoff-max = 10s\nmax-inflight = 4\n"), 0);
	snprintf(args, sizeof(args),
	    "--server ipc:///x --token-file '%s' --config '%s' "
	    "--max-inflight 7",
	    tok, conf);
	snprintf(want, sizeof(want), "backoff-max = 10s  # %s:1", conf);
	char *out = NULL, *err = NULL;
	int   rc = th_runf(&out, &err,
	      "SVCFLEET_RECONCILER_RESYNC=2m '%s' --check-config %s",
	      th_bin("cmd/svcfleet-reconciler/svcfleet-reconciler"), args);
	if (rc != 0 || strstr(out, "server = ipc:///x  # --server") == NULL
	    || strstr(out, "resync = 2m  # SVCFLEET_RECONCILER_RESYNC") == NULL
	    || strstr(out, want) == NULL
	    || strstr(out, "max-inflight = 7  # --max-inflight") == NULL
	    || strstr(out, "lease-ttl = 10s  # default") == NULL) {
		fail_msg("exit %d\nstdout: %s\nstderr: %s", rc, out, err);
	}
	free(out);
	free(err);
}

static void
test_refusals(void **state)
{
	(void) state;
	char args[700];

	expect(NULL, "--server ipc:///x", 2, NULL,
	    "--server and --token-file are required");
	snprintf(args, sizeof(args),
	    "--server ipc:///x --token-file '%s' --resync 5x", tok);
	expect(NULL, args, 2, NULL, "invalid value \"5x\" for --resync");
	snprintf(args, sizeof(args),
	    "--server ipc:///x --token-file '%s' --http https://127.0.0.1:1",
	    tok);
	expect(NULL, args, 2, NULL, "serves plain HTTP only");

	assert_int_equal(th_write_file(conf, "\nno-such = 1\n"), 0);
	snprintf(args, sizeof(args),
	    "--server ipc:///x --token-file '%s' --config '%s'", tok, conf);
	char want[400];
	snprintf(want, sizeof(want), "%s:2: unknown option \"no-such\"", conf);
	expect(NULL, args, 2, NULL, want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sources),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
