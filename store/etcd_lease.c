// etcd_lease.c: reconciler leases and claims on etcd (issue 16).
//
// A member is the key P~rec/<id> and a claim the key P~claim/<cluster>,
// each attached to an etcd lease, so etcd itself deletes them when the
// lease runs out: every svcfleetd replica sees the same members and
// claims, and none has to sweep. A claim's value is "<lease hex> <owner>";
// its fencing token is the key's create_revision, which etcd makes larger
// for every new claim. They live under P~ so the store's watch of [P, P~)
// (the feed) never sees them. etcd counts lease TTLs in whole seconds.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "etcd_internal.h"

#define SEC_REC   "~rec/"
#define SEC_CLAIM "~claim/"

// A failed lease call that says the lease is unknown is NOT_FOUND (etcd's
// code 5 is not one the client translates for the other sections).
static int
lease_err(int rv, uint64_t lease, sf_status *st)
{
	if (rv != 0 && strstr(st->st_msg, "lease not found") != NULL) {
		sf_status_reset(st);
		return (sf_status_set(st, SF_NOT_FOUND,
		    "lease %" PRIx64 " has run out or was revoked", lease));
	}
	return (rv);
}

static int
call(sf_store *s, const char *path, json_t *req, const char *what,
    json_t **resp, sf_status *st)
{
	int rv;
	*resp = NULL;
	if (req == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	rv = sf__store_etcd_call(s->s_etcd, path, req, what, resp, NULL, st);
	json_decref(req);
	return (rv);
}

int
sf__store_etcd_lease_grant(
    sf_store *s, int64_t ttl_ms, uint64_t *lease, sf_status *st)
{
	json_t *resp;
	int     rv = call(s, "lease/grant",
	        json_pack(
	            "{s:o}", "TTL", sf__store_etcd_str64((ttl_ms + 999) / 1000)),
	        "a lease", &resp, st);
	if (rv == 0) {
		*lease = (uint64_t) sf__store_etcd_i64(resp, "ID");
		if (*lease == 0) {
			rv = sf_status_set(st, SF_INTERNAL,
			    "etcd granted a lease without id");
		}
	}
	json_decref(resp);
	return (rv);
}

int
sf__store_etcd_lease_renew(sf_store *s, uint64_t lease, sf_status *st)
{
	json_t *resp;
	int     rv = call(s, "lease/keepalive",
	        json_pack("{s:o}", "ID", sf__store_etcd_str64((int64_t) lease)),
	        "a lease", &resp, st);
	// An unknown lease is answered with TTL 0 (left out), not an error.
	if (rv == 0
	    && sf__store_etcd_i64(json_object_get(resp, "result"), "TTL")
	        <= 0) {
		rv = sf_status_set(st, SF_NOT_FOUND,
		    "lease %" PRIx64 " has run out or was revoked", lease);
	}
	json_decref(resp);
	return (lease_err(rv, lease, st));
}

int
sf__store_etcd_lease_revoke(sf_store *s, uint64_t lease, sf_status *st)
{
	json_t *resp;
	int     rv = call(s, "lease/revoke",
	        json_pack("{s:o}", "ID", sf__store_etcd_str64((int64_t) lease)),
	        "a lease", &resp, st);
	json_decref(resp);
	return (lease_err(rv, lease, st));
}

static json_t *
put_leased(const sf__store_ekey *k, const void *v, size_t n, uint64_t lease)
{
	return (json_pack("{s:o,s:o,s:o}", "key",
	    sf__store_etcd_b64(k->k_b, k->k_n), "value",
	    sf__store_etcd_b64(v, n), "lease",
	    sf__store_etcd_str64((int64_t) lease)));
}

int
sf__store_etcd_member_put(sf_store *s, const char *id, uint64_t lease,
    const uint8_t *v, size_t n, sf_status *st)
{
	sf__store_ekey k;
	json_t        *resp;
	int            rv;

	if (sf__store_ekey_make(s, SEC_REC, id, strlen(id), &k) != 0) {
		return (
		    sf_status_set(st, SF_INVALID_ARGUMENT, "id: too long"));
	}
	rv = call(s, "kv/put", put_leased(&k, v, n, lease), "a reconciler",
	    &resp, st);
	json_decref(resp);
	return (lease_err(rv, lease, st));
}

// range_section reads every key of a section; *kvs borrows from *resp.
static int
range_section(
    sf_store *s, const char *sec, json_t **resp, json_t **kvs, sf_status *st)
{
	sf__store_ekey k, end;
	int            rv;

	sf__store_ekey_make(s, sec, NULL, 0, &k);
	sf__store_ekey_end(&k, &end);
	rv = sf__store_etcd_range(
	    s, &k, &end, 0, 0, 0, "the claims", resp, st);
	*kvs = rv == 0 ? json_object_get(*resp, "kvs") : NULL;
	return (rv);
}

// inner_str returns the key of kv past P sec as a string (malloc).
static char *
inner_str(sf_store *s, const json_t *kv, const char *sec)
{
	uint8_t       *buf;
	const uint8_t *in;
	size_t         n;
	char          *r;

	if (sf__store_etcd_kv_key(s, kv, sec, &buf, &in, &n) != 0) {
		return (NULL);
	}
	if ((r = malloc(n + 1)) != NULL) {
		memcpy(r, in, n);
		r[n] = '\0';
	}
	free(buf);
	return (r);
}

int
sf__store_etcd_member_list(
    sf_store *s, sf_store_member **out, size_t *n, sf_status *st)
{
	json_t          *resp = NULL, *kvs;
	sf_store_member *v;
	size_t           cnt;
	int              rv;

	if ((rv = range_section(s, SEC_REC, &resp, &kvs, st)) != 0) {
		json_decref(resp);
		return (rv);
	}
	cnt = json_array_size(kvs);
	if ((v = calloc(cnt + 1, sizeof(*v))) == NULL) {
		json_decref(resp);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	for (size_t i = 0; i < cnt; i++) {
		json_t *kv = json_array_get(kvs, i), *ttl = NULL;
		v[i].sm_id    = inner_str(s, kv, SEC_REC);
		v[i].sm_lease = (uint64_t) sf__store_etcd_i64(kv, "lease");
		if (v[i].sm_id == NULL
		    || sf__store_etcd_kv_value(kv, &v[i].sm_val, &v[i].sm_len)
		        != 0) {
			sf_store_members_free(v, i + 1);
			json_decref(resp);
			return (sf_status_set(st, SF_DATA_LOSS,
			    "a reconciler record cannot be decoded"));
		}
		// How long the lease has left: one call per member, and
		// members are few. Without an answer the expiry stays 0.
		sf_status tst;
		sf_status_init(&tst);
		if (call(s, "lease/timetolive",
		        json_pack("{s:o}", "ID",
		            sf__store_etcd_str64((int64_t) v[i].sm_lease)),
		        "a lease", &ttl, &tst)
		    == 0) {
			int64_t left = sf__store_etcd_i64(ttl, "TTL");
			if (left > 0) {
				v[i].sm_expires_ms
				    = sf_clock_now_ms() + left * 1000;
			}
		}
		sf_status_fini(&tst);
		json_decref(ttl);
	}
	json_decref(resp);
	*out = v;
	*n   = cnt;
	return (0);
}

int
sf__store_etcd_claim_acquire(sf_store *s, const char *cluster,
    const char *owner, uint64_t lease, uint64_t *token, sf_status *st)
{
	sf__store_ekey k;
	char           val[256];
	json_t        *resp, *kv;
	int            rv;

	if (sf__store_ekey_make(s, SEC_CLAIM, cluster, strlen(cluster), &k)
	    != 0) {
		return (sf_status_set(
		    st, SF_INVALID_ARGUMENT, "cluster: too long"));
	}
	snprintf(val, sizeof(val), "%" PRIx64 " %s", lease, owner);
	rv = call(s, "kv/txn",
	    json_pack("{s:[o],s:[{s:o}],s:[o]}", "compare",
	        sf__store_etcd_cmp_absent(&k), "success", "request_put",
	        put_leased(&k, val, strlen(val), lease), "failure",
	        sf__store_etcd_op_range(&k)),
	    "a claim", &resp, st);
	if (rv != 0) {
		return (lease_err(rv, lease, st));
	}
	if (json_is_true(json_object_get(resp, "succeeded"))) {
		// The new key's create_revision is the txn's revision.
		*token = sf__store_etcd_rev(resp);
		json_decref(resp);
		return (0);
	}
	kv = sf__store_etcd_txn_kv(resp, 0);
	// A send whose answer was lost may have made this very claim: it is
	// ours when it is attached to our lease.
	if (kv != NULL
	    && (uint64_t) sf__store_etcd_i64(kv, "lease") == lease) {
		*token = (uint64_t) sf__store_etcd_i64(kv, "create_revision");
		json_decref(resp);
		return (0);
	}
	json_decref(resp);
	return (sf_status_set(
	    st, SF_ALREADY_EXISTS, "cluster \"%s\" is claimed", cluster));
}

int
sf__store_etcd_claim_release(
    sf_store *s, const char *cluster, uint64_t token, sf_status *st)
{
	sf__store_ekey k;
	json_t        *resp;
	int            rv;

	if (sf__store_ekey_make(s, SEC_CLAIM, cluster, strlen(cluster), &k)
	    != 0) {
		return (sf_status_set(
		    st, SF_INVALID_ARGUMENT, "cluster: too long"));
	}
	rv = call(s, "kv/txn",
	    json_pack("{s:[{s:s,s:s,s:o,s:o}],s:[o]}", "compare", "target",
	        "CREATE", "result", "EQUAL", "key",
	        sf__store_etcd_b64(k.k_b, k.k_n), "create_revision",
	        sf__store_etcd_str64((int64_t) token), "success",
	        sf__store_etcd_op_del(&k, NULL)),
	    "a claim", &resp, st);
	if (rv == 0 && !json_is_true(json_object_get(resp, "succeeded"))) {
		rv = sf_status_set(st, SF_NOT_FOUND,
		    "cluster \"%s\" has no claim with token %" PRIu64, cluster,
		    token);
	}
	json_decref(resp);
	return (rv);
}

int
sf__store_etcd_claim_list(
    sf_store *s, sf_store_claim **out, size_t *n, sf_status *st)
{
	json_t         *resp = NULL, *kvs;
	sf_store_claim *v;
	size_t          cnt;
	int             rv;

	if ((rv = range_section(s, SEC_CLAIM, &resp, &kvs, st)) != 0) {
		json_decref(resp);
		return (rv);
	}
	cnt = json_array_size(kvs);
	if ((v = calloc(cnt + 1, sizeof(*v))) == NULL) {
		json_decref(resp);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	for (size_t i = 0; i < cnt; i++) {
		json_t  *kv  = json_array_get(kvs, i);
		uint8_t *val = NULL;
		size_t   vn;
		char    *sp;
		v[i].sc_cluster = inner_str(s, kv, SEC_CLAIM);
		v[i].sc_lease   = (uint64_t) sf__store_etcd_i64(kv, "lease");
		v[i].sc_token
		    = (uint64_t) sf__store_etcd_i64(kv, "create_revision");
		if (v[i].sc_cluster == NULL
		    || sf__store_etcd_kv_value(kv, &val, &vn) != 0
		    || (sp = strchr((char *) val, ' ')) == NULL
		    || (v[i].sc_owner = strdup(sp + 1)) == NULL) {
			free(val);
			sf_store_claims_free(v, i + 1);
			json_decref(resp);
			return (sf_status_set(st, SF_DATA_LOSS,
			    "a cluster claim cannot be decoded"));
		}
		free(val);
	}
	json_decref(resp);
	*out = v;
	*n   = cnt;
	return (0);
}
