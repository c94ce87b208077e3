// kubefake_restart_test.c: with --state-dir, a restarted kubefake keeps
// every object with its uid and resourceVersion, continues the counter,
// keeps allocations (cluster IPs, node ports, MetalLB addresses), the CA
// and the generated token.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kft.h"

#define SVCS "/api/v1/namespaces/default/services"

static const char *extra[]
    = {"--metallb-pool", "p=192.168.80.0/30", "--lb-delay-ms", "10", NULL};

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void
test_restart_keeps_state(void **state)
{
	(void) state;
	kft      k = {0};
	kft_resp r;
	assert_int_equal(kft_start(&k, extra), 0);
	kft_do(&k, "POST", SVCS, NULL,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":"
	    "\"np\"},\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":80,"
	    "\"nodePort\":31234}]}}",
	    &r);
	assert_int_equal(r.r_code, 201);
	kft_resp_fini(&r);
	kft_do(&k, "POST", SVCS, NULL,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":"
	    "\"lb\"},\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":"
	    "80}]}}",
	    &r);
	assert_int_equal(r.r_code, 201);
	kft_resp_fini(&r);
	kft_do(&k, "PATCH", SVCS "/np", "application/merge-patch+json",
	    "{\"metadata\":{\"labels\":{\"v\":\"2\"}}}", &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);
	// Wait for MetalLB, then remember everything.
	char lbip[32] = "";
	for (int i = 0; i < 200 && !lbip[0]; i++, sleep_ms(10)) {
		kft_do(&k, "GET", SVCS "/lb", NULL, NULL, &r);
		const char *ip
		    = kft_jstr(r.r_json, "status.loadBalancer.ingress.0.ip");
		snprintf(lbip, sizeof(lbip), "%s", ip ? ip : "");
		kft_resp_fini(&r);
	}
	assert_string_equal(lbip, "192.168.80.0");
	sleep_ms(
	    300); // let the debounced snapshot land (and test the stop flush)
	kft_do(&k, "GET", SVCS, NULL, NULL, &r);
	json_t *before = json_deep_copy(r.r_json);
	kft_resp_fini(&r);
	char  before_ca[4096];
	FILE *f = fopen(k.k_ca, "r");
	assert_non_null(f);
	size_t n     = fread(before_ca, 1, sizeof(before_ca) - 1, f);
	before_ca[n] = '\0';
	fclose(f);
	assert_int_equal(kft_stop(&k), 0);

	assert_int_equal(kft_start(&k, extra), 0);
	kft_do(&k, "GET", SVCS, NULL, NULL, &r);
	json_t *after = json_deep_copy(r.r_json);
	kft_resp_fini(&r);
	// Same objects, same uids, same resourceVersions, same list version.
	assert_int_equal(json_array_size(json_object_get(before, "items")),
	    json_array_size(json_object_get(after, "items")));
	assert_true(json_equal(json_object_get(before, "items"),
	    json_object_get(after, "items")));
	assert_string_equal(kft_jstr(before, "metadata.resourceVersion"),
	    kft_jstr(after, "metadata.resourceVersion"));
	long long rv0 = atoll(kft_jstr(after, "metadata.resourceVersion"));
	// The counter continues.
	kft_do(&k, "POST", SVCS, NULL,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":"
	    "\"new\"},\"spec\":{\"ports\":[{\"port\":80}]}}",
	    &r);
	assert_int_equal(r.r_code, 201);
	assert_true(
	    atoll(kft_jstr(r.r_json, "metadata.resourceVersion")) > rv0);
	kft_resp_fini(&r);
	// Allocations survived: the node port and the LB address are taken.
	kft_do(&k, "POST", SVCS, NULL,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":"
	    "\"np2\"},\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":80,"
	    "\"nodePort\":31234}]}}",
	    &r);
	assert_int_equal(r.r_code, 422);
	assert_non_null(
	    strstr(r.r_body, "provided port is already allocated"));
	kft_resp_fini(&r);
	kft_do(&k, "GET", SVCS "/lb", NULL, NULL, &r);
	assert_string_equal(
	    kft_jstr(r.r_json, "status.loadBalancer.ingress.0.ip"), lbip);
	kft_resp_fini(&r);
	kft_do(&k, "POST", SVCS, NULL,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":"
	    "\"lb2\"},\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{"
	    "\"port\":"
	    "80}]}}",
	    &r);
	kft_resp_fini(&r);
	char ip2[32] = "";
	for (int i = 0; i < 200 && !ip2[0]; i++, sleep_ms(10)) {
		kft_do(&k, "GET", SVCS "/lb2", NULL, NULL, &r);
		const char *ip
		    = kft_jstr(r.r_json, "status.loadBalancer.ingress.0.ip");
		snprintf(ip2, sizeof(ip2), "%s", ip ? ip : "");
		kft_resp_fini(&r);
	}
	assert_string_equal(ip2, "192.168.80.1");
	// A watch from the old version works (nothing was lost in between)...
	char path[256];
	snprintf(path, sizeof(path),
	    SVCS "?watch=1&resourceVersion=%lld&timeoutSeconds=1", rv0);
	json_t *ev = kft_watch(&k, path, NULL);
	assert_true(json_array_size(ev) >= 1);
	assert_string_equal(kft_jstr(json_array_get(ev, 0), "type"), "ADDED");
	json_decref(ev);
	// ...one from before the restart has expired.
	ev = kft_watch(&k, SVCS "?watch=1&resourceVersion=2", NULL);
	assert_string_equal(kft_jstr(json_array_get(ev, 0), "type"), "ERROR");
	assert_int_equal(
	    json_integer_value(kft_jget(json_array_get(ev, 0), "object.code")),
	    410);
	json_decref(ev);
	// The CA is the same, so old kubeconfigs still verify.
	char after_ca[4096];
	f = fopen(k.k_ca, "r");
	assert_non_null(f);
	n           = fread(after_ca, 1, sizeof(after_ca) - 1, f);
	after_ca[n] = '\0';
	fclose(f);
	assert_string_equal(before_ca, after_ca);
	json_decref(before);
	json_decref(after);
	assert_int_equal(kft_stop(&k), 0);
	kft_cleanup(&k);
}

int
main(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_restart_keeps_state),
	};
	int rc = cmocka_run_group_tests_name(
	    "kubefake_restart", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
