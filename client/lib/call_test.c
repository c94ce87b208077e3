// call_test.c: what a call sends and how a handle ends, against a REP
// socket standing in for svcfleetd over inproc:// — per-call token,
// request id and deadline (svcfleet_call_opts), the reply in a caller's
// allocator, and svcfleet_shutdown ending a call that waits.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

// i20-cli: a server that resets the connection of the first request it
// gets (as svcfleetd's ipc guard does when it reopens a listener), then
// answers; it records each request id and method.
typedef struct resetter {
	nng_socket r_sock;
	int        r_seen; // requests received
	char       r_ids[2][64];
	bool       r_answer_second;
} resetter;

static void *
serve_reset(void *arg)
{
	resetter *r = arg;
	nng_msg  *m;

	for (int i = 0; i < 2; i++) {
		if (nng_recvmsg(r->r_sock, &m, 0) != 0) {
			return (NULL);
		}
		Svcfleet__V1__RequestEnvelope *env
		    = svcfleet__v1__request_envelope__unpack(
		        NULL, nng_msg_len(m), nng_msg_body(m));
		snprintf(r->r_ids[i], sizeof(r->r_ids[i]), "%s",
		    env != NULL ? env->request_id : "?");
		svcfleet__v1__request_envelope__free_unpacked(env, NULL);
		r->r_seen++;
		if (i == 0) {
			nng_pipe_close(nng_msg_get_pipe(m));
			nng_msg_free(m);
			continue;
		}
		Svcfleet__V1__VersionReply v
		    = SVCFLEET__V1__VERSION_REPLY__INIT;
		Svcfleet__V1__ReplyEnvelope re
		    = SVCFLEET__V1__REPLY_ENVELOPE__INIT;
		uint8_t buf[256];
		v.version       = "9.9.9";
		re.payload.len  = svcfleet__v1__version_reply__pack(&v, buf);
		re.payload.data = buf;
		nng_msg_free(m);
		nng_msg_alloc(
		    &m, svcfleet__v1__reply_envelope__get_packed_size(&re));
		svcfleet__v1__reply_envelope__pack(&re, nng_msg_body(m));
		nng_sendmsg(r->r_sock, m, 0);
	}
	return (NULL);
}

static void
test_reset_retried_once(void **state)
{
	resetter                    r = {0};
	fake                        f = {0};
	svcfleet_client            *c;
	svcfleet_status             st;
	Svcfleet__V1__Empty         req = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *rep = NULL;
	pthread_t                   t;
	(void) state;

	c        = open_client(&f);
	r.r_sock = f.f_sock;
	svcfleet_status_init(&st);
	// A read: sent again on the new connection, with the same request
	// id, and the caller sees only the answer.
	pthread_create(&t, NULL, serve_reset, &r);
	assert_int_equal(svcfleet_version(c, &req, &rep, &st), 0);
	pthread_join(t, NULL);
	assert_string_equal(rep->version, "9.9.9");
	assert_int_equal(r.r_seen, 2);
	assert_string_equal(r.r_ids[0], r.r_ids[1]);
	svcfleet_free(rep);

	// A call svcfleetd does not deduplicate (a reconciler's lease) is
	// not sent twice: the reset is the caller's to handle.
	Svcfleet__V1__RegisterReconcilerRequest rr
	    = SVCFLEET__V1__REGISTER_RECONCILER_REQUEST__INIT;
	Svcfleet__V1__ReconcilerLease *rrep = NULL;
	memset(&r, 0, sizeof(r));
	r.r_sock = f.f_sock;
	pthread_create(&t, NULL, serve_reset, &r);
	assert_int_equal(svcfleet_register_reconciler(c, &rr, &rrep, &st),
	    SVCFLEET_UNAVAILABLE);
	assert_non_null(strstr(st.message, "reset"));
	assert_int_equal(r.r_seen, 1);
	svcfleet_close(c); // ends serve_reset's wait for a second request
	nng_close(f.f_sock);
	pthread_join(t, NULL);
	svcfleet_status_fini(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_call_opts),
	    cmocka_unit_test(test_shutdown_ends_calls),
	    cmocka_unit_test(test_reset_retried_once),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
