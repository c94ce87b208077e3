// reconcilers.c: `svcfleet reconcilers` — the live reconcilers (issue 16):
// id, host, when each started, its last lease renewal and the clusters it
// holds, then the registered clusters nobody holds.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "str.h"

static json_t *
as_json(const Svcfleet__V1__ListReconcilersReply *r)
{
	json_t *list = json_array(), *un = json_array();
	for (size_t i = 0; i < r->n_reconcilers; i++) {
		const Svcfleet__V1__Reconciler *m  = r->reconcilers[i];
		json_t                         *cl = json_array();
		for (size_t k = 0; k < m->n_clusters; k++) {
			json_array_append_new(cl, json_string(m->clusters[k]));
		}
		json_array_append_new(list,
		    json_pack("{s:s,s:s,s:i,s:I,s:I,s:I,s:o}", "id",
		        sf_nz(m->id), "host", sf_nz(m->host), "pid", m->pid,
		        "startedMs", (json_int_t) m->started_ms,
		        "lastRenewalMs", (json_int_t) m->last_renew_ms,
		        "ttlMs", (json_int_t) m->ttl_ms, "clusters", cl));
	}
	for (size_t i = 0; i < r->n_unowned; i++) {
		json_array_append_new(un, json_string(r->unowned[i]));
	}
	return (json_pack("{s:o,s:o}", "reconcilers", list, "unowned", un));
}

int
sf__cli_cmd_reconcilers(cli *c)
{
	Svcfleet__V1__ListReconcilersRequest req
	    = SVCFLEET__V1__LIST_RECONCILERS_REQUEST__INIT;
	Svcfleet__V1__ListReconcilersReply *r = NULL;
	int                                 rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	if (svcfleet_list_reconcilers(c->c_client, &req, &r, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		json_t *o = as_json(r);
		rv        = sf__cli_print_object(c, o);
		json_decref(o);
		svcfleet_free(r);
		return (rv);
	}
	if (r->n_reconcilers == 0) {
		fprintf(stderr, "No reconciler has registered\n");
	} else {
		cli_table t;
		sf__cli_table_init(&t, 5);
		const char *hdr[]
		    = {"ID", "HOST", "STARTED", "LAST-RENEWAL", "CLUSTERS"};
		rv = sf__cli_table_add(&t, hdr);
		for (size_t i = 0; i < r->n_reconcilers && rv == 0; i++) {
			const Svcfleet__V1__Reconciler *m = r->reconcilers[i];
			char                            started[32], renew[32];
			sf_buf                          cl = SF_BUF_INIT;
			sf__cli_age(m->started_ms, started, sizeof(started));
			if (m->last_renew_ms > 0) {
				sf__cli_age(
				    m->last_renew_ms, renew, sizeof(renew));
			} else {
				snprintf(renew, sizeof(renew), "<unknown>");
			}
			for (size_t k = 0; k < m->n_clusters; k++) {
				sf_buf_printf(&cl, "%s%s", k > 0 ? "," : "",
				    m->clusters[k]);
			}
			const char *row[] = {sf_nz(m->id), sf_nz(m->host),
			    started, renew,
			    m->n_clusters > 0 ? sf_buf_cstr(&cl) : "<none>"};
			rv                = sf__cli_table_add(&t, row);
			sf_buf_fini(&cl);
		}
		rv = sf__cli_table_done(&t, rv);
	}
	if (rv == 0 && r->n_unowned > 0) {
		printf("Clusters no reconciler holds:");
		for (size_t i = 0; i < r->n_unowned; i++) {
			printf(" %s", r->unowned[i]);
		}
		printf("\n");
	}
	svcfleet_free(r);
	return (rv);
}
