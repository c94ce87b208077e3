// recon_token.c: the credential of the reconciler that runs inside
// svcfleetd. It is minted at start-up and handed to the reconciler in
// memory (sf_server_reconciler_token), so the embedded reconciler needs no
// token file and nobody else can learn it.
#include <string.h>
#include <sys/random.h>

#include "internal.h"

int
sf_recon_token_mint(sf_server *srv)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char     b[32];

	if (getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b)) {
		return (SF_INTERNAL);
	}
	for (size_t i = 0; i < sizeof(b); i++) {
		srv->s_recon_token[2 * i]     = hex[b[i] >> 4];
		srv->s_recon_token[2 * i + 1] = hex[b[i] & 15];
	}
	srv->s_recon_token[2 * sizeof(b)] = '\0';
	explicit_bzero(b, sizeof(b));
	return (0);
}

bool
sf_recon_token_match(const sf_server *srv, const char *token)
{
	const char   *want = srv->s_recon_token;
	size_t        n    = strlen(want);
	unsigned char diff = 0;

	if (token == NULL || n == 0 || strlen(token) != n) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		diff |= (unsigned char) (want[i] ^ token[i]);
	}
	return (diff == 0);
}

const char *
sf_server_reconciler_token(const sf_server *srv)
{
	return (srv->s_recon_token);
}
