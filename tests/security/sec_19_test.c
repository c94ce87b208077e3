// sec_19_test.c (issue 17, finding 19): without --server the CLI uses
// ./svcfleet-data/svcfleet.sock only when that socket belongs to the
// caller or root — otherwise whoever made it in a shared directory would
// receive the caller's token — and -v says which server it talks to.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_util.h"

static void
test_default_socket_must_be_ours(void **state)
{
	ct_env e;
	char   work[512], sock[600];
	char  *out = NULL, *err = NULL;
	(void) state;

	ct_start(&e, NULL);
	// A working directory whose ./svcfleet-data is the daemon's.
	snprintf(work, sizeof(work), "%s/work", e.ce_srv.ts_dir);
	assert_int_equal(th_runf(NULL, NULL,
	                     "mkdir -p '%s' && ln -s '%s' "
	                     "'%s/svcfleet-data'",
	                     work, e.ce_srv.ts_data, work),
	    0);
	snprintf(sock, sizeof(sock), "%s/svcfleet.sock", e.ce_srv.ts_data);
	assert_int_equal(
	    th_runf(&out, &err,
	        "cd '%s' && env -u SVCFLEET_SERVER %s -v "
	        "--token '%s' whoami",
	        work, th_bin("client/cli/svcfleet"), e.ce_srv.ts_token),
	    0);
	if (strstr(err, "server ipc://./svcfleet-data/svcfleet.sock") == NULL
	    || strstr(err, "token from --token") == NULL) {
		fail_msg("-v does not say the server and token: %s", err);
	}
	free(out);
	free(err);

	if (geteuid() != 0) {
		// Only root can hand the socket to someone else here.
		ct_stop(&e);
		skip();
	}
	// Someone else's socket: not used, and the CLI says why.
	assert_int_equal(chown(sock, 65534, 65534), 0);
	out = err = NULL;
	th_runf(&out, &err,
	    "cd '%s' && env -u SVCFLEET_SERVER %s -v --token '%s' "
	    "--timeout 2s whoami",
	    work, th_bin("client/cli/svcfleet"), e.ce_srv.ts_token);
	if (strstr(err, "not using ipc://./svcfleet-data/svcfleet.sock")
	        == NULL
	    || strstr(err, "belongs to uid 65534") == NULL
	    || strstr(err, "server tcp://127.0.0.1:7070") == NULL) {
		fail_msg("a foreign socket was used or not named: %s", err);
	}
	free(out);
	free(err);
	assert_int_equal(chown(sock, 0, 0), 0);
	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_default_socket_must_be_ours, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
