// sec_11_test.c: finding 11 of issue 17. A parked watch kept delivering
// for up to 5 minutes after its token was revoked or its binding deleted.
// Now a parked call's caller is checked again whenever tokens or bindings
// change (the watch thread looks every second), so it ends at once with
// UNAUTHENTICATED or PERMISSION_DENIED.
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

static void
park(th_fixture *f, const char *tok, nng_socket *s)
{
	Svcfleet__V1__ListServicesRequest lr
	    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
	Svcfleet__V1__ListServicesReply *out = NULL;
	TH_MUST(
	    svcfleet_list_services(f->tf_c, &lr, &out, &f->tf_st), &f->tf_st);
	Svcfleet__V1__WatchServicesRequest wr
	    = SVCFLEET__V1__WATCH_SERVICES_REQUEST__INIT;
	wr.since_revision = out->revision;
	wr.cluster        = "east";
	wr.namespace_     = "team-a";
	wr.wait_ms        = 60000; // far beyond the test's deadlines
	svcfleet_free(out);
	// Nothing parked yet (an earlier test's watch has ended), then this
	// one parked: read from the server's gauge, not guessed from a
	// second call, which on a slow machine could reach the server first
	// and take the user's one place itself.
	assert_true(sec_wait_metric(&f->tf_srv, PARKED, 0));
	sec_async_send(f->tf_srv.ts_url, tok, WATCH, &wr.base, 70000, s);
	assert_true(sec_wait_metric(&f->tf_srv, PARKED, 1));
	// And it holds the user's quota (1, see setup): a second is refused.
	nng_socket x;
	char       msg[512];
	sec_async_send(f->tf_srv.ts_url, tok, WATCH, &wr.base, 5000, &x);
	assert_int_equal(sec_async_recv(x, 5000, msg, sizeof(msg)),
	    SVCFLEET_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(msg, "--max-watches-per-user"));
	nng_close(x);
}

static int
setup(void **state)
{
	th_fixture       *f       = calloc(1, sizeof(*f));
	const char *const extra[] = {"--max-watches-per-user", "1", NULL};
	if (th_fixture_setup(f, extra) != 0) {
		return (-1);
	}
	*state = f;
	return (0);
}

static void
test_revoked_token(void **state)
{
	th_fixture *f = *state;
	nng_socket  s;
	char        msg[512], id[16];

	TH_MUST(th_register_cluster(f->tf_c, "east", &f->tf_st), &f->tf_st);
	char *tok = sec_tenant(f, "eve", "ns-view", "east", "team-a");
	park(f, tok, &s);

	// Revoke: "sfk_<12 hex id>_<secret>".
	snprintf(id, sizeof(id), "%.12s", tok + 4);
	Svcfleet__V1__RevokeTokenRequest rr
	    = SVCFLEET__V1__REVOKE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__Empty *e = NULL;
	rr.id                  = id;
	TH_MUST(svcfleet_revoke_token(f->tf_c, &rr, &e, &f->tf_st), &f->tf_st);
	svcfleet_free(e);
	// Ended long before its 60 s wait (the server looks every second).
	assert_int_equal(sec_async_recv(s, 10000, msg, sizeof(msg)),
	    SVCFLEET_UNAUTHENTICATED);
	assert_non_null(strstr(msg, "revoked"));
	nng_close(s);
	free(tok);
}

static void
test_deleted_binding(void **state)
{
	th_fixture *f = *state;
	nng_socket  s;
	char        msg[512];

	char *tok = sec_tenant(f, "frank", "ns-view", "east", "team-a");
	park(f, tok, &s);

	Svcfleet__V1__ListRoleBindingsRequest lr
	    = SVCFLEET__V1__LIST_ROLE_BINDINGS_REQUEST__INIT;
	Svcfleet__V1__ListRoleBindingsReply *l = NULL;
	lr.user                                = "frank";
	TH_MUST(svcfleet_list_role_bindings(f->tf_c, &lr, &l, &f->tf_st),
	    &f->tf_st);
	assert_int_equal(l->n_bindings, 1);
	Svcfleet__V1__DeleteRoleBindingRequest dr
	    = SVCFLEET__V1__DELETE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__Empty *e = NULL;
	dr.id                  = l->bindings[0]->id;
	TH_MUST(svcfleet_delete_role_binding(f->tf_c, &dr, &e, &f->tf_st),
	    &f->tf_st);
	svcfleet_free(e);
	svcfleet_free(l);
	assert_int_equal(sec_async_recv(s, 10000, msg, sizeof(msg)),
	    SVCFLEET_PERMISSION_DENIED);
	nng_close(s);
	free(tok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_revoked_token),
	    cmocka_unit_test(test_deleted_binding),
	};
	return (cmocka_run_group_tests(tests, setup, th_teardown));
}
