// kube_parse.c: reading what an API server answers — error Statuses,
// watch streams and events, list pages, /version, MetalLB pools,
// namespaces and workloads. Pure functions of the bytes; see kube.h.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"
#include "model.h"
#include "str.h"

json_t *
sf_kube_json_parse(const char *body, size_t len)
{
	if (body == NULL) {
		return (NULL);
	}
	return (json_loadb(body, len, 0, NULL));
}

int
sf_kube_code_class(long code)
{
	if (code >= 200 && code < 300) {
		return (SF_KUBE_OK);
	}
	switch (code) {
	case 404:
		return (SF_KUBE_NOT_FOUND);
	case 400:
	case 415:
	case 422:
		return (SF_KUBE_INVALID);
	case 409:
		return (SF_KUBE_CONFLICT);
	case 410:
		return (SF_KUBE_GONE);
	case 429:
		return (SF_KUBE_THROTTLED);
	case 401:
	case 403:
		return (SF_KUBE_UNAUTHORIZED);
	default:
		return (SF_KUBE_SERVER);
	}
}

// utf8_len returns the length of the valid UTF-8 sequence at s (a
// NUL-terminated string), or 0: no overlong forms, surrogates or code
// points above U+10FFFF, as JSON and protobuf strings require.
static size_t
utf8_len(const unsigned char *s)
{
	size_t   n;
	uint32_t cp, min;

	if (s[0] < 0x80) {
		return (1);
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return (0);
	}
	for (size_t i = 1; i < n; i++) {
		// The NUL ends the string before any continuation byte.
		if ((s[i] & 0xc0) != 0x80) {
			return (0);
		}
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return (0);
	}
	return (n);
}

void
sf_kube_one_line(char *msg, size_t cap, const char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t               n = 0, k;

	// What is written goes into logs and, through status reports, into
	// svcfleetd's protobuf strings: control characters become spaces,
	// bytes that are not UTF-8 '?', and no character is cut in two.
	while (*p != '\0' && n + 1 < cap) {
		if ((k = utf8_len(p)) == 0) {
			msg[n++] = '?';
			p++;
		} else if (k == 1) {
			msg[n++] = *p < 0x20 || *p == 0x7f ? ' ' : (char) *p;
			p++;
		} else if (n + k < cap) {
			memcpy(msg + n, p, k);
			n += k;
			p += k;
		} else {
			break;
		}
	}
	while (n > 0 && msg[n - 1] == ' ') {
		n--;
	}
	msg[n] = '\0';
}

void
sf_kube_error_message(
    long code, const char *body, size_t len, char *msg, size_t cap)
{
	msg[0] = '\0';
	if (body == NULL || len == 0) {
		snprintf(msg, cap, "HTTP %ld", code);
		return;
	}
	// Any JSON value: a Status is an object, but a proxy may say
	// anything.
	json_t     *j = json_loadb(body, len, JSON_DECODE_ANY, NULL);
	const char *m = json_string_value(json_object_get(j, "message"));
	if (m != NULL && m[0] != '\0') {
		sf_kube_one_line(msg, cap, m);
	} else {
		char tmp[300];
		snprintf(tmp, sizeof(tmp), "HTTP %ld: %.*s", code,
		    (int) (len < 200 ? len : 200), body);
		sf_kube_one_line(msg, cap, tmp);
	}
	json_decref(j);
}

bool
sf_kube_lines_feed(
    sf_buf *partial, const char *p, size_t n, sf_kube_line_fn fn, void *arg)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t      k  = nl != NULL ? (size_t) (nl - p) : n;
		if (partial->b_len + k > SF_KUBE_LINE_MAX) {
			return (false);
		}
		sf_buf_put(partial, p, k);
		if (nl == NULL) {
			return (true);
		}
		bool go = partial->b_len == 0
		    || fn(arg, partial->b_data, partial->b_len);
		sf_buf_reset(partial);
		if (!go) {
			return (false);
		}
		p += k + 1;
		n -= k + 1;
	}
	return (true);
}

// The resourceVersion in metadata md, NULL when absent or longer than a
// version is kept (SF_KUBE_RV_MAX): a watch resumed from a cut version
// would start somewhere else.
static const char *
rv_of(const json_t *md)
{
	json_t *rv = json_object_get(md, "resourceVersion");
	if (json_string_length(rv) >= SF_KUBE_RV_MAX) {
		return (NULL);
	}
	return (json_string_value(rv));
}

void
sf_kube_meta_read(const json_t *obj, sf_kube_meta *m)
{
	const json_t *md = json_object_get(obj, "metadata");

	m->km_ns     = json_string_value(json_object_get(md, "namespace"));
	m->km_name   = json_string_value(json_object_get(md, "name"));
	m->km_rv     = rv_of(md);
	m->km_rv_num = m->km_rv != NULL ? strtoull(m->km_rv, NULL, 10) : 0;
	// The worker builds request paths from the key, unescaped, and
	// splits it at its first '/': only names a cluster can give are
	// taken (a namespace and a Service name are DNS labels).
	m->km_has_key = m->km_ns != NULL && m->km_name != NULL
	    && sf_model_check_dns1123_label(m->km_ns) == NULL
	    && sf_model_check_dns1123_label(m->km_name) == NULL;
	m->km_key[0] = '\0';
	if (m->km_has_key) {
		snprintf(m->km_key, sizeof(m->km_key), "%s/%s", m->km_ns,
		    m->km_name);
	}
}

static const struct {
	const char *name;
	int         type;
} event_types[] = {
    {"ADDED", SF_KUBE_EV_ADDED},
    {"MODIFIED", SF_KUBE_EV_MODIFIED},
    {"DELETED", SF_KUBE_EV_DELETED},
    {"BOOKMARK", SF_KUBE_EV_BOOKMARK},
    {"ERROR", SF_KUBE_EV_ERROR},
};

int
sf_kube_event_parse(sf_kube_event *ev, const char *line, size_t len)
{
	const char *type;

	memset(ev, 0, sizeof(*ev));
	sf_kube_meta_read(NULL, &ev->ev_meta);
	if ((ev->ev_doc = sf_kube_json_parse(line, len)) == NULL) {
		return (SF_INVALID_ARGUMENT);
	}
	type          = json_string_value(json_object_get(ev->ev_doc, "type"));
	ev->ev_object = json_object_get(ev->ev_doc, "object");
	sf_kube_meta_read(ev->ev_object, &ev->ev_meta);
	if (type == NULL) {
		ev->ev_type = SF_KUBE_EV_NONE;
		return (0);
	}
	ev->ev_type = SF_KUBE_EV_UNKNOWN;
	for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]);
	     i++) {
		if (strcmp(type, event_types[i].name) == 0) {
			ev->ev_type = event_types[i].type;
			break;
		}
	}
	if (ev->ev_type == SF_KUBE_EV_ERROR) {
		ev->ev_code = json_integer_value(
		    json_object_get(ev->ev_object, "code"));
		ev->ev_message = json_string_value(
		    json_object_get(ev->ev_object, "message"));
	}
	return (0);
}

void
sf_kube_event_fini(sf_kube_event *ev)
{
	json_decref(ev->ev_doc);
	ev->ev_doc    = NULL;
	ev->ev_object = NULL;
}

int
sf_kube_list_parse(sf_kube_list *l, const char *body, size_t len)
{
	const json_t *md;

	memset(l, 0, sizeof(*l));
	if ((l->li_doc = sf_kube_json_parse(body, len)) == NULL) {
		return (SF_INVALID_ARGUMENT);
	}
	md          = json_object_get(l->li_doc, "metadata");
	l->li_items = json_object_get(l->li_doc, "items");
	if (!json_is_array(l->li_items) && !json_is_null(l->li_items)) {
		// Not a list (Go writes an empty one as null): reading it as
		// an empty list would say everything is gone.
		sf_kube_list_fini(l);
		return (SF_INVALID_ARGUMENT);
	}
	l->li_continue = json_string_value(json_object_get(md, "continue"));
	l->li_rv       = rv_of(md);
	return (0);
}

void
sf_kube_list_fini(sf_kube_list *l)
{
	json_decref(l->li_doc);
	memset(l, 0, sizeof(*l));
}

int
sf_kube_version_parse(const char *body, size_t len, char *buf, size_t cap)
{
	json_t     *j = sf_kube_json_parse(body, len);
	const char *v = json_string_value(json_object_get(j, "gitVersion"));

	sf_kube_one_line(buf, cap, sf_nz(v));
	json_decref(j);
	return (j != NULL ? 0 : SF_INVALID_ARGUMENT);
}

int
sf_kube_pools_parse(const char *body, size_t len, bool kubefake, json_t **out)
{
	json_t *j, *pools, *items;

	*out = NULL;
	if ((j = sf_kube_json_parse(body, len)) == NULL) {
		return (SF_INVALID_ARGUMENT);
	}
	if ((pools = json_array()) == NULL) {
		json_decref(j);
		return (SF_RESOURCE_EXHAUSTED);
	}
	// MetalLB's IPAddressPools are Kubernetes objects; kubefake's
	// simulation lists plain {name, addresses}.
	items = kubefake ? j : json_object_get(j, "items");
	for (size_t i = 0; i < json_array_size(items); i++) {
		json_t *it = json_array_get(items, i);
		json_t *nm = kubefake
		    ? json_object_get(it, "name")
		    : json_object_get(json_object_get(it, "metadata"), "name");
		json_t *ad = kubefake
		    ? json_object_get(it, "addresses")
		    : json_object_get(
		        json_object_get(it, "spec"), "addresses");
		json_t *addrs;
		if (!json_is_string(nm)) {
			continue;
		}
		// Only what svcfleetd's readers take: strings.
		if ((addrs = json_array()) == NULL) {
			json_decref(pools);
			json_decref(j);
			return (SF_RESOURCE_EXHAUSTED);
		}
		for (size_t k = 0; k < json_array_size(ad); k++) {
			json_t *a = json_array_get(ad, k);
			if (json_is_string(a)) {
				json_array_append(addrs, a);
			}
		}
		json_array_append_new(pools,
		    json_pack("{s:O,s:o}", "name", nm, "addresses", addrs));
	}
	json_decref(j);
	*out = pools;
	return (0);
}

void
sf_kube_strv_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
		free(v[i]);
	}
	free(v);
}

int
sf_kube_namespaces_parse(const char *body, size_t len, char ***names)
{
	sf_kube_list l;
	size_t       n = 0;

	*names = NULL;
	if (sf_kube_list_parse(&l, body, len) != 0) {
		sf_kube_list_fini(&l);
		return (SF_INVALID_ARGUMENT);
	}
	if ((*names = calloc(json_array_size(l.li_items) + 1, sizeof(char *)))
	    == NULL) {
		sf_kube_list_fini(&l);
		return (SF_RESOURCE_EXHAUSTED);
	}
	for (size_t i = 0; i < json_array_size(l.li_items); i++) {
		const char *nm = json_string_value(json_object_get(
		    json_object_get(json_array_get(l.li_items, i), "metadata"),
		    "name"));
		if (nm != NULL && ((*names)[n] = strdup(nm)) != NULL) {
			n++;
		}
	}
	sf_kube_list_fini(&l);
	return (0);
}

int
sf_kube_workloads_parse(
    const char *body, size_t len, const char *kind, json_t *all)
{
	sf_kube_list l;

	if (sf_kube_list_parse(&l, body, len) != 0) {
		sf_kube_list_fini(&l);
		return (SF_INVALID_ARGUMENT);
	}
	for (size_t i = 0; i < json_array_size(l.li_items); i++) {
		json_t *it     = json_array_get(l.li_items, i);
		json_t *md     = json_object_get(it, "metadata");
		json_t *labels = json_object_get(
		    json_object_get(
		        json_object_get(
		            json_object_get(it, "spec"), "template"),
		        "metadata"),
		    "labels");
		json_array_append_new(all,
		    json_pack("{s:O?,s:s,s:o}", "name",
		        json_object_get(md, "name"), "kind", kind, "labels",
		        json_is_object(labels) ? json_copy(labels)
		                               : json_object()));
	}
	sf_kube_list_fini(&l);
	return (0);
}
