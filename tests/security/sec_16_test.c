// sec_16_test.c: finding 16 of issue 17. Static tokens
// (--token-auth-file, formerly --token-file) could be one character long
// and the file readable by everyone. Now a token shorter than 16
// characters is refused (naming the line), as is a file every user may
// read; a file its group may read is warned about.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sec_util.h"

#define GOOD "k3Jx9Qm2Zt7Lw4Pb8Vn1Rc6Ys0Hd5Fg"

// Starts svcfleetd with a token file of text and mode; returns 0 when it
// came up (and stops it), -1 when it refused to start; log gets whether
// its log holds needle.
static int
start_with(const char *text, mode_t mode, const char *needle, bool *log)
{
	char dir[256], path[400];
	th_tmpdir(dir, sizeof(dir), "sec16");
	snprintf(path, sizeof(path), "%s/tokens.csv", dir);
	assert_int_equal(th_write_file(path, text), 0);
	assert_int_equal(chmod(path, mode), 0);
	const char *const extra[] = {"--token-auth-file", path, NULL};
	th_server         s       = {0};
	int               rv      = th_server_start(&s, NULL, extra);
	*log                      = th_server_log_contains(&s, needle);
	if (rv == 0) {
		assert_int_equal(th_server_stop(&s), 0);
	}
	th_runf(NULL, NULL, "rm -rf '%s' '%s'", dir, s.ts_dir);
	return (rv);
}

static void
test_token_file_rules(void **state)
{
	bool log;
	(void) state;

	assert_int_equal(
	    start_with("x,bob,1\n", 0600, "line 1: the token has 1", &log),
	    -1);
	assert_true(log);
	assert_int_equal(start_with(GOOD ",bob,1\nshort-token,eve,2\n", 0600,
	                     "line 2: the token has 11 characters", &log),
	    -1);
	assert_true(log);
	assert_int_equal(
	    start_with(GOOD ",bob,1\n", 0644, "readable by every user", &log),
	    -1);
	assert_true(log);
	assert_int_equal(
	    start_with(GOOD ",bob,1\n", 0640, "readable by its group", &log),
	    0);
	assert_true(log);
	assert_int_equal(
	    start_with(GOOD ",bob,1\n", 0600, "readable by", &log), 0);
	assert_false(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_file_rules),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
