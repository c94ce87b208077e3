// cli_errors_test.c: every error the svcfleet CLI exposes, through the
// binary against a real svcfleetd: the exact stderr lines DESIGN §8 fixes
// ("error: <STATUS_NAME>: <message>", then "  <field.path>: <reason>"),
// exit code 1 for errors and 2 for usage errors.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

#define CREATE  "create service "
#define IN_PROD " --cluster prod --selector app=web "

// Server-side validation: exit 1, the summary, then every violation.
static const struct {
	const char *args;
	const char *stderr_text; // exact
} invalid[] = {
    // One violation is printed once (issue 20): the summary, then the
    // violation naming the flag that set the field.
    {CREATE "web-front" IN_PROD "--port 70000:8080",
        "error: INVALID_ARGUMENT: Service \"web-front\" is invalid\n"
        "  spec.ports[0].port: Invalid value: 70000: must be between 1 and "
        "65535, inclusive (from --port 70000:8080)\n"},
    {CREATE "abc" IN_PROD "--port 80",
        "error: INVALID_ARGUMENT: Service \"abc\" is invalid\n"
        "  metadata.name: Invalid value: \"abc\": must be at least 4 "
        "characters (from the NAME argument)\n"},
    {CREATE "web-front" IN_PROD "--port 80@30080",
        "error: INVALID_ARGUMENT: Service \"web-front\" is invalid\n"
        "  spec.ports[0].nodePort: Forbidden: may not be used when `type` "
        "is 'ClusterIP' (from --port 80@30080)\n"},
    {CREATE "web-front" IN_PROD "--type nodeport --port 80@20000",
        "error: INVALID_ARGUMENT: Service \"web-front\" is invalid\n"
        "  spec.ports[0].nodePort: Invalid value: 20000: provided port is "
        "not in the valid range. The range of valid ports is "
        "30000-32767 (from --port 80@20000)\n"},
    {CREATE "web-front" IN_PROD
            "--port 80 --session-affinity --session-timeout 90000",
        NULL}, // checked by prefix below: the model words it
};

static void
test_invalid_argument(void **state)
{
	ct_env e;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		char *err = ct_fails(&e, 1, "%s", invalid[i].args);
		if (invalid[i].stderr_text == NULL) {
			assert_string_equal(ct_line(err, 0),
			    "error: INVALID_ARGUMENT: Service \"web-front\" "
			    "is invalid");
			assert_non_null(strstr(err,
			    "\n  spec.sessionAffinityConfig.clientIP."
			    "timeoutSeconds: "));
			assert_non_null(
			    strstr(err, " (from --session-timeout 90000)\n"));
			assert_int_equal(ct_nlines(err), 2);
		} else if (strcmp(err, invalid[i].stderr_text) != 0) {
			fail_msg("%s:\n%s\nwant:\n%s", invalid[i].args, err,
			    invalid[i].stderr_text);
		}
		free(err);
	}
	// Several violations: the summary line, then one line each.
	char *err = ct_fails(&e, 1,
	    CREATE "ab --cluster prod --selector app=web --port 0@30080");
	assert_string_equal(ct_line(err, 0),
	    "error: INVALID_ARGUMENT: Service \"ab\" is invalid");
	assert_string_equal(ct_line(err, 1),
	    "  metadata.name: Invalid value: \"ab\": must be at least 4 "
	    "characters (from the NAME argument)");
	assert_string_equal(ct_line(err, 2),
	    "  spec.ports[0].port: Invalid value: 0: must be between 1 and "
	    "65535, inclusive (from --port 0@30080)");
	assert_string_equal(ct_line(err, ct_nlines(err) - 1),
	    "  spec.ports[0].nodePort: Forbidden: may not be used when "
	    "`type` is 'ClusterIP' (from --port 0@30080)");
	free(err);
	// Nothing was stored.
	char *out, *stderr_text;
	assert_int_equal(
	    ct_cli(&e, NULL, &out, &stderr_text, "get svc -A"), 0);
	assert_string_equal(out, "");
	assert_string_equal(stderr_text, "No resources found\n");
	free(out);
	free(stderr_text);
	ct_stop(&e);
}

static void
test_not_found_already_exists(void **state)
{
	ct_env e;
	char  *err, *out;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	err = ct_fails(&e, 1, "get svc ghost-svc --cluster prod");
	assert_string_equal(err,
	    "error: NOT_FOUND: service \"ghost-svc\" not found in namespace "
	    "\"default\" of cluster \"prod\"\n");
	free(err);
	err = ct_fails(&e, 1, "delete svc ghost-svc --cluster prod -n dev");
	assert_string_equal(err,
	    "error: NOT_FOUND: service \"ghost-svc\" not found in namespace "
	    "\"dev\" of cluster \"prod\"\n");
	free(err);

	out = ct_ok(&e, CREATE "web-front" IN_PROD "--port 80");
	assert_string_equal(out, "service/web-front created\n");
	free(out);
	err = ct_fails(&e, 1, CREATE "web-front" IN_PROD "--port 81");
	assert_string_equal(err,
	    "error: ALREADY_EXISTS: service \"web-front\" already exists in "
	    "namespace \"default\" of cluster \"prod\"\n");
	free(err);
	ct_stop(&e);
}

static void
test_failed_precondition(void **state)
{
	ct_env e;
	char  *err, *out;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	err = ct_fails(&e, 1,
	    CREATE "web-front --cluster nowhere --selector a=b --port 80");
	assert_string_equal(err,
	    "error: FAILED_PRECONDITION: cluster \"nowhere\" is not "
	    "registered (see `svcfleet cluster list`)\n");
	free(err);

	out = ct_ok(
	    &e, CREATE "web-front" IN_PROD "--type nodeport --port 80@30080");
	free(out);
	err = ct_fails(&e, 1,
	    CREATE "web-back -n other --cluster prod --selector app=back "
	           "--type nodeport --port 8080@30080");
	assert_string_equal(err,
	    "error: FAILED_PRECONDITION: failed precondition\n"
	    "  spec.ports[0].nodePort: Invalid value: 30080: provided port is "
	    "already requested by service \"default/web-front\" in cluster "
	    "\"prod\" (from --port 8080@30080)\n");
	free(err);
	// The same nodePort on UDP is another port.
	free(ct_ok(&e,
	    CREATE "dns-front" IN_PROD "--type nodeport --port 53/UDP@30080"));

	err = ct_fails(&e, 1, "cluster remove prod");
	assert_string_equal(err,
	    "error: FAILED_PRECONDITION: cluster \"prod\" still has 2 "
	    "services; delete them first\n");
	free(err);
	free(ct_ok(&e, "delete svc web-front --cluster prod"));
	free(ct_ok(&e, "delete svc dns-front --cluster prod"));
	out = ct_ok(&e, "cluster remove prod");
	assert_string_equal(out, "cluster \"prod\" removed\n");
	free(out);
	ct_stop(&e);
}

static void
test_aborted(void **state)
{
	ct_env      e;
	char       *err, *out;
	const char *f;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	free(ct_ok(&e, CREATE "web-front" IN_PROD "--port 80"));
	free(ct_ok(&e, "create service web-other" IN_PROD "--port 81"));
	// The stored resource version, as get prints it.
	out = ct_ok(&e, "get service web-front --cluster prod -o yaml");
	const char *rvp = strstr(out, "svcfleet.io/resource-version: ");
	assert_non_null(rvp);
	rvp += strlen("svcfleet.io/resource-version: ");
	unsigned long stored = strtoul(rvp + (*rvp == '"'), NULL, 10);
	assert_true(stored > 1);
	free(out);
	f = ct_file(&e, "stale.yaml",
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata:\n"
	    "  name: web-front\n"
	    "  resourceVersion: \"1\"\n"
	    "spec:\n"
	    "  selector: {app: web}\n"
	    "  ports: [{port: 8080}]\n");
	assert_int_equal(
	    ct_cli(&e, NULL, &out, &err, "apply -f %s --cluster prod", f), 1);
	assert_string_equal(out, "");
	char want[1200];
	// Who changed it and when (issue 19), in Kubernetes' own words first
	// (how long ago depends on the machine's pace).
	snprintf(want, sizeof(want),
	    "error: ABORTED: %s: document 0 (line 5): Operation cannot be "
	    "fulfilled on services \"web-front\": the object has been "
	    "modified: changed by admin ",
	    f);
	if (strncmp(err, want, strlen(want)) != 0
	    || strstr(err, "s ago (generation 1, resource version ") == NULL
	    || strstr(err,
	           "; your change was based on 1); saving would silently "
	           "undo their change: apply your changes to the latest "
	           "version and try again\n")
	        == NULL) {
		fail_msg("stale apply: got\n%s\nwant it to start with\n%s",
		    err, want);
	}
	(void) stored;
	free(out);
	free(err);
	// The current version goes through.
	char fresh[400];
	snprintf(fresh, sizeof(fresh),
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata:\n"
	    "  name: web-front\n"
	    "  resourceVersion: \"%lu\"\n"
	    "spec:\n"
	    "  selector: {app: web}\n"
	    "  ports: [{port: 8080}]\n",
	    stored);
	f   = ct_file(&e, "fresh.yaml", fresh);
	out = ct_ok(&e, "apply -f %s --cluster prod", f);
	assert_string_equal(out, "service/web-front configured\n");
	free(out);
	ct_stop(&e);
}

// apply: a bad document is reported with its file, index and line; the
// others are applied; the exit code is 1.
static void
test_apply_bad_documents(void **state)
{
	ct_env      e;
	char       *err, *out, want[1200];
	const char *good, *bad, *broken;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	bad = ct_file(&e, "mixed.yaml",
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata: {name: first-svc}\n"
	    "spec:\n"
	    "  selector: {app: a}\n"
	    "  ports: [{port: 80}]\n"
	    "---\n"
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata: {name: second-svc}\n"
	    "spec:\n"
	    "  selector: {app: b}\n"
	    "  ports:\n"
	    "  - port: 80\n"
	    "    nodePort: 30001\n"
	    "---\n"
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata: {name: third-svc}\n"
	    "spec:\n"
	    "  selector: {app: c}\n"
	    "  ports: [{port: 80}]\n");
	assert_int_equal(
	    ct_cli(&e, NULL, &out, &err, "apply -f %s --cluster prod", bad),
	    1);
	assert_string_equal(out,
	    "service/first-svc created\n"
	    "service/third-svc created\n");
	snprintf(want, sizeof(want),
	    "error: INVALID_ARGUMENT: %s: document 1 (line 15): Service "
	    "\"second-svc\" is invalid\n"
	    "  spec.ports[0].nodePort: Forbidden: may not be used when `type` "
	    "is 'ClusterIP'\n",
	    bad);
	assert_string_equal(err, want);
	free(out);
	free(err);

	// A file that is not YAML is not applied at all; the other files
	// still are.
	good   = ct_file(&e, "good.yaml",
	      "apiVersion: v1\n"
	        "kind: Service\n"
	        "metadata: {name: fourth-svc}\n"
	        "spec:\n"
	        "  selector: {app: d}\n"
	        "  ports: [{port: 80}]\n");
	broken = ct_file(&e, "broken.yaml",
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata: {name: fifth-svc}\n"
	    "spec:\n"
	    "  selector: {app: e}\n"
	    "  ports: [{port: 80}]\n"
	    "---\n"
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata:\n"
	    "  name: [sixth-svc\n"
	    "spec: {}\n");
	assert_int_equal(ct_cli(&e, NULL, &out, &err,
	                     "apply -f %s -f %s --cluster prod", broken, good),
	    1);
	assert_string_equal(out, "service/fourth-svc created\n");
	snprintf(want, sizeof(want),
	    "error: INVALID_ARGUMENT: %s: document 1: line 12, column ",
	    broken);
	assert_int_equal(strncmp(err, want, strlen(want)), 0);
	assert_int_equal(ct_nlines(err), 1);
	free(out);
	free(err);
	free(ct_fails(&e, 1, "get svc fifth-svc --cluster prod"));

	// No cluster anywhere: named with the document.
	assert_int_equal(ct_cli(&e, NULL, &out, &err, "apply -f %s", good), 1);
	snprintf(want, sizeof(want),
	    "error: INVALID_ARGUMENT: %s: document 0 (line ", good);
	assert_int_equal(strncmp(err, want, strlen(want)), 0);
	assert_non_null(strstr(err, "\n  metadata.cluster: Required value"));
	assert_non_null(strstr(ct_line(err, 0),
	    "(give --cluster or the svcfleet.io/cluster annotation)"));
	free(out);
	free(err);

	// Not a Service; a missing file; an empty stream.
	bad = ct_file(&e, "pod.yaml",
	    "apiVersion: v1\nkind: Pod\nmetadata: {name: some-pod}\n");
	err = ct_fails(&e, 1, "apply -f %s --cluster prod", bad);
	assert_non_null(strstr(err, "error: INVALID_ARGUMENT: "));
	assert_non_null(strstr(err, "pod.yaml: document 0 (line "));
	free(err);
	err = ct_fails(&e, 1, "apply -f /nonexistent/x.yaml --cluster prod");
	assert_string_equal(err,
	    "error: NOT_FOUND: cannot read /nonexistent/x.yaml: No such file "
	    "or directory\n");
	free(err);
	assert_int_equal(
	    ct_cli(&e, "", &out, &err, "apply -f - --cluster prod"), 1);
	assert_string_equal(
	    err, "error: INVALID_ARGUMENT: no objects passed to apply\n");
	free(out);
	free(err);
	ct_stop(&e);
}

// Usage errors: exit 2, one line naming the flag, nothing sent.
static const struct {
	const char *args;
	const char *stderr_text;
} usage[] = {
    {"get svc --bogus",
        "error: unknown flag: --bogus (see 'svcfleet get "
        "service --help')\n"},
    {"get svc -x",
        "error: unknown shorthand flag: 'x' in -x (see "
        "'svcfleet get service --help')\n"},
    {CREATE "web-front --selector a=b --port 80",
        "error: required flag --cluster is missing (see "
        "'svcfleet create service --help')\n"},
    {CREATE "web-front --cluster prod --port 80",
        "error: required flag --selector (or --from-workload) is missing "
        "(spec.selector) (see 'svcfleet create service --help')\n"},
    {CREATE "web-front --cluster prod --selector a=b",
        "error: required flag --port is missing (see "
        "'svcfleet create service --help')\n"},
    {CREATE "web-front" IN_PROD "--port http",
        "error: invalid --port \"http\": port \"http\" "
        "is not a number; want "
        "[NAME:]PORT[:TARGET][/TCP|/UDP|/SCTP][@NODEPORT] (see 'svcfleet "
        "create service --help')\n"},
    {CREATE "web-front" IN_PROD "--port 80/HTTP",
        "error: invalid --port \"80/HTTP\": unknown "
        "protocol \"HTTP\" (TCP, UDP or SCTP); want "
        "[NAME:]PORT[:TARGET][/TCP|/UDP|/SCTP][@NODEPORT] (see 'svcfleet "
        "create service --help')\n"},
    {CREATE "web-front" IN_PROD "--port 80 --type external",
        "error: invalid value \"external\" for --type: "
        "want clusterip, nodeport or loadbalancer (see 'svcfleet create "
        "service --help')\n"},
    {CREATE "web-front --cluster prod --selector app --port 80",
        "error: invalid value \"app\" for --selector: "
        "want KEY=VALUE[,KEY=VALUE] (see 'svcfleet create service "
        "--help')\n"},
    {"delete service --cluster prod",
        "error: \"svcfleet delete service\" needs a NAME "
        "argument (see 'svcfleet delete service --help')\n"},
    {"delete service web-front",
        "error: required flag --cluster is missing (see "
        "'svcfleet delete service --help')\n"},
    {"get service web-front",
        "error: required flag --cluster is missing (a "
        "Service is named by cluster, namespace and name) (see 'svcfleet "
        "get service --help')\n"},
    {"get svc -o xml",
        "error: unknown output format \"xml\" for -o: "
        "want table, wide, json, yaml or name (see 'svcfleet get service "
        "--help')\n"},
    {"get svc -n dev -A",
        "error: -n and -A exclude each other (see "
        "'svcfleet get service --help')\n"},
    {"get svc --limit 0",
        "error: invalid value \"0\" for --limit: want a "
        "positive number (see 'svcfleet get service --help')\n"},
    {"get svc --port 80",
        "error: flag --port is not used by \"svcfleet "
        "get service\" (see 'svcfleet get service --help')\n"},
    {"get svc -n",
        "error: flag needs an argument: --namespace (see "
        "'svcfleet get service --help')\n"},
    {"get svc --timeout soon",
        "error: invalid value \"soon\" for --timeout: "
        "want a duration such as 30s or 2m (see 'svcfleet get service "
        "--help')\n"},
    {"get pods",
        "error: unknown resource type \"pods\": svcfleet "
        "get works on services (see 'svcfleet get --help')\n"},
    {"frobnicate",
        "error: unknown command \"frobnicate\" (see "
        "'svcfleet help')\n"},
    {"apply --cluster prod",
        "error: required flag --filename is missing (see "
        "'svcfleet apply --help')\n"},
    {"cluster add edge --api-server https://10.0.0.1:6443",
        "error: required flag --cluster-token-file is missing (see "
        "'svcfleet cluster add --help')\n"},
    {"cluster add edge --api-server https://10.0.0.1:6443 --ca-file x "
     "--cluster-token-file y --node-port-range 30000",
        "error: invalid value \"30000\" for "
        "--node-port-range: want MIN-MAX, e.g. 30000-32767 (see 'svcfleet "
        "cluster add --help')\n"},
};

static void
test_usage_errors(void **state)
{
	ct_env e;
	(void) state;

	ct_start(&e, NULL);
	for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
		char *err = ct_fails(&e, 2, "%s", usage[i].args);
		if (strcmp(err, usage[i].stderr_text) != 0) {
			fail_msg("%s:\n%s\nwant:\n%s", usage[i].args, err,
			    usage[i].stderr_text);
		}
		free(err);
	}
	ct_stop(&e);
}

// The live reads go to the cluster itself; this one (127.0.0.1:6443)
// does not answer, and says so.
static void
test_live_reads_unreachable(void **state)
{
	ct_env e;
	char  *err;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	err = ct_fails(&e, 1,
	    CREATE "web-front --cluster prod --from-workload deployment/web "
	           "--port 80");
	assert_non_null(strstr(err,
	    "error: UNAVAILABLE: cluster \"prod\" could not answer GET "
	    "/apis/apps/v1/namespaces/default/deployments: "));
	free(err);
	err = ct_fails(&e, 1, "cluster namespaces prod");
	assert_non_null(strstr(err,
	    "error: UNAVAILABLE: cluster \"prod\" could not answer GET "
	    "/api/v1/namespaces: "));
	free(err);
	err = ct_fails(&e, 1, "cluster workloads prod -n shop");
	assert_non_null(strstr(err, "error: UNAVAILABLE: cluster \"prod\""));
	free(err);
	err = ct_fails(&e, 1, "cluster add edge --kubeconfig kubeconfig.yaml");
	assert_string_equal(err,
	    "error: INVALID_ARGUMENT: cannot read the kubeconfig "
	    "kubeconfig.yaml: No such file or directory\n");
	free(err);
	ct_stop(&e);
}

static void
test_server_down(void **state)
{
	ct_env e;
	char   cmd[1200], want[1200];
	char  *out, *err;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	ct_stop(&e);
	err = ct_fails(&e, 1, "get svc");
	snprintf(want, sizeof(want),
	    "error: UNAVAILABLE: cannot connect to %s: ", e.ce_srv.ts_url);
	if (strncmp(err, want, strlen(want)) != 0 || ct_nlines(err) != 1) {
		fail_msg("%s", err);
	}
	free(err);

	// The environment names the server as well as --server does.
	snprintf(cmd, sizeof(cmd), "SVCFLEET_SERVER='%s' %s cluster list",
	    e.ce_srv.ts_url, th_bin("client/cli/svcfleet"));
	assert_int_equal(th_run(cmd, NULL, &out, &err), 1);
	assert_int_equal(strncmp(err, want, strlen(want)), 0);
	free(out);
	free(err);

	// version still prints the client's.
	assert_int_equal(ct_cli(&e, NULL, &out, &err, "version"), 1);
	assert_string_equal(out, "Client Version: " SF_VERSION "\n");
	assert_int_equal(strncmp(err, want, strlen(want)), 0);
	free(out);
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_invalid_argument, ct_cleanup),
	    cmocka_unit_test_teardown(
	        test_not_found_already_exists, ct_cleanup),
	    cmocka_unit_test_teardown(test_failed_precondition, ct_cleanup),
	    cmocka_unit_test_teardown(test_aborted, ct_cleanup),
	    cmocka_unit_test_teardown(test_apply_bad_documents, ct_cleanup),
	    cmocka_unit_test_teardown(test_usage_errors, ct_cleanup),
	    cmocka_unit_test_teardown(test_live_reads_unreachable, ct_cleanup),
	    cmocka_unit_test_teardown(test_server_down, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
