// lease_mem.c: reconciler leases and claims held in memory (issue 16).
//
// The LMDB backend's sf_store_lease_* and sf_store_claim_*: svcfleetd on
// LMDB is the only process that serves reconcilers, so their membership
// need not survive it (after a restart they register again). A few
// reconcilers and a few thousand clusters at most: plain arrays under one
// mutex, every call sweeping the leases whose time has run out first.
// Fencing tokens come from one counter started at the wall clock in
// microseconds, so they keep growing across restarts (unless the clock
// goes back by more than the restart took).
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store_internal.h"

typedef struct lm_lease {
	uint64_t l_id;
	int64_t  l_ttl_ms;
	int64_t  l_until; // mono ms
} lm_lease;

typedef struct lm_member {
	char    *m_id;
	uint64_t m_lease;
	uint8_t *m_val;
	size_t   m_len;
} lm_member;

typedef struct lm_claim {
	char    *c_cluster;
	char    *c_owner;
	uint64_t c_lease;
	uint64_t c_token;
} lm_claim;

struct sf__store_lease_mem {
	pthread_mutex_t m_mtx;
	uint64_t        m_next_lease;
	uint64_t        m_next_token;
	lm_lease       *m_leases;
	size_t          m_nleases, m_capleases;
	lm_member      *m_members;
	size_t          m_nmembers, m_capmembers;
	lm_claim       *m_claims;
	size_t          m_nclaims, m_capclaims;
};

int
sf__store_lease_mem_new(sf__store_lease_mem **out)
{
	sf__store_lease_mem *m = calloc(1, sizeof(*m));
	if (m == NULL || pthread_mutex_init(&m->m_mtx, NULL) != 0) {
		free(m);
		*out = NULL;
		return (SF_RESOURCE_EXHAUSTED);
	}
	m->m_next_lease = 1;
	m->m_next_token = (uint64_t) sf_clock_now_ms() * 1000;
	*out            = m;
	return (0);
}

void
sf__store_lease_mem_free(sf__store_lease_mem *m)
{
	if (m == NULL) {
		return;
	}
	for (size_t i = 0; i < m->m_nmembers; i++) {
		free(m->m_members[i].m_id);
		free(m->m_members[i].m_val);
	}
	for (size_t i = 0; i < m->m_nclaims; i++) {
		free(m->m_claims[i].c_cluster);
		free(m->m_claims[i].c_owner);
	}
	free(m->m_members);
	free(m->m_claims);
	free(m->m_leases);
	pthread_mutex_destroy(&m->m_mtx);
	free(m);
}

// grow makes room for one more element of size sz in *v (n used, *cap).
static int
grow(void **v, size_t n, size_t *cap, size_t sz)
{
	if (n < *cap) {
		return (0);
	}
	size_t nc = *cap == 0 ? 8 : *cap * 2;
	void  *p  = realloc(*v, nc * sz);
	if (p == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	*v   = p;
	*cap = nc;
	return (0);
}

// drop_attached removes the member and claims of lease (under m_mtx).
static void
drop_attached(sf__store_lease_mem *m, uint64_t lease)
{
	size_t k = 0;
	for (size_t i = 0; i < m->m_nmembers; i++) {
		if (m->m_members[i].m_lease == lease) {
			free(m->m_members[i].m_id);
			free(m->m_members[i].m_val);
			continue;
		}
		m->m_members[k++] = m->m_members[i];
	}
	m->m_nmembers = k;
	k             = 0;
	for (size_t i = 0; i < m->m_nclaims; i++) {
		if (m->m_claims[i].c_lease == lease) {
			free(m->m_claims[i].c_cluster);
			free(m->m_claims[i].c_owner);
			continue;
		}
		m->m_claims[k++] = m->m_claims[i];
	}
	m->m_nclaims = k;
}

static void
sweep(sf__store_lease_mem *m)
{
	int64_t now = sf_clock_mono_ms();
	size_t  k   = 0;
	for (size_t i = 0; i < m->m_nleases; i++) {
		if (m->m_leases[i].l_until <= now) {
			drop_attached(m, m->m_leases[i].l_id);
			continue;
		}
		m->m_leases[k++] = m->m_leases[i];
	}
	m->m_nleases = k;
}

static lm_lease *
find_lease(sf__store_lease_mem *m, uint64_t lease)
{
	for (size_t i = 0; i < m->m_nleases; i++) {
		if (m->m_leases[i].l_id == lease) {
			return (&m->m_leases[i]);
		}
	}
	return (NULL);
}

static int
lease_gone(sf_status *st, uint64_t lease)
{
	return (sf_status_set(st, SF_NOT_FOUND,
	    "lease %llx has run out or was revoked",
	    (unsigned long long) lease));
}

int
sf__store_lease_mem_grant(
    sf__store_lease_mem *m, int64_t ttl_ms, uint64_t *lease, sf_status *st)
{
	pthread_mutex_lock(&m->m_mtx);
	sweep(m);
	if (grow((void **) &m->m_leases, m->m_nleases, &m->m_capleases,
	        sizeof(lm_lease))
	    != 0) {
		pthread_mutex_unlock(&m->m_mtx);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	lm_lease *l = &m->m_leases[m->m_nleases++];
	l->l_id     = m->m_next_lease++;
	l->l_ttl_ms = ttl_ms;
	l->l_until  = sf_clock_mono_ms() + ttl_ms;
	*lease      = l->l_id;
	pthread_mutex_unlock(&m->m_mtx);
	return (0);
}

int
sf__store_lease_mem_renew(
    sf__store_lease_mem *m, uint64_t lease, sf_status *st)
{
	lm_lease *l;
	pthread_mutex_lock(&m->m_mtx);
	sweep(m);
	if ((l = find_lease(m, lease)) != NULL) {
		l->l_until = sf_clock_mono_ms() + l->l_ttl_ms;
	}
	pthread_mutex_unlock(&m->m_mtx);
	return (l != NULL ? 0 : lease_gone(st, lease));
}

int
sf__store_lease_mem_revoke(
    sf__store_lease_mem *m, uint64_t lease, sf_status *st)
{
	lm_lease *l;
	pthread_mutex_lock(&m->m_mtx);
	sweep(m);
	if ((l = find_lease(m, lease)) != NULL) {
		l->l_until = 0; // the sweep drops it with what it holds
		sweep(m);
	}
	pthread_mutex_unlock(&m->m_mtx);
	return (l != NULL ? 0 : lease_gone(st, lease));
}

int
sf__store_lease_mem_member_put(sf__store_lease_mem *m, const char *id,
    uint64_t lease, const uint8_t *v, size_t n, sf_status *st)
{
	uint8_t *val = malloc(n > 0 ? n : 1);
	char    *ids = strdup(id);
	size_t   i;

	if (val == NULL || ids == NULL) {
		free(val);
		free(ids);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	if (n > 0) {
		memcpy(val, v, n);
	}
	pthread_mutex_lock(&m->m_mtx);
	sweep(m);
	if (find_lease(m, lease) == NULL) {
		pthread_mutex_unlock(&m->m_mtx);
		free(val);
		free(ids);
		return (lease_gone(st, lease));
	}
	for (i = 0; i < m->m_nmembers; i++) {
		if (strcmp(m->m_members[i].m_id, id) == 0) {
			break;
		}
	}
	if (i == m->m_nmembers) {
		if (grow((void **) &m->m_members, m->m_nmembers,
		        &m->m_capmembers, sizeof(lm_member))
		    != 0) {
			pthread_mutex_unlock(&m->m_mtx);
			free(val);
			free(ids);
			return (
			    sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
		}
		// Kept in id order, as etcd lists them.
		while (i > 0 && strcmp(m->m_members[i - 1].m_id, id) > 0) {
			m->m_members[i] = m->m_members[i - 1];
			i--;
		}
		m->m_nmembers++;
	} else {
		free(m->m_members[i].m_id);
		free(m->m_members[i].m_val);
	}
	m->m_members[i] = (lm_member) {ids, lease, val, n};
	pthread_mutex_unlock(&m->m_mtx);
	return (0);
}

int
sf__store_lease_mem_member_list(
    sf__store_lease_mem *m, sf_store_member **out, size_t *n, sf_status *st)
{
	sf_store_member *v;
	int64_t          now = sf_clock_mono_ms(), wall = sf_clock_now_ms();

	pthread_mutex_lock(&m->m_mtx);
	sweep(m);
	if ((v = calloc(m->m_nmembers + 1, sizeof(*v))) == NULL) {
		pthread_mutex_unlock(&m->m_mtx);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	for (size_t i = 0; i < m->m_nmembers; i++) {
		const lm_member *mm = &m->m_members[i];
		const lm_lease  *l  = find_lease(m, mm->m_lease);
		v[i].sm_id          = strdup(mm->m_id);
		v[i].sm_lease       = mm->m_lease;
		v[i].sm_expires_ms = l != NULL ? wall + (l->l_until - now) : 0;
		v[i].sm_val        = malloc(mm->m_len > 0 ? mm->m_len : 1);
		v[i].sm_len        = mm->m_len;
		if (v[i].sm_id == NULL || v[i].sm_val == NULL) {
			pthread_mutex_unlock(&m->m_mtx);
			sf_store_members_free(v, i + 1);
			return (
			    sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
		}
		if (mm->m_len > 0) {
			memcpy(v[i].sm_val, mm->m_val, mm->m_len);
		}
	}
	*n = m->m_nmembers;
	pthread_mutex_unlock(&m->m_mtx);
	*out = v;
	return (0);
}

static lm_claim *
find_claim(sf__store_lease_mem *m, const char *cluster, size_t *at)
{
	size_t i;
	for (i = 0; i < m->m_nclaims; i++) {
		int c = strcmp(m->m_claims[i].c_cluster, cluster);
		if (c == 0) {
			*at = i;
			return (&m->m_claims[i]);
		}
		if (c > 0) {
			break;
		}
	}
	*at = i;
	return (NULL);
}

int
sf__store_lease_mem_claim_acquire(sf__store_lease_mem *m, const char *cluster,
    const char *owner, uint64_t lease, uint64_t *token, sf_status *st)
{
	char  *cl = strdup(cluster), *ow = strdup(owner);
	size_t at = 0;

	if (cl == NULL || ow == NULL) {
		free(cl);
		free(ow);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	pthread_mutex_lock(&m->m_mtx);
	sweep(m);
	int rv = 0;
	if (find_lease(m, lease) == NULL) {
		rv = lease_gone(st, lease);
	} else if (find_claim(m, cluster, &at) != NULL) {
		rv = sf_status_set(st, SF_ALREADY_EXISTS,
		    "cluster \"%s\" is claimed by \"%s\"", cluster,
		    m->m_claims[at].c_owner);
	} else if (grow((void **) &m->m_claims, m->m_nclaims, &m->m_capclaims,
	               sizeof(lm_claim))
	    != 0) {
		rv = sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL);
	}
	if (rv != 0) {
		pthread_mutex_unlock(&m->m_mtx);
		free(cl);
		free(ow);
		return (rv);
	}
	memmove(&m->m_claims[at + 1], &m->m_claims[at],
	    (m->m_nclaims - at) * sizeof(lm_claim));
	m->m_nclaims++;
	*token          = ++m->m_next_token;
	m->m_claims[at] = (lm_claim) {cl, ow, lease, *token};
	pthread_mutex_unlock(&m->m_mtx);
	return (0);
}

int
sf__store_lease_mem_claim_release(
    sf__store_lease_mem *m, const char *cluster, uint64_t token, sf_status *st)
{
	lm_claim *c;
	size_t    at = 0;

	pthread_mutex_lock(&m->m_mtx);
	sweep(m);
	if ((c = find_claim(m, cluster, &at)) == NULL || c->c_token != token) {
		pthread_mutex_unlock(&m->m_mtx);
		return (sf_status_set(st, SF_NOT_FOUND,
		    "cluster \"%s\" has no claim with token %llu", cluster,
		    (unsigned long long) token));
	}
	free(c->c_cluster);
	free(c->c_owner);
	memmove(&m->m_claims[at], &m->m_claims[at + 1],
	    (m->m_nclaims - at - 1) * sizeof(lm_claim));
	m->m_nclaims--;
	pthread_mutex_unlock(&m->m_mtx);
	return (0);
}

int
sf__store_lease_mem_claim_list(
    sf__store_lease_mem *m, sf_store_claim **out, size_t *n, sf_status *st)
{
	sf_store_claim *v;

	pthread_mutex_lock(&m->m_mtx);
	sweep(m);
	if ((v = calloc(m->m_nclaims + 1, sizeof(*v))) == NULL) {
		pthread_mutex_unlock(&m->m_mtx);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	for (size_t i = 0; i < m->m_nclaims; i++) {
		v[i].sc_cluster = strdup(m->m_claims[i].c_cluster);
		v[i].sc_owner   = strdup(m->m_claims[i].c_owner);
		v[i].sc_lease   = m->m_claims[i].c_lease;
		v[i].sc_token   = m->m_claims[i].c_token;
		if (v[i].sc_cluster == NULL || v[i].sc_owner == NULL) {
			pthread_mutex_unlock(&m->m_mtx);
			sf_store_claims_free(v, i + 1);
			return (
			    sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
		}
	}
	*n = m->m_nclaims;
	pthread_mutex_unlock(&m->m_mtx);
	*out = v;
	return (0);
}
