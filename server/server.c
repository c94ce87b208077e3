// server.c: start and stop svcfleetd's RPC server.
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "file.h"
#include "internal.h"
#include "log.h"
#include "nng_status.h"
#include "server.h"

#define DEDUPE_ENTRIES 16384
#define DEDUPE_TTL_MS  (10 * 60 * 1000)
#define DEDUPE_BYTES   (64u << 20)
#define DRAIN_MAX_MS   10000
#define PEM_MAX        (1 << 20) // certificate and key files

_Atomic int64_t sf__srv_drain_max_ms = DRAIN_MAX_MS;

// Gives a tls+tcp:// listener its certificate and key.
static int
setup_tls(sf_server *srv, nng_listener l, const char *url, sf_status *st)
{
	const char *cf = srv->s_opts.so_tls_cert, *kf = srv->s_opts.so_tls_key;
	nng_tls_config *cfg;
	char           *cert, *key;
	size_t          keylen;
	int             rv;

	if (cf == NULL || kf == NULL || cf[0] == '\0' || kf[0] == '\0') {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "%s needs --tls-cert and --tls-key", url));
	}
	if ((cert = sf_file_read(cf, PEM_MAX, NULL)) == NULL) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "cannot read --tls-cert %s: %s", cf, strerror(errno)));
	}
	if ((key = sf_file_read(kf, PEM_MAX, &keylen)) == NULL) {
		free(cert);
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "cannot read --tls-key %s: %s", kf, strerror(errno)));
	}
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) == 0) {
		if ((rv = nng_tls_config_own_cert(cfg, cert, key, NULL))
		    == 0) {
			rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
		}
		nng_tls_config_free(cfg);
	}
	// The key stays in memory no longer than needed.
	explicit_bzero(key, keylen);
	free(key);
	free(cert);
	if (rv != 0) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "cannot use --tls-cert %s / --tls-key %s: %s", cf, kf,
		    nng_strerror(rv)));
	}
	return (0);
}

int
sf__srv_listener_open(
    sf_server *srv, const char *url, nng_listener *out, sf_status *st)
{
	nng_listener l;
	int          rv;

	if ((rv = nng_listener_create(&l, srv->s_sock, url)) != 0) {
		return (sf_status_set(st, sf_status_from_nng(rv),
		    "cannot listen on %s: %s", url, nng_strerror(rv)));
	}
	nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, SF_SERVER_WIRE_MAX);
	if (strncmp(url, "ipc://", 6) == 0) {
		// Only the owner may connect; the directory is 0700 too.
		nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600);
	}
	if (strncmp(url, "tls+tcp://", 10) == 0
	    && (rv = setup_tls(srv, l, url, st)) != 0) {
		nng_listener_close(l);
		return (rv);
	}
	if ((rv = nng_listener_start(l, 0)) != 0) {
		nng_listener_close(l);
		return (sf_status_set(st, sf_status_from_nng(rv),
		    "cannot listen on %s: %s", url, nng_strerror(rv)));
	}
	*out = l;
	return (0);
}

static int
listen_one(sf_server *srv, const char *url, sf_status *st)
{
	nng_listener l;
	int          rv;
	char        *bound;

	if ((rv = sf__srv_listener_open(srv, url, &l, st)) != 0) {
		return (rv);
	}
	bound = strdup(url);
	if (strncmp(url, "tcp://", 6) == 0
	    || strncmp(url, "tls+tcp://", 10) == 0) {
		int   port  = 0;
		char *colon = strrchr(bound, ':');
		if (colon != NULL && strcmp(colon, ":0") == 0
		    && nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port)
		        == 0) {
			*colon = '\0';
			char *b2;
			if (asprintf(&b2, "%s:%d", bound, port) >= 0) {
				free(bound);
				bound = b2;
			}
		}
	}
	nng_listener *nl
	    = realloc(srv->s_listeners, (srv->s_nlisteners + 1) * sizeof(*nl));
	char **nu
	    = realloc(srv->s_urls, (srv->s_nlisteners + 2) * sizeof(*nu));
	if (nl != NULL) {
		srv->s_listeners = nl;
	}
	if (nu != NULL) {
		srv->s_urls = nu;
	}
	if (nl == NULL || nu == NULL || bound == NULL) {
		free(bound);
		nng_listener_close(l);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	srv->s_listeners[srv->s_nlisteners] = l;
	srv->s_urls[srv->s_nlisteners++]    = bound;
	srv->s_urls[srv->s_nlisteners]      = NULL;
	if (strncmp(bound, "inproc://", 9) == 0) {
		SF_INFO("server",
		    "in-process endpoint %s (embedded reconciler)", bound);
	} else {
		SF_INFO("server", "listening on %s", bound);
	}
	return (0);
}

// open_store opens the store with the secret key from its file (made
// when absent; a key made for a store that turns out to need another is
// removed again).
static int
open_store(sf_server *srv, sf_store_opts *so, sf_status *st)
{
	uint8_t key[SF_STORE_SECRET_KEY_LEN];
	bool    created = false;
	char   *path    = sf_secret_key_path(
	         srv->s_opts.so_secret_key_file, srv->s_opts.so_data_dir);
	int rv;

	if (path == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	if ((rv = sf_secret_key_load(path, true, key, &created, st)) != 0) {
		free(path);
		return (rv);
	}
	so->so_secret_key = key;
	sf__srv_page_key_derive(srv, key, sizeof(key)); // issue 17
	rv = sf_store_open_backend(
	    srv->s_opts.so_store, &srv->s_store, so, st);
	so->so_secret_key = NULL;
	OPENSSL_cleanse(key, sizeof(key));
	if (rv != 0 && created) {
		unlink(path);
	} else if (created) {
		SF_INFO("secrets",
		    "created secret key file %s (mode 0600): it seals the "
		    "cluster credentials in the store; keep a copy apart from "
		    "the data directory's backups",
		    path);
	}
	free(path);
	return (rv);
}

// On etcd the data directory holds only local files (admin.token, the
// default ipc:// socket): made here (mode 0700, parents too), as the LMDB
// store makes its own.
static int
make_data_dir(const char *dir, sf_status *st)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/", dir);
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/') {
			continue;
		}
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			return (sf_status_set(st, SF_FAILED_PRECONDITION,
			    "cannot create the data directory %s: %s", path,
			    strerror(errno)));
		}
		*p = '/';
	}
	return (0);
}

void
sf_server_opts_defaults(sf_server_opts *o)
{
	if (o->so_data_dir == NULL) {
		o->so_data_dir = "./svcfleet-data";
	}
	if (o->so_contexts == 0) {
		o->so_contexts = 256;
	}
	if (o->so_workers == 0) {
		o->so_workers = 4;
	}
	if (o->so_max_msg == 0) {
		o->so_max_msg = 4u << 20;
	}
	if (o->so_max_msg > SF_SERVER_WIRE_MAX) {
		o->so_max_msg = SF_SERVER_WIRE_MAX;
	}
	if (o->so_default_timeout_ms == 0) {
		o->so_default_timeout_ms = 30000;
	}
	if (o->so_bulk_rate == 0) {
		o->so_bulk_rate = SF_SERVER_BULK_RATE_DEFAULT;
	}
	if (o->so_dedupe_bytes == 0) {
		o->so_dedupe_bytes = DEDUPE_BYTES;
	}
	sf__srv_limits_defaults(o);
}

int
sf_server_start(sf_server **out, const sf_server_opts *o, sf_status *st)
{
	sf_server    *srv;
	sf_store_opts so = {0};
	int           rv;
	char          ipc_default[4200];

	*out = NULL;
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	srv->s_opts     = *o;
	srv->s_start_ms = sf_clock_now_ms();
	sf_server_opts_defaults(&srv->s_opts);

	so.so_dir                    = srv->s_opts.so_data_dir;
	so.so_nosync                 = srv->s_opts.so_nosync;
	so.so_map_size               = srv->s_opts.so_map_size;
	so.so_feed_keep              = srv->s_opts.so_feed_keep;
	so.so_batch_max              = srv->s_opts.so_batch_max;
	so.so_audit_keep             = srv->s_opts.so_audit_keep;
	so.so_audit_max_age_ms       = srv->s_opts.so_audit_max_age_ms;
	so.so_etcd_endpoints         = srv->s_opts.so_etcd_endpoints;
	so.so_etcd_ca_file           = srv->s_opts.so_etcd_ca_file;
	so.so_etcd_cert_file         = srv->s_opts.so_etcd_cert_file;
	so.so_etcd_key_file          = srv->s_opts.so_etcd_key_file;
	so.so_etcd_prefix            = srv->s_opts.so_etcd_prefix;
	so.so_etcd_timeout_ms        = srv->s_opts.so_etcd_timeout_ms;
	so.so_etcd_max_request_bytes = srv->s_opts.so_etcd_max_request_bytes;
	if (srv->s_opts.so_store != NULL
	    && strcmp(srv->s_opts.so_store, "etcd") == 0
	    && (rv = make_data_dir(srv->s_opts.so_data_dir, st)) != 0) {
		free(srv);
		return (rv);
	}
	if ((rv = open_store(srv, &so, st)) != 0) {
		free(srv);
		return (rv);
	}
	sf__srv_live_init(srv);
	sf__srv_handlers_services_init(srv);
	sf__srv_handlers_clusters_init(srv);
	sf__srv_handlers_access_init(srv);
	sf__srv_handlers_system_init(srv);
	sf__srv_handlers_fleet_init(srv); // FleetService (issue 18)
	// i18-addr: every stored FleetService's addresses are claimed.
	if ((rv = sf__srv_fleet_addrs_backfill(srv, st)) != 0) {
		goto fail;
	}
	// i18-plan: and every stored plain Service's.
	if ((rv = sf__srv_svc_addrs_backfill(srv, st)) != 0) {
		goto fail;
	}
	if ((rv = sf__srv_methods_init(srv, st)) != 0
	    || (rv = sf__srv_auth_open(srv, srv->s_opts.so_token_file, st))
	        != 0) {
		goto fail;
	}
	if ((rv = sf__srv_recon_token_mint(srv)) != 0) {
		rv = sf_status_set(
		    st, rv, "cannot make the embedded reconciler's token");
		goto fail;
	}
	srv->s_dedupe = sf__srv_dedupe_alloc(
	    DEDUPE_ENTRIES, srv->s_opts.so_dedupe_bytes, DEDUPE_TTL_MS);
	if (srv->s_dedupe == NULL || sf__srv_req_init(srv) != 0
	    || sf__srv_metrics_init(srv) != 0 || sf__srv_watch_init(srv) != 0
	    || sf__srv_claims_init(srv) != 0) {
		rv = sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL);
		goto fail;
	}
	if ((rv = nng_rep0_open(&srv->s_sock)) != 0) {
		rv = sf_status_set(st, sf_status_from_nng(rv),
		    "cannot open the RPC socket: %s", nng_strerror(rv));
		goto fail;
	}
	srv->s_sock_open = true;
	nng_socket_set_size(
	    srv->s_sock, NNG_OPT_RECVMAXSZ, SF_SERVER_WIRE_MAX);
	if ((rv = sf__srv_limits_start(srv, st)) != 0
	    || (rv = sf__srv_rpc_start(srv, st)) != 0) {
		goto fail;
	}
	if (srv->s_opts.so_nlisten == 0) {
		snprintf(ipc_default, sizeof(ipc_default),
		    "ipc://%s/svcfleet.sock", srv->s_opts.so_data_dir);
		const char *defaults[] = {ipc_default, "tcp://127.0.0.1:7070"};
		for (size_t i = 0; i < 2; i++) {
			if ((rv = listen_one(srv, defaults[i], st)) != 0) {
				goto fail;
			}
		}
	} else {
		for (size_t i = 0; i < srv->s_opts.so_nlisten; i++) {
			rv = listen_one(srv, srv->s_opts.so_listen[i], st);
			if (rv != 0) {
				goto fail;
			}
		}
	}
	if (srv->s_opts.so_inproc != NULL
	    && (rv = listen_one(srv, srv->s_opts.so_inproc, st)) != 0) {
		goto fail;
	}
	if (sf__srv_health_start(srv) != 0) {
		rv = sf_status_set(st, SF_RESOURCE_EXHAUSTED,
		    "cannot start the store's health probe");
		goto fail;
	}
	// FleetService (issue 18): the placement loop.
	if (sf__srv_fleet_loop_start(srv) != 0) {
		rv = sf_status_set(st, SF_RESOURCE_EXHAUSTED,
		    "cannot start the FleetService placement loop");
		goto fail;
	}
	if (sf__srv_ipcguard_start(srv) != 0) {
		rv = sf_status_set(st, SF_RESOURCE_EXHAUSTED,
		    "cannot start the ipc listener guard");
		goto fail;
	}
	*out = srv;
	return (0);

fail:
	sf_server_stop(srv);
	return (rv);
}

void
sf_server_stop(sf_server *srv)
{
	if (srv == NULL) {
		return;
	}
	// New requests are refused; parked long polls are answered; what is
	// in flight (writes waiting for their commit) finishes and is
	// answered; then the socket closes.
	atomic_store(&srv->s_draining, true);
	sf__srv_fleet_loop_stop(srv); // FleetService (issue 18)
	sf__srv_ipcguard_stop(srv);
	sf__srv_health_stop(srv);
	sf__srv_watch_fini(srv);
	if (srv->s_ctxs != NULL) {
		sf__srv_rpc_drain(srv, atomic_load(&sf__srv_drain_max_ms));
	}
	// A live read's thread outlives its call by a little; it must be
	// done before the contexts (and the server) go.
	sf__srv_live_fini(srv);
	sf__srv_rpc_stop(srv); // no handler runs after this
	// Writes still queued when the drain gave up (an etcd without quorum,
	// a writer held) are finished or failed by the close, and answered
	// through the contexts, the socket and what their done callbacks use
	// (metrics, auth, claims, watches), all still there: closing the
	// store after them sent those answers through freed contexts.
	if (atomic_load(&srv->s_inflight) > 0) {
		SF_WARN("server",
		    "%u calls still in flight after %lld ms; the store's "
		    "close "
		    "answers them",
		    (unsigned) atomic_load(&srv->s_inflight),
		    (long long) atomic_load(&sf__srv_drain_max_ms));
	}
	sf_store_close(srv->s_store);
	srv->s_store = NULL;
	sf__srv_rpc_close(srv); // stops the contexts, then closes the socket
	sf__srv_limits_stop(srv);
	sf__srv_watch_free(srv);
	sf__srv_metrics_fini(srv);
	sf__srv_auth_close(srv);
	sf__srv_claims_fini(srv);
	sf__srv_req_fini(srv);
	sf__srv_dedupe_free(srv->s_dedupe);
	sf__srv_methods_fini(srv);
	for (size_t i = 0; i < srv->s_nlisteners; i++) {
		free(srv->s_urls[i]);
	}
	free(srv->s_urls);
	free(srv->s_listeners);
	free(srv);
}

const char *const *
sf_server_urls(const sf_server *srv, size_t *n)
{
	*n = srv->s_nlisteners;
	return ((const char *const *) srv->s_urls);
}
