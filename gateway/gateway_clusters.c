// gateway_clusters.c: clusters, their live namespaces, workloads and
// MetalLB pools over HTTP, as ClusterRegistry RPCs.
//
// A cluster is the svcfleet.io/v1 Cluster of sf_model_cluster_json (the
// CLI prints the same); a body to register or update one has its
// metadata and spec. Credentials appear only where the server returns
// them.
// Namespaces, workloads and pools are shaped as the Kubernetes objects
// they come from (v1 Namespace, apps/v1 Deployment/..., metallb.io
// IPAddressPool), reduced to what the server reads of them.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "gateway_internal.h"
#include "status.h"
#include "str.h"

// Decodes standard base64 (whitespace ignored) into the arena. Returns
// false when it is not base64.
static bool
b64_decode(sf__gw_ctx *x, const char *in, ProtobufCBinaryData *out)
{
	size_t         n   = strlen(in);
	unsigned char *buf = sf_arena_alloc(&x->x_arena, n / 4 * 3 + 3);
	ssize_t        len;

	if (buf == NULL
	    || (len
	           = sf_base64_decode(buf, n / 4 * 3 + 3, in, n, SF_B64_SPACE))
	        <= 0) {
		return (false);
	}
	out->data = buf;
	out->len  = (size_t) len;
	return (true);
}

void
sf__gw_clusters_list(sf__gw_ctx *x)
{
	Svcfleet__V1__ListClustersRequest req
	    = SVCFLEET__V1__LIST_CLUSTERS_REQUEST__INIT;
	Svcfleet__V1__ListClustersReply *rep;

	if (SF__GW_CALL(x, list_clusters, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "clusters", "");
		return;
	}
	sf__gw_reply(x, 200,
	    sf_model_json_list(SF__GW_API_GROUP, "ClusterList",
	        sf_model_clusters_json(rep->clusters, rep->n_clusters, 0)));
}

void
sf__gw_cluster_get(sf__gw_ctx *x)
{
	Svcfleet__V1__GetClusterRequest req
	    = SVCFLEET__V1__GET_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *cl;

	req.name = (char *) x->x_arg[0];
	if (SF__GW_CALL(x, get_cluster, &req, &cl) != 0) {
		sf__gw_fail_rpc(x, "clusters", x->x_arg[0]);
		return;
	}
	sf__gw_reply(x, 200, sf_model_cluster_json(cl, 0));
}

// Reads "MIN-MAX" into the cluster; false when malformed.
static bool
node_port_range(const char *s, Svcfleet__V1__Cluster *cl)
{
	int lo, hi, n = 0;
	if (sscanf(s, "%d-%d%n", &lo, &hi, &n) != 2 || s[n] != '\0') {
		return (false);
	}
	cl->node_port_min = lo;
	cl->node_port_max = hi;
	return (true);
}

// The Cluster in the request body (spec as above) into cl, with the
// name the URL gives when url_name is not NULL. Returns false after
// answering (400, or 422 naming the fields that do not convert).
static bool
body_cluster(sf__gw_ctx *x, const char *url_name, Svcfleet__V1__Cluster *cl)
{
	json_t     *obj, *md, *sp, *labels;
	const char *s, *rv;
	sf_status   st;

	if ((obj = sf__gw_body(x)) == NULL) {
		return (false);
	}
	md = sf__gw_obj(obj, "metadata");
	sp = sf__gw_obj(obj, "spec");
	sf_status_init(&st);
	cl->name = (char *) (md != NULL ? sf__gw_str(md, "name") : NULL);
	if (url_name != NULL) {
		if (cl->name != NULL && strcmp(cl->name, url_name) != 0) {
			sf__gw_fail(x, 400, "BadRequest",
			    "the name of the object (%.64s) does not match "
			    "the "
			    "name on the URL (%.64s)",
			    cl->name, url_name);
			return (false);
		}
		cl->name = (char *) url_name;
	}
	if (md != NULL && (rv = sf__gw_str(md, "resourceVersion")) != NULL) {
		cl->resource_version = strtoull(rv, NULL, 10);
	}
	cl->api_server
	    = (char *) (sp != NULL ? sf__gw_str(sp, "apiServer") : NULL);
	cl->token = (char *) (sp != NULL ? sf__gw_str(sp, "token") : NULL);
	cl->insecure_skip_verify = sp != NULL
	    && json_is_true(json_object_get(sp, "insecureSkipVerify"));
	if (sp != NULL && (s = sf__gw_str(sp, "caData")) != NULL
	    && !b64_decode(x, s, &cl->ca_data)) {
		sf_status_violation(&st, SF_V_INVALID, "spec.caData",
		    "Invalid value: must be base64 (PEM bundle)");
	}
	if (sp != NULL && (s = sf__gw_str(sp, "clientCertificateData")) != NULL
	    && !b64_decode(x, s, &cl->client_cert)) {
		sf_status_violation(&st, SF_V_INVALID,
		    "spec.clientCertificateData",
		    "Invalid value: must be base64");
	}
	if (sp != NULL && (s = sf__gw_str(sp, "clientKeyData")) != NULL
	    && !b64_decode(x, s, &cl->client_key)) {
		sf_status_violation(&st, SF_V_INVALID, "spec.clientKeyData",
		    "Invalid value: must be base64");
	}
	if (sp != NULL && (s = sf__gw_str(sp, "nodePortRange")) != NULL
	    && !node_port_range(s, cl)) {
		sf_status_violation(&st, SF_V_INVALID, "spec.nodePortRange",
		    "Invalid value: \"%.64s\": must be MIN-MAX", s);
	}
	if (md != NULL && (labels = sf__gw_obj(md, "labels")) != NULL) {
		const char *k;
		json_t     *v;
		size_t      i = 0;
		cl->labels    = sf_arena_zalloc(&x->x_arena,
		       (json_object_size(labels) + 1) * sizeof(*cl->labels));
		json_object_foreach(labels, k, v)
		{
			Svcfleet__V1__KeyValue *kv
			    = sf_arena_zalloc(&x->x_arena, sizeof(*kv));
			if (cl->labels == NULL || kv == NULL) {
				break;
			}
			svcfleet__v1__key_value__init(kv);
			kv->key   = (char *) k;
			kv->value = (char *) (json_string_value(v) != NULL
			        ? json_string_value(v)
			        : "");
			cl->labels[i++] = kv;
		}
		cl->n_labels = i;
	}
	if (st.st_nviol > 0) {
		sf_status_set(&st, SF_INVALID_ARGUMENT,
		    "Cluster \"%s\" is invalid", sf_nz(cl->name));
		sf__gw_fail_status(x, &st, "Cluster", sf_nz(cl->name));
		sf_status_fini(&st);
		return (false);
	}
	sf_status_fini(&st);
	return (true);
}

// POST clusters: RegisterCluster.
void
sf__gw_clusters_register(sf__gw_ctx *x)
{
	Svcfleet__V1__RegisterClusterRequest req
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster cl = SVCFLEET__V1__CLUSTER__INIT, *out;

	if (!body_cluster(x, NULL, &cl)) {
		return;
	}
	req.cluster = &cl;
	if (SF__GW_CALL(x, register_cluster, &req, &out) != 0) {
		sf__gw_fail_rpc(x, "clusters", cl.name ? cl.name : "");
		return;
	}
	sf__gw_reply(x, 201, sf_model_cluster_json(out, 0));
}

// PUT clusters/{c}: UpdateCluster. A metadata.resourceVersion must match;
// credentials left out are kept.
void
sf__gw_cluster_update(sf__gw_ctx *x)
{
	Svcfleet__V1__UpdateClusterRequest req
	    = SVCFLEET__V1__UPDATE_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster cl = SVCFLEET__V1__CLUSTER__INIT, *out;

	if (!body_cluster(x, x->x_arg[0], &cl)) {
		return;
	}
	req.cluster = &cl;
	if (SF__GW_CALL(x, update_cluster, &req, &out) != 0) {
		sf__gw_fail_rpc(x, "clusters", x->x_arg[0]);
		return;
	}
	sf__gw_reply(x, 200, sf_model_cluster_json(out, 0));
}

void
sf__gw_cluster_delete(sf__gw_ctx *x)
{
	Svcfleet__V1__DeleteClusterRequest req
	    = SVCFLEET__V1__DELETE_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Empty *e;

	req.name = (char *) x->x_arg[0];
	sf__gw_deleted(
	    x, SF__GW_CALL(x, delete_cluster, &req, &e), "clusters");
}

void
sf__gw_namespaces_list(sf__gw_ctx *x)
{
	Svcfleet__V1__ListNamespacesRequest req
	    = SVCFLEET__V1__LIST_NAMESPACES_REQUEST__INIT;
	Svcfleet__V1__ListNamespacesReply *rep;

	req.cluster = (char *) x->x_arg[0];
	if (SF__GW_CALL(x, list_namespaces, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "namespaces", "");
		return;
	}
	sf__gw_reply(x, 200,
	    sf_model_json_list("v1", "NamespaceList",
	        sf_model_namespaces_json(rep->namespaces, rep->n_namespaces)));
}

void
sf__gw_workloads_list(sf__gw_ctx *x)
{
	Svcfleet__V1__ListWorkloadsRequest req
	    = SVCFLEET__V1__LIST_WORKLOADS_REQUEST__INIT;
	Svcfleet__V1__ListWorkloadsReply *rep;

	req.cluster    = (char *) x->x_arg[0];
	req.namespace_ = (char *) x->x_arg[1];
	if (SF__GW_CALL(x, list_workloads, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "workloads", "");
		return;
	}
	sf__gw_reply(x, 200,
	    sf_model_json_list("v1", "List",
	        sf_model_workloads_json(
	            rep->workloads, rep->n_workloads, x->x_arg[1])));
}

void
sf__gw_pools_list(sf__gw_ctx *x)
{
	Svcfleet__V1__ListPoolsRequest req
	    = SVCFLEET__V1__LIST_POOLS_REQUEST__INIT;
	Svcfleet__V1__ListPoolsReply *rep;

	req.cluster = (char *) x->x_arg[0];
	if (SF__GW_CALL(x, list_pools, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "ipaddresspools", "");
		return;
	}
	sf__gw_reply(x, 200,
	    sf_model_json_list("metallb.io/v1beta1", "IPAddressPoolList",
	        sf_model_pools_json(rep->pools, rep->n_pools)));
}
