// gateway_services.c: Services over HTTP — list (and watch), get, create,
// update, apply and delete, as ServiceManager RPCs.
//
// A Service travels as the Kubernetes v1 Service manifest the CLI prints
// (model.h: sf_model_service_to_manifest / _from_manifest), plus what an
// API object carries and a manifest for kubectl must not: metadata.uid,
// metadata.resourceVersion (the precondition of PUT), deletionTimestamp
// and finalizers, and status.clusters — every cluster target's sync state
// with the cluster's own message, what it assigned, and when.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "gateway_internal.h"
#include "status.h"
#include "str.h"

#define WATCH_DEFAULT_S 30
#define WATCH_MAX_S     300
#define LIST_ALL_MAX    100000

static json_t *
cluster_status_json(const Svcfleet__V1__ClusterStatus *cs)
{
	json_t *o = json_object();
	json_t *ports;

	sf_model_json_set_str(o, "cluster", cs->cluster);
	sf_model_json_set_str(o, "state", sf_model_sync_state_name(cs->state));
	sf_model_json_set_str(o, "message", cs->message);
	if (cs->observed_generation != 0) {
		sf_model_json_set(o, "observedGeneration",
		    json_integer(cs->observed_generation));
	}
	sf_model_json_set_time(o, "lastSyncTime", cs->last_sync_time_ms);
	sf_model_json_set_str(o, "clusterIP", cs->cluster_ip);
	if (cs->n_node_ports > 0) {
		ports = json_array();
		for (size_t i = 0; i < cs->n_node_ports; i++) {
			const Svcfleet__V1__AssignedPort *p
			    = cs->node_ports[i];
			json_t *po = json_object();
			sf_model_json_set_str(po, "name", p->name);
			sf_model_json_set_str(po, "protocol",
			    sf_nz(p->protocol)[0] ? p->protocol : "TCP");
			sf_model_json_set(po, "port", json_integer(p->port));
			sf_model_json_set(
			    po, "nodePort", json_integer(p->node_port));
			json_array_append_new(ports, po);
		}
		sf_model_json_set(o, "nodePorts", ports);
	}
	if (cs->n_ingress > 0) {
		sf_model_json_set(o, "ingress",
		    sf_model_json_str_array(cs->ingress, cs->n_ingress));
	}
	sf_model_json_set_str(o, "uid", cs->cluster_uid);
	sf_model_json_set_str(
	    o, "resourceVersion", cs->cluster_resource_version);
	return (o);
}

// The Service as the gateway shows it (a new reference, NULL when out of
// memory).
static json_t *
service_json(const sf_service *svc)
{
	const sf_object_meta *m = svc->metadata;
	json_t               *o = sf_model_service_to_manifest(svc);
	json_t               *md, *st, *targets;

	if (o == NULL || m == NULL) {
		return (o);
	}
	md = sf__gw_obj(o, "metadata");
	sf_model_json_set_str(md, "uid", m->uid);
	sf_model_json_set_u64(md, "resourceVersion", m->resource_version);
	if (m->deleting) {
		sf_model_json_set_time(md, "deletionTimestamp",
		    m->delete_time_ms != 0 ? m->delete_time_ms
		                           : m->update_time_ms);
	}
	if (m->n_finalizers > 0) {
		sf_model_json_set(md, "finalizers",
		    sf_model_json_str_array(m->finalizers, m->n_finalizers));
	}
	if ((st = sf__gw_obj(o, "status")) == NULL) {
		st = json_object();
		sf_model_json_set(o, "status", st);
	}
	targets = json_array();
	for (size_t i = 0; i < svc->n_status; i++) {
		json_array_append_new(
		    targets, cluster_status_json(svc->status[i]));
	}
	sf_model_json_set(st, "clusters", targets);
	// Who changed it and when (the audit log has the whole story).
	sf_model_json_set_str(st, "createdBy", m->created_by);
	sf_model_json_set_str(st, "updatedBy", m->updated_by);
	// i18-console: a FleetService's copy names its owner
	// ("FleetService/<name>"), so the console links to it.
	if (m->owner != NULL && m->owner[0] != '\0') {
		sf_model_json_set_str(st, "owner", m->owner);
	}
	sf_model_json_set_time(st, "updateTime", m->update_time_ms);
	// The last change of desired state (never a status report): what a
	// conflict (409) names.
	sf_model_json_set_str(st, "specUpdatedBy", m->spec_updated_by);
	sf_model_json_set_time(st, "specUpdateTime", m->spec_update_time_ms);
	if (m->spec_version != 0) {
		sf_model_json_set_u64(st, "specVersion", m->spec_version);
	}
	return (o);
}

// Validation failures name the kind ("Service"), the others the resource
// ("services"), as kube-apiserver's Status details do.
static void
svc_fail(sf__gw_ctx *x, const char *name)
{
	sf__gw_fail_rpc(x,
	    x->x_st.code == SF_INVALID_ARGUMENT ? "Service" : "services",
	    name);
}

// ?dryRun=All (the only value Kubernetes accepts). Returns -1 after
// answering 400 for another value.
static int
dry_run(sf__gw_ctx *x)
{
	const char *v = sf__gw_query(x, "dryRun");
	if (v == NULL || v[0] == '\0') {
		return (0);
	}
	if (strcmp(v, "All") != 0) {
		sf__gw_fail(x, 400, "BadRequest",
		    "Unsupported value: \"%.64s\": supported values: \"All\"",
		    v);
		return (-1);
	}
	return (1);
}

static bool
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (s == NULL || s[0] < '0' || s[0] > '9') {
		return (false);
	}
	*out = strtoull(s, &end, 10);
	return (*end == '\0');
}

// The Service in the request body, for the URL's cluster and namespace
// (and name, for PUT and PATCH). NULL after answering.
static sf_service *
body_service(sf__gw_ctx *x, const char *url_name)
{
	const char *cluster = x->x_arg[0], *ns = x->x_arg[1];
	json_t     *obj, *md;
	const char *bns, *bname;
	sf_service *svc = NULL;
	sf_status   st;

	if ((obj = sf__gw_body(x)) == NULL) {
		return (NULL);
	}
	// As with kubectl's typed clients, the URL says what the body is.
	if (json_object_get(obj, "apiVersion") == NULL) {
		sf_model_json_set(obj, "apiVersion", json_string("v1"));
	}
	if (json_object_get(obj, "kind") == NULL) {
		sf_model_json_set(obj, "kind", json_string("Service"));
	}
	if ((md = sf__gw_obj(obj, "metadata")) == NULL
	    && json_object_get(obj, "metadata") == NULL) {
		md = json_object();
		sf_model_json_set(obj, "metadata", md);
	}
	if (md != NULL) {
		bns   = sf__gw_str(md, "namespace");
		bname = sf__gw_str(md, "name");
		if (bns != NULL && bns[0] != '\0' && strcmp(bns, ns) != 0) {
			sf__gw_fail(x, 400, "BadRequest",
			    "the namespace of the provided object (%.64s) "
			    "does not match the namespace sent on the request "
			    "(%.64s)",
			    bns, ns);
			return (NULL);
		}
		if (url_name != NULL && bname != NULL
		    && strcmp(bname, url_name) != 0) {
			sf__gw_fail(x, 400, "BadRequest",
			    "the name of the object (%.64s) does not match "
			    "the name on the URL (%.64s)",
			    bname, url_name);
			return (NULL);
		}
		sf_model_json_set(md, "namespace", json_string(ns));
		if (url_name != NULL && bname == NULL) {
			sf_model_json_set(md, "name", json_string(url_name));
		}
	}
	sf_status_init(&st);
	if (sf_model_service_from_manifest(
	        obj, cluster, &x->x_arena, &svc, &st)
	    != 0) {
		const char *name = md != NULL ? sf__gw_str(md, "name") : NULL;
		sf__gw_fail_status(x, &st, "Service", sf_nz(name));
		sf_status_fini(&st);
		return (NULL);
	}
	sf_status_fini(&st);
	return (svc);
}

// ----------------------------------------------------------------- list

// Sends one watch event line.
static void
event_line(sf__gw_ctx *x, const char *type, json_t *obj)
{
	json_t *ev = json_pack("{s:s,s:o}", "type", type, "object", obj);
	char   *s  = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
	if (s != NULL) {
		sf_buf_puts(&x->x_resp->hs_body, s);
		sf_buf_putc(&x->x_resp->hs_body, '\n');
	}
	free(s);
	json_decref(ev);
}

static void
bookmark(sf__gw_ctx *x, uint64_t revision)
{
	json_t *md = json_object();
	char    num[24];
	snprintf(num, sizeof(num), "%llu", (unsigned long long) revision);
	sf_model_json_set(md, "resourceVersion", json_string(num));
	event_line(x, "BOOKMARK",
	    json_pack("{s:s,s:s,s:o}", "kind", "Service", "apiVersion", "v1",
	        "metadata", md));
}

static bool
selected(const sf_selector *sel, const sf_service *svc)
{
	return (svc->metadata != NULL
	    && sf_selector_matches(
	        sel, svc->metadata->labels, svc->metadata->n_labels));
}

// A Kubernetes-style watch as a long poll: the body is newline-separated
// {"type","object"} events, and always ends with a BOOKMARK whose
// resourceVersion is where to resume. Without a resourceVersion (or 0) it
// starts with an ADDED event per Service, as kube-apiserver does. The
// response ends with the first batch of changes or at timeoutSeconds.
static void
watch(sf__gw_ctx *x, const char *cluster, const char *ns)
{
	Svcfleet__V1__WatchServicesRequest req
	    = SVCFLEET__V1__WATCH_SERVICES_REQUEST__INIT;
	Svcfleet__V1__WatchServicesReply *rep;
	const char  *rv_arg = sf__gw_query(x, "resourceVersion");
	const char  *lsel   = sf__gw_query(x, "labelSelector");
	uint32_t     secs   = WATCH_DEFAULT_S;
	uint64_t     since  = 0;
	sf_selector *sel    = NULL;
	sf_status    st;
	int          rv;

	if (!sf__gw_query_u32(x, "timeoutSeconds", WATCH_MAX_S, &secs)) {
		return;
	}
	if (rv_arg != NULL && rv_arg[0] != '\0'
	    && !parse_u64(rv_arg, &since)) {
		sf__gw_fail(x, 400, "BadRequest",
		    "invalid resourceVersion \"%.64s\": want a number",
		    rv_arg);
		return;
	}
	sf_status_init(&st);
	if (lsel != NULL && sf_selector_parse(lsel, &sel, &st) != 0) {
		sf__gw_fail(x, 400, "BadRequest", "%s", st.st_msg);
		sf_status_fini(&st);
		return;
	}
	sf_status_fini(&st);
	if (since == 0) {
		Svcfleet__V1__ListServicesRequest lreq
		    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
		Svcfleet__V1__ListServicesReply *lrep;
		size_t                           seen = 0;
		lreq.cluster                          = (char *) cluster;
		lreq.namespace_                       = (char *) ns;
		lreq.label_selector                   = (char *) sf_nz(lsel);
		do {
			rv = SF__GW_CALL(x, list_services, &lreq, &lrep);
			if (rv != 0) {
				sf_selector_free(sel);
				sf__gw_fail_rpc(x, "services", "");
				return;
			}
			for (size_t i = 0; i < lrep->n_services; i++) {
				event_line(x, "ADDED",
				    service_json(lrep->services[i]));
			}
			seen += lrep->n_services;
			if (since == 0) {
				since = lrep->revision;
			}
			lreq.page_token = lrep->next_page_token;
		} while (
		    sf_nz(lreq.page_token)[0] != '\0' && seen < LIST_ALL_MAX);
		if (seen > 0) {
			// The initial state is one answer of its own.
			sf_selector_free(sel);
			bookmark(x, since);
			x->x_resp->hs_type = "application/json";
			return;
		}
	}
	// Changes the caller does not see (other namespaces, other labels,
	// writes that are not Services) move the revision without an event:
	// keep waiting from the new revision until something shows or the
	// time is up.
	int64_t end   = sf_clock_mono_ms() + (int64_t) secs * 1000;
	size_t  shown = 0;
	for (;;) {
		int64_t left       = end - sf_clock_mono_ms();
		req.since_revision = since;
		req.cluster        = (char *) cluster;
		req.namespace_     = (char *) ns;
		req.wait_ms        = left > 0 ? (uint32_t) left : 0;
		// The server holds the call for wait_ms: the deadline
		// covers that and then some.
		svcfleet_call_opts wopts = x->x_call;
		wopts.timeout_ms         = req.wait_ms + 5000;
		rv                       = svcfleet_watch_services_with(
		                          x->x_gw->g_client, &req, &rep, &wopts, &x->x_st);
		if (rv == SF_OUT_OF_RANGE) {
			// As kube-apiserver: 200, then an ERROR event with
			// 410.
			sf_selector_free(sel);
			event_line(x, "ERROR",
			    json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind",
			        "Status", "apiVersion", "v1", "metadata",
			        "status", "Failure", "message",
			        x->x_st.message, "reason", "Expired", "code",
			        410));
			x->x_resp->hs_type = "application/json";
			return;
		}
		if (rv != 0) {
			sf_selector_free(sel);
			sf__gw_fail_rpc(x, "services", "");
			return;
		}
		for (size_t i = 0; i < rep->n_events; i++) {
			const Svcfleet__V1__WatchEvent *ev   = rep->events[i];
			const char                     *type = ev->type
                                == SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_ADDED
			                        ? "ADDED"
			                        : ev->type
                                == SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_DELETED
			                        ? "DELETED"
			                        : "MODIFIED";
			if (ev->service == NULL
			    || !selected(sel, ev->service)) {
				continue;
			}
			event_line(x, type, service_json(ev->service));
			shown++;
		}
		since = rep->revision > since ? rep->revision : since;
		if (shown > 0 || sf_clock_mono_ms() >= end - 50) {
			break;
		}
	}
	sf_selector_free(sel);
	bookmark(x, since);
	x->x_resp->hs_type = "application/json";
}

void
sf__gw_services_list(sf__gw_ctx *x)
{
	Svcfleet__V1__ListServicesRequest req
	    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
	Svcfleet__V1__ListServicesReply *rep;
	const char *cluster = x->x_arg[0] != NULL ? x->x_arg[0] : "";
	const char *ns      = x->x_arg[1] != NULL ? x->x_arg[1] : "";
	json_t     *items, *list, *md;
	uint32_t    limit = 0;

	if (sf__gw_query_bool(x, "watch")) {
		watch(x, cluster, ns);
		return;
	}
	if (!sf__gw_query_u32(x, "limit", 1000000000u, &limit)) {
		return;
	}
	req.cluster        = (char *) cluster;
	req.namespace_     = (char *) ns;
	req.label_selector = (char *) sf_nz(sf__gw_query(x, "labelSelector"));
	req.page_size      = limit;
	req.page_token     = (char *) sf_nz(sf__gw_query(x, "continue"));
	if (SF__GW_CALL(x, list_services, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "services", "");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < rep->n_services; i++) {
		json_array_append_new(items, service_json(rep->services[i]));
	}
	list = sf_model_json_list("v1", "ServiceList", items);
	md   = sf__gw_obj(list, "metadata");
	sf_model_json_set_u64(md, "resourceVersion", rep->revision);
	sf_model_json_set_str(md, "continue", rep->next_page_token);
	sf__gw_reply(x, 200, list);
}

// ---------------------------------------------------------- one Service

static void
key_of(sf__gw_ctx *x, Svcfleet__V1__ServiceKey *k)
{
	svcfleet__v1__service_key__init(k);
	k->cluster    = (char *) x->x_arg[0];
	k->namespace_ = (char *) x->x_arg[1];
	k->name       = (char *) x->x_arg[2];
}

void
sf__gw_service_get(sf__gw_ctx *x)
{
	Svcfleet__V1__GetServiceRequest req
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey key;
	sf_service              *svc;

	key_of(x, &key);
	req.key = &key;
	if (SF__GW_CALL(x, get_service, &req, &svc) != 0) {
		svc_fail(x, key.name);
		return;
	}
	sf__gw_reply(x, 200, service_json(svc));
}

void
sf__gw_services_create(sf__gw_ctx *x)
{
	Svcfleet__V1__CreateServiceRequest req
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	sf_service *svc, *out;
	int         dry;

	if ((dry = dry_run(x)) < 0 || (svc = body_service(x, NULL)) == NULL) {
		return;
	}
	req.service = svc;
	req.dry_run = dry;
	if (SF__GW_CALL(x, create_service, &req, &out) != 0) {
		svc_fail(x, sf_nz(svc->metadata->name));
		return;
	}
	sf__gw_reply(x, 201, service_json(out));
}

void
sf__gw_service_update(sf__gw_ctx *x)
{
	Svcfleet__V1__UpdateServiceRequest req
	    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
	sf_service *svc, *out;
	int         dry;

	if ((dry = dry_run(x)) < 0
	    || (svc = body_service(x, x->x_arg[2])) == NULL) {
		return;
	}
	req.service = svc;
	req.dry_run = dry;
	if (SF__GW_CALL(x, update_service, &req, &out) != 0) {
		svc_fail(x, x->x_arg[2]);
		return;
	}
	sf__gw_reply(x, 200, service_json(out));
}

// PATCH with application/apply-patch+yaml: server-side apply, which
// creates a missing Service (201) and updates an existing one (200).
void
sf__gw_service_apply(sf__gw_ctx *x)
{
	Svcfleet__V1__ApplyServiceRequest req
	    = SVCFLEET__V1__APPLY_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyServiceReply *rep;
	const char *ct = sf_http_req_header(x->x_req, "Content-Type");
	sf_service *svc;
	int         dry;

	if (ct == NULL
	    || strncmp(ct, "application/apply-patch+yaml", 28) != 0) {
		sf__gw_fail(x, 415, "UnsupportedMediaType",
		    "the body of the request was in an unknown format - "
		    "accepted media types include: "
		    "application/apply-patch+yaml (server-side apply)");
		return;
	}
	if ((dry = dry_run(x)) < 0
	    || (svc = body_service(x, x->x_arg[2])) == NULL) {
		return;
	}
	req.service = svc;
	req.dry_run = dry;
	if (SF__GW_CALL(x, apply_service, &req, &rep) != 0) {
		svc_fail(x, x->x_arg[2]);
		return;
	}
	sf__gw_reply(x,
	    rep->action == SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_CREATED
	        ? 201
	        : 200,
	    service_json(rep->service));
}

// DELETE: the precondition is ?resourceVersion=N or a DeleteOptions body
// with preconditions.resourceVersion. The answer is the Service as last
// stored; while clusters still hold it, it carries a deletionTimestamp
// (the reconciler removes it from them, then it is gone).
void
sf__gw_service_delete(sf__gw_ctx *x)
{
	Svcfleet__V1__DeleteServiceRequest req
	    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__DeleteServiceReply *rep;
	Svcfleet__V1__ServiceKey          key;
	const char *rv_arg = sf__gw_query(x, "resourceVersion");
	json_t     *body, *pre;

	if (x->x_req->hr_body_len > 0) {
		if ((body = sf__gw_body(x)) == NULL) {
			return;
		}
		pre = sf__gw_obj(body, "preconditions");
		if (pre != NULL
		    && sf__gw_str(pre, "resourceVersion") != NULL) {
			rv_arg = sf__gw_str(pre, "resourceVersion");
		}
	}
	if (rv_arg != NULL && rv_arg[0] != '\0'
	    && !parse_u64(rv_arg, &req.resource_version)) {
		sf__gw_fail(x, 400, "BadRequest",
		    "invalid resourceVersion \"%.64s\": want a number",
		    rv_arg);
		return;
	}
	key_of(x, &key);
	req.key = &key;
	if (SF__GW_CALL(x, delete_service, &req, &rep) != 0) {
		svc_fail(x, key.name);
		return;
	}
	if (rep->service == NULL) {
		sf__gw_reply(x, 200,
		    json_pack("{s:s,s:s,s:{},s:s}", "kind", "Status",
		        "apiVersion", "v1", "metadata", "status", "Success"));
		return;
	}
	if (!rep->deleted && rep->service->metadata != NULL) {
		rep->service->metadata->deleting = true;
	}
	sf__gw_reply(x, 200, service_json(rep->service));
}

// ------------------------------------------------ i19: history, rollback

// The history as {"kind":"ServiceHistory","keep":N,"items":[{generation,
// time, user, requestId, action, rollbackOf, service: the manifest}]},
// oldest first.
void
sf__gw_service_history(sf__gw_ctx *x)
{
	Svcfleet__V1__GetServiceHistoryRequest req
	    = SVCFLEET__V1__GET_SERVICE_HISTORY_REQUEST__INIT;
	Svcfleet__V1__ServiceKey      key;
	Svcfleet__V1__ServiceHistory *h;
	const char                   *g   = sf__gw_query(x, "generation");
	uint64_t                      gen = 0;
	json_t                       *o, *items;

	if (g != NULL && g[0] != '\0' && !parse_u64(g, &gen)) {
		sf__gw_fail(x, 400, "BadRequest",
		    "generation: Invalid value: \"%.32s\": must be a number",
		    g);
		return;
	}
	key_of(x, &key);
	req.key        = &key;
	req.generation = (int64_t) gen;
	if (SF__GW_CALL(x, get_service_history, &req, &h) != 0) {
		svc_fail(x, key.name);
		return;
	}
	o     = json_object();
	items = json_array();
	sf_model_json_set(o, "apiVersion", json_string("svcfleet.io/v1"));
	sf_model_json_set(o, "kind", json_string("ServiceHistory"));
	sf_model_json_set(o, "keep", json_integer(h->keep));
	for (size_t i = 0; i < h->n_entries; i++) {
		const Svcfleet__V1__HistoryEntry *e = h->entries[i];
		Svcfleet__V1__ObjectMeta md  = SVCFLEET__V1__OBJECT_META__INIT;
		Svcfleet__V1__Service    svc = SVCFLEET__V1__SERVICE__INIT;
		json_t                  *it  = json_object();
		md.cluster                   = key.cluster;
		md.namespace_                = key.namespace_;
		md.name                      = key.name;
		md.generation                = e->generation;
		svc.metadata                 = &md;
		svc.spec                     = e->spec;
		sf_model_json_set(
		    it, "generation", json_integer(e->generation));
		sf_model_json_set_time(it, "time", e->time_ms);
		sf_model_json_set_str(it, "user", e->user);
		sf_model_json_set_str(it, "requestId", e->request_id);
		sf_model_json_set_str(it, "action", e->action);
		if (e->rollback_of != 0) {
			sf_model_json_set(
			    it, "rollbackOf", json_integer(e->rollback_of));
		}
		if (e->spec != NULL) {
			sf_model_json_set(
			    it, "service", sf_model_service_to_manifest(&svc));
		}
		json_array_append_new(items, it);
	}
	sf_model_json_set(o, "items", items);
	sf__gw_reply(x, 200, o);
}

void
sf__gw_service_rollback(sf__gw_ctx *x)
{
	Svcfleet__V1__RollbackServiceRequest req
	    = SVCFLEET__V1__ROLLBACK_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey key;
	sf_service              *out;
	json_t                  *body, *g;
	const char              *rv;
	int                      dry;

	if ((dry = dry_run(x)) < 0 || (body = sf__gw_body(x)) == NULL) {
		return;
	}
	g = json_object_get(body, "toGeneration");
	if (!json_is_integer(g) || json_integer_value(g) < 1) {
		sf__gw_fail(x, 422, "Invalid",
		    "toGeneration: Required value: the generation to go back "
		    "to (a number, 1 or more)");
		return;
	}
	rv = sf__gw_str(body, "resourceVersion");
	if (rv != NULL && rv[0] != '\0'
	    && !parse_u64(rv, &req.resource_version)) {
		sf__gw_fail(x, 422, "Invalid",
		    "resourceVersion: Invalid value: \"%.32s\": must be a "
		    "number",
		    rv);
		return;
	}
	key_of(x, &key);
	req.key           = &key;
	req.to_generation = json_integer_value(g);
	req.dry_run       = dry;
	if (SF__GW_CALL(x, rollback_service, &req, &out) != 0) {
		svc_fail(x, key.name);
		return;
	}
	sf__gw_reply(x, 200, service_json(out));
}

// ------------------------------------------- console: a Service's drift

// The drift events of one Service (audit events the reconciler recorded
// on a heal), newest first, as {"kind":"DriftEventList","items":[{time,
// cluster, user, fields:[{path, oldValue, newValue}], managers, operation,
// action}]}. ?limit= bounds them (default 20, at most 200); the caller
// needs the audit right the audit log asks for.
void
sf__gw_service_drift(sf__gw_ctx *x)
{
	Svcfleet__V1__ListAuditEventsRequest req
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	Svcfleet__V1__ListAuditEventsReply *rep;
	json_t                             *items;
	uint32_t                            limit = 20;

	if (!sf__gw_query_u32(x, "limit", 200, &limit)) {
		return;
	}
	req.cluster    = (char *) x->x_arg[0];
	req.namespace_ = (char *) x->x_arg[1];
	req.name       = (char *) x->x_arg[2];
	req.drift_only = true;
	req.page_size  = limit > 0 ? limit : 20;
	if (SF__GW_CALL(x, list_audit_events, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "audit", "");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < rep->n_events; i++) {
		const Svcfleet__V1__AuditEvent *ev = rep->events[i];
		json_t                         *it = json_object();
		json_t                         *fs = json_array();
		sf_model_json_set_time(it, "time", ev->time_ms);
		sf_model_json_set_str(it, "cluster", ev->cluster);
		sf_model_json_set_str(it, "user", ev->user);
		for (size_t k = 0; k < ev->n_drift_fields; k++) {
			const Svcfleet__V1__DriftField *f
			    = ev->drift_fields[k];
			json_array_append_new(fs,
			    json_pack("{s:s,s:s,s:s}", "path", sf_nz(f->path),
			        "oldValue", sf_nz(f->old_value), "newValue",
			        sf_nz(f->new_value)));
		}
		sf_model_json_set(it, "fields", fs);
		sf_model_json_set(it, "managers",
		    sf_model_json_str_array(
		        ev->drift_managers, ev->n_drift_managers));
		sf_model_json_set_str(it, "operation", ev->drift_operation);
		sf_model_json_set_str(it, "action", ev->drift_action);
		json_array_append_new(items, it);
	}
	sf__gw_reply(x, 200,
	    sf_model_json_list(SF__GW_API_GROUP, "DriftEventList", items));
}

// ------------------------------------ i19-diff: server-side preview

// POST .../services/{name}/preview: the body as for PUT (a nonzero
// metadata.resourceVersion must match, as for apply). svcfleetd's dry run
// of the apply ("action", and "service": what it would store) and the
// cluster's API server's (gateway_preview.c). Writes nothing.
void
sf__gw_service_preview(sf__gw_ctx *x)
{
	Svcfleet__V1__ApplyServiceRequest req
	    = SVCFLEET__V1__APPLY_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyServiceReply *rep;
	sf_service                      *svc;
	json_t                          *o, *clusters;

	// ?dryRun=All may be said; the preview is one in any case.
	if (dry_run(x) < 0 || (svc = body_service(x, x->x_arg[2])) == NULL) {
		return;
	}
	req.service     = svc;
	req.dry_run     = true;
	req.server_side = true;
	if (SF__GW_CALL(x, apply_service, &req, &rep) != 0) {
		svc_fail(x, x->x_arg[2]);
		return;
	}
	o = sf__gw_preview_new(
	    "ServicePreview", x->x_arg[1], x->x_arg[2], (int) rep->action);
	sf_model_json_set_str(
	    json_object_get(o, "metadata"), "cluster", x->x_arg[0]);
	if (rep->service != NULL) {
		sf_model_json_set(o, "service", service_json(rep->service));
	}
	clusters = json_array();
	for (size_t i = 0; i < rep->n_server_dry_runs; i++) {
		json_array_append_new(
		    clusters, sf__gw_dry_run_json(rep->server_dry_runs[i]));
	}
	sf__gw_preview_owners(x, clusters);
	sf_model_json_set(o, "clusters", clusters);
	sf__gw_reply(x, 200, o);
}
