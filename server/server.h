// server.h: svcfleetd's server — nng REP listeners, a pool of contexts
// and worker threads, the method table built from svcfleet.proto's service
// descriptors, and the handlers on top of the store.
#ifndef SF_SERVER_H
#define SF_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ops.h"
#include "status.h"
#include "store.h"

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
	// i19: keep the reconciler's successful status and health reports
	// in the audit log too (off: they are only counted in metrics).
	bool so_audit_system_reports;
	// i19: generations of each Service's spec kept, 0 = 20 (at most 1000).
	uint32_t so_history_keep;
	// The key sealing cluster credentials in the store (secrets.c);
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
	// (issue 17) Parked long polls of one user, 0 = a quarter of
	// so_max_watches (at least 1). The reconciler's are not counted:
	// an eighth of so_max_watches is kept for it.
	unsigned so_max_watches_per_user;
	// (i17-rate) Bytes a second of one user's large requests (over 16
	// KiB) the server reads on, 0 = SF_SERVER_BULK_RATE_DEFAULT, < 0 = no
	// limit. A user may send so_max_msg (or a second's worth, if more) at
	// once; beyond that its large requests wait their turn. The
	// reconciler's are not counted.
	int64_t so_bulk_rate;
	// (issue 17) A TCP/TLS connection that has sent no request this long
	// after it came is closed, 0 = 10 s.
	int64_t so_idle_timeout_ms;

	// Several replicas on etcd (issue 15, DESIGN.md §9). so_store:
	// "lmdb" (NULL/"": the default) or "etcd"; with etcd every record is
	// in the etcd cluster at so_etcd_endpoints and so_data_dir holds only
	// local files (admin.token of the replica that bootstrapped, the
	// default ipc:// socket, the secret key unless placed elsewhere).
	const char *so_store;
	const char *so_etcd_endpoints;  // "https://10.0.0.1:2379,..."
	const char *so_etcd_ca_file;    // PEM CA (NULL: the system's)
	const char *so_etcd_cert_file;  // client certificate, or NULL
	const char *so_etcd_key_file;   // its key, or NULL
	const char *so_etcd_prefix;     // NULL = "/svcfleet/"
	int32_t     so_etcd_timeout_ms; // one request to one member, 0 = 2000
	// etcd's --max-request-bytes, 0 = 1.5 MiB (its default).
	uint32_t so_etcd_max_request_bytes;
} sf_server_opts;

#define SF_SERVER_BULK_RATE_DEFAULT (8 << 20)

// The hard cap nng enforces per message; requests between so_max_msg and
// this get RESOURCE_EXHAUSTED, bigger ones are dropped by nng.
#define SF_SERVER_WIRE_MAX (64u << 20)

// sf_server_start opens the store and starts listening. On failure it
// returns the code with a message in st and *out is NULL.
int sf_server_start(sf_server **out, const sf_server_opts *o, sf_status *st);

// sf_server_opts_defaults (issue 20) fills what o leaves at 0 with the
// values sf_server_start would use, the derived ones included (contexts,
// workers, max-connections-per-peer, max-watches, max-inflight, watches
// per user): what `svcfleetd --check-config` prints.
void sf_server_opts_defaults(sf_server_opts *o);

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

// sf_server_store_health says whether the store can serve now: on etcd
// the last probe of a thread that reads from etcd every 500 ms (quorum
// lost, no member answering: false, with the reason in why); on LMDB
// always true. Quick: for /readyz.
bool sf_server_store_health(sf_server *srv, sf_buf *why);

// sf_server_ready says whether the server can serve requests (the store
// is open and it is not shutting down); when not, why says why. For the
// /readyz check (the shape of ops.h's sf_http_check_fn).
bool sf_server_ready(sf_server *srv, sf_buf *why);

// ----------------------------------------------------------------------
// The secret key (secrets.c): the key that seals cluster credentials at
// rest — its file (--secret-key-file), and the offline rotation command
// `svcfleetd rotate-secret-key`. The sealing itself is the store's
// (store/lmdb_secrets.c); this is where the key comes from.

// The key file holds the 32-byte key in base64 on one line (as Kubernetes'
// EncryptionConfiguration secrets do), e.g. from
//   head -c 32 /dev/urandom | base64 > key; chmod 600 key
#define SF_SECRET_KEY_FILE_DEFAULT "secret.key" // inside the data directory

// sf_secret_key_path returns the key file to use: path when set, else
// DATA-DIR/secret.key. The result is malloc'd.
char *sf_secret_key_path(const char *path, const char *data_dir);

// sf_secret_key_load reads the key from path. When the file does not
// exist and create is true, a new random key is written there first (mode
// 0600, created exclusively, synced; missing parent directories are made
// with mode 0700) and *created is set. Errors name the file: NOT_FOUND,
// INVALID_ARGUMENT (not 32 bytes of base64), PERMISSION_DENIED, ...
int sf_secret_key_load(const char *path, bool create,
    uint8_t key[SF_STORE_SECRET_KEY_LEN], bool *created, sf_status *st);

// sf_secrets_rotate_main runs `svcfleetd rotate-secret-key` (argv[0] is
// "rotate-secret-key"); returns the process exit code.
int sf_secrets_rotate_main(int argc, char **argv);

#endif // SF_SERVER_H
