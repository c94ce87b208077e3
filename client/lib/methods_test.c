// methods_test.c: SVCFLEET_METHODS (svcfleet.h), the list the typed calls
// are generated from, against the services svcfleet.proto declares — the
// server's method table is checked against the same descriptors when it
// starts. Every proto method has exactly one row, with the proto's request
// and reply types; every row is a proto method.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "svcfleet/svcfleet.h"

typedef struct row {
	const char                       *r_service; // "ServiceManager"
	const char                       *r_method;  // "CreateService"
	const char                       *r_req;     // C type names
	const char                       *r_rep;
	const ProtobufCMessageDescriptor *r_rdesc;
	int                               r_seen;
} row;

static const ProtobufCServiceDescriptor *const services[] = {
    &svcfleet__v1__service_manager__descriptor,
    &svcfleet__v1__cluster_registry__descriptor,
    &svcfleet__v1__access_control__descriptor,
    &svcfleet__v1__audit__descriptor, &svcfleet__v1__system__descriptor,
    &svcfleet__v1__fleet_manager__descriptor, // FleetService (issue 18)
};

static void
test_methods_match_proto(void **state)
{
#define ROW(svc, Method, snake, Req, Rep, rdesc) \
	{#svc, #Method, #Req, #Rep, &rdesc, 0},
	row rows[] = {SVCFLEET_METHODS(ROW)};
#undef ROW
	size_t nrows = sizeof(rows) / sizeof(rows[0]);
	(void) state;

	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++) {
		const ProtobufCServiceDescriptor *sd = services[s];
		for (unsigned i = 0; i < sd->n_methods; i++) {
			const ProtobufCMethodDescriptor *md = &sd->methods[i];
			row                             *r  = NULL;
			for (size_t j = 0; j < nrows; j++) {
				if (strcmp(sd->short_name, rows[j].r_service)
				        == 0
				    && strcmp(md->name, rows[j].r_method)
				        == 0) {
					r = &rows[j];
				}
			}
			if (r == NULL) {
				fail_msg("/%s/%s is in svcfleet.proto but not "
				         "in SVCFLEET_METHODS",
				    sd->name, md->name);
			}
			r->r_seen++;
			// The C type names are what the typed call takes
			// and gives; the descriptor is what it decodes with.
			assert_string_equal(r->r_req, md->input->c_name);
			assert_string_equal(r->r_rep, md->output->c_name);
			assert_ptr_equal(r->r_rdesc, md->output);
		}
	}
	for (size_t j = 0; j < nrows; j++) {
		if (rows[j].r_seen != 1) {
			fail_msg("SVCFLEET_METHODS row %s/%s matches %d proto "
			         "methods",
			    rows[j].r_service, rows[j].r_method,
			    rows[j].r_seen);
		}
	}
}

// The status names libsvcfleet prints are svcfleet's own (the enum's
// values are checked against the same list when the library builds).
static void
test_code_names(void **state)
{
	(void) state;
	assert_string_equal(svcfleet_code_name(SVCFLEET_OK), "OK");
	assert_string_equal(
	    svcfleet_code_name(SVCFLEET_NOT_FOUND), "NOT_FOUND");
	assert_string_equal(
	    svcfleet_code_name(SVCFLEET_UNAUTHENTICATED), "UNAUTHENTICATED");
	assert_string_equal(svcfleet_code_name(17), "CODE_17");
	assert_string_equal(svcfleet_code_name(-1), "CODE_-1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_methods_match_proto),
	    cmocka_unit_test(test_code_names),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
