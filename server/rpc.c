// rpc.c: the RPC engine — nng REP contexts, the worker pool, envelopes,
// generic admission (size, method, deadline, dedupe) and replies.
//
// A context cycles RECV -> WORK -> SEND -> RECV. nng's callbacks never block:
// a received request is decoded on nng's callback thread; methods whose
// work is short and never blocks (SF__SRV_M_INLINE) are served right there,
// the others are queued for a worker thread. A request over 16 KiB goes,
// undecoded, to the bulk sorter, which authenticates it and queues it in
// its user's lane for the bulk thread (the reconciler's it serves at
// once). Handlers that write hand their work to the store's writer
// thread, and whichever thread finishes the call packs the reply and
// starts an asynchronous send.
//
// It is one file of about 1,200 lines because it is one life cycle, the
// context's: receiving, admitting, queueing, the call helpers handlers use
// and the reply all touch the same rpc_ctx and its state, which no other
// file may see.

#include "internal.h"

#include <nng/supplemental/util/platform.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "str.h"

enum { CTX_IDLE, CTX_RECV, CTX_WORK, CTX_SEND };

struct rpc_ctx {
	sf_server   *rc_srv;
	nng_ctx      rc_ctx;
	nng_aio     *rc_aio;
	int          rc_state;
	nng_msg     *rc_msg; // the request while it waits for a worker
	rpc_ctx     *rc_next;
	size_t       rc_cost; // i17-turns: its bytes, for the bulk lanes
	sf__srv_call rc_call;
};

// ------------------------------------------------------------- replies

void (*_Atomic sf__srv_reply_hook)(const char *method);

// send_reply hands the reply to nng. The call leaves s_inflight before the
// send (the caller's next request, which may arrive before this thread
// returns from nng_ctx_send, is admitted against --max-inflight) and is
// counted in s_sending until nng has the reply: a stop's drain waits for
// both before it closes the contexts. A reply sent from the store's writer
// thread (which outlives the contexts) used to reach a context a stop
// that came between the count and the send had freed (nng panicked on its
// destroyed mutex, seen once under load).
static void
send_reply(sf__srv_call *c, nng_msg *m)
{
	rpc_ctx   *rc  = c->c_ctx;
	sf_server *srv = c->c_srv; // c is reused once the send completes
	void (*hook)(const char *) = sf__srv_reply_hook;

	atomic_fetch_add(&srv->s_sending, 1); // before leaving s_inflight
	atomic_fetch_sub(&srv->s_inflight, 1);
	if (hook != NULL) {
		hook(c->c_method != NULL ? c->c_method->m_path : "");
	}
	nng_aio_set_msg(rc->rc_aio, m);
	rc->rc_state = CTX_SEND;
	nng_ctx_send(rc->rc_ctx, rc->rc_aio);
	atomic_fetch_sub(&srv->s_sending, 1);
}

// Packs the reply envelope for c into a new nng message. Returns NULL only
// when out of memory.
static nng_msg *
pack_reply(sf__srv_call *c, const ProtobufCMessage *reply)
{
	Svcfleet__V1__ReplyEnvelope env = SVCFLEET__V1__REPLY_ENVELOPE__INIT;
	sf_status                  *st  = &c->c_status;
	nng_msg                    *m;

	env.code       = st->st_code;
	env.message    = st->st_code != 0 ? st->st_msg : "";
	env.request_id = c->c_request_id;
	// i15-perf: for a write at least its commit (the newest commit of
	// this replica, made before the reply), so the caller's next read
	// through any replica asks for data at least that new; for a read
	// what it saw, at most what this replica's view has reached (a
	// revision every replica's view reaches).
	if (c->c_revision != 0) {
		uint64_t reached
		    = sf_store_revision_reached(c->c_srv->s_store);
		env.revision
		    = c->c_revision < reached ? c->c_revision : reached;
	} else {
		env.revision = sf_store_revision_seen(c->c_srv->s_store);
		if (c->c_rev_floor > env.revision) {
			env.revision = c->c_rev_floor; // a rebuilt answer
		}
	}
	if (st->st_code == 0 && reply != NULL) {
		size_t   n   = protobuf_c_message_get_packed_size(reply);
		uint8_t *buf = sf_arena_alloc(&c->c_arena, n);
		if (buf == NULL) {
			return (NULL);
		}
		protobuf_c_message_pack(reply, buf);
		env.payload.data = buf;
		env.payload.len  = n;
	}
	if (st->st_nviol > 0) {
		// The violations kept, then one that says how many more there
		// were (issue 17: an answer's size does not grow with them).
		size_t                         nv = st->st_nviol + 1;
		Svcfleet__V1__FieldViolation **vv
		    = sf_arena_alloc(&c->c_arena, nv * sizeof(*vv));
		Svcfleet__V1__FieldViolation *v
		    = sf_arena_alloc(&c->c_arena, nv * sizeof(*v));
		if (vv == NULL || v == NULL) {
			return (NULL);
		}
		for (size_t i = 0; i < st->st_nviol; i++) {
			svcfleet__v1__field_violation__init(&v[i]);
			v[i].field  = st->st_viol[i].v_field;
			v[i].reason = st->st_viol[i].v_reason;
			v[i].type   = (char *) st->st_viol[i].v_type;
			vv[i]       = &v[i];
		}
		env.violations   = vv;
		env.n_violations = st->st_nviol;
		if (st->st_more > 0) {
			Svcfleet__V1__FieldViolation *more = &v[st->st_nviol];
			svcfleet__v1__field_violation__init(more);
			more->field  = "";
			more->type   = SF_V_TOO_MANY;
			more->reason = sf_arena_printf(&c->c_arena,
			    "%zu more violations not shown (the first %d are)",
			    st->st_more, SF_STATUS_VIOL_MAX);
			if (more->reason == NULL) {
				return (NULL);
			}
			vv[env.n_violations++] = more;
		}
	}
	size_t n = svcfleet__v1__reply_envelope__get_packed_size(&env);
	if (nng_msg_alloc(&m, n) != 0) {
		return (NULL);
	}
	svcfleet__v1__reply_envelope__pack(&env, nng_msg_body(m));
	return (m);
}

// The closure every handler finishes through.
static void
rpc_closure(const ProtobufCMessage *reply, void *data)
{
	sf__srv_call *c = data;
	nng_msg      *m;

	// A write replayed through this replica answers as it first did.
	const ProtobufCMessage *rebuilt = NULL;
	if (c->c_req_found != NULL
	    && (m = sf__srv_req_reply(c, &rebuilt)) != NULL) {
		if (c->c_dedupe) {
			sf__srv_dedupe_end(c->c_srv->s_dedupe, c->c_dedupe_key,
			    nng_msg_body(m), nng_msg_len(m));
		}
		send_reply(c, m);
		return;
	}
	if (rebuilt != NULL) {
		reply = rebuilt;
	}

	if (reply == NULL && c->c_status.st_code == 0) {
		sf_status_set(&c->c_status, SF_INTERNAL,
		    "the handler of %s returned no reply",
		    c->c_method ? c->c_method->m_path : "?");
	}
	if (c->c_method != NULL) {
		sf__srv_method *m2 = (sf__srv_method *) c->c_method;
		atomic_fetch_add(&m2->m_calls, 1);
		if (c->c_status.st_code != 0) {
			atomic_fetch_add(&m2->m_errors, 1);
		}
	}
	sf__srv_metrics_call_done(c);
	if ((m = pack_reply(c, reply)) == NULL) {
		sf_status_reset(&c->c_status);
		sf_status_set(&c->c_status, SF_RESOURCE_EXHAUSTED,
		    "out of memory building the reply");
		if ((m = pack_reply(c, NULL)) == NULL) {
			// Nothing can be sent; drop the request. The client
			// times out.
			sf_server *srv = c->c_srv;
			atomic_fetch_add(&srv->s_sending, 1);
			atomic_fetch_sub(&srv->s_inflight, 1);
			c->c_ctx->rc_state = CTX_SEND;
			nng_aio_set_msg(c->c_ctx->rc_aio, NULL);
			nng_aio_finish(c->c_ctx->rc_aio, NNG_ENOMEM);
			atomic_fetch_sub(&srv->s_sending, 1);
			return;
		}
	}
	if (c->c_dedupe) {
		// UNAVAILABLE is not remembered: a retry must run again.
		bool forget = c->c_status.st_code == SF_UNAVAILABLE;
		sf__srv_dedupe_end(c->c_srv->s_dedupe, c->c_dedupe_key,
		    forget ? NULL : nng_msg_body(m),
		    forget ? 0 : nng_msg_len(m));
	}
	if (c->c_status.st_code == 0) {
		sf__srv_req_store(c, m);
	}
	// This may run on the store's writer thread: the line carries the
	// call's request id whichever thread says it.
	if (sf_log_get_level() <= SF_LOG_DEBUG) {
		char        prev[64];
		const char *p = sf_log_request_id();
		snprintf(prev, sizeof(prev), "%s", p != NULL ? p : "");
		sf_log_set_request_id(c->c_request_id);
		SF_DEBUG("rpc", "%s -> %s in %.3f ms%s%s",
		    c->c_method ? c->c_method->m_path : "?",
		    sf_status_name(c->c_status.st_code),
		    (double) (sf_clock_mono_us() - c->c_start_us) / 1000.0,
		    c->c_status.st_code != 0 ? ": " : "",
		    c->c_status.st_code != 0 ? c->c_status.st_msg : "");
		sf_log_set_request_id(prev[0] ? prev : NULL);
	}
	send_reply(c, m);
}

uint64_t
sf__srv_call_min_revision(const sf__srv_call *c)
{
	return (c->c_env != NULL ? c->c_env->min_revision : 0);
}

void
sf__srv_call_finish(sf__srv_call *c, const ProtobufCMessage *reply)
{
	rpc_closure(reply, c);
}

void
sf__srv_call_fail(sf__srv_call *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sf_status_vset(&c->c_status, code, fmt, ap);
	va_end(ap);
	rpc_closure(NULL, c);
}

void
sf__srv_call_fail_status(sf__srv_call *c, const sf_status *st)
{
	if (st != &c->c_status) {
		sf_status_copy(&c->c_status, st);
	}
	if (c->c_status.st_code == 0) {
		sf_status_set(
		    &c->c_status, SF_INTERNAL, "failure without code");
	}
	rpc_closure(NULL, c);
}

void *
sf__srv_call_alloc(sf__srv_call *c, size_t n)
{
	void *p = sf_arena_zalloc(&c->c_arena, n);
	if (p == NULL) {
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
	}
	return (p);
}

void *
sf__srv_reply_new(sf__srv_call *c, const ProtobufCMessageDescriptor *desc)
{
	void *m = sf__srv_call_alloc(c, desc->sizeof_message);
	if (m != NULL) {
		protobuf_c_message_init(desc, m);
	}
	return (m);
}

void
sf__srv_write_done(sf__srv_call *c, int code, const ProtobufCMessage *reply)
{
	static const Svcfleet__V1__Empty empty = SVCFLEET__V1__EMPTY__INIT;

	if (code != 0) {
		// The write function's status when it set one (the first
		// failure wins), else what the store said.
		sf_status_set(&c->c_status, code, "%s", sf_status_str(code));
		sf__srv_call_finish(c, NULL);
		return;
	}
	sf__srv_call_finish(c, reply != NULL ? reply : &empty.base);
}

bool
sf__srv_call_expired(const sf__srv_call *c)
{
	return (sf_clock_mono_us() > c->c_deadline_us);
}

bool
sf__srv_call_allowed(const sf__srv_call *c, const char *resource,
    const char *verb, const char *cluster, const char *ns)
{
	return (sf_rbac_allowed(
	    &c->c_ident.id_p, resource, verb, cluster, ns, NULL));
}

// ------------------------------------------------------------------ audit

// The reconciler's reports: they say what a cluster did, not who changed
// what, so they would bury the writes people make.
static const char *const system_methods[] = {
    "/svcfleet.v1.ServiceManager/ReportStatus",
    "/svcfleet.v1.ServiceManager/ReportStatuses",
    "/svcfleet.v1.ClusterRegistry/ReportClusterHealth",
    NULL,
};

static bool
is_system_method(const char *m)
{
	for (size_t i = 0; m != NULL && system_methods[i] != NULL; i++) {
		if (strcmp(m, system_methods[i]) == 0) {
			return (true);
		}
	}
	return (false);
}

bool
sf__srv_audit_is_system(const Svcfleet__V1__AuditEvent *ev)
{
	return (is_system_method(ev->method));
}

// The audit record of a call, written in the same transaction as what it
// describes (or alone, for a failure or a denial). arg begins with the
// call pointer.
static int
call_audit(sf_store_txn *txn, void *arg, int code, const sf_status *st)
{
	sf__srv_call            *c  = *(sf__srv_call **) arg;
	Svcfleet__V1__AuditEvent ev = SVCFLEET__V1__AUDIT_EVENT__INIT;
	bool                     replay;
	int                      rv;

	if (c->c_revalidate) {
		return (
		    0); // validated again and submitted again: audited then
	}
	if ((rv = sf__srv_req_audit(txn, c, code, &replay)) != 0) {
		return (rv);
	}
	if (replay) {
		return (0); // the first application has the audit record
	}

	if (code == 0 && !c->c_srv->s_opts.so_audit_system_reports
	    && c->c_method != NULL && is_system_method(c->c_method->m_path)) {
		return (0); // counted in svcfleet_rpc_requests_total
	}

	ev.user
	    = (char *) (c->c_ident.id_user != NULL ? c->c_ident.id_user : "");
	ev.groups     = (char **) c->c_ident.id_groups;
	ev.n_groups   = c->c_ident.id_ngroups;
	ev.method     = (char *) (c->c_method != NULL ? c->c_method->m_path
	                                              : c->c_env->method);
	ev.cluster    = (char *) c->c_cluster;
	ev.namespace_ = (char *) c->c_namespace;
	ev.name       = (char *) c->c_name;
	ev.code       = code;
	ev.message    = (char *) (code != 0 && st != NULL ? st->st_msg : "");
	ev.request_id = c->c_request_id;
	if (c->c_drift != NULL && code == 0) {
		ev.drift_fields     = c->c_drift->fields;
		ev.n_drift_fields   = c->c_drift->n_fields;
		ev.drift_managers   = c->c_drift->managers;
		ev.n_drift_managers = c->c_drift->n_managers;
		ev.drift_operation  = c->c_drift->operation;
		ev.drift_action     = c->c_drift->action;
	}
	// A call that changed nothing (an update to what is stored) takes no
	// revision; the next one belongs to another write.
	ev.revision = code == 0 && sf_store_txn_wrote(txn)
	    ? sf_store_txn_revision(txn)
	    : 0;
	return (sf_store_txn_audit_append(txn, &ev));
}

void
sf__srv_call_write(sf__srv_call *c, sf_store_write_fn fn,
    sf_store_done_fn done, void *arg, bool dry_run)
{
	sf_store_write w = {
	    .w_fn     = dry_run ? fn : sf__srv_req_wrap(c, fn),
	    .w_audit  = call_audit,
	    .w_done   = done,
	    .w_arg    = arg,
	    .w_status = &c->c_status,
	    .w_flags  = (dry_run ? SF_STORE_DRY_RUN : 0)
	        | (c->c_write_concurrent ? SF_STORE_CONCURRENT : 0),
	    .w_alloc = sf_arena_pbc(&c->c_arena),
	};
	int rv = sf_store_submit(c->c_srv->s_store, &w);
	if (rv == SF_RESOURCE_EXHAUSTED) {
		sf__srv_call_fail(c, rv,
		    "too many writes are waiting for the store; retry later");
	} else if (rv != 0) {
		sf__srv_call_fail(c, SF_UNAVAILABLE, "the store is closing");
	}
}

// A denial travels through the writer so its audit record is durable
// before the caller hears the answer.
typedef struct deny_job {
	sf__srv_call *d_call; // first, for call_audit
	int           d_code;
	char         *d_msg;
} deny_job;

static int
deny_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	deny_job *d = arg;
	(void) txn;
	sf_status_reset(st);
	return (sf_status_set(st, d->d_code, "%s", d->d_msg));
}

static void
deny_done(void *arg, int code, uint64_t revision)
{
	deny_job *d = arg;
	(void) revision;
	if (d->d_call->c_status.st_code == 0) {
		sf_status_set(&d->d_call->c_status, code, "%s", d->d_msg);
	}
	sf__srv_call_finish(d->d_call, NULL);
}

void
sf__srv_call_deny(sf__srv_call *c)
{
	deny_job *d = sf_arena_zalloc(&c->c_arena, sizeof(*d));
	if (d == NULL
	    || (d->d_msg = sf_arena_strdup(&c->c_arena, c->c_status.st_msg))
	        == NULL) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	d->d_call = c;
	d->d_code = c->c_status.st_code;
	SF_INFO("auth", "denied: %s (%s)", c->c_status.st_msg,
	    c->c_env != NULL ? c->c_env->method : "?");
	sf__srv_call_write(c, deny_fn, deny_done, d, false);
}

// -------------------------------------------------------------- requests

// Copies a request id for logs and dedupe: printable ASCII only.
static void
copy_request_id(char *dst, size_t cap, const char *src)
{
	size_t n = 0;
	for (; src != NULL && *src != '\0' && n + 1 < cap; src++) {
		unsigned char ch = (unsigned char) *src;
		dst[n++]         = (ch > 0x20 && ch < 0x7f) ? (char) ch : '_';
	}
	dst[n] = '\0';
}

// Gives a request that came without an id one of the server's own, so its
// log lines and audit record can still be told apart.
static void
make_request_id(sf__srv_call *c)
{
	static atomic_uint_fast64_t seq;
	snprintf(c->c_request_id, sizeof(c->c_request_id), "srv-%llx-%llx",
	    (unsigned long long) c->c_start_us,
	    (unsigned long long) atomic_fetch_add(&seq, 1));
}

// process_head decodes the envelope of the request waiting in rc and
// finds its method. Returns true when the call goes on (process_tail),
// false when it has been answered already.
static bool
process_head(rpc_ctx *rc)
{
	sf_server          *srv = rc->rc_srv;
	sf__srv_call       *c   = &rc->rc_call;
	nng_msg            *msg = rc->rc_msg;
	size_t              len = nng_msg_len(msg);
	ProtobufCAllocator *alloc;

	rc->rc_msg       = NULL;
	c->c_start_us    = sf_clock_mono_us();
	c->c_deadline_us = c->c_start_us
	    + (int64_t) srv->s_opts.so_default_timeout_ms * 1000;
	alloc = sf_arena_pbc(&c->c_arena);

	c->c_peer = sf__srv_peer_key(
	    nng_msg_get_pipe(msg), c->c_peer_text, sizeof(c->c_peer_text));
	if (c->c_peer != 0) {
		sf__srv_limits_active(srv, nng_msg_get_pipe(msg));
	}
	if (len > srv->s_opts.so_max_msg) {
		nng_msg_free(msg);
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED,
		    "request of %zu bytes is larger than the limit of %zu "
		    "bytes",
		    len, srv->s_opts.so_max_msg);
		return (false);
	}
	c->c_env = svcfleet__v1__request_envelope__unpack(
	    alloc, len, nng_msg_body(msg));
	nng_msg_free(msg);
	if (c->c_env == NULL) {
		make_request_id(c);
		sf_log_set_request_id(c->c_request_id);
		sf__srv_call_fail(c, SF_INTERNAL,
		    "undecodable request envelope (%zu bytes)", len);
		return (false);
	}
	copy_request_id(
	    c->c_request_id, sizeof(c->c_request_id), c->c_env->request_id);
	// Only an id the client chose names a retry of the same write.
	c->c_client_id = c->c_request_id[0] != '\0';
	if (!c->c_client_id) {
		make_request_id(c);
	}
	// Every line logged while this request is served carries its id.
	sf_log_set_request_id(c->c_request_id);
	if (c->c_env->timeout_ms > 0) {
		c->c_deadline_us
		    = c->c_start_us + (int64_t) c->c_env->timeout_ms * 1000;
	}
	SF_DEBUG("rpc", "request %.200s bytes=%zu", c->c_env->method, len);
	c->c_method = sf__srv_methods_find(srv, c->c_env->method);
	if (c->c_method == NULL) {
		sf__srv_call_fail(c, SF_UNIMPLEMENTED,
		    "unknown method \"%.200s\"", c->c_env->method);
		return (false);
	}
	return (true);
}

// still_wanted: false when the call has been answered because svcfleetd
// is draining or its deadline has passed (checked again by a request
// that waited in a bulk lane).
static bool
still_wanted(rpc_ctx *rc)
{
	sf__srv_call *c = &rc->rc_call;

	if (atomic_load(&rc->rc_srv->s_draining)) {
		sf__srv_call_fail(
		    c, SF_UNAVAILABLE, "svcfleetd is shutting down");
		return (false);
	}
	if (sf__srv_call_expired(c)) {
		sf__srv_call_fail(c, SF_DEADLINE_EXCEEDED,
		    "deadline of %u ms passed before the request was served",
		    c->c_env->timeout_ms);
		return (false);
	}
	return (true);
}

// admit: draining, deadline, authentication. Returns true when the call
// goes on (serve), false when it has been answered.
static bool
admit(rpc_ctx *rc)
{
	sf__srv_call *c = &rc->rc_call;

	sf_log_set_request_id(c->c_request_id);
	c->c_cluster   = "";
	c->c_namespace = "";
	c->c_name      = "";
	if (!still_wanted(rc)) {
		return (false);
	}
	if (!(c->c_method->m_flags & SF__SRV_M_PUBLIC)
	    && sf__srv_auth_authenticate(c) != 0) {
		if (c->c_status.st_code == SF_UNAUTHENTICATED) {
			sf__srv_authfail(c);
		} else {
			sf__srv_call_finish(c, NULL);
		}
		return (false);
	}
	return (true);
}

// serve decodes the admitted call's payload (bounded first), authorizes
// it, deduplicates a write and runs its handler.
static void
serve(rpc_ctx *rc)
{
	sf_server          *srv   = rc->rc_srv;
	sf__srv_call       *c     = &rc->rc_call;
	ProtobufCAllocator *alloc = sf_arena_pbc(&c->c_arena);

	sf_log_set_request_id(c->c_request_id);
	// What the request holds is bounded before it is decoded, and
	// checked (counts, UTF-8) before anything else looks at it.
	if (sf__srv_bounds_prescan(c->c_method->m_mdesc->input,
	        c->c_env->payload.data, c->c_env->payload.len, &c->c_status)
	    != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	c->c_input = protobuf_c_message_unpack(c->c_method->m_mdesc->input,
	    alloc, c->c_env->payload.len, c->c_env->payload.data);
	if (c->c_input == NULL) {
		sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
		    "malformed %s payload for %s",
		    c->c_method->m_mdesc->input->name, c->c_method->m_path);
		return;
	}
	if (sf__srv_bounds_check(c->c_input, &c->c_status) != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	if (c->c_method->m_scope != NULL) {
		c->c_method->m_scope(c, c->c_input);
	}
	if (!(c->c_method->m_flags & (SF__SRV_M_PUBLIC | SF__SRV_M_SELF))
	    && !sf_rbac_allowed(&c->c_ident.id_p, c->c_method->m_resource,
	        c->c_method->m_verb, c->c_cluster, c->c_namespace,
	        &c->c_status)) {
		sf__srv_call_deny(c);
		return;
	}
	if ((c->c_method->m_flags & SF__SRV_M_WRITE) && c->c_client_id) {
		void  *cached;
		size_t clen;
		// The same id from another caller, or for another method, is
		// another request (a reply of one method's type must never
		// answer another). The user's length keeps "a/b" + "c" apart
		// from "a" + "b/c"; request ids hold no spaces.
		char *key = sf_arena_printf(&c->c_arena, "%zu:%s %s %s",
		    strlen(c->c_ident.id_user), c->c_ident.id_user,
		    c->c_method->m_path, c->c_request_id);
		switch (key == NULL ? SF__SRV_DEDUPE_NEW
		                    : sf__srv_dedupe_begin(
		                        srv->s_dedupe, key, &cached, &clen)) {
		case SF__SRV_DEDUPE_ANSWERED: {
			nng_msg *m;
			if (nng_msg_alloc(&m, clen) != 0) {
				free(cached);
				sf__srv_call_fail(
				    c, SF_RESOURCE_EXHAUSTED, "out of memory");
				return;
			}
			memcpy(nng_msg_body(m), cached, clen);
			free(cached);
			send_reply(c, m);
			return;
		}
		case SF__SRV_DEDUPE_BUSY:
			sf__srv_call_fail(c, SF_UNAVAILABLE,
			    "request %s is still being processed; retry later",
			    c->c_request_id);
			return;
		case SF__SRV_DEDUPE_NEW:
			c->c_dedupe     = key != NULL;
			c->c_dedupe_key = key;
			break;
		}
	}
	c->c_method->m_service->invoke(c->c_method->m_service,
	    c->c_method->m_index, c->c_input, rpc_closure, c);
}

// process_tail admits the call (draining, deadline, authentication,
// authorization, dedupe) and runs its handler.
static void
process_tail(rpc_ctx *rc)
{
	if (admit(rc)) {
		serve(rc);
	}
}

static void *
worker_main(void *arg)
{
	sf_server *srv = arg;

	for (;;) {
		rpc_ctx *rc;
		pthread_mutex_lock(&srv->s_qmtx);
		while (
		    srv->s_qhead == NULL && !atomic_load(&srv->s_stopping)) {
			pthread_cond_wait(&srv->s_qcv, &srv->s_qmtx);
		}
		if (srv->s_qhead == NULL) {
			pthread_mutex_unlock(&srv->s_qmtx);
			return (NULL);
		}
		rc           = srv->s_qhead;
		srv->s_qhead = rc->rc_next;
		if (srv->s_qhead == NULL) {
			srv->s_qtail = NULL;
		}
		srv->s_qlen--;
		pthread_mutex_unlock(&srv->s_qmtx);
		if (rc->rc_call.c_defer_fn != NULL) {
			void (*fn)(void *)     = rc->rc_call.c_defer_fn;
			rc->rc_call.c_defer_fn = NULL;
			sf_log_set_request_id(rc->rc_call.c_request_id);
			fn(rc->rc_call.c_defer_arg);
		} else {
			process_tail(rc);
		}
		sf_log_set_request_id(NULL);
	}
}

// A request larger than this goes to the bulk threads (issue 17): every
// Service the form can make is far smaller.
#define BULK_BYTES (16 << 10)

// The bulk thread decodes and serves large requests one at a time, at a
// lower priority than the threads serving small requests (issue 17: when
// the CPUs are short, one tenant's megabytes wait, not the others' small
// writes). Linux gives each thread its own nice value.
#define BULK_NICE 10

// One user's large requests waiting for the bulk thread (i17-bulk), in
// the order they came. i17-turns: the lanes are served by deficit round
// robin on request bytes: a lane whose first request costs more than its
// credit (l_deficit) gets BULK_QUANTUM more and goes to the end of the
// turn; one whose credit covers it is served and keeps its turn. So each
// user gets about BULK_QUANTUM bytes of the bulk thread per turn: one
// sending many 20 KiB requests is never held behind another's few of
// megabytes, each of which costs its sender many turns (one request per
// turn, before, gave a 4 MiB request as much as a 20 KiB one).
//
// i17-rate: each lane is also its user's bucket of bulk bytes, refilled at
// so_bulk_rate bytes a second up to s_bulk_burst. A request is taken when
// the bucket is not below 0 and costs its bytes, so one larger than what
// is left is served and the lane then waits until the bucket is back at 0:
// a user's large requests (the review's megabytes of empty ports, refused
// after the prescan, or the largest valid Services) get at most that many
// bytes a second of the receiving, decoding and validating, however many
// connections send them, and cannot take the CPUs from the others' small
// requests. A lane whose queue empties stays (idle) until its bucket is
// full again, so a user cannot refill it by letting the lane go.
struct sf__srv_lane {
	char                *l_user; // malloc'd
	rpc_ctx             *l_head, *l_tail;
	struct sf__srv_lane *l_next;    // next in turn
	size_t               l_deficit; // i17-turns: bytes it may still take
	double               l_tokens;  // i17-rate: bytes in the bucket
	int64_t              l_at_us;   // when they were counted (monotonic)
};

// Bytes a lane may take per turn (i17-turns): four requests just over
// BULK_BYTES, or a sixteenth of a 4 MiB one.
#define BULK_QUANTUM (64 << 10)

// Is the caller of c a system role, whose large requests (the
// reconciler's status reports) never wait behind a user's?
static bool
bulk_is_system(const sf__srv_call *c)
{
	return (sf_rbac_has_global(&c->c_ident.id_p, "reconciler"));
}

// lane_put queues rc in its user's lane (a new one at the end of the
// turn); false when out of memory. Under s_qmtx.
static bool
lane_put(sf_server *srv, rpc_ctx *rc)
{
	const char          *user = sf_nz(rc->rc_call.c_ident.id_user);
	struct sf__srv_lane *l;

	for (l = srv->s_lanes; l != NULL; l = l->l_next) {
		if (strcmp(l->l_user, user) == 0) {
			break;
		}
	}
	if (l == NULL) {
		if ((l = calloc(1, sizeof(*l))) == NULL
		    || (l->l_user = strdup(user)) == NULL) {
			free(l);
			return (false);
		}
		l->l_tokens = (double) srv->s_bulk_burst;
		l->l_at_us  = sf_clock_mono_us();
		if (srv->s_lanes_tail != NULL) {
			srv->s_lanes_tail->l_next = l;
		} else {
			srv->s_lanes = l;
		}
		srv->s_lanes_tail = l;
	}
	if (l->l_head == NULL) {
		srv->s_bulk_users++;
	}
	rc->rc_next = NULL;
	if (l->l_tail != NULL) {
		l->l_tail->rc_next = rc;
	} else {
		l->l_head = rc;
	}
	l->l_tail = rc;
	srv->s_bulk_queued++;
	return (true);
}

// lane_rotate sends the first lane to the end of the turn. Under s_qmtx.
static void
lane_rotate(sf_server *srv)
{
	struct sf__srv_lane *l = srv->s_lanes;

	if (l == NULL || l->l_next == NULL) {
		return;
	}
	srv->s_lanes              = l->l_next;
	l->l_next                 = NULL;
	srv->s_lanes_tail->l_next = l;
	srv->s_lanes_tail         = l;
}

// lane_refill counts what l's bucket gained since it was last counted
// (i17-rate). Under s_qmtx.
static void
lane_refill(const sf_server *srv, struct sf__srv_lane *l, int64_t now_us)
{
	double burst = (double) srv->s_bulk_burst;

	if (srv->s_bulk_rate == 0 || now_us <= l->l_at_us) {
		return;
	}
	l->l_tokens += (double) (now_us - l->l_at_us)
	    * (double) srv->s_bulk_rate / 1e6;
	if (l->l_tokens > burst) {
		l->l_tokens = burst;
	}
	l->l_at_us = now_us;
}

// lane_ready: l has a request and its bucket lets it be taken now.
static bool
lane_ready(const sf_server *srv, const struct sf__srv_lane *l, bool no_rate)
{
	return (l->l_head != NULL
	    && (no_rate || srv->s_bulk_rate == 0 || l->l_tokens >= 0));
}

// lane_sweep refills every bucket and frees the idle lanes whose bucket
// is full (all idle lanes when there is no rate). Returns whether a lane
// is ready; when none is, *due_us is when the first waiting one will be
// (0: none waits). Under s_qmtx.
static bool
lane_sweep(sf_server *srv, int64_t now_us, bool no_rate, int64_t *due_us)
{
	struct sf__srv_lane *prev = NULL, *l = srv->s_lanes, *next;
	bool                 ready = false;

	*due_us = 0;
	for (; l != NULL; l = next) {
		next = l->l_next;
		lane_refill(srv, l, now_us);
		if (l->l_head == NULL
		    && (srv->s_bulk_rate == 0
		        || l->l_tokens >= (double) srv->s_bulk_burst)) {
			if (prev != NULL) {
				prev->l_next = next;
			} else {
				srv->s_lanes = next;
			}
			if (srv->s_lanes_tail == l) {
				srv->s_lanes_tail = prev;
			}
			free(l->l_user);
			free(l);
			continue;
		}
		if (lane_ready(srv, l, no_rate)) {
			ready = true;
		} else if (l->l_head != NULL) {
			// Back at 0 in -tokens / rate seconds.
			int64_t at = now_us + 1
			    + (int64_t) (-l->l_tokens * 1e6
			        / (double) srv->s_bulk_rate);
			if (*due_us == 0 || at < *due_us) {
				*due_us = at;
			}
		}
		prev = l;
	}
	return (ready);
}

// lane_take takes the next request in turn (deficit round robin, see
// sf__srv_lane) among the lanes whose bucket lets them (no_rate: all, as
// when stopping): the first lane's first request when its credit covers
// it; otherwise that lane gets BULK_QUANTUM more and goes to the end, and
// the next one is looked at. NULL when no lane may go now; *due_us is
// then when one will (0: none waits). Under s_qmtx; the loop ends, since
// each pass adds credit to the ready lanes, after at most the largest
// request / BULK_QUANTUM passes over the lanes.
static rpc_ctx *
lane_take(sf_server *srv, bool no_rate, int64_t *due_us)
{
	struct sf__srv_lane *l;
	rpc_ctx             *rc;

	if (!lane_sweep(srv, sf_clock_mono_us(), no_rate, due_us)) {
		return (NULL);
	}
	for (;;) {
		l = srv->s_lanes;
		if (lane_ready(srv, l, no_rate)) {
			if (l->l_head->rc_cost <= l->l_deficit) {
				break;
			}
			l->l_deficit += BULK_QUANTUM;
		}
		lane_rotate(srv);
	}
	rc = l->l_head;
	l->l_deficit -= rc->rc_cost;
	l->l_tokens -= (double) rc->rc_cost;
	l->l_head = rc->rc_next;
	srv->s_bulk_queued--;
	if (l->l_head == NULL) {
		// Idle: its credit goes (the bucket stays, lane_sweep).
		l->l_tail    = NULL;
		l->l_deficit = 0;
		srv->s_bulk_users--;
	}
	rc->rc_next = NULL;
	return (rc);
}

// The sorter: decodes each large request's envelope (the payload stays
// bytes) and authenticates it as it arrives; serves the reconciler's at
// once (never behind a user's), queues the others in their user's lane.
static void *
sorter_main(void *arg)
{
	sf_server *srv = arg;

	for (;;) {
		rpc_ctx *rc;
		pthread_mutex_lock(&srv->s_qmtx);
		while (srv->s_bulk_head == NULL
		    && !atomic_load(&srv->s_stopping)) {
			pthread_cond_wait(&srv->s_bulk_cv, &srv->s_qmtx);
		}
		if (srv->s_bulk_head == NULL) {
			srv->s_sorter_done = true;
			pthread_cond_broadcast(&srv->s_lanes_cv);
			pthread_mutex_unlock(&srv->s_qmtx);
			return (NULL);
		}
		rc               = srv->s_bulk_head;
		srv->s_bulk_head = rc->rc_next;
		if (srv->s_bulk_head == NULL) {
			srv->s_bulk_tail = NULL;
		}
		pthread_mutex_unlock(&srv->s_qmtx);
		if (process_head(rc) && admit(rc)) {
			if (bulk_is_system(&rc->rc_call)) {
				serve(rc);
			} else {
				bool ok;
				pthread_mutex_lock(&srv->s_qmtx);
				if ((ok = lane_put(srv, rc))) {
					pthread_cond_signal(&srv->s_lanes_cv);
				}
				pthread_mutex_unlock(&srv->s_qmtx);
				if (!ok) {
					sf__srv_call_fail(&rc->rc_call,
					    SF_RESOURCE_EXHAUSTED,
					    "out of memory");
				}
			}
		}
		sf_log_set_request_id(NULL);
	}
}

// The bulk thread: serves the lanes in turn until the sorter has ended
// and no lane waits.
static void *
bulk_main(void *arg)
{
	sf_server *srv = arg;

	id_t tid = (id_t) syscall(SYS_gettid);
	errno    = 0;
	int nice = getpriority(PRIO_PROCESS, tid);
	if (errno == 0) {
		(void) setpriority(PRIO_PROCESS, tid, nice + BULK_NICE);
	}

	for (;;) {
		rpc_ctx *rc;
		int64_t  due_us;
		pthread_mutex_lock(&srv->s_qmtx);
		// Stopping: what waits is answered now, bucket or not.
		while ((rc = lane_take(srv,
		            atomic_load(&srv->s_stopping)
		                || atomic_load(&srv->s_draining),
		            &due_us))
		        == NULL
		    && !(
		        atomic_load(&srv->s_stopping) && srv->s_sorter_done)) {
			if (due_us == 0) {
				pthread_cond_wait(
				    &srv->s_lanes_cv, &srv->s_qmtx);
			} else {
				// A lane waits for its bucket (i17-rate).
				struct timespec ts;
				int64_t w = due_us - sf_clock_mono_us();
				clock_gettime(CLOCK_MONOTONIC, &ts);
				w = w < 0 ? 0 : w;
				ts.tv_sec += (time_t) (w / 1000000);
				ts.tv_nsec += (long) (w % 1000000) * 1000;
				if (ts.tv_nsec >= 1000000000) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000;
				}
				pthread_cond_timedwait(
				    &srv->s_lanes_cv, &srv->s_qmtx, &ts);
			}
		}
		pthread_mutex_unlock(&srv->s_qmtx);
		if (rc == NULL) {
			return (NULL);
		}
		// It may have waited long in its lane.
		if (still_wanted(rc)) {
			serve(rc);
		}
		sf_log_set_request_id(NULL);
	}
}

static void
enqueue_bulk(sf_server *srv, rpc_ctx *rc)
{
	rc->rc_cost = nng_msg_len(rc->rc_msg);
	pthread_mutex_lock(&srv->s_qmtx);
	rc->rc_next = NULL;
	if (srv->s_bulk_tail != NULL) {
		srv->s_bulk_tail->rc_next = rc;
	} else {
		srv->s_bulk_head = rc;
	}
	srv->s_bulk_tail = rc;
	pthread_cond_signal(&srv->s_bulk_cv);
	pthread_mutex_unlock(&srv->s_qmtx);
}

static void
enqueue(sf_server *srv, rpc_ctx *rc)
{
	pthread_mutex_lock(&srv->s_qmtx);
	rc->rc_next = NULL;
	if (srv->s_qtail != NULL) {
		srv->s_qtail->rc_next = rc;
	} else {
		srv->s_qhead = rc;
	}
	srv->s_qtail = rc;
	srv->s_qlen++;
	pthread_cond_signal(&srv->s_qcv);
	pthread_mutex_unlock(&srv->s_qmtx);
}

void
sf__srv_call_defer(sf__srv_call *c, void (*fn)(void *arg), void *arg)
{
	rpc_ctx *rc    = c->c_ctx;
	c->c_defer_fn  = fn;
	c->c_defer_arg = arg;
	enqueue(rc->rc_srv, rc);
}

// An inline method's request larger than this goes to a worker all the
// same (issue 17): its validation, O(n log n) in what it holds, must not
// hold one of nng's callback threads, which serve every tenant's small
// requests (a delete among them) as they arrive.
#define INLINE_BYTES (4 << 10)

// dispatch serves a request just received, on nng's callback thread: the
// envelope is decoded here, then a method marked SF__SRV_M_INLINE is served at
// once and any other goes to a worker thread. Saving the hand-over (a
// wake-up and a context switch per request) matters on small machines;
// see SF__SRV_M_INLINE for what may run here. rc may already be sending its
// reply (from the writer thread) when this returns: nothing touches it
// after the call is handed on.
static void
dispatch(sf_server *srv, rpc_ctx *rc)
{
	size_t len = nng_msg_len(rc->rc_msg);

	if (len > BULK_BYTES && srv->s_bulk_running) {
		enqueue_bulk(srv, rc);
		return;
	}
	if (process_head(rc)) {
		if ((rc->rc_call.c_method->m_flags & SF__SRV_M_INLINE)
		    && len <= INLINE_BYTES) {
			process_tail(rc);
		} else {
			enqueue(srv, rc);
		}
	}
	sf_log_set_request_id(NULL);
}

static void
call_reset(sf__srv_call *c)
{
	sf_arena_reset(&c->c_arena);
	sf_status_reset(&c->c_status);
	c->c_method           = NULL;
	c->c_env              = NULL;
	c->c_input            = NULL;
	c->c_request_id[0]    = '\0';
	c->c_drift            = NULL; // i19
	c->c_revision         = 0;    // i15-perf
	c->c_rev_floor        = 0;
	c->c_client_id        = false;
	c->c_dedupe           = false;
	c->c_dedupe_key       = NULL;
	c->c_req_fn           = NULL;
	c->c_req_put          = false;
	c->c_req_found        = NULL;
	c->c_write_concurrent = false; // etcd-perf
	c->c_revalidate       = false; // issue 17
	c->c_defer_fn         = NULL;
	c->c_defer_arg        = NULL;
	memset(&c->c_ident, 0, sizeof(c->c_ident));
}

// refuse_busy answers a request just received with RESOURCE_EXHAUSTED,
// without decoding it (so without its request id): the server is at its
// --max-inflight limit. It runs in nng's callback, so it only packs a few
// bytes and starts the send.
static void
refuse_busy(rpc_ctx *rc)
{
	Svcfleet__V1__ReplyEnvelope env = SVCFLEET__V1__REPLY_ENVELOPE__INIT;
	char                        msg[128];
	nng_msg                    *m;

	nng_msg_free(rc->rc_msg);
	rc->rc_msg = NULL;
	snprintf(msg, sizeof(msg),
	    "svcfleetd is busy: %u requests in flight (--max-inflight); "
	    "retry later",
	    rc->rc_srv->s_opts.so_max_inflight);
	env.code     = SF_RESOURCE_EXHAUSTED;
	env.message  = msg;
	rc->rc_state = CTX_SEND;
	if (nng_msg_alloc(
	        &m, svcfleet__v1__reply_envelope__get_packed_size(&env))
	    != 0) {
		// No reply; the client times out. The context goes on.
		nng_aio_set_msg(rc->rc_aio, NULL);
		nng_aio_finish(rc->rc_aio, NNG_ENOMEM);
		return;
	}
	svcfleet__v1__reply_envelope__pack(&env, nng_msg_body(m));
	nng_aio_set_msg(rc->rc_aio, m);
	nng_ctx_send(rc->rc_ctx, rc->rc_aio);
}

static void
ctx_cb(void *arg)
{
	rpc_ctx   *rc  = arg;
	sf_server *srv = rc->rc_srv;
	int        rv;

	switch (rc->rc_state) {
	case CTX_RECV:
		if ((rv = nng_aio_result(rc->rc_aio)) != 0) {
			if (rv == NNG_ECLOSED
			    || atomic_load(&srv->s_stopping)) {
				rc->rc_state = CTX_IDLE;
				return;
			}
			nng_ctx_recv(rc->rc_ctx, rc->rc_aio);
			return;
		}
		rc->rc_msg = nng_aio_get_msg(rc->rc_aio);
		if (!sf__srv_limits_admit(srv)) {
			refuse_busy(rc);
			return;
		}
		rc->rc_state = CTX_WORK;
		atomic_fetch_add(&srv->s_inflight, 1);
		dispatch(srv, rc);
		return;
	case CTX_SEND:
		if (nng_aio_result(rc->rc_aio) != 0) {
			nng_msg *m = nng_aio_get_msg(rc->rc_aio);
			if (m != NULL) {
				nng_msg_free(m);
			}
		}
		call_reset(&rc->rc_call);
		if (atomic_load(&srv->s_stopping)) {
			rc->rc_state = CTX_IDLE;
			return;
		}
		rc->rc_state = CTX_RECV;
		nng_ctx_recv(rc->rc_ctx, rc->rc_aio);
		return;
	default:
		return;
	}
}

// ----------------------------------------------------------- lifecycle

int
sf__srv_rpc_start(sf_server *srv, sf_status *st)
{
	int rv;

	srv->s_nctxs    = srv->s_opts.so_contexts;
	srv->s_ctxs     = calloc(srv->s_nctxs, sizeof(rpc_ctx));
	srv->s_nworkers = srv->s_opts.so_workers;
	srv->s_workers  = calloc(srv->s_nworkers, sizeof(pthread_t));
	if (srv->s_ctxs == NULL || srv->s_workers == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	pthread_mutex_init(&srv->s_qmtx, NULL);
	pthread_cond_init(&srv->s_qcv, NULL);
	pthread_cond_init(&srv->s_bulk_cv, NULL);
	// Timed waits for a bucket (i17-rate) on the monotonic clock: a
	// wall clock set back would hold a user's requests that much longer.
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->s_lanes_cv, &ca);
	pthread_condattr_destroy(&ca);
	// i17-rate: a bucket holds one largest request, or a second's worth.
	srv->s_bulk_rate  = srv->s_opts.so_bulk_rate > 0
	     ? (uint64_t) srv->s_opts.so_bulk_rate
	     : 0;
	srv->s_bulk_burst = srv->s_bulk_rate > srv->s_opts.so_max_msg
	    ? srv->s_bulk_rate
	    : srv->s_opts.so_max_msg;
	// Large requests go to the bulk threads only when both run (without
	// the sorter, the bulk thread just waits for the stop).
	pthread_mutex_lock(&srv->s_qmtx);
	srv->s_sorter_done = false;
	srv->s_bulk_started
	    = pthread_create(&srv->s_bulk, NULL, bulk_main, srv) == 0;
	srv->s_sorter_running = srv->s_bulk_started
	    && pthread_create(&srv->s_sorter, NULL, sorter_main, srv) == 0;
	srv->s_sorter_done  = !srv->s_sorter_running;
	srv->s_bulk_running = srv->s_sorter_running;
	pthread_mutex_unlock(&srv->s_qmtx);
	for (size_t i = 0; i < srv->s_nworkers; i++) {
		if (pthread_create(&srv->s_workers[i], NULL, worker_main, srv)
		    != 0) {
			srv->s_nworkers = i;
			return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
			    "cannot start worker threads"));
		}
	}
	for (size_t i = 0; i < srv->s_nctxs; i++) {
		rpc_ctx *rc       = &srv->s_ctxs[i];
		rc->rc_srv        = srv;
		rc->rc_call.c_srv = srv;
		rc->rc_call.c_ctx = rc;
		sf_arena_init(&rc->rc_call.c_arena);
		sf_status_init(&rc->rc_call.c_status);
		if ((rv = nng_aio_alloc(&rc->rc_aio, ctx_cb, rc)) != 0
		    || (rv = nng_ctx_open(&rc->rc_ctx, srv->s_sock)) != 0) {
			return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
			    "cannot open RPC context: %s", nng_strerror(rv)));
		}
	}
	for (size_t i = 0; i < srv->s_nctxs; i++) {
		rpc_ctx *rc  = &srv->s_ctxs[i];
		rc->rc_state = CTX_RECV;
		nng_ctx_recv(rc->rc_ctx, rc->rc_aio);
	}
	return (0);
}

void
sf__srv_rpc_drain(sf_server *srv, int64_t max_ms)
{
	int64_t until = sf_clock_mono_ms() + max_ms;
	// Requests waiting for their user's bucket (i17-rate) are answered
	// now: the bulk thread takes them regardless while draining.
	pthread_mutex_lock(&srv->s_qmtx);
	pthread_cond_broadcast(&srv->s_lanes_cv);
	pthread_mutex_unlock(&srv->s_qmtx);
	// s_inflight first: a reply enters s_sending before it leaves it.
	while ((atomic_load(&srv->s_inflight) > 0
	           || atomic_load(&srv->s_sending) > 0)
	    && sf_clock_mono_ms() < until) {
		nng_msleep(10);
	}
}

void
sf__srv_rpc_stop(sf_server *srv)
{
	pthread_mutex_lock(&srv->s_qmtx);
	atomic_store(&srv->s_stopping, true);
	pthread_cond_broadcast(&srv->s_qcv);
	pthread_cond_broadcast(&srv->s_bulk_cv);
	pthread_cond_broadcast(&srv->s_lanes_cv);
	pthread_mutex_unlock(&srv->s_qmtx);
	for (size_t i = 0; i < srv->s_nworkers; i++) {
		pthread_join(srv->s_workers[i], NULL);
	}
	// (s_bulk_running stays: nng's callbacks may still read it.) The
	// sorter ends first: the bulk thread serves what it queued.
	if (srv->s_sorter_running) {
		pthread_join(srv->s_sorter, NULL);
	}
	if (srv->s_bulk_started) {
		pthread_join(srv->s_bulk, NULL);
	}
	// Idle lanes whose buckets were still filling (i17-rate).
	while (srv->s_lanes != NULL) {
		struct sf__srv_lane *l = srv->s_lanes;
		srv->s_lanes           = l->l_next;
		free(l->l_user);
		free(l);
	}
	srv->s_lanes_tail = NULL;
}

void
sf__srv_rpc_close(sf_server *srv)
{
	// Every aio is stopped while the socket and its contexts still exist:
	// stopping one after the socket closed can reach into the freed
	// context (nng then panics on a destroyed mutex).
	if (srv->s_ctxs != NULL) {
		for (size_t i = 0; i < srv->s_nctxs; i++) {
			if (srv->s_ctxs[i].rc_aio != NULL) {
				nng_aio_stop(srv->s_ctxs[i].rc_aio);
			}
		}
	}
	if (srv->s_sock_open) {
		nng_close(srv->s_sock);
		srv->s_sock_open = false;
	}
	if (srv->s_ctxs != NULL) {
		for (size_t i = 0; i < srv->s_nctxs; i++) {
			rpc_ctx *rc = &srv->s_ctxs[i];
			if (rc->rc_msg != NULL) {
				nng_msg_free(rc->rc_msg);
			}
			if (rc->rc_aio != NULL) {
				nng_msg *m = nng_aio_get_msg(rc->rc_aio);
				if (rc->rc_state == CTX_SEND && m != NULL) {
					nng_msg_free(m);
				}
				nng_aio_free(rc->rc_aio);
			}
			nng_ctx_close(rc->rc_ctx);
			sf_arena_fini(&rc->rc_call.c_arena);
			sf_status_fini(&rc->rc_call.c_status);
		}
	}
	free(srv->s_ctxs);
	free(srv->s_workers);
	srv->s_ctxs    = NULL;
	srv->s_workers = NULL;
	if (srv->s_nworkers > 0 || srv->s_nctxs > 0) {
		pthread_mutex_destroy(&srv->s_qmtx);
		pthread_cond_destroy(&srv->s_qcv);
		pthread_cond_destroy(&srv->s_bulk_cv);
		pthread_cond_destroy(&srv->s_lanes_cv);
	}
}
