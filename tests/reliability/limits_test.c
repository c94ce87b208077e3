// limits_test.c: svcfleetd's bounds — request-id dedupe whatever the
// length of the id and the user name, and RESOURCE_EXHAUSTED (not
// unbounded memory or a wedged server) when callers ask for more than the
// configured concurrency.
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

#include "harness.h"
#include "svcfleet/svcfleet.h"

#define CLUSTER "east"
#define SVC     "/svcfleet.v1.ServiceManager/"

typedef struct fixture {
	th_server        srv;
	svcfleet_client *c;
	svcfleet_status  st;
} fixture;

// Sends one envelope on s and returns the decoded reply (free with
// svcfleet__v1__reply_envelope__free_unpacked), or NULL on no reply.
static Svcfleet__V1__ReplyEnvelope *
raw_call(nng_socket s, const char *method, const char *token,
    const char *request_id, const ProtobufCMessage *req)
{
	Svcfleet__V1__RequestEnvelope env
	    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	Svcfleet__V1__ReplyEnvelope *r;
	nng_msg                     *m;
	size_t   plen = protobuf_c_message_get_packed_size(req);
	uint8_t *pl   = malloc(plen + 1);

	protobuf_c_message_pack(req, pl);
	env.method       = (char *) method;
	env.token        = (char *) token;
	env.request_id   = (char *) request_id;
	env.payload.data = pl;
	env.payload.len  = plen;
	size_t n = svcfleet__v1__request_envelope__get_packed_size(&env);
	assert_int_equal(nng_msg_alloc(&m, n), 0);
	svcfleet__v1__request_envelope__pack(&env, nng_msg_body(m));
	free(pl);
	assert_int_equal(nng_sendmsg(s, m, 0), 0);
	if (nng_recvmsg(s, &m, 0) != 0) {
		return (NULL);
	}
	r = svcfleet__v1__reply_envelope__unpack(
	    NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	return (r);
}

static nng_socket
raw_open(fixture *f)
{
	nng_socket s;
	assert_int_equal(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
	assert_int_equal(nng_dial(s, f->srv.ts_url, NULL, 0), 0);
	return (s);
}

typedef struct svc_buf {
	Svcfleet__V1__Service              svc;
	Svcfleet__V1__ObjectMeta           meta;
	Svcfleet__V1__ServiceSpec          spec;
	Svcfleet__V1__KeyValue             sel;
	Svcfleet__V1__KeyValue            *selp[1];
	Svcfleet__V1__ServicePort          port;
	Svcfleet__V1__ServicePort         *portp[1];
	Svcfleet__V1__CreateServiceRequest req;
} svc_buf;

static void
make_create(svc_buf *b, const char *name)
{
	svcfleet__v1__service__init(&b->svc);
	svcfleet__v1__object_meta__init(&b->meta);
	svcfleet__v1__service_spec__init(&b->spec);
	svcfleet__v1__key_value__init(&b->sel);
	svcfleet__v1__service_port__init(&b->port);
	svcfleet__v1__create_service_request__init(&b->req);
	b->meta.cluster    = CLUSTER;
	b->meta.namespace_ = "default";
	b->meta.name       = (char *) name;
	b->sel.key         = "app";
	b->sel.value       = "web";
	b->selp[0]         = &b->sel;
	b->port.port       = 80;
	b->portp[0]        = &b->port;
	b->spec.selector   = b->selp;
	b->spec.n_selector = 1;
	b->spec.ports      = b->portp;
	b->spec.n_ports    = 1;
	b->svc.metadata    = &b->meta;
	b->svc.spec        = &b->spec;
	b->req.service     = &b->svc;
}

// Bug: dedupe keys ("user/request-id") were cut to 63 bytes when stored
// but hashed whole, so a long user name or request id was never found
// again: the retry was applied a second time (ALREADY_EXISTS for a
// create), and the entry never completed, which stopped expiry for good.
static void
test_dedupe_long_ids(void **state)
{
	fixture   *f = *state;
	nng_socket s = raw_open(f);
	svc_buf    b;
	char       rid[64];

	memset(rid, 'r', sizeof(rid) - 1);
	rid[sizeof(rid) - 1] = '\0';
	make_create(&b, "dedupe-long");
	Svcfleet__V1__ReplyEnvelope *r1 = raw_call(
	    s, SVC "CreateService", f->srv.ts_token, rid, &b.req.base);
	Svcfleet__V1__ReplyEnvelope *r2 = raw_call(
	    s, SVC "CreateService", f->srv.ts_token, rid, &b.req.base);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_int_equal(r1->code, 0);
	// The retry gets the first reply, byte for byte.
	assert_int_equal(r2->code, 0);
	assert_int_equal(r1->payload.len, r2->payload.len);
	assert_memory_equal(
	    r1->payload.data, r2->payload.data, r1->payload.len);
	svcfleet__v1__reply_envelope__free_unpacked(r1, NULL);
	svcfleet__v1__reply_envelope__free_unpacked(r2, NULL);
	nng_close(s);
}

// Two users whose name and request id join to the same "user/id" text
// are two requests: neither may get the other's cached reply.
static void
test_dedupe_users_apart(void **state)
{
	fixture                         *f = *state;
	Svcfleet__V1__CreateTokenRequest tr
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply        *t1 = NULL, *t2 = NULL;
	Svcfleet__V1__CreateRoleBindingRequest br
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__RoleBinding  rb = SVCFLEET__V1__ROLE_BINDING__INIT;
	Svcfleet__V1__RoleBinding *rbo;

	tr.user = "team/a";
	assert_int_equal(svcfleet_create_token(f->c, &tr, &t1, &f->st), 0);
	tr.user = "team";
	assert_int_equal(svcfleet_create_token(f->c, &tr, &t2, &f->st), 0);
	rb.role       = "ns-edit";
	rb.cluster    = CLUSTER;
	rb.namespace_ = "default";
	br.binding    = &rb;
	rb.user       = "team/a";
	assert_int_equal(
	    svcfleet_create_role_binding(f->c, &br, &rbo, &f->st), 0);
	svcfleet_free(rbo);
	rb.user = "team";
	assert_int_equal(
	    svcfleet_create_role_binding(f->c, &br, &rbo, &f->st), 0);
	svcfleet_free(rbo);

	nng_socket s = raw_open(f);
	svc_buf    b1, b2;
	make_create(&b1, "dedupe-team-a");
	make_create(&b2, "dedupe-team");
	// "team/a" + "x" and "team" + "a/x" used to be one key.
	Svcfleet__V1__ReplyEnvelope *r1
	    = raw_call(s, SVC "CreateService", t1->secret, "x", &b1.req.base);
	Svcfleet__V1__ReplyEnvelope *r2 = raw_call(
	    s, SVC "CreateService", t2->secret, "a/x", &b2.req.base);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_int_equal(r1->code, 0);
	assert_int_equal(r2->code, 0);
	Svcfleet__V1__Service *s2 = svcfleet__v1__service__unpack(
	    NULL, r2->payload.len, r2->payload.data);
	assert_non_null(s2);
	assert_string_equal(s2->metadata->name, "dedupe-team");
	svcfleet__v1__service__free_unpacked(s2, NULL);
	svcfleet__v1__reply_envelope__free_unpacked(r1, NULL);
	svcfleet__v1__reply_envelope__free_unpacked(r2, NULL);
	nng_close(s);
	svcfleet_free(t1);
	svcfleet_free(t2);
}

// Bug: the dedupe key left out the method, so a request id used again for
// another method was answered with the first method's cached reply — a
// payload of the wrong type.
static void
test_dedupe_per_method(void **state)
{
	fixture                         *f = *state;
	nng_socket                       s = raw_open(f);
	Svcfleet__V1__CreateTokenRequest tr
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	svc_buf b;

	tr.user = "per-method";
	make_create(&b, "dedupe-method");
	Svcfleet__V1__ReplyEnvelope *r1
	    = raw_call(s, "/svcfleet.v1.AccessControl/CreateToken",
	        f->srv.ts_token, "same-id", &tr.base);
	Svcfleet__V1__ReplyEnvelope *r2 = raw_call(
	    s, SVC "CreateService", f->srv.ts_token, "same-id", &b.req.base);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_int_equal(r1->code, 0);
	assert_int_equal(r2->code, 0);
	Svcfleet__V1__Service *svc = svcfleet__v1__service__unpack(
	    NULL, r2->payload.len, r2->payload.data);
	assert_non_null(svc);
	assert_non_null(svc->metadata);
	assert_string_equal(svc->metadata->name, "dedupe-method");
	svcfleet__v1__service__free_unpacked(svc, NULL);
	svcfleet__v1__reply_envelope__free_unpacked(r1, NULL);
	svcfleet__v1__reply_envelope__free_unpacked(r2, NULL);
	nng_close(s);
}

static int
setup(void **state)
{
	fixture              *f  = calloc(1, sizeof(*f));
	svcfleet_status       st = {0};
	svcfleet_options      o  = {.timeout_ms = 10000, .connect_now = true};
	Svcfleet__V1__Cluster cl = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__RegisterClusterRequest req
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *out = NULL;

	if (th_server_start(&f->srv, NULL, NULL) != 0) {
		return (-1);
	}
	o.url   = f->srv.ts_url;
	o.token = f->srv.ts_token;
	if (svcfleet_open(&f->c, &o, &st) != 0) {
		return (-1);
	}
	cl.name       = CLUSTER;
	cl.api_server = "https://127.0.0.1:1";
	cl.token      = "t";
	req.cluster   = &cl;
	if (svcfleet_register_cluster(f->c, &req, &out, &st) != 0) {
		return (-1);
	}
	svcfleet_free(out);
	svcfleet_status_fini(&st);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	fixture *f = *state;
	svcfleet_close(f->c);
	svcfleet_status_fini(&f->st);
	assert_int_equal(th_server_stop(&f->srv), 0);
	free(f);
	return (0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dedupe_long_ids),
	    cmocka_unit_test(test_dedupe_users_apart),
	    cmocka_unit_test(test_dedupe_per_method),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
