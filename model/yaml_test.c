// yaml_test.c: manifest streams (YAML and JSON), scalar typing, syntax
// errors with file/document/line, Lists, line lookup, and the emitter.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static int
parse(const char *text, sf_manifest_set *set, sf_status *st)
{
	sf_status_init(st);
	return (sf_manifest_parse(text, strlen(text), "svc.yaml", set, st));
}

static const struct {
	const char *text;
	const char *msg; // the exact status message
} error_cases[] = {
    {"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n   bad: x\n",
        "svc.yaml: document 0: line 5, column 7: mapping values are not "
        "allowed in this context"},
    {"kind: Service\n---\nspec:\n  ports: [80, 81\n",
        "svc.yaml: document 1: line 5, column 1: did not find expected ',' "
        "or ']' (while parsing a flow sequence at line 4, column 10)"},
    {"a: 1\nb: 2\na: 3\n",
        "svc.yaml: document 0: line 3, column 1: "
        "mapping key \"a\" already defined at line 1"},
    {"metadata:\n  labels:\n    app: a\n    app: b\n",
        "svc.yaml: document 0: line 4, column 5: mapping key \"app\" "
        "already defined at line 3"},
    {"spec:\n\tports: []\n",
        "svc.yaml: document 0: line 2, column 1: found character that "
        "cannot start any token (while scanning for the next token at "
        "line 2, column 1)"},
    {"spec: *nope\n",
        "svc.yaml: document 0: line 1, column 7: unknown anchor \"nope\""},
    {"? [a, b]\n: c\n",
        "svc.yaml: document 0: line 1, column 3: a "
        "mapping key must be a plain string"},
    {"a: \"bad \\q escape\"\n",
        "svc.yaml: document 0: line 1, column 9: found unknown escape "
        "character (while parsing a quoted scalar at line 1, column 4)"},
    {"- a\n- b\n",
        "svc.yaml: document 0: line 1, column 1: expected a "
        "Kubernetes object (a mapping), got an array"},
    {"kind: Service\n---\njust a string\n",
        "svc.yaml: document 1: line 3, column 1: expected a Kubernetes "
        "object (a mapping), got a string"},
    {"kind: List\nitems:\n- kind: Service\n- 42\n",
        "svc.yaml: document 0: line 4, column 1: expected a Kubernetes "
        "object (a mapping), got an integer"},
    {"a: \"x\\0y\"\n",
        "svc.yaml: document 0: line 1, column 4: a string "
        "may not contain a NUL character"},
    {"{\"a\": 1,}",
        "svc.yaml: document 0: line 1, column 9: string or "
        "'}' expected near '}'"},
    {"{\"a\": 1, \"a\": 2}",
        "svc.yaml: document 0: line 1, column 12: "
        "duplicate object key near '\"a\"'"},
    {"{\"kind\": \"Service\"}\n\n{\"kind\":\n",
        "svc.yaml: document 1: "
        "line 4, column 1: ... "},
    {"[1, 2]",
        "svc.yaml: document 0: line 1, column 1: expected a "
        "Kubernetes object (a mapping), got an array"},
};

static void
test_parse_errors(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]);
	     i++) {
		sf_manifest_set set;
		sf_status       st;
		int             rv = parse(error_cases[i].text, &set, &st);
		assert_int_equal(rv, SF_INVALID_ARGUMENT);
		assert_int_equal(set.ms_ndocs, 0);
		assert_null(set.ms_docs);
		const char *want = error_cases[i].msg;
		size_t      wl   = strlen(want);
		// A trailing "... " marks a prefix match (jansson's wording
		// for truncated input varies).
		if (wl > 4 && strcmp(want + wl - 4, "... ") == 0) {
			if (strncmp(st.st_msg, want, wl - 4) != 0) {
				fail_msg("case %zu: got %s", i, st.st_msg);
			}
		} else if (strcmp(st.st_msg, want) != 0) {
			fail_msg(
			    "case %zu: got  %s\nwant %s", i, st.st_msg, want);
		}
		sf_status_fini(&st);
	}
}

static const struct {
	const char *yaml; // the value of key v
	const char *json; // its JSON form
} scalar_cases[] = {
    {"80", "80"},
    {"\"80\"", "\"80\""},
    {"'80'", "\"80\""},
    {"-7", "-7"},
    {"+7", "7"},
    {"0x1F", "31"},
    {"0o17", "15"},
    {"017", "15"},
    {"0b101", "5"},
    {"1_000", "1000"},
    {"0", "0"},
    {"1.5", "1.5"},
    {"1e3", "1000.0"},
    {"-.5", "-0.5"},
    {"99999999999999999999", "1e+20"},
    {"true", "true"},
    {"True", "true"},
    {"yes", "true"},
    {"on", "true"},
    {"y", "true"},
    {"false", "false"},
    {"no", "false"},
    {"Off", "false"},
    {"n", "false"},
    {"\"true\"", "\"true\""},
    {"null", "null"},
    {"~", "null"},
    {"", "null"},
    {"\"\"", "\"\""},
    {".inf", "\".inf\""},
    {"2001-12-14", "\"2001-12-14\""},
    {"10.0.0.1", "\"10.0.0.1\""},
    {"1.2.3", "\"1.2.3\""},
    {"0x", "\"0x\""},
    {"08", "8.0"}, // not octal; go-yaml then reads it as a float
    {"web", "\"web\""},
    {"!!str 80", "\"80\""},
    {"!!int \"80\"", "80"},
    {"! 80", "\"80\""},
    {"|\n  a\n  b", "\"a\\nb\\n\""},
    {">-\n  a\n  b", "\"a b\""},
    {"[1, \"2\", x]", "[1, \"2\", \"x\"]"},
    {"{a: 1}", "{\"a\": 1}"},
};

static void
test_scalars(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(scalar_cases) / sizeof(scalar_cases[0]);
	     i++) {
		sf_manifest_set set;
		sf_status       st;
		char            text[256];
		snprintf(text, sizeof(text), "v: %s\n", scalar_cases[i].yaml);
		if (parse(text, &set, &st) != 0) {
			fail_msg("%s: %s", text, st.st_msg);
		}
		assert_int_equal(set.ms_ndocs, 1);
		json_t *want = tu_json(scalar_cases[i].json);
		json_t *got  = json_object_get(set.ms_docs[0].md_obj, "v");
		if (!json_equal(want, got)) {
			char *g = json_dumps(got, JSON_ENCODE_ANY);
			fail_msg("%s: got %s, want %s", text, g,
			    scalar_cases[i].json);
		}
		// Keys stay strings whatever they look like.
		json_decref(want);
		sf_manifest_set_fini(&set);
		sf_status_fini(&st);
	}
}

static void
test_keys_stay_strings(void **state)
{
	sf_manifest_set set;
	sf_status       st;

	(void) state;
	assert_int_equal(
	    parse("yes: 1\n80: 2\nnull: 3\n\"on\": 4\n", &set, &st), 0);
	const json_t *o = set.ms_docs[0].md_obj;
	assert_int_equal(json_integer_value(json_object_get(o, "yes")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "80")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "null")), 3);
	assert_int_equal(json_integer_value(json_object_get(o, "on")), 4);
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);
}

static void
test_multi_doc(void **state)
{
	sf_manifest_set set;
	sf_status       st;
	const char     *text = "# leading comment\n"
	                       "kind: A\n" // doc 0, line 2
	                   "---\n"         // doc 1 (empty)
	                   "---\n"         // doc 2 (comment only)
	                   "# nothing\n"
	                   "---\n" // doc 3, line 6
	                   "kind: B\n"
	                   "...\n"
	                   "---\n" // doc 4 (null)
	                   "~\n"
	                   "--- {kind: C}\n"; // doc 5, line 11

	(void) state;
	assert_int_equal(parse(text, &set, &st), 0);
	assert_int_equal(set.ms_ndocs, 3);
	assert_int_equal(set.ms_docs[0].md_index, 0);
	assert_int_equal(set.ms_docs[0].md_line, 2);
	assert_int_equal(set.ms_docs[0].md_item, -1);
	assert_int_equal(set.ms_docs[1].md_index, 3);
	assert_int_equal(set.ms_docs[1].md_line, 7);
	assert_string_equal(
	    json_string_value(json_object_get(set.ms_docs[1].md_obj, "kind")),
	    "B");
	assert_int_equal(set.ms_docs[2].md_index, 5);
	assert_int_equal(set.ms_docs[2].md_line, 11);
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);

	// Nothing at all is an empty set, not an error.
	assert_int_equal(parse("", &set, &st), 0);
	assert_int_equal(set.ms_ndocs, 0);
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);
	assert_int_equal(parse("  \n# just comments\n", &set, &st), 0);
	assert_int_equal(set.ms_ndocs, 0);
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);
}

static void
test_lists(void **state)
{
	sf_manifest_set set;
	sf_status       st;
	const char     *yaml = "kind: Service\n"
	                       "---\n"
	                       "apiVersion: v1\n"
	                       "kind: List\n"
	                       "items:\n"
	                       "- kind: Service\n" // line 6
	                   "  metadata:\n"
	                   "    name: one\n"
	                   "- kind: Service\n" // line 9
	                   "  spec:\n"
	                   "    ports:\n"
	                   "    - port: 80\n" // line 12
	                   "---\n"
	                   "kind: ServiceList\n"
	                   "items: []\n";

	(void) state;
	assert_int_equal(parse(yaml, &set, &st), 0);
	assert_int_equal(set.ms_ndocs, 3);
	assert_int_equal(set.ms_docs[1].md_index, 1);
	assert_int_equal(set.ms_docs[1].md_item, 0);
	assert_int_equal(set.ms_docs[1].md_line, 6);
	assert_int_equal(set.ms_docs[2].md_index, 1);
	assert_int_equal(set.ms_docs[2].md_item, 1);
	assert_int_equal(set.ms_docs[2].md_line, 9);
	assert_int_equal(
	    sf_manifest_line_of(&set.ms_docs[2], "spec.ports[0].port"), 12);
	assert_int_equal(
	    sf_manifest_line_of(&set.ms_docs[1], "metadata.name"), 8);
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);

	const char *json = "{\"apiVersion\": \"v1\", \"kind\": \"List\",\n"
	                   " \"items\": [\n"
	                   "  {\"kind\": \"Service\"},\n"
	                   "  {\"kind\": \"Service\",\n"
	                   "   \"spec\": {\"type\": \"NodePort\"}}]}\n";
	assert_int_equal(parse(json, &set, &st), 0);
	assert_int_equal(set.ms_ndocs, 2);
	assert_int_equal(set.ms_docs[0].md_line, 3);
	assert_int_equal(set.ms_docs[1].md_line, 4);
	assert_int_equal(set.ms_docs[1].md_item, 1);
	assert_int_equal(sf_manifest_line_of(&set.ms_docs[1], "spec.type"), 5);
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);
}

static void
test_json_stream(void **state)
{
	sf_manifest_set set;
	sf_status       st;
	const char     *text = "\xef\xbb\xbf {\"kind\": \"A\"}\n"
	                       "\n"
	                       "{\"kind\":\n"
	                       "  \"B\"} {\"kind\": \"C\"}\n";

	(void) state;
	assert_int_equal(parse(text, &set, &st), 0);
	assert_int_equal(set.ms_ndocs, 3);
	assert_int_equal(set.ms_docs[0].md_line, 1);
	assert_int_equal(set.ms_docs[1].md_index, 1);
	assert_int_equal(set.ms_docs[1].md_line, 3);
	assert_int_equal(set.ms_docs[2].md_index, 2);
	assert_int_equal(set.ms_docs[2].md_line, 4);
	// Several JSON documents: field lines are not known.
	assert_int_equal(sf_manifest_line_of(&set.ms_docs[1], "kind"), 3);
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);
}

static void
test_anchors(void **state)
{
	sf_manifest_set set;
	sf_status       st;
	const char     *text = "base: &labels\n"
	                       "  app: web\n"
	                       "  tier: front\n"
	                       "metadata:\n"
	                       "  labels: *labels\n"
	                       "spec:\n"
	                       "  selector:\n"
	                       "    <<: *labels\n"
	                       "    tier: back\n";

	(void) state;
	assert_int_equal(parse(text, &set, &st), 0);
	json_t *want
	    = tu_json("{\"base\": {\"app\": \"web\", \"tier\": \"front\"},"
	              " \"metadata\": {\"labels\": {\"app\": \"web\", "
	              "\"tier\": \"front\"}},"
	              " \"spec\": {\"selector\": {\"tier\": \"back\", "
	              "\"app\": \"web\"}}}");
	assert_true(json_equal(want, set.ms_docs[0].md_obj));
	json_decref(want);
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);

	// "Billion laughs": shared nodes, but walking them would not end.
	sf_buf b = SF_BUF_INIT;
	sf_buf_puts(&b, "a: &a [x, x, x, x, x, x, x, x, x, x]\n");
	for (char c = 'b'; c <= 'k'; c++) {
		sf_buf_printf(&b, "%c: &%c [", c, c);
		for (int i = 0; i < 10; i++) {
			sf_buf_printf(&b, "%s*%c", i > 0 ? ", " : "", c - 1);
		}
		sf_buf_puts(&b, "]\n");
	}
	assert_int_equal(parse(b.b_data, &set, &st), SF_INVALID_ARGUMENT);
	assert_non_null(strstr(st.st_msg, "aliases expand to more than"));
	sf_status_fini(&st);
	sf_buf_fini(&b);

	// Deep nesting is refused, not a stack overflow.
	sf_buf_puts(&b, "a: ");
	for (int i = 0; i < 5000; i++) {
		sf_buf_putc(&b, '[');
	}
	assert_int_equal(parse(b.b_data, &set, &st), SF_INVALID_ARGUMENT);
	sf_status_fini(&st);
	sf_buf_fini(&b);
}

static void
test_line_of(void **state)
{
	sf_manifest_set set;
	sf_status       st;
	const char     *text = "apiVersion: v1\n"                         // 1
	                   "kind: Service\n"                              // 2
	                   "metadata:\n"                                  // 3
	                   "  name: web1\n"                               // 4
	                   "  annotations:\n"                             // 5
	                   "    metallb.universe.tf/address-pool: gold\n" // 6
	                   "    svcfleet.io/cluster: west\n"              // 7
	                   "  labels:\n"                                  // 8
	                   "    app: web\n"                               // 9
	                   "spec:\n"                                      // 10
	                   "  type: LoadBalancer\n"                       // 11
	                   "  loadBalancerSourceRanges:\n"                // 12
	                   "  - 10.0.0.0/8\n"                             // 13
	                   "  - nope\n"                                   // 14
	                   "  ports:\n"                                   // 15
	                   "  - name: http\n"                             // 16
	                   "    port: 80\n"                               // 17
	                   "  - name: dns\n"                              // 18
	                   "    port: \"53\"\n";                          // 19

	(void) state;
	assert_int_equal(parse(text, &set, &st), 0);
	const sf_manifest_doc *d = &set.ms_docs[0];
	assert_int_equal(sf_manifest_line_of(d, "spec.ports[1].port"), 19);
	assert_int_equal(sf_manifest_line_of(d, "spec.ports[1]"), 18);
	assert_int_equal(sf_manifest_line_of(d, "spec.ports[0].port"), 17);
	// Missing fields point at the closest present parent.
	assert_int_equal(sf_manifest_line_of(d, "spec.ports[1].protocol"), 18);
	assert_int_equal(sf_manifest_line_of(d, "spec.selector"), 10);
	assert_int_equal(sf_manifest_line_of(d, "metadata.labels"), 8);
	assert_int_equal(sf_manifest_line_of(d, "metadata.name"), 4);
	// Kubernetes' capitalised path and the deprecated MetalLB name.
	assert_int_equal(
	    sf_manifest_line_of(d, "spec.LoadBalancerSourceRanges[1]"), 14);
	assert_int_equal(sf_manifest_line_of(d,
	                     "metadata.annotations[metallb.io/address-pool]"),
	    6);
	assert_int_equal(sf_manifest_line_of(d, "metadata.cluster"), 7);
	assert_int_equal(sf_manifest_line_of(d, "spec.lbType"), 10);
	assert_int_equal(sf_manifest_line_of(d, "apiVersion"), 1);
	assert_int_equal(sf_manifest_line_of(d, "nonsense[[["), 1);
	assert_int_equal(sf_manifest_line_of(NULL, "spec"), 0);
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);
}

// Strings that must survive emit + parse unchanged.
static const char *const tricky[] = {"", "true", "True", "yes", "no", "on",
    "off", "y", "n", "null", "Null", "~", "80", "-1", "+1", "0x1F", "0o17",
    "017", "1_000", "1.5", "1e3", ".5", ".inf", "-.inf", ".nan", "<<", "=",
    "2024-01-01", "2024-01-01T10:00:00Z", "1:20", "10.0.0.1", "a: b", "a #b",
    "#c", "- x", "-", "?", ":", "&a", "*a", "!t", "%x", "@x", "`x", "'q'",
    "\"d\"", "{a}", "[a]", "a,b", " lead", "trail ", "tab\there",
    "multi\nline", "multi\nline\n", "\nlead newline", "trailing\n\n",
    "  indented\nsecond", "uni héllo ✓", "back\\slash", "---", "...", "--- x",
    "ctrl\x01char", "a\rb", "http://x:80/y?z#w", "key: value: x", NULL};

static void
test_emit_round_trip(void **state)
{
	(void) state;
	for (size_t i = 0; tricky[i] != NULL; i++) {
		json_t         *obj = json_object();
		sf_buf          b   = SF_BUF_INIT;
		sf_manifest_set set;
		sf_status       st;

		// As a value and as a key.
		json_object_set_new(obj, "v", json_string(tricky[i]));
		json_object_set_new(obj, tricky[i], json_integer(1));
		assert_int_equal(sf_model_json_to_yaml(obj, &b), 0);
		if (parse(b.b_data, &set, &st) != 0) {
			fail_msg("%zu: %s\n%s", i, st.st_msg, b.b_data);
		}
		if (!json_equal(obj, set.ms_docs[0].md_obj)) {
			fail_msg(
			    "string %zu did not round-trip:\n%s", i, b.b_data);
		}
		sf_manifest_set_fini(&set);
		sf_status_fini(&st);
		sf_buf_fini(&b);
		json_decref(obj);
	}
}

static void
test_emit_format(void **state)
{
	json_t *obj = tu_json(
	    "{\"apiVersion\": \"v1\", \"kind\": \"Service\","
	    " \"metadata\": {\"name\": \"web1\", \"labels\": {\"yes\": "
	    "\"true\","
	    " \"ver\": \"1.0\"}, \"annotations\": {\"note\": \"a\\nb\\n\","
	    " \"x\": \"a: b\", \"empty\": \"\", \"ip\": \"10.0.0.1\"}},"
	    " \"spec\": {\"ports\": [{\"port\": 80, \"targetPort\": "
	    "\"http\"}],"
	    " \"selector\": {}, \"ranges\": [], \"ratio\": 2.0, \"off\": "
	    "false,"
	    " \"none\": null}}");
	sf_buf b = SF_BUF_INIT;

	(void) state;
	assert_int_equal(sf_model_json_to_yaml(obj, &b), 0);
	assert_string_equal(b.b_data,
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata:\n"
	    "  name: web1\n"
	    "  labels:\n"
	    "    \"yes\": \"true\"\n"
	    "    ver: \"1.0\"\n"
	    "  annotations:\n"
	    "    note: |\n"
	    "      a\n"
	    "      b\n"
	    "    x: 'a: b'\n"
	    "    empty: \"\"\n"
	    "    ip: 10.0.0.1\n"
	    "spec:\n"
	    "  ports:\n"
	    "  - port: 80\n"
	    "    targetPort: http\n"
	    "  selector: {}\n"
	    "  ranges: []\n"
	    "  ratio: 2.0\n"
	    "  \"off\": false\n"
	    "  none: null\n");
	// A second document in the same buffer is marked with "---".
	size_t first = b.b_len;
	assert_int_equal(sf_model_json_to_yaml(obj, &b), 0);
	assert_memory_equal(b.b_data + first, "---\napiVersion: v1\n", 19);
	json_decref(obj);
	sf_buf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_scalars),
	    cmocka_unit_test(test_keys_stay_strings),
	    cmocka_unit_test(test_multi_doc),
	    cmocka_unit_test(test_lists),
	    cmocka_unit_test(test_json_stream),
	    cmocka_unit_test(test_anchors),
	    cmocka_unit_test(test_line_of),
	    cmocka_unit_test(test_emit_round_trip),
	    cmocka_unit_test(test_emit_format),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
