// etcd_store.c: the etcd backend: opening, schema, closing, statistics,
// retention (the janitor) and the ops table.
//
// The other parts live beside it: etcd_client.c (HTTP/JSON to etcd),
// etcd_writer.c (the write queue and the optimistic transactions),
// etcd_txn.c (what write functions call), etcd_read.c (reads and lists)
// and etcd_feed.c (the watch behind the change feed). store/README.md
// explains the design.
#include "etcd_internal.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

// ---------------------------------------------------------------- keys

int
sf__store_ekey_make(const sf_store *s, const char *section, const void *inner,
    size_t n, sf__store_ekey *k)
{
	size_t sl = strlen(section);

	if (s->s_plen + sl + n > sizeof(k->k_b)) {
		return (-1);
	}
	memcpy(k->k_b, s->s_prefix, s->s_plen);
	memcpy(k->k_b + s->s_plen, section, sl);
	if (n > 0) {
		memcpy(k->k_b + s->s_plen + sl, inner, n);
	}
	k->k_n = s->s_plen + sl + n;
	return (0);
}

void
sf__store_ekey_end(const sf__store_ekey *k, sf__store_ekey *end)
{
	*end = *k;
	// Keys here never end in 0xff (sections end in '/', inner keys in a
	// NUL or a port): the last byte plus one is the first key after
	// every key that begins with k.
	while (end->k_n > 0 && end->k_b[end->k_n - 1] == 0xff) {
		end->k_n--;
	}
	if (end->k_n > 0) {
		end->k_b[end->k_n - 1]++;
	}
}

void
sf__store_etcd_saw(sf_store *s, uint64_t rev)
{
	uint64_t cur = atomic_load(&s->s_known);
	while (rev > cur
	    && !atomic_compare_exchange_weak(&s->s_known, &cur, rev)) {
	}
}

// ----------------------------------------------------------- JSON pieces

static json_t *
b64k(const sf__store_ekey *k)
{
	return (sf__store_etcd_b64(k->k_b, k->k_n));
}

json_t *
sf__store_etcd_op_put(const sf__store_ekey *k, const void *v, size_t n)
{
	return (json_pack("{s:{s:o,s:o}}", "request_put", "key", b64k(k),
	    "value", sf__store_etcd_b64(v, n)));
}

json_t *
sf__store_etcd_op_del(const sf__store_ekey *k, const sf__store_ekey *end)
{
	json_t *d = json_pack("{s:o}", "key", b64k(k));
	if (d != NULL && end != NULL) {
		json_object_set_new(d, "range_end", b64k(end));
	}
	return (json_pack("{s:o}", "request_delete_range", d));
}

json_t *
sf__store_etcd_op_range(const sf__store_ekey *k)
{
	return (json_pack("{s:{s:o}}", "request_range", "key", b64k(k)));
}

json_t *
sf__store_etcd_cmp_absent(const sf__store_ekey *k)
{
	return (json_pack("{s:s,s:s,s:o,s:s}", "target", "CREATE", "result",
	    "EQUAL", "key", b64k(k), "create_revision", "0"));
}

json_t *
sf__store_etcd_cmp_mod(const sf__store_ekey *k, int64_t mod)
{
	return (
	    json_pack("{s:s,s:s,s:o,s:o}", "target", "MOD", "result", "EQUAL",
	        "key", b64k(k), "mod_revision", sf__store_etcd_str64(mod)));
}

json_t *
sf__store_etcd_cmp_mod_below(
    const sf__store_ekey *k, const sf__store_ekey *end, uint64_t rev)
{
	return (json_pack("{s:s,s:s,s:o,s:o,s:o}", "target", "MOD", "result",
	    "LESS", "key", b64k(k), "range_end", b64k(end), "mod_revision",
	    sf__store_etcd_str64((int64_t) rev)));
}

json_t *
sf__store_etcd_txn_kv(const json_t *resp, size_t i)
{
	json_t *r = json_array_get(json_object_get(resp, "responses"), i);
	json_t *kvs
	    = json_object_get(json_object_get(r, "response_range"), "kvs");
	return (json_array_get(kvs, 0));
}

int
sf__store_etcd_range(sf_store *s, const sf__store_ekey *k,
    const sf__store_ekey *end, uint64_t rev, int64_t limit, int flags,
    const char *what, json_t **resp, sf_status *st)
{
	json_t *req = json_pack("{s:o}", "key", b64k(k));
	int     rv;

	*resp = NULL;
	if (req == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	if (end != NULL) {
		json_object_set_new(req, "range_end", b64k(end));
	}
	if (rev > 0) {
		json_object_set_new(
		    req, "revision", sf__store_etcd_str64((int64_t) rev));
	}
	if (limit > 0) {
		json_object_set_new(req, "limit", sf__store_etcd_str64(limit));
	}
	if (flags & SF__RANGE_KEYS_ONLY) {
		json_object_set_new(req, "keys_only", json_true());
	}
	if (flags & SF__RANGE_COUNT_ONLY) {
		json_object_set_new(req, "count_only", json_true());
	}
	rv = sf__store_etcd_call(
	    s->s_etcd, "kv/range", req, what, resp, NULL, st);
	json_decref(req);
	if (rv == 0) {
		sf__store_etcd_saw(s, sf__store_etcd_rev(*resp));
	}
	return (rv);
}

int
sf__store_etcd_kv_value(const json_t *kv, uint8_t **v, size_t *n)
{
	return (sf__store_etcd_unb64(kv, "value", v, n));
}

int
sf__store_etcd_kv_key(const sf_store *s, const json_t *kv, const char *section,
    uint8_t **buf, const uint8_t **inner, size_t *n)
{
	size_t sl = strlen(section), kn;

	*buf = NULL;
	if (sf__store_etcd_unb64(kv, "key", buf, &kn) != 0) {
		return (-1);
	}
	if (kn < s->s_plen + sl || memcmp(*buf, s->s_prefix, s->s_plen) != 0
	    || memcmp(*buf + s->s_plen, section, sl) != 0) {
		free(*buf);
		*buf = NULL;
		return (-1);
	}
	*inner = *buf + s->s_plen + sl;
	*n     = kn - s->s_plen - sl;
	return (0);
}

// ------------------------------------------------------------- opening

static int
meta_key(const sf_store *s, const char *name, sf__store_ekey *k)
{
	return (sf__store_ekey_make(
	    s, SF__STORE_ETCD_META, name, strlen(name), k));
}

// schema_open creates the schema and the installation id when the prefix
// is empty, in one create-if-absent transaction (two stores opening an
// empty etcd at once agree on one id), else checks the schema.
static int
schema_open(sf_store *s, sf_status *st)
{
	sf__store_ekey ks, ki;
	char           id[37], schema[12];
	json_t        *req, *resp = NULL, *kv;
	uint8_t       *v = NULL;
	size_t         n;
	int            rv;

	if (sf__store_uuid(id) != 0) {
		return (sf_status_set(st, SF_INTERNAL,
		    "cannot make an installation id: no randomness"));
	}
	snprintf(schema, sizeof(schema), "%d", SF__STORE_SCHEMA);
	meta_key(s, "schema", &ks);
	meta_key(s, "installation_id", &ki);
	req = json_pack("{s:[o],s:[o,o],s:[o,o]}", "compare",
	    sf__store_etcd_cmp_absent(&ks), "success",
	    sf__store_etcd_op_put(&ks, schema, strlen(schema)),
	    sf__store_etcd_op_put(&ki, id, strlen(id)), "failure",
	    sf__store_etcd_op_range(&ks), sf__store_etcd_op_range(&ki));
	if (req == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	rv = sf__store_etcd_call(
	    s->s_etcd, "kv/txn", req, "the store's schema", &resp, NULL, st);
	json_decref(req);
	if (rv != 0) {
		return (rv);
	}
	sf__store_etcd_saw(s, sf__store_etcd_rev(resp));
	if (json_is_true(json_object_get(resp, "succeeded"))) {
		snprintf(s->s_instid, sizeof(s->s_instid), "%s", id);
		json_decref(resp);
		SF_INFO("store", "created a new store under %s in etcd (%s)",
		    s->s_prefix, sf__store_etcd_endpoints(s->s_etcd));
		return (0);
	}
	if ((kv = sf__store_etcd_txn_kv(resp, 0)) == NULL
	    || sf__store_etcd_kv_value(kv, &v, &n) != 0 || n == 0) {
		free(v);
		json_decref(resp);
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "the store under %s in etcd has no valid schema version",
		    s->s_prefix));
	}
	long got = strtol((const char *) v, NULL, 10);
	free(v);
	if (got > SF__STORE_SCHEMA || got < 1) {
		json_decref(resp);
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "the store under %s in etcd has schema version %ld, newer "
		    "than this svcfleet's %d: run a newer svcfleetd or use "
		    "another key prefix",
		    s->s_prefix, got, SF__STORE_SCHEMA));
	}
	if ((kv = sf__store_etcd_txn_kv(resp, 1)) == NULL
	    || sf__store_etcd_kv_value(kv, &v, &n) != 0 || n == 0
	    || n >= sizeof(s->s_instid)) {
		free(v);
		json_decref(resp);
		return (sf_status_set(st, SF_DATA_LOSS,
		    "the store under %s in etcd has no installation id",
		    s->s_prefix));
	}
	memcpy(s->s_instid, v, n);
	s->s_instid[n] = '\0';
	free(v);
	json_decref(resp);
	return (0);
}

// secrets_open checks the sealing key against the one the store's
// credentials are sealed with, recording it the first time (create-if-
// absent); without a key, a store holding sealed credentials is refused.
static int
secrets_open(sf_store *s, sf_status *st)
{
	sf__store_ekey k, sec, secend;
	json_t        *req, *resp = NULL, *kv;
	uint8_t       *v = NULL;
	size_t         n = 0;
	char           want[17], have[17];
	int            rv;

	meta_key(s, "secret_key_id", &k);
	if (!s->s_sealing) {
		if (s->s_sealed_ok) {
			return (0);
		}
		sf__store_ekey_make(s, SF__STORE_ETCD_SEC, NULL, 0, &sec);
		sf__store_ekey_end(&sec, &secend);
		req = json_pack("{s:[o,o]}", "success",
		    sf__store_etcd_op_range(&k),
		    json_pack("{s:{s:o,s:o,s:b}}", "request_range", "key",
		        b64k(&sec), "range_end", b64k(&secend), "count_only",
		        1));
		rv  = req != NULL
		     ? sf__store_etcd_call(s->s_etcd, "kv/txn", req,
		         "the store's secret key id", &resp, NULL, st)
		     : sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL);
		json_decref(req);
		if (rv != 0) {
			return (rv);
		}
		json_t *r1 = json_object_get(
		    json_array_get(json_object_get(resp, "responses"), 1),
		    "response_range");
		bool sealed = sf__store_etcd_txn_kv(resp, 0) != NULL
		    || sf__store_etcd_i64(r1, "count") > 0;
		json_decref(resp);
		if (sealed) {
			return (sf_status_set(st, SF_FAILED_PRECONDITION,
			    "the store under %s in etcd holds sealed cluster "
			    "credentials: it must be opened with its secret "
			    "key",
			    s->s_prefix));
		}
		return (0);
	}
	sf__store_key_id_hex(s->s_key_id, want);
	req = json_pack("{s:[o],s:[o],s:[o]}", "compare",
	    sf__store_etcd_cmp_absent(&k), "success",
	    sf__store_etcd_op_put(&k, s->s_key_id, SF__STORE_KEY_ID_LEN),
	    "failure", sf__store_etcd_op_range(&k));
	rv  = req != NULL ? sf__store_etcd_call(s->s_etcd, "kv/txn", req,
	          "the store's secret key id", &resp, NULL, st)
	                  : sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL);
	json_decref(req);
	if (rv != 0) {
		return (rv);
	}
	if (json_is_true(json_object_get(resp, "succeeded"))) {
		json_decref(resp);
		return (0);
	}
	kv = sf__store_etcd_txn_kv(resp, 0);
	if (kv == NULL || sf__store_etcd_kv_value(kv, &v, &n) != 0
	    || n != SF__STORE_KEY_ID_LEN
	    || memcmp(v, s->s_key_id, SF__STORE_KEY_ID_LEN) != 0) {
		uint8_t id[SF__STORE_KEY_ID_LEN];
		memset(id, 0, sizeof(id));
		if (v != NULL) {
			memcpy(id, v, n < sizeof(id) ? n : sizeof(id));
		}
		sf__store_key_id_hex(id, have);
		free(v);
		json_decref(resp);
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "the secret key given (id %s) is not the one the cluster "
		    "credentials under %s in etcd are sealed with (id %s): "
		    "start with the store's --secret-key-file",
		    want, s->s_prefix, have));
	}
	free(v);
	json_decref(resp);
	return (0);
}

static void etcd_close(sf_store *s);
static void db_size(sf_store *s);

static int
etcd_open(sf_store **out, const sf_store_opts *o, sf_status *st)
{
	sf_store           *s;
	sf__store_etcd_opts eo;
	const char         *prefix;
	int                 rv;

	*out = NULL;
	if (o == NULL) {
		return (sf_status_set(
		    st, SF_INVALID_ARGUMENT, "the etcd store needs options"));
	}
	prefix = o->so_etcd_prefix != NULL && o->so_etcd_prefix[0] != '\0'
	    ? o->so_etcd_prefix
	    : SF__STORE_ETCD_PREFIX_DEFAULT;
	if (strlen(prefix) > SF__STORE_ETCD_PREFIX_MAX
	    || prefix[strlen(prefix) - 1] != '/') {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "etcd key prefix \"%s\": must end with '/' and have at "
		    "most %d bytes",
		    prefix, SF__STORE_ETCD_PREFIX_MAX));
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	s->s_ops = &sf_store_etcd_ops;
	snprintf(s->s_prefix, sizeof(s->s_prefix), "%s", prefix);
	s->s_plen = strlen(s->s_prefix);
	s->s_feed_keep
	    = o->so_feed_keep ? o->so_feed_keep : SF__STORE_FEED_KEEP;
	s->s_audit_keep
	    = o->so_audit_keep ? o->so_audit_keep : SF__STORE_AUDIT_KEEP;
	s->s_audit_max_age_ms = o->so_audit_max_age_ms
	    ? o->so_audit_max_age_ms
	    : SF__STORE_AUDIT_AGE_MS;
	s->s_max_ops          = o->so_etcd_max_txn_ops ? o->so_etcd_max_txn_ops
	                                               : SF__STORE_ETCD_TXN_OPS;
	s->s_retry_ms = o->so_etcd_retry_ms > 0 ? o->so_etcd_retry_ms : 10000;
	s->s_queue_max
	    = o->so_queue_max ? o->so_queue_max : SF__STORE_ETCD_QUEUE_MAX;
	s->s_batch_max = o->so_batch_max == 0 ? SF__STORE_ETCD_BATCH_DEFAULT
	    : o->so_batch_max > SF__STORE_ETCD_BATCH_MAX
	    ? SF__STORE_ETCD_BATCH_MAX
	    : o->so_batch_max;
	// A batch's keys and values travel in base64 with JSON around
	// them: a quarter of what etcd takes in one request keeps it well
	// inside (a batch refused as too large runs its writes one by one).
	s->s_batch_bytes
	    = (o->so_etcd_max_request_bytes ? o->so_etcd_max_request_bytes
	                                    : SF__STORE_ETCD_MAX_REQUEST)
	    / 4;
	s->s_sealed_ok  = o->so_sealed_ok;
	s->s_janitor_at = sf_clock_mono_ms() + SF__STORE_ETCD_JANITOR_MS;
	if (o->so_secret_key != NULL) {
		s->s_sealing = true;
		memcpy(s->s_secret_key, o->so_secret_key,
		    SF_STORE_SECRET_KEY_LEN);
		sf__store_key_id(s->s_secret_key, s->s_key_id);
	}
	pthread_mutex_init(&s->s_qmtx, NULL);
	pthread_cond_init(&s->s_qcv, NULL);
	pthread_mutex_init(&s->s_fmtx, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->s_fcv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&s->s_hookmtx, NULL);
	pthread_mutex_init(&s->s_lmtx, NULL);
	s->s_sync_ok = true;

	eo.eo_endpoints         = o->so_etcd_endpoints;
	eo.eo_ca_file           = o->so_etcd_ca_file;
	eo.eo_cert_file         = o->so_etcd_cert_file;
	eo.eo_key_file          = o->so_etcd_key_file;
	eo.eo_timeout_ms        = o->so_etcd_timeout_ms;
	eo.eo_max_request_bytes = o->so_etcd_max_request_bytes;
	eo.eo_retry_ms          = s->s_retry_ms;
	if ((rv = sf__store_etcd_open(&s->s_etcd, &eo, st)) != 0
	    || (rv = schema_open(s, st)) != 0
	    || (rv = secrets_open(s, st)) != 0
	    || (rv = sf__store_etcd_feed_start(s, st)) != 0) {
		etcd_close(s);
		return (rv);
	}
	db_size(s);
	if ((rv = sf__store_etcd_writer_start(s)) != 0) {
		etcd_close(s);
		return (sf_status_set(
		    st, rv, "cannot start the store's writer thread"));
	}
	SF_INFO("store",
	    "opened %s in etcd (%s): revision %" PRIu64 ", %" PRIu64
	    " services, installation %s",
	    s->s_prefix, sf__store_etcd_endpoints(s->s_etcd),
	    atomic_load(&s->s_known), sf__store_etcd_feed_services(s),
	    s->s_instid);
	*out = s;
	return (0);
}

static void
etcd_close(sf_store *s)
{
	if (s == NULL) {
		return;
	}
	// Queued writes finish first; then the watch delivers them, so the
	// commit hook has seen every write made through this store.
	sf__store_etcd_writer_stop(s);
	if (s->s_watcher_running) {
		sf__store_etcd_feed_wait(
		    s, atomic_load(&s->s_last_write), 2000);
	}
	sf__store_etcd_feed_stop(s);
	if (s->s_etcd != NULL && s->s_instid[0] != '\0') {
		SF_INFO("store",
		    "closed %s in etcd at revision %" PRIu64 ": %" PRIu64
		    " writes in %" PRIu64 " transactions",
		    s->s_prefix, atomic_load(&s->s_known),
		    atomic_load(&s->s_writes), atomic_load(&s->s_commits));
	}
	sf__store_etcd_close(s->s_etcd);
	if (s->s_sync_ok) {
		pthread_mutex_destroy(&s->s_qmtx);
		pthread_cond_destroy(&s->s_qcv);
		pthread_mutex_destroy(&s->s_fmtx);
		pthread_cond_destroy(&s->s_fcv);
		pthread_mutex_destroy(&s->s_hookmtx);
		pthread_mutex_destroy(&s->s_lmtx);
	}
	OPENSSL_cleanse(s->s_secret_key, sizeof(s->s_secret_key));
	free(s);
}

uint64_t
sf__store_etcd_revision_seen(sf_store *s)
{
	return (atomic_load(&s->s_last_write));
}

uint64_t
sf__store_etcd_revision_reached(sf_store *s)
{
	uint64_t r;
	pthread_mutex_lock(&s->s_fmtx);
	r = s->s_f_started ? s->s_f_hi : 0;
	pthread_mutex_unlock(&s->s_fmtx);
	return (r);
}

static void
etcd_stats(sf_store *s, sf_store_stats *out)
{
	memset(out, 0, sizeof(*out));
	// The counters come from the watch: let it catch up with this
	// store's own writes first (briefly: stats must not hang). Not on
	// the watch's own thread (a commit hook reading stats, as svcfleetd's
	// metrics do): it would wait for itself.
	if (!s->s_watcher_running
	    || !pthread_equal(pthread_self(), s->s_watcher)) {
		sf__store_etcd_feed_wait(
		    s, atomic_load(&s->s_last_write), 2000);
	}
	out->ss_revision   = atomic_load(&s->s_known);
	out->ss_commits    = atomic_load(&s->s_commits);
	out->ss_writes     = atomic_load(&s->s_writes);
	out->ss_failed     = atomic_load(&s->s_failed);
	out->ss_batch_max  = atomic_load(&s->s_batch_seen);
	out->ss_map_size   = atomic_load(&s->s_db_size);
	out->ss_map_used   = atomic_load(&s->s_db_used);
	out->ss_services   = sf__store_etcd_feed_services(s);
	out->ss_feed_first = atomic_load(&s->s_compacted) + 1;
}

static const char *
etcd_installation_id(sf_store *s)
{
	return (s->s_instid);
}

// ------------------------------------------------------------- janitor

static void
delete_range(sf_store *s, const sf__store_ekey *k, const sf__store_ekey *end,
    const char *what)
{
	json_t *req
	    = json_pack("{s:o,s:o}", "key", b64k(k), "range_end", b64k(end));
	json_t   *resp = NULL;
	sf_status st;

	sf_status_init(&st);
	if (req != NULL
	    && sf__store_etcd_call(
	           s->s_etcd, "kv/deleterange", req, what, &resp, NULL, &st)
	        == 0) {
		int64_t n = sf__store_etcd_i64(resp, "deleted");
		sf__store_etcd_saw(s, sf__store_etcd_rev(resp));
		if (n > 0) {
			SF_DEBUG("store", "janitor: deleted %lld %s",
			    (long long) n, what);
		}
	} else if (st.st_code != 0) {
		SF_WARN(
		    "store", "janitor: %s not trimmed: %s", what, st.st_msg);
	}
	json_decref(req);
	json_decref(resp);
	sf_status_fini(&st);
}

// audit_count counts the audit records with ids >= from (0: all).
static int
audit_count(sf_store *s, uint64_t from, int64_t *n)
{
	sf__store_ekey k, end;
	json_t        *resp = NULL;
	sf_status      st;
	int            rv;

	sf__store_ekey_make(s, SF__STORE_ETCD_AUDIT, NULL, 0, &k);
	if (from == 0) {
		sf__store_ekey_end(&k, &end);
	} else {
		// Ids >= from are the keys <= audit_key(from).
		sf__store_etcd_audit_key(s, from, &end);
		end.k_b[end.k_n++] = 0;
	}
	sf_status_init(&st);
	rv = sf__store_etcd_range(s, &k, &end, 0, 0, SF__RANGE_COUNT_ONLY,
	    "the audit log", &resp, &st);
	*n = rv == 0 ? sf__store_etcd_i64(resp, "count") : 0;
	json_decref(resp);
	sf_status_fini(&st);
	return (rv);
}

// trim_audit drops audit records older than so_audit_max_age_ms, then the
// oldest beyond so_audit_keep. Keeping no counter (a hot key every write
// would touch), the count cut is found by halving the time range: the ids
// begin with the time they were made.
static void
trim_audit(sf_store *s)
{
	sf__store_ekey k, end;
	int64_t        now = sf_clock_now_ms(), n = 0;
	int64_t        age = now - s->s_audit_max_age_ms;

	sf__store_ekey_make(s, SF__STORE_ETCD_AUDIT, NULL, 0, &k);
	sf__store_ekey_end(&k, &end);
	if (age > 0) {
		// Every id below (age << 22): the keys from audit_key(id - 1).
		sf__store_etcd_audit_key(s, ((uint64_t) age << 22) - 1, &k);
		delete_range(s, &k, &end, "audit records past their age");
	}
	if (audit_count(s, 0, &n) != 0 || (uint64_t) n <= s->s_audit_keep) {
		return;
	}
	// Find the oldest ms m such that the records from m on fit.
	int64_t lo = 0, hi = now + 60000;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (audit_count(s, (uint64_t) mid << 22, &n) != 0) {
			return;
		}
		if ((uint64_t) n <= s->s_audit_keep) {
			hi = mid;
		} else {
			lo = mid;
		}
	}
	sf__store_etcd_audit_key(s, ((uint64_t) hi << 22) - 1, &k);
	delete_range(s, &k, &end, "audit records beyond the count kept");
}

// compact drops etcd's history older than so_feed_keep revisions, once
// a quarter of that has accumulated. Every replica may do it: compacting
// to a revision already compacted is refused harmlessly.
static void
compact(sf_store *s)
{
	uint64_t  cur   = atomic_load(&s->s_known);
	uint64_t  done  = atomic_load(&s->s_compacted);
	uint64_t  slack = s->s_feed_keep / 4 + 1;
	json_t   *req, *resp = NULL;
	sf_status st;

	if (cur <= s->s_feed_keep || cur - s->s_feed_keep < done + slack) {
		return;
	}
	uint64_t to = cur - s->s_feed_keep;
	req         = json_pack(
	            "{s:o}", "revision", sf__store_etcd_str64((int64_t) to));
	sf_status_init(&st);
	if (req != NULL
	    && (sf__store_etcd_call(s->s_etcd, "kv/compaction", req,
	            "a compaction of etcd's history", &resp, NULL, &st)
	            == 0
	        || st.st_code == SF_OUT_OF_RANGE)) {
		uint64_t c = atomic_load(&s->s_compacted);
		while (to > c
		    && !atomic_compare_exchange_weak(
		        &s->s_compacted, &c, to)) {
		}
	} else if (st.st_code != 0) {
		SF_WARN("store", "etcd history not compacted: %s", st.st_msg);
	}
	json_decref(req);
	json_decref(resp);
	sf_status_fini(&st);
}

static void
db_size(sf_store *s)
{
	json_t   *req = json_object(), *resp = NULL;
	sf_status st;

	sf_status_init(&st);
	if (req != NULL
	    && sf__store_etcd_call_timeout(s->s_etcd, "maintenance/status",
	           req, "etcd's status", 2000, &resp, NULL, &st)
	        == 0) {
		atomic_store(&s->s_db_size,
		    (uint64_t) sf__store_etcd_i64(resp, "dbSize"));
		atomic_store(&s->s_db_used,
		    (uint64_t) sf__store_etcd_i64(resp, "dbSizeInUse"));
	}
	json_decref(req);
	json_decref(resp);
	sf_status_fini(&st);
}

void
sf__store_etcd_janitor(sf_store *s)
{
	sf__store_ekey k, end;
	char           hex[24];

	snprintf(hex, sizeof(hex), "%016llx",
	    (unsigned long long) (sf_clock_now_ms()
	        - SF__STORE_ETCD_MARKER_TTL_MS));
	// Both kinds of marker (i15-create: P ~txn/ for writes that change
	// a watched key; P txn/ for the others, and for every write of a
	// replica older than i15-create).
	sf__store_ekey_make(s, SF__STORE_ETCD_TXN, NULL, 0, &k);
	sf__store_ekey_make(s, SF__STORE_ETCD_TXN, hex, strlen(hex), &end);
	delete_range(s, &k, &end, "markers of old writes");
	sf__store_ekey_make(s, SF__STORE_ETCD_TXN_OUT, NULL, 0, &k);
	sf__store_ekey_make(s, SF__STORE_ETCD_TXN_OUT, hex, strlen(hex), &end);
	delete_range(s, &k, &end, "markers of old writes");
	trim_audit(s);
	compact(s);
	db_size(s);
}

void
sf__store_etcd_compact_due(sf_store *s)
{
	compact(s);
}

// ---------------------------------------------------------- test hooks

int
sf__store_etcd_put_raw(sf_store *s, const char *key, const void *v, size_t n)
{
	sf__store_ekey k;
	json_t        *req, *resp = NULL;
	sf_status      st;
	int            rv;

	if (sf__store_ekey_make(s, "", key, strlen(key), &k) != 0) {
		return (SF_INVALID_ARGUMENT);
	}
	req = json_pack(
	    "{s:o,s:o}", "key", b64k(&k), "value", sf__store_etcd_b64(v, n));
	sf_status_init(&st);
	rv = sf__store_etcd_call(
	    s->s_etcd, "kv/put", req, key, &resp, NULL, &st);
	json_decref(req);
	json_decref(resp);
	sf_status_fini(&st);
	return (rv);
}

int
sf__store_etcd_get_raw(
    sf_store *s, const void *key, size_t klen, uint8_t **v, size_t *n)
{
	sf__store_ekey k;
	json_t        *resp = NULL, *kv;
	sf_status      st;
	int            rv;

	*v = NULL;
	*n = 0;
	if (sf__store_ekey_make(s, "", key, klen, &k) != 0) {
		return (SF_INVALID_ARGUMENT);
	}
	sf_status_init(&st);
	rv = sf__store_etcd_range(
	    s, &k, NULL, 0, 0, 0, "a raw key", &resp, &st);
	if (rv == 0) {
		kv = json_array_get(json_object_get(resp, "kvs"), 0);
		rv = kv == NULL                              ? SF_NOT_FOUND
		    : sf__store_etcd_kv_value(kv, v, n) != 0 ? SF_DATA_LOSS
		                                             : 0;
	}
	json_decref(resp);
	sf_status_fini(&st);
	return (rv);
}

int
sf__store_etcd_count(sf_store *s, const char *section, uint64_t *n)
{
	sf__store_ekey k, end;
	json_t        *resp = NULL;
	sf_status      st;
	int            rv;

	sf__store_ekey_make(s, section, NULL, 0, &k);
	sf__store_ekey_end(&k, &end);
	sf_status_init(&st);
	rv = sf__store_etcd_range(
	    s, &k, &end, 0, 0, SF__RANGE_COUNT_ONLY, section, &resp, &st);
	*n = rv == 0 ? (uint64_t) sf__store_etcd_i64(resp, "count") : 0;
	json_decref(resp);
	sf_status_fini(&st);
	return (rv);
}

sf__store_etcd *
sf__store_etcd_client(sf_store *s)
{
	return (s->s_etcd);
}

// ------------------------------------------------------------ ops table

// sf__store_etcd_health: one linearizable read of meta/schema within 1.5 s on
// any member; without quorum etcd cannot answer it (issue 15: /readyz).
int
sf__store_etcd_health(sf_store *s, sf_status *st)
{
	sf__store_ekey k;
	json_t        *req, *resp = NULL;
	int            rv;

	meta_key(s, "schema", &k);
	req = json_pack("{s:o,s:b}", "key", sf__store_etcd_b64(k.k_b, k.k_n),
	    "keys_only", 1);
	if (req == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	rv = sf__store_etcd_call_timeout(s->s_etcd, "kv/range", req,
	    "the health check", 1500, &resp, NULL, st);
	if (rv == 0) {
		sf__store_etcd_saw(s, sf__store_etcd_rev(resp));
	}
	json_decref(req);
	json_decref(resp);
	return (rv);
}

const sf_store_ops sf_store_etcd_ops = {
    .so_size                       = sizeof(sf_store_ops),
    .so_name                       = "etcd",
    .so_open                       = etcd_open,
    .so_close                      = etcd_close,
    .so_stats                      = etcd_stats,
    .so_installation_id            = etcd_installation_id,
    .so_service_get                = sf__store_etcd_service_get,
    .so_service_list               = sf__store_etcd_service_list,
    .so_cluster_get                = sf__store_etcd_cluster_get,
    .so_cluster_list               = sf__store_etcd_cluster_list,
    .so_feed_read                  = sf__store_etcd_feed_read,
    .so_set_commit_hook            = sf__store_etcd_set_commit_hook,
    .so_submit                     = sf__store_etcd_submit,
    .so_record_get                 = sf__store_etcd_record_get,
    .so_record_list                = sf__store_etcd_record_list,
    .so_txn_record_get             = sf__store_etcd_txn_record_get,
    .so_txn_record_put             = sf__store_etcd_txn_record_put,
    .so_txn_record_delete          = sf__store_etcd_txn_record_delete,
    .so_txn_audit_append           = sf__store_etcd_txn_audit_append,
    .so_audit_list                 = sf__store_etcd_audit_list,
    .so_txn_revision               = sf__store_etcd_txn_revision,
    .so_txn_now_ms                 = sf__store_etcd_txn_now_ms,
    .so_txn_service_get            = sf__store_etcd_txn_service_get,
    .so_txn_service_put            = sf__store_etcd_txn_service_put,
    .so_txn_service_delete         = sf__store_etcd_txn_service_delete,
    .so_txn_nodeport_owner         = sf__store_etcd_txn_nodeport_owner,
    .so_txn_cluster_count_services = sf__store_etcd_txn_cluster_count_services,
    .so_txn_cluster_get            = sf__store_etcd_txn_cluster_get,
    .so_txn_cluster_spec_get       = sf__store_etcd_txn_cluster_spec_get,
    .so_txn_cluster_put            = sf__store_etcd_txn_cluster_put,
    .so_txn_cluster_delete         = sf__store_etcd_txn_cluster_delete,
    .so_txn_wrote                  = sf__store_etcd_txn_wrote,
    .so_lease_grant                = sf__store_etcd_lease_grant,
    .so_lease_renew                = sf__store_etcd_lease_renew,
    .so_lease_revoke               = sf__store_etcd_lease_revoke,
    .so_member_put                 = sf__store_etcd_member_put,
    .so_member_list                = sf__store_etcd_member_list,
    .so_claim_acquire              = sf__store_etcd_claim_acquire,
    .so_claim_release              = sf__store_etcd_claim_release,
    .so_claim_list                 = sf__store_etcd_claim_list,
    .so_health                     = sf__store_etcd_health,
    .so_record_generation          = sf__store_etcd_record_generation,
    .so_service_get_min   = sf__store_etcd_service_get_min, // i15-perf
    .so_revision_seen     = sf__store_etcd_revision_seen,
    .so_service_get_at    = sf__store_etcd_service_get_at, // i15-create
    .so_cluster_specs_min = sf__store_etcd_cluster_specs_min,
    .so_revision_reached  = sf__store_etcd_revision_reached,
    .so_cluster_spec_get  = sf__store_etcd_cluster_spec_get,
    .so_txn_ops_left      = sf__store_etxn_ops_left, // i18-plan
    .so_txn_part          = sf__store_etxn_part,     // i18-wide
    .so_txn_split_guard   = sf__store_etxn_split_guard,
};
