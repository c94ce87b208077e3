// kf_alloc.c: bitmap allocators (cluster IPs, node ports, MetalLB pools)
// and IPv4/IPv6 address parsing.
//
// Like Kubernetes' allocators, a lower band of each range is kept for
// explicit requests: dynamic allocation starts at a random slot of the
// upper band and only falls back to the lower band when that is full.
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"

int
kf_bitmap_init(kf_bitmap *b, uint32_t size, uint32_t static_band)
{
	memset(b, 0, sizeof(*b));
	b->bm_bits = calloc((size + 63) / 64 + 1, sizeof(uint64_t));
	if (b->bm_bits == NULL) {
		return -1;
	}
	b->bm_size   = size;
	b->bm_static = static_band < size ? static_band : 0;
	return 0;
}

void
kf_bitmap_fini(kf_bitmap *b)
{
	free(b->bm_bits);
	memset(b, 0, sizeof(*b));
}

bool
kf_bitmap_test(const kf_bitmap *b, uint32_t i)
{
	return i < b->bm_size && (b->bm_bits[i / 64] >> (i % 64)) & 1;
}

void
kf_bitmap_set(kf_bitmap *b, uint32_t i)
{
	if (i < b->bm_size && !kf_bitmap_test(b, i)) {
		b->bm_bits[i / 64] |= 1ULL << (i % 64);
		b->bm_used++;
	}
}

void
kf_bitmap_clear(kf_bitmap *b, uint32_t i)
{
	if (kf_bitmap_test(b, i)) {
		b->bm_bits[i / 64] &= ~(1ULL << (i % 64));
		b->bm_used--;
	}
}

// scan finds a free slot in [lo, hi), starting at a random offset.
static long
scan(const kf_bitmap *b, uint32_t lo, uint32_t hi)
{
	if (hi <= lo) {
		return -1;
	}
	uint32_t n     = hi - lo;
	uint32_t start = lo + (uint32_t) (kf_rand_u64() % n);
	for (uint32_t k = 0; k < n;) {
		uint32_t i = lo + (start - lo + k) % n;
		// Skip whole full words quickly.
		if (i % 64 == 0 && k + 64 <= n && i + 64 <= hi
		    && b->bm_bits[i / 64] == ~0ULL) {
			k += 64;
			continue;
		}
		if (!kf_bitmap_test(b, i)) {
			return (long) i;
		}
		k++;
	}
	return -1;
}

long
kf_bitmap_alloc(kf_bitmap *b)
{
	if (b->bm_used >= b->bm_size) {
		return -1;
	}
	long i = scan(b, b->bm_static, b->bm_size);
	if (i < 0) {
		i = scan(b, 0, b->bm_static);
	}
	if (i >= 0) {
		kf_bitmap_set(b, (uint32_t) i);
	}
	return i;
}

int
kf_ip4_parse(const char *s, uint32_t *ip)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1) {
		return -1;
	}
	*ip = ntohl(a.s_addr);
	return 0;
}

void
kf_ip4_format(uint32_t ip, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255,
	    (ip >> 8) & 255, ip & 255);
}

int
kf_cidr_parse(const char *s, kf_cidr *c)
{
	char        buf[64];
	const char *slash = strchr(s, '/');
	if (slash == NULL || (size_t) (slash - s) >= sizeof(buf)) {
		return -1;
	}
	memcpy(buf, s, (size_t) (slash - s));
	buf[slash - s] = '\0';
	char *end;
	long  bits = strtol(slash + 1, &end, 10);
	if (*end != '\0' || bits < 8 || bits > 32) {
		return -1;
	}
	uint32_t ip;
	if (kf_ip4_parse(buf, &ip) != 0) {
		return -1;
	}
	uint32_t mask = bits == 32 ? ~0u : ~((1u << (32 - bits)) - 1);
	c->c_base     = ip & mask;
	c->c_size     = bits == 32 ? 1 : (1u << (32 - bits));
	c->c_bits     = (int) bits;
	char b[16];
	kf_ip4_format(c->c_base, b);
	snprintf(c->c_text, sizeof(c->c_text), "%s/%ld", b, bits);
	return 0;
}

bool
kf_ip_valid(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1
	    || inet_pton(AF_INET6, s, buf) == 1;
}

bool
kf_cidr_valid(const char *s)
{
	char        buf[64];
	const char *slash = strchr(s, '/');
	if (slash == NULL || (size_t) (slash - s) >= sizeof(buf)) {
		return false;
	}
	memcpy(buf, s, (size_t) (slash - s));
	buf[slash - s] = '\0';
	char *end;
	long  bits = strtol(slash + 1, &end, 10);
	if (*end != '\0' || slash[1] == '\0' || bits < 0) {
		return false;
	}
	unsigned char a[16];
	if (inet_pton(AF_INET, buf, a) == 1) {
		return bits <= 32;
	}
	return inet_pton(AF_INET6, buf, a) == 1 && bits <= 128;
}
