// nscheck.c: `create service` warns when the Service's namespace does not
// exist in its cluster (issue 20). svcfleet accepts such a Service (the
// namespace may be created later), but until then the cluster refuses it
// and the Service shows ERROR `namespaces "ghost" not found`; the console's
// namespace picker prevents it, the command line says so up front.
//
// The namespaces are read live (ListNamespaces, as the console's picker
// does), and only from a cluster the reconciler last found READY: asking
// one that is away would hold every create for the length of a timeout.
// A check that cannot be made stays silent; it is a warning, never a
// refusal.
#include <stdio.h>
#include <string.h>

#include "cli.h"

// Longest wait for the namespaces of a READY cluster.
#define NS_CHECK_TIMEOUT_MS 3000

void
sf__cli_warn_missing_namespace(cli *c, const char *cluster, const char *ns)
{
	Svcfleet__V1__GetClusterRequest greq
	    = SVCFLEET__V1__GET_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__ListNamespacesRequest lreq
	    = SVCFLEET__V1__LIST_NAMESPACES_REQUEST__INIT;
	Svcfleet__V1__Cluster             *cl  = NULL;
	Svcfleet__V1__ListNamespacesReply *rep = NULL;
	svcfleet_status                    st;
	svcfleet_call_opts                 o     = {0};
	bool                               found = false;

	svcfleet_status_init(&st);
	greq.name = (char *) cluster;
	if (svcfleet_get_cluster(c->c_client, &greq, &cl, &st) != 0
	    || cl->health == NULL
	    || cl->health->state
	        != SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_READY) {
		goto done;
	}
	o.timeout_ms = c->c_timeout_ms < NS_CHECK_TIMEOUT_MS
	    ? c->c_timeout_ms
	    : NS_CHECK_TIMEOUT_MS;
	lreq.cluster = (char *) cluster;
	if (svcfleet_list_namespaces_with(c->c_client, &lreq, &rep, &o, &st)
	    != 0) {
		goto done;
	}
	for (size_t i = 0; i < rep->n_namespaces && !found; i++) {
		found = strcmp(rep->namespaces[i], ns) == 0;
	}
	if (!found) {
		fprintf(stderr,
		    "warning: namespace \"%s\" does not exist in cluster "
		    "\"%s\": the cluster will refuse the Service until it is "
		    "created (see `svcfleet cluster namespaces %s`)\n",
		    ns, cluster, cluster);
	}
done:
	svcfleet_free(rep);
	svcfleet_free(cl);
	svcfleet_status_fini(&st);
}
