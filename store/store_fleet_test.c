// store_fleet_test.c: FleetService records (issue 18) on both backends:
// create-only, read back in and outside a write, listing in id order,
// delete, and a write that fails leaving nothing behind.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "store.h"
#include "store_testutil.h"

typedef struct fixture {
	char     *dir;
	sf_store *s;
} fixture;

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	f->dir     = tu_tmpdir();
	f->s       = tu_open(f->dir, 0, 0);
	*state     = f;
	return (0);
}

static int
teardown(void **state)
{
	fixture *f = *state;
	sf_store_close(f->s);
	tu_rmrf(f->dir);
	free(f);
	return (0);
}

typedef struct put_arg {
	const char *id;
	const char *summary;
	bool        create_only;
	bool        fail_after; // write, then fail: nothing may remain
	bool        del;
	bool        addrs;   // i18-addr: an address claim's record instead
	int         got_get; // what a read inside the write found
} put_arg;

static int
put_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	put_arg                   *p  = arg;
	Svcfleet__V1__FleetService fs = SVCFLEET__V1__FLEET_SERVICE__INIT;
	ProtobufCMessage          *m  = NULL;
	sf_store_kind kind = p->addrs ? SF_STORE_ADDRS : SF_STORE_FLEET;
	int           rv;

	p->got_get = sf_store_txn_record_get(txn, kind, p->id,
	    &svcfleet__v1__fleet_service__descriptor, NULL, &m);
	if (m != NULL) {
		protobuf_c_message_free_unpacked(m, NULL);
	}
	if (p->del) {
		return (sf_store_txn_record_delete(txn, kind, p->id));
	}
	fs.summary = (char *) p->summary;
	rv         = sf_store_txn_record_put(
	            txn, kind, p->id, &fs.base, p->create_only);
	if (rv == 0 && p->fail_after) {
		return (sf_status_set(st, SF_ABORTED, "failing on purpose"));
	}
	return (rv);
}

static int
run(sf_store *s, put_arg *p)
{
	sf_status st;
	sf_status_init(&st);
	sf_store_write w  = {.w_fn = put_fn, .w_arg = p, .w_status = &st};
	int            rv = sf_store_write_sync(s, &w, NULL);
	sf_status_fini(&st);
	return (rv);
}

static char *
summary_of(sf_store *s, const char *id)
{
	ProtobufCMessage *m = NULL;
	char             *r;
	if (sf_store_record_get(s, SF_STORE_FLEET, id,
	        &svcfleet__v1__fleet_service__descriptor, NULL, &m)
	    != 0) {
		return (NULL);
	}
	r = strdup(((Svcfleet__V1__FleetService *) m)->summary);
	protobuf_c_message_free_unpacked(m, NULL);
	return (r);
}

static void
test_fleet_records(void **state)
{
	fixture *f = *state;
	// The longest id: a 63-byte namespace and a 63-byte name.
	char longid[128];
	memset(longid, 'a', 63);
	longid[63] = '/';
	memset(longid + 64, 'b', 63);
	longid[127] = '\0';

	put_arg p1 = {.id = "dev/web", .summary = "one", .create_only = true};
	assert_int_equal(run(f->s, &p1), 0);
	assert_int_equal(p1.got_get, SF_NOT_FOUND);
	// Create-only again: ALREADY_EXISTS, and the read inside saw it.
	p1.summary = "two";
	assert_int_equal(run(f->s, &p1), SF_ALREADY_EXISTS);
	assert_int_equal(p1.got_get, 0);
	char *got = summary_of(f->s, "dev/web");
	assert_string_equal(got, "one");
	free(got);

	// A failing write leaves the old record.
	put_arg p2 = {.id = "dev/web", .summary = "three", .fail_after = true};
	assert_int_equal(run(f->s, &p2), SF_ABORTED);
	got = summary_of(f->s, "dev/web");
	assert_string_equal(got, "one");
	free(got);

	put_arg p3 = {.id = longid, .summary = "long", .create_only = true};
	assert_int_equal(run(f->s, &p3), 0);
	put_arg p4 = {.id = "dev/api", .summary = "api"};
	assert_int_equal(run(f->s, &p4), 0);
	// i18-addr: address claims are a kind of their own.
	put_arg pa = {.id = "203.0.113.9", .summary = "claim", .addrs = true};
	assert_int_equal(run(f->s, &pa), 0);
	assert_null(summary_of(f->s, "203.0.113.9"));

	// Listed in id order, apart from tokens and bindings.
	ProtobufCMessage **all = NULL;
	size_t             n   = 0;
	assert_int_equal(
	    sf_store_record_list(f->s, SF_STORE_FLEET,
	        &svcfleet__v1__fleet_service__descriptor, NULL, &all, &n),
	    0);
	assert_int_equal(n, 3);
	assert_string_equal(
	    ((Svcfleet__V1__FleetService *) all[0])->summary, "long");
	assert_string_equal(
	    ((Svcfleet__V1__FleetService *) all[1])->summary, "api");
	assert_string_equal(
	    ((Svcfleet__V1__FleetService *) all[2])->summary, "one");
	for (size_t i = 0; i < n; i++) {
		protobuf_c_message_free_unpacked(all[i], NULL);
	}
	free(all);
	assert_int_equal(
	    sf_store_record_list(f->s, SF_STORE_BINDINGS,
	        &svcfleet__v1__role_binding__descriptor, NULL, &all, &n),
	    0);
	assert_int_equal(n, 0);
	free(all);
	assert_int_equal(
	    sf_store_record_list(f->s, SF_STORE_ADDRS,
	        &svcfleet__v1__fleet_service__descriptor, NULL, &all, &n),
	    0);
	assert_int_equal(n, 1);
	assert_string_equal(
	    ((Svcfleet__V1__FleetService *) all[0])->summary, "claim");
	protobuf_c_message_free_unpacked(all[0], NULL);
	free(all);
	pa.del = true;
	assert_int_equal(run(f->s, &pa), 0);

	put_arg d = {.id = "dev/web", .del = true};
	assert_int_equal(run(f->s, &d), 0);
	assert_null(summary_of(f->s, "dev/web"));
	assert_int_equal(run(f->s, &d), SF_NOT_FOUND);
	// An id one byte too long is refused.
	char toolong[130];
	memset(toolong, 'x', 129);
	toolong[129] = '\0';
	put_arg p5   = {.id = toolong, .summary = "x"};
	assert_int_equal(run(f->s, &p5), SF_INVALID_ARGUMENT);
}

int
main(void)
{
	if (tu_skip()) {
		return (77);
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_fleet_records, setup, teardown),
	};
	sf_log_set_level(SF_LOG_WARN);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
