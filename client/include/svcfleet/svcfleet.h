// svcfleet.h: libsvcfleet, the C client of svcfleetd.
//
// One handle per server; it is thread-safe: any number of threads may call
// through one handle at once (each call uses its own nng context). Every
// call is synchronous, has a deadline, and returns a gRPC canonical status
// code (0 = OK) with the details in a svcfleet_status: the server's
// one-line message and, for INVALID_ARGUMENT and some FAILED_PRECONDITION
// replies, every field violation with its Kubernetes field path.
//
// Messages are the protobuf-c types generated from svcfleet.proto
// (svcfleet.pb-c.h). Requests are built by the caller (stack or heap, the
// library only reads them). Replies are allocated by the library; free
// them with svcfleet_free() — unless the call named an allocator of its
// own (svcfleet_call_opts), whose owner then frees them.
//
// Each call sends the handle's token and a fresh request id with the
// handle's timeout as its deadline. A program that calls on behalf of
// others (svcfleetd's JSON gateway: one token and request id per HTTP
// request) sets them per call with the *_with variants and a
// svcfleet_call_opts.
//
// Example:
//   svcfleet_client *c;
//   svcfleet_status  st;
//   svcfleet_options o = {.url = "ipc://./svcfleet-data/svcfleet.sock",
//                         .token = tok};
//   svcfleet_status_init(&st);
//   if (svcfleet_open(&c, &o, &st) != 0) { ...st.message... }
//   Svcfleet__V1__GetServiceRequest req =
//   SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
//   ... req.key = &key;
//   Svcfleet__V1__Service *svc;
//   if (svcfleet_get_service(c, &req, &svc, &st) == 0) { ...;
//   svcfleet_free(svc); } svcfleet_close(c); svcfleet_status_fini(&st);
#ifndef SVCFLEET_H
#define SVCFLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "svcfleet.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SVCFLEET_DECL __attribute__((visibility("default")))

typedef struct svcfleet_client svcfleet_client;

// Status codes: the gRPC canonical codes, as the server sends them. The
// library's build checks every value against svcfleet's own list
// (common/status.h, SF_STATUS_MAP), so the two cannot drift.
enum svcfleet_code {
	SVCFLEET_OK                  = 0,
	SVCFLEET_CANCELLED           = 1,
	SVCFLEET_UNKNOWN             = 2,
	SVCFLEET_INVALID_ARGUMENT    = 3,
	SVCFLEET_DEADLINE_EXCEEDED   = 4,
	SVCFLEET_NOT_FOUND           = 5,
	SVCFLEET_ALREADY_EXISTS      = 6,
	SVCFLEET_PERMISSION_DENIED   = 7,
	SVCFLEET_RESOURCE_EXHAUSTED  = 8,
	SVCFLEET_FAILED_PRECONDITION = 9,
	SVCFLEET_ABORTED             = 10,
	SVCFLEET_OUT_OF_RANGE        = 11,
	SVCFLEET_UNIMPLEMENTED       = 12,
	SVCFLEET_INTERNAL            = 13,
	SVCFLEET_UNAVAILABLE         = 14,
	SVCFLEET_DATA_LOSS           = 15,
	SVCFLEET_UNAUTHENTICATED     = 16,
};

typedef struct svcfleet_violation {
	char *field;  // "spec.ports[1].nodePort"
	char *reason; // "Invalid value: 80: ..."
	char *type;   // "FieldValueInvalid"
} svcfleet_violation;

// svcfleet_status: zero-initialise or svcfleet_status_init; each call
// resets it first; release with svcfleet_status_fini.
typedef struct svcfleet_status {
	int                 code;
	char                message[512];
	svcfleet_violation *violations;
	size_t              n_violations;
	char request_id[40]; // of the last call (39 chars at most)
} svcfleet_status;

SVCFLEET_DECL void svcfleet_status_init(svcfleet_status *st);
SVCFLEET_DECL void svcfleet_status_fini(svcfleet_status *st);

// svcfleet_code_name returns "NOT_FOUND" for 5 ("CODE_<n>" when unknown;
// that string is per thread and overwritten by the next such call).
SVCFLEET_DECL const char *svcfleet_code_name(int code);

// The most server URLs one handle takes (svcfleet_options.url).
#define SVCFLEET_SERVERS_MAX 16

typedef struct svcfleet_options {
	// ipc://PATH, tcp://HOST:PORT or tls+tcp://HOST:PORT. Required.
	// Several servers (svcfleetd replicas on one etcd): a comma list
	// of up to SVCFLEET_SERVERS_MAX URLs. A call then goes to the one
	// that answered last and, when it fails with UNAVAILABLE (server
	// gone, connection lost, a replica without its store), to the next,
	// with the same request id (a write is applied once), until its
	// deadline; a long poll moves likewise.
	const char *url;
	// Bearer token, copied. NULL: none (only Version and Health work).
	const char *token;
	// Deadline of each call; also sent to the server. 0 = 30000.
	uint32_t timeout_ms;
	// Connect at open and fail when the server cannot be reached (true,
	// the CLI's choice), or connect in the background and keep trying
	// (false, for daemons that may start before the server).
	bool connect_now;
	// TLS (tls+tcp:// only). The server's certificate is always
	// verified against ca_file, unless insecure_skip_verify is set.
	const char *ca_file;
	const char *server_name; // default: the URL's host
	bool        insecure_skip_verify;
	// i15-perf: GetService and ListServices normally name the newest
	// revision this handle has seen, so a replica may answer from its
	// watch-fed view (never older than what the handle saw). A handle
	// shared by callers that may also go through other replicas (an
	// HTTP gateway serving many users) sets this: its reads stay
	// linearizable.
	bool linearizable_reads;
} svcfleet_options;

// svcfleet_open connects to a server. Returns 0, or UNAVAILABLE (cannot
// connect, with the reason), INVALID_ARGUMENT (bad URL or TLS files), ...
// On failure *out is NULL.
SVCFLEET_DECL int svcfleet_open(
    svcfleet_client **out, const svcfleet_options *o, svcfleet_status *st);

// svcfleet_shutdown ends the calls in progress on other threads at once
// and makes later calls fail at once, both with UNAVAILABLE ("the client
// is shut down"); it returns when no call is left in progress. The handle
// stays valid until svcfleet_close, so threads that may still call (an
// HTTP server being stopped) can be left to finish. Calling it again is
// harmless. NULL is fine.
SVCFLEET_DECL void svcfleet_shutdown(svcfleet_client *c);

// svcfleet_close ends the calls in progress on other threads (they fail
// with CANCELLED), waits until they have returned, and frees the handle.
// No call may start once it has begun. NULL is fine.
SVCFLEET_DECL void svcfleet_close(svcfleet_client *c);

// The longest request id a call may name; longer ones are refused with
// INVALID_ARGUMENT.
#define SVCFLEET_REQUEST_ID_MAX 63

// svcfleet_call_opts: what one call may set beyond the handle's defaults.
// Zero-initialise it and set what you need; a NULL pointer where one is
// taken means all defaults. Everything is borrowed for the call only.
typedef struct svcfleet_call_opts {
	// Bearer token of this call. NULL: the handle's
	// (svcfleet_options.token); "": none.
	const char *token;
	// Request id (printable ASCII, at most SVCFLEET_REQUEST_ID_MAX
	// characters). The server deduplicates writes by it: a write retried
	// with the same id gets the first answer. NULL or "": a fresh random
	// id, as svcfleet_new_request_id makes.
	const char *request_id;
	// Deadline sent to the server. 0: the handle's timeout.
	uint32_t timeout_ms;
	// How much longer than the deadline to wait for the reply, so that a
	// call that runs out of time ends with the server's own
	// DEADLINE_EXCEEDED and message rather than the library's. 0: none.
	uint32_t grace_ms;
	// Where the reply's memory comes from (an arena, say). NULL: malloc,
	// and the caller frees the reply with svcfleet_free. Otherwise the
	// reply must not be passed to svcfleet_free; it lives as long as the
	// allocator's memory.
	ProtobufCAllocator *allocator;
} svcfleet_call_opts;

// svcfleet_call is the generic call: method is the gRPC-style path
// ("/svcfleet.v1.ServiceManager/GetService"); req is any message;
// reply_desc the expected reply type. timeout_ms 0 = the handle's. On
// success *reply is set (free with svcfleet_free). Errors: the server's
// status, or DEADLINE_EXCEEDED (no reply in time), UNAVAILABLE (no
// connection, or the handle was shut down), CANCELLED (the handle was
// closed), RESOURCE_EXHAUSTED (request larger than the wire limit),
// INTERNAL (undecodable reply). A call whose connection is reset while
// it waits for the reply (svcfleetd reopening its ipc listener) is sent
// once more, with the same request id, when that is safe: reads, and the
// writes svcfleetd deduplicates by request id.
SVCFLEET_DECL int svcfleet_call(svcfleet_client *c, const char *method,
    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
    ProtobufCMessage **reply, uint32_t timeout_ms, svcfleet_status *st);

// svcfleet_call_with is svcfleet_call with per-call options o (NULL: the
// defaults; o->timeout_ms, when set, wins over timeout_ms). Besides
// svcfleet_call's errors: INVALID_ARGUMENT (a request id too long or not
// printable), UNAVAILABLE (after svcfleet_shutdown).
SVCFLEET_DECL int svcfleet_call_with(svcfleet_client *c, const char *method,
    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
    ProtobufCMessage **reply, const svcfleet_call_opts *o,
    svcfleet_status *st);

// svcfleet_free frees a reply (any message type). NULL is fine.
SVCFLEET_DECL void svcfleet_free(void *reply);

// svcfleet_new_request_id writes a fresh random id (32 hex chars).
SVCFLEET_DECL void svcfleet_new_request_id(char out[33]);

// One typed call per method of svcfleet.proto, and its variant with
// per-call options (svcfleet_call_opts; NULL: the defaults):
//   int svcfleet_<method>(svcfleet_client *, const <Request> *,
//                         <Reply> **reply, svcfleet_status *);
//   int svcfleet_<method>_with(svcfleet_client *, const <Request> *,
//                         <Reply> **reply, const svcfleet_call_opts *,
//                         svcfleet_status *);
// XX(service, Method, snake_name, RequestType, ReplyType, reply_descriptor)
// A unit test (client/lib/methods_test.c) checks this list against the
// proto's service descriptors: every method once, with its request and
// reply types, and nothing else.
#define SVCFLEET_METHODS(XX)                                                  \
	XX(ServiceManager, CreateService, create_service,                     \
	    Svcfleet__V1__CreateServiceRequest, Svcfleet__V1__Service,        \
	    svcfleet__v1__service__descriptor)                                \
	XX(ServiceManager, GetService, get_service,                           \
	    Svcfleet__V1__GetServiceRequest, Svcfleet__V1__Service,           \
	    svcfleet__v1__service__descriptor)                                \
	XX(ServiceManager, UpdateService, update_service,                     \
	    Svcfleet__V1__UpdateServiceRequest, Svcfleet__V1__Service,        \
	    svcfleet__v1__service__descriptor)                                \
	XX(ServiceManager, ApplyService, apply_service,                       \
	    Svcfleet__V1__ApplyServiceRequest,                                \
	    Svcfleet__V1__ApplyServiceReply,                                  \
	    svcfleet__v1__apply_service_reply__descriptor)                    \
	XX(ServiceManager, DeleteService, delete_service,                     \
	    Svcfleet__V1__DeleteServiceRequest,                               \
	    Svcfleet__V1__DeleteServiceReply,                                 \
	    svcfleet__v1__delete_service_reply__descriptor)                   \
	XX(ServiceManager, ListServices, list_services,                       \
	    Svcfleet__V1__ListServicesRequest,                                \
	    Svcfleet__V1__ListServicesReply,                                  \
	    svcfleet__v1__list_services_reply__descriptor)                    \
	XX(ServiceManager, WatchServices, watch_services,                     \
	    Svcfleet__V1__WatchServicesRequest,                               \
	    Svcfleet__V1__WatchServicesReply,                                 \
	    svcfleet__v1__watch_services_reply__descriptor)                   \
	XX(ServiceManager, ReportStatus, report_status,                       \
	    Svcfleet__V1__ReportStatusRequest,                                \
	    Svcfleet__V1__ReportStatusReply,                                  \
	    svcfleet__v1__report_status_reply__descriptor)                    \
	XX(ServiceManager, ReportStatuses, report_statuses,                   \
	    Svcfleet__V1__ReportStatusesRequest,                              \
	    Svcfleet__V1__ReportStatusesReply,                                \
	    svcfleet__v1__report_statuses_reply__descriptor)                  \
	XX(ClusterRegistry, RegisterCluster, register_cluster,                \
	    Svcfleet__V1__RegisterClusterRequest, Svcfleet__V1__Cluster,      \
	    svcfleet__v1__cluster__descriptor)                                \
	XX(ClusterRegistry, GetCluster, get_cluster,                          \
	    Svcfleet__V1__GetClusterRequest, Svcfleet__V1__Cluster,           \
	    svcfleet__v1__cluster__descriptor)                                \
	XX(ClusterRegistry, ListClusters, list_clusters,                      \
	    Svcfleet__V1__ListClustersRequest,                                \
	    Svcfleet__V1__ListClustersReply,                                  \
	    svcfleet__v1__list_clusters_reply__descriptor)                    \
	XX(ClusterRegistry, UpdateCluster, update_cluster,                    \
	    Svcfleet__V1__UpdateClusterRequest, Svcfleet__V1__Cluster,        \
	    svcfleet__v1__cluster__descriptor)                                \
	XX(ClusterRegistry, DeleteCluster, delete_cluster,                    \
	    Svcfleet__V1__DeleteClusterRequest, Svcfleet__V1__Empty,          \
	    svcfleet__v1__empty__descriptor)                                  \
	XX(ClusterRegistry, ListNamespaces, list_namespaces,                  \
	    Svcfleet__V1__ListNamespacesRequest,                              \
	    Svcfleet__V1__ListNamespacesReply,                                \
	    svcfleet__v1__list_namespaces_reply__descriptor)                  \
	XX(ClusterRegistry, ListWorkloads, list_workloads,                    \
	    Svcfleet__V1__ListWorkloadsRequest,                               \
	    Svcfleet__V1__ListWorkloadsReply,                                 \
	    svcfleet__v1__list_workloads_reply__descriptor)                   \
	XX(ClusterRegistry, ListPools, list_pools,                            \
	    Svcfleet__V1__ListPoolsRequest, Svcfleet__V1__ListPoolsReply,     \
	    svcfleet__v1__list_pools_reply__descriptor)                       \
	XX(ClusterRegistry, ReportClusterHealth, report_cluster_health,       \
	    Svcfleet__V1__ReportClusterHealthRequest, Svcfleet__V1__Empty,    \
	    svcfleet__v1__empty__descriptor)                                  \
	XX(AccessControl, CreateRoleBinding, create_role_binding,             \
	    Svcfleet__V1__CreateRoleBindingRequest,                           \
	    Svcfleet__V1__RoleBinding,                                        \
	    svcfleet__v1__role_binding__descriptor)                           \
	XX(AccessControl, DeleteRoleBinding, delete_role_binding,             \
	    Svcfleet__V1__DeleteRoleBindingRequest, Svcfleet__V1__Empty,      \
	    svcfleet__v1__empty__descriptor)                                  \
	XX(AccessControl, ListRoleBindings, list_role_bindings,               \
	    Svcfleet__V1__ListRoleBindingsRequest,                            \
	    Svcfleet__V1__ListRoleBindingsReply,                              \
	    svcfleet__v1__list_role_bindings_reply__descriptor)               \
	XX(AccessControl, CreateToken, create_token,                          \
	    Svcfleet__V1__CreateTokenRequest, Svcfleet__V1__CreateTokenReply, \
	    svcfleet__v1__create_token_reply__descriptor)                     \
	XX(AccessControl, RevokeToken, revoke_token,                          \
	    Svcfleet__V1__RevokeTokenRequest, Svcfleet__V1__Empty,            \
	    svcfleet__v1__empty__descriptor)                                  \
	XX(AccessControl, ListTokens, list_tokens,                            \
	    Svcfleet__V1__ListTokensRequest, Svcfleet__V1__ListTokensReply,   \
	    svcfleet__v1__list_tokens_reply__descriptor)                      \
	XX(AccessControl, WhoAmI, who_am_i, Svcfleet__V1__WhoAmIRequest,      \
	    Svcfleet__V1__WhoAmIReply,                                        \
	    svcfleet__v1__who_am_ireply__descriptor)                          \
	XX(Audit, ListAuditEvents, list_audit_events,                         \
	    Svcfleet__V1__ListAuditEventsRequest,                             \
	    Svcfleet__V1__ListAuditEventsReply,                               \
	    svcfleet__v1__list_audit_events_reply__descriptor)                \
	XX(System, Version, version, Svcfleet__V1__Empty,                     \
	    Svcfleet__V1__VersionReply,                                       \
	    svcfleet__v1__version_reply__descriptor)                          \
	XX(System, Health, health, Svcfleet__V1__Empty,                       \
	    Svcfleet__V1__HealthReply,                                        \
	    svcfleet__v1__health_reply__descriptor)                           \
	/* Reconciler claims (issue 16). */                                   \
	XX(ClusterRegistry, RegisterReconciler, register_reconciler,          \
	    Svcfleet__V1__RegisterReconcilerRequest,                          \
	    Svcfleet__V1__ReconcilerLease,                                    \
	    svcfleet__v1__reconciler_lease__descriptor)                       \
	XX(ClusterRegistry, RenewReconciler, renew_reconciler,                \
	    Svcfleet__V1__RenewReconcilerRequest,                             \
	    Svcfleet__V1__ReconcilerLease,                                    \
	    svcfleet__v1__reconciler_lease__descriptor)                       \
	XX(ClusterRegistry, UnregisterReconciler, unregister_reconciler,      \
	    Svcfleet__V1__UnregisterReconcilerRequest, Svcfleet__V1__Empty,   \
	    svcfleet__v1__empty__descriptor)                                  \
	XX(ClusterRegistry, ListReconcilers, list_reconcilers,                \
	    Svcfleet__V1__ListReconcilersRequest,                             \
	    Svcfleet__V1__ListReconcilersReply,                               \
	    svcfleet__v1__list_reconcilers_reply__descriptor)                 \
	/* i19: history and rollback */                                       \
	XX(ServiceManager, GetServiceHistory, get_service_history,            \
	    Svcfleet__V1__GetServiceHistoryRequest,                           \
	    Svcfleet__V1__ServiceHistory,                                     \
	    svcfleet__v1__service_history__descriptor)                        \
	XX(ServiceManager, RollbackService, rollback_service,                 \
	    Svcfleet__V1__RollbackServiceRequest, Svcfleet__V1__Service,      \
	    svcfleet__v1__service__descriptor)                                \
	XX(ServiceManager, ReportDrift, report_drift,                         \
	    Svcfleet__V1__ReportDriftRequest, Svcfleet__V1__Empty,            \
	    svcfleet__v1__empty__descriptor)                                  \
	SVCFLEET_METHODS_FLEET(XX)

// FleetService (issue 18): the FleetManager's calls.
#define SVCFLEET_METHODS_FLEET(XX)                                            \
	XX(FleetManager, ApplyFleetService, apply_fleet_service,              \
	    Svcfleet__V1__ApplyFleetServiceRequest,                           \
	    Svcfleet__V1__ApplyFleetServiceReply,                             \
	    svcfleet__v1__apply_fleet_service_reply__descriptor)              \
	XX(FleetManager, GetFleetService, get_fleet_service,                  \
	    Svcfleet__V1__GetFleetServiceRequest, Svcfleet__V1__FleetService, \
	    svcfleet__v1__fleet_service__descriptor)                          \
	XX(FleetManager, ListFleetServices, list_fleet_services,              \
	    Svcfleet__V1__ListFleetServicesRequest,                           \
	    Svcfleet__V1__ListFleetServicesReply,                             \
	    svcfleet__v1__list_fleet_services_reply__descriptor)              \
	XX(FleetManager, DeleteFleetService, delete_fleet_service,            \
	    Svcfleet__V1__DeleteFleetServiceRequest,                          \
	    Svcfleet__V1__DeleteFleetServiceReply,                            \
	    svcfleet__v1__delete_fleet_service_reply__descriptor)             \
	XX(FleetManager, ConvertService, convert_service,                     \
	    Svcfleet__V1__ConvertServiceRequest,                              \
	    Svcfleet__V1__ApplyFleetServiceReply,                             \
	    svcfleet__v1__apply_fleet_service_reply__descriptor)              \
	XX(FleetManager, Addresses, addresses,                                \
	    Svcfleet__V1__AddressesRequest, Svcfleet__V1__AddressesReply,     \
	    svcfleet__v1__addresses_reply__descriptor)

#define SVCFLEET_DECLARE_CALL(svc, Method, snake, Req, Rep, rdesc)    \
	SVCFLEET_DECL int svcfleet_##snake(svcfleet_client *c,        \
	    const Req *req, Rep **reply, svcfleet_status *st);        \
	SVCFLEET_DECL int svcfleet_##snake##_with(svcfleet_client *c, \
	    const Req *req, Rep **reply, const svcfleet_call_opts *o, \
	    svcfleet_status *st);
SVCFLEET_METHODS(SVCFLEET_DECLARE_CALL)
#undef SVCFLEET_DECLARE_CALL

// svcfleet_watch_services_wait is WatchServices with the call's deadline
// stretched to cover req->wait_ms (5 s more than it, at least the
// handle's timeout).
SVCFLEET_DECL int svcfleet_watch_services_wait(svcfleet_client *c,
    const Svcfleet__V1__WatchServicesRequest                   *req,
    Svcfleet__V1__WatchServicesReply **reply, svcfleet_status *st);

// i15-perf: svcfleet_seen_revision is the newest store revision a reply
// on this handle carried. GetService and ListServices send it, so a read
// through any replica returns data at least as new as every write this
// handle saw acknowledged (DESIGN §9). 0 before any reply.
SVCFLEET_DECL uint64_t svcfleet_seen_revision(svcfleet_client *c);
// svcfleet_use_server makes the next call of a handle opened with several
// URLs go to the i-th (from 0) first, while it is connected (an operator
// pinning a replica; tests). INVALID_ARGUMENT when there is no i-th URL.
SVCFLEET_DECL int svcfleet_use_server(svcfleet_client *c, size_t i);

#ifdef __cplusplus
}
#endif

#endif // SVCFLEET_H
