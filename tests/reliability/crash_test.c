// crash_test.c: SIGKILL svcfleetd at random moments under concurrent
// create/update/delete load through libsvcfleet, restart it, and check
// that nothing acknowledged was lost and nothing half-done is visible.
//
// Worker threads each own a set of Services (so the expected state of each
// is known exactly) and keep writing them: create, multi-field update (with
// the resource_version precondition), delete. Every field a write sets is
// derived from one number, the Service's "generation marker" g, so a
// Service whose fields disagree about g is a half-applied write. A call
// that returns OK is acknowledged; any other outcome (the daemon died under
// it) leaves the Service in one of two states, the old or the new.
//
// After each kill, before the restart, mdb_dump must read every database
// of the environment (it opens without repair). After the restart:
//   - every acknowledged write is there, with its resource_version;
//   - every Service is entirely the old or entirely the new version;
//   - the store revision never goes back, and is at least every
//     acknowledged resource_version;
//   - the audit log has exactly one successful entry for each write that
//     took effect (acknowledged or not) with that write's revision, and none
//     for a write that did not; it has no successful entry we did not ask
//     for;
//   - ListServices agrees with GetService.
//
//   crash_test [--cycles N] [--threads N] [--seed S] [--services N]
//              [--min-ms A --max-ms B]
// Defaults (CI): 3 cycles. tests/reliability/crash-long.sh runs 25.
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "svcfleet/svcfleet.h"

#define CLUSTER   "crash"
#define NAMESPACE "load"
#define SVC       "/svcfleet.v1.ServiceManager/"

enum op { OP_CREATE, OP_UPDATE, OP_DELETE };
static const char *const op_method[]
    = {SVC "CreateService", SVC "UpdateService", SVC "DeleteService"};
static const char *const op_name[] = {"create", "update", "delete"};

// What we know of one Service.
typedef struct model {
	char     name[32];
	bool     present;
	uint64_t rv; // resource_version when present
	uint32_t g;  // generation marker of the stored version
	// A write whose outcome is unknown (the daemon died under it).
	bool     unc;
	int      unc_op;
	uint32_t unc_g;       // marker it would have written
	size_t   unc_hist;    // its history entry
	uint32_t next_marker; // never reuse a marker
} model;

// One write call, for matching against the audit log.
typedef struct hist {
	char     rid[40];
	int      op;
	size_t   svc;
	bool     acked;    // returned OK
	uint64_t rv;       // acked create/update: the reply's revision
	bool     effect;   // took effect (acked, or resolved as applied)
	bool     resolved; // effect is known
	int      code;
	int      audit_ok; // successful audit entries seen for it
	uint64_t audit_rev;
} hist;

static struct {
	int             cycles, threads, nsvc, min_ms, max_ms;
	unsigned        seed;
	th_server       srv;
	model          *svcs;
	hist           *hist;
	size_t          nhist, caphist;
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	bool            paused;
	atomic_bool     stop;
	int             idle;
	uint64_t        last_revision; // highest revision seen so far
	uint64_t        audit_seen;    // newest audit id already checked
	// Counters for the summary.
	uint64_t acked[3], unacked, failures;
	uint64_t resolved_applied, resolved_not;
} g = {
    .cycles  = 3,
    .threads = 6,
    .nsvc    = 60,
    .min_ms  = 150,
    .max_ms  = 1200,
    .mtx     = PTHREAD_MUTEX_INITIALIZER,
    .cv      = PTHREAD_COND_INITIALIZER,
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "crash_test: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	g.failures++;
}

static void
die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "crash_test: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	th_server_kill(&g.srv);
	exit(1);
}

static uint32_t
rnd(unsigned *seed, uint32_t n)
{
	return ((uint32_t) rand_r(seed) % n);
}

// ------------------------------------------------- the Service of marker

// Every field a write sets is a function of the marker m; check_marker is
// its inverse: it reads m from the gen label and checks every other field
// against it.
typedef struct built {
	Svcfleet__V1__Service      svc;
	Svcfleet__V1__ObjectMeta   meta;
	Svcfleet__V1__ServiceSpec  spec;
	Svcfleet__V1__KeyValue     sel, lab[2], ann[2];
	Svcfleet__V1__KeyValue    *selp[1], *labp[2], *annp[2];
	Svcfleet__V1__ServicePort  port[3];
	Svcfleet__V1__ServicePort *portp[3];
	char                       gen[16], app[24], blob[2048], pname[3][16];
} built;

static size_t
nports_of(uint32_t m)
{
	return (1 + m % 3);
}

static void
blob_of(uint32_t m, char *out, size_t cap)
{
	// Large enough that a Service spans more than a few hundred bytes,
	// so a torn page would show.
	size_t n = 600 + (m % 7) * 200;
	for (size_t i = 0; i < n && i + 1 < cap; i++) {
		out[i] = (char) ('a' + (m + i) % 26);
	}
	out[n < cap ? n : cap - 1] = '\0';
}

static void
build(built *b, const char *name, uint32_t m, uint64_t rv)
{
	memset(b, 0, sizeof(*b));
	svcfleet__v1__service__init(&b->svc);
	svcfleet__v1__object_meta__init(&b->meta);
	svcfleet__v1__service_spec__init(&b->spec);
	b->meta.cluster          = CLUSTER;
	b->meta.namespace_       = NAMESPACE;
	b->meta.name             = (char *) name;
	b->meta.resource_version = rv;
	snprintf(b->gen, sizeof(b->gen), "%u", m);
	snprintf(b->app, sizeof(b->app), "app-%u", m);
	blob_of(m, b->blob, sizeof(b->blob));
	for (int i = 0; i < 2; i++) {
		svcfleet__v1__key_value__init(&b->lab[i]);
		svcfleet__v1__key_value__init(&b->ann[i]);
		b->labp[i] = &b->lab[i];
		b->annp[i] = &b->ann[i];
	}
	b->lab[0].key         = "gen";
	b->lab[0].value       = b->gen;
	b->lab[1].key         = "tier";
	b->lab[1].value       = m % 2 ? "odd" : "even";
	b->ann[0].key         = "crash.svcfleet.io/gen";
	b->ann[0].value       = b->gen;
	b->ann[1].key         = "crash.svcfleet.io/blob";
	b->ann[1].value       = b->blob;
	b->meta.labels        = b->labp;
	b->meta.n_labels      = 2;
	b->meta.annotations   = b->annp;
	b->meta.n_annotations = 2;
	svcfleet__v1__key_value__init(&b->sel);
	b->sel.key         = "app";
	b->sel.value       = b->app;
	b->selp[0]         = &b->sel;
	b->spec.selector   = b->selp;
	b->spec.n_selector = 1;
	b->spec.type       = "ClusterIP";
	b->spec.n_ports    = nports_of(m);
	b->spec.ports      = b->portp;
	for (size_t i = 0; i < b->spec.n_ports; i++) {
		svcfleet__v1__service_port__init(&b->port[i]);
		snprintf(b->pname[i], sizeof(b->pname[i]), "p%u",
		    (unsigned) i % 10);
		b->port[i].name     = b->pname[i];
		b->port[i].protocol = "TCP";
		b->port[i].port     = (int32_t) (1000 + (m * 7 + i) % 60000);
		b->port[i].target_port = (int32_t) (2000 + (m + i) % 60000);
		b->portp[i]            = &b->port[i];
	}
	if (m % 2 == 1) {
		b->spec.session_affinity        = "ClientIP";
		b->spec.session_timeout_seconds = (int32_t) (1 + m % 86000);
	}
	b->svc.metadata = &b->meta;
	b->svc.spec     = &b->spec;
}

static const char *
kv(Svcfleet__V1__KeyValue **v, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i]->key, key) == 0) {
			return (v[i]->value);
		}
	}
	return (NULL);
}

// Returns the marker of svc, or -1 (with a failure) when its fields do not
// all agree on one.
static int64_t
check_marker(const Svcfleet__V1__Service *svc)
{
	const Svcfleet__V1__ObjectMeta  *md = svc->metadata;
	const Svcfleet__V1__ServiceSpec *sp = svc->spec;
	const char *gen = md ? kv(md->labels, md->n_labels, "gen") : NULL;
	char        blob[2048], app[24], what[64] = "";
	uint32_t    m;

	if (gen == NULL || sp == NULL) {
		fail("%s: no gen label or spec", md ? md->name : "?");
		return (-1);
	}
	m = (uint32_t) strtoul(gen, NULL, 10);
	blob_of(m, blob, sizeof(blob));
	snprintf(app, sizeof(app), "app-%u", m);
	const char *a
	    = kv(md->annotations, md->n_annotations, "crash.svcfleet.io/gen");
	const char *bl
	    = kv(md->annotations, md->n_annotations, "crash.svcfleet.io/blob");
	const char *tier = kv(md->labels, md->n_labels, "tier");
	if (a == NULL || strcmp(a, gen) != 0) {
		snprintf(what, sizeof(what), "annotation gen %s", a ? a : "-");
	} else if (bl == NULL || strcmp(bl, blob) != 0) {
		snprintf(what, sizeof(what), "blob annotation");
	} else if (tier == NULL || strcmp(tier, m % 2 ? "odd" : "even")) {
		snprintf(what, sizeof(what), "tier label");
	} else if (sp->n_selector != 1
	    || strcmp(sp->selector[0]->value, app)) {
		snprintf(what, sizeof(what), "selector");
	} else if (sp->n_ports != nports_of(m)) {
		snprintf(what, sizeof(what), "%zu ports", sp->n_ports);
	} else if ((m % 2 == 1)
	        != (strcmp(sp->session_affinity, "ClientIP") == 0)
	    || (m % 2 == 1
	        && sp->session_timeout_seconds != (int32_t) (1 + m % 86000))) {
		snprintf(what, sizeof(what), "session affinity");
	} else {
		for (size_t i = 0; i < sp->n_ports; i++) {
			if (sp->ports[i]->port
			        != (int32_t) (1000 + (m * 7 + i) % 60000)
			    || sp->ports[i]->target_port
			        != (int32_t) (2000 + (m + i) % 60000)) {
				snprintf(what, sizeof(what), "port %zu", i);
			}
		}
	}
	if (what[0] != '\0') {
		fail("%s: half-applied write: gen label %s but %s disagrees",
		    md->name, gen, what);
		return (-1);
	}
	return (m);
}

// -------------------------------------------------------------- history

static uint64_t
acked_total(void)
{
	pthread_mutex_lock(&g.mtx);
	uint64_t n = g.acked[0] + g.acked[1] + g.acked[2];
	pthread_mutex_unlock(&g.mtx);
	return (n);
}

static size_t
hist_add(const char *rid, int op, size_t svc, int code, uint64_t rv)
{
	pthread_mutex_lock(&g.mtx);
	if (g.nhist == g.caphist) {
		g.caphist = g.caphist ? g.caphist * 2 : 4096;
		g.hist    = realloc(g.hist, g.caphist * sizeof(hist));
		if (g.hist == NULL) {
			abort();
		}
	}
	size_t i = g.nhist++;
	hist  *h = &g.hist[i];
	memset(h, 0, sizeof(*h));
	snprintf(h->rid, sizeof(h->rid), "%s", rid);
	h->op       = op;
	h->svc      = svc;
	h->code     = code;
	h->acked    = code == 0;
	h->rv       = rv;
	h->effect   = code == 0;
	h->resolved = code == 0;
	pthread_mutex_unlock(&g.mtx);
	return (i);
}

// ---------------------------------------------------------------- load

typedef struct worker {
	int              id;
	unsigned         seed;
	svcfleet_client *c;
} worker;

static void
wait_unpaused(void)
{
	pthread_mutex_lock(&g.mtx);
	if (g.paused) {
		g.idle++;
		pthread_cond_broadcast(&g.cv);
		while (g.paused && !atomic_load(&g.stop)) {
			pthread_cond_wait(&g.cv, &g.mtx);
		}
		g.idle--;
	}
	pthread_mutex_unlock(&g.mtx);
}

static void
do_write(worker *w, size_t i)
{
	model          *m = &g.svcs[i];
	svcfleet_status st;
	built           b;
	int             op, code;
	uint64_t        rv   = 0;
	uint32_t        mark = m->next_marker++;

	svcfleet_status_init(&st);
	if (!m->present) {
		op = OP_CREATE;
	} else {
		op = rnd(&w->seed, 10) < 7 ? OP_UPDATE : OP_DELETE;
	}
	switch (op) {
	case OP_CREATE: {
		Svcfleet__V1__CreateServiceRequest req
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;
		build(&b, m->name, mark, 0);
		req.service = &b.svc;
		code        = svcfleet_create_service(w->c, &req, &out, &st);
		if (code == 0) {
			rv = out->metadata->resource_version;
		}
		svcfleet_free(out);
		break;
	}
	case OP_UPDATE: {
		Svcfleet__V1__UpdateServiceRequest req
		    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;
		build(&b, m->name, mark, m->rv);
		req.service = &b.svc;
		code        = svcfleet_update_service(w->c, &req, &out, &st);
		if (code == 0) {
			rv = out->metadata->resource_version;
		}
		svcfleet_free(out);
		break;
	}
	default: {
		Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
		Svcfleet__V1__DeleteServiceRequest req
		    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__DeleteServiceReply *out = NULL;
		k.cluster                             = CLUSTER;
		k.namespace_                          = NAMESPACE;
		k.name                                = m->name;
		req.key                               = &k;
		req.resource_version                  = m->rv;
		code = svcfleet_delete_service(w->c, &req, &out, &st);
		if (code == 0 && !out->deleted) {
			fail("%s: delete left it marked deleting", m->name);
		}
		svcfleet_free(out);
		break;
	}
	}
	size_t h = hist_add(st.request_id, op, i, code, rv);
	pthread_mutex_lock(&g.mtx);
	if (code == 0) {
		g.acked[op]++;
		if (op == OP_DELETE) {
			m->present = false;
		} else {
			if (rv <= m->rv) {
				fail("%s: %s acknowledged with revision "
				     "%" PRIu64 " after %" PRIu64,
				    m->name, op_name[op], rv, m->rv);
			}
			m->present = true;
			m->rv      = rv;
			m->g       = mark;
		}
	} else {
		// Whatever the reason, the daemon may or may not have
		// applied it; the check after the restart decides.
		g.unacked++;
		m->unc      = true;
		m->unc_op   = op;
		m->unc_g    = mark;
		m->unc_hist = h;
		if (code != SVCFLEET_UNAVAILABLE
		    && code != SVCFLEET_DEADLINE_EXCEEDED
		    && code != SVCFLEET_CANCELLED && !g.paused) {
			fail("%s: %s failed while the daemon was up: %s: %s",
			    m->name, op_name[op], svcfleet_code_name(code),
			    st.message);
		}
	}
	pthread_mutex_unlock(&g.mtx);
	svcfleet_status_fini(&st);
}

static void *
worker_main(void *arg)
{
	worker *w = arg;

	while (!atomic_load(&g.stop)) {
		wait_unpaused();
		if (atomic_load(&g.stop)) {
			break;
		}
		// Services w->id, w->id + threads, ... belong to this worker.
		size_t per = (size_t) g.nsvc / (size_t) g.threads;
		size_t i   = (size_t) w->id
		    + (size_t) g.threads * rnd(&w->seed, (uint32_t) per);
		if (g.svcs[i].unc) {
			continue; // wait for the check to resolve it
		}
		do_write(w, i);
	}
	return (NULL);
}

// -------------------------------------------------------------- checks

static svcfleet_client *
connect_admin(uint32_t timeout_ms)
{
	svcfleet_client *c  = NULL;
	svcfleet_status  st = {0};
	svcfleet_options o  = {.url = g.srv.ts_url,
	     .token                 = g.srv.ts_token,
	     .timeout_ms            = timeout_ms,
	     .connect_now           = true};
	if (svcfleet_open(&c, &o, &st) != 0) {
		die("cannot connect: %s", st.message);
	}
	svcfleet_status_fini(&st);
	return (c);
}

static uint64_t
current_revision(svcfleet_client *c)
{
	Svcfleet__V1__Empty         e = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *v = NULL;
	svcfleet_status             st;
	uint64_t                    rev;

	svcfleet_status_init(&st);
	if (svcfleet_version(c, &e, &v, &st) != 0) {
		die("Version: %s", st.message);
	}
	rev = v->revision;
	svcfleet_free(v);
	svcfleet_status_fini(&st);
	return (rev);
}

// Resolves each Service against what the daemon has now.
static void
check_services(svcfleet_client *c)
{
	for (int i = 0; i < g.nsvc; i++) {
		model                   *m = &g.svcs[i];
		Svcfleet__V1__ServiceKey k = SVCFLEET__V1__SERVICE_KEY__INIT;
		Svcfleet__V1__GetServiceRequest req
		    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service *out = NULL;
		svcfleet_status        st;
		int                    code;
		bool                   now_present;
		uint64_t               now_rv = 0;
		int64_t                now_g  = -1;

		svcfleet_status_init(&st);
		k.cluster    = CLUSTER;
		k.namespace_ = NAMESPACE;
		k.name       = m->name;
		req.key      = &k;
		code         = svcfleet_get_service(c, &req, &out, &st);
		if (code != 0 && code != SVCFLEET_NOT_FOUND) {
			die("GetService %s: %s", m->name, st.message);
		}
		now_present = code == 0;
		if (now_present) {
			now_rv = out->metadata->resource_version;
			now_g  = check_marker(out);
		}
		svcfleet_free(out);
		svcfleet_status_fini(&st);

		bool old_ok = now_present == m->present
		    && (!now_present || (now_rv == m->rv && now_g == m->g));
		if (!m->unc) {
			if (!old_ok) {
				fail("%s: acknowledged state lost: expected "
				     "%s rv=%" PRIu64 " g=%u, found %s "
				     "rv=%" PRIu64 " g=%" PRId64,
				    m->name, m->present ? "present" : "absent",
				    m->rv, m->g,
				    now_present ? "present" : "absent", now_rv,
				    now_g);
			}
			continue;
		}
		// Unacknowledged: entirely old or entirely new.
		bool new_present = m->unc_op != OP_DELETE;
		bool new_ok      = now_present == new_present
		    && (!now_present
		        || (now_g == (int64_t) m->unc_g && now_rv > m->rv));
		hist *h     = &g.hist[m->unc_hist];
		h->resolved = true;
		if (old_ok) {
			g.resolved_not++;
			h->effect = false;
		} else if (new_ok) {
			g.resolved_applied++;
			h->effect  = true;
			h->rv      = now_rv;
			m->present = new_present;
			m->rv      = now_present ? now_rv : m->rv;
			m->g       = m->unc_g;
		} else {
			fail("%s: unacknowledged %s left neither the old "
			     "(%s rv=%" PRIu64 " g=%u) nor the new (g=%u) "
			     "state: found %s rv=%" PRIu64 " g=%" PRId64,
			    m->name, op_name[m->unc_op],
			    m->present ? "present" : "absent", m->rv, m->g,
			    m->unc_g, now_present ? "present" : "absent",
			    now_rv, now_g);
			h->effect  = now_present == new_present;
			m->present = now_present;
			m->rv      = now_rv;
			m->g       = (uint32_t) (now_g < 0 ? 0 : now_g);
		}
		m->unc = false;
	}
}

// ListServices must agree with the model (which now matches Get).
static void
check_list(svcfleet_client *c)
{
	Svcfleet__V1__ListServicesRequest req
	    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
	char   token[512] = "";
	size_t seen       = 0;
	int    want       = 0;
	for (int i = 0; i < g.nsvc; i++) {
		want += g.svcs[i].present;
	}
	req.cluster    = CLUSTER;
	req.namespace_ = NAMESPACE;
	req.page_size  = 17; // several pages
	do {
		Svcfleet__V1__ListServicesReply *r = NULL;
		svcfleet_status                  st;
		svcfleet_status_init(&st);
		req.page_token = token;
		if (svcfleet_list_services(c, &req, &r, &st) != 0) {
			die("ListServices: %s", st.message);
		}
		for (size_t i = 0; i < r->n_services; i++) {
			const Svcfleet__V1__Service *s  = r->services[i];
			int                          at = -1;
			for (int j = 0; j < g.nsvc; j++) {
				if (strcmp(g.svcs[j].name, s->metadata->name)
				    == 0) {
					at = j;
				}
			}
			int64_t mk = check_marker(s);
			if (at < 0 || !g.svcs[at].present
			    || g.svcs[at].rv != s->metadata->resource_version
			    || mk != (int64_t) g.svcs[at].g) {
				fail("ListServices shows %s rv=%" PRIu64
				     " that GetService did not",
				    s->metadata->name,
				    s->metadata->resource_version);
			}
			seen++;
		}
		snprintf(token, sizeof(token), "%s", r->next_page_token);
		svcfleet_free(r);
		svcfleet_status_fini(&st);
	} while (token[0] != '\0');
	if (seen != (size_t) want) {
		fail("ListServices returned %zu Services, GetService found %d",
		    seen, want);
	}
}

static hist *
hist_find(const char *rid)
{
	// Few thousand entries per run; a linear scan from the newest is
	// fine since audit pages come newest first.
	for (size_t i = g.nhist; i-- > 0;) {
		if (strcmp(g.hist[i].rid, rid) == 0) {
			return (&g.hist[i]);
		}
	}
	return (NULL);
}

// Reads the audit events newer than the last check (newest first) and
// matches them against the history.
static void
check_audit(svcfleet_client *c)
{
	Svcfleet__V1__ListAuditEventsRequest req
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	char     token[64] = "";
	uint64_t newest    = g.audit_seen;
	bool     done      = false;

	req.cluster   = CLUSTER;
	req.page_size = 1000;
	while (!done) {
		Svcfleet__V1__ListAuditEventsReply *r = NULL;
		svcfleet_status                     st;
		svcfleet_status_init(&st);
		req.page_token = token;
		if (svcfleet_list_audit_events(c, &req, &r, &st) != 0) {
			die("ListAuditEvents: %s", st.message);
		}
		for (size_t i = 0; i < r->n_events && !done; i++) {
			const Svcfleet__V1__AuditEvent *ev = r->events[i];
			if (ev->id <= g.audit_seen) {
				done = true;
				break;
			}
			if (ev->id > newest) {
				newest = ev->id;
			}
			if (strncmp(ev->method, SVC, strlen(SVC)) != 0) {
				continue;
			}
			hist *h = hist_find(ev->request_id);
			if (h == NULL) {
				if (ev->code == 0) {
					fail("audit event %" PRIu64
					     " (%s %s, request %s) is a write "
					     "nobody asked for",
					    ev->id, ev->method, ev->name,
					    ev->request_id);
				}
				continue;
			}
			if (strcmp(ev->method, op_method[h->op]) != 0
			    || strcmp(ev->name, g.svcs[h->svc].name) != 0) {
				fail("audit event %" PRIu64
				     " of request %s says %s %s, the request "
				     "was %s %s",
				    ev->id, h->rid, ev->method, ev->name,
				    op_method[h->op], g.svcs[h->svc].name);
			}
			if (ev->code == 0) {
				h->audit_ok++;
				h->audit_rev = ev->revision;
			}
		}
		snprintf(token, sizeof(token), "%s", r->next_page_token);
		if (token[0] == '\0') {
			done = true;
		}
		svcfleet_free(r);
		svcfleet_status_fini(&st);
	}
	g.audit_seen = newest;
}

// Every write of this cycle (the history from `from` on) must have exactly
// the audit it deserves.
static void
check_history(size_t from)
{
	for (size_t i = from; i < g.nhist; i++) {
		hist       *h    = &g.hist[i];
		const char *name = g.svcs[h->svc].name;
		if (!h->resolved) {
			fail("request %s (%s %s) was never resolved", h->rid,
			    op_name[h->op], name);
			continue;
		}
		int want = h->effect ? 1 : 0;
		if (h->audit_ok != want) {
			fail("request %s (%s %s, %s): %d successful audit "
			     "entries, want %d",
			    h->rid, op_name[h->op], name,
			    h->acked ? "acknowledged" : "unacknowledged",
			    h->audit_ok, want);
		} else if (h->effect && h->op != OP_DELETE
		    && h->audit_rev != h->rv) {
			fail("request %s (%s %s): audit revision %" PRIu64
			     ", the write has %" PRIu64,
			    h->rid, op_name[h->op], name, h->audit_rev, h->rv);
		}
	}
}

// mdb_dump reads every page of every named database: the environment a
// SIGKILL left behind must open and read as it is.
static void
check_env_readable(void)
{
	char *err = NULL;
	int   rc  = th_runf(
	       NULL, &err, "mdb_dump -a '%s' > /dev/null", g.srv.ts_data);
	if (rc != 0) {
		fail("mdb_dump cannot read the store after SIGKILL (exit %d): "
		     "%s",
		    rc, err ? err : "");
	}
	free(err);
}

// ----------------------------------------------------------------- main

static void
register_cluster(void)
{
	svcfleet_client *c = connect_admin(10000);
	svcfleet_status  st;

	svcfleet_status_init(&st);
	if (th_register_cluster(c, CLUSTER, &st) != 0) {
		die("RegisterCluster: %s", st.message);
	}
	svcfleet_status_fini(&st);
	svcfleet_close(c);
}

static void
parse_args(int argc, char **argv)
{
	g.seed = (unsigned) time(NULL) ^ (unsigned) getpid();
	for (int i = 1; i + 1 < argc; i += 2) {
		long v = strtol(argv[i + 1], NULL, 10);
		if (strcmp(argv[i], "--cycles") == 0) {
			g.cycles = (int) v;
		} else if (strcmp(argv[i], "--threads") == 0) {
			g.threads = (int) v;
		} else if (strcmp(argv[i], "--services") == 0) {
			g.nsvc = (int) v;
		} else if (strcmp(argv[i], "--seed") == 0) {
			g.seed = (unsigned) v;
		} else if (strcmp(argv[i], "--min-ms") == 0) {
			g.min_ms = (int) v;
		} else if (strcmp(argv[i], "--max-ms") == 0) {
			g.max_ms = (int) v;
		} else {
			die("unknown option %s", argv[i]);
		}
	}
	if (g.threads < 1 || g.nsvc < g.threads || g.cycles < 1
	    || g.max_ms < g.min_ms) {
		die("bad options");
	}
	g.nsvc -= g.nsvc % g.threads;
}

int
main(int argc, char **argv)
{
	pthread_t *tids;
	worker    *ws;
	unsigned   seed;

	parse_args(argc, argv);
	seed = g.seed;
	printf("crash_test: %d cycles, %d threads, %d services, seed %u\n",
	    g.cycles, g.threads, g.nsvc, g.seed);
	fflush(stdout);
	if (th_server_start(&g.srv, NULL, NULL) != 0) {
		die("svcfleetd did not start");
	}
	register_cluster();
	g.svcs = calloc((size_t) g.nsvc, sizeof(model));
	for (int i = 0; i < g.nsvc; i++) {
		snprintf(
		    g.svcs[i].name, sizeof(g.svcs[i].name), "svc-%04d", i);
		g.svcs[i].next_marker = 1;
	}
	tids = calloc((size_t) g.threads, sizeof(pthread_t));
	ws   = calloc((size_t) g.threads, sizeof(worker));
	for (int t = 0; t < g.threads; t++) {
		svcfleet_status  st = {0};
		svcfleet_options o  = {.url = g.srv.ts_url,
		     .token                 = g.srv.ts_token,
		     .timeout_ms            = 2000,
		     .connect_now           = false};
		ws[t].id            = t;
		ws[t].seed          = seed + (unsigned) t * 7919u;
		if (svcfleet_open(&ws[t].c, &o, &st) != 0) {
			die("open: %s", st.message);
		}
		pthread_create(&tids[t], NULL, worker_main, &ws[t]);
	}

	size_t from = 0;
	for (int cycle = 1; cycle <= g.cycles; cycle++) {
		uint64_t before = acked_total();
		int      ms     = g.min_ms
		    + (int) rnd(&seed, (uint32_t) (g.max_ms - g.min_ms + 1));
		usleep((useconds_t) ms * 1000);
		kill(g.srv.ts_pid, SIGKILL);
		waitpid(g.srv.ts_pid, NULL, 0);
		g.srv.ts_pid = 0;
		// Let the workers' calls end (their deadline) and park them.
		pthread_mutex_lock(&g.mtx);
		g.paused = true;
		while (g.idle < g.threads) {
			pthread_cond_wait(&g.cv, &g.mtx);
		}
		pthread_mutex_unlock(&g.mtx);
		check_env_readable();
		if (th_server_start(&g.srv, g.srv.ts_dir, NULL) != 0) {
			die("cycle %d: svcfleetd did not restart on the data "
			    "a SIGKILL left",
			    cycle);
		}
		svcfleet_client *c   = connect_admin(30000);
		uint64_t         rev = current_revision(c);
		if (rev < g.last_revision) {
			fail("cycle %d: revision went back from %" PRIu64
			     " to %" PRIu64,
			    cycle, g.last_revision, rev);
		}
		for (int i = 0; i < g.nsvc; i++) {
			if (g.svcs[i].present && g.svcs[i].rv > rev) {
				fail("cycle %d: %s acknowledged at revision "
				     "%" PRIu64 " beyond the store's %" PRIu64,
				    cycle, g.svcs[i].name, g.svcs[i].rv, rev);
			}
		}
		check_services(c);
		check_list(c);
		check_audit(c);
		check_history(from);
		from            = g.nhist;
		g.last_revision = current_revision(c);
		svcfleet_close(c);
		printf("cycle %2d: killed after %4d ms; %" PRIu64
		       " writes acknowledged this cycle; revision %" PRIu64
		       "; %" PRIu64 " unacknowledged so far (%" PRIu64
		       " applied, %" PRIu64 " not); failures %" PRIu64 "\n",
		    cycle, ms, acked_total() - before, rev, g.unacked,
		    g.resolved_applied, g.resolved_not, g.failures);
		fflush(stdout);
		if (g.failures > 0) {
			break;
		}
		pthread_mutex_lock(&g.mtx);
		g.paused = false;
		pthread_cond_broadcast(&g.cv);
		pthread_mutex_unlock(&g.mtx);
	}

	pthread_mutex_lock(&g.mtx);
	atomic_store(&g.stop, true);
	g.paused = false;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mtx);
	for (int t = 0; t < g.threads; t++) {
		pthread_join(tids[t], NULL);
		svcfleet_close(ws[t].c);
	}
	if (th_server_stop(&g.srv) != 0) {
		fail("svcfleetd did not stop cleanly");
	}
	printf("crash_test: %" PRIu64 " creates, %" PRIu64 " updates, %" PRIu64
	       " deletes acknowledged; %" PRIu64 " unacknowledged; %" PRIu64
	       " failures (seed %u)\n",
	    g.acked[0], g.acked[1], g.acked[2], g.unacked, g.failures, g.seed);
	free(g.svcs);
	free(g.hist);
	free(tids);
	free(ws);
	return (g.failures == 0 ? 0 : 1);
}
