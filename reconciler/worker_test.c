// worker_test.c: a cluster worker's inbox (worker.c) against late body
// fetches (issue 13). A fetch (GetService through a reporter) and the
// watch of the store travel apart, so a fetch's answer can come after the
// watch brought the object again; an answer does not say which state it
// read, so only the answer to the fetch still in flight is taken. Without
// that, a late answer put back a Service's older labels or selector (the
// chaos test's "labels or selector differ from marker"), revived a deleted
// Service, or dropped a re-created one.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kube_testutil.h"
#include "worker.h"

#define KEY "dev/web"

typedef struct fx {
	sf_reconciler     r;
	sf__recon_cluster c;
	sf__recon_worker  w;
} fx;

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->r.r_owner, sizeof(f->r.r_owner), "inst-1");
	pthread_mutex_init(&f->r.r_jmtx, NULL);
	pthread_cond_init(&f->r.r_jcv, NULL);
	f->c.c_rec  = &f->r;
	f->c.c_name = "west";
	f->c.c_w    = &f->w;
	f->w.w_c    = &f->c;
	f->w.w_r    = &f->r;
	sf__recon_objtab_init(&f->w.w_objs);
	sf_arena_init(&f->w.w_unpack);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	fx            *f = *state;
	sf__recon_job *j;
	while ((j = f->r.r_jhead) != NULL) {
		f->r.r_jhead = j->j_next;
		sf__recon_job_free(j);
	}
	sf__recon_heap_fini(&f->w.w_timers);
	sf__recon_objtab_fini(&f->w.w_objs);
	sf_arena_fini(&f->w.w_unpack);
	pthread_mutex_destroy(&f->r.r_jmtx);
	pthread_cond_destroy(&f->r.r_jcv);
	free(f);
	return (0);
}

// A stored Service of generation gen whose selector is app=<app>.
typedef struct svc_buf {
	sf_service      svc;
	sf_object_meta  md;
	sf_service_spec spec;
	sf_kv           sel, *selp[1];
	sf_service_port port, *portp[1];
	char            app[32];
} svc_buf;

static sf_service *
service(svc_buf *b, int64_t gen, const char *app)
{
	sf_object_meta  md   = SVCFLEET__V1__OBJECT_META__INIT;
	sf_service      svc  = SVCFLEET__V1__SERVICE__INIT;
	sf_service_spec spec = SVCFLEET__V1__SERVICE_SPEC__INIT;
	sf_kv           kv   = SVCFLEET__V1__KEY_VALUE__INIT;
	sf_service_port p    = SVCFLEET__V1__SERVICE_PORT__INIT;

	memset(b, 0, sizeof(*b));
	snprintf(b->app, sizeof(b->app), "%s", app);
	b->md              = md;
	b->md.cluster      = "west";
	b->md.namespace_   = "dev";
	b->md.name         = "web";
	b->md.generation   = gen;
	b->sel             = kv;
	b->sel.key         = "app";
	b->sel.value       = b->app;
	b->selp[0]         = &b->sel;
	b->port            = p;
	b->port.name       = "http";
	b->port.protocol   = "TCP";
	b->port.port       = 80;
	b->portp[0]        = &b->port;
	b->spec            = spec;
	b->spec.type       = "ClusterIP";
	b->spec.selector   = b->selp;
	b->spec.n_selector = 1;
	b->spec.ports      = b->portp;
	b->spec.n_ports    = 1;
	b->svc             = svc;
	b->svc.metadata    = &b->md;
	b->svc.spec        = &b->spec;
	return (&b->svc);
}

// The watch brings the Service (gen, app), or its deletion (app NULL).
static void
watch(fx *f, int64_t gen, const char *app)
{
	svc_buf        b;
	sf__recon_msg *m = sf__recon_desired_msg(
	    &f->r, service(&b, gen, app != NULL ? app : "x"), 0, app != NULL);
	assert_non_null(m);
	sf__recon_take_msg(&f->w, m, 1000);
	sf__recon_msg_free(m);
}

// Asks for the object's body; returns the job the reporters would run.
static sf__recon_job *
fetch(fx *f)
{
	sf__recon_obj *o = sf__recon_objtab_get(&f->w.w_objs, KEY);
	sf__recon_job *j;
	assert_non_null(o);
	sf__recon_drop_pb(&f->w, o);
	sf__recon_fetch(&f->w, o);
	assert_true(o->o_flags & O_FETCHING);
	j = f->r.r_jtail;
	assert_non_null(j);
	assert_int_equal(j->j_kind, J_FETCH);
	assert_int_equal(j->j_fetch, o->o_fetch);
	return (j);
}

// The answer to job j comes: the Service (gen, app) when rv is 0.
static void
answer(fx *f, sf__recon_job *j, int rv, int64_t gen, const char *app)
{
	svc_buf        b;
	sf__recon_msg *m = sf__recon_fetch_answer(
	    &f->r, j, rv, rv == 0 ? service(&b, gen, app) : NULL);
	sf__recon_job **pp;
	assert_non_null(m);
	assert_int_equal(m->m_fetch, j->j_fetch);
	sf__recon_take_msg(&f->w, m, 1000);
	sf__recon_msg_free(m);
	for (pp = &f->r.r_jhead; *pp != j; pp = &(*pp)->j_next) {
		assert_non_null(*pp);
	}
	*pp = j->j_next;
	if (f->r.r_jtail == j) {
		f->r.r_jtail = NULL;
		for (sf__recon_job *k = f->r.r_jhead; k != NULL;
		     k                = k->j_next) {
			f->r.r_jtail = k;
		}
	}
	f->r.r_jlen--;
	sf__recon_job_free(j);
}

// The desired hash the worker should hold for (gen, app).
static uint64_t
want_of(fx *f, int64_t gen, const char *app)
{
	svc_buf  b;
	uint64_t h = 0;
	assert_int_equal(
	    sf_kube_body(service(&b, gen, app), f->r.r_owner, NULL, &h), 0);
	return (h);
}

static sf__recon_obj *
obj(fx *f)
{
	return (sf__recon_objtab_get(&f->w.w_objs, KEY));
}

static void
assert_desired(fx *f, int64_t gen, const char *app)
{
	sf__recon_obj *o = obj(f);
	assert_non_null(o);
	assert_true(o->o_flags & D_PRESENT);
	assert_int_equal(o->o_gen, gen);
	assert_true(o->o_want == want_of(f, gen, app));
}

static void
assert_not_desired(fx *f)
{
	sf__recon_obj *o = obj(f);
	if (o != NULL) {
		assert_false(o->o_flags & D_PRESENT);
		assert_true(o->o_want == 0);
	}
}

// The plain path: the answer to the fetch in flight is taken.
static void
test_answer_taken(void **state)
{
	fx            *f = *state;
	sf__recon_job *j;
	watch(f, 1, "v1");
	j = fetch(f);
	answer(f, j, 0, 2, "v2");
	assert_desired(f, 2, "v2");
	assert_false(obj(f)->o_flags & O_FETCHING);
	assert_int_equal(obj(f)->o_fetch, 0);
	assert_non_null(obj(f)->o_pb);
	assert_true(want_of(f, 1, "v1") != want_of(f, 2, "v2"));
}

// The chaos divergence: fetch asked, the watch brings a new selector,
// then the fetch's answer (read before the change) comes.
static void
test_late_answer_after_update(void **state)
{
	fx            *f = *state;
	sf__recon_job *j;
	watch(f, 1, "v1");
	j = fetch(f);
	watch(f, 2, "v2");
	answer(f, j, 0, 1, "v1");
	assert_desired(f, 2, "v2");
	assert_false(obj(f)->o_flags & O_FETCHING);
}

// A late answer does not revive a Service the watch deleted.
static void
test_late_answer_after_delete(void **state)
{
	fx            *f = *state;
	sf__recon_job *j;
	watch(f, 1, "v1");
	j = fetch(f);
	watch(f, 0, NULL);
	answer(f, j, 0, 1, "v1");
	assert_not_desired(f);
}

// A late NOT_FOUND (read while it was deleted) does not drop the Service
// re-created since.
static void
test_late_not_found_after_recreate(void **state)
{
	fx            *f = *state;
	sf__recon_job *j;
	watch(f, 1, "v1");
	j = fetch(f);
	watch(f, 0, NULL);
	watch(f, 1, "v3");
	answer(f, j, SVCFLEET_NOT_FOUND, 0, NULL);
	assert_desired(f, 1, "v3");
}

// A NOT_FOUND answering the fetch in flight is the deletion.
static void
test_not_found_taken(void **state)
{
	fx            *f = *state;
	sf__recon_job *j;
	watch(f, 1, "v1");
	j = fetch(f);
	answer(f, j, SVCFLEET_NOT_FOUND, 0, NULL);
	assert_not_desired(f);
	assert_false(obj(f)->o_flags & O_FETCHING);
}

// Fetched twice: the first answer, coming after the second fetch was
// asked, is dropped; the second is taken.
static void
test_refetch_takes_only_the_last(void **state)
{
	fx            *f = *state;
	sf__recon_job *j1, *j2;
	watch(f, 1, "v1");
	j1 = fetch(f);
	watch(f, 2, "v2");
	j2 = fetch(f);
	assert_int_not_equal(j1->j_fetch, j2->j_fetch);
	answer(f, j1, 0, 1, "v1");
	assert_desired(f, 2, "v2");
	assert_true(obj(f)->o_flags & O_FETCHING); // j2 still travels
	answer(f, j2, 0, 3, "v3");
	assert_desired(f, 3, "v3");
	assert_false(obj(f)->o_flags & O_FETCHING);
}

// A failed fetch (M_FETCHED) ends only the fetch it answers, and arms a
// retry a second later.
static void
test_failed_fetch(void **state)
{
	fx            *f = *state;
	sf__recon_job *j1, *j2;
	watch(f, 1, "v1");
	j1 = fetch(f);
	watch(f, 1, "v1");
	j2 = fetch(f);
	answer(f, j1, SVCFLEET_UNAVAILABLE, 0, NULL);
	assert_true(obj(f)->o_flags & O_FETCHING);
	assert_int_equal(obj(f)->o_heap, 0);
	answer(f, j2, SVCFLEET_UNAVAILABLE, 0, NULL);
	assert_false(obj(f)->o_flags & O_FETCHING);
	assert_int_not_equal(obj(f)->o_heap, 0);
	assert_int_equal(obj(f)->o_next_ms, 2000);
	assert_desired(f, 1, "v1");
}

// A list that no longer holds the Service deletes it; the answer to a
// fetch asked before the list does not bring it back.
static void
test_late_answer_after_list(void **state)
{
	fx            *f = *state;
	sf__recon_job *j;
	sf__recon_msg *m;
	svc_buf        b;
	m = sf__recon_desired_msg(&f->r, service(&b, 1, "v1"), 1, true);
	sf__recon_take_msg(&f->w, m, 1000);
	sf__recon_msg_free(m);
	j          = fetch(f);
	m          = sf__recon_msg_new(M_LIST_DONE, NULL);
	m->m_epoch = 2;
	sf__recon_take_msg(&f->w, m, 1000);
	sf__recon_msg_free(m);
	assert_not_desired(f);
	answer(f, j, 0, 1, "v1");
	assert_not_desired(f);
}

// The answer for an object forgotten meanwhile makes no object.
static void
test_answer_for_forgotten(void **state)
{
	fx            *f = *state;
	sf__recon_job *j;
	watch(f, 1, "v1");
	j = fetch(f);
	sf__recon_objtab_del(&f->w.w_objs, obj(f));
	answer(f, j, 0, 1, "v1");
	assert_null(obj(f));
}

// ------------------------------------------------------------ statistics

// The cluster's object after svcfleet applied the body of (gen, app),
// at resource version rv, as a watch event would bring it.
static void
observe_applied(fx *f, int64_t gen, const char *app, int rv)
{
	svc_buf  b;
	char    *body = NULL, rvs[32];
	uint64_t h    = 0;
	json_t  *o;

	assert_int_equal(
	    sf_kube_body(service(&b, gen, app), f->r.r_owner, &body, &h), 0);
	o = json_loads(body, 0, NULL);
	assert_non_null(o);
	free(body);
	snprintf(rvs, sizeof(rvs), "%d", rv);
	sf_kube_test_applied(o, SF_KUBE_FIELD_MANAGER, rvs);
	sf__recon_observe(&f->w, o, 1000);
	json_decref(o);
}

// Publishes the statistics at now and checks them against the objects
// (objects, in sync, not in sync, pending since).
static void
assert_stats(fx *f, int64_t now, uint64_t objs, uint64_t synced,
    uint64_t pending, int64_t since)
{
	sf__recon_publish_stats(&f->w, now);
	assert_int_equal(atomic_load(&f->c.c_nobjs), objs);
	assert_int_equal(atomic_load(&f->c.c_nsynced), synced);
	assert_int_equal(atomic_load(&f->c.c_npending), pending);
	assert_int_equal(atomic_load(&f->c.c_pending_since), since);
}

// i21-idle: the published counts follow every change, though the objects
// are counted again only when something touched them.
static void
test_stats_follow_changes(void **state)
{
	fx      *f = *state;
	unsigned scans;

	assert_stats(f, 1000, 0, 0, 0, 0);
	watch(f, 1, "v1"); // desired, not in the cluster
	assert_stats(f, 2000, 1, 0, 1, 2000);
	scans = f->w.w_stats_scans;
	assert_stats(f, 3000, 1, 0, 1, 2000); // nothing changed
	assert_int_equal(f->w.w_stats_scans, scans);
	assert_stats(f, 3500, 1, 0, 1, 2000); // not a second yet
	observe_applied(f, 1, "v1", 10);
	assert_true(sf__recon_in_sync(obj(f)));
	assert_stats(f, 4000, 1, 1, 0, 0);
	assert_stats(f, 5000, 1, 1, 0, 0);
	assert_int_equal(f->w.w_stats_scans, scans + 1);
	watch(f, 2, "v2"); // a new spec: not in sync again
	assert_stats(f, 6000, 1, 0, 1, 6000);
	observe_applied(f, 2, "v2", 11);
	assert_stats(f, 7000, 1, 1, 0, 0);
	// A second Service, held by the cluster before it is desired: an
	// object that is not counted as desired.
	{
		svc_buf        b;
		sf_service    *svc = service(&b, 1, "v1");
		sf__recon_msg *m;
		b.md.name = "api";
		m         = sf__recon_desired_msg(&f->r, svc, 0, true);
		assert_non_null(m);
		sf__recon_take_msg(&f->w, m, 1000);
		sf__recon_msg_free(m);
	}
	assert_stats(f, 8000, 2, 1, 1, 8000);
	watch(f, 0, NULL); // dev/web deleted in svcfleet
	assert_stats(f, 9000, 2, 0, 1, 8000);
	sf__recon_objtab_del(&f->w.w_objs, obj(f));
	sf__recon_touched(&f->w); // as sf__recon_decide does
	assert_stats(f, 10000, 1, 0, 1, 8000);
	assert_int_equal(f->w.w_stats_scans, scans + 6);
}

// ------------------------------------------------------------ connection

// A worker that can start requests: a multi handle and the settings of
// a cluster where nothing listens (a request is only added to the multi
// handle here, never run).
static void
with_cluster(fx *f)
{
	Svcfleet__V1__Cluster cl = SVCFLEET__V1__CLUSTER__INIT;
	sf_status             st = {0};

	sf_kube_global_init();
	cl.name                           = "west";
	cl.api_server                     = "https://127.0.0.1:1";
	f->r.r_opts.ro_max_inflight       = 4;
	f->r.r_opts.ro_request_timeout_ms = 1000;
	assert_int_equal(sf_kube_cfg_alloc(&f->w.w_cfg, &cl, &st), 0);
	assert_non_null(f->c.c_multi = curl_multi_init());
}

static void
without_cluster(fx *f)
{
	sf__recon_cancel_all(&f->w);
	while (f->w.w_free != NULL) {
		sf__recon_req *q = f->w.w_free;
		f->w.w_free      = q->q_next;
		sf_kube_req_fini(&q->q_kr);
		free(q);
	}
	curl_multi_cleanup(f->c.c_multi);
	f->c.c_multi = NULL;
	sf_kube_cfg_free(f->w.w_cfg);
	f->w.w_cfg = NULL;
}

// s28-tick: a down cluster is probed (/version) in the step at its retry
// time. It used to only turn C_IDLE there and start the probe at the
// loop's next turn, which nothing woke but the once-a-second tick: with
// the loop sleeping until its next timer it stayed down for good.
static void
test_down_cluster_probed_at_retry(void **state)
{
	fx               *f = *state;
	sf__recon_worker *w = &f->w;

	with_cluster(f);
	w->w_conn          = C_DOWN;
	w->w_down_attempts = 1;
	w->w_retry_at      = 5000;
	w->w_health
	    = SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNREACHABLE;
	w->w_health_sent_at = 4000;
	// The loop sleeps until the retry, and no longer.
	assert_true(sf__recon_conn_due(w) == 5000);
	sf__recon_conn_step(w, 4999);
	assert_int_equal(w->w_conn, C_DOWN);
	assert_null(w->w_probe);
	sf__recon_conn_step(w, 5000);
	assert_int_equal(w->w_conn, C_VERSION);
	assert_non_null(w->w_probe);
	assert_true(w->w_probe == w->w_active);
	// Waiting for the probe: only the health refresh is a time.
	assert_true(sf__recon_conn_due(w) == 4000 + 5 * 60 * 1000);

	// A probe that cannot start (the multi handle refuses it) is
	// tried again after a backoff, the cluster still down.
	sf__recon_cancel_all(w);
	assert_null(w->w_probe);
	w->w_conn = C_DOWN;
	{
		CURLM *m     = f->c.c_multi;
		f->c.c_multi = NULL;
		sf__recon_conn_step(w, 6000);
		f->c.c_multi = m;
	}
	assert_int_equal(w->w_conn, C_DOWN);
	assert_null(w->w_probe);
	assert_true(w->w_retry_at >= 6000 + 250 && w->w_retry_at <= 6500);
	assert_true(sf__recon_conn_due(w) == w->w_retry_at);
	sf__recon_conn_step(w, w->w_retry_at);
	assert_int_equal(w->w_conn, C_VERSION);
	assert_non_null(w->w_probe);
	without_cluster(f);
}

// s28-tick: the connection's next step is a time only while one is due
// without a transfer finishing: a resync (and the watch's re-open) waits
// for the list in flight, which is not a time the loop could sleep to
// (a past resync time while a list is in flight was a busy loop).
static void
test_conn_due(void **state)
{
	fx               *f = *state;
	sf__recon_worker *w = &f->w;
	sf__recon_req     list, watch;

	w->w_conn        = C_VERSION;
	w->w_next_resync = 1000;
	w->w_watch_at    = 500;
	assert_true(sf__recon_conn_due(w) == INT64_MAX);
	w->w_conn = C_UP;
	assert_true(sf__recon_conn_due(w) == 500);
	w->w_watch = &watch;
	assert_true(sf__recon_conn_due(w) == 1000);
	w->w_list = &list; // a resync in flight
	assert_true(sf__recon_conn_due(w) == INT64_MAX);
	w->w_watch = NULL;
	assert_true(sf__recon_conn_due(w) == INT64_MAX);
	w->w_health = SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_READY;
	w->w_health_sent_at = 2000;
	assert_true(sf__recon_conn_due(w) == 2000 + 5 * 60 * 1000);
	w->w_list = NULL;
	assert_true(sf__recon_conn_due(w) == 500);
	w->w_watch = NULL;
	w->w_conn  = C_IDLE;
	assert_true(sf__recon_conn_due(w) == 0); // at once
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_answer_taken, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_late_answer_after_update, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_late_answer_after_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_late_not_found_after_recreate, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_not_found_taken, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_refetch_takes_only_the_last, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_failed_fetch, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_late_answer_after_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_answer_for_forgotten, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_stats_follow_changes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_down_cluster_probed_at_retry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conn_due, setup, teardown),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
