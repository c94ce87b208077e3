// sec_3_fair_test.c: finding 3 of issue 17 (i17-bulk), what is left of
// "one user stalls every write" once a Service's validation runs off the
// store's writer:
//
// 1. A FleetService's copies (one per placed cluster) are rendered and
//    validated before the write is queued, never on the writer: another
//    tenant's deletes complete while mallory's apply is held in its
//    copies' validation, and the apply is then written whole. When a
//    placed cluster's record changes meanwhile, the writer sends the apply
//    back to be validated again (off the writer) and writes it once.
// 2. Requests over 16 KiB are served by user in turn, and the reconciler's
//    never wait behind a user's: while mallory floods large requests (the
//    first held in its validation on the bulk thread, the others queued),
//    the reconciler's large ReportStatuses is answered, and bob's large
//    request is served after at most one more of mallory's.
//
// svcfleetd runs in this process with a hook on the model's validation
// (sf_model_set_validate_hook) that records each validation's Service
// name in order, counts those on the store's writer (sf_store_on_writer),
// and holds those marked with the annotation test/hold at a gate. Order
// and counts are asserted, never time; the queue is observed through the
// server's own gauges (svcfleet_rpc_bulk_queued, _users).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "model.h"
#include "ops.h"
#include "sec_util.h"
#include "server.h"
#include "store.h"

#define URL     "inproc://sec-3-fair"
#define CREATE  "/svcfleet.v1.ServiceManager/CreateService"
#define FAPPLY  "/svcfleet.v1.FleetManager/ApplyFleetService"
#define HOLD    "test/hold"
#define WAIT_MS 20000
#define FLOOD   6 // mallory's large requests queued behind the held one
#define ORDER   64

static struct {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	bool            open;     // the gate
	char            name[32]; // the Service whose validations are held
	int             budget;   // how many more may be held
	int             held;     // held now
	int             on_writer;
	// Names of the marked Services validated, in order (the placement
	// loop's validations of stored FleetServices among them).
	char order[ORDER][32];
	int  norder;
} g = {.mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static sf_server  *srv;
static sf_metrics *reg;
static char        admin_token[64] = "sec-3-fair-admin-token-0123456789";
static char       *mallory, *bob;
static th_fixture  fx; // tf_c and tf_st only (for sec_tenant)

static void
hook(const sf_service *svc, void *arg)
{
	(void) arg;
	pthread_mutex_lock(&g.mtx);
	if (sf_store_on_writer()) {
		g.on_writer++;
	}
	if (svc->metadata == NULL
	    || sf_model_kv_get(svc->metadata->annotations,
	           svc->metadata->n_annotations, HOLD)
	        == NULL) {
		pthread_mutex_unlock(&g.mtx);
		return;
	}
	if (g.norder < ORDER) {
		snprintf(g.order[g.norder++], sizeof(g.order[0]), "%s",
		    svc->metadata->name != NULL ? svc->metadata->name : "");
	}
	if (!g.open && g.budget > 0 && svc->metadata->name != NULL
	    && strcmp(svc->metadata->name, g.name) == 0) {
		struct timespec until;
		g.budget--;
		g.held++;
		pthread_cond_broadcast(&g.cv);
		// Never forever: a broken test must still end.
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 60;
		while (!g.open
		    && pthread_cond_timedwait(&g.cv, &g.mtx, &until)
		        != ETIMEDOUT) {
		}
		g.held--;
	}
	pthread_mutex_unlock(&g.mtx);
}

// Holds the next budget validations of name until gate_open.
static void
gate_close(const char *name, int budget)
{
	pthread_mutex_lock(&g.mtx);
	g.open = false;
	snprintf(g.name, sizeof(g.name), "%s", name);
	g.budget    = budget;
	g.on_writer = 0;
	g.norder    = 0;
	pthread_mutex_unlock(&g.mtx);
}

// How many validations of name were recorded.
static int
validations_of(const char *name)
{
	int n = 0;
	pthread_mutex_lock(&g.mtx);
	for (int i = 0; i < g.norder; i++) {
		n += strcmp(g.order[i], name) == 0;
	}
	pthread_mutex_unlock(&g.mtx);
	return (n);
}

static void
gate_open(void)
{
	pthread_mutex_lock(&g.mtx);
	g.open = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mtx);
}

static int
held_now(void)
{
	pthread_mutex_lock(&g.mtx);
	int n = g.held;
	pthread_mutex_unlock(&g.mtx);
	return (n);
}

// Waits (at most WAIT_MS) until n requests are held.
static bool
wait_held(int n)
{
	struct timespec until;
	bool            ok;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&g.mtx);
	while (g.held < n
	    && pthread_cond_timedwait(&g.cv, &g.mtx, &until) != ETIMEDOUT) {
	}
	ok = g.held >= n;
	pthread_mutex_unlock(&g.mtx);
	return (ok);
}

// The value of gauge name (no labels) in the server's metrics, -1 when
// absent.
static double
gauge(const char *name)
{
	sf_buf      b = SF_BUF_INIT;
	double      v = -1;
	const char *p;
	size_t      n = strlen(name);

	assert_int_equal(sf_metrics_render(reg, &b), 0);
	for (p = sf_buf_cstr(&b); p != NULL && *p != '\0';) {
		if (strncmp(p, name, n) == 0 && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
		p = strchr(p, '\n');
		p = p != NULL ? p + 1 : NULL;
	}
	sf_buf_fini(&b);
	return (v);
}

// Polls gauge name until it reads want (deadline WAIT_MS).
static void
wait_gauge(const char *name, double want)
{
	int64_t until = sf_clock_mono_ms() + WAIT_MS;
	double  v;
	while ((v = gauge(name)) != want && sf_clock_mono_ms() < until) {
		struct timespec ts = {0, 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (v != want) {
		gate_open();
		fail_msg("%s is %g, not %g", name, v, want);
	}
}

// Annotations of a marked Service (or template): HOLD and n of vlen bytes.
typedef struct ann_parts {
	Svcfleet__V1__KeyValue  *kv;
	Svcfleet__V1__KeyValue **p;
	char                    *keys, *value;
} ann_parts;

static void
ann_fill(ann_parts *a, Svcfleet__V1__ObjectMeta *m, size_t n, size_t vlen)
{
	a->kv    = calloc(n + 1, sizeof(*a->kv));
	a->p     = calloc(n + 1, sizeof(*a->p));
	a->keys  = calloc(n + 1, 16);
	a->value = malloc(vlen + 1);
	assert_true(a->kv != NULL && a->p != NULL && a->keys != NULL
	    && a->value != NULL);
	memset(a->value, 'v', vlen);
	a->value[vlen] = '\0';
	for (size_t i = 0; i <= n; i++) {
		svcfleet__v1__key_value__init(&a->kv[i]);
		a->kv[i].key = a->keys + 16 * i;
		if (i < n) {
			snprintf(a->kv[i].key, 16, "a%zu", i);
			a->kv[i].value = a->value;
		} else {
			strcpy(a->kv[i].key, HOLD);
			a->kv[i].value = "";
		}
		a->p[i] = &a->kv[i];
	}
	m->annotations   = a->p;
	m->n_annotations = n + 1;
}

static void
ann_free(ann_parts *a)
{
	free(a->kv);
	free(a->p);
	free(a->keys);
	free(a->value);
}

// Sends a marked dry-run create of east/ns/name of about 40 KiB (over
// 16 KiB: the bulk threads) as token.
static void
send_big(const char *token, const char *ns, const char *name, nng_socket *s)
{
	Svcfleet__V1__CreateServiceRequest r
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	sec_svc   b;
	ann_parts a;
	memset(&b, 0, sizeof(b));
	r.service = sec_service(&b, "east", ns, name);
	ann_fill(&a, r.service->metadata, 200, 200);
	r.dry_run = true;
	sec_async_send(URL, token, CREATE, &r.base, 60000, s);
	ann_free(&a);
}

static size_t
audit_count(const char *user, const char *method)
{
	Svcfleet__V1__ListAuditEventsRequest r
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	Svcfleet__V1__ListAuditEventsReply *out = NULL;
	size_t                              n   = 0;
	r.user                                  = (char *) user;
	r.page_size                             = 1000;
	TH_MUST(svcfleet_list_audit_events(fx.tf_c, &r, &out, &fx.tf_st),
	    &fx.tf_st);
	for (size_t i = 0; i < out->n_events; i++) {
		n += strstr(out->events[i]->method, method) != NULL;
	}
	svcfleet_free(out);
	return (n);
}

// A FleetService team-a/name placed on east and west whose template is
// marked and carries nann annotations of 200 bytes; sent as mallory.
typedef struct fleet_parts {
	Svcfleet__V1__FleetService     fs;
	Svcfleet__V1__ObjectMeta       md;
	Svcfleet__V1__FleetServiceSpec sp;
	Svcfleet__V1__FleetPlacement   pl;
	char                          *cls[2];
	sec_svc                        tpl;
	ann_parts                      ann;
} fleet_parts;

static void
send_fleet(const char *name, size_t nann, int32_t node_port, nng_socket *s)
{
	Svcfleet__V1__ApplyFleetServiceRequest r
	    = SVCFLEET__V1__APPLY_FLEET_SERVICE_REQUEST__INIT;
	fleet_parts p;
	memset(&p, 0, sizeof(p));
	svcfleet__v1__fleet_service__init(&p.fs);
	svcfleet__v1__object_meta__init(&p.md);
	svcfleet__v1__fleet_service_spec__init(&p.sp);
	svcfleet__v1__fleet_placement__init(&p.pl);
	p.md.namespace_ = "team-a";
	p.md.name       = (char *) name;
	p.cls[0]        = "east";
	p.cls[1]        = "west";
	p.pl.clusters   = p.cls;
	p.pl.n_clusters = 2;
	p.sp.placement  = &p.pl;
	p.sp.template_  = sec_service(&p.tpl, "", "team-a", name);
	p.sp.template_->metadata->cluster = "";
	if (node_port != 0) {
		p.sp.template_->spec->type = "NodePort";
		p.tpl.port.node_port       = node_port;
	}
	ann_fill(&p.ann, p.sp.template_->metadata, nann, 200);
	p.fs.metadata   = &p.md;
	p.fs.spec       = &p.sp;
	r.fleet_service = &p.fs;
	sec_async_send(URL, mallory, FAPPLY, &r.base, 60000, s);
	ann_free(&p.ann);
}

static Svcfleet__V1__Service *
get_service(const char *cluster, const char *ns, const char *name)
{
	Svcfleet__V1__GetServiceRequest gr
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey k   = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__Service   *out = NULL;
	k.cluster                    = (char *) cluster;
	k.namespace_                 = (char *) ns;
	k.name                       = (char *) name;
	gr.key                       = &k;
	if (svcfleet_get_service(fx.tf_c, &gr, &out, &fx.tf_st) != 0) {
		return (NULL);
	}
	return (out);
}

static void
expect_copy(const char *cluster, const char *name)
{
	Svcfleet__V1__Service *svc = get_service(cluster, "team-a", name);
	if (svc == NULL) {
		fail_msg("no copy of %s in %s: %s", name, cluster,
		    fx.tf_st.message);
	}
	assert_string_equal(svc->metadata->owner, "FleetService/big-fleet");
	svcfleet_free(svc);
}

// 1. bob's deletes complete while mallory's large FleetService apply is
// held in the validation of its first copy; then it is written whole,
// and no validation ran on the writer.
static void
test_fleet_copies_off_writer(void **state)
{
	svcfleet_client *bc = th_client(URL, bob, WAIT_MS);
	svcfleet_status  st = {0};
	nng_socket       s;
	char             name[32], msg[300];
	(void) state;

	for (int i = 0; i < 3; i++) {
		sec_svc                            b;
		Svcfleet__V1__CreateServiceRequest cr
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;
		memset(&b, 0, sizeof(b));
		snprintf(name, sizeof(name), "bobs-%d", i);
		cr.service = sec_service(&b, "east", "team-b", name);
		TH_MUST(svcfleet_create_service(bc, &cr, &out, &st), &st);
		svcfleet_free(out);
	}

	gate_close("big-fleet", 1);
	send_fleet("big-fleet", 1000, 0, &s); // about 200 KiB
	if (!wait_held(1)) {
		gate_open();
		fail_msg("the FleetService's copies were not validated");
	}
	for (int i = 0; i < 3; i++) {
		Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
		Svcfleet__V1__DeleteServiceRequest dr
		    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__DeleteServiceReply *dout = NULL;
		snprintf(name, sizeof(name), "bobs-%d", i);
		k.cluster    = "east";
		k.namespace_ = "team-b";
		k.name       = name;
		dr.key       = &k;
		if (svcfleet_delete_service(bc, &dr, &dout, &st) != 0) {
			gate_open();
			fail_msg("bob's delete %d waited behind mallory's "
			         "FleetService: %s",
			    i, st.message);
		}
		assert_true(dout->deleted);
		svcfleet_free(dout);
	}
	// Still held: the deletes did not wait for it, and nothing of it
	// was written meanwhile.
	assert_int_equal(held_now(), 1);
	Svcfleet__V1__Service *none
	    = get_service("east", "team-a", "big-fleet");
	assert_null(none);
	gate_open();

	int code = sec_async_recv(s, WAIT_MS, msg, sizeof(msg));
	nng_close(s);
	if (code != 0) {
		fail_msg("mallory's apply: code %d: %s", code, msg);
	}
	expect_copy("east", "big-fleet");
	expect_copy("west", "big-fleet");
	// (The placement loop may have validated them again since.)
	assert_true(validations_of("big-fleet") >= 2);
	pthread_mutex_lock(&g.mtx);
	assert_int_equal(g.on_writer, 0);
	pthread_mutex_unlock(&g.mtx);
	svcfleet_status_fini(&st);
	svcfleet_close(bc);
}

// 1b. A placed cluster changes while the copies are validated: the
// writer finds its record changed and sends the apply back to be
// validated again, off the writer. Here east's nodePort range no longer
// holds the template's nodePort: the apply, valid when first validated,
// is refused by the second validation, and nothing of it is written (not
// even west's copy, which stayed valid); one audit record.
static void
test_fleet_stale_cluster_redone(void **state)
{
	nng_socket s;
	char       msg[300];
	size_t     before = audit_count("mallory", "ApplyFleetService");
	(void) state;

	gate_close("redo-fleet", 1);
	send_fleet("redo-fleet", 2, 30100, &s);
	if (!wait_held(1)) {
		gate_open();
		fail_msg("the FleetService's copies were not validated");
	}
	// Meanwhile the admin narrows east's nodePort range.
	Svcfleet__V1__GetClusterRequest gr
	    = SVCFLEET__V1__GET_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *cl = NULL, *out = NULL;
	gr.name = "east";
	TH_MUST(svcfleet_get_cluster(fx.tf_c, &gr, &cl, &fx.tf_st), &fx.tf_st);
	cl->node_port_min = 31000;
	cl->node_port_max = 32767;
	Svcfleet__V1__UpdateClusterRequest ur
	    = SVCFLEET__V1__UPDATE_CLUSTER_REQUEST__INIT;
	ur.cluster = cl;
	int rv     = svcfleet_update_cluster(fx.tf_c, &ur, &out, &fx.tf_st);
	svcfleet_free(cl);
	svcfleet_free(out);
	if (rv != 0) {
		gate_open();
		fail_msg("narrowing east's range: %s", fx.tf_st.message);
	}
	gate_open();

	int code = sec_async_recv(s, WAIT_MS, msg, sizeof(msg));
	nng_close(s);
	if (code != 3
	    || strstr(msg, "clusters[east].spec.ports[0].nodePort") == NULL) {
		fail_msg("the held apply: code %d: %s", code, msg);
	}
	// Both copies validated again, never on the writer; none written.
	assert_true(validations_of("redo-fleet") >= 3);
	pthread_mutex_lock(&g.mtx);
	assert_int_equal(g.on_writer, 0);
	pthread_mutex_unlock(&g.mtx);
	assert_null(get_service("east", "team-a", "redo-fleet"));
	assert_null(get_service("west", "team-a", "redo-fleet"));
	assert_int_equal(
	    audit_count("mallory", "ApplyFleetService"), before + 1);
}

// 2. mallory floods large requests; the reconciler's large report is
// answered while the first of them is held on the bulk thread, and bob's
// large request comes after at most one more of mallory's.
static void
test_bulk_lanes_fair(void **state)
{
	svcfleet_client *rc;
	svcfleet_status  st = {0};
	nng_socket       s[FLOOD + 2];
	char             name[32], msg[300];
	int              bob_at = -1;
	(void) state;

	wait_gauge("svcfleet_rpc_bulk_queued", 0);
	gate_close("mal-0", 1);
	send_big(mallory, "team-a", "mal-0", &s[0]);
	if (!wait_held(1)) {
		gate_open();
		fail_msg("mallory's first large request was not validated");
	}
	for (int i = 1; i <= FLOOD; i++) {
		snprintf(name, sizeof(name), "mal-%d", i);
		send_big(mallory, "team-a", name, &s[i]);
	}
	wait_gauge("svcfleet_rpc_bulk_queued", FLOOD);
	send_big(bob, "team-b", "bob-big", &s[FLOOD + 1]);
	wait_gauge("svcfleet_rpc_bulk_queued", FLOOD + 1);
	assert_int_equal((int) gauge("svcfleet_rpc_bulk_users"), 2);

	// The reconciler's report of 300 Services (about 40 KiB), each one
	// gone (NOT_FOUND fails its report alone): answered now, while
	// mallory's request holds the bulk thread.
	Svcfleet__V1__ReportStatusRequest   rep[300], *reps[300];
	Svcfleet__V1__ServiceKey            keys[300];
	Svcfleet__V1__ClusterStatus         cs[300];
	Svcfleet__V1__ReportStatusesReply  *out = NULL;
	Svcfleet__V1__ReportStatusesRequest rr
	    = SVCFLEET__V1__REPORT_STATUSES_REQUEST__INIT;
	char text[101], names[300][16];
	memset(text, 'x', 100);
	text[100] = '\0';
	for (int i = 0; i < 300; i++) {
		svcfleet__v1__report_status_request__init(&rep[i]);
		svcfleet__v1__service_key__init(&keys[i]);
		svcfleet__v1__cluster_status__init(&cs[i]);
		snprintf(names[i], sizeof(names[i]), "gone-%d", i);
		keys[i].cluster    = "east";
		keys[i].namespace_ = "team-c";
		keys[i].name       = names[i];
		cs[i].cluster      = "east";
		cs[i].message      = text;
		rep[i].key         = &keys[i];
		rep[i].status      = &cs[i];
		reps[i]            = &rep[i];
	}
	rr.reports   = reps;
	rr.n_reports = 300;
	rc = th_client(URL, sf_server_reconciler_token(srv), WAIT_MS);
	if (svcfleet_report_statuses(rc, &rr, &out, &st) != 0) {
		gate_open();
		fail_msg("the reconciler's report waited behind mallory's "
		         "requests: %s",
		    st.message);
	}
	assert_int_equal(out->n_results, 300);
	assert_int_equal(out->results[0]->code, 5); // NOT_FOUND
	svcfleet_free(out);
	svcfleet_close(rc);
	assert_int_equal(held_now(), 1);
	assert_int_equal((int) gauge("svcfleet_rpc_bulk_queued"), FLOOD + 1);
	gate_open();

	for (int i = 0; i < FLOOD + 2; i++) {
		int code = sec_async_recv(s[i], WAIT_MS, msg, sizeof(msg));
		nng_close(s[i]);
		if (code != 0) {
			fail_msg(
			    "large request %d: code %d: %s", i, code, msg);
		}
	}
	// Served in turn: mal-0 (held), then one more of mallory's queued
	// before bob's, then bob's (first come, first served would have
	// put all FLOOD of them first). The placement loop's validations of
	// stored FleetServices are left out.
	pthread_mutex_lock(&g.mtx);
	int n = 0;
	for (int i = 0; i < g.norder; i++) {
		const char *o = g.order[i];
		if (strcmp(o, "bob-big") == 0) {
			bob_at = n++;
		} else if (strncmp(o, "mal-", 4) == 0) {
			if (n == 0) {
				assert_string_equal(o, "mal-0");
			}
			n++;
		}
	}
	assert_int_equal(n, FLOOD + 2);
	assert_int_equal(g.on_writer, 0);
	pthread_mutex_unlock(&g.mtx);
	if (bob_at < 0 || bob_at > 2) {
		fail_msg("bob's large request was served %dth, after %d of "
		         "mallory's",
		    bob_at + 1, bob_at);
	}
	wait_gauge("svcfleet_rpc_bulk_users", 0);
	svcfleet_status_fini(&st);
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

	th_tmpdir(dir, sizeof(dir), "sec3f");
	snprintf(tokfile, sizeof(tokfile), "%s/tokens.csv", dir);
	if ((f = fopen(tokfile, "w")) == NULL) {
		return (-1);
	}
	fprintf(f, "%s,admin,1\n", admin_token);
	fclose(f);
	chmod(tokfile, 0600);
	strcat(dir, "/data");
	if (sf_metrics_alloc(&reg) != 0) {
		return (-1);
	}
	o.so_data_dir   = dir;
	o.so_listen     = ls;
	o.so_nlisten    = 1;
	o.so_token_file = tokfile;
	o.so_nosync     = true;
	o.so_metrics    = reg;
	sf_log_set_level(SF_LOG_WARN);
	sf_model_set_validate_hook(hook, NULL);
	sf_status_init(&st);
	if (sf_server_start(&srv, &o, &st) != 0) {
		fprintf(stderr, "server: %s\n", st.st_msg);
		return (-1);
	}
	sf_status_fini(&st);
	fx.tf_c = th_client(URL, admin_token, WAIT_MS);
	TH_MUST(th_register_cluster(fx.tf_c, "east", &fx.tf_st), &fx.tf_st);
	TH_MUST(th_register_cluster(fx.tf_c, "west", &fx.tf_st), &fx.tf_st);
	mallory = sec_tenant(&fx, "mallory", "ns-edit", "east", "team-a");
	free(sec_tenant(&fx, "mallory", "ns-edit", "west", "team-a"));
	bob = sec_tenant(&fx, "bob", "ns-edit", "east", "team-b");
	return (0);
}

static int
teardown(void **state)
{
	(void) state;
	gate_open();
	free(mallory);
	free(bob);
	svcfleet_close(fx.tf_c);
	svcfleet_status_fini(&fx.tf_st);
	sf_server_stop(srv);
	sf_metrics_free(reg);
	sf_model_set_validate_hook(NULL, NULL);
	return (0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fleet_copies_off_writer),
	    cmocka_unit_test(test_fleet_stale_cluster_redone),
	    cmocka_unit_test(test_bulk_lanes_fair),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
