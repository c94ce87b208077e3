// etcd_transport.c: etcd's JSON gateway against gRPC, from C, for the
// requests the store's etcd backend makes.
//
// The same requests go to one etcd member both ways: over the JSON
// gateway (HTTP/1.1 keep-alive, libcurl + jansson, keys and values base64;
// what store/etcd_client.c does) and over gRPC (HTTP/2 with prior
// knowledge, libcurl + protobuf-c from bench/etcd/etcd_v3.proto, gRPC's
// length-prefixed frames). Two requests: a range of one key holding a
// Service-sized value (a read), and a transaction shaped like a Service
// create (a create-if-absent compare, then three puts: object, index,
// audit record). Each cell runs for -s seconds with -c closed-loop
// clients, one connection each; the ways alternate, -r rounds.
//
// On libcurl before 8.0 (Debian bookworm has 7.88.1) a cleartext HTTP/2
// connection cannot be reused (curl issue 10634): gRPC then connects for
// every request, and the table says so.
//
// Reported per request: the rate, p50/p99 latency, the client's CPU (the
// calling threads' CPU time, which includes libcurl's work) and etcd's CPU
// (utime + stime of the etcd process).
//
//   etcd_transport [-s seconds] [-r rounds] [-c clients,...] [-e endpoint]
//
// Without -e it starts a single etcd member on tmpfs (tests/etcdfix);
// with -T that member wants TLS and a client certificate, and gRPC then
// reuses its connections (ALPN h2, which libcurl 7.88 gets right).
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcd_v3.pb-c.h"
#include "etcdfix.h"

#define MAX_CLIENTS 16
#define VALUE_LEN   400 // about a packed Service

enum way { JSON, GRPC };
enum op { RANGE, TXN };

static const char *way_name[] = {"JSON gateway, keep-alive", "gRPC"};
static const char *op_name[]  = {"range, 1 key", "txn, compare + 3 puts"};

static char    endpoint[256];
static bool    tls; // -T: https, a client certificate, ALPN h2 for gRPC
static char    ca[4200], crt[4200], key[4200];
static uint8_t value[VALUE_LEN];

typedef struct client {
	pthread_t th;
	int       id;
	enum way  way;
	enum op   op;
	double    secs;
	CURL     *h;
	// Results.
	uint64_t n, errors;
	double  *lat; // µs
	size_t   nlat, caplat;
	double   cpu_us;
} client;

static double
now_us(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ((double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3);
}

typedef struct buf {
	uint8_t *p;
	size_t   n, cap;
	int      grpc_status; // -1 until a grpc-status header came
} buf;

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	buf   *b = arg;
	size_t k = sz * n;
	if (b->n + k + 1 > b->cap) {
		b->cap = (b->n + k + 1) * 2;
		b->p   = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, k);
	b->n += k;
	b->p[b->n] = 0;
	return (k);
}

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	buf   *b = arg;
	size_t k = sz * n;
	if (k > 12 && strncasecmp(p, "grpc-status:", 12) == 0) {
		b->grpc_status = atoi(p + 12);
	}
	return (k);
}

// ----------------------------------------------------------------- JSON

static json_t *
b64(const void *p, size_t n)
{
	char   *o = malloc(4 * ((n + 2) / 3) + 1);
	json_t *j;
	EVP_EncodeBlock((unsigned char *) o, p, (int) n);
	j = json_string(o);
	free(o);
	return (j);
}

static int
json_call(client *c, const char *path, json_t *req, bool is_range)
{
	char    url[512];
	char   *body = json_dumps(req, JSON_COMPACT);
	buf     b    = {NULL, 0, 0, -1};
	long    code = 0;
	json_t *resp;
	int     rv = -1;

	snprintf(url, sizeof(url), "%s/v3/%s", endpoint, path);
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(c->h) == CURLE_OK
	    && curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code)
	        == CURLE_OK
	    && code == 200
	    && (resp = json_loadb((char *) b.p, b.n, 0, NULL)) != NULL) {
		// What the store does with an answer: the revision, and for
		// a read the value decoded.
		json_t *h = json_object_get(resp, "header");
		rv = json_string_value(json_object_get(h, "revision")) != NULL
		    ? 0
		    : -1;
		if (is_range) {
			json_t *kv
			    = json_array_get(json_object_get(resp, "kvs"), 0);
			const char *v
			    = json_string_value(json_object_get(kv, "value"));
			if (v != NULL) {
				uint8_t *d = malloc(strlen(v));
				EVP_DecodeBlock(d, (const unsigned char *) v,
				    (int) strlen(v));
				free(d);
			} else {
				rv = -1;
			}
		}
		json_decref(resp);
	}
	free(body);
	free(b.p);
	return (rv);
}

static int
json_range(client *c)
{
	json_t *req = json_pack("{s:o}", "key", b64("/bench/k", 8));
	int     rv  = json_call(c, "kv/range", req, true);
	json_decref(req);
	return (rv);
}

static int
json_txn(client *c)
{
	char    k[3][64];
	json_t *req;
	int     rv;

	for (int i = 0; i < 3; i++) {
		snprintf(k[i], sizeof(k[i]), "/bench/%c/%d-%" PRIu64, "oia"[i],
		    c -> id, c -> n);
	}
	req = json_pack("{s:[{s:s,s:s,s:o,s:s}],s:[o,o,o]}", "compare",
	    "target", "CREATE", "result", "EQUAL", "key",
	    b64(k[0], strlen(k[0])), "create_revision", "0", "success",
	    json_pack("{s:{s:o,s:o}}", "request_put", "key",
	        b64(k[0], strlen(k[0])), "value", b64(value, VALUE_LEN)),
	    json_pack("{s:{s:o,s:o}}", "request_put", "key",
	        b64(k[1], strlen(k[1])), "value", b64(k[0], strlen(k[0]))),
	    json_pack("{s:{s:o,s:o}}", "request_put", "key",
	        b64(k[2], strlen(k[2])), "value", b64(value, 300)));
	rv  = json_call(c, "kv/txn", req, false);
	json_decref(req);
	return (rv);
}

// ----------------------------------------------------------------- gRPC

static int
grpc_call(client *c, const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *rd)
{
	char              url[512];
	size_t            n     = protobuf_c_message_get_packed_size(req);
	uint8_t          *frame = malloc(5 + n);
	buf               b     = {NULL, 0, 0, -1};
	ProtobufCMessage *resp;
	int               rv = -1;

	frame[0] = 0; // not compressed
	frame[1] = (uint8_t) (n >> 24);
	frame[2] = (uint8_t) (n >> 16);
	frame[3] = (uint8_t) (n >> 8);
	frame[4] = (uint8_t) n;
	protobuf_c_message_pack(req, frame + 5);
	snprintf(url, sizeof(url), "%s/etcdserverpb.KV/%s", endpoint, method);
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, frame);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long) (5 + n));
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, &b);
	if (curl_easy_perform(c->h) == CURLE_OK && b.grpc_status == 0
	    && b.n >= 5) {
		size_t len = (size_t) b.p[1] << 24 | (size_t) b.p[2] << 16
		    | (size_t) b.p[3] << 8 | b.p[4];
		if (len + 5 <= b.n
		    && (resp
		           = protobuf_c_message_unpack(rd, NULL, len, b.p + 5))
		        != NULL) {
			rv = 0;
			protobuf_c_message_free_unpacked(resp, NULL);
		}
	}
	free(frame);
	free(b.p);
	return (rv);
}

static int
grpc_range(client *c)
{
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	r.key.data                   = (uint8_t *) "/bench/k";
	r.key.len                    = 8;
	return (grpc_call(
	    c, "Range", &r.base, &etcdserverpb__range_response__descriptor));
}

static int
grpc_txn(client *c)
{
	Etcdserverpb__TxnRequest t    = ETCDSERVERPB__TXN_REQUEST__INIT;
	Etcdserverpb__Compare    cmp  = ETCDSERVERPB__COMPARE__INIT;
	Etcdserverpb__Compare   *cmps = &cmp;
	Etcdserverpb__RequestOp  ops[3];
	Etcdserverpb__RequestOp *opp[3];
	Etcdserverpb__PutRequest put[3];
	char                     k[3][64];
	size_t                   vl[3] = {VALUE_LEN, 0, 300};

	for (int i = 0; i < 3; i++) {
		snprintf(k[i], sizeof(k[i]), "/bench/%c/%d-%" PRIu64, "OIA"[i],
		    c -> id, c -> n);
		etcdserverpb__request_op__init(&ops[i]);
		etcdserverpb__put_request__init(&put[i]);
		put[i].key.data   = (uint8_t *) k[i];
		put[i].key.len    = strlen(k[i]);
		put[i].value.data = i == 1 ? (uint8_t *) k[0] : value;
		put[i].value.len  = i == 1 ? strlen(k[0]) : vl[i];
		ops[i].request_case
		    = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
		ops[i].request_put = &put[i];
		opp[i]             = &ops[i];
	}
	cmp.target   = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
	cmp.result   = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
	cmp.key.data = (uint8_t *) k[0];
	cmp.key.len  = strlen(k[0]);
	cmp.target_union_case
	    = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
	cmp.create_revision = 0;
	t.n_compare         = 1;
	t.compare           = &cmps;
	t.n_success         = 3;
	t.success           = opp;
	return (grpc_call(
	    c, "Txn", &t.base, &etcdserverpb__txn_response__descriptor));
}

// --------------------------------------------------------------- clients

static void *
client_main(void *arg)
{
	client *c    = arg;
	double  t0   = now_us(CLOCK_MONOTONIC),
	       cpu0  = now_us(CLOCK_THREAD_CPUTIME_ID);
	double until = t0 + c->secs * 1e6;

	for (;;) {
		double s = now_us(CLOCK_MONOTONIC), e;
		int    rv;
		if (s >= until) {
			break;
		}
		rv = c->way == JSON
		    ? (c->op == RANGE ? json_range(c) : json_txn(c))
		    : (c->op == RANGE ? grpc_range(c) : grpc_txn(c));
		e  = now_us(CLOCK_MONOTONIC);
		if (rv != 0) {
			c->errors++;
			continue;
		}
		if (c->nlat == c->caplat) {
			c->caplat = c->caplat ? c->caplat * 2 : 4096;
			c->lat = realloc(c->lat, c->caplat * sizeof(*c->lat));
		}
		c->lat[c->nlat++] = e - s;
		c->n++;
	}
	c->cpu_us = now_us(CLOCK_THREAD_CPUTIME_ID) - cpu0;
	return (NULL);
}

static double
proc_cpu_us(int pid)
{
	char  path[64], line[1024];
	FILE *f;
	long  ut = 0, st = 0;

	if (pid <= 0) {
		return (0);
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL) {
		return (0);
	}
	if (fgets(line, sizeof(line), f) != NULL) {
		char *p = strrchr(line, ')');
		// After the name: state ppid pgrp session tty tpgid flags
		// minflt cminflt majflt cmajflt utime stime.
		if (p != NULL) {
			sscanf(p + 2,
			    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld "
			    "%ld",
			    &ut, &st);
		}
	}
	fclose(f);
	return ((double) (ut + st) * 1e6 / (double) sysconf(_SC_CLK_TCK));
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;
	return (x < y ? -1 : x > y);
}

static CURL *
handle(enum way w)
{
	CURL              *h  = curl_easy_init();
	struct curl_slist *hd = NULL;
	if (w == GRPC) {
		hd = curl_slist_append(hd, "Content-Type: application/grpc");
		hd = curl_slist_append(hd, "TE: trailers");
		curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
		    (long) (tls ? CURL_HTTP_VERSION_2TLS
		                : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE));
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
		// libcurl 7.88 (Debian bookworm) fails the second request on a
		// reused h2c prior-knowledge connection with CURLE_HTTP2 (curl
		// issue 10634, fixed in 8.0): each request connects anew.
		if (!tls
		    && curl_version_info(CURLVERSION_NOW)->version_num
		        < 0x080000) {
			curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
		}
	} else {
		hd = curl_slist_append(hd, "Content-Type: application/json");
		curl_easy_setopt(
		    h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_PRIVATE, hd);
	if (tls) {
		curl_easy_setopt(h, CURLOPT_CAINFO, ca);
		curl_easy_setopt(h, CURLOPT_SSLCERT, crt);
		curl_easy_setopt(h, CURLOPT_SSLKEY, key);
	}
	return (h);
}

static void
handle_free(CURL *h)
{
	struct curl_slist *hd = NULL;
	curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **) &hd);
	curl_easy_cleanup(h);
	curl_slist_free_all(hd);
}

static void
run_cell(enum way w, enum op o, int nc, double secs, int etcd_pid)
{
	client   c[MAX_CLIENTS];
	double   t0, t1, e0, e1, cpu = 0;
	double  *all;
	size_t   nall = 0, errors = 0;
	uint64_t n = 0;

	memset(c, 0, sizeof(c));
	for (int i = 0; i < nc; i++) {
		c[i].id   = i;
		c[i].way  = w;
		c[i].op   = o;
		c[i].secs = secs;
		c[i].h    = handle(w);
		// Warm the connection up.
		c[i].secs = 0;
		(void) (w == JSON ? json_range(&c[i]) : grpc_range(&c[i]));
		c[i].secs = secs;
	}
	e0 = proc_cpu_us(etcd_pid);
	t0 = now_us(CLOCK_MONOTONIC);
	for (int i = 0; i < nc; i++) {
		pthread_create(&c[i].th, NULL, client_main, &c[i]);
	}
	for (int i = 0; i < nc; i++) {
		pthread_join(c[i].th, NULL);
		n += c[i].n;
		nall += c[i].nlat;
		errors += c[i].errors;
		cpu += c[i].cpu_us;
	}
	t1   = now_us(CLOCK_MONOTONIC);
	e1   = proc_cpu_us(etcd_pid);
	all  = malloc((nall + 1) * sizeof(*all));
	nall = 0;
	for (int i = 0; i < nc; i++) {
		memcpy(all + nall, c[i].lat, c[i].nlat * sizeof(*all));
		nall += c[i].nlat;
		free(c[i].lat);
		handle_free(c[i].h);
	}
	qsort(all, nall, sizeof(*all), cmp_d);
	char ecpu[32] = "-";
	if (etcd_pid > 0 && n > 0) {
		snprintf(
		    ecpu, sizeof(ecpu), "%.0f µs", (e1 - e0) / (double) n);
	}
	printf(
	    "| %s | %s | %d | %.0f/s | %.0f µs | %.0f µs | %.0f µs | %s |%s\n",
	    op_name[o], way_name[w], nc, (double) n * 1e6 / (t1 - t0),
	    nall ? all[nall / 2] : 0, nall ? all[nall * 99 / 100] : 0,
	    n ? cpu / (double) n : 0, ecpu, errors ? " errors!" : "");
	fflush(stdout);
	free(all);
}

int
main(int argc, char **argv)
{
	double      secs   = 5;
	int         rounds = 2, clients[8] = {1, 4}, nclients = 2, opt;
	sf_etcdfix *fix = NULL;
	int         pid = 0;

	while ((opt = getopt(argc, argv, "s:r:c:e:T")) != -1) {
		switch (opt) {
		case 's':
			secs = atof(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'c':
			nclients = 0;
			for (char *t = strtok(optarg, ",");
			     t != NULL && nclients < 8;
			     t = strtok(NULL, ",")) {
				int v               = atoi(t);
				clients[nclients++] = v < 1 ? 1
				    : v > MAX_CLIENTS       ? MAX_CLIENTS
				                            : v;
			}
			break;
		case 'e':
			snprintf(endpoint, sizeof(endpoint), "%s", optarg);
			break;
		case 'T':
			tls = true;
			break;
		default:
			fprintf(stderr,
			    "usage: %s [-s seconds] [-r rounds] [-c "
			    "clients,...] "
			    "[-e http://host:port | -T]\n",
			    argv[0]);
			return (2);
		}
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	memset(value, 'v', sizeof(value));
	if (endpoint[0] == '\0') {
		sf_etcdfix_opts fo = {.eo_tls = tls};
		if (sf_etcdfix_start(&fix, &fo) != 0) {
			return (1);
		}
		snprintf(ca, sizeof(ca), "%s", sf_etcdfix_ca_file(fix));
		snprintf(crt, sizeof(crt), "%s", sf_etcdfix_cert_file(fix));
		snprintf(key, sizeof(key), "%s", sf_etcdfix_key_file(fix));
		snprintf(endpoint, sizeof(endpoint), "%s",
		    sf_etcdfix_endpoint(fix, 0));
		pid = sf_etcdfix_pid(fix, 0);
	}
	{
		// The key the reads read.
		client  c   = {.way = JSON};
		json_t *req = json_pack("{s:o,s:o}", "key", b64("/bench/k", 8),
		    "value", b64(value, VALUE_LEN));
		c.h         = handle(JSON);
		if (json_call(&c, "kv/put", req, false) != 0) {
			fprintf(
			    stderr, "cannot put the key at %s\n", endpoint);
			return (1);
		}
		json_decref(req);
		handle_free(c.h);
	}
	bool reuse = tls
	    || curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000;
	way_name[JSON] = tls ? "JSON gateway, TLS, keep-alive"
	                     : "JSON gateway, keep-alive";
	way_name[GRPC] = reuse
	    ? (tls ? "gRPC, TLS (ALPN h2), keep-alive" : "gRPC, keep-alive")
	    : "gRPC, a connection per request (libcurl < 8.0)";
	printf("etcd at %s, libcurl %s, %.1f s per cell, %d round(s), ways "
	       "alternating\n\n",
	    endpoint, curl_version_info(CURLVERSION_NOW)->version, secs,
	    rounds);
	printf("| request | transport | clients | rate | p50 | p99 | client "
	       "CPU/request | etcd CPU/request |\n");
	printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
	for (int r = 0; r < rounds; r++) {
		for (int o = RANGE; o <= TXN; o++) {
			for (int i = 0; i < nclients; i++) {
				for (int w = JSON; w <= GRPC; w++) {
					run_cell((enum way) w, (enum op) o,
					    clients[i], secs, pid);
				}
			}
		}
	}
	sf_etcdfix_stop(fix);
	return (0);
}
