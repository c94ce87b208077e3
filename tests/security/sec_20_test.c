// sec_20_test.c (issue 17, finding 20): cluster credentials are never in
// a list — not to admin, not through the gateway the console polls every
// 5 s — and a person reads them only with `cluster get NAME
// --show-credentials` (GetCluster with_credentials), a call written to
// the audit log. The reconciler role still gets them (it works with
// them: identity_test checks it).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli_util.h"
#include "sec_http.h"

static void
test_no_credentials_in_lists(void **state)
{
	ct_env e;
	char  *out, *ans = NULL, req[1024];
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "c1");
	// The CLI's list, as admin.
	out = ct_ok(&e, "cluster list --show-credentials -o json");
	assert_non_null(strstr(out, "\"c1\""));
	assert_null(strstr(out, CT_CLUSTER_TOKEN));
	assert_non_null(strstr(out, "\"hasCredentials\": true"));
	free(out);
	// The gateway's list (the console's poll), as admin.
	snprintf(req, sizeof(req),
	    "GET /apis/svcfleet.io/v1/clusters HTTP/1.1\r\nHost: "
	    "127.0.0.1\r\nAuthorization: Bearer %s\r\nConnection: "
	    "close\r\n\r\n",
	    e.ce_srv.ts_token);
	assert_int_equal(
	    sh_request(sh_port(e.ce_srv.ts_http), NULL, req, 5000, &ans), 200);
	assert_non_null(strstr(ans, "\"c1\""));
	assert_null(strstr(ans, CT_CLUSTER_TOKEN));
	free(ans);
	// A plain get does not carry them either.
	out = ct_ok(&e, "cluster get c1 -o json");
	assert_null(strstr(out, CT_CLUSTER_TOKEN));
	free(out);
	// Asked for, by admin: given, and audited.
	out = ct_ok(&e, "cluster get c1 --show-credentials -o json");
	assert_non_null(strstr(out, CT_CLUSTER_TOKEN));
	free(out);
	out = ct_ok(&e, "audit -o json");
	assert_non_null(
	    strstr(out, "/svcfleet.v1.ClusterRegistry/GetCluster"));
	free(out);
	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_no_credentials_in_lists, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
