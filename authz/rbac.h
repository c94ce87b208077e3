// rbac.h: roles, bindings, the permission matrix and the grant rules
// (DESIGN §4).
//
// A caller is a user with groups. Role bindings give a role to a user or a
// group at a scope: everything (admin, reconciler), one cluster
// (cluster-admin) or one namespace of one cluster (ns-admin, ns-edit,
// ns-view). Every RPC method names a resource and a verb (server/methods.c)
// and acts at a scope (cluster, namespace); sf_rbac_allowed decides from
// the permission matrix, sf_rbac_may_grant from the role table. Pure
// functions over constant tables: no I/O, no locks, no state.
#ifndef SF_AUTHZ_RBAC_H
#define SF_AUTHZ_RBAC_H

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

// Where a role applies: a binding of it names no cluster and no namespace
// (everywhere), a cluster, or a namespace of a cluster.
typedef enum sf_rbac_scope {
	SF_RBAC_GLOBAL,
	SF_RBAC_CLUSTER,
	SF_RBAC_NAMESPACE,
} sf_rbac_scope;

// One role. The role table is the vocabulary: the names bindings may use,
// the message that lists them, and the grant rules all come from it.
typedef struct sf_rbac_role {
	const char   *r_name;
	sf_rbac_scope r_scope;
	// The roles a holder may grant (and take away) within the scope of
	// its own binding: space-separated names, "*" for every role, ""
	// for none.
	const char *r_grants;
} sf_rbac_role;

// The roles, in the order of DESIGN §4.
extern const sf_rbac_role sf_rbac_roles[];
extern const size_t       sf_rbac_nroles;

// The resources and verbs the matrix names (server/methods.c gives each
// method one of each), in the order a rules review lists them. Those
// marked system are held by the reconciler role alone (a cluster's
// credentials, reporting status): a rules review shown to people (the
// gateway's SelfSubjectRulesReview) leaves them out.
typedef struct sf_rbac_resource {
	const char *rs_name;
	// Of a cluster as a whole, not of a namespace: any binding in the
	// cluster covers a request for it.
	bool rs_cluster;
	bool rs_system;
} sf_rbac_resource;

typedef struct sf_rbac_verb {
	const char *v_name;
	// Reads across clusters or namespaces (list, watch): an empty
	// cluster or namespace in the request means "every one the caller
	// may read", and the handler filters item by item.
	bool v_across;
	bool v_system;
} sf_rbac_verb;

extern const sf_rbac_resource sf_rbac_resources[];
extern const size_t           sf_rbac_nresources;
extern const sf_rbac_verb     sf_rbac_verbs[];
extern const size_t           sf_rbac_nverbs;

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

// sf_rbac_may_grant: may p create (or delete) binding b? Yes when one of
// p's bindings is of a role whose r_grants names b's role and its scope
// covers b's: admin grants anything; cluster-admin grants cluster-admin
// and ns-* in its cluster; ns-admin grants ns-edit and ns-view in its
// namespace. Returns 0 or SF_PERMISSION_DENIED with a message.
int sf_rbac_may_grant(
    const sf_principal *p, const Svcfleet__V1__RoleBinding *b, sf_status *st);

// sf_rbac_has_global: does p hold role, a role of SF_RBAC_GLOBAL scope
// (admin, reconciler)? false for any other role.
bool sf_rbac_has_global(const sf_principal *p, const char *role);

#endif // SF_AUTHZ_RBAC_H
