// h_access.c: AccessControl (role bindings, tokens, WhoAmI) and Audit.
//
// Who may grant what follows DESIGN §4: admin grants anything,
// cluster-admin grants cluster-admin and ns-* in its cluster, ns-admin
// grants ns-edit and ns-view in its namespace (rbac.c). Only admin creates
// tokens for users; everyone may list and revoke their own.
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "log.h"
#include "str.h"

#define AUDIT_PAGE_DEFAULT 100
#define TOKEN_TTL_MAX_S    (10LL * 366 * 24 * 3600)
#define AUDIT_PAGE_MAX     1000

static bool
is_admin(const sf__srv_call *c)
{
	return (sf_rbac_has_global(&c->c_ident.id_p, "admin"));
}

// DeleteRoleBinding and RevokeToken name what they remove by its id,
// which is required: false when it is missing (and the call answered).
static bool
id_given(sf__srv_call *c, const char *id, const char *what)
{
	if (sf_nz(id)[0] != '\0') {
		return (true);
	}
	sf_status_violation(
	    &c->c_status, SF_V_REQUIRED, "id", "Required value");
	sf__srv_call_fail(
	    c, SF_INVALID_ARGUMENT, "the %s id is required", what);
	return (false);
}

// --------------------------------------------------------- role bindings

typedef struct rb_job {
	sf__srv_call              *j_call; // first, for the audit record
	Svcfleet__V1__RoleBinding *j_binding;
	const char                *j_id;
} rb_job;

// The id of a binding is derived from what it grants, so granting the
// same thing twice is ALREADY_EXISTS rather than a duplicate.
static char *
binding_id(sf_arena *a, const Svcfleet__V1__RoleBinding *b)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t           h[32];
	unsigned int      n = sizeof(h);
	char             *text, *id;

	text = sf_arena_printf(a, "%s\n%s\n%s\n%s\n%s", sf_nz(b->role),
	    sf_nz(b->user), sf_nz(b->group), sf_nz(b->cluster),
	    sf_nz(b->namespace_));
	id   = sf_arena_alloc(a, 4 + 16 + 1);
	if (text == NULL || id == NULL) {
		return (NULL);
	}
	EVP_Digest(text, strlen(text), h, &n, EVP_sha256(), NULL);
	memcpy(id, "rb-", 3);
	for (int i = 0; i < 8; i++) {
		id[3 + 2 * i]     = hex[h[i] >> 4];
		id[3 + 2 * i + 1] = hex[h[i] & 15];
	}
	id[19] = '\0';
	return (id);
}

static int
rb_create_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	rb_job                    *j = arg;
	Svcfleet__V1__RoleBinding *b = j->j_binding;
	Svcfleet__V1__Cluster     *cl;
	int                        rv;

	sf_status_reset(st);
	if (sf_nz(b->cluster)[0] != '\0') {
		rv = sf_store_txn_cluster_get(
		    txn, b->cluster, sf_arena_pbc(&j->j_call->c_arena), &cl);
		if (rv == SF_NOT_FOUND) {
			return (sf_status_set(st, SF_FAILED_PRECONDITION,
			    "cluster \"%s\" is not registered", b->cluster));
		}
		if (rv != 0) {
			return (sf_status_set(
			    st, rv, "reading the cluster failed"));
		}
	}
	b->create_time_ms = sf_store_txn_now_ms(txn);
	rv                = sf_store_txn_record_put(
	                   txn, SF_STORE_BINDINGS, b->id, &b->base, true);
	if (rv == SF_ALREADY_EXISTS) {
		return (sf_status_set(
		    st, rv, "this binding already exists (id %s)", b->id));
	}
	if (rv != 0) {
		return (sf_status_set(st, rv, "storing the binding failed"));
	}
	return (0);
}

static void
rb_done(void *arg, int code, uint64_t revision)
{
	rb_job *j = arg;
	(void) revision;

	if (code == 0) {
		sf__srv_auth_bindings_changed(j->j_call->c_srv);
	}
	sf__srv_write_done(j->j_call, code,
	    j->j_binding != NULL ? &j->j_binding->base : NULL);
}

static void
h_create_role_binding(Svcfleet__V1__AccessControl_Service *s,
    const Svcfleet__V1__CreateRoleBindingRequest          *in,
    Svcfleet__V1__RoleBinding_Closure closure, void *data)
{
	sf__srv_call              *c = sf__srv_call_of(data);
	Svcfleet__V1__RoleBinding *b = in->binding;
	rb_job                    *j;
	(void) s;
	(void) closure;

	if (b == NULL) {
		sf__srv_call_fail(
		    c, SF_INVALID_ARGUMENT, "the request carries no binding");
		return;
	}
	if (sf_rbac_validate_binding(b, &c->c_status) != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	if (sf_rbac_may_grant(&c->c_ident.id_p, b, &c->c_status) != 0) {
		sf__srv_call_deny(c);
		return;
	}
	if ((b->id = binding_id(&c->c_arena, b)) == NULL) {
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	if ((j = sf__srv_call_alloc(c, sizeof(*j))) == NULL) {
		return;
	}
	b->created_by = (char *) c->c_ident.id_user;
	j->j_call     = c;
	j->j_binding  = b;
	sf__srv_call_write(c, rb_create_fn, rb_done, j, false);
}

static int
rb_delete_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	rb_job                    *j = arg;
	sf__srv_call              *c = j->j_call;
	Svcfleet__V1__RoleBinding *b;
	int                        rv;

	sf_status_reset(st);
	rv = sf_store_txn_record_get(txn, SF_STORE_BINDINGS, j->j_id,
	    &svcfleet__v1__role_binding__descriptor, sf_arena_pbc(&c->c_arena),
	    (ProtobufCMessage **) &b);
	if (rv != 0 && rv != SF_NOT_FOUND) {
		return (sf_status_set(st, rv, "reading the binding failed"));
	}
	// Ids are guessable hashes (issue 17, finding 13): a caller who may
	// not see a binding gets the same answer whether it exists or not,
	// so the answer does not say who holds which role. Only a caller who
	// sees every binding hears NOT_FOUND.
	if (rv == SF_NOT_FOUND
	    || (!sf__srv_call_allowed(c, "rolebindings", "get",
	            sf_nz(b->cluster), sf_nz(b->namespace_))
	        && !sf_rbac_binding_applies(&c->c_ident.id_p, b))) {
		if (rv == SF_NOT_FOUND
		    && sf__srv_call_allowed(
		        c, "rolebindings", "get", "", "")) {
			return (sf_status_set(
			    st, rv, "role binding \"%s\" not found", j->j_id));
		}
		return (sf_status_set(st, SF_PERMISSION_DENIED,
		    "user \"%s\" cannot delete role binding \"%s\" (it does "
		    "not exist, or it is outside what you may see)",
		    sf_nz(c->c_ident.id_user), j->j_id));
	}
	// Taking a grant away needs the power to give it.
	c->c_cluster   = sf_nz(b->cluster);
	c->c_namespace = sf_nz(b->namespace_);
	if ((rv = sf_rbac_may_grant(&c->c_ident.id_p, b, st)) != 0) {
		return (rv);
	}
	if ((rv = sf_store_txn_record_delete(txn, SF_STORE_BINDINGS, j->j_id))
	    != 0) {
		return (sf_status_set(st, rv, "deleting the binding failed"));
	}
	return (0);
}

static void
h_delete_role_binding(Svcfleet__V1__AccessControl_Service *s,
    const Svcfleet__V1__DeleteRoleBindingRequest          *in,
    Svcfleet__V1__Empty_Closure closure, void *data)
{
	sf__srv_call *c = sf__srv_call_of(data);
	rb_job       *j;
	(void) s;
	(void) closure;

	if (!id_given(c, in->id, "binding")
	    || (j = sf__srv_call_alloc(c, sizeof(*j))) == NULL) {
		return;
	}
	j->j_call = c;
	j->j_id   = in->id;
	c->c_name = in->id;
	sf__srv_call_write(c, rb_delete_fn, rb_done, j, false);
}

static void
h_list_role_bindings(Svcfleet__V1__AccessControl_Service *s,
    const Svcfleet__V1__ListRoleBindingsRequest          *in,
    Svcfleet__V1__ListRoleBindingsReply_Closure closure, void *data)
{
	sf__srv_call                        *c = sf__srv_call_of(data);
	Svcfleet__V1__ListRoleBindingsReply *r;
	ProtobufCMessage                   **list;
	size_t                               n, kept = 0;
	int                                  rv;
	(void) s;

	rv = sf_store_record_list(c->c_srv->s_store, SF_STORE_BINDINGS,
	    &svcfleet__v1__role_binding__descriptor, sf_arena_pbc(&c->c_arena),
	    &list, &n);
	if (rv != 0) {
		sf__srv_call_fail(c, rv, "listing role bindings failed");
		return;
	}
	r = sf__srv_reply_new(
	    c, &svcfleet__v1__list_role_bindings_reply__descriptor);
	if (r == NULL) {
		return;
	}
	r->bindings = (Svcfleet__V1__RoleBinding **) list;
	for (size_t i = 0; i < n; i++) {
		Svcfleet__V1__RoleBinding *b = r->bindings[i];
		if ((sf_nz(in->cluster)[0]
		        && strcmp(in->cluster, sf_nz(b->cluster)))
		    || (sf_nz(in->namespace_)[0]
		        && strcmp(in->namespace_, sf_nz(b->namespace_)))
		    || (sf_nz(in->user)[0]
		        && strcmp(in->user, sf_nz(b->user)))) {
			continue;
		}
		if (!sf__srv_call_allowed(c, "rolebindings", "get",
		        sf_nz(b->cluster), sf_nz(b->namespace_))
		    && !sf_rbac_binding_applies(&c->c_ident.id_p, b)) {
			continue; // one's own bindings are always visible
		}
		r->bindings[kept++] = b;
	}
	r->n_bindings = kept;
	closure(r, data);
}

// ----------------------------------------------------------------- tokens

typedef struct tok_job {
	sf__srv_call                   *j_call; // first, for the audit
	Svcfleet__V1__StoredToken      *j_stored;
	const char                     *j_id;
	Svcfleet__V1__CreateTokenReply *j_reply;
} tok_job;

static int
tok_create_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	tok_job *j = arg;
	int      rv;

	sf_status_reset(st);
	j->j_stored->token->create_time_ms = sf_store_txn_now_ms(txn);
	rv = sf_store_txn_record_put(txn, SF_STORE_TOKENS,
	    j->j_stored->token->id, &j->j_stored->base, true);
	if (rv != 0) {
		return (sf_status_set(st, rv, "storing the token failed"));
	}
	return (0);
}

static void
tok_done(void *arg, int code, uint64_t revision)
{
	tok_job *j = arg;
	(void) revision;

	if (code == 0) {
		sf__srv_auth_tokens_changed(j->j_call->c_srv);
	}
	sf__srv_write_done(
	    j->j_call, code, j->j_reply != NULL ? &j->j_reply->base : NULL);
}

static bool
good_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253) {
		return (false);
	}
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char) *s;
		if (ch <= 0x20 || ch == 0x7f || ch == ',' || ch == '"') {
			return (false);
		}
	}
	return (true);
}

static void
h_create_token(Svcfleet__V1__AccessControl_Service *s,
    const Svcfleet__V1__CreateTokenRequest         *in,
    Svcfleet__V1__CreateTokenReply_Closure closure, void *data)
{
	sf__srv_call                   *c = sf__srv_call_of(data);
	sf_arena                       *a = &c->c_arena;
	tok_job                        *j;
	char                            secret[SF__SRV_TOKEN_MAX];
	char                           *id, *sec;
	uint8_t                        *hash;
	Svcfleet__V1__Token            *t;
	Svcfleet__V1__StoredToken      *st;
	Svcfleet__V1__CreateTokenReply *reply;
	(void) s;
	(void) closure;

	c->c_name = sf_nz(in->user);
	if (!is_admin(c)) {
		sf_status_set(&c->c_status, SF_PERMISSION_DENIED,
		    "user \"%s\" cannot create tokens: only admin can",
		    c->c_ident.id_user);
		sf__srv_call_deny(c);
		return;
	}
	if (!good_name(sf_nz(in->user))) {
		sf_status_violation(&c->c_status,
		    sf_nz(in->user)[0] ? SF_V_INVALID : SF_V_REQUIRED, "user",
		    "%s",
		    sf_nz(in->user)[0]
		        ? "Invalid value: a user name has 1 to 253 printable "
		          "characters without spaces, commas or quotes"
		        : "Required value");
	}
	for (size_t i = 0; i < in->n_groups; i++) {
		if (!good_name(in->groups[i])) {
			char path[32];
			snprintf(path, sizeof(path), "groups[%zu]", i);
			sf_status_violation(&c->c_status, SF_V_INVALID, path,
			    "Invalid value: \"%s\": a group name has 1 to 253 "
			    "printable characters without spaces, commas or "
			    "quotes",
			    in->groups[i]);
		}
	}
	if (in->ttl_seconds < 0) {
		sf_status_violation(&c->c_status, SF_V_INVALID, "ttlSeconds",
		    "Invalid value: %lld: must not be negative",
		    (long long) in->ttl_seconds);
	} else if (in->ttl_seconds > TOKEN_TTL_MAX_S) {
		// Also keeps ttl_seconds * 1000 + now far from overflowing.
		sf_status_violation(&c->c_status, SF_V_INVALID, "ttlSeconds",
		    "Invalid value: %lld: must be at most %lld (10 years)",
		    (long long) in->ttl_seconds, (long long) TOKEN_TTL_MAX_S);
	}
	if (c->c_status.st_nviol > 0) {
		sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
		    "invalid token request: %s: %s",
		    c->c_status.st_viol[0].v_field,
		    c->c_status.st_viol[0].v_reason);
		return;
	}
	if ((j = sf__srv_call_alloc(c, sizeof(*j))) == NULL
	    || (id = sf__srv_call_alloc(c, SF__SRV_TOKEN_ID_LEN + 1)) == NULL
	    || (hash = sf__srv_call_alloc(c, 32)) == NULL) {
		return;
	}
	if (sf__srv_auth_token_make(secret, id, hash) != 0) {
		sf__srv_call_fail(c, SF_INTERNAL, "no randomness for a token");
		return;
	}
	sec = sf_arena_strdup(a, secret);
	explicit_bzero(secret, sizeof(secret));
	if (sec == NULL) {
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	if ((t = sf__srv_reply_new(c, &svcfleet__v1__token__descriptor))
	        == NULL
	    || (st = sf__srv_reply_new(
	            c, &svcfleet__v1__stored_token__descriptor))
	        == NULL
	    || (reply = sf__srv_reply_new(
	            c, &svcfleet__v1__create_token_reply__descriptor))
	        == NULL) {
		return;
	}
	t->id                = id;
	t->user              = in->user;
	t->groups            = in->groups;
	t->n_groups          = in->n_groups;
	t->created_by        = (char *) c->c_ident.id_user;
	t->source            = "store";
	t->expire_time_ms    = in->ttl_seconds > 0
	       ? sf_clock_now_ms() + in->ttl_seconds * 1000
	       : 0;
	st->token            = t;
	st->secret_hash.data = hash;
	st->secret_hash.len  = 32;
	reply->token         = t;
	reply->secret        = sec;
	j->j_call            = c;
	j->j_stored          = st;
	j->j_reply           = reply;
	c->c_name            = in->user;
	sf__srv_call_write(c, tok_create_fn, tok_done, j, false);
}

static int
tok_revoke_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	tok_job                   *j = arg;
	sf__srv_call              *c = j->j_call;
	Svcfleet__V1__StoredToken *t;
	int                        rv;

	sf_status_reset(st);
	rv = sf_store_txn_record_get(txn, SF_STORE_TOKENS, j->j_id,
	    &svcfleet__v1__stored_token__descriptor, sf_arena_pbc(&c->c_arena),
	    (ProtobufCMessage **) &t);
	if (rv == SF_NOT_FOUND) {
		return (sf_status_set(st, rv,
		    "token \"%s\" not found (tokens from --token-auth-file "
		    "are "
		    "revoked by removing them from the file)",
		    j->j_id));
	}
	if (rv != 0 || t->token == NULL) {
		return (sf_status_set(
		    st, rv ? rv : SF_DATA_LOSS, "reading the token failed"));
	}
	c->c_name = t->token->user;
	if (!is_admin(c) && strcmp(t->token->user, c->c_ident.id_user) != 0) {
		return (sf_status_set(st, SF_PERMISSION_DENIED,
		    "user \"%s\" cannot revoke tokens of user \"%s\"",
		    c->c_ident.id_user, t->token->user));
	}
	if (t->token->revoked) {
		return (0);
	}
	t->token->revoked = true;
	rv                = sf_store_txn_record_put(
	                   txn, SF_STORE_TOKENS, j->j_id, &t->base, false);
	if (rv != 0) {
		return (sf_status_set(st, rv, "storing the token failed"));
	}
	return (0);
}

static void
h_revoke_token(Svcfleet__V1__AccessControl_Service *s,
    const Svcfleet__V1__RevokeTokenRequest         *in,
    Svcfleet__V1__Empty_Closure closure, void *data)
{
	sf__srv_call *c = sf__srv_call_of(data);
	tok_job      *j;
	(void) s;
	(void) closure;

	if (!id_given(c, in->id, "token")
	    || (j = sf__srv_call_alloc(c, sizeof(*j))) == NULL) {
		return;
	}
	j->j_call = c;
	j->j_id   = in->id;
	sf__srv_call_write(c, tok_revoke_fn, tok_done, j, false);
}

static void
h_list_tokens(Svcfleet__V1__AccessControl_Service *s,
    const Svcfleet__V1__ListTokensRequest         *in,
    Svcfleet__V1__ListTokensReply_Closure closure, void *data)
{
	sf__srv_call                  *c = sf__srv_call_of(data);
	Svcfleet__V1__ListTokensReply *r;
	ProtobufCMessage             **list;
	size_t                         n, kept = 0;
	bool                           admin = is_admin(c);
	int                            rv;
	(void) s;

	rv = sf_store_record_list(c->c_srv->s_store, SF_STORE_TOKENS,
	    &svcfleet__v1__stored_token__descriptor, sf_arena_pbc(&c->c_arena),
	    &list, &n);
	if (rv != 0) {
		sf__srv_call_fail(c, rv, "listing tokens failed");
		return;
	}
	Svcfleet__V1__Token **out;
	if ((r = sf__srv_reply_new(
	         c, &svcfleet__v1__list_tokens_reply__descriptor))
	        == NULL
	    || (out = sf__srv_call_alloc(c, (n + 1) * sizeof(*out))) == NULL) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		Svcfleet__V1__Token *t
		    = ((Svcfleet__V1__StoredToken *) list[i])->token;
		if (t == NULL
		    || (!admin && strcmp(t->user, c->c_ident.id_user))
		    || (sf_nz(in->user)[0] && strcmp(in->user, t->user))) {
			continue;
		}
		out[kept++] = t; // the hash stays behind
	}
	r->tokens   = out;
	r->n_tokens = kept;
	closure(r, data);
}

static void
h_who_am_i(Svcfleet__V1__AccessControl_Service *s,
    const Svcfleet__V1__WhoAmIRequest          *in,
    Svcfleet__V1__WhoAmIReply_Closure closure, void *data)
{
	sf__srv_call              *c = sf__srv_call_of(data);
	Svcfleet__V1__WhoAmIReply *r;
	(void) s;
	(void) in;

	if ((r = sf__srv_reply_new(
	         c, &svcfleet__v1__who_am_ireply__descriptor))
	    == NULL) {
		return;
	}
	r->user       = (char *) c->c_ident.id_user;
	r->groups     = (char **) c->c_ident.id_groups;
	r->n_groups   = c->c_ident.id_ngroups;
	r->bindings   = c->c_ident.id_bindings;
	r->n_bindings = c->c_ident.id_nbindings;
	r->token_id   = (char *) sf_nz(c->c_ident.id_token_id);
	closure(r, data);
}

// ------------------------------------------------------------------ audit

typedef struct audit_filter {
	const Svcfleet__V1__ListAuditEventsRequest *req;
	sf__srv_call                               *call;
} audit_filter;

static bool
audit_keep(void *arg, const Svcfleet__V1__AuditEvent *ev)
{
	audit_filter                               *f = arg;
	const Svcfleet__V1__ListAuditEventsRequest *q = f->req;

	if ((sf_nz(q->user)[0] && strcmp(q->user, sf_nz(ev->user)))
	    || (sf_nz(q->cluster)[0] && strcmp(q->cluster, sf_nz(ev->cluster)))
	    || (sf_nz(q->namespace_)[0]
	        && strcmp(q->namespace_, sf_nz(ev->namespace_)))
	    || (sf_nz(q->name)[0] && strcmp(q->name, sf_nz(ev->name)))
	    || (q->since_ms != 0 && ev->time_ms < q->since_ms)
	    || (q->until_ms != 0 && ev->time_ms >= q->until_ms)
	    || (!q->include_system && sf__srv_audit_is_system(ev))
	    || (q->drift_only
	        && strcmp(sf_nz(ev->method),
	               "/svcfleet.v1.ServiceManager/ReportDrift")
	            != 0)) {
		return (false);
	}
	return (sf__srv_call_allowed(f->call, "audit", "get",
	    sf_nz(ev->cluster), sf_nz(ev->namespace_)));
}

static void
h_list_audit_events(Svcfleet__V1__Audit_Service *s,
    const Svcfleet__V1__ListAuditEventsRequest  *in,
    Svcfleet__V1__ListAuditEventsReply_Closure closure, void *data)
{
	sf__srv_call                       *c = sf__srv_call_of(data);
	Svcfleet__V1__ListAuditEventsReply *r;
	audit_filter                        f = {in, c};
	sf_store_audit_query                q = {0};
	uint64_t                            next;
	int                                 rv;
	(void) s;

	if (sf_nz(in->page_token)[0] != '\0') {
		char *end;
		q.aq_before = strtoull(in->page_token, &end, 10);
		if (*end != '\0' || q.aq_before == 0) {
			sf_status_violation(&c->c_status, SF_V_INVALID,
			    "pageToken",
			    "Invalid value: \"%.40s\": not a token from a "
			    "previous page",
			    in->page_token);
			sf__srv_call_fail(
			    c, SF_INVALID_ARGUMENT, "malformed page token");
			return;
		}
	}
	q.aq_limit = in->page_size == 0      ? AUDIT_PAGE_DEFAULT
	    : in->page_size > AUDIT_PAGE_MAX ? AUDIT_PAGE_MAX
	                                     : in->page_size;
	q.aq_keep  = audit_keep;
	q.aq_arg   = &f;
	if ((r = sf__srv_reply_new(
	         c, &svcfleet__v1__list_audit_events_reply__descriptor))
	    == NULL) {
		return;
	}
	rv = sf_store_audit_list(c->c_srv->s_store, &q,
	    sf_arena_pbc(&c->c_arena), &r->events, &r->n_events, &next);
	if (rv != 0) {
		sf__srv_call_fail(c, rv, "reading the audit log failed");
		return;
	}
	r->next_page_token = next != 0
	    ? sf_arena_printf(&c->c_arena, "%llu", (unsigned long long) next)
	    : "";
	closure(r, data);
}

void
sf__srv_handlers_access_init(sf_server *srv)
{
	Svcfleet__V1__AccessControl_Service ac
	    = SVCFLEET__V1__ACCESS_CONTROL__INIT(h_);
	Svcfleet__V1__Audit_Service au = SVCFLEET__V1__AUDIT__INIT(h_);
	srv->s_access                  = ac;
	srv->s_audit                   = au;
}
