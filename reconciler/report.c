// report.c: the reporter threads — the reconciler's writes to svcfleetd.
//
// Workers never block on svcfleetd: they queue jobs here (a status report,
// a cluster health report, a fetch of a Service's body) and get the
// outcome back in their inbox. Several threads share one libsvcfleet
// handle (it is thread-safe), so reports of many objects are in flight at
// once and svcfleetd's writer commits them together.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "str.h"

#include "internal.h"

// Status reports sent in one ReportStatuses call at most.
#define REPORT_BATCH 256
// ReportStatuses calls in flight at most (issue 21). Each call is a
// round trip and a share of a durable commit whatever it carries: with a
// call open for every report that came alone (eight reporters), 10,000
// Services took ~700 calls of ~15 reports. Two keep svcfleetd's writer
// busy (one commits while the next waits) and let the rest gather.
#define REPORT_CALLS 2

sf__recon_job *
sf__recon_job_new(int kind, const char *cluster, const char *key)
{
	size_t         klen = key != NULL ? strlen(key) : 0;
	sf__recon_job *j    = calloc(1, sizeof(*j) + klen + 1);

	if (j == NULL) {
		return (NULL);
	}
	if (key != NULL) {
		memcpy(j->j_key, key, klen + 1);
	}
	j->j_kind = kind;
	if ((j->j_cluster = strdup(cluster)) == NULL) {
		free(j);
		return (NULL);
	}
	return (j);
}

void
sf__recon_job_free(sf__recon_job *j)
{
	if (j != NULL) {
		free(j->j_cluster);
		free(j->j_msg);
		free(j->j_facts);
		free(j->j_version);
		free(j->j_pools);
		free(j);
	}
}

void
sf__recon_submit(sf_reconciler *r, sf__recon_job *j)
{
	sf__recon_job **head, **tail;
	bool            wake;

	j->j_next = NULL;
	pthread_mutex_lock(&r->r_jmtx);
	if (r->r_jstop) {
		pthread_mutex_unlock(&r->r_jmtx);
		sf__recon_job_free(j);
		return;
	}
	head = j->j_kind == J_STATUS ? &r->r_shead : &r->r_jhead;
	tail = j->j_kind == J_STATUS ? &r->r_stail : &r->r_jtail;
	// A status report wakes a reporter only when one may take it now
	// and none was woken for the queue already (issue 21: each wakeup
	// that finds nothing to take is two context switches); while
	// REPORT_CALLS calls travel, the reporter whose call returns takes
	// the queue.
	wake = j->j_kind != J_STATUS || atomic_load(&r->r_no_batch)
	    || (*head == NULL && r->r_scalls < REPORT_CALLS);
	if (*tail != NULL) {
		(*tail)->j_next = j;
	} else {
		*head = j;
	}
	*tail = j;
	r->r_jlen++;
	if (wake) {
		pthread_cond_signal(&r->r_jcv);
	}
	pthread_mutex_unlock(&r->r_jmtx);
}

// Splits "ns/name" into key (pointing into buf).
static void
key_of(const char *nsname, const char *cluster, char *buf, size_t cap,
    Svcfleet__V1__ServiceKey *key)
{
	char *slash;
	snprintf(buf, cap, "%s", nsname);
	slash = strchr(buf, '/');
	if (slash != NULL) {
		*slash = '\0';
	}
	key->cluster    = (char *) cluster;
	key->namespace_ = buf;
	key->name       = slash != NULL ? slash + 1 : buf + strlen(buf);
}

// Fills req (memory from a) with job j's report.
static void
fill_report(sf_reconciler *r, sf__recon_job *j, sf_arena *a,
    Svcfleet__V1__ReportStatusRequest *req)
{
	Svcfleet__V1__ServiceKey    *key = sf_arena_alloc(a, sizeof(*key));
	Svcfleet__V1__ClusterStatus *cs  = sf_arena_alloc(a, sizeof(*cs));
	char *buf = sf_arena_alloc(a, strlen(j->j_key) + 1);

	svcfleet__v1__report_status_request__init(req);
	if (key == NULL || cs == NULL || buf == NULL) {
		return; // an empty report: the server refuses it
	}
	svcfleet__v1__service_key__init(key);
	svcfleet__v1__cluster_status__init(cs);
	key_of(j->j_key, j->j_cluster, buf, strlen(j->j_key) + 1, key);
	cs->cluster             = j->j_cluster;
	cs->state               = (Svcfleet__V1__SyncState) j->j_state;
	cs->observed_generation = j->j_gen;
	cs->message             = j->j_msg;
	cs->last_sync_time_ms   = sf_clock_now_ms();
	cs->drift_want          = j->j_drift_want; // i19-ssd
	sf_kube_facts_fill(j->j_facts, cs, a);
	req->key    = key;
	req->status = cs;
	// Fencing (issue 16): the claim this report is made under.
	req->claim_token      = sf__recon_claim_token(r, j->j_cluster);
	req->reconciler_id    = r->r_id;
	req->add_finalizer    = (j->j_fin & FIN_ADD) != 0;
	req->remove_finalizer = (j->j_fin & FIN_REMOVE) != 0;
}

// i19: a drift found in a cluster, recorded by svcfleetd as an audit
// event. Best effort: a report that fails is logged, not retried (the
// heal itself does not depend on it).
static void
do_drift(sf_reconciler *r, sf__recon_job *j, svcfleet_status *st)
{
	Svcfleet__V1__ReportDriftRequest req
	    = SVCFLEET__V1__REPORT_DRIFT_REQUEST__INIT;
	Svcfleet__V1__ServiceKey key = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__Empty     *e   = NULL;
	Svcfleet__V1__DriftField fv[32], *fp[32];
	char                    *mv[8];
	char                     buf[300];
	json_t                  *d = json_loads(j->j_msg, 0, NULL);
	json_t                  *v;
	size_t                   i;

	if (d == NULL) {
		return;
	}
	key_of(j->j_key, j->j_cluster, buf, sizeof(buf), &key);
	req.key = &key;
	req.operation
	    = (char *) sf_nz(json_string_value(json_object_get(d, "op")));
	req.action
	    = (char *) sf_nz(json_string_value(json_object_get(d, "action")));
	if (req.action[0] == '\0') {
		req.action = "reverted";
	}
	json_array_foreach(json_object_get(d, "managers"), i, v)
	{
		if (req.n_managers < 8 && json_is_string(v)) {
			mv[req.n_managers++] = (char *) json_string_value(v);
		}
	}
	req.managers = mv;
	json_array_foreach(json_object_get(d, "fields"), i, v)
	{
		if (req.n_fields >= 32) {
			break;
		}
		svcfleet__v1__drift_field__init(&fv[req.n_fields]);
		fv[req.n_fields].path = (char *) sf_nz(
		    json_string_value(json_object_get(v, "path")));
		fv[req.n_fields].new_value = (char *) sf_nz(
		    json_string_value(json_object_get(v, "new")));
		fp[req.n_fields] = &fv[req.n_fields];
		req.n_fields++;
	}
	req.fields = fp;
	if (svcfleet_report_drift(r->r_client, &req, &e, st) != 0) {
		SF_WARN("recon", "cluster=%s reporting drift of %s failed: %s",
		    j->j_cluster, j->j_key, st->message);
	}
	svcfleet_free(e);
	json_decref(d);
}

static void
reported(sf_reconciler *r, sf__recon_job *j, bool ok, bool again)
{
	sf__recon_msg *m = sf__recon_msg_new(M_REPORTED, j->j_key);
	if (m == NULL) {
		return;
	}
	m->m_ok    = ok;
	m->m_again = again;
	m->m_hash  = j->j_hash;
	m->m_flags = j->j_fin;
	sf__recon_post(r, j->j_cluster, m);
}

static void
do_status(sf_reconciler *r, sf__recon_job *j, svcfleet_status *st)
{
	Svcfleet__V1__ReportStatusRequest req;
	Svcfleet__V1__ReportStatusReply  *rep = NULL;
	sf_arena                          a;
	int                               rv;

	sf_arena_init(&a);
	fill_report(r, j, &a, &req);
	rv = svcfleet_report_status(r->r_client, &req, &rep, st);
	svcfleet_free(rep);
	sf_arena_fini(&a);
	atomic_fetch_add(&r->r_reports, 1);
	if (rv != 0 && rv != SVCFLEET_NOT_FOUND) {
		SF_DEBUG("recon", "ReportStatus %s/%s: %s: %s", j->j_cluster,
		    j->j_key, svcfleet_code_name(rv), st->message);
	}
	// NOT_FOUND: the Service is gone from the store; nothing to retry.
	reported(r, j, rv == 0 || rv == SVCFLEET_NOT_FOUND, false);
}

// Many reports in one ReportStatuses call: one durable write for all.
// A server without the method gets them one by one from then on.
static void
do_statuses(
    sf_reconciler *r, sf__recon_job **jobs, size_t n, svcfleet_status *st)
{
	Svcfleet__V1__ReportStatusesRequest req
	    = SVCFLEET__V1__REPORT_STATUSES_REQUEST__INIT;
	Svcfleet__V1__ReportStatusesReply *rep = NULL;
	Svcfleet__V1__ReportStatusRequest *one;
	sf_arena                           a;
	int                                rv;

	sf_arena_init(&a);
	req.reports = sf_arena_alloc(&a, n * sizeof(*req.reports));
	one         = sf_arena_alloc(&a, n * sizeof(*one));
	if (req.reports == NULL || one == NULL) {
		sf_arena_fini(&a);
		for (size_t i = 0; i < n; i++) {
			reported(r, jobs[i], false, false);
		}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		fill_report(r, jobs[i], &a, &one[i]);
		req.reports[i] = &one[i];
	}
	req.n_reports = n;
	rv            = svcfleet_report_statuses(r->r_client, &req, &rep, st);
	sf_arena_fini(&a);
	if (rv == SVCFLEET_UNIMPLEMENTED) {
		SF_INFO("recon",
		    "svcfleetd has no ReportStatuses: reporting "
		    "one by one");
		atomic_store(&r->r_no_batch, true);
		for (size_t i = 0; i < n; i++) {
			do_status(r, jobs[i], st);
		}
		return;
	}
	atomic_fetch_add(&r->r_reports, 1);
	if (rv != 0) {
		SF_DEBUG("recon", "ReportStatuses (%zu): %s: %s", n,
		    svcfleet_code_name(rv), st->message);
	}
	for (size_t i = 0; i < n; i++) {
		int code = rv != 0                      ? rv
		    : rep != NULL && i < rep->n_results ? rep->results[i]->code
		                                        : SVCFLEET_INTERNAL;
		if (code == SVCFLEET_INVALID_ARGUMENT) {
			SF_WARN("recon",
			    "svcfleetd refused the report of %s/%s: %s",
			    jobs[i]->j_cluster, jobs[i]->j_key,
			    rep->results[i]->message);
		}
		// UNAVAILABLE in an answered call: this report did not fit in
		// svcfleetd's write (etcd's --max-txn-ops) and is sent again
		// at once, in the next call.
		reported(r, jobs[i],
		    code == 0 || code == SVCFLEET_NOT_FOUND
		        || code == SVCFLEET_INVALID_ARGUMENT,
		    rv == 0 && code == SVCFLEET_UNAVAILABLE);
	}
	svcfleet_free(rep);
}

static void
do_health(sf_reconciler *r, sf__recon_job *j, svcfleet_status *st)
{
	Svcfleet__V1__ReportClusterHealthRequest req
	    = SVCFLEET__V1__REPORT_CLUSTER_HEALTH_REQUEST__INIT;
	Svcfleet__V1__ClusterHealth h     = SVCFLEET__V1__CLUSTER_HEALTH__INIT;
	Svcfleet__V1__Empty        *e     = NULL;
	Svcfleet__V1__IPPool      **pools = NULL, *pv = NULL;
	json_t                     *pj = NULL;
	size_t                      np = 0;
	int                         rv;

	h.state           = (Svcfleet__V1__ClusterHealthState) j->j_health;
	h.server_version  = j->j_version;
	h.last_contact_ms = j->j_contact_ms;
	h.message         = j->j_msg;
	if (j->j_pools != NULL
	    && (pj = json_loads(j->j_pools, 0, NULL)) != NULL) {
		np    = json_array_size(pj);
		pools = calloc(np + 1, sizeof(*pools));
		pv    = calloc(np + 1, sizeof(*pv));
		for (size_t i = 0; pools != NULL && pv != NULL && i < np;
		     i++) {
			json_t *p  = json_array_get(pj, i);
			json_t *ad = json_object_get(p, "addresses");
			svcfleet__v1__ippool__init(&pv[i]);
			pv[i].name = (char *) json_string_value(
			    json_object_get(p, "name"));
			pv[i].addresses
			    = calloc(json_array_size(ad) + 1, sizeof(char *));
			for (size_t k = 0; pv[i].addresses != NULL
			     && k < json_array_size(ad);
			     k++) {
				const char *s
				    = json_string_value(json_array_get(ad, k));
				if (s != NULL) {
					pv[i].addresses[pv[i].n_addresses++]
					    = (char *) s;
				}
			}
			pools[h.n_pools++] = &pv[i];
		}
		h.pools       = pools;
		h.pools_known = pools != NULL && pv != NULL;
	}
	req.cluster       = j->j_cluster;
	req.health        = &h;
	req.claim_token   = sf__recon_claim_token(r, j->j_cluster);
	req.reconciler_id = r->r_id;
	for (int attempt = 0; attempt < 3; attempt++) {
		rv = svcfleet_report_cluster_health(r->r_client, &req, &e, st);
		svcfleet_free(e);
		e = NULL;
		atomic_fetch_add(&r->r_health_reports, 1);
		if (rv == 0 || rv == SVCFLEET_NOT_FOUND
		    || rv == SVCFLEET_FAILED_PRECONDITION
		    || atomic_load(&r->r_stop)) {
			break;
		}
		usleep(300 * 1000);
	}
	for (size_t i = 0; pv != NULL && i < np; i++) {
		free(pv[i].addresses);
	}
	free(pools);
	free(pv);
	json_decref(pj);
}

sf__recon_msg *
sf__recon_fetch_answer(
    sf_reconciler *r, const sf__recon_job *j, int rv, const sf_service *svc)
{
	sf__recon_msg *m;

	if (rv == 0) {
		// Epoch 0: a fetch does not say which list it belongs to.
		m = sf__recon_desired_msg(r, svc, 0, true);
	} else if (rv == SVCFLEET_NOT_FOUND) {
		m = sf__recon_msg_new(M_DESIRED, j->j_key);
	} else {
		m = sf__recon_msg_new(M_FETCHED, j->j_key);
	}
	if (m != NULL) {
		m->m_fetch = j->j_fetch;
	}
	return (m);
}

static void
do_fetch(sf_reconciler *r, sf__recon_job *j, svcfleet_status *st)
{
	Svcfleet__V1__GetServiceRequest req
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey key = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__Service   *svc = NULL;
	char                     buf[400];
	sf__recon_msg           *m;
	int                      rv;

	key_of(j->j_key, j->j_cluster, buf, sizeof(buf), &key);
	req.key = &key;
	rv      = svcfleet_get_service(r->r_client, &req, &svc, st);
	m       = sf__recon_fetch_answer(r, j, rv, svc);
	svcfleet_free(svc);
	if (m != NULL) {
		sf__recon_post(r, j->j_cluster, m);
	}
}

// Takes up to max jobs off the queue at *head (tail *tail); r_jmtx held.
static size_t
take_jobs(sf_reconciler *r, sf__recon_job **head, sf__recon_job **tail,
    sf__recon_job **out, size_t max)
{
	size_t n = 0;
	while (*head != NULL && n < max) {
		out[n++] = *head;
		*head    = (*head)->j_next;
		r->r_jlen--;
	}
	if (*head == NULL) {
		*tail = NULL;
	}
	return (n);
}

static void *
reporter_main(void *arg)
{
	sf_reconciler  *r = arg;
	svcfleet_status st;
	sf__recon_job  *batch[REPORT_BATCH];

	pthread_setname_np(pthread_self(), "rc:report");
	svcfleet_status_init(&st);
	for (;;) {
		sf__recon_job *j = NULL;
		size_t         n = 0;
		bool           no_batch;
		pthread_mutex_lock(&r->r_jmtx);
		for (;;) {
			no_batch = atomic_load(&r->r_no_batch);
			if (r->r_shead != NULL && !no_batch
			    && r->r_scalls < REPORT_CALLS) {
				// Every status report queued, in one call.
				n = take_jobs(r, &r->r_shead, &r->r_stail,
				    batch, REPORT_BATCH);
				r->r_scalls++;
				break;
			}
			if (r->r_jhead != NULL) {
				take_jobs(r, &r->r_jhead, &r->r_jtail, &j, 1);
				break;
			}
			if (r->r_shead != NULL && no_batch) {
				// A svcfleetd without ReportStatuses: one by
				// one, as many at once as there are reporters.
				take_jobs(r, &r->r_shead, &r->r_stail, &j, 1);
				break;
			}
			if (r->r_jstop) {
				break;
			}
			// Nothing, or only status reports while REPORT_CALLS
			// calls travel: the reporter whose call returns takes
			// them.
			pthread_cond_wait(&r->r_jcv, &r->r_jmtx);
		}
		pthread_mutex_unlock(&r->r_jmtx);
		if (j == NULL && n == 0) {
			break; // stopping
		}
		if (atomic_load(&r->r_stop)) {
			// Dropped: the workers are going away too.
		} else if (n > 0) {
			do_statuses(r, batch, n, &st);
		} else {
			switch (j->j_kind) {
			case J_STATUS:
				do_status(r, j, &st);
				break;
			case J_HEALTH:
				do_health(r, j, &st);
				break;
			case J_FETCH:
				do_fetch(r, j, &st);
				break;
			case J_DRIFT:
				do_drift(r, j, &st);
				break;
			}
		}
		for (size_t i = 0; i < n; i++) {
			sf__recon_job_free(batch[i]);
		}
		sf__recon_job_free(j);
		if (n > 0) {
			pthread_mutex_lock(&r->r_jmtx);
			r->r_scalls--;
			pthread_mutex_unlock(&r->r_jmtx);
		}
	}
	svcfleet_status_fini(&st);
	return (NULL);
}

int
sf__recon_reporters_start(sf_reconciler *r)
{
	size_t n = r->r_opts.ro_reporters;
	if ((r->r_reporters = calloc(n, sizeof(pthread_t))) == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	for (size_t i = 0; i < n; i++) {
		if (pthread_create(&r->r_reporters[i], NULL, reporter_main, r)
		    != 0) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		r->r_nreporters++;
	}
	return (0);
}

void
sf__recon_reporters_stop(sf_reconciler *r)
{
	sf__recon_job *j;
	pthread_mutex_lock(&r->r_jmtx);
	r->r_jstop = true;
	pthread_cond_broadcast(&r->r_jcv);
	pthread_mutex_unlock(&r->r_jmtx);
	for (size_t i = 0; i < r->r_nreporters; i++) {
		pthread_join(r->r_reporters[i], NULL);
	}
	while ((j = r->r_jhead) != NULL) {
		r->r_jhead = j->j_next;
		sf__recon_job_free(j);
	}
	r->r_jtail = NULL;
	while ((j = r->r_shead) != NULL) {
		r->r_shead = j->j_next;
		sf__recon_job_free(j);
	}
	r->r_stail = NULL;
	r->r_jlen  = 0;
	free(r->r_reporters);
	r->r_reporters  = NULL;
	r->r_nreporters = 0;
}
