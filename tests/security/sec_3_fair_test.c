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
// 3. (i17-turns) The turns are by bytes (deficit round robin): bob's
//    requests of 20 KiB all come before mallory's second of 240 KiB.
//
// svcfleetd runs in this process (sec_inproc_start, sec_util.h) with a
// hook on the model's validation
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sec_util.h"
#include "server.h"

#define URL     "inproc://sec-3-fair"
#define CREATE  "/svcfleet.v1.ServiceManager/CreateService"
#define FAPPLY  "/svcfleet.v1.FleetManager/ApplyFleetService"
#define WAIT_MS 20000
#define FLOOD   6 // mallory's large requests queued behind the held one

static sec_inproc  d;
static const char *admin_token = "sec-3-fair-admin-token-0123456789";
static char       *mallory, *bob;
#define fx  d.si_fx
#define srv d.si_srv

// Sends a marked dry-run create of east/ns/name with nann annotations
// of vlen bytes as token (over 16 KiB: the bulk threads).
static void
send_sized(const char *token, const char *ns, const char *name, size_t nann,
    size_t vlen, nng_socket *s)
{
	sec_send_marked(URL, token, ns, name, nann, vlen, s);
}

// About 40 KiB.
static void
send_big(const char *token, const char *ns, const char *name, nng_socket *s)
{
	send_sized(token, ns, name, 200, 200, s);
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
	sec_ann_parts                  ann;
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
	sec_ann_fill(&p.ann, p.sp.template_->metadata, nann, 200);
	p.fs.metadata   = &p.md;
	p.fs.spec       = &p.sp;
	r.fleet_service = &p.fs;
	sec_async_send(URL, mallory, FAPPLY, &r.base, 60000, s);
	sec_ann_free(&p.ann);
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

	sec_gate_close("big-fleet", 1);
	send_fleet("big-fleet", 1000, 0, &s); // about 200 KiB
	if (!sec_gate_wait_held(1, WAIT_MS)) {
		sec_gate_open();
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
			sec_gate_open();
			fail_msg("bob's delete %d waited behind mallory's "
			         "FleetService: %s",
			    i, st.message);
		}
		assert_true(dout->deleted);
		svcfleet_free(dout);
	}
	// Still held: the deletes did not wait for it, and nothing of it
	// was written meanwhile.
	assert_int_equal(sec_gate_held(), 1);
	Svcfleet__V1__Service *none
	    = get_service("east", "team-a", "big-fleet");
	assert_null(none);
	sec_gate_open();

	int code = sec_async_recv(s, WAIT_MS, msg, sizeof(msg));
	nng_close(s);
	if (code != 0) {
		fail_msg("mallory's apply: code %d: %s", code, msg);
	}
	expect_copy("east", "big-fleet");
	expect_copy("west", "big-fleet");
	// (The placement loop may have validated them again since.)
	assert_true(sec_gate_validations_of("big-fleet") >= 2);
	assert_int_equal(sec_gate_on_writer(), 0);
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
	size_t before = sec_audit_count(&fx, "mallory", "ApplyFleetService");
	(void) state;

	sec_gate_close("redo-fleet", 1);
	send_fleet("redo-fleet", 2, 30100, &s);
	if (!sec_gate_wait_held(1, WAIT_MS)) {
		sec_gate_open();
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
		sec_gate_open();
		fail_msg("narrowing east's range: %s", fx.tf_st.message);
	}
	sec_gate_open();

	int code = sec_async_recv(s, WAIT_MS, msg, sizeof(msg));
	nng_close(s);
	if (code != 3
	    || strstr(msg, "clusters[east].spec.ports[0].nodePort") == NULL) {
		fail_msg("the held apply: code %d: %s", code, msg);
	}
	// Both copies validated again, never on the writer; none written.
	assert_true(sec_gate_validations_of("redo-fleet") >= 3);
	assert_int_equal(sec_gate_on_writer(), 0);
	assert_null(get_service("east", "team-a", "redo-fleet"));
	assert_null(get_service("west", "team-a", "redo-fleet"));
	assert_int_equal(
	    sec_audit_count(&fx, "mallory", "ApplyFleetService"), before + 1);
}

// A placed cluster's record changes while the copies are validated, again
// and again (as ten clusters' reconcilers reporting their pools for the
// first time do): the apply is prepared again each time, off the writer,
// and succeeds; three times was the limit and it failed ABORTED.
static void
test_fleet_churn_redone(void **state)
{
	nng_socket s;
	char       msg[300];
	int        rounds  = 5; // 3 + one per placed cluster (east, west)
	int        changes = 0;
	(void) state;

	// East's copy is held each time its record changes: the write finds
	// it changed since that copy was made.
	sec_gate_close_at("churn-fleet", "east", 1);
	send_fleet("churn-fleet", 2, 31200, &s);
	for (int r = 0; r < rounds; r++) {
		if (!sec_gate_wait_held(1, WAIT_MS)) {
			break; // answered: no more copies were made
		}
		// While east's copy is validated, the admin changes east.
		Svcfleet__V1__GetClusterRequest gr
		    = SVCFLEET__V1__GET_CLUSTER_REQUEST__INIT;
		Svcfleet__V1__Cluster *cl = NULL, *out = NULL;
		gr.name = "east";
		TH_MUST(svcfleet_get_cluster(fx.tf_c, &gr, &cl, &fx.tf_st),
		    &fx.tf_st);
		cl->node_port_max = 32766 - r; // a new value each time
		Svcfleet__V1__UpdateClusterRequest ur
		    = SVCFLEET__V1__UPDATE_CLUSTER_REQUEST__INIT;
		ur.cluster = cl;
		int rv
		    = svcfleet_update_cluster(fx.tf_c, &ur, &out, &fx.tf_st);
		svcfleet_free(cl);
		svcfleet_free(out);
		if (rv != 0) {
			sec_gate_open();
			nng_close(s);
			fail_msg("changing east: %s", fx.tf_st.message);
		}
		changes++;
		sec_gate_pass_one(r + 1 < rounds ? 1 : 0);
	}
	sec_gate_open();
	int code = sec_async_recv(s, WAIT_MS, msg, sizeof(msg));
	nng_close(s);
	if (code != 0) {
		fail_msg("the apply under churn (%d changes): code %d: %s",
		    changes, code, msg);
	}
	// Most runs change east under all five validations held (three were
	// the limit before: ABORTED); a validation held before east's record
	// was read for its copy sees the change, and the churn ends early.
	if (changes < 2) {
		fail_msg("only %d changes of east under validation", changes);
	}
	assert_int_equal(sec_gate_on_writer(), 0);
	Svcfleet__V1__Service *e
	    = get_service("east", "team-a", "churn-fleet");
	assert_non_null(e);
	svcfleet_free(e);
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

	sec_inproc_wait_gauge(&d, "svcfleet_rpc_bulk_queued", 0);
	sec_gate_close("mal-0", 1);
	send_big(mallory, "team-a", "mal-0", &s[0]);
	if (!sec_gate_wait_held(1, WAIT_MS)) {
		sec_gate_open();
		fail_msg("mallory's first large request was not validated");
	}
	for (int i = 1; i <= FLOOD; i++) {
		snprintf(name, sizeof(name), "mal-%d", i);
		send_big(mallory, "team-a", name, &s[i]);
	}
	sec_inproc_wait_gauge(&d, "svcfleet_rpc_bulk_queued", FLOOD);
	send_big(bob, "team-b", "bob-big", &s[FLOOD + 1]);
	sec_inproc_wait_gauge(&d, "svcfleet_rpc_bulk_queued", FLOOD + 1);
	assert_int_equal(
	    (int) sec_inproc_gauge(&d, "svcfleet_rpc_bulk_users"), 2);

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
		sec_gate_open();
		fail_msg("the reconciler's report waited behind mallory's "
		         "requests: %s",
		    st.message);
	}
	assert_int_equal(out->n_results, 300);
	assert_int_equal(out->results[0]->code, 5); // NOT_FOUND
	svcfleet_free(out);
	svcfleet_close(rc);
	assert_int_equal(sec_gate_held(), 1);
	assert_int_equal(
	    (int) sec_inproc_gauge(&d, "svcfleet_rpc_bulk_queued"), FLOOD + 1);
	sec_gate_open();

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
	char order[64][32];
	int  norder = sec_gate_order(order, 64);
	int  n      = 0;
	for (int i = 0; i < norder; i++) {
		const char *o = order[i];
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
	assert_int_equal(sec_gate_on_writer(), 0);
	if (bob_at < 0 || bob_at > 2) {
		fail_msg("bob's large request was served %dth, after %d of "
		         "mallory's",
		    bob_at + 1, bob_at);
	}
	sec_inproc_wait_gauge(&d, "svcfleet_rpc_bulk_users", 0);
	svcfleet_status_fini(&st);
}

// 3. (i17-turns) The lanes' turns are by bytes, not by request: mallory
// queues near-maximal requests (about 240 KiB of annotations each, the
// first held on the bulk thread), then bob queues SMALL of about 20 KiB.
// Every one of bob's is served before mallory's second; one request per
// turn served them alternately (mal-1, bob-0, mal-2, bob-1, ...), so bob's
// last waited for all of mallory's megabytes.
#define HUGE  3 // mallory's queued behind the held one
#define SMALL 6
static void
test_bulk_lanes_by_bytes(void **state)
{
	nng_socket s[1 + HUGE + SMALL];
	char       name[32], msg[300];
	(void) state;

	sec_inproc_wait_gauge(&d, "svcfleet_rpc_bulk_queued", 0);
	sec_gate_close("huge-0", 1);
	send_sized(mallory, "team-a", "huge-0", 200, 1200, &s[0]);
	if (!sec_gate_wait_held(1, WAIT_MS)) {
		sec_gate_open();
		fail_msg("mallory's first request was not validated");
	}
	for (int i = 1; i <= HUGE; i++) {
		snprintf(name, sizeof(name), "huge-%d", i);
		send_sized(mallory, "team-a", name, 200, 1200, &s[i]);
	}
	sec_inproc_wait_gauge(&d, "svcfleet_rpc_bulk_queued", HUGE);
	for (int i = 0; i < SMALL; i++) {
		snprintf(name, sizeof(name), "small-%d", i);
		send_sized(bob, "team-b", name, 100, 200, &s[1 + HUGE + i]);
	}
	sec_inproc_wait_gauge(&d, "svcfleet_rpc_bulk_queued", HUGE + SMALL);
	sec_gate_open();

	for (int i = 0; i < 1 + HUGE + SMALL; i++) {
		int code = sec_async_recv(s[i], WAIT_MS, msg, sizeof(msg));
		nng_close(s[i]);
		if (code != 0) {
			fail_msg("request %d: code %d: %s", i, code, msg);
		}
	}
	// The order served (the placement loop's validations of stored
	// FleetServices left out): huge-0 first, all of bob's before huge-1.
	char order[64][32];
	int  norder = sec_gate_order(order, 64);
	int  huge = 0, small = 0, small_before = -1;
	for (int i = 0; i < norder; i++) {
		if (strncmp(order[i], "huge-", 5) == 0) {
			if (huge == 0) {
				assert_string_equal(order[i], "huge-0");
			}
			if (strcmp(order[i], "huge-1") == 0) {
				small_before = small;
			}
			huge++;
		} else if (strncmp(order[i], "small-", 6) == 0) {
			small++;
		}
	}
	assert_int_equal(huge, 1 + HUGE);
	assert_int_equal(small, SMALL);
	if (small_before != SMALL) {
		fail_msg("only %d of bob's %d requests of 20 KiB were served "
		         "before mallory's second of 240 KiB",
		    small_before, SMALL);
	}
	assert_int_equal(sec_gate_on_writer(), 0);
	sec_inproc_wait_gauge(&d, "svcfleet_rpc_bulk_users", 0);
}

static int
setup(void **state)
{
	(void) state;
	if (sec_inproc_start(&d, URL, "sec3f", admin_token, true) != 0) {
		return (-1);
	}
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
	free(mallory);
	free(bob);
	sec_inproc_stop(&d);
	return (0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fleet_copies_off_writer),
	    cmocka_unit_test(test_fleet_stale_cluster_redone),
	    cmocka_unit_test(test_fleet_churn_redone),
	    cmocka_unit_test(test_bulk_lanes_fair),
	    cmocka_unit_test(test_bulk_lanes_by_bytes), // i17-turns
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
