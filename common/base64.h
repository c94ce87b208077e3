// base64.h: base64 in its two alphabets — standard (RFC 4648 §4, padded:
// Kubernetes' "-data" fields, secret key files) and base64url without
// padding (§5: tokens, page tokens) — encoded and decoded in one place.
#ifndef SF_BASE64_H
#define SF_BASE64_H

#include <stddef.h>
#include <sys/types.h>

enum {
	SF_B64_URL = 1 << 0, // the URL-safe alphabet ('-', '_'), unpadded
	SF_B64_SPACE
	= 1 << 1, // decode: skip ASCII whitespace (PEM-like input)
};

// sf_base64_encoded_len is the length sf_base64_encode writes for n bytes,
// without the terminating NUL.
size_t sf_base64_encoded_len(size_t n, int flags);

// sf_base64_encode writes the encoding of in[0..n) and a NUL to out, which
// must hold sf_base64_encoded_len(n, flags) + 1 bytes; returns the length
// written (without the NUL).
size_t sf_base64_encode(char *out, const void *in, size_t n, int flags);

// sf_base64_decode decodes the first inlen characters of in into out (cap
// bytes). The standard alphabet requires correct padding (a final group
// of 2 or 3 characters without '=' is refused); SF_B64_URL refuses '='.
// Returns the number of bytes decoded, or -1 when in is not base64 of that
// kind or out is too small. At most inlen / 4 * 3 + 2 bytes are written.
ssize_t sf_base64_decode(
    void *out, size_t cap, const char *in, size_t inlen, int flags);

#endif // SF_BASE64_H
