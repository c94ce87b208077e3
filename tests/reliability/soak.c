// soak.c: steady mixed load on a running svcfleetd for a while (the load
// half of soak.sh, which watches the daemon's memory meanwhile):
//
//   soak --url URL --token TOKEN [--seconds N] [--threads N]
//
// Writers create, update (several fields) and delete a fixed set of
// Services (so the desired state stays the same size), readers get and
// list, two watchers long-poll the change feed, and every few seconds a
// burst of short-lived connections comes and goes, with a few undecodable
// requests among them. Every call must succeed or fail for a reason the
// load expects; the counts are printed at the end. Exit status 1 when an
// unexpected failure happened.
#include <inttypes.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "svcfleet/svcfleet.h"

#define CLUSTER "soak"
#define NSVC    200

static const char *url, *token;
static int         seconds = 1800, nthreads = 4;
static atomic_bool stop;
static atomic_long ops, unexpected, refused;

static svcfleet_client *
client(uint32_t timeout_ms)
{
	svcfleet_client *c  = NULL;
	svcfleet_status  st = {0};
	svcfleet_options o  = {.url = url,
	     .token                 = token,
	     .timeout_ms            = timeout_ms,
	     .connect_now           = true};
	if (svcfleet_open(&c, &o, &st) != 0) {
		fprintf(stderr, "soak: cannot connect: %s\n", st.message);
		exit(1);
	}
	svcfleet_status_fini(&st);
	return (c);
}

static void
count(int code, const svcfleet_status *st, const char *what)
{
	atomic_fetch_add(&ops, 1);
	if (code == SVCFLEET_RESOURCE_EXHAUSTED) {
		atomic_fetch_add(&refused, 1); // a limit at work: fine
		return;
	}
	if (code != 0 && code != SVCFLEET_NOT_FOUND
	    && code != SVCFLEET_ALREADY_EXISTS && code != SVCFLEET_ABORTED) {
		if (atomic_fetch_add(&unexpected, 1) < 20) {
			fprintf(stderr, "soak: %s: %s: %s\n", what,
			    svcfleet_code_name(code), st->message);
		}
	}
}

static void *
writer(void *arg)
{
	unsigned         seed = (unsigned) (uintptr_t) arg;
	svcfleet_client *c    = client(10000);
	svcfleet_status  st;
	char             name[32], gen[16], ann[512];

	svcfleet_status_init(&st);
	while (!atomic_load(&stop)) {
		int                      i   = rand_r(&seed) % NSVC;
		Svcfleet__V1__Service    svc = SVCFLEET__V1__SERVICE__INIT;
		Svcfleet__V1__ObjectMeta meta
		    = SVCFLEET__V1__OBJECT_META__INIT;
		Svcfleet__V1__ServiceSpec spec
		    = SVCFLEET__V1__SERVICE_SPEC__INIT;
		Svcfleet__V1__KeyValue  sel  = SVCFLEET__V1__KEY_VALUE__INIT;
		Svcfleet__V1__KeyValue  lab  = SVCFLEET__V1__KEY_VALUE__INIT;
		Svcfleet__V1__KeyValue  an   = SVCFLEET__V1__KEY_VALUE__INIT;
		Svcfleet__V1__KeyValue *selp = &sel, *labp = &lab, *annp = &an;
		Svcfleet__V1__ServicePort port
		    = SVCFLEET__V1__SERVICE_PORT__INIT;
		Svcfleet__V1__ServicePort *pp = &port;
		int                        r  = rand_r(&seed) % 10;
		int                        code;

		snprintf(name, sizeof(name), "soak-%03d", i);
		snprintf(gen, sizeof(gen), "%d", rand_r(&seed) % 100000);
		memset(ann, 'a' + rand_r(&seed) % 26, sizeof(ann) - 1);
		ann[sizeof(ann) - 1] = '\0';
		meta.cluster         = CLUSTER;
		meta.namespace_      = "load";
		meta.name            = name;
		sel.key              = "app";
		sel.value            = name;
		lab.key              = "gen";
		lab.value            = gen;
		an.key               = "soak/blob";
		an.value             = ann;
		port.port            = 1000 + rand_r(&seed) % 60000;
		spec.selector        = &selp;
		spec.n_selector      = 1;
		spec.ports           = &pp;
		spec.n_ports         = 1;
		meta.labels          = &labp;
		meta.n_labels        = 1;
		meta.annotations     = &annp;
		meta.n_annotations   = 1;
		svc.metadata         = &meta;
		svc.spec             = &spec;
		if (r < 3) {
			Svcfleet__V1__CreateServiceRequest q
			    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
			Svcfleet__V1__Service *out = NULL;
			q.service                  = &svc;
			code = svcfleet_create_service(c, &q, &out, &st);
			svcfleet_free(out);
			count(code, &st, "create");
		} else if (r < 8) {
			Svcfleet__V1__ApplyServiceRequest q
			    = SVCFLEET__V1__APPLY_SERVICE_REQUEST__INIT;
			Svcfleet__V1__ApplyServiceReply *out = NULL;
			q.service                            = &svc;
			code = svcfleet_apply_service(c, &q, &out, &st);
			svcfleet_free(out);
			count(code, &st, "apply");
		} else {
			Svcfleet__V1__ServiceKey k
			    = SVCFLEET__V1__SERVICE_KEY__INIT;
			Svcfleet__V1__DeleteServiceRequest q
			    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
			Svcfleet__V1__DeleteServiceReply *out = NULL;
			k.cluster                             = CLUSTER;
			k.namespace_                          = "load";
			k.name                                = name;
			q.key                                 = &k;
			code = svcfleet_delete_service(c, &q, &out, &st);
			svcfleet_free(out);
			count(code, &st, "delete");
		}
	}
	svcfleet_status_fini(&st);
	svcfleet_close(c);
	return (NULL);
}

static void *
reader(void *arg)
{
	unsigned         seed = (unsigned) (uintptr_t) arg;
	svcfleet_client *c    = client(10000);
	svcfleet_status  st;

	svcfleet_status_init(&st);
	while (!atomic_load(&stop)) {
		Svcfleet__V1__ListServicesRequest q
		    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
		Svcfleet__V1__ListServicesReply *out = NULL;
		q.cluster                            = CLUSTER;
		q.page_size      = (uint32_t) (1 + rand_r(&seed) % 100);
		q.label_selector = rand_r(&seed) % 2 ? "gen" : "";
		count(svcfleet_list_services(c, &q, &out, &st), &st, "list");
		svcfleet_free(out);
		usleep(20000);
	}
	svcfleet_status_fini(&st);
	svcfleet_close(c);
	return (NULL);
}

static void *
watcher(void *arg)
{
	svcfleet_client *c = client(30000);
	svcfleet_status  st;
	uint64_t         since = 0;
	(void) arg;

	svcfleet_status_init(&st);
	while (!atomic_load(&stop)) {
		Svcfleet__V1__WatchServicesRequest q
		    = SVCFLEET__V1__WATCH_SERVICES_REQUEST__INIT;
		Svcfleet__V1__WatchServicesReply *out = NULL;
		q.since_revision                      = since;
		q.cluster                             = CLUSTER;
		q.wait_ms                             = 5000;
		q.max_events                          = 200;
		int code = svcfleet_watch_services_wait(c, &q, &out, &st);
		if (code == 0) {
			since = out->revision;
		} else if (code == SVCFLEET_OUT_OF_RANGE) {
			since = 0; // relist (here: start over)
			code  = 0;
		}
		count(code, &st, "watch");
		svcfleet_free(out);
	}
	svcfleet_status_fini(&st);
	svcfleet_close(c);
	return (NULL);
}

// Short-lived connections, some with garbage.
static void *
churn(void *arg)
{
	(void) arg;
	while (!atomic_load(&stop)) {
		for (int i = 0; i < 20; i++) {
			svcfleet_client    *c = client(5000);
			svcfleet_status     st;
			Svcfleet__V1__Empty e = SVCFLEET__V1__EMPTY__INIT;
			Svcfleet__V1__WhoAmIReply  *w = NULL;
			Svcfleet__V1__WhoAmIRequest wr
			    = SVCFLEET__V1__WHO_AM_IREQUEST__INIT;
			(void) e;
			svcfleet_status_init(&st);
			count(
			    svcfleet_who_am_i(c, &wr, &w, &st), &st, "whoami");
			svcfleet_free(w);
			svcfleet_status_fini(&st);
			svcfleet_close(c);
		}
		nng_socket s;
		if (nng_req0_open(&s) == 0) {
			nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
			if (nng_dial(s, url, NULL, 0) == 0) {
				const char junk[]
				    = "\x0a\xff\xff\xffnot an envelope";
				nng_msg *m;
				if (nng_send(s, (void *) junk, sizeof(junk), 0)
				        == 0
				    && nng_recvmsg(s, &m, 0) == 0) {
					nng_msg_free(m);
				}
			}
			nng_close(s);
		}
		sleep(2);
	}
	return (NULL);
}

static void
register_cluster(void)
{
	svcfleet_client *c = client(10000);
	svcfleet_status  st;
	int              code;

	svcfleet_status_init(&st);
	code = th_register_cluster(c, CLUSTER, &st);
	if (code != 0 && code != SVCFLEET_ALREADY_EXISTS) {
		fprintf(stderr, "soak: RegisterCluster: %s\n", st.message);
		exit(1);
	}
	svcfleet_status_fini(&st);
	svcfleet_close(c);
}

int
main(int argc, char **argv)
{
	pthread_t t[64];
	int       n = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--url") == 0) {
			url = argv[i + 1];
		} else if (strcmp(argv[i], "--token") == 0) {
			token = argv[i + 1];
		} else if (strcmp(argv[i], "--seconds") == 0) {
			seconds = atoi(argv[i + 1]);
		} else if (strcmp(argv[i], "--threads") == 0) {
			nthreads = atoi(argv[i + 1]);
		}
	}
	if (url == NULL || token == NULL || nthreads < 1 || nthreads > 32) {
		fprintf(stderr,
		    "usage: soak --url URL --token TOKEN [--seconds N] "
		    "[--threads N]\n");
		return (2);
	}
	register_cluster();
	for (int i = 0; i < nthreads; i++) {
		pthread_create(
		    &t[n++], NULL, writer, (void *) (uintptr_t) (i + 1));
	}
	pthread_create(&t[n++], NULL, reader, (void *) 7);
	pthread_create(&t[n++], NULL, reader, (void *) 8);
	pthread_create(&t[n++], NULL, watcher, NULL);
	pthread_create(&t[n++], NULL, watcher, NULL);
	pthread_create(&t[n++], NULL, churn, NULL);
	sleep((unsigned) seconds);
	atomic_store(&stop, true);
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
	}
	printf("soak: %ld calls, %ld refused by a limit, %ld unexpected "
	       "failures\n",
	    atomic_load(&ops), atomic_load(&refused),
	    atomic_load(&unexpected));
	return (atomic_load(&unexpected) == 0 ? 0 : 1);
}
