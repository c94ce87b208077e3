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

#include "clock.h"
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

#define IDLE_TIMEOUT_DEFAULT_MS 10000
#define IDLE_SWEEP_MS           250 // sweeps at most this often
#define IDLE_CLOSE_MAX          64  // per sweep

// idle_next_locked: how long the idle sweep should sleep, from now, until
// the first tracked connection that has not sent a request reaches
// so_idle_timeout_ms (at least IDLE_SWEEP_MS); -1 when there is none.
static int64_t
idle_next_locked(const sf_server *srv, int64_t now)
{
	int64_t first = -1;
	for (size_t i = 0; i < srv->s_npipes; i++) {
		int64_t due = srv->s_pipes[i].lp_since_ms
		    + srv->s_opts.so_idle_timeout_ms;
		if (!srv->s_pipes[i].lp_active && (first < 0 || due < first)) {
			first = due;
		}
	}
	if (first < 0) {
		return (-1);
	}
	return (first - now > IDLE_SWEEP_MS ? first - now : IDLE_SWEEP_MS);
}

static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	sf_server *srv = arg;
	uint32_t   id  = (uint32_t) nng_pipe_id(p);
	uint64_t   peer
	    = ev == NNG_PIPE_EV_ADD_PRE ? sf__srv_peer_key(p, NULL, 0) : 0;
	const char *why = NULL;
	int64_t     arm = -1;

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
			struct sf__srv_limits_pipe *lp
			    = &srv->s_pipes[srv->s_npipes++];
			lp->lp_id       = id;
			lp->lp_peer     = peer;
			lp->lp_since_ms = sf_clock_mono_ms();
			lp->lp_active   = false;
			// The sweep runs only while a connection may go idle
			// (i21-idle); this one starts it when it is not
			// running.
			if (!srv->s_idle_armed
			    && !atomic_load(&srv->s_stopping)) {
				srv->s_idle_armed = true;
				arm = idle_next_locked(srv, lp->lp_since_ms);
			}
		}
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		pipes_take(srv, id);
	}
	pthread_mutex_unlock(&srv->s_pipe_mtx);
	if (arm >= 0) {
		nng_sleep_aio((nng_duration) arm, srv->s_idle_aio);
	}
	if (why != NULL) {
		atomic_fetch_add(&srv->s_refused_conns, 1);
		// Debug level: a flood of refusals must not flood the log.
		SF_DEBUG("limits", "connection refused (limit %s)", why);
		nng_pipe_close(p);
	}
}

void
sf__srv_limits_active(sf_server *srv, nng_pipe p)
{
	uint32_t id = (uint32_t) nng_pipe_id(p);
	pthread_mutex_lock(&srv->s_pipe_mtx);
	for (size_t i = 0; i < srv->s_npipes; i++) {
		if (srv->s_pipes[i].lp_id == id) {
			srv->s_pipes[i].lp_active = true;
			break;
		}
	}
	pthread_mutex_unlock(&srv->s_pipe_mtx);
}

// The idle sweep (issue 17, finding 6): connections that came and never
// sent a request are closed after so_idle_timeout_ms, so idle peers
// cannot hold every --max-connections place. Runs on nng's timer, and
// (i21-idle) only while some tracked connection has not sent a request:
// it sleeps until the first of them is due and stops when there is none
// (s_idle_armed; the next connection starts it again). It used to run
// every 250 ms for ever, and each expiry of an nng timer makes nng
// 1.5.2's expire thread spin for up to a millisecond (its loop waits
// for the clock to pass the deadline, not reach it): most of an idle
// svcfleetd's CPU.
static void
idle_cb(void *arg)
{
	sf_server *srv = arg;
	uint32_t   ids[IDLE_CLOSE_MAX];
	size_t     n   = 0;
	int64_t    now = sf_clock_mono_ms();
	int64_t    next;

	if (nng_aio_result(srv->s_idle_aio) != 0
	    || atomic_load(&srv->s_stopping)) {
		// Stopped (or failed): the next connection starts it again.
		pthread_mutex_lock(&srv->s_pipe_mtx);
		srv->s_idle_armed = false;
		pthread_mutex_unlock(&srv->s_pipe_mtx);
		return;
	}
	pthread_mutex_lock(&srv->s_pipe_mtx);
	for (size_t i = 0; i < srv->s_npipes && n < IDLE_CLOSE_MAX; i++) {
		if (!srv->s_pipes[i].lp_active
		    && now - srv->s_pipes[i].lp_since_ms
		        >= srv->s_opts.so_idle_timeout_ms) {
			ids[n++] = srv->s_pipes[i].lp_id;
		}
	}
	// The ones just closed count until their REM_POST: the sweep after
	// them finds them gone (or closes them again).
	next              = idle_next_locked(srv, now);
	srv->s_idle_armed = next >= 0;
	pthread_mutex_unlock(&srv->s_pipe_mtx);
	for (size_t i = 0; i < n; i++) {
		nng_pipe p = NNG_PIPE_INITIALIZER;
		p.id       = ids[i];
		atomic_fetch_add(&srv->s_idle_closed, 1);
		SF_DEBUG("limits", "closing a connection idle since it came");
		nng_pipe_close(p);
	}
	if (next >= 0) {
		nng_sleep_aio((nng_duration) next, srv->s_idle_aio);
	}
}

int
sf__srv_limits_start(sf_server *srv, sf_status *st)
{
	if (srv->s_opts.so_idle_timeout_ms <= 0) {
		srv->s_opts.so_idle_timeout_ms = IDLE_TIMEOUT_DEFAULT_MS;
	}
	if (nng_aio_alloc(&srv->s_idle_aio, idle_cb, srv) != 0) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
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
	if (srv->s_idle_aio != NULL) {
		nng_aio_stop(srv->s_idle_aio);
		nng_aio_free(srv->s_idle_aio);
		srv->s_idle_aio = NULL;
	}
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
