// cluster.c: `svcfleet cluster add|list|get|remove` — the cluster records
// (API server, trust, credentials, node-port range, labels) the reconciler
// uses.
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "file.h"
#include "kube.h"
#include "model.h"

// A CA bundle is a few certificates; anything much bigger is the wrong
// file.
#define CA_FILE_MAX (1u << 20)

// "30000-32767" -> min, max; only the syntax is checked here.
static int
node_port_range(cli *c, Svcfleet__V1__Cluster *cl)
{
	const char *v = sf__cli_value(c, F_NODE_PORT_RANGE, NULL);
	char       *end;
	long        lo, hi;
	if (v == NULL) {
		return (0);
	}
	errno = 0;
	lo    = isdigit((unsigned char) v[0]) ? strtol(v, &end, 10) : -1;
	if (lo < 0 || errno != 0 || *end != '-'
	    || !isdigit((unsigned char) end[1])
	    || ((hi = strtol(end + 1, &end, 10)), errno != 0) || *end != '\0'
	    || lo > 65535 || hi > 65535) {
		return (sf__cli_usage(c,
		    "invalid value \"%s\" for --node-port-range: want "
		    "MIN-MAX, e.g. 30000-32767",
		    v));
	}
	cl->node_port_min = (int32_t) lo;
	cl->node_port_max = (int32_t) hi;
	return (0);
}

static int
labels(cli *c, Svcfleet__V1__Cluster *cl)
{
	const cli_list *l = &c->c_list[F_LABEL];
	if (l->l_n == 0) {
		return (0);
	}
	cl->labels = sf_arena_alloc(&c->c_arena, l->l_n * sizeof(*cl->labels));
	if (cl->labels == NULL) {
		return (sf__cli_fail(SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	for (size_t i = 0; i < l->l_n; i++) {
		Svcfleet__V1__KeyValue *kv
		    = sf_arena_alloc(&c->c_arena, sizeof(*kv));
		if (kv == NULL
		    || sf__cli_kv_parse(l->l_v[i], &c->c_arena, kv) != 0) {
			return (sf__cli_usage(c,
			    "invalid value \"%s\" for --label: want KEY=VALUE",
			    l->l_v[i]));
		}
		cl->labels[cl->n_labels++] = kv;
	}
	return (0);
}

// Prints what `cluster add` registered and frees it.
static int
registered(cli *c, const Svcfleet__V1__Cluster *cl, Svcfleet__V1__Cluster *out)
{
	int rv = 0;
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		rv = sf__cli_print_clusters(c, &out, 1, false);
	} else {
		printf("cluster/%s%s\n", cl->name,
		    c->c_output == OUT_NAME ? "" : " registered");
	}
	svcfleet_free(out);
	return (rv);
}

int
sf__cli_cmd_cluster_add(cli *c)
{
	Svcfleet__V1__RegisterClusterRequest req
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster  cl  = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__Cluster *out = NULL;
	const char            *ca  = sf__cli_value(c, F_CA_FILE, NULL);
	const char *tf    = sf__cli_value(c, F_CLUSTER_TOKEN_FILE, NULL);
	char       *cab   = NULL;
	size_t      calen = 0;
	sf_status   st;
	int         rv;

	if (c->c_set[F_KUBECONFIG]) {
		static const int excl[]
		    = {F_API_SERVER, F_CA_FILE, F_CLUSTER_TOKEN_FILE};
		for (size_t i = 0; i < 3; i++) {
			if (c->c_set[excl[i]]) {
				return (sf__cli_usage(c,
				    "--%s cannot be combined with "
				    "--kubeconfig",
				    sf__cli_flag_defs[excl[i]].fd_name));
			}
		}
		cl.name = (char *) c->c_args[0];
		if ((rv = node_port_range(c, &cl)) != 0
		    || (rv = labels(c, &cl)) != 0) {
			return (rv);
		}
		sf_status_init(&st);
		if (sf_kube_kubeconfig_load(c->c_val[F_KUBECONFIG],
		        sf__cli_value(c, F_CONTEXT, NULL),
		        sf__cli_flag(c, F_INSECURE_SKIP_TLS_VERIFY),
		        &c->c_arena, &cl, &st)
		    != 0) {
			rv = sf__cli_fail_sf(&st, NULL);
			sf_status_fini(&st);
			return (rv);
		}
		sf_status_fini(&st);
		req.cluster = &cl;
		if ((rv = sf__cli_connect(c)) == 0
		    && svcfleet_register_cluster(
		           c->c_client, &req, &out, &c->c_st)
		        != 0) {
			rv = sf__cli_fail_status(&c->c_st, NULL);
		}
		return (rv != 0 ? rv : registered(c, &cl, out));
	}
	if (c->c_set[F_CONTEXT]) {
		return (sf__cli_usage(c, "--context goes with --kubeconfig"));
	}
	if (c->c_set[F_INSECURE_SKIP_TLS_VERIFY]) {
		return (sf__cli_usage(
		    c, "--insecure-skip-tls-verify goes with --kubeconfig"));
	}
	// Without --ca-file the cluster's certificate must be trusted by the
	// system's CA store, as with a kubeconfig without
	// certificate-authority-data.
	static const int required[] = {F_API_SERVER, F_CLUSTER_TOKEN_FILE};
	for (size_t i = 0; i < 2; i++) {
		if (!c->c_set[required[i]]) {
			// --token-file once was the cluster's token here; it
			// is the caller's now, and says so.
			return (
			    sf__cli_usage(c, "required flag --%s is missing%s",
			        sf__cli_flag_defs[required[i]].fd_name,
			        required[i] == F_CLUSTER_TOKEN_FILE
			                && c->c_set[F_TOKEN_FILE]
			            ? " (--token-file is your own token for "
			              "svcfleetd, not the cluster's)"
			            : ""));
		}
	}
	cl.name       = (char *) c->c_args[0];
	cl.api_server = (char *) c->c_val[F_API_SERVER];
	if ((rv = node_port_range(c, &cl)) != 0
	    || (rv = labels(c, &cl)) != 0) {
		return (rv);
	}
	if (ca != NULL
	    && (cab = sf_file_read(ca, CA_FILE_MAX, &calen)) == NULL) {
		return (sf__cli_fail(SF_INVALID_ARGUMENT,
		    "cannot read --ca-file %s: %s", ca, strerror(errno)));
	}
	if ((cl.token = sf__cli_read_secret(c, tf)) == NULL) {
		free(cab);
		return (sf__cli_fail(SF_INVALID_ARGUMENT,
		    "cannot read --cluster-token-file %s: %s", tf,
		    strerror(errno)));
	}
	if (cl.token[0] == '\0') {
		free(cab);
		return (sf__cli_fail(SF_INVALID_ARGUMENT,
		    "--cluster-token-file %s holds no token", tf));
	}
	cl.ca_data.data = (uint8_t *) cab;
	cl.ca_data.len  = calen;
	req.cluster     = &cl;
	if ((rv = sf__cli_connect(c)) == 0
	    && svcfleet_register_cluster(c->c_client, &req, &out, &c->c_st)
	        != 0) {
		rv = sf__cli_fail_status(&c->c_st, NULL);
	}
	free(cab);
	if (rv != 0) {
		return (rv);
	}
	return (registered(c, &cl, out));
}

int
sf__cli_cmd_cluster_list(cli *c)
{
	Svcfleet__V1__ListClustersRequest req
	    = SVCFLEET__V1__LIST_CLUSTERS_REQUEST__INIT;
	Svcfleet__V1__ListClustersReply *rep = NULL;
	int                              rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	if (svcfleet_list_clusters(c->c_client, &req, &rep, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	if (rep->n_clusters == 0 && c->c_output != OUT_JSON
	    && c->c_output != OUT_YAML) {
		fprintf(stderr, "No resources found\n");
	} else {
		rv = sf__cli_print_clusters(
		    c, rep->clusters, rep->n_clusters, true);
	}
	svcfleet_free(rep);
	return (rv);
}

int
sf__cli_cmd_cluster_get(cli *c)
{
	Svcfleet__V1__GetClusterRequest req
	    = SVCFLEET__V1__GET_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *cl = NULL;
	int                    rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	req.name = (char *) c->c_args[0];
	// Credentials only when asked for: the server audits such a read
	// (issue 17).
	req.with_credentials = sf__cli_flag(c, F_SHOW_CREDENTIALS);
	if (svcfleet_get_cluster(c->c_client, &req, &cl, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	rv = sf__cli_print_clusters(c, &cl, 1, false);
	svcfleet_free(cl);
	return (rv);
}

int
sf__cli_cmd_cluster_remove(cli *c)
{
	Svcfleet__V1__DeleteClusterRequest req
	    = SVCFLEET__V1__DELETE_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Empty *e = NULL;
	int                  rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	req.name = (char *) c->c_args[0];
	if (svcfleet_delete_cluster(c->c_client, &req, &e, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	svcfleet_free(e);
	if (c->c_output == OUT_NAME) {
		printf("cluster/%s\n", req.name);
	} else {
		printf("cluster \"%s\" removed\n", req.name);
	}
	return (0);
}

int
sf__cli_cmd_cluster_namespaces(cli *c)
{
	Svcfleet__V1__ListNamespacesRequest req
	    = SVCFLEET__V1__LIST_NAMESPACES_REQUEST__INIT;
	Svcfleet__V1__ListNamespacesReply *rep = NULL;
	int                                rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	req.cluster = (char *) c->c_args[0];
	if (svcfleet_list_namespaces(c->c_client, &req, &rep, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		rv = sf__cli_print_list(c,
		    sf_model_namespaces_json(
		        rep->namespaces, rep->n_namespaces));
	} else if (rep->n_namespaces == 0) {
		fprintf(stderr, "No resources found\n");
	} else {
		cli_table t;
		sf__cli_table_init(&t, 1);
		const char *hdr[] = {"NAME"};
		rv                = sf__cli_table_add(&t, hdr);
		for (size_t i = 0; i < rep->n_namespaces && rv == 0; i++) {
			if (c->c_output == OUT_NAME) {
				printf("namespace/%s\n", rep->namespaces[i]);
				continue;
			}
			const char *row[] = {rep->namespaces[i]};
			rv                = sf__cli_table_add(&t, row);
		}
		if (rv == 0 && c->c_output != OUT_NAME) {
			sf__cli_table_print(&t, stdout);
		}
		sf__cli_table_fini(&t);
		if (rv != 0) {
			rv = sf__cli_fail(
			    SF_RESOURCE_EXHAUSTED, "out of memory");
		}
	}
	svcfleet_free(rep);
	return (rv);
}

int
sf__cli_cmd_cluster_workloads(cli *c)
{
	Svcfleet__V1__ListWorkloadsRequest req
	    = SVCFLEET__V1__LIST_WORKLOADS_REQUEST__INIT;
	Svcfleet__V1__ListWorkloadsReply *rep = NULL;
	int                               rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	req.cluster    = (char *) c->c_args[0];
	req.namespace_ = (char *) sf__cli_namespace(c);
	if (svcfleet_list_workloads(c->c_client, &req, &rep, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		rv = sf__cli_print_list(c,
		    sf_model_workloads_json(
		        rep->workloads, rep->n_workloads, req.namespace_));
	} else if (rep->n_workloads == 0) {
		fprintf(stderr, "No resources found in %s namespace.\n",
		    req.namespace_);
	} else {
		cli_table t;
		sf__cli_table_init(&t, 3);
		const char *hdr[] = {"NAME", "KIND", "POD-LABELS"};
		rv                = sf__cli_table_add(&t, hdr);
		for (size_t i = 0; i < rep->n_workloads && rv == 0; i++) {
			const Svcfleet__V1__Workload *w = rep->workloads[i];
			sf_buf                        l = SF_BUF_INIT;
			if (c->c_output == OUT_NAME) {
				printf("%s/%s\n", w->kind, w->name);
				continue;
			}
			for (size_t k = 0; k < w->n_labels; k++) {
				sf_buf_printf(&l, "%s%s=%s", k > 0 ? "," : "",
				    w->labels[k]->key, w->labels[k]->value);
			}
			const char *row[] = {w->name, w->kind,
			    w->n_labels > 0 ? sf_buf_cstr(&l) : "<none>"};
			rv                = sf__cli_table_add(&t, row);
			sf_buf_fini(&l);
		}
		if (rv == 0 && c->c_output != OUT_NAME) {
			sf__cli_table_print(&t, stdout);
		}
		sf__cli_table_fini(&t);
		if (rv != 0) {
			rv = sf__cli_fail(
			    SF_RESOURCE_EXHAUSTED, "out of memory");
		}
	}
	svcfleet_free(rep);
	return (rv);
}
