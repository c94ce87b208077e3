// claims.c: the reconciler's membership and cluster claims (issue 16).
//
// A thread of its own registers with svcfleetd (RegisterReconciler) and
// renews its lease every TTL/3 (RenewReconciler); every answer says which
// clusters this reconciler holds, each with a fencing token, and which
// clusters anyone holds. The watcher (desired.c) keeps a worker for each
// cluster held; workers act on a cluster only while the claim can be
// proved: the last renewal that succeeded was sent less than 2/3 TTL ago
// (sf__recon_claim_ok), so a reconciler cut off from svcfleetd, or paused,
// stops before its lease can run out and the cluster move. Every write to
// a cluster carries the reconciler's id and token in headers, and every
// report carries them too (svcfleetd refuses a stale token).
//
// A reconciler pinned with --shard I/N (ro_shards > 1) does not register:
// it handles its static share, unfenced, as before.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#include "internal.h"

#define RENEW_MIN_GAP_MS 250 // early renewals at most this often

bool
sf__recon_claiming(const sf_reconciler *r)
{
	return (r->r_opts.ro_shards <= 1 && !r->r_opts.ro_no_claims);
}

static const struct sf__recon_claim *
find(const sf_reconciler *r, const char *cluster)
{
	for (size_t i = 0; i < r->r_nclaims; i++) {
		if (strcmp(r->r_claims[i].rc_cluster, cluster) == 0) {
			return (&r->r_claims[i]);
		}
	}
	return (NULL);
}

bool
sf__recon_in_scope(sf_reconciler *r, const char *cluster)
{
	bool in;
	if (!sf__recon_claiming(r)) {
		return (r->r_opts.ro_shards <= 1
		    || sf_reconciler_shard_of(cluster, r->r_opts.ro_shards)
		        == r->r_opts.ro_shard);
	}
	pthread_mutex_lock(&r->r_cmtx);
	in = find(r, cluster) != NULL;
	pthread_mutex_unlock(&r->r_cmtx);
	return (in);
}

bool
sf__recon_claim_ok(sf_reconciler *r, const char *cluster, uint64_t *token)
{
	const struct sf__recon_claim *c;
	bool                          ok;

	if (token != NULL) {
		*token = 0;
	}
	if (!sf__recon_claiming(r)) {
		return (true);
	}
	pthread_mutex_lock(&r->r_cmtx);
	c  = find(r, cluster);
	ok = c != NULL && sf_clock_mono_ms() < r->r_proof_until;
	if (c != NULL && token != NULL) {
		*token = c->rc_token;
	}
	pthread_mutex_unlock(&r->r_cmtx);
	return (ok);
}

uint64_t
sf__recon_claim_token(sf_reconciler *r, const char *cluster)
{
	const struct sf__recon_claim *c;
	uint64_t                      t = 0;
	if (!sf__recon_claiming(r)) {
		return (0);
	}
	pthread_mutex_lock(&r->r_cmtx);
	if ((c = find(r, cluster)) != NULL) {
		t = c->rc_token;
	}
	pthread_mutex_unlock(&r->r_cmtx);
	return (t);
}

bool
sf__recon_claim_known(sf_reconciler *r, const char *cluster)
{
	bool known = false;
	pthread_mutex_lock(&r->r_cmtx);
	for (size_t i = 0; i < r->r_nknown && !known; i++) {
		known = strcmp(r->r_known[i], cluster) == 0;
	}
	pthread_mutex_unlock(&r->r_cmtx);
	return (known);
}

void
sf__recon_claims_poke(sf_reconciler *r)
{
	pthread_mutex_lock(&r->r_cmtx);
	r->r_poke = true;
	pthread_cond_signal(&r->r_ccv);
	pthread_mutex_unlock(&r->r_cmtx);
}

static void
claims_clear(sf_reconciler *r)
{
	for (size_t i = 0; i < r->r_nclaims; i++) {
		free(r->r_claims[i].rc_cluster);
	}
	free(r->r_claims);
	r->r_claims  = NULL;
	r->r_nclaims = 0;
	for (size_t i = 0; i < r->r_nknown; i++) {
		free(r->r_known[i]);
	}
	free(r->r_known);
	r->r_known  = NULL;
	r->r_nknown = 0;
}

// take installs the answer of a Register or Renew sent at sent (mono ms).
static void
take(sf_reconciler *r, const Svcfleet__V1__ReconcilerLease *l, int64_t sent)
{
	struct sf__recon_claim *cv = calloc(l->n_claims + 1, sizeof(*cv));
	char **kv = calloc(l->n_all_claims + 1, sizeof(char *));
	bool   changed;

	if (cv == NULL || kv == NULL) {
		free(cv);
		free(kv);
		return; // proof runs out; the next answer may fit
	}
	for (size_t i = 0; i < l->n_claims; i++) {
		cv[i].rc_cluster = strdup(l->claims[i]->cluster);
		cv[i].rc_token   = l->claims[i]->token;
	}
	for (size_t i = 0; i < l->n_all_claims; i++) {
		kv[i] = strdup(l->all_claims[i]->cluster);
	}
	pthread_mutex_lock(&r->r_cmtx);
	changed = l->n_claims != r->r_nclaims;
	for (size_t i = 0; !changed && i < l->n_claims; i++) {
		const struct sf__recon_claim *o
		    = find(r, l->claims[i]->cluster);
		changed = o == NULL || o->rc_token != l->claims[i]->token;
	}
	if (changed) {
		for (size_t i = 0; i < l->n_claims; i++) {
			const struct sf__recon_claim *o
			    = find(r, l->claims[i]->cluster);
			if (o == NULL || o->rc_token != l->claims[i]->token) {
				SF_INFO("recon",
				    "claimed cluster=%s (token %" PRIu64 ")",
				    l->claims[i]->cluster,
				    l->claims[i]->token);
			}
		}
	}
	// Clusters given up are logged by the watcher as it stops them.
	size_t nknown_old = r->r_nknown;
	claims_clear(r);
	r->r_claims      = cv;
	r->r_nclaims     = l->n_claims;
	r->r_known       = kv;
	r->r_nknown      = l->n_all_claims;
	r->r_proof_until = sent + r->r_ttl_ms * 2 / 3;
	pthread_mutex_unlock(&r->r_cmtx);
	if (changed || nknown_old != l->n_all_claims) {
		atomic_fetch_add(&r->r_claims_gen, 1);
	}
}

static int
do_register(sf_reconciler *r, svcfleet_status *st)
{
	Svcfleet__V1__RegisterReconcilerRequest req
	    = SVCFLEET__V1__REGISTER_RECONCILER_REQUEST__INIT;
	Svcfleet__V1__Reconciler       me  = SVCFLEET__V1__RECONCILER__INIT;
	Svcfleet__V1__ReconcilerLease *rep = NULL;
	svcfleet_call_opts co = {.timeout_ms = (uint32_t) (r->r_ttl_ms / 3)};
	char               host[256] = "";
	int64_t            sent;
	int                rv;

	gethostname(host, sizeof(host) - 1);
	me.id          = r->r_id;
	me.host        = host;
	me.pid         = (int32_t) getpid();
	me.ttl_ms      = r->r_ttl_ms;
	me.started_ms  = r->r_started_ms;
	me.version     = SF_VERSION;
	req.reconciler = &me;
	sent           = sf_clock_mono_ms();
	rv             = svcfleet_register_reconciler_with(
	                r->r_client, &req, &rep, &co, st);
	if (rv != 0) {
		return (rv);
	}
	pthread_mutex_lock(&r->r_cmtx);
	r->r_lease = rep->lease;
	pthread_mutex_unlock(&r->r_cmtx);
	SF_INFO("recon",
	    "registered as reconciler %s (lease ttl %" PRId64 " ms, %u live)",
	    r->r_id, rep->ttl_ms, rep->members);
	take(r, rep, sent);
	svcfleet_free(rep);
	return (0);
}

static int
do_renew(sf_reconciler *r, svcfleet_status *st)
{
	Svcfleet__V1__RenewReconcilerRequest req
	    = SVCFLEET__V1__RENEW_RECONCILER_REQUEST__INIT;
	Svcfleet__V1__ReconcilerLease *rep = NULL;
	svcfleet_call_opts co   = {.timeout_ms = (uint32_t) (r->r_ttl_ms / 3)};
	int64_t            sent = sf_clock_mono_ms();
	int                rv;

	req.id    = r->r_id;
	req.lease = r->r_lease;
	rv = svcfleet_renew_reconciler_with(r->r_client, &req, &rep, &co, st);
	if (rv == SVCFLEET_NOT_FOUND) {
		// The lease ran out (we were paused or cut off): every claim
		// is gone. Register again, from nothing.
		SF_WARN("recon",
		    "reconciler %s lost its lease: %s; registering again",
		    r->r_id, st->message);
		pthread_mutex_lock(&r->r_cmtx);
		claims_clear(r);
		r->r_lease       = 0;
		r->r_proof_until = 0;
		pthread_mutex_unlock(&r->r_cmtx);
		atomic_fetch_add(&r->r_claims_gen, 1);
		return (rv);
	}
	if (rv != 0) {
		return (rv);
	}
	take(r, rep, sent);
	svcfleet_free(rep);
	return (0);
}

static void *
member_main(void *arg)
{
	sf_reconciler  *r = arg;
	svcfleet_status st;
	int64_t         last  = 0;
	unsigned        fails = 0;

	pthread_setname_np(pthread_self(), "rc:member");
	svcfleet_status_init(&st);
	while (!atomic_load(&r->r_mstop)) {
		int rv;
		last = sf_clock_mono_ms();
		rv = r->r_lease == 0 ? do_register(r, &st) : do_renew(r, &st);
		if (rv != 0 && rv != SVCFLEET_NOT_FOUND) {
			if (fails++ == 0) {
				SF_WARN("recon", "%s: %s: %s",
				    r->r_lease == 0 ? "RegisterReconciler"
				                    : "RenewReconciler",
				    svcfleet_code_name(rv), st.message);
			}
		} else if (rv == 0) {
			fails = 0;
		}
		// Next: TTL/3 after this one (sooner after a failure, at once
		// after a lost lease), or when poked (a new cluster).
		int64_t wait  = rv == SVCFLEET_NOT_FOUND ? 0
		     : rv != 0                           ? r->r_ttl_ms / 6
		                                         : r->r_ttl_ms / 3;
		int64_t until = last + wait;
		pthread_mutex_lock(&r->r_cmtx);
		while (!atomic_load(&r->r_mstop)) {
			int64_t now = sf_clock_mono_ms();
			if (now >= until
			    || (r->r_poke && now >= last + RENEW_MIN_GAP_MS)) {
				break;
			}
			int64_t to
			    = r->r_poke ? last + RENEW_MIN_GAP_MS : until;
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			int64_t ns
			    = (int64_t) ts.tv_nsec + (to - now) * 1000000;
			ts.tv_sec += ns / 1000000000;
			ts.tv_nsec = ns % 1000000000;
			pthread_cond_timedwait(&r->r_ccv, &r->r_cmtx, &ts);
		}
		r->r_poke = false;
		pthread_mutex_unlock(&r->r_cmtx);
	}
	svcfleet_status_fini(&st);
	return (NULL);
}

int
sf__recon_claims_start(sf_reconciler *r)
{
	pthread_condattr_t ca;
	char               host[200] = "";

	pthread_mutex_init(&r->r_cmtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->r_ccv, &ca);
	pthread_condattr_destroy(&ca);
	r->r_claims_inited = true;
	r->r_ttl_ms = r->r_opts.ro_ttl_ms > 0 ? r->r_opts.ro_ttl_ms : 10000;
	r->r_started_ms = sf_clock_now_ms();
	if (r->r_opts.ro_id != NULL && r->r_opts.ro_id[0] != '\0') {
		snprintf(r->r_id, sizeof(r->r_id), "%s", r->r_opts.ro_id);
	} else {
		gethostname(host, sizeof(host) - 1);
		snprintf(r->r_id, sizeof(r->r_id), "%s-%d",
		    host[0] ? host : "reconciler", (int) getpid());
	}
	if (!sf__recon_claiming(r)) {
		return (0);
	}
	if (pthread_create(&r->r_member, NULL, member_main, r) != 0) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	r->r_member_started = true;
	return (0);
}

void
sf__recon_claims_stop(sf_reconciler *r)
{
	if (!r->r_claims_inited) {
		return;
	}
	if (r->r_member_started) {
		pthread_mutex_lock(&r->r_cmtx);
		atomic_store(&r->r_mstop, true);
		pthread_cond_signal(&r->r_ccv);
		pthread_mutex_unlock(&r->r_cmtx);
		pthread_join(r->r_member, NULL);
		r->r_member_started = false;
		// Hand the clusters over at once rather than after the TTL.
		if (r->r_lease != 0) {
			Svcfleet__V1__UnregisterReconcilerRequest req
			    = SVCFLEET__V1__UNREGISTER_RECONCILER_REQUEST__INIT;
			Svcfleet__V1__Empty *e  = NULL;
			svcfleet_call_opts   co = {.timeout_ms = 2000};
			svcfleet_status      st;
			svcfleet_status_init(&st);
			req.id    = r->r_id;
			req.lease = r->r_lease;
			if (svcfleet_unregister_reconciler_with(
			        r->r_client, &req, &e, &co, &st)
			    == 0) {
				SF_INFO("recon",
				    "reconciler %s unregistered: its clusters "
				    "moved on",
				    r->r_id);
			}
			svcfleet_free(e);
			svcfleet_status_fini(&st);
		}
	}
	claims_clear(r);
	pthread_mutex_destroy(&r->r_cmtx);
	pthread_cond_destroy(&r->r_ccv);
	r->r_claims_inited = false;
}

const char *
sf_reconciler_id(const sf_reconciler *r)
{
	return (r->r_id);
}
