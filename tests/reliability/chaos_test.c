// chaos_test.c: faults between svcfleet and its clusters. Three kubefake
// clusters; "steady" never misbehaves, "flaky1" and "flaky2" take turns
// at every fault kubefake has — 500s, 429s with Retry-After, latency,
// dropped connections, refusing everything — and at being restarted,
// while Services keep being created, changed and deleted in all three.
// Restarts alternate between SIGTERM (kubefake must exit 0) and SIGKILL
// (a crash: its state must survive anyway, as etcd's does).
//
// Throughout: every change on "steady" is SYNCED within 15 s (a sick
// cluster never stalls a healthy one). Afterwards, with the faults gone,
// an invariant checker compares desired state with every cluster:
//   - every managed Service in a cluster is a desired one, equal to it
//     (type, selector, ports, labels) — nothing left behind;
//   - every desired Service is there and SYNCED at its generation;
//   - Services svcfleet does not own were not touched (same
//     resourceVersion), including one whose name a desired Service wants
//     (that one reports ERROR instead of adopting it).
//
//   SF_CHAOS_SECONDS (default 45; tests/reliability/chaos-long.sh: 300)
//   SF_CHAOS_SEED    the changes' random seed (default: the time; printed)
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
#include <time.h>
#include <unistd.h>

#include "recon_util.h"

#define SYNCED  SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
#define ERRORED SVCFLEET__V1__SYNC_STATE__SYNC_STATE_ERROR
#define NCL     3
#define NSVC    8
#define NS      "default"

static const char *const cluster_names[NCL] = {"steady", "flaky1", "flaky2"};

typedef struct svc_model {
	bool present;  // desired (stored and not deleting)
	bool deleting; // delete requested, not gone yet
	int  marker;
} svc_model;

typedef struct chaos {
	rt_env      e;
	svc_model   m[NCL][NSVC];
	atomic_bool stop;
	atomic_bool done;    // the checks are over
	atomic_bool stopped; // the fault thread made its last change
	pthread_t   faults;
	int         kf_port[NCL];
	// Unowned Services, by cluster: name and resourceVersion.
	char unowned_rv[NCL][2][32];
	// Counters for the summary.
	int     ops, steady_checks, restarts, faults_by_kind[6];
	int     unclean_stops; // SIGTERM did not end kubefake with status 0
	int64_t steady_max_ms;
} chaos;

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

// ------------------------------------------------------------- services

typedef struct built {
	Svcfleet__V1__Service      svc;
	Svcfleet__V1__ObjectMeta   meta;
	Svcfleet__V1__ServiceSpec  spec;
	Svcfleet__V1__KeyValue     sel, lab;
	Svcfleet__V1__KeyValue    *selp[1], *labp[1];
	Svcfleet__V1__ServicePort  port[2];
	Svcfleet__V1__ServicePort *portp[2];
	char                       name[32], gen[16], app[24];
} built;

// Every field is a function of the marker, so the checker can recompute
// what a cluster must hold.
static void
build(built *b, int ci, int si, int marker)
{
	memset(b, 0, sizeof(*b));
	svcfleet__v1__service__init(&b->svc);
	svcfleet__v1__object_meta__init(&b->meta);
	svcfleet__v1__service_spec__init(&b->spec);
	svcfleet__v1__key_value__init(&b->sel);
	svcfleet__v1__key_value__init(&b->lab);
	snprintf(b->name, sizeof(b->name), "chaos-%d", si);
	snprintf(b->gen, sizeof(b->gen), "%d", marker);
	snprintf(b->app, sizeof(b->app), "app-%d", marker % 5);
	b->meta.cluster    = (char *) cluster_names[ci];
	b->meta.namespace_ = NS;
	b->meta.name       = b->name;
	b->lab.key         = "chaos-gen";
	b->lab.value       = b->gen;
	b->labp[0]         = &b->lab;
	b->meta.labels     = b->labp;
	b->meta.n_labels   = 1;
	b->sel.key         = "app";
	b->sel.value       = b->app;
	b->selp[0]         = &b->sel;
	b->spec.selector   = b->selp;
	b->spec.n_selector = 1;
	b->spec.type       = marker % 3 == 0 ? "NodePort" : "ClusterIP";
	b->spec.n_ports    = 1 + (size_t) (marker % 2);
	for (size_t i = 0; i < b->spec.n_ports; i++) {
		svcfleet__v1__service_port__init(&b->port[i]);
		b->port[i].name        = i == 0 ? "http" : "metrics";
		b->port[i].protocol    = "TCP";
		b->port[i].port        = (int32_t) (1000 + marker % 500 + i);
		b->port[i].target_port = (int32_t) (8000 + i);
		b->portp[i]            = &b->port[i];
	}
	b->spec.ports   = b->portp;
	b->svc.metadata = &b->meta;
	b->svc.spec     = &b->spec;
}

// Does svcfleetd still hold it (deleting or not)?
static bool
stored(chaos *c, int ci, int si)
{
	char name[32];
	snprintf(name, sizeof(name), "chaos-%d", si);
	Svcfleet__V1__Service *s = rt_get(&c->e, cluster_names[ci], NS, name);
	bool                   y = s != NULL;
	svcfleet_free(s);
	return (y);
}

static void
mutate(chaos *c, unsigned *seed)
{
	int        ci = (int) (rand_r(seed) % NCL);
	int        si = (int) (rand_r(seed) % NSVC);
	svc_model *m  = &c->m[ci][si];
	built      b;
	int        rv;
	int64_t    t0 = now_ms();

	if (m->deleting) {
		if (stored(c, ci, si)) {
			return; // the cluster has not confirmed yet
		}
		m->deleting = false;
	}
	m->marker++;
	build(&b, ci, si, m->marker);
	if (!m->present) {
		Svcfleet__V1__CreateServiceRequest q
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;
		q.service                  = &b.svc;
		rv                         = svcfleet_create_service(
		                            c->e.re_cli, &q, &out, &c->e.re_st);
		svcfleet_free(out);
		if (rv != 0) {
			fail_msg("create %s/%s: %s", cluster_names[ci], b.name,
			    c->e.re_st.message);
		}
		m->present = true;
	} else if (rand_r(seed) % 10 < 7) {
		Svcfleet__V1__UpdateServiceRequest q
		    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;
		q.service                  = &b.svc;
		rv                         = svcfleet_update_service(
		                            c->e.re_cli, &q, &out, &c->e.re_st);
		svcfleet_free(out);
		if (rv != 0) {
			fail_msg("update %s/%s: %s", cluster_names[ci], b.name,
			    c->e.re_st.message);
		}
	} else {
		Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
		Svcfleet__V1__DeleteServiceRequest q
		    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__DeleteServiceReply *out = NULL;
		k.cluster    = (char *) cluster_names[ci];
		k.namespace_ = NS;
		k.name       = b.name;
		q.key        = &k;
		rv           = svcfleet_delete_service(
		              c->e.re_cli, &q, &out, &c->e.re_st);
		svcfleet_free(out);
		if (rv != 0) {
			fail_msg("delete %s/%s: %s", cluster_names[ci], b.name,
			    c->e.re_st.message);
		}
		m->present  = false;
		m->deleting = true;
	}
	c->ops++;
	if (ci == 0) {
		// The healthy cluster is never held up by the sick ones.
		if (m->present) {
			svcfleet_free(rt_wait(&c->e, cluster_names[0], NS,
			    b.name, SYNCED, 15000));
		} else {
			rt_wait_gone(
			    &c->e, cluster_names[0], NS, b.name, 15000);
			m->deleting = false;
		}
		int64_t dt = now_ms() - t0;
		if (dt > c->steady_max_ms) {
			c->steady_max_ms = dt;
		}
		c->steady_checks++;
	}
}

// --------------------------------------------------------------- faults

static const char *const fault_json[] = {
    "{\"error_rate\": 0.3, \"error_status\": 500}",
    "{\"error_rate\": 0.3, \"error_status\": 429, \"retry_after_s\": 1}",
    "{\"latency_ms\": 400}", "{\"drop_rate\": 0.3}", "{\"refuse_all\": true}",
    NULL, // a restart
};

static void
sleep_until_stop(chaos *c, int ms)
{
	for (int i = 0; i < ms / 50 && !atomic_load(&c->stop); i++) {
		rt_sleep_ms(50);
	}
}

// Restarts kubefake i on the same port (its state survives, as a real
// API server's does in etcd), stopped by SIGKILL when hard.
static void
restart_cluster(chaos *c, int i, bool hard)
{
	char        port[32];
	const char *extra[] = {"--listen", port, NULL};
	snprintf(port, sizeof(port), "127.0.0.1:%d", c->kf_port[i]);
	if (hard) {
		kft_kill(&c->e.re_kf[i]);
	} else {
		int rc = kft_stop(&c->e.re_kf[i]);
		if (rc != 0) {
			fprintf(stderr,
			    "chaos: kubefake %d exited %d on SIGTERM\n", i,
			    rc);
			c->unclean_stops++;
		}
	}
	rt_sleep_ms(500);
	for (int tries = 0; tries < 20; tries++) {
		if (kft_start(&c->e.re_kf[i], extra) == 0) {
			c->restarts++;
			return;
		}
		rt_sleep_ms(250); // the port may linger a moment
	}
	fprintf(stderr, "chaos: kubefake %d did not restart on %s\n", i, port);
	abort();
}

static void *
fault_main(void *arg)
{
	chaos   *c    = arg;
	unsigned seed = 4242;
	int      kind = 0;

	while (!atomic_load(&c->stop)) {
		int i = 1 + (int) (rand_r(&seed) % 2); // never "steady"
		int k = kind++ % 6;                    // every kind in turn
		c->faults_by_kind[k]++;
		if (fault_json[k] == NULL) {
			restart_cluster(c, i, c->restarts % 2 == 1);
		} else {
			kft_faults(&c->e.re_kf[i], fault_json[k]);
			sleep_until_stop(
			    c, 3000 + (int) (rand_r(&seed) % 3000));
			kft_faults(&c->e.re_kf[i], "{}");
		}
		sleep_until_stop(c, 1000 + (int) (rand_r(&seed) % 2000));
	}
	atomic_store(&c->stopped, true);
	// A kubefake restarted here dies with this thread (kft sets
	// PR_SET_PDEATHSIG, which follows the forking thread): live on
	// until the checks are done.
	while (!atomic_load(&c->done)) {
		rt_sleep_ms(50);
	}
	return (NULL);
}

// ------------------------------------------------------------- checking

static json_t *
managed_in(chaos *c, int i)
{
	kft_resp r;
	memset(&r, 0, sizeof(r));
	if (kft_do(&c->e.re_kf[i], "GET",
	        "/api/v1/"
	        "services?labelSelector=app.kubernetes.io%2Fmanaged-by%"
	        "3Dsvcfleet",
	        NULL, NULL, &r)
	        != CURLE_OK
	    || r.r_code != 200) {
		fail_msg("listing cluster %s: HTTP %ld", cluster_names[i],
		    r.r_code);
	}
	json_t *items = json_incref(json_object_get(r.r_json, "items"));
	kft_resp_fini(&r);
	return (items);
}

static const char *
jstr(json_t *o, const char *path)
{
	const char *s = kft_jstr(o, path);
	return (s != NULL ? s : "");
}

// The cluster's object must be what marker m describes.
static void
check_equal(int ci, json_t *obj, int marker)
{
	built       b;
	const char *name = jstr(obj, "metadata.name");
	int         si   = atoi(name + strlen("chaos-"));
	build(&b, ci, si, marker);

	if (strcmp(jstr(obj, "spec.type"), b.spec.type) != 0) {
		fail_msg("%s/%s: type %s, desired %s", cluster_names[ci], name,
		    jstr(obj, "spec.type"), b.spec.type);
	}
	if (strcmp(jstr(obj, "metadata.labels.chaos-gen"), b.gen) != 0
	    || strcmp(jstr(obj, "spec.selector.app"), b.app) != 0
	    || json_object_size(kft_jget(obj, "spec.selector")) != 1) {
		fail_msg("%s/%s: labels or selector differ from marker %d",
		    cluster_names[ci], name, marker);
	}
	json_t *ports = kft_jget(obj, "spec.ports");
	if (json_array_size(ports) != b.spec.n_ports) {
		fail_msg("%s/%s: %zu ports, desired %zu", cluster_names[ci],
		    name, json_array_size(ports), b.spec.n_ports);
	}
	for (size_t i = 0; i < b.spec.n_ports; i++) {
		json_t *p = json_array_get(ports, i);
		if (json_integer_value(json_object_get(p, "port"))
		        != b.port[i].port
		    || json_integer_value(json_object_get(p, "targetPort"))
		        != b.port[i].target_port
		    || strcmp(jstr(p, "name"), b.port[i].name) != 0
		    || strcmp(jstr(p, "protocol"), "TCP") != 0) {
			fail_msg("%s/%s: port %zu differs", cluster_names[ci],
			    name, i);
		}
	}
}

static void
create_unowned(chaos *c, int i, const char *name, char *rv, size_t cap)
{
	kft_resp r;
	char     body[512];
	memset(&r, 0, sizeof(r));
	snprintf(body, sizeof(body),
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":"
	    "\"%s\",\"labels\":{\"owner\":\"someone-else\"}},\"spec\":{"
	    "\"selector\":{\"app\":\"theirs\"},\"ports\":[{\"port\":7777}]}}",
	    name);
	assert_int_equal(
	    kft_do(&c->e.re_kf[i], "POST",
	        "/api/v1/namespaces/default/services", NULL, body, &r),
	    CURLE_OK);
	if (r.r_code != 201) {
		fail_msg("creating %s in %s: HTTP %ld: %s", name,
		    cluster_names[i], r.r_code, r.r_body);
	}
	snprintf(rv, cap, "%s", jstr(r.r_json, "metadata.resourceVersion"));
	kft_resp_fini(&r);
}

static void
check_unowned(chaos *c, int i, const char *name, const char *rv)
{
	json_t *o = rt_kget(&c->e, i, NS, name);
	if (o == NULL) {
		fail_msg("%s: the unowned Service %s is gone",
		    cluster_names[i], name);
	}
	if (strcmp(jstr(o, "metadata.resourceVersion"), rv) != 0
	    || strcmp(jstr(o, "metadata.labels.owner"), "someone-else") != 0) {
		fail_msg("%s: the unowned Service %s was changed",
		    cluster_names[i], name);
	}
	json_decref(o);
}

static void
test_faults_while_services_change(void **state)
{
	chaos   *c       = calloc(1, sizeof(*c));
	unsigned seed    = getenv("SF_CHAOS_SEED")
	       ? (unsigned) strtoul(getenv("SF_CHAOS_SEED"), NULL, 10)
	       : (unsigned) time(NULL);
	int      seconds = getenv("SF_CHAOS_SECONDS")
	         ? atoi(getenv("SF_CHAOS_SECONDS"))
	         : 45;
	(void) state;

	printf("chaos: %d s, seed %u\n", seconds, seed);
	rt_start(&c->e, true);
	for (int i = 0; i < NCL; i++) {
		rt_cluster(&c->e, i, cluster_names[i], NULL);
		c->kf_port[i] = c->e.re_kf[i].k_port;
		create_unowned(c, i, "theirs", c->unowned_rv[i][0],
		    sizeof(c->unowned_rv[i][0]));
		create_unowned(c, i, "taken", c->unowned_rv[i][1],
		    sizeof(c->unowned_rv[i][1]));
	}
	// A desired Service whose name an unowned one holds: reported, not
	// adopted.
	free(rt_cli(&c->e, NULL,
	    "create service taken --cluster flaky1 --selector app=mine "
	    "--port 80"));

	assert_int_equal(pthread_create(&c->faults, NULL, fault_main, c), 0);
	int64_t until = now_ms() + (int64_t) seconds * 1000;
	while (now_ms() < until) {
		mutate(c, &seed);
		rt_sleep_ms(100 + (int) (rand_r(&seed) % 200));
	}
	atomic_store(&c->stop, true);
	while (!atomic_load(&c->stopped)) {
		rt_sleep_ms(50);
	}
	for (int i = 1; i < NCL; i++) {
		kft_faults(&c->e.re_kf[i], "{}");
	}

	// Convergence: every desired Service SYNCED at its generation, every
	// deleted one gone (the reconciler retries with backoff; allow time).
	for (int ci = 0; ci < NCL; ci++) {
		for (int si = 0; si < NSVC; si++) {
			char name[32];
			snprintf(name, sizeof(name), "chaos-%d", si);
			if (c->m[ci][si].present) {
				svcfleet_free(rt_wait(&c->e, cluster_names[ci],
				    NS, name, SYNCED, 60000));
			} else if (c->m[ci][si].deleting) {
				rt_wait_gone(
				    &c->e, cluster_names[ci], NS, name, 60000);
			}
		}
	}
	svcfleet_free(rt_wait(&c->e, "flaky1", NS, "taken", ERRORED, 30000));

	// The clusters hold exactly the desired state.
	for (int ci = 0; ci < NCL; ci++) {
		json_t *items = managed_in(c, ci);
		size_t  want  = 0;
		for (int si = 0; si < NSVC; si++) {
			want += c->m[ci][si].present;
		}
		if (json_array_size(items) != want) {
			fail_msg("%s holds %zu managed Services, %zu desired",
			    cluster_names[ci], json_array_size(items), want);
		}
		size_t  k;
		json_t *obj;
		json_array_foreach(items, k, obj)
		{
			const char *name = jstr(obj, "metadata.name");
			int         si   = strncmp(name, "chaos-", 6) == 0
			              ? atoi(name + 6)
			              : -1;
			if (si < 0 || si >= NSVC || !c->m[ci][si].present) {
				fail_msg("%s holds %s, which is not desired",
				    cluster_names[ci], name);
			}
			check_equal(ci, obj, c->m[ci][si].marker);
		}
		json_decref(items);
		check_unowned(c, ci, "theirs", c->unowned_rv[ci][0]);
		check_unowned(c, ci, "taken", c->unowned_rv[ci][1]);
	}
	atomic_store(&c->done, true);
	pthread_join(c->faults, NULL);
	assert_int_equal(c->unclean_stops, 0);
	printf("chaos: %d changes; steady cluster checked %d times, slowest "
	       "%lld ms; faults: %d 500s, %d 429s, %d latency, %d dropped, %d "
	       "refuse-all, %d restarts\n",
	    c->ops, c->steady_checks, (long long) c->steady_max_ms,
	    c->faults_by_kind[0], c->faults_by_kind[1], c->faults_by_kind[2],
	    c->faults_by_kind[3], c->faults_by_kind[4], c->restarts);
	rt_stop(&c->e);
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_faults_while_services_change, rt_teardown),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
