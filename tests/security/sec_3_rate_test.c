// sec_3_rate_test.c: issue 17, findings 2-3, what the turns alone left
// (i17-rate). Served by user in turn, one tenant's large requests still
// took what the CPUs had: each refused or validated request was followed
// at once by the next, so the faster svcfleetd refused the review's
// megabytes of empty ports, the more of them it was sent, and another
// tenant's small delete waited for a CPU (bench/attack-bench: its p99
// 3-4x the quiet one on an idle machine). Now each user's large requests
// (over 16 KiB) are read on at so_bulk_rate bytes a second at most, after
// one largest request at once; the others' are not held by it.
//
// 1. One user's requests are served no faster than the rate: the time
//    for N is at least (bytes before the last - the bucket) / rate, a
//    bound no machine can beat, so the test asserts no upper time.
// 2. The attack: while mallory's request waits for her bucket, bob's
//    large request is served at once, before hers (by the order of
//    validations and what is still queued: never by time).
//
// svcfleetd runs in this process (sec_inproc_start_with) with requests of
// at most 64 KiB (so the bucket is 64 KiB), at 32 KiB/s for 1 and 1 KiB/s
// for 2.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "sec_util.h"
#include "server.h"

#define URL     "inproc://sec-3-rate"
#define RATE    (32 << 10)
#define MAXMSG  (64 << 10)
#define WAIT_MS 30000
// About 40 KiB: 200 annotations of 200 bytes.
#define NANN 200
#define VLEN 200

static sec_inproc  d;
static const char *admin_token = "sec-3-rate-admin-token-0123456789";
static char       *mallory, *bob;
#define fx d.si_fx

static void
tweak(sf_server_opts *o)
{
	o->so_bulk_rate = RATE;
	o->so_max_msg   = MAXMSG;
}

// The bytes of one of the requests as sent (its payload: what the server
// counts is the whole envelope, a little more).
static size_t
payload_bytes(void)
{
	Svcfleet__V1__CreateServiceRequest r
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	sec_svc       b;
	sec_ann_parts a;
	size_t        n;
	memset(&b, 0, sizeof(b));
	r.service = sec_service(&b, "east", "team-a", "sizing");
	sec_ann_fill(&a, r.service->metadata, NANN, VLEN);
	r.dry_run = true;
	n         = svcfleet__v1__create_service_request__get_packed_size(&r);
	sec_ann_free(&a);
	return (n);
}

static void
expect_ok(nng_socket s, const char *what)
{
	char msg[300];
	int  code = sec_async_recv(s, WAIT_MS, msg, sizeof(msg));
	nng_close(s);
	if (code != 0) {
		fail_msg("%s: code %d: %s", what, code, msg);
	}
}

// 1. mallory's requests one after another take at least what the rate
// allows.
static void
test_one_user_at_rate(void **state)
{
	enum { N = 5 };
	size_t  bytes = payload_bytes();
	int64_t t0, ms;
	(void) state;

	assert_true(bytes > 16 << 10 && bytes < MAXMSG);
	t0 = sf_clock_mono_ms();
	for (int i = 0; i < N; i++) {
		nng_socket s;
		char       name[32];
		snprintf(name, sizeof(name), "seq-%d", i);
		sec_send_marked(URL, mallory, "team-a", name, NANN, VLEN, &s);
		expect_ok(s, name);
	}
	ms = sf_clock_mono_ms() - t0;
	// The Nth is taken once the bucket (MAXMSG) and what came in since
	// cover the N - 1 before it.
	int64_t floor_ms
	    = (int64_t) (((N - 1) * (double) bytes - MAXMSG) * 1000 / RATE);
	printf("%d requests of %zu bytes at %d B/s: %lld ms (at least %lld)\n",
	    N, bytes, RATE, (long long) ms, (long long) floor_ms);
	assert_true(floor_ms > 1000);
	if (ms < floor_ms) {
		fail_msg("%d requests of %zu bytes were served in %lld ms, "
		         "faster than %d bytes a second allows (%lld ms)",
		    N, bytes, (long long) ms, RATE, (long long) floor_ms);
	}
	// The bucket refilled, the lane is gone.
	sec_inproc_wait_gauge(&d, "svcfleet_rpc_bulk_users", 0);
}

// 2. The attack: mallory's third request waits for her bucket (at 1 KiB
// a second, about 16 s); bob's large request is served meanwhile, before
// it: his bucket is his own. (Without the rate all of hers are served at
// once, before his; with one bucket for everyone his waits with hers.)
static void
test_other_user_not_held(void **state)
{
	enum { FLOOD = 3 };
	nng_socket s[FLOOD], sb;
	char       name[32], order[64][32];
	int        norder;
	(void) state;

	sec_gate_close("none", 0); // (resets the order recorded)
	for (int i = 0; i < FLOOD; i++) {
		snprintf(name, sizeof(name), "mal-%d", i);
		sec_send_marked(
		    URL, mallory, "team-a", name, NANN, VLEN, &s[i]);
	}
	// Two go at once (the bucket holds 64 KiB); the third waits in her
	// lane.
	expect_ok(s[0], "mallory's first");
	expect_ok(s[1], "mallory's second");
	sec_inproc_wait_gauge(&d, "svcfleet_rpc_bulk_queued", 1);
	sec_send_marked(URL, bob, "team-b", "bob-big", NANN, VLEN, &sb);
	expect_ok(sb, "bob's large request");
	assert_int_equal(sec_async_recv(s[2], 0, NULL, 0), -1);
	assert_int_equal(
	    (int) sec_inproc_gauge(&d, "svcfleet_rpc_bulk_queued"), 1);
	norder = sec_gate_order(order, 64);
	assert_int_equal(norder, 3);
	assert_string_equal(order[2], "bob-big");
	sec_gate_open();
	// Stopping (teardown) answers her last one without waiting.
	nng_close(s[2]);
}

static void
tweak_slow(sf_server_opts *o)
{
	o->so_bulk_rate = 1 << 10;
	o->so_max_msg   = MAXMSG;
}

static int
start(void (*t)(sf_server_opts *))
{
	if (sec_inproc_start_with(&d, URL, "sec3r", admin_token, true, t)
	    != 0) {
		return (-1);
	}
	TH_MUST(th_register_cluster(fx.tf_c, "east", &fx.tf_st), &fx.tf_st);
	mallory = sec_tenant(&fx, "mallory", "ns-edit", "east", "team-a");
	bob     = sec_tenant(&fx, "bob", "ns-edit", "east", "team-b");
	return (0);
}

static int
setup(void **state)
{
	(void) state;
	return (start(tweak));
}

static int
setup_slow(void **state)
{
	(void) state;
	return (start(tweak_slow));
}

static int
teardown(void **state)
{
	(void) state;
	free(mallory);
	free(bob);
	sec_inproc_stop(&d);
	return (0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_one_user_at_rate, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_other_user_not_held, setup_slow, teardown),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
