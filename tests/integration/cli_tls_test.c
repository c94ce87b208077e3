// cli_tls_test.c: the CLI against svcfleetd's tls+tcp:// listener, with a
// CA and a server certificate made by the openssl command — verification
// against the right CA, the wrong CA, the wrong name, no CA at all, the
// explicit --insecure-skip-verify, and plaintext clients and servers on
// the wrong side of a handshake, which must fail fast and leave the daemon
// serving.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"

// Makes a CA, a server certificate it signs (for 127.0.0.1 and localhost)
// and an unrelated CA in dir. False when there is no openssl command.
static bool
make_certs(const char *dir)
{
	char *err = NULL;
	int   rv;

	if (th_runf(NULL, NULL, "command -v openssl") != 0) {
		return (false);
	}
	rv = th_runf(NULL, &err,
	    "set -e; cd '%s'; "
	    "K='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'; "
	    "openssl req -x509 $K -keyout ca.key -out ca.pem -days 3 "
	    "  -subj /CN=svcfleet-test-ca; "
	    "openssl req -x509 $K -keyout other.key -out other.pem -days 3 "
	    "  -subj /CN=svcfleet-other-ca; "
	    "openssl req $K -keyout srv.key -out srv.csr -subj /CN=svcfleetd; "
	    "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext; "
	    "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key "
	    "  -CAcreateserial -out srv.pem -days 3 -extfile ext",
	    dir);
	if (rv != 0) {
		fail_msg("openssl failed: %s", err);
	}
	free(err);
	return (true);
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double) ts.tv_sec + (double) ts.tv_nsec / 1e9);
}

static void
test_tls(void **state)
{
	ct_env      e;
	char        dir[256], tls[80], plain[80], cert[400], key[400];
	char        srv[128], ca[400], other[400], pre[1024], want[1024];
	const char *extra[] = {"--listen", "tls+tcp://127.0.0.1:0", "--listen",
	    "tcp://127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, NULL};
	char       *out, *err;
	int         port;
	(void) state;

	th_tmpdir(dir, sizeof(dir), "tls");
	if (!make_certs(dir)) {
		skip();
	}
	snprintf(cert, sizeof(cert), "%s/srv.pem", dir);
	snprintf(key, sizeof(key), "%s/srv.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(other, sizeof(other), "%s/other.pem", dir);
	// The daemon picks its ports (port 0) and says which.
	ct_start(&e, extra);
	port = ct_listen_port(&e, "tls+tcp");
	snprintf(tls, sizeof(tls), "tls+tcp://127.0.0.1:%d", port);
	snprintf(plain, sizeof(plain), "tcp://127.0.0.1:%d",
	    ct_listen_port(&e, "tcp"));
	snprintf(srv, sizeof(srv), "--server %s", tls);

	// The right CA.
	out = ct_ok(&e, "%s --ca-file %s version", srv, ca);
	assert_non_null(strstr(out, "\nServer Version: "));
	free(out);
	out = ct_ok(&e,
	    "%s --ca-file %s --token-file %s/admin.token whoami -o name", srv,
	    ca, e.ce_srv.ts_data);
	assert_string_equal(out, "user/admin\n");
	free(out);
	// The CA from the environment, and a name the certificate carries.
	snprintf(pre, sizeof(pre), "SVCFLEET_CA_FILE='%s' SVCFLEET_TOKEN=%s",
	    ca, e.ce_srv.ts_token);
	e.ce_prefix = pre;
	out         = ct_ok(&e, "%s --server-name localhost token list", srv);
	assert_non_null(strstr(out, "admin"));
	free(out);
	// cluster add: --ca-file (and --token-file) are the cluster's, so
	// svcfleetd's CA comes from the environment.
	out = ct_ok(&e,
	    "%s cluster add prod --api-server https://127.0.0.1:6443 "
	    "--ca-file %s --cluster-token-file %s",
	    srv, e.ce_ca, e.ce_tok);
	assert_string_equal(out, "cluster/prod registered\n");
	free(out);

	// A name the certificate does not carry.
	err = ct_fails(&e, 1, "%s --server-name wrong.example whoami", srv);
	snprintf(want, sizeof(want),
	    "error: UNAVAILABLE: cannot connect to %s: Cryptographic error: "
	    "the TLS handshake failed: the server's certificate is not "
	    "signed by a CA in %s, does not name wrong.example (see "
	    "--server-name), or the server does not speak TLS\n",
	    tls, ca);
	assert_string_equal(err, want);
	free(err);
	e.ce_prefix = NULL;

	// Another CA: UNAVAILABLE, naming the TLS failure.
	err = ct_fails(&e, 1, "%s --ca-file %s whoami", srv, other);
	snprintf(want, sizeof(want),
	    "error: UNAVAILABLE: cannot connect to %s: Cryptographic error: "
	    "the TLS handshake failed: the server's certificate is not "
	    "signed by a CA in %s, does not name the --server host (see "
	    "--server-name), or the server does not speak TLS\n",
	    tls, other);
	assert_string_equal(err, want);
	free(err);
	assert_int_equal(ct_cli(&e, NULL, &out, &err,
	                     "%s --ca-file %s version", srv, other),
	    1);
	assert_string_equal(err, want);
	free(out);
	free(err);

	// No CA: a usage error saying what to give.
	err = ct_fails(&e, 2, "%s whoami", srv);
	snprintf(want, sizeof(want),
	    "error: %s is a TLS server: give --ca-file FILE "
	    "(or SVCFLEET_CA_FILE) with the CA certificate that signed its "
	    "certificate, or --insecure-skip-verify to connect without "
	    "checking who answers (see 'svcfleet whoami --help')\n",
	    tls);
	assert_string_equal(err, want);
	free(err);
	err = ct_fails(&e, 1, "%s --ca-file %s/nope.pem whoami", srv, dir);
	snprintf(want, sizeof(want),
	    "error: INVALID_ARGUMENT: cannot read the CA file %s/nope.pem "
	    "(--ca-file): No such file or directory\n",
	    dir);
	assert_string_equal(err, want);
	free(err);
	err = ct_fails(
	    &e, 2, "%s --ca-file %s --insecure-skip-verify whoami", srv, ca);
	assert_non_null(strstr(
	    err, "--ca-file and --insecure-skip-verify exclude each other"));
	free(err);

	// Skipping verification works, explicitly, and says what it costs.
	assert_int_equal(ct_cli(&e, NULL, &out, &err,
	                     "%s --insecure-skip-verify version", srv),
	    0);
	assert_non_null(strstr(out, "\nServer Version: "));
	snprintf(want, sizeof(want),
	    "warning: --insecure-skip-verify: the certificate of %s is not "
	    "verified; anyone on the way can read the token and change the "
	    "answers\n",
	    tls);
	assert_string_equal(err, want);
	free(out);
	free(err);

	// TLS flags for a server that is not TLS protect nothing: refused.
	err = ct_fails(&e, 2, "--ca-file %s whoami", ca);
	assert_non_null(strstr(err,
	    "error: --ca-file applies to tls+tcp:// "
	    "servers only, and ipc://"));
	free(err);
	err = ct_fails(&e, 2, "--insecure-skip-verify whoami");
	assert_non_null(strstr(err, "--insecure-skip-verify applies to"));
	free(err);
	snprintf(pre, sizeof(pre), "SVCFLEET_CA_FILE='%s'", ca);
	e.ce_prefix = pre; // from the environment it is just not needed
	out         = ct_ok(&e, "whoami -o name");
	assert_string_equal(out, "user/admin\n");
	free(out);
	e.ce_prefix = NULL;

	// A plaintext client at the TLS port, and a TLS client at a
	// plaintext port: quick, clean failures.
	double t0 = now_s();
	err       = ct_fails(
	          &e, 1, "--server tcp://127.0.0.1:%d --timeout 2s whoami", port);
	assert_true(now_s() - t0 < 4.0);
	assert_true(strncmp(err, "error: UNAVAILABLE: ", 20) == 0
	    || strncmp(err, "error: DEADLINE_EXCEEDED: ", 26) == 0);
	assert_int_equal(ct_nlines(err), 1);
	free(err);
	t0  = now_s();
	err = ct_fails(&e, 1,
	    "--server tls+tcp://%s --ca-file %s --timeout 2s "
	    "whoami",
	    plain + 6, ca);
	assert_true(now_s() - t0 < 4.0);
	assert_true(strncmp(err, "error: UNAVAILABLE: ", 20) == 0
	    || strncmp(err, "error: DEADLINE_EXCEEDED: ", 26) == 0);
	free(err);
	// The daemon goes on serving TLS clients.
	for (int i = 0; i < 3; i++) {
		out = ct_ok(&e, "%s --ca-file %s version", srv, ca);
		assert_non_null(strstr(out, "\nServer Version: "));
		free(out);
	}

	ct_stop(&e);
	assert_int_equal(th_runf(NULL, NULL, "rm -rf '%s'", dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_tls, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
