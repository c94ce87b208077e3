// replica_testutil.h: svcfleetd replicas in the test process, for the server's
// tests (test-only): on LMDB one, on etcd (SF_STORE_BACKEND=etcd, or asked
// for) several sharing one etcdfix member and key prefix; each listening on
// inproc://, all with one admin token and one secret key, in a fresh
// directory under /dev/shm (or /tmp). Functions fail the cmocka test on
// error.
#ifndef SF_SERVER_REPLICA_TESTUTIL_H
#define SF_SERVER_REPLICA_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "etcdfix.h"
#include "server.h"
#include "svcfleet/svcfleet.h"

#define SF_REPLFIX_MAX 4

typedef struct sf_replfix {
	// Set before sf_replfix_setup (0: the default).
	unsigned rf_contexts;  // 32
	unsigned rf_workers;   // 4
	uint32_t rf_feed_keep; // the store's
	// Filled in by sf_replfix_setup.
	bool        rf_etcd;
	sf_etcdfix *rf_fix; // NULL on LMDB
	char        rf_dir[64], rf_prefix[64];
	const char *rf_token;
	int         rf_n; // replicas
	sf_server  *rf_srv[SF_REPLFIX_MAX];
	char        rf_url[SF_REPLFIX_MAX][96];
} sf_replfix;

// sf_replfix_setup makes the directory (tag names it), the token file
// (token, as user "admin" in group 1), the etcd member when etcd (exit 77
// when there is no etcd binary), and starts n replicas on etcd, 1 on LMDB.
// Returns 0, or -1 when something could not be made.
int sf_replfix_setup(
    sf_replfix *f, const char *tag, const char *token, bool etcd, int n);
// sf_replfix_etcd_asked: SF_STORE_BACKEND=etcd.
bool sf_replfix_etcd_asked(void);
// sf_replfix_start (re)starts replica i.
void sf_replfix_start(sf_replfix *f, int i);
// sf_replfix_stop stops replica i (if running).
void sf_replfix_stop(sf_replfix *f, int i);
// sf_replfix_client: a client of replica i with the admin token.
svcfleet_client *sf_replfix_client(const sf_replfix *f, int i, int timeout_ms);
// sf_replfix_register registers cluster name (a made-up API server)
// through replica 0.
void sf_replfix_register(const sf_replfix *f, const char *name);
// sf_replfix_teardown stops every replica and the etcd member and removes
// the directory.
void sf_replfix_teardown(sf_replfix *f);

#endif
