// base64.c: see base64.h.
#include "base64.h"

#include <stdint.h>

static const char std_alpha[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alpha[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
sf_base64_encoded_len(size_t n, int flags)
{
	if (flags & SF_B64_URL) {
		return (n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1));
	}
	return ((n + 2) / 3 * 4);
}

size_t
sf_base64_encode(char *out, const void *in, size_t n, int flags)
{
	const char *alpha      = (flags & SF_B64_URL) ? url_alpha : std_alpha;
	const unsigned char *p = in;
	size_t               o = 0, i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8
		    | p[i + 2];
		out[o++] = alpha[(v >> 18) & 63];
		out[o++] = alpha[(v >> 12) & 63];
		out[o++] = alpha[(v >> 6) & 63];
		out[o++] = alpha[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t) p[i] << 16;
		if (i + 1 < n) {
			v |= (uint32_t) p[i + 1] << 8;
		}
		out[o++] = alpha[(v >> 18) & 63];
		out[o++] = alpha[(v >> 12) & 63];
		if (i + 1 < n) {
			out[o++] = alpha[(v >> 6) & 63];
		} else if (!(flags & SF_B64_URL)) {
			out[o++] = '=';
		}
		if (!(flags & SF_B64_URL)) {
			out[o++] = '=';
		}
	}
	out[o] = '\0';
	return (o);
}

static int
value_of(char c, int flags)
{
	if (c >= 'A' && c <= 'Z') {
		return (c - 'A');
	}
	if (c >= 'a' && c <= 'z') {
		return (c - 'a' + 26);
	}
	if (c >= '0' && c <= '9') {
		return (c - '0' + 52);
	}
	if (flags & SF_B64_URL) {
		return (c == '-' ? 62 : c == '_' ? 63 : -1);
	}
	return (c == '+' ? 62 : c == '/' ? 63 : -1);
}

static int
is_space(char c)
{
	return (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
	    || c == '\v');
}

ssize_t
sf_base64_decode(
    void *out, size_t cap, const char *in, size_t inlen, int flags)
{
	unsigned char *o    = out;
	size_t         n    = 0; // bytes written
	uint32_t       acc  = 0;
	int            bits = 0, chars = 0, pad = 0;

	for (size_t i = 0; i < inlen; i++) {
		char c = in[i];
		int  v;
		if ((flags & SF_B64_SPACE) && is_space(c)) {
			continue;
		}
		if (c == '=' && !(flags & SF_B64_URL)) {
			pad++;
			continue;
		}
		if (pad > 0 || (v = value_of(c, flags)) < 0) {
			return (-1); // data after padding, or not base64
		}
		chars++;
		acc = acc << 6 | (uint32_t) v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap) {
				return (-1);
			}
			o[n++] = (unsigned char) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (chars % 4 == 1) {
		return (-1); // a lone character cannot carry a byte
	}
	if (!(flags & SF_B64_URL) && (chars + pad) % 4 != 0) {
		return (-1); // the standard alphabet comes padded
	}
	if (pad > 2 || (pad > 0 && chars % 4 == 0)) {
		return (-1);
	}
	return ((ssize_t) n);
}
