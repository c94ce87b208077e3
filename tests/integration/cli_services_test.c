// cli_services_test.c: the svcfleet CLI against a real svcfleetd — the
// life of a Service (create, list in every format, update through apply,
// delete), a restart that keeps everything, apply idempotence, the
// `get -o yaml | apply -f -` round trip and paging.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "svcfleet/svcfleet.h"

#define SVC_HEADER \
	"NAME CLUSTER TYPE CLUSTER-IP EXTERNAL-IP PORT(S) STATUS AGE"

static const char *
jstr(json_t *j, const char *path)
{
	// "a b 0 c": objects by key, arrays by index (keys hold dots).
	char  buf[256];
	char *save = NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *t = strtok_r(buf, " ", &save); t != NULL && j != NULL;
	     t       = strtok_r(NULL, " ", &save)) {
		j = json_is_array(j) ? json_array_get(j, strtoul(t, NULL, 10))
		                     : json_object_get(j, t);
	}
	if (json_is_integer(j)) {
		static char num[32];
		snprintf(num, sizeof(num), "%lld",
		    (long long) json_integer_value(j));
		return (num);
	}
	return (json_is_string(j) ? json_string_value(j) : "<missing>");
}

static void
create_web(ct_env *e)
{
	char *out = ct_ok(e,
	    "create service web-front --cluster prod -n shop --type nodeport "
	    "--selector app=web,tier=front --port http:80:8080@30080 "
	    "--port metrics:9090 --label team=shop "
	    "--annotation note=first");
	assert_string_equal(out, "service/web-front created\n");
	free(out);
}

static void
test_lifecycle(void **state)
{
	ct_env  e;
	char   *out, *err;
	char ***cells;
	json_t *j;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	create_web(&e);

	// Table: kubectl's columns, widths from the content.
	out   = ct_ok(&e, "get services -n shop");
	cells = ct_assert_table(out, SVC_HEADER, 1);
	assert_string_equal(cells[0][0], "web-front");
	assert_string_equal(cells[0][1], "prod");
	assert_string_equal(cells[0][2], "NodePort");
	assert_string_equal(cells[0][3], "<pending>");
	assert_string_equal(cells[0][4], "<none>");
	assert_string_equal(cells[0][5], "80:30080/TCP,9090/TCP");
	assert_string_equal(cells[0][6], "PENDING");
	assert_true(strcmp(cells[0][7], "0s") == 0
	    || strcmp(cells[0][7], "1s") == 0
	    || strcmp(cells[0][7], "2s") == 0);
	ct_cells_free(cells);
	free(out);

	// Flags before the command words read the same.
	// -o name is scoped by cluster and namespace (issue 20), and get
	// takes that form back.
	out = ct_ok(&e, "-n shop -o name get svc");
	assert_string_equal(out, "service/prod/shop/web-front\n");
	free(out);
	out = ct_ok(&e,
	    "get service/web-front --cluster=prod --namespace=shop "
	    "--output=name");
	assert_string_equal(out, "service/prod/shop/web-front\n");
	free(out);
	out = ct_ok(&e, "get service/prod/shop/web-front -o name");
	assert_string_equal(out, "service/prod/shop/web-front\n");
	free(out);

	// Wide adds the selector and the sync facts.
	out   = ct_ok(&e, "get svc -n shop -o wide");
	cells = ct_assert_table(
	    out, SVC_HEADER " SELECTOR LAST-SYNC MESSAGE", 1);
	assert_string_equal(cells[0][8], "app=web,tier=front");
	assert_string_equal(cells[0][9], "<never>");
	assert_string_equal(cells[0][10], "<none>");
	ct_cells_free(cells);
	free(out);

	// -A adds NAMESPACE; the default namespace has nothing.
	out   = ct_ok(&e, "get svc -A");
	cells = ct_assert_table(out,
	    "NAME CLUSTER NAMESPACE TYPE CLUSTER-IP EXTERNAL-IP PORT(S) "
	    "STATUS AGE",
	    1);
	assert_string_equal(cells[0][2], "shop");
	ct_cells_free(cells);
	free(out);
	assert_int_equal(ct_cli(&e, NULL, &out, &err, "get svc"), 0);
	assert_string_equal(out, "");
	assert_string_equal(err, "No resources found in default namespace.\n");
	free(out);
	free(err);

	// JSON: a Kubernetes List of v1 Service manifests.
	out = ct_ok(&e, "get svc -n shop -o json");
	j   = ct_json(out);
	assert_string_equal(jstr(j, "apiVersion"), "v1");
	assert_string_equal(jstr(j, "kind"), "List");
	assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
	assert_string_equal(jstr(j, "items 0 kind"), "Service");
	assert_string_equal(jstr(j, "items 0 metadata name"), "web-front");
	assert_string_equal(jstr(j, "items 0 metadata namespace"), "shop");
	assert_string_equal(
	    jstr(j, "items 0 metadata annotations svcfleet.io/cluster"),
	    "prod");
	assert_string_equal(jstr(j, "items 0 metadata labels team"), "shop");
	assert_string_equal(jstr(j, "items 0 spec type"), "NodePort");
	assert_string_equal(jstr(j, "items 0 spec ports 0 name"), "http");
	assert_string_equal(jstr(j, "items 0 spec ports 0 nodePort"), "30080");
	assert_string_equal(jstr(j, "items 0 spec ports 1 port"), "9090");
	assert_string_equal(jstr(j, "items 0 spec selector tier"), "front");
	json_decref(j);
	free(out);

	// YAML: the same List; one object prints as a Service.
	out = ct_ok(&e, "get svc -n shop -o yaml");
	assert_string_equal(ct_line(out, 0), "apiVersion: v1");
	assert_string_equal(ct_line(out, 1), "kind: List");
	assert_non_null(strstr(out, "\n    name: web-front\n"));
	assert_non_null(strstr(out, "nodePort: 30080\n"));
	free(out);
	out = ct_ok(&e, "get svc web-front --cluster prod -n shop -o yaml");
	assert_string_equal(ct_line(out, 0), "apiVersion: v1");
	assert_string_equal(ct_line(out, 1), "kind: Service");
	assert_non_null(strstr(out, "svcfleet.io/cluster: prod\n"));
	free(out);

	// Update through apply: a changed port and annotation.
	const char *upd = ct_file(&e, "web-v2.yaml",
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata:\n"
	    "  name: web-front\n"
	    "  namespace: shop\n"
	    "  labels: {team: shop}\n"
	    "  annotations: {note: second}\n"
	    "spec:\n"
	    "  type: NodePort\n"
	    "  selector: {app: web, tier: front}\n"
	    "  ports:\n"
	    "  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}\n"
	    "  - {name: metrics, port: 9191}\n");
	out             = ct_ok(&e, "apply -f %s --cluster prod", upd);
	assert_string_equal(out, "service/web-front configured\n");
	free(out);
	out = ct_ok(&e, "get svc web-front --cluster prod -n shop -o json");
	j   = ct_json(out);
	assert_string_equal(jstr(j, "kind"), "Service");
	assert_string_equal(jstr(j, "spec ports 1 port"), "9191");
	assert_string_equal(jstr(j, "metadata annotations note"), "second");
	assert_string_equal(jstr(j, "metadata generation"), "2");
	json_decref(j);
	free(out);

	// Delete: gone at once while no cluster holds it.
	out = ct_ok(&e, "delete service web-front --cluster prod -n shop");
	assert_string_equal(out, "service \"web-front\" deleted\n");
	free(out);
	err = ct_fails(&e, 1, "get svc web-front --cluster prod -n shop");
	assert_string_equal(err,
	    "error: NOT_FOUND: service \"web-front\" not found in namespace "
	    "\"shop\" of cluster \"prod\"\n");
	free(err);
	ct_stop(&e);
}

static void
test_restart_keeps_everything(void **state)
{
	ct_env  e;
	char   *svcs1, *svcs2, *cl1, *cl2, *err;
	json_t *a, *b;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	ct_add_cluster(&e, "edge");
	create_web(&e);
	free(ct_ok(&e,
	    "create service dns-cache --cluster edge "
	    "--selector k8s-app=dns --port dns:53/UDP "
	    "--port dns-tcp:53/TCP --session-affinity "
	    "--session-timeout 600"));
	svcs1 = ct_ok(&e, "get svc -A -o json");
	cl1   = ct_ok(&e, "cluster list -o json");

	ct_restart(&e);

	svcs2 = ct_ok(&e, "get svc -A -o json");
	cl2   = ct_ok(&e, "cluster list -o json");
	a     = ct_json(svcs1);
	b     = ct_json(svcs2);
	assert_int_equal(json_array_size(json_object_get(a, "items")), 2);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	a = ct_json(cl1);
	b = ct_json(cl2);
	assert_int_equal(json_array_size(json_object_get(a, "items")), 2);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);

	// The nodePort reservation survived too.
	err = ct_fails(&e, 1,
	    "create service web-back --cluster prod -n shop --type nodeport "
	    "--selector app=back --port 80@30080");
	assert_non_null(strstr(err, "error: FAILED_PRECONDITION: "));
	free(err);
	free(svcs1);
	free(svcs2);
	free(cl1);
	free(cl2);
	ct_stop(&e);
}

static const char multi_doc[]
    = "# three Services in one file\n"
      "apiVersion: v1\n"
      "kind: Service\n"
      "metadata:\n"
      "  name: api-gateway\n"
      "  namespace: shop\n"
      "spec:\n"
      "  type: NodePort\n"
      "  selector: {app: gateway}\n"
      "  ports:\n"
      "  - {name: http, port: 80, targetPort: 8080, nodePort: 30100}\n"
      "  - {name: https, port: 443, targetPort: 8443}\n"
      "---\n"
      "apiVersion: v1\n"
      "kind: Service\n"
      "metadata:\n"
      "  name: orders-db\n"
      "  namespace: shop\n"
      "  labels: {tier: db}\n"
      "spec:\n"
      "  selector: {app: orders-db}\n"
      "  ports:\n"
      "  - port: 5432\n"
      "---\n"
      "apiVersion: v1\n"
      "kind: Service\n"
      "metadata:\n"
      "  name: public-lb\n"
      "  annotations:\n"
      "    metallb.io/address-pool: public\n"
      "spec:\n"
      "  type: LoadBalancer\n"
      "  externalTrafficPolicy: Local\n"
      "  selector: {app: web}\n"
      "  ports:\n"
      "  - {name: http, port: 80}\n";

static void
test_apply_idempotent(void **state)
{
	ct_env             e;
	char              *out, *list1, *list2;
	const char        *f;
	unsigned long long rev;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	f = ct_file(&e, "three.yaml", multi_doc);

	out = ct_ok(&e, "apply -f %s --cluster prod --dry-run", f);
	assert_string_equal(out,
	    "service/api-gateway created (dry run)\n"
	    "service/orders-db created (dry run)\n"
	    "service/public-lb created (dry run)\n");
	free(out);
	free(ct_fails(&e, 1, "get svc api-gateway --cluster prod -n shop"));

	out = ct_ok(&e, "apply -f %s --cluster prod", f);
	assert_string_equal(out,
	    "service/api-gateway created\n"
	    "service/orders-db created\n"
	    "service/public-lb created\n");
	free(out);
	list1 = ct_ok(&e, "get svc -A -o json");
	rev   = ct_revision(&e);

	out = ct_ok(&e, "apply -f %s --cluster prod", f);
	assert_string_equal(out,
	    "service/api-gateway unchanged\n"
	    "service/orders-db unchanged\n"
	    "service/public-lb unchanged\n");
	free(out);
	assert_int_equal(ct_revision(&e), rev);
	list2 = ct_ok(&e, "get svc -A -o json");
	assert_string_equal(list1, list2);

	// The LoadBalancer prints as kubectl would before it has an address.
	out           = ct_ok(&e, "get svc public-lb --cluster prod");
	char ***cells = ct_assert_table(out, SVC_HEADER, 1);
	assert_string_equal(cells[0][2], "LoadBalancer");
	assert_string_equal(cells[0][4], "<pending>");
	assert_string_equal(cells[0][5], "80/TCP");
	ct_cells_free(cells);
	free(out);

	// -l and --limit.
	out = ct_ok(&e, "get svc -A -l tier=db -o name");
	assert_string_equal(out, "service/prod/shop/orders-db\n");
	free(out);
	out = ct_ok(&e, "get svc -A --limit 2 -o name");
	assert_int_equal(ct_nlines(out), 2);
	free(out);
	free(list1);
	free(list2);
	ct_stop(&e);
}

static void
test_yaml_round_trip(void **state)
{
	ct_env             e;
	char              *yaml, *json, *out, *err;
	unsigned long long rev;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	ct_add_cluster(&e, "edge");
	create_web(&e);
	free(ct_ok(&e,
	    "create service lb-metallb --cluster edge --type "
	    "loadbalancer --selector app=lb --port http:80:8080 "
	    "--port https:443:8443 --lb-type metallb "
	    "--lb-pool public --lb-address 192.0.2.10 "
	    "--traffic-policy local"));
	free(ct_ok(&e,
	    "create service sticky-app --cluster edge -n apps "
	    "--selector app=sticky --port 8080:http "
	    "--session-affinity --allow-adoption"));
	rev = ct_revision(&e);

	yaml = ct_ok(&e, "get svc -A -o yaml");
	assert_int_equal(ct_cli(&e, yaml, &out, &err, "apply -f -"), 0);
	assert_string_equal(err, "");
	// Lists are ordered by cluster, namespace, name.
	assert_string_equal(out,
	    "service/sticky-app unchanged\n"
	    "service/lb-metallb unchanged\n"
	    "service/web-front unchanged\n");
	free(out);
	free(err);

	json = ct_ok(&e, "get svc -A -o json");
	assert_int_equal(ct_cli(&e, json, &out, &err, "apply -f -"), 0);
	assert_string_equal(err, "");
	assert_int_equal(ct_nlines(out), 3);
	assert_null(strstr(out, "configured"));
	free(out);
	free(err);

	free(yaml);
	yaml = ct_ok(&e, "get svc lb-metallb --cluster edge -o yaml");
	assert_non_null(strstr(yaml, "metallb.io/address-pool: public\n"));
	assert_int_equal(ct_cli(&e, yaml, &out, &err, "apply -f -"), 0);
	assert_string_equal(out, "service/lb-metallb unchanged\n");
	assert_int_equal(ct_revision(&e), rev);
	free(out);
	free(err);
	free(yaml);
	free(json);
	ct_stop(&e);
}

// `get -o yaml` is a manifest Kubernetes tools read. kubectl needs an API
// server for apply/create even with --dry-run=client; `kubectl kustomize`
// parses and checks the resources offline.
static void
test_yaml_kubectl(void **state)
{
	ct_env e;
	char   dir[600], cmd[1400];
	char  *yaml, *out, *err;
	(void) state;

	if (access("/usr/bin/kubectl", X_OK) != 0) {
		skip();
	}
	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	create_web(&e);
	yaml = ct_ok(&e, "get svc web-front --cluster prod -n shop -o yaml");
	snprintf(dir, sizeof(dir), "%s/kustomize", e.ce_srv.ts_dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s", dir);
	assert_int_equal(th_run(cmd, NULL, NULL, NULL), 0);
	snprintf(cmd, sizeof(cmd), "%s/svc.yaml", dir);
	assert_int_equal(th_write_file(cmd, yaml), 0);
	snprintf(cmd, sizeof(cmd), "%s/kustomization.yaml", dir);
	assert_int_equal(th_write_file(cmd, "resources:\n- svc.yaml\n"), 0);
	snprintf(cmd, sizeof(cmd), "kubectl kustomize %s", dir);
	if (th_run(cmd, NULL, &out, &err) != 0) {
		fail_msg("kubectl rejected the manifest: %s\n%s", err, yaml);
	}
	assert_non_null(strstr(out, "kind: Service\n"));
	assert_non_null(strstr(out, "nodePort: 30080\n"));
	free(out);
	free(err);
	free(yaml);
	ct_stop(&e);
}

// Beyond parsing: kubectl applies `svcfleet get -o yaml` to kubefake (a
// Kubernetes API server for Services) as it would to a real cluster, with
// server-side validation, and the cluster ends up with what was asked for.
static void
test_yaml_kubectl_apply(void **state)
{
	ct_env      e;
	ct_kubefake kf;
	char        path[600], *yaml, *out, *err;
	(void) state;

	ct_start(&e, NULL);
	if (!ct_kubefake_start(&kf, e.ce_srv.ts_dir)) {
		ct_stop(&e);
		skip();
	}
	ct_add_cluster(&e, "prod");
	free(ct_ok(&e,
	    "create service web-front --cluster prod --type "
	    "nodeport --selector app=web,tier=front --port "
	    "http:80:8080@30080 --port metrics:9090 --annotation "
	    "note=first --session-affinity --traffic-policy local"));
	free(ct_ok(&e,
	    "create service lb-metallb --cluster prod --type "
	    "loadbalancer --selector app=lb --port http:80:8080 "
	    "--lb-type metallb --lb-pool public --lb-address "
	    "192.0.2.10"));
	const char *names[] = {"web-front", "lb-metallb"};
	for (size_t i = 0; i < 2; i++) {
		yaml
		    = ct_ok(&e, "get svc %s --cluster prod -o yaml", names[i]);
		snprintf(path, sizeof(path), "%s/%s.yaml", e.ce_srv.ts_dir,
		    names[i]);
		assert_int_equal(th_write_file(path, yaml), 0);
		if (th_runf(&out, &err,
		        "kubectl --kubeconfig %s apply --dry-run=server -f %s",
		        kf.kf_kubeconfig, path)
		    != 0) {
			fail_msg("kubectl: %s\n%s", err, yaml);
		}
		free(out);
		free(err);
		if (th_runf(&out, &err, "kubectl --kubeconfig %s apply -f %s",
		        kf.kf_kubeconfig, path)
		    != 0) {
			fail_msg("kubectl: %s\n%s", err, yaml);
		}
		free(out);
		free(err);
		free(yaml);
	}
	assert_int_equal(
	    th_runf(&out, &err,
	        "kubectl --kubeconfig %s get svc web-front -o "
	        "jsonpath='{.spec.type} {.spec.ports[0].nodePort} "
	        "{.spec.sessionAffinity} "
	        "{.spec.sessionAffinityConfig.clientIP."
	        "timeoutSeconds} {.spec.externalTrafficPolicy}'",
	        kf.kf_kubeconfig),
	    0);
	assert_string_equal(out, "NodePort 30080 ClientIP 30 Local");
	free(out);
	free(err);
	ct_kubefake_stop(&kf);
	ct_stop(&e);
}

// A Service a cluster holds (finalizer added by the reconciler) is only
// marked for deletion.
static void
test_delete_waits_for_cluster(void **state)
{
	ct_env           e;
	svcfleet_client *c;
	svcfleet_status  st;
	char            *out, *err;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	create_web(&e);

	svcfleet_options            o   = {.url = e.ce_srv.ts_url,
	                 .token                 = e.ce_srv.ts_token,
	                 .connect_now           = true};
	Svcfleet__V1__ServiceKey    key = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__ClusterStatus cs  = SVCFLEET__V1__CLUSTER_STATUS__INIT;
	Svcfleet__V1__ReportStatusRequest req
	    = SVCFLEET__V1__REPORT_STATUS_REQUEST__INIT;
	Svcfleet__V1__ReportStatusReply *rep = NULL;
	svcfleet_status_init(&st);
	assert_int_equal(svcfleet_open(&c, &o, &st), 0);
	key.cluster            = "prod";
	key.namespace_         = "shop";
	key.name               = "web-front";
	cs.cluster             = "prod";
	cs.state               = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED;
	cs.observed_generation = 1;
	cs.cluster_ip          = "10.96.0.42";
	cs.last_sync_time_ms   = 1;
	// The cluster chose the nodePort of the port that asked for none.
	Svcfleet__V1__AssignedPort  ap1   = SVCFLEET__V1__ASSIGNED_PORT__INIT;
	Svcfleet__V1__AssignedPort  ap2   = SVCFLEET__V1__ASSIGNED_PORT__INIT;
	Svcfleet__V1__AssignedPort *aps[] = {&ap1, &ap2};
	ap1.name                          = "http";
	ap1.protocol                      = "TCP";
	ap1.port                          = 80;
	ap1.node_port                     = 30080;
	ap2.name                          = "metrics";
	ap2.protocol                      = "TCP";
	ap2.port                          = 9090;
	ap2.node_port                     = 31234;
	cs.node_ports                     = aps;
	cs.n_node_ports                   = 2;
	req.key                           = &key;
	req.status                        = &cs;
	req.add_finalizer                 = true;
	assert_int_equal(svcfleet_report_status(c, &req, &rep, &st), 0);
	svcfleet_free(rep);
	svcfleet_close(c);
	svcfleet_status_fini(&st);

	out           = ct_ok(&e, "get svc -n shop");
	char ***cells = ct_assert_table(out, SVC_HEADER, 1);
	assert_string_equal(cells[0][3], "10.96.0.42");
	assert_string_equal(cells[0][5], "80:30080/TCP,9090:31234/TCP");
	assert_string_equal(cells[0][6], "SYNCED");
	ct_cells_free(cells);
	free(out);

	// What the cluster reported prints as facts, and reads back as
	// nothing to change.
	char *yaml
	    = ct_ok(&e, "get svc web-front --cluster prod -n shop -o yaml");
	assert_non_null(strstr(yaml, "svcfleet.io/sync-state: SYNCED\n"));
	assert_int_equal(ct_cli(&e, yaml, &out, &err, "apply -f -"), 0);
	assert_string_equal(out, "service/web-front unchanged\n");
	assert_string_equal(err, "");
	free(out);
	free(err);
	free(yaml);

	// No reconciler runs here: --wait gives up when --timeout is over.
	assert_int_equal(ct_cli(&e, NULL, &out, &err,
	                     "delete svc web-front --cluster prod -n shop "
	                     "--wait --timeout 1s"),
	    1);
	assert_string_equal(out,
	    "service \"web-front\" marked for deletion (waiting for "
	    "cluster)\n");
	assert_non_null(strstr(err,
	    "error: DEADLINE_EXCEEDED: timed out after 1s waiting for service "
	    "\"web-front\" in cluster \"prod\" to be deleted; last: "
	    "DELETING"));
	free(out);
	free(err);
	out   = ct_ok(&e, "get svc -n shop");
	cells = ct_assert_table(out, SVC_HEADER, 1);
	assert_string_equal(cells[0][6], "DELETING");
	ct_cells_free(cells);
	free(out);
	ct_stop(&e);
}

// More Services than one page: the CLI follows the page tokens.
static void
test_paging(void **state)
{
	static const char *const fast[] = {"--unsafe-no-fsync", NULL};
	ct_env                   e;
	svcfleet_client         *c;
	svcfleet_status          st;
	char                    *out;
	const int                n = 523;
	(void) state;

	ct_start(&e, fast);
	ct_add_cluster(&e, "prod");
	svcfleet_options o = {.url = e.ce_srv.ts_url,
	    .token                 = e.ce_srv.ts_token,
	    .connect_now           = true};
	svcfleet_status_init(&st);
	assert_int_equal(svcfleet_open(&c, &o, &st), 0);
	for (int i = 0; i < n; i++) {
		char                      name[32];
		Svcfleet__V1__KeyValue    sel = SVCFLEET__V1__KEY_VALUE__INIT;
		Svcfleet__V1__KeyValue   *sels[] = {&sel};
		Svcfleet__V1__ServicePort p = SVCFLEET__V1__SERVICE_PORT__INIT;
		Svcfleet__V1__ServicePort *ps[] = {&p};
		Svcfleet__V1__ObjectMeta   m = SVCFLEET__V1__OBJECT_META__INIT;
		Svcfleet__V1__ServiceSpec  sp
		    = SVCFLEET__V1__SERVICE_SPEC__INIT;
		Svcfleet__V1__Service svc = SVCFLEET__V1__SERVICE__INIT;
		Svcfleet__V1__CreateServiceRequest req
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *rep = NULL;
		snprintf(name, sizeof(name), "bulk-%04d", i);
		sel.key       = "app";
		sel.value     = "bulk";
		p.port        = 80;
		m.cluster     = "prod";
		m.namespace_  = "bulk";
		m.name        = name;
		sp.selector   = sels;
		sp.n_selector = 1;
		sp.ports      = ps;
		sp.n_ports    = 1;
		svc.metadata  = &m;
		svc.spec      = &sp;
		req.service   = &svc;
		if (svcfleet_create_service(c, &req, &rep, &st) != 0) {
			fail_msg("%s: %s", name, st.message);
		}
		svcfleet_free(rep);
	}
	svcfleet_close(c);
	svcfleet_status_fini(&st);

	out = ct_ok(&e, "get svc -n bulk -o name");
	assert_int_equal(ct_nlines(out), n);
	assert_string_equal(ct_line(out, 0), "service/prod/bulk/bulk-0000");
	assert_string_equal(
	    ct_line(out, n - 1), "service/prod/bulk/bulk-0522");
	free(out);
	out = ct_ok(&e, "get svc -n bulk -o name --limit 510");
	assert_int_equal(ct_nlines(out), 510);
	assert_string_equal(ct_line(out, 509), "service/prod/bulk/bulk-0509");
	free(out);
	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_lifecycle, ct_cleanup),
	    cmocka_unit_test_teardown(
	        test_restart_keeps_everything, ct_cleanup),
	    cmocka_unit_test_teardown(test_apply_idempotent, ct_cleanup),
	    cmocka_unit_test_teardown(test_yaml_round_trip, ct_cleanup),
	    cmocka_unit_test_teardown(test_yaml_kubectl, ct_cleanup),
	    cmocka_unit_test_teardown(test_yaml_kubectl_apply, ct_cleanup),
	    cmocka_unit_test_teardown(
	        test_delete_waits_for_cluster, ct_cleanup),
	    cmocka_unit_test_teardown(test_paging, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
