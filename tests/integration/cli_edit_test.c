// cli_edit_test: issue 19's `svcfleet edit service` and `svcfleet diff -f`
// end to end. edit is driven by a scripted EDITOR (a shell script that
// edits with sed and keeps a copy of each file it was shown), including a
// conflict (another user changes the Service between open and save) and a
// validation error, each re-opening the file with the error on top.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli_util.h"

static void
expect_in(const char *text, const char *want)
{
	if (text == NULL || strstr(text, want) == NULL) {
		fail_msg("want \"%s\" in:\n%s", want, text ? text : "(null)");
	}
}

static void
setup(ct_env *e)
{
	ct_start(e, NULL);
	ct_add_cluster(e, "prod");
	free(ct_ok(e,
	    "create service webapp --cluster prod -n shop --selector app=web "
	    "--port http:80:8080"));
	// The CLI's own environment picks the editor.
	unsetenv("KUBE_EDITOR");
	unsetenv("SVCFLEET_EXTERNAL_DIFF");
}

static char *
seen(ct_env *e, int round)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/seen.%d", e->ce_srv.ts_dir, round);
	return (th_read_file(path, NULL));
}

static void
test_edit_conflict_and_invalid(void **state)
{
	ct_env e;
	char   script[4096], editor[700], *bob, *out, *err, *s;
	(void) state;

	setup(&e);
	bob = ct_token(&e, "bob", NULL);
	free(
	    ct_ok(&e, "rbac grant --user bob ns-edit --cluster prod -n shop"));
	// Round 1: bob changes the selector while the file is open, then the
	// user changes the port (the save conflicts). Round 2 (the file
	// re-opened with the conflict on top): an invalid port. Round 3
	// (re-opened with the violation): a valid one.
	snprintf(script, sizeof(script),
	    "d='%s'\n"
	    "n=$(cat \"$d/round\" 2>/dev/null || echo 0); n=$((n+1))\n"
	    "echo $n > \"$d/round\"\n"
	    "cp \"$1\" \"$d/seen.$n\"\n"
	    "case $n in\n"
	    "1) '%s' --server '%s' --token %s update service webapp "
	    "--cluster prod -n shop --selector app=bobs >/dev/null || exit 9\n"
	    "   sed -i 's/port: 80$/port: 81/' \"$1\" ;;\n"
	    "2) sed -i 's/port: 81$/port: 70000/' \"$1\" ;;\n"
	    "3) sed -i 's/port: 70000$/port: 82/' \"$1\" ;;\n"
	    "*) exit 1 ;;\n"
	    "esac\n",
	    e.ce_srv.ts_dir, th_bin("client/cli/svcfleet"), e.ce_srv.ts_url,
	    bob);
	snprintf(
	    editor, sizeof(editor), "sh %s", ct_file(&e, "ed.sh", script));
	setenv("EDITOR", editor, 1);
	assert_int_equal(ct_cli(&e, NULL, &out, &err,
	                     "edit service webapp --cluster prod -n shop"),
	    0);
	assert_string_equal(out, "service/webapp edited\n");
	assert_string_equal(err, "");
	free(out);
	free(err);

	// Round 1 saw the Service as it was opened.
	s = seen(&e, 1);
	expect_in(s, "# Please edit the object below.");
	expect_in(s, "    port: 80\n");
	expect_in(s, "    app: web\n");
	free(s);
	// Round 2: the conflict on top, naming bob, and the user's text.
	s = seen(&e, 2);
	expect_in(s, "# error: ABORTED: ");
	expect_in(s, "changed by bob");
	expect_in(s, "#     app: bobs\n"); // what bob's change reads
	expect_in(s, "\n    port: 81\n");
	free(s);
	// Round 3: the violation with its field and line.
	s = seen(&e, 3);
	expect_in(s, "# error: INVALID_ARGUMENT: ");
	expect_in(s, "#   spec.ports[0].port: Invalid value: 70000");
	expect_in(s, "(line ");
	assert_null(strstr(s, "ABORTED"));
	free(s);

	// Stored: the user's file, saved over bob's change it was shown.
	out       = ct_ok(&e, "get svc webapp --cluster prod -n shop -o json");
	json_t *j = ct_json(out);
	assert_int_equal(
	    json_integer_value(ct_at(j, "spec.ports")
	            ? json_object_get(
	                json_array_get(ct_at(j, "spec.ports"), 0), "port")
	            : NULL),
	    82);
	assert_string_equal(ct_str_at(j, "spec.selector.app"), "web");
	assert_int_equal(
	    json_integer_value(ct_at(j, "metadata.generation")), 3);
	json_decref(j);
	free(out);
	free(bob);
	ct_stop(&e);
}

static void
test_edit_cancels(void **state)
{
	ct_env e;
	char  *out, *err;
	(void) state;

	setup(&e);
	// Saved unchanged.
	setenv("EDITOR", "true", 1);
	assert_int_equal(ct_cli(&e, NULL, &out, &err,
	                     "edit svc webapp --cluster prod -n shop"),
	    0);
	assert_string_equal(out, "");
	assert_string_equal(err, "Edit cancelled, no changes made.\n");
	free(out);
	free(err);
	// Emptied. KUBE_EDITOR wins over EDITOR.
	setenv("KUBE_EDITOR", "truncate -s 0", 1);
	setenv("EDITOR", "false", 1);
	assert_int_equal(ct_cli(&e, NULL, &out, &err,
	                     "edit svc webapp --cluster prod -n shop"),
	    0);
	assert_string_equal(out, "");
	assert_string_equal(err, "Edit cancelled, saved file was empty.\n");
	free(out);
	free(err);
	unsetenv("KUBE_EDITOR");
	// An editor that fails: nothing saved, exit 1.
	err = ct_fails(&e, 1, "edit svc webapp --cluster prod -n shop");
	expect_in(err, "error: CANCELLED: the editor \"false\" exited");
	free(err);
	// An unknown Service: the server's error, no editor.
	err = ct_fails(&e, 1, "edit svc nope --cluster prod -n shop");
	expect_in(err, "error: NOT_FOUND: ");
	free(err);
	// Re-opened after an error and saved as is: cancelled, exit 1, the
	// text kept.
	setenv("EDITOR", "sed -i s/port:\\ 80$/port:\\ 70000/", 1);
	err = ct_fails(&e, 1, "edit svc webapp --cluster prod -n shop");
	expect_in(err,
	    "error: CANCELLED: edit cancelled, no valid changes "
	    "were saved; your changes are kept in ");
	free(err);
	// Still generation 1.
	out       = ct_ok(&e, "get svc webapp --cluster prod -n shop -o json");
	json_t *j = ct_json(out);
	assert_int_equal(
	    json_integer_value(ct_at(j, "metadata.generation")), 1);
	json_decref(j);
	free(out);
	unsetenv("EDITOR");
	ct_stop(&e);
}

static const char fleet_doc[]
    = "apiVersion: svcfleet.io/v1\n"
      "kind: FleetService\n"
      "metadata: {name: webfs, namespace: dev}\n"
      "spec:\n"
      "  placement:\n"
      "    clusters: [prod, west]\n"
      "  template:\n"
      "    spec:\n"
      "      selector: {app: web}\n"
      "      ports: [{name: http, port: %d, targetPort: 8080}]\n";

static void
test_diff(void **state)
{
	ct_env      e;
	char        doc[1024], *out, *err;
	const char *same, *changed, *bad, *fleet;
	(void) state;

	setup(&e);
	same    = ct_file(&e, "same.yaml",
	       "apiVersion: v1\nkind: Service\n"
	          "metadata: {name: webapp, namespace: shop}\n"
	          "spec:\n  selector: {app: web}\n"
	          "  ports: [{name: http, port: 80, targetPort: 8080}]\n");
	changed = ct_file(&e, "changed.yaml",
	    "apiVersion: v1\nkind: Service\n"
	    "metadata: {name: webapp, namespace: shop}\n"
	    "spec:\n  selector: {app: web}\n"
	    "  ports: [{name: http, port: 81, targetPort: 8080}]\n"
	    "---\n"
	    "apiVersion: v1\nkind: Service\n"
	    "metadata: {name: newsvc, namespace: shop}\n"
	    "spec:\n  selector: {app: new}\n  ports: [{port: 53}]\n");
	bad     = ct_file(&e, "bad.yaml",
	        "apiVersion: v1\nkind: Service\n"
	            "metadata: {name: webapp, namespace: shop}\n"
	            "spec:\n  selector: {app: web}\n  ports: [{port: 0}]\n");

	// The same: exit 0, nothing printed.
	out = ct_ok(&e, "diff -f %s --cluster prod", same);
	assert_string_equal(out, "");
	free(out);

	// Different: exit 1, a unified diff per object.
	assert_int_equal(
	    ct_cli(&e, NULL, &out, &err, "diff -f %s --cluster prod", changed),
	    1);
	assert_string_equal(err, "");
	expect_in(out, "/v1.Service.prod.shop.webapp\n");
	expect_in(out, "\n-    port: 80\n+    port: 81\n");
	expect_in(out, "/v1.Service.prod.shop.newsvc\n");
	expect_in(out, "\n+  name: newsvc\n");
	expect_in(out, "@@ -0,0 +1,");
	// Nothing written: still generation 1, no newsvc.
	free(out);
	free(err);
	free(ct_fails(&e, 1, "get svc newsvc --cluster prod -n shop"));

	// A bad manifest: exit 2 with the error naming the field; a file
	// that is not there: exit 2.
	assert_int_equal(
	    ct_cli(&e, NULL, &out, &err, "diff -f %s --cluster prod", bad), 2);
	expect_in(err, "spec.ports[0].port");
	free(out);
	free(err);
	assert_int_equal(
	    ct_cli(&e, NULL, &out, &err, "diff -f %s/none.yaml --cluster prod",
	        e.ce_srv.ts_dir),
	    2);
	expect_in(err, "error: NOT_FOUND: cannot read ");
	free(out);
	free(err);

	// --server-side asks the cluster, and nothing answers at prod's
	// address: said in its section, exit 2 (recon_ssd_test has clusters
	// that answer).
	assert_int_equal(ct_cli(&e, NULL, &out, &err,
	                     "diff -f %s --cluster prod --server-side", same),
	    2);
	expect_in(out,
	    "# cluster prod: v1.Service shop/webapp: no server-side "
	    "dry run: cluster \"prod\" is unreachable");
	expect_in(err, "error: UNAVAILABLE: ");
	free(out);
	free(err);

	// An external diff program, as KUBECTL_EXTERNAL_DIFF.
	setenv("SVCFLEET_EXTERNAL_DIFF", "diff -r -q", 1);
	assert_int_equal(
	    ct_cli(&e, NULL, &out, &err, "diff -f %s --cluster prod", changed),
	    1);
	expect_in(out, "v1.Service.prod.shop.webapp differ\n");
	free(out);
	free(err);
	unsetenv("SVCFLEET_EXTERNAL_DIFF");

	// A FleetService: itself and each placed cluster's Service.
	ct_add_cluster(&e, "west");
	snprintf(doc, sizeof(doc), fleet_doc, 80);
	fleet = ct_file(&e, "fleet.yaml", doc);
	assert_int_equal(ct_cli(&e, NULL, &out, &err, "diff -f %s", fleet), 1);
	expect_in(out, "/svcfleet.io.v1.FleetService.dev.webfs\n");
	expect_in(out, "/v1.Service.prod.dev.webfs\n");
	expect_in(out, "/v1.Service.west.dev.webfs\n");
	free(out);
	free(err);
	free(ct_ok(&e, "apply -f %s", fleet));
	out = ct_ok(&e, "diff -f %s", fleet);
	assert_string_equal(out, "");
	free(out);
	snprintf(doc, sizeof(doc), fleet_doc, 90);
	fleet = ct_file(&e, "fleet2.yaml", doc);
	assert_int_equal(ct_cli(&e, NULL, &out, &err, "diff -f %s", fleet), 1);
	// The template's change, and each cluster's copy following it.
	const char *p = strstr(out, "/v1.Service.prod.dev.webfs\n");
	assert_non_null(p);
	expect_in(p, "-    port: 80\n+    port: 90\n");
	p = strstr(out, "/v1.Service.west.dev.webfs\n");
	assert_non_null(p);
	expect_in(p, "-    port: 80\n+    port: 90\n");
	free(out);
	free(err);
	ct_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_edit_conflict_and_invalid, ct_cleanup),
	    cmocka_unit_test_teardown(test_edit_cancels, ct_cleanup),
	    cmocka_unit_test_teardown(test_diff, ct_cleanup),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
