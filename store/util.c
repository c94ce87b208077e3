// util.c: small helpers the backends share (allocation through an
// optional protobuf-c allocator, uuids, pointer vectors, feed filters).
#include "store_internal.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

void *
sf__store_alloc(ProtobufCAllocator *a, size_t n)
{
	if (a == NULL) {
		return (malloc(n > 0 ? n : 1));
	}
	return (a->alloc(a->allocator_data, n > 0 ? n : 1));
}

void
sf__store_free(ProtobufCAllocator *a, void *p)
{
	if (p == NULL) {
		return;
	}
	if (a == NULL) {
		free(p);
	} else {
		a->free(a->allocator_data, p);
	}
}

char *
sf__store_strdup(ProtobufCAllocator *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char  *p = sf__store_alloc(a, n);
	if (p != NULL) {
		memcpy(p, s, n);
	}
	return (p);
}

int
sf__store_uuid(char out[37])
{
	// Random bytes are taken from OpenSSL 1 KiB at a time: a call of
	// RAND_bytes costs more than the 16 bytes it gives (8 % of a
	// Service create's instructions when it was called per uid). Uids
	// are unique, not secret.
	static _Thread_local unsigned char pool[1024];
	static _Thread_local size_t        left;
	static const char                  hex[] = "0123456789abcdef";
	unsigned char                      b[16];
	char                              *p = out;

	if (left < sizeof(b)) {
		if (RAND_bytes(pool, sizeof(pool)) != 1) {
			return (SF_INTERNAL);
		}
		left = sizeof(pool);
	}
	memcpy(b, pool + sizeof(pool) - left, sizeof(b));
	OPENSSL_cleanse(pool + sizeof(pool) - left, sizeof(b));
	left -= sizeof(b);
	b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40); // version 4
	b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80); // RFC 4122 variant
	for (size_t i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10) {
			*p++ = '-';
		}
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 0x0f];
	}
	*p = '\0';
	return (0);
}

int
sf__store_ptrvec_push(sf__store_ptrvec *pv, void *p)
{
	if (pv->pv_n == pv->pv_cap) {
		size_t cap = pv->pv_cap ? pv->pv_cap * 2 : 16;
		void **np  = realloc(pv->pv_p, cap * sizeof(*np));
		if (np == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		pv->pv_p   = np;
		pv->pv_cap = cap;
	}
	pv->pv_p[pv->pv_n++] = p;
	return (0);
}

void **
sf__store_ptrvec_take(sf__store_ptrvec *pv, ProtobufCAllocator *alloc)
{
	void **out = sf__store_alloc(alloc, pv->pv_n * sizeof(*out));
	if (out != NULL && pv->pv_n > 0) {
		memcpy(out, pv->pv_p, pv->pv_n * sizeof(*out));
	}
	free(pv->pv_p);
	pv->pv_p   = NULL;
	pv->pv_n   = 0;
	pv->pv_cap = 0;
	return (out);
}

void
sf__store_ptrvec_abort(sf__store_ptrvec *pv, ProtobufCAllocator *alloc)
{
	for (size_t i = 0; i < pv->pv_n; i++) {
		protobuf_c_message_free_unpacked(pv->pv_p[i], alloc);
	}
	free(pv->pv_p);
	pv->pv_p   = NULL;
	pv->pv_n   = 0;
	pv->pv_cap = 0;
}

bool
sf__store_keep_event(
    const sf_store_filter *f, const Svcfleet__V1__WatchEvent *ev)
{
	const Svcfleet__V1__Service *svc = ev->service;

	if (f == NULL) {
		return (true);
	}
	if (f->f_key != NULL) {
		if (svc == NULL || svc->metadata == NULL
		    || !f->f_key(f->f_arg, svc->metadata->cluster,
		        svc->metadata->namespace_)) {
			return (false);
		}
	}
	return (f->f_obj == NULL || (svc != NULL && f->f_obj(f->f_arg, svc)));
}
