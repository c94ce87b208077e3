// replay_test.c: a Service write retried with its request id through
// another replica (DESIGN.md §9, i15-create). CreateService,
// UpdateService and DeleteService store no answer after their reply: the
// request record written in the write's own transaction says so
// (from_service), and a replay through another replica answers with the
// Service read back at that record's revision: what the first replica
// answered, even after later writes changed or deleted the Service, and at
// once (no UNAVAILABLE while an answer is awaited); when etcd has
// compacted that revision away, with the Service as it is now, at once.
// On etcd only (two in-process replicas on one etcd member): LMDB has no
// request records.
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "etcdfix.h"
#include "replica_testutil.h"
#include "internal.h"
#include "log.h"
#include "server.h"
#include "status.h"
#include "store.h"
#include "svcfleet/svcfleet.h"

#define TOKEN    "replay-test-admin-token"
#define USER     "admin"
#define REPLICAS 2
#define WAIT_MS  20000

// The replicas (replica_testutil.h).
static sf_replfix rf;

static int
setup(void **state)
{
	(void) state;
	rf.rf_contexts = 8;
	rf.rf_workers  = 2;
	if (sf_replfix_setup(&rf, "replay-test", TOKEN, true, REPLICAS) != 0) {
		return (-1);
	}
	// A cluster, registered through replica 0.
	sf_replfix_register(&rf, "east");
	return (0);
}

static int
teardown(void **state)
{
	(void) state;
	sf_replfix_teardown(&rf);
	return (0);
}

// A Service in east/dev with one port.
typedef struct svc_buf {
	Svcfleet__V1__Service     s;
	Svcfleet__V1__ObjectMeta  m;
	Svcfleet__V1__ServiceSpec sp;
	Svcfleet__V1__KeyValue    kv, *kvp[1];
	Svcfleet__V1__ServicePort p, *pp[1];
} svc_buf;

static Svcfleet__V1__Service *
svc(svc_buf *b, const char *name, int port, uint64_t rv)
{
	svcfleet__v1__service__init(&b->s);
	svcfleet__v1__object_meta__init(&b->m);
	svcfleet__v1__service_spec__init(&b->sp);
	svcfleet__v1__key_value__init(&b->kv);
	svcfleet__v1__service_port__init(&b->p);
	b->m.cluster          = "east";
	b->m.namespace_       = "dev";
	b->m.name             = (char *) name;
	b->m.resource_version = rv;
	b->kv.key             = "app";
	b->kv.value           = "web";
	b->kvp[0]             = &b->kv;
	b->sp.selector        = b->kvp;
	b->sp.n_selector      = 1;
	b->p.port             = port;
	b->p.target_port      = 8080;
	b->pp[0]              = &b->p;
	b->sp.ports           = b->pp;
	b->sp.n_ports         = 1;
	b->s.metadata         = &b->m;
	b->s.spec             = &b->sp;
	return (&b->s);
}

// The packed form of a message (malloc), to compare answers whole.
static uint8_t *
packed(const ProtobufCMessage *m, size_t *n)
{
	*n         = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(*n + 1);
	assert_non_null(b);
	protobuf_c_message_pack(m, b);
	return (b);
}

static void
assert_same(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t   na, nb;
	uint8_t *pa = packed(a, &na), *pb = packed(b, &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(pa, pb, na);
	free(pa);
	free(pb);
}

static int
create(int replica, const char *rid, const char *name, int port,
    Svcfleet__V1__Service **out)
{
	svcfleet_client   *c  = sf_replfix_client(&rf, replica, WAIT_MS);
	svcfleet_call_opts co = {.request_id = rid};
	svcfleet_status    st;
	svc_buf            b;
	Svcfleet__V1__CreateServiceRequest r
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	int rv;

	r.service = svc(&b, name, port, 0);
	svcfleet_status_init(&st);
	rv = svcfleet_create_service_with(c, &r, out, &co, &st);
	if (rv != 0) {
		print_error("create %s: %s\n", name, st.message);
	}
	svcfleet_status_fini(&st);
	svcfleet_close(c);
	return (rv);
}

static int
update(int replica, const char *rid, const char *name, int port,
    Svcfleet__V1__Service **out)
{
	svcfleet_client   *c  = sf_replfix_client(&rf, replica, WAIT_MS);
	svcfleet_call_opts co = {.request_id = rid};
	svcfleet_status    st;
	svc_buf            b;
	Svcfleet__V1__UpdateServiceRequest r
	    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
	int rv;

	r.service = svc(&b, name, port, 0);
	svcfleet_status_init(&st);
	rv = svcfleet_update_service_with(c, &r, out, &co, &st);
	if (rv != 0) {
		print_error("update %s: %s\n", name, st.message);
	}
	svcfleet_status_fini(&st);
	svcfleet_close(c);
	return (rv);
}

static int
del_svc(int replica, const char *rid, const char *name,
    Svcfleet__V1__DeleteServiceReply **out)
{
	svcfleet_client         *c  = sf_replfix_client(&rf, replica, WAIT_MS);
	svcfleet_call_opts       co = {.request_id = rid};
	svcfleet_status          st;
	Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__DeleteServiceRequest r
	    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
	int rv;

	k.cluster    = "east";
	k.namespace_ = "dev";
	k.name       = (char *) name;
	r.key        = &k;
	svcfleet_status_init(&st);
	rv = svcfleet_delete_service_with(c, &r, out, &co, &st);
	if (rv != 0) {
		print_error("delete %s: %s\n", name, st.message);
	}
	svcfleet_status_fini(&st);
	svcfleet_close(c);
	return (rv);
}

// The request record of rid for method (replicas.c: SHA-256 of the dedupe
// key, rpc.c), read from etcd.
static Svcfleet__V1__StoredReply *
record(sf_store *s, const char *method, const char *rid)
{
	static const char          hex[] = "0123456789abcdef";
	char                       key[256], id[65];
	uint8_t                    h[32];
	unsigned int               n = 32;
	ProtobufCMessage          *m = NULL;
	Svcfleet__V1__StoredReply *r;

	snprintf(key, sizeof(key), "%zu:%s /svcfleet.v1.ServiceManager/%s %s",
	    strlen(USER), USER, method, rid);
	EVP_Digest(key, strlen(key), h, &n, EVP_sha256(), NULL);
	for (size_t i = 0; i < 32; i++) {
		id[2 * i]     = hex[h[i] >> 4];
		id[2 * i + 1] = hex[h[i] & 15];
	}
	id[64] = '\0';
	assert_int_equal(
	    sf_store_record_get(s, SF_STORE_REQUESTS, id,
	        &svcfleet__v1__stored_reply__descriptor, NULL, &m),
	    0);
	r = (Svcfleet__V1__StoredReply *) m;
	return (r);
}

static void
test_service_replays(void **state)
{
	Svcfleet__V1__Service            *c1 = NULL, *u1 = NULL, *again = NULL;
	Svcfleet__V1__DeleteServiceReply *d1 = NULL, *dagain = NULL;
	int64_t                           t0;
	(void) state;

	// Created through replica 0, changed through replica 1.
	assert_int_equal(create(0, "rid-create-1", "replayed", 80, &c1), 0);
	assert_int_equal(update(1, "rid-update-1", "replayed", 81, &u1), 0);
	assert_true(
	    u1->metadata->resource_version > c1->metadata->resource_version);

	// The create again, through replica 1 (which never ran it): the
	// first answer, not the Service as it is now, and at once.
	t0 = sf_clock_mono_ms();
	assert_int_equal(create(1, "rid-create-1", "replayed", 80, &again), 0);
	assert_true(sf_clock_mono_ms() - t0 < 1500);
	assert_same(&again->base, &c1->base);
	svcfleet_free(again);

	// The update again, through replica 0, after a delete through
	// replica 0: the update's answer.
	assert_int_equal(del_svc(0, "rid-delete-1", "replayed", &d1), 0);
	assert_true(d1->deleted);
	assert_non_null(d1->service);
	assert_int_equal(d1->service->metadata->resource_version,
	    u1->metadata->resource_version);
	assert_int_equal(update(0, "rid-update-1", "replayed", 81, &again), 0);
	assert_same(&again->base, &u1->base);
	svcfleet_free(again);

	// The delete again, through replica 1: deleted, with the Service as
	// it was.
	assert_int_equal(del_svc(1, "rid-delete-1", "replayed", &dagain), 0);
	assert_same(&dagain->base, &d1->base);
	svcfleet_free(dagain);

	// Created again under the same name: the first delete's replay still
	// answers the first delete (through replica 1 restarted, which
	// remembers no answer in memory).
	Svcfleet__V1__Service *c2 = NULL;
	assert_int_equal(create(0, "rid-create-2", "replayed", 90, &c2), 0);
	sf_replfix_stop(&rf, 1);
	sf_replfix_start(&rf, 1);
	assert_int_equal(del_svc(1, "rid-delete-1", "replayed", &dagain), 0);
	assert_same(&dagain->base, &d1->base);
	svcfleet_free(dagain);

	// Both replicas stop (their queued writes, answers included, are
	// done by then): no answer was stored for these writes, each record
	// says it is read back from the Service (read through replica 0
	// started again).
	for (int i = 0; i < REPLICAS; i++) {
		sf_replfix_stop(&rf, i);
	}
	sf_replfix_start(&rf, 0);
	sf_store   *s         = rf.rf_srv[0]->s_store;
	const char *recs[][2] = {{"CreateService", "rid-create-1"},
	    {"UpdateService", "rid-update-1"},
	    {"DeleteService", "rid-delete-1"},
	    {"CreateService", "rid-create-2"}};
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		Svcfleet__V1__StoredReply *r
		    = record(s, recs[i][0], recs[i][1]);
		assert_true(r->from_service);
		assert_int_equal(r->reply.len, 0);
		svcfleet__v1__stored_reply__free_unpacked(r, NULL);
	}
	svcfleet_free(c1);
	svcfleet_free(u1);
	svcfleet_free(d1);
	svcfleet_free(c2);
}

// When etcd has compacted the write's revision away, a replay answers
// with the Service as it is now, at once (as for a first replica that
// died before storing its answer).
static void
test_replay_compacted(void **state)
{
	Svcfleet__V1__Service *c1 = NULL, *u = NULL, *again = NULL, *now;
	sf_store_key           k  = {"east", "dev", "compacted"};
	ProtobufCAllocator    *al = NULL;
	int64_t                t0;
	int                    rv;
	unsigned               more_n = 0;
	(void) state;

	// The replicas again, keeping a few revisions of history.
	for (int i = 0; i < REPLICAS; i++) {
		sf_replfix_stop(&rf, i);
		rf.rf_feed_keep = 4;
		sf_replfix_start(&rf, i);
	}
	assert_int_equal(create(0, "rid-create-c", "compacted", 80, &c1), 0);
	uint64_t r = c1->metadata->resource_version;
	for (int i = 0; i < 10; i++) {
		char rid[32];
		snprintf(rid, sizeof(rid), "rid-update-c%d", i);
		svcfleet_free(u);
		u = NULL;
		assert_int_equal(update(0, rid, "compacted", 81 + i, &u), 0);
	}
	// Until etcd no longer has the create's revision.
	t0 = sf_clock_mono_ms();
	while ((rv = sf_store_service_get_at(
	            rf.rf_srv[0]->s_store, &k, r, al, &now))
	        == 0
	    && sf_clock_mono_ms() - t0 < WAIT_MS) {
		Svcfleet__V1__Service *more = NULL;
		svcfleet__v1__service__free_unpacked(now, NULL);
		assert_int_equal(update(0, NULL, "compacted",
		                     100 + (int) (more_n++ % 900), &more),
		    0);
		svcfleet_free(more);
	}
	assert_int_equal(rv, SF_OUT_OF_RANGE);
	t0 = sf_clock_mono_ms();
	assert_int_equal(
	    create(1, "rid-create-c", "compacted", 80, &again), 0);
	assert_true(sf_clock_mono_ms() - t0 < 1500);
	assert_int_equal(again->metadata->name[0], 'c');
	assert_true(again->metadata->resource_version
	    >= u->metadata->resource_version);
	svcfleet_free(again);
	svcfleet_free(u);
	svcfleet_free(c1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_service_replays),
	    cmocka_unit_test(test_replay_compacted),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
