// kubefake_concurrency_test.c: 8 clients create 1,000 NodePort Services
// in parallel (keep-alive connections); no cluster IP, node port or
// resourceVersion may be handed out twice, and contended explicit
// requests must succeed exactly once.
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kft.h"

#define THREADS    8
#define PER_THREAD 125

static kft K;

typedef struct worker {
	int  w_id;
	int  w_created;
	int  w_failed;
	int  w_np_won; // explicit nodePort 30050 granted
	int  w_ip_won; // explicit clusterIP 10.96.0.200 granted
	char w_err[512];
} worker;

static void *
work(void *arg)
{
	worker *w = arg;
	CURL   *h = curl_easy_init();
	for (int i = 0; i < PER_THREAD; i++) {
		char     body[512];
		kft_resp r;
		snprintf(body, sizeof(body),
		    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
		    "{"
		    "\"name\":\"c-%d-%d\",\"labels\":{\"t\":\"%d\"}},\"spec\":"
		    "{"
		    "\"type\":\"NodePort\",\"selector\":{\"app\":\"x\"},"
		    "\"ports\":[{\"port\":80}]}}",
		    w->w_id, i, w->w_id);
		kft_req(&K, h, KFT_TOKEN, "POST",
		    "/api/v1/namespaces/default/services", NULL, body, &r);
		if (r.r_code == 201) {
			w->w_created++;
		} else {
			w->w_failed++;
			snprintf(w->w_err, sizeof(w->w_err), "%ld %s",
			    r.r_code, r.r_body);
		}
		kft_resp_fini(&r);
	}
	// Everyone asks for the same explicit node port and cluster IP, both
	// in the lower band that dynamic allocation leaves to explicit
	// requests.
	for (int i = 0; i < 3; i++) {
		char     body[512];
		kft_resp r;
		snprintf(body, sizeof(body),
		    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
		    "{"
		    "\"name\":\"np-%d-%d\"},\"spec\":{\"type\":\"NodePort\","
		    "\"ports\":[{\"port\":80,\"nodePort\":30050}]}}",
		    w->w_id, i);
		kft_req(&K, h, KFT_TOKEN, "POST",
		    "/api/v1/namespaces/default/services", NULL, body, &r);
		w->w_np_won += r.r_code == 201;
		if (r.r_code != 201
		    && (r.r_code != 422
		        || !strstr(r.r_body,
		            "provided port is already "
		            "allocated"))) {
			w->w_failed++;
			snprintf(w->w_err, sizeof(w->w_err), "%ld %s",
			    r.r_code, r.r_body);
		}
		kft_resp_fini(&r);
		snprintf(body, sizeof(body),
		    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
		    "{"
		    "\"name\":\"ip-%d-%d\"},\"spec\":{\"clusterIP\":"
		    "\"10.96.0.200\",\"ports\":[{\"port\":80}]}}",
		    w->w_id, i);
		kft_req(&K, h, KFT_TOKEN, "POST",
		    "/api/v1/namespaces/default/services", NULL, body, &r);
		w->w_ip_won += r.r_code == 201;
		kft_resp_fini(&r);
	}
	curl_easy_cleanup(h);
	return NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void
test_parallel_creates(void **state)
{
	(void) state;
	pthread_t t[THREADS];
	worker    w[THREADS];
	memset(w, 0, sizeof(w));
	for (int i = 0; i < THREADS; i++) {
		w[i].w_id = i;
		pthread_create(&t[i], NULL, work, &w[i]);
	}
	int created = 0, np_won = 0, ip_won = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].w_failed) {
			fprintf(stderr, "worker %d: %d failed, last: %s\n", i,
			    w[i].w_failed, w[i].w_err);
		}
		assert_int_equal(w[i].w_failed, 0);
		created += w[i].w_created;
		np_won += w[i].w_np_won;
		ip_won += w[i].w_ip_won;
	}
	assert_int_equal(created, THREADS * PER_THREAD);
	assert_int_equal(np_won, 1);
	assert_int_equal(ip_won, 1);

	kft_resp r;
	kft_do(&K, "GET", "/api/v1/services?labelSelector=t", NULL, NULL, &r);
	assert_int_equal(r.r_code, 200);
	json_t *items = kft_jget(r.r_json, "items");
	size_t  n     = json_array_size(items);
	assert_int_equal(n, THREADS * PER_THREAD);
	char **ips = calloc(n, sizeof(char *));
	char **nps = calloc(n, sizeof(char *));
	char **rvs = calloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		json_t     *it = json_array_get(items, i);
		const char *ip = kft_jstr(it, "spec.clusterIP");
		long long   np = json_integer_value(
		      kft_jget(it, "spec.ports.0.nodePort"));
		assert_non_null(ip);
		assert_true(strncmp(ip, "10.", 3) == 0);
		assert_true(np >= 30000 && np <= 32767);
		ips[i] = strdup(ip);
		if (asprintf(&nps[i], "%lld", np) < 0) {
			fail();
		}
		rvs[i] = strdup(kft_jstr(it, "metadata.resourceVersion"));
	}
	char      **sets[] = {ips, nps, rvs};
	const char *what[] = {"clusterIP", "nodePort", "resourceVersion"};
	for (int s = 0; s < 3; s++) {
		qsort(sets[s], n, sizeof(char *), cmp_str);
		for (size_t i = 1; i < n; i++) {
			if (strcmp(sets[s][i], sets[s][i - 1]) == 0) {
				fprintf(stderr, "duplicate %s %s\n", what[s],
				    sets[s][i]);
			}
			assert_string_not_equal(sets[s][i], sets[s][i - 1]);
		}
		for (size_t i = 0; i < n; i++) {
			free(sets[s][i]);
		}
		free(sets[s]);
	}
	kft_resp_fini(&r);
	// The node port and cluster IP the winners got are the ones asked.
	kft_do(&K, "GET",
	    "/api/v1/services?fieldSelector=spec.clusterIP%3D10.96.0.200",
	    NULL, NULL, &r);
	assert_int_equal(json_array_size(kft_jget(r.r_json, "items")), 1);
	kft_resp_fini(&r);
	assert_int_equal(kft_stat(&K, "resources.services.create"),
	    THREADS * PER_THREAD + THREADS * 6);
}

static int
setup(void **state)
{
	(void) state;
	curl_global_init(CURL_GLOBAL_ALL);
	static const char *extra[] = {"--threads", "4", NULL};
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parallel_creates),
	};
	return cmocka_run_group_tests_name(
	    "kubefake_concurrency", tests, setup, teardown);
}
