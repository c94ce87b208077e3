// kube_test.c: the Kubernetes client's reading of answers and of
// kubeconfig files (kube.h), through its public functions, without a
// cluster: HTTP codes to outcome classes, the one line a human gets for an
// error answer, lists and watch lines, namespaces, workloads and MetalLB
// pools, query escaping, and a kubeconfig with inline and relative-file
// credentials, a missing context and a refused exec plugin. Requests
// themselves are exercised against kubefake by the reconciler's tests.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "arena.h"
#include "buf.h"
#include "kube.h"
#include "status.h"

#define S(lit) lit, sizeof(lit) - 1

static void
test_code_class(void **state)
{
	(void) state;
	static const struct {
		long code;
		int  cls;
	} rows[] = {
	    {200, SF_KUBE_OK},
	    {201, SF_KUBE_OK},
	    {404, SF_KUBE_NOT_FOUND},
	    {400, SF_KUBE_INVALID},
	    {415, SF_KUBE_INVALID},
	    {422, SF_KUBE_INVALID},
	    {409, SF_KUBE_CONFLICT},
	    {410, SF_KUBE_GONE},
	    {429, SF_KUBE_THROTTLED},
	    {401, SF_KUBE_UNAUTHORIZED},
	    {403, SF_KUBE_UNAUTHORIZED},
	    {500, SF_KUBE_SERVER},
	    {503, SF_KUBE_SERVER},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int got = sf_kube_code_class(rows[i].code);
		if (got != rows[i].cls) {
			fail_msg("HTTP %ld: class %s, want %s", rows[i].code,
			    sf_kube_class_name(got),
			    sf_kube_class_name(rows[i].cls));
		}
		assert_true(sf_kube_class_answered(got));
	}
	assert_false(sf_kube_class_answered(SF_KUBE_TRANSPORT));
	assert_false(sf_kube_class_answered(SF_KUBE_UNREACHABLE));
}

static void
test_error_message(void **state)
{
	(void) state;
	char msg[128];

	// A Status: its message, as the cluster wrote it.
	sf_kube_error_message(422,
	    S("{\"kind\":\"Status\",\"message\":\"Service \\\"web\\\" is "
	      "invalid: spec.ports[0].port: Invalid value: 0\"}"),
	    msg, sizeof(msg));
	assert_string_equal(msg,
	    "Service \"web\" is invalid: spec.ports[0].port: Invalid value: "
	    "0");

	// Anything else: the code and the start of the body, on one line.
	sf_kube_error_message(
	    503, S("upstream\nconnect error"), msg, sizeof(msg));
	assert_string_equal(msg, "HTTP 503: upstream connect error");

	sf_kube_error_message(502, "", 0, msg, sizeof(msg));
	assert_string_equal(msg, "HTTP 502");

	// A tiny buffer still gets a NUL-terminated line.
	char small[8];
	sf_kube_error_message(
	    503, S("0123456789abcdef"), small, sizeof(small));
	assert_true(strlen(small) < sizeof(small));

	// Control characters become spaces, bytes that are not UTF-8 '?'.
	sf_kube_one_line(msg, sizeof(msg),
	    "a\tb\x01"
	    "c\xff"
	    "d  ");
	assert_string_equal(msg, "a b c?d");
}

static void
test_list_parse(void **state)
{
	(void) state;
	sf_kube_list l;

	assert_int_equal(
	    sf_kube_list_parse(&l,
	        S("{\"kind\":\"ServiceList\",\"metadata\":{"
	          "\"resourceVersion\":\"42\",\"continue\":\"c1\"},"
	          "\"items\":[{\"metadata\":{\"namespace\":\"dev\","
	          "\"name\":\"web\",\"resourceVersion\":\"7\"}}]}")),
	    0);
	assert_string_equal(l.li_rv, "42");
	assert_string_equal(l.li_continue, "c1");
	assert_int_equal(json_array_size(l.li_items), 1);

	sf_kube_meta m;
	sf_kube_meta_read(json_array_get(l.li_items, 0), &m);
	assert_true(m.km_has_key);
	assert_string_equal(m.km_key, "dev/web");
	assert_int_equal(m.km_rv_num, 7);
	sf_kube_list_fini(&l);

	// items: null is an empty list; no items, or not JSON, is refused.
	assert_int_equal(sf_kube_list_parse(&l, S("{\"items\":null}")), 0);
	assert_int_equal(json_array_size(l.li_items), 0);
	sf_kube_list_fini(&l);
	assert_int_equal(sf_kube_list_parse(&l, S("{\"kind\":\"List\"}")),
	    SF_INVALID_ARGUMENT);
	sf_kube_list_fini(&l);
	assert_int_equal(sf_kube_list_parse(&l, S("{\"items\":[]} trailing")),
	    SF_INVALID_ARGUMENT);
	sf_kube_list_fini(&l);

	// A name that is no DNS label cannot be a Service: no key.
	json_t *o = json_pack(
	    "{s:{s:s,s:s}}", "metadata", "namespace", "dev", "name", "Web!");
	sf_kube_meta_read(o, &m);
	assert_false(m.km_has_key);
	assert_string_equal(m.km_key, "");
	json_decref(o);
}

static void
test_event_parse(void **state)
{
	(void) state;
	sf_kube_event ev;

	assert_int_equal(
	    sf_kube_event_parse(&ev,
	        S("{\"type\":\"MODIFIED\",\"object\":{\"metadata\":"
	          "{\"namespace\":\"dev\",\"name\":\"web\","
	          "\"resourceVersion\":\"9\"}}}")),
	    0);
	assert_int_equal(ev.ev_type, SF_KUBE_EV_MODIFIED);
	assert_string_equal(ev.ev_meta.km_key, "dev/web");
	assert_string_equal(ev.ev_meta.km_rv, "9");
	sf_kube_event_fini(&ev);

	// A watch that expired: ERROR carrying a Status with code 410.
	assert_int_equal(sf_kube_event_parse(&ev,
	                     S("{\"type\":\"ERROR\",\"object\":{\"kind\":"
	                       "\"Status\",\"code\":410,\"message\":\"too old "
	                       "resource version\"}}")),
	    0);
	assert_int_equal(ev.ev_type, SF_KUBE_EV_ERROR);
	assert_int_equal(ev.ev_code, 410);
	assert_string_equal(ev.ev_message, "too old resource version");
	sf_kube_event_fini(&ev);

	assert_int_equal(sf_kube_event_parse(
	                     &ev, S("{\"type\":\"SURPRISE\",\"object\":{}}")),
	    0);
	assert_int_equal(ev.ev_type, SF_KUBE_EV_UNKNOWN);
	sf_kube_event_fini(&ev);

	assert_int_equal(
	    sf_kube_event_parse(&ev, S("{\"type\":")), SF_INVALID_ARGUMENT);
	sf_kube_event_fini(&ev);
}

struct lines {
	int  n;
	char got[4][32];
};

static bool
on_line(void *arg, const char *line, size_t len)
{
	struct lines *l = arg;
	assert_int_equal(strlen(line), len);
	if (l->n < 4) {
		snprintf(l->got[l->n], sizeof(l->got[0]), "%s", line);
	}
	l->n++;
	return true;
}

static void
test_lines_feed(void **state)
{
	(void) state;
	sf_buf       partial;
	struct lines l = {0};

	sf_buf_init(&partial);
	// A line cut across two reads, and empty lines skipped.
	assert_true(sf_kube_lines_feed(&partial, S("one\ntw"), on_line, &l));
	assert_int_equal(l.n, 1);
	assert_true(
	    sf_kube_lines_feed(&partial, S("o\n\nthree\n"), on_line, &l));
	assert_int_equal(l.n, 3);
	assert_string_equal(l.got[0], "one");
	assert_string_equal(l.got[1], "two");
	assert_string_equal(l.got[2], "three");
	sf_buf_fini(&partial);
}

static void
test_live_answers(void **state)
{
	(void) state;
	char **names = NULL;

	assert_int_equal(
	    sf_kube_namespaces_parse(
	        S("{\"items\":[{\"metadata\":{\"name\":\"default\"}},"
	          "{\"metadata\":{\"name\":\"dev\"}}]}"),
	        &names),
	    0);
	assert_non_null(names);
	assert_string_equal(names[0], "default");
	assert_string_equal(names[1], "dev");
	assert_null(names[2]);
	sf_kube_strv_free(names);
	names = NULL;
	assert_int_equal(
	    sf_kube_namespaces_parse(S("[1,2]"), &names), SF_INVALID_ARGUMENT);
	assert_null(names);

	json_t *all = json_array();
	assert_int_equal(
	    sf_kube_workloads_parse(
	        S("{\"items\":[{\"metadata\":{\"name\":\"web\"},\"spec\":{"
	          "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}}}}"
	          "}]}"),
	        "Deployment", all),
	    0);
	assert_int_equal(json_array_size(all), 1);
	json_t *w = json_array_get(all, 0);
	assert_string_equal(
	    json_string_value(json_object_get(w, "name")), "web");
	assert_string_equal(
	    json_string_value(json_object_get(w, "kind")), "Deployment");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(w, "labels"), "app")),
	    "web");
	json_decref(all);

	// MetalLB's IPAddressPoolList; a pool without a name is left out.
	json_t *pools = NULL;
	assert_int_equal(
	    sf_kube_pools_parse(
	        S("{\"items\":[{\"metadata\":{\"name\":\"pub\"},\"spec\":{"
	          "\"addresses\":[\"192.0.2.0/28\"]}},{\"spec\":{}}]}"),
	        false, &pools),
	    0);
	assert_int_equal(json_array_size(pools), 1);
	json_t *p = json_array_get(pools, 0);
	assert_string_equal(
	    json_string_value(json_object_get(p, "name")), "pub");
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(p, "addresses"), 0)),
	    "192.0.2.0/28");
	json_decref(pools);

	char ver[32];
	assert_int_equal(
	    sf_kube_version_parse(
	        S("{\"gitVersion\":\"v1.32.0\"}"), ver, sizeof(ver)),
	    0);
	assert_string_equal(ver, "v1.32.0");
	assert_int_equal(sf_kube_version_parse(S("<html>"), ver, sizeof(ver)),
	    SF_INVALID_ARGUMENT);

	sf_buf b;
	sf_buf_init(&b);
	sf_kube_query_escape(&b, "app in (a,b)/x~y");
	assert_string_equal(sf_buf_cstr(&b), "app%20in%20%28a%2Cb%29%2Fx~y");
	sf_buf_fini(&b);
}

// A kubeconfig in a directory of its own, with the token in a file next to
// it (named relative to the kubeconfig, as kubectl reads it).
static char kc_dir[64];
static char kc_path[96];

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int
kc_setup(void **state)
{
	(void) state;
	char tok[128];
	snprintf(kc_dir, sizeof(kc_dir), "/tmp/sf-kube-test-XXXXXX");
	if (mkdtemp(kc_dir) == NULL) {
		return -1;
	}
	snprintf(kc_path, sizeof(kc_path), "%s/config", kc_dir);
	snprintf(tok, sizeof(tok), "%s/east.token", kc_dir);
	write_file(tok, "file-token\n");
	// "aGVsbG8=" is base64 for "hello".
	write_file(kc_path,
	    "apiVersion: v1\n"
	    "kind: Config\n"
	    "current-context: east\n"
	    "clusters:\n"
	    "- name: east\n"
	    "  cluster:\n"
	    "    server: https://east.example:6443\n"
	    "    certificate-authority-data: aGVsbG8=\n"
	    "- name: lax\n"
	    "  cluster:\n"
	    "    server: https://lax.example:6443\n"
	    "    insecure-skip-tls-verify: true\n"
	    "users:\n"
	    "- name: east-admin\n"
	    "  user:\n"
	    "    tokenFile: east.token\n"
	    "- name: plugin\n"
	    "  user:\n"
	    "    exec:\n"
	    "      command: get-token\n"
	    "contexts:\n"
	    "- name: east\n"
	    "  context: {cluster: east, user: east-admin}\n"
	    "- name: lax\n"
	    "  context: {cluster: lax, user: east-admin}\n"
	    "- name: exec\n"
	    "  context: {cluster: east, user: plugin}\n");
	return 0;
}

static int
kc_teardown(void **state)
{
	(void) state;
	char p[128];
	snprintf(p, sizeof(p), "%s/east.token", kc_dir);
	unlink(p);
	unlink(kc_path);
	rmdir(kc_dir);
	return 0;
}

static void
test_kubeconfig(void **state)
{
	(void) state;
	sf_arena              a;
	sf_status             st;
	Svcfleet__V1__Cluster cl = SVCFLEET__V1__CLUSTER__INIT;

	sf_arena_init(&a);
	sf_status_init(&st);

	// current-context: inline CA, token read from the relative file.
	assert_int_equal(
	    sf_kube_kubeconfig_load(kc_path, NULL, false, &a, &cl, &st), 0);
	assert_string_equal(cl.api_server, "https://east.example:6443");
	assert_int_equal(cl.ca_data.len, 5);
	assert_memory_equal(cl.ca_data.data, "hello", 5);
	assert_string_equal(cl.token, "file-token");
	assert_false(cl.insecure_skip_verify);

	// No such context: NOT_FOUND naming it.
	assert_int_equal(
	    sf_kube_kubeconfig_load(kc_path, "west", false, &a, &cl, &st),
	    SF_NOT_FOUND);
	assert_non_null(strstr(st.st_msg, "west"));

	// A cluster that skips TLS verification only when allowed.
	sf_status_reset(&st);
	assert_int_equal(
	    sf_kube_kubeconfig_load(kc_path, "lax", false, &a, &cl, &st),
	    SF_INVALID_ARGUMENT);
	if (strstr(st.st_msg, "insecure-skip-tls-verify") == NULL) {
		fail_msg("%s", st.st_msg);
	}
	assert_int_equal(
	    sf_kube_kubeconfig_load(kc_path, "lax", true, &a, &cl, &st), 0);
	assert_true(cl.insecure_skip_verify);

	// Exec plugins are refused: svcfleet stores the credential itself.
	sf_status_reset(&st);
	assert_int_equal(
	    sf_kube_kubeconfig_load(kc_path, "exec", false, &a, &cl, &st),
	    SF_INVALID_ARGUMENT);
	assert_non_null(strstr(st.st_msg, "exec"));

	sf_status_fini(&st);
	sf_arena_fini(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_code_class),
	    cmocka_unit_test(test_error_message),
	    cmocka_unit_test(test_list_parse),
	    cmocka_unit_test(test_event_parse),
	    cmocka_unit_test(test_lines_feed),
	    cmocka_unit_test(test_live_answers),
	    cmocka_unit_test_setup_teardown(
	        test_kubeconfig, kc_setup, kc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
