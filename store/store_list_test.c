// store_list_test.c: paged listing: order, no duplicates or gaps across
// page sizes and ranges, writes between pages, filters, page tokens.
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "store.h"
#include "store_testutil.h"

// Services stored. On etcd every page is a round trip (about 0.6 ms on a
// shared 2-CPU machine), so the same cases run over fewer Services there;
// the filter case still stores more than a page may examine.
#define NSVC_LMDB 10000
#define NSVC_ETCD 2000
static int nsvc;
#define NCLUSTERS 5
#define NNS       4

// The Services tu_fill made, as "cluster/ns/name" in key order.
static char    **expected;
static size_t    nexpected;
static char     *dir;
static sf_store *store;

static int
keycmp(const void *a, const void *b)
{
	// cluster\0ns\0name order: compare part by part.
	char pa[3][64] = {"", "", ""}, pb[3][64] = {"", "", ""};
	sscanf(
	    *(char *const *) a, "%63[^/]/%63[^/]/%63s", pa[0], pa[1], pa[2]);
	sscanf(
	    *(char *const *) b, "%63[^/]/%63[^/]/%63s", pb[0], pb[1], pb[2]);
	for (int i = 0; i < 3; i++) {
		int c = strcmp(pa[i], pb[i]);
		if (c != 0) {
			return (c);
		}
	}
	return (0);
}

static int
group_setup(void **state)
{
	(void) state;
	dir   = tu_tmpdir();
	store = tu_open(dir, 0, 0);
	nsvc  = tu_etcd() ? NSVC_ETCD : NSVC_LMDB;
	tu_fill(store, 0, nsvc, NCLUSTERS, NNS);
	expected = calloc((size_t) nsvc, sizeof(*expected));
	for (int i = 0; i < nsvc; i++) {
		char k[96];
		snprintf(k, sizeof(k), "c%d/ns%d/svc-%05d", i % NCLUSTERS,
		    (i / NCLUSTERS) % NNS, i);
		expected[i] = strdup(k);
	}
	nexpected = (size_t) nsvc;
	qsort(expected, nexpected, sizeof(*expected), keycmp);
	return (0);
}

static int
group_teardown(void **state)
{
	(void) state;
	sf_store_close(store);
	for (size_t i = 0; i < nexpected; i++) {
		free(expected[i]);
	}
	free(expected);
	tu_rmrf(dir);
	return (0);
}

static void
keystr(const Svcfleet__V1__Service *svc, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s/%s", svc->metadata->cluster,
	    svc->metadata->namespace_, svc->metadata->name);
}

static bool
matches(const char *key, const char *cluster, const char *ns)
{
	char c[64], n[64];
	sscanf(key, "%63[^/]/%63[^/]/", c, n);
	return ((cluster[0] == '\0' || strcmp(c, cluster) == 0)
	    && (ns[0] == '\0' || strcmp(n, ns) == 0));
}

// list_all follows page tokens to the end and checks the result is exactly
// the expected Services in the range, in order.
static void
list_all(const char *cluster, const char *ns, uint32_t limit)
{
	sf_arena  a;
	char      token[2048] = "";
	size_t    idx = 0, pages = 0;
	sf_status st;

	sf_arena_init(&a);
	sf_status_init(&st);
	for (;;) {
		sf_store_list_req req = {.lr_cluster = cluster,
		    .lr_namespace                    = ns,
		    .lr_limit                        = limit,
		    .lr_page_token                   = token};
		sf_store_list_res res;
		int               rv = sf_store_service_list(
		                  store, &req, sf_arena_pbc(&a), &res, &st);
		if (rv != 0) {
			fail_msg("list %s/%s/%u: %s", cluster, ns, limit,
			    st.st_msg);
		}
		assert_true(res.lr_n <= limit);
		assert_int_equal(res.lr_revision, sf_store_revision(store));
		for (size_t i = 0; i < res.lr_n; i++) {
			char k[160];
			keystr(res.lr_items[i], k, sizeof(k));
			while (idx < nexpected
			    && !matches(expected[idx], cluster, ns)) {
				idx++;
			}
			assert_true(idx < nexpected);
			assert_string_equal(k, expected[idx]);
			idx++;
		}
		pages++;
		snprintf(token, sizeof(token), "%s", res.lr_next_token);
		sf_arena_reset(&a);
		if (token[0] == '\0') {
			break;
		}
		// Without filters a page is never short unless it is the last.
		assert_int_equal(res.lr_n, limit);
	}
	while (idx < nexpected && !matches(expected[idx], cluster, ns)) {
		idx++;
	}
	assert_int_equal(idx, nexpected); // nothing left out
	assert_true(pages >= 1);
	sf_status_fini(&st);
	sf_arena_fini(&a);
}

static void
test_paging(void **state)
{
	static const uint32_t    sizes[] = {1, 7, 100, 500, 5000};
	static const char *const ranges[][2]
	    = {{"", ""}, {"c2", ""}, {"c2", "ns1"}, {"", "ns3"}, {"c9", ""}};

	(void) state;
	for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			list_all(ranges[r][0], ranges[r][1], sizes[i]);
		}
	}
}

// Writes between pages: everything that existed throughout shows up
// exactly once, in order, and keys created behind the cursor do not. The
// rest depends on the backend: LMDB reads each page at the current
// revision, so keys created ahead of the cursor show up and keys deleted
// ahead do not; etcd reads every page at the first page's revision (the
// token pins it), so the list is that snapshot: neither shows, and the
// deleted keys are listed as they were.
static void
test_paging_with_writes(void **state)
{
	sf_arena  a, w;
	char      token[2048] = "", last[160] = "";
	char    **seen    = calloc((size_t) nsvc * 2, sizeof(*seen));
	char    **deleted = calloc((size_t) nsvc, sizeof(*deleted));
	char    **ahead   = calloc((size_t) nsvc, sizeof(*ahead));
	size_t    nseen = 0, ndeleted = 0, nahead = 0, page = 0;
	sf_status st;

	(void) state;
	sf_arena_init(&a);
	sf_arena_init(&w);
	sf_status_init(&st);
	for (;; page++) {
		sf_store_list_req req = {
		    .lr_cluster = "c1", .lr_limit = 7, .lr_page_token = token};
		sf_store_list_res res;
		assert_int_equal(sf_store_service_list(
		                     store, &req, sf_arena_pbc(&a), &res, &st),
		    0);
		for (size_t i = 0; i < res.lr_n; i++) {
			char k[160];
			keystr(res.lr_items[i], k, sizeof(k));
			assert_true(
			    keycmp(&(char *) {last}, &(char *) {k}) < 0);
			snprintf(last, sizeof(last), "%s", k);
			seen[nseen++] = strdup(k);
		}
		snprintf(token, sizeof(token), "%s", res.lr_next_token);
		sf_arena_reset(&a);
		if (token[0] == '\0') {
			break;
		}
		// Between pages: last is c1/<ns>/<name>.
		char c[64], ns[64], name[64], nm[96];
		sscanf(last, "%63[^/]/%63[^/]/%63s", c, ns, name);
		// Ahead: sorts right after the cursor.
		snprintf(nm, sizeof(nm), "%s-a%zu", name, page);
		assert_int_equal(
		    tu_put(store, &w, tu_svc(&w, c, ns, nm, 0), true, NULL),
		    0);
		char k[256];
		snprintf(k, sizeof(k), "%s/%s/%s", c, ns, nm);
		ahead[nahead++] = strdup(k);
		// Behind: sorts before the cursor.
		snprintf(nm, sizeof(nm), "a-behind-%zu", page);
		assert_int_equal(
		    tu_put(store, &w, tu_svc(&w, c, ns, nm, 0), true, NULL),
		    0);
		// Delete an original Service a few keys ahead, and one behind.
		for (size_t j = 0; j < nexpected; j++) {
			if (matches(expected[j], "c1", "")
			    && keycmp(&expected[j], &(char *) {last}) > 0) {
				size_t t = j + 3 * NCLUSTERS;
				if (t < nexpected
				    && matches(expected[t], "c1", "")) {
					char tc[64], tn[64], tname[64];
					sscanf(expected[t],
					    "%63[^/]/%63[^/]/%63s", tc, tn,
					    tname);
					if (tu_delete(
					        store, tc, tn, tname, NULL)
					    == 0) {
						deleted[ndeleted++]
						    = expected[t];
					}
				}
				break;
			}
		}
		sf_arena_reset(&w);
	}
	// Every original c1 Service not deleted, and every "ahead" one, was
	// seen; nothing deleted ahead was.
	size_t want = 0;
	for (size_t j = 0; j < nexpected; j++) {
		if (!matches(expected[j], "c1", "")) {
			continue;
		}
		bool del = false, found = false;
		for (size_t d = 0; d < ndeleted; d++) {
			del = del || deleted[d] == expected[j];
		}
		for (size_t s = 0; s < nseen && !found; s++) {
			found = strcmp(seen[s], expected[j]) == 0;
		}
		if (tu_etcd()) {
			assert_true(found);
		} else {
			assert_true(found != del);
		}
		want += tu_etcd() || !del;
	}
	for (size_t h = 0; h < nahead; h++) {
		bool found = false;
		for (size_t s = 0; s < nseen && !found; s++) {
			found = strcmp(seen[s], ahead[h]) == 0;
		}
		if (!found && !tu_etcd()) {
			fail_msg("created ahead of the cursor, not listed: %s",
			    ahead[h]);
		}
		if (found && tu_etcd()) {
			fail_msg("created after the snapshot, listed: %s",
			    ahead[h]);
		}
		free(ahead[h]);
	}
	assert_int_equal(nseen, want + (tu_etcd() ? 0 : nahead));
	assert_true(ndeleted > (size_t) nsvc / 100);
	for (size_t s = 0; s < nseen; s++) {
		free(seen[s]);
	}
	free(seen);
	free(deleted);
	free(ahead);
	sf_status_fini(&st);
	sf_arena_fini(&a);
	sf_arena_fini(&w);
}

// Filters -----------------------------------------------------------------

static bool
key_even_ns(void *arg, const char *cluster, const char *ns)
{
	int *calls = arg;
	(*calls)++;
	(void) cluster;
	return (strcmp(ns, "ns0") == 0 || strcmp(ns, "ns2") == 0);
}

static bool
obj_gold(void *arg, const Svcfleet__V1__Service *svc)
{
	(void) arg;
	for (size_t i = 0; i < svc->metadata->n_labels; i++) {
		if (strcmp(svc->metadata->labels[i]->key, "tier") == 0
		    && strcmp(svc->metadata->labels[i]->value, "gold") == 0) {
			return (true);
		}
	}
	return (false);
}

typedef struct gold_arg {
	int      nth;
	sf_arena a; // what is stored lives until the write is done
} gold_arg;

static int
gold_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	gold_arg *g  = arg;
	int       rv = 0;

	(void) st;
	// Label every nth Service of cluster c3 tier=gold.
	for (int i = 3; i < nsvc && rv == 0; i += NCLUSTERS * g->nth) {
		char                   ns[16], name[16];
		Svcfleet__V1__Service *svc;
		snprintf(ns, sizeof(ns), "ns%d", (i / NCLUSTERS) % NNS);
		snprintf(name, sizeof(name), "svc-%05d", i);
		sf_store_key k = {"c3", ns, name};
		rv             = sf_store_txn_service_get(
		                txn, &k, sf_arena_pbc(&g->a), &svc);
		if (rv == 0) {
			tu_add_label(&g->a, svc, "tier", "gold");
			rv = sf_store_txn_service_put(txn, svc, false);
		}
	}
	return (rv);
}

static void
test_filters(void **state)
{
	sf_arena  a;
	sf_status st;
	int       calls = 0, nth = 97;
	gold_arg  g     = {.nth = nth};
	size_t    total = 0, pages = 0, short_pages = 0;
	char      token[2048] = "";

	(void) state;
	sf_arena_init(&a);
	sf_status_init(&st);

	// A key filter sees every key in the range, decodes only matches.
	sf_store_list_req req = {.lr_cluster = "c0",
	    .lr_limit                        = 5000,
	    .lr_filter = {.f_key = key_even_ns, .f_arg = &calls}};
	sf_store_list_res res;
	assert_int_equal(
	    sf_store_service_list(store, &req, sf_arena_pbc(&a), &res, &st),
	    0);
	assert_int_equal(calls, nsvc / NCLUSTERS);
	assert_int_equal(res.lr_n, nsvc / NCLUSTERS / 2);
	for (size_t i = 0; i < res.lr_n; i++) {
		assert_true(
		    strcmp(res.lr_items[i]->metadata->namespace_, "ns1") != 0);
	}
	assert_string_equal(res.lr_next_token, "");
	sf_arena_reset(&a);

	// An object filter over everything: few matches, so pages stop at
	// the scan limit with few items and a token; following the tokens
	// finds them all.
	sf_arena_init(&g.a);
	sf_store_write w = {.w_fn = gold_fn, .w_arg = &g};
	assert_int_equal(sf_store_write_sync(store, &w, NULL), 0);
	sf_arena_fini(&g.a);
	// More keys than one page may examine (into c0/ns0, which the tests
	// after this one do not look at).
	tu_fill(store, nsvc, 2500 + NSVC_LMDB - nsvc, 1, 1);
	for (;;) {
		sf_store_list_req r2 = {.lr_limit = 500,
		    .lr_page_token                = token,
		    .lr_filter                    = {.f_obj = obj_gold}};
		assert_int_equal(sf_store_service_list(
		                     store, &r2, sf_arena_pbc(&a), &res, &st),
		    0);
		for (size_t i = 0; i < res.lr_n; i++) {
			assert_true(obj_gold(NULL, res.lr_items[i]));
			assert_string_equal(
			    res.lr_items[i]->metadata->cluster, "c3");
		}
		total += res.lr_n;
		pages++;
		snprintf(token, sizeof(token), "%s", res.lr_next_token);
		sf_arena_reset(&a);
		if (token[0] == '\0') {
			break;
		}
		short_pages += res.lr_n < 500;
	}
	assert_int_equal(total, (nsvc / NCLUSTERS + nth - 1) / nth);
	assert_true(pages >= 2);
	assert_true(short_pages >= 1);
	sf_status_fini(&st);
	sf_arena_fini(&a);
}

static void
test_bad_tokens(void **state)
{
	sf_arena          a;
	sf_status         st;
	sf_store_list_req req = {.lr_cluster = "c1", .lr_limit = 3};
	sf_store_list_res res;
	char              tok[2048], bad[2048];

	(void) state;
	sf_arena_init(&a);
	sf_status_init(&st);
	assert_int_equal(
	    sf_store_service_list(store, &req, sf_arena_pbc(&a), &res, &st),
	    0);
	snprintf(tok, sizeof(tok), "%s", res.lr_next_token);
	assert_true(strlen(tok) > 0);

	static const char *const garbage[] = {"!!!!", "AAAA", "A", "x y",
	    "c3ZjZmxlZXQ", "////////////////////////"};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		req.lr_page_token = garbage[i];
		sf_status_reset(&st);
		assert_int_equal(sf_store_service_list(
		                     store, &req, sf_arena_pbc(&a), &res, &st),
		    SF_INVALID_ARGUMENT);
		assert_non_null(strstr(st.st_msg, "page_token"));
	}
	// One character changed.
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[strlen(bad) / 2] = bad[strlen(bad) / 2] == 'A' ? 'B' : 'A';
	req.lr_page_token    = bad;
	sf_status_reset(&st);
	assert_int_equal(
	    sf_store_service_list(store, &req, sf_arena_pbc(&a), &res, &st),
	    SF_INVALID_ARGUMENT);
	// The same bytes with other unused trailing bits: altered too. Of a
	// token of c1 and one of every cluster, one (which depends on the
	// backend's token version) has a length that leaves such bits.
	static const char url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
	                          "rstuvwxyz0123456789-_";
	sf_store_list_req two[2] = {req, {.lr_cluster = "", .lr_limit = 3}};
	int               tried  = 0;
	for (int i = 0; i < 2; i++) {
		two[i].lr_page_token = NULL;
		assert_int_equal(sf_store_service_list(store, &two[i],
		                     sf_arena_pbc(&a), &res, &st),
		    0);
		size_t tl = strlen(res.lr_next_token);
		if (tl % 4 == 0) {
			continue; // every bit carries data
		}
		snprintf(bad, sizeof(bad), "%s", res.lr_next_token);
		bad[tl - 1] = url[(strchr(url, bad[tl - 1]) - url) ^ 1];
		two[i].lr_page_token = bad;
		sf_status_reset(&st);
		assert_int_equal(sf_store_service_list(store, &two[i],
		                     sf_arena_pbc(&a), &res, &st),
		    SF_INVALID_ARGUMENT);
		tried++;
	}
	assert_int_not_equal(tried, 0);
	req.lr_page_token = bad;
	// Truncated.
	snprintf(bad, sizeof(bad), "%.*s", (int) strlen(tok) - 3, tok);
	sf_status_reset(&st);
	assert_int_equal(
	    sf_store_service_list(store, &req, sf_arena_pbc(&a), &res, &st),
	    SF_INVALID_ARGUMENT);

	// Other filters than the token's.
	static const char *const other[][2]
	    = {{"c2", ""}, {"", ""}, {"c1", "ns0"}, {"", "ns0"}};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		sf_store_list_req r2 = {.lr_cluster = other[i][0],
		    .lr_namespace                   = other[i][1],
		    .lr_limit                       = 3,
		    .lr_page_token                  = tok};
		sf_status_reset(&st);
		assert_int_equal(sf_store_service_list(
		                     store, &r2, sf_arena_pbc(&a), &res, &st),
		    SF_INVALID_ARGUMENT);
		assert_non_null(strstr(st.st_msg, "other filters"));
	}
	// Page sizes out of range.
	req.lr_page_token = NULL;
	req.lr_limit      = 0;
	assert_int_equal(
	    sf_store_service_list(store, &req, sf_arena_pbc(&a), &res, &st),
	    SF_INVALID_ARGUMENT);
	req.lr_limit = 5001;
	assert_int_equal(
	    sf_store_service_list(store, &req, sf_arena_pbc(&a), &res, &st),
	    SF_INVALID_ARGUMENT);
	sf_status_fini(&st);
	sf_arena_fini(&a);
}

// A token survives closing and reopening the store; heap results free.
static void
test_token_survives_reopen(void **state)
{
	sf_status         st;
	sf_store_list_req req
	    = {.lr_cluster = "c4", .lr_namespace = "ns2", .lr_limit = 10};
	sf_store_list_res res;
	char              tok[2048], last[160];

	(void) state;
	sf_status_init(&st);
	assert_int_equal(
	    sf_store_service_list(store, &req, NULL, &res, &st), 0);
	assert_int_equal(res.lr_n, 10);
	keystr(res.lr_items[9], last, sizeof(last));
	snprintf(tok, sizeof(tok), "%s", res.lr_next_token);
	for (size_t i = 0; i < res.lr_n; i++) {
		svcfleet__v1__service__free_unpacked(res.lr_items[i], NULL);
	}
	free(res.lr_items);
	free(res.lr_next_token);

	sf_store_close(store);
	store             = tu_open(dir, 0, 0);
	req.lr_page_token = tok;
	assert_int_equal(
	    sf_store_service_list(store, &req, NULL, &res, &st), 0);
	assert_int_equal(res.lr_n, 10);
	char first[160];
	keystr(res.lr_items[0], first, sizeof(first));
	assert_true(keycmp(&(char *) {last}, &(char *) {first}) < 0);
	for (size_t i = 0; i < res.lr_n; i++) {
		svcfleet__v1__service__free_unpacked(res.lr_items[i], NULL);
	}
	free(res.lr_items);
	free(res.lr_next_token);
	sf_status_fini(&st);
}

static void
test_empty(void **state)
{
	char             *d   = tu_tmpdir();
	sf_store         *s   = tu_open(d, 0, 0);
	sf_store_list_req req = {.lr_limit = 100};
	sf_store_list_res res;
	sf_status         st;

	(void) state;
	sf_status_init(&st);
	assert_int_equal(sf_store_service_list(s, &req, NULL, &res, &st), 0);
	assert_int_equal(res.lr_n, 0);
	assert_string_equal(res.lr_next_token, "");
	assert_int_equal(res.lr_revision, sf_store_revision(s));
	free(res.lr_items);
	free(res.lr_next_token);
	sf_status_fini(&st);
	sf_store_close(s);
	tu_rmrf(d);
}

int
main(void)
{
	if (tu_skip()) {
		return (77);
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_paging),
	    cmocka_unit_test(test_bad_tokens),
	    cmocka_unit_test(test_token_survives_reopen),
	    cmocka_unit_test(test_filters),
	    cmocka_unit_test(test_paging_with_writes),
	};
	sf_log_set_level(SF_LOG_WARN);
	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
