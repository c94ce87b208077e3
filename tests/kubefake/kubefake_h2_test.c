// kubefake_h2_test.c: kubefake's HTTP/2 front end (issue 21) — ALPN picks
// h2 and still offers http/1.1, many requests multiplex on one connection
// (kubefake's connection and stream counters show it), and the h2 fault
// switches: a stream reset before the request is served changes nothing, a
// reset after it loses only the reply, and a GOAWAY while requests are in
// flight lets the streams it covers finish.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kft.h"

#define SVCS "/api/v1/namespaces/default/services"

static kft k;

static int
setup(void **state)
{
	(void) state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return kft_start(&k, NULL);
}

static int
teardown(void **state)
{
	(void) state;
	int rc = kft_stop(&k);
	kft_cleanup(&k);
	curl_global_cleanup();
	return rc == 0 ? 0 : -1;
}

static char *
svc_body(const char *name)
{
	char *b = NULL;
	if (asprintf(&b,
	        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	        "\"name\":\"%s\"},\"spec\":{\"ports\":[{\"port\":80}]}}",
	        name)
	    < 0) {
		return NULL;
	}
	return b;
}

// one_version makes one GET /version with the given CURLOPT_HTTP_VERSION
// and returns the version used (CURLINFO_HTTP_VERSION).
static long
one_version(long want)
{
	CURL *h = curl_easy_init();
	char  url[256];
	snprintf(url, sizeof(url), "%s/version", k.k_url);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, k.k_ca);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, want);
	FILE *null = fopen("/dev/null", "w");
	curl_easy_setopt(h, CURLOPT_WRITEDATA, null);
	CURLcode rc   = curl_easy_perform(h);
	long     code = 0, ver = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &ver);
	curl_easy_cleanup(h);
	fclose(null);
	assert_int_equal(rc, CURLE_OK);
	assert_int_equal(code, 200);
	return ver;
}

static void
test_alpn(void **state)
{
	(void) state;
	long long h2 = kft_stat(&k, "connections.h2");
	long long h1 = kft_stat(&k, "connections.http1");
	assert_int_equal(
	    one_version(CURL_HTTP_VERSION_2TLS), CURL_HTTP_VERSION_2_0);
	assert_int_equal(
	    one_version(CURL_HTTP_VERSION_1_1), CURL_HTTP_VERSION_1_1);
	// kft_stat's own connections use kft's protocol (KFT_HTTP).
	assert_true(kft_stat(&k, "connections.h2") > h2);
	assert_true(kft_stat(&k, "connections.http1") > h1);
}

typedef struct batch {
	int                b_n;
	CURL              *b_h[64];
	char              *b_body[64];
	long               b_code[64];
	CURLcode           b_rc[64];
	FILE              *b_null;
	struct curl_slist *b_hdrs;
} batch;

// run_batch sends n requests at once, multiplexed on one h2 connection
// (PIPEWAIT), and waits for all.
static void
run_batch(batch *b, int n, const char *method, const char *prefix)
{
	memset(b, 0, sizeof(*b));
	b->b_n    = n;
	b->b_null = fopen("/dev/null", "w");
	char auth[128];
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", KFT_TOKEN);
	b->b_hdrs = curl_slist_append(NULL, auth);
	b->b_hdrs
	    = curl_slist_append(b->b_hdrs, "Content-Type: application/json");
	CURLM *m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
	for (int i = 0; i < n; i++) {
		CURL *h = curl_easy_init();
		char  url[512], name[64];
		snprintf(name, sizeof(name), "%s-%d", prefix, i);
		if (strcmp(method, "POST") == 0) {
			snprintf(url, sizeof(url), "%s%s", k.k_url, SVCS);
			b->b_body[i] = svc_body(name);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, b->b_body[i]);
		} else {
			snprintf(url, sizeof(url), "%s%s", k.k_url,
			    "/api/v1/namespaces");
		}
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_CAINFO, k.k_ca);
		curl_easy_setopt(
		    h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
		curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, b->b_hdrs);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, b->b_null);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
		curl_easy_setopt(h, CURLOPT_PRIVATE, (void *) (intptr_t) i);
		b->b_h[i] = h;
		curl_multi_add_handle(m, h);
	}
	int running = 1;
	while (running) {
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int      left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg == CURLMSG_DONE) {
				void *p = NULL;
				curl_easy_getinfo(
				    msg->easy_handle, CURLINFO_PRIVATE, &p);
				int i      = (int) (intptr_t) p;
				b->b_rc[i] = msg->data.result;
				curl_easy_getinfo(msg->easy_handle,
				    CURLINFO_RESPONSE_CODE, &b->b_code[i]);
			}
		}
		if (running) {
			curl_multi_poll(m, NULL, 0, 1000, NULL);
		}
	}
	for (int i = 0; i < n; i++) {
		curl_multi_remove_handle(m, b->b_h[i]);
		curl_easy_cleanup(b->b_h[i]);
		free(b->b_body[i]);
	}
	curl_multi_cleanup(m);
	curl_slist_free_all(b->b_hdrs);
	fclose(b->b_null);
}

static void
test_multiplex(void **state)
{
	(void) state;
	long long conns   = kft_stat(&k, "connections.h2");
	long long streams = kft_stat(&k, "h2_streams");
	batch     b;
	run_batch(&b, 50, "POST", "mux");
	for (int i = 0; i < b.b_n; i++) {
		assert_int_equal(b.b_rc[i], CURLE_OK);
		assert_int_equal(b.b_code[i], 201);
	}
	// Each kft_stat is a connection of its own: the one reading
	// h2_streams above and the one below. The 50 creates took one.
	long long dc = kft_stat(&k, "connections.h2") - conns;
	long long ds = kft_stat(&k, "h2_streams") - streams;
	assert_int_equal(dc - 2, 1);
	assert_true(ds >= 50);
}

static void
test_reset_before(void **state)
{
	(void) state;
	long long rst = kft_stat(&k, "faults.h2_rst");
	assert_int_equal(kft_faults(&k, "{\"h2_rst_rate\":1}"), 0);
	batch b;
	run_batch(&b, 3, "POST", "rst-before");
	for (int i = 0; i < b.b_n; i++) {
		assert_int_equal(b.b_rc[i], CURLE_HTTP2_STREAM);
	}
	assert_int_equal(kft_faults(&k, "{}"), 0);
	assert_int_equal(kft_stat(&k, "faults.h2_rst") - rst, 3);
	// Nothing was done: the client may retry safely.
	kft_resp r;
	kft_do(&k, "GET", SVCS "/rst-before-0", NULL, NULL, &r);
	assert_int_equal(r.r_code, 404);
	kft_resp_fini(&r);
}

static void
test_reset_after(void **state)
{
	(void) state;
	assert_int_equal(kft_faults(&k, "{\"h2_rst_after_rate\":1}"), 0);
	batch b;
	run_batch(&b, 2, "POST", "rst-after");
	for (int i = 0; i < b.b_n; i++) {
		assert_int_equal(b.b_rc[i], CURLE_HTTP2_STREAM);
	}
	assert_int_equal(kft_faults(&k, "{}"), 0);
	// The change was made; only its reply was lost. A retried create
	// is told it exists (no duplicate).
	kft_resp r;
	kft_do(&k, "GET", SVCS "/rst-after-0", NULL, NULL, &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);
	char *body = svc_body("rst-after-0");
	kft_do(&k, "POST", SVCS, NULL, body, &r);
	assert_int_equal(r.r_code, 409);
	kft_resp_fini(&r);
	free(body);
}

static void
test_goaway_in_flight(void **state)
{
	(void) state;
	long long ga = kft_stat(&k, "faults.h2_goaway");
	// Every request waits 300 ms, so all 10 are in flight on one
	// connection when its 3rd stream triggers the GOAWAY.
	assert_int_equal(
	    kft_faults(&k, "{\"h2_goaway_after\":3,\"latency_ms\":300}"), 0);
	batch b;
	run_batch(&b, 10, "GET", "goaway");
	assert_int_equal(kft_faults(&k, "{}"), 0);
	int ok = 0;
	for (int i = 0; i < b.b_n; i++) {
		if (b.b_rc[i] == CURLE_OK && b.b_code[i] == 200) {
			ok++;
		}
	}
	// The streams the GOAWAY covers finish; curl retries the refused
	// ones on new connections (each of which says GOAWAY again).
	assert_true(ok >= 3);
	assert_true(kft_stat(&k, "faults.h2_goaway") - ga >= 1);
	// The server is still serving.
	kft_resp r;
	kft_do(&k, "GET", "/api/v1/namespaces", NULL, NULL, &r);
	assert_int_equal(r.r_code, 200);
	kft_resp_fini(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alpn),
	    cmocka_unit_test(test_multiplex),
	    cmocka_unit_test(test_reset_before),
	    cmocka_unit_test(test_reset_after),
	    cmocka_unit_test(test_goaway_in_flight),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
