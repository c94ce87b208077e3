// watch.c: WatchServices long polls.
//
// A watch with nothing to report is parked here. The store's commit hook
// (on the writer thread) only records the new revision and wakes the watch
// thread; the watch thread reads the change feed for the parked calls and
// answers those that have events, and answers the others with no events
// when their wait ends. Reads never happen on the writer thread, so long
// polls cannot slow commits.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "log.h"

#define WATCH_MAX_EVENTS_DEFAULT 500
#define WATCH_MAX_EVENTS_LIMIT   10000

typedef struct waiter waiter;
struct waiter {
	waiter                             *w_next;
	sf__srv_call                       *w_call;
	Svcfleet__V1__WatchServicesRequest *w_req;
	int64_t                             w_until_us;
};

struct sf__srv_watchers {
	pthread_mutex_t wt_mtx;
	pthread_cond_t  wt_cv;
	pthread_t       wt_thread;
	bool            wt_stop;
	waiter         *wt_list;
	uint64_t        wt_revision; // newest committed revision seen
	size_t          wt_parked;
	sf_server      *wt_srv;
};

typedef struct feed_filter {
	const char   *cluster;
	const char   *ns;
	sf__srv_call *call;
} feed_filter;

static bool
feed_key_ok(void *arg, const char *cluster, const char *ns)
{
	feed_filter *f = arg;
	if (f->cluster != NULL && f->cluster[0] != '\0'
	    && strcmp(f->cluster, cluster) != 0) {
		return (false);
	}
	if (f->ns != NULL && f->ns[0] != '\0' && strcmp(f->ns, ns) != 0) {
		return (false);
	}
	// Only changes the caller may see.
	return (
	    sf__srv_call_allowed(f->call, "services", "watch", cluster, ns));
}

bool
sf__srv_watch_try(
    sf__srv_call *c, const Svcfleet__V1__WatchServicesRequest *req, bool final)
{
	Svcfleet__V1__WatchServicesRequest *r = (void *) req;
	Svcfleet__V1__WatchEvent          **events;
	size_t                              n;
	uint64_t                            next;
	uint32_t                            max = r->max_events;
	feed_filter     ff     = {r->cluster, r->namespace_, c};
	sf_store_filter filter = {feed_key_ok, NULL, &ff};
	int             rv;

	if (max == 0) {
		max = WATCH_MAX_EVENTS_DEFAULT;
	} else if (max > WATCH_MAX_EVENTS_LIMIT) {
		max = WATCH_MAX_EVENTS_LIMIT;
	}
	rv = sf_store_feed_read(c->c_srv->s_store, r->since_revision, max,
	    &filter, sf_arena_pbc(&c->c_arena), &events, &n, &next);
	if (rv == SF_OUT_OF_RANGE) {
		sf__srv_call_fail(c, SF_OUT_OF_RANGE,
		    "revision %llu is older than the change history kept; "
		    "list again and watch from the list's revision",
		    (unsigned long long) r->since_revision);
		return (true);
	}
	if (rv != 0) {
		sf__srv_call_fail(c, rv, "reading the change feed failed");
		return (true);
	}
	if (n == 0 && !final) {
		// Filtered-out changes still move the cursor forward.
		if (next > r->since_revision) {
			r->since_revision = next;
		}
		return (false);
	}
	Svcfleet__V1__WatchServicesReply *rep = sf__srv_reply_new(
	    c, &svcfleet__v1__watch_services_reply__descriptor);
	if (rep == NULL) {
		return (true);
	}
	rep->events   = events;
	rep->n_events = n;
	rep->revision = next > r->since_revision ? next : r->since_revision;
	sf__srv_call_finish(c, &rep->base);
	return (true);
}

void
sf__srv_watch_park(sf__srv_call              *c,
    const Svcfleet__V1__WatchServicesRequest *req, int64_t until_us)
{
	struct sf__srv_watchers *wt = c->c_srv->s_watch;
	waiter                  *w  = sf__srv_call_alloc(c, sizeof(*w));

	if (w == NULL) {
		return;
	}
	w->w_call     = c;
	w->w_req      = (void *) req;
	w->w_until_us = until_us;
	pthread_mutex_lock(&wt->wt_mtx);
	if (wt->wt_stop) {
		pthread_mutex_unlock(&wt->wt_mtx);
		sf__srv_watch_try(c, req, true);
		return;
	}
	// Parked calls hold their contexts: beyond the limit, refuse rather
	// than let watches take every context from other callers.
	if (atomic_load(&c->c_srv->s_parked)
	    >= c->c_srv->s_opts.so_max_watches) {
		pthread_mutex_unlock(&wt->wt_mtx);
		atomic_fetch_add(&c->c_srv->s_refused_watches, 1);
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED,
		    "too many watches waiting (limit %u, --max-watches); "
		    "retry later",
		    c->c_srv->s_opts.so_max_watches);
		return;
	}
	atomic_fetch_add(&c->c_srv->s_parked, 1);
	w->w_next   = wt->wt_list;
	wt->wt_list = w;
	wt->wt_parked++;
	// A commit may have landed between the caller's check and now.
	pthread_cond_signal(&wt->wt_cv);
	pthread_mutex_unlock(&wt->wt_mtx);
}

static void
commit_hook(void *arg, uint64_t revision)
{
	struct sf__srv_watchers *wt = arg;
	// The one commit hook also feeds the batch-size metric.
	sf__srv_metrics_commit(wt->wt_srv);
	pthread_mutex_lock(&wt->wt_mtx);
	if (revision > wt->wt_revision) {
		wt->wt_revision = revision;
	}
	pthread_cond_signal(&wt->wt_cv);
	pthread_mutex_unlock(&wt->wt_mtx);
}

static void *
watch_main(void *arg)
{
	sf_server               *srv = arg;
	struct sf__srv_watchers *wt  = srv->s_watch;

	pthread_mutex_lock(&wt->wt_mtx);
	for (;;) {
		waiter  *list, *keep = NULL;
		int64_t  now = sf_clock_mono_us();
		bool     stop;
		uint64_t rev;

		// Sleep until the next deadline or a wake-up.
		if (!wt->wt_stop && wt->wt_list != NULL) {
			int64_t earliest = INT64_MAX;
			for (waiter *w = wt->wt_list; w; w = w->w_next) {
				if (w->w_until_us < earliest) {
					earliest = w->w_until_us;
				}
			}
			if (earliest > now) {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				int64_t ns = (int64_t) ts.tv_nsec
				    + (earliest - now) * 1000;
				ts.tv_sec += ns / 1000000000;
				ts.tv_nsec = ns % 1000000000;
				// Also wake on commits (signalled).
				pthread_cond_timedwait(
				    &wt->wt_cv, &wt->wt_mtx, &ts);
			}
		} else if (!wt->wt_stop) {
			pthread_cond_wait(&wt->wt_cv, &wt->wt_mtx);
		}
		stop          = wt->wt_stop;
		rev           = wt->wt_revision;
		list          = wt->wt_list;
		wt->wt_list   = NULL;
		wt->wt_parked = 0; // calls parked meanwhile count from here
		pthread_mutex_unlock(&wt->wt_mtx);

		now = sf_clock_mono_us();
		while (list != NULL) {
			waiter *w  = list;
			list       = w->w_next;
			bool final = stop || now >= w->w_until_us;
			// Only calls behind the newest commit can have news.
			if ((!final && w->w_req->since_revision >= rev)
			    || !sf__srv_watch_try(
			        w->w_call, w->w_req, final)) {
				w->w_next = keep;
				keep      = w;
			} else {
				atomic_fetch_sub(&srv->s_parked, 1);
			}
		}

		pthread_mutex_lock(&wt->wt_mtx);
		size_t n = 0;
		while (keep != NULL) {
			waiter *w   = keep;
			keep        = w->w_next;
			w->w_next   = wt->wt_list;
			wt->wt_list = w;
			n++;
		}
		wt->wt_parked += n;
		if (stop && wt->wt_list == NULL) {
			break;
		}
	}
	pthread_mutex_unlock(&wt->wt_mtx);
	return (NULL);
}

int
sf__srv_watch_init(sf_server *srv)
{
	struct sf__srv_watchers *wt = calloc(1, sizeof(*wt));
	if (wt == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	pthread_mutex_init(&wt->wt_mtx, NULL);
	pthread_cond_init(&wt->wt_cv, NULL);
	wt->wt_revision = sf_store_revision(srv->s_store);
	wt->wt_srv      = srv;
	srv->s_watch    = wt;
	if (pthread_create(&wt->wt_thread, NULL, watch_main, srv) != 0) {
		pthread_mutex_destroy(&wt->wt_mtx);
		pthread_cond_destroy(&wt->wt_cv);
		free(wt);
		srv->s_watch = NULL;
		return (SF_RESOURCE_EXHAUSTED);
	}
	sf_store_set_commit_hook(srv->s_store, commit_hook, wt);
	return (0);
}

void
sf__srv_watch_fini(sf_server *srv)
{
	struct sf__srv_watchers *wt = srv->s_watch;
	if (wt == NULL || wt->wt_stop) {
		return;
	}
	sf_store_set_commit_hook(srv->s_store, NULL, NULL);
	pthread_mutex_lock(&wt->wt_mtx);
	wt->wt_stop = true;
	pthread_cond_signal(&wt->wt_cv);
	pthread_mutex_unlock(&wt->wt_mtx);
	pthread_join(wt->wt_thread, NULL);
	// Calls parked from now on are answered at once (wt_stop).
}

void
sf__srv_watch_free(sf_server *srv)
{
	struct sf__srv_watchers *wt = srv->s_watch;
	if (wt == NULL) {
		return;
	}
	sf__srv_watch_fini(srv);
	pthread_mutex_destroy(&wt->wt_mtx);
	pthread_cond_destroy(&wt->wt_cv);
	free(wt);
	srv->s_watch = NULL;
}
