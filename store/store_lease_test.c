// store_lease_test.c: reconciler leases and claims (issue 16) through the
// store's API, on the backend $SF_STORE_BACKEND names: LMDB (in memory)
// and etcd (etcd leases, store_lease_test_etcd). A claim is exclusive, its
// token grows with every new claim, a release needs the claim's token, and
// a lease that ends (revoked, or not renewed in time) takes its member and
// claims with it.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "log.h"
#include "store_testutil.h"

typedef struct fix {
	char     *dir;
	sf_store *s;
} fix;

static int
setup(void **state)
{
	fix *f = calloc(1, sizeof(*f));
	f->dir = tu_tmpdir();
	f->s   = tu_open(f->dir, 0, 0);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	fix *f = *state;
	sf_store_close(f->s);
	tu_rmrf(f->dir);
	free(f);
	return (0);
}

// claim_of returns the token of cluster's claim and its owner, 0 when
// nobody holds it.
static uint64_t
claim_of(sf_store *s, const char *cluster, char *owner, size_t cap)
{
	sf_store_claim *c;
	size_t          n;
	uint64_t        t = 0;
	sf_status       st;
	sf_status_init(&st);
	assert_int_equal(sf_store_claim_list(s, &c, &n, &st), 0);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(c[i].sc_cluster, cluster) == 0) {
			t = c[i].sc_token;
			snprintf(owner, cap, "%s", c[i].sc_owner);
		}
	}
	sf_store_claims_free(c, n);
	sf_status_fini(&st);
	return (t);
}

static void
test_claims(void **state)
{
	fix             *f = *state;
	sf_status        st;
	uint64_t         la, lb, t1, t2, t;
	sf_store_member *m;
	size_t           n;
	char             owner[64];

	sf_status_init(&st);
	assert_int_equal(sf_store_lease_grant(f->s, 10000, &la, &st), 0);
	assert_int_equal(sf_store_lease_grant(f->s, 10000, &lb, &st), 0);
	assert_true(la != lb);
	assert_int_equal(sf_store_member_put(
	                     f->s, "rec-a", la, (const uint8_t *) "A", 1, &st),
	    0);
	assert_int_equal(sf_store_member_put(
	                     f->s, "rec-b", lb, (const uint8_t *) "B", 1, &st),
	    0);
	assert_int_equal(sf_store_member_list(f->s, &m, &n, &st), 0);
	assert_int_equal(n, 2);
	assert_string_equal(m[0].sm_id, "rec-a"); // id order
	assert_int_equal(m[0].sm_lease, la);
	assert_int_equal(m[0].sm_len, 1);
	assert_memory_equal(m[0].sm_val, "A", 1);
	assert_true(m[0].sm_expires_ms > sf_clock_now_ms());
	sf_store_members_free(m, n);

	// Exclusive, with a token; a release needs the token.
	assert_int_equal(
	    sf_store_claim_acquire(f->s, "east", "rec-a", la, &t1, &st), 0);
	assert_true(t1 > 0);
	assert_int_equal(
	    sf_store_claim_acquire(f->s, "east", "rec-b", lb, &t, &st),
	    SF_ALREADY_EXISTS);
	sf_status_reset(&st);
	assert_int_equal(claim_of(f->s, "east", owner, sizeof(owner)), t1);
	assert_string_equal(owner, "rec-a");
	assert_int_equal(
	    sf_store_claim_release(f->s, "east", t1 + 1, &st), SF_NOT_FOUND);
	sf_status_reset(&st);
	assert_int_equal(sf_store_claim_release(f->s, "east", t1, &st), 0);
	assert_int_equal(claim_of(f->s, "east", owner, sizeof(owner)), 0);
	// A new claim, a larger token.
	assert_int_equal(
	    sf_store_claim_acquire(f->s, "east", "rec-b", lb, &t2, &st), 0);
	assert_true(t2 > t1);
	assert_int_equal(
	    sf_store_claim_acquire(f->s, "west", "rec-a", la, &t, &st), 0);
	assert_true(t > t2);

	// Renewed, then revoked: its member and claims go with it.
	assert_int_equal(sf_store_lease_renew(f->s, la, &st), 0);
	assert_int_equal(sf_store_lease_revoke(f->s, la, &st), 0);
	assert_int_equal(claim_of(f->s, "west", owner, sizeof(owner)), 0);
	assert_int_equal(claim_of(f->s, "east", owner, sizeof(owner)), t2);
	assert_int_equal(sf_store_member_list(f->s, &m, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].sm_id, "rec-b");
	sf_store_members_free(m, n);
	assert_int_equal(sf_store_lease_renew(f->s, la, &st), SF_NOT_FOUND);
	sf_status_reset(&st);
	assert_int_equal(
	    sf_store_claim_acquire(f->s, "north", "rec-a", la, &t, &st),
	    SF_NOT_FOUND);
	sf_status_reset(&st);
	assert_int_equal(sf_store_member_put(
	                     f->s, "rec-a", la, (const uint8_t *) "A", 1, &st),
	    SF_NOT_FOUND);
	sf_status_fini(&st);
}

static void
test_expiry(void **state)
{
	fix      *f = *state;
	sf_status st;
	uint64_t  l, t;
	char      owner[64];

	sf_status_init(&st);
	assert_int_equal(sf_store_lease_grant(f->s, 1000, &l, &st), 0);
	assert_int_equal(
	    sf_store_claim_acquire(f->s, "south", "rec-x", l, &t, &st), 0);
	// Nobody renews: the claim ends by itself (etcd's leases count whole
	// seconds and its minimum TTL is about 2 s).
	int64_t until = sf_clock_mono_ms() + 10000;
	while (claim_of(f->s, "south", owner, sizeof(owner)) != 0) {
		assert_true(sf_clock_mono_ms() < until);
		usleep(50 * 1000);
	}
	assert_int_equal(sf_store_lease_renew(f->s, l, &st), SF_NOT_FOUND);
	sf_status_fini(&st);
}

static void
test_bad_input(void **state)
{
	fix      *f = *state;
	sf_status st;
	uint64_t  l = 0, t;
	char      big[300];

	sf_status_init(&st);
	assert_int_equal(
	    sf_store_lease_grant(f->s, 999, &l, &st), SF_INVALID_ARGUMENT);
	assert_non_null(strstr(st.st_msg, "ttl_ms"));
	sf_status_reset(&st);
	assert_int_equal(sf_store_lease_grant(f->s, 5000, &l, &st), 0);
	assert_int_equal(sf_store_claim_acquire(f->s, "", "r", l, &t, &st),
	    SF_INVALID_ARGUMENT);
	sf_status_reset(&st);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sf_store_member_put(f->s, big, l, NULL, 0, &st),
	    SF_INVALID_ARGUMENT);
	sf_status_reset(&st);
	assert_int_equal(sf_store_lease_revoke(f->s, l, &st), 0);
	sf_status_fini(&st);
}

int
main(void)
{
	if (tu_skip()) {
		return (77);
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_claims, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
	};
	sf_log_set_level(SF_LOG_WARN);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
