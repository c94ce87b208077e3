// sec_7_test.c: finding 7 of issue 17. --max-watches was global: one user
// could hold every watch slot, the reconciler's included. Now each user
// has a quota (--max-watches-per-user), users together leave an eighth of
// the slots to the reconciler, and the reconciler never waits for a
// user's slot.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sec_util.h"

#define WATCH  "/svcfleet.v1.ServiceManager/WatchServices"
#define PARKED "svcfleet_rpc_watches_parked"

static uint64_t
revision(th_fixture *f)
{
	Svcfleet__V1__ListServicesRequest r
	    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
	Svcfleet__V1__ListServicesReply *out = NULL;
	TH_MUST(
	    svcfleet_list_services(f->tf_c, &r, &out, &f->tf_st), &f->tf_st);
	uint64_t rev = out->revision;
	svcfleet_free(out);
	return (rev);
}

static int
setup(void **state)
{
	th_fixture       *f       = calloc(1, sizeof(*f));
	const char *const extra[] = {"--contexts", "32", "--max-watches", "8",
	    "--max-watches-per-user", "2", NULL};
	if (th_fixture_setup(f, extra) != 0) {
		return (-1);
	}
	*state = f;
	return (0);
}

static void
test_quotas(void **state)
{
	th_fixture *f = *state;
	nng_socket  s[16];
	int         ns = 0;
	char        msg[512];
	char       *tok[4];

	TH_MUST(th_register_cluster(f->tf_c, "east", &f->tf_st), &f->tf_st);
	for (int i = 0; i < 4; i++) {
		char user[16];
		snprintf(user, sizeof(user), "user%d", i);
		tok[i] = sec_tenant(f, user, "ns-view", "east", "team-a");
	}
	char *recon = sec_tenant(f, "recon2", "reconciler", "", "");

	Svcfleet__V1__WatchServicesRequest wr
	    = SVCFLEET__V1__WATCH_SERVICES_REQUEST__INIT;
	wr.since_revision = revision(f);
	wr.cluster        = "east";
	wr.namespace_     = "team-a";
	wr.wait_ms        = 8000;

	// user0: two parked, the third refused by its quota.
	for (int k = 0; k < 2; k++) {
		sec_async_send(f->tf_srv.ts_url, tok[0], WATCH, &wr.base,
		    20000, &s[ns++]);
	}
	assert_true(sec_wait_metric(&f->tf_srv, PARKED, 2));
	nng_socket x;
	sec_async_send(f->tf_srv.ts_url, tok[0], WATCH, &wr.base, 20000, &x);
	assert_int_equal(sec_async_recv(x, 10000, msg, sizeof(msg)),
	    SVCFLEET_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(msg, "--max-watches-per-user"));
	nng_close(x);

	// Others still get theirs: user1 and user2 two each, user3 one.
	for (int u = 1; u < 4; u++) {
		for (int k = 0; k < (u < 3 ? 2 : 1); k++) {
			sec_async_send(f->tf_srv.ts_url, tok[u], WATCH,
			    &wr.base, 20000, &s[ns++]);
		}
	}
	assert_true(sec_wait_metric(&f->tf_srv, PARKED, 7));
	// Users now hold 7 of 8: the last one is the reconciler's.
	sec_async_send(f->tf_srv.ts_url, tok[3], WATCH, &wr.base, 20000, &x);
	assert_int_equal(sec_async_recv(x, 10000, msg, sizeof(msg)),
	    SVCFLEET_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(msg, "kept for the reconciler"));
	nng_close(x);

	// The reconciler parks (watching everything, its wait as the others').
	Svcfleet__V1__WatchServicesRequest rr
	    = SVCFLEET__V1__WATCH_SERVICES_REQUEST__INIT;
	rr.since_revision = wr.since_revision;
	rr.wait_ms        = 8000;
	sec_async_send(
	    f->tf_srv.ts_url, recon, WATCH, &rr.base, 20000, &s[ns++]);
	assert_true(sec_wait_metric(&f->tf_srv, PARKED, 8));

	// Every parked watch is answered OK when its wait ends.
	for (int i = 0; i < ns; i++) {
		assert_int_equal(
		    sec_async_recv(s[i], 15000, msg, sizeof(msg)), 0);
		nng_close(s[i]);
	}
	for (int i = 0; i < 4; i++) {
		free(tok[i]);
	}
	free(recon);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quotas),
	};
	return (cmocka_run_group_tests(tests, setup, th_teardown));
}
