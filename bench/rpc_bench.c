// rpc_bench.c: load generator and baseline server for svcfleet's RPC
// benchmarks (bench/run-all drives it).
//
//   rpc_bench size URL TOKEN FILE
//       writes GetService's reply (a packed Service) to FILE; prints its size.
//   rpc_bench echo URL FILE
//       A raw nng REP server answering every request at once, from nng's own
//       callback, with a reply envelope carrying FILE as payload: the

//       ceiling for svcfleetd's GetService (same transport, same message
//       size, no work).
//   rpc_bench get URL TOKEN CLIENTS SECONDS
//       CLIENTS threads call GetService (east/bench/bench-svc) for SECONDS.
//   rpc_bench create URL TOKEN CLIENTS SECONDS
//       CLIENTS threads create distinct Services for SECONDS.
//   rpc_bench list URL TOKEN SECONDS
//       one client lists pages of 100 (first page, then a page from the
//       middle of the store) for SECONDS.
//   rpc_bench fill URL TOKEN N CLIENTS
//       creates N Services named fill-<i> in east/fill.
//   rpc_bench fsync DIR SECONDS
//       the disk's ceiling for durable writes: one thread rewrites a 4 KiB
//       page of a file in DIR and fdatasync()s it, again and again, for
//       SECONDS (an LMDB commit syncs twice: its pages, then its meta page).
//
// Every load mode prints one line: "rate=<calls/s> p50_us=<> p99_us=<>
// calls=<> errors=<>". Each client thread uses libsvcfleet exactly as an
// application would (one shared handle, one call at a time per thread).
#include <fcntl.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "svcfleet/svcfleet.h"

#define MAX_CLIENTS 64
#define LAT_MAX     (1 << 20)

static int64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

// ------------------------------------------------------------------ echo

typedef struct echo_ctx {
	nng_ctx  ctx;
	nng_aio *aio;
	int      sending;
} echo_ctx;

static uint8_t *echo_reply;
static size_t   echo_len;

static void
echo_cb(void *arg)
{
	echo_ctx *e = arg;
	nng_msg  *m;

	if (nng_aio_result(e->aio) != 0) {
		if (e->sending) {
			nng_msg_free(nng_aio_get_msg(e->aio));
		}
		e->sending = 0;
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	if (e->sending) {
		e->sending = 0;
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	nng_msg_free(nng_aio_get_msg(e->aio));
	if (nng_msg_alloc(&m, echo_len) != 0) {
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	memcpy(nng_msg_body(m), echo_reply, echo_len);
	nng_aio_set_msg(e->aio, m);
	e->sending = 1;
	nng_ctx_send(e->ctx, e->aio);
}

static int
run_echo(const char *url, const char *payload_file)
{
	Svcfleet__V1__ReplyEnvelope env = SVCFLEET__V1__REPLY_ENVELOPE__INIT;
	nng_socket                  s;
	static echo_ctx             ctxs[256];
	sigset_t                    sigs;
	int                         sig;
	FILE                       *f = fopen(payload_file, "rb");
	long                        bytes;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0
	    || (bytes = ftell(f)) < 0) {
		fprintf(stderr, "rpc_bench: cannot read %s\n", payload_file);
		return (1);
	}
	rewind(f);
	env.payload.len  = (size_t) bytes;
	env.payload.data = calloc(1, bytes ? (size_t) bytes : 1);
	if (fread(env.payload.data, 1, (size_t) bytes, f) != (size_t) bytes) {
		fclose(f);
		return (1);
	}
	fclose(f);
	env.request_id = "0123456789abcdef0123456789abcdef";
	echo_len       = svcfleet__v1__reply_envelope__get_packed_size(&env);
	echo_reply     = malloc(echo_len);
	svcfleet__v1__reply_envelope__pack(&env, echo_reply);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0) {
		fprintf(stderr, "rpc_bench: cannot listen on %s\n", url);
		return (1);
	}
	for (size_t i = 0; i < sizeof(ctxs) / sizeof(ctxs[0]); i++) {
		nng_aio_alloc(&ctxs[i].aio, echo_cb, &ctxs[i]);
		nng_ctx_open(&ctxs[i].ctx, s);
		nng_ctx_recv(ctxs[i].ctx, ctxs[i].aio);
	}
	printf("ready\n");
	fflush(stdout);
	sigwait(&sigs, &sig);
	nng_close(s);
	for (size_t i = 0; i < sizeof(ctxs) / sizeof(ctxs[0]); i++) {
		nng_aio_free(ctxs[i].aio);
	}
	free(env.payload.data);
	free(echo_reply);
	return (0);
}

// ------------------------------------------------------------------ load

typedef struct load {
	svcfleet_client *c;
	const char      *mode;
	int64_t          until;
	int              id;
	atomic_long     *next_name;
	int64_t         *lat; // per thread samples
	size_t           nlat;
	long             limit; // fill: stop after this many names
	long             calls, errors;
} load;

typedef struct svc_msg {
	Svcfleet__V1__Service     svc;
	Svcfleet__V1__ObjectMeta  meta;
	Svcfleet__V1__ServiceSpec spec;
	Svcfleet__V1__KeyValue    sel, *selp;
	Svcfleet__V1__ServicePort port, *portp;
	char                      name[64];
} svc_msg;

static Svcfleet__V1__Service *
svc_build(svc_msg *m, const char *ns, const char *name)
{
	svcfleet__v1__service__init(&m->svc);
	svcfleet__v1__object_meta__init(&m->meta);
	svcfleet__v1__service_spec__init(&m->spec);
	svcfleet__v1__key_value__init(&m->sel);
	svcfleet__v1__service_port__init(&m->port);
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->meta.cluster     = "east";
	m->meta.namespace_  = (char *) ns;
	m->meta.name        = m->name;
	m->sel.key          = "app";
	m->sel.value        = "bench";
	m->selp             = &m->sel;
	m->spec.selector    = &m->selp;
	m->spec.n_selector  = 1;
	m->port.name        = "http";
	m->port.port        = 80;
	m->port.target_port = 8080;
	m->portp            = &m->port;
	m->spec.ports       = &m->portp;
	m->spec.n_ports     = 1;
	m->spec.type        = "ClusterIP";
	m->svc.metadata     = &m->meta;
	m->svc.spec         = &m->spec;
	return (&m->svc);
}

static int
one_call(load *l)
{
	svcfleet_status st = {0};
	int             rv = -1;

	if (strcmp(l->mode, "get") == 0) {
		Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
		Svcfleet__V1__GetServiceRequest r
		    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;
		k.cluster                  = "east";
		k.namespace_               = "bench";
		k.name                     = "bench-svc";
		r.key                      = &k;
		rv = svcfleet_get_service(l->c, &r, &out, &st);
		svcfleet_free(out);
	} else if (strcmp(l->mode, "create") == 0
	    || strcmp(l->mode, "fill") == 0) {
		svc_msg m;
		char    name[64];
		snprintf(name, sizeof(name), "%s-%ld",
		    l->mode[0] == 'c' ? "write" : "fill",
		    atomic_fetch_add(l->next_name, 1));
		Svcfleet__V1__CreateServiceRequest r
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;
		r.service                  = svc_build(
		                     &m, l->mode[0] == 'c' ? "write" : "fill", name);
		rv = svcfleet_create_service(l->c, &r, &out, &st);
		svcfleet_free(out);
	} else if (strcmp(l->mode, "list") == 0) {
		Svcfleet__V1__ListServicesRequest r
		    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
		Svcfleet__V1__ListServicesReply *out    = NULL;
		char                             tok[8] = "";
		r.cluster                               = "east";
		r.namespace_                            = "fill";
		r.page_size                             = 100;
		r.page_token                            = tok;
		rv = svcfleet_list_services(l->c, &r, &out, &st);
		svcfleet_free(out);
	}
	if (rv != 0 && l->errors == 0) {
		fprintf(stderr, "rpc_bench: %s: %s\n", svcfleet_code_name(rv),
		    st.message);
	}
	svcfleet_status_fini(&st);
	return (rv);
}

static void *
load_main(void *arg)
{
	load *l = arg;
	while (now_us() < l->until
	    && (l->limit == 0 || atomic_load(l->next_name) < l->limit)) {
		int64_t t0 = now_us();
		int     rv = one_call(l);
		int64_t dt = now_us() - t0;
		if (rv != 0) {
			l->errors++;
			continue;
		}
		l->calls++;
		if (l->nlat < LAT_MAX) {
			l->lat[l->nlat++] = dt;
		}
	}
	return (NULL);
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
	return ((x > y) - (x < y));
}

static int
run_load(const char *mode, const char *url, const char *token, int clients,
    double seconds, long fill_n, long first)
{
	svcfleet_client *c;
	svcfleet_status  st = {0};
	svcfleet_options o  = {.url = url,
	     .token                 = token,
	     .timeout_ms            = 30000,
	     .connect_now           = true};
	static load      loads[MAX_CLIENTS];
	pthread_t        t[MAX_CLIENTS];
	atomic_long      next = first;
	int64_t          start;

	if (clients < 1 || clients > MAX_CLIENTS) {
		fprintf(stderr, "rpc_bench: 1..%d clients\n", MAX_CLIENTS);
		return (2);
	}
	if (svcfleet_open(&c, &o, &st) != 0) {
		fprintf(stderr, "rpc_bench: %s\n", st.message);
		return (1);
	}
	start = now_us();
	for (int i = 0; i < clients; i++) {
		loads[i] = (load) {.c = c,
		    .mode             = mode,
		    .id               = i,
		    .next_name        = &next,
		    .until            = start + (int64_t) (seconds * 1e6)};
		if (fill_n > 0) {
			loads[i].until = INT64_MAX;
			loads[i].limit = first + fill_n;
		}
		loads[i].lat = malloc(sizeof(int64_t) * LAT_MAX);
		pthread_create(&t[i], NULL, load_main, &loads[i]);
	}
	long     calls = 0, errors = 0;
	size_t   n = 0;
	int64_t *all;
	for (int i = 0; i < clients; i++) {
		pthread_join(t[i], NULL);
		calls += loads[i].calls;
		errors += loads[i].errors;
		n += loads[i].nlat;
	}
	double elapsed = (double) (now_us() - start) / 1e6;
	all            = malloc(sizeof(int64_t) * (n ? n : 1));
	n              = 0;
	for (int i = 0; i < clients; i++) {
		memcpy(all + n, loads[i].lat, loads[i].nlat * sizeof(int64_t));
		n += loads[i].nlat;
		free(loads[i].lat);
	}
	qsort(all, n, sizeof(int64_t), cmp64);
	printf("rate=%.0f p50_us=%lld p99_us=%lld calls=%ld errors=%ld\n",
	    (double) calls / elapsed, n ? (long long) all[n / 2] : 0LL,
	    n ? (long long) all[(n * 99) / 100] : 0LL, calls, errors);
	free(all);
	svcfleet_close(c);
	svcfleet_status_fini(&st);
	return (errors > calls / 100 ? 1 : 0);
}

// Prints the packed size of GetService's reply payload, so the echo
// baseline answers with the same number of bytes.
static int
print_size(const char *url, const char *token, const char *file)
{
	svcfleet_client *c;
	svcfleet_status  st = {0};
	svcfleet_options o = {.url = url, .token = token, .connect_now = true};
	Svcfleet__V1__ServiceKey        k = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__GetServiceRequest r
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *out = NULL;
	int                    rv;

	if (svcfleet_open(&c, &o, &st) != 0) {
		fprintf(stderr, "rpc_bench: %s\n", st.message);
		return (1);
	}
	k.cluster    = "east";
	k.namespace_ = "bench";
	k.name       = "bench-svc";
	r.key        = &k;
	rv           = svcfleet_get_service(c, &r, &out, &st);
	if (rv == 0) {
		size_t   n   = protobuf_c_message_get_packed_size(&out->base);
		uint8_t *buf = malloc(n);
		FILE    *f   = fopen(file, "wb");
		protobuf_c_message_pack(&out->base, buf);
		if (f == NULL || fwrite(buf, 1, n, f) != n) {
			rv = 1;
		}
		if (f != NULL) {
			fclose(f);
		}
		free(buf);
		printf("%zu\n", n);

	} else {
		fprintf(stderr, "rpc_bench: %s\n", st.message);
	}
	svcfleet_free(out);
	svcfleet_close(c);
	svcfleet_status_fini(&st);
	return (rv != 0);
}

// ----------------------------------------------------------------- fsync

static int
run_fsync(const char *dir, double secs)
{
	static char page[4096];
	char        path[4096];
	int64_t    *lat = malloc(LAT_MAX * sizeof(int64_t));
	long        n   = 0;
	int         fd;

	snprintf(path, sizeof(path), "%s/fsync-bench", dir);
	if (lat == NULL
	    || (fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600))
	        < 0) {
		perror(path);
		free(lat);
		return (1);
	}
	memset(page, 'x', sizeof(page));
	int64_t t0 = now_us(), end = t0 + (int64_t) (secs * 1e6);
	while (n < LAT_MAX) {
		int64_t a = now_us();
		if (a >= end) {
			break;
		}
		page[0] = (char) n;
		if (pwrite(fd, page, sizeof(page), (off_t) (n % 2) * 4096)
		        != (ssize_t) sizeof(page)
		    || fdatasync(fd) != 0) {
			perror(path);
			break;
		}
		lat[n++] = now_us() - a;
	}
	double el = (double) (now_us() - t0) / 1e6;
	close(fd);
	unlink(path);
	if (n == 0) {
		free(lat);
		return (1);
	}
	qsort(lat, (size_t) n, sizeof(int64_t), cmp64);
	printf("rate=%.0f p50_us=%lld p99_us=%lld calls=%ld errors=0\n",
	    (double) n / el, (long long) lat[n / 2],
	    (long long) lat[(n * 99) / 100], n);
	free(lat);
	return (0);
}

int
main(int argc, char **argv)
{
	int rv;
	if (argc == 4 && strcmp(argv[1], "echo") == 0) {
		rv = run_echo(argv[2], argv[3]);
	} else if ((argc == 6
	               && (strcmp(argv[1], "get") == 0
	                   || strcmp(argv[1], "create") == 0))
	    || (argc == 7 && strcmp(argv[1], "create") == 0)) {
		// create's START (issue 15's ha_bench.sh): names from there,
		// so runs on one store do not collide.
		rv = run_load(argv[1], argv[2], argv[3], atoi(argv[4]),
		    atof(argv[5]), 0, argc == 7 ? atol(argv[6]) : 0);
	} else if (argc == 5 && strcmp(argv[1], "size") == 0) {
		rv = print_size(argv[2], argv[3], argv[4]);
	} else if (argc == 5 && strcmp(argv[1], "list") == 0) {
		rv = run_load(
		    "list", argv[2], argv[3], 1, atof(argv[4]), 0, 0);
	} else if (argc == 4 && strcmp(argv[1], "fsync") == 0) {
		rv = run_fsync(argv[2], atof(argv[3]));
	} else if ((argc == 6 || argc == 7) && strcmp(argv[1], "fill") == 0) {
		rv = run_load("fill", argv[2], argv[3], atoi(argv[5]), 0,
		    atol(argv[4]), argc == 7 ? atol(argv[6]) : 0);
	} else {
		fprintf(stderr,
		    "usage: rpc_bench echo URL PAYLOAD-FILE\n"
		    "       rpc_bench size URL TOKEN PAYLOAD-FILE\n"
		    "       rpc_bench get|create URL TOKEN CLIENTS SECONDS "
		    "[START]\n"
		    "       rpc_bench list URL TOKEN SECONDS\n"
		    "       rpc_bench fill URL TOKEN N CLIENTS [START]\n"
		    "       rpc_bench fsync DIR SECONDS\n");
		return (2);
	}
	nng_fini();
	return (rv);
}
