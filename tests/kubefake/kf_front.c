// kf_front.c: the TLS front end. kubefake's listening socket is here: TLS
// with OpenSSL, and ALPN offering "h2" then "http/1.1" in the server's order
// of preference, as kube-apiserver (Go's net/http) does; a client offering
// neither gets a no_application_protocol alert, one offering nothing gets
// HTTP/1.1.
//
// One thread per connection:
// - HTTP/1.1: the decrypted bytes are relayed to libmicrohttpd over a
//   socketpair handed to it with MHD_add_connection (kf_http.c serves it).
// - HTTP/2: an nghttp2 server session. Each stream becomes one request to
//   libmicrohttpd, made with libcurl over MHD's abstract unix socket (the same
//   handlers, faults and counters serve both protocols); the response
//   headers and body go back on the stream as they arrive, so a watch is a
//   long-lived h2 stream. The connection's thread drives nghttp2 and the
//   curl multi handle from one curl_multi_poll loop.
//
// h2 faults (kf_faults): h2_rst_rate resets a stream before its request is
// served (nothing was done); h2_rst_after_rate resets it after the request
// was served (the change was made, its reply is lost); h2_goaway_after N
// sends GOAWAY when a connection's Nth stream arrives: streams up to that
// one are finished, later ones (in flight from the client) are refused,
// and the connection closes once idle. /_kubefake requests are never
// faulted. Shutdown sends GOAWAY on every h2 connection.
#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "kf.h"
#include "kf_http.h"
#include "log.h"

#define MAX_BODY (4 * 1024 * 1024) // beyond MHD's 3 MiB 413: reset
#define OUT_HIGH (1024 * 1024)     // pause the backend above this

typedef struct fconn {
	struct fconn *f_next;
	pthread_t     f_th;
	int           f_fd;
	atomic_bool   f_done;
} fconn;

static struct {
	int                lfd;
	SSL_CTX           *ctx;
	struct MHD_Daemon *d;
	pthread_t          acc;
	int                stop[2]; // readable once stopping
	pthread_mutex_t    mu;
	fconn             *conns;
	char               unix_name[96]; // MHD's abstract unix socket
} fr = {.lfd = -1, .stop = {-1, -1}, .mu = PTHREAD_MUTEX_INITIALIZER};

static bool
stopping(void)
{
	return atomic_load(&kf_st.st_stopping);
}

static bool
chance(double rate)
{
	if (rate <= 0) {
		return false;
	}
	if (rate >= 1) {
		return true;
	}
	return (double) (kf_rand_u64() >> 11) / 9007199254740992.0 < rate;
}

static kf_faults
faults(void)
{
	kf_faults f;
	pthread_mutex_lock(&kf_st.st_fmu);
	f = kf_st.st_faults;
	pthread_mutex_unlock(&kf_st.st_fmu);
	return f;
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL, 0);
	if (fl >= 0) {
		(void) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	}
}

// backend_socket gives MHD one end of a new socketpair; returns the other.
static int
backend_socket(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		return -1;
	}
	struct sockaddr_in peer;
	memset(&peer, 0, sizeof(peer));
	peer.sin_family      = AF_INET;
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (MHD_add_connection(
	        fr.d, sv[0], (const struct sockaddr *) &peer, sizeof(peer))
	    != MHD_YES) {
		// MHD closes sv[0] on failure.
		close(sv[1]);
		return -1;
	}
	return sv[1];
}

// ---- TLS ------------------------------------------------------------------

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	(void) ssl;
	(void) arg;
	static const unsigned char both[]  = "\x02h2\x08http/1.1";
	static const unsigned char http1[] = "\x08http/1.1";
	// --alpn http/1.1: a server without HTTP/2.
	bool h1only = kf_st.st_opts.o_alpn
	    && strcmp(kf_st.st_opts.o_alpn, "http/1.1") == 0;
	const unsigned char *server = h1only ? http1 : both;
	unsigned int   slen = h1only ? sizeof(http1) - 1 : sizeof(both) - 1;
	unsigned char *o    = NULL;
	if (SSL_select_next_proto(&o, outlen, server, slen, in, inlen)
	    != OPENSSL_NPN_NEGOTIATED) {
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	*out = o;
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *
tls_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	BIO  *b  = BIO_new_mem_buf(cert, -1);
	X509 *x  = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	bool  ok = x && SSL_CTX_use_certificate(ctx, x) == 1;
	X509_free(x);
	X509 *extra;
	while (ok && (extra = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		if (SSL_CTX_add_extra_chain_cert(ctx, extra) != 1) {
			X509_free(extra);
			ok = false;
		}
	}
	ERR_clear_error(); // the end of the PEM text
	BIO_free(b);
	b           = BIO_new_mem_buf(key, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	ok          = ok && k && SSL_CTX_use_PrivateKey(ctx, k) == 1;
	EVP_PKEY_free(k);
	BIO_free(b);
	if (!ok || SSL_CTX_check_private_key(ctx) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
}

// wait_fd polls fd for ev (and the stop pipe) up to ms; false on stop,
// timeout or error.
static bool
wait_fd(int fd, short ev, int ms)
{
	struct pollfd p[2] = {{fd, ev, 0}, {fr.stop[0], POLLIN, 0}};
	int           n    = poll(p, 2, ms);
	return n > 0 && p[1].revents == 0 && p[0].revents != 0;
}

// ssl_io retries a non-blocking SSL call's WANT_READ/WANT_WRITE; returns
// the SSL_get_error code (SSL_ERROR_NONE on success) or -1 on stop.
static int
ssl_wait(SSL *ssl, int rc, int fd)
{
	int e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ) {
		return wait_fd(fd, POLLIN, 10000) ? e : -1;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		return wait_fd(fd, POLLOUT, 10000) ? e : -1;
	}
	return e;
}

static bool
ssl_write_all(SSL *ssl, int fd, const void *p, size_t n)
{
	while (n > 0) {
		int rc
		    = SSL_write(ssl, p, n > INT32_MAX ? INT32_MAX : (int) n);
		if (rc > 0) {
			p = (const char *) p + rc;
			n -= (size_t) rc;
			continue;
		}
		int e = ssl_wait(ssl, rc, fd);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			return false;
		}
	}
	return true;
}

// ---- HTTP/1.1: relay to libmicrohttpd --------------------------------------

static void
serve_http1(SSL *ssl, int fd)
{
	int b = backend_socket();
	if (b < 0) {
		return;
	}
	set_nonblock(b);
	char buf[32 * 1024];
	for (;;) {
		// Decrypted bytes SSL already holds are read before polling.
		if (SSL_pending(ssl) == 0) {
			struct pollfd p[3] = {{fd, POLLIN, 0}, {b, POLLIN, 0},
			    {fr.stop[0], POLLIN, 0}};
			if (poll(p, 3, -1) < 0 && errno != EINTR) {
				break;
			}
			if (p[2].revents) {
				break;
			}
			if (p[1].revents) {
				ssize_t n = read(b, buf, sizeof(buf));
				if (n <= 0) {
					if (n < 0 && errno == EAGAIN) {
						continue;
					}
					break; // MHD closed the connection
				}
				if (!ssl_write_all(ssl, fd, buf, (size_t) n)) {
					break;
				}
			}
			if (!(p[0].revents)) {
				continue;
			}
		}
		int rc = SSL_read(ssl, buf, sizeof(buf));
		if (rc <= 0) {
			int e = SSL_get_error(ssl, rc);
			if (e == SSL_ERROR_WANT_READ
			    || e == SSL_ERROR_WANT_WRITE) {
				continue;
			}
			break;
		}
		size_t off = 0;
		while (off < (size_t) rc) {
			ssize_t w = write(b, buf + off, (size_t) rc - off);
			if (w > 0) {
				off += (size_t) w;
			} else if (w < 0 && errno == EAGAIN) {
				if (!wait_fd(b, POLLOUT, 10000)) {
					goto out;
				}
			} else {
				goto out;
			}
		}
	}
out:
	close(b);
}

// ---- HTTP/2
// -----------------------------------------------------------------

typedef struct h2conn h2conn;

typedef struct stream {
	int32_t            s_id;
	h2conn            *s_c;
	char               s_method[16];
	char              *s_path;
	struct curl_slist *s_hdrs;
	sf_buf             s_body;
	bool               s_ctl;       // a /_kubefake request
	CURL              *s_easy;      // while the backend request runs
	bool               s_submitted; // response headers sent
	bool               s_finished;  // the backend's response is complete
	bool               s_paused;
	sf_buf             s_out; // response body not yet sent
	size_t             s_off;
	char               s_err[CURL_ERROR_SIZE];
	struct stream     *s_prev, *s_next; // the connection's open streams
} stream;

struct h2conn {
	nghttp2_session *c_s;
	CURLM           *c_multi;
	SSL             *c_ssl;
	int              c_fd;
	sf_buf           c_wbuf; // encrypted-side output not yet written
	size_t           c_woff;
	int              c_nstreams;
	bool             c_goaway;
	// Streams begun and not yet closed: nghttp2_session_del frees its
	// own stream state without calling on_stream_close, so what is still
	// open when the connection ends (kubefake stopping mid-request) is
	// freed from here.
	stream *c_open;
};

static void
stream_free(stream *st)
{
	h2conn *c = st->s_c;
	if (st->s_prev != NULL) {
		st->s_prev->s_next = st->s_next;
	} else if (c->c_open == st) {
		c->c_open = st->s_next;
	}
	if (st->s_next != NULL) {
		st->s_next->s_prev = st->s_prev;
	}
	if (st->s_easy) {
		curl_multi_remove_handle(st->s_c->c_multi, st->s_easy);
		curl_easy_cleanup(st->s_easy);
	}
	curl_slist_free_all(st->s_hdrs);
	free(st->s_path);
	sf_buf_fini(&st->s_body);
	sf_buf_fini(&st->s_out);
	free(st);
}

static ssize_t
body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	(void) s;
	(void) id;
	(void) ud;
	stream *st   = src->ptr;
	size_t  left = st->s_out.b_len - st->s_off;
	if (left == 0) {
		if (st->s_finished) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			return 0;
		}
		return NGHTTP2_ERR_DEFERRED;
	}
	size_t n = left < len ? left : len;
	memcpy(buf, st->s_out.b_data + st->s_off, n);
	st->s_off += n;
	if (st->s_off == st->s_out.b_len) {
		sf_buf_reset(&st->s_out);
		st->s_off = 0;
		if (st->s_finished) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
		}
	}
	if (st->s_paused && st->s_out.b_len - st->s_off < OUT_HIGH / 2) {
		st->s_paused = false;
		curl_easy_pause(st->s_easy, CURLPAUSE_CONT);
	}
	return (ssize_t) n;
}

static bool
hop_by_hop(const char *name)
{
	static const char *const h[]
	    = {"connection", "keep-alive", "transfer-encoding", "upgrade",
	        "proxy-connection", "te", "host", NULL};
	for (int i = 0; h[i]; i++) {
		if (strcasecmp(name, h[i]) == 0) {
			return true;
		}
	}
	return false;
}

// submit_response sends the backend's status and headers on the stream.
static void
submit_response(stream *st)
{
	long code = 0;
	curl_easy_getinfo(st->s_easy, CURLINFO_RESPONSE_CODE, &code);
	nghttp2_nv          nv[64];
	char                names[64][64];
	char                status[8];
	size_t              n = 0;
	struct curl_header *h = NULL, *prev = NULL;
	snprintf(status, sizeof(status), "%ld", code);
	nv[n++] = (nghttp2_nv) {(uint8_t *) ":status", (uint8_t *) status, 7,
	    strlen(status), NGHTTP2_NV_FLAG_NONE};
	while (n < 64
	    && (h
	        = curl_easy_nextheader(st->s_easy, CURLH_HEADER, -1, prev))) {
		prev = h;
		if (hop_by_hop(h->name) || strlen(h->name) >= 64) {
			continue;
		}
		size_t k = 0;
		for (; h->name[k]; k++) {
			names[n][k]
			    = (char) tolower((unsigned char) h->name[k]);
		}
		names[n][k] = '\0';
		nv[n]
		    = (nghttp2_nv) {(uint8_t *) names[n], (uint8_t *) h->value,
		        k, strlen(h->value), NGHTTP2_NV_FLAG_NONE};
		n++;
	}
	nghttp2_data_provider dp
	    = {.source.ptr = st, .read_callback = body_read};
	nghttp2_submit_response(st->s_c->c_s, st->s_id, nv, n, &dp);
	st->s_submitted = true;
}

static size_t
on_backend_data(char *p, size_t size, size_t nmemb, void *arg)
{
	stream *st = arg;
	size_t  n  = size * nmemb;
	if (st->s_out.b_len - st->s_off > OUT_HIGH) {
		st->s_paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (!st->s_submitted) {
		submit_response(st);
	}
	if (sf_buf_put(&st->s_out, p, n) != 0) {
		return 0;
	}
	nghttp2_session_resume_data(st->s_c->c_s, st->s_id);
	return n;
}

static void
rst(stream *st, uint32_t code)
{
	nghttp2_submit_rst_stream(
	    st->s_c->c_s, NGHTTP2_FLAG_NONE, st->s_id, code);
}

// start sends a complete request on to libmicrohttpd.
static void
start(stream *st)
{
	h2conn *c = st->s_c;
	if (st->s_path == NULL || st->s_method[0] == '\0') {
		rst(st, NGHTTP2_PROTOCOL_ERROR);
		return;
	}
	if (!st->s_ctl && chance(faults().f_h2_rst_rate)) {
		atomic_fetch_add(&kf_st.st_stats.s_fault_rst, 1);
		rst(st, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	sf_buf url;
	sf_buf_init(&url);
	sf_buf_printf(&url, "http://127.0.0.1%s", st->s_path);
	CURL *e = curl_easy_init();
	if (e == NULL || url.b_data == NULL) {
		sf_buf_fini(&url);
		curl_easy_cleanup(e);
		rst(st, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	st->s_hdrs = curl_slist_append(st->s_hdrs, "Expect:");
	curl_easy_setopt(e, CURLOPT_URL, url.b_data);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, st->s_method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, st->s_hdrs);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ABSTRACT_UNIX_SOCKET, fr.unix_name);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_backend_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, st);
	curl_easy_setopt(e, CURLOPT_PRIVATE, st);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, st->s_err);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	if (st->s_body.b_len > 0 || strcmp(st->s_method, "POST") == 0
	    || strcmp(st->s_method, "PUT") == 0
	    || strcmp(st->s_method, "PATCH") == 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		    st->s_body.b_data ? st->s_body.b_data : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t) st->s_body.b_len);
	}
	sf_buf_fini(&url);
	st->s_easy = e;
	if (curl_multi_add_handle(c->c_multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		st->s_easy = NULL;
		rst(st, NGHTTP2_INTERNAL_ERROR);
	}
}

// finish: the backend request of st ended with rc.
static void
finish(stream *st, CURLcode rc)
{
	h2conn *c = st->s_c;
	curl_multi_remove_handle(c->c_multi, st->s_easy);
	if (rc != CURLE_OK) {
		// The backend closed without an answer (drop_rate,
		// refuse_all, shutdown) or mid-body: the stream is reset.
		SF_DEBUG("kubefake", "h2 stream %d: backend: %s", st->s_id,
		    st->s_err[0] ? st->s_err : curl_easy_strerror(rc));
		curl_easy_cleanup(st->s_easy);
		st->s_easy = NULL;
		rst(st, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	if (!st->s_ctl && chance(faults().f_h2_rst_after_rate)) {
		atomic_fetch_add(&kf_st.st_stats.s_fault_rst, 1);
		curl_easy_cleanup(st->s_easy);
		st->s_easy = NULL;
		rst(st, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	if (!st->s_submitted) {
		submit_response(st);
	}
	curl_easy_cleanup(st->s_easy);
	st->s_easy     = NULL;
	st->s_finished = true;
	nghttp2_session_resume_data(c->c_s, st->s_id);
}

static int
on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	h2conn *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS
	    || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
		return 0;
	}
	stream *st = calloc(1, sizeof(*st));
	if (st == NULL) {
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	st->s_id   = f->hd.stream_id;
	st->s_c    = c;
	st->s_next = c->c_open;
	if (c->c_open != NULL) {
		c->c_open->s_prev = st;
	}
	c->c_open = st;
	nghttp2_session_set_stream_user_data(s, st->s_id, st);
	atomic_fetch_add(&kf_st.st_stats.s_h2_streams, 1);
	c->c_nstreams++;
	int after = faults().f_h2_goaway_after;
	if (!c->c_goaway && after > 0 && c->c_nstreams >= after) {
		// Streams up to this one are served; those the client sends
		// meanwhile are refused by the last-stream-id.
		atomic_fetch_add(&kf_st.st_stats.s_fault_goaway, 1);
		nghttp2_submit_goaway(
		    s, NGHTTP2_FLAG_NONE, st->s_id, NGHTTP2_NO_ERROR, NULL, 0);
		c->c_goaway = true;
	}
	return 0;
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	(void) flags;
	(void) ud;
	stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (st == NULL || f->hd.type != NGHTTP2_HEADERS) {
		return 0;
	}
	if (nlen == 7 && memcmp(name, ":method", 7) == 0) {
		snprintf(st->s_method, sizeof(st->s_method), "%.*s",
		    (int) vlen, (const char *) value);
	} else if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
		free(st->s_path);
		st->s_path = strndup((const char *) value, vlen);
		st->s_ctl  = st->s_path
		    && strncmp(st->s_path, "/_kubefake/", 11) == 0;
	} else if (nlen == 10 && memcmp(name, ":authority", 10) == 0) {
		sf_buf h;
		sf_buf_init(&h);
		sf_buf_printf(
		    &h, "Host: %.*s", (int) vlen, (const char *) value);
		if (h.b_data) {
			st->s_hdrs = curl_slist_append(st->s_hdrs, h.b_data);
		}
		sf_buf_fini(&h);
	} else if (nlen > 0 && name[0] != ':'
	    && !hop_by_hop((const char *) name)) {
		sf_buf h;
		sf_buf_init(&h);
		// An empty value needs curl's "Name;" form.
		if (vlen == 0) {
			sf_buf_printf(
			    &h, "%.*s;", (int) nlen, (const char *) name);
		} else {
			sf_buf_printf(&h, "%.*s: %.*s", (int) nlen,
			    (const char *) name, (int) vlen,
			    (const char *) value);
		}
		if (h.b_data) {
			st->s_hdrs = curl_slist_append(st->s_hdrs, h.b_data);
		}
		sf_buf_fini(&h);
	}
	return 0;
}

static int
on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *ud)
{
	(void) flags;
	(void) ud;
	stream *st = nghttp2_session_get_stream_user_data(s, id);
	if (st == NULL) {
		return 0;
	}
	if (st->s_body.b_len + len > MAX_BODY) {
		nghttp2_submit_rst_stream(
		    s, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	sf_buf_put(&st->s_body, data, len);
	return 0;
}

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	(void) ud;
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA)
	    && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		stream *st
		    = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
		if (st != NULL && st->s_easy == NULL && !st->s_submitted) {
			start(st);
		}
	}
	return 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	(void) code;
	(void) ud;
	stream *st = nghttp2_session_get_stream_user_data(s, id);
	if (st != NULL) {
		nghttp2_session_set_stream_user_data(s, id, NULL);
		stream_free(st);
	}
	return 0;
}

// flush writes nghttp2's pending output; false when the peer is gone.
static bool
flush(h2conn *c)
{
	for (;;) {
		if (c->c_wbuf.b_len == c->c_woff) {
			sf_buf_reset(&c->c_wbuf);
			c->c_woff = 0;
			const uint8_t *data;
			ssize_t        n;
			while ((n = nghttp2_session_mem_send(c->c_s, &data))
			    > 0) {
				sf_buf_put(&c->c_wbuf, data, (size_t) n);
				if (c->c_wbuf.b_len > 64 * 1024) {
					break;
				}
			}
			if (n < 0) {
				return false;
			}
			if (c->c_wbuf.b_len == 0) {
				return true;
			}
		}
		int rc = SSL_write(c->c_ssl, c->c_wbuf.b_data + c->c_woff,
		    (int) (c->c_wbuf.b_len - c->c_woff));
		if (rc > 0) {
			c->c_woff += (size_t) rc;
			continue;
		}
		int e = SSL_get_error(c->c_ssl, rc);
		// WANT_WRITE: the rest waits for POLLOUT.
		return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ;
	}
}

// pull reads what the peer sent; false when it is gone.
static bool
pull(h2conn *c)
{
	uint8_t buf[32 * 1024];
	for (;;) {
		int rc = SSL_read(c->c_ssl, buf, sizeof(buf));
		if (rc <= 0) {
			int e = SSL_get_error(c->c_ssl, rc);
			return e == SSL_ERROR_WANT_READ
			    || e == SSL_ERROR_WANT_WRITE;
		}
		if (nghttp2_session_mem_recv(c->c_s, buf, (size_t) rc) < 0) {
			return false;
		}
	}
}

static void
serve_h2(SSL *ssl, int fd)
{
	h2conn c;
	memset(&c, 0, sizeof(c));
	c.c_ssl = ssl;
	c.c_fd  = fd;
	sf_buf_init(&c.c_wbuf);
	c.c_multi = curl_multi_init();
	nghttp2_session_callbacks *cb;
	if (c.c_multi == NULL || nghttp2_session_callbacks_new(&cb) != 0) {
		curl_multi_cleanup(c.c_multi);
		return;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(
	    cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
	    cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(
	    cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(
	    cb, on_stream_close);
	int rc = nghttp2_session_server_new(&c.c_s, cb, &c);
	nghttp2_session_callbacks_del(cb);
	if (rc != 0) {
		curl_multi_cleanup(c.c_multi);
		return;
	}
	// kube-apiserver's --http2-max-streams-per-connection default.
	nghttp2_settings_entry set[]
	    = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}};
	nghttp2_submit_settings(c.c_s, NGHTTP2_FLAG_NONE, set, 1);
	bool said_bye = false;
	for (;;) {
		if (stopping() && !said_bye) {
			nghttp2_submit_goaway(c.c_s, NGHTTP2_FLAG_NONE,
			    nghttp2_session_get_last_proc_stream_id(c.c_s),
			    NGHTTP2_NO_ERROR, NULL, 0);
			said_bye = true;
			(void) flush(&c);
			break;
		}
		if (!flush(&c)) {
			break;
		}
		if (!nghttp2_session_want_read(c.c_s)
		    && !nghttp2_session_want_write(c.c_s)
		    && c.c_wbuf.b_len == c.c_woff) {
			break; // GOAWAY sent and every stream done
		}
		if (SSL_pending(ssl) > 0) {
			if (!pull(&c)) {
				break;
			}
			continue;
		}
		struct curl_waitfd w[2] = {{fd, CURL_WAIT_POLLIN, 0},
		    {fr.stop[0], CURL_WAIT_POLLIN, 0}};
		if (c.c_wbuf.b_len > c.c_woff) {
			w[0].events |= CURL_WAIT_POLLOUT;
		}
		int nfd = 0;
		if (curl_multi_poll(c.c_multi, w, 2, 1000, &nfd) != CURLM_OK) {
			break;
		}
		if (w[0].revents & CURL_WAIT_POLLIN) {
			if (!pull(&c)) {
				break;
			}
		}
		int running = 0;
		curl_multi_perform(c.c_multi, &running);
		CURLMsg *m;
		int      left;
		while ((m = curl_multi_info_read(c.c_multi, &left))) {
			if (m->msg != CURLMSG_DONE) {
				continue;
			}
			stream *st = NULL;
			curl_easy_getinfo(
			    m->easy_handle, CURLINFO_PRIVATE, &st);
			if (st != NULL) {
				finish(st, m->data.result);
			}
		}
	}
	// Streams still open (the peer went away, or kubefake is stopping):
	// nghttp2_session_del does not call on_stream_close for them.
	while (c.c_open != NULL) {
		nghttp2_session_set_stream_user_data(
		    c.c_s, c.c_open->s_id, NULL);
		stream_free(c.c_open);
	}
	nghttp2_session_del(c.c_s);
	curl_multi_cleanup(c.c_multi);
	sf_buf_fini(&c.c_wbuf);
}

// ---- connections
// ------------------------------------------------------------

static void *
conn_main(void *arg)
{
	fconn *fc  = arg;
	int    fd  = fc->f_fd;
	SSL   *ssl = SSL_new(fr.ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
		goto out;
	}
	set_nonblock(fd);
	for (;;) {
		int rc = SSL_accept(ssl);
		if (rc == 1) {
			break;
		}
		int e = ssl_wait(ssl, rc, fd);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			goto out;
		}
	}
	const unsigned char *proto = NULL;
	unsigned int         plen  = 0;
	SSL_get0_alpn_selected(ssl, &proto, &plen);
	if (plen == 2 && memcmp(proto, "h2", 2) == 0) {
		atomic_fetch_add(&kf_st.st_stats.s_conn_h2, 1);
		serve_h2(ssl, fd);
	} else {
		atomic_fetch_add(&kf_st.st_stats.s_conn_http1, 1);
		serve_http1(ssl, fd);
	}
	if (!stopping()) {
		(void) SSL_shutdown(ssl);
	}
out:
	SSL_free(ssl);
	close(fd);
	ERR_clear_error();
	atomic_store(&fc->f_done, true);
	return NULL;
}

// reap joins the threads of closed connections; all when every is set.
static void
reap(bool every)
{
	pthread_mutex_lock(&fr.mu);
	fconn **pp = &fr.conns;
	while (*pp) {
		fconn *fc = *pp;
		if (every || atomic_load(&fc->f_done)) {
			*pp = fc->f_next;
			pthread_mutex_unlock(&fr.mu);
			pthread_join(fc->f_th, NULL);
			free(fc);
			pthread_mutex_lock(&fr.mu);
			pp = &fr.conns;
		} else {
			pp = &fc->f_next;
		}
	}
	pthread_mutex_unlock(&fr.mu);
}

static void *
accept_main(void *arg)
{
	(void) arg;
	for (;;) {
		struct pollfd p[2]
		    = {{fr.lfd, POLLIN, 0}, {fr.stop[0], POLLIN, 0}};
		if (poll(p, 2, 1000) < 0 && errno != EINTR) {
			break;
		}
		if (p[1].revents) {
			break;
		}
		reap(false);
		if (!(p[0].revents & POLLIN)) {
			continue;
		}
		int fd = accept4(fr.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			continue;
		}
		fconn *fc = calloc(1, sizeof(*fc));
		if (fc == NULL) {
			close(fd);
			continue;
		}
		fc->f_fd = fd;
		if (pthread_create(&fc->f_th, NULL, conn_main, fc) != 0) {
			close(fd);
			free(fc);
			continue;
		}
		pthread_mutex_lock(&fr.mu);
		fc->f_next = fr.conns;
		fr.conns   = fc;
		pthread_mutex_unlock(&fr.mu);
	}
	return NULL;
}

int
kf_front_start(const struct sockaddr_in *sa, const char *cert, const char *key,
    struct MHD_Daemon *d, const char *name, int *port)
{
	snprintf(fr.unix_name, sizeof(fr.unix_name), "%s", name);
	fr.d = d;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		return -1;
	}
	fr.ctx = tls_ctx(cert, key);
	if (fr.ctx == NULL) {
		SF_ERROR(
		    "kubefake", "TLS: cannot load the certificate or key");
		return -1;
	}
	if (pipe2(fr.stop, O_CLOEXEC) != 0) {
		return -1;
	}
	fr.lfd  = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fr.lfd < 0
	    || setsockopt(fr.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))
	        != 0
	    || bind(fr.lfd, (const struct sockaddr *) sa, sizeof(*sa)) != 0
	    || listen(fr.lfd, 1024) != 0) {
		return -1;
	}
	struct sockaddr_in bound;
	socklen_t          len = sizeof(bound);
	if (getsockname(fr.lfd, (struct sockaddr *) &bound, &len) != 0) {
		return -1;
	}
	*port = ntohs(bound.sin_port);
	if (pthread_create(&fr.acc, NULL, accept_main, NULL) != 0) {
		return -1;
	}
	return 0;
}

void
kf_front_stop(void)
{
	if (fr.stop[1] < 0) {
		return;
	}
	if (fr.lfd >= 0) {
		// Nothing new: the accept thread ends, then every connection
		// (h2 ones with a GOAWAY) ends and is joined.
		if (write(fr.stop[1], "x", 1) < 0) {
			SF_WARN("kubefake", "stop pipe: %s", strerror(errno));
		}
		pthread_join(fr.acc, NULL);
		close(fr.lfd);
		fr.lfd = -1;
	}
	reap(true);
	SSL_CTX_free(fr.ctx);
	fr.ctx = NULL;
	close(fr.stop[0]);
	close(fr.stop[1]);
	fr.stop[0] = fr.stop[1] = -1;
}
