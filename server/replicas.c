// replicas.c: a write applied once across svcfleetd replicas (issue 15,
// DESIGN.md §9).
//
// One svcfleetd remembers the answers of writes by request id in memory
// (dedupe.c). Several replicas on one etcd cannot: a client whose replica
// died retries through another, which has never seen the request. So, on
// etcd, a deduplicated write (the client named its request id) also
// writes a request record (SF_STORE_REQUESTS, keyed by a hash of user,
// method and request id) in its own transaction, after checking there is
// none: the check is in the transaction's read set, so of two replicas
// running the same request at once one commits and the other re-runs,
// finds the record and applies nothing. The answer is added to the record
// by a write of its own as the reply is sent (answers gathered while one
// such write runs go together in the next). A replay answers with that
// answer; when the record has none yet (the first replica has not stored
// it, or died in between) the replay answers UNAVAILABLE and the client
// retries. A replay writes no audit record: one per request id.
//
// i15-create: CreateService, UpdateService and DeleteService store no
// answer. Their record says so (from_service); its revision is the
// write's, and a replay answers with the Service read at that revision,
// which is what the first replica answered (store/README.md).
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "log.h"

bool
sf__srv_req_shared(const sf_server *srv)
{
	return (srv->s_opts.so_store != NULL
	    && strcmp(srv->s_opts.so_store, "etcd") == 0);
}

// The record's id: SHA-256 of the dedupe key (user, method, request id)
// in hex, so that any request id fits the store's record ids.
static void
req_id(const char *key, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t           h[32];
	unsigned int      n = 32;

	EVP_Digest(key, strlen(key), h, &n, EVP_sha256(), NULL);
	for (size_t i = 0; i < 32; i++) {
		out[2 * i]     = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[64] = '\0';
}

// i15-create: whether the method's answer is the Service as its own
// transaction left it (CreateService, UpdateService: the Service;
// DeleteService: the Service and whether it is gone), so that a replay can
// read it back at the request record's revision and nothing is stored
// after the reply.
static bool
answer_from_service(const char *m)
{
	return (strcmp(m, "/svcfleet.v1.ServiceManager/CreateService") == 0
	    || strcmp(m, "/svcfleet.v1.ServiceManager/UpdateService") == 0
	    || strcmp(m, "/svcfleet.v1.ServiceManager/DeleteService") == 0);
}

static int
req_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	sf__srv_call              *c = *(sf__srv_call **) arg;
	Svcfleet__V1__StoredReply *r = NULL;
	char                       id[65];
	int                        rv;

	req_id(c->c_dedupe_key, id);
	c->c_req_found = NULL;
	rv             = sf_store_txn_record_get(txn, SF_STORE_REQUESTS, id,
	                &svcfleet__v1__stored_reply__descriptor, sf_arena_pbc(&c->c_arena),
	                (ProtobufCMessage **) &r);
	if (rv == 0) {
		c->c_req_found = r;
		return (sf_status_set(st, SF_ALREADY_EXISTS,
		    "request %s was applied before", c->c_request_id));
	}
	if (rv != SF_NOT_FOUND) {
		return (rv);
	}
	return (c->c_req_fn(txn, arg, st));
}

sf_store_write_fn
sf__srv_req_wrap(sf__srv_call *c, sf_store_write_fn fn)
{
	c->c_req_fn    = fn;
	c->c_req_found = NULL;
	if (!c->c_dedupe || c->c_dedupe_key == NULL
	    || !sf__srv_req_shared(c->c_srv)) {
		return (fn);
	}
	return (req_fn);
}

int
sf__srv_req_audit(sf_store_txn *txn, sf__srv_call *c, int code, bool *skip)
{
	Svcfleet__V1__StoredReply r = SVCFLEET__V1__STORED_REPLY__INIT;
	char                      id[65];
	int                       rv;

	*skip = c->c_req_found != NULL;
	if (*skip || code != 0 || !c->c_dedupe || c->c_dedupe_key == NULL
	    || !sf__srv_req_shared(c->c_srv)) {
		return (0);
	}
	req_id(c->c_dedupe_key, id);
	r.method         = (char *) c->c_method->m_path;
	r.create_time_ms = sf_store_txn_now_ms(txn);
	r.from_service   = answer_from_service(r.method);
	// Read absent by req_fn in this transaction: the commit's compare
	// keeps a concurrent replay of the same request out.
	if ((rv = sf_store_txn_record_put(
	         txn, SF_STORE_REQUESTS, id, &r.base, false))
	    == 0) {
		c->c_req_put = true;
	}
	return (rv);
}

// delete_reply makes a replayed DeleteService's answer in c's arena.
static const ProtobufCMessage *
delete_reply(sf__srv_call *c, Svcfleet__V1__Service *svc, bool deleted)
{
	Svcfleet__V1__DeleteServiceReply *d
	    = sf_arena_alloc(&c->c_arena, sizeof(*d));
	if (d == NULL) {
		return (NULL);
	}
	svcfleet__v1__delete_service_reply__init(d);
	d->service = svc;
	d->deleted = deleted;
	return (&d->base);
}

// The answer of a Service write whose first replica died before storing
// it, from the Service as stored now (a later write may show): its
// resource_version is at least the first application's. NULL when the
// method's answer cannot be told so.
#define REBUILD_AFTER_MS 2000
static const ProtobufCMessage *
rebuild(sf__srv_call *c)
{
	const char            *m     = c->c_method->m_path;
	ProtobufCAllocator    *alloc = sf_arena_pbc(&c->c_arena);
	sf_store_key           k   = {c->c_cluster, c->c_namespace, c->c_name};
	Svcfleet__V1__Service *svc = NULL;
	bool del = strcmp(m, "/svcfleet.v1.ServiceManager/DeleteService") == 0;
	int  rv;

	if (!del && strcmp(m, "/svcfleet.v1.ServiceManager/CreateService") != 0
	    && strcmp(m, "/svcfleet.v1.ServiceManager/UpdateService") != 0) {
		return (NULL);
	}
	// i15-perf: the answer names the revision of this read, which is
	// at least the first application's commit.
	rv = sf_store_service_get_min(
	    c->c_srv->s_store, &k, 0, alloc, &svc, &c->c_rev_floor);
	if (!del) {
		return (rv == 0 ? &svc->base : NULL);
	}
	if (rv != 0 && rv != SF_NOT_FOUND) {
		return (NULL);
	}
	return (delete_reply(c, rv == 0 ? svc : NULL, rv != 0));
}

// i15-create: the answer of a Service write from the Service at the
// revision of its transaction, rev (its request record's): exactly what
// the first application answered. NULL when etcd no longer has that
// revision (compacted) or does not answer.
static const ProtobufCMessage *
rebuild_at(sf__srv_call *c, uint64_t rev)
{
	const char            *m     = c->c_method->m_path;
	ProtobufCAllocator    *alloc = sf_arena_pbc(&c->c_arena);
	sf_store_key           k   = {c->c_cluster, c->c_namespace, c->c_name};
	Svcfleet__V1__Service *svc = NULL;
	int                    rv
	    = sf_store_service_get_at(c->c_srv->s_store, &k, rev, alloc, &svc);

	if (strcmp(m, "/svcfleet.v1.ServiceManager/DeleteService") != 0) {
		if (rv != 0) {
			return (NULL);
		}
		c->c_rev_floor = rev;
		return (&svc->base);
	}
	// A delete that removed the Service answers it as it was just
	// before; one that marked it deleting (or found it so), as it was
	// after.
	bool gone = rv == SF_NOT_FOUND;
	if (gone && rev > 1) {
		rv = sf_store_service_get_at(
		    c->c_srv->s_store, &k, rev - 1, alloc, &svc);
	}
	if (rv != 0) {
		return (NULL);
	}
	c->c_rev_floor = rev;
	return (delete_reply(c, svc, gone));
}

nng_msg *
sf__srv_req_reply(sf__srv_call *c, const ProtobufCMessage **rebuilt)
{
	Svcfleet__V1__StoredReply *r = c->c_req_found;
	nng_msg                   *m;

	*rebuilt = NULL;
	if (r == NULL) {
		return (NULL);
	}
	if (r->reply.len > 0 && nng_msg_alloc(&m, r->reply.len) == 0) {
		memcpy(nng_msg_body(m), r->reply.data, r->reply.len);
		return (m);
	}
	sf_status_reset(&c->c_status);
	// i15-create: an answer never stored, read back at the write's
	// revision; when etcd has compacted it, as the Service is now.
	if (r->reply.len == 0 && r->from_service && r->revision > 0
	    && ((*rebuilt = rebuild_at(c, (uint64_t) r->revision)) != NULL
	        || (*rebuilt = rebuild(c)) != NULL)) {
		return (NULL);
	}
	if (r->reply.len == 0
	    && sf_clock_now_ms() - r->create_time_ms > REBUILD_AFTER_MS
	    && (*rebuilt = rebuild(c)) != NULL) {
		SF_INFO("rpc",
		    "request %s was applied by a replica that did not store "
		    "its answer; answered from the stored state",
		    c->c_request_id);
		return (NULL);
	}
	sf_status_set(&c->c_status, SF_UNAVAILABLE,
	    "request %s was applied through another svcfleetd replica, "
	    "whose answer is not stored yet; retry with the same request id",
	    c->c_request_id);
	return (NULL);
}

// The answers of deduplicated writes are stored after the reply is sent
// (the answer carries the committed revision, which the write's own
// transaction cannot know). Answers that gather while one batch is being
// written go together in the next: one etcd transaction per batch, not
// one per write (etcd-perf). A batch holds at most ANSWERS_BATCH answers
// (one put each, and the marker, within etcd's 128 operations).
#define ANSWERS_BATCH 100

typedef struct req_job req_job;
struct req_job {
	req_job                  *j_next;
	char                      j_id[65];
	Svcfleet__V1__StoredReply j_r;
};

struct sf__srv_answers {
	pthread_mutex_t a_mtx;
	req_job        *a_head, *a_tail; // waiting for the next batch
	size_t          a_n;
	bool            a_busy; // a batch is being written
};

// One batch being written: the answers taken from the queue.
typedef struct req_batch {
	sf__srv_call *b_unused; // (write arguments begin with a call pointer)
	sf_server    *b_srv;
	req_job      *b_jobs;
} req_batch;

int
sf__srv_req_init(sf_server *srv)
{
	struct sf__srv_answers *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return (-1);
	}
	pthread_mutex_init(&a->a_mtx, NULL);
	srv->s_answers = a;
	return (0);
}

static void
job_free(req_job *j)
{
	free(j->j_r.method);
	free(j->j_r.reply.data);
	free(j);
}

static void
jobs_free(req_job *j, int code)
{
	while (j != NULL) {
		req_job *next = j->j_next;
		if (code != 0) {
			SF_WARN("rpc",
			    "the answer of request record %s was not stored "
			    "(%s): a retry through another replica will be "
			    "told to retry",
			    j->j_id, sf_status_name(code));
		}
		job_free(j);
		j = next;
	}
}

void
sf__srv_req_fini(sf_server *srv)
{
	struct sf__srv_answers *a = srv->s_answers;
	if (a == NULL) {
		return;
	}
	// The store is closed: nothing queued can be written any more.
	jobs_free(a->a_head, SF_UNAVAILABLE);
	pthread_mutex_destroy(&a->a_mtx);
	free(a);
	srv->s_answers = NULL;
}

static int
store_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	req_batch *b = arg;
	int        rv;
	(void) st;
	for (req_job *j = b->b_jobs; j != NULL; j = j->j_next) {
		if ((rv = sf_store_txn_record_put(
		         txn, SF_STORE_REQUESTS, j->j_id, &j->j_r.base, false))
		    != 0) {
			return (rv);
		}
	}
	return (0);
}

static void flush(sf_server *srv);

static void
store_done(void *arg, int code, uint64_t revision)
{
	req_batch *b = arg;
	(void) revision;
	jobs_free(b->b_jobs, code);
	sf_server *srv = b->b_srv;
	free(b);
	pthread_mutex_lock(&srv->s_answers->a_mtx);
	srv->s_answers->a_busy = false;
	pthread_mutex_unlock(&srv->s_answers->a_mtx);
	flush(srv);
}

// flush starts writing the next batch unless one is being written.
static void
flush(sf_server *srv)
{
	struct sf__srv_answers *a = srv->s_answers;
	req_batch              *b;
	req_job               **tail;
	size_t                  n = 0;

	pthread_mutex_lock(&a->a_mtx);
	if (a->a_busy || a->a_head == NULL) {
		pthread_mutex_unlock(&a->a_mtx);
		return;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		pthread_mutex_unlock(&a->a_mtx);
		return; // the next answer tries again
	}
	b->b_srv  = srv;
	b->b_jobs = a->a_head;
	tail      = &b->b_jobs;
	while (*tail != NULL && n < ANSWERS_BATCH) {
		tail = &(*tail)->j_next;
		n++;
	}
	a->a_head = *tail;
	*tail     = NULL;
	if (a->a_head == NULL) {
		a->a_tail = NULL;
	}
	a->a_n -= n;
	a->a_busy = true;
	pthread_mutex_unlock(&a->a_mtx);
	// store_fn and store_done touch only the batch and the queue: the
	// batch may run beside other writes (etcd-perf).
	sf_store_write w = {.w_fn = store_fn,
	    .w_done               = store_done,
	    .w_arg                = b,
	    .w_flags              = SF_STORE_CONCURRENT};
	if (sf_store_submit(srv->s_store, &w) != 0) {
		jobs_free(b->b_jobs, SF_UNAVAILABLE);
		free(b);
		pthread_mutex_lock(&a->a_mtx);
		a->a_busy = false;
		// (The store is closing: what waits is freed by
		// sf__srv_req_fini.)
		pthread_mutex_unlock(&a->a_mtx);
	}
}

void
sf__srv_req_store(sf__srv_call *c, const nng_msg *m)
{
	struct sf__srv_answers *a = c->c_srv->s_answers;
	req_job                *j;

	if (!c->c_req_put) {
		return;
	}
	c->c_req_put = false;
	if (answer_from_service(c->c_method->m_path)) {
		return; // i15-create: read back at its revision by a replay
	}
	if (a == NULL || (j = calloc(1, sizeof(*j))) == NULL) {
		return;
	}
	svcfleet__v1__stored_reply__init(&j->j_r);
	req_id(c->c_dedupe_key, j->j_id);
	j->j_r.method         = strdup(c->c_method->m_path);
	j->j_r.create_time_ms = sf_clock_now_ms();
	j->j_r.reply.len      = nng_msg_len((nng_msg *) m);
	j->j_r.reply.data     = malloc(j->j_r.reply.len + 1);
	if (j->j_r.method == NULL || j->j_r.reply.data == NULL) {
		jobs_free(j, SF_RESOURCE_EXHAUSTED);
		return;
	}
	memcpy(
	    j->j_r.reply.data, nng_msg_body((nng_msg *) m), j->j_r.reply.len);
	pthread_mutex_lock(&a->a_mtx);
	if (a->a_tail != NULL) {
		a->a_tail->j_next = j;
	} else {
		a->a_head = j;
	}
	a->a_tail = j;
	a->a_n++;
	pthread_mutex_unlock(&a->a_mtx);
	flush(c->c_srv);
}
