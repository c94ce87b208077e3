// seeds.c: writes the seed corpora of the RPC and validation targets into
// tests/fuzz/corpus/ (run once after the proto changes; the output is
// committed):  fuzz_seeds SOURCE-DIR/tests/fuzz/corpus
//
// For every method of the proto: its empty request, and for the methods
// below a meaningful one, as fuzz_request and fuzz_envelope expect them.
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_server.h"
#include "svcfleet.pb-c.h"

static const char *outdir;

static void
write_file(const char *sub, const char *name, const uint8_t *a, size_t an,
    const uint8_t *b, size_t bn)
{
	char  path[4096];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", outdir, sub);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, sub, name);
	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		exit(1);
	}
	fwrite(a, 1, an, f);
	if (bn > 0) {
		fwrite(b, 1, bn, f);
	}
	fclose(f);
}

// A Service with most fields set.
typedef struct svcb {
	Svcfleet__V1__Service      svc;
	Svcfleet__V1__ObjectMeta   meta;
	Svcfleet__V1__ServiceSpec  spec;
	Svcfleet__V1__KeyValue     kv[4];
	Svcfleet__V1__KeyValue    *sel[1], *lab[2], *ann[1];
	Svcfleet__V1__ServicePort  port[2];
	Svcfleet__V1__ServicePort *pp[2];
} svcb;

static void
svc_init(svcb *b, const char *name, const char *type)
{
	memset(b, 0, sizeof(*b));
	svcfleet__v1__service__init(&b->svc);
	svcfleet__v1__object_meta__init(&b->meta);
	svcfleet__v1__service_spec__init(&b->spec);
	for (int i = 0; i < 4; i++) {
		svcfleet__v1__key_value__init(&b->kv[i]);
	}
	b->kv[0].key   = "app";
	b->kv[0].value = "web";
	b->kv[1].key   = "tier";
	b->kv[1].value = "front";
	b->kv[2].key   = "team";
	b->kv[2].value = "a";
	b->kv[3].key   = "example.com/note";
	b->kv[3].value = "seed";
	b->sel[0]      = &b->kv[0];
	b->lab[0]      = &b->kv[1];
	b->lab[1]      = &b->kv[2];
	b->ann[0]      = &b->kv[3];
	for (int i = 0; i < 2; i++) {
		svcfleet__v1__service_port__init(&b->port[i]);
		b->pp[i] = &b->port[i];
	}
	b->port[0].name             = "http";
	b->port[0].protocol         = "TCP";
	b->port[0].port             = 80;
	b->port[0].target_port      = 8080;
	b->port[1].name             = "dns";
	b->port[1].protocol         = "UDP";
	b->port[1].port             = 53;
	b->port[1].target_port_name = "dns";
	b->meta.cluster             = "east";
	b->meta.namespace_          = "default";
	b->meta.name                = (char *) name;
	b->meta.labels              = b->lab;
	b->meta.n_labels            = 2;
	b->meta.annotations         = b->ann;
	b->meta.n_annotations       = 1;
	b->spec.type                = (char *) type;
	b->spec.selector            = b->sel;
	b->spec.n_selector          = 1;
	b->spec.ports               = b->pp;
	b->spec.n_ports             = 2;
	if (strcmp(type, "NodePort") == 0) {
		b->port[0].node_port            = 30080;
		b->spec.external_traffic_policy = "Local";
	}
	if (strcmp(type, "LoadBalancer") == 0) {
		b->spec.lb_type    = "metallb";
		b->spec.lb_pool    = "default";
		b->spec.lb_address = "10.0.0.7";
	}
	if (strcmp(type, "ClusterIP") == 0) {
		b->spec.session_affinity        = "ClientIP";
		b->spec.session_timeout_seconds = 60;
	}
	b->svc.metadata = &b->meta;
	b->svc.spec     = &b->spec;
}

// The meaningful request for an input type, or NULL.
static ProtobufCMessage *
rich(const ProtobufCMessageDescriptor *in, svcb *b)
{
	static Svcfleet__V1__CreateServiceRequest cr
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	static Svcfleet__V1__UpdateServiceRequest ur
	    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
	static Svcfleet__V1__ApplyServiceRequest ar
	    = SVCFLEET__V1__APPLY_SERVICE_REQUEST__INIT;
	static Svcfleet__V1__ServiceKey key = SVCFLEET__V1__SERVICE_KEY__INIT;
	static Svcfleet__V1__GetServiceRequest gr
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	static Svcfleet__V1__DeleteServiceRequest dr
	    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
	static Svcfleet__V1__ListServicesRequest lr
	    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
	static Svcfleet__V1__WatchServicesRequest wr
	    = SVCFLEET__V1__WATCH_SERVICES_REQUEST__INIT;
	static Svcfleet__V1__ClusterStatus cs
	    = SVCFLEET__V1__CLUSTER_STATUS__INIT;
	static Svcfleet__V1__ReportStatusRequest rr
	    = SVCFLEET__V1__REPORT_STATUS_REQUEST__INIT;
	static Svcfleet__V1__Cluster cl = SVCFLEET__V1__CLUSTER__INIT;
	static Svcfleet__V1__RegisterClusterRequest rcr
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	static Svcfleet__V1__UpdateClusterRequest ucr
	    = SVCFLEET__V1__UPDATE_CLUSTER_REQUEST__INIT;
	static Svcfleet__V1__GetClusterRequest gcr
	    = SVCFLEET__V1__GET_CLUSTER_REQUEST__INIT;
	static Svcfleet__V1__ClusterHealth h
	    = SVCFLEET__V1__CLUSTER_HEALTH__INIT;
	static Svcfleet__V1__ReportClusterHealthRequest hr
	    = SVCFLEET__V1__REPORT_CLUSTER_HEALTH_REQUEST__INIT;
	static Svcfleet__V1__RoleBinding rb = SVCFLEET__V1__ROLE_BINDING__INIT;
	static Svcfleet__V1__CreateRoleBindingRequest rbr
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	static Svcfleet__V1__CreateTokenRequest tr
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	static Svcfleet__V1__ListAuditEventsRequest aer
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	static Svcfleet__V1__ListWorkloadsRequest lwr
	    = SVCFLEET__V1__LIST_WORKLOADS_REQUEST__INIT;
	static char *groups[] = {"devs", "ops"};

	key.cluster    = "east";
	key.namespace_ = "default";
	key.name       = "web1";
	if (in == &svcfleet__v1__create_service_request__descriptor) {
		cr.service = &b->svc;
		return (&cr.base);
	}
	if (in == &svcfleet__v1__update_service_request__descriptor) {
		ur.service = &b->svc;
		return (&ur.base);
	}
	if (in == &svcfleet__v1__apply_service_request__descriptor) {
		ar.service = &b->svc;
		return (&ar.base);
	}
	if (in == &svcfleet__v1__get_service_request__descriptor) {
		gr.key = &key;
		return (&gr.base);
	}
	if (in == &svcfleet__v1__delete_service_request__descriptor) {
		dr.key              = &key;
		dr.resource_version = 3;
		return (&dr.base);
	}
	if (in == &svcfleet__v1__list_services_request__descriptor) {
		lr.cluster        = "east";
		lr.namespace_     = "default";
		lr.label_selector = "app=web,tier in (front,back),!gone";
		lr.page_size      = 2;
		return (&lr.base);
	}
	if (in == &svcfleet__v1__watch_services_request__descriptor) {
		wr.since_revision = 1;
		wr.cluster        = "east";
		wr.max_events     = 5;
		return (&wr.base);
	}
	if (in == &svcfleet__v1__report_status_request__descriptor) {
		cs.cluster = "east";
		cs.state   = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED;
		cs.observed_generation = 1;
		cs.cluster_ip          = "10.96.0.10";
		rr.key                 = &key;
		rr.status              = &cs;
		rr.add_finalizer       = true;
		return (&rr.base);
	}
	if (in == &svcfleet__v1__register_cluster_request__descriptor
	    || in == &svcfleet__v1__update_cluster_request__descriptor) {
		cl.name          = "west";
		cl.api_server    = "https://10.0.0.1:6443";
		cl.token         = "a-cluster-token";
		cl.node_port_min = 30000;
		cl.node_port_max = 30999;
		rcr.cluster      = &cl;
		ucr.cluster      = &cl;
		return (
		    in == &svcfleet__v1__register_cluster_request__descriptor
		        ? &rcr.base
		        : &ucr.base);
	}
	if (in == &svcfleet__v1__get_cluster_request__descriptor) {
		gcr.name = "east";
		return (&gcr.base);
	}
	if (in == &svcfleet__v1__report_cluster_health_request__descriptor) {
		h.state
		    = SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_READY;
		h.server_version = "v1.29.0";
		hr.cluster       = "east";
		hr.health        = &h;
		return (&hr.base);
	}
	if (in == &svcfleet__v1__create_role_binding_request__descriptor) {
		rb.role       = "ns-edit";
		rb.user       = "someone";
		rb.cluster    = "east";
		rb.namespace_ = "default";
		rbr.binding   = &rb;
		return (&rbr.base);
	}
	if (in == &svcfleet__v1__create_token_request__descriptor) {
		tr.user        = "someone";
		tr.groups      = groups;
		tr.n_groups    = 2;
		tr.ttl_seconds = 3600;
		return (&tr.base);
	}
	if (in == &svcfleet__v1__list_audit_events_request__descriptor) {
		aer.cluster   = "east";
		aer.page_size = 3;
		return (&aer.base);
	}
	if (in == &svcfleet__v1__list_workloads_request__descriptor) {
		lwr.cluster    = "east";
		lwr.namespace_ = "default";
		return (&lwr.base);
	}
	return (NULL);
}

static void
seed(unsigned i, const ProtobufCMessage *msg, const char *tag)
{
	const ProtobufCMessageDescriptor *in, *out;
	const char                       *path = fz_method(i, &in, &out);
	uint8_t     pl[8192], env[9000], hdr[2] = {(uint8_t) i, 0};
	size_t      n = protobuf_c_message_pack(msg, pl);
	char        name[256];
	const char *m = strrchr(path, '/') + 1;

	snprintf(name, sizeof(name), "%s-%s", m, tag);
	write_file("request", name, hdr, 2, pl, n);

	Svcfleet__V1__RequestEnvelope e = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	e.method                        = (char *) path;
	e.token                         = FZ_TOKEN_ADMIN;
	e.request_id                    = "seed-1";
	e.timeout_ms                    = 300;
	e.payload.data                  = pl;
	e.payload.len                   = n;
	write_file("envelope", name, env,
	    svcfleet__v1__request_envelope__pack(&e, env), NULL, 0);
}

int
main(int argc, char **argv)
{
	const ProtobufCMessageDescriptor *in, *out;
	uint8_t                           a[4096];
	svcb                              b;
	const char *types[] = {"ClusterIP", "NodePort", "LoadBalancer"};

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds CORPUS-DIR\n");
		return (2);
	}
	outdir = argv[1];
	fz_method(0, &in, &out);
	for (unsigned i = 0;; i++) {
		const char *p = fz_method(i, &in, &out);
		if (i > 0 && strcmp(p, fz_method(0, &in, &out)) == 0) {
			break;
		}
		fz_method(i, &in, &out);
		ProtobufCMessage *empty = malloc(in->sizeof_message);
		in->message_init(empty);
		seed(i, empty, "empty");
		free(empty);
		svc_init(&b, "web1", "ClusterIP");
		ProtobufCMessage *r = rich(in, &b);
		if (r != NULL) {
			seed(i, r, "rich");
		}
	}
	// Validation: the same Service twice, cut in the middle (first byte
	// 128: no pools, no node-port range; 129: with the pools).
	for (int t = 0; t < 3; t++) {
		char name[64];
		svc_init(&b, "web1", types[t]);
		size_t n = svcfleet__v1__service__pack(&b.svc, a + 1);
		memcpy(a + 1 + n, a + 1, n);
		for (int v = 0; v < 2; v++) {
			a[0] = (uint8_t) (128 + v);
			snprintf(name, sizeof(name), "%s-%d", types[t], v);
			write_file("validate", name, a, 1 + 2 * n, NULL, 0);
		}
	}
	return (0);
}
