// bench_proc.h: what claims-bench and fleet-bench share: a working
// directory, child processes (kubefake, svcfleetd, svcfleet-reconciler)
// that die with the benchmark, svcfleet clients, /proc CPU readings and
// requests to kubefake. Static functions, one copy per program.
#ifndef BENCH_PROC_H
#define BENCH_PROC_H

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "svcfleet/svcfleet.h"

#define BP_TOKEN        "bench-cluster-token"
#define BP_MAX_CLUSTERS 128

typedef struct bp_cluster {
	pid_t   pid;
	char    url[128];
	uint8_t ca[8192];
	size_t  calen;
} bp_cluster;

static char       bp_dir[256], bp_bindir[512], bp_sock[400], bp_admin[128];
static bp_cluster bp_cl[BP_MAX_CLUSTERS];
static int        bp_ncl;
static pid_t      bp_srv;
static int        bp_keep;

static double
bp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double) ts.tv_sec + ts.tv_nsec / 1e9);
}

static void
bp_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void
bp_stop(pid_t *pid, int sig)
{
	if (*pid > 0) {
		kill(*pid, sig);
		waitpid(*pid, NULL, 0);
		*pid = 0;
	}
}

// bp_stop_all stops svcfleetd and the kubefakes (the programs stop their
// other children first). Nothing is measured any more: kill -9, no
// waiting for graceful shutdowns.
static void
bp_stop_all(void)
{
	bp_stop(&bp_srv, SIGKILL);
	for (int i = 0; i < bp_ncl; i++) {
		bp_stop(&bp_cl[i].pid, SIGKILL);
	}
	bp_ncl = 0;
}

static void bp_cleanup(void);

static void bp_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
bp_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	bp_cleanup();
	exit(1);
}

static void
bp_rmdir(void)
{
	char cmd[400];
	if (bp_keep) {
		fprintf(stderr, "kept %s\n", bp_dir);
	} else if (bp_dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bp_dir);
		if (system(cmd) != 0) {
			fprintf(stderr, "could not remove %s\n", bp_dir);
		}
	}
}

// bp_init makes the working directory and reads $SF_BIN_DIR.
static void
bp_init(const char *name)
{
	const char *b = getenv("SF_BIN_DIR");
	snprintf(bp_bindir, sizeof(bp_bindir), "%s", b ? b : "./build");
	snprintf(bp_dir, sizeof(bp_dir), "/tmp/%s-XXXXXX", name);
	if (mkdtemp(bp_dir) == NULL) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	snprintf(bp_sock, sizeof(bp_sock), "%s/svcfleet.sock", bp_dir);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

// bp_spawn starts argv[0] with stderr (and stdout, unless outfd) to log;
// the child dies with the benchmark.
static pid_t
bp_spawn(const char *const *argv, const char *log, int *outfd)
{
	int   p[2];
	pid_t pid;
	if (outfd != NULL && pipe(p) != 0) {
		bp_die("pipe: %s", strerror(errno));
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

// bp_start_kubefakes starts n kubefakes (no state directory).
static void
bp_start_kubefakes(int n)
{
	if (n > BP_MAX_CLUSTERS) {
		bp_die("at most %d clusters", BP_MAX_CLUSTERS);
	}
	for (int i = 0; i < n; i++) {
		char        bin[600], kc[400], log[400], line[256];
		size_t      len = 0;
		int         fd;
		bp_cluster *c = &bp_cl[i];
		const char *argv[]
		    = {bin, "--listen", "127.0.0.1:0", "--token", BP_TOKEN,
		        "--write-kubeconfig", kc, "--log-level", "warn", NULL};
		snprintf(
		    bin, sizeof(bin), "%s/tests/kubefake/kubefake", bp_bindir);
		snprintf(kc, sizeof(kc), "%s/kc%d", bp_dir, i);
		snprintf(log, sizeof(log), "%s/kubefake%d.log", bp_dir, i);
		c->pid = bp_spawn(argv, log, &fd);
		bp_ncl = i + 1;
		while (len + 1 < sizeof(line)) {
			struct pollfd pf = {fd, POLLIN, 0};
			ssize_t       r;
			if (poll(&pf, 1, 20000) <= 0
			    || (r = read(
			            fd, line + len, sizeof(line) - 1 - len))
			        <= 0) {
				bp_die("kubefake %d did not start", i);
			}
			len += (size_t) r;
			line[len] = '\0';
			if (strchr(line, '\n') != NULL) {
				break;
			}
		}
		// The pipe stays open: kubefake must never see EPIPE.
		if (sscanf(line, "ready %127s", c->url) != 1) {
			bp_die("kubefake %d said: %s", i, line);
		}
		FILE  *f = fopen(kc, "r");
		char   buf[16384];
		size_t k = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f != NULL) {
			fclose(f);
		}
		buf[k]  = '\0';
		char *p = strstr(buf, "certificate-authority-data: ");
		if (p == NULL) {
			bp_die("no CA in %s", kc);
		}
		p += strlen("certificate-authority-data: ");
		p[strcspn(p, "\n")] = '\0';
		int d               = EVP_DecodeBlock(
		                  c->ca, (unsigned char *) p, (int) strlen(p));
		if (d < 0) {
			bp_die("bad CA in %s", kc);
		}
		c->calen = (size_t) d;
		while (c->calen > 0 && c->ca[c->calen - 1] == '\0') {
			c->calen--;
		}
	}
}

// bp_start_svcfleetd starts svcfleetd on a fresh store in sub (a
// directory name under the working directory). With SF_BENCH_ETCD set
// (etcd's client URLs, i18-wide), the store is etcd there, under a prefix
// of its own.
static void
bp_start_svcfleetd(const char *sub, bool reconciler)
{
	char        bin[600], data[400], log[400], url[450], prefix[500];
	const char *argv[20];
	const char *etcd = getenv("SF_BENCH_ETCD");
	int         n    = 0;
	snprintf(bin, sizeof(bin), "%s/cmd/svcfleetd/svcfleetd", bp_bindir);
	snprintf(data, sizeof(data), "%s/%s", bp_dir, sub);
	snprintf(log, sizeof(log), "%s/%s.log", bp_dir, sub);
	snprintf(url, sizeof(url), "ipc://%s", bp_sock);
	unlink(bp_sock);
	argv[n++] = bin;
	argv[n++] = "--data-dir";
	argv[n++] = data;
	argv[n++] = "--listen";
	argv[n++] = url;
	argv[n++] = "--http"; // no port another daemon may hold
	argv[n++] = "off";
	if (!reconciler) {
		argv[n++] = "--no-reconciler";
	}
	if (etcd != NULL && etcd[0] != '\0') {
		snprintf(prefix, sizeof(prefix), "/bench/%d/%s/",
		    (int) getpid(), sub);
		argv[n++] = "--store";
		argv[n++] = "etcd";
		argv[n++] = "--etcd-endpoints";
		argv[n++] = etcd;
		argv[n++] = "--etcd-prefix";
		argv[n++] = prefix;
	}
	argv[n] = NULL;
	bp_srv  = bp_spawn(argv, log, NULL);
}

static svcfleet_client *
bp_connect(const char *sub)
{
	svcfleet_client *c = NULL;
	svcfleet_status  st;
	char             url[450], path[400];
	svcfleet_status_init(&st);
	snprintf(url, sizeof(url), "ipc://%s", bp_sock);
	snprintf(path, sizeof(path), "%s/%s/admin.token", bp_dir, sub);
	bp_admin[0] = '\0';
	for (int i = 0; i < 400; i++) {
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			if (fgets(bp_admin, sizeof(bp_admin), f) != NULL) {
				bp_admin[strcspn(bp_admin, "\r\n")] = '\0';
			}
			fclose(f);
		}
		svcfleet_options o = {.url = url,
		    .token                 = bp_admin,
		    .timeout_ms            = 60000,
		    .connect_now           = true};
		if (bp_admin[0] != '\0' && svcfleet_open(&c, &o, &st) == 0) {
			Svcfleet__V1__Empty e = SVCFLEET__V1__EMPTY__INIT;
			Svcfleet__V1__HealthReply *h = NULL;
			if (svcfleet_health(c, &e, &h, &st) == 0) {
				svcfleet_free(h);
				svcfleet_status_fini(&st);
				return (c);
			}
			svcfleet_close(c);
		}
		bp_sleep_ms(50);
	}
	bp_die("svcfleetd did not come up: %s", st.message);
}

// bp_register registers cluster record name on kubefake k, with an
// optional label k=v.
static void
bp_register(svcfleet_client *c, const char *name, int k, const char *label)
{
	Svcfleet__V1__RegisterClusterRequest req
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster   rc    = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__Cluster  *out   = NULL;
	Svcfleet__V1__KeyValue  kv    = SVCFLEET__V1__KEY_VALUE__INIT;
	Svcfleet__V1__KeyValue *kvs[] = {&kv};
	char                    key[64];
	svcfleet_status         st;
	svcfleet_status_init(&st);
	rc.name         = (char *) name;
	rc.api_server   = bp_cl[k].url;
	rc.token        = BP_TOKEN;
	rc.ca_data.data = bp_cl[k].ca;
	rc.ca_data.len  = bp_cl[k].calen;
	if (label != NULL) {
		snprintf(key, sizeof(key), "%s", label);
		char *eq = strchr(key, '=');
		if (eq != NULL) {
			*eq         = '\0';
			kv.key      = key;
			kv.value    = eq + 1;
			rc.labels   = kvs;
			rc.n_labels = 1;
		}
	}
	req.cluster = &rc;
	if (svcfleet_register_cluster(c, &req, &out, &st) != 0) {
		bp_die("register %s: %s", name, st.message);
	}
	svcfleet_free(out);
	svcfleet_status_fini(&st);
}

// CPU seconds (user + system) a process has used so far.
__attribute__((unused)) static double
bp_cpu_s(pid_t pid)
{
	char          path[64];
	unsigned long ut = 0, st = 0;
	FILE         *f;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	if ((f = fopen(path, "r")) == NULL) {
		return (0);
	}
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

static int
bp_cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;
	return ((x > y) - (x < y));
}

// bp_pct: the p-th percentile (nearest rank) of v[0..n) (sorts v).
static double
bp_pct(double *v, int n, double p)
{
	if (n <= 0) {
		return (0);
	}
	qsort(v, (size_t) n, sizeof(double), bp_cmp_double);
	int r = (int) (p / 100.0 * n + 0.999999);
	r     = r < 1 ? 1 : r > n ? n : r;
	return (v[r - 1]);
}

__attribute__((unused)) static size_t
bp_discard(char *p, size_t sz, size_t n, void *arg)
{
	(void) p;
	(void) arg;
	return (sz * n);
}

// bp_kf_status: the HTTP status of GET path on kubefake k (0: no answer).
__attribute__((unused)) static long
bp_kf_status(CURL *h, int k, const char *path)
{
	char             url[600], auth[100];
	long             code = 0;
	struct curl_blob ca = {bp_cl[k].ca, bp_cl[k].calen, CURL_BLOB_NOCOPY};
	struct curl_slist *hd = NULL;
	snprintf(url, sizeof(url), "%s%s", bp_cl[k].url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", BP_TOKEN);
	hd = curl_slist_append(hd, auth);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bp_discard);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	if (curl_easy_perform(h) == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	}
	curl_slist_free_all(hd);
	return (code);
}

// bp_create_service stores Service ns/name in cluster (one call).
static int
bp_create_service(svcfleet_client *c, const char *cluster, const char *ns,
    const char *name, svcfleet_status *st)
{
	Svcfleet__V1__CreateServiceRequest req
	    = SVCFLEET__V1__CREATE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service      svc    = SVCFLEET__V1__SERVICE__INIT;
	Svcfleet__V1__ObjectMeta   m      = SVCFLEET__V1__OBJECT_META__INIT;
	Svcfleet__V1__ServiceSpec  sp     = SVCFLEET__V1__SERVICE_SPEC__INIT;
	Svcfleet__V1__KeyValue     sel    = SVCFLEET__V1__KEY_VALUE__INIT;
	Svcfleet__V1__ServicePort  p      = SVCFLEET__V1__SERVICE_PORT__INIT;
	Svcfleet__V1__KeyValue    *sels[] = {&sel};
	Svcfleet__V1__ServicePort *ps[]   = {&p};
	Svcfleet__V1__Service     *out    = NULL;
	m.cluster                         = (char *) cluster;
	m.namespace_                      = (char *) ns;
	m.name                            = (char *) name;
	sel.key                           = "app";
	sel.value                         = (char *) name;
	p.port                            = 80;
	p.target_port                     = 8080;
	sp.selector                       = sels;
	sp.n_selector                     = 1;
	sp.ports                          = ps;
	sp.n_ports                        = 1;
	svc.metadata                      = &m;
	svc.spec                          = &sp;
	req.service                       = &svc;
	int rc = svcfleet_create_service(c, &req, &out, st);
	svcfleet_free(out);
	return (rc);
}

#endif // BENCH_PROC_H
