// selector.c: Kubernetes label selectors (apimachinery labels/selector.go).
//
// Grammar, whitespace allowed between tokens:
//   selector    = "" | requirement ("," requirement)*
//   requirement = ["!"] KEY
//               | KEY ("=" | "==" | "!=") VALUE
//               | KEY ("in" | "notin") "(" [VALUE ("," VALUE)*] ")"
//               | KEY (">" | "<") INTEGER
// KEY must be a qualified name and VALUE a label value (rules 10-11).
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum sel_op {
	OP_EQ,
	OP_NE,
	OP_IN,
	OP_NOTIN,
	OP_EXISTS,
	OP_NOT_EXISTS,
	OP_GT,
	OP_LT,
};

typedef struct sel_req {
	char       *r_key;
	enum sel_op r_op;
	char      **r_vals;
	size_t      r_nvals;
} sel_req;

struct sf_selector {
	sel_req *s_reqs;
	size_t   s_nreqs;
};

enum tok {
	T_END,
	T_IDENT,
	T_COMMA,
	T_EQ,     // =
	T_DEQ,    // ==
	T_NEQ,    // !=
	T_BANG,   // !
	T_LPAREN, // (
	T_RPAREN, // )
	T_IN,
	T_NOTIN,
	T_GT,
	T_LT,
};

typedef struct lexer {
	const char *l_s;
	size_t      l_pos;
	enum tok    l_tok;
	char       *l_text; // the token's text (malloc'd)
	int         l_oom;
} lexer;

static bool
is_special(char c)
{
	return (c == ',' || c == '=' || c == '!' || c == '(' || c == ')'
	    || c == '<' || c == '>' || isspace((unsigned char) c));
}

static void
lex(lexer *l)
{
	const char *s = l->l_s;
	size_t      start;

	free(l->l_text);
	l->l_text = NULL;
	while (isspace((unsigned char) s[l->l_pos])) {
		l->l_pos++;
	}
	start = l->l_pos;
	switch (s[l->l_pos]) {
	case '\0':
		l->l_tok = T_END;
		break;
	case ',':
		l->l_tok = T_COMMA;
		l->l_pos++;
		break;
	case '(':
		l->l_tok = T_LPAREN;
		l->l_pos++;
		break;
	case ')':
		l->l_tok = T_RPAREN;
		l->l_pos++;
		break;
	case '<':
		l->l_tok = T_LT;
		l->l_pos++;
		break;
	case '>':
		l->l_tok = T_GT;
		l->l_pos++;
		break;
	case '=':
		l->l_pos++;
		l->l_tok = T_EQ;
		if (s[l->l_pos] == '=') {
			l->l_pos++;
			l->l_tok = T_DEQ;
		}
		break;
	case '!':
		l->l_pos++;
		l->l_tok = T_BANG;
		if (s[l->l_pos] == '=') {
			l->l_pos++;
			l->l_tok = T_NEQ;
		}
		break;
	default:
		while (s[l->l_pos] != '\0' && !is_special(s[l->l_pos])) {
			l->l_pos++;
		}
		l->l_tok = T_IDENT;
		break;
	}
	l->l_text = strndup(s + start, l->l_pos - start);
	if (l->l_text == NULL) {
		l->l_oom = 1;
		l->l_tok = T_END;
		return;
	}
	if (l->l_tok == T_IDENT && strcmp(l->l_text, "in") == 0) {
		l->l_tok = T_IN;
	} else if (l->l_tok == T_IDENT && strcmp(l->l_text, "notin") == 0) {
		l->l_tok = T_NOTIN;
	}
}

static const char *
tok_text(const lexer *l)
{
	return (l->l_tok == T_END ? "end of string" : l->l_text);
}

static void
req_free(sel_req *r)
{
	free(r->r_key);
	for (size_t i = 0; i < r->r_nvals; i++) {
		free(r->r_vals[i]);
	}
	free(r->r_vals);
}

void
sf_selector_free(sf_selector *sel)
{
	if (sel == NULL) {
		return;
	}
	for (size_t i = 0; i < sel->s_nreqs; i++) {
		req_free(&sel->s_reqs[i]);
	}
	free(sel->s_reqs);
	free(sel);
}

static int
add_value(sel_req *r, const char *v)
{
	char **nv = realloc(r->r_vals, (r->r_nvals + 1) * sizeof(*nv));
	if (nv == NULL) {
		return (-1);
	}
	r->r_vals = nv;
	if ((nv[r->r_nvals] = strdup(v)) == NULL) {
		return (-1);
	}
	r->r_nvals++;
	return (0);
}

typedef struct perr {
	char p_msg[384];
} perr;

#define FAIL(e, ...)                                                   \
	do {                                                           \
		snprintf((e)->p_msg, sizeof((e)->p_msg), __VA_ARGS__); \
		return (-1);                                           \
	} while (0)

static int
check_key(const char *key, perr *e)
{
	const char *msgs[SF__MODEL_MSGS_MAX];

	if (sf__model_qualified_name(key, msgs) > 0) {
		FAIL(e, "invalid label key \"%s\": %s", key, msgs[0]);
	}
	return (0);
}

static int
check_value(const char *key, const char *val, perr *e)
{
	const char *msgs[SF__MODEL_MSGS_MAX];

	if (sf__model_label_value(val, msgs) > 0) {
		FAIL(e, "invalid label value \"%s\" for key \"%s\": %s", val,
		    key, msgs[0]);
	}
	return (0);
}

// parse_values reads "(" [v ("," v)*] ")" after in/notin.
static int
parse_values(lexer *l, sel_req *r, perr *e)
{
	lex(l);
	if (l->l_tok != T_LPAREN) {
		FAIL(e, "found '%s', expected: '(' after '%s'", tok_text(l),
		    r->r_op == OP_IN ? "in" : "notin");
	}
	lex(l);
	if (l->l_tok == T_RPAREN) {
		FAIL(e, "values for '%s' on key \"%s\" may not be empty",
		    r->r_op == OP_IN ? "in" : "notin", r->r_key);
	}
	for (;;) {
		// An empty value between commas is the empty label value.
		if (l->l_tok == T_IDENT) {
			if (check_value(r->r_key, l->l_text, e) != 0) {
				return (-1);
			}
			if (add_value(r, l->l_text) != 0) {
				FAIL(e, "out of memory");
			}
			lex(l);
		} else if (l->l_tok == T_COMMA || l->l_tok == T_RPAREN) {
			if (add_value(r, "") != 0) {
				FAIL(e, "out of memory");
			}
		} else {
			FAIL(e, "found '%s', expected: a value, ',' or ')'",
			    tok_text(l));
		}
		if (l->l_tok == T_RPAREN) {
			return (0);
		}
		if (l->l_tok != T_COMMA) {
			FAIL(e, "found '%s', expected: ',' or ')'",
			    tok_text(l));
		}
		lex(l);
	}
}

static bool
parse_int(const char *s, long long *v)
{
	char *end;

	if (s == NULL || *s == '\0') {
		return (false);
	}
	errno = 0;
	*v    = strtoll(s, &end, 10);
	return (errno == 0 && *end == '\0');
}

static int
parse_req(lexer *l, sel_req *r, perr *e)
{
	long long v;

	if (l->l_tok == T_BANG) {
		lex(l);
		if (l->l_tok != T_IDENT) {
			FAIL(e, "found '%s', expected: a key after '!'",
			    tok_text(l));
		}
		if ((r->r_key = strdup(l->l_text)) == NULL) {
			FAIL(e, "out of memory");
		}
		r->r_op = OP_NOT_EXISTS;
		lex(l);
		return (check_key(r->r_key, e));
	}
	if (l->l_tok != T_IDENT) {
		FAIL(e, "found '%s', expected: '!' or a key", tok_text(l));
	}
	if ((r->r_key = strdup(l->l_text)) == NULL) {
		FAIL(e, "out of memory");
	}
	if (check_key(r->r_key, e) != 0) {
		return (-1);
	}
	lex(l);
	switch (l->l_tok) {
	case T_END:
	case T_COMMA:
		r->r_op = OP_EXISTS;
		return (0);
	case T_EQ:
	case T_DEQ:
	case T_NEQ:
		r->r_op = l->l_tok == T_NEQ ? OP_NE : OP_EQ;
		lex(l);
		if (l->l_tok == T_END || l->l_tok == T_COMMA) {
			// "a=" selects the empty value.
			if (add_value(r, "") != 0) {
				FAIL(e, "out of memory");
			}
			return (0);
		}
		if (l->l_tok != T_IDENT) {
			FAIL(e, "found '%s', expected: a value for key \"%s\"",
			    tok_text(l), r->r_key);
		}
		if (check_value(r->r_key, l->l_text, e) != 0) {
			return (-1);
		}
		if (add_value(r, l->l_text) != 0) {
			FAIL(e, "out of memory");
		}
		lex(l);
		return (0);
	case T_IN:
	case T_NOTIN:
		r->r_op = l->l_tok == T_IN ? OP_IN : OP_NOTIN;
		if (parse_values(l, r, e) != 0) {
			return (-1);
		}
		lex(l);
		return (0);
	case T_GT:
	case T_LT:
		r->r_op = l->l_tok == T_GT ? OP_GT : OP_LT;
		lex(l);
		if (l->l_tok != T_IDENT || !parse_int(l->l_text, &v)) {
			FAIL(e,
			    "found '%s', expected: an integer after '%s' for "
			    "key \"%s\"",
			    tok_text(l), r->r_op == OP_GT ? ">" : "<",
			    r->r_key);
		}
		if (add_value(r, l->l_text) != 0) {
			FAIL(e, "out of memory");
		}
		lex(l);
		return (0);
	default:
		FAIL(e,
		    "found '%s', expected: in, notin, =, ==, !=, >, < or ',' "
		    "after key \"%s\"",
		    tok_text(l), r->r_key);
	}
}

int
sf_selector_parse(const char *text, sf_selector **out, sf_status *st)
{
	lexer        l   = {sf_nz(text), 0, T_END, NULL, 0};
	sf_selector *sel = calloc(1, sizeof(*sel));
	perr         e   = {{0}};

	*out = NULL;
	if (sel == NULL) {
		return (
		    sf_status_set(st, SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	lex(&l);
	while (l.l_tok != T_END) {
		sel_req *nr
		    = realloc(sel->s_reqs, (sel->s_nreqs + 1) * sizeof(*nr));
		if (nr == NULL) {
			l.l_oom = 1;
			break;
		}
		sel->s_reqs = nr;
		memset(&nr[sel->s_nreqs], 0, sizeof(*nr));
		sel->s_nreqs++;
		if (parse_req(&l, &nr[sel->s_nreqs - 1], &e) != 0) {
			break;
		}
		if (l.l_tok == T_COMMA) {
			lex(&l);
			if (l.l_tok == T_END) {
				snprintf(e.p_msg, sizeof(e.p_msg),
				    "found 'end of string', expected: a "
				    "requirement after ','");
				break;
			}
		} else if (l.l_tok != T_END) {
			snprintf(e.p_msg, sizeof(e.p_msg),
			    "found '%s', expected: ',' or 'end of string'",
			    tok_text(&l));
			break;
		}
	}
	free(l.l_text);
	if (l.l_oom || strcmp(e.p_msg, "out of memory") == 0) {
		sf_selector_free(sel);
		return (
		    sf_status_set(st, SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	if (e.p_msg[0] != '\0') {
		sf_selector_free(sel);
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "unable to parse label selector \"%s\": %s", sf_nz(text),
		    e.p_msg));
	}
	*out = sel;
	return (0);
}

static bool
req_matches(const sel_req *r, sf_kv *const *labels, size_t n)
{
	const char *v = sf_model_kv_get(labels, n, r->r_key);
	long long   lv, rv;

	switch (r->r_op) {
	case OP_EXISTS:
		return (v != NULL);
	case OP_NOT_EXISTS:
		return (v == NULL);
	case OP_EQ:
		return (v != NULL && strcmp(v, r->r_vals[0]) == 0);
	case OP_NE:
		return (v == NULL || strcmp(v, r->r_vals[0]) != 0);
	case OP_IN:
	case OP_NOTIN: {
		bool in = false;
		for (size_t i = 0; v != NULL && i < r->r_nvals && !in; i++) {
			in = strcmp(v, r->r_vals[i]) == 0;
		}
		return (r->r_op == OP_IN ? in : !in);
	}
	case OP_GT:
	case OP_LT:
		if (v == NULL || !parse_int(v, &lv)
		    || !parse_int(r->r_vals[0], &rv)) {
			return (false);
		}
		return (r->r_op == OP_GT ? lv > rv : lv < rv);
	}
	return (false);
}

bool
sf_selector_matches(const sf_selector *sel, sf_kv *const *labels, size_t n)
{
	if (sel == NULL) {
		return (true);
	}
	for (size_t i = 0; i < sel->s_nreqs; i++) {
		if (!req_matches(&sel->s_reqs[i], labels, n)) {
			return (false);
		}
	}
	return (true);
}
