// dedupe.c: remembered replies of writes, by request id.
//
// nng's REQ resends a request whose reply is late, and clients retry after
// a timeout; a write must still happen once. Each write's reply is kept for
// ttl (bounded in number and in bytes, oldest dropped first) and a
// repeated request id
// gets the same reply bytes. The table is a chained hash with a FIFO list
// for expiry, under one mutex (entries are touched twice per write).
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"

typedef struct dd_entry dd_entry;
struct dd_entry {
	dd_entry *e_hnext;           // hash chain
	dd_entry *e_older, *e_newer; // FIFO
	int64_t   e_expire_ms;
	bool      e_done;
	void     *e_reply;
	size_t    e_len;
	char      e_key[]; // the whole key: it is hashed and compared whole
};

struct sf__srv_dedupe {
	pthread_mutex_t d_mtx;
	dd_entry      **d_buckets;
	size_t          d_nbuckets;
	dd_entry       *d_oldest, *d_newest;
	size_t          d_count, d_max;
	size_t          d_bytes, d_max_bytes; // replies kept
	int64_t         d_ttl_ms;
};

static uint64_t
hash_key(const char *s)
{
	// FNV-1a: request ids are short and random already.
	uint64_t h = 1469598103934665603ULL;
	for (; *s != '\0'; s++) {
		h ^= (unsigned char) *s;
		h *= 1099511628211ULL;
	}
	return (h);
}

struct sf__srv_dedupe *
sf__srv_dedupe_alloc(size_t max_entries, size_t max_bytes, int64_t ttl_ms)
{
	struct sf__srv_dedupe *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		return (NULL);
	}
	d->d_nbuckets = 1;
	while (d->d_nbuckets < max_entries) {
		d->d_nbuckets <<= 1;
	}
	d->d_buckets = calloc(d->d_nbuckets, sizeof(dd_entry *));
	if (d->d_buckets == NULL) {
		free(d);
		return (NULL);
	}
	d->d_max       = max_entries;
	d->d_max_bytes = max_bytes;
	d->d_ttl_ms    = ttl_ms;
	pthread_mutex_init(&d->d_mtx, NULL);
	return (d);
}

static void
unlink_entry(struct sf__srv_dedupe *d, dd_entry *e)
{
	dd_entry **pp
	    = &d->d_buckets[hash_key(e->e_key) & (d->d_nbuckets - 1)];
	while (*pp != e) {
		pp = &(*pp)->e_hnext;
	}
	*pp = e->e_hnext;
	if (e->e_older != NULL) {
		e->e_older->e_newer = e->e_newer;
	} else {
		d->d_oldest = e->e_newer;
	}
	if (e->e_newer != NULL) {
		e->e_newer->e_older = e->e_older;
	} else {
		d->d_newest = e->e_older;
	}
	d->d_count--;
	d->d_bytes -= e->e_len;
	free(e->e_reply);
	free(e);
}

void
sf__srv_dedupe_free(struct sf__srv_dedupe *d)
{
	if (d == NULL) {
		return;
	}
	while (d->d_oldest != NULL) {
		unlink_entry(d, d->d_oldest);
	}
	free(d->d_buckets);
	pthread_mutex_destroy(&d->d_mtx);
	free(d);
}

static dd_entry *
find(struct sf__srv_dedupe *d, const char *key)
{
	dd_entry *e = d->d_buckets[hash_key(key) & (d->d_nbuckets - 1)];
	while (e != NULL && strcmp(e->e_key, key) != 0) {
		e = e->e_hnext;
	}
	return (e);
}

static void
expire(struct sf__srv_dedupe *d, int64_t now)
{
	// Only finished entries expire; an in-flight one is removed by
	// sf__srv_dedupe_end, so FIFO order may hold one back briefly.
	while (d->d_oldest != NULL && d->d_oldest->e_done
	    && (d->d_oldest->e_expire_ms <= now || d->d_count > d->d_max
	        || d->d_bytes > d->d_max_bytes)) {
		unlink_entry(d, d->d_oldest);
	}
}

enum sf__srv_dedupe_seen
sf__srv_dedupe_begin(
    struct sf__srv_dedupe *d, const char *key, void **reply, size_t *len)
{
	int64_t                  now = sf_clock_mono_ms();
	dd_entry                *e;
	enum sf__srv_dedupe_seen rv;

	pthread_mutex_lock(&d->d_mtx);
	expire(d, now);
	if ((e = find(d, key)) != NULL) {
		if (!e->e_done) {
			rv = SF__SRV_DEDUPE_BUSY;
		} else if ((*reply = malloc(e->e_len ? e->e_len : 1))
		    != NULL) {
			memcpy(*reply, e->e_reply, e->e_len);
			*len = e->e_len;
			rv   = SF__SRV_DEDUPE_ANSWERED;
		} else {
			rv = SF__SRV_DEDUPE_BUSY;
		}
		pthread_mutex_unlock(&d->d_mtx);
		return (rv);
	}
	if ((e = calloc(1, sizeof(*e) + strlen(key) + 1)) != NULL) {
		size_t h = hash_key(key) & (d->d_nbuckets - 1);
		memcpy(e->e_key, key, strlen(key) + 1);
		e->e_hnext      = d->d_buckets[h];
		d->d_buckets[h] = e;
		e->e_older      = d->d_newest;
		if (d->d_newest != NULL) {
			d->d_newest->e_newer = e;
		} else {
			d->d_oldest = e;
		}
		d->d_newest = e;
		d->d_count++;
	}
	// Out of memory: the write goes ahead without protection.
	pthread_mutex_unlock(&d->d_mtx);
	return (SF__SRV_DEDUPE_NEW);
}

void
sf__srv_dedupe_end(
    struct sf__srv_dedupe *d, const char *key, const void *reply, size_t len)
{
	dd_entry *e;

	pthread_mutex_lock(&d->d_mtx);
	if ((e = find(d, key)) != NULL && !e->e_done && reply == NULL) {
		unlink_entry(d, e); // forgotten: a retry runs again
	} else if (e != NULL && !e->e_done) {
		e->e_reply = malloc(len ? len : 1);
		if (e->e_reply == NULL) {
			unlink_entry(d, e);
		} else {
			memcpy(e->e_reply, reply, len);
			e->e_len = len;
			d->d_bytes += len;
			e->e_done      = true;
			e->e_expire_ms = sf_clock_mono_ms() + d->d_ttl_ms;
		}
	}
	pthread_mutex_unlock(&d->d_mtx);
}
