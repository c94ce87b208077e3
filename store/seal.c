// seal.c: cluster credentials sealed at rest (AES-256-GCM), for every
// backend.
//
// A cluster's credentials (bearer token, client certificate and key) never
// reach the store in the clear. The cluster record is stored with those
// three fields empty; beside it, under the same name, the three fields are
// packed as a Cluster message and sealed:
//
//   0x01 | key id (8) | nonce (12) | ciphertext | tag (16)
//
// The additional authenticated data is a label and the cluster's name, so
// a sealed blob moved under another cluster's key does not open. The key
// id (the first 8 bytes of SHA-256 over a label and the key) is kept in the
// store's meta data: opening a store with another key fails at once,
// naming both ids, instead of failing on the first cluster read.
#include "store_internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEAL_VERSION   1
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN   16
#define SEAL_HEAD_LEN  (1 + SF__STORE_KEY_ID_LEN + SEAL_NONCE_LEN)
#define SEAL_AAD_LABEL "svcfleet/cluster-credentials/v1"

void
sf__store_key_id(const uint8_t key[SF_STORE_SECRET_KEY_LEN],
    uint8_t                    id[SF__STORE_KEY_ID_LEN])
{
	static const char label[] = "svcfleet-secret-key-id";
	uint8_t           buf[sizeof(label) + SF_STORE_SECRET_KEY_LEN];
	uint8_t           md[EVP_MAX_MD_SIZE];
	unsigned          n = 0;

	memcpy(buf, label, sizeof(label));
	memcpy(buf + sizeof(label), key, SF_STORE_SECRET_KEY_LEN);
	EVP_Digest(buf, sizeof(buf), md, &n, EVP_sha256(), NULL);
	memcpy(id, md, SF__STORE_KEY_ID_LEN);
	OPENSSL_cleanse(buf, sizeof(buf));
}

void
sf__store_key_id_hex(const uint8_t id[SF__STORE_KEY_ID_LEN], char out[17])
{
	for (int i = 0; i < SF__STORE_KEY_ID_LEN; i++) {
		snprintf(out + 2 * i, 3, "%02x", id[i]);
	}
}

bool
sf__store_has_credentials(const Svcfleet__V1__Cluster *c)
{
	return ((c->token != NULL && c->token[0] != '\0')
	    || c->client_cert.len > 0 || c->client_key.len > 0);
}

// aad builds the additional authenticated data for a cluster's blob.
static size_t
aad_of(const char *name, uint8_t *buf, size_t cap)
{
	size_t ll = sizeof(SEAL_AAD_LABEL), nl = strlen(name) + 1;
	if (ll + nl > cap) {
		return (0);
	}
	memcpy(buf, SEAL_AAD_LABEL, ll);
	memcpy(buf + ll, name, nl);
	return (ll + nl);
}

// gcm runs AES-256-GCM one way or the other over in (n bytes) into out (n
// bytes); tag is written (enc) or checked (dec). Returns 0 or -1.
static int
gcm(bool enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
    size_t aadlen, const uint8_t *in, size_t n, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int             len, ok = 0;

	if (ctx == NULL || n > INT32_MAX || aadlen > INT32_MAX) {
		EVP_CIPHER_CTX_free(ctx);
		return (-1);
	}
	if (EVP_CipherInit_ex(
	        ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0)
	        != 1
	    || EVP_CIPHER_CTX_ctrl(
	           ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN, NULL)
	        != 1
	    || EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc ? 1 : 0) != 1
	    || EVP_CipherUpdate(ctx, NULL, &len, aad, (int) aadlen) != 1
	    || (n > 0 && EVP_CipherUpdate(ctx, out, &len, in, (int) n) != 1)) {
		goto out;
	}
	if (!enc
	    && EVP_CIPHER_CTX_ctrl(
	           ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tag)
	        != 1) {
		goto out;
	}
	if (EVP_CipherFinal_ex(ctx, out + n, &len) != 1) {
		goto out; // decryption: the tag does not match
	}
	if (enc
	    && EVP_CIPHER_CTX_ctrl(
	           ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, tag)
	        != 1) {
		goto out;
	}
	ok = 1;
out:
	EVP_CIPHER_CTX_free(ctx);
	return (ok ? 0 : -1);
}

int
sf__store_seal(const uint8_t key[SF_STORE_SECRET_KEY_LEN], const char *name,
    const Svcfleet__V1__Cluster *c, uint8_t **out, size_t *outlen)
{
	Svcfleet__V1__Cluster cred = SVCFLEET__V1__CLUSTER__INIT;
	uint8_t               aad[SF__STORE_KEY_MAX + 64];
	size_t                aadlen, n, total;
	uint8_t              *plain, *blob;
	int                   rv = SF_INTERNAL;

	*out    = NULL;
	*outlen = 0;
	if ((aadlen = aad_of(name, aad, sizeof(aad))) == 0) {
		return (SF_INVALID_ARGUMENT);
	}
	cred.token       = c->token;
	cred.client_cert = c->client_cert;
	cred.client_key  = c->client_key;
	n                = svcfleet__v1__cluster__get_packed_size(&cred);
	total            = SEAL_HEAD_LEN + n + SEAL_TAG_LEN;
	if ((plain = malloc(n + 1)) == NULL
	    || (blob = malloc(total + SEAL_TAG_LEN)) == NULL) {
		free(plain);
		return (SF_RESOURCE_EXHAUSTED);
	}
	svcfleet__v1__cluster__pack(&cred, plain);
	blob[0] = SEAL_VERSION;
	sf__store_key_id(key, blob + 1);
	if (RAND_bytes(blob + 1 + SF__STORE_KEY_ID_LEN, SEAL_NONCE_LEN) == 1
	    && gcm(true, key, blob + 1 + SF__STORE_KEY_ID_LEN, aad, aadlen,
	           plain, n, blob + SEAL_HEAD_LEN, blob + SEAL_HEAD_LEN + n)
	        == 0) {
		*out    = blob;
		*outlen = total;
		rv      = 0;
	} else {
		free(blob);
	}
	OPENSSL_cleanse(plain, n);
	free(plain);
	return (rv);
}

// Copies what cred holds into c, allocated with alloc.
static int
take_credentials(const Svcfleet__V1__Cluster *cred, ProtobufCAllocator *alloc,
    Svcfleet__V1__Cluster *c)
{
	if (cred->token != NULL && cred->token[0] != '\0') {
		if ((c->token = sf__store_strdup(alloc, cred->token))
		    == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
	}
	const ProtobufCBinaryData *src[2]
	    = {&cred->client_cert, &cred->client_key};
	ProtobufCBinaryData *dst[2] = {&c->client_cert, &c->client_key};
	for (int i = 0; i < 2; i++) {
		if (src[i]->len == 0) {
			continue;
		}
		if ((dst[i]->data = sf__store_alloc(alloc, src[i]->len))
		    == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		memcpy(dst[i]->data, src[i]->data, src[i]->len);
		dst[i]->len = src[i]->len;
	}
	return (0);
}

int
sf__store_unseal(const uint8_t key[SF_STORE_SECRET_KEY_LEN], const char *name,
    const void *blob, size_t len, ProtobufCAllocator *alloc,
    Svcfleet__V1__Cluster *c)
{
	const uint8_t *b = blob;
	uint8_t        aad[SF__STORE_KEY_MAX + 64], id[SF__STORE_KEY_ID_LEN];
	uint8_t       *plain;
	size_t         aadlen, n;
	Svcfleet__V1__Cluster *cred;
	int                    rv;

	if (len < SEAL_HEAD_LEN + SEAL_TAG_LEN || b[0] != SEAL_VERSION) {
		return (SF_DATA_LOSS);
	}
	sf__store_key_id(key, id);
	if (memcmp(id, b + 1, SF__STORE_KEY_ID_LEN) != 0) {
		return (SF_FAILED_PRECONDITION); // sealed with another key
	}
	if ((aadlen = aad_of(name, aad, sizeof(aad))) == 0) {
		return (SF_INVALID_ARGUMENT);
	}
	n = len - SEAL_HEAD_LEN - SEAL_TAG_LEN;
	if ((plain = malloc(n + SEAL_TAG_LEN + 1)) == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	uint8_t tag[SEAL_TAG_LEN];
	memcpy(tag, b + SEAL_HEAD_LEN + n, SEAL_TAG_LEN);
	if (gcm(false, key, b + 1 + SF__STORE_KEY_ID_LEN, aad, aadlen,
	        b + SEAL_HEAD_LEN, n, plain, tag)
	    != 0) {
		OPENSSL_cleanse(plain, n);
		free(plain);
		return (SF_DATA_LOSS); // altered, or moved to another name
	}
	cred = svcfleet__v1__cluster__unpack(NULL, n, plain);
	OPENSSL_cleanse(plain, n);
	free(plain);
	if (cred == NULL) {
		return (SF_DATA_LOSS);
	}
	rv = take_credentials(cred, alloc, c);
	if (cred->token != NULL) {
		OPENSSL_cleanse(cred->token, strlen(cred->token));
	}
	if (cred->client_key.len > 0) {
		OPENSSL_cleanse(cred->client_key.data, cred->client_key.len);
	}
	svcfleet__v1__cluster__free_unpacked(cred, NULL);
	return (rv);
}

void
sf__store_strip_credentials(
    Svcfleet__V1__Cluster *c, Svcfleet__V1__Cluster *saved)
{
	saved->token        = c->token;
	saved->client_cert  = c->client_cert;
	saved->client_key   = c->client_key;
	c->token            = "";
	c->client_cert.data = NULL;
	c->client_cert.len  = 0;
	c->client_key.data  = NULL;
	c->client_key.len   = 0;
}

void
sf__store_restore_credentials(
    Svcfleet__V1__Cluster *c, const Svcfleet__V1__Cluster *saved)
{
	c->token       = saved->token;
	c->client_cert = saved->client_cert;
	c->client_key  = saved->client_key;
}
