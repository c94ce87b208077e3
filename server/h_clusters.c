// h_clusters.c: the ClusterRegistry handlers. Cluster records are the API
// server address, trust (CA bundle) and credentials the reconciler uses,
// the cluster's node-port range, labels and last known health.
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

enum cl_kind { CL_REGISTER, CL_UPDATE, CL_DELETE, CL_HEALTH };

typedef struct cl_job {
	sf_call               *j_call;
	int                    j_kind;
	Svcfleet__V1__Cluster *j_cluster; // register, update
	// j_cluster as the request had it, packed: cl_write changes it (and
	// the store writes resource_version back), and a batch retried after
	// MAP_FULL must start again from the request (else the update's
	// resource_version precondition fails against its own write).
	uint8_t                     *j_packed;
	size_t                       j_len;
	const char                  *j_name; // delete, health
	Svcfleet__V1__ClusterHealth *j_health;
	Svcfleet__V1__Cluster       *j_result;
} cl_job;

static bool
empty(const char *s)
{
	return (s == NULL || s[0] == '\0');
}

void
sf_cluster_strip_credentials(const sf_call *c, Svcfleet__V1__Cluster *cl)
{
	cl->has_credentials = !empty(cl->token) || cl->client_key.len > 0
	    || cl->client_cert.len > 0;
	if (sf_call_allowed(c, "credentials", "get", cl->name, "")) {
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

static int
cl_write(sf_store_txn *txn, void *arg, sf_status *st)
{
	cl_job                *j     = arg;
	sf_call               *c     = j->j_call;
	ProtobufCAllocator    *alloc = sf_arena_pbc(&c->c_arena);
	Svcfleet__V1__Cluster *old = NULL, *cl = j->j_cluster;
	int                    rv;

	sf_status_reset(st);
	if (j->j_packed != NULL) {
		cl = j->j_cluster = svcfleet__v1__cluster__unpack(
		    alloc, j->j_len, j->j_packed);
		if (cl == NULL) {
			return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
			    "out of memory copying the request"));
		}
	}
	if (sf_call_expired(c)) {
		return (sf_status_set(st, SF_DEADLINE_EXCEEDED,
		    "the deadline passed before the write; nothing written"));
	}
	switch (j->j_kind) {
	case CL_REGISTER:
		if ((rv = validate_cluster(cl, st)) != 0) {
			return (rv);
		}
		cl->created_by       = (char *) c->c_ident.id_user;
		cl->resource_version = 0;
		cl->health           = NULL;
		cl->has_credentials  = false;
		rv                   = sf_store_txn_cluster_put(txn, cl, true);
		if (rv == SF_ALREADY_EXISTS) {
			return (sf_status_set(st, rv,
			    "cluster \"%s\" is already registered", cl->name));
		}
		if (rv != 0) {
			return (sf_status_set(st, rv, "storing failed"));
		}
		j->j_result = cl;
		return (0);
	case CL_UPDATE:
		if (empty(cl->name)) {
			sf_status_violation(
			    st, SF_V_REQUIRED, "name", "Required value");
			return (sf_status_set(st, SF_INVALID_ARGUMENT,
			    "the cluster name is required"));
		}
		rv = sf_store_txn_cluster_get(txn, cl->name, alloc, &old);
		if (rv == SF_NOT_FOUND) {
			return (sf_status_set(st, rv,
			    "cluster \"%s\" is not registered", cl->name));
		}
		if (rv != 0) {
			return (sf_status_set(st, rv, "reading failed"));
		}
		if (cl->resource_version != 0
		    && cl->resource_version != old->resource_version) {
			return (sf_status_set(st, SF_ABORTED,
			    "cluster \"%s\" was modified (resource version "
			    "%llu given, %llu stored); read it again",
			    cl->name,
			    (unsigned long long) cl->resource_version,
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
	case CL_DELETE: {
		uint64_t n = 0;
		rv = sf_store_txn_cluster_get(txn, j->j_name, alloc, &old);
		if (rv == SF_NOT_FOUND) {
			return (sf_status_set(st, rv,
			    "cluster \"%s\" is not registered", j->j_name));
		}
		if (rv != 0) {
			return (sf_status_set(st, rv, "reading failed"));
		}
		rv = sf_store_txn_cluster_count_services(
		    txn, j->j_name, 0, &n);
		if (rv != 0) {
			return (sf_status_set(st, rv, "counting failed"));
		}
		if (n > 0) {
			return (sf_status_set(st, SF_FAILED_PRECONDITION,
			    "cluster \"%s\" still has %llu service%s; delete "
			    "them first",
			    j->j_name, (unsigned long long) n,
			    n == 1 ? "" : "s"));
		}
		if ((rv = sf_store_txn_cluster_delete(txn, j->j_name)) != 0) {
			return (sf_status_set(st, rv, "deleting failed"));
		}
		j->j_result = old;
		return (0);
	}
	case CL_HEALTH:
		rv = sf_store_txn_cluster_get(txn, j->j_name, alloc, &old);
		if (rv == SF_NOT_FOUND) {
			return (sf_status_set(st, rv,
			    "cluster \"%s\" is not registered", j->j_name));
		}
		if (rv != 0) {
			return (sf_status_set(st, rv, "reading failed"));
		}
		old->health = j->j_health;
		if ((rv = sf_store_txn_cluster_put(txn, old, false)) != 0) {
			return (sf_status_set(st, rv, "storing failed"));
		}
		j->j_result = old;
		return (0);
	}
	return (sf_status_set(st, SF_INTERNAL, "unknown cluster job"));
}

static void
cl_done(void *arg, int code, uint64_t revision)
{
	cl_job  *j = arg;
	sf_call *c = j->j_call;
	(void) revision;

	if (code != 0) {
		sf_status_set(&c->c_status, code, "%s", sf_status_str(code));
		sf_call_finish(c, NULL);
		return;
	}
	if (j->j_kind == CL_DELETE || j->j_kind == CL_HEALTH) {
		static const Svcfleet__V1__Empty e = SVCFLEET__V1__EMPTY__INIT;
		sf_call_finish(c, &e.base);
		return;
	}
	sf_cluster_strip_credentials(c, j->j_result);
	sf_call_finish(c, &j->j_result->base);
}

static void
cl_submit(sf_call *c, int kind, Svcfleet__V1__Cluster *cl, const char *name,
    Svcfleet__V1__ClusterHealth *health)
{
	cl_job *j = sf_arena_zalloc(&c->c_arena, sizeof(*j));
	if (j == NULL) {
		sf_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	j->j_call    = c;
	j->j_kind    = kind;
	j->j_cluster = cl;
	if (cl != NULL) {
		j->j_len    = svcfleet__v1__cluster__get_packed_size(cl);
		j->j_packed = sf_arena_alloc(&c->c_arena, j->j_len + 1);
		if (j->j_packed == NULL) {
			sf_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
			return;
		}
		svcfleet__v1__cluster__pack(cl, j->j_packed);
	}
	j->j_name   = name;
	j->j_health = health;
	sf_call_write(c, cl_write, cl_done, j, false);
}

static void
h_register_cluster(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__RegisterClusterRequest           *in,
    Svcfleet__V1__Cluster_Closure closure, void *data)
{
	sf_call *c = sf_call_of(data);
	(void) s;
	(void) closure;
	if (in->cluster == NULL) {
		sf_call_fail(
		    c, SF_INVALID_ARGUMENT, "the request carries no cluster");
		return;
	}
	cl_submit(c, CL_REGISTER, in->cluster, NULL, NULL);
}

static void
h_update_cluster(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__UpdateClusterRequest           *in,
    Svcfleet__V1__Cluster_Closure closure, void *data)
{
	sf_call *c = sf_call_of(data);
	(void) s;
	(void) closure;
	if (in->cluster == NULL) {
		sf_call_fail(
		    c, SF_INVALID_ARGUMENT, "the request carries no cluster");
		return;
	}
	cl_submit(c, CL_UPDATE, in->cluster, NULL, NULL);
}

static void
h_delete_cluster(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__DeleteClusterRequest           *in,
    Svcfleet__V1__Empty_Closure closure, void *data)
{
	sf_call *c = sf_call_of(data);
	(void) s;
	(void) closure;
	if (empty(in->name)) {
		sf_call_fail(c, SF_INVALID_ARGUMENT, "name: Required value");
		return;
	}
	cl_submit(c, CL_DELETE, NULL, in->name, NULL);
}

static void
h_report_cluster_health(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__ReportClusterHealthRequest            *in,
    Svcfleet__V1__Empty_Closure closure, void *data)
{
	sf_call *c = sf_call_of(data);
	(void) s;
	(void) closure;
	if (empty(in->cluster) || in->health == NULL) {
		sf_call_fail(
		    c, SF_INVALID_ARGUMENT, "cluster and health are required");
		return;
	}
	cl_submit(c, CL_HEALTH, NULL, in->cluster, in->health);
}

static void
h_get_cluster(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__GetClusterRequest           *in,
    Svcfleet__V1__Cluster_Closure closure, void *data)
{
	sf_call               *c = sf_call_of(data);
	Svcfleet__V1__Cluster *cl;
	int                    rv;
	(void) s;

	if (empty(in->name)) {
		sf_call_fail(c, SF_INVALID_ARGUMENT, "name: Required value");
		return;
	}
	rv = sf_store_cluster_get(
	    c->c_srv->s_store, in->name, sf_arena_pbc(&c->c_arena), &cl);
	if (rv == SF_NOT_FOUND) {
		sf_call_fail(
		    c, rv, "cluster \"%s\" is not registered", in->name);
		return;
	}
	if (rv != 0) {
		sf_call_fail(c, rv, "reading the cluster failed");
		return;
	}
	sf_cluster_strip_credentials(c, cl);
	closure(cl, data);
}

static void
h_list_clusters(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__ListClustersRequest           *in,
    Svcfleet__V1__ListClustersReply_Closure closure, void *data)
{
	sf_call                         *c = sf_call_of(data);
	Svcfleet__V1__ListClustersReply *r;
	int                              rv;
	(void) s;
	(void) in;

	r = sf_arena_alloc(&c->c_arena, sizeof(*r));
	if (r == NULL) {
		sf_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	svcfleet__v1__list_clusters_reply__init(r);
	rv = sf_store_cluster_list(c->c_srv->s_store,
	    sf_arena_pbc(&c->c_arena), &r->clusters, &r->n_clusters);
	if (rv != 0) {
		sf_call_fail(c, rv, "listing clusters failed");
		return;
	}
	// Only the clusters the caller has a binding in.
	size_t kept = 0;
	for (size_t i = 0; i < r->n_clusters; i++) {
		if (!sf_call_allowed(
		        c, "clusters", "list", r->clusters[i]->name, "")) {
			continue;
		}
		sf_cluster_strip_credentials(c, r->clusters[i]);
		r->clusters[kept++] = r->clusters[i];
	}
	r->n_clusters = kept;
	closure(r, data);
}

static void
live_unavailable(sf_call *c, const char *what)
{
	sf_call_fail(c, SF_UNIMPLEMENTED,
	    "%s are read live from the cluster by the reconciler, which "
	    "this svcfleetd does not run yet",
	    what);
}

static void
h_list_namespaces(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__ListNamespacesRequest           *in,
    Svcfleet__V1__ListNamespacesReply_Closure closure, void *data)
{
	(void) s;
	(void) in;
	(void) closure;
	live_unavailable(sf_call_of(data), "namespaces");
}

static void
h_list_workloads(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__ListWorkloadsRequest           *in,
    Svcfleet__V1__ListWorkloadsReply_Closure closure, void *data)
{
	(void) s;
	(void) in;
	(void) closure;
	live_unavailable(sf_call_of(data), "workloads");
}

static void
h_list_pools(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__ListPoolsRequest           *in,
    Svcfleet__V1__ListPoolsReply_Closure closure, void *data)
{
	(void) s;
	(void) in;
	(void) closure;
	live_unavailable(sf_call_of(data), "MetalLB pools");
}

void
sf_handlers_clusters_init(sf_server *srv)
{
	Svcfleet__V1__ClusterRegistry_Service init
	    = SVCFLEET__V1__CLUSTER_REGISTRY__INIT(h_);
	srv->s_clusters = init;
}
