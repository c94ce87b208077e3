// kf.h: kubefake's internal interfaces, shared by its source files.
//
// kubefake is one program: an HTTPS server (libmicrohttpd) that behaves like
// kube-apiserver for Services, Namespaces, Events and a few workload kinds.
// Objects are kept as jansson trees in Kubernetes' JSON shape; each stored
// version is an immutable, reference-counted kf_obj that also carries its
// serialized text, so reads, lists and watches copy bytes instead of
// re-encoding. One mutex (kf_state.mu) guards every object, the
// resourceVersion counter, the watch history and the allocators; work that
// does not need it (parsing bodies, formatting replies) happens outside.
//
// Names: kf_<object>_<verb> for what crosses files, static for the rest.
#ifndef KF_H
#define KF_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct MHD_Connection;

// ---- field errors and Status bodies (kf_errs.c) -------------------------

// Cause types as Kubernetes names them.
#define KF_REQUIRED     "FieldValueRequired"
#define KF_INVALID      "FieldValueInvalid"
#define KF_NOTSUPPORTED "FieldValueNotSupported"
#define KF_FORBIDDEN    "FieldValueForbidden"
#define KF_DUPLICATE    "FieldValueDuplicate"
#define KF_TOOLONG      "FieldValueTooLong"

typedef struct kf_cause {
	const char *c_type;  // one of KF_*, static
	char       *c_field; // "spec.ports[0].port"
	char       *c_msg;   // "Invalid value: 0: must be between ..."
} kf_cause;

// kf_errs collects field errors; zero-initialised is empty.
typedef struct kf_errs {
	kf_cause *e_c;
	size_t    e_n;
	size_t    e_cap;
} kf_errs;

void kf_errs_fini(kf_errs *e);
// Each helper formats the message the way field.Error.ErrorBody does.
void kf_err_required(kf_errs *e, const char *field, const char *detail);
void kf_err_forbidden(kf_errs *e, const char *field, const char *detail);
// kf_err_invalid takes the bad value already printed (kf_goquote for
// strings, a bare number, or a Go %#v rendering).
void kf_err_invalid(
    kf_errs *e, const char *field, const char *value, const char *detail);
void kf_err_invalid_str(
    kf_errs *e, const char *field, const char *value, const char *detail);
void kf_err_invalid_int(
    kf_errs *e, const char *field, long long value, const char *detail);
// supported is NULL-terminated and already sorted.
void kf_err_notsupported(kf_errs *e, const char *field, const char *value,
    const char *const *supported);
void kf_err_duplicate(kf_errs *e, const char *field, const char *value);
void kf_err_toolong(kf_errs *e, const char *field, long long max);
void kf_errs_addf(kf_errs *e, const char *type, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

// kf_goquote returns s quoted as Go's %q would (malloc'd).
char *kf_goquote(const char *s);

// A finished reply. body is malloc'd (or NULL).
typedef struct kf_resp {
	int         r_code;
	char       *r_body;
	size_t      r_len;
	char        r_retry_after[16]; // Retry-After header when non-empty
	char       *r_warning; // Warning header when non-NULL (malloc'd)
	const char *r_ctype;   // Content-Type; NULL: application/json
} kf_resp;

void kf_resp_fini(kf_resp *r);
// kf_resp_json serializes j (stolen) as the body.
void kf_resp_json(kf_resp *r, int code, json_t *j);
// kf_resp_text copies n bytes of JSON text as the body.
void kf_resp_text(kf_resp *r, int code, const char *text, size_t n);

// kf_status fills r with a metav1.Status failure. details is stolen and
// may be NULL (then "details" is omitted).
void kf_status(kf_resp *r, int code, const char *reason, json_t *details,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
// kf_status_invalid: 422 Invalid for kind/name with e's causes.
void kf_status_invalid(kf_resp *r, const char *group, const char *kind,
    const char *name, const kf_errs *e);
// kf_status_notfound: 404, `<resource> "name" not found`.
void kf_status_notfound(
    kf_resp *r, const char *group, const char *resource, const char *name);
void kf_status_badrequest(kf_resp *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void kf_status_internal(kf_resp *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// ---- JSON helpers (kf_json.c) -------------------------------------------

// kf_jget walks a dotted path ("spec.type"); NULL when absent.
json_t     *kf_jget(json_t *o, const char *path);
const char *kf_jstr(json_t *o, const char *path); // NULL unless a string
// kf_jkey: the string under one key that may contain dots (annotations).
const char *kf_jkey(json_t *o, const char *key);
// kf_jobj returns the object at key, creating it (and replacing a
// non-object) when absent.
json_t *kf_jobj(json_t *o, const char *key);
// kf_yaml_to_json parses one YAML (or JSON) document. Returns NULL and a
// message in err (cap bytes) on failure.
json_t *kf_yaml_to_json(const char *text, size_t n, char *err, size_t cap);
// kf_json_dump: compact text, malloc'd; *len set.
char *kf_json_dump(const json_t *j, size_t *len);
// kf_uuid writes a random RFC 4122 v4 UUID (37 bytes with NUL).
void kf_uuid(char out[37]);
// kf_now_rfc3339 writes the current UTC time, second precision.
void kf_now_rfc3339(char out[32]);
// kf_rand_u64: a random number (thread-safe).
uint64_t kf_rand_u64(void);

// ---- schema (kf_schema.c) ------------------------------------------------

enum kf_tkind {
	KF_T_STRING,
	KF_T_INT,
	KF_T_BOOL,
	KF_T_INTSTR,  // int-or-string (targetPort)
	KF_T_STRUCT,  // named fields, merged field by field
	KF_T_MAP,     // map[string]T, granular (labels, annotations)
	KF_T_ATOMIC,  // any value, owned and replaced as a whole
	KF_T_LISTMAP, // list of structs keyed by t_keys (listType=map)
	KF_T_LISTSET, // list of scalars (listType=set)
	KF_T_ANY,     // deduced: objects granular, lists atomic, no pruning
};

typedef struct kf_type  kf_type;
typedef struct kf_field kf_field;

// Field flags: how an empty value is encoded (Go's omitempty vs pointer).
#define KF_F_OMITEMPTY 0x1 // "", 0, false, {} and [] are dropped
#define KF_F_PTR       0x2 // kept when zero; only null drops it
#define KF_F_ATOMIC    0x4 // owned as a whole by apply (+mapType=atomic)
#define KF_F_ALWAYS    0x8 // a non-pointer struct: Go always encodes it

struct kf_field {
	const char    *f_name;
	const kf_type *f_type;
	unsigned       f_flags;
};

struct kf_type {
	enum kf_tkind   t_kind;
	const kf_field *t_fields;   // STRUCT: NULL-name terminated
	const kf_type  *t_elem;     // MAP, LISTMAP, LISTSET, ATOMIC list elem
	const char     *t_keys[3];  // LISTMAP keys
	const char     *t_mergekey; // strategic merge patch key, if any
	const char     *t_goname;   // Go type name for decode errors
};

extern const kf_type kf_type_service;
extern const kf_type kf_type_any;

// kf_schema_normalize rewrites v (an object of type t) the way decoding
// into Go structs and encoding again would: fields in declaration order,
// unknown fields dropped (their paths appended to unknown, comma-joined
// %q list, when non-NULL), omitempty zero values dropped. Returns 0, or -1
// with a decode error (a wrong JSON type) written to err.
// With check_only, v is only checked (types, unknown fields): nothing is
// dropped, added or reordered (apply configurations).
int kf_schema_normalize(const kf_type *t, json_t *v, sf_buf *unknown,
    bool check_only, char *err, size_t cap);
// kf_schema_drop_unknown removes fields the schema does not declare.
void kf_schema_drop_unknown(const kf_type *t, json_t *v);
// kf_schema_field finds a struct field by name.
const kf_field *kf_schema_field(const kf_type *t, const char *name);

// ---- field sets and server-side apply (kf_ssa.c) ------------------------

typedef struct kf_fset kf_fset;

kf_fset *kf_fset_new(void);
void     kf_fset_free(kf_fset *s);
bool     kf_fset_empty(const kf_fset *s);

// One managedFields entry.
typedef struct kf_manager {
	char    *m_name;
	bool     m_apply;       // operation Apply (else Update)
	char    *m_apiversion;  // "v1"
	char    *m_subresource; // "status" or NULL
	char     m_time[32];    // RFC 3339 or ""
	kf_fset *m_set;
} kf_manager;

typedef struct kf_managers {
	kf_manager *ms_v;
	size_t      ms_n;
	size_t      ms_cap;
} kf_managers;

void kf_managers_fini(kf_managers *ms);
// kf_managers_decode parses metadata.managedFields of obj. Returns -1 on a
// malformed list (then ms is empty).
int kf_managers_decode(kf_managers *ms, json_t *obj);
// kf_managers_encode sets metadata.managedFields of obj (sorted as
// Kubernetes sorts them), or removes it when there are none.
void kf_managers_encode(const kf_managers *ms, json_t *obj);

typedef struct kf_ssa_ctx {
	const kf_type *x_type;        // schema of the object
	const char    *x_apiversion;  // "v1", "apps/v1"
	const char    *x_subresource; // NULL or "status"
	const char    *x_manager;
	const char    *x_now; // RFC 3339
} kf_ssa_ctx;

// kf_ssa_update records an Update by x_manager that turned live into obj
// (live may be NULL for a create). mg is updated in place.
void kf_ssa_update(
    const kf_ssa_ctx *x, json_t *live, json_t *obj, kf_managers *mg);

// kf_ssa_apply merges config into live (live may be NULL: create) and
// returns the new object (new reference), updating mg. On conflicts
// without force it returns NULL with a 409 Status in r.
json_t *kf_ssa_apply(const kf_ssa_ctx *x, json_t *live, json_t *config,
    bool force, kf_managers *mg, kf_resp *r);

// kf_fieldsv1_from_json / to_json: FieldsV1 wire form.
kf_fset *kf_fieldsv1_parse(json_t *j);
json_t  *kf_fieldsv1_json(const kf_fset *s);

// ---- patches (kf_patch.c) ------------------------------------------------

// Each returns 0 and replaces *doc, or -1 with a message in err.
int kf_patch_merge(json_t **doc, json_t *patch, char *err, size_t cap);
int kf_patch_strategic(
    const kf_type *t, json_t **doc, json_t *patch, char *err, size_t cap);
int kf_patch_json(json_t **doc, json_t *patch, char *err, size_t cap);

// ---- protobuf bodies (kf_proto.c) -----------------------------------------

// kf_proto_decode turns an application/vnd.kubernetes.protobuf body of a
// Deployment, StatefulSet, DaemonSet, Namespace or Service into JSON.
json_t *kf_proto_decode(const char *body, size_t n, char *err, size_t cap);

// ---- label and field selectors (kf_select.c) -----------------------------

typedef struct kf_selector kf_selector;
// kf_selector_parse parses a label selector (fields=false) or a field
// selector (fields=true). Returns NULL with a message in err on error; an
// empty string gives a selector that matches everything.
kf_selector *kf_selector_parse(
    const char *s, bool fields, char *err, size_t cap);
void kf_selector_free(kf_selector *sel);
// kf_selector_match tests labels (an object or NULL) or, for field
// selectors, the object itself.
bool kf_selector_match(const kf_selector *sel, json_t *obj);

// ---- allocators (kf_alloc.c) ---------------------------------------------

typedef struct kf_bitmap {
	uint64_t *bm_bits;
	uint32_t  bm_size; // number of slots
	uint32_t  bm_used;
	uint32_t  bm_static; // lower band kept for explicit requests
} kf_bitmap;

int  kf_bitmap_init(kf_bitmap *b, uint32_t size, uint32_t static_band);
void kf_bitmap_fini(kf_bitmap *b);
bool kf_bitmap_test(const kf_bitmap *b, uint32_t i);
void kf_bitmap_set(kf_bitmap *b, uint32_t i);
void kf_bitmap_clear(kf_bitmap *b, uint32_t i);
// kf_bitmap_alloc picks a free slot, dynamic band first (random start);
// returns -1 when full.
long kf_bitmap_alloc(kf_bitmap *b);

// An IPv4 range.
typedef struct kf_cidr {
	uint32_t c_base; // network address, host order
	uint32_t c_size; // number of addresses
	int      c_bits;
	char     c_text[32];
} kf_cidr;

int  kf_cidr_parse(const char *s, kf_cidr *c);
int  kf_ip4_parse(const char *s, uint32_t *ip); // strict dotted quad
void kf_ip4_format(uint32_t ip, char out[16]);
bool kf_ip_valid(const char *s);   // IPv4 or IPv6
bool kf_cidr_valid(const char *s); // IPv4 or IPv6 CIDR

// ---- the state: objects, history, watchers (kf_store.c) -----------------

typedef struct kf_obj {
	atomic_int o_ref;
	json_t    *o_json; // immutable once stored
	char      *o_text; // compact JSON of o_json
	size_t     o_len;
	size_t o_items_off; // o_text + this skips {"kind":..,"apiVersion":..,
	uint64_t o_rv;
} kf_obj;

// kf_obj_new takes ownership of j and serializes it.
kf_obj *kf_obj_new(json_t *j, uint64_t rv);
kf_obj *kf_obj_ref(kf_obj *o);
void    kf_obj_unref(kf_obj *o);

typedef struct kf_tree kf_tree;
kf_tree               *kf_tree_new(void);
void                   kf_tree_free(kf_tree *t, void (*freeval)(void *));
void                  *kf_tree_get(const kf_tree *t, const char *key);
// kf_tree_put inserts or replaces; returns the previous value or NULL.
void  *kf_tree_put(kf_tree *t, const char *key, void *val);
void  *kf_tree_del(kf_tree *t, const char *key);
size_t kf_tree_count(const kf_tree *t);
// kf_tree_walk calls fn for keys > after (or all when NULL) that start
// with prefix (when non-NULL), in order, until fn returns non-zero.
void kf_tree_walk(const kf_tree *t, const char *after, const char *prefix,
    int (*fn)(void *arg, const char *key, void *val), void *arg);

// Resources served. Index into kf_resources[].
enum kf_rid {
	KF_R_NAMESPACES,
	KF_R_SERVICES,
	KF_R_EVENTS,
	KF_R_DEPLOYMENTS,
	KF_R_STATEFULSETS,
	KF_R_DAEMONSETS,
	KF_R_COUNT
};

typedef struct kf_resource {
	const char    *rs_group; // "" or "apps"
	const char    *rs_version;
	const char    *rs_apiversion; // "v1", "apps/v1"
	const char    *rs_name;       // "services"
	const char    *rs_singular;
	const char    *rs_kind;
	const char    *rs_short; // short name or NULL
	bool           rs_namespaced;
	bool           rs_status;   // has a /status subresource
	bool           rs_readonly; // events: created by the server only
	const kf_type *rs_type;
} kf_resource;

extern const kf_resource kf_resources[KF_R_COUNT];

enum kf_evtype { KF_EV_ADDED, KF_EV_MODIFIED, KF_EV_DELETED };

typedef struct kf_event {
	uint64_t ev_rv;
	int      ev_type;
	int      ev_res;
	kf_obj  *ev_new; // the object after the change (DELETED: last state)
	kf_obj  *ev_old; // before, or NULL for ADDED
} kf_event;

typedef struct kf_watch kf_watch;

typedef struct kf_alloc_state {
	kf_cidr   a_cidr;
	kf_bitmap a_ips; // offset from c_base
	uint32_t  a_np_base;
	uint32_t  a_np_size;
	kf_bitmap a_ports; // offset from a_np_base
} kf_alloc_state;

typedef struct kf_pool {
	char      p_name[64];
	kf_cidr   p_cidr;
	kf_bitmap p_used;
	char    **p_owner; // per address: "ns/name" holding it, or NULL
} kf_pool;

typedef struct kf_faults {
	int    f_latency_ms;
	double f_error_rate;
	int    f_error_status;
	int    f_retry_after_s;
	double f_drop_rate;
	bool   f_refuse_all;
	// HTTP/2 (kf_front.c; issue 21)
	double f_h2_rst_rate;
	double f_h2_rst_after_rate;
	int    f_h2_goaway_after;
	// i19-diff: a validating admission webhook that denies every write
	// of a Service (the main resource; only dry runs when
	// f_admission_dry_run_only) with f_admission_status and
	// f_admission_deny as its message; "" denies nothing (kf_admit.c).
	char f_admission_deny[512];
	char f_admission_webhook[128];
	int  f_admission_status;
	bool f_admission_dry_run_only;
} kf_faults;

enum kf_verb {
	KF_V_GET,
	KF_V_LIST,
	KF_V_WATCH,
	KF_V_CREATE,
	KF_V_UPDATE,
	KF_V_PATCH,
	KF_V_DELETE,
	KF_V_DELETECOLLECTION,
	KF_V_OTHER,
	KF_V_COUNT
};

typedef struct kf_stats {
	atomic_ullong s_total;
	atomic_ullong s_verb[KF_V_COUNT];
	atomic_ullong s_verb_res[KF_V_COUNT][KF_R_COUNT];
	atomic_ullong s_discovery;
	atomic_ullong s_code[6]; // 1xx..5xx by hundreds
	atomic_ullong s_429;
	atomic_ullong s_409;
	atomic_ullong s_fault_latency;
	atomic_ullong s_fault_error;
	atomic_ullong s_fault_drop;
	atomic_ullong s_fault_refuse;
	// the TLS front end (kf_front.c; issue 21)
	atomic_ullong s_conn_h2;
	atomic_ullong s_conn_http1;
	atomic_ullong s_h2_streams;
	atomic_ullong s_fault_rst;
	atomic_ullong s_fault_goaway;
	atomic_ullong s_fault_admission; // i19-diff: writes denied
} kf_stats;

typedef struct kf_opts {
	const char *o_listen;
	const char *o_state_dir;
	const char *o_tokens[16];
	int         o_ntokens;
	const char *o_ro_tokens[8];
	int         o_nro_tokens;
	const char *o_kubeconfig;
	const char *o_node_ports;
	const char *o_service_cidr;
	const char *o_pools[16];
	int         o_npools;
	int         o_lb_delay_ms;
	int         o_watch_history;
	int         o_bookmark_ms;
	int         o_threads;
	const char *o_tls_cert;
	const char *o_tls_key;
	const char *o_ca_cert;
	int         o_log_level;
	const char *o_alpn; // "h2,http/1.1" (NULL) or "http/1.1"
} kf_opts;

typedef struct kf_state {
	pthread_mutex_t st_mu;
	uint64_t        st_rv;
	kf_tree        *st_objs[KF_R_COUNT];

	// Watch history: st_hist[rv % st_hcap] for rv in [st_hfirst, st_rv].
	kf_event *st_hist;
	size_t    st_hcap;
	uint64_t  st_hfirst;

	atomic_size_t   st_nwatchers;
	kf_alloc_state  st_alloc;
	kf_pool         st_pools[16];
	int             st_npools;
	pthread_mutex_t st_fmu; // faults
	kf_faults       st_faults;
	kf_stats        st_stats;
	kf_opts         st_opts;
	char            st_url[160];
	char            st_host[96];
	int             st_port;
	pthread_cond_t  st_pcond; // wakes the compaction thread
	// Set once, first thing at shutdown: no request is served, no watch
	// starts and no timer re-arms from then on.
	atomic_bool st_stopping;
} kf_state;

extern kf_state kf_st;

int  kf_state_init(const kf_opts *o);
void kf_state_fini(void);

// kf_commit stores obj (taking ownership of json j) as the new version of
// (res, key) with the next resourceVersion, records the watch event and
// wakes watchers. j's metadata.resourceVersion is set here. type decides
// the event. Returns the stored object (borrowed; valid under st_mu).
// Called with st_mu held.
kf_obj *kf_commit(int res, const char *key, json_t *j, int type);
// kf_lookup returns the current object (borrowed, valid under st_mu).
kf_obj *kf_lookup(int res, const char *key);
// kf_key builds "ns/name" (or "name") into buf.
const char *kf_key(
    int res, const char *ns, const char *name, char *buf, size_t cap);

// ---- persistence (kf_persist.c) -----------------------------------------

// kf_persist_load loads --state-dir (before serving; it takes st_mu) and
// opens its log; kf_commit appends every change to it from then on.
int  kf_persist_load(void);
void kf_persist_start(void); // the compaction thread
void kf_persist_stop(void);  // after the last commit
// kf_persist_append writes the change that made o (resource res, event
// type) to the log before returning (st_mu held).
void kf_persist_append(int res, const kf_obj *o, int type);

// ---- timers (kf_timer.c) -------------------------------------------------

typedef void (*kf_timer_fn)(void *arg);
int kf_timer_start(void);
// kf_timer_stop ends the timer thread, then runs every entry still queued
// once (in the calling thread), whatever its time.
void kf_timer_stop(void);
// kf_timer_add runs fn(arg) on the timer thread after ms milliseconds.
// Returns 0, or -1 once kf_timer_stop has begun (or out of memory): then
// fn will not run and the caller still owns arg.
int kf_timer_add(int64_t ms, kf_timer_fn fn, void *arg);

// ---- watches (kf_watch.c) ------------------------------------------------

typedef struct kf_watch_opts {
	int          wo_res;
	char        *wo_ns;      // NULL: all namespaces
	kf_selector *wo_labels;  // owned
	kf_selector *wo_fields;  // owned
	uint64_t     wo_from;    // start after this rv
	bool         wo_initial; // send ADDED for the current objects first
	bool         wo_bookmarks;
	bool         wo_initial_end; // sendInitialEvents: bookmark after them
	bool         wo_table;
	int          wo_timeout_s;
} kf_watch_opts;

// kf_watch_open queues a streaming response on conn. It owns o's
// pointers from then on. Returns an MHD result.
int kf_watch_open(struct MHD_Connection *conn, kf_watch_opts *o);
// kf_watch_notify wakes every watcher (st_mu held).
void kf_watch_notify(void);
void kf_watch_shutdown(void);

// ---- the API (kf_api.c) ----------------------------------------------------

typedef struct kf_req {
	const char            *q_method;
	const char            *q_path;
	const char            *q_ctype;
	const char            *q_accept;
	const char            *q_agent;
	const char            *q_user;
	bool                   q_readonly;
	const char            *q_body;
	size_t                 q_blen;
	struct MHD_Connection *q_conn;
} kf_req;

// kf_query returns a URL query parameter or NULL.
const char *kf_query(const kf_req *q, const char *name);

// kf_api_handle serves one API request. Returns 1 when it queued a
// streaming response itself (watch), 2 when the connection must close,
// 0 when r holds the reply.
int kf_api_handle(kf_req *q, kf_resp *r);
// kf_api_classify tells the verb and resource (-1 if none) of a request,
// for the counters.
void kf_api_classify(const kf_req *q, int *verb, int *res);

// ---- Services (kf_service.c) ---------------------------------------------

// kf_service_default applies SetDefaults_Service.
void kf_service_default(json_t *svc);
// kf_service_create: allocation + validation for a new Service (st_mu held).
// On success returns 0 and j is ready to store; else r holds the Status.
int kf_service_create(json_t *j, bool dry_run, kf_resp *r);
// kf_service_update: the update path (old is the stored object).
int kf_service_update(json_t *j, json_t *old, bool dry_run, kf_resp *r);
// kf_admission_check (kf_admit.c; i19-diff): the admission webhook the
// faults may switch on. Returns 0 when the write of a Service may go on,
// else -1 with r holding the webhook's denial. Called after validation.
int kf_admission_check(bool dry_run, kf_resp *r);
// kf_service_status_update validates a /status write.
int kf_service_status_update(json_t *j, json_t *old, kf_resp *r);
// kf_service_release frees the allocations of a deleted Service.
void kf_service_release(json_t *svc);
// kf_service_reserve marks the allocations of a loaded Service as used.
void kf_service_reserve(json_t *svc);
// kf_validate_meta validates names, labels and annotations.
void kf_validate_meta(json_t *obj, bool namespaced, bool dns1035, kf_errs *e);
bool kf_is_dns1123_label(const char *s);
bool kf_is_dns1123_subdomain(const char *s);
// What Kubernetes says of a name that is not a DNS-1123 label (Services,
// Namespaces), word for word.
#define MSG_DNS1123_LABEL                                                     \
	"a lowercase RFC 1123 label must consist of lower case alphanumeric " \
	"characters or '-', and must start and end with an alphanumeric "     \
	"character (e.g. 'my-name',  or '123-abc', regex used for "           \
	"validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
void kf_validate_qualified_name(const char *s, const char *field, kf_errs *e);
void kf_validate_labels(json_t *labels, const char *field, kf_errs *e);

// ---- MetalLB (kf_metallb.c) ----------------------------------------------

// kf_metallb_changed: a Service was stored or deleted (st_mu held).
void kf_metallb_changed(const char *key, json_t *svc, json_t *old);
// kf_metallb_reserve marks a loaded Service's ingress IP as used.
void    kf_metallb_reserve(const char *key, json_t *svc);
json_t *kf_metallb_pools_json(void);
// kf_metallb_reconcile is the controller's timer callback (arg: a
// malloc'd "ns/name").
void kf_metallb_reconcile(void *arg);
void kf_metallb_fini(void);

// ---- Table output (kf_table.c) -------------------------------------------

// kf_table_wanted: Accept asks for meta.k8s.io Table.
bool kf_table_wanted(const char *accept);
// kf_table_new builds a Table for objs (n of them) of resource res.
json_t *kf_table_new(int res, kf_obj *const *objs, size_t n, const char *rv,
    const char *cont, bool with_columns);

#endif // KF_H
