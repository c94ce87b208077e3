// kubefake_http_test.c: kubefake over raw HTTPS (libcurl): every Status
// shape, validation causes, allocation, patches, server-side apply,
// lists with continue, watches (initial events, bookmarks, expiry),
// MetalLB, and each fault switch.
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kft.h"

static kft K;

#define SVCS "/api/v1/namespaces/default/services"

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

// svc builds a Service manifest from a spec JSON fragment.
static char *
svc(const char *name, const char *spec)
{
	char *s = NULL;
	if (asprintf(&s,
	        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	        "\"name\":\"%s\"},\"spec\":%s}",
	        name, spec)
	    < 0) {
		return NULL;
	}
	return s;
}

static long
create(const char *name, const char *spec, kft_resp *r)
{
	char *b = svc(name, spec);
	kft_do(&K, "POST", SVCS, NULL, b, r);
	free(b);
	return r->r_code;
}

static void
del(const char *name)
{
	char     path[256];
	kft_resp r;
	snprintf(path, sizeof(path), SVCS "/%s", name);
	kft_do(&K, "DELETE", path, NULL, NULL, &r);
	kft_resp_fini(&r);
}

static void
assert_status(kft_resp *r, long code, const char *reason, const char *msg)
{
	if (r->r_code != code) {
		fprintf(stderr, "body: %s\n", r->r_body);
	}
	assert_int_equal(r->r_code, code);
	assert_non_null(r->r_json);
	assert_string_equal(kft_jstr(r->r_json, "kind"), "Status");
	assert_string_equal(kft_jstr(r->r_json, "apiVersion"), "v1");
	assert_string_equal(kft_jstr(r->r_json, "status"), "Failure");
	assert_int_equal(
	    json_integer_value(kft_jget(r->r_json, "code")), code);
	assert_non_null(kft_jget(r->r_json, "metadata"));
	if (reason) {
		assert_string_equal(kft_jstr(r->r_json, "reason"), reason);
	}
	if (msg) {
		assert_string_equal(kft_jstr(r->r_json, "message"), msg);
	}
}

// has_cause checks details.causes for (field, reason, message).
static bool
has_cause(kft_resp *r, const char *field, const char *reason, const char *msg)
{
	json_t *causes = kft_jget(r->r_json, "details.causes");
	size_t  i;
	json_t *c;
	json_array_foreach(causes, i, c)
	{
		const char *f = kft_jstr(c, "field");
		const char *t = kft_jstr(c, "reason");
		const char *m = kft_jstr(c, "message");
		if (f && t && m && strcmp(f, field) == 0
		    && strcmp(t, reason) == 0
		    && (msg == NULL || strcmp(m, msg) == 0)) {
			return true;
		}
	}
	fprintf(stderr, "no cause %s %s %s in %s\n", field, reason,
	    msg ? msg : "", r->r_body);
	return false;
}

static int
setup(void **state)
{
	(void) state;
	curl_global_init(CURL_GLOBAL_ALL);
	static const char *extra[]
	    = {"--metallb-pool", "pool-a=192.168.50.0/30", "--metallb-pool",
	        "pool-b=192.168.60.0/31", "--lb-delay-ms", "20",
	        "--bookmark-interval-ms", "200", NULL};
	return kft_start(&K, extra);
}

static int
teardown(void **state)
{
	(void) state;
	int rc = kft_stop(&K);
	kft_cleanup(&K);
	curl_global_cleanup();
	return rc == 0 ? 0 : -1;
}

// ---- authentication
// ------------------------------------------------------------

static void
test_401(void **state)
{
	(void) state;
	CURL    *h = curl_easy_init();
	kft_resp r;
	kft_req(&K, h, NULL, "GET", SVCS, NULL, NULL, &r);
	assert_status(&r, 401, "Unauthorized", "Unauthorized");
	assert_null(kft_jget(r.r_json, "details"));
	kft_resp_fini(&r);
	kft_req(&K, h, "wrong-token", "GET", "/version", NULL, NULL, &r);
	assert_status(&r, 401, "Unauthorized", "Unauthorized");
	kft_resp_fini(&r);
	// Public endpoints answer without a token.
	kft_req(&K, h, NULL, "GET", "/readyz", NULL, NULL, &r);
	assert_int_equal(r.r_code, 200);
	assert_string_equal(r.r_body, "ok");
	kft_resp_fini(&r);
	curl_easy_cleanup(h);
}

static void
test_403(void **state)
{
	(void) state;
	CURL    *h = curl_easy_init();
	kft_resp r;
	char    *b = svc("ro", "{\"ports\":[{\"port\":80}]}");
	kft_req(&K, h, KFT_RO_TOKEN, "POST", SVCS, NULL, b, &r);
	free(b);
	assert_status(&r, 403, "Forbidden",
	    "services is forbidden: User \"kubefake-readonly\" cannot create "
	    "resource \"services\" in API group \"\" in the namespace "
	    "\"default\"");
	assert_string_equal(kft_jstr(r.r_json, "details.kind"), "services");
	kft_resp_fini(&r);
	kft_req(
	    &K, h, KFT_RO_TOKEN, "DELETE", SVCS "/kubernetes", NULL, NULL, &r);
	assert_status(&r, 403, "Forbidden",
	    "services \"kubernetes\" is forbidden: User \"kubefake-readonly\" "
	    "cannot delete resource \"services\" in API group \"\" in the "
	    "namespace \"default\"");
	assert_string_equal(kft_jstr(r.r_json, "details.name"), "kubernetes");
	kft_resp_fini(&r);
	kft_req(
	    &K, h, KFT_RO_TOKEN, "GET", SVCS "/kubernetes", NULL, NULL, &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);
	curl_easy_cleanup(h);
}

// ---- Status shapes
// -----------------------------------------------------------

static void
test_404(void **state)
{
	(void) state;
	kft_resp r;
	kft_do(&K, "GET", SVCS "/nope", NULL, NULL, &r);
	assert_status(&r, 404, "NotFound", "services \"nope\" not found");
	assert_string_equal(kft_jstr(r.r_json, "details.kind"), "services");
	assert_string_equal(kft_jstr(r.r_json, "details.name"), "nope");
	kft_resp_fini(&r);
	char *b = svc("x", "{\"ports\":[{\"port\":80}]}");
	kft_do(&K, "POST", "/api/v1/namespaces/missing/services", NULL, b, &r);
	free(b);
	assert_status(&r, 404, "NotFound", "namespaces \"missing\" not found");
	kft_resp_fini(&r);
	kft_do(&K, "GET", "/api/v1/nothing", NULL, NULL, &r);
	assert_status(&r, 404, "NotFound",
	    "the server could not find the requested resource");
	kft_resp_fini(&r);
}

static void
test_409_already_exists(void **state)
{
	(void) state;
	kft_resp r;
	assert_int_equal(
	    create("dup", "{\"ports\":[{\"port\":80}]}", &r), 201);
	kft_resp_fini(&r);
	create("dup", "{\"ports\":[{\"port\":80}]}", &r);
	assert_status(
	    &r, 409, "AlreadyExists", "services \"dup\" already exists");
	assert_string_equal(kft_jstr(r.r_json, "details.name"), "dup");
	assert_string_equal(kft_jstr(r.r_json, "details.kind"), "services");
	kft_resp_fini(&r);
	del("dup");
}

static void
test_409_conflict(void **state)
{
	(void) state;
	kft_resp r;
	assert_int_equal(create("cf", "{\"ports\":[{\"port\":80}]}", &r), 201);
	json_t *obj = json_deep_copy(r.r_json);
	kft_resp_fini(&r);
	// Move it on, then PUT the stale copy.
	kft_do(&K, "PATCH", SVCS "/cf", "application/merge-patch+json",
	    "{\"metadata\":{\"labels\":{\"a\":\"b\"}}}", &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);
	char *body = json_dumps(obj, 0);
	kft_do(&K, "PUT", SVCS "/cf", NULL, body, &r);
	assert_status(&r, 409, "Conflict",
	    "Operation cannot be fulfilled on services \"cf\": the object has "
	    "been modified; please apply your changes to the latest version "
	    "and try again");
	kft_resp_fini(&r);
	// Without resourceVersion the PUT is unconditional.
	json_object_del(json_object_get(obj, "metadata"), "resourceVersion");
	free(body);
	body = json_dumps(obj, 0);
	kft_do(&K, "PUT", SVCS "/cf", NULL, body, &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);
	free(body);
	json_decref(obj);
	del("cf");
}

static void
test_409_field_manager_conflict(void **state)
{
	(void) state;
	kft_resp    r;
	const char *a
	    = "apiVersion: v1\nkind: Service\nmetadata:\n  name: ssa\n"
	      "spec:\n  type: NodePort\n  selector: {app: a}\n"
	      "  ports:\n  - port: 80\n    targetPort: 8080\n";
	kft_do(&K, "PATCH", SVCS "/ssa?fieldManager=alice",
	    "application/apply-patch+yaml", a, &r);
	assert_int_equal(r.r_code, 201); // apply creates
	kft_resp_fini(&r);
	const char *b
	    = "apiVersion: v1\nkind: Service\nmetadata:\n  name: ssa\n"
	      "spec:\n  type: ClusterIP\n";
	kft_do(&K, "PATCH", SVCS "/ssa?fieldManager=bob",
	    "application/apply-patch+yaml", b, &r);
	assert_status(&r, 409, "Conflict",
	    "Apply failed with 1 conflict: conflict with \"alice\": "
	    ".spec.type");
	assert_true(has_cause(&r, ".spec.type", "FieldManagerConflict",
	    "conflict with \"alice\""));
	kft_resp_fini(&r);
	// Two fields in conflict: the message lists them.
	const char *c
	    = "apiVersion: v1\nkind: Service\nmetadata:\n  name: ssa\n"
	      "spec:\n  type: ClusterIP\n  selector: {app: b}\n";
	kft_do(&K, "PATCH", SVCS "/ssa?fieldManager=bob",
	    "application/apply-patch+yaml", c, &r);
	assert_status(&r, 409, "Conflict",
	    "Apply failed with 2 conflicts: conflict with \"alice\":\n- "
	    ".spec.selector\n- .spec.type");
	kft_resp_fini(&r);
	// An Update manager is named with its API version.
	kft_do(&K, "PATCH", SVCS "/ssa?fieldManager=carol",
	    "application/merge-patch+json",
	    "{\"spec\":{\"sessionAffinity\":\"ClientIP\"}}", &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);
	const char *d
	    = "apiVersion: v1\nkind: Service\nmetadata:\n  name: ssa\n"
	      "spec:\n  sessionAffinity: None\n";
	kft_do(&K, "PATCH", SVCS "/ssa?fieldManager=bob",
	    "application/apply-patch+yaml", d, &r);
	assert_status(&r, 409, "Conflict",
	    "Apply failed with 1 conflict: conflict with \"carol\" using v1: "
	    ".spec.sessionAffinity");
	kft_resp_fini(&r);
	// force=true takes ownership.
	kft_do(&K, "PATCH", SVCS "/ssa?fieldManager=bob&force=true",
	    "application/apply-patch+yaml", b, &r);
	assert_int_equal(r.r_code, 200);
	assert_string_equal(kft_jstr(r.r_json, "spec.type"), "ClusterIP");
	// NodePort -> ClusterIP released the node port.
	assert_null(kft_jget(r.r_json, "spec.ports.0.nodePort"));
	json_t *mf       = kft_jget(r.r_json, "metadata.managedFields");
	bool    bob_type = false, alice_type = false;
	size_t  i;
	json_t *e;
	json_array_foreach(mf, i, e)
	{
		json_t *t = kft_jget(e, "fieldsV1.f:spec.f:type");
		if (strcmp(kft_jstr(e, "manager"), "bob") == 0 && t) {
			bob_type = true;
			assert_string_equal(kft_jstr(e, "operation"), "Apply");
			assert_string_equal(
			    kft_jstr(e, "fieldsType"), "FieldsV1");
			assert_non_null(kft_jstr(e, "time"));
		}
		if (strcmp(kft_jstr(e, "manager"), "alice") == 0 && t) {
			alice_type = true;
		}
	}
	assert_true(bob_type);
	assert_false(alice_type);
	kft_resp_fini(&r);
	// fieldManager is required; force is only for apply.
	kft_do(
	    &K, "PATCH", SVCS "/ssa", "application/apply-patch+yaml", b, &r);
	assert_status(&r, 422, "Invalid",
	    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
	    "value: is required for apply patch");
	kft_resp_fini(&r);
	kft_do(&K, "PATCH", SVCS "/ssa?force=true",
	    "application/merge-patch+json", "{}", &r);
	assert_status(&r, 422, "Invalid",
	    "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may "
	    "not be specified for non-apply patch");
	kft_resp_fini(&r);
	del("ssa");
}

static void
test_ssa_lifecycle(void **state)
{
	(void) state;
	kft_resp    r;
	const char *v1
	    = "apiVersion: v1\nkind: Service\nmetadata:\n  name: life\n"
	      "  labels: {a: x, b: y}\nspec:\n  selector: {app: l}\n"
	      "  ports:\n  - name: http\n    port: 80\n"
	      "  - name: dns\n    port: 53\n    protocol: UDP\n";
	kft_do(&K, "PATCH", SVCS "/life?fieldManager=svcfleet&force=true",
	    "application/apply-patch+yaml", v1, &r);
	assert_int_equal(r.r_code, 201);
	const char *rv1 = kft_jstr(r.r_json, "metadata.resourceVersion");
	char        rv[32];
	snprintf(rv, sizeof(rv), "%s", rv1);
	assert_string_equal(
	    kft_jstr(r.r_json, "spec.ports.0.protocol"), "TCP"); // defaulted
	assert_int_equal(
	    json_integer_value(kft_jget(r.r_json, "spec.ports.0.targetPort")),
	    80);
	json_t *k = kft_jget(
	    r.r_json, "metadata.managedFields.0.fieldsV1.f:spec.f:ports");
	assert_non_null(
	    json_object_get(k, "k:{\"port\":53,\"protocol\":\"UDP\"}"));
	assert_non_null(
	    json_object_get(k, "k:{\"port\":80,\"protocol\":\"TCP\"}"));
	kft_resp_fini(&r);
	// Re-applying the same manifest writes nothing.
	kft_do(&K, "PATCH", SVCS "/life?fieldManager=svcfleet&force=true",
	    "application/apply-patch+yaml", v1, &r);
	assert_int_equal(r.r_code, 200);
	assert_string_equal(
	    kft_jstr(r.r_json, "metadata.resourceVersion"), rv);
	kft_resp_fini(&r);
	// Fields the applier drops are removed: label b and the UDP port.
	const char *v2
	    = "apiVersion: v1\nkind: Service\nmetadata:\n  name: life\n"
	      "  labels: {a: x}\nspec:\n  selector: {app: l}\n"
	      "  ports:\n  - name: http\n    port: 80\n";
	kft_do(&K, "PATCH", SVCS "/life?fieldManager=svcfleet&force=true",
	    "application/apply-patch+yaml", v2, &r);
	assert_int_equal(r.r_code, 200);
	assert_null(kft_jget(r.r_json, "metadata.labels.b"));
	assert_string_equal(kft_jstr(r.r_json, "metadata.labels.a"), "x");
	assert_int_equal(json_array_size(kft_jget(r.r_json, "spec.ports")), 1);
	assert_string_not_equal(
	    kft_jstr(r.r_json, "metadata.resourceVersion"), rv);
	// The cluster IP survives: nobody owns it, the allocator set it.
	assert_non_null(kft_jstr(r.r_json, "spec.clusterIP"));
	kft_resp_fini(&r);
	// A field another manager also set stays when one applier drops it.
	kft_do(&K, "PATCH", SVCS "/life?fieldManager=other",
	    "application/apply-patch+yaml",
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: life\n"
	    "  labels: {a: x}\n",
	    &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);
	kft_do(&K, "PATCH", SVCS "/life?fieldManager=svcfleet&force=true",
	    "application/apply-patch+yaml",
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: life\nspec:\n"
	    "  selector: {app: l}\n  ports:\n  - name: http\n    port: 80\n",
	    &r);
	assert_int_equal(r.r_code, 200);
	assert_string_equal(kft_jstr(r.r_json, "metadata.labels.a"), "x");
	kft_resp_fini(&r);
	// Apply rejects managedFields and a missing kind.
	kft_do(&K, "PATCH", SVCS "/life?fieldManager=x",
	    "application/apply-patch+yaml",
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: life\n"
	    "  managedFields: [{manager: x}]\n",
	    &r);
	assert_status(
	    &r, 400, "BadRequest", "metadata.managedFields must be nil");
	kft_resp_fini(&r);
	del("life");
}

static void
test_ssa_shared_item(void **state)
{
	(void) state;
	kft_resp r;
	kft_do(&K, "PATCH", SVCS "/shared?fieldManager=svcfleet&force=true",
	    "application/apply-patch+yaml",
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: shared\nspec:\n"
	    "  ports:\n  - {name: a, port: 80}\n  - {name: b, port: 81}\n",
	    &r);
	assert_int_equal(r.r_code, 201);
	kft_resp_fini(&r);
	// Another manager changes two fields of the port-80 item.
	kft_do(&K, "PATCH", SVCS "/shared?fieldManager=editor",
	    "application/strategic-merge-patch+json",
	    "{\"spec\":{\"ports\":[{\"port\":80,\"name\":\"a2\","
	    "\"targetPort\":"
	    "9090}]}}",
	    &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);
	// The applier stops sending port 80: the item stays (the editor owns
	// part of it) and keeps its key fields.
	kft_do(&K, "PATCH", SVCS "/shared?fieldManager=svcfleet",
	    "application/apply-patch+yaml",
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: shared\nspec:\n"
	    "  ports:\n  - {name: b, port: 81}\n  - {name: c, port: 82}\n",
	    &r);
	if (r.r_code != 200) {
		fprintf(stderr, "%s\n", r.r_body);
	}
	assert_int_equal(r.r_code, 200);
	json_t *ports = kft_jget(r.r_json, "spec.ports");
	assert_int_equal(json_array_size(ports), 3);
	bool    kept = false;
	size_t  i;
	json_t *p;
	json_array_foreach(ports, i, p)
	{
		if (json_integer_value(json_object_get(p, "port")) == 80) {
			kept = true;
			assert_string_equal(kft_jstr(p, "name"), "a2");
			assert_int_equal(json_integer_value(
			                     json_object_get(p, "targetPort")),
			    9090);
		}
	}
	assert_true(kept);
	kft_resp_fini(&r);
	del("shared");
}

// ---- 422
// ---------------------------------------------------------------------

typedef struct vcase {
	const char *name;
	const char *spec;
	const char *field;
	const char *reason;
	const char *msg;
} vcase;

static const vcase vcases[] = {
    {"v-port0", "{\"ports\":[{\"port\":0}]}", "spec.ports[0].port",
        "FieldValueInvalid",
        "Invalid value: 0: must be between 1 and 65535, inclusive"},
    {"v-np-clusterip", "{\"ports\":[{\"port\":80,\"nodePort\":30080}]}",
        "spec.ports[0].nodePort", "FieldValueForbidden",
        "Forbidden: may not be used when `type` is 'ClusterIP'"},
    {"v-np-range",
        "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":40000}]}",
        "spec.ports[0].nodePort", "FieldValueInvalid",
        "Invalid value: 40000: provided port is not in the valid range. The "
        "range of valid ports is 30000-32767"},
    {"v-proto", "{\"ports\":[{\"port\":80,\"protocol\":\"FOO\"}]}",
        "spec.ports[0].protocol", "FieldValueNotSupported",
        "Unsupported value: \"FOO\": supported values: \"SCTP\", \"TCP\", "
        "\"UDP\""},
    {"v-names", "{\"ports\":[{\"port\":80},{\"port\":81}]}",
        "spec.ports[1].name", "FieldValueRequired", "Required value"},
    {"v-dupname",
        "{\"ports\":[{\"name\":\"a\",\"port\":80},{\"name\":\"a\",\"port\":81}"
        "]}",
        "spec.ports[1].name", "FieldValueDuplicate", "Duplicate value: \"a\""},
    {"v-dupport",
        "{\"ports\":[{\"name\":\"a\",\"port\":80},{\"name\":\"b\",\"port\":80}"
        "]}",
        "spec.ports[1]", "FieldValueDuplicate", NULL},
    {"v-type", "{\"type\":\"Foo\",\"ports\":[{\"port\":80}]}", "spec.type",
        "FieldValueNotSupported",
        "Unsupported value: \"Foo\": supported values: \"ClusterIP\", "
        "\"ExternalName\", \"LoadBalancer\", \"NodePort\""},
    {"v-timeout",
        "{\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":{"
        "\"clientIP\":{\"timeoutSeconds\":86401}},\"ports\":[{\"port\":80}]}",
        "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
        "FieldValueInvalid",
        "Invalid value: 86401: must be greater than 0 and less than 86400"},
    {"v-affinity",
        "{\"sessionAffinity\":\"Sticky\",\"ports\":[{\"port\":80}]}",
        "spec.sessionAffinity", "FieldValueNotSupported",
        "Unsupported value: \"Sticky\": supported values: \"ClientIP\", "
        "\"None\""},
    {"Bad_Name", "{\"ports\":[{\"port\":80}]}", "metadata.name",
        "FieldValueInvalid",
        "Invalid value: \"Bad_Name\": a DNS-1035 label must consist of lower "
        "case alphanumeric characters or '-', start with an alphabetic "
        "character, and end with an alphanumeric character (e.g. 'my-name',  "
        "or 'abc-123', regex used for validation is "
        "'[a-z]([-a-z0-9]*[a-z0-9])?')"},
    {"v-selector",
        "{\"selector\":{\"app\":\"a b\"},\"ports\":[{\"port\":80}]}",
        "spec.selector", "FieldValueInvalid", NULL},
    {"v-etp",
        "{\"externalTrafficPolicy\":\"Local\",\"ports\":[{\"port\":80}]}",
        "spec.externalTrafficPolicy", "FieldValueInvalid",
        "Invalid value: \"Local\": may only be set for externally-accessible "
        "services"},
    {"v-ranges",
        "{\"loadBalancerSourceRanges\":[\"10.0.0.0/8\"],\"ports\":[{\"port\":"
        "80}]}",
        "spec.LoadBalancerSourceRanges", "FieldValueForbidden",
        "Forbidden: may only be used when `type` is 'LoadBalancer'"},
    {"v-badip", "{\"clusterIP\":\"1.2.3\",\"ports\":[{\"port\":0}]}",
        "spec.clusterIPs[0]", "FieldValueInvalid",
        "Invalid value: \"1.2.3\": must be a valid IP address, (e.g. 10.9.8.7 "
        "or 2001:db8::ffff)"},
    {"v-iprange", "{\"clusterIP\":\"1.1.1.1\",\"ports\":[{\"port\":80}]}",
        "spec.clusterIPs", "FieldValueInvalid",
        "Invalid value: []string{\"1.1.1.1\"}: failed to allocate IP "
        "1.1.1.1: the provided IP (1.1.1.1) is not in the valid range. The "
        "range of valid IPs is 10.96.0.0/12"},
    {"v-tport", "{\"ports\":[{\"port\":80,\"targetPort\":\"http--x\"}]}",
        "spec.ports[0].targetPort", "FieldValueInvalid",
        "Invalid value: \"http--x\": must not contain consecutive hyphens"},
    {"v-extname", "{\"type\":\"ExternalName\"}", "spec.externalName",
        "FieldValueRequired", "Required value"},
    {"v-lbclass", "{\"loadBalancerClass\":\"x/y\",\"ports\":[{\"port\":80}]}",
        "spec.loadBalancerClass", "FieldValueForbidden",
        "Forbidden: may only be used when `type` is 'LoadBalancer'"},
    {"v-alnp",
        "{\"type\":\"NodePort\",\"allocateLoadBalancerNodePorts\":false,"
        "\"ports\":[{\"port\":80}]}",
        "spec.allocateLoadBalancerNodePorts", "FieldValueForbidden",
        "Forbidden: may only be used when `type` is 'LoadBalancer'"},
    {"v-noports", "{\"selector\":{\"a\":\"b\"}}", "spec.ports",
        "FieldValueRequired", "Required value"},
    {"v-portname", "{\"ports\":[{\"name\":\"Http\",\"port\":80}]}",
        "spec.ports[0].name", "FieldValueInvalid", NULL},
    {"v-headless-np",
        "{\"type\":\"NodePort\",\"clusterIP\":\"None\",\"ports\":[{\"port\":"
        "80}]}",
        "spec.clusterIPs[0]", "FieldValueInvalid",
        "Invalid value: \"None\": may not be set to 'None' for NodePort "
        "services"},
    {"v-dualstack",
        "{\"ipFamilyPolicy\":\"RequireDualStack\",\"ports\":[{\"port\":80}]}",
        "spec.ipFamilyPolicy", "FieldValueInvalid",
        "Invalid value: \"RequireDualStack\": this cluster is not configured "
        "for dual-stack services"},
};

static void
test_422_causes(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(vcases) / sizeof(vcases[0]); i++) {
		const vcase *c = &vcases[i];
		kft_resp     r;
		create(c->name, c->spec, &r);
		if (r.r_code != 422) {
			fprintf(stderr, "case %s: %s\n", c->name, r.r_body);
		}
		assert_status(&r, 422, "Invalid", NULL);
		assert_string_equal(
		    kft_jstr(r.r_json, "details.kind"), "Service");
		assert_string_equal(
		    kft_jstr(r.r_json, "details.name"), c->name);
		assert_null(kft_jget(r.r_json, "details.group"));
		assert_true(has_cause(&r, c->field, c->reason, c->msg));
		kft_resp_fini(&r);
	}
	// One error: "<kind> \"name\" is invalid: field: body".
	kft_resp r;
	create("agg1", "{\"ports\":[{\"port\":80,\"nodePort\":30080}]}", &r);
	assert_string_equal(kft_jstr(r.r_json, "message"),
	    "Service \"agg1\" is invalid: spec.ports[0].nodePort: Forbidden: "
	    "may "
	    "not be used when `type` is 'ClusterIP'");
	kft_resp_fini(&r);
	// Several: joined in brackets.
	create("agg2", "{\"type\":\"Foo\",\"ports\":[{\"port\":70000}]}", &r);
	assert_string_equal(kft_jstr(r.r_json, "message"),
	    "Service \"agg2\" is invalid: [spec.ports[0].port: Invalid value: "
	    "70000: must be between 1 and 65535, inclusive, "
	    "spec.ports[0].targetPort: Invalid value: 70000: must be between "
	    "1 "
	    "and 65535, inclusive, spec.type: Unsupported value: \"Foo\": "
	    "supported values: \"ClusterIP\", \"ExternalName\", "
	    "\"LoadBalancer\", \"NodePort\"]");
	kft_resp_fini(&r);
	// A malformed cluster IP reports only the IP errors (allocation
	// runs before the rest of validation).
	create("v-badip2",
	    "{\"clusterIP\":\"1.2.3\",\"ports\":[{\"port\":0}]}", &r);
	assert_int_equal(
	    json_array_size(kft_jget(r.r_json, "details.causes")), 1);
	kft_resp_fini(&r);
}

static void
test_422_nodeport_allocated(void **state)
{
	(void) state;
	kft_resp r;
	assert_int_equal(create("np-a",
	                     "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,"
	                     "\"nodePort\":30555}]}",
	                     &r),
	    201);
	kft_resp_fini(&r);
	create("np-b",
	    "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":"
	    "30555}]}",
	    &r);
	assert_status(&r, 422, "Invalid",
	    "Service \"np-b\" is invalid: spec.ports[0].nodePort: Invalid "
	    "value: "
	    "30555: provided port is already allocated");
	kft_resp_fini(&r);
	// Same cluster IP twice.
	create("ip-a",
	    "{\"clusterIP\":\"10.96.0.77\",\"ports\":[{\"port\":80}]}", &r);
	assert_int_equal(r.r_code, 201);
	kft_resp_fini(&r);
	create("ip-b",
	    "{\"clusterIP\":\"10.96.0.77\",\"ports\":[{\"port\":80}]}", &r);
	assert_true(has_cause(&r, "spec.clusterIPs", "FieldValueInvalid",
	    "Invalid value: []string{\"10.96.0.77\"}: failed to allocate IP "
	    "10.96.0.77: provided IP is already allocated"));
	kft_resp_fini(&r);
	// NodePort -> ClusterIP by PUT of the whole object releases the port.
	kft_do(&K, "GET", SVCS "/np-a", NULL, NULL, &r);
	json_t *o = json_deep_copy(r.r_json);
	kft_resp_fini(&r);
	json_object_set_new(
	    json_object_get(o, "spec"), "type", json_string("ClusterIP"));
	json_object_del(json_object_get(o, "spec"), "externalTrafficPolicy");
	char *body = json_dumps(o, 0);
	kft_do(&K, "PUT", SVCS "/np-a", NULL, body, &r);
	free(body);
	json_decref(o);
	assert_int_equal(r.r_code, 200);
	assert_null(kft_jget(r.r_json, "spec.ports.0.nodePort"));
	kft_resp_fini(&r);
	assert_int_equal(create("np-b",
	                     "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,"
	                     "\"nodePort\":30555}]}",
	                     &r),
	    201);
	kft_resp_fini(&r);
	// Delete releases too.
	del("np-b");
	assert_int_equal(create("np-c",
	                     "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,"
	                     "\"nodePort\":30555}]}",
	                     &r),
	    201);
	kft_resp_fini(&r);
	del("np-a");
	del("np-c");
	del("ip-a");
}

static void
test_415_400(void **state)
{
	(void) state;
	kft_resp r;
	assert_int_equal(create("pt", "{\"ports\":[{\"port\":80}]}", &r), 201);
	kft_resp_fini(&r);
	kft_do(&K, "PATCH", SVCS "/pt", "text/plain", "{}", &r);
	assert_status(&r, 415, "UnsupportedMediaType", NULL);
	kft_resp_fini(&r);
	kft_do(&K, "GET", SVCS "?labelSelector=a%20in%20(b", NULL, NULL, &r);
	assert_status(&r, 400, "BadRequest", NULL);
	kft_resp_fini(&r);
	kft_do(&K, "GET", SVCS "?labelSelector=a%3D%3D%3Db", NULL, NULL, &r);
	assert_status(&r, 400, "BadRequest", NULL);
	kft_resp_fini(&r);
	kft_do(&K, "GET", SVCS "?fieldSelector=spec.foo%3Dx", NULL, NULL, &r);
	assert_status(
	    &r, 400, "BadRequest", "field label not supported: spec.foo");
	kft_resp_fini(&r);
	// Strict field validation rejects unknown fields; Warn warns.
	char *b = svc("strict", "{\"ports\":[{\"port\":80}],\"bogus\":1}");
	kft_do(&K, "POST", SVCS "?fieldValidation=Strict", NULL, b, &r);
	assert_status(&r, 400, "BadRequest",
	    "strict decoding error: unknown field \"spec.bogus\"");
	kft_resp_fini(&r);
	kft_do(&K, "POST", SVCS "?fieldValidation=Warn", NULL, b, &r);
	assert_int_equal(r.r_code, 201);
	assert_non_null(strstr(r.r_warning, "unknown field"));
	kft_resp_fini(&r);
	free(b);
	del("strict");
	del("pt");
}

// ---- patches
// -----------------------------------------------------------------

static void
test_patches(void **state)
{
	(void) state;
	kft_resp r;
	assert_int_equal(
	    create("p",
	        "{\"selector\":{\"app\":\"p\"},\"ports\":[{\"name\":"
	        "\"a\",\"port\":80},{\"name\":\"b\",\"port\":81}]}",
	        &r),
	    201);
	kft_resp_fini(&r);
	// Strategic: ports merge by port.
	kft_do(&K, "PATCH", SVCS "/p",
	    "application/strategic-merge-patch+json",
	    "{\"spec\":{\"ports\":[{\"port\":81,\"targetPort\":9091}]}}", &r);
	assert_int_equal(r.r_code, 200);
	assert_int_equal(json_array_size(kft_jget(r.r_json, "spec.ports")), 2);
	assert_int_equal(
	    json_integer_value(kft_jget(r.r_json, "spec.ports.1.targetPort")),
	    9091);
	kft_resp_fini(&r);
	// Strategic $patch: delete removes one element.
	kft_do(&K, "PATCH", SVCS "/p",
	    "application/strategic-merge-patch+json",
	    "{\"spec\":{\"ports\":[{\"port\":80,\"$patch\":\"delete\"}]}}",
	    &r);
	assert_int_equal(r.r_code, 200);
	assert_int_equal(json_array_size(kft_jget(r.r_json, "spec.ports")), 1);
	kft_resp_fini(&r);
	// Merge patch replaces lists and deletes with null.
	kft_do(&K, "PATCH", SVCS "/p", "application/merge-patch+json",
	    "{\"spec\":{\"selector\":null,\"ports\":[{\"port\":90}]}}", &r);
	assert_int_equal(r.r_code, 200);
	assert_null(kft_jget(r.r_json, "spec.selector"));
	assert_int_equal(
	    json_integer_value(kft_jget(r.r_json, "spec.ports.0.port")), 90);
	kft_resp_fini(&r);
	// JSON patch with a failing test operation.
	kft_do(&K, "PATCH", SVCS "/p", "application/json-patch+json",
	    "[{\"op\":\"test\",\"path\":\"/spec/"
	    "type\",\"value\":\"NodePort\"}]",
	    &r);
	assert_status(&r, 422, NULL, NULL);
	kft_resp_fini(&r);
	kft_do(&K, "PATCH", SVCS "/p", "application/json-patch+json",
	    "[{\"op\":\"add\",\"path\":\"/metadata/labels\",\"value\":{\"x\":"
	    "\"y\"}}]",
	    &r);
	assert_int_equal(r.r_code, 200);
	assert_string_equal(kft_jstr(r.r_json, "metadata.labels.x"), "y");
	kft_resp_fini(&r);
	// PATCH of a missing object is a 404; PUT creates it (201).
	kft_do(&K, "PATCH", SVCS "/ghost", "application/merge-patch+json",
	    "{}", &r);
	assert_status(&r, 404, "NotFound", "services \"ghost\" not found");
	kft_resp_fini(&r);
	char *b = svc("ghost", "{\"ports\":[{\"port\":80}]}");
	kft_do(&K, "PUT", SVCS "/ghost", NULL, b, &r);
	free(b);
	assert_int_equal(r.r_code, 201);
	kft_resp_fini(&r);
	del("ghost");
	del("p");
}

// ---- lists
// -------------------------------------------------------------------

static void
test_list_selectors(void **state)
{
	(void) state;
	kft_resp r;
	kft_do(&K, "POST", "/api/v1/namespaces", NULL,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{"
	    "\"name\":"
	    "\"sel\"}}",
	    &r);
	assert_int_equal(r.r_code, 201);
	kft_resp_fini(&r);
	const char *labels[] = {"{\"env\":\"prod\",\"tier\":\"web\"}",
	    "{\"env\":\"dev\",\"tier\":\"web\"}", "{\"env\":\"qa\"}", "{}"};
	for (int i = 0; i < 4; i++) {
		char body[512];
		snprintf(body, sizeof(body),
		    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
		    "{"
		    "\"name\":\"s%d\",\"labels\":%s},\"spec\":{\"ports\":[{"
		    "\"port\":"
		    "80}]}}",
		    i, labels[i]);
		kft_do(&K, "POST", "/api/v1/namespaces/sel/services", NULL,
		    body, &r);
		assert_int_equal(r.r_code, 201);
		kft_resp_fini(&r);
	}
	static const struct {
		const char *sel;
		const char *want;
	} cases[] = {
	    {"env%3Dprod", "s0"},
	    {"env%3D%3Ddev", "s1"},
	    {"env!%3Dprod", "s1,s2,s3"},
	    {"env%20in%20(prod,qa)", "s0,s2"},
	    {"env%20notin%20(prod,qa)", "s1,s3"},
	    {"tier", "s0,s1"},
	    {"!tier", "s2,s3"},
	    {"tier%3Dweb,env!%3Ddev", "s0"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[256];
		snprintf(path, sizeof(path),
		    "/api/v1/namespaces/sel/services?labelSelector=%s",
		    cases[i].sel);
		kft_do(&K, "GET", path, NULL, NULL, &r);
		assert_int_equal(r.r_code, 200);
		assert_string_equal(kft_jstr(r.r_json, "kind"), "ServiceList");
		char    got[128] = "";
		size_t  j;
		json_t *it;
		json_array_foreach(kft_jget(r.r_json, "items"), j, it)
		{
			// List items carry no type meta, as kube-apiserver's.
			assert_null(json_object_get(it, "kind"));
			snprintf(got + strlen(got), sizeof(got) - strlen(got),
			    "%s%s", j ? "," : "",
			    kft_jstr(it, "metadata.name"));
		}
		if (strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "selector %s\n", cases[i].sel);
		}
		assert_string_equal(got, cases[i].want);
		kft_resp_fini(&r);
	}
	// Field selector on name (what kubectl delete --wait uses).
	kft_do(&K, "GET",
	    "/api/v1/namespaces/sel/services?fieldSelector=metadata.name%3Ds2",
	    NULL, NULL, &r);
	assert_int_equal(json_array_size(kft_jget(r.r_json, "items")), 1);
	kft_resp_fini(&r);
	// Cluster-wide list sees every namespace.
	kft_do(
	    &K, "GET", "/api/v1/services?labelSelector=tier", NULL, NULL, &r);
	assert_int_equal(json_array_size(kft_jget(r.r_json, "items")), 2);
	kft_resp_fini(&r);
}

static void
test_continue(void **state)
{
	(void) state;
	kft_resp r;
	for (int i = 0; i < 7; i++) {
		char name[16];
		snprintf(name, sizeof(name), "page-%d", i);
		assert_int_equal(
		    create(name, "{\"ports\":[{\"port\":80}]}", &r), 201);
		kft_resp_fini(&r);
	}
	// Pages of 3 from a consistent snapshot, even if things change.
	kft_do(&K, "GET", SVCS "?labelSelector=!x&limit=3", NULL, NULL, &r);
	assert_int_equal(r.r_code, 200);
	char rv[32], cont[512];
	snprintf(rv, sizeof(rv), "%s",
	    kft_jstr(r.r_json, "metadata.resourceVersion"));
	assert_non_null(kft_jstr(r.r_json, "metadata.continue"));
	snprintf(
	    cont, sizeof(cont), "%s", kft_jstr(r.r_json, "metadata.continue"));
	assert_int_equal(json_array_size(kft_jget(r.r_json, "items")), 3);
	kft_resp_fini(&r);
	del("page-5");
	int  seen = 3;
	bool saw5 = false;
	for (int pages = 0; pages < 10 && cont[0]; pages++) {
		char path[1024];
		snprintf(path, sizeof(path),
		    SVCS "?labelSelector=!x&limit=3&continue=%s", cont);
		kft_do(&K, "GET", path, NULL, NULL, &r);
		assert_int_equal(r.r_code, 200);
		assert_string_equal(
		    kft_jstr(r.r_json, "metadata.resourceVersion"), rv);
		size_t  j;
		json_t *it;
		json_array_foreach(kft_jget(r.r_json, "items"), j, it)
		{
			if (strcmp(kft_jstr(it, "metadata.name"), "page-5")
			    == 0) {
				saw5 = true;
			}
			seen++;
		}
		const char *c = kft_jstr(r.r_json, "metadata.continue");
		snprintf(cont, sizeof(cont), "%s", c ? c : "");
		kft_resp_fini(&r);
	}
	assert_true(saw5); // deleted after the snapshot: still listed
	kft_do(&K, "GET", SVCS, NULL, NULL, &r);
	assert_int_equal(
	    seen, (int) json_array_size(kft_jget(r.r_json, "items")) + 1);
	kft_resp_fini(&r);
	kft_do(&K, "GET", SVCS "?limit=2&continue=garbage", NULL, NULL, &r);
	assert_status(&r, 400, "BadRequest", NULL);
	kft_resp_fini(&r);
	for (int i = 0; i < 7; i++) {
		char name[16];
		snprintf(name, sizeof(name), "page-%d", i);
		del(name);
	}
}

// ---- expiry (their own kubefake with a tiny history)
// -------------------------

static void
test_410_expired(void **state)
{
	(void) state;
	kft                small   = {0};
	static const char *extra[] = {"--watch-history", "5", NULL};
	assert_int_equal(kft_start(&small, extra), 0);
	kft_resp r;
	kft_do(&small, "GET", SVCS "?limit=1", NULL, NULL, &r);
	char cont[512], rv[32];
	snprintf(cont, sizeof(cont), "%s",
	    kft_jstr(r.r_json, "metadata.continue")
	        ? kft_jstr(r.r_json, "metadata.continue")
	        : "");
	snprintf(rv, sizeof(rv), "%s",
	    kft_jstr(r.r_json, "metadata.resourceVersion"));
	kft_resp_fini(&r);
	// The default Service and namespaces: at least two items, so a token.
	kft_do(&small, "GET", "/api/v1/namespaces?limit=1", NULL, NULL, &r);
	snprintf(
	    cont, sizeof(cont), "%s", kft_jstr(r.r_json, "metadata.continue"));
	kft_resp_fini(&r);
	for (int i = 0; i < 8; i++) {
		char *b = NULL, name[16];
		snprintf(name, sizeof(name), "e%d", i);
		b = svc(name, "{\"ports\":[{\"port\":80}]}");
		kft_do(&small, "POST", SVCS, NULL, b, &r);
		free(b);
		assert_int_equal(r.r_code, 201);
		kft_resp_fini(&r);
	}
	json_t *ev
	    = kft_watch(&small, SVCS "?watch=true&resourceVersion=1", NULL);
	assert_int_equal(json_array_size(ev), 1);
	json_t *e = json_array_get(ev, 0);
	assert_string_equal(kft_jstr(e, "type"), "ERROR");
	assert_string_equal(kft_jstr(e, "object.kind"), "Status");
	assert_string_equal(kft_jstr(e, "object.reason"), "Expired");
	assert_int_equal(json_integer_value(kft_jget(e, "object.code")), 410);
	assert_non_null(strstr(
	    kft_jstr(e, "object.message"), "too old resource version: 1 ("));
	json_decref(ev);
	char path[1024];
	snprintf(path, sizeof(path), "/api/v1/namespaces?limit=1&continue=%s",
	    cont);
	kft_do(&small, "GET", path, NULL, NULL, &r);
	assert_status(&r, 410, "Expired", NULL);
	assert_non_null(strstr(kft_jstr(r.r_json, "message"),
	    "The provided continue parameter is too old"));
	assert_non_null(kft_jstr(r.r_json, "metadata.continue"));
	kft_resp_fini(&r);
	assert_int_equal(kft_stop(&small), 0);
	kft_cleanup(&small);
}

// ---- watch
// -------------------------------------------------------------------

typedef struct wthread {
	const char *path;
	json_t     *events;
} wthread;

static void *
watch_thread(void *arg)
{
	wthread *w = arg;
	w->events  = kft_watch(&K, w->path, NULL);
	return NULL;
}

static void
test_watch(void **state)
{
	(void) state;
	kft_resp r;
	assert_int_equal(create("w1", "{\"ports\":[{\"port\":80}]}", &r), 201);
	char rv[32];
	snprintf(rv, sizeof(rv), "%s",
	    kft_jstr(r.r_json, "metadata.resourceVersion"));
	kft_resp_fini(&r);
	// No resourceVersion: synthetic ADDED for what exists.
	json_t *ev = kft_watch(&K,
	    SVCS
	    "?watch=true&timeoutSeconds=1&fieldSelector=metadata.name%3Dw1",
	    NULL);
	assert_int_equal(json_array_size(ev), 1);
	assert_string_equal(kft_jstr(json_array_get(ev, 0), "type"), "ADDED");
	assert_string_equal(
	    kft_jstr(json_array_get(ev, 0), "object.metadata.name"), "w1");
	json_decref(ev);
	// A live change reaches a waiting watcher; timeoutSeconds ends it.
	char path[256];
	snprintf(path, sizeof(path),
	    SVCS "?watch=1&resourceVersion=%s&timeoutSeconds=2&"
	         "allowWatchBookmarks=true",
	    rv);
	wthread   w = {path, NULL};
	pthread_t t;
	int64_t   t0 = now_ms();
	pthread_create(&t, NULL, watch_thread, &w);
	sleep_ms(300);
	kft_do(&K, "PATCH", SVCS "/w1", "application/merge-patch+json",
	    "{\"metadata\":{\"labels\":{\"seen\":\"yes\"}}}", &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);
	del("w1");
	pthread_join(t, NULL);
	int64_t el = now_ms() - t0;
	assert_true(el >= 1800 && el < 6000);
	bool    mod = false, gone = false, bookmark = false;
	size_t  i;
	json_t *e;
	json_array_foreach(w.events, i, e)
	{
		const char *type = kft_jstr(e, "type");
		if (strcmp(type, "MODIFIED") == 0) {
			mod = strcmp(
			          kft_jstr(e, "object.metadata.labels.seen"),
			          "yes")
			    == 0;
		} else if (strcmp(type, "DELETED") == 0) {
			gone = true;
		} else if (strcmp(type, "BOOKMARK") == 0) {
			bookmark
			    = kft_jstr(e, "object.metadata.resourceVersion")
			    != NULL;
			assert_string_equal(
			    kft_jstr(e, "object.kind"), "Service");
		}
	}
	assert_true(mod);
	assert_true(gone);
	assert_true(bookmark);
	json_decref(w.events);
	// Table watches (kubectl get -w) get one-row Tables.
	ev = kft_watch(&K, SVCS "?watch=true&timeoutSeconds=1",
	    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
	assert_true(json_array_size(ev) >= 1);
	assert_string_equal(
	    kft_jstr(json_array_get(ev, 0), "object.kind"), "Table");
	json_decref(ev);
}

static void
test_watch_selector_status(void **state)
{
	(void) state;
	kft_resp r;
	kft_do(&K, "POST", SVCS, NULL,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":\"ws\",\"labels\":{\"team\":\"a\"}},\"spec\":{"
	    "\"ports\":[{\"port\":80}]}}",
	    &r);
	assert_int_equal(r.r_code, 201);
	char rv[32];
	snprintf(rv, sizeof(rv), "%s",
	    kft_jstr(r.r_json, "metadata.resourceVersion"));
	kft_resp_fini(&r);
	// Leave the selection, come back, then go away for good.
	kft_do(&K, "PATCH", SVCS "/ws", "application/merge-patch+json",
	    "{\"metadata\":{\"labels\":{\"team\":\"b\"}}}", &r);
	kft_resp_fini(&r);
	kft_do(&K, "PATCH", SVCS "/ws", "application/merge-patch+json",
	    "{\"metadata\":{\"labels\":{\"team\":\"a\"}}}", &r);
	kft_resp_fini(&r);
	// The status subresource writes status only.
	kft_do(&K, "PUT", SVCS "/ws/status", NULL,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":\"ws\",\"labels\":{\"team\":\"a\"}},\"spec\":{\"type\":"
	    "\"NodePort\"},"
	    "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":"
	    "\"True\",\"reason\":\"x\",\"message\":\"\","
	    "\"lastTransitionTime\":\"2024-01-01T00:00:00Z\"}]}}",
	    &r);
	assert_int_equal(r.r_code, 200);
	assert_string_equal(kft_jstr(r.r_json, "spec.type"), "ClusterIP");
	assert_string_equal(
	    kft_jstr(r.r_json, "status.conditions.0.type"), "Ready");
	json_t *mf  = kft_jget(r.r_json, "metadata.managedFields");
	bool    sub = false;
	size_t  i;
	json_t *e;
	json_array_foreach(mf, i, e)
	{
		if (kft_jstr(e, "subresource")
		    && strcmp(kft_jstr(e, "subresource"), "status") == 0) {
			sub = kft_jget(e, "fieldsV1.f:status.f:conditions")
			    != NULL;
		}
	}
	assert_true(sub);
	kft_resp_fini(&r);
	// Spec writes keep the status and move the generation.
	kft_do(&K, "PATCH", SVCS "/ws", "application/merge-patch+json",
	    "{\"spec\":{\"sessionAffinity\":\"ClientIP\"},\"status\":null}",
	    &r);
	assert_int_equal(r.r_code, 200);
	assert_string_equal(
	    kft_jstr(r.r_json, "status.conditions.0.type"), "Ready");
	assert_int_equal(
	    json_integer_value(kft_jget(r.r_json, "metadata.generation")), 2);
	assert_int_equal(
	    json_integer_value(kft_jget(r.r_json,
	        "spec.sessionAffinityConfig.clientIP.timeoutSeconds")),
	    10800);
	kft_resp_fini(&r);
	del("ws");
	char path[256];
	snprintf(path, sizeof(path),
	    SVCS "?watch=1&resourceVersion=%s&labelSelector=team%%3Da&"
	         "timeoutSeconds=1",
	    rv);
	json_t     *ev = kft_watch(&K, path, NULL);
	const char *want[]
	    = {"DELETED", "ADDED", "MODIFIED", "MODIFIED", "DELETED"};
	if (json_array_size(ev) != 5) {
		char *d = json_dumps(ev, 0);
		fprintf(stderr, "events: %s\n", d);
		free(d);
	}
	assert_int_equal(json_array_size(ev), 5);
	for (size_t k = 0; k < 5; k++) {
		assert_string_equal(
		    kft_jstr(json_array_get(ev, k), "type"), want[k]);
	}
	// Leaving the selection shows the old content at the new version.
	assert_string_equal(
	    kft_jstr(json_array_get(ev, 0), "object.metadata.labels.team"),
	    "a");
	json_decref(ev);
}

// ---- MetalLB
// -----------------------------------------------------------------

static json_t *
wait_ingress(const char *name, int ms)
{
	char path[256];
	snprintf(path, sizeof(path), SVCS "/%s", name);
	for (int64_t end = now_ms() + ms; now_ms() < end; sleep_ms(20)) {
		kft_resp r;
		kft_do(&K, "GET", path, NULL, NULL, &r);
		json_t *ing
		    = kft_jget(r.r_json, "status.loadBalancer.ingress");
		if (json_array_size(ing) > 0) {
			json_t *copy = json_deep_copy(json_array_get(ing, 0));
			kft_resp_fini(&r);
			return copy;
		}
		kft_resp_fini(&r);
	}
	return NULL;
}

static bool
has_event(const char *svcname, const char *reason, const char *msg_part)
{
	kft_resp r;
	kft_do(&K, "GET", "/api/v1/namespaces/default/events", NULL, NULL, &r);
	size_t  i;
	json_t *e;
	bool    found = false;
	json_array_foreach(kft_jget(r.r_json, "items"), i, e)
	{
		if (strcmp(kft_jstr(e, "involvedObject.name"), svcname) == 0
		    && strcmp(kft_jstr(e, "reason"), reason) == 0
		    && strstr(kft_jstr(e, "message"), msg_part)) {
			found = true;
		}
	}
	kft_resp_fini(&r);
	return found;
}

static void
test_metallb(void **state)
{
	(void) state;
	kft_resp r;
	assert_int_equal(
	    create("lb1",
	        "{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]}", &r),
	    201);
	kft_resp_fini(&r);
	json_t *ing = wait_ingress("lb1", 3000);
	assert_non_null(ing);
	assert_string_equal(kft_jstr(ing, "ip"), "192.168.50.0"); // first pool
	assert_string_equal(kft_jstr(ing, "ipMode"), "VIP");
	json_decref(ing);
	// The annotation picks the pool; metallb.io/ wins over the old name.
	char *b = NULL;
	if (asprintf(&b,
	        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	        "\"name\":"
	        "\"lb2\",\"annotations\":{\"metallb.io/"
	        "address-pool\":\"pool-b\","
	        "\"metallb.universe.tf/address-pool\":\"pool-a\"}},\"spec\":{"
	        "\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]}}")
	    < 0) {
		fail();
	}
	kft_do(&K, "POST", SVCS, NULL, b, &r);
	free(b);
	assert_int_equal(r.r_code, 201);
	kft_resp_fini(&r);
	ing = wait_ingress("lb2", 3000);
	assert_non_null(ing);
	assert_string_equal(kft_jstr(ing, "ip"), "192.168.60.0");
	json_decref(ing);
	// A requested address outside every pool stays pending with an Event.
	if (asprintf(&b,
	        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	        "\"name\":"
	        "\"lb3\",\"annotations\":{\"metallb.io/loadBalancerIPs\":"
	        "\"10.1.1.1\"}},\"spec\":{\"type\":\"LoadBalancer\",\"ports\":"
	        "[{"
	        "\"port\":80}]}}")
	    < 0) {
		fail();
	}
	kft_do(&K, "POST", SVCS, NULL, b, &r);
	free(b);
	kft_resp_fini(&r);
	bool ev = false;
	for (int i = 0; i < 100 && !ev; i++, sleep_ms(20)) {
		ev = has_event("lb3", "AllocationFailed",
		    "Failed to allocate IP for \"default/lb3\":");
	}
	assert_true(ev);
	assert_null(wait_ingress("lb3", 100));
	// Exhaust pool-b (2 addresses): the third waits, gets one on delete.
	const char *ann = "{\"metallb.io/address-pool\":\"pool-b\"}";
	for (int i = 4; i <= 5; i++) {
		if (asprintf(&b,
		        "{\"apiVersion\":\"v1\",\"kind\":\"Service\","
		        "\"metadata\":{"
		        "\"name\":\"lb%d\",\"annotations\":%s},\"spec\":{"
		        "\"type\":"
		        "\"LoadBalancer\",\"ports\":[{\"port\":80}]}}",
		        i, ann)
		    < 0) {
			fail();
		}
		kft_do(&K, "POST", SVCS, NULL, b, &r);
		free(b);
		kft_resp_fini(&r);
	}
	ing = wait_ingress("lb4", 3000);
	assert_non_null(ing);
	json_decref(ing);
	ev = false;
	for (int i = 0; i < 100 && !ev; i++, sleep_ms(20)) {
		ev = has_event("lb5", "AllocationFailed",
		    "no available IPs in pool \"pool-b\"");
	}
	assert_true(ev);
	del("lb2");
	ing = wait_ingress("lb5", 3000);
	assert_non_null(ing);
	assert_string_equal(kft_jstr(ing, "ip"), "192.168.60.0");
	json_decref(ing);
	kft_do(&K, "GET", "/_kubefake/metallb/pools", NULL, NULL, &r);
	assert_string_equal(kft_jstr(r.r_json, "0.name"), "pool-a");
	assert_string_equal(
	    kft_jstr(r.r_json, "0.addresses.0"), "192.168.50.0/30");
	kft_resp_fini(&r);
	for (int i = 1; i <= 5; i++) {
		char name[8];
		snprintf(name, sizeof(name), "lb%d", i);
		del(name);
	}
}

// ---- faults
// ------------------------------------------------------------------

static void
test_faults(void **state)
{
	(void) state;
	kft_resp r;
	// Latency.
	assert_int_equal(kft_faults(&K, "{\"latency_ms\":300}"), 0);
	int64_t t0 = now_ms();
	kft_do(&K, "GET", "/version", NULL, NULL, &r);
	assert_int_equal(r.r_code, 200);
	assert_true(now_ms() - t0 >= 290);
	kft_resp_fini(&r);
	// 500 on every request; /_kubefake still answers.
	assert_int_equal(kft_faults(&K, "{\"error_rate\":1}"), 0);
	kft_do(&K, "GET", SVCS, NULL, NULL, &r);
	assert_status(&r, 500, "InternalError", NULL);
	kft_resp_fini(&r);
	// 429 with Retry-After; counters tell how many.
	kft_do(&K, "POST", "/_kubefake/stats/reset", NULL, "{}", &r);
	kft_resp_fini(&r);
	assert_int_equal(kft_faults(&K,
	                     "{\"error_rate\":1,\"error_status\":429,"
	                     "\"retry_after_s\":7}"),
	    0);
	kft_do(&K, "GET", SVCS, NULL, NULL, &r);
	assert_status(&r, 429, "TooManyRequests",
	    "Too many requests, please try again later.");
	assert_string_equal(r.r_retry_after, "7");
	assert_int_equal(json_integer_value(
	                     kft_jget(r.r_json, "details.retryAfterSeconds")),
	    7);
	kft_resp_fini(&r);
	kft_do(&K, "GET", SVCS, NULL, NULL, &r);
	kft_resp_fini(&r);
	assert_int_equal(kft_stat(&K, "codes.429"), 2);
	assert_int_equal(kft_stat(&K, "resources.services.list"), 2);
	// 503.
	assert_int_equal(
	    kft_faults(&K, "{\"error_rate\":1,\"error_status\":503}"), 0);
	kft_do(&K, "GET", SVCS, NULL, NULL, &r);
	assert_status(&r, 503, "ServiceUnavailable", NULL);
	kft_resp_fini(&r);
	// Half the requests fail: both outcomes show up.
	assert_int_equal(kft_faults(&K, "{\"error_rate\":0.5}"), 0);
	int fails = 0;
	for (int i = 0; i < 60; i++) {
		kft_do(&K, "GET", "/version", NULL, NULL, &r);
		fails += r.r_code == 500;
		kft_resp_fini(&r);
	}
	assert_true(fails > 5 && fails < 55);
	// Dropped connections: no response at all.
	assert_int_equal(kft_faults(&K, "{\"drop_rate\":1}"), 0);
	CURLcode cc = kft_do(&K, "GET", "/version", NULL, NULL, &r);
	assert_int_not_equal(cc, CURLE_OK);
	kft_resp_fini(&r);
	assert_true(kft_stat(&K, "faults.drop") >= 1);
	// Refuse everything, then switch it off through /_kubefake.
	assert_int_equal(kft_faults(&K, "{\"refuse_all\":true}"), 0);
	cc = kft_do(&K, "GET", SVCS, NULL, NULL, &r);
	assert_int_not_equal(cc, CURLE_OK);
	kft_resp_fini(&r);
	kft_do(&K, "GET", "/_kubefake/faults", NULL, NULL, &r);
	assert_true(json_is_true(kft_jget(r.r_json, "refuse_all")));
	kft_resp_fini(&r);
	assert_int_equal(kft_faults(&K, "{}"), 0);
	kft_do(&K, "GET", SVCS, NULL, NULL, &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);
	// Bad fault documents are refused.
	kft_do(
	    &K, "POST", "/_kubefake/faults", NULL, "{\"error_rate\":2}", &r);
	assert_int_equal(r.r_code, 400);
	kft_resp_fini(&r);
}

// ---- discovery and workloads
// ---------------------------------------------------

static void
test_discovery_workloads(void **state)
{
	(void) state;
	kft_resp r;
	kft_do(&K, "GET", "/version", NULL, NULL, &r);
	assert_string_equal(kft_jstr(r.r_json, "major"), "1");
	kft_resp_fini(&r);
	kft_do(&K, "GET", "/api/v1", NULL, NULL, &r);
	assert_string_equal(kft_jstr(r.r_json, "kind"), "APIResourceList");
	kft_resp_fini(&r);
	kft_do(&K, "GET", "/apis", NULL, NULL, &r);
	assert_string_equal(kft_jstr(r.r_json, "groups.0.name"), "apps");
	kft_resp_fini(&r);
	const char *d
	    = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
	      "\"metadata\":{\"name\":\"web\"},\"spec\":{\"selector\":{"
	      "\"matchLabels\":{\"app\":\"web\"}},\"template\":{"
	      "\"metadata\":{\"labels\":{\"app\":\"web\",\"v\":\"1\"}},"
	      "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":"
	      "\"nginx\"}]}}}}";
	kft_do(&K, "POST", "/apis/apps/v1/namespaces/default/deployments",
	    NULL, d, &r);
	assert_int_equal(r.r_code, 201);
	kft_resp_fini(&r);
	kft_do(&K, "GET", "/apis/apps/v1/namespaces/default/deployments/web",
	    NULL, NULL, &r);
	assert_string_equal(
	    kft_jstr(r.r_json, "spec.template.metadata.labels.v"), "1");
	kft_resp_fini(&r);
	kft_do(&K, "GET", "/apis/apps/v1/deployments", NULL, NULL, &r);
	assert_string_equal(kft_jstr(r.r_json, "kind"), "DeploymentList");
	assert_int_equal(json_array_size(kft_jget(r.r_json, "items")), 1);
	kft_resp_fini(&r);
	kft_do(&K, "POST", "/apis/apps/v1/namespaces/default/deployments",
	    NULL, d, &r);
	assert_status(&r, 409, "AlreadyExists",
	    "deployments.apps \"web\" already exists");
	assert_string_equal(kft_jstr(r.r_json, "details.group"), "apps");
	kft_resp_fini(&r);
}

// ---- i19-diff: an admission webhook that denies
// ------------------------------------------------------------------

static void
test_admission(void **state)
{
	(void) state;
	kft_resp    r;
	const char *np = "{\"type\":\"NodePort\",\"selector\":{\"app\":\"a\"},"
	                 "\"ports\":[{\"port\":80,\"nodePort\":30555}]}";
	char       *b  = svc("adm-np", np);

	kft_do(&K, "POST", "/_kubefake/stats/reset", NULL, "{}", &r);
	kft_resp_fini(&r);
	assert_int_equal(
	    kft_faults(&K,
	        "{\"admission_deny\":\"NodePort Services are not allowed "
	        "here\",\"admission_status\":403,\"admission_webhook\":"
	        "\"policy.example.com\"}"),
	    0);
	// A dry run is refused as a webhook refuses it, in its words.
	kft_do(&K, "POST", SVCS "?dryRun=All", NULL, b, &r);
	assert_status(&r, 403, "Forbidden",
	    "admission webhook \"policy.example.com\" denied the request: "
	    "NodePort Services are not allowed here");
	kft_resp_fini(&r);
	// Validation comes first: an invalid object gets its 422.
	assert_int_equal(create("adm-bad",
	                     "{\"selector\":{\"app\":\"a\"},\"ports\":[{"
	                     "\"port\":0}]}",
	                     &r),
	    422);
	kft_resp_fini(&r);
	// A real write too; nothing is stored, its node port not kept.
	kft_do(&K, "POST", SVCS, NULL, b, &r);
	assert_int_equal(r.r_code, 403);
	kft_resp_fini(&r);
	kft_do(&K, "GET", SVCS "/adm-np", NULL, NULL, &r);
	assert_int_equal(r.r_code, 404);
	kft_resp_fini(&r);
	assert_int_equal(kft_stat(&K, "faults.admission"), 2);
	kft_do(&K, "GET", "/_kubefake/faults", NULL, NULL, &r);
	assert_string_equal(
	    kft_jstr(r.r_json, "admission_webhook"), "policy.example.com");
	kft_resp_fini(&r);

	// Dry runs only (a webhook that looks at dryRun), 400 by default:
	// the write goes through, and its node port was free; an apply
	// and an update dry run are refused.
	assert_int_equal(kft_faults(&K,
	                     "{\"admission_deny\":\"no\","
	                     "\"admission_dry_run_only\":true}"),
	    0);
	assert_int_equal(create("adm-np", np, &r), 201);
	kft_resp_fini(&r);
	kft_do(&K, "PATCH",
	    SVCS "/adm-np?dryRun=All&fieldManager=t&force=true",
	    "application/apply-patch+yaml",
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":\"adm-np\"},\"spec\":{\"ports\":[{\"port\":80,"
	    "\"targetPort\":8080}]}}",
	    &r);
	assert_status(&r, 400, "BadRequest",
	    "admission webhook \"deny.kubefake.test\" denied the request: no");
	kft_resp_fini(&r);
	kft_do(&K, "PUT", SVCS "/adm-np?dryRun=All", NULL, b, &r);
	assert_int_equal(r.r_code, 400);
	kft_resp_fini(&r);
	kft_do(&K, "PUT", SVCS "/adm-np", NULL, b, &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);

	// Bad documents are refused and change nothing.
	kft_do(&K, "POST", "/_kubefake/faults", NULL,
	    "{\"admission_deny\":\"x\",\"admission_status\":200}", &r);
	assert_int_equal(r.r_code, 400);
	kft_resp_fini(&r);
	kft_do(&K, "POST", "/_kubefake/faults", NULL,
	    "{\"admission_deny\":\"x\",\"admission_webhook\":\"\"}", &r);
	assert_int_equal(r.r_code, 400);
	kft_resp_fini(&r);
	assert_int_equal(kft_faults(&K, "{}"), 0);
	char *ok = svc("adm-ok",
	    "{\"selector\":{\"app\":\"a\"},\"ports\":[{"
	    "\"port\":80}]}");
	kft_do(&K, "POST", SVCS "?dryRun=All", NULL, ok, &r);
	assert_int_equal(r.r_code, 201);
	kft_resp_fini(&r);
	free(ok);
	del("adm-np");
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_401),
	    cmocka_unit_test(test_403),
	    cmocka_unit_test(test_404),
	    cmocka_unit_test(test_409_already_exists),
	    cmocka_unit_test(test_409_conflict),
	    cmocka_unit_test(test_409_field_manager_conflict),
	    cmocka_unit_test(test_ssa_lifecycle),
	    cmocka_unit_test(test_ssa_shared_item),
	    cmocka_unit_test(test_422_causes),
	    cmocka_unit_test(test_422_nodeport_allocated),
	    cmocka_unit_test(test_415_400),
	    cmocka_unit_test(test_patches),
	    cmocka_unit_test(test_list_selectors),
	    cmocka_unit_test(test_continue),
	    cmocka_unit_test(test_410_expired),
	    cmocka_unit_test(test_watch),
	    cmocka_unit_test(test_watch_selector_status),
	    cmocka_unit_test(test_metallb),
	    cmocka_unit_test(test_faults),
	    cmocka_unit_test(test_discovery_workloads),
	    cmocka_unit_test(test_admission),
	};
	return cmocka_run_group_tests_name(
	    "kubefake_http", tests, setup, teardown);
}
