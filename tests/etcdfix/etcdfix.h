// etcdfix.h: a throwaway etcd cluster on loopback for tests.
//
// sf_etcdfix_start runs 1 or 3 etcd members (Debian's etcd-server, or the
// binary named by $SF_ETCD_BIN) as child processes, each with free ports
// and a data directory under one fresh temporary directory (on tmpfs when
// /dev/shm is writable: etcd 3.4 has no --unsafe-no-fsync, and an fsync on
// tmpfs costs nothing, so tests that do not check durability run fast).
// Members use short heartbeat and election timeouts, so a killed leader
// is replaced within about a second. Tests can find the leader, kill -9 a
// member, pause it, and restart it on its data directory.
//
// Children are killed when the thread that started them exits
// (PR_SET_PDEATHSIG): start fixtures from the test's main thread.
// Functions print what went wrong to stderr and return -1; none is
// thread-safe.
#ifndef SF_ETCDFIX_H
#define SF_ETCDFIX_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sf_etcdfix sf_etcdfix;

#define SF_ETCDFIX_MAX_MEMBERS 5

typedef struct sf_etcdfix_opts {
	int      eo_members;     // 1..SF_ETCDFIX_MAX_MEMBERS, 0 = 1
	uint64_t eo_quota_bytes; // --quota-backend-bytes, 0 = etcd's default
	// Extra command-line arguments for every member, NULL-terminated (may
	// be NULL).
	const char *const *eo_args;
	// Clients must speak TLS (https:// endpoints) and present a client
	// certificate: the fixture makes a CA, a server certificate for
	// 127.0.0.1 and a client certificate (openssl), see the _file
	// functions below.
	bool eo_tls;
} sf_etcdfix_opts;

// sf_etcdfix_available tells whether an etcd binary can be run (tests
// skip when it cannot).
bool sf_etcdfix_available(void);

// sf_etcdfix_start starts the members and waits until every one answers
// /health with a leader elected (15 s at most). o may be NULL. On success
// *out is the fixture, which the caller stops with sf_etcdfix_stop.
int sf_etcdfix_start(sf_etcdfix **out, const sf_etcdfix_opts *o);

// sf_etcdfix_stop kills every member (SIGKILL: nothing of a test's etcd
// needs to survive) and removes the temporary directory. NULL is fine.
void sf_etcdfix_stop(sf_etcdfix *f);

int sf_etcdfix_members(const sf_etcdfix *f);
// The client URL of member i ("http://127.0.0.1:<port>"), valid until
// stop, and all of them joined by commas (what a client is given).
const char *sf_etcdfix_endpoint(const sf_etcdfix *f, int i);
const char *sf_etcdfix_endpoints(const sf_etcdfix *f);
// The temporary directory (logs are <dir>/m<i>.log).
const char *sf_etcdfix_dir(const sf_etcdfix *f);
// With eo_tls: the CA that signed the members' certificate, and a client
// certificate and its key that they accept (PEM files). "" without TLS.
const char *sf_etcdfix_ca_file(const sf_etcdfix *f);
const char *sf_etcdfix_cert_file(const sf_etcdfix *f);
const char *sf_etcdfix_key_file(const sf_etcdfix *f);

// sf_etcdfix_leader returns the index of the member that reports itself
// the leader, waiting up to wait_ms for one to be elected; -1 when none.
int sf_etcdfix_leader(sf_etcdfix *f, int wait_ms);

// sf_etcdfix_kill sends SIGKILL to member i and reaps it.
int sf_etcdfix_kill(sf_etcdfix *f, int i);
// sf_etcdfix_pause and _resume stop and continue member i (SIGSTOP,
// SIGCONT): a member that hangs instead of dying.
int sf_etcdfix_pause(sf_etcdfix *f, int i);
int sf_etcdfix_resume(sf_etcdfix *f, int i);
// sf_etcdfix_restart starts a killed member again on its data directory
// and waits until it answers /health (15 s at most).
int sf_etcdfix_restart(sf_etcdfix *f, int i);
// Whether member i is running (not killed), and its process id (0 when
// not running; benchmarks read its CPU time).
bool sf_etcdfix_running(const sf_etcdfix *f, int i);
int  sf_etcdfix_pid(const sf_etcdfix *f, int i);

#endif // SF_ETCDFIX_H
