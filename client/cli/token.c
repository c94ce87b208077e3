// token.c: `svcfleet token create|revoke|list` — the bearer tokens that
// say who a caller is.
//
// A secret is printed once, by `token create`, alone on stdout so that
// `svcfleet token create alice > alice.token` captures exactly it; what a
// person wants to know besides (id, expiry) goes to stderr, and only when
// a person is there to read it. Lists never carry secrets: the server
// keeps only their hashes.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "model.h"
#include "clock.h"

// "in 23h", "5m ago" or "never".
static void
expiry_text(int64_t ms, char *buf, size_t cap)
{
	int64_t now = sf_clock_now_ms();
	char    d[32];
	if (ms == 0) {
		snprintf(buf, cap, "never");
	} else if (ms > now) {
		// Whole seconds, rounded up: a day's token just made expires
		// "in 24h", not "in 23h" (ages round down).
		sf_duration_age((ms - now + 999) / 1000 * 1000, d, sizeof(d));
		snprintf(buf, cap, "in %s", d);
	} else {
		sf_duration_age(now - ms, d, sizeof(d));
		snprintf(buf, cap, "%s ago", d);
	}
}

// --groups a,b --groups c: every comma-separated name of every value.
static int
groups(cli *c, Svcfleet__V1__CreateTokenRequest *req)
{
	const cli_list *l = &c->c_list[F_GROUPS];
	size_t          n = 0;

	for (size_t i = 0; i < l->l_n; i++) {
		n += 1;
		for (const char *p = l->l_v[i]; *p != '\0'; p++) {
			n += *p == ',';
		}
	}
	if (n == 0) {
		return (0);
	}
	if ((req->groups = sf_arena_alloc(&c->c_arena, n * sizeof(char *)))
	    == NULL) {
		return (sf__cli_fail(SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	for (size_t i = 0; i < l->l_n; i++) {
		for (const char *p = l->l_v[i];;) {
			size_t k = strcspn(p, ",");
			if (k == 0) {
				return (sf__cli_usage(c,
				    "invalid value \"%s\" for --groups: want "
				    "group names separated by commas",
				    l->l_v[i]));
			}
			char *g = sf_arena_strndup(&c->c_arena, p, k);
			if (g == NULL) {
				return (sf__cli_fail(
				    SF_RESOURCE_EXHAUSTED, "out of memory"));
			}
			req->groups[req->n_groups++] = g;
			p += k;
			if (*p == '\0') {
				break;
			}
			p++;
		}
	}
	return (0);
}

static int
ttl(cli *c, Svcfleet__V1__CreateTokenRequest *req)
{
	const char *v = sf__cli_value(c, F_TTL, NULL);
	int64_t     ms;
	if (v == NULL) {
		return (0);
	}
	if (sf_duration_parse(v, &ms) != 0 || ms < 1000) {
		return (sf__cli_usage(c,
		    "invalid value \"%s\" for --ttl: want a duration of 1s "
		    "or more, such as 24h or 30d (without --ttl the token "
		    "does not expire)",
		    v));
	}
	req->ttl_seconds = (ms + 999) / 1000;
	return (0);
}

int
sf__cli_cmd_token_create(cli *c)
{
	Svcfleet__V1__CreateTokenRequest req
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply *rep = NULL;
	int                             rv;

	if (c->c_output == OUT_NAME) {
		return (sf__cli_usage(c,
		    "-o name would lose the secret: token create prints it "
		    "alone, or with the token's record under -o json|yaml"));
	}
	req.user = (char *) c->c_args[0];
	if ((rv = groups(c, &req)) != 0 || (rv = ttl(c, &req)) != 0
	    || (rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	if (svcfleet_create_token(c->c_client, &req, &rep, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	if (rep->token == NULL || sf_nz(rep->secret)[0] == '\0') {
		svcfleet_free(rep);
		return (sf__cli_fail(SF_INTERNAL, "the server sent no token"));
	}
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		json_t *o = sf_model_new_token_json(rep);
		rv        = sf__cli_print_object(c, o);
		json_decref(o);
	} else {
		printf("%s\n", rep->secret);
		if (isatty(STDERR_FILENO)) {
			char exp[64], at[40];
			expiry_text(
			    rep->token->expire_time_ms, exp, sizeof(exp));
			if (rep->token->expire_time_ms != 0) {
				sf_clock_format_rfc3339(
				    rep->token->expire_time_ms, at,
				    sizeof(at));
				fprintf(stderr,
				    "token %s for user \"%s\"; expires %s "
				    "(%s)\n",
				    sf_nz(rep->token->id), req.user, at, exp);
			} else {
				fprintf(stderr,
				    "token %s for user \"%s\"; never expires "
				    "(revoke it with `%s token revoke %s`)\n",
				    sf_nz(rep->token->id), req.user, c->c_prog,
				    sf_nz(rep->token->id));
			}
		}
	}
	// The secret lived in the reply; leave no copy behind in freed
	// memory.
	explicit_bzero(rep->secret, strlen(rep->secret));
	svcfleet_free(rep);
	return (rv);
}

int
sf__cli_cmd_token_revoke(cli *c)
{
	Svcfleet__V1__RevokeTokenRequest req
	    = SVCFLEET__V1__REVOKE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__Empty *e = NULL;
	int                  rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	req.id = (char *) c->c_args[0];
	if (svcfleet_revoke_token(c->c_client, &req, &e, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	svcfleet_free(e);
	if (c->c_output == OUT_NAME) {
		printf("token/%s\n", req.id);
	} else {
		printf("token \"%s\" revoked\n", req.id);
	}
	return (0);
}

// Oldest first, ids breaking ties.
static int
by_creation(const void *a, const void *b)
{
	const Svcfleet__V1__Token *x = *(const Svcfleet__V1__Token *const *) a;
	const Svcfleet__V1__Token *y = *(const Svcfleet__V1__Token *const *) b;
	if (x->create_time_ms != y->create_time_ms) {
		return (x->create_time_ms < y->create_time_ms ? -1 : 1);
	}
	return (strcmp(sf_nz(x->id), sf_nz(y->id)));
}

// A row of every column; a table of fewer (not -o wide) takes the first.
static int
token_row(cli_table *t, const Svcfleet__V1__Token *tok)
{
	sf_buf g = SF_BUF_INIT;
	char   created[40], exp[40];
	int    rv;

	for (size_t k = 0; k < tok->n_groups; k++) {
		sf_buf_printf(
		    &g, "%s%s", k > 0 ? "," : "", sf_nz(tok->groups[k]));
	}
	if (tok->create_time_ms != 0) {
		char d[32];
		sf_duration_age(
		    sf_clock_now_ms() - tok->create_time_ms, d, sizeof(d));
		snprintf(created, sizeof(created), "%s ago", d);
	} else {
		snprintf(created, sizeof(created), "<unknown>");
	}
	expiry_text(tok->expire_time_ms, exp, sizeof(exp));
	const char *row[] = {sf_nz(tok->id), sf_nz(tok->user),
	    tok->n_groups > 0 ? sf_buf_cstr(&g) : "<none>", created, exp,
	    tok->revoked ? "yes" : "no",
	    sf_nz(tok->source)[0] != '\0' ? tok->source : "<unknown>",
	    sf_nz(tok->created_by)[0] != '\0' ? tok->created_by : "<unknown>"};
	rv                = g.b_oom ? -1 : sf__cli_table_add(t, row);
	sf_buf_fini(&g);
	return (rv);
}

int
sf__cli_cmd_token_list(cli *c)
{
	Svcfleet__V1__ListTokensRequest req
	    = SVCFLEET__V1__LIST_TOKENS_REQUEST__INIT;
	Svcfleet__V1__ListTokensReply *rep  = NULL;
	bool                           wide = c->c_output == OUT_WIDE;
	int                            rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	req.user = (char *) sf__cli_value(c, F_USER, "");
	if (svcfleet_list_tokens(c->c_client, &req, &rep, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	if (rep->n_tokens > 1) {
		qsort(rep->tokens, rep->n_tokens, sizeof(*rep->tokens),
		    by_creation);
	}
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		rv = sf__cli_print_list(
		    c, sf_model_tokens_json(rep->tokens, rep->n_tokens));
	} else if (rep->n_tokens == 0) {
		fprintf(stderr, "No resources found\n");
	} else if (c->c_output == OUT_NAME) {
		for (size_t i = 0; i < rep->n_tokens; i++) {
			printf("token/%s\n", sf_nz(rep->tokens[i]->id));
		}
	} else {
		cli_table t;
		sf__cli_table_init(&t, wide ? 8 : 6);
		const char *hdr[] = {"ID", "USER", "GROUPS", "CREATED",
		    "EXPIRES", "REVOKED", "SOURCE", "CREATED-BY"};
		rv                = sf__cli_table_add(&t, hdr);
		for (size_t i = 0; i < rep->n_tokens && rv == 0; i++) {
			rv = token_row(&t, rep->tokens[i]);
		}
		rv = sf__cli_table_done(&t, rv);
	}
	svcfleet_free(rep);
	return (rv);
}
