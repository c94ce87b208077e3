// cli_history_test: issue 19 end to end — honest versions (a status
// report never makes a person's edit fail; a later change of desired state
// does, naming who made it), through RPC, the CLI and the gateway; and the
// audit log that reads (status reports left out unless asked for).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_util.h"
#include "svcfleet/svcfleet.h"

#define SVC_PATH GW_API "/clusters/prod/namespaces/shop/services/webapp"

// A status report as the reconciler makes it: the LoadBalancer got its
// address (the race of issue 19).
static void
report_address(ct_env *e, const char *ip)
{
	svcfleet_options            o   = {.url = e->ce_srv.ts_url,
	                 .token                 = e->ce_srv.ts_token,
	                 .connect_now           = true};
	svcfleet_client            *c   = NULL;
	svcfleet_status             st  = {0};
	char                       *ing = (char *) ip;
	Svcfleet__V1__ServiceKey    key = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__ClusterStatus cs  = SVCFLEET__V1__CLUSTER_STATUS__INIT;
	Svcfleet__V1__ReportStatusRequest req
	    = SVCFLEET__V1__REPORT_STATUS_REQUEST__INIT;
	Svcfleet__V1__ReportStatusReply *rep = NULL;

	svcfleet_status_init(&st);
	assert_int_equal(svcfleet_open(&c, &o, &st), 0);
	key.cluster            = "prod";
	key.namespace_         = "shop";
	key.name               = "webapp";
	cs.cluster             = "prod";
	cs.state               = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED;
	cs.observed_generation = 1;
	cs.last_sync_time_ms   = 1;
	cs.ingress             = &ing;
	cs.n_ingress           = 1;
	req.key                = &key;
	req.status             = &cs;
	req.add_finalizer      = true;
	if (svcfleet_report_status(c, &req, &rep, &st) != 0) {
		fail_msg("report: %s", st.message);
	}
	svcfleet_free(rep);
	svcfleet_close(c);
	svcfleet_status_fini(&st);
}

// ct_cli that must exit with code, printing its stderr otherwise.
static void
cli_expect(ct_env *e, int code, const char *in, char **out, char **err,
    const char *args)
{
	int rv = ct_cli(e, in, out, err, "%s", args);
	if (rv != code) {
		fail_msg("svcfleet %s: exit %d, want %d\n%s%s", args, rv, code,
		    *out, *err);
	}
}

// The Service's manifest as `get -o yaml` prints it, with
// metadata.resourceVersion set to the stored version and one label
// changed: what an editor saves.
static char *
edited(ct_env *e, const char *rv, const char *tier)
{
	char *yaml = ct_ok(e, "get svc webapp --cluster prod -n shop -o yaml");
	char *out  = malloc(strlen(yaml) + 256);
	char *md   = strstr(yaml, "metadata:\n");
	char *tl   = strstr(yaml, "\n    tier: ");
	assert_non_null(md);
	md += strlen("metadata:\n");
	if (tl != NULL) {
		// Labels exist: drop the old tier line, add the new one below.
		char *eol = strchr(tl + 1, '\n');
		memmove(tl, eol, strlen(eol) + 1);
	}
	// yaml = head (through "metadata:\n") + mid (through "  labels:\n",
	// empty when there are none) + rest.
	char *lab  = strstr(md, "  labels:\n");
	char *rest = lab != NULL ? lab + strlen("  labels:\n") : md;
	sprintf(out, "%.*s%s%s%s%.*s%s    tier: %s\n%s", (int) (md - yaml),
	    yaml, rv ? "  resourceVersion: \"" : "", rv ? rv : "",
	    rv ? "\"\n" : "", (int) (rest - md), md,
	    lab != NULL ? "" : "  labels:\n", tier, rest);
	free(yaml);
	return (out);
}

static char *
stored_rv(ct_env *e)
{
	char *out = ct_ok(e, "get svc webapp --cluster prod -n shop -o json");
	json_t     *j   = ct_json(out);
	json_t     *ann = ct_at(j, "metadata.annotations");
	const char *v   = json_string_value(
	      json_object_get(ann, "svcfleet.io/resource-version"));
	char *rv;
	assert_non_null(v);
	rv = strdup(v);
	json_decref(j);
	free(out);
	return (rv);
}

static void
test_status_report_is_no_conflict(void **state)
{
	ct_env e;
	char  *out, *err, *rv, *doc, *bob;
	char   args[256];
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	free(ct_ok(&e,
	    "create service webapp --cluster prod -n shop --type loadbalancer "
	    "--lb-pool default --selector app=web --port 80"));
	rv = stored_rv(&e);

	// The reconciler reports the address: the edit opened before it
	// still saves.
	report_address(&e, "192.0.2.10");
	doc = edited(&e, rv, "edge");
	assert_int_equal(ct_cli(&e, doc, &out, &err, "apply -f -"), 0);
	assert_string_equal(out, "service/webapp configured\n");
	free(out);
	free(err);
	free(doc);
	free(rv);

	// describe names the person, not whoever reported status.
	out = ct_ok(&e, "describe service webapp --cluster prod -n shop");
	assert_non_null(strstr(out, "by admin"));
	free(out);

	// Another user changes the spec: an edit based on the version
	// before it fails, naming that user.
	rv  = stored_rv(&e);
	bob = ct_token(&e, "bob", NULL);
	free(
	    ct_ok(&e, "rbac grant --user bob ns-edit --cluster prod -n shop"));
	doc = edited(&e, rv, "bobs");
	snprintf(args, sizeof(args), "--token %s apply -f -", bob);
	cli_expect(&e, 0, doc, &out, &err, args);
	free(out);
	free(err);
	free(doc);
	report_address(&e, "192.0.2.11");
	doc = edited(&e, rv, "mine");
	assert_int_equal(ct_cli(&e, doc, &out, &err, "apply -f -"), 1);
	assert_non_null(strstr(err, "error: ABORTED:"));
	assert_non_null(strstr(err, "changed by bob"));
	assert_null(strstr(err, "changed by admin"));
	free(out);
	free(err);
	free(doc);

	// The gateway: PUT with the version before the status report is
	// 200; with the version before bob's change, 409 naming bob.
	char    body[512];
	gw_resp r;
	free(rv);
	rv = stored_rv(&e);
	report_address(&e, "192.0.2.12");
	snprintf(body, sizeof(body),
	    "{\"metadata\":{\"name\":\"webapp\",\"resourceVersion\":\"%s\","
	    "\"labels\":{\"tier\":\"gw\"},\"annotations\":{"
	    "\"metallb.io/address-pool\":\"default\"}},\"spec\":{\"type\":"
	    "\"LoadBalancer\",\"selector\":{\"app\":\"web\"},\"ports\":[{"
	    "\"port\":80}]}}",
	    rv);
	gw_req(&r, &e, "PUT", SVC_PATH, e.ce_srv.ts_token, "application/json",
	    body, NULL);
	if (r.gr_code != 200) {
		fail_msg(
		    "PUT after a status report: %d %s", r.gr_code, r.gr_body);
	}
	gw_resp_fini(&r);
	doc = edited(&e, NULL, "bobs2");
	snprintf(args, sizeof(args), "--token %s apply -f -", bob);
	cli_expect(&e, 0, doc, &out, &err, args);
	free(out);
	free(err);
	free(doc);
	gw_req(&r, &e, "PUT", SVC_PATH, e.ce_srv.ts_token, "application/json",
	    body, NULL);
	gw_status_ok(&r, 409, "Conflict");
	assert_non_null(strstr(r.gr_body, "changed by bob"));
	gw_resp_fini(&r);
	gw_req(&r, &e, "GET", SVC_PATH, e.ce_srv.ts_token, NULL, NULL, NULL);
	assert_int_equal(r.gr_code, 200);
	json_t *sst = json_object_get(r.gr_json, "status");
	assert_string_equal(
	    json_string_value(json_object_get(sst, "specUpdatedBy")), "bob");
	gw_resp_fini(&r);
	free(rv);
	free(bob);

	// Audit that reads: the people's writes are there, the status
	// reports are not (not kept by default, only counted).
	out = ct_ok(&e, "audit --name webapp --include-system");
	assert_non_null(strstr(out, "bob"));
	assert_null(strstr(out, "ReportStatus"));
	free(out);
	ct_stop(&e);
}

// Kept on request (--audit-status-reports), the reports show only with
// --include-system.
static void
test_audit_system_reports(void **state)
{
	static const char *const keep[] = {"--audit-status-reports", NULL};
	ct_env                   e;
	char                    *out;
	(void) state;

	ct_start(&e, keep);
	ct_add_cluster(&e, "prod");
	free(ct_ok(&e,
	    "create service webapp --cluster prod -n shop --type loadbalancer "
	    "--lb-pool default --selector app=web --port 80"));
	report_address(&e, "192.0.2.10");
	out = ct_ok(&e, "audit --name webapp");
	assert_non_null(strstr(out, "CreateService"));
	assert_null(strstr(out, "ReportStatus"));
	free(out);
	out = ct_ok(&e, "audit --name webapp --include-system");
	assert_non_null(strstr(out, "CreateService"));
	assert_non_null(strstr(out, "ReportStatus"));
	free(out);
	ct_stop(&e);
}

// History keeps the last 20 of 25 generations with who made each; one
// generation prints as a manifest; rollback to 3 generations ago writes a
// new generation with that spec, audited as a rollback.
static void
test_history_and_rollback(void **state)
{
	static const char *const fast[] = {"--unsafe-no-fsync", NULL};
	ct_env                   e;
	char                     doc[512], *out, *err;
	(void) state;

	ct_start(&e, fast);
	ct_add_cluster(&e, "prod");
	for (int i = 1; i <= 25; i++) {
		snprintf(doc, sizeof(doc),
		    "apiVersion: v1\nkind: Service\nmetadata:\n  name: "
		    "hist\n  namespace: shop\nspec:\n  selector:\n    app: "
		    "web\n  ports:\n  - port: %d\n",
		    1000 + i);
		assert_int_equal(
		    ct_cli(&e, doc, &out, &err, "apply --cluster prod -f -"),
		    0);
		free(out);
		free(err);
	}
	out = ct_ok(&e, "history service hist --cluster prod -n shop");
	char ***cells = ct_assert_table(
	    out, "GENERATION AGE USER ACTION REQUEST-ID SPEC", 20);
	assert_string_equal(cells[0][0], "6");
	assert_string_equal(cells[19][0], "25");
	assert_string_equal(cells[19][2], "admin");
	assert_string_equal(cells[19][3], "update");
	assert_true(cells[19][4][0] != '\0');
	assert_non_null(strstr(cells[19][5], "1025/TCP"));
	ct_cells_free(cells);
	free(out);
	out = ct_ok(&e,
	    "history service hist --cluster prod -n shop --generation 22 -o "
	    "yaml");
	assert_non_null(strstr(out, "port: 1022\n"));
	assert_null(strstr(out, "port: 1025\n"));
	free(out);
	free(ct_fails(&e, 1,
	    "history service hist --cluster prod -n shop --generation 3"));

	// Back 3 generations: generation 26 has generation 22's spec.
	out = ct_ok(&e,
	    "rollback service hist --cluster prod -n shop --to-generation 22");
	assert_string_equal(out,
	    "service/hist rolled back to generation 22 (now generation 26)\n");
	free(out);
	out = ct_ok(&e, "get svc hist --cluster prod -n shop -o yaml");
	assert_non_null(strstr(out, "port: 1022\n"));
	free(out);
	out   = ct_ok(&e, "history service hist --cluster prod -n shop");
	cells = ct_assert_table(
	    out, "GENERATION AGE USER ACTION REQUEST-ID SPEC", 20);
	assert_string_equal(cells[19][0], "26");
	assert_string_equal(cells[19][3], "rollback to 22");
	ct_cells_free(cells);
	free(out);
	out = ct_ok(&e, "audit --name hist --limit 1");
	assert_non_null(strstr(out, "RollbackService"));
	free(out);
	// The gateway: the same history, and a rollback by POST.
	gw_resp r;
	gw_req(&r, &e, "GET",
	    GW_API "/clusters/prod/namespaces/shop/services/hist/history",
	    e.ce_srv.ts_token, NULL, NULL, NULL);
	assert_int_equal(r.gr_code, 200);
	json_t *items = json_object_get(r.gr_json, "items");
	assert_int_equal(json_array_size(items), 20);
	json_t *last = json_array_get(items, 19);
	assert_int_equal(
	    json_integer_value(json_object_get(last, "generation")), 26);
	assert_int_equal(
	    json_integer_value(json_object_get(last, "rollbackOf")), 22);
	assert_string_equal(
	    json_string_value(json_object_get(last, "user")), "admin");
	gw_resp_fini(&r);
	gw_req(&r, &e, "POST",
	    GW_API "/clusters/prod/namespaces/shop/services/hist/rollback",
	    e.ce_srv.ts_token, "application/json", "{\"toGeneration\": 25}",
	    NULL);
	assert_int_equal(r.gr_code, 200);
	assert_non_null(strstr(r.gr_body, "1025"));
	gw_resp_fini(&r);
	gw_req(&r, &e, "POST",
	    GW_API "/clusters/prod/namespaces/shop/services/hist/rollback",
	    e.ce_srv.ts_token, "application/json", "{}", NULL);
	assert_int_equal(r.gr_code, 422);
	gw_resp_fini(&r);

	char *msg = ct_fails(&e, 1,
	    "rollback service hist --cluster prod -n shop --to-generation 2");
	assert_non_null(strstr(msg, "NOT_FOUND"));
	assert_non_null(strstr(msg, "kept: 8 to 27"));
	free(msg);

	// update: the fields the flags name change, the rest stays.
	out = ct_ok(&e,
	    "update service hist --cluster prod -n shop --type nodeport "
	    "--port http:8080:80");
	assert_string_equal(out, "service/hist updated\n");
	free(out);
	out = ct_ok(&e, "get svc hist --cluster prod -n shop -o yaml");
	assert_non_null(strstr(out, "type: NodePort\n"));
	assert_non_null(strstr(out, "port: 8080\n"));
	assert_non_null(strstr(out, "app: web\n"));
	free(out);
	out = ct_ok(&e,
	    "update service hist --cluster prod -n shop --type "
	    "nodeport");
	assert_string_equal(out, "service/hist unchanged\n");
	free(out);
	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_status_report_is_no_conflict, ct_cleanup),
	    cmocka_unit_test_teardown(test_audit_system_reports, ct_cleanup),
	    cmocka_unit_test_teardown(test_history_and_rollback, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
