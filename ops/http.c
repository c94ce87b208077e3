// http.c: the HTTP endpoint (see ops.h), on libmicrohttpd.
//
// Why libmicrohttpd rather than nng's HTTP server: its handlers run on
// threads of their own and may block, which the JSON gateway (a blocking
// RPC per request) and long polls need, whereas an nng HTTP handler runs on
// nng's task queue and must never block; it is a mature, well-kept server
// (HTTP/1.1 conformance, request limits, HTTPS through GnuTLS) and the
// tree already uses it for kubefake.
//
// It is one file of about 1,100 lines because every part of it (routes,
// gates, hostile-client admission, TLS, the watchdog) works on the same
// private sf_http and per-connection state through libmicrohttpd's
// callbacks; ops.h is its only interface.
#include "ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "file.h"
#include "log.h"

#define DEFAULT_ADDR "127.0.0.1:7071"
#define MAX_ROUTES   64
#define MAX_CHECKS   16
#define MAX_PEM      (1 << 20)
#define MAX_GATES    8
// TLS 1.2 and 1.3 only, and only key exchanges with forward secrecy
// (ECDHE, DHE): no static RSA, as the RPC listener (issue 17).
#define TLS_PRIORITIES                                                   \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-PSK:-DHE-PSK:" \
	"-ECDHE-PSK:-RSA-PSK:%SERVER_PRECEDENCE"
// A request whose body took this much memory to serve gives the memory
// back to the system afterwards (malloc_trim): a burst of large bodies
// must not leave the daemon at its peak for good.
#define TRIM_AFTER_BODY (64u << 10)

typedef struct route {
	char              *r_method;
	char              *r_path;
	size_t             r_len;
	bool               r_prefix;
	sf_http_handler_fn r_fn;
	void              *r_arg;
} route;

typedef struct check {
	char            *k_name;
	sf_http_check_fn k_fn;
	void            *k_arg;
} check;

typedef struct gate {
	char           *g_prefix;
	size_t          g_len;
	sf_http_gate_fn g_fn;
	void           *g_arg;
} gate;

// A connection as the read-deadline watchdog sees it. l_fd is a dup of
// the connection's socket, ours until the connection is closed, so that
// shutting it down can never hit a descriptor reused by another.
typedef struct live_conn {
	struct live_conn *l_next, *l_prev;
	int               l_fd;
	int64_t           l_deadline_us; // 0: none (a handler is running)
	bool              l_cut;
} live_conn;

struct sf_http {
	sf_http_opts       h_opts;
	char              *h_address;
	char              *h_allowed; // ho_allowed_hosts, copied
	char              *h_name;
	char              *h_cert_file;
	char              *h_key_file;
	bool               h_tls;
	char              *h_host; // without brackets
	unsigned           h_port;
	struct MHD_Daemon *h_mhd;
	// issue 20: the listening socket, bound by sf_http_listen before
	// the daemon starts anything else (-1: not yet); MHD owns it once
	// started.
	int                     h_lfd;
	struct sockaddr_storage h_sa;
	bool                    h_v6;
	char                   *h_cert; // PEM text, kept while serving
	char                   *h_key;
	char                    h_url[300];
	route                   h_routes[MAX_ROUTES];
	size_t                  h_nroutes;
	check                   h_checks[MAX_CHECKS];
	size_t                  h_nchecks;
	gate                    h_gates[MAX_GATES];
	size_t                  h_ngates;
	// The read-deadline watchdog (issue 17): connections in l_next
	// order, guarded by h_mtx; the thread wakes every 100 ms.
	pthread_mutex_t h_mtx;
	pthread_cond_t  h_cv;
	live_conn      *h_conns;
	pthread_t       h_dog;
	bool            h_dog_running;
	bool            h_dog_stop;
};

// Per connection request state (MHD's con_cls).
typedef struct conn_state {
	sf_buf  cs_body;
	bool    cs_too_big;
	int64_t cs_start_us;
	// Answered before the body was read (framing, Host, a gate).
	bool cs_refused;
} conn_state;

// ------------------------------------------------------------- addresses

// Splits addr into scheme, host and port. Returns 0 or SF_INVALID_ARGUMENT.
static int
split_addr(
    const char *addr, int *scheme, char **host, unsigned *port, sf_status *st)
{
	const char *p = addr, *colon;
	char       *end;
	long        v;

	*scheme = 0; // 0 bare, 1 http, 2 https
	if (strncmp(p, "http://", 7) == 0) {
		*scheme = 1;
		p += 7;
	} else if (strncmp(p, "https://", 8) == 0) {
		*scheme = 2;
		p += 8;
	} else if (strstr(p, "://") != NULL) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "\"%s\": the scheme must be http:// or https://", addr));
	}
	if (*p == '[') {
		const char *rb = strchr(p, ']');
		if (rb == NULL || rb[1] != ':') {
			return (sf_status_set(st, SF_INVALID_ARGUMENT,
			    "\"%s\": want [IPV6]:PORT", addr));
		}
		*host = strndup(p + 1, (size_t) (rb - p - 1));
		colon = rb + 1;
	} else {
		colon = strrchr(p, ':');
		if (colon == NULL || colon == p) {
			return (sf_status_set(st, SF_INVALID_ARGUMENT,
			    "\"%s\": want HOST:PORT, such as 127.0.0.1:7071",
			    addr));
		}
		*host = strndup(p, (size_t) (colon - p));
	}
	if (*host == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	errno = 0;
	v     = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || v < 0
	    || v > 65535) {
		free(*host);
		*host = NULL;
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "\"%s\": the port must be a number from 0 to 65535",
		    addr));
	}
	*port = (unsigned) v;
	return (0);
}

int
sf_http_parse_addr(const char *addr, bool have_cert, bool *tls, sf_status *st)
{
	int      scheme, rv;
	char    *host = NULL;
	unsigned port;

	if ((rv = split_addr(addr, &scheme, &host, &port, st)) != 0) {
		return (rv);
	}
	free(host);
	if (scheme == 2 && !have_cert) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "\"%s\": https:// needs a certificate and key "
		    "(--tls-cert, --tls-key)",
		    addr));
	}
	if (tls != NULL) {
		*tls = scheme == 2 || (scheme == 0 && have_cert);
	}
	return (0);
}

// --------------------------------------------------------------- requests

const char *
sf_http_req_header(const sf_http_req *req, const char *name)
{
	return (
	    MHD_lookup_connection_value(req->hr_conn, MHD_HEADER_KIND, name));
}

const char *
sf_http_req_query(const sf_http_req *req, const char *name)
{
	const char *v = MHD_lookup_connection_value(
	    req->hr_conn, MHD_GET_ARGUMENT_KIND, name);
	if (v == NULL) {
		// A bare "?verbose" has no value, but it is there.
		bool present = MHD_lookup_connection_value_n(req->hr_conn,
		                   MHD_GET_ARGUMENT_KIND, name, strlen(name),
		                   NULL, NULL)
		    == MHD_YES;
		return (present ? "" : NULL);
	}
	return (v);
}

static void
h_healthz(void *arg, const sf_http_req *req, sf_http_resp *resp)
{
	(void) arg;
	(void) req;
	sf_buf_puts(&resp->hs_body, "ok\n");
}

static void
h_readyz(void *arg, const sf_http_req *req, sf_http_resp *resp)
{
	sf_http *h       = arg;
	bool     verbose = sf_http_req_query(req, "verbose") != NULL;
	bool     all_ok  = true;
	sf_buf   lines   = SF_BUF_INIT;
	sf_buf   warn    = SF_BUF_INIT;

	for (size_t i = 0; i < h->h_nchecks; i++) {
		check *k   = &h->h_checks[i];
		sf_buf why = SF_BUF_INIT;
		if (k->k_fn(k->k_arg, &why)) {
			// A check that passes may still warn (issue 16).
			if (why.b_len > 0) {
				sf_buf_printf(&lines,
				    "[+]%s ok (warning: %s)\n", k->k_name,
				    sf_buf_cstr(&why));
				sf_buf_printf(&warn, "warning: %s: %s\n",
				    k->k_name, sf_buf_cstr(&why));
			} else {
				sf_buf_printf(&lines, "[+]%s ok\n", k->k_name);
			}
		} else {
			all_ok = false;
			sf_buf_printf(&lines, "[-]%s failed: %s\n", k->k_name,
			    why.b_len > 0 ? sf_buf_cstr(&why) : "not ready");
		}
		sf_buf_fini(&why);
	}
	if (!all_ok) {
		resp->hs_status = 503;
		sf_buf_puts(&resp->hs_body, sf_buf_cstr(&lines));
		sf_buf_puts(&resp->hs_body, "readyz check failed\n");
	} else if (verbose) {
		sf_buf_puts(&resp->hs_body, sf_buf_cstr(&lines));
		sf_buf_puts(&resp->hs_body, "readyz check passed\n");
	} else {
		sf_buf_puts(&resp->hs_body, "ok\n");
		sf_buf_puts(&resp->hs_body, sf_buf_cstr(&warn));
	}
	sf_buf_fini(&lines);
	sf_buf_fini(&warn);
}

static void
h_metrics(void *arg, const sf_http_req *req, sf_http_resp *resp)
{
	sf_http *h = arg;
	(void) req;
	if (sf_metrics_render(h->h_opts.ho_metrics, &resp->hs_body) != 0) {
		sf_buf_reset(&resp->hs_body);
		resp->hs_status = 500;
		sf_buf_puts(&resp->hs_body, "out of memory\n");
		return;
	}
	resp->hs_type = SF_METRICS_CONTENT_TYPE;
}

// Finds the route for (method, path): 0 and *out, 404 (no path matches)
// or 405 (a path matches, not the method; allow lists the methods).
static int
match(sf_http *h, const char *method, const char *path, route **out,
    char *allow, size_t cap)
{
	bool path_seen = false;
	allow[0]       = '\0';
	for (size_t i = 0; i < h->h_nroutes; i++) {
		route *r = &h->h_routes[i];
		bool ok = r->r_prefix ? strncmp(path, r->r_path, r->r_len) == 0
		        && (path[r->r_len] == '\0' || path[r->r_len] == '/'
		            || r->r_path[r->r_len - 1] == '/')
		                      : strcmp(path, r->r_path) == 0;
		if (!ok) {
			continue;
		}
		if (strcmp(r->r_method, "*") == 0
		    || strcmp(r->r_method, method) == 0
		    || (strcmp(method, "HEAD") == 0
		        && strcmp(r->r_method, "GET") == 0)) {
			*out = r;
			return (0);
		}
		path_seen = true;
		size_t n  = strlen(allow);
		snprintf(
		    allow + n, cap - n, "%s%s", n ? ", " : "", r->r_method);
	}
	return (path_seen ? 405 : 404);
}

// Request ids from a client are kept only if they are short and plain.
static void
set_request_id(struct MHD_Connection *conn)
{
	const char *id = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, "X-Request-Id");
	char   buf[64];
	size_t n = 0;
	for (; id != NULL && *id != '\0' && n + 1 < sizeof(buf); id++) {
		unsigned char ch = (unsigned char) *id;
		buf[n++]
		    = (ch > 0x20 && ch < 0x7f && ch != '"') ? (char) ch : '_';
	}
	buf[n] = '\0';
	sf_log_set_request_id(n > 0 ? buf : NULL);
}

static enum MHD_Result
send_resp(struct MHD_Connection *conn, sf_http_resp *resp)
{
	struct MHD_Response *r;
	enum MHD_Result      ret;

	r = MHD_create_response_from_buffer(resp->hs_body.b_len,
	    resp->hs_body.b_data != NULL ? resp->hs_body.b_data : "",
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL) {
		return (MHD_NO);
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    resp->hs_type != NULL ? resp->hs_type
	                          : "text/plain; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	for (size_t i = 0; i < resp->hs_nhdr && i < 4; i++) {
		MHD_add_response_header(
		    r, resp->hs_hdr[i][0], resp->hs_hdr[i][1]);
	}
	ret = MHD_queue_response(conn, (unsigned) resp->hs_status, r);
	MHD_destroy_response(r);
	return (ret);
}

// ------------------------------------------------- hostile clients (17)

static live_conn *
conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
	    conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return (ci != NULL ? ci->socket_context : NULL);
}

// Sets the time by which conn must have sent what it sends next (ms from
// now; 0: no deadline while a handler runs).
static void
conn_deadline(sf_http *h, struct MHD_Connection *conn, unsigned ms)
{
	live_conn *l = conn_of(conn);
	if (l == NULL) {
		return;
	}
	pthread_mutex_lock(&h->h_mtx);
	l->l_deadline_us
	    = ms != 0 ? sf_clock_mono_us() + (int64_t) ms * 1000 : 0;
	pthread_mutex_unlock(&h->h_mtx);
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	sf_http   *h = cls;
	live_conn *l;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		    conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL || (l = calloc(1, sizeof(*l))) == NULL) {
			return;
		}
		if ((l->l_fd = fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0))
		    < 0) {
			free(l);
			return;
		}
		l->l_deadline_us = sf_clock_mono_us()
		    + (int64_t) h->h_opts.ho_header_timeout_ms * 1000;
		pthread_mutex_lock(&h->h_mtx);
		l->l_next = h->h_conns;
		if (h->h_conns != NULL) {
			h->h_conns->l_prev = l;
		}
		h->h_conns = l;
		pthread_mutex_unlock(&h->h_mtx);
		*socket_context = l;
		return;
	}
	if ((l = *socket_context) == NULL) {
		return;
	}
	pthread_mutex_lock(&h->h_mtx);
	if (l->l_prev != NULL) {
		l->l_prev->l_next = l->l_next;
	} else {
		h->h_conns = l->l_next;
	}
	if (l->l_next != NULL) {
		l->l_next->l_prev = l->l_prev;
	}
	pthread_mutex_unlock(&h->h_mtx);
	close(l->l_fd);
	free(l);
	*socket_context = NULL;
}

// The watchdog: a connection that has not sent its headers (or its body)
// by its deadline is shut down, which ends its thread's read at once.
// libmicrohttpd's own timeout is an idle timeout, which a client sending
// one byte every few seconds never reaches.
static void *
watchdog(void *arg)
{
	sf_http *h = arg;

	pthread_mutex_lock(&h->h_mtx);
	while (!h->h_dog_stop) {
		int64_t         now = sf_clock_mono_us();
		struct timespec ts;
		for (live_conn *l = h->h_conns; l != NULL; l = l->l_next) {
			if (l->l_deadline_us != 0 && now >= l->l_deadline_us
			    && !l->l_cut) {
				l->l_cut = true;
				shutdown(l->l_fd, SHUT_RDWR);
				SF_DEBUG("http",
				    "%s: a client sent its request too "
				    "slowly: "
				    "disconnected",
				    h->h_name);
			}
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->h_cv, &h->h_mtx, &ts);
	}
	pthread_mutex_unlock(&h->h_mtx);
	return (NULL);
}

typedef struct framing {
	unsigned f_cl; // Content-Length headers
	unsigned f_te; // Transfer-Encoding headers
} framing;

static enum MHD_Result
count_framing(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	framing *f = cls;
	(void) kind;
	(void) value;
	if (strcasecmp(key, "Content-Length") == 0) {
		f->f_cl++;
	} else if (strcasecmp(key, "Transfer-Encoding") == 0) {
		f->f_te++;
	}
	return (MHD_YES);
}

// Is host (a Host header: name or IP literal, maybe with ":port") one
// the endpoint answers to?
static bool
host_ok(const sf_http *h, const char *host)
{
	const char *allowed = h->h_opts.ho_allowed_hosts;
	char        name[256];
	size_t      n;

	if (host == NULL || host[0] == '\0'
	    || (allowed != NULL && strcmp(allowed, "*") == 0)) {
		return (true);
	}
	if (host[0] == '[') {
		struct in6_addr a6;
		const char     *e = strchr(host, ']');
		n                 = e != NULL ? (size_t) (e - host - 1) : 0;
		if (n == 0 || n >= sizeof(name)) {
			return (false);
		}
		memcpy(name, host + 1, n);
		name[n] = '\0';
		return (inet_pton(AF_INET6, name, &a6) == 1);
	}
	n = strcspn(host, ":");
	if (n == 0 || n >= sizeof(name)) {
		return (false);
	}
	memcpy(name, host, n);
	name[n] = '\0';
	if (n > 1 && name[n - 1] == '.') {
		name[--n] = '\0'; // "localhost." is localhost
	}
	struct in_addr a4;
	if (inet_pton(AF_INET, name, &a4) == 1
	    || strcasecmp(name, "localhost") == 0
	    || strcasecmp(name, h->h_host) == 0) {
		return (true);
	}
	for (const char *p = allowed; p != NULL && *p != '\0';) {
		size_t k = strcspn(p, ",");
		while (k > 0 && *p == ' ') {
			p++;
			k--;
		}
		size_t m = k;
		while (m > 0 && p[m - 1] == ' ') {
			m--;
		}
		if (m == n && strncasecmp(p, name, n) == 0) {
			return (true);
		}
		p += k;
		if (*p == ',') {
			p++;
		}
	}
	return (false);
}

// Answers the request at once, without reading its body, and closes the
// connection afterwards.
static enum MHD_Result refuse(
    struct MHD_Connection *conn, conn_state *cs, sf_http_resp *resp);

// The checks made once a request's headers are in and before its body is
// read. Returns true to read the body and serve; false after answering.
static bool
admit(sf_http *h, struct MHD_Connection *conn, const char *url,
    const char *method, conn_state *cs, enum MHD_Result *ret)
{
	framing      f = {0, 0};
	sf_http_resp resp;
	const char  *cl, *te;
	bool         has_body;
	bool         probe
	    = strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0;

	memset(&resp, 0, sizeof(resp));
	sf_buf_init(&resp.hs_body);
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
	cl = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, "Content-Length");
	te = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, "Transfer-Encoding");
	has_body = te != NULL || (cl != NULL && strtoull(cl, NULL, 10) > 0);
	if (f.f_cl > 1 || f.f_te > 1 || (f.f_cl > 0 && f.f_te > 0)) {
		// A proxy in front may frame such a request otherwise than
		// we do: the rest of it would be read as a request of its
		// own (request smuggling).
		resp.hs_status = 400;
		sf_buf_puts(&resp.hs_body,
		    f.f_cl > 0 && f.f_te > 0
		        ? "a request may not have both Content-Length and "
		          "Transfer-Encoding\n"
		        : "a request may have one Content-Length and one "
		          "Transfer-Encoding header at most\n");
	} else if (cl != NULL
	    && strtoull(cl, NULL, 10) > h->h_opts.ho_max_body) {
		resp.hs_status = 413;
		sf_buf_printf(&resp.hs_body,
		    "request body larger than %zu bytes\n",
		    h->h_opts.ho_max_body);
	} else if (!probe
	    && !host_ok(h,
	        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"))) {
		resp.hs_status = 421;
		sf_buf_printf(&resp.hs_body,
		    "this server does not answer to the host name in the "
		    "Host header (see --allowed-hosts)\n");
	} else {
		sf_http_req req = {
		    .hr_method   = method,
		    .hr_path     = url,
		    .hr_body     = "",
		    .hr_body_len = 0,
		    .hr_conn     = conn,
		};
		for (size_t i = 0; i < h->h_ngates; i++) {
			gate *g = &h->h_gates[i];
			if (strncmp(url, g->g_prefix, g->g_len) != 0) {
				continue;
			}
			resp.hs_status = 200;
			if (!g->g_fn(g->g_arg, &req, has_body, &resp)) {
				break;
			}
			resp.hs_status = 0;
			sf_buf_reset(&resp.hs_body);
		}
	}
	if (resp.hs_status == 0) {
		sf_buf_fini(&resp.hs_body);
		conn_deadline(
		    h, conn, has_body ? h->h_opts.ho_body_timeout_ms : 0);
		return (true);
	}
	SF_DEBUG("http", "%s %s -> %d before its body (%s)", method, url,
	    resp.hs_status, h->h_name);
	*ret = refuse(conn, cs, &resp);
	sf_buf_fini(&resp.hs_body);
	return (false);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	sf_http     *h  = cls;
	conn_state  *cs = *con_cls;
	sf_http_resp resp;
	route       *r = NULL;
	char         allow[128];
	int          code;
	(void) version;

	if (cs == NULL) {
		if ((cs = calloc(1, sizeof(*cs))) == NULL) {
			return (MHD_NO);
		}
		cs->cs_start_us     = sf_clock_mono_us();
		*con_cls            = cs;
		enum MHD_Result ret = MHD_YES;
		admit(h, conn, url, method, cs, &ret);
		return (ret);
	}
	if (cs->cs_refused) {
		*upload_data_size = 0;
		return (MHD_YES);
	}
	if (*upload_data_size > 0) {
		if (cs->cs_body.b_len + *upload_data_size
		    > h->h_opts.ho_max_body) {
			cs->cs_too_big = true;
		} else if (!cs->cs_too_big) {
			sf_buf_put(
			    &cs->cs_body, upload_data, *upload_data_size);
		}
		*upload_data_size = 0;
		return (MHD_YES);
	}

	conn_deadline(h, conn, 0); // the body is in: the handler runs
	memset(&resp, 0, sizeof(resp));
	resp.hs_status = 200;
	sf_buf_init(&resp.hs_body);
	set_request_id(conn);
	if (cs->cs_too_big || cs->cs_body.b_oom) {
		resp.hs_status = 413;
		sf_buf_printf(&resp.hs_body,
		    "request body larger than %zu bytes\n",
		    h->h_opts.ho_max_body);
	} else if ((code = match(h, method, url, &r, allow, sizeof(allow)))
	    != 0) {
		resp.hs_status = code;
		if (code == 405) {
			resp.hs_hdr[resp.hs_nhdr][0]   = "Allow";
			resp.hs_hdr[resp.hs_nhdr++][1] = allow;
			sf_buf_printf(&resp.hs_body,
			    "method %s not allowed on %s (allowed: %s)\n",
			    method, url, allow);
		} else {
			sf_buf_printf(
			    &resp.hs_body, "no such path: %s\n", url);
		}
	} else {
		sf_http_req req = {
		    .hr_method   = method,
		    .hr_path     = url,
		    .hr_body     = sf_buf_cstr(&cs->cs_body),
		    .hr_body_len = cs->cs_body.b_len,
		    .hr_conn     = conn,
		};
		r->r_fn(r->r_arg, &req, &resp);
		if (resp.hs_body.b_oom) {
			sf_buf_reset(&resp.hs_body);
			resp.hs_body.b_oom = 0;
			resp.hs_status     = 500;
			sf_buf_puts(&resp.hs_body, "out of memory\n");
		}
	}
	SF_DEBUG("http", "%s %s -> %d (%zu bytes, %.3f ms)", method, url,
	    resp.hs_status, resp.hs_body.b_len,
	    (double) (sf_clock_mono_us() - cs->cs_start_us) / 1000.0);
	enum MHD_Result ret = send_resp(conn, &resp);
	sf_log_set_request_id(NULL);
	sf_buf_fini(&resp.hs_body);
	return (ret);
}

static enum MHD_Result
refuse(struct MHD_Connection *conn, conn_state *cs, sf_http_resp *resp)
{
	cs->cs_refused = true;
	if (resp->hs_nhdr < 4) {
		resp->hs_hdr[resp->hs_nhdr][0]   = "Connection";
		resp->hs_hdr[resp->hs_nhdr++][1] = "close";
	}
	return (send_resp(conn, resp));
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	conn_state *cs = *con_cls;
	sf_http    *h  = cls;
	(void) toe;
	if (cs != NULL) {
		// The next request on this connection has its header time
		// from now (which bounds keep-alive idling too).
		conn_deadline(h, conn, h->h_opts.ho_header_timeout_ms);
		bool big = cs->cs_body.b_cap > TRIM_AFTER_BODY;
		sf_buf_fini(&cs->cs_body);
		if (big) {
			malloc_trim(0);
		}
		free(cs);
		*con_cls = NULL;
	}
}

// libmicrohttpd's format: printf-like (declared so for clang's
// -Wformat-nonliteral, which the TSan and fuzz builds use).
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	sf_http *h = cls;
	char     msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	SF_WARN("http", "%s: %s", h->h_name, msg);
}

// -------------------------------------------------------------- lifetime

int
sf_http_alloc(sf_http **out, const sf_http_opts *o, sf_status *st)
{
	sf_http *h;
	int      rv, scheme;

	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	pthread_mutex_init(&h->h_mtx, NULL);
	pthread_cond_init(&h->h_cv, NULL);
	h->h_lfd     = -1;
	h->h_opts    = *o;
	h->h_address = strdup(
	    o->ho_addr != NULL && o->ho_addr[0] ? o->ho_addr : DEFAULT_ADDR);
	h->h_name = strdup(o->ho_name != NULL ? o->ho_name : "http");
	if (o->ho_tls_cert != NULL && o->ho_tls_cert[0] != '\0') {
		h->h_cert_file = strdup(o->ho_tls_cert);
	}
	if (o->ho_tls_key != NULL && o->ho_tls_key[0] != '\0') {
		h->h_key_file = strdup(o->ho_tls_key);
	}
	h->h_opts.ho_addr     = h->h_address;
	h->h_opts.ho_name     = h->h_name;
	h->h_opts.ho_tls_cert = h->h_cert_file;
	h->h_opts.ho_tls_key  = h->h_key_file;
	if (h->h_opts.ho_max_conns == 0) {
		h->h_opts.ho_max_conns = 256;
	}
	if (h->h_opts.ho_header_timeout_ms == 0) {
		h->h_opts.ho_header_timeout_ms = 10000;
	}
	if (h->h_opts.ho_body_timeout_ms == 0) {
		h->h_opts.ho_body_timeout_ms = 30000;
	}
	if (o->ho_allowed_hosts != NULL
	    && (h->h_allowed = strdup(o->ho_allowed_hosts)) == NULL) {
		sf_http_free(h);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	h->h_opts.ho_allowed_hosts = h->h_allowed;
	if (h->h_opts.ho_max_body == 0) {
		h->h_opts.ho_max_body = 4u << 20;
	}
	if (h->h_opts.ho_max_conns_per_ip == 0) {
		h->h_opts.ho_max_conns_per_ip = h->h_opts.ho_max_conns / 4;
		if (h->h_opts.ho_max_conns_per_ip < 4) {
			h->h_opts.ho_max_conns_per_ip = 4;
		}
	}
	if (h->h_opts.ho_timeout_s == 0) {
		h->h_opts.ho_timeout_s = 60;
	}
	if (h->h_address == NULL || h->h_name == NULL) {
		sf_http_free(h);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	if ((rv = sf_http_parse_addr(h->h_address,
	         h->h_cert_file != NULL && h->h_key_file != NULL, &h->h_tls,
	         st))
	        != 0
	    || (rv = split_addr(
	            h->h_address, &scheme, &h->h_host, &h->h_port, st))
	        != 0) {
		sf_http_free(h);
		return (rv);
	}
	if (sf_http_route(h, "GET", "/healthz", false, h_healthz, h) != 0
	    || sf_http_route(h, "GET", "/readyz", false, h_readyz, h) != 0
	    || (o->ho_metrics != NULL
	        && sf_http_route(h, "GET", "/metrics", false, h_metrics, h)
	            != 0)) {
		sf_http_free(h);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	*out = h;
	return (0);
}

int
sf_http_route(sf_http *h, const char *method, const char *path, bool prefix,
    sf_http_handler_fn fn, void *arg)
{
	route *r;
	if (h->h_nroutes == MAX_ROUTES || h->h_mhd != NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	r           = &h->h_routes[h->h_nroutes];
	r->r_method = strdup(method);
	r->r_path   = strdup(path);
	if (r->r_method == NULL || r->r_path == NULL) {
		free(r->r_method);
		free(r->r_path);
		return (SF_RESOURCE_EXHAUSTED);
	}
	r->r_len    = strlen(path);
	r->r_prefix = prefix;
	r->r_fn     = fn;
	r->r_arg    = arg;
	h->h_nroutes++;
	return (0);
}

int
sf_http_gate(sf_http *h, const char *prefix, sf_http_gate_fn fn, void *arg)
{
	gate *g;
	if (h->h_ngates == MAX_GATES || h->h_mhd != NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	g = &h->h_gates[h->h_ngates];
	if ((g->g_prefix = strdup(prefix)) == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	g->g_len = strlen(prefix);
	g->g_fn  = fn;
	g->g_arg = arg;
	h->h_ngates++;
	return (0);
}

int
sf_http_add_check(sf_http *h, const char *name, sf_http_check_fn fn, void *arg)
{
	check *k;
	if (h->h_nchecks == MAX_CHECKS || h->h_mhd != NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	k = &h->h_checks[h->h_nchecks];
	if ((k->k_name = strdup(name)) == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	k->k_fn  = fn;
	k->k_arg = arg;
	h->h_nchecks++;
	return (0);
}

static char *
read_pem(const char *path, const char *what, sf_status *st)
{
	char *buf = sf_file_read(path, MAX_PEM, NULL);
	if (buf == NULL && (errno == EFBIG || errno == ENOMEM)) {
		sf_status_set(st, SF_INVALID_ARGUMENT,
		    "cannot read %s %s: not a file of at most 1 MiB", what,
		    path);
	} else if (buf == NULL) {
		sf_status_set(st, SF_INVALID_ARGUMENT, "cannot read %s %s: %s",
		    what, path, strerror(errno));
	}
	return (buf);
}

// Resolves h_host:h_port into sa. Returns 0 or SF_INVALID_ARGUMENT.
static int
resolve(sf_http *h, struct sockaddr_storage *sa, bool *v6, sf_status *st)
{
	struct addrinfo hints = {0}, *res = NULL;
	char            port[8];
	int             rc;

	hints.ai_family   = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags    = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", h->h_port);
	rc = getaddrinfo(h->h_host[0] ? h->h_host : NULL, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "cannot resolve the HTTP address %s: %s", h->h_address,
		    rc != 0 ? gai_strerror(rc) : "no address"));
	}
	memset(sa, 0, sizeof(*sa));
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return (0);
}

int
sf_http_listen(sf_http *h, sf_status *st)
{
	int rv, one = 1;

	if (h->h_lfd >= 0) {
		return (0);
	}
	if ((rv = resolve(h, &h->h_sa, &h->h_v6, st)) != 0) {
		return (rv);
	}
	if (h->h_tls
	    && ((h->h_cert == NULL
	            && (h->h_cert = read_pem(h->h_cert_file, "--tls-cert", st))
	                == NULL)
	        || (h->h_key == NULL
	            && (h->h_key = read_pem(h->h_key_file, "--tls-key", st))
	                == NULL))) {
		return (SF_INVALID_ARGUMENT);
	}
	int fd = socket(h->h_v6 ? AF_INET6 : AF_INET,
	    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
		    "cannot serve HTTP on %s: %s", h->h_address,
		    strerror(errno)));
	}
	// As MHD does with the sockets it makes: a restart binds at once,
	// and an IPv6 address is IPv6 only.
	(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (h->h_v6) {
		(void) setsockopt(
		    fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	socklen_t len = h->h_v6 ? sizeof(struct sockaddr_in6)
	                        : sizeof(struct sockaddr_in);
	if (bind(fd, (struct sockaddr *) &h->h_sa, len) != 0
	    || listen(fd, SOMAXCONN) != 0) {
		int err = errno;
		close(fd);
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "cannot serve HTTP%s on %s: %s%s", h->h_tls ? "S" : "",
		    h->h_address, strerror(err),
		    err == EADDRINUSE
		        ? " (another process listens on that port)"
		        : ""));
	}
	h->h_lfd = fd;
	return (0);
}

int
sf_http_start(sf_http *h, sf_status *st)
{
	struct sockaddr_storage     sa;
	bool                        v6 = false;
	unsigned                    flags;
	int                         rv;
	const union MHD_DaemonInfo *info;
	char                        host[INET6_ADDRSTRLEN + 2];

	if ((rv = sf_http_listen(h, st)) != 0) {
		return (rv);
	}
	sa    = h->h_sa;
	v6    = h->h_v6;
	flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
	    | MHD_USE_AUTO | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
	// One option list; HTTPS adds its certificate and key at the end.
	struct MHD_OptionItem opts[] = {
	    {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t) on_mhd_log, h},
	    {MHD_OPTION_LISTEN_SOCKET, h->h_lfd, NULL},
	    {MHD_OPTION_CONNECTION_LIMIT, h->h_opts.ho_max_conns, NULL},
	    {MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->h_opts.ho_max_conns_per_ip,
	        NULL},
	    {MHD_OPTION_CONNECTION_TIMEOUT, h->h_opts.ho_timeout_s, NULL},
	    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) on_completed, h},
	    {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t) on_connection, h},
	    {MHD_OPTION_END, 0, NULL}, // HTTPS: the certificate
	    {MHD_OPTION_END, 0, NULL}, // HTTPS: its key
	    {MHD_OPTION_END, 0, NULL}, // HTTPS: protocols and ciphers
	    {MHD_OPTION_END, 0, NULL},
	};
	if (h->h_tls) {
		size_t n = sizeof(opts) / sizeof(opts[0]);
		flags |= MHD_USE_TLS;
		opts[n - 4] = (struct MHD_OptionItem) {
		    MHD_OPTION_HTTPS_MEM_CERT, 0, h->h_cert};
		opts[n - 3] = (struct MHD_OptionItem) {
		    MHD_OPTION_HTTPS_MEM_KEY, 0, h->h_key};
		opts[n - 2] = (struct MHD_OptionItem) {
		    MHD_OPTION_HTTPS_PRIORITIES, 0, (void *) TLS_PRIORITIES};
	}
	h->h_mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
	    MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (h->h_mhd == NULL) {
		int err = errno;
		close(h->h_lfd);
		h->h_lfd = -1;
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "cannot serve HTTP%s on %s: %s%s", h->h_tls ? "S" : "",
		    h->h_address, err != 0 ? strerror(err) : "failed",
		    h->h_tls ? " (or the certificate/key is unusable)" : ""));
	}
	if (pthread_create(&h->h_dog, NULL, watchdog, h) != 0) {
		MHD_stop_daemon(h->h_mhd);
		h->h_mhd = NULL;
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
		    "cannot start the HTTP watchdog thread"));
	}
	h->h_dog_running = true;
	info = MHD_get_daemon_info(h->h_mhd, MHD_DAEMON_INFO_BIND_PORT);
	if (v6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &sa)->sin6_addr,
		    host + 1, sizeof(host) - 2);
		host[0] = '[';
		strcat(host, "]");
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *) &sa)->sin_addr,
		    host, sizeof(host));
	}
	snprintf(h->h_url, sizeof(h->h_url), "%s://%s:%u",
	    h->h_tls ? "https" : "http", host,
	    info != NULL ? (unsigned) info->port : h->h_port);
	SF_INFO("http", "%s serving %s (/healthz /readyz%s)", h->h_name,
	    h->h_url, h->h_opts.ho_metrics != NULL ? " /metrics" : "");
	return (0);
}

const char *
sf_http_url(const sf_http *h)
{
	return (h->h_url);
}

void
sf_http_free(sf_http *h)
{
	if (h == NULL) {
		return;
	}
	if (h->h_mhd != NULL) {
		MHD_stop_daemon(h->h_mhd); // closes h_lfd
	} else if (h->h_lfd >= 0) {
		close(h->h_lfd); // listened, never started
	}
	if (h->h_dog_running) {
		pthread_mutex_lock(&h->h_mtx);
		h->h_dog_stop = true;
		pthread_cond_signal(&h->h_cv);
		pthread_mutex_unlock(&h->h_mtx);
		pthread_join(h->h_dog, NULL);
	}
	for (size_t i = 0; i < h->h_ngates; i++) {
		free(h->h_gates[i].g_prefix);
	}
	free(h->h_allowed);
	for (size_t i = 0; i < h->h_nroutes; i++) {
		free(h->h_routes[i].r_method);
		free(h->h_routes[i].r_path);
	}
	for (size_t i = 0; i < h->h_nchecks; i++) {
		free(h->h_checks[i].k_name);
	}
	if (h->h_key != NULL) {
		explicit_bzero(h->h_key, strlen(h->h_key));
		free(h->h_key);
	}
	free(h->h_cert);
	free(h->h_host);
	free(h->h_address);
	free(h->h_name);
	free(h->h_cert_file);
	free(h->h_key_file);
	pthread_cond_destroy(&h->h_cv);
	pthread_mutex_destroy(&h->h_mtx);
	free(h);
}
