// sec_6_test.c: finding 6 of issue 17, RPC listener exhaustion. Idle TCP
// connections (the SP handshake done, no request ever sent) held every
// --max-connections place, locking every TCP client out for as long as
// they stayed. Now a connection that sends nothing within
// --connection-idle-timeout is closed, and room comes back; per-peer
// limits (--max-connections-per-peer) still keep a share for others.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sec_util.h"

enum { IDLE = 4 };
#define CONNS "svcfleet_rpc_connections"

static bool
served(const char *url)
{
	svcfleet_client *c  = NULL;
	svcfleet_status  st = {0};
	svcfleet_options o
	    = {.url = url, .timeout_ms = 500, .connect_now = true};
	Svcfleet__V1__Empty        e  = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__HealthReply *h  = NULL;
	bool                       ok = svcfleet_open(&c, &o, &st) == 0
	    && svcfleet_health(c, &e, &h, &st) == 0;
	svcfleet_free(h);
	svcfleet_close(c);
	svcfleet_status_fini(&st);
	return (ok);
}

// Dials IDLE connections to url that never send a request (their dialers
// wait a minute to redial once closed).
static void
dial_idle(nng_socket *s, const char *url)
{
	for (int i = 0; i < IDLE; i++) {
		assert_int_equal(nng_req0_open(&s[i]), 0);
		nng_socket_set_ms(s[i], NNG_OPT_RECONNMINT, 60000);
		nng_socket_set_ms(s[i], NNG_OPT_RECONNMAXT, 60000);
		assert_int_equal(nng_dial(s[i], url, NULL, 0), 0);
	}
}

static void
test_idle_connections_closed(void **state)
{
	th_server   srv     = {0};
	const char *extra[] = {"--max-connections", "4",
	    "--max-connections-per-peer", "4", "--connection-idle-timeout",
	    "1s", "--listen", "tcp://127.0.0.1:0", NULL};
	nng_socket  s[IDLE];
	char        url[64];
	(void) state;

	assert_int_equal(th_server_start(&srv, NULL, extra), 0);
	char *log = th_read_file(srv.ts_log, NULL), *at;
	assert_non_null(at = strstr(log, "listening on tcp://127.0.0.1:"));
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d",
	    atoi(at + strlen("listening on tcp://127.0.0.1:")));
	free(log);

	// The harness's own calls at start (its readiness probe) may still
	// hold a place until svcfleetd has seen them close: wait for none, or
	// the last dial below finds no room (seen once on a loaded machine).
	assert_true(sec_wait_metric(&srv, CONNS, 0));
	// The attack: every place taken by connections that never speak
	// (nng's dialers reconnect at once when closed: they are closed
	// for good by the test only at the end).
	dial_idle(s, url);
	// Every place taken; then, within seconds (the timeout is 1 s), not
	// never, none: the idle ones were closed.
	assert_true(sec_wait_metric(&srv, CONNS, IDLE));
	assert_true(sec_wait_metric(&srv, CONNS, 0));
	assert_true(th_server_log_contains(
	    &srv, "closing a connection idle since it came"));
	// Room again (their dialers wait a minute to redial).
	assert_true(served(url));
	for (int i = 0; i < IDLE; i++) {
		nng_close(s[i]);
	}
	// i21-idle: the sweep runs only while a connection may go idle; it
	// stops once none is left, and the next one starts it again: a
	// second wave is closed too.
	assert_true(sec_wait_metric(&srv, CONNS, 0));
	dial_idle(s, url);
	assert_true(sec_wait_metric(&srv, CONNS, IDLE));
	assert_true(sec_wait_metric(&srv, CONNS, 0));
	assert_true(served(url));
	for (int i = 0; i < IDLE; i++) {
		nng_close(s[i]);
	}
	assert_int_equal(th_server_stop(&srv), 0);
	th_runf(NULL, NULL, "rm -rf '%s'", srv.ts_dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle_connections_closed),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
