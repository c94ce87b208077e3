// rbac.c: the role table, the permission matrix and the grant rules
// (rbac.h).
#include "rbac.h"

#include <stdio.h>
#include <string.h>

#include "str.h"

// The role table (rbac.h): name, scope, and the roles its holders may
// grant within their binding's scope.
const sf_rbac_role sf_rbac_roles[] = {
    {"admin", SF_RBAC_GLOBAL, "*"},
    {"cluster-admin", SF_RBAC_CLUSTER,
        "cluster-admin ns-admin ns-edit ns-view"},
    {"ns-admin", SF_RBAC_NAMESPACE, "ns-edit ns-view"},
    {"ns-edit", SF_RBAC_NAMESPACE, ""},
    {"ns-view", SF_RBAC_NAMESPACE, ""},
    {"reconciler", SF_RBAC_GLOBAL, ""},
};
const size_t sf_rbac_nroles = sizeof(sf_rbac_roles) / sizeof(sf_rbac_roles[0]);

// Resources: name, of a cluster as a whole, held by the reconciler only.
const sf_rbac_resource sf_rbac_resources[] = {
    {"services", false, false},
    {"namespaces", true, false},
    {"workloads", false, false},
    {"pools", true, false},
    {"audit", false, false},
    {"rolebindings", false, false},
    {"clusters", true, false},
    {"credentials", true, true},
};
const size_t sf_rbac_nresources
    = sizeof(sf_rbac_resources) / sizeof(sf_rbac_resources[0]);

// Verbs: name, reads across clusters or namespaces, the reconciler's only.
const sf_rbac_verb sf_rbac_verbs[] = {
    {"get", false, false},
    {"list", true, false},
    {"watch", true, false},
    {"create", false, false},
    {"update", false, false},
    {"apply", false, false},
    {"delete", false, false},
    {"report", false, true},
};
const size_t sf_rbac_nverbs = sizeof(sf_rbac_verbs) / sizeof(sf_rbac_verbs[0]);

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

static const sf_rbac_role *
role_find(const char *name)
{
	for (size_t i = 0; i < sf_rbac_nroles; i++) {
		if (strcmp(sf_rbac_roles[i].r_name, name) == 0) {
			return (&sf_rbac_roles[i]);
		}
	}
	return (NULL);
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
	if (sf_nz(b->user)[0] != '\0') {
		return (strcmp(b->user, sf_nz(p->p_user)) == 0);
	}
	if (sf_nz(b->group)[0] != '\0') {
		for (size_t i = 0; i < p->p_ngroups; i++) {
			if (strcmp(b->group, p->p_groups[i]) == 0) {
				return (true);
			}
		}
	}
	return (false);
}

// Resources of a cluster as a whole, and verbs that read across clusters
// or namespaces (rbac.h). Words the tables do not know are neither.
static bool
cluster_level(const char *resource)
{
	for (size_t i = 0; i < sf_rbac_nresources; i++) {
		if (strcmp(sf_rbac_resources[i].rs_name, resource) == 0) {
			return (sf_rbac_resources[i].rs_cluster);
		}
	}
	return (false);
}

static bool
reads_across(const char *verb)
{
	for (size_t i = 0; i < sf_rbac_nverbs; i++) {
		if (strcmp(sf_rbac_verbs[i].v_name, verb) == 0) {
			return (sf_rbac_verbs[i].v_across);
		}
	}
	return (false);
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
	const sf_rbac_role *r      = role_find(sf_nz(b->role));
	bool                across = reads_across(verb);

	if (r == NULL) {
		return (false);
	}
	if (r->r_scope == SF_RBAC_GLOBAL) {
		return (true);
	}
	if (cluster[0] == '\0') {
		return (across);
	}
	if (strcmp(sf_nz(b->cluster), cluster) != 0) {
		return (false);
	}
	if (r->r_scope == SF_RBAC_CLUSTER || cluster_level(resource)) {
		return (true);
	}
	return (
	    ns[0] == '\0' ? across : strcmp(sf_nz(b->namespace_), ns) == 0);
}

bool
sf_rbac_allowed(const sf_principal *p, const char *resource, const char *verb,
    const char *cluster, const char *ns, sf_status *st)
{
	cluster = sf_nz(cluster);
	ns      = sf_nz(ns);
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
			    sf_nz(p->p_user), verb, resource, ns, cluster);
		} else if (cluster[0] != '\0') {
			sf_status_set(st, SF_PERMISSION_DENIED,
			    "user \"%s\" cannot %s %s in cluster \"%s\"",
			    sf_nz(p->p_user), verb, resource, cluster);
		} else {
			sf_status_set(st, SF_PERMISSION_DENIED,
			    "user \"%s\" cannot %s %s", sf_nz(p->p_user), verb,
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
		const sf_rbac_role              *r = role_find(sf_nz(b->role));
		if (r != NULL && sf_rbac_binding_applies(p, b)
		    && (r->r_scope == SF_RBAC_GLOBAL
		        || strcmp(sf_nz(b->cluster), cluster) == 0)) {
			return (true);
		}
	}
	return (false);
}

bool
sf_rbac_has_global(const sf_principal *p, const char *role)
{
	const sf_rbac_role *r = role_find(role);

	if (r == NULL || r->r_scope != SF_RBAC_GLOBAL) {
		return (false);
	}
	for (size_t i = 0; i < p->p_nbindings; i++) {
		const Svcfleet__V1__RoleBinding *b = p->p_bindings[i];
		if (strcmp(sf_nz(b->role), role) == 0
		    && sf_rbac_binding_applies(p, b)) {
			return (true);
		}
	}
	return (false);
}

// Writes the role table's names, quoted and separated by ", ", into buf.
static void
role_names(char *buf, size_t cap)
{
	size_t n = 0;
	buf[0]   = '\0';
	for (size_t i = 0; i < sf_rbac_nroles && n < cap; i++) {
		n += (size_t) snprintf(buf + n, cap - n, "%s\"%s\"",
		    i > 0 ? ", " : "", sf_rbac_roles[i].r_name);
	}
}

int
sf_rbac_validate_binding(const Svcfleet__V1__RoleBinding *b, sf_status *st)
{
	const sf_rbac_role *r         = role_find(sf_nz(b->role));
	bool                has_user  = sf_nz(b->user)[0] != '\0';
	bool                has_group = sf_nz(b->group)[0] != '\0';

	if (sf_nz(b->role)[0] == '\0') {
		sf_status_violation(
		    st, SF_V_REQUIRED, "role", "Required value");
	} else if (r == NULL) {
		char names[256];
		role_names(names, sizeof(names));
		sf_status_violation(st, SF_V_NOT_SUPPORTED, "role",
		    "Unsupported value: \"%s\": supported values: %s", b->role,
		    names);
	}
	if (has_user == has_group) {
		sf_status_violation(st, SF_V_REQUIRED,
		    has_user ? "group" : "user",
		    has_user ? "Forbidden: give a user or a group, not both"
		             : "Required value: a user or a group");
	}
	if (r != NULL) {
		bool has_c = sf_nz(b->cluster)[0] != '\0';
		bool has_n = sf_nz(b->namespace_)[0] != '\0';
		if (r->r_scope == SF_RBAC_GLOBAL && (has_c || has_n)) {
			sf_status_violation(st, SF_V_FORBIDDEN,
			    has_c ? "cluster" : "namespace",
			    "Forbidden: role %s applies everywhere; cluster "
			    "and namespace must be empty",
			    r->r_name);
		}
		if (r->r_scope != SF_RBAC_GLOBAL && !has_c) {
			sf_status_violation(st, SF_V_REQUIRED, "cluster",
			    "Required value: role %s is bound to a cluster",
			    r->r_name);
		}
		if (r->r_scope == SF_RBAC_CLUSTER && has_n) {
			sf_status_violation(st, SF_V_FORBIDDEN, "namespace",
			    "Forbidden: role %s covers the whole cluster; "
			    "namespace must be empty",
			    r->r_name);
		}
		if (r->r_scope == SF_RBAC_NAMESPACE && !has_n) {
			sf_status_violation(st, SF_V_REQUIRED, "namespace",
			    "Required value: role %s is bound to a namespace",
			    r->r_name);
		}
	}
	if (st->st_nviol > 0) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "invalid role binding: %s: %s", st->st_viol[0].v_field,
		    st->st_viol[0].v_reason));
	}
	return (0);
}

// May the holder of binding h grant binding b? When h's role lists b's
// role among those it grants and h's scope covers b's: everywhere, the
// same cluster, or the same namespace of the same cluster.
static bool
grants(const Svcfleet__V1__RoleBinding *h, const Svcfleet__V1__RoleBinding *b)
{
	const sf_rbac_role *r = role_find(sf_nz(h->role));

	if (r == NULL || !listed(r->r_grants, sf_nz(b->role))) {
		return (false);
	}
	switch (r->r_scope) {
	case SF_RBAC_GLOBAL:
		return (true);
	case SF_RBAC_CLUSTER:
		return (strcmp(sf_nz(h->cluster), sf_nz(b->cluster)) == 0);
	case SF_RBAC_NAMESPACE:
		return (strcmp(sf_nz(h->cluster), sf_nz(b->cluster)) == 0
		    && strcmp(sf_nz(h->namespace_), sf_nz(b->namespace_))
		        == 0);
	}
	return (false);
}

int
sf_rbac_may_grant(
    const sf_principal *p, const Svcfleet__V1__RoleBinding *b, sf_status *st)
{
	const char *role = sf_nz(b->role), *cl = sf_nz(b->cluster);
	const char *ns = sf_nz(b->namespace_);

	for (size_t i = 0; i < p->p_nbindings; i++) {
		const Svcfleet__V1__RoleBinding *h = p->p_bindings[i];
		if (sf_rbac_binding_applies(p, h) && grants(h, b)) {
			return (0);
		}
	}
	if (ns[0] != '\0') {
		return (sf_status_set(st, SF_PERMISSION_DENIED,
		    "user \"%s\" cannot grant role %s in namespace \"%s\" of "
		    "cluster \"%s\"",
		    sf_nz(p->p_user), role, ns, cl));
	}
	if (cl[0] != '\0') {
		return (sf_status_set(st, SF_PERMISSION_DENIED,
		    "user \"%s\" cannot grant role %s in cluster \"%s\"",
		    sf_nz(p->p_user), role, cl));
	}
	return (sf_status_set(st, SF_PERMISSION_DENIED,
	    "user \"%s\" cannot grant role %s: only admin can",
	    sf_nz(p->p_user), role));
}
