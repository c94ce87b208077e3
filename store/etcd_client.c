// etcd_client.c: requests to etcd's v3 JSON gateway over libcurl.
//
// Easy handles are pooled: a call takes one (each keeps its own keep-alive
// connections, to whichever endpoints it has talked to) and puts it back.
// Endpoints are tried in turn from the one that answered last; a failed
// attempt moves the preferred endpoint on, so the other threads skip a
// dead member at once instead of each waiting for its timeout.
#include "etcd_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "clock.h"
#include "log.h"

#define POOL_MAX       64
#define BODY_MAX       (64u << 20) // an answer larger than this is refused
#define TRIED_MAX      600
#define BACKOFF_MAX_MS 500

struct sf__store_etcd {
	char       *c_endpoints; // as given, for messages
	char       *c_ep[SF__STORE_ETCD_ENDPOINTS_MAX];
	int         c_nep;
	char       *c_ca, *c_cert, *c_key;
	int32_t     c_timeout_ms;
	uint32_t    c_max_request; // etcd's --max-request-bytes
	int32_t     c_retry_ms;
	_Atomic int c_pref; // the endpoint to try first

	pthread_mutex_t    c_mtx; // the pool
	CURL              *c_pool[POOL_MAX];
	int                c_npool;
	struct curl_slist *c_headers;

	pthread_mutex_t         c_fmtx;
	sf__store_etcd_fault_fn c_fault;
	void                   *c_fault_arg;
};

struct sf__store_etcd_stream {
	sf__store_etcd *s_c;
	CURLM          *s_multi;
	CURL           *s_h;
	_Atomic bool    s_wake;
};

// What went wrong with one attempt, before translation.
typedef struct failure {
	CURLcode f_curl; // CURLE_OK when an HTTP answer came
	bool     f_sent; // the request (or part of it) went out
	long     f_http; // HTTP status, 0 when none
	int      f_grpc; // the gRPC code etcd gave, -1 when none
	char     f_msg[CURL_ERROR_SIZE + 64];
} failure;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

// ------------------------------------------------------ error translation

// sf__store_etcd_status translates one failed attempt: the SF_* code, the
// message (in st, with what names the object and tried lists the
// endpoints asked), and whether asking again (another endpoint, later)
// can help (*retry). Every error of curl, HTTP or etcd is mapped here and
// nowhere else.
static int
sf__store_etcd_status(const failure *f, const char *what, const char *tried,
    sf_status *st, bool *retry)
{
	const char *m = f->f_msg;
	const char *on
	    = what != NULL && what[0] != '\0' ? what : "the request";

	*retry = false;
	if (f->f_curl != CURLE_OK) {
		switch (f->f_curl) {
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_CRL_BADFILE:
			// Retrying does not fix a certificate.
			return (sf_status_set(st, SF_FAILED_PRECONDITION,
			    "store: TLS to etcd failed (%s): %s", tried, m));
		case CURLE_WRITE_ERROR:
		case CURLE_OUT_OF_MEMORY:
			return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
			    "store: an answer of etcd could not be kept (%s): "
			    "%s",
			    tried, m));
		default:
			// Not connected, timed out, connection lost: another
			// member (or this one, after an election) may answer.
			*retry = true;
			return (sf_status_set(st, SF_UNAVAILABLE,
			    "store: etcd is unavailable (tried %s)", tried));
		}
	}
	switch (f->f_grpc) {
	case 14: // UNAVAILABLE: "request timed out", "leader changed", ...
	case 4:  // DEADLINE_EXCEEDED
	case 10: // ABORTED
		*retry = true;
		return (sf_status_set(st, SF_UNAVAILABLE,
		    "store: etcd is unavailable (tried %s)", tried));
	case 11: // OUT_OF_RANGE
		if (strstr(m, "compacted") != NULL) {
			return (sf_status_set(st, SF_OUT_OF_RANGE,
			    "store: the revision asked for has been compacted "
			    "away: %s",
			    m));
		}
		return (sf_status_set(st, SF_OUT_OF_RANGE, "store: %s", m));
	case 8: // RESOURCE_EXHAUSTED
		if (strstr(m, "space exceeded") != NULL) {
			SF_ERROR("store",
			    "etcd is out of space (NOSPACE alarm: its "
			    "database "
			    "reached --quota-backend-bytes) and accepts no "
			    "writes: free space with `etcdctl compact "
			    "<current "
			    "revision>`, then `etcdctl defrag` on every "
			    "member, then `etcdctl alarm disarm`");
			return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
			    "store: etcd is out of space (NOSPACE alarm); %s "
			    "was not stored: an operator must compact, "
			    "defragment and disarm the alarm",
			    on));
		}
		if (strstr(m, "larger than max") != NULL) {
			return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
			    "store: %s is too large for etcd (%s)", on, m));
		}
		// "too many requests": etcd sheds load; it applied nothing.
		*retry = true;
		return (sf_status_set(st, SF_UNAVAILABLE,
		    "store: etcd is overloaded (tried %s): %s", tried, m));
	case 3: // INVALID_ARGUMENT
		if (strstr(m, "too large") != NULL) {
			return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
			    "store: %s is too large for etcd's request limit "
			    "(--max-request-bytes): %s",
			    on, m));
		}
		if (strstr(m, "too many operations") != NULL) {
			return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
			    "store: %s needs more operations in one "
			    "transaction than etcd allows (--max-txn-ops): %s",
			    on, m));
		}
		return (sf_status_set(
		    st, SF_INTERNAL, "store: etcd refused %s: %s", on, m));
	case 7:  // PERMISSION_DENIED
	case 16: // UNAUTHENTICATED
		return (sf_status_set(st, SF_PERMISSION_DENIED,
		    "store: etcd refused %s: %s", on, m));
	case 9: // FAILED_PRECONDITION
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "store: etcd refused %s: %s", on, m));
	default:
		break;
	}
	if (f->f_http == 429 || f->f_http == 413) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
		    "store: %s is too large for etcd (%s)", on, m));
	}
	if (f->f_http == 502 || f->f_http == 503 || f->f_http == 504) {
		*retry = true;
		return (sf_status_set(st, SF_UNAVAILABLE,
		    "store: etcd is unavailable (tried %s)", tried));
	}
	return (sf_status_set(st, SF_INTERNAL,
	    "store: unexpected answer of etcd to %s (HTTP %ld): %s", on,
	    f->f_http, m));
}

// ------------------------------------------------------------ handles

static int
set_common(sf__store_etcd *c, CURL *h)
{
	CURLcode rc = CURLE_OK;

	rc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->c_headers);
	rc |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	rc |= curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	rc |= curl_easy_setopt(
	    h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
	// Keep a connection to every member: a failover then costs no
	// handshake.
	rc |= curl_easy_setopt(h, CURLOPT_MAXCONNECTS, (long) c->c_nep + 1);
	if (c->c_ca != NULL) {
		rc |= curl_easy_setopt(h, CURLOPT_CAINFO, c->c_ca);
	}
	if (c->c_cert != NULL) {
		rc |= curl_easy_setopt(h, CURLOPT_SSLCERT, c->c_cert);
	}
	if (c->c_key != NULL) {
		rc |= curl_easy_setopt(h, CURLOPT_SSLKEY, c->c_key);
	}
	return (rc == CURLE_OK ? 0 : -1);
}

static CURL *
handle_take(sf__store_etcd *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->c_mtx);
	if (c->c_npool > 0) {
		h = c->c_pool[--c->c_npool];
	}
	pthread_mutex_unlock(&c->c_mtx);
	if (h == NULL && (h = curl_easy_init()) != NULL
	    && set_common(c, h) != 0) {
		curl_easy_cleanup(h);
		h = NULL;
	}
	return (h);
}

static void
handle_give(sf__store_etcd *c, CURL *h)
{
	pthread_mutex_lock(&c->c_mtx);
	if (c->c_npool < POOL_MAX) {
		c->c_pool[c->c_npool++] = h;
		h                       = NULL;
	}
	pthread_mutex_unlock(&c->c_mtx);
	if (h != NULL) {
		curl_easy_cleanup(h);
	}
}

// ------------------------------------------------------------ open/close

static char *
dup_or_null(const char *s)
{
	return (s != NULL && s[0] != '\0' ? strdup(s) : NULL);
}

int
sf__store_etcd_open(
    sf__store_etcd **out, const sf__store_etcd_opts *o, sf_status *st)
{
	sf__store_etcd *c;
	char           *list, *save = NULL;

	*out = NULL;
	pthread_once(&curl_once, curl_init);
	if (o->eo_endpoints == NULL || o->eo_endpoints[0] == '\0') {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "store: the etcd backend needs endpoints "
		    "(http://host:2379,...)"));
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	pthread_mutex_init(&c->c_mtx, NULL);
	pthread_mutex_init(&c->c_fmtx, NULL);
	c->c_timeout_ms  = o->eo_timeout_ms > 0 ? o->eo_timeout_ms : 2000;
	c->c_retry_ms    = o->eo_retry_ms > 0 ? o->eo_retry_ms : 10000;
	c->c_max_request = o->eo_max_request_bytes > 0
	    ? o->eo_max_request_bytes
	    : SF__STORE_ETCD_MAX_REQUEST;
	c->c_endpoints   = strdup(o->eo_endpoints);
	c->c_ca          = dup_or_null(o->eo_ca_file);
	c->c_cert        = dup_or_null(o->eo_cert_file);
	c->c_key         = dup_or_null(o->eo_key_file);
	c->c_headers
	    = curl_slist_append(NULL, "Content-Type: application/json");
	if ((list = strdup(o->eo_endpoints)) == NULL || c->c_endpoints == NULL
	    || c->c_headers == NULL) {
		free(list);
		sf__store_etcd_close(c);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	int rv = 0;
	for (char *e = strtok_r(list, ", ", &save); e != NULL && rv == 0;
	     e       = strtok_r(NULL, ", ", &save)) {
		size_t n = strlen(e);
		if (strncmp(e, "http://", 7) != 0
		    && strncmp(e, "https://", 8) != 0) {
			rv = sf_status_set(st, SF_INVALID_ARGUMENT,
			    "store: etcd endpoint \"%s\" is not an http:// or "
			    "https:// URL",
			    e);
		} else if (c->c_nep == SF__STORE_ETCD_ENDPOINTS_MAX) {
			rv = sf_status_set(st, SF_INVALID_ARGUMENT,
			    "store: more than %d etcd endpoints",
			    SF__STORE_ETCD_ENDPOINTS_MAX);
		} else {
			while (n > 0 && e[n - 1] == '/') {
				e[--n] = '\0';
			}
			if ((c->c_ep[c->c_nep++] = strdup(e)) == NULL) {
				rv = sf_status_set(
				    st, SF_RESOURCE_EXHAUSTED, NULL);
			}
		}
	}
	free(list);
	if (rv != 0) {
		sf__store_etcd_close(c);
		return (rv);
	}
	if (c->c_nep == 0) {
		sf__store_etcd_close(c);
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "store: the etcd backend needs endpoints "
		    "(http://host:2379,...)"));
	}
	*out = c;
	return (0);
}

void
sf__store_etcd_close(sf__store_etcd *c)
{
	if (c == NULL) {
		return;
	}
	for (int i = 0; i < c->c_npool; i++) {
		curl_easy_cleanup(c->c_pool[i]);
	}
	for (int i = 0; i < c->c_nep; i++) {
		free(c->c_ep[i]);
	}
	curl_slist_free_all(c->c_headers);
	pthread_mutex_destroy(&c->c_mtx);
	pthread_mutex_destroy(&c->c_fmtx);
	free(c->c_endpoints);
	free(c->c_ca);
	free(c->c_cert);
	free(c->c_key);
	free(c);
}

const char *
sf__store_etcd_endpoints(const sf__store_etcd *c)
{
	return (c->c_endpoints);
}

void
sf__store_etcd_set_fault(
    sf__store_etcd *c, sf__store_etcd_fault_fn fn, void *arg)
{
	pthread_mutex_lock(&c->c_fmtx);
	c->c_fault     = fn;
	c->c_fault_arg = arg;
	pthread_mutex_unlock(&c->c_fmtx);
}

static int
fault(sf__store_etcd *c, const char *path, int phase)
{
	sf__store_etcd_fault_fn fn;
	void                   *arg;

	pthread_mutex_lock(&c->c_fmtx);
	fn  = c->c_fault;
	arg = c->c_fault_arg;
	pthread_mutex_unlock(&c->c_fmtx);
	return (fn != NULL ? fn(arg, path, phase) : 0);
}

// ------------------------------------------------------------- one call

typedef struct rxbuf {
	char  *b_p;
	size_t b_n, b_cap;
} rxbuf;

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	rxbuf *b = arg;
	size_t k = sz * n;

	if (b->b_n + k + 1 > b->b_cap) {
		size_t cap = b->b_cap ? b->b_cap : 4096;
		char  *np;
		while (cap < b->b_n + k + 1) {
			cap *= 2;
		}
		if (cap > BODY_MAX || (np = realloc(b->b_p, cap)) == NULL) {
			return (0);
		}
		b->b_p   = np;
		b->b_cap = cap;
	}
	memcpy(b->b_p + b->b_n, p, k);
	b->b_n += k;
	b->b_p[b->b_n] = '\0';
	return (k);
}

// error_body reads etcd's {"error","code","message"} into f.
static void
error_body(const char *p, failure *f)
{
	json_t     *j = p != NULL ? json_loads(p, 0, NULL) : NULL;
	const char *m;

	if (j != NULL && json_is_integer(json_object_get(j, "code"))) {
		f->f_grpc
		    = (int) json_integer_value(json_object_get(j, "code"));
	}
	m = j != NULL ? json_string_value(json_object_get(j, "message"))
	              : NULL;
	if (m == NULL && j != NULL) {
		m = json_string_value(json_object_get(j, "error"));
	}
	snprintf(f->f_msg, sizeof(f->f_msg), "%s",
	    m != NULL ? m : (p != NULL && p[0] != '\0' ? p : "no message"));
	json_decref(j);
}

// attempt sends one request to endpoint ep. Returns 0 with *resp, or -1
// with f filled.
static int
attempt(sf__store_etcd *c, CURL *h, int ep, const char *path, const char *req,
    int32_t timeout_ms, json_t **resp, failure *f)
{
	char         url[512];
	char         err[CURL_ERROR_SIZE] = "";
	rxbuf        b                    = {NULL, 0, 0};
	long         sent                 = 0;
	json_error_t je;

	memset(f, 0, sizeof(*f));
	f->f_grpc = -1;
	snprintf(url, sizeof(url), "%s/v3/%s", c->c_ep[ep], path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) strlen(req));
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
	// The connect timeout covers the TLS handshake, which a loaded
	// member can take a while over.
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	if (fault(c, path, 0) != 0) {
		f->f_curl = CURLE_OPERATION_TIMEDOUT;
		f->f_sent = true;
		snprintf(f->f_msg, sizeof(f->f_msg), "timed out (injected)");
		return (-1);
	}
	f->f_curl = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
	f->f_sent = sent > 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &f->f_http);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	if (f->f_curl == CURLE_OK && fault(c, path, 1) != 0) {
		f->f_curl = CURLE_RECV_ERROR;
		snprintf(f->f_msg, sizeof(f->f_msg),
		    "connection lost after the request was sent (injected)");
		free(b.b_p);
		return (-1);
	}
	if (f->f_curl != CURLE_OK) {
		snprintf(f->f_msg, sizeof(f->f_msg), "%s",
		    err[0] != '\0' ? err : curl_easy_strerror(f->f_curl));
		free(b.b_p);
		return (-1);
	}
	if (f->f_http != 200) {
		error_body(b.b_p, f);
		free(b.b_p);
		return (-1);
	}
	*resp = b.b_p != NULL ? json_loadb(b.b_p, b.b_n, 0, &je) : NULL;
	free(b.b_p);
	if (*resp == NULL || !json_is_object(*resp)) {
		json_decref(*resp);
		*resp     = NULL;
		f->f_http = 502; // a proxy's page, a cut answer: try again
		snprintf(
		    f->f_msg, sizeof(f->f_msg), "an answer that is not JSON");
		return (-1);
	}
	return (0);
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

// next_endpoint moves the preferred endpoint past ep (unless another
// thread already did).
static void
next_endpoint(sf__store_etcd *c, int ep)
{
	int want = ep;
	atomic_compare_exchange_strong(&c->c_pref, &want, (ep + 1) % c->c_nep);
}

void
sf__store_etcd_rotate(sf__store_etcd *c)
{
	next_endpoint(c, atomic_load(&c->c_pref) % c->c_nep);
}

int
sf__store_etcd_call_timeout(sf__store_etcd *c, const char *path, json_t *req,
    const char *what, int32_t budget_ms, json_t **resp, bool *ambiguous,
    sf_status *st)
{
	char   *body             = json_dumps(req, JSON_COMPACT);
	char    tried[TRIED_MAX] = "";
	size_t  tl               = 0;
	int64_t until            = sf_clock_mono_ms() + budget_ms;
	int     fails = 0, rv = 0;
	CURL   *h;

	*resp = NULL;
	if (ambiguous != NULL) {
		*ambiguous = false;
	}
	if (body == NULL || (h = handle_take(c)) == NULL) {
		free(body);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	// What etcd would refuse is refused here, before it is sent: keys
	// and values travel in base64, so the request carries about 3/4 of
	// the body's length. Sent, a slow member could take longer to read
	// and refuse it than a request may last, and the write would fail
	// UNAVAILABLE after its retries (a stress run under ASan did).
	size_t blen = strlen(body);
	if (blen / 4 * 3 > c->c_max_request) {
		handle_give(c, h);
		free(body);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
		    "store: %s is too large for etcd: about %zu KiB in one "
		    "request, more than its --max-request-bytes (%" PRIu32
		    " KiB; svcfleetd's --etcd-max-request-bytes)",
		    what, blen / 4 * 3 / 1024, c->c_max_request / 1024));
	}
	for (;;) {
		failure f;
		bool    retry;
		int     ep   = atomic_load(&c->c_pref) % c->c_nep;
		int64_t left = until - sf_clock_mono_ms();
		int32_t tmo  = c->c_timeout_ms;

		if (left < tmo) {
			tmo = left > 50 ? (int32_t) left : 50;
		}
		if (attempt(c, h, ep, path, body, tmo, resp, &f) == 0) {
			rv = 0;
			break;
		}
		if (f.f_sent && f.f_grpc < 0 && ambiguous != NULL) {
			*ambiguous
			    = true; // an answer lost: it may have applied
		}
		if (f.f_grpc == 14 || f.f_grpc == 4 || f.f_http == 503) {
			if (ambiguous != NULL) {
				*ambiguous = true; // proposed, fate unknown
			}
		}
		if (tl < sizeof(tried) - 1) {
			tl += (size_t) snprintf(tried + tl, sizeof(tried) - tl,
			    "%s%s: %s", tl > 0 ? "; " : "", c->c_ep[ep],
			    f.f_msg);
		}
		sf_status scratch;
		sf_status_init(&scratch);
		rv = sf__store_etcd_status(&f, what, tried, &scratch, &retry);
		if (!retry || sf_clock_mono_ms() >= until) {
			sf_status_set(st, rv, "%s", scratch.st_msg);
			sf_status_fini(&scratch);
			break;
		}
		sf_status_fini(&scratch);
		next_endpoint(c, ep);
		// Once every endpoint has failed, wait a little before the
		// next round: an election takes a while.
		if (++fails % c->c_nep == 0) {
			int64_t b = 50 * (fails / c->c_nep);
			left      = until - sf_clock_mono_ms();
			sleep_ms(b < BACKOFF_MAX_MS
			        ? (b < left ? b : left)
			        : (BACKOFF_MAX_MS < left ? BACKOFF_MAX_MS
			                                 : left));
		}
	}
	handle_give(c, h);
	free(body);
	return (rv);
}

int
sf__store_etcd_call(sf__store_etcd *c, const char *path, json_t *req,
    const char *what, json_t **resp, bool *ambiguous, sf_status *st)
{
	return (sf__store_etcd_call_timeout(
	    c, path, req, what, c->c_retry_ms, resp, ambiguous, st));
}

// --------------------------------------------------------------- streams

typedef struct stream_rx {
	rxbuf                  r_buf;
	sf__store_etcd_line_fn r_fn;
	void                  *r_arg;
	sf_status             *r_st;
	int                    r_rv;   // the callback's verdict
	bool                   r_done; // the callback ended the stream
} stream_rx;

// on_lines splits what came into lines and hands each answer to the
// callback; returning 0 ends the transfer (when the callback is done).
static size_t
on_lines(char *p, size_t sz, size_t n, void *arg)
{
	stream_rx *rx = arg;
	size_t     k  = sz * n;
	char      *nl;

	if (rx->r_done) {
		return (0);
	}
	if (on_body(p, 1, k, &rx->r_buf) != k) {
		rx->r_rv   = sf_status_set(rx->r_st, SF_RESOURCE_EXHAUSTED,
		      "store: an etcd watch answer is too large");
		rx->r_done = true;
		return (0);
	}
	while (rx->r_buf.b_n > 0
	    && (nl = memchr(rx->r_buf.b_p, '\n', rx->r_buf.b_n)) != NULL) {
		size_t  len = (size_t) (nl - rx->r_buf.b_p);
		json_t *j   = json_loadb(rx->r_buf.b_p, len, 0, NULL);
		json_t *res = j != NULL ? json_object_get(j, "result") : NULL;
		int     v   = 0;

		if (j != NULL && res == NULL) {
			json_t *e = json_object_get(j, "error");
			failure f;
			bool    retry;
			memset(&f, 0, sizeof(f));
			f.f_grpc = -1;
			if (e != NULL) {
				char *s = json_dumps(e, JSON_COMPACT);
				error_body(s, &f);
				if (f.f_grpc < 0
				    && json_is_integer(
				        json_object_get(e, "grpc_code"))) {
					f.f_grpc = (int) json_integer_value(
					    json_object_get(e, "grpc_code"));
				}
				free(s);
			}
			if (f.f_grpc < 0) {
				f.f_http = 502;
			}
			v = sf__store_etcd_status(&f, "a watch",
			    "the watch's member", rx->r_st, &retry);
		} else if (res != NULL) {
			v = rx->r_fn(rx->r_arg, res, rx->r_st);
		}
		json_decref(j);
		memmove(rx->r_buf.b_p, nl + 1, rx->r_buf.b_n - len - 1);
		rx->r_buf.b_n -= len + 1;
		if (v != 0) {
			rx->r_rv   = v == 1 ? 0 : v;
			rx->r_done = true;
			return (0);
		}
	}
	return (k);
}

int
sf__store_etcd_stream_new(sf__store_etcd *c, sf__store_etcd_stream **out)
{
	sf__store_etcd_stream *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	s->s_c     = c;
	s->s_multi = curl_multi_init();
	s->s_h     = curl_easy_init();
	if (s->s_multi == NULL || s->s_h == NULL
	    || set_common(c, s->s_h) != 0) {
		sf__store_etcd_stream_free(s);
		return (SF_RESOURCE_EXHAUSTED);
	}
	*out = s;
	return (0);
}

void
sf__store_etcd_stream_free(sf__store_etcd_stream *s)
{
	if (s == NULL) {
		return;
	}
	if (s->s_h != NULL) {
		curl_easy_cleanup(s->s_h);
	}
	if (s->s_multi != NULL) {
		curl_multi_cleanup(s->s_multi);
	}
	free(s);
}

void
sf__store_etcd_stream_wake(sf__store_etcd_stream *s)
{
	atomic_store(&s->s_wake, true);
	curl_multi_wakeup(s->s_multi);
}

int
sf__store_etcd_stream_run(sf__store_etcd_stream *s, const char *path,
    json_t *req, int32_t timeout_ms, sf__store_etcd_line_fn fn, void *arg,
    sf_status *st)
{
	sf__store_etcd *c    = s->s_c;
	int             ep   = atomic_load(&c->c_pref) % c->c_nep;
	char           *body = json_dumps(req, JSON_COMPACT);
	char            url[512], err[CURL_ERROR_SIZE] = "";
	stream_rx       rx;
	failure         f;
	int64_t until   = timeout_ms > 0 ? sf_clock_mono_ms() + timeout_ms : 0;
	int     running = 1, rv;
	bool    retry;

	if (body == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	memset(&rx, 0, sizeof(rx));
	rx.r_fn  = fn;
	rx.r_arg = arg;
	rx.r_st  = st;
	memset(&f, 0, sizeof(f));
	f.f_grpc = -1;
	snprintf(url, sizeof(url), "%s/v3/%s", c->c_ep[ep], path);
	curl_easy_setopt(s->s_h, CURLOPT_URL, url);
	curl_easy_setopt(s->s_h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(s->s_h, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
	curl_easy_setopt(s->s_h, CURLOPT_TIMEOUT_MS,
	    (long) (timeout_ms > 0 ? timeout_ms : 0));
	curl_easy_setopt(s->s_h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long) (c->c_timeout_ms < 1000 ? c->c_timeout_ms : 1000));
	curl_easy_setopt(s->s_h, CURLOPT_WRITEFUNCTION, on_lines);
	curl_easy_setopt(s->s_h, CURLOPT_WRITEDATA, &rx);
	curl_easy_setopt(s->s_h, CURLOPT_ERRORBUFFER, err);
	curl_multi_add_handle(s->s_multi, s->s_h);
	while (running > 0 && !atomic_load(&s->s_wake)) {
		int       wait = 1000;
		CURLMcode mc   = curl_multi_perform(s->s_multi, &running);
		if (mc != CURLM_OK || running == 0) {
			break;
		}
		if (until > 0) {
			int64_t left = until - sf_clock_mono_ms();
			wait
			    = left < wait ? (int) (left > 0 ? left : 0) : wait;
		}
		curl_multi_poll(s->s_multi, NULL, 0, wait, NULL);
	}
	// The transfer's result, when it ended by itself.
	f.f_curl = CURLE_OK;
	for (int q = 1; q > 0;) {
		CURLMsg *m = curl_multi_info_read(s->s_multi, &q);
		if (m != NULL && m->msg == CURLMSG_DONE) {
			f.f_curl = m->data.result;
		}
	}
	curl_easy_getinfo(s->s_h, CURLINFO_RESPONSE_CODE, &f.f_http);
	curl_multi_remove_handle(s->s_multi, s->s_h);
	curl_easy_setopt(s->s_h, CURLOPT_ERRORBUFFER, NULL);
	free(body);
	if (rx.r_done) {
		free(rx.r_buf.b_p);
		if (rx.r_rv != 0) {
			next_endpoint(c, ep);
		}
		return (rx.r_rv);
	}
	if (atomic_exchange(&s->s_wake, false)) {
		free(rx.r_buf.b_p);
		return (SF_CANCELLED);
	}
	if (f.f_curl == CURLE_OK && f.f_http != 200) {
		error_body(rx.r_buf.b_p, &f);
	} else if (f.f_curl == CURLE_OK) {
		// The member closed the stream (shutting down).
		f.f_curl = CURLE_RECV_ERROR;
		snprintf(f.f_msg, sizeof(f.f_msg), "the stream ended");
	} else {
		snprintf(f.f_msg, sizeof(f.f_msg), "%s",
		    err[0] != '\0' ? err : curl_easy_strerror(f.f_curl));
	}
	free(rx.r_buf.b_p);
	char tried[TRIED_MAX];
	snprintf(tried, sizeof(tried), "%s: %s", c->c_ep[ep], f.f_msg);
	rv = sf__store_etcd_status(&f, "a watch", tried, st, &retry);
	next_endpoint(c, ep);
	return (rv);
}

// ------------------------------------------------------------------ JSON

json_t *
sf__store_etcd_b64(const void *p, size_t n)
{
	char   *out = malloc(sf_base64_encoded_len(n, 0) + 1);
	json_t *j;

	if (out == NULL) {
		return (NULL);
	}
	sf_base64_encode(out, p, n, 0);
	j = json_string(out);
	free(out);
	return (j);
}

int
sf__store_etcd_unb64(const json_t *o, const char *k, uint8_t **out, size_t *n)
{
	const char *s   = json_string_value(json_object_get(o, k));
	size_t      len = s != NULL ? strlen(s) : 0;
	size_t      cap = len / 4 * 3 + 3;
	uint8_t    *p;
	ssize_t     got;

	*out = NULL;
	*n   = 0;
	if ((p = malloc(cap + 1)) == NULL) {
		return (-1);
	}
	if ((got = sf_base64_decode(p, cap, s != NULL ? s : "", len, 0)) < 0) {
		free(p);
		return (-1);
	}
	p[got] = '\0';
	*out   = p;
	*n     = (size_t) got;
	return (0);
}

int64_t
sf__store_etcd_i64(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	if (json_is_string(v)) {
		return (strtoll(json_string_value(v), NULL, 10));
	}
	if (json_is_integer(v)) {
		return ((int64_t) json_integer_value(v));
	}
	return (0);
}

uint64_t
sf__store_etcd_rev(const json_t *resp)
{
	int64_t r
	    = sf__store_etcd_i64(json_object_get(resp, "header"), "revision");
	return (r > 0 ? (uint64_t) r : 0);
}

json_t *
sf__store_etcd_str64(int64_t v)
{
	char b[24];
	snprintf(b, sizeof(b), "%lld", (long long) v);
	return (json_string(b));
}
