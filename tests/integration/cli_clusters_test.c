// cli_clusters_test.c: `svcfleet cluster add|list|get|remove` against a
// real svcfleetd — the table, the object output with credentials masked,
// and the errors.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

#define CLUSTER_HEADER \
	"NAME API-SERVER HEALTH VERSION NODE-PORTS AGE OWNER LAST-SYNC"

static void
test_cluster_records(void **state)
{
	ct_env  e;
	char   *out, *err;
	char ***cells;
	json_t *j;
	(void) state;

	ct_start(&e, NULL);
	assert_int_equal(ct_cli(&e, NULL, &out, &err, "cluster list"), 0);
	assert_string_equal(out, "");
	assert_string_equal(err, "No resources found\n");
	free(out);
	free(err);

	ct_add_cluster(&e, "prod");
	out = ct_ok(&e,
	    "cluster add edge-west --api-server https://10.1.2.3:6443 "
	    "--ca-file %s --cluster-token-file %s --node-port-range "
	    "31000-31999 "
	    "--label region=west --label tier=edge",
	    e.ce_ca, e.ce_tok);
	assert_string_equal(out, "cluster/edge-west registered\n");
	free(out);

	out   = ct_ok(&e, "cluster list");
	cells = ct_assert_table(out, CLUSTER_HEADER, 2);
	assert_string_equal(cells[0][0], "edge-west");
	assert_string_equal(cells[0][1], "https://10.1.2.3:6443");
	assert_string_equal(cells[0][2], "UNKNOWN");
	assert_string_equal(cells[0][3], "<unknown>");
	assert_string_equal(cells[0][4], "31000-31999");
	assert_string_equal(cells[1][0], "prod");
	assert_string_equal(cells[1][4], "30000-32767");
	ct_cells_free(cells);
	free(out);

	out   = ct_ok(&e, "cluster list -o wide");
	cells = ct_assert_table(
	    out, CLUSTER_HEADER " LABELS LAST-CONTACT MESSAGE", 2);
	assert_string_equal(cells[0][8], "region=west,tier=edge");
	assert_string_equal(cells[0][6], "<none>"); // OWNER: no reconciler
	assert_string_equal(cells[1][8], "<none>");
	ct_cells_free(cells);
	free(out);

	out   = ct_ok(&e, "cluster get prod");
	cells = ct_assert_table(out, CLUSTER_HEADER, 1);
	assert_string_equal(cells[0][0], "prod");
	ct_cells_free(cells);
	free(out);

	// Credentials never print unless asked for.
	out = ct_ok(&e, "cluster get edge-west -o yaml");
	assert_string_equal(ct_line(out, 0), "apiVersion: svcfleet.io/v1");
	assert_string_equal(ct_line(out, 1), "kind: Cluster");
	// (The server sends them only when asked for: issue 17.)
	assert_null(strstr(out, "\n  token:"));
	assert_non_null(strstr(out, "\n  hasCredentials: true\n"));
	assert_non_null(strstr(out, "\n  nodePortRange: 31000-31999\n"));
	assert_non_null(strstr(out, "\n    region: west\n"));
	assert_null(strstr(out, CT_CLUSTER_TOKEN));
	free(out);
	out = ct_ok(&e, "cluster list -o json");
	assert_null(strstr(out, CT_CLUSTER_TOKEN));
	j = ct_json(out);
	assert_string_equal(
	    json_string_value(json_object_get(j, "kind")), "List");
	assert_int_equal(json_array_size(json_object_get(j, "items")), 2);
	json_decref(j);
	free(out);
	out = ct_ok(&e, "cluster get edge-west -o json --show-credentials");
	j   = ct_json(out);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(j, "spec"), "token")),
	    CT_CLUSTER_TOKEN);
	assert_true(json_is_string(
	    json_object_get(json_object_get(j, "spec"), "caData")));
	json_decref(j);
	free(out);

	out = ct_ok(&e, "cluster list -o name");
	assert_string_equal(out, "cluster/edge-west\ncluster/prod\n");
	free(out);
	out = ct_ok(&e, "cluster rm edge-west");
	assert_string_equal(out, "cluster \"edge-west\" removed\n");
	free(out);
	out = ct_ok(&e, "cluster list -o name");
	assert_string_equal(out, "cluster/prod\n");
	free(out);
	ct_stop(&e);
}

static void
test_cluster_errors(void **state)
{
	ct_env      e;
	char       *err, want[1200];
	const char *notpem, *empty;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	err = ct_fails(&e, 1,
	    "cluster add prod --api-server https://127.0.0.1:6443 --ca-file "
	    "%s --cluster-token-file %s",
	    e.ce_ca, e.ce_tok);
	assert_string_equal(err,
	    "error: ALREADY_EXISTS: cluster \"prod\" is already registered\n");
	free(err);

	err = ct_fails(&e, 1, "cluster get nowhere");
	assert_string_equal(
	    err, "error: NOT_FOUND: cluster \"nowhere\" is not registered\n");
	free(err);
	err = ct_fails(&e, 1, "cluster remove nowhere");
	assert_string_equal(
	    err, "error: NOT_FOUND: cluster \"nowhere\" is not registered\n");
	free(err);

	notpem = ct_file(&e, "not.pem", "hello\n");
	err    = ct_fails(&e, 1,
	       "cluster add Bad_Name --api-server http://10.0.0.1 --ca-file %s "
	          "--cluster-token-file %s --node-port-range 40000-30000",
	       notpem, e.ce_tok);
	assert_non_null(strstr(ct_line(err, 0),
	    "error: INVALID_ARGUMENT: cluster \"Bad_Name\" is invalid: "));
	assert_non_null(strstr(err, "\n  name: Invalid value: \"Bad_Name\""));
	assert_non_null(strstr(err,
	    "\n  apiServer: Invalid value: \"http://10.0.0.1\": must be an "
	    "https:// URL"));
	assert_non_null(strstr(err, "\n  caData: Invalid value: 6 bytes: "));
	assert_non_null(strstr(
	    err, "\n  nodePortRange: Invalid value: \"40000-30000\": "));
	free(err);

	empty = ct_file(&e, "empty.token", "\n");
	err   = ct_fails(&e, 1,
	      "cluster add edge --api-server https://10.0.0.1 --ca-file %s "
	        "--cluster-token-file %s",
	      e.ce_ca, empty);
	snprintf(want, sizeof(want),
	    "error: INVALID_ARGUMENT: --cluster-token-file %s holds no "
	    "token\n",
	    empty);
	assert_string_equal(err, want);
	free(err);
	err = ct_fails(&e, 1,
	    "cluster add edge --api-server https://10.0.0.1 --ca-file "
	    "/nonexistent.pem --cluster-token-file %s",
	    e.ce_tok);
	assert_string_equal(err,
	    "error: INVALID_ARGUMENT: cannot read --ca-file /nonexistent.pem: "
	    "No such file or directory\n");
	free(err);
	err = ct_fails(&e, 2,
	    "cluster add edge --api-server https://10.0.0.1 --ca-file %s",
	    e.ce_ca);
	assert_string_equal(err,
	    "error: required flag --cluster-token-file is missing "
	    "(see 'svcfleet cluster add --help')\n");
	free(err);
	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_cluster_records, ct_cleanup),
	    cmocka_unit_test_teardown(test_cluster_errors, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
