// client.c: libsvcfleet — envelopes over an nng REQ socket.
//
// One REQ socket per handle; every call runs on a context of its own, so
// calls from many threads proceed in parallel over the same connection.
// Contexts (with their aio) are kept for the next call once a call has
// ended cleanly, rather than opened and closed for each call. nng's
// automatic resend is turned off (a slow write must never be sent twice);
// each request carries a fresh request id, which the server uses to
// deduplicate writes that a caller retries itself.
//
// Calls in progress are kept on a list, so that svcfleet_shutdown and
// svcfleet_close can cancel them and wait until none is left before the
// socket is closed: nng (1.5) panics when a context is closed after its
// socket.
//
// It is one file of about 1,000 lines because it is the whole installed
// library: libsvcfleet's objects are built from it alone and its private
// handle, call list and failover state are seen by nothing else (the
// typed calls are one line, generated from the method X-macro).
#include <errno.h>
#include <stdarg.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "nng_status.h"
#include "status.h"
#include "str.h"
#include "svcfleet/svcfleet.h"

// The public enum repeats svcfleet's status list for programs that do not
// have common/status.h; the build fails here when a value drifts.
#define CHECK_CODE(name, num, msg)                                     \
	_Static_assert(SVCFLEET_##name == (num) && SF_##name == (num), \
	    "enum svcfleet_code differs from SF_STATUS_MAP at " #name);
SF_STATUS_MAP(CHECK_CODE)
#undef CHECK_CODE

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
	call_slot *s_next, *s_prev; // c_idle (s_next only) or c_busy
	nng_ctx    s_ctx;
	nng_aio   *s_aio;
};

// Where a handle is in its life: calls are made only while it is open.
enum client_state { OPEN, SHUT_DOWN, CLOSING };

struct svcfleet_client {
	nng_socket        c_sock;
	nng_dialer        c_dialer;
	char             *c_token;
	uint32_t          c_timeout_ms;
	char             *c_url;
	pthread_mutex_t   c_mtx; // the fields below
	pthread_cond_t    c_cv;  // signalled when a call ends
	enum client_state c_state;
	call_slot        *c_idle;
	size_t            c_nidle;
	call_slot        *c_busy;  // calls in progress, with their slot
	size_t            c_nbusy; // and those still getting one
	// Several servers (issue 15): a handle opened with a comma list
	// has one sub-handle per URL and no socket of its own; a call goes
	// to the server that answered last and moves on when it fails with
	// UNAVAILABLE. Sub-handles count their connections (c_pipes) and
	// end their calls at once when the connection drops (c_failfast).
	svcfleet_client **c_subs;
	size_t            c_nsubs;
	atomic_size_t     c_cur;
	atomic_int        c_pipes;
	bool              c_failfast;
};

static const char *const code_names[] = {
#define CODE_NAME(name, num, msg) [num] = #name,
    SF_STATUS_MAP(CODE_NAME)
#undef CODE_NAME
};

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
		return (fail(st, sf_status_from_nng(rv),
		    "TLS is not available: %s", nng_strerror(rv)));
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
		return (fail(st, sf_status_from_nng(rv),
		    "TLS set-up failed: %s", nng_strerror(rv)));
	}
	return (0);
}

// Frees what svcfleet_open allocated besides the socket.
static void
client_free(svcfleet_client *c)
{
	pthread_cond_destroy(&c->c_cv);
	pthread_mutex_destroy(&c->c_mtx);
	free(c->c_token);
	free(c->c_url);
	free(c);
}

// Counts a handle's connections; when one drops, a sub-handle of a
// several-server handle ends its calls in progress at once (they fail
// UNAVAILABLE and go to the next server) instead of waiting for a server
// that may never come back.
static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	svcfleet_client *c = arg;
	(void) p;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_fetch_add(&c->c_pipes, 1);
		return;
	}
	atomic_fetch_sub(&c->c_pipes, 1);
	pthread_mutex_lock(&c->c_mtx);
	if (c->c_failfast && c->c_state == OPEN) {
		for (call_slot *sl = c->c_busy; sl != NULL; sl = sl->s_next) {
			nng_aio_cancel(sl->s_aio);
		}
	}
	pthread_mutex_unlock(&c->c_mtx);
}

static int open_multi(
    svcfleet_client **out, const svcfleet_options *o, svcfleet_status *st);

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
	if (strchr(o->url, ',') != NULL) {
		return (open_multi(out, o, st));
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		return (
		    fail(st, SVCFLEET_RESOURCE_EXHAUSTED, "out of memory"));
	}
	pthread_mutex_init(&c->c_mtx, NULL);
	pthread_cond_init(&c->c_cv, NULL);
	c->c_timeout_ms = o->timeout_ms ? o->timeout_ms : TIMEOUT_DEFAULT_MS;
	c->c_token      = strdup(sf_nz(o->token));
	c->c_url        = strdup(o->url);
	if (c->c_token == NULL || c->c_url == NULL) {
		client_free(c);
		return (
		    fail(st, SVCFLEET_RESOURCE_EXHAUSTED, "out of memory"));
	}
	if ((rv = nng_req0_open(&c->c_sock)) != 0) {
		client_free(c);
		return (fail(st, sf_status_from_nng(rv),
		    "cannot open a socket: %s", nng_strerror(rv)));
	}
	nng_socket_set_size(c->c_sock, NNG_OPT_RECVMAXSZ, WIRE_MAX);
	nng_socket_set_ms(c->c_sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(c->c_sock, NNG_OPT_RECONNMAXT, 2000);
	if ((rv = nng_dialer_create(&c->c_dialer, c->c_sock, o->url)) != 0) {
		nng_close(c->c_sock);
		client_free(c);
		return (fail(st, sf_status_from_nng(rv),
		    "invalid server URL \"%s\": %s", o->url,
		    nng_strerror(rv)));
	}
	nng_dialer_set_size(c->c_dialer, NNG_OPT_RECVMAXSZ, WIRE_MAX);
	if (strncmp(o->url, "tls+tcp://", 10) == 0
	    && (rv = setup_tls(c, o, st)) != 0) {
		svcfleet_close(c);
		return (rv);
	}
	nng_pipe_notify(c->c_sock, NNG_PIPE_EV_ADD_POST, pipe_cb, c);
	nng_pipe_notify(c->c_sock, NNG_PIPE_EV_REM_POST, pipe_cb, c);
	rv = nng_dialer_start(
	    c->c_dialer, o->connect_now ? 0 : NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		// Whatever keeps a dial from succeeding (a name that resolves
		// to nothing, too) means no server there.
		int code = sf_status_from_nng(rv);
		svcfleet_close(c);
		return (fail(st,
		    code == SVCFLEET_INTERNAL || rv == NNG_EADDRINVAL
		        ? SVCFLEET_UNAVAILABLE
		        : code,
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

// Ends the handle's use: later calls fail at once, calls in progress are
// cancelled, and once none is left (each removes itself from c_busy and
// signals) the contexts and then the socket are closed. A call that took
// its slot but had not yet started its aio when it was cancelled is caught
// by the next round, 20 ms later.
static void
client_stop(svcfleet_client *c, enum client_state why)
{
	struct timespec ts;

	pthread_mutex_lock(&c->c_mtx);
	if (c->c_state != OPEN) {
		c->c_state = why > c->c_state ? why : c->c_state;
		pthread_mutex_unlock(&c->c_mtx);
		return;
	}
	c->c_state = why;
	while (c->c_nbusy > 0) {
		for (call_slot *sl = c->c_busy; sl != NULL; sl = sl->s_next) {
			nng_aio_cancel(sl->s_aio);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&c->c_cv, &c->c_mtx, &ts);
	}
	while (c->c_idle != NULL) {
		call_slot *sl = c->c_idle;
		c->c_idle     = sl->s_next;
		slot_free(sl);
	}
	c->c_nidle = 0;
	pthread_mutex_unlock(&c->c_mtx);
	nng_close(c->c_sock);
}

void
svcfleet_shutdown(svcfleet_client *c)
{
	if (c == NULL) {
		return;
	}
	if (c->c_nsubs > 0) {
		pthread_mutex_lock(&c->c_mtx);
		c->c_state = c->c_state == OPEN ? SHUT_DOWN : c->c_state;
		pthread_mutex_unlock(&c->c_mtx);
		for (size_t i = 0; i < c->c_nsubs; i++) {
			svcfleet_shutdown(c->c_subs[i]);
		}
		return;
	}
	client_stop(c, SHUT_DOWN);
}

void
svcfleet_close(svcfleet_client *c)
{
	if (c == NULL) {
		return;
	}
	if (c->c_nsubs > 0 || c->c_subs != NULL) {
		pthread_mutex_lock(&c->c_mtx);
		c->c_state = CLOSING;
		pthread_mutex_unlock(&c->c_mtx);
		for (size_t i = 0; i < c->c_nsubs; i++) {
			svcfleet_close(c->c_subs[i]);
		}
		free(c->c_subs);
		client_free(c);
		return;
	}
	client_stop(c, CLOSING);
	client_free(c);
}

// What a call that fails because of the handle's state returns.
static int
stopped(svcfleet_client *c, enum client_state state, svcfleet_status *st)
{
	if (state == SHUT_DOWN) {
		return (fail(st, SVCFLEET_UNAVAILABLE,
		    "the client of %s is shut down", c->c_url));
	}
	return (fail(
	    st, SVCFLEET_CANCELLED, "the client of %s was closed", c->c_url));
}

// slot_get takes an idle context or opens one, and counts the call as in
// progress (the handle's state says whether it may start). Returns 0, -1
// when the handle is no longer open, or nng's error.
static int
slot_get(svcfleet_client *c, call_slot **out)
{
	call_slot *sl;
	int        rv;

	pthread_mutex_lock(&c->c_mtx);
	if (c->c_state != OPEN) {
		pthread_mutex_unlock(&c->c_mtx);
		return (-1);
	}
	if ((sl = c->c_idle) != NULL) {
		c->c_idle = sl->s_next;
		c->c_nidle--;
	}
	c->c_nbusy++;
	pthread_mutex_unlock(&c->c_mtx);
	if (sl == NULL && (sl = calloc(1, sizeof(*sl))) == NULL) {
		rv = NNG_ENOMEM;
	} else if (sl->s_aio != NULL) {
		rv = 0;
	} else if ((rv = nng_ctx_open(&sl->s_ctx, c->c_sock)) == 0) {
		// Never resend: a write must not be applied twice.
		nng_ctx_set_ms(
		    sl->s_ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
		if ((rv = nng_aio_alloc(&sl->s_aio, NULL, NULL)) != 0) {
			nng_ctx_close(sl->s_ctx);
		}
	}
	pthread_mutex_lock(&c->c_mtx);
	if (rv != 0) {
		free(sl);
		c->c_nbusy--;
		pthread_cond_broadcast(&c->c_cv);
	} else {
		sl->s_prev = NULL;
		sl->s_next = c->c_busy;
		if (c->c_busy != NULL) {
			c->c_busy->s_prev = sl;
		}
		c->c_busy = sl;
		*out      = sl;
	}
	pthread_mutex_unlock(&c->c_mtx);
	return (rv);
}

// slot_put ends a call: it keeps a context whose call ended cleanly (a
// reply was received) for the next call; after a failure the context is
// closed, as its REQ state may be anything. Returns the handle's state,
// which decides what a failed call reports.
static enum client_state
slot_put(svcfleet_client *c, call_slot *sl, bool clean)
{
	enum client_state state;

	pthread_mutex_lock(&c->c_mtx);
	if (sl->s_prev != NULL) {
		sl->s_prev->s_next = sl->s_next;
	} else {
		c->c_busy = sl->s_next;
	}
	if (sl->s_next != NULL) {
		sl->s_next->s_prev = sl->s_prev;
	}
	state = c->c_state;
	if (clean && state == OPEN && c->c_nidle < IDLE_SLOTS_MAX) {
		sl->s_next = c->c_idle;
		c->c_idle  = sl;
		c->c_nidle++;
		sl = NULL;
	}
	if (sl != NULL) {
		// Closed before the call is counted out, so the socket is
		// closed only after every context.
		slot_free(sl);
	}
	c->c_nbusy--;
	pthread_cond_broadcast(&c->c_cv);
	pthread_mutex_unlock(&c->c_mtx);
	return (state);
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
	snprintf(st->message, sizeof(st->message), "%s", sf_nz(env->message));
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

// A request id the caller names goes on the wire and into the logs: it
// must be short and plain.
static bool
request_id_ok(const char *id)
{
	size_t n = 0;
	for (; id[n] != '\0'; n++) {
		unsigned char ch = (unsigned char) id[n];
		if (n >= SVCFLEET_REQUEST_ID_MAX || ch <= 0x20 || ch >= 0x7f) {
			return (false);
		}
	}
	return (true);
}

// Packs the request envelope into a new message. Returns 0 or a status.
static int
pack_request(const char *method, const ProtobufCMessage *req,
    const char *token, const char *rid, uint32_t timeout_ms, nng_msg **out,
    svcfleet_status *st)
{
	Svcfleet__V1__RequestEnvelope env
	    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	size_t plen = protobuf_c_message_get_packed_size(req), n;

	env.method       = (char *) method;
	env.request_id   = (char *) rid;
	env.token        = (char *) token;
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
	if (nng_msg_alloc(out, n) != 0) {
		free(env.payload.data);
		return (
		    fail(st, SVCFLEET_RESOURCE_EXHAUSTED, "out of memory"));
	}
	svcfleet__v1__request_envelope__pack(&env, nng_msg_body(*out));
	free(env.payload.data);
	return (0);
}

// call_one makes a call on one server. send_ms > 0 bounds the wait for a
// connection to send on; *sent (may be NULL) tells whether the request
// went out; *reset (may be NULL) whether the connection was reset while
// the call waited for its reply.
static int
call_one(svcfleet_client *c, const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply,
    const svcfleet_call_opts *o, svcfleet_status *st, uint32_t send_ms,
    bool *sent, bool *reset)
{
	static const svcfleet_call_opts defaults;
	Svcfleet__V1__ReplyEnvelope    *rep;
	char                            fresh[33];
	const char                     *rid, *token;
	uint32_t                        timeout_ms;
	call_slot                      *sl;
	nng_aio                        *aio;
	nng_msg                        *msg;
	enum client_state               state;
	int                             rv;

	*reply = NULL;
	if (st != NULL) {
		status_clear(st);
	}
	if (o == NULL) {
		o = &defaults;
	}
	timeout_ms = o->timeout_ms != 0 ? o->timeout_ms : c->c_timeout_ms;
	token      = o->token != NULL ? o->token : c->c_token;
	rid        = o->request_id;
	if (rid == NULL || rid[0] == '\0') {
		svcfleet_new_request_id(fresh);
		rid = fresh;
	} else if (!request_id_ok(rid)) {
		return (fail(st, SVCFLEET_INVALID_ARGUMENT,
		    "a request id is 1 to %d printable characters without "
		    "spaces",
		    SVCFLEET_REQUEST_ID_MAX));
	}
	if (st != NULL) {
		snprintf(st->request_id, sizeof(st->request_id), "%s", rid);
	}
	if ((rv = pack_request(method, req, token, rid, timeout_ms, &msg, st))
	    != 0) {
		return (rv);
	}
	if ((rv = slot_get(c, &sl)) != 0) {
		nng_msg_free(msg);
		if (rv < 0) {
			pthread_mutex_lock(&c->c_mtx);
			state = c->c_state;
			pthread_mutex_unlock(&c->c_mtx);
			return (stopped(c, state, st));
		}
		return (
		    fail(st, sf_status_from_nng(rv), "%s", nng_strerror(rv)));
	}
	aio = sl->s_aio;
	nng_aio_set_timeout(aio,
	    (nng_duration) (send_ms > 0 ? send_ms : timeout_ms + o->grace_ms));
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(sl->s_ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) == 0) {
		if (sent != NULL) {
			*sent = true;
		}
		nng_aio_set_timeout(
		    aio, (nng_duration) (timeout_ms + o->grace_ms));
		nng_ctx_recv(sl->s_ctx, aio);
		nng_aio_wait(aio);
		rv  = nng_aio_result(aio);
		msg = rv == 0 ? nng_aio_get_msg(aio) : NULL;
		nng_aio_set_msg(aio, NULL);
		if ((state = slot_put(c, sl, rv == 0)) != OPEN && rv != 0) {
			return (stopped(c, state, st));
		}
		if (rv == NNG_ETIMEDOUT) {
			return (fail(st, SVCFLEET_DEADLINE_EXCEEDED,
			    "no reply from %s within %u ms", c->c_url,
			    timeout_ms + o->grace_ms));
		}
		if (reset != NULL) {
			*reset = rv == NNG_ECONNRESET;
		}
		if (rv == NNG_ECANCELED && c->c_failfast) {
			return (fail(st, SVCFLEET_UNAVAILABLE,
			    "the connection to %s was lost during the call",
			    c->c_url));
		}
		if (rv != 0) {
			return (fail(st, sf_status_from_nng(rv),
			    "call to %s failed: %s", c->c_url,
			    nng_strerror(rv)));
		}
	} else {
		nng_msg_free(nng_aio_get_msg(aio));
		nng_aio_set_msg(aio, NULL);
		if ((state = slot_put(c, sl, false)) != OPEN) {
			return (stopped(c, state, st));
		}
		if (rv == NNG_ETIMEDOUT && send_ms > 0) {
			return (fail(st, SVCFLEET_UNAVAILABLE,
			    "not connected to %s (is svcfleetd running?)",
			    c->c_url));
		}
		if (rv == NNG_ETIMEDOUT) {
			return (fail(st, SVCFLEET_DEADLINE_EXCEEDED,
			    "could not send to %s within %u ms (is svcfleetd "
			    "running?)",
			    c->c_url, timeout_ms + o->grace_ms));
		}
		return (fail(st, sf_status_from_nng(rv),
		    "sending to %s failed: %s", c->c_url, nng_strerror(rv)));
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
	    reply_desc, o->allocator, rep->payload.len, rep->payload.data);
	svcfleet__v1__reply_envelope__free_unpacked(rep, NULL);
	if (*reply == NULL) {
		return (fail(st, SVCFLEET_INTERNAL,
		    "undecodable %s in the reply", reply_desc->name));
	}
	return (0);
}

// call_multi makes a call on a several-server handle: on the server that
// answered last (one with a connection first), moving to the next on
// UNAVAILABLE (a server shutting down or without its store, a connection
// lost, none made) with the same request id, so a write is applied once,
// until the deadline.
static int
call_multi(svcfleet_client *c, const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply,
    const svcfleet_call_opts *o, svcfleet_status *st)
{
	static const svcfleet_call_opts defaults;
	svcfleet_call_opts              oo;
	char                            fresh[33];
	struct timespec                 now;
	int64_t                         deadline;
	size_t                          n = c->c_nsubs, tries = 0;
	int                             rv = 0;

	if (o == NULL) {
		o = &defaults;
	}
	oo = *o;
	if (oo.request_id == NULL || oo.request_id[0] == '\0') {
		svcfleet_new_request_id(fresh);
		oo.request_id = fresh;
	}
	uint32_t t = o->timeout_ms != 0 ? o->timeout_ms : c->c_timeout_ms;
	clock_gettime(CLOCK_MONOTONIC, &now);
	deadline = (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000 + t;
	for (;;) {
		size_t start = atomic_load(&c->c_cur) % n, i = start;
		bool   sent = false;
		for (size_t k = 0; k < n; k++) {
			if (atomic_load(&c->c_subs[(start + k) % n]->c_pipes)
			    > 0) {
				i = (start + k) % n;
				break;
			}
		}
		bool connected = atomic_load(&c->c_subs[i]->c_pipes) > 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t left = deadline
		    - ((int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000);
		pthread_mutex_lock(&c->c_mtx);
		enum client_state state = c->c_state;
		pthread_mutex_unlock(&c->c_mtx);
		if (state != OPEN) {
			return (stopped(c, state, st));
		}
		if (left <= 0 && tries > 0) {
			return (st != NULL ? st->code : rv);
		}
		oo.timeout_ms = left > 0 ? (uint32_t) left : 1;
		rv = call_one(c->c_subs[i], method, req, reply_desc, reply,
		    &oo, st,
		    connected ? 0 : (uint32_t) (left < 500 ? left : 500),
		    &sent, NULL);
		tries++;
		if (rv != SVCFLEET_UNAVAILABLE) {
			if (rv == 0) {
				atomic_store(&c->c_cur, i);
			}
			return (rv);
		}
		atomic_store(&c->c_cur, (i + 1) % n);
		if (tries % n == 0 && connected) {
			// Every server said UNAVAILABLE: wait a little.
			struct timespec pause = {0, 100 * 1000 * 1000};
			nanosleep(&pause, NULL);
		}
	}
}

// May a call of method be sent again after its connection was reset,
// when it may have run already? Reads may; so may the writes svcfleetd
// deduplicates by request id (the retry carries the same id and gets the
// first answer). The reconciler's lease calls are not deduplicated: they
// are not retried here (the reconciler renews on its own schedule).
static bool
retry_safe(const char *method)
{
	static const char *const verbs[]
	    = {"Get", "List", "Watch", "WhoAmI", "Version", "Health",
	        "Addresses", "Create", "Update", "Apply", "Delete", "Revoke",
	        "Rollback", "Convert", "Report", "RegisterCluster"};
	const char *m = strrchr(method, '/');
	m             = m != NULL ? m + 1 : method;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strncmp(m, verbs[i], strlen(verbs[i])) == 0) {
			return (true);
		}
	}
	return (false);
}

static int64_t
mono_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000);
}

int
svcfleet_call_with(svcfleet_client *c, const char *method,
    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
    ProtobufCMessage **reply, const svcfleet_call_opts *o, svcfleet_status *st)
{
	static const svcfleet_call_opts defaults;
	svcfleet_call_opts              oo;
	char                            fresh[33];
	bool                            reset = false;
	int64_t                         start = mono_ms(), left;
	int                             rv;

	if (c->c_nsubs > 0) {
		return (call_multi(c, method, req, reply_desc, reply, o, st));
	}
	// One request id for the call and its retry, so that a write the
	// server already applied is answered, not applied again.
	oo = o != NULL ? *o : defaults;
	if (oo.request_id == NULL || oo.request_id[0] == '\0') {
		svcfleet_new_request_id(fresh);
		oo.request_id = fresh;
	}
	rv = call_one(
	    c, method, req, reply_desc, reply, &oo, st, 0, NULL, &reset);
	// A connection reset while waiting for the reply: svcfleetd's ipc
	// guard reopening a wedged listener (nng 1.5.2's bug, see
	// server/ipcguard.c) resets the connections it had. The dialer
	// reconnects by itself; an idempotent call is sent once more, within
	// what is left of its deadline.
	uint32_t t = oo.timeout_ms != 0 ? oo.timeout_ms : c->c_timeout_ms;
	left       = (int64_t) t - (mono_ms() - start);
	if (rv == SVCFLEET_UNAVAILABLE && reset && retry_safe(method)
	    && left > 0) {
		oo.timeout_ms = (uint32_t) left;
		rv            = call_one(
		               c, method, req, reply_desc, reply, &oo, st, 0, NULL, NULL);
	}
	return (rv);
}

// open_multi opens one sub-handle per URL of the comma list. With
// connect_now, at least one must connect (the others keep trying in the
// background); otherwise all connect in the background.
static int
open_multi(
    svcfleet_client **out, const svcfleet_options *o, svcfleet_status *st)
{
	svcfleet_client *c;
	char            *list = strdup(o->url), *save = NULL;
	size_t           connected = 0;
	int              rv        = 0;
	char             why[400]  = "";

	if (list == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
		free(list);
		return (
		    fail(st, SVCFLEET_RESOURCE_EXHAUSTED, "out of memory"));
	}
	pthread_mutex_init(&c->c_mtx, NULL);
	pthread_cond_init(&c->c_cv, NULL);
	c->c_timeout_ms = o->timeout_ms ? o->timeout_ms : TIMEOUT_DEFAULT_MS;
	c->c_token      = strdup(sf_nz(o->token));
	c->c_url        = strdup(o->url);
	c->c_subs       = calloc(SVCFLEET_SERVERS_MAX, sizeof(*c->c_subs));
	if (c->c_token == NULL || c->c_url == NULL || c->c_subs == NULL) {
		free(list);
		svcfleet_close(c);
		return (
		    fail(st, SVCFLEET_RESOURCE_EXHAUSTED, "out of memory"));
	}
	for (char *u = strtok_r(list, ",", &save); u != NULL;
	     u       = strtok_r(NULL, ",", &save)) {
		svcfleet_options so = *o;
		svcfleet_client *sub;
		while (*u == ' ') {
			u++;
		}
		if (*u == '\0') {
			continue;
		}
		if (c->c_nsubs == SVCFLEET_SERVERS_MAX) {
			rv = fail(st, SVCFLEET_INVALID_ARGUMENT,
			    "more than %d server URLs", SVCFLEET_SERVERS_MAX);
			break;
		}
		so.url = u;
		if ((rv = svcfleet_open(&sub, &so, st)) == SVCFLEET_UNAVAILABLE
		    && o->connect_now) {
			snprintf(why, sizeof(why), "%.300s",
			    st != NULL ? st->message : "unreachable");
			so.connect_now = false;
			rv             = svcfleet_open(&sub, &so, st);
		} else if (rv == 0 && o->connect_now) {
			connected++;
		}
		if (rv != 0) {
			break;
		}
		sub->c_failfast         = true;
		c->c_subs[c->c_nsubs++] = sub;
	}
	free(list);
	if (rv == 0 && c->c_nsubs == 0) {
		rv = fail(
		    st, SVCFLEET_INVALID_ARGUMENT, "no server URL given");
	}
	if (rv == 0 && o->connect_now && connected == 0) {
		rv = fail(st, SVCFLEET_UNAVAILABLE,
		    "cannot connect to any of %s (last: %s)", o->url, why);
	}
	if (rv != 0) {
		svcfleet_close(c);
		return (rv);
	}
	if (st != NULL) {
		status_clear(st);
	}
	*out = c;
	return (0);
}

int
svcfleet_call(svcfleet_client *c, const char *method,
    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
    ProtobufCMessage **reply, uint32_t timeout_ms, svcfleet_status *st)
{
	svcfleet_call_opts o = {.timeout_ms = timeout_ms};
	return (svcfleet_call_with(c, method, req, reply_desc, reply, &o, st));
}

#define SVCFLEET_DEFINE_CALL(svc, Method, snake, Req, Rep, rdesc)             \
	int svcfleet_##snake##_with(svcfleet_client *c, const Req *req,       \
	    Rep **reply, const svcfleet_call_opts *o, svcfleet_status *st)    \
	{                                                                     \
		return (svcfleet_call_with(c,                                 \
		    "/svcfleet.v1." #svc "/" #Method, &req->base, &rdesc,     \
		    (ProtobufCMessage **) reply, o, st));                     \
	}                                                                     \
	int svcfleet_##snake(svcfleet_client *c, const Req *req, Rep **reply, \
	    svcfleet_status *st)                                              \
	{                                                                     \
		return (svcfleet_##snake##_with(c, req, reply, NULL, st));    \
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
