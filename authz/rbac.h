// rbac.h: roles, bindings and the permission matrix (DESIGN §4).
//
// A caller is a user with groups. Role bindings give a role to a user or a
// group at a scope: everything (admin, reconciler), one cluster
// (cluster-admin) or one namespace of one cluster (ns-admin, ns-edit,
// ns-view). Every RPC method names a resource and a verb (server/methods.c)
// and acts at a scope (cluster, namespace); sf_rbac_allowed decides from
// one table, sf_rbac_may_grant decides who may hand out which binding.
// Pure functions: no I/O, no locks.
#ifndef SF_SERVER_RBAC_H
#define SF_SERVER_RBAC_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"
#include "svcfleet.pb-c.h"

typedef struct sf_principal {
	const char        *p_user;
	const char *const *p_groups;
	size_t             p_ngroups;
	// The bindings that could apply (all of them is fine; the ones for
	// other users and groups are skipped).
	Svcfleet__V1__RoleBinding *const *p_bindings;
	size_t                            p_nbindings;
} sf_principal;

// The roles, in the order of DESIGN §4.
extern const char *const sf_rbac_roles[];
extern const size_t      sf_rbac_nroles;

// sf_rbac_binding_applies: does binding b name this principal?
bool sf_rbac_binding_applies(
    const sf_principal *p, const Svcfleet__V1__RoleBinding *b);

// sf_rbac_allowed: may p do verb on resource at (cluster, ns)? cluster
// and ns may be "" for requests that are not scoped (listing clusters,
// tokens). For a cluster-scoped request (ns == ""), a namespace role in
// that cluster allows only reading cluster-level facts (clusters,
// namespaces, pools). On denial, when st is not NULL, it is set to
// PERMISSION_DENIED with a Kubernetes-style sentence:
//   user "alice" cannot create services in namespace "prod" of cluster
//   "east"
bool sf_rbac_allowed(const sf_principal *p, const char *resource,
    const char *verb, const char *cluster, const char *ns, sf_status *st);

// sf_rbac_sees_cluster: does p hold any binding that covers cluster (so
// it may see that the cluster exists)?
bool sf_rbac_sees_cluster(const sf_principal *p, const char *cluster);

// sf_rbac_validate_binding checks a binding's shape: a known role, exactly
// one of user and group, and the scope the role takes. Returns 0 or
// SF_INVALID_ARGUMENT with violations.
int sf_rbac_validate_binding(
    const Svcfleet__V1__RoleBinding *b, sf_status *st);

// sf_rbac_may_grant: may p create (or delete) binding b? admin grants
// anything; cluster-admin grants cluster-admin and ns-* in its cluster;
// ns-admin grants ns-edit and ns-view in its namespace. Returns 0 or
// SF_PERMISSION_DENIED with a message.
int sf_rbac_may_grant(
    const sf_principal *p, const Svcfleet__V1__RoleBinding *b, sf_status *st);

// sf_rbac_is_global: does p hold role (admin or reconciler) globally?
bool sf_rbac_has_global(const sf_principal *p, const char *role);

#endif // SF_SERVER_RBAC_H
