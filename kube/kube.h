// kube.h: a small Kubernetes API client over libcurl — how svcfleet talks
// to a cluster's API server.
//
// A cluster's connection settings (sf_kube_cfg) come from its svcfleet
// cluster record: API server URL, CA bundle, bearer token or client
// certificate and key. Certificate verification is always on unless the
// record explicitly says insecure_skip_verify.
//
// It also reads kubeconfig files (sf_kube_kubeconfig_load), so a cluster
// can be registered from what kubectl uses.
//
// A request (sf_kube_req) wraps one curl easy handle. It is driven either
// by a caller's curl multi handle (the reconciler's per-cluster workers) or
// synchronously by sf_kube_perform (the server's live reads). Responses are
// collected into memory, or, for watches, handed line by line to a callback.
// Errors are translated in exactly one place, sf_kube_outcome(), into an
// outcome class plus the cluster's own words (a Status message, which for a
// 422 carries every cause) or curl's: callers switch on the class and never
// look at a CURLcode themselves.
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

#include "arena.h"
#include "buf.h"
#include "model.h"
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
	// i19-ssd: the largest answer kept (0: 256 MiB); a longer one fails
	// the transfer with kr_too_big set. Kept across sf_kube_req_setup.
	size_t kr_body_max;
	bool   kr_too_big;
} sf_kube_req;

// sf_kube_req_setup prepares r for one request (reusing its easy handle):
// method "GET", "PATCH", "DELETE", ...; path with query ("/api/v1/..."),
// content type and body (may be NULL; the body is copied); timeout_ms 0 =
// none (watches). Returns 0 or SF_RESOURCE_EXHAUSTED.
int sf_kube_req_setup(sf_kube_req *r, const sf_kube_cfg *cfg,
    const char *method, const char *path, const char *ctype, const char *body,
    long timeout_ms);
// sf_kube_req_add_header adds one header line ("Name: value") to a
// request set up by sf_kube_req_setup. Returns 0 or SF_RESOURCE_EXHAUSTED.
int sf_kube_req_add_header(sf_kube_req *r, const char *line);
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
	// No HTTP answer. UNREACHABLE: no connection at all, the name does not
	// resolve or the host refuses (nothing listens there: the cluster is
	// down, not slow); TRANSPORT: anything else, TLS, a reset, a timeout
	// (possibly passing).
	SF_KUBE_TRANSPORT,
	SF_KUBE_UNREACHABLE,
};

// sf_kube_class_answered: the API server answered (with any HTTP status),
// as opposed to SF_KUBE_TRANSPORT and SF_KUBE_UNREACHABLE.
static inline bool
sf_kube_class_answered(int cls)
{
	return (cls != SF_KUBE_TRANSPORT && cls != SF_KUBE_UNREACHABLE);
}

// sf_kube_outcome classifies a finished request (cc is curl's result) and
// writes one line for a human into msg: the Status message the cluster
// sent, else "HTTP 503: <start of body>", else curl's error text.
int sf_kube_outcome(const sf_kube_req *r, CURLcode cc, char *msg, size_t cap);

// sf_kube_class_name returns "not found", "throttled", ... for logs.
const char *sf_kube_class_name(int cls);

// sf_kube_query_escape appends s to b percent-encoded for a query value
// (or a path segment: only unreserved characters stay as they are).
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

// Where MetalLB's address pools are read: its IPAddressPool objects
// (metallb.io/v1beta1, every namespace), else kubefake's simulation of
// them (read with sf_kube_pools_parse's kubefake set).
#define SF_KUBE_POOLS_PATH          "/apis/metallb.io/v1beta1/ipaddresspools"
#define SF_KUBE_POOLS_KUBEFAKE_PATH "/_kubefake/metallb/pools"

// sf_kube_list_pools: MetalLB address pools as a JSON array of {name,
// addresses: [CIDR or range]}, from SF_KUBE_POOLS_PATH, else
// SF_KUBE_POOLS_KUBEFAKE_PATH. *known is false when the cluster has
// neither (MetalLB is not installed or not readable): then addresses
// cannot be checked.
int sf_kube_list_pools(const sf_kube_cfg *cfg, long timeout_ms, json_t **out,
    bool *known, sf_status *st);

// sf_kube_version reads /version's gitVersion into buf ("v1.32.0").
int sf_kube_version(
    const sf_kube_cfg *cfg, long timeout_ms, char *buf, size_t cap);

// ------------------------------------------------------- kubeconfig

// sf_kube_kubeconfig_load reads, as kubectl does, the API server, trust
// and credentials of one context of the kubeconfig at path (context NULL:
// its current-context) into cl: api_server, ca_data, insecure_skip_verify,
// token, client_cert and client_key. CA, certificate, key and token come
// inline (base64 "-data", token) or from files named relative to the
// kubeconfig's directory. Exec plugins, auth providers and passwords are
// refused (svcfleet stores the credential); a cluster that skips TLS
// verification only with allow_insecure. The other fields of cl are left
// alone; what is set points into a, valid until a is reset or freed.
// Returns 0, or SF_INVALID_ARGUMENT, SF_NOT_FOUND (no such context) or
// SF_RESOURCE_EXHAUSTED with st's message naming the file and the reason
// (its words for context and allow_insecure are the --context and
// --insecure-skip-tls-verify of `svcfleet cluster add`).
int sf_kube_kubeconfig_load(const char *path, const char *context,
    bool allow_insecure, sf_arena *a, Svcfleet__V1__Cluster *cl,
    sf_status *st);

// ------------------------------------------------------- reading answers
//
// What svcfleet reads from an API server, as pure functions of the bytes
// received (kube_parse.c): no request, worker or curl state. The
// reconciler's workers and the live reads above call exactly these, and
// tests/fuzz/fuzz_apiserver.c feeds them arbitrary bytes. Bodies need not
// be NUL-terminated. Strings handed back are borrowed from the parsed
// document unless said otherwise; JSON strings never contain a NUL.

// sf_kube_json_parse parses an answer: one JSON object or array, nothing
// after it. A new reference, or NULL when the body is anything else.
json_t *sf_kube_json_parse(const char *body, size_t len);

// sf_kube_code_class maps an HTTP status to an outcome class: 2xx is
// SF_KUBE_OK, see enum sf_kube_class for the rest.
int sf_kube_code_class(long code);

// sf_kube_error_message writes into msg (cap > 0) the one line a human gets
// for an error answer with HTTP status code: the message of the Status in
// body (for a 422 Kubernetes lists every cause in it), else "HTTP 503:
// <start of body>", else "HTTP 503".
void sf_kube_error_message(
    long code, const char *body, size_t len, char *msg, size_t cap);

// sf_kube_one_line copies s into msg (cap > 0) as one line of valid UTF-8:
// control characters become spaces, bytes that are not UTF-8 '?', trailing
// spaces go, and a character that does not fit is left out whole.
void sf_kube_one_line(char *msg, size_t cap, const char *s);

// The longest line of a stream (a watch event is one object).
#define SF_KUBE_LINE_MAX (16u << 20)

// sf_kube_lines_feed cuts a stream's bytes p[0..n) into lines and calls fn
// for each complete, non-empty line (without its '\n', NUL-terminated). A
// line's start that has not ended yet is kept in *partial for the next call.
// Returns false when fn asked to stop or a line grew beyond SF_KUBE_LINE_MAX;
// the stream must not be fed further then.
bool sf_kube_lines_feed(
    sf_buf *partial, const char *p, size_t n, sf_kube_line_fn fn, void *arg);

// A Kubernetes object's identity, read from its metadata.
#define SF_KUBE_KEY_MAX 400 // "namespace/name", NUL included
#define SF_KUBE_RV_MAX  32  // a resourceVersion the worker keeps, NUL too

typedef struct sf_kube_meta {
	const char *km_ns;   // metadata.namespace, NULL when absent
	const char *km_name; // metadata.name, NULL when absent
	const char *km_rv;   // metadata.resourceVersion, NULL when absent
	                     // or too long to keep (SF_KUBE_RV_MAX)
	uint64_t km_rv_num;  // km_rv as a number, 0 when not one
	// Both namespace and name are there and are DNS labels, as every
	// Kubernetes namespace and Service name is; an object named otherwise
	// cannot be a Service and has no key.
	bool km_has_key;
	char km_key[SF_KUBE_KEY_MAX]; // "namespace/name", or ""
} sf_kube_meta;

// sf_kube_meta_read reads obj's metadata into m (obj may be NULL or not an
// object: then nothing is there).
void sf_kube_meta_read(const json_t *obj, sf_kube_meta *m);

// Watch event types.
enum sf_kube_event_type {
	SF_KUBE_EV_NONE = 0, // no "type": the line is skipped
	SF_KUBE_EV_ADDED,
	SF_KUBE_EV_MODIFIED,
	SF_KUBE_EV_DELETED,
	SF_KUBE_EV_BOOKMARK,
	SF_KUBE_EV_ERROR,   // object is a Status; the watch is over
	SF_KUBE_EV_UNKNOWN, // a type this client does not know
};

// One line of a watch stream.
typedef struct sf_kube_event {
	json_t       *ev_doc;     // the parsed line (owned)
	int           ev_type;    // SF_KUBE_EV_*
	const json_t *ev_object;  // "object", NULL when absent
	sf_kube_meta  ev_meta;    // ev_object's identity and version
	int64_t       ev_code;    // ERROR: the Status's code (410: expired)
	const char   *ev_message; // ERROR: its message, NULL when absent
} sf_kube_event;

// sf_kube_event_parse reads one watch line. Returns 0, or
// SF_INVALID_ARGUMENT when the line is not JSON as sf_kube_json_parse
// takes it (ev is empty then). Release with sf_kube_event_fini (also after a
// failure).
int  sf_kube_event_parse(sf_kube_event *ev, const char *line, size_t len);
void sf_kube_event_fini(sf_kube_event *ev);

// One page of a list.
typedef struct sf_kube_list {
	json_t       *li_doc;      // the parsed page (owned)
	const json_t *li_items;    // "items": an array or JSON null
	const char   *li_continue; // metadata.continue, NULL when absent
	const char   *li_rv;       // metadata.resourceVersion, NULL: absent
	                           // or too long (as km_rv)
} sf_kube_list;

// sf_kube_list_parse reads a list page. Returns 0, or SF_INVALID_ARGUMENT
// when the body is not JSON or has no "items" array (null counts as an
// empty one); l is empty then. Items are read with
// json_array_size/json_array_get on li_items. Release with
// sf_kube_list_fini (also after a failure).
int  sf_kube_list_parse(sf_kube_list *l, const char *body, size_t len);
void sf_kube_list_fini(sf_kube_list *l);

// sf_kube_version_parse writes /version's gitVersion into buf (cap > 0;
// "" when absent) as sf_kube_one_line does. Returns 0 or SF_INVALID_ARGUMENT
// (not JSON).
int sf_kube_version_parse(const char *body, size_t len, char *buf, size_t cap);

// sf_kube_pools_parse reads MetalLB address pools: an IPAddressPoolList,
// or with kubefake set kubefake's [{name, addresses, ...}], into *out: a
// JSON array of {name, addresses: [string]} (new reference). Pools without
// a name are left out. Returns 0, SF_INVALID_ARGUMENT (not JSON; *out
// NULL) or SF_RESOURCE_EXHAUSTED.
int sf_kube_pools_parse(
    const char *body, size_t len, bool kubefake, json_t **out);

// sf_kube_namespaces_parse reads a NamespaceList into *names (as
// sf_kube_list_namespaces). Returns 0, SF_INVALID_ARGUMENT (not a list, as
// sf_kube_list_parse) or SF_RESOURCE_EXHAUSTED; *names is NULL unless 0.
int sf_kube_namespaces_parse(const char *body, size_t len, char ***names);

// sf_kube_workloads_parse appends the items of a Deployment, StatefulSet
// or DaemonSet list to all as {name, kind, labels} (kind as given).
// Returns 0, SF_INVALID_ARGUMENT (not a list) or SF_RESOURCE_EXHAUSTED.
int sf_kube_workloads_parse(
    const char *body, size_t len, const char *kind, json_t *all);

// ------------------------------------------------------- apply bodies
//
// What the reconciler sends to a cluster (kube_body.c), and how it tells
// whether a cluster object still matches it — without keeping either
// object. svcfleetd builds the same body for `diff --server-side` (issue
// 19), so a cluster's dry run answers exactly what the reconciler would
// apply.
//
//
// The apply body is the Kubernetes manifest of the desired Service
// (model.h) cut down to exactly the fields svcfleet owns, plus the
// managed-by label and the owner/generation annotations (DESIGN §5), and
// svcfleet.io/cluster naming the cluster record: an object is this
// reconciler's only when both owner and cluster record match, so two
// records that name one physical cluster never garbage-collect each
// other's Services.
//
// Comparison works on hashes. The desired side hashes a canonical form of
// the body. The cluster side hashes the cluster object projected onto the
// fields that manager "svcfleet" owns there (its Apply entry in
// metadata.managedFields), in the same canonical form. The two hashes are
// equal exactly when the cluster holds every field svcfleet applied with
// the value it applied: server-side apply moves a field's ownership to
// whoever changes it (kubectl edit, another applier with force), so an
// out-of-band edit shows as a projection that lacks that field. Neither
// side needs the other's object, and the reconciler keeps 64 bits per side
// instead of a JSON document per object.
#define SF_KUBE_FIELD_MANAGER "svcfleet"

// sf_kube_body builds the server-side apply body of svc (a defaulted,
// stored Service) for installation owner: *json is compact JSON
// (malloc'd), *want the canonical hash. Either may be NULL when the
// caller does not need it (each costs about as much as building the
// body). Returns 0 or SF_RESOURCE_EXHAUSTED.
int sf_kube_body(
    const sf_service *svc, const char *owner, char **json, uint64_t *want);

// sf_kube_body_recreate builds the body of svc as sf_kube_body does
// (*json only), for a Service that is not in the cluster (any more): each
// port that asks for no node port gets the one svc's status for its
// cluster recorded as assigned (NodePort and LoadBalancer), so a Service
// deleted in the cluster comes back with the node ports it had; the
// cluster IP the status recorded is asked for likewise (spec.clusterIP).
// The cluster refuses a port or address taken since (the apply fails with
// its words; the reconciler then lets the cluster choose).
// Returns 0 or SF_RESOURCE_EXHAUSTED.
int sf_kube_body_recreate(
    const sf_service *svc, const char *owner, char **json);

// What the reconciler learns from one cluster object.
typedef struct sf_kube_obs {
	const char   *ob_ns;    // borrowed from the object
	const char   *ob_name;  // borrowed from the object
	bool          ob_owned; // svcfleet.io/owner is this installation
	uint64_t      ob_hash;  // projection hash; 0: svcfleet never applied
	int64_t       ob_gen;   // svcfleet.io/generation, 0 when absent
	unsigned char ob_uid[16];
	bool          ob_has_uid;
	bool          ob_lb;          // spec.type LoadBalancer
	bool          ob_has_ingress; // status.loadBalancer.ingress non-empty
	// Cluster-assigned facts in sf_kube_facts format (malloc'd).
	char *ob_facts;
} sf_kube_obs;

// sf_kube_observe reads obj (a Service from a list, watch or apply
// response) for the cluster record named cluster. owner may be NULL
// (nothing is owned then). Returns 0, or SF_INVALID_ARGUMENT when obj has
// no metadata.namespace/name, or SF_RESOURCE_EXHAUSTED. Free with
// sf_kube_obs_fini.
int  sf_kube_observe(const json_t *obj, const char *owner, const char *cluster,
     sf_kube_obs *ob);
void sf_kube_obs_fini(sf_kube_obs *ob);

// Facts: clusterIP, assigned ports and ingress, packed in one short string
// "IP|name:port/PROTO=nodePort,...|ingress,..." (names may be empty).
// Only what reads back as it was written is packed: ports and node ports
// in 1..65535, values without the separators that would end them.

// sf_kube_facts_of_status packs a stored ClusterStatus's facts the same
// way (malloc'd, NULL when out of memory).
char *sf_kube_facts_of_status(const sf_cluster_status *cs);

// sf_kube_facts_fill unpacks facts into cs (memory from a).
int sf_kube_facts_fill(const char *facts, sf_cluster_status *cs, sf_arena *a);

// sf_kube_status_hash hashes what a status report says (state, observed
// generation, message, facts; not the time), so equal reports can be
// skipped.
uint64_t sf_kube_status_hash(int state, int64_t observed_generation,
    const char *msg, const char *facts);

// sf_kube_stored_status_hash hashes the status the store holds for
// cluster in svc (0 when it has none).
uint64_t sf_kube_stored_status_hash(
    const sf_service *svc, const char *cluster);

// sf_kube_uid_parse parses a UUID into 16 bytes; false when malformed.
bool sf_kube_uid_parse(const char *s, unsigned char out[16]);
void sf_kube_uid_format(const unsigned char uid[16], char out[37]);

#endif // SF_KUBE_H
