// rbac.c: `svcfleet rbac grant|revoke|list` — who holds which role where
// (DESIGN §4) — and how role bindings print for every identity command.
//
// The CLI checks only the shape of the command line (one subject); the
// roles, their scopes and who may grant what are the server's to judge, so
// its answer, with the field at fault, is what the user sees.
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"

// ------------------------------------------------------ shared printing

const char *
sf__cli_binding_subject(cli *c, const Svcfleet__V1__RoleBinding *b)
{
	const char *s = NULL;
	if (sf_nz(b->user)[0] != '\0') {
		s = sf_arena_printf(&c->c_arena, "user:%s", b->user);
	} else if (sf_nz(b->group)[0] != '\0') {
		s = sf_arena_printf(&c->c_arena, "group:%s", b->group);
	}
	return (s != NULL ? s : "<none>");
}

// "in namespace "shop" of cluster "prod"", as the server's denials say it.
static const char *
scope_text(cli *c, const Svcfleet__V1__RoleBinding *b)
{
	const char *s;
	if (sf_nz(b->cluster)[0] == '\0') {
		return ("everywhere");
	}
	if (sf_nz(b->namespace_)[0] == '\0') {
		s = sf_arena_printf(
		    &c->c_arena, "in cluster \"%s\"", b->cluster);
	} else {
		s = sf_arena_printf(&c->c_arena,
		    "in namespace \"%s\" of cluster \"%s\"", b->namespace_,
		    b->cluster);
	}
	return (sf_nz(s));
}

// ---------------------------------------------------------------- grant

int
sf__cli_cmd_rbac_grant(cli *c)
{
	Svcfleet__V1__CreateRoleBindingRequest req
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__RoleBinding  b   = SVCFLEET__V1__ROLE_BINDING__INIT;
	Svcfleet__V1__RoleBinding *out = NULL;
	int                        rv;

	if (c->c_set[F_USER] && c->c_set[F_GROUP]) {
		return (sf__cli_usage(c,
		    "--user and --group exclude each other: a binding names "
		    "one subject"));
	}
	if (!c->c_set[F_USER] && !c->c_set[F_GROUP]) {
		return (sf__cli_usage(
		    c, "say who gets the role: --user USER or --group GROUP"));
	}
	b.role       = (char *) c->c_args[0];
	b.user       = (char *) sf__cli_value(c, F_USER, "");
	b.group      = (char *) sf__cli_value(c, F_GROUP, "");
	b.cluster    = (char *) sf__cli_value(c, F_CLUSTER, "");
	b.namespace_ = (char *) sf__cli_value(c, F_NAMESPACE, "");
	req.binding  = &b;
	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	if (svcfleet_create_role_binding(c->c_client, &req, &out, &c->c_st)
	    != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	switch (c->c_output) {
	case OUT_JSON:
	case OUT_YAML: {
		json_t *o = sf_model_role_binding_json(out);
		rv        = sf__cli_print_object(c, o);
		json_decref(o);
		break;
	}
	case OUT_NAME:
		printf("rolebinding/%s\n", sf_nz(out->id));
		break;
	default:
		printf("rolebinding/%s created: %s for %s \"%s\" %s\n",
		    sf_nz(out->id), sf_nz(out->role),
		    sf_nz(out->user)[0] != '\0' ? "user" : "group",
		    sf_nz(out->user)[0] != '\0' ? out->user
		                                : sf_nz(out->group),
		    scope_text(c, out));
	}
	svcfleet_free(out);
	return (rv);
}

// --------------------------------------------------------------- revoke

int
sf__cli_cmd_rbac_revoke(cli *c)
{
	Svcfleet__V1__DeleteRoleBindingRequest req
	    = SVCFLEET__V1__DELETE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__Empty *e = NULL;
	int                  rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	req.id = (char *) c->c_args[0];
	if (svcfleet_delete_role_binding(c->c_client, &req, &e, &c->c_st)
	    != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	svcfleet_free(e);
	if (c->c_output == OUT_NAME) {
		printf("rolebinding/%s\n", req.id);
	} else {
		printf("rolebinding \"%s\" revoked\n", req.id);
	}
	return (0);
}

// ----------------------------------------------------------------- list

// Oldest first: the order in which the grants were made. Ids (hashes of
// what is granted) break ties.
static int
by_creation(const void *a, const void *b)
{
	const Svcfleet__V1__RoleBinding *x
	    = *(const Svcfleet__V1__RoleBinding *const *) a;
	const Svcfleet__V1__RoleBinding *y
	    = *(const Svcfleet__V1__RoleBinding *const *) b;
	if (x->create_time_ms != y->create_time_ms) {
		return (x->create_time_ms < y->create_time_ms ? -1 : 1);
	}
	return (strcmp(sf_nz(x->id), sf_nz(y->id)));
}

static int
print_bindings(cli *c, Svcfleet__V1__RoleBinding **bs, size_t n)
{
	int rv = 0;

	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		return (
		    sf__cli_print_list(c, sf_model_role_bindings_json(bs, n)));
	}
	if (n == 0) {
		fprintf(stderr, "No resources found\n");
		return (0);
	}
	if (c->c_output == OUT_NAME) {
		for (size_t i = 0; i < n; i++) {
			printf("rolebinding/%s\n", sf_nz(bs[i]->id));
		}
		return (0);
	}
	cli_table t;
	sf__cli_table_init(&t, 7);
	const char *hdr[] = {"ID", "ROLE", "SUBJECT", "CLUSTER", "NAMESPACE",
	    "CREATED-BY", "AGE"};
	rv                = sf__cli_table_add(&t, hdr);
	for (size_t i = 0; i < n && rv == 0; i++) {
		const Svcfleet__V1__RoleBinding *b = bs[i];
		char                             age[32];
		sf__cli_age(b->create_time_ms, age, sizeof(age));
		// "*": the role applies to every cluster or namespace.
		const char *row[] = {sf_nz(b->id), sf_nz(b->role),
		    sf__cli_binding_subject(c, b),
		    sf_nz(b->cluster)[0] != '\0' ? b->cluster : "*",
		    sf_nz(b->namespace_)[0] != '\0' ? b->namespace_ : "*",
		    sf_nz(b->created_by)[0] != '\0' ? b->created_by
		                                    : "<unknown>",
		    age};
		rv                = sf__cli_table_add(&t, row);
	}
	return (sf__cli_table_done(&t, rv));
}

int
sf__cli_cmd_rbac_list(cli *c)
{
	Svcfleet__V1__ListRoleBindingsRequest req
	    = SVCFLEET__V1__LIST_ROLE_BINDINGS_REQUEST__INIT;
	Svcfleet__V1__ListRoleBindingsReply *rep = NULL;
	int                                  rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	req.cluster    = (char *) sf__cli_value(c, F_CLUSTER, "");
	req.namespace_ = (char *) sf__cli_value(c, F_NAMESPACE, "");
	req.user       = (char *) sf__cli_value(c, F_USER, "");
	if (svcfleet_list_role_bindings(c->c_client, &req, &rep, &c->c_st)
	    != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	if (rep->n_bindings > 1) {
		qsort(rep->bindings, rep->n_bindings, sizeof(*rep->bindings),
		    by_creation);
	}
	rv = print_bindings(c, rep->bindings, rep->n_bindings);
	svcfleet_free(rep);
	return (rv);
}
