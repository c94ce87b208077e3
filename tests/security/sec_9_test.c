// sec_9_test.c: finding 9 of issue 17, invalid UTF-8 through the RPC. The
// gateway and the CLI refuse it, but the RPC stored it: the Service was
// then invisible to the gateway and the reconciler dropped the
// annotation. Now the server refuses it for every string field of every
// request, with the field's path, and stores nothing.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sec_util.h"

static void
test_service_strings(void **state)
{
	th_fixture *f = *state;
	static const struct {
		const char *where;
		const char *bad;
		const char *path;
	} cases[] = {
	    {"annotation value", "caf\xc3", "metadata.annotations[0].value"},
	    {"annotation key", "a\xff", "metadata.annotations[0].key"},
	    {"overlong slash", "\xc0\xaf", "metadata.annotations[0].value"},
	    {"surrogate", "\xed\xa0\x80", "metadata.annotations[0].value"},
	    {"port name", "p\x80", "spec.ports[0].name"},
	    {"selector value", "w\xfe", "spec.selector[0].value"},
	};

	TH_MUST(th_register_cluster(f->tf_c, "east", &f->tf_st), &f->tf_st);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sec_svc                 b;
		Svcfleet__V1__KeyValue  ann = SVCFLEET__V1__KEY_VALUE__INIT;
		Svcfleet__V1__KeyValue *anns[1] = {&ann};
		Svcfleet__V1__CreateServiceRequest req
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;

		req.service          = sec_service(&b, "east", "prod", "utf8");
		ann.key              = "example.com/note";
		ann.value            = "ok";
		b.meta.annotations   = anns;
		b.meta.n_annotations = 1;
		if (strstr(cases[i].path, "annotations[0].value")) {
			ann.value = (char *) cases[i].bad;
		} else if (strstr(cases[i].path, "annotations[0].key")) {
			ann.key = (char *) cases[i].bad;
		} else if (strstr(cases[i].path, "ports")) {
			b.port.name = (char *) cases[i].bad;
		} else {
			b.sel.value = (char *) cases[i].bad;
		}
		int rv
		    = svcfleet_create_service(f->tf_c, &req, &out, &f->tf_st);
		printf("%s: %d %s\n", cases[i].where, rv, f->tf_st.message);
		assert_int_equal(rv, SVCFLEET_INVALID_ARGUMENT);
		assert_true(f->tf_st.n_violations >= 1);
		assert_string_equal(
		    f->tf_st.violations[0].field, cases[i].path);
		assert_non_null(
		    strstr(f->tf_st.violations[0].reason, "UTF-8"));
		svcfleet_free(out);
	}
	// Nothing was stored.
	Svcfleet__V1__ServiceKey        k = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__GetServiceRequest g
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *got = NULL;
	k.cluster                  = "east";
	k.namespace_               = "prod";
	k.name                     = "utf8";
	g.key                      = &k;
	assert_int_equal(svcfleet_get_service(f->tf_c, &g, &got, &f->tf_st),
	    SVCFLEET_NOT_FOUND);
}

// Other methods' strings too: a cluster's labels, a binding's user.
static void
test_other_requests(void **state)
{
	th_fixture               *f = *state;
	Svcfleet__V1__RoleBinding b = SVCFLEET__V1__ROLE_BINDING__INIT;
	Svcfleet__V1__CreateRoleBindingRequest r
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__RoleBinding *out = NULL;

	b.user       = "bad\xff";
	b.role       = "ns-view";
	b.cluster    = "east";
	b.namespace_ = "prod";
	r.binding    = &b;
	assert_int_equal(
	    svcfleet_create_role_binding(f->tf_c, &r, &out, &f->tf_st),
	    SVCFLEET_INVALID_ARGUMENT);
	assert_string_equal(f->tf_st.violations[0].field, "binding.user");
	svcfleet_free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_service_strings),
	    cmocka_unit_test(test_other_requests),
	};
	return (cmocka_run_group_tests(tests, th_setup, th_teardown));
}
