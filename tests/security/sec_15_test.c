// sec_15_test.c (issue 17, finding 15): the HTTPS endpoint speaks TLS 1.2
// and 1.3 with forward-secret key exchanges only — TLS 1.0/1.1 and static
// RSA key exchange are refused — as the RPC listener does. Probed with
// the openssl client against an RSA certificate (with which static RSA
// would be possible).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli_util.h"

static int
handshake(unsigned port, const char *args, char **out)
{
	return (th_runf(out, NULL,
	    "openssl s_client -connect 127.0.0.1:%u %s </dev/null 2>&1", port,
	    args));
}

static void
test_tls_versions_and_ciphers(void **state)
{
	ct_env e;
	char   dir[256], cert[300], key[300], f0[320], f1[320];
	char  *out = NULL;
	(void) state;

	th_tmpdir(dir, sizeof(dir), "sec15");
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	assert_int_equal(
	    th_runf(NULL, NULL,
	        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
	        "-subj /CN=127.0.0.1 -addext "
	        "subjectAltName=IP:127.0.0.1 -keyout %s -out %s "
	        ">/dev/null 2>&1",
	        key, cert),
	    0);
	snprintf(f0, sizeof(f0), "--tls-cert=%s", cert);
	snprintf(f1, sizeof(f1), "--tls-key=%s", key);
	const char *extra[] = {f0, f1, NULL};
	ct_start(&e, extra);
	const char *u = strrchr(e.ce_srv.ts_http, ':');
	assert_non_null(u);
	unsigned port = (unsigned) strtoul(u + 1, NULL, 10);

	// TLS 1.2 with ECDHE and TLS 1.3: fine.
	assert_int_equal(handshake(port, "-tls1_2", &out), 0);
	assert_non_null(strstr(out, "ECDHE"));
	free(out);
	assert_int_equal(handshake(port, "-tls1_3", NULL), 0);
	// Old versions (the client allowed to offer them) and static RSA:
	// refused.
	static const char *const refused[] = {
	    "-tls1_1 -cipher DEFAULT@SECLEVEL=0",
	    "-tls1 -cipher DEFAULT@SECLEVEL=0",
	    "-tls1_2 -cipher AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA",
	};
	for (size_t i = 0; i < 3; i++) {
		out = NULL;
		if (handshake(port, refused[i], &out) == 0) {
			fail_msg("handshake with %s succeeded:\n%s",
			    refused[i], out);
		}
		free(out);
	}
	ct_stop(&e);
	th_runf(NULL, NULL, "rm -rf %s", dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_tls_versions_and_ciphers, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
