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
// concurrent writes of large Services make it grow again and again.
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
#include <unistd.h>

#include "internal.h"
#include "log.h"
#include "svcfleet/svcfleet.h"

#define URL      "inproc://retry-test"
#define THREADS  8
#define PER      40
#define ANN_SIZE (24 << 10)

static sf_server  *srv;
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

static void
test_writes_survive_batch_retries(void **state)
{
	pthread_t      th[THREADS];
	sf_store_stats ss;
	(void) state;

	for (int i = 0; i < THREADS; i++) {
		pthread_create(&th[i], NULL, writer, (void *) (intptr_t) i);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
	}
	sf_store_stats_get(srv->s_store, &ss);
	printf(
	    "retry: %d writers x %d Services (create + 2 updates), map "
	    "grown %llu times to %llu KiB, largest batch %llu; failures %d\n",
	    THREADS, PER, (unsigned long long) ss.ss_map_grows,
	    (unsigned long long) (ss.ss_map_size >> 10),
	    (unsigned long long) ss.ss_batch_max, atomic_load(&failures));
	assert_true(ss.ss_map_grows >= 3);
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

	snprintf(dir, sizeof(dir), "%s/sf-retry-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL) {
		return (-1);
	}
	snprintf(tokfile, sizeof(tokfile), "%s/tokens.csv", dir);
	snprintf(token, sizeof(token), "retry-admin-token");
	if ((f = fopen(tokfile, "w")) == NULL) {
		return (-1);
	}
	fprintf(f, "%s,admin,1\n", token);
	fclose(f);
	strcat(dir, "/data");
	o.so_data_dir   = dir;
	o.so_listen     = ls;
	o.so_nlisten    = 1;
	o.so_token_file = tokfile;
	o.so_nosync     = true;
	o.so_map_size   = 256 << 10; // grows under the load below
	sf_log_set_level(SF_LOG_WARN);
	sf_status_init(&st);
	if (sf_server_start(&srv, &o, &st) != 0) {
		fprintf(stderr, "server: %s\n", st.st_msg);
		return (-1);
	}
	sf_status_fini(&st);

	svcfleet_client                     *c  = NULL;
	svcfleet_status                      cs = {0};
	svcfleet_options                     co = {.url = URL,
	                        .token                  = token,
	                        .timeout_ms             = 10000,
	                        .connect_now            = true};
	Svcfleet__V1__Cluster                cl = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__RegisterClusterRequest rr
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *out = NULL;
	cl.name                    = "east";
	cl.api_server              = "https://127.0.0.1:1";
	cl.token                   = "t";
	rr.cluster                 = &cl;
	if (svcfleet_open(&c, &co, &cs) != 0
	    || svcfleet_register_cluster(c, &rr, &out, &cs) != 0) {
		fprintf(stderr, "setup: %s\n", cs.message);
		return (-1);
	}
	svcfleet_free(out);
	svcfleet_close(c);
	svcfleet_status_fini(&cs);
	return (0);
}

static int
teardown(void **state)
{
	(void) state;
	sf_server_stop(srv);
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
