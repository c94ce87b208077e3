// kf_select.c: label selectors (=, ==, !=, in, notin, exists, !exists,
// gt, lt) and field selectors (=, ==, != on a few known fields), parsed
// as apimachinery's labels.Parse and fields.ParseSelector do.
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"

enum op {
	OP_EQ,
	OP_NE,
	OP_IN,
	OP_NOTIN,
	OP_EXISTS,
	OP_NOTEXISTS,
	OP_GT,
	OP_LT
};

typedef struct req {
	char  *r_key;
	int    r_op;
	char **r_vals;
	size_t r_nvals;
} req;

struct kf_selector {
	bool   s_fields;
	req   *s_reqs;
	size_t s_n;
};

void
kf_selector_free(kf_selector *sel)
{
	if (sel == NULL) {
		return;
	}
	for (size_t i = 0; i < sel->s_n; i++) {
		free(sel->s_reqs[i].r_key);
		for (size_t j = 0; j < sel->s_reqs[i].r_nvals; j++) {
			free(sel->s_reqs[i].r_vals[j]);
		}
		free(sel->s_reqs[i].r_vals);
	}
	free(sel->s_reqs);
	free(sel);
}

enum tok {
	T_ID,
	T_EQ,
	T_DEQ,
	T_NE,
	T_NOT,
	T_OPEN,
	T_CLOSE,
	T_COMMA,
	T_IN,
	T_NOTIN,
	T_GT,
	T_LT,
	T_END
};

typedef struct lex {
	const char *l_p;
	char        l_id[512];
} lex;

static bool
special(char c)
{
	return c == '=' || c == '!' || c == '(' || c == ')' || c == ','
	    || c == '<' || c == '>' || isspace((unsigned char) c);
}

static int
next_tok(lex *l)
{
	while (isspace((unsigned char) *l->l_p)) {
		l->l_p++;
	}
	const char *p = l->l_p;
	switch (*p) {
	case '\0':
		return T_END;
	case '=':
		if (p[1] == '=') {
			l->l_p += 2;
			return T_DEQ;
		}
		l->l_p++;
		return T_EQ;
	case '!':
		if (p[1] == '=') {
			l->l_p += 2;
			return T_NE;
		}
		l->l_p++;
		return T_NOT;
	case '(':
		l->l_p++;
		return T_OPEN;
	case ')':
		l->l_p++;
		return T_CLOSE;
	case ',':
		l->l_p++;
		return T_COMMA;
	case '>':
		l->l_p++;
		return T_GT;
	case '<':
		l->l_p++;
		return T_LT;
	default:
		break;
	}
	size_t n = 0;
	while (*p && !special(*p) && n + 1 < sizeof(l->l_id)) {
		l->l_id[n++] = *p++;
	}
	l->l_id[n] = '\0';
	l->l_p     = p;
	if (strcmp(l->l_id, "in") == 0) {
		return T_IN;
	}
	if (strcmp(l->l_id, "notin") == 0) {
		return T_NOTIN;
	}
	return T_ID;
}

static int
peek_tok(lex *l)
{
	lex save = *l;
	int t    = next_tok(l);
	*l       = save;
	return t;
}

static const char *
tok_name(int t, const lex *l)
{
	switch (t) {
	case T_ID:
		return l->l_id;
	case T_EQ:
		return "=";
	case T_DEQ:
		return "==";
	case T_NE:
		return "!=";
	case T_NOT:
		return "!";
	case T_OPEN:
		return "(";
	case T_CLOSE:
		return ")";
	case T_COMMA:
		return ",";
	case T_IN:
		return "in";
	case T_NOTIN:
		return "notin";
	case T_GT:
		return ">";
	case T_LT:
		return "<";
	default:
		return "EOS";
	}
}

static bool
valid_label_value(const char *v, char *err, size_t cap)
{
	kf_errs e = {0};
	json_t *m = json_object();
	json_object_set_new(m, "k", json_string(v));
	kf_validate_labels(m, "value", &e);
	json_decref(m);
	if (e.e_n > 0) {
		snprintf(err, cap,
		    "unable to parse requirement: values[0][%s]: %s", "value",
		    e.e_c[0].c_msg);
		kf_errs_fini(&e);
		return false;
	}
	return true;
}

static bool
valid_key(const char *k, char *err, size_t cap)
{
	kf_errs e = {0};
	kf_validate_qualified_name(k, "key", &e);
	if (e.e_n > 0) {
		snprintf(err, cap, "unable to parse requirement: %s: %s",
		    e.e_c[0].c_field, e.e_c[0].c_msg);
		kf_errs_fini(&e);
		return false;
	}
	return true;
}

static int
add_req(kf_selector *s, const char *key, int op)
{
	req *r = realloc(s->s_reqs, (s->s_n + 1) * sizeof(req));
	if (r == NULL) {
		return -1;
	}
	s->s_reqs = r;
	memset(&r[s->s_n], 0, sizeof(req));
	r[s->s_n].r_key = strdup(key);
	r[s->s_n].r_op  = op;
	s->s_n++;
	return 0;
}

static void
add_val(kf_selector *s, const char *v)
{
	req   *r  = &s->s_reqs[s->s_n - 1];
	char **vv = realloc(r->r_vals, (r->r_nvals + 1) * sizeof(char *));
	if (vv == NULL) {
		return;
	}
	r->r_vals               = vv;
	r->r_vals[r->r_nvals++] = strdup(v);
}

static const char *field_ok[] = {"metadata.name", "metadata.namespace",
    "spec.type", "spec.clusterIP", "involvedObject.kind",
    "involvedObject.name", "involvedObject.namespace", "involvedObject.uid",
    "reason", "type", "status.phase", NULL};

static kf_selector *
parse_fields(kf_selector *s, const char *str, char *err, size_t cap)
{
	const char *p = str;
	while (*p) {
		const char *end  = strchr(p, ',');
		size_t      n    = end ? (size_t) (end - p) : strlen(p);
		char       *part = strndup(p, n);
		char       *op   = strstr(part, "!=");
		int         o    = OP_NE;
		size_t      skip = 2;
		if (op == NULL) {
			op   = strstr(part, "==");
			o    = OP_EQ;
			skip = 2;
		}
		if (op == NULL) {
			op   = strchr(part, '=');
			o    = OP_EQ;
			skip = 1;
		}
		if (op == NULL) {
			snprintf(err, cap,
			    "invalid selector: '%s'; can't understand '%s'",
			    str, part);
			free(part);
			kf_selector_free(s);
			return NULL;
		}
		*op        = '\0';
		bool known = false;
		for (int i = 0; field_ok[i]; i++) {
			if (strcmp(field_ok[i], part) == 0) {
				known = true;
			}
		}
		if (!known) {
			snprintf(
			    err, cap, "field label not supported: %s", part);
			free(part);
			kf_selector_free(s);
			return NULL;
		}
		add_req(s, part, o);
		add_val(s, op + skip);
		free(part);
		if (end == NULL) {
			break;
		}
		p = end + 1;
	}
	return s;
}

kf_selector *
kf_selector_parse(const char *str, bool fields, char *err, size_t cap)
{
	kf_selector *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	s->s_fields = fields;
	if (str == NULL || *str == '\0') {
		return s;
	}
	if (fields) {
		return parse_fields(s, str, err, cap);
	}
	lex l = {str, ""};
	for (;;) {
		int  t   = next_tok(&l);
		bool neg = false;
		if (t == T_NOT) {
			neg = true;
			t   = next_tok(&l);
		}
		if (t != T_ID) {
			snprintf(err, cap,
			    "unable to parse requirement: found '%s', "
			    "expected: "
			    "identifier",
			    tok_name(t, &l));
			goto fail;
		}
		char key[512];
		snprintf(key, sizeof(key), "%s", l.l_id);
		if (!valid_key(key, err, cap)) {
			goto fail;
		}
		if (neg) {
			add_req(s, key, OP_NOTEXISTS);
		} else {
			int p = peek_tok(&l);
			if (p == T_COMMA || p == T_END) {
				add_req(s, key, OP_EXISTS);
			} else {
				int op = next_tok(&l);
				switch (op) {
				case T_EQ:
				case T_DEQ:
				case T_NE:
				case T_GT:
				case T_LT: {
					int o = op == T_NE ? OP_NE
					    : op == T_GT   ? OP_GT
					    : op == T_LT   ? OP_LT
					                   : OP_EQ;
					add_req(s, key, o);
					int v = peek_tok(&l);
					if (v == T_COMMA || v == T_END) {
						add_val(s,
						    ""); // "a=" matches empty
						break;
					}
					v = next_tok(&l);
					if (v != T_ID && v != T_IN
					    && v != T_NOTIN) {
						snprintf(err, cap,
						    "unable to parse "
						    "requirement: found "
						    "'%s', expected: "
						    "identifier",
						    tok_name(v, &l));
						goto fail;
					}
					if ((o == OP_GT || o == OP_LT)
					    && strspn(l.l_id, "0123456789-")
					        != strlen(l.l_id)) {
						snprintf(err, cap,
						    "unable to parse "
						    "requirement: for "
						    "'Gt', 'Lt' operators, "
						    "the value "
						    "must be an integer");
						goto fail;
					}
					if (!valid_label_value(
					        l.l_id, err, cap)) {
						goto fail;
					}
					add_val(s, l.l_id);
					break;
				}
				case T_IN:
				case T_NOTIN: {
					add_req(s, key,
					    op == T_IN ? OP_IN : OP_NOTIN);
					if (next_tok(&l) != T_OPEN) {
						snprintf(err, cap,
						    "unable to parse "
						    "requirement: found "
						    "'%s', expected: '('",
						    tok_name(T_ID, &l));
						goto fail;
					}
					for (;;) {
						int v = next_tok(&l);
						if (v == T_CLOSE) {
							break;
						}
						if (v == T_COMMA) {
							continue;
						}
						if (v != T_ID) {
							snprintf(err, cap,
							    "unable to parse "
							    "requirement: "
							    "found '%s', "
							    "expected: ',', "
							    "')' "
							    "or identifier",
							    tok_name(v, &l));
							goto fail;
						}
						if (!valid_label_value(
						        l.l_id, err, cap)) {
							goto fail;
						}
						add_val(s, l.l_id);
					}
					break;
				}
				default:
					snprintf(err, cap,
					    "unable to parse requirement: "
					    "found '%s', "
					    "expected: in, notin, =, ==, !=, "
					    "gt, lt",
					    tok_name(op, &l));
					goto fail;
				}
			}
		}
		t = next_tok(&l);
		if (t == T_END) {
			break;
		}
		if (t != T_COMMA) {
			snprintf(err, cap,
			    "found '%s', expected: ',' or 'end of string'",
			    tok_name(t, &l));
			goto fail;
		}
	}
	return s;
fail:
	kf_selector_free(s);
	return NULL;
}

static const char *
field_value(json_t *obj, const char *path)
{
	const char *v = kf_jstr(obj, path);
	return v ? v : "";
}

bool
kf_selector_match(const kf_selector *sel, json_t *obj)
{
	if (sel == NULL) {
		return true;
	}
	for (size_t i = 0; i < sel->s_n; i++) {
		const req  *r = &sel->s_reqs[i];
		const char *v;
		bool        has;
		if (sel->s_fields) {
			v   = field_value(obj, r->r_key);
			has = true;
		} else {
			json_t *lv = json_is_object(obj)
			    ? json_object_get(obj, r->r_key)
			    : NULL;
			has        = json_is_string(lv);
			v          = has ? json_string_value(lv) : NULL;
		}
		bool in = false;
		for (size_t j = 0; has && j < r->r_nvals; j++) {
			if (strcmp(r->r_vals[j], v) == 0) {
				in = true;
			}
		}
		switch (r->r_op) {
		case OP_EQ:
		case OP_IN:
			if (!has || !in) {
				return false;
			}
			break;
		case OP_NE:
		case OP_NOTIN:
			if (has && in) {
				return false;
			}
			break;
		case OP_EXISTS:
			if (!has) {
				return false;
			}
			break;
		case OP_NOTEXISTS:
			if (has) {
				return false;
			}
			break;
		case OP_GT:
		case OP_LT: {
			if (!has || r->r_nvals == 0) {
				return false;
			}
			char     *end;
			long long a = strtoll(v, &end, 10);
			if (*end != '\0' || *v == '\0') {
				return false;
			}
			long long b = strtoll(r->r_vals[0], NULL, 10);
			if (r->r_op == OP_GT ? !(a > b) : !(a < b)) {
				return false;
			}
			break;
		}
		}
	}
	return true;
}
