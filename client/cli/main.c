// main.c: svcfleet, the command line of svcfleetd — the flag and command
// tables, parsing, generic checks, help and dispatch.
//
// Parsing happens before the command is known: every flag's arity is in
// its table row, so `svcfleet -n dev get services` and `svcfleet get
// services -n dev` read the same. Once the words name a command, the
// checks every command shares run here, in one place, before the handler:
// flags the command does not take, argument counts, required flags, the
// output format and the timeout.
//
// It is one file of about 1,400 lines because most of it is the two
// tables (flags, commands: the command table alone is some 460 lines of
// rows) and the code that reads them — help, parsing and the shared
// checks each walk both tables, which stay static to this file
// (complete.c reaches them through three functions only).
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"

const cli_flag_def sf__cli_flag_defs[F_COUNT] = {
#define CLI_FLAG_ROW(id, name, sh, kind, meta, help) \
	{name, sh, kind, meta, help},
    CLI_FLAGS(CLI_FLAG_ROW)
#undef CLI_FLAG_ROW
};

#define GLOBAL_FLAGS                                                        \
	(FL(SERVER) | FL(TOKEN) | FL(TOKEN_FILE) | FL(OUTPUT) | FL(TIMEOUT) \
	    | FL(HELP) | FL(CA_FILE) | FL(SERVER_NAME)                      \
	    | FL(INSECURE_SKIP_VERIFY) | FL(VERBOSE))

#define CREATE_SERVICE_FLAGS                                                 \
	(FL(CLUSTER) | FL(NAMESPACE) | FL(TYPE) | FL(SELECTOR) | FL(PORT)    \
	    | FL(FROM_WORKLOAD) | FL(SESSION_AFFINITY) | FL(SESSION_TIMEOUT) \
	    | FL(ANNOTATION) | FL(LABEL) | FL(TRAFFIC_POLICY) | FL(LB_TYPE)  \
	    | FL(LB_POOL) | FL(LB_ADDRESS) | FL(LB_CLASS)                    \
	    | FL(ALLOW_ADOPTION) | FL(DRY_RUN))

static int cmd_help(cli *c);

// What a flag means where it differs from its table row.
static const cli_flag_help create_flag_help[] = {
    {F_SELECTOR,
        "the Service's label selector, KEY=VALUE[,KEY=VALUE]; "
        "repeatable"},
    {-1, NULL},
};
static const cli_flag_help rbac_grant_flag_help[] = {
    {F_USER, "the user to bind"},
    {F_GROUP, "the group to bind"},
    {F_CLUSTER, "the cluster of a cluster-admin or ns-* role"},
    {F_NAMESPACE, "the namespace of an ns-* role"},
    {-1, NULL},
};
static const cli_flag_help rbac_list_flag_help[] = {
    {F_USER, "only bindings naming this user"},
    {F_CLUSTER, "only bindings in this cluster"},
    {F_NAMESPACE, "only bindings in this namespace"},
    {-1, NULL},
};
static const cli_flag_help token_list_flag_help[] = {
    {F_USER, "only this user's tokens"},
    {-1, NULL},
};
static const cli_flag_help audit_flag_help[] = {
    {F_USER, "only calls by this user"},
    {F_CLUSTER, "only calls on this cluster"},
    {F_NAMESPACE, "only calls on this namespace"},
    {F_NAME, "only calls on an object of this name"},
    {F_LIMIT, "stop after N events (default 50)"},
    {-1, NULL},
};
static const cli_flag_help cluster_add_flag_help[] = {
    {F_CA_FILE,
        "PEM bundle that verifies the cluster's API server (here not "
        "svcfleetd's: for a tls+tcp:// server use SVCFLEET_CA_FILE)"},
    {F_LABEL, "label of the cluster record; repeatable"},
    {-1, NULL},
};

// i19-edit: diff reads files (not directories) and stdin.
static const cli_flag_help diff_flag_help[] = {
    {F_FILENAME, "manifest file, or - for stdin; repeatable"},
    {-1, NULL},
};

// The command table. Words are matched against the leading positional
// arguments; "a|b" lists aliases, the first being the canonical spelling.
static const cli_cmd cli_commands[] = {
    {
        .cm_words    = "apply",
        .cm_fn       = sf__cli_cmd_apply,
        .cm_flags    = FL(FILENAME) | FL(CLUSTER) | FL(DRY_RUN),
        .cm_required = FL(FILENAME),
        .cm_usage    = "apply -f FILE|DIR|- [--cluster C] [--dry-run]",
        .cm_summary  = "create or update Services from Kubernetes manifests",
        .cm_help
        = "Reads Kubernetes v1 Service manifests (multi-document YAML, JSON, "
          "or a List) and creates what is missing and updates what "
          "exists, like kubectl apply. Each document is applied on its "
          "own: a bad one is reported with its file, document (counted "
          "from 0) and line, the others are still applied, and the exit "
          "code is 1. A file that is not valid YAML or JSON is not "
          "applied at all. The cluster comes from --cluster or the "
          "svcfleet.io/cluster annotation. A manifest carrying "
          "metadata.resourceVersion must match the stored object (else "
          "ABORTED).",
    },
    {
        .cm_words    = "create service|svc",
        .cm_fn       = sf__cli_cmd_create_service,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags    = CREATE_SERVICE_FLAGS,
        .cm_required = FL(CLUSTER) | FL(PORT),
        .cm_usage
        = "create service NAME --cluster C [-n NS]\n"
          "        [--type clusterip|nodeport|loadbalancer]\n"
          "        --selector k=v[,k=v] | --from-workload deployment/NAME\n"
          "        --port [NAME:]PORT[:TARGET][/TCP|/UDP|/SCTP][@NODEPORT] "
          "...\n"
          "        [--session-affinity [--session-timeout SECONDS]]\n"
          "        [--annotation k=v]... [--label k=v]...\n"
          "        [--traffic-policy cluster|local] [--lb-type "
          "metallb|other]\n"
          "        [--lb-pool POOL] [--lb-address IP] [--lb-class CLASS]\n"
          "        [--allow-adoption] [--dry-run]",
        .cm_summary = "create a Service in one cluster and namespace",
        .cm_help
        = "Examples:\n"
          "  svcfleet create service web-front --cluster prod -n shop "
          "--type nodeport \\\n"
          "      --selector app=web --port http:80:8080@30080\n"
          "  svcfleet create service dns-cache --cluster prod "
          "--selector k8s-app=dns \\\n"
          "      --port dns:53/UDP --port dns-tcp:53/TCP",
        .cm_flag_help = create_flag_help,
    },
    {
        .cm_words    = "get service|services|svc",
        .cm_fn       = sf__cli_cmd_get_services,
        .cm_args_max = 1,
        .cm_flags    = FL(CLUSTER) | FL(NAMESPACE) | FL(ALL_NAMESPACES)
            | FL(SELECTOR) | FL(LIMIT),
        .cm_usage   = "get services [--cluster C] [-n NS | -A] [-l SELECTOR] "
                      "[--limit N]\n"
                      "       svcfleet get service NAME --cluster C [-n NS]",
        .cm_summary = "list Services, or show one",
        .cm_help    = "Without NAME, lists the Services of one namespace (-n, "
                      "default \"default\") or of all (-A), in every cluster "
                      "unless --cluster is given; pages are followed until "
                      "the end or --limit.",
    },
    {
        .cm_words    = "delete service|services|svc",
        .cm_fn       = sf__cli_cmd_delete_service,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags    = FL(CLUSTER) | FL(NAMESPACE) | FL(WAIT),
        .cm_required = FL(CLUSTER),
        .cm_usage    = "delete service NAME --cluster C [-n NS] [--wait]",
        .cm_summary  = "delete a Service",
        .cm_help
        = "A Service no cluster holds yet is removed at once; otherwise "
          "it is marked for deletion until the reconciler confirms the "
          "cluster deleted it. --wait waits for that (within --timeout, "
          "default 60s), with a progress line on a terminal.",
    },
    {
        .cm_words    = "describe service|services|svc",
        .cm_fn       = sf__cli_cmd_describe_service,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags    = FL(CLUSTER) | FL(NAMESPACE),
        .cm_required = FL(CLUSTER),
        .cm_usage    = "describe service NAME --cluster C [-n NS]",
        .cm_summary  = "show a Service: spec, per-cluster status, recent "
                       "audit",
    },
    {
        .cm_words    = "wait service|services|svc",
        .cm_fn       = sf__cli_cmd_wait_service,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags    = FL(CLUSTER) | FL(NAMESPACE) | FL(FOR),
        .cm_required = FL(CLUSTER) | FL(FOR),
        .cm_usage    = "wait service NAME --cluster C [-n NS] --for "
                       "synced|deleted [--timeout 60s]",
        .cm_summary  = "wait until a Service is synced in its cluster, or "
                       "deleted",
        .cm_help
        = "Synced means the cluster holds the Service's current "
          "generation (a LoadBalancer also has its address). --timeout "
          "bounds the whole wait here (default 60s); on a terminal a "
          "progress line shows the state as it moves. Exit code 1 when "
          "the time runs out, with the last state seen.",
    },
    {
        .cm_words    = "cluster add",
        .cm_fn       = sf__cli_cmd_cluster_add,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags    = FL(API_SERVER) | FL(CA_FILE) | FL(CLUSTER_TOKEN_FILE)
            | FL(NODE_PORT_RANGE) | FL(LABEL) | FL(KUBECONFIG) | FL(CONTEXT)
            | FL(INSECURE_SKIP_TLS_VERIFY),
        .cm_usage     = "cluster add NAME --api-server URL "
                        "--cluster-token-file FILE [--ca-file FILE]\n"
                        "       svcfleet cluster add NAME --kubeconfig FILE "
                        "[--context X] [--insecure-skip-tls-verify]\n"
                        "        [--node-port-range 30000-32767] [--label "
                        "k=v]...",
        .cm_summary   = "register a cluster",
        .cm_flag_help = cluster_add_flag_help,
    },
    {
        .cm_words   = "cluster list|ls",
        .cm_fn      = sf__cli_cmd_cluster_list,
        .cm_flags   = FL(SHOW_CREDENTIALS),
        .cm_usage   = "cluster list",
        .cm_summary = "list the registered clusters",
    },
    {
        .cm_words    = "cluster get",
        .cm_fn       = sf__cli_cmd_cluster_get,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags    = FL(SHOW_CREDENTIALS),
        .cm_usage    = "cluster get NAME [--show-credentials]",
        .cm_summary  = "show a cluster record",
        .cm_help     = "Credentials print as <redacted> unless "
                       "--show-credentials is given (and the server shows "
                       "them to admins only).",
    },
    {
        .cm_words    = "cluster remove|rm",
        .cm_fn       = sf__cli_cmd_cluster_remove,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_usage    = "cluster remove NAME",
        .cm_summary  = "unregister a cluster no Service names any more",
    },
    {
        .cm_words    = "cluster namespaces|ns",
        .cm_fn       = sf__cli_cmd_cluster_namespaces,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_usage    = "cluster namespaces NAME",
        .cm_summary  = "list a cluster's namespaces, read live",
    },
    {
        .cm_words    = "cluster workloads",
        .cm_fn       = sf__cli_cmd_cluster_workloads,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags    = FL(NAMESPACE),
        .cm_usage    = "cluster workloads NAME [-n NS]",
        .cm_summary = "list a namespace's workloads and pod labels, read live",
    },
    {
        .cm_words     = "rbac grant",
        .cm_fn        = sf__cli_cmd_rbac_grant,
        .cm_args_min  = 1,
        .cm_args_max  = 1,
        .cm_arg       = "ROLE",
        .cm_flags     = FL(USER) | FL(GROUP) | FL(CLUSTER) | FL(NAMESPACE),
        .cm_usage     = "rbac grant (--user U | --group G) ROLE [--cluster C] "
                        "[-n NS]",
        .cm_summary   = "give a user or a group a role",
        .cm_flag_help = rbac_grant_flag_help,
        .cm_help
        = "Roles: admin and reconciler apply everywhere (no --cluster, no "
          "-n); cluster-admin applies to one cluster (--cluster); "
          "ns-admin, ns-edit and ns-view to one namespace of one cluster "
          "(--cluster and -n). An admin grants any role, a cluster-admin "
          "cluster-admin and ns-* roles in its cluster, an ns-admin "
          "ns-edit and ns-view in its namespace. Prints the binding's id, "
          "which `rbac revoke` takes.\n"
          "Example:\n"
          "  svcfleet rbac grant --group shop-devs ns-edit --cluster prod "
          "-n shop",
    },
    {
        .cm_words    = "rbac revoke",
        .cm_fn       = sf__cli_cmd_rbac_revoke,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_arg      = "ID",
        .cm_usage    = "rbac revoke ID",
        .cm_summary  = "remove a role binding (ids from `rbac list`)",
        .cm_help     = "Taking a grant away needs the power to give it.",
    },
    {
        .cm_words     = "rbac list|ls",
        .cm_fn        = sf__cli_cmd_rbac_list,
        .cm_flags     = FL(CLUSTER) | FL(NAMESPACE) | FL(USER),
        .cm_usage     = "rbac list [--cluster C] [-n NS] [--user U]",
        .cm_summary   = "list the role bindings you may see",
        .cm_flag_help = rbac_list_flag_help,
        .cm_help      = "A * in CLUSTER or NAMESPACE means every one. Listing "
                        "needs a role that grants (admin, cluster-admin, "
                        "ns-admin) and shows what it covers; anyone sees "
                        "their own bindings with `svcfleet whoami`.",
    },
    {
        .cm_words    = "token create",
        .cm_fn       = sf__cli_cmd_token_create,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_arg      = "USER",
        .cm_flags    = FL(GROUPS) | FL(TTL),
        .cm_usage    = "token create USER [--groups g1,g2] [--ttl 24h]",
        .cm_summary  = "make a bearer token for a user (admin only)",
        .cm_help
        = "Prints only the secret, on one line of stdout; it is shown this "
          "once and never stored. When stderr is a terminal, the token's "
          "id and expiry go there. -o json|yaml print the token's record "
          "with the secret. Without --ttl the token does not expire: "
          "revoke it with `svcfleet token revoke ID`.\n"
          "Example:\n"
          "  svcfleet token create alice --groups shop-devs --ttl 30d > "
          "alice.token",
    },
    {
        .cm_words    = "token revoke",
        .cm_fn       = sf__cli_cmd_token_revoke,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_arg      = "ID",
        .cm_usage    = "token revoke ID",
        .cm_summary  = "revoke a token at once (yours, or any as admin)",
    },
    {
        .cm_words     = "token list|ls",
        .cm_fn        = sf__cli_cmd_token_list,
        .cm_flags     = FL(USER),
        .cm_usage     = "token list [--user U]",
        .cm_summary   = "list tokens (yours, or all as admin); never secrets",
        .cm_flag_help = token_list_flag_help,
    },
    {
        .cm_words   = "whoami",
        .cm_fn      = sf__cli_cmd_whoami,
        .cm_usage   = "whoami",
        .cm_summary = "show who the server takes you for, and your roles",
    },
    {
        .cm_words = "audit",
        .cm_fn    = sf__cli_cmd_audit,
        .cm_flags = FL(CLUSTER) | FL(NAMESPACE) | FL(USER) | FL(NAME)
            | FL(SINCE) | FL(LIMIT) | FL(INCLUDE_SYSTEM),
        .cm_usage     = "audit [--cluster C] [-n NS] [--user U] [--name N] "
                        "[--since 1h] [--limit N] [--include-system]",
        .cm_summary   = "show the audit log: writes and denials, newest first",
        .cm_flag_help = audit_flag_help,
        .cm_help
        = "Every write and every denial is recorded, with who, what, on "
          "which object and the outcome. Reads are not. You see the "
          "events of the clusters and namespaces you may read.",
    },
    {
        .cm_words   = "version",
        .cm_fn      = sf__cli_cmd_version,
        .cm_flags   = FL(CLIENT),
        .cm_usage   = "version [--client]",
        .cm_summary = "print the client and server versions",
    },
    // Reconciler claims (issue 16).
    {
        .cm_words   = "reconcilers",
        .cm_fn      = sf__cli_cmd_reconcilers,
        .cm_usage   = "reconcilers",
        .cm_summary = "live reconcilers and the clusters each holds",
        .cm_help
        = "Every reconciler (inside svcfleetd or standalone) registers "
          "with svcfleetd and renews a lease every TTL/3; each "
          "registered cluster is held by one live reconciler at a time. "
          "Clusters nobody holds are listed after the table.",
    },
    // FleetService (issue 18).
    {
        .cm_words    = "get fleetservice|fleetservices|fsvc",
        .cm_fn       = sf__cli_cmd_get_fleet,
        .cm_args_max = 1,
        .cm_flags    = FL(NAMESPACE) | FL(ALL_NAMESPACES),
        .cm_usage    = "get fleetservices [-n NS | -A]\n"
                       "       svcfleet get fleetservice NAME [-n NS]",
        .cm_summary  = "list FleetServices (N/M synced), or show one",
    },
    {
        .cm_words    = "describe fleetservice|fleetservices|fsvc",
        .cm_fn       = sf__cli_cmd_describe_fleet,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags    = FL(NAMESPACE),
        .cm_usage    = "describe fleetservice NAME [-n NS]",
        .cm_summary  = "show a FleetService and each placed cluster's status",
    },
    {
        .cm_words    = "delete fleetservice|fleetservices|fsvc",
        .cm_fn       = sf__cli_cmd_delete_fleet,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags    = FL(NAMESPACE),
        .cm_usage    = "delete fleetservice NAME [-n NS]",
        .cm_summary  = "delete a FleetService; its copies are pruned",
    },
    {
        .cm_words    = "fleetservice preview",
        .cm_fn       = sf__cli_cmd_fleet_preview,
        .cm_flags    = FL(FILENAME) | FL(SERVER_SIDE),
        .cm_required = FL(FILENAME),
        .cm_usage    = "fleetservice preview -f FILE [--server-side]",
        .cm_summary  = "show the Service each cluster would get, writing "
                       "nothing",
        .cm_help = "Dry-runs every FleetService document of the files on the "
                   "server (placement, overrides, node ports, validation of "
                   "every cluster's copy) and prints each cluster's rendered "
                   "Service with the action apply would take (create, update, "
                   "unchanged, prune, skip). -o json|yaml prints them as one "
                   "object for tools (svcfleet diff). --server-side adds each "
                   "cluster's API server's answer to a dry run of its copy "
                   "(HTTP status and its words, admission errors included).",
    },
    {
        .cm_words    = "fleetservice convert",
        .cm_fn       = sf__cli_cmd_fleet_convert,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags    = FL(CLUSTER) | FL(NAMESPACE) | FL(DRY_RUN),
        .cm_required = FL(CLUSTER),
        .cm_usage    = "fleetservice convert NAME --cluster C [-n NS] "
                       "[--dry-run]",
        .cm_summary  = "make a FleetService from an existing Service, "
                       "keeping its node ports and address",
    },
    {
        .cm_words    = "cluster label",
        .cm_fn       = sf__cli_cmd_cluster_label,
        .cm_args_min = 2,
        .cm_args_max = 32,
        .cm_usage    = "cluster label NAME KEY=VALUE... KEY-...",
        .cm_summary  = "set (KEY=VALUE) or remove (KEY-) labels of a "
                       "cluster record",
    },
    {
        .cm_words   = "addresses",
        .cm_fn      = sf__cli_cmd_addresses,
        .cm_usage   = "addresses",
        .cm_summary = "the address plan: every cluster's MetalLB pools "
                      "(overlaps flagged), every requested and assigned "
                      "address",
    },
    {
        .cm_words    = "help",
        .cm_fn       = cmd_help,
        .cm_args_max = 4,
        .cm_usage    = "help [COMMAND]",
        .cm_summary  = "show help",
        .cm_opts     = CMD_LOCAL,
    },
    // i19: history and rollback.
    {
        .cm_words    = "history service|services|svc",
        .cm_fn       = sf__cli_cmd_history_service,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags    = FL(CLUSTER) | FL(NAMESPACE) | FL(GENERATION),
        .cm_required = FL(CLUSTER),
        .cm_usage    = "history service NAME --cluster C [-n NS] "
                       "[--generation G [-o yaml]]",
        .cm_summary  = "the kept generations of a Service's spec: when, "
                       "who, which request",
    },
    {
        .cm_words    = "rollback service|services|svc",
        .cm_fn       = sf__cli_cmd_rollback_service,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags
        = FL(CLUSTER) | FL(NAMESPACE) | FL(TO_GENERATION) | FL(DRY_RUN),
        .cm_required = FL(CLUSTER) | FL(TO_GENERATION),
        .cm_usage    = "rollback service NAME --cluster C [-n NS] "
                       "--to-generation G [--dry-run]",
        .cm_summary  = "write a new generation equal to an old one",
    },
    {
        .cm_words    = "update service|services|svc",
        .cm_fn       = sf__cli_cmd_update_service,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags    = FL(CLUSTER) | FL(NAMESPACE) | FL(TYPE) | FL(SELECTOR)
            | FL(PORT) | FL(SESSION_AFFINITY) | FL(SESSION_TIMEOUT)
            | FL(TRAFFIC_POLICY) | FL(LB_TYPE) | FL(LB_POOL) | FL(LB_ADDRESS)
            | FL(LB_CLASS) | FL(DRY_RUN),
        .cm_required = FL(CLUSTER),
        .cm_usage    = "update service NAME --cluster C [-n NS] [--type T] "
                       "[--selector k=v] [--port SPEC]... [other create "
                       "flags]",
        .cm_summary  = "change the fields the flags name, keep the rest "
                       "(saved with the version read)",
    },
    {
        .cm_words = "drift",
        .cm_fn    = sf__cli_cmd_drift,
        .cm_flags
        = FL(CLUSTER) | FL(NAMESPACE) | FL(NAME) | FL(SINCE) | FL(LIMIT),
        .cm_usage   = "drift [--cluster C] [-n NS] [--name N] [--since 1h] "
                      "[--limit N]",
        .cm_summary = "heals: what differed in a cluster, who wrote it there",
    },
    // i19-edit: edit and diff.
    {
        .cm_words    = "edit service|services|svc",
        .cm_fn       = sf__cli_cmd_edit_service,
        .cm_args_min = 1,
        .cm_args_max = 1,
        .cm_flags    = FL(CLUSTER) | FL(NAMESPACE),
        .cm_required = FL(CLUSTER),
        .cm_usage    = "edit service NAME --cluster C [-n NS]",
        .cm_summary  = "edit a Service's manifest in $KUBE_EDITOR, $EDITOR "
                       "or vi",
        .cm_help
        = "Opens the Service as a Kubernetes manifest and saves it with "
          "the resource version it opened, as kubectl edit does. When the "
          "save fails on a validation error, or because someone changed "
          "the spec since (the error names them), the file is opened "
          "again with the error as '#' lines on top. Saving it unchanged "
          "or empty cancels the edit.",
    },
    {
        .cm_words     = "diff",
        .cm_fn        = sf__cli_cmd_diff,
        .cm_flags     = FL(FILENAME) | FL(CLUSTER) | FL(SERVER_SIDE),
        .cm_required  = FL(FILENAME),
        .cm_usage     = "diff -f FILE|- [--cluster C] [--server-side]",
        .cm_flag_help = diff_flag_help,
        .cm_summary   = "what apply would change: a unified diff per object",
        .cm_help
        = "Compares each object's stored manifest with the one apply "
          "would store (asked of svcfleetd as a dry run), as kubectl diff "
          "does: both are written to LIVE and MERGED directories and "
          "compared with `diff -u -N` (or $SVCFLEET_EXTERNAL_DIFF, as "
          "KUBECTL_EXTERNAL_DIFF). A FleetService shows itself and the "
          "Service of each placed cluster. Exit code 0: no differences, "
          "1: differences, more: an error. --server-side compares, per "
          "target cluster, the object the cluster holds with its API "
          "server's answer to a dry run (dryRun=All) of the apply the "
          "reconciler would send, defaults and admission included; a "
          "cluster that cannot answer gets a '#' line and exit code 2.",
    },
};

#define NCOMMANDS (sizeof(cli_commands) / sizeof(cli_commands[0]))

// ------------------------------------------------------------- helpers

bool
sf__cli_flag(const cli *c, int id)
{
	return (c->c_set[id] && strcmp(c->c_val[id], "true") == 0);
}

const char *
sf__cli_value(const cli *c, int id, const char *def)
{
	return (c->c_set[id] ? c->c_val[id] : def);
}

int
sf__cli_parse_limit(cli *c, uint32_t dflt, uint32_t *limit)
{
	const char *v = sf__cli_value(c, F_LIMIT, NULL);
	char       *end;
	long long   n;

	*limit = dflt;
	if (v == NULL) {
		return (0);
	}
	errno = 0;
	n     = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v || n < 1
	    || n > UINT32_MAX) {
		return (sf__cli_usage(c,
		    "invalid value \"%s\" for --limit: want a positive "
		    "number",
		    v));
	}
	*limit = (uint32_t) n;
	return (0);
}

const char *
sf__cli_namespace(const cli *c)
{
	return (sf__cli_value(c, F_NAMESPACE, "default"));
}

// Does word match one of the '|'-separated aliases in pat (up to the next
// space)?
static bool
word_matches(const char *pat, const char *word)
{
	size_t wl = strlen(word);
	while (*pat != '\0' && *pat != ' ') {
		size_t n = strcspn(pat, "| ");
		if (n == wl && strncmp(pat, word, n) == 0) {
			return (true);
		}
		pat += n;
		if (*pat == '|') {
			pat++;
		}
	}
	return (false);
}

static size_t
words_count(const char *words)
{
	size_t n = 1;
	for (const char *p = words; *p != '\0'; p++) {
		n += *p == ' ';
	}
	return (n);
}

// Number of leading positionals matching cmd's words: all or nothing.
static size_t
cmd_matches(const cli_cmd *cmd, const char *const *pos, size_t npos)
{
	size_t      need = words_count(cmd->cm_words);
	const char *w    = cmd->cm_words;
	if (npos < need) {
		return (0);
	}
	for (size_t i = 0; i < need; i++) {
		if (!word_matches(w, pos[i])) {
			return (0);
		}
		w += strcspn(w, " ");
		w += *w == ' ';
	}
	return (need);
}

// "get service|services|svc" -> "get service"
static void
canonical_name(const char *words, char *out, size_t cap)
{
	size_t o = 0;
	for (const char *p = words; *p != '\0' && o + 1 < cap;) {
		size_t n = strcspn(p, "| ");
		if (o + n + 2 > cap) {
			break;
		}
		if (o > 0) {
			out[o++] = ' ';
		}
		memcpy(out + o, p, n);
		o += n;
		p += n;
		p += strcspn(p, " ");
		p += *p == ' ';
	}
	out[o] = '\0';
}

// ---------------------------------------------------------------- help

// Prints text from column col on, wrapped before column 80.
static void
print_wrapped(FILE *f, const char *text, int col)
{
	int at = col;
	while (*text != '\0') {
		int n = (int) strcspn(text, " ");
		if (at > col && at + 1 + n > 79) {
			fprintf(f, "\n%*s", col, "");
			at = col;
		} else if (at > col) {
			fputc(' ', f);
			at++;
		}
		fprintf(f, "%.*s", n, text);
		at += n;
		text += n;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

// A command's help: lines that start with a space (examples) print as
// they are, the others are wrapped.
static void
print_help_text(FILE *f, const char *text)
{
	fputc('\n', f);
	while (*text != '\0') {
		size_t n    = strcspn(text, "\n");
		char  *line = strndup(text, n);
		if (line == NULL || line[0] == ' ') {
			fprintf(f, "%.*s\n", (int) n, text);
		} else {
			print_wrapped(f, line, 0);
		}
		free(line);
		text += n;
		text += *text == '\n';
	}
}

static void
print_flag(FILE *f, int id, const cli_flag_help *over)
{
	const cli_flag_def *d    = &sf__cli_flag_defs[id];
	const char         *help = d->fd_help;
	for (; over != NULL && over->fh_id >= 0; over++) {
		if (over->fh_id == id) {
			help = over->fh_help;
		}
	}
	char left[64];
	int  n;
	if (d->fd_short != 0) {
		n = snprintf(left, sizeof(left), "  -%c, --%s%s%s",
		    d->fd_short, d->fd_name, d->fd_meta ? " " : "",
		    sf_nz(d->fd_meta));
	} else {
		n = snprintf(left, sizeof(left), "      --%s%s%s", d->fd_name,
		    d->fd_meta ? " " : "", sf_nz(d->fd_meta));
	}
	fprintf(f, "%-32s ", left);
	print_wrapped(f, help, n > 32 ? n + 1 : 33);
}

// Global flags a command gives its own meaning (skip) are left out.
static void
print_global_flags(FILE *f, uint64_t skip)
{
	fprintf(f, "\nGlobal flags (before or after the command):\n");
	for (int id = 0; id < F_COUNT; id++) {
		if ((GLOBAL_FLAGS & ~skip) & (UINT64_C(1) << id)) {
			print_flag(f, id, NULL);
		}
	}
}

static void
print_overview(FILE *f, const char *prog)
{
	fprintf(f,
	    "%s controls Kubernetes Services across many clusters through "
	    "svcfleetd.\n\nUsage: %s COMMAND [ARGS] [flags]\n\nCommands:\n",
	    prog, prog);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char name[64];
		canonical_name(cli_commands[i].cm_words, name, sizeof(name));
		fprintf(f, "  %-20s %s\n", name, cli_commands[i].cm_summary);
	}
	print_global_flags(f, 0);
	print_flag(f, F_VERSION, NULL);
	fprintf(f,
	    "\nRun '%s COMMAND --help' for a command's flags. Exit codes: 0 "
	    "ok, 1 error,\n2 usage error.\n",
	    prog);
}

static void
print_cmd_help(FILE *f, const char *prog, const cli_cmd *cmd)
{
	fprintf(f, "%c%s.\n\nUsage: %s %s\n", toupper(cmd->cm_summary[0]),
	    cmd->cm_summary + 1, prog, cmd->cm_usage);
	if (cmd->cm_help != NULL) {
		print_help_text(f, cmd->cm_help);
	}
	if (cmd->cm_flags != 0) {
		fprintf(f, "\nFlags:\n");
		for (int id = 0; id < F_COUNT; id++) {
			if (cmd->cm_flags & (UINT64_C(1) << id)) {
				print_flag(f, id, cmd->cm_flag_help);
			}
		}
	}
	// The global flags are listed once, in `svcfleet help` (issue 20);
	// a command that gives one its own meaning lists it above.
	fprintf(f,
	    "\nGlobal flags (--server, --token, --token-file, -o, --timeout, "
	    "-v, ...) work\nwith every command: see '%s help'.\n",
	    prog);
}

// Help for a first word that starts several commands ("cluster").
static bool
print_group_help(FILE *f, const char *prog, const char *word)
{
	bool any = false;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const cli_cmd *cmd = &cli_commands[i];
		if (word_matches(cmd->cm_words, word)) {
			if (!any) {
				fprintf(f, "Usage:\n");
			}
			fprintf(f, "  %s %s\n", prog, cmd->cm_usage);
			any = true;
		}
	}
	if (any) {
		fprintf(f, "\nRun '%s %s SUBCOMMAND --help' for details.\n",
		    prog, word);
	}
	return (any);
}

static const cli_cmd *
find_cmd(const char *const *pos, size_t npos, size_t *nwords)
{
	const cli_cmd *best = NULL;
	*nwords             = 0;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		size_t n = cmd_matches(&cli_commands[i], pos, npos);
		if (n > *nwords) {
			*nwords = n;
			best    = &cli_commands[i];
		}
	}
	return (best);
}

// For complete.c (issue 20): the tables, read the way parsing reads them.
const cli_cmd *
sf__cli_find_command(const char *const *pos, size_t npos, size_t *nwords)
{
	return (find_cmd(pos, npos, nwords));
}

uint64_t
sf__cli_global_flags(void)
{
	return (GLOBAL_FLAGS);
}

void
sf__cli_complete_words(const char *const *pos, size_t npos)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *w      = cli_commands[i].cm_words;
		const char *second = strchr(w, ' ');
		char        name[64];
		if (npos == 0) {
			// First words, once each (the table repeats them).
			size_t n   = strcspn(w, "| ");
			bool   dup = false;
			for (size_t k = 0; k < i && !dup; k++) {
				dup = strncmp(cli_commands[k].cm_words, w, n)
				        == 0
				    && strchr(
				           "| ", cli_commands[k].cm_words[n])
				        != NULL;
			}
			if (!dup) {
				printf("%.*s\n", (int) n, w);
			}
		} else if (npos == 1 && second != NULL
		    && word_matches(w, pos[0])) {
			canonical_name(second + 1, name, sizeof(name));
			printf("%s\n", name);
		}
	}
}

static int
cmd_help(cli *c)
{
	size_t         nw;
	const cli_cmd *cmd = find_cmd(c->c_args, c->c_nargs, &nw);
	if (c->c_nargs == 0) {
		print_overview(stdout, c->c_prog);
		return (CLI_EXIT_OK);
	}
	if (cmd != NULL && cmd->cm_fn != cmd_help) {
		print_cmd_help(stdout, c->c_prog, cmd);
		return (CLI_EXIT_OK);
	}
	if (print_group_help(stdout, c->c_prog, c->c_args[0])) {
		return (CLI_EXIT_OK);
	}
	return (sf__cli_usage(c, "unknown command \"%s\"", c->c_args[0]));
}

// ------------------------------------------------------------- parsing

static const char *const resource_aliases[] = {"service", "services", "svc"};

// "service/web" (kubectl's TYPE/NAME) -> "service" "web"; also the
// scoped form -o name prints, "service/CLUSTER/NAMESPACE/NAME", whose
// cluster and namespace become --cluster and -n.
static bool
split_type_name(cli *c, const char *arg, const char **type, const char **name)
{
	const char *slash = strchr(arg, '/');
	if (slash == NULL || slash[1] == '\0') {
		return (false);
	}
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(resource_aliases[i]);
		if ((size_t) (slash - arg) == n
		    && strncmp(arg, resource_aliases[i], n) == 0) {
			const char *rest = slash + 1;
			const char *s1   = strchr(rest, '/');
			const char *s2
			    = s1 != NULL ? strchr(s1 + 1, '/') : NULL;
			*type = resource_aliases[i];
			if (s1 != NULL
			    && (s2 == NULL || s1 == rest || s2 == s1 + 1
			        || s2[1] == '\0' || strchr(s2 + 1, '/'))) {
				return (false); // neither NAME nor C/NS/NAME
			}
			if (s2 != NULL) {
				c->c_scope_cluster = sf_arena_strndup(
				    &c->c_arena, rest, (size_t) (s1 - rest));
				c->c_scope_ns = sf_arena_strndup(&c->c_arena,
				    s1 + 1, (size_t) (s2 - s1 - 1));
				rest          = s2 + 1;
			}
			*name = sf_arena_strdup(&c->c_arena, rest);
			return (*name != NULL);
		}
	}
	return (false);
}

// A scoped name's cluster and namespace, as --cluster and -n; a flag
// that says otherwise is a usage error (which one was meant?).
static int
apply_scope(cli *c)
{
	static const int ids[]  = {F_CLUSTER, F_NAMESPACE};
	const char      *vals[] = {c->c_scope_cluster, c->c_scope_ns};
	for (size_t i = 0; i < 2; i++) {
		if (vals[i] == NULL) {
			continue;
		}
		if (c->c_set[ids[i]]
		    && strcmp(c->c_val[ids[i]], vals[i]) != 0) {
			return (sf__cli_usage(c,
			    "--%s %s contradicts the name's %s \"%s\"",
			    sf__cli_flag_defs[ids[i]].fd_name,
			    c->c_val[ids[i]], i == 0 ? "cluster" : "namespace",
			    vals[i]));
		}
		c->c_set[ids[i]] = true;
		c->c_val[ids[i]] = vals[i];
	}
	return (0);
}

// Records the first parse error; it is printed once the command is known,
// so the hint can name the command's help.
static int parse_error(cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
parse_error(cli *c, const char *fmt, ...)
{
	va_list ap;
	if (c->c_perr[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(c->c_perr, sizeof(c->c_perr), fmt, ap);
		va_end(ap);
	}
	return (-1);
}

static int
parse_bool(cli *c, int id, const char *v)
{
	static const char *const yes[]
	    = {"true", "1", "yes", "client", "server", "all"};
	static const char *const no[] = {"false", "0", "no", "none"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(v, yes[i]) == 0) {
			c->c_val[id] = "true";
			return (0);
		}
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (strcmp(v, no[i]) == 0) {
			c->c_val[id] = "false";
			return (0);
		}
	}
	return (
	    parse_error(c, "invalid value \"%s\" for --%s: want true or false",
	        v, sf__cli_flag_defs[id].fd_name));
}

// Flags that say who the caller is or whom to trust: given twice with
// different values they are a usage error, not "the last wins" — a second
// --token-file once meant the cluster's token and silently switched the
// caller's identity (issue 20).
#define ONCE_FLAGS                                                  \
	(FL(TOKEN) | FL(TOKEN_FILE) | FL(CA_FILE) | FL(SERVER_NAME) \
	    | FL(CLUSTER_TOKEN_FILE))

static int
set_flag(cli *c, int id, const char *v, int argc)
{
	const cli_flag_def *d = &sf__cli_flag_defs[id];
	if (c->c_set[id] && (ONCE_FLAGS & (UINT64_C(1) << id))
	    && strcmp(c->c_val[id], v) != 0) {
		// A token's value is a secret: it is not repeated.
		bool secret = id == F_TOKEN;
		return (parse_error(c,
		    "flag --%s is given twice with different "
		    "values%s%s%s%s%s%s",
		    d->fd_name, secret ? "" : " (\"",
		    secret ? "" : c->c_val[id], secret ? "" : "\" and \"",
		    secret ? "" : v, secret ? "" : "\")",
		    id == F_TOKEN_FILE ? ": --token-file is your own token; "
		                         "a cluster's is --cluster-token-file"
		                       : ""));
	}
	c->c_set[id] = true;
	if (d->fd_kind == FK_BOOL) {
		return (parse_bool(c, id, v));
	}
	if (v[0] == '\0') {
		return (parse_error(
		    c, "flag --%s needs a non-empty value", d->fd_name));
	}
	c->c_val[id] = v;
	if (d->fd_kind == FK_LIST) {
		cli_list *l = &c->c_list[id];
		if (l->l_v == NULL) {
			l->l_v = sf_arena_alloc(
			    &c->c_arena, (size_t) argc * sizeof(*l->l_v));
			if (l->l_v == NULL) {
				return (parse_error(c, "out of memory"));
			}
		}
		l->l_v[l->l_n++] = v;
	}
	return (0);
}

static int
find_long(const char *name, size_t n)
{
	for (int id = 0; id < F_COUNT; id++) {
		if (strlen(sf__cli_flag_defs[id].fd_name) == n
		    && strncmp(sf__cli_flag_defs[id].fd_name, name, n) == 0) {
			return (id);
		}
	}
	return (-1);
}

static int
find_short(char ch)
{
	for (int id = 0; id < F_COUNT; id++) {
		if (sf__cli_flag_defs[id].fd_short == ch) {
			return (id);
		}
	}
	return (-1);
}

// "unknown flag: --clustr; did you mean --cluster?"
static void
unknown_flag(cli *c, const char *name, size_t n)
{
	char        word[65];
	cli_suggest sg;
	snprintf(word, sizeof(word), "%.*s", (int) (n < 64 ? n : 64), name);
	sf__cli_suggest_init(&sg, word);
	for (int id = 0; id < F_COUNT; id++) {
		sf__cli_suggest_add(&sg, sf__cli_flag_defs[id].fd_name,
		    strlen(sf__cli_flag_defs[id].fd_name));
	}
	if (sf__cli_suggest_best(&sg) != NULL) {
		parse_error(c, "unknown flag: --%s; did you mean --%s?", word,
		    sf__cli_suggest_best(&sg));
	} else {
		parse_error(c, "unknown flag: --%s", word);
	}
}

// Splits argv into flags (into c) and positionals (into pos). Problems
// are recorded with parse_error and parsing goes on, so that the command
// can still be found for the hint.
static void
parse_args(cli *c, int argc, char **argv, const char **pos, size_t *npos)
{
	bool only_pos = false;
	*npos         = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		int         id;

		if (only_pos || a[0] != '-' || a[1] == '\0') {
			const char *type, *name;
			if (*npos == 1
			    && split_type_name(c, a, &type, &name)) {
				pos[(*npos)++] = type;
				pos[(*npos)++] = name;
			} else {
				pos[(*npos)++] = a;
			}
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t n = eq ? (size_t) (eq - a - 2) : strlen(a + 2);
			if ((id = find_long(a + 2, n)) < 0) {
				unknown_flag(c, a + 2, n);
				continue;
			}
			val = eq ? eq + 1 : NULL;
		} else {
			if ((id = find_short(a[1])) < 0) {
				parse_error(c,
				    "unknown shorthand flag: '%c' in %s", a[1],
				    a);
				continue;
			}
			if (a[2] != '\0') {
				val = a + 2 + (a[2] == '=');
			}
		}
		if (val == NULL) {
			if (sf__cli_flag_defs[id].fd_kind == FK_BOOL) {
				val = "true";
			} else if (i + 1 < argc) {
				val = argv[++i];
			} else {
				parse_error(c, "flag needs an argument: --%s",
				    sf__cli_flag_defs[id].fd_name);
				continue;
			}
		}
		set_flag(c, id, val, argc);
	}
}

// The checks every command shares, in the order a user fixes them.
static int
check_cmd(cli *c)
{
	const cli_cmd *cmd     = c->c_cmd;
	uint64_t       allowed = GLOBAL_FLAGS | cmd->cm_flags;

	for (int id = 0; id < F_COUNT; id++) {
		if (c->c_set[id] && !(allowed & (UINT64_C(1) << id))) {
			return (sf__cli_usage(c,
			    "flag --%s is not used by \"%s %s\"",
			    sf__cli_flag_defs[id].fd_name, c->c_prog,
			    c->c_cmdname));
		}
	}
	if (c->c_nargs < (size_t) cmd->cm_args_min) {
		return (sf__cli_usage(c, "\"%s %s\" needs a %s argument",
		    c->c_prog, c->c_cmdname,
		    cmd->cm_arg != NULL ? cmd->cm_arg : "NAME"));
	}
	if (c->c_nargs > (size_t) cmd->cm_args_max) {
		return (sf__cli_usage(c, "unexpected argument \"%s\"",
		    c->c_args[cmd->cm_args_max]));
	}
	for (int id = 0; id < F_COUNT; id++) {
		if ((cmd->cm_required & (UINT64_C(1) << id))
		    && !c->c_set[id]) {
			return (
			    sf__cli_usage(c, "required flag --%s is missing",
			        sf__cli_flag_defs[id].fd_name));
		}
	}
	return (0);
}

static int
check_output(cli *c)
{
	static const char *const names[]
	    = {"table", "wide", "json", "yaml", "name"};
	const char *o = sf__cli_value(c, F_OUTPUT, "table");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(o, names[i]) == 0) {
			c->c_output = (int) i;
			return (0);
		}
	}
	return (sf__cli_usage(c,
	    "unknown output format \"%s\" for -o: want table, wide, json, "
	    "yaml or name",
	    o));
}

static int
check_timeout(cli *c)
{
	const char *t
	    = sf__cli_value(c, F_TIMEOUT, getenv("SVCFLEET_TIMEOUT"));
	int64_t ms;
	if (t == NULL || t[0] == '\0') {
		c->c_timeout_ms = 30000;
		return (0);
	}
	if (sf_duration_parse(t, &ms) != 0 || ms <= 0 || ms > 86400000) {
		return (sf__cli_usage(c,
		    "invalid value \"%s\" for --timeout: want a duration such "
		    "as 30s or 2m",
		    t));
	}
	c->c_timeout_ms = (uint32_t) ms;
	return (0);
}

// Is word a verb whose commands take a resource type (get service), rather
// than a group of subcommands (cluster add, rbac grant)?
static bool
resource_verb(const char *word)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *w      = cli_commands[i].cm_words;
		const char *second = strchr(w, ' ');
		if (word_matches(w, word) && second != NULL
		    && word_matches(second + 1, "service")) {
			return (true);
		}
	}
	return (false);
}

// ": did you mean \"create\"?" for a mistyped first word (group NULL) or
// a mistyped second word of group ("get"); "" when nothing is close.
static const char *
did_you_mean(cli *c, const char *group, const char *word)
{
	cli_suggest sg;
	sf__cli_suggest_init(&sg, word);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *w      = cli_commands[i].cm_words;
		const char *second = strchr(w, ' ');
		if (group == NULL) {
			sf__cli_suggest_add_aliases(&sg, w);
		} else if (second != NULL && word_matches(w, group)) {
			sf__cli_suggest_add_aliases(&sg, second + 1);
		}
	}
	if (sf__cli_suggest_best(&sg) == NULL) {
		return ("");
	}
	return (sf_arena_printf(
	    &c->c_arena, ": did you mean \"%s\"?", sf__cli_suggest_best(&sg)));
}

// Errors for words that name no command; the group ("cluster") is known.
static int
no_command(cli *c, const char *const *pos, size_t npos)
{
	bool group = false;
	for (size_t i = 0; i < NCOMMANDS && !group; i++) {
		group = word_matches(cli_commands[i].cm_words, pos[0]);
	}
	if (!group) {
		return (sf__cli_usage(c, "%s%sunknown command \"%s\"%s",
		    c->c_perr, c->c_perr[0] ? "; " : "", pos[0],
		    sf_nz(did_you_mean(c, NULL, pos[0]))));
	}
	snprintf(c->c_cmdname, sizeof(c->c_cmdname), "%s", pos[0]);
	if (c->c_perr[0] != '\0') {
		return (sf__cli_usage(c, "%s", c->c_perr));
	}
	if (sf__cli_flag(c, F_HELP)) {
		print_group_help(stdout, c->c_prog, pos[0]);
		return (CLI_EXIT_OK);
	}
	if (npos == 1) {
		return (sf__cli_usage(c,
		    "\"%s %s\" needs a subcommand or resource type", c->c_prog,
		    pos[0]));
	}
	const char *hint = sf_nz(did_you_mean(c, pos[0], pos[1]));
	if (!resource_verb(pos[0])) {
		return (sf__cli_usage(c,
		    "unknown subcommand \"%s\" for \"%s %s\"%s", pos[1],
		    c->c_prog, pos[0], hint));
	}
	if (hint[0] != '\0') {
		return (sf__cli_usage(
		    c, "unknown resource type \"%s\"%s", pos[1], hint));
	}
	return (sf__cli_usage(c,
	    "unknown resource type \"%s\": %s %s works on services", pos[1],
	    c->c_prog, pos[0]));
}

static int
run(cli *c, int argc, char **argv)
{
	const char   **pos;
	size_t         npos, nw;
	const cli_cmd *cmd;
	int            rv;

	// Two slots per argument: "service/web" becomes two words.
	pos = sf_arena_alloc(&c->c_arena, 2 * (size_t) argc * sizeof(*pos));
	if (pos == NULL) {
		return (sf__cli_fail(SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	parse_args(c, argc, argv, pos, &npos);
	// --version: this program's version, whatever else the line says
	// (as git and most tools do); `svcfleet version` asks the server too.
	if (sf__cli_flag(c, F_VERSION) && c->c_perr[0] == '\0') {
		printf("Client Version: %s\n", SF_VERSION);
		return (CLI_EXIT_OK);
	}
	if (npos == 0) {
		if (c->c_perr[0] != '\0') {
			return (sf__cli_usage(c, "%s", c->c_perr));
		}
		if (sf__cli_flag(c, F_HELP)) {
			print_overview(stdout, c->c_prog);
			return (CLI_EXIT_OK);
		}
		print_overview(stderr, c->c_prog);
		return (CLI_EXIT_USAGE);
	}
	if ((cmd = find_cmd(pos, npos, &nw)) == NULL) {
		return (no_command(c, pos, npos));
	}
	c->c_cmd   = cmd;
	c->c_args  = pos + nw;
	c->c_nargs = npos - nw;
	canonical_name(cmd->cm_words, c->c_cmdname, sizeof(c->c_cmdname));
	if (c->c_perr[0] != '\0') {
		return (sf__cli_usage(c, "%s", c->c_perr));
	}
	if (sf__cli_flag(c, F_HELP) && cmd->cm_fn != cmd_help) {
		print_cmd_help(stdout, c->c_prog, cmd);
		return (CLI_EXIT_OK);
	}
	if (c->c_scope_cluster != NULL
	    && !(cmd->cm_flags & FL(CLUSTER)
	        && cmd->cm_flags & FL(NAMESPACE))) {
		return (sf__cli_usage(c,
		    "\"%s %s\" does not take a service/CLUSTER/NAMESPACE/NAME "
		    "name",
		    c->c_prog, c->c_cmdname));
	}
	if ((rv = apply_scope(c)) != 0 || (rv = check_cmd(c)) != 0
	    || (rv = check_output(c)) != 0 || (rv = check_timeout(c)) != 0) {
		return (rv);
	}
	return (cmd->cm_fn(c));
}

int
main(int argc, char **argv)
{
	cli c;
	int rv;

	memset(&c, 0, sizeof(c));
	c.c_prog = "svcfleet";
	sf_arena_init(&c.c_arena);
	svcfleet_status_init(&c.c_st);
	sf__cli_term_guard();
	// Bash completion's helper (complete.c): the words after it are the
	// command line being completed, not flags of this run.
	if (argc >= 2 && strcmp(argv[1], "__complete") == 0) {
		rv = sf__cli_complete(&c, argc - 2, argv + 2);
	} else {
		rv = run(&c, argc, argv);
	}
	if (fflush(stdout) != 0 && rv == 0) {
		rv = sf__cli_fail(SF_INTERNAL, "writing the output failed");
	}
	svcfleet_close(c.c_client);
	svcfleet_status_fini(&c.c_st);
	sf_arena_fini(&c.c_arena);
	return (rv);
}
