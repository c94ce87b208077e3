// internal.h: helpers shared by the model module's files, named sf__model_*
// (SF__MODEL_* for macros) so that they are told apart from model.h's
// public sf_model_* by name.
// Nothing here is part of the module's interface; model.h is.
#ifndef SF_MODEL_INTERNAL_H
#define SF_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "str.h"

static inline bool
sf__model_empty(const char *s)
{
	return (s == NULL || s[0] == '\0');
}

bool sf__model_streq(const char *a, const char *b); // NULL == ""

// ------------------------------------------------------------ violations

// sf__model_vctx collects violations into a status and remembers how many this
// pass added, so a validator can tell whether it found anything even when
// st is NULL, and can finish with a Kubernetes-style aggregate message.
typedef struct sf__model_vctx {
	sf_status *vc_st;
	size_t     vc_start; // st->st_nviol when the pass began
	size_t     vc_n;     // violations added by this pass
	int        vc_oom;
} sf__model_vctx;

void sf__model_vctx_init(sf__model_vctx *vc, sf_status *st);
// sf__model_vctx_finish returns 0 when nothing was found,
// SF_RESOURCE_EXHAUSTED when a violation could not be recorded, else
// SF_INVALID_ARGUMENT with the message `<what> is invalid: <field>: <reason>`
// (several in [...]).
int sf__model_vctx_finish(
    sf__model_vctx *vc, const char *kind, const char *name);

void sf__model_viol(sf__model_vctx *vc, const char *type, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

// Kubernetes field.Error bodies. detail may be NULL for none.
void sf__model_v_required(
    sf__model_vctx *vc, const char *field, const char *detail);
void sf__model_v_forbidden(
    sf__model_vctx *vc, const char *field, const char *detail);
void sf__model_v_invalid_str(sf__model_vctx *vc, const char *field,
    const char *value, const char *detail);
void sf__model_v_invalid_int(sf__model_vctx *vc, const char *field,
    long long value, const char *detail);
// supported: NULL-terminated, already sorted.
void sf__model_v_not_supported(sf__model_vctx *vc, const char *field,
    const char *value, const char *const *supported);
void sf__model_v_duplicate_str(
    sf__model_vctx *vc, const char *field, const char *value);
void sf__model_v_duplicate_int(
    sf__model_vctx *vc, const char *field, long long value);
void sf__model_v_not_found_str(sf__model_vctx *vc, const char *field,
    const char *value, const char *detail);
void sf__model_v_too_long(
    sf__model_vctx *vc, const char *field, long long max);

// sf__model_quote appends s quoted as Go's %q does (escapes, UTF-8 kept).
void sf__model_quote(sf_buf *b, const char *s);

// sf__model_validate_service runs every create-time rule into vc.
void sf__model_validate_service(
    sf__model_vctx *vc, const sf_service *svc, const sf_model_limits *lim);
const char *sf__model_service_name(const sf_service *svc);

// ------------------------------------------------------------ name rules

// Each fills up to max messages (static strings) and returns how many
// rules s breaks; 0 means valid. Messages are Kubernetes' own.
#define SF__MODEL_MSGS_MAX 6
size_t sf__model_dns1123_label(const char *s, const char **msgs);
size_t sf__model_dns1123_subdomain(const char *s, const char **msgs);
size_t sf__model_dns1035_label(const char *s, const char **msgs);
size_t sf__model_qualified_name(const char *s, const char **msgs);
size_t sf__model_label_value(const char *s, const char **msgs);
size_t sf__model_port_name(const char *s, const char **msgs);

// ------------------------------------------------------------ addresses

typedef struct sf__model_ip {
	int     ip_family; // 4 or 6
	uint8_t ip_b[16];  // IPv4 in the first 4 bytes
} sf__model_ip;

bool sf__model_ip_parse(const char *s, sf__model_ip *ip);
bool sf__model_ip_parse_n(const char *s, size_t n, sf__model_ip *ip);
bool sf__model_cidr_parse(const char *s, sf__model_ip *ip, int *bits);
// sf__model_pool_entry_contains: entry is a CIDR, a range "a-b" or one
// address. Returns 1 when ip lies in it, 0 when not, -1 when entry is
// malformed.
int sf__model_pool_entry_contains(const char *entry, const sf__model_ip *ip);

#define SF__MODEL_IP_MSG \
	"must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
#define SF__MODEL_CIDR_MSG \
	"must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"

// ------------------------------------------------------------ misc

// sf__model_adup copies s (NULL as ""); NULL when out of memory.
char *sf__model_adup(sf_arena *a, const char *s);

// The JSON type of v in words: "a string", "an integer", ...
const char *sf__model_json_type_name(const json_t *v);

// JSON pointer segment escaping (RFC 6901) appended to b: "/" + escaped.
void sf__model_ptr_push(sf_buf *b, const char *seg);

// Line map of one document: JSON pointer -> 1-based line (json integers).
// Built by the YAML loader; NULL when unknown.
int sf__model_yaml_load(const char *text, size_t len, const char *filename,
    sf_manifest_set *out, sf_status *st);
// sf__model_yaml_lines returns the line map of a YAML (or JSON) text holding
// exactly one document, or NULL when it cannot be built.
json_t *sf__model_yaml_lines(const char *text, size_t len);

// YAML 1.1 resolution of a plain scalar, as Kubernetes' YAML decoder does
// (null, booleans incl. yes/no/on/off, ints incl. 0x/0o/0b, floats).
// Returns a new reference (a string when nothing else applies) or NULL.
json_t *sf__model_yaml_resolve_plain(const char *s, size_t n);
// sf__model_yaml_needs_quotes: true when the string s would not read back as
// the same string if written as a plain scalar.
bool sf__model_yaml_needs_quotes(const char *s);

// Manifest document helpers.
void sf__model_doc_fini(sf_manifest_doc *d);

#endif // SF_MODEL_INTERNAL_H
