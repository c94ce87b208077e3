// client.c: libsvcfleet — envelopes over an nng REQ socket.
//
// One REQ socket per handle; every call runs on a context of its own, so
// calls from many threads proceed in parallel over the same connection.
// Contexts (with their aio) are kept for the next call once a call has
// ended cleanly, rather than opened and closed for each call. nng's
// automatic resend is turned off (a slow write must never be sent twice);
// each request carries a fresh request id, which the server uses to
// deduplicate writes that a caller retries itself.
#include <errno.h>
#include <stdarg.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "svcfleet/svcfleet.h"

// nng refuses larger replies; the server's own request limit (4 MiB by
// default) is smaller and answered with RESOURCE_EXHAUSTED.
#define WIRE_MAX           (64u << 20)
#define TIMEOUT_DEFAULT_MS 30000
// Idle contexts kept per handle: more than the threads that call at once
// gains nothing.
#define IDLE_SLOTS_MAX 64

// A REQ context and its aio, reused from call to call.
typedef struct call_slot call_slot;
struct call_slot {
	call_slot *s_next;
	nng_ctx    s_ctx;
	nng_aio   *s_aio;
};

struct svcfleet_client {
	nng_socket      c_sock;
	nng_dialer      c_dialer;
	char           *c_token;
	uint32_t        c_timeout_ms;
	char           *c_url;
	pthread_mutex_t c_mtx; // c_idle
	call_slot      *c_idle;
	size_t          c_nidle;
};

static const char *const code_names[] = {"OK", "CANCELLED", "UNKNOWN",
    "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

const char *
svcfleet_code_name(int code)
{
	static _Thread_local char buf[24];
	if (code >= 0
	    && (size_t) code < sizeof(code_names) / sizeof(code_names[0])) {
		return (code_names[code]);
	}
	snprintf(buf, sizeof(buf), "CODE_%d", code);
	return (buf);
}

void
svcfleet_status_init(svcfleet_status *st)
{
	memset(st, 0, sizeof(*st));
}

static void
status_clear(svcfleet_status *st)
{
	for (size_t i = 0; i < st->n_violations; i++) {
		free(st->violations[i].field);
		free(st->violations[i].reason);
		free(st->violations[i].type);
	}
	free(st->violations);
	st->violations   = NULL;
	st->n_violations = 0;
	st->code         = 0;
	st->message[0]   = '\0';
}

void
svcfleet_status_fini(svcfleet_status *st)
{
	if (st != NULL) {
		status_clear(st);
	}
}

static int fail(svcfleet_status *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(svcfleet_status *st, int code, const char *fmt, ...)
{
	va_list ap;
	if (st != NULL) {
		st->code = code;
		va_start(ap, fmt);
		vsnprintf(st->message, sizeof(st->message), fmt, ap);
		va_end(ap);
	}
	return (code);
}

static int
code_from_nng(int rv)
{
	switch (rv) {
	case NNG_ETIMEDOUT:
		return (SVCFLEET_DEADLINE_EXCEEDED);
	case NNG_ECONNREFUSED:
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
	case NNG_ENOENT:
	case NNG_EADDRINVAL:
	case NNG_EUNREACHABLE:
	case NNG_ECRYPTO:
	case NNG_EPEERAUTH:
		return (SVCFLEET_UNAVAILABLE);
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		return (SVCFLEET_CANCELLED);
	case NNG_ENOMEM:
		return (SVCFLEET_RESOURCE_EXHAUSTED);
	case NNG_EINVAL:
	case NNG_ENOTSUP:
		return (SVCFLEET_INVALID_ARGUMENT);
	default:
		return (SVCFLEET_INTERNAL);
	}
}

void
svcfleet_new_request_id(char out[33])
{
	unsigned char     b[16];
	static const char hex[] = "0123456789abcdef";
	if (getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b)) {
		// The kernel's pool is always ready after boot; this is a
		// fallback for odd sandboxes only.
		for (size_t i = 0; i < sizeof(b); i++) {
			b[i] = (unsigned char) rand();
		}
	}
	for (size_t i = 0; i < sizeof(b); i++) {
		out[2 * i]     = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[32] = '\0';
}

static int
setup_tls(svcfleet_client *c, const svcfleet_options *o, svcfleet_status *st)
{
	nng_tls_config *cfg;
	int             rv;

	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0) {
		return (fail(st, code_from_nng(rv), "TLS is not available: %s",
		    nng_strerror(rv)));
	}
	if (o->insecure_skip_verify) {
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE);
	} else if (o->ca_file == NULL || o->ca_file[0] == '\0') {
		nng_tls_config_free(cfg);
		return (fail(st, SVCFLEET_INVALID_ARGUMENT,
		    "%s needs a CA file to verify the server (--ca-file), or "
		    "an explicit --insecure-skip-verify",
		    o->url));
	} else if ((rv = nng_tls_config_ca_file(cfg, o->ca_file)) != 0) {
		nng_tls_config_free(cfg);
		return (fail(st, SVCFLEET_INVALID_ARGUMENT,
		    "cannot load CA file %s: %s", o->ca_file,
		    nng_strerror(rv)));
	} else {
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	}
	if (rv == 0 && o->server_name != NULL && o->server_name[0] != '\0') {
		rv = nng_tls_config_server_name(cfg, o->server_name);
	}
	if (rv == 0) {
		rv = nng_dialer_set_ptr(c->c_dialer, NNG_OPT_TLS_CONFIG, cfg);
	}
	nng_tls_config_free(cfg);
	if (rv != 0) {
		return (fail(st, code_from_nng(rv), "TLS set-up failed: %s",
		    nng_strerror(rv)));
	}
	return (0);
}

int
svcfleet_open(
    svcfleet_client **out, const svcfleet_options *o, svcfleet_status *st)
{
	svcfleet_client *c;
	int              rv;

	*out = NULL;
	if (st != NULL) {
		status_clear(st);
	}
	if (o == NULL || o->url == NULL || o->url[0] == '\0') {
		return (fail(
		    st, SVCFLEET_INVALID_ARGUMENT, "no server URL given"));
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		return (
		    fail(st, SVCFLEET_RESOURCE_EXHAUSTED, "out of memory"));
	}
	pthread_mutex_init(&c->c_mtx, NULL);
	c->c_timeout_ms = o->timeout_ms ? o->timeout_ms : TIMEOUT_DEFAULT_MS;
	c->c_token      = strdup(o->token != NULL ? o->token : "");
	c->c_url        = strdup(o->url);
	if (c->c_token == NULL || c->c_url == NULL) {
		free(c->c_token);
		free(c->c_url);
		free(c);
		return (
		    fail(st, SVCFLEET_RESOURCE_EXHAUSTED, "out of memory"));
	}
	if ((rv = nng_req0_open(&c->c_sock)) != 0) {
		free(c->c_token);
		free(c->c_url);
		free(c);
		return (fail(st, code_from_nng(rv), "cannot open a socket: %s",
		    nng_strerror(rv)));
	}
	nng_socket_set_size(c->c_sock, NNG_OPT_RECVMAXSZ, WIRE_MAX);
	nng_socket_set_ms(c->c_sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(c->c_sock, NNG_OPT_RECONNMAXT, 2000);
	if ((rv = nng_dialer_create(&c->c_dialer, c->c_sock, o->url)) != 0) {
		nng_close(c->c_sock);
		free(c->c_token);
		free(c->c_url);
		free(c);
		return (fail(st,
		    rv == NNG_ENOTSUP ? SVCFLEET_INVALID_ARGUMENT
		                      : code_from_nng(rv),
		    "invalid server URL \"%s\": %s", o->url,
		    nng_strerror(rv)));
	}
	nng_dialer_set_size(c->c_dialer, NNG_OPT_RECVMAXSZ, WIRE_MAX);
	if (strncmp(o->url, "tls+tcp://", 10) == 0
	    && (rv = setup_tls(c, o, st)) != 0) {
		svcfleet_close(c);
		return (rv);
	}
	rv = nng_dialer_start(
	    c->c_dialer, o->connect_now ? 0 : NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		int code = code_from_nng(rv);
		svcfleet_close(c);
		return (fail(st,
		    code == SVCFLEET_INTERNAL ? SVCFLEET_UNAVAILABLE : code,
		    "cannot connect to %s: %s", o->url, nng_strerror(rv)));
	}
	*out = c;
	return (0);
}

static void
slot_free(call_slot *sl)
{
	nng_aio_free(sl->s_aio);
	nng_ctx_close(sl->s_ctx);
	free(sl);
}

void
svcfleet_close(svcfleet_client *c)
{
	if (c == NULL) {
		return;
	}
	while (c->c_idle != NULL) {
		call_slot *sl = c->c_idle;
		c->c_idle     = sl->s_next;
		slot_free(sl);
	}
	nng_close(c->c_sock);
	pthread_mutex_destroy(&c->c_mtx);
	free(c->c_token);
	free(c->c_url);
	free(c);
}

// slot_get takes an idle context or opens one; returns 0 or nng's error.
static int
slot_get(svcfleet_client *c, call_slot **out)
{
	call_slot *sl;
	int        rv;

	pthread_mutex_lock(&c->c_mtx);
	if ((sl = c->c_idle) != NULL) {
		c->c_idle = sl->s_next;
		c->c_nidle--;
	}
	pthread_mutex_unlock(&c->c_mtx);
	if (sl != NULL) {
		*out = sl;
		return (0);
	}
	if ((sl = calloc(1, sizeof(*sl))) == NULL) {
		return (NNG_ENOMEM);
	}
	if ((rv = nng_ctx_open(&sl->s_ctx, c->c_sock)) != 0) {
		free(sl);
		return (rv);
	}
	// Never resend: a write must not be applied twice.
	nng_ctx_set_ms(
	    sl->s_ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if ((rv = nng_aio_alloc(&sl->s_aio, NULL, NULL)) != 0) {
		nng_ctx_close(sl->s_ctx);
		free(sl);
		return (rv);
	}
	*out = sl;
	return (0);
}

// slot_put keeps a context whose call ended cleanly (a reply was
// received) for the next call; after a failure it is closed, as its REQ
// state may be anything.
static void
slot_put(svcfleet_client *c, call_slot *sl, bool clean)
{
	if (clean) {
		pthread_mutex_lock(&c->c_mtx);
		if (c->c_nidle < IDLE_SLOTS_MAX) {
			sl->s_next = c->c_idle;
			c->c_idle  = sl;
			c->c_nidle++;
			sl = NULL;
		}
		pthread_mutex_unlock(&c->c_mtx);
	}
	if (sl != NULL) {
		slot_free(sl);
	}
}

void
svcfleet_free(void *reply)
{
	if (reply != NULL) {
		protobuf_c_message_free_unpacked(reply, NULL);
	}
}

// Copies the reply envelope's status into st.
static int
take_status(svcfleet_status *st, const Svcfleet__V1__ReplyEnvelope *env)
{
	if (st == NULL) {
		return (env->code);
	}
	st->code = env->code;
	snprintf(st->message, sizeof(st->message), "%s",
	    env->message != NULL ? env->message : "");
	if (env->n_violations > 0) {
		st->violations
		    = calloc(env->n_violations, sizeof(*st->violations));
		if (st->violations != NULL) {
			for (size_t i = 0; i < env->n_violations; i++) {
				const Svcfleet__V1__FieldViolation *v
				    = env->violations[i];
				st->violations[i].field  = strdup(v->field);
				st->violations[i].reason = strdup(v->reason);
				st->violations[i].type   = strdup(v->type);
			}
			st->n_violations = env->n_violations;
		}
	}
	return (env->code);
}

int
svcfleet_call(svcfleet_client *c, const char *method,
    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
    ProtobufCMessage **reply, uint32_t timeout_ms, svcfleet_status *st)
{
	Svcfleet__V1__RequestEnvelope env
	    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	Svcfleet__V1__ReplyEnvelope *rep;
	char                         rid[33];
	call_slot                   *sl;
	nng_aio                     *aio;
	nng_msg                     *msg;
	size_t                       plen, n;
	int                          rv;

	*reply = NULL;
	if (st != NULL) {
		status_clear(st);
	}
	if (timeout_ms == 0) {
		timeout_ms = c->c_timeout_ms;
	}
	svcfleet_new_request_id(rid);
	if (st != NULL) {
		snprintf(st->request_id, sizeof(st->request_id), "%s", rid);
	}
	plen             = protobuf_c_message_get_packed_size(req);
	env.method       = (char *) method;
	env.request_id   = rid;
	env.token        = c->c_token;
	env.timeout_ms   = timeout_ms;
	env.payload.len  = plen;
	env.payload.data = malloc(plen ? plen : 1);
	if (env.payload.data == NULL) {
		return (
		    fail(st, SVCFLEET_RESOURCE_EXHAUSTED, "out of memory"));
	}
	protobuf_c_message_pack(req, env.payload.data);
	n = svcfleet__v1__request_envelope__get_packed_size(&env);
	if (n > WIRE_MAX) {
		free(env.payload.data);
		return (fail(st, SVCFLEET_RESOURCE_EXHAUSTED,
		    "request of %zu bytes exceeds the %u-byte message limit",
		    n, WIRE_MAX));
	}
	if ((rv = nng_msg_alloc(&msg, n)) != 0) {
		free(env.payload.data);
		return (
		    fail(st, SVCFLEET_RESOURCE_EXHAUSTED, "out of memory"));
	}
	svcfleet__v1__request_envelope__pack(&env, nng_msg_body(msg));
	free(env.payload.data);

	if ((rv = slot_get(c, &sl)) != 0) {
		nng_msg_free(msg);
		return (fail(st, code_from_nng(rv), "%s", nng_strerror(rv)));
	}
	aio = sl->s_aio;
	nng_aio_set_timeout(aio, (nng_duration) timeout_ms);
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(sl->s_ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio));
		slot_put(c, sl, false);
		if (rv == NNG_ETIMEDOUT) {
			return (fail(st, SVCFLEET_DEADLINE_EXCEEDED,
			    "could not send to %s within %u ms (is svcfleetd "
			    "running?)",
			    c->c_url, timeout_ms));
		}
		return (fail(st, code_from_nng(rv), "sending to %s failed: %s",
		    c->c_url, nng_strerror(rv)));
	}
	nng_ctx_recv(sl->s_ctx, aio);
	nng_aio_wait(aio);
	rv  = nng_aio_result(aio);
	msg = rv == 0 ? nng_aio_get_msg(aio) : NULL;
	nng_aio_set_msg(aio, NULL);
	slot_put(c, sl, rv == 0);
	if (rv == NNG_ETIMEDOUT) {
		return (fail(st, SVCFLEET_DEADLINE_EXCEEDED,
		    "no reply from %s within %u ms", c->c_url, timeout_ms));
	}
	if (rv != 0) {
		return (fail(st, code_from_nng(rv), "call to %s failed: %s",
		    c->c_url, nng_strerror(rv)));
	}
	rep = svcfleet__v1__reply_envelope__unpack(
	    NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	if (rep == NULL) {
		return (fail(st, SVCFLEET_INTERNAL,
		    "undecodable reply envelope from %s", c->c_url));
	}
	if (take_status(st, rep) != 0) {
		rv = rep->code;
		svcfleet__v1__reply_envelope__free_unpacked(rep, NULL);
		return (rv);
	}
	*reply = protobuf_c_message_unpack(
	    reply_desc, NULL, rep->payload.len, rep->payload.data);
	svcfleet__v1__reply_envelope__free_unpacked(rep, NULL);
	if (*reply == NULL) {
		return (fail(st, SVCFLEET_INTERNAL,
		    "undecodable %s in the reply", reply_desc->name));
	}
	return (0);
}

#define SVCFLEET_DEFINE_CALL(svc, Method, snake, Req, Rep, rdesc)             \
	int svcfleet_##snake(svcfleet_client *c, const Req *req, Rep **reply, \
	    svcfleet_status *st)                                              \
	{                                                                     \
		return (svcfleet_call(c, "/svcfleet.v1." #svc "/" #Method,    \
		    &req->base, &rdesc, (ProtobufCMessage **) reply, 0, st)); \
	}
SVCFLEET_METHODS(SVCFLEET_DEFINE_CALL)
#undef SVCFLEET_DEFINE_CALL

int
svcfleet_watch_services_wait(svcfleet_client *c,
    const Svcfleet__V1__WatchServicesRequest *req,
    Svcfleet__V1__WatchServicesReply **reply, svcfleet_status *st)
{
	uint32_t t = req->wait_ms + 5000;
	if (t < c->c_timeout_ms) {
		t = c->c_timeout_ms;
	}
	return (svcfleet_call(c, "/svcfleet.v1.ServiceManager/WatchServices",
	    &req->base, &svcfleet__v1__watch_services_reply__descriptor,
	    (ProtobufCMessage **) reply, t, st));
}
