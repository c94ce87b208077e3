// h_clusters.c: the ClusterRegistry handlers. Cluster records are the API
// server address, trust (CA bundle) and credentials the reconciler uses,
// the cluster's node-port range, labels and last known health.
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "clock.h"
#include "internal.h"
#include "kube.h"

enum cl_kind { CL_REGISTER, CL_UPDATE, CL_DELETE, CL_HEALTH };

typedef struct cl_job {
	sf__srv_call          *j_call;
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
sf__srv_cluster_strip_credentials(
    const sf__srv_call *c, Svcfleet__V1__Cluster *cl)
{
	cl->has_credentials = !empty(cl->token) || cl->client_key.len > 0
	    || cl->client_cert.len > 0;
	if (sf__srv_call_allowed(c, "credentials", "get", cl->name, "")) {
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
	sf__srv_call          *c     = j->j_call;
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
	if (sf__srv_call_expired(c)) {
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
	cl_job       *j = arg;
	sf__srv_call *c = j->j_call;
	(void) revision;

	if (code != 0) {
		sf_status_set(&c->c_status, code, "%s", sf_status_str(code));
		sf__srv_call_finish(c, NULL);
		return;
	}
	if (j->j_kind == CL_DELETE || j->j_kind == CL_HEALTH) {
		static const Svcfleet__V1__Empty e = SVCFLEET__V1__EMPTY__INIT;
		sf__srv_call_finish(c, &e.base);
		return;
	}
	sf__srv_cluster_strip_credentials(c, j->j_result);
	sf__srv_call_finish(c, &j->j_result->base);
}

static void
cl_submit(sf__srv_call *c, int kind, Svcfleet__V1__Cluster *cl,
    const char *name, Svcfleet__V1__ClusterHealth *health)
{
	cl_job *j = sf_arena_zalloc(&c->c_arena, sizeof(*j));
	if (j == NULL) {
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	j->j_call    = c;
	j->j_kind    = kind;
	j->j_cluster = cl;
	if (cl != NULL) {
		j->j_len    = svcfleet__v1__cluster__get_packed_size(cl);
		j->j_packed = sf_arena_alloc(&c->c_arena, j->j_len + 1);
		if (j->j_packed == NULL) {
			sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
			return;
		}
		svcfleet__v1__cluster__pack(cl, j->j_packed);
	}
	j->j_name   = name;
	j->j_health = health;
	sf__srv_call_write(c, cl_write, cl_done, j, false);
}

static void
h_register_cluster(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__RegisterClusterRequest           *in,
    Svcfleet__V1__Cluster_Closure closure, void *data)
{
	sf__srv_call *c = sf__srv_call_of(data);
	(void) s;
	(void) closure;
	if (in->cluster == NULL) {
		sf__srv_call_fail(
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
	sf__srv_call *c = sf__srv_call_of(data);
	(void) s;
	(void) closure;
	if (in->cluster == NULL) {
		sf__srv_call_fail(
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
	sf__srv_call *c = sf__srv_call_of(data);
	(void) s;
	(void) closure;
	if (empty(in->name)) {
		sf__srv_call_fail(
		    c, SF_INVALID_ARGUMENT, "name: Required value");
		return;
	}
	cl_submit(c, CL_DELETE, NULL, in->name, NULL);
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
	cl_submit(c, CL_HEALTH, NULL, in->cluster, in->health);
}

static void
h_get_cluster(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__GetClusterRequest           *in,
    Svcfleet__V1__Cluster_Closure closure, void *data)
{
	sf__srv_call          *c = sf__srv_call_of(data);
	Svcfleet__V1__Cluster *cl;
	int                    rv;
	(void) s;

	if (empty(in->name)) {
		sf__srv_call_fail(
		    c, SF_INVALID_ARGUMENT, "name: Required value");
		return;
	}
	rv = sf_store_cluster_get(
	    c->c_srv->s_store, in->name, sf_arena_pbc(&c->c_arena), &cl);
	if (rv == SF_NOT_FOUND) {
		sf__srv_call_fail(
		    c, rv, "cluster \"%s\" is not registered", in->name);
		return;
	}
	if (rv != 0) {
		sf__srv_call_fail(c, rv, "reading the cluster failed");
		return;
	}
	sf__srv_cluster_strip_credentials(c, cl);
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

	r = sf_arena_alloc(&c->c_arena, sizeof(*r));
	if (r == NULL) {
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	svcfleet__v1__list_clusters_reply__init(r);
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
	closure(r, data);
}

// ------------------------------------------------------------ live reads
//
// ListNamespaces, ListWorkloads and ListPools are answered from the cluster
// itself (the form reads them live). The HTTP request runs on a thread of
// its own, so a slow cluster never holds a handler thread; the call is
// finished from there. At most LIVE_MAX run at once, each bounded by
// LIVE_TIMEOUT_MS (and by the caller's deadline), which is shorter than
// the server's drain at shutdown.

#define LIVE_MAX        16
#define LIVE_TIMEOUT_MS 5000

enum live_kind { LIVE_NAMESPACES, LIVE_WORKLOADS, LIVE_POOLS };

typedef struct live_job {
	sf__srv_call *lj_call;
	int           lj_kind;
	sf_kube_cfg  *lj_cfg;
	const char   *lj_ns; // from the call's arena
	long          lj_timeout_ms;
} live_job;

static atomic_int live_running;

static void
live_namespaces(live_job *j)
{
	sf__srv_call                      *c = j->lj_call;
	Svcfleet__V1__ListNamespacesReply *r;
	char                             **names = NULL;
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
	r = sf_arena_alloc(&c->c_arena, sizeof(*r));
	if (r != NULL) {
		svcfleet__v1__list_namespaces_reply__init(r);
		r->namespaces
		    = sf_arena_alloc(&c->c_arena, (n + 1) * sizeof(char *));
	}
	if (r == NULL || r->namespaces == NULL) {
		sf_kube_strv_free(names);
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if ((r->namespaces[r->n_namespaces]
		        = sf_arena_strdup(&c->c_arena, names[i]))
		    != NULL) {
			r->n_namespaces++;
		}
	}
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
	json_t                           *all;
	size_t                            n;

	if (sf_kube_list_workloads(
	        j->lj_cfg, j->lj_ns, j->lj_timeout_ms, &all, &c->c_status)
	    != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	n = json_array_size(all);
	r = sf_arena_alloc(a, sizeof(*r));
	if (r != NULL) {
		svcfleet__v1__list_workloads_reply__init(r);
		r->workloads
		    = sf_arena_alloc(a, (n + 1) * sizeof(*r->workloads));
	}
	for (size_t i = 0; r != NULL && r->workloads != NULL && i < n; i++) {
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
			r->workloads[r->n_workloads++] = w;
		}
	}
	json_decref(all);
	if (r == NULL || r->workloads == NULL) {
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	sf__srv_call_finish(c, &r->base);
}

static void
live_pools(live_job *j)
{
	sf__srv_call                 *c = j->lj_call;
	sf_arena                     *a = &c->c_arena;
	Svcfleet__V1__ListPoolsReply *r;
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
	r = sf_arena_alloc(a, sizeof(*r));
	if (r != NULL) {
		svcfleet__v1__list_pools_reply__init(r);
		r->pools = sf_arena_alloc(a, (n + 1) * sizeof(*r->pools));
	}
	for (size_t i = 0; r != NULL && r->pools != NULL && i < n; i++) {
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
			r->pools[r->n_pools++] = p;
		}
	}
	json_decref(pools);
	if (r == NULL || r->pools == NULL) {
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	sf__srv_call_finish(c, &r->base);
}

static void *
live_main(void *arg)
{
	live_job *j = arg;

	switch (j->lj_kind) {
	case LIVE_NAMESPACES:
		live_namespaces(j);
		break;
	case LIVE_WORKLOADS:
		live_workloads(j);
		break;
	case LIVE_POOLS:
		live_pools(j);
		break;
	}
	sf_kube_cfg_free(j->lj_cfg);
	free(j);
	atomic_fetch_sub(&live_running, 1);
	return (NULL);
}

// Starts a live read of cluster name; finishes the call on failure.
static void
live_start(sf__srv_call *c, int kind, const char *name, const char *ns)
{
	Svcfleet__V1__Cluster *cl;
	live_job              *j;
	pthread_t              t;
	pthread_attr_t         attr;
	int64_t                left_ms;
	int                    rv;

	if (empty(name)) {
		sf__srv_call_fail(
		    c, SF_INVALID_ARGUMENT, "cluster: Required value");
		return;
	}
	rv = sf_store_cluster_get(
	    c->c_srv->s_store, name, sf_arena_pbc(&c->c_arena), &cl);
	if (rv == SF_NOT_FOUND) {
		sf__srv_call_fail(
		    c, rv, "cluster \"%s\" is not registered", name);
		return;
	}
	if (rv != 0) {
		sf__srv_call_fail(c, rv, "reading the cluster failed");
		return;
	}
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
	j->lj_call = c;
	j->lj_kind = kind;
	j->lj_ns   = ns;
	j->lj_timeout_ms
	    = left_ms < LIVE_TIMEOUT_MS ? (long) left_ms : LIVE_TIMEOUT_MS;
	if (j->lj_timeout_ms < 100) {
		j->lj_timeout_ms = 100;
	}
	if (atomic_fetch_add(&live_running, 1) >= LIVE_MAX) {
		atomic_fetch_sub(&live_running, 1);
		sf_kube_cfg_free(j->lj_cfg);
		free(j);
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED,
		    "too many live cluster reads at once; try again");
		return;
	}
	sf_kube_global_init();
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rv = pthread_create(&t, &attr, live_main, j);
	pthread_attr_destroy(&attr);
	if (rv != 0) {
		atomic_fetch_sub(&live_running, 1);
		sf_kube_cfg_free(j->lj_cfg);
		free(j);
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED,
		    "cannot start a thread for the live read");
	}
}

static void
h_list_namespaces(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__ListNamespacesRequest           *in,
    Svcfleet__V1__ListNamespacesReply_Closure closure, void *data)
{
	(void) s;
	(void) closure;
	live_start(sf__srv_call_of(data), LIVE_NAMESPACES, in->cluster, NULL);
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
	live_start(c, LIVE_WORKLOADS, in->cluster, in->namespace_);
}

static void
h_list_pools(Svcfleet__V1__ClusterRegistry_Service *s,
    const Svcfleet__V1__ListPoolsRequest           *in,
    Svcfleet__V1__ListPoolsReply_Closure closure, void *data)
{
	(void) s;
	(void) closure;
	live_start(sf__srv_call_of(data), LIVE_POOLS, in->cluster, NULL);
}

void
sf__srv_handlers_clusters_init(sf_server *srv)
{
	Svcfleet__V1__ClusterRegistry_Service init
	    = SVCFLEET__V1__CLUSTER_REGISTRY__INIT(h_);
	srv->s_clusters = init;
}
