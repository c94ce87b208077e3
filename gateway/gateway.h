// gateway.h: svcfleetd's JSON/HTTP gateway and web console, served on its
// HTTP endpoint (ops.h).
//
// The gateway is an RPC client of the server in the same process, through
// libsvcfleet like any other client: every HTTP request becomes one RPC
// (a typed svcfleet_*_with call) over an inproc:// connection, carrying
// the caller's `Authorization: Bearer` token and request id. Authentication,
// RBAC, audit, validation and dedupe are therefore the RPC engine's own —
// there is no second implementation of any of them here. What the gateway
// does is translation: Kubernetes-shaped JSON (or YAML) to protobuf and
// back (objects are shaped by model/'s encoders, as the CLI prints them),
// URL to request fields, and status codes to HTTP codes with a
// Kubernetes `Status` body (INVALID_ARGUMENT → 422 with details.causes,
// NOT_FOUND → 404, ALREADY_EXISTS/ABORTED → 409, PERMISSION_DENIED → 403,
// UNAUTHENTICATED → 401, RESOURCE_EXHAUSTED → 429, UNAVAILABLE → 503, a
// body that cannot be parsed → 400; the full table is in gateway.c).
//
// Routes (under /apis/svcfleet.io/v1; README "JSON/HTTP gateway" has
// examples):
//   clusters                                  GET list, POST register
//   clusters/{c}                              GET, PUT (update), DELETE
//   clusters/{c}/namespaces                   GET (live from the cluster)
//   clusters/{c}/metallb/pools                GET
//   clusters/{c}/services                     GET (all namespaces), watch
//   clusters/{c}/namespaces/{ns}/services     GET list/watch, POST create
//   clusters/{c}/namespaces/{ns}/services/{n} GET, PUT (update; a
//                                             metadata.resourceVersion must
//                                             match), PATCH apply-patch
//                                             (ApplyService), DELETE
//   clusters/{c}/namespaces/{ns}/workloads    GET (pod-template labels)
//   services                                  GET (every cluster), watch
//   audit                                     GET (filters, limit, continue)
//   whoami, version                           GET
//   selfsubjectrulesreviews                   POST: what may I do to
//                                             services at (cluster, ns)?
//   rolebindings[/{id}], tokens[/{id}]        GET, POST, DELETE
// The console: GET / (index.html) and GET /ui/* (its static files,
// compiled into the binary).
#ifndef SF_GATEWAY_H
#define SF_GATEWAY_H

#include <stdint.h>

#include "ops.h"
#include "status.h"

typedef struct sf_gateway sf_gateway;

typedef struct sf_gateway_opts {
	// The server's in-process RPC listener ("inproc://..."). Required.
	const char *go_rpc_url;
	// Deadline of one RPC (watches add their wait); 0 = 30000.
	uint32_t go_timeout_ms;
	// Connect in the background (the listener comes later: svcfleetd
	// on etcd serves /readyz while it waits for etcd; issue 15).
	bool go_connect_later;
} sf_gateway_opts;

// sf_gateway_alloc connects to the RPC listener (which must already be
// listening). Returns 0, or an SF_* code with st set; *out is NULL then.
int sf_gateway_alloc(
    sf_gateway **out, const sf_gateway_opts *o, sf_status *st);

// sf_gateway_add_routes registers the gateway's and the console's routes
// on h (before sf_http_start). Returns 0 or SF_RESOURCE_EXHAUSTED. The
// gateway must outlive h's serving: free h first.
int sf_gateway_add_routes(sf_gateway *g, sf_http *h);

// sf_gateway_authenticate checks a bearer token with the server (WhoAmI):
// 0 when it names someone, SF_UNAUTHENTICATED when not, another code when
// the server cannot say. For the endpoint's gates (/metrics, bodies).
int sf_gateway_authenticate(sf_gateway *g, const char *token);

// sf_gateway_token_gate is an sf_http_gate_fn (arg: the gateway) that lets
// in only requests with a valid bearer token, answering 401 otherwise:
// svcfleetd puts /metrics behind it (--metrics token).
bool sf_gateway_token_gate(
    void *arg, const sf_http_req *req, bool has_body, sf_http_resp *resp);

// sf_gateway_close closes the RPC connection: calls in progress (a watch
// waiting for changes) end at once with UNAVAILABLE, later ones fail the
// same way. Call it before stopping the HTTP endpoint so that stopping
// does not wait for long polls. NULL is fine.
void sf_gateway_close(sf_gateway *g);

// sf_gateway_free closes (if not yet closed) and frees. NULL is fine.
void sf_gateway_free(sf_gateway *g);

#endif // SF_GATEWAY_H
