// history.c: `svcfleet history service` and `svcfleet rollback service`
// (issue 19) — the kept generations of a Service's spec with who made each,
// when and by which request, one generation as a manifest, and a rollback
// that writes a new generation equal to an old one.
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"

static int
parse_generation(cli *c, int flag, const char *name, int64_t *out)
{
	const char *v = sf__cli_value(c, flag, NULL);
	char       *end;
	long long   n;

	*out = 0;
	if (v == NULL) {
		return (0);
	}
	errno = 0;
	n     = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v || n < 1) {
		return (sf__cli_usage(c,
		    "invalid value \"%s\" for --%s: want a generation (1 or "
		    "more)",
		    v, name));
	}
	*out = n;
	return (0);
}

static void
key_of(cli *c, Svcfleet__V1__ServiceKey *k)
{
	k->cluster    = (char *) sf__cli_value(c, F_CLUSTER, "");
	k->namespace_ = (char *) sf__cli_namespace(c);
	k->name       = (char *) c->c_args[0];
}

// One line about a spec: type and ports, as the history table shows it.
static void
summary(const Svcfleet__V1__ServiceSpec *sp, sf_buf *b)
{
	sf_buf_printf(b, "%s",
	    sp != NULL && sf_nz(sp->type)[0] != '\0' ? sp->type : "ClusterIP");
	for (size_t i = 0; sp != NULL && i < sp->n_ports; i++) {
		const Svcfleet__V1__ServicePort *p = sp->ports[i];
		sf_buf_printf(b, "%s%d", i == 0 ? " " : ",", p->port);
		if (p->node_port != 0) {
			sf_buf_printf(b, ":%d", p->node_port);
		}
		sf_buf_printf(b, "/%s",
		    sf_nz(p->protocol)[0] != '\0' ? p->protocol : "TCP");
	}
	for (size_t i = 0; sp != NULL && i < sp->n_selector; i++) {
		sf_buf_printf(b, "%s%s=%s", i == 0 ? " selector " : ",",
		    sp->selector[i]->key, sp->selector[i]->value);
	}
}

int
sf__cli_cmd_history_service(cli *c)
{
	Svcfleet__V1__GetServiceHistoryRequest req
	    = SVCFLEET__V1__GET_SERVICE_HISTORY_REQUEST__INIT;
	Svcfleet__V1__ServiceKey      key = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__ServiceHistory *h   = NULL;
	int                           rv;

	if ((rv = parse_generation(
	         c, F_GENERATION, "generation", &req.generation))
	        != 0
	    || (rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	key_of(c, &key);
	req.key = &key;
	if (svcfleet_get_service_history(c->c_client, &req, &h, &c->c_st)
	    != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		// Each generation as the Service manifest it was.
		Svcfleet__V1__Service **svcs
		    = calloc(h->n_entries + 1, sizeof(*svcs));
		Svcfleet__V1__Service *one
		    = calloc(h->n_entries + 1, sizeof(*one));
		Svcfleet__V1__ObjectMeta *md
		    = calloc(h->n_entries + 1, sizeof(*md));
		if (svcs == NULL || one == NULL || md == NULL) {
			rv = sf__cli_fail(
			    SF_RESOURCE_EXHAUSTED, "out of memory");
		} else {
			for (size_t i = 0; i < h->n_entries; i++) {
				svcfleet__v1__service__init(&one[i]);
				svcfleet__v1__object_meta__init(&md[i]);
				md[i].cluster    = key.cluster;
				md[i].namespace_ = key.namespace_;
				md[i].name       = key.name;
				md[i].generation = h->entries[i]->generation;
				md[i].spec_updated_by = h->entries[i]->user;
				md[i].spec_update_time_ms
				    = h->entries[i]->time_ms;
				one[i].metadata = &md[i];
				one[i].spec     = h->entries[i]->spec;
				svcs[i]         = &one[i];
			}
			rv = sf__cli_print_services(
			    c, svcs, h->n_entries, req.generation == 0, false);
		}
		free(svcs);
		free(one);
		free(md);
		svcfleet_free(h);
		return (rv);
	}
	cli_table   t;
	const char *hdr[]
	    = {"GENERATION", "AGE", "USER", "ACTION", "REQUEST-ID", "SPEC"};
	// As many columns as the header has (7 read past each 6-cell row:
	// ASan's stack-buffer-overflow in cli_history_test).
	sf__cli_table_init(&t, sizeof(hdr) / sizeof(hdr[0]));
	rv = sf__cli_table_add(&t, hdr);
	for (size_t i = 0; i < h->n_entries && rv == 0; i++) {
		const Svcfleet__V1__HistoryEntry *e = h->entries[i];
		char                              gen[24], age[32], act[48];
		sf_buf                            sum = SF_BUF_INIT;
		snprintf(gen, sizeof(gen), "%" PRId64, e->generation);
		sf__cli_age(e->time_ms, age, sizeof(age));
		if (e->rollback_of != 0) {
			snprintf(act, sizeof(act), "rollback to %" PRId64,
			    e->rollback_of);
		} else {
			snprintf(act, sizeof(act), "%s", sf_nz(e->action));
		}
		summary(e->spec, &sum);
		const char *row[] = {gen, age, sf_nz(e->user), act,
		    sf_nz(e->request_id), sum.b_oom ? "?" : sf_buf_cstr(&sum)};
		rv                = sf__cli_table_add(&t, row);
		sf_buf_fini(&sum);
	}
	svcfleet_free(h);
	return (sf__cli_table_done(&t, rv));
}

int
sf__cli_cmd_rollback_service(cli *c)
{
	Svcfleet__V1__RollbackServiceRequest req
	    = SVCFLEET__V1__ROLLBACK_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey key = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__Service   *svc = NULL;
	int                      rv;

	if ((rv = parse_generation(
	         c, F_TO_GENERATION, "to-generation", &req.to_generation))
	        != 0
	    || (rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	key_of(c, &key);
	req.key     = &key;
	req.dry_run = sf__cli_flag(c, F_DRY_RUN);
	if (svcfleet_rollback_service(c->c_client, &req, &svc, &c->c_st)
	    != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	printf("service/%s rolled back to generation %" PRId64
	       " (now generation %" PRId64 ")%s\n",
	    key.name, req.to_generation, svc->metadata->generation,
	    req.dry_run ? " (server dry run)" : "");
	svcfleet_free(svc);
	return (0);
}
