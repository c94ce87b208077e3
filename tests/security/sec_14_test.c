// sec_14_test.c: finding 14 of issue 17. A ListServices page token held
// the last key the store examined, which (when a page stops at the scan
// cap) can be a Service the caller may not read. Now tokens are sealed by
// the server: they carry no name in any form, a token altered in any byte
// is refused, and paging still works.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "sec_util.h"

static void
create(th_fixture *f, const char *ns, const char *name)
{
	sec_svc                            b;
	Svcfleet__V1__CreateServiceRequest req
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *out = NULL;
	req.service                = sec_service(&b, "east", ns, name);
	TH_MUST(svcfleet_create_service(f->tf_c, &req, &out, &f->tf_st),
	    &f->tf_st);
	svcfleet_free(out);
}

// No name in the token, nor in what any base64 reading of it decodes to.
static void
assert_opaque(const char *tok)
{
	static const char *const names[] = {"east", "team-a", "svc-a"};
	for (size_t i = 0; i < 3; i++) {
		assert_null(strstr(tok, names[i]));
	}
	for (size_t skip = 0; skip < strlen(tok); skip++) {
		uint8_t buf[4096];
		for (int fl = 0; fl < 2; fl++) {
			ssize_t n = sf_base64_decode(buf, sizeof(buf) - 1,
			    tok + skip, strlen(tok) - skip,
			    fl ? SF_B64_URL : 0);
			if (n <= 0) {
				continue;
			}
			buf[n] = '\0';
			for (size_t i = 0; i < 3; i++) {
				assert_null(memmem(buf, (size_t) n, names[i],
				    strlen(names[i])));
			}
		}
	}
}

static void
test_tokens_sealed(void **state)
{
	th_fixture *f         = *state;
	char        tok[1024] = "";
	size_t      seen      = 0;

	TH_MUST(th_register_cluster(f->tf_c, "east", &f->tf_st), &f->tf_st);
	create(f, "team-a", "svc-a1");
	create(f, "team-a", "svc-a2");
	create(f, "team-a", "svc-a3");
	do {
		Svcfleet__V1__ListServicesRequest r
		    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
		Svcfleet__V1__ListServicesReply *out = NULL;
		r.cluster                            = "east";
		r.page_size                          = 1;
		r.page_token                         = tok;
		TH_MUST(svcfleet_list_services(f->tf_c, &r, &out, &f->tf_st),
		    &f->tf_st);
		seen += out->n_services;
		snprintf(tok, sizeof(tok), "%s", out->next_page_token);
		svcfleet_free(out);
		if (tok[0] != '\0') {
			assert_opaque(tok);
			// Any byte changed: refused.
			char bad[1024];
			snprintf(bad, sizeof(bad), "%s", tok);
			size_t k = strlen(bad) / 2;
			bad[k]   = bad[k] == 'A' ? 'B' : 'A';
			Svcfleet__V1__ListServicesRequest r2
			    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
			Svcfleet__V1__ListServicesReply *o2 = NULL;
			r2.cluster                          = "east";
			r2.page_size                        = 1;
			r2.page_token                       = bad;
			assert_int_equal(svcfleet_list_services(
			                     f->tf_c, &r2, &o2, &f->tf_st),
			    SVCFLEET_INVALID_ARGUMENT);
			svcfleet_free(o2);
		}
	} while (tok[0] != '\0');
	assert_int_equal(seen, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tokens_sealed),
	};
	return (cmocka_run_group_tests(tests, th_setup, th_teardown));
}
