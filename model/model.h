// model.h: the Service domain — defaults, validation, update rules, label
// selectors, and conversion between svcfleet's Service message and a
// Kubernetes v1 Service manifest (JSON via jansson, YAML via libyaml).
//
// Validation follows the Kubernetes API server (../shared/notes/
// k8s-service-rules.md: metadata B 8-12, spec D 23-32, 35-36, 41-45,
// node-port range E 52, update rules F 55-60) plus the stricter rules of the
// "Create Service" form (DESIGN §2). Every function that validates reports
// ALL violations it finds into an sf_status, each with a Kubernetes field
// path ("spec.ports[1].nodePort") and a Kubernetes-worded reason, and then
// returns SF_INVALID_ARGUMENT; nothing stops at the first problem.
//
// Memory: messages built or changed here take their memory from the arena
// passed in (strings, arrays, sub-messages), so a request's whole object
// graph is released with its arena. Inputs are never freed here.
#ifndef SF_MODEL_H
#define SF_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "status.h"
#include "svcfleet.pb-c.h"

// The API group of svcfleet's own kinds (Cluster, RoleBinding, ...).
#define SF_MODEL_API_GROUP "svcfleet.io/v1"

typedef Svcfleet__V1__Service       sf_service;
typedef Svcfleet__V1__ServiceSpec   sf_service_spec;
typedef Svcfleet__V1__ServicePort   sf_service_port;
typedef Svcfleet__V1__ObjectMeta    sf_object_meta;
typedef Svcfleet__V1__ClusterStatus sf_cluster_status;
typedef Svcfleet__V1__KeyValue      sf_kv;
typedef Svcfleet__V1__Cluster       sf_cluster;

// Defaults from the form, not Kubernetes, where they differ.
#define SF_MODEL_SESSION_TIMEOUT_DEFAULT 30
#define SF_MODEL_SESSION_TIMEOUT_MAX     86400
#define SF_MODEL_NODE_PORT_MIN_DEFAULT   30000
#define SF_MODEL_NODE_PORT_MAX_DEFAULT   32767
#define SF_MODEL_ANNOTATIONS_MAX_BYTES   262144

// Annotations svcfleet writes into manifests it prints (svcfleet.io/*).
// They are facts, not desired state: stripped when a manifest is read back.
#define SF_ANN_CLUSTER          "svcfleet.io/cluster"
#define SF_ANN_SYNC_STATE       "svcfleet.io/sync-state"
#define SF_ANN_SYNC_MESSAGE     "svcfleet.io/sync-message"
#define SF_ANN_RESOURCE_VERSION "svcfleet.io/resource-version"
#define SF_ANN_CLUSTER_IP       "svcfleet.io/cluster-ip"
#define SF_ANN_NODE_PORTS       "svcfleet.io/node-ports"
// Desired state carried as annotations (kept on read).
#define SF_ANN_ALLOW_ADOPTION "svcfleet.io/allow-adoption"
#define SF_ANN_SELECTOR_FROM  "svcfleet.io/selector-from"
// i19-edit: what the reconciler does when the Service is changed in its
// cluster: Revert (the default: heal it) or Report (record the drift
// event, keep the cluster's change). A user annotation, kept on read.
#define SF_ANN_DRIFT_POLICY    "svcfleet.io/drift-policy"
#define SF_DRIFT_POLICY_REVERT "Revert"
#define SF_DRIFT_POLICY_REPORT "Report"
// Ownership marks the reconciler puts on cluster objects (DESIGN §5).
#define SF_ANN_OWNER        "svcfleet.io/owner"
#define SF_ANN_GENERATION   "svcfleet.io/generation"
#define SF_LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
// MetalLB annotations: the new names win over the deprecated ones.
#define SF_ANN_METALLB_POOL     "metallb.io/address-pool"
#define SF_ANN_METALLB_POOL_OLD "metallb.universe.tf/address-pool"
#define SF_ANN_METALLB_IPS      "metallb.io/loadBalancerIPs"
#define SF_ANN_METALLB_IPS_OLD  "metallb.universe.tf/loadBalancerIPs"

// Per-cluster facts validation needs.
typedef struct sf_model_limits {
	int32_t node_port_min; // 0 = SF_MODEL_NODE_PORT_MIN_DEFAULT
	int32_t node_port_max; // 0 = SF_MODEL_NODE_PORT_MAX_DEFAULT
	// Known MetalLB pools of the cluster, NULL when unknown: then the
	// address is not checked against a pool.
	const Svcfleet__V1__IPPool *const *pools;
	size_t                             npools;
} sf_model_limits;

// ------------------------------------------------------------- defaults

// sf_model_service_defaults fills what the form defaults (DESIGN §2): type
// ClusterIP; protocol TCP; port <-> target port when one is missing;
// session affinity None, and with ClientIP a 30 s timeout; external traffic
// policy Cluster on NodePort/LoadBalancer; lb_type "metallb" when a pool or
// MetalLB address is given on a LoadBalancer, else "other" (an lb_address
// alone reads as "other": only lb_type or a pool says MetalLB; a manifest's
// MetalLB annotations set lb_type explicitly). Missing
// sub-messages (metadata, spec) are created. Idempotent. Returns 0 or
// SF_RESOURCE_EXHAUSTED.
int sf_model_service_defaults(sf_service *svc, sf_arena *a);

// ----------------------------------------------------------- validation

// sf_model_service_validate checks a defaulted Service for create (and the
// new side of an update). cluster/namespace/name come from svc->metadata.
// Returns 0, or SF_INVALID_ARGUMENT with every violation in st and the
// message `Service "x" is invalid: ...` as Kubernetes words it. Fields
// without a Kubernetes field are reported on: metadata.cluster,
// spec.lbType, metadata.annotations[metallb.io/address-pool] (lb_pool),
// metadata.annotations[metallb.io/loadBalancerIPs] (a MetalLB lb_address),
// spec.loadBalancerIP (any other lb_address) and
// metadata.annotations[svcfleet.io/selector-from] (tests/data/README.md).
int sf_model_service_validate(
    const sf_service *svc, const sf_model_limits *lim, sf_status *st);

// sf_model_set_validate_hook installs fn, called at the start of every
// validation of a whole Service (sf_model_service_validate,
// sf_model_service_prepare_update) with the Service and arg; NULL removes
// it. For tests that check where validation runs (issue 17, finding 3).
void sf_model_set_validate_hook(
    void (*fn)(const sf_service *svc, void *arg), void *arg);

// sf_model_service_validate_node_ports checks only what
// sf_model_service_validate says of svc's nodePorts (forbidden on
// ClusterIP, within lim's range, no (protocol, nodePort) twice): for a
// Service validated whole with its nodePorts at 0, whose ports were
// picked since (a FleetService's "Same" ports, on the store's writer).
// O(n log n) in the ports; the validate hook is not called. Returns 0 or
// SF_INVALID_ARGUMENT with the violations in st.
int sf_model_service_validate_node_ports(
    const sf_service *svc, const sf_model_limits *lim, sf_status *st);

// sf_model_service_prepare_update applies Kubernetes' update rules to a
// defaulted new object given the stored old one (F 59-60 where our fields
// are concerned): nodePorts dropped when leaving NodePort/LoadBalancer and
// the new set is a subset of the old; externalTrafficPolicy, lb fields and
// loadBalancerClass cleared when leaving the type that uses them and left
// unchanged. Then validates immutable fields (identity, F 57) and the new
// object as sf_model_service_validate does. Returns 0 or
// SF_INVALID_ARGUMENT with every violation.
int sf_model_service_prepare_update(const sf_service *old, sf_service *nw,
    const sf_model_limits *lim, sf_arena *a, sf_status *st);

// sf_model_spec_equal compares two defaulted specs field by field (order of
// ports and selector pairs matters for ports, not for selector pairs).
bool sf_model_spec_equal(const sf_service_spec *x, const sf_service_spec *y);

// sf_model_kvs_equal compares two label/annotation lists as maps.
bool sf_model_kvs_equal(
    sf_kv *const *x, size_t nx, sf_kv *const *y, size_t ny);

// sf_model_kv_get returns the value for key or NULL.
const char *sf_model_kv_get(sf_kv *const *kvs, size_t n, const char *key);

// Name checks used elsewhere (clusters, namespaces, RBAC scopes). Each
// returns NULL when valid, else a static Kubernetes-worded reason.
const char *sf_model_check_dns1123_label(const char *s);
const char *sf_model_check_dns1035_label(const char *s);
const char *sf_model_check_qualified_name(const char *s);
const char *sf_model_check_label_value(const char *s);

// ------------------------------------------------------ label selectors

typedef struct sf_selector sf_selector;

// sf_selector_parse parses Kubernetes label-selector syntax: "a=b",
// "a==b", "a!=b", "a in (x,y)", "a notin (x)", "a", "!a", comma-joined.
// "" selects everything. Returns 0, or SF_INVALID_ARGUMENT with a message
// naming the problem. Free with sf_selector_free.
int  sf_selector_parse(const char *text, sf_selector **out, sf_status *st);
void sf_selector_free(sf_selector *sel);
// sf_selector_matches tests a label list; a NULL selector matches all.
bool sf_selector_matches(
    const sf_selector *sel, sf_kv *const *labels, size_t n);

// ----------------------------------------------------------- manifests

// sf_manifest_doc: one document of a manifest stream. A Kubernetes List
// (kind List or ServiceList) becomes one document per item, each with the
// List's md_index and its own md_item.
typedef struct sf_manifest_doc {
	json_t *md_obj;   // owned; NULL for an empty document
	int     md_index; // 0-based document index in the stream
	int     md_line;  // 1-based line where the document (or item) starts
	// Added after the first cut; the members above keep their meaning.
	// md_item: the index in the List's items, -1 for a plain document.
	// md_lines: owned and private; read it with sf_manifest_line_of.
	int     md_item;
	json_t *md_lines;
} sf_manifest_doc;

typedef struct sf_manifest_set {
	sf_manifest_doc *ms_docs;
	size_t           ms_ndocs;
} sf_manifest_set;

// sf_manifest_parse reads a stream of YAML documents ("---" separated) or
// JSON (a single object, or a Kubernetes List whose items are expanded into
// documents). A YAML or JSON syntax error fails with SF_INVALID_ARGUMENT
// and a message "<filename>: document <i>: line <l>, column <c>: <problem>".
// Empty documents are skipped. Free with sf_manifest_set_fini.
int  sf_manifest_parse(const char *text, size_t len, const char *filename,
     sf_manifest_set *out, sf_status *st);
void sf_manifest_set_fini(sf_manifest_set *set);

// sf_manifest_line_of maps a violation's field path ("spec.ports[1].port",
// "metadata.annotations[metallb.io/address-pool]", as reported by
// sf_model_service_from_manifest or sf_model_service_validate) to the
// 1-based line of that field in doc's source, or of its closest enclosing
// field that is present (a missing required field points at its parent).
// Positions are known for YAML, and for JSON holding a single document;
// otherwise, and for paths with no source (metadata.cluster given by the
// caller), the document's md_line is returned. 0 when doc is NULL.
int sf_manifest_line_of(const sf_manifest_doc *doc, const char *field);

// sf_model_service_from_manifest converts one Kubernetes v1 Service object
// into a Service (allocated from a). apiVersion must be "v1" and kind
// "Service". cluster: the caller's choice (--cluster); when NULL or "" the
// svcfleet.io/cluster annotation is used; both present and different is a
// violation. namespace defaults to "default" when absent. Output-only facts
// (svcfleet.io/* sync annotations, status, uid, creationTimestamp,
// managedFields, cluster-assigned clusterIP/clusterIPs/ipFamilies/
// ipFamilyPolicy/healthCheckNodePort) are ignored; unsupported features
// (headless clusterIP None, ExternalName, externalIPs, ...) and unknown
// fields are violations with their field paths. metadata.resourceVersion,
// when present, becomes metadata.resource_version (the precondition).
// MetalLB annotations become lb_pool / lb_address. Returns 0 or
// SF_INVALID_ARGUMENT with every violation.
int sf_model_service_from_manifest(const json_t *obj, const char *cluster,
    sf_arena *a, sf_service **out, sf_status *st);

// sf_model_service_to_manifest builds the Kubernetes v1 Service manifest of
// svc: desired spec (requested nodePorts only), user labels and annotations,
// MetalLB annotations for lb_pool / lb_address, svcfleet.io/* facts
// (cluster, sync-state, sync-message, resource-version, cluster-ip,
// node-ports) and status.loadBalancer.ingress. Reading it back with
// sf_model_service_from_manifest yields an equal spec. Returns a new
// reference or NULL when out of memory.
json_t *sf_model_service_to_manifest(const sf_service *svc);

// sf_model_services_to_list wraps manifests in {"apiVersion":"v1",
// "kind":"List","metadata":{},"items":[...]}.
json_t *sf_model_services_to_list(sf_service *const *svcs, size_t n);

// sf_model_json_to_yaml appends obj as one YAML document (block style,
// keys in object order) to out. Returns 0 or SF_RESOURCE_EXHAUSTED.
int sf_model_json_to_yaml(const json_t *obj, sf_buf *out);

// ------------------------------------------- svcfleet's objects as JSON

// One encoder per object, used by the CLI (-o json|yaml) and the JSON
// gateway alike (object_json.c has the shape and why). Each returns a new
// reference, or NULL when out of memory.

// SF_MODEL_JSON_REDACT prints a cluster's token and client key as
// "<redacted>" (the CLI unless --show-credentials).
#define SF_MODEL_JSON_REDACT 1

// A svcfleet.io/v1 Cluster: metadata {name, resourceVersion,
// creationTimestamp, labels}, spec {apiServer, caData (base64), token,
// clientCertificateData, clientKeyData, insecureSkipVerify, nodePortRange
// "30000-32767", hasCredentials}, status {health READY|UNREACHABLE|
// UNAUTHORIZED|UNKNOWN, serverVersion, lastContactTime, message,
// metallbPools [{name, addresses}], createdBy}. flags: SF_MODEL_JSON_*.
json_t *sf_model_cluster_json(const Svcfleet__V1__Cluster *cl, int flags);
// A workload as the apps/v1 object it is (kind Deployment, StatefulSet or
// DaemonSet), reduced to what svcfleet reads: metadata {name, namespace},
// spec.template.metadata.labels.
json_t *sf_model_workload_json(
    const Svcfleet__V1__Workload *w, const char *ns);
// A RoleBinding: metadata {name (the id), creationTimestamp}, role,
// subject {kind User|Group, name}, cluster, namespace, createdBy.
json_t *sf_model_role_binding_json(const Svcfleet__V1__RoleBinding *b);
// A Token (never its secret): metadata {name (the id),
// creationTimestamp}, user, groups, expirationTimestamp, revoked (only
// when true), createdBy, source.
json_t *sf_model_token_json(const Svcfleet__V1__Token *t);
// A token just made: its Token with "secret", the only time it is shown.
json_t *sf_model_new_token_json(const Svcfleet__V1__CreateTokenReply *r);
// A WhoAmI: status {userInfo {username, groups}, tokenID, bindings}.
json_t *sf_model_whoami_json(const Svcfleet__V1__WhoAmIReply *r);
// An AuditEvent: metadata {name (the id, decimal), creationTimestamp (the
// time)}, user {username, groups}, verb ("CreateService"), method,
// objectRef {cluster, namespace, name}, responseStatus {status
// ("NOT_FOUND"), code, message}, requestID, revision.
json_t *sf_model_audit_event_json(const Svcfleet__V1__AuditEvent *ev);
// The same, n of them, as the items of a list (a JSON array; NULL when
// out of memory); v1 Namespaces and metallb.io IPAddressPools too,
// reduced to their names (and the pools' addresses).
json_t *sf_model_clusters_json(
    Svcfleet__V1__Cluster *const *cl, size_t n, int flags);
json_t *sf_model_role_bindings_json(
    Svcfleet__V1__RoleBinding *const *b, size_t n);
json_t *sf_model_tokens_json(Svcfleet__V1__Token *const *t, size_t n);
json_t *sf_model_audit_events_json(
    Svcfleet__V1__AuditEvent *const *ev, size_t n);
json_t *sf_model_workloads_json(
    Svcfleet__V1__Workload *const *w, size_t n, const char *ns);
json_t *sf_model_namespaces_json(char *const *names, size_t n);
json_t *sf_model_pools_json(Svcfleet__V1__IPPool *const *p, size_t n);
// sf_model_cluster_health_name: "READY", ... ("UNKNOWN" for others).
const char *sf_model_cluster_health_name(int state);

// sf_model_json_list wraps items (consumed) in {"apiVersion","kind",
// "metadata":{},"items"}; NULL when items is NULL or out of memory.
json_t *sf_model_json_list(
    const char *api_version, const char *kind, json_t *items);

// The setters the encoders are built with. Each consumes v and skips a
// NULL object or value.
void sf_model_json_set(json_t *obj, const char *key, json_t *v);
// ... a string, unless s is NULL or "".
void sf_model_json_set_str(json_t *obj, const char *key, const char *s);
// ... a time (ms since the epoch) as RFC 3339 UTC with milliseconds,
// unless ms is 0; sf_model_json_format_time writes that form to buf.
void sf_model_json_set_time(json_t *obj, const char *key, int64_t ms);
void sf_model_json_format_time(int64_t ms, char *buf, size_t cap);
// ... a decimal string (Kubernetes writes resource versions and ids as
// strings), unless v is 0.
void sf_model_json_set_u64(json_t *obj, const char *key, uint64_t v);
// Key/value pairs as an object; strings as an array (NULL as "").
json_t *sf_model_json_kv_object(Svcfleet__V1__KeyValue *const *kv, size_t n);
json_t *sf_model_json_str_array(char *const *s, size_t n);

// Helpers for the sync state enum.
const char *sf_model_sync_state_name(Svcfleet__V1__SyncState s); // "SYNCED"
int         sf_model_sync_state_parse(const char *s); // -1 when unknown

// ------------------------------------------ FleetService (issue 18)
//
// fleet.c: the FleetService manifest (DESIGN §10), its cluster selector,
// the JSON merge patch of its overrides, and the rendering of one
// cluster's copy.

typedef Svcfleet__V1__FleetService sf_fleet;
#define SF_MODEL_KIND_FLEET "FleetService"

// sf_model_fleet_is_manifest: does obj say kind FleetService?
bool sf_model_fleet_is_manifest(const json_t *obj);
// sf_model_fleet_from_manifest converts a svcfleet.io/v1 FleetService
// manifest (from a). The template is read with the Service's own
// conversion; its violations carry "spec.template." before their path.
// namespace defaults to "default". Returns 0 or SF_INVALID_ARGUMENT with
// every violation.
int sf_model_fleet_from_manifest(
    const json_t *obj, sf_arena *a, sf_fleet **out, sf_status *st);
// sf_model_fleet_validate adds the violations of a FleetService's own
// fields (placement, nodePorts, override patches) to st; returns 0 or
// SF_RESOURCE_EXHAUSTED.
int sf_model_fleet_validate(const sf_fleet *fs, sf_status *st);
// sf_model_fleet_to_manifest: the manifest of fs with its status. A new
// reference or NULL when out of memory.
json_t *sf_model_fleet_to_manifest(const sf_fleet *fs);
// sf_model_cluster_selected: does a LabelSelector (NULL: none) select the
// cluster record by its labels? {} selects every cluster.
bool sf_model_cluster_selected(
    const Svcfleet__V1__ClusterSelector *sel, const sf_cluster *cl);
// sf_model_fleet_places: does fs's placement name or select cl?
bool sf_model_fleet_places(const sf_fleet *fs, const sf_cluster *cl);
bool sf_model_fleet_override_selects(
    const Svcfleet__V1__FleetOverride *ov, const sf_cluster *cl);
// sf_model_json_merge_patch merges patch into target (RFC 7386); a null
// removing a field target does not have is a violation at path.key.
// Returns 0 or SF_RESOURCE_EXHAUSTED.
int sf_model_json_merge_patch(
    json_t *target, const json_t *patch, const char *path, sf_status *st);
// sf_model_fleet_render renders cl's copy of fs (from a): the template's
// manifest, the overrides selecting cl merged in order, read back as a
// Service and defaulted, metadata.owner "FleetService/<name>". Violations
// (unprefixed: the caller adds clusters[NAME].) go to st and *out is NULL.
// Validation against the cluster is the caller's. Returns 0 or
// SF_RESOURCE_EXHAUSTED.
int sf_model_fleet_render(const sf_fleet *fs, const sf_cluster *cl,
    sf_arena *a, sf_service **out, sf_status *st);

#endif // SF_MODEL_H
