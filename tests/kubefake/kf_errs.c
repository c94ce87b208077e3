// kf_errs.c: field errors and metav1.Status bodies, worded as
// apimachinery's field.Error and api/errors word them.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"

void
kf_errs_fini(kf_errs *e)
{
	for (size_t i = 0; i < e->e_n; i++) {
		free(e->e_c[i].c_field);
		free(e->e_c[i].c_msg);
	}
	free(e->e_c);
	memset(e, 0, sizeof(*e));
}

__attribute__((format(printf, 4, 0))) static void
errs_vadd(kf_errs *e, const char *type, const char *field, const char *fmt,
    va_list ap)
{
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0) {
		return;
	}
	// Duplicate messages on the same field add nothing (ToAggregate
	// drops them too).
	for (size_t i = 0; i < e->e_n; i++) {
		if (strcmp(e->e_c[i].c_field, field) == 0
		    && strcmp(e->e_c[i].c_msg, msg) == 0) {
			free(msg);
			return;
		}
	}
	if (e->e_n == e->e_cap) {
		size_t    cap = e->e_cap ? e->e_cap * 2 : 8;
		kf_cause *c   = realloc(e->e_c, cap * sizeof(*c));
		if (c == NULL) {
			free(msg);
			return;
		}
		e->e_c   = c;
		e->e_cap = cap;
	}
	e->e_c[e->e_n].c_type  = type;
	e->e_c[e->e_n].c_field = strdup(field);
	e->e_c[e->e_n].c_msg   = msg;
	e->e_n++;
}

void
kf_errs_addf(
    kf_errs *e, const char *type, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	errs_vadd(e, type, field, fmt, ap);
	va_end(ap);
}

void
kf_err_required(kf_errs *e, const char *field, const char *detail)
{
	if (detail && *detail) {
		kf_errs_addf(
		    e, KF_REQUIRED, field, "Required value: %s", detail);
	} else {
		kf_errs_addf(e, KF_REQUIRED, field, "Required value");
	}
}

void
kf_err_forbidden(kf_errs *e, const char *field, const char *detail)
{
	if (detail && *detail) {
		kf_errs_addf(e, KF_FORBIDDEN, field, "Forbidden: %s", detail);
	} else {
		kf_errs_addf(e, KF_FORBIDDEN, field, "Forbidden");
	}
}

void
kf_err_invalid(
    kf_errs *e, const char *field, const char *value, const char *detail)
{
	if (detail && *detail) {
		kf_errs_addf(e, KF_INVALID, field, "Invalid value: %s: %s",
		    value, detail);
	} else {
		kf_errs_addf(e, KF_INVALID, field, "Invalid value: %s", value);
	}
}

void
kf_err_invalid_str(
    kf_errs *e, const char *field, const char *value, const char *detail)
{
	char *q = kf_goquote(value);
	kf_err_invalid(e, field, q ? q : "\"\"", detail);
	free(q);
}

void
kf_err_invalid_int(
    kf_errs *e, const char *field, long long value, const char *detail)
{
	char v[32];
	snprintf(v, sizeof(v), "%lld", value);
	kf_err_invalid(e, field, v, detail);
}

void
kf_err_notsupported(kf_errs *e, const char *field, const char *value,
    const char *const *supported)
{
	sf_buf b = SF_BUF_INIT;
	char  *q = kf_goquote(value);
	sf_buf_printf(&b, "Unsupported value: %s", q ? q : "\"\"");
	free(q);
	if (supported && supported[0]) {
		sf_buf_puts(&b, ": supported values: ");
		for (int i = 0; supported[i]; i++) {
			q = kf_goquote(supported[i]);
			sf_buf_printf(&b, "%s%s", i ? ", " : "", q ? q : "");
			free(q);
		}
	}
	kf_errs_addf(e, KF_NOTSUPPORTED, field, "%s", sf_buf_cstr(&b));
	sf_buf_fini(&b);
}

void
kf_err_duplicate(kf_errs *e, const char *field, const char *value)
{
	kf_errs_addf(e, KF_DUPLICATE, field, "Duplicate value: %s", value);
}

void
kf_err_toolong(kf_errs *e, const char *field, long long max)
{
	kf_errs_addf(e, KF_TOOLONG, field,
	    "Too long: must have at most %lld bytes", max);
}

char *
kf_goquote(const char *s)
{
	sf_buf b = SF_BUF_INIT;
	sf_buf_putc(&b, '"');
	for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
		switch (*p) {
		case '"':
			sf_buf_puts(&b, "\\\"");
			break;
		case '\\':
			sf_buf_puts(&b, "\\\\");
			break;
		case '\n':
			sf_buf_puts(&b, "\\n");
			break;
		case '\t':
			sf_buf_puts(&b, "\\t");
			break;
		case '\r':
			sf_buf_puts(&b, "\\r");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				sf_buf_printf(&b, "\\x%02x", *p);
			} else {
				sf_buf_putc(&b, (char) *p);
			}
		}
	}
	sf_buf_putc(&b, '"');
	return sf_buf_take(&b);
}

void
kf_resp_fini(kf_resp *r)
{
	free(r->r_body);
	free(r->r_warning);
	memset(r, 0, sizeof(*r));
}

void
kf_resp_json(kf_resp *r, int code, json_t *j)
{
	free(r->r_body);
	r->r_code = code;
	r->r_body = kf_json_dump(j, &r->r_len);
	json_decref(j);
}

void
kf_resp_text(kf_resp *r, int code, const char *text, size_t n)
{
	free(r->r_body);
	r->r_code = code;
	r->r_body = malloc(n + 1);
	if (r->r_body != NULL) {
		memcpy(r->r_body, text, n);
		r->r_body[n] = '\0';
		r->r_len     = n;
	} else {
		r->r_len = 0;
	}
}

__attribute__((format(printf, 5, 0))) static void
status_v(kf_resp *r, int code, const char *reason, json_t *details,
    const char *fmt, va_list ap)
{
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0) {
		msg = NULL;
	}
	json_t *j = json_object();
	json_object_set_new(j, "kind", json_string("Status"));
	json_object_set_new(j, "apiVersion", json_string("v1"));
	json_object_set_new(j, "metadata", json_object());
	json_object_set_new(j, "status", json_string("Failure"));
	if (msg && *msg) {
		json_object_set_new(j, "message", json_string(msg));
	}
	if (reason && *reason) {
		json_object_set_new(j, "reason", json_string(reason));
	}
	if (details) {
		json_object_set_new(j, "details", details);
	}
	json_object_set_new(j, "code", json_integer(code));
	free(msg);
	kf_resp_json(r, code, j);
}

void
kf_status(kf_resp *r, int code, const char *reason, json_t *details,
    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	status_v(r, code, reason, details, fmt, ap);
	va_end(ap);
}

void
kf_status_invalid(kf_resp *r, const char *group, const char *kind,
    const char *name, const kf_errs *e)
{
	json_t *det    = json_object();
	json_t *causes = json_array();
	sf_buf  agg    = SF_BUF_INIT;
	if (name && *name) {
		json_object_set_new(det, "name", json_string(name));
	}
	if (group && *group) {
		json_object_set_new(det, "group", json_string(group));
	}
	json_object_set_new(det, "kind", json_string(kind));
	for (size_t i = 0; i < e->e_n; i++) {
		json_t *c = json_object();
		json_object_set_new(
		    c, "reason", json_string(e->e_c[i].c_type));
		json_object_set_new(
		    c, "message", json_string(e->e_c[i].c_msg));
		json_object_set_new(
		    c, "field", json_string(e->e_c[i].c_field));
		json_array_append_new(causes, c);
		sf_buf_printf(&agg, "%s%s: %s", i ? ", " : "",
		    e->e_c[i].c_field, e->e_c[i].c_msg);
	}
	json_object_set_new(det, "causes", causes);
	char *qn = kf_goquote(name ? name : "");
	char  gk[128];
	if (group && *group) {
		snprintf(gk, sizeof(gk), "%s.%s", kind, group);
	} else {
		snprintf(gk, sizeof(gk), "%s", kind);
	}
	if (e->e_n == 0) {
		kf_status(r, 422, "Invalid", det, "%s %s is invalid", gk, qn);
	} else if (e->e_n == 1) {
		kf_status(r, 422, "Invalid", det, "%s %s is invalid: %s", gk,
		    qn, sf_buf_cstr(&agg));
	} else {
		kf_status(r, 422, "Invalid", det, "%s %s is invalid: [%s]", gk,
		    qn, sf_buf_cstr(&agg));
	}
	free(qn);
	sf_buf_fini(&agg);
}

void
kf_status_notfound(
    kf_resp *r, const char *group, const char *resource, const char *name)
{
	json_t *det = json_object();
	json_object_set_new(det, "name", json_string(name));
	if (group && *group) {
		json_object_set_new(det, "group", json_string(group));
	}
	json_object_set_new(det, "kind", json_string(resource));
	char *qn = kf_goquote(name);
	if (group && *group) {
		kf_status(r, 404, "NotFound", det, "%s.%s %s not found",
		    resource, group, qn);
	} else {
		kf_status(
		    r, 404, "NotFound", det, "%s %s not found", resource, qn);
	}
	free(qn);
}

void
kf_status_badrequest(kf_resp *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	status_v(r, 400, "BadRequest", NULL, fmt, ap);
	va_end(ap);
}

void
kf_status_internal(kf_resp *r, const char *fmt, ...)
{
	char   *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0) {
		msg = NULL;
	}
	va_end(ap);
	json_t *det    = json_object();
	json_t *causes = json_array();
	json_t *c      = json_object();
	json_object_set_new(c, "message", json_string(msg ? msg : ""));
	json_array_append_new(causes, c);
	json_object_set_new(det, "causes", causes);
	kf_status(r, 500, "InternalError", det, "Internal error occurred: %s",
	    msg ? msg : "");
	free(msg);
}
