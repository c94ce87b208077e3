// hostile_test.c: bad input on the RPC socket — undecodable envelopes,
// truncated payloads and frames, random bytes, peers that connect and
// leave — must get an error reply or a dropped connection, never a crash,
// and every other client must keep being served.
//
// The daemon here runs without LeakSanitizer's exit check: nng 1.5.2
// leaks the objects of an IPC listener that its handshake bug wedged
// (nanomsg/nng#1518), which this test provokes on purpose; the server
// reopens such listeners (server/ipcguard.c). Every other test daemon
// keeps leak checking on.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "svcfleet/svcfleet.h"

typedef th_fixture fixture;

static int
get(fixture *f, const char *ns, const char *name, void *unused)
{
	Svcfleet__V1__ServiceKey        k = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__GetServiceRequest req
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *out = NULL;
	int                    rv;
	(void) unused;
	k.cluster    = "east";
	k.namespace_ = (char *) ns;
	k.name       = (char *) name;
	req.key      = &k;
	rv           = svcfleet_get_service(f->tf_c, &req, &out, &f->tf_st);
	svcfleet_free(out);
	return (rv);
}

// Sends raw bytes through a REQ socket (a well-formed SP frame whose
// payload is not an envelope).
static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
test_garbage_envelope(void **state)
{
	fixture   *f = *state;
	nng_socket s;
	nng_msg   *m;
	const char junk[] = "\xff\xff\xff\x01garbage that is not protobuf";

	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_dial(s, f->tf_srv.ts_url, NULL, 0), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
	assert_int_equal(nng_send(s, (void *) junk, sizeof(junk), 0), 0);
	assert_int_equal(nng_recvmsg(s, &m, 0), 0);
	Svcfleet__V1__ReplyEnvelope *r = svcfleet__v1__reply_envelope__unpack(
	    NULL, nng_msg_len(m), nng_msg_body(m));
	assert_non_null(r);
	assert_int_equal(r->code, SVCFLEET_INTERNAL);
	assert_non_null(strstr(r->message, "undecodable"));
	svcfleet__v1__reply_envelope__free_unpacked(r, NULL);
	nng_msg_free(m);

	// A valid envelope whose payload is truncated.
	Svcfleet__V1__RequestEnvelope env
	    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	uint8_t payload[] = {0x0a, 0x40, 0x01}; // field 1, len 64, 1 byte
	env.method        = "/svcfleet.v1.ServiceManager/GetService";
	env.token         = f->tf_srv.ts_token;
	env.payload.data  = payload;
	env.payload.len   = sizeof(payload);
	size_t  n = svcfleet__v1__request_envelope__get_packed_size(&env);
	uint8_t buf[256];
	svcfleet__v1__request_envelope__pack(&env, buf);
	assert_int_equal(nng_send(s, buf, n, 0), 0);
	assert_int_equal(nng_recvmsg(s, &m, 0), 0);
	r = svcfleet__v1__reply_envelope__unpack(
	    NULL, nng_msg_len(m), nng_msg_body(m));
	assert_non_null(r);
	assert_int_equal(r->code, SVCFLEET_INVALID_ARGUMENT);
	svcfleet__v1__reply_envelope__free_unpacked(r, NULL);
	nng_msg_free(m);
	nng_close(s);

	// Random bytes straight into the unix socket (no SP handshake):
	// the server drops that connection and keeps serving others.
	const char *path = f->tf_srv.ts_url + strlen("ipc://");
	for (int i = 0; i < 5; i++) {
		int                fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		unsigned char      rnd[4096];
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		assert_int_equal(
		    connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
		for (size_t k = 0; k < sizeof(rnd); k++) {
			rnd[k] = (unsigned char) rand();
		}
		if (i == 0) {
			// A valid SP header announcing a giant frame, then
			// too few bytes: a truncated message.
			const unsigned char hdr[] = {0, 'S', 'P', 0, 0, 0x30,
			    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0};
			memcpy(rnd, hdr, sizeof(hdr));
		}
		ssize_t w = write(fd, rnd, sizeof(rnd));
		(void) w;
		close(fd);
	}
	// A peer that connects and leaves without a word.
	int                fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	close(fd);

	// Existing connections are served at once.
	assert_int_equal(get(f, "any", "thing", NULL), SVCFLEET_NOT_FOUND);
	// New connections are served again (nng 1.5.2's IPC listener can
	// wedge after such peers; the server's guard reopens it after 3
	// probes have failed, a probe a second, each waiting up to 3 s:
	// server/ipcguard.c). A count of tries was no deadline: they failed
	// faster on a busy machine (60 in ~11 s) than the guard's 12 s at
	// least. Try until 60 s have passed, the guard's worst case with room
	// for a slow machine.
	bool    served   = false;
	int64_t deadline = now_ms() + 60000;
	while (!served && now_ms() < deadline) {
		svcfleet_client           *c2 = NULL;
		svcfleet_status            st = {0};
		svcfleet_options           o  = {.url = f->tf_srv.ts_url,
		               .timeout_ms            = 500,
		               .connect_now           = true};
		Svcfleet__V1__Empty        e  = SVCFLEET__V1__EMPTY__INIT;
		Svcfleet__V1__HealthReply *h  = NULL;
		served = svcfleet_open(&c2, &o, &st) == 0
		    && svcfleet_health(c2, &e, &h, &st) == 0;
		svcfleet_free(h);
		svcfleet_close(c2);
		svcfleet_status_fini(&st);
	}
	assert_true(served);
}

static int
setup(void **state)
{
	fixture *f       = calloc(1, sizeof(*f));
	f->tf_srv.ts_env = "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1";
	if (th_fixture_setup(f, NULL) != 0) {
		return (-1);
	}
	*state = f;
	return (0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_garbage_envelope),
	};
	return (cmocka_run_group_tests(tests, setup, th_teardown));
}
