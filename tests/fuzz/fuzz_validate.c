// fuzz_validate.c: Service validation on arbitrary Service messages, as
// the server receives them. The input is split in two packed Services (the
// first byte says where): each is defaulted and validated alone, then the
// second as an update of the first. Validation never crashes, every
// rejection names its fields, and defaults are idempotent.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "model.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const    addrs[] = {"10.0.0.0/24", "10.1.0.5-10.1.0.9"};
static Svcfleet__V1__IPPool pool    = {.name = "default"};
static const Svcfleet__V1__IPPool *pools[] = {&pool};

static void
check(int rv, const sf_status *st)
{
	if (rv == 0) {
		return;
	}
	if (rv != SF_INVALID_ARGUMENT || st->st_nviol == 0
	    || st->st_msg[0] == '\0') {
		fprintf(stderr,
		    "fuzz: validation returned %d with %zu violations\n", rv,
		    st->st_nviol);
		abort();
	}
	for (size_t i = 0; i < st->st_nviol; i++) {
		if (st->st_viol[i].v_field == NULL
		    || st->st_viol[i].v_field[0] == '\0'
		    || st->st_viol[i].v_reason == NULL) {
			fprintf(stderr, "fuzz: a violation without a field\n");
			abort();
		}
	}
}

static sf_service *
decode(sf_arena *a, const uint8_t *p, size_t n)
{
	sf_service *s = svcfleet__v1__service__unpack(sf_arena_pbc(a), n, p);
	if (s == NULL || sf_model_service_defaults(s, a) != 0) {
		return (NULL);
	}
	return (s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sf_arena        a;
	sf_status       st;
	sf_model_limits lim = {0};
	sf_service     *x, *y;
	size_t          cut;

	if (size < 1) {
		return (0);
	}
	pool.addresses   = (char **) addrs;
	pool.n_addresses = 2;
	lim.pools        = data[0] & 1 ? pools : NULL;
	lim.npools       = data[0] & 1 ? 1 : 0;
	if (data[0] & 2) {
		lim.node_port_min = 30000 + (data[0] >> 2);
		lim.node_port_max = 30100;
	}
	cut = size > 1 ? 1 + (size_t) data[0] * (size - 1) / 256 : 1;
	sf_arena_init(&a);
	sf_status_init(&st);
	x = decode(&a, data + 1, cut - 1);
	y = decode(&a, data + cut, size - cut);
	if (x != NULL) {
		// Defaults are idempotent: a second pass changes nothing.
		size_t   n1 = svcfleet__v1__service__get_packed_size(x);
		uint8_t *b1 = malloc(n1 + 1);
		svcfleet__v1__service__pack(x, b1);
		sf_model_service_defaults(x, &a);
		size_t   n2 = svcfleet__v1__service__get_packed_size(x);
		uint8_t *b2 = malloc(n2 + 1);
		svcfleet__v1__service__pack(x, b2);
		if (n1 != n2 || memcmp(b1, b2, n1) != 0) {
			fprintf(stderr, "fuzz: defaults are not idempotent\n");
			abort();
		}
		free(b1);
		free(b2);
		check(sf_model_service_validate(x, &lim, &st), &st);
	}
	if (y != NULL) {
		sf_status_reset(&st);
		check(sf_model_service_validate(y, &lim, &st), &st);
	}
	if (x != NULL && y != NULL) {
		sf_status_reset(&st);
		check(
		    sf_model_service_prepare_update(x, y, &lim, &a, &st), &st);
	}
	sf_status_fini(&st);
	sf_arena_fini(&a);
	return (0);
}
