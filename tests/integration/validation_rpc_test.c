// validation_rpc_test.c: tests/data/validation_cases.json through the
// public RPC. Each case's manifest is converted the way the CLI converts it;
// when conversion already rejects it, that is the client's answer and the
// case never reaches the server (model_validation_test covers it). Every
// other case goes to a real svcfleetd — CreateService with dry_run, or for
// updates a stored old object and UpdateService with dry_run — and the
// violations in the reply must be exactly the expected ones.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "harness.h"
#include "model.h"
#include "svcfleet/svcfleet.h"

typedef th_fixture fixture;

static int
set_cluster(svcfleet_client *c, const char *name, int min, int max)
{
	Svcfleet__V1__Cluster                cl = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__RegisterClusterRequest reg
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__UpdateClusterRequest up
	    = SVCFLEET__V1__UPDATE_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *out = NULL;
	svcfleet_status        st  = {0};
	int                    rv;

	cl.name          = (char *) name;
	cl.api_server    = "https://127.0.0.1:6443";
	cl.token         = "t0ken";
	cl.node_port_min = min;
	cl.node_port_max = max;
	reg.cluster      = &cl;
	rv               = svcfleet_register_cluster(c, &reg, &out, &st);
	if (rv == SVCFLEET_ALREADY_EXISTS) {
		up.cluster = &cl;
		rv         = svcfleet_update_cluster(c, &up, &out, &st);
	}
	svcfleet_free(out);
	svcfleet_status_fini(&st);
	return (rv);
}

// Compares reported violations with the case's "expect" as a multiset of
// (field, type), and reasons where the case gives them. Prints the
// difference; returns true when equal.
static bool
same_violations(
    const char *name, const json_t *expect, const svcfleet_status *st)
{
	size_t n   = json_array_size(expect);
	bool  *hit = calloc(n + 1, sizeof(bool));
	bool   ok  = st->n_violations == n;

	for (size_t i = 0; i < st->n_violations && ok; i++) {
		const svcfleet_violation *v     = &st->violations[i];
		bool                      found = false;
		for (size_t k = 0; k < n && !found; k++) {
			json_t     *e = json_array_get(expect, k);
			const char *ef
			    = json_string_value(json_object_get(e, "field"));
			const char *et
			    = json_string_value(json_object_get(e, "type"));
			const char *er
			    = json_string_value(json_object_get(e, "reason"));
			if (!hit[k] && ef && et && strcmp(ef, v->field) == 0
			    && strcmp(et, v->type) == 0
			    && (er == NULL || strcmp(er, v->reason) == 0)) {
				hit[k] = found = true;
			}
		}
		ok = found;
	}
	if (!ok) {
		fprintf(stderr, "case \"%s\": expected %zu violations:\n",
		    name, n);
		for (size_t k = 0; k < n; k++) {
			json_t *e = json_array_get(expect, k);
			fprintf(stderr, "    %s %s %s\n",
			    json_string_value(json_object_get(e, "field")),
			    json_string_value(json_object_get(e, "type")),
			    json_string_value(json_object_get(e, "reason")));
		}
		fprintf(stderr, "  got %d (%s) with %zu:\n", st->code,
		    st->message, st->n_violations);
		for (size_t i = 0; i < st->n_violations; i++) {
			fprintf(stderr, "    %s %s %s\n",
			    st->violations[i].field, st->violations[i].type,
			    st->violations[i].reason);
		}
	}
	free(hit);
	return (ok);
}

static bool
same_key(const sf_service *a, const sf_service *b)
{
	return (strcmp(a->metadata->cluster, b->metadata->cluster) == 0
	    && strcmp(a->metadata->namespace_, b->metadata->namespace_) == 0
	    && strcmp(a->metadata->name, b->metadata->name) == 0);
}

static void
delete_svc(svcfleet_client *c, const sf_service *svc)
{
	Svcfleet__V1__ServiceKey           k = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__DeleteServiceRequest req
	    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__DeleteServiceReply *out = NULL;
	svcfleet_status                   st  = {0};
	k.cluster                             = svc->metadata->cluster;
	k.namespace_                          = svc->metadata->namespace_;
	k.name                                = svc->metadata->name;
	req.key                               = &k;
	svcfleet_delete_service(c, &req, &out, &st);
	svcfleet_free(out);
	svcfleet_status_fini(&st);
}

static void
test_cases_through_rpc(void **state)
{
	fixture     *f = *state;
	char         path[1024];
	json_error_t jerr;
	json_t      *cases;
	int          through_rpc = 0, client_side = 0, skipped = 0, failed = 0;

	snprintf(path, sizeof(path), "%s/tests/data/validation_cases.json",
	    getenv("SF_SRC_DIR"));
	cases = json_load_file(path, 0, &jerr);
	assert_non_null(cases);

	for (size_t i = 0; i < json_array_size(cases); i++) {
		json_t     *cs = json_array_get(cases, i);
		const char *name
		    = json_string_value(json_object_get(cs, "name"));
		const char *cl
		    = json_string_value(json_object_get(cs, "cluster"));
		json_t     *limits = json_object_get(cs, "limits");
		json_t     *old    = json_object_get(cs, "old");
		json_t     *expect = json_object_get(cs, "expect");
		sf_arena    a;
		sf_status   st;
		sf_service *svc = NULL, *oldsvc = NULL;

		sf_arena_init(&a);
		sf_status_init(&st);
		if (sf_model_service_from_manifest(
		        json_object_get(cs, "manifest"), cl, &a, &svc, &st)
		    != 0) {
			client_side++;
			goto next;
		}
		if (old != NULL) {
			sf_status olds;
			sf_status_init(&olds);
			int rv = sf_model_service_from_manifest(
			    old, cl, &a, &oldsvc, &olds);
			sf_status_fini(&olds);
			assert_int_equal(rv, 0);
		}
		// The server has no MetalLB pools to check against until the
		// reconciler reads them, and it takes a Service's identity
		// from its key, so identity changes cannot be sent as an
		// update.
		if ((limits != NULL
		        && json_object_get(limits, "pools") != NULL)
		    || (oldsvc != NULL && !same_key(oldsvc, svc))) {
			skipped++;
			goto next;
		}
		const char *cname = svc->metadata->cluster;
		if (cname != NULL && cname[0] != '\0'
		    && sf_model_check_dns1123_label(cname) == NULL) {
			int min = (int) json_integer_value(
			    json_object_get(limits, "node_port_min"));
			int max = (int) json_integer_value(
			    json_object_get(limits, "node_port_max"));
			assert_int_equal(
			    set_cluster(f->tf_c, cname, min, max), 0);
		}

		svcfleet_status rs = {0};
		int             rv;
		if (oldsvc != NULL) {
			Svcfleet__V1__CreateServiceRequest cr
			    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
			Svcfleet__V1__UpdateServiceRequest up
			    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
			Svcfleet__V1__Service *out         = NULL;
			oldsvc->metadata->resource_version = 0;
			cr.service                         = oldsvc;
			rv = svcfleet_create_service(f->tf_c, &cr, &out, &rs);
			if (rv != 0) {
				fprintf(stderr,
				    "case \"%s\": old object: %s\n", name,
				    rs.message);
			}
			assert_int_equal(rv, 0);
			svcfleet_free(out);
			up.service = svc;
			up.dry_run = true;
			rv = svcfleet_update_service(f->tf_c, &up, &out, &rs);
			svcfleet_free(out);
			delete_svc(f->tf_c, oldsvc);
		} else {
			Svcfleet__V1__CreateServiceRequest cr
			    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
			Svcfleet__V1__Service *out = NULL;
			// The table is about validation; a carried
			// resourceVersion is a create precondition the RPC
			// tests check elsewhere.
			svc->metadata->resource_version = 0;
			cr.service                      = svc;
			cr.dry_run                      = true;
			rv = svcfleet_create_service(f->tf_c, &cr, &out, &rs);
			svcfleet_free(out);
		}
		through_rpc++;
		if (json_is_string(expect)) {
			if (rv != 0) {
				fprintf(stderr,
				    "case \"%s\": expected ok, got "
				    "%s: %s\n",
				    name, svcfleet_code_name(rv), rs.message);
				failed++;
			}
		} else if (rv != SVCFLEET_INVALID_ARGUMENT
		    || !same_violations(name, expect, &rs)) {
			if (rv != SVCFLEET_INVALID_ARGUMENT) {
				fprintf(stderr,
				    "case \"%s\": expected "
				    "INVALID_ARGUMENT, got %s: %s\n",
				    name, svcfleet_code_name(rv), rs.message);
			}
			failed++;
		}
		svcfleet_status_fini(&rs);
	next:
		sf_status_fini(&st);
		sf_arena_fini(&a);
	}
	json_decref(cases);
	printf("validation cases: %d through the RPC, %d rejected by the "
	       "client's conversion, %d skipped, %d failed\n",
	    through_rpc, client_side, skipped, failed);
	assert_int_equal(failed, 0);
	assert_true(through_rpc >= 80);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases_through_rpc),
	};
	return (cmocka_run_group_tests(tests, th_setup, th_teardown));
}
