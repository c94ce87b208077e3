// recon_sync_test.c: the reconciler end to end against kubefake clusters —
// create in two clusters, update ports and type, heal kubectl edits and
// deletes, delete through svcfleet, leave an unowned Service alone (and
// adopt it when allowed), garbage-collect only what this installation
// owns. What the clusters hold is checked with kubectl.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "recon_util.h"

#define SYNCED   SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
#define ERROR    SVCFLEET__V1__SYNC_STATE__SYNC_STATE_ERROR
#define DELETING SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DELETING
#define WAITING  SVCFLEET__V1__SYNC_STATE__SYNC_STATE_WAITING_ADDRESS

static const char *
jstr(json_t *o, const char *path)
{
	const char *s = kft_jstr(o, path);
	return (s != NULL ? s : "");
}

// metadata.labels[key] / metadata.annotations[key] (keys have dots).
static const char *
meta_kv(json_t *o, const char *map, const char *key)
{
	return (json_string_value(json_object_get(
	    json_object_get(json_object_get(o, "metadata"), map), key)));
}

static const char *
installation_id(rt_env *e)
{
	static char                 id[80];
	Svcfleet__V1__Empty         in = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *v  = NULL;
	assert_int_equal(svcfleet_version(e->re_cli, &in, &v, &e->re_st), 0);
	snprintf(id, sizeof(id), "%s", v->installation_id);
	svcfleet_free(v);
	assert_true(id[0] != '\0');
	return (id);
}

static bool
has_finalizer(const Svcfleet__V1__Service *svc)
{
	for (size_t i = 0; i < svc->metadata->n_finalizers; i++) {
		if (strcmp(svc->metadata->finalizers[i], "svcfleet.io/cluster")
		    == 0) {
			return (true);
		}
	}
	return (false);
}

// Checks that cluster i holds what svc's status says it assigned.
static void
assert_matches_cluster(rt_env *e, int i, const Svcfleet__V1__Service *svc)
{
	const Svcfleet__V1__ClusterStatus *cs = rt_status(svc);
	json_t                            *k
	    = rt_kget(e, i, svc->metadata->namespace_, svc->metadata->name);
	json_t *ports;

	assert_non_null(cs);
	assert_non_null(k);
	assert_string_equal(jstr(k, "spec.clusterIP"), cs->cluster_ip);
	assert_string_equal(
	    meta_kv(k, "labels", "app.kubernetes.io/managed-by"), "svcfleet");
	ports          = kft_jget(k, "spec.ports");
	size_t with_np = 0;
	for (size_t p = 0; p < json_array_size(ports); p++) {
		json_t    *po = json_array_get(ports, p);
		json_int_t np
		    = json_integer_value(json_object_get(po, "nodePort"));
		if (np == 0) {
			continue;
		}
		bool found = false;
		for (size_t q = 0; q < cs->n_node_ports; q++) {
			found = found
			    || (cs->node_ports[q]->node_port == np
			        && cs->node_ports[q]->port
			            == json_integer_value(
			                json_object_get(po, "port")));
		}
		assert_true(found);
		with_np++;
	}
	assert_int_equal(with_np, cs->n_node_ports);
	json_decref(k);
}

static void
test_create_in_two_clusters(void **state)
{
	rt_env                 e;
	Svcfleet__V1__Service *a, *b;
	json_t                *k;
	char                   gen[16];
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	rt_cluster(&e, 1, "beta", NULL);
	free(rt_cli(&e, NULL,
	    "create service front --cluster alpha -n default --type nodeport "
	    "--selector app=web --port http:80:8080"));
	free(rt_cli(&e, NULL,
	    "create service front --cluster beta -n default --selector "
	    "app=web "
	    "--port http:80:8080 --port metrics:9100"));
	a = rt_wait(&e, "alpha", "default", "front", SYNCED, 15000);
	b = rt_wait(&e, "beta", "default", "front", SYNCED, 15000);

	// What each cluster assigned is reported, and matches kubectl.
	assert_true(rt_status(a)->cluster_ip[0] != '\0');
	assert_int_equal(rt_status(a)->n_node_ports, 1);
	assert_in_range(rt_status(a)->node_ports[0]->node_port, 30000, 32767);
	assert_int_equal(rt_status(b)->n_node_ports, 0);
	assert_matches_cluster(&e, 0, a);
	assert_matches_cluster(&e, 1, b);
	assert_true(has_finalizer(a));
	assert_true(has_finalizer(b));

	// Ownership marks (DESIGN §5) and the spec, as kubectl sees them.
	k = rt_kget(&e, 0, "default", "front");
	assert_string_equal(meta_kv(k, "annotations", "svcfleet.io/owner"),
	    installation_id(&e));
	snprintf(
	    gen, sizeof(gen), "%lld", (long long) a->metadata->generation);
	assert_string_equal(
	    meta_kv(k, "annotations", "svcfleet.io/generation"), gen);
	assert_string_equal(
	    meta_kv(k, "annotations", "svcfleet.io/cluster"), "alpha");
	assert_string_equal(jstr(k, "spec.type"), "NodePort");
	assert_string_equal(jstr(k, "spec.selector.app"), "web");
	json_decref(k);
	k = rt_kget(&e, 1, "default", "front");
	assert_string_equal(jstr(k, "spec.type"), "ClusterIP");
	assert_int_equal(json_array_size(kft_jget(k, "spec.ports")), 2);
	json_decref(k);

	// The embedded reconciler is connected: /readyz says so.
	char *out = NULL;
	assert_int_equal(th_runf(&out, NULL, "curl -s '%s/readyz?verbose'",
	                     e.re_srv.ts_http),
	    0);
	assert_non_null(strstr(out, "[+]reconciler ok"));
	free(out);
	// The watch's echo of each apply was recognised without parsing it
	// (the Services were created long after the watches started).
	double echoes = 0;
	for (int i = 0; i < 100 && echoes < 2; i++) {
		out = NULL;
		assert_int_equal(th_runf(&out, NULL,
		                     "curl -s %s/metrics | awk '$1 == "
		                     "\"svcfleet_reconciler_watch_echoes_"
		                     "total\" { print $2 }'",
		                     e.re_srv.ts_http),
		    0);
		echoes = strtod(out, NULL);
		free(out);
		if (echoes < 2) {
			usleep(50 * 1000);
		}
	}
	assert_true(echoes >= 2);
	svcfleet_free(a);
	svcfleet_free(b);
	rt_stop(&e);
}

static void
apply(rt_env *e, const char *extra_ann, const char *type, const char *ports)
{
	char doc[2000];
	snprintf(doc, sizeof(doc),
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata:\n"
	    "  name: front\n"
	    "  namespace: default\n"
	    "  annotations:\n"
	    "    svcfleet.io/cluster: alpha\n"
	    "%s"
	    "spec:\n"
	    "  type: %s\n"
	    "  selector: {app: web}\n"
	    "  ports:\n"
	    "%s",
	    extra_ann, type, ports);
	free(rt_cli(e, doc, "apply -f -"));
}

static void
test_update_ports_and_type(void **state)
{
	rt_env                 e;
	Svcfleet__V1__Service *s;
	json_t                *k;
	const char *const kf[] = {"--metallb-pool", "default=192.168.77.0/29",
	    "--lb-delay-ms", "0", NULL};
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", kf);
	apply(&e, "", "NodePort",
	    "  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}\n");
	s = rt_wait(&e, "alpha", "default", "front", SYNCED, 15000);
	assert_int_equal(rt_status(s)->node_ports[0]->node_port, 30080);
	svcfleet_free(s);

	// Ports: one changed, one added.
	apply(&e, "", "NodePort",
	    "  - {name: http, port: 8080, targetPort: 8080, nodePort: 30080}\n"
	    "  - {name: https, port: 443, targetPort: 8443}\n");
	s = rt_wait(&e, "alpha", "default", "front", SYNCED, 15000);
	assert_int_equal(rt_status(s)->n_node_ports, 2);
	assert_matches_cluster(&e, 0, s);
	svcfleet_free(s);
	k = rt_kget(&e, 0, "default", "front");
	assert_int_equal(json_array_size(kft_jget(k, "spec.ports")), 2);
	json_decref(k);

	// NodePort -> ClusterIP: the cluster releases the node ports.
	apply(&e, "", "ClusterIP",
	    "  - {name: http, port: 8080, targetPort: 8080}\n"
	    "  - {name: https, port: 443, targetPort: 8443}\n");
	s = rt_wait(&e, "alpha", "default", "front", SYNCED, 15000);
	assert_int_equal(rt_status(s)->n_node_ports, 0);
	assert_matches_cluster(&e, 0, s);
	svcfleet_free(s);
	k = rt_kget(&e, 0, "default", "front");
	assert_string_equal(jstr(k, "spec.type"), "ClusterIP");
	assert_null(kft_jget(k, "spec.externalTrafficPolicy"));
	json_decref(k);

	// ClusterIP -> LoadBalancer with a MetalLB pool: an address comes.
	apply(&e, "    metallb.io/address-pool: default\n", "LoadBalancer",
	    "  - {name: http, port: 8080, targetPort: 8080}\n");
	s = rt_wait(&e, "alpha", "default", "front", SYNCED, 15000);
	assert_int_equal(rt_status(s)->n_ingress, 1);
	assert_true(strncmp(rt_status(s)->ingress[0], "192.168.77.", 11) == 0);
	assert_int_equal(rt_status(s)->n_node_ports, 1);
	assert_matches_cluster(&e, 0, s);
	svcfleet_free(s);
	k = rt_kget(&e, 0, "default", "front");
	assert_string_equal(jstr(k, "spec.type"), "LoadBalancer");
	assert_int_equal(json_array_size(kft_jget(k, "spec.ports")), 1);
	json_decref(k);
	rt_stop(&e);
}

// Waits until cluster i's web Service satisfies ok (over HTTP, polled).
static json_t *
wait_cluster(rt_env *e, int i, bool (*ok)(json_t *), int ms)
{
	for (int t = 0; t < ms; t += 20) {
		kft_resp r;
		memset(&r, 0, sizeof(r));
		kft_do(&e->re_kf[i], "GET",
		    "/api/v1/namespaces/default/services/front", NULL, NULL,
		    &r);
		if (r.r_code == 200 && ok(r.r_json)) {
			json_t *j = json_incref(r.r_json);
			kft_resp_fini(&r);
			return (j);
		}
		kft_resp_fini(&r);
		rt_sleep_ms(20);
	}
	fail_msg("cluster %d did not converge in %d ms", i, ms);
	return (NULL);
}

static bool
target_is_8080(json_t *j)
{
	return (json_integer_value(kft_jget(j, "spec.ports.0.targetPort"))
	    == 8080);
}

static bool
selector_is_web(json_t *j)
{
	return (strcmp(jstr(j, "spec.selector.app"), "web") == 0);
}

static void
test_heal_edit_and_delete(void **state)
{
	rt_env                 e;
	Svcfleet__V1__Service *s;
	json_t                *k;
	char                   editor[600], script[700];
	char                   old_ip[64];
	int                    rc;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	free(rt_cli(&e, NULL,
	    "create service front --cluster alpha -n default --type nodeport "
	    "--selector app=web --port http:80:8080"));
	s = rt_wait(&e, "alpha", "default", "front", SYNCED, 15000);
	snprintf(old_ip, sizeof(old_ip), "%s", rt_status(s)->cluster_ip);
	svcfleet_free(s);

	// kubectl edit, for real: the "editor" rewrites the target port
	// and the selector.
	snprintf(editor, sizeof(editor), "%s/editor.sh", e.re_srv.ts_dir);
	snprintf(script, sizeof(script),
	    "#!/bin/sh\nsed -i -e 's/targetPort: 8080/targetPort: 9999/' "
	    "-e 's/app: web/app: evil/' \"$1\"\n");
	assert_int_equal(th_write_file(editor, script), 0);
	char *out = NULL;
	th_runf(&out, NULL, "chmod +x %s", editor);
	free(out);
	out = NULL;
	rc  = th_runf(&out, NULL,
	     "EDITOR=%s kubectl --kubeconfig %s edit service front -n default "
	      "2>&1",
	     editor, e.re_kf[0].k_kubeconfig);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "edited"));
	free(out);
	k = wait_cluster(&e, 0, target_is_8080, 5000);
	json_decref(k);
	k = wait_cluster(&e, 0, selector_is_web, 5000);
	json_decref(k);
	k = rt_kget(&e, 0, "default", "front");
	assert_int_equal(
	    json_integer_value(kft_jget(k, "spec.ports.0.targetPort")), 8080);
	assert_string_equal(jstr(k, "spec.selector.app"), "web");
	json_decref(k);
	assert_true(
	    th_server_log_contains(&e.re_srv, "drift on default/front"));
	assert_true(
	    th_server_log_contains(&e.re_srv, "healed default/front in"));

	// kubectl delete: it comes back (with a new cluster IP, reported).
	free(rt_kubectl(&e, 0, NULL, "delete service front -n default"));
	for (int t = 0; t < 5000; t += 50) {
		if ((k = rt_kget(&e, 0, "default", "front")) != NULL) {
			break;
		}
		rt_sleep_ms(50);
	}
	assert_non_null(k);
	json_decref(k);
	for (int t = 0;; t += 50) {
		s = rt_wait(&e, "alpha", "default", "front", SYNCED, 5000);
		k = rt_kget(&e, 0, "default", "front");
		bool same = strcmp(rt_status(s)->cluster_ip,
		                jstr(k, "spec.clusterIP"))
		    == 0;
		json_decref(k);
		if (same) {
			break;
		}
		svcfleet_free(s);
		assert_true(t < 5000);
		rt_sleep_ms(50);
	}
	assert_matches_cluster(&e, 0, s);
	svcfleet_free(s);
	rt_stop(&e);
}

static void
test_delete_waits_for_cluster(void **state)
{
	rt_env                 e;
	Svcfleet__V1__Service *s;
	json_t                *k;
	char                  *out;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	free(rt_cli(&e, NULL,
	    "create service front --cluster alpha -n default --selector "
	    "app=web "
	    "--port 80"));
	s = rt_wait(&e, "alpha", "default", "front", SYNCED, 15000);
	svcfleet_free(s);
	// Slow the cluster down so DELETING can be seen.
	assert_int_equal(kft_faults(&e.re_kf[0], "{\"latency_ms\": 1500}"), 0);
	out = rt_cli(
	    &e, NULL, "delete service front --cluster alpha -n default");
	assert_non_null(strstr(out, "marked for deletion"));
	free(out);
	s = rt_get(&e, "alpha", "default", "front");
	assert_non_null(s);
	assert_true(s->metadata->deleting);
	assert_int_equal(rt_status(s)->state, DELETING);
	svcfleet_free(s);
	rt_wait_gone(&e, "alpha", "default", "front", 15000);
	assert_int_equal(kft_faults(&e.re_kf[0], "{}"), 0);
	k = rt_kget(&e, 0, "default", "front");
	assert_null(k);
	rt_stop(&e);
}

static void
test_unowned_left_alone(void **state)
{
	rt_env                 e;
	Svcfleet__V1__Service *s;
	json_t                *k;
	char                   doc[1000];
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	free(rt_kubectl(
	    &e, 0, NULL, "create service clusterip taken --tcp=80:8080"));
	free(rt_cli(&e, NULL,
	    "create service taken --cluster alpha -n default "
	    "--selector app=mine --port 80:9090"));
	s = rt_wait(&e, "alpha", "default", "taken", ERROR, 15000);
	assert_string_equal(rt_status(s)->message,
	    "service exists in the cluster and is not managed by svcfleet; "
	    "set allow_adoption to take it over");
	svcfleet_free(s);
	// Still theirs, untouched, a while later too.
	rt_sleep_ms(1000);
	k = rt_kget(&e, 0, "default", "taken");
	assert_string_equal(jstr(k, "spec.selector.app"), "taken");
	assert_null(meta_kv(k, "labels", "app.kubernetes.io/managed-by"));
	assert_null(meta_kv(k, "annotations", "svcfleet.io/owner"));
	json_decref(k);
	assert_int_equal(kft_stat(&e.re_kf[0], "resources.services.patch"), 0);

	// Allowing adoption takes it over.
	snprintf(doc, sizeof(doc),
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: taken\n"
	    "  namespace: default\n  annotations:\n"
	    "    svcfleet.io/allow-adoption: \"true\"\n"
	    "spec:\n  selector: {app: mine}\n"
	    "  ports: [{port: 80, targetPort: 9090}]\n");
	free(rt_cli(&e, doc, "apply --cluster alpha -f -"));
	s = rt_wait(&e, "alpha", "default", "taken", SYNCED, 15000);
	svcfleet_free(s);
	k = rt_kget(&e, 0, "default", "taken");
	assert_string_equal(jstr(k, "spec.selector.app"), "mine");
	assert_string_equal(meta_kv(k, "annotations", "svcfleet.io/owner"),
	    installation_id(&e));
	json_decref(k);
	rt_stop(&e);
}

static void
test_garbage_collection(void **state)
{
	rt_env  e;
	char    doc[1200];
	json_t *k;
	char   *out;
	(void) state;

	rt_start(&e, true);
	rt_cluster(&e, 0, "alpha", NULL);
	free(rt_cli(&e, NULL,
	    "create service kept --cluster alpha -n default --selector app=k "
	    "--port 80"));
	svcfleet_free(rt_wait(&e, "alpha", "default", "kept", SYNCED, 15000));
	// Left behind by this installation (say, deleted from a restored
	// store), by another installation, and by this installation for
	// another cluster record naming the same cluster.
	static const struct {
		const char *name, *owner, *record;
	} objs[] = {
	    {"leftover", NULL, "alpha"},
	    {"foreign", "another-installation", "alpha"},
	    {"twin", NULL, "alpha-again"},
	};
	char path[600];
	snprintf(path, sizeof(path), "%s/objs.yaml", e.re_srv.ts_dir);
	for (size_t i = 0; i < 3; i++) {
		snprintf(doc, sizeof(doc),
		    "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n"
		    "  namespace: default\n  labels:\n"
		    "    app.kubernetes.io/managed-by: svcfleet\n"
		    "  annotations:\n    svcfleet.io/owner: %s\n"
		    "    svcfleet.io/cluster: %s\n"
		    "spec:\n  selector: {app: x}\n  ports: [{port: 80}]\n",
		    objs[i].name,
		    objs[i].owner ? objs[i].owner : installation_id(&e),
		    objs[i].record);
		assert_int_equal(th_write_file(path, doc), 0);
		free(rt_kubectl(&e, 0, NULL, "apply -f %s", path));
	}
	for (int t = 0; (k = rt_kget(&e, 0, "default", "leftover")) != NULL;
	     t += 100) {
		json_decref(k);
		assert_true(t < 10000);
		rt_sleep_ms(100);
	}
	rt_sleep_ms(500);
	k = rt_kget(&e, 0, "default", "foreign");
	assert_non_null(k);
	json_decref(k);
	k = rt_kget(&e, 0, "default", "twin");
	assert_non_null(k);
	json_decref(k);
	k = rt_kget(&e, 0, "default", "kept");
	assert_non_null(k);
	json_decref(k);
	out = rt_kubectl(&e, 0, NULL, "get services -n default -o name");
	assert_null(strstr(out, "leftover"));
	free(out);
	rt_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_create_in_two_clusters, rt_teardown),
	    cmocka_unit_test_teardown(test_update_ports_and_type, rt_teardown),
	    cmocka_unit_test_teardown(test_heal_edit_and_delete, rt_teardown),
	    cmocka_unit_test_teardown(
	        test_delete_waits_for_cluster, rt_teardown),
	    cmocka_unit_test_teardown(test_unowned_left_alone, rt_teardown),
	    cmocka_unit_test_teardown(test_garbage_collection, rt_teardown),
	};
	if (access("/usr/bin/kubectl", X_OK) != 0) {
		fprintf(stderr, "kubectl not found: skipped\n");
		return (77);
	}
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
