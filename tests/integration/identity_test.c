// identity_test.c: tokens, the first start, the static token file, bad
// bindings, what a caller may see, and the audit log — through the RPC.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "svcfleet/svcfleet.h"

typedef struct fixture {
	th_fixture fx;
	char       secrets[16][128]; // every secret handed out
	int        nsecrets;
} fixture;

static int
token_for(fixture *f, const char *user, int64_t ttl, char **groups,
    size_t ngroups, char *out, char *id)
{
	Svcfleet__V1__CreateTokenRequest r
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply *rep = NULL;
	int                             rv;
	r.user        = (char *) user;
	r.ttl_seconds = ttl;
	r.groups      = groups;
	r.n_groups    = ngroups;
	rv = svcfleet_create_token(f->fx.tf_c, &r, &rep, &f->fx.tf_st);
	if (rv == 0) {
		snprintf(out, 128, "%s", rep->secret);
		snprintf(id, 32, "%s", rep->token->id);
		snprintf(
		    f->secrets[f->nsecrets++ % 16], 128, "%s", rep->secret);
	}
	svcfleet_free(rep);
	return (rv);
}

static int
grant(svcfleet_client *c, const char *user, const char *group,
    const char *role, const char *cluster, const char *ns, svcfleet_status *st)
{
	Svcfleet__V1__RoleBinding b = SVCFLEET__V1__ROLE_BINDING__INIT;
	Svcfleet__V1__CreateRoleBindingRequest r
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__RoleBinding *out = NULL;
	int                        rv;
	b.user       = (char *) user;
	b.group      = (char *) group;
	b.role       = (char *) role;
	b.cluster    = (char *) cluster;
	b.namespace_ = (char *) ns;
	r.binding    = &b;
	rv           = svcfleet_create_role_binding(c, &r, &out, st);
	svcfleet_free(out);
	return (rv);
}

static int
whoami(svcfleet_client *c, char *user, size_t *nbindings)
{
	Svcfleet__V1__WhoAmIRequest r   = SVCFLEET__V1__WHO_AM_IREQUEST__INIT;
	Svcfleet__V1__WhoAmIReply  *out = NULL;
	svcfleet_status             st  = {0};
	int                         rv  = svcfleet_who_am_i(c, &r, &out, &st);
	if (rv == 0) {
		snprintf(user, 64, "%s", out->user);
		if (nbindings != NULL) {
			*nbindings = out->n_bindings;
		}
	}
	svcfleet_free(out);
	svcfleet_status_fini(&st);
	return (rv);
}

static size_t
count_bindings(fixture *f)
{
	Svcfleet__V1__ListRoleBindingsRequest r
	    = SVCFLEET__V1__LIST_ROLE_BINDINGS_REQUEST__INIT;
	Svcfleet__V1__ListRoleBindingsReply *out = NULL;
	TH_MUST(
	    svcfleet_list_role_bindings(f->fx.tf_c, &r, &out, &f->fx.tf_st),
	    &f->fx.tf_st);
	size_t n = out->n_bindings;
	svcfleet_free(out);
	return (n);
}

static void
register_cluster(fixture *f, const char *name)
{
	Svcfleet__V1__Cluster                cl = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__RegisterClusterRequest r
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *out = NULL;
	cl.name                    = (char *) name;
	cl.api_server              = "https://127.0.0.1:6443";
	cl.token                   = "cluster-credential-xyz";
	r.cluster                  = &cl;
	TH_MUST(svcfleet_register_cluster(f->fx.tf_c, &r, &out, &f->fx.tf_st),
	    &f->fx.tf_st);
	svcfleet_free(out);
}

static int
create_svc(svcfleet_client *c, const char *cl, const char *ns,
    const char *name, svcfleet_status *st)
{
	Svcfleet__V1__Service     svc  = SVCFLEET__V1__SERVICE__INIT;
	Svcfleet__V1__ObjectMeta  meta = SVCFLEET__V1__OBJECT_META__INIT;
	Svcfleet__V1__ServiceSpec spec = SVCFLEET__V1__SERVICE_SPEC__INIT;
	Svcfleet__V1__KeyValue    sel  = SVCFLEET__V1__KEY_VALUE__INIT, *selp;
	Svcfleet__V1__ServicePort port = SVCFLEET__V1__SERVICE_PORT__INIT, *pp;
	Svcfleet__V1__CreateServiceRequest r
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *out = NULL;
	int                    rv;
	meta.cluster    = (char *) cl;
	meta.namespace_ = (char *) ns;
	meta.name       = (char *) name;
	sel.key         = "app";
	sel.value       = "x";
	selp            = &sel;
	spec.selector   = &selp;
	spec.n_selector = 1;
	port.port       = 80;
	pp              = &port;
	spec.ports      = &pp;
	spec.n_ports    = 1;
	svc.metadata    = &meta;
	svc.spec        = &spec;
	r.service       = &svc;
	rv              = svcfleet_create_service(c, &r, &out, st);
	svcfleet_free(out);
	return (rv);
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (th_fixture_setup(&f->fx, NULL) != 0) {
		return (-1);
	}
	snprintf(f->secrets[f->nsecrets++], 128, "%s", f->fx.tf_srv.ts_token);
	register_cluster(f, "east");
	register_cluster(f, "west");
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	fixture *f = *state;
	assert_int_equal(th_fixture_stop(&f->fx), 0);
	// No secret ever reaches the log.
	char *log = th_read_file(f->fx.tf_srv.ts_log, NULL);
	assert_non_null(log);
	for (int i = 0; i < f->nsecrets && i < 16; i++) {
		if (strstr(log, f->secrets[i]) != NULL) {
			fail_msg("a token appears in the daemon's log");
		}
		// Nor its secret half alone.
		const char *half = strrchr(f->secrets[i], '_');
		if (half != NULL && strlen(half) > 20
		    && strstr(log, half + 1)) {
			fail_msg("a token secret appears in the daemon's log");
		}
	}
	assert_null(strstr(log, "cluster-credential-xyz"));
	free(log);
	assert_int_equal(th_fixture_teardown(&f->fx), 0);
	free(f);
	return (0);
}

// ------------------------------------------------------------------ tests

static void
test_first_start_files(void **state)
{
	fixture    *f = *state;
	struct stat sb;
	char        path[512];

	assert_int_equal(stat(f->fx.tf_srv.ts_data, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/admin.token", f->fx.tf_srv.ts_data);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_true(strncmp(f->fx.tf_srv.ts_token, "sfk_", 4) == 0);
	assert_int_equal(strlen(f->fx.tf_srv.ts_token), 60);
	assert_true(th_server_log_contains(&f->fx.tf_srv, "admin.token"));

	char   user[64];
	size_t nb = 0;
	assert_int_equal(whoami(f->fx.tf_c, user, &nb), 0);
	assert_string_equal(user, "admin");
	assert_int_equal(nb, 1);
}

static void
test_token_lifecycle(void **state)
{
	fixture         *f = *state;
	char             tok[128], id[32], user[64];
	svcfleet_client *c;
	svcfleet_status  st = {0};

	// Create and use.
	TH_MUST(token_for(f, "alice", 0, NULL, 0, tok, id), &f->fx.tf_st);
	assert_true(strncmp(tok, "sfk_", 4) == 0);
	c = th_client(f->fx.tf_srv.ts_url, tok, 0);
	assert_int_equal(whoami(c, user, NULL), 0);
	assert_string_equal(user, "alice");

	// The secret is shown once: the token list has no trace of it.
	Svcfleet__V1__ListTokensRequest lr
	    = SVCFLEET__V1__LIST_TOKENS_REQUEST__INIT;
	Svcfleet__V1__ListTokensReply *l = NULL;
	TH_MUST(svcfleet_list_tokens(f->fx.tf_c, &lr, &l, &f->fx.tf_st),
	    &f->fx.tf_st);
	bool found = false;
	for (size_t i = 0; i < l->n_tokens; i++) {
		found = found || strcmp(l->tokens[i]->id, id) == 0;
		size_t n
		    = protobuf_c_message_get_packed_size(&l->tokens[i]->base);
		uint8_t *b = malloc(n);
		protobuf_c_message_pack(&l->tokens[i]->base, b);
		assert_null(memmem(b, n, strrchr(tok, '_') + 1, 43));
		free(b);
	}
	assert_true(found);
	svcfleet_free(l);

	// A user sees only their own tokens.
	TH_MUST(svcfleet_list_tokens(c, &lr, &l, &st), &st);
	assert_int_equal(l->n_tokens, 1);
	assert_string_equal(l->tokens[0]->user, "alice");
	svcfleet_free(l);

	// Revocation takes effect on the next call.
	Svcfleet__V1__RevokeTokenRequest rr
	    = SVCFLEET__V1__REVOKE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__Empty *e = NULL;
	rr.id                  = id;
	TH_MUST(svcfleet_revoke_token(f->fx.tf_c, &rr, &e, &f->fx.tf_st),
	    &f->fx.tf_st);
	svcfleet_free(e);
	assert_int_equal(whoami(c, user, NULL), SVCFLEET_UNAUTHENTICATED);
	Svcfleet__V1__WhoAmIRequest w  = SVCFLEET__V1__WHO_AM_IREQUEST__INIT;
	Svcfleet__V1__WhoAmIReply  *wr = NULL;
	assert_int_equal(
	    svcfleet_who_am_i(c, &w, &wr, &st), SVCFLEET_UNAUTHENTICATED);
	assert_non_null(strstr(st.message, "revoked"));
	svcfleet_close(c);

	// Expiry.
	TH_MUST(token_for(f, "bob", 1, NULL, 0, tok, id), &f->fx.tf_st);
	c = th_client(f->fx.tf_srv.ts_url, tok, 0);
	assert_int_equal(whoami(c, user, NULL), 0);
	usleep(1300 * 1000);
	assert_int_equal(
	    svcfleet_who_am_i(c, &w, &wr, &st), SVCFLEET_UNAUTHENTICATED);
	assert_non_null(strstr(st.message, "expired"));
	svcfleet_close(c);

	// Malformed, unknown and truncated tokens.
	static const char *const bad[] = {"", "x",
	    "sfk_zzzzzzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "sfk_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "sfk_0123456789ab_short"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = th_client(f->fx.tf_srv.ts_url, bad[i], 0);
		assert_int_equal(svcfleet_who_am_i(c, &w, &wr, &st),
		    SVCFLEET_UNAUTHENTICATED);
		svcfleet_close(c);
	}
	// The right id with a wrong secret.
	TH_MUST(token_for(f, "carol", 0, NULL, 0, tok, id), &f->fx.tf_st);
	tok[strlen(tok) - 1] = tok[strlen(tok) - 1] == 'A' ? 'B' : 'A';
	c                    = th_client(f->fx.tf_srv.ts_url, tok, 0);
	assert_int_equal(
	    svcfleet_who_am_i(c, &w, &wr, &st), SVCFLEET_UNAUTHENTICATED);
	svcfleet_close(c);

	// Only admin mints tokens; a user may revoke only their own.
	TH_MUST(token_for(f, "dave", 0, NULL, 0, tok, id), &f->fx.tf_st);
	c = th_client(f->fx.tf_srv.ts_url, tok, 0);
	Svcfleet__V1__CreateTokenRequest cr
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply *crr = NULL;
	cr.user                             = "dave";
	assert_int_equal(svcfleet_create_token(c, &cr, &crr, &st),
	    SVCFLEET_PERMISSION_DENIED);
	char other[128], oid[32];
	TH_MUST(token_for(f, "erin", 0, NULL, 0, other, oid), &f->fx.tf_st);
	rr.id = oid;
	assert_int_equal(svcfleet_revoke_token(c, &rr, &e, &st),
	    SVCFLEET_PERMISSION_DENIED);
	rr.id = id;
	assert_int_equal(svcfleet_revoke_token(c, &rr, &e, &st), 0);
	svcfleet_free(e);
	svcfleet_close(c);
	svcfleet_status_fini(&st);
}

static void
test_bad_bindings_change_nothing(void **state)
{
	fixture        *f      = *state;
	svcfleet_status st     = {0};
	size_t          before = count_bindings(f);
	char            tok[128], id[32];

	// Unknown role, a namespace on a cluster-wide role, a missing
	// namespace, a scope on a global role, both user and group.
	assert_int_equal(
	    grant(f->fx.tf_c, "u", NULL, "superuser", "east", "", &st),
	    SVCFLEET_INVALID_ARGUMENT);
	assert_non_null(strstr(st.violations[0].reason, "ns-edit"));
	assert_int_equal(
	    grant(f->fx.tf_c, "u", NULL, "cluster-admin", "east", "prod", &st),
	    SVCFLEET_INVALID_ARGUMENT);
	assert_string_equal(st.violations[0].field, "namespace");
	assert_int_equal(
	    grant(f->fx.tf_c, "u", NULL, "ns-edit", "east", "", &st),
	    SVCFLEET_INVALID_ARGUMENT);
	assert_string_equal(st.violations[0].field, "namespace");
	assert_int_equal(
	    grant(f->fx.tf_c, "u", NULL, "admin", "east", "", &st),
	    SVCFLEET_INVALID_ARGUMENT);
	assert_int_equal(
	    grant(f->fx.tf_c, "u", "g", "ns-view", "east", "a", &st),
	    SVCFLEET_INVALID_ARGUMENT);
	assert_int_equal(
	    grant(f->fx.tf_c, NULL, NULL, "ns-view", "east", "a", &st),
	    SVCFLEET_INVALID_ARGUMENT);
	// An unregistered cluster.
	assert_int_equal(
	    grant(f->fx.tf_c, "u", NULL, "ns-view", "nowhere", "a", &st),
	    SVCFLEET_FAILED_PRECONDITION);
	assert_int_equal(count_bindings(f), before);

	// A grant above the granter's power.
	TH_MUST(grant(f->fx.tf_c, "nsa", NULL, "ns-admin", "east", "prod",
	            &f->fx.tf_st),
	    &f->fx.tf_st);
	TH_MUST(token_for(f, "nsa", 0, NULL, 0, tok, id), &f->fx.tf_st);
	svcfleet_client *nsa = th_client(f->fx.tf_srv.ts_url, tok, 0);
	before               = count_bindings(f);
	assert_int_equal(
	    grant(nsa, "x", NULL, "ns-admin", "east", "prod", &st),
	    SVCFLEET_PERMISSION_DENIED);
	assert_string_equal(st.message,
	    "user \"nsa\" cannot grant role ns-admin in namespace \"prod\" of "
	    "cluster \"east\"");
	assert_int_equal(
	    grant(nsa, "x", NULL, "cluster-admin", "east", "", &st),
	    SVCFLEET_PERMISSION_DENIED);
	assert_int_equal(grant(nsa, "x", NULL, "ns-edit", "east", "dev", &st),
	    SVCFLEET_PERMISSION_DENIED);
	assert_int_equal(count_bindings(f), before);
	// Within its power it works, and it may take it back.
	assert_int_equal(
	    grant(nsa, "x", NULL, "ns-edit", "east", "prod", &st), 0);
	assert_int_equal(count_bindings(f), before + 1);
	// The same grant twice is one binding.
	assert_int_equal(grant(nsa, "x", NULL, "ns-edit", "east", "prod", &st),
	    SVCFLEET_ALREADY_EXISTS);
	svcfleet_close(nsa);
	svcfleet_status_fini(&st);
}

static void
test_what_callers_see(void **state)
{
	fixture        *f  = *state;
	svcfleet_status st = {0};
	char            tok[128], id[32];
	char           *groups[] = {"team-a"};

	TH_MUST(create_svc(f->fx.tf_c, "east", "prod", "web1", &f->fx.tf_st),
	    &f->fx.tf_st);
	TH_MUST(create_svc(f->fx.tf_c, "east", "dev", "web1", &f->fx.tf_st),
	    &f->fx.tf_st);
	TH_MUST(create_svc(f->fx.tf_c, "west", "prod", "web1", &f->fx.tf_st),
	    &f->fx.tf_st);
	// A group binding: members of team-a view east/dev.
	TH_MUST(grant(f->fx.tf_c, NULL, "team-a", "ns-view", "east", "dev",
	            &f->fx.tf_st),
	    &f->fx.tf_st);
	TH_MUST(grant(f->fx.tf_c, "vic", NULL, "ns-view", "east", "prod",
	            &f->fx.tf_st),
	    &f->fx.tf_st);
	TH_MUST(token_for(f, "vic", 0, groups, 1, tok, id), &f->fx.tf_st);
	svcfleet_client *vic = th_client(f->fx.tf_srv.ts_url, tok, 0);

	// Listing across namespaces and clusters returns only what vic may
	// read: east/prod (own binding) and east/dev (the group's).
	Svcfleet__V1__ListServicesRequest lr
	    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
	Svcfleet__V1__ListServicesReply *l = NULL;
	TH_MUST(svcfleet_list_services(vic, &lr, &l, &st), &st);
	assert_int_equal(l->n_services, 2);
	for (size_t i = 0; i < l->n_services; i++) {
		assert_string_equal(l->services[i]->metadata->cluster, "east");
	}
	svcfleet_free(l);

	// Forbidden is forbidden whether or not the object exists.
	Svcfleet__V1__ServiceKey        k = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__GetServiceRequest gr
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *g = NULL;
	gr.key                   = &k;
	k.cluster                = "west";
	k.namespace_             = "prod";
	k.name                   = "web1";
	assert_int_equal(svcfleet_get_service(vic, &gr, &g, &st),
	    SVCFLEET_PERMISSION_DENIED);
	char exists_msg[512];
	snprintf(exists_msg, sizeof(exists_msg), "%s", st.message);
	k.name = "never-was";
	assert_int_equal(svcfleet_get_service(vic, &gr, &g, &st),
	    SVCFLEET_PERMISSION_DENIED);
	assert_string_equal(st.message, exists_msg);
	assert_string_equal(exists_msg,
	    "user \"vic\" cannot get services in namespace \"prod\" of "
	    "cluster "
	    "\"west\"");
	// ns-view may not create.
	assert_int_equal(create_svc(vic, "east", "prod", "new1", &st),
	    SVCFLEET_PERMISSION_DENIED);
	assert_string_equal(st.message,
	    "user \"vic\" cannot create services in namespace \"prod\" of "
	    "cluster \"east\"");

	// Clusters: vic sees east only, and never its credentials.
	Svcfleet__V1__ListClustersRequest cr
	    = SVCFLEET__V1__LIST_CLUSTERS_REQUEST__INIT;
	Svcfleet__V1__ListClustersReply *cl = NULL;
	TH_MUST(svcfleet_list_clusters(vic, &cr, &cl, &st), &st);
	assert_int_equal(cl->n_clusters, 1);
	assert_string_equal(cl->clusters[0]->name, "east");
	assert_string_equal(cl->clusters[0]->token, "");
	assert_true(cl->clusters[0]->has_credentials);
	svcfleet_free(cl);
	// The admin does not in a list (issue 17: only with GetCluster's
	// with_credentials, audited); the reconciler does.
	TH_MUST(svcfleet_list_clusters(f->fx.tf_c, &cr, &cl, &f->fx.tf_st),
	    &f->fx.tf_st);
	assert_int_equal(cl->n_clusters, 2);
	assert_string_equal(cl->clusters[0]->token, "");
	assert_true(cl->clusters[0]->has_credentials);
	svcfleet_free(cl);
	TH_MUST(
	    grant(f->fx.tf_c, "rec", NULL, "reconciler", "", "", &f->fx.tf_st),
	    &f->fx.tf_st);
	TH_MUST(token_for(f, "rec", 0, NULL, 0, tok, id), &f->fx.tf_st);
	svcfleet_client *rec = th_client(f->fx.tf_srv.ts_url, tok, 0);
	TH_MUST(svcfleet_list_clusters(rec, &cr, &cl, &st), &st);
	assert_int_equal(cl->n_clusters, 2);
	assert_string_equal(cl->clusters[1]->token, "cluster-credential-xyz");
	svcfleet_free(cl);
	svcfleet_close(rec);
	svcfleet_close(vic);
	svcfleet_status_fini(&st);
}

static void
test_audit(void **state)
{
	fixture        *f  = *state;
	svcfleet_status st = {0};
	char            tok[128], id[32];

	TH_MUST(grant(f->fx.tf_c, "ann", NULL, "ns-edit", "east", "audit",
	            &f->fx.tf_st),
	    &f->fx.tf_st);
	TH_MUST(token_for(f, "ann", 0, NULL, 0, tok, id), &f->fx.tf_st);
	svcfleet_client *ann = th_client(f->fx.tf_srv.ts_url, tok, 0);
	// A successful write, a failed write, a denial.
	TH_MUST(create_svc(ann, "east", "audit", "aud1", &st), &st);
	assert_int_equal(create_svc(ann, "east", "audit", "aud1", &st),
	    SVCFLEET_ALREADY_EXISTS);
	assert_int_equal(create_svc(ann, "east", "other", "aud2", &st),
	    SVCFLEET_PERMISSION_DENIED);

	Svcfleet__V1__ListAuditEventsRequest r
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	Svcfleet__V1__ListAuditEventsReply *out = NULL;
	r.user                                  = "ann";
	TH_MUST(svcfleet_list_audit_events(f->fx.tf_c, &r, &out, &f->fx.tf_st),
	    &f->fx.tf_st);
	assert_int_equal(out->n_events, 3);
	// Newest first.
	assert_int_equal(out->events[0]->code, SVCFLEET_PERMISSION_DENIED);
	assert_string_equal(out->events[0]->namespace_, "other");
	assert_int_equal(out->events[1]->code, SVCFLEET_ALREADY_EXISTS);
	assert_int_equal(out->events[2]->code, 0);
	assert_string_equal(out->events[2]->method,
	    "/svcfleet.v1.ServiceManager/CreateService");
	assert_string_equal(out->events[2]->name, "aud1");
	assert_true(out->events[2]->revision > 0);
	assert_true(out->events[2]->time_ms > 0);
	assert_true(strlen(out->events[2]->request_id) > 0);
	assert_true(out->events[0]->id > out->events[2]->id);
	svcfleet_free(out);

	// ann sees the events of her namespace only: her two writes and the
	// admin's grant to her, not her denial in east/other, which she may
	// not read.
	r.user = "";
	TH_MUST(svcfleet_list_audit_events(ann, &r, &out, &st), &st);
	for (size_t i = 0; i < out->n_events; i++) {
		assert_string_equal(out->events[i]->namespace_, "audit");
	}
	assert_int_equal(out->n_events, 3);
	assert_string_equal(out->events[2]->method,
	    "/svcfleet.v1.AccessControl/CreateRoleBinding");
	assert_string_equal(out->events[2]->user, "admin");
	svcfleet_free(out);

	// Paging through more than a page: 130 more audited writes.
	for (int i = 0; i < 130; i++) {
		char name[32];
		snprintf(name, sizeof(name), "p%03d", i);
		TH_MUST(create_svc(ann, "east", "audit", name, &st), &st);
	}
	r.user         = "ann";
	r.page_size    = 50;
	int      pages = 0, total = 0;
	uint64_t last      = UINT64_MAX;
	char     token[64] = "";
	do {
		r.page_token = token;
		TH_MUST(svcfleet_list_audit_events(
		            f->fx.tf_c, &r, &out, &f->fx.tf_st),
		    &f->fx.tf_st);
		for (size_t i = 0; i < out->n_events; i++) {
			assert_true(out->events[i]->id < last);
			last = out->events[i]->id;
		}
		total += (int) out->n_events;
		pages++;
		snprintf(token, sizeof(token), "%s", out->next_page_token);
		svcfleet_free(out);
	} while (token[0] != '\0');
	assert_int_equal(total, 133);
	assert_int_equal(pages, 3);
	r.page_token = "garbage";
	assert_int_equal(
	    svcfleet_list_audit_events(f->fx.tf_c, &r, &out, &f->fx.tf_st),
	    SVCFLEET_INVALID_ARGUMENT);
	svcfleet_close(ann);
	svcfleet_status_fini(&st);
}

// --token-auth-file: kube-apiserver's static CSV; a malformed file stops the
// start with the line named.
static void
test_token_file(void **state)
{
	th_server srv;
	char      dir[256], path[400], user[64];
	(void) state;

	th_tmpdir(dir, sizeof(dir), "csv");
	snprintf(path, sizeof(path), "%s/tokens.csv", dir);
	th_write_file(path,
	    "static-secret-0001,carl,uid-7,\"ops,devs\"\n"
	    "static-secret-0002,dana,uid-8\n");
	// Bearer tokens in the clear: the owner's only (issue 17).
	chmod(path, 0600);
	const char *extra[] = {"--token-auth-file", path, NULL};
	memset(&srv, 0, sizeof(srv));
	assert_int_equal(th_server_start(&srv, NULL, extra), 0);
	svcfleet_client *admin = th_client(srv.ts_url, srv.ts_token, 0);
	svcfleet_status  st    = {0};
	assert_int_equal(
	    grant(admin, NULL, "ops", "reconciler", "", "", &st), 0);
	svcfleet_client *carl = th_client(srv.ts_url, "static-secret-0001", 0);
	size_t           nb   = 0;
	assert_int_equal(whoami(carl, user, &nb), 0);
	assert_string_equal(user, "carl");
	assert_int_equal(nb, 1); // through the ops group
	svcfleet_client *bad = th_client(srv.ts_url, "static-secret-0003", 0);
	assert_int_equal(whoami(bad, user, NULL), SVCFLEET_UNAUTHENTICATED);
	svcfleet_close(bad);
	svcfleet_close(carl);
	svcfleet_close(admin);
	svcfleet_status_fini(&st);
	assert_int_equal(th_server_stop(&srv), 0);
	assert_false(th_server_log_contains(&srv, "static-secret"));

	// A broken line.
	th_write_file(path,
	    "ok-secret-0000001,eve,uid-1\n"
	    "broken-secret,\"unterminated,uid-2\n");
	memset(&srv, 0, sizeof(srv));
	assert_int_equal(th_server_start(&srv, NULL, extra), -1);
	assert_true(th_server_log_contains(&srv, "--token-auth-file"));
	assert_true(th_server_log_contains(&srv, "line 2"));
	assert_false(th_server_log_contains(&srv, "broken-secret"));
}

static int
count_audit(svcfleet_client *c)
{
	Svcfleet__V1__ListAuditEventsRequest r
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	Svcfleet__V1__ListAuditEventsReply *out       = NULL;
	svcfleet_status                     st        = {0};
	char                                token[64] = "";
	int                                 n         = 0;
	r.page_size                                   = 1000;
	do {
		r.page_token = token;
		assert_int_equal(
		    svcfleet_list_audit_events(c, &r, &out, &st), 0);
		n += (int) out->n_events;
		snprintf(token, sizeof(token), "%s", out->next_page_token);
		svcfleet_free(out);
	} while (token[0] != '\0');
	svcfleet_status_fini(&st);
	return (n);
}

// Retention: by count, and by age.
static void
test_audit_retention(void **state)
{
	th_server       srv;
	svcfleet_status st = {0};
	// By count first, with an age limit that cannot interfere however
	// slow the machine; then, on the same store, by age.
	const char *extra[]
	    = {"--audit-max-events", "100", "--audit-max-age", "1h", NULL};
	const char *by_age[] = {"--audit-max-age", "2s", NULL};
	(void) state;

	memset(&srv, 0, sizeof(srv));
	assert_int_equal(th_server_start(&srv, NULL, extra), 0);
	svcfleet_client *admin = th_client(srv.ts_url, srv.ts_token, 0);
	for (int i = 0; i < 150; i++) {
		char name[32];
		snprintf(name, sizeof(name), "tok%03d", i);
		Svcfleet__V1__CreateTokenRequest r
		    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
		Svcfleet__V1__CreateTokenReply *out = NULL;
		r.user                              = name;
		assert_int_equal(
		    svcfleet_create_token(admin, &r, &out, &st), 0);
		svcfleet_free(out);
	}
	assert_int_equal(count_audit(admin), 100);
	svcfleet_close(admin);
	assert_int_equal(th_server_stop(&srv), 0);
	assert_int_equal(th_server_start(&srv, srv.ts_dir, by_age), 0);
	admin = th_client(srv.ts_url, srv.ts_token, 0);
	sleep(3);
	// The next commit drops what has grown too old.
	Svcfleet__V1__CreateTokenRequest r
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply *out = NULL;
	r.user                              = "late";
	assert_int_equal(svcfleet_create_token(admin, &r, &out, &st), 0);
	svcfleet_free(out);
	assert_int_equal(count_audit(admin), 1);
	svcfleet_close(admin);
	svcfleet_status_fini(&st);
	assert_int_equal(th_server_stop(&srv), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_start_files),
	    cmocka_unit_test(test_token_lifecycle),
	    cmocka_unit_test(test_bad_bindings_change_nothing),
	    cmocka_unit_test(test_what_callers_see),
	    cmocka_unit_test(test_audit),
	};
	const struct CMUnitTest alone[] = {
	    cmocka_unit_test(test_token_file),
	    cmocka_unit_test(test_audit_retention),
	};
	int rv = cmocka_run_group_tests(tests, setup, teardown);
	return (rv | cmocka_run_group_tests(alone, NULL, NULL));
}
