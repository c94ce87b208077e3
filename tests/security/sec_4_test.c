// sec_4_test.c: finding 4 of issue 17, anyone can flush the audit log.
// Every call without a valid token used to be a durable audit record, so
// a flood of them pushed the admin's real records out of the bounded log.
// Now failures are counted (metrics), audited once per source per
// interval with the number they stand for, and rate-limited per source;
// a valid token from the same source is still served.
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

#define FLOOD 2000

static int
setup(void **state)
{
	th_fixture       *f       = calloc(1, sizeof(*f));
	const char *const extra[] = {"--audit-max-events", "100", NULL};
	if (th_fixture_setup(f, extra) != 0) {
		return (-1);
	}
	*state = f;
	return (0);
}

static void
test_flood_keeps_records(void **state)
{
	th_fixture *f         = *state;
	int         codes[32] = {0};
	nng_socket  s;

	// The admin's action: the record that must survive.
	TH_MUST(th_register_cluster(f->tf_c, "east", &f->tf_st), &f->tf_st);

	// The flood, over one connection (as fast as the server answers).
	Svcfleet__V1__RequestEnvelope env
	    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	env.method = "/svcfleet.v1.ClusterRegistry/ListClusters";
	assert_int_equal(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
	assert_int_equal(nng_dial(s, f->tf_srv.ts_url, NULL, 0), 0);
	for (int i = 0; i < FLOOD; i++) {
		uint8_t buf[256];
		size_t  n;
		void   *rep;
		size_t  rlen;
		env.token = (char *) (i % 2 ? "" : "sfk_0123456789ab_guess");
		n = svcfleet__v1__request_envelope__get_packed_size(&env);
		svcfleet__v1__request_envelope__pack(&env, buf);
		assert_int_equal(nng_send(s, buf, n, 0), 0);
		assert_int_equal(nng_recv(s, &rep, &rlen, NNG_FLAG_ALLOC), 0);
		Svcfleet__V1__ReplyEnvelope *r
		    = svcfleet__v1__reply_envelope__unpack(NULL, rlen, rep);
		nng_free(rep, rlen);
		assert_non_null(r);
		assert_true(r->code >= 0 && r->code < 32);
		codes[r->code]++;
		svcfleet__v1__reply_envelope__free_unpacked(r, NULL);
	}
	nng_close(s);
	printf("UNAUTHENTICATED %d, RESOURCE_EXHAUSTED %d\n",
	    codes[SVCFLEET_UNAUTHENTICATED],
	    codes[SVCFLEET_RESOURCE_EXHAUSTED]);
	assert_int_equal(codes[SVCFLEET_UNAUTHENTICATED]
	        + codes[SVCFLEET_RESOURCE_EXHAUSTED],
	    FLOOD);
	// Rate-limited per source.
	assert_true(codes[SVCFLEET_RESOURCE_EXHAUSTED] > 0);

	// A valid token from the same source is served.
	Svcfleet__V1__WhoAmIRequest e   = SVCFLEET__V1__WHO_AM_IREQUEST__INIT;
	Svcfleet__V1__WhoAmIReply  *who = NULL;
	TH_MUST(svcfleet_who_am_i(f->tf_c, &e, &who, &f->tf_st), &f->tf_st);
	svcfleet_free(who);

	// The admin's record is still there; the flood left one record.
	Svcfleet__V1__ListAuditEventsRequest lr
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	Svcfleet__V1__ListAuditEventsReply *out = NULL;
	lr.page_size                            = 1000;
	TH_MUST(svcfleet_list_audit_events(f->tf_c, &lr, &out, &f->tf_st),
	    &f->tf_st);
	size_t unauth = 0;
	bool   admin  = false;
	for (size_t i = 0; i < out->n_events; i++) {
		Svcfleet__V1__AuditEvent *ev = out->events[i];
		unauth += ev->code == SVCFLEET_UNAUTHENTICATED;
		admin = admin
		    || (strcmp(ev->user, "admin") == 0
		        && strstr(ev->method, "RegisterCluster") != NULL);
	}
	svcfleet_free(out);
	printf("audit: %zu records of failed authentication\n", unauth);
	assert_true(admin);
	assert_true(unauth >= 1 && unauth <= 2);

	// Counted in the metrics, all of them.
	char *body = NULL;
	assert_int_equal(
	    th_runf(&body, NULL,
	        "curl -s -H 'Authorization: Bearer %s' %s/metrics",
	        f->tf_srv.ts_token, f->tf_srv.ts_http),
	    0);
	const char *m = strstr(body, "\nsvcfleet_auth_failures_total ");
	assert_non_null(m);
	assert_true(strtod(m + strlen("\nsvcfleet_auth_failures_total "), NULL)
	    >= FLOOD);
	assert_non_null(strstr(body, "\nsvcfleet_auth_limited_total "));
	free(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flood_keeps_records),
	};
	return (cmocka_run_group_tests(tests, setup, th_teardown));
}
