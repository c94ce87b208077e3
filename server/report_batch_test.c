// report_batch_test.c: a reconciler's ReportStatuses larger than one store
// transaction can hold (s26-ha, issue 13).
//
// A reconciler that takes a cluster over (ha_test: a replica killed, then
// back) reports every Service of it at once, up to 256 reports a call. On
// etcd one write is one transaction of at most --max-txn-ops (128) keys:
// such a call was refused whole (RESOURCE_EXHAUSTED), sent again a second
// later just as large, and refused again for as long as the burst lasted,
// so the reports that remove the finalizer of deleted Services were held
// back with the rest: ha_test's acknowledged deletes stayed "deleting" for
// 6, 18, then more than its 20 s. Now the reports that fit are applied and
// the others answer UNAVAILABLE, not applied (nothing of them written), to
// be sent again: every report is applied within a few calls, on etcd as on
// LMDB (where one call takes them all).
//
// svcfleetd runs in this process on LMDB, or (report_batch_test_etcd,
// SF_STORE_BACKEND=etcd) on a one-member etcd started by the test.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "etcdfix.h"
#include "log.h"
#include "server.h"
#include "status.h"
#include "svcfleet/svcfleet.h"

#define TOKEN   "report-batch-test-admin-token"
#define WAIT_MS 20000
#define N       150 // more reports than an etcd transaction holds
#define FIN     "svcfleet.io/cluster"

static bool        etcd; // SF_STORE_BACKEND=etcd
static sf_etcdfix *fix;
static char        dir[64], prefix[64], url[96];
static sf_server  *srv;

static svcfleet_client *
client(const char *token)
{
	svcfleet_options o = {0};
	svcfleet_client *c = NULL;
	svcfleet_status  st;

	o.url         = url;
	o.token       = token;
	o.timeout_ms  = WAIT_MS;
	o.connect_now = true;
	svcfleet_status_init(&st);
	if (svcfleet_open(&c, &o, &st) != 0) {
		fail_msg("open: %s", st.message);
	}
	svcfleet_status_fini(&st);
	return (c);
}

static int
setup(void **state)
{
	const char    *b = getenv("SF_STORE_BACKEND");
	sf_server_opts o = {0};
	const char    *ls[1];
	char           tokfile[128], data[128];
	sf_status      st;
	FILE          *f;
	(void) state;

	etcd = b != NULL && strcmp(b, "etcd") == 0;
	if (etcd && !sf_etcdfix_available()) {
		fprintf(stderr, "no etcd binary: the etcd test is skipped\n");
		exit(77);
	}
	snprintf(dir, sizeof(dir), "%s/sf-rb-test-XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL) {
		return (-1);
	}
	snprintf(tokfile, sizeof(tokfile), "%s/tokens.csv", dir);
	if ((f = fopen(tokfile, "w")) == NULL) {
		return (-1);
	}
	fprintf(f, "%s,admin,1\n", TOKEN);
	fclose(f);
	chmod(tokfile, 0600);
	sf_log_set_level(SF_LOG_NONE);
	if (etcd && sf_etcdfix_start(&fix, NULL) != 0) {
		return (-1);
	}
	snprintf(prefix, sizeof(prefix), "/rb/%d/", (int) getpid());
	snprintf(url, sizeof(url), "inproc://sf-rb-test-%d", (int) getpid());
	snprintf(data, sizeof(data), "%s/data", dir);
	ls[0]           = url;
	o.so_data_dir   = data;
	o.so_listen     = ls;
	o.so_nlisten    = 1;
	o.so_nosync     = true;
	o.so_token_file = tokfile;
	o.so_contexts   = 16;
	o.so_workers    = 2;
	if (etcd) {
		o.so_store          = "etcd";
		o.so_etcd_endpoints = sf_etcdfix_endpoints(fix);
		o.so_etcd_prefix    = prefix;
	}
	sf_status_init(&st);
	if (sf_server_start(&srv, &o, &st) != 0) {
		fprintf(stderr, "svcfleetd did not start: %s\n", st.st_msg);
		return (-1);
	}
	sf_status_fini(&st);
	return (0);
}

static int
teardown(void **state)
{
	char cmd[160];
	(void) state;
	sf_server_stop(srv);
	sf_etcdfix_stop(fix);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0) {
		fprintf(
		    stderr, "report_batch_test: could not remove %s\n", dir);
	}
	return (0);
}

static char names[N][16];

// get reads Service i: its code, and whether it carries the finalizer
// and is marked deleting.
static int
get(svcfleet_client *c, int i, bool *fin, bool *deleting)
{
	Svcfleet__V1__ServiceKey        k = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__GetServiceRequest g
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *s = NULL;
	svcfleet_status        st;
	int                    rv;

	k.cluster    = "east";
	k.namespace_ = "default";
	k.name       = names[i];
	g.key        = &k;
	svcfleet_status_init(&st);
	rv        = svcfleet_get_service(c, &g, &s, &st);
	*fin      = false;
	*deleting = rv == 0 && s->metadata->deleting;
	for (size_t f = 0; rv == 0 && f < s->metadata->n_finalizers; f++) {
		*fin = *fin || strcmp(s->metadata->finalizers[f], FIN) == 0;
	}
	svcfleet_free(s);
	svcfleet_status_fini(&st);
	return (rv);
}

// report_all sends one report per Service (adding or removing the
// finalizer) in as few ReportStatuses calls as svcfleetd takes: each call
// carries every report not applied yet. Every call must be answered; the
// reports it applied come first, the others answer UNAVAILABLE and are
// not applied. Returns the number of calls; *first the reports the first
// call applied.
static int
report_all(svcfleet_client *rc, svcfleet_client *ac, bool add, int *first)
{
	Svcfleet__V1__ReportStatusRequest rep[N], *reps[N];
	Svcfleet__V1__ServiceKey          keys[N];
	Svcfleet__V1__ClusterStatus       cs[N];
	int                               todo[N], ntodo = N, calls = 0;

	for (int i = 0; i < N; i++) {
		todo[i] = i;
	}
	*first = -1;
	while (ntodo > 0) {
		Svcfleet__V1__ReportStatusesRequest rr
		    = SVCFLEET__V1__REPORT_STATUSES_REQUEST__INIT;
		Svcfleet__V1__ReportStatusesReply *out = NULL;
		svcfleet_status                    st;
		int left[N], nleft = 0, applied = 0;

		for (int n = 0; n < ntodo; n++) {
			int i = todo[n];
			svcfleet__v1__report_status_request__init(&rep[n]);
			svcfleet__v1__service_key__init(&keys[n]);
			svcfleet__v1__cluster_status__init(&cs[n]);
			keys[n].cluster           = "east";
			keys[n].namespace_        = "default";
			keys[n].name              = names[i];
			cs[n].cluster             = "east";
			cs[n].state               = add
			                  ? SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
			                  : SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DELETING;
			cs[n].observed_generation = 1;
			rep[n].key                = &keys[n];
			rep[n].status             = &cs[n];
			rep[n].add_finalizer      = add;
			rep[n].remove_finalizer   = !add;
			reps[n]                   = &rep[n];
		}
		rr.reports   = reps;
		rr.n_reports = (size_t) ntodo;
		svcfleet_status_init(&st);
		if (svcfleet_report_statuses(rc, &rr, &out, &st) != 0) {
			fail_msg(
			    "call %d: ReportStatuses of %d reports (%s the "
			    "finalizer): %s: %s",
			    calls + 1, ntodo, add ? "adding" : "removing",
			    svcfleet_code_name(st.code), st.message);
		}
		svcfleet_status_fini(&st);
		calls++;
		assert_int_equal(out->n_results, ntodo);
		for (int n = 0; n < ntodo; n++) {
			int  code = out->results[n]->code;
			bool fin, deleting;
			if (code == 0) {
				// Applied ones come first.
				assert_int_equal(nleft, 0);
				applied++;
				continue;
			}
			if (code != SVCFLEET_UNAVAILABLE
			    || strstr(out->results[n]->message, "again")
			        == NULL) {
				fail_msg("report of %s: code %d: %s",
				    names[todo[n]], code,
				    out->results[n]->message);
			}
			// Not applied: nothing of it was written.
			assert_int_equal(get(ac, todo[n], &fin, &deleting), 0);
			assert_int_equal(fin, !add);
			left[nleft++] = todo[n];
		}
		svcfleet_free(out);
		assert_true(applied >= 1); // each call makes progress
		if (*first < 0) {
			*first = applied;
		}
		memcpy(todo, left, sizeof(int) * (size_t) nleft);
		ntodo = nleft;
		assert_true(calls <= N);
	}
	return (calls);
}

static void
test_reports_over_txn_bound(void **state)
{
	svcfleet_client *ac = client(TOKEN);
	svcfleet_client *rc = client(sf_server_reconciler_token(srv));
	svcfleet_status  st;
	int              first = 0, calls;
	bool             fin, deleting;
	(void) state;

	svcfleet_status_init(&st);
	Svcfleet__V1__Cluster                cl = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__RegisterClusterRequest rq
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *made = NULL;
	cl.name                     = "east";
	cl.api_server               = "https://127.0.0.1:1";
	cl.token                    = "cluster-token";
	rq.cluster                  = &cl;
	if (svcfleet_register_cluster(ac, &rq, &made, &st) != 0) {
		fail_msg("register east: %s", st.message);
	}
	svcfleet_free(made);
	for (int i = 0; i < N; i++) {
		Svcfleet__V1__Service     s = SVCFLEET__V1__SERVICE__INIT;
		Svcfleet__V1__ObjectMeta  m = SVCFLEET__V1__OBJECT_META__INIT;
		Svcfleet__V1__ServiceSpec sp
		    = SVCFLEET__V1__SERVICE_SPEC__INIT;
		Svcfleet__V1__KeyValue kv = SVCFLEET__V1__KEY_VALUE__INIT,
		                       *kvp[1];
		Svcfleet__V1__ServicePort p = SVCFLEET__V1__SERVICE_PORT__INIT,
		                          *pp[1];
		Svcfleet__V1__CreateServiceRequest cr
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;
		snprintf(names[i], sizeof(names[i]), "rb-%d", i);
		m.cluster     = "east";
		m.namespace_  = "default";
		m.name        = names[i];
		kv.key        = "app";
		kv.value      = "web";
		kvp[0]        = &kv;
		sp.selector   = kvp;
		sp.n_selector = 1;
		p.port        = 80;
		p.target_port = 8080;
		pp[0]         = &p;
		sp.ports      = pp;
		sp.n_ports    = 1;
		s.metadata    = &m;
		s.spec        = &sp;
		cr.service    = &s;
		if (svcfleet_create_service(ac, &cr, &out, &st) != 0) {
			fail_msg("create %s: %s", names[i], st.message);
		}
		svcfleet_free(out);
	}

	// The reconciler applied them all: one report each, adding the
	// finalizer. On etcd the first call cannot take all 150.
	calls = report_all(rc, ac, true, &first);
	if (etcd) {
		assert_true(first < N);
		assert_true(calls >= 2);
	} else {
		assert_int_equal(first, N);
		assert_int_equal(calls, 1);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(get(ac, i, &fin, &deleting), 0);
		assert_true(fin);
	}

	// Deleted: each stays, marked deleting, until its reconciler says it
	// is gone from the cluster; then every report removing the finalizer
	// is applied, and every Service is gone.
	for (int i = 0; i < N; i++) {
		Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
		Svcfleet__V1__DeleteServiceRequest dr
		    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__DeleteServiceReply *out = NULL;
		k.cluster                             = "east";
		k.namespace_                          = "default";
		k.name                                = names[i];
		dr.key                                = &k;
		if (svcfleet_delete_service(ac, &dr, &out, &st) != 0) {
			fail_msg("delete %s: %s", names[i], st.message);
		}
		assert_false(out->deleted);
		svcfleet_free(out);
		assert_int_equal(get(ac, i, &fin, &deleting), 0);
		assert_true(deleting);
	}
	calls = report_all(rc, ac, false, &first);
	assert_true(etcd ? calls >= 2 : calls == 1);
	for (int i = 0; i < N; i++) {
		assert_int_equal(
		    get(ac, i, &fin, &deleting), SVCFLEET_NOT_FOUND);
	}
	svcfleet_status_fini(&st);
	svcfleet_close(rc);
	svcfleet_close(ac);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reports_over_txn_bound),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
