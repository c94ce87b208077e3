// kubefake_restart_test.c: with --state-dir, a restarted kubefake keeps
// every object with its uid and resourceVersion, continues the counter,
// keeps allocations (cluster IPs, node ports, MetalLB addresses), the CA
// and the generated token — also when it was killed (SIGKILL) right after
// acknowledging a write, as an API server on etcd does: it never loses an
// acknowledged write nor hands out a resourceVersion twice.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

// write_svc creates (POST) or changes (a merge PATCH) Service name with
// label v=<v> and an annotation of pad bytes; returns its resourceVersion.
static long long
write_svc(kft *k, const char *method, const char *name, int v, size_t pad)
{
	size_t cap  = pad + 512;
	char  *body = malloc(cap);
	char  *big  = malloc(pad + 1);
	char   path[128];
	assert_non_null(body);
	assert_non_null(big);
	memset(big, 'x', pad);
	big[pad] = '\0';
	snprintf(body, cap,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":\"%s\",\"labels\":{\"v\":\"%d\"},\"annotations\":{"
	    "\"pad\":\"%s\"}},\"spec\":{\"ports\":[{\"port\":80}]}}",
	    name, v, big);
	if (strcmp(method, "POST") == 0) {
		snprintf(path, sizeof(path), "%s", SVCS);
	} else {
		snprintf(path, sizeof(path), SVCS "/%s", name);
		method = "PATCH";
	}
	kft_resp r;
	kft_do(k, method, path,
	    strcmp(method, "PATCH") == 0 ? "application/merge-patch+json"
	                                 : NULL,
	    body, &r);
	if (r.r_code != 200 && r.r_code != 201) {
		fail_msg("%s %s: HTTP %ld", method, name, r.r_code);
	}
	long long rv = atoll(kft_jstr(r.r_json, "metadata.resourceVersion"));
	kft_resp_fini(&r);
	free(body);
	free(big);
	return rv;
}

// Returns Service name's label v (-1 when it is not there) and its
// resourceVersion in *rv.
static int
read_svc(kft *k, const char *name, long long *rv)
{
	char     path[128];
	kft_resp r;
	snprintf(path, sizeof(path), SVCS "/%s", name);
	kft_do(k, "GET", path, NULL, NULL, &r);
	int v = -1;
	*rv   = 0;
	if (r.r_code == 200) {
		v   = atoi(kft_jstr(r.r_json, "metadata.labels.v"));
		*rv = atoll(kft_jstr(r.r_json, "metadata.resourceVersion"));
	} else {
		assert_int_equal(r.r_code, 404);
	}
	kft_resp_fini(&r);
	return v;
}

static long long
list_rv(kft *k)
{
	kft_resp r;
	kft_do(k, "GET", SVCS, NULL, NULL, &r);
	assert_int_equal(r.r_code, 200);
	long long rv = atoll(kft_jstr(r.r_json, "metadata.resourceVersion"));
	kft_resp_fini(&r);
	return rv;
}

// Writes answered just before a SIGKILL are all there after a restart,
// and the next write gets a resourceVersion never handed out before.
static void
test_kill_keeps_acknowledged_writes(void **state)
{
	(void) state;
	kft       k = {0};
	kft_resp  r;
	long long rv;
	assert_int_equal(kft_start(&k, NULL), 0);
	write_svc(&k, "POST", "a", 1, 0);
	long long rv_a = write_svc(&k, "PATCH", "a", 2, 0);
	write_svc(&k, "POST", "b", 1, 0);
	kft_do(&k, "DELETE", SVCS "/b", NULL, NULL, &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);
	long long last = list_rv(&k);
	assert_true(last > rv_a);
	kft_kill(&k);

	assert_int_equal(kft_start(&k, NULL), 0);
	assert_int_equal(read_svc(&k, "a", &rv), 2);
	assert_int_equal(rv, rv_a);
	assert_int_equal(read_svc(&k, "b", &rv), -1);
	assert_int_equal(list_rv(&k), last);
	assert_true(write_svc(&k, "PATCH", "a", 3, 0) > last);
	// A write cut short by a crash was never acknowledged: ignored.
	char path[400];
	snprintf(path, sizeof(path), "%s/state.log", k.k_state);
	kft_kill(&k);
	FILE *f = fopen(path, "a");
	assert_non_null(f);
	fputs("{\"rv\":99999,\"resource\":\"services\",\"type\":\"pu", f);
	fclose(f);
	assert_int_equal(kft_start(&k, NULL), 0);
	assert_int_equal(read_svc(&k, "a", &rv), 3);
	assert_int_equal(list_rv(&k), rv);
	assert_int_equal(kft_stop(&k), 0);
	kft_cleanup(&k);
}

static off_t
file_size(const char *dir, const char *name)
{
	char        path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 ? st.st_size : -1;
}

// The log is compacted into a snapshot while kubefake serves; what was
// written before, during and after that survives a SIGKILL.
static void
test_kill_after_compaction(void **state)
{
	(void) state;
	enum { N = 8, PAD = 100000 };
	kft       k = {0};
	long long rv;
	char      name[16];
	assert_int_equal(kft_start(&k, NULL), 0);
	int v = 0;
	// Until the snapshot holds the big objects (the log passed 1 MiB).
	for (int i = 0; i < 200 && file_size(k.k_state, "state.json") < PAD;
	     i++) {
		v++;
		for (int n = 0; n < N; n++) {
			snprintf(name, sizeof(name), "big-%d", n);
			write_svc(&k, v == 1 ? "POST" : "PATCH", name, v, PAD);
		}
	}
	assert_true(file_size(k.k_state, "state.json") >= PAD);
	v++;
	for (int n = 0; n < N; n++) {
		snprintf(name, sizeof(name), "big-%d", n);
		write_svc(&k, "PATCH", name, v, PAD);
	}
	long long last = list_rv(&k);
	kft_kill(&k);

	assert_int_equal(kft_start(&k, NULL), 0);
	for (int n = 0; n < N; n++) {
		snprintf(name, sizeof(name), "big-%d", n);
		assert_int_equal(read_svc(&k, name, &rv), v);
	}
	assert_int_equal(list_rv(&k), last);
	assert_int_equal(kft_stop(&k), 0);
	kft_cleanup(&k);
}

int
main(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_restart_keeps_state),
	    cmocka_unit_test(test_kill_keeps_acknowledged_writes),
	    cmocka_unit_test(test_kill_after_compaction),
	};
	int rc = cmocka_run_group_tests_name(
	    "kubefake_restart", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
