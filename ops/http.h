// http.h: the HTTP endpoint of svcfleetd and svcfleet-reconciler — /healthz,
// /readyz and /metrics today, the JSON gateway and web console later.
//
// Routing is a table: each route is (method, path or path prefix, handler),
// added before the endpoint starts and matched in the order added (exact
// paths before prefixes is the caller's job). Handlers run on the
// endpoint's own threads, one per connection (libmicrohttpd's
// thread-per-connection mode, with a bound on connections), so a handler
// may block — call the RPC, wait for a long poll — without stalling other
// clients. A request body (up to the endpoint's limit) is read completely
// before the handler runs.
//
// Built-in routes (added by sf_http_alloc):
//   GET /healthz  200 "ok": the process serves HTTP (liveness)
//   GET /readyz   200 "ok" when every readiness check passes, else 503 and
//                 one line per check, "[+]store ok" / "[-]reconciler
//                 failed: ...", like kube-apiserver (?verbose always lists)
//   GET /metrics  the registry in the Prometheus text format (when given)
//
// Address: "HOST:PORT", "http://HOST:PORT" or "https://HOST:PORT" (HOST an
// IPv4 address, a bracketed IPv6 address or a name; PORT 0 picks a free
// port). A bare HOST:PORT serves HTTPS when a certificate and key are
// given, plain HTTP otherwise; an explicit scheme says exactly what to
// serve (https:// without a certificate is an error).
#ifndef SF_HTTP_H
#define SF_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "metrics.h"
#include "status.h"

typedef struct sf_http sf_http;

typedef struct sf_http_opts {
	const char *ho_addr;      // see above; NULL/"" = 127.0.0.1:7071
	const char *ho_tls_cert;  // PEM certificate (chain) file, or NULL
	const char *ho_tls_key;   // PEM key of ho_tls_cert, or NULL
	sf_metrics *ho_metrics;   // rendered on /metrics; NULL: no /metrics
	const char *ho_name;      // in logs: "svcfleetd", "reconciler"
	unsigned    ho_max_conns; // 0 = 64
	size_t      ho_max_body;  // request body limit, 0 = 4 MiB
	unsigned    ho_timeout_s; // idle connection timeout, 0 = 60 s
	// Connections from one peer address, 0 = ho_max_conns / 4: one
	// hostile host cannot take every connection from the probes.
	unsigned ho_max_conns_per_ip;
} sf_http_opts;

// What a handler sees. Strings are borrowed for the handler's duration.
typedef struct sf_http_req {
	const char *hr_method; // "GET", "POST", ...
	const char *hr_path;   // decoded path, without the query
	const char *hr_body;   // NUL-terminated; "" when none
	size_t      hr_body_len;
	void       *hr_conn; // for sf_http_req_header / _query
} sf_http_req;

// What a handler fills. hs_status defaults to 200, hs_type to
// "text/plain; charset=utf-8"; hs_body starts empty. hs_type must be a
// string that outlives the request (a literal).
typedef struct sf_http_resp {
	int         hs_status;
	const char *hs_type;
	sf_buf      hs_body;
	// Up to 4 extra headers (name, value), copied when sent.
	const char *hs_hdr[4][2];
	size_t      hs_nhdr;
} sf_http_resp;

typedef void (*sf_http_handler_fn)(
    void *arg, const sf_http_req *req, sf_http_resp *resp);

// sf_http_req_header returns a request header (case-insensitive name) or
// NULL; sf_http_req_query returns a query argument ("" for a bare ?key)
// or NULL.
const char *sf_http_req_header(const sf_http_req *req, const char *name);
const char *sf_http_req_query(const sf_http_req *req, const char *name);

// A readiness check: true when ready; otherwise it may say why in why.
// Called on an endpoint thread for every /readyz; it must be quick.
typedef bool (*sf_http_check_fn)(void *arg, sf_buf *why);

// sf_http_parse_addr checks an address (see above) without binding it.
// Returns 0 or SF_INVALID_ARGUMENT with a message saying what is wrong.
// tls: whether it will serve HTTPS given whether a certificate is set.
int sf_http_parse_addr(
    const char *addr, bool have_cert, bool *tls, sf_status *st);

// sf_http_alloc makes an endpoint (not yet listening) with the built-in
// routes. Returns 0 or SF_INVALID_ARGUMENT (bad address) /
// SF_RESOURCE_EXHAUSTED with st set. o and its strings are copied; the
// registry is borrowed until sf_http_free.
int sf_http_alloc(sf_http **out, const sf_http_opts *o, sf_status *st);

// sf_http_route adds a route: method ("GET", "POST", ... or "*" for any),
// path ("/api/v1/services"), prefix (true: path and everything under it).
// Only before sf_http_start. Returns 0 or SF_RESOURCE_EXHAUSTED.
int sf_http_route(sf_http *h, const char *method, const char *path,
    bool prefix, sf_http_handler_fn fn, void *arg);

// sf_http_add_check adds a readiness check named name (copied). Only
// before sf_http_start.
int sf_http_add_check(
    sf_http *h, const char *name, sf_http_check_fn fn, void *arg);

// sf_http_start binds and serves. Returns 0, or SF_INVALID_ARGUMENT (the
// address cannot be bound, a certificate that cannot be read or used)
// with st naming the address or file.
int sf_http_start(sf_http *h, sf_status *st);

// sf_http_url returns what is served, e.g. "http://127.0.0.1:40123" (port
// 0 resolved), valid until sf_http_free; "" before start.
const char *sf_http_url(const sf_http *h);

// sf_http_free stops serving (requests in progress finish first) and frees
// the endpoint. NULL is fine.
void sf_http_free(sf_http *h);

#endif // SF_HTTP_H
