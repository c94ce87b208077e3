// watch_test.c: WatchServices against a daemon that keeps a short change
// history: a watcher that fell behind gets OUT_OF_RANGE and can resume
// from a fresh list's revision without missing anything.
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

static int
create(svcfleet_client *c, const char *name, uint64_t *rv)
{
	Svcfleet__V1__Service      svc  = SVCFLEET__V1__SERVICE__INIT;
	Svcfleet__V1__ObjectMeta   meta = SVCFLEET__V1__OBJECT_META__INIT;
	Svcfleet__V1__ServiceSpec  spec = SVCFLEET__V1__SERVICE_SPEC__INIT;
	Svcfleet__V1__KeyValue     sel  = SVCFLEET__V1__KEY_VALUE__INIT;
	Svcfleet__V1__KeyValue    *selp = &sel;
	Svcfleet__V1__ServicePort  port = SVCFLEET__V1__SERVICE_PORT__INIT;
	Svcfleet__V1__ServicePort *pp   = &port;
	Svcfleet__V1__CreateServiceRequest req
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *out = NULL;
	svcfleet_status        st  = {0};
	int                    r;

	meta.cluster    = "east";
	meta.namespace_ = "w";
	meta.name       = (char *) name;
	sel.key         = "app";
	sel.value       = "w";
	spec.selector   = &selp;
	spec.n_selector = 1;
	port.port       = 80;
	spec.ports      = &pp;
	spec.n_ports    = 1;
	svc.metadata    = &meta;
	svc.spec        = &spec;
	req.service     = &svc;
	r               = svcfleet_create_service(c, &req, &out, &st);
	if (r == 0 && rv != NULL) {
		*rv = out->metadata->resource_version;
	}
	svcfleet_free(out);
	svcfleet_status_fini(&st);
	return (r);
}

static void
test_compacted_history(void **state)
{
	th_server        srv;
	svcfleet_client *c;
	svcfleet_status  st      = {0};
	svcfleet_options o       = {.timeout_ms = 10000, .connect_now = true};
	const char      *extra[] = {"--change-history", "5", NULL};
	char             name[32];
	uint64_t         first = 0, last = 0;
	(void) state;

	memset(&srv, 0, sizeof(srv));
	assert_int_equal(th_server_start(&srv, NULL, extra), 0);
	o.url   = srv.ts_url;
	o.token = srv.ts_token;
	assert_int_equal(svcfleet_open(&c, &o, &st), 0);

	Svcfleet__V1__Cluster                cl = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__RegisterClusterRequest reg
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *clo = NULL;
	cl.name                    = "east";
	cl.api_server              = "https://127.0.0.1:6443";
	cl.token                   = "t";
	reg.cluster                = &cl;
	assert_int_equal(svcfleet_register_cluster(c, &reg, &clo, &st), 0);
	svcfleet_free(clo);

	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "svc-%02d", i);
		assert_int_equal(create(c, name, i == 0 ? &first : &last), 0);
	}

	// From before the kept history: OUT_OF_RANGE.
	Svcfleet__V1__WatchServicesRequest w
	    = SVCFLEET__V1__WATCH_SERVICES_REQUEST__INIT;
	Svcfleet__V1__WatchServicesReply *r = NULL;
	w.since_revision                    = first;
	assert_int_equal(svcfleet_watch_services_wait(c, &w, &r, &st),
	    SVCFLEET_OUT_OF_RANGE);
	assert_non_null(strstr(st.message, "list again"));

	// Relist, then watch from the list's revision: the next change
	// arrives and nothing before it.
	Svcfleet__V1__ListServicesRequest lr
	    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
	Svcfleet__V1__ListServicesReply *l = NULL;
	lr.cluster                         = "east";
	assert_int_equal(svcfleet_list_services(c, &lr, &l, &st), 0);
	assert_int_equal(l->n_services, 30);
	assert_true(l->revision >= last);
	w.since_revision = l->revision;
	svcfleet_free(l);
	assert_int_equal(create(c, "after", NULL), 0);
	w.wait_ms = 5000;
	assert_int_equal(svcfleet_watch_services_wait(c, &w, &r, &st), 0);
	assert_int_equal(r->n_events, 1);
	assert_string_equal(r->events[0]->service->metadata->name, "after");
	svcfleet_free(r);

	// Recent history is still readable.
	w.since_revision = last - 2;
	w.wait_ms        = 0;
	assert_int_equal(svcfleet_watch_services_wait(c, &w, &r, &st), 0);
	assert_int_equal(r->n_events, 3);
	svcfleet_free(r);

	svcfleet_close(c);
	svcfleet_status_fini(&st);
	assert_int_equal(th_server_stop(&srv), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compacted_history),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
