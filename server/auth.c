// auth.c: tokens, the static token file, the admin bootstrap, and the
// bindings that apply to a caller.

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "clock.h"
#include "internal.h"
#include "log.h"
#include "str.h"

#define ADMIN_USER "admin"
// The shortest static token accepted (issue 17): 16 random characters of
// base64 are 96 bits, beyond guessing through the rate limit.
#define SF__SRV_STATIC_TOKEN_MIN 16
#define INTERNAL_MAX             4

// A token from the static token file, or one minted in memory.
typedef struct mem_token {
	uint8_t mt_hash[32]; // SHA-256 of the whole token
	char   *mt_user;
	char   *mt_uid;
	char  **mt_groups;
	size_t  mt_ngroups;
	char   *mt_role; // minted tokens: their global role; else NULL
} mem_token;

struct sf__srv_auth {
	mem_token *a_file;
	size_t     a_nfile;
	mem_token  a_internal[INTERNAL_MAX];
	size_t     a_ninternal;

	// Every role binding, reloaded when a handler changes them.
	pthread_rwlock_t            a_lock;
	Svcfleet__V1__RoleBinding **a_bindings; // heap, unpacked
	size_t                      a_nbindings;
	atomic_uint_fast64_t        a_bind_gen;    // bumped on change
	uint64_t                    a_bind_loaded; // gen of a_bindings
	bool                        a_bind_valid;
	// The store's generation of bindings when a_bindings was read: on
	// etcd it moves when another replica changes one (issue 15).
	uint64_t a_bind_store_gen;
	int64_t  a_bind_loaded_ms; // mono ms of the read (etcd-perf)
	// On etcd (several replicas) the bindings are read again after
	// AUTH_CACHE_MS whatever the watch says (etcd-perf).
	bool a_shared;

	// etcd-perf: stored tokens as last read, by id, on etcd only (an
	// LMDB read costs less than the lookup). An entry serves while
	// nothing changed a token here (a_tok_gen) or through the watch
	// (the store's record generation), and for TOKEN_CACHE_MS at most:
	// a revocation takes effect on every replica within that, even
	// while the watch is down.
	pthread_mutex_t      a_tok_mtx;
	struct tok_slot     *a_tok; // TOKEN_SLOTS
	atomic_uint_fast64_t a_tok_gen;
};

// How long a replica may trust what it read of a token or of the role
// bindings without reading again: DESIGN.md §9 wants a revocation in
// force everywhere within 1 s.
#define AUTH_CACHE_MS 500
#define TOKEN_SLOTS   256

struct tok_slot {
	char     ts_id[SF__SRV_TOKEN_ID_LEN + 1]; // "" = free
	uint8_t *ts_packed;                       // StoredToken, heap
	size_t   ts_len;
	int64_t  ts_read_ms; // mono ms when the read began
	uint64_t ts_gen, ts_store_gen;
};

// OpenSSL 3 looks the algorithm up again for every EVP_Digest given
// EVP_sha256(): fetched once, hashing a token costs a fifth as much (it is
// done for every call).
static EVP_MD        *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static void
sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 32;
	pthread_once(&sha256_once, sha256_fetch);
	EVP_Digest(data, len, out, &n,
	    sha256_md != NULL ? sha256_md : EVP_sha256(), NULL);
}

// ----------------------------------------------------------------- tokens

int
sf__srv_auth_token_make(
    char *token, char id[SF__SRV_TOKEN_ID_LEN + 1], uint8_t hash[32])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t           idb[SF__SRV_TOKEN_ID_LEN / 2], sec[32];
	char              secret[SF__SRV_TOKEN_SECRET_LEN + 1];

	_Static_assert(SF__SRV_TOKEN_SECRET_LEN == 43,
	    "32 bytes in base64url without padding");
	if (RAND_bytes(idb, sizeof(idb)) != 1
	    || RAND_bytes(sec, sizeof(sec)) != 1) {
		return (SF_INTERNAL);
	}
	for (size_t i = 0; i < sizeof(idb); i++) {
		id[2 * i]     = hex[idb[i] >> 4];
		id[2 * i + 1] = hex[idb[i] & 15];
	}
	id[SF__SRV_TOKEN_ID_LEN] = '\0';
	sf_base64_encode(secret, sec, sizeof(sec), SF_B64_URL);
	snprintf(token, SF__SRV_TOKEN_MAX, "sfk_%s_%s", id, secret);
	sha256(secret, strlen(secret), hash);
	OPENSSL_cleanse(sec, sizeof(sec));
	OPENSSL_cleanse(secret, sizeof(secret));
	return (0);
}

// Splits "sfk_<id>_<secret>"; false when the text has another shape.
static bool
token_parse(
    const char *tok, char id[SF__SRV_TOKEN_ID_LEN + 1], const char **secret)
{
	if (strncmp(tok, "sfk_", 4) != 0
	    || strlen(tok) != SF__SRV_TOKEN_MAX - 1
	    || tok[4 + SF__SRV_TOKEN_ID_LEN] != '_') {
		return (false);
	}
	for (int i = 0; i < SF__SRV_TOKEN_ID_LEN; i++) {
		if (!isxdigit((unsigned char) tok[4 + i])) {
			return (false);
		}
		id[i] = tok[4 + i];
	}
	id[SF__SRV_TOKEN_ID_LEN] = '\0';
	*secret                  = tok + 4 + SF__SRV_TOKEN_ID_LEN + 1;
	return (true);
}

// ------------------------------------------------------ static token file

static void
mem_token_fini(mem_token *t)
{
	free(t->mt_user);
	free(t->mt_uid);
	for (size_t i = 0; i < t->mt_ngroups; i++) {
		free(t->mt_groups[i]);
	}
	free(t->mt_groups);
	free(t->mt_role);
	OPENSSL_cleanse(t->mt_hash, sizeof(t->mt_hash));
}

// Reads one CSV field (quotes allowed, "" inside quotes is a quote) into
// out; returns the position after its separator, or NULL on a bad quote.
static const char *
csv_field(const char *p, char *out, size_t cap)
{
	size_t n = 0;
	if (*p == '"') {
		p++;
		for (;;) {
			if (*p == '\0') {
				return (NULL);
			}
			if (*p == '"' && p[1] == '"') {
				p++;
			} else if (*p == '"') {
				p++;
				break;
			}
			if (n + 1 < cap) {
				out[n++] = *p;
			}
			p++;
		}
	} else {
		while (*p != '\0' && *p != ',') {
			if (n + 1 < cap) {
				out[n++] = *p;
			}
			p++;
		}
	}
	out[n] = '\0';
	if (*p == ',') {
		p++;
	} else if (*p != '\0') {
		return (NULL);
	}
	return (p);
}

static int
load_token_file(sf__srv_auth *a, const char *path, sf_status *st)
{
	FILE  *f      = fopen(path, "r");
	char  *line   = NULL;
	size_t cap    = 0;
	int    lineno = 0, rv = 0;

	struct stat sb;

	if (f == NULL) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "cannot read --token-auth-file %s: %s", path,
		    strerror(errno)));
	}
	// Bearer tokens in the clear: readable by every user of the host is
	// refused, by the group warned about (issue 17, finding 16).
	if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)
	    && (sb.st_mode & 007) != 0) {
		fclose(f);
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "--token-auth-file %s is readable by every user (mode "
		    "%03o); "
		    "chmod 600 it",
		    path, (unsigned) (sb.st_mode & 0777)));
	}
	if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 070) != 0) {
		SF_WARN("auth",
		    "--token-auth-file %s is readable by its group (mode "
		    "%03o); "
		    "chmod 600 it",
		    path, (unsigned) (sb.st_mode & 0777));
	}
	while (getline(&line, &cap, f) >= 0) {
		char        tok[1024], user[256], uid[256], groups[4096] = "";
		const char *p = line;
		size_t      len;

		lineno++;
		len       = strcspn(line, "\r\n");
		line[len] = '\0';
		if (len == 0) {
			continue;
		}
		if ((p = csv_field(p, tok, sizeof(tok))) == NULL
		    || (p = csv_field(p, user, sizeof(user))) == NULL
		    || (p = csv_field(p, uid, sizeof(uid))) == NULL
		    || (*p != '\0'
		        && (p = csv_field(p, groups, sizeof(groups)))
		            == NULL)) {
			rv = sf_status_set(st, SF_INVALID_ARGUMENT,
			    "--token-auth-file %s line %d: not "
			    "token,user,uid[,"
			    "\"group1,group2\"] (check the quotes)",
			    path, lineno);
			break;
		}
		if (tok[0] == '\0' || user[0] == '\0' || uid[0] == '\0') {
			rv = sf_status_set(st, SF_INVALID_ARGUMENT,
			    "--token-auth-file %s line %d: the %s is empty",
			    path, lineno,
			    tok[0] == '\0'        ? "token"
			        : user[0] == '\0' ? "user name"
			                          : "uid");
			break;
		}
		if (strlen(tok) < SF__SRV_STATIC_TOKEN_MIN) {
			rv = sf_status_set(st, SF_INVALID_ARGUMENT,
			    "--token-auth-file %s line %d: the token has %zu "
			    "characters; at least %d are required (make one "
			    "with `openssl rand -base64 32`)",
			    path, lineno, strlen(tok),
			    SF__SRV_STATIC_TOKEN_MIN);
			OPENSSL_cleanse(tok, sizeof(tok));
			break;
		}
		mem_token *nt
		    = realloc(a->a_file, (a->a_nfile + 1) * sizeof(*nt));
		if (nt == NULL) {
			rv = sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL);
			break;
		}
		a->a_file    = nt;
		mem_token *t = &a->a_file[a->a_nfile++];
		memset(t, 0, sizeof(*t));
		sha256(tok, strlen(tok), t->mt_hash);
		OPENSSL_cleanse(tok, sizeof(tok));
		t->mt_user = strdup(user);
		t->mt_uid  = strdup(uid);
		for (char *save = NULL, *g = strtok_r(groups, ",", &save); g;
		     g = strtok_r(NULL, ",", &save)) {
			char **ng = realloc(
			    t->mt_groups, (t->mt_ngroups + 1) * sizeof(*ng));
			if (ng == NULL) {
				break;
			}
			t->mt_groups                  = ng;
			t->mt_groups[t->mt_ngroups++] = strdup(g);
		}
	}
	free(line);
	fclose(f);
	if (rv == 0) {
		SF_INFO(
		    "auth", "loaded %zu token(s) from %s", a->a_nfile, path);
	}
	return (rv);
}

// ------------------------------------------------------------- bindings

static void
free_bindings(sf__srv_auth *a)
{
	for (size_t i = 0; i < a->a_nbindings; i++) {
		svcfleet__v1__role_binding__free_unpacked(
		    a->a_bindings[i], NULL);
	}
	free(a->a_bindings);
	a->a_bindings  = NULL;
	a->a_nbindings = 0;
}

// Makes a->a_bindings current; called with the lock held for writing.
static int
reload_bindings(sf_server *srv)
{
	sf__srv_auth      *a   = srv->s_auth;
	uint64_t           gen = atomic_load(&a->a_bind_gen);
	ProtobufCMessage **list;
	size_t             n;
	int                rv;

	uint64_t sgen
	    = sf_store_record_generation(srv->s_store, SF_STORE_BINDINGS);
	int64_t now = sf_clock_mono_ms();
	if (a->a_bind_valid && a->a_bind_loaded == gen
	    && a->a_bind_store_gen == sgen
	    && (!a->a_shared || now - a->a_bind_loaded_ms < AUTH_CACHE_MS)) {
		return (0);
	}
	rv = sf_store_record_list(srv->s_store, SF_STORE_BINDINGS,
	    &svcfleet__v1__role_binding__descriptor, NULL, &list, &n);
	if (rv != 0) {
		return (rv);
	}
	free_bindings(a);
	a->a_bindings       = (Svcfleet__V1__RoleBinding **) list;
	a->a_nbindings      = n;
	a->a_bind_loaded    = gen;
	a->a_bind_store_gen = sgen;
	a->a_bind_loaded_ms = now;
	a->a_bind_valid     = true;
	return (0);
}

void
sf__srv_auth_bindings_changed(sf_server *srv)
{
	atomic_fetch_add(&srv->s_auth->a_bind_gen, 1);
	atomic_fetch_add(&srv->s_auth_gen, 1); // issue 17: watches
}

void
sf__srv_auth_tokens_changed(sf_server *srv)
{
	atomic_fetch_add(&srv->s_auth_gen, 1); // issue 17: watches
	atomic_fetch_add(&srv->s_auth->a_tok_gen, 1);
}

// token_get is sf_store_record_get of the stored token id, from the
// token cache when an entry still holds (etcd only; see a_tok).
static int
token_get(sf__srv_call *c, const char *id, Svcfleet__V1__StoredToken **out)
{
	sf_server          *srv   = c->c_srv;
	sf__srv_auth       *a     = srv->s_auth;
	ProtobufCAllocator *alloc = sf_arena_pbc(&c->c_arena);
	struct tok_slot    *ts;
	uint8_t             h[32];
	int                 rv;

	if (a->a_tok == NULL) {
		return (sf_store_record_get(srv->s_store, SF_STORE_TOKENS, id,
		    &svcfleet__v1__stored_token__descriptor, alloc,
		    (ProtobufCMessage **) out));
	}
	sha256(id, strlen(id), h);
	ts = &a->a_tok[(h[0] | (size_t) h[1] << 8) % TOKEN_SLOTS];
	// What counts as current, taken before the read: a change that
	// lands during it makes the entry stale at once.
	uint64_t gen = atomic_load(&a->a_tok_gen);
	uint64_t sgen
	    = sf_store_record_generation(srv->s_store, SF_STORE_TOKENS);
	int64_t now = sf_clock_mono_ms();

	pthread_mutex_lock(&a->a_tok_mtx);
	if (strcmp(ts->ts_id, id) == 0 && ts->ts_gen == gen
	    && ts->ts_store_gen == sgen
	    && now - ts->ts_read_ms < AUTH_CACHE_MS) {
		*out = svcfleet__v1__stored_token__unpack(
		    alloc, ts->ts_len, ts->ts_packed);
		pthread_mutex_unlock(&a->a_tok_mtx);
		return (*out != NULL ? 0 : SF_RESOURCE_EXHAUSTED);
	}
	pthread_mutex_unlock(&a->a_tok_mtx);
	rv = sf_store_record_get(srv->s_store, SF_STORE_TOKENS, id,
	    &svcfleet__v1__stored_token__descriptor, alloc,
	    (ProtobufCMessage **) out);
	if (rv != 0) {
		return (rv);
	}
	size_t   n = svcfleet__v1__stored_token__get_packed_size(*out);
	uint8_t *p = malloc(n > 0 ? n : 1);
	if (p == NULL) {
		return (0); // served, not kept
	}
	svcfleet__v1__stored_token__pack(*out, p);
	pthread_mutex_lock(&a->a_tok_mtx);
	free(ts->ts_packed);
	snprintf(ts->ts_id, sizeof(ts->ts_id), "%s", id);
	ts->ts_packed    = p;
	ts->ts_len       = n;
	ts->ts_read_ms   = now;
	ts->ts_gen       = gen;
	ts->ts_store_gen = sgen;
	pthread_mutex_unlock(&a->a_tok_mtx);
	return (0);
}

static Svcfleet__V1__RoleBinding *
binding_copy(sf_arena *ar, const Svcfleet__V1__RoleBinding *b)
{
	Svcfleet__V1__RoleBinding *c = sf_arena_alloc(ar, sizeof(*c));
	if (c == NULL) {
		return (NULL);
	}
	svcfleet__v1__role_binding__init(c);
	c->id         = sf_arena_strdup(ar, sf_nz(b->id));
	c->role       = sf_arena_strdup(ar, sf_nz(b->role));
	c->user       = sf_arena_strdup(ar, sf_nz(b->user));
	c->group      = sf_arena_strdup(ar, sf_nz(b->group));
	c->cluster    = sf_arena_strdup(ar, sf_nz(b->cluster));
	c->namespace_ = sf_arena_strdup(ar, sf_nz(b->namespace_));
	return (c);
}

// Copies into the call the bindings that name its user or groups.
static int
attach_bindings(sf__srv_call *c, const char *internal_role)
{
	sf_server        *srv = c->c_srv;
	sf__srv_auth     *a   = srv->s_auth;
	sf__srv_identity *id  = &c->c_ident;
	sf_arena         *ar  = &c->c_arena;
	int               rv  = 0;

	id->id_p.p_user    = id->id_user;
	id->id_p.p_groups  = id->id_groups;
	id->id_p.p_ngroups = id->id_ngroups;
	if (internal_role != NULL) {
		Svcfleet__V1__RoleBinding b = SVCFLEET__V1__ROLE_BINDING__INIT;
		b.id                        = "internal";
		b.role                      = (char *) internal_role;
		b.user                      = (char *) id->id_user;
		id->id_bindings = sf_arena_alloc(ar, sizeof(*id->id_bindings));
		if (id->id_bindings == NULL
		    || (id->id_bindings[0] = binding_copy(ar, &b)) == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		id->id_nbindings = 1;
		goto done;
	}
	pthread_rwlock_rdlock(&a->a_lock);
	if (!a->a_bind_valid || a->a_bind_loaded != atomic_load(&a->a_bind_gen)
	    || a->a_bind_store_gen
	        != sf_store_record_generation(srv->s_store, SF_STORE_BINDINGS)
	    || (a->a_shared
	        && sf_clock_mono_ms() - a->a_bind_loaded_ms
	            >= AUTH_CACHE_MS)) {
		pthread_rwlock_unlock(&a->a_lock);
		pthread_rwlock_wrlock(&a->a_lock);
		rv = reload_bindings(srv);
	}
	if (rv == 0 && a->a_nbindings > 0) {
		id->id_bindings = sf_arena_alloc(
		    ar, a->a_nbindings * sizeof(*id->id_bindings));
		if (id->id_bindings == NULL) {
			rv = SF_RESOURCE_EXHAUSTED;
		}
		for (size_t i = 0; rv == 0 && i < a->a_nbindings; i++) {
			if (!sf_rbac_binding_applies(
			        &id->id_p, a->a_bindings[i])) {
				continue;
			}
			Svcfleet__V1__RoleBinding *b
			    = binding_copy(ar, a->a_bindings[i]);
			if (b == NULL) {
				rv = SF_RESOURCE_EXHAUSTED;
				break;
			}
			id->id_bindings[id->id_nbindings++] = b;
		}
	}
	pthread_rwlock_unlock(&a->a_lock);
done:
	id->id_p.p_bindings  = id->id_bindings;
	id->id_p.p_nbindings = id->id_nbindings;
	return (rv);
}

// ---------------------------------------------------------- authenticate

static int
unauthenticated(sf__srv_call *c, const char *why)
{
	return (sf_status_set(&c->c_status, SF_UNAUTHENTICATED, "%s", why));
}

static bool
mem_match(const mem_token *list, size_t n, const uint8_t hash[32], size_t *at)
{
	bool found = false;
	// Every entry is compared, so the time does not tell which matched.
	for (size_t i = 0; i < n; i++) {
		if (CRYPTO_memcmp(list[i].mt_hash, hash, 32) == 0) {
			*at   = i;
			found = true;
		}
	}
	return (found);
}

static int
use_mem_token(sf__srv_call *c, const mem_token *t)
{
	sf__srv_identity *id = &c->c_ident;
	sf_arena         *ar = &c->c_arena;

	id->id_user     = t->mt_user;
	id->id_token_id = t->mt_role != NULL ? "internal" : t->mt_uid;
	if (t->mt_ngroups > 0) {
		id->id_groups
		    = sf_arena_alloc(ar, t->mt_ngroups * sizeof(char *));
		if (id->id_groups == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		for (size_t i = 0; i < t->mt_ngroups; i++) {
			id->id_groups[i] = t->mt_groups[i];
		}
		id->id_ngroups = t->mt_ngroups;
	}
	return (attach_bindings(c, t->mt_role));
}

int
sf__srv_auth_authenticate(sf__srv_call *c)
{
	sf_server    *srv = c->c_srv;
	sf__srv_auth *a   = srv->s_auth;
	const char   *tok = c->c_env->token;
	char          id[SF__SRV_TOKEN_ID_LEN + 1];
	const char   *secret;
	uint8_t       hash[32];
	size_t        at;
	int           rv;

	if (tok == NULL || tok[0] == '\0') {
		return (unauthenticated(c,
		    "no token given (--token, "
		    "SVCFLEET_TOKEN or --token-file)"));
	}
	if (strlen(tok) > 4096) {
		return (unauthenticated(c, "invalid token"));
	}
	sha256(tok, strlen(tok), hash);
	if (mem_match(a->a_internal, a->a_ninternal, hash, &at)) {
		return (use_mem_token(c, &a->a_internal[at]));
	}
	if (mem_match(a->a_file, a->a_nfile, hash, &at)) {
		return (use_mem_token(c, &a->a_file[at]));
	}
	if (!token_parse(tok, id, &secret)) {
		return (unauthenticated(c, "invalid token"));
	}
	Svcfleet__V1__StoredToken *t = NULL;
	rv                           = token_get(c, id, &t);
	sha256(secret, strlen(secret), hash);
	if (rv == SF_NOT_FOUND
	    || (rv == 0
	        && (t->token == NULL || t->secret_hash.len != 32
	            || CRYPTO_memcmp(hash, t->secret_hash.data, 32) != 0))) {
		return (unauthenticated(c, "invalid token"));
	}
	if (rv != 0) {
		return (sf_status_set(
		    &c->c_status, rv, "reading the token failed"));
	}
	if (t->token->revoked) {
		return (unauthenticated(c, "the token has been revoked"));
	}
	if (t->token->expire_time_ms != 0
	    && t->token->expire_time_ms <= sf_clock_now_ms()) {
		return (unauthenticated(c, "the token has expired"));
	}
	c->c_ident.id_user     = t->token->user;
	c->c_ident.id_token_id = t->token->id;
	c->c_ident.id_groups   = (const char **) t->token->groups;
	c->c_ident.id_ngroups  = t->token->n_groups;
	return (attach_bindings(c, NULL));
}

int
sf__srv_auth_mint_internal(
    sf_server *srv, const char *user, const char *role, char *token)
{
	sf__srv_auth *a = srv->s_auth;
	char          id[SF__SRV_TOKEN_ID_LEN + 1];
	uint8_t       h[32];
	mem_token    *t;

	if (a->a_ninternal == INTERNAL_MAX) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	if (sf__srv_auth_token_make(token, id, h) != 0) {
		return (SF_INTERNAL);
	}
	t = &a->a_internal[a->a_ninternal];
	memset(t, 0, sizeof(*t));
	sha256(token, strlen(token), t->mt_hash);
	t->mt_user = strdup(user);
	t->mt_uid  = strdup("internal");
	t->mt_role = strdup(role);
	if (t->mt_user == NULL || t->mt_uid == NULL || t->mt_role == NULL) {
		mem_token_fini(t);
		return (SF_RESOURCE_EXHAUSTED);
	}
	a->a_ninternal++;
	return (0);
}

// ------------------------------------------------------- admin bootstrap

typedef struct boot_arg {
	Svcfleet__V1__StoredToken *token;
	Svcfleet__V1__RoleBinding *binding;
} boot_arg;

static int
boot_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	boot_arg *b = arg;
	int       rv;
	(void) st;

	b->token->token->create_time_ms = sf_store_txn_now_ms(txn);
	b->binding->create_time_ms      = sf_store_txn_now_ms(txn);
	if ((rv = sf_store_txn_record_put(txn, SF_STORE_TOKENS,
	         b->token->token->id, &b->token->base, true))
	        != 0
	    || (rv = sf_store_txn_record_put(txn, SF_STORE_BINDINGS,
	            b->binding->id, &b->binding->base, true))
	        != 0) {
		return (rv);
	}
	return (0);
}

static int
write_secret_file(const char *path, const char *token, sf_status *st)
{
	char tmp[4300];
	int  fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		return (sf_status_set(st, SF_INTERNAL, "cannot create %s: %s",
		    tmp, strerror(errno)));
	}
	size_t n = strlen(token);
	bool ok = write(fd, token, n) == (ssize_t) n && write(fd, "\n", 1) == 1
	    && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return (sf_status_set(st, SF_INTERNAL, "cannot write %s: %s",
		    path, strerror(errno)));
	}
	return (0);
}

// The id of the admin token an earlier start attempt of this process wrote
// to the store without learning whether it was stored (etcd did not answer
// in time; svcfleetd retries its start then). The next attempt finds the
// binding and, if that token is the stored one, says it created it: the
// operator looks for that line to find which replica holds the token.
static char boot_unsure_id[SF__SRV_TOKEN_ID_LEN + 1];

static int
boot_confirm(sf_server *srv, const char *path, sf_status *st)
{
	Svcfleet__V1__StoredToken *t = NULL;
	int                        rv;

	if (boot_unsure_id[0] == '\0') {
		return (0);
	}
	rv = sf_store_record_get(srv->s_store, SF_STORE_TOKENS, boot_unsure_id,
	    &svcfleet__v1__stored_token__descriptor, NULL,
	    (ProtobufCMessage **) &t);
	if (rv == 0) {
		SF_INFO("auth",
		    "no role bindings yet: created user \"admin\" and wrote "
		    "its token to %s (mode 0600; etcd confirmed it on a "
		    "retry); the CLI reads it from there",
		    path);
		protobuf_c_message_free_unpacked(&t->base, NULL);
	} else if (rv == SF_NOT_FOUND) {
		// Another replica's was stored: this file does not work.
		unlink(path);
		SF_INFO("auth",
		    "another svcfleetd replica created the admin token; it is "
		    "in that replica's data directory (its log says which)");
	} else {
		// Unknown still: the next attempt asks again.
		return (
		    sf_status_set(st, rv, "reading the admin token failed"));
	}
	boot_unsure_id[0] = '\0';
	return (0);
}

// On a store without any role binding (a first start, or one whose
// bindings were all removed), creates an admin token and binding and
// writes the token to <data-dir>/admin.token.
static int
bootstrap_admin(sf_server *srv, sf_status *st)
{
	char    token[SF__SRV_TOKEN_MAX], id[SF__SRV_TOKEN_ID_LEN + 1];
	char    path[4200];
	uint8_t hash[32];
	Svcfleet__V1__Token       t  = SVCFLEET__V1__TOKEN__INIT;
	Svcfleet__V1__StoredToken s  = SVCFLEET__V1__STORED_TOKEN__INIT;
	Svcfleet__V1__RoleBinding b  = SVCFLEET__V1__ROLE_BINDING__INIT;
	boot_arg                  ba = {&s, &b};
	ProtobufCMessage        **list;
	size_t                    n;
	int                       rv;

	rv = sf_store_record_list(srv->s_store, SF_STORE_BINDINGS,
	    &svcfleet__v1__role_binding__descriptor, NULL, &list, &n);
	if (rv != 0) {
		return (sf_status_set(st, rv, "reading role bindings failed"));
	}
	for (size_t i = 0; i < n; i++) {
		protobuf_c_message_free_unpacked(list[i], NULL);
	}
	free(list);
	snprintf(
	    path, sizeof(path), "%s/admin.token", srv->s_opts.so_data_dir);
	if (n > 0) {
		return (boot_confirm(srv, path, st));
	}
	boot_unsure_id[0] = '\0'; // not stored: this attempt starts anew
	if (sf__srv_auth_token_make(token, id, hash) != 0) {
		return (sf_status_set(
		    st, SF_INTERNAL, "no randomness for the admin token"));
	}
	t.id               = id;
	t.user             = ADMIN_USER;
	t.created_by       = "svcfleetd";
	t.source           = "store";
	s.token            = &t;
	s.secret_hash.data = hash;
	s.secret_hash.len  = sizeof(hash);
	b.id               = "admin";
	b.role             = "admin";
	b.user             = ADMIN_USER;
	b.created_by       = "svcfleetd";

	// The file first: a crash between the two leaves a token file that
	// does not work yet (the next start writes a new one), never a
	// working admin token nobody has.
	rv = write_secret_file(path, token, st);
	OPENSSL_cleanse(token, sizeof(token));
	if (rv != 0) {
		return (rv);
	}
	sf_store_write w = {.w_fn = boot_fn, .w_arg = &ba};
	if ((rv = sf_store_write_sync(srv->s_store, &w, NULL)) != 0) {
		if (rv == SF_ALREADY_EXISTS) {
			// Several replicas started on an empty etcd at once:
			// one transaction created the binding "admin", and
			// the file of that replica is the one that works.
			unlink(path);
			SF_INFO("auth",
			    "another svcfleetd replica created the admin "
			    "token at the same time; it is in that replica's "
			    "data directory (its log says which)");
			return (0);
		}
		if (rv == SF_UNAVAILABLE) {
			// The write may have been applied: the file stays,
			// so a working token never lacks its file, and the
			// next attempt says whether it was (boot_confirm).
			snprintf(
			    boot_unsure_id, sizeof(boot_unsure_id), "%s", id);
			return (sf_status_set(st, rv,
			    "creating the admin token failed (the store is "
			    "unavailable; %s is kept in case it was created)",
			    path));
		}
		unlink(path);
		return (
		    sf_status_set(st, rv, "creating the admin token failed"));
	}
	SF_INFO("auth",
	    "no role bindings yet: created user \"admin\" and wrote its token "
	    "to %s (mode 0600); the CLI reads it from there",
	    path);
	return (0);
}

// --------------------------------------------------------------- lifetime

int
sf__srv_auth_open(sf_server *srv, const char *token_file, sf_status *st)
{
	sf__srv_auth *a = calloc(1, sizeof(*a));
	int           rv;

	if (a == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	pthread_rwlock_init(&a->a_lock, NULL);
	pthread_mutex_init(&a->a_tok_mtx, NULL);
	a->a_shared = sf__srv_req_shared(srv);
	if (a->a_shared) {
		// Without it (out of memory) tokens are read every time.
		a->a_tok = calloc(TOKEN_SLOTS, sizeof(*a->a_tok));
	}
	srv->s_auth = a;
	if (token_file != NULL && token_file[0] != '\0'
	    && (rv = load_token_file(a, token_file, st)) != 0) {
		return (rv);
	}
	return (bootstrap_admin(srv, st));
}

void
sf__srv_auth_close(sf_server *srv)
{
	sf__srv_auth *a = srv->s_auth;
	if (a == NULL) {
		return;
	}
	for (size_t i = 0; i < a->a_nfile; i++) {
		mem_token_fini(&a->a_file[i]);
	}
	free(a->a_file);
	for (size_t i = 0; i < a->a_ninternal; i++) {
		mem_token_fini(&a->a_internal[i]);
	}
	free_bindings(a);
	pthread_rwlock_destroy(&a->a_lock);
	for (size_t i = 0; a->a_tok != NULL && i < TOKEN_SLOTS; i++) {
		free(a->a_tok[i].ts_packed);
	}
	free(a->a_tok);
	pthread_mutex_destroy(&a->a_tok_mtx);
	free(a);
	srv->s_auth = NULL;
}
