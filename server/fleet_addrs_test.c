// fleet_addrs_test.c: the address plan (issue 18, point 5) under writes
// in flight at the same time. Two FleetServices asking for one
// LoadBalancer address: exactly one gets it, whatever the timing, unless
// both ask to share it; a dry run claims nothing; a delete frees the
// address; a store whose claims are missing gets them back at start. And
// the placement loop writes only when placement has something to do.
//
// Each race is forced, not hoped for. On LMDB (one svcfleetd) the two
// applies are held in the writer's queue behind a write that waits until
// both are queued, so they run in one group-commit batch. On etcd
// (SF_STORE_BACKEND=etcd: two svcfleetd replicas on one etcd the test
// starts) the first apply stops inside its write function, after it has
// checked its addresses, until the second, through the other replica,
// has committed.
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "arena.h"
#include "clock.h"
#include "etcdfix.h"
#include "replica_testutil.h"
#include "internal.h"
#include "lmdb_internal.h"
#include "log.h"
#include "model.h"
#include "server.h"
#include "status.h"
#include "svcfleet/svcfleet.h"

#define TOKEN    "fleet-addrs-test-admin-token"
#define REPLICAS 2
#define WAIT_MS  20000

// The replicas (replica_testutil.h).
static sf_replfix rf;

static int
setup(void **state)
{
	(void) state;
	rf.rf_contexts = 32;
	rf.rf_workers  = 4;
	if (sf_replfix_setup(
	        &rf, "fa-test", TOKEN, sf_replfix_etcd_asked(), REPLICAS)
	    != 0) {
		return (-1);
	}
	sf_replfix_register(&rf, "east");
	sf_replfix_register(&rf, "west");
	return (0);
}

static int
teardown(void **state)
{
	(void) state;
	sf_replfix_teardown(&rf);
	return (0);
}

// ------------------------------------------------------------ applies

typedef struct apply_arg {
	int         replica;
	const char *name, *cluster, *addr;
	bool        share, dry;
	const char *key; // the allow-shared-ip annotation's value, or NULL
	int         rv;
	char        msg[512];
} apply_arg;

// One FleetService placed on one cluster, a LoadBalancer asking for addr.
static void
apply(apply_arg *x)
{
	char                                   js[1024], ann[160] = "";
	json_t                                *obj;
	json_error_t                           je;
	sf_arena                               a;
	sf_status                              st;
	sf_fleet                              *fs = NULL;
	Svcfleet__V1__ApplyFleetServiceRequest rq
	    = SVCFLEET__V1__APPLY_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyFleetServiceReply *out = NULL;
	svcfleet_client *c = sf_replfix_client(&rf, x->replica, WAIT_MS);
	svcfleet_status  cst;

	if (x->key != NULL) {
		snprintf(ann, sizeof(ann),
		    "\"metadata\": {\"annotations\": "
		    "{\"metallb.universe.tf/allow-shared-ip\": \"%s\"}}, ",
		    x->key);
	}
	snprintf(js, sizeof(js),
	    "{\"apiVersion\": \"svcfleet.io/v1\", \"kind\": \"FleetService\","
	    " \"metadata\": {\"name\": \"%s\", \"namespace\": \"dev\"},"
	    " \"spec\": {\"placement\": {\"clusters\": [\"%s\"]},"
	    " \"shareAddresses\": %s,"
	    " \"template\": {%s\"spec\": {\"type\": \"LoadBalancer\","
	    " \"loadBalancerIP\": \"%s\", \"selector\": {\"app\": \"x\"},"
	    " \"ports\": [{\"port\": 80}]}}}}",
	    x->name, x->cluster, x->share ? "true" : "false", ann, x->addr);
	obj = json_loads(js, 0, &je);
	assert_non_null(obj);
	sf_arena_init(&a);
	sf_status_init(&st);
	if (sf_model_fleet_from_manifest(obj, &a, &fs, &st) != 0) {
		fail_msg("manifest: %s", st.st_msg);
	}
	rq.fleet_service = fs;
	rq.dry_run       = x->dry;
	svcfleet_status_init(&cst);
	x->rv = svcfleet_apply_fleet_service(c, &rq, &out, &cst);
	snprintf(x->msg, sizeof(x->msg), "%s", cst.message);
	svcfleet_free(out);
	svcfleet_status_fini(&cst);
	sf_status_fini(&st);
	sf_arena_fini(&a);
	json_decref(obj);
	svcfleet_close(c);
}

static void *
apply_main(void *arg)
{
	apply(arg);
	return (NULL);
}

static int
apply_now(int replica, const char *name, const char *cluster, const char *addr,
    bool share, char *msg, size_t cap)
{
	apply_arg x = {.replica = replica,
	    .name               = name,
	    .cluster            = cluster,
	    .addr               = addr,
	    .share              = share};
	apply(&x);
	if (msg != NULL) {
		snprintf(msg, cap, "%s", x.msg);
	}
	return (x.rv);
}

static void
delete_fleet(const char *name)
{
	svcfleet_client              *c = sf_replfix_client(&rf, 0, WAIT_MS);
	Svcfleet__V1__FleetServiceKey k
	    = SVCFLEET__V1__FLEET_SERVICE_KEY__INIT;
	Svcfleet__V1__DeleteFleetServiceRequest rq
	    = SVCFLEET__V1__DELETE_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__DeleteFleetServiceReply *out = NULL;
	svcfleet_status                        st;

	svcfleet_status_init(&st);
	k.namespace_ = "dev";
	k.name       = (char *) name;
	rq.key       = &k;
	if (svcfleet_delete_fleet_service(c, &rq, &out, &st) != 0) {
		fail_msg("delete %s: %s", name, st.message);
	}
	svcfleet_free(out);
	svcfleet_status_fini(&st);
	svcfleet_close(c);
}

// ---------------------------------------------------- forcing the race

// LMDB: a write that holds the writer until n more writes are queued,
// so that they are taken as one batch once it returns.
typedef struct blocker {
	sf_store  *b_store;
	uint32_t   b_want;
	atomic_int b_state; // 1 running, 2 done, 3 gave up waiting
} blocker;

static uint32_t
queued(sf_store *s)
{
	uint32_t n;
	pthread_mutex_lock(&s->s_qmtx);
	n = s->s_qlen;
	pthread_mutex_unlock(&s->s_qmtx);
	return (n);
}

static int
block_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	blocker *b     = arg;
	int64_t  until = sf_clock_mono_ms() + WAIT_MS;
	(void) txn;
	(void) st;
	atomic_store(&b->b_state, 1);
	while (queued(b->b_store) < b->b_want) {
		if (sf_clock_mono_ms() > until) {
			atomic_store(&b->b_state, 3);
			return (0);
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL); // polling the queue, with a deadline
	}
	return (0);
}

static void
block_done(void *arg, int code, uint64_t rev)
{
	blocker *b = arg;
	(void) code;
	(void) rev;
	if (atomic_load(&b->b_state) != 3) {
		atomic_store(&b->b_state, 2);
	}
}

// etcd: the write of one FleetService stops (the first time) after it
// has checked its addresses until the test lets it go on.
static pthread_mutex_t hk_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  hk_cv  = PTHREAD_COND_INITIALIZER;
static char            hk_name[64];
static bool            hk_in, hk_go;

static void
hook(const char *fleet)
{
	pthread_mutex_lock(&hk_mtx);
	if (fleet != NULL && hk_name[0] != '\0' && !hk_in
	    && strcmp(fleet, hk_name) == 0) {
		int64_t until = sf_clock_mono_ms() + WAIT_MS;
		hk_in         = true;
		pthread_cond_broadcast(&hk_cv);
		while (!hk_go && sf_clock_mono_ms() < until) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&hk_cv, &hk_mtx, &ts);
		}
	}
	pthread_mutex_unlock(&hk_mtx);
}

// Runs a and b "at the same time" as said at the top.
static void
race(apply_arg *a, apply_arg *b)
{
	pthread_t ta, tb;

	if (!rf.rf_etcd) {
		blocker   bl = {.b_store = rf.rf_srv[0]->s_store, .b_want = 2};
		sf_status st;
		sf_status_init(&st);
		sf_store_write w = {.w_fn = block_fn,
		    .w_done               = block_done,
		    .w_arg                = &bl,
		    .w_status             = &st};
		assert_int_equal(
		    sf_store_submit(rf.rf_srv[0]->s_store, &w), 0);
		// Running: its batch is taken, the applies go into the next.
		int64_t until = sf_clock_mono_ms() + WAIT_MS;
		while (atomic_load(&bl.b_state) == 0
		    && sf_clock_mono_ms() < until) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
		assert_int_equal(pthread_create(&ta, NULL, apply_main, a), 0);
		assert_int_equal(pthread_create(&tb, NULL, apply_main, b), 0);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		until = sf_clock_mono_ms() + WAIT_MS;
		while (atomic_load(&bl.b_state) < 2
		    && sf_clock_mono_ms() < until) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
		sf_status_fini(&st);
		if (atomic_load(&bl.b_state) != 2) {
			fail_msg("the two applies were not queued together "
			         "(%s: %s; %s: %s)",
			    svcfleet_code_name(a->rv), a->msg,
			    svcfleet_code_name(b->rv), b->msg);
		}
		return;
	}
	a->replica = 0;
	b->replica = 1;
	pthread_mutex_lock(&hk_mtx);
	snprintf(hk_name, sizeof(hk_name), "dev/%s", a->name);
	hk_in = hk_go = false;
	pthread_mutex_unlock(&hk_mtx);
	sf__srv_fleet_addrs_hook = hook;
	assert_int_equal(pthread_create(&ta, NULL, apply_main, a), 0);
	pthread_mutex_lock(&hk_mtx);
	int64_t until = sf_clock_mono_ms() + WAIT_MS;
	while (!hk_in && sf_clock_mono_ms() < until) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&hk_cv, &hk_mtx, &ts);
	}
	bool in = hk_in;
	pthread_mutex_unlock(&hk_mtx);
	if (in) {
		apply(b); // through the other replica, while a is held
	}
	pthread_mutex_lock(&hk_mtx);
	hk_go      = true;
	hk_name[0] = '\0';
	pthread_cond_broadcast(&hk_cv);
	pthread_mutex_unlock(&hk_mtx);
	pthread_join(ta, NULL);
	sf__srv_fleet_addrs_hook = NULL;
	if (!in) {
		fail_msg("the first apply never reached its address check "
		         "(%s: %s)",
		    svcfleet_code_name(a->rv), a->msg);
	}
}

// Exactly one of a and b got the address; the other was refused naming
// the winner.
static void
one_winner(const apply_arg *a, const apply_arg *b)
{
	const apply_arg *win = a->rv == 0 ? a : b, *lose = a->rv == 0 ? b : a;
	char             who[128];

	if ((a->rv == 0) == (b->rv == 0)) {
		fail_msg("%s: %s (%s) and %s: %s (%s): both %s the address %s",
		    a->name, svcfleet_code_name(a->rv), a->msg, b->name,
		    svcfleet_code_name(b->rv), b->msg,
		    a->rv == 0 ? "got" : "were refused", a->addr);
	}
	assert_int_equal(lose->rv, SVCFLEET_INVALID_ARGUMENT);
	snprintf(who, sizeof(who), "FleetService dev/%s in cluster %s",
	    win->name, win->cluster);
	if (strstr(lose->msg, "already requested") == NULL
	    || strstr(lose->msg, who) == NULL) {
		fail_msg("%s was refused with \"%s\", not naming %s",
		    lose->name, lose->msg, who);
	}
	if (rf.rf_etcd) {
		// Forced order: the second committed first.
		assert_ptr_equal(win, b);
	}
}

// ------------------------------------------------------------- tests

static void
test_one_address_one_winner(void **state)
{
	char msg[512];
	(void) state;

	for (int r = 0; r < 3; r++) {
		char na[16], nb[16], addr[32];
		snprintf(na, sizeof(na), "race-a%d", r);
		snprintf(nb, sizeof(nb), "race-b%d", r);
		snprintf(addr, sizeof(addr), "203.0.113.%d", 10 + r);
		apply_arg a = {.name = na, .cluster = "east", .addr = addr};
		apply_arg b = {.name = nb, .cluster = "west", .addr = addr};
		race(&a, &b);
		one_winner(&a, &b);
		// The loser, applied again, is still refused; its address
		// freed by the winner's delete, it gets it.
		const apply_arg *win  = a.rv == 0 ? &a : &b;
		const apply_arg *lose = a.rv == 0 ? &b : &a;
		assert_int_equal(
		    apply_now(rf.rf_n - 1, lose->name, lose->cluster, addr,
		        false, msg, sizeof(msg)),
		    SVCFLEET_INVALID_ARGUMENT);
		delete_fleet(win->name);
		int rv = apply_now(0, lose->name, lose->cluster, addr, false,
		    msg, sizeof(msg));
		if (rv != 0) {
			fail_msg("after %s was deleted, %s: %s: %s", win->name,
			    lose->name, svcfleet_code_name(rv), msg);
		}
	}
}

static void
test_sharing_asked_for(void **state)
{
	char msg[512];
	(void) state;

	// Both ask to share: both get it, at the same time too.
	apply_arg a = {.name = "share-a",
	    .cluster         = "east",
	    .addr            = "203.0.113.40",
	    .share           = true};
	apply_arg b = {.name = "share-b",
	    .cluster         = "west",
	    .addr            = "203.0.113.40",
	    .share           = true};
	race(&a, &b);
	if (a.rv != 0 || b.rv != 0) {
		fail_msg("sharers: %s (%s), %s (%s)", svcfleet_code_name(a.rv),
		    a.msg, svcfleet_code_name(b.rv), b.msg);
	}
	// One that does not ask to share is refused, naming the first
	// holder in name order.
	assert_int_equal(apply_now(0, "share-c", "west", "203.0.113.40", false,
	                     msg, sizeof(msg)),
	    SVCFLEET_INVALID_ARGUMENT);
	assert_non_null(
	    strstr(msg, "FleetService dev/share-a in cluster east"));
	// A dry run claims nothing.
	apply_arg d = {.replica = 0,
	    .name               = "dry-a",
	    .cluster            = "east",
	    .addr               = "203.0.113.41",
	    .dry                = true};
	apply(&d);
	assert_int_equal(d.rv, 0);
	assert_int_equal(apply_now(rf.rf_n - 1, "dry-b", "west",
	                     "203.0.113.41", false, msg, sizeof(msg)),
	    0);
	// MetalLB's sharing keys: the same key shares, another does not.
	apply_arg k1 = {.name = "key-one",
	    .cluster          = "east",
	    .addr             = "203.0.113.42",
	    .key              = "k1"};
	apply_arg k2 = k1, k3 = k1;
	k2.name    = "key-two";
	k2.cluster = "west";
	k3.name    = "key-three";
	k3.key     = "k2";
	apply(&k1);
	apply(&k2);
	apply(&k3);
	assert_int_equal(k1.rv, 0);
	if (k2.rv != 0) {
		fail_msg("same key: %s", k2.msg);
	}
	assert_int_equal(k3.rv, SVCFLEET_INVALID_ARGUMENT);
	assert_non_null(strstr(k3.msg, "dev/key-one in cluster east"));
	// One address, two spellings.
	assert_int_equal(
	    apply_now(0, "six-a", "east", "fd00::10", false, msg, sizeof(msg)),
	    0);
	assert_int_equal(apply_now(rf.rf_n - 1, "six-b", "west",
	                     "fd00:0:0::10", false, msg, sizeof(msg)),
	    SVCFLEET_INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "dev/six-a in cluster east"));
}

// A store written before the claims existed (simulated: the claim and
// the marker removed while no svcfleetd runs) gets them back at start.
static int
unclaim_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	int rv;
	(void) st;
	rv = sf_store_txn_record_delete(txn, SF_STORE_ADDRS, arg);
	if (rv == 0) {
		// Written by a start that found FleetServices, if any.
		rv = sf_store_txn_record_delete(
		    txn, SF_STORE_ADDRS, SF__SRV_ADDRS_MARKER);
		rv = rv == SF_NOT_FOUND ? 0 : rv;
	}
	return (rv);
}

static void
test_claims_backfilled(void **state)
{
	char          msg[512], data[128];
	sf_store_opts so = {0};
	sf_store     *s  = NULL;
	sf_status     st;
	(void) state;

	assert_int_equal(apply_now(0, "keep-a", "east", "203.0.113.50", false,
	                     msg, sizeof(msg)),
	    0);
	for (int i = 0; i < rf.rf_n; i++) {
		sf_replfix_stop(&rf, i);
	}
	snprintf(data, sizeof(data), "%s/data0", rf.rf_dir);
	so.so_dir       = data;
	so.so_nosync    = true;
	so.so_sealed_ok = true;
	if (rf.rf_etcd) {
		so.so_etcd_endpoints = sf_etcdfix_endpoints(rf.rf_fix);
		so.so_etcd_prefix    = rf.rf_prefix;
	}
	sf_status_init(&st);
	if (sf_store_open_backend(rf.rf_etcd ? "etcd" : "lmdb", &s, &so, &st)
	    != 0) {
		fail_msg("open: %s", st.st_msg);
	}
	sf_store_write w
	    = {.w_fn = unclaim_fn, .w_arg = "203.0.113.50", .w_status = &st};
	assert_int_equal(sf_store_write_sync(s, &w, NULL), 0);
	sf_store_close(s);
	sf_status_fini(&st);
	for (int i = 0; i < rf.rf_n; i++) {
		sf_replfix_start(&rf, i);
	}
	assert_int_equal(apply_now(rf.rf_n - 1, "keep-b", "west",
	                     "203.0.113.50", false, msg, sizeof(msg)),
	    SVCFLEET_INVALID_ARGUMENT);
	assert_non_null(
	    strstr(msg, "FleetService dev/keep-a in cluster east"));
}

// ------------------------------------------- the placement loop's writes

static uint64_t
writes_all(void)
{
	uint64_t n = 0;
	for (int i = 0; i < rf.rf_n; i++) {
		sf_store_stats ss;
		sf_store_stats_get(rf.rf_srv[i]->s_store, &ss);
		n += ss.ss_writes;
	}
	return (n);
}

// Waits until every replica's placement loop has done n more full rounds.
static void
wait_rounds(uint64_t n)
{
	for (int i = 0; i < rf.rf_n; i++) {
		uint64_t want  = sf__srv_fleet_loop_rounds(rf.rf_srv[i]) + n;
		int64_t  until = sf_clock_mono_ms() + WAIT_MS;
		while (sf__srv_fleet_loop_rounds(rf.rf_srv[i]) < want) {
			if (sf_clock_mono_ms() > until) {
				fail_msg("replica %d's placement loop did "
				         "not go round",
				    i);
			}
			struct timespec ts = {0, 5000000};
			nanosleep(&ts, NULL);
		}
	}
}

// The placement of cluster in FleetService name's status ("" if none).
static void
placement_of(const char *name, const char *cluster, char *out, size_t cap)
{
	svcfleet_client              *c = sf_replfix_client(&rf, 0, WAIT_MS);
	Svcfleet__V1__FleetServiceKey k
	    = SVCFLEET__V1__FLEET_SERVICE_KEY__INIT;
	Svcfleet__V1__GetFleetServiceRequest rq
	    = SVCFLEET__V1__GET_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__FleetService *fs = NULL;
	svcfleet_status             st;

	svcfleet_status_init(&st);
	k.namespace_ = "dev";
	k.name       = (char *) name;
	rq.key       = &k;
	out[0]       = '\0';
	if (svcfleet_get_fleet_service(c, &rq, &fs, &st) != 0) {
		fail_msg("get %s: %s", name, st.message);
	}
	for (size_t i = 0; i < fs->n_status; i++) {
		if (strcmp(fs->status[i]->cluster, cluster) == 0) {
			snprintf(out, cap, "%s", fs->status[i]->placement);
		}
	}
	svcfleet_free(fs);
	svcfleet_status_fini(&st);
	svcfleet_close(c);
}

// The loop re-places on a change, and writes nothing for FleetServices
// whose clusters are all placed and whose inputs did not change (it used
// to write each of them every round).
static void
test_loop_writes_only_changes(void **state)
{
	char msg[512], pl[64];
	(void) state;

	sf__srv_fleet_loop_full_ms = 50;
	assert_int_equal(apply_now(0, "loop-one", "east", "203.0.113.60",
	                     false, msg, sizeof(msg)),
	    0);
	assert_int_equal(apply_now(rf.rf_n - 1, "loop-two", "west",
	                     "203.0.113.61", false, msg, sizeof(msg)),
	    0);
	wait_rounds(3); // each new version found settled once
	uint64_t w0 = writes_all();
	wait_rounds(4);
	uint64_t w1 = writes_all();
	if (w1 != w0) {
		fail_msg("%llu store writes in 4 rounds of the placement loop "
		         "with nothing to change",
		    (unsigned long long) (w1 - w0));
	}
	// A cluster named but not registered: skipped, then placed once it
	// comes.
	assert_int_equal(apply_now(0, "loop-north", "north", "203.0.113.62",
	                     false, msg, sizeof(msg)),
	    0);
	placement_of("loop-north", "north", pl, sizeof(pl));
	assert_string_equal(pl, "Skipped");
	sf_replfix_register(&rf, "north");
	int64_t until = sf_clock_mono_ms() + WAIT_MS;
	do {
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
		placement_of("loop-north", "north", pl, sizeof(pl));
	} while (strcmp(pl, "Placed") != 0 && sf_clock_mono_ms() < until);
	assert_string_equal(pl, "Placed");
	sf__srv_fleet_loop_full_ms = 5000;
}

// ------------------------------ (i17-turns) renders only what changed

// FleetServices the placement loops rendered again, every replica's.
static uint64_t
renders_all(void)
{
	uint64_t n = 0;
	for (int i = 0; i < rf.rf_n; i++) {
		n += sf__srv_fleet_loop_renders(rf.rf_srv[i]);
	}
	return (n);
}

// A ClusterIP FleetService dev/name placed by placement (JSON).
static void
apply_placed(const char *name, const char *placement)
{
	char                                   js[1024];
	json_t                                *obj;
	json_error_t                           je;
	sf_arena                               a;
	sf_status                              st;
	sf_fleet                              *fs = NULL;
	Svcfleet__V1__ApplyFleetServiceRequest rq
	    = SVCFLEET__V1__APPLY_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyFleetServiceReply *out = NULL;
	svcfleet_client *c = sf_replfix_client(&rf, 0, WAIT_MS);
	svcfleet_status  cst;

	snprintf(js, sizeof(js),
	    "{\"apiVersion\": \"svcfleet.io/v1\", \"kind\": \"FleetService\","
	    " \"metadata\": {\"name\": \"%s\", \"namespace\": \"dev\"},"
	    " \"spec\": {\"placement\": %s,"
	    " \"template\": {\"spec\": {\"selector\": {\"app\": \"x\"},"
	    " \"ports\": [{\"port\": 80}]}}}}",
	    name, placement);
	obj = json_loads(js, 0, &je);
	assert_non_null(obj);
	sf_arena_init(&a);
	sf_status_init(&st);
	if (sf_model_fleet_from_manifest(obj, &a, &fs, &st) != 0) {
		fail_msg("manifest: %s", st.st_msg);
	}
	rq.fleet_service = fs;
	svcfleet_status_init(&cst);
	if (svcfleet_apply_fleet_service(c, &rq, &out, &cst) != 0) {
		fail_msg("apply %s: %s", name, cst.message);
	}
	svcfleet_free(out);
	svcfleet_status_fini(&cst);
	sf_status_fini(&st);
	sf_arena_fini(&a);
	json_decref(obj);
	svcfleet_close(c);
}

// Gives cluster the one label key=value.
static void
relabel(const char *cluster, const char *key, const char *value)
{
	svcfleet_client                *c = sf_replfix_client(&rf, 0, WAIT_MS);
	svcfleet_status                 st;
	Svcfleet__V1__GetClusterRequest gr
	    = SVCFLEET__V1__GET_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__UpdateClusterRequest ur
	    = SVCFLEET__V1__UPDATE_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster  *cl = NULL, *out = NULL;
	Svcfleet__V1__KeyValue  kv     = SVCFLEET__V1__KEY_VALUE__INIT;
	Svcfleet__V1__KeyValue *kvs[1] = {&kv};

	svcfleet_status_init(&st);
	gr.name = (char *) cluster;
	if (svcfleet_get_cluster(c, &gr, &cl, &st) != 0) {
		fail_msg("get %s: %s", cluster, st.message);
	}
	kv.key       = (char *) key;
	kv.value     = (char *) value;
	cl->labels   = kvs; // (svcfleet_free frees the reply's own array)
	cl->n_labels = 1;
	ur.cluster   = cl;
	int rv       = svcfleet_update_cluster(c, &ur, &out, &st);
	cl->labels   = NULL;
	cl->n_labels = 0;
	svcfleet_free(cl);
	svcfleet_free(out);
	if (rv != 0) {
		fail_msg("relabel %s: %s", cluster, st.message);
	}
	svcfleet_status_fini(&st);
	svcfleet_close(c);
}

#define UNAFFECTED 12

// The loop renders a FleetService's copies only when its inputs change:
// rounds with nothing changed render none; a relabel of east renders the
// FleetService it brings into placement, never the UNAFFECTED ones on
// west (each cluster change rendered every FleetService before), and its
// copy appears.
static void
test_loop_renders_only_changes(void **state)
{
	char name[32], pl[64];
	(void) state;

	sf__srv_fleet_loop_full_ms = 50;
	apply_placed("gold",
	    "{\"clusterSelector\": {\"matchLabels\": "
	    "{\"tier\": \"gold\"}}}");
	for (int i = 0; i < UNAFFECTED; i++) {
		snprintf(name, sizeof(name), "on-west-%d", i);
		apply_placed(name, "{\"clusters\": [\"west\"]}");
	}
	wait_rounds(3); // each new version rendered and found settled
	uint64_t r0 = renders_all();
	wait_rounds(4);
	uint64_t r1 = renders_all();
	if (r1 != r0) {
		fail_msg("%llu FleetServices rendered in 4 rounds of the "
		         "placement loop with nothing changed",
		    (unsigned long long) (r1 - r0));
	}
	placement_of("gold", "east", pl, sizeof(pl));
	assert_string_equal(pl, "");

	relabel("east", "tier", "gold");
	int64_t until = sf_clock_mono_ms() + WAIT_MS;
	do {
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
		placement_of("gold", "east", pl, sizeof(pl));
	} while (strcmp(pl, "Placed") != 0 && sf_clock_mono_ms() < until);
	assert_string_equal(pl, "Placed");
	wait_rounds(3);
	uint64_t r2 = renders_all();
	// gold: rendered for the change, then once more for each version
	// a write gave it (on each replica: on etcd both may write once).
	if (r2 - r1 < 1 || r2 - r1 > (uint64_t) (4 * rf.rf_n)) {
		fail_msg("%llu FleetServices rendered after east's relabel "
		         "(gold's alone: 1 to %d)",
		    (unsigned long long) (r2 - r1), 4 * rf.rf_n);
	}
	wait_rounds(4);
	assert_int_equal(renders_all(), r2);
	sf__srv_fleet_loop_full_ms = 5000;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    // i17-turns: first, while every FleetService it makes is settled
	    cmocka_unit_test(test_loop_renders_only_changes),
	    cmocka_unit_test(test_one_address_one_winner),
	    cmocka_unit_test(test_sharing_asked_for),
	    cmocka_unit_test(test_claims_backfilled),
	    cmocka_unit_test(test_loop_writes_only_changes),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
