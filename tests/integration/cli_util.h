// cli_util.h: what the svcfleet CLI end-to-end tests share — a private
// svcfleetd with a CA and a token file beside it, running `svcfleet`
// against it with output captured, and assertions on that output.
#ifndef SF_TEST_CLI_UTIL_H
#define SF_TEST_CLI_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"

typedef struct ct_env {
	th_server ce_srv;
	char      ce_ca[400];  // a PEM CA bundle for `cluster add`
	char      ce_tok[400]; // a cluster bearer token file
	// Shell words run before each command (a cd, environment settings
	// such as "SVCFLEET_TOKEN=x"), or NULL.
	const char *ce_prefix;
} ct_env;

// The cluster token ct_add_cluster registers.
#define CT_CLUSTER_TOKEN "kf-token-0123456789abcdef"

// ct_start starts svcfleetd (extra: more daemon flags, may be NULL) and
// writes the CA and token files. Fails the test on error.
void ct_start(ct_env *e, const char *const *extra);
// ct_restart stops the daemon cleanly and starts it on the same data.
void ct_restart(ct_env *e);
// ct_stop stops the daemon, checks it shut down cleanly and removes the
// test's directory.
void ct_stop(ct_env *e);

// ct_cleanup is the tests' teardown: it kills whatever daemon a failed
// test left running (a failing assertion skips the test's own ct_stop).
int ct_cleanup(void **state);

// ct_cli runs `svcfleet --server <url> <args>`; stdin_text may be NULL.
// out and err receive malloc'd output (NULL: discarded). Returns the exit
// code.
int ct_cli(ct_env *e, const char *stdin_text, char **out, char **err,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

// ct_ok runs a command that must succeed with empty stderr and returns
// its stdout (malloc'd).
char *ct_ok(ct_env *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// ct_fails runs a command that must exit with code and write nothing on
// stdout; returns its stderr (malloc'd).
char *ct_fails(ct_env *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// ct_add_cluster registers cluster name with the env's CA and token.
void ct_add_cluster(ct_env *e, const char *name);

// ct_file writes text to a file in the env's directory; returns the path
// (static storage, one slot per call of the last four).
const char *ct_file(ct_env *e, const char *name, const char *text);

// ct_json parses text as JSON, failing the test otherwise. Free with
// json_decref.
json_t *ct_json(const char *text);
// ct_at follows a dotted path ("metadata.name") through objects; NULL
// when a step is missing. ct_str_at is its string value.
json_t     *ct_at(const json_t *j, const char *path);
const char *ct_str_at(const json_t *j, const char *path);

// ct_revision returns the store revision the server reports (Version).
unsigned long long ct_revision(ct_env *e);

// ct_assert_table checks a kubectl-style table: the header's words are
// exactly header (space-separated), every row starts each column where the
// header's column starts, and there are nrows rows. Returns the rows'
// cells split on the column starts (malloc'd, free with ct_cells_free):
// cells[r][c].
char ***ct_assert_table(const char *text, const char *header, size_t nrows);
void    ct_cells_free(char ***cells);

// ct_kubefake: a kubefake (tests/kubefake) serving on a free port, with a
// kubeconfig kubectl can use.
typedef struct ct_kubefake {
	pid_t kf_pid;
	int   kf_out; // its stdout, kept open so it never sees EPIPE
	char  kf_kubeconfig[600];
	char  kf_url[128];
} ct_kubefake;

// ct_kubefake_start starts kubefake with its state in dir. Returns false
// (and starts nothing) when kubefake or kubectl is not available, so the
// caller can skip; fails the test when kubefake does not come up.
bool ct_kubefake_start(ct_kubefake *kf, const char *dir);
void ct_kubefake_stop(ct_kubefake *kf);

// ct_token makes a token for user through the CLI (as admin; flags such
// as "--groups a,b" may be NULL) and returns its secret (malloc'd).
char *ct_token(ct_env *e, const char *user, const char *flags);

// ct_listen_port waits (up to 5 s) for the daemon to log its listener
// "<scheme>://127.0.0.1:PORT" and returns PORT. Start the daemon with
// "--listen <scheme>://127.0.0.1:0": it picks a free port itself, so no
// other process can take it in between.
int ct_listen_port(ct_env *e, const char *scheme);

// ct_line returns line i (0-based) of text, copied into a static buffer,
// or "" when there are fewer lines.
const char *ct_line(const char *text, size_t i);
size_t      ct_nlines(const char *text);

#endif // SF_TEST_CLI_UTIL_H
