// fuzz_server.c: see fuzz_server.h.
#include "fuzz_server.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "server.h"
#include "svcfleet.pb-c.h"

#define URL "inproc://svcfleet-fuzz"
// How long a reply may take. Requests are tiny and the store does not
// sync, so anything near this is a hang.
#define REPLY_MS 10000

static sf_server *srv;
static nng_socket sock;
static char       dir[256];

static const ProtobufCServiceDescriptor *const services[] = {
    &svcfleet__v1__service_manager__descriptor,
    &svcfleet__v1__cluster_registry__descriptor,
    &svcfleet__v1__access_control__descriptor,
    &svcfleet__v1__audit__descriptor,
    &svcfleet__v1__system__descriptor,
};
#define NSERVICES (sizeof(services) / sizeof(services[0]))

const char *
fz_method(unsigned i, const ProtobufCMessageDescriptor **in,
    const ProtobufCMessageDescriptor **out)
{
	static char paths[64][128];
	unsigned    total = 0, k = 0;

	for (size_t s = 0; s < NSERVICES; s++) {
		total += services[s]->n_methods;
	}
	i %= total;
	for (size_t s = 0; s < NSERVICES; s++) {
		for (unsigned m = 0; m < services[s]->n_methods; m++, k++) {
			if (k != i) {
				continue;
			}
			if (paths[k][0] == '\0') {
				snprintf(paths[k], sizeof(paths[k]), "/%s/%s",
				    services[s]->name,
				    services[s]->methods[m].name);
			}
			*in  = services[s]->methods[m].input;
			*out = services[s]->methods[m].output;
			return (paths[k]);
		}
	}
	abort();
}

static void
cleanup(void)
{
	char cmd[300];
	nng_close(sock);
	sf_server_stop(srv);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "fuzz: could not remove %s\n", dir);
	}
}

// An admin call made while setting up; must succeed.
static void
setup_call(const char *method, const ProtobufCMessage *req)
{
	Svcfleet__V1__RequestEnvelope env
	    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	uint8_t buf[4096], pl[2048];
	size_t  n;

	env.method       = (char *) method;
	env.token        = FZ_TOKEN_ADMIN;
	env.payload.data = pl;
	env.payload.len  = protobuf_c_message_pack(req, pl);
	n                = svcfleet__v1__request_envelope__pack(&env, buf);
	fz_call(buf, n, NULL);
}

void
fz_server_start(void)
{
	sf_server_opts o = {0};
	const char    *ls[1];
	char           tokfile[300], url[64];
	sf_status      st;
	FILE          *f;

	if (srv != NULL) {
		return;
	}
	snprintf(dir, sizeof(dir), "%s/sf-fuzz-XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	snprintf(tokfile, sizeof(tokfile), "%s/tokens.csv", dir);
	if ((f = fopen(tokfile, "w")) == NULL) {
		abort();
	}
	fprintf(f, "%s,admin,1\n%s,viewer,2,\"fuzzers,people\"\n",
	    FZ_TOKEN_ADMIN, FZ_TOKEN_VIEW);
	fclose(f);
	// svcfleetd refuses a token file others may read (issue 17).
	chmod(tokfile, 0600);
	snprintf(url, sizeof(url), "%s", URL);
	ls[0] = url;
	strcat(dir, "/data");
	o.so_data_dir   = dir;
	o.so_listen     = ls;
	o.so_nlisten    = 1;
	o.so_nosync     = true; // speed; durability is crash_test's job
	o.so_token_file = tokfile;
	o.so_contexts   = 64;
	o.so_workers    = 2;
	// Only what is wrong with the server itself is worth a line.
	sf_log_set_level(SF_LOG_NONE);
	sf_status_init(&st);
	if (sf_server_start(&srv, &o, &st) != 0) {
		fprintf(
		    stderr, "fuzz: svcfleetd did not start: %s\n", st.st_msg);
		abort();
	}
	sf_status_fini(&st);
	*strrchr(dir, '/') = '\0';
	if (nng_req0_open(&sock) != 0 || nng_dial(sock, URL, NULL, 0) != 0) {
		abort();
	}
	atexit(cleanup);

	// Something to act on: a cluster, a Service, a binding for viewer.
	Svcfleet__V1__Cluster                cl = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__RegisterClusterRequest rc
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	cl.name       = "east";
	cl.api_server = "https://127.0.0.1:1";
	cl.token      = "cluster-token";
	rc.cluster    = &cl;
	setup_call("/svcfleet.v1.ClusterRegistry/RegisterCluster", &rc.base);

	Svcfleet__V1__RoleBinding rb = SVCFLEET__V1__ROLE_BINDING__INIT;
	Svcfleet__V1__CreateRoleBindingRequest br
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	rb.role       = "ns-view";
	rb.user       = "viewer";
	rb.cluster    = "east";
	rb.namespace_ = "default";
	br.binding    = &rb;
	setup_call("/svcfleet.v1.AccessControl/CreateRoleBinding", &br.base);

	Svcfleet__V1__Service      svc  = SVCFLEET__V1__SERVICE__INIT;
	Svcfleet__V1__ObjectMeta   meta = SVCFLEET__V1__OBJECT_META__INIT;
	Svcfleet__V1__ServiceSpec  spec = SVCFLEET__V1__SERVICE_SPEC__INIT;
	Svcfleet__V1__KeyValue     sel  = SVCFLEET__V1__KEY_VALUE__INIT;
	Svcfleet__V1__KeyValue    *selp = &sel;
	Svcfleet__V1__ServicePort  port = SVCFLEET__V1__SERVICE_PORT__INIT;
	Svcfleet__V1__ServicePort *pp   = &port;
	Svcfleet__V1__CreateServiceRequest cr
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	meta.cluster    = "east";
	meta.namespace_ = "default";
	meta.name       = "web1";
	sel.key         = "app";
	sel.value       = "web";
	port.port       = 80;
	spec.selector   = &selp;
	spec.n_selector = 1;
	spec.ports      = &pp;
	spec.n_ports    = 1;
	svc.metadata    = &meta;
	svc.spec        = &spec;
	cr.service      = &svc;
	setup_call("/svcfleet.v1.ServiceManager/CreateService", &cr.base);
}

// Is this request a long poll (it may rightly get no reply in time)?
static bool
is_long_poll(const uint8_t *data, size_t len)
{
	Svcfleet__V1__RequestEnvelope *env
	    = svcfleet__v1__request_envelope__unpack(NULL, len, data);
	bool yes = env != NULL && env->method != NULL
	    && strcmp(env->method, "/svcfleet.v1.ServiceManager/WatchServices")
	        == 0;
	svcfleet__v1__request_envelope__free_unpacked(env, NULL);
	return (yes);
}

void
fz_call(const uint8_t *data, size_t len, const ProtobufCMessageDescriptor *out)
{
	nng_ctx  ctx;
	nng_aio *aio;
	nng_msg *m;
	int      rv;

	if (nng_ctx_open(&ctx, sock) != 0
	    || nng_aio_alloc(&aio, NULL, NULL) != 0
	    || nng_msg_alloc(&m, len) != 0) {
		abort();
	}
	nng_ctx_set_ms(ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (len > 0) {
		memcpy(nng_msg_body(m), data, len);
	}
	nng_aio_set_timeout(aio, REPLY_MS);
	nng_aio_set_msg(aio, m);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if (nng_aio_result(aio) != 0) {
		abort();
	}
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	rv = nng_aio_result(aio);
	if (rv != 0) {
		nng_aio_free(aio);
		nng_ctx_close(ctx);
		if (rv == NNG_ETIMEDOUT && is_long_poll(data, len)) {
			return;
		}
		fprintf(stderr, "fuzz: no reply within %d ms: %s\n", REPLY_MS,
		    nng_strerror(rv));
		abort();
	}
	m = nng_aio_get_msg(aio);
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	Svcfleet__V1__ReplyEnvelope *r = svcfleet__v1__reply_envelope__unpack(
	    NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	if (r == NULL || r->code < 0 || r->code > 16) {
		fprintf(stderr, "fuzz: undecodable reply or unknown code\n");
		abort();
	}
	if (r->code == 13) {
		// INTERNAL is the answer to an undecodable envelope only; any
		// other INTERNAL is a server bug.
		if (strstr(r->message, "undecodable request envelope")
		    == NULL) {
			fprintf(stderr, "fuzz: INTERNAL: %s\n", r->message);
			abort();
		}
	}
	if (getenv("FZ_VERBOSE") != NULL) {
		fprintf(stderr, "fuzz: reply %d %s\n", r->code, r->message);
	}
	if (r->code == 15) {
		fprintf(stderr, "fuzz: DATA_LOSS: %s\n", r->message);
		abort();
	}
	if (r->code == 0 && out != NULL) {
		ProtobufCMessage *p = protobuf_c_message_unpack(
		    out, NULL, r->payload.len, r->payload.data);
		if (p == NULL) {
			fprintf(stderr,
			    "fuzz: OK reply whose %s does not decode\n",
			    out->name);
			abort();
		}
		protobuf_c_message_free_unpacked(p, NULL);
	}
	svcfleet__v1__reply_envelope__free_unpacked(r, NULL);
}
