// whoami.c: `svcfleet whoami` — who the server takes the caller for: the
// user and groups of the token sent, its id, and the role bindings that
// apply. The quickest check of which token the CLI picked up.
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"

// The bindings as a table indented under "Role bindings:".
static int
print_bindings(cli *c, const Svcfleet__V1__WhoAmIReply *r)
{
	cli_table t;
	char     *text = NULL;
	size_t    len  = 0;
	FILE     *mem;
	int       rv;

	sf__cli_table_init(&t, 5);
	const char *hdr[] = {"ROLE", "SUBJECT", "CLUSTER", "NAMESPACE", "ID"};
	rv                = sf__cli_table_add(&t, hdr);
	for (size_t i = 0; i < r->n_bindings && rv == 0; i++) {
		const Svcfleet__V1__RoleBinding *b = r->bindings[i];
		const char                      *row[]
		    = {sf_nz(b->role), sf__cli_binding_subject(c, b),
		        sf_nz(b->cluster)[0] != '\0' ? b->cluster : "*",
		        sf_nz(b->namespace_)[0] != '\0' ? b->namespace_ : "*",
		        sf_nz(b->id)};
		rv = sf__cli_table_add(&t, row);
	}
	if (rv == 0 && (mem = open_memstream(&text, &len)) != NULL) {
		sf__cli_table_print(&t, mem);
		fclose(mem);
		for (const char *p = text; p != NULL && *p != '\0';) {
			size_t n = strcspn(p, "\n");
			printf("  %.*s\n", (int) n, p);
			p += n + (p[n] == '\n');
		}
	} else {
		rv = -1;
	}
	free(text);
	sf__cli_table_fini(&t);
	return (rv == 0 ? 0
	                : sf__cli_fail(SF_RESOURCE_EXHAUSTED,
	                    "out of memory building the table"));
}

int
sf__cli_cmd_whoami(cli *c)
{
	Svcfleet__V1__WhoAmIRequest req = SVCFLEET__V1__WHO_AM_IREQUEST__INIT;
	Svcfleet__V1__WhoAmIReply  *r   = NULL;
	int                         rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	if (svcfleet_who_am_i(c->c_client, &req, &r, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	switch (c->c_output) {
	case OUT_JSON:
	case OUT_YAML: {
		json_t *o = sf_model_whoami_json(r);
		rv        = sf__cli_print_object(c, o);
		json_decref(o);
		break;
	}
	case OUT_NAME:
		printf("user/%s\n", sf_nz(r->user));
		break;
	default:
		printf("User:    %s\n", sf_nz(r->user));
		printf("Groups:  ");
		for (size_t i = 0; i < r->n_groups; i++) {
			printf("%s%s", i > 0 ? "," : "", sf_nz(r->groups[i]));
		}
		printf("%s\n", r->n_groups == 0 ? "<none>" : "");
		printf("Token:   %s\n",
		    sf_nz(r->token_id)[0] != '\0' ? r->token_id : "<none>");
		if (r->n_bindings == 0) {
			printf("Role bindings: <none> (you may see yourself "
			       "and manage your own tokens)\n");
		} else {
			printf("Role bindings:\n");
			rv = print_bindings(c, r);
		}
	}
	svcfleet_free(r);
	return (rv);
}
