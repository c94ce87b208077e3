// gateway_access.c: identity and audit over HTTP — WhoAmI, a rules review
// (what may I do here?), role bindings, tokens, and the audit log.
//
// The rules review answers from WhoAmI (so from the server's own
// authentication of the token) with the server's own permission function,
// sf_rbac_allowed: the console hides what a role may not use without a
// second copy of the role table.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "gateway_internal.h"
#include "rbac.h"
#include "status.h"

static const char *
nz(const char *s)
{
	return (s != NULL ? s : "");
}

// ---------------------------------------------------------------- version

// GET version: the System service's Version (no token needed).
void
gw_version(gw_ctx *x)
{
	Svcfleet__V1__Empty         req = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *rep;
	json_t                     *o;

	if (gw_call(x, "System/Version", &req.base,
	        &svcfleet__v1__version_reply__descriptor, (void **) &rep, 0)
	    != 0) {
		gw_fail_rpc(x, "version", "");
		return;
	}
	o = json_pack(
	    "{s:s,s:s}", "apiVersion", GW_API_GROUP, "kind", "Version");
	gw_set_str(o, "version", rep->version);
	gw_set_str(o, "api", rep->api);
	gw_set_u64(o, "revision", rep->revision);
	gw_set_str(o, "installationID", rep->installation_id);
	gw_reply(x, 200, o);
}

// ----------------------------------------------------------------- whoami

static json_t *
binding_json(const Svcfleet__V1__RoleBinding *b)
{
	json_t *o = json_pack(
	    "{s:s,s:s}", "apiVersion", GW_API_GROUP, "kind", "RoleBinding");
	json_t *md    = json_object();
	bool    group = nz(b->group)[0] != '\0';

	gw_set_str(md, "name", b->id);
	gw_set_time(md, "creationTimestamp", b->create_time_ms);
	gw_set(o, "metadata", md);
	gw_set_str(o, "role", b->role);
	gw_set(o, "subject",
	    json_pack("{s:s,s:s}", "kind", group ? "Group" : "User", "name",
	        group ? b->group : nz(b->user)));
	gw_set_str(o, "cluster", b->cluster);
	gw_set_str(o, "namespace", b->namespace_);
	gw_set_str(o, "createdBy", b->created_by);
	return (o);
}

static Svcfleet__V1__WhoAmIReply *
who_am_i(gw_ctx *x)
{
	Svcfleet__V1__WhoAmIRequest req = SVCFLEET__V1__WHO_AM_IREQUEST__INIT;
	Svcfleet__V1__WhoAmIReply  *rep;
	if (gw_call(x, "AccessControl/WhoAmI", &req.base,
	        &svcfleet__v1__who_am_ireply__descriptor, (void **) &rep, 0)
	    != 0) {
		gw_fail_rpc(x, "selfsubjectreviews", "");
		return (NULL);
	}
	return (rep);
}

void
gw_whoami(gw_ctx *x)
{
	Svcfleet__V1__WhoAmIReply *rep;
	json_t                    *st, *bindings;

	if ((rep = who_am_i(x)) == NULL) {
		return;
	}
	bindings = json_array();
	for (size_t i = 0; i < rep->n_bindings; i++) {
		json_array_append_new(
		    bindings, binding_json(rep->bindings[i]));
	}
	st = json_pack("{s:{s:s,s:o}}", "userInfo", "username", nz(rep->user),
	    "groups", gw_str_array(rep->groups, rep->n_groups));
	gw_set_str(st, "tokenID", rep->token_id);
	gw_set(st, "bindings", bindings);
	gw_reply(x, 200,
	    json_pack("{s:s,s:s,s:o}", "apiVersion", GW_API_GROUP, "kind",
	        "WhoAmI", "status", st));
}

// The verbs p holds on each resource at (cluster, ns), over authz's
// vocabulary without what only the reconciler role holds.
static json_t *
rules_at(const sf_principal *p, const char *cluster, const char *ns)
{
	json_t *rules = json_array();

	for (size_t r = 0; r < sf_rbac_nresources; r++) {
		const sf_rbac_resource *res = &sf_rbac_resources[r];
		json_t                 *vs;
		if (res->rs_system) {
			continue;
		}
		vs = json_array();
		for (size_t v = 0; v < sf_rbac_nverbs; v++) {
			const sf_rbac_verb *verb = &sf_rbac_verbs[v];
			if (!verb->v_system
			    && sf_rbac_allowed(p, res->rs_name, verb->v_name,
			        cluster, ns, NULL)) {
				json_array_append_new(
				    vs, json_string(verb->v_name));
			}
		}
		if (json_array_size(vs) == 0) {
			json_decref(vs);
			continue;
		}
		json_array_append_new(rules,
		    json_pack("{s:o,s:[s]}", "verbs", vs, "resources",
		        res->rs_name));
	}
	return (rules);
}

// POST selfsubjectrulesreviews {"spec":{"cluster":C,"namespace":NS}}:
// the verbs the caller holds on each resource there. With
// "namespaces":[...] in spec, status.namespaces has the rules of each of
// them too (one round trip for a namespace picker).
void
gw_rules_review(gw_ctx *x)
{
	Svcfleet__V1__WhoAmIReply *rep;
	json_t                    *body, *spec, *out, *nss, *per;
	const char                *cluster, *ns;
	sf_principal               p;

	if ((body = gw_body(x)) == NULL) {
		return;
	}
	spec    = gw_obj(body, "spec");
	cluster = spec != NULL ? nz(gw_str(spec, "cluster")) : "";
	ns      = spec != NULL ? nz(gw_str(spec, "namespace")) : "";
	nss     = spec != NULL ? json_object_get(spec, "namespaces") : NULL;
	if ((rep = who_am_i(x)) == NULL) {
		return;
	}
	p.p_user      = rep->user;
	p.p_groups    = (const char *const *) rep->groups;
	p.p_ngroups   = rep->n_groups;
	p.p_bindings  = rep->bindings;
	p.p_nbindings = rep->n_bindings;
	out = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:o,s:b}}", "apiVersion",
	    GW_API_GROUP, "kind", "SelfSubjectRulesReview", "spec", "cluster",
	    cluster, "namespace", ns, "status", "resourceRules",
	    rules_at(&p, cluster, ns), "incomplete", 0);
	if (json_is_array(nss)) {
		size_t  i;
		json_t *v;
		per = json_object();
		json_array_foreach(nss, i, v)
		{
			if (json_is_string(v)) {
				gw_set(per, json_string_value(v),
				    json_pack("{s:o}", "resourceRules",
				        rules_at(&p, cluster,
				            json_string_value(v))));
			}
		}
		gw_set(gw_obj(out, "status"), "namespaces", per);
		gw_set(gw_obj(out, "spec"), "namespaces", json_incref(nss));
	}
	gw_reply(x, 201, out);
}

// ---------------------------------------------------------- role bindings

void
gw_bindings_list(gw_ctx *x)
{
	Svcfleet__V1__ListRoleBindingsRequest req
	    = SVCFLEET__V1__LIST_ROLE_BINDINGS_REQUEST__INIT;
	Svcfleet__V1__ListRoleBindingsReply *rep;
	json_t                              *items;

	req.cluster    = (char *) nz(gw_query(x, "cluster"));
	req.namespace_ = (char *) nz(gw_query(x, "namespace"));
	req.user       = (char *) nz(gw_query(x, "user"));
	if (gw_call(x, "AccessControl/ListRoleBindings", &req.base,
	        &svcfleet__v1__list_role_bindings_reply__descriptor,
	        (void **) &rep, 0)
	    != 0) {
		gw_fail_rpc(x, "rolebindings", "");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < rep->n_bindings; i++) {
		json_array_append_new(items, binding_json(rep->bindings[i]));
	}
	gw_reply(x, 200, gw_list(GW_API_GROUP, "RoleBindingList", items));
}

// POST rolebindings {"role","subject":{"kind":"User|Group","name"},
// "cluster","namespace"}.
void
gw_bindings_create(gw_ctx *x)
{
	Svcfleet__V1__CreateRoleBindingRequest req
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__RoleBinding b = SVCFLEET__V1__ROLE_BINDING__INIT, *out;
	json_t                   *body, *subj;
	const char               *kind;

	if ((body = gw_body(x)) == NULL) {
		return;
	}
	b.role       = (char *) nz(gw_str(body, "role"));
	b.cluster    = (char *) nz(gw_str(body, "cluster"));
	b.namespace_ = (char *) nz(gw_str(body, "namespace"));
	if ((subj = gw_obj(body, "subject")) != NULL) {
		kind = nz(gw_str(subj, "kind"));
		if (strcmp(kind, "Group") == 0) {
			b.group = (char *) nz(gw_str(subj, "name"));
		} else if (strcmp(kind, "User") == 0 || kind[0] == '\0') {
			b.user = (char *) nz(gw_str(subj, "name"));
		} else {
			gw_fail(x, 422, "Invalid",
			    "subject.kind: Unsupported value: \"%.64s\": "
			    "supported values: \"Group\", \"User\"",
			    kind);
			return;
		}
	}
	req.binding = &b;
	if (gw_call(x, "AccessControl/CreateRoleBinding", &req.base,
	        &svcfleet__v1__role_binding__descriptor, (void **) &out, 0)
	    != 0) {
		gw_fail_rpc(x, "rolebindings", "");
		return;
	}
	gw_reply(x, 201, binding_json(out));
}

static void
deleted(gw_ctx *x, const char *kind, const char *name)
{
	gw_reply(x, 200,
	    json_pack("{s:s,s:s,s:{},s:s,s:{s:s,s:s}}", "kind", "Status",
	        "apiVersion", "v1", "metadata", "status", "Success", "details",
	        "name", name, "kind", kind));
}

void
gw_binding_delete(gw_ctx *x)
{
	Svcfleet__V1__DeleteRoleBindingRequest req
	    = SVCFLEET__V1__DELETE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__Empty *e;

	req.id = (char *) x->x_arg[0];
	if (gw_call(x, "AccessControl/DeleteRoleBinding", &req.base,
	        &svcfleet__v1__empty__descriptor, (void **) &e, 0)
	    != 0) {
		gw_fail_rpc(x, "rolebindings", x->x_arg[0]);
		return;
	}
	deleted(x, "rolebindings", x->x_arg[0]);
}

// ----------------------------------------------------------------- tokens

static json_t *
token_json(const Svcfleet__V1__Token *t)
{
	json_t *o = json_pack(
	    "{s:s,s:s}", "apiVersion", GW_API_GROUP, "kind", "Token");
	json_t *md = json_object();

	gw_set_str(md, "name", t->id);
	gw_set_time(md, "creationTimestamp", t->create_time_ms);
	gw_set(o, "metadata", md);
	gw_set_str(o, "user", t->user);
	gw_set(o, "groups", gw_str_array(t->groups, t->n_groups));
	gw_set_time(o, "expirationTimestamp", t->expire_time_ms);
	if (t->revoked) {
		gw_set(o, "revoked", json_true());
	}
	gw_set_str(o, "createdBy", t->created_by);
	gw_set_str(o, "source", t->source);
	return (o);
}

void
gw_tokens_list(gw_ctx *x)
{
	Svcfleet__V1__ListTokensRequest req
	    = SVCFLEET__V1__LIST_TOKENS_REQUEST__INIT;
	Svcfleet__V1__ListTokensReply *rep;
	json_t                        *items;

	req.user = (char *) nz(gw_query(x, "user"));
	if (gw_call(x, "AccessControl/ListTokens", &req.base,
	        &svcfleet__v1__list_tokens_reply__descriptor, (void **) &rep,
	        0)
	    != 0) {
		gw_fail_rpc(x, "tokens", "");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < rep->n_tokens; i++) {
		json_array_append_new(items, token_json(rep->tokens[i]));
	}
	gw_reply(x, 200, gw_list(GW_API_GROUP, "TokenList", items));
}

// POST tokens {"user","groups":[...],"ttl":"24h"}: the answer carries the
// secret, once.
void
gw_tokens_create(gw_ctx *x)
{
	Svcfleet__V1__CreateTokenRequest req
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply *rep;
	json_t                         *body, *groups, *o;
	const char                     *ttl;
	int64_t                         ms = 0;

	if ((body = gw_body(x)) == NULL) {
		return;
	}
	req.user = (char *) nz(gw_str(body, "user"));
	groups   = json_object_get(body, "groups");
	if (json_is_array(groups) && json_array_size(groups) > 0) {
		req.n_groups = json_array_size(groups);
		req.groups   = sf_arena_zalloc(
		      &x->x_arena, req.n_groups * sizeof(*req.groups));
		if (req.groups == NULL) {
			gw_reply(x, 500, NULL);
			return;
		}
		for (size_t i = 0; i < req.n_groups; i++) {
			req.groups[i] = (char *) nz(
			    json_string_value(json_array_get(groups, i)));
		}
	}
	if ((ttl = gw_str(body, "ttl")) != NULL
	    && (sf_duration_parse(ttl, &ms) != 0 || ms < 1000)) {
		gw_fail(x, 422, "Invalid",
		    "ttl: Invalid value: \"%.64s\": want a duration such as "
		    "24h or 30d",
		    ttl);
		return;
	}
	req.ttl_seconds = ms / 1000;
	if (gw_call(x, "AccessControl/CreateToken", &req.base,
	        &svcfleet__v1__create_token_reply__descriptor, (void **) &rep,
	        0)
	    != 0) {
		gw_fail_rpc(x, "tokens", "");
		return;
	}
	o = rep->token != NULL ? token_json(rep->token) : json_object();
	gw_set_str(o, "secret", rep->secret);
	gw_reply(x, 201, o);
}

void
gw_token_revoke(gw_ctx *x)
{
	Svcfleet__V1__RevokeTokenRequest req
	    = SVCFLEET__V1__REVOKE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__Empty *e;

	req.id = (char *) x->x_arg[0];
	if (gw_call(x, "AccessControl/RevokeToken", &req.base,
	        &svcfleet__v1__empty__descriptor, (void **) &e, 0)
	    != 0) {
		gw_fail_rpc(x, "tokens", x->x_arg[0]);
		return;
	}
	deleted(x, "tokens", x->x_arg[0]);
}

// ------------------------------------------------------------------ audit

static json_t *
audit_json(const Svcfleet__V1__AuditEvent *ev)
{
	json_t     *o    = json_object();
	const char *verb = strrchr(nz(ev->method), '/');
	char        ts[40], id[24];

	snprintf(id, sizeof(id), "%llu", (unsigned long long) ev->id);
	gw_set_str(o, "id", id);
	sf_clock_format_rfc3339_ms(ev->time_ms, ts, sizeof(ts));
	gw_set_str(o, "time", ts);
	gw_set(o, "user",
	    json_pack("{s:s,s:o}", "username", nz(ev->user), "groups",
	        gw_str_array(ev->groups, ev->n_groups)));
	gw_set_str(o, "verb", verb != NULL ? verb + 1 : nz(ev->method));
	gw_set_str(o, "method", ev->method);
	gw_set(o, "objectRef",
	    json_pack("{s:s,s:s,s:s}", "cluster", nz(ev->cluster), "namespace",
	        nz(ev->namespace_), "name", nz(ev->name)));
	gw_set(o, "responseStatus",
	    json_pack("{s:s,s:i,s:s}", "status", sf_status_name(ev->code),
	        "code", ev->code, "message", nz(ev->message)));
	gw_set_str(o, "requestID", ev->request_id);
	gw_set_u64(o, "revision", ev->revision);
	return (o);
}

// A time argument: RFC 3339, or a duration meaning that long ago ("1h").
static bool
time_arg(gw_ctx *x, const char *name, int64_t *ms)
{
	const char *v = gw_query(x, name);
	int64_t     d;
	if (v == NULL || v[0] == '\0') {
		return (true);
	}
	if (sf_clock_parse_rfc3339(v, ms) == 0) {
		return (true);
	}
	if (sf_duration_parse(v, &d) == 0) {
		*ms = sf_clock_now_ms() - d;
		return (true);
	}
	gw_fail(x, 400, "BadRequest",
	    "invalid %s \"%.64s\": want an RFC 3339 time or a duration such "
	    "as 1h",
	    name, v);
	return (false);
}

void
gw_audit_list(gw_ctx *x)
{
	Svcfleet__V1__ListAuditEventsRequest req
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	Svcfleet__V1__ListAuditEventsReply *rep;
	json_t                             *items, *list;
	uint32_t                            limit = 0;

	if (!gw_query_u32(x, "limit", 1000000000u, &limit)
	    || !time_arg(x, "since", &req.since_ms)
	    || !time_arg(x, "until", &req.until_ms)) {
		return;
	}
	req.user       = (char *) nz(gw_query(x, "user"));
	req.cluster    = (char *) nz(gw_query(x, "cluster"));
	req.namespace_ = (char *) nz(gw_query(x, "namespace"));
	req.name       = (char *) nz(gw_query(x, "name"));
	req.page_size  = limit;
	req.page_token = (char *) nz(gw_query(x, "continue"));
	if (gw_call(x, "Audit/ListAuditEvents", &req.base,
	        &svcfleet__v1__list_audit_events_reply__descriptor,
	        (void **) &rep, 0)
	    != 0) {
		gw_fail_rpc(x, "audit", "");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < rep->n_events; i++) {
		json_array_append_new(items, audit_json(rep->events[i]));
	}
	list = gw_list(GW_API_GROUP, "AuditEventList", items);
	gw_set_str(gw_obj(list, "metadata"), "continue", rep->next_page_token);
	gw_reply(x, 200, list);
}
