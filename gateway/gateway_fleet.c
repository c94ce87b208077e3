// gateway_fleet.c: FleetServices over HTTP (issue 18) —
// /apis/svcfleet.io/v1/namespaces/{ns}/fleetservices[/{name}]: list, get
// (with each cluster's status and "N/M synced"), create/replace (POST,
// PUT) and server-side apply (PATCH) of the manifest, all with ?dryRun=All
// (the reply then carries each cluster's rendered Service under
// status.rendered), and delete.
#include <string.h>

#include "gateway_internal.h"
#include "str.h"

static json_t *
fleet_json(const Svcfleet__V1__ApplyFleetServiceReply *rep)
{
	json_t *o = sf_model_fleet_to_manifest(rep->fleet_service);
	if (o == NULL || rep->n_rendered == 0) {
		return (o);
	}
	json_t *st = json_object_get(o, "status");
	if (st == NULL) {
		st = json_object();
		json_object_set_new(o, "status", st);
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < rep->n_rendered; i++) {
		const Svcfleet__V1__FleetRendered *r = rep->rendered[i];
		json_t                            *e = json_object();
		json_object_set_new(
		    e, "cluster", json_string(sf_nz(r->cluster)));
		json_object_set_new(
		    e, "action", json_string(sf_nz(r->action)));
		if (r->service != NULL) {
			json_object_set_new(e, "service",
			    sf_model_service_to_manifest(r->service));
		}
		json_array_append_new(arr, e);
	}
	json_object_set_new(st, "rendered", arr);
	return (o);
}

void
sf__gw_fleet_list(sf__gw_ctx *x)
{
	Svcfleet__V1__ListFleetServicesRequest req
	    = SVCFLEET__V1__LIST_FLEET_SERVICES_REQUEST__INIT;
	Svcfleet__V1__ListFleetServicesReply *rep;
	json_t                               *items;

	req.namespace_ = (char *) (x->x_nseg > 2 ? x->x_arg[0] : "");
	if (SF__GW_CALL(x, list_fleet_services, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "fleetservices", "");
		return;
	}
	items = json_array();
	for (size_t i = 0; items != NULL && i < rep->n_fleet_services; i++) {
		json_array_append_new(
		    items, sf_model_fleet_to_manifest(rep->fleet_services[i]));
	}
	sf__gw_reply(x, 200,
	    sf_model_json_list(SF__GW_API_GROUP, "FleetServiceList", items));
}

void
sf__gw_fleet_get(sf__gw_ctx *x)
{
	Svcfleet__V1__GetFleetServiceRequest req
	    = SVCFLEET__V1__GET_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__FleetServiceKey key
	    = SVCFLEET__V1__FLEET_SERVICE_KEY__INIT;
	Svcfleet__V1__FleetService *fs;

	key.namespace_ = (char *) x->x_arg[0];
	key.name       = (char *) x->x_arg[1];
	req.key        = &key;
	if (SF__GW_CALL(x, get_fleet_service, &req, &fs) != 0) {
		sf__gw_fail_rpc(x, "fleetservices", x->x_arg[1]);
		return;
	}
	sf__gw_reply(x, 200, sf_model_fleet_to_manifest(fs));
}

static void fleet_preview_reply(
    sf__gw_ctx *x, const Svcfleet__V1__ApplyFleetServiceReply *rep);

// POST (create), PUT (replace) and PATCH (server-side apply) all apply the
// manifest; the namespace (and name) of the URL win, and must agree with
// the body's when it has them. preview (i19-diff): a dry run that each
// placed cluster's API server dry-runs too, answered as a preview.
static void
fleet_apply(sf__gw_ctx *x, bool preview)
{
	Svcfleet__V1__ApplyFleetServiceRequest req
	    = SVCFLEET__V1__APPLY_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyFleetServiceReply *rep;
	sf_fleet                             *fs = NULL;
	json_t                               *body;
	const char                           *dry = sf__gw_query(x, "dryRun");
	sf_status                             st;
	const char *url_name = x->x_nseg > 3 ? x->x_arg[1] : NULL;

	if ((body = sf__gw_body(x)) == NULL) {
		return;
	}
	if (dry != NULL && strcmp(dry, "All") != 0) {
		sf__gw_fail(x, 400, "BadRequest",
		    "Unsupported value: \"%s\": supported values: \"All\"",
		    dry);
		return;
	}
	sf_status_init(&st);
	if (sf_model_fleet_from_manifest(body, &x->x_arena, &fs, &st) != 0) {
		sf__gw_fail_status(
		    x, &st, "fleetservices", url_name != NULL ? url_name : "");
		sf_status_fini(&st);
		return;
	}
	sf_status_fini(&st);
	if (strcmp(fs->metadata->namespace_, x->x_arg[0]) != 0
	    && json_object_get(json_object_get(body, "metadata"), "namespace")
	        != NULL) {
		sf__gw_fail(x, 400, "BadRequest",
		    "the namespace of the provided object does not match the "
		    "namespace sent on the request");
		return;
	}
	fs->metadata->namespace_ = (char *) x->x_arg[0];
	if (url_name != NULL && strcmp(fs->metadata->name, url_name) != 0) {
		sf__gw_fail(x, 400, "BadRequest",
		    "the name of the object (%s) does not match the name on "
		    "the URL (%s)",
		    fs->metadata->name, url_name);
		return;
	}
	req.fleet_service = fs;
	req.dry_run       = dry != NULL || preview;
	req.server_side   = preview;
	if (SF__GW_CALL(x, apply_fleet_service, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "fleetservices", fs->metadata->name);
		return;
	}
	if (preview) {
		fleet_preview_reply(x, rep);
		return;
	}
	sf__gw_reply(x,
	    rep->action == SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_CREATED
	        ? 201
	        : 200,
	    fleet_json(rep));
}

void
sf__gw_fleet_apply(sf__gw_ctx *x)
{
	fleet_apply(x, false);
}

void
sf__gw_fleet_delete(sf__gw_ctx *x)
{
	Svcfleet__V1__DeleteFleetServiceRequest req
	    = SVCFLEET__V1__DELETE_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__FleetServiceKey key
	    = SVCFLEET__V1__FLEET_SERVICE_KEY__INIT;
	Svcfleet__V1__DeleteFleetServiceReply *rep;
	uint32_t                               rv = 0;

	if (!sf__gw_query_u32(x, "resourceVersion", UINT32_MAX, &rv)) {
		return;
	}
	key.namespace_       = (char *) x->x_arg[0];
	key.name             = (char *) x->x_arg[1];
	req.key              = &key;
	req.resource_version = rv;
	if (SF__GW_CALL(x, delete_fleet_service, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "fleetservices", x->x_arg[1]);
		return;
	}
	sf__gw_reply(x, 200, sf_model_fleet_to_manifest(rep->fleet_service));
}

// i18-console: POST clusters/{c}/namespaces/{ns}/services/{name}/convert
// (?dryRun=All): the Service becomes a FleetService placed on its cluster,
// its node ports and address kept (ConvertService); the answer is the
// FleetService, with status.rendered under a dry run.
void
sf__gw_fleet_convert(sf__gw_ctx *x)
{
	Svcfleet__V1__ConvertServiceRequest req
	    = SVCFLEET__V1__CONVERT_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey key = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__ApplyFleetServiceReply *rep;
	const char                           *dry = sf__gw_query(x, "dryRun");

	if (dry != NULL && strcmp(dry, "All") != 0) {
		sf__gw_fail(x, 400, "BadRequest",
		    "Unsupported value: \"%s\": supported values: \"All\"",
		    dry);
		return;
	}
	key.cluster    = (char *) x->x_arg[0];
	key.namespace_ = (char *) x->x_arg[1];
	key.name       = (char *) x->x_arg[2];
	req.key        = &key;
	req.dry_run    = dry != NULL;
	if (SF__GW_CALL(x, convert_service, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "services", x->x_arg[2]);
		return;
	}
	sf__gw_reply(x,
	    rep->action == SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_CREATED
	        ? 201
	        : 200,
	    fleet_json(rep));
}

// ------------------------------------ i19-diff: server-side preview

// POST namespaces/{ns}/fleetservices/{name}/preview: the body as for PUT.
// The answer (gateway_preview.c) has the FleetService as the apply would
// store it and, per placed cluster, what is done there ("action": create,
// update, unchanged, prune, skip), the Service rendered for it, and its
// API server's answer (none for a prune or a skip). Writes nothing.
void
sf__gw_fleet_preview(sf__gw_ctx *x)
{
	fleet_apply(x, true);
}

static void
fleet_preview_reply(
    sf__gw_ctx *x, const Svcfleet__V1__ApplyFleetServiceReply *rep)
{
	json_t *o = sf__gw_preview_new("FleetServicePreview", x->x_arg[0],
	    x->x_arg[1], (int) rep->action);
	json_t *clusters = json_array();

	if (rep->fleet_service != NULL) {
		sf_model_json_set(o, "fleetService",
		    sf_model_fleet_to_manifest(rep->fleet_service));
	}
	for (size_t i = 0; i < rep->n_rendered; i++) {
		const Svcfleet__V1__FleetRendered *r = rep->rendered[i];
		json_t *e = r->server_dry_run != NULL
		    ? sf__gw_dry_run_json(r->server_dry_run)
		    : json_object();
		sf_model_json_set_str(e, "cluster", r->cluster);
		sf_model_json_set_str(e, "action", r->action);
		if (r->service != NULL) {
			sf_model_json_set(e, "service",
			    sf_model_service_to_manifest(r->service));
		}
		json_array_append_new(clusters, e);
	}
	sf__gw_preview_owners(x, clusters);
	sf_model_json_set(o, "clusters", clusters);
	sf__gw_reply(x, 200, o);
}
