// cli.h: what the files of the svcfleet command line share.
//
// The command line is driven by two tables: the flags (CLI_FLAGS, one row
// per flag, with its arity, so flags can be parsed before the command is
// known and may stand anywhere on the line) and the commands (cli_commands
// in main.c: words, handler, argument count, allowed and required flags,
// help). main.c parses, finds the command, does every generic check once
// (unknown or misplaced flags, argument counts, required flags, -o,
// --timeout) and only then calls the handler.
//
// Exit codes: 0 success, 1 an error reported by the server or a local
// failure, 2 a usage error. Every error is one line on stderr,
// "error: <STATUS_NAME>: <message>", then one line per field violation,
// "  <field.path>: <reason>"; a usage error is "error: <message>" alone.
//
// The functions and globals declared here are the CLI's cross-file
// internals: they carry the sf__cli_ prefix (as store/'s carry sf__store_),
// so a reader tells them from libsvcfleet's svcfleet_ API and from each
// file's static helpers by name alone. The types keep their short cli_
// names.
#ifndef SF_CLI_H
#define SF_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "buf.h"
#include "status.h"
#include "str.h"
#include "svcfleet/svcfleet.h"

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

enum cli_flag_kind {
	FK_BOOL,  // --x, --x=true|false
	FK_VALUE, // --x V, --x=V; given twice, the last wins (except the
	          // flags of identity and trust: see ONCE_FLAGS in main.c)
	FK_LIST,  // --x V, repeatable; every value is kept
};

// XX(ID, long name, short letter or 0, kind, value placeholder, help)
#define CLI_FLAGS(XX)                                                        \
	XX(SERVER, "server", 0, FK_VALUE, "URL",                             \
	    "svcfleetd address, or URL,URL,... of replicas (tried in turn "  \
	    "on UNAVAILABLE) (env SVCFLEET_SERVER; default "                 \
	    "ipc://./svcfleet-data/svcfleet.sock when that socket exists "   \
	    "and is yours or root's, "                                       \
	    "else tcp://127.0.0.1:7070)")                                    \
	XX(TOKEN, "token", 0, FK_VALUE, "TOKEN",                             \
	    "bearer token (env SVCFLEET_TOKEN)")                             \
	XX(TOKEN_FILE, "token-file", 0, FK_VALUE, "FILE",                    \
	    "file holding the bearer token (env SVCFLEET_TOKEN_FILE; "       \
	    "default for a server on this machine: "                         \
	    "./svcfleet-data/admin.token when readable)")                    \
	XX(CA_FILE, "ca-file", 0, FK_VALUE, "FILE",                          \
	    "PEM CA bundle that verifies svcfleetd's certificate, for "      \
	    "tls+tcp:// servers (env SVCFLEET_CA_FILE)")                     \
	XX(SERVER_NAME, "server-name", 0, FK_VALUE, "NAME",                  \
	    "name svcfleetd's TLS certificate must carry (env "              \
	    "SVCFLEET_SERVER_NAME; default the --server URL's host)")        \
	XX(INSECURE_SKIP_VERIFY, "insecure-skip-verify", 0, FK_BOOL, NULL,   \
	    "do not verify svcfleetd's TLS certificate: anyone on the way "  \
	    "can read the token and change answers (tests only)")            \
	XX(OUTPUT, "output", 'o', FK_VALUE, "FORMAT",                        \
	    "output format: table, wide, json, yaml or name")                \
	XX(TIMEOUT, "timeout", 0, FK_VALUE, "DURATION",                      \
	    "deadline of each call, e.g. 30s, 2m (env SVCFLEET_TIMEOUT; "    \
	    "default 30s)")                                                  \
	XX(HELP, "help", 'h', FK_BOOL, NULL, "show help")                    \
	XX(FILENAME, "filename", 'f', FK_LIST, "FILE",                       \
	    "manifest file, directory (its *.yaml, *.yml, *.json) or - "     \
	    "for stdin; repeatable")                                         \
	XX(CLUSTER, "cluster", 0, FK_VALUE, "CLUSTER", "cluster name")       \
	XX(NAMESPACE, "namespace", 'n', FK_VALUE, "NS",                      \
	    "namespace (default \"default\")")                               \
	XX(ALL_NAMESPACES, "all-namespaces", 'A', FK_BOOL, NULL,             \
	    "list across all namespaces")                                    \
	XX(SELECTOR, "selector", 'l', FK_LIST, "SELECTOR",                   \
	    "label selector, e.g. app=web,tier!=db")                         \
	XX(LIMIT, "limit", 0, FK_VALUE, "N", "stop after N objects")         \
	XX(DRY_RUN, "dry-run", 0, FK_BOOL, NULL,                             \
	    "validate and authorize on the server, write nothing")           \
	XX(TYPE, "type", 0, FK_VALUE, "TYPE",                                \
	    "clusterip (default), nodeport or loadbalancer")                 \
	XX(PORT, "port", 0, FK_LIST, "SPEC",                                 \
	    "[NAME:]PORT[:TARGET][/TCP|/UDP|/SCTP][@NODEPORT]; repeatable")  \
	XX(FROM_WORKLOAD, "from-workload", 0, FK_VALUE, "KIND/NAME",         \
	    "take the selector from a workload's pod-template labels, read " \
	    "live from the cluster (deployment/NAME, statefulset/NAME, "     \
	    "daemonset/NAME)")                                               \
	XX(SESSION_AFFINITY, "session-affinity", 0, FK_BOOL, NULL,           \
	    "session persistence by client IP")                              \
	XX(SESSION_TIMEOUT, "session-timeout", 0, FK_VALUE, "SECONDS",       \
	    "longest session hold time with --session-affinity (default "    \
	    "30)")                                                           \
	XX(ANNOTATION, "annotation", 0, FK_LIST, "KEY=VALUE",                \
	    "annotation; repeatable")                                        \
	XX(LABEL, "label", 0, FK_LIST, "KEY=VALUE", "label; repeatable")     \
	XX(TRAFFIC_POLICY, "traffic-policy", 0, FK_VALUE, "POLICY",          \
	    "external traffic policy: cluster (default) or local")           \
	XX(LB_TYPE, "lb-type", 0, FK_VALUE, "TYPE",                          \
	    "load balancing: metallb or other")                              \
	XX(LB_POOL, "lb-pool", 0, FK_VALUE, "POOL", "MetalLB IP pool")       \
	XX(LB_ADDRESS, "lb-address", 0, FK_VALUE, "IP",                      \
	    "requested load-balancer address")                               \
	XX(LB_CLASS, "lb-class", 0, FK_VALUE, "CLASS",                       \
	    "loadBalancerClass for --lb-type other")                         \
	XX(ALLOW_ADOPTION, "allow-adoption", 0, FK_BOOL, NULL,               \
	    "take over a Service of that name svcfleet does not own yet")    \
	XX(WAIT, "wait", 0, FK_BOOL, NULL,                                   \
	    "wait until the cluster confirms (within --timeout, default "    \
	    "60s)")                                                          \
	XX(FOR, "for", 0, FK_VALUE, "CONDITION",                             \
	    "what to wait for: synced or deleted")                           \
	XX(API_SERVER, "api-server", 0, FK_VALUE, "URL",                     \
	    "the cluster's API server, https://HOST:PORT")                   \
	XX(NODE_PORT_RANGE, "node-port-range", 0, FK_VALUE, "MIN-MAX",       \
	    "the cluster's --service-node-port-range (default "              \
	    "30000-32767)")                                                  \
	XX(KUBECONFIG, "kubeconfig", 0, FK_VALUE, "FILE",                    \
	    "read the cluster's server, CA and credentials from a "          \
	    "kubeconfig")                                                    \
	XX(INSECURE_SKIP_TLS_VERIFY, "insecure-skip-tls-verify", 0, FK_BOOL, \
	    NULL, "accept a kubeconfig cluster that skips TLS verification") \
	XX(CONTEXT, "context", 0, FK_VALUE, "NAME",                          \
	    "kubeconfig context (with --kubeconfig)")                        \
	XX(SHOW_CREDENTIALS, "show-credentials", 0, FK_BOOL, NULL,           \
	    "print the cluster's credentials instead of <redacted>")         \
	XX(USER, "user", 0, FK_VALUE, "USER", "user name")                   \
	XX(GROUP, "group", 0, FK_VALUE, "GROUP", "group name")               \
	XX(GROUPS, "groups", 0, FK_LIST, "G1,G2",                            \
	    "groups of the token's user, comma-separated; repeatable")       \
	XX(TTL, "ttl", 0, FK_VALUE, "DURATION",                              \
	    "lifetime, e.g. 24h, 30d (default: no expiry)")                  \
	XX(SINCE, "since", 0, FK_VALUE, "DURATION|TIME",                     \
	    "only what happened since then: 1h, 30m, or an RFC 3339 time")   \
	XX(NAME, "name", 0, FK_VALUE, "NAME", "object name")                 \
	XX(CLIENT, "client", 0, FK_BOOL, NULL,                               \
	    "print the client version only")                                 \
	/* issue 17: say which server and token a command uses */            \
	XX(VERBOSE, "verbose", 'v', FK_BOOL, NULL,                           \
	    "say on stderr which server the command talks to and where its " \
	    "token came from")                                               \
	/* i19: history, rollback, audit */                                  \
	XX(INCLUDE_SYSTEM, "include-system", 0, FK_BOOL, NULL,               \
	    "also show the reconciler's status and health reports")          \
	XX(GENERATION, "generation", 0, FK_VALUE, "G",                       \
	    "one generation of the history")                                 \
	XX(TO_GENERATION, "to-generation", 0, FK_VALUE, "G",                 \
	    "the generation whose spec the rollback restores")               \
	/* i20-cli: the cluster's own token; --version */                    \
	XX(CLUSTER_TOKEN_FILE, "cluster-token-file", 0, FK_VALUE, "FILE",    \
	    "file holding the cluster's bearer token (yours is "             \
	    "--token-file)")                                                 \
	XX(VERSION, "version", 0, FK_BOOL, NULL,                             \
	    "print the client version and exit")                             \
	/* i19-edit: diff */                                                 \
	XX(SERVER_SIDE, "server-side", 0, FK_BOOL, NULL,                     \
	    "also have each target cluster's API server dry-run the apply")

enum cli_flag_id {
#define CLI_FLAG_ENUM(id, name, sh, kind, meta, help) F_##id,
	CLI_FLAGS(CLI_FLAG_ENUM)
#undef CLI_FLAG_ENUM
	    F_COUNT
};

#define FL(id) (UINT64_C(1) << F_##id)

typedef struct cli_flag_def {
	const char *fd_name;
	char        fd_short;
	int         fd_kind;
	const char *fd_meta;
	const char *fd_help;
} cli_flag_def;

extern const cli_flag_def sf__cli_flag_defs[F_COUNT];

enum cli_output {
	OUT_TABLE,
	OUT_WIDE,
	OUT_JSON,
	OUT_YAML,
	OUT_NAME,
};

typedef struct cli cli;
typedef int        cli_handler(cli *c);

// cli_flag_help: a flag whose meaning differs in one command.
typedef struct cli_flag_help {
	int         fh_id; // F_*, -1 ends the list
	const char *fh_help;
} cli_flag_help;

// cli_cmd: one row of the command table.
typedef struct cli_cmd {
	const char  *cm_words; // "get service|services|svc": | = aliases
	cli_handler *cm_fn;
	int          cm_args_min; // positional arguments after the words
	int          cm_args_max;
	uint64_t     cm_flags;    // allowed besides the global ones (FL())
	uint64_t     cm_required; // flags that must be given
	const char  *cm_usage;    // "get services [NAME] [flags]"
	const char  *cm_summary;  // one line for `svcfleet help`
	const char  *cm_help;     // paragraph(s) for `--help`, may be NULL
	const cli_flag_help *cm_flag_help; // may be NULL
	unsigned             cm_opts;      // CMD_* below
	const char          *cm_arg; // the argument's name in errors, NULL:
	                             // "NAME"
} cli_cmd;

// The command needs no connection and no token (help).
#define CMD_LOCAL 0x2u
// A command that lists a global flag among its own cm_flags gives it its
// own meaning: for `cluster add`, --ca-file is the cluster's CA, and the
// CA of svcfleetd's certificate then comes from SVCFLEET_CA_FILE only.

typedef struct cli_list {
	const char **l_v;
	size_t       l_n;
} cli_list;

// cli: one run of the program.
struct cli {
	const char    *c_prog; // "svcfleet"
	const cli_cmd *c_cmd;
	const char   **c_args; // positional arguments after the words
	size_t         c_nargs;
	bool           c_set[F_COUNT];
	const char    *c_val[F_COUNT]; // last value (bools: "true"/"false")
	cli_list       c_list[F_COUNT];
	int            c_output;
	uint32_t       c_timeout_ms;
	char           c_cmdname[64]; // the command's canonical words, or
	                              // the group's ("cluster") for hints
	char c_perr[512];             // first parse error, reported once the
	                              // command (and so its help) is known
	// From a scoped name, service/CLUSTER/NAMESPACE/NAME (-o name's
	// form), until run() makes them --cluster and -n (issue 20).
	const char *c_scope_cluster;
	const char *c_scope_ns;

	svcfleet_client *c_client; // NULL until sf__cli_connect
	svcfleet_status  c_st;     // status of the last call
	const char      *c_url;
	sf_arena         c_arena; // requests, strings; freed at exit
};

// ------------------------------------------------------------- main.c

// sf__cli_flag: true when a bool flag is on.
bool sf__cli_flag(const cli *c, int id);
// sf__cli_value: a flag's (last) value or def when not given.
const char *sf__cli_value(const cli *c, int id, const char *def);
// sf__cli_namespace: -n or "default".
const char *sf__cli_namespace(const cli *c);
// sf__cli_parse_limit reads --limit (a positive number) into *limit, dflt
// when not given. Returns 0 or the usage failure it prints.
int sf__cli_parse_limit(cli *c, uint32_t dflt, uint32_t *limit);

// ------------------------------------------------------------ errors.c

// sf__cli_usage prints "error: <msg> (see 'svcfleet <cmd> --help')" and
// returns CLI_EXIT_USAGE. A usage error is found before any call: it
// carries no RPC status name.
int sf__cli_usage(const cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
// sf__cli_fail prints "error: <NAME>: <msg>" and returns CLI_EXIT_FAIL.
int sf__cli_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
// sf__cli_fail_status prints a call's status: the error line (message
// prefixed with prefix when not NULL) and one line per violation. Returns
// CLI_EXIT_FAIL.
int sf__cli_fail_status(const svcfleet_status *st, const char *prefix);
// sf__cli_name_flags makes sf__cli_fail_status name, after each violation, the
// flag of c that set the field (create and update service; issue 20).
void sf__cli_name_flags(cli *c);
// sf__cli_field_flag (fieldflag.c): "--port 80@30080" for the field path a
// violation names, when a create/update flag sets it; NULL otherwise.
const char *sf__cli_field_flag(cli *c, const char *field);
// sf__cli_fail_sf is sf__cli_fail_status for a local (model) status.
int sf__cli_fail_sf(const sf_status *st, const char *prefix);
// sf__cli_set_auth_hint sets the line ("hint: ...") sf__cli_fail_status prints
// after an UNAUTHENTICATED error: how to pass a token, and where the one
// sent came from. hint is borrowed and must outlive the run.
void sf__cli_set_auth_hint(const char *hint);

// ----------------------------------------------------------- connect.c

// sf__cli_connect opens the connection (once) with the server URL, token and
// timeout the flags and environment give. Returns 0, or prints the error
// and returns CLI_EXIT_FAIL.
int sf__cli_connect(cli *c);

// sf__cli_term_guard makes stdout and stderr, where they are terminals, print
// control characters instead of passing them to the terminal (term.c;
// issue 17). Called once, first thing in main.
void sf__cli_term_guard(void);
// sf__cli_read_file reads a whole file ("-": stdin) into out. Returns 0 or -1
// with errno set.
int sf__cli_read_file(const char *path, sf_buf *out);
// sf__cli_manifest_load reads and parses the manifest file path ("-": stdin,
// named "<stdin>" in messages) into set (sf_manifest_set_fini it either
// way). Returns 0, or -1 once the error (naming the file, or the field and
// line) has been printed. apply and diff read their files so.
struct sf_manifest_set;
int sf__cli_manifest_load(const char *path, struct sf_manifest_set *set);
// sf__cli_read_secret reads a token file: its first line, blanks trimmed,
// allocated from the run's arena. NULL with errno on failure; an empty
// file gives "".
char *sf__cli_read_secret(cli *c, const char *path);

// ------------------------------------------------------------ output.c

// cli_table: cells of a kubectl-style table, printed with column widths
// computed from the content (3 spaces between columns).
typedef struct cli_table {
	size_t t_ncols;
	size_t t_nrows;
	size_t t_cap;
	char **t_cells; // t_nrows * t_ncols, heap strings
} cli_table;

void sf__cli_table_init(cli_table *t, size_t ncols);
void sf__cli_table_fini(cli_table *t);
// sf__cli_table_add adds a row of t_ncols strings (copied). Returns 0 or -1.
int  sf__cli_table_add(cli_table *t, const char *const *cells);
void sf__cli_table_print(const cli_table *t, FILE *f);
// sf__cli_table_done ends a table whose rows were added with result rv: prints
// it to stdout when rv is 0, frees it, and returns 0 or the failure it
// prints (out of memory).
int sf__cli_table_done(cli_table *t, int rv);

// sf__cli_print_object prints obj as JSON (4-space indent, like kubectl) or,
// for OUT_YAML, as one YAML document. Returns 0 or prints an error and
// returns CLI_EXIT_FAIL.
int sf__cli_print_object(const cli *c, const json_t *obj);

// sf__cli_print_list prints items (a JSON array, consumed; NULL means out of
// memory) as one Kubernetes List (v1 List, as kubectl prints several
// objects) in the -o json|yaml format. Returns as sf__cli_print_object.
int sf__cli_print_list(const cli *c, json_t *items);

// sf__cli_print_services prints services in the -o format. list: print a
// Kubernetes List (json/yaml) even for one object. all_ns adds the
// NAMESPACE column.
int sf__cli_print_services(const cli *c, Svcfleet__V1__Service *const *svcs,
    size_t n, bool list, bool all_ns);

// sf__cli_print_clusters prints cluster records in the -o format; credentials
// are masked unless --show-credentials.
int sf__cli_print_clusters(
    const cli *c, Svcfleet__V1__Cluster *const *cls, size_t n, bool list);

// sf__cli_print_service_name prints a Service as -o name does, scoped by
// cluster and namespace: "service/CLUSTER/NAMESPACE/NAME" (issue 20; a
// name alone is ambiguous across clusters). get, describe, delete, wait,
// history and rollback take that form back as their argument.
void sf__cli_print_service_name(
    const char *cluster, const char *ns, const char *name);

// sf__cli_age formats the time since ms (epoch milliseconds) as kubectl's AGE
// column does; "<unknown>" for 0.
void sf__cli_age(int64_t ms, char *buf, size_t cap);

// ------------------------------------------------------------ identity

// rbac.c, token.c, whoami.c and audit.c. What rbac.c shares: how role
// bindings and times print.

// sf__cli_binding_subject: "user:alice" or "group:devs" (from the arena).
const char *sf__cli_binding_subject(
    cli *c, const Svcfleet__V1__RoleBinding *b);
// Under -o json|yaml they print as model/'s sf_model_*_json encode them,
// as the JSON gateway does.

int sf__cli_cmd_rbac_grant(cli *c);
int sf__cli_cmd_rbac_revoke(cli *c);
int sf__cli_cmd_rbac_list(cli *c);
int sf__cli_cmd_token_create(cli *c);
int sf__cli_cmd_token_revoke(cli *c);
int sf__cli_cmd_token_list(cli *c);
int sf__cli_cmd_whoami(cli *c);
// reconcilers.c (issue 16)
int sf__cli_cmd_reconcilers(cli *c);
int sf__cli_cmd_audit(cli *c);
// i19: history.c
int sf__cli_cmd_history_service(cli *c);
int sf__cli_cmd_rollback_service(cli *c);
// i19: create.c
int sf__cli_cmd_update_service(cli *c);
// i19: audit.c
int sf__cli_cmd_drift(cli *c);
// i19-edit: edit.c, diff.c
int sf__cli_cmd_edit_service(cli *c);
int sf__cli_cmd_diff(cli *c);

// ------------------------------------------------------------ port.c

// sf__cli_port_parse parses a --port value, [NAME:]PORT[:TARGET][/PROTO]
// [@NODEPORT], into p (strings from the arena). Numbers are not
// range-checked here: the server reports a bad port with its field path.
// Returns 0, or -1 with a reason in why.
int sf__cli_port_parse(const char *spec, sf_arena *a,
    Svcfleet__V1__ServicePort *p, char *why, size_t whycap);

// sf__cli_kv_parse splits "key=value" (the value may hold '=' and ',').
// Returns 0 or -1 when there is no '=' or the key is empty.
int sf__cli_kv_parse(const char *s, sf_arena *a, Svcfleet__V1__KeyValue *kv);

// ------------------------------------------------------- command handlers

int sf__cli_cmd_apply(cli *c);
int sf__cli_cmd_create_service(cli *c);
int sf__cli_cmd_get_services(cli *c);
int sf__cli_cmd_delete_service(cli *c);
int sf__cli_cmd_cluster_add(cli *c);
int sf__cli_cmd_cluster_list(cli *c);
int sf__cli_cmd_cluster_get(cli *c);
int sf__cli_cmd_cluster_remove(cli *c);
int sf__cli_cmd_cluster_namespaces(cli *c);
int sf__cli_cmd_cluster_workloads(cli *c);
int sf__cli_cmd_version(cli *c);
int sf__cli_cmd_describe_service(cli *c);
int sf__cli_cmd_wait_service(cli *c);

// fleet.c: FleetService (issue 18). sf__cli_fleet_apply_doc applies (dry:
// dry run; preview: dry run printing each cluster's rendered copy) one
// FleetService document; where prefixes errors; *fatal: stop the run.
int sf__cli_fleet_apply_doc(cli *c, const json_t *obj, bool dry, bool preview,
    const char *where, bool *fatal);
int sf__cli_cmd_fleet_preview(cli *c);
int sf__cli_cmd_get_fleet(cli *c);
int sf__cli_cmd_describe_fleet(cli *c);
int sf__cli_cmd_delete_fleet(cli *c);
int sf__cli_cmd_fleet_convert(cli *c);
int sf__cli_cmd_cluster_label(cli *c);
int sf__cli_cmd_addresses(cli *c);

// ------------------------------------------------------------ suggest.c

// cli_suggest: the closest of several candidate words to one the user
// typed, for "did you mean" (issue 20).
typedef struct cli_suggest {
	const char *sg_word;
	char        sg_best[65];
	size_t      sg_dist;
} cli_suggest;

void sf__cli_suggest_init(cli_suggest *s, const char *word);
// sf__cli_suggest_add offers the n characters at cand.
void sf__cli_suggest_add(cli_suggest *s, const char *cand, size_t n);
// sf__cli_suggest_add_aliases offers each '|'-separated alias of pat (up to
// the next space), as the command table spells words.
void sf__cli_suggest_add_aliases(cli_suggest *s, const char *pat);
// sf__cli_suggest_best: the closest word close enough, or NULL.
const char *sf__cli_suggest_best(const cli_suggest *s);

// sf__cli_warn_missing_namespace (nscheck.c) prints a warning when cluster is
// READY and has no namespace ns; silent when that cannot be told.
void sf__cli_warn_missing_namespace(
    cli *c, const char *cluster, const char *ns);

// ----------------------------------------------------------- complete.c

// sf__cli_complete prints the completions of the last of words (issue 20).
int sf__cli_complete(cli *c, int n, char **words);
// main.c's tables for it: the command the leading positionals name (NULL
// when none; *nwords: how many words it took), the global flags, and the
// command words that may follow the positionals pos.
const cli_cmd *sf__cli_find_command(
    const char *const *pos, size_t npos, size_t *nwords);
uint64_t sf__cli_global_flags(void);
void     sf__cli_complete_words(const char *const *pos, size_t npos);

// --------------------------------------------------------------- wait.c

// sf__cli_wait_service waits until Service cluster/ns/name is synced (or, with
// deleted, gone), within the run's --timeout (default 60 s), showing a
// live progress line on a terminal. Returns 0, or prints the error and
// returns CLI_EXIT_FAIL.
int sf__cli_wait_service(cli *c, const char *cluster, const char *ns,
    const char *name, bool deleted);

#endif // SF_CLI_H
