// live.c: ListNamespaces, ListWorkloads and ListPools, answered from the
// cluster itself (the Service form reads them live) on detached threads;
// and (i19-ssd) the clusters' server-side dry runs of an apply for
// `svcfleet diff --server-side`, on the same threads under the same bounds.
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
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "kube.h"
#include "str.h"

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

// ------------------------------------------ i19-ssd: server-side dry runs

#define DRYRUN_ANSWER_MAX (256u << 10)

typedef struct dry_one {
	sf__srv_dryrun_item *d_item;
	sf_kube_cfg         *d_cfg;
	sf_kube_req          d_get;
	sf_kube_req          d_patch;
	CURLcode             d_cc;
	bool                 d_asked;  // a request of this phase is running
	bool                 d_failed; // the item says why; nothing more
	bool                 d_live;   // the cluster holds the object
} dry_one;

typedef struct dry_job {
	sf_server              *dj_srv;
	sf__srv_call           *dj_call;
	const ProtobufCMessage *dj_reply;
	dry_one                *dj_one;
	size_t                  dj_n;
} dry_job;

// The milliseconds one phase may take: the live-read timeout, within the
// call's deadline.
static long
dry_timeout_ms(const sf__srv_call *c)
{
	int64_t left = (c->c_deadline_us - sf_clock_mono_us()) / 1000 - 200;
	if (left > LIVE_TIMEOUT_MS) {
		left = LIVE_TIMEOUT_MS;
	}
	return (left < 100 ? 100 : (long) left);
}

// Runs every asked request of the phase (get: the GETs, else the PATCHes)
// at once on one multi handle; each ends by its own timeout.
static void
dry_run_phase(dry_job *j, bool get)
{
	CURLM *m = curl_multi_init();
	int    running;

	for (size_t i = 0; i < j->dj_n; i++) {
		dry_one *d = &j->dj_one[i];
		d->d_cc    = CURLE_FAILED_INIT;
		if (d->d_asked && m != NULL) {
			curl_multi_add_handle(
			    m, (get ? &d->d_get : &d->d_patch)->kr_easy);
		}
	}
	if (m == NULL) {
		return;
	}
	do {
		CURLMsg *msg;
		int      left;
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			break;
		}
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE) {
				continue;
			}
			for (size_t i = 0; i < j->dj_n; i++) {
				dry_one     *d = &j->dj_one[i];
				sf_kube_req *r = get ? &d->d_get : &d->d_patch;
				if (d->d_asked
				    && r->kr_easy == msg->easy_handle) {
					d->d_cc = msg->data.result;
				}
			}
		}
		if (running > 0) {
			curl_multi_poll(m, NULL, 0, 200, NULL);
		}
	} while (running > 0);
	for (size_t i = 0; i < j->dj_n; i++) {
		dry_one *d = &j->dj_one[i];
		if (d->d_asked) {
			curl_multi_remove_handle(
			    m, (get ? &d->d_get : &d->d_patch)->kr_easy);
		}
	}
	curl_multi_cleanup(m);
}

// The words for a request that got no usable answer.
static void
dry_fail(dry_job *j, dry_one *d, const sf_kube_req *r, int cls,
    const char *what, const char *msg)
{
	sf_arena   *a  = &j->dj_call->c_arena;
	const char *cl = d->d_item->di_cluster;

	d->d_failed = true;
	if (r != NULL && r->kr_too_big) {
		d->d_item->di_out->message = sf_arena_printf(a,
		    "cluster \"%s\": the answer to %s is larger than %u KiB",
		    cl, what, DRYRUN_ANSWER_MAX >> 10);
	} else if (!sf_kube_class_answered(cls)) {
		d->d_item->di_out->message = sf_arena_printf(
		    a, "cluster \"%s\" is unreachable: %s: %s", cl, what, msg);
	} else {
		d->d_item->di_out->message = sf_arena_printf(
		    a, "cluster \"%s\" refused %s: %s", cl, what, msg);
	}
}

// The Service's path in its cluster.
static char *
dry_path(sf_arena *a, const Svcfleet__V1__Service *svc, const char *query)
{
	sf_buf b = SF_BUF_INIT;
	char  *p;

	sf_buf_puts(&b, "/api/v1/namespaces/");
	sf_kube_query_escape(&b, sf_nz(svc->metadata->namespace_));
	sf_buf_puts(&b, "/services/");
	sf_kube_query_escape(&b, sf_nz(svc->metadata->name));
	sf_buf_puts(&b, query);
	p = b.b_oom ? NULL : sf_arena_strdup(a, b.b_data);
	sf_buf_fini(&b);
	return (p);
}

static void
dry_ask_get(dry_job *j, dry_one *d, long timeout_ms)
{
	sf_arena                    *a   = &j->dj_call->c_arena;
	const Svcfleet__V1__Service *svc = d->d_item->di_svc;
	Svcfleet__V1__Cluster       *cl  = NULL;
	sf_status                    st;
	char                        *path;
	int                          rv;

	sf_status_init(&st);
	rv = sf_store_cluster_get(
	    j->dj_srv->s_store, d->d_item->di_cluster, sf_arena_pbc(a), &cl);
	if (rv != 0) {
		d->d_failed                = true;
		d->d_item->di_out->message = sf_arena_printf(a,
		    rv == SF_NOT_FOUND ? "cluster \"%s\" is not registered"
		                       : "cluster \"%s\": reading its record "
		                         "failed",
		    d->d_item->di_cluster);
	} else if (sf_kube_cfg_alloc(&d->d_cfg, cl, &st) != 0) {
		d->d_failed                = true;
		d->d_item->di_out->message = sf_arena_printf(
		    a, "cluster \"%s\": %s", d->d_item->di_cluster, st.st_msg);
	} else if ((path = dry_path(a, svc, "")) == NULL
	    || sf_kube_req_setup(
	           &d->d_get, d->d_cfg, "GET", path, NULL, NULL, timeout_ms)
	        != 0) {
		d->d_failed                = true;
		d->d_item->di_out->message = "out of memory";
	} else {
		d->d_get.kr_body_max = DRYRUN_ANSWER_MAX;
		d->d_asked           = true;
	}
	sf_status_fini(&st);
}

static void
dry_got(dry_job *j, dry_one *d)
{
	sf_arena *a = &j->dj_call->c_arena;
	char      msg[512];
	int       cls;

	d->d_asked = false;
	cls        = sf_kube_outcome(&d->d_get, d->d_cc, msg, sizeof(msg));
	if (d->d_get.kr_too_big
	    || (cls != SF_KUBE_OK && cls != SF_KUBE_NOT_FOUND)) {
		dry_fail(j, d, &d->d_get, cls, "GET of the Service", msg);
		return;
	}
	if (cls == SF_KUBE_OK) {
		d->d_live               = true;
		d->d_item->di_out->live = sf_arena_strndup(
		    a, d->d_get.kr_body.b_data, d->d_get.kr_body.b_len);
	}
}

static void
dry_ask_patch(dry_job *j, dry_one *d, long timeout_ms)
{
	sf_arena   *a     = &j->dj_call->c_arena;
	char       *body  = NULL, *path;
	const char *owner = sf_store_installation_id(j->dj_srv->s_store);
	int         rv;

	// Exactly what the reconciler sends: a Service missing from the
	// cluster would be made again with the node ports it had.
	rv   = d->d_live
	      ? sf_kube_body(d->d_item->di_svc, owner, &body, NULL)
	      : sf_kube_body_recreate(d->d_item->di_svc, owner, &body);
	path = dry_path(a, d->d_item->di_svc,
	    "?dryRun=All&fieldManager=" SF_KUBE_FIELD_MANAGER "&force=true");
	if (rv != 0 || path == NULL
	    || sf_kube_req_setup(&d->d_patch, d->d_cfg, "PATCH", path,
	           "application/apply-patch+yaml", body, timeout_ms)
	        != 0) {
		d->d_failed                = true;
		d->d_item->di_out->message = "out of memory";
	} else {
		d->d_patch.kr_body_max = DRYRUN_ANSWER_MAX;
		d->d_asked             = true;
	}
	free(body);
}

static void
dry_patched(dry_job *j, dry_one *d)
{
	sf_arena                   *a   = &j->dj_call->c_arena;
	Svcfleet__V1__ServerDryRun *out = d->d_item->di_out;
	char                        msg[1024];
	int                         cls;

	d->d_asked = false;
	cls        = sf_kube_outcome(&d->d_patch, d->d_cc, msg, sizeof(msg));
	if (d->d_patch.kr_too_big || !sf_kube_class_answered(cls)) {
		dry_fail(j, d, &d->d_patch, cls, "the dry run", msg);
		return;
	}
	out->code = (int32_t) d->d_patch.kr_code;
	if (cls == SF_KUBE_OK) {
		out->dry_run = sf_arena_strndup(
		    a, d->d_patch.kr_body.b_data, d->d_patch.kr_body.b_len);
	} else {
		// The API server's own words (admission, validation).
		out->message = sf_arena_strdup(a, msg);
	}
}

static void *
dry_main(void *arg)
{
	dry_job   *j   = arg;
	sf_server *srv = j->dj_srv;

	for (size_t i = 0; i < j->dj_n; i++) {
		dry_ask_get(j, &j->dj_one[i], dry_timeout_ms(j->dj_call));
	}
	dry_run_phase(j, true);
	long t = dry_timeout_ms(j->dj_call);
	for (size_t i = 0; i < j->dj_n; i++) {
		dry_one *d = &j->dj_one[i];
		if (d->d_asked) {
			dry_got(j, d);
		}
		if (!d->d_failed) {
			dry_ask_patch(j, d, t);
		}
	}
	dry_run_phase(j, false);
	for (size_t i = 0; i < j->dj_n; i++) {
		dry_one *d = &j->dj_one[i];
		if (d->d_asked) {
			dry_patched(j, d);
		}
	}
	for (size_t i = 0; i < j->dj_n; i++) {
		sf__srv_dryrun_item         *it = j->dj_one[i].d_item;
		Svcfleet__V1__FleetRendered *rd = it->di_rendered;
		if (rd != NULL) {
			rd->server_code   = it->di_out->code;
			rd->server_answer = it->di_out->message != NULL
			        && it->di_out->message[0] != '\0'
			    ? it->di_out->message
			    : (char *) "ok";
		}
		sf_kube_req_fini(&j->dj_one[i].d_get);
		sf_kube_req_fini(&j->dj_one[i].d_patch);
		sf_kube_cfg_free(j->dj_one[i].d_cfg);
	}
	sf__srv_call_finish(j->dj_call, j->dj_reply);
	// The call is answered; what is left is the thread's own.
	free(j->dj_one);
	free(j);
	live_leave(srv);
	return (NULL);
}

void
sf__srv_live_dryrun_start(sf__srv_call *c, const ProtobufCMessage *reply,
    sf__srv_dryrun_item *items, size_t n)
{
	sf_server     *srv = c->c_srv;
	dry_job       *j;
	pthread_t      t;
	pthread_attr_t attr;
	int            rv;

	if (n > SF__SRV_DRYRUN_MAX) {
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED,
		    "a server-side dry run asks at most %d clusters; this "
		    "one would ask %zu",
		    SF__SRV_DRYRUN_MAX, n);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL
	    || (j->dj_one = calloc(n + 1, sizeof(*j->dj_one))) == NULL) {
		free(j);
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	j->dj_srv   = srv;
	j->dj_call  = c;
	j->dj_reply = reply;
	j->dj_n     = n;
	for (size_t i = 0; i < n; i++) {
		j->dj_one[i].d_item = &items[i];
	}
	if (live_enter(c) != 0) {
		free(j->dj_one);
		free(j);
		return;
	}
	sf_kube_global_init();
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rv = pthread_create(&t, &attr, dry_main, j);
	pthread_attr_destroy(&attr);
	if (rv != 0) {
		free(j->dj_one);
		free(j);
		live_leave(srv);
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED,
		    "cannot start a thread for the dry run");
	}
}
