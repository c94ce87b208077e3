// rbac_test.c: the role × method × scope matrix, through the RPC.
//
// Seven callers — admin, cluster-admin of east, ns-admin / ns-edit /
// ns-view of east/prod, reconciler, and a user with no binding — call every
// method at several scopes. The expectations below are written out by
// hand from DESIGN §4, not derived from the server's permission table, so
// a wrong row in that table makes this test fail. "A" means the call got
// past authorization (any code but PERMISSION_DENIED and UNAUTHENTICATED);
// "D" means PERMISSION_DENIED.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "svcfleet/svcfleet.h"

enum { P_ADMIN, P_CADMIN, P_NSADMIN, P_EDIT, P_VIEW, P_RECON, P_NONE, NP };

static const char *const p_names[NP]
    = {"admin2", "cadmin", "nsadmin", "editor", "viewer", "recon", "nobody"};

typedef struct fixture {
	th_fixture       fx;
	svcfleet_client *who[NP];
} fixture;

static char *
make_token(fixture *f, const char *user)
{
	Svcfleet__V1__CreateTokenRequest r
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply *out = NULL;
	char                           *secret;
	r.user = (char *) user;
	TH_MUST(svcfleet_create_token(f->fx.tf_c, &r, &out, &f->fx.tf_st),
	    &f->fx.tf_st);
	secret = strdup(out->secret);
	svcfleet_free(out);
	return (secret);
}

static void
grant(fixture *f, const char *user, const char *role, const char *cluster,
    const char *ns)
{
	Svcfleet__V1__RoleBinding b = SVCFLEET__V1__ROLE_BINDING__INIT;
	Svcfleet__V1__CreateRoleBindingRequest r
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__RoleBinding *out = NULL;
	b.user                         = (char *) user;
	b.role                         = (char *) role;
	b.cluster                      = (char *) cluster;
	b.namespace_                   = (char *) ns;
	r.binding                      = &b;
	TH_MUST(
	    svcfleet_create_role_binding(f->fx.tf_c, &r, &out, &f->fx.tf_st),
	    &f->fx.tf_st);
	svcfleet_free(out);
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (th_fixture_setup(&f->fx, NULL) != 0) {
		return (-1);
	}
	TH_MUST(th_register_cluster(f->fx.tf_c, "east", &f->fx.tf_st),
	    &f->fx.tf_st);
	TH_MUST(th_register_cluster(f->fx.tf_c, "west", &f->fx.tf_st),
	    &f->fx.tf_st);
	grant(f, "admin2", "admin", "", "");
	grant(f, "cadmin", "cluster-admin", "east", "");
	grant(f, "nsadmin", "ns-admin", "east", "prod");
	grant(f, "editor", "ns-edit", "east", "prod");
	grant(f, "viewer", "ns-view", "east", "prod");
	grant(f, "recon", "reconciler", "", "");
	for (int p = 0; p < NP; p++) {
		char *tok = make_token(f, p_names[p]);
		f->who[p] = th_client(f->fx.tf_srv.ts_url, tok, 0);
		free(tok);
	}
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	fixture *f = *state;
	for (int p = 0; p < NP; p++) {
		svcfleet_close(f->who[p]);
	}
	assert_int_equal(th_fixture_teardown(&f->fx), 0);
	free(f);
	return (0);
}

// ------------------------------------------------------------ the calls

// Splits "cluster/ns" (either part may be empty).
static void
split(const char *scope, char *cl, char *ns)
{
	const char *slash = strchr(scope, '/');
	size_t      n     = slash ? (size_t) (slash - scope) : strlen(scope);
	memcpy(cl, scope, n);
	cl[n] = '\0';
	strcpy(ns, slash ? slash + 1 : "");
}

typedef struct svc_parts {
	Svcfleet__V1__Service     svc;
	Svcfleet__V1__ObjectMeta  meta;
	Svcfleet__V1__ServiceSpec spec;
	Svcfleet__V1__KeyValue    sel, *selp;
	Svcfleet__V1__ServicePort port, *portp;
} svc_parts;

static Svcfleet__V1__Service *
svc_at(svc_parts *p, const char *cl, const char *ns, const char *name)
{
	svcfleet__v1__service__init(&p->svc);
	svcfleet__v1__object_meta__init(&p->meta);
	svcfleet__v1__service_spec__init(&p->spec);
	svcfleet__v1__key_value__init(&p->sel);
	svcfleet__v1__service_port__init(&p->port);
	p->meta.cluster    = (char *) cl;
	p->meta.namespace_ = (char *) ns;
	p->meta.name       = (char *) name;
	p->sel.key         = "app";
	p->sel.value       = "m";
	p->selp            = &p->sel;
	p->spec.selector   = &p->selp;
	p->spec.n_selector = 1;
	p->port.port       = 80;
	p->portp           = &p->port;
	p->spec.ports      = &p->portp;
	p->spec.n_ports    = 1;
	p->svc.metadata    = &p->meta;
	p->svc.spec        = &p->spec;
	return (&p->svc);
}

// Calls method m as c at scope; returns the status code.
static int
call(svcfleet_client *c, const char *m, const char *scope, svcfleet_status *st)
{
	char              cl[64], ns[64];
	svc_parts         p;
	ProtobufCMessage *out = NULL;
	int               rv  = -1;

	split(scope, cl, ns);
#define CALL(fn, req) rv = fn(c, &req, (void *) &out, st)
	if (strcmp(m, "CreateService") == 0) {
		Svcfleet__V1__CreateServiceRequest r
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		r.service = svc_at(&p, cl, ns, "matrix");
		r.dry_run = true;
		CALL(svcfleet_create_service, r);
	} else if (strcmp(m, "ApplyService") == 0) {
		Svcfleet__V1__ApplyServiceRequest r
		    = SVCFLEET__V1__APPLY_SERVICE_REQUEST__INIT;
		r.service = svc_at(&p, cl, ns, "matrix");
		r.dry_run = true;
		CALL(svcfleet_apply_service, r);
	} else if (strcmp(m, "UpdateService") == 0) {
		Svcfleet__V1__UpdateServiceRequest r
		    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
		r.service = svc_at(&p, cl, ns, "absent");
		r.dry_run = true;
		CALL(svcfleet_update_service, r);
	} else if (strcmp(m, "GetService") == 0
	    || strcmp(m, "DeleteService") == 0
	    || strcmp(m, "ReportStatus") == 0) {
		Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
		k.cluster                  = cl;
		k.namespace_               = ns;
		k.name                     = "absent";
		if (m[0] == 'G') {
			Svcfleet__V1__GetServiceRequest r
			    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
			r.key = &k;
			CALL(svcfleet_get_service, r);
		} else if (m[0] == 'D') {
			Svcfleet__V1__DeleteServiceRequest r
			    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
			r.key = &k;
			CALL(svcfleet_delete_service, r);
		} else {
			Svcfleet__V1__ReportStatusRequest r
			    = SVCFLEET__V1__REPORT_STATUS_REQUEST__INIT;
			r.key = &k;
			CALL(svcfleet_report_status, r);
		}
	} else if (strcmp(m, "ListServices") == 0) {
		Svcfleet__V1__ListServicesRequest r
		    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
		r.cluster    = cl;
		r.namespace_ = ns;
		CALL(svcfleet_list_services, r);
	} else if (strcmp(m, "WatchServices") == 0) {
		Svcfleet__V1__WatchServicesRequest r
		    = SVCFLEET__V1__WATCH_SERVICES_REQUEST__INIT;
		r.cluster    = cl;
		r.namespace_ = ns;
		CALL(svcfleet_watch_services, r);
	} else if (strcmp(m, "RegisterCluster") == 0
	    || strcmp(m, "UpdateCluster") == 0) {
		// No API server: rejected by validation once authorized.
		Svcfleet__V1__Cluster cluster = SVCFLEET__V1__CLUSTER__INIT;
		cluster.name                  = cl;
		cluster.api_server            = "not a url";
		if (m[0] == 'R') {
			Svcfleet__V1__RegisterClusterRequest r
			    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
			r.cluster = &cluster;
			CALL(svcfleet_register_cluster, r);
		} else {
			Svcfleet__V1__UpdateClusterRequest r
			    = SVCFLEET__V1__UPDATE_CLUSTER_REQUEST__INIT;
			r.cluster = &cluster;
			CALL(svcfleet_update_cluster, r);
		}
	} else if (strcmp(m, "GetCluster") == 0) {
		Svcfleet__V1__GetClusterRequest r
		    = SVCFLEET__V1__GET_CLUSTER_REQUEST__INIT;
		r.name = cl;
		CALL(svcfleet_get_cluster, r);
	} else if (strcmp(m, "DeleteCluster") == 0) {
		Svcfleet__V1__DeleteClusterRequest r
		    = SVCFLEET__V1__DELETE_CLUSTER_REQUEST__INIT;
		r.name = cl;
		CALL(svcfleet_delete_cluster, r);
	} else if (strcmp(m, "ListClusters") == 0) {
		Svcfleet__V1__ListClustersRequest r
		    = SVCFLEET__V1__LIST_CLUSTERS_REQUEST__INIT;
		CALL(svcfleet_list_clusters, r);
	} else if (strcmp(m, "ListNamespaces") == 0) {
		Svcfleet__V1__ListNamespacesRequest r
		    = SVCFLEET__V1__LIST_NAMESPACES_REQUEST__INIT;
		r.cluster = cl;
		CALL(svcfleet_list_namespaces, r);
	} else if (strcmp(m, "ListWorkloads") == 0) {
		Svcfleet__V1__ListWorkloadsRequest r
		    = SVCFLEET__V1__LIST_WORKLOADS_REQUEST__INIT;
		r.cluster    = cl;
		r.namespace_ = ns;
		CALL(svcfleet_list_workloads, r);
	} else if (strcmp(m, "ListPools") == 0) {
		Svcfleet__V1__ListPoolsRequest r
		    = SVCFLEET__V1__LIST_POOLS_REQUEST__INIT;
		r.cluster = cl;
		CALL(svcfleet_list_pools, r);
	} else if (strcmp(m, "ReportClusterHealth") == 0) {
		Svcfleet__V1__ClusterHealth h
		    = SVCFLEET__V1__CLUSTER_HEALTH__INIT;
		Svcfleet__V1__ReportClusterHealthRequest r
		    = SVCFLEET__V1__REPORT_CLUSTER_HEALTH_REQUEST__INIT;
		r.cluster = cl;
		r.health  = &h;
		CALL(svcfleet_report_cluster_health, r);
	} else if (strncmp(m, "Grant:", 6) == 0) {
		Svcfleet__V1__RoleBinding b = SVCFLEET__V1__ROLE_BINDING__INIT;
		Svcfleet__V1__CreateRoleBindingRequest r
		    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
		b.role       = (char *) m + 6;
		b.user       = "grantee";
		b.cluster    = cl;
		b.namespace_ = ns;
		r.binding    = &b;
		CALL(svcfleet_create_role_binding, r);
	} else if (strcmp(m, "ListRoleBindings") == 0) {
		Svcfleet__V1__ListRoleBindingsRequest r
		    = SVCFLEET__V1__LIST_ROLE_BINDINGS_REQUEST__INIT;
		r.cluster    = cl;
		r.namespace_ = ns;
		CALL(svcfleet_list_role_bindings, r);
	} else if (strcmp(m, "CreateToken") == 0) {
		Svcfleet__V1__CreateTokenRequest r
		    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
		r.user = "minted";
		CALL(svcfleet_create_token, r);
	} else if (strcmp(m, "ListTokens") == 0) {
		Svcfleet__V1__ListTokensRequest r
		    = SVCFLEET__V1__LIST_TOKENS_REQUEST__INIT;
		CALL(svcfleet_list_tokens, r);
	} else if (strcmp(m, "WhoAmI") == 0) {
		Svcfleet__V1__WhoAmIRequest r
		    = SVCFLEET__V1__WHO_AM_IREQUEST__INIT;
		CALL(svcfleet_who_am_i, r);
	} else if (strcmp(m, "ListAuditEvents") == 0) {
		Svcfleet__V1__ListAuditEventsRequest r
		    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
		r.cluster    = cl;
		r.namespace_ = ns;
		CALL(svcfleet_list_audit_events, r);
	} else if (strcmp(m, "Version") == 0) {
		Svcfleet__V1__Empty r = SVCFLEET__V1__EMPTY__INIT;
		CALL(svcfleet_version, r);
	}
#undef CALL
	svcfleet_free(out);
	return (rv);
}

// The expectations. One character per caller, in the order
// admin cluster-admin(east) ns-admin(east/prod) ns-edit(east/prod)
// ns-view(east/prod) reconciler nobody.
static const struct {
	const char *method;
	const char *scope;
	const char *expect;
} matrix[] = {
    // Services in the callers' namespace, another namespace of the same
    // cluster, the same namespace name in another cluster.
    {"CreateService", "east/prod", "AAAADDD"},
    {"CreateService", "east/dev", "AADDDDD"},
    {"CreateService", "west/prod", "ADDDDDD"},
    {"ApplyService", "east/prod", "AAAADDD"},
    {"ApplyService", "east/dev", "AADDDDD"},
    {"ApplyService", "west/prod", "ADDDDDD"},
    {"UpdateService", "east/prod", "AAAADDD"},
    {"UpdateService", "east/dev", "AADDDDD"},
    {"UpdateService", "west/prod", "ADDDDDD"},
    {"DeleteService", "east/prod", "AAAADDD"},
    {"DeleteService", "east/dev", "AADDDDD"},
    {"DeleteService", "west/prod", "ADDDDDD"},
    {"GetService", "east/prod", "AAAAAAD"},
    {"GetService", "east/dev", "AADDDAD"},
    {"GetService", "west/prod", "ADDDDAD"},
    {"ListServices", "east/prod", "AAAAAAD"},
    {"ListServices", "east/dev", "AADDDAD"},
    {"ListServices", "west/prod", "ADDDDAD"},
    // Across namespaces or clusters: allowed to whoever may read any
    // part, the reply filtered (checked in test_list_filtering).
    {"ListServices", "east/", "AAAAAAD"},
    {"ListServices", "/", "AAAAAAD"},
    {"ListServices", "west/", "ADDDDAD"},
    {"WatchServices", "east/prod", "AAAAAAD"},
    {"WatchServices", "east/dev", "AADDDAD"},
    {"WatchServices", "west/prod", "ADDDDAD"},
    {"WatchServices", "/", "AAAAAAD"},
    {"ReportStatus", "east/prod", "ADDDDAD"},
    {"ReportStatus", "west/dev", "ADDDDAD"},
    // Clusters.
    {"RegisterCluster", "north/", "ADDDDDD"},
    {"UpdateCluster", "east/", "ADDDDDD"},
    {"UpdateCluster", "west/", "ADDDDDD"},
    {"DeleteCluster", "ghost/", "ADDDDDD"},
    {"GetCluster", "east/", "AAAAAAD"},
    {"GetCluster", "west/", "ADDDDAD"},
    {"ListClusters", "/", "AAAAAAD"},
    {"ListNamespaces", "east/", "AAAAAAD"},
    {"ListNamespaces", "west/", "ADDDDAD"},
    {"ListWorkloads", "east/prod", "AAAAAAD"},
    {"ListWorkloads", "east/dev", "AADDDAD"},
    {"ListWorkloads", "west/prod", "ADDDDAD"},
    {"ListPools", "east/", "AAAAAAD"},
    {"ListPools", "west/", "ADDDDAD"},
    {"ReportClusterHealth", "east/", "ADDDDAD"},
    {"ReportClusterHealth", "west/", "ADDDDAD"},
    // Who may grant what.
    {"Grant:ns-view", "east/prod", "AAADDDD"},
    {"Grant:ns-edit", "east/prod", "AAADDDD"},
    {"Grant:ns-view", "east/dev", "AADDDDD"},
    {"Grant:ns-admin", "east/prod", "AADDDDD"},
    {"Grant:ns-admin", "east/dev", "AADDDDD"},
    {"Grant:cluster-admin", "east/", "AADDDDD"},
    {"Grant:ns-view", "west/prod", "ADDDDDD"},
    {"Grant:cluster-admin", "west/", "ADDDDDD"},
    {"Grant:admin", "/", "ADDDDDD"},
    {"Grant:reconciler", "/", "ADDDDDD"},
    {"ListRoleBindings", "east/prod", "AAADDDD"},
    {"ListRoleBindings", "east/dev", "AADDDDD"},
    {"ListRoleBindings", "/", "AAADDDD"},
    // Tokens and self.
    {"CreateToken", "/", "ADDDDDD"},
    {"ListTokens", "/", "AAAAAAA"},
    {"WhoAmI", "/", "AAAAAAA"},
    // Audit.
    {"ListAuditEvents", "east/prod", "AAAAADD"},
    {"ListAuditEvents", "east/dev", "AADDDDD"},
    {"ListAuditEvents", "west/", "ADDDDDD"},
    {"ListAuditEvents", "/", "AAAAADD"},
    // Public.
    {"Version", "/", "AAAAAAA"},
};

static void
test_matrix(void **state)
{
	fixture *f     = *state;
	int      cases = 0;
	int      wrong = 0;

	for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
		for (int p = 0; p < NP; p++) {
			svcfleet_status st = {0};
			int             rv = call(
			                f->who[p], matrix[i].method, matrix[i].scope, &st);
			char got  = rv == SVCFLEET_PERMISSION_DENIED ? 'D'
			     : rv == SVCFLEET_UNAUTHENTICATED        ? 'U'
			                                             : 'A';
			char want = matrix[i].expect[p];
			cases++;
			if (got != want) {
				fprintf(stderr,
				    "%s at \"%s\" as %s: want %c, got %s: "
				    "%s\n",
				    matrix[i].method, matrix[i].scope,
				    p_names[p], want, svcfleet_code_name(rv),
				    st.message);
				wrong++;
			}
			if (got == 'D'
			    && strstr(st.message, p_names[p]) == NULL
			    && p != P_ADMIN) {
				fprintf(stderr,
				    "denial does not name the user: %s\n",
				    st.message);
				wrong++;
			}
			svcfleet_status_fini(&st);
		}
	}
	printf("rbac matrix: %d cases, %d wrong\n", cases, wrong);
	assert_int_equal(wrong, 0);
	assert_true(cases >= 400);
}

// Without a token every method but Version and Health is refused.
static void
test_unauthenticated(void **state)
{
	fixture         *f    = *state;
	svcfleet_client *anon = th_client(f->fx.tf_srv.ts_url, NULL, 0);
	svcfleet_client *bad  = th_client(f->fx.tf_srv.ts_url,
	     "sfk_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0);
	svcfleet_client *junk
	    = th_client(f->fx.tf_srv.ts_url, "not-a-token", 0);
	svcfleet_client         *cs[] = {anon, bad, junk};
	static const char *const methods[]
	    = {"GetService", "ListServices", "CreateService", "ListClusters",
	        "WhoAmI", "ListAuditEvents", "CreateToken"};

	for (size_t k = 0; k < 3; k++) {
		for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]);
		     i++) {
			svcfleet_status st = {0};
			assert_int_equal(
			    call(cs[k], methods[i], "east/prod", &st),
			    SVCFLEET_UNAUTHENTICATED);
			svcfleet_status_fini(&st);
		}
		svcfleet_status st = {0};
		assert_int_equal(call(cs[k], "Version", "/", &st), 0);
		svcfleet_status_fini(&st);
		svcfleet_close(cs[k]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_matrix),
	    cmocka_unit_test(test_unauthenticated),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
