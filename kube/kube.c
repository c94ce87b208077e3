// kube.c: see kube.h.
#include "kube.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "str.h"

// A response larger than this is cut off (a list page of 500 Services is a
// few MiB; a watch line is one object).
#define BODY_MAX (256u << 20)

struct sf_kube_cfg {
	char    *kc_name;
	char    *kc_server; // no trailing '/'
	char    *kc_auth;   // "Authorization: Bearer ..." or NULL
	void    *kc_ca;
	size_t   kc_ca_len;
	void    *kc_cert;
	size_t   kc_cert_len;
	void    *kc_key;
	size_t   kc_key_len;
	bool     kc_insecure;
	uint64_t kc_hash;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void
global_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void
sf_kube_global_init(void)
{
	pthread_once(&global_once, global_init_once);
}

void
sf_kube_global_fini(void)
{
	curl_global_cleanup();
}

static void *
dup_bytes(const void *p, size_t n)
{
	void *q;
	if (n == 0) {
		return (NULL);
	}
	if ((q = malloc(n)) != NULL) {
		memcpy(q, p, n);
	}
	return (q);
}

void
sf_kube_cfg_free(sf_kube_cfg *cfg)
{
	if (cfg == NULL) {
		return;
	}
	free(cfg->kc_name);
	free(cfg->kc_server);
	if (cfg->kc_auth != NULL) {
		explicit_bzero(cfg->kc_auth, strlen(cfg->kc_auth));
		free(cfg->kc_auth);
	}
	free(cfg->kc_ca);
	free(cfg->kc_cert);
	if (cfg->kc_key != NULL) {
		explicit_bzero(cfg->kc_key, cfg->kc_key_len);
		free(cfg->kc_key);
	}
	free(cfg);
}

int
sf_kube_cfg_alloc(
    sf_kube_cfg **out, const Svcfleet__V1__Cluster *cl, sf_status *st)
{
	sf_kube_cfg *c;
	size_t       n;
	bool         oom = false;

	*out = NULL;
	if (cl->api_server == NULL || cl->api_server[0] == '\0') {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "cluster \"%s\" has no API server URL", sf_nz(cl->name)));
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	c->kc_name   = strdup(sf_nz(cl->name));
	c->kc_server = strdup(cl->api_server);
	oom          = c->kc_name == NULL || c->kc_server == NULL;
	if (!oom) {
		n = strlen(c->kc_server);
		while (n > 0 && c->kc_server[n - 1] == '/') {
			c->kc_server[--n] = '\0';
		}
	}
	if (cl->token != NULL && cl->token[0] != '\0'
	    && asprintf(&c->kc_auth, "Authorization: Bearer %s", cl->token)
	        < 0) {
		c->kc_auth = NULL;
		oom        = true;
	}
	c->kc_ca_len   = cl->ca_data.len;
	c->kc_ca       = dup_bytes(cl->ca_data.data, cl->ca_data.len);
	c->kc_cert_len = cl->client_cert.len;
	c->kc_cert     = dup_bytes(cl->client_cert.data, cl->client_cert.len);
	c->kc_key_len  = cl->client_key.len;
	c->kc_key      = dup_bytes(cl->client_key.data, cl->client_key.len);
	c->kc_insecure = cl->insecure_skip_verify;
	oom            = oom || (c->kc_ca_len > 0 && c->kc_ca == NULL)
	    || (c->kc_cert_len > 0 && c->kc_cert == NULL)
	    || (c->kc_key_len > 0 && c->kc_key == NULL);
	if (oom) {
		sf_kube_cfg_free(c);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	uint64_t h = SF_HASH_INIT;
	h          = sf_hash_str(h, c->kc_server);
	h          = sf_hash_str(h, c->kc_auth);
	h          = sf_hash_bytes(h, c->kc_ca, c->kc_ca_len);
	h          = sf_hash_u64(h, c->kc_ca_len);
	h          = sf_hash_bytes(h, c->kc_cert, c->kc_cert_len);
	h          = sf_hash_u64(h, c->kc_cert_len);
	h          = sf_hash_bytes(h, c->kc_key, c->kc_key_len);
	h          = sf_hash_u64(h, c->kc_key_len);
	h          = sf_hash_u64(h, c->kc_insecure);
	c->kc_hash = h;
	*out       = c;
	return (0);
}

uint64_t
sf_kube_cfg_hash(const sf_kube_cfg *cfg)
{
	return (cfg->kc_hash);
}

const char *
sf_kube_cfg_name(const sf_kube_cfg *cfg)
{
	return (cfg->kc_name);
}

// ------------------------------------------------------------ requests

static size_t
on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	sf_kube_req *r = arg;
	size_t       n = size * nmemb;

	if (r->kr_code == 0) {
		curl_easy_getinfo(
		    r->kr_easy, CURLINFO_RESPONSE_CODE, &r->kr_code);
	}
	// A stream that did not start with 200 carries a Status: keep it
	// whole for sf_kube_outcome.
	if (r->kr_line_fn != NULL && r->kr_code == 200) {
		if (!r->kr_stopped
		    && !sf_kube_lines_feed(
		        &r->kr_line, p, n, r->kr_line_fn, r->kr_line_arg)) {
			r->kr_stopped = true;
		}
		return (r->kr_stopped ? 0 : n);
	}
	if (r->kr_body.b_len + n
	    > (r->kr_body_max != 0 ? r->kr_body_max : BODY_MAX)) {
		r->kr_too_big = true;
		return (0);
	}
	if (sf_buf_put(&r->kr_body, p, n) != 0) {
		return (0);
	}
	return (n);
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	sf_kube_req      *r    = arg;
	size_t            n    = size * nmemb;
	static const char ra[] = "retry-after:";

	if (n > sizeof(ra) && strncasecmp(p, ra, sizeof(ra) - 1) == 0) {
		char  tmp[64];
		char *end;
		long  v;
		snprintf(tmp, sizeof(tmp), "%.*s",
		    (int) (n - (sizeof(ra) - 1)), p + sizeof(ra) - 1);
		v = strtol(tmp, &end, 10);
		// An HTTP date instead of seconds: wait a second.
		r->kr_retry_after = end == tmp ? 1
		    : v < 0                    ? 0
		    : v > 3600                 ? 3600
		                               : (int) v;
	}
	return (n);
}

int
sf_kube_req_setup(sf_kube_req *r, const sf_kube_cfg *cfg, const char *method,
    const char *path, const char *ctype, const char *body, long timeout_ms)
{
	CURL              *h;
	struct curl_slist *hs  = NULL, *t;
	sf_buf             url = SF_BUF_INIT;
	char               ct[128];

	if (r->kr_easy == NULL) {
		if ((r->kr_easy = curl_easy_init()) == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
	} else {
		curl_easy_reset(r->kr_easy);
	}
	h = r->kr_easy;
	curl_slist_free_all(r->kr_headers);
	r->kr_headers = NULL;
	sf_buf_reset(&r->kr_body);
	sf_buf_reset(&r->kr_line);
	free(r->kr_send);
	r->kr_send        = NULL;
	r->kr_code        = 0;
	r->kr_retry_after = -1;
	r->kr_stopped     = false;
	r->kr_too_big     = false;
	r->kr_err[0]      = '\0';

	sf_buf_puts(&url, cfg->kc_server);
	sf_buf_puts(&url, path);
	if (url.b_oom) {
		sf_buf_fini(&url);
		return (SF_RESOURCE_EXHAUSTED);
	}
	// curl copies string options.
	curl_easy_setopt(h, CURLOPT_URL, url.b_data);
	sf_buf_fini(&url);

	hs = curl_slist_append(hs, "Accept: application/json");
	if (hs != NULL && ctype != NULL) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		hs = (t = curl_slist_append(hs, ct)) != NULL ? t : NULL;
	}
	if (hs != NULL && cfg->kc_auth != NULL) {
		t  = curl_slist_append(hs, cfg->kc_auth);
		hs = t;
	}
	if (hs != NULL) {
		// No "Expect: 100-continue" round trip for bodies.
		t  = curl_slist_append(hs, "Expect:");
		hs = t;
	}
	if (hs == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	r->kr_headers = hs;
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	if (body != NULL) {
		if ((r->kr_send = strdup(body)) == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->kr_send);
		curl_easy_setopt(
		    h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body));
	}
	curl_easy_setopt(h, CURLOPT_USERAGENT, "svcfleet/" SF_VERSION);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->kr_err);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_PRIVATE, r);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	// HTTP/2 when the server offers it (ALPN), waiting for an existing
	// connection to multiplex on rather than opening another.
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 15L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 5L);
	if (timeout_ms > 0) {
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	}
	if (cfg->kc_ca_len > 0) {
		struct curl_blob b
		    = {cfg->kc_ca, cfg->kc_ca_len, CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
	}
	if (cfg->kc_cert_len > 0 && cfg->kc_key_len > 0) {
		struct curl_blob c
		    = {cfg->kc_cert, cfg->kc_cert_len, CURL_BLOB_COPY};
		struct curl_blob k
		    = {cfg->kc_key, cfg->kc_key_len, CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &c);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &k);
	}
	if (cfg->kc_insecure) {
		// Only when the cluster record asks for it explicitly.
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	} else {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	return (0);
}

void
sf_kube_req_fini(sf_kube_req *r)
{
	if (r->kr_easy != NULL) {
		curl_easy_cleanup(r->kr_easy);
		r->kr_easy = NULL;
	}
	curl_slist_free_all(r->kr_headers);
	r->kr_headers = NULL;
	sf_buf_fini(&r->kr_body);
	sf_buf_fini(&r->kr_line);
	free(r->kr_send);
	r->kr_send = NULL;
}

CURLcode
sf_kube_perform(sf_kube_req *r)
{
	return (curl_easy_perform(r->kr_easy));
}

const char *
sf_kube_class_name(int cls)
{
	static const char *const names[] = {"ok", "not found", "invalid",
	    "conflict", "expired", "throttled", "unauthorized", "server error",
	    "no answer", "unreachable"};
	if (cls >= 0 && (size_t) cls < sizeof(names) / sizeof(names[0])) {
		return (names[cls]);
	}
	return ("?");
}

int
sf_kube_outcome(const sf_kube_req *r, CURLcode cc, char *msg, size_t cap)
{
	long code = r->kr_code;

	msg[0] = '\0';
	if (code == 0 && r->kr_easy != NULL) {
		curl_easy_getinfo(r->kr_easy, CURLINFO_RESPONSE_CODE, &code);
	}
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && r->kr_stopped)) {
		sf_kube_one_line(msg, cap,
		    r->kr_err[0] != '\0' ? r->kr_err : curl_easy_strerror(cc));
		return (cc == CURLE_COULDNT_CONNECT
		            || cc == CURLE_COULDNT_RESOLVE_HOST
		        ? SF_KUBE_UNREACHABLE
		        : SF_KUBE_TRANSPORT);
	}
	if (code >= 200 && code < 300) {
		return (SF_KUBE_OK);
	}
	sf_kube_error_message(
	    code, r->kr_body.b_data, r->kr_body.b_len, msg, cap);
	return (sf_kube_code_class(code));
}

void
sf_kube_query_escape(sf_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char) *s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		    || (c >= '0' && c <= '9') || c == '-' || c == '.'
		    || c == '_' || c == '~') {
			sf_buf_putc(b, (char) c);
		} else {
			sf_buf_putc(b, '%');
			sf_buf_putc(b, hex[c >> 4]);
			sf_buf_putc(b, hex[c & 15]);
		}
	}
}

int
sf_kube_req_add_header(sf_kube_req *r, const char *line)
{
	struct curl_slist *t = curl_slist_append(r->kr_headers, line);
	if (t == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	r->kr_headers = t;
	curl_easy_setopt(r->kr_easy, CURLOPT_HTTPHEADER, t);
	return (0);
}
