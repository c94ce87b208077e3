// cli_audit_test.c: `svcfleet audit` against a real svcfleetd — the writes
// and denials a test made, newest first, in a table and as JSON; the
// filters; and --limit following page tokens across more events than one
// page holds.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "svcfleet/svcfleet.h"

#define AUDIT_HEADER "TIME USER METHOD OBJECT RESULT MESSAGE"

#define DENIAL                                                          \
	"user \"vic\" cannot create services in namespace \"shop\" of " \
	"cluster \"prod\""

// An event's id: its metadata.name, a decimal string.
static json_int_t
event_id(const json_t *ev)
{
	const char *name = ct_str_at(ev, "metadata.name");
	assert_non_null(name);
	return ((json_int_t) strtoll(name, NULL, 10));
}

static void
assert_row(char **row, const char *user, const char *method,
    const char *object, const char *result, const char *message)
{
	size_t n = strlen(row[0]);
	assert_true(n > 4 && strcmp(row[0] + n - 4, " ago") == 0);
	assert_string_equal(row[1], user);
	assert_string_equal(row[2], method);
	assert_string_equal(row[3], object);
	assert_string_equal(row[4], result);
	assert_string_equal(row[5], message);
}

// How many ListAuditEvents requests the daemon has logged.
static size_t
list_calls(ct_env *e)
{
	char  *log = th_read_file(e->ce_srv.ts_log, NULL);
	size_t n   = 0;
	assert_non_null(log);
	for (const char *p = log;
	     (p = strstr(p, "request /svcfleet.v1.Audit/ListAuditEvents"))
	     != NULL;
	     p++) {
		n++;
	}
	free(log);
	return (n);
}

static void
test_audit_shows_writes_and_denials(void **state)
{
	ct_env  e;
	char   *out, *err, *vic, ***cells;
	json_t *j;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	vic = ct_token(&e, "vic", "--groups viewers");
	free(
	    ct_ok(&e, "rbac grant --user vic ns-view --cluster prod -n shop"));
	free(ct_ok(&e,
	    "create service web-front --cluster prod -n shop --selector "
	    "app=web --port 80"));
	err = ct_fails(&e, 1,
	    "--token %s create service api-gate --cluster prod -n shop "
	    "--selector app=api --port 80",
	    vic);
	assert_string_equal(err, "error: PERMISSION_DENIED: " DENIAL "\n");
	free(err);
	free(ct_ok(&e, "delete service web-front --cluster prod -n shop"));

	// Newest first.
	out   = ct_ok(&e, "audit");
	cells = ct_assert_table(out, AUDIT_HEADER, 6);
	assert_row(cells[0], "admin", "DeleteService", "prod/shop/web-front",
	    "OK", "<none>");
	assert_row(cells[1], "vic", "CreateService", "prod/shop/api-gate",
	    "PERMISSION_DENIED", DENIAL);
	assert_row(cells[2], "admin", "CreateService", "prod/shop/web-front",
	    "OK", "<none>");
	assert_row(cells[3], "admin", "CreateRoleBinding", "prod/shop", "OK",
	    "<none>");
	assert_row(cells[4], "admin", "CreateToken", "vic", "OK", "<none>");
	assert_row(
	    cells[5], "admin", "RegisterCluster", "prod", "OK", "<none>");
	ct_cells_free(cells);
	free(out);
	out   = ct_ok(&e, "audit -o wide --user vic");
	cells = ct_assert_table(
	    out, AUDIT_HEADER " AT GROUPS REVISION REQUEST-ID", 1);
	assert_string_equal(cells[0][7], "viewers");
	assert_string_equal(cells[0][8], "<none>");
	assert_int_equal(strlen(cells[0][9]), 32);
	ct_cells_free(cells);
	free(out);

	// The events themselves.
	out           = ct_ok(&e, "audit -o json");
	j             = ct_json(out);
	json_t *items = json_object_get(j, "items");
	assert_int_equal(json_array_size(items), 6);
	for (size_t i = 1; i < 6; i++) {
		assert_true(event_id(json_array_get(items, i - 1))
		    > event_id(json_array_get(items, i)));
	}
	json_t *d = json_array_get(items, 1);
	assert_string_equal(ct_str_at(d, "kind"), "AuditEvent");
	assert_string_equal(json_string_value(json_object_get(d, "method")),
	    "/svcfleet.v1.ServiceManager/CreateService");
	assert_string_equal(ct_str_at(d, "verb"), "CreateService");
	assert_string_equal(ct_str_at(d, "user.username"), "vic");
	assert_int_equal(
	    json_integer_value(ct_at(d, "responseStatus.code")), 7);
	assert_string_equal(
	    ct_str_at(d, "responseStatus.status"), "PERMISSION_DENIED");
	assert_string_equal(ct_str_at(d, "responseStatus.message"), DENIAL);
	assert_string_equal(ct_str_at(d, "objectRef.cluster"), "prod");
	assert_string_equal(ct_str_at(d, "objectRef.namespace"), "shop");
	assert_string_equal(ct_str_at(d, "objectRef.name"), "api-gate");
	assert_true(json_is_string(ct_at(d, "metadata.creationTimestamp")));
	assert_null(json_object_get(d, "revision"));
	json_t *w = json_array_get(items, 0);
	assert_int_equal(
	    json_integer_value(ct_at(w, "responseStatus.code")), 0);
	assert_true(strtoull(ct_str_at(w, "revision"), NULL, 10) > 0);
	json_decref(j);
	free(out);
	out = ct_ok(&e, "audit --limit 2 -o yaml");
	assert_string_equal(ct_line(out, 0), "apiVersion: v1");
	assert_non_null(strstr(out, "\n    status: PERMISSION_DENIED\n"));
	free(out);

	// Filters.
	out   = ct_ok(&e, "audit --user vic");
	cells = ct_assert_table(out, AUDIT_HEADER, 1);
	assert_string_equal(cells[0][4], "PERMISSION_DENIED");
	ct_cells_free(cells);
	free(out);
	out   = ct_ok(&e, "audit --name web-front");
	cells = ct_assert_table(out, AUDIT_HEADER, 2);
	assert_string_equal(cells[0][2], "DeleteService");
	assert_string_equal(cells[1][2], "CreateService");
	ct_cells_free(cells);
	free(out);
	out = ct_ok(&e, "audit --cluster prod -n shop");
	ct_cells_free(ct_assert_table(out, AUDIT_HEADER, 4));
	free(out);
	out = ct_ok(&e, "audit --since 1h --limit 3");
	ct_cells_free(ct_assert_table(out, AUDIT_HEADER, 3));
	free(out);
	assert_int_equal(
	    ct_cli(&e, NULL, &out, &err, "audit --since 2999-01-01T00:00:00Z"),
	    0);
	assert_string_equal(out, "");
	assert_string_equal(err, "No events found\n");
	free(out);
	free(err);
	err = ct_fails(&e, 2, "audit --since yesterday");
	assert_non_null(
	    strstr(err, "invalid value \"yesterday\" for --since"));
	free(err);
	err = ct_fails(&e, 2, "audit --limit 0");
	assert_non_null(strstr(err, "invalid value \"0\" for --limit"));
	free(err);

	// A viewer sees the events of its namespace only.
	out   = ct_ok(&e, "--token %s audit", vic);
	cells = ct_assert_table(out, AUDIT_HEADER, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_true(strncmp(cells[i][3], "prod/shop", 9) == 0);
	}
	ct_cells_free(cells);
	free(out);

	free(vic);
	ct_stop(&e);
}

// Dry-run creates through the library: audited, and fast.
static void
dry_run_creates(ct_env *e, int n)
{
	svcfleet_client *c;
	svcfleet_status  st;
	svcfleet_options o = {.url = e->ce_srv.ts_url,
	    .token                 = e->ce_srv.ts_token,
	    .connect_now           = true};

	svcfleet_status_init(&st);
	assert_int_equal(svcfleet_open(&c, &o, &st), 0);
	for (int i = 0; i < n; i++) {
		Svcfleet__V1__Service    svc = SVCFLEET__V1__SERVICE__INIT;
		Svcfleet__V1__ObjectMeta meta
		    = SVCFLEET__V1__OBJECT_META__INIT;
		Svcfleet__V1__ServiceSpec spec
		    = SVCFLEET__V1__SERVICE_SPEC__INIT;
		Svcfleet__V1__KeyValue    sel = SVCFLEET__V1__KEY_VALUE__INIT;
		Svcfleet__V1__ServicePort port
		    = SVCFLEET__V1__SERVICE_PORT__INIT;
		Svcfleet__V1__KeyValue            *selp[]  = {&sel};
		Svcfleet__V1__ServicePort         *portp[] = {&port};
		Svcfleet__V1__CreateServiceRequest req
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;
		char                   name[32];

		snprintf(name, sizeof(name), "dry-%d", i);
		meta.cluster    = "prod";
		meta.namespace_ = "shop";
		meta.name       = name;
		sel.key         = "app";
		sel.value       = "web";
		spec.selector   = selp;
		spec.n_selector = 1;
		port.port       = 80;
		spec.ports      = portp;
		spec.n_ports    = 1;
		svc.metadata    = &meta;
		svc.spec        = &spec;
		req.service     = &svc;
		req.dry_run     = true;
		if (svcfleet_create_service(c, &req, &out, &st) != 0) {
			fail_msg("dry run %d: %s: %s", i,
			    svcfleet_code_name(st.code), st.message);
		}
		svcfleet_free(out);
	}
	svcfleet_close(c);
	svcfleet_status_fini(&st);
}

// The ids of a JSON event list, checked to run down by one (no event
// lost or repeated at a page boundary). Returns how many.
static size_t
assert_contiguous(const char *text, json_int_t *first)
{
	json_t *j     = ct_json(text);
	json_t *items = json_object_get(j, "items");
	size_t  n     = json_array_size(items);
	assert_true(n > 0);
	*first = event_id(json_array_get(items, 0));
	for (size_t i = 0; i < n; i++) {
		json_int_t id = event_id(json_array_get(items, i));
		assert_int_equal(id, *first - (json_int_t) i);
	}
	json_decref(j);
	return (n);
}

static void
test_audit_paging(void **state)
{
	ct_env     e;
	char      *out;
	json_int_t first;
	size_t     calls;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	dry_run_creates(&e, 230);
	// 232 events: RegisterCluster, 230 dry runs, the grant below.
	free(ct_ok(&e, "rbac grant --user u ns-view --cluster prod -n shop"));

	// The default: the newest 50, in one call.
	calls = list_calls(&e);
	out   = ct_ok(&e, "audit -o json");
	assert_int_equal(assert_contiguous(out, &first), 50);
	assert_int_equal(list_calls(&e), calls + 1);
	free(out);

	// 150: a page of 100, then one of the 50 still wanted.
	calls = list_calls(&e);
	out   = ct_ok(&e, "audit --limit 150 -o json");
	assert_int_equal(assert_contiguous(out, &first), 150);
	assert_int_equal(list_calls(&e), calls + 2);
	free(out);
	out = ct_ok(&e, "audit --limit 150");
	ct_cells_free(ct_assert_table(out, AUDIT_HEADER, 150));
	assert_non_null(strstr(ct_line(out, 1), "CreateRoleBinding"));
	assert_non_null(strstr(ct_line(out, 2), "CreateService"));
	free(out);

	// More than there is: every event, the pages followed to the end.
	calls = list_calls(&e);
	out   = ct_ok(&e, "audit --limit 100000 -o json");
	assert_int_equal(assert_contiguous(out, &first), 232);
	assert_int_equal(first, 232);
	assert_int_equal(list_calls(&e), calls + 3);
	free(out);
	out = ct_ok(&e, "audit --limit 100000 --user admin --name dry-7");
	ct_cells_free(ct_assert_table(out, AUDIT_HEADER, 1));
	free(out);

	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_audit_shows_writes_and_denials, ct_cleanup),
	    cmocka_unit_test_teardown(test_audit_paging, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
