// auth.h: who is calling — bearer tokens (stored, from a static token
// file, or minted in memory for the embedded reconciler), the first
// start's admin token, and the role bindings that apply to a caller.
//
// Stored tokens look like "sfk_<id>_<secret>": the id (12 hex digits)
// names the record, the secret (32 random bytes, base64url) is kept only as
// its SHA-256 and compared in constant time. Tokens from --token-file
// (kube-apiserver's static CSV format) are kept in memory as hashes too.
#ifndef SF_SERVER_AUTH_H
#define SF_SERVER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct sf_server sf_server;
typedef struct sf_call   sf_call;
typedef struct sf_auth   sf_auth;

#define SF_TOKEN_ID_LEN     12
#define SF_TOKEN_SECRET_LEN 43
// "sfk_" id "_" secret, plus the NUL.
#define SF_TOKEN_MAX (4 + SF_TOKEN_ID_LEN + 1 + SF_TOKEN_SECRET_LEN + 1)

// sf_auth_open loads the static token file (NULL: none) and, when the store
// holds no role binding at all (a first start), creates the admin token and
// its binding and writes the token to <data-dir>/admin.token (mode 0600).
// Returns 0 or a code with st set (a malformed token file names the line).
int  sf_auth_open(sf_server *srv, const char *token_file, sf_status *st);
void sf_auth_close(sf_server *srv);

// sf_auth_authenticate finds the caller of c from its envelope's token and
// fills c->c_ident (memory from the call's arena). Returns 0 or
// SF_UNAUTHENTICATED with a reason in c->c_status.
int sf_auth_authenticate(sf_call *c);

// Handlers that change bindings or tokens call these so caches reload.
void sf_auth_bindings_changed(sf_server *srv);
void sf_auth_tokens_changed(sf_server *srv);

// sf_auth_token_make creates a token: the full token text into token
// (SF_TOKEN_MAX bytes), its id, and the SHA-256 of its secret. Returns 0
// or SF_INTERNAL when the OS has no randomness to give.
int sf_auth_token_make(
    char *token, char id[SF_TOKEN_ID_LEN + 1], uint8_t hash[32]);

// sf_auth_mint_internal registers an in-memory token (lost at exit) for a
// user holding role (global roles only: admin, reconciler) and writes it
// into token (SF_TOKEN_MAX bytes). The embedded reconciler uses it.
int sf_auth_mint_internal(
    sf_server *srv, const char *user, const char *role, char *token);

#endif // SF_SERVER_AUTH_H
