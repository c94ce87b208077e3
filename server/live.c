// live.c: ListNamespaces, ListWorkloads and ListPools, answered from the
// cluster itself (the Service form reads them live) on detached threads.
//
// The HTTP request runs on a thread of its own, so a slow cluster never
// holds a handler thread; the call is finished from there. At most
// LIVE_MAX run at once per server, each bounded by LIVE_TIMEOUT_MS (and by
// the caller's deadline), which is shorter than the server's drain at
// shutdown. A thread still has a little to do after it finished its call
// (free the cluster's configuration, say it is done), so sf_server_stop
// waits for the count to reach 0 (sf__srv_live_fini) before the contexts
// and the server go away.
#include <pthread.h>
#include <stdlib.h>

#include "clock.h"
#include "internal.h"
#include "kube.h"

#define LIVE_MAX        16
#define LIVE_TIMEOUT_MS 5000

typedef struct live_job {
	sf_server             *lj_srv;
	sf__srv_call          *lj_call;
	enum sf__srv_live_kind lj_kind;
	sf_kube_cfg           *lj_cfg;
	const char            *lj_ns; // from the call's arena
	long                   lj_timeout_ms;
} live_job;

void
sf__srv_live_init(sf_server *srv)
{
	pthread_mutex_init(&srv->s_live_mtx, NULL);
	pthread_cond_init(&srv->s_live_cv, NULL);
	srv->s_live_running = 0;
	srv->s_live_closed  = false;
	srv->s_live_inited  = true;
}

void
sf__srv_live_fini(sf_server *srv)
{
	if (!srv->s_live_inited) {
		return;
	}
	pthread_mutex_lock(&srv->s_live_mtx);
	srv->s_live_closed = true;
	while (srv->s_live_running > 0) {
		pthread_cond_wait(&srv->s_live_cv, &srv->s_live_mtx);
	}
	pthread_mutex_unlock(&srv->s_live_mtx);
	pthread_mutex_destroy(&srv->s_live_mtx);
	pthread_cond_destroy(&srv->s_live_cv);
	srv->s_live_inited = false;
}

// Counts a live read in. Returns 0, or fails the call when the server is
// stopping or LIVE_MAX run already.
static int
live_enter(sf__srv_call *c)
{
	sf_server *srv = c->c_srv;
	int        rv  = 0;

	pthread_mutex_lock(&srv->s_live_mtx);
	if (srv->s_live_closed) {
		rv = SF_UNAVAILABLE;
	} else if (srv->s_live_running >= LIVE_MAX) {
		rv = SF_RESOURCE_EXHAUSTED;
	} else {
		srv->s_live_running++;
	}
	pthread_mutex_unlock(&srv->s_live_mtx);
	if (rv == SF_UNAVAILABLE) {
		sf__srv_call_fail(c, rv, "svcfleetd is shutting down");
	} else if (rv != 0) {
		sf__srv_call_fail(
		    c, rv, "too many live cluster reads at once; try again");
	}
	return (rv);
}

// Counts a live read out: the last thing its thread does with the server.
static void
live_leave(sf_server *srv)
{
	pthread_mutex_lock(&srv->s_live_mtx);
	if (--srv->s_live_running == 0) {
		pthread_cond_broadcast(&srv->s_live_cv);
	}
	pthread_mutex_unlock(&srv->s_live_mtx);
}

static void
live_namespaces(live_job *j)
{
	sf__srv_call                      *c = j->lj_call;
	Svcfleet__V1__ListNamespacesReply *r;
	char                             **names = NULL, **out;
	size_t                             n     = 0;

	if (sf_kube_list_namespaces(
	        j->lj_cfg, j->lj_timeout_ms, &names, &c->c_status)
	    != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	while (names[n] != NULL) {
		n++;
	}
	// Out of memory, the allocators have answered the call already: only
	// the names are left to free.
	if ((r = sf__srv_reply_new(
	         c, &svcfleet__v1__list_namespaces_reply__descriptor))
	        == NULL
	    || (out = sf__srv_call_alloc(c, (n + 1) * sizeof(*out))) == NULL) {
		sf_kube_strv_free(names);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if ((out[r->n_namespaces]
		        = sf_arena_strdup(&c->c_arena, names[i]))
		    != NULL) {
			r->n_namespaces++;
		}
	}
	r->namespaces = out;
	sf_kube_strv_free(names);
	sf__srv_call_finish(c, &r->base);
}

// Copies a JSON object of strings into KeyValues (memory from a).
static Svcfleet__V1__KeyValue **
kvs_of(sf_arena *a, json_t *obj, size_t *n)
{
	Svcfleet__V1__KeyValue **kvs;
	const char              *k;
	json_t                  *v;

	*n  = 0;
	kvs = sf_arena_alloc(a, (json_object_size(obj) + 1) * sizeof(*kvs));
	if (kvs == NULL) {
		return (NULL);
	}
	json_object_foreach(obj, k, v)
	{
		Svcfleet__V1__KeyValue *kv = sf_arena_alloc(a, sizeof(*kv));
		if (kv == NULL || !json_is_string(v)) {
			continue;
		}
		svcfleet__v1__key_value__init(kv);
		kv->key     = sf_arena_strdup(a, k);
		kv->value   = sf_arena_strdup(a, json_string_value(v));
		kvs[(*n)++] = kv;
	}
	return (kvs);
}

static void
live_workloads(live_job *j)
{
	sf__srv_call                     *c = j->lj_call;
	sf_arena                         *a = &c->c_arena;
	Svcfleet__V1__ListWorkloadsReply *r;
	Svcfleet__V1__Workload          **out;
	json_t                           *all;
	size_t                            n;

	if (sf_kube_list_workloads(
	        j->lj_cfg, j->lj_ns, j->lj_timeout_ms, &all, &c->c_status)
	    != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	n = json_array_size(all);
	if ((r = sf__srv_reply_new(
	         c, &svcfleet__v1__list_workloads_reply__descriptor))
	        == NULL
	    || (out = sf__srv_call_alloc(c, (n + 1) * sizeof(*out))) == NULL) {
		json_decref(all);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_t                 *it = json_array_get(all, i);
		Svcfleet__V1__Workload *w  = sf_arena_alloc(a, sizeof(*w));
		if (w == NULL) {
			continue;
		}
		svcfleet__v1__workload__init(w);
		w->name = sf_arena_strdup(
		    a, json_string_value(json_object_get(it, "name")));
		w->kind = sf_arena_strdup(
		    a, json_string_value(json_object_get(it, "kind")));
		w->labels
		    = kvs_of(a, json_object_get(it, "labels"), &w->n_labels);
		if (w->name != NULL && w->kind != NULL) {
			out[r->n_workloads++] = w;
		}
	}
	r->workloads = out;
	json_decref(all);
	sf__srv_call_finish(c, &r->base);
}

static void
live_pools(live_job *j)
{
	sf__srv_call                 *c = j->lj_call;
	sf_arena                     *a = &c->c_arena;
	Svcfleet__V1__ListPoolsReply *r;
	Svcfleet__V1__IPPool        **out;
	json_t                       *pools;
	bool                          known;
	size_t                        n;

	if (sf_kube_list_pools(
	        j->lj_cfg, j->lj_timeout_ms, &pools, &known, &c->c_status)
	    != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	n = json_array_size(pools);
	if ((r = sf__srv_reply_new(
	         c, &svcfleet__v1__list_pools_reply__descriptor))
	        == NULL
	    || (out = sf__srv_call_alloc(c, (n + 1) * sizeof(*out))) == NULL) {
		json_decref(pools);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_t               *it = json_array_get(pools, i);
		json_t               *ad = json_object_get(it, "addresses");
		Svcfleet__V1__IPPool *p  = sf_arena_alloc(a, sizeof(*p));
		if (p == NULL) {
			continue;
		}
		svcfleet__v1__ippool__init(p);
		p->name = sf_arena_strdup(
		    a, json_string_value(json_object_get(it, "name")));
		p->addresses = sf_arena_alloc(
		    a, (json_array_size(ad) + 1) * sizeof(char *));
		for (size_t k = 0;
		     p->addresses != NULL && k < json_array_size(ad); k++) {
			const char *s
			    = json_string_value(json_array_get(ad, k));
			if (s != NULL) {
				p->addresses[p->n_addresses++]
				    = sf_arena_strdup(a, s);
			}
		}
		if (p->name != NULL) {
			out[r->n_pools++] = p;
		}
	}
	r->pools = out;
	json_decref(pools);
	sf__srv_call_finish(c, &r->base);
}

static void *
live_main(void *arg)
{
	live_job  *j = arg;
	sf_server *srv;

	switch (j->lj_kind) {
	case SF__SRV_LIVE_NAMESPACES:
		live_namespaces(j);
		break;
	case SF__SRV_LIVE_WORKLOADS:
		live_workloads(j);
		break;
	case SF__SRV_LIVE_POOLS:
		live_pools(j);
		break;
	}
	// The call is answered; what is left is the thread's own.
	srv = j->lj_srv;
	sf_kube_cfg_free(j->lj_cfg);
	free(j);
	live_leave(srv);
	return (NULL);
}

void
sf__srv_live_start(sf__srv_call *c, enum sf__srv_live_kind kind,
    const Svcfleet__V1__Cluster *cl, const char *ns)
{
	sf_server     *srv = c->c_srv;
	live_job      *j;
	pthread_t      t;
	pthread_attr_t attr;
	int64_t        left_ms;
	int            rv;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	if (sf_kube_cfg_alloc(&j->lj_cfg, cl, &c->c_status) != 0) {
		free(j);
		sf__srv_call_finish(c, NULL);
		return;
	}
	left_ms    = (c->c_deadline_us - sf_clock_mono_us()) / 1000 - 200;
	j->lj_srv  = srv;
	j->lj_call = c;
	j->lj_kind = kind;
	j->lj_ns   = ns;
	j->lj_timeout_ms
	    = left_ms < LIVE_TIMEOUT_MS ? (long) left_ms : LIVE_TIMEOUT_MS;
	if (j->lj_timeout_ms < 100) {
		j->lj_timeout_ms = 100;
	}
	if (live_enter(c) != 0) {
		sf_kube_cfg_free(j->lj_cfg);
		free(j);
		return;
	}
	sf_kube_global_init();
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rv = pthread_create(&t, &attr, live_main, j);
	pthread_attr_destroy(&attr);
	if (rv != 0) {
		sf_kube_cfg_free(j->lj_cfg);
		free(j);
		live_leave(srv);
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED,
		    "cannot start a thread for the live read");
	}
}
