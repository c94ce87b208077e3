// etcd_client.h: the etcd backend's client of etcd's v3 JSON gateway.
//
// Not part of the store's API. One client talks to every endpoint of an
// etcd cluster over HTTP/1.1 keep-alive connections (libcurl), bodies in
// JSON (jansson), keys and values base64 as the gateway wants them. A call
// goes to the endpoint that answered last; when it fails it moves on to
// the next one, until one answers or the call's retry budget is spent.
// Every call may therefore reach etcd more than once: the backend only
// sends requests that are harmless to repeat (reads, compactions) or that
// check themselves (transactions with a create-if-absent compare on a
// marker key; etcd_writer.c), and the client says when a repeat happened
// after an answer was lost (*ambiguous).
//
// Errors from curl, HTTP and etcd become SF_* codes in exactly one
// function, sf__store_etcd_status (etcd_client.c).
//
// Thread-safety: every function may be called from any thread; a stream
// belongs to the thread that runs it (sf__store_etcd_stream_wake excepted).
#ifndef SF_STORE_ETCD_CLIENT_H
#define SF_STORE_ETCD_CLIENT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct sf__store_etcd        sf__store_etcd;
typedef struct sf__store_etcd_stream sf__store_etcd_stream;

typedef struct sf__store_etcd_opts {
	const char *eo_endpoints;  // "http://a:2379,https://b:2379"
	const char *eo_ca_file;    // PEM CA bundle for https (NULL: system)
	const char *eo_cert_file;  // client certificate (PEM), may be NULL
	const char *eo_key_file;   // its key (PEM), may be NULL
	int32_t     eo_timeout_ms; // one HTTP request, 0 = 2000
	int32_t     eo_retry_ms;   // one call across endpoints, 0 = 10000
	// etcd's --max-request-bytes, 0 = its default 1.5 MiB: a request
	// whose keys and values come to more is refused before it is sent.
	uint32_t eo_max_request_bytes;
} sf__store_etcd_opts;

#define SF__STORE_ETCD_ENDPOINTS_MAX 16
// etcd's default --max-request-bytes (1.5 MiB).
#define SF__STORE_ETCD_MAX_REQUEST (1536u * 1024u)

// sf__store_etcd_open parses the endpoints (SF_INVALID_ARGUMENT when there are
// none or one is not an http:// or https:// URL) and makes the client; it
// does not connect yet.
int sf__store_etcd_open(
    sf__store_etcd **out, const sf__store_etcd_opts *o, sf_status *st);
void sf__store_etcd_close(sf__store_etcd *c);

// The endpoints, comma-separated, for messages.
const char *sf__store_etcd_endpoints(const sf__store_etcd *c);

// sf__store_etcd_call POSTs req to /v3/<path> and returns etcd's answer in
// *resp (the caller json_decref()s it). what names the object the request is
// about, for error messages ("service dev/web in cluster east"). On
// failure *resp is NULL and st has the translated error; *ambiguous (may
// be NULL) tells whether a request was sent and its answer lost, so it may
// have been applied. req is borrowed.
int sf__store_etcd_call(sf__store_etcd *c, const char *path, json_t *req,
    const char *what, json_t **resp, bool *ambiguous, sf_status *st);

// sf__store_etcd_call_timeout is sf__store_etcd_call with a retry budget of
// its own (ms; a per-request timeout no longer than it).
int sf__store_etcd_call_timeout(sf__store_etcd *c, const char *path,
    json_t *req, const char *what, int32_t budget_ms, json_t **resp,
    bool *ambiguous, sf_status *st);

// sf__store_etcd_rotate makes the client prefer the next endpoint (a member
// that answers but lags, as a watch that stopped moving shows).
void sf__store_etcd_rotate(sf__store_etcd *c);

// Streams (watch) --------------------------------------------------------

// A stream's line callback gets each "result" object of the answer. It
// returns 0 to go on, 1 to end the stream (sf__store_etcd_stream_run returns
// 0), or an SF_* code (with st set) to fail it.
typedef int (*sf__store_etcd_line_fn)(
    void *arg, json_t *result, sf_status *st);

// sf__store_etcd_stream_new makes a stream handle; sf__store_etcd_stream_run
// POSTs req to /v3/<path> on the endpoint the client prefers and passes each
// answer line to fn until fn ends it, the server closes it, timeout_ms passes
// (0: never) or sf__store_etcd_stream_wake is called from another thread.
// Returns 0 when fn ended the stream, SF_CANCELLED when woken, or the
// translated error (the stream ended or failed: the caller moves on and
// resumes). A stream that failed makes the client prefer the next endpoint.
int  sf__store_etcd_stream_new(sf__store_etcd *c, sf__store_etcd_stream **out);
void sf__store_etcd_stream_free(sf__store_etcd_stream *s);
int  sf__store_etcd_stream_run(sf__store_etcd_stream *s, const char *path,
     json_t *req, int32_t timeout_ms, sf__store_etcd_line_fn fn, void *arg,
     sf_status *st);
void sf__store_etcd_stream_wake(sf__store_etcd_stream *s);

// JSON helpers -----------------------------------------------------------

// sf__store_etcd_b64 returns a json string of base64(p, n), or NULL.
json_t *sf__store_etcd_b64(const void *p, size_t n);
// sf__store_etcd_unb64 decodes the base64 string field k of o into a malloc'd
// buffer (NUL-terminated; *n without the NUL). A missing field is empty
// (the gateway leaves out empty values). Returns 0 or -1.
int sf__store_etcd_unb64(
    const json_t *o, const char *k, uint8_t **out, size_t *n);
// sf__store_etcd_i64 reads an int64 field, which the gateway sends as a string
// and leaves out when 0.
int64_t sf__store_etcd_i64(const json_t *o, const char *k);
// sf__store_etcd_rev is the header revision of an answer (0 when absent).
uint64_t sf__store_etcd_rev(const json_t *resp);
// The decimal string of v, as a new json string.
json_t *sf__store_etcd_str64(int64_t v);

// Test hooks -------------------------------------------------------------

// A fault hook, called for every request with its path: phase 0 before it
// is sent (nonzero: do not send it, behave as if it timed out), phase 1
// after its answer came (nonzero: drop the answer, behave as if the
// connection broke). NULL removes it.
typedef int (*sf__store_etcd_fault_fn)(void *arg, const char *path, int phase);
void sf__store_etcd_set_fault(
    sf__store_etcd *c, sf__store_etcd_fault_fn fn, void *arg);

#endif // SF_STORE_ETCD_CLIENT_H
