// kf_api.c: the Kubernetes REST surface — routing, discovery, and the
// generic get / list / watch / create / update / patch / delete handlers,
// with the Service-specific steps delegated to kf_service.c.
//
// Order of checks follows the generic registry store (rule 50, 62-69):
// decode and default, field manager, allocation, validation, then storage
// (AlreadyExists and Conflict come from storage, after validation).
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"
#include "log.h"

// ---- small helpers -------------------------------------------------------

static bool
is_true(const char *v)
{
	return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static const char *
verb_name(int verb)
{
	static const char *names[] = {"get", "list", "watch", "create",
	    "update", "patch", "delete", "deletecollection", "other"};
	return names[verb];
}

// typed puts kind and apiVersion first, the way Go encodes TypeMeta.
static json_t *
typed(json_t *o, const kf_resource *rs)
{
	json_t *out = json_object();
	json_object_set_new(out, "kind", json_string(rs->rs_kind));
	json_object_set_new(out, "apiVersion", json_string(rs->rs_apiversion));
	const char *k;
	json_t     *v;
	json_object_foreach(o, k, v)
	{
		if (strcmp(k, "kind") != 0 && strcmp(k, "apiVersion") != 0) {
			json_object_set(out, k, v);
		}
	}
	json_decref(o);
	return out;
}

static const char *
manager_name(const kf_req *q, char *buf, size_t cap)
{
	const char *fm = kf_query(q, "fieldManager");
	if (fm && *fm) {
		snprintf(buf, cap, "%s", fm);
		return buf;
	}
	// managerOrUserAgent: the User-Agent up to its first '/'.
	const char *ua = q->q_agent && *q->q_agent ? q->q_agent : "unknown";
	size_t      n  = strcspn(ua, "/");
	if (n >= cap) {
		n = cap - 1;
	}
	memcpy(buf, ua, n);
	buf[n] = '\0';
	return buf;
}

static void
forbidden(kf_resp *r, const kf_req *q, const kf_resource *rs, int verb,
    const char *ns, const char *name, const char *sub)
{
	json_t *det = json_object();
	if (name && *name) {
		json_object_set_new(det, "name", json_string(name));
	}
	if (*rs->rs_group) {
		json_object_set_new(det, "group", json_string(rs->rs_group));
	}
	json_object_set_new(det, "kind", json_string(rs->rs_name));
	char what[256], scope[160], res[96];
	if (name && *name) {
		char *qn = kf_goquote(name);
		snprintf(what, sizeof(what), "%s %s", rs->rs_name, qn);
		free(qn);
	} else {
		snprintf(what, sizeof(what), "%s", rs->rs_name);
	}
	if (ns && *ns && rs->rs_namespaced) {
		snprintf(scope, sizeof(scope), "in the namespace \"%s\"", ns);
	} else {
		snprintf(scope, sizeof(scope), "at the cluster scope");
	}
	snprintf(res, sizeof(res), "%s%s%s", rs->rs_name, sub ? "/" : "",
	    sub ? sub : "");
	kf_status(r, 403, "Forbidden", det,
	    "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API "
	    "group \"%s\" %s",
	    what, q->q_user, verb_name(verb), res, rs->rs_group, scope);
}

static void
conflict(kf_resp *r, const kf_resource *rs, const char *name)
{
	json_t *det = json_object();
	json_object_set_new(det, "name", json_string(name));
	if (*rs->rs_group) {
		json_object_set_new(det, "group", json_string(rs->rs_group));
	}
	json_object_set_new(det, "kind", json_string(rs->rs_name));
	char *qn = kf_goquote(name);
	if (*rs->rs_group) {
		kf_status(r, 409, "Conflict", det,
		    "Operation cannot be fulfilled on %s.%s %s: the object "
		    "has been "
		    "modified; please apply your changes to the latest "
		    "version and "
		    "try again",
		    rs->rs_name, rs->rs_group, qn);
	} else {
		kf_status(r, 409, "Conflict", det,
		    "Operation cannot be fulfilled on %s %s: the object has "
		    "been "
		    "modified; please apply your changes to the latest "
		    "version and "
		    "try again",
		    rs->rs_name, qn);
	}
	free(qn);
}

static void
already_exists(kf_resp *r, const kf_resource *rs, const char *name)
{
	json_t *det = json_object();
	json_object_set_new(det, "name", json_string(name));
	if (*rs->rs_group) {
		json_object_set_new(det, "group", json_string(rs->rs_group));
	}
	json_object_set_new(det, "kind", json_string(rs->rs_name));
	char *qn = kf_goquote(name);
	if (*rs->rs_group) {
		kf_status(r, 409, "AlreadyExists", det,
		    "%s.%s %s already exists", rs->rs_name, rs->rs_group, qn);
	} else {
		kf_status(r, 409, "AlreadyExists", det, "%s %s already exists",
		    rs->rs_name, qn);
	}
	free(qn);
}

static void
options_invalid(kf_resp *r, const char *kind, kf_errs *e)
{
	kf_status_invalid(r, "meta.k8s.io", kind, "", e);
}

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

static void
handle_list(kf_req *q, kf_resp *r, int res, const char *ns)
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

static int
handle_watch(kf_req *q, kf_resp *r, int res, const char *ns)
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
	o.wo_bookmarks = is_true(kf_query(q, "allowWatchBookmarks"));
	if (is_true(kf_query(q, "sendInitialEvents"))) {
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

// ---- decoding request bodies
// -------------------------------------------------

// decode_body parses q's body as JSON or YAML by Content-Type.
static json_t *
decode_body(const kf_req *q, kf_resp *r, bool yaml_ok)
{
	const char *ct = q->q_ctype ? q->q_ctype : "application/json";
	if (strncmp(ct, "application/vnd.kubernetes.protobuf", 35) == 0) {
		char    perr[256];
		json_t *j = kf_proto_decode(
		    q->q_body, q->q_blen, perr, sizeof(perr));
		if (j == NULL) {
			kf_status(
			    r, 415, "UnsupportedMediaType", NULL, "%s", perr);
		}
		return j;
	}
	if ((!yaml_ok && strncmp(ct, "application/yaml", 16) != 0
	        && strncmp(ct, "application/json", 16) != 0
	        && strncmp(ct, "*/*", 3) != 0)) {
		kf_status(r, 415, "UnsupportedMediaType", NULL,
		    "the body of the request was in an unknown format - "
		    "accepted "
		    "media types include: application/json, application/yaml");
		return NULL;
	}
	if (q->q_blen == 0) {
		kf_status_badrequest(r, "the body of the request is empty");
		return NULL;
	}
	char    err[256] = "";
	json_t *j        = NULL;
	if (strncmp(ct, "application/json", 16) == 0) {
		json_error_t je;
		j = json_loadb(q->q_body, q->q_blen, 0, &je);
		if (j == NULL) {
			snprintf(err, sizeof(err), "json: %s", je.text);
		}
	} else {
		j = kf_yaml_to_json(q->q_body, q->q_blen, err, sizeof(err));
	}
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		kf_status_badrequest(r,
		    "couldn't get version/kind; json parse "
		    "error: %s",
		    *err ? err : "not an object");
		return NULL;
	}
	return j;
}

// check_fields normalizes obj against its schema, handling unknown fields
// as fieldValidation asks (Strict: error; Warn: Warning header).
static int
check_fields(const kf_req *q, kf_resp *r, const kf_resource *rs, json_t *obj,
    bool check_only)
{
	const char *fv     = kf_query(q, "fieldValidation");
	bool        strict = fv && strcmp(fv, "Strict") == 0;
	bool        ignore = fv && strcmp(fv, "Ignore") == 0;
	if (fv && *fv && !strict && !ignore && strcmp(fv, "Warn") != 0) {
		kf_status_badrequest(r,
		    "fieldValidation parameter unsupported: %s. Must be one "
		    "of "
		    "Ignore, Warn, Strict",
		    fv);
		return -1;
	}
	sf_buf unknown = SF_BUF_INIT;
	char   err[512];
	if (kf_schema_normalize(
	        rs->rs_type, obj, &unknown, check_only, err, sizeof(err))
	    != 0) {
		kf_status_badrequest(r,
		    "%s in version \"%s\" cannot be handled as a %s: %s",
		    rs->rs_kind, rs->rs_version, rs->rs_kind, err);
		sf_buf_fini(&unknown);
		return -1;
	}
	if (unknown.b_len > 0 && strict) {
		kf_status_badrequest(
		    r, "strict decoding error: %s", sf_buf_cstr(&unknown));
		sf_buf_fini(&unknown);
		return -1;
	}
	if (unknown.b_len > 0 && !ignore) {
		r->r_warning = sf_buf_take(&unknown);
	}
	sf_buf_fini(&unknown);
	return 0;
}

// check_typemeta rejects a body of another kind or version.
static int
check_typemeta(kf_resp *r, const kf_resource *rs, json_t *obj)
{
	const char *k  = kf_jstr(obj, "kind");
	const char *av = kf_jstr(obj, "apiVersion");
	if (k && *k && strcmp(k, rs->rs_kind) != 0) {
		kf_status_badrequest(r,
		    "the object provided is unrecognized (must be of type "
		    "%s): "
		    "kind %s does not match the expected kind %s",
		    rs->rs_kind, k, rs->rs_kind);
		return -1;
	}
	if (av && *av && strcmp(av, rs->rs_apiversion) != 0) {
		kf_status_badrequest(r,
		    "the API version in the data (%s) does not match the "
		    "expected "
		    "API version (%s)",
		    av, rs->rs_apiversion);
		return -1;
	}
	return 0;
}

static int
check_identity(kf_resp *r, const kf_resource *rs, json_t *obj, const char *ns,
    const char *name)
{
	json_t     *meta = kf_jobj(obj, "metadata");
	const char *bns  = kf_jstr(meta, "namespace");
	if (rs->rs_namespaced) {
		if (bns && *bns && strcmp(bns, ns) != 0) {
			kf_status_badrequest(r,
			    "the namespace of the provided object does not "
			    "match "
			    "the namespace sent on the request");
			return -1;
		}
		json_object_set_new(meta, "namespace", json_string(ns));
	} else {
		json_object_del(meta, "namespace");
	}
	if (name) {
		const char *bn = kf_jstr(meta, "name");
		if (bn && *bn && strcmp(bn, name) != 0) {
			kf_status_badrequest(r,
			    "the name of the object (%s) does not match the "
			    "name on "
			    "the URL (%s)",
			    bn, name);
			return -1;
		}
		json_object_set_new(meta, "name", json_string(name));
	}
	return 0;
}

static void
generate_name(json_t *obj)
{
	json_t     *meta = kf_jobj(obj, "metadata");
	const char *name = kf_jstr(meta, "name");
	const char *gen  = kf_jstr(meta, "generateName");
	if ((name && *name) || gen == NULL || *gen == '\0') {
		return;
	}
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	char              buf[128];
	size_t            n = strlen(gen);
	if (n > 58) {
		n = 58;
	}
	memcpy(buf, gen, n);
	for (int i = 0; i < 5; i++) {
		buf[n + (size_t) i] = alphabet[kf_rand_u64() % 27];
	}
	buf[n + 5] = '\0';
	json_object_set_new(meta, "name", json_string(buf));
}

// ---- per-kind preparation
// ----------------------------------------------------

static void
stamp_generic(json_t *obj)
{
	json_t *meta = kf_jobj(obj, "metadata");
	char    uid[37], now[32];
	kf_uuid(uid);
	kf_now_rfc3339(now);
	json_object_set_new(meta, "uid", json_string(uid));
	json_object_set_new(meta, "creationTimestamp", json_string(now));
}

static void
namespace_prepare(json_t *obj)
{
	json_t     *meta = kf_jobj(obj, "metadata");
	const char *name = kf_jstr(meta, "name");
	json_object_set_new(kf_jobj(meta, "labels"),
	    "kubernetes.io/metadata.name", json_string(name ? name : ""));
	json_t *spec = kf_jobj(obj, "spec");
	if (json_object_get(spec, "finalizers") == NULL) {
		json_object_set_new(
		    spec, "finalizers", json_pack("[s]", "kubernetes"));
	}
	json_object_set_new(
	    obj, "status", json_pack("{s:s}", "phase", "Active"));
}

static void
workload_prepare(json_t *obj, int res)
{
	json_t *spec = kf_jobj(obj, "spec");
	if (res != KF_R_DAEMONSETS
	    && json_object_get(spec, "replicas") == NULL) {
		json_object_set_new(spec, "replicas", json_integer(1));
	}
}

// validate_generic: names and labels for the kinds without a schema.
static int
validate_generic(kf_resp *r, const kf_resource *rs, json_t *obj)
{
	kf_errs     e    = {0};
	const char *name = kf_jstr(obj, "metadata.name");
	kf_validate_meta(obj, rs->rs_namespaced, false, &e);
	// Most kinds take DNS-1123 subdomains; replace the label message.
	if (name && rs - kf_resources != KF_R_NAMESPACES
	    && kf_is_dns1123_subdomain(name)) {
		kf_errs keep = {0};
		for (size_t i = 0; i < e.e_n; i++) {
			if (strcmp(e.e_c[i].c_field, "metadata.name") != 0) {
				kf_errs_addf(&keep, e.e_c[i].c_type,
				    e.e_c[i].c_field, "%s", e.e_c[i].c_msg);
			}
		}
		kf_errs_fini(&e);
		e = keep;
	}
	if (rs - kf_resources >= KF_R_DEPLOYMENTS) {
		json_t *tl = kf_jget(obj, "spec.template.metadata.labels");
		json_t *ml = kf_jget(obj, "spec.selector.matchLabels");
		if (kf_jget(obj, "spec.selector") == NULL) {
			kf_err_required(&e, "spec.selector", "");
		} else if (json_is_object(ml)) {
			const char *k;
			json_t     *v;
			json_object_foreach(ml, k, v)
			{
				if (!json_equal(json_object_get(tl, k), v)) {
					kf_err_invalid(&e,
					    "spec.template.metadata.labels",
					    "map[string]string{...}",
					    "`selector` does not match "
					    "template `labels`");
					break;
				}
			}
		}
	}
	if (e.e_n > 0) {
		kf_status_invalid(r, rs->rs_group, rs->rs_kind, name, &e);
		kf_errs_fini(&e);
		return -1;
	}
	return 0;
}

// ---- the write path
// ----------------------------------------------------------

typedef struct wctx {
	const kf_req      *w_q;
	int                w_res;
	const kf_resource *w_rs;
	const char        *w_ns;
	const char        *w_name;
	const char        *w_sub; // "status" or NULL
	bool               w_dry;
	char               w_manager[160];
	char               w_now[32];
} wctx;

static void
ssa_ctx(const wctx *w, kf_ssa_ctx *x)
{
	x->x_type        = w->w_rs->rs_type;
	x->x_apiversion  = w->w_rs->rs_apiversion;
	x->x_subresource = w->w_sub;
	x->x_manager     = w->w_manager;
	x->x_now         = w->w_now;
}

// finish_object canonicalizes obj before storing it.
static void
finish_object(const wctx *w, json_t **obj)
{
	*obj = typed(*obj, w->w_rs);
	if (w->w_rs->rs_type != &kf_type_any) {
		char err[64];
		kf_schema_normalize(
		    w->w_rs->rs_type, *obj, NULL, false, err, sizeof(err));
	}
}

static void
after_store(const wctx *w, const char *key, json_t *obj, json_t *old)
{
	if (w->w_res == KF_R_SERVICES) {
		kf_metallb_changed(key, obj, old);
	}
}

// do_create stores a new object (st_mu held). mg may be NULL (then an
// Update entry by the manager is computed). Consumes obj.
static void
do_create(const wctx *w, kf_resp *r, json_t *obj, kf_managers *mg)
{
	char        key[512];
	const char *name = kf_jstr(obj, "metadata.name");
	kf_key(w->w_res, w->w_ns, name, key, sizeof(key));
	if (w->w_rs->rs_namespaced
	    && kf_lookup(KF_R_NAMESPACES, w->w_ns) == NULL) {
		kf_status_notfound(r, "", "namespaces", w->w_ns);
		json_decref(obj);
		return;
	}
	kf_managers own = {0};
	if (mg == NULL) {
		mg = &own;
		if (kf_managers_decode(mg, obj) != 0) {
			kf_managers_fini(mg);
		}
		kf_ssa_ctx x;
		ssa_ctx(w, &x);
		kf_ssa_update(&x, NULL, obj, mg);
	}
	if (w->w_res == KF_R_SERVICES) {
		if (kf_service_create(obj, w->w_dry, r) != 0) {
			goto out;
		}
	} else {
		if (validate_generic(r, w->w_rs, obj) != 0) {
			goto out;
		}
		stamp_generic(obj);
		json_object_set_new(
		    kf_jobj(obj, "metadata"), "generation", json_integer(1));
		if (w->w_res == KF_R_NAMESPACES) {
			namespace_prepare(obj);
			json_object_del(
			    kf_jobj(obj, "metadata"), "generation");
		} else if (w->w_res >= KF_R_DEPLOYMENTS) {
			workload_prepare(obj, w->w_res);
			if (json_object_get(obj, "status") == NULL) {
				json_object_set_new(
				    obj, "status", json_object());
			}
		} else if (w->w_res == KF_R_EVENTS) {
			json_object_del(
			    kf_jobj(obj, "metadata"), "generation");
		}
	}
	kf_managers_encode(mg, obj);
	if (kf_lookup(w->w_res, key) != NULL) {
		if (w->w_res == KF_R_SERVICES && !w->w_dry) {
			kf_service_release(obj);
		}
		already_exists(r, w->w_rs, name);
		goto out;
	}
	// Its place in metadata; kf_commit sets the value.
	json_object_set_new(
	    kf_jobj(obj, "metadata"), "resourceVersion", json_string(""));
	finish_object(w, &obj);
	if (w->w_dry) {
		json_object_del(kf_jobj(obj, "metadata"), "resourceVersion");
		kf_resp_json(r, 201, json_incref(obj));
		goto out;
	}
	kf_obj *o = kf_commit(w->w_res, key, json_incref(obj), KF_EV_ADDED);
	after_store(w, key, o->o_json, NULL);
	kf_resp_text(r, 201, o->o_text, o->o_len);
out:
	kf_managers_fini(&own);
	json_decref(obj);
}

// managed_for_update: decodeLiveOrNew — the request's managedFields if it
// carries some, a reset for an explicit [], else the live object's.
static void
managed_for_update(kf_managers *mg, json_t *obj, json_t *live)
{
	json_t *mf = kf_jget(obj, "metadata.managedFields");
	if (json_is_array(mf) && json_array_size(mf) == 0) {
		return;
	}
	if (json_is_array(mf) && json_array_size(mf) == 1
	    && json_object_size(json_array_get(mf, 0)) == 0) {
		return;
	}
	if (mf != NULL && kf_managers_decode(mg, obj) == 0 && mg->ms_n > 0) {
		return;
	}
	kf_managers_fini(mg);
	kf_managers_decode(mg, live);
}

// do_update stores obj as the new version of old (st_mu held). mg holds
// the managers already computed (apply), or NULL. Consumes obj.
static void
do_update(const wctx *w, kf_resp *r, json_t *obj, kf_obj *old, kf_managers *mg)
{
	const char *name = w->w_name;
	char        key[512];
	kf_key(w->w_res, w->w_ns, name, key, sizeof(key));
	const char *brv = kf_jstr(obj, "metadata.resourceVersion");
	const char *orv = kf_jstr(old->o_json, "metadata.resourceVersion");
	if (brv && *brv && strcmp(brv, orv ? orv : "") != 0) {
		conflict(r, w->w_rs, name);
		json_decref(obj);
		return;
	}
	json_t     *meta = kf_jobj(obj, "metadata");
	json_t     *om   = kf_jget(old->o_json, "metadata");
	const char *buid = kf_jstr(meta, "uid");
	const char *ouid = kf_jstr(om, "uid");
	if (buid && *buid && ouid && strcmp(buid, ouid) != 0) {
		// The generic store treats a uid as a precondition.
		json_t *det = json_object();
		json_object_set_new(det, "name", json_string(name));
		json_object_set_new(
		    det, "kind", json_string(w->w_rs->rs_name));
		char *qn = kf_goquote(name);
		kf_status(r, 409, "Conflict", det,
		    "Operation cannot be fulfilled on %s %s: Precondition "
		    "failed: "
		    "UID in precondition: %s, UID in object meta: %s",
		    w->w_rs->rs_name, qn, buid, ouid);
		free(qn);
		json_decref(obj);
		return;
	}
	// System fields cannot be changed by a client.
	static const char *keep[]
	    = {"uid", "creationTimestamp", "deletionTimestamp", NULL};
	for (int i = 0; keep[i]; i++) {
		json_t *v = json_object_get(om, keep[i]);
		if (v) {
			json_object_set(meta, keep[i], v);
		} else {
			json_object_del(meta, keep[i]);
		}
	}
	kf_managers own = {0};
	if (mg == NULL) {
		mg = &own;
		managed_for_update(mg, obj, old->o_json);
		kf_ssa_ctx x;
		ssa_ctx(w, &x);
		kf_ssa_update(&x, old->o_json, obj, mg);
	}
	if (w->w_res == KF_R_SERVICES) {
		int rc = w->w_sub
		    ? kf_service_status_update(obj, old->o_json, r)
		    : kf_service_update(obj, old->o_json, w->w_dry, r);
		if (rc != 0) {
			goto out;
		}
	} else {
		if (validate_generic(r, w->w_rs, obj) != 0) {
			goto out;
		}
		if (w->w_sub) {
			json_t *spec = kf_jget(old->o_json, "spec");
			if (spec) {
				json_object_set_new(
				    obj, "spec", json_deep_copy(spec));
			}
		} else if (w->w_rs->rs_status) {
			json_t *st = kf_jget(old->o_json, "status");
			if (st) {
				json_object_set_new(
				    obj, "status", json_deep_copy(st));
			}
		}
		if (w->w_res == KF_R_NAMESPACES) {
			namespace_prepare(obj);
		}
		json_t *gen = json_object_get(om, "generation");
		if (gen) {
			long long g = json_integer_value(gen);
			if (!json_equal(kf_jget(obj, "spec")
			            ? kf_jget(obj, "spec")
			            : json_null(),
			        kf_jget(old->o_json, "spec")
			            ? kf_jget(old->o_json, "spec")
			            : json_null())) {
				g++;
			}
			json_object_set_new(
			    meta, "generation", json_integer(g));
		}
	}
	kf_managers_encode(mg, obj);
	// An update that changes nothing is not written (no new version).
	json_object_set(kf_jobj(obj, "metadata"), "resourceVersion",
	    kf_jget(old->o_json, "metadata.resourceVersion"));
	finish_object(w, &obj);
	if (json_equal(obj, old->o_json) || w->w_dry) {
		kf_resp_json(r, 200, json_incref(obj));
		if (w->w_dry && w->w_res == KF_R_SERVICES) {
			// Dry runs rolled their allocations back already.
		}
		goto out;
	}
	json_t *oldj = json_incref(old->o_json);
	kf_obj *o = kf_commit(w->w_res, key, json_incref(obj), KF_EV_MODIFIED);
	after_store(w, key, o->o_json, oldj);
	json_decref(oldj);
	kf_resp_text(r, 200, o->o_text, o->o_len);
out:
	kf_managers_fini(&own);
	json_decref(obj);
}

static bool
dry_run(const kf_req *q, kf_resp *r, const char *optkind)
{
	const char *d = kf_query(q, "dryRun");
	if (d && *d && strcmp(d, "All") != 0) {
		kf_errs e = {0};
		char   *v = kf_goquote(d);
		char    val[300];
		snprintf(val, sizeof(val), "[]string{%s}", v);
		free(v);
		kf_errs_addf(&e, KF_NOTSUPPORTED, "dryRun",
		    "Unsupported value: %s: supported values: \"All\"", val);
		options_invalid(r, optkind, &e);
		kf_errs_fini(&e);
	}
	return d && strcmp(d, "All") == 0;
}

static void
prepare_body(json_t *obj)
{
	json_t *meta = kf_jobj(obj, "metadata");
	json_object_del(meta, "uid");
	json_object_del(meta, "creationTimestamp");
	json_object_del(meta, "generation");
	json_object_del(meta, "selfLink");
	json_object_del(meta, "deletionTimestamp");
}

static void
handle_create(kf_req *q, kf_resp *r, wctx *w)
{
	bool dry = dry_run(q, r, "CreateOptions");
	if (r->r_code) {
		return;
	}
	w->w_dry    = dry;
	json_t *obj = decode_body(q, r, true);
	if (obj == NULL) {
		return;
	}
	if (check_typemeta(r, w->w_rs, obj) != 0
	    || check_fields(q, r, w->w_rs, obj, false) != 0
	    || check_identity(r, w->w_rs, obj, w->w_ns, NULL) != 0) {
		json_decref(obj);
		return;
	}
	const char *rv = kf_jstr(obj, "metadata.resourceVersion");
	if (rv && *rv) {
		json_decref(obj);
		kf_status_internal(r,
		    "resourceVersion should not be set on objects to be "
		    "created");
		return;
	}
	generate_name(obj);
	prepare_body(obj);
	if (w->w_res == KF_R_NAMESPACES) {
		const char *n = kf_jstr(obj, "metadata.name");
		if (n && !kf_is_dns1123_label(n)) {
			kf_errs e = {0};
			kf_err_invalid_str(&e, "metadata.name", n,
			    "a lowercase RFC 1123 label must consist of lower "
			    "case "
			    "alphanumeric characters or '-', and must start "
			    "and end "
			    "with an alphanumeric character (e.g. 'my-name',  "
			    "or "
			    "'123-abc', regex used for validation is "
			    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
			kf_status_invalid(r, "", "Namespace", n, &e);
			kf_errs_fini(&e);
			json_decref(obj);
			return;
		}
	}
	if (w->w_res == KF_R_SERVICES) {
		kf_service_default(obj);
	}
	pthread_mutex_lock(&kf_st.st_mu);
	do_create(w, r, obj, NULL);
	pthread_mutex_unlock(&kf_st.st_mu);
}

static void
handle_update(kf_req *q, kf_resp *r, wctx *w)
{
	bool dry = dry_run(q, r, "UpdateOptions");
	if (r->r_code) {
		return;
	}
	w->w_dry    = dry;
	json_t *obj = decode_body(q, r, true);
	if (obj == NULL) {
		return;
	}
	if (check_typemeta(r, w->w_rs, obj) != 0
	    || check_fields(q, r, w->w_rs, obj, false) != 0
	    || check_identity(r, w->w_rs, obj, w->w_ns, w->w_name) != 0) {
		json_decref(obj);
		return;
	}
	if (w->w_res == KF_R_SERVICES) {
		kf_service_default(obj);
	}
	char key[512];
	kf_key(w->w_res, w->w_ns, w->w_name, key, sizeof(key));
	pthread_mutex_lock(&kf_st.st_mu);
	kf_obj *old = kf_lookup(w->w_res, key);
	if (old == NULL) {
		if (w->w_sub) {
			kf_status_notfound(
			    r, w->w_rs->rs_group, w->w_rs->rs_name, w->w_name);
			json_decref(obj);
		} else {
			// PUT creates a missing object (AllowCreateOnUpdate).
			json_object_del(
			    kf_jobj(obj, "metadata"), "resourceVersion");
			prepare_body(obj);
			do_create(w, r, obj, NULL);
		}
	} else {
		do_update(w, r, obj, old, NULL);
	}
	pthread_mutex_unlock(&kf_st.st_mu);
}

static bool
ct_is(const char *ct, const char *want)
{
	size_t n = strlen(want);
	return ct && strncmp(ct, want, n) == 0
	    && (ct[n] == '\0' || ct[n] == ';');
}

static void
handle_apply(kf_req *q, kf_resp *r, wctx *w, bool force)
{
	char    err[256] = "";
	json_t *cfg = kf_yaml_to_json(q->q_body, q->q_blen, err, sizeof(err));
	if (cfg == NULL || !json_is_object(cfg)) {
		json_decref(cfg);
		kf_status_badrequest(r, "error decoding YAML: %s",
		    *err ? err : "the apply configuration must be an object");
		return;
	}
	const char *k  = kf_jstr(cfg, "kind");
	const char *av = kf_jstr(cfg, "apiVersion");
	if (k == NULL || *k == '\0' || av == NULL || *av == '\0') {
		char *txt = kf_json_dump(cfg, NULL);
		kf_status_badrequest(
		    r, "Object 'Kind' is missing in '%s'", txt ? txt : "");
		free(txt);
		json_decref(cfg);
		return;
	}
	if (check_typemeta(r, w->w_rs, cfg) != 0) {
		json_decref(cfg);
		return;
	}
	if (kf_jget(cfg, "metadata.managedFields")) {
		kf_status_badrequest(r, "metadata.managedFields must be nil");
		json_decref(cfg);
		return;
	}
	if (check_identity(r, w->w_rs, cfg, w->w_ns, w->w_name) != 0) {
		json_decref(cfg);
		return;
	}
	// Unknown fields cannot be owned; Strict rejects them, otherwise
	// they are dropped (with a warning unless Ignore).
	const char *fv = kf_query(q, "fieldValidation");
	if (w->w_rs->rs_type != &kf_type_any) {
		sf_buf unknown = SF_BUF_INIT;
		if (kf_schema_normalize(w->w_rs->rs_type, cfg, &unknown, true,
		        err, sizeof(err))
		    != 0) {
			kf_status_badrequest(r,
			    "failed to create typed patch object "
			    "(/v1, Kind=%s): %s",
			    w->w_rs->rs_kind, err);
			sf_buf_fini(&unknown);
			json_decref(cfg);
			return;
		}
		if (unknown.b_len > 0) {
			if (fv && strcmp(fv, "Strict") == 0) {
				kf_status_badrequest(r,
				    "failed to create typed patch object "
				    "(/v1, Kind=%s): %s: field not "
				    "declared in schema",
				    w->w_rs->rs_kind, sf_buf_cstr(&unknown));
				sf_buf_fini(&unknown);
				json_decref(cfg);
				return;
			}
			// They are dropped, with a warning unless Ignore.
			if (!(fv && strcmp(fv, "Ignore") == 0)) {
				r->r_warning = sf_buf_take(&unknown);
			}
			kf_schema_drop_unknown(w->w_rs->rs_type, cfg);
		}
		sf_buf_fini(&unknown);
	}
	char key[512];
	kf_key(w->w_res, w->w_ns, w->w_name, key, sizeof(key));
	kf_ssa_ctx x;
	ssa_ctx(w, &x);
	pthread_mutex_lock(&kf_st.st_mu);
	kf_obj     *old = kf_lookup(w->w_res, key);
	kf_managers mg  = {0};
	if (old == NULL && w->w_sub) {
		pthread_mutex_unlock(&kf_st.st_mu);
		kf_status_notfound(
		    r, w->w_rs->rs_group, w->w_rs->rs_name, w->w_name);
		json_decref(cfg);
		return;
	}
	if (old) {
		kf_managers_decode(&mg, old->o_json);
	}
	json_t *merged
	    = kf_ssa_apply(&x, old ? old->o_json : NULL, cfg, force, &mg, r);
	json_decref(cfg);
	if (merged == NULL) {
		pthread_mutex_unlock(&kf_st.st_mu);
		kf_managers_fini(&mg);
		return;
	}
	if (w->w_rs->rs_type != &kf_type_any) {
		kf_schema_normalize(
		    w->w_rs->rs_type, merged, NULL, false, err, sizeof(err));
	}
	json_object_set_new(
	    kf_jobj(merged, "metadata"), "name", json_string(w->w_name));
	if (w->w_res == KF_R_SERVICES) {
		kf_service_default(merged);
	}
	if (old == NULL) {
		json_object_del(
		    kf_jobj(merged, "metadata"), "resourceVersion");
		prepare_body(merged);
		do_create(w, r, merged, &mg);
	} else {
		json_object_set(kf_jobj(merged, "metadata"), "resourceVersion",
		    kf_jget(old->o_json, "metadata.resourceVersion"));
		do_update(w, r, merged, old, &mg);
	}
	pthread_mutex_unlock(&kf_st.st_mu);
	kf_managers_fini(&mg);
}

static void
handle_patch(kf_req *q, kf_resp *r, wctx *w)
{
	const char *ct    = q->q_ctype;
	bool        apply = ct_is(ct, "application/apply-patch+yaml");
	int         kind  = ct_is(ct, "application/json-patch+json")       ? 1
	             : ct_is(ct, "application/merge-patch+json")           ? 2
	             : ct_is(ct, "application/strategic-merge-patch+json") ? 3
	             : apply                                               ? 4
	                                                                   : 0;
	if (kind == 0) {
		kf_status(r, 415, "UnsupportedMediaType", NULL,
		    "the body of the request was in an unknown format - "
		    "accepted "
		    "media types include: application/json-patch+json, "
		    "application/merge-patch+json, "
		    "application/apply-patch+yaml%s",
		    w->w_rs->rs_type == &kf_type_service
		            || w->w_res != KF_R_EVENTS
		        ? ", application/strategic-merge-patch+json"
		        : "");
		return;
	}
	bool dry = dry_run(q, r, "PatchOptions");
	if (r->r_code) {
		return;
	}
	w->w_dry          = dry;
	const char *force = kf_query(q, "force");
	const char *fm    = kf_query(q, "fieldManager");
	if (force && !apply) {
		kf_errs e = {0};
		kf_err_forbidden(
		    &e, "force", "may not be specified for non-apply patch");
		options_invalid(r, "PatchOptions", &e);
		kf_errs_fini(&e);
		return;
	}
	if (apply && (fm == NULL || *fm == '\0')) {
		kf_errs e = {0};
		kf_err_required(
		    &e, "fieldManager", "is required for apply patch");
		options_invalid(r, "PatchOptions", &e);
		kf_errs_fini(&e);
		return;
	}
	if (fm && strlen(fm) > 128) {
		kf_errs e = {0};
		kf_err_toolong(&e, "fieldManager", 128);
		options_invalid(r, "PatchOptions", &e);
		kf_errs_fini(&e);
		return;
	}
	if (q->q_blen == 0) {
		kf_status_badrequest(r, "the body of the request is empty");
		return;
	}
	if (apply) {
		handle_apply(q, r, w, is_true(force));
		return;
	}
	json_error_t je;
	json_t *patch = json_loadb(q->q_body, q->q_blen, JSON_DECODE_ANY, &je);
	if (patch == NULL) {
		kf_status_badrequest(r, "error decoding patch: %s", je.text);
		return;
	}
	char key[512];
	kf_key(w->w_res, w->w_ns, w->w_name, key, sizeof(key));
	pthread_mutex_lock(&kf_st.st_mu);
	kf_obj *old = kf_lookup(w->w_res, key);
	if (old == NULL) {
		pthread_mutex_unlock(&kf_st.st_mu);
		kf_status_notfound(
		    r, w->w_rs->rs_group, w->w_rs->rs_name, w->w_name);
		json_decref(patch);
		return;
	}
	json_t *doc = json_incref(old->o_json);
	char    err[512];
	int     rc = kind == 1 ? kf_patch_json(&doc, patch, err, sizeof(err))
	        : kind == 2    ? kf_patch_merge(&doc, patch, err, sizeof(err))
	                       : kf_patch_strategic(
	                           w->w_rs->rs_type, &doc, patch, err, sizeof(err));
	json_decref(patch);
	if (rc != 0) {
		pthread_mutex_unlock(&kf_st.st_mu);
		json_decref(doc);
		if (kind == 1) {
			kf_status(r, 422, "Invalid", NULL, "%s", err);
		} else {
			kf_status_badrequest(r, "%s", err);
		}
		return;
	}
	if (!json_is_object(doc) || check_typemeta(r, w->w_rs, doc) != 0
	    || check_fields(q, r, w->w_rs, doc, false) != 0) {
		pthread_mutex_unlock(&kf_st.st_mu);
		if (r->r_code == 0) {
			kf_status_badrequest(
			    r, "the patched object is not an object");
		}
		json_decref(doc);
		return;
	}
	const char *pn = kf_jstr(doc, "metadata.name");
	if (pn == NULL || strcmp(pn, w->w_name) != 0) {
		pthread_mutex_unlock(&kf_st.st_mu);
		kf_errs e = {0};
		kf_err_invalid_str(
		    &e, "metadata.name", pn ? pn : "", "field is immutable");
		kf_status_invalid(
		    r, w->w_rs->rs_group, w->w_rs->rs_kind, w->w_name, &e);
		kf_errs_fini(&e);
		json_decref(doc);
		return;
	}
	if (check_identity(r, w->w_rs, doc, w->w_ns, w->w_name) != 0) {
		pthread_mutex_unlock(&kf_st.st_mu);
		json_decref(doc);
		return;
	}
	if (w->w_res == KF_R_SERVICES) {
		kf_service_default(doc);
	}
	do_update(w, r, doc, old, NULL);
	pthread_mutex_unlock(&kf_st.st_mu);
}

static void
handle_delete(kf_req *q, kf_resp *r, wctx *w)
{
	bool dry = dry_run(q, r, "DeleteOptions");
	if (r->r_code) {
		return;
	}
	json_t *opts = NULL;
	if (q->q_blen > 0) {
		json_error_t je;
		opts = json_loadb(q->q_body, q->q_blen, 0, &je);
		if (opts == NULL) {
			kf_status_badrequest(
			    r, "error decoding DeleteOptions: %s", je.text);
			return;
		}
		json_t *dr = json_object_get(opts, "dryRun");
		if (json_array_size(dr) > 0) {
			dry = true;
		}
	}
	char key[512];
	kf_key(w->w_res, w->w_ns, w->w_name, key, sizeof(key));
	pthread_mutex_lock(&kf_st.st_mu);
	kf_obj *old = kf_lookup(w->w_res, key);
	if (old == NULL) {
		pthread_mutex_unlock(&kf_st.st_mu);
		kf_status_notfound(
		    r, w->w_rs->rs_group, w->w_rs->rs_name, w->w_name);
		json_decref(opts);
		return;
	}
	const char *puid = kf_jstr(opts, "preconditions.uid");
	const char *prv  = kf_jstr(opts, "preconditions.resourceVersion");
	const char *ouid = kf_jstr(old->o_json, "metadata.uid");
	const char *orv  = kf_jstr(old->o_json, "metadata.resourceVersion");
	if (puid && ouid && strcmp(puid, ouid) != 0) {
		pthread_mutex_unlock(&kf_st.st_mu);
		json_t *det = json_object();
		json_object_set_new(det, "name", json_string(w->w_name));
		json_object_set_new(
		    det, "kind", json_string(w->w_rs->rs_name));
		kf_status(r, 409, "Conflict", det,
		    "Operation cannot be fulfilled on %s \"%s\": Precondition "
		    "failed: UID in precondition: %s, UID in object meta: %s",
		    w->w_rs->rs_name, w->w_name, puid, ouid);
		json_decref(opts);
		return;
	}
	if (prv && orv && strcmp(prv, orv) != 0) {
		pthread_mutex_unlock(&kf_st.st_mu);
		json_t *det = json_object();
		json_object_set_new(det, "name", json_string(w->w_name));
		json_object_set_new(
		    det, "kind", json_string(w->w_rs->rs_name));
		kf_status(r, 409, "Conflict", det,
		    "Operation cannot be fulfilled on %s \"%s\": Precondition "
		    "failed: ResourceVersion in precondition: %s, "
		    "ResourceVersion "
		    "in object meta: %s",
		    w->w_rs->rs_name, w->w_name, prv, orv);
		json_decref(opts);
		return;
	}
	json_decref(opts);
	if (dry) {
		kf_resp_text(r, 200, old->o_text, old->o_len);
		pthread_mutex_unlock(&kf_st.st_mu);
		return;
	}
	json_t *oldj = json_incref(old->o_json);
	kf_obj *o
	    = kf_commit(w->w_res, key, json_deep_copy(oldj), KF_EV_DELETED);
	if (w->w_res == KF_R_SERVICES) {
		kf_service_release(oldj);
		kf_metallb_changed(key, NULL, oldj);
		kf_resp_text(r, 200, o->o_text, o->o_len);
	} else {
		json_t *det = json_object();
		json_object_set_new(det, "name", json_string(w->w_name));
		if (*w->w_rs->rs_group) {
			json_object_set_new(
			    det, "group", json_string(w->w_rs->rs_group));
		}
		json_object_set_new(
		    det, "kind", json_string(w->w_rs->rs_name));
		json_object_set(det, "uid", kf_jget(oldj, "metadata.uid"));
		json_t *j = json_object();
		json_object_set_new(j, "kind", json_string("Status"));
		json_object_set_new(j, "apiVersion", json_string("v1"));
		json_object_set_new(j, "metadata", json_object());
		json_object_set_new(j, "status", json_string("Success"));
		json_object_set_new(j, "details", det);
		kf_resp_json(r, 200, j);
	}
	json_decref(oldj);
	pthread_mutex_unlock(&kf_st.st_mu);
}

typedef struct delctx {
	char             **d_keys;
	size_t             d_n;
	size_t             d_cap;
	const kf_selector *d_labels;
	const kf_selector *d_fields;
} delctx;

static int
del_cb(void *arg, const char *key, void *val)
{
	delctx *d = arg;
	kf_obj *o = val;
	if (!kf_selector_match(
	        d->d_labels, kf_jget(o->o_json, "metadata.labels"))
	    || !kf_selector_match(d->d_fields, o->o_json)) {
		return 0;
	}
	if (d->d_n == d->d_cap) {
		d->d_cap  = d->d_cap ? d->d_cap * 2 : 32;
		char **nv = realloc(d->d_keys, d->d_cap * sizeof(char *));
		if (nv == NULL) {
			return 1;
		}
		d->d_keys = nv;
	}
	d->d_keys[d->d_n++] = strdup(key);
	return 0;
}

static void
handle_deletecollection(kf_req *q, kf_resp *r, int res, const char *ns)
{
	char         err[512];
	kf_selector *ls = kf_selector_parse(
	    kf_query(q, "labelSelector"), false, err, sizeof(err));
	kf_selector *fs = ls ? kf_selector_parse(kf_query(q, "fieldSelector"),
	                      true, err, sizeof(err))
	                     : NULL;
	if (ls == NULL || fs == NULL) {
		kf_selector_free(ls);
		kf_status_badrequest(r, "%s", err);
		return;
	}
	delctx d   = {0};
	d.d_labels = ls;
	d.d_fields = fs;
	char prefix[300];
	snprintf(prefix, sizeof(prefix), "%s/", ns ? ns : "");
	pthread_mutex_lock(&kf_st.st_mu);
	kf_tree_walk(kf_st.st_objs[res], NULL,
	    ns && kf_resources[res].rs_namespaced ? prefix : NULL, del_cb, &d);
	for (size_t i = 0; i < d.d_n; i++) {
		kf_obj *old  = kf_lookup(res, d.d_keys[i]);
		json_t *oldj = json_incref(old->o_json);
		kf_commit(
		    res, d.d_keys[i], json_deep_copy(oldj), KF_EV_DELETED);
		if (res == KF_R_SERVICES) {
			kf_service_release(oldj);
			kf_metallb_changed(d.d_keys[i], NULL, oldj);
		}
		json_decref(oldj);
		free(d.d_keys[i]);
	}
	uint64_t rv = kf_st.st_rv;
	pthread_mutex_unlock(&kf_st.st_mu);
	free(d.d_keys);
	kf_selector_free(ls);
	kf_selector_free(fs);
	const kf_resource *rs = &kf_resources[res];
	char               body[256];
	int                n = snprintf(body, sizeof(body),
	                   "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{"
	                                  "\"resourceVersion\":\"%llu\"},\"items\":[]}",
	                   rs->rs_kind, rs->rs_apiversion, (unsigned long long) rv);
	kf_resp_text(r, 200, body, (size_t) n);
}

static void
handle_get(kf_req *q, kf_resp *r, int res, const char *ns, const char *name)
{
	char key[512];
	kf_key(res, ns, name, key, sizeof(key));
	pthread_mutex_lock(&kf_st.st_mu);
	kf_obj *o = kf_obj_ref(kf_lookup(res, key));
	pthread_mutex_unlock(&kf_st.st_mu);
	if (o == NULL) {
		kf_status_notfound(r, kf_resources[res].rs_group,
		    kf_resources[res].rs_name, name);
		return;
	}
	if (kf_table_wanted(q->q_accept)) {
		char rv[32];
		snprintf(rv, sizeof(rv), "%llu", (unsigned long long) o->o_rv);
		kf_resp_json(r, 200, kf_table_new(res, &o, 1, rv, NULL, true));
	} else {
		kf_resp_text(r, 200, o->o_text, o->o_len);
	}
	kf_obj_unref(o);
}

// ---- discovery
// ---------------------------------------------------------------

static json_t *
resource_list(const char *group)
{
	json_t *res = json_array();
	for (int i = 0; i < KF_R_COUNT; i++) {
		const kf_resource *rs = &kf_resources[i];
		if (strcmp(rs->rs_group, group) != 0) {
			continue;
		}
		json_t *e = json_object();
		json_object_set_new(e, "name", json_string(rs->rs_name));
		json_object_set_new(
		    e, "singularName", json_string(rs->rs_singular));
		json_object_set_new(
		    e, "namespaced", json_boolean(rs->rs_namespaced));
		json_object_set_new(e, "kind", json_string(rs->rs_kind));
		json_t *verbs = i == KF_R_NAMESPACES
		    ? json_pack("[s,s,s,s,s,s]", "create", "get", "list",
		        "patch", "update", "watch")
		    : json_pack("[s,s,s,s,s,s,s,s]", "create", "delete",
		        "deletecollection", "get", "list", "patch", "update",
		        "watch");
		json_object_set_new(e, "verbs", verbs);
		if (rs->rs_short) {
			json_object_set_new(
			    e, "shortNames", json_pack("[s]", rs->rs_short));
		}
		if (i == KF_R_SERVICES || i >= KF_R_DEPLOYMENTS) {
			json_object_set_new(
			    e, "categories", json_pack("[s]", "all"));
		}
		json_object_set_new(
		    e, "storageVersionHash", json_string("kubefake"));
		json_array_append_new(res, e);
		if (rs->rs_status) {
			json_t *s = json_object();
			char    n[64];
			snprintf(n, sizeof(n), "%s/status", rs->rs_name);
			json_object_set_new(s, "name", json_string(n));
			json_object_set_new(
			    s, "singularName", json_string(""));
			json_object_set_new(
			    s, "namespaced", json_boolean(rs->rs_namespaced));
			json_object_set_new(
			    s, "kind", json_string(rs->rs_kind));
			json_object_set_new(s, "verbs",
			    json_pack("[s,s,s]", "get", "patch", "update"));
			json_array_append_new(res, s);
		}
	}
	json_t *l = json_object();
	json_object_set_new(l, "kind", json_string("APIResourceList"));
	json_object_set_new(l, "apiVersion", json_string("v1"));
	json_object_set_new(
	    l, "groupVersion", json_string(*group ? "apps/v1" : "v1"));
	json_object_set_new(l, "resources", res);
	return l;
}

// openapi_v3 serves the least kubectl needs to trust server-side field
// validation: for each kind, a PATCH operation tagged with its
// x-kubernetes-group-version-kind that takes the fieldValidation query
// parameter. No schemas are published, so kubectl computes strategic
// merge patches from its built-in types (its documented fallback).
static json_t *
openapi_v3(const char *group)
{
	json_t *paths = json_object();
	for (int i = 0; i < KF_R_COUNT; i++) {
		const kf_resource *rs = &kf_resources[i];
		if (strcmp(rs->rs_group, group) != 0) {
			continue;
		}
		char p[256];
		if (rs->rs_namespaced) {
			snprintf(p, sizeof(p),
			    "/%s%s/namespaces/{namespace}/%s/{name}",
			    *group ? "apis/" : "api/",
			    *group ? "apps/v1" : "v1", rs->rs_name);
		} else {
			snprintf(p, sizeof(p), "/%s%s/%s/{name}",
			    *group ? "apis/" : "api/",
			    *group ? "apps/v1" : "v1", rs->rs_name);
		}
		json_t *gvk = json_pack("{s:s,s:s,s:s}", "group", rs->rs_group,
		    "version", rs->rs_version, "kind", rs->rs_kind);
		json_t *params
		    = json_pack("[{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:s}},"
		                "{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:s}}]",
		        "name", "dryRun", "in", "query", "schema", "type",
		        "string", "name", "fieldManager", "in", "query",
		        "schema", "type", "string", "name", "fieldValidation",
		        "in", "query", "schema", "type", "string", "name",
		        "force", "in", "query", "schema", "type", "boolean");
		json_t *op = json_object();
		json_object_set_new(op, "operationId", json_string("patch"));
		json_object_set_new(op, "parameters", params);
		json_object_set_new(
		    op, "x-kubernetes-action", json_string("patch"));
		json_object_set_new(
		    op, "x-kubernetes-group-version-kind", gvk);
		json_object_set_new(paths, p, json_pack("{s:o}", "patch", op));
	}
	return json_pack("{s:s,s:{s:s,s:s},s:o}", "openapi", "3.0.0", "info",
	    "title", "Kubernetes", "version", "v1.32.0", "paths", paths);
}

static bool
discovery(const char *path, kf_resp *r)
{
	if (strcmp(path, "/openapi/v3") == 0) {
		json_t *j = json_pack("{s:{s:{s:s},s:{s:s}}}", "paths",
		    "api/v1", "serverRelativeURL",
		    "/openapi/v3/api/v1?hash=kubefake1", "apis/apps/v1",
		    "serverRelativeURL",
		    "/openapi/v3/apis/apps/v1?hash=kubefake1");
		kf_resp_json(r, 200, j);
		return true;
	}
	if (strcmp(path, "/openapi/v3/api/v1") == 0) {
		kf_resp_json(r, 200, openapi_v3(""));
		return true;
	}
	if (strcmp(path, "/openapi/v3/apis/apps/v1") == 0) {
		kf_resp_json(r, 200, openapi_v3("apps"));
		return true;
	}
	if (strcmp(path, "/api") == 0 || strcmp(path, "/api/") == 0) {
		json_t *j = json_pack("{s:s,s:[s],s:[{s:s,s:s}]}", "kind",
		    "APIVersions", "versions", "v1",
		    "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0",
		    "serverAddress", kf_st.st_host);
		kf_resp_json(r, 200, j);
		return true;
	}
	if (strcmp(path, "/apis") == 0 || strcmp(path, "/apis/") == 0) {
		json_t *j = json_pack(
		    "{s:s,s:s,s:[{s:s,s:[{s:s,s:s}],s:{s:s,s:s}}]}", "kind",
		    "APIGroupList", "apiVersion", "v1", "groups", "name",
		    "apps", "versions", "groupVersion", "apps/v1", "version",
		    "v1", "preferredVersion", "groupVersion", "apps/v1",
		    "version", "v1");
		kf_resp_json(r, 200, j);
		return true;
	}
	if (strcmp(path, "/apis/apps") == 0) {
		json_t *j
		    = json_pack("{s:s,s:s,s:s,s:[{s:s,s:s}],s:{s:s,s:s}}",
		        "kind", "APIGroup", "apiVersion", "v1", "name", "apps",
		        "versions", "groupVersion", "apps/v1", "version", "v1",
		        "preferredVersion", "groupVersion", "apps/v1",
		        "version", "v1");
		kf_resp_json(r, 200, j);
		return true;
	}
	if (strcmp(path, "/api/v1") == 0) {
		kf_resp_json(r, 200, resource_list(""));
		return true;
	}
	if (strcmp(path, "/apis/apps/v1") == 0) {
		kf_resp_json(r, 200, resource_list("apps"));
		return true;
	}
	if (strcmp(path, "/version") == 0) {
		json_t *j = json_pack(
		    "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "major", "1",
		    "minor", "32", "gitVersion", "v1.32.0-kubefake",
		    "gitCommit", "0000000000000000000000000000000000000000",
		    "gitTreeState", "clean", "buildDate",
		    "2025-01-01T00:00:00Z", "goVersion", "c11", "compiler",
		    "gc", "platform", "linux/amd64", "emulationMajor", "1");
		json_object_del(j, "emulationMajor");
		kf_resp_json(r, 200, j);
		return true;
	}
	return false;
}

// ---- routing
// -----------------------------------------------------------------

static int
find_resource(const char *group, const char *name)
{
	for (int i = 0; i < KF_R_COUNT; i++) {
		if (strcmp(kf_resources[i].rs_group, group) == 0
		    && strcmp(kf_resources[i].rs_name, name) == 0) {
			return i;
		}
	}
	return -1;
}

static void
not_found_path(kf_resp *r)
{
	kf_status(r, 404, "NotFound", json_object(),
	    "the server could not find the requested resource");
}

static void
method_not_allowed(kf_resp *r)
{
	kf_status(r, 405, "MethodNotAllowed", json_object(),
	    "the server does not allow this method on the requested resource");
}

typedef struct route {
	int         rt_res;
	int         rt_verb;
	const char *rt_ns;
	const char *rt_name;
	const char *rt_sub;
	char        rt_buf[1024];
} route;

enum { RT_OK, RT_NOTFOUND, RT_METHOD };

// route_parse maps method and path to (verb, resource, ns, name, sub).
static int
route_parse(const kf_req *q, route *rt)
{
	memset(rt, 0, sizeof(*rt));
	rt->rt_res        = -1;
	rt->rt_verb       = KF_V_OTHER;
	const char *path  = q->q_path;
	const char *group = NULL, *rest = NULL;
	if (strncmp(path, "/api/v1/", 8) == 0) {
		group = "";
		rest  = path + 8;
	} else if (strncmp(path, "/apis/apps/v1/", 14) == 0) {
		group = "apps";
		rest  = path + 14;
	} else {
		return RT_NOTFOUND;
	}
	char *seg[7];
	int   n = 0;
	snprintf(rt->rt_buf, sizeof(rt->rt_buf), "%s", rest);
	for (char *s = rt->rt_buf; s && *s && n < 7;) {
		seg[n++]    = s;
		char *slash = strchr(s, '/');
		if (slash) {
			*slash = '\0';
			s      = slash + 1;
		} else {
			s = NULL;
		}
	}
	const char *ns = NULL, *name = NULL, *sub = NULL;
	int         res = -1;
	if (n >= 1 && strcmp(seg[0], "namespaces") == 0 && *group == '\0'
	    && n <= 2) {
		res  = KF_R_NAMESPACES;
		name = n == 2 ? seg[1] : NULL;
	} else if (n >= 3 && strcmp(seg[0], "namespaces") == 0) {
		ns   = seg[1];
		res  = find_resource(group, seg[2]);
		name = n >= 4 ? seg[3] : NULL;
		sub  = n >= 5 ? seg[4] : NULL;
		if (n > 5 || (res >= 0 && !kf_resources[res].rs_namespaced)) {
			res = -1;
		}
	} else if (n == 1) {
		res = find_resource(group, seg[0]);
	}
	if (res < 0
	    || (sub
	        && (strcmp(sub, "status") != 0
	            || !kf_resources[res].rs_status))) {
		return RT_NOTFOUND;
	}
	rt->rt_res    = res;
	rt->rt_ns     = ns;
	rt->rt_name   = name;
	rt->rt_sub    = sub;
	const char *m = q->q_method;
	if (strcmp(m, "GET") == 0) {
		rt->rt_verb = name                  ? KF_V_GET
		    : is_true(kf_query(q, "watch")) ? KF_V_WATCH
		                                    : KF_V_LIST;
	} else if (strcmp(m, "POST") == 0 && !name) {
		rt->rt_verb = KF_V_CREATE;
	} else if (strcmp(m, "PUT") == 0 && name) {
		rt->rt_verb = KF_V_UPDATE;
	} else if (strcmp(m, "PATCH") == 0 && name) {
		rt->rt_verb = KF_V_PATCH;
	} else if (strcmp(m, "DELETE") == 0) {
		rt->rt_verb = name ? KF_V_DELETE : KF_V_DELETECOLLECTION;
	} else {
		return RT_METHOD;
	}
	return RT_OK;
}

void
kf_api_classify(const kf_req *q, int *verb, int *res)
{
	route rt;
	route_parse(q, &rt);
	*verb = rt.rt_verb;
	*res  = rt.rt_res;
}

int
kf_api_handle(kf_req *q, kf_resp *r)
{
	if (discovery(q->q_path, r)) {
		atomic_fetch_add(&kf_st.st_stats.s_discovery, 1);
		return 0;
	}
	route rt;
	switch (route_parse(q, &rt)) {
	case RT_NOTFOUND:
		not_found_path(r);
		return 0;
	case RT_METHOD:
		method_not_allowed(r);
		return 0;
	default:
		break;
	}
	int                res  = rt.rt_res;
	int                verb = rt.rt_verb;
	const char        *ns   = rt.rt_ns;
	const char        *name = rt.rt_name;
	const char        *sub  = rt.rt_sub;
	const kf_resource *rs   = &kf_resources[res];
	if (q->q_readonly && verb != KF_V_GET && verb != KF_V_LIST
	    && verb != KF_V_WATCH) {
		forbidden(r, q, rs, verb, ns, name, sub);
		return 0;
	}
	if (res == KF_R_NAMESPACES
	    && (verb == KF_V_DELETE || verb == KF_V_DELETECOLLECTION)) {
		method_not_allowed(r);
		return 0;
	}
	if (ns && !kf_is_dns1123_label(ns)) {
		kf_status_notfound(r, "", "namespaces", ns);
		return 0;
	}
	wctx w;
	memset(&w, 0, sizeof(w));
	w.w_q    = q;
	w.w_res  = res;
	w.w_rs   = rs;
	w.w_ns   = ns;
	w.w_name = name;
	w.w_sub  = sub;
	manager_name(q, w.w_manager, sizeof(w.w_manager));
	kf_now_rfc3339(w.w_now);
	switch (verb) {
	case KF_V_GET:
		handle_get(q, r, res, ns, name);
		break;
	case KF_V_LIST:
		handle_list(q, r, res, ns);
		break;
	case KF_V_WATCH:
		return handle_watch(q, r, res, ns);
	case KF_V_CREATE:
		handle_create(q, r, &w);
		break;
	case KF_V_UPDATE:
		handle_update(q, r, &w);
		break;
	case KF_V_PATCH:
		handle_patch(q, r, &w);
		break;
	case KF_V_DELETE:
		if (sub) {
			method_not_allowed(r);
		} else {
			handle_delete(q, r, &w);
		}
		break;
	case KF_V_DELETECOLLECTION:
		handle_deletecollection(q, r, res, ns);
		break;
	default:
		method_not_allowed(r);
	}
	return 0;
}
