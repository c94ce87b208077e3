// selector_test.c: label selector parsing and matching, table-driven.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

// labels_from parses "a=b,c=d" (no validation) into an arena list.
static size_t
labels_from(sf_arena *a, const char *text, sf_kv ***out)
{
	char   *copy = sf_arena_strdup(a, text);
	sf_kv **kvs  = sf_arena_zalloc(a, 32 * sizeof(*kvs));
	size_t  n    = 0;
	char   *save = NULL;

	for (char *tok = strtok_r(copy, ",", &save); tok != NULL && n < 32;
	     tok       = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		kvs[n]   = sf_arena_zalloc(a, sizeof(sf_kv));
		*kvs[n]  = (sf_kv) SVCFLEET__V1__KEY_VALUE__INIT;
		if (eq != NULL) {
			*eq           = '\0';
			kvs[n]->value = eq + 1;
		}
		kvs[n]->key = tok;
		n++;
	}
	*out = kvs;
	return (n);
}

static const struct {
	const char *sel;
	const char *labels;
	bool        match;
} match_cases[] = {
    {"", "app=web", true},
    {"   ", "", true},
    {"app=web", "app=web", true},
    {"app=web", "app=api", false},
    {"app=web", "", false},
    {"app==web", "app=web,tier=front", true},
    {"app!=web", "app=api", true},
    {"app!=web", "", true},
    {"app!=web", "app=web", false},
    {"app", "app=web", true},
    {"app", "tier=front", false},
    {"!app", "tier=front", true},
    {"!app", "app=", false},
    {"app in (web,api)", "app=api", true},
    {"app in (web, api)", "app=db", false},
    {"app in (web)", "", false},
    {"app notin (web,api)", "app=db", true},
    {"app notin (web,api)", "", true},
    {"app notin (web,api)", "app=web", false},
    {"app=web,tier=front", "app=web,tier=front", true},
    {"app=web,tier=front", "app=web,tier=back", false},
    {" app = web , tier in ( front , edge ) , !canary ", "app=web,tier=edge",
        true},
    {"app=web,!canary", "app=web,canary=true", false},
    {"example.com/app=web", "example.com/app=web", true},
    {"app=", "app=", true},
    {"app=", "app=web", false},
    {"app in (,web)", "app=", true},
    {"replicas>2", "replicas=3", true},
    {"replicas>2", "replicas=2", false},
    {"replicas<2", "replicas=1", true},
    {"replicas<2", "replicas=abc", false},
    {"replicas<2", "", false},
    {"App.Kubernetes_io=V1.2", "App.Kubernetes_io=V1.2", true},
};

static void
test_matches(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]);
	     i++) {
		sf_arena     a;
		sf_status    st;
		sf_selector *sel = NULL;
		sf_kv      **kvs;
		size_t       n;

		sf_arena_init(&a);
		sf_status_init(&st);
		if (sf_selector_parse(match_cases[i].sel, &sel, &st) != 0) {
			fail_msg("%s: %s", match_cases[i].sel, st.st_msg);
		}
		n = labels_from(&a, match_cases[i].labels, &kvs);
		if (sf_selector_matches(sel, kvs, n) != match_cases[i].match) {
			fail_msg("selector %s on %s: want %d",
			    match_cases[i].sel, match_cases[i].labels,
			    match_cases[i].match);
		}
		sf_selector_free(sel);
		sf_status_fini(&st);
		sf_arena_fini(&a);
	}
}

static const struct {
	const char *sel;
	const char *msg; // a part of the error message
} error_cases[] = {
    {"app=web,", "expected: a requirement after ','"},
    {",app=web", "found ',', expected: '!' or a key"},
    {"app=web tier=front", "found 'tier', expected: ',' or 'end of string'"},
    {"app in web", "found 'web', expected: '(' after 'in'"},
    {"app in ()", "values for 'in' on key \"app\" may not be empty"},
    {"app notin (a b)", "found 'b', expected: ',' or ')'"},
    {"app in (a,b", "found 'end of string', expected: ',' or ')'"},
    {"app in (a,=)", "found '=', expected: a value, ',' or ')'"},
    {"app=(web)", "found '(', expected: a value for key \"app\""},
    {"app=web=api", "found '=', expected: ',' or 'end of string'"},
    {"!", "found 'end of string', expected: a key after '!'"},
    {"!app=web", "found '=', expected: ',' or 'end of string'"},
    {"=web", "found '=', expected: '!' or a key"},
    {"app$=web", "invalid label key \"app$\": name part must consist of"},
    {"a/b/c=web", "invalid label key \"a/b/c\": a qualified name"},
    {"app=we b", "found 'b', expected: ',' or 'end of string'"},
    {"app=web$", "invalid label value \"web$\" for key \"app\""},
    {"app in (ok,bad$)", "invalid label value \"bad$\" for key \"app\""},
    {"replicas>two", "found 'two', expected: an integer after '>'"},
    {"app (web)", "found '(', expected: in, notin, =, ==, !=, >, < or ','"},
};

static void
test_errors(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]);
	     i++) {
		sf_status    st;
		sf_selector *sel = (sf_selector *) &st; // must become NULL

		sf_status_init(&st);
		assert_int_equal(
		    sf_selector_parse(error_cases[i].sel, &sel, &st),
		    SF_INVALID_ARGUMENT);
		assert_null(sel);
		assert_int_equal(st.st_code, SF_INVALID_ARGUMENT);
		if (strstr(st.st_msg, error_cases[i].msg) == NULL
		    || strstr(st.st_msg, "unable to parse label selector")
		        == NULL) {
			fail_msg("selector %s: message %s, want %s",
			    error_cases[i].sel, st.st_msg, error_cases[i].msg);
		}
		sf_status_fini(&st);
	}
}

static void
test_null_selector(void **state)
{
	sf_kv  kv    = SVCFLEET__V1__KEY_VALUE__INIT;
	sf_kv *kvs[] = {&kv};

	(void) state;
	kv.key   = "app";
	kv.value = NULL; // hand-built messages may leave NULL: read as ""
	assert_true(sf_selector_matches(NULL, kvs, 1));
	sf_selector_free(NULL);

	sf_selector *sel = NULL;
	assert_int_equal(sf_selector_parse("app=", &sel, NULL), 0);
	assert_true(sf_selector_matches(sel, kvs, 1));
	sf_selector_free(sel);
	assert_int_equal(sf_selector_parse(NULL, &sel, NULL), 0);
	assert_true(sf_selector_matches(sel, NULL, 0));
	sf_selector_free(sel);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_matches),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_null_selector),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
