// manifest.c: manifest streams. YAML (multi-document) or JSON (one or more
// concatenated values, read strictly: no duplicate keys); Kubernetes Lists
// expand into their items; each document keeps its index, its line and a map
// of where its fields are.
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void
sf__model_doc_fini(sf_manifest_doc *d)
{
	json_decref(d->md_obj);
	json_decref(d->md_lines);
	d->md_obj   = NULL;
	d->md_lines = NULL;
}

void
sf_manifest_set_fini(sf_manifest_set *set)
{
	if (set == NULL) {
		return;
	}
	for (size_t i = 0; i < set->ms_ndocs; i++) {
		sf__model_doc_fini(&set->ms_docs[i]);
	}
	free(set->ms_docs);
	set->ms_docs  = NULL;
	set->ms_ndocs = 0;
}

static int
push_doc(sf_manifest_set *set, const sf_manifest_doc *d)
{
	sf_manifest_doc *nd;

	nd = realloc(set->ms_docs, (set->ms_ndocs + 1) * sizeof(*nd));
	if (nd == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	set->ms_docs                  = nd;
	set->ms_docs[set->ms_ndocs++] = *d;
	return (0);
}

// line_col advances (*line, *col) from byte offset from to offset to.
static void
line_col(const char *text, size_t from, size_t to, int *line, int *col)
{
	for (size_t i = from; i < to; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static size_t
skip_ws(const char *text, size_t len, size_t off)
{
	while (off < len && isspace((unsigned char) text[off])) {
		off++;
	}
	return (off);
}

static int
parse_json(const char *text, size_t len, size_t off, const char *file,
    sf_manifest_set *out, sf_status *st)
{
	int    index = 0, line = 1, col = 1;
	size_t at = 0; // where line and col were last computed

	for (;;) {
		json_error_t err;
		json_t      *v;

		off = skip_ws(text, len, off);
		if (off >= len) {
			break;
		}
		line_col(text, at, off, &line, &col);
		at = off;
		v  = json_loadb(text + off, len - off,
		     JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &err);
		if (v == NULL) {
			int el = line + err.line - 1;
			int ec = err.line <= 1 ? col + err.column - 1
			                       : err.column;
			return (sf_status_set(st, SF_INVALID_ARGUMENT,
			    "%s: document %d: line %d, column %d: %s", file,
			    index, el, ec < 1 ? 1 : ec, err.text));
		}
		sf_manifest_doc d = {v, index, line, -1, NULL};
		if (push_doc(out, &d) != 0) {
			json_decref(v);
			return (sf_status_set(
			    st, SF_RESOURCE_EXHAUSTED, "out of memory"));
		}
		off += (size_t) err.position;
		index++;
	}
	if (out->ms_ndocs == 1) {
		// Positions inside a single JSON document come from reading it
		// once more as YAML (JSON is YAML in all that matters here);
		// when that fails, lines stay unknown.
		out->ms_docs[0].md_lines = sf__model_yaml_lines(text, len);
	}
	return (0);
}

// split_lines distributes a List's line map over its items.
static json_t **
split_lines(const json_t *lines, size_t nitems)
{
	json_t    **maps = calloc(nitems > 0 ? nitems : 1, sizeof(*maps));
	const char *k;
	json_t     *v;

	if (maps == NULL || lines == NULL) {
		return (maps);
	}
	json_object_foreach((json_t *) lines, k, v)
	{
		char  *end;
		size_t n;
		if (strncmp(k, "/items/", 7) != 0
		    || !isdigit((unsigned char) k[7])) {
			continue;
		}
		n = strtoul(k + 7, &end, 10);
		if (n >= nitems || (*end != '\0' && *end != '/')) {
			continue;
		}
		if (maps[n] == NULL && (maps[n] = json_object()) == NULL) {
			continue;
		}
		json_object_set(maps[n], end, v);
	}
	return (maps);
}

static int
not_object(const char *file, const sf_manifest_doc *d, int line,
    const json_t *v, sf_status *st)
{
	return (sf_status_set(st, SF_INVALID_ARGUMENT,
	    "%s: document %d: line %d, column 1: expected a Kubernetes object "
	    "(a mapping), got %s",
	    file, d->md_index, line, sf__model_json_type_name(v)));
}

static int
item_line(const json_t *lines, size_t i, int fallback)
{
	char    key[48];
	json_t *l;

	snprintf(key, sizeof(key), "/items/%zu", i);
	l = lines != NULL ? json_object_get(lines, key) : NULL;
	return (l != NULL ? (int) json_integer_value(l) : fallback);
}

// expand turns each List document into its items and checks that every
// document is an object. It consumes in.
static int
expand(
    sf_manifest_set *in, const char *file, sf_manifest_set *out, sf_status *st)
{
	int rv = 0;

	for (size_t i = 0; i < in->ms_ndocs && rv == 0; i++) {
		sf_manifest_doc *d = &in->ms_docs[i];
		const char      *kind;
		json_t          *items;

		if (!json_is_object(d->md_obj)) {
			rv = not_object(file, d, d->md_line, d->md_obj, st);
			break;
		}
		kind  = json_string_value(json_object_get(d->md_obj, "kind"));
		items = json_object_get(d->md_obj, "items");
		if (kind == NULL || strlen(kind) < 4
		    || strcmp(kind + strlen(kind) - 4, "List") != 0
		    || (items != NULL && !json_is_array(items)
		        && !json_is_null(items))) {
			rv = push_doc(out, d);
			if (rv == 0) {
				d->md_obj   = NULL;
				d->md_lines = NULL;
			}
			continue;
		}
		size_t   n = json_is_array(items) ? json_array_size(items) : 0;
		json_t **maps = split_lines(d->md_lines, n);
		if (maps == NULL) {
			rv = SF_RESOURCE_EXHAUSTED;
			break;
		}
		for (size_t j = 0; j < n; j++) {
			json_t *it   = json_array_get(items, j);
			int     line = item_line(d->md_lines, j, d->md_line);
			if (rv != 0) {
				json_decref(maps[j]);
				continue;
			}
			if (!json_is_object(it)) {
				rv = not_object(file, d, line, it, st);
				json_decref(maps[j]);
				continue;
			}
			sf_manifest_doc nd = {json_incref(it), d->md_index,
			    line, (int) j, maps[j]};
			if ((rv = push_doc(out, &nd)) != 0) {
				sf__model_doc_fini(&nd);
			}
		}
		free(maps);
	}
	if (rv == SF_RESOURCE_EXHAUSTED) {
		sf_status_set(st, rv, "out of memory");
	}
	sf_manifest_set_fini(in);
	return (rv);
}

int
sf_manifest_parse(const char *text, size_t len, const char *filename,
    sf_manifest_set *out, sf_status *st)
{
	sf_manifest_set raw  = {NULL, 0};
	const char     *file = filename != NULL ? filename : "<input>";
	size_t          off  = 0;
	int             rv;

	out->ms_docs  = NULL;
	out->ms_ndocs = 0;
	if (text == NULL) {
		text = "";
		len  = 0;
	}
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		off = 3;
	}
	off = skip_ws(text, len, off);
	// Like kubectl: input that starts as JSON is read as JSON (strictly),
	// anything else as YAML.
	if (off < len && (text[off] == '{' || text[off] == '[')) {
		rv = parse_json(text, len, off, file, &raw, st);
	} else {
		rv = sf__model_yaml_load(text, len, file, &raw, st);
	}
	if (rv != 0) {
		sf_manifest_set_fini(&raw);
		return (rv);
	}
	if ((rv = expand(&raw, file, out, st)) != 0) {
		sf_manifest_set_fini(out);
	}
	return (rv);
}

// ------------------------------------------------------------ line lookup

#define MAX_SEGS 16

// split_path turns "spec.ports[1].port" or "metadata.annotations[a.b/c]"
// into segments; returns the count or -1.
static int
split_path(const char *path, char *buf, size_t cap, char **segs)
{
	size_t len = strlen(path), o = 0;
	int    n = 0;

	if (len + 1 > cap) {
		return (-1);
	}
	for (size_t i = 0; i < len;) {
		size_t e;
		if (n == MAX_SEGS) {
			return (-1);
		}
		if (path[i] == '.') {
			i++;
			continue;
		}
		if (path[i] == '[') {
			const char *close = strchr(path + i, ']');
			if (close == NULL) {
				return (-1);
			}
			e = (size_t) (close - path);
			memcpy(buf + o, path + i + 1, e - i - 1);
			segs[n++] = buf + o;
			o += e - i - 1;
			buf[o++] = '\0';
			i        = e + 1;
			continue;
		}
		e = i;
		while (e < len && path[e] != '.' && path[e] != '[') {
			e++;
		}
		memcpy(buf + o, path + i, e - i);
		segs[n++] = buf + o;
		o += e - i;
		buf[o++] = '\0';
		i        = e;
	}
	return (n);
}

// deepest returns the line of the longest present prefix of segs, and its
// length in *depth; 0 when nothing matched.
static int
deepest(const json_t *lines, char **segs, int n, int *depth)
{
	for (int k = n; k >= 1; k--) {
		sf_buf  b = SF_BUF_INIT;
		json_t *l;
		for (int i = 0; i < k; i++) {
			sf__model_ptr_push(&b, segs[i]);
		}
		l = json_object_get(lines, sf_buf_cstr(&b));
		sf_buf_fini(&b);
		if (l != NULL) {
			*depth = k;
			return ((int) json_integer_value(l));
		}
	}
	*depth = 0;
	return (0);
}

int
sf_manifest_line_of(const sf_manifest_doc *doc, const char *field)
{
	static const struct {
		const char *from, *to;
	} alt_keys[] = {
	    {SF_ANN_METALLB_POOL, SF_ANN_METALLB_POOL_OLD},
	    {SF_ANN_METALLB_IPS, SF_ANN_METALLB_IPS_OLD},
	};
	char  buf[1024];
	char *segs[MAX_SEGS + 2];
	int   n, best = 0, bestd = 0, line, d;

	if (doc == NULL) {
		return (0);
	}
	if (doc->md_lines == NULL || field == NULL
	    || (n = split_path(field, buf, sizeof(buf) - 64, segs)) <= 0) {
		return (doc->md_line);
	}
	// Paths whose source sits elsewhere in a manifest.
	if (n == 2 && strcmp(segs[0], "metadata") == 0
	    && strcmp(segs[1], "cluster") == 0) {
		segs[1] = "annotations";
		segs[2] = SF_ANN_CLUSTER;
		n       = 3;
	}
	if (n >= 2 && strcmp(segs[0], "spec") == 0
	    && strcmp(segs[1], "LoadBalancerSourceRanges") == 0) {
		segs[1] = "loadBalancerSourceRanges";
	}
	best = deepest(doc->md_lines, segs, n, &bestd);
	if (n == 3 && strcmp(segs[1], "annotations") == 0) {
		for (size_t i = 0; i < sizeof(alt_keys) / sizeof(alt_keys[0]);
		     i++) {
			if (strcmp(segs[2], alt_keys[i].from) == 0) {
				segs[2] = (char *) alt_keys[i].to;
				line    = deepest(doc->md_lines, segs, n, &d);
				if (d > bestd) {
					best  = line;
					bestd = d;
				}
			}
		}
	}
	if (best == 0) {
		json_t *root = json_object_get(doc->md_lines, "");
		best         = root != NULL ? (int) json_integer_value(root)
		                            : doc->md_line;
	}
	return (best);
}
