// secrets_store_test.c: sealing at the store's boundary — a schema-1 store
// whose cluster records hold credentials in the clear is upgraded and
// sealed when opened with a key (and rotation then rewrites the file
// without the old text); a sealed blob moved under another cluster's name
// or altered does not open; a store with sealed credentials refuses to
// open without its key or with another.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmdb_internal.h"
#include "store_testutil.h"

#define TOKEN "plaintext-canary-token-from-schema-1"

static const uint8_t key1[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t key2[32]
    = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
        0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
        0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf};

static int
put_cluster_fn(sf_store_txn *t, void *arg, sf_status *st)
{
	(void) st;
	return (sf_store_txn_cluster_put(t, arg, false));
}

static void
put_cluster(sf_store *s, const char *name, const char *token)
{
	Svcfleet__V1__Cluster c = SVCFLEET__V1__CLUSTER__INIT;
	sf_status             st;
	sf_status_init(&st);
	c.name       = (char *) name;
	c.api_server = "https://127.0.0.1:6443";
	c.token      = (char *) token;
	sf_store_write w
	    = {.w_fn = put_cluster_fn, .w_arg = &c, .w_status = &st};
	assert_int_equal(sf_store_write_sync(s, &w, NULL), 0);
	sf_status_fini(&st);
}

static int
schema1_fn(sf_store_txn *t, void *arg, sf_status *st)
{
	uint8_t b[4] = {0, 0, 0, 1};
	(void) arg;
	(void) st;
	return (sf__store_txn_put_raw(t, SF__DB_META, "schema", 6, b, 4));
}

static bool
data_has(const char *dir, const char *needle)
{
	char   path[4200];
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len       = (size_t) ftell(f);
	char *buf = malloc(len);
	fseek(f, 0, SEEK_SET);
	assert_int_equal(fread(buf, 1, len, f), len);
	fclose(f);
	bool yes = memmem(buf, len, needle, strlen(needle)) != NULL;
	free(buf);
	return (yes);
}

static sf_store *
open_with(const char *dir, const uint8_t *key, int want, const char *msg)
{
	sf_store     *s = NULL;
	sf_status     st;
	sf_store_opts o = {.so_dir = dir, .so_secret_key = key};
	sf_status_init(&st);
	assert_int_equal(sf_store_open(&s, &o, &st), want);
	if (msg != NULL) {
		assert_non_null(strstr(st.st_msg, msg));
	}
	sf_status_fini(&st);
	return (s);
}

static void
test_schema1_upgrade(void **state)
{
	char                  *dir = tu_tmpdir();
	sf_store              *s;
	Svcfleet__V1__Cluster *c = NULL;
	uint64_t               n;
	(void) state;

	// What an older svcfleetd left: credentials in the record.
	s = open_with(dir, NULL, 0, NULL);
	put_cluster(s, "east", TOKEN);
	sf_store_write w = {.w_fn = schema1_fn};
	assert_int_equal(sf_store_write_sync(s, &w, NULL), 0);
	sf_store_close(s);
	assert_true(data_has(dir, TOKEN));

	// Opening with a key seals them; reads see them as before.
	s = open_with(dir, key1, 0, NULL);
	assert_int_equal(sf_store_cluster_get(s, "east", NULL, &c), 0);
	assert_string_equal(c->token, TOKEN);
	svcfleet__v1__cluster__free_unpacked(c, NULL);
	void  *v;
	size_t vl;
	assert_int_equal(
	    sf__store_get_raw(s, SF__DB_META, "schema", 6, &v, &vl), 0);
	assert_int_equal(((uint8_t *) v)[3], SF__STORE_SCHEMA);
	free(v);
	// The record itself no longer carries the token.
	assert_int_equal(
	    sf__store_get_raw(s, SF__DB_CLUSTERS, "east", 5, &v, &vl), 0);
	assert_null(memmem(v, vl, TOKEN, strlen(TOKEN)));
	free(v);
	sf_store_close(s);

	// Rotation rewrites the file: the old text is gone from every page.
	sf_store_opts o = {.so_dir = dir, .so_secret_key = key1};
	sf_status     st;
	sf_status_init(&st);
	assert_int_equal(sf_store_rekey(&o, key2, &n, &st), 0);
	assert_int_equal(n, 1);
	sf_status_fini(&st);
	assert_false(data_has(dir, TOKEN));
	open_with(dir, key1, SF_FAILED_PRECONDITION, "is not the one");
	s = open_with(dir, key2, 0, NULL);
	assert_int_equal(sf_store_cluster_get(s, "east", NULL, &c), 0);
	assert_string_equal(c->token, TOKEN);
	svcfleet__v1__cluster__free_unpacked(c, NULL);
	sf_store_close(s);
	open_with(dir, NULL, SF_FAILED_PRECONDITION, "holds sealed");
	tu_rmrf(dir);
}

typedef struct raw_put {
	const char *k;
	size_t      kl;
	void       *v;
	size_t      vl;
} raw_put;

static int
raw_put_fn(sf_store_txn *t, void *arg, sf_status *st)
{
	raw_put *r = arg;
	(void) st;
	return (sf__store_txn_put_raw(
	    t, SF__DB_SECRETS, r->k, r->kl, r->v, r->vl));
}

static void
test_blob_bound_to_name(void **state)
{
	char                  *dir = tu_tmpdir();
	sf_store              *s   = open_with(dir, key1, 0, NULL);
	Svcfleet__V1__Cluster *c   = NULL;
	void                  *v;
	size_t                 vl;
	(void) state;

	put_cluster(s, "east", "token-of-east");
	put_cluster(s, "west", "token-of-west");
	// Move east's blob under west's name.
	assert_int_equal(
	    sf__store_get_raw(s, SF__DB_SECRETS, "east", 5, &v, &vl), 0);
	raw_put        r = {"west", 5, v, vl};
	sf_store_write w = {.w_fn = raw_put_fn, .w_arg = &r};
	assert_int_equal(sf_store_write_sync(s, &w, NULL), 0);
	assert_int_equal(
	    sf_store_cluster_get(s, "west", NULL, &c), SF_DATA_LOSS);
	// One flipped bit of east's own blob.
	((uint8_t *) v)[vl - 20] ^= 1;
	r.k = "east";
	assert_int_equal(sf_store_write_sync(s, &w, NULL), 0);
	assert_int_equal(
	    sf_store_cluster_get(s, "east", NULL, &c), SF_DATA_LOSS);
	Svcfleet__V1__Cluster **all;
	size_t                  n;
	assert_int_equal(
	    sf_store_cluster_list(s, NULL, &all, &n), SF_DATA_LOSS);
	free(v);
	sf_store_close(s);
	tu_rmrf(dir);
}

typedef struct spec_read {
	bool creds; // sf_store_txn_cluster_get, else ..._spec_get
	char token[64];
	char api_server[64];
	int  rv;
} spec_read;

static int
spec_read_fn(sf_store_txn *t, void *arg, sf_status *st)
{
	spec_read             *r = arg;
	Svcfleet__V1__Cluster *c = NULL;
	(void) st;
	r->rv = r->creds ? sf_store_txn_cluster_get(t, "east", NULL, &c)
	                 : sf_store_txn_cluster_spec_get(t, "east", NULL, &c);
	if (c != NULL) {
		snprintf(r->token, sizeof(r->token), "%s", c->token);
		snprintf(
		    r->api_server, sizeof(r->api_server), "%s", c->api_server);
		svcfleet__v1__cluster__free_unpacked(c, NULL);
	}
	return (0);
}

// Writes of Services read their cluster's settings without unsealing its
// credentials (an AES-GCM open per write, for nothing).
static void
test_spec_get_leaves_credentials(void **state)
{
	char     *dir = tu_tmpdir();
	sf_store *s   = open_with(dir, key1, 0, NULL);
	(void) state;

	put_cluster(s, "east", "token-of-east");
	for (int creds = 0; creds <= 1; creds++) {
		spec_read      r = {.creds = creds};
		sf_store_write w = {.w_fn = spec_read_fn, .w_arg = &r};
		assert_int_equal(sf_store_write_sync(s, &w, NULL), 0);
		assert_int_equal(r.rv, 0);
		assert_string_equal(r.api_server, "https://127.0.0.1:6443");
		assert_string_equal(r.token, creds ? "token-of-east" : "");
	}
	sf_store_close(s);
	tu_rmrf(dir);
}

// i21-cpu2: the clusters' settings for the fleet loop (five times a
// second) come without their credentials: nothing is unsealed, so even a
// damaged blob does not stop the list (the full list refuses it).
static void
test_specs_list_leaves_credentials(void **state)
{
	char                   *dir = tu_tmpdir();
	sf_store               *s   = open_with(dir, key1, 0, NULL);
	Svcfleet__V1__Cluster **all;
	size_t                  n;
	void                   *v;
	size_t                  vl;
	(void) state;

	put_cluster(s, "east", "token-of-east");
	put_cluster(s, "west", "token-of-west");
	assert_int_equal(sf_store_cluster_list(s, NULL, &all, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0]->token, "token-of-east");
	for (size_t i = 0; i < n; i++) {
		svcfleet__v1__cluster__free_unpacked(all[i], NULL);
	}
	free(all);
	assert_int_equal(sf_store_cluster_specs_min(s, 0, NULL, &all, &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(all[i]->name, i == 0 ? "east" : "west");
		assert_string_equal(
		    all[i]->api_server, "https://127.0.0.1:6443");
		assert_string_equal(all[i]->token, "");
		svcfleet__v1__cluster__free_unpacked(all[i], NULL);
	}
	free(all);
	// One flipped bit of east's blob: the full list fails, the
	// settings do not depend on it.
	assert_int_equal(
	    sf__store_get_raw(s, SF__DB_SECRETS, "east", 5, &v, &vl), 0);
	((uint8_t *) v)[vl - 20] ^= 1;
	raw_put        r = {"east", 5, v, vl};
	sf_store_write w = {.w_fn = raw_put_fn, .w_arg = &r};
	assert_int_equal(sf_store_write_sync(s, &w, NULL), 0);
	assert_int_equal(
	    sf_store_cluster_list(s, NULL, &all, &n), SF_DATA_LOSS);
	assert_int_equal(sf_store_cluster_specs_min(s, 0, NULL, &all, &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		svcfleet__v1__cluster__free_unpacked(all[i], NULL);
	}
	free(all);
	free(v);
	sf_store_close(s);
	tu_rmrf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_schema1_upgrade),
	    cmocka_unit_test(test_blob_bound_to_name),
	    cmocka_unit_test(test_spec_get_leaves_credentials),
	    cmocka_unit_test(test_specs_list_leaves_credentials), // i21-cpu2
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
