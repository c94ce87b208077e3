// svc_addrs_test.c: the address plan covers plain Services (issue 18
// point 5, i18-plan). A LoadBalancer Service that requests an address
// claims it in its own write, like a FleetService's copy: a second
// Service or FleetService in any cluster asking for it is refused naming
// the field and the holder, unless every requester shares it (MetalLB's
// allow-shared-ip, same key); dry runs claim nothing; updates and deletes
// free; a race between two replicas has one winner; Services stored
// before the claims get them at start, and two that already collide both
// keep the address and are listed as a conflict.
//
// Races are forced as in fleet_addrs_test: on LMDB the two writes are
// queued into one batch behind a blocking write; on etcd
// (SF_STORE_BACKEND=etcd, two replicas) the first stops inside its write
// function after its address check until the second has committed.
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
#include "etcd_hooks.h"
#include "etcdfix.h"
#include "replica_testutil.h"
#include "internal.h"
#include "lmdb_internal.h"
#include "log.h"
#include "model.h"
#include "server.h"
#include "status.h"
#include "str.h"
#include "svcfleet/svcfleet.h"

#define TOKEN    "svc-addrs-test-admin-token"
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
	        &rf, "sa-test", TOKEN, sf_replfix_etcd_asked(), REPLICAS)
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
	bool        svc; // a plain Service, not a FleetService
	const char *key; // the allow-shared-ip annotation's value, or NULL
	int         rv;
	char        msg[512];
} apply_arg;

// One FleetService placed on one cluster, a LoadBalancer asking for addr.
static void apply_svc(apply_arg *x);

static void
apply(apply_arg *x)
{
	if (x->svc) {
		apply_svc(x);
		return;
	}
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
	if (a->svc) {
		snprintf(hk_name, sizeof(hk_name), "svc:%s/dev/%s", a->cluster,
		    a->name);
	} else {
		snprintf(hk_name, sizeof(hk_name), "dev/%s", a->name);
	}
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

// One plain Service in x->cluster, a LoadBalancer asking for x->addr.
static void
apply_svc(apply_arg *x)
{
	char                              js[1024], ann[160] = "";
	json_t                           *obj;
	json_error_t                      je;
	sf_arena                          a;
	sf_status                         st;
	sf_service                       *svc = NULL;
	Svcfleet__V1__ApplyServiceRequest rq
	    = SVCFLEET__V1__APPLY_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyServiceReply *out = NULL;
	svcfleet_client *c = sf_replfix_client(&rf, x->replica, WAIT_MS);
	svcfleet_status  cst;

	if (x->key != NULL) {
		snprintf(ann, sizeof(ann),
		    ", \"annotations\": "
		    "{\"metallb.universe.tf/allow-shared-ip\": \"%s\"}",
		    x->key);
	}
	snprintf(js, sizeof(js),
	    "{\"apiVersion\": \"v1\", \"kind\": \"Service\","
	    " \"metadata\": {\"name\": \"%s\", \"namespace\": \"dev\"%s},"
	    " \"spec\": {\"type\": \"LoadBalancer\","
	    " \"loadBalancerIP\": \"%s\", \"selector\": {\"app\": \"x\"},"
	    " \"ports\": [{\"port\": 80}]}}",
	    x->name, ann, x->addr);
	obj = json_loads(js, 0, &je);
	assert_non_null(obj);
	sf_arena_init(&a);
	sf_status_init(&st);
	if (sf_model_service_from_manifest(obj, x->cluster, &a, &svc, &st)
	    != 0) {
		fail_msg("manifest: %s", st.st_msg);
	}
	rq.service = svc;
	rq.dry_run = x->dry;
	svcfleet_status_init(&cst);
	x->rv = svcfleet_apply_service(c, &rq, &out, &cst);
	snprintf(x->msg, sizeof(x->msg), "%s", cst.message);
	svcfleet_free(out);
	svcfleet_status_fini(&cst);
	sf_status_fini(&st);
	sf_arena_fini(&a);
	json_decref(obj);
	svcfleet_close(c);
}

static int
svc_now(int replica, const char *name, const char *cluster, const char *addr,
    const char *key, char *msg, size_t cap)
{
	apply_arg x = {.replica = replica,
	    .name               = name,
	    .cluster            = cluster,
	    .addr               = addr,
	    .key                = key,
	    .svc                = true};
	apply(&x);
	snprintf(msg, cap, "%s", x.msg);
	return (x.rv);
}

static void
delete_svc(const char *cluster, const char *name)
{
	svcfleet_client         *c = sf_replfix_client(&rf, 0, WAIT_MS);
	Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__DeleteServiceRequest rq
	    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__DeleteServiceReply *out = NULL;
	svcfleet_status                   st;

	svcfleet_status_init(&st);
	k.cluster    = (char *) cluster;
	k.namespace_ = "dev";
	k.name       = (char *) name;
	rq.key       = &k;
	if (svcfleet_delete_service(c, &rq, &out, &st) != 0) {
		fail_msg("delete %s/%s: %s", cluster, name, st.message);
	}
	svcfleet_free(out);
	svcfleet_status_fini(&st);
	svcfleet_close(c);
}

static void
refused(int rv, const char *msg, const char *holder, const char *field)
{
	if (rv != SVCFLEET_INVALID_ARGUMENT || strstr(msg, holder) == NULL
	    || strstr(msg, field) == NULL) {
		fail_msg("want INVALID_ARGUMENT naming %s and %s, got %s: %s",
		    field, holder, svcfleet_code_name(rv), msg);
	}
}

// ------------------------------------------------------------- tests

static void
test_plain_services_claim(void **state)
{
	char msg[512];
	(void) state;

	// One Service per address across clusters; the field and the
	// holder are named.
	assert_int_equal(svc_now(0, "svc-pa", "east", "198.51.100.10", NULL,
	                     msg, sizeof(msg)),
	    0);
	refused(svc_now(rf.rf_n - 1, "svc-pb", "west", "198.51.100.10", NULL,
	            msg, sizeof(msg)),
	    msg, "Service dev/svc-pa in cluster east", "spec.loadBalancerIP");
	// A FleetService asking for it is refused naming the Service ...
	char fmsg[512];
	refused(apply_now(0, "svc-fa", "west", "198.51.100.10", false, fmsg,
	            sizeof(fmsg)),
	    fmsg, "Service dev/svc-pa in cluster east", "loadBalancerIP");
	// ... and a Service asking for a FleetService's address names it.
	assert_int_equal(apply_now(0, "svc-fb", "west", "198.51.100.11", false,
	                     fmsg, sizeof(fmsg)),
	    0);
	refused(svc_now(0, "svc-pc", "east", "198.51.100.11", NULL, msg,
	            sizeof(msg)),
	    msg, "FleetService dev/svc-fb in cluster west", "loadBalancerIP");
	// Applying the holder again changes nothing.
	assert_int_equal(svc_now(rf.rf_n - 1, "svc-pa", "east",
	                     "198.51.100.10", NULL, msg, sizeof(msg)),
	    0);
	// A dry run claims nothing.
	apply_arg d = {.name = "svc-dry",
	    .cluster         = "east",
	    .addr            = "198.51.100.12",
	    .dry             = true,
	    .svc             = true};
	apply(&d);
	if (d.rv != 0) {
		fail_msg("dry run: %s", d.msg);
	}
	assert_int_equal(svc_now(rf.rf_n - 1, "after-dry", "west",
	                     "198.51.100.12", NULL, msg, sizeof(msg)),
	    0);
	// Changing the address frees the old one.
	assert_int_equal(svc_now(0, "svc-pa", "east", "198.51.100.13", NULL,
	                     msg, sizeof(msg)),
	    0);
	if (svc_now(rf.rf_n - 1, "svc-pb", "west", "198.51.100.10", NULL, msg,
	        sizeof(msg))
	    != 0) {
		fail_msg("the address given up by an update: %s", msg);
	}
	// A delete frees it.
	refused(svc_now(0, "svc-pd", "west", "198.51.100.13", NULL, msg,
	            sizeof(msg)),
	    msg, "Service dev/svc-pa in cluster east", "loadBalancerIP");
	delete_svc("east", "svc-pa");
	if (svc_now(rf.rf_n - 1, "svc-pd", "west", "198.51.100.13", NULL, msg,
	        sizeof(msg))
	    != 0) {
		fail_msg("the address freed by a delete: %s", msg);
	}
	// Sharing: every requester asks, with the same key.
	assert_int_equal(svc_now(0, "svc-sa", "east", "198.51.100.14", "k1",
	                     msg, sizeof(msg)),
	    0);
	if (svc_now(rf.rf_n - 1, "svc-sb", "west", "198.51.100.14", "k1", msg,
	        sizeof(msg))
	    != 0) {
		fail_msg("same sharing key: %s", msg);
	}
	refused(svc_now(0, "svc-sc", "west", "198.51.100.14", "k2", msg,
	            sizeof(msg)),
	    msg, "Service dev/svc-sa in cluster east", "loadBalancerIP");
	refused(svc_now(0, "svc-sd", "west", "198.51.100.14", NULL, msg,
	            sizeof(msg)),
	    msg, "Service dev/svc-sa in cluster east", "loadBalancerIP");
}

static void
test_plain_race_one_winner(void **state)
{
	(void) state;
	for (int r = 0; r < 3; r++) {
		char na[16], nb[16], addr[32], who[96];
		snprintf(na, sizeof(na), "race-a%d", r);
		snprintf(nb, sizeof(nb), "race-b%d", r);
		snprintf(addr, sizeof(addr), "198.51.100.%d", 30 + r);
		apply_arg a = {
		    .name = na, .cluster = "east", .addr = addr, .svc = true};
		apply_arg b = {.name = nb,
		    .cluster         = "west",
		    .addr            = addr,
		    .svc             = r != 1}; // once a FleetService
		race(&a, &b);
		if ((a.rv == 0) == (b.rv == 0)) {
			fail_msg("%s: %s (%s), %s: %s (%s): both %s %s", na,
			    svcfleet_code_name(a.rv), a.msg, nb,
			    svcfleet_code_name(b.rv), b.msg,
			    a.rv == 0 ? "got" : "were refused", addr);
		}
		const apply_arg *win  = a.rv == 0 ? &a : &b;
		const apply_arg *lose = a.rv == 0 ? &b : &a;
		snprintf(who, sizeof(who), "%s dev/%s in cluster %s",
		    win->svc ? "Service" : "FleetService", win->name,
		    win->cluster);
		refused(lose->rv, lose->msg, who, "loadBalancerIP");
		if (rf.rf_etcd) {
			assert_ptr_equal(win, &b); // forced order
		}
	}
}

// Two Services stored with one address before the claims existed
// (simulated: written straight into the store, no svcfleetd running).
static int
collide_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	sf_store_key k   = {"east", "dev", "old-a"};
	sf_service  *svc = NULL;
	sf_arena    *a   = arg;
	int          rv;
	(void) st;
	if ((rv = sf_store_txn_service_get(txn, &k, sf_arena_pbc(a), &svc))
	    != 0) {
		return (rv);
	}
	svc->metadata->cluster = "west";
	svc->metadata->name    = "old-b";
	svc->metadata->uid     = "uid-old-b";
	if ((rv = sf_store_txn_service_put(txn, svc, true)) != 0) {
		return (rv);
	}
	rv = sf_store_txn_record_delete(txn, SF_STORE_ADDRS, "198.51.100.50");
	if (rv == 0) {
		// Written by a start that found Services, if any.
		rv = sf_store_txn_record_delete(
		    txn, SF_STORE_ADDRS, "~claimed-services");
		rv = rv == SF_NOT_FOUND ? 0 : rv;
	}
	return (rv);
}

static void
test_old_store_collision_kept(void **state)
{
	char          msg[512], data[128];
	sf_store_opts so = {0};
	sf_store     *s  = NULL;
	sf_status     st;
	sf_arena      a;
	(void) state;

	assert_int_equal(svc_now(0, "old-a", "east", "198.51.100.50", NULL,
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
	sf_arena_init(&a);
	if (sf_store_open_backend(rf.rf_etcd ? "etcd" : "lmdb", &s, &so, &st)
	    != 0) {
		fail_msg("open: %s", st.st_msg);
	}
	sf_store_write w = {.w_fn = collide_fn, .w_arg = &a, .w_status = &st};
	int            crv = sf_store_write_sync(s, &w, NULL);
	if (crv != 0) {
		fail_msg("collide: %s: %s", sf_status_str(crv), st.st_msg);
	}
	sf_store_close(s);
	sf_arena_fini(&a);
	sf_status_fini(&st);
	for (int i = 0; i < rf.rf_n; i++) {
		sf_replfix_start(&rf, i); // does not refuse to start
	}
	// Both kept; each may still be applied unchanged; a third is
	// refused; `addresses` lists the conflict.
	if (svc_now(
	        0, "old-a", "east", "198.51.100.50", NULL, msg, sizeof(msg))
	        != 0
	    || svc_now(rf.rf_n - 1, "old-b", "west", "198.51.100.50", NULL,
	           msg, sizeof(msg))
	        != 0) {
		fail_msg("a Service of an old clash: %s", msg);
	}
	refused(svc_now(0, "old-c", "west", "198.51.100.50", NULL, msg,
	            sizeof(msg)),
	    msg, "in cluster", "loadBalancerIP");

	svcfleet_client               *c = sf_replfix_client(&rf, 0, WAIT_MS);
	Svcfleet__V1__AddressesRequest rq
	    = SVCFLEET__V1__ADDRESSES_REQUEST__INIT;
	Svcfleet__V1__AddressesReply *out = NULL;
	svcfleet_status               cst;
	bool                          found = false;
	svcfleet_status_init(&cst);
	if (svcfleet_addresses(c, &rq, &out, &cst) != 0) {
		fail_msg("addresses: %s", cst.message);
	}
	for (size_t i = 0; i < out->n_conflicts; i++) {
		found = found
		    || (strstr(out->conflicts[i], "198.51.100.50") != NULL
		        && strstr(out->conflicts[i], "dev/old-a") != NULL
		        && strstr(out->conflicts[i], "dev/old-b") != NULL);
	}
	if (!found) {
		fail_msg("addresses lists %zu conflicts, not 198.51.100.50's",
		    out->n_conflicts);
	}
	svcfleet_free(out);
	svcfleet_status_fini(&cst);
	svcfleet_close(c);
}

// The third octet of the wide FleetServices' addresses.
static int wide_net = 7;

// One FleetService on n clusters, each copy asking for its own address
// (an override per cluster: 10.<n>.<wide_net>.<i+1>), its template
// annotated gen: <gen>, applied through replica r. Returns the code; msg
// gets the message.
static int
apply_wide_on(
    int r, const char *name, int n, const char *gen, char *msg, size_t cap)
{
	json_t *clusters = json_array(), *overrides = json_array();
	json_t *obj;
	for (int i = 0; i < n; i++) {
		char cn[32], ip[32];
		snprintf(cn, sizeof(cn), "wide-%02d", i);
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", n, wide_net, i + 1);
		json_array_append_new(clusters, json_string(cn));
		json_array_append_new(overrides,
		    json_pack("{s:[s],s:{s:{s:s}}}", "clusters", cn, "patch",
		        "spec", "loadBalancerIP", ip));
	}
	obj = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:{s:o},s:{s:{s:{s:s}},s:{"
	                "s:s,s:s,s:{s:s},s:[{s:i}]}},s:o}}",
	    "apiVersion", "svcfleet.io/v1", "kind", "FleetService", "metadata",
	    "name", name, "namespace", "dev", "spec", "placement", "clusters",
	    clusters, "template", "metadata", "annotations", "gen", gen,
	    "spec", "type", "LoadBalancer", "loadBalancerIP", "10.0.0.1",
	    "selector", "app", "x", "ports", "port", 80, "overrides",
	    overrides);
	assert_non_null(obj);
	sf_arena  a;
	sf_status st;
	sf_fleet *fs = NULL;
	sf_arena_init(&a);
	sf_status_init(&st);
	if (sf_model_fleet_from_manifest(obj, &a, &fs, &st) != 0) {
		fail_msg("manifest: %s", st.st_msg);
	}
	Svcfleet__V1__ApplyFleetServiceRequest rq
	    = SVCFLEET__V1__APPLY_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyFleetServiceReply *out = NULL;
	svcfleet_client *c = sf_replfix_client(&rf, r, WAIT_MS);
	svcfleet_status  cst;
	rq.fleet_service = fs;
	svcfleet_status_init(&cst);
	int rv = svcfleet_apply_fleet_service(c, &rq, &out, &cst);
	snprintf(msg, cap, "%s", cst.message);
	svcfleet_free(out);
	svcfleet_status_fini(&cst);
	svcfleet_close(c);
	sf_status_fini(&st);
	sf_arena_fini(&a);
	json_decref(obj);
	return (rv);
}

static int
apply_wide(const char *name, int n, char *msg, size_t cap)
{
	return (apply_wide_on(0, name, n, "1", msg, cap));
}

// Reads FleetService dev/name through replica 0. Returns the code; *out
// gets the FleetService (the caller frees it with svcfleet_free), msg
// (may be NULL) the message.
static int
fleet_get(
    const char *name, Svcfleet__V1__FleetService **out, char *msg, size_t cap)
{
	svcfleet_client              *c = sf_replfix_client(&rf, 0, WAIT_MS);
	Svcfleet__V1__FleetServiceKey k
	    = SVCFLEET__V1__FLEET_SERVICE_KEY__INIT;
	Svcfleet__V1__GetFleetServiceRequest rq
	    = SVCFLEET__V1__GET_FLEET_SERVICE_REQUEST__INIT;
	svcfleet_status st;
	svcfleet_status_init(&st);
	k.namespace_ = "dev";
	k.name       = (char *) name;
	rq.key       = &k;
	*out         = NULL;
	int rv       = svcfleet_get_fleet_service(c, &rq, out, &st);
	if (msg != NULL) {
		snprintf(msg, cap, "%s", st.message);
	}
	svcfleet_status_fini(&st);
	svcfleet_close(c);
	return (rv);
}

static int
fleet_get_code(const char *name)
{
	Svcfleet__V1__FleetService *fs;
	int                         rv = fleet_get(name, &fs, NULL, 0);
	svcfleet_free(fs);
	return (rv);
}

// Deletes FleetService dev/name through replica r. Returns the code; msg
// gets the message.
static int
fleet_delete(int r, const char *name, char *msg, size_t cap)
{
	svcfleet_client              *c = sf_replfix_client(&rf, r, WAIT_MS);
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
	int rv       = svcfleet_delete_fleet_service(c, &rq, &out, &st);
	snprintf(msg, cap, "%s", st.message);
	svcfleet_free(out);
	svcfleet_status_fini(&st);
	svcfleet_close(c);
	return (rv);
}

// The placement the stored FleetService's status gives cluster (into
// buf; "" when none).
static void
fleet_placement(const char *name, const char *cluster, char *buf, size_t cap)
{
	Svcfleet__V1__FleetService *fs;
	char                        msg[512];
	if (fleet_get(name, &fs, msg, sizeof(msg)) != 0) {
		fail_msg("get %s: %s", name, msg);
	}
	buf[0] = '\0';
	for (size_t i = 0; i < fs->n_status; i++) {
		if (strcmp(sf_nz(fs->status[i]->cluster), cluster) == 0) {
			snprintf(
			    buf, cap, "%s", sf_nz(fs->status[i]->placement));
		}
	}
	svcfleet_free(fs);
}

// The stored FleetService's template annotation gen (into buf).
static void
fleet_gen(const char *name, char *buf, size_t cap)
{
	Svcfleet__V1__FleetService *fs;
	char                        msg[512];
	if (fleet_get(name, &fs, msg, sizeof(msg)) != 0) {
		fail_msg("get %s: %s", name, msg);
	}
	const char *g = NULL;
	if (fs->spec != NULL && fs->spec->template_ != NULL
	    && fs->spec->template_->metadata != NULL) {
		const sf_object_meta *m = fs->spec->template_->metadata;
		g = sf_model_kv_get(m->annotations, m->n_annotations, "gen");
	}
	snprintf(buf, cap, "%s", g != NULL ? g : "");
	svcfleet_free(fs);
}

// Checks the copies of FleetService dev/name in clusters wide-00.. of n:
// each present (want non-NULL), owned, asking for 10.<n>.<wide_net>.<i+1> and
// annotated gen: want; or each absent (want NULL). Read from etcd itself
// (or LMDB), not a replica's view.
static bool copies_ok(
    const char *name, int n, int upto, const char *want, bool report);

static void
check_copies(const char *name, int n, const char *want)
{
	copies_ok(name, n, n, want, true);
}

// check_copies for clusters wide-00 .. wide-<upto - 1>; without report,
// returns false where check_copies fails.
static bool
copies_ok(const char *name, int n, int upto, const char *want, bool report)
{
	char owner[96], why[512] = "";
	snprintf(owner, sizeof(owner), "FleetService/%s", name);
	for (int i = 0; i < upto && why[0] == '\0'; i++) {
		char         cn[32], ip[32];
		sf_service  *svc = NULL;
		sf_store_key k   = {cn, "dev", name};
		snprintf(cn, sizeof(cn), "wide-%02d", i);
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", n, wide_net, i + 1);
		int rv = sf_store_service_get(
		    rf.rf_srv[0]->s_store, &k, NULL, &svc);
		if (want == NULL) {
			if (rv != SF_NOT_FOUND) {
				snprintf(why, sizeof(why),
				    "the copy of %s in %s is still there (%s)",
				    name, cn, sf_status_name(rv));
			}
		} else if (rv != 0) {
			snprintf(why, sizeof(why), "no copy of %s in %s: %s",
			    name, cn, sf_status_name(rv));
		} else {
			const char *g
			    = sf_model_kv_get(svc->metadata->annotations,
			        svc->metadata->n_annotations, "gen");
			if (strcmp(sf_nz(svc->metadata->owner), owner) != 0
			    || strcmp(sf_nz(svc->spec->lb_address), ip) != 0
			    || g == NULL || strcmp(g, want) != 0) {
				snprintf(why, sizeof(why),
				    "the copy of %s in %s: owner %s, address "
				    "%s, gen %s; want %s, %s, %s",
				    name, cn, sf_nz(svc->metadata->owner),
				    sf_nz(svc->spec->lb_address),
				    g != NULL ? g : "-", owner, ip, want);
			}
		}
		if (svc != NULL) {
			svcfleet__v1__service__free_unpacked(svc, NULL);
		}
	}
	if (why[0] != '\0' && report) {
		fail_msg("%s", why);
	}
	return (why[0] == '\0');
}

// etcd holds at most --max-txn-ops (128) reads and as many writes in one
// transaction, and each placed cluster costs its record, its copy and its
// address claim: a FleetService on 60 clusters does not fit one (it was
// refused INVALID_ARGUMENT on spec.placement before i18-wide). Its write
// is split (h_fleet.c fl_guard): it succeeds with every copy stored and
// right, on LMDB (one transaction) and on etcd. Deleting it removes every
// copy and frees its addresses.
static void
test_txn_op_bound(void **state)
{
	char msg[1024];
	(void) state;
	for (int i = 0; i < 60; i++) {
		char cn[32];
		snprintf(cn, sizeof(cn), "wide-%02d", i);
		sf_replfix_register(&rf, cn);
	}
	if (apply_wide("wide-twenty", 20, msg, sizeof(msg)) != 0) {
		fail_msg("20 clusters: %s", msg);
	}
	check_copies("wide-twenty", 20, "1");
	int rv = apply_wide("wide-sixty", 60, msg, sizeof(msg));
	if (rv != 0) {
		fail_msg("60 clusters on %s: %s: %s",
		    rf.rf_etcd ? "etcd" : "LMDB", svcfleet_code_name(rv), msg);
	}
	assert_int_equal(fleet_get_code("wide-sixty"), 0);
	check_copies("wide-sixty", 60, "1");
	// Its addresses are claimed.
	char m2[512];
	refused(svc_now(0, "wide-plain", "east", "10.60.7.60", NULL, m2,
	            sizeof(m2)),
	    m2, "FleetService dev/wide-sixty", "loadBalancerIP");
	// Changed: every copy follows.
	if ((rv = apply_wide_on(
	         rf.rf_n - 1, "wide-sixty", 60, "2", msg, sizeof(msg)))
	    != 0) {
		fail_msg(
		    "60 clusters again: %s: %s", svcfleet_code_name(rv), msg);
	}
	check_copies("wide-sixty", 60, "2");
	// Deleted: every copy goes, and the addresses are free.
	if ((rv = fleet_delete(0, "wide-sixty", msg, sizeof(msg))) != 0) {
		fail_msg("delete: %s: %s", svcfleet_code_name(rv), msg);
	}
	assert_int_equal(fleet_get_code("wide-sixty"), SVCFLEET_NOT_FOUND);
	check_copies("wide-sixty", 60, NULL);
	if (svc_now(
	        0, "wide-plain", "east", "10.60.7.60", NULL, m2, sizeof(m2))
	    != 0) {
		fail_msg("an address of the deleted FleetService: %s", m2);
	}
}

// i18-wide: the guard of a split write. A FleetService on 60 clusters is
// applied through replica 0 (gen a); right after its first transaction,
// before its remaining parts, replica 1 writes the same FleetService and
// completes: an apply (gen b), or a delete. The older write's remaining
// parts must not land after the newer write: every copy ends as gen b,
// the stored FleetService's, none from a mix; or, after the delete, no
// copy is left (the copies the older write had not written yet were not
// there for the delete to prune: only the guard stops them).
enum { RACE_APPLY, RACE_DELETE, RACE_PLAIN };
static _Atomic int race_hooked;
static const char *race_guard;
static int         race_action; // RACE_*
static int         race_rv;
static char        race_msg[512];

static void
race_hook(const char *guard)
{
	int zero = 0;
	if (guard == NULL || strcmp(guard, race_guard) != 0
	    || !atomic_compare_exchange_strong(&race_hooked, &zero, 1)) {
		return;
	}
	const char *name = strchr(race_guard, '/') + 1;
	switch (race_action) {
	case RACE_APPLY:
		race_rv = apply_wide_on(
		    1, name, 60, "b", race_msg, sizeof(race_msg));
		break;
	case RACE_DELETE:
		race_rv = fleet_delete(1, name, race_msg, sizeof(race_msg));
		break;
	default:
		// A plain Service of the name in the last cluster, whose
		// copy is in a part still to come.
		race_rv = svc_now(1, name, "wide-59", "10.61.10.1", NULL,
		    race_msg, sizeof(race_msg));
		break;
	}
	atomic_store(&race_hooked, 2);
}

static void
split_race(const char *guard, int action)
{
	char msg[1024];
	atomic_store(&race_hooked, 0);
	race_guard               = guard;
	race_action              = action;
	sf__store_etcd_part_hook = race_hook;
	int rv                   = apply_wide_on(
	                      0, strchr(guard, '/') + 1, 60, "a", msg, sizeof(msg));
	sf__store_etcd_part_hook = NULL;
	if (rv != 0) {
		fail_msg(
		    "the older apply: %s: %s", svcfleet_code_name(rv), msg);
	}
	// The newer write ran between the older one's parts.
	assert_int_equal(atomic_load(&race_hooked), 2);
	if (race_rv != 0) {
		fail_msg("the newer write: %s: %s",
		    svcfleet_code_name(race_rv), race_msg);
	}
}

static void
test_split_guard(void **state)
{
	char gen[32], msg[512];
	(void) state;
	if (!rf.rf_etcd) {
		skip(); // one transaction on LMDB: nothing is split
	}
	wide_net = 8; // not test_txn_op_bound's addresses
	split_race("dev/wide-race", RACE_APPLY);
	fleet_gen("wide-race", gen, sizeof(gen));
	assert_string_equal(gen, "b");
	check_copies("wide-race", 60, "b");

	wide_net = 9;
	split_race("dev/wide-gone", RACE_DELETE);
	assert_int_equal(fleet_get_code("wide-gone"), SVCFLEET_NOT_FOUND);
	check_copies("wide-gone", 60, NULL);
	// And its addresses are free.
	if (svc_now(
	        0, "wide-plain9", "east", "10.60.9.60", NULL, msg, sizeof(msg))
	    != 0) {
		fail_msg("an address of the deleted FleetService: %s", msg);
	}
}

// i18-wide: a part that cannot commit is healed. Between the parts of a
// wide apply, a plain Service of the name is created in the last cluster:
// the part holding that cluster's copy finds its key changed and is not
// written (with the copies of the clusters that shared its transaction).
// The apply still succeeds (its head committed); the placement loop then
// re-places the FleetService: every other copy is written, and the last
// cluster is reported in conflict, none left Placed without its copy.
static void
test_split_heal(void **state)
{
	char    pl[64] = "";
	int64_t until;
	(void) state;
	if (!rf.rf_etcd) {
		skip(); // one transaction on LMDB: nothing is split
	}
	wide_net = 10;
	split_race("dev/wide-heal", RACE_PLAIN);
	sf__srv_fleet_loop_full_ms = 50;
	until                      = sf_clock_mono_ms() + WAIT_MS;
	for (;;) {
		fleet_placement("wide-heal", "wide-59", pl, sizeof(pl));
		if (strcmp(pl, "Conflict") == 0
		    && copies_ok("wide-heal", 60, 59, "a", false)) {
			break;
		}
		if (sf_clock_mono_ms() > until) {
			sf__srv_fleet_loop_full_ms = 5000;
			copies_ok("wide-heal", 60, 59, "a", true);
			fail_msg("cluster wide-59 is %s, not Conflict", pl);
		}
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	sf__srv_fleet_loop_full_ms = 5000;
}

// i18-wide: what cannot be split is still refused. The address claims are
// written with the FleetService's record, in its first transaction: a
// FleetService on 65 clusters whose copies each ask for two addresses (an
// IPv4 and an IPv6 one, MetalLB's annotation) needs 130 claims there, more
// than etcd's 128: refused INVALID_ARGUMENT naming spec.placement and the
// bound, nothing written. LMDB has no bound.
static void
test_claims_bound(void **state)
{
	char    msg[1024];
	json_t *clusters = json_array(), *overrides = json_array();
	(void) state;
	for (int i = 60; i < 65; i++) {
		char cn[32];
		snprintf(cn, sizeof(cn), "wide-%02d", i);
		sf_replfix_register(&rf, cn);
	}
	for (int i = 0; i < 65; i++) {
		char cn[32], ips[64];
		snprintf(cn, sizeof(cn), "wide-%02d", i);
		snprintf(
		    ips, sizeof(ips), "10.65.11.%d,fd00::65:%x", i + 1, i + 1);
		json_array_append_new(clusters, json_string(cn));
		json_array_append_new(overrides,
		    json_pack("{s:[s],s:{s:{s:{s:s}}}}", "clusters", cn,
		        "patch", "metadata", "annotations",
		        "metallb.io/loadBalancerIPs", ips));
	}
	json_t *obj = json_pack(
	    "{s:s,s:s,s:{s:s,s:s},s:{s:{s:o},s:{s:{s:{s:s}},s:{s:s,s:{s:s},"
	    "s:[{s:i}]}},s:o}}",
	    "apiVersion", "svcfleet.io/v1", "kind", "FleetService", "metadata",
	    "name", "wide-claims", "namespace", "dev", "spec", "placement",
	    "clusters", clusters, "template", "metadata", "annotations",
	    "metallb.io/address-pool", "default", "spec", "type",
	    "LoadBalancer", "selector", "app", "x", "ports", "port", 80,
	    "overrides", overrides);
	assert_non_null(obj);
	sf_arena  a;
	sf_status st;
	sf_fleet *fs = NULL;
	sf_arena_init(&a);
	sf_status_init(&st);
	if (sf_model_fleet_from_manifest(obj, &a, &fs, &st) != 0) {
		fail_msg("manifest: %s", st.st_msg);
	}
	Svcfleet__V1__ApplyFleetServiceRequest rq
	    = SVCFLEET__V1__APPLY_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyFleetServiceReply *out = NULL;
	svcfleet_client *c = sf_replfix_client(&rf, 0, WAIT_MS);
	svcfleet_status  cst;
	rq.fleet_service = fs;
	svcfleet_status_init(&cst);
	int rv = svcfleet_apply_fleet_service(c, &rq, &out, &cst);
	snprintf(msg, sizeof(msg), "%s", cst.message);
	svcfleet_free(out);
	svcfleet_status_fini(&cst);
	svcfleet_close(c);
	sf_status_fini(&st);
	sf_arena_fini(&a);
	json_decref(obj);
	if (!rf.rf_etcd) {
		if (rv != 0) {
			fail_msg("130 claims on LMDB: %s", msg);
		}
		return;
	}
	if (rv != SVCFLEET_INVALID_ARGUMENT
	    || strstr(msg, "spec.placement") == NULL
	    || strstr(msg, "128") == NULL
	    || strstr(msg, "--max-txn-ops") == NULL
	    || strstr(msg, "address claims") == NULL
	    || strstr(msg, "65 clusters, 65 of them asking for 130 addresses")
	        == NULL) {
		fail_msg(
		    "130 claims on etcd: %s: %s", svcfleet_code_name(rv), msg);
	}
	assert_int_equal(fleet_get_code("wide-claims"), SVCFLEET_NOT_FOUND);
	// No copy, no claim.
	sf_service  *svc = NULL;
	sf_store_key k   = {"wide-00", "dev", "wide-claims"};
	assert_int_equal(
	    sf_store_service_get(rf.rf_srv[0]->s_store, &k, NULL, &svc),
	    SF_NOT_FOUND);
	if (svc_now(0, "wide-plain11", "east", "10.65.11.1", NULL, msg,
	        sizeof(msg))
	    != 0) {
		fail_msg("an address of the refused FleetService: %s", msg);
	}
}

// Converting a Service into a FleetService keeps its address: the claim
// passes from the Service to the FleetService (no clash with itself).
static void
test_convert_hands_claim(void **state)
{
	char msg[512];
	(void) state;
	assert_int_equal(svc_now(0, "conv-web", "east", "198.51.100.70", NULL,
	                     msg, sizeof(msg)),
	    0);
	svcfleet_client *c = sf_replfix_client(&rf, rf.rf_n - 1, WAIT_MS);
	Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__ConvertServiceRequest rq
	    = SVCFLEET__V1__CONVERT_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyFleetServiceReply *out = NULL;
	svcfleet_status                       st;
	svcfleet_status_init(&st);
	k.cluster    = "east";
	k.namespace_ = "dev";
	k.name       = "conv-web";
	rq.key       = &k;
	if (svcfleet_convert_service(c, &rq, &out, &st) != 0) {
		fail_msg("convert: %s", st.message);
	}
	svcfleet_free(out);
	svcfleet_status_fini(&st);
	svcfleet_close(c);
	refused(svc_now(0, "conv-other", "west", "198.51.100.70", NULL, msg,
	            sizeof(msg)),
	    msg, "FleetService dev/conv-web in cluster east",
	    "loadBalancerIP");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_services_claim),
	    cmocka_unit_test(test_plain_race_one_winner),
	    cmocka_unit_test(test_old_store_collision_kept),
	    cmocka_unit_test(test_txn_op_bound),
	    cmocka_unit_test(test_split_guard),
	    cmocka_unit_test(test_split_heal),
	    cmocka_unit_test(test_claims_bound),
	    cmocka_unit_test(test_convert_hands_claim),
	};
	return (cmocka_run_group_tests(tests, setup, teardown));
}
