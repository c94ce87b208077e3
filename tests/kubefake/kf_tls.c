// kf_tls.c: the serving certificate (a generated CA and a server
// certificate for the listen address, or files given on the command line)
// and the kubeconfig kubectl reads.
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kf_tls.h"
#include "log.h"

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = n >= 0 ? malloc((size_t) n + 1) : NULL;
	if (buf && fread(buf, 1, (size_t) n, f) != (size_t) n) {
		free(buf);
		buf = NULL;
	}
	if (buf) {
		buf[n] = '\0';
	}
	fclose(f);
	return buf;
}

static int
write_file(const char *path, const char *data, mode_t mode)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "wb");
	if (f == NULL) {
		return -1;
	}
	chmod(tmp, mode);
	size_t n  = strlen(data);
	int    rc = fwrite(data, 1, n, f) == n ? 0 : -1;
	if (fclose(f) != 0) {
		rc = -1;
	}
	if (rc == 0 && rename(tmp, path) != 0) {
		rc = -1;
	}
	return rc;
}

static char *
bio_take(BIO *b)
{
	char *data = NULL;
	long  n    = BIO_get_mem_data(b, &data);
	char *out  = malloc((size_t) n + 1);
	if (out) {
		memcpy(out, data, (size_t) n);
		out[n] = '\0';
	}
	BIO_free(b);
	return out;
}

static int
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ex == NULL) {
		return -1;
	}
	X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return 0;
}

static X509 *
new_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey,
    const char *san)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	unsigned char serial[16];
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *) "kubefake", -1, -1, 0);
	X509_NAME_add_entry_by_txt(
	    name, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0);
	X509 *iss = issuer ? issuer : x;
	X509_set_issuer_name(x, X509_get_subject_name(iss));
	add_ext(x, iss, NID_subject_key_identifier, "hash");
	if (issuer == NULL) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage,
		    "critical,keyCertSign,cRLSign,digitalSignature");
	} else {
		add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, iss, NID_key_usage,
		    "critical,digitalSignature,keyEncipherment");
		add_ext(x, iss, NID_ext_key_usage, "serverAuth");
		add_ext(x, iss, NID_authority_key_identifier, "keyid:always");
		add_ext(x, iss, NID_subject_alt_name, san);
	}
	if (X509_sign(x, ikey ? ikey : key, EVP_sha256()) == 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static char *
pem_cert(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	return bio_take(b);
}

static char *
pem_key(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	return bio_take(b);
}

int
kf_tls_setup(kf_tls *t, const char *state_dir, const char *cert_file,
    const char *key_file, const char *ca_file, const char *host)
{
	memset(t, 0, sizeof(*t));
	if (cert_file && key_file) {
		t->t_cert = read_file(cert_file);
		t->t_key  = read_file(key_file);
		t->t_ca   = read_file(ca_file ? ca_file : cert_file);
		if (!t->t_cert || !t->t_key || !t->t_ca) {
			SF_ERROR("kubefake",
			    "cannot read --tls-cert/--tls-key/--ca-cert: %s",
			    strerror(errno));
			kf_tls_fini(t);
			return -1;
		}
		return 0;
	}
	char p_ca[4096], p_cert[4096], p_key[4096];
	if (state_dir) {
		snprintf(p_ca, sizeof(p_ca), "%s/ca.crt", state_dir);
		snprintf(p_cert, sizeof(p_cert), "%s/tls.crt", state_dir);
		snprintf(p_key, sizeof(p_key), "%s/tls.key", state_dir);
		t->t_ca   = read_file(p_ca);
		t->t_cert = read_file(p_cert);
		t->t_key  = read_file(p_key);
		if (t->t_ca && t->t_cert && t->t_key) {
			return 0;
		}
		kf_tls_fini(t);
	}
	EVP_PKEY *cakey = EVP_EC_gen("P-256");
	EVP_PKEY *key   = EVP_EC_gen("P-256");
	char      san[256];
	if (strcmp(host, "127.0.0.1") == 0 || strcmp(host, "localhost") == 0) {
		snprintf(san, sizeof(san), "IP:127.0.0.1,DNS:localhost");
	} else {
		snprintf(san, sizeof(san), "IP:%s,IP:127.0.0.1,DNS:localhost",
		    host);
	}
	X509 *ca
	    = cakey ? new_cert(cakey, "kubefake-ca", NULL, NULL, NULL) : NULL;
	X509 *cert
	    = ca && key ? new_cert(key, "kubefake", ca, cakey, san) : NULL;
	int rc = -1;
	if (cert) {
		t->t_ca   = pem_cert(ca);
		t->t_cert = pem_cert(cert);
		t->t_key  = pem_key(key);
		rc        = 0;
		if (state_dir) {
			char *cakeypem = pem_key(cakey);
			char  p_cakey[4096];
			snprintf(
			    p_cakey, sizeof(p_cakey), "%s/ca.key", state_dir);
			if (write_file(p_ca, t->t_ca, 0644) != 0
			    || write_file(p_cakey, cakeypem, 0600) != 0
			    || write_file(p_cert, t->t_cert, 0644) != 0
			    || write_file(p_key, t->t_key, 0600) != 0) {
				SF_WARN("kubefake",
				    "cannot save certificates in %s: %s",
				    state_dir, strerror(errno));
			}
			free(cakeypem);
		}
	}
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(key);
	return rc;
}

void
kf_tls_fini(kf_tls *t)
{
	free(t->t_ca);
	free(t->t_cert);
	free(t->t_key);
	memset(t, 0, sizeof(*t));
}

int
kf_kubeconfig_write(
    const char *path, const char *url, const char *ca_pem, const char *token)
{
	size_t n   = strlen(ca_pem);
	char  *b64 = malloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock(
	    (unsigned char *) b64, (const unsigned char *) ca_pem, (int) n);
	char *doc = NULL;
	int   len = asprintf(&doc,
	      "apiVersion: v1\n"
	        "kind: Config\n"
	        "clusters:\n"
	        "- cluster:\n"
	        "    certificate-authority-data: %s\n"
	        "    server: %s\n"
	        "  name: kubefake\n"
	        "contexts:\n"
	        "- context:\n"
	        "    cluster: kubefake\n"
	        "    namespace: default\n"
	        "    user: kubefake\n"
	        "  name: kubefake\n"
	        "current-context: kubefake\n"
	        "preferences: {}\n"
	        "users:\n"
	        "- name: kubefake\n"
	        "  user:\n"
	        "    token: %s\n",
	      b64, url, token);
	free(b64);
	if (len < 0) {
		return -1;
	}
	int rc = write_file(path, doc, 0600);
	free(doc);
	return rc;
}
