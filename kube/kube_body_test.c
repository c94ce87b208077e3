// kube_body_test.c: the apply body and the hashes the reconciler decides on.
// The cluster object is made the way an API server makes it from an apply:
// the body plus allocated fields, status, and a managedFields entry for
// manager svcfleet listing the applied fields (selector atomic, ports a
// map keyed by port and protocol).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube.h"
#include "kube_testutil.h"
#include "model.h"

#define OWNER "5e4c2a9a-0000-4000-8000-000000000001"

static const char *const manifest
    = "apiVersion: v1\n"
      "kind: Service\n"
      "metadata:\n"
      "  name: web-front\n"
      "  namespace: shop\n"
      "  labels: {tier: front}\n"
      "  annotations: {team: web}\n"
      "spec:\n"
      "  type: NodePort\n"
      "  selector: {app: web}\n"
      "  ports:\n"
      "  - {name: http, port: 80, targetPort: 8080}\n"
      "  - {name: admin, port: 9000, targetPort: 9000, nodePort: 30900}\n";

// The Service as the store holds it: defaulted, generation 3.
static sf_service *
service(sf_arena *a, const char *text)
{
	sf_manifest_set set;
	sf_status       st;
	sf_service     *svc = NULL;

	sf_status_init(&st);
	assert_int_equal(
	    sf_manifest_parse(text, strlen(text), "t.yaml", &set, &st), 0);
	assert_int_equal(sf_model_service_from_manifest(
	                     set.ms_docs[0].md_obj, "east", a, &svc, &st),
	    0);
	assert_int_equal(sf_model_service_defaults(svc, a), 0);
	svc->metadata->generation = 3;
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);
	return (svc);
}

// What the cluster holds after applying body: server fields added.
static json_t *
cluster_object(const char *body, const char *manager)
{
	json_t *o = json_loads(body, 0, NULL), *ports;
	assert_non_null(o);
	sf_kube_test_applied(o, manager, "42");
	ports = json_object_get(json_object_get(o, "spec"), "ports");
	for (size_t i = 0; i < json_array_size(ports); i++) {
		json_t *p = json_array_get(ports, i);
		if (json_object_get(p, "nodePort") == NULL) {
			json_object_set_new(
			    p, "nodePort", json_integer(31111));
		}
	}
	json_object_set_new(o, "status", json_pack("{s:{}}", "loadBalancer"));
	return (o);
}

static void
test_applied_object_matches(void **state)
{
	sf_arena    a;
	sf_service *svc;
	char       *body;
	uint64_t    want;
	sf_kube_obs ob;
	json_t     *obj, *b;
	(void) state;

	sf_arena_init(&a);
	svc = service(&a, manifest);
	assert_int_equal(sf_kube_body(svc, OWNER, &body, &want), 0);
	// Exactly what svcfleet owns: no status, no svcfleet bookkeeping.
	b = json_loads(body, 0, NULL);
	assert_null(json_object_get(b, "status"));
	assert_null(json_object_get(json_object_get(b, "metadata"), "uid"));
	json_t *ann
	    = json_object_get(json_object_get(b, "metadata"), "annotations");
	assert_string_equal(
	    json_string_value(json_object_get(ann, SF_ANN_OWNER)), OWNER);
	assert_string_equal(
	    json_string_value(json_object_get(ann, SF_ANN_GENERATION)), "3");
	assert_string_equal(
	    json_string_value(json_object_get(ann, SF_ANN_CLUSTER)), "east");
	assert_string_equal(
	    json_string_value(json_object_get(ann, "team")), "web");
	assert_null(json_object_get(ann, SF_ANN_SYNC_STATE));
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(b, "metadata"), "labels"),
	        SF_LABEL_MANAGED_BY)),
	    "svcfleet");
	json_decref(b);

	obj = cluster_object(body, SF_KUBE_FIELD_MANAGER);
	assert_int_equal(sf_kube_observe(obj, OWNER, "east", &ob), 0);
	assert_true(ob.ob_owned);
	assert_int_equal(ob.ob_gen, 3);
	assert_true(ob.ob_has_uid);
	assert_int_equal(ob.ob_hash, want);
	assert_string_equal(
	    ob.ob_facts, "10.96.7.8|http:80/TCP=31111,admin:9000/TCP=30900|");
	sf_kube_obs_fini(&ob);

	// Ports listed in another order are the same Service.
	json_t *ports = json_object_get(json_object_get(obj, "spec"), "ports");
	json_t *first = json_incref(json_array_get(ports, 0));
	json_array_remove(ports, 0);
	json_array_append_new(ports, first);
	assert_int_equal(sf_kube_observe(obj, OWNER, "east", &ob), 0);
	assert_int_equal(ob.ob_hash, want);
	sf_kube_obs_fini(&ob);

	// Another record of the same installation, or another installation:
	// not ours.
	assert_int_equal(sf_kube_observe(obj, OWNER, "west", &ob), 0);
	assert_false(ob.ob_owned);
	sf_kube_obs_fini(&ob);
	assert_int_equal(sf_kube_observe(obj, "someone-else", "east", &ob), 0);
	assert_false(ob.ob_owned);
	sf_kube_obs_fini(&ob);
	json_decref(obj);

	// Applied by another manager: svcfleet owns nothing there.
	obj = cluster_object(body, "kubectl");
	assert_int_equal(sf_kube_observe(obj, OWNER, "east", &ob), 0);
	assert_int_equal(ob.ob_hash, 0);
	sf_kube_obs_fini(&ob);
	json_decref(obj);
	free(body);
	sf_arena_fini(&a);
}

// An edit moves ownership of what it changed away from svcfleet (as
// kubectl edit does): the projection no longer matches.
static void
test_edit_shows_as_drift(void **state)
{
	sf_arena    a;
	sf_service *svc;
	char       *body;
	uint64_t    want;
	sf_kube_obs ob;
	json_t     *obj, *fs;
	(void) state;

	sf_arena_init(&a);
	svc = service(&a, manifest);
	assert_int_equal(sf_kube_body(svc, OWNER, &body, &want), 0);
	obj = cluster_object(body, SF_KUBE_FIELD_MANAGER);
	json_object_set_new(
	    json_object_get(json_object_get(obj, "spec"), "selector"), "app",
	    json_string("evil"));
	fs = json_object_get(
	    json_array_get(json_object_get(json_object_get(obj, "metadata"),
	                       "managedFields"),
	        0),
	    "fieldsV1");
	json_object_del(json_object_get(fs, "f:spec"), "f:selector");
	assert_int_equal(sf_kube_observe(obj, OWNER, "east", &ob), 0);
	assert_true(ob.ob_hash != 0);
	assert_true(ob.ob_hash != want);
	sf_kube_obs_fini(&ob);
	json_decref(obj);
	free(body);
	sf_arena_fini(&a);
}

// A spec change, a label change and a generation change each change the
// desired hash; the same Service built twice does not.
static void
test_desired_hash_follows_changes(void **state)
{
	static const char *const variants[] = {
	    "  - {name: http, port: 81, targetPort: 8080}\n",
	    "  - {name: http, port: 80, targetPort: 8081}\n",
	};
	sf_arena    a;
	sf_service *svc;
	char       *body;
	uint64_t    base, h;
	(void) state;

	sf_arena_init(&a);
	svc = service(&a, manifest);
	assert_int_equal(sf_kube_body(svc, OWNER, &body, &base), 0);
	free(body);
	assert_int_equal(sf_kube_body(svc, OWNER, &body, &h), 0);
	free(body);
	assert_int_equal(h, base);
	svc->metadata->generation = 4;
	assert_int_equal(sf_kube_body(svc, OWNER, &body, &h), 0);
	free(body);
	assert_true(h != base);
	svc->metadata->generation       = 3;
	svc->metadata->labels[0]->value = "back";
	assert_int_equal(sf_kube_body(svc, OWNER, &body, &h), 0);
	free(body);
	assert_true(h != base);
	for (size_t i = 0; i < 2; i++) {
		char text[1000];
		snprintf(text, sizeof(text),
		    "apiVersion: v1\nkind: Service\nmetadata:\n  name: "
		    "web-front\n  namespace: shop\n  labels: {tier: front}\n"
		    "  annotations: {team: web}\nspec:\n  type: NodePort\n"
		    "  selector: {app: web}\n  ports:\n%s"
		    "  - {name: admin, port: 9000, targetPort: 9000, "
		    "nodePort: "
		    "30900}\n",
		    variants[i]);
		svc = service(&a, text);
		assert_int_equal(sf_kube_body(svc, OWNER, &body, &h), 0);
		free(body);
		assert_true(h != base);
	}
	sf_arena_fini(&a);
}

// A report and the status the store keeps of it hash the same, so the
// reconciler can tell it has nothing new to say.
static void
test_status_hash_round_trip(void **state)
{
	sf_arena           a;
	sf_cluster_status  cs    = SVCFLEET__V1__CLUSTER_STATUS__INIT;
	sf_service         svc   = SVCFLEET__V1__SERVICE__INIT;
	sf_cluster_status *arr[] = {&cs};
	const char        *facts
	    = "10.96.7.8|http:80/TCP=31111,admin:9000/TCP=30900|192.168.1.5";
	(void) state;

	sf_arena_init(&a);
	assert_int_equal(sf_kube_facts_fill(facts, &cs, &a), 0);
	assert_string_equal(cs.cluster_ip, "10.96.7.8");
	assert_int_equal(cs.n_node_ports, 2);
	assert_string_equal(cs.node_ports[1]->name, "admin");
	assert_int_equal(cs.node_ports[1]->node_port, 30900);
	assert_int_equal(cs.n_ingress, 1);
	cs.cluster             = "east";
	cs.state               = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED;
	cs.observed_generation = 3;
	cs.message             = "";
	svc.status             = arr;
	svc.n_status           = 1;
	assert_int_equal(sf_kube_stored_status_hash(&svc, "east"),
	    sf_kube_status_hash(cs.state, 3, "", facts));
	assert_int_equal(sf_kube_stored_status_hash(&svc, "west"), 0);
	assert_true(sf_kube_status_hash(cs.state, 2, "", facts)
	    != sf_kube_status_hash(cs.state, 3, "", facts));
	sf_arena_fini(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_applied_object_matches),
	    cmocka_unit_test(test_edit_shows_as_drift),
	    cmocka_unit_test(test_desired_hash_follows_changes),
	    cmocka_unit_test(test_status_hash_round_trip),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
