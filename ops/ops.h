// ops.h: what every svcfleet daemon serves whatever else it does, in three
// parts: the option table engine (flags, environment, config file,
// --help, --check-config), a registry of Prometheus metrics, and the HTTP
// endpoint that serves /healthz, /readyz and /metrics (and the routes a
// daemon adds, such as the gateway's). It depends on common/ only.
#ifndef SF_OPS_H
#define SF_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "status.h"

// ----------------------------------------------------------------------
// Options (config.c): one declarative option table drives a daemon's flags,
// its environment variables, its optional configuration file, --help and
// the validation of every value (STYLE rule 12).
//
// Sources, lowest precedence first: the table's defaults, the file named
// by --config (or the environment variable of the table's "config"
// option), the environment, the command line. A
// list option (--listen) takes its whole list from the highest source that
// sets it. A bad value stops start-up with one line naming the option and
// where the value came from:
//
//   svcfleetd: /etc/svcfleet/svcfleetd.conf:7: invalid value "x" for
//   workers: want an integer from 1 to 256
//
// The file holds one "name = value" per line (the flag's name without
// "--"; the value may be double-quoted; "#" starts a comment line):
//
//   data-dir = /var/lib/svcfleet
//   listen   = tcp://0.0.0.0:7070
//   listen   = ipc:///run/svcfleet/svcfleet.sock
//   http     = 0.0.0.0:7071
//
// svcfleetd's table is in cmd/svcfleetd/main.c, svcfleet-reconciler's in
// cmd/svcfleet-reconciler/main.c.
//
// An environment variable can be renamed without breaking deployments: a
// table lists the former names (t_renamed), and a former name is still
// read when the new one is not set, with a warning on err saying what to
// set instead; where the value came from names the former variable.

enum sf_opt_type {
	SF_OPT_STRING, // const char * (NULL when unset)
	SF_OPT_LIST,   // sf_opt_list
	SF_OPT_INT,    // long, within [o_min, o_max]
	SF_OPT_BOOL,   // bool: true/false/1/0/yes/no; a bare flag is true
};

#define SF_OPT_LIST_MAX 16

typedef struct sf_opt_list {
	const char *l_items[SF_OPT_LIST_MAX];
	size_t      l_n;
} sf_opt_list;

// A value check beyond the type's: returns true when v is fine, else
// false with the reason in why ("want debug, info, warn or error").
typedef bool (*sf_opt_check_fn)(const char *v, sf_buf *why);

typedef struct sf_opt {
	const char     *o_name; // flag without "--", and the file's key
	const char     *o_env;  // environment variable
	int             o_type; // enum sf_opt_type
	const char     *o_def;  // default value as text, NULL: none
	const char     *o_help; // one sentence for --help
	size_t          o_off;  // offsetof the field in the caller's struct
	long            o_min, o_max; // SF_OPT_INT bounds
	sf_opt_check_fn o_check;      // may be NULL
	const char     *o_def_text;   // --help's "default" when o_def can't
	                              // say it (NULL: o_def or "none")
} sf_opt;

// A renamed environment variable: the option whose o_env is r_env was read
// from r_old before.
typedef struct sf_opt_renamed {
	const char *r_env;
	const char *r_old;
} sf_opt_renamed;

// A renamed flag (issue 20): the option named rf_name was --rf_old (and
// "rf_old = ..." in a configuration file) before; the former name is still
// taken, with a warning saying what to write instead.
typedef struct sf_opt_renamed_flag {
	const char *rf_name;
	const char *rf_old;
} sf_opt_renamed_flag;

struct sf_config;

typedef struct sf_opt_table {
	const char   *t_prog;  // "svcfleetd": prefix of every message
	const char   *t_usage; // usage line(s) and a paragraph for --help
	const sf_opt *t_opts;
	size_t        t_nopts;
	bool          t_file; // --config (and its option's variable) supported
	const sf_opt_renamed *t_renamed; // may be NULL
	size_t                t_nrenamed;
	// issue 20: former flag names (may be NULL), and the defaults derived
	// from other options (max-connections/4, DATA-DIR/secret.key, ...),
	// set with sf_config_derive once every source is loaded so that
	// --check-config prints the values in effect (may be NULL; returns 0
	// or -1 after a line on stderr).
	const sf_opt_renamed_flag *t_renamed_flags;
	size_t                     t_nrenamed_flags;
	int (*t_derive)(struct sf_config *cfg, void *fields);
} sf_opt_table;

// Where one option's value came from, for messages after loading.
typedef struct sf_opt_src {
	char s_where[300]; // "--http", "SVCFLEETD_HTTP", "/etc/x.conf:3",
	                   // "default"
} sf_opt_src;

// Loaded values keep the memory they point into (file text, copies).
typedef struct sf_config {
	const sf_opt_table *c_table;
	sf_opt_src         *c_src; // one per option
	char              **c_keep;
	size_t              c_nkeep;
	const char         *c_file; // the configuration file used, or NULL
} sf_config;

// sf_config_load fills *cfgp (the struct the table's offsets point into)
// from defaults, file, environment and argv[first..argc). Returns 0; 1
// when --help or --version was answered on out (exit 0); -1 after writing
// one line saying what is wrong on err (exit 2). Free with
// sf_config_fini either way.
int sf_config_load(sf_config *cfg, const sf_opt_table *t, void *fields,
    int argc, char **argv, int first, FILE *out, FILE *err);

void sf_config_fini(sf_config *cfg);

// A daemon's checks across options (a TLS certificate needs its key, ...):
// 0, or -1 after writing one line saying what is wrong to stderr. fields
// is the struct the table's offsets point into.
typedef int (*sf_config_check_fn)(const sf_config *cfg, const void *fields);

// sf_config_main is how a daemon's main starts: sf_config_load from
// argv[1..] (stdout, stderr), then check (may be NULL), then the table's
// t_derive (the derived defaults), then the table's
// "check-config" option when it has one and it is set: the values in
// effect are printed (sf_config_dump). Returns -1 to go on (free cfg with
// sf_config_fini when done), or else the exit code with cfg freed: 0 after
// --help, --version or --check-config, 2 for a bad configuration.
int sf_config_main(sf_config *cfg, const sf_opt_table *t, void *fields,
    int argc, char **argv, sf_config_check_fn check);

// sf_config_derive sets option name to value (text as in a file; a list
// takes "a,b") when no source set it (its value is the table's default or
// none), recording where as "default: " and the option's o_def_text. For a
// table's t_derive. Returns 0, or -1 (unknown option, a value the option
// refuses, out of memory) after a line on stderr.
int sf_config_derive(
    struct sf_config *cfg, void *fields, const char *name, const char *value);

// sf_config_where says where option name got its value ("default" when
// nowhere), for messages of later cross-field checks.
const char *sf_config_where(const sf_config *cfg, const char *name);

// sf_config_dump writes every option's value in effect as a config file
// line ("name = value"), with where it came from in a comment.
void sf_config_dump(const sf_config *cfg, const void *fields, FILE *f);

// sf_config_usage writes --help: usage, then every option with its
// environment variable, default and help.
void sf_config_usage(const sf_opt_table *t, FILE *f);

// Checks for common value kinds.
bool sf_opt_check_log_level(const char *v, sf_buf *why);
bool sf_opt_check_duration(const char *v, sf_buf *why); // "30s", "90d"
// sf_opt_check_http: "off", or an address sf_http_parse_addr takes (below).
// Whether an https:// address has its certificate and key is a check of
// several options, for the daemon to make once all are loaded.
bool sf_opt_check_http(const char *v, sf_buf *why);

// ----------------------------------------------------------------------
// Metrics (metrics.c): a small registry of Prometheus metrics — counters,
// gauges and histograms with labels — that any module can register and update,
// and that the HTTP endpoint (below) renders in the Prometheus text format
// (version 0.0.4) on GET /metrics.
//
// svcfleetd has one registry (RPC, store and, when embedded, reconciler
// metrics); the standalone svcfleet-reconciler makes its own and serves it
// with the same endpoint code. A module registers its families once, keeps
// the returned sf_metric pointers, and updates series by label values:
//
//   sf_metric *lag = sf_metrics_gauge(reg, "svcfleet_reconciler_sync_lag_"
//       "seconds", "Time since the cluster was last in sync.", "cluster");
//   ...
//   sf_metric_set(lag, (const char *[]){"east"}, 1.5);
//
// Values that live elsewhere (a queue length, a store statistic) are best
// read at scrape time by a collector (sf_metrics_add_collector), which sets
// gauges just before rendering.
//
// Threading: every function may be called from any thread at any time
// after sf_metrics_alloc and before sf_metrics_free. Updates take a mutex
// per family (a few hundred nanoseconds); no update ever blocks on I/O.
//
// Naming: follow Prometheus' conventions — snake_case with the svcfleet_
// prefix, a unit suffix (_seconds, _bytes), _total on counters. Label
// values are free text (escaped when rendered); keep their number bounded
// (methods, codes, clusters — never request ids or user input).

typedef struct sf_metrics sf_metrics;
typedef struct sf_metric  sf_metric;

// sf_metrics_alloc makes an empty registry. Returns 0 or SF_RESOURCE_
// EXHAUSTED (*out is NULL).
int sf_metrics_alloc(sf_metrics **out);

// sf_metrics_free frees the registry and every family in it; the
// sf_metric pointers become invalid. NULL is fine. No other thread may use
// the registry any more (stop the HTTP endpoint first).
void sf_metrics_free(sf_metrics *r);

// Registering a family: name must match [a-zA-Z_:][a-zA-Z0-9_:]*, labels
// is a comma-separated list of label names ("" or NULL: none; at most 8).
// Registering a name again with the same type and labels returns the
// existing family (so two reconcilers in one process can share one);
// with another type or labels, or a malformed name, these return NULL.
// help is copied.
sf_metric *sf_metrics_counter(
    sf_metrics *r, const char *name, const char *help, const char *labels);
sf_metric *sf_metrics_gauge(
    sf_metrics *r, const char *name, const char *help, const char *labels);
// buckets: upper bounds, strictly increasing, +Inf implied (at most 32).
// NULL/0 takes sf_metrics_latency_buckets (0.5 ms to 30 s).
sf_metric *sf_metrics_histogram(sf_metrics *r, const char *name,
    const char *help, const char *labels, const double *buckets,
    size_t nbuckets);

// Latency buckets in seconds, from 0.5 ms to 30 s.
extern const double sf_metrics_latency_buckets[];
extern const size_t sf_metrics_latency_nbuckets;

// Updating a series. values holds exactly as many label values as the
// family has labels, in order (NULL when it has none); the series is made
// on first use. m may be NULL (a failed registration): nothing happens.
// sf_metric_add: counters (v >= 0) and gauges; sf_metric_set: gauges only;
// sf_metric_observe: histograms only. A call of the wrong kind is ignored.
void sf_metric_add(sf_metric *m, const char *const *values, double v);
void sf_metric_set(sf_metric *m, const char *const *values, double v);
void sf_metric_observe(sf_metric *m, const char *const *values, double v);

// sf_metric_remove drops one series (a cluster that went away); absent is
// fine. sf_metric_clear drops every series of the family (a collector that
// rebuilds a gauge from scratch on each scrape).
void sf_metric_remove(sf_metric *m, const char *const *values);
void sf_metric_clear(sf_metric *m);

// sf_metric_value returns a counter or gauge series' value, or a
// histogram series' count; 0 when the series does not exist. For tests.
double sf_metric_value(sf_metric *m, const char *const *values);

// A collector runs on the scraping thread right before rendering, in
// registration order, to set gauges from their sources. It must not call
// sf_metrics_render or add collectors. arg is borrowed until
// sf_metrics_remove_collector or sf_metrics_free.
typedef void (*sf_metrics_collect_fn)(void *arg, sf_metrics *r);
int sf_metrics_add_collector(
    sf_metrics *r, sf_metrics_collect_fn fn, void *arg);
void sf_metrics_remove_collector(
    sf_metrics *r, sf_metrics_collect_fn fn, void *arg);

// sf_metrics_render runs the collectors and appends every family, in
// registration order with series in label order, to out in the Prometheus
// text format. Returns 0 or SF_RESOURCE_EXHAUSTED.
int sf_metrics_render(sf_metrics *r, sf_buf *out);

// The content type of what sf_metrics_render writes.
#define SF_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

// ----------------------------------------------------------------------
// The HTTP endpoint (http.c) of svcfleetd and svcfleet-reconciler —
// /healthz, /readyz and /metrics, plus the routes a daemon adds (svcfleetd:
// the JSON gateway and the web console).
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
// Hostile clients (issue 17): a request is refused before its body is
// read when its Content-Length is over the limit, when it has more than
// one Content-Length, or both Content-Length and Transfer-Encoding (400:
// the framing a proxy in front may read differently), when its Host is
// not one the endpoint answers to (421), or when a gate says no (see
// sf_http_gate). Headers and bodies must arrive within their timeouts;
// connections per peer address are bounded. HTTPS speaks TLS 1.2 and
// 1.3 with forward-secret key exchanges only.
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

typedef struct sf_http sf_http;

typedef struct sf_http_opts {
	const char *ho_addr;      // see above; NULL/"" = 127.0.0.1:7071
	const char *ho_tls_cert;  // PEM certificate (chain) file, or NULL
	const char *ho_tls_key;   // PEM key of ho_tls_cert, or NULL
	sf_metrics *ho_metrics;   // rendered on /metrics; NULL: no /metrics
	const char *ho_name;      // in logs: "svcfleetd", "reconciler"
	unsigned    ho_max_conns; // 0 = 256
	size_t      ho_max_body;  // request body limit, 0 = 4 MiB
	unsigned    ho_timeout_s; // idle connection timeout, 0 = 60 s
	// Connections from one peer address, 0 = ho_max_conns / 4 (at
	// least 4): a few hostile hosts cannot take every connection from
	// the probes and the console, and one browser (or one reverse proxy
	// in front of many) keeps room for its parallel requests and the
	// console's long polls (a 32nd, 8, refused the console's own).
	unsigned ho_max_conns_per_ip;
	// Hostile clients (issue 17). Time a client has to send a request's
	// headers, counted from the connection's accept or the end of its
	// previous request (so it is also the keep-alive idle time); a
	// slowloris client is disconnected when it runs out. 0 = 10000 ms.
	unsigned ho_header_timeout_ms;
	// Time a client has to send a request's body once its headers are
	// in. 0 = 30000 ms.
	unsigned ho_body_timeout_ms;
	// Host header values (comma-separated names, without port) answered
	// besides IP literals, "localhost" and the endpoint's own host; "*"
	// answers any. Others get 421, except on /healthz and /readyz: a
	// page of another site that a DNS name rebound to this address
	// cannot read the console, the gateway or /metrics. NULL: none more.
	const char *ho_allowed_hosts;
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

// A gate runs once a request's headers are in, before its body is read
// (issue 17: no memory for a body before the caller is known): true lets
// the request go on; false answers with resp (status, body) at once and
// the body is never read (the connection is closed after the answer).
// has_body: the request announces a body (Content-Length > 0 or chunked).
// Runs on an endpoint thread; it may block (an RPC).
typedef bool (*sf_http_gate_fn)(
    void *arg, const sf_http_req *req, bool has_body, sf_http_resp *resp);

// sf_http_gate adds a gate for every request whose path starts with
// prefix (copied). Only before sf_http_start. Returns 0 or
// SF_RESOURCE_EXHAUSTED.
int sf_http_gate(
    sf_http *h, const char *prefix, sf_http_gate_fn fn, void *arg);

// sf_http_add_check adds a readiness check named name (copied). Only
// before sf_http_start.
int sf_http_add_check(
    sf_http *h, const char *name, sf_http_check_fn fn, void *arg);

// sf_http_listen (issue 20) binds and listens on the address (and reads
// the certificate and key) without serving yet, so a daemon can fail on a
// taken port before it creates anything; connections wait in the backlog
// until sf_http_start. Returns 0, or SF_INVALID_ARGUMENT with st naming
// the address (a taken port: "Address already in use") or the file.
// Only before sf_http_start, which calls it when it was not called.
int sf_http_listen(sf_http *h, sf_status *st);

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

#endif // SF_OPS_H
