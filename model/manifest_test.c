// manifest_test.c: Service <-> manifest conversion: round trips through
// YAML and JSON text, golden output, and what reading a manifest keeps,
// converts and drops.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

// Shapes that must survive Service -> manifest -> text -> Service.
static const char *const shapes[] = {
    // Minimal ClusterIP.
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
    "\"web1\",\"namespace\":\"dev\"},\"spec\":{\"selector\":{\"app\":\"web\"},"
    "\"ports\":[{\"port\":80}]}}",
    // NodePort with requested nodePorts, UDP and SCTP, named targets.
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
    "\"dns1\"},\"spec\":{\"type\":\"NodePort\",\"externalTrafficPolicy\":"
    "\"Local\",\"selector\":{\"app\":\"dns\",\"tier\":\"\"},\"ports\":[{"
    "\"name\":\"dns\",\"protocol\":\"UDP\",\"port\":53,\"nodePort\":30053},"
    "{\"name\":\"dns-tcp\",\"port\":53,\"targetPort\":\"dns-tcp\","
    "\"nodePort\":30053},{\"name\":\"sctp\",\"protocol\":\"SCTP\",\"port\":"
    "9000,\"targetPort\":9001,\"appProtocol\":\"example.com/sctp\"}]}}",
    // MetalLB with pool and addresses.
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
    "\"lb-metal\",\"annotations\":{\"metallb.io/address-pool\":\"default\","
    "\"metallb.io/loadBalancerIPs\":\"10.0.0.7,2001:db8::7\"}},\"spec\":{"
    "\"type\":\"LoadBalancer\",\"selector\":{\"app\":\"web\"},\"ports\":[{"
    "\"port\":443,\"targetPort\":8443}]}}",
    // A cloud load balancer with class, address and source ranges.
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
    "\"lb-cloud\"},\"spec\":{\"type\":\"LoadBalancer\",\"loadBalancerClass\":"
    "\"example.com/lb\",\"loadBalancerIP\":\"203.0.113.9\","
    "\"loadBalancerSourceRanges\":[\"10.0.0.0/8\",\" 192.168.0.0/16\"],"
    "\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80}]}}",
    // A bare LoadBalancer.
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
    "\"lb-bare\"},\"spec\":{\"type\":\"LoadBalancer\",\"selector\":{\"a\":"
    "\"b\"},\"ports\":[{\"targetPort\":8080}]}}",
    // Session affinity with a timeout.
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
    "\"sticky\"},\"spec\":{\"sessionAffinity\":\"ClientIP\","
    "\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":600}},"
    "\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80}]}}",
    // Labels and annotations that look like other YAML types.
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
    "\"tricky\",\"labels\":{\"yes\":\"true\",\"n\":\"80\",\"x\":\"1.0\","
    "\"on\":\"\"},\"annotations\":{\"note\":\"two\\nlines\\n\",\"colon\":"
    "\"a: b\",\"hash\":\"#x\",\"null\":\"null\",\"date\":\"2024-01-01\","
    "\"uni\":\"h\\u00e9llo\",\"json\":\"{\\\"a\\\": [1, 2]}\",\"empty\":"
    "\"\",\"tilde\":\"~\"}},\"spec\":{\"selector\":{\"app\":\"web\"},"
    "\"ports\":[{\"port\":80}]}}",
    // svcfleet's own desired-state annotations.
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
    "\"adopt\",\"annotations\":{\"svcfleet.io/allow-adoption\":\"true\","
    "\"svcfleet.io/selector-from\":\"deployment/web\"}},\"spec\":{"
    "\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80}]}}",
};

static sf_service *
reread(sf_arena *a, const char *text, const char *cluster)
{
	sf_manifest_set set;
	sf_status       st;
	sf_service     *svc = NULL;

	sf_status_init(&st);
	if (sf_manifest_parse(text, strlen(text), "rt", &set, &st) != 0) {
		fail_msg("%s\n%s", st.st_msg, text);
	}
	assert_int_equal(set.ms_ndocs, 1);
	if (sf_model_service_from_manifest(
	        set.ms_docs[0].md_obj, cluster, a, &svc, &st)
	    != 0) {
		tu_print_status("reread", &st);
		fail_msg("%s", text);
	}
	assert_int_equal(sf_model_service_defaults(svc, a), 0);
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);
	return (svc);
}

static void
assert_same(const sf_service *x, const sf_service *y, const char *text)
{
	const sf_object_meta *m = x->metadata, *n = y->metadata;

	if (!sf_model_spec_equal(x->spec, y->spec)) {
		fail_msg("specs differ after:\n%s", text);
	}
	assert_string_equal(m->cluster, n->cluster);
	assert_string_equal(m->namespace_, n->namespace_);
	assert_string_equal(m->name, n->name);
	assert_true(sf_model_kvs_equal(
	    m->labels, m->n_labels, n->labels, n->n_labels));
	assert_true(sf_model_kvs_equal(m->annotations, m->n_annotations,
	    n->annotations, n->n_annotations));
}

static void
test_round_trip(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		sf_arena    a;
		sf_status   st;
		sf_service *svc, *yback, *jback;
		sf_buf      yaml = SF_BUF_INIT;
		char       *json;
		json_t     *man;

		sf_arena_init(&a);
		sf_status_init(&st);
		svc = tu_service(&a, shapes[i], "east");
		if (sf_model_service_validate(svc, NULL, &st) != 0) {
			tu_print_status("shape", &st);
			fail_msg("shape %zu is not valid", i);
		}
		svc->metadata->resource_version = 7;
		svc->metadata->generation       = 2;
		man = sf_model_service_to_manifest(svc);
		assert_non_null(man);
		assert_int_equal(sf_model_json_to_yaml(man, &yaml), 0);
		json = json_dumps(man, JSON_INDENT(2));

		yback = reread(&a, yaml.b_data, NULL);
		assert_same(svc, yback, yaml.b_data);
		jback = reread(&a, json, "east");
		assert_same(svc, jback, json);
		// Facts are not desired state: they do not come back.
		assert_int_equal(yback->metadata->resource_version, 0);

		// Printing the re-read object gives the same text again.
		yback->metadata->resource_version = 7;
		yback->metadata->generation       = 2;
		json_t *again = sf_model_service_to_manifest(yback);
		assert_true(json_equal(man, again));

		json_decref(again);
		free(json);
		json_decref(man);
		sf_buf_fini(&yaml);
		sf_status_fini(&st);
		sf_arena_fini(&a);
	}
}

static sf_service *
golden_service(sf_arena *a)
{
	sf_service                       *svc = tu_service(a,
	                          "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	                                                "\"name\":\"web1\",\"namespace\":\"dev\",\"labels\":{\"app\":"
	                                                "\"web\"},\"annotations\":{\"team\":\"a\","
	                                                "\"metallb.io/address-pool\":\"default\"}},\"spec\":{\"type\":"
	                                                "\"LoadBalancer\",\"selector\":{\"app\":\"web\"},\"ports\":[{"
	                                                "\"name\":\"http\",\"port\":80,\"targetPort\":\"http\","
	                                                "\"nodePort\":30080},{\"name\":\"dns\",\"protocol\":\"UDP\","
	                                                "\"port\":53}]}}",
	                          "east");
	static Svcfleet__V1__AssignedPort p1
	    = SVCFLEET__V1__ASSIGNED_PORT__INIT;
	static Svcfleet__V1__AssignedPort p2
	    = SVCFLEET__V1__ASSIGNED_PORT__INIT;
	static Svcfleet__V1__AssignedPort *pp[2];
	static Svcfleet__V1__ClusterStatus cs
	    = SVCFLEET__V1__CLUSTER_STATUS__INIT;
	static Svcfleet__V1__ClusterStatus *csp[1];
	static char *ing[] = {"203.0.113.5", "lb.example.com"};

	p1.name = "http", p1.protocol = "TCP", p1.port = 80,
	p1.node_port = 30080;
	p2.name = "dns", p2.protocol = "UDP", p2.port = 53,
	p2.node_port = 30053;
	pp[0] = &p1, pp[1] = &p2;
	cs.cluster         = "east";
	cs.state           = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED;
	cs.message         = "applied";
	cs.cluster_ip      = "10.96.0.10";
	cs.node_ports      = pp;
	cs.n_node_ports    = 2;
	cs.ingress         = ing;
	cs.n_ingress       = 2;
	csp[0]             = &cs;
	svc->status        = csp;
	svc->n_status      = 1;
	svc->metadata->uid = "7d6c2c1e";
	svc->metadata->resource_version = 42;
	svc->metadata->generation       = 3;
	svc->metadata->create_time_ms = 1767323045000; // 2026-01-02T03:04:05Z
	return (svc);
}

static void
test_golden_yaml(void **state)
{
	sf_arena a;
	sf_buf   b = SF_BUF_INIT;

	(void) state;
	sf_arena_init(&a);
	json_t *m = sf_model_service_to_manifest(golden_service(&a));
	assert_int_equal(sf_model_json_to_yaml(m, &b), 0);
	assert_string_equal(b.b_data,
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata:\n"
	    "  name: web1\n"
	    "  namespace: dev\n"
	    "  generation: 3\n"
	    "  creationTimestamp: \"2026-01-02T03:04:05.000Z\"\n"
	    "  labels:\n"
	    "    app: web\n"
	    "  annotations:\n"
	    "    team: a\n"
	    "    metallb.io/address-pool: default\n"
	    "    metallb.universe.tf/address-pool: default\n"
	    "    svcfleet.io/cluster: east\n"
	    "    svcfleet.io/resource-version: \"42\"\n"
	    "    svcfleet.io/sync-state: SYNCED\n"
	    "    svcfleet.io/sync-message: applied\n"
	    "    svcfleet.io/cluster-ip: 10.96.0.10\n"
	    "    svcfleet.io/node-ports: http:80/TCP=30080,dns:53/UDP=30053\n"
	    "spec:\n"
	    "  ports:\n"
	    "  - name: http\n"
	    "    protocol: TCP\n"
	    "    port: 80\n"
	    "    targetPort: http\n"
	    "    nodePort: 30080\n"
	    "  - name: dns\n"
	    "    protocol: UDP\n"
	    "    port: 53\n"
	    "    targetPort: 53\n"
	    "  selector:\n"
	    "    app: web\n"
	    "  type: LoadBalancer\n"
	    "  sessionAffinity: None\n"
	    "  externalTrafficPolicy: Cluster\n"
	    "status:\n"
	    "  loadBalancer:\n"
	    "    ingress:\n"
	    "    - ip: 203.0.113.5\n"
	    "    - hostname: lb.example.com\n");
	// Never a uid or metadata.resourceVersion: kubectl apply would choke.
	assert_null(strstr(b.b_data, "uid"));
	assert_null(strstr(b.b_data, "resourceVersion"));
	json_decref(m);
	sf_buf_fini(&b);
	sf_arena_fini(&a);
}

static void
test_golden_json(void **state)
{
	sf_arena a;

	(void) state;
	sf_arena_init(&a);
	sf_service *svc = tu_service(&a,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":\"web1\"},\"spec\":{\"sessionAffinity\":\"ClientIP\","
	    "\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80}]}}",
	    NULL);
	json_t     *m   = sf_model_service_to_manifest(svc);
	char       *s   = json_dumps(m, JSON_COMPACT);
	assert_string_equal(s,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":\"web1\",\"namespace\":\"default\"},\"spec\":{\"ports\":"
	    "[{"
	    "\"protocol\":\"TCP\",\"port\":80,\"targetPort\":80}],"
	    "\"selector\":"
	    "{\"app\":\"web\"},\"type\":\"ClusterIP\",\"sessionAffinity\":"
	    "\"ClientIP\",\"sessionAffinityConfig\":{\"clientIP\":{"
	    "\"timeoutSeconds\":30}}},\"status\":{\"loadBalancer\":{}}}");
	free(s);
	json_decref(m);

	// A List of two.
	sf_service *two[] = {svc, svc};
	json_t     *l     = sf_model_services_to_list(two, 2);
	assert_string_equal(
	    json_string_value(json_object_get(l, "kind")), "List");
	assert_string_equal(
	    json_string_value(json_object_get(l, "apiVersion")), "v1");
	assert_int_equal(json_array_size(json_object_get(l, "items")), 2);
	json_decref(l);
	l = sf_model_services_to_list(NULL, 0);
	assert_int_equal(json_array_size(json_object_get(l, "items")), 0);
	json_decref(l);
	sf_arena_fini(&a);
}

static void
test_reading(void **state)
{
	sf_arena a;

	(void) state;
	sf_arena_init(&a);
	// The new MetalLB names win; facts and the reconciler's marks go.
	sf_service            *svc = tu_service(&a,
	               "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	                          "\"name\":\"web1\",\"resourceVersion\":\"123\",\"labels\":{"
	                          "\"app\":\"web\",\"app.kubernetes.io/managed-by\":\"svcfleet\"},"
	                          "\"annotations\":{"
	                          "\"metallb.universe.tf/address-pool\":\"old\","
	                          "\"metallb.io/address-pool\":\"new\","
	                          "\"metallb.universe.tf/loadBalancerIPs\":\"10.0.0.1\","
	                          "\"metallb.io/ip-allocated-from-pool\":\"new\","
	                          "\"svcfleet.io/cluster\":\"west\",\"svcfleet.io/owner\":\"x\","
	                          "\"svcfleet.io/generation\":\"4\",\"svcfleet.io/sync-state\":"
	                          "\"ERROR\",\"svcfleet.io/allow-adoption\":\"true\","
	                          "\"svcfleet.io/selector-from\":\"statefulset/"
	                          "db\",\"keep\":\"me\"}},"
	                          "\"spec\":{\"type\":\"LoadBalancer\",\"selector\":{\"app\":"
	                          "\"web\"},"
	                          "\"ports\":[{\"port\":80}]},\"status\":{\"anything\":[1,2]}}",
	               NULL);
	const sf_object_meta  *m   = svc->metadata;
	const sf_service_spec *sp  = svc->spec;
	assert_string_equal(m->cluster, "west");
	assert_string_equal(m->namespace_, "default");
	assert_int_equal(m->resource_version, 123);
	assert_int_equal(m->n_labels, 1);
	assert_int_equal(m->n_annotations, 1);
	assert_string_equal(m->annotations[0]->key, "keep");
	assert_string_equal(sp->lb_type, "metallb");
	assert_string_equal(sp->lb_pool, "new");
	assert_string_equal(sp->lb_address, "10.0.0.1");
	assert_true(sp->allow_adoption);
	assert_string_equal(sp->selector_from, "statefulset/db");

	// spec.loadBalancerIP and loadBalancerClass make an "other" LB.
	svc = tu_service(&a,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":\"web1\",\"namespace\":\"\"},\"spec\":{\"type\":"
	    "\"LoadBalancer\",\"loadBalancerIP\":\"1.2.3.4\","
	    "\"loadBalancerClass\":\"c\",\"selector\":{\"app\":\"web\"},"
	    "\"ports\":[{\"port\":80,\"targetPort\":\"\"}]}}",
	    "east");
	assert_string_equal(svc->metadata->namespace_, "default");
	assert_string_equal(svc->spec->lb_type, "other");
	assert_string_equal(svc->spec->lb_address, "1.2.3.4");
	assert_string_equal(svc->spec->load_balancer_class, "c");
	assert_int_equal(svc->spec->ports[0]->target_port, 80);
	sf_arena_fini(&a);
}

static void
test_not_an_object(void **state)
{
	sf_arena    a;
	sf_status   st;
	sf_service *svc = (sf_service *) &st;
	json_t     *v   = json_array();

	(void) state;
	sf_arena_init(&a);
	sf_status_init(&st);
	assert_int_equal(
	    sf_model_service_from_manifest(v, "east", &a, &svc, &st),
	    SF_INVALID_ARGUMENT);
	assert_null(svc);
	assert_string_equal(st.st_msg,
	    "expected a Kubernetes object (a mapping), got an array");
	sf_status_fini(&st);
	assert_int_equal(
	    sf_model_service_from_manifest(NULL, "east", &a, &svc, &st),
	    SF_INVALID_ARGUMENT);
	sf_status_fini(&st);
	json_decref(v);
	sf_arena_fini(&a);
}

// Messages built by hand may leave strings NULL and sub-messages absent.
static void
test_null_fields(void **state)
{
	sf_arena         a;
	sf_status        st;
	sf_service       svc     = SVCFLEET__V1__SERVICE__INIT;
	sf_service       svc2    = SVCFLEET__V1__SERVICE__INIT;
	sf_service_port  port    = SVCFLEET__V1__SERVICE_PORT__INIT;
	sf_service_port *ports[] = {&port};

	(void) state;
	sf_arena_init(&a);
	sf_status_init(&st);
	json_t *m = sf_model_service_to_manifest(&svc);
	assert_non_null(m);
	json_decref(m);
	assert_int_equal(
	    sf_model_service_validate(&svc, NULL, &st), SF_INVALID_ARGUMENT);
	sf_status_fini(&st);

	assert_int_equal(sf_model_service_defaults(&svc, &a), 0);
	svc.metadata->name       = NULL;
	svc.metadata->namespace_ = NULL;
	svc.metadata->cluster    = NULL;
	port.name = port.protocol = port.target_port_name = NULL;
	port.app_protocol                                 = NULL;
	port.port                                         = 80;
	svc.spec->ports                                   = ports;
	svc.spec->n_ports                                 = 1;
	svc.spec->lb_pool                                 = NULL;
	svc.spec->selector_from                           = NULL;
	assert_int_equal(sf_model_service_defaults(&svc, &a), 0);
	assert_string_equal(port.protocol, "TCP");
	assert_int_equal(port.target_port, 80);
	assert_int_equal(
	    sf_model_service_validate(&svc, NULL, &st), SF_INVALID_ARGUMENT);
	assert_true(
	    tu_has_violation(&st, "metadata.name", SF_V_REQUIRED, NULL));
	assert_true(
	    tu_has_violation(&st, "metadata.cluster", SF_V_REQUIRED, NULL));
	sf_status_fini(&st);
	m = sf_model_service_to_manifest(&svc);
	assert_non_null(m);
	json_decref(m);
	assert_int_equal(sf_model_service_defaults(&svc2, &a), 0);
	assert_int_equal(
	    sf_model_service_prepare_update(&svc2, &svc, NULL, &a, &st),
	    SF_INVALID_ARGUMENT);
	sf_status_fini(&st);
	sf_arena_fini(&a);
}

static void
test_status_message(void **state)
{
	sf_arena  a;
	sf_status st;

	(void) state;
	sf_arena_init(&a);
	sf_status_init(&st);
	sf_service *svc = tu_service(&a,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":\"web1\"},\"spec\":{\"selector\":{\"app\":\"web\"},"
	    "\"ports\":[{\"port\":80,\"nodePort\":30080}]}}",
	    "east");
	assert_int_equal(
	    sf_model_service_validate(svc, NULL, &st), SF_INVALID_ARGUMENT);
	assert_string_equal(st.st_msg,
	    "Service \"web1\" is invalid: spec.ports[0].nodePort: Forbidden: "
	    "may not be used when `type` is 'ClusterIP'");
	sf_status_fini(&st);
	// Several: Kubernetes' bracketed aggregate.
	svc->spec->ports[0]->port = 0;
	assert_int_equal(
	    sf_model_service_validate(svc, NULL, &st), SF_INVALID_ARGUMENT);
	assert_string_equal(st.st_msg,
	    "Service \"web1\" is invalid: [spec.ports[0].port: Invalid value: "
	    "0: must be between 1 and 65535, inclusive, "
	    "spec.ports[0].nodePort: Forbidden: may not be used when `type` "
	    "is 'ClusterIP']");
	sf_status_fini(&st);
	// Without a status the code is still right.
	assert_int_equal(
	    sf_model_service_validate(svc, NULL, NULL), SF_INVALID_ARGUMENT);
	sf_arena_fini(&a);
}

static void
test_helpers(void **state)
{
	sf_kv a1
	    = {PROTOBUF_C_MESSAGE_INIT(&svcfleet__v1__key_value__descriptor),
	        "a", "1"};
	sf_kv b2
	    = {PROTOBUF_C_MESSAGE_INIT(&svcfleet__v1__key_value__descriptor),
	        "b", "2"};
	sf_kv b3
	    = {PROTOBUF_C_MESSAGE_INIT(&svcfleet__v1__key_value__descriptor),
	        "b", "3"};
	sf_kv *x[] = {&a1, &b2}, *y[] = {&b2, &a1}, *z[] = {&a1, &b3};

	(void) state;
	assert_true(sf_model_kvs_equal(x, 2, y, 2));
	assert_false(sf_model_kvs_equal(x, 2, z, 2));
	assert_false(sf_model_kvs_equal(x, 2, y, 1));
	assert_true(sf_model_kvs_equal(NULL, 0, NULL, 0));
	assert_string_equal(sf_model_kv_get(x, 2, "b"), "2");
	assert_null(sf_model_kv_get(x, 2, "c"));

	assert_string_equal(sf_model_sync_state_name(
	                        SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED),
	    "SYNCED");
	assert_string_equal(
	    sf_model_sync_state_name(
	        SVCFLEET__V1__SYNC_STATE__SYNC_STATE_WAITING_ADDRESS),
	    "WAITING_ADDRESS");
	assert_string_equal(
	    sf_model_sync_state_name((Svcfleet__V1__SyncState) 99),
	    "UNSPECIFIED");
	assert_int_equal(sf_model_sync_state_parse("SYNCED"),
	    SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED);
	assert_int_equal(sf_model_sync_state_parse("sync_state_error"),
	    SVCFLEET__V1__SYNC_STATE__SYNC_STATE_ERROR);
	assert_int_equal(sf_model_sync_state_parse("nope"), -1);
	assert_int_equal(sf_model_sync_state_parse(NULL), -1);

	assert_null(sf_model_check_dns1123_label("dev"));
	assert_non_null(sf_model_check_dns1123_label("Dev"));
	assert_non_null(sf_model_check_dns1123_label(""));
	assert_null(sf_model_check_dns1035_label("web"));
	assert_non_null(sf_model_check_dns1035_label("1web"));
	assert_null(sf_model_check_qualified_name("example.com/Name_1"));
	assert_non_null(sf_model_check_qualified_name("a/b/c"));
	assert_null(sf_model_check_label_value(""));
	assert_non_null(sf_model_check_label_value("-x"));
}

// kubectl itself must read our YAML back to the same object. `annotate
// --local` decodes a file with kubectl's own decoder and needs no cluster.
// Skipped when kubectl is not installed.
static void
test_kubectl_reads_our_yaml(void **state)
{
	sf_arena a;
	sf_buf   b      = SF_BUF_INIT;
	char     path[] = "/tmp/sf_model_kubectl_XXXXXX";
	char     cmd[512];
	FILE    *f;
	int      fd;

	(void) state;
	if (system("kubectl version --client >/dev/null 2>&1") != 0) {
		skip();
	}
	sf_arena_init(&a);
	sf_service *svc = golden_service(&a);
	// Values every YAML reader is tempted to retype.
	static const char *const vals[] = {"true", "yes", "1.0", "null", "~",
	    "1:20", "2024-01-01", "- x", "a: b", "#c", "", "0x1F",
	    "two\nlines\n", "'q'", "h\xc3\xa9llo"};
	size_t                   n      = sizeof(vals) / sizeof(vals[0]);
	sf_kv                  **anns = sf_arena_zalloc(&a, n * sizeof(*anns));
	for (size_t i = 0; i < n; i++) {
		anns[i]        = sf_arena_zalloc(&a, sizeof(sf_kv));
		*anns[i]       = (sf_kv) SVCFLEET__V1__KEY_VALUE__INIT;
		anns[i]->key   = sf_arena_printf(&a, "example.com/v%zu", i);
		anns[i]->value = (char *) vals[i];
	}
	svc->metadata->annotations   = anns;
	svc->metadata->n_annotations = n;
	json_t *m                    = sf_model_service_to_manifest(svc);
	assert_int_equal(sf_model_json_to_yaml(m, &b), 0);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(b.b_data, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
	    "KUBECONFIG=/dev/null kubectl annotate --local -f %s "
	    "sf-check=1 -o json 2>&1",
	    path);
	f = popen(cmd, "r");
	assert_non_null(f);
	sf_buf out = SF_BUF_INIT;
	char   chunk[4096];
	size_t got;
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		sf_buf_put(&out, chunk, got);
	}
	assert_int_equal(pclose(f), 0);
	unlink(path);

	json_t *k = tu_json(out.b_data);
	json_object_del(
	    json_object_get(json_object_get(k, "metadata"), "annotations"),
	    "sf-check");
	if (!json_equal(m, k)) {
		fail_msg("kubectl read:\n%s\nfrom:\n%s", out.b_data, b.b_data);
	}
	json_decref(k);

	// And the other way: kubectl's YAML, read by us.
	strcpy(path, "/tmp/sf_model_kubectl_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(b.b_data, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
	    "KUBECONFIG=/dev/null kubectl annotate --local -f %s "
	    "sf-check=1 -o yaml 2>&1",
	    path);
	f = popen(cmd, "r");
	assert_non_null(f);
	sf_buf_reset(&out);
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		sf_buf_put(&out, chunk, got);
	}
	assert_int_equal(pclose(f), 0);
	unlink(path);
	sf_manifest_set set;
	sf_status       st;
	sf_status_init(&st);
	if (sf_manifest_parse(out.b_data, out.b_len, "kubectl", &set, &st)
	    != 0) {
		fail_msg("%s\n%s", st.st_msg, out.b_data);
	}
	k = set.ms_docs[0].md_obj;
	json_object_del(
	    json_object_get(json_object_get(k, "metadata"), "annotations"),
	    "sf-check");
	if (!json_equal(m, k)) {
		fail_msg(
		    "we read kubectl's YAML differently:\n%s", out.b_data);
	}
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);
	json_decref(m);
	sf_buf_fini(&out);
	sf_buf_fini(&b);
	sf_arena_fini(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_golden_yaml),
	    cmocka_unit_test(test_golden_json),
	    cmocka_unit_test(test_reading),
	    cmocka_unit_test(test_not_an_object),
	    cmocka_unit_test(test_null_fields),
	    cmocka_unit_test(test_status_message),
	    cmocka_unit_test(test_helpers),
	    cmocka_unit_test(test_kubectl_reads_our_yaml),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
