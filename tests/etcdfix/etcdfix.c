// etcdfix.c: a throwaway etcd cluster on loopback for tests.
#include "etcdfix.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define URL_MAX   64
#define PATH_MAX_ 4096
#define ARGS_MAX  64

typedef struct member {
	pid_t m_pid; // 0 when not running
	int   m_client_port;
	int   m_peer_port;
	char  m_url[URL_MAX];
} member;

struct sf_etcdfix {
	int         f_n;
	member      f_m[SF_ETCDFIX_MAX_MEMBERS];
	char        f_dir[PATH_MAX_];
	char        f_endpoints[SF_ETCDFIX_MAX_MEMBERS * URL_MAX];
	char        f_cluster[SF_ETCDFIX_MAX_MEMBERS * (URL_MAX + 8)];
	char        f_token[32];
	char        f_quota[32];
	const char *f_args[ARGS_MAX];
	int         f_nargs;
	bool        f_tls;
	char        f_ca[PATH_MAX_ + 16], f_crt[PATH_MAX_ + 16],
	    f_key[PATH_MAX_ + 16];
	char f_scrt[PATH_MAX_ + 16], f_skey[PATH_MAX_ + 16];
};

static const char *
etcd_bin(void)
{
	const char *b = getenv("SF_ETCD_BIN");
	return (b != NULL && b[0] != '\0' ? b : "/usr/bin/etcd");
}

bool
sf_etcdfix_available(void)
{
	return (access(etcd_bin(), X_OK) == 0);
}

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
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

// free_port finds a free loopback port below the kernel's ephemeral range
// (32768 and up on Debian), outside 21000-23999 (the fixed ports of the
// README's HA block, which ha_readme_test runs as written). A port the kernel
// handed out and this process released could be handed out again, to another
// test's listener or to any outgoing connection, before etcd binds it, and a
// member killed and restarted on its port (ha_test) leaves it free for a
// while; below the range only another fixture picking at random can clash (the
// members' start then fails and the fixture says so).
//
// Ports already given to this fixture's members (avoid, navoid) are never
// given again: two members, or one member's client and peer port, on one
// port made the start fail now and then ("no free port", ha_test).
static int
free_port(const int *avoid, int navoid)
{
	struct sockaddr_in sa;
	unsigned           seed = (unsigned) getpid() ^ (unsigned) time(NULL);
	static unsigned    calls; // the fixture is not thread-safe anyway

	seed ^= ++calls * 2654435761u;
	for (int tries = 0; tries < 1000; tries++) {
		int  port = 20000 + (int) (rand_r(&seed) % 12000);
		bool given
		    = port >= 21000 && port < 24000; // README's HA block
		for (int i = 0; i < navoid; i++) {
			given |= avoid[i] == port;
		}
		if (given) {
			continue;
		}
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			fprintf(
			    stderr, "etcdfix: socket: %s\n", strerror(errno));
			return (-1);
		}
		memset(&sa, 0, sizeof(sa));
		sa.sin_family      = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port        = htons((uint16_t) port);
		if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
			close(fd);
			return (port);
		}
		close(fd);
	}
	return (-1);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void) sb;
	(void) flag;
	(void) ftw;
	return (remove(path));
}

// ---------------------------------------------------------------- HTTP

typedef struct body {
	char  *b_p;
	size_t b_n;
} body;

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	body  *b = arg;
	size_t k = sz * n;
	char  *np;

	if (b->b_n + k > (1u << 20)
	    || (np = realloc(b->b_p, b->b_n + k + 1)) == NULL) {
		return (0);
	}
	memcpy(np + b->b_n, p, k);
	b->b_n += k;
	np[b->b_n] = '\0';
	b->b_p     = np;
	return (k);
}

// http asks url (POSTing post when not NULL) and returns the body (free())
// of a 200 answer, or NULL.
static char *
http(const sf_etcdfix *f, const char *url, const char *post, int timeout_ms)
{
	CURL *h    = curl_easy_init();
	body  b    = {NULL, 0};
	long  code = 0;

	if (h == NULL) {
		return (NULL);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (f->f_tls) {
		curl_easy_setopt(h, CURLOPT_CAINFO, f->f_ca);
		curl_easy_setopt(h, CURLOPT_SSLCERT, f->f_crt);
		curl_easy_setopt(h, CURLOPT_SSLKEY, f->f_key);
	}
	if (post != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
	}
	if (curl_easy_perform(h) != CURLE_OK
	    || curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK
	    || code != 200) {
		free(b.b_p);
		b.b_p = NULL;
	}
	curl_easy_cleanup(h);
	return (b.b_p);
}

static bool
healthy(const sf_etcdfix *f, const member *m)
{
	char  url[URL_MAX + 16];
	char *b;
	bool  ok;

	snprintf(url, sizeof(url), "%s/health", m->m_url);
	b  = http(f, url, NULL, 500);
	ok = b != NULL && strstr(b, "\"true\"") != NULL;
	free(b);
	return (ok);
}

// ----------------------------------------------------------------- TLS

// make_certs makes a CA, a server certificate for 127.0.0.1 and a client
// certificate with openssl (EC keys: quick to make).
static int
make_certs(sf_etcdfix *f)
{
	char cmd[8 * PATH_MAX_];
	int  rv;

	snprintf(f->f_ca, sizeof(f->f_ca), "%s/ca.crt", f->f_dir);
	snprintf(f->f_scrt, sizeof(f->f_scrt), "%s/server.crt", f->f_dir);
	snprintf(f->f_skey, sizeof(f->f_skey), "%s/server.key", f->f_dir);
	snprintf(f->f_crt, sizeof(f->f_crt), "%s/client.crt", f->f_dir);
	snprintf(f->f_key, sizeof(f->f_key), "%s/client.key", f->f_dir);
	snprintf(cmd, sizeof(cmd),
	    "cd '%s' && exec >tls.log 2>&1 && "
	    "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
	    "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:prime256v1 "
	    "-nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=etcdfix-ca "
	    "&& "
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
	    "-nodes -keyout server.key -out server.csr -subj /CN=etcd && "
	    "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key "
	    "-CAcreateserial -out server.crt -days 2 -extfile san.ext && "
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
	    "-nodes -keyout client.key -out client.csr -subj /CN=svcfleet && "
	    "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key "
	    "-CAcreateserial -out client.crt -days 2",
	    f->f_dir);
	if ((rv = system(cmd)) != 0) {
		fprintf(stderr,
		    "etcdfix: making certificates failed (%d): see "
		    "%s/tls.log\n",
		    rv, f->f_dir);
		return (-1);
	}
	return (0);
}

// ------------------------------------------------------------- members

static int
spawn(sf_etcdfix *f, int i)
{
	member     *m = &f->f_m[i];
	char        name[16], data[PATH_MAX_ + 16], log[PATH_MAX_ + 16];
	char        curl[URL_MAX], purl[URL_MAX];
	const char *argv[ARGS_MAX + 32];
	int         a = 0;
	pid_t       pid, parent = getpid();

	snprintf(name, sizeof(name), "m%d", i);
	snprintf(data, sizeof(data), "%s/m%d", f->f_dir, i);
	snprintf(log, sizeof(log), "%s/m%d.log", f->f_dir, i);
	snprintf(curl, sizeof(curl), "%s://127.0.0.1:%d",
	    f->f_tls ? "https" : "http", m->m_client_port);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", m->m_peer_port);
	argv[a++] = etcd_bin();
	argv[a++] = "--name";
	argv[a++] = name;
	argv[a++] = "--data-dir";
	argv[a++] = data;
	argv[a++] = "--listen-client-urls";
	argv[a++] = curl;
	argv[a++] = "--advertise-client-urls";
	argv[a++] = curl;
	argv[a++] = "--listen-peer-urls";
	argv[a++] = purl;
	argv[a++] = "--initial-advertise-peer-urls";
	argv[a++] = purl;
	argv[a++] = "--initial-cluster";
	argv[a++] = f->f_cluster;
	argv[a++] = "--initial-cluster-token";
	argv[a++] = f->f_token;
	argv[a++] = "--initial-cluster-state";
	argv[a++] = "new";
	// Fast failure detection: a killed leader is replaced within about
	// a second, so failover tests stay short.
	argv[a++] = "--heartbeat-interval";
	argv[a++] = "25";
	argv[a++] = "--election-timeout";
	argv[a++] = "250";
	argv[a++] = "--logger";
	argv[a++] = "zap";
	argv[a++] = "--log-level";
	argv[a++] = "warn";
	if (f->f_quota[0] != '\0') {
		argv[a++] = "--quota-backend-bytes";
		argv[a++] = f->f_quota;
	}
	if (f->f_tls) {
		argv[a++] = "--cert-file";
		argv[a++] = f->f_scrt;
		argv[a++] = "--key-file";
		argv[a++] = f->f_skey;
		argv[a++] = "--trusted-ca-file";
		argv[a++] = f->f_ca;
		argv[a++] = "--client-cert-auth";
	}
	for (int k = 0; k < f->f_nargs; k++) {
		argv[a++] = f->f_args[k];
	}
	argv[a] = NULL;

	if ((pid = fork()) < 0) {
		fprintf(stderr, "etcdfix: fork: %s\n", strerror(errno));
		return (-1);
	}
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		// Die with the test, whatever way it ends.
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(1);
		}
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], (char *const *) argv);
		_exit(127);
	}
	m->m_pid = pid;
	return (0);
}

static int
wait_healthy(sf_etcdfix *f, int i, int timeout_ms)
{
	int64_t until = now_ms() + timeout_ms;
	int     st;

	for (;;) {
		if (waitpid(f->f_m[i].m_pid, &st, WNOHANG)
		    == f->f_m[i].m_pid) {
			fprintf(stderr,
			    "etcdfix: member %d exited at start (see "
			    "%s/m%d.log)\n",
			    i, f->f_dir, i);
			f->f_m[i].m_pid = 0;
			return (-1);
		}
		if (healthy(f, &f->f_m[i])) {
			return (0);
		}
		if (now_ms() > until) {
			fprintf(stderr,
			    "etcdfix: member %d not healthy after %d ms (see "
			    "%s/m%d.log)\n",
			    i, timeout_ms, f->f_dir, i);
			return (-1);
		}
		sleep_ms(20);
	}
}

int
sf_etcdfix_start(sf_etcdfix **out, const sf_etcdfix_opts *o)
{
	static const sf_etcdfix_opts none = {0};
	const char                  *base = "/dev/shm";
	sf_etcdfix                  *f;
	size_t                       off = 0;

	*out = NULL;
	if (o == NULL) {
		o = &none;
	}
	if (o->eo_members < 0 || o->eo_members > SF_ETCDFIX_MAX_MEMBERS) {
		fprintf(stderr, "etcdfix: %d members?\n", o->eo_members);
		return (-1);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		return (-1);
	}
	f->f_n   = o->eo_members > 0 ? o->eo_members : 1;
	f->f_tls = o->eo_tls;
	if (access(base, W_OK) != 0) {
		base = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	}
	snprintf(f->f_dir, sizeof(f->f_dir), "%s/sfetcd-XXXXXX", base);
	if (mkdtemp(f->f_dir) == NULL) {
		fprintf(stderr, "etcdfix: mkdtemp %s: %s\n", f->f_dir,
		    strerror(errno));
		free(f);
		return (-1);
	}
	snprintf(f->f_token, sizeof(f->f_token), "sf-%ld-%ld", (long) getpid(),
	    (long) now_ms());
	if (f->f_tls && make_certs(f) != 0) {
		sf_etcdfix_stop(f);
		return (-1);
	}
	if (o->eo_quota_bytes > 0) {
		snprintf(f->f_quota, sizeof(f->f_quota), "%llu",
		    (unsigned long long) o->eo_quota_bytes);
	}
	for (const char *const *a = o->eo_args; a != NULL && *a != NULL; a++) {
		if (f->f_nargs < ARGS_MAX) {
			f->f_args[f->f_nargs++] = *a;
		}
	}
	int given[2 * SF_ETCDFIX_MAX_MEMBERS], ngiven = 0;
	for (int i = 0; i < f->f_n; i++) {
		member *m        = &f->f_m[i];
		m->m_client_port = free_port(given, ngiven);
		given[ngiven++]  = m->m_client_port;
		m->m_peer_port   = free_port(given, ngiven);
		given[ngiven++]  = m->m_peer_port;
		if (m->m_client_port <= 0 || m->m_peer_port <= 0) {
			fprintf(stderr, "etcdfix: no free port\n");
			sf_etcdfix_stop(f);
			return (-1);
		}
		snprintf(m->m_url, sizeof(m->m_url), "%s://127.0.0.1:%d",
		    f->f_tls ? "https" : "http", m->m_client_port);
		off += (size_t) snprintf(f->f_cluster + off,
		    sizeof(f->f_cluster) - off, "%sm%d=http://127.0.0.1:%d",
		    i > 0 ? "," : "", i, m->m_peer_port);
	}
	off = 0;
	for (int i = 0; i < f->f_n; i++) {
		off += (size_t) snprintf(f->f_endpoints + off,
		    sizeof(f->f_endpoints) - off, "%s%s", i > 0 ? "," : "",
		    f->f_m[i].m_url);
	}
	for (int i = 0; i < f->f_n; i++) {
		if (spawn(f, i) != 0) {
			sf_etcdfix_stop(f);
			return (-1);
		}
	}
	for (int i = 0; i < f->f_n; i++) {
		if (wait_healthy(f, i, 15000) != 0) {
			sf_etcdfix_stop(f);
			return (-1);
		}
	}
	*out = f;
	return (0);
}

void
sf_etcdfix_stop(sf_etcdfix *f)
{
	if (f == NULL) {
		return;
	}
	for (int i = 0; i < f->f_n; i++) {
		if (f->f_m[i].m_pid > 0) {
			kill(f->f_m[i].m_pid, SIGKILL);
			waitpid(f->f_m[i].m_pid, NULL, 0);
			f->f_m[i].m_pid = 0;
		}
	}
	if (getenv("SF_ETCDFIX_KEEP") == NULL) {
		nftw(f->f_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	} else {
		fprintf(stderr, "etcdfix: kept %s\n", f->f_dir);
	}
	free(f);
}

int
sf_etcdfix_members(const sf_etcdfix *f)
{
	return (f->f_n);
}

const char *
sf_etcdfix_endpoint(const sf_etcdfix *f, int i)
{
	return (i >= 0 && i < f->f_n ? f->f_m[i].m_url : "");
}

const char *
sf_etcdfix_endpoints(const sf_etcdfix *f)
{
	return (f->f_endpoints);
}

const char *
sf_etcdfix_dir(const sf_etcdfix *f)
{
	return (f->f_dir);
}

const char *
sf_etcdfix_ca_file(const sf_etcdfix *f)
{
	return (f->f_tls ? f->f_ca : "");
}

const char *
sf_etcdfix_cert_file(const sf_etcdfix *f)
{
	return (f->f_tls ? f->f_crt : "");
}

const char *
sf_etcdfix_key_file(const sf_etcdfix *f)
{
	return (f->f_tls ? f->f_key : "");
}

bool
sf_etcdfix_running(const sf_etcdfix *f, int i)
{
	return (i >= 0 && i < f->f_n && f->f_m[i].m_pid > 0);
}

int
sf_etcdfix_pid(const sf_etcdfix *f, int i)
{
	return (sf_etcdfix_running(f, i) ? (int) f->f_m[i].m_pid : 0);
}

// member_status returns member i's (member_id, leader) from
// maintenance/status, or -1.
static int
member_status(
    const sf_etcdfix *f, const member *m, char *id, char *leader, size_t cap)
{
	char    url[URL_MAX + 32];
	char   *b;
	json_t *j;
	int     rv = -1;

	snprintf(url, sizeof(url), "%s/v3/maintenance/status", m->m_url);
	if ((b = http(f, url, "{}", 500)) == NULL) {
		return (-1);
	}
	if ((j = json_loads(b, 0, NULL)) != NULL) {
		const char *mid = json_string_value(json_object_get(
		    json_object_get(j, "header"), "member_id"));
		const char *ld
		    = json_string_value(json_object_get(j, "leader"));
		if (mid != NULL && ld != NULL) {
			snprintf(id, cap, "%s", mid);
			snprintf(leader, cap, "%s", ld);
			rv = 0;
		}
		json_decref(j);
	}
	free(b);
	return (rv);
}

int
sf_etcdfix_leader(sf_etcdfix *f, int wait_ms)
{
	int64_t until = now_ms() + wait_ms;

	for (;;) {
		for (int i = 0; i < f->f_n; i++) {
			char id[32], leader[32];
			if (f->f_m[i].m_pid > 0
			    && member_status(
			           f, &f->f_m[i], id, leader, sizeof(id))
			        == 0
			    && strcmp(id, leader) == 0) {
				return (i);
			}
		}
		if (now_ms() >= until) {
			return (-1);
		}
		sleep_ms(20);
	}
}

int
sf_etcdfix_kill(sf_etcdfix *f, int i)
{
	if (!sf_etcdfix_running(f, i)) {
		return (-1);
	}
	kill(f->f_m[i].m_pid, SIGKILL);
	waitpid(f->f_m[i].m_pid, NULL, 0);
	f->f_m[i].m_pid = 0;
	return (0);
}

int
sf_etcdfix_pause(sf_etcdfix *f, int i)
{
	return (sf_etcdfix_running(f, i) && kill(f->f_m[i].m_pid, SIGSTOP) == 0
	        ? 0
	        : -1);
}

int
sf_etcdfix_resume(sf_etcdfix *f, int i)
{
	return (sf_etcdfix_running(f, i) && kill(f->f_m[i].m_pid, SIGCONT) == 0
	        ? 0
	        : -1);
}

int
sf_etcdfix_restart(sf_etcdfix *f, int i)
{
	if (i < 0 || i >= f->f_n || f->f_m[i].m_pid > 0) {
		return (-1);
	}
	if (spawn(f, i) != 0) {
		return (-1);
	}
	return (wait_healthy(f, i, 15000));
}
