// sec_inproc.c: see sec_util.h (svcfleetd in the test process, and the
// gate on the model's validation; shared by sec_3_queue_test and
// sec_3_fair_test, i17-turns).
#include "sec_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "model.h"
#include "ops.h"
#include "server.h"
#include "store.h"

#define ORDER         64
#define CREATE_METHOD "/svcfleet.v1.ServiceManager/CreateService"

static struct {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	bool            open;        // the gate
	bool            any;         // hold any marked Service, not only name
	char            name[32];    // the Service whose validations are held
	char            cluster[32]; // and only its copy there ("": any)
	int             budget;      // how many more may be held
	int             held;        // held now
	// Held ones take tickets in turn; sec_gate_pass_one lets the oldest
	// go (tickets below passed), the gate still closed.
	int ticket, passed;
	// Each opening ends the holds of every closing before it: a held
	// validation woken by sec_gate_open leaves even when the next test
	// closes the gate again before it runs.
	unsigned gen;
	int      validations;
	int      holds; // validations of marked Services
	int      on_writer;
	char     order[ORDER][32];
	int      norder;
} g = {.mtx = PTHREAD_MUTEX_INITIALIZER,
    .cv     = PTHREAD_COND_INITIALIZER,
    .open   = true};

static void
hook(const sf_service *svc, void *arg)
{
	(void) arg;
	pthread_mutex_lock(&g.mtx);
	g.validations++;
	if (sf_store_on_writer()) {
		g.on_writer++;
	}
	if (svc->metadata == NULL
	    || sf_model_kv_get(svc->metadata->annotations,
	           svc->metadata->n_annotations, SEC_HOLD)
	        == NULL) {
		pthread_mutex_unlock(&g.mtx);
		return;
	}
	g.holds++;
	if (g.norder < ORDER) {
		snprintf(g.order[g.norder++], sizeof(g.order[0]), "%s",
		    svc->metadata->name != NULL ? svc->metadata->name : "");
	}
	if (!g.open && g.budget > 0
	    && (g.any
	        || (svc->metadata->name != NULL
	            && strcmp(svc->metadata->name, g.name) == 0))
	    && (g.cluster[0] == '\0'
	        || (svc->metadata->cluster != NULL
	            && strcmp(svc->metadata->cluster, g.cluster) == 0))) {
		struct timespec until;
		g.budget--;
		g.held++;
		pthread_cond_broadcast(&g.cv);
		// Never forever: a broken test must still end.
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 60;
		int      t   = g.ticket++;
		unsigned gen = g.gen;
		while (!g.open && g.gen == gen && t >= g.passed
		    && pthread_cond_timedwait(&g.cv, &g.mtx, &until)
		        != ETIMEDOUT) {
		}
		g.held--;
		pthread_cond_broadcast(&g.cv); // sec_gate_close waits for 0
	}
	pthread_mutex_unlock(&g.mtx);
}

void
sec_gate_close(const char *name, int budget)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&g.mtx);
	// The holds of the last closing have left (each was let go).
	while (g.held > 0
	    && pthread_cond_timedwait(&g.cv, &g.mtx, &until) != ETIMEDOUT) {
	}
	g.open = false;
	g.any  = name == NULL;
	snprintf(g.name, sizeof(g.name), "%s", name != NULL ? name : "");
	g.cluster[0] = '\0';
	g.budget     = budget;
	g.on_writer  = 0;
	g.norder     = 0;
	pthread_mutex_unlock(&g.mtx);
}

void
sec_gate_close_at(const char *name, const char *cluster, int budget)
{
	sec_gate_close(name, budget);
	pthread_mutex_lock(&g.mtx);
	snprintf(g.cluster, sizeof(g.cluster), "%s", cluster);
	pthread_mutex_unlock(&g.mtx);
}

void
sec_gate_pass_one(int more)
{
	pthread_mutex_lock(&g.mtx);
	g.passed++;
	g.budget += more;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mtx);
}

void
sec_gate_open(void)
{
	pthread_mutex_lock(&g.mtx);
	g.open   = true;
	g.ticket = g.passed = 0;
	g.gen++;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mtx);
}

int
sec_gate_held(void)
{
	pthread_mutex_lock(&g.mtx);
	int n = g.held;
	pthread_mutex_unlock(&g.mtx);
	return (n);
}

bool
sec_gate_wait_held(int n, int wait_ms)
{
	struct timespec until;
	bool            ok;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_ms / 1000;
	pthread_mutex_lock(&g.mtx);
	while (g.held < n
	    && pthread_cond_timedwait(&g.cv, &g.mtx, &until) != ETIMEDOUT) {
	}
	ok = g.held >= n;
	pthread_mutex_unlock(&g.mtx);
	return (ok);
}

int
sec_gate_on_writer(void)
{
	pthread_mutex_lock(&g.mtx);
	int n = g.on_writer;
	pthread_mutex_unlock(&g.mtx);
	return (n);
}

int
sec_gate_holds(void)
{
	pthread_mutex_lock(&g.mtx);
	int n = g.holds;
	pthread_mutex_unlock(&g.mtx);
	return (n);
}

int
sec_gate_validations_of(const char *name)
{
	int n = 0;
	pthread_mutex_lock(&g.mtx);
	for (int i = 0; i < g.norder; i++) {
		n += strcmp(g.order[i], name) == 0;
	}
	pthread_mutex_unlock(&g.mtx);
	return (n);
}

int
sec_gate_order(char (*out)[32], int cap)
{
	int n;
	pthread_mutex_lock(&g.mtx);
	n = g.norder < cap ? g.norder : cap;
	memcpy(out, g.order, (size_t) n * sizeof(g.order[0]));
	pthread_mutex_unlock(&g.mtx);
	return (n);
}

int
sec_inproc_start(sec_inproc *p, const char *url, const char *tag,
    const char *admin_token, bool metrics)
{
	return (
	    sec_inproc_start_with(p, url, tag, admin_token, metrics, NULL));
}

int
sec_inproc_start_with(sec_inproc *p, const char *url, const char *tag,
    const char *admin_token, bool metrics, void (*tweak)(sf_server_opts *))
{
	char           tokfile[300];
	const char    *ls[] = {url};
	sf_server_opts o    = {0};
	sf_status      st;
	FILE          *f;

	memset(p, 0, sizeof(*p));
	th_tmpdir(p->si_dir, sizeof(p->si_dir) - 8, tag);
	snprintf(tokfile, sizeof(tokfile), "%s/tokens.csv", p->si_dir);
	if ((f = fopen(tokfile, "w")) == NULL) {
		return (-1);
	}
	fprintf(f, "%s,admin,1\n", admin_token);
	fclose(f);
	chmod(tokfile, 0600);
	strcat(p->si_dir, "/data");
	if (metrics && sf_metrics_alloc(&p->si_reg) != 0) {
		return (-1);
	}
	o.so_data_dir   = p->si_dir;
	o.so_listen     = ls;
	o.so_nlisten    = 1;
	o.so_token_file = tokfile;
	o.so_nosync     = true;
	o.so_metrics    = p->si_reg;
	if (tweak != NULL) {
		tweak(&o);
	}
	sf_log_set_level(SF_LOG_WARN);
	sf_model_set_validate_hook(hook, NULL);
	sf_status_init(&st);
	if (sf_server_start(&p->si_srv, &o, &st) != 0) {
		fprintf(stderr, "server: %s\n", st.st_msg);
		sf_status_fini(&st);
		return (-1);
	}
	sf_status_fini(&st);
	p->si_fx.tf_c = th_client(url, admin_token, 20000);
	return (0);
}

void
sec_inproc_stop(sec_inproc *p)
{
	sec_gate_open();
	svcfleet_close(p->si_fx.tf_c);
	svcfleet_status_fini(&p->si_fx.tf_st);
	sf_server_stop(p->si_srv);
	sf_metrics_free(p->si_reg);
	sf_model_set_validate_hook(NULL, NULL);
}

double
sec_inproc_gauge(const sec_inproc *p, const char *name)
{
	sf_buf      b = SF_BUF_INIT;
	double      v = -1;
	const char *s;
	size_t      n = strlen(name);

	assert_int_equal(sf_metrics_render(p->si_reg, &b), 0);
	for (s = sf_buf_cstr(&b); s != NULL && *s != '\0';) {
		if (strncmp(s, name, n) == 0 && s[n] == ' ') {
			v = strtod(s + n + 1, NULL);
			break;
		}
		s = strchr(s, '\n');
		s = s != NULL ? s + 1 : NULL;
	}
	sf_buf_fini(&b);
	return (v);
}

void
sec_inproc_wait_gauge(const sec_inproc *p, const char *name, double want)
{
	int64_t until = sf_clock_mono_ms() + 20000;
	double  v;
	while ((v = sec_inproc_gauge(p, name)) != want
	    && sf_clock_mono_ms() < until) {
		struct timespec ts = {0, 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (v != want) {
		sec_gate_open();
		fail_msg("%s is %g, not %g", name, v, want);
	}
}

size_t
sec_audit_count(th_fixture *fx, const char *user, const char *method)
{
	Svcfleet__V1__ListAuditEventsRequest r
	    = SVCFLEET__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
	Svcfleet__V1__ListAuditEventsReply *out = NULL;
	size_t                              n   = 0;
	r.user                                  = (char *) user;
	r.page_size                             = 1000;
	TH_MUST(svcfleet_list_audit_events(fx->tf_c, &r, &out, &fx->tf_st),
	    &fx->tf_st);
	for (size_t i = 0; i < out->n_events; i++) {
		n += strstr(out->events[i]->method, method) != NULL;
	}
	svcfleet_free(out);
	return (n);
}

void
sec_ann_fill(
    sec_ann_parts *a, Svcfleet__V1__ObjectMeta *m, size_t n, size_t vlen)
{
	a->kv    = calloc(n + 1, sizeof(*a->kv));
	a->p     = calloc(n + 1, sizeof(*a->p));
	a->keys  = calloc(n + 1, 16);
	a->value = malloc(vlen + 1);
	assert_true(a->kv != NULL && a->p != NULL && a->keys != NULL
	    && a->value != NULL);
	memset(a->value, 'v', vlen);
	a->value[vlen] = '\0';
	for (size_t i = 0; i <= n; i++) {
		svcfleet__v1__key_value__init(&a->kv[i]);
		a->kv[i].key = a->keys + 16 * i;
		if (i < n) {
			snprintf(a->kv[i].key, 16, "a%u", (unsigned) i);
			a->kv[i].value = a->value;
		} else {
			strcpy(a->kv[i].key, SEC_HOLD);
			a->kv[i].value = "";
		}
		a->p[i] = &a->kv[i];
	}
	m->annotations   = a->p;
	m->n_annotations = n + 1;
}

void
sec_ann_free(sec_ann_parts *a)
{
	free(a->kv);
	free(a->p);
	free(a->keys);
	free(a->value);
}

void
sec_send_marked(const char *url, const char *token, const char *ns,
    const char *name, size_t nann, size_t vlen, nng_socket *s)
{
	Svcfleet__V1__CreateServiceRequest r
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	sec_svc       b;
	sec_ann_parts a;
	memset(&b, 0, sizeof(b));
	r.service = sec_service(&b, "east", ns, name);
	sec_ann_fill(&a, r.service->metadata, nann, vlen);
	r.dry_run = true;
	sec_async_send(url, token, CREATE_METHOD, &r.base, 60000, s);
	sec_ann_free(&a);
}
