// recon_util.h: what the reconciler's end-to-end tests share — a private
// svcfleetd (with or without its embedded reconciler), kubefake clusters on
// free ports registered with it, the svcfleet CLI and kubectl run against
// them, and waiting for a Service's per-cluster status.
#ifndef SF_TEST_RECON_UTIL_H
#define SF_TEST_RECON_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "harness.h"
#include "kft.h"
#include "svcfleet/svcfleet.h"

#define RT_MAX_CLUSTERS 6

typedef struct rt_env {
	th_server        re_srv;
	svcfleet_client *re_cli;
	svcfleet_status  re_st;
	kft              re_kf[RT_MAX_CLUSTERS];
	char             re_name[RT_MAX_CLUSTERS][32];
	int              re_nkf;
	char             re_tokfile[400]; // KFT_TOKEN, for `cluster add`
} rt_env;

// rt_start starts svcfleetd (with its reconciler when reconciler is true,
// tuned for tests: short backoff) and connects a client.
void rt_start(rt_env *e, bool reconciler);
// rt_restart kills svcfleetd (SIGKILL when hard, else SIGTERM) and starts
// it again on the same data.
void rt_restart(rt_env *e, bool hard);
// rt_cluster starts kubefake number i (extra: more kubefake flags, may be
// NULL) and registers it as cluster name with `svcfleet cluster add`.
void rt_cluster(rt_env *e, int i, const char *name, const char *const *extra);
// rt_stop stops everything and removes the temporary directories.
void rt_stop(rt_env *e);
// rt_teardown: cmocka teardown that kills what a failed test left.
int rt_teardown(void **state);

// rt_cli runs `svcfleet --server URL <args>` (stdin_text may be NULL) and
// fails the test unless it exits 0; returns stdout (malloc'd).
char *rt_cli(rt_env *e, const char *stdin_text, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// rt_kubectl runs kubectl against cluster i and returns stdout (malloc'd);
// *rc gets the exit code (NULL: the test fails unless it is 0).
char *rt_kubectl(rt_env *e, int i, int *rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
// rt_kget returns Service ns/name of cluster i as kubectl prints it with
// -o json, or NULL when kubectl says it is not there.
json_t *rt_kget(rt_env *e, int i, const char *ns, const char *name);

// rt_get reads a Service from svcfleetd, NULL when NOT_FOUND.
Svcfleet__V1__Service *rt_get(
    rt_env *e, const char *cluster, const char *ns, const char *name);
// rt_status returns the status svc holds for its own cluster, or NULL.
const Svcfleet__V1__ClusterStatus *rt_status(const Svcfleet__V1__Service *svc);

// rt_wait waits (up to ms) until the Service's status is state with
// observed generation >= its generation (for SYNCED and WAITING_ADDRESS)
// and returns it (free with svcfleet_free); fails the test with the last
// status seen otherwise.
Svcfleet__V1__Service *rt_wait(rt_env *e, const char *cluster, const char *ns,
    const char *name, int state, int ms);
// rt_wait_pools waits until the reconciler has reported cluster's MetalLB
// pools (its health's pools_known).
void rt_wait_pools(rt_env *e, const char *cluster, int ms);
// rt_wait_gone waits until the Service is gone from svcfleetd.
void rt_wait_gone(
    rt_env *e, const char *cluster, const char *ns, const char *name, int ms);
// rt_wait_health waits until ListClusters shows health state for cluster
// and returns its message (static buffer).
const char *rt_wait_health(rt_env *e, const char *cluster, int state, int ms);

// rt_count_services counts Services in cluster i's namespace ns that carry
// the managed-by label (over HTTP, not kubectl: it is polled).
int rt_count_managed(rt_env *e, int i, const char *ns);

// rt_sleep_ms sleeps.
void rt_sleep_ms(int ms);

// rt_reconciler_token makes a token for user "recon", binds that user to
// the reconciler role and writes the token to path: what a separate
// svcfleet-reconciler process runs with.
void rt_reconciler_token(rt_env *e, const char *path);
// rt_spawn_reconciler starts svcfleet-reconciler on e's server with the
// token in tokfile, its output in log, and the flags in args
// (NULL-terminated, at most 12), with --log-level debug; it is killed
// when the test dies (PR_SET_PDEATHSIG). Returns its process id.
int rt_spawn_reconciler(
    rt_env *e, const char *tokfile, const char *log, const char *const *args);

#endif // SF_TEST_RECON_UTIL_H
