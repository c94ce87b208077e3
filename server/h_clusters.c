// h_clusters.c: the ClusterRegistry handlers. Cluster records are the API
// server address, trust (CA bundle) and credentials the reconciler uses,
// the cluster's node-port range, labels and last known health. What is
// read from the cluster itself (namespaces, workloads, pools) is live.c's.
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "log.h"
#include "str.h"

// A cluster write: one write function per kind (register, update, delete,
// health) over this job, run on the store's writer thread.
typedef struct cl_job {
	sf__srv_call          *j_call;
	Svcfleet__V1__Cluster *j_cluster; // register, update
	// j_cluster as the request had it, packed: the write functions change
	// it (and the store writes resource_version back), and a batch
	// retried after MAP_FULL must start again from the request (else the
	// update's resource_version precondition fails against its own
	// write).
	uint8_t                     *j_packed;
	size_t                       j_len;
	const char                  *j_name; // delete, health
	Svcfleet__V1__ClusterHealth *j_health;
	// The reply: the cluster written (register, update); NULL for Empty.
	Svcfleet__V1__Cluster *j_result;
} cl_job;

static bool
empty(const char *s)
{
	return (s == NULL || s[0] == '\0');
}

// Does the caller hold the reconciler role? It alone gets credentials
// in every answer: they are what it works with. A person reads them only
// with GetCluster's with_credentials, audited (issue 17, finding 20).
static bool
caller_is_reconciler(const sf__srv_call *c)
{
	const sf_principal *p = &c->c_ident.id_p;
	for (size_t i = 0; i < p->p_nbindings; i++) {
		const Svcfleet__V1__RoleBinding *b = p->p_bindings[i];
		if (b->role != NULL && strcmp(b->role, "reconciler") == 0
		    && sf_rbac_binding_applies(p, b)) {
			return (true);
		}
	}
	return (false);
}

void
sf__srv_cluster_strip_credentials(
    const sf__srv_call *c, Svcfleet__V1__Cluster *cl)
{
	cl->has_credentials = !empty(cl->token) || cl->client_key.len > 0
	    || cl->client_cert.len > 0;
	if (caller_is_reconciler(c)
	    && sf__srv_call_allowed(c, "credentials", "get", cl->name, "")) {
		return;
	}
	cl->token            = "";
	cl->client_key.data  = NULL;
	cl->client_key.len   = 0;
	cl->client_cert.data = NULL;
	cl->client_cert.len  = 0;
}

// Counts the PEM certificates in data; -1 when any block fails to parse.
static int
count_certs(const ProtobufCBinaryData *data)
{
	BIO *bio = BIO_new_mem_buf(data->data, (int) data->len);
	int  n   = 0;
	if (bio == NULL) {
		return (-1);
	}
	for (;;) {
		X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (x == NULL) {
			break;
		}
		X509_free(x);
		n++;
	}
	BIO_free(bio);
	return (n);
}

static bool
key_parses(const ProtobufCBinaryData *data)
{
	BIO      *bio = BIO_new_mem_buf(data->data, (int) data->len);
	EVP_PKEY *k;
	if (bio == NULL) {
		return (false);
	}
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	EVP_PKEY_free(k);
	return (k != NULL);
}

// Validates a cluster record; every violation is reported.
static int
validate_cluster(Svcfleet__V1__Cluster *cl, sf_status *st)
{
	const char *why;

	if (empty(cl->name)) {
		sf_status_violation(
		    st, SF_V_REQUIRED, "name", "Required value");
	} else if ((why = sf_model_check_dns1123_label(cl->name)) != NULL) {
		sf_status_violation(st, SF_V_INVALID, "name",
		    "Invalid value: \"%s\": %s", cl->name, why);
	}
	if (empty(cl->api_server)) {
		sf_status_violation(
		    st, SF_V_REQUIRED, "apiServer", "Required value");
	} else if (strncmp(cl->api_server, "https://", 8) != 0
	    || cl->api_server[8] == '\0' || cl->api_server[8] == '/'
	    || strpbrk(cl->api_server, " \t\r\n") != NULL) {
		sf_status_violation(st, SF_V_INVALID, "apiServer",
		    "Invalid value: \"%s\": must be an https:// URL such as "
		    "https://10.0.0.1:6443",
		    cl->api_server);
	}
	if (cl->ca_data.len > 0 && count_certs(&cl->ca_data) <= 0) {
		sf_status_violation(st, SF_V_INVALID, "caData",
		    "Invalid value: %zu bytes: no PEM certificate could be "
		    "read",
		    cl->ca_data.len);
	}
	bool has_cert = cl->client_cert.len > 0,
	     has_key  = cl->client_key.len > 0;
	if (has_cert != has_key) {
		sf_status_violation(st, SF_V_REQUIRED,
		    has_cert ? "clientKey" : "clientCert",
		    "Required value: a client certificate and its key go "
		    "together");
	}
	if (has_cert && count_certs(&cl->client_cert) <= 0) {
		sf_status_violation(st, SF_V_INVALID, "clientCert",
		    "Invalid value: no PEM certificate could be read");
	}
	if (has_key && !key_parses(&cl->client_key)) {
		sf_status_violation(st, SF_V_INVALID, "clientKey",
		    "Invalid value: no PEM private key could be read");
	}
	if (empty(cl->token) && !has_cert) {
		sf_status_violation(st, SF_V_REQUIRED, "token",
		    "Required value: a bearer token or a client "
		    "certificate and key");
	}
	if (cl->token != NULL && strpbrk(cl->token, " \t\r\n") != NULL) {
		sf_status_violation(st, SF_V_INVALID, "token",
		    "Invalid value: must not contain whitespace");
	}
	if (cl->node_port_min == 0 && cl->node_port_max == 0) {
		cl->node_port_min = SF_MODEL_NODE_PORT_MIN_DEFAULT;
		cl->node_port_max = SF_MODEL_NODE_PORT_MAX_DEFAULT;
	}
	if (cl->node_port_min < 1 || cl->node_port_max > 65535
	    || cl->node_port_min > cl->node_port_max) {
		sf_status_violation(st, SF_V_INVALID, "nodePortRange",
		    "Invalid value: \"%d-%d\": must be a range within "
		    "1-65535 with the first port not above the last",
		    cl->node_port_min, cl->node_port_max);
	}
	for (size_t i = 0; i < cl->n_labels; i++) {
		char path[300];
		snprintf(path, sizeof(path), "labels[%s]", cl->labels[i]->key);
		if ((why = sf_model_check_qualified_name(cl->labels[i]->key))
		        != NULL
		    || (why = sf_model_check_label_value(cl->labels[i]->value))
		        != NULL) {
			sf_status_violation(
			    st, SF_V_INVALID, path, "Invalid value: %s", why);
		}
	}
	if (st->st_nviol > 0) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "cluster \"%s\" is invalid: %s: %s", cl->name,
		    st->st_viol[0].v_field, st->st_viol[0].v_reason));
	}
	return (0);
}

// What every cluster write function does first; a batch retried after
// MAP_FULL runs it again, so it starts from the request each time.
static int
cl_begin(cl_job *j, sf_status *st)
{
	sf__srv_call *c = j->j_call;

	sf_status_reset(st);
	j->j_result = NULL;
	if (j->j_packed != NULL) {
		j->j_cluster = svcfleet__v1__cluster__unpack(
		    sf_arena_pbc(&c->c_arena), j->j_len, j->j_packed);
		if (j->j_cluster == NULL) {
			return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
			    "out of memory copying the request"));
		}
	}
	if (sf__srv_call_expired(c)) {
		return (sf_status_set(st, SF_DEADLINE_EXCEEDED,
		    "the deadline passed before the write; nothing written"));
	}
	return (0);
}

// Reads cluster name in txn into *out, or says it is not registered.
static int
cl_read(sf_store_txn *txn, cl_job *j, const char *name,
    Svcfleet__V1__Cluster **out, sf_status *st)
{
	int rv = sf_store_txn_cluster_get(
	    txn, name, sf_arena_pbc(&j->j_call->c_arena), out);
	if (rv == SF_NOT_FOUND) {
		return (sf_status_set(
		    st, rv, "cluster \"%s\" is not registered", name));
	}
	if (rv != 0) {
		return (sf_status_set(st, rv, "reading failed"));
	}
	return (0);
}

static int
cl_register_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	cl_job                *j = arg;
	Svcfleet__V1__Cluster *cl;
	int                    rv;

	if ((rv = cl_begin(j, st)) != 0) {
		return (rv);
	}
	cl = j->j_cluster;
	if ((rv = validate_cluster(cl, st)) != 0) {
		return (rv);
	}
	cl->created_by       = (char *) j->j_call->c_ident.id_user;
	cl->resource_version = 0;
	cl->health           = NULL;
	cl->has_credentials  = false;
	rv                   = sf_store_txn_cluster_put(txn, cl, true);
	if (rv == SF_ALREADY_EXISTS) {
		return (sf_status_set(
		    st, rv, "cluster \"%s\" is already registered", cl->name));
	}
	if (rv != 0) {
		return (sf_status_set(st, rv, "storing failed"));
	}
	j->j_result = cl;
	return (0);
}

static int
cl_update_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	cl_job                *j = arg;
	Svcfleet__V1__Cluster *old, *cl;
	int                    rv;

	if ((rv = cl_begin(j, st)) != 0) {
		return (rv);
	}
	cl = j->j_cluster;
	if (empty(cl->name)) {
		sf_status_violation(
		    st, SF_V_REQUIRED, "name", "Required value");
		return (sf_status_set(
		    st, SF_INVALID_ARGUMENT, "the cluster name is required"));
	}
	if ((rv = cl_read(txn, j, cl->name, &old, st)) != 0) {
		return (rv);
	}
	if (cl->resource_version != 0
	    && cl->resource_version != old->resource_version) {
		return (sf_status_set(st, SF_ABORTED,
		    "cluster \"%s\" was modified (resource version %llu "
		    "given, %llu stored); read it again",
		    cl->name, (unsigned long long) cl->resource_version,
		    (unsigned long long) old->resource_version));
	}
	// Credentials left empty keep the stored ones.
	if (empty(cl->token) && cl->client_cert.len == 0) {
		cl->token       = old->token;
		cl->client_cert = old->client_cert;
		cl->client_key  = old->client_key;
	}
	if (cl->ca_data.len == 0) {
		cl->ca_data = old->ca_data;
	}
	if ((rv = validate_cluster(cl, st)) != 0) {
		return (rv);
	}
	cl->created_by      = old->created_by;
	cl->create_time_ms  = old->create_time_ms;
	cl->health          = old->health;
	cl->has_credentials = false;
	if ((rv = sf_store_txn_cluster_put(txn, cl, false)) != 0) {
		return (sf_status_set(st, rv, "storing failed"));
	}
	j->j_result = cl;
	return (0);
}

static int
cl_delete_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	cl_job                *j = arg;
	Svcfleet__V1__Cluster *old;
	uint64_t               n = 0;
	int                    rv;

	if ((rv = cl_begin(j, st)) != 0
	    || (rv = cl_read(txn, j, j->j_name, &old, st)) != 0) {
		return (rv);
	}
	rv = sf_store_txn_cluster_count_services(txn, j->j_name, 0, &n);
	if (rv != 0) {
		return (sf_status_set(st, rv, "counting failed"));
	}
	if (n > 0) {
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "cluster \"%s\" still has %llu service%s; delete them "
		    "first",
		    j->j_name, (unsigned long long) n, n == 1 ? "" : "s"));
	}
	if ((rv = sf_store_txn_cluster_delete(txn, j->j_name)) != 0) {
		return (sf_status_set(st, rv, "deleting failed"));
	}
	return (0);
}

static int
cl_health_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	cl_job                *j = arg;
	Svcfleet__V1__Cluster *old;
	int                    rv;

	if ((rv = cl_begin(j, st)) != 0
	    || (rv = cl_read(txn, j, j->j_name, &old, st)) != 0) {
		return (rv);
	}
	// Fencing (issue 16): only the cluster's current owner reports.
	const Svcfleet__V1__ReportClusterHealthRequest *in
	    = (const void *) j->j_call->c_input;
	sf__srv_claims_view cv = {0};
	rv = sf__srv_claims_check(j->j_call->c_srv, &cv, j->j_name,
	    in->claim_token, in->reconciler_id, st);
	sf__srv_claims_view_fini(&cv);
	if (rv != 0) {
		return (rv);
	}
	old->health = j->j_health;
	if ((rv = sf_store_txn_cluster_put(txn, old, false)) != 0) {
		return (sf_status_set(st, rv, "storing failed"));
	}
	return (0);
}

static void
cl_done(void *arg, int code, uint64_t revision)
{
	cl_job *j = arg;
	(void) revision;

	if (code == 0 && j->j_result != NULL) {
		sf__srv_cluster_strip_credentials(j->j_call, j->j_result);
	}
	if (code == 0) {
		// FleetService placement (issue 18) looks at once.
		sf__srv_fleet_loop_kick(j->j_call->c_srv);
	}
	sf__srv_write_done(
	    j->j_call, code, j->j_result != NULL ? &j->j_result->base : NULL);
}

// Submits write fn for call c: cl (register, update) or name (delete,
// health) and health (health).
static void
cl_submit(sf__srv_call *c, sf_store_write_fn fn, Svcfleet__V1__Cluster *cl,
    const char *name, Svcfleet__V1__ClusterHealth *health)
{
	cl_job *j = sf__srv_call_alloc(c, sizeof(*j));
	if (j == NULL) {
		return;
	}
	j->j_call    = c;
	j->j_cluster = cl;
	if (cl != NULL) {
		size_t   len = svcfleet__v1__cluster__get_packed_size(cl);
		uint8_t *packed;
		// (A failed allocation has answered the call: nothing in its
		// arena may be touched after.)
		if ((packed = sf__srv_call_alloc(c, len + 1)) == NULL) {
			return;
		}
		svcfleet__v1__cluster__pack(cl, packed);
		j->j_len    = len;
		j->j_packed = packed;
	}
	j->j_name   = name;
	j->j_health = health;
	sf__srv_call_write(c, fn, cl_done, j, false);
}

// RegisterCluster and UpdateCluster: the request carries the cluster.
static void
cl_put(void *data, Svcfleet__V1__Cluster *cl, sf_store_write_fn fn)
{
	sf__srv_call *c = sf__srv_call_of(data);
	if (cl == NULL) {
		sf__srv_call_fail(
		    c, SF_INVALID_ARGUMENT, "the request carries no cluster");
		return;
	}
	cl_submit(c, fn, cl, NULL, NULL);
}

static void
h_register_cluster(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__RegisterClusterRequest           *in,
    Svcfleet__V1__Cluster_Closure closure, void *data)
{
	(void) s;
	(void) closure;
	cl_put(data, in->cluster, cl_register_fn);
}

static void
h_update_cluster(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__UpdateClusterRequest           *in,
    Svcfleet__V1__Cluster_Closure closure, void *data)
{
	(void) s;
	(void) closure;
	cl_put(data, in->cluster, cl_update_fn);
}

static void
h_delete_cluster(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__DeleteClusterRequest           *in,
    Svcfleet__V1__Empty_Closure closure, void *data)
{
	sf__srv_call *c = sf__srv_call_of(data);
	(void) s;
	(void) closure;
	if (empty(in->name)) {
		sf__srv_call_fail(
		    c, SF_INVALID_ARGUMENT, "name: Required value");
		return;
	}
	cl_submit(c, cl_delete_fn, NULL, in->name, NULL);
}

static void
h_report_cluster_health(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__ReportClusterHealthRequest            *in,
    Svcfleet__V1__Empty_Closure closure, void *data)
{
	sf__srv_call *c = sf__srv_call_of(data);
	(void) s;
	(void) closure;
	if (empty(in->cluster) || in->health == NULL) {
		sf__srv_call_fail(
		    c, SF_INVALID_ARGUMENT, "cluster and health are required");
		return;
	}
	cl_submit(c, cl_health_fn, NULL, in->cluster, in->health);
}

// Reads cluster name for call c outside a write (Get, live reads); when it
// cannot, fails c (NOT_FOUND: not registered) and returns NULL.
static Svcfleet__V1__Cluster *
cl_get(sf__srv_call *c, const char *name)
{
	Svcfleet__V1__Cluster *cl;
	int                    rv = sf_store_cluster_get(
	                       c->c_srv->s_store, name, sf_arena_pbc(&c->c_arena), &cl);
	if (rv == SF_NOT_FOUND) {
		sf__srv_call_fail(
		    c, rv, "cluster \"%s\" is not registered", name);
		return (NULL);
	}
	if (rv != 0) {
		sf__srv_call_fail(c, rv, "reading the cluster failed");
		return (NULL);
	}
	return (cl);
}

// GetCluster with_credentials by a person: allowed only to whom may read
// credentials (admin), and recorded in the audit log before the answer
// goes out — a write of the audit record alone, through the writer.
typedef struct cred_job {
	sf__srv_call          *cj_call; // first, for the audit record
	Svcfleet__V1__Cluster *cj_cluster;
} cred_job;

static int
cred_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	(void) txn;
	(void) arg;
	(void) st;
	return (0);
}

static void
cred_done(void *arg, int code, uint64_t revision)
{
	cred_job *j = arg;
	(void) revision;
	sf__srv_write_done(j->cj_call, code, &j->cj_cluster->base);
}

static void
cred_read(sf__srv_call *c, Svcfleet__V1__Cluster *cl)
{
	cred_job *j;
	if (!sf__srv_call_allowed(c, "credentials", "get", cl->name, "")) {
		sf_status_set(&c->c_status, SF_PERMISSION_DENIED,
		    "user \"%s\" cannot get credentials of cluster \"%s\"",
		    sf_nz(c->c_ident.id_user), cl->name);
		sf__srv_call_deny(c);
		return;
	}
	if ((j = sf__srv_call_alloc(c, sizeof(*j))) == NULL) {
		return;
	}
	cl->has_credentials = !empty(cl->token) || cl->client_key.len > 0
	    || cl->client_cert.len > 0;
	j->cj_call    = c;
	j->cj_cluster = cl;
	SF_INFO("audit", "user=%s reads the credentials of cluster %s",
	    sf_nz(c->c_ident.id_user), cl->name);
	sf__srv_call_write(c, cred_fn, cred_done, j, false);
}

static void
h_get_cluster(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__GetClusterRequest           *in,
    Svcfleet__V1__Cluster_Closure closure, void *data)
{
	sf__srv_call          *c = sf__srv_call_of(data);
	Svcfleet__V1__Cluster *cl;
	(void) s;

	if (empty(in->name)) {
		sf__srv_call_fail(
		    c, SF_INVALID_ARGUMENT, "name: Required value");
		return;
	}
	if ((cl = cl_get(c, in->name)) == NULL) {
		return;
	}
	if (in->with_credentials && !caller_is_reconciler(c)) {
		cred_read(c, cl);
		return;
	}
	sf__srv_cluster_strip_credentials(c, cl);
	sf__srv_claims_decorate_clusters(c, &cl, 1);
	closure(cl, data);
}

static void
h_list_clusters(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__ListClustersRequest           *in,
    Svcfleet__V1__ListClustersReply_Closure closure, void *data)
{
	sf__srv_call                    *c = sf__srv_call_of(data);
	Svcfleet__V1__ListClustersReply *r;
	int                              rv;
	(void) s;
	(void) in;

	r = sf__srv_reply_new(
	    c, &svcfleet__v1__list_clusters_reply__descriptor);
	if (r == NULL) {
		return;
	}
	rv = sf_store_cluster_list(c->c_srv->s_store,
	    sf_arena_pbc(&c->c_arena), &r->clusters, &r->n_clusters);
	if (rv != 0) {
		sf__srv_call_fail(c, rv, "listing clusters failed");
		return;
	}
	// Only the clusters the caller has a binding in.
	size_t kept = 0;
	for (size_t i = 0; i < r->n_clusters; i++) {
		if (!sf__srv_call_allowed(
		        c, "clusters", "list", r->clusters[i]->name, "")) {
			continue;
		}
		sf__srv_cluster_strip_credentials(c, r->clusters[i]);
		r->clusters[kept++] = r->clusters[i];
	}
	r->n_clusters = kept;
	sf__srv_claims_decorate_clusters(c, r->clusters, r->n_clusters);
	closure(r, data);
}

// ------------------------------------------------------------ live reads

// ListNamespaces, ListWorkloads and ListPools: read from the cluster
// itself on a thread of live.c's.
static void
cl_live(void *data, enum sf__srv_live_kind kind, const char *cluster,
    const char *ns)
{
	sf__srv_call          *c = sf__srv_call_of(data);
	Svcfleet__V1__Cluster *cl;

	if (empty(cluster)) {
		sf__srv_call_fail(
		    c, SF_INVALID_ARGUMENT, "cluster: Required value");
		return;
	}
	if ((cl = cl_get(c, cluster)) != NULL) {
		sf__srv_live_start(c, kind, cl, ns);
	}
}

static void
h_list_namespaces(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__ListNamespacesRequest           *in,
    Svcfleet__V1__ListNamespacesReply_Closure closure, void *data)
{
	(void) s;
	(void) closure;
	cl_live(data, SF__SRV_LIVE_NAMESPACES, in->cluster, NULL);
}

static void
h_list_workloads(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__ListWorkloadsRequest           *in,
    Svcfleet__V1__ListWorkloadsReply_Closure closure, void *data)
{
	sf__srv_call *c = sf__srv_call_of(data);
	(void) s;
	(void) closure;
	if (empty(in->namespace_)) {
		sf__srv_call_fail(
		    c, SF_INVALID_ARGUMENT, "namespace: Required value");
		return;
	}
	cl_live(data, SF__SRV_LIVE_WORKLOADS, in->cluster, in->namespace_);
}

static void
h_list_pools(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__ListPoolsRequest           *in,
    Svcfleet__V1__ListPoolsReply_Closure closure, void *data)
{
	(void) s;
	(void) closure;
	cl_live(data, SF__SRV_LIVE_POOLS, in->cluster, NULL);
}

// ------------------------------------------- reconciler claims (issue 16)

static void
h_register_reconciler(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__RegisterReconcilerRequest           *in,
    Svcfleet__V1__ReconcilerLease_Closure closure, void *data)
{
	(void) s;
	(void) closure;
	sf__srv_claims_register(sf__srv_call_of(data), in);
}

static void
h_renew_reconciler(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__RenewReconcilerRequest           *in,
    Svcfleet__V1__ReconcilerLease_Closure closure, void *data)
{
	(void) s;
	(void) closure;
	sf__srv_claims_renew(sf__srv_call_of(data), in);
}

static void
h_unregister_reconciler(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__UnregisterReconcilerRequest           *in,
    Svcfleet__V1__Empty_Closure closure, void *data)
{
	(void) s;
	(void) closure;
	sf__srv_claims_unregister(sf__srv_call_of(data), in);
}

static void
h_list_reconcilers(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__ListReconcilersRequest           *in,
    Svcfleet__V1__ListReconcilersReply_Closure closure, void *data)
{
	(void) s;
	(void) in;
	(void) closure;
	sf__srv_claims_list(sf__srv_call_of(data));
}

void
sf__srv_handlers_clusters_init(sf_server *srv)
{
	Svcfleet__V1__ClusterRegistry_Service init
	    = SVCFLEET__V1__CLUSTER_REGISTRY__INIT(h_);
	srv->s_clusters = init;
}

uint8_t *
sf__srv_cluster_basis(
    const Svcfleet__V1__Cluster *cl, bool placement, sf_arena *a, size_t *len)
{
	Svcfleet__V1__Cluster       c = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__ClusterHealth h = SVCFLEET__V1__CLUSTER_HEALTH__INIT;
	uint8_t                    *buf;

	*len = 0;
	if (cl == NULL) {
		return (NULL);
	}
	if (placement) {
		c.name     = cl->name;
		c.labels   = cl->labels;
		c.n_labels = cl->n_labels;
	}
	c.node_port_min = cl->node_port_min;
	c.node_port_max = cl->node_port_max;
	if (cl->health != NULL && cl->health->pools_known) {
		h.pools_known = true;
		h.pools       = cl->health->pools;
		h.n_pools     = cl->health->n_pools;
		c.health      = &h;
	}
	*len = svcfleet__v1__cluster__get_packed_size(&c);
	if ((buf = sf_arena_alloc(a, *len + 1)) != NULL) {
		svcfleet__v1__cluster__pack(&c, buf);
	}
	return (buf);
}
