// rpc.h: the RPC engine's entry points for server.c.
#ifndef SF_SERVER_RPC_H
#define SF_SERVER_RPC_H

#include "internal.h"

// sf_rpc_start opens the contexts on srv->s_sock and starts the workers.
int sf_rpc_start(sf_server *srv, sf_status *st);
// sf_rpc_drain waits (at most max_ms) until no request is in flight.
void sf_rpc_drain(sf_server *srv, int64_t max_ms);
// sf_rpc_stop stops the workers, stops every context's aio, closes the
// socket, and frees the contexts.
void sf_rpc_stop(sf_server *srv);

#endif // SF_SERVER_RPC_H
