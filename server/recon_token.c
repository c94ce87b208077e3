// recon_token.c: the credential of the reconciler that runs inside
// svcfleetd. It is minted at start-up as an in-memory token of the
// built-in identity "system:svcfleet-reconciler" with the reconciler role
// (auth.c) and handed to the reconciler in memory
// (sf_server_reconciler_token), so the embedded reconciler needs no token
// file and nobody else can learn it.
#include <string.h>

#include "internal.h"

#define RECONCILER_USER "system:svcfleet-reconciler"

_Static_assert(sizeof(((sf_server *) 0)->s_recon_token) >= SF__SRV_TOKEN_MAX,
    "s_recon_token holds a token");

int
sf__srv_recon_token_mint(sf_server *srv)
{
	return (sf__srv_auth_mint_internal(
	    srv, RECONCILER_USER, "reconciler", srv->s_recon_token));
}

const char *
sf_server_reconciler_token(const sf_server *srv)
{
	return (srv->s_recon_token);
}
