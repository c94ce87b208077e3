// recon_util.c: see recon_util.h.
#include "recon_util.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

// What rt_teardown cleans up after a failed test. A failed assertion leaves
// the test function by longjmp, and the teardown's own frames reuse the
// stack the test's rt_env was on (it crashed reading it), so the harness
// keeps a copy, refreshed by every rt_* call that may follow a change.
static rt_env live_copy;
static bool   live;

static void
track(const rt_env *e)
{
	live_copy = *e;
	live      = true;
}

void
rt_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
connect_client(rt_env *e)
{
	svcfleet_options o = {.url = e->re_srv.ts_url,
	    .token                 = e->re_srv.ts_token,
	    .timeout_ms            = 10000,
	    .connect_now           = true};
	svcfleet_status_init(&e->re_st);
	if (svcfleet_open(&e->re_cli, &o, &e->re_st) != 0) {
		fail_msg("cannot connect to svcfleetd: %s", e->re_st.message);
	}
}

void
rt_start(rt_env *e, bool reconciler)
{
	memset(e, 0, sizeof(*e));
	track(e);
	// Tests want quick retries; the embedded reconciler reads these.
	setenv("SVCFLEET_RECONCILER_BACKOFF_MAX", "2s", 1);
	// Tests read /metrics without a token (the default asks for one).
	setenv("SVCFLEETD_METRICS", "public", 1);
	e->re_srv.ts_reconciler = reconciler;
	assert_int_equal(th_server_start(&e->re_srv, NULL, NULL), 0);
	track(e);
	snprintf(e->re_tokfile, sizeof(e->re_tokfile), "%s/cluster.token",
	    e->re_srv.ts_dir);
	assert_int_equal(th_write_file(e->re_tokfile, KFT_TOKEN), 0);
	connect_client(e);
	track(e);
}

void
rt_restart(rt_env *e, bool hard)
{
	svcfleet_close(e->re_cli);
	e->re_cli = NULL;
	svcfleet_status_fini(&e->re_st);
	track(e);
	if (hard) {
		th_server_kill(&e->re_srv);
	} else {
		assert_int_equal(th_server_stop(&e->re_srv), 0);
	}
	track(e);
	assert_int_equal(
	    th_server_start(&e->re_srv, e->re_srv.ts_dir, NULL), 0);
	connect_client(e);
	track(e);
}

void
rt_cluster(rt_env *e, int i, const char *name, const char *const *extra)
{
	assert_true(i < RT_MAX_CLUSTERS);
	if (kft_start(&e->re_kf[i], extra) != 0) {
		fail_msg("kubefake %d did not start", i);
	}
	if (i >= e->re_nkf) {
		e->re_nkf = i + 1;
	}
	snprintf(e->re_name[i], sizeof(e->re_name[i]), "%s", name);
	track(e);
	free(rt_cli(e, NULL,
	    "cluster add %s --api-server %s --ca-file %s --cluster-token-file "
	    "%s",
	    name, e->re_kf[i].k_url, e->re_kf[i].k_ca, e->re_tokfile));
}

static void
cleanup(rt_env *e, bool check)
{
	if (e->re_cli != NULL) {
		svcfleet_close(e->re_cli);
		e->re_cli = NULL;
		svcfleet_status_fini(&e->re_st);
	}
	if (e->re_srv.ts_pid > 0) {
		int rc = th_server_stop(&e->re_srv);
		if (check) {
			assert_int_equal(rc, 0);
		}
	}
	for (int i = 0; i < e->re_nkf; i++) {
		if (e->re_kf[i].k_pid > 0) {
			kft_stop(&e->re_kf[i]);
		}
		kft_cleanup(&e->re_kf[i]);
	}
	e->re_nkf = 0;
	if (getenv("RT_KEEP") != NULL) {
		// Debugging: keep the logs.
		fprintf(stderr, "kept %s\n", e->re_srv.ts_dir);
	} else if (e->re_srv.ts_dir[0] != '\0') {
		char *out = NULL;
		th_runf(&out, NULL, "rm -rf '%s'", e->re_srv.ts_dir);
		free(out);
		e->re_srv.ts_dir[0] = '\0';
	}
}

void
rt_stop(rt_env *e)
{
	cleanup(e, true);
	live = false;
}

int
rt_teardown(void **state)
{
	(void) state;
	if (live) {
		live = false;
		th_server_kill(&live_copy.re_srv);
		cleanup(&live_copy, false);
	}
	return (0);
}

char *
rt_cli(rt_env *e, const char *stdin_text, const char *fmt, ...)
{
	char    args[6000], cmd[8192];
	char   *out = NULL, *err = NULL;
	va_list ap;
	int     rc;

	track(e);
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s --server %s --token %s %s",
	    th_bin("client/cli/svcfleet"), e->re_srv.ts_url,
	    e->re_srv.ts_token, args);
	rc = th_run(cmd, stdin_text, &out, &err);
	if (rc != 0) {
		fail_msg("`svcfleet %s` exited %d:\n%s%s", args, rc, out, err);
	}
	free(err);
	return (out);
}

char *
rt_kubectl(rt_env *e, int i, int *rc, const char *fmt, ...)
{
	char    args[4000];
	char   *out = NULL, *err = NULL;
	va_list ap;
	int     code;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	code = th_runf(&out, &err, "kubectl --kubeconfig %s %s",
	    e->re_kf[i].k_kubeconfig, args);
	if (rc != NULL) {
		*rc = code;
	} else if (code != 0) {
		fail_msg(
		    "`kubectl %s` exited %d:\n%s%s", args, code, out, err);
	}
	free(err);
	return (out);
}

json_t *
rt_kget(rt_env *e, int i, const char *ns, const char *name)
{
	int     rc;
	char   *out = rt_kubectl(e, i, &rc,
	      "get service -n %s %s -o json "
	        "2>&1",
	      ns, name);
	json_t *j   = NULL;
	if (rc == 0) {
		j = json_loads(out, 0, NULL);
		if (j == NULL) {
			fail_msg("kubectl printed no JSON: %s", out);
		}
	} else if (strstr(out, "NotFound") == NULL
	    && strstr(out, "not found") == NULL) {
		fail_msg("kubectl get failed: %s", out);
	}
	free(out);
	return (j);
}

Svcfleet__V1__Service *
rt_get(rt_env *e, const char *cluster, const char *ns, const char *name)
{
	Svcfleet__V1__GetServiceRequest req
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey key = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__Service   *svc = NULL;
	int                      rv;

	key.cluster    = (char *) cluster;
	key.namespace_ = (char *) ns;
	key.name       = (char *) name;
	req.key        = &key;
	rv = svcfleet_get_service(e->re_cli, &req, &svc, &e->re_st);
	if (rv == SVCFLEET_NOT_FOUND) {
		return (NULL);
	}
	if (rv != 0) {
		fail_msg("GetService %s/%s/%s: %s: %s", cluster, ns, name,
		    svcfleet_code_name(rv), e->re_st.message);
	}
	return (svc);
}

const Svcfleet__V1__ClusterStatus *
rt_status(const Svcfleet__V1__Service *svc)
{
	for (size_t i = 0; svc != NULL && i < svc->n_status; i++) {
		if (strcmp(svc->status[i]->cluster, svc->metadata->cluster)
		    == 0) {
			return (svc->status[i]);
		}
	}
	return (NULL);
}

static const char *
state_name(int s)
{
	static const char *const n[] = {"UNSPECIFIED", "PENDING", "SYNCED",
	    "ERROR", "DELETING", "WAITING_ADDRESS", "UNKNOWN"};
	return (s >= 0 && s <= 5 ? n[s] : "?");
}

Svcfleet__V1__Service *
rt_wait(rt_env *e, const char *cluster, const char *ns, const char *name,
    int state, int ms)
{
	long long until     = now_ms() + ms;
	char      last[600] = "no status";

	for (;;) {
		Svcfleet__V1__Service *svc = rt_get(e, cluster, ns, name);
		const Svcfleet__V1__ClusterStatus *cs = rt_status(svc);
		if (cs != NULL) {
			bool gen_ok
			    = (state != SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
			          && state
			              != SVCFLEET__V1__SYNC_STATE__SYNC_STATE_WAITING_ADDRESS)
			    || cs->observed_generation
			        >= svc->metadata->generation;
			if ((int) cs->state == state && gen_ok) {
				return (svc);
			}
			snprintf(last, sizeof(last),
			    "%s (observed generation %lld of %lld): %s",
			    state_name(cs->state),
			    (long long) cs->observed_generation,
			    (long long) svc->metadata->generation,
			    cs->message);
		} else if (svc == NULL) {
			snprintf(last, sizeof(last), "not stored");
		}
		svcfleet_free(svc);
		if (now_ms() > until) {
			fail_msg(
			    "%s/%s/%s did not become %s in %d ms; last: %s",
			    cluster, ns, name, state_name(state), ms, last);
		}
		rt_sleep_ms(50);
	}
}

void
rt_wait_gone(
    rt_env *e, const char *cluster, const char *ns, const char *name, int ms)
{
	long long until = now_ms() + ms;
	for (;;) {
		Svcfleet__V1__Service *svc = rt_get(e, cluster, ns, name);
		if (svc == NULL) {
			return;
		}
		const Svcfleet__V1__ClusterStatus *cs = rt_status(svc);
		if (now_ms() > until) {
			fail_msg("%s/%s/%s still stored after %d ms (%s: %s)",
			    cluster, ns, name, ms,
			    cs ? state_name(cs->state) : "no status",
			    cs ? cs->message : "");
		}
		svcfleet_free(svc);
		rt_sleep_ms(50);
	}
}

const char *
rt_wait_health(rt_env *e, const char *cluster, int state, int ms)
{
	static char msg[600];
	long long   until = now_ms() + ms;
	int         seen  = -1;

	for (;;) {
		Svcfleet__V1__ListClustersRequest req
		    = SVCFLEET__V1__LIST_CLUSTERS_REQUEST__INIT;
		Svcfleet__V1__ListClustersReply *rep = NULL;
		assert_int_equal(
		    svcfleet_list_clusters(e->re_cli, &req, &rep, &e->re_st),
		    0);
		for (size_t i = 0; i < rep->n_clusters; i++) {
			const Svcfleet__V1__Cluster *c = rep->clusters[i];
			if (strcmp(c->name, cluster) != 0
			    || c->health == NULL) {
				continue;
			}
			seen = (int) c->health->state;
			snprintf(msg, sizeof(msg), "%s", c->health->message);
		}
		svcfleet_free(rep);
		if (seen == state) {
			return (msg);
		}
		if (now_ms() > until) {
			fail_msg(
			    "cluster %s health is %d, not %d, after %d ms: "
			    "%s",
			    cluster, seen, state, ms, msg);
		}
		rt_sleep_ms(50);
	}
}

void
rt_wait_pools(rt_env *e, const char *cluster, int ms)
{
	long long until = now_ms() + ms;

	for (;;) {
		Svcfleet__V1__ListClustersRequest req
		    = SVCFLEET__V1__LIST_CLUSTERS_REQUEST__INIT;
		Svcfleet__V1__ListClustersReply *rep   = NULL;
		bool                             known = false;
		assert_int_equal(
		    svcfleet_list_clusters(e->re_cli, &req, &rep, &e->re_st),
		    0);
		for (size_t i = 0; i < rep->n_clusters; i++) {
			const Svcfleet__V1__Cluster *c = rep->clusters[i];
			if (strcmp(c->name, cluster) == 0 && c->health != NULL
			    && c->health->pools_known) {
				known = true;
			}
		}
		svcfleet_free(rep);
		if (known) {
			return;
		}
		if (now_ms() > until) {
			fail_msg("cluster %s: no MetalLB pools reported after "
			         "%d ms",
			    cluster, ms);
		}
		rt_sleep_ms(50);
	}
}

int
rt_count_managed(rt_env *e, int i, const char *ns)
{
	kft_resp r;
	char     path[300];
	int      n;

	memset(&r, 0, sizeof(r));
	snprintf(path, sizeof(path),
	    "/api/v1/namespaces/%s/services?labelSelector=app.kubernetes.io%%"
	    "2Fmanaged-by%%3Dsvcfleet",
	    ns);
	if (kft_do(&e->re_kf[i], "GET", path, NULL, NULL, &r) != CURLE_OK
	    || r.r_code != 200) {
		fail_msg(
		    "listing %s in kubefake %d: HTTP %ld", ns, i, r.r_code);
	}
	n = (int) json_array_size(json_object_get(r.r_json, "items"));
	kft_resp_fini(&r);
	return (n);
}

void
rt_reconciler_token(rt_env *e, const char *path)
{
	Svcfleet__V1__CreateTokenRequest treq
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply        *trep = NULL;
	Svcfleet__V1__CreateRoleBindingRequest breq
	    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
	Svcfleet__V1__RoleBinding  b    = SVCFLEET__V1__ROLE_BINDING__INIT;
	Svcfleet__V1__RoleBinding *brep = NULL;

	treq.user = "recon";
	if (svcfleet_create_token(e->re_cli, &treq, &trep, &e->re_st) != 0) {
		fail_msg("CreateToken: %s", e->re_st.message);
	}
	assert_int_equal(th_write_file(path, trep->secret), 0);
	svcfleet_free(trep);
	b.role       = "reconciler";
	b.user       = "recon";
	breq.binding = &b;
	if (svcfleet_create_role_binding(e->re_cli, &breq, &brep, &e->re_st)
	    != 0) {
		fail_msg("CreateRoleBinding: %s", e->re_st.message);
	}
	svcfleet_free(brep);
}

int
rt_spawn_reconciler(
    rt_env *e, const char *tokfile, const char *log, const char *const *args)
{
	const char *argv[24];
	size_t      n = 0;
	pid_t       pid;

	argv[n++] = "svcfleet-reconciler";
	argv[n++] = "--server";
	argv[n++] = e->re_srv.ts_url;
	argv[n++] = "--token-file";
	argv[n++] = tokfile;
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	for (size_t i = 0; args != NULL && args[i] != NULL; i++) {
		assert_true(n < sizeof(argv) / sizeof(argv[0]) - 1);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	if ((pid = fork()) == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(th_bin("cmd/svcfleet-reconciler/svcfleet-reconciler"),
		    (char *const *) argv);
		_exit(127);
	}
	assert_true(pid > 0);
	return (pid);
}
