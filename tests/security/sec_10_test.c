// sec_10_test.c (issue 17, finding 10): an annotation holding terminal
// escape sequences (an OSC that retitles the window, BEL) reaches an
// admin's terminal through `svcfleet describe` as text, never as control
// characters (kubectl's CVE-2021-25743). Run under script(1) so that the
// CLI's stdout is a terminal; a pipe still gets the bytes as stored.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli_util.h"

static void
test_describe_escapes_on_a_terminal(void **state)
{
	ct_env e;
	char  *out = NULL, *err = NULL;
	(void) state;

	if (th_run("command -v script >/dev/null", NULL, NULL, NULL) != 0) {
		skip();
	}
	ct_start(&e, NULL);
	ct_add_cluster(&e, "c1");
	free(ct_ok(&e,
	    "create service web1 --cluster c1 -n dev --selector app=web "
	    "--port 80 --annotation \"note=$(printf "
	    "'a\\033]0;pwned\\007b')\""));
	// Through a pipe: the value as stored.
	out = ct_ok(&e, "describe service web1 --cluster c1 -n dev");
	assert_non_null(strstr(out, "a\033]0;pwned\007b"));
	free(out);
	// On a terminal: shown, not obeyed.
	out = NULL;
	assert_int_equal(
	    th_runf(&out, &err,
	        "script -qec \"%s --server '%s' describe service web1 "
	        "--cluster c1 -n dev\" /dev/null",
	        th_bin("client/cli/svcfleet"), e.ce_srv.ts_url),
	    0);
	if (strchr(out, '\033') != NULL || strchr(out, '\007') != NULL) {
		fail_msg("control characters reached the terminal:\n%s", out);
	}
	assert_non_null(strstr(out, "a^[]0;pwned^Gb"));
	free(out);
	free(err);
	// Errors too: a server's message is printed the same way.
	out = NULL;
	err = NULL;
	th_runf(&out, &err,
	    "script -qec \"%s --server '%s' describe service web1 --cluster "
	    "\\\"$(printf 'x\\033[2Jy')\\\" -n dev\" /dev/null",
	    th_bin("client/cli/svcfleet"), e.ce_srv.ts_url);
	if (strchr(out, '\033') != NULL) {
		fail_msg("control characters reached the terminal:\n%s", out);
	}
	free(out);
	free(err);
	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_describe_escapes_on_a_terminal, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
