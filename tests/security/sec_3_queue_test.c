// sec_3_queue_test.c: finding 3 of issue 17, where validation runs. A
// Service is validated before its write is queued, where the request is
// served (nng's callback thread, a worker, the bulk thread), never on the
// store's writer: so another tenant's delete never waits behind it.
//
// svcfleetd runs in this process (sec_inproc_start, sec_util.h) with a
// hook on the model's validation (sf_model_set_validate_hook) that counts
// every validation, counts those that run on the store's writer
// (sf_store_on_writer), and holds the requests marked with the annotation
// test/hold at a gate. Ordering, not time, is asserted: one tenant's
// validations of every size are held at once (on the old code they ran one at
// a time on the writer, so a second could never arrive), the other tenant's
// deletes, sent after them, complete while they are held, and none ran on the
// writer. Then an update whose stored object changes while it is held is
// validated again (off the writer) and written once, with one audit record.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sec_util.h"

#define URL    "inproc://sec-3-queue"
#define CREATE "/svcfleet.v1.ServiceManager/CreateService"
#define UPDATE "/svcfleet.v1.ServiceManager/UpdateService"
// Held at once: one maximal request (the bulk thread), three of about
// 12 KiB (three of the four workers) and one small one (nng's callback
// thread).
#define MEDIUM  3
#define HELD    (1 + MEDIUM + 1)
#define DELETES 5
#define WAIT_MS 20000

static sec_inproc  d;
static const char *admin_token = "sec-3-queue-admin-token";
static char       *mallory, *bob;
#define fx d.si_fx

// A Service of mallory's in east/team-a marked to be held, with nann
// annotations of vlen bytes each, nlab labels, nsel selector pairs and
// nports named ports: valid, so that every check runs. Parts in *keep
// (free with free_svc).
typedef struct svc_parts {
	sec_svc                     b;
	Svcfleet__V1__KeyValue     *kv;
	Svcfleet__V1__KeyValue    **ann, **lab, **sel;
	Svcfleet__V1__ServicePort  *pt;
	Svcfleet__V1__ServicePort **pts;
	char                       *text, *value;
} svc_parts;

static Svcfleet__V1__Service *
held_svc(svc_parts *p, const char *name, size_t nann, size_t vlen, size_t nlab,
    size_t nsel, size_t nports)
{
	size_t                 nkv = nann + 1 + nlab + nsel, k = 0;
	Svcfleet__V1__Service *svc
	    = sec_service(&p->b, "east", "team-a", name);

	p->kv    = calloc(nkv, sizeof(*p->kv));
	p->ann   = calloc(nann + 1, sizeof(*p->ann));
	p->lab   = calloc(nlab + 1, sizeof(*p->lab));
	p->sel   = calloc(nsel + 1, sizeof(*p->sel));
	p->pt    = calloc(nports + 1, sizeof(*p->pt));
	p->pts   = calloc(nports + 1, sizeof(*p->pts));
	p->text  = calloc(nkv + nports + 1, 16);
	p->value = malloc(vlen + 1);
	assert_true(p->kv != NULL && p->ann != NULL && p->lab != NULL
	    && p->sel != NULL && p->pt != NULL && p->pts != NULL
	    && p->text != NULL && p->value != NULL);
	memset(p->value, 'v', vlen);
	p->value[vlen] = '\0';
	for (size_t i = 0; i < nkv; i++) {
		svcfleet__v1__key_value__init(&p->kv[i]);
		p->kv[i].key = p->text + 16 * i;
	}
	for (size_t i = 0; i < nann; i++, k++) {
		snprintf(p->kv[k].key, 16, "a%zu", i);
		p->kv[k].value = p->value;
		p->ann[i]      = &p->kv[k];
	}
	strcpy(p->kv[k].key, SEC_HOLD);
	p->kv[k].value = "";
	p->ann[nann]   = &p->kv[k++];
	for (size_t i = 0; i < nlab; i++, k++) {
		snprintf(p->kv[k].key, 16, "l%zu", i);
		p->kv[k].value = "x";
		p->lab[i]      = &p->kv[k];
	}
	for (size_t i = 0; i < nsel; i++, k++) {
		snprintf(p->kv[k].key, 16, "s%zu", i);
		p->kv[k].value = "x";
		p->sel[i]      = &p->kv[k];
	}
	for (size_t i = 0; i < nports; i++) {
		char *pn = p->text + 16 * (nkv + i);
		svcfleet__v1__service_port__init(&p->pt[i]);
		snprintf(pn, 16, "p%zu", i);
		p->pt[i].name = pn;
		p->pt[i].port = (int32_t) (1000 + i);
		p->pts[i]     = &p->pt[i];
	}
	svc->metadata->annotations   = p->ann;
	svc->metadata->n_annotations = nann + 1;
	svc->metadata->labels        = p->lab;
	svc->metadata->n_labels      = nlab;
	if (nsel > 0) {
		svc->spec->selector   = p->sel;
		svc->spec->n_selector = nsel;
	}
	if (nports > 0) {
		svc->spec->ports   = p->pts;
		svc->spec->n_ports = nports;
	}
	return (svc);
}

static void
free_svc(svc_parts *p)
{
	free(p->kv);
	free(p->ann);
	free(p->lab);
	free(p->sel);
	free(p->pt);
	free(p->pts);
	free(p->text);
	free(p->value);
}

static void
send_create(svc_parts *p, Svcfleet__V1__Service *svc, nng_socket *s)
{
	Svcfleet__V1__CreateServiceRequest r
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	r.service = svc;
	r.dry_run = true;
	sec_async_send(URL, mallory, CREATE, &r.base, 60000, s);
	free_svc(p);
}

static void
test_deletes_pass_held_validations(void **state)
{
	svcfleet_client *bc = th_client(URL, bob, WAIT_MS);
	svcfleet_status  st = {0};
	nng_socket       s[HELD];
	svc_parts        p;
	char             name[32], msg[300];
	(void) state;

	for (int i = 0; i < DELETES; i++) {
		sec_svc                            b;
		Svcfleet__V1__CreateServiceRequest cr
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;
		snprintf(name, sizeof(name), "bobs-%d", i);
		cr.service = sec_service(&b, "east", "team-b", name);
		TH_MUST(svcfleet_create_service(bc, &cr, &out, &st), &st);
		svcfleet_free(out);
	}

	sec_gate_close(NULL, HELD);
	// Maximal: every repeated field at its cap, annotations near 256
	// KiB in all (over 16 KiB: the bulk thread).
	send_create(
	    &p, held_svc(&p, "hold-big", 1023, 240, 256, 256, 100), &s[0]);
	// 4-16 KiB: a worker each.
	for (int i = 0; i < MEDIUM; i++) {
		snprintf(name, sizeof(name), "hold-medium-%d", i);
		send_create(
		    &p, held_svc(&p, name, 1023, 1, 64, 64, 50), &s[1 + i]);
	}
	// Small: served on nng's callback thread.
	send_create(
	    &p, held_svc(&p, "hold-small", 20, 8, 2, 2, 2), &s[HELD - 1]);

	// All held at once: none waits for another's validation (on the
	// writer, one at a time, the second would never start).
	if (!sec_gate_wait_held(HELD, WAIT_MS)) {
		int held = sec_gate_held();
		sec_gate_open();
		fail_msg(
		    "only %d of %d validations were held at once", held, HELD);
	}
	// bob's deletes, sent after them, complete while they are held.
	for (int i = 0; i < DELETES; i++) {
		Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
		Svcfleet__V1__DeleteServiceRequest dr
		    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__DeleteServiceReply *dout = NULL;
		snprintf(name, sizeof(name), "bobs-%d", i);
		k.cluster    = "east";
		k.namespace_ = "team-b";
		k.name       = name;
		dr.key       = &k;
		int rv       = svcfleet_delete_service(bc, &dr, &dout, &st);
		if (rv != 0) {
			sec_gate_open();
			fail_msg("bob's delete %d waited behind mallory's "
			         "validations: %s",
			    i, st.message);
		}
		assert_true(dout->deleted);
		svcfleet_free(dout);
	}
	// Still held: the deletes came first.
	assert_int_equal(sec_gate_held(), HELD);
	sec_gate_open();

	for (int i = 0; i < HELD; i++) {
		int code = sec_async_recv(s[i], WAIT_MS, msg, sizeof(msg));
		nng_close(s[i]);
		if (code != 0) {
			fail_msg("held request %d: code %d: %s", i, code, msg);
		}
	}
	assert_int_equal(sec_gate_on_writer(), 0);
	svcfleet_status_fini(&st);
	svcfleet_close(bc);
}

// An update held in its validation while another write changes the
// stored Service: the writer finds what was validated against changed and
// sends it back to be validated again (off the writer), then writes it;
// one audit record.
static void
test_stale_validation_redone(void **state)
{
	svcfleet_client *mc = th_client(URL, mallory, WAIT_MS);
	svcfleet_status  st = {0};
	sec_svc          b;
	svc_parts        p;
	nng_socket       s;
	char             msg[300];
	(void) state;

	Svcfleet__V1__CreateServiceRequest cr
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *out = NULL;
	cr.service                 = sec_service(&b, "east", "team-a", "flip");
	TH_MUST(svcfleet_create_service(mc, &cr, &out, &st), &st);
	svcfleet_free(out);

	sec_gate_close(NULL, 1);
	int                                before = sec_gate_holds();
	Svcfleet__V1__UpdateServiceRequest ur
	    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
	ur.service                       = held_svc(&p, "flip", 1, 1, 0, 0, 0);
	ur.service->spec->ports[0]->port = 81;
	ur.service->spec->ports[0]->target_port = 81;
	sec_async_send(URL, mallory, UPDATE, &ur.base, 60000, &s);
	free_svc(&p);
	if (!sec_gate_wait_held(1, WAIT_MS)) {
		sec_gate_open();
		fail_msg("the update's validation was not held");
	}
	// Meanwhile the admin changes the stored spec (not held: no mark).
	Svcfleet__V1__UpdateServiceRequest ar
	    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
	ar.service             = sec_service(&b, "east", "team-a", "flip");
	ar.service->spec->type = "NodePort";
	TH_MUST(
	    svcfleet_update_service(fx.tf_c, &ar, &out, &fx.tf_st), &fx.tf_st);
	svcfleet_free(out);
	sec_gate_open();

	int code = sec_async_recv(s, WAIT_MS, msg, sizeof(msg));
	nng_close(s);
	if (code != 0) {
		fail_msg("the held update: code %d: %s", code, msg);
	}
	// Validated twice (the second time against the admin's object),
	// never on the writer, written once.
	assert_int_equal(sec_gate_holds() - before, 2);
	assert_int_equal(sec_gate_on_writer(), 0);
	Svcfleet__V1__GetServiceRequest gr
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
	k.cluster                  = "east";
	k.namespace_               = "team-a";
	k.name                     = "flip";
	gr.key                     = &k;
	TH_MUST(svcfleet_get_service(mc, &gr, &out, &st), &st);
	assert_int_equal(out->spec->ports[0]->port, 81);
	assert_int_equal(out->metadata->generation, 3);
	svcfleet_free(out);
	assert_int_equal(sec_audit_count(&fx, "mallory", "UpdateService"), 1);
	svcfleet_status_fini(&st);
	svcfleet_close(mc);
}

static int
setup(void **state)
{
	(void) state;
	if (sec_inproc_start(&d, URL, "sec3q", admin_token, false) != 0) {
		return (-1);
	}
	TH_MUST(th_register_cluster(fx.tf_c, "east", &fx.tf_st), &fx.tf_st);
	mallory = sec_tenant(&fx, "mallory", "ns-edit", "east", "team-a");
	bob     = sec_tenant(&fx, "bob", "ns-edit", "east", "team-b");
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
	    cmocka_unit_test(test_deletes_pass_held_validations),
	    cmocka_unit_test(test_stale_validation_redone),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
