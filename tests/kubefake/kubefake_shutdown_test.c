// kubefake_shutdown_test.c: SIGTERM stops kubefake at once (about 100 ms;
// see EXIT_MS for what the deadline tells apart) and cleanly (exit status 0,
// so no sanitizer report either) while it is busy: watches with bookmarks
// open, requests held by injected latency (one of them a watch that only
// starts once shutdown has begun) and MetalLB assignments pending. kubefake
// used to drain its timers while still serving: the late watch's bookmark
// re-armed itself inside the drain forever (100% CPU, still answering), racing
// the drain on the timer heap.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kft.h"

// What this test tells apart is whether SIGTERM ends kubefake at all, and
// without waiting for the requests held for 60 s by injected latency: the
// old shutdown never ended (a bookmark timer re-armed itself in the drain)
// and a shutdown that waited for held requests would take 60 s. kubefake's
// own shutdown takes about 100 ms (printed at the end; also under the
// sanitizers on a quiet machine), but its wall time is the machine's: under
// ASan, LeakSanitizer scans the heap as the process exits, and on two CPUs
// at a load average of 28 (CI beside five parallel builds) the whole exit
// took over 3 s. So the deadline is a third of the held time, not a speed
// target (those are measured in bench/, never by a timed test).
#define EXIT_MS 20000

#define NWATCH 4
#define NLB    200 // Services waiting for MetalLB at SIGTERM
#define SVCS   "/api/v1/namespaces/default/services"
#define WATCH_PATH \
	"/api/v1/" \
	"services?watch=1&allowWatchBookmarks=true&timeoutSeconds=600"

static const char *const extra[] = {"--metallb-pool", "p=10.20.0.0/24",
    "--lb-delay-ms", "3600000", "--bookmark-interval-ms", "50", NULL};

typedef struct client {
	kft        *c_k;
	const char *c_method; // "WATCH" or an HTTP method
	const char *c_path;
	const char *c_body; // may be NULL
	pthread_t   c_thr;
} client;

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

// A request that lasts until kubefake ends it (or goes away).
static void *
client_main(void *arg)
{
	client  *c = arg;
	kft_resp r;
	if (strcmp(c->c_method, "WATCH") == 0) {
		json_decref(kft_watch(c->c_k, c->c_path, NULL));
	} else {
		kft_do(c->c_k, c->c_method, c->c_path, NULL, c->c_body, &r);
		kft_resp_fini(&r);
	}
	return NULL;
}

static void
wait_stat(kft *k, const char *path, long long want)
{
	long long v = -1;
	for (int i = 0; i < 500 && (v = kft_stat(k, path)) < want; i++) {
		sleep_ms(10);
	}
	if (v < want) {
		fail_msg("stats %s: %lld, want %lld", path, v, want);
	}
}

static void
test_sigterm_while_busy(void **state)
{
	(void) state;
	kft      k = {0};
	kft_resp r;
	char     body[300];
	assert_int_equal(kft_start(&k, extra), 0);
	for (int i = 0; i < NLB; i++) {
		snprintf(body, sizeof(body),
		    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
		    "{\"name\":\"lb-%d\"},\"spec\":{\"type\":\"LoadBalancer\","
		    "\"ports\":[{\"port\":80}]}}",
		    i);
		kft_do(&k, "POST", SVCS, NULL, body, &r);
		assert_int_equal(r.r_code, 201);
		kft_resp_fini(&r);
	}

	client watches[NWATCH];
	for (int i = 0; i < NWATCH; i++) {
		watches[i] = (client) {.c_k = &k,
		    .c_method               = "WATCH",
		    .c_path                 = "/api/v1/services?watch=1&"
		                              "allowWatchBookmarks=true&timeoutSeconds=600"};
		assert_int_equal(pthread_create(&watches[i].c_thr, NULL,
		                     client_main, &watches[i]),
		    0);
	}
	wait_stat(&k, "watchers", NWATCH);

	// Held for a minute each: watches, a read and a write.
	assert_int_equal(kft_faults(&k, "{\"latency_ms\": 60000}"), 0);
	client slow[] = {
	    {.c_k = &k, .c_method = "WATCH", .c_path = WATCH_PATH},
	    {.c_k = &k, .c_method = "WATCH", .c_path = WATCH_PATH},
	    {.c_k = &k, .c_method = "WATCH", .c_path = WATCH_PATH},
	    {.c_k = &k, .c_method = "GET", .c_path = SVCS},
	    {.c_k         = &k,
	        .c_method = "POST",
	        .c_path   = SVCS,
	        .c_body   = "{\"apiVersion\":\"v1\",\"kind\":\"Service\","
	                    "\"metadata\":{\"name\":\"late\"},\"spec\":{"
	                    "\"ports\":[{\"port\":80}]}}"},
	};
	size_t nslow = sizeof(slow) / sizeof(slow[0]);
	for (size_t i = 0; i < nslow; i++) {
		assert_int_equal(pthread_create(&slow[i].c_thr, NULL,
		                     client_main, &slow[i]),
		    0);
	}
	wait_stat(&k, "faults.latency", (long long) nslow);

	int64_t t0 = now_ms();
	assert_int_equal(kill(k.k_pid, SIGTERM), 0);
	int   status = 0;
	pid_t got    = 0;
	while ((got = waitpid(k.k_pid, &status, WNOHANG)) == 0
	    && now_ms() - t0 < EXIT_MS) {
		sleep_ms(5);
	}
	int64_t took = now_ms() - t0;
	if (got == 0) {
		kill(k.k_pid, SIGKILL);
		waitpid(k.k_pid, &status, 0);
	}
	k.k_pid = 0;
	for (int i = 0; i < NWATCH; i++) {
		pthread_join(watches[i].c_thr, NULL);
	}
	for (size_t i = 0; i < nslow; i++) {
		pthread_join(slow[i].c_thr, NULL);
	}
	kft_cleanup(&k);
	if (got == 0) {
		fail_msg(
		    "kubefake still running %d ms after SIGTERM", EXIT_MS);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fail_msg("kubefake ended with status %#x", status);
	}
	printf("kubefake stopped in %lld ms\n", (long long) took);
}

int
main(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sigterm_while_busy),
	};
	int rc = cmocka_run_group_tests_name(
	    "kubefake_shutdown", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
