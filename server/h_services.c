// h_services.c: the ServiceManager handlers.
//
// Reads run on the worker thread against a read snapshot. Writes are
// write functions run by the store's writer thread inside their own nested
// transaction: they read what they depend on (the stored object, the
// cluster record, the node-port index), validate, and write — so checks and
// the write see the same state, and a failed request leaves nothing behind.
//
// One file of about 1,600 lines: the six writes share the job (svc_job), its
// re-runnable start (job_write) and their checks (key, cluster, node
// ports), and the generated service initializer names every handler.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "hash.h"
#include "internal.h"
#include "log.h"
#include "str.h"

#define FINALIZER_DEFAULT "svcfleet.io/cluster"
#define LIST_PAGE_DEFAULT 500
#define LIST_PAGE_MAX     5000
#define WATCH_WAIT_MAX_MS (5 * 60 * 1000)

enum job_kind {
	JOB_CREATE,
	JOB_UPDATE,
	JOB_APPLY,
	JOB_DELETE,
	JOB_REPORT,
	JOB_REPORTS,
	JOB_ROLLBACK, // i19
};

#define REPORTS_MAX 1000

typedef struct svc_job {
	sf__srv_call *j_call;
	int           j_kind;
	sf_service   *j_svc; // the request's object (create, update, apply)
	// j_svc as the request had it (after defaults), packed: the write
	// functions change j_svc (server fields, and the store writes uid and
	// resource_version back), and a batch retried after MAP_FULL must
	// run them on the request again, not on the last attempt's result.
	uint8_t                                  *j_svc_packed;
	size_t                                    j_svc_len;
	const Svcfleet__V1__DeleteServiceRequest *j_del;
	const Svcfleet__V1__ReportStatusRequest  *j_rep;
	// ReportStatuses: the request and one result per report.
	const Svcfleet__V1__ReportStatusesRequest *j_reps;
	Svcfleet__V1__ReportStatusResult         **j_results;
	// Results, filled by the write function.
	sf_service               *j_result;
	Svcfleet__V1__ApplyAction j_action;
	bool                      j_deleted;
	bool                      j_wrote;
	// ReportStatuses: the claims read once for every report (issue 16).
	sf__srv_claims_view *j_cv;
	// i19: RollbackService's request, and what the history says of the
	// generation a write makes.
	const Svcfleet__V1__RollbackServiceRequest *j_rb;
	const char                                 *j_hist_action;
	int64_t                                     j_rollback_of;
	// Issue 17, finding 3: a Service is validated before its job is
	// queued, off the writer (prevalidate). j_req_packed is the request
	// as received (after defaults), for a validation done again;
	// j_svc_packed then holds the object validated. j_pre_failed: the
	// request was refused then (the call's status says why), the writer
	// only records the refusal. j_basis: what the validation read of the
	// stored object (its spec and metadata's labels and annotations,
	// packed; NULL when none was stored), j_cl_basis of the cluster's
	// record (sf__srv_cluster_basis), which the writer finds unchanged or
	// sends the request back to be validated again (j_stale), at most
	// REVALIDATE_MAX times.
	uint8_t *j_req_packed;
	size_t   j_req_len;
	bool     j_pre_failed;
	// The refusal, kept in the call's arena (the store may reset the
	// status between attempts of a write): pre_keep, pre_restore.
	int           j_pre_code;
	char         *j_pre_msg;
	sf_violation *j_pre_viol;
	size_t        j_pre_nviol, j_pre_more;
	uint8_t      *j_basis;
	size_t        j_basis_len;
	uint8_t      *j_cl_basis;
	size_t        j_cl_basis_len;
	bool          j_stale;
	int           j_revalidations;
	bool          j_dry_run;
	// i19-ssd: a dry-run apply that asks the cluster's API server too.
	bool j_server_side;
} svc_job;

#define REVALIDATE_MAX 3

static void
key_of(const sf_service *svc, sf_store_key *k)
{
	k->k_cluster   = sf_nz(svc->metadata->cluster);
	k->k_namespace = sf_nz(svc->metadata->namespace_);
	k->k_name      = sf_nz(svc->metadata->name);
}

static void
key_from_msg(const Svcfleet__V1__ServiceKey *m, sf_store_key *k)
{
	k->k_cluster   = m != NULL ? sf_nz(m->cluster) : "";
	k->k_namespace = m != NULL ? sf_nz(m->namespace_) : "";
	k->k_name      = m != NULL ? sf_nz(m->name) : "";
}

// Kubernetes says `services "x" not found`; with several clusters the
// namespace and cluster belong in the sentence too.
static int
not_found(sf_status *st, const sf_store_key *k)
{
	return (sf_status_set(st, SF_NOT_FOUND,
	    "service \"%s\" not found in namespace \"%s\" of cluster \"%s\"",
	    k->k_name, k->k_namespace, k->k_cluster));
}

// Checks a key given by a caller (Get, Delete, ReportStatus); returns 0 or
// SF_INVALID_ARGUMENT with a violation per bad part.
static int
check_key(const sf_store_key *k, sf_status *st)
{
	const char *why;
	if (k->k_cluster[0] == '\0') {
		sf_status_violation(
		    st, SF_V_REQUIRED, "cluster", "Required value");
	} else if ((why = sf_model_check_dns1123_label(k->k_cluster))) {
		sf_status_violation(st, SF_V_INVALID, "cluster",
		    "Invalid value: \"%s\": %s", k->k_cluster, why);
	}
	if (k->k_namespace[0] == '\0') {
		sf_status_violation(
		    st, SF_V_REQUIRED, "metadata.namespace", "Required value");
	} else if ((why = sf_model_check_dns1123_label(k->k_namespace))) {
		sf_status_violation(st, SF_V_INVALID, "metadata.namespace",
		    "Invalid value: \"%s\": %s", k->k_namespace, why);
	}
	if (k->k_name[0] == '\0') {
		sf_status_violation(
		    st, SF_V_REQUIRED, "metadata.name", "Required value");
	} else if (strlen(k->k_name) > 63) {
		sf_status_violation(st, SF_V_INVALID, "metadata.name",
		    "Invalid value: \"%.63s...\": must be no more than 63 "
		    "characters",
		    k->k_name);
	}
	if (st->st_nviol > 0) {
		return (sf_status_set(
		    st, SF_INVALID_ARGUMENT, "invalid service key"));
	}
	return (0);
}

static void
limits_of(const Svcfleet__V1__Cluster *cl, sf_model_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	if (cl != NULL) {
		lim->node_port_min = cl->node_port_min;
		lim->node_port_max = cl->node_port_max;
	}
	// MetalLB pools as the reconciler last read them from the cluster.
	if (cl != NULL && cl->health != NULL && cl->health->pools_known) {
		lim->pools
		    = (const Svcfleet__V1__IPPool *const *) cl->health->pools;
		lim->npools = cl->health->n_pools;
	}
}

// Summarises violations into the status message: "Service \"web\" is
// invalid: spec.ports[0].port: Invalid value: 0: ..." as kubectl prints.
static int
invalid(sf_status *st, const sf_store_key *k)
{
	char   first[300] = "";
	size_t n          = sf_status_nviol(st);
	if (st->st_nviol > 0) {
		snprintf(first, sizeof(first), "%s: %s",
		    st->st_viol[0].v_field, st->st_viol[0].v_reason);
	}
	if (n > 1) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "Service \"%s\" is invalid: %s (and %zu more)", k->k_name,
		    first, n - 1));
	}
	return (sf_status_set(st, SF_INVALID_ARGUMENT,
	    "Service \"%s\" is invalid: %s", k->k_name, first));
}

// Requested nodePorts must not be requested by another Service of the same
// cluster (the cluster would refuse the second one).
static int
check_node_ports(sf_store_txn *txn, sf__srv_call *c, const sf_service *svc,
    const sf_store_key *self, sf_status *st)
{
	const sf_service_spec *sp = svc->spec;
	for (size_t i = 0; i < sp->n_ports; i++) {
		const sf_service_port *p = sp->ports[i];
		sf_store_key           owner;
		char                   path[64];
		int                    rv;
		if (p->node_port == 0) {
			continue;
		}
		rv = sf_store_txn_nodeport_owner(txn, self->k_cluster,
		    sf_nz(p->protocol), p->node_port,
		    sf_arena_pbc(&c->c_arena), &owner);
		if (rv == SF_NOT_FOUND) {
			continue;
		}
		if (rv != 0) {
			return (sf_status_set(
			    st, rv, "node-port index: %s", sf_status_str(rv)));
		}
		if (strcmp(owner.k_namespace, self->k_namespace) == 0
		    && strcmp(owner.k_name, self->k_name) == 0) {
			continue;
		}
		snprintf(path, sizeof(path), "spec.ports[%zu].nodePort", i);
		// Another tenant's Service is named only to a caller who may
		// read it (issue 17, finding 8); others hear what Kubernetes
		// says.
		if (sf__srv_call_allowed(c, "services", "get", self->k_cluster,
		        owner.k_namespace)) {
			sf_status_violation(st, SF_V_INVALID, path,
			    "Invalid value: %d: provided port is already "
			    "requested by service \"%s/%s\" in cluster \"%s\"",
			    p->node_port, owner.k_namespace, owner.k_name,
			    self->k_cluster);
		} else {
			sf_status_violation(st, SF_V_INVALID, path,
			    "Invalid value: %d: provided port is already "
			    "allocated",
			    p->node_port);
		}
	}
	if (st->st_nviol > 0) {
		const sf_violation *v = &st->st_viol[0];
		return (sf_status_set(st, SF_FAILED_PRECONDITION, "%s: %s",
		    v->v_field, v->v_reason));
	}
	return (0);
}

// i18-plan: the address plan covers plain Services. An address svc
// requests must be free in every cluster (held by no Service or
// FleetService copy that does not share it, MetalLB's allow-shared-ip
// rule) — read in this write, as a FleetService's copies check theirs.
// The holder is named only to a caller who may read it.
static int
check_addresses(sf_store_txn *txn, sf__srv_call *c, const sf_service *svc,
    const sf_store_key *self, sf_status *st)
{
	const Svcfleet__V1__AddressHolder *h    = NULL;
	const char                        *addr = NULL;
	int                                rv;

	if (sf__srv_svc_addrs_of(svc)[0] == '\0') {
		return (0);
	}
	rv = sf__srv_svc_addrs_clash(txn, &c->c_arena, svc, &addr, &h);
	if (rv != 0) {
		return (sf_status_set(st, rv, "reading the address claims: %s",
		    sf_status_str(rv)));
	}
	void (*hook)(const char *) = sf__srv_fleet_addrs_hook;
	if (hook != NULL) {
		char id[300];
		snprintf(id, sizeof(id), "svc:%s/%s/%s", self->k_cluster,
		    self->k_namespace, self->k_name);
		hook(id); // tests hold the write here
	}
	if (h == NULL) {
		return (0);
	}
	const char *hns = sf_nz(h->fleet)[0] != '\0' ? h->fleet : h->service;
	char        ns[128];
	snprintf(ns, sizeof(ns), "%.*s", (int) strcspn(sf_nz(hns), "/"),
	    sf_nz(hns));
	const char *path = svc->spec->lb_type != NULL
	        && strcmp(svc->spec->lb_type, "metallb") == 0
	    ? "metadata.annotations[" SF_ANN_METALLB_IPS "]"
	    : "spec.loadBalancerIP";
	if (sf__srv_call_allowed(
	        c, "services", "get", sf_nz(h->cluster), ns)) {
		sf_status_violation(st, SF_V_DUPLICATE, path,
		    "Duplicate value: \"%s\": the address is already "
		    "requested by %s (to share it, every requester sets the "
		    "annotation metallb.universe.tf/allow-shared-ip, with the "
		    "same key)",
		    addr, sf__srv_addrs_holder_name(&c->c_arena, h));
	} else {
		sf_status_violation(st, SF_V_DUPLICATE, path,
		    "Duplicate value: \"%s\": the address is already "
		    "requested by another Service",
		    addr);
	}
	return (invalid(st, self));
}

static int
get_cluster(sf_store_txn *txn, sf__srv_call *c, const char *name,
    Svcfleet__V1__Cluster **out)
{
	// The cluster's settings (node ports, pools); never its credentials.
	int rv = sf_store_txn_cluster_spec_get(
	    txn, name, sf_arena_pbc(&c->c_arena), out);
	if (rv == SF_NOT_FOUND) {
		*out = NULL;
		return (0);
	}
	return (rv);
}

// Honest versions (DESIGN §11): a write of desired state records its
// revision, author, time and request id; a status report never does, so
// an edit based on an older version conflicts only with a later change of
// desired state, and the conflict names who made it.
static void
spec_stamp(sf_store_txn *txn, sf__srv_call *c, sf_object_meta *m)
{
	m->spec_version        = sf_store_txn_revision(txn);
	m->spec_updated_by     = (char *) sf_nz(c->c_ident.id_user);
	m->spec_update_time_ms = sf_store_txn_now_ms(txn);
	m->spec_request_id     = c->c_request_id;
}

static void
spec_stamp_copy(sf_object_meta *nm, const sf_object_meta *om)
{
	nm->spec_version        = om->spec_version;
	nm->spec_updated_by     = om->spec_updated_by;
	nm->spec_update_time_ms = om->spec_update_time_ms;
	nm->spec_request_id     = om->spec_request_id;
}

// Whether desired state changed after version want. An object stored
// before spec_version existed (0) knows only its resource_version.
// A version newer than the stored one was never seen: a conflict too.
static bool
spec_changed_since(const sf_object_meta *m, uint64_t want)
{
	return (m->spec_version == 0 || m->spec_version > want
	    || want > m->resource_version);
}

static int
conflict(sf_store_txn *txn, sf_status *st, const sf_store_key *k,
    const sf_object_meta *m, uint64_t want)
{
	int64_t ago = m->spec_update_time_ms > 0
	    ? (sf_store_txn_now_ms(txn) - m->spec_update_time_ms) / 1000
	    : -1;
	if (m->spec_version == 0 || sf_nz(m->spec_updated_by)[0] == '\0'
	    || want > m->resource_version) {
		return (sf_status_set(st, SF_ABORTED,
		    "Operation cannot be fulfilled on services \"%s\": the "
		    "object has been modified; please apply your changes to "
		    "the latest version and try again (resource version %llu "
		    "given, %llu stored)",
		    k->k_name, (unsigned long long) want,
		    (unsigned long long) m->resource_version));
	}
	return (sf_status_set(st, SF_ABORTED,
	    "Operation cannot be fulfilled on services \"%s\": the object "
	    "has been modified: changed by %s %llds ago (generation %lld, "
	    "resource version %llu; your "
	    "change was based on %llu); saving would silently undo their "
	    "change: apply your changes to the latest version and try again",
	    k->k_name, m->spec_updated_by, (long long) (ago < 0 ? 0 : ago),
	    (long long) m->generation, (unsigned long long) m->spec_version,
	    (unsigned long long) want));
}

// Server-owned metadata the caller cannot set on create.
static void
reset_server_fields(sf__srv_call *c, sf_service *svc)
{
	sf_object_meta *m   = svc->metadata;
	m->uid              = "";
	m->generation       = 0;
	m->create_time_ms   = 0;
	m->update_time_ms   = 0;
	m->created_by       = (char *) c->c_ident.id_user;
	m->updated_by       = (char *) c->c_ident.id_user;
	m->deleting         = false;
	m->delete_time_ms   = 0;
	m->finalizers       = NULL;
	m->n_finalizers     = 0;
	m->resource_version = 0;
	svc->status         = NULL;
	svc->n_status       = 0;
}

// ------------------------------------------------------------ history

// History (DESIGN §11): one record per Service holding its last
// generations' specs, oldest first, written in the transaction that makes
// the generation. The record id is a hash of the key (ids are at most 100
// bytes, keys up to 191); the record carries the key, so a collision is
// seen and the other Service's history restarts rather than mixing.
#define HISTORY_KEEP_DEFAULT 20
#define HISTORY_KEEP_MAX     1000

static uint32_t
history_keep(const sf__srv_call *c)
{
	uint32_t k = c->c_srv->s_opts.so_history_keep;
	return (k == 0                 ? HISTORY_KEEP_DEFAULT
	        : k > HISTORY_KEEP_MAX ? HISTORY_KEEP_MAX
	                               : k);
}

static void
history_id(const sf_store_key *k, char id[24])
{
	uint64_t h = SF_HASH_INIT;
	h          = sf_hash_str(h, k->k_cluster);
	h          = sf_hash_str(h, k->k_namespace);
	h          = sf_hash_str(h, k->k_name);
	snprintf(id, 24, "h%016llx", (unsigned long long) h);
}

static bool
history_is_of(const Svcfleet__V1__ServiceHistory *h, const sf_store_key *k)
{
	return (h->key != NULL
	    && strcmp(sf_nz(h->key->cluster), k->k_cluster) == 0
	    && strcmp(sf_nz(h->key->namespace_), k->k_namespace) == 0
	    && strcmp(sf_nz(h->key->name), k->k_name) == 0);
}

// history_read reads k's history; *out is NULL when there is none.
static int
history_read(sf_store_txn *txn, sf_arena *a, const sf_store_key *k,
    Svcfleet__V1__ServiceHistory **out)
{
	char              id[24];
	ProtobufCMessage *m = NULL;
	int               rv;

	history_id(k, id);
	*out = NULL;
	rv   = sf_store_txn_record_get(txn, SF_STORE_HISTORY, id,
	      &svcfleet__v1__service_history__descriptor, sf_arena_pbc(a), &m);
	if (rv == SF_NOT_FOUND) {
		return (0);
	}
	if (rv == 0 && history_is_of((void *) m, k)) {
		*out = (void *) m;
	}
	return (rv);
}

// history_add records svc's generation (just written) made by the call.
static int
history_add(
    sf_store_txn *txn, svc_job *j, const sf_service *svc, sf_status *st)
{
	sf__srv_call                 *c = j->j_call;
	sf_arena                     *a = &c->c_arena;
	Svcfleet__V1__ServiceHistory *h = NULL;
	Svcfleet__V1__ServiceKey     *key;
	Svcfleet__V1__HistoryEntry   *e, **arr;
	sf_store_key                  k;
	char                          id[24];
	uint32_t                      keep = history_keep(c);
	size_t                        n, from;
	int                           rv;

	key_of(svc, &k);
	// A Service's first generation almost never has a history yet
	// (its delete dropped it): stored as new, create-if-absent, without
	// a read (on etcd the commit compares it absent and a conflict runs
	// the write again reading it); only when one is there is it read
	// and continued, as for any later generation (etcd-perf).
	bool fresh = svc->metadata->generation == 1 && j->j_rollback_of == 0;
	if (!fresh && (rv = history_read(txn, a, &k, &h)) != 0) {
		return (sf_status_set(st, rv, "reading the history failed"));
	}
again:
	if ((e = sf_arena_alloc(a, sizeof(*e))) == NULL
	    || (key = sf_arena_alloc(a, sizeof(*key))) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	svcfleet__v1__history_entry__init(e);
	e->generation  = svc->metadata->generation;
	e->time_ms     = sf_store_txn_now_ms(txn);
	e->user        = (char *) sf_nz(c->c_ident.id_user);
	e->request_id  = c->c_request_id;
	e->action      = (char *) (j->j_hist_action != NULL ? j->j_hist_action
	             : svc->metadata->generation == 1       ? "create"
	                                                    : "update");
	e->spec        = svc->spec;
	e->rollback_of = j->j_rollback_of;
	n              = h != NULL ? h->n_entries : 0;
	from           = n + 1 > keep ? n + 1 - keep : 0;
	if ((arr = sf_arena_alloc(a, (n + 1) * sizeof(*arr))) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	for (size_t i = from; i < n; i++) {
		arr[i - from] = h->entries[i];
	}
	arr[n - from] = e;
	if (h == NULL) {
		if ((h = sf_arena_alloc(a, sizeof(*h))) == NULL) {
			return (
			    sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
		}
		svcfleet__v1__service_history__init(h);
	}
	svcfleet__v1__service_key__init(key);
	key->cluster    = (char *) k.k_cluster;
	key->namespace_ = (char *) k.k_namespace;
	key->name       = (char *) k.k_name;
	h->key          = key;
	h->entries      = arr;
	h->n_entries    = n + 1 - from;
	h->keep         = keep;
	history_id(&k, id);
	rv = sf_store_txn_record_put(
	    txn, SF_STORE_HISTORY, id, &h->base, fresh);
	if (rv == SF_ALREADY_EXISTS && fresh) {
		fresh = false;
		h     = NULL;
		if ((rv = history_read(txn, a, &k, &h)) != 0) {
			return (sf_status_set(
			    st, rv, "reading the history failed"));
		}
		goto again;
	}
	if (rv != 0) {
		return (sf_status_set(st, rv, "storing the history failed"));
	}
	return (0);
}

// history_drop forgets the history of a Service that is gone.
static int
history_drop(sf_store_txn *txn, const sf_store_key *k, sf_status *st)
{
	char id[24];
	int  rv;

	history_id(k, id);
	rv = sf_store_txn_record_delete(txn, SF_STORE_HISTORY, id);
	if (rv != 0 && rv != SF_NOT_FOUND) {
		return (sf_status_set(st, rv, "deleting the history failed"));
	}
	return (0);
}

// ------------------------------------------------- validation's basis

// stale: what the validation of j read has changed since. The request is
// marked to be validated again (off the writer: job_done) unless it has
// been REVALIDATE_MAX times, and answered ABORTED for now.
static int
stale(svc_job *j, sf_status *st)
{
	sf__srv_call *c = j->j_call;

	if (j->j_revalidations < REVALIDATE_MAX) {
		j->j_stale      = true;
		c->c_revalidate = true;
	}
	return (sf_status_set(st, SF_ABORTED,
	    "Operation cannot be fulfilled on services \"%s\": the object "
	    "or its cluster was modified while this request was validated; "
	    "please try again",
	    c->c_name));
}

// limits_check: the cluster's record (cl, NULL when there is none) says
// what it said when j was validated. A comparison, O(size of the record).
static int
limits_check(svc_job *j, const Svcfleet__V1__Cluster *cl, sf_status *st)
{
	size_t   n = 0;
	uint8_t *b = sf__srv_cluster_basis(cl, false, &j->j_call->c_arena, &n);

	if (cl != NULL && b == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	if ((b == NULL) == (j->j_cl_basis == NULL)
	    && (b == NULL
	        || (n == j->j_cl_basis_len
	            && memcmp(b, j->j_cl_basis, n) == 0))) {
		return (0);
	}
	return (stale(j, st));
}

static int
write_create(sf_store_txn *txn, svc_job *j, sf_status *st)
{
	sf__srv_call          *c   = j->j_call;
	sf_service            *svc = j->j_svc;
	Svcfleet__V1__Cluster *cl  = NULL;
	sf_store_key           k;
	int                    rv;

	// Validated before the job was queued (prevalidate) with the
	// cluster's record as limits_check finds it still: what is left
	// needs the stored state.
	key_of(svc, &k);
	if ((rv = get_cluster(txn, c, k.k_cluster, &cl)) != 0) {
		return (sf_status_set(
		    st, rv, "reading cluster \"%s\" failed", k.k_cluster));
	}
	if ((rv = limits_check(j, cl, st)) != 0) {
		return (rv);
	}
	if (cl == NULL) {
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "cluster \"%s\" is not registered (see `svcfleet cluster "
		    "list`)",
		    k.k_cluster));
	}
	if ((rv = check_node_ports(txn, c, svc, &k, st)) != 0) {
		return (rv);
	}
	if ((rv = check_addresses(txn, c, svc, &k, st)) != 0) {
		return (rv);
	}
	reset_server_fields(c, svc);
	spec_stamp(txn, c, svc->metadata);
	rv = sf_store_txn_service_put(txn, svc, true);
	if (rv == SF_ALREADY_EXISTS) {
		return (sf_status_set(st, rv,
		    "service \"%s\" already exists in namespace \"%s\" of "
		    "cluster \"%s\"",
		    k.k_name, k.k_namespace, k.k_cluster));
	}
	if (rv != 0) {
		return (sf_status_set(st, rv, "storing the service failed"));
	}
	if ((rv = sf__srv_svc_addrs_claim(txn, &c->c_arena, NULL, svc)) != 0) {
		return (sf_status_set(st, rv, "claiming the address failed"));
	}
	if ((rv = history_add(txn, j, svc, st)) != 0) {
		return (rv);
	}
	j->j_result = svc;
	j->j_action = SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_CREATED;
	j->j_wrote  = true;
	return (0);
}

static void
mark_pending(sf_service *svc)
{
	for (size_t i = 0; i < svc->n_status; i++) {
		if (svc->status[i]->state
		    != SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DELETING) {
			svc->status[i]->state
			    = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_PENDING;
			svc->status[i]->message = "";
		}
	}
}

// FleetService (issue 18): a copy owned by a FleetService changes only
// through it.
static int
check_owner(const sf_service *old, const sf_store_key *k, sf_status *st)
{
	if (old->metadata->owner == NULL || old->metadata->owner[0] == '\0') {
		return (0);
	}
	return (sf_status_set(st, SF_FAILED_PRECONDITION,
	    "service \"%s\" in namespace \"%s\" of cluster \"%s\" is owned "
	    "by %s; change or delete that FleetService instead",
	    k->k_name, k->k_namespace, k->k_cluster, old->metadata->owner));
}

// Update and the update half of apply. old is the stored object.
static int
write_update_of(sf_store_txn *txn, svc_job *j, sf_service *old, sf_status *st)
{
	sf__srv_call          *c    = j->j_call;
	sf_service            *nw   = j->j_svc;
	Svcfleet__V1__Cluster *cl   = NULL;
	uint64_t               want = nw->metadata->resource_version;
	sf_store_key           k;
	int                    rv;

	key_of(old, &k);
	if ((rv = check_owner(old, &k, st)) != 0) {
		return (rv);
	}
	if (want != 0 && want != old->metadata->resource_version
	    && spec_changed_since(old->metadata, want)) {
		return (conflict(txn, st, &k, old->metadata, want));
	}
	if ((rv = get_cluster(txn, c, k.k_cluster, &cl)) != 0) {
		return (sf_status_set(st, rv, "reading cluster failed"));
	}
	// nw was validated against old (as basis_check found it) and the
	// cluster's record before the job was queued.
	if ((rv = limits_check(j, cl, st)) != 0) {
		return (rv);
	}
	// Server-owned metadata carries over from the stored object.
	sf_object_meta *om = old->metadata, *nm = nw->metadata;
	nm->uid              = om->uid;
	nm->generation       = om->generation;
	nm->create_time_ms   = om->create_time_ms;
	nm->created_by       = om->created_by;
	nm->deleting         = om->deleting;
	nm->delete_time_ms   = om->delete_time_ms;
	nm->finalizers       = om->finalizers;
	nm->n_finalizers     = om->n_finalizers;
	nm->updated_by       = (char *) c->c_ident.id_user;
	nm->update_time_ms   = om->update_time_ms;
	nm->resource_version = om->resource_version;
	spec_stamp_copy(nm, om);
	nw->status   = old->status;
	nw->n_status = old->n_status;

	bool spec_same = sf_model_spec_equal(old->spec, nw->spec);
	if (spec_same
	    && sf_model_kvs_equal(
	        om->labels, om->n_labels, nm->labels, nm->n_labels)
	    && sf_model_kvs_equal(om->annotations, om->n_annotations,
	        nm->annotations, nm->n_annotations)) {
		// Nothing to change: no write, no new revision.
		nm->updated_by = om->updated_by;
		j->j_result    = old;
		j->j_action
		    = SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_UNCHANGED;
		return (0);
	}
	if (om->deleting && !spec_same) {
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "service \"%s\" is being deleted; its spec can no longer "
		    "change",
		    k.k_name));
	}
	if ((rv = check_node_ports(txn, c, nw, &k, st)) != 0) {
		return (rv);
	}
	// (A Service being deleted gave its address up already; only its
	// labels or annotations can change now.)
	if (!om->deleting && (rv = check_addresses(txn, c, nw, &k, st)) != 0) {
		return (rv);
	}
	if (!spec_same) {
		mark_pending(nw);
	}
	spec_stamp(txn, c, nm);
	if ((rv = sf_store_txn_service_put(txn, nw, false)) != 0) {
		return (sf_status_set(st, rv, "storing the service failed"));
	}
	if (!om->deleting
	    && (rv = sf__srv_svc_addrs_claim(txn, &c->c_arena, old, nw))
	        != 0) {
		return (sf_status_set(st, rv, "claiming the address failed"));
	}
	if (nm->generation != om->generation
	    && (rv = history_add(txn, j, nw, st)) != 0) {
		return (rv);
	}
	j->j_result = nw;
	j->j_action = SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_CONFIGURED;
	j->j_wrote  = true;
	return (0);
}

// What a validation of a write reads of the stored object old: its spec
// (Kubernetes' update rules and the new spec of a rollback) and its
// labels and annotations (a rollback keeps them), packed into a's memory.
// NULL when out of memory.
static uint8_t *
basis_of(const sf_service *old, sf_arena *a, size_t *len)
{
	sf_object_meta  m  = SVCFLEET__V1__OBJECT_META__INIT;
	sf_service      s  = SVCFLEET__V1__SERVICE__INIT;
	sf_object_meta *om = old->metadata;
	uint8_t        *buf;

	if (om != NULL) {
		m.labels        = om->labels;
		m.n_labels      = om->n_labels;
		m.annotations   = om->annotations;
		m.n_annotations = om->n_annotations;
	}
	s.metadata = &m;
	s.spec     = old->spec;
	*len       = svcfleet__v1__service__get_packed_size(&s);
	if ((buf = sf_arena_alloc(a, *len + 1)) != NULL) {
		svcfleet__v1__service__pack(&s, buf);
	}
	return (buf);
}

// basis_check: the stored object (old, NULL when there is none) is what
// the validation of j read (else stale). O(size of old): a comparison.
static int
basis_check(svc_job *j, const sf_service *old, sf_status *st)
{
	sf__srv_call *c = j->j_call;
	uint8_t      *b = NULL;
	size_t        n = 0;

	if (old != NULL && (b = basis_of(old, &c->c_arena, &n)) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	if ((b == NULL) == (j->j_basis == NULL)
	    && (b == NULL
	        || (n == j->j_basis_len && memcmp(b, j->j_basis, n) == 0))) {
		return (0);
	}
	return (stale(j, st));
}

static int
write_update(sf_store_txn *txn, svc_job *j, sf_status *st)
{
	sf__srv_call *c = j->j_call;
	sf_service   *old;
	sf_store_key  k;
	int           rv;

	key_of(j->j_svc, &k);
	if (check_key(&k, st) != 0) {
		return (st->st_code);
	}
	rv = sf_store_txn_service_get(
	    txn, &k, sf_arena_pbc(&c->c_arena), &old);
	if (rv == SF_NOT_FOUND) {
		return (not_found(st, &k));
	}
	if (rv != 0) {
		return (sf_status_set(st, rv, "reading the service failed"));
	}
	if ((rv = basis_check(j, old, st)) != 0) {
		return (rv);
	}
	return (write_update_of(txn, j, old, st));
}

static int
write_apply(sf_store_txn *txn, svc_job *j, sf_status *st)
{
	sf__srv_call *c = j->j_call;
	sf_service   *old;
	sf_store_key  k;
	int           rv;

	// (A bad key was refused by the validation of a create before the
	// job was queued.)
	key_of(j->j_svc, &k);
	rv = sf_store_txn_service_get(
	    txn, &k, sf_arena_pbc(&c->c_arena), &old);
	if (rv != 0 && rv != SF_NOT_FOUND) {
		return (sf_status_set(st, rv, "reading the service failed"));
	}
	if ((rv = basis_check(j, rv == 0 ? old : NULL, st)) != 0) {
		return (rv);
	}
	if (j->j_basis == NULL) {
		return (write_create(txn, j, st));
	}
	return (write_update_of(txn, j, old, st));
}

static int
write_delete(sf_store_txn *txn, svc_job *j, sf_status *st)
{
	sf__srv_call *c = j->j_call;
	sf_service   *old;
	sf_store_key  k;
	int           rv;

	key_from_msg(j->j_del->key, &k);
	if (check_key(&k, st) != 0) {
		return (st->st_code);
	}
	rv = sf_store_txn_service_get(
	    txn, &k, sf_arena_pbc(&c->c_arena), &old);
	if (rv == SF_NOT_FOUND) {
		return (not_found(st, &k));
	}
	if (rv != 0) {
		return (sf_status_set(st, rv, "reading the service failed"));
	}
	if ((rv = check_owner(old, &k, st)) != 0) {
		return (rv);
	}
	if (j->j_del->resource_version != 0
	    && j->j_del->resource_version != old->metadata->resource_version
	    && spec_changed_since(old->metadata, j->j_del->resource_version)) {
		return (conflict(
		    txn, st, &k, old->metadata, j->j_del->resource_version));
	}
	j->j_result = old;
	// i18-plan: its addresses are free again (from the delete on, as a
	// FleetService's are).
	if (!old->metadata->deleting
	    && (rv = sf__srv_svc_addrs_claim(txn, &c->c_arena, old, NULL))
	        != 0) {
		return (sf_status_set(st, rv, "giving up the address failed"));
	}
	if (old->metadata->n_finalizers == 0) {
		// No cluster holds it: gone at once.
		if ((rv = sf_store_txn_service_delete(txn, &k)) != 0) {
			return (sf_status_set(
			    st, rv, "deleting the service failed"));
		}
		if ((rv = history_drop(txn, &k, st)) != 0) {
			return (rv);
		}
		j->j_deleted = true;
		j->j_wrote   = true;
		return (0);
	}
	if (old->metadata->deleting) {
		return (0); // already waiting for the clusters
	}
	old->metadata->deleting       = true;
	old->metadata->delete_time_ms = sf_store_txn_now_ms(txn);
	old->metadata->updated_by     = (char *) c->c_ident.id_user;
	spec_stamp(txn, c, old->metadata);
	for (size_t i = 0; i < old->n_status; i++) {
		old->status[i]->state
		    = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DELETING;
	}
	if ((rv = sf_store_txn_service_put(txn, old, false)) != 0) {
		return (sf_status_set(st, rv, "marking for deletion failed"));
	}
	j->j_wrote = true;
	return (0);
}

static int
write_report(sf_store_txn *txn, svc_job *j, sf_status *st)
{
	sf__srv_call                            *c = j->j_call;
	const Svcfleet__V1__ReportStatusRequest *r = j->j_rep;
	sf_arena                                *a = &c->c_arena;
	sf_service                              *svc;
	sf_store_key                             k;
	const char *fin = r->finalizer != NULL && r->finalizer[0] != '\0'
	    ? r->finalizer
	    : FINALIZER_DEFAULT;
	int         rv;

	key_from_msg(r->key, &k);
	if (check_key(&k, st) != 0) {
		return (st->st_code);
	}
	// Fencing (issue 16): a report from anyone but the cluster's current
	// owner is refused. One read of the claims serves a whole batch.
	sf__srv_claims_view  one_cv = {0};
	sf__srv_claims_view *cv     = j->j_cv != NULL ? j->j_cv : &one_cv;
	rv                          = sf__srv_claims_check(
	                             c->c_srv, cv, k.k_cluster, r->claim_token, r->reconciler_id, st);
	sf__srv_claims_view_fini(&one_cv);
	if (rv != 0) {
		return (rv);
	}
	rv = sf_store_txn_service_get(txn, &k, sf_arena_pbc(a), &svc);
	if (rv == SF_NOT_FOUND) {
		return (not_found(st, &k));
	}
	if (rv != 0) {
		return (sf_status_set(st, rv, "reading the service failed"));
	}
	sf_object_meta *m = svc->metadata;
	if (r->status != NULL) {
		Svcfleet__V1__ClusterStatus *ns = r->status;
		if (ns->cluster == NULL || ns->cluster[0] == '\0') {
			ns->cluster = (char *) k.k_cluster;
		}
		if (ns->state == SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
		    && ns->observed_generation < m->generation) {
			ns->state
			    = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_PENDING;
		}
		if (m->deleting
		    && ns->state
		        != SVCFLEET__V1__SYNC_STATE__SYNC_STATE_ERROR) {
			ns->state
			    = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DELETING;
		}
		size_t i;
		for (i = 0; i < svc->n_status; i++) {
			if (strcmp(sf_nz(svc->status[i]->cluster), ns->cluster)
			    == 0) {
				svc->status[i] = ns;
				break;
			}
		}
		if (i == svc->n_status) {
			Svcfleet__V1__ClusterStatus **arr = sf_arena_alloc(
			    a, (svc->n_status + 1) * sizeof(*arr));
			if (arr == NULL) {
				return (sf_status_set(
				    st, SF_RESOURCE_EXHAUSTED, NULL));
			}
			if (svc->n_status > 0) {
				memcpy(arr, svc->status,
				    svc->n_status * sizeof(*arr));
			}
			arr[svc->n_status++] = ns;
			svc->status          = arr;
		}
	}
	size_t have    = m->n_finalizers;
	bool   present = false;
	for (size_t i = 0; i < m->n_finalizers; i++) {
		present = present || strcmp(m->finalizers[i], fin) == 0;
	}
	if (r->add_finalizer && !present && !m->deleting) {
		char **arr = sf_arena_alloc(a, (have + 1) * sizeof(*arr));
		if (arr == NULL) {
			return (
			    sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
		}
		if (have > 0) {
			memcpy(arr, m->finalizers, have * sizeof(*arr));
		}
		arr[have]       = (char *) fin;
		m->finalizers   = arr;
		m->n_finalizers = have + 1;
	}
	if (r->remove_finalizer && present) {
		size_t out = 0;
		for (size_t i = 0; i < m->n_finalizers; i++) {
			if (strcmp(m->finalizers[i], fin) != 0) {
				m->finalizers[out++] = m->finalizers[i];
			}
		}
		m->n_finalizers = out;
	}
	if (m->deleting && m->n_finalizers == 0) {
		if ((rv = sf_store_txn_service_delete(txn, &k)) != 0) {
			return (sf_status_set(st, rv, "deleting failed"));
		}
		if ((rv = history_drop(txn, &k, st)) != 0) {
			return (rv);
		}
		j->j_deleted = true;
		j->j_result  = svc;
		j->j_wrote   = true;
		return (0);
	}
	if ((rv = sf_store_txn_service_put(txn, svc, false)) != 0) {
		return (sf_status_set(st, rv, "storing the status failed"));
	}
	j->j_result = svc;
	j->j_wrote  = true;
	return (0);
}

// s26-ha (issue 13): whether the report of key still fits in the write's store
// transaction (etcd's --max-txn-ops; no bound on LMDB). It may take the
// Service's key, its history record (a report that ends a deletion) and
// each of its node ports' index keys (written again with it), and the
// write adds its request record and audit record after the reports. The
// Service is read here to count its node ports (write_report reads it
// again from the transaction). A report of a malformed key or of a
// Service that is gone fits: it fails alone, writing nothing.
static bool
report_fits(sf_store_txn *txn, svc_job *j, const Svcfleet__V1__ServiceKey *key)
{
	sf__srv_call *c   = j->j_call;
	uint32_t      max = 0, left = sf_store_txn_ops_left(txn, &max), need;
	sf_service   *svc = NULL;
	sf_store_key  k;
	sf_status     kst;

	if (max == 0) {
		return (true);
	}
	if (left < 4) {
		return (false);
	}
	key_from_msg(key, &k);
	sf_status_init(&kst);
	bool bad = check_key(&k, &kst) != 0;
	sf_status_fini(&kst);
	if (bad
	    || sf_store_txn_service_get(
	           txn, &k, sf_arena_pbc(&c->c_arena), &svc)
	        != 0) {
		return (true);
	}
	need = 4;
	for (size_t i = 0; svc->spec != NULL && i < svc->spec->n_ports; i++) {
		need += svc->spec->ports[i]->node_port != 0;
	}
	return (sf_store_txn_ops_left(txn, NULL) >= need);
}

// Many reports in one write: each is applied as ReportStatus applies it; a
// report of a Service that is gone or malformed fails alone (it writes
// nothing before failing), anything else fails the whole request. On etcd
// the reports that no longer fit in the one transaction (--max-txn-ops)
// are not applied and answer UNAVAILABLE, to be sent again: a reconciler
// that took a cluster over reports every Service of it at once, and a
// batch refused whole every time would hold back the removal of the
// finalizers of deleted Services for as long as the burst lasts (s26-ha,
// issue 13: ha_test's deleted Services stayed deleting for 20 s).
static int
write_reports(sf_store_txn *txn, svc_job *j, sf_status *st)
{
	sf__srv_call       *c  = j->j_call;
	sf__srv_claims_view cv = {0};

	for (size_t i = 0; i < j->j_reps->n_reports; i++) {
		Svcfleet__V1__ReportStatusResult *res = j->j_results[i];
		svc_job                           one = *j;
		int                               rv;

		if (i > 0
		    && !report_fits(txn, j, j->j_reps->reports[i]->key)) {
			uint32_t max = 0;
			sf_store_txn_ops_left(txn, &max);
			char *msg = sf_arena_printf(&c->c_arena,
			    "not applied: the store's transaction is full "
			    "after "
			    "%zu of %zu reports (etcd --max-txn-ops %" PRIu32
			    "); report it again",
			    i, j->j_reps->n_reports, max);
			for (size_t k = i; k < j->j_reps->n_reports; k++) {
				j->j_results[k]->code = SF_UNAVAILABLE;
				j->j_results[k]->message
				    = msg != NULL ? msg : "";
			}
			break;
		}

		one.j_kind    = JOB_REPORT;
		one.j_rep     = j->j_reps->reports[i];
		one.j_result  = NULL;
		one.j_deleted = false;
		one.j_cv      = &cv;
		sf_status_reset(st);
		rv = write_report(txn, &one, st);
		// A stale claim fails its report alone (issue 16).
		if (rv != 0 && rv != SF_NOT_FOUND && rv != SF_INVALID_ARGUMENT
		    && rv != SF_FAILED_PRECONDITION) {
			sf__srv_claims_view_fini(&cv);
			return (rv);
		}
		res->code = rv;
		res->message
		    = rv != 0 ? sf_arena_strdup(&c->c_arena, st->st_msg) : "";
		res->resource_version = one.j_result != NULL
		    ? one.j_result->metadata->resource_version
		    : 0;
		res->deleted          = one.j_deleted;
		j->j_wrote            = j->j_wrote || one.j_wrote;
	}
	sf__srv_claims_view_fini(&cv);
	sf_status_reset(st);
	return (0);
}

// Rollback: a new generation whose spec is an old one's, written as an
// update of the stored object (the same checks: node ports, validation,
// deletion, the resource_version precondition). The new object was made
// and validated before the job was queued (pre_rollback).
static int
write_rollback(sf_store_txn *txn, svc_job *j, sf_status *st)
{
	sf__srv_call *c = j->j_call;
	sf_service   *old;
	sf_store_key  k;
	int           rv;

	key_from_msg(j->j_rb->key, &k);
	rv = sf_store_txn_service_get(
	    txn, &k, sf_arena_pbc(&c->c_arena), &old);
	if (rv == SF_NOT_FOUND) {
		return (not_found(st, &k));
	}
	if (rv != 0) {
		return (sf_status_set(st, rv, "reading the service failed"));
	}
	if ((rv = basis_check(j, old, st)) != 0) {
		return (rv);
	}
	return (write_update_of(txn, j, old, st));
}

// pre_keep copies the refusal in st into j (the call's arena); false
// when out of memory.
static bool
pre_keep(svc_job *j, const sf_status *st)
{
	sf__srv_call *c = j->j_call;

	j->j_pre_code  = st->st_code;
	j->j_pre_more  = st->st_more;
	j->j_pre_nviol = st->st_nviol;
	if ((j->j_pre_msg = sf_arena_strdup(&c->c_arena, st->st_msg)) == NULL
	    || (j->j_pre_viol = sf_arena_alloc(
	            &c->c_arena, (st->st_nviol + 1) * sizeof(sf_violation)))
	        == NULL) {
		return (false);
	}
	for (size_t i = 0; i < st->st_nviol; i++) {
		sf_violation *v = &j->j_pre_viol[i];
		v->v_type       = st->st_viol[i].v_type;
		v->v_field
		    = sf_arena_strdup(&c->c_arena, st->st_viol[i].v_field);
		v->v_reason
		    = sf_arena_strdup(&c->c_arena, st->st_viol[i].v_reason);
		if (v->v_field == NULL || v->v_reason == NULL) {
			return (false);
		}
	}
	return (true);
}

// pre_restore puts the refusal kept by pre_keep into st; returns its code.
static int
pre_restore(const svc_job *j, sf_status *st)
{
	sf_status_reset(st);
	for (size_t i = 0; i < j->j_pre_nviol; i++) {
		const sf_violation *v = &j->j_pre_viol[i];
		sf_status_violation(
		    st, v->v_type, v->v_field, "%s", v->v_reason);
	}
	st->st_more += j->j_pre_more;
	return (sf_status_set(st, j->j_pre_code, "%s", j->j_pre_msg));
}

static int
job_write(sf_store_txn *txn, void *arg, sf_status *st)
{
	svc_job *j = arg;

	if (j->j_pre_failed) {
		// Refused by its validation (prevalidate): only recorded.
		return (pre_restore(j, st));
	}
	// A retried batch runs this again: start from a clean slate.
	sf_status_reset(st);
	j->j_stale              = false;
	j->j_call->c_revalidate = false;
	j->j_result             = NULL;
	j->j_deleted            = false;
	j->j_wrote              = false;
	if (sf__srv_call_expired(j->j_call)) {
		return (sf_status_set(st, SF_DEADLINE_EXCEEDED,
		    "the deadline passed while the write waited its turn; "
		    "nothing was written"));
	}
	if (j->j_svc_packed != NULL) {
		j->j_svc = svcfleet__v1__service__unpack(
		    sf_arena_pbc(&j->j_call->c_arena), j->j_svc_len,
		    j->j_svc_packed);
		if (j->j_svc == NULL) {
			return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
			    "out of memory copying the request"));
		}
	}
	switch (j->j_kind) {
	case JOB_CREATE:
		return (write_create(txn, j, st));
	case JOB_UPDATE:
		return (write_update(txn, j, st));
	case JOB_APPLY:
		return (write_apply(txn, j, st));
	case JOB_DELETE:
		return (write_delete(txn, j, st));
	case JOB_REPORT:
		return (write_report(txn, j, st));
	case JOB_REPORTS:
		return (write_reports(txn, j, st));
	case JOB_ROLLBACK:
		return (write_rollback(txn, j, st));
	}
	return (sf_status_set(st, SF_INTERNAL, "unknown job"));
}

// The reply of a finished write job: what its kind answers. NULL: out
// of memory, and the call has been answered so.
static const ProtobufCMessage *
job_reply(svc_job *j)
{
	static const ProtobufCMessageDescriptor *const desc[] = {
	    [JOB_APPLY]   = &svcfleet__v1__apply_service_reply__descriptor,
	    [JOB_DELETE]  = &svcfleet__v1__delete_service_reply__descriptor,
	    [JOB_REPORT]  = &svcfleet__v1__report_status_reply__descriptor,
	    [JOB_REPORTS] = &svcfleet__v1__report_statuses_reply__descriptor,
	};
	ProtobufCMessage *m;

	if (j->j_kind == JOB_CREATE || j->j_kind == JOB_UPDATE
	    || j->j_kind == JOB_ROLLBACK) {
		return (&j->j_result->base); // the Service itself
	}
	if ((m = sf__srv_reply_new(j->j_call, desc[j->j_kind])) == NULL) {
		return (NULL);
	}
	switch (j->j_kind) {
	case JOB_APPLY: {
		Svcfleet__V1__ApplyServiceReply *r = (void *) m;
		r->service                         = j->j_result;
		r->action                          = j->j_action;
		break;
	}
	case JOB_DELETE: {
		Svcfleet__V1__DeleteServiceReply *r = (void *) m;
		r->service                          = j->j_result;
		r->deleted                          = j->j_deleted;
		break;
	}
	case JOB_REPORT: {
		Svcfleet__V1__ReportStatusReply *r = (void *) m;
		r->resource_version                = j->j_result != NULL
		                   ? j->j_result->metadata->resource_version
		                   : 0;
		r->deleted                         = j->j_deleted;
		break;
	}
	case JOB_REPORTS: {
		Svcfleet__V1__ReportStatusesReply *r = (void *) m;
		r->results                           = j->j_results;
		r->n_results                         = j->j_reps->n_reports;
		break;
	}
	}
	return (m);
}

static void revalidate(void *arg);
// i19-ssd: the dry-run apply's reply goes out once the cluster has
// answered its own dry run of it (server/live.c).
static void
server_side_start(svc_job *j, const ProtobufCMessage *reply)
{
	sf__srv_call                    *c = j->j_call;
	Svcfleet__V1__ApplyServiceReply *r = (void *) reply;
	sf__srv_dryrun_item             *it;
	Svcfleet__V1__ServerDryRun      *out;

	if (r->service == NULL || r->service->metadata == NULL) {
		sf__srv_write_done(c, 0, reply);
		return;
	}
	if ((it = sf__srv_call_alloc(c, sizeof(*it))) == NULL
	    || (out = sf__srv_call_alloc(c, sizeof(*out))) == NULL
	    || (r->server_dry_runs = sf__srv_call_alloc(c, sizeof(out)))
	        == NULL) {
		return;
	}
	svcfleet__v1__server_dry_run__init(out);
	out->cluster          = r->service->metadata->cluster;
	out->namespace_       = r->service->metadata->namespace_;
	out->name             = r->service->metadata->name;
	it->di_cluster        = sf_nz(r->service->metadata->cluster);
	it->di_svc            = r->service;
	it->di_out            = out;
	r->server_dry_runs[0] = out;
	r->n_server_dry_runs  = 1;
	sf__srv_live_dryrun_start(c, reply, it, 1);
}

static void
job_done(void *arg, int code, uint64_t revision)
{
	svc_job                *j = arg;
	const ProtobufCMessage *reply;

	(void) revision;
	if (code != 0 && j->j_stale) {
		// What its validation read changed: validated again, on a
		// worker (issue 17: never on the writer).
		j->j_revalidations++;
		sf__srv_call_defer(j->j_call, revalidate, j);
		return;
	}
	if (code != 0) {
		sf__srv_write_done(j->j_call, code, NULL);
		return;
	}
	if ((reply = job_reply(j)) != NULL) {
		if (j->j_server_side) {
			server_side_start(j, reply);
			return;
		}
		sf__srv_write_done(j->j_call, 0, reply);
	}
}

// ------------------------------------------------------------ validation

// pre_limits reads the cluster's record as it is now (a snapshot, off
// the writer; on etcd from the view, without a round trip) into *lim, and
// keeps what was read for limits_check, which compares it on the writer.
static int
pre_limits(
    svc_job *j, const char *cluster, sf_model_limits *lim, sf_status *st)
{
	sf__srv_call          *c  = j->j_call;
	Svcfleet__V1__Cluster *cl = NULL;
	int                    rv = SF_NOT_FOUND;

	if (cluster[0] != '\0'
	    && sf_model_check_dns1123_label(cluster) == NULL) {
		rv = sf_store_cluster_spec_get(c->c_srv->s_store, cluster,
		    sf_arena_pbc(&c->c_arena), &cl);
	}
	if (rv != 0 && rv != SF_NOT_FOUND) {
		return (sf_status_set(
		    st, rv, "reading cluster \"%s\" failed", cluster));
	}
	if (rv == SF_NOT_FOUND) {
		cl = NULL;
	}
	limits_of(cl, lim);
	j->j_cl_basis = sf__srv_cluster_basis(
	    cl, false, &c->c_arena, &j->j_cl_basis_len);
	if (cl != NULL && j->j_cl_basis == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	return (0);
}

// pre_service: j's Service (create, update, apply) from the request,
// validated; for an update (or the apply of a stored Service) against the
// stored object as read now, which becomes the basis the writer checks.
static int
pre_service(svc_job *j, sf_status *st)
{
	sf__srv_call   *c = j->j_call;
	sf_arena       *a = &c->c_arena;
	sf_model_limits lim;
	sf_service     *svc, *old = NULL;
	sf_store_key    k;
	int             rv;

	svc = svcfleet__v1__service__unpack(
	    sf_arena_pbc(a), j->j_req_len, j->j_req_packed);
	if ((j->j_svc = svc) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
		    "out of memory copying the request"));
	}
	key_of(svc, &k);
	if ((rv = pre_limits(j, k.k_cluster, &lim, st)) != 0) {
		return (rv);
	}
	if (j->j_kind == JOB_UPDATE && check_key(&k, st) != 0) {
		return (st->st_code);
	}
	if (j->j_kind != JOB_CREATE) {
		rv = sf_store_service_get(
		    c->c_srv->s_store, &k, sf_arena_pbc(a), &old);
		if (rv == SF_NOT_FOUND || rv == SF_INVALID_ARGUMENT) {
			old = NULL; // a bad key: refused as a create below
		} else if (rv != 0) {
			return (sf_status_set(
			    st, rv, "reading the service failed"));
		}
	}
	if (old == NULL && j->j_kind == JOB_UPDATE) {
		return (0); // the writer says it is not found
	}
	if (old != NULL) {
		if ((j->j_basis = basis_of(old, a, &j->j_basis_len)) == NULL) {
			return (
			    sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
		}
		if (sf_model_service_prepare_update(old, svc, &lim, a, st) != 0
		    || st->st_nviol > 0) {
			return (invalid(st, &k));
		}
		return (0);
	}
	if (svc->metadata->resource_version != 0) {
		sf_status_violation(st, SF_V_INVALID,
		    "metadata.resourceVersion",
		    "Invalid value: \"%llu\": resourceVersion should not be "
		    "set on objects to be created",
		    (unsigned long long) svc->metadata->resource_version);
	}
	sf_model_service_validate(svc, &lim, st);
	if (st->st_nviol > 0) {
		return (invalid(st, &k));
	}
	return (0);
}

// pre_rollback: the object a rollback writes (the stored one with a kept
// generation's spec), validated as an update of the stored one.
static int
pre_rollback(svc_job *j, sf_status *st)
{
	sf__srv_call                               *c  = j->j_call;
	sf_arena                                   *a  = &c->c_arena;
	const Svcfleet__V1__RollbackServiceRequest *rb = j->j_rb;
	Svcfleet__V1__ServiceHistory               *h  = NULL;
	Svcfleet__V1__HistoryEntry                 *e  = NULL;
	ProtobufCMessage                           *m  = NULL;
	sf_model_limits                             lim;
	sf_service                                 *old, *nw;
	sf_store_key                                k;
	char                                        id[24];
	uint8_t                                    *buf;
	size_t                                      len;
	int                                         rv;

	key_from_msg(rb->key, &k);
	if (check_key(&k, st) != 0) {
		return (st->st_code);
	}
	if ((rv = pre_limits(j, k.k_cluster, &lim, st)) != 0) {
		return (rv);
	}
	rv = sf_store_service_get(
	    c->c_srv->s_store, &k, sf_arena_pbc(a), &old);
	if (rv == SF_NOT_FOUND) {
		return (not_found(st, &k));
	}
	if (rv != 0) {
		return (sf_status_set(st, rv, "reading the service failed"));
	}
	history_id(&k, id);
	rv = sf_store_record_get(c->c_srv->s_store, SF_STORE_HISTORY, id,
	    &svcfleet__v1__service_history__descriptor, sf_arena_pbc(a), &m);
	if (rv != 0 && rv != SF_NOT_FOUND) {
		return (sf_status_set(st, rv, "reading the history failed"));
	}
	if (rv == 0 && history_is_of((void *) m, &k)) {
		h = (void *) m;
	}
	for (size_t i = 0; h != NULL && i < h->n_entries; i++) {
		if (h->entries[i]->generation == rb->to_generation) {
			e = h->entries[i];
		}
	}
	if (e == NULL || e->spec == NULL) {
		if (h == NULL || h->n_entries == 0) {
			return (sf_status_set(st, SF_NOT_FOUND,
			    "generation %lld of service \"%s\" is not kept: "
			    "it has no history",
			    (long long) rb->to_generation, k.k_name));
		}
		return (sf_status_set(st, SF_NOT_FOUND,
		    "generation %lld of service \"%s\" is not kept (kept: "
		    "%lld to %lld; see `svcfleet history`)",
		    (long long) rb->to_generation, k.k_name,
		    (long long) h->entries[0]->generation,
		    (long long) h->entries[h->n_entries - 1]->generation));
	}
	if ((j->j_basis = basis_of(old, a, &j->j_basis_len)) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	// The stored object again, as the new one, with the old spec.
	len = svcfleet__v1__service__get_packed_size(old);
	if ((buf = sf_arena_alloc(a, len + 1)) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	svcfleet__v1__service__pack(old, buf);
	if ((nw = svcfleet__v1__service__unpack(sf_arena_pbc(a), len, buf))
	    == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	nw->spec                       = e->spec;
	nw->metadata->resource_version = rb->resource_version;
	j->j_svc                       = nw;
	j->j_hist_action               = "rollback";
	j->j_rollback_of               = e->generation;
	if (sf_model_service_prepare_update(old, nw, &lim, a, st) != 0
	    || st->st_nviol > 0) {
		return (invalid(st, &k));
	}
	return (0);
}

// prevalidate validates j's Service (issue 17, finding 3) where the call
// is served (nng's callback thread for a small request, a worker, the bulk
// thread for a large one), never on the store's writer, then queues the
// write. The writer is left what needs the stored state: the node-port
// index, the resource version, the owner, and the check that the stored
// object and the cluster's record (nodePort range, MetalLB pools) are
// still those validated against (basis_check, limits_check), all bounded
// and without validation. A refused request is queued too, to record the
// refusal.
static void
prevalidate(svc_job *j)
{
	sf__srv_call *c  = j->j_call;
	sf_status    *st = &c->c_status;
	int           rv;

	sf_status_reset(st);
	c->c_revalidate   = false;
	j->j_stale        = false;
	j->j_pre_failed   = false;
	j->j_basis        = NULL;
	j->j_basis_len    = 0;
	j->j_cl_basis     = NULL;
	j->j_cl_basis_len = 0;
	j->j_svc          = NULL;
	if (sf__srv_call_expired(c)) {
		sf__srv_call_fail(c, SF_DEADLINE_EXCEEDED,
		    "the deadline passed before the request was validated; "
		    "nothing was written");
		return;
	}
	rv = j->j_kind == JOB_ROLLBACK ? pre_rollback(j, st)
	                               : pre_service(j, st);
	if (rv != 0) {
		j->j_pre_failed = true;
		if (!pre_keep(j, st)) {
			sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
			return;
		}
	} else if (j->j_svc != NULL) {
		// What the writer writes: the object as validated.
		size_t len = svcfleet__v1__service__get_packed_size(j->j_svc);
		uint8_t *packed;
		if ((packed = sf__srv_call_alloc(c, len + 1)) == NULL) {
			return;
		}
		svcfleet__v1__service__pack(j->j_svc, packed);
		j->j_svc_len    = len;
		j->j_svc_packed = packed;
	}
	// Validation is the long part of a write: the deadline again.
	if (sf__srv_call_expired(c)) {
		sf__srv_call_fail(c, SF_DEADLINE_EXCEEDED,
		    "the deadline passed while the request was validated; "
		    "nothing was written");
		return;
	}
	// (etcd-perf: Service writes run side by side; a rollback, as
	// before, alone.)
	c->c_write_concurrent = j->j_kind != JOB_ROLLBACK;
	sf__srv_call_write(c, job_write, job_done, j, j->j_dry_run);
}

static void
revalidate(void *arg)
{
	prevalidate(arg);
}

// Starts a write job of kind for call c. svc (create, update, apply) gets
// the form's defaults first and is validated (prevalidate); del and rep
// carry the other kinds' requests.
static void
start_job_ss(sf__srv_call *c, int kind, Svcfleet__V1__Service *svc,
    const Svcfleet__V1__DeleteServiceRequest *del,
    const Svcfleet__V1__ReportStatusRequest *rep, bool dry_run,
    bool server_side)
{
	svc_job *j = sf__srv_call_alloc(c, sizeof(*j));

	if (j == NULL) {
		return;
	}
	j->j_call        = c;
	j->j_kind        = kind;
	j->j_del         = del;
	j->j_rep         = rep;
	j->j_dry_run     = dry_run;
	j->j_server_side = server_side;
	if (kind == JOB_CREATE || kind == JOB_UPDATE || kind == JOB_APPLY) {
		if (svc == NULL) {
			sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
			    "the request carries no service");
			return;
		}
		if (sf_model_service_defaults(svc, &c->c_arena) != 0) {
			sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
			return;
		}
		size_t   len = svcfleet__v1__service__get_packed_size(svc);
		uint8_t *packed;
		// (A failed allocation has answered the call: nothing in its
		// arena may be touched after.)
		if ((packed = sf__srv_call_alloc(c, len + 1)) == NULL) {
			return;
		}
		svcfleet__v1__service__pack(svc, packed);
		j->j_req_len    = len;
		j->j_req_packed = packed;
		prevalidate(j);
		return;
	}
	// Reports read the claims and stay exclusive; the other kinds touch
	// only the store (through txn), j and its call: etcd may run them
	// side by side (etcd-perf).
	c->c_write_concurrent = kind != JOB_REPORT && kind != JOB_REPORTS;
	sf__srv_call_write(c, job_write, job_done, j, dry_run);
}

static void
start_job(sf__srv_call *c, int kind, Svcfleet__V1__Service *svc,
    const Svcfleet__V1__DeleteServiceRequest *del,
    const Svcfleet__V1__ReportStatusRequest *rep, bool dry_run)
{
	start_job_ss(c, kind, svc, del, rep, dry_run, false);
}

// --------------------------------------------------------------- handlers

// The write handlers only say which job they start; the closure is the
// call's own (sf__srv_call_finish), so it is not used here.
#define WRITE_HANDLER(name, Req, Closure, kind, svc, del, rep, dry)         \
	static void h_##name(Svcfleet__V1__ServiceManager_Service *s,       \
	    const Req *in, Closure closure, void *data)                     \
	{                                                                   \
		(void) s;                                                   \
		(void) closure;                                             \
		start_job(sf__srv_call_of(data), kind, svc, del, rep, dry); \
	}

WRITE_HANDLER(create_service, Svcfleet__V1__CreateServiceRequest,
    Svcfleet__V1__Service_Closure, JOB_CREATE, in->service, NULL, NULL,
    in->dry_run)
WRITE_HANDLER(update_service, Svcfleet__V1__UpdateServiceRequest,
    Svcfleet__V1__Service_Closure, JOB_UPDATE, in->service, NULL, NULL,
    in->dry_run)
// ApplyService; with server_side (i19-ssd, a dry run only) the caller
// must also be allowed to read the Service: the cluster's object comes
// back in the reply.
static void
h_apply_service(Svcfleet__V1__ServiceManager_Service *s,
    const Svcfleet__V1__ApplyServiceRequest          *in,
    Svcfleet__V1__ApplyServiceReply_Closure closure, void *data)
{
	sf__srv_call *c = sf__srv_call_of(data);
	(void) s;
	(void) closure;
	if (in->server_side) {
		const sf_object_meta *m
		    = in->service != NULL ? in->service->metadata : NULL;
		if (!in->dry_run) {
			sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
			    "server_side: only with dry_run (a dry run "
			    "asked of the cluster's API server)");
			return;
		}
		if (m != NULL && m->cluster != NULL && m->cluster[0] != '\0'
		    && !sf_rbac_allowed(&c->c_ident.id_p, "services", "get",
		        sf_nz(m->cluster), sf_nz(m->namespace_),
		        &c->c_status)) {
			sf__srv_call_deny(c);
			return;
		}
	}
	start_job_ss(c, JOB_APPLY, in->service, NULL, NULL, in->dry_run,
	    in->server_side);
}
WRITE_HANDLER(delete_service, Svcfleet__V1__DeleteServiceRequest,
    Svcfleet__V1__DeleteServiceReply_Closure, JOB_DELETE, NULL, in, NULL,
    false)
WRITE_HANDLER(report_status, Svcfleet__V1__ReportStatusRequest,
    Svcfleet__V1__ReportStatusReply_Closure, JOB_REPORT, NULL, NULL, in, false)

static void
h_report_statuses(Svcfleet__V1__ServiceManager_Service *s,
    const Svcfleet__V1__ReportStatusesRequest          *in,
    Svcfleet__V1__ReportStatusesReply_Closure closure, void *data)
{
	sf__srv_call                      *c = sf__srv_call_of(data);
	svc_job                           *j;
	Svcfleet__V1__ReportStatusResult **res;
	size_t                             n = in->n_reports;
	(void) s;
	(void) closure;

	if (n > REPORTS_MAX) {
		sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
		    "%zu reports in one request; at most %d", n, REPORTS_MAX);
		return;
	}
	if ((j = sf__srv_call_alloc(c, sizeof(*j))) == NULL
	    || (res = sf__srv_call_alloc(c, (n + 1) * sizeof(*res))) == NULL) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		// (Out of memory the call is answered: its arena, res too, is
		// not to be touched again.)
		Svcfleet__V1__ReportStatusResult *one = sf__srv_reply_new(
		    c, &svcfleet__v1__report_status_result__descriptor);
		if (one == NULL) {
			return;
		}
		res[i] = one;
	}
	j->j_call    = c;
	j->j_kind    = JOB_REPORTS;
	j->j_reps    = in;
	j->j_results = res;
	sf__srv_call_write(c, job_write, job_done, j, false);
}

// i19: RollbackService and GetServiceHistory.
static void
h_rollback_service(Svcfleet__V1__ServiceManager_Service *s,
    const Svcfleet__V1__RollbackServiceRequest          *in,
    Svcfleet__V1__Service_Closure closure, void *data)
{
	sf__srv_call *c = sf__srv_call_of(data);
	svc_job      *j;
	(void) s;
	(void) closure;

	if (in->to_generation <= 0) {
		sf_status_violation(&c->c_status, SF_V_INVALID, "toGeneration",
		    "Invalid value: %lld: must be a generation (1 or more)",
		    (long long) in->to_generation);
		sf_status_set(&c->c_status, SF_INVALID_ARGUMENT,
		    "rollback needs the generation to go back to");
		sf__srv_call_finish(c, NULL);
		return;
	}
	if ((j = sf__srv_call_alloc(c, sizeof(*j))) == NULL) {
		return;
	}
	j->j_call    = c;
	j->j_kind    = JOB_ROLLBACK;
	j->j_rb      = in;
	j->j_dry_run = in->dry_run;
	prevalidate(j);
}

static void
h_get_service_history(Svcfleet__V1__ServiceManager_Service *s,
    const Svcfleet__V1__GetServiceHistoryRequest           *in,
    Svcfleet__V1__ServiceHistory_Closure closure, void *data)
{
	sf__srv_call                 *c = sf__srv_call_of(data);
	sf_arena                     *a = &c->c_arena;
	Svcfleet__V1__ServiceHistory *h = NULL;
	ProtobufCMessage             *m = NULL;
	sf_service                   *svc;
	sf_store_key                  k;
	char                          id[24];
	int                           rv;
	(void) s;

	key_from_msg(in->key, &k);
	if (check_key(&k, &c->c_status) != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	rv = sf_store_service_get(
	    c->c_srv->s_store, &k, sf_arena_pbc(a), &svc);
	if (rv == SF_NOT_FOUND) {
		not_found(&c->c_status, &k);
		sf__srv_call_finish(c, NULL);
		return;
	}
	if (rv != 0) {
		sf__srv_call_fail(c, rv, "reading the service failed");
		return;
	}
	history_id(&k, id);
	rv = sf_store_record_get(c->c_srv->s_store, SF_STORE_HISTORY, id,
	    &svcfleet__v1__service_history__descriptor, sf_arena_pbc(a), &m);
	if (rv != 0 && rv != SF_NOT_FOUND) {
		sf__srv_call_fail(c, rv, "reading the history failed");
		return;
	}
	if (rv == 0 && history_is_of((void *) m, &k)) {
		h = (void *) m;
	} else {
		if ((h = sf__srv_reply_new(
		         c, &svcfleet__v1__service_history__descriptor))
		    == NULL) {
			return;
		}
		h->key = in->key;
	}
	h->keep = history_keep(c);
	if (in->generation != 0) {
		size_t out = 0;
		for (size_t i = 0; i < h->n_entries; i++) {
			if (h->entries[i]->generation == in->generation) {
				h->entries[out++] = h->entries[i];
			}
		}
		h->n_entries = out;
		if (out == 0) {
			sf__srv_call_fail(c, SF_NOT_FOUND,
			    "generation %lld of service \"%s\" is not kept "
			    "(see `svcfleet history`)",
			    (long long) in->generation, k.k_name);
			return;
		}
	}
	closure(h, data);
}

// i19: ReportDrift — the reconciler found (and healed) a drift: it becomes
// an audit event (the call's, with the drift attached) after checking the
// Service exists; nothing else is written.
#define DRIFT_FIELDS_MAX   32
#define DRIFT_MANAGERS_MAX 8
#define DRIFT_VALUE_MAX    256

static int
write_drift(sf_store_txn *txn, void *arg, sf_status *st)
{
	svc_job      *j = arg;
	sf__srv_call *c = j->j_call;
	sf_service   *svc;
	sf_store_key  k;
	int           rv;

	sf_status_reset(st);
	key_from_msg(c->c_drift->key, &k);
	if (check_key(&k, st) != 0) {
		return (st->st_code);
	}
	rv = sf_store_txn_service_get(
	    txn, &k, sf_arena_pbc(&c->c_arena), &svc);
	if (rv == SF_NOT_FOUND) {
		return (not_found(st, &k));
	}
	if (rv != 0) {
		return (sf_status_set(st, rv, "reading the service failed"));
	}
	return (0);
}

static void
drift_done(void *arg, int code, uint64_t revision)
{
	svc_job *j = arg;
	(void) revision;
	sf__srv_write_done(j->j_call, code, NULL);
}

static void
h_report_drift(Svcfleet__V1__ServiceManager_Service *s,
    const Svcfleet__V1__ReportDriftRequest          *in,
    Svcfleet__V1__Empty_Closure closure, void *data)
{
	sf__srv_call *c = sf__srv_call_of(data);
	svc_job      *j;
	(void) s;
	(void) closure;

	if (in->n_fields > DRIFT_FIELDS_MAX
	    || in->n_managers > DRIFT_MANAGERS_MAX) {
		sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
		    "a drift report carries at most %d fields and %d managers",
		    DRIFT_FIELDS_MAX, DRIFT_MANAGERS_MAX);
		return;
	}
	for (size_t i = 0; i < in->n_fields; i++) {
		const Svcfleet__V1__DriftField *f = in->fields[i];
		if (strlen(sf_nz(f->path)) > 1024
		    || strlen(sf_nz(f->old_value)) > DRIFT_VALUE_MAX
		    || strlen(sf_nz(f->new_value)) > DRIFT_VALUE_MAX) {
			sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
			    "fields[%zu]: a path is at most 1024 bytes, a "
			    "value at most %d",
			    i, DRIFT_VALUE_MAX);
			return;
		}
	}
	if ((j = sf__srv_call_alloc(c, sizeof(*j))) == NULL) {
		return;
	}
	j->j_call  = c;
	c->c_drift = in;
	sf__srv_call_write(c, write_drift, drift_done, j, false);
}

// ------------------------------------------------------ honest status

// Honest status (DESIGN §11): while the reconciler reports a cluster
// unreachable (or refusing its credentials), nothing it last confirmed
// there may still be true, so the Services of that cluster read UNKNOWN,
// keeping last_sync_time_ms: the time of the last confirmation. Reads of
// the reconciler itself see the stored state, which its status hashes are
// made of.
static bool
cluster_down(const Svcfleet__V1__Cluster *cl)
{
	return (cl != NULL && cl->health != NULL
	    && (cl->health->state
	            == SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNREACHABLE
	        || cl->health->state
	            == SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED));
}

static bool
caller_is_reconciler(const sf__srv_call *c)
{
	for (size_t i = 0; i < c->c_ident.id_nbindings; i++) {
		if (strcmp(
		        sf_nz(c->c_ident.id_bindings[i]->role), "reconciler")
		    == 0) {
			return (true);
		}
	}
	return (false);
}

static void
status_overlay(sf_service *svc, Svcfleet__V1__Cluster *const *cl, size_t n)
{
	for (size_t i = 0; i < svc->n_status; i++) {
		Svcfleet__V1__ClusterStatus *cs = svc->status[i];
		if (cs->state != SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
		    && cs->state
		        != SVCFLEET__V1__SYNC_STATE__SYNC_STATE_WAITING_ADDRESS) {
			continue; // nothing confirmed to doubt (an ERROR says
			          // so)
		}
		for (size_t k = 0; k < n; k++) {
			if (strcmp(sf_nz(cl[k]->name), sf_nz(cs->cluster)) == 0
			    && cluster_down(cl[k])) {
				cs->state
				    = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_UNKNOWN;
				cs->message = cl[k]->health->message != NULL
				        && cl[k]->health->message[0] != '\0'
				    ? cl[k]->health->message
				    : "the cluster is unreachable";
				break;
			}
		}
	}
}

// Overlays a list of Services read by c; clusters are few, read once.
static void
status_overlay_all(sf__srv_call *c, sf_service *const *svcs, size_t n)
{
	Svcfleet__V1__Cluster **cl  = NULL;
	size_t                  ncl = 0;

	// i15-perf: a caller that named its revision gets the clusters'
	// health from the view too (no credentials are needed here).
	if (n == 0 || caller_is_reconciler(c)
	    || sf_store_cluster_specs_min(c->c_srv->s_store,
	           sf__srv_call_min_revision(c), sf_arena_pbc(&c->c_arena),
	           &cl, &ncl)
	        != 0) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		status_overlay(svcs[i], cl, ncl);
	}
}

static void
h_get_service(Svcfleet__V1__ServiceManager_Service *s,
    const Svcfleet__V1__GetServiceRequest          *in,
    Svcfleet__V1__Service_Closure closure, void *data)
{
	sf__srv_call *c = sf__srv_call_of(data);
	sf_service   *svc;
	sf_store_key  k;
	int           rv;
	(void) s;

	key_from_msg(in->key, &k);
	if (check_key(&k, &c->c_status) != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	// i15-perf: a caller that names the revision it has seen may be
	// answered from the replica's watch-fed view (DESIGN §9).
	rv = sf_store_service_get_min(c->c_srv->s_store, &k,
	    sf__srv_call_min_revision(c), sf_arena_pbc(&c->c_arena), &svc,
	    &c->c_revision);
	if (rv == SF_NOT_FOUND) {
		not_found(&c->c_status, &k);
		sf__srv_call_finish(c, NULL);
		return;
	}
	if (rv != 0) {
		sf__srv_call_fail(c, rv, "reading the service failed");
		return;
	}
	sf__srv_claims_decorate_services(c, &svc, 1);
	status_overlay_all(c, &svc, 1);
	closure(svc, data);
}

typedef struct list_filter {
	sf_selector  *sel;
	sf__srv_call *call;
} list_filter;

static bool
list_obj_ok(void *arg, const Svcfleet__V1__Service *svc)
{
	list_filter *f = arg;
	return (sf_selector_matches(
	    f->sel, svc->metadata->labels, svc->metadata->n_labels));
}

// A list across namespaces or clusters returns only what the caller may
// read; the store skips the rest by key, before decoding.
static bool
list_key_ok(void *arg, const char *cluster, const char *ns)
{
	list_filter *f = arg;
	return (
	    sf__srv_call_allowed(f->call, "services", "list", cluster, ns));
}

static void
h_list_services(Svcfleet__V1__ServiceManager_Service *s,
    const Svcfleet__V1__ListServicesRequest          *in,
    Svcfleet__V1__ListServicesReply_Closure closure, void *data)
{
	sf__srv_call     *c = sf__srv_call_of(data);
	list_filter       f = {NULL, c};
	sf_store_list_res res;
	int               rv;
	(void) s;

	if (in->label_selector != NULL && in->label_selector[0] != '\0'
	    && sf_selector_parse(in->label_selector, &f.sel, &c->c_status)
	        != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	// Page tokens are sealed (issue 17, finding 14): what the store's
	// token holds (the last key examined) may be a Service the caller
	// may not read.
	char *plain_token = "";
	if (in->page_token != NULL
	    && sf__srv_page_token_open(c, in->page_token, &plain_token) != 0) {
		sf_selector_free(f.sel);
		sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
		    "invalid page token (page tokens come from a previous "
		    "ListServices reply with the same filters)");
		return;
	}
	sf_store_list_req req = {
	    .lr_cluster    = in->cluster,
	    .lr_namespace  = in->namespace_,
	    .lr_limit      = in->page_size == 0      ? LIST_PAGE_DEFAULT
	             : in->page_size > LIST_PAGE_MAX ? LIST_PAGE_MAX
	                                             : in->page_size,
	    .lr_page_token = plain_token,
	    .lr_filter = {list_key_ok, f.sel != NULL ? list_obj_ok : NULL, &f},
	    .lr_min_revision = sf__srv_call_min_revision(c), // i15-perf
	};
	memset(&res, 0, sizeof(res));
	rv = sf_store_service_list(c->c_srv->s_store, &req,
	    sf_arena_pbc(&c->c_arena), &res, &c->c_status);
	sf_selector_free(f.sel);
	if (rv != 0) {
		if (c->c_status.st_code == 0) {
			sf_status_set(&c->c_status, rv, "listing failed");
		}
		sf__srv_call_finish(c, NULL);
		return;
	}
	Svcfleet__V1__ListServicesReply *r = sf__srv_reply_new(
	    c, &svcfleet__v1__list_services_reply__descriptor);
	if (r == NULL) {
		return;
	}
	status_overlay_all(c, res.lr_items, res.lr_n);
	r->services   = res.lr_items;
	r->n_services = res.lr_n;
	sf__srv_claims_decorate_services(c, r->services, r->n_services);
	r->next_page_token = sf__srv_page_token_seal(
	    c, res.lr_next_token != NULL ? res.lr_next_token : "");
	if (r->next_page_token == NULL) {
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	r->revision   = res.lr_revision;
	c->c_revision = res.lr_revision; // i15-perf
	closure(r, data);
}

static void
h_watch_services(Svcfleet__V1__ServiceManager_Service *s,
    const Svcfleet__V1__WatchServicesRequest          *in,
    Svcfleet__V1__WatchServicesReply_Closure closure, void *data)
{
	sf__srv_call *c    = sf__srv_call_of(data);
	uint32_t      wait = in->wait_ms;
	(void) s;
	(void) closure;

	if (wait > WATCH_WAIT_MAX_MS) {
		wait = WATCH_WAIT_MAX_MS;
	}
	if (sf__srv_watch_try(c, in, wait == 0)) {
		return;
	}
	// Answer a little before the caller's deadline so the empty reply
	// arrives in time.
	int64_t until = c->c_start_us + (int64_t) wait * 1000;
	int64_t limit = c->c_deadline_us - 200 * 1000;
	if (until > limit) {
		until = limit;
	}
	sf__srv_watch_park(c, in, until);
}

void
sf__srv_handlers_services_init(sf_server *srv)
{
	Svcfleet__V1__ServiceManager_Service init
	    = SVCFLEET__V1__SERVICE_MANAGER__INIT(h_);
	srv->s_svcmgr = init;
}
