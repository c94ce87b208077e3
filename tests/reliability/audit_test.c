// audit_test.c: audit entries carry the revision of the write they
// describe. An update that changes nothing writes nothing and takes no
// revision, so its (successful) audit entry must not claim one: before the
// fix it named the next revision, which then belonged to another write.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "svcfleet/svcfleet.h"

typedef struct svc_buf {
	Svcfleet__V1__Service      svc;
	Svcfleet__V1__ObjectMeta   meta;
	Svcfleet__V1__ServiceSpec  spec;
	Svcfleet__V1__KeyValue     sel;
	Svcfleet__V1__KeyValue    *selp[1];
	Svcfleet__V1__ServicePort  port;
	Svcfleet__V1__ServicePort *portp[1];
} svc_buf;

static void
make(svc_buf *b, const char *name, int port)
{
	svcfleet__v1__service__init(&b->svc);
	svcfleet__v1__object_meta__init(&b->meta);
	svcfleet__v1__service_spec__init(&b->spec);
	svcfleet__v1__key_value__init(&b->sel);
	svcfleet__v1__service_port__init(&b->port);
	b->meta.cluster    = "east";
	b->meta.namespace_ = "default";
	b->meta.name       = (char *) name;
	b->sel.key         = "app";
	b->sel.value       = "web";
	b->selp[0]         = &b->sel;
	b->port.port       = port;
	b->portp[0]        = &b->port;
	b->spec.selector   = b->selp;
	b->spec.n_selector = 1;
	b->spec.ports      = b->portp;
	b->spec.n_ports    = 1;
	b->svc.metadata    = &b->meta;
	b->svc.spec        = &b->spec;
}

// The newest audit event for request id rid, or fails.
static Svcfleet__V1__AuditEvent *
event_of(svcfleet_client *c, const char *rid,
    Svcfleet__V1__ListAuditEventsReply **keep)
{
	Svcfleet__V1__ListAuditEventsRequest q
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	svcfleet_status st = {0};
	q.page_size        = 100;
	assert_int_equal(svcfleet_list_audit_events(c, &q, keep, &st), 0);
	svcfleet_status_fini(&st);
	for (size_t i = 0; i < (*keep)->n_events; i++) {
		if (strcmp((*keep)->events[i]->request_id, rid) == 0) {
			return ((*keep)->events[i]);
		}
	}
	fail_msg("no audit event for request %s", rid);
	return (NULL);
}

static void
test_noop_update_takes_no_revision(void **state)
{
	th_fixture      *f  = *state;
	svcfleet_client *c  = f->tf_c;
	svcfleet_status *st = &f->tf_st;

	TH_MUST(th_register_cluster(c, "east", st), st);

	svc_buf                            b;
	Svcfleet__V1__CreateServiceRequest cr
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *out = NULL;
	make(&b, "same", 80);
	cr.service = &b.svc;
	TH_MUST(svcfleet_create_service(c, &cr, &out, st), st);
	uint64_t rv = out->metadata->resource_version;
	svcfleet_free(out);

	// The same spec again: nothing to write.
	Svcfleet__V1__UpdateServiceRequest ur
	    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
	make(&b, "same", 80);
	ur.service = &b.svc;
	TH_MUST(svcfleet_update_service(c, &ur, &out, st), st);
	assert_int_equal(out->metadata->resource_version, rv);
	svcfleet_free(out);
	char noop_rid[40];
	snprintf(noop_rid, sizeof(noop_rid), "%s", st->request_id);

	// A real change takes the next revision.
	make(&b, "same", 81);
	ur.service = &b.svc;
	TH_MUST(svcfleet_update_service(c, &ur, &out, st), st);
	uint64_t rv2 = out->metadata->resource_version;
	svcfleet_free(out);
	char real_rid[40];
	snprintf(real_rid, sizeof(real_rid), "%s", st->request_id);
	assert_true(rv2 > rv);

	Svcfleet__V1__ListAuditEventsReply *r1 = NULL, *r2 = NULL;
	Svcfleet__V1__AuditEvent           *noop = event_of(c, noop_rid, &r1);
	Svcfleet__V1__AuditEvent           *real = event_of(c, real_rid, &r2);
	assert_int_equal(noop->code, 0);
	assert_int_equal(noop->revision, 0);
	assert_int_equal(real->revision, rv2);
	svcfleet_free(r1);
	svcfleet_free(r2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_noop_update_takes_no_revision),
	};
	return (cmocka_run_group_tests(tests, th_setup, th_teardown));
}
