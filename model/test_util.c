// test_util.c: helpers shared by the model module's tests.
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
tu_read_file(const char *rel, size_t *len)
{
	const char *dir = getenv("SF_SRC_DIR");
	char        path[4096];
	FILE       *f;
	char       *buf;
	long        n;

	snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : ".", rel);
	f = fopen(path, "rb");
	if (f == NULL) {
		fail_msg("cannot open %s (is SF_SRC_DIR set?)", path);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
	buf[n] = '\0';
	fclose(f);
	if (len != NULL) {
		*len = (size_t) n;
	}
	return (buf);
}

json_t *
tu_json(const char *text)
{
	json_error_t err;
	json_t      *v = json_loads(text, JSON_DECODE_ANY, &err);

	if (v == NULL) {
		fail_msg("bad JSON in test: %s at %d:%d", err.text, err.line,
		    err.column);
	}
	return (v);
}

void
tu_print_status(const char *what, const sf_status *st)
{
	fprintf(stderr, "%s: code %s: %s\n", what, sf_status_name(st->st_code),
	    st->st_msg);
	for (size_t i = 0; i < st->st_nviol; i++) {
		fprintf(stderr, "  %s [%s]: %s\n", st->st_viol[i].v_field,
		    st->st_viol[i].v_type, st->st_viol[i].v_reason);
	}
}

sf_service *
tu_service(sf_arena *a, const char *json, const char *cluster)
{
	json_t     *obj = tu_json(json);
	sf_service *svc = NULL;
	sf_status   st;
	int         rv;

	sf_status_init(&st);
	rv = sf_model_service_from_manifest(obj, cluster, a, &svc, &st);
	if (rv != 0) {
		tu_print_status("from_manifest", &st);
	}
	assert_int_equal(rv, 0);
	assert_int_equal(sf_model_service_defaults(svc, a), 0);
	sf_status_fini(&st);
	json_decref(obj);
	return (svc);
}

int
tu_has_violation(const sf_status *st, const char *field, const char *type,
    const char *reason)
{
	for (size_t i = 0; i < st->st_nviol; i++) {
		const sf_violation *v = &st->st_viol[i];
		if (strcmp(v->v_field, field) == 0
		    && strcmp(v->v_type, type) == 0
		    && (reason == NULL || strcmp(v->v_reason, reason) == 0)) {
			return (1);
		}
	}
	return (0);
}
