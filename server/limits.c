// limits.c: how much svcfleetd takes on at once, so that overload gets a
// quick RESOURCE_EXHAUSTED instead of growing memory or wedging the server.
//
// What is bounded, and where:
//   connections  --max-connections: a TCP/TLS pipe beyond it is closed as
//                it arrives (nng's ADD_PRE notification; ipc:// peers are
//                the owner's own processes and are not counted). Each
//                connection may buffer at most one request of the wire limit,
//                so this bounds what peers can make the server hold. And
//                --max-connections-per-peer for one IP address (default
//                a quarter), so one hostile host cannot take them all.
//   long polls   --max-watches: parked WatchServices calls (watch.c); one
//                beyond gets RESOURCE_EXHAUSTED, so watches can never take
//                every context and starve other callers.
//   requests     --max-inflight: requests received and not yet answered,
//                parked long polls not counted. One beyond is answered
//                RESOURCE_EXHAUSTED from the receive callback, before it
//                is decoded or queued for a worker.
//   contexts     --contexts bounds all of the above together. The defaults
//                keep max-watches + max-inflight below it, so some contexts
//                are always free to receive a request and refuse it.
//   store queue  the writer's queue (store.h so_queue_max); a write beyond
//                it is refused with RESOURCE_EXHAUSTED.
//   dedupe       entries and bytes of remembered replies (dedupe.c).
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "log.h"

#define CONNECTIONS_DEFAULT 1024
#define CONTEXTS_RESERVE    8

void
sf__srv_limits_defaults(sf_server_opts *o)
{
	unsigned ctx = o->so_contexts;

	if (o->so_max_connections == 0) {
		o->so_max_connections = CONNECTIONS_DEFAULT;
	}
	if (o->so_max_connections_per_peer == 0) {
		o->so_max_connections_per_peer = o->so_max_connections / 4;
	}
	if (o->so_max_connections_per_peer == 0) {
		o->so_max_connections_per_peer = 1;
	}
	if (o->so_max_watches == 0) {
		o->so_max_watches = ctx / 2;
	}
	if (o->so_max_watches >= ctx) {
		o->so_max_watches = ctx > 1 ? ctx - 1 : 1;
	}
	if (o->so_max_watches_per_user == 0) {
		o->so_max_watches_per_user
		    = o->so_max_watches / 4 > 0 ? o->so_max_watches / 4 : 1;
	}
	if (o->so_max_inflight == 0) {
		o->so_max_inflight = ctx > o->so_max_watches + CONTEXTS_RESERVE
		    ? ctx - o->so_max_watches - CONTEXTS_RESERVE
		    : 1;
	}
}

// Connections are counted by pipe id: a pipe closed in ADD_PRE may or may
// not be reported again at REM_POST, so only the ones counted are
// uncounted. Each also remembers its peer's address (a key; 0 for ipc://
// and inproc://, whose peers are local and not limited per address).
static bool
pipes_take(sf_server *srv, uint32_t id)
{
	for (size_t i = 0; i < srv->s_npipes; i++) {
		if (srv->s_pipes[i].lp_id == id) {
			srv->s_pipes[i] = srv->s_pipes[--srv->s_npipes];
			return (true);
		}
	}
	return (false);
}

// A key for the peer's IP address (port left out), 0 when not IP; text
// (when not NULL) gets the address as people write it, or "local".
uint64_t
sf__srv_peer_key(nng_pipe p, char *text, size_t cap)
{
	nng_sockaddr sa;
	uint64_t     k = 0;

	if (text != NULL) {
		snprintf(text, cap, "local");
	}
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0) {
		return (0);
	}
	switch (sa.s_family) {
	case NNG_AF_INET:
		if (text != NULL) {
			inet_ntop(
			    AF_INET, &sa.s_in.sa_addr, text, (socklen_t) cap);
		}
		return (((uint64_t) 4 << 56) | sa.s_in.sa_addr);
	case NNG_AF_INET6:
		if (text != NULL) {
			inet_ntop(
			    AF_INET6, sa.s_in6.sa_addr, text, (socklen_t) cap);
		}
		// FNV-1a over the 16 bytes; collisions only merge two
		// addresses' counts.
		k = 1469598103934665603ULL;
		for (int i = 0; i < 16; i++) {
			k ^= sa.s_in6.sa_addr[i];
			k *= 1099511628211ULL;
		}
		return (k | 1);
	default:
		return (0);
	}
}

static size_t
count_peer(sf_server *srv, uint64_t peer)
{
	size_t n = 0;
	for (size_t i = 0; i < srv->s_npipes; i++) {
		n += srv->s_pipes[i].lp_peer == peer;
	}
	return (n);
}

static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	sf_server *srv = arg;
	uint32_t   id  = (uint32_t) nng_pipe_id(p);
	uint64_t   peer
	    = ev == NNG_PIPE_EV_ADD_PRE ? sf__srv_peer_key(p, NULL, 0) : 0;
	const char *why = NULL;

	if (ev == NNG_PIPE_EV_ADD_PRE && peer == 0) {
		// ipc:// and inproc:// peers are local, and the ipc socket is
		// the owner's only (mode 0600 in a 0700 directory): not
		// limited. (Closing an ipc pipe here also provokes nng 1.5.2's
		// listener wedge that ipcguard.c works around.)
		atomic_fetch_add(&srv->s_local_pipes, 1);
		return;
	}
	pthread_mutex_lock(&srv->s_pipe_mtx);
	if (ev == NNG_PIPE_EV_ADD_PRE) {
		if (srv->s_npipes >= srv->s_opts.so_max_connections) {
			why = "--max-connections";
		} else if (peer != 0
		    && count_peer(srv, peer)
		        >= srv->s_opts.so_max_connections_per_peer) {
			why = "--max-connections-per-peer";
		} else {
			srv->s_pipes[srv->s_npipes].lp_id   = id;
			srv->s_pipes[srv->s_npipes].lp_peer = peer;
			srv->s_npipes++;
		}
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		pipes_take(srv, id);
	}
	pthread_mutex_unlock(&srv->s_pipe_mtx);
	if (why != NULL) {
		atomic_fetch_add(&srv->s_refused_conns, 1);
		// Debug level: a flood of refusals must not flood the log.
		SF_DEBUG("limits", "connection refused (limit %s)", why);
		nng_pipe_close(p);
	}
}

int
sf__srv_limits_start(sf_server *srv, sf_status *st)
{
	srv->s_pipes
	    = calloc(srv->s_opts.so_max_connections, sizeof(*srv->s_pipes));
	if (srv->s_pipes == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	pthread_mutex_init(&srv->s_pipe_mtx, NULL);
	srv->s_pipe_mtx_ok = true;
	if (sf__srv_authfail_init(srv) != 0) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	if (nng_pipe_notify(srv->s_sock, NNG_PIPE_EV_ADD_PRE, pipe_cb, srv)
	        != 0
	    || nng_pipe_notify(srv->s_sock, NNG_PIPE_EV_REM_POST, pipe_cb, srv)
	        != 0) {
		return (sf_status_set(st, SF_INTERNAL,
		    "cannot watch connections on the RPC socket"));
	}
	return (0);
}

void
sf__srv_limits_stop(sf_server *srv)
{
	sf__srv_authfail_fini(srv);
	if (srv->s_pipe_mtx_ok) {
		pthread_mutex_destroy(&srv->s_pipe_mtx);
		srv->s_pipe_mtx_ok = false;
	}
	free(srv->s_pipes);
	srv->s_pipes = NULL;
}

bool
sf__srv_limits_admit(sf_server *srv)
{
	uint64_t busy = atomic_load(&srv->s_inflight);
	uint64_t park = atomic_load(&srv->s_parked);
	if (busy - (park < busy ? park : busy) < srv->s_opts.so_max_inflight) {
		return (true);
	}
	atomic_fetch_add(&srv->s_refused_busy, 1);
	return (false);
}
