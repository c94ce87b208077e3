// kf_http.c: the HTTP server (libmicrohttpd with its epoll thread pool,
// fed its connections by the TLS front end, kf_front.c): request bodies,
// bearer-token authentication, fault injection, request counters, the
// /_kubefake control endpoints, and handing API requests to kf_api.c.
//
// Injected latency does not block a pool thread: the request's
// connection is suspended and a timer resumes it. The timers stop (and
// resume every such connection) before the daemon does, so a connection
// is never resumed after MHD_stop_daemon; once kf_st.st_stopping is set,
// requests get no answer (their connection closes) and none is delayed.
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kf.h"
#include "kf_http.h"
#include "log.h"

#define MAX_BODY (3 * 1024 * 1024) // kube-apiserver's request size limit

typedef struct creq {
	kf_req                 c_q;
	sf_buf                 c_body;
	bool                   c_too_big;
	int                    c_delay; // 0 none yet, 1 suspended, 2 done
	struct MHD_Connection *c_conn;
} creq;

const char *
kf_query(const kf_req *q, const char *name)
{
	return MHD_lookup_connection_value(
	    q->q_conn, MHD_GET_ARGUMENT_KIND, name);
}

static int
send_resp(struct MHD_Connection *c, kf_resp *r, bool api)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(r->r_len,
	    r->r_body ? r->r_body : "",
	    r->r_body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		kf_resp_fini(r);
		return MHD_NO;
	}
	r->r_body = NULL; // owned by the response now
	MHD_add_response_header(resp, "Content-Type",
	    r->r_ctype ? r->r_ctype : "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
	if (r->r_retry_after[0]) {
		MHD_add_response_header(resp, "Retry-After", r->r_retry_after);
	}
	if (r->r_warning) {
		// One Warning header per unknown field, as the apiserver
		// sends.
		char *save = NULL;
		for (char *w = strtok_r(r->r_warning, ",", &save); w;
		     w       = strtok_r(NULL, ",", &save)) {
			while (*w == ' ') {
				w++;
			}
			char *q = kf_goquote(w);
			char  hdr[1024];
			snprintf(hdr, sizeof(hdr), "299 - %s", q);
			free(q);
			MHD_add_response_header(resp, "Warning", hdr);
		}
	}
	int code = r->r_code ? r->r_code : 500;
	if (api) {
		kf_stats *s = &kf_st.st_stats;
		if (code >= 100 && code < 600) {
			atomic_fetch_add(&s->s_code[code / 100], 1);
		}
		if (code == 429) {
			atomic_fetch_add(&s->s_429, 1);
		} else if (code == 409) {
			atomic_fetch_add(&s->s_409, 1);
		}
	}
	int rc = MHD_queue_response(c, (unsigned) code, resp);
	MHD_destroy_response(resp);
	kf_resp_fini(r);
	return rc;
}

// ---- authentication ------------------------------------------------------

static bool
token_eq(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	return na == nb && CRYPTO_memcmp(a, b, na) == 0;
}

// authenticate: 1 read-write, 2 read-only, 0 no token, -1 a bad token.
static int
authenticate(struct MHD_Connection *c)
{
	const char *h
	    = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (h == NULL) {
		return 0;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		return -1;
	}
	const char *t = h + 7;
	while (*t == ' ') {
		t++;
	}
	int ok = -1;
	for (int i = 0; i < kf_st.st_opts.o_ntokens; i++) {
		if (token_eq(t, kf_st.st_opts.o_tokens[i])) {
			ok = 1;
		}
	}
	for (int i = 0; i < kf_st.st_opts.o_nro_tokens; i++) {
		if (token_eq(t, kf_st.st_opts.o_ro_tokens[i])) {
			ok = 2;
		}
	}
	return ok;
}

static void
unauthorized(kf_resp *r)
{
	kf_status(r, 401, "Unauthorized", NULL, "Unauthorized");
}

// ---- /_kubefake
// ---------------------------------------------------------------

static json_t *
faults_json(void)
{
	kf_faults f;
	pthread_mutex_lock(&kf_st.st_fmu);
	f = kf_st.st_faults;
	pthread_mutex_unlock(&kf_st.st_fmu);
	json_t *j
	    = json_pack("{s:i,s:f,s:i,s:i,s:f,s:b,s:f,s:f,s:i}", "latency_ms",
	        f.f_latency_ms, "error_rate", f.f_error_rate, "error_status",
	        f.f_error_status, "retry_after_s", f.f_retry_after_s,
	        "drop_rate", f.f_drop_rate, "refuse_all", f.f_refuse_all,
	        "h2_rst_rate", f.f_h2_rst_rate, "h2_rst_after_rate",
	        f.f_h2_rst_after_rate, "h2_goaway_after", f.f_h2_goaway_after);
	// i19-diff: the admission webhook that denies (kf_admit.c).
	if (j != NULL) {
		json_object_set_new(
		    j, "admission_deny", json_string(f.f_admission_deny));
		json_object_set_new(
		    j, "admission_status", json_integer(f.f_admission_status));
		json_object_set_new(j, "admission_webhook",
		    json_string(f.f_admission_webhook));
		json_object_set_new(j, "admission_dry_run_only",
		    json_boolean(f.f_admission_dry_run_only));
	}
	return j;
}

static void
set_faults(const kf_req *q, kf_resp *r)
{
	json_error_t je;
	json_t      *j = q->q_blen ? json_loadb(q->q_body, q->q_blen, 0, &je)
	                           : json_object();
	if (!json_is_object(j)) {
		json_decref(j);
		kf_status_badrequest(r, "faults: a JSON object is expected");
		return;
	}
	kf_faults f = {0, 0, 500, 1, 0, false, 0, 0, 0, "", "", 400, false};
	json_t   *v;
	snprintf(f.f_admission_webhook, sizeof(f.f_admission_webhook), "%s",
	    "deny.kubefake.test");
	if ((v = json_object_get(j, "latency_ms"))) {
		f.f_latency_ms = (int) json_number_value(v);
	}
	if ((v = json_object_get(j, "error_rate"))) {
		f.f_error_rate = json_number_value(v);
	}
	if ((v = json_object_get(j, "error_status"))) {
		f.f_error_status = (int) json_number_value(v);
	}
	if ((v = json_object_get(j, "retry_after_s"))) {
		f.f_retry_after_s = (int) json_number_value(v);
	}
	if ((v = json_object_get(j, "drop_rate"))) {
		f.f_drop_rate = json_number_value(v);
	}
	if ((v = json_object_get(j, "refuse_all"))) {
		f.f_refuse_all = json_is_true(v);
	}
	if ((v = json_object_get(j, "h2_rst_rate"))) {
		f.f_h2_rst_rate = json_number_value(v);
	}
	if ((v = json_object_get(j, "h2_rst_after_rate"))) {
		f.f_h2_rst_after_rate = json_number_value(v);
	}
	if ((v = json_object_get(j, "h2_goaway_after"))) {
		f.f_h2_goaway_after = (int) json_number_value(v);
	}
	// i19-diff: the admission webhook's answer (kf_admit.c).
	const char *deny
	    = json_string_value(json_object_get(j, "admission_deny"));
	const char *hook
	    = json_string_value(json_object_get(j, "admission_webhook"));
	if ((deny != NULL && strlen(deny) >= sizeof(f.f_admission_deny))
	    || (hook != NULL
	        && (hook[0] == '\0'
	            || strlen(hook) >= sizeof(f.f_admission_webhook)))) {
		json_decref(j);
		kf_status_badrequest(r,
		    "faults: admission_deny at most %zu bytes, "
		    "admission_webhook 1 to %zu",
		    sizeof(f.f_admission_deny) - 1,
		    sizeof(f.f_admission_webhook) - 1);
		return;
	}
	if (deny != NULL) {
		snprintf(f.f_admission_deny, sizeof(f.f_admission_deny), "%s",
		    deny);
	}
	if (hook != NULL) {
		snprintf(f.f_admission_webhook, sizeof(f.f_admission_webhook),
		    "%s", hook);
	}
	if ((v = json_object_get(j, "admission_status"))) {
		f.f_admission_status = (int) json_number_value(v);
	}
	if ((v = json_object_get(j, "admission_dry_run_only"))) {
		f.f_admission_dry_run_only = json_is_true(v);
	}
	json_decref(j);
	if (f.f_admission_status < 400 || f.f_admission_status > 599) {
		kf_status_badrequest(r, "faults: admission_status 400..599");
		return;
	}
	if (f.f_h2_rst_rate < 0 || f.f_h2_rst_rate > 1
	    || f.f_h2_rst_after_rate < 0 || f.f_h2_rst_after_rate > 1
	    || f.f_h2_goaway_after < 0) {
		kf_status_badrequest(r,
		    "faults: h2_rst_rate and h2_rst_after_rate 0..1, "
		    "h2_goaway_after >= 0");
		return;
	}
	if (f.f_latency_ms < 0 || f.f_latency_ms > 600000 || f.f_error_rate < 0
	    || f.f_error_rate > 1 || f.f_drop_rate < 0 || f.f_drop_rate > 1
	    || f.f_error_status < 400 || f.f_error_status > 599
	    || f.f_retry_after_s < 0) {
		kf_status_badrequest(r,
		    "faults: latency_ms 0..600000, error_rate and drop_rate "
		    "0..1, "
		    "error_status 400..599, retry_after_s >= 0");
		return;
	}
	pthread_mutex_lock(&kf_st.st_fmu);
	kf_st.st_faults = f;
	pthread_mutex_unlock(&kf_st.st_fmu);
	SF_INFO("kubefake",
	    "faults: latency_ms=%d error_rate=%.3f error_status=%d "
	    "retry_after_s=%d drop_rate=%.3f refuse_all=%d "
	    "admission_deny=\"%s\"",
	    f.f_latency_ms, f.f_error_rate, f.f_error_status,
	    f.f_retry_after_s, f.f_drop_rate, f.f_refuse_all,
	    f.f_admission_deny);
	kf_resp_json(r, 200, faults_json());
}

static json_t *
stats_json(void)
{
	kf_stats          *s       = &kf_st.st_stats;
	static const char *verbs[] = {"get", "list", "watch", "create",
	    "update", "patch", "delete", "deletecollection", "other"};
	json_t            *j       = json_object();
	json_t            *v       = json_object();
	json_t            *res     = json_object();
	json_object_set_new(
	    j, "requests", json_integer((json_int_t) s->s_total));
	for (int i = 0; i < KF_V_COUNT; i++) {
		json_object_set_new(
		    v, verbs[i], json_integer((json_int_t) s->s_verb[i]));
	}
	json_object_set_new(j, "verbs", v);
	for (int r = 0; r < KF_R_COUNT; r++) {
		json_t *rv = json_object();
		for (int i = 0; i < KF_V_COUNT; i++) {
			if (s->s_verb_res[i][r]) {
				json_object_set_new(rv, verbs[i],
				    json_integer(
				        (json_int_t) s->s_verb_res[i][r]));
			}
		}
		json_object_set_new(res, kf_resources[r].rs_name, rv);
	}
	json_object_set_new(j, "resources", res);
	json_object_set_new(
	    j, "discovery", json_integer((json_int_t) s->s_discovery));
	json_t *codes = json_object();
	for (int i = 1; i < 6; i++) {
		char k[8];
		snprintf(k, sizeof(k), "%dxx", i);
		json_object_set_new(
		    codes, k, json_integer((json_int_t) s->s_code[i]));
	}
	json_object_set_new(codes, "409", json_integer((json_int_t) s->s_409));
	json_object_set_new(codes, "429", json_integer((json_int_t) s->s_429));
	json_object_set_new(j, "codes", codes);
	json_object_set_new(j, "faults",
	    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "latency",
	        (json_int_t) s->s_fault_latency, "error",
	        (json_int_t) s->s_fault_error, "drop",
	        (json_int_t) s->s_fault_drop, "refused",
	        (json_int_t) s->s_fault_refuse, "h2_rst",
	        (json_int_t) s->s_fault_rst, "h2_goaway",
	        (json_int_t) s->s_fault_goaway));
	// i19-diff: writes the admission webhook denied.
	json_object_set_new(json_object_get(j, "faults"), "admission",
	    json_integer((json_int_t) s->s_fault_admission));
	// Connections accepted per ALPN protocol and h2 streams opened
	// (issue 21): many requests on few connections is multiplexing.
	json_object_set_new(j, "connections",
	    json_pack("{s:I,s:I}", "h2", (json_int_t) s->s_conn_h2, "http1",
	        (json_int_t) s->s_conn_http1));
	json_object_set_new(
	    j, "h2_streams", json_integer((json_int_t) s->s_h2_streams));
	json_object_set_new(
	    j, "watchers", json_integer((json_int_t) kf_st.st_nwatchers));
	pthread_mutex_lock(&kf_st.st_mu);
	json_object_set_new(
	    j, "resourceVersion", json_integer((json_int_t) kf_st.st_rv));
	json_t *objs = json_object();
	for (int r = 0; r < KF_R_COUNT; r++) {
		json_object_set_new(objs, kf_resources[r].rs_name,
		    json_integer(
		        (json_int_t) kf_tree_count(kf_st.st_objs[r])));
	}
	pthread_mutex_unlock(&kf_st.st_mu);
	json_object_set_new(j, "objects", objs);
	return j;
}

// ---- the write log (issue 16): every write to a Service that the API
// accepted, with the reconciler and claim token the writer sent in the
// X-Svcfleet-Reconciler and X-Svcfleet-Claim-Token headers, in the order
// kubefake answered them. GET /_kubefake/writes. At most WLOG_MAX kept.

#define WLOG_MAX 100000

typedef struct wlog_ent {
	char     w_method[8];
	char     w_path[160];
	char     w_rec[80];
	uint64_t w_token;
	int      w_code;
} wlog_ent;

static pthread_mutex_t wlog_mu = PTHREAD_MUTEX_INITIALIZER;
static wlog_ent       *wlog;
static size_t          wlog_n, wlog_cap;

static void
wlog_add(struct MHD_Connection *c, const kf_req *q, int code)
{
	const char *rec, *tok;
	if (strcmp(q->q_method, "GET") == 0
	    || strstr(q->q_path, "/services") == NULL || code < 200
	    || code > 299) {
		return;
	}
	rec = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, "X-Svcfleet-Reconciler");
	tok = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, "X-Svcfleet-Claim-Token");
	pthread_mutex_lock(&wlog_mu);
	if (wlog_n == wlog_cap && wlog_cap < WLOG_MAX) {
		size_t    nc = wlog_cap ? wlog_cap * 2 : 1024;
		wlog_ent *n  = realloc(wlog, nc * sizeof(*n));
		if (n != NULL) {
			wlog     = n;
			wlog_cap = nc;
		}
	}
	if (wlog_n < wlog_cap) {
		wlog_ent *e = &wlog[wlog_n++];
		snprintf(e->w_method, sizeof(e->w_method), "%s", q->q_method);
		snprintf(e->w_path, sizeof(e->w_path), "%s", q->q_path);
		snprintf(e->w_rec, sizeof(e->w_rec), "%s", rec ? rec : "");
		e->w_token = tok ? strtoull(tok, NULL, 10) : 0;
		e->w_code  = code;
	}
	pthread_mutex_unlock(&wlog_mu);
}

static json_t *
wlog_json(void)
{
	json_t *a = json_array();
	pthread_mutex_lock(&wlog_mu);
	for (size_t i = 0; a != NULL && i < wlog_n; i++) {
		json_array_append_new(a,
		    json_pack("{s:I,s:s,s:s,s:s,s:I,s:i}", "seq",
		        (json_int_t) i, "method", wlog[i].w_method, "path",
		        wlog[i].w_path, "reconciler", wlog[i].w_rec, "token",
		        (json_int_t) wlog[i].w_token, "code", wlog[i].w_code));
	}
	pthread_mutex_unlock(&wlog_mu);
	return json_pack("{s:o}", "writes", a);
}

static void
admin(const kf_req *q, kf_resp *r, int who)
{
	const char *p   = q->q_path + strlen("/_kubefake");
	bool        get = strcmp(q->q_method, "GET") == 0;
	bool        set = strcmp(q->q_method, "POST") == 0
	    || strcmp(q->q_method, "PUT") == 0;
	if (!get && who != 1) {
		kf_status(r, 403, "Forbidden", NULL,
		    "the read-only token cannot change kubefake");
		return;
	}
	if (strcmp(p, "/faults") == 0 && get) {
		kf_resp_json(r, 200, faults_json());
	} else if (strcmp(p, "/faults") == 0 && set) {
		set_faults(q, r);
	} else if (strcmp(p, "/faults") == 0
	    && strcmp(q->q_method, "DELETE") == 0) {
		kf_req empty = *q;
		empty.q_blen = 0;
		set_faults(&empty, r);
	} else if (strcmp(p, "/stats") == 0 && get) {
		kf_resp_json(r, 200, stats_json());
	} else if (strcmp(p, "/stats/reset") == 0 && set) {
		kf_stats *s = &kf_st.st_stats;
		memset(s, 0, sizeof(*s));
		kf_resp_json(r, 200, stats_json());
	} else if (strcmp(p, "/writes") == 0 && get) {
		kf_resp_json(r, 200, wlog_json());
	} else if (strcmp(p, "/metallb/pools") == 0 && get) {
		// The pools' use changes under st_mu (the MetalLB timer).
		pthread_mutex_lock(&kf_st.st_mu);
		json_t *pools = kf_metallb_pools_json();
		pthread_mutex_unlock(&kf_st.st_mu);
		kf_resp_json(r, 200, pools);
	} else {
		kf_status(r, 404, "NotFound", json_object(),
		    "the server could not find the requested resource");
	}
}

// ---- request flow
// ---------------------------------------------------------------

static void
resume_delayed(void *arg)
{
	creq *cr    = arg;
	cr->c_delay = 2;
	MHD_resume_connection(cr->c_conn);
}

static bool
chance(double rate)
{
	if (rate <= 0) {
		return false;
	}
	if (rate >= 1) {
		return true;
	}
	return (double) (kf_rand_u64() >> 11) / 9007199254740992.0 < rate;
}

static bool
public_path(const char *p)
{
	return strcmp(p, "/healthz") == 0 || strcmp(p, "/readyz") == 0
	    || strcmp(p, "/livez") == 0 || strcmp(p, "/version") == 0
	    || strncmp(p, "/healthz/", 9) == 0
	    || strncmp(p, "/readyz/", 8) == 0 || strncmp(p, "/livez/", 7) == 0;
}

static enum MHD_Result
handle(creq *cr)
{
	kf_req                *q = &cr->c_q;
	struct MHD_Connection *c = cr->c_conn;
	kf_resp                r;
	memset(&r, 0, sizeof(r));
	bool      ctl = strncmp(q->q_path, "/_kubefake/", 11) == 0;
	kf_stats *s   = &kf_st.st_stats;
	if (atomic_load(&kf_st.st_stopping)) {
		return MHD_NO;
	}
	if (!ctl && cr->c_delay == 0) {
		atomic_fetch_add(&s->s_total, 1);
		int verb, res;
		q->q_conn = c;
		kf_api_classify(q, &verb, &res);
		atomic_fetch_add(&s->s_verb[verb], 1);
		if (res >= 0) {
			atomic_fetch_add(&s->s_verb_res[verb][res], 1);
		}
		kf_faults f;
		pthread_mutex_lock(&kf_st.st_fmu);
		f = kf_st.st_faults;
		pthread_mutex_unlock(&kf_st.st_fmu);
		if (f.f_refuse_all) {
			atomic_fetch_add(&s->s_fault_refuse, 1);
			return MHD_NO;
		}
		if (chance(f.f_drop_rate)) {
			atomic_fetch_add(&s->s_fault_drop, 1);
			return MHD_NO;
		}
		if (f.f_latency_ms > 0) {
			atomic_fetch_add(&s->s_fault_latency, 1);
			cr->c_delay = 1;
			MHD_suspend_connection(c);
			if (kf_timer_add(f.f_latency_ms, resume_delayed, cr)
			    != 0) {
				// Shutting down: no delay (the request is
				// refused when it comes back).
				resume_delayed(cr);
			}
			return MHD_YES;
		}
		cr->c_delay = 2;
	}
	if (!ctl) {
		kf_faults f;
		pthread_mutex_lock(&kf_st.st_fmu);
		f = kf_st.st_faults;
		pthread_mutex_unlock(&kf_st.st_fmu);
		if (chance(f.f_error_rate)) {
			atomic_fetch_add(&s->s_fault_error, 1);
			int code = f.f_error_status;
			if (code == 429) {
				json_t *det = json_pack("{s:i}",
				    "retryAfterSeconds", f.f_retry_after_s);
				kf_status(&r, 429, "TooManyRequests", det,
				    "Too many requests, please try again "
				    "later.");
			} else if (code == 503) {
				kf_status(&r, 503, "ServiceUnavailable", NULL,
				    "The server is currently unable to handle "
				    "the "
				    "request");
			} else if (code >= 500) {
				kf_status_internal(
				    &r, "kubefake: injected fault");
				r.r_code = code;
			} else {
				kf_status(&r, code, "BadRequest", NULL,
				    "kubefake: injected fault");
			}
			if (code == 429 || code == 503) {
				snprintf(r.r_retry_after,
				    sizeof(r.r_retry_after), "%d",
				    f.f_retry_after_s);
			}
			return (enum MHD_Result) send_resp(c, &r, true);
		}
	}
	int who = authenticate(c);
	if (who < 0 || (who == 0 && !public_path(q->q_path))) {
		unauthorized(&r);
		return (enum MHD_Result) send_resp(c, &r, !ctl);
	}
	q->q_body     = cr->c_body.b_data;
	q->q_blen     = cr->c_body.b_len;
	q->q_readonly = who == 2;
	q->q_user     = who == 2 ? "kubefake-readonly" : "kubefake-admin";
	if (ctl) {
		admin(q, &r, who);
		return (enum MHD_Result) send_resp(c, &r, false);
	}
	if (strcmp(q->q_path, "/healthz") == 0
	    || strcmp(q->q_path, "/readyz") == 0
	    || strcmp(q->q_path, "/livez") == 0) {
		struct MHD_Response *resp = MHD_create_response_from_buffer(
		    2, (void *) "ok", MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(
		    resp, "Content-Type", "text/plain; charset=utf-8");
		int rc = MHD_queue_response(c, 200, resp);
		MHD_destroy_response(resp);
		atomic_fetch_add(&s->s_code[2], 1);
		return (enum MHD_Result) rc;
	}
	if (cr->c_too_big) {
		kf_status(&r, 413, "RequestEntityTooLarge", NULL,
		    "Request entity too large: limit is 3145728");
		return (enum MHD_Result) send_resp(c, &r, true);
	}
	q->q_body = cr->c_body.b_data;
	q->q_blen = cr->c_body.b_len;
	q->q_conn = c;
	int rc    = kf_api_handle(q, &r);
	if (rc == 0) {
		wlog_add(c, q, r.r_code);
	}
	if (rc == 1) {
		atomic_fetch_add(&s->s_code[2], 1);
		return MHD_YES;
	}
	if (rc == 2) {
		return MHD_NO;
	}
	return (enum MHD_Result) send_resp(c, &r, true);
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	(void) cls;
	(void) version;
	creq *cr = *con_cls;
	if (cr == NULL) {
		cr = calloc(1, sizeof(*cr));
		if (cr == NULL) {
			return MHD_NO;
		}
		cr->c_conn       = c;
		cr->c_q.q_method = method;
		cr->c_q.q_path   = url;
		cr->c_q.q_ctype  = MHD_lookup_connection_value(
		     c, MHD_HEADER_KIND, "Content-Type");
		cr->c_q.q_accept = MHD_lookup_connection_value(
		    c, MHD_HEADER_KIND, "Accept");
		cr->c_q.q_agent = MHD_lookup_connection_value(
		    c, MHD_HEADER_KIND, "User-Agent");
		cr->c_q.q_conn = c;
		*con_cls       = cr;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (cr->c_body.b_len + *upload_size > MAX_BODY) {
			cr->c_too_big = true;
		} else {
			sf_buf_put(&cr->c_body, upload, *upload_size);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	return handle(cr);
}

static void
completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	(void) cls;
	(void) c;
	(void) toe;
	creq *cr = *con_cls;
	if (cr != NULL) {
		sf_buf_fini(&cr->c_body);
		free(cr);
		*con_cls = NULL;
	}
}

// libmicrohttpd's log callback: fmt and ap are its own printf arguments.
__attribute__((format(printf, 2, 0))) static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void) cls;
	if (sf_log_get_level() > SF_LOG_DEBUG) {
		return;
	}
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
		buf[--n] = '\0';
	}
	SF_DEBUG("mhd", "%s", buf);
}

struct MHD_Daemon *
kf_http_start(int threads, char *name, size_t cap)
{
	// An abstract unix socket (no file), unique per process.
	struct sockaddr_un un;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	snprintf(name, cap, "kubefake-%ld-%016llx", (long) getpid(),
	    (unsigned long long) kf_rand_u64());
	size_t n = strlen(name);
	if (n + 1 > sizeof(un.sun_path)) {
		return NULL;
	}
	memcpy(un.sun_path + 1, name, n);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0
	    || bind(lfd, (struct sockaddr *) &un,
	           (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1
	               + n))
	        != 0
	    || listen(lfd, 1024) != 0) {
		if (lfd >= 0) {
			close(lfd);
		}
		return NULL;
	}
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC
	    | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d
	    = MHD_start_daemon(flags, 0, NULL, NULL, access_cb, NULL,
	        MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_EXTERNAL_LOGGER,
	        mhd_log, NULL, MHD_OPTION_THREAD_POOL_SIZE, (unsigned) threads,
	        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, NULL,
	        MHD_OPTION_CONNECTION_LIMIT, (unsigned) 8192,
	        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 600, MHD_OPTION_END);
	if (d == NULL) {
		close(lfd);
	}
	return d;
}
