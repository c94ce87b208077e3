// kube.h: a small Kubernetes API client over libcurl — how svcfleet talks
// to a cluster's API server.
//
// A cluster's connection settings (sf_kube_cfg) come from its svcfleet
// cluster record: API server URL, CA bundle, bearer token or client
// certificate and key. Certificate verification is always on unless the
// record explicitly says insecure_skip_verify.
//
// A request (sf_kube_req) wraps one curl easy handle. It is driven either
// by a caller's curl multi handle (the reconciler's per-cluster workers) or
// synchronously by sf_kube_perform (the server's live reads). Responses are
// collected into memory, or, for watches, handed line by line to a callback.
// Errors are translated in exactly one place, sf_kube_outcome(), into an
// outcome class plus the cluster's own words (a Status message, which for a
// 422 carries every cause) or curl's.
//
// Threading: a cfg is immutable once made and may be shared by threads; a
// request belongs to one thread at a time. Call curl_global_init once
// before any thread uses this module (sf_kube_global_init does).
#ifndef SF_KUBE_H
#define SF_KUBE_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "status.h"
#include "svcfleet.pb-c.h"

typedef struct sf_kube_cfg sf_kube_cfg;

// sf_kube_global_init initialises libcurl once per process (thread-safe,
// idempotent); sf_kube_global_fini undoes it at exit.
void sf_kube_global_init(void);
void sf_kube_global_fini(void);

// sf_kube_cfg_alloc copies what it needs from a cluster record (with
// credentials). Returns 0, or SF_INVALID_ARGUMENT (no API server URL) /
// SF_RESOURCE_EXHAUSTED with st set. Free with sf_kube_cfg_free (NULL ok).
int sf_kube_cfg_alloc(
    sf_kube_cfg **out, const Svcfleet__V1__Cluster *cl, sf_status *st);
void sf_kube_cfg_free(sf_kube_cfg *cfg);
// sf_kube_cfg_hash summarises server, trust and credentials, so a changed
// record can be told from an unchanged one.
uint64_t    sf_kube_cfg_hash(const sf_kube_cfg *cfg);
const char *sf_kube_cfg_name(const sf_kube_cfg *cfg);

// Called for each complete line of a streamed (watch) response; return
// false to stop the transfer.
typedef bool (*sf_kube_line_fn)(void *arg, const char *line, size_t len);

typedef struct sf_kube_req {
	CURL              *kr_easy; // kept across sf_kube_req_setup calls
	struct curl_slist *kr_headers;
	sf_buf             kr_body;        // response body (not for lines)
	sf_buf             kr_line;        // partial line of a stream
	sf_kube_line_fn    kr_line_fn;     // set: stream mode
	void              *kr_line_arg;    //
	long               kr_code;        // HTTP status, 0 = none yet
	int                kr_retry_after; // seconds from Retry-After, -1
	bool               kr_stopped;     // the line callback said stop
	char               kr_err[CURL_ERROR_SIZE];
	char              *kr_send; // request body (owned)
	void              *kr_user; // the caller's
} sf_kube_req;

// sf_kube_req_setup prepares r for one request (reusing its easy handle):
// method "GET", "PATCH", "DELETE", ...; path with query ("/api/v1/..."),
// content type and body (may be NULL; the body is copied); timeout_ms 0 =
// none (watches). Returns 0 or SF_RESOURCE_EXHAUSTED.
int sf_kube_req_setup(sf_kube_req *r, const sf_kube_cfg *cfg,
    const char *method, const char *path, const char *ctype, const char *body,
    long timeout_ms);
// sf_kube_req_fini releases everything, the easy handle included.
void sf_kube_req_fini(sf_kube_req *r);

// sf_kube_perform runs r synchronously and returns curl's result.
CURLcode sf_kube_perform(sf_kube_req *r);

// Outcome classes of a finished request.
enum sf_kube_class {
	SF_KUBE_OK = 0,       // 2xx
	SF_KUBE_NOT_FOUND,    // 404
	SF_KUBE_INVALID,      // 400, 415, 422: the request itself is wrong
	SF_KUBE_CONFLICT,     // 409
	SF_KUBE_GONE,         // 410 Expired
	SF_KUBE_THROTTLED,    // 429
	SF_KUBE_UNAUTHORIZED, // 401, 403
	SF_KUBE_SERVER,       // 5xx and anything else unexpected
	SF_KUBE_TRANSPORT,    // no HTTP answer: connect, TLS, reset, timeout
};

// sf_kube_outcome classifies a finished request (cc is curl's result) and
// writes one line for a human into msg: the Status message the cluster
// sent, else "HTTP 503: <start of body>", else curl's error text.
int sf_kube_outcome(const sf_kube_req *r, CURLcode cc, char *msg, size_t cap);

// sf_kube_class_name returns "not found", "throttled", ... for logs.
const char *sf_kube_class_name(int cls);

// sf_kube_path_escape appends s to b percent-encoded for a query value.
void sf_kube_query_escape(sf_buf *b, const char *s);

// ------------------------------------------------------- live reads
//
// Synchronous reads for the "create a Service" form, each bounded by
// timeout_ms. They return 0 or an SF_* code with st set: UNAVAILABLE
// (cluster unreachable or erroring, with its words), PERMISSION_DENIED
// (401/403), NOT_FOUND (namespace), INTERNAL (an answer we cannot read).

// sf_kube_list_namespaces: names in the order the cluster lists them;
// *names is a NULL-terminated malloc'd array of malloc'd strings (free
// with sf_kube_strv_free).
int sf_kube_list_namespaces(
    const sf_kube_cfg *cfg, long timeout_ms, char ***names, sf_status *st);
void sf_kube_strv_free(char **v);

// sf_kube_list_workloads: Deployments, StatefulSets and DaemonSets of ns
// with their pod-template labels, as a JSON array of {name, kind, labels}
// (new reference, caller decrefs).
int sf_kube_list_workloads(const sf_kube_cfg *cfg, const char *ns,
    long timeout_ms, json_t **out, sf_status *st);

// sf_kube_list_pools: MetalLB address pools as a JSON array of {name,
// addresses: [CIDR or range]}: IPAddressPool objects (metallb.io/v1beta1),
// else kubefake's /_kubefake/metallb/pools. *known is false when the
// cluster has neither (MetalLB is not installed or not readable): then
// addresses cannot be checked.
int sf_kube_list_pools(const sf_kube_cfg *cfg, long timeout_ms, json_t **out,
    bool *known, sf_status *st);

// sf_kube_version reads /version's gitVersion into buf ("v1.32.0").
int sf_kube_version(
    const sf_kube_cfg *cfg, long timeout_ms, char *buf, size_t cap);

#endif // SF_KUBE_H
