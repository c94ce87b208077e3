// sec_21_test.c (issue 17, finding 21): a request with two Content-Length
// headers, or with both Content-Length and Transfer-Encoding, is refused
// with 400 and the connection closed — a proxy in front could frame it
// otherwise and smuggle a second request in its body.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli_util.h"
#include "sec_http.h"

static void
test_framing_conflicts_refused(void **state)
{
	ct_env   e;
	unsigned port;
	char    *ans = NULL;
	char     req[512];
	(void) state;

	ct_start(&e, NULL);
	port                             = sh_port(e.ce_srv.ts_http);
	static const char *const heads[] = {
	    "Content-Length: 5\r\nContent-Length: 41\r\n",
	    "Content-Length: 5\r\nContent-Length: 5\r\n",
	    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
	    "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
	};
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		snprintf(req, sizeof(req),
		    "POST /apis/svcfleet.io/v1/selfsubjectrulesreviews "
		    "HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
		    "%s\r\nContent-Type: application/json\r\n%s\r\n"
		    "0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: "
		    "127.0.0.1\r\n\r\n",
		    e.ce_srv.ts_token, heads[i]);
		int code = sh_request(port, NULL, req, 5000, &ans);
		if (code != 400) {
			fail_msg("case %zu: want 400, got:\n%s", i, ans);
		}
		// One answer, and no second (smuggled) one.
		assert_null(strstr(strstr(ans, "\r\n\r\n"), "HTTP/1."));
		free(ans);
	}
	// One Content-Length is fine.
	snprintf(req, sizeof(req),
	    "POST /apis/svcfleet.io/v1/selfsubjectrulesreviews HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: "
	    "application/json\r\nContent-Length: 2\r\n\r\n{}",
	    e.ce_srv.ts_token);
	int code = sh_request(port, NULL, req, 5000, &ans);
	if (code == 400 || code == 0) {
		fail_msg("a plain request was refused:\n%s", ans);
	}
	free(ans);
	// The server still serves.
	assert_int_equal(
	    sh_request(port, NULL,
	        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 5000,
	        NULL),
	    200);
	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_framing_conflicts_refused, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
