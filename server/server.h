// server.h: svcfleetd's server — nng REP listeners, a pool of contexts
// and worker threads, the method table built from svcfleet.proto's service
// descriptors, and the handlers on top of the store.
#ifndef SF_SERVER_H
#define SF_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "metrics.h"
#include "status.h"

typedef struct sf_server sf_server;

typedef struct sf_server_opts {
	const char        *so_data_dir; // store location (created 0700)
	const char *const *so_listen;   // URLs; NULL/0 = the defaults
	size_t             so_nlisten;
	unsigned           so_contexts;    // REP contexts (max requests in
	                                   // flight incl. long polls), 0 = 256
	unsigned    so_workers;            // handler threads, 0 = 4
	size_t      so_max_msg;            // request size limit, 0 = 4 MiB
	uint32_t    so_default_timeout_ms; // 0 = 30000
	bool        so_nosync;             // benchmarks/tests only
	uint64_t    so_map_size;           // first LMDB map size, 0 = store's
	uint32_t    so_feed_keep;          // change-feed entries, 0 = store's
	uint32_t    so_batch_max;          // writes per commit, 0 = store's
	const char *so_tls_cert;           // PEM certificate (chain) file for
	const char *so_tls_key;            // tls+tcp:// listeners, and its key
	const char *so_token_file;         // kube-apiserver static token CSV
	uint64_t    so_audit_keep;         // audit events kept, 0 = store's
	int64_t     so_audit_max_age_ms;   // 0 = store's
	// The key sealing cluster credentials in the store (secrets.h);
	// NULL = DATA-DIR/secret.key. Created (0600) when absent.
	const char *so_secret_key_file;
	// Bounds (limits.c); 0 = the default.
	unsigned so_max_connections;          // open connections, 0 = 1024
	unsigned so_max_connections_per_peer; // from one IP, 0 = a quarter
	unsigned so_max_watches;  // parked long polls, 0 = contexts / 2
	unsigned so_max_inflight; // other requests in flight,
	                          // 0 = contexts - max_watches - 8
	size_t so_dedupe_bytes;   // remembered write replies, 0 = 64 MiB
	// Where the server registers its metrics (RPC, store, clusters);
	// borrowed until sf_server_stop. NULL: no metrics.
	sf_metrics *so_metrics;
	// An extra inproc:// listener for the reconciler embedded in the
	// same process (NULL: none). It comes on top of so_listen or the
	// defaults.
	const char *so_inproc;
} sf_server_opts;

// The hard cap nng enforces per message; requests between so_max_msg and
// this get RESOURCE_EXHAUSTED, bigger ones are dropped by nng.
#define SF_SERVER_WIRE_MAX (64u << 20)

// sf_server_start opens the store and starts listening. On failure it
// returns the code with a message in st and *out is NULL.
int sf_server_start(sf_server **out, const sf_server_opts *o, sf_status *st);

// sf_server_stop stops accepting, finishes in-flight requests, closes the
// store and frees the server. NULL is fine.
void sf_server_stop(sf_server *srv);

// sf_server_reconciler_token returns the bearer token of the reconciler
// embedded in this process: random, minted when the server starts, kept
// only in memory, never written anywhere; valid until sf_server_stop.
// Authentication treats it as the credential of the built-in reconciler
// identity (role `reconciler`).
const char *sf_server_reconciler_token(const sf_server *srv);

// sf_server_urls returns the URLs actually listened on (tcp port 0
// resolved), valid until stop.
const char *const *sf_server_urls(const sf_server *srv, size_t *n);

// sf_server_ready says whether the server can serve requests (the store
// is open and it is not shutting down); when not, why says why. For the
// /readyz check (http.h's sf_http_check_fn shape).
bool sf_server_ready(sf_server *srv, sf_buf *why);

#endif // SF_SERVER_H
