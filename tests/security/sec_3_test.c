// sec_3_test.c: finding 3 of issue 17, one tenant stalls every write. A
// dry-run with 100,000 annotations used to be validated pairwise (n²) on
// the store's single writer thread, so another tenant's delete waited
// behind it for minutes. Now a request over the caps is refused before it
// is decoded or queued for the writer (it leaves no audit record, which
// every write job writes), and duplicates within the caps are found by
// sorting. The other tenant's delete, sent while the attack is in flight,
// completes within a generous deadline.
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

#include "sec_util.h"

#define CREATE "/svcfleet.v1.ServiceManager/CreateService"

typedef struct fixture {
	th_fixture       fx;
	char            *mallory; // ns-edit in east/team-a
	svcfleet_client *bob;     // ns-edit in east/team-b
} fixture;

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (th_fixture_setup(&f->fx, NULL) != 0) {
		return (-1);
	}
	TH_MUST(th_register_cluster(f->fx.tf_c, "east", &f->fx.tf_st),
	    &f->fx.tf_st);
	f->mallory
	    = sec_tenant(&f->fx, "mallory", "ns-edit", "east", "team-a");
	char *b = sec_tenant(&f->fx, "bob", "ns-edit", "east", "team-b");
	// A generous deadline: the delete must not wait behind the attack
	// (it used to wait minutes), not be fast.
	f->bob = th_client(f->fx.tf_srv.ts_url, b, 20000);
	free(b);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	fixture *f = *state;
	free(f->mallory);
	svcfleet_close(f->bob);
	return (th_teardown(state));
}

// The encoded dry-run CreateService of a Service with n annotations, keys
// "k<i>" (or all the same key when same).
static uint8_t *
annotated(size_t n, bool same, size_t *len)
{
	Svcfleet__V1__CreateServiceRequest req
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	sec_svc                  b;
	Svcfleet__V1__KeyValue  *kv   = calloc(n, sizeof(*kv));
	Svcfleet__V1__KeyValue **kvs  = calloc(n, sizeof(*kvs));
	char                    *keys = calloc(n, 16);
	uint8_t                 *buf;

	assert_true(kv != NULL && kvs != NULL && keys != NULL);
	for (size_t i = 0; i < n; i++) {
		svcfleet__v1__key_value__init(&kv[i]);
		snprintf(keys + i * 16, 16, "k%zu", same ? (size_t) 0 : i);
		kv[i].key   = keys + i * 16;
		kv[i].value = "";
		kvs[i]      = &kv[i];
	}
	req.service = sec_service(&b, "east", "team-a", "stall");
	req.service->metadata->annotations   = kvs;
	req.service->metadata->n_annotations = n;
	req.dry_run                          = true;
	*len = svcfleet__v1__create_service_request__get_packed_size(&req);
	buf  = malloc(*len);
	svcfleet__v1__create_service_request__pack(&req, buf);
	free(kv);
	free(kvs);
	free(keys);
	return (buf);
}

static size_t
audit_count(fixture *f, const char *user)
{
	Svcfleet__V1__ListAuditEventsRequest r
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	Svcfleet__V1__ListAuditEventsReply *out = NULL;
	size_t                              n;
	r.user      = (char *) user;
	r.page_size = 1000;
	TH_MUST(svcfleet_list_audit_events(f->fx.tf_c, &r, &out, &f->fx.tf_st),
	    &f->fx.tf_st);
	n = out->n_events;
	svcfleet_free(out);
	return (n);
}

static void
test_other_tenant_not_stalled(void **state)
{
	fixture                           *f = *state;
	sec_svc                            b;
	Svcfleet__V1__CreateServiceRequest cr
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *out = NULL;

	cr.service = sec_service(&b, "east", "team-b", "bobs");
	TH_MUST(svcfleet_create_service(f->bob, &cr, &out, &f->fx.tf_st),
	    &f->fx.tf_st);
	svcfleet_free(out);

	// The attack: sent, not waited for.
	size_t                        len;
	uint8_t                      *buf = annotated(100000, false, &len);
	Svcfleet__V1__RequestEnvelope env
	    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	nng_socket s;
	nng_msg   *m;
	env.method       = CREATE;
	env.token        = f->mallory;
	env.timeout_ms   = 300000;
	env.payload.data = buf;
	env.payload.len  = len;
	assert_int_equal(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 300000);
	assert_int_equal(nng_dial(s, f->fx.tf_srv.ts_url, NULL, 0), 0);
	assert_int_equal(
	    nng_msg_alloc(
	        &m, svcfleet__v1__request_envelope__get_packed_size(&env)),
	    0);
	svcfleet__v1__request_envelope__pack(&env, nng_msg_body(m));
	assert_int_equal(nng_sendmsg(s, m, 0), 0);
	free(buf);

	// The other tenant's delete goes through meanwhile.
	Svcfleet__V1__ServiceKey           k = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__DeleteServiceRequest dr
	    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__DeleteServiceReply *dout = NULL;
	k.cluster                              = "east";
	k.namespace_                           = "team-b";
	k.name                                 = "bobs";
	dr.key                                 = &k;
	TH_MUST(svcfleet_delete_service(f->bob, &dr, &dout, &f->fx.tf_st),
	    &f->fx.tf_st);
	assert_true(dout->deleted);
	svcfleet_free(dout);

	// The attack was refused, and never became a write job.
	assert_int_equal(nng_recvmsg(s, &m, 0), 0);
	Svcfleet__V1__ReplyEnvelope *r = svcfleet__v1__reply_envelope__unpack(
	    NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	nng_close(s);
	assert_non_null(r);
	assert_true(r->code == SVCFLEET_RESOURCE_EXHAUSTED
	    || r->code == SVCFLEET_INVALID_ARGUMENT);
	svcfleet__v1__reply_envelope__free_unpacked(r, NULL);
	assert_int_equal(audit_count(f, "mallory"), 0);

	// Just over the annotation cap: refused with the field's path, also
	// before the writer.
	buf = annotated(1025, false, &len);
	r   = sec_raw_call(
	      f->fx.tf_srv.ts_url, f->mallory, CREATE, buf, len, 20000, NULL);
	free(buf);
	assert_non_null(r);
	assert_int_equal(r->code, SVCFLEET_INVALID_ARGUMENT);
	assert_string_equal(r->violations[0]->field, "metadata.annotations");
	svcfleet__v1__reply_envelope__free_unpacked(r, NULL);
	assert_int_equal(audit_count(f, "mallory"), 0);

	// At the cap, every key the same: 1023 duplicates found by sorting,
	// reported as 100 plus a count.
	buf = annotated(1024, true, &len);
	r   = sec_raw_call(
	      f->fx.tf_srv.ts_url, f->mallory, CREATE, buf, len, 20000, NULL);
	free(buf);
	assert_non_null(r);
	assert_int_equal(r->code, SVCFLEET_INVALID_ARGUMENT);
	assert_int_equal(r->n_violations, 101);
	assert_string_equal(r->violations[0]->type, "FieldValueDuplicate");
	svcfleet__v1__reply_envelope__free_unpacked(r, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_other_tenant_not_stalled),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
