// whoami.c: `svcfleet whoami` — who the server takes the caller for: the
// user and groups of the token sent, its id, and the role bindings that
// apply. The quickest check of which token the CLI picked up.
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *
str(const char *s)
{
	return (s != NULL ? s : "");
}

static int
print_json(cli *c, const Svcfleet__V1__WhoAmIReply *r)
{
	json_t *o = json_object(), *g = json_array(), *bs = json_array();
	int     rv;

	if (o == NULL || g == NULL || bs == NULL) {
		json_decref(o);
		json_decref(g);
		json_decref(bs);
		return (cli_print_object(c, NULL));
	}
	json_object_set_new(o, "user", json_string(str(r->user)));
	for (size_t i = 0; i < r->n_groups; i++) {
		json_array_append_new(g, json_string(str(r->groups[i])));
	}
	json_object_set_new(o, "groups", g);
	cli_json_set_str(o, "tokenId", r->token_id);
	for (size_t i = 0; i < r->n_bindings; i++) {
		json_array_append_new(bs, cli_binding_json(r->bindings[i]));
	}
	json_object_set_new(o, "bindings", bs);
	rv = cli_print_object(c, o);
	json_decref(o);
	return (rv);
}

// The bindings as a table indented under "Role bindings:".
static int
print_bindings(cli *c, const Svcfleet__V1__WhoAmIReply *r)
{
	cli_table t;
	char     *text = NULL;
	size_t    len  = 0;
	FILE     *mem;
	int       rv;

	cli_table_init(&t, 5);
	const char *hdr[] = {"ROLE", "SUBJECT", "CLUSTER", "NAMESPACE", "ID"};
	rv                = cli_table_add(&t, hdr);
	for (size_t i = 0; i < r->n_bindings && rv == 0; i++) {
		const Svcfleet__V1__RoleBinding *b = r->bindings[i];
		const char *row[] = {str(b->role), cli_binding_subject(c, b),
		    str(b->cluster)[0] != '\0' ? b->cluster : "*",
		    str(b->namespace_)[0] != '\0' ? b->namespace_ : "*",
		    str(b->id)};
		rv                = cli_table_add(&t, row);
	}
	if (rv == 0 && (mem = open_memstream(&text, &len)) != NULL) {
		cli_table_print(&t, mem);
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
	cli_table_fini(&t);
	return (rv == 0 ? 0
	                : cli_fail(SF_RESOURCE_EXHAUSTED,
	                    "out of memory building the table"));
}

int
cli_cmd_whoami(cli *c)
{
	Svcfleet__V1__WhoAmIRequest req = SVCFLEET__V1__WHO_AM_IREQUEST__INIT;
	Svcfleet__V1__WhoAmIReply  *r   = NULL;
	int                         rv;

	if ((rv = cli_connect(c)) != 0) {
		return (rv);
	}
	if (svcfleet_who_am_i(c->c_client, &req, &r, &c->c_st) != 0) {
		return (cli_fail_status(&c->c_st, NULL));
	}
	switch (c->c_output) {
	case OUT_JSON:
	case OUT_YAML:
		rv = print_json(c, r);
		break;
	case OUT_NAME:
		printf("user/%s\n", str(r->user));
		break;
	default:
		printf("User:    %s\n", str(r->user));
		printf("Groups:  ");
		for (size_t i = 0; i < r->n_groups; i++) {
			printf("%s%s", i > 0 ? "," : "", str(r->groups[i]));
		}
		printf("%s\n", r->n_groups == 0 ? "<none>" : "");
		printf("Token:   %s\n",
		    str(r->token_id)[0] != '\0' ? r->token_id : "<none>");
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
