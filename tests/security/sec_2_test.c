// sec_2_test.c: finding 2 of issue 17, validation amplification. A tenant
// (ns-edit) sends Services with tens of thousands of empty ports, or with
// hundreds of broken ones: each used to cost a violation (or several) per
// port, so a 4 MB request grew into gigabytes of violations and a reply
// of hundreds of megabytes. Now the counts of repeated fields are capped
// before any other work, fields beyond a budget are refused before the
// payload is even decoded, and at most 100 violations are reported plus
// one that says how many more there were.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sec_util.h"

#define CREATE "/svcfleet.v1.ServiceManager/CreateService"

typedef struct fixture {
	th_fixture fx;
	char      *tenant; // ns-edit in east/team-a
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
	f->tenant = sec_tenant(&f->fx, "mallory", "ns-edit", "east", "team-a");
	*state    = f;
	return (0);
}

static int
teardown(void **state)
{
	fixture *f = *state;
	free(f->tenant);
	return (th_teardown(state));
}

// A dry-run CreateService of a Service with n copies of port (packed).
static Svcfleet__V1__ReplyEnvelope *
create_with_ports(
    fixture *f, size_t n, Svcfleet__V1__ServicePort *port, size_t *reply_len)
{
	Svcfleet__V1__CreateServiceRequest req
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	sec_svc                      b;
	Svcfleet__V1__ServicePort  **ports = calloc(n, sizeof(*ports));
	Svcfleet__V1__ReplyEnvelope *r;

	assert_non_null(ports);
	for (size_t i = 0; i < n; i++) {
		ports[i] = port;
	}
	req.service              = sec_service(&b, "east", "team-a", "flood");
	req.service->spec->ports = ports;
	req.service->spec->n_ports = n;
	req.dry_run                = true;
	size_t len
	    = svcfleet__v1__create_service_request__get_packed_size(&req);
	uint8_t *buf = malloc(len);
	svcfleet__v1__create_service_request__pack(&req, buf);
	r = sec_raw_call(f->fx.tf_srv.ts_url, f->tenant, CREATE, buf, len,
	    60000, reply_len);
	free(buf);
	free(ports);
	assert_non_null(r);
	return (r);
}

// 60,000 empty ports: one violation on spec.ports, not 60,000 of each
// kind, and the daemon's memory does not follow the request's size.
static void
test_port_count_capped(void **state)
{
	fixture                  *f    = *state;
	Svcfleet__V1__ServicePort port = SVCFLEET__V1__SERVICE_PORT__INIT;
	long   before                  = sec_peak_rss_kb(f->fx.tf_srv.ts_pid);
	size_t rlen                    = 0;

	Svcfleet__V1__ReplyEnvelope *r
	    = create_with_ports(f, 60000, &port, &rlen);
	assert_int_equal(r->code, SVCFLEET_INVALID_ARGUMENT);
	assert_true(rlen < 64 * 1024);
	assert_int_equal(r->n_violations, 1);
	assert_string_equal(r->violations[0]->field, "spec.ports");
	assert_non_null(strstr(r->violations[0]->reason,
	    "Too many: 60000: must have at most 100 items"));
	svcfleet__v1__reply_envelope__free_unpacked(r, NULL);

	// 150,000: refused before the payload is decoded.
	r = create_with_ports(f, 150000, &port, &rlen);
	assert_int_equal(r->code, SVCFLEET_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(r->message, "fields"));
	assert_int_equal(r->n_violations, 0);
	svcfleet__v1__reply_envelope__free_unpacked(r, NULL);

	// Both cost the daemon little: far less than the violations would
	// (tens of megabytes for the first one before the cap).
	long after = sec_peak_rss_kb(f->fx.tf_srv.ts_pid);
	assert_true(before > 0 && after > 0);
	printf("peak RSS %ld KiB -> %ld KiB\n", before, after);
	assert_true(after - before < 48 * 1024);

	// The daemon still serves the tenant.
	r = create_with_ports(f, 1, &port, &rlen);
	assert_int_not_equal(r->code, SVCFLEET_RESOURCE_EXHAUSTED);
	svcfleet__v1__reply_envelope__free_unpacked(r, NULL);
}

// 100 broken ports (within the cap) make a few hundred violations: the
// first 100 are reported, then one saying how many more there were.
static void
test_violations_capped(void **state)
{
	fixture                  *f    = *state;
	Svcfleet__V1__ServicePort port = SVCFLEET__V1__SERVICE_PORT__INIT;
	size_t                    rlen = 0;

	port.port     = 70000; // out of range
	port.name     = "Not_A_Label";
	port.protocol = "QUIC";
	Svcfleet__V1__ReplyEnvelope *r
	    = create_with_ports(f, 100, &port, &rlen);
	assert_int_equal(r->code, SVCFLEET_INVALID_ARGUMENT);
	assert_int_equal(r->n_violations, 101);
	assert_string_equal(r->violations[100]->type, "FieldValueTooMany");
	assert_non_null(
	    strstr(r->violations[100]->reason, "more violations not shown"));
	long more = strtol(r->violations[100]->reason, NULL, 10);
	assert_true(more >= 200);
	// The one-line message stays one line.
	assert_true(strlen(r->message) < 1024);
	assert_non_null(strstr(r->message, "is invalid"));
	assert_true(rlen < 64 * 1024);
	svcfleet__v1__reply_envelope__free_unpacked(r, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_port_count_capped),
	    cmocka_unit_test(test_violations_capped),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
