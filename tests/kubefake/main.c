// main.c: kubefake's command line (DESIGN.md §6, a contract), start-up,
// the objects every cluster has, and clean shutdown on SIGTERM/SIGINT.
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kf.h"
#include "kf_http.h"
#include "kf_tls.h"
#include "log.h"

static const char usage[]
    = "usage: kubefake --listen HOST:PORT [options]\n"
      "\n"
      "A Kubernetes API server for Services (plus Namespaces, Events,\n"
      "Deployments, StatefulSets, DaemonSets) for tests and demos. It prints\n"
      "'ready https://HOST:PORT' on stdout once it serves. HTTP/2 and "
      "HTTP/1.1\n"
      "are negotiated by ALPN (h2 preferred), as kube-apiserver does.\n"
      "\n"
      "  --listen HOST:PORT        IPv4 address to serve on; port 0 picks a "
      "free one\n"
      "  --state-dir DIR           keep objects, resourceVersions, the CA and "
      "the\n"
      "                            generated token in DIR across restarts\n"
      "  --token TOKEN             accept this bearer token (repeatable); "
      "without\n"
      "                            one a random token is generated\n"
      "  --token-readonly TOKEN    accept this token for get/list/watch only; "
      "its\n"
      "                            writes get 403 Forbidden (repeatable)\n"
      "  --write-kubeconfig FILE   write a kubeconfig (CA data, server, "
      "token)\n"
      "  --node-port-range LO-HI   default 30000-32767\n"
      "  --service-cidr CIDR       IPv4 cluster IP range, default "
      "10.96.0.0/12\n"
      "  --metallb-pool NAME=CIDR  a MetalLB address pool (repeatable; the "
      "first\n"
      "                            is the default pool)\n"
      "  --lb-delay-ms N           MetalLB assigns addresses after N ms "
      "(default 100)\n"
      "  --watch-history N         watch events kept for resuming (default "
      "10000);\n"
      "                            older resourceVersions get 410 Expired\n"
      "  --bookmark-interval-ms N  BOOKMARK period for watches that allow "
      "them\n"
      "                            (default 10000)\n"
      "  --threads N               HTTP worker threads (default: CPUs, at "
      "least 2);\n"
      "                            each connection also has a thread of its "
      "own\n"
      "  --tls-cert F --tls-key F [--ca-cert F]  serve these instead of a\n"
      "                            generated CA and certificate\n"
      "  --log-level L             debug, info, warn, error (default info)\n"
      "  --alpn LIST               protocols offered by ALPN, in order: "
      "h2,http/1.1\n"
      "                            (default) or http/1.1 (a server without "
      "HTTP/2)\n"
      "  --help                    this text\n"
      "\n"
      "Test control (bearer token required; not subject to faults):\n"
      "  GET|POST|DELETE /_kubefake/faults   {latency_ms, error_rate, "
      "error_status,\n"
      "                                      retry_after_s, drop_rate, "
      "refuse_all,\n"
      "                                      h2_rst_rate, h2_rst_after_rate,\n"
      "                                      h2_goaway_after}\n"
      "  GET /_kubefake/stats, POST /_kubefake/stats/reset\n"
      "  GET /_kubefake/metallb/pools\n"
      "  GET /_kubefake/writes   accepted Service writes with the "
      "X-Svcfleet-Reconciler\n"
      "                          and X-Svcfleet-Claim-Token headers sent\n";

static int
parse_int(const char *s, int *out)
{
	char *end;
	errno  = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > 100000000) {
		return -1;
	}
	*out = (int) v;
	return 0;
}

// The options table drives parsing (STYLE.md: tables over code).
enum { OPT_STR, OPT_INT, OPT_LIST, OPT_LEVEL };

typedef struct opt {
	const char *op_name;
	int         op_kind;
	size_t      op_off;   // into kf_opts
	size_t      op_count; // OPT_LIST: offset of the counter
	int         op_max;   // OPT_LIST: capacity; OPT_INT: maximum
	int         op_min;   // OPT_INT
} opt;

#define O(f) offsetof(kf_opts, f)
static const opt opts[] = {
    {"--listen", OPT_STR, O(o_listen), 0, 0, 0},
    {"--state-dir", OPT_STR, O(o_state_dir), 0, 0, 0},
    {"--token", OPT_LIST, O(o_tokens), O(o_ntokens), 15, 0},
    {"--token-readonly", OPT_LIST, O(o_ro_tokens), O(o_nro_tokens), 8, 0},
    {"--write-kubeconfig", OPT_STR, O(o_kubeconfig), 0, 0, 0},
    {"--node-port-range", OPT_STR, O(o_node_ports), 0, 0, 0},
    {"--service-cidr", OPT_STR, O(o_service_cidr), 0, 0, 0},
    {"--metallb-pool", OPT_LIST, O(o_pools), O(o_npools), 16, 0},
    {"--lb-delay-ms", OPT_INT, O(o_lb_delay_ms), 0, 3600000, 0},
    {"--watch-history", OPT_INT, O(o_watch_history), 0, 10000000, 1},
    {"--bookmark-interval-ms", OPT_INT, O(o_bookmark_ms), 0, 3600000, 10},
    {"--threads", OPT_INT, O(o_threads), 0, 64, 1},
    {"--tls-cert", OPT_STR, O(o_tls_cert), 0, 0, 0},
    {"--tls-key", OPT_STR, O(o_tls_key), 0, 0, 0},
    {"--ca-cert", OPT_STR, O(o_ca_cert), 0, 0, 0},
    {"--log-level", OPT_LEVEL, O(o_log_level), 0, 0, 0},
    {"--alpn", OPT_STR, O(o_alpn), 0, 0, 0}, // issue 21
    {NULL, 0, 0, 0, 0, 0},
};
#undef O

static int
parse_args(int argc, char **argv, kf_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->o_node_ports    = "30000-32767";
	o->o_service_cidr  = "10.96.0.0/12";
	o->o_lb_delay_ms   = 100;
	o->o_watch_history = 10000;
	o->o_bookmark_ms   = 10000;
	o->o_log_level     = SF_LOG_INFO;
	long cpus          = sysconf(_SC_NPROCESSORS_ONLN);
	o->o_threads       = cpus < 2 ? 2 : (int) cpus;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage, stdout);
			exit(0);
		}
		// --name=value or --name value
		char        name[64];
		const char *v  = NULL;
		const char *eq = strchr(a, '=');
		if (strncmp(a, "--", 2) == 0 && eq
		    && (size_t) (eq - a) < sizeof(name)) {
			memcpy(name, a, (size_t) (eq - a));
			name[eq - a] = '\0';
			v            = eq + 1;
		} else {
			snprintf(name, sizeof(name), "%s", a);
		}
		const opt *op = opts;
		while (op->op_name && strcmp(op->op_name, name) != 0) {
			op++;
		}
		if (op->op_name == NULL) {
			fprintf(stderr,
			    "kubefake: unknown option %s (see --help)\n", a);
			return -1;
		}
		if (v == NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "kubefake: %s needs a value\n",
				    name);
				return -1;
			}
			v = argv[++i];
		}
		char *field = (char *) o + op->op_off;
		int   bad   = 0;
		switch (op->op_kind) {
		case OPT_STR:
			*(const char **) field = v;
			break;
		case OPT_LIST: {
			int *n = (int *) ((char *) o + op->op_count);
			if (*n >= op->op_max) {
				fprintf(stderr, "kubefake: at most %d %s\n",
				    op->op_max, name);
				return -1;
			}
			((const char **) field)[(*n)++] = v;
			break;
		}
		case OPT_INT:
			bad = parse_int(v, (int *) field)
			    || *(int *) field < op->op_min
			    || *(int *) field > op->op_max;
			break;
		case OPT_LEVEL:
			*(int *) field = sf_log_level_parse(v);
			bad            = *(int *) field < 0;
			break;
		}
		if (bad) {
			fprintf(stderr, "kubefake: bad value for %s: %s\n",
			    name, v);
			return -1;
		}
	}
	if (o->o_listen == NULL) {
		fprintf(stderr,
		    "kubefake: --listen HOST:PORT is required (see "
		    "--help)\n");
		return -1;
	}
	if ((o->o_tls_cert == NULL) != (o->o_tls_key == NULL)) {
		fprintf(stderr,
		    "kubefake: --tls-cert and --tls-key go together\n");
		return -1;
	}
	return 0;
}

static int
parse_listen(const char *s, struct sockaddr_in *sa, char *host, size_t cap)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL || (size_t) (colon - s) >= cap) {
		return -1;
	}
	memcpy(host, s, (size_t) (colon - s));
	host[colon - s] = '\0';
	if (strcmp(host, "localhost") == 0) {
		snprintf(host, cap, "127.0.0.1");
	}
	int port;
	if (parse_int(colon + 1, &port) != 0 || port > 65535) {
		return -1;
	}
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port   = htons((uint16_t) port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

// token_setup generates a token when none was given (kept in the state
// directory so a restart accepts the same kubeconfig).
static char *
token_setup(kf_opts *o)
{
	if (o->o_ntokens > 0) {
		return NULL;
	}
	char  path[4096];
	char *tok = NULL;
	if (o->o_state_dir) {
		snprintf(path, sizeof(path), "%s/token", o->o_state_dir);
		FILE *f = fopen(path, "r");
		if (f) {
			char buf[256];
			if (fgets(buf, sizeof(buf), f)) {
				buf[strcspn(buf, "\r\n")] = '\0';
				if (*buf) {
					tok = strdup(buf);
				}
			}
			fclose(f);
		}
	}
	if (tok == NULL) {
		tok = malloc(65);
		for (int i = 0; i < 4; i++) {
			snprintf(tok + 16 * i, 17, "%016llx",
			    (unsigned long long) kf_rand_u64());
		}
		if (o->o_state_dir) {
			FILE *f = fopen(path, "w");
			if (f) {
				chmod(path, 0600);
				fprintf(f, "%s\n", tok);
				fclose(f);
			}
		}
	}
	o->o_tokens[o->o_ntokens++] = tok;
	return tok;
}

static json_t *
meta_obj(const char *kind, const char *av, const char *ns, const char *name)
{
	json_t *o = json_object();
	json_object_set_new(o, "kind", json_string(kind));
	json_object_set_new(o, "apiVersion", json_string(av));
	json_t *m = json_object();
	json_object_set_new(m, "name", json_string(name));
	if (ns) {
		json_object_set_new(m, "namespace", json_string(ns));
	}
	json_object_set_new(o, "metadata", m);
	return o;
}

// seed creates what a fresh cluster has: the default, kube-system,
// kube-public and kube-node-lease namespaces and default/kubernetes.
static void
seed(void)
{
	static const char *nss[] = {
	    "default", "kube-system", "kube-public", "kube-node-lease", NULL};
	char now[32], uid[37];
	kf_now_rfc3339(now);
	pthread_mutex_lock(&kf_st.st_mu);
	for (int i = 0; nss[i]; i++) {
		if (kf_lookup(KF_R_NAMESPACES, nss[i])) {
			continue;
		}
		json_t *o = meta_obj("Namespace", "v1", NULL, nss[i]);
		json_t *m = json_object_get(o, "metadata");
		kf_uuid(uid);
		json_object_set_new(m, "uid", json_string(uid));
		json_object_set_new(m, "creationTimestamp", json_string(now));
		json_object_set_new(m, "labels",
		    json_pack("{s:s}", "kubernetes.io/metadata.name", nss[i]));
		json_object_set_new(o, "spec",
		    json_pack("{s:[s]}", "finalizers", "kubernetes"));
		json_object_set_new(
		    o, "status", json_pack("{s:s}", "phase", "Active"));
		kf_ssa_ctx x
		    = {&kf_type_any, "v1", NULL, "kube-apiserver", now};
		kf_managers mg = {0};
		kf_ssa_update(&x, NULL, o, &mg);
		kf_managers_encode(&mg, o);
		kf_managers_fini(&mg);
		kf_commit(KF_R_NAMESPACES, nss[i], o, KF_EV_ADDED);
	}
	if (kf_lookup(KF_R_SERVICES, "default/kubernetes") == NULL) {
		char ip[16];
		kf_ip4_format(kf_st.st_alloc.a_cidr.c_base + 1, ip);
		json_t *o = meta_obj("Service", "v1", "default", "kubernetes");
		json_object_set_new(json_object_get(o, "metadata"), "labels",
		    json_pack("{s:s,s:s}", "component", "apiserver",
		        "provider", "kubernetes"));
		json_object_set_new(o, "spec",
		    json_pack("{s:[{s:s,s:s,s:i,s:i}],s:s,s:[s]}", "ports",
		        "name", "https", "protocol", "TCP", "port", 443,
		        "targetPort", 6443, "clusterIP", ip, "clusterIPs",
		        ip));
		kf_service_default(o);
		kf_ssa_ctx x
		    = {&kf_type_service, "v1", NULL, "kube-apiserver", now};
		kf_managers mg = {0};
		kf_ssa_update(&x, NULL, o, &mg);
		kf_resp r = {0};
		if (kf_service_create(o, false, &r) == 0) {
			kf_managers_encode(&mg, o);
			char err[64];
			kf_schema_normalize(&kf_type_service, o, NULL, false,
			    err, sizeof(err));
			kf_commit(KF_R_SERVICES, "default/kubernetes", o,
			    KF_EV_ADDED);
		} else {
			SF_WARN("kubefake",
			    "cannot create default/kubernetes: %s",
			    r.r_body ? r.r_body : "");
			json_decref(o);
		}
		kf_resp_fini(&r);
		kf_managers_fini(&mg);
	}
	pthread_mutex_unlock(&kf_st.st_mu);
}

int
main(int argc, char **argv)
{
	kf_opts o;
	if (parse_args(argc, argv, &o) != 0) {
		return 2;
	}
	sf_log_set_level(o.o_log_level);
	if (o.o_alpn && strcmp(o.o_alpn, "h2,http/1.1") != 0
	    && strcmp(o.o_alpn, "http/1.1") != 0) {
		fprintf(stderr,
		    "kubefake: --alpn wants h2,http/1.1 or http/1.1, got %s\n",
		    o.o_alpn);
		return 2;
	}
	struct sockaddr_in sa;
	char               host[64];
	if (parse_listen(o.o_listen, &sa, host, sizeof(host)) != 0) {
		fprintf(stderr, "kubefake: --listen wants IPV4:PORT, got %s\n",
		    o.o_listen);
		return 2;
	}
	if (o.o_state_dir && mkdir(o.o_state_dir, 0700) != 0
	    && errno != EEXIST) {
		fprintf(stderr, "kubefake: cannot create %s: %s\n",
		    o.o_state_dir, strerror(errno));
		return 1;
	}
	// Many watchers and keep-alive clients need descriptors.
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	// Signals are taken by sigwait below; every thread inherits the mask.
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	char *gen_token = token_setup(&o);
	if (kf_timer_start() != 0 || kf_state_init(&o) != 0) {
		return 1;
	}
	if (kf_persist_load() != 0) {
		return 1;
	}
	seed();
	kf_tls tls;
	if (kf_tls_setup(&tls, o.o_state_dir, o.o_tls_cert, o.o_tls_key,
	        o.o_ca_cert, host)
	    != 0) {
		SF_ERROR("kubefake", "cannot set up TLS");
		return 1;
	}
	int                port;
	char               unix_name[96];
	struct MHD_Daemon *d
	    = kf_http_start(o.o_threads, unix_name, sizeof(unix_name));
	if (d == NULL
	    || kf_front_start(&sa, tls.t_cert, tls.t_key, d, unix_name, &port)
	        != 0) {
		SF_ERROR("kubefake", "cannot listen on %s: %s", o.o_listen,
		    strerror(errno));
		// What was set up is given back (LeakSanitizer checks this
		// exit too: a port taken is an ordinary failure).
		if (d != NULL) {
			MHD_stop_daemon(d);
		}
		kf_tls_fini(&tls);
		free(gen_token);
		return 1;
	}
	kf_st.st_port = port;
	snprintf(kf_st.st_host, sizeof(kf_st.st_host), "%s:%d", host, port);
	snprintf(
	    kf_st.st_url, sizeof(kf_st.st_url), "https://%s:%d", host, port);
	kf_persist_start();
	if (o.o_kubeconfig
	    && kf_kubeconfig_write(
	           o.o_kubeconfig, kf_st.st_url, tls.t_ca, o.o_tokens[0])
	        != 0) {
		SF_ERROR("kubefake", "cannot write %s: %s", o.o_kubeconfig,
		    strerror(errno));
		kf_front_stop();
		MHD_stop_daemon(d);
		kf_tls_fini(&tls);
		free(gen_token);
		return 1;
	}
	SF_INFO("kubefake",
	    "serving %s (service-cidr %s, node ports %s, %d "
	    "pools, %d threads)",
	    kf_st.st_url, kf_st.st_alloc.a_cidr.c_text, o.o_node_ports,
	    kf_st.st_npools, o.o_threads);
	printf("ready %s\n", kf_st.st_url);
	fflush(stdout);

	int sig = 0;
	sigwait(&sigs, &sig);
	SF_INFO("kubefake", "signal %d: shutting down", sig);
	// The order matters. First nothing new: no connection accepted, no
	// request served, no watch started, no timer re-armed. Then every
	// watch ends and the timers run what is left once (resuming delayed
	// requests, which are then refused), so that no connection is
	// suspended when the daemon stops, and none is resumed after.
	atomic_store(&kf_st.st_stopping, true);
	kf_front_stop();
	kf_watch_shutdown();
	kf_timer_stop();
	MHD_stop_daemon(d);
	kf_persist_stop();
	kf_metallb_fini();
	kf_state_fini();
	kf_tls_fini(&tls);
	free(gen_token);
	return 0;
}
