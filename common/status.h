// status.h: svcfleet's one status space.
//
// Every function that can fail returns an int that is one of these codes,
// 0 meaning OK. They are the gRPC canonical codes, so the RPC reply carries
// them as they are. Details for a human travel beside the code in an
// sf_status: a one-line message (first failure wins) and, for validation,
// a list of (Kubernetes field path, reason) violations.
#ifndef SF_STATUS_H
#define SF_STATUS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

// XX(NAME, number, default message). Append only; never renumber.
#define SF_STATUS_MAP(XX)                                                \
	XX(OK, 0, "ok")                                                  \
	XX(CANCELLED, 1, "the operation was cancelled")                  \
	XX(UNKNOWN, 2, "unknown error")                                  \
	XX(INVALID_ARGUMENT, 3, "invalid argument")                      \
	XX(DEADLINE_EXCEEDED, 4, "deadline exceeded")                    \
	XX(NOT_FOUND, 5, "not found")                                    \
	XX(ALREADY_EXISTS, 6, "already exists")                          \
	XX(PERMISSION_DENIED, 7, "permission denied")                    \
	XX(RESOURCE_EXHAUSTED, 8, "resource exhausted")                  \
	XX(FAILED_PRECONDITION, 9, "failed precondition")                \
	XX(ABORTED, 10, "aborted: the object was modified concurrently") \
	XX(OUT_OF_RANGE, 11, "out of range")                             \
	XX(UNIMPLEMENTED, 12, "not implemented")                         \
	XX(INTERNAL, 13, "internal error")                               \
	XX(UNAVAILABLE, 14, "unavailable")                               \
	XX(DATA_LOSS, 15, "data loss")                                   \
	XX(UNAUTHENTICATED, 16, "unauthenticated")

enum sf_code {
#define SF_STATUS_ENUM(name, num, str) SF_##name = num,
	SF_STATUS_MAP(SF_STATUS_ENUM)
#undef SF_STATUS_ENUM
	    SF_CODE_COUNT
};

// sf_status_name returns "INVALID_ARGUMENT" for 3, or "CODE_<n>" (in a
// static buffer per thread) for a code outside the list.
const char *sf_status_name(int code);

// sf_status_str returns the default one-line message of a code.
const char *sf_status_str(int code);

// sf_status_from_name parses "NOT_FOUND" (case-insensitive); -1 if unknown.
int sf_status_from_name(const char *name);

// Kubernetes cause reasons used as violation types.
#define SF_V_REQUIRED      "FieldValueRequired"
#define SF_V_INVALID       "FieldValueInvalid"
#define SF_V_NOT_SUPPORTED "FieldValueNotSupported"
#define SF_V_FORBIDDEN     "FieldValueForbidden"
#define SF_V_DUPLICATE     "FieldValueDuplicate"
#define SF_V_TOO_LONG      "FieldValueTooLong"
#define SF_V_TOO_MANY      "FieldValueTooMany"
#define SF_V_NOT_FOUND     "FieldValueNotFound"

typedef struct sf_violation {
	char       *v_field;  // "spec.ports[1].nodePort"
	char       *v_reason; // "Invalid value: 0: must be between ..."
	const char *v_type;   // one of SF_V_*, static storage
} sf_violation;

#define SF_STATUS_MSG_MAX 512

// sf_status: a code, a one-line message and field violations. Initialise
// with sf_status_init (or = {0}), release with sf_status_fini.
typedef struct sf_status {
	int           st_code;
	char          st_msg[SF_STATUS_MSG_MAX];
	sf_violation *st_viol;
	size_t        st_nviol;
	size_t        st_cap;
	// Violations beyond SF_STATUS_VIOL_MAX: counted, not kept (issue 17).
	size_t st_more;
} sf_status;

// At most this many violations are kept in a status; the rest are only
// counted in st_more, so a request cannot make the server build (or send)
// an answer larger than a few tens of kilobytes, whatever it holds.
#define SF_STATUS_VIOL_MAX 100

void sf_status_init(sf_status *st);
void sf_status_fini(sf_status *st);
// sf_status_reset forgets code, message and violations.
void sf_status_reset(sf_status *st);

// sf_status_set records code and message unless a code is already set (the
// first failure wins) and returns code either way, so it can end a function:
// `return sf_status_set(st, SF_NOT_FOUND, "services \"%s\" not found", n);`.
// A NULL st is allowed and only returns code. Line breaks in the message are
// replaced by spaces.
int sf_status_set(sf_status *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sf_status_vset(sf_status *st, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

// sf_status_violation appends a field violation (type is one of SF_V_*).
// It does not change the code; callers set SF_INVALID_ARGUMENT after
// collecting every violation. Beyond SF_STATUS_VIOL_MAX it only counts the
// violation in st_more (without formatting it). Returns 0 or
// SF_RESOURCE_EXHAUSTED when out of memory.
int sf_status_violation(sf_status *st, const char *type, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

// sf_status_full: true when st keeps no more violations (a further one is
// only counted), so a caller may skip building its text.
bool sf_status_full(const sf_status *st);

// sf_status_nviol: every violation recorded, kept or only counted.
size_t sf_status_nviol(const sf_status *st);

// sf_status_move moves everything from src into dst (dst is reset first).
void sf_status_move(sf_status *dst, sf_status *src);

// sf_status_copy copies src into dst (dst is reset first).
int sf_status_copy(sf_status *dst, const sf_status *src);

#endif // SF_STATUS_H
