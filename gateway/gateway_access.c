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
#include "str.h"

// ---------------------------------------------------------------- version

// GET version: the System service's Version (no token needed).
void
sf__gw_version(sf__gw_ctx *x)
{
	Svcfleet__V1__Empty         req = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *rep;
	json_t                     *o;

	if (SF__GW_CALL(x, version, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "version", "");
		return;
	}
	o = json_pack(
	    "{s:s,s:s}", "apiVersion", SF__GW_API_GROUP, "kind", "Version");
	sf_model_json_set_str(o, "version", rep->version);
	sf_model_json_set_str(o, "api", rep->api);
	sf_model_json_set_u64(o, "revision", rep->revision);
	sf_model_json_set_str(o, "installationID", rep->installation_id);
	sf__gw_reply(x, 200, o);
}

// ----------------------------------------------------------------- whoami

static Svcfleet__V1__WhoAmIReply *
who_am_i(sf__gw_ctx *x)
{
	Svcfleet__V1__WhoAmIRequest req = SVCFLEET__V1__WHO_AM_IREQUEST__INIT;
	Svcfleet__V1__WhoAmIReply  *rep;
	if (SF__GW_CALL(x, who_am_i, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "selfsubjectreviews", "");
		return (NULL);
	}
	return (rep);
}

void
sf__gw_whoami(sf__gw_ctx *x)
{
	Svcfleet__V1__WhoAmIReply *rep;

	if ((rep = who_am_i(x)) != NULL) {
		sf__gw_reply(x, 200, sf_model_whoami_json(rep));
	}
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
sf__gw_rules_review(sf__gw_ctx *x)
{
	Svcfleet__V1__WhoAmIReply *rep;
	json_t                    *body, *spec, *out, *nss, *per;
	const char                *cluster, *ns;
	sf_principal               p;

	if ((body = sf__gw_body(x)) == NULL) {
		return;
	}
	spec    = sf__gw_obj(body, "spec");
	cluster = spec != NULL ? sf_nz(sf__gw_str(spec, "cluster")) : "";
	ns      = spec != NULL ? sf_nz(sf__gw_str(spec, "namespace")) : "";
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
	    SF__GW_API_GROUP, "kind", "SelfSubjectRulesReview", "spec",
	    "cluster", cluster, "namespace", ns, "status", "resourceRules",
	    rules_at(&p, cluster, ns), "incomplete", 0);
	if (json_is_array(nss)) {
		size_t  i;
		json_t *v;
		per = json_object();
		json_array_foreach(nss, i, v)
		{
			if (json_is_string(v)) {
				sf_model_json_set(per, json_string_value(v),
				    json_pack("{s:o}", "resourceRules",
				        rules_at(&p, cluster,
				            json_string_value(v))));
			}
		}
		sf_model_json_set(
		    sf__gw_obj(out, "status"), "namespaces", per);
		sf_model_json_set(
		    sf__gw_obj(out, "spec"), "namespaces", json_incref(nss));
	}
	sf__gw_reply(x, 201, out);
}

// ---------------------------------------------------------- role bindings

void
sf__gw_bindings_list(sf__gw_ctx *x)
{
	Svcfleet__V1__ListRoleBindingsRequest req
	    = SVCFLEET__V1__LIST_ROLE_BINDINGS_REQUEST__INIT;
	Svcfleet__V1__ListRoleBindingsReply *rep;

	req.cluster    = (char *) sf_nz(sf__gw_query(x, "cluster"));
	req.namespace_ = (char *) sf_nz(sf__gw_query(x, "namespace"));
	req.user       = (char *) sf_nz(sf__gw_query(x, "user"));
	if (SF__GW_CALL(x, list_role_bindings, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "rolebindings", "");
		return;
	}
	sf__gw_reply(x, 200,
	    sf_model_json_list(SF__GW_API_GROUP, "RoleBindingList",
	        sf_model_role_bindings_json(rep->bindings, rep->n_bindings)));
}

// POST rolebindings {"role","subject":{"kind":"User|Group","name"},
// "cluster","namespace"}.
void
sf__gw_bindings_create(sf__gw_ctx *x)
{
	Svcfleet__V1__CreateRoleBindingRequest req
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__RoleBinding b = SVCFLEET__V1__ROLE_BINDING__INIT, *out;
	json_t                   *body, *subj;
	const char               *kind;

	if ((body = sf__gw_body(x)) == NULL) {
		return;
	}
	b.role       = (char *) sf_nz(sf__gw_str(body, "role"));
	b.cluster    = (char *) sf_nz(sf__gw_str(body, "cluster"));
	b.namespace_ = (char *) sf_nz(sf__gw_str(body, "namespace"));
	if ((subj = sf__gw_obj(body, "subject")) != NULL) {
		kind = sf_nz(sf__gw_str(subj, "kind"));
		if (strcmp(kind, "Group") == 0) {
			b.group = (char *) sf_nz(sf__gw_str(subj, "name"));
		} else if (strcmp(kind, "User") == 0 || kind[0] == '\0') {
			b.user = (char *) sf_nz(sf__gw_str(subj, "name"));
		} else {
			sf__gw_fail(x, 422, "Invalid",
			    "subject.kind: Unsupported value: \"%.64s\": "
			    "supported values: \"Group\", \"User\"",
			    kind);
			return;
		}
	}
	req.binding = &b;
	if (SF__GW_CALL(x, create_role_binding, &req, &out) != 0) {
		sf__gw_fail_rpc(x, "rolebindings", "");
		return;
	}
	sf__gw_reply(x, 201, sf_model_role_binding_json(out));
}

void
sf__gw_binding_delete(sf__gw_ctx *x)
{
	Svcfleet__V1__DeleteRoleBindingRequest req
	    = SVCFLEET__V1__DELETE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__Empty *e;

	req.id = (char *) x->x_arg[0];
	sf__gw_deleted(
	    x, SF__GW_CALL(x, delete_role_binding, &req, &e), "rolebindings");
}

// ----------------------------------------------------------------- tokens

void
sf__gw_tokens_list(sf__gw_ctx *x)
{
	Svcfleet__V1__ListTokensRequest req
	    = SVCFLEET__V1__LIST_TOKENS_REQUEST__INIT;
	Svcfleet__V1__ListTokensReply *rep;

	req.user = (char *) sf_nz(sf__gw_query(x, "user"));
	if (SF__GW_CALL(x, list_tokens, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "tokens", "");
		return;
	}
	sf__gw_reply(x, 200,
	    sf_model_json_list(SF__GW_API_GROUP, "TokenList",
	        sf_model_tokens_json(rep->tokens, rep->n_tokens)));
}

// POST tokens {"user","groups":[...],"ttl":"24h"}: the answer carries the
// secret, once.
void
sf__gw_tokens_create(sf__gw_ctx *x)
{
	Svcfleet__V1__CreateTokenRequest req
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply *rep;
	json_t                         *body, *groups, *o;
	const char                     *ttl;
	int64_t                         ms = 0;

	if ((body = sf__gw_body(x)) == NULL) {
		return;
	}
	req.user = (char *) sf_nz(sf__gw_str(body, "user"));
	groups   = json_object_get(body, "groups");
	if (json_is_array(groups) && json_array_size(groups) > 0) {
		req.n_groups = json_array_size(groups);
		req.groups   = sf_arena_zalloc(
		      &x->x_arena, req.n_groups * sizeof(*req.groups));
		if (req.groups == NULL) {
			sf__gw_reply(x, 500, NULL);
			return;
		}
		for (size_t i = 0; i < req.n_groups; i++) {
			req.groups[i] = (char *) sf_nz(
			    json_string_value(json_array_get(groups, i)));
		}
	}
	if ((ttl = sf__gw_str(body, "ttl")) != NULL
	    && (sf_duration_parse(ttl, &ms) != 0 || ms < 1000)) {
		sf__gw_fail(x, 422, "Invalid",
		    "ttl: Invalid value: \"%.64s\": want a duration such as "
		    "24h or 30d",
		    ttl);
		return;
	}
	req.ttl_seconds = ms / 1000;
	if (SF__GW_CALL(x, create_token, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "tokens", "");
		return;
	}
	o = rep->token != NULL ? sf_model_token_json(rep->token)
	                       : json_object();
	sf_model_json_set_str(o, "secret", rep->secret);
	sf__gw_reply(x, 201, o);
}

void
sf__gw_token_revoke(sf__gw_ctx *x)
{
	Svcfleet__V1__RevokeTokenRequest req
	    = SVCFLEET__V1__REVOKE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__Empty *e;

	req.id = (char *) x->x_arg[0];
	sf__gw_deleted(x, SF__GW_CALL(x, revoke_token, &req, &e), "tokens");
}

// ------------------------------------------------------------------ audit

// A time argument: RFC 3339, or a duration meaning that long ago ("1h").
static bool
time_arg(sf__gw_ctx *x, const char *name, int64_t *ms)
{
	const char *v = sf__gw_query(x, name);
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
	sf__gw_fail(x, 400, "BadRequest",
	    "invalid %s \"%.64s\": want an RFC 3339 time or a duration such "
	    "as 1h",
	    name, v);
	return (false);
}

void
sf__gw_audit_list(sf__gw_ctx *x)
{
	Svcfleet__V1__ListAuditEventsRequest req
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	Svcfleet__V1__ListAuditEventsReply *rep;
	json_t                             *list;
	uint32_t                            limit = 0;

	if (!sf__gw_query_u32(x, "limit", 1000000000u, &limit)
	    || !time_arg(x, "since", &req.since_ms)
	    || !time_arg(x, "until", &req.until_ms)) {
		return;
	}
	req.user       = (char *) sf_nz(sf__gw_query(x, "user"));
	req.cluster    = (char *) sf_nz(sf__gw_query(x, "cluster"));
	req.namespace_ = (char *) sf_nz(sf__gw_query(x, "namespace"));
	req.name       = (char *) sf_nz(sf__gw_query(x, "name"));
	req.page_size  = limit;
	req.page_token = (char *) sf_nz(sf__gw_query(x, "continue"));
	if (SF__GW_CALL(x, list_audit_events, &req, &rep) != 0) {
		sf__gw_fail_rpc(x, "audit", "");
		return;
	}
	list = sf_model_json_list(SF__GW_API_GROUP, "AuditEventList",
	    sf_model_audit_events_json(rep->events, rep->n_events));
	sf_model_json_set_str(
	    sf__gw_obj(list, "metadata"), "continue", rep->next_page_token);
	sf__gw_reply(x, 200, list);
}
