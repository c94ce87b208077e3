// methods.c: the method table. One row per RPC method: its path, what it
// acts on for authorization, and how it is admitted. The handlers
// themselves are found through the generated service structs, and every
// method the proto declares must have exactly one row here.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SVC "/svcfleet.v1.ServiceManager/"
#define CLU "/svcfleet.v1.ClusterRegistry/"
#define ACC "/svcfleet.v1.AccessControl/"
#define AUD "/svcfleet.v1.Audit/"
#define SYS "/svcfleet.v1.System/"

// The rows; sf_methods_init copies them into the server's own table.
static const struct method_row {
	const char *path;
	const char *resource;
	const char *verb;
	int         flags;
} sf_method_table[] = {
    {SVC "CreateService", "services", "create", SF_M_WRITE},
    {SVC "GetService", "services", "get", 0},
    {SVC "UpdateService", "services", "update", SF_M_WRITE},
    {SVC "ApplyService", "services", "apply", SF_M_WRITE},
    {SVC "DeleteService", "services", "delete", SF_M_WRITE},
    {SVC "ListServices", "services", "list", 0},
    {SVC "WatchServices", "services", "watch", SF_M_LONG},
    {SVC "ReportStatus", "services", "report", SF_M_WRITE},
    {CLU "RegisterCluster", "clusters", "create", SF_M_WRITE},
    {CLU "GetCluster", "clusters", "get", 0},
    {CLU "ListClusters", "clusters", "list", 0},
    {CLU "UpdateCluster", "clusters", "update", SF_M_WRITE},
    {CLU "DeleteCluster", "clusters", "delete", SF_M_WRITE},
    {CLU "ListNamespaces", "namespaces", "list", 0},
    {CLU "ListWorkloads", "workloads", "list", 0},
    {CLU "ListPools", "pools", "list", 0},
    {CLU "ReportClusterHealth", "clusters", "report", SF_M_WRITE},
    {ACC "CreateRoleBinding", "rolebindings", "create", SF_M_WRITE},
    {ACC "DeleteRoleBinding", "rolebindings", "delete", SF_M_WRITE},
    {ACC "ListRoleBindings", "rolebindings", "list", 0},
    {ACC "CreateToken", "tokens", "create", SF_M_WRITE},
    {ACC "RevokeToken", "tokens", "delete", SF_M_WRITE},
    {ACC "ListTokens", "tokens", "list", 0},
    {ACC "WhoAmI", "self", "get", 0},
    {AUD "ListAuditEvents", "audit", "list", 0},
    {SYS "Version", "system", "get", SF_M_PUBLIC},
    {SYS "Health", "system", "get", SF_M_PUBLIC},
};

#define NMETHODS (sizeof(sf_method_table) / sizeof(sf_method_table[0]))

static sf_method *
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
sf_methods_init(sf_server *srv, sf_status *st)
{
	ProtobufCService *services[] = {
	    &srv->s_svcmgr.base,
	    &srv->s_clusters.base,
	    &srv->s_access.base,
	    &srv->s_audit.base,
	    &srv->s_system.base,
	};

	srv->s_methods = calloc(NMETHODS, sizeof(sf_method));
	if (srv->s_methods == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	srv->s_nmethods = NMETHODS;
	for (size_t i = 0; i < NMETHODS; i++) {
		sf_method *m  = &srv->s_methods[i];
		m->m_path     = sf_method_table[i].path;
		m->m_resource = sf_method_table[i].resource;
		m->m_verb     = sf_method_table[i].verb;
		m->m_flags    = sf_method_table[i].flags;
	}
	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++) {
		const ProtobufCServiceDescriptor *sd = services[s]->descriptor;
		for (unsigned i = 0; i < sd->n_methods; i++) {
			sf_method *m
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
sf_methods_fini(sf_server *srv)
{
	free(srv->s_methods);
	srv->s_methods  = NULL;
	srv->s_nmethods = 0;
}

const sf_method *
sf_methods_find(sf_server *srv, const char *path)
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
