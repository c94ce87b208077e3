// converge.c: the reconciler's benchmark (issue 6's targets).
//
//   recon-converge [-n SERVICES] [-k CLUSTERS] [-H HEALS] [--standalone]
//                  [--wrk SECONDS] [--kubectl N] [--steady SECONDS]
//                  [--grow N1,N2,...] [--no-fsync] [--keep]
//
// Starts K kubefake clusters and svcfleetd (without its reconciler),
// registers the clusters, stores N Services spread over them, takes the
// baselines (kubefake's own apply rate, with wrk and with libcurl multi;
// kubectl apply --server-side of N manifests into one cluster), then
// starts the reconciler — inside svcfleetd (the default) or as
// svcfleet-reconciler — and measures:
//   * applied: time until every Service exists in its cluster;
//   * synced:  time until svcfleetd shows every Service SYNCED (status
//              reports included), and the rates N / time;
//   * svcfleetd's anonymous RSS once synced;
//   * drift heal: H times, a Service's selector is changed behind
//     svcfleet's back (a merge patch, as kubectl edit sends) and the time
//     until the cluster holds svcfleet's selector again is taken;
//   * steady state (--steady): requests each cluster receives per minute
//     while nothing changes, by kind (watches, health, the rest).
// --grow N1,N2,... measures memory instead: svcfleetd with its embedded
// reconciler from the start, Services added up to each size in turn, and
// RssAnon once all are SYNCED at each size.
// Every figure is also printed as a "RESULT key=value" line for
// bench/run-all. Binaries come from $SF_BIN_DIR (default ./build).
// Nothing is left behind.
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "svcfleet/svcfleet.h"

#define TOKEN        "bench-cluster-token"
#define MAX_CLUSTERS 32

typedef struct cluster {
	pid_t   pid;
	char    url[128];
	uint8_t ca[8192];
	size_t  calen;
} cluster;

static char    dir[256], bindir[512], sock[400], token[128];
static cluster cl[MAX_CLUSTERS];
static int     nclusters = 10, nservices = 10000, nheals = 200;
static int     standalone, keep, no_fsync;
static int     wrk_secs, kubectl_n, steady_secs;
// HTTP/2 (issue 21): the kubefakes' ALPN list (NULL: h2,http/1.1) and the
// h2load ceiling's request count (0: not run).
static const char       *alpn;
static int               h2load_n;
static long              grow[8];
static int               ngrow;
static pid_t             srv_pid, rec_pid;
static const char *const bin_kubefake = "tests/kubefake/kubefake";

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double) ts.tv_sec + ts.tv_nsec / 1e9);
}

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
cleanup(void)
{
	char cmd[400];
	if (rec_pid > 0) {
		kill(rec_pid, SIGTERM);
		waitpid(rec_pid, NULL, 0);
	}
	if (srv_pid > 0) {
		kill(srv_pid, SIGTERM);
		waitpid(srv_pid, NULL, 0);
	}
	for (int i = 0; i < nclusters; i++) {
		if (cl[i].pid > 0) {
			kill(cl[i].pid, SIGTERM);
			waitpid(cl[i].pid, NULL, 0);
		}
	}
	if (keep) {
		fprintf(stderr, "kept %s\n", dir);
	} else if (dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0) {
			fprintf(stderr, "could not remove %s\n", dir);
		}
	}
}

static void
die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup();
	exit(1);
}

static pid_t
spawn(const char *const *argv, const char *log, int *outfd)
{
	int   p[2];
	pid_t pid;
	if (outfd != NULL && pipe(p) != 0) {
		die("pipe: %s", strerror(errno));
	}
	if ((pid = fork()) == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 2);
		if (outfd != NULL) {
			dup2(p[1], 1);
			close(p[0]);
		} else {
			dup2(fd, 1);
		}
		execv(argv[0], (char *const *) argv);
		_exit(127);
	}
	if (outfd != NULL) {
		close(p[1]);
		*outfd = p[0];
	}
	return (pid);
}

static void
start_kubefake(int i)
{
	char        bin[600], kc[400], log[400], line[256];
	size_t      len = 0;
	int         fd;
	const char *argv[] = {bin, "--listen", "127.0.0.1:0", "--token", TOKEN,
	    "--write-kubeconfig", kc, "--log-level", "warn", "--watch-history",
	    "200000", alpn ? "--alpn" : NULL, alpn, NULL};

	snprintf(bin, sizeof(bin), "%s/%s", bindir, bin_kubefake);
	snprintf(kc, sizeof(kc), "%s/kc%d", dir, i);
	snprintf(log, sizeof(log), "%s/kubefake%d.log", dir, i);
	cl[i].pid = spawn(argv, log, &fd);
	while (len + 1 < sizeof(line)) {
		struct pollfd pf = {fd, POLLIN, 0};
		ssize_t       n;
		if (poll(&pf, 1, 10000) <= 0
		    || (n = read(fd, line + len, sizeof(line) - 1 - len))
		        <= 0) {
			die("kubefake %d did not start", i);
		}
		len += (size_t) n;
		line[len] = '\0';
		if (strchr(line, '\n') != NULL) {
			break;
		}
	}
	if (sscanf(line, "ready %127s", cl[i].url) != 1) {
		die("kubefake %d said: %s", i, line);
	}
	// Keep the pipe open: kubefake must never see EPIPE.
	// The CA from the kubeconfig kubefake wrote.
	FILE  *f = fopen(kc, "r");
	char   buf[16384];
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f != NULL) {
		fclose(f);
	}
	buf[n]  = '\0';
	char *p = strstr(buf, "certificate-authority-data: ");
	if (p == NULL) {
		die("no CA in %s", kc);
	}
	p += strlen("certificate-authority-data: ");
	p[strcspn(p, "\n")] = '\0';
	int d
	    = EVP_DecodeBlock(cl[i].ca, (unsigned char *) p, (int) strlen(p));
	if (d < 0) {
		die("bad CA in %s", kc);
	}
	cl[i].calen = (size_t) d;
	while (cl[i].calen > 0 && cl[i].ca[cl[i].calen - 1] == '\0') {
		cl[i].calen--;
	}
}

static void
start_svcfleetd(bool reconciler)
{
	char        bin[600], data[400], log[400], url[450];
	const char *argv[16];
	int         n = 0;

	snprintf(bin, sizeof(bin), "%s/cmd/svcfleetd/svcfleetd", bindir);
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(log, sizeof(log), "%s/svcfleetd.log", dir);
	snprintf(url, sizeof(url), "ipc://%s", sock);
	argv[n++] = bin;
	argv[n++] = "--data-dir";
	argv[n++] = data;
	argv[n++] = "--listen";
	argv[n++] = url;
	argv[n++] = "--http"; // no port that another daemon may hold
	argv[n++] = "off";
	if (!reconciler) {
		argv[n++] = "--no-reconciler";
	}
	if (no_fsync) {
		// Only to fill the store faster where memory, not durable
		// writes, is measured.
		argv[n++] = "--unsafe-no-fsync";
	}
	argv[n] = NULL;
	srv_pid = spawn(argv, log, NULL);
}

static svcfleet_client *
connect_srv(void)
{
	svcfleet_client *c = NULL;
	svcfleet_status  st;
	char             url[450], path[400];
	svcfleet_status_init(&st);
	snprintf(url, sizeof(url), "ipc://%s", sock);
	snprintf(path, sizeof(path), "%s/data/admin.token", dir);
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			if (fgets(token, sizeof(token), f) != NULL) {
				token[strcspn(token, "\r\n")] = '\0';
			}
			fclose(f);
		}
		svcfleet_options o = {.url = url,
		    .token                 = token,
		    .timeout_ms            = 60000,
		    .connect_now           = true};
		if (token[0] != '\0' && svcfleet_open(&c, &o, &st) == 0) {
			Svcfleet__V1__Empty e = SVCFLEET__V1__EMPTY__INIT;
			Svcfleet__V1__HealthReply *h = NULL;
			if (svcfleet_health(c, &e, &h, &st) == 0) {
				svcfleet_free(h);
				svcfleet_status_fini(&st);
				return (c);
			}
			svcfleet_close(c);
		}
		usleep(50000);
	}
	die("svcfleetd did not come up: %s", st.message);
}

typedef struct creator {
	svcfleet_client *c;
	int              from, to, step;
} creator;

static void *
create_main(void *arg)
{
	creator        *cr = arg;
	svcfleet_status st;
	svcfleet_status_init(&st);
	for (int i = cr->from; i < cr->to; i += cr->step) {
		Svcfleet__V1__CreateServiceRequest req
		    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
		Svcfleet__V1__Service     svc = SVCFLEET__V1__SERVICE__INIT;
		Svcfleet__V1__ObjectMeta  m = SVCFLEET__V1__OBJECT_META__INIT;
		Svcfleet__V1__ServiceSpec sp
		    = SVCFLEET__V1__SERVICE_SPEC__INIT;
		Svcfleet__V1__KeyValue    sel = SVCFLEET__V1__KEY_VALUE__INIT;
		Svcfleet__V1__ServicePort p = SVCFLEET__V1__SERVICE_PORT__INIT;
		Svcfleet__V1__KeyValue   *sels[] = {&sel};
		Svcfleet__V1__ServicePort *ps[]  = {&p};
		Svcfleet__V1__Service     *out   = NULL;
		char                       name[32], clname[16];
		snprintf(name, sizeof(name), "svc-%06d", i);
		snprintf(clname, sizeof(clname), "c%d", i % nclusters);
		m.cluster     = clname;
		m.namespace_  = "default";
		m.name        = name;
		sel.key       = "app";
		sel.value     = name;
		p.port        = 80;
		p.target_port = 8080;
		sp.selector   = sels;
		sp.n_selector = 1;
		sp.ports      = ps;
		sp.n_ports    = 1;
		svc.metadata  = &m;
		svc.spec      = &sp;
		req.service   = &svc;
		if (svcfleet_create_service(cr->c, &req, &out, &st) != 0) {
			die("create %s: %s", name, st.message);
		}
		svcfleet_free(out);
	}
	svcfleet_status_fini(&st);
	return (NULL);
}

// ------------------------------------------------------------ kubefake

typedef struct resp {
	char  *b;
	size_t n;
} resp;

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	resp  *r  = arg;
	size_t k  = sz * n;
	char  *nb = realloc(r->b, r->n + k + 1);
	if (nb == NULL) {
		return (0);
	}
	r->b = nb;
	memcpy(r->b + r->n, p, k);
	r->n += k;
	r->b[r->n] = '\0';
	return (k);
}

// One request to kubefake i; returns the parsed body (or NULL).
static json_t *
kreq(CURL *h, int i, const char *method, const char *path, const char *ctype,
    const char *body, long *code)
{
	char               url[600], auth[128], ct[128];
	struct curl_slist *hs = NULL;
	resp               r  = {0};
	json_t            *j;
	struct curl_blob   ca = {cl[i].ca, cl[i].calen, CURL_BLOB_COPY};

	curl_easy_reset(h);
	snprintf(url, sizeof(url), "%s%s", cl[i].url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", TOKEN);
	hs = curl_slist_append(hs, auth);
	if (ctype != NULL) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		hs = curl_slist_append(hs, ct);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	*code = 0;
	if (curl_easy_perform(h) == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
	}
	curl_slist_free_all(hs);
	j = r.b != NULL ? json_loads(r.b, 0, NULL) : NULL;
	free(r.b);
	return (j);
}

static size_t  on_discard(char *p, size_t sz, size_t n, void *arg);
static json_t *kreq(CURL *h, int i, const char *method, const char *path,
    const char *ctype, const char *body, long *code);

// kubefake's own apply rate, in the same run and conditions: nservices
// server-side applies of distinct Services (in kube-public, so the
// reconciler never looks at them twice: they are not its own) straight to
// the clusters, 8 connections and up to 32 requests in flight per cluster,
// as the reconciler uses them.
static double
raw_apply_rate(void)
{
	CURLM             *m    = curl_multi_init();
	int                next = 0, done = 0, running = 0;
	double             t0 = now_s();
	char               auth[128];
	struct curl_slist *hs = NULL;

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", TOKEN);
	hs = curl_slist_append(hs, auth);
	hs = curl_slist_append(
	    hs, "Content-Type: application/apply-patch+yaml");
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
	while (done < nservices) {
		while (next < nservices && next - done < 32 * nclusters) {
			CURL            *e = curl_easy_init();
			char             url[300], *body = malloc(600);
			int              c = next % nclusters;
			struct curl_blob ca
			    = {cl[c].ca, cl[c].calen, CURL_BLOB_COPY};
			snprintf(url, sizeof(url),
			    "%s/api/v1/namespaces/kube-public/services/"
			    "raw-%06d"
			    "?fieldManager=bench&force=true",
			    cl[c].url, next);
			snprintf(body, 600,
			    "{\"apiVersion\":\"v1\",\"kind\":\"Service\","
			    "\"metadata\":{\"name\":\"raw-%06d\","
			    "\"namespace\":"
			    "\"kube-public\",\"labels\":{\"app.kubernetes.io/"
			    "managed-by\":\"bench\"},\"annotations\":{"
			    "\"svcfleet."
			    "io/owner\":\"bench\",\"svcfleet.io/"
			    "generation\":\"1\"}},"
			    "\"spec\":{\"ports\":[{\"protocol\":\"TCP\","
			    "\"port\":80,"
			    "\"targetPort\":8080}],\"selector\":{\"app\":"
			    "\"raw-%06d\"},"
			    "\"type\":\"ClusterIP\",\"sessionAffinity\":"
			    "\"None\"}}",
			    next, next);
			curl_easy_setopt(e, CURLOPT_URL, url);
			curl_easy_setopt(e, CURLOPT_HTTPHEADER, hs);
			curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
			curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
			curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_discard);
			curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
			curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
			free(body);
			curl_multi_add_handle(m, e);
			next++;
		}
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int      left;
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg == CURLMSG_DONE) {
				long     code = 0;
				CURL    *e    = msg->easy_handle;
				CURLcode cc   = msg->data.result;
				curl_easy_getinfo(
				    e, CURLINFO_RESPONSE_CODE, &code);
				if (cc != CURLE_OK || code / 100 != 2) {
					die("raw apply: curl %d, HTTP %ld", cc,
					    code);
				}
				curl_multi_remove_handle(m, e);
				curl_easy_cleanup(e);
				done++;
			}
		}
		curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	double rate = nservices / (now_s() - t0);
	curl_multi_cleanup(m);
	curl_slist_free_all(hs);
	return (rate);
}

// clear_public deletes every Service in kube-public, where the baselines
// apply theirs, so the reconciler meets only its own Services.
static void
clear_public(CURL *h)
{
	for (int c = 0; c < nclusters; c++) {
		long code;
		json_decref(kreq(h, c, "DELETE",
		    "/api/v1/namespaces/kube-public/services", NULL, NULL,
		    &code));
		if (code != 200) {
			die("deleting the baselines' Services: HTTP %ld",
			    code);
		}
	}
}

static size_t
on_discard(char *p, size_t sz, size_t n, void *arg)
{
	(void) p;
	(void) arg;
	return (sz * n);
}

static long
objects_in_clusters(CURL *h)
{
	long total = 0, code;
	for (int i = 0; i < nclusters; i++) {
		json_t *j
		    = kreq(h, i, "GET", "/_kubefake/stats", NULL, NULL, &code);
		total += (long) json_integer_value(json_object_get(
		    json_object_get(j, "objects"), "services"));
		json_decref(j);
	}
	return (total - nclusters); // default/kubernetes in each
}

static long
synced_in_svcfleet(svcfleet_client *c)
{
	char           *tok = NULL;
	long            n   = 0;
	svcfleet_status st;
	svcfleet_status_init(&st);
	do {
		Svcfleet__V1__ListServicesRequest req
		    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
		Svcfleet__V1__ListServicesReply *rep = NULL;
		req.page_size                        = 5000;
		req.page_token                       = tok ? tok : "";
		if (svcfleet_list_services(c, &req, &rep, &st) != 0) {
			free(tok);
			svcfleet_status_fini(&st);
			return (-1);
		}
		free(tok);
		tok = NULL;
		for (size_t i = 0; i < rep->n_services; i++) {
			const Svcfleet__V1__Service *s = rep->services[i];
			n += s->n_status > 0
			    && s->status[0]->state
			        == SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
			    && s->status[0]->observed_generation
			        >= s->metadata->generation;
		}
		if (rep->next_page_token[0] != '\0') {
			tok = strdup(rep->next_page_token);
		}
		svcfleet_free(rep);
	} while (tok != NULL);
	svcfleet_status_fini(&st);
	return (n);
}

static long
rss_anon_kib(pid_t pid)
{
	char  path[64], line[256];
	long  v = -1;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	if ((f = fopen(path, "r")) == NULL) {
		return (-1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "RssAnon: %ld kB", &v) == 1) {
			break;
		}
	}
	fclose(f);
	return (v);
}

// CPU seconds (user + system) a process has used so far.
static double
cpu_s(pid_t pid)
{
	char          path[64];
	unsigned long ut = 0, st = 0;
	FILE         *f;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	if ((f = fopen(path, "r")) == NULL) {
		return (0);
	}
	// Fields 14 and 15; the command (field 2) holds no spaces here.
	if (fscanf(f,
	        "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	        "%lu %lu",
	        &ut, &st)
	    != 2) {
		ut = st = 0;
	}
	fclose(f);
	return ((double) (ut + st) / (double) sysconf(_SC_CLK_TCK));
}

static double
kubefakes_cpu_s(void)
{
	double t = 0;
	for (int i = 0; i < nclusters; i++) {
		t += cpu_s(cl[i].pid);
	}
	return (t);
}

// CPU seconds used by the waited-for children of this process.
static double
children_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return ((double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
	    + (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;
	return (x < y ? -1 : x > y);
}

static void
heal(CURL *h)
{
	double *ms   = calloc((size_t) nheals, sizeof(double));
	int     done = 0;
	if (ms == NULL || nheals == 0) {
		free(ms);
		return;
	}
	for (int k = 0; k < nheals; k++) {
		int    i = (k * 7919) % nservices;
		int    c = i % nclusters;
		char   path[200], want[32];
		long   code;
		double t0;
		snprintf(path, sizeof(path),
		    "/api/v1/namespaces/default/services/svc-%06d", i);
		snprintf(want, sizeof(want), "svc-%06d", i);
		json_decref(kreq(h, c, "PATCH", path,
		    "application/merge-patch+json",
		    "{\"spec\":{\"selector\":{\"app\":\"drifted\"}}}", &code));
		if (code != 200) {
			die("drift patch of %s: HTTP %ld", path, code);
		}
		t0 = now_s();
		for (;;) {
			json_t *j = kreq(h, c, "GET", path, NULL, NULL, &code);
			const char *a      = json_string_value(json_object_get(
			         json_object_get(
			             json_object_get(j, "spec"), "selector"),
			         "app"));
			bool        healed = a != NULL && strcmp(a, want) == 0;
			json_decref(j);
			if (healed) {
				ms[done++] = (now_s() - t0) * 1000;
				break;
			}
			if (now_s() - t0 > 30) {
				die("%s not healed in 30 s", path);
			}
			usleep(1000);
		}
		usleep(20000);
	}
	qsort(ms, (size_t) done, sizeof(double), cmp_double);
	printf(
	    "drift heal (%d edits, edit to restored): p50 %.1f ms, p99 %.1f "
	    "ms, max %.1f ms\n",
	    done, ms[done / 2],
	    ms[(done * 99) / 100 < done ? (done * 99) / 100 : done - 1],
	    ms[done - 1]);
	printf("RESULT heal_n=%d heal_p50_ms=%.1f heal_p99_ms=%.1f "
	       "heal_max_ms=%.1f\n",
	    done, ms[done / 2],
	    ms[(done * 99) / 100 < done ? (done * 99) / 100 : done - 1],
	    ms[done - 1]);
	free(ms);
}

// store_range creates svc-<from>..svc-<to-1> with 16 client threads.
static void
store_range(svcfleet_client *c, int from, int to)
{
	pthread_t th[16];
	creator   cr[16];
	for (int i = 0; i < 16; i++) {
		cr[i] = (creator) {c, from + i, to, 16};
		pthread_create(&th[i], NULL, create_main, &cr[i]);
	}
	for (int i = 0; i < 16; i++) {
		pthread_join(th[i], NULL);
	}
}

static void
register_clusters(svcfleet_client *c)
{
	svcfleet_status st;
	svcfleet_status_init(&st);
	for (int i = 0; i < nclusters; i++) {
		Svcfleet__V1__RegisterClusterRequest req
		    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
		Svcfleet__V1__Cluster  rc  = SVCFLEET__V1__CLUSTER__INIT;
		Svcfleet__V1__Cluster *out = NULL;
		char                   name[16];
		snprintf(name, sizeof(name), "c%d", i);
		rc.name         = name;
		rc.api_server   = cl[i].url;
		rc.token        = TOKEN;
		rc.ca_data.data = cl[i].ca;
		rc.ca_data.len  = cl[i].calen;
		req.cluster     = &rc;
		if (svcfleet_register_cluster(c, &req, &out, &st) != 0) {
			die("register %s: %s", name, st.message);
		}
		svcfleet_free(out);
	}
	svcfleet_status_fini(&st);
}

// Runs argv (searched in PATH) with env (NAME=VALUE, NULL-terminated)
// added, stdout and stderr to log; returns its exit status (-1: killed).
static int
run_tool(const char *const *argv, const char *const *env, const char *log)
{
	pid_t pid = fork();
	int   ws;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		for (; env != NULL && *env != NULL; env++) {
			putenv((char *) *env);
		}
		execvp(argv[0], (char *const *) argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &ws, 0) != pid) {
		return (-1);
	}
	return (WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
}

// kubefake's ceiling with wrk: one wrk per cluster, all at once, for
// wrk_secs, each over 4 keep-alive connections, applying distinct
// Services (bench/kubefake/apply.lua) into kube-public. Returns the sum of
// their rates.
static double
wrk_ceiling(void)
{
	pid_t  pids[MAX_CLUSTERS];
	double total = 0;
	char   secs[16];
	snprintf(secs, sizeof(secs), "%ds", wrk_secs);
	for (int i = 0; i < nclusters; i++) {
		char log[400], prefix[32];
		snprintf(log, sizeof(log), "%s/wrk%d.out", dir, i);
		snprintf(prefix, sizeof(prefix), "PREFIX=wrk%d", i);
		if ((pids[i] = fork()) == 0) {
			const char *av[] = {"wrk", "-t1", "-c4", "-d", secs,
			    "-s", BENCH_DIR "/kubefake/apply.lua", cl[i].url,
			    NULL};
			int         fd   = open(log, O_WRONLY | O_CREAT, 0644);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			dup2(fd, 1);
			dup2(fd, 2);
			setenv("KF_TOKEN", TOKEN, 1);
			setenv("NS", "kube-public", 1);
			setenv("ROUND", "1", 1);
			putenv(prefix);
			execvp(av[0], (char *const *) av);
			_exit(127);
		}
	}
	for (int i = 0; i < nclusters; i++) {
		char  log[400], line[256];
		int   ws;
		FILE *f;
		waitpid(pids[i], &ws, 0);
		snprintf(log, sizeof(log), "%s/wrk%d.out", dir, i);
		if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0
		    || (f = fopen(log, "r")) == NULL) {
			die("wrk against cluster %d failed (see %s)", i, log);
		}
		while (fgets(line, sizeof(line), f) != NULL) {
			double r;
			if (strstr(line, "Non-2xx") != NULL) {
				die("wrk against cluster %d: %s", i, line);
			}
			if (sscanf(line, "Requests/sec: %lf", &r) == 1) {
				total += r;
			}
		}
		fclose(f);
	}
	return (total);
}

// The h2 ceiling (issue 21): h2load (nghttp2-client) against every cluster
// at once, each over one connection with up to 100 streams in flight (as
// the reconciler multiplexes), h2load_n GETs of a Service in all. Returns
// the sum of the rates; h2load's CPU is a child's.
static double
h2load_ceiling(void)
{
	pid_t  pids[MAX_CLUSTERS];
	double total = 0;
	char   n[16], auth[200];
	snprintf(n, sizeof(n), "%d", h2load_n / nclusters);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", TOKEN);
	for (int i = 0; i < nclusters; i++) {
		char log[400], url[300];
		snprintf(log, sizeof(log), "%s/h2load%d.out", dir, i);
		snprintf(url, sizeof(url),
		    "%s/api/v1/namespaces/default/services/kubernetes",
		    cl[i].url);
		if ((pids[i] = fork()) == 0) {
			const char *av[] = {"h2load", "-n", n, "-c", "1", "-m",
			    "100", "-H", auth, url, NULL};
			int         fd   = open(log, O_WRONLY | O_CREAT, 0644);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			dup2(fd, 1);
			dup2(fd, 2);
			execvp(av[0], (char *const *) av);
			_exit(127);
		}
	}
	for (int i = 0; i < nclusters; i++) {
		char  log[400], line[512];
		int   ws;
		FILE *f;
		waitpid(pids[i], &ws, 0);
		snprintf(log, sizeof(log), "%s/h2load%d.out", dir, i);
		if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0
		    || (f = fopen(log, "r")) == NULL) {
			die("h2load against cluster %d failed (see %s)", i,
			    log);
		}
		while (fgets(line, sizeof(line), f) != NULL) {
			double r;
			long   ok = 0, done = 0;
			if (sscanf(line, "finished in %*s %lf req/s", &r)
			    == 1) {
				total += r;
			}
			if (sscanf(line,
			        "requests: %*d total, %*d started, %ld "
			        "done, %ld succeeded",
			        &done, &ok)
			        == 2
			    && ok != done) {
				die("h2load against cluster %d: %s", i, line);
			}
		}
		fclose(f);
	}
	return (total);
}

// kubectl apply --server-side -f DIR of kubectl_n manifests (one file
// each) into cluster 0's kube-public; returns the wall time in seconds
// (kubectl's start-up and discovery included, as a user would see it).
static double
kubectl_apply(void)
{
	char   mdir[400], kc[400], log[400];
	double t0;
	snprintf(mdir, sizeof(mdir), "%s/manifests", dir);
	snprintf(kc, sizeof(kc), "%s/kc0", dir);
	snprintf(log, sizeof(log), "%s/kubectl.log", dir);
	if (mkdir(mdir, 0755) != 0) {
		die("mkdir %s: %s", mdir, strerror(errno));
	}
	for (int i = 0; i < kubectl_n; i++) {
		char  path[450];
		FILE *f;
		snprintf(path, sizeof(path), "%s/svc-%06d.yaml", mdir, i);
		if ((f = fopen(path, "w")) == NULL) {
			die("%s: %s", path, strerror(errno));
		}
		fprintf(f,
		    "apiVersion: v1\nkind: Service\nmetadata:\n"
		    "  name: kubectl-%06d\n  namespace: kube-public\n"
		    "  labels:\n    app.kubernetes.io/managed-by: bench\n"
		    "spec:\n  type: ClusterIP\n  selector:\n"
		    "    app: kubectl-%06d\n  ports:\n  - protocol: TCP\n"
		    "    port: 80\n    targetPort: 8080\n",
		    i, i);
		fclose(f);
	}
	const char *av[] = {"kubectl", "--kubeconfig", kc, "apply",
	    "--server-side", "-f", mdir, NULL};
	t0               = now_s();
	int r            = run_tool(av, NULL, log);
	t0               = now_s() - t0;
	if (r != 0) {
		die("kubectl apply failed (exit %d, see %s)", r, log);
	}
	return (t0);
}

// ------------------------------------------------------------ steady state

typedef struct kstats {
	long total, watch, other, list;
} kstats;

static kstats
cluster_stats(CURL *h, int i)
{
	kstats  k = {0};
	long    code;
	json_t *j = kreq(h, i, "GET", "/_kubefake/stats", NULL, NULL, &code);
	json_t *v = json_object_get(j, "verbs");
	if (code != 200) {
		die("kubefake %d stats: HTTP %ld", i, code);
	}
	k.total = (long) json_integer_value(json_object_get(j, "requests"));
	k.watch = (long) json_integer_value(json_object_get(v, "watch"));
	k.other = (long) json_integer_value(json_object_get(v, "other"));
	k.list  = (long) json_integer_value(json_object_get(v, "list"));
	json_decref(j);
	return (k);
}

static void
reset_stats(CURL *h)
{
	for (int i = 0; i < nclusters; i++) {
		long code;
		json_decref(kreq(h, i, "POST", "/_kubefake/stats/reset",
		    "application/json", "{}", &code));
		if (code != 200) {
			die("kubefake %d stats reset: HTTP %ld", i, code);
		}
	}
}

// steady counts, for steady_secs with everything synced and nothing
// changing, the requests each cluster receives: watches (a watch counts
// when it is opened), health and discovery ("other": /version, /readyz,
// API discovery) and everything else. Per minute, averaged over the
// clusters, plus the busiest cluster's "everything else".
static void
steady(CURL *h)
{
	double t0;
	long   tot = 0, watch = 0, other = 0, rest_max = 0;
	reset_stats(h);
	t0 = now_s();
	sleep((unsigned) steady_secs);
	t0 = now_s() - t0;
	for (int i = 0; i < nclusters; i++) {
		kstats k    = cluster_stats(h, i);
		long   rest = k.total - k.watch - k.other;
		tot += k.total;
		watch += k.watch;
		other += k.other;
		rest_max = rest > rest_max ? rest : rest_max;
	}
	double f = 60.0 / t0 / nclusters;
	printf("steady state (%.0f s, nothing changing), requests per minute "
	       "per cluster: %.2f in all: %.2f watch, %.2f health/discovery, "
	       "%.2f other (busiest cluster: %.2f)\n",
	    t0, tot * f, watch * f, other * f, (tot - watch - other) * f,
	    rest_max * 60.0 / t0);
	printf("RESULT steady_s=%.0f steady_total_per_min=%.2f "
	       "steady_watch_per_min=%.2f steady_health_per_min=%.2f "
	       "steady_other_per_min=%.2f steady_other_max_per_min=%.2f\n",
	    t0, tot * f, watch * f, other * f, (tot - watch - other) * f,
	    rest_max * 60.0 / t0);
}

// wait_synced waits until the clusters hold want Services and svcfleetd
// shows them all SYNCED; returns the time synced, *applied the time all
// were in the clusters.
static double
wait_synced(CURL *h, svcfleet_client *c, long want, double t0, double *applied)
{
	double t_applied = 0;
	for (;;) {
		double t = now_s();
		if (t_applied == 0 && objects_in_clusters(h) >= want) {
			t_applied = t;
		}
		if (t_applied != 0 && synced_in_svcfleet(c) >= want) {
			*applied = t_applied;
			return (now_s());
		}
		if (t - t0 > 900) {
			die("not converged after 900 s");
		}
		// Listing everything is not free: poll big stores less often.
		usleep(want > 20000 ? 500000 : 100000);
	}
}

// ------------------------------------------------------------ memory

static void
run_grow(CURL *h)
{
	svcfleet_client *c;
	long             have = 0;

	start_svcfleetd(true);
	c = connect_srv();
	register_clusters(c);
	printf("machine: %ld CPUs; memory of svcfleetd with its embedded "
	       "reconciler over %d kubefake clusters%s\n",
	    sysconf(_SC_NPROCESSORS_ONLN), nclusters,
	    no_fsync ? " (store filled with --unsafe-no-fsync)" : "");
	for (int g = 0; g < ngrow; g++) {
		double t0 = now_s(), applied, synced;
		nservices = (int) grow[g];
		store_range(c, (int) have, nservices);
		have   = nservices;
		synced = wait_synced(h, c, have, t0, &applied);
		sleep(2);
		long rss = rss_anon_kib(srv_pid);
		printf(
		    "%ld Services stored and SYNCED after %.1f s: svcfleetd "
		    "RssAnon %ld KiB\n",
		    have, synced - t0, rss);
		printf(
		    "RESULT grow_n=%ld grow_rss_kib=%ld grow_synced_s=%.1f\n",
		    have, rss, synced - t0);
	}
	if (steady_secs > 0) {
		steady(h);
	}
	svcfleet_close(c);
}

// ------------------------------------------------------------ convergence

static void
run_converge(CURL *h)
{
	svcfleet_client *c;
	double           t0, t, t_applied, t_synced;

	start_svcfleetd(false);
	c = connect_srv();
	register_clusters(c);
	t = now_s();
	store_range(c, 0, nservices);
	printf("machine: %ld CPUs; %d services over %d kubefake clusters "
	       "(stored in %.1f s)\n",
	    sysconf(_SC_NPROCESSORS_ONLN), nservices, nclusters, now_s() - t);
	svcfleet_close(c);
	if (kubectl_n > 0) {
		double k = kubectl_apply();
		printf("kubectl apply --server-side -f DIR, %d manifests into "
		       "one cluster: %.2f s, %.3f ms per Service\n",
		    kubectl_n, k, 1000 * k / kubectl_n);
		printf("RESULT kubectl_n=%d kubectl_s=%.3f "
		       "kubectl_ms_per_svc=%.4f\n",
		    kubectl_n, k, 1000 * k / kubectl_n);
		clear_public(h);
	}
	if (wrk_secs > 0) {
		double kf0 = kubefakes_cpu_s(), ch0 = children_cpu_s();
		double w  = wrk_ceiling();
		double kf = kubefakes_cpu_s() - kf0;
		double ch = children_cpu_s() - ch0;
		double n  = w * wrk_secs;
		printf("kubefake's own apply rate with wrk (%d clusters at "
		       "once, 4 keep-alive connections each, %d s): %.0f "
		       "applies/s; CPU per apply: kubefake %.0f µs, wrk %.0f "
		       "µs\n",
		    nclusters, wrk_secs, w, 1e6 * kf / n, 1e6 * ch / n);
		printf("RESULT wrk_rate=%.0f wrk_kf_cpu_us=%.0f "
		       "wrk_client_cpu_us=%.0f\n",
		    w, 1e6 * kf / n, 1e6 * ch / n);
		clear_public(h);
	}
	if (h2load_n > 0) {
		double kf0 = kubefakes_cpu_s(), ch0 = children_cpu_s();
		double w  = h2load_ceiling();
		double kf = kubefakes_cpu_s() - kf0;
		double ch = children_cpu_s() - ch0;
		printf(
		    "kubefake's h2 ceiling with h2load (%d clusters at once, "
		    "1 connection and 100 streams each, %d GETs): %.0f "
		    "requests/s; CPU per request: kubefake %.0f µs, h2load "
		    "%.0f µs\n",
		    nclusters, h2load_n, w, 1e6 * kf / h2load_n,
		    1e6 * ch / h2load_n);
		printf("RESULT h2load_rate=%.0f h2load_kf_cpu_us=%.0f "
		       "h2load_client_cpu_us=%.0f\n",
		    w, 1e6 * kf / h2load_n, 1e6 * ch / h2load_n);
	}
	double kf0 = kubefakes_cpu_s(), me0 = cpu_s(getpid());
	double raw = raw_apply_rate();
	double kf = kubefakes_cpu_s() - kf0, me = cpu_s(getpid()) - me0;
	clear_public(h);
	printf("kubefake's own apply rate with libcurl multi, same clusters "
	       "(%d distinct applies): %.0f applies/s; CPU per apply: "
	       "kubefake %.0f µs, libcurl %.0f µs\n",
	    nservices, raw, 1e6 * kf / nservices, 1e6 * me / nservices);
	printf("RESULT curl_rate=%.0f curl_kf_cpu_us=%.0f "
	       "curl_client_cpu_us=%.0f\n",
	    raw, 1e6 * kf / nservices, 1e6 * me / nservices);

	// The reconciler starts now: inside a restarted svcfleetd, or as
	// its own process against the running one.
	reset_stats(h);
	if (standalone) {
		char        bin[600], log[400], tf[400], url[450];
		const char *av[] = {bin, "--server", url, "--token-file", tf,
		    "--stats-every", "2s", NULL};
		snprintf(bin, sizeof(bin),
		    "%s/cmd/svcfleet-reconciler/svcfleet-reconciler", bindir);
		snprintf(log, sizeof(log), "%s/reconciler.log", dir);
		snprintf(tf, sizeof(tf), "%s/data/admin.token", dir);
		snprintf(url, sizeof(url), "ipc://%s", sock);
		t0      = now_s();
		rec_pid = spawn(av, log, NULL);
		c       = connect_srv();
	} else {
		kill(srv_pid, SIGTERM);
		waitpid(srv_pid, NULL, 0);
		t0 = now_s();
		start_svcfleetd(true);
		c = connect_srv();
	}
	kf0      = kubefakes_cpu_s();
	t_synced = wait_synced(h, c, nservices, t0, &t_applied);
	kf       = kubefakes_cpu_s() - kf0;
	me       = cpu_s(standalone ? rec_pid : srv_pid);
	printf("CPU per Service until SYNCED: kubefake %.0f µs, %s %.0f µs\n",
	    1e6 * kf / nservices,
	    standalone ? "svcfleet-reconciler" : "svcfleetd",
	    1e6 * me / nservices);
	printf("RESULT recon_kf_cpu_us=%.0f recon_cpu_us=%.0f\n",
	    1e6 * kf / nservices, 1e6 * me / nservices);
	printf(
	    "reconciler %s: all applied after %.2f s (%.0f services/s), "
	    "all SYNCED after %.2f s (%.0f services/s, %.0f%% of kubefake's "
	    "rate with libcurl)\n",
	    standalone ? "standalone" : "embedded", t_applied - t0,
	    nservices / (t_applied - t0), t_synced - t0,
	    nservices / (t_synced - t0),
	    100.0 * (nservices / (t_synced - t0)) / raw);
	printf("RESULT n=%d k=%d applied_s=%.3f synced_s=%.3f "
	       "synced_rate=%.0f\n",
	    nservices, nclusters, t_applied - t0, t_synced - t0,
	    nservices / (t_synced - t0));
	// One full list of each cluster, what a periodic resync costs.
	long lists = 0;
	for (int i = 0; i < nclusters; i++) {
		lists += cluster_stats(h, i).list;
	}
	printf("RESULT sync_lists_per_cluster=%.1f\n",
	    (double) lists / nclusters);
	// The protocol the reconciler used (issue 21): connections kubefake
	// accepted per ALPN protocol and h2 streams, since the stats reset
	// before the reconciler started (this bench's own stats reads are
	// among them: one connection each).
	long c2 = 0, c1 = 0, streams = 0;
	for (int i = 0; i < nclusters; i++) {
		long    code;
		json_t *j
		    = kreq(h, i, "GET", "/_kubefake/stats", NULL, NULL, &code);
		json_t *cn = json_object_get(j, "connections");
		c2 += (long) json_integer_value(json_object_get(cn, "h2"));
		c1 += (long) json_integer_value(json_object_get(cn, "http1"));
		streams += (long) json_integer_value(
		    json_object_get(j, "h2_streams"));
		json_decref(j);
	}
	printf("RESULT conns_h2=%ld conns_http1=%ld h2_streams=%ld\n", c2, c1,
	    streams);
	long rss = rss_anon_kib(srv_pid);
	printf("svcfleetd RssAnon when synced: %ld KiB\n", rss);
	sleep(3);
	printf(
	    "svcfleetd RssAnon 3 s later: %ld KiB\n", rss_anon_kib(srv_pid));
	printf("RESULT rss_kib=%ld\n", rss_anon_kib(srv_pid));
	if (standalone) {
		printf("svcfleet-reconciler RssAnon: %ld KiB\n",
		    rss_anon_kib(rec_pid));
	}
	if (steady_secs > 0) {
		steady(h);
	}
	heal(h);
	svcfleet_close(c);
}

static int
parse_grow(const char *s)
{
	char *end;
	ngrow = 0;
	while (*s != '\0' && ngrow < (int) (sizeof(grow) / sizeof(grow[0]))) {
		grow[ngrow] = strtol(s, &end, 10);
		if (end == s || grow[ngrow] < 1
		    || (ngrow > 0 && grow[ngrow] <= grow[ngrow - 1])) {
			return (-1);
		}
		ngrow++;
		s = *end == ',' ? end + 1 : end;
		if (*end != ',' && *end != '\0') {
			return (-1);
		}
	}
	return (ngrow > 0 && *s == '\0' ? 0 : -1);
}

int
main(int argc, char **argv)
{
	CURL       *h;
	const char *b = getenv("SF_BIN_DIR");

	for (int i = 1; i < argc; i++) {
		const char *a    = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-n") == 0 && next != NULL) {
			nservices = atoi(argv[++i]);
		} else if (strcmp(a, "-k") == 0 && next != NULL) {
			nclusters = atoi(argv[++i]);
		} else if (strcmp(a, "-H") == 0 && next != NULL) {
			nheals = atoi(argv[++i]);
		} else if (strcmp(a, "--wrk") == 0 && next != NULL) {
			wrk_secs = atoi(argv[++i]);
		} else if (strcmp(a, "--kubectl") == 0 && next != NULL) {
			kubectl_n = atoi(argv[++i]);
		} else if (strcmp(a, "--steady") == 0 && next != NULL) {
			steady_secs = atoi(argv[++i]);
		} else if (strcmp(a, "--grow") == 0 && next != NULL) {
			if (parse_grow(argv[++i]) != 0) {
				fprintf(
				    stderr, "--grow N1,N2,... ascending\n");
				return (2);
			}
		} else if (strcmp(a, "--alpn") == 0 && next != NULL) {
			alpn = argv[++i];
		} else if (strcmp(a, "--h2load") == 0 && next != NULL) {
			h2load_n = atoi(argv[++i]);
		} else if (strcmp(a, "--no-fsync") == 0) {
			no_fsync = 1;
		} else if (strcmp(a, "--standalone") == 0) {
			standalone = 1;
		} else if (strcmp(a, "--keep") == 0) {
			keep = 1; // leave the directory (logs) behind
		} else {
			fprintf(stderr,
			    "usage: recon-converge [-n SERVICES] [-k "
			    "CLUSTERS] "
			    "[-H HEALS] [--standalone]\n"
			    "                      [--wrk SECONDS] [--kubectl "
			    "N] [--steady SECONDS]\n"
			    "                      [--grow N1,N2,...] "
			    "[--no-fsync] [--keep]\n"
			    "                      [--alpn "
			    "h2,http/1.1|http/1.1] "
			    "[--h2load N]\n");
			return (2);
		}
	}
	if (nclusters < 1 || nclusters > MAX_CLUSTERS || nservices < 1
	    || wrk_secs < 0 || kubectl_n < 0 || steady_secs < 0) {
		fprintf(stderr, "bad -n, -k, --wrk, --kubectl or --steady\n");
		return (2);
	}
	snprintf(bindir, sizeof(bindir), "%s", b ? b : "./build");
	snprintf(dir, sizeof(dir), "/tmp/recon-bench-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		return (1);
	}
	snprintf(sock, sizeof(sock), "%s/svcfleet.sock", dir);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = curl_easy_init();

	for (int i = 0; i < nclusters; i++) {
		start_kubefake(i);
	}
	if (ngrow > 0) {
		run_grow(h);
	} else {
		run_converge(h);
	}
	curl_easy_cleanup(h);
	cleanup();
	curl_global_cleanup();
	nng_fini();
	return (0);
}
