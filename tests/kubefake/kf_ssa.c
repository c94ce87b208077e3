// kf_ssa.c: field ownership and server-side apply, after
// sigs.k8s.io/structured-merge-diff (fieldpath.Set, typed.ToFieldSet,
// Compare, Merge, and merge.Updater's Apply/Update/prune).
//
// A field set is a tree of path elements: f:<field>, k:<key json>,
// v:<value json>, i:<index>. A node is a member when its own path is in
// the set; children hold longer paths. That is SMD's Set (Members plus
// Children) folded into one node type.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"

typedef struct pe {
	char    e_kind; // 'f', 'k', 'v', 'i'
	char   *e_str;  // field name, canonical key/value JSON, or index
	json_t *e_val;  // 'k': the key object; 'v': the value; else NULL
} pe;

typedef struct fnode {
	pe       n_e;
	kf_fset *n_s;
} fnode;

struct kf_fset {
	bool   s_member;
	size_t s_n;
	size_t s_cap;
	fnode *s_c; // sorted by pe_cmp
};

kf_fset *
kf_fset_new(void)
{
	return calloc(1, sizeof(kf_fset));
}

void
kf_fset_free(kf_fset *s)
{
	if (s == NULL) {
		return;
	}
	for (size_t i = 0; i < s->s_n; i++) {
		free(s->s_c[i].n_e.e_str);
		json_decref(s->s_c[i].n_e.e_val);
		kf_fset_free(s->s_c[i].n_s);
	}
	free(s->s_c);
	free(s);
}

bool
kf_fset_empty(const kf_fset *s)
{
	return s == NULL || s->s_n == 0;
}

// ---- ordering --------------------------------------------------------------

static int
kind_rank(char k)
{
	switch (k) {
	case 'f':
		return 0;
	case 'k':
		return 1;
	case 'v':
		return 2;
	default:
		return 3;
	}
}

static int
jtype_rank(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL:
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		return 1;
	case JSON_INTEGER:
	case JSON_REAL:
		return 2;
	case JSON_STRING:
		return 3;
	case JSON_ARRAY:
		return 4;
	default:
		return 5;
	}
}

static int
jv_cmp(const json_t *a, const json_t *b)
{
	int ra = jtype_rank(a), rb = jtype_rank(b);
	if (ra != rb) {
		return ra < rb ? -1 : 1;
	}
	switch (ra) {
	case 1:
		return (int) json_is_true(a) - (int) json_is_true(b);
	case 2: {
		double x = json_number_value(a), y = json_number_value(b);
		return x < y ? -1 : x > y ? 1 : 0;
	}
	case 3:
		return strcmp(json_string_value(a), json_string_value(b));
	case 0:
		return 0;
	default: {
		char *x = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
		char *y = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
		int   c = strcmp(x ? x : "", y ? y : "");
		free(x);
		free(y);
		return c;
	}
	}
}

static int
str_cmp_qsort(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

// Key objects compare by length, then by sorted field name and value.
static int
key_cmp(json_t *a, json_t *b)
{
	size_t na = json_object_size(a), nb = json_object_size(b);
	if (na != nb) {
		return na < nb ? -1 : 1;
	}
	const char *ka[8], *kb[8];
	size_t      i = 0;
	const char *k;
	json_t     *v;
	json_object_foreach(a, k, v)
	{
		if (i < 8) {
			ka[i++] = k;
		}
	}
	i = 0;
	json_object_foreach(b, k, v)
	{
		if (i < 8) {
			kb[i++] = k;
		}
	}
	if (na > 8) {
		na = 8;
	}
	qsort(ka, na, sizeof(ka[0]), str_cmp_qsort);
	qsort(kb, na, sizeof(kb[0]), str_cmp_qsort);
	for (i = 0; i < na; i++) {
		int c = strcmp(ka[i], kb[i]);
		if (c != 0) {
			return c;
		}
		c = jv_cmp(
		    json_object_get(a, ka[i]), json_object_get(b, kb[i]));
		if (c != 0) {
			return c;
		}
	}
	return 0;
}

static int
pe_cmp(const pe *a, const pe *b)
{
	int ra = kind_rank(a->e_kind), rb = kind_rank(b->e_kind);
	if (ra != rb) {
		return ra < rb ? -1 : 1;
	}
	switch (a->e_kind) {
	case 'f':
		return strcmp(a->e_str, b->e_str);
	case 'k':
		return key_cmp(a->e_val, b->e_val);
	case 'v':
		return jv_cmp(a->e_val, b->e_val);
	default: {
		long x = atol(a->e_str), y = atol(b->e_str);
		return x < y ? -1 : x > y ? 1 : 0;
	}
	}
}

// ---- set primitives
// ----------------------------------------------------------

static kf_fset *
fchild(kf_fset *s, const pe *e, bool create)
{
	size_t lo = 0, hi = s->s_n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int    c   = pe_cmp(&s->s_c[mid].n_e, e);
		if (c == 0) {
			return s->s_c[mid].n_s;
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	if (!create) {
		return NULL;
	}
	if (s->s_n == s->s_cap) {
		size_t cap = s->s_cap ? s->s_cap * 2 : 4;
		fnode *c   = realloc(s->s_c, cap * sizeof(*c));
		if (c == NULL) {
			return NULL;
		}
		s->s_c   = c;
		s->s_cap = cap;
	}
	memmove(&s->s_c[lo + 1], &s->s_c[lo], (s->s_n - lo) * sizeof(fnode));
	s->s_c[lo].n_e.e_kind = e->e_kind;
	s->s_c[lo].n_e.e_str  = strdup(e->e_str);
	s->s_c[lo].n_e.e_val  = e->e_val ? json_incref(e->e_val) : NULL;
	s->s_c[lo].n_s        = kf_fset_new();
	s->s_n++;
	return s->s_c[lo].n_s;
}

// prune drops nodes that are neither members nor lead to one; returns
// true when s itself is empty (no member, no children).
static bool
fprune(kf_fset *s)
{
	size_t j = 0;
	for (size_t i = 0; i < s->s_n; i++) {
		fnode *c = &s->s_c[i];
		if (fprune(c->n_s) && !c->n_s->s_member) {
			free(c->n_e.e_str);
			json_decref(c->n_e.e_val);
			kf_fset_free(c->n_s);
			continue;
		}
		s->s_c[j++] = *c;
	}
	s->s_n = j;
	return s->s_n == 0;
}

static void
funion(kf_fset *dst, const kf_fset *src)
{
	dst->s_member = dst->s_member || src->s_member;
	for (size_t i = 0; i < src->s_n; i++) {
		kf_fset *d = fchild(dst, &src->s_c[i].n_e, true);
		if (d != NULL) {
			funion(d, src->s_c[i].n_s);
		}
	}
}

// fsubtract removes from dst every member of src.
static void
fsubtract_rec(kf_fset *dst, const kf_fset *src)
{
	if (src->s_member) {
		dst->s_member = false;
	}
	for (size_t i = 0; i < src->s_n; i++) {
		kf_fset *d = fchild(dst, &src->s_c[i].n_e, false);
		if (d != NULL) {
			fsubtract_rec(d, src->s_c[i].n_s);
		}
	}
}

static void
fsubtract(kf_fset *dst, const kf_fset *src)
{
	bool m = dst->s_member;
	fsubtract_rec(dst, src);
	dst->s_member = m;
	fprune(dst);
}

static kf_fset *
fintersect(const kf_fset *a, const kf_fset *b)
{
	kf_fset *out = kf_fset_new();
	for (size_t i = 0; i < a->s_n; i++) {
		kf_fset *bc = fchild((kf_fset *) b, &a->s_c[i].n_e, false);
		if (bc == NULL) {
			continue;
		}
		kf_fset *sub  = fintersect(a->s_c[i].n_s, bc);
		sub->s_member = a->s_c[i].n_s->s_member && bc->s_member;
		if (sub->s_member || sub->s_n > 0) {
			kf_fset *d = fchild(out, &a->s_c[i].n_e, true);
			funion(d, sub);
		}
		kf_fset_free(sub);
	}
	return out;
}

static kf_fset *
fcopy(const kf_fset *s)
{
	kf_fset *c = kf_fset_new();
	funion(c, s);
	return c;
}

// fremove_field drops a top-level field subtree (and one level below when
// sub is given), e.g. ("metadata", "uid").
static void
fremove_field(kf_fset *s, const char *field, const char *sub)
{
	pe e = {'f', (char *) field, NULL};
	if (sub == NULL) {
		kf_fset *c = fchild(s, &e, false);
		if (c != NULL) {
			for (size_t i = 0; i < c->s_n; i++) {
				kf_fset_free(c->s_c[i].n_s);
				c->s_c[i].n_s = kf_fset_new();
			}
			c->s_member = false;
		}
	} else {
		kf_fset *c = fchild(s, &e, false);
		if (c != NULL) {
			pe       e2 = {'f', (char *) sub, NULL};
			kf_fset *d  = fchild(c, &e2, false);
			if (d != NULL) {
				for (size_t i = 0; i < d->s_n; i++) {
					kf_fset_free(d->s_c[i].n_s);
					d->s_c[i].n_s = kf_fset_new();
				}
				d->s_member = false;
			}
		}
	}
	fprune(s);
}

// fstrip removes the fields no manager owns: type meta, system metadata
// and the part of the object the other endpoint resets.
static void
fstrip(kf_fset *s, const char *subresource)
{
	static const char *meta[] = {"name", "namespace", "creationTimestamp",
	    "selfLink", "uid", "clusterName", "generation", "managedFields",
	    "resourceVersion", NULL};
	fremove_field(s, "apiVersion", NULL);
	fremove_field(s, "kind", NULL);
	for (int i = 0; meta[i]; i++) {
		fremove_field(s, "metadata", meta[i]);
	}
	if (subresource && strcmp(subresource, "status") == 0) {
		fremove_field(s, "spec", NULL);
		fremove_field(s, "metadata", NULL);
	} else {
		fremove_field(s, "status", NULL);
	}
}

// ---- path strings ----------------------------------------------------------

static void
pe_string(const pe *e, sf_buf *b)
{
	switch (e->e_kind) {
	case 'f':
		sf_buf_printf(b, ".%s", e->e_str);
		break;
	case 'k': {
		const char *names[8];
		size_t      n = 0;
		const char *k;
		json_t     *v;
		json_object_foreach(e->e_val, k, v)
		{
			if (n < 8) {
				names[n++] = k;
			}
		}
		qsort(names, n, sizeof(names[0]), str_cmp_qsort);
		sf_buf_putc(b, '[');
		for (size_t i = 0; i < n; i++) {
			json_t *kv = json_object_get(e->e_val, names[i]);
			if (json_is_string(kv)) {
				char *q = kf_goquote(json_string_value(kv));
				sf_buf_printf(
				    b, "%s%s=%s", i ? "," : "", names[i], q);
				free(q);
			} else {
				char *d = json_dumps(kv, JSON_ENCODE_ANY);
				sf_buf_printf(b, "%s%s=%s", i ? "," : "",
				    names[i], d ? d : "");
				free(d);
			}
		}
		sf_buf_putc(b, ']');
		break;
	}
	case 'v':
		if (json_is_string(e->e_val)) {
			char *q = kf_goquote(json_string_value(e->e_val));
			sf_buf_printf(b, "[=%s]", q);
			free(q);
		} else {
			sf_buf_printf(b, "[=%s]", e->e_str);
		}
		break;
	default:
		sf_buf_printf(b, "[%s]", e->e_str);
	}
}

// fmembers appends the member paths of s in SMD's iteration order:
// members of a node first, then its children's subtrees.
static void
fmembers(const kf_fset *s, sf_buf *prefix, char ***out, size_t *n)
{
	for (size_t i = 0; i < s->s_n; i++) {
		if (!s->s_c[i].n_s->s_member) {
			continue;
		}
		size_t mark = prefix->b_len;
		pe_string(&s->s_c[i].n_e, prefix);
		*out       = realloc(*out, (*n + 1) * sizeof(char *));
		(*out)[*n] = strdup(sf_buf_cstr(prefix));
		(*n)++;
		prefix->b_len        = mark;
		prefix->b_data[mark] = '\0';
	}
	for (size_t i = 0; i < s->s_n; i++) {
		if (s->s_c[i].n_s->s_n == 0) {
			continue;
		}
		size_t mark = prefix->b_len;
		pe_string(&s->s_c[i].n_e, prefix);
		fmembers(s->s_c[i].n_s, prefix, out, n);
		prefix->b_len = mark;
		if (prefix->b_data) {
			prefix->b_data[mark] = '\0';
		}
	}
}

// ---- FieldsV1
// ----------------------------------------------------------------

json_t *
kf_fieldsv1_json(const kf_fset *s)
{
	json_t *o = json_object();
	if (s->s_member && s->s_n > 0) {
		json_object_set_new(o, ".", json_object());
	}
	for (size_t i = 0; i < s->s_n; i++) {
		const fnode *c = &s->s_c[i];
		char         key[1024];
		snprintf(
		    key, sizeof(key), "%c:%s", c->n_e.e_kind, c->n_e.e_str);
		json_object_set_new(o, key, kf_fieldsv1_json(c->n_s));
	}
	return o;
}

static int
fieldsv1_parse_into(kf_fset *s, json_t *j, int depth)
{
	if (!json_is_object(j) || depth > 64) {
		return -1;
	}
	const char *k;
	json_t     *v;
	json_object_foreach(j, k, v)
	{
		if (strcmp(k, ".") == 0) {
			s->s_member = true;
			continue;
		}
		if (strlen(k) < 2 || k[1] != ':') {
			return -1;
		}
		pe e = {k[0], (char *) k + 2, NULL};
		switch (k[0]) {
		case 'f':
		case 'i':
			break;
		case 'k':
		case 'v': {
			json_error_t je;
			e.e_val = json_loads(k + 2, JSON_DECODE_ANY, &je);
			if (e.e_val == NULL
			    || (k[0] == 'k' && !json_is_object(e.e_val))) {
				json_decref(e.e_val);
				return -1;
			}
			break;
		}
		default:
			return -1;
		}
		kf_fset *c = fchild(s, &e, true);
		json_decref(e.e_val);
		if (c == NULL) {
			return -1;
		}
		if (json_object_size(v) == 0) {
			c->s_member = true;
		} else if (fieldsv1_parse_into(c, v, depth + 1) != 0) {
			return -1;
		}
	}
	return 0;
}

kf_fset *
kf_fieldsv1_parse(json_t *j)
{
	kf_fset *s = kf_fset_new();
	if (fieldsv1_parse_into(s, j, 0) != 0) {
		kf_fset_free(s);
		return NULL;
	}
	return s;
}

// ---- managers
// ----------------------------------------------------------------

void
kf_managers_fini(kf_managers *ms)
{
	for (size_t i = 0; i < ms->ms_n; i++) {
		free(ms->ms_v[i].m_name);
		free(ms->ms_v[i].m_apiversion);
		free(ms->ms_v[i].m_subresource);
		kf_fset_free(ms->ms_v[i].m_set);
	}
	free(ms->ms_v);
	memset(ms, 0, sizeof(*ms));
}

static kf_manager *
managers_find(kf_managers *ms, const char *name, bool apply, const char *sub)
{
	for (size_t i = 0; i < ms->ms_n; i++) {
		kf_manager *m = &ms->ms_v[i];
		if (strcmp(m->m_name, name) == 0 && m->m_apply == apply
		    && strcmp(m->m_subresource ? m->m_subresource : "",
		           sub ? sub : "")
		        == 0) {
			return m;
		}
	}
	return NULL;
}

static kf_manager *
managers_add(kf_managers *ms, const char *name, bool apply,
    const char *apiversion, const char *sub)
{
	if (ms->ms_n == ms->ms_cap) {
		size_t      cap = ms->ms_cap ? ms->ms_cap * 2 : 4;
		kf_manager *v   = realloc(ms->ms_v, cap * sizeof(*v));
		if (v == NULL) {
			return NULL;
		}
		ms->ms_v   = v;
		ms->ms_cap = cap;
	}
	kf_manager *m = &ms->ms_v[ms->ms_n++];
	memset(m, 0, sizeof(*m));
	m->m_name        = strdup(name);
	m->m_apply       = apply;
	m->m_apiversion  = strdup(apiversion);
	m->m_subresource = sub && *sub ? strdup(sub) : NULL;
	m->m_set         = kf_fset_new();
	return m;
}

static void
managers_drop_empty(kf_managers *ms)
{
	size_t j = 0;
	for (size_t i = 0; i < ms->ms_n; i++) {
		kf_manager *m = &ms->ms_v[i];
		if (kf_fset_empty(m->m_set)) {
			free(m->m_name);
			free(m->m_apiversion);
			free(m->m_subresource);
			kf_fset_free(m->m_set);
			continue;
		}
		ms->ms_v[j++] = *m;
	}
	ms->ms_n = j;
}

int
kf_managers_decode(kf_managers *ms, json_t *obj)
{
	json_t *mf = kf_jget(obj, "metadata.managedFields");
	if (mf == NULL || json_is_null(mf)) {
		return 0;
	}
	if (!json_is_array(mf)) {
		return -1;
	}
	size_t  i;
	json_t *e;
	json_array_foreach(mf, i, e)
	{
		const char *name = kf_jstr(e, "manager");
		const char *op   = kf_jstr(e, "operation");
		const char *av   = kf_jstr(e, "apiVersion");
		const char *tm   = kf_jstr(e, "time");
		const char *sub  = kf_jstr(e, "subresource");
		const char *ft   = kf_jstr(e, "fieldsType");
		if (op == NULL
		    || (strcmp(op, "Apply") != 0 && strcmp(op, "Update") != 0)
		    || (ft != NULL && strcmp(ft, "FieldsV1") != 0)) {
			kf_managers_fini(ms);
			return -1;
		}
		kf_fset *set = json_object_get(e, "fieldsV1")
		    ? kf_fieldsv1_parse(json_object_get(e, "fieldsV1"))
		    : kf_fset_new();
		if (set == NULL) {
			kf_managers_fini(ms);
			return -1;
		}
		kf_manager *m = managers_add(ms, name ? name : "",
		    strcmp(op, "Apply") == 0, av ? av : "", sub);
		if (m == NULL) {
			kf_fset_free(set);
			kf_managers_fini(ms);
			return -1;
		}
		kf_fset_free(m->m_set);
		m->m_set = set;
		snprintf(m->m_time, sizeof(m->m_time), "%s", tm ? tm : "");
	}
	return 0;
}

static int
manager_sort(const void *a, const void *b)
{
	const kf_manager *p = a, *q = b;
	if (p->m_apply != q->m_apply) {
		return p->m_apply ? -1 : 1; // "Apply" < "Update"
	}
	int c = strcmp(p->m_time, q->m_time);
	if (c != 0) {
		return c;
	}
	if ((c = strcmp(p->m_name, q->m_name)) != 0) {
		return c;
	}
	if ((c = strcmp(p->m_apiversion, q->m_apiversion)) != 0) {
		return c;
	}
	return strcmp(p->m_subresource ? p->m_subresource : "",
	    q->m_subresource ? q->m_subresource : "");
}

void
kf_managers_encode(const kf_managers *ms, json_t *obj)
{
	json_t *meta = kf_jobj(obj, "metadata");
	if (ms->ms_n == 0) {
		json_object_del(meta, "managedFields");
		return;
	}
	kf_manager *v = malloc(ms->ms_n * sizeof(*v));
	memcpy(v, ms->ms_v, ms->ms_n * sizeof(*v));
	qsort(v, ms->ms_n, sizeof(*v), manager_sort);
	json_t *arr = json_array();
	for (size_t i = 0; i < ms->ms_n; i++) {
		json_t *e = json_object();
		json_object_set_new(e, "manager", json_string(v[i].m_name));
		json_object_set_new(e, "operation",
		    json_string(v[i].m_apply ? "Apply" : "Update"));
		json_object_set_new(
		    e, "apiVersion", json_string(v[i].m_apiversion));
		if (v[i].m_time[0]) {
			json_object_set_new(
			    e, "time", json_string(v[i].m_time));
		}
		json_object_set_new(e, "fieldsType", json_string("FieldsV1"));
		json_object_set_new(
		    e, "fieldsV1", kf_fieldsv1_json(v[i].m_set));
		if (v[i].m_subresource) {
			json_object_set_new(
			    e, "subresource", json_string(v[i].m_subresource));
		}
		json_array_append_new(arr, e);
	}
	free(v);
	json_object_set_new(meta, "managedFields", arr);
}

// ---- typed walks
// -------------------------------------------------------------

typedef struct tref {
	const kf_type *r_t;
	bool           r_atomic;
	bool           r_root; // the object itself
	bool           r_meta; // its metadata (where managedFields lives)
} tref;

static tref
child_ref(tref r, const char *name)
{
	tref c   = {&kf_type_any, false, false, false};
	c.r_meta = r.r_root && strcmp(name, "metadata") == 0;
	switch (r.r_t->t_kind) {
	case KF_T_STRUCT: {
		const kf_field *f = kf_schema_field(r.r_t, name);
		if (f != NULL) {
			c.r_t      = f->f_type;
			c.r_atomic = (f->f_flags & KF_F_ATOMIC) != 0;
		}
		break;
	}
	case KF_T_MAP:
		c.r_t = r.r_t->t_elem;
		break;
	default:
		break;
	}
	return c;
}

static bool
declared(tref r, const char *name)
{
	return r.r_t->t_kind == KF_T_STRUCT && kf_schema_field(r.r_t, name);
}

static bool
is_leaf(tref r, const json_t *v)
{
	if (r.r_atomic) {
		return true;
	}
	switch (r.r_t->t_kind) {
	case KF_T_STRUCT:
	case KF_T_MAP:
	case KF_T_ANY:
		return !json_is_object(v);
	case KF_T_LISTMAP:
	case KF_T_LISTSET:
		return !json_is_array(v);
	default:
		return true;
	}
}

// item_key builds the key object of a list-map item, applying the
// protocol default the way the OpenAPI schema's "default" does.
static json_t *
item_key(const kf_type *t, json_t *item, char *err, size_t cap, size_t idx,
    const char *path)
{
	if (!json_is_object(item)) {
		snprintf(err, cap, "%s: element %zu: expected map", path, idx);
		return NULL;
	}
	json_t *k = json_object();
	for (int i = 0; i < 3 && t->t_keys[i]; i++) {
		json_t *v = json_object_get(item, t->t_keys[i]);
		if (v == NULL && strcmp(t->t_keys[i], "protocol") == 0) {
			v = json_string("TCP");
			json_object_set_new(k, t->t_keys[i], v);
			continue;
		}
		if (v == NULL || json_is_null(v)) {
			snprintf(err, cap,
			    "%s: element %zu: associative list with keys has "
			    "an "
			    "element that omits key field \"%s\" (and doesn't "
			    "have default value)",
			    path, idx, t->t_keys[i]);
			json_decref(k);
			return NULL;
		}
		json_object_set(k, t->t_keys[i], v);
	}
	return k;
}

static void
make_pe_key(pe *e, json_t *key)
{
	e->e_kind = 'k';
	e->e_val  = key;
	e->e_str  = json_dumps(key, JSON_COMPACT | JSON_SORT_KEYS);
}

static void
make_pe_val(pe *e, json_t *v)
{
	e->e_kind = 'v';
	e->e_val  = json_incref(v);
	e->e_str  = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void
pe_fini(pe *e)
{
	if (e->e_kind != 'f') {
		free(e->e_str);
		json_decref(e->e_val);
	}
}

typedef struct walk {
	char  *w_err;
	size_t w_cap;
} walk;

// tofs adds the paths of v (whose node is s) to s; see typed.ToFieldSet.
static int
tofs(walk *w, tref r, json_t *v, kf_fset *s, const char *path)
{
	if (is_leaf(r, v)) {
		s->s_member = true;
		return 0;
	}
	if (json_is_object(v)) {
		const char *k;
		json_t     *cv;
		json_object_foreach(v, k, cv)
		{
			pe       e = {'f', (char *) k, NULL};
			kf_fset *c = fchild(s, &e, true);
			char     cpath[512];
			snprintf(cpath, sizeof(cpath), "%s.%s", path, k);
			if (tofs(w, child_ref(r, k), cv, c, cpath) != 0) {
				return -1;
			}
			if (json_is_null(cv)
			    || (json_is_object(cv)
			        && json_object_size(cv) == 0)
			    || !declared(r, k)) {
				c->s_member = true;
			}
		}
		return 0;
	}
	// A list: listType=map or set (atomic lists are leaves).
	tref er = {
	    r.r_t->t_elem ? r.r_t->t_elem : &kf_type_any, false, false, false};
	size_t  i;
	json_t *it;
	json_array_foreach(v, i, it)
	{
		pe e;
		if (r.r_t->t_kind == KF_T_LISTMAP) {
			json_t *key
			    = item_key(r.r_t, it, w->w_err, w->w_cap, i, path);
			if (key == NULL) {
				return -1;
			}
			make_pe_key(&e, key);
		} else {
			make_pe_val(&e, it);
		}
		if (fchild(s, &e, false) != NULL) {
			sf_buf b = SF_BUF_INIT;
			pe_string(&e, &b);
			snprintf(w->w_err, w->w_cap,
			    "%s: duplicate entries for key %s", path,
			    sf_buf_cstr(&b));
			sf_buf_fini(&b);
			pe_fini(&e);
			return -1;
		}
		kf_fset *c = fchild(s, &e, true);
		pe_fini(&e);
		if (r.r_t->t_kind == KF_T_LISTMAP) {
			char ipath[512];
			snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
			if (tofs(w, er, it, c, ipath) != 0) {
				return -1;
			}
		}
		c->s_member = true;
	}
	return 0;
}

// list_index returns the key pes of a list (n items).
static pe *
list_pes(tref r, json_t *l, size_t *n)
{
	*n    = json_array_size(l);
	pe *v = calloc(*n ? *n : 1, sizeof(pe));
	for (size_t i = 0; i < *n; i++) {
		json_t *it = json_array_get(l, i);
		if (r.r_t->t_kind == KF_T_LISTMAP) {
			char    err[8];
			json_t *key
			    = item_key(r.r_t, it, err, sizeof(err), i, "");
			if (key == NULL) {
				key = json_object(); // unkeyable: never
				                     // matches
				json_object_set_new(
				    key, "\x01", json_integer((long long) i));
			}
			make_pe_key(&v[i], key);
		} else {
			make_pe_val(&v[i], it);
		}
	}
	return v;
}

static void
pes_free(pe *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pe_fini(&v[i]);
	}
	free(v);
}

static long
pes_find(const pe *v, size_t n, const pe *e)
{
	for (size_t i = 0; i < n; i++) {
		if (pe_cmp(&v[i], e) == 0) {
			return (long) i;
		}
	}
	return -1;
}

// A lazy node: the set node for a path, created only when something is
// inserted at or below it (most of a compare finds nothing).
typedef struct lazy {
	struct lazy *z_up;
	const pe    *z_e;
	kf_fset     *z_node;
} lazy;

static kf_fset *
lazy_get(lazy *z)
{
	if (z->z_node == NULL) {
		z->z_node = fchild(lazy_get(z->z_up), z->z_e, true);
	}
	return z->z_node;
}

static void cmp_child(
    tref r, json_t *l, json_t *rv, lazy *a, lazy *m, lazy *rm, const pe *e);

// cmp walks old (l) and new (rv) together, recording Added, Modified and
// Removed paths like typed.Compare (leaf rule plus post-item hook).
static void
cmp(tref r, json_t *l, json_t *rv, lazy *a, lazy *m, lazy *rm)
{
	if (l == rv) {
		return;
	}
	json_t *shape = rv ? rv : l;
	bool    leaf  = is_leaf(r, shape)
	    || (l && rv && json_typeof(l) != json_typeof(rv));
	if (leaf) {
		if (l == NULL) {
			lazy_get(a)->s_member = true;
		} else if (rv == NULL) {
			lazy_get(rm)->s_member = true;
		} else if (!json_equal(l, rv)) {
			lazy_get(m)->s_member = true;
		}
		return;
	}
	if (json_is_object(shape)) {
		const char *k;
		json_t     *v;
		if (l) {
			json_object_foreach(l, k, v)
			{
				if (r.r_meta
				    && strcmp(k, "managedFields") == 0) {
					continue; // never owned; see fstrip
				}
				pe e = {'f', (char *) k, NULL};
				cmp_child(child_ref(r, k), v,
				    rv ? json_object_get(rv, k) : NULL, a, m,
				    rm, &e);
			}
		}
		if (rv) {
			json_object_foreach(rv, k, v)
			{
				if ((l && json_object_get(l, k))
				    || (r.r_meta
				        && strcmp(k, "managedFields") == 0)) {
					continue;
				}
				pe e = {'f', (char *) k, NULL};
				cmp_child(
				    child_ref(r, k), NULL, v, a, m, rm, &e);
			}
		}
	} else {
		tref er = {r.r_t->t_elem ? r.r_t->t_elem : &kf_type_any, false,
		    false, false};
		size_t nl = 0, nr = 0;
		pe    *pl = l ? list_pes(r, l, &nl) : NULL;
		pe    *pr = rv ? list_pes(r, rv, &nr) : NULL;
		for (size_t i = 0; i < nl; i++) {
			long j = pr ? pes_find(pr, nr, &pl[i]) : -1;
			cmp_child(er, json_array_get(l, i),
			    j >= 0 ? json_array_get(rv, (size_t) j) : NULL, a,
			    m, rm, &pl[i]);
		}
		for (size_t j = 0; j < nr; j++) {
			if (pl && pes_find(pl, nl, &pr[j]) >= 0) {
				continue;
			}
			cmp_child(
			    er, NULL, json_array_get(rv, j), a, m, rm, &pr[j]);
		}
		pes_free(pl, nl);
		pes_free(pr, nr);
	}
	if (l == NULL) {
		lazy_get(a)->s_member = true;
	} else if (rv == NULL) {
		lazy_get(rm)->s_member = true;
	}
}

static void
cmp_child(
    tref r, json_t *l, json_t *rv, lazy *a, lazy *m, lazy *rm, const pe *e)
{
	lazy ca = {a, e, NULL}, cm = {m, e, NULL}, crm = {rm, e, NULL};
	cmp(r, l, rv, &ca, &cm, &crm);
}

// merge returns config merged over live (new reference); see typed.Merge.
static json_t *
merge(tref r, json_t *l, json_t *c)
{
	if (c == NULL) {
		return json_deep_copy(l);
	}
	if (l == NULL || is_leaf(r, c) || json_typeof(l) != json_typeof(c)) {
		return json_deep_copy(c);
	}
	if (json_is_object(c)) {
		json_t     *out = json_object();
		const char *k;
		json_t     *v;
		json_object_foreach(l, k, v)
		{
			if (!(r.r_meta && strcmp(k, "managedFields") == 0)
			    && json_object_get(c, k) == NULL) {
				json_object_set_new(out, k, json_deep_copy(v));
			} else if (json_object_get(c, k) != NULL) {
				json_object_set_new(
				    out, k, json_null()); // keeps order
			}
		}
		json_object_foreach(c, k, v)
		{
			json_object_set_new(out, k,
			    merge(child_ref(r, k), json_object_get(l, k), v));
		}
		return out;
	}
	// Ordered merge of associative lists (mergingWalker.visitListItems).
	tref er = {
	    r.r_t->t_elem ? r.r_t->t_elem : &kf_type_any, false, false, false};
	size_t  nl, nr;
	pe     *pl      = list_pes(r, l, &nl);
	pe     *pr      = list_pes(r, c, &nr);
	json_t *out     = json_array();
	long   *shared  = calloc(nr + 1, sizeof(long));
	size_t  nshared = 0, si = 0;
	bool   *merged = calloc(nr + 1, sizeof(bool));
	for (size_t j = 0; j < nr; j++) {
		if (pes_find(pl, nl, &pr[j]) >= 0) {
			shared[nshared++] = (long) j;
		}
	}
	const pe *next = nshared ? &pr[shared[si++]] : NULL;
	size_t    li = 0, ri = 0;
	while (li < nl || ri < nr) {
		if (li < nl && ri < nr) {
			if (pe_cmp(&pl[li], &pr[ri]) == 0) {
				merged[ri] = true;
				json_array_append_new(out,
				    merge(er, json_array_get(l, li),
				        json_array_get(c, ri)));
				li++;
				ri++;
				next = si < nshared ? &pr[shared[si++]] : NULL;
				continue;
			}
			if (pes_find(pr, nr, &pl[li]) >= 0 && next != NULL
			    && pe_cmp(next, &pl[li]) != 0) {
				li++;
				continue;
			}
		}
		if (li < nl) {
			long j = pes_find(pr, nr, &pl[li]);
			if (j < 0) {
				json_array_append_new(out,
				    json_deep_copy(json_array_get(l, li)));
				li++;
				continue;
			} else if (merged[j]) {
				li++;
				continue;
			}
		}
		if (ri < nr) {
			long j     = pes_find(pl, nl, &pr[ri]);
			merged[ri] = true;
			json_array_append_new(out,
			    merge(er,
			        j >= 0 ? json_array_get(l, (size_t) j) : NULL,
			        json_array_get(c, ri)));
			if (next != NULL && pe_cmp(next, &pr[ri]) == 0) {
				next = si < nshared ? &pr[shared[si++]] : NULL;
			}
			ri++;
		}
	}
	free(shared);
	free(merged);
	pes_free(pl, nl);
	pes_free(pr, nr);
	return out;
}

// prune_walk removes from v what last owned and no manager owns now.
static void
prune_walk(tref r, json_t *v, const kf_fset *last, const kf_fset *owned,
    const kf_type *list)
{
	if (is_leaf(r, v)) {
		return;
	}
	for (size_t i = 0; i < last->s_n; i++) {
		const fnode *c = &last->s_c[i];
		kf_fset     *oc
		    = owned ? fchild((kf_fset *) owned, &c->n_e, false) : NULL;
		if (json_is_object(v) && c->n_e.e_kind == 'f') {
			json_t *cv = json_object_get(v, c->n_e.e_str);
			if (cv == NULL) {
				continue;
			}
			// An item that stays keeps its key fields.
			bool key = false;
			for (int k = 0; list && k < 3 && list->t_keys[k];
			     k++) {
				key = key
				    || strcmp(list->t_keys[k], c->n_e.e_str)
				        == 0;
			}
			if (c->n_s->s_member && oc == NULL && !key) {
				json_object_del(v, c->n_e.e_str);
				continue;
			}
			if (c->n_s->s_n > 0) {
				prune_walk(child_ref(r, c->n_e.e_str), cv,
				    c->n_s, oc, NULL);
			}
		} else if (json_is_array(v) && c->n_e.e_kind != 'f') {
			size_t n;
			pe    *pv = list_pes(r, v, &n);
			long   j  = pes_find(pv, n, &c->n_e);
			pes_free(pv, n);
			if (j < 0) {
				continue;
			}
			if (c->n_s->s_member && oc == NULL) {
				json_array_remove(v, (size_t) j);
				continue;
			}
			if (c->n_s->s_n > 0) {
				tref er = {r.r_t->t_elem ? r.r_t->t_elem
				                         : &kf_type_any,
				    false, false, false};
				prune_walk(er, json_array_get(v, (size_t) j),
				    c->n_s, oc,
				    r.r_t->t_kind == KF_T_LISTMAP ? r.r_t
				                                  : NULL);
			}
		}
	}
}

// empty_object is what decoding "{}" into the Go type gives: the always-
// encoded structs exist, so they are never "added".
static json_t *
empty_object(const kf_type *t, json_t *like)
{
	json_t *o = json_object();
	if (t->t_kind == KF_T_STRUCT) {
		char err[64];
		kf_schema_normalize(t, o, NULL, false, err, sizeof(err));
		return o;
	}
	json_object_set_new(o, "metadata", json_object());
	const char *k;
	json_t     *v;
	if (like) {
		json_object_foreach(like, k, v)
		{
			if (json_is_object(v) && strcmp(k, "metadata") != 0) {
				json_object_set_new(o, k, json_object());
			}
		}
	}
	return o;
}

// equal_live tells whether two objects are equal, managedFields aside.
static bool
equal_live(json_t *a, json_t *b)
{
	if (json_object_size(a) != json_object_size(b)) {
		return false;
	}
	const char *k;
	json_t     *v;
	json_object_foreach(a, k, v)
	{
		json_t *w = json_object_get(b, k);
		if (w == NULL) {
			return false;
		}
		if (strcmp(k, "metadata") == 0 && json_is_object(v)
		    && json_is_object(w)) {
			size_t na = json_object_size(v)
			    - (json_object_get(v, "managedFields") != NULL);
			size_t nb = json_object_size(w)
			    - (json_object_get(w, "managedFields") != NULL);
			if (na != nb) {
				return false;
			}
			const char *mk;
			json_t     *mv;
			json_object_foreach(v, mk, mv)
			{
				if (strcmp(mk, "managedFields") == 0) {
					continue;
				}
				json_t *mw = json_object_get(w, mk);
				if (mw == NULL || !json_equal(mv, mw)) {
					return false;
				}
			}
		} else if (!json_equal(v, w)) {
			return false;
		}
	}
	return true;
}

static void
compare_sets(const kf_ssa_ctx *x, json_t *old, json_t *nw, kf_fset **a,
    kf_fset **m, kf_fset **rm)
{
	tref root = {x->x_type, false, true, false};
	*a        = kf_fset_new();
	*m        = kf_fset_new();
	*rm       = kf_fset_new();
	lazy za = {NULL, NULL, *a}, zm = {NULL, NULL, *m},
	     zr = {NULL, NULL, *rm};
	cmp(root, old, nw, &za, &zm, &zr);
	(*a)->s_member = (*m)->s_member = (*rm)->s_member = false;
	fprune(*a);
	fprune(*m);
	fprune(*rm);
	fstrip(*a, x->x_subresource);
	fstrip(*m, x->x_subresource);
	fstrip(*rm, x->x_subresource);
}

void
kf_ssa_update(const kf_ssa_ctx *x, json_t *live, json_t *obj, kf_managers *mg)
{
	json_t  *old = live ? json_incref(live) : empty_object(x->x_type, obj);
	json_t  *nw  = json_incref(obj);
	kf_fset *a, *m, *rm;
	compare_sets(x, old, nw, &a, &m, &rm);
	kf_fset *cur = fcopy(a);
	funion(cur, m);
	for (size_t i = 0; i < mg->ms_n; i++) {
		fsubtract(mg->ms_v[i].m_set, cur);
		fsubtract(mg->ms_v[i].m_set, rm);
	}
	if (!kf_fset_empty(cur)) {
		kf_manager *me
		    = managers_find(mg, x->x_manager, false, x->x_subresource);
		if (me == NULL) {
			me = managers_add(mg, x->x_manager, false,
			    x->x_apiversion, x->x_subresource);
		}
		if (me != NULL) {
			funion(me->m_set, cur);
			snprintf(
			    me->m_time, sizeof(me->m_time), "%s", x->x_now);
		}
	}
	managers_drop_empty(mg);
	kf_fset_free(cur);
	kf_fset_free(a);
	kf_fset_free(m);
	kf_fset_free(rm);
	json_decref(old);
	json_decref(nw);
}

static char *
manager_label(const kf_manager *m)
{
	sf_buf b = SF_BUF_INIT;
	char  *q = kf_goquote(m->m_name);
	sf_buf_puts(&b, q);
	free(q);
	if (m->m_subresource) {
		q = kf_goquote(m->m_subresource);
		sf_buf_printf(&b, " with subresource %s", q);
		free(q);
	}
	if (!m->m_apply) {
		sf_buf_printf(&b, " using %s", m->m_apiversion);
	}
	return sf_buf_take(&b);
}

static int
conflict_order(const void *a, const void *b)
{
	const kf_manager *p = *(kf_manager *const *) a;
	const kf_manager *q = *(kf_manager *const *) b;
	int               c = strcmp(p->m_name, q->m_name);
	if (c != 0) {
		return c;
	}
	return (int) p->m_apply - (int) q->m_apply;
}

json_t *
kf_ssa_apply(const kf_ssa_ctx *x, json_t *live, json_t *config, bool force,
    kf_managers *mg, kf_resp *r)
{
	char    err[512] = "";
	walk    w        = {err, sizeof(err)};
	tref    root     = {x->x_type, false, true, false};
	json_t *base
	    = live ? json_incref(live) : empty_object(x->x_type, config);
	kf_fset *cset = kf_fset_new();
	if (tofs(&w, root, config, cset, "") != 0) {
		kf_status_badrequest(
		    r, "failed to create typed patch object: %s", err);
		kf_fset_free(cset);
		json_decref(base);
		return NULL;
	}
	cset->s_member = false;
	fstrip(cset, x->x_subresource);
	json_t *merged = merge(root, base, config);

	kf_manager *me
	    = managers_find(mg, x->x_manager, true, x->x_subresource);
	bool     fresh = me == NULL;
	kf_fset *last  = NULL;
	if (me == NULL) {
		me = managers_add(
		    mg, x->x_manager, true, x->x_apiversion, x->x_subresource);
	} else {
		last = me->m_set;
	}
	if (fresh) {
		kf_fset_free(me->m_set);
	}
	me->m_set = cset;
	size_t mi = (size_t) (me - mg->ms_v);
	if (last != NULL) {
		kf_fset *owned = kf_fset_new();
		for (size_t i = 0; i < mg->ms_n; i++) {
			funion(owned, mg->ms_v[i].m_set);
		}
		prune_walk(root, merged, last, owned, NULL);
		kf_fset_free(owned);
		kf_fset_free(last);
	}

	kf_fset *a, *m, *rm;
	compare_sets(x, base, merged, &a, &m, &rm);
	kf_fset *changed = fcopy(a);
	funion(changed, m);

	size_t       nconf = 0;
	kf_manager **cm    = calloc(mg->ms_n + 1, sizeof(*cm));
	kf_fset    **cs    = calloc(mg->ms_n + 1, sizeof(*cs));
	for (size_t i = 0; i < mg->ms_n; i++) {
		if (i == mi) {
			continue;
		}
		kf_fset *in = fintersect(mg->ms_v[i].m_set, changed);
		if (kf_fset_empty(in)) {
			kf_fset_free(in);
			continue;
		}
		cm[nconf]   = &mg->ms_v[i];
		cs[nconf++] = in;
	}
	json_t *out = merged;
	if (nconf > 0 && !force) {
		// Build the FieldManagerConflict Status, managers sorted.
		kf_manager **order = calloc(nconf, sizeof(*order));
		memcpy(order, cm, nconf * sizeof(*order));
		qsort(order, nconf, sizeof(*order), conflict_order);
		json_t *causes = json_array();
		sf_buf  msg    = SF_BUF_INIT;
		size_t  total  = 0;
		sf_buf  body   = SF_BUF_INIT;
		for (size_t o = 0; o < nconf; o++) {
			size_t k = 0;
			while (cm[k] != order[o]) {
				k++;
			}
			char **paths = NULL;
			size_t np    = 0;
			sf_buf pre   = SF_BUF_INIT;
			fmembers(cs[k], &pre, &paths, &np);
			sf_buf_fini(&pre);
			char *label = manager_label(cm[k]);
			sf_buf_printf(&body,
			    "%sconflict with %s:", total ? "\n" : "", label);
			for (size_t p = 0; p < np; p++) {
				json_t *c = json_object();
				json_object_set_new(c, "reason",
				    json_string("FieldManagerConflict"));
				char *cmsg = NULL;
				if (asprintf(&cmsg, "conflict with %s", label)
				    < 0) {
					cmsg = NULL;
				}
				json_object_set_new(c, "message",
				    json_string(cmsg ? cmsg : ""));
				free(cmsg);
				json_object_set_new(
				    c, "field", json_string(paths[p]));
				json_array_append_new(causes, c);
				sf_buf_printf(&body, "\n- %s", paths[p]);
				if (total == 0 && nconf == 1 && np == 1) {
					sf_buf_printf(&msg,
					    "Apply failed with 1 conflict: "
					    "conflict "
					    "with %s: %s",
					    label, paths[p]);
				}
				total++;
				free(paths[p]);
			}
			free(paths);
			free(label);
		}
		if (total != 1) {
			sf_buf_reset(&msg);
			sf_buf_printf(&msg,
			    "Apply failed with %zu conflicts: %s", total,
			    sf_buf_cstr(&body));
		}
		json_t *det = json_object();
		json_object_set_new(det, "causes", causes);
		kf_status(r, 409, "Conflict", det, "%s", sf_buf_cstr(&msg));
		sf_buf_fini(&msg);
		sf_buf_fini(&body);
		free(order);
		json_decref(merged);
		out = NULL;
	} else {
		for (size_t k = 0; k < nconf; k++) {
			fsubtract(cm[k]->m_set, cs[k]);
		}
		for (size_t i = 0; i < mg->ms_n; i++) {
			fsubtract(mg->ms_v[i].m_set, rm);
		}
		if (!equal_live(base, merged) || fresh
		    || me->m_time[0] == '\0') {
			snprintf(
			    me->m_time, sizeof(me->m_time), "%s", x->x_now);
		}
		managers_drop_empty(mg);
	}
	for (size_t k = 0; k < nconf; k++) {
		kf_fset_free(cs[k]);
	}
	free(cm);
	free(cs);
	kf_fset_free(changed);
	kf_fset_free(a);
	kf_fset_free(m);
	kf_fset_free(rm);
	json_decref(base);
	return out;
}
