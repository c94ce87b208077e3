// sec_13_test.c: finding 13 of issue 17. Binding ids are guessable
// hashes, and DeleteRoleBinding answered PERMISSION_DENIED for a binding
// that exists and NOT_FOUND for one that does not: a tenant could confirm
// who holds which role. Now a caller who may not see a binding gets the
// same answer either way; only one who sees every binding hears
// NOT_FOUND.
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
delete_binding(svcfleet_client *c, const char *id, svcfleet_status *st)
{
	Svcfleet__V1__DeleteRoleBindingRequest r
	    = SVCFLEET__V1__DELETE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__Empty *out = NULL;
	r.id                     = (char *) id;
	int rv = svcfleet_delete_role_binding(c, &r, &out, st);
	svcfleet_free(out);
	return (rv);
}

// The message with the id cut out, to compare the two answers.
static void
without_id(const char *msg, const char *id, char *out, size_t cap)
{
	const char *at = strstr(msg, id);
	assert_non_null(at);
	snprintf(out, cap, "%.*s%s", (int) (at - msg), msg, at + strlen(id));
}

static void
test_existence_not_revealed(void **state)
{
	th_fixture *f = *state;
	char       *alice, *tok;

	TH_MUST(th_register_cluster(f->tf_c, "east", &f->tf_st), &f->tf_st);
	alice = sec_tenant(f, "alice", "ns-admin", "east", "prod");
	free(alice);
	Svcfleet__V1__ListRoleBindingsRequest lr
	    = SVCFLEET__V1__LIST_ROLE_BINDINGS_REQUEST__INIT;
	Svcfleet__V1__ListRoleBindingsReply *l = NULL;
	lr.user                                = "alice";
	TH_MUST(svcfleet_list_role_bindings(f->tf_c, &lr, &l, &f->tf_st),
	    &f->tf_st);
	assert_int_equal(l->n_bindings, 1);
	char *real = strdup(l->bindings[0]->id);
	svcfleet_free(l);

	tok = sec_tenant(f, "mallory", "ns-edit", "east", "team-a");
	svcfleet_client *m = th_client(f->tf_srv.ts_url, tok, 0);
	free(tok);
	svcfleet_status st1 = {0}, st2 = {0};
	int             rv1 = delete_binding(m, real, &st1);
	int             rv2 = delete_binding(m, "rb-0123456789abcdef", &st2);
	printf("exists: %d %s\nmissing: %d %s\n", rv1, st1.message, rv2,
	    st2.message);
	assert_int_equal(rv1, rv2);
	assert_int_equal(rv1, SVCFLEET_PERMISSION_DENIED);
	char a[600], b[600];
	without_id(st1.message, real, a, sizeof(a));
	without_id(st2.message, "rb-0123456789abcdef", b, sizeof(b));
	assert_string_equal(a, b);
	assert_null(strstr(st1.message, "prod"));
	svcfleet_status_fini(&st1);
	svcfleet_status_fini(&st2);
	svcfleet_close(m);

	// The admin sees every binding: told what does not exist.
	assert_int_equal(
	    delete_binding(f->tf_c, "rb-0123456789abcdef", &f->tf_st),
	    SVCFLEET_NOT_FOUND);
	TH_MUST(delete_binding(f->tf_c, real, &f->tf_st), &f->tf_st);
	free(real);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_existence_not_revealed),
	};
	return (cmocka_run_group_tests(tests, th_setup, th_teardown));
}
