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
#include "str.h"

#define WATCH_MAX_EVENTS_DEFAULT 500
#define WATCH_MAX_EVENTS_LIMIT   10000

// A user's parked calls (issue 17, finding 7): heap, while n > 0.
typedef struct quota quota;
struct quota {
	quota   *q_next;
	unsigned q_n;
	char     q_user[];
};

typedef struct waiter waiter;
struct waiter {
	waiter                             *w_next;
	sf__srv_call                       *w_call;
	Svcfleet__V1__WatchServicesRequest *w_req;
	int64_t                             w_until_us;
	quota                              *w_quota; // NULL: the reconciler
	// (issue 17, finding 11) The authentication generation the caller
	// was last checked at, and when.
	uint64_t w_auth_gen;
	int64_t  w_checked_us;
};

// A parked call's token and bindings are checked again when they change
// (and at least this often, for expiry), so a revoked caller stops
// receiving within a second.
#define RECHECK_MAX_US  (30 * 1000000)
#define RECHECK_TICK_US (1000000)

struct sf__srv_watchers {
	pthread_mutex_t wt_mtx;
	pthread_cond_t  wt_cv;
	pthread_t       wt_thread;
	bool            wt_stop;
	waiter         *wt_list;
	uint64_t        wt_revision; // newest committed revision seen
	size_t          wt_parked;
	sf_server      *wt_srv;
	quota          *wt_quotas;       // users with parked calls
	unsigned        wt_users_parked; // calls parked by users (not the
	                                 // reconciler)
};

// Takes a slot of user's quota (under wt_mtx); NULL when out of memory.
static quota *
quota_take(struct sf__srv_watchers *wt, const char *user)
{
	quota *q;
	for (q = wt->wt_quotas; q != NULL; q = q->q_next) {
		if (strcmp(q->q_user, user) == 0) {
			return (q);
		}
	}
	if ((q = calloc(1, sizeof(*q) + strlen(user) + 1)) == NULL) {
		return (NULL);
	}
	memcpy(q->q_user, user, strlen(user) + 1);
	q->q_next     = wt->wt_quotas;
	wt->wt_quotas = q;
	return (q);
}

// Gives a parked call's slot back (takes wt_mtx).
static void
quota_give(struct sf__srv_watchers *wt, quota *q)
{
	if (q == NULL) {
		return;
	}
	pthread_mutex_lock(&wt->wt_mtx);
	wt->wt_users_parked--;
	if (--q->q_n == 0) {
		quota **pp = &wt->wt_quotas;
		while (*pp != q) {
			pp = &(*pp)->q_next;
		}
		*pp = q->q_next;
		free(q);
	}
	pthread_mutex_unlock(&wt->wt_mtx);
}

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
	sf_server *srv   = c->c_srv;
	bool       recon = sf_rbac_has_global(&c->c_ident.id_p, "reconciler");
	unsigned   max   = srv->s_opts.so_max_watches;
	unsigned   keep  = max >= 8 ? max / 8 : 0; // for the reconciler

	w->w_call       = c;
	w->w_req        = (void *) req;
	w->w_until_us   = until_us;
	w->w_auth_gen   = atomic_load(&srv->s_auth_gen);
	w->w_checked_us = sf_clock_mono_us();
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
	// Users share what the reconciler's reserve leaves, each at most
	// its quota; the reconciler never waits for a user's slot.
	if (!recon && wt->wt_users_parked + keep >= max) {
		pthread_mutex_unlock(&wt->wt_mtx);
		atomic_fetch_add(&srv->s_refused_watches, 1);
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED,
		    "too many watches waiting (limit %u, --max-watches, %u of "
		    "them kept for the reconciler); retry later",
		    max, keep);
		return;
	}
	if (!recon) {
		quota *q = quota_take(wt, sf_nz(c->c_ident.id_user));
		if (q == NULL
		    || q->q_n >= srv->s_opts.so_max_watches_per_user) {
			unsigned have = q != NULL ? q->q_n : 0;
			if (q != NULL && q->q_n == 0) {
				wt->wt_quotas = q->q_next; // just added
				free(q);
			}
			pthread_mutex_unlock(&wt->wt_mtx);
			atomic_fetch_add(&srv->s_refused_watches, 1);
			sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED,
			    "user \"%s\" has %u watches waiting (limit %u, "
			    "--max-watches-per-user); retry later",
			    sf_nz(c->c_ident.id_user), have,
			    srv->s_opts.so_max_watches_per_user);
			return;
		}
		q->q_n++;
		wt->wt_users_parked++;
		w->w_quota = q;
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

// still_allowed checks a parked call's caller again when tokens or
// bindings changed since its last check (or RECHECK_MAX_US passed, for
// expiry): a revoked token or a deleted binding ends the watch within a
// tick (issue 17, finding 11). false: the call has been answered with the
// refusal (UNAUTHENTICATED or PERMISSION_DENIED).
static bool
still_allowed(sf_server *srv, waiter *w, int64_t now)
{
	sf__srv_call *c   = w->w_call;
	uint64_t      gen = atomic_load(&srv->s_auth_gen);

	if (gen == w->w_auth_gen && now - w->w_checked_us < RECHECK_MAX_US) {
		return (true);
	}
	w->w_auth_gen   = gen;
	w->w_checked_us = now;
	sf_status_reset(&c->c_status);
	memset(&c->c_ident, 0, sizeof(c->c_ident));
	if (sf__srv_auth_authenticate(c) != 0
	    || !sf_rbac_allowed(&c->c_ident.id_p, "services", "watch",
	        c->c_cluster, c->c_namespace, &c->c_status)) {
		if (c->c_status.st_code == 0) {
			sf_status_set(&c->c_status, SF_UNAUTHENTICATED, NULL);
		}
		sf__srv_call_finish(c, NULL);
		return (false);
	}
	return (true);
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
			// At least once a tick: revocations (finding 11).
			int64_t earliest = now + RECHECK_TICK_US;
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
			waiter *w = list;
			quota  *q = w->w_quota; // w is the call's: gone once
			                        // it is answered
			list       = w->w_next;
			bool final = stop || now >= w->w_until_us;
			if (!stop && !still_allowed(srv, w, now)) {
				// Answered with the refusal.
				atomic_fetch_sub(&srv->s_parked, 1);
				quota_give(wt, q);
				continue;
			}
			// Only calls behind the newest commit can have news.
			if ((!final && w->w_req->since_revision >= rev)
			    || !sf__srv_watch_try(
			        w->w_call, w->w_req, final)) {
				w->w_next = keep;
				keep      = w;
			} else {
				atomic_fetch_sub(&srv->s_parked, 1);
				quota_give(wt, q);
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
