// kf_watch.c: watch streams without a thread each.
//
// A watch is a chunked response whose content reader drains a per-watch
// buffer. When there is nothing to send, the reader suspends its
// connection (MHD_suspend_connection, the pattern libmicrohttpd documents
// for content readers); a commit, a timeout or a bookmark tick resumes it.
// w_suspended is only changed under w_mu, so a wake-up is never lost and a
// connection is never resumed twice.
//
// Shutdown (kf_st.st_stopping): every watch is marked done and woken, a
// watch opened from then on ends at once, and bookmarks stop re-arming, so
// no connection is left suspended when the HTTP daemon stops.
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"

struct kf_watch {
	atomic_int             w_ref;
	pthread_mutex_t        w_mu;
	struct MHD_Connection *w_conn;
	bool                   w_suspended;
	bool                   w_wake;
	bool                   w_done;
	bool                   w_closed;
	bool                   w_bookmark_due;
	kf_watch_opts          w_o;
	uint64_t               w_cursor; // events up to here are handled
	sf_buf                 w_out;
	size_t                 w_off;
	kf_obj               **w_init; // initial ADDED events still to send
	size_t                 w_ninit;
	size_t                 w_iinit;
	bool                   w_init_end; // bookmark after the initial events
	kf_watch              *w_next;
	kf_watch              *w_prev;
};

static void
watch_unref(kf_watch *w)
{
	if (atomic_fetch_sub(&w->w_ref, 1) != 1) {
		return;
	}
	for (size_t i = w->w_iinit; i < w->w_ninit; i++) {
		kf_obj_unref(w->w_init[i]);
	}
	free(w->w_init);
	free(w->w_o.wo_ns);
	kf_selector_free(w->w_o.wo_labels);
	kf_selector_free(w->w_o.wo_fields);
	sf_buf_fini(&w->w_out);
	pthread_mutex_destroy(&w->w_mu);
	free(w);
}

// wake resumes w's connection or leaves a note for its reader.
static void
wake(kf_watch *w)
{
	pthread_mutex_lock(&w->w_mu);
	if (!w->w_closed) {
		if (w->w_suspended) {
			w->w_suspended = false;
			MHD_resume_connection(w->w_conn);
		} else {
			w->w_wake = true;
		}
	}
	pthread_mutex_unlock(&w->w_mu);
}

// The watcher list has its own lock, never held while calling into
// libmicrohttpd: watch_free runs from inside the library.
static pthread_mutex_t wl_mu = PTHREAD_MUTEX_INITIALIZER;
static kf_watch       *wl_head;

// wake_all wakes the watchers of res (all when res < 0), optionally
// marking them done. Refs keep them alive outside wl_mu.
static void
wake_all(int res, bool done)
{
	kf_watch **v = NULL;
	size_t     n = 0, cap = 0;
	pthread_mutex_lock(&wl_mu);
	for (kf_watch *w = wl_head; w; w = w->w_next) {
		if (res >= 0 && w->w_o.wo_res != res) {
			continue;
		}
		if (n == cap) {
			cap           = cap ? cap * 2 : 16;
			kf_watch **nv = realloc(v, cap * sizeof(*nv));
			if (nv == NULL) {
				break;
			}
			v = nv;
		}
		atomic_fetch_add(&w->w_ref, 1);
		v[n++] = w;
	}
	pthread_mutex_unlock(&wl_mu);
	for (size_t i = 0; i < n; i++) {
		if (done) {
			pthread_mutex_lock(&v[i]->w_mu);
			v[i]->w_done = true;
			pthread_mutex_unlock(&v[i]->w_mu);
		}
		wake(v[i]);
		watch_unref(v[i]);
	}
	free(v);
}

void
kf_watch_notify(void)
{
	kf_state *st = &kf_st;
	wake_all(st->st_hist[st->st_rv % st->st_hcap].ev_res, false);
}

void
kf_watch_shutdown(void)
{
	// st_stopping is already set: kf_watch_open reads it under wl_mu,
	// so a watch is either in the list here or sees the flag.
	wake_all(-1, true);
}

static const char *
ev_name(int type)
{
	switch (type) {
	case KF_EV_ADDED:
		return "ADDED";
	case KF_EV_MODIFIED:
		return "MODIFIED";
	default:
		return "DELETED";
	}
}

static void
emit(kf_watch *w, int type, kf_obj *o, json_t *override)
{
	sf_buf *b = &w->w_out;
	sf_buf_printf(b, "{\"type\":\"%s\",\"object\":", ev_name(type));
	if (w->w_o.wo_table) {
		kf_obj *tmp
		    = override ? kf_obj_new(json_incref(override), 0) : o;
		char rv[32];
		snprintf(rv, sizeof(rv), "%llu", (unsigned long long) o->o_rv);
		json_t *t
		    = kf_table_new(w->w_o.wo_res, &tmp, 1, rv, NULL, true);
		size_t n;
		char  *s = kf_json_dump(t, &n);
		sf_buf_put(b, s, n);
		free(s);
		json_decref(t);
		if (override) {
			kf_obj_unref(tmp);
		}
	} else if (override) {
		size_t n;
		char  *s = kf_json_dump(override, &n);
		sf_buf_put(b, s, n);
		free(s);
	} else {
		sf_buf_put(b, o->o_text, o->o_len);
	}
	sf_buf_puts(b, "}\n");
}

static void
emit_bookmark(kf_watch *w, uint64_t rv, bool initial_end)
{
	const kf_resource *r = &kf_resources[w->w_o.wo_res];
	sf_buf_printf(&w->w_out,
	    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\","
	    "\"apiVersion\":"
	    "\"%s\",\"metadata\":{\"resourceVersion\":\"%llu\","
	    "\"creationTimestamp\":null%s}}}\n",
	    r->rs_kind, r->rs_apiversion, (unsigned long long) rv,
	    initial_end
	        ? ",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}"
	        : "");
}

static void
emit_expired(kf_watch *w, uint64_t asked, uint64_t oldest)
{
	sf_buf_printf(&w->w_out,
	    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
	    "\"apiVersion\":"
	    "\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"too "
	    "old resource version: %llu (%llu)\",\"reason\":\"Expired\","
	    "\"code\":410}}\n",
	    (unsigned long long) asked, (unsigned long long) oldest);
}

static bool
passes(const kf_watch *w, json_t *o)
{
	if (o == NULL) {
		return false;
	}
	if (w->w_o.wo_ns) {
		const char *ns = kf_jstr(o, "metadata.namespace");
		if (ns == NULL || strcmp(ns, w->w_o.wo_ns) != 0) {
			return false;
		}
	}
	return kf_selector_match(
	           w->w_o.wo_labels, kf_jget(o, "metadata.labels"))
	    && kf_selector_match(w->w_o.wo_fields, o);
}

typedef struct pending {
	int     p_type;
	kf_obj *p_new;
	kf_obj *p_old;
} pending;

// fill appends what is ready for w to its buffer.
static void
fill(kf_watch *w)
{
	if (w->w_iinit < w->w_ninit) {
		for (int k = 0; k < 256 && w->w_iinit < w->w_ninit; k++) {
			kf_obj *o = w->w_init[w->w_iinit++];
			emit(w, KF_EV_ADDED, o, NULL);
			kf_obj_unref(o);
		}
		if (w->w_iinit == w->w_ninit && w->w_init_end) {
			emit_bookmark(w, w->w_cursor, true);
		}
		return;
	}
	kf_state *st = &kf_st;
	pending   p[256];
	size_t    np = 0;
	pthread_mutex_lock(&st->st_mu);
	if (w->w_cursor + 1 < st->st_hfirst) {
		// This reader fell behind the bounded history.
		emit_expired(w, w->w_cursor, st->st_hfirst - 1);
		pthread_mutex_unlock(&st->st_mu);
		w->w_done = true;
		return;
	}
	while (w->w_cursor < st->st_rv && np < 256) {
		w->w_cursor++;
		kf_event *ev = &st->st_hist[w->w_cursor % st->st_hcap];
		if (ev->ev_res != w->w_o.wo_res) {
			continue;
		}
		p[np].p_type = ev->ev_type;
		p[np].p_new  = kf_obj_ref(ev->ev_new);
		p[np].p_old  = kf_obj_ref(ev->ev_old);
		np++;
	}
	uint64_t cursor = w->w_cursor;
	pthread_mutex_unlock(&st->st_mu);

	for (size_t i = 0; i < np; i++) {
		bool nowp = p[i].p_type != KF_EV_DELETED
		    && passes(w, p[i].p_new->o_json);
		bool oldp = p[i].p_old && passes(w, p[i].p_old->o_json);
		if (p[i].p_type == KF_EV_DELETED) {
			if (oldp
			    || (p[i].p_old == NULL
			        && passes(w, p[i].p_new->o_json))) {
				emit(w, KF_EV_DELETED, p[i].p_new, NULL);
			}
		} else if (nowp && !oldp) {
			emit(w, KF_EV_ADDED, p[i].p_new, NULL);
		} else if (nowp && oldp) {
			emit(w, KF_EV_MODIFIED, p[i].p_new, NULL);
		} else if (oldp) {
			// Left the selection: DELETED with the old content at
			// the new resourceVersion.
			json_t *o = json_deep_copy(p[i].p_old->o_json);
			json_object_set(kf_jobj(o, "metadata"),
			    "resourceVersion",
			    kf_jget(p[i].p_new->o_json,
			        "metadata.resourceVersion"));
			emit(w, KF_EV_DELETED, p[i].p_new, o);
			json_decref(o);
		}
		kf_obj_unref(p[i].p_new);
		kf_obj_unref(p[i].p_old);
	}
	pthread_mutex_lock(&w->w_mu);
	bool bm           = w->w_bookmark_due;
	w->w_bookmark_due = false;
	pthread_mutex_unlock(&w->w_mu);
	if (bm && w->w_out.b_len == 0) {
		emit_bookmark(w, cursor, false);
	}
}

static ssize_t
reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	kf_watch *w = cls;
	(void) pos;
	for (;;) {
		if (w->w_off < w->w_out.b_len) {
			size_t n = w->w_out.b_len - w->w_off;
			if (n > max) {
				n = max;
			}
			memcpy(buf, w->w_out.b_data + w->w_off, n);
			w->w_off += n;
			if (w->w_off == w->w_out.b_len) {
				sf_buf_reset(&w->w_out);
				w->w_off = 0;
			}
			return (ssize_t) n;
		}
		pthread_mutex_lock(&w->w_mu);
		bool done = w->w_done;
		pthread_mutex_unlock(&w->w_mu);
		if (done) {
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		fill(w);
		if (w->w_out.b_len > 0 || w->w_done) {
			continue;
		}
		pthread_mutex_lock(&w->w_mu);
		if (w->w_wake || w->w_done || w->w_bookmark_due) {
			w->w_wake = false;
			pthread_mutex_unlock(&w->w_mu);
			continue;
		}
		w->w_suspended = true;
		MHD_suspend_connection(w->w_conn);
		pthread_mutex_unlock(&w->w_mu);
		return 0;
	}
}

static void
watch_free(void *cls)
{
	kf_watch *w = cls;
	pthread_mutex_lock(&wl_mu);
	if (w->w_prev) {
		w->w_prev->w_next = w->w_next;
	} else if (wl_head == w) {
		wl_head = w->w_next;
	}
	if (w->w_next) {
		w->w_next->w_prev = w->w_prev;
	}
	atomic_fetch_sub(&kf_st.st_nwatchers, 1);
	pthread_mutex_unlock(&wl_mu);
	pthread_mutex_lock(&w->w_mu);
	w->w_closed = true;
	pthread_mutex_unlock(&w->w_mu);
	watch_unref(w);
}

static void
on_timeout(void *arg)
{
	kf_watch *w = arg;
	pthread_mutex_lock(&w->w_mu);
	w->w_done = true;
	pthread_mutex_unlock(&w->w_mu);
	wake(w);
	watch_unref(w);
}

// arm schedules fn(w) with a reference of its own; false when the timers
// have stopped (shutdown).
static bool
arm(kf_watch *w, int64_t ms, kf_timer_fn fn)
{
	atomic_fetch_add(&w->w_ref, 1);
	if (kf_timer_add(ms, fn, w) != 0) {
		watch_unref(w);
		return false;
	}
	return true;
}

static void
on_bookmark(void *arg)
{
	kf_watch *w = arg;
	pthread_mutex_lock(&w->w_mu);
	bool again
	    = !w->w_closed && !w->w_done && !atomic_load(&kf_st.st_stopping);
	if (again) {
		w->w_bookmark_due = true;
	}
	pthread_mutex_unlock(&w->w_mu);
	if (again) {
		wake(w);
		arm(w, kf_st.st_opts.o_bookmark_ms, on_bookmark);
	}
	watch_unref(w);
}

typedef struct initctx {
	kf_watch *i_w;
	size_t    i_cap;
} initctx;

static int
collect_initial(void *arg, const char *key, void *val)
{
	initctx  *c = arg;
	kf_watch *w = c->i_w;
	kf_obj   *o = val;
	(void) key;
	if (!passes(w, o->o_json)) {
		return 0;
	}
	if (w->w_ninit == c->i_cap) {
		c->i_cap   = c->i_cap ? c->i_cap * 2 : 64;
		kf_obj **v = realloc(w->w_init, c->i_cap * sizeof(*v));
		if (v == NULL) {
			return 1;
		}
		w->w_init = v;
	}
	w->w_init[w->w_ninit++] = kf_obj_ref(o);
	return 0;
}

int
kf_watch_open(struct MHD_Connection *conn, kf_watch_opts *o)
{
	kf_watch *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return MHD_NO;
	}
	atomic_init(&w->w_ref, 1);
	pthread_mutex_init(&w->w_mu, NULL);
	w->w_conn = conn;
	w->w_o    = *o;
	memset(o, 0, sizeof(*o));

	kf_state *st = &kf_st;
	pthread_mutex_lock(&st->st_mu);
	if (w->w_o.wo_initial) {
		initctx c = {w, 0};
		char    prefix[300];
		snprintf(prefix, sizeof(prefix), "%s/",
		    w->w_o.wo_ns ? w->w_o.wo_ns : "");
		kf_tree_walk(st->st_objs[w->w_o.wo_res], NULL,
		    w->w_o.wo_ns && kf_resources[w->w_o.wo_res].rs_namespaced
		        ? prefix
		        : NULL,
		    collect_initial, &c);
		w->w_cursor   = st->st_rv;
		w->w_init_end = w->w_o.wo_initial_end;
	} else if (w->w_o.wo_from + 1 < st->st_hfirst) {
		emit_expired(w, w->w_o.wo_from, st->st_hfirst - 1);
		w->w_done   = true;
		w->w_cursor = st->st_rv;
	} else {
		w->w_cursor
		    = w->w_o.wo_from < st->st_rv ? w->w_o.wo_from : st->st_rv;
	}
	pthread_mutex_lock(&wl_mu);
	// Shutting down: the stream ends after what is already buffered.
	bool stopping = atomic_load(&st->st_stopping);
	if (stopping) {
		w->w_done = true;
	}
	w->w_next = wl_head;
	if (w->w_next) {
		w->w_next->w_prev = w;
	}
	wl_head = w;
	atomic_fetch_add(&st->st_nwatchers, 1);
	pthread_mutex_unlock(&wl_mu);
	pthread_mutex_unlock(&st->st_mu);

	struct MHD_Response *resp = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, 32 * 1024, reader, w, watch_free);
	if (resp == NULL) {
		watch_free(w);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
	int timeout = w->w_o.wo_timeout_s;
	if (timeout <= 0) {
		// kube-apiserver picks a random time in [30m, 60m).
		timeout = 1800 + (int) (kf_rand_u64() % 1800);
	}
	if (!stopping && !arm(w, (int64_t) timeout * 1000, on_timeout)) {
		// The timers stopped after the check above: end now rather
		// than never.
		pthread_mutex_lock(&w->w_mu);
		w->w_done = true;
		pthread_mutex_unlock(&w->w_mu);
		stopping = true;
	}
	if (!stopping && w->w_o.wo_bookmarks) {
		arm(w, st->st_opts.o_bookmark_ms, on_bookmark);
	}
	int rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return rc;
}
