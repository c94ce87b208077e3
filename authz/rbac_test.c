// rbac_test.c: the whole permission matrix and the grant rules, cell by
// cell. For every role (bound to a user, then to one of the user's
// groups, at the scope the role takes: everywhere, cluster c1, or namespace
// n1 of c1) it asks sf_rbac_allowed for every resource and verb at six
// request scopes, and compares the answers with the table below; for
// every role a holder has, it asks sf_rbac_may_grant about a binding of
// every role at six scopes. Any cell that changes fails the test and is
// named. The tables were written from DESIGN §4 and the behaviour before
// the role table (issue 14). SF_RBAC_TEST_PRINT=1 prints both tables as
// the code answers them: paste them here only after checking each changed
// cell against DESIGN §4.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rbac.h"

// The request scopes, as (cluster, namespace) of the call. Bindings in
// this test are at c1 or c1/n1 (or everywhere).
#define NSCOPES 6
static const struct scope {
	const char *cluster;
	const char *ns;
	const char *label;
} scopes[NSCOPES] = {
    {"", "", "-/-"},       // unscoped: across every cluster
    {"c1", "", "c1/-"},    // the binding's cluster as a whole
    {"c1", "n1", "c1/n1"}, // the binding's namespace
    {"c1", "n2", "c1/n2"}, // another namespace of its cluster
    {"c2", "", "c2/-"},    // another cluster
    {"c2", "n1", "c2/n1"}, // the same namespace name in another cluster
};

// The roles, in DESIGN §4's order; the library's table must list exactly
// these (test_vocabulary), so a role added there needs its cells here.
static const char *const roles[] = {
    "admin", "cluster-admin", "ns-admin", "ns-edit", "ns-view", "reconciler"};
#define NROLES (sizeof(roles) / sizeof(roles[0]))

// The resources and verbs: the library's exported vocabulary
// (test_vocabulary checks it is this), then a resource and a verb it does
// not know ("*" in the matrix covers them).
static const char *const resources[] = {"services", "namespaces", "workloads",
    "pools", "audit", "rolebindings", "clusters", "credentials", "unknown"};
#define NRES (sizeof(resources) / sizeof(resources[0]))

// Each verb has a letter in the tables below.
static const char *const verbs[] = {"get", "list", "watch", "create", "update",
    "apply", "delete", "report", "unknown"};
static const char        verb_letters[] = "glwcuadrx";
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

// sf_rbac_allowed, expected: for each role and resource, the verbs
// allowed at each request scope, by their letters (g get, l list, w watch,
// c create, u update, a apply, d delete, r report, x unknown); "" none.
static const struct allowed_row {
	const char *role;
	const char *resource;
	const char *verbs[NSCOPES]; // -/-, c1/-, c1/n1, c1/n2, c2/-, c2/n1
} allowed_table[] = {
    {"admin", "services",
        {"glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx",
            "glwcuadrx"}},
    {"admin", "namespaces",
        {"glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx",
            "glwcuadrx"}},
    {"admin", "workloads",
        {"glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx",
            "glwcuadrx"}},
    {"admin", "pools",
        {"glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx",
            "glwcuadrx"}},
    {"admin", "audit",
        {"glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx",
            "glwcuadrx"}},
    {"admin", "rolebindings",
        {"glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx",
            "glwcuadrx"}},
    {"admin", "clusters",
        {"glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx",
            "glwcuadrx"}},
    {"admin", "credentials",
        {"glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx",
            "glwcuadrx"}},
    {"admin", "unknown",
        {"glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx", "glwcuadrx",
            "glwcuadrx"}},
    {"cluster-admin", "services",
        {"lw", "glwcuad", "glwcuad", "glwcuad", "", ""}},
    {"cluster-admin", "namespaces", {"l", "l", "l", "l", "", ""}},
    {"cluster-admin", "workloads", {"l", "l", "l", "l", "", ""}},
    {"cluster-admin", "pools", {"l", "l", "l", "l", "", ""}},
    {"cluster-admin", "audit", {"l", "gl", "gl", "gl", "", ""}},
    {"cluster-admin", "rolebindings", {"l", "glcd", "glcd", "glcd", "", ""}},
    {"cluster-admin", "clusters", {"l", "gl", "gl", "gl", "", ""}},
    {"cluster-admin", "credentials", {"", "", "", "", "", ""}},
    {"cluster-admin", "unknown", {"", "", "", "", "", ""}},
    {"ns-admin", "services", {"lw", "lw", "glwcuad", "", "", ""}},
    {"ns-admin", "namespaces", {"l", "l", "l", "l", "", ""}},
    {"ns-admin", "workloads", {"l", "l", "l", "", "", ""}},
    {"ns-admin", "pools", {"l", "l", "l", "l", "", ""}},
    {"ns-admin", "audit", {"l", "l", "gl", "", "", ""}},
    {"ns-admin", "rolebindings", {"l", "l", "glcd", "", "", ""}},
    {"ns-admin", "clusters", {"l", "gl", "gl", "gl", "", ""}},
    {"ns-admin", "credentials", {"", "", "", "", "", ""}},
    {"ns-admin", "unknown", {"", "", "", "", "", ""}},
    {"ns-edit", "services", {"lw", "lw", "glwcuad", "", "", ""}},
    {"ns-edit", "namespaces", {"l", "l", "l", "l", "", ""}},
    {"ns-edit", "workloads", {"l", "l", "l", "", "", ""}},
    {"ns-edit", "pools", {"l", "l", "l", "l", "", ""}},
    {"ns-edit", "audit", {"l", "l", "gl", "", "", ""}},
    {"ns-edit", "rolebindings", {"", "", "", "", "", ""}},
    {"ns-edit", "clusters", {"l", "gl", "gl", "gl", "", ""}},
    {"ns-edit", "credentials", {"", "", "", "", "", ""}},
    {"ns-edit", "unknown", {"", "", "", "", "", ""}},
    {"ns-view", "services", {"lw", "lw", "glw", "", "", ""}},
    {"ns-view", "namespaces", {"l", "l", "l", "l", "", ""}},
    {"ns-view", "workloads", {"l", "l", "l", "", "", ""}},
    {"ns-view", "pools", {"l", "l", "l", "l", "", ""}},
    {"ns-view", "audit", {"l", "l", "gl", "", "", ""}},
    {"ns-view", "rolebindings", {"", "", "", "", "", ""}},
    {"ns-view", "clusters", {"l", "gl", "gl", "gl", "", ""}},
    {"ns-view", "credentials", {"", "", "", "", "", ""}},
    {"ns-view", "unknown", {"", "", "", "", "", ""}},
    {"reconciler", "services",
        {"glwr", "glwr", "glwr", "glwr", "glwr", "glwr"}},
    {"reconciler", "namespaces", {"l", "l", "l", "l", "l", "l"}},
    {"reconciler", "workloads", {"l", "l", "l", "l", "l", "l"}},
    {"reconciler", "pools", {"l", "l", "l", "l", "l", "l"}},
    {"reconciler", "audit", {"", "", "", "", "", ""}},
    {"reconciler", "rolebindings", {"", "", "", "", "", ""}},
    {"reconciler", "clusters", {"glr", "glr", "glr", "glr", "glr", "glr"}},
    {"reconciler", "credentials", {"g", "g", "g", "g", "g", "g"}},
    {"reconciler", "unknown", {"", "", "", "", "", ""}},
};

// sf_rbac_may_grant, expected: for each role a granter holds (bound at
// its scope as above) and each role granted, whether a binding of it at
// each scope may be created: "Y" or "." per scope (-/-, c1/-, c1/n1, c1/n2,
// c2/-, c2/n1). "(none)" is a caller without bindings.
static const struct grant_row {
	const char *granter;
	const char *role;
	const char *at; // NSCOPES characters
} grant_table[] = {
    {"admin", "admin", "YYYYYY"},
    {"admin", "cluster-admin", "YYYYYY"},
    {"admin", "ns-admin", "YYYYYY"},
    {"admin", "ns-edit", "YYYYYY"},
    {"admin", "ns-view", "YYYYYY"},
    {"admin", "reconciler", "YYYYYY"},
    {"cluster-admin", "admin", "......"},
    {"cluster-admin", "cluster-admin", ".YYY.."},
    {"cluster-admin", "ns-admin", ".YYY.."},
    {"cluster-admin", "ns-edit", ".YYY.."},
    {"cluster-admin", "ns-view", ".YYY.."},
    {"cluster-admin", "reconciler", "......"},
    {"ns-admin", "admin", "......"},
    {"ns-admin", "cluster-admin", "......"},
    {"ns-admin", "ns-admin", "......"},
    {"ns-admin", "ns-edit", "..Y..."},
    {"ns-admin", "ns-view", "..Y..."},
    {"ns-admin", "reconciler", "......"},
    {"ns-edit", "admin", "......"},
    {"ns-edit", "cluster-admin", "......"},
    {"ns-edit", "ns-admin", "......"},
    {"ns-edit", "ns-edit", "......"},
    {"ns-edit", "ns-view", "......"},
    {"ns-edit", "reconciler", "......"},
    {"ns-view", "admin", "......"},
    {"ns-view", "cluster-admin", "......"},
    {"ns-view", "ns-admin", "......"},
    {"ns-view", "ns-edit", "......"},
    {"ns-view", "ns-view", "......"},
    {"ns-view", "reconciler", "......"},
    {"reconciler", "admin", "......"},
    {"reconciler", "cluster-admin", "......"},
    {"reconciler", "ns-admin", "......"},
    {"reconciler", "ns-edit", "......"},
    {"reconciler", "ns-view", "......"},
    {"reconciler", "reconciler", "......"},
    {"(none)", "admin", "......"},
    {"(none)", "cluster-admin", "......"},
    {"(none)", "ns-admin", "......"},
    {"(none)", "ns-edit", "......"},
    {"(none)", "ns-view", "......"},
    {"(none)", "reconciler", "......"},
};

static bool print_mode;

// A principal: user "u" in groups "g" and "staff", holding one binding of
// role (to the user or to group "g"), at the scope the role takes.
typedef struct principal {
	Svcfleet__V1__RoleBinding  b;
	Svcfleet__V1__RoleBinding *bp[1];
	const char                *groups[2];
	sf_principal               p;
} principal;

// Where this test binds role: admin and reconciler everywhere,
// cluster-admin at c1, the ns-* roles at n1 of c1.
static const char *
bound_cluster(const char *role)
{
	return (role == NULL || strcmp(role, "admin") == 0
	            || strcmp(role, "reconciler") == 0
	        ? ""
	        : "c1");
}

static const char *
bound_ns(const char *role)
{
	return (role != NULL && strncmp(role, "ns-", 3) == 0 ? "n1" : "");
}

static void
principal_make(principal *pr, const char *role, bool by_group)
{
	svcfleet__v1__role_binding__init(&pr->b);
	pr->b.id          = "b1";
	pr->b.role        = (char *) role;
	pr->b.user        = by_group ? "" : "u";
	pr->b.group       = by_group ? "g" : "";
	pr->b.cluster     = (char *) bound_cluster(role);
	pr->b.namespace_  = (char *) bound_ns(role);
	pr->bp[0]         = &pr->b;
	pr->groups[0]     = "staff";
	pr->groups[1]     = "g";
	pr->p.p_user      = "u";
	pr->p.p_groups    = pr->groups;
	pr->p.p_ngroups   = 2;
	pr->p.p_bindings  = pr->bp;
	pr->p.p_nbindings = role != NULL ? 1 : 0;
}

// The letters of the verbs p may use on resource at scope s.
static void
allowed_letters(const sf_principal *p, const char *resource,
    const struct scope *s, char *out)
{
	size_t n = 0;
	for (size_t v = 0; v < NVERBS; v++) {
		if (sf_rbac_allowed(
		        p, resource, verbs[v], s->cluster, s->ns, NULL)) {
			out[n++] = verb_letters[v];
		}
	}
	out[n] = '\0';
}

static const struct allowed_row *
allowed_find(const char *role, const char *resource)
{
	for (size_t i = 0;
	     i < sizeof(allowed_table) / sizeof(allowed_table[0]); i++) {
		if (strcmp(allowed_table[i].role, role) == 0
		    && strcmp(allowed_table[i].resource, resource) == 0) {
			return (&allowed_table[i]);
		}
	}
	return (NULL);
}

// Compares the whole matrix for roles bound to the user or to a group.
static int
check_matrix(bool by_group)
{
	int bad = 0, cells = 0;
	for (size_t r = 0; r < NROLES; r++) {
		principal pr;
		principal_make(&pr, roles[r], by_group);
		for (size_t k = 0; k < NRES; k++) {
			const struct allowed_row *row
			    = allowed_find(roles[r], resources[k]);
			char got[NSCOPES][NVERBS + 1];
			for (size_t s = 0; s < NSCOPES; s++) {
				allowed_letters(
				    &pr.p, resources[k], &scopes[s], got[s]);
				cells += (int) NVERBS;
			}
			if (print_mode && !by_group) {
				printf("    {\"%s\", \"%s\",\n        {",
				    roles[r], resources[k]);
				for (size_t s = 0; s < NSCOPES; s++) {
					printf(
					    "%s\"%s\"", s ? ", " : "", got[s]);
				}
				printf("}},\n");
				continue;
			}
			if (row == NULL) {
				fprintf(stderr, "no row for %s on %s\n",
				    roles[r], resources[k]);
				bad++;
				continue;
			}
			for (size_t s = 0; s < NSCOPES; s++) {
				if (strcmp(row->verbs[s], got[s]) != 0) {
					fprintf(stderr,
					    "%s (bound to %s) on %s at %s: "
					    "want \"%s\", got \"%s\"\n",
					    roles[r],
					    by_group ? "a group" : "the user",
					    resources[k], scopes[s].label,
					    row->verbs[s], got[s]);
					bad++;
				}
			}
		}
	}
	if (!print_mode) {
		printf("matrix (%s bindings): %d cells, %d wrong\n",
		    by_group ? "group" : "user", cells, bad);
	}
	return (bad);
}

static void
test_matrix_user_bindings(void **state)
{
	(void) state;
	assert_int_equal(check_matrix(false), 0);
	// Every row of the table was looked at: none is stale.
	assert_int_equal(
	    sizeof(allowed_table) / sizeof(allowed_table[0]), NROLES * NRES);
}

static void
test_matrix_group_bindings(void **state)
{
	(void) state;
	assert_int_equal(check_matrix(true), 0);
}

// A binding of another user or group, or no binding, allows nothing.
static void
test_others_bindings_allow_nothing(void **state)
{
	(void) state;
	for (size_t r = 0; r < NROLES; r++) {
		principal pr;
		principal_make(&pr, roles[r], false);
		pr.b.user = "someone-else";
		for (size_t k = 0; k < NRES; k++) {
			for (size_t s = 0; s < NSCOPES; s++) {
				char got[NVERBS + 1];
				allowed_letters(
				    &pr.p, resources[k], &scopes[s], got);
				assert_string_equal(got, "");
			}
		}
		principal_make(&pr, roles[r], true);
		pr.b.group = "other-group";
		for (size_t k = 0; k < NRES; k++) {
			char got[NVERBS + 1];
			allowed_letters(&pr.p, resources[k], &scopes[2], got);
			assert_string_equal(got, "");
		}
	}
	principal none;
	principal_make(&none, NULL, false);
	for (size_t k = 0; k < NRES; k++) {
		char got[NVERBS + 1];
		allowed_letters(&none.p, resources[k], &scopes[0], got);
		assert_string_equal(got, "");
	}
}

// A denial names what was missing, as Kubernetes does.
static void
test_denial_messages(void **state)
{
	principal pr;
	sf_status st;
	(void) state;

	principal_make(&pr, "ns-view", false);
	sf_status_init(&st);
	assert_false(
	    sf_rbac_allowed(&pr.p, "services", "create", "c1", "n1", &st));
	assert_int_equal(st.st_code, SF_PERMISSION_DENIED);
	assert_string_equal(st.st_msg,
	    "user \"u\" cannot create services in namespace \"n1\" of "
	    "cluster \"c1\"");
	sf_status_reset(&st);
	assert_false(
	    sf_rbac_allowed(&pr.p, "clusters", "delete", "c1", "", &st));
	assert_string_equal(
	    st.st_msg, "user \"u\" cannot delete clusters in cluster \"c1\"");
	sf_status_reset(&st);
	assert_false(sf_rbac_allowed(&pr.p, "audit", "get", "", "", &st));
	assert_string_equal(st.st_msg, "user \"u\" cannot get audit");
	sf_status_reset(&st);
	// Allowed: the status is left alone.
	assert_true(
	    sf_rbac_allowed(&pr.p, "services", "get", "c1", "n1", &st));
	assert_int_equal(st.st_code, 0);
	sf_status_fini(&st);
}

// Which clusters a role's holder may see exist; which global roles it
// holds.
static void
test_sees_cluster_and_global(void **state)
{
	(void) state;
	for (size_t r = 0; r < NROLES; r++) {
		principal pr;
		bool      global = bound_cluster(roles[r])[0] == '\0';
		principal_make(&pr, roles[r], false);
		assert_true(sf_rbac_sees_cluster(&pr.p, "c1"));
		assert_int_equal(sf_rbac_sees_cluster(&pr.p, "c2"), global);
		for (size_t k = 0; k < NROLES; k++) {
			assert_int_equal(sf_rbac_has_global(&pr.p, roles[k]),
			    k == r && global);
		}
	}
}

static const struct grant_row *
grant_find(const char *granter, const char *role)
{
	for (size_t i = 0; i < sizeof(grant_table) / sizeof(grant_table[0]);
	     i++) {
		if (strcmp(grant_table[i].granter, granter) == 0
		    && strcmp(grant_table[i].role, role) == 0) {
			return (&grant_table[i]);
		}
	}
	return (NULL);
}

static void
test_grant_rules(void **state)
{
	int bad = 0, cells = 0;
	(void) state;

	for (size_t g = 0; g <= NROLES; g++) {
		const char *granter = g < NROLES ? roles[g] : "(none)";
		principal   pr;
		principal_make(&pr, g < NROLES ? roles[g] : NULL, false);
		for (size_t r = 0; r < NROLES; r++) {
			const struct grant_row *row
			    = grant_find(granter, roles[r]);
			char got[NSCOPES + 1];
			for (size_t s = 0; s < NSCOPES; s++) {
				Svcfleet__V1__RoleBinding b
				    = SVCFLEET__V1__ROLE_BINDING__INIT;
				sf_status st;
				b.role       = (char *) roles[r];
				b.user       = "w";
				b.cluster    = (char *) scopes[s].cluster;
				b.namespace_ = (char *) scopes[s].ns;
				sf_status_init(&st);
				int rv = sf_rbac_may_grant(&pr.p, &b, &st);
				got[s] = rv == 0 ? 'Y' : '.';
				if (rv != 0) {
					assert_int_equal(
					    rv, SF_PERMISSION_DENIED);
					assert_non_null(
					    strstr(st.st_msg, "cannot grant"));
				}
				sf_status_fini(&st);
				cells++;
			}
			got[NSCOPES] = '\0';
			if (print_mode) {
				printf("    {\"%s\", \"%s\", \"%s\"},\n",
				    granter, roles[r], got);
				continue;
			}
			if (row == NULL || strcmp(row->at, got) != 0) {
				fprintf(stderr,
				    "%s granting %s at -/-, c1/-, c1/n1, "
				    "c1/n2, c2/-, c2/n1: want %s, got %s\n",
				    granter, roles[r],
				    row ? row->at : "(no row)", got);
				bad++;
			}
		}
	}
	if (print_mode) {
		return;
	}
	printf("grant rules: %d cells, %d wrong\n", cells, bad);
	assert_int_equal(bad, 0);
	assert_int_equal(sizeof(grant_table) / sizeof(grant_table[0]),
	    (NROLES + 1) * NROLES);
}

// The shape of a binding: each role at the scope it takes and no other.
static void
test_binding_shapes(void **state)
{
	static const struct {
		const char *cluster, *ns;
	} shapes[] = {{"", ""}, {"c1", ""}, {"c1", "n1"}, {"", "n1"}};
	(void) state;

	for (size_t r = 0; r < NROLES; r++) {
		for (size_t k = 0; k < 4; k++) {
			Svcfleet__V1__RoleBinding b
			    = SVCFLEET__V1__ROLE_BINDING__INIT;
			sf_status st;
			bool      want = strcmp(shapes[k].cluster,
			                     bound_cluster(roles[r]))
			        == 0
			    && strcmp(shapes[k].ns, bound_ns(roles[r])) == 0;
			b.role       = (char *) roles[r];
			b.user       = "w";
			b.cluster    = (char *) shapes[k].cluster;
			b.namespace_ = (char *) shapes[k].ns;
			sf_status_init(&st);
			assert_int_equal(sf_rbac_validate_binding(&b, &st),
			    want ? 0 : SF_INVALID_ARGUMENT);
			sf_status_fini(&st);
		}
	}

	// An unknown role: the message lists the roles there are.
	Svcfleet__V1__RoleBinding b = SVCFLEET__V1__ROLE_BINDING__INIT;
	sf_status                 st;
	b.role = "root";
	b.user = "w";
	sf_status_init(&st);
	assert_int_equal(
	    sf_rbac_validate_binding(&b, &st), SF_INVALID_ARGUMENT);
	assert_int_equal(st.st_nviol, 1);
	assert_string_equal(st.st_viol[0].v_field, "role");
	assert_string_equal(st.st_viol[0].v_reason,
	    "Unsupported value: \"root\": supported values: \"admin\", "
	    "\"cluster-admin\", \"ns-admin\", \"ns-edit\", \"ns-view\", "
	    "\"reconciler\"");
	sf_status_fini(&st);

	// A user and a group, or neither.
	b.role  = "admin";
	b.group = "g";
	sf_status_init(&st);
	assert_int_equal(
	    sf_rbac_validate_binding(&b, &st), SF_INVALID_ARGUMENT);
	sf_status_fini(&st);
	b.user  = "";
	b.group = "";
	sf_status_init(&st);
	assert_int_equal(
	    sf_rbac_validate_binding(&b, &st), SF_INVALID_ARGUMENT);
	sf_status_fini(&st);
}

// The library's exported vocabulary is exactly this test's: a role,
// resource or verb added there needs its cells here.
static void
test_vocabulary(void **state)
{
	(void) state;
	assert_int_equal(sf_rbac_nroles, NROLES);
	for (size_t i = 0; i < NROLES; i++) {
		assert_string_equal(sf_rbac_roles[i].r_name, roles[i]);
		assert_int_equal(sf_rbac_roles[i].r_scope == SF_RBAC_GLOBAL,
		    bound_cluster(roles[i])[0] == '\0');
		assert_int_equal(sf_rbac_roles[i].r_scope == SF_RBAC_NAMESPACE,
		    bound_ns(roles[i])[0] != '\0');
	}
	assert_int_equal(sf_rbac_nresources, NRES - 1); // not "unknown"
	for (size_t i = 0; i < sf_rbac_nresources; i++) {
		assert_string_equal(
		    sf_rbac_resources[i].rs_name, resources[i]);
	}
	assert_int_equal(sf_rbac_nverbs, NVERBS - 1);
	for (size_t i = 0; i < sf_rbac_nverbs; i++) {
		assert_string_equal(sf_rbac_verbs[i].v_name, verbs[i]);
	}
	// What a rules review shown to people leaves out: only what the
	// reconciler role alone holds.
	for (size_t i = 0; i < sf_rbac_nresources; i++) {
		assert_int_equal(sf_rbac_resources[i].rs_system,
		    strcmp(resources[i], "credentials") == 0);
	}
	for (size_t i = 0; i < sf_rbac_nverbs; i++) {
		assert_int_equal(sf_rbac_verbs[i].v_system,
		    strcmp(verbs[i], "report") == 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vocabulary),
	    cmocka_unit_test(test_matrix_user_bindings),
	    cmocka_unit_test(test_matrix_group_bindings),
	    cmocka_unit_test(test_others_bindings_allow_nothing),
	    cmocka_unit_test(test_denial_messages),
	    cmocka_unit_test(test_sees_cluster_and_global),
	    cmocka_unit_test(test_grant_rules),
	    cmocka_unit_test(test_binding_shapes),
	};
	const char *pm = getenv("SF_RBAC_TEST_PRINT");
	if (pm != NULL && strcmp(pm, "1") == 0) {
		print_mode = true;
		printf("// rbac_test_matrix.inc\n");
		check_matrix(false);
		printf("// rbac_test_grants.inc\n");
		test_grant_rules(NULL);
		return (0);
	}
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
