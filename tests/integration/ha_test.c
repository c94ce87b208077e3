// ha_test: svcfleet with no single point of failure (issue 15, DESIGN.md
// §9). Three etcd members, two svcfleetd replicas started at once on them
// (--store etcd), two kubefake clusters shared by the replicas' embedded
// reconcilers through claims (issue 16, lease TTL 3 s), writers through
// libsvcfleet given both replicas' URLs, and a WatchServices follower on
// each replica. While they write, the etcd leader is killed (-9), then a
// replica whose reconciler holds a cluster: the other replica's reconciler
// takes its clusters over within TTL + 5 s; both come back. Then:
//   - the admin token was bootstrapped once (one admin.token file);
//   - every acknowledged write is present with at least its resource
//     version, no acknowledged delete has come back, and no writer call
//     failed;
//   - each successful request id has exactly one audit event;
//   - each follower saw the revisions in order, and every acknowledged
//     write's revision;
//   - each cluster holds exactly the Services stored for it.
// Exit 77 when etcd or kubefake is not available. Usage: ha_test [SECONDS
// of writing after the chaos, default 2] (tests/reliability/ha-long.sh
// runs it in a loop). HA_TEST_KEEP_LOGS set: the logs stay after a pass.
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "etcdfix.h"
#include "harness.h"
#include "kft.h"
#include "svcfleet/svcfleet.h"

#define WRITERS  2
#define OPS_MAX  4000
#define EVS_MAX  40000
#define NS       "default"
#define CLUSTERS 2
// The embedded reconcilers' lease TTL, and the same in ms.
#define LEASE_TTL    "3s"
#define LEASE_TTL_MS 3000

static const char *cluster_name[CLUSTERS] = {"east", "west"};

static int failures;
#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "ha_test: FAIL %s:%d: ", __FILE__, \
			    __LINE__);                                     \
			fprintf(stderr, __VA_ARGS__);                      \
			fprintf(stderr, "\n");                             \
			failures++;                                        \
		}                                                          \
	} while (0)

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

// ------------------------------------------------------------- replicas

typedef struct replica {
	const char *eps; // NULL: g_eps
	pid_t       pid;
	char        dir[280];
	char        url[320];
	char        log[320];
	bool        recon;
} replica;

static char g_dir[256], g_key[300], g_eps[600], g_token[128];
static char g_urls[900];

static void
replica_spawn(replica *r)
{
	char data[320];
	snprintf(data, sizeof(data), "%s/data", r->dir);
	r->pid = fork();
	if (r->pid == 0) {
		int fd = open(r->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		setenv("SVCFLEET_RECONCILER_BACKOFF_MAX", "2s", 1);
		// A killed replica's clusters move after the TTL (issue 16).
		setenv("SVCFLEET_RECONCILER_LEASE_TTL", LEASE_TTL, 1);
		const char *av[32];
		int         n       = 0;
		av[n++]             = th_bin("cmd/svcfleetd/svcfleetd");
		const char *fixed[] = {"--store", "etcd", "--etcd-endpoints",
		    r->eps != NULL ? r->eps : g_eps, "--etcd-timeout-ms",
		    "1000", "--secret-key-file", g_key, "--data-dir", data,
		    "--listen", r->url, "--http", "127.0.0.1:0", "--log-level",
		    "debug"};
		for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
			av[n++] = fixed[i];
		}
		if (!r->recon) {
			av[n++] = "--no-reconciler";
		}
		av[n] = NULL;
		execv(av[0], (char *const *) av);
		_exit(127);
	}
}

// Waits until the replica answers Version (its store is open).
static bool
replica_wait(replica *r, int ms)
{
	int64_t end = now_ms() + ms;
	while (now_ms() < end) {
		svcfleet_options o  = {.url = r->url, .timeout_ms = 1000};
		svcfleet_client *c  = NULL;
		svcfleet_status  st = {0};
		if (svcfleet_open(&c, &o, &st) == 0) {
			Svcfleet__V1__Empty e = SVCFLEET__V1__EMPTY__INIT;
			Svcfleet__V1__VersionReply *v = NULL;
			int rv = svcfleet_version(c, &e, &v, &st);
			svcfleet_free(v);
			svcfleet_close(c);
			if (rv == 0) {
				svcfleet_status_fini(&st);
				return (true);
			}
		}
		svcfleet_status_fini(&st);
		sleep_ms(50);
	}
	return (false);
}

static void
replica_kill(replica *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
		r->pid = 0;
	}
}

static int
replica_stop(replica *r)
{
	int status = 0;
	if (r->pid <= 0) {
		return (-1);
	}
	kill(r->pid, SIGTERM);
	waitpid(r->pid, &status, 0);
	r->pid = 0;
	return (WIFEXITED(status) ? WEXITSTATUS(status) : 128);
}

// -------------------------------------------------------------- writers

typedef struct op {
	char     key[64]; // cluster/name
	int      cluster;
	char     name[48];
	bool     deleted; // the acknowledged state: gone
	uint64_t rv;      // acknowledged resource version
	char     rid[40];
	// Its acknowledged delete (deleted): whether the reply said gone at
	// once, and the resource version the reply carried.
	bool     del_gone;
	uint64_t del_rv;
	char     del_rid[40];
	int64_t  del_ms; // monotonic time of the delete's ack
} op;

typedef struct writer {
	int              w_id;
	pthread_t        w_thr;
	op               w_ops[OPS_MAX]; // one per key: its acknowledged state
	int              w_nops;
	op               w_hist[OPS_MAX]; // every acknowledged call (rid, rv)
	int              w_nhist;
	int              w_failed; // calls that failed
	char             w_fail_msg[600];
	atomic_bool      w_stop;
	int              w_seq;
	int64_t          w_ack_ms[OPS_MAX]; // monotonic time of each ack
	svcfleet_client *w_c; // its handle, kept open for the check
} writer;

static void
fill_svc(Svcfleet__V1__Service *s, Svcfleet__V1__ObjectMeta *m,
    Svcfleet__V1__ServiceSpec *sp, Svcfleet__V1__KeyValue *kv,
    Svcfleet__V1__KeyValue **kvp, Svcfleet__V1__ServicePort *p,
    Svcfleet__V1__ServicePort **pp, const char *cluster, const char *name,
    int port)
{
	svcfleet__v1__service__init(s);
	svcfleet__v1__object_meta__init(m);
	svcfleet__v1__service_spec__init(sp);
	svcfleet__v1__key_value__init(kv);
	svcfleet__v1__service_port__init(p);
	m->cluster     = (char *) cluster;
	m->namespace_  = NS;
	m->name        = (char *) name;
	kv->key        = "app";
	kv->value      = "web";
	kvp[0]         = kv;
	sp->selector   = kvp;
	sp->n_selector = 1;
	p->port        = port;
	p->target_port = 8080;
	pp[0]          = p;
	sp->ports      = pp;
	sp->n_ports    = 1;
	s->metadata    = m;
	s->spec        = sp;
}

static void *
writer_main(void *arg)
{
	writer          *w = arg;
	svcfleet_options o
	    = {.url = g_urls, .token = g_token, .timeout_ms = 20000};
	svcfleet_client *c    = NULL;
	svcfleet_status  st   = {0};
	unsigned         seed = (unsigned) w->w_id * 7919u + 1;

	if (svcfleet_open(&c, &o, &st) != 0) {
		snprintf(w->w_fail_msg, sizeof(w->w_fail_msg), "open: %s",
		    st.message);
		w->w_failed++;
		return (NULL);
	}
	while (!atomic_load(&w->w_stop) && w->w_nhist < OPS_MAX) {
		Svcfleet__V1__Service     s, *out = NULL;
		Svcfleet__V1__ObjectMeta  m;
		Svcfleet__V1__ServiceSpec sp;
		Svcfleet__V1__KeyValue    kv, *kvp[1];
		Svcfleet__V1__ServicePort p, *pp[1];
		svcfleet_call_opts        co = {0};
		int                       rv, kind = (int) (rand_r(&seed) % 4);
		op                        o2   = {0};
		op                       *prev = NULL;

		// Create mostly; update or delete an earlier live one.
		if (kind > 1 && w->w_nops > 0) {
			prev = &w->w_ops[rand_r(&seed) % (unsigned) w->w_nops];
			if (prev->deleted) {
				prev = NULL;
			}
		}
		svcfleet_new_request_id(o2.rid);
		co.request_id = o2.rid;
		if (prev == NULL) {
			o2.cluster = w->w_seq % CLUSTERS;
			snprintf(o2.name, sizeof(o2.name), "w%d-%d", w->w_id,
			    w->w_seq++);
			fill_svc(&s, &m, &sp, &kv, kvp, &p, pp,
			    cluster_name[o2.cluster], o2.name, 80);
			Svcfleet__V1__CreateServiceRequest r
			    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
			r.service = &s;
			rv        = svcfleet_create_service_with(
			           c, &r, &out, &co, &st);
		} else if (kind == 2) {
			o2 = *prev;
			svcfleet_new_request_id(o2.rid);
			co.request_id = o2.rid;
			fill_svc(&s, &m, &sp, &kv, kvp, &p, pp,
			    cluster_name[o2.cluster], o2.name,
			    81 + (int) (rand_r(&seed) % 100));
			Svcfleet__V1__UpdateServiceRequest r
			    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
			r.service = &s;
			rv        = svcfleet_update_service_with(
			           c, &r, &out, &co, &st);
		} else {
			o2 = *prev;
			svcfleet_new_request_id(o2.rid);
			co.request_id = o2.rid;
			Svcfleet__V1__ServiceKey k
			    = SVCFLEET__V1__SERVICE_KEY__INIT;
			Svcfleet__V1__DeleteServiceRequest r
			    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
			Svcfleet__V1__DeleteServiceReply *dr = NULL;
			k.cluster    = (char *) cluster_name[o2.cluster];
			k.namespace_ = NS;
			k.name       = o2.name;
			r.key        = &k;
			rv           = svcfleet_delete_service_with(
			              c, &r, &dr, &co, &st);
			if (rv == 0) {
				o2.deleted  = true;
				o2.rv       = 0;
				o2.del_gone = dr != NULL && dr->deleted;
				o2.del_rv   = dr != NULL && dr->service != NULL
                                        && dr->service->metadata != NULL
				      ? dr->service->metadata->resource_version
				      : 0;
				o2.del_ms   = now_ms();
				snprintf(o2.del_rid, sizeof(o2.del_rid), "%s",
				    o2.rid);
			}
			svcfleet_free(dr);
		}
		if (rv != 0) {
			w->w_failed++;
			snprintf(w->w_fail_msg, sizeof(w->w_fail_msg),
			    "%s %s: %s: %s",
			    prev == NULL ? "create" : "change", o2.name,
			    svcfleet_code_name(rv), st.message);
			svcfleet_free(out);
			continue;
		}
		if (out != NULL) {
			o2.rv = out->metadata->resource_version;
		}
		svcfleet_free(out);
		snprintf(o2.key, sizeof(o2.key), "%s/%s",
		    cluster_name[o2.cluster], o2.name);
		if (prev != NULL) {
			*prev = o2;
		} else {
			w->w_ops[w->w_nops++] = o2;
		}
		w->w_ack_ms[w->w_nhist] = now_ms();
		w->w_hist[w->w_nhist++] = o2;
	}
	w->w_c = c; // the check reads through it: it saw these writes
	svcfleet_status_fini(&st);
	return (NULL);
}

// ------------------------------------------------------------- watchers

typedef struct watcher {
	replica    *wa_r;
	pthread_t   wa_thr;
	uint64_t   *wa_revs; // revision of each event, in order
	size_t      wa_n;
	uint64_t    wa_next; // resume from
	int         wa_relists;
	int         wa_disorder;
	atomic_bool wa_stop;
} watcher;

static void *
watcher_main(void *arg)
{
	watcher *wa = arg;

	while (!atomic_load(&wa->wa_stop)) {
		svcfleet_options o  = {.url = wa->wa_r->url,
		     .token                 = g_token,
		     .timeout_ms            = 5000};
		svcfleet_client *c  = NULL;
		svcfleet_status  st = {0};
		if (svcfleet_open(&c, &o, &st) != 0) {
			svcfleet_status_fini(&st);
			sleep_ms(100); // the replica is down: try again
			continue;
		}
		while (!atomic_load(&wa->wa_stop)) {
			Svcfleet__V1__WatchServicesRequest w
			    = SVCFLEET__V1__WATCH_SERVICES_REQUEST__INIT;
			Svcfleet__V1__WatchServicesReply *r = NULL;
			w.since_revision                    = wa->wa_next;
			w.wait_ms                           = 500;
			int rv = svcfleet_watch_services_wait(c, &w, &r, &st);
			if (rv == SVCFLEET_OUT_OF_RANGE) {
				wa->wa_relists++;
				break;
			}
			if (rv != 0) {
				break;
			}
			for (size_t i = 0; i < r->n_events; i++) {
				uint64_t rev = r->events[i]->revision;
				if (wa->wa_n > 0
				    && rev < wa->wa_revs[wa->wa_n - 1]) {
					wa->wa_disorder++;
				}
				if (wa->wa_n < EVS_MAX) {
					wa->wa_revs[wa->wa_n++] = rev;
				}
			}
			if (r->revision > wa->wa_next) {
				wa->wa_next = r->revision;
			}
			svcfleet_free(r);
		}
		svcfleet_close(c);
		svcfleet_status_fini(&st);
	}
	return (NULL);
}

static bool
watcher_saw(const watcher *wa, uint64_t rev)
{
	size_t lo = 0, hi = wa->wa_n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (wa->wa_revs[mid] < rev) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return (lo < wa->wa_n && wa->wa_revs[lo] == rev);
}

// ------------------------------------------------ across replicas (RBAC)

static svcfleet_client *
client_of(const char *url, const char *token)
{
	svcfleet_options o = {.url = url, .token = token, .timeout_ms = 10000};
	svcfleet_client *c = NULL;
	svcfleet_status  st = {0};
	if (svcfleet_open(&c, &o, &st) != 0) {
		fprintf(stderr, "ha_test: open %s: %s\n", url, st.message);
	}
	svcfleet_status_fini(&st);
	return (c);
}

// Whether c may list Services of east/default (its code).
static int
can_list(svcfleet_client *c)
{
	Svcfleet__V1__ListServicesRequest r
	    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
	Svcfleet__V1__ListServicesReply *l  = NULL;
	svcfleet_status                  st = {0};
	r.cluster                           = "east";
	r.namespace_                        = NS;
	int rv = svcfleet_list_services(c, &r, &l, &st);
	svcfleet_free(l);
	svcfleet_status_fini(&st);
	return (rv);
}

// Milliseconds until can_list(c) returns want (polled), or -1 after 5 s.
static int64_t
until_list(svcfleet_client *c, int want)
{
	int64_t t0 = now_ms();
	while (now_ms() - t0 < 5000) {
		if (can_list(c) == want) {
			return (now_ms() - t0);
		}
		sleep_ms(10);
	}
	return (-1);
}

// A token and a binding made through replica 0 work through replica 1 at
// once; the binding's removal and the token's revocation through replica
// 0 take effect on replica 1 within 1 s.
static void
check_identity_across(const replica *r)
{
	svcfleet_client *a  = client_of(r[0].url, g_token);
	svcfleet_status  st = {0};
	if (a == NULL) {
		failures++;
		return;
	}
	Svcfleet__V1__CreateTokenRequest tr
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply *tok = NULL;
	tr.user                             = "bob";
	CHECK(svcfleet_create_token(a, &tr, &tok, &st) == 0, "token: %s",
	    st.message);
	if (tok == NULL) {
		svcfleet_close(a);
		return;
	}
	svcfleet_client *b = client_of(r[1].url, tok->secret);
	// The binding cache of replica 1 is filled before the grant.
	CHECK(b != NULL && can_list(b) == SVCFLEET_PERMISSION_DENIED,
	    "bob may list before any grant");
	Svcfleet__V1__RoleBinding bd = SVCFLEET__V1__ROLE_BINDING__INIT;
	Svcfleet__V1__CreateRoleBindingRequest br
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__RoleBinding *made = NULL;
	bd.role                         = "ns-view";
	bd.user                         = "bob";
	bd.cluster                      = "east";
	bd.namespace_                   = NS;
	br.binding                      = &bd;
	CHECK(svcfleet_create_role_binding(a, &br, &made, &st) == 0,
	    "grant: %s", st.message);
	int64_t ms = b != NULL ? until_list(b, 0) : -1;
	CHECK(ms >= 0 && ms <= 1000, "the grant took %lld ms on replica 1",
	    (long long) ms);
	fprintf(stderr,
	    "ha_test: grant seen on the other replica in %lld ms\n",
	    (long long) ms);
	if (made != NULL) {
		Svcfleet__V1__DeleteRoleBindingRequest dr
		    = SVCFLEET__V1__DELETE_ROLE_BINDING_REQUEST__INIT;
		Svcfleet__V1__Empty *e = NULL;
		dr.id                  = made->id;
		CHECK(svcfleet_delete_role_binding(a, &dr, &e, &st) == 0,
		    "ungrant: %s", st.message);
		svcfleet_free(e);
		ms = b != NULL ? until_list(b, SVCFLEET_PERMISSION_DENIED)
		               : -1;
		CHECK(ms >= 0 && ms <= 1000,
		    "removing the binding took %lld ms on replica 1",
		    (long long) ms);
		fprintf(stderr,
		    "ha_test: binding removal seen on the other replica in "
		    "%lld ms\n",
		    (long long) ms);
	}
	Svcfleet__V1__RevokeTokenRequest rr
	    = SVCFLEET__V1__REVOKE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__Empty *e = NULL;
	rr.id                  = tok->token->id;
	CHECK(svcfleet_revoke_token(a, &rr, &e, &st) == 0, "revoke: %s",
	    st.message);
	svcfleet_free(e);
	ms = b != NULL ? until_list(b, SVCFLEET_UNAUTHENTICATED) : -1;
	CHECK(ms >= 0 && ms <= 1000,
	    "the revocation took %lld ms on replica 1", (long long) ms);
	svcfleet_free(made);
	svcfleet_free(tok);
	svcfleet_close(b);
	svcfleet_close(a);
	svcfleet_status_fini(&st);
}

// i15-perf (DESIGN §9): reads through a replica come from its watch-fed
// view when the caller names the newest revision it has seen, as
// libsvcfleet does. One handle with both URLs writes through replica 0
// and reads at once through replica 1, many times: every read sees the
// write (and, after a delete, never the Service as it was before it). A
// one-shot CLI read (no revision) through replica 1 right after a write
// through replica 0 sees it too: a linearizable read.
static void
check_read_your_writes(const replica *r)
{
	svcfleet_options o
	    = {.url = g_urls, .token = g_token, .timeout_ms = 10000};
	svcfleet_client *h     = NULL;
	svcfleet_status  st    = {0};
	int              stale = 0, n = 0;

	CHECK(svcfleet_open(&h, &o, &st) == 0, "open: %s", st.message);
	for (int i = 0; h != NULL && i < 40; i++) {
		Svcfleet__V1__Service     svc, *made = NULL, *got = NULL;
		Svcfleet__V1__ObjectMeta  m;
		Svcfleet__V1__ServiceSpec sp;
		Svcfleet__V1__KeyValue    kv, *kvp[1];
		Svcfleet__V1__ServicePort p, *pp[1];
		Svcfleet__V1__ServiceKey  k = SVCFLEET__V1__SERVICE_KEY__INIT;
		char                      name[32];
		Svcfleet__V1__CreateServiceRequest cr
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__GetServiceRequest gr
		    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
		Svcfleet__V1__DeleteServiceRequest dr
		    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__DeleteServiceReply *del = NULL;

		snprintf(name, sizeof(name), "ryw-%d", i);
		fill_svc(&svc, &m, &sp, &kv, kvp, &p, pp, "east", name, 80);
		cr.service = &svc;
		svcfleet_use_server(h, 0);
		if (svcfleet_create_service(h, &cr, &made, &st) != 0) {
			CHECK(false, "create %s: %s", name, st.message);
			break;
		}
		CHECK(svcfleet_seen_revision(h)
		        >= made->metadata->resource_version,
		    "the handle did not keep the write's revision");
		k.cluster    = "east";
		k.namespace_ = NS;
		k.name       = name;
		gr.key       = &k;
		svcfleet_use_server(h, 1);
		int rv = svcfleet_get_service(h, &gr, &got, &st);
		n++;
		if (rv != 0
		    || got->metadata->resource_version
		        < made->metadata->resource_version) {
			stale++;
			CHECK(false,
			    "read through replica 1 after a create: %s",
			    rv != 0 ? st.message : "an older version");
		}
		svcfleet_free(got);
		got = NULL;
		// Deleted through replica 0: replica 1 never answers with the
		// Service as it was before the delete.
		dr.key = &k;
		svcfleet_use_server(h, 0);
		CHECK(svcfleet_delete_service(h, &dr, &del, &st) == 0,
		    "delete %s: %s", name, st.message);
		svcfleet_use_server(h, 1);
		rv = svcfleet_get_service(h, &gr, &got, &st);
		n++;
		if (rv == 0 && !got->metadata->deleting) {
			stale++;
			CHECK(false,
			    "read through replica 1 after a delete: %s",
			    "the Service as it was");
		}
		svcfleet_free(got);
		svcfleet_free(del);
		svcfleet_free(made);
	}
	fprintf(stderr,
	    "ha_test: %d reads through replica 1 right after a write "
	    "through replica 0 (one handle): %d stale\n",
	    n, stale);
	// The one-shot CLI sends no revision: a linearizable read.
	for (int i = 0; h != NULL && i < 3; i++) {
		Svcfleet__V1__Service              svc, *made = NULL;
		Svcfleet__V1__ObjectMeta           m;
		Svcfleet__V1__ServiceSpec          sp;
		Svcfleet__V1__KeyValue             kv, *kvp[1];
		Svcfleet__V1__ServicePort          p, *pp[1];
		Svcfleet__V1__CreateServiceRequest cr
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		char name[32], *out = NULL;
		snprintf(name, sizeof(name), "ryw-cli-%d", i);
		fill_svc(&svc, &m, &sp, &kv, kvp, &p, pp, "east", name, 80);
		cr.service = &svc;
		svcfleet_use_server(h, 0);
		CHECK(svcfleet_create_service(h, &cr, &made, &st) == 0,
		    "create %s: %s", name, st.message);
		int rv = th_runf(&out, NULL,
		    "%s --server %s --token %s get service %s --cluster east "
		    "-n %s",
		    th_bin("client/cli/svcfleet"), r[1].url, g_token, name,
		    NS);
		CHECK(rv == 0 && out != NULL && strstr(out, name) != NULL,
		    "the CLI through replica 1 did not see %s: %s", name,
		    out != NULL ? out : "");
		free(out);
		svcfleet_free(made);
		Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
		Svcfleet__V1__DeleteServiceRequest dr
		    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__DeleteServiceReply *del = NULL;
		k.cluster                             = "east";
		k.namespace_                          = NS;
		k.name                                = name;
		dr.key                                = &k;
		CHECK(svcfleet_delete_service(h, &dr, &del, &st) == 0,
		    "delete %s: %s", name, st.message);
		svcfleet_free(del);
	}
	svcfleet_close(h);
	svcfleet_status_fini(&st);
}

// The replica's HTTP endpoint, from its log.
static bool
http_of(const replica *r, char *out, size_t cap)
{
	char *log = th_read_file(r->log, NULL), *p;
	bool  ok  = false;
	// The last start's line.
	for (char *q = log; q != NULL && (q = strstr(q, "serving http://"));
	     q++) {
		p = q;
		snprintf(out, cap, "%.*s", (int) strcspn(p + 8, " \""), p + 8);
		ok = true;
	}
	free(log);
	return (ok);
}

// GET /readyz: the HTTP status, the body into body.
static long
readyz(const char *base, char *body, size_t cap)
{
	char  cmd[600];
	char *out = NULL;
	snprintf(cmd, sizeof(cmd),
	    "curl -s -m 3 -w '\\n%%{http_code}' '%s/readyz?verbose'", base);
	th_run(cmd, NULL, &out, NULL);
	long  code = 0;
	char *nl   = out != NULL ? strrchr(out, '\n') : NULL;
	if (nl != NULL) {
		code = strtol(nl + 1, NULL, 10);
		*nl  = '\0';
	}
	snprintf(body, cap, "%s", out != NULL ? out : "");
	free(out);
	return (code);
}

// ------------------------------------------- reconciler claims (issue 16)

// What ListReconcilers says of the embedded reconciler of one svcfleetd
// process (found by its pid).
typedef struct holder {
	int  h_pid;
	bool h_live; // registered, its lease alive
	char h_id[200];
	int  h_n;         // clusters it holds
	char h_held[100]; // their names, comma-separated
} holder;

// holders_read fills h[0..1] (h_pid set by the caller) through c and
// *unowned with the number of clusters nobody holds. False when the call
// fails.
static bool
holders_read(svcfleet_client *c, holder h[2], int *unowned)
{
	Svcfleet__V1__ListReconcilersRequest rq
	    = SVCFLEET__V1__LIST_RECONCILERS_REQUEST__INIT;
	Svcfleet__V1__ListReconcilersReply *l  = NULL;
	svcfleet_status                     st = {0};
	if (svcfleet_list_reconcilers(c, &rq, &l, &st) != 0) {
		svcfleet_status_fini(&st);
		return (false);
	}
	for (int i = 0; i < 2; i++) {
		h[i].h_live    = false;
		h[i].h_id[0]   = '\0';
		h[i].h_n       = 0;
		h[i].h_held[0] = '\0';
		for (size_t k = 0; k < l->n_reconcilers; k++) {
			const Svcfleet__V1__Reconciler *m = l->reconcilers[k];
			if (m->pid != h[i].h_pid) {
				continue;
			}
			h[i].h_live = true;
			snprintf(h[i].h_id, sizeof(h[i].h_id), "%s", m->id);
			for (size_t j = 0; j < m->n_clusters; j++) {
				size_t u = strlen(h[i].h_held);
				snprintf(h[i].h_held + u,
				    sizeof(h[i].h_held) - u, "%s%s",
				    u > 0 ? "," : "", m->clusters[j]);
				h[i].h_n++;
			}
		}
	}
	*unowned = (int) l->n_unowned;
	svcfleet_free(l);
	svcfleet_status_fini(&st);
	return (true);
}

// holders_settled polls (up to ms) until both replicas' reconcilers are
// registered and every cluster is held; false when they never are.
static bool
holders_settled(svcfleet_client *c, holder h[2], int ms)
{
	int unowned = -1;
	for (int64_t end = now_ms() + ms;; sleep_ms(100)) {
		if (holders_read(c, h, &unowned) && h[0].h_live && h[1].h_live
		    && unowned == 0 && h[0].h_n + h[1].h_n == CLUSTERS) {
			return (true);
		}
		if (now_ms() >= end) {
			return (false);
		}
	}
}

// ------------------------------------------- a delete that did not hold

static writer  writers[WRITERS];
static watcher watchers[2];

static const char *
state_name(int st)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &svcfleet__v1__sync_state__descriptor, st);
	return (v != NULL ? v->name : "?");
}

// explain_deleted says why o, deleted with an acknowledgement, still
// reads (s, rv): the stored Service (deleting, finalizers, versions, who
// wrote it last and its clusters' states) against the acknowledged
// delete, the audit events of the key (status reports included) and the
// replicas' log lines that name it. Case (a): it is not marked deleting
// (the delete was lost or undone); case (b): it is, and no reconciler
// finished removing it.
static void
explain_deleted(svcfleet_client *c, const replica *r, const op *o,
    const Svcfleet__V1__Service *s)
{
	const Svcfleet__V1__ObjectMeta *m        = s->metadata;
	char                            fin[300] = "", sts[600] = "";
	svcfleet_status                 st = {0};

	for (size_t i = 0; i < m->n_finalizers; i++) {
		size_t u = strlen(fin);
		snprintf(fin + u, sizeof(fin) - u, "%s%s", u > 0 ? "," : "",
		    m->finalizers[i]);
	}
	for (size_t i = 0; i < s->n_status; i++) {
		size_t u = strlen(sts);
		snprintf(sts + u, sizeof(sts) - u,
		    "%s%s:%s gen %lld \"%.80s\"", u > 0 ? "; " : "",
		    s->status[i]->cluster, state_name(s->status[i]->state),
		    (long long) s->status[i]->observed_generation,
		    s->status[i]->message);
	}
	fprintf(stderr,
	    "ha_test: %s: case %s: deleting=%d finalizers=[%s] "
	    "resource_version=%" PRIu64 " generation=%lld updated_by=%s "
	    "spec_version=%" PRIu64 " spec_updated_by=%s spec_request_id=%s "
	    "status=[%s]; the acknowledged delete (request %s, %lld ms "
	    "before this read) answered %s at resource_version %" PRIu64 "\n",
	    o->key,
	    m->deleting ? "(b) still deleting: no reconciler removed it"
	                : "(a) not deleting: the delete was lost or undone",
	    m->deleting, fin, m->resource_version, (long long) m->generation,
	    m->updated_by, m->spec_version, m->spec_updated_by,
	    m->spec_request_id, sts, o->del_rid,
	    (long long) (now_ms() - o->del_ms),
	    o->del_gone ? "gone" : "marked deleting", o->del_rv);
	// What each replica answers to a read that names no revision (a
	// linearizable read from etcd, a new handle), and the revision the
	// read above was allowed to be served at (the handle's).
	fprintf(stderr,
	    "ha_test:   %s: the read above named revision %" PRIu64 "\n",
	    o->key, svcfleet_seen_revision(c));
	for (int i = 0; i < 2; i++) {
		svcfleet_client         *one = client_of(r[i].url, g_token);
		Svcfleet__V1__ServiceKey k   = SVCFLEET__V1__SERVICE_KEY__INIT;
		Svcfleet__V1__GetServiceRequest g
		    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *now = NULL;
		k.cluster                  = (char *) cluster_name[o->cluster];
		k.namespace_               = NS;
		k.name                     = (char *) o->name;
		g.key                      = &k;
		int rv = one != NULL ? svcfleet_get_service(one, &g, &now, &st)
		                     : SVCFLEET_UNAVAILABLE;
		fprintf(stderr,
		    "ha_test:   %s: replica %d, linearizable read: %s%s%s, "
		    "resource_version %" PRIu64 "\n",
		    o->key, i, svcfleet_code_name(rv),
		    rv == 0 && now->metadata->deleting ? ", deleting" : "",
		    rv != 0 && rv != SVCFLEET_NOT_FOUND ? st.message : "",
		    rv == 0 ? now->metadata->resource_version : 0);
		svcfleet_free(now);
		svcfleet_close(one);
	}
	// The key's audit events, status reports included.
	Svcfleet__V1__ListAuditEventsRequest ar
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	Svcfleet__V1__ListAuditEventsReply *a = NULL;
	ar.cluster        = (char *) cluster_name[o->cluster];
	ar.namespace_     = NS;
	ar.name           = (char *) o->name;
	ar.include_system = true;
	ar.page_size      = 100;
	if (svcfleet_list_audit_events(c, &ar, &a, &st) == 0) {
		for (size_t i = 0; i < a->n_events; i++) {
			const Svcfleet__V1__AuditEvent *e = a->events[i];
			fprintf(stderr,
			    "ha_test:   audit %s: revision %" PRIu64
			    " %s by %s, code %d, request %s%s%.120s\n",
			    o->key, e->revision, e->method, e->user, e->code,
			    e->request_id, e->message[0] != '\0' ? ": " : "",
			    e->message);
		}
	} else {
		fprintf(stderr, "ha_test:   audit of %s: %s\n", o->key,
		    st.message);
	}
	svcfleet_free(a);
	svcfleet_status_fini(&st);
	// What the replicas logged about it: lines naming it (the
	// reconcilers) or carrying a request id of its acknowledged calls,
	// and the reconcilers' claims and refused reports.
	char rids[64][40];
	int  nr = 0;
	for (int wi = 0; wi < WRITERS; wi++) {
		for (int i = 0; i < writers[wi].w_nhist && nr < 64; i++) {
			const op *h = &writers[wi].w_hist[i];
			if (strcmp(h->key, o->key) == 0) {
				fprintf(stderr,
				    "ha_test:   acknowledged %s: request %s, "
				    "resource_version %" PRIu64 "\n",
				    h->deleted ? "delete" : "write", h->rid,
				    h->rv);
				snprintf(rids[nr++], 40, "%s", h->rid);
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		char *log = th_read_file(r[i].log, NULL), *line, *save = NULL;
		char  pat[80];
		int   n = 0;
		snprintf(pat, sizeof(pat), "/%s", o->name);
		for (line = log != NULL ? strtok_r(log, "\n", &save) : NULL;
		     line != NULL && n < 80;
		     line = strtok_r(NULL, "\n", &save)) {
			const char *p   = strstr(line, pat);
			bool        hit = p != NULL
			    && !(p[strlen(pat)] >= '0'
			        && p[strlen(pat)] <= '9');
			for (int k = 0; !hit && k < nr; k++) {
				hit = strstr(line, rids[k]) != NULL;
			}
			// Claims moving, and reports refused (a refused
			// ReportStatuses holds back finalizer removals).
			hit = hit || strstr(line, "mod=claims") != NULL
			    || strstr(line, "claimed cluster") != NULL
			    || strstr(line, "ReportStatuses (") != NULL;
			if (hit) {
				fprintf(stderr, "ha_test:   r%d.log: %.300s\n",
				    i, line);
				n++;
			}
		}
		free(log);
	}
}

// ----------------------------------------------------------------- main

int
main(int argc, char **argv)
{
	sf_etcdfix     *ef = NULL;
	sf_etcdfix_opts eo = {.eo_members = 3};
	replica         r[2];
	kft             kf[CLUSTERS];
	int             extra_s = argc > 1 ? atoi(argv[1]) : 2;
	char           *out     = NULL;

	signal(SIGPIPE, SIG_IGN);
	if (!sf_etcdfix_available()) {
		fprintf(stderr, "ha_test: etcd is not installed: skipped\n");
		return (77);
	}
	memset(kf, 0, sizeof(kf));
	memset(r, 0, sizeof(r));
	th_tmpdir(g_dir, sizeof(g_dir), "ha");
	if (sf_etcdfix_start(&ef, &eo) != 0) {
		return (1);
	}
	snprintf(g_eps, sizeof(g_eps), "%s", sf_etcdfix_endpoints(ef));
	snprintf(g_key, sizeof(g_key), "%s/secret.key", g_dir);
	if (th_runf(NULL, NULL,
	        "head -c 32 /dev/urandom | base64 > %s && chmod 600 %s", g_key,
	        g_key)
	    != 0) {
		return (1);
	}
	for (int i = 0; i < 2; i++) {
		snprintf(r[i].dir, sizeof(r[i].dir), "%.256s/r%d", g_dir, i);
		mkdir(r[i].dir, 0700);
		snprintf(r[i].url, sizeof(r[i].url), "ipc://%.256s/r%d/s.sock",
		    g_dir, i);
		snprintf(
		    r[i].log, sizeof(r[i].log), "%.256s/r%d.log", g_dir, i);
		r[i].recon = true; // both reconcile, sharing the clusters
	}
	snprintf(g_urls, sizeof(g_urls), "%s,%s", r[0].url, r[1].url);

	// etcd unreachable at start: the replica serves /readyz false naming
	// the endpoints, and keeps trying (it is still running).
	{
		replica dead      = {0};
		char    base[200] = "", body[2048] = "";
		long    code = 0;
		dead.eps     = "http://127.0.0.1:1";
		snprintf(dead.dir, sizeof(dead.dir), "%.256s/dead", g_dir);
		snprintf(dead.url, sizeof(dead.url),
		    "ipc://%.256s/dead/s.sock", g_dir);
		snprintf(dead.log, sizeof(dead.log), "%.256s/dead.log", g_dir);
		mkdir(dead.dir, 0700);
		replica_spawn(&dead);
		for (int64_t end = now_ms() + 10000;
		     now_ms() < end && code != 503; sleep_ms(50)) {
			if (base[0] != '\0'
			    || http_of(&dead, base, sizeof(base))) {
				code = readyz(base, body, sizeof(body));
			}
		}
		CHECK(
		    code == 503 && strstr(body, "http://127.0.0.1:1") != NULL,
		    "etcd unreachable at start: /readyz %ld: %s", code, body);
		CHECK(waitpid(dead.pid, NULL, WNOHANG) == 0,
		    "svcfleetd gave up on an unreachable etcd");
		replica_kill(&dead);
	}

	// Both replicas start at once on the empty etcd.
	replica_spawn(&r[0]);
	replica_spawn(&r[1]);
	CHECK(replica_wait(&r[0], 20000) && replica_wait(&r[1], 20000),
	    "the replicas did not start (logs in %s)", g_dir);
	int ntok = 0;
	for (int i = 0; i < 2; i++) {
		char  path[400];
		char *t;
		snprintf(path, sizeof(path), "%s/data/admin.token", r[i].dir);
		if ((t = th_read_file(path, NULL)) != NULL) {
			ntok++;
			snprintf(g_token, sizeof(g_token), "%.*s",
			    (int) strcspn(t, "\r\n"), t);
			free(t);
		}
	}
	CHECK(ntok == 1, "%d admin.token files, want exactly 1", ntok);
	if (failures > 0) {
		goto out;
	}

	// Clusters, registered through the multi-URL client.
	svcfleet_options mo
	    = {.url = g_urls, .token = g_token, .timeout_ms = 20000};
	svcfleet_client *mc = NULL;
	svcfleet_status  st = {0};
	CHECK(svcfleet_open(&mc, &mo, &st) == 0, "open: %s", st.message);
	for (int i = 0; i < CLUSTERS && failures == 0; i++) {
		size_t ca_len = 0;
		char   tokpath[400];
		if (kft_start(&kf[i], NULL) != 0) {
			fprintf(stderr, "ha_test: kubefake did not start\n");
			failures++;
			break;
		}
		char                 *ca = th_read_file(kf[i].k_ca, &ca_len);
		Svcfleet__V1__Cluster cl = SVCFLEET__V1__CLUSTER__INIT;
		Svcfleet__V1__RegisterClusterRequest rq
		    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
		Svcfleet__V1__Cluster *co = NULL;
		cl.name                   = (char *) cluster_name[i];
		cl.api_server             = kf[i].k_url;
		cl.ca_data.data           = (uint8_t *) ca;
		cl.ca_data.len            = ca_len;
		cl.token                  = KFT_TOKEN;
		rq.cluster                = &cl;
		(void) tokpath;
		CHECK(svcfleet_register_cluster(mc, &rq, &co, &st) == 0,
		    "register %s: %s", cluster_name[i], st.message);
		svcfleet_free(co);
		free(ca);
	}
	if (failures > 0) {
		goto out;
	}

	check_identity_across(r);
	check_read_your_writes(r); // i15-perf

	// Both embedded reconcilers registered and split the clusters.
	holder hold[2] = {{.h_pid = r[0].pid}, {.h_pid = r[1].pid}};
	CHECK(holders_settled(mc, hold, 15000),
	    "the reconcilers did not register and claim every cluster: "
	    "replica 0's %s (%s), replica 1's %s (%s)",
	    hold[0].h_live ? "registered" : "missing", hold[0].h_held,
	    hold[1].h_live ? "registered" : "missing", hold[1].h_held);
	for (int i = 0; i < 2; i++) {
		fprintf(stderr,
		    "ha_test: replica %d's reconciler %s holds [%s]\n", i,
		    hold[i].h_id, hold[i].h_held);
	}

	// Followers from the current revision.
	Svcfleet__V1__ListServicesRequest lr
	    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
	Svcfleet__V1__ListServicesReply *l = NULL;
	CHECK(svcfleet_list_services(mc, &lr, &l, &st) == 0, "list: %s",
	    st.message);
	uint64_t start_rev = l != NULL ? l->revision : 0;
	svcfleet_free(l);
	for (int i = 0; i < 2; i++) {
		watchers[i].wa_r    = &r[i];
		watchers[i].wa_next = start_rev;
		watchers[i].wa_revs = calloc(EVS_MAX, sizeof(uint64_t));
		pthread_create(
		    &watchers[i].wa_thr, NULL, watcher_main, &watchers[i]);
	}
	for (int i = 0; i < WRITERS; i++) {
		writers[i].w_id = i;
		pthread_create(
		    &writers[i].w_thr, NULL, writer_main, &writers[i]);
	}

	// Chaos: the etcd leader, then a replica; both come back.
	sleep_ms(1500);
	int leader = sf_etcdfix_leader(ef, 5000);
	CHECK(leader >= 0, "no etcd leader");
	int64_t t_kill = now_ms();
	if (leader >= 0) {
		sf_etcdfix_kill(ef, leader);
	}
	sleep_ms(2500);
	// The replica killed is one whose reconciler holds a cluster:
	// replica 0 unless rendezvous hashing gave both to replica 1.
	CHECK(holders_settled(mc, hold, 5000),
	    "before the replica's kill, not every cluster is held");
	int v = hold[0].h_n > 0 ? 0 : 1, keep_r = 1 - v;
	fprintf(stderr,
	    "ha_test: killing replica %d, whose reconciler %s holds [%s]; "
	    "replica %d's %s holds [%s]\n",
	    v, hold[v].h_id, hold[v].h_held, keep_r, hold[keep_r].h_id,
	    hold[keep_r].h_held);
	// Its lease outlives it by up to the TTL: what it held at its death
	// is still listed, through the replica that stays up, asked through
	// a connection made before the kill and before the dead one is
	// reaped (reaped and connected first, on a loaded machine the first
	// listing came 4.9 s after the kill, past the TTL: 5 of ~170 runs).
	svcfleet_client *sc       = client_of(r[keep_r].url, g_token);
	int64_t          t_kill_r = now_ms();
	kill(r[v].pid, SIGKILL);
	holder dead[2] = {{.h_pid = hold[v].h_pid}, {.h_pid = r[keep_r].pid}};
	int    unowned = -1;
	bool   listed  = false;
	for (int64_t end = now_ms() + 1000; sc != NULL && now_ms() < end;
	     sleep_ms(20)) {
		if ((listed = holders_read(sc, dead, &unowned))) {
			break;
		}
	}
	CHECK(listed && dead[0].h_live && dead[0].h_n >= 1,
	    "the killed replica's reconciler held no cluster at its death "
	    "(%s, [%s], %lld ms after the kill)",
	    !listed              ? "ListReconcilers failed"
	        : dead[0].h_live ? "listed"
	                         : "not listed",
	    dead[0].h_held, (long long) (now_ms() - t_kill_r));
	replica_kill(&r[v]); // reaped
	// The other reconciler takes every cluster over within TTL + 5 s.
	int64_t takeover = -1;
	for (int64_t end = t_kill_r + LEASE_TTL_MS + 5000;
	     sc != NULL && now_ms() < end; sleep_ms(100)) {
		if (holders_read(sc, dead, &unowned) && !dead[0].h_live
		    && unowned == 0 && dead[1].h_n == CLUSTERS) {
			takeover = now_ms() - t_kill_r;
			break;
		}
	}
	CHECK(takeover >= 0,
	    "replica %d's reconciler did not take over within %d ms: dead "
	    "one %s, survivor holds [%s], %d unowned",
	    keep_r, LEASE_TTL_MS + 5000,
	    dead[0].h_live ? "still listed" : "gone", dead[1].h_held, unowned);
	fprintf(stderr,
	    "ha_test: reconciler takeover (kill -9 to replica %d's "
	    "reconciler, which held [%s]; replica %d's holds every cluster "
	    "after, lease TTL %s): %lld ms\n",
	    v, hold[v].h_held, keep_r, LEASE_TTL, (long long) takeover);
	svcfleet_close(sc);
	if (leader >= 0) {
		CHECK(sf_etcdfix_restart(ef, leader) == 0,
		    "etcd member %d did not restart", leader);
	}
	replica_spawn(&r[v]);
	CHECK(replica_wait(&r[v], 20000), "replica %d did not restart", v);
	sleep_ms(extra_s * 1000);
	for (int i = 0; i < WRITERS; i++) {
		atomic_store(&writers[i].w_stop, true);
		pthread_join(writers[i].w_thr, NULL);
	}
	int64_t t_chaos = now_ms() - t_kill;
	// Failover: from each kill to the next acknowledged write of each
	// writer (both URLs); the worst of the writers.
	int64_t fo_etcd = 0, fo_rep = 0;
	for (int wi = 0; wi < WRITERS; wi++) {
		int64_t e = -1, rp = -1;
		for (int i = 0; i < writers[wi].w_nhist; i++) {
			int64_t t = writers[wi].w_ack_ms[i];
			if (e < 0 && t > t_kill) {
				e = t - t_kill;
			}
			if (rp < 0 && t > t_kill_r) {
				rp = t - t_kill_r;
			}
		}
		fo_etcd = e > fo_etcd ? e : fo_etcd;
		fo_rep  = rp > fo_rep ? rp : fo_rep;
	}
	fprintf(stderr,
	    "ha_test: failover (kill -9 to the next acknowledged write, worst "
	    "writer): etcd leader %lld ms, svcfleetd replica %lld ms\n",
	    (long long) fo_etcd, (long long) fo_rep);

	// Every acknowledged state is there; deletes stay deleted. Each
	// writer's Services are read through its own handle (DESIGN §9: a
	// read never returns older data than a write the same caller saw
	// acknowledged). A handle that has not seen the writes (mc: the
	// clusters' registration) may be answered from a replica whose view
	// has not yet brought the last writes made through the other (even
	// a linearizable read's answer names a revision no newer than its
	// replica's view, seen 7 behind the last acknowledgement right after
	// the writers stopped); how often its reads were older is said, not
	// checked.
	int      nacked = 0, n_del_wait = 0, n_old = 0, n_read = 0;
	int64_t  del_wait_max = 0;
	uint64_t max_rv = 0, mc_seen = svcfleet_seen_revision(mc);
	for (int wi = 0; wi < WRITERS; wi++) {
		writer          *w  = &writers[wi];
		svcfleet_client *ck = w->w_c;
		CHECK(w->w_failed == 0, "writer %d: %d calls failed; last: %s",
		    wi, w->w_failed, w->w_fail_msg);
		for (int i = 0; i < w->w_nhist; i++) {
			nacked++;
			if (w->w_hist[i].rv > max_rv) {
				max_rv = w->w_hist[i].rv;
			}
		}
		for (int i = 0; i < w->w_nops; i++) {
			op                      *o = &w->w_ops[i];
			Svcfleet__V1__ServiceKey k
			    = SVCFLEET__V1__SERVICE_KEY__INIT;
			Svcfleet__V1__GetServiceRequest g
			    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
			Svcfleet__V1__Service *s = NULL;
			k.cluster    = (char *) cluster_name[o->cluster];
			k.namespace_ = NS;
			k.name       = o->name;
			g.key        = &k;
			// The same read through mc, first: older or not?
			int rv = svcfleet_get_service(mc, &g, &s, &st);
			n_read++;
			n_old += o->deleted
			    ? rv == 0 && !s->metadata->deleting
			    : rv != 0 || s->metadata->resource_version < o->rv;
			svcfleet_free(s);
			s              = NULL;
			rv             = svcfleet_get_service(ck, &g, &s, &st);
			int64_t t_read = now_ms();
			n_del_wait
			    += o->deleted && rv == 0 && s->metadata->deleting;
			// A deleted Service the reconciler has applied stays,
			// marked deleting, until it is gone from its cluster.
			for (int64_t end = now_ms() + 20000; o->deleted
			     && rv == 0 && s->metadata->deleting
			     && now_ms() < end;) {
				svcfleet_free(s);
				s = NULL;
				sleep_ms(100);
				rv = svcfleet_get_service(ck, &g, &s, &st);
			}
			if (now_ms() - t_read > del_wait_max) {
				del_wait_max = now_ms() - t_read;
			}
			if (o->deleted) {
				CHECK(rv == SVCFLEET_NOT_FOUND,
				    "%s was deleted (acknowledged) but reads "
				    "%s",
				    o->key, svcfleet_code_name(rv));
				if (rv == 0) {
					explain_deleted(ck, r, o, s);
				}
			} else {
				CHECK(rv == 0, "%s: %s", o->key, st.message);
				CHECK(rv != 0
				        || s->metadata->resource_version
				            >= o->rv,
				    "%s: resource_version %" PRIu64
				    " < acknowledged %" PRIu64,
				    o->key,
				    rv == 0 ? s->metadata->resource_version
				            : 0,
				    o->rv);
			}
			svcfleet_free(s);
		}
	}

	fprintf(stderr,
	    "ha_test: %d deleted Services still deleting at the check, the "
	    "longest gone after %lld ms; %d of %d reads through a handle "
	    "that had seen revision %" PRIu64
	    " (not the writes, up to %" PRIu64
	    ") answered older than the acknowledged state\n",
	    n_del_wait, (long long) del_wait_max, n_old, n_read, mc_seen,
	    max_rv);
	for (int wi = 0; wi < WRITERS; wi++) {
		svcfleet_close(writers[wi].w_c);
		writers[wi].w_c = NULL;
	}

	// One audit event per acknowledged request id.
	{
		size_t cap = 0, n = 0;
		char(*rids)[40] = NULL;
		Svcfleet__V1__ListAuditEventsRequest ar
		    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
		char tok[512] = "";
		ar.page_size  = 1000;
		for (;;) {
			Svcfleet__V1__ListAuditEventsReply *a = NULL;
			ar.page_token                         = tok;
			if (svcfleet_list_audit_events(mc, &ar, &a, &st)
			    != 0) {
				CHECK(false, "audit: %s", st.message);
				break;
			}
			for (size_t i = 0; i < a->n_events; i++) {
				if (a->events[i]->code != 0) {
					continue;
				}
				if (n == cap) {
					cap  = cap ? cap * 2 : 1024;
					rids = realloc(
					    rids, cap * sizeof(*rids));
				}
				snprintf(rids[n++], 40, "%s",
				    a->events[i]->request_id);
			}
			snprintf(tok, sizeof(tok), "%s", a->next_page_token);
			svcfleet_free(a);
			if (tok[0] == '\0') {
				break;
			}
		}
		for (int wi = 0; wi < WRITERS; wi++) {
			for (int i = 0; i < writers[wi].w_nhist; i++) {
				const char *rid = writers[wi].w_hist[i].rid;
				int         cnt = 0;
				for (size_t j = 0; j < n; j++) {
					cnt += strcmp(rids[j], rid) == 0;
				}
				CHECK(cnt == 1,
				    "request %s: %d successful audit events, "
				    "want 1",
				    rid, cnt);
			}
		}
		free(rids);
	}

	// The followers reach the last write and saw every acknowledged one.
	for (int i = 0; i < 2; i++) {
		int64_t end = now_ms() + 15000;
		while (now_ms() < end && watchers[i].wa_next < max_rv) {
			sleep_ms(50);
		}
		atomic_store(&watchers[i].wa_stop, true);
		pthread_join(watchers[i].wa_thr, NULL);
		CHECK(watchers[i].wa_disorder == 0,
		    "follower %d: %d events out of order", i,
		    watchers[i].wa_disorder);
		CHECK(watchers[i].wa_relists == 0, "follower %d relisted", i);
		int missed = 0;
		for (int wi = 0; wi < WRITERS; wi++) {
			for (int k = 0; k < writers[wi].w_nhist; k++) {
				uint64_t rv = writers[wi].w_hist[k].rv;
				if (rv != 0
				    && !watcher_saw(&watchers[i], rv)) {
					missed++;
				}
			}
		}
		CHECK(missed == 0, "follower %d missed %d acknowledged writes",
		    i, missed);
	}

	// Each cluster converges to what is stored for it.
	for (int ci = 0; ci < CLUSTERS; ci++) {
		int  want = 0, have = -1;
		bool same = false;
		for (int wi = 0; wi < WRITERS; wi++) {
			for (int i = 0; i < writers[wi].w_nops; i++) {
				op *o = &writers[wi].w_ops[i];
				want += !o->deleted && o->cluster == ci;
			}
		}
		int64_t end = now_ms() + 30000;
		while (!same && now_ms() < end) {
			kft_resp kr = {0};
			have        = -1;
			if (kft_do(&kf[ci], "GET",
			        "/api/v1/namespaces/" NS "/services", NULL,
			        NULL, &kr)
			        == CURLE_OK
			    && kr.r_json != NULL) {
				have          = 0;
				json_t *items = kft_jget(kr.r_json, "items");
				size_t  idx;
				json_t *it;
				json_array_foreach(items, idx, it)
				{
					const char *nm
					    = kft_jstr(it, "metadata.name");
					have += nm != NULL && nm[0] == 'w';
				}
			}
			kft_resp_fini(&kr);
			same = have == want;
			if (!same) {
				sleep_ms(200);
			}
		}
		CHECK(same, "cluster %s holds %d Services, %d stored",
		    cluster_name[ci], have, want);
	}
	// Quorum lost: /readyz fails with the reason, within a few seconds;
	// a write fails (UNAVAILABLE or its deadline) and leaves nothing.
	{
		char base[200], body[4096];
		CHECK(http_of(&r[1], base, sizeof(base)), "no HTTP endpoint");
		CHECK(readyz(base, body, sizeof(body)) == 200, "not ready: %s",
		    body);
		int keep = sf_etcdfix_leader(ef, 5000);
		for (int i = 0; i < 3; i++) {
			if (i != keep) {
				sf_etcdfix_kill(ef, i);
			}
		}
		long    code = 0;
		int64_t end  = now_ms() + 10000;
		while (now_ms() < end
		    && (code = readyz(base, body, sizeof(body))) != 503) {
			sleep_ms(100);
		}
		CHECK(code == 503 && strstr(body, "etcd") != NULL,
		    "without quorum /readyz says %ld: %s", code, body);
		fprintf(stderr, "ha_test: without quorum: %s\n", body);
		Svcfleet__V1__Service     sv, *o = NULL;
		Svcfleet__V1__ObjectMeta  m;
		Svcfleet__V1__ServiceSpec sp;
		Svcfleet__V1__KeyValue    kv, *kvp[1];
		Svcfleet__V1__ServicePort p, *pp[1];
		svcfleet_call_opts        co = {.timeout_ms = 3000};
		fill_svc(
		    &sv, &m, &sp, &kv, kvp, &p, pp, "east", "noquorum", 80);
		Svcfleet__V1__CreateServiceRequest cr
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		cr.service = &sv;
		int rv = svcfleet_create_service_with(mc, &cr, &o, &co, &st);
		svcfleet_free(o);
		CHECK(rv == SVCFLEET_UNAVAILABLE
		        || rv == SVCFLEET_DEADLINE_EXCEEDED,
		    "a write without quorum: %s", svcfleet_code_name(rv));
		for (int i = 0; i < 3; i++) {
			if (i != keep) {
				CHECK(sf_etcdfix_restart(ef, i) == 0,
				    "member %d did not restart", i);
			}
		}
		end = now_ms() + 15000;
		while (now_ms() < end
		    && (code = readyz(base, body, sizeof(body))) != 200) {
			sleep_ms(100);
		}
		CHECK(code == 200, "quorum back, /readyz: %s", body);
	}
	fprintf(stderr,
	    "ha_test: %d acknowledged writes (max revision %" PRIu64
	    "), followers saw %zu and %zu events, chaos phase %.1f s\n",
	    nacked, max_rv, watchers[0].wa_n, watchers[1].wa_n,
	    (double) t_chaos / 1000.0);
	svcfleet_close(mc);
	svcfleet_status_fini(&st);

out:
	for (int i = 0; i < 2; i++) {
		if (r[i].pid > 0) {
			CHECK(replica_stop(&r[i]) == 0,
			    "replica %d did not stop cleanly", i);
		}
	}
	for (int i = 0; i < CLUSTERS; i++) {
		if (kf[i].k_pid > 0) {
			kft_stop(&kf[i]);
		}
		kft_cleanup(&kf[i]);
	}
	sf_etcdfix_stop(ef);
	free(watchers[0].wa_revs);
	free(watchers[1].wa_revs);
	if (failures == 0) {
		if (getenv("HA_TEST_KEEP_LOGS") == NULL) {
			th_runf(&out, NULL, "rm -rf %s", g_dir);
			free(out);
		}
		fprintf(stderr, "ha_test: passed\n");
		return (0);
	}
	fprintf(stderr, "ha_test: %d failures; logs kept in %s\n", failures,
	    g_dir);
	return (1);
}
