// status.c: names, messages and the sf_status helpers.
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	const char *str;
} sf_status_table[SF_CODE_COUNT] = {
#define SF_STATUS_ROW(name, num, str) [num] = {#name, str},
    SF_STATUS_MAP(SF_STATUS_ROW)
#undef SF_STATUS_ROW
};

const char *
sf_status_name(int code)
{
	static _Thread_local char buf[32];

	if (code >= 0 && code < SF_CODE_COUNT) {
		return (sf_status_table[code].name);
	}
	snprintf(buf, sizeof(buf), "CODE_%d", code);
	return (buf);
}

const char *
sf_status_str(int code)
{
	if (code >= 0 && code < SF_CODE_COUNT) {
		return (sf_status_table[code].str);
	}
	return ("unknown status code");
}

int
sf_status_from_name(const char *name)
{
	for (int i = 0; i < SF_CODE_COUNT; i++) {
		if (strcasecmp(name, sf_status_table[i].name) == 0) {
			return (i);
		}
	}
	return (-1);
}

void
sf_status_init(sf_status *st)
{
	memset(st, 0, sizeof(*st));
}

void
sf_status_reset(sf_status *st)
{
	for (size_t i = 0; i < st->st_nviol; i++) {
		free(st->st_viol[i].v_field);
		free(st->st_viol[i].v_reason);
	}
	st->st_nviol  = 0;
	st->st_more   = 0;
	st->st_code   = 0;
	st->st_msg[0] = '\0';
}

void
sf_status_fini(sf_status *st)
{
	if (st == NULL) {
		return;
	}
	sf_status_reset(st);
	free(st->st_viol);
	st->st_viol = NULL;
	st->st_cap  = 0;
}

// utf8_cut drops an incomplete UTF-8 sequence that vsnprintf's truncation
// left at the end of s: a message cut inside a character would be invalid
// UTF-8, which protobuf strings and JSON must not carry (the gateway
// would drop the whole message).
static void
utf8_cut(char *s)
{
	size_t n = strlen(s), i = n, need;

	while (
	    i > 0 && ((unsigned char) s[i - 1] & 0xC0) == 0x80 && n - i < 3) {
		i--;
	}
	if (i == 0) {
		return;
	}
	unsigned char lead = (unsigned char) s[i - 1];
	need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	if (lead >= 0x80 && n - (i - 1) < need) {
		s[i - 1] = '\0';
	}
}

static void
one_line(char *s)
{
	utf8_cut(s);
	for (; *s != '\0'; s++) {
		if (*s == '\n' || *s == '\r') {
			*s = ' ';
		}
	}
}

int
sf_status_vset(sf_status *st, int code, const char *fmt, va_list ap)
{
	if (st == NULL || st->st_code != 0 || code == 0) {
		return (code);
	}
	st->st_code = code;
	if (fmt == NULL) {
		snprintf(
		    st->st_msg, sizeof(st->st_msg), "%s", sf_status_str(code));
	} else {
		vsnprintf(st->st_msg, sizeof(st->st_msg), fmt, ap);
	}
	one_line(st->st_msg);
	return (code);
}

int
sf_status_set(sf_status *st, int code, const char *fmt, ...)
{
	va_list ap;
	int     rv;

	va_start(ap, fmt);
	rv = sf_status_vset(st, code, fmt, ap);
	va_end(ap);
	return (rv);
}

int
sf_status_violation(
    sf_status *st, const char *type, const char *field, const char *fmt, ...)
{
	va_list ap;
	char    buf[1024];

	if (st == NULL) {
		return (0);
	}
	if (st->st_nviol >= SF_STATUS_VIOL_MAX) {
		st->st_more++;
		return (0);
	}
	if (st->st_nviol == st->st_cap) {
		size_t        cap = st->st_cap ? st->st_cap * 2 : 8;
		sf_violation *nv  = realloc(st->st_viol, cap * sizeof(*nv));
		if (nv == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		st->st_viol = nv;
		st->st_cap  = cap;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	one_line(buf);

	sf_violation *v = &st->st_viol[st->st_nviol];
	v->v_field      = strdup(field);
	v->v_reason     = strdup(buf);
	v->v_type       = type;
	if (v->v_field == NULL || v->v_reason == NULL) {
		free(v->v_field);
		free(v->v_reason);
		return (SF_RESOURCE_EXHAUSTED);
	}
	st->st_nviol++;
	return (0);
}

bool
sf_status_full(const sf_status *st)
{
	return (st != NULL && st->st_nviol >= SF_STATUS_VIOL_MAX);
}

size_t
sf_status_nviol(const sf_status *st)
{
	return (st != NULL ? st->st_nviol + st->st_more : 0);
}

void
sf_status_move(sf_status *dst, sf_status *src)
{
	sf_status_fini(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

int
sf_status_copy(sf_status *dst, const sf_status *src)
{
	sf_status_reset(dst);
	dst->st_code = src->st_code;
	memcpy(dst->st_msg, src->st_msg, sizeof(dst->st_msg));
	for (size_t i = 0; i < src->st_nviol; i++) {
		int rv = sf_status_violation(dst, src->st_viol[i].v_type,
		    src->st_viol[i].v_field, "%s", src->st_viol[i].v_reason);
		if (rv != 0) {
			return (rv);
		}
	}
	dst->st_more += src->st_more;
	return (0);
}
