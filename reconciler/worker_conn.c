// worker_conn.c: a worker's connection to its cluster (worker.h). It
// reads /version, lists the cluster's Services page by page (the first
// list before any write: only then is it known what the cluster holds),
// watches them from the list's version, lists again every resync period
// and after a 410, reads the MetalLB pools, and keeps the cluster's
// health: a 401, a failed connection or three transport failures in a row
// take the cluster down, and it is tried again after a backoff.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "clock.h"
#include "log.h"

#include "hash.h"
#include "worker.h"
#include "str.h"

#define LIST_PAGE          250
#define WATCH_TIMEOUT_S    290
#define DOWN_BACKOFF_MIN   500
#define DOWN_BACKOFF_MAX   5000
#define TRANSPORT_FAILURES 3 // in a row, before the cluster counts as down
#define HEALTH_REFRESH_MS  (5 * 60 * 1000)

static bool on_watch_line(void *arg, const char *line, size_t len);

// ------------------------------------------------------------ requests

static void
start_get(
    sf__recon_worker *w, int kind, const char *path, sf__recon_req **slot)
{
	sf__recon_req *q = sf__recon_req_get(w, kind);
	if (q == NULL) {
		return;
	}
	if (sf_kube_req_setup(&q->q_kr, w->w_cfg, "GET", path, NULL, NULL,
	        sf__recon_timeout_ms(w))
	    != 0) {
		sf__recon_req_put(w, q);
		return;
	}
	if (sf__recon_req_start(w, q) == 0) {
		*slot = q;
	}
}

static void
start_list(sf__recon_worker *w, bool resync)
{
	sf_buf path = SF_BUF_INIT;
	sf_buf_printf(&path, "/api/v1/services?limit=%d", LIST_PAGE);
	if (w->w_continue != NULL) {
		sf_buf_puts(&path, "&continue=");
		sf_kube_query_escape(&path, w->w_continue);
	} else {
		// A new list: observations from now on belong to it.
		w->w_list_epoch++;
	}
	if (!path.b_oom) {
		start_get(w, R_LIST, path.b_data, &w->w_list);
		if (w->w_list != NULL) {
			w->w_list->q_resync = resync;
		}
	}
	sf_buf_fini(&path);
}

static void
start_watch(sf__recon_worker *w)
{
	sf_buf         path = SF_BUF_INIT;
	sf__recon_req *q    = sf__recon_req_get(w, R_WATCH);

	if (q == NULL) {
		return;
	}
	sf_buf_printf(&path,
	    "/api/v1/services?watch=1&allowWatchBookmarks=true"
	    "&timeoutSeconds=%d&resourceVersion=",
	    WATCH_TIMEOUT_S);
	sf_kube_query_escape(&path, w->w_rv);
	// No total timeout: the server ends the watch after timeoutSeconds;
	// this is only the backstop for a server that never does.
	if (path.b_oom
	    || sf_kube_req_setup(&q->q_kr, w->w_cfg, "GET", path.b_data, NULL,
	           NULL, (WATCH_TIMEOUT_S + 60) * 1000L)
	        != 0) {
		sf_buf_fini(&path);
		sf__recon_req_put(w, q);
		return;
	}
	sf_buf_fini(&path);
	q->q_kr.kr_line_fn  = on_watch_line;
	q->q_kr.kr_line_arg = q;
	if (sf__recon_req_start(w, q) == 0) {
		w->w_watch = q;
	}
}

// ------------------------------------------------------------ health

static void
health_set(sf__recon_worker *w, int state, const char *msg)
{
	w->w_health = state;
	// Shorter than the message: cut as a line of UTF-8 for svcfleetd.
	sf_kube_one_line(w->w_health_msg, sizeof(w->w_health_msg), sf_nz(msg));
}

void
sf__recon_health_maybe_report(sf__recon_worker *w, int64_t now)
{
	uint64_t       h = SF_HASH_INIT;
	sf__recon_job *j;

	if (w->w_health == 0) {
		return;
	}
	h = sf_hash_u64(h, (uint64_t) w->w_health);
	h = sf_hash_str(h, w->w_health_msg);
	h = sf_hash_str(h, w->w_version);
	h = sf_hash_u64(h, w->w_pools_known);
	h = sf_hash_str(h, w->w_pools_json);
	if (h == w->w_health_sent
	    && now - w->w_health_sent_at < HEALTH_REFRESH_MS) {
		return;
	}
	if ((j = sf__recon_job_new(J_HEALTH, w->w_c->c_name, NULL)) == NULL) {
		return;
	}
	j->j_health     = w->w_health;
	j->j_msg        = strdup(w->w_health_msg);
	j->j_version    = strdup(w->w_version);
	j->j_contact_ms = w->w_contact_ms;
	j->j_pools      = w->w_pools_known && w->w_pools_json
	         ? strdup(w->w_pools_json)
	         : NULL;
	if (j->j_msg == NULL || j->j_version == NULL) {
		sf__recon_job_free(j);
		return;
	}
	w->w_health_sent    = h;
	w->w_health_sent_at = now;
	sf__recon_submit(w->w_r, j);
}

// ------------------------------------------------------------ failures

// down_health is the health of a cluster that failed a request of the
// connection (version, first list) with cls: refusing our credentials or
// unreachable.
static int
down_health(int cls)
{
	return (cls == SF_KUBE_UNAUTHORIZED
	        ? SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED
	        : SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNREACHABLE);
}

static void
go_down(sf__recon_worker *w, int health, const char *msg, int64_t now)
{
	const char *what = health
	        == SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED
	    ? "refuses our credentials"
	    : "is unreachable";
	if (w->w_conn != C_DOWN) {
		SF_WARN(
		    "recon", "cluster=%s %s: %s", w->w_c->c_name, what, msg);
	}
	sf__recon_cancel_all(w);
	free(w->w_continue);
	w->w_continue = NULL;
	w->w_conn     = C_DOWN;
	if (w->w_down_attempts < 100) {
		w->w_down_attempts++;
	}
	w->w_retry_at = now
	    + sf__recon_backoff_ms(
	        w->w_down_attempts, DOWN_BACKOFF_MIN, DOWN_BACKOFF_MAX);
	w->w_failures = 0;
	health_set(w, health, msg);
	sf__recon_mark_all_dirty(w);
}

bool
sf__recon_cluster_failure(
    sf__recon_worker *w, int cls, long code, const char *msg, int64_t now)
{
	if (cls == SF_KUBE_UNAUTHORIZED && code == 401) {
		go_down(w,
		    SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED,
		    msg, now);
		return (true);
	}
	if (!sf_kube_class_answered(cls)) {
		// Nobody there: down now. No answer otherwise (a timeout, a
		// reset): down after a few in a row.
		w->w_failures++;
		if (cls == SF_KUBE_UNREACHABLE
		    || w->w_failures >= TRANSPORT_FAILURES) {
			go_down(w,
			    SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNREACHABLE,
			    msg, now);
			return (true);
		}
	}
	return (false);
}

// ------------------------------------------------------------ completions

static void
sweep(sf__recon_worker *w, int64_t now)
{
	sf__recon_obj *o;
	size_t         i = 0;
	while ((o = sf__recon_objtab_next(&w->w_objs, &i)) != NULL) {
		if ((o->o_flags & O_EXISTS) && o->o_seen != w->w_list_epoch) {
			sf__recon_gone(w, o, 0, now);
		}
	}
}

static void
list_done(sf__recon_worker *w, sf__recon_req *q, int cls, const char *msg,
    int64_t now)
{
	const sf_reconciler_opts *ro     = &w->w_r->r_opts;
	bool                      resync = q->q_resync;
	sf_kube_list              page;

	if (cls == SF_KUBE_OK
	    && sf_kube_list_parse(
	           &page, q->q_kr.kr_body.b_data, q->q_kr.kr_body.b_len)
	        != 0) {
		// Not a list: taken as an empty one it would say that every
		// Service is gone from the cluster.
		sf_kube_list_fini(&page);
		cls = SF_KUBE_SERVER;
		msg = "the cluster answered a list of Services with something "
		      "else";
	}
	if (cls != SF_KUBE_OK) {
		free(w->w_continue);
		w->w_continue = NULL;
		if (cls == SF_KUBE_GONE) {
			// The continue token expired: list again from the top.
			start_list(w, resync);
			return;
		}
		if (!resync) {
			go_down(w, down_health(cls), msg, now);
			return;
		}
		if (!sf__recon_cluster_failure(
		        w, cls, q->q_kr.kr_code, msg, now)) {
			w->w_next_resync = now + 10000;
		}
		return;
	}
	for (size_t i = 0; i < json_array_size(page.li_items); i++) {
		sf__recon_observe(w, json_array_get(page.li_items, i), now);
	}
	if (w->w_continue == NULL && !resync) {
		// The first page's version: the watch starts there. Without
		// one, it starts from the current state (not from a version
		// kept from before, perhaps the expired one that got us here).
		snprintf(w->w_rv, sizeof(w->w_rv), "%s", sf_nz(page.li_rv));
	}
	free(w->w_continue);
	w->w_continue = page.li_continue != NULL && page.li_continue[0] != '\0'
	    ? strdup(page.li_continue)
	    : NULL;
	sf_kube_list_fini(&page);
	if (w->w_continue != NULL) {
		start_list(w, resync);
		return;
	}
	sweep(w, now);
	w->w_next_resync = now + ro->ro_resync_ms;
#ifdef __GLIBC__
	// A list leaves its pages' JSON trees freed in this thread's
	// malloc arena; give those pages back to the system.
	malloc_trim(0);
#endif
	if (!resync) {
		// Listed after a (re)connection: everything is decided anew,
		// without the backoff the outage caused.
		sf__recon_obj *o;
		size_t         i = 0;
		while ((o = sf__recon_objtab_next(&w->w_objs, &i)) != NULL) {
			o->o_next_ms = 0;
			o->o_attempts
			    = (o->o_flags & O_PERM) ? o->o_attempts : 0;
			sf__recon_heap_remove(&w->w_timers, o);
		}
		if (w->w_conn != C_UP) {
			SF_INFO("recon",
			    "cluster=%s listed %zu services (%s), watching",
			    w->w_c->c_name, w->w_objs.t_n, w->w_version);
		}
		w->w_conn          = C_UP;
		w->w_down_attempts = 0;
		w->w_watch_at      = now;
		health_set(w,
		    SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_READY,
		    "");
		if (w->w_pools == NULL) {
			start_get(w, R_POOLS, SF_KUBE_POOLS_PATH, &w->w_pools);
		}
	}
	sf__recon_mark_all_dirty(w);
}

static void
watch_done(sf__recon_worker *w, sf__recon_req *q, int cls, const char *msg,
    int64_t now)
{
	if (w->w_relist) {
		// 410 Expired: the watch cannot resume; list, then watch
		// from the list's version.
		w->w_relist = false;
		if (w->w_list == NULL) {
			w->w_conn = C_LISTING;
			start_list(w, false);
		}
		return;
	}
	if (cls == SF_KUBE_OK) {
		w->w_watch_at = now; // ended by the server: resume now
		return;
	}
	if (cls == SF_KUBE_GONE) {
		w->w_conn = C_LISTING;
		start_list(w, false);
		return;
	}
	if (cls == SF_KUBE_THROTTLED) {
		w->w_watch_at = now + sf__recon_retry_after_ms(q);
		return;
	}
	if (!sf__recon_cluster_failure(w, cls, q->q_kr.kr_code, msg, now)) {
		w->w_watch_at = now + 1000;
	}
}

static void
version_done(sf__recon_worker *w, sf__recon_req *q, int cls, const char *msg,
    int64_t now)
{
	if (cls != SF_KUBE_OK) {
		go_down(w, down_health(cls), msg, now);
		return;
	}
	// An unreadable answer leaves the version empty; the list decides.
	sf_kube_version_parse(q->q_kr.kr_body.b_data, q->q_kr.kr_body.b_len,
	    w->w_version, sizeof(w->w_version));
	free(w->w_continue);
	w->w_continue = NULL;
	w->w_conn     = C_LISTING;
	start_list(w, false);
}

static void
pools_done(sf__recon_worker *w, sf__recon_req *q, int cls, int64_t now)
{
	json_t *pools;
	char   *s;

	(void) now;
	if (cls == SF_KUBE_NOT_FOUND && !q->q_kubefake) {
		// No MetalLB API: perhaps kubefake's simulation.
		start_get(
		    w, R_POOLS, SF_KUBE_POOLS_KUBEFAKE_PATH, &w->w_pools);
		if (w->w_pools != NULL) {
			w->w_pools->q_kubefake = true;
		}
		return;
	}
	if (cls == SF_KUBE_NOT_FOUND) {
		w->w_pools_known = false;
		free(w->w_pools_json);
		w->w_pools_json = NULL;
		return;
	}
	if (cls != SF_KUBE_OK
	    || sf_kube_pools_parse(q->q_kr.kr_body.b_data,
	           q->q_kr.kr_body.b_len, q->q_kubefake, &pools)
	        != 0) {
		return; // keep what we knew; tried again at the next resync
	}
	s = json_dumps(pools, JSON_COMPACT);
	json_decref(pools);
	if (s != NULL) {
		free(w->w_pools_json);
		w->w_pools_json  = s;
		w->w_pools_known = true;
	}
}

void
sf__recon_conn_done(sf__recon_worker *w, sf__recon_req *q, int cls,
    const char *msg, int64_t now)
{
	sf__recon_touched(w);
	switch (q->q_kind) {
	case R_LIST:
		list_done(w, q, cls, msg, now);
		break;
	case R_WATCH:
		watch_done(w, q, cls, msg, now);
		break;
	case R_VERSION:
		version_done(w, q, cls, msg, now);
		break;
	case R_POOLS:
		pools_done(w, q, cls, now);
		break;
	}
}

// ------------------------------------------------------------ the watch

// watch_object finds the object of an ADDED or MODIFIED watch line
// without parsing it; false for any other line.
static bool
watch_object(const char *line, size_t len, const char **p, size_t *n)
{
	static const char *const pre[] = {"{\"type\":\"MODIFIED\",\"object\":",
	    "{\"type\":\"ADDED\",\"object\":"};

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ')) {
		len--;
	}
	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++) {
		size_t k = strlen(pre[i]);
		if (len > k + 1 && memcmp(line, pre[i], k) == 0
		    && line[len - 1] == '}') {
			*p = line + k;
			*n = len - k - 1;
			return (true);
		}
	}
	return (false);
}

static bool
on_watch_line(void *arg, const char *line, size_t len)
{
	sf__recon_req    *q   = arg;
	sf__recon_worker *w   = q->q_w;
	int64_t           now = sf_clock_mono_ms();
	sf_kube_event     ev;
	sf__recon_obj    *o;
	const char       *rv;
	const char       *op;
	size_t            on;
	uint64_t          h = 0;

	if (watch_object(line, len, &op, &on)) {
		char erv[sizeof(w->w_rv)];
		h = sf__recon_echo_hash(op, on);
		if (sf__recon_echo_take(w, h, erv, sizeof(erv))) {
			// An object parsed already, from an apply's answer.
			w->w_contact_ms = sf_clock_now_ms();
			if (erv[0] != '\0') {
				snprintf(w->w_rv, sizeof(w->w_rv), "%s", erv);
			}
			return (true);
		}
	}
	if (sf_kube_event_parse(&ev, line, len) != 0) {
		sf_kube_event_fini(&ev);
		return (true); // not a JSON line: skip it
	}
	w->w_contact_ms = sf_clock_now_ms();
	rv              = ev.ev_meta.km_rv;
	switch (ev.ev_type) {
	case SF_KUBE_EV_NONE:
		break;
	case SF_KUBE_EV_ERROR:
		SF_INFO("recon", "cluster=%s watch error %lld: %s",
		    w->w_c->c_name, (long long) ev.ev_code,
		    sf_nz(ev.ev_message));
		w->w_relist = ev.ev_code == 410;
		sf_kube_event_fini(&ev);
		return (false);
	default:
		if (rv != NULL && rv[0] != '\0') {
			snprintf(w->w_rv, sizeof(w->w_rv), "%s", rv);
		}
		if (ev.ev_type == SF_KUBE_EV_ADDED
		    || ev.ev_type == SF_KUBE_EV_MODIFIED) {
			sf__recon_observe(w, ev.ev_object, now);
			if (h != 0) {
				sf__recon_echo_put(w, h, rv);
			}
		} else if (ev.ev_type == SF_KUBE_EV_DELETED
		    && ev.ev_meta.km_has_key
		    && (o = sf__recon_objtab_get(
		            &w->w_objs, ev.ev_meta.km_key))
		        != NULL) {
			sf__recon_gone(w, o, ev.ev_meta.km_rv_num, now);
		}
		break;
	}
	sf_kube_event_fini(&ev);
	return (true);
}

// ------------------------------------------------------------ the loop

void
sf__recon_conn_step(sf__recon_worker *w, int64_t now)
{
	switch (w->w_conn) {
	case C_DOWN:
	case C_IDLE:
		// A down cluster whose retry is due is probed in this step:
		// nothing would wake the worker for a step of C_IDLE later
		// (s28-tick: without the once-a-second tick it stayed down).
		if (now < w->w_retry_at) {
			return;
		}
		start_get(w, R_VERSION, "/version", &w->w_probe);
		if (w->w_probe != NULL) {
			w->w_conn = C_VERSION;
			return;
		}
		// Not started (out of memory, or the multi handle refused
		// it): tried again after a backoff, in the same state.
		w->w_retry_at = now
		    + sf__recon_backoff_ms(
		        w->w_down_attempts > 0 ? w->w_down_attempts : 1,
		        DOWN_BACKOFF_MIN, DOWN_BACKOFF_MAX);
		return;
	case C_UP:
		if (w->w_watch == NULL && w->w_list == NULL
		    && now >= w->w_watch_at) {
			start_watch(w);
			if (w->w_watch == NULL) {
				w->w_watch_at = now + 1000; // not started
			}
		}
		if (w->w_list == NULL && now >= w->w_next_resync) {
			start_list(w, true);
			if (w->w_list == NULL) {
				w->w_next_resync = now + 10000; // not started
			}
			// Pools are read again with every resync.
			if (w->w_pools == NULL) {
				start_get(w, R_POOLS, SF_KUBE_POOLS_PATH,
				    &w->w_pools);
			}
		}
		return;
	default:
		return;
	}
}

int64_t
sf__recon_conn_due(const sf__recon_worker *w)
{
	int64_t t = INT64_MAX;

	switch (w->w_conn) {
	case C_DOWN:
	case C_IDLE:
		t = w->w_retry_at;
		break;
	case C_UP:
		// The watch re-opens and the resync starts only while no list
		// is in flight; its end is a transfer finishing, not a time.
		if (w->w_list == NULL) {
			t = w->w_next_resync;
			if (w->w_watch == NULL && w->w_watch_at < t) {
				t = w->w_watch_at;
			}
		}
		break;
	default:
		break; // waiting for /version or the first list
	}
	if (w->w_health != 0 && w->w_health_sent_at + HEALTH_REFRESH_MS < t) {
		t = w->w_health_sent_at + HEALTH_REFRESH_MS;
	}
	return (t);
}
