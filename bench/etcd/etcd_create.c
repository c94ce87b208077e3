// etcd_create.c: the baseline of durable CreateService on etcd (issue 15):
// the transaction svcfleetd's etcd store sends for a create, sent straight
// to etcd by a C client with N client threads.
//
// The transaction is the one store/etcd_txn.c builds (build()) for a new
// Service with one node port:
//
//   compare: MOD(P svc/east\0<ns>\0<name>\0) == 0     the object, absent
//            MOD(P np/east\0TCP\0<port BE32>) == 0     its node-port index
//            CREATE(P ~audit/<inverted id>) == 0       the audit record
//            CREATE(P txn/<ms>-<random>) == 0          the write's marker
//   success: put object (a packed Service's size), put index (the owner's
//            key), put audit record (an AuditEvent's size), put marker "c"
//   failure: range marker
//
// (Since i15-create the store puts a Service write's marker under
// P ~txn/, outside its watch; nothing watches this prefix, so the key's
// name changes nothing here.)
//
// over the same JSON gateway (HTTP/1.1 keep-alive, libcurl, jansson, keys
// and values base64), one connection per client thread, all to the first
// endpoint (as svcfleetd's store prefers the endpoint that answered last).
// Closed loop: each thread sends its next transaction when the last one is
// answered.
//
//   etcd_create ENDPOINTS CLIENTS SECONDS [PREFIX [CREATES_PER_TXN]]
//
// CREATES_PER_TXN (i15-batch; 1 unless given) puts that many creates'
// compares and puts in each transaction, with one marker: what etcd
// costs per create when a client batches them as svcfleetd's group
// commit does. The rate counts creates, the latencies transactions.
//
// prints one line as bench/rpc_bench does:
//   rate=<txn/s> p50_us=<µs> p99_us=<µs> calls=<n> errors=<n>
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CLIENTS 64
#define OBJ_LEN     260 // a packed Service as rpc_bench creates it
#define AUDIT_LEN   220 // a packed AuditEvent of a create

static char        endpoint[512];
static const char *prefix = "/svcfleet-bench/";
static uint8_t     obj[OBJ_LEN], audit[AUDIT_LEN];
static atomic_long next_id;
static int         per_txn = 1; // creates in one transaction (i15-batch)

typedef struct client {
	pthread_t th;
	int64_t   until_us;
	long      n, errors;
	int64_t  *lat;
	size_t    nlat, cap;
} client;

typedef struct buf {
	char  *p;
	size_t n, cap;
} buf;

static int64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	buf   *b = arg;
	size_t k = sz * n;
	if (b->n + k + 1 > b->cap) {
		size_t cap = (b->n + k + 1) * 2;
		char  *q   = realloc(b->p, cap);
		if (q == NULL) {
			return (0);
		}
		b->p   = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, k);
	b->n += k;
	b->p[b->n] = '\0';
	return (k);
}

static json_t *
b64(const void *p, size_t n)
{
	char   *o = malloc(4 * ((n + 2) / 3) + 1);
	json_t *j;
	if (o == NULL) {
		return (NULL);
	}
	EVP_EncodeBlock((unsigned char *) o, p, (int) n);
	j = json_string(o);
	free(o);
	return (j);
}

// A key: the prefix, then n bytes of k.
static json_t *
key(const char *k, size_t n)
{
	char   b[512];
	size_t pl = strlen(prefix);
	memcpy(b, prefix, pl);
	memcpy(b + pl, k, n);
	return (b64(b, pl + n));
}

static json_t *
cmp(const char *target, json_t *k)
{
	return (json_pack("{s:s,s:s,s:o,s:s}", "target", target, "result",
	    "EQUAL", "key", k,
	    strcmp(target, "MOD") == 0 ? "mod_revision" : "create_revision",
	    "0"));
}

static json_t *
put(json_t *k, json_t *v)
{
	return (
	    json_pack("{s:{s:o,s:o}}", "request_put", "key", k, "value", v));
}

// The create transaction of Service number id.
static json_t *
create_txn(long id)
{
	char            svc[128], np[64], au[64], mk[64];
	size_t          sl, nl;
	uint8_t         r[8];
	uint32_t        port = 30000 + (uint32_t) (id % 2000);
	uint64_t        aid;
	struct timespec ts;

	RAND_bytes(r, sizeof(r));
	sl = (size_t) snprintf(
	    svc, sizeof(svc), "svc/east%cbench%cwrite-%ld%c", 0, 0, id, 0);
	// One node-port key per Service: a port and a protocol made unique by
	// the id (the index is keyed by cluster, protocol and port).
	nl = (size_t) snprintf(np, sizeof(np), "np/east%cTCP%ld%c", 0, id, 0);
	np[nl++] = (char) (port >> 24);
	np[nl++] = (char) (port >> 16);
	np[nl++] = (char) (port >> 8);
	np[nl++] = (char) port;
	// As the store's audit ids: the time in ms, then 22 random bits.
	clock_gettime(CLOCK_REALTIME, &ts);
	aid = ((uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000)
	        << 22
	    | ((uint64_t) r[0] << 14 | (uint64_t) r[1] << 6 | r[2] >> 2);
	snprintf(au, sizeof(au), "~audit/%016llx", (unsigned long long) ~aid);
	snprintf(mk, sizeof(mk), "txn/%016llx-%02x%02x%02x%02x%02x%02x",
	    (unsigned long long) time(NULL) * 1000, r[2], r[3], r[4], r[5],
	    r[6], r[7]);
	return (json_pack("{s:[o,o,o,o],s:[o,o,o,o],s:[{s:{s:o}}]}", "compare",
	    cmp("MOD", key(svc, sl)), cmp("MOD", key(np, nl)),
	    cmp("CREATE", key(au, strlen(au))),
	    cmp("CREATE", key(mk, strlen(mk))), "success",
	    put(key(svc, sl), b64(obj, sizeof(obj))),
	    put(key(np, nl), b64(svc, sl)),
	    put(key(au, strlen(au)), b64(audit, sizeof(audit))),
	    put(key(mk, strlen(mk)), b64("c", 1)), "failure", "request_range",
	    "key", key(mk, strlen(mk))));
}

// Sends one create; 0 when etcd committed it.
static int
one(CURL *h, char *url)
{
	json_t *req = create_txn(atomic_fetch_add(&next_id, 1));
	char   *body;

	// i15-batch: more creates in the same transaction, one marker.
	for (int i = 1; req != NULL && i < per_txn; i++) {
		json_t *x = create_txn(atomic_fetch_add(&next_id, 1));
		for (size_t j = 0; x != NULL && j < 3; j++) {
			json_array_append(json_object_get(req, "compare"),
			    json_array_get(json_object_get(x, "compare"), j));
			json_array_append(json_object_get(req, "success"),
			    json_array_get(json_object_get(x, "success"), j));
		}
		json_decref(x);
	}
	buf     b    = {NULL, 0, 0};
	long    code = 0;
	json_t *resp;
	int     rv = -1;

	if (req == NULL || (body = json_dumps(req, JSON_COMPACT)) == NULL) {
		json_decref(req);
		return (-1);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(h) == CURLE_OK
	    && curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK
	    && code == 200 && (resp = json_loadb(b.p, b.n, 0, NULL)) != NULL) {
		// What the store reads of an answer: succeeded and the
		// revision.
		json_t *hd = json_object_get(resp, "header");
		if (json_is_true(json_object_get(resp, "succeeded"))
		    && json_string_value(json_object_get(hd, "revision"))
		        != NULL) {
			rv = 0;
		}
		json_decref(resp);
	}
	json_decref(req);
	free(body);
	free(b.p);
	return (rv);
}

static void *
client_main(void *arg)
{
	client            *c  = arg;
	CURL              *h  = curl_easy_init();
	struct curl_slist *hd = NULL;
	char               url[600];

	if (h == NULL) {
		c->errors++;
		return (NULL);
	}
	hd = curl_slist_append(hd, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(
	    h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	snprintf(url, sizeof(url), "%s/v3/kv/txn", endpoint);
	while (now_us() < c->until_us) {
		int64_t t0 = now_us();
		if (one(h, url) != 0) {
			c->errors++;
			continue;
		}
		if (c->nlat == c->cap) {
			size_t   cap = c->cap ? c->cap * 2 : 4096;
			int64_t *l   = realloc(c->lat, cap * sizeof(*l));
			if (l == NULL) {
				break;
			}
			c->lat = l;
			c->cap = cap;
		}
		c->lat[c->nlat++] = now_us() - t0;
		c->n += per_txn;
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(hd);
	return (NULL);
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
	return (x < y ? -1 : x > y);
}

int
main(int argc, char **argv)
{
	client  cl[MAX_CLIENTS];
	int     nc;
	double  secs;
	int64_t t0, t1, *all;
	long    n = 0, errors = 0;
	size_t  k = 0;

	if (argc < 4 || (nc = atoi(argv[2])) < 1 || nc > MAX_CLIENTS
	    || (secs = atof(argv[3])) <= 0) {
		fprintf(stderr,
		    "usage: etcd_create ENDPOINTS CLIENTS(1..%d) SECONDS "
		    "[PREFIX [CREATES_PER_TXN(1..32)]]\n",
		    MAX_CLIENTS);
		return (2);
	}
	snprintf(endpoint, sizeof(endpoint), "%.*s",
	    (int) strcspn(argv[1], ","), argv[1]);
	if (argc > 4) {
		prefix = argv[4];
	}
	if (argc > 5 && ((per_txn = atoi(argv[5])) < 1 || per_txn > 32)) {
		fprintf(stderr, "etcd_create: CREATES_PER_TXN: 1..32\n");
		return (2);
	}
	RAND_bytes(obj, sizeof(obj));
	RAND_bytes(audit, sizeof(audit));
	// Names go on from a time-based start, so runs never collide.
	atomic_store(&next_id, (long) (time(NULL) % 100000) * 100000);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	memset(cl, 0, sizeof(cl));
	t0 = now_us();
	for (int i = 0; i < nc; i++) {
		cl[i].until_us = t0 + (int64_t) (secs * 1e6);
		pthread_create(&cl[i].th, NULL, client_main, &cl[i]);
	}
	for (int i = 0; i < nc; i++) {
		pthread_join(cl[i].th, NULL);
		n += cl[i].n;
		errors += cl[i].errors;
	}
	t1 = now_us();
	if ((all = malloc(((size_t) n + 1) * sizeof(*all))) == NULL) {
		return (1);
	}
	for (int i = 0; i < nc; i++) {
		memcpy(all + k, cl[i].lat, cl[i].nlat * sizeof(*all));
		k += cl[i].nlat;
		free(cl[i].lat);
	}
	qsort(all, k, sizeof(*all), cmp64);
	printf("rate=%.0f p50_us=%lld p99_us=%lld calls=%ld errors=%ld\n",
	    (double) n * 1e6 / (double) (t1 - t0),
	    (long long) (k ? all[k / 2] : 0),
	    (long long) (k ? all[k * 99 / 100] : 0), n, errors);
	free(all);
	curl_global_cleanup();
	return (errors > 0 && n == 0 ? 1 : 0);
}
