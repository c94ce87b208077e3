// sec_util.h: helpers of the security tests (issue 17): tenants with
// their own tokens and bindings, raw RPC calls that carry any payload,
// and the daemon's peak memory.
#ifndef SF_SEC_UTIL_H
#define SF_SEC_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "svcfleet/svcfleet.h"

// sec_tenant creates user's token (the secret, malloc'd) on the admin's
// client of f and, when role is not NULL, binds role at (cluster, ns).
char *sec_tenant(th_fixture *f, const char *user, const char *role,
    const char *cluster, const char *ns);

// sec_raw_call sends one request envelope (method, token, payload bytes)
// to url and returns the reply envelope (free with
// svcfleet__v1__reply_envelope__free_unpacked) and its encoded size in
// *reply_len; NULL when no reply came within timeout_ms.
Svcfleet__V1__ReplyEnvelope *sec_raw_call(const char *url, const char *token,
    const char *method, const void *payload, size_t len, int timeout_ms,
    size_t *reply_len);

// sec_peak_rss_kb: the peak resident size (VmHWM) of process pid, in KiB.
long sec_peak_rss_kb(int pid);

// sec_service fills a valid ClusterIP Service east/<ns>/<name> (one port
// 80, selector app=web) into parts that live in *buf (zeroed by the
// caller); returns the Service.
typedef struct sec_svc {
	Svcfleet__V1__Service      svc;
	Svcfleet__V1__ObjectMeta   meta;
	Svcfleet__V1__ServiceSpec  spec;
	Svcfleet__V1__ServicePort  port;
	Svcfleet__V1__ServicePort *ports[1];
	Svcfleet__V1__KeyValue     sel;
	Svcfleet__V1__KeyValue    *sels[1];
} sec_svc;
Svcfleet__V1__Service *sec_service(
    sec_svc *b, const char *cluster, const char *ns, const char *name);

// sec_metric returns the value of metric line `name ` (labels included in
// name when it has any) from the daemon's /metrics, -1 when absent.
double sec_metric(const th_server *s, const char *name);

// sec_wait_metric polls sec_metric until it equals want (deadline 20 s);
// true when it did.
bool sec_wait_metric(const th_server *s, const char *name, double want);

// sec_async_send sends msg as method with token on a socket of its own
// (returned in *s) without waiting; sec_async_recv then waits at most
// wait_ms for the reply: returns its code (message into msg), or -1 when
// none came. Close the socket with nng_close.
#include <nng/nng.h>
void sec_async_send(const char *url, const char *token, const char *method,
    const ProtobufCMessage *msg, int timeout_ms, nng_socket *s);
int  sec_async_recv(nng_socket s, int wait_ms, char *msg, size_t cap);

// ---- svcfleetd in the test process (i17-turns: the setup the finding-3
// tests shared, sec_3_queue_test and sec_3_fair_test; library
// sf_sec_inproc). A hook on the model's validation (installed by
// sec_inproc_start) counts every validation and those run on the store's
// writer, records the names of Services marked with the annotation
// SEC_HOLD in the order validated, and holds marked ones at a gate.
#define SEC_HOLD "test/hold"

typedef struct sf_server      sf_server;
typedef struct sf_metrics     sf_metrics;
typedef struct sf_server_opts sf_server_opts;
typedef struct sec_inproc {
	sf_server  *si_srv;
	sf_metrics *si_reg; // NULL unless started with metrics
	th_fixture  si_fx;  // si_fx.tf_c: the admin's client (tf_st with it)
	char        si_dir[200];
} sec_inproc;

// sec_inproc_start starts svcfleetd listening on url with a fresh data
// directory (tag names it), admin_token the admin's static token, and a
// metrics registry when metrics; returns 0 or -1 (said on stderr).
int sec_inproc_start(sec_inproc *p, const char *url, const char *tag,
    const char *admin_token, bool metrics);
// sec_inproc_start_with: the same, tweak (when not NULL) changing the
// server's options before it starts.
int  sec_inproc_start_with(sec_inproc *p, const char *url, const char *tag,
     const char *admin_token, bool metrics, void (*tweak)(sf_server_opts *));
void sec_inproc_stop(sec_inproc *p);
// sec_inproc_gauge: the value of metric line `name ` of p's registry, -1
// when absent; sec_inproc_wait_gauge polls it until it reads want
// (deadline 20 s) or opens the gate and fails the test.
double sec_inproc_gauge(const sec_inproc *p, const char *name);
void sec_inproc_wait_gauge(const sec_inproc *p, const char *name, double want);

// sec_gate_close holds the next budget validations of marked Services
// called name (NULL: of any marked Service) until sec_gate_open; it
// resets the on-writer count and the order recorded.
void sec_gate_close(const char *name, int budget);
void sec_gate_open(void);
// sec_gate_close_at: the same for only the copies in cluster.
void sec_gate_close_at(const char *name, const char *cluster, int budget);
// sec_gate_pass_one lets one held validation go on, the gate still
// closed, and lets more further ones be held.
void sec_gate_pass_one(int more);
int  sec_gate_held(void); // held now
// sec_gate_wait_held waits at most wait_ms until n are held.
bool sec_gate_wait_held(int n, int wait_ms);
int  sec_gate_on_writer(void); // validations on the writer since closed
int  sec_gate_holds(void);     // validations of marked Services, ever
// Validations of marked Service name since closed; the names in order
// (at most cap, the first 64 kept).
int sec_gate_validations_of(const char *name);
int sec_gate_order(char (*out)[32], int cap);

// Annotations of a marked Service (or template): SEC_HOLD and n of vlen
// bytes (sec_ann_fill sets m's annotations to them; sec_ann_free after).
typedef struct sec_ann_parts {
	Svcfleet__V1__KeyValue  *kv;
	Svcfleet__V1__KeyValue **p;
	char                    *keys, *value;
} sec_ann_parts;
void sec_ann_fill(
    sec_ann_parts *a, Svcfleet__V1__ObjectMeta *m, size_t n, size_t vlen);
void sec_ann_free(sec_ann_parts *a);
// sec_send_marked sends (sec_async_send) a marked dry-run create of
// east/ns/name with nann annotations of vlen bytes as token to url.
void sec_send_marked(const char *url, const char *token, const char *ns,
    const char *name, size_t nann, size_t vlen, nng_socket *s);

// sec_audit_count: audit records of user whose method contains method.
size_t sec_audit_count(th_fixture *fx, const char *user, const char *method);

#endif // SF_SEC_UTIL_H
