// port_test.c: the --port and KEY=VALUE syntaxes of `create service`.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *spec;
	const char *name;
	int32_t     port;
	int32_t     target;
	const char *target_name;
	const char *proto;
	int32_t     node_port;
} good[] = {
    {"80", "", 80, 0, "", "", 0},
    {"80:8080", "", 80, 8080, "", "", 0},
    {"http:80", "http", 80, 0, "", "", 0},
    {"http:80:8080", "http", 80, 8080, "", "", 0},
    {"http:80:web", "http", 80, 0, "web", "", 0},
    {"80:web", "", 80, 0, "web", "", 0},
    {"53/UDP", "", 53, 0, "", "UDP", 0},
    {"dns:53/udp", "dns", 53, 0, "", "UDP", 0},
    {"80@30080", "", 80, 0, "", "", 30080},
    {"http:80:8080/TCP@30080", "http", 80, 8080, "", "TCP", 30080},
    {"http:80:8080@30080/TCP", "http", 80, 8080, "", "TCP", 30080},
    {"9/sctp", "", 9, 0, "", "SCTP", 0},
    // Out of range is the server's to report, with the field path.
    {"0", "", 0, 0, "", "", 0},
    {"70000:1", "", 70000, 1, "", "", 0},
};

static const struct {
	const char *spec;
	const char *why; // a substring of the reason
} bad[] = {
    {"", "empty field"},
    {"http", "port \"http\" is not a number"},
    {"80:", "empty field"},
    {":80", "empty field"},
    {"a:b:c", "port \"b\" is not a number"},
    {"a:80:90:100", "too many ':'"},
    {"80/HTTP", "unknown protocol \"HTTP\""},
    {"80/", "unknown protocol \"\""},
    {"80/TCP/UDP", "protocol given twice"},
    {"80@", "node port \"\" is not a number"},
    {"80@x", "node port \"x\" is not a number"},
    {"80@0", "node port 0 is not allowed"},
    {"80@30080@30081", "node port given twice"},
    {"1234567890", "is not a number"},
};

static void
test_port_good(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		Svcfleet__V1__ServicePort p;
		sf_arena                  a;
		char                      why[300] = "";
		sf_arena_init(&a);
		if (sf__cli_port_parse(good[i].spec, &a, &p, why, sizeof(why))
		    != 0) {
			fail_msg("%s: %s", good[i].spec, why);
		}
		assert_string_equal(p.name, good[i].name);
		assert_int_equal(p.port, good[i].port);
		assert_int_equal(p.target_port, good[i].target);
		assert_string_equal(p.target_port_name, good[i].target_name);
		assert_string_equal(p.protocol, good[i].proto);
		assert_int_equal(p.node_port, good[i].node_port);
		sf_arena_fini(&a);
	}
}

static void
test_port_bad(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Svcfleet__V1__ServicePort p;
		sf_arena                  a;
		char                      why[300] = "";
		sf_arena_init(&a);
		if (sf__cli_port_parse(bad[i].spec, &a, &p, why, sizeof(why))
		    == 0) {
			fail_msg("%s: accepted", bad[i].spec);
		}
		if (strstr(why, bad[i].why) == NULL
		    || strstr(why, "want [NAME:]PORT") == NULL) {
			fail_msg("%s: reason \"%s\" lacks \"%s\"", bad[i].spec,
			    why, bad[i].why);
		}
		sf_arena_fini(&a);
	}
}

static void
test_kv(void **state)
{
	Svcfleet__V1__KeyValue kv;
	sf_arena               a;
	(void) state;
	sf_arena_init(&a);
	assert_int_equal(sf__cli_kv_parse("app=web", &a, &kv), 0);
	assert_string_equal(kv.key, "app");
	assert_string_equal(kv.value, "web");
	assert_int_equal(sf__cli_kv_parse("note=a=b,c", &a, &kv), 0);
	assert_string_equal(kv.key, "note");
	assert_string_equal(kv.value, "a=b,c");
	assert_int_equal(sf__cli_kv_parse("empty=", &a, &kv), 0);
	assert_string_equal(kv.value, "");
	assert_int_equal(sf__cli_kv_parse("novalue", &a, &kv), -1);
	assert_int_equal(sf__cli_kv_parse("=x", &a, &kv), -1);
	sf_arena_fini(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_port_good),
	    cmocka_unit_test(test_port_bad),
	    cmocka_unit_test(test_kv),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
