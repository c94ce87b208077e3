// retry_test.c: writes that share a batch the store must run again (its
// LMDB map was full: the writer grows the map and re-runs the whole batch)
// get the answers they would have had without the retry. The soak run
// found that they did not: a create whose first attempt had written the
// store's uid and resource_version back into the request failed its second
// attempt with INVALID_ARGUMENT ("resourceVersion should not be set on
// objects to be created"), and updates failed their own precondition
// (ABORTED).
//
// svcfleetd runs in this process with a tiny first map (so_map_size), so
// concurrent writes of large Services make it grow again and again; how
// often it grew is read from the server's metrics, as an operator would.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"
#include "ops.h"
#include "server.h"
#include "svcfleet/svcfleet.h"

#define URL      "inproc://retry-test"
#define THREADS  8
#define PER      40
#define ANN_SIZE (24 << 10)

static sf_server  *srv;
static sf_metrics *metrics;
static char        token[128];
static atomic_int  failures;
static char        first_failure[600];
static atomic_flag first_set = ATOMIC_FLAG_INIT;

static void
failed(const char *what, const svcfleet_status *st)
{
	atomic_fetch_add(&failures, 1);
	if (!atomic_flag_test_and_set(&first_set)) {
		snprintf(first_failure, sizeof(first_failure), "%s: %s: %s",
		    what, svcfleet_code_name(st->code), st->message);
	}
}

static void *
writer(void *arg)
{
	int              t   = (int) (intptr_t) arg;
	svcfleet_client *c   = NULL;
	svcfleet_status  st  = {0};
	svcfleet_options o   = {.url = URL,
	      .token                 = token,
	      .timeout_ms            = 60000,
	      .connect_now           = true};
	char            *ann = malloc(ANN_SIZE + 1);

	if (svcfleet_open(&c, &o, &st) != 0) {
		failed("open", &st);
		return (NULL);
	}
	for (int i = 0; i < PER; i++) {
		Svcfleet__V1__Service    svc = SVCFLEET__V1__SERVICE__INIT;
		Svcfleet__V1__ObjectMeta meta
		    = SVCFLEET__V1__OBJECT_META__INIT;
		Svcfleet__V1__ServiceSpec spec
		    = SVCFLEET__V1__SERVICE_SPEC__INIT;
		Svcfleet__V1__KeyValue    sel  = SVCFLEET__V1__KEY_VALUE__INIT;
		Svcfleet__V1__KeyValue    an   = SVCFLEET__V1__KEY_VALUE__INIT;
		Svcfleet__V1__KeyValue   *selp = &sel, *annp = &an;
		Svcfleet__V1__ServicePort port
		    = SVCFLEET__V1__SERVICE_PORT__INIT;
		Svcfleet__V1__ServicePort *pp  = &port;
		Svcfleet__V1__Service     *out = NULL;
		char                       name[32];

		snprintf(name, sizeof(name), "retry-%d-%d", t, i);
		memset(ann, 'a' + (i % 26), ANN_SIZE);
		ann[ANN_SIZE]      = '\0';
		meta.cluster       = "east";
		meta.namespace_    = "default";
		meta.name          = name;
		an.key             = "retry/blob";
		an.value           = ann;
		meta.annotations   = &annp;
		meta.n_annotations = 1;
		sel.key            = "app";
		sel.value          = "web";
		port.port          = 80;
		spec.selector      = &selp;
		spec.n_selector    = 1;
		spec.ports         = &pp;
		spec.n_ports       = 1;
		svc.metadata       = &meta;
		svc.spec           = &spec;

		Svcfleet__V1__CreateServiceRequest cr
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		cr.service = &svc;
		if (svcfleet_create_service(c, &cr, &out, &st) != 0) {
			failed("create", &st);
			continue;
		}
		// Update it twice, with the resource_version precondition and
		// without one.
		for (int u = 0; u < 2; u++) {
			uint64_t rv = out->metadata->resource_version;
			svcfleet_free(out);
			out = NULL;
			memset(ann, 'A' + ((i + u) % 26), ANN_SIZE);
			port.port             = 81 + u;
			meta.resource_version = u == 0 ? rv : 0;
			Svcfleet__V1__UpdateServiceRequest ur
			    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
			ur.service = &svc;
			if (svcfleet_update_service(c, &ur, &out, &st) != 0) {
				failed("update", &st);
				break;
			}
		}
		svcfleet_free(out);
	}
	free(ann);
	svcfleet_status_fini(&st);
	svcfleet_close(c);
	return (NULL);
}

// The value of the server's counter or gauge called name.
static double
metric(const char *name, bool counter)
{
	sf_metric *m = counter ? sf_metrics_counter(metrics, name, "", NULL)
	                       : sf_metrics_gauge(metrics, name, "", NULL);
	assert_non_null(m);
	return (sf_metric_value(m, NULL));
}

static void
test_writes_survive_batch_retries(void **state)
{
	pthread_t th[THREADS];
	sf_buf    b = SF_BUF_INIT;
	(void) state;

	for (int i = 0; i < THREADS; i++) {
		pthread_create(&th[i], NULL, writer, (void *) (intptr_t) i);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
	}
	// Rendering runs the collectors, which read the store's statistics.
	assert_int_equal(sf_metrics_render(metrics, &b), 0);
	sf_buf_fini(&b);
	double grows   = metric("svcfleet_store_map_grows_total", true);
	double size    = metric("svcfleet_store_map_size_bytes", false);
	double commits = metric("svcfleet_store_commits_total", true);
	double writes  = metric("svcfleet_store_writes_total", true);
	printf("retry: %d writers x %d Services (create + 2 updates), map "
	       "grown %.0f times to %.0f KiB, %.0f writes in %.0f commits; "
	       "failures %d\n",
	    THREADS, PER, grows, size / 1024, writes, commits,
	    atomic_load(&failures));
	assert_true(grows >= 3);
	if (atomic_load(&failures) > 0) {
		fail_msg("%d writes failed; the first: %s",
		    atomic_load(&failures), first_failure);
	}
}

static int
setup(void **state)
{
	static char    dir[200], tokfile[300];
	const char    *ls[] = {URL};
	sf_server_opts o    = {0};
	sf_status      st;
	FILE          *f;
	(void) state;

	th_tmpdir(dir, sizeof(dir), "retry");
	snprintf(tokfile, sizeof(tokfile), "%s/tokens.csv", dir);
	snprintf(token, sizeof(token), "retry-admin-token");
	if ((f = fopen(tokfile, "w")) == NULL) {
		return (-1);
	}
	fprintf(f, "%s,admin,1\n", token);
	fclose(f);
	// svcfleetd refuses a token file others may read (issue 17).
	chmod(tokfile, 0600);
	strcat(dir, "/data");
	o.so_data_dir   = dir;
	o.so_listen     = ls;
	o.so_nlisten    = 1;
	o.so_token_file = tokfile;
	o.so_nosync     = true;
	o.so_map_size   = 256 << 10; // grows under the load below
	sf_log_set_level(SF_LOG_WARN);
	if (sf_metrics_alloc(&metrics) != 0) {
		return (-1);
	}
	o.so_metrics = metrics;
	sf_status_init(&st);
	if (sf_server_start(&srv, &o, &st) != 0) {
		fprintf(stderr, "server: %s\n", st.st_msg);
		return (-1);
	}
	sf_status_fini(&st);

	svcfleet_client *c  = th_client(URL, token, 0);
	svcfleet_status  cs = {0};
	TH_MUST(th_register_cluster(c, "east", &cs), &cs);
	svcfleet_close(c);
	svcfleet_status_fini(&cs);
	return (0);
}

static int
teardown(void **state)
{
	(void) state;
	sf_server_stop(srv);
	sf_metrics_free(metrics);
	return (0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_writes_survive_batch_retries),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
