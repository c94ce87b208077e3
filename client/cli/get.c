// get.c: `svcfleet get services` (a list, following page tokens) and
// `svcfleet get service NAME` (one object).
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define PAGE_SIZE 500

static int
get_one(cli *c)
{
	Svcfleet__V1__GetServiceRequest req
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey key = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__Service   *svc = NULL;
	int                      rv;

	if (!c->c_set[F_CLUSTER]) {
		return (sf__cli_usage(c,
		    "required flag --cluster is missing (a Service is "
		    "named by cluster, namespace and name)"));
	}
	if (c->c_set[F_ALL_NAMESPACES] || c->c_set[F_SELECTOR]
	    || c->c_set[F_LIMIT]) {
		return (sf__cli_usage(c,
		    "-A, -l and --limit list Services; they do not go "
		    "with a NAME"));
	}
	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	key.cluster    = (char *) c->c_val[F_CLUSTER];
	key.namespace_ = (char *) sf__cli_namespace(c);
	key.name       = (char *) c->c_args[0];
	req.key        = &key;
	if (svcfleet_get_service(c->c_client, &req, &svc, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	rv = sf__cli_print_services(c, &svc, 1, false, false);
	svcfleet_free(svc);
	return (rv);
}

// -l given several times means all of the requirements.
static const char *
selector(cli *c)
{
	const cli_list *l = &c->c_list[F_SELECTOR];
	sf_buf          b = SF_BUF_INIT;
	char           *s;
	if (l->l_n <= 1) {
		return (l->l_n == 1 ? l->l_v[0] : "");
	}
	for (size_t i = 0; i < l->l_n; i++) {
		sf_buf_printf(&b, "%s%s", i > 0 ? "," : "", l->l_v[i]);
	}
	s = sf_arena_strdup(&c->c_arena, sf_buf_cstr(&b));
	sf_buf_fini(&b);
	return (sf_nz(s));
}

typedef struct pages {
	Svcfleet__V1__ListServicesReply **p_replies;
	size_t                            p_n;
	Svcfleet__V1__Service           **p_svcs;
	size_t                            p_nsvcs;
} pages;

static void
pages_fini(pages *p)
{
	for (size_t i = 0; i < p->p_n; i++) {
		svcfleet_free(p->p_replies[i]);
	}
	free(p->p_replies);
	free(p->p_svcs);
}

// Keeps a page and its Services (up to limit in all; 0 = no limit).
static int
pages_add(pages *p, Svcfleet__V1__ListServicesReply *r, uint32_t limit)
{
	size_t take = r->n_services;
	if (limit != 0 && p->p_nsvcs + take > limit) {
		take = limit - p->p_nsvcs;
	}
	void *rs = realloc(p->p_replies, (p->p_n + 1) * sizeof(*p->p_replies));
	if (rs == NULL) {
		svcfleet_free(r);
		return (-1);
	}
	p->p_replies           = rs;
	p->p_replies[p->p_n++] = r;
	void *ss
	    = realloc(p->p_svcs, (p->p_nsvcs + take + 1) * sizeof(*p->p_svcs));
	if (ss == NULL) {
		return (-1);
	}
	p->p_svcs = ss;
	for (size_t i = 0; i < take; i++) {
		if (r->services[i] != NULL) {
			p->p_svcs[p->p_nsvcs++] = r->services[i];
		}
	}
	return (0);
}

static int
list(cli *c)
{
	Svcfleet__V1__ListServicesRequest req
	    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
	bool     all_ns = sf__cli_flag(c, F_ALL_NAMESPACES);
	uint32_t limit;
	pages    p;
	int      rv;

	if (all_ns && c->c_set[F_NAMESPACE]) {
		return (sf__cli_usage(c, "-n and -A exclude each other"));
	}
	if ((rv = sf__cli_parse_limit(c, 0, &limit)) != 0) {
		return (rv);
	}
	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	memset(&p, 0, sizeof(p));
	req.cluster        = (char *) sf__cli_value(c, F_CLUSTER, "");
	req.namespace_     = all_ns ? "" : (char *) sf__cli_namespace(c);
	req.label_selector = (char *) selector(c);
	for (;;) {
		Svcfleet__V1__ListServicesReply *r = NULL;
		req.page_size                      = PAGE_SIZE;
		if (limit != 0 && limit - p.p_nsvcs < PAGE_SIZE) {
			req.page_size = limit - (uint32_t) p.p_nsvcs;
		}
		if (svcfleet_list_services(c->c_client, &req, &r, &c->c_st)
		    != 0) {
			pages_fini(&p);
			return (sf__cli_fail_status(&c->c_st, NULL));
		}
		if (pages_add(&p, r, limit) != 0) {
			pages_fini(&p);
			return (sf__cli_fail(
			    SF_RESOURCE_EXHAUSTED, "out of memory"));
		}
		if (r->next_page_token == NULL || r->next_page_token[0] == '\0'
		    || (limit != 0 && p.p_nsvcs >= limit)) {
			break;
		}
		req.page_token = r->next_page_token;
	}
	if (p.p_nsvcs == 0 && c->c_output != OUT_JSON
	    && c->c_output != OUT_YAML) {
		if (all_ns) {
			fprintf(stderr, "No resources found\n");
		} else {
			fprintf(stderr,
			    "No resources found in %s namespace.\n",
			    req.namespace_);
		}
		pages_fini(&p);
		return (CLI_EXIT_OK);
	}
	rv = sf__cli_print_services(c, p.p_svcs, p.p_nsvcs, true, all_ns);
	pages_fini(&p);
	return (rv);
}

int
sf__cli_cmd_get_services(cli *c)
{
	return (c->c_nargs == 1 ? get_one(c) : list(c));
}
