// yaml.c: YAML text <-> jansson values.
//
// Loading uses libyaml's event parser and builds json_t values the way
// Kubernetes' YAML decoder (sigs.k8s.io/yaml over YAML 1.1) types plain
// scalars, and records where each field sits: a map from JSON pointer
// ("/spec/ports/1/port") to the line of its key (or of its sequence item),
// so violations can name a line. Emitting writes block style with keys in
// object order and quotes a string only when it would otherwise read back
// as something else.
//
// It is one file of about 950 lines because loading and emitting share
// the one scalar-typing table (what a plain scalar reads back as): the
// emitter quotes exactly what the loader would otherwise misread, and the
// two halves are kept beside the rules they both follow.
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "internal.h"

#define MAX_DEPTH 256
// Alias expansion cap: a "billion laughs" document shares nodes (so memory
// stays small) but anything walking it would not finish.
#define MAX_ALIAS_NODES 1000000

// ------------------------------------------------------------ resolution

static bool
eq_any(const char *s, size_t n, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++) {
		if (strlen(list[i]) == n && memcmp(s, list[i], n) == 0) {
			return (true);
		}
	}
	return (false);
}

static const char *const nulls[]  = {"~", "null", "Null", "NULL", NULL};
static const char *const trues[]  = {"y", "Y", "yes", "Yes", "YES", "true",
     "True", "TRUE", "on", "On", "ON", NULL};
static const char *const falses[] = {"n", "N", "no", "No", "NO", "false",
    "False", "FALSE", "off", "Off", "OFF", NULL};
static const char *const specials[]
    = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
        "-.INF", ".nan", ".NaN", ".NAN", "<<", "=", NULL};

// digits_ok: s[0..n) is non-empty and every char is a digit of base (or
// '_'), with at least one digit.
static bool
digits_ok(const char *s, size_t n, int base)
{
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char) s[i], d;
		if (c == '_') {
			continue;
		}
		if (isdigit(c)) {
			d = c - '0';
		} else if (isxdigit(c)) {
			d = 10 + (tolower(c) - 'a');
		} else {
			return (false);
		}
		if (d >= base) {
			return (false);
		}
		any = true;
	}
	return (any);
}

// parse_int: YAML 1.1 integers as go-yaml reads them. Returns 1 for an
// int64 in *v, 2 for a value too large (as a double in *d), 0 otherwise.
static int
parse_int(const char *s, size_t n, long long *v, double *d)
{
	bool               neg  = false;
	int                base = 10;
	unsigned long long acc  = 0;
	bool               over = false;
	double             dacc = 0;

	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		s++;
		n--;
	}
	if (n == 0) {
		return (0);
	}
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		n -= 2;
	} else if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
		base = 8;
		s += 2;
		n -= 2;
	} else if (n > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
		base = 2;
		s += 2;
		n -= 2;
	} else if (n > 1 && s[0] == '0') {
		base = 8;
	}
	if (!digits_ok(s, n, base)) {
		return (0);
	}
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char) s[i];
		if (c == '_') {
			continue;
		}
		int dig = isdigit(c) ? c - '0' : 10 + (tolower(c) - 'a');
		if (acc > (ULLONG_MAX - (unsigned) dig) / (unsigned) base) {
			over = true;
		}
		acc  = acc * (unsigned) base + (unsigned) dig;
		dacc = dacc * base + dig;
	}
	if (over || acc > (unsigned long long) LLONG_MAX + (neg ? 1u : 0u)) {
		*d = neg ? -dacc : dacc;
		return (2);
	}
	*v = neg ? (long long) (0 - acc) : (long long) acc;
	return (1);
}

// parse_float: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ after
// removing underscores, as go-yaml v2 does.
static bool
parse_float(const char *s, size_t n, double *v)
{
	char   buf[128];
	size_t m = 0, i = 0;

	for (size_t k = 0; k < n; k++) {
		if (s[k] != '_') {
			if (m + 1 >= sizeof(buf)) {
				return (false);
			}
			buf[m++] = s[k];
		}
	}
	buf[m] = '\0';
	if (i < m && (buf[i] == '+' || buf[i] == '-')) {
		i++;
	}
	size_t ip = 0, fp = 0;
	while (i < m && isdigit((unsigned char) buf[i])) {
		i++;
		ip++;
	}
	if (i < m && buf[i] == '.') {
		i++;
		while (i < m && isdigit((unsigned char) buf[i])) {
			i++;
			fp++;
		}
		if (ip == 0 && fp == 0) {
			return (false);
		}
	} else if (ip == 0) {
		return (false);
	}
	if (i < m && (buf[i] == 'e' || buf[i] == 'E')) {
		size_t ep = 0;
		i++;
		if (i < m && (buf[i] == '+' || buf[i] == '-')) {
			i++;
		}
		while (i < m && isdigit((unsigned char) buf[i])) {
			i++;
			ep++;
		}
		if (ep == 0) {
			return (false);
		}
	}
	if (i != m) {
		return (false);
	}
	errno = 0;
	*v    = strtod(buf, NULL);
	return (isfinite(*v));
}

json_t *
sf__model_yaml_resolve_plain(const char *s, size_t n)
{
	long long iv;
	double    dv;
	int       r;

	if (n == 0 || eq_any(s, n, nulls)) {
		return (json_null());
	}
	if (eq_any(s, n, trues)) {
		return (json_true());
	}
	if (eq_any(s, n, falses)) {
		return (json_false());
	}
	if (isdigit((unsigned char) s[0]) || s[0] == '+' || s[0] == '-'
	    || s[0] == '.') {
		double fv;
		if ((r = parse_int(s, n, &iv, &dv)) == 1) {
			return (json_integer(iv));
		}
		// Decimal integers too large for int64 read best as floats.
		if (parse_float(s, n, &fv)) {
			return (json_real(fv));
		}
		if (r == 2) {
			return (json_real(dv));
		}
	}
	return (json_stringn(s, n));
}

// looks_like_time: YAML 1.1 timestamps (2001-12-14...) and sexagesimal
// numbers (1:20), which other YAML readers may not keep as strings.
static bool
looks_like_time(const char *s)
{
	size_t i = 0;

	if (isdigit((unsigned char) s[0]) && isdigit((unsigned char) s[1])
	    && isdigit((unsigned char) s[2]) && isdigit((unsigned char) s[3])
	    && s[4] == '-' && isdigit((unsigned char) s[5])) {
		return (true);
	}
	if (s[i] == '+' || s[i] == '-') {
		i++;
	}
	if (!isdigit((unsigned char) s[i])) {
		return (false);
	}
	bool colon = false;
	for (; s[i] != '\0'; i++) {
		if (s[i] == ':') {
			colon = true;
		} else if (!isdigit((unsigned char) s[i]) && s[i] != '_'
		    && s[i] != '.') {
			return (false);
		}
	}
	return (colon);
}

bool
sf__model_yaml_needs_quotes(const char *s)
{
	size_t  n = strlen(s);
	json_t *v;
	bool    str;

	if (n == 0 || eq_any(s, n, specials) || looks_like_time(s)) {
		return (true);
	}
	v   = sf__model_yaml_resolve_plain(s, n);
	str = v != NULL && json_is_string(v);
	json_decref(v);
	return (!str);
}

// ---------------------------------------------------------------- loader

typedef struct anchor {
	char   *an_name;
	json_t *an_val;
	size_t  an_nodes;
} anchor;

typedef struct loader {
	yaml_parser_t    l_p;
	const char      *l_file;
	sf_status       *l_st;
	int              l_doc;   // current document index
	json_t          *l_lines; // current document's line map
	sf_buf           l_ptr;   // JSON pointer of the node being loaded
	anchor          *l_anchors;
	size_t           l_nanchors;
	size_t           l_expanded;
	sf_manifest_set *l_out;
} loader;

static int fail_at(loader *L, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail_at(loader *L, const yaml_mark_t *m, const char *fmt, ...)
{
	char    msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return (sf_status_set(L->l_st, SF_INVALID_ARGUMENT,
	    "%s: document %d: line %zu, column %zu: %s", L->l_file,
	    L->l_doc < 0 ? 0 : L->l_doc, m->line + 1, m->column + 1, msg));
}

static int
next_event(loader *L, yaml_event_t *ev)
{
	const yaml_parser_t *p = &L->l_p;

	if (yaml_parser_parse(&L->l_p, ev)) {
		return (0);
	}
	if (p->error == YAML_MEMORY_ERROR) {
		return (sf_status_set(L->l_st, SF_RESOURCE_EXHAUSTED,
		    "%s: out of memory reading YAML", L->l_file));
	}
	if (p->context != NULL) {
		return (fail_at(L, &p->problem_mark,
		    "%s (%s at line %zu, "
		    "column %zu)",
		    p->problem != NULL ? p->problem : "syntax error",
		    p->context, p->context_mark.line + 1,
		    p->context_mark.column + 1));
	}
	return (fail_at(L, &p->problem_mark, "%s",
	    p->problem != NULL ? p->problem : "syntax error"));
}

static int
record_line(loader *L, size_t line)
{
	json_t *v = json_integer((json_int_t) line + 1);

	if (v == NULL
	    || json_object_set_new(L->l_lines, sf_buf_cstr(&L->l_ptr), v) != 0
	    || L->l_ptr.b_oom) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	return (0);
}

static int
add_anchor(loader *L, const char *name, json_t *val, size_t nodes)
{
	anchor *na;

	na = realloc(L->l_anchors, (L->l_nanchors + 1) * sizeof(*na));
	if (na == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	L->l_anchors = na;
	na           = &L->l_anchors[L->l_nanchors];
	if ((na->an_name = strdup(name)) == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	na->an_val   = json_incref(val);
	na->an_nodes = nodes;
	L->l_nanchors++;
	return (0);
}

static void
anchors_clear(loader *L)
{
	for (size_t i = 0; i < L->l_nanchors; i++) {
		free(L->l_anchors[i].an_name);
		json_decref(L->l_anchors[i].an_val);
	}
	free(L->l_anchors);
	L->l_anchors  = NULL;
	L->l_nanchors = 0;
	L->l_expanded = 0;
}

static json_t *
scalar_value(const yaml_event_t *ev)
{
	const char *s   = (const char *) ev->data.scalar.value;
	size_t      n   = ev->data.scalar.length;
	const char *tag = (const char *) ev->data.scalar.tag;

	if (tag != NULL && strcmp(tag, YAML_STR_TAG) == 0) {
		return (json_stringn(s, n));
	}
	if (tag != NULL && strcmp(tag, "!") == 0) {
		return (json_stringn(s, n));
	}
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
	    || (tag != NULL && strncmp(tag, "tag:yaml.org,2002:", 18) == 0)) {
		return (sf__model_yaml_resolve_plain(s, n));
	}
	return (json_stringn(s, n));
}

static int load_node(
    loader *L, yaml_event_t *ev, int depth, json_t **out, size_t *nodes);

static int
load_sequence(loader *L, json_t *arr, int depth, size_t *nodes)
{
	yaml_event_t ev;
	size_t       base = L->l_ptr.b_len, idx = 0;
	int          rv;

	for (;;) {
		json_t *child;
		size_t  cn = 0;
		if ((rv = next_event(L, &ev)) != 0) {
			return (rv);
		}
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return (0);
		}
		sf_buf_printf(&L->l_ptr, "/%zu", idx++);
		if ((rv = record_line(L, ev.start_mark.line)) != 0) {
			yaml_event_delete(&ev);
			return (rv);
		}
		rv             = load_node(L, &ev, depth + 1, &child, &cn);
		L->l_ptr.b_len = base;
		if (L->l_ptr.b_data != NULL) {
			L->l_ptr.b_data[base] = '\0';
		}
		if (rv != 0) {
			return (rv);
		}
		*nodes += cn;
		if (json_array_append_new(arr, child) != 0) {
			return (SF_RESOURCE_EXHAUSTED);
		}
	}
}

// merge applies a "<<" value (a mapping or a sequence of mappings) to obj:
// keys already present win.
static int
merge(loader *L, json_t *obj, json_t *src, const yaml_mark_t *m)
{
	const char *k;
	json_t     *v;

	if (json_is_array(src)) {
		size_t i;
		json_array_foreach(src, i, v)
		{
			int rv = merge(L, obj, v, m);
			if (rv != 0) {
				return (rv);
			}
		}
		return (0);
	}
	if (!json_is_object(src)) {
		return (fail_at(L, m,
		    "a merge key (<<) needs a mapping or a list of mappings"));
	}
	json_object_foreach(src, k, v)
	{
		if (json_object_get(obj, k) == NULL
		    && json_object_set(obj, k, v) != 0) {
			return (SF_RESOURCE_EXHAUSTED);
		}
	}
	return (0);
}

static int
load_mapping(loader *L, json_t *obj, int depth, size_t *nodes)
{
	yaml_event_t kev, vev;
	size_t       base   = L->l_ptr.b_len;
	json_t      *merges = NULL;
	yaml_mark_t  mmark  = {0, 0, 0};
	int          rv;

	for (;;) {
		json_t *child;
		size_t  cn = 0;
		char   *key;
		bool    is_merge;

		if ((rv = next_event(L, &kev)) != 0) {
			goto out;
		}
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			break;
		}
		if (kev.type != YAML_SCALAR_EVENT) {
			rv = fail_at(L, &kev.start_mark,
			    "a mapping key must be a plain string");
			yaml_event_delete(&kev);
			goto out;
		}
		if (memchr(kev.data.scalar.value, '\0', kev.data.scalar.length)
		    != NULL) {
			rv = fail_at(L, &kev.start_mark,
			    "a mapping key may not contain a NUL character");
			yaml_event_delete(&kev);
			goto out;
		}
		key      = strndup((const char *) kev.data.scalar.value,
		         kev.data.scalar.length);
		is_merge = kev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE
		    && key != NULL && strcmp(key, "<<") == 0;
		yaml_mark_t kmark = kev.start_mark;
		yaml_event_delete(&kev);
		if (key == NULL) {
			rv = SF_RESOURCE_EXHAUSTED;
			goto out;
		}
		if ((rv = next_event(L, &vev)) != 0) {
			free(key);
			goto out;
		}
		if (is_merge) {
			free(key);
			// Merged content has no line of its own here.
			sf_buf_puts(&L->l_ptr, "/<<");
			rv = load_node(L, &vev, depth + 1, &child, &cn);
			L->l_ptr.b_len = base;
			if (L->l_ptr.b_data != NULL) {
				L->l_ptr.b_data[base] = '\0';
			}
			if (rv != 0) {
				goto out;
			}
			if (merges == NULL
			    && (merges = json_array()) == NULL) {
				json_decref(child);
				rv = SF_RESOURCE_EXHAUSTED;
				goto out;
			}
			mmark = kmark;
			json_array_append_new(merges, child);
			*nodes += cn;
			continue;
		}
		if (json_object_get(obj, key) != NULL) {
			json_t *prev;
			sf__model_ptr_push(&L->l_ptr, key);
			prev = json_object_get(
			    L->l_lines, sf_buf_cstr(&L->l_ptr));
			rv = fail_at(L, &kmark,
			    "mapping key \"%s\" already defined at line %d",
			    key,
			    prev != NULL ? (int) json_integer_value(prev) : 0);
			free(key);
			yaml_event_delete(&vev);
			goto out;
		}
		sf__model_ptr_push(&L->l_ptr, key);
		if ((rv = record_line(L, kmark.line)) != 0) {
			free(key);
			yaml_event_delete(&vev);
			goto out;
		}
		rv             = load_node(L, &vev, depth + 1, &child, &cn);
		L->l_ptr.b_len = base;
		if (L->l_ptr.b_data != NULL) {
			L->l_ptr.b_data[base] = '\0';
		}
		if (rv != 0) {
			free(key);
			goto out;
		}
		*nodes += cn;
		rv = json_object_set_new(obj, key, child) != 0
		    ? SF_RESOURCE_EXHAUSTED
		    : 0;
		free(key);
		if (rv != 0) {
			goto out;
		}
	}
	// Merged keys never override explicit ones, wherever "<<" stood.
	if (merges != NULL) {
		json_t *m;
		size_t  i;
		json_array_foreach(merges, i, m)
		{
			if ((rv = merge(L, obj, m, &mmark)) != 0) {
				goto out;
			}
		}
	}
	rv = 0;
out:
	json_decref(merges);
	return (rv);
}

// load_node builds the node starting with *ev (consumed) into *out and
// counts its nodes (aliases count what they expand to).
static int
load_node(loader *L, yaml_event_t *ev, int depth, json_t **out, size_t *nodes)
{
	char       *anchor_name = NULL;
	yaml_mark_t mark        = ev->start_mark;
	json_t     *v           = NULL;
	int         rv          = 0;

	*out   = NULL;
	*nodes = 1;
	if (depth > MAX_DEPTH) {
		yaml_event_delete(ev);
		return (fail_at(
		    L, &mark, "nested more than %d levels deep", MAX_DEPTH));
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor != NULL) {
			anchor_name = strdup((char *) ev->data.scalar.anchor);
		}
		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)
		    != NULL) {
			rv = fail_at(L, &mark,
			    "a string may not contain a NUL character");
			break;
		}
		if ((v = scalar_value(ev)) == NULL) {
			rv = SF_RESOURCE_EXHAUSTED;
		}
		break;
	case YAML_SEQUENCE_START_EVENT:
		if (ev->data.sequence_start.anchor != NULL) {
			anchor_name
			    = strdup((char *) ev->data.sequence_start.anchor);
		}
		yaml_event_delete(ev);
		if ((v = json_array()) == NULL) {
			rv = SF_RESOURCE_EXHAUSTED;
		} else {
			rv = load_sequence(L, v, depth, nodes);
		}
		goto done;
	case YAML_MAPPING_START_EVENT:
		if (ev->data.mapping_start.anchor != NULL) {
			anchor_name
			    = strdup((char *) ev->data.mapping_start.anchor);
		}
		yaml_event_delete(ev);
		if ((v = json_object()) == NULL) {
			rv = SF_RESOURCE_EXHAUSTED;
		} else {
			rv = load_mapping(L, v, depth, nodes);
		}
		goto done;
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *) ev->data.alias.anchor;
		for (size_t i = L->l_nanchors; i > 0; i--) {
			if (strcmp(L->l_anchors[i - 1].an_name, name) == 0) {
				v = json_incref(L->l_anchors[i - 1].an_val);
				*nodes = L->l_anchors[i - 1].an_nodes;
				break;
			}
		}
		if (v == NULL) {
			rv = fail_at(L, &mark, "unknown anchor \"%s\"", name);
		} else if ((L->l_expanded += *nodes) > MAX_ALIAS_NODES) {
			rv = fail_at(L, &mark,
			    "aliases expand to more than %d nodes",
			    MAX_ALIAS_NODES);
		}
		break;
	}
	default:
		rv = fail_at(L, &mark, "unexpected YAML event");
		break;
	}
	yaml_event_delete(ev);
done:
	if (*nodes > MAX_ALIAS_NODES) {
		*nodes = MAX_ALIAS_NODES + 1;
	}
	if (rv == 0 && anchor_name != NULL) {
		rv = add_anchor(L, anchor_name, v, *nodes);
	}
	free(anchor_name);
	if (rv != 0) {
		json_decref(v);
		return (rv);
	}
	*out = v;
	return (0);
}

static int
add_doc(sf_manifest_set *set, json_t *obj, int index, int line, json_t *lines)
{
	sf_manifest_doc *nd;

	nd = realloc(set->ms_docs, (set->ms_ndocs + 1) * sizeof(*nd));
	if (nd == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	set->ms_docs = nd;
	nd           = &set->ms_docs[set->ms_ndocs++];
	nd->md_obj   = obj;
	nd->md_index = index;
	nd->md_line  = line;
	nd->md_item  = -1;
	nd->md_lines = lines;
	return (0);
}

static int
load_stream(loader *L)
{
	yaml_event_t ev;
	int          rv;

	if ((rv = next_event(L, &ev)) != 0) {
		return (rv);
	}
	yaml_event_delete(&ev); // STREAM-START
	for (;;) {
		json_t *root;
		size_t  nodes = 0;
		int     line;

		if ((rv = next_event(L, &ev)) != 0) {
			return (rv);
		}
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			return (0);
		}
		// DOCUMENT-START
		L->l_doc++;
		line = (int) ev.start_mark.line + 1;
		yaml_event_delete(&ev);
		if ((L->l_lines = json_object()) == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		sf_buf_reset(&L->l_ptr);
		sf_buf_puts(&L->l_ptr, "");
		if ((rv = next_event(L, &ev)) != 0) {
			return (rv);
		}
		if (ev.type != YAML_SCALAR_EVENT
		    || ev.data.scalar.length > 0) {
			// An empty document's line is its "---".
			line = (int) ev.start_mark.line + 1;
		}
		if ((rv = record_line(L, ev.start_mark.line)) != 0) {
			yaml_event_delete(&ev);
			return (rv);
		}
		if ((rv = load_node(L, &ev, 0, &root, &nodes)) != 0) {
			return (rv);
		}
		anchors_clear(L);
		if ((rv = next_event(L, &ev)) != 0) {
			json_decref(root);
			return (rv);
		}
		yaml_event_delete(&ev); // DOCUMENT-END
		if (json_is_null(root)) {
			json_decref(root);
			json_decref(L->l_lines);
			L->l_lines = NULL;
			continue;
		}
		if ((rv = add_doc(L->l_out, root, L->l_doc, line, L->l_lines))
		    != 0) {
			json_decref(root);
			return (rv);
		}
		L->l_lines = NULL;
	}
}

int
sf__model_yaml_load(const char *text, size_t len, const char *filename,
    sf_manifest_set *out, sf_status *st)
{
	loader L;
	int    rv;

	memset(&L, 0, sizeof(L));
	L.l_file = filename != NULL ? filename : "<input>";
	L.l_st   = st;
	L.l_doc  = -1;
	L.l_out  = out;
	sf_buf_init(&L.l_ptr);
	if (!yaml_parser_initialize(&L.l_p)) {
		return (
		    sf_status_set(st, SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	yaml_parser_set_input_string(
	    &L.l_p, (const unsigned char *) text, len);
	rv = load_stream(&L);
	if (rv == SF_RESOURCE_EXHAUSTED) {
		sf_status_set(
		    st, rv, "%s: out of memory reading YAML", L.l_file);
	}
	anchors_clear(&L);
	json_decref(L.l_lines);
	sf_buf_fini(&L.l_ptr);
	yaml_parser_delete(&L.l_p);
	return (rv);
}

json_t *
sf__model_yaml_lines(const char *text, size_t len)
{
	sf_manifest_set set   = {NULL, 0};
	json_t         *lines = NULL;

	if (sf__model_yaml_load(text, len, NULL, &set, NULL) == 0
	    && set.ms_ndocs == 1) {
		lines                   = set.ms_docs[0].md_lines;
		set.ms_docs[0].md_lines = NULL;
	}
	sf_manifest_set_fini(&set);
	return (lines);
}

// --------------------------------------------------------------- emitter

static int
write_cb(void *data, unsigned char *buffer, size_t size)
{
	return (sf_buf_put(data, buffer, size) == 0);
}

static int
emit_scalar(
    yaml_emitter_t *e, const char *s, size_t n, yaml_scalar_style_t style)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(
	        &ev, NULL, NULL, (yaml_char_t *) s, (int) n, 1, 1, style)) {
		return (-1);
	}
	return (yaml_emitter_emit(e, &ev) ? 0 : -1);
}

static int
emit_string(yaml_emitter_t *e, const char *s, size_t n)
{
	yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;

	if (memchr(s, '\n', n) != NULL) {
		style = YAML_LITERAL_SCALAR_STYLE;
	} else if (strlen(s) != n || sf__model_yaml_needs_quotes(s)) {
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	}
	return (emit_scalar(e, s, n, style));
}

static int
emit_node(yaml_emitter_t *e, const json_t *v, int depth)
{
	yaml_event_t ev;
	char         num[64];
	const char  *k;
	json_t      *c;
	size_t       i;

	if (depth > 1000) {
		return (-1);
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (!yaml_mapping_start_event_initialize(
		        &ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE)
		    || !yaml_emitter_emit(e, &ev)) {
			return (-1);
		}
		json_object_foreach((json_t *) v, k, c)
		{
			if (emit_string(e, k, strlen(k)) != 0
			    || emit_node(e, c, depth + 1) != 0) {
				return (-1);
			}
		}
		if (!yaml_mapping_end_event_initialize(&ev)
		    || !yaml_emitter_emit(e, &ev)) {
			return (-1);
		}
		return (0);
	case JSON_ARRAY:
		if (!yaml_sequence_start_event_initialize(
		        &ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE)
		    || !yaml_emitter_emit(e, &ev)) {
			return (-1);
		}
		json_array_foreach((json_t *) v, i, c)
		{
			if (emit_node(e, c, depth + 1) != 0) {
				return (-1);
			}
		}
		if (!yaml_sequence_end_event_initialize(&ev)
		    || !yaml_emitter_emit(e, &ev)) {
			return (-1);
		}
		return (0);
	case JSON_STRING:
		return (emit_string(
		    e, json_string_value(v), json_string_length(v)));
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return (
		    emit_scalar(e, num, strlen(num), YAML_PLAIN_SCALAR_STYLE));
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		if (strpbrk(num, ".eEn") == NULL) {
			strcat(num, ".0");
		}
		return (
		    emit_scalar(e, num, strlen(num), YAML_PLAIN_SCALAR_STYLE));
	case JSON_TRUE:
		return (emit_scalar(e, "true", 4, YAML_PLAIN_SCALAR_STYLE));
	case JSON_FALSE:
		return (emit_scalar(e, "false", 5, YAML_PLAIN_SCALAR_STYLE));
	case JSON_NULL:
	default:
		return (emit_scalar(e, "null", 4, YAML_PLAIN_SCALAR_STYLE));
	}
}

int
sf_model_json_to_yaml(const json_t *obj, sf_buf *out)
{
	yaml_emitter_t e;
	yaml_event_t   ev;
	size_t         start = out->b_len;
	int            ok;

	if (!yaml_emitter_initialize(&e)) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	yaml_emitter_set_output(&e, write_cb, out);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_width(&e, -1);
	yaml_emitter_set_indent(&e, 2);
	// The first document of a buffer starts implicitly; later ones get
	// "---", so appending several makes one valid stream.
	ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING)
	    && yaml_emitter_emit(&e, &ev)
	    && yaml_document_start_event_initialize(
	        &ev, NULL, NULL, NULL, start == 0)
	    && yaml_emitter_emit(&e, &ev) && emit_node(&e, obj, 0) == 0
	    && yaml_document_end_event_initialize(&ev, 1)
	    && yaml_emitter_emit(&e, &ev)
	    && yaml_stream_end_event_initialize(&ev)
	    && yaml_emitter_emit(&e, &ev) && yaml_emitter_flush(&e);
	yaml_emitter_delete(&e);
	if (!ok || out->b_oom) {
		out->b_len = start;
		if (out->b_data != NULL) {
			out->b_data[start] = '\0';
		}
		return (out->b_oom ? SF_RESOURCE_EXHAUSTED : SF_INTERNAL);
	}
	return (0);
}
