// kft.c: see kft.h.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kft.h"

static const char *
kubefake_path(void)
{
	static char path[1024];
	const char *bin = getenv("SF_BIN_DIR");
	snprintf(
	    path, sizeof(path), "%s/tests/kubefake/kubefake", bin ? bin : ".");
	return path;
}

int
kft_start(kft *k, const char *const *extra)
{
	if (k->k_dir[0] == '\0') {
		snprintf(
		    k->k_dir, sizeof(k->k_dir), "/tmp/kubefake-test-XXXXXX");
		if (mkdtemp(k->k_dir) == NULL) {
			return -1;
		}
	}
	snprintf(k->k_state, sizeof(k->k_state), "%s/state", k->k_dir);
	snprintf(k->k_ca, sizeof(k->k_ca), "%s/ca.crt", k->k_state);
	snprintf(k->k_kubeconfig, sizeof(k->k_kubeconfig), "%s/kubeconfig",
	    k->k_dir);
	const char *argv[64];
	int         n = 0;
	argv[n++]     = kubefake_path();
	argv[n++]     = "--listen";
	argv[n++]     = "127.0.0.1:0";
	argv[n++]     = "--state-dir";
	argv[n++]     = k->k_state;
	argv[n++]     = "--token";
	argv[n++]     = KFT_TOKEN;
	argv[n++]     = "--token-readonly";
	argv[n++]     = KFT_RO_TOKEN;
	argv[n++]     = "--write-kubeconfig";
	argv[n++]     = k->k_kubeconfig;
	for (int i = 0; extra && extra[i] && n < 62; i++) {
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	int out[2];
	if (pipe(out) != 0) {
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		return -1;
	}
	if (pid == 0) {
		// A test that fails half-way must not leave a server behind
		// (it would hold ctest's output pipe open).
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execv(argv[0], (char *const *) argv);
		_exit(127);
	}
	close(out[1]);
	k->k_pid = pid;
	// Wait (10 s at most) for "ready https://127.0.0.1:PORT".
	char   line[256];
	size_t len = 0;
	for (int waited = 0; waited < 10000;) {
		struct pollfd pfd = {out[0], POLLIN, 0};
		if (poll(&pfd, 1, 100) <= 0) {
			waited += 100;
			continue;
		}
		ssize_t r = read(out[0], line + len, sizeof(line) - 1 - len);
		if (r <= 0) {
			break;
		}
		len += (size_t) r;
		line[len] = '\0';
		char *nl  = strchr(line, '\n');
		if (nl) {
			*nl = '\0';
			if (sscanf(
			        line, "ready https://127.0.0.1:%d", &k->k_port)
			    == 1) {
				snprintf(k->k_url, sizeof(k->k_url),
				    "https://127.0.0.1:%d", k->k_port);
				close(out[0]);
				return 0;
			}
			break;
		}
	}
	close(out[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	k->k_pid = 0;
	return -1;
}

int
kft_stop(kft *k)
{
	if (k->k_pid <= 0) {
		return -1;
	}
	kill(k->k_pid, SIGTERM);
	int status = 0;
	for (int i = 0; i < 200; i++) {
		if (waitpid(k->k_pid, &status, WNOHANG) == k->k_pid) {
			k->k_pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		}
		struct timespec ts = {0, 50000000};
		nanosleep(&ts, NULL);
	}
	kill(k->k_pid, SIGKILL);
	waitpid(k->k_pid, &status, 0);
	k->k_pid = 0;
	return 137;
}

void
kft_kill(kft *k)
{
	if (k->k_pid > 0) {
		kill(k->k_pid, SIGKILL);
		waitpid(k->k_pid, NULL, 0);
		k->k_pid = 0;
	}
}

void
kft_cleanup(kft *k)
{
	if (k->k_dir[0]) {
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->k_dir);
		if (system(cmd) != 0) {
			fprintf(stderr, "cannot remove %s\n", k->k_dir);
		}
		k->k_dir[0] = '\0';
	}
}

void
kft_resp_fini(kft_resp *r)
{
	free(r->r_body);
	json_decref(r->r_json);
	memset(r, 0, sizeof(*r));
}

typedef struct sink {
	char  *s_data;
	size_t s_len;
} sink;

static size_t
write_cb(char *p, size_t sz, size_t n, void *arg)
{
	sink  *s = arg;
	size_t m = sz * n;
	char  *d = realloc(s->s_data, s->s_len + m + 1);
	if (d == NULL) {
		return 0;
	}
	memcpy(d + s->s_len, p, m);
	s->s_len += m;
	d[s->s_len] = '\0';
	s->s_data   = d;
	return m;
}

static size_t
header_cb(char *p, size_t sz, size_t n, void *arg)
{
	kft_resp *r = arg;
	size_t    m = sz * n;
	char      line[1024];
	size_t    l = m < sizeof(line) - 1 ? m : sizeof(line) - 1;
	memcpy(line, p, l);
	line[l]                     = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strncasecmp(line, "Retry-After:", 12) == 0) {
		snprintf(r->r_retry_after, sizeof(r->r_retry_after), "%s",
		    line + 12 + strspn(line + 12, " "));
	} else if (strncasecmp(line, "Warning:", 8) == 0) {
		size_t have = strlen(r->r_warning);
		snprintf(r->r_warning + have, sizeof(r->r_warning) - have,
		    "%s%s", have ? "\n" : "",
		    line + 8 + strspn(line + 8, " "));
	}
	return m;
}

long
kft_http_version(void)
{
	const char *v = getenv("KFT_HTTP");
	return v && strcmp(v, "1.1") == 0 ? CURL_HTTP_VERSION_1_1
	                                  : CURL_HTTP_VERSION_2TLS;
}

CURLcode
kft_req(kft *k, CURL *h, const char *token, const char *method,
    const char *path, const char *ctype, const char *body, kft_resp *r)
{
	memset(r, 0, sizeof(*r));
	char url[2048];
	snprintf(url, sizeof(url), "%s%s", k->k_url, path);
	struct curl_slist *hd = NULL;
	char               auth[256], ct[256];
	if (token) {
		snprintf(
		    auth, sizeof(auth), "Authorization: Bearer %s", token);
		hd = curl_slist_append(hd, auth);
	}
	if (body) {
		snprintf(ct, sizeof(ct), "Content-Type: %s",
		    ctype ? ctype : "application/json");
		hd = curl_slist_append(hd, ct);
	}
	hd     = curl_slist_append(hd, "Expect:");
	sink s = {NULL, 0};
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_CAINFO, k->k_ca);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, kft_http_version());
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "kft/1.0 (test)");
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(
		    h, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
	} else {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	r->r_curl = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->r_code);
	curl_slist_free_all(hd);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	r->r_body = s.s_data ? s.s_data : strdup("");
	json_error_t je;
	r->r_json = json_loads(r->r_body, JSON_DECODE_ANY, &je);
	return r->r_curl;
}

CURLcode
kft_do(kft *k, const char *method, const char *path, const char *ctype,
    const char *body, kft_resp *r)
{
	CURL    *h  = curl_easy_init();
	CURLcode rc = kft_req(k, h, KFT_TOKEN, method, path, ctype, body, r);
	curl_easy_cleanup(h);
	return rc;
}

int
kft_faults(kft *k, const char *json)
{
	kft_resp r;
	kft_do(k, "POST", "/_kubefake/faults", NULL, json, &r);
	int rc = r.r_code == 200 ? 0 : -1;
	kft_resp_fini(&r);
	return rc;
}

json_t *
kft_jget(json_t *o, const char *path)
{
	char        part[128];
	const char *p = path;
	while (o && *p) {
		const char *dot = strchr(p, '.');
		size_t      n   = dot ? (size_t) (dot - p) : strlen(p);
		if (n >= sizeof(part)) {
			return NULL;
		}
		memcpy(part, p, n);
		part[n] = '\0';
		o = json_is_array(o) ? json_array_get(o, (size_t) atoi(part))
		                     : json_object_get(o, part);
		p += n;
		if (*p == '.') {
			p++;
		}
	}
	return o;
}

const char *
kft_jstr(json_t *o, const char *path)
{
	return json_string_value(kft_jget(o, path));
}

long long
kft_stat(kft *k, const char *path)
{
	kft_resp r;
	kft_do(k, "GET", "/_kubefake/stats", NULL, NULL, &r);
	long long v = json_integer_value(kft_jget(r.r_json, path));
	kft_resp_fini(&r);
	return v;
}

json_t *
kft_watch(kft *k, const char *path, const char *accept)
{
	CURL              *h = curl_easy_init();
	char               url[2048], auth[256], acc[512];
	struct curl_slist *hd = NULL;
	snprintf(url, sizeof(url), "%s%s", k->k_url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", KFT_TOKEN);
	hd = curl_slist_append(hd, auth);
	if (accept) {
		snprintf(acc, sizeof(acc), "Accept: %s", accept);
		hd = curl_slist_append(hd, acc);
	}
	sink s = {NULL, 0};
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_CAINFO, k->k_ca);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, kft_http_version());
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_perform(h);
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	json_t *events = json_array();
	char   *save   = NULL;
	for (char *line = s.s_data ? strtok_r(s.s_data, "\n", &save) : NULL;
	     line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t je;
		json_t      *e = json_loads(line, 0, &je);
		if (e) {
			json_array_append_new(events, e);
		}
	}
	free(s.s_data);
	return events;
}
