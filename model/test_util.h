// test_util.h: helpers shared by the model module's tests.
#ifndef SF_MODEL_TEST_UTIL_H
#define SF_MODEL_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
// cmocka needs the headers above first.
#include <cmocka.h>

#include "model.h"

// tu_read_file reads SF_SRC_DIR/rel (malloc'd, NUL-terminated) or fails
// the test.
char *tu_read_file(const char *rel, size_t *len);

// tu_json parses JSON text or fails the test.
json_t *tu_json(const char *text);

// tu_print_status writes code, message and violations to stderr.
void tu_print_status(const char *what, const sf_status *st);

// tu_service converts a JSON manifest, applies defaults, and fails the
// test when either step fails.
sf_service *tu_service(sf_arena *a, const char *json, const char *cluster);

// tu_has_violation: st holds a violation on field of type (and reason,
// when not NULL).
int tu_has_violation(const sf_status *st, const char *field, const char *type,
    const char *reason);

#endif // SF_MODEL_TEST_UTIL_H
