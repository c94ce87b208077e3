// methods.c: the method table. One row per RPC method: its path, what it
// acts on for authorization, and how it is admitted. The handlers
// themselves are found through the generated service structs, and every
// method the proto declares must have exactly one row here.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "str.h"

#define SVC "/svcfleet.v1.ServiceManager/"
#define CLU "/svcfleet.v1.ClusterRegistry/"
#define ACC "/svcfleet.v1.AccessControl/"
#define AUD "/svcfleet.v1.Audit/"
#define SYS "/svcfleet.v1.System/"
#define FLT "/svcfleet.v1.FleetManager/" // FleetService (issue 18)

// Scope extractors: where a request acts, from its decoded input.
static void
scope_set(
    sf__srv_call *c, const char *cluster, const char *ns, const char *name)
{
	c->c_cluster   = sf_nz(cluster);
	c->c_namespace = sf_nz(ns);
	c->c_name      = sf_nz(name);
}

static void
scope_meta(sf__srv_call *c, const Svcfleet__V1__Service *svc)
{
	if (svc != NULL && svc->metadata != NULL) {
		scope_set(c, svc->metadata->cluster, svc->metadata->namespace_,
		    svc->metadata->name);
	}
}

static void
scope_key(sf__srv_call *c, const Svcfleet__V1__ServiceKey *k)
{
	if (k != NULL) {
		scope_set(c, k->cluster, k->namespace_, k->name);
	}
}

#define SCOPE_FN(name, Type, body)                                           \
	static void scope_##name(sf__srv_call *c, const ProtobufCMessage *m) \
	{                                                                    \
		const Type *in = (const Type *) m;                           \
		body;                                                        \
	}

SCOPE_FN(
    create, Svcfleet__V1__CreateServiceRequest, scope_meta(c, in->service))
SCOPE_FN(
    update, Svcfleet__V1__UpdateServiceRequest, scope_meta(c, in->service))
SCOPE_FN(apply, Svcfleet__V1__ApplyServiceRequest, scope_meta(c, in->service))
SCOPE_FN(get, Svcfleet__V1__GetServiceRequest, scope_key(c, in->key))
SCOPE_FN(delete, Svcfleet__V1__DeleteServiceRequest, scope_key(c, in->key))
SCOPE_FN(report, Svcfleet__V1__ReportStatusRequest, scope_key(c, in->key))
SCOPE_FN(list, Svcfleet__V1__ListServicesRequest,
    scope_set(c, in->cluster, in->namespace_, NULL))
SCOPE_FN(watch, Svcfleet__V1__WatchServicesRequest,
    scope_set(c, in->cluster, in->namespace_, NULL))
SCOPE_FN(cl_register, Svcfleet__V1__RegisterClusterRequest,
    scope_set(c, in->cluster ? in->cluster->name : NULL, NULL, NULL))
SCOPE_FN(cl_update, Svcfleet__V1__UpdateClusterRequest,
    scope_set(c, in->cluster ? in->cluster->name : NULL, NULL, NULL))
SCOPE_FN(cl_get, Svcfleet__V1__GetClusterRequest,
    scope_set(c, in->name, NULL, NULL))
SCOPE_FN(cl_delete, Svcfleet__V1__DeleteClusterRequest,
    scope_set(c, in->name, NULL, NULL))
SCOPE_FN(cl_ns, Svcfleet__V1__ListNamespacesRequest,
    scope_set(c, in->cluster, NULL, NULL))
SCOPE_FN(cl_workloads, Svcfleet__V1__ListWorkloadsRequest,
    scope_set(c, in->cluster, in->namespace_, NULL))
SCOPE_FN(cl_pools, Svcfleet__V1__ListPoolsRequest,
    scope_set(c, in->cluster, NULL, NULL))
SCOPE_FN(cl_health, Svcfleet__V1__ReportClusterHealthRequest,
    scope_set(c, in->cluster, NULL, NULL))
SCOPE_FN(rb_create, Svcfleet__V1__CreateRoleBindingRequest,
    scope_set(c, in->binding ? in->binding->cluster : NULL,
        in->binding ? in->binding->namespace_ : NULL, NULL))
SCOPE_FN(rb_list, Svcfleet__V1__ListRoleBindingsRequest,
    scope_set(c, in->cluster, in->namespace_, NULL))
SCOPE_FN(audit, Svcfleet__V1__ListAuditEventsRequest,
    scope_set(c, in->cluster, in->namespace_, in->name))
// i19: history and rollback.
SCOPE_FN(
    history, Svcfleet__V1__GetServiceHistoryRequest, scope_key(c, in->key))
SCOPE_FN(drift, Svcfleet__V1__ReportDriftRequest, scope_key(c, in->key))
SCOPE_FN(rollback, Svcfleet__V1__RollbackServiceRequest, scope_key(c, in->key))

// FleetService (issue 18): no cluster, the namespace and name.
SCOPE_FN(fl_apply, Svcfleet__V1__ApplyFleetServiceRequest,
    scope_set(c, NULL,
        in->fleet_service && in->fleet_service->metadata
            ? in->fleet_service->metadata->namespace_
            : NULL,
        in->fleet_service && in->fleet_service->metadata
            ? in->fleet_service->metadata->name
            : NULL))
SCOPE_FN(fl_get, Svcfleet__V1__GetFleetServiceRequest,
    scope_set(c, NULL, in->key ? in->key->namespace_ : NULL,
        in->key ? in->key->name : NULL))
SCOPE_FN(fl_list, Svcfleet__V1__ListFleetServicesRequest,
    scope_set(c, NULL, in->namespace_, NULL))
SCOPE_FN(fl_delete, Svcfleet__V1__DeleteFleetServiceRequest,
    scope_set(c, NULL, in->key ? in->key->namespace_ : NULL,
        in->key ? in->key->name : NULL))
SCOPE_FN(
    fl_convert, Svcfleet__V1__ConvertServiceRequest, scope_key(c, in->key))

// The rows; sf__srv_methods_init copies them into the server's own table.
static const struct method_row {
	const char *path;
	const char *resource;
	const char *verb;
	int         flags;
	void (*scope)(sf__srv_call *, const ProtobufCMessage *);
} sf_method_table[] = {
    {SVC "CreateService", "services", "create",
        SF__SRV_M_WRITE | SF__SRV_M_INLINE, scope_create},
    {SVC "GetService", "services", "get", SF__SRV_M_INLINE, scope_get},
    {SVC "UpdateService", "services", "update",
        SF__SRV_M_WRITE | SF__SRV_M_INLINE, scope_update},
    {SVC "ApplyService", "services", "apply",
        SF__SRV_M_WRITE | SF__SRV_M_INLINE, scope_apply},
    {SVC "DeleteService", "services", "delete",
        SF__SRV_M_WRITE | SF__SRV_M_INLINE, scope_delete},
    {SVC "ListServices", "services", "list", 0, scope_list},
    {SVC "WatchServices", "services", "watch", SF__SRV_M_LONG, scope_watch},
    {SVC "ReportStatus", "services", "report",
        SF__SRV_M_WRITE | SF__SRV_M_INLINE, scope_report},
    // Reports for many clusters and namespaces: allowed at global scope
    // only (the reconciler role).
    {SVC "ReportStatuses", "services", "report",
        SF__SRV_M_WRITE | SF__SRV_M_INLINE, NULL},
    {CLU "RegisterCluster", "clusters", "create", SF__SRV_M_WRITE,
        scope_cl_register},
    {CLU "GetCluster", "clusters", "get", SF__SRV_M_INLINE, scope_cl_get},
    {CLU "ListClusters", "clusters", "list", 0, NULL},
    {CLU "UpdateCluster", "clusters", "update", SF__SRV_M_WRITE,
        scope_cl_update},
    {CLU "DeleteCluster", "clusters", "delete", SF__SRV_M_WRITE,
        scope_cl_delete},
    {CLU "ListNamespaces", "namespaces", "list", 0, scope_cl_ns},
    {CLU "ListWorkloads", "workloads", "list", 0, scope_cl_workloads},
    {CLU "ListPools", "pools", "list", 0, scope_cl_pools},
    {CLU "ReportClusterHealth", "clusters", "report", SF__SRV_M_WRITE,
        scope_cl_health},
    {ACC "CreateRoleBinding", "rolebindings", "create", SF__SRV_M_WRITE,
        scope_rb_create},
    {ACC "DeleteRoleBinding", "rolebindings", "delete",
        SF__SRV_M_WRITE | SF__SRV_M_SELF, NULL},
    {ACC "ListRoleBindings", "rolebindings", "list", 0, scope_rb_list},
    {ACC "CreateToken", "tokens", "create", SF__SRV_M_WRITE | SF__SRV_M_SELF,
        NULL},
    {ACC "RevokeToken", "tokens", "delete", SF__SRV_M_WRITE | SF__SRV_M_SELF,
        NULL},
    {ACC "ListTokens", "tokens", "list", SF__SRV_M_SELF, NULL},
    {ACC "WhoAmI", "self", "get", SF__SRV_M_SELF | SF__SRV_M_INLINE, NULL},
    {AUD "ListAuditEvents", "audit", "list", 0, scope_audit},
    {SYS "Version", "system", "get", SF__SRV_M_PUBLIC | SF__SRV_M_INLINE,
        NULL},
    {SYS "Health", "system", "get", SF__SRV_M_PUBLIC | SF__SRV_M_INLINE, NULL},
    // Reconciler claims (issue 16): reconcilers only, at global scope;
    // anyone who may list clusters sees who holds them.
    {CLU "RegisterReconciler", "clusters", "report", 0, NULL},
    {CLU "RenewReconciler", "clusters", "report", 0, NULL},
    {CLU "UnregisterReconciler", "clusters", "report", 0, NULL},
    {CLU "ListReconcilers", "clusters", "list", 0, NULL},
    // i19: history (readable by whoever may get the Service) and
    // rollback (a write of the spec: update).
    {SVC "GetServiceHistory", "services", "get", 0, scope_history},
    {SVC "RollbackService", "services", "update",
        SF__SRV_M_WRITE | SF__SRV_M_INLINE, scope_rollback},
    // A drift report: the reconciler's (report on services).
    {SVC "ReportDrift", "services", "report",
        SF__SRV_M_WRITE | SF__SRV_M_INLINE, scope_drift},
    // FleetService (issue 18): the handlers authorize, per placed cluster
    // (Services of the namespace in every cluster the object places onto).
    {FLT "ApplyFleetService", "services", "apply",
        SF__SRV_M_WRITE | SF__SRV_M_SELF, scope_fl_apply},
    {FLT "GetFleetService", "services", "get", SF__SRV_M_SELF, scope_fl_get},
    {FLT "ListFleetServices", "services", "list", SF__SRV_M_SELF,
        scope_fl_list},
    {FLT "DeleteFleetService", "services", "delete",
        SF__SRV_M_WRITE | SF__SRV_M_SELF, scope_fl_delete},
    {FLT "ConvertService", "services", "apply",
        SF__SRV_M_WRITE | SF__SRV_M_SELF, scope_fl_convert},
    {FLT "Addresses", "services", "list", SF__SRV_M_SELF, NULL},
};

#define NMETHODS (sizeof(sf_method_table) / sizeof(sf_method_table[0]))

static sf__srv_method *
row_for(sf_server *srv, const char *svcname, const char *method)
{
	char path[256];
	snprintf(path, sizeof(path), "/%s/%s", svcname, method);
	for (size_t i = 0; i < srv->s_nmethods; i++) {
		if (strcmp(srv->s_methods[i].m_path, path) == 0) {
			return (&srv->s_methods[i]);
		}
	}
	return (NULL);
}

int
sf__srv_methods_init(sf_server *srv, sf_status *st)
{
	ProtobufCService *services[] = {
	    &srv->s_svcmgr.base, &srv->s_clusters.base, &srv->s_access.base,
	    &srv->s_audit.base, &srv->s_system.base,
	    &srv->s_fleet.base, // FleetService (issue 18)
	};

	srv->s_methods = calloc(NMETHODS, sizeof(sf__srv_method));
	if (srv->s_methods == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	srv->s_nmethods = NMETHODS;
	for (size_t i = 0; i < NMETHODS; i++) {
		sf__srv_method *m = &srv->s_methods[i];
		m->m_path         = sf_method_table[i].path;
		m->m_resource     = sf_method_table[i].resource;
		m->m_verb         = sf_method_table[i].verb;
		m->m_flags        = sf_method_table[i].flags;
		m->m_scope        = sf_method_table[i].scope;
	}
	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++) {
		const ProtobufCServiceDescriptor *sd = services[s]->descriptor;
		for (unsigned i = 0; i < sd->n_methods; i++) {
			sf__srv_method *m
			    = row_for(srv, sd->name, sd->methods[i].name);
			if (m == NULL) {
				return (sf_status_set(st, SF_INTERNAL,
				    "method /%s/%s has no row in the method "
				    "table",
				    sd->name, sd->methods[i].name));
			}
			m->m_sdesc   = sd;
			m->m_mdesc   = &sd->methods[i];
			m->m_service = services[s];
			m->m_index   = i;
		}
	}
	for (size_t i = 0; i < NMETHODS; i++) {
		if (srv->s_methods[i].m_mdesc == NULL) {
			return (sf_status_set(st, SF_INTERNAL,
			    "method table row %s is not declared in "
			    "svcfleet.proto",
			    srv->s_methods[i].m_path));
		}
	}
	return (0);
}

void
sf__srv_methods_fini(sf_server *srv)
{
	free(srv->s_methods);
	srv->s_methods  = NULL;
	srv->s_nmethods = 0;
}

const sf__srv_method *
sf__srv_methods_find(sf_server *srv, const char *path)
{
	// A linear scan over ~30 rows is as fast as a hash here and keeps
	// the table the only source of truth.
	if (path == NULL) {
		return (NULL);
	}
	for (size_t i = 0; i < srv->s_nmethods; i++) {
		if (strcmp(srv->s_methods[i].m_path, path) == 0) {
			return (&srv->s_methods[i]);
		}
	}
	return (NULL);
}
