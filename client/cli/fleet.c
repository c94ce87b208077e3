// fleet.c: the FleetService commands (issue 18) — apply of FleetService
// documents (called by apply.c for kind FleetService), get, describe,
// delete, preview, convert, `cluster label` and `addresses`.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"

static const char *const action_names[]
    = {"applied", "created", "configured", "unchanged"};

static const char *
action_name(int a)
{
	return (a >= 0 && a < 4 ? action_names[a] : "applied");
}

// Prints the per-cluster rendering of a preview: one manifest per
// cluster, headed by a comment line naming the cluster and the action
// (and, with --server-side, the API server's answer).
static int
print_rendered(const cli *c, const Svcfleet__V1__ApplyFleetServiceReply *rep)
{
	json_t *items = json_array();
	int     rv    = 0;

	for (size_t i = 0; i < rep->n_rendered; i++) {
		const Svcfleet__V1__FleetRendered *r = rep->rendered[i];
		if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
			json_t *e = json_object();
			json_object_set_new(
			    e, "cluster", json_string(sf_nz(r->cluster)));
			json_object_set_new(
			    e, "action", json_string(sf_nz(r->action)));
			if (r->service != NULL) {
				json_object_set_new(e, "service",
				    sf_model_service_to_manifest(r->service));
			}
			if (r->server_code != 0) {
				json_object_set_new(e, "serverCode",
				    json_integer(r->server_code));
				json_object_set_new(e, "serverAnswer",
				    json_string(sf_nz(r->server_answer)));
			}
			json_array_append_new(items, e);
			continue;
		}
		printf(
		    "# cluster %s: %s\n", sf_nz(r->cluster), sf_nz(r->action));
		if (r->server_code != 0) {
			printf("# server-side dry run: %d %s\n",
			    r->server_code, sf_nz(r->server_answer));
		}
		if (r->service != NULL) {
			json_t *m   = sf_model_service_to_manifest(r->service);
			sf_buf  out = SF_BUF_INIT;
			if (m != NULL && sf_model_json_to_yaml(m, &out) == 0) {
				printf("---\n%s", sf_buf_cstr(&out));
			}
			sf_buf_fini(&out);
			json_decref(m);
		}
	}
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		json_t *o = json_pack("{s:s, s:s, s:o}", "apiVersion",
		    SF_MODEL_API_GROUP, "kind", "FleetServicePreview", "items",
		    items);
		rv        = sf__cli_print_object(c, o);
		json_decref(o);
	} else {
		json_decref(items);
	}
	return (rv);
}

int
sf__cli_fleet_apply_doc(cli *c, const json_t *obj, bool dry, bool preview,
    const char *where, bool *fatal)
{
	Svcfleet__V1__ApplyFleetServiceRequest req
	    = SVCFLEET__V1__APPLY_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyFleetServiceReply *rep = NULL;
	sf_fleet                             *fs  = NULL;
	sf_status                             st;
	int                                   rv = 0;

	*fatal = false;
	sf_status_init(&st);
	if (sf_model_fleet_from_manifest(obj, &c->c_arena, &fs, &st) != 0) {
		sf__cli_fail_sf(&st, where);
		sf_status_fini(&st);
		return (CLI_EXIT_FAIL);
	}
	sf_status_fini(&st);
	req.fleet_service = fs;
	req.dry_run       = dry || preview;
	// i19-ssd: each cluster's API server dry-runs its copy too.
	req.server_side = preview && sf__cli_flag(c, F_SERVER_SIDE);
	if (svcfleet_apply_fleet_service(c->c_client, &req, &rep, &c->c_st)
	    != 0) {
		sf__cli_fail_status(&c->c_st, where);
		*fatal = c->c_st.code == SVCFLEET_UNAVAILABLE
		    || c->c_st.code == SVCFLEET_UNAUTHENTICATED;
		return (CLI_EXIT_FAIL);
	}
	if (preview) {
		rv = print_rendered(c, rep);
	} else if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		json_t *m = rep->fleet_service != NULL
		    ? sf_model_fleet_to_manifest(rep->fleet_service)
		    : NULL;
		rv        = m != NULL ? sf__cli_print_object(c, m) : 0;
		json_decref(m);
	} else {
		printf("fleetservice/%s %s%s\n", fs->metadata->name,
		    action_name(rep->action), req.dry_run ? " (dry run)" : "");
	}
	svcfleet_free(rep);
	return (rv);
}

// `svcfleet fleetservice preview -f FILE [--server-side]`: what each
// cluster would get, written nowhere.
int
sf__cli_cmd_fleet_preview(cli *c)
{
	const cli_list *files  = &c->c_list[F_FILENAME];
	int             failed = 0, docs = 0;

	for (size_t i = 0; i < files->l_n; i++) {
		sf_buf          text = SF_BUF_INIT;
		sf_manifest_set set  = {NULL, 0};
		sf_status       st;
		const char     *path = files->l_v[i];
		if (sf__cli_read_file(path, &text) != 0) {
			sf__cli_fail(SF_INVALID_ARGUMENT, "cannot read %s: %s",
			    path, strerror(errno));
			sf_buf_fini(&text);
			failed++;
			continue;
		}
		sf_status_init(&st);
		if (sf_manifest_parse(text.b_data, text.b_len, path, &set, &st)
		    != 0) {
			sf__cli_fail_sf(&st, NULL);
			failed++;
		}
		for (size_t d = 0; d < set.ms_ndocs; d++) {
			bool  fatal;
			char *where;
			if (set.ms_docs[d].md_obj == NULL
			    || !sf_model_fleet_is_manifest(
			        set.ms_docs[d].md_obj)) {
				continue;
			}
			docs++;
			where = sf_arena_printf(&c->c_arena,
			    "%s: document %d: ", path,
			    set.ms_docs[d].md_index);
			if (sf__cli_connect(c) != 0
			    || sf__cli_fleet_apply_doc(c,
			           set.ms_docs[d].md_obj, true, true, where,
			           &fatal)
			        != 0) {
				failed++;
			}
		}
		sf_manifest_set_fini(&set);
		sf_status_fini(&st);
		sf_buf_fini(&text);
	}
	if (docs == 0 && failed == 0) {
		return (sf__cli_fail(SF_INVALID_ARGUMENT,
		    "no FleetService in the files given"));
	}
	return (failed > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK);
}

static int
get_one(cli *c, const char *name, Svcfleet__V1__FleetService **out)
{
	Svcfleet__V1__GetFleetServiceRequest req
	    = SVCFLEET__V1__GET_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__FleetServiceKey key
	    = SVCFLEET__V1__FLEET_SERVICE_KEY__INIT;
	int rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	key.namespace_ = (char *) sf__cli_namespace(c);
	key.name       = (char *) name;
	req.key        = &key;
	if (svcfleet_get_fleet_service(c->c_client, &req, out, &c->c_st)
	    != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	return (0);
}

static const char *
placement_text(cli *c, const Svcfleet__V1__FleetService *fs)
{
	sf_buf                              b = SF_BUF_INIT;
	const char                         *r;
	const Svcfleet__V1__FleetPlacement *p
	    = fs->spec != NULL ? fs->spec->placement : NULL;
	for (size_t i = 0; p != NULL && i < p->n_clusters; i++) {
		sf_buf_printf(&b, "%s%s", i > 0 ? "," : "", p->clusters[i]);
	}
	if (p != NULL && p->cluster_selector != NULL) {
		const Svcfleet__V1__ClusterSelector *s = p->cluster_selector;
		sf_buf_printf(&b, "%s", b.b_len > 0 ? "," : "");
		for (size_t i = 0; i < s->n_match_labels; i++) {
			sf_buf_printf(&b, "%s%s=%s", i > 0 ? "," : "",
			    s->match_labels[i]->key,
			    s->match_labels[i]->value);
		}
		for (size_t i = 0; i < s->n_match_expressions; i++) {
			sf_buf_printf(&b, "%s%s %s", b.b_len > 0 ? "," : "",
			    s->match_expressions[i]->key,
			    s->match_expressions[i]->operator_);
		}
	}
	r = sf_arena_strdup(&c->c_arena, b.b_len > 0 ? sf_buf_cstr(&b) : "-");
	sf_buf_fini(&b);
	return (r);
}

static int
print_fleets(
    cli *c, Svcfleet__V1__FleetService *const *fss, size_t n, bool all_ns)
{
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		json_t *items = json_array();
		for (size_t i = 0; i < n; i++) {
			json_array_append_new(
			    items, sf_model_fleet_to_manifest(fss[i]));
		}
		if (n == 1 && !all_ns) {
			json_t *one = json_incref(json_array_get(items, 0));
			json_decref(items);
			int rv = sf__cli_print_object(c, one);
			json_decref(one);
			return (rv);
		}
		return (sf__cli_print_list(c, items));
	}
	if (c->c_output == OUT_NAME) {
		for (size_t i = 0; i < n; i++) {
			printf("fleetservice/%s\n", fss[i]->metadata->name);
		}
		return (0);
	}
	cli_table t;
	int       rv   = 0;
	size_t    skip = all_ns ? 0 : 1; // the NAMESPACE column with -A only
	sf__cli_table_init(&t, 6 - skip);
	const char *hdr[]
	    = {"NAMESPACE", "NAME", "TYPE", "PLACEMENT", "SYNCED", "AGE"};
	rv = sf__cli_table_add(&t, hdr + skip);
	for (size_t i = 0; rv == 0 && i < n; i++) {
		const Svcfleet__V1__FleetService *fs = fss[i];
		char                              age[32], synced[32];
		sf__cli_age(fs->metadata->create_time_ms, age, sizeof(age));
		snprintf(
		    synced, sizeof(synced), "%u/%u", fs->synced, fs->placed);
		const char *row[]
		    = {fs->metadata->namespace_, fs->metadata->name,
		        fs->spec != NULL && fs->spec->template_ != NULL
		            ? fs->spec->template_->spec->type
		            : "",
		        placement_text(c, fs), synced, age};
		rv = sf__cli_table_add(&t, row + skip);
	}
	return (sf__cli_table_done(&t, rv));
}

int
sf__cli_cmd_get_fleet(cli *c)
{
	Svcfleet__V1__ListFleetServicesRequest req
	    = SVCFLEET__V1__LIST_FLEET_SERVICES_REQUEST__INIT;
	Svcfleet__V1__ListFleetServicesReply *rep = NULL;
	Svcfleet__V1__FleetService           *one = NULL;
	int                                   rv;

	if (c->c_nargs == 1) {
		if ((rv = get_one(c, c->c_args[0], &one)) != 0) {
			return (rv);
		}
		rv = print_fleets(c, &one, 1, false);
		svcfleet_free(one);
		return (rv);
	}
	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	req.namespace_ = sf__cli_flag(c, F_ALL_NAMESPACES)
	    ? ""
	    : (char *) sf__cli_namespace(c);
	if (svcfleet_list_fleet_services(c->c_client, &req, &rep, &c->c_st)
	    != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	if (rep->n_fleet_services == 0 && c->c_output == OUT_TABLE) {
		fprintf(stderr, "No resources found\n");
		svcfleet_free(rep);
		return (0);
	}
	rv = print_fleets(c, rep->fleet_services, rep->n_fleet_services,
	    sf__cli_flag(c, F_ALL_NAMESPACES));
	svcfleet_free(rep);
	return (rv);
}

int
sf__cli_cmd_describe_fleet(cli *c)
{
	Svcfleet__V1__FleetService *fs = NULL;
	int                         rv;

	if ((rv = get_one(c, c->c_args[0], &fs)) != 0) {
		return (rv);
	}
	printf("Name:         %s\n", fs->metadata->name);
	printf("Namespace:    %s\n", fs->metadata->namespace_);
	printf("Placement:    %s\n", placement_text(c, fs));
	printf("Node ports:   %s\n",
	    fs->spec != NULL
	            && !(fs->spec->node_ports == NULL
	                || fs->spec->node_ports[0] == '\0')
	        ? fs->spec->node_ports
	        : "PerCluster");
	if (fs->n_same_node_ports > 0) {
		printf("Same ports:  ");
		for (size_t i = 0; i < fs->n_same_node_ports; i++) {
			printf(" %d", fs->same_node_ports[i]);
		}
		printf("\n");
	}
	printf("Overrides:    %zu\n",
	    fs->spec != NULL ? fs->spec->n_overrides : 0);
	printf("Generation:   %lld\n", (long long) fs->metadata->generation);
	printf("Status:       %s\n", sf_nz(fs->summary));
	printf("Clusters:\n");
	cli_table t;
	sf__cli_table_init(&t, 6);
	const char *hdr[] = {"  CLUSTER", "PLACEMENT", "STATE", "NODE-PORTS",
	    "ADDRESS", "MESSAGE"};
	rv                = sf__cli_table_add(&t, hdr);
	for (size_t i = 0; rv == 0 && i < fs->n_status; i++) {
		const Svcfleet__V1__FleetClusterStatus *s = fs->status[i];
		sf_buf np = SF_BUF_INIT, ad = SF_BUF_INIT;
		for (size_t k = 0; k < s->n_node_ports; k++) {
			sf_buf_printf(&np, "%s%d", k > 0 ? "," : "",
			    s->node_ports[k]->node_port);
		}
		for (size_t k = 0; k < s->n_ingress; k++) {
			sf_buf_printf(
			    &ad, "%s%s", k > 0 ? "," : "", s->ingress[k]);
		}
		if (s->n_ingress == 0 && s->lb_address != NULL) {
			sf_buf_printf(&ad, "%s", s->lb_address);
		}
		char *cl = sf_arena_printf(&c->c_arena, "  %s", s->cluster);
		const char *row[] = {cl, sf_nz(s->placement),
		    strcmp(sf_nz(s->placement), "Placed") == 0
		        ? sf_model_sync_state_name(s->state)
		        : "-",
		    np.b_len > 0 ? sf_buf_cstr(&np) : "-",
		    ad.b_len > 0 ? sf_buf_cstr(&ad) : "-", sf_nz(s->message)};
		rv                = sf__cli_table_add(&t, row);
		sf_buf_fini(&np);
		sf_buf_fini(&ad);
	}
	rv = sf__cli_table_done(&t, rv);
	svcfleet_free(fs);
	return (rv);
}

int
sf__cli_cmd_delete_fleet(cli *c)
{
	Svcfleet__V1__DeleteFleetServiceRequest req
	    = SVCFLEET__V1__DELETE_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__FleetServiceKey key
	    = SVCFLEET__V1__FLEET_SERVICE_KEY__INIT;
	Svcfleet__V1__DeleteFleetServiceReply *rep = NULL;
	int                                    rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	key.namespace_ = (char *) sf__cli_namespace(c);
	key.name       = (char *) c->c_args[0];
	req.key        = &key;
	if (svcfleet_delete_fleet_service(c->c_client, &req, &rep, &c->c_st)
	    != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	printf(
	    "fleetservice/%s deleted (its copies are pruned)\n", c->c_args[0]);
	svcfleet_free(rep);
	return (0);
}

int
sf__cli_cmd_fleet_convert(cli *c)
{
	Svcfleet__V1__ConvertServiceRequest req
	    = SVCFLEET__V1__CONVERT_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey key = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__ApplyFleetServiceReply *rep = NULL;
	int                                   rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	key.cluster    = (char *) sf__cli_value(c, F_CLUSTER, "");
	key.namespace_ = (char *) sf__cli_namespace(c);
	key.name       = (char *) c->c_args[0];
	req.key        = &key;
	req.dry_run    = sf__cli_flag(c, F_DRY_RUN);
	if (svcfleet_convert_service(c->c_client, &req, &rep, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		json_t *m = sf_model_fleet_to_manifest(rep->fleet_service);
		rv        = sf__cli_print_object(c, m);
		json_decref(m);
	} else {
		printf("service/%s converted to fleetservice/%s%s\n",
		    c->c_args[0], c->c_args[0],
		    req.dry_run ? " (dry run)" : "");
	}
	svcfleet_free(rep);
	return (rv);
}

// `svcfleet cluster label NAME k=v k2-`: sets and removes labels of a
// cluster record (UpdateCluster with the record's resource version).
static int label_once(cli *c);

// The record's health is written by the reconciler all the time: a label
// change that meets one (ABORTED) reads the record again and retries.
int
sf__cli_cmd_cluster_label(cli *c)
{
	int rv = 0;
	for (int i = 0; i < 10; i++) {
		if ((rv = label_once(c)) != -SVCFLEET_ABORTED) {
			break;
		}
	}
	if (rv == -SVCFLEET_ABORTED) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	return (rv);
}

static int
label_once(cli *c)
{
	Svcfleet__V1__GetClusterRequest greq
	    = SVCFLEET__V1__GET_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__UpdateClusterRequest ureq
	    = SVCFLEET__V1__UPDATE_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster   *cl = NULL, *out = NULL;
	Svcfleet__V1__KeyValue **kvs;
	size_t                   n = 0;
	int                      rv;

	if (c->c_nargs < 2) {
		return (
		    sf__cli_usage(c, "give at least one KEY=VALUE or KEY-"));
	}
	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	greq.name = (char *) c->c_args[0];
	if (svcfleet_get_cluster(c->c_client, &greq, &cl, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	kvs = sf_arena_zalloc(
	    &c->c_arena, (cl->n_labels + c->c_nargs + 1) * sizeof(*kvs));
	if (kvs == NULL) {
		svcfleet_free(cl);
		return (sf__cli_fail(SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	for (size_t i = 0; i < cl->n_labels; i++) {
		kvs[n++] = cl->labels[i];
	}
	for (size_t a = 1; a < c->c_nargs; a++) {
		const char *arg = c->c_args[a];
		size_t      len = strlen(arg);
		const char *eq  = strchr(arg, '=');
		char       *key;
		size_t      i;
		if (eq == NULL && (len < 2 || arg[len - 1] != '-')) {
			svcfleet_free(cl);
			return (sf__cli_usage(c,
			    "invalid label \"%s\": want KEY=VALUE or KEY-",
			    arg));
		}
		key = sf_arena_printf(&c->c_arena, "%.*s",
		    (int) (eq != NULL ? (size_t) (eq - arg) : len - 1), arg);
		for (i = 0; i < n; i++) {
			if (strcmp(kvs[i]->key, key) == 0) {
				break;
			}
		}
		if (eq == NULL) {
			if (i < n) {
				memmove(&kvs[i], &kvs[i + 1],
				    (n - i - 1) * sizeof(*kvs));
				n--;
			}
			continue;
		}
		Svcfleet__V1__KeyValue *kv
		    = sf_arena_zalloc(&c->c_arena, sizeof(*kv));
		if (kv == NULL) {
			svcfleet_free(cl);
			return (sf__cli_fail(
			    SF_RESOURCE_EXHAUSTED, "out of memory"));
		}
		svcfleet__v1__key_value__init(kv);
		kv->key   = key;
		kv->value = sf_arena_strdup(&c->c_arena, eq + 1);
		if (i < n) {
			kvs[i] = kv;
		} else {
			kvs[n++] = kv;
		}
	}
	// Credentials left empty keep the stored ones. The request is a
	// shallow copy: cl itself is freed as it was received.
	Svcfleet__V1__Cluster upd = *cl;
	upd.labels                = kvs;
	upd.n_labels              = n;
	upd.token                 = "";
	upd.client_cert.len       = 0;
	upd.client_key.len        = 0;
	upd.health                = NULL;
	ureq.cluster              = &upd;
	rv = svcfleet_update_cluster(c->c_client, &ureq, &out, &c->c_st);
	svcfleet_free(cl);
	if (rv == SVCFLEET_ABORTED) {
		return (-SVCFLEET_ABORTED);
	}
	if (rv != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	printf("cluster/%s labeled\n", c->c_args[0]);
	svcfleet_free(out);
	return (0);
}

// `svcfleet addresses`: the address plan.
int
sf__cli_cmd_addresses(cli *c)
{
	Svcfleet__V1__AddressesRequest req
	    = SVCFLEET__V1__ADDRESSES_REQUEST__INIT;
	Svcfleet__V1__AddressesReply *rep = NULL;
	int                           rv;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	if (svcfleet_addresses(c->c_client, &req, &rep, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	printf("POOLS\n");
	cli_table t;
	sf__cli_table_init(&t, 4);
	const char *hdr[] = {"CLUSTER", "POOL", "ADDRESSES", "OVERLAPS"};
	rv                = sf__cli_table_add(&t, hdr);
	for (size_t i = 0; rv == 0 && i < rep->n_clusters; i++) {
		const Svcfleet__V1__ClusterPools *cp = rep->clusters[i];
		for (size_t p = 0; rv == 0 && p < cp->n_pools; p++) {
			sf_buf ad = SF_BUF_INIT, ov = SF_BUF_INIT;
			for (size_t k = 0; k < cp->pools[p]->n_addresses;
			     k++) {
				sf_buf_printf(&ad, "%s%s", k > 0 ? "," : "",
				    cp->pools[p]->addresses[k]);
			}
			for (size_t k = 0; k < cp->n_overlaps; k++) {
				if (strncmp(cp->overlaps[k],
				        cp->pools[p]->name,
				        strlen(cp->pools[p]->name))
				    == 0) {
					sf_buf_printf(&ov, "%s%s",
					    ov.b_len > 0 ? "; " : "",
					    cp->overlaps[k]);
				}
			}
			const char *row[] = {cp->cluster, cp->pools[p]->name,
			    sf_buf_cstr(&ad),
			    ov.b_len > 0 ? sf_buf_cstr(&ov) : "-"};
			rv                = sf__cli_table_add(&t, row);
			sf_buf_fini(&ad);
			sf_buf_fini(&ov);
		}
	}
	rv = sf__cli_table_done(&t, rv);
	printf("\nADDRESSES\n");
	sf__cli_table_init(&t, 5);
	const char *hdr2[]
	    = {"ADDRESS", "KIND", "CLUSTER", "SERVICE", "OWNER"};
	rv = sf__cli_table_add(&t, hdr2);
	for (size_t i = 0; rv == 0 && i < rep->n_addresses; i++) {
		const Svcfleet__V1__AddressEntry *e   = rep->addresses[i];
		char                             *svc = sf_arena_printf(
		                                &c->c_arena, "%s/%s", e->namespace_, e->name);
		const char *row[] = {e->address, e->kind, e->cluster, svc,
		    e->owner != NULL && e->owner[0] != '\0' ? e->owner : "-"};
		rv                = sf__cli_table_add(&t, row);
	}
	rv = sf__cli_table_done(&t, rv);
	// i18-plan: clashes kept from before the plan covered them.
	if (rv == 0 && rep->n_conflicts > 0) {
		printf("\nCONFLICTS\n");
		for (size_t i = 0; i < rep->n_conflicts; i++) {
			printf("%s\n", rep->conflicts[i]);
		}
	}
	svcfleet_free(rep);
	return (rv);
}
