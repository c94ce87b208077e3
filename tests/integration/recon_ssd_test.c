// recon_ssd_test.c: `svcfleet diff --server-side` (issue 19) with kubefake
// clusters. svcfleetd asks each target cluster's API server for a dry run
// (dryRun=All) of the apply the reconciler would send, and the CLI diffs
// the cluster's object against the answer:
//   * an unchanged manifest: no difference, exit 0;
//   * type ClusterIP -> NodePort: the diff shows the node port the API
//     server allocated (a field it defaults), exit 1, and the cluster is
//     not changed;
//   * a FleetService: each placed cluster's own dry run;
//   * a cluster that does not answer: its section says so, exit 2, the
//     others still diffed;
//   * a caller who may only read: PERMISSION_DENIED, no cluster asked.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "recon_util.h"

#define SYNCED SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED

static char *
write_file(rt_env *e, const char *name, const char *text)
{
	static char path[600];
	snprintf(path, sizeof(path), "%s/%s", e->re_srv.ts_dir, name);
	assert_int_equal(th_write_file(path, text), 0);
	return (path);
}

// Runs the CLI with token tok (NULL: admin's); returns its exit code.
static int cli(rt_env *e, const char *tok, char **out, char **err,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
cli(rt_env *e, const char *tok, char **out, char **err, const char *fmt, ...)
{
	char    args[1500], cmd[2200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s --server '%s' --token %s %s",
	    th_bin("client/cli/svcfleet"), e->re_srv.ts_url,
	    tok != NULL ? tok : e->re_srv.ts_token, args);
	return (th_run(cmd, NULL, out, err));
}

static void
expect_in(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL) {
		fail_msg("\"%s\" not in:\n%s", needle, hay);
	}
}

#define WEB(cluster, type)                                    \
	"apiVersion: v1\n"                                    \
	"kind: Service\n"                                     \
	"metadata:\n"                                         \
	"  name: webapp\n"                                    \
	"  namespace: default\n"                              \
	"  annotations: {svcfleet.io/cluster: " cluster "}\n" \
	"spec:\n"                                             \
	"  type: " type "\n"                                  \
	"  selector: {app: web}\n"                            \
	"  ports: [{name: http, port: 80, targetPort: 8080}]\n"

static void
test_server_side_diff(void **state)
{
	rt_env e;
	char  *out, *err, *same, *changed, *both;
	int    rc;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "east", NULL);
	rt_cluster(&e, 1, "west", NULL);
	same = strdup(write_file(&e, "same.yaml", WEB("east", "ClusterIP")));
	free(rt_cli(&e, NULL, "apply -f %s", same));
	free(rt_cli(&e, NULL, "apply -f %s",
	    write_file(&e, "w.yaml", WEB("west", "ClusterIP"))));
	svcfleet_free(rt_wait(&e, "east", "default", "webapp", SYNCED, 15000));
	svcfleet_free(rt_wait(&e, "west", "default", "webapp", SYNCED, 15000));

	// The same manifest: the cluster's dry run changes nothing.
	rc = cli(&e, NULL, &out, &err, "diff -f %s --server-side", same);
	if (rc != 0) {
		fail_msg("exit %d\n%s%s", rc, out, err);
	}
	assert_string_equal(out, "");
	free(out);
	free(err);

	// NodePort: the API server allocates the node port, which only its
	// dry run can show (svcfleetd's own dry run leaves it empty).
	changed
	    = strdup(write_file(&e, "changed.yaml", WEB("east", "NodePort")));
	rc = cli(&e, NULL, &out, &err, "diff -f %s --server-side", changed);
	if (rc != 1) {
		fail_msg("exit %d\n%s%s", rc, out, err);
	}
	expect_in(out, "LIVE-");
	expect_in(out, "/v1.Service.east.default.webapp");
	expect_in(out, "-  type: ClusterIP\n");
	expect_in(out, "+  type: NodePort\n");
	expect_in(out, "+    nodePort: 3");
	assert_null(strstr(out, "managedFields"));
	free(out);
	free(err);
	rc = cli(&e, NULL, &out, &err, "diff -f %s", changed);
	assert_int_equal(rc, 1);
	assert_null(strstr(out, "nodePort"));
	free(out);
	free(err);
	// A dry run: the cluster still holds a ClusterIP Service.
	out = rt_kubectl(
	    &e, 0, NULL, "get svc webapp -n default -o jsonpath={.spec.type}");
	assert_string_equal(out, "ClusterIP");
	free(out);

	// A FleetService placed on both: each cluster's own dry run.
	free(rt_kubectl(&e, 0, NULL, "create namespace dev"));
	free(rt_kubectl(&e, 1, NULL, "create namespace dev"));
	const char *fleet = "apiVersion: svcfleet.io/v1\n"
	                    "kind: FleetService\n"
	                    "metadata: {name: fleetweb, namespace: dev}\n"
	                    "spec:\n"
	                    "  placement: {clusters: [east, west]}\n"
	                    "  template:\n"
	                    "    spec:\n"
	                    "      type: NodePort\n"
	                    "      selector: {app: web}\n"
	                    "      ports: [{name: http, port: 80}]\n";
	rc = cli(&e, NULL, &out, &err, "diff -f %s --server-side",
	    write_file(&e, "fleet.yaml", fleet));
	if (rc != 1) {
		fail_msg("exit %d\n%s%s", rc, out, err);
	}
	expect_in(out, "/v1.Service.east.dev.fleetweb");
	expect_in(out, "/v1.Service.west.dev.fleetweb");
	expect_in(out, "+    nodePort: 3");
	expect_in(out, "+  uid: "); // the cluster made it (dry): new object
	free(out);
	free(err);
	// fleetservice preview --server-side: each copy's API server answer.
	rc = cli(&e, NULL, &out, &err,
	    "fleetservice preview -f %s --server-side",
	    write_file(&e, "fleet.yaml", fleet));
	if (rc != 0) {
		fail_msg("exit %d\n%s%s", rc, out, err);
	}
	expect_in(
	    out, "# cluster east: create\n# server-side dry run: 201 ok\n");
	expect_in(
	    out, "# cluster west: create\n# server-side dry run: 201 ok\n");
	free(out);
	free(err);
	// Nothing was made in the clusters.
	assert_null(rt_kget(&e, 0, "dev", "fleetweb"));
	// Applied and synced: the clusters' dry runs of the same file change
	// nothing (the body is the reconciler's, to the byte that counts).
	free(rt_cli(
	    &e, NULL, "apply -f %s", write_file(&e, "fleet.yaml", fleet)));
	svcfleet_free(rt_wait(&e, "east", "dev", "fleetweb", SYNCED, 15000));
	svcfleet_free(rt_wait(&e, "west", "dev", "fleetweb", SYNCED, 15000));
	rc = cli(&e, NULL, &out, &err, "diff -f %s --server-side",
	    write_file(&e, "fleet.yaml", fleet));
	if (rc != 0) {
		fail_msg("exit %d\n%s%s", rc, out, err);
	}
	free(out);
	free(err);

	// A caller who may read but not write: refused before any cluster is
	// asked; one who may write but the dry run needs reading too.
	char *tok               = rt_cli(&e, NULL, "token create viewer");
	tok[strcspn(tok, "\n")] = '\0';
	free(rt_cli(&e, NULL,
	    "rbac grant ns-view --user viewer --cluster east -n default"));
	rc = cli(&e, tok, &out, &err, "diff -f %s --server-side", changed);
	assert_int_equal(rc, 2);
	expect_in(err, "error: PERMISSION_DENIED: ");
	expect_in(err, "viewer");
	assert_string_equal(out, "");
	free(out);
	free(err);
	free(tok);

	// west stops answering: its section says so, east is still diffed,
	// exit 2.
	kft_kill(&e.re_kf[1]);
	both = strdup(write_file(&e, "both.yaml",
	    WEB("east", "NodePort") "---\n" WEB("west", "ClusterIP")));
	rc   = cli(&e, NULL, &out, &err, "diff -f %s --server-side", both);
	if (rc != 2) {
		fail_msg("exit %d\n%s%s", rc, out, err);
	}
	expect_in(out,
	    "# cluster west: v1.Service default/webapp: no "
	    "server-side dry run: cluster \"west\" is "
	    "unreachable: ");
	expect_in(out, "+  type: NodePort\n"); // east's
	expect_in(err, "error: UNAVAILABLE: ");
	free(out);
	free(err);

	free(same);
	free(changed);
	free(both);
	rt_stop(&e);
}

// Bad requests: server_side without dry_run names the field; a
// FleetService that would ask more than 64 clusters is refused before
// any is asked. Neither writes anything.
static void
test_server_side_bounds(void **state)
{
	rt_env                            e;
	Svcfleet__V1__ApplyServiceRequest req
	    = SVCFLEET__V1__APPLY_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyServiceReply *rep = NULL;
	Svcfleet__V1__Service            svc = SVCFLEET__V1__SERVICE__INIT;
	Svcfleet__V1__ObjectMeta         md  = SVCFLEET__V1__OBJECT_META__INIT;
	Svcfleet__V1__ServiceSpec        sp = SVCFLEET__V1__SERVICE_SPEC__INIT;
	char                            *out, *err;
	size_t                           calen;
	int                              rc;
	(void) state;

	rt_start(&e, false);
	rt_cluster(&e, 0, "east", NULL);
	md.cluster      = "east";
	md.namespace_   = "default";
	md.name         = "webapp";
	svc.metadata    = &md;
	svc.spec        = &sp;
	req.service     = &svc;
	req.server_side = true;
	assert_int_not_equal(
	    svcfleet_apply_service(e.re_cli, &req, &rep, &e.re_st), 0);
	assert_int_equal(e.re_st.code, SVCFLEET_INVALID_ARGUMENT);
	assert_non_null(strstr(e.re_st.message, "server_side"));
	assert_null(rt_get(&e, "east", "default", "webapp"));

	// 65 cluster records (nothing listens at their address).
	char *ca = th_read_file(e.re_kf[0].k_ca, &calen);
	assert_non_null(ca);
	for (int i = 0; i < 65; i++) {
		Svcfleet__V1__RegisterClusterRequest rreq
		    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
		Svcfleet__V1__Cluster   cl   = SVCFLEET__V1__CLUSTER__INIT;
		Svcfleet__V1__KeyValue  kv   = SVCFLEET__V1__KEY_VALUE__INIT;
		Svcfleet__V1__KeyValue *kvp  = &kv;
		Svcfleet__V1__Cluster  *crep = NULL;
		char                    name[32];
		snprintf(name, sizeof(name), "many%02d", i);
		cl.name         = name;
		cl.api_server   = "https://127.0.0.1:1";
		cl.ca_data.data = (uint8_t *) ca;
		cl.ca_data.len  = calen;
		cl.token        = "t";
		kv.key          = "many";
		kv.value        = "yes";
		cl.labels       = &kvp;
		cl.n_labels     = 1;
		rreq.cluster    = &cl;
		if (svcfleet_register_cluster(e.re_cli, &rreq, &crep, &e.re_st)
		    != 0) {
			fail_msg("register %s: %s", name, e.re_st.message);
		}
		svcfleet_free(crep);
	}
	free(ca);
	rc = cli(&e, NULL, &out, &err, "diff -f %s --server-side",
	    write_file(&e, "many.yaml",
	        "apiVersion: svcfleet.io/v1\n"
	        "kind: FleetService\n"
	        "metadata: {name: manyweb, namespace: default}\n"
	        "spec:\n"
	        "  placement: {clusterSelector: {matchLabels: {many: "
	        "\"yes\"}}}\n"
	        "  template:\n"
	        "    spec:\n"
	        "      selector: {app: web}\n"
	        "      ports: [{name: http, port: 80}]\n"));
	assert_int_equal(rc, 2);
	expect_in(err, "error: RESOURCE_EXHAUSTED: ");
	expect_in(err, "at most 64 clusters; this one would ask 65");
	free(out);
	free(err);
	rt_stop(&e);
}

// i19-diff: a cluster whose admission webhook refuses the apply. Its
// answer is shown for that cluster (the webhook's own words, HTTP code),
// the other cluster is still diffed, the exit code is 2 (an error, as
// kubectl diff's >1), and nothing is written to any cluster or to the
// store — for Services and for a FleetService's copies.
static void
test_server_side_admission(void **state)
{
	rt_env                 e;
	char                  *out, *err, *both, *fleet;
	uint64_t               rv_east, rv_west;
	long long              krv[2];
	Svcfleet__V1__Service *s;
	int                    rc;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "east", NULL);
	rt_cluster(&e, 1, "west", NULL);
	free(rt_cli(&e, NULL, "apply -f %s",
	    write_file(&e, "e.yaml", WEB("east", "ClusterIP"))));
	free(rt_cli(&e, NULL, "apply -f %s",
	    write_file(&e, "w.yaml", WEB("west", "ClusterIP"))));
	s       = rt_wait(&e, "east", "default", "webapp", SYNCED, 15000);
	rv_east = s->metadata->resource_version;
	svcfleet_free(s);
	s       = rt_wait(&e, "west", "default", "webapp", SYNCED, 15000);
	rv_west = s->metadata->resource_version;
	svcfleet_free(s);
	free(rt_kubectl(&e, 0, NULL, "create namespace dev"));
	free(rt_kubectl(&e, 1, NULL, "create namespace dev"));
	// east's policy refuses NodePort Services; it looks at dry runs
	// only, so that a real write would get through and show here.
	assert_int_equal(kft_faults(&e.re_kf[0],
	                     "{\"admission_deny\":\"NodePort Services are "
	                     "not allowed\",\"admission_status\":403,"
	                     "\"admission_webhook\":\"policy.example.com\","
	                     "\"admission_dry_run_only\":true}"),
	    0);
	for (int i = 0; i < 2; i++) {
		krv[i] = kft_stat(&e.re_kf[i], "resourceVersion");
	}

	both = strdup(write_file(&e, "both.yaml",
	    WEB("east", "NodePort") "---\n" WEB("west", "NodePort")));
	rc   = cli(&e, NULL, &out, &err, "diff -f %s --server-side", both);
	if (rc != 2) {
		fail_msg("exit %d\n%s%s", rc, out, err);
	}
	expect_in(out,
	    "# cluster east: v1.Service default/webapp: the API server "
	    "refused the dry run (HTTP 403): admission webhook "
	    "\"policy.example.com\" denied the request: NodePort Services "
	    "are not allowed\n");
	assert_null(strstr(out, "/v1.Service.east.default.webapp"));
	expect_in(out, "/v1.Service.west.default.webapp");
	expect_in(out, "+  type: NodePort\n"); // west's
	expect_in(out, "+    nodePort: 3");
	expect_in(
	    err, "error: FAILED_PRECONDITION: " /* the file and document */);
	expect_in(err,
	    "cluster \"east\": admission webhook "
	    "\"policy.example.com\" denied the request");
	free(out);
	free(err);
	assert_int_equal(kft_stat(&e.re_kf[0], "faults.admission"), 1);

	// A FleetService on both: east's copy refused, west's diffed.
	fleet = strdup(write_file(&e, "fleet.yaml",
	    "apiVersion: svcfleet.io/v1\n"
	    "kind: FleetService\n"
	    "metadata: {name: fleetweb, namespace: dev}\n"
	    "spec:\n"
	    "  placement: {clusters: [east, west]}\n"
	    "  template:\n"
	    "    spec:\n"
	    "      type: NodePort\n"
	    "      selector: {app: web}\n"
	    "      ports: [{name: http, port: 80}]\n"));
	rc    = cli(&e, NULL, &out, &err, "diff -f %s --server-side", fleet);
	if (rc != 2) {
		fail_msg("exit %d\n%s%s", rc, out, err);
	}
	expect_in(out,
	    "# cluster east: v1.Service dev/fleetweb: the API server "
	    "refused the dry run (HTTP 403): admission webhook "
	    "\"policy.example.com\" denied the request");
	assert_null(strstr(out, "/v1.Service.east.dev.fleetweb"));
	expect_in(out, "/v1.Service.west.dev.fleetweb");
	expect_in(out, "+  uid: "); // west made it (dry)
	free(out);
	free(err);
	rc = cli(&e, NULL, &out, &err,
	    "fleetservice preview -f %s --server-side", fleet);
	if (rc != 0) {
		fail_msg("exit %d\n%s%s", rc, out, err);
	}
	expect_in(out,
	    "# cluster east: create\n# server-side dry run: 403 admission "
	    "webhook \"policy.example.com\" denied the request");
	expect_in(
	    out, "# cluster west: create\n# server-side dry run: 201 ok\n");
	free(out);
	free(err);
	assert_int_equal(kft_stat(&e.re_kf[0], "faults.admission"), 3);

	// Nothing was written: not to the clusters (their resourceVersion
	// has not moved), not to the store.
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
		    kft_stat(&e.re_kf[i], "resourceVersion"), krv[i]);
		assert_null(rt_kget(&e, i, "dev", "fleetweb"));
		out = rt_kubectl(&e, i, NULL,
		    "get svc webapp -n default -o jsonpath={.spec.type}");
		assert_string_equal(out, "ClusterIP");
		free(out);
	}
	s = rt_get(&e, "east", "default", "webapp");
	assert_int_equal(s->metadata->resource_version, rv_east);
	svcfleet_free(s);
	s = rt_get(&e, "west", "default", "webapp");
	assert_int_equal(s->metadata->resource_version, rv_west);
	svcfleet_free(s);
	assert_null(rt_get(&e, "east", "dev", "fleetweb"));
	rc = cli(&e, NULL, &out, &err, "get fleetservice fleetweb -n dev");
	assert_int_not_equal(rc, 0);
	expect_in(err, "NOT_FOUND");
	free(out);
	free(err);

	// Only the refusing cluster: its line and exit 2, no diff at all.
	rc = cli(&e, NULL, &out, &err, "diff -f %s --server-side",
	    write_file(&e, "east.yaml", WEB("east", "NodePort")));
	if (rc != 2) {
		fail_msg("exit %d\n%s%s", rc, out, err);
	}
	expect_in(out, "# cluster east: ");
	assert_null(strstr(out, "@@"));
	free(out);
	free(err);
	free(both);
	free(fleet);
	rt_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_server_side_diff, rt_teardown),
	    cmocka_unit_test_teardown(test_server_side_bounds, rt_teardown),
	    cmocka_unit_test_teardown(test_server_side_admission, rt_teardown),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
