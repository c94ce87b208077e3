// svcfleetd_test.c: what svcfleetd's own files decide, run as the binary
// (found through SF_BIN_DIR) without starting a server: the option table
// read through --check-config (a flag, the environment, the defaults it
// derives), the checks across options (a key without its certificate,
// etcd without endpoints), a bad value named with its flag, and the
// backup/restore subcommands' refusals — a directory without a store, a
// file that is no store (restored into nothing: the data directory holds
// no data.mdb afterwards). A server's life (start, signals, backup of a
// live store) is tests/integration's ops_*_test. Each case is one run of
// the binary: they are few, so the test stays fast.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static char dir[256];

static int
setup(void **state)
{
	(void) state;
	th_tmpdir(dir, sizeof(dir), "svcfleetd-test");
	return 0;
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

// run runs svcfleetd with args (a shell word list) and env (NULL: none);
// returns its exit code with stdout and stderr in *out and *err.
static int
run(const char *env, const char *args, char **out, char **err)
{
	return th_runf(out, err, "cd '%s' && env %s '%s' %s", dir,
	    env != NULL ? env : "", th_bin("cmd/svcfleetd/svcfleetd"), args);
}

static void
expect(const char *env, const char *args, int code, const char *in_out,
    const char *in_err)
{
	char *out = NULL, *err = NULL;
	int   rc = run(env, args, &out, &err);
	if (rc != code || (in_out != NULL && strstr(out, in_out) == NULL)
	    || (in_err != NULL && strstr(err, in_err) == NULL)) {
		fail_msg("svcfleetd %s: exit %d (want %d)\nstdout: %s\n"
		         "stderr: %s\nwanted in stdout: %s\nwanted in "
		         "stderr: %s",
		    args, rc, code, out, err, in_out ? in_out : "-",
		    in_err ? in_err : "-");
	}
	free(out);
	free(err);
}

// One run: a flag, the environment, and a value derived from the
// defaults, each printed with where it came from.
static void
test_check_config(void **state)
{
	(void) state;
	char *out = NULL, *err = NULL;
	int   rc = run("SVCFLEETD_CONTEXTS=64",
	      "--check-config --data-dir d --http off --workers 5", &out, &err);
	if (rc != 0 || strstr(out, "workers = 5  # --workers") == NULL
	    || strstr(out, "contexts = 64  # SVCFLEETD_CONTEXTS") == NULL
	    || strstr(out, "max-watches = 32") == NULL) {
		fail_msg("exit %d\nstdout: %s\nstderr: %s", rc, out, err);
	}
	free(out);
	free(err);
	// Nothing is created by a check.
	struct stat sb;
	char        p[300];
	snprintf(p, sizeof(p), "%s/d", dir);
	assert_int_not_equal(stat(p, &sb), 0);
}

static void
test_bad_options(void **state)
{
	(void) state;
	expect(NULL, "--check-config --data-dir d --workers abc", 2, NULL,
	    "invalid value \"abc\" for --workers");
	expect("SVCFLEETD_TLS_KEY=k.pem", "--check-config --data-dir d", 2,
	    NULL, "--tls-key (from SVCFLEETD_TLS_KEY) needs --tls-cert too");
	expect(NULL, "--check-config --data-dir d --store etcd", 2, NULL,
	    "--store etcd (from --store) needs --etcd-endpoints");
}

static void
test_backup_restore_refusals(void **state)
{
	(void) state;
	expect(NULL, "backup --data-dir nothing-here --out b", 1, NULL,
	    "backup: no store in nothing-here");
	char path[300];
	snprintf(path, sizeof(path), "%s/not-a-store", dir);
	assert_int_equal(th_write_file(path, "garbage\n"), 0);
	expect(NULL, "restore --in not-a-store --data-dir r", 1, NULL,
	    "not-a-store is not a usable svcfleet backup");
	// Refused before anything took the store's place.
	struct stat sb;
	snprintf(path, sizeof(path), "%s/r/data.mdb", dir);
	assert_int_not_equal(stat(path, &sb), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_config),
	    cmocka_unit_test(test_bad_options),
	    cmocka_unit_test(test_backup_restore_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
