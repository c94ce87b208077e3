// sec_8_test.c: finding 8 of issue 17. A nodePort conflict used to name
// the other Service (`service "prod/prod-db"`) to a tenant who may not
// read it. Now such a caller hears what Kubernetes says ("provided port
// is already allocated"); a caller who may read that Service still hears
// which one it is.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sec_util.h"

static int
create_np(
    svcfleet_client *c, const char *ns, const char *name, svcfleet_status *st)
{
	sec_svc                            b;
	Svcfleet__V1__CreateServiceRequest req
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *out = NULL;
	req.service                = sec_service(&b, "east", ns, name);
	b.spec.type                = "NodePort";
	b.port.node_port           = 30080;
	int rv = svcfleet_create_service(c, &req, &out, st);
	svcfleet_free(out);
	return (rv);
}

static void
test_conflict_names_only_visible(void **state)
{
	th_fixture *f = *state;

	TH_MUST(th_register_cluster(f->tf_c, "east", &f->tf_st), &f->tf_st);
	TH_MUST(create_np(f->tf_c, "prod", "prod-db", &f->tf_st), &f->tf_st);

	char *tok = sec_tenant(f, "mallory", "ns-edit", "east", "team-a");
	svcfleet_client *m  = th_client(f->tf_srv.ts_url, tok, 0);
	svcfleet_status  st = {0};
	free(tok);
	assert_int_equal(create_np(m, "team-a", "probe", &st),
	    SVCFLEET_FAILED_PRECONDITION);
	printf("tenant: %s\n", st.message);
	assert_null(strstr(st.message, "prod-db"));
	assert_null(strstr(st.message, "prod/"));
	assert_non_null(
	    strstr(st.message, "provided port is already allocated"));
	assert_string_equal(st.violations[0].field, "spec.ports[0].nodePort");
	assert_null(strstr(st.violations[0].reason, "prod-db"));
	svcfleet_status_fini(&st);
	svcfleet_close(m);

	// The admin may read prod/prod-db: told which Service holds it.
	assert_int_equal(create_np(f->tf_c, "team-a", "probe", &f->tf_st),
	    SVCFLEET_FAILED_PRECONDITION);
	assert_non_null(strstr(f->tf_st.message, "\"prod/prod-db\""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conflict_names_only_visible),
	};
	return (cmocka_run_group_tests(tests, th_setup, th_teardown));
}
