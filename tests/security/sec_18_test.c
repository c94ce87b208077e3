// sec_18_test.c: finding 18 of issue 17, core dumps hold the AES key and
// cluster tokens. svcfleetd now makes itself not dumpable (no core, no
// ptrace or /proc/PID/mem by other processes of its user) unless
// --allow-core-dumps is given, and its systemd units set LimitCORE=0.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sec_util.h"

// Not dumpable: the kernel gives /proc/PID's files to root. (When the
// test itself runs as root that cannot be told apart; the daemon's own
// line says it then.)
static void
check_dumpable(th_server *s, bool want)
{
	char        path[64];
	struct stat sb;
	snprintf(path, sizeof(path), "/proc/%d/environ", (int) s->ts_pid);
	assert_int_equal(stat(path, &sb), 0);
	if (getuid() != 0) {
		assert_int_equal(sb.st_uid == 0, !want);
	}
	assert_int_equal(
	    th_server_log_contains(s, "core dumps off (not dumpable)"), !want);
}

static void
test_not_dumpable_by_default(void **state)
{
	th_server s = {0};
	(void) state;
	assert_int_equal(th_server_start(&s, NULL, NULL), 0);
	check_dumpable(&s, false);
	assert_int_equal(th_server_stop(&s), 0);
	th_runf(NULL, NULL, "rm -rf '%s'", s.ts_dir);

	const char *const allow[] = {"--allow-core-dumps", NULL};
	th_server         t       = {0};
	assert_int_equal(th_server_start(&t, NULL, allow), 0);
	check_dumpable(&t, true);
	assert_true(th_server_log_contains(&t, "core dumps allowed"));
	assert_int_equal(th_server_stop(&t), 0);
	th_runf(NULL, NULL, "rm -rf '%s'", t.ts_dir);
}

static void
test_units_limit_core(void **state)
{
	static const char *const units[]
	    = {"deploy/systemd/svcfleetd.service.in",
	        "deploy/systemd/svcfleet-reconciler.service.in"};
	(void) state;
	for (size_t i = 0; i < 2; i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", getenv("SF_SRC_DIR"),
		    units[i]);
		char *text = th_read_file(path, NULL);
		assert_non_null(text);
		assert_non_null(strstr(text, "\nLimitCORE=0\n"));
		free(text);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_not_dumpable_by_default),
	    cmocka_unit_test(test_units_limit_core),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
