// object_json_test.c: the JSON shape of svcfleet's own objects, as the CLI
// and the gateway both print them (object_json.c): one golden string per
// encoder, keys sorted, so a change of shape is a change of this file.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"

#define T0 1767323045123 // 2026-01-02T03:04:05.123Z

static void
assert_json(json_t *o, const char *want)
{
	char *got;
	assert_non_null(o);
	got = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	json_decref(o);
}

static void
test_role_binding(void **state)
{
	Svcfleet__V1__RoleBinding b = SVCFLEET__V1__ROLE_BINDING__INIT;
	(void) state;
	b.id             = "rb1";
	b.role           = "ns-edit";
	b.group          = "devs";
	b.cluster        = "prod";
	b.namespace_     = "";
	b.created_by     = "admin";
	b.create_time_ms = T0;
	assert_json(sf_model_role_binding_json(&b),
	    "{\"apiVersion\":\"svcfleet.io/v1\",\"cluster\":\"prod\","
	    "\"createdBy\":\"admin\",\"kind\":\"RoleBinding\",\"metadata\":{"
	    "\"creationTimestamp\":\"2026-01-02T03:04:05.123Z\",\"name\":"
	    "\"rb1\"},\"role\":\"ns-edit\",\"subject\":{\"kind\":\"Group\","
	    "\"name\":\"devs\"}}");
}

static void
test_token(void **state)
{
	Svcfleet__V1__Token            t = SVCFLEET__V1__TOKEN__INIT;
	Svcfleet__V1__CreateTokenReply rep
	    = SVCFLEET__V1__CREATE_TOKEN_REPLY__INIT;
	char *groups[] = {"devs", "ops"};
	(void) state;
	t.id             = "tk1";
	t.user           = "alice";
	t.groups         = groups;
	t.n_groups       = 2;
	t.create_time_ms = T0;
	t.expire_time_ms = T0 + 1000;
	t.source         = "store";
	assert_json(sf_model_token_json(&t),
	    "{\"apiVersion\":\"svcfleet.io/v1\",\"expirationTimestamp\":"
	    "\"2026-01-02T03:04:06.123Z\",\"groups\":[\"devs\",\"ops\"],"
	    "\"kind\":\"Token\",\"metadata\":{\"creationTimestamp\":"
	    "\"2026-01-02T03:04:05.123Z\",\"name\":\"tk1\"},\"source\":"
	    "\"store\",\"user\":\"alice\"}");
	t.revoked  = true;
	t.n_groups = 0;
	rep.token  = &t;
	rep.secret = "s3cret";
	assert_json(sf_model_new_token_json(&rep),
	    "{\"apiVersion\":\"svcfleet.io/v1\",\"expirationTimestamp\":"
	    "\"2026-01-02T03:04:06.123Z\",\"groups\":[],\"kind\":\"Token\","
	    "\"metadata\":{\"creationTimestamp\":"
	    "\"2026-01-02T03:04:05.123Z\",\"name\":\"tk1\"},\"revoked\":true,"
	    "\"secret\":\"s3cret\",\"source\":\"store\",\"user\":\"alice\"}");
}

static void
test_audit_event(void **state)
{
	Svcfleet__V1__AuditEvent ev = SVCFLEET__V1__AUDIT_EVENT__INIT;
	(void) state;
	ev.id         = 42;
	ev.time_ms    = T0;
	ev.user       = "vic";
	ev.method     = "/svcfleet.v1.ServiceManager/CreateService";
	ev.cluster    = "prod";
	ev.namespace_ = "shop";
	ev.name       = "api";
	ev.code       = 7;
	ev.message    = "denied";
	ev.request_id = "r1";
	assert_json(sf_model_audit_event_json(&ev),
	    "{\"apiVersion\":\"svcfleet.io/v1\",\"kind\":\"AuditEvent\","
	    "\"metadata\":{\"creationTimestamp\":"
	    "\"2026-01-02T03:04:05.123Z\",\"name\":\"42\"},\"method\":"
	    "\"/svcfleet.v1.ServiceManager/CreateService\",\"objectRef\":{"
	    "\"cluster\":\"prod\",\"name\":\"api\",\"namespace\":\"shop\"},"
	    "\"requestID\":\"r1\",\"responseStatus\":{\"code\":7,\"message\":"
	    "\"denied\",\"status\":\"PERMISSION_DENIED\"},\"user\":{"
	    "\"groups\":[],\"username\":\"vic\"},\"verb\":\"CreateService\"}");
}

static void
test_cluster(void **state)
{
	Svcfleet__V1__Cluster       cl    = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__ClusterHealth h     = SVCFLEET__V1__CLUSTER_HEALTH__INIT;
	static const char           ca[]  = "PEM";
	static const char           key[] = "KEY";
	(void) state;
	cl.name             = "east";
	cl.resource_version = 7;
	cl.create_time_ms   = T0;
	cl.api_server       = "https://10.0.0.1:6443";
	cl.ca_data.data     = (uint8_t *) ca;
	cl.ca_data.len      = 3;
	cl.token            = "tok";
	cl.client_key.data  = (uint8_t *) key;
	cl.client_key.len   = 3;
	cl.has_credentials  = true;
	cl.created_by       = "admin";
	h.state = SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_READY;
	h.server_version  = "v1.30.0";
	h.last_contact_ms = T0;
	cl.health         = &h;
	const char *const want_fmt
	    = "{\"apiVersion\":\"svcfleet.io/v1\",\"kind\":\"Cluster\","
	      "\"metadata\":{\"creationTimestamp\":"
	      "\"2026-01-02T03:04:05.123Z\",\"name\":\"east\","
	      "\"resourceVersion\":\"7\"},\"spec\":{\"apiServer\":"
	      "\"https://10.0.0.1:6443\",\"caData\":\"UEVN\","
	      "\"clientKeyData\":\"%s\",\"hasCredentials\":true,"
	      "\"nodePortRange\":\"30000-32767\",\"token\":\"%s\"},"
	      "\"status\":{\"createdBy\":\"admin\",\"health\":\"READY\","
	      "\"lastContactTime\":\"2026-01-02T03:04:05.123Z\","
	      "\"serverVersion\":\"v1.30.0\"}}";
	char want[1024];
	snprintf(want, sizeof(want), want_fmt, "S0VZ", "tok");
	assert_json(sf_model_cluster_json(&cl, 0), want);
	snprintf(want, sizeof(want), want_fmt, "<redacted>", "<redacted>");
	assert_json(sf_model_cluster_json(&cl, SF_MODEL_JSON_REDACT), want);
	assert_string_equal(sf_model_cluster_health_name(99), "UNKNOWN");
}

static void
test_whoami_and_list(void **state)
{
	Svcfleet__V1__WhoAmIReply r = SVCFLEET__V1__WHO_AM_IREPLY__INIT;
	(void) state;
	r.user     = "alice";
	r.token_id = "tk1";
	assert_json(sf_model_whoami_json(&r),
	    "{\"apiVersion\":\"svcfleet.io/v1\",\"kind\":\"WhoAmI\","
	    "\"status\":{\"bindings\":[],\"tokenID\":\"tk1\",\"userInfo\":{"
	    "\"groups\":[],\"username\":\"alice\"}}}");
	assert_json(sf_model_json_list("v1", "List", json_array()),
	    "{\"apiVersion\":\"v1\",\"items\":[],\"kind\":\"List\","
	    "\"metadata\":{}}");
	assert_null(sf_model_json_list("v1", "List", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_role_binding),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_audit_event),
	    cmocka_unit_test(test_cluster),
	    cmocka_unit_test(test_whoami_and_list),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
