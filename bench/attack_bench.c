// attack_bench.c: one tenant against the others (issue 17, findings 2 and
// 3, over the RPC). bench/attack-bench drives it against a fresh
// svcfleetd.
//
//   attack_bench URL ADMIN_TOKEN PID DELETES ATTACKERS [MODE]
//
// As admin it registers cluster east and makes two ns-edit tenants:
// mallory (team-a) and bob (team-b). Then, twice — first quiet, then while
// ATTACKERS threads of mallory send, back to back, the review's requests
// (dry-run Services with 60,000 empty ports, with 150,000 empty ports and
// with 100,000 annotations) and the largest requests the caps let through
// (1,024 annotations: 250 KB of them, short ones, one key repeated) —
// bob creates and deletes DELETES Services and
// the latency of each delete is taken. Prints one line per phase:
//   phase=<quiet|attack> delete_p50_us=<> delete_p99_us=<> deletes=<>
//   errors=<> attacks=<> rss_kb=<VmRSS of PID> hwm_kb=<VmHWM of PID>
// and the ratio of the two p99s.
//
// i17-bulk's MODEs (default "services", as above):
//   fleet  mallory's threads send dry-run FleetService applies placed on
//          4 clusters, each template 1,024 annotations of 240 bytes (4
//          copies of about 250 KB rendered and validated per apply);
//          bob's deletes are measured as above.
//   bulk   mallory's threads send the largest valid Service (1,024
//          annotations of 240 bytes, over 16 KiB: the bulk thread);
//          bob's measured call is a dry-run create of the same size
//          (delete_*_us then name its latency), which waits behind all of
//          mallory's in first-come order, behind one of them in turn.
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "svcfleet/svcfleet.h"

#define CREATE "/svcfleet.v1.ServiceManager/CreateService"
#define FAPPLY "/svcfleet.v1.FleetManager/ApplyFleetService"

enum { MODE_SERVICES, MODE_FLEET, MODE_BULK };
static int               mode       = MODE_SERVICES;
static const char *const clusters[] = {"east", "c-two", "c-three", "c-four"};
#define NCLUSTERS 4

static int64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

static long
proc_kb(int pid, const char *field)
{
	char  path[64], line[256];
	long  kb = -1;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL) {
		return (-1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, strlen(field)) == 0) {
			kb = strtol(line + strlen(field), NULL, 10);
			break;
		}
	}
	fclose(f);
	return (kb);
}

static void
die(const char *what, const svcfleet_status *st)
{
	fprintf(stderr, "attack_bench: %s: %s\n", what, st->message);
	exit(1);
}

static svcfleet_client *
client(const char *url, const char *token)
{
	svcfleet_client *c  = NULL;
	svcfleet_status  st = {0};
	svcfleet_options o  = {.url = url,
	     .token                 = token,
	     .timeout_ms            = 600000,
	     .connect_now           = true};
	if (svcfleet_open(&c, &o, &st) != 0) {
		die("open", &st);
	}
	return (c);
}

static char *
tenant(svcfleet_client *admin, const char *user, const char *ns)
{
	Svcfleet__V1__RoleBinding b = SVCFLEET__V1__ROLE_BINDING__INIT;
	Svcfleet__V1__CreateRoleBindingRequest br
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__RoleBinding       *bout = NULL;
	Svcfleet__V1__CreateTokenRequest tr
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply *tout = NULL;
	svcfleet_status                 st   = {0};
	char                           *secret;

	b.user       = (char *) user;
	b.role       = "ns-edit";
	b.namespace_ = (char *) ns;
	br.binding   = &b;
	for (int i = 0; i < (mode == MODE_FLEET ? NCLUSTERS : 1); i++) {
		b.cluster = (char *) clusters[i];
		if (svcfleet_create_role_binding(admin, &br, &bout, &st)
		    != 0) {
			die("binding", &st);
		}
		svcfleet_free(bout);
	}
	tr.user = (char *) user;
	if (svcfleet_create_token(admin, &tr, &tout, &st) != 0) {
		die("token", &st);
	}
	secret = strdup(tout->secret);
	svcfleet_free(tout);
	return (secret);
}

// A Service east/<ns>/<name>: ClusterIP, port 80, app=web, plus nports
// copies of an empty port and nann annotations when asked: keys k<i>
// (all k0 when same) with values of vlen bytes.
static uint8_t *
service_req_of(const char *ns, const char *name, size_t nports, size_t nann,
    size_t vlen, bool same, bool dry, size_t *len)
{
	Svcfleet__V1__CreateServiceRequest req
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service       svc     = SVCFLEET__V1__SERVICE__INIT;
	Svcfleet__V1__ObjectMeta    meta    = SVCFLEET__V1__OBJECT_META__INIT;
	Svcfleet__V1__ServiceSpec   spec    = SVCFLEET__V1__SERVICE_SPEC__INIT;
	Svcfleet__V1__ServicePort   port    = SVCFLEET__V1__SERVICE_PORT__INIT;
	Svcfleet__V1__ServicePort   empty   = SVCFLEET__V1__SERVICE_PORT__INIT;
	Svcfleet__V1__KeyValue      sel     = SVCFLEET__V1__KEY_VALUE__INIT;
	Svcfleet__V1__KeyValue     *sels[1] = {&sel};
	size_t                      np      = nports > 0 ? nports : 1;
	Svcfleet__V1__ServicePort **ports   = calloc(np, sizeof(*ports));
	Svcfleet__V1__KeyValue     *kv      = calloc(nann + 1, sizeof(*kv));
	Svcfleet__V1__KeyValue    **kvs     = calloc(nann + 1, sizeof(*kvs));
	char                       *keys    = calloc(nann + 1, 24);
	char                       *value   = calloc(vlen + 1, 1);
	uint8_t                    *buf;

	meta.cluster    = "east";
	meta.namespace_ = (char *) ns;
	meta.name       = (char *) name;
	port.port       = 80;
	sel.key         = "app";
	sel.value       = "web";
	ports[0]        = &port;
	for (size_t i = 0; i < nports; i++) {
		ports[i] = &empty;
	}
	for (size_t i = 0; i < nann; i++) {
		svcfleet__v1__key_value__init(&kv[i]);
		snprintf(keys + i * 24, 24, "k%zu", same ? (size_t) 0 : i);
		kv[i].key   = keys + i * 24;
		kv[i].value = value;
		kvs[i]      = &kv[i];
	}
	spec.ports         = ports;
	spec.n_ports       = np;
	spec.selector      = sels;
	spec.n_selector    = 1;
	meta.annotations   = kvs;
	meta.n_annotations = nann;
	svc.metadata       = &meta;
	svc.spec           = &spec;
	req.service        = &svc;
	req.dry_run        = dry;
	*len = svcfleet__v1__create_service_request__get_packed_size(&req);
	buf  = malloc(*len);
	svcfleet__v1__create_service_request__pack(&req, buf);
	free(ports);
	free(kv);
	free(kvs);
	free(keys);
	free(value);
	return (buf);
}

// A dry-run FleetService team-a/<name> placed on every cluster whose
// template (the largest valid Service) carries 1,024 annotations of 240
// bytes.
static uint8_t *
fleet_req(const char *name, size_t *len)
{
	Svcfleet__V1__ApplyFleetServiceRequest req
	    = SVCFLEET__V1__APPLY_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__FleetService     fs = SVCFLEET__V1__FLEET_SERVICE__INIT;
	Svcfleet__V1__ObjectMeta       md = SVCFLEET__V1__OBJECT_META__INIT;
	Svcfleet__V1__FleetServiceSpec sp
	    = SVCFLEET__V1__FLEET_SERVICE_SPEC__INIT;
	Svcfleet__V1__FleetPlacement pl = SVCFLEET__V1__FLEET_PLACEMENT__INIT;
	Svcfleet__V1__CreateServiceRequest *tr;
	size_t                              tlen;
	uint8_t                            *tb
	    = service_req_of("team-a", name, 0, 1024, 240, false, true, &tlen);
	uint8_t *buf;

	tr = svcfleet__v1__create_service_request__unpack(NULL, tlen, tb);
	tr->service->metadata->cluster = "";
	md.namespace_                  = "team-a";
	md.name                        = (char *) name;
	pl.clusters                    = (char **) clusters;
	pl.n_clusters                  = NCLUSTERS;
	sp.placement                   = &pl;
	sp.template_                   = tr->service;
	fs.metadata                    = &md;
	fs.spec                        = &sp;
	req.fleet_service              = &fs;
	req.dry_run                    = true;
	*len
	    = svcfleet__v1__apply_fleet_service_request__get_packed_size(&req);
	buf = malloc(*len);
	svcfleet__v1__apply_fleet_service_request__pack(&req, buf);
	tr->service->metadata->cluster = NULL; // not the unpacked string
	svcfleet__v1__create_service_request__free_unpacked(tr, NULL);
	free(tb);
	return (buf);
}

static uint8_t *
service_req(const char *ns, const char *name, size_t nports, size_t nann,
    bool dry, size_t *len)
{
	return (service_req_of(ns, name, nports, nann, 0, false, dry, len));
}

typedef struct attacker {
	pthread_t          a_thread;
	const char        *a_url;
	const char        *a_token;
	atomic_int        *a_stop;
	pthread_barrier_t *a_ready; // requests built and dialled
	long               a_sent;
} attacker;

static void *
attack_main(void *arg)
{
	attacker *a = arg;
	// The review's requests (over the caps: refused before decoding),
	// then the most a request may hold (issue 17, finding 3: validated,
	// before the write job, off the writer): 1,024 annotations of 240
	// bytes (about 250 KB, Kubernetes' 256 KiB), 1,024 short ones, and
	// 1,024 of one key (1,023 duplicates, found by sorting).
	static const struct {
		size_t ports, ann, vlen;
		bool   same;
	} kinds[] = {{60000, 0, 0, false}, {150000, 0, 0, false},
	    {0, 100000, 0, false}, {0, 1024, 240, false}, {0, 1024, 8, false},
	    {0, 1024, 0, true}};
	enum { NKINDS = sizeof(kinds) / sizeof(kinds[0]) };
	uint8_t   *bufs[NKINDS];
	size_t     lens[NKINDS];
	nng_socket s;

	const char *method = CREATE;
	int         nkinds = NKINDS;

	for (int k = 0; k < NKINDS; k++) {
		bufs[k] = service_req_of("team-a", "flood", kinds[k].ports,
		    kinds[k].ann, kinds[k].vlen, kinds[k].same, true,
		    &lens[k]);
	}
	if (mode == MODE_BULK) {
		// Only the largest valid one (kinds[3]).
		bufs[0] = (free(bufs[0]), bufs[3]);
		lens[0] = lens[3];
		bufs[3] = NULL;
		nkinds  = 1;
	} else if (mode == MODE_FLEET) {
		free(bufs[0]);
		bufs[0] = fleet_req("flood", &lens[0]);
		nkinds  = 1;
		method  = FAPPLY;
	}
	if (nng_req0_open(&s) != 0
	    || nng_dial(s, a->a_url, NULL, NNG_FLAG_NONBLOCK) != 0) {
		fprintf(stderr, "attack_bench: an attacker could not dial\n");
		exit(1);
	}
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 1 << 30);
	// bob's attack phase starts when every attacker has its requests
	// built (megabytes each): their building is not the server's cost.
	pthread_barrier_wait(a->a_ready);
	for (int k = 0; !atomic_load(a->a_stop); k = (k + 1) % nkinds) {
		Svcfleet__V1__RequestEnvelope env
		    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
		nng_msg *m;
		env.method       = (char *) method;
		env.token        = (char *) a->a_token;
		env.timeout_ms   = 600000;
		env.payload.data = bufs[k];
		env.payload.len  = lens[k];
		if (nng_msg_alloc(&m,
		        svcfleet__v1__request_envelope__get_packed_size(&env))
		    != 0) {
			break;
		}
		svcfleet__v1__request_envelope__pack(&env, nng_msg_body(m));
		if (nng_sendmsg(s, m, 0) != 0) {
			nng_msg_free(m);
			break;
		}
		if (nng_recvmsg(s, &m, 0) == 0) {
			nng_msg_free(m);
		}
		a->a_sent++;
	}
	nng_close(s);
	for (int k = 0; k < NKINDS; k++) {
		free(bufs[k]);
	}
	return (NULL);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
	return ((x > y) - (x < y));
}

// bob's creates and deletes; returns p99 of the deletes.
static int64_t
phase(const char *label, svcfleet_client *bob, int n, int pid, attacker *att,
    int natt)
{
	int64_t *lat    = calloc((size_t) n, sizeof(*lat));
	int      errors = 0, done = 0;
	long     sent = 0;

	for (int i = 0; i < n; i++) {
		Svcfleet__V1__Service             *svc = NULL, *out = NULL;
		Svcfleet__V1__CreateServiceRequest cr
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
		Svcfleet__V1__DeleteServiceRequest dr
		    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__DeleteServiceReply *dout = NULL;
		svcfleet_status                   st   = {0};
		char                              name[32];
		size_t                            len;
		uint8_t                          *buf;

		snprintf(name, sizeof(name), "%s-%d", label, i);
		buf = service_req("team-b", name, 0, 0, false, &len);
		svc = (Svcfleet__V1__Service *) protobuf_c_message_unpack(
		    &svcfleet__v1__create_service_request__descriptor, NULL,
		    len, buf);
		cr.service
		    = ((Svcfleet__V1__CreateServiceRequest *) svc)->service;
		if (svcfleet_create_service(bob, &cr, &out, &st) != 0) {
			errors++;
		}
		svcfleet_free(out);
		k.cluster    = "east";
		k.namespace_ = "team-b";
		k.name       = name;
		dr.key       = &k;
		if (mode == MODE_BULK) {
			// bob's large request, measured instead of the delete.
			Svcfleet__V1__CreateServiceRequest *big;
			size_t                              blen;
			char                                bn[40];
			snprintf(bn, sizeof(bn), "%s-big", name);
			uint8_t *bb = service_req_of(
			    "team-b", bn, 0, 1024, 240, false, true, &blen);
			big = svcfleet__v1__create_service_request__unpack(
			    NULL, blen, bb);
			int64_t t0 = now_us();
			out        = NULL;
			if (svcfleet_create_service(bob, big, &out, &st)
			    != 0) {
				errors++;
			} else {
				lat[done++] = now_us() - t0;
			}
			svcfleet_free(out);
			out = NULL;
			svcfleet__v1__create_service_request__free_unpacked(
			    big, NULL);
			free(bb);
		}
		int64_t t0 = now_us();
		if (svcfleet_delete_service(bob, &dr, &dout, &st) != 0) {
			errors++;
		} else if (mode != MODE_BULK) {
			lat[done++] = now_us() - t0;
		}
		svcfleet_free(dout);
		svcfleet_status_fini(&st);
		protobuf_c_message_free_unpacked(
		    (ProtobufCMessage *) svc, NULL);
		free(buf);
	}
	for (int i = 0; i < natt; i++) {
		sent += att[i].a_sent;
	}
	qsort(lat, (size_t) done, sizeof(*lat), cmp_i64);
	int64_t p50 = done > 0 ? lat[done / 2] : 0;
	int64_t p99 = done > 0 ? lat[(done * 99) / 100] : 0;
	printf("phase=%s delete_p50_us=%lld delete_p99_us=%lld deletes=%d "
	       "errors=%d attacks=%ld rss_kb=%ld hwm_kb=%ld\n",
	    label, (long long) p50, (long long) p99, done, errors, sent,
	    proc_kb(pid, "VmRSS:"), proc_kb(pid, "VmHWM:"));
	fflush(stdout);
	free(lat);
	return (p99);
}

int
main(int argc, char **argv)
{
	svcfleet_status st = {0};
	atomic_int      stop;

	if (argc != 6 && argc != 7) {
		fprintf(stderr,
		    "usage: attack_bench URL ADMIN_TOKEN PID "
		    "DELETES ATTACKERS [services|fleet|bulk]\n");
		return (2);
	}
	if (argc == 7 && strcmp(argv[6], "fleet") == 0) {
		mode = MODE_FLEET;
	} else if (argc == 7 && strcmp(argv[6], "bulk") == 0) {
		mode = MODE_BULK;
	} else if (argc == 7 && strcmp(argv[6], "services") != 0) {
		fprintf(stderr, "attack_bench: unknown mode %s\n", argv[6]);
		return (2);
	}
	const char *url  = argv[1];
	int         pid  = atoi(argv[3]);
	int         n    = atoi(argv[4]);
	int         natt = atoi(argv[5]);
	attacker   *att  = calloc((size_t) natt + 1, sizeof(*att));

	svcfleet_client                     *admin = client(url, argv[2]);
	Svcfleet__V1__Cluster                cl = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__RegisterClusterRequest rr
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *clout = NULL;
	cl.api_server                = "https://127.0.0.1:1";
	cl.token                     = "bench-made-up-token";
	rr.cluster                   = &cl;
	for (int i = 0; i < (mode == MODE_FLEET ? NCLUSTERS : 1); i++) {
		cl.name = (char *) clusters[i];
		if (svcfleet_register_cluster(admin, &rr, &clout, &st) != 0) {
			die("register cluster", &st);
		}
		svcfleet_free(clout);
	}
	char            *mallory = tenant(admin, "mallory", "team-a");
	char            *bobtok  = tenant(admin, "bob", "team-b");
	svcfleet_client *bob     = client(url, bobtok);

	int64_t           quiet = phase("quiet", bob, n, pid, att, 0);
	pthread_barrier_t ready;
	pthread_barrier_init(&ready, NULL, (unsigned) natt + 1);
	atomic_store(&stop, 0);
	for (int i = 0; i < natt; i++) {
		att[i].a_url   = url;
		att[i].a_token = mallory;
		att[i].a_stop  = &stop;
		att[i].a_ready = &ready;
		pthread_create(&att[i].a_thread, NULL, attack_main, &att[i]);
	}
	pthread_barrier_wait(&ready);
	int64_t loud = phase("attack", bob, n, pid, att, natt);
	atomic_store(&stop, 1);
	for (int i = 0; i < natt; i++) {
		pthread_join(att[i].a_thread, NULL);
	}
	pthread_barrier_destroy(&ready);
	printf("ratio_p99=%.2f\n",
	    quiet > 0 ? (double) loud / (double) quiet : 0.0);
	svcfleet_close(bob);
	svcfleet_close(admin);
	free(mallory);
	free(bobtok);
	free(att);
	return (0);
}
