// defaults_test.c: the form's defaults, one row per rule.
#include <string.h>

#include "test_util.h"

typedef struct row {
	const char *name;
	// Input.
	const char *type, *affinity, *etp, *lb_type, *lb_pool, *lb_address;
	int32_t     timeout;
	const char *protocol, *target_name;
	int32_t     port, target;
	// Expected.
	const char *w_type, *w_affinity, *w_etp, *w_lb_type, *w_protocol;
	int32_t     w_timeout, w_port, w_target;
} row;

static const row rows[] = {
    {"everything empty", NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, 80,
        0, "ClusterIP", "None", "", "", "TCP", 0, 80, 80},
    {"port from a numeric target", "ClusterIP", "None", "", "", "", "", 0,
        "UDP", "", 0, 8080, "ClusterIP", "None", "", "", "UDP", 0, 8080, 8080},
    {"named target leaves port 0", "", "", "", "", "", "", 0, "", "http", 0, 0,
        "ClusterIP", "None", "", "", "TCP", 0, 0, 0},
    {"named target is not overwritten", "", "", "", "", "", "", 0, "", "http",
        80, 0, "ClusterIP", "None", "", "", "TCP", 0, 80, 0},
    {"explicit port and target kept", "", "", "", "", "", "", 0, "SCTP", "",
        80, 8080, "ClusterIP", "None", "", "", "SCTP", 0, 80, 8080},
    {"ClientIP gets the form's 30 s", "", "ClientIP", "", "", "", "", 0, "",
        "", 80, 0, "ClusterIP", "ClientIP", "", "", "TCP", 30, 80, 80},
    {"ClientIP keeps a given timeout", "", "ClientIP", "", "", "", "", 600, "",
        "", 80, 0, "ClusterIP", "ClientIP", "", "", "TCP", 600, 80, 80},
    {"None keeps a stray timeout for validation", "", "", "", "", "", "", 60,
        "", "", 80, 0, "ClusterIP", "None", "", "", "TCP", 60, 80, 80},
    {"NodePort gets policy Cluster", "NodePort", "", "", "", "", "", 0, "", "",
        80, 0, "NodePort", "None", "Cluster", "", "TCP", 0, 80, 80},
    {"NodePort keeps Local", "NodePort", "", "Local", "", "", "", 0, "", "",
        80, 0, "NodePort", "None", "Local", "", "TCP", 0, 80, 80},
    {"ClusterIP gets no policy", "ClusterIP", "", "", "", "", "", 0, "", "",
        80, 0, "ClusterIP", "None", "", "", "TCP", 0, 80, 80},
    {"LoadBalancer with a pool is MetalLB", "LoadBalancer", "", "", "",
        "default", "", 0, "", "", 80, 0, "LoadBalancer", "None", "Cluster",
        "metallb", "TCP", 0, 80, 80},
    {"bare LoadBalancer is other", "LoadBalancer", "", "", "", "", "", 0, "",
        "", 80, 0, "LoadBalancer", "None", "Cluster", "other", "TCP", 0, 80,
        80},
    {"an address alone is other", "LoadBalancer", "", "", "", "",
        "203.0.113.1", 0, "", "", 80, 0, "LoadBalancer", "None", "Cluster",
        "other", "TCP", 0, 80, 80},
    {"an explicit lb type is kept", "LoadBalancer", "", "", "metallb", "", "",
        0, "", "", 80, 0, "LoadBalancer", "None", "Cluster", "metallb", "TCP",
        0, 80, 80},
    {"no lb type off LoadBalancer", "NodePort", "", "", "", "default", "", 0,
        "", "", 80, 0, "NodePort", "None", "Cluster", "", "TCP", 0, 80, 80},
    {"unknown type left for validation", "nodeport", "", "", "", "", "", 0, "",
        "", 80, 0, "nodeport", "None", "", "", "TCP", 0, 80, 80},
};

static char *
s(const char *v)
{
	// NULL stays NULL: hand-built messages may hold it.
	return ((char *) v);
}

static void
test_rows(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const row       *r = &rows[i];
		sf_arena         a;
		sf_service       svc      = SVCFLEET__V1__SERVICE__INIT;
		sf_service_spec  spec     = SVCFLEET__V1__SERVICE_SPEC__INIT;
		sf_service_port  port     = SVCFLEET__V1__SERVICE_PORT__INIT;
		sf_service_port *ports[1] = {&port};

		sf_arena_init(&a);
		spec.type                    = s(r->type);
		spec.session_affinity        = s(r->affinity);
		spec.external_traffic_policy = s(r->etp);
		spec.lb_type                 = s(r->lb_type);
		spec.lb_pool                 = s(r->lb_pool);
		spec.lb_address              = s(r->lb_address);
		spec.session_timeout_seconds = r->timeout;
		port.protocol                = s(r->protocol);
		port.target_port_name        = s(r->target_name);
		port.port                    = r->port;
		port.target_port             = r->target;
		spec.ports                   = ports;
		spec.n_ports                 = 1;
		svc.spec                     = &spec;

		for (int pass = 0; pass < 2; pass++) { // idempotent
			assert_int_equal(
			    sf_model_service_defaults(&svc, &a), 0);
			assert_non_null(svc.metadata);
			if (strcmp(spec.type, r->w_type) != 0
			    || strcmp(spec.session_affinity, r->w_affinity)
			        != 0
			    || strcmp(spec.external_traffic_policy != NULL
			               ? spec.external_traffic_policy
			               : "",
			           r->w_etp)
			        != 0
			    || strcmp(spec.lb_type != NULL ? spec.lb_type : "",
			           r->w_lb_type)
			        != 0
			    || strcmp(port.protocol, r->w_protocol) != 0
			    || spec.session_timeout_seconds != r->w_timeout
			    || port.port != r->w_port
			    || port.target_port != r->w_target) {
				fail_msg(
				    "row \"%s\": type %s affinity %s etp %s "
				    "lb %s protocol %s timeout %d port %d "
				    "target %d",
				    r->name, spec.type, spec.session_affinity,
				    spec.external_traffic_policy, spec.lb_type,
				    port.protocol,
				    spec.session_timeout_seconds, port.port,
				    port.target_port);
			}
		}
		sf_arena_fini(&a);
	}
}

static void
test_creates_submessages(void **state)
{
	sf_arena   a;
	sf_service svc = SVCFLEET__V1__SERVICE__INIT;

	(void) state;
	sf_arena_init(&a);
	assert_int_equal(sf_model_service_defaults(&svc, &a), 0);
	assert_non_null(svc.metadata);
	assert_non_null(svc.spec);
	assert_string_equal(svc.spec->type, "ClusterIP");
	assert_string_equal(svc.spec->session_affinity, "None");
	sf_arena_fini(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_creates_submessages),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
