// kf_tree.c: an ordered string-keyed map (AVL tree). Lookups and updates
// are O(log n); kf_tree_walk visits keys in order from any point, which is
// what lists with a continue token need.
#include <stdlib.h>
#include <string.h>

#include "kf.h"

typedef struct tnode {
	char         *t_key;
	void         *t_val;
	struct tnode *t_l, *t_r;
	int           t_h;
} tnode;

struct kf_tree {
	tnode *tr_root;
	size_t tr_n;
};

kf_tree *
kf_tree_new(void)
{
	return calloc(1, sizeof(kf_tree));
}

static void
free_nodes(tnode *n, void (*freeval)(void *))
{
	if (n == NULL) {
		return;
	}
	free_nodes(n->t_l, freeval);
	free_nodes(n->t_r, freeval);
	if (freeval) {
		freeval(n->t_val);
	}
	free(n->t_key);
	free(n);
}

void
kf_tree_free(kf_tree *t, void (*freeval)(void *))
{
	if (t == NULL) {
		return;
	}
	free_nodes(t->tr_root, freeval);
	free(t);
}

static int
height(const tnode *n)
{
	return n ? n->t_h : 0;
}

static void
fix(tnode *n)
{
	int l = height(n->t_l), r = height(n->t_r);
	n->t_h = (l > r ? l : r) + 1;
}

static tnode *
rot_right(tnode *n)
{
	tnode *l = n->t_l;
	n->t_l   = l->t_r;
	l->t_r   = n;
	fix(n);
	fix(l);
	return l;
}

static tnode *
rot_left(tnode *n)
{
	tnode *r = n->t_r;
	n->t_r   = r->t_l;
	r->t_l   = n;
	fix(n);
	fix(r);
	return r;
}

static tnode *
balance(tnode *n)
{
	fix(n);
	int b = height(n->t_l) - height(n->t_r);
	if (b > 1) {
		if (height(n->t_l->t_l) < height(n->t_l->t_r)) {
			n->t_l = rot_left(n->t_l);
		}
		return rot_right(n);
	}
	if (b < -1) {
		if (height(n->t_r->t_r) < height(n->t_r->t_l)) {
			n->t_r = rot_right(n->t_r);
		}
		return rot_left(n);
	}
	return n;
}

void *
kf_tree_get(const kf_tree *t, const char *key)
{
	const tnode *n = t->tr_root;
	while (n != NULL) {
		int c = strcmp(key, n->t_key);
		if (c == 0) {
			return n->t_val;
		}
		n = c < 0 ? n->t_l : n->t_r;
	}
	return NULL;
}

static tnode *
insert(kf_tree *t, tnode *n, const char *key, void *val, void **old)
{
	if (n == NULL) {
		tnode *m = calloc(1, sizeof(*m));
		if (m == NULL) {
			return NULL;
		}
		m->t_key = strdup(key);
		m->t_val = val;
		m->t_h   = 1;
		t->tr_n++;
		return m;
	}
	int c = strcmp(key, n->t_key);
	if (c == 0) {
		*old     = n->t_val;
		n->t_val = val;
		return n;
	}
	if (c < 0) {
		n->t_l = insert(t, n->t_l, key, val, old);
	} else {
		n->t_r = insert(t, n->t_r, key, val, old);
	}
	return balance(n);
}

void *
kf_tree_put(kf_tree *t, const char *key, void *val)
{
	void *old  = NULL;
	t->tr_root = insert(t, t->tr_root, key, val, &old);
	return old;
}

static tnode *
take_min(tnode *n, tnode **min)
{
	if (n->t_l == NULL) {
		*min = n;
		return n->t_r;
	}
	n->t_l = take_min(n->t_l, min);
	return balance(n);
}

static tnode *delete (kf_tree *t, tnode *n, const char *key, void **old)
{
	if (n == NULL) {
		return NULL;
	}
	int c = strcmp(key, n->t_key);
	if (c < 0) {
		n->t_l = delete (t, n->t_l, key, old);
	} else if (c > 0) {
		n->t_r = delete (t, n->t_r, key, old);
	} else {
		*old     = n->t_val;
		tnode *l = n->t_l, *r = n->t_r;
		free(n->t_key);
		free(n);
		t->tr_n--;
		if (r == NULL) {
			return l;
		}
		tnode *min;
		r        = take_min(r, &min);
		min->t_l = l;
		min->t_r = r;
		return balance(min);
	}
	return balance(n);
}

void *
kf_tree_del(kf_tree *t, const char *key)
{
	void *old  = NULL;
	t->tr_root = delete (t, t->tr_root, key, &old);
	return old;
}

size_t
kf_tree_count(const kf_tree *t)
{
	return t->tr_n;
}

typedef struct walkctx {
	const char *w_after;
	const char *w_prefix;
	size_t      w_plen;
	int (*w_fn)(void *, const char *, void *);
	void *w_arg;
	bool  w_stop;
} walkctx;

// walk visits n's subtree in order, skipping subtrees wholly <= after or
// outside the prefix range.
static void
walk(const tnode *n, walkctx *w)
{
	if (n == NULL || w->w_stop) {
		return;
	}
	int ca = w->w_after ? strcmp(n->t_key, w->w_after) : 1;
	int cp = w->w_prefix ? strncmp(n->t_key, w->w_prefix, w->w_plen) : 0;
	if (ca > 0 && cp >= 0) {
		walk(n->t_l, w);
	}
	if (w->w_stop) {
		return;
	}
	if (ca > 0 && cp == 0) {
		if (w->w_fn(w->w_arg, n->t_key, n->t_val) != 0) {
			w->w_stop = true;
			return;
		}
	}
	if (cp <= 0) {
		walk(n->t_r, w);
	}
}

void
kf_tree_walk(const kf_tree *t, const char *after, const char *prefix,
    int (*fn)(void *arg, const char *key, void *val), void *arg)
{
	walkctx w
	    = {after, prefix, prefix ? strlen(prefix) : 0, fn, arg, false};
	walk(t->tr_root, &w);
}
