// validation_test.c: runs tests/data/validation_cases.json (format in
// tests/data/README.md): each manifest goes through from_manifest, then
// defaults, then validate (or prepare_update when the case has "old"), and
// the violations must equal the expected set exactly.
//
// SF_VERBOSE=1 prints every case's violations; SF_CASE=name runs one case.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef struct want {
	const char *w_field;
	const char *w_type;
	const char *w_reason; // NULL: not checked
	int         w_used;
} want;

static int
build_limits(sf_arena *a, const json_t *jl, sf_model_limits *lim)
{
	const json_t *pools;

	memset(lim, 0, sizeof(*lim));
	if (jl == NULL) {
		return (0);
	}
	lim->node_port_min = (int32_t) json_integer_value(
	    json_object_get(jl, "node_port_min"));
	lim->node_port_max = (int32_t) json_integer_value(
	    json_object_get(jl, "node_port_max"));
	pools = json_object_get(jl, "pools");
	if (pools == NULL) {
		return (0);
	}
	size_t                 n  = json_array_size(pools);
	Svcfleet__V1__IPPool **pp = sf_arena_zalloc(a, (n + 1) * sizeof(*pp));
	for (size_t i = 0; i < n; i++) {
		const json_t *jp    = json_array_get(pools, i);
		const json_t *addrs = json_object_get(jp, "addresses");
		pp[i]               = sf_arena_zalloc(a, sizeof(*pp[i]));
		*pp[i] = (Svcfleet__V1__IPPool) SVCFLEET__V1__IPPOOL__INIT;
		pp[i]->name = sf_arena_strdup(
		    a, json_string_value(json_object_get(jp, "name")));
		pp[i]->n_addresses = json_array_size(addrs);
		pp[i]->addresses   = sf_arena_zalloc(
		      a, (pp[i]->n_addresses + 1) * sizeof(char *));
		for (size_t j = 0; j < pp[i]->n_addresses; j++) {
			pp[i]->addresses[j] = sf_arena_strdup(
			    a, json_string_value(json_array_get(addrs, j)));
		}
	}
	lim->pools  = (const Svcfleet__V1__IPPool *const *) pp;
	lim->npools = n;
	return (0);
}

// i17-bulk: validation split in two, as a FleetService's "Same" copies
// are validated (whole with their nodePorts at 0 before the write, then
// sf_model_service_validate_node_ports on the writer once the ports are
// picked), finds exactly what one validation finds. Returns 0 when so.
static int
check_split(const char *name, sf_service *svc, const sf_model_limits *lim)
{
	sf_status whole, zero, ports;
	size_t    n = svc->spec != NULL ? svc->spec->n_ports : 0;
	int32_t   kept[128];
	bool      used[256] = {false};
	int       bad       = 0;

	if (n > 128) {
		return (0);
	}
	sf_status_init(&whole);
	sf_status_init(&zero);
	sf_status_init(&ports);
	(void) sf_model_service_validate(svc, lim, &whole);
	for (size_t i = 0; i < n; i++) {
		kept[i] = svc->spec->ports[i] != NULL
		    ? svc->spec->ports[i]->node_port
		    : 0;
		if (svc->spec->ports[i] != NULL) {
			svc->spec->ports[i]->node_port = 0;
		}
	}
	(void) sf_model_service_validate(svc, lim, &zero);
	for (size_t i = 0; i < n; i++) {
		if (svc->spec->ports[i] != NULL) {
			svc->spec->ports[i]->node_port = kept[i];
		}
	}
	(void) sf_model_service_validate_node_ports(svc, lim, &ports);
	if (zero.st_nviol + ports.st_nviol > 256) {
		fprintf(
		    stderr, "FAIL %s: too many violations to compare\n", name);
		bad = 1;
	} else if (zero.st_nviol + ports.st_nviol != whole.st_nviol) {
		fprintf(stderr,
		    "FAIL %s: split validation: %zu + %zu, not %zu\n", name,
		    zero.st_nviol, ports.st_nviol, whole.st_nviol);
		bad = 1;
	}
	for (size_t v = 0; !bad && v < whole.st_nviol; v++) {
		const sf_violation *w     = &whole.st_viol[v];
		bool                found = false;
		for (size_t k = 0; k < zero.st_nviol + ports.st_nviol; k++) {
			const sf_violation *o = k < zero.st_nviol
			    ? &zero.st_viol[k]
			    : &ports.st_viol[k - zero.st_nviol];
			if (!used[k] && strcmp(o->v_field, w->v_field) == 0
			    && strcmp(o->v_type, w->v_type) == 0
			    && strcmp(o->v_reason, w->v_reason) == 0) {
				used[k] = true;
				found   = true;
				break;
			}
		}
		if (!found) {
			fprintf(stderr,
			    "FAIL %s: split validation misses %s: %s\n", name,
			    w->v_field, w->v_reason);
			bad = 1;
		}
	}
	sf_status_fini(&whole);
	sf_status_fini(&zero);
	sf_status_fini(&ports);
	return (bad);
}

// run_case returns 0 when the case behaved as expected.
static int
run_case(const json_t *c, bool verbose)
{
	const char   *name   = json_string_value(json_object_get(c, "name"));
	const json_t *man    = json_object_get(c, "manifest");
	const json_t *old    = json_object_get(c, "old");
	const json_t *expect = json_object_get(c, "expect");
	const char *cluster = json_string_value(json_object_get(c, "cluster"));
	sf_arena    a;
	sf_status   st;
	sf_model_limits lim;
	sf_service     *svc = NULL, *osvc = NULL;
	int             rv, bad           = 0;
	want            wants[64];
	size_t          nwant = 0;

	sf_arena_init(&a);
	sf_status_init(&st);
	build_limits(&a, json_object_get(c, "limits"), &lim);

	rv = sf_model_service_from_manifest(man, cluster, &a, &svc, &st);
	if (rv == 0) {
		assert_int_equal(sf_model_service_defaults(svc, &a), 0);
		if (old != NULL) {
			sf_status ost;
			sf_status_init(&ost);
			if (sf_model_service_from_manifest(
			        old, cluster, &a, &osvc, &ost)
			    != 0) {
				tu_print_status(name, &ost);
				fail_msg(
				    "case %s: the old manifest is invalid",
				    name);
			}
			sf_status_fini(&ost);
			assert_int_equal(
			    sf_model_service_defaults(osvc, &a), 0);
			rv = sf_model_service_prepare_update(
			    osvc, svc, &lim, &a, &st);
		} else {
			rv = sf_model_service_validate(svc, &lim, &st);
			bad |= check_split(name, svc, &lim);
		}
	}
	if (verbose) {
		tu_print_status(name, &st);
	}

	if (json_is_string(expect)
	    && strcmp(json_string_value(expect), "ok") == 0) {
		if (rv != 0 || st.st_nviol != 0) {
			fprintf(stderr, "FAIL %s: expected ok\n", name);
			bad = 1;
		}
	} else if (json_is_array(expect)) {
		size_t        i;
		const json_t *w;
		json_array_foreach(expect, i, w)
		{
			assert_true(nwant < 64);
			wants[nwant].w_field
			    = json_string_value(json_object_get(w, "field"));
			wants[nwant].w_type
			    = json_string_value(json_object_get(w, "type"));
			wants[nwant].w_reason
			    = json_string_value(json_object_get(w, "reason"));
			wants[nwant].w_used = 0;
			nwant++;
		}
		if (rv != SF_INVALID_ARGUMENT) {
			fprintf(stderr,
			    "FAIL %s: code %s, want INVALID_ARGUMENT\n", name,
			    sf_status_name(rv));
			bad = 1;
		}
		// Exact as a multiset of (field, type); reasons when given.
		for (size_t v = 0; v < st.st_nviol; v++) {
			const sf_violation *sv    = &st.st_viol[v];
			bool                found = false;
			for (size_t k = 0; k < nwant && !found; k++) {
				if (!wants[k].w_used
				    && strcmp(wants[k].w_field, sv->v_field)
				        == 0
				    && strcmp(wants[k].w_type, sv->v_type) == 0
				    && (wants[k].w_reason == NULL
				        || strcmp(
				               wants[k].w_reason, sv->v_reason)
				            == 0)) {
					wants[k].w_used = 1;
					found           = true;
				}
			}
			if (!found) {
				fprintf(stderr,
				    "FAIL %s: unexpected %s [%s]: %s\n", name,
				    sv->v_field, sv->v_type, sv->v_reason);
				bad = 1;
			}
		}
		for (size_t k = 0; k < nwant; k++) {
			if (!wants[k].w_used) {
				fprintf(stderr,
				    "FAIL %s: missing %s [%s]%s%s\n", name,
				    wants[k].w_field, wants[k].w_type,
				    wants[k].w_reason ? ": " : "",
				    wants[k].w_reason ? wants[k].w_reason
				                      : "");
				bad = 1;
			}
		}
		if (rv == SF_INVALID_ARGUMENT
		    && strstr(st.st_msg, "is invalid") == NULL) {
			fprintf(
			    stderr, "FAIL %s: message %s\n", name, st.st_msg);
			bad = 1;
		}
	} else {
		fail_msg("case %s: expect must be \"ok\" or a list", name);
	}
	if (bad && !verbose) {
		tu_print_status(name, &st);
	}
	sf_status_fini(&st);
	sf_arena_fini(&a);
	return (bad);
}

static void
test_cases(void **state)
{
	char   *text  = tu_read_file("tests/data/validation_cases.json", NULL);
	json_t *cases = tu_json(text);
	const char   *only    = getenv("SF_CASE");
	bool          verbose = getenv("SF_VERBOSE") != NULL;
	size_t        i, failed = 0, ran = 0, nok = 0;
	const json_t *c;

	(void) state;
	assert_true(json_is_array(cases));
	json_array_foreach(cases, i, c)
	{
		const char *name
		    = json_string_value(json_object_get(c, "name"));
		assert_non_null(name);
		for (size_t j = 0; j < i; j++) {
			const char *o = json_string_value(
			    json_object_get(json_array_get(cases, j), "name"));
			if (strcmp(o, name) == 0) {
				fail_msg("case name %s is used twice", name);
			}
		}
		if (only != NULL && strcmp(only, name) != 0) {
			continue;
		}
		ran++;
		if (json_is_string(json_object_get(c, "expect"))) {
			nok++;
		}
		failed += (size_t) run_case(c, verbose);
	}
	fprintf(stderr, "%zu cases (%zu accepted, %zu rejected), %zu failed\n",
	    ran, nok, ran - nok, failed);
	if (only == NULL) {
		assert_true(ran >= 100);
	}
	assert_int_equal(failed, 0);
	json_decref(cases);
	free(text);
}

static sf_kv *
kv(sf_arena *a, const char *k, const char *v)
{
	sf_kv *p = sf_arena_zalloc(a, sizeof(*p));
	*p       = (sf_kv) SVCFLEET__V1__KEY_VALUE__INIT;
	p->key   = sf_arena_strdup(a, k);
	p->value = sf_arena_strdup(a, v);
	return (p);
}

// Rules only a hand-built message can break: manifests cannot hold
// duplicate keys, and conversion fills or drops the fields used here.
static void
test_proto_only_rules(void **state)
{
	static const char base[]
	    = "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
	      "\"name\":\"web1\"},\"spec\":{\"selector\":{\"app\":\"web\"},"
	      "\"ports\":[{\"port\":80}]}}";
	sf_arena    a;
	sf_status   st;
	sf_service *svc;

	(void) state;
	sf_arena_init(&a);
	sf_status_init(&st);

	// Duplicate keys, and annotations svcfleet writes itself.
	svc                        = tu_service(&a, base, "east");
	sf_kv **labels             = sf_arena_zalloc(&a, 2 * sizeof(*labels));
	labels[0]                  = kv(&a, "app", "a");
	labels[1]                  = kv(&a, "app", "b");
	svc->metadata->labels      = labels;
	svc->metadata->n_labels    = 2;
	svc->spec->selector        = labels;
	svc->spec->n_selector      = 2;
	sf_kv **anns               = sf_arena_zalloc(&a, 4 * sizeof(*anns));
	anns[0]                    = kv(&a, "note", "x");
	anns[1]                    = kv(&a, "note", "y");
	anns[2]                    = kv(&a, SF_ANN_METALLB_POOL, "default");
	anns[3]                    = kv(&a, SF_ANN_SYNC_STATE, "SYNCED");
	svc->metadata->annotations = anns;
	svc->metadata->n_annotations = 4;
	assert_int_equal(
	    sf_model_service_validate(svc, NULL, &st), SF_INVALID_ARGUMENT);
	assert_int_equal(st.st_nviol, 5);
	assert_true(tu_has_violation(&st, "metadata.labels", SF_V_DUPLICATE,
	    "Duplicate value: \"app\""));
	assert_true(tu_has_violation(
	    &st, "spec.selector", SF_V_DUPLICATE, "Duplicate value: \"app\""));
	assert_true(tu_has_violation(&st, "metadata.annotations",
	    SF_V_DUPLICATE, "Duplicate value: \"note\""));
	assert_true(tu_has_violation(&st,
	    "metadata.annotations[metallb.io/address-pool]", SF_V_FORBIDDEN,
	    "Forbidden: is written by svcfleet from spec lb_pool"));
	assert_true(tu_has_violation(&st,
	    "metadata.annotations[svcfleet.io/sync-state]", SF_V_FORBIDDEN,
	    NULL));
	sf_status_fini(&st);

	// Enumerations left empty (defaults not applied) are Required.
	svc                           = tu_service(&a, base, "east");
	svc->spec->type               = "";
	svc->spec->session_affinity   = "";
	svc->spec->ports[0]->protocol = "";
	assert_int_equal(
	    sf_model_service_validate(svc, NULL, &st), SF_INVALID_ARGUMENT);
	assert_int_equal(st.st_nviol, 3);
	assert_true(tu_has_violation(&st, "spec.type", SF_V_REQUIRED, NULL));
	assert_true(tu_has_violation(
	    &st, "spec.sessionAffinity", SF_V_REQUIRED, NULL));
	assert_true(tu_has_violation(
	    &st, "spec.ports[0].protocol", SF_V_REQUIRED, NULL));
	sf_status_fini(&st);

	svc                                = tu_service(&a, base, "east");
	svc->spec->type                    = "NodePort";
	svc->spec->external_traffic_policy = "";
	svc->spec->session_affinity        = "ClientIP";
	svc->spec->session_timeout_seconds = 0;
	assert_int_equal(
	    sf_model_service_validate(svc, NULL, &st), SF_INVALID_ARGUMENT);
	assert_int_equal(st.st_nviol, 2);
	assert_true(tu_has_violation(
	    &st, "spec.externalTrafficPolicy", SF_V_REQUIRED, NULL));
	assert_true(tu_has_violation(&st,
	    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
	    SF_V_REQUIRED,
	    "Required value: when session affinity type is ClientIP"));
	sf_status_fini(&st);

	// The load balancing type.
	svc                = tu_service(&a, base, "east");
	svc->spec->lb_type = "metallb";
	assert_int_equal(
	    sf_model_service_validate(svc, NULL, &st), SF_INVALID_ARGUMENT);
	assert_int_equal(st.st_nviol, 1);
	assert_true(tu_has_violation(&st, "spec.lbType", SF_V_FORBIDDEN,
	    "Forbidden: may only be used when `type` is 'LoadBalancer'"));
	sf_status_fini(&st);
	svc->spec->type                    = "LoadBalancer";
	svc->spec->lb_type                 = "cloud";
	svc->spec->external_traffic_policy = "Cluster";
	assert_int_equal(
	    sf_model_service_validate(svc, NULL, &st), SF_INVALID_ARGUMENT);
	assert_true(tu_has_violation(&st, "spec.lbType", SF_V_NOT_SUPPORTED,
	    "Unsupported value: \"cloud\": supported values: \"metallb\", "
	    "\"other\""));
	sf_status_fini(&st);
	svc->spec->lb_type = "";
	assert_int_equal(
	    sf_model_service_validate(svc, NULL, &st), SF_INVALID_ARGUMENT);
	assert_true(tu_has_violation(&st, "spec.lbType", SF_V_REQUIRED, NULL));
	sf_status_fini(&st);

	// A target port given both as a number and a name.
	svc                                   = tu_service(&a, base, "east");
	svc->spec->ports[0]->target_port_name = "http";
	assert_int_equal(
	    sf_model_service_validate(svc, NULL, &st), SF_INVALID_ARGUMENT);
	assert_int_equal(st.st_nviol, 1);
	assert_true(
	    tu_has_violation(&st, "spec.ports[0].targetPort", SF_V_INVALID,
	        "Invalid value: 80: a target port is a number or a name, not "
	        "both"));
	sf_status_fini(&st);
	sf_arena_fini(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_proto_only_rules),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
