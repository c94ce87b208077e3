// ipaddr.c: IP and CIDR parsing, and MetalLB pool membership.
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

#include "internal.h"

bool
sf__model_ip_parse_n(const char *s, size_t n, sf__model_ip *ip)
{
	char buf[INET6_ADDRSTRLEN + 1];

	if (n == 0 || n >= sizeof(buf)) {
		return (false);
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, buf, ip->ip_b) == 1) {
		ip->ip_family = 4;
		return (true);
	}
	if (inet_pton(AF_INET6, buf, ip->ip_b) == 1) {
		ip->ip_family = 6;
		return (true);
	}
	return (false);
}

bool
sf__model_ip_parse(const char *s, sf__model_ip *ip)
{
	s = sf_nz(s);
	return (sf__model_ip_parse_n(s, strlen(s), ip));
}

bool
sf__model_cidr_parse(const char *s, sf__model_ip *ip, int *bits)
{
	const char *slash;
	int         v = 0;
	size_t      nd;

	s     = sf_nz(s);
	slash = strchr(s, '/');
	if (slash == NULL
	    || !sf__model_ip_parse_n(s, (size_t) (slash - s), ip)) {
		return (false);
	}
	nd = strlen(slash + 1);
	if (nd == 0 || nd > 3) {
		return (false);
	}
	for (size_t i = 0; i < nd; i++) {
		if (!isdigit((unsigned char) slash[1 + i])) {
			return (false);
		}
		v = v * 10 + (slash[1 + i] - '0');
	}
	if (v > (ip->ip_family == 4 ? 32 : 128)) {
		return (false);
	}
	*bits = v;
	return (true);
}

static int
ip_cmp(const sf__model_ip *a, const sf__model_ip *b)
{
	return (memcmp(a->ip_b, b->ip_b, a->ip_family == 4 ? 4 : 16));
}

static bool
prefix_match(const sf__model_ip *net, int bits, const sf__model_ip *ip)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(net->ip_b, ip->ip_b, (size_t) full) != 0) {
		return (false);
	}
	if (rest == 0) {
		return (true);
	}
	uint8_t mask = (uint8_t) (0xff << (8 - rest));
	return ((net->ip_b[full] & mask) == (ip->ip_b[full] & mask));
}

static const char *
trim(const char *s, size_t *n)
{
	while (*n > 0 && isspace((unsigned char) s[0])) {
		s++;
		(*n)--;
	}
	while (*n > 0 && isspace((unsigned char) s[*n - 1])) {
		(*n)--;
	}
	return (s);
}

int
sf__model_pool_entry_contains(const char *entry, const sf__model_ip *ip)
{
	const char  *dash, *s = sf_nz(entry);
	size_t       n = strlen(s);
	sf__model_ip lo, hi;
	int          bits;

	s = trim(s, &n);
	if (memchr(s, '/', n) != NULL) {
		char buf[64];
		if (n >= sizeof(buf)) {
			return (-1);
		}
		memcpy(buf, s, n);
		buf[n] = '\0';
		if (!sf__model_cidr_parse(buf, &lo, &bits)) {
			return (-1);
		}
		return (lo.ip_family == ip->ip_family
		    && prefix_match(&lo, bits, ip));
	}
	dash = memchr(s, '-', n);
	if (dash != NULL) {
		size_t      n1 = (size_t) (dash - s), n2 = n - n1 - 1;
		const char *a = trim(s, &n1), *b = trim(dash + 1, &n2);
		if (!sf__model_ip_parse_n(a, n1, &lo)
		    || !sf__model_ip_parse_n(b, n2, &hi)
		    || lo.ip_family != hi.ip_family) {
			return (-1);
		}
		return (lo.ip_family == ip->ip_family && ip_cmp(&lo, ip) <= 0
		    && ip_cmp(ip, &hi) <= 0);
	}
	if (!sf__model_ip_parse_n(s, n, &lo)) {
		return (-1);
	}
	return (lo.ip_family == ip->ip_family && ip_cmp(&lo, ip) == 0);
}
