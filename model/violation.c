// violation.c: Kubernetes-worded field violations and small shared helpers.
//
// Reasons are built the way apimachinery's field.Error.ErrorBody builds
// them: "<Type text>[: <bad value>][: <detail>]", strings quoted with Go's
// %q rules and numbers printed bare.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

bool
sf__model_streq(const char *a, const char *b)
{
	return (strcmp(sf_nz(a), sf_nz(b)) == 0);
}

char *
sf__model_adup(sf_arena *a, const char *s)
{
	return (sf_arena_strdup(a, sf_nz(s)));
}

const char *
sf__model_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return ("an object");
	case JSON_ARRAY:
		return ("an array");
	case JSON_STRING:
		return ("a string");
	case JSON_INTEGER:
		return ("an integer");
	case JSON_REAL:
		return ("a number");
	case JSON_TRUE:
	case JSON_FALSE:
		return ("a boolean");
	case JSON_NULL:
	default:
		return ("null");
	}
}

void
sf__model_ptr_push(sf_buf *b, const char *seg)
{
	sf_buf_putc(b, '/');
	for (; *seg != '\0'; seg++) {
		if (*seg == '~') {
			sf_buf_puts(b, "~0");
		} else if (*seg == '/') {
			sf_buf_puts(b, "~1");
		} else {
			sf_buf_putc(b, *seg);
		}
	}
}

// utf8_len returns the length of the valid UTF-8 sequence at s, or 0.
static size_t
utf8_len(const unsigned char *s)
{
	size_t   n;
	uint32_t cp;

	if (s[0] < 0x80) {
		return (1);
	} else if ((s[0] & 0xe0) == 0xc0) {
		n  = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n  = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n  = 4;
		cp = s[0] & 0x07;
	} else {
		return (0);
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return (0);
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800)
	    || (n == 4 && cp < 0x10000) || cp > 0x10ffff
	    || (cp >= 0xd800 && cp <= 0xdfff)) {
		return (0);
	}
	return (n);
}

void
sf__model_quote(sf_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *) sf_nz(s);

	sf_buf_putc(b, '"');
	while (*p != '\0') {
		size_t n;
		switch (*p) {
		case '"':
			sf_buf_puts(b, "\\\"");
			break;
		case '\\':
			sf_buf_puts(b, "\\\\");
			break;
		case '\a':
			sf_buf_puts(b, "\\a");
			break;
		case '\b':
			sf_buf_puts(b, "\\b");
			break;
		case '\f':
			sf_buf_puts(b, "\\f");
			break;
		case '\n':
			sf_buf_puts(b, "\\n");
			break;
		case '\r':
			sf_buf_puts(b, "\\r");
			break;
		case '\t':
			sf_buf_puts(b, "\\t");
			break;
		case '\v':
			sf_buf_puts(b, "\\v");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				sf_buf_printf(b, "\\x%02x", *p);
			} else if (*p < 0x80) {
				sf_buf_putc(b, (char) *p);
			} else if ((n = utf8_len(p)) == 0) {
				sf_buf_printf(b, "\\x%02x", *p);
			} else {
				sf_buf_put(b, p, n);
				p += n;
				continue;
			}
		}
		p++;
	}
	sf_buf_putc(b, '"');
}

void
sf__model_vctx_init(sf__model_vctx *vc, sf_status *st)
{
	vc->vc_st    = st;
	vc->vc_start = st != NULL ? st->st_nviol : 0;
	vc->vc_n     = 0;
	vc->vc_oom   = 0;
}

void
sf__model_viol(sf__model_vctx *vc, const char *type, const char *field,
    const char *fmt, ...)
{
	va_list ap;
	sf_buf  b = SF_BUF_INIT;

	vc->vc_n++;
	if (vc->vc_st == NULL) {
		return;
	}
	if (sf_status_full(vc->vc_st)) {
		// Only counted: nothing is formatted for it (issue 17).
		sf_status_violation(vc->vc_st, type, field, "%s", "");
		return;
	}
	va_start(ap, fmt);
	sf_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (b.b_oom
	    || sf_status_violation(
	           vc->vc_st, type, field, "%s", sf_buf_cstr(&b))
	        != 0) {
		vc->vc_oom = 1;
	}
	sf_buf_fini(&b);
}

int
sf__model_vctx_finish(sf__model_vctx *vc, const char *kind, const char *name)
{
	sf_buf b = SF_BUF_INIT;
	size_t n;

	if (vc->vc_oom) {
		return (sf_status_set(vc->vc_st, SF_RESOURCE_EXHAUSTED,
		    "out of memory while validating"));
	}
	if (vc->vc_n == 0) {
		return (0);
	}
	if (vc->vc_st == NULL) {
		return (SF_INVALID_ARGUMENT);
	}
	// Kubernetes: `Service "x" is invalid: a: r` or `[a: r, b: r]`, with
	// repeated messages dropped.
	n = vc->vc_st->st_nviol - vc->vc_start;
	sf_buf_printf(&b, "%s ", kind);
	sf__model_quote(&b, name);
	sf_buf_puts(&b, " is invalid: ");
	if (n > 1) {
		sf_buf_putc(&b, '[');
	}
	for (size_t i = 0; i < n; i++) {
		const sf_violation *v = &vc->vc_st->st_viol[vc->vc_start + i];
		bool                seen = false;
		for (size_t j = 0; j < i && !seen; j++) {
			const sf_violation *w
			    = &vc->vc_st->st_viol[vc->vc_start + j];
			seen = strcmp(v->v_field, w->v_field) == 0
			    && strcmp(v->v_reason, w->v_reason) == 0;
		}
		if (seen) {
			continue;
		}
		if (i > 0) {
			sf_buf_puts(&b, ", ");
		}
		sf_buf_printf(&b, "%s: %s", v->v_field, v->v_reason);
		if (b.b_len > SF_STATUS_MSG_MAX) {
			break;
		}
	}
	if (n > 1) {
		sf_buf_putc(&b, ']');
	}
	sf_status_set(vc->vc_st, SF_INVALID_ARGUMENT, "%s", sf_buf_cstr(&b));
	sf_buf_fini(&b);
	return (SF_INVALID_ARGUMENT);
}

void
sf__model_v_required(sf__model_vctx *vc, const char *field, const char *detail)
{
	if (sf__model_empty(detail)) {
		sf__model_viol(vc, SF_V_REQUIRED, field, "Required value");
	} else {
		sf__model_viol(
		    vc, SF_V_REQUIRED, field, "Required value: %s", detail);
	}
}

void
sf__model_v_forbidden(
    sf__model_vctx *vc, const char *field, const char *detail)
{
	sf__model_viol(vc, SF_V_FORBIDDEN, field, "Forbidden: %s", detail);
}

static void
with_value(sf__model_vctx *vc, const char *type, const char *field,
    const char *head, const char *value, const char *detail)
{
	sf_buf b = SF_BUF_INIT;

	sf__model_quote(&b, value);
	if (sf__model_empty(detail)) {
		sf__model_viol(
		    vc, type, field, "%s: %s", head, sf_buf_cstr(&b));
	} else {
		sf__model_viol(vc, type, field, "%s: %s: %s", head,
		    sf_buf_cstr(&b), detail);
	}
	sf_buf_fini(&b);
}

void
sf__model_v_invalid_str(sf__model_vctx *vc, const char *field,
    const char *value, const char *detail)
{
	with_value(vc, SF_V_INVALID, field, "Invalid value", value, detail);
}

void
sf__model_v_invalid_int(
    sf__model_vctx *vc, const char *field, long long value, const char *detail)
{
	sf__model_viol(
	    vc, SF_V_INVALID, field, "Invalid value: %lld: %s", value, detail);
}

void
sf__model_v_not_supported(sf__model_vctx *vc, const char *field,
    const char *value, const char *const *supported)
{
	sf_buf b = SF_BUF_INIT;

	sf_buf_puts(&b, "supported values: ");
	for (size_t i = 0; supported[i] != NULL; i++) {
		if (i > 0) {
			sf_buf_puts(&b, ", ");
		}
		sf__model_quote(&b, supported[i]);
	}
	with_value(vc, SF_V_NOT_SUPPORTED, field, "Unsupported value", value,
	    sf_buf_cstr(&b));
	sf_buf_fini(&b);
}

void
sf__model_v_duplicate_str(
    sf__model_vctx *vc, const char *field, const char *value)
{
	with_value(vc, SF_V_DUPLICATE, field, "Duplicate value", value, NULL);
}

void
sf__model_v_duplicate_int(
    sf__model_vctx *vc, const char *field, long long value)
{
	sf__model_viol(
	    vc, SF_V_DUPLICATE, field, "Duplicate value: %lld", value);
}

void
sf__model_v_not_found_str(sf__model_vctx *vc, const char *field,
    const char *value, const char *detail)
{
	with_value(vc, SF_V_NOT_FOUND, field, "Not found", value, detail);
}

void
sf__model_v_too_long(sf__model_vctx *vc, const char *field, long long max)
{
	sf__model_viol(vc, SF_V_TOO_LONG, field,
	    "Too long: must have at most %lld bytes", max);
}
