// server_test.c: the RPC server (server.h) in this process, on an LMDB
// store in a temporary directory and an inproc:// listener, called through
// libsvcfleet as any client calls it. It checks what the method table and
// the generic admission do once for every call — authentication (no
// token, an unknown token), an unknown method, authorization (a viewer's
// write) — and the ServiceManager's contract: validation reports every
// violation with its field path, an unknown cluster is a failed
// precondition, a dry run writes nothing, a second create is
// ALREADY_EXISTS and an update carrying a stale resource_version ABORTED.
// End-to-end behaviour (CLI, gateway, reconciler, kubefake) is
// tests/integration's.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h" // sf__srv_reply_hook
#include "log.h"
#include "server.h"
#include "status.h"
#include "svcfleet/svcfleet.h"

#define TOKEN_ADMIN "server-test-admin-token"
#define TOKEN_VIEW  "server-test-viewer-token"

static char             dir[64];
static sf_server       *srv;
static svcfleet_client *cl;

static void
rm_tree(const char *path)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0) {
		fprintf(stderr, "server_test: could not remove %s\n", path);
	}
}

// call_ok fails the test with the call's status when rv is not 0.
#define MUST(rv, st)                                                 \
	do {                                                         \
		if ((rv) != 0) {                                     \
			fail_msg("%s: %s", svcfleet_code_name((rv)), \
			    (st)->message);                          \
		}                                                    \
	} while (0)

static int
setup(void **state)
{
	(void) state;
	sf_server_opts   o  = {0};
	svcfleet_options co = {0};
	svcfleet_status  cst;
	const char      *ls[1];
	char             tokfile[128], data[96], url[64];
	sf_status        st;
	FILE            *f;

	snprintf(dir, sizeof(dir), "%s/sf-server-test-XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL) {
		return -1;
	}
	snprintf(tokfile, sizeof(tokfile), "%s/tokens.csv", dir);
	if ((f = fopen(tokfile, "w")) == NULL) {
		return -1;
	}
	fprintf(f, "%s,admin,1\n%s,viewer,2\n", TOKEN_ADMIN, TOKEN_VIEW);
	fclose(f);
	chmod(tokfile, 0600); // svcfleetd refuses a file others may read
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(
	    url, sizeof(url), "inproc://sf-server-test-%d", (int) getpid());
	ls[0]           = url;
	o.so_data_dir   = data;
	o.so_listen     = ls;
	o.so_nlisten    = 1;
	o.so_nosync     = true;
	o.so_token_file = tokfile;
	o.so_contexts   = 32;
	o.so_workers    = 2;
	sf_log_set_level(SF_LOG_NONE);
	sf_status_init(&st);
	if (sf_server_start(&srv, &o, &st) != 0) {
		fprintf(stderr, "server did not start: %s\n", st.st_msg);
		return -1;
	}
	sf_status_fini(&st);

	co.url         = url;
	co.token       = TOKEN_ADMIN;
	co.timeout_ms  = 10000;
	co.connect_now = true;
	svcfleet_status_init(&cst);
	if (svcfleet_open(&cl, &co, &cst) != 0) {
		fprintf(stderr, "open: %s\n", cst.message);
		return -1;
	}
	svcfleet_status_fini(&cst);
	return 0;
}

static int
teardown(void **state)
{
	(void) state;
	svcfleet_close(cl);
	sf_server_stop(srv);
	rm_tree(dir);
	return 0;
}

// A valid Service east/default/NAME, in fields owned by the caller.
typedef struct svc_fields {
	Svcfleet__V1__Service      svc;
	Svcfleet__V1__ObjectMeta   meta;
	Svcfleet__V1__ServiceSpec  spec;
	Svcfleet__V1__KeyValue     sel;
	Svcfleet__V1__KeyValue    *selp;
	Svcfleet__V1__ServicePort  port;
	Svcfleet__V1__ServicePort *portp;
} svc_fields;

static Svcfleet__V1__Service *
svc_make(svc_fields *f, const char *cluster, const char *name)
{
	svcfleet__v1__service__init(&f->svc);
	svcfleet__v1__object_meta__init(&f->meta);
	svcfleet__v1__service_spec__init(&f->spec);
	svcfleet__v1__key_value__init(&f->sel);
	svcfleet__v1__service_port__init(&f->port);
	f->meta.cluster    = (char *) cluster;
	f->meta.namespace_ = "default";
	f->meta.name       = (char *) name;
	f->sel.key         = "app";
	f->sel.value       = "web";
	f->selp            = &f->sel;
	f->port.port       = 80;
	f->portp           = &f->port;
	f->spec.selector   = &f->selp;
	f->spec.n_selector = 1;
	f->spec.ports      = &f->portp;
	f->spec.n_ports    = 1;
	f->svc.metadata    = &f->meta;
	f->svc.spec        = &f->spec;
	return (&f->svc);
}

static int
create(const char *token, Svcfleet__V1__Service *svc, bool dry,
    Svcfleet__V1__Service **out, svcfleet_status *st)
{
	Svcfleet__V1__CreateServiceRequest req
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	svcfleet_call_opts o = {0};
	o.token              = token;
	req.service          = svc;
	req.dry_run          = dry;
	return (svcfleet_create_service_with(cl, &req, out, &o, st));
}

static void
register_east(svcfleet_status *st)
{
	Svcfleet__V1__Cluster                c = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__RegisterClusterRequest rc
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *creg = NULL;
	c.name                      = "east";
	c.api_server                = "https://127.0.0.1:1";
	c.token                     = "cluster-token";
	rc.cluster                  = &c;
	MUST(svcfleet_register_cluster(cl, &rc, &creg, st), st);
	svcfleet_free(creg);
}

static int
get(const char *token, const char *name, Svcfleet__V1__Service **out,
    svcfleet_status *st)
{
	Svcfleet__V1__GetServiceRequest req
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey key = SVCFLEET__V1__SERVICE_KEY__INIT;
	svcfleet_call_opts       o   = {0};
	o.token                      = token;
	key.cluster                  = "east";
	key.namespace_               = "default";
	key.name                     = (char *) name;
	req.key                      = &key;
	return (svcfleet_get_service_with(cl, &req, out, &o, st));
}

// Authentication and the method table act before any handler.
static void
test_admission(void **state)
{
	(void) state;
	svcfleet_status             st;
	svcfleet_call_opts          o   = {0};
	Svcfleet__V1__WhoAmIRequest req = SVCFLEET__V1__WHO_AM_IREQUEST__INIT;
	Svcfleet__V1__WhoAmIReply  *who = NULL;

	svcfleet_status_init(&st);
	MUST(svcfleet_who_am_i(cl, &req, &who, &st), &st);
	assert_string_equal(who->user, "admin");
	svcfleet_free(who);
	who = NULL;

	o.token = ""; // none
	assert_int_equal(svcfleet_who_am_i_with(cl, &req, &who, &o, &st),
	    SVCFLEET_UNAUTHENTICATED);
	o.token = "not-a-token";
	assert_int_equal(svcfleet_who_am_i_with(cl, &req, &who, &o, &st),
	    SVCFLEET_UNAUTHENTICATED);
	assert_null(who);

	// A method the proto does not declare.
	ProtobufCMessage *rep = NULL;
	assert_int_equal(
	    svcfleet_call(cl, "/svcfleet.v1.ServiceManager/Nope", &req.base,
	        &svcfleet__v1__empty__descriptor, &rep, 0, &st),
	    SVCFLEET_UNIMPLEMENTED);
	assert_null(rep);
	svcfleet_status_fini(&st);
}

static void
test_services(void **state)
{
	(void) state;
	svcfleet_status        st;
	svc_fields             f;
	Svcfleet__V1__Service *out = NULL, *got = NULL;

	svcfleet_status_init(&st);

	// No such cluster yet.
	int rv
	    = create(NULL, svc_make(&f, "east", "webapp"), false, &out, &st);
	if (rv != SVCFLEET_FAILED_PRECONDITION) {
		fail_msg("%s: %s", svcfleet_code_name(rv), st.message);
	}

	register_east(&st);

	// Every violation, each with its field path.
	Svcfleet__V1__Service *bad = svc_make(&f, "east", "a");
	f.port.port                = 0;
	assert_int_equal(
	    create(NULL, bad, false, &out, &st), SVCFLEET_INVALID_ARGUMENT);
	bool name = false, port = false;
	for (size_t i = 0; i < st.n_violations; i++) {
		name |= strcmp(st.violations[i].field, "metadata.name") == 0;
		port |= strcmp(st.violations[i].field, "spec.ports[0].port")
		    == 0;
	}
	if (!name || !port) {
		fail_msg("violations: %zu, metadata.name %d, "
		         "spec.ports[0].port %d (%s)",
		    st.n_violations, name, port, st.message);
	}

	// A dry run answers as a create would and writes nothing.
	MUST(create(NULL, svc_make(&f, "east", "webapp"), true, &out, &st),
	    &st);
	assert_string_equal(out->metadata->name, "webapp");
	svcfleet_free(out);
	out = NULL;
	assert_int_equal(get(NULL, "webapp", &got, &st), SVCFLEET_NOT_FOUND);

	MUST(create(NULL, svc_make(&f, "east", "webapp"), false, &out, &st),
	    &st);
	assert_true(out->metadata->resource_version > 0);
	assert_true(strlen(out->metadata->uid) > 0);
	assert_string_equal(out->metadata->created_by, "admin");
	MUST(get(NULL, "webapp", &got, &st), &st);
	assert_string_equal(got->metadata->uid, out->metadata->uid);
	assert_int_equal(got->spec->ports[0]->port, 80);
	svcfleet_free(got);
	got = NULL;

	assert_int_equal(
	    create(NULL, svc_make(&f, "east", "webapp"), false, &got, &st),
	    SVCFLEET_ALREADY_EXISTS);

	// An update that carries a stale resource_version.
	Svcfleet__V1__UpdateServiceRequest up
	    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *u = svc_make(&f, "east", "webapp");
	f.meta.resource_version  = out->metadata->resource_version - 1;
	f.port.port              = 8080;
	up.service               = u;
	assert_int_equal(
	    svcfleet_update_service(cl, &up, &got, &st), SVCFLEET_ABORTED);
	f.meta.resource_version = out->metadata->resource_version;
	MUST(svcfleet_update_service(cl, &up, &got, &st), &st);
	assert_true(
	    got->metadata->resource_version > out->metadata->resource_version);
	assert_int_equal(got->metadata->generation, 2);
	svcfleet_free(got);
	svcfleet_free(out);
	svcfleet_status_fini(&st);
}

// A viewer reads its namespace and may not write to it.
static void
test_authorization(void **state)
{
	(void) state;
	svcfleet_status        st;
	svc_fields             f;
	Svcfleet__V1__Service *out = NULL;

	svcfleet_status_init(&st);
	// Nothing bound yet: the viewer may not even read.
	assert_int_equal(
	    get(TOKEN_VIEW, "webapp", &out, &st), SVCFLEET_PERMISSION_DENIED);

	Svcfleet__V1__RoleBinding rb = SVCFLEET__V1__ROLE_BINDING__INIT;
	Svcfleet__V1__CreateRoleBindingRequest br
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__RoleBinding *brep = NULL;
	rb.role                         = "ns-view";
	rb.user                         = "viewer";
	rb.cluster                      = "east";
	rb.namespace_                   = "default";
	br.binding                      = &rb;
	MUST(svcfleet_create_role_binding(cl, &br, &brep, &st), &st);
	svcfleet_free(brep);

	MUST(get(TOKEN_VIEW, "webapp", &out, &st), &st);
	svcfleet_free(out);
	out = NULL;
	assert_int_equal(create(TOKEN_VIEW, svc_make(&f, "east", "webapp2"),
	                     false, &out, &st),
	    SVCFLEET_PERMISSION_DENIED);
	assert_null(out);
	svcfleet_status_fini(&st);
}

// A stop that comes while a write's reply is on its way (sent from the
// store's writer thread, which outlives the contexts) waits for it: the
// reply reaches the caller and nothing uses a closed context. The hook
// holds the reply just before nng gets it.
static atomic_bool in_hook;

static void
slow_reply(const char *method)
{
	if (strstr(method, "CreateService") != NULL
	    && !atomic_exchange(&in_hook, true)) {
		usleep(300 * 1000);
	}
}

typedef struct bg_create {
	const char     *name; // NULL: "stopping"
	int             rv;
	svcfleet_status st;
} bg_create;

static void *
bg_create_main(void *arg)
{
	bg_create             *b = arg;
	svc_fields             f;
	Svcfleet__V1__Service *out = NULL;
	svcfleet_status_init(&b->st);
	b->rv = create(NULL,
	    svc_make(&f, "east", b->name != NULL ? b->name : "stopping"),
	    false, &out, &b->st);
	svcfleet_free(out);
	return (NULL);
}

static void
test_stop_waits_for_reply(void **state)
{
	(void) state;
	pthread_t t;
	bg_create b = {0};

	sf__srv_reply_hook = slow_reply;
	assert_int_equal(pthread_create(&t, NULL, bg_create_main, &b), 0);
	for (int i = 0; i < 1000 && !atomic_load(&in_hook); i++) {
		usleep(10 * 1000);
	}
	assert_true(atomic_load(&in_hook));
	sf_server_stop(srv); // while the reply is held
	srv = NULL;
	pthread_join(t, NULL);
	sf__srv_reply_hook = NULL;
	if (b.rv != 0) {
		fail_msg("the create in flight at the stop: %s: %s",
		    svcfleet_code_name(b.rv), b.st.message);
	}
	svcfleet_status_fini(&b.st);
}

// A stop whose drain gives up while a write still waits for the store (an
// etcd without quorum, a writer held: here the writer is held in the first
// create's reply, past the drain's time, with a second create queued
// behind it) answers both through the contexts: the store is closed
// before them. (It was closed after: the held reply and the queued
// write's were sent through freed contexts.)
static atomic_int held;

static void
hold_first_reply(const char *method)
{
	if (strstr(method, "CreateService") != NULL
	    && atomic_fetch_add(&held, 1) == 0) {
		usleep(500 * 1000);
	}
}

static void
test_stop_answers_queued_writes(void **state)
{
	pthread_t t[2];
	bg_create b[2] = {{.name = "queued-0"}, {.name = "queued-1"}};

	teardown(state); // the last test stopped the server
	assert_int_equal(setup(state), 0);
	svcfleet_status st = {0};
	register_east(&st);
	svcfleet_status_fini(&st);
	atomic_store(&sf__srv_drain_max_ms, 50);
	sf__srv_reply_hook = hold_first_reply;
	assert_int_equal(
	    pthread_create(&t[0], NULL, bg_create_main, &b[0]), 0);
	for (int i = 0; i < 1000 && atomic_load(&held) == 0; i++) {
		usleep(10 * 1000);
	}
	assert_int_equal(atomic_load(&held), 1);
	// The second is in flight (the first has left the count).
	assert_int_equal(
	    pthread_create(&t[1], NULL, bg_create_main, &b[1]), 0);
	for (int i = 0; i < 1000 && atomic_load(&srv->s_inflight) == 0; i++) {
		usleep(10 * 1000);
	}
	assert_int_equal(atomic_load(&srv->s_inflight), 1);
	sf_server_stop(srv); // the drain gives up after 50 ms
	srv = NULL;
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		if (b[i].rv != 0) {
			fail_msg("create %d, in flight at the stop: %s: %s", i,
			    svcfleet_code_name(b[i].rv), b[i].st.message);
		}
		svcfleet_status_fini(&b[i].st);
	}
	sf__srv_reply_hook = NULL;
	atomic_store(&sf__srv_drain_max_ms, 10000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_admission), cmocka_unit_test(test_services),
	    cmocka_unit_test(test_authorization),
	    cmocka_unit_test(test_stop_waits_for_reply), // stops the server
	    cmocka_unit_test(test_stop_answers_queued_writes), // again
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
