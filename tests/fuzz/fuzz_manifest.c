// fuzz_manifest.c: Kubernetes Service manifests as `svcfleet apply` reads
// them — YAML streams or JSON — through sf_manifest_parse and
// sf_model_service_from_manifest, then defaults and validation. Beyond not
// crashing: a rejection always carries a message and every violation a
// field path that sf_manifest_line_of can place; and what is accepted
// survives the documented round trip (to a manifest, to YAML, parsed and
// read back: an equal spec).
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "model.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_rejection(const sf_status *st, const sf_manifest_doc *doc)
{
	if (st->st_msg[0] == '\0') {
		fprintf(stderr, "fuzz: a rejection without a message\n");
		abort();
	}
	for (size_t i = 0; i < st->st_nviol; i++) {
		if (st->st_viol[i].v_field == NULL
		    || st->st_viol[i].v_field[0] == '\0') {
			fprintf(stderr, "fuzz: a violation without a field\n");
			abort();
		}
		if (doc != NULL
		    && sf_manifest_line_of(doc, st->st_viol[i].v_field) < 1) {
			fprintf(stderr, "fuzz: no line for %s\n",
			    st->st_viol[i].v_field);
			abort();
		}
	}
}

// Writes svc out as YAML, parses it again and compares the spec.
static void
round_trip(const sf_service *svc)
{
	json_t         *obj = sf_model_service_to_manifest(svc);
	sf_buf          yaml;
	sf_manifest_set set = {0};
	sf_status       st;
	sf_arena        a;
	sf_service     *back = NULL;

	if (obj == NULL) {
		return; // out of memory
	}
	sf_buf_init(&yaml);
	sf_status_init(&st);
	sf_arena_init(&a);
	if (sf_model_json_to_yaml(obj, &yaml) != 0) {
		goto out;
	}
	if (sf_manifest_parse(
	        yaml.b_data, yaml.b_len, "round-trip.yaml", &set, &st)
	        != 0
	    || set.ms_ndocs != 1) {
		fprintf(stderr,
		    "fuzz: our own YAML does not parse: %s\n%.*s\n", st.st_msg,
		    (int) yaml.b_len, yaml.b_data);
		abort();
	}
	if (sf_model_service_from_manifest(
	        set.ms_docs[0].md_obj, NULL, &a, &back, &st)
	        != 0
	    || sf_model_service_defaults(back, &a) != 0) {
		fprintf(stderr,
		    "fuzz: our own manifest is rejected: %s\n%.*s\n",
		    st.st_msg, (int) yaml.b_len, yaml.b_data);
		abort();
	}
	if (!sf_model_spec_equal(svc->spec, back->spec)) {
		fprintf(stderr,
		    "fuzz: the spec changed on a round trip:\n%.*s\n",
		    (int) yaml.b_len, yaml.b_data);
		abort();
	}
out:
	sf_manifest_set_fini(&set);
	json_decref(obj);
	sf_buf_fini(&yaml);
	sf_status_fini(&st);
	sf_arena_fini(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sf_manifest_set set = {0};
	sf_status       st;

	sf_status_init(&st);
	if (sf_manifest_parse(
	        (const char *) data, size, "fuzz.yaml", &set, &st)
	    != 0) {
		check_rejection(&st, NULL);
		sf_status_fini(&st);
		return (0);
	}
	for (size_t i = 0; i < set.ms_ndocs && i < 8; i++) {
		sf_manifest_doc *doc = &set.ms_docs[i];
		sf_arena         a;
		sf_service      *svc = NULL;
		sf_model_limits  lim = {0};

		if (doc->md_obj == NULL) {
			continue;
		}
		sf_arena_init(&a);
		sf_status_reset(&st);
		if (sf_model_service_from_manifest(
		        doc->md_obj, i % 2 ? "east" : NULL, &a, &svc, &st)
		    != 0) {
			check_rejection(&st, doc);
		} else if (sf_model_service_defaults(svc, &a) == 0) {
			sf_status_reset(&st);
			if (sf_model_service_validate(svc, &lim, &st) != 0) {
				check_rejection(&st, doc);
			} else {
				round_trip(svc);
			}
		}
		sf_arena_fini(&a);
	}
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);
	return (0);
}
