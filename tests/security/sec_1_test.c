// sec_1_test.c (issue 17, finding 1): memory before authentication. A
// gateway request with a body and no (or a bad) token is answered 401
// from its headers alone — the body is never read — and a body from a
// valid caller is bounded in what it may expand to before it is parsed.
// (bench/gw_body_bench measures the daemon's RSS under the attack.)
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_util.h"
#include "sec_http.h"

#define PATH "/apis/svcfleet.io/v1/clusters/c1/namespaces/dev/services"

static void
test_no_token_no_body_read(void **state)
{
	ct_env   e;
	unsigned port;
	char     req[1024];
	(void) state;

	ct_start(&e, NULL);
	port = sh_port(e.ce_srv.ts_http);
	static const char *const auth[]
	    = {"", "Authorization: Bearer not-a-token\r\n"};
	for (size_t i = 0; i < 2; i++) {
		// Headers announcing 3.9 MB, and not a byte of it: the
		// answer must come at once, not after the body.
		snprintf(req, sizeof(req),
		    "POST " PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
		    "Content-Type: application/json\r\n"
		    "Content-Length: 3900000\r\n\r\n",
		    auth[i]);
		char     *ans  = NULL;
		long long t0   = sh_now_ms();
		int       code = sh_request(port, NULL, req, 5000, &ans);
		if (code != 401) {
			fail_msg("case %zu: want 401 before the body, got %d "
			         "after %lld ms: %s",
			    i, code, sh_now_ms() - t0, ans);
		}
		assert_non_null(strstr(ans, "\"reason\":\"Unauthorized\""));
		free(ans);
	}
	ct_stop(&e);
}

static void
test_body_expansion_bounded(void **state)
{
	ct_env   e;
	unsigned port;
	size_t   n = 200000, cap = n * 3 + 4096, len;
	char    *body = malloc(cap), *req = malloc(cap + 1024), *ans = NULL;
	(void) state;

	ct_start(&e, NULL);
	port = sh_port(e.ce_srv.ts_http);
	// 200 000 empty ports: 600 kB of JSON, within the size limit, but
	// far more values than any Service has.
	len = (size_t) snprintf(body, cap,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":\"big1\"},\"spec\":{\"selector\":{\"a\":\"b\"},"
	    "\"ports\":[");
	for (size_t i = 0; i < n; i++) {
		memcpy(body + len, i ? ",{}" : "{}", i ? 3 : 2);
		len += i ? 3 : 2;
	}
	len += (size_t) snprintf(body + len, cap - len, "]}}");
	int hl = snprintf(req, 1024,
	    "POST " PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
	    "Bearer %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n",
	    e.ce_srv.ts_token, len);
	memcpy(req + hl, body, len);
	req[hl + (int) len] = '\0';
	int code            = sh_request(port, NULL, req, 20000, &ans);
	if (code != 413 || strstr(ans, "values") == NULL) {
		fail_msg(
		    "want 413 naming the values, got %d: %.300s", code, ans);
	}
	free(ans);
	// Over the gateway's 1 MiB: refused by size.
	assert_int_equal(
	    sh_request(port, NULL,
	        "POST " PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	        "Content-Type: application/json\r\nContent-Length: 5000000"
	        "\r\n\r\n",
	        5000, NULL),
	    413);
	free(body);
	free(req);
	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_no_token_no_body_read, ct_cleanup),
	    cmocka_unit_test_teardown(test_body_expansion_bounded, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
