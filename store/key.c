// key.c: key layouts and page tokens, shared by the backends.
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "base64.h"

void
sf__store_be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t) (v & 0xff);
		v >>= 8;
	}
}

uint64_t
sf__store_be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++) {
		v = (v << 8) | p[i];
	}
	return (v);
}

void
sf__store_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

uint32_t
sf__store_be32_get(const uint8_t *p)
{
	return (((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
	    | ((uint32_t) p[2] << 8) | (uint32_t) p[3]);
}

// append copies s and its NUL to buf at *len, unless the key would exceed
// LMDB's limit.
static int
append(uint8_t *buf, size_t *len, const char *s)
{
	size_t n = strlen(s) + 1;
	if (*len + n > SF__STORE_KEY_MAX) {
		return (-1);
	}
	memcpy(buf + *len, s, n);
	*len += n;
	return (0);
}

static int
too_long(sf_status *st, const char *what)
{
	return (sf_status_set(st, SF_INVALID_ARGUMENT,
	    "%s is too long: the store key it makes exceeds %d bytes", what,
	    SF__STORE_KEY_MAX));
}

int
sf__store_key_service(
    const sf_store_key *k, uint8_t *buf, size_t *len, sf_status *st)
{
	static const char *const what[3]
	    = {"metadata.cluster", "metadata.namespace", "metadata.name"};
	const char *part[3] = {k->k_cluster, k->k_namespace, k->k_name};

	*len = 0;
	for (int i = 0; i < 3; i++) {
		if (part[i] == NULL || part[i][0] == '\0') {
			return (sf_status_set(st, SF_INVALID_ARGUMENT,
			    "%s: Required value", what[i]));
		}
		if (append(buf, len, part[i]) != 0) {
			return (too_long(st, "cluster/namespace/name"));
		}
	}
	return (0);
}

int
sf__store_key_parse(const void *data, size_t len, sf_store_key *out)
{
	const char *p   = data;
	const char *end = p + len;
	const char *part[3];

	for (int i = 0; i < 3; i++) {
		const char *z = memchr(p, '\0', (size_t) (end - p));
		if (z == NULL || z == p) {
			return (-1);
		}
		part[i] = p;
		p       = z + 1;
	}
	if (p != end) {
		return (-1);
	}
	out->k_cluster   = part[0];
	out->k_namespace = part[1];
	out->k_name      = part[2];
	return (0);
}

int
sf__store_key_prefix(const char *cluster, const char *ns, uint8_t *buf,
    size_t *len, sf_status *st)
{
	*len = 0;
	if (cluster == NULL || cluster[0] == '\0') {
		return (0);
	}
	if (append(buf, len, cluster) != 0) {
		return (too_long(st, "cluster"));
	}
	if (ns != NULL && ns[0] != '\0' && append(buf, len, ns) != 0) {
		return (too_long(st, "cluster/namespace"));
	}
	return (0);
}

int
sf__store_key_cluster(
    const char *name, uint8_t *buf, size_t *len, sf_status *st)
{
	*len = 0;
	if (name == NULL || name[0] == '\0') {
		return (sf_status_set(
		    st, SF_INVALID_ARGUMENT, "cluster name: Required value"));
	}
	if (append(buf, len, name) != 0) {
		return (too_long(st, "cluster name"));
	}
	return (0);
}

int
sf__store_key_nodeport(const char *cluster, const char *protocol, int32_t port,
    uint8_t *buf, size_t *len, sf_status *st)
{
	*len = 0;
	if (protocol == NULL || protocol[0] == '\0') {
		protocol = "TCP"; // Kubernetes' default
	}
	if (cluster == NULL || cluster[0] == '\0') {
		return (sf_status_set(
		    st, SF_INVALID_ARGUMENT, "cluster: Required value"));
	}
	if (append(buf, len, cluster) != 0 || append(buf, len, protocol) != 0
	    || *len + 4 > SF__STORE_KEY_MAX) {
		return (too_long(st, "cluster/protocol"));
	}
	sf__store_be32_put(buf + *len, (uint32_t) port);
	*len += 4;
	return (0);
}

int
sf__store_key_record(const char *id, size_t *klen, sf_status *st)
{
	size_t n = id != NULL ? strlen(id) : 0;
	if (n == 0 || n > SF__STORE_RECORD_MAX) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "store: a record id must have 1 to %d bytes",
		    SF__STORE_RECORD_MAX));
	}
	*klen = n + 1;
	return (0);
}

// ---------------------------------------------------------- page tokens

// Version 1 (LMDB): the parts; version 2 (etcd) adds the revision the
// first page was read at (u64 BE) after them.
#define TOKEN_V1 1
#define TOKEN_V2 2
// version + 3 length-prefixed parts + revision + checksum
#define TOKEN_RAW_MAX (1 + 3 * (2 + SF__STORE_KEY_MAX) + 8 + 4)

// FNV-1a: catches a mistyped or truncated token, not an attacker (a forged
// token can only name a position in a range the caller may list anyway).
static uint32_t
fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h = (h ^ p[i]) * 16777619u;
	}
	return (h);
}

static void
put_part(uint8_t *raw, size_t *n, const void *p, size_t len)
{
	raw[(*n)++] = (uint8_t) (len >> 8);
	raw[(*n)++] = (uint8_t) len;
	memcpy(raw + *n, p, len);
	*n += len;
}

static int
get_part(
    const uint8_t *raw, size_t n, size_t *off, const uint8_t **p, size_t *len)
{
	if (*off + 2 > n) {
		return (-1);
	}
	*len = ((size_t) raw[*off] << 8) | raw[*off + 1];
	*off += 2;
	if (*len > SF__STORE_KEY_MAX || *off + *len > n) {
		return (-1);
	}
	*p = raw + *off;
	*off += *len;
	return (0);
}

char *
sf__store_token_encode(ProtobufCAllocator *alloc, const char *cluster,
    const char *ns, const uint8_t *key, size_t klen, uint64_t rev)
{
	uint8_t raw[TOKEN_RAW_MAX];
	size_t  n  = 0;
	size_t  cl = strlen(cluster), nl = strlen(ns);
	char   *out;

	if (cl > SF__STORE_KEY_MAX || nl > SF__STORE_KEY_MAX
	    || klen > SF__STORE_KEY_MAX) {
		return (NULL);
	}
	raw[n++] = rev != 0 ? TOKEN_V2 : TOKEN_V1;
	put_part(raw, &n, cluster, cl);
	put_part(raw, &n, ns, nl);
	put_part(raw, &n, key, klen);
	if (rev != 0) {
		sf__store_be64_put(raw + n, rev);
		n += 8;
	}
	sf__store_be32_put(raw + n, fnv1a(raw, n));
	n += 4;
	if ((out = sf__store_alloc(alloc, (n + 2) / 3 * 4 + 1)) == NULL) {
		return (NULL);
	}
	sf_base64_encode(out, raw, n, SF_B64_URL);
	return (out);
}

int
sf__store_token_decode(const char *tok, char *cluster, char *ns, uint8_t *key,
    size_t *klen, uint64_t *rev)
{
	uint8_t        raw[TOKEN_RAW_MAX];
	char           canon[(TOKEN_RAW_MAX + 2) / 3 * 4 + 1];
	ssize_t        n;
	size_t         off = 1, len, tlen = strlen(tok);
	const uint8_t *p;

	*rev = 0;
	if (tlen > (TOKEN_RAW_MAX + 2) / 3 * 4) {
		return (-1);
	}
	n = sf_base64_decode(raw, sizeof(raw), tok, tlen, SF_B64_URL);
	if (n < 1 + 6 + 4) {
		return (-1);
	}
	// A token is exactly the encoding of what it decodes to: other
	// trailing bits mean it was altered.
	sf_base64_encode(canon, raw, (size_t) n, SF_B64_URL);
	if (strcmp(canon, tok) != 0) {
		return (-1);
	}
	if ((raw[0] != TOKEN_V1 && raw[0] != TOKEN_V2)
	    || sf__store_be32_get(raw + n - 4) != fnv1a(raw, (size_t) n - 4)) {
		return (-1);
	}
	n -= 4;
	if (raw[0] == TOKEN_V2) {
		if (n < 1 + 6 + 8) {
			return (-1);
		}
		n -= 8;
		*rev = sf__store_be64_get(raw + n);
		if (*rev == 0) {
			return (-1);
		}
	}
	if (get_part(raw, (size_t) n, &off, &p, &len) != 0
	    || memchr(p, '\0', len) != NULL) {
		return (-1);
	}
	memcpy(cluster, p, len);
	cluster[len] = '\0';
	if (get_part(raw, (size_t) n, &off, &p, &len) != 0
	    || memchr(p, '\0', len) != NULL) {
		return (-1);
	}
	memcpy(ns, p, len);
	ns[len] = '\0';
	if (get_part(raw, (size_t) n, &off, &p, &len) != 0
	    || off != (size_t) n) {
		return (-1);
	}
	memcpy(key, p, len);
	*klen = len;
	return (0);
}
