// sec_util.c: see sec_util.h.
#include "sec_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
sec_tenant(th_fixture *f, const char *user, const char *role,
    const char *cluster, const char *ns)
{
	Svcfleet__V1__CreateTokenRequest r
	    = SVCFLEET__V1__CREATE_TOKEN_REQUEST__INIT;
	Svcfleet__V1__CreateTokenReply *out = NULL;
	char                           *secret;

	if (role != NULL) {
		Svcfleet__V1__RoleBinding b = SVCFLEET__V1__ROLE_BINDING__INIT;
		Svcfleet__V1__CreateRoleBindingRequest br
		    = SVCFLEET__V1__CREATE_ROLE_BINDING_REQUEST__INIT;
		Svcfleet__V1__RoleBinding *bout = NULL;
		b.user                          = (char *) user;
		b.role                          = (char *) role;
		b.cluster                       = (char *) cluster;
		b.namespace_                    = (char *) ns;
		br.binding                      = &b;
		TH_MUST(svcfleet_create_role_binding(
		            f->tf_c, &br, &bout, &f->tf_st),
		    &f->tf_st);
		svcfleet_free(bout);
	}
	r.user = (char *) user;
	TH_MUST(
	    svcfleet_create_token(f->tf_c, &r, &out, &f->tf_st), &f->tf_st);
	secret = strdup(out->secret);
	svcfleet_free(out);
	return (secret);
}

Svcfleet__V1__ReplyEnvelope *
sec_raw_call(const char *url, const char *token, const char *method,
    const void *payload, size_t len, int timeout_ms, size_t *reply_len)
{
	Svcfleet__V1__RequestEnvelope env
	    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	Svcfleet__V1__ReplyEnvelope *r = NULL;
	nng_socket                   s;
	nng_msg                     *m;
	size_t                       n;

	env.method       = (char *) method;
	env.token        = (char *) (token != NULL ? token : "");
	env.timeout_ms   = (uint32_t) timeout_ms;
	env.payload.data = (uint8_t *) payload;
	env.payload.len  = len;
	n = svcfleet__v1__request_envelope__get_packed_size(&env);
	assert_int_equal(nng_req0_open(&s), 0);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 64 << 20);
	// No resend: one request is one attack.
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	assert_int_equal(nng_msg_alloc(&m, n), 0);
	svcfleet__v1__request_envelope__pack(&env, nng_msg_body(m));
	assert_int_equal(nng_sendmsg(s, m, 0), 0);
	if (nng_recvmsg(s, &m, 0) == 0) {
		if (reply_len != NULL) {
			*reply_len = nng_msg_len(m);
		}
		r = svcfleet__v1__reply_envelope__unpack(
		    NULL, nng_msg_len(m), nng_msg_body(m));
		nng_msg_free(m);
	}
	nng_close(s);
	return (r);
}

long
sec_peak_rss_kb(int pid)
{
	char  path[64], line[256];
	long  kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL) {
		return (-1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmHWM: %ld", &kb) == 1) {
			break;
		}
	}
	fclose(f);
	return (kb);
}

Svcfleet__V1__Service *
sec_service(sec_svc *b, const char *cluster, const char *ns, const char *name)
{
	svcfleet__v1__service__init(&b->svc);
	svcfleet__v1__object_meta__init(&b->meta);
	svcfleet__v1__service_spec__init(&b->spec);
	svcfleet__v1__service_port__init(&b->port);
	svcfleet__v1__key_value__init(&b->sel);
	b->meta.cluster    = (char *) cluster;
	b->meta.namespace_ = (char *) ns;
	b->meta.name       = (char *) name;
	b->port.port       = 80;
	b->ports[0]        = &b->port;
	b->sel.key         = "app";
	b->sel.value       = "web";
	b->sels[0]         = &b->sel;
	b->spec.ports      = b->ports;
	b->spec.n_ports    = 1;
	b->spec.selector   = b->sels;
	b->spec.n_selector = 1;
	b->svc.metadata    = &b->meta;
	b->svc.spec        = &b->spec;
	return (&b->svc);
}

void
sec_async_send(const char *url, const char *token, const char *method,
    const ProtobufCMessage *msg, int timeout_ms, nng_socket *s)
{
	Svcfleet__V1__RequestEnvelope env
	    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	nng_msg *m;
	size_t   n = protobuf_c_message_get_packed_size(msg);
	uint8_t *p = malloc(n + 1);

	protobuf_c_message_pack(msg, p);
	env.method       = (char *) method;
	env.token        = (char *) token;
	env.timeout_ms   = (uint32_t) timeout_ms;
	env.payload.data = p;
	env.payload.len  = n;
	assert_int_equal(nng_req0_open(s), 0);
	nng_socket_set_ms(*s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	assert_int_equal(nng_dial(*s, url, NULL, 0), 0);
	assert_int_equal(
	    nng_msg_alloc(
	        &m, svcfleet__v1__request_envelope__get_packed_size(&env)),
	    0);
	svcfleet__v1__request_envelope__pack(&env, nng_msg_body(m));
	assert_int_equal(nng_sendmsg(*s, m, 0), 0);
	free(p);
}

int
sec_async_recv(nng_socket s, int wait_ms, char *msg, size_t cap)
{
	nng_msg *m;
	int      code;

	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, wait_ms);
	if (nng_recvmsg(s, &m, 0) != 0) {
		return (-1);
	}
	Svcfleet__V1__ReplyEnvelope *r = svcfleet__v1__reply_envelope__unpack(
	    NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	assert_non_null(r);
	code = (int) r->code;
	if (msg != NULL) {
		snprintf(msg, cap, "%s", r->message);
	}
	svcfleet__v1__reply_envelope__free_unpacked(r, NULL);
	return (code);
}

double
sec_metric(const th_server *s, const char *name)
{
	char  *body = NULL, needle[256];
	double v    = -1;
	if (th_runf(&body, NULL,
	        "curl -s -H 'Authorization: Bearer %s' %s/metrics",
	        s->ts_token, s->ts_http)
	    == 0) {
		snprintf(needle, sizeof(needle), "\n%s ", name);
		const char *at = strstr(body, needle);
		if (at != NULL) {
			v = strtod(at + strlen(needle), NULL);
		}
	}
	free(body);
	return (v);
}

bool
sec_wait_metric(const th_server *s, const char *name, double want)
{
	for (int i = 0; i < 400; i++) {
		if (sec_metric(s, name) == want) {
			return (true);
		}
		nng_msleep(50); // polling interval, not synchronisation
	}
	return (false);
}
