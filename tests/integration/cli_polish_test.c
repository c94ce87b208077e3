// cli_polish_test.c: what a new user meets first (issue 20, CLI items
// 4-12), through the svcfleet binary against a real svcfleetd: one
// meaning per flag, usage errors without an RPC code and with "did you
// mean", bad values before missing flags, violations naming their flag,
// -o name scoped by cluster, connect hints, help, completion.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

// Item 4: the caller's --token-file and the cluster's token are two
// flags; the same flag twice with different values is a usage error,
// never a switch of identity.
static void
test_one_meaning_per_flag(void **state)
{
	ct_env e;
	char  *err, *out, *alice, path[600], line[200];
	(void) state;

	ct_start(&e, NULL);
	alice = ct_token(&e, "alice", NULL);
	snprintf(line, sizeof(line), "%s\n", alice);
	snprintf(path, sizeof(path), "%s", ct_file(&e, "alice.token", line));

	// The report's command line: refused before any call.
	err = ct_fails(&e, 2,
	    "--token-file %s cluster add xx --api-server "
	    "https://127.0.0.1:6443 "
	    "--token-file %s",
	    path, e.ce_tok);
	assert_non_null(strstr(err,
	    "error: flag --token-file is given twice with different values"));
	assert_non_null(strstr(err, "a cluster's is --cluster-token-file"));
	free(err);
	// The old spelling alone is no longer the cluster's token.
	err = ct_fails(&e, 2,
	    "cluster add xx --api-server https://127.0.0.1:6443 --token-file "
	    "%s",
	    e.ce_tok);
	assert_non_null(strstr(err,
	    "error: required flag --cluster-token-file is missing "
	    "(--token-file is your own token for svcfleetd"));
	free(err);
	// A secret given twice is refused without repeating either value.
	err = ct_fails(&e, 2, "--token aaa --token bbb whoami");
	assert_null(strstr(err, "aaa"));
	assert_null(strstr(err, "bbb"));
	free(err);
	// With both flags, the caller is alice: she may not register
	// clusters.
	err = ct_fails(&e, 1,
	    "--token-file %s cluster add xx --api-server "
	    "https://127.0.0.1:6443 "
	    "--cluster-token-file %s",
	    path, e.ce_tok);
	assert_true(strncmp(err, "error: PERMISSION_DENIED: ", 26) == 0);
	assert_non_null(strstr(err, "\"alice\""));
	free(err);
	assert_int_equal(
	    ct_cli(&e, NULL, &out, &err, "cluster list -o name"), 0);
	assert_string_equal(out, ""); // nothing was registered
	free(out);
	free(err);
	free(alice);
	ct_stop(&e);
}

// Item 6: --version; "did you mean"; usage errors carry no RPC code.
static const struct {
	const char *args;
	const char *want; // exact stderr, exit 2
} typos[] = {
    {"creat service web",
        "error: unknown command \"creat\": did you mean \"create\"? (see "
        "'svcfleet help')\n"},
    {"get servics",
        "error: unknown resource type \"servics\": did you mean "
        "\"service\"? (see 'svcfleet get --help')\n"},
    {"cluster lst",
        "error: unknown subcommand \"lst\" for \"svcfleet cluster\": did "
        "you mean \"list\"? (see 'svcfleet cluster --help')\n"},
    {"get svc --clustr prod",
        "error: unknown flag: --clustr; did you mean --cluster? (see "
        "'svcfleet get service --help')\n"},
    {"frobnicate",
        "error: unknown command \"frobnicate\" (see 'svcfleet "
        "help')\n"},
};

static void
test_usage_errors(void **state)
{
	ct_env e;
	char  *out;
	(void) state;

	ct_start(&e, NULL);
	out = ct_ok(&e, "--version");
	assert_true(strncmp(out, "Client Version: ", 16) == 0);
	assert_int_equal(ct_nlines(out), 1);
	free(out);
	for (size_t i = 0; i < sizeof(typos) / sizeof(typos[0]); i++) {
		char *err = ct_fails(&e, 2, "%s", typos[i].args);
		if (strcmp(err, typos[i].want) != 0) {
			fail_msg("%s:\n%s\nwant:\n%s", typos[i].args, err,
			    typos[i].want);
		}
		free(err);
	}
	ct_stop(&e);
}

// Item 7: the bad value first; errors name the flag and the field; one
// violation is printed once.
static void
test_create_errors(void **state)
{
	ct_env e;
	char  *err;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "prod");
	err = ct_fails(&e, 2,
	    "create service web-front --cluster prod --type nodeprt --port "
	    "80");
	assert_string_equal(err,
	    "error: invalid value \"nodeprt\" for --type: want clusterip, "
	    "nodeport or loadbalancer (see 'svcfleet create service "
	    "--help')\n");
	free(err);
	err = ct_fails(&e, 2,
	    "create service web-front --cluster prod --selector app=web "
	    "--port 80 --session-timeout 60");
	assert_string_equal(err,
	    "error: --session-timeout requires --session-affinity "
	    "(spec.sessionAffinityConfig) (see 'svcfleet create service "
	    "--help')\n");
	free(err);
	// Several violations: the summary names none of them, each has its
	// own line and its flag.
	err = ct_fails(&e, 1,
	    "create service web-front --cluster prod --selector app=web "
	    "--port 80 --port 53/UDP@30053");
	assert_string_equal(ct_line(err, 0),
	    "error: INVALID_ARGUMENT: Service \"web-front\" is invalid");
	assert_int_equal(ct_nlines(err), 1 + 3);
	assert_string_equal(ct_line(err, 1),
	    "  spec.ports[0].name: Required value (from --port 80)");
	assert_non_null(strstr(err, " (from --port 53/UDP@30053)\n"));
	free(err);
	ct_stop(&e);
}

// Item 8: -o name says which cluster and namespace; get and delete take
// that name back.
static void
test_scoped_names(void **state)
{
	ct_env e;
	char  *out, *err;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "east");
	ct_add_cluster(&e, "west");
	out = ct_ok(&e,
	    "create service web-front --cluster east -n dev --selector "
	    "app=web "
	    "--port 80 -o name");
	assert_string_equal(out, "service/east/dev/web-front\n");
	free(out);
	free(ct_ok(&e,
	    "create service web-front --cluster west -n dev "
	    "--selector app=web --port 80"));
	out = ct_ok(&e, "get svc -n dev -o name");
	assert_string_equal(
	    out, "service/east/dev/web-front\nservice/west/dev/web-front\n");
	free(out);
	out = ct_ok(&e, "get service/west/dev/web-front -o name");
	assert_string_equal(out, "service/west/dev/web-front\n");
	free(out);
	err = ct_fails(&e, 2, "get service/west/dev/web-front --cluster east");
	assert_non_null(strstr(
	    err, "--cluster east contradicts the name's cluster \"west\""));
	free(err);
	out = ct_ok(&e, "delete service/west/dev/web-front -o name");
	assert_string_equal(out, "service/west/dev/web-front\n");
	free(out);
	out = ct_ok(&e, "get svc -A -o name");
	assert_string_equal(out, "service/east/dev/web-front\n");
	free(out);
	ct_stop(&e);
}

// Item 10: where nobody listens, and a URL of the wrong kind.
static void
test_connect_hints(void **state)
{
	ct_env e;
	char  *err;
	(void) state;

	ct_start(&e, NULL);
	// ct_* put --server first; a second --server wins.
	err = ct_fails(&e, 1, "--server tcp://127.0.0.1:1 whoami");
	assert_non_null(strstr(err,
	    "Connection refused: is svcfleetd "
	    "running? (`./dev.sh run`"));
	free(err);
	err = ct_fails(&e, 2, "--server http://127.0.0.1:7070 whoami");
	assert_non_null(strstr(err,
	    "error: invalid server URL \"http://127.0.0.1:7070\" (from "
	    "--server): use tcp://, ipc:// or tls+tcp://"));
	free(err);
	ct_stop(&e);
}

// Item 11: the global flags once, in `svcfleet help`; SCTP in both the
// usage and the flag text of create service.
static void
test_help(void **state)
{
	ct_env e;
	char  *out;
	(void) state;

	ct_start(&e, NULL);
	out = ct_ok(&e, "create service --help");
	assert_null(strstr(out, "--insecure-skip-verify"));
	assert_non_null(strstr(out, "see 'svcfleet help'"));
	assert_non_null(strstr(out,
	    "--port [NAME:]PORT[:TARGET][/TCP|/UDP|/SCTP]"
	    "[@NODEPORT] ..."));
	free(out);
	out = ct_ok(&e, "help");
	assert_non_null(strstr(out, "--insecure-skip-verify"));
	assert_non_null(strstr(out, "--version"));
	free(out);
	ct_stop(&e);
}

// Item 12: completion asks the server for names, and keeps its answer
// for a while (SVCFLEET_COMPLETION_CACHE_S).
static char *
complete(ct_env *e, const char *env, const char *words)
{
	char *out = NULL, *err = NULL;
	int   rc = th_runf(&out, &err,
	      "XDG_CACHE_HOME='%s/cache' %s %s __complete --server '%s' "
	        "--token %s %s",
	      e->ce_srv.ts_dir, env, th_bin("client/cli/svcfleet"),
	      e->ce_srv.ts_url, e->ce_srv.ts_token, words);
	assert_int_equal(rc, 0);
	assert_string_equal(err, "");
	free(err);
	return (out);
}

static void
test_completion(void **state)
{
	ct_env e;
	char  *out;
	(void) state;

	ct_start(&e, NULL);
	ct_add_cluster(&e, "east");
	ct_add_cluster(&e, "west");
	free(ct_ok(&e,
	    "create service web-front --cluster east -n dev "
	    "--selector app=web --port 80"));
	out = complete(&e, "", "get svc --cluster ''");
	assert_string_equal(out, "east\nwest\n");
	free(out);
	out = complete(&e, "", "describe service --cluster east -n dev ''");
	assert_string_equal(out, "web-front\n");
	free(out);
	out = complete(&e, "", "get svc -n ''");
	assert_string_equal(out, "dev\n");
	free(out);
	// Cached: a cluster added since is not offered until the cache
	// ages, unless the cache is off.
	out = complete(
	    &e, "SVCFLEET_COMPLETION_CACHE_S=600", "get svc --cluster ''");
	free(out);
	ct_add_cluster(&e, "north");
	out = complete(
	    &e, "SVCFLEET_COMPLETION_CACHE_S=600", "get svc --cluster ''");
	assert_string_equal(out, "east\nwest\n");
	free(out);
	out = complete(
	    &e, "SVCFLEET_COMPLETION_CACHE_S=0", "get svc --cluster ''");
	assert_string_equal(out, "east\nnorth\nwest\n");
	free(out);
	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_one_meaning_per_flag, ct_cleanup),
	    cmocka_unit_test_teardown(test_usage_errors, ct_cleanup),
	    cmocka_unit_test_teardown(test_create_errors, ct_cleanup),
	    cmocka_unit_test_teardown(test_scoped_names, ct_cleanup),
	    cmocka_unit_test_teardown(test_connect_hints, ct_cleanup),
	    cmocka_unit_test_teardown(test_help, ct_cleanup),
	    cmocka_unit_test_teardown(test_completion, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
