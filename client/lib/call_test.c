// call_test.c: what a call sends and how a handle ends, against a REP
// socket standing in for svcfleetd over inproc:// — per-call token,
// request id and deadline (svcfleet_call_opts), the reply in a caller's
// allocator, and svcfleet_shutdown ending a call that waits.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>

#include "svcfleet/svcfleet.h"

#define URL "inproc://call_test"

typedef struct fake {
	nng_socket f_sock;
	// The last request envelope received (unpacked), and whether to
	// answer it.
	Svcfleet__V1__RequestEnvelope *f_env;
	bool                           f_answer;
} fake;

// Receives one request; answers it with a VersionReply when f_answer.
static void *
serve_one(void *arg)
{
	fake    *f = arg;
	nng_msg *m;

	if (nng_recvmsg(f->f_sock, &m, 0) != 0) {
		return (NULL);
	}
	f->f_env = svcfleet__v1__request_envelope__unpack(
	    NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	if (f->f_answer) {
		Svcfleet__V1__VersionReply v
		    = SVCFLEET__V1__VERSION_REPLY__INIT;
		Svcfleet__V1__ReplyEnvelope r
		    = SVCFLEET__V1__REPLY_ENVELOPE__INIT;
		uint8_t buf[256];
		v.version      = "9.9.9";
		r.payload.len  = svcfleet__v1__version_reply__pack(&v, buf);
		r.payload.data = buf;
		size_t n = svcfleet__v1__reply_envelope__get_packed_size(&r);
		nng_msg_alloc(&m, n);
		svcfleet__v1__reply_envelope__pack(&r, nng_msg_body(m));
		nng_sendmsg(f->f_sock, m, 0);
	}
	return (NULL);
}

static svcfleet_client *
open_client(fake *f)
{
	svcfleet_options o = {.url = URL,
	    .token                 = "handle-token",
	    .timeout_ms            = 4000,
	    .connect_now           = true};
	svcfleet_status  st;
	svcfleet_client *c;

	assert_int_equal(nng_rep0_open(&f->f_sock), 0);
	assert_int_equal(nng_listen(f->f_sock, URL, NULL, 0), 0);
	svcfleet_status_init(&st);
	assert_int_equal(svcfleet_open(&c, &o, &st), 0);
	svcfleet_status_fini(&st);
	return (c);
}

// A counting allocator: the reply must come from it.
static size_t allocs;

static void *
count_alloc(void *data, size_t n)
{
	(void) data;
	allocs++;
	return (malloc(n));
}

static void
count_free(void *data, void *p)
{
	(void) data;
	free(p);
}

static void
test_call_opts(void **state)
{
	fake                        f = {.f_answer = true};
	svcfleet_client            *c = open_client(&f);
	svcfleet_status             st;
	Svcfleet__V1__Empty         req = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *rep;
	ProtobufCAllocator          a = {count_alloc, count_free, NULL};
	pthread_t                   t;
	(void) state;

	svcfleet_status_init(&st);
	// The handle's defaults.
	pthread_create(&t, NULL, serve_one, &f);
	assert_int_equal(svcfleet_version(c, &req, &rep, &st), 0);
	pthread_join(t, NULL);
	assert_string_equal(rep->version, "9.9.9");
	assert_string_equal(f.f_env->token, "handle-token");
	assert_int_equal(strlen(f.f_env->request_id), 32);
	assert_string_equal(st.request_id, f.f_env->request_id);
	assert_int_equal(f.f_env->timeout_ms, 4000);
	assert_string_equal(f.f_env->method, "/svcfleet.v1.System/Version");
	svcfleet_free(rep);
	svcfleet__v1__request_envelope__free_unpacked(f.f_env, NULL);

	// This call's own, the reply from the caller's allocator.
	svcfleet_call_opts o = {.token = "",
	    .request_id                = "gw-7",
	    .timeout_ms                = 1500,
	    .grace_ms                  = 500,
	    .allocator                 = &a};
	pthread_create(&t, NULL, serve_one, &f);
	assert_int_equal(svcfleet_version_with(c, &req, &rep, &o, &st), 0);
	pthread_join(t, NULL);
	assert_string_equal(f.f_env->token, "");
	assert_string_equal(f.f_env->request_id, "gw-7");
	assert_string_equal(st.request_id, "gw-7");
	assert_int_equal(f.f_env->timeout_ms, 1500);
	assert_true(allocs > 0);
	protobuf_c_message_free_unpacked(&rep->base, &a);
	svcfleet__v1__request_envelope__free_unpacked(f.f_env, NULL);

	// A request id that is not short and plain is refused unsent.
	o.request_id = "has space";
	assert_int_equal(svcfleet_version_with(c, &req, &rep, &o, &st),
	    SVCFLEET_INVALID_ARGUMENT);
	assert_null(rep);
	svcfleet_status_fini(&st);
	svcfleet_close(c);
	nng_close(f.f_sock);
}

typedef struct waiter {
	svcfleet_client *w_c;
	int              w_rv;
} waiter;

static void *
call_and_wait(void *arg)
{
	waiter                     *w   = arg;
	Svcfleet__V1__Empty         req = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *rep;
	svcfleet_status             st;
	svcfleet_status_init(&st);
	w->w_rv = svcfleet_version(w->w_c, &req, &rep, &st);
	svcfleet_status_fini(&st);
	return (NULL);
}

static void
test_shutdown_ends_calls(void **state)
{
	fake                        f = {.f_answer = false};
	svcfleet_client            *c = open_client(&f);
	waiter                      w = {c, -1};
	svcfleet_status             st;
	Svcfleet__V1__Empty         req = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *rep;
	pthread_t                   srv, t;
	(void) state;

	// A call the server holds (it never answers) ends at shutdown, long
	// before its 4 s deadline; later calls fail at once; the handle
	// stays valid until it is closed.
	pthread_create(&srv, NULL, serve_one, &f);
	pthread_create(&t, NULL, call_and_wait, &w);
	pthread_join(srv, NULL); // the request has arrived
	svcfleet_shutdown(c);
	pthread_join(t, NULL);
	assert_int_equal(w.w_rv, SVCFLEET_UNAVAILABLE);
	svcfleet_status_init(&st);
	assert_int_equal(
	    svcfleet_version(c, &req, &rep, &st), SVCFLEET_UNAVAILABLE);
	assert_non_null(strstr(st.message, "shut down"));
	svcfleet_status_fini(&st);
	svcfleet_shutdown(c);
	svcfleet_close(c);
	svcfleet__v1__request_envelope__free_unpacked(f.f_env, NULL);
	nng_close(f.f_sock);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_call_opts),
	    cmocka_unit_test(test_shutdown_ends_calls),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
