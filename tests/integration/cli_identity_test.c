// cli_identity_test.c: `svcfleet rbac`, `token` and `whoami` against a real
// svcfleetd — granting and revoking roles and what the server refuses,
// tokens from creation to revocation and expiry (their secrets never shown
// again, nor logged), and the order in which the CLI picks its token.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_util.h"

#define RBAC_HEADER  "ID ROLE SUBJECT CLUSTER NAMESPACE CREATED-BY AGE"
#define TOKEN_HEADER "ID USER GROUPS CREATED EXPIRES REVOKED"

#define SUPPORTED_ROLES                                                  \
	"supported values: \"admin\", \"cluster-admin\", \"ns-admin\", " \
	"\"ns-edit\", \"ns-view\", \"reconciler\""

// The binding id from "rolebinding/ID created: ..." (static storage).
static const char *
granted_id(const char *out)
{
	static char id[64];
	assert_true(strncmp(out, "rolebinding/", 12) == 0);
	size_t n = strcspn(out + 12, " ");
	assert_true(n > 0 && n < sizeof(id));
	snprintf(id, sizeof(id), "%.*s", (int) n, out + 12);
	return (id);
}

// The token id inside a secret "sfk_<id>_<secret>" (static storage).
static const char *
token_id(const char *secret)
{
	static char id[32];
	assert_true(strncmp(secret, "sfk_", 4) == 0);
	size_t n = strcspn(secret + 4, "_");
	assert_int_equal(n, 12);
	snprintf(id, sizeof(id), "%.*s", (int) n, secret + 4);
	return (id);
}

// `whoami -o name` with extra arguments: "user/NAME\n" (malloc'd).
static char *
whoami(ct_env *e, const char *args)
{
	return (ct_ok(e, "whoami -o name %s", args != NULL ? args : ""));
}

static void
assert_whoami(ct_env *e, const char *args, const char *user)
{
	char  want[128];
	char *out = whoami(e, args);
	snprintf(want, sizeof(want), "user/%s\n", user);
	assert_string_equal(out, want);
	free(out);
}

// ------------------------------------------------------------------ rbac

static void
test_rbac_round_trip(void **state)
{
	ct_env  e;
	char   *out, *err, *alice, *devs, *bob;
	char ***cells;
	json_t *j;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");

	out = ct_ok(
	    &e, "rbac grant --user alice ns-edit --cluster prod -n shop");
	alice = strdup(granted_id(out));
	assert_true(strncmp(alice, "rb-", 3) == 0);
	{
		char want[256];
		snprintf(want, sizeof(want),
		    "rolebinding/%s created: ns-edit for user \"alice\" in "
		    "namespace \"shop\" of cluster \"prod\"\n",
		    alice);
		assert_string_equal(out, want);
	}
	free(out);
	out  = ct_ok(&e,
	     "rbac grant --group devs ns-view --cluster prod "
	      "--namespace=shop");
	devs = strdup(granted_id(out));
	assert_non_null(strstr(out,
	    " created: ns-view for group \"devs\" in namespace "
	    "\"shop\" of cluster \"prod\"\n"));
	free(out);
	out = ct_ok(&e, "rbac grant cluster-admin --user bob --cluster prod");
	bob = strdup(granted_id(out));
	assert_non_null(strstr(out,
	    " created: cluster-admin for user \"bob\" in cluster \"prod\"\n"));
	free(out);
	out = ct_ok(&e, "rbac grant --group ops admin -o name");
	assert_true(strncmp(out, "rolebinding/rb-", 15) == 0);
	free(out);

	// The table: oldest grant first; "*" where a role spans everything.
	out   = ct_ok(&e, "rbac list");
	cells = ct_assert_table(out, RBAC_HEADER, 5);
	assert_string_equal(cells[0][0], "admin");
	assert_string_equal(cells[0][1], "admin");
	assert_string_equal(cells[0][2], "user:admin");
	assert_string_equal(cells[0][3], "*");
	assert_string_equal(cells[0][4], "*");
	assert_string_equal(cells[0][5], "svcfleetd");
	assert_string_equal(cells[1][0], alice);
	assert_string_equal(cells[1][1], "ns-edit");
	assert_string_equal(cells[1][2], "user:alice");
	assert_string_equal(cells[1][3], "prod");
	assert_string_equal(cells[1][4], "shop");
	assert_string_equal(cells[1][5], "admin");
	assert_string_equal(cells[2][2], "group:devs");
	assert_string_equal(cells[3][0], bob);
	assert_string_equal(cells[3][1], "cluster-admin");
	assert_string_equal(cells[3][4], "*");
	assert_string_equal(cells[4][2], "group:ops");
	assert_string_equal(cells[4][3], "*");
	ct_cells_free(cells);
	free(out);

	// Filters.
	out   = ct_ok(&e, "rbac list --user alice");
	cells = ct_assert_table(out, RBAC_HEADER, 1);
	assert_string_equal(cells[0][0], alice);
	ct_cells_free(cells);
	free(out);
	out   = ct_ok(&e, "rbac list --cluster prod -n shop");
	cells = ct_assert_table(out, RBAC_HEADER, 2);
	assert_string_equal(cells[0][0], alice);
	assert_string_equal(cells[1][0], devs);
	ct_cells_free(cells);
	free(out);
	assert_int_equal(
	    ct_cli(&e, NULL, &out, &err, "rbac ls --user nobody"), 0);
	assert_string_equal(out, "");
	assert_string_equal(err, "No resources found\n");
	free(out);
	free(err);

	// JSON and YAML: the records as the gateway shows them too, empty
	// fields left out.
	out = ct_ok(&e, "rbac list --cluster prod -o json");
	j   = ct_json(out);
	assert_string_equal(
	    json_string_value(json_object_get(j, "kind")), "List");
	json_t *items = json_object_get(j, "items");
	assert_int_equal(json_array_size(items), 3);
	json_t *b0 = json_array_get(items, 0);
	assert_string_equal(ct_str_at(b0, "kind"), "RoleBinding");
	assert_string_equal(ct_str_at(b0, "metadata.name"), alice);
	assert_string_equal(
	    json_string_value(json_object_get(b0, "role")), "ns-edit");
	assert_string_equal(ct_str_at(b0, "subject.kind"), "User");
	assert_string_equal(ct_str_at(b0, "subject.name"), "alice");
	assert_string_equal(
	    json_string_value(json_object_get(b0, "namespace")), "shop");
	assert_string_equal(
	    json_string_value(json_object_get(b0, "createdBy")), "admin");
	assert_true(json_is_string(ct_at(b0, "metadata.creationTimestamp")));
	assert_null(json_object_get(json_array_get(items, 2), "namespace"));
	json_decref(j);
	free(out);
	out = ct_ok(&e, "rbac list --user alice -o yaml");
	assert_string_equal(ct_line(out, 0), "apiVersion: v1");
	assert_string_equal(ct_line(out, 1), "kind: List");
	assert_non_null(strstr(out, "\n  role: ns-edit\n"));
	free(out);

	// Granting the same thing twice is one binding.
	err = ct_fails(
	    &e, 1, "rbac grant --user alice ns-edit --cluster prod -n shop");
	{
		char want[256];
		snprintf(want, sizeof(want),
		    "error: ALREADY_EXISTS: this binding already exists (id "
		    "%s)\n",
		    alice);
		assert_string_equal(err, want);
	}
	free(err);

	// Revoke.
	out = ct_ok(&e, "rbac revoke %s", alice);
	{
		char want[128];
		snprintf(
		    want, sizeof(want), "rolebinding \"%s\" revoked\n", alice);
		assert_string_equal(out, want);
	}
	free(out);
	out   = ct_ok(&e, "rbac list");
	cells = ct_assert_table(out, RBAC_HEADER, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_string_not_equal(cells[i][0], alice);
	}
	ct_cells_free(cells);
	free(out);
	err = ct_fails(&e, 1, "rbac revoke %s", alice);
	assert_non_null(strstr(err, "error: NOT_FOUND: role binding \""));
	free(err);
	out = ct_ok(&e, "rbac revoke %s -o name", devs);
	assert_non_null(strstr(out, "rolebinding/rb-"));
	free(out);

	free(alice);
	free(devs);
	free(bob);
	ct_stop(&e);
}

static void
test_rbac_errors(void **state)
{
	ct_env e;
	char  *err, *out, *before, *after, *carol, *args;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");

	// What the server says about a binding, with the field at fault.
	err = ct_fails(
	    &e, 1, "rbac grant --user bob superuser --cluster prod");
	assert_string_equal(
	    ct_line(err, 0), "error: INVALID_ARGUMENT: invalid role binding");
	assert_string_equal(ct_line(err, 1),
	    "  role: Unsupported value: \"superuser\": " SUPPORTED_ROLES);
	assert_int_equal(ct_nlines(err), 2);
	free(err);
	err = ct_fails(&e, 1,
	    "rbac grant --user bob cluster-admin --cluster prod -n shop");
	assert_string_equal(ct_line(err, 1),
	    "  namespace: Forbidden: role cluster-admin covers the whole "
	    "cluster; namespace must be empty");
	assert_true(strncmp(err, "error: INVALID_ARGUMENT: ", 25) == 0);
	free(err);
	err = ct_fails(&e, 1, "rbac grant --user bob ns-edit --cluster prod");
	assert_string_equal(ct_line(err, 1),
	    "  namespace: Required value: role ns-edit is bound to a "
	    "namespace");
	free(err);
	err = ct_fails(&e, 1, "rbac grant --user bob ns-view -n shop");
	assert_string_equal(ct_line(err, 1),
	    "  cluster: Required value: role ns-view is bound to a cluster");
	free(err);
	err = ct_fails(&e, 1, "rbac grant --user bob admin --cluster prod");
	assert_string_equal(ct_line(err, 1),
	    "  cluster: Forbidden: role admin applies everywhere; cluster "
	    "and namespace must be empty");
	free(err);
	err = ct_fails(
	    &e, 1, "rbac grant --user bob ns-edit --cluster nope -n a");
	assert_string_equal(err,
	    "error: FAILED_PRECONDITION: cluster \"nope\" is not "
	    "registered\n");
	free(err);

	// The command line's own checks.
	err = ct_fails(&e, 2, "rbac grant ns-edit --cluster prod -n shop");
	assert_string_equal(err,
	    "error: say who gets the role: --user USER or "
	    "--group GROUP (see 'svcfleet rbac grant --help')\n");
	free(err);
	err = ct_fails(&e, 2, "rbac grant --user a --group b ns-edit");
	assert_non_null(strstr(err, "--user and --group exclude each other"));
	free(err);
	err = ct_fails(&e, 2, "rbac grant --user a");
	assert_string_equal(err,
	    "error: \"svcfleet rbac grant\" needs a ROLE "
	    "argument (see 'svcfleet rbac grant --help')\n");
	free(err);
	err = ct_fails(&e, 2, "rbac revoke");
	assert_non_null(strstr(err, "needs a ID argument"));
	free(err);
	err = ct_fails(&e, 2, "rbac frobnicate");
	assert_string_equal(err,
	    "error: unknown subcommand \"frobnicate\" for "
	    "\"svcfleet rbac\" (see 'svcfleet rbac --help')\n");
	free(err);
	err = ct_fails(&e, 2, "rbac list --ttl 1h");
	assert_non_null(strstr(err, "flag --ttl is not used by"));
	free(err);

	// An ns-admin grants below its own power, not beside or above it.
	carol = ct_token(&e, "carol", NULL);
	out   = ct_ok(
	      &e, "rbac grant --user carol ns-admin --cluster prod -n shop");
	free(out);
	before = ct_ok(&e, "rbac list -o json");
	args   = NULL;
	assert_true(asprintf(&args, "--token %s", carol) > 0);
	err = ct_fails(&e, 1,
	    "%s rbac grant --user dave ns-admin --cluster prod -n shop", args);
	assert_string_equal(err,
	    "error: PERMISSION_DENIED: user \"carol\" cannot grant role "
	    "ns-admin in namespace \"shop\" of cluster \"prod\"\n");
	free(err);
	err = ct_fails(&e, 1,
	    "%s rbac grant --user dave cluster-admin --cluster prod", args);
	assert_string_equal(err,
	    "error: PERMISSION_DENIED: user \"carol\" cannot create "
	    "rolebindings in cluster \"prod\"\n");
	free(err);
	err = ct_fails(&e, 1,
	    "%s rbac grant --user dave ns-edit --cluster prod -n other", args);
	assert_string_equal(err,
	    "error: PERMISSION_DENIED: user \"carol\" cannot create "
	    "rolebindings in namespace \"other\" of cluster \"prod\"\n");
	free(err);
	err = ct_fails(&e, 1, "%s rbac revoke admin", args);
	assert_true(strncmp(err, "error: PERMISSION_DENIED: ", 26) == 0);
	free(err);
	after = ct_ok(&e, "rbac list -o json");
	assert_string_equal(before, after);
	free(after);

	// Within its power it may grant, and take back.
	out        = ct_ok(&e,
	           "%s rbac grant --user dave ns-view --cluster prod -n shop", args);
	char *dave = strdup(granted_id(out));
	free(out);
	out = ct_ok(&e, "%s rbac list", args);
	assert_non_null(strstr(out, dave));
	free(out);
	out = ct_ok(&e, "%s rbac revoke %s", args, dave);
	free(out);
	after = ct_ok(&e, "rbac list -o json");
	assert_string_equal(before, after);
	free(after);

	// A role that cannot grant cannot list; whoami shows one's own.
	char *erin = ct_token(&e, "erin", NULL);
	free(ct_ok(
	    &e, "rbac grant --user erin ns-edit --cluster prod -n shop"));
	err = ct_fails(&e, 1, "--token %s rbac list", erin);
	assert_string_equal(err,
	    "error: PERMISSION_DENIED: user \"erin\" cannot list "
	    "rolebindings\n");
	free(err);
	out = ct_ok(&e, "--token %s whoami", erin);
	assert_string_equal(ct_line(out, 4),
	    "  ROLE      SUBJECT     CLUSTER   NAMESPACE   ID");
	assert_true(
	    strncmp(ct_line(out, 5),
	        "  ns-edit   user:erin   prod      shop        rb-", 48)
	    == 0);
	free(out);

	free(erin);
	free(dave);
	free(before);
	free(args);
	free(carol);
	ct_stop(&e);
}

// ---------------------------------------------------------------- tokens

static void
test_tokens(void **state)
{
	ct_env  e;
	char   *out, *err, *alice, *bob, *log, *list[4];
	char    id[32];
	json_t *j;
	(void) state;

	ct_start(&e, NULL);

	// Only the secret, on one line; nothing on stderr without a
	// terminal.
	alice = ct_token(&e, "alice", "--groups devs,ops");
	snprintf(id, sizeof(id), "%s", token_id(alice));

	// The secret works.
	out = ct_ok(&e, "--token %s whoami -o json", alice);
	j   = ct_json(out);
	assert_string_equal(ct_str_at(j, "kind"), "WhoAmI");
	assert_string_equal(ct_str_at(j, "status.userInfo.username"), "alice");
	assert_string_equal(ct_str_at(j, "status.tokenID"), id);
	json_t *g = ct_at(j, "status.userInfo.groups");
	assert_int_equal(json_array_size(g), 2);
	assert_string_equal(json_string_value(json_array_get(g, 0)), "devs");
	assert_string_equal(json_string_value(json_array_get(g, 1)), "ops");
	assert_int_equal(json_array_size(ct_at(j, "status.bindings")), 0);
	json_decref(j);
	free(out);
	out = ct_ok(&e, "--token %s whoami", alice);
	assert_string_equal(ct_line(out, 0), "User:    alice");
	assert_string_equal(ct_line(out, 1), "Groups:  devs,ops");
	free(out);
	out = ct_ok(&e, "whoami");
	assert_string_equal(ct_line(out, 0), "User:    admin");
	assert_string_equal(ct_line(out, 3), "Role bindings:");
	assert_string_equal(ct_line(out, 5),
	    "  admin   user:admin   *         *           admin");
	free(out);

	// Lists never carry a secret.
	out           = ct_ok(&e, "token list");
	char ***cells = ct_assert_table(out, TOKEN_HEADER, 2);
	assert_string_equal(cells[0][1], "admin");
	assert_string_equal(cells[1][0], id);
	assert_string_equal(cells[1][1], "alice");
	assert_string_equal(cells[1][2], "devs,ops");
	assert_true(strstr(cells[1][3], " ago") != NULL);
	assert_string_equal(cells[1][4], "never");
	assert_string_equal(cells[1][5], "no");
	ct_cells_free(cells);
	list[0] = out;
	list[1] = ct_ok(&e, "token list -o json");
	list[2] = ct_ok(&e, "token list -o yaml");
	list[3] = ct_ok(&e, "token list -o wide --user alice");
	for (size_t i = 0; i < 4; i++) {
		assert_null(strstr(list[i], alice));
		assert_null(strstr(list[i], alice + 4 + 12 + 1));
		assert_null(strstr(list[i], e.ce_srv.ts_token));
	}
	cells = ct_assert_table(list[3], TOKEN_HEADER " SOURCE CREATED-BY", 1);
	assert_string_equal(cells[0][6], "store");
	assert_string_equal(cells[0][7], "admin");
	ct_cells_free(cells);
	j          = ct_json(list[1]);
	json_t *t1 = json_array_get(json_object_get(j, "items"), 1);
	assert_string_equal(ct_str_at(t1, "kind"), "Token");
	assert_string_equal(ct_str_at(t1, "metadata.name"), id);
	assert_null(json_object_get(t1, "revoked"));
	assert_null(json_object_get(t1, "expirationTimestamp"));
	json_decref(j);
	for (size_t i = 0; i < 4; i++) {
		free(list[i]);
	}

	// -o json gives the record with the secret, for scripts.
	out             = ct_ok(&e, "token create alice --ttl 2h -o json");
	j               = ct_json(out);
	const char *sec = json_string_value(json_object_get(j, "secret"));
	assert_non_null(sec);
	assert_string_equal(ct_str_at(j, "metadata.name"), token_id(sec));
	assert_string_equal(ct_str_at(j, "createdBy"), "admin");
	assert_true(json_is_string(json_object_get(j, "expirationTimestamp")));
	char *alice2 = strdup(sec);
	json_decref(j);
	free(out);

	// Revoked: the next call fails, saying so and how to pass a token.
	out = ct_ok(&e, "token revoke %s", id);
	{
		char want[64];
		snprintf(want, sizeof(want), "token \"%s\" revoked\n", id);
		assert_string_equal(out, want);
	}
	free(out);
	err = ct_fails(&e, 1, "--token %s whoami", alice);
	assert_string_equal(ct_line(err, 0),
	    "error: UNAUTHENTICATED: the token has been revoked");
	assert_true(strncmp(ct_line(err, 1),
	                "hint: the token came from --token; pass one with "
	                "--token TOKEN or --token-file FILE",
	                73)
	    == 0);
	assert_int_equal(ct_nlines(err), 2);
	free(err);
	out   = ct_ok(&e, "token list --user alice");
	cells = ct_assert_table(out, TOKEN_HEADER, 2);
	assert_string_equal(cells[0][5], "yes");
	assert_string_equal(cells[1][5], "no");
	assert_true(strncmp(cells[1][4], "in ", 3) == 0);
	ct_cells_free(cells);
	free(out);

	// A second lifetime, over. (That a token works before its end is
	// shown with alice's 2h one: a 1 s token may be over before a loaded
	// machine has run the next command.)
	bob = ct_token(&e, "bob", "--ttl 1s");
	sleep(1);
	usleep(500000);
	err = ct_fails(&e, 1, "--token %s whoami", bob);
	assert_string_equal(
	    ct_line(err, 0), "error: UNAUTHENTICATED: the token has expired");
	free(err);
	out = ct_ok(&e, "token list --user bob");
	assert_non_null(strstr(out, " ago "));
	free(out);

	// Who may make tokens, and what the command line refuses.
	err = ct_fails(&e, 1, "--token %s token create eve", alice2);
	assert_string_equal(err,
	    "error: PERMISSION_DENIED: user \"alice\" cannot create tokens: "
	    "only admin can\n");
	free(err);
	err = ct_fails(&e, 2, "token create eve --ttl 0");
	assert_non_null(strstr(err, "invalid value \"0\" for --ttl"));
	free(err);
	err = ct_fails(&e, 2, "token create eve --ttl soon");
	assert_non_null(strstr(err, "invalid value \"soon\" for --ttl"));
	free(err);
	err = ct_fails(&e, 2, "token create eve --groups a,,b");
	assert_non_null(strstr(err, "invalid value \"a,,b\" for --groups"));
	free(err);
	err = ct_fails(&e, 2, "token create eve -o name");
	assert_non_null(strstr(err, "-o name would lose the secret"));
	free(err);
	err = ct_fails(&e, 1, "token create 'e ve'");
	assert_non_null(strstr(err,
	    "error: INVALID_ARGUMENT: invalid token request\n"
	    "  user: Invalid value"));
	free(err);
	err = ct_fails(&e, 1, "token revoke nosuchtoken");
	assert_non_null(
	    strstr(err, "error: NOT_FOUND: token \"nosuchtoken\""));
	free(err);

	// With a terminal, the id and expiry go to stderr; stdout still
	// holds only the secret.
	if (access("/usr/bin/script", X_OK) == 0) {
		char path[400], *secret;
		snprintf(path, sizeof(path), "%s/tty.token", e.ce_srv.ts_dir);
		assert_int_equal(
		    th_runf(&out, NULL,
		        "script -qec \"%s --server '%s' token "
		        "create tty-user --ttl 24h > '%s'\" "
		        "/dev/null",
		        th_bin("client/cli/svcfleet"), e.ce_srv.ts_url, path),
		    0);
		secret = th_read_file(path, NULL);
		assert_non_null(secret);
		assert_int_equal(ct_nlines(secret), 1);
		char want[128];
		snprintf(want, sizeof(want),
		    "token %s for user \"tty-user\"; "
		    "expires ",
		    token_id(secret));
		assert_non_null(strstr(out, want));
		// 24h, or 23h on a machine so slow a second went by.
		assert_true(strstr(out, "(in 24h)") != NULL
		    || strstr(out, "(in 23h") != NULL);
		assert_null(strstr(out, secret + 4 + 12 + 1));
		free(out);
		free(secret);
	}

	// No secret reaches the daemon's log.
	log = th_read_file(e.ce_srv.ts_log, NULL);
	assert_non_null(log);
	const char *secrets[] = {alice, alice2, bob, e.ce_srv.ts_token};
	for (size_t i = 0; i < 4; i++) {
		const char *s = secrets[i] + 4 + 12 + 1; // the secret part
		assert_true(strlen(s) >= 40);
		if (strstr(log, s) != NULL) {
			fail_msg("the daemon's log holds a secret: %s", s);
		}
	}
	free(log);

	free(alice);
	free(alice2);
	free(bob);
	ct_stop(&e);
}

// ---------------------------------------------------------- token lookup

// Writes a file under the test's directory; returns its path (malloc'd).
static char *
file_at(ct_env *e, const char *name, const char *text)
{
	return (strdup(ct_file(e, name, text)));
}

static void
test_token_lookup(void **state)
{
	ct_env      e;
	char        tcp[80], line[1024], cwd[400], bare[400];
	const char *extra[] = {"--listen", "tcp://127.0.0.1:0", NULL};
	char       *err, *out;
	(void) state;

	// A tcp listener too: a --server URL with no admin.token beside it.
	ct_start(&e, extra);
	snprintf(tcp, sizeof(tcp), "--server tcp://127.0.0.1:%d",
	    ct_listen_port(&e, "tcp"));
	char *flag = ct_token(&e, "flag-user", NULL);
	char *file = ct_token(&e, "file-user", NULL);
	char *env  = ct_token(&e, "env-user", NULL);
	char *envf = ct_token(&e, "envfile-user", NULL);
	char *here = ct_token(&e, "cwd-user", NULL);
	snprintf(line, sizeof(line), "%s\n", file);
	char *file_path = file_at(&e, "file.token", line);
	snprintf(line, sizeof(line), "  %s  \n\n", envf);
	char *envf_path = file_at(&e, "envfile.token", line);
	char *empty     = file_at(&e, "empty.token", " \n");
	// A directory of its own holding ./svcfleet-data/admin.token, and
	// one holding nothing.
	snprintf(cwd, sizeof(cwd), "%s/cwd", e.ce_srv.ts_dir);
	snprintf(bare, sizeof(bare), "%s/bare", e.ce_srv.ts_dir);
	assert_int_equal(mkdir(cwd, 0700), 0);
	assert_int_equal(mkdir(bare, 0700), 0);
	assert_int_equal(
	    th_runf(NULL, NULL, "mkdir '%s/svcfleet-data'", cwd), 0);
	snprintf(line, sizeof(line), "%s\n", here);
	ct_file(&e, "cwd/svcfleet-data/admin.token", line);

	char pre[2048];
	// Nothing named: the admin token beside the --server socket.
	assert_whoami(&e, NULL, "admin");
	// ./svcfleet-data/admin.token comes before the socket's.
	snprintf(pre, sizeof(pre), "cd '%s' &&", cwd);
	e.ce_prefix = pre;
	assert_whoami(&e, NULL, "cwd-user");
	// The environment beats the default...
	snprintf(pre, sizeof(pre), "cd '%s' && SVCFLEET_TOKEN_FILE='%s'", cwd,
	    envf_path);
	assert_whoami(&e, NULL, "envfile-user");
	snprintf(pre, sizeof(pre),
	    "cd '%s' && SVCFLEET_TOKEN_FILE='%s' SVCFLEET_TOKEN=%s", cwd,
	    envf_path, env);
	assert_whoami(&e, NULL, "env-user");
	// ...and the flags beat the environment.
	snprintf(line, sizeof(line), "--token-file '%s'", file_path);
	assert_whoami(&e, line, "file-user");
	snprintf(line, sizeof(line), "--token %s", flag);
	assert_whoami(&e, line, "flag-user");
	err = ct_fails(
	    &e, 2, "--token %s --token-file '%s' whoami", flag, file_path);
	assert_non_null(
	    strstr(err, "--token and --token-file exclude each other"));
	free(err);

	// A named token file that cannot be used is an error naming it,
	// not a silent fall back to another token.
	e.ce_prefix = NULL;
	err         = ct_fails(&e, 1, "--token-file '%s' whoami", empty);
	snprintf(line, sizeof(line),
	    "error: INVALID_ARGUMENT: the token file %s (--token-file) holds "
	    "no token\n",
	    empty);
	assert_string_equal(err, line);
	free(err);
	snprintf(pre, sizeof(pre), "SVCFLEET_TOKEN_FILE='%s'", cwd);
	e.ce_prefix = pre;
	err         = ct_fails(&e, 1, "whoami");
	snprintf(line, sizeof(line),
	    "error: INVALID_ARGUMENT: cannot read the token file %s "
	    "(SVCFLEET_TOKEN_FILE): Is a directory\n",
	    cwd);
	assert_string_equal(err, line);
	free(err);
	e.ce_prefix = NULL;
	err         = ct_fails(&e, 1, "--token-file '%s/missing' whoami", cwd);
	assert_non_null(strstr(err, "/missing (--token-file): No such file"));
	free(err);

	// UNAUTHENTICATED says where the token came from.
	snprintf(pre, sizeof(pre), "SVCFLEET_TOKEN=sfk_000000000000_nope");
	e.ce_prefix = pre;
	err         = ct_fails(&e, 1, "whoami");
	assert_string_equal(
	    ct_line(err, 0), "error: UNAUTHENTICATED: invalid token");
	assert_string_equal(ct_line(err, 1),
	    "hint: the token came from SVCFLEET_TOKEN; pass one with --token "
	    "TOKEN or --token-file FILE, or set SVCFLEET_TOKEN or "
	    "SVCFLEET_TOKEN_FILE (an admin makes one with `svcfleet token "
	    "create USER`)");
	free(err);

	// cluster add: the cluster's token is --cluster-token-file, and the
	// hint names every way to pass the caller's (issue 20).
	e.ce_prefix = NULL;
	err         = ct_fails(&e, 1,
	            "--token sfk_000000000000_nope cluster add c1 --api-server "
	                    "https://127.0.0.1:6443 --ca-file %s --cluster-token-file %s",
	            e.ce_ca, e.ce_tok);
	assert_string_equal(ct_line(err, 1),
	    "hint: the token came from --token; pass one with --token TOKEN "
	    "or "
	    "--token-file FILE, or set SVCFLEET_TOKEN or SVCFLEET_TOKEN_FILE "
	    "(an admin makes one with `svcfleet token create USER`)");
	free(err);

	// A tcp server: no socket directory, so only ./svcfleet-data counts.
	snprintf(pre, sizeof(pre), "cd '%s' &&", bare);
	e.ce_prefix = pre;
	err         = ct_fails(&e, 1, "%s whoami", tcp);
	assert_string_equal(ct_line(err, 0),
	    "error: UNAUTHENTICATED: no token given (--token, SVCFLEET_TOKEN "
	    "or --token-file)");
	assert_true(strncmp(ct_line(err, 1),
	                "hint: no token was sent: pass one with --token", 46)
	    == 0);
	free(err);
	out = ct_ok(&e, "%s version --timeout 5s", tcp); // needs no token
	assert_non_null(strstr(out, "Server Version: "));
	free(out);
	snprintf(pre, sizeof(pre), "cd '%s' &&", cwd);
	snprintf(line, sizeof(line), "%s", tcp);
	assert_whoami(&e, line, "cwd-user");
	// An unusable default is skipped (calls without a token still
	// work) and named in the hint.
	ct_file(&e, "cwd/svcfleet-data/admin.token", "\n");
	err = ct_fails(&e, 1, "%s whoami", tcp);
	assert_string_equal(ct_line(err, 1),
	    "hint: no token was sent (./svcfleet-data/admin.token is empty): "
	    "pass one with --token TOKEN or --token-file FILE, or set "
	    "SVCFLEET_TOKEN or SVCFLEET_TOKEN_FILE (an admin makes one with "
	    "`svcfleet token create USER`)");
	free(err);
	e.ce_prefix = NULL;

	free(flag);
	free(file);
	free(env);
	free(envf);
	free(here);
	free(file_path);
	free(envf_path);
	free(empty);
	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_rbac_round_trip, ct_cleanup),
	    cmocka_unit_test_teardown(test_rbac_errors, ct_cleanup),
	    cmocka_unit_test_teardown(test_tokens, ct_cleanup),
	    cmocka_unit_test_teardown(test_token_lookup, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
