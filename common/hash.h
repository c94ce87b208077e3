// hash.h: 64-bit FNV-1a, the change-detection hash of the reconciler and
// the Kubernetes client. It is not a defence against an adversary (nothing
// here is): it only has to tell a changed desired state, cluster object or
// status from an unchanged one.
#ifndef SF_HASH_H
#define SF_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SF_HASH_INIT UINT64_C(0xcbf29ce484222325)

static inline uint64_t
sf_hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= UINT64_C(0x100000001b3);
	}
	return (h);
}

// sf_hash_str hashes s and its terminating NUL, so ("ab","c") and
// ("a","bc") differ when hashed one after the other.
static inline uint64_t
sf_hash_str(uint64_t h, const char *s)
{
	const unsigned char *b = (const unsigned char *) (s != NULL ? s : "");
	do {
		h ^= *b;
		h *= UINT64_C(0x100000001b3);
	} while (*b++ != '\0');
	return (h);
}

static inline uint64_t
sf_hash_u64(uint64_t h, uint64_t v)
{
	return (sf_hash_bytes(h, &v, sizeof(v)));
}

#endif // SF_HASH_H
