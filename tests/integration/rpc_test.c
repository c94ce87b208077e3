// rpc_test.c: the Service API end to end through libsvcfleet against a real
// svcfleetd — every status code, persistence across restarts, watches,
// dedupe, and hostile input on the socket.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "svcfleet/svcfleet.h"

#define CLUSTER "east"

typedef th_fixture fixture;

static char g_token[128];

static int
register_cluster(svcfleet_client *c, const char *name, int min, int max)
{
	Svcfleet__V1__Cluster                cl = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__RegisterClusterRequest req
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *out = NULL;
	svcfleet_status        st  = {0};
	int                    rv;

	cl.name          = (char *) name;
	cl.api_server    = "https://127.0.0.1:6443";
	cl.token         = "secret-token-for-tests";
	cl.node_port_min = min;
	cl.node_port_max = max;
	req.cluster      = &cl;
	rv               = svcfleet_register_cluster(c, &req, &out, &st);
	if (rv == 0) {
		assert_string_equal(out->name, name);
		assert_true(out->resource_version > 0);
	}
	svcfleet_free(out);
	svcfleet_status_fini(&st);
	return (rv);
}

static int
setup(void **state)
{
	fixture *f;
	if (th_setup(state) != 0) {
		return (-1);
	}
	f = *state;
	snprintf(g_token, sizeof(g_token), "%s", f->tf_srv.ts_token);
	assert_int_equal(register_cluster(f->tf_c, CLUSTER, 30000, 32767), 0);
	return (0);
}

// A NodePort Service built on the caller's stack.
typedef struct svc_buf {
	Svcfleet__V1__Service      svc;
	Svcfleet__V1__ObjectMeta   meta;
	Svcfleet__V1__ServiceSpec  spec;
	Svcfleet__V1__KeyValue     sel;
	Svcfleet__V1__KeyValue    *selp[1];
	Svcfleet__V1__ServicePort  port;
	Svcfleet__V1__ServicePort *portp[1];
} svc_buf;

static Svcfleet__V1__Service *
make_svc(svc_buf *b, const char *ns, const char *name, int port, int node_port)
{
	svcfleet__v1__service__init(&b->svc);
	svcfleet__v1__object_meta__init(&b->meta);
	svcfleet__v1__service_spec__init(&b->spec);
	svcfleet__v1__key_value__init(&b->sel);
	svcfleet__v1__service_port__init(&b->port);
	b->meta.cluster     = CLUSTER;
	b->meta.namespace_  = (char *) ns;
	b->meta.name        = (char *) name;
	b->sel.key          = "app";
	b->sel.value        = "web";
	b->selp[0]          = &b->sel;
	b->spec.selector    = b->selp;
	b->spec.n_selector  = 1;
	b->port.port        = port;
	b->port.target_port = 8080;
	b->port.node_port   = node_port;
	b->portp[0]         = &b->port;
	b->spec.ports       = b->portp;
	b->spec.n_ports     = 1;
	b->spec.type        = node_port >= 0 ? "NodePort" : "ClusterIP";
	if (node_port < 0) {
		b->port.node_port = 0;
	}
	b->svc.metadata = &b->meta;
	b->svc.spec     = &b->spec;
	return (&b->svc);
}

static int
create(fixture *f, Svcfleet__V1__Service *svc, bool dry,
    Svcfleet__V1__Service **out)
{
	Svcfleet__V1__CreateServiceRequest req
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *tmp = NULL;
	int                    rv;
	req.service = svc;
	req.dry_run = dry;
	rv          = svcfleet_create_service(f->tf_c, &req, &tmp, &f->tf_st);
	if (out != NULL) {
		*out = tmp;
	} else {
		svcfleet_free(tmp);
	}
	return (rv);
}

static int
get(fixture *f, const char *ns, const char *name, Svcfleet__V1__Service **out)
{
	Svcfleet__V1__ServiceKey        k = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__GetServiceRequest req
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *tmp = NULL;
	int                    rv;
	k.cluster    = CLUSTER;
	k.namespace_ = (char *) ns;
	k.name       = (char *) name;
	req.key      = &k;
	rv           = svcfleet_get_service(f->tf_c, &req, &tmp, &f->tf_st);
	if (out != NULL) {
		*out = tmp;
	} else {
		svcfleet_free(tmp);
	}
	return (rv);
}

static bool
has_violation(const svcfleet_status *st, const char *field)
{
	for (size_t i = 0; i < st->n_violations; i++) {
		if (strcmp(st->violations[i].field, field) == 0) {
			return (true);
		}
	}
	return (false);
}

// ------------------------------------------------------------------ tests

static void
test_crud_and_codes(void **state)
{
	fixture               *f = *state;
	svc_buf                b;
	Svcfleet__V1__Service *s1 = NULL, *s2 = NULL;

	// Create, then read back with server-kept metadata.
	assert_int_equal(
	    create(f, make_svc(&b, "prod", "web1", 80, 30080), false, &s1), 0);
	assert_true(s1->metadata->resource_version > 0);
	assert_int_equal(s1->metadata->generation, 1);
	assert_true(strlen(s1->metadata->uid) >= 32);
	assert_int_equal(get(f, "prod", "web1", &s2), 0);
	assert_int_equal(
	    s2->metadata->resource_version, s1->metadata->resource_version);
	assert_string_equal(s2->spec->type, "NodePort");
	assert_string_equal(s2->spec->ports[0]->protocol, "TCP");

	// ALREADY_EXISTS, and nothing changed.
	assert_int_equal(
	    create(f, make_svc(&b, "prod", "web1", 81, -1), false, NULL),
	    SVCFLEET_ALREADY_EXISTS);
	assert_non_null(strstr(f->tf_st.message, "already exists"));
	svcfleet_free(s2);
	assert_int_equal(get(f, "prod", "web1", &s2), 0);
	assert_int_equal(s2->spec->ports[0]->port, 80);
	svcfleet_free(s2);

	// NOT_FOUND.
	assert_int_equal(get(f, "prod", "nope", NULL), SVCFLEET_NOT_FOUND);
	assert_non_null(strstr(f->tf_st.message, "\"nope\" not found"));

	// FAILED_PRECONDITION: nodePort already requested, naming it.
	assert_int_equal(
	    create(f, make_svc(&b, "dev", "web2", 80, 30080), false, NULL),
	    SVCFLEET_FAILED_PRECONDITION);
	assert_non_null(strstr(f->tf_st.message, "prod/web1"));
	assert_true(has_violation(&f->tf_st, "spec.ports[0].nodePort"));
	assert_int_equal(get(f, "dev", "web2", NULL), SVCFLEET_NOT_FOUND);

	// FAILED_PRECONDITION: unknown cluster.
	make_svc(&b, "prod", "web3", 80, -1);
	b.meta.cluster = "west";
	assert_int_equal(
	    create(f, &b.svc, false, NULL), SVCFLEET_FAILED_PRECONDITION);
	assert_non_null(strstr(f->tf_st.message, "cluster \"west\""));

	// INVALID_ARGUMENT with every violation.
	make_svc(&b, "prod", "ab", 0, 99);
	b.spec.type = "ClusterIP";
	assert_int_equal(
	    create(f, &b.svc, false, NULL), SVCFLEET_INVALID_ARGUMENT);
	assert_true(has_violation(&f->tf_st, "metadata.name"));
	assert_true(has_violation(&f->tf_st, "spec.ports[0].nodePort"));
	assert_true(f->tf_st.n_violations >= 2);

	// Update with a stale resource version: ABORTED.
	Svcfleet__V1__UpdateServiceRequest up
	    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *s3 = NULL;
	make_svc(&b, "prod", "web1", 8080, 30080);
	b.meta.resource_version = s1->metadata->resource_version + 1000;
	up.service              = &b.svc;
	assert_int_equal(svcfleet_update_service(f->tf_c, &up, &s3, &f->tf_st),
	    SVCFLEET_ABORTED);
	// The right one works and bumps the generation.
	b.meta.resource_version = s1->metadata->resource_version;
	assert_int_equal(
	    svcfleet_update_service(f->tf_c, &up, &s3, &f->tf_st), 0);
	assert_int_equal(s3->metadata->generation, 2);
	assert_true(
	    s3->metadata->resource_version > s1->metadata->resource_version);
	assert_int_equal(s3->spec->ports[0]->port, 8080);
	assert_string_equal(s3->metadata->uid, s1->metadata->uid);
	svcfleet_free(s3);

	// Delete: gone at once (no finalizers without a reconciler).
	Svcfleet__V1__DeleteServiceRequest del
	    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey          k  = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__DeleteServiceReply *dr = NULL;
	k.cluster                            = CLUSTER;
	k.namespace_                         = "prod";
	k.name                               = "web1";
	del.key                              = &k;
	assert_int_equal(
	    svcfleet_delete_service(f->tf_c, &del, &dr, &f->tf_st), 0);
	assert_true(dr->deleted);
	svcfleet_free(dr);
	assert_int_equal(get(f, "prod", "web1", NULL), SVCFLEET_NOT_FOUND);
	assert_int_equal(
	    svcfleet_delete_service(f->tf_c, &del, &dr, &f->tf_st),
	    SVCFLEET_NOT_FOUND);
	// Its nodePort is free again.
	assert_int_equal(
	    create(f, make_svc(&b, "dev", "web2", 80, 30080), false, NULL), 0);
	svcfleet_free(s1);
}

static void
test_dry_run_writes_nothing(void **state)
{
	fixture                    *f = *state;
	svc_buf                     b;
	Svcfleet__V1__Service      *out = NULL;
	Svcfleet__V1__VersionReply *v1 = NULL, *v2 = NULL;
	Svcfleet__V1__Empty         e = SVCFLEET__V1__EMPTY__INIT;

	assert_int_equal(svcfleet_version(f->tf_c, &e, &v1, &f->tf_st), 0);
	assert_int_equal(
	    create(f, make_svc(&b, "dry", "only", 80, -1), true, &out), 0);
	assert_string_equal(out->spec->type, "ClusterIP");
	svcfleet_free(out);
	assert_int_equal(get(f, "dry", "only", NULL), SVCFLEET_NOT_FOUND);
	assert_int_equal(svcfleet_version(f->tf_c, &e, &v2, &f->tf_st), 0);
	assert_int_equal(v1->revision, v2->revision);
	svcfleet_free(v1);
	svcfleet_free(v2);
}

static void
test_apply_idempotent(void **state)
{
	fixture                          *f = *state;
	svc_buf                           b;
	Svcfleet__V1__ApplyServiceRequest req
	    = SVCFLEET__V1__APPLY_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyServiceReply *r1 = NULL, *r2 = NULL, *r3 = NULL;

	req.service = make_svc(&b, "apply", "svc1", 443, -1);
	assert_int_equal(
	    svcfleet_apply_service(f->tf_c, &req, &r1, &f->tf_st), 0);
	assert_int_equal(
	    r1->action, SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_CREATED);
	req.service = make_svc(&b, "apply", "svc1", 443, -1);
	assert_int_equal(
	    svcfleet_apply_service(f->tf_c, &req, &r2, &f->tf_st), 0);
	assert_int_equal(
	    r2->action, SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_UNCHANGED);
	assert_int_equal(r2->service->metadata->resource_version,
	    r1->service->metadata->resource_version);
	assert_int_equal(r2->service->metadata->generation, 1);
	req.service = make_svc(&b, "apply", "svc1", 8443, -1);
	assert_int_equal(
	    svcfleet_apply_service(f->tf_c, &req, &r3, &f->tf_st), 0);
	assert_int_equal(
	    r3->action, SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_CONFIGURED);
	assert_int_equal(r3->service->metadata->generation, 2);
	svcfleet_free(r1);
	svcfleet_free(r2);
	svcfleet_free(r3);
}

static void
test_list_paging_and_selector(void **state)
{
	fixture *f = *state;
	svc_buf  b;
	char     name[32];

	for (int i = 0; i < 25; i++) {
		snprintf(name, sizeof(name), "page-%02d", i);
		make_svc(&b, "paging", name, 80, -1);
		b.sel.value = (i % 2) ? "odd" : "even";
		// Labels mirror the selector for the label filter.
		Svcfleet__V1__KeyValue *lp[1] = {&b.sel};
		b.meta.labels                 = lp;
		b.meta.n_labels               = 1;
		assert_int_equal(create(f, &b.svc, false, NULL), 0);
	}
	Svcfleet__V1__ListServicesRequest req
	    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
	req.cluster    = CLUSTER;
	req.namespace_ = "paging";
	req.page_size  = 7;
	int   seen = 0, pages = 0;
	char *token    = strdup("");
	char  last[64] = "";
	do {
		Svcfleet__V1__ListServicesReply *r = NULL;
		req.page_token                     = token;
		assert_int_equal(
		    svcfleet_list_services(f->tf_c, &req, &r, &f->tf_st), 0);
		for (size_t i = 0; i < r->n_services; i++) {
			// Stable order, no repeats.
			assert_true(
			    strcmp(last, r->services[i]->metadata->name) < 0);
			snprintf(last, sizeof(last), "%s",
			    r->services[i]->metadata->name);
			seen++;
		}
		free(token);
		token = strdup(r->next_page_token);
		pages++;
		svcfleet_free(r);
	} while (token[0] != '\0');
	free(token);
	assert_int_equal(seen, 25);
	assert_int_equal(pages, 4);

	Svcfleet__V1__ListServicesReply *r = NULL;
	req.page_size                      = 0;
	req.page_token                     = "";
	req.label_selector                 = "app=odd";
	assert_int_equal(
	    svcfleet_list_services(f->tf_c, &req, &r, &f->tf_st), 0);
	assert_int_equal(r->n_services, 12);
	svcfleet_free(r);
	req.label_selector = "app in (";
	assert_int_equal(svcfleet_list_services(f->tf_c, &req, &r, &f->tf_st),
	    SVCFLEET_INVALID_ARGUMENT);
	req.label_selector = "";
	req.page_token     = "garbage!";
	assert_int_equal(svcfleet_list_services(f->tf_c, &req, &r, &f->tf_st),
	    SVCFLEET_INVALID_ARGUMENT);
}

typedef struct waker_arg {
	const char *url;
	int         rv;
} waker_arg;

static void *
waker(void *arg)
{
	waker_arg                         *wa = arg;
	svc_buf                            b;
	svcfleet_client                   *c2 = th_client(wa->url, g_token, 0);
	svcfleet_status                    st = {0};
	Svcfleet__V1__CreateServiceRequest cr
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *out = NULL;

	usleep(200000);
	cr.service = make_svc(&b, "watch", "woken", 80, -1);
	wa->rv     = svcfleet_create_service(c2, &cr, &out, &st);
	svcfleet_free(out);
	svcfleet_close(c2);
	svcfleet_status_fini(&st);
	return (NULL);
}

static void
test_watch_long_poll(void **state)
{
	fixture                    *f = *state;
	Svcfleet__V1__Empty         e = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *v = NULL;

	assert_int_equal(svcfleet_version(f->tf_c, &e, &v, &f->tf_st), 0);
	uint64_t since = v->revision;
	svcfleet_free(v);

	// Nothing new: the poll waits, then returns empty.
	Svcfleet__V1__WatchServicesRequest req
	    = SVCFLEET__V1__WATCH_SERVICES_REQUEST__INIT;
	Svcfleet__V1__WatchServicesReply *r = NULL;
	req.since_revision                  = since;
	req.cluster                         = CLUSTER;
	req.wait_ms                         = 300;
	assert_int_equal(
	    svcfleet_watch_services_wait(f->tf_c, &req, &r, &f->tf_st), 0);
	assert_int_equal(r->n_events, 0);
	svcfleet_free(r);

	// A write from another client wakes the waiting poll.
	pthread_t t;
	waker_arg wa = {f->tf_srv.ts_url, -1};
	assert_int_equal(pthread_create(&t, NULL, waker, &wa), 0);
	req.wait_ms = 10000;
	assert_int_equal(
	    svcfleet_watch_services_wait(f->tf_c, &req, &r, &f->tf_st), 0);
	pthread_join(t, NULL);
	assert_int_equal(wa.rv, 0);
	assert_int_equal(r->n_events, 1);
	assert_int_equal(
	    r->events[0]->type, SVCFLEET__V1__EVENT_TYPE__EVENT_TYPE_ADDED);
	assert_string_equal(r->events[0]->service->metadata->name, "woken");
	assert_true(r->revision > since);
	svcfleet_free(r);
}

static void
test_unknown_method_and_sizes(void **state)
{
	fixture            *f   = *state;
	Svcfleet__V1__Empty e   = SVCFLEET__V1__EMPTY__INIT;
	ProtobufCMessage   *out = NULL;

	assert_int_equal(
	    svcfleet_call(f->tf_c, "/svcfleet.v1.Nope/Nothing", &e.base,
	        &svcfleet__v1__empty__descriptor, &out, 0, &f->tf_st),
	    SVCFLEET_UNIMPLEMENTED);
	assert_non_null(strstr(f->tf_st.message, "unknown method"));

	// A request above the server's 4 MiB limit.
	svc_buf b;
	make_svc(&b, "big", "huge", 80, -1);
	size_t                  n       = 5u << 20;
	char                   *big     = malloc(n + 1);
	Svcfleet__V1__KeyValue  ann     = SVCFLEET__V1__KEY_VALUE__INIT;
	Svcfleet__V1__KeyValue *annp[1] = {&ann};
	memset(big, 'x', n);
	big[n]               = '\0';
	ann.key              = "big";
	ann.value            = big;
	b.meta.annotations   = annp;
	b.meta.n_annotations = 1;
	assert_int_equal(
	    create(f, &b.svc, false, NULL), SVCFLEET_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(f->tf_st.message, "limit"));
	free(big);
	// Still serving.
	assert_int_equal(get(f, "big", "huge", NULL), SVCFLEET_NOT_FOUND);
}

static void
test_request_id_dedupe(void **state)
{
	fixture                           *f = *state;
	nng_socket                         s;
	svc_buf                            b;
	Svcfleet__V1__CreateServiceRequest cr
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__RequestEnvelope env
	    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	uint64_t rv[2];

	cr.service = make_svc(&b, "dedupe", "once", 80, -1);
	size_t pn = svcfleet__v1__create_service_request__get_packed_size(&cr);
	uint8_t *p = malloc(pn);
	svcfleet__v1__create_service_request__pack(&cr, p);
	env.method       = "/svcfleet.v1.ServiceManager/CreateService";
	env.token        = g_token;
	env.request_id   = "fixed-request-id-1";
	env.payload.data = p;
	env.payload.len  = pn;
	size_t   n   = svcfleet__v1__request_envelope__get_packed_size(&env);
	uint8_t *buf = malloc(n);
	svcfleet__v1__request_envelope__pack(&env, buf);

	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_dial(s, f->tf_srv.ts_url, NULL, 0), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
	for (int i = 0; i < 2; i++) {
		nng_msg *m;
		assert_int_equal(nng_send(s, buf, n, 0), 0);
		assert_int_equal(nng_recvmsg(s, &m, 0), 0);
		Svcfleet__V1__ReplyEnvelope *r
		    = svcfleet__v1__reply_envelope__unpack(
		        NULL, nng_msg_len(m), nng_msg_body(m));
		assert_non_null(r);
		// The second send is the first's reply again, not
		// ALREADY_EXISTS.
		if (r->code != 0) {
			fprintf(stderr, "reply %d: %s\n", r->code, r->message);
		}
		assert_int_equal(r->code, 0);
		Svcfleet__V1__Service *svc = svcfleet__v1__service__unpack(
		    NULL, r->payload.len, r->payload.data);
		rv[i] = svc->metadata->resource_version;
		svcfleet__v1__service__free_unpacked(svc, NULL);
		svcfleet__v1__reply_envelope__free_unpacked(r, NULL);
		nng_msg_free(m);
	}
	assert_int_equal(rv[0], rv[1]);
	nng_close(s);
	free(p);
	free(buf);
}

static void
test_deadline_when_server_stalls(void **state)
{
	fixture                    *f = *state;
	svcfleet_client            *c;
	svcfleet_status             st = {0};
	nng_socket                  mute;
	char                        url[400];
	Svcfleet__V1__Empty         e = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *v = NULL;

	// A server that takes requests and never answers.
	snprintf(url, sizeof(url), "ipc://%s/mute.sock", f->tf_srv.ts_dir);
	assert_int_equal(nng_rep0_open(&mute), 0);
	assert_int_equal(nng_listen(mute, url, NULL, 0), 0);
	svcfleet_options o
	    = {.url = url, .timeout_ms = 300, .connect_now = true};
	assert_int_equal(svcfleet_open(&c, &o, &st), 0);
	assert_int_equal(
	    svcfleet_version(c, &e, &v, &st), SVCFLEET_DEADLINE_EXCEEDED);
	assert_non_null(strstr(st.message, "300 ms"));
	svcfleet_close(c);
	svcfleet_status_fini(&st);
	nng_close(mute);
	(void) f;
}

static void
test_cluster_records(void **state)
{
	fixture *f = *state;
	svc_buf  b;

	assert_int_equal(register_cluster(f->tf_c, CLUSTER, 30000, 32767),
	    SVCFLEET_ALREADY_EXISTS);
	assert_int_equal(register_cluster(f->tf_c, "Bad_Name", 30000, 32767),
	    SVCFLEET_INVALID_ARGUMENT);
	assert_int_equal(register_cluster(f->tf_c, "narrow", 31000, 31010), 0);

	// The cluster's own range applies to requested nodePorts.
	make_svc(&b, "prod", "narrow-svc", 80, 30080);
	b.meta.cluster = "narrow";
	assert_int_equal(
	    create(f, &b.svc, false, NULL), SVCFLEET_INVALID_ARGUMENT);
	assert_true(has_violation(&f->tf_st, "spec.ports[0].nodePort"));
	make_svc(&b, "prod", "narrow-svc", 80, 31005);
	b.meta.cluster = "narrow";
	assert_int_equal(create(f, &b.svc, false, NULL), 0);

	// Credentials are never echoed to a caller who is not admin; the
	// admin sees has_credentials.
	Svcfleet__V1__ListClustersRequest lr
	    = SVCFLEET__V1__LIST_CLUSTERS_REQUEST__INIT;
	Svcfleet__V1__ListClustersReply *l = NULL;
	assert_int_equal(
	    svcfleet_list_clusters(f->tf_c, &lr, &l, &f->tf_st), 0);
	assert_true(l->n_clusters >= 2);
	assert_true(l->clusters[0]->has_credentials);
	svcfleet_free(l);

	// A cluster with Services cannot be removed.
	Svcfleet__V1__DeleteClusterRequest dc
	    = SVCFLEET__V1__DELETE_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Empty *out = NULL;
	dc.name                  = "narrow";
	assert_int_equal(
	    svcfleet_delete_cluster(f->tf_c, &dc, &out, &f->tf_st),
	    SVCFLEET_FAILED_PRECONDITION);
	assert_non_null(strstr(f->tf_st.message, "still has 1 service"));
}

static void
test_restart_keeps_everything(void **state)
{
	fixture               *f = *state;
	svc_buf                b;
	Svcfleet__V1__Service *before = NULL, *after = NULL;

	assert_int_equal(create(f, make_svc(&b, "keep", "persist", 80, 31999),
	                     false, &before),
	    0);
	svcfleet_close(f->tf_c);
	f->tf_c = NULL;
	assert_int_equal(th_server_stop(&f->tf_srv), 0);
	assert_int_equal(
	    th_server_start(&f->tf_srv, f->tf_srv.ts_dir, NULL), 0);
	f->tf_c = th_client(f->tf_srv.ts_url, g_token, 0);
	assert_int_equal(get(f, "keep", "persist", &after), 0);
	assert_int_equal(after->metadata->resource_version,
	    before->metadata->resource_version);
	assert_string_equal(after->metadata->uid, before->metadata->uid);
	assert_int_equal(after->spec->ports[0]->node_port, 31999);
	uint64_t rv_before = before->metadata->resource_version;
	svcfleet_free(before);
	svcfleet_free(after);
	// The revision keeps growing after a restart.
	Svcfleet__V1__Service *s2 = NULL;
	assert_int_equal(
	    create(f, make_svc(&b, "keep", "persist2", 80, -1), false, &s2),
	    0);
	assert_true(s2->metadata->resource_version > rv_before);
	svcfleet_free(s2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crud_and_codes),
	    cmocka_unit_test(test_dry_run_writes_nothing),
	    cmocka_unit_test(test_apply_idempotent),
	    cmocka_unit_test(test_list_paging_and_selector),
	    cmocka_unit_test(test_watch_long_poll),
	    cmocka_unit_test(test_unknown_method_and_sizes),
	    cmocka_unit_test(test_request_id_dedupe),
	    cmocka_unit_test(test_deadline_when_server_stalls),
	    cmocka_unit_test(test_cluster_records),
	    cmocka_unit_test(test_restart_keeps_everything),
	};
	if (getenv("SF_TEST_FILTER") != NULL) {
		cmocka_set_test_filter(getenv("SF_TEST_FILTER"));
	}
	return (cmocka_run_group_tests(tests, setup, th_teardown));
}
