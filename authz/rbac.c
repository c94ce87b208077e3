// rbac.c: the permission matrix and the grant rules.
#include "rbac.h"

#include <stdio.h>
#include <string.h>

typedef enum scope_kind {
	SCOPE_GLOBAL,    // admin, reconciler: no cluster, no namespace
	SCOPE_CLUSTER,   // cluster-admin: one cluster
	SCOPE_NAMESPACE, // ns-*: one namespace of one cluster
} scope_kind;

static const struct role_def {
	const char *name;
	scope_kind  scope;
} role_defs[] = {
    {"admin", SCOPE_GLOBAL},
    {"cluster-admin", SCOPE_CLUSTER},
    {"ns-admin", SCOPE_NAMESPACE},
    {"ns-edit", SCOPE_NAMESPACE},
    {"ns-view", SCOPE_NAMESPACE},
    {"reconciler", SCOPE_GLOBAL},
};

const char *const sf_rbac_roles[] = {
    "admin", "cluster-admin", "ns-admin", "ns-edit", "ns-view", "reconciler"};
const size_t sf_rbac_nroles = 6;

// The permission matrix: what each role may do to each resource, within
// its scope. "*" matches every resource or verb. Verbs are the method
// table's (server/methods.c); apply needs no separate row: it is granted
// with create and update.
static const struct perm {
	const char *role;
	const char *resource;
	const char *verbs; // space-separated
} perms[] = {
    {"admin", "*", "*"},

    {"cluster-admin", "services", "get list watch create update apply delete"},
    {"cluster-admin", "rolebindings", "get list create delete"},
    {"cluster-admin", "clusters", "get list"},
    {"cluster-admin", "namespaces", "list"},
    {"cluster-admin", "workloads", "list"},
    {"cluster-admin", "pools", "list"},
    {"cluster-admin", "audit", "get list"},

    {"ns-admin", "services", "get list watch create update apply delete"},
    {"ns-admin", "rolebindings", "get list create delete"},
    {"ns-admin", "clusters", "get list"},
    {"ns-admin", "namespaces", "list"},
    {"ns-admin", "workloads", "list"},
    {"ns-admin", "pools", "list"},
    {"ns-admin", "audit", "get list"},

    {"ns-edit", "services", "get list watch create update apply delete"},
    {"ns-edit", "clusters", "get list"},
    {"ns-edit", "namespaces", "list"},
    {"ns-edit", "workloads", "list"},
    {"ns-edit", "pools", "list"},
    {"ns-edit", "audit", "get list"},

    {"ns-view", "services", "get list watch"},
    {"ns-view", "clusters", "get list"},
    {"ns-view", "namespaces", "list"},
    {"ns-view", "workloads", "list"},
    {"ns-view", "pools", "list"},
    {"ns-view", "audit", "get list"},

    {"reconciler", "services", "get list watch report"},
    {"reconciler", "clusters", "get list report"},
    {"reconciler", "credentials", "get"},
    {"reconciler", "namespaces", "list"},
    {"reconciler", "workloads", "list"},
    {"reconciler", "pools", "list"},
};

static const struct role_def *
role_find(const char *name)
{
	for (size_t i = 0; i < sizeof(role_defs) / sizeof(role_defs[0]); i++) {
		if (strcmp(role_defs[i].name, name) == 0) {
			return (&role_defs[i]);
		}
	}
	return (NULL);
}

static const char *
s(const char *p)
{
	return (p != NULL ? p : "");
}

// Is word a member of the space-separated list (or is the list "*")?
static bool
listed(const char *list, const char *word)
{
	size_t n = strlen(word);
	if (strcmp(list, "*") == 0) {
		return (true);
	}
	for (const char *p = list; *p != '\0';) {
		const char *e = strchr(p, ' ');
		size_t      k = e != NULL ? (size_t) (e - p) : strlen(p);
		if (k == n && strncmp(p, word, n) == 0) {
			return (true);
		}
		p += k;
		while (*p == ' ') {
			p++;
		}
	}
	return (false);
}

static bool
role_can(const char *role, const char *resource, const char *verb)
{
	for (size_t i = 0; i < sizeof(perms) / sizeof(perms[0]); i++) {
		if (strcmp(perms[i].role, role) == 0
		    && (strcmp(perms[i].resource, "*") == 0
		        || strcmp(perms[i].resource, resource) == 0)
		    && listed(perms[i].verbs, verb)) {
			return (true);
		}
	}
	return (false);
}

bool
sf_rbac_binding_applies(
    const sf_principal *p, const Svcfleet__V1__RoleBinding *b)
{
	if (s(b->user)[0] != '\0') {
		return (strcmp(b->user, s(p->p_user)) == 0);
	}
	if (s(b->group)[0] != '\0') {
		for (size_t i = 0; i < p->p_ngroups; i++) {
			if (strcmp(b->group, p->p_groups[i]) == 0) {
				return (true);
			}
		}
	}
	return (false);
}

// Resources that belong to a cluster as a whole, not to a namespace.
static bool
cluster_level(const char *resource)
{
	return (strcmp(resource, "clusters") == 0
	    || strcmp(resource, "namespaces") == 0
	    || strcmp(resource, "pools") == 0
	    || strcmp(resource, "credentials") == 0);
}

// Does binding b's scope cover the request scope (cluster, ns)? For list
// and watch an empty cluster or namespace means "across them": covered by
// any binding that could return something, and the handler filters item
// by item. A cluster-level resource is covered by any binding in the
// cluster. Everything else needs its exact scope.
static bool
scope_covers(const Svcfleet__V1__RoleBinding *b, const char *resource,
    const char *verb, const char *cluster, const char *ns)
{
	const struct role_def *r = role_find(s(b->role));
	bool across = strcmp(verb, "list") == 0 || strcmp(verb, "watch") == 0;

	if (r == NULL) {
		return (false);
	}
	if (r->scope == SCOPE_GLOBAL) {
		return (true);
	}
	if (cluster[0] == '\0') {
		return (across);
	}
	if (strcmp(s(b->cluster), cluster) != 0) {
		return (false);
	}
	if (r->scope == SCOPE_CLUSTER || cluster_level(resource)) {
		return (true);
	}
	return (ns[0] == '\0' ? across : strcmp(s(b->namespace_), ns) == 0);
}

bool
sf_rbac_allowed(const sf_principal *p, const char *resource, const char *verb,
    const char *cluster, const char *ns, sf_status *st)
{
	cluster = s(cluster);
	ns      = s(ns);
	for (size_t i = 0; i < p->p_nbindings; i++) {
		const Svcfleet__V1__RoleBinding *b = p->p_bindings[i];
		if (!sf_rbac_binding_applies(p, b)
		    || !scope_covers(b, resource, verb, cluster, ns)) {
			continue;
		}
		if (strcmp(verb, "apply") == 0
		        ? role_can(b->role, resource, "create")
		            && role_can(b->role, resource, "update")
		        : role_can(b->role, resource, verb)) {
			return (true);
		}
	}
	if (st != NULL) {
		if (ns[0] != '\0') {
			sf_status_set(st, SF_PERMISSION_DENIED,
			    "user \"%s\" cannot %s %s in namespace \"%s\" of "
			    "cluster \"%s\"",
			    s(p->p_user), verb, resource, ns, cluster);
		} else if (cluster[0] != '\0') {
			sf_status_set(st, SF_PERMISSION_DENIED,
			    "user \"%s\" cannot %s %s in cluster \"%s\"",
			    s(p->p_user), verb, resource, cluster);
		} else {
			sf_status_set(st, SF_PERMISSION_DENIED,
			    "user \"%s\" cannot %s %s", s(p->p_user), verb,
			    resource);
		}
	}
	return (false);
}

bool
sf_rbac_sees_cluster(const sf_principal *p, const char *cluster)
{
	for (size_t i = 0; i < p->p_nbindings; i++) {
		const Svcfleet__V1__RoleBinding *b = p->p_bindings[i];
		const struct role_def           *r = role_find(s(b->role));
		if (r != NULL && sf_rbac_binding_applies(p, b)
		    && (r->scope == SCOPE_GLOBAL
		        || strcmp(s(b->cluster), cluster) == 0)) {
			return (true);
		}
	}
	return (false);
}

bool
sf_rbac_has_global(const sf_principal *p, const char *role)
{
	for (size_t i = 0; i < p->p_nbindings; i++) {
		const Svcfleet__V1__RoleBinding *b = p->p_bindings[i];
		if (strcmp(s(b->role), role) == 0
		    && sf_rbac_binding_applies(p, b)) {
			return (true);
		}
	}
	return (false);
}

int
sf_rbac_validate_binding(const Svcfleet__V1__RoleBinding *b, sf_status *st)
{
	const struct role_def *r        = role_find(s(b->role));
	bool                   has_user = s(b->user)[0] != '\0',
	     has_group                  = s(b->group)[0] != '\0';

	if (s(b->role)[0] == '\0') {
		sf_status_violation(
		    st, SF_V_REQUIRED, "role", "Required value");
	} else if (r == NULL) {
		sf_status_violation(st, SF_V_NOT_SUPPORTED, "role",
		    "Unsupported value: \"%s\": supported values: \"admin\", "
		    "\"cluster-admin\", \"ns-admin\", \"ns-edit\", "
		    "\"ns-view\", "
		    "\"reconciler\"",
		    b->role);
	}
	if (has_user == has_group) {
		sf_status_violation(st, SF_V_REQUIRED,
		    has_user ? "group" : "user",
		    has_user ? "Forbidden: give a user or a group, not both"
		             : "Required value: a user or a group");
	}
	if (r != NULL) {
		bool has_c = s(b->cluster)[0] != '\0';
		bool has_n = s(b->namespace_)[0] != '\0';
		if (r->scope == SCOPE_GLOBAL && (has_c || has_n)) {
			sf_status_violation(st, SF_V_FORBIDDEN,
			    has_c ? "cluster" : "namespace",
			    "Forbidden: role %s applies everywhere; cluster "
			    "and namespace must be empty",
			    r->name);
		}
		if (r->scope != SCOPE_GLOBAL && !has_c) {
			sf_status_violation(st, SF_V_REQUIRED, "cluster",
			    "Required value: role %s is bound to a cluster",
			    r->name);
		}
		if (r->scope == SCOPE_CLUSTER && has_n) {
			sf_status_violation(st, SF_V_FORBIDDEN, "namespace",
			    "Forbidden: role %s covers the whole cluster; "
			    "namespace must be empty",
			    r->name);
		}
		if (r->scope == SCOPE_NAMESPACE && !has_n) {
			sf_status_violation(st, SF_V_REQUIRED, "namespace",
			    "Required value: role %s is bound to a namespace",
			    r->name);
		}
	}
	if (st->st_nviol > 0) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "invalid role binding: %s: %s", st->st_viol[0].v_field,
		    st->st_viol[0].v_reason));
	}
	return (0);
}

int
sf_rbac_may_grant(
    const sf_principal *p, const Svcfleet__V1__RoleBinding *b, sf_status *st)
{
	const char *role = s(b->role), *cl = s(b->cluster);
	const char *ns = s(b->namespace_);
	bool        ns_role
	    = strcmp(role, "ns-edit") == 0 || strcmp(role, "ns-view") == 0;

	if (sf_rbac_has_global(p, "admin")) {
		return (0);
	}
	for (size_t i = 0; i < p->p_nbindings; i++) {
		const Svcfleet__V1__RoleBinding *h = p->p_bindings[i];
		if (!sf_rbac_binding_applies(p, h)
		    || strcmp(s(h->cluster), cl) != 0) {
			continue;
		}
		if (strcmp(s(h->role), "cluster-admin") == 0
		    && (strcmp(role, "cluster-admin") == 0
		        || strcmp(role, "ns-admin") == 0 || ns_role)) {
			return (0);
		}
		if (strcmp(s(h->role), "ns-admin") == 0 && ns_role
		    && strcmp(s(h->namespace_), ns) == 0) {
			return (0);
		}
	}
	if (ns[0] != '\0') {
		return (sf_status_set(st, SF_PERMISSION_DENIED,
		    "user \"%s\" cannot grant role %s in namespace \"%s\" of "
		    "cluster \"%s\"",
		    s(p->p_user), role, ns, cl));
	}
	if (cl[0] != '\0') {
		return (sf_status_set(st, SF_PERMISSION_DENIED,
		    "user \"%s\" cannot grant role %s in cluster \"%s\"",
		    s(p->p_user), role, cl));
	}
	return (sf_status_set(st, SF_PERMISSION_DENIED,
	    "user \"%s\" cannot grant role %s: only admin can", s(p->p_user),
	    role));
}
