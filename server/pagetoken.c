// pagetoken.c: ListServices page tokens, sealed (issue 17, finding 14).
//
// The store's page token holds the last key a page examined; when a page
// stops at the store's scan cap, that key may be a Service the caller may
// not read. So the server never hands the store's token out as it is: it
// seals it (AES-256-GCM, a fresh nonce each time) with a key derived from
// the secret key, which every replica of one installation shares, so a
// token still works after a restart or on another replica, tells nothing
// of what it holds, and cannot be forged or altered.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "base64.h"
#include "internal.h"

#define NONCE_LEN 12
#define TAG_LEN   16
#define PREFIX    "p1."

void
sf__srv_page_key_derive(sf_server *srv, const uint8_t *secret, size_t len)
{
	static const char label[] = "svcfleet page tokens v1";
	uint8_t           in[64 + sizeof(label)];
	unsigned          n = 0;

	if (len > 64) {
		len = 64;
	}
	memcpy(in, secret, len);
	memcpy(in + len, label, sizeof(label));
	EVP_Digest(
	    in, len + sizeof(label), srv->s_page_key, &n, EVP_sha256(), NULL);
	OPENSSL_cleanse(in, sizeof(in));
}

static int
gcm(bool enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *in,
    size_t n, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int             len, ok = 0;

	if (ctx == NULL || n > 4096) {
		EVP_CIPHER_CTX_free(ctx);
		return (-1);
	}
	if (EVP_CipherInit_ex(
	        ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0)
	        == 1
	    && EVP_CIPHER_CTX_ctrl(
	           ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL)
	        == 1
	    && EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc ? 1 : 0) == 1
	    && (n == 0 || EVP_CipherUpdate(ctx, out, &len, in, (int) n) == 1)
	    && (enc
	        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag)
	            == 1)
	    && EVP_CipherFinal_ex(ctx, out + n, &len) == 1
	    && (!enc
	        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag)
	            == 1)) {
		ok = 1;
	}
	EVP_CIPHER_CTX_free(ctx);
	return (ok ? 0 : -1);
}

char *
sf__srv_page_token_seal(sf__srv_call *c, const char *plain)
{
	size_t   n = strlen(plain);
	uint8_t *blob;
	char    *out;

	if (n == 0) {
		return ((char *) "");
	}
	if (n > 4096
	    || (blob
	           = sf_arena_alloc(&c->c_arena, NONCE_LEN + n + TAG_LEN + 16))
	        == NULL) {
		return (NULL);
	}
	size_t total = NONCE_LEN + n + TAG_LEN;
	if (RAND_bytes(blob, NONCE_LEN) != 1
	    || gcm(true, c->c_srv->s_page_key, blob, (const uint8_t *) plain,
	           n, blob + NONCE_LEN, blob + NONCE_LEN + n)
	        != 0) {
		return (NULL);
	}
	out = sf_arena_alloc(&c->c_arena,
	    strlen(PREFIX) + sf_base64_encoded_len(total, SF_B64_URL) + 1);
	if (out == NULL) {
		return (NULL);
	}
	memcpy(out, PREFIX, strlen(PREFIX));
	sf_base64_encode(out + strlen(PREFIX), blob, total, SF_B64_URL);
	return (out);
}

int
sf__srv_page_token_open(sf__srv_call *c, const char *token, char **plain)
{
	size_t   tl = strlen(token);
	uint8_t *blob;
	ssize_t  n;

	*plain = (char *) "";
	if (tl == 0) {
		return (0);
	}
	if (tl > 8192 || strncmp(token, PREFIX, strlen(PREFIX)) != 0
	    || (blob = sf_arena_alloc(&c->c_arena, tl)) == NULL
	    || (n = sf_base64_decode(blob, tl, token + strlen(PREFIX),
	            tl - strlen(PREFIX), SF_B64_URL))
	        < NONCE_LEN + TAG_LEN) {
		return (SF_INVALID_ARGUMENT);
	}
	size_t   m   = (size_t) n - NONCE_LEN - TAG_LEN;
	uint8_t *out = sf_arena_alloc(&c->c_arena, m + 17);
	if (out == NULL
	    || gcm(false, c->c_srv->s_page_key, blob, blob + NONCE_LEN, m, out,
	           blob + NONCE_LEN + m)
	        != 0) {
		return (SF_INVALID_ARGUMENT);
	}
	out[m] = '\0';
	if (strlen((char *) out) != m) {
		return (SF_INVALID_ARGUMENT);
	}
	*plain = (char *) out;
	return (0);
}
