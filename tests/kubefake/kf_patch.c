// kf_patch.c: JSON merge patch (RFC 7386), strategic merge patch (the
// directives kubectl sends: $patch, $retainKeys, $setElementOrder,
// $deleteFromPrimitiveList; merge keys from the schema) and JSON patch
// (RFC 6902).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"

// ---- merge patch -----------------------------------------------------------

static json_t *
merge_patch(json_t *target, json_t *patch)
{
	if (!json_is_object(patch)) {
		json_decref(target);
		return json_deep_copy(patch);
	}
	if (!json_is_object(target)) {
		json_decref(target);
		target = json_object();
	}
	const char *k;
	json_t     *v;
	json_object_foreach(patch, k, v)
	{
		if (json_is_null(v)) {
			json_object_del(target, k);
			continue;
		}
		json_t *cur = json_object_get(target, k);
		json_t *nv  = merge_patch(cur ? json_incref(cur) : NULL, v);
		json_object_set_new(target, k, nv);
	}
	return target;
}

int
kf_patch_merge(json_t **doc, json_t *patch, char *err, size_t cap)
{
	if (!json_is_object(patch)) {
		snprintf(err, cap,
		    "couldn't get version/kind; json parse error: "
		    "a merge patch must be an object");
		return -1;
	}
	// Work on a private copy: *doc may be shared.
	json_t *d = json_deep_copy(*doc);
	json_decref(*doc);
	*doc = merge_patch(d, patch);
	return 0;
}

// ---- strategic merge patch -------------------------------------------------

static const kf_type *
child_type(const kf_type *t, const char *name)
{
	if (t == NULL) {
		return &kf_type_any;
	}
	if (t->t_kind == KF_T_STRUCT) {
		const kf_field *f = kf_schema_field(t, name);
		return f ? f->f_type : &kf_type_any;
	}
	if (t->t_kind == KF_T_MAP) {
		return t->t_elem ? t->t_elem : &kf_type_any;
	}
	return &kf_type_any;
}

// strip_directives removes $-keys from a value that is inserted as is.
static json_t *
strip_directives(json_t *v)
{
	if (json_is_object(v)) {
		json_t     *o = json_object();
		const char *k;
		json_t     *c;
		json_object_foreach(v, k, c)
		{
			if (k[0] == '$') {
				continue;
			}
			json_object_set_new(o, k, strip_directives(c));
		}
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t  i;
		json_t *c;
		json_array_foreach(v, i, c)
		{
			json_array_append_new(a, strip_directives(c));
		}
		return a;
	}
	return json_incref(v);
}

static json_t *smp_map(const kf_type *t, json_t *orig, json_t *patch,
    char *err, size_t cap, int *rc);

static json_t *
smp_list(const kf_type *t, json_t *orig, json_t *patch, char *err, size_t cap,
    int *rc)
{
	const char *mk = t->t_mergekey;
	if (t->t_kind == KF_T_LISTSET) {
		// Merge strategy for primitives: union, order kept.
		json_t *out = json_is_array(orig) ? json_deep_copy(orig)
		                                  : json_array();
		size_t  i;
		json_t *v;
		json_array_foreach(patch, i, v)
		{
			bool    found = false;
			size_t  j;
			json_t *o;
			json_array_foreach(out, j, o)
			{
				if (json_equal(o, v)) {
					found = true;
					break;
				}
			}
			if (!found) {
				json_array_append(out, v);
			}
		}
		return out;
	}
	if (mk == NULL || t->t_kind != KF_T_LISTMAP) {
		return strip_directives(patch);
	}
	// A "$patch: replace" element replaces the whole list.
	size_t  i;
	json_t *p;
	json_array_foreach(patch, i, p)
	{
		const char *d = kf_jstr(p, "$patch");
		if (d && strcmp(d, "replace") == 0) {
			json_t *out = json_array();
			size_t  j;
			json_t *q;
			json_array_foreach(patch, j, q)
			{
				if (kf_jstr(q, "$patch") == NULL) {
					json_array_append_new(
					    out, strip_directives(q));
				}
			}
			return out;
		}
	}
	json_t *out
	    = json_is_array(orig) ? json_deep_copy(orig) : json_array();
	json_array_foreach(patch, i, p)
	{
		if (!json_is_object(p)) {
			snprintf(err, cap,
			    "unable to find api field in struct for "
			    "the merge key");
			*rc = -1;
			json_decref(out);
			return NULL;
		}
		json_t     *key = json_object_get(p, mk);
		const char *d   = kf_jstr(p, "$patch");
		if (key == NULL) {
			snprintf(err, cap,
			    "map: %s does not contain declared merge key: %s",
			    "patch element", mk);
			*rc = -1;
			json_decref(out);
			return NULL;
		}
		long    at = -1;
		size_t  j;
		json_t *o;
		json_array_foreach(out, j, o)
		{
			if (json_equal(json_object_get(o, mk), key)) {
				at = (long) j;
				break;
			}
		}
		if (d && strcmp(d, "delete") == 0) {
			// Remove every element with that key.
			for (size_t k = json_array_size(out); k-- > 0;) {
				if (json_equal(json_object_get(
				                   json_array_get(out, k), mk),
				        key)) {
					json_array_remove(out, k);
				}
			}
			continue;
		}
		if (at >= 0) {
			json_t *m = smp_map(t->t_elem,
			    json_array_get(out, (size_t) at), p, err, cap, rc);
			if (*rc != 0) {
				json_decref(out);
				return NULL;
			}
			if (m == NULL) {
				json_array_remove(out, (size_t) at);
			} else {
				json_array_set_new(out, (size_t) at, m);
			}
		} else {
			json_array_append_new(out, strip_directives(p));
		}
	}
	return out;
}

// set_order applies $setElementOrder/<field>: listed elements first, in
// the given order, then the rest as they were.
static void
set_order(const kf_type *t, json_t *list, json_t *order)
{
	if (!json_is_array(list) || !json_is_array(order)) {
		return;
	}
	const char *mk   = t ? t->t_mergekey : NULL;
	json_t     *out  = json_array();
	bool       *used = calloc(json_array_size(list) + 1, sizeof(bool));
	size_t      i;
	json_t     *o;
	json_array_foreach(order, i, o)
	{
		json_t *want
		    = mk && json_is_object(o) ? json_object_get(o, mk) : o;
		size_t  j;
		json_t *it;
		json_array_foreach(list, j, it)
		{
			json_t *have = mk ? json_object_get(it, mk) : it;
			if (!used[j] && have && json_equal(have, want)) {
				used[j] = true;
				json_array_append(out, it);
				break;
			}
		}
	}
	size_t  j;
	json_t *it;
	json_array_foreach(list, j, it)
	{
		if (!used[j]) {
			json_array_append(out, it);
		}
	}
	free(used);
	json_array_clear(list);
	json_array_extend(list, out);
	json_decref(out);
}

// smp_map returns orig patched (new reference), or NULL when the patch
// deletes it. *rc is set to -1 on error.
static json_t *
smp_map(const kf_type *t, json_t *orig, json_t *patch, char *err, size_t cap,
    int *rc)
{
	const char *d = kf_jstr(patch, "$patch");
	if (d && strcmp(d, "delete") == 0) {
		return NULL;
	}
	if (d && strcmp(d, "replace") == 0) {
		return strip_directives(patch);
	}
	if (d && strcmp(d, "merge") != 0) {
		snprintf(err, cap, "Unknown patch type: %s", d);
		*rc = -1;
		return NULL;
	}
	json_t *out
	    = json_is_object(orig) ? json_deep_copy(orig) : json_object();
	json_t *retain = json_object_get(patch, "$retainKeys");
	if (json_is_array(retain)) {
		const char *k;
		json_t     *v;
		void       *tmp;
		json_object_foreach_safe(out, tmp, k, v)
		{
			bool    keep = false;
			size_t  i;
			json_t *r;
			json_array_foreach(retain, i, r)
			{
				if (json_is_string(r)
				    && strcmp(json_string_value(r), k) == 0) {
					keep = true;
				}
			}
			if (!keep) {
				json_object_del(out, k);
			}
		}
	}
	const char *k;
	json_t     *v;
	json_object_foreach(patch, k, v)
	{
		if (k[0] == '$') {
			continue;
		}
		const kf_type *ct  = child_type(t, k);
		json_t        *cur = json_object_get(out, k);
		if (json_is_null(v)) {
			json_object_del(out, k);
		} else if (json_is_object(v)
		    && (ct->t_kind == KF_T_STRUCT || ct->t_kind == KF_T_MAP
		        || ct->t_kind == KF_T_ANY)) {
			json_t *m = smp_map(ct, cur, v, err, cap, rc);
			if (*rc != 0) {
				json_decref(out);
				return NULL;
			}
			if (m == NULL) {
				json_object_del(out, k);
			} else {
				json_object_set_new(out, k, m);
			}
		} else if (json_is_array(v)) {
			json_t *l = smp_list(ct, cur, v, err, cap, rc);
			if (*rc != 0) {
				json_decref(out);
				return NULL;
			}
			json_object_set_new(out, k, l);
		} else {
			json_object_set(out, k, v);
		}
	}
	json_object_foreach(patch, k, v)
	{
		if (strncmp(k, "$deleteFromPrimitiveList/", 25) == 0) {
			json_t *l = json_object_get(out, k + 25);
			if (json_is_array(l) && json_is_array(v)) {
				for (size_t i = json_array_size(l); i-- > 0;) {
					size_t  j;
					json_t *del;
					json_array_foreach(v, j, del)
					{
						if (json_equal(
						        json_array_get(l, i),
						        del)) {
							json_array_remove(
							    l, i);
							break;
						}
					}
				}
			}
		} else if (strncmp(k, "$setElementOrder/", 17) == 0) {
			set_order(child_type(t, k + 17),
			    json_object_get(out, k + 17), v);
		}
	}
	return out;
}

int
kf_patch_strategic(
    const kf_type *t, json_t **doc, json_t *patch, char *err, size_t cap)
{
	if (!json_is_object(patch)) {
		snprintf(
		    err, cap, "a strategic merge patch must be an object");
		return -1;
	}
	int     rc  = 0;
	json_t *out = smp_map(t, *doc, patch, err, cap, &rc);
	if (rc != 0) {
		return -1;
	}
	if (out == NULL) {
		out = json_object();
	}
	json_decref(*doc);
	*doc = out;
	return 0;
}

// ---- JSON patch ------------------------------------------------------------

// ptr_next splits the next token of a JSON pointer into tok (unescaped).
static const char *
ptr_next(const char *p, char *tok, size_t cap)
{
	size_t n = 0;
	p++; // skip '/'
	while (*p && *p != '/' && n + 1 < cap) {
		if (p[0] == '~' && p[1] == '1') {
			tok[n++] = '/';
			p += 2;
		} else if (p[0] == '~' && p[1] == '0') {
			tok[n++] = '~';
			p += 2;
		} else {
			tok[n++] = *p++;
		}
	}
	tok[n] = '\0';
	return p;
}

static bool
parse_index(const char *tok, size_t max, size_t *out)
{
	if (*tok == '\0' || strspn(tok, "0123456789") != strlen(tok)
	    || (tok[0] == '0' && tok[1])) {
		return false;
	}
	*out = (size_t) strtoul(tok, NULL, 10);
	return *out <= max;
}

// ptr_parent resolves all but the last token; *last gets that token.
static json_t *
ptr_parent(json_t *doc, const char *path, char *last, size_t cap)
{
	if (path[0] != '/') {
		return NULL;
	}
	json_t     *cur = doc;
	const char *p   = path;
	for (;;) {
		char        tok[256];
		const char *nx = ptr_next(p, tok, sizeof(tok));
		if (*nx == '\0') {
			snprintf(last, cap, "%s", tok);
			return cur;
		}
		if (json_is_object(cur)) {
			cur = json_object_get(cur, tok);
		} else if (json_is_array(cur)) {
			size_t i;
			if (!parse_index(tok, json_array_size(cur) - 1, &i)) {
				return NULL;
			}
			cur = json_array_get(cur, i);
		} else {
			return NULL;
		}
		if (cur == NULL) {
			return NULL;
		}
		p = nx;
	}
}

static json_t *
ptr_get(json_t *doc, const char *path)
{
	if (*path == '\0') {
		return doc;
	}
	char    last[256];
	json_t *par = ptr_parent(doc, path, last, sizeof(last));
	if (json_is_object(par)) {
		return json_object_get(par, last);
	}
	if (json_is_array(par)) {
		size_t i;
		if (json_array_size(par) == 0
		    || !parse_index(last, json_array_size(par) - 1, &i)) {
			return NULL;
		}
		return json_array_get(par, i);
	}
	return NULL;
}

static int
ptr_remove(json_t *doc, const char *path, json_t **removed)
{
	char    last[256];
	json_t *par = ptr_parent(doc, path, last, sizeof(last));
	if (json_is_object(par)) {
		json_t *v = json_object_get(par, last);
		if (v == NULL) {
			return -1;
		}
		if (removed) {
			*removed = json_incref(v);
		}
		return json_object_del(par, last);
	}
	if (json_is_array(par)) {
		size_t i;
		if (json_array_size(par) == 0
		    || !parse_index(last, json_array_size(par) - 1, &i)) {
			return -1;
		}
		if (removed) {
			*removed = json_incref(json_array_get(par, i));
		}
		return json_array_remove(par, i);
	}
	return -1;
}

// ptr_add adds (stealing v) at path.
static int
ptr_add(json_t *doc, const char *path, json_t *v, bool replace)
{
	char    last[256];
	json_t *par = ptr_parent(doc, path, last, sizeof(last));
	if (json_is_object(par)) {
		if (replace && json_object_get(par, last) == NULL) {
			json_decref(v);
			return -1;
		}
		return json_object_set_new(par, last, v);
	}
	if (json_is_array(par)) {
		size_t n = json_array_size(par), i;
		if (!replace && strcmp(last, "-") == 0) {
			return json_array_append_new(par, v);
		}
		if (!parse_index(last, replace ? (n ? n - 1 : 0) : n, &i)
		    || (replace && n == 0)) {
			json_decref(v);
			return -1;
		}
		return replace ? json_array_set_new(par, i, v)
		               : json_array_insert_new(par, i, v);
	}
	json_decref(v);
	return -1;
}

int
kf_patch_json(json_t **docp, json_t *patch, char *err, size_t cap)
{
	if (!json_is_array(patch)) {
		snprintf(err, cap,
		    "json: cannot unmarshal object into Go value "
		    "of type jsonpatch.Patch");
		return -1;
	}
	json_t *doc = json_deep_copy(*docp);
	size_t  i;
	json_t *op;
	json_array_foreach(patch, i, op)
	{
		const char *o    = kf_jstr(op, "op");
		const char *path = kf_jstr(op, "path");
		const char *from = kf_jstr(op, "from");
		json_t     *val  = json_object_get(op, "value");
		int         rc   = -1;
		if (o == NULL || path == NULL) {
			snprintf(err, cap,
			    "missing op or path in operation %zu", i);
			json_decref(doc);
			return -1;
		}
		if (strcmp(o, "add") == 0 && val) {
			if (*path == '\0') {
				json_decref(doc);
				doc = json_deep_copy(val);
				rc  = 0;
			} else {
				rc = ptr_add(
				    doc, path, json_deep_copy(val), false);
			}
		} else if (strcmp(o, "remove") == 0) {
			rc = ptr_remove(doc, path, NULL);
		} else if (strcmp(o, "replace") == 0 && val) {
			rc = ptr_add(doc, path, json_deep_copy(val), true);
		} else if (strcmp(o, "test") == 0 && val) {
			json_t *cur = ptr_get(doc, path);
			rc          = cur && json_equal(cur, val) ? 0 : -1;
			if (rc != 0) {
				snprintf(err, cap,
				    "testing value %s failed: test failed",
				    path);
				json_decref(doc);
				return -1;
			}
		} else if ((strcmp(o, "move") == 0 || strcmp(o, "copy") == 0)
		    && from) {
			json_t *v = NULL;
			if (strcmp(o, "move") == 0) {
				rc = ptr_remove(doc, from, &v);
			} else {
				json_t *src = ptr_get(doc, from);
				v           = src ? json_deep_copy(src) : NULL;
				rc          = v ? 0 : -1;
			}
			if (rc == 0) {
				rc = ptr_add(doc, path, v, false);
			}
		} else {
			snprintf(err, cap, "Unexpected kind: %s", o);
			json_decref(doc);
			return -1;
		}
		if (rc != 0) {
			snprintf(err, cap,
			    "%s operation does not apply: doc is missing "
			    "path: "
			    "\"%s\": missing value",
			    o, path);
			json_decref(doc);
			return -1;
		}
	}
	json_decref(*docp);
	*docp = doc;
	return 0;
}
