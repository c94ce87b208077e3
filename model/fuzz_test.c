// fuzz_test.c: robustness. Every field of a manifest replaced by values of
// every JSON type (and removed), random byte mutations of YAML text, and
// random selector strings. Nothing may crash, leak (under ASan) or return
// a code other than OK / INVALID_ARGUMENT, and a rejection always says why.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static const char rich[]
    = "{\"apiVersion\": \"v1\", \"kind\": \"Service\","
      " \"metadata\": {\"name\": \"web1\", \"namespace\": \"dev\","
      "  \"resourceVersion\": \"5\", \"generateName\": \"\","
      "  \"labels\": {\"app\": \"web\", \"tier\": \"front\"},"
      "  \"annotations\": {\"metallb.io/address-pool\": \"default\","
      "   \"metallb.io/loadBalancerIPs\": \"10.0.0.7\","
      "   \"svcfleet.io/cluster\": \"east\","
      "   \"svcfleet.io/allow-adoption\": \"true\","
      "   \"svcfleet.io/selector-from\": \"deployment/web\","
      "   \"service.beta.kubernetes.io/load-balancer-source-ranges\": \"\","
      "   \"note\": \"x\"}},"
      " \"spec\": {\"type\": \"LoadBalancer\", \"selector\": {\"app\": "
      "\"web\"},"
      "  \"ports\": [{\"name\": \"http\", \"protocol\": \"TCP\", \"port\": 80,"
      "    \"targetPort\": 8080, \"nodePort\": 30080, \"appProtocol\": "
      "\"http\"},"
      "   {\"name\": \"dns\", \"protocol\": \"UDP\", \"port\": 53,"
      "    \"targetPort\": \"dns\"}],"
      "  \"sessionAffinity\": \"ClientIP\","
      "  \"sessionAffinityConfig\": {\"clientIP\": {\"timeoutSeconds\": 60}},"
      "  \"externalTrafficPolicy\": \"Local\","
      "  \"loadBalancerSourceRanges\": [\"10.0.0.0/8\"],"
      "  \"loadBalancerIP\": \"\", \"loadBalancerClass\": \"\","
      "  \"clusterIP\": \"10.96.0.1\", \"clusterIPs\": [\"10.96.0.1\"],"
      "  \"internalTrafficPolicy\": \"Cluster\","
      "  \"allocateLoadBalancerNodePorts\": true,"
      "  \"publishNotReadyAddresses\": false, \"externalIPs\": [],"
      "  \"externalName\": \"\"},"
      " \"status\": {\"loadBalancer\": {}}}";

static const char *const values[] = {"null", "true", "false", "0", "-1",
    "2147483648", "-9223372036854775808", "1.5", "1e300", "\"\"", "\"x\"",
    "\"None\"", "\"80\"", "\"Local\"", "\"LoadBalancer\"", "\"a,b\"", "[]",
    "[1]", "[\"x\"]", "[null]", "[{}]", "{}", "{\"a\": 1}",
    "{\"port\": \"x\", \"x\": []}", "{\"clientIP\": []}", "\"\\u00e9\\u2713\"",
    NULL};

static Svcfleet__V1__IPPool        fuzz_pool    = SVCFLEET__V1__IPPOOL__INIT;
static char                       *fuzz_addrs[] = {"10.0.0.0/24", "bad-entry"};
static const Svcfleet__V1__IPPool *fuzz_pools[] = {&fuzz_pool};

static sf_model_limits
limits(void)
{
	sf_model_limits lim = {0};

	fuzz_pool.name        = "default";
	fuzz_pool.addresses   = fuzz_addrs;
	fuzz_pool.n_addresses = 2;
	lim.pools             = fuzz_pools;
	lim.npools            = 1;
	return (lim);
}

static void
check_rv(int rv, const sf_status *st, const char *what)
{
	if (rv != 0 && rv != SF_INVALID_ARGUMENT) {
		fail_msg("%s: code %s", what, sf_status_name(rv));
	}
	if (rv == SF_INVALID_ARGUMENT && st->st_nviol == 0
	    && st->st_msg[0] == '\0') {
		fail_msg("%s: rejected without a reason", what);
	}
}

// pipeline runs everything a request could go through.
static void
pipeline(const json_t *man, const sf_service *old, const char *what)
{
	sf_arena        a;
	sf_status       st;
	sf_service     *svc = NULL;
	sf_model_limits lim = limits();
	int             rv;

	sf_arena_init(&a);
	sf_status_init(&st);
	rv = sf_model_service_from_manifest(man, NULL, &a, &svc, &st);
	check_rv(rv, &st, what);
	if (rv == 0) {
		assert_int_equal(sf_model_service_defaults(svc, &a), 0);
		sf_status_reset(&st);
		check_rv(sf_model_service_validate(svc, &lim, &st), &st, what);
		sf_status_reset(&st);
		if (old != NULL) {
			check_rv(sf_model_service_prepare_update(
			             old, svc, &lim, &a, &st),
			    &st, what);
		}
		json_t *m = sf_model_service_to_manifest(svc);
		sf_buf  b = SF_BUF_INIT;
		assert_non_null(m);
		assert_int_equal(sf_model_json_to_yaml(m, &b), 0);
		sf_manifest_set set;
		sf_status_reset(&st);
		assert_int_equal(
		    sf_manifest_parse(b.b_data, b.b_len, "out", &set, &st), 0);
		sf_manifest_set_fini(&set);
		sf_buf_fini(&b);
		json_decref(m);
	}
	sf_status_fini(&st);
	sf_arena_fini(&a);
}

// mutate_all calls pipeline for root with the node at *slot replaced by
// each value and removed, then recurses into the original node.
static size_t
mutate_all(json_t *root, json_t *node, const sf_service *old)
{
	size_t      runs = 0;
	const char *k;
	json_t     *v;
	size_t      i;

	if (json_is_object(node)) {
		// Walk a snapshot of the keys: removing and re-adding a key
		// moves it to the end of the object.
		size_t nkeys = json_object_size(node), n = 0;
		char **keys = calloc(nkeys + 1, sizeof(*keys));
		json_object_foreach(node, k, v)
		{
			keys[n++] = strdup(k);
		}
		for (size_t ki = 0; ki < n; ki++) {
			char   *key  = keys[ki];
			json_t *orig = json_incref(json_object_get(node, key));
			for (size_t j = 0; values[j] != NULL; j++) {
				json_object_set_new(
				    node, key, tu_json(values[j]));
				pipeline(root, old, key);
				runs++;
			}
			json_object_del(node, key);
			pipeline(root, old, key);
			json_object_set(node, key, orig);
			runs += 1 + mutate_all(root, orig, old);
			json_decref(orig);
			free(key);
		}
		free(keys);
	} else if (json_is_array(node)) {
		json_array_foreach(node, i, v)
		{
			json_t *orig = json_incref(v);
			for (size_t j = 0; values[j] != NULL; j++) {
				json_array_set_new(
				    node, i, tu_json(values[j]));
				pipeline(root, old, "array item");
				runs++;
			}
			json_array_set(node, i, orig);
			runs += mutate_all(root, orig, old);
			json_decref(orig);
		}
	}
	return (runs);
}

static void
test_every_field_every_type(void **state)
{
	json_t     *root = tu_json(rich);
	sf_arena    a;
	sf_service *old;

	(void) state;
	sf_arena_init(&a);
	old         = tu_service(&a, rich, NULL);
	size_t runs = mutate_all(root, root, old);
	fprintf(stderr, "%zu mutated manifests\n", runs);
	assert_true(runs > 1000);
	// The root itself replaced by non-objects.
	for (size_t j = 0; values[j] != NULL; j++) {
		json_t *v = tu_json(values[j]);
		pipeline(v, old, "root");
		json_decref(v);
	}
	json_decref(root);
	sf_arena_fini(&a);
}

static uint32_t
rnd(uint32_t *s)
{
	// xorshift32: deterministic, so a failure reproduces.
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return (*s);
}

static const char yaml_src[]
    = "apiVersion: v1\n"
      "kind: Service\n"
      "metadata:\n"
      "  name: web1\n"
      "  labels: &l {app: web, tier: \"front\"}\n"
      "  annotations:\n"
      "    metallb.io/address-pool: default\n"
      "spec:\n"
      "  type: LoadBalancer\n"
      "  selector: *l\n"
      "  ports:\n"
      "  - name: http\n"
      "    port: 80\n"
      "    targetPort: 'http'\n"
      "  - {name: dns, port: 53, protocol: UDP}\n"
      "  sessionAffinity: ClientIP\n"
      "  sessionAffinityConfig:\n"
      "    clientIP:\n"
      "      timeoutSeconds: 60\n"
      "---\n"
      "kind: List\n"
      "items:\n"
      "- {apiVersion: v1, kind: Service, metadata: {name: x}}\n";

static void
test_random_bytes(void **state)
{
	static const char alphabet[] = " \n\t:-[]{},'\"&*!|>#?%@`~0123456789"
	                               "abcxyzNULL\\";
	uint32_t          seed       = 0x5eed1234;
	size_t            n          = sizeof(yaml_src) - 1;

	(void) state;
	for (int iter = 0; iter < 4000; iter++) {
		char  *buf = malloc(n + 16);
		size_t len = n;
		memcpy(buf, yaml_src, n);
		int edits = 1 + (int) (rnd(&seed) % 4);
		for (int e = 0; e < edits; e++) {
			size_t pos = rnd(&seed) % len;
			char c = alphabet[rnd(&seed) % (sizeof(alphabet) - 1)];
			switch (rnd(&seed) % 3) {
			case 0:
				buf[pos] = c;
				break;
			case 1:
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = c;
				len++;
				break;
			default:
				memmove(
				    buf + pos, buf + pos + 1, len - pos - 1);
				len--;
				break;
			}
		}
		sf_manifest_set set;
		sf_status       st;
		sf_status_init(&st);
		int rv = sf_manifest_parse(buf, len, "fuzz.yaml", &set, &st);
		check_rv(rv, &st, "parse");
		if (rv != 0) {
			assert_non_null(
			    strstr(st.st_msg, "fuzz.yaml: document "));
		}
		for (size_t d = 0; d < set.ms_ndocs; d++) {
			pipeline(set.ms_docs[d].md_obj, NULL, "random");
			(void) sf_manifest_line_of(
			    &set.ms_docs[d], "spec.ports[1]");
		}
		sf_manifest_set_fini(&set);
		sf_status_fini(&st);
		free(buf);
	}
}

static void
test_random_selectors(void **state)
{
	static const char *const atoms[] = {"a", "b", "=", "==", "!=", "!",
	    ",", "(", ")", " in ", " notin ", " ", ">", "<", "1", "x.y/z", "-",
	    "_", "$", "", "in", "notin"};
	uint32_t                 seed    = 42;

	(void) state;
	for (int iter = 0; iter < 20000; iter++) {
		char   text[128] = "";
		size_t natoms    = rnd(&seed) % 8;
		for (size_t i = 0; i < natoms; i++) {
			strcat(text,
			    atoms[rnd(&seed)
			        % (sizeof(atoms) / sizeof(atoms[0]))]);
		}
		sf_selector *sel = NULL;
		sf_status    st;
		sf_status_init(&st);
		int rv = sf_selector_parse(text, &sel, &st);
		check_rv(rv, &st, text);
		assert_true((rv == 0) == (sel != NULL));
		sf_kv  kv    = SVCFLEET__V1__KEY_VALUE__INIT;
		sf_kv *kvs[] = {&kv};
		kv.key       = "a";
		kv.value     = "1";
		(void) sf_selector_matches(sel, kvs, 1);
		sf_selector_free(sel);
		sf_status_fini(&st);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_field_every_type),
	    cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_random_selectors),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
