// kf_list.c: get-many — continue tokens, list with consistent snapshots,
// and opening watches (kube-apiserver's handlers/get.go and watch.go).
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"
#include "kf_rest.h"
#include "log.h"

// ---- continue tokens -------------------------------------------------------

static char *
b64url(const char *s)
{
	size_t n   = strlen(s);
	char  *out = malloc(4 * ((n + 2) / 3) + 1);
	int    m   = EVP_EncodeBlock(
	         (unsigned char *) out, (const unsigned char *) s, (int) n);
	while (m > 0 && out[m - 1] == '=') {
		m--;
	}
	out[m] = '\0';
	for (int i = 0; i < m; i++) {
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	}
	return out;
}

static char *
unb64url(const char *s)
{
	size_t n  = strlen(s);
	char  *in = malloc(n + 4);
	memcpy(in, s, n);
	for (size_t i = 0; i < n; i++) {
		in[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	}
	size_t pad = (4 - n % 4) % 4;
	for (size_t i = 0; i < pad; i++) {
		in[n + i] = '=';
	}
	in[n + pad]      = '\0';
	unsigned char *o = malloc(n + 4);
	int            m
	    = EVP_DecodeBlock(o, (const unsigned char *) in, (int) (n + pad));
	free(in);
	if (m < 0 || pad > 2) {
		free(o);
		return NULL;
	}
	m -= (int) pad;
	o[m] = '\0';
	return (char *) o;
}

static char *
encode_continue(long long rv, const char *start)
{
	json_t *j = json_pack("{s:s,s:I,s:s}", "v", "meta.k8s.io/v1", "rv",
	    (json_int_t) rv, "start", start);
	char   *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	char *t = b64url(s);
	free(s);
	return t;
}

// decode_continue returns 0 and rv/start (malloc'd), or -1.
static int
decode_continue(const char *tok, long long *rv, char **start)
{
	char *s = unb64url(tok);
	if (s == NULL) {
		return -1;
	}
	json_error_t je;
	json_t      *j = json_loads(s, 0, &je);
	free(s);
	const char *v  = kf_jstr(j, "v");
	const char *st = kf_jstr(j, "start");
	json_t     *r  = json_object_get(j, "rv");
	if (v == NULL || strcmp(v, "meta.k8s.io/v1") != 0 || st == NULL
	    || !json_is_integer(r)) {
		json_decref(j);
		return -1;
	}
	*rv    = json_integer_value(r);
	*start = strdup(st);
	json_decref(j);
	return 0;
}

// ---- list ------------------------------------------------------------------

typedef struct listctx {
	const kf_selector *l_labels;
	const kf_selector *l_fields;
	size_t             l_limit; // 0: all
	kf_obj           **l_v;
	size_t             l_n;
	size_t             l_cap;
	bool               l_more;
	char               l_last[512];
	// Overlay of the state at an older resourceVersion: sorted keys with
	// the object they had then (NULL: absent).
	char   **l_okeys;
	kf_obj **l_ovals;
	size_t   l_on;
	size_t   l_oi;
} listctx;

static int
list_take(listctx *c, const char *key, kf_obj *o)
{
	if (o == NULL) {
		return 0;
	}
	json_t *j = o->o_json;
	if (!kf_selector_match(c->l_labels, kf_jget(j, "metadata.labels"))
	    || !kf_selector_match(c->l_fields, j)) {
		return 0;
	}
	if (c->l_limit && c->l_n == c->l_limit) {
		c->l_more = true;
		return 1;
	}
	if (c->l_n == c->l_cap) {
		c->l_cap    = c->l_cap ? c->l_cap * 2 : 64;
		kf_obj **nv = realloc(c->l_v, c->l_cap * sizeof(*nv));
		if (nv == NULL) {
			return 1;
		}
		c->l_v = nv;
	}
	c->l_v[c->l_n++] = kf_obj_ref(o);
	snprintf(c->l_last, sizeof(c->l_last), "%s", key);
	return 0;
}

static int
list_cb(void *arg, const char *key, void *val)
{
	listctx *c = arg;
	// Overlay keys that sort before this one existed only in the past.
	while (c->l_oi < c->l_on && strcmp(c->l_okeys[c->l_oi], key) < 0) {
		if (list_take(c, c->l_okeys[c->l_oi], c->l_ovals[c->l_oi])) {
			return 1;
		}
		c->l_oi++;
	}
	if (c->l_oi < c->l_on && strcmp(c->l_okeys[c->l_oi], key) == 0) {
		kf_obj *o = c->l_ovals[c->l_oi++];
		return list_take(c, key, o);
	}
	return list_take(c, key, val);
}

typedef struct ov {
	char   *ov_key;
	kf_obj *ov_val;
} ov;

static int
ov_cmp(const void *a, const void *b)
{
	return strcmp(((const ov *) a)->ov_key, ((const ov *) b)->ov_key);
}

static const char *
obj_key(int res, json_t *o, char *buf, size_t cap)
{
	return kf_key(res, kf_jstr(o, "metadata.namespace"),
	    kf_jstr(o, "metadata.name"), buf, cap);
}

// build_overlay records, for each key changed after rv, its state at rv.
static void
build_overlay(
    listctx *c, int res, uint64_t rv, const char *prefix, const char *after)
{
	kf_state *st = &kf_st;
	ov       *v  = NULL;
	size_t    n = 0, cap = 0;
	for (uint64_t r = st->st_rv; r > rv && r >= st->st_hfirst; r--) {
		kf_event *ev = &st->st_hist[r % st->st_hcap];
		if (ev->ev_res != res) {
			continue;
		}
		char        kb[512];
		const char *key
		    = obj_key(res, ev->ev_new->o_json, kb, sizeof(kb));
		if ((prefix && strncmp(key, prefix, strlen(prefix)) != 0)
		    || (after && strcmp(key, after) <= 0)) {
			continue;
		}
		size_t i;
		for (i = 0; i < n; i++) {
			if (strcmp(v[i].ov_key, key) == 0) {
				break;
			}
		}
		if (i == n) {
			if (n == cap) {
				cap    = cap ? cap * 2 : 16;
				ov *nv = realloc(v, cap * sizeof(*nv));
				if (nv == NULL) {
					break;
				}
				v = nv;
			}
			v[n].ov_key = strdup(key);
			v[n].ov_val = NULL;
			n++;
		}
		// Walking backwards, the oldest change's "before" wins.
		v[i].ov_val = ev->ev_old;
	}
	qsort(v, n, sizeof(ov), ov_cmp);
	c->l_on    = n;
	c->l_okeys = calloc(n + 1, sizeof(char *));
	c->l_ovals = calloc(n + 1, sizeof(kf_obj *));
	for (size_t i = 0; i < n; i++) {
		c->l_okeys[i] = v[i].ov_key;
		c->l_ovals[i] = v[i].ov_val;
	}
	free(v);
}

static void
list_fini(listctx *c)
{
	for (size_t i = 0; i < c->l_n; i++) {
		kf_obj_unref(c->l_v[i]);
	}
	free(c->l_v);
	for (size_t i = 0; i < c->l_on; i++) {
		free(c->l_okeys[i]);
	}
	free(c->l_okeys);
	free(c->l_ovals);
}

static void
expired_continue(kf_resp *r, const char *start)
{
	char   *tok = encode_continue(-1, start);
	json_t *j   = json_object();
	json_object_set_new(j, "kind", json_string("Status"));
	json_object_set_new(j, "apiVersion", json_string("v1"));
	json_object_set_new(
	    j, "metadata", json_pack("{s:s}", "continue", tok));
	json_object_set_new(j, "status", json_string("Failure"));
	json_object_set_new(j, "message",
	    json_string(
	        "The provided continue parameter is too old to display a "
	        "consistent list result. You can start a new list "
	        "without the continue parameter, or use the continue "
	        "token in this response to retrieve the remainder of the "
	        "results. Continuing with the provided token results in "
	        "an inconsistent list - objects that were created, "
	        "modified, or deleted between the time the first chunk "
	        "was returned and now may show up in the list."));
	json_object_set_new(j, "reason", json_string("Expired"));
	json_object_set_new(j, "code", json_integer(410));
	free(tok);
	kf_resp_json(r, 410, j);
}

void
kf__handle_list(kf_req *q, kf_resp *r, int res, const char *ns)
{
	const kf_resource *rs = &kf_resources[res];
	char               err[512];
	kf_selector       *ls = kf_selector_parse(
	          kf_query(q, "labelSelector"), false, err, sizeof(err));
	if (ls == NULL) {
		kf_status_badrequest(r, "%s", err);
		return;
	}
	kf_selector *fs = kf_selector_parse(
	    kf_query(q, "fieldSelector"), true, err, sizeof(err));
	if (fs == NULL) {
		kf_selector_free(ls);
		kf_status_badrequest(r, "%s", err);
		return;
	}
	listctx c;
	memset(&c, 0, sizeof(c));
	c.l_labels       = ls;
	c.l_fields       = fs;
	const char *lim  = kf_query(q, "limit");
	const char *cont = kf_query(q, "continue");
	const char *rvq  = kf_query(q, "resourceVersion");
	const char *rvm  = kf_query(q, "resourceVersionMatch");
	if (lim && *lim) {
		long l    = strtol(lim, NULL, 10);
		c.l_limit = l > 0 ? (size_t) l : 0;
	}
	char prefix[300];
	snprintf(prefix, sizeof(prefix), "%s/", ns ? ns : "");
	const char *pfx   = ns && rs->rs_namespaced ? prefix : NULL;
	char       *start = NULL;
	long long   crv   = 0;
	if (cont && *cont) {
		if (rvq && *rvq && strcmp(rvq, "0") != 0) {
			kf_status_badrequest(r,
			    "specifying resource version is not "
			    "allowed when using continue");
			goto out;
		}
		if (decode_continue(cont, &crv, &start) != 0) {
			kf_status_badrequest(r,
			    "continue key is not valid: invalid "
			    "continue token");
			goto out;
		}
	}
	kf_state *st = &kf_st;
	pthread_mutex_lock(&st->st_mu);
	uint64_t snap = st->st_rv;
	if (cont && *cont && crv >= 0) {
		if ((uint64_t) crv + 1 < st->st_hfirst) {
			pthread_mutex_unlock(&st->st_mu);
			expired_continue(r, start);
			goto out;
		}
		snap = (uint64_t) crv;
	} else if (rvm && strcmp(rvm, "Exact") == 0 && rvq && *rvq) {
		unsigned long long want = strtoull(rvq, NULL, 10);
		if (want + 1 < st->st_hfirst) {
			pthread_mutex_unlock(&st->st_mu);
			kf_status(r, 410, "Expired", NULL,
			    "too old resource version: %llu (%llu)", want,
			    (unsigned long long) st->st_hfirst - 1);
			goto out;
		}
		snap = want < st->st_rv ? want : st->st_rv;
	}
	// A continue token's start is the last key plus NUL; walk after it.
	char after[512] = "";
	if (start) {
		snprintf(after, sizeof(after), "%s", start);
	}
	if (snap < st->st_rv) {
		build_overlay(&c, res, snap, pfx, *after ? after : NULL);
	}
	kf_tree_walk(
	    st->st_objs[res], *after ? after : NULL, pfx, list_cb, &c);
	while (!c.l_more && c.l_oi < c.l_on) {
		if (list_take(&c, c.l_okeys[c.l_oi], c.l_ovals[c.l_oi])) {
			break;
		}
		c.l_oi++;
	}
	pthread_mutex_unlock(&st->st_mu);

	char rvs[32];
	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long) snap);
	char *next = NULL;
	if (c.l_more) {
		next = encode_continue((long long) snap, c.l_last);
	}
	if (kf_table_wanted(q->q_accept)) {
		kf_resp_json(
		    r, 200, kf_table_new(res, c.l_v, c.l_n, rvs, next, true));
	} else {
		sf_buf b = SF_BUF_INIT;
		sf_buf_printf(&b,
		    "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{"
		    "\"resourceVersion\":\"%s\"",
		    rs->rs_kind, rs->rs_apiversion, rvs);
		if (next) {
			sf_buf_printf(&b, ",\"continue\":\"%s\"", next);
		}
		sf_buf_puts(&b, "},\"items\":[");
		for (size_t i = 0; i < c.l_n; i++) {
			kf_obj *o = c.l_v[i];
			if (i) {
				sf_buf_putc(&b, ',');
			}
			if (o->o_items_off) {
				sf_buf_putc(&b, '{');
				sf_buf_put(&b, o->o_text + o->o_items_off,
				    o->o_len - o->o_items_off);
			} else {
				sf_buf_put(&b, o->o_text, o->o_len);
			}
		}
		sf_buf_puts(&b, "]}");
		r->r_code = 200;
		r->r_len  = b.b_len;
		r->r_body = sf_buf_take(&b);
	}
	free(next);
out:
	free(start);
	list_fini(&c);
	kf_selector_free(ls);
	kf_selector_free(fs);
}

// ---- watch -----------------------------------------------------------------

int
kf__handle_watch(kf_req *q, kf_resp *r, int res, const char *ns)
{
	char          err[512];
	kf_watch_opts o;
	memset(&o, 0, sizeof(o));
	o.wo_res    = res;
	o.wo_labels = kf_selector_parse(
	    kf_query(q, "labelSelector"), false, err, sizeof(err));
	if (o.wo_labels == NULL) {
		kf_status_badrequest(r, "%s", err);
		return 0;
	}
	o.wo_fields = kf_selector_parse(
	    kf_query(q, "fieldSelector"), true, err, sizeof(err));
	if (o.wo_fields == NULL) {
		kf_selector_free(o.wo_labels);
		kf_status_badrequest(r, "%s", err);
		return 0;
	}
	const char *rv = kf_query(q, "resourceVersion");
	if (rv && *rv && strspn(rv, "0123456789") != strlen(rv)) {
		kf_selector_free(o.wo_labels);
		kf_selector_free(o.wo_fields);
		kf_status_badrequest(r, "invalid resource version: %s", rv);
		return 0;
	}
	o.wo_ns = ns && kf_resources[res].rs_namespaced ? strdup(ns) : NULL;
	o.wo_initial   = rv == NULL || *rv == '\0' || strcmp(rv, "0") == 0;
	o.wo_from      = rv ? strtoull(rv, NULL, 10) : 0;
	o.wo_bookmarks = kf__is_true(kf_query(q, "allowWatchBookmarks"));
	if (kf__is_true(kf_query(q, "sendInitialEvents"))) {
		o.wo_initial     = true;
		o.wo_initial_end = o.wo_bookmarks;
	}
	o.wo_table     = kf_table_wanted(q->q_accept);
	const char *to = kf_query(q, "timeoutSeconds");
	o.wo_timeout_s = to ? atoi(to) : 0;
	if (kf_watch_open(q->q_conn, &o) != 1) {
		return 2;
	}
	return 1;
}
