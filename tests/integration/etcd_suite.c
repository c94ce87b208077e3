// etcd_suite: runs integration tests against a 3-member etcd (issue 15):
// starts the members on loopback (tests/etcdfix), sets
// SF_TEST_ETCD_ENDPOINTS, which makes the harness start every svcfleetd
// with --store etcd under a key prefix of its own, and runs each test
// executable named on the command line (paths under SF_BIN_DIR) in turn.
// Exit 0 when all pass, 1 otherwise, 77 without etcd.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "etcdfix.h"
#include "harness.h"

int
main(int argc, char **argv)
{
	sf_etcdfix     *ef     = NULL;
	sf_etcdfix_opts eo     = {.eo_members = 3};
	int             failed = 0;

	if (!sf_etcdfix_available()) {
		fprintf(
		    stderr, "etcd_suite: etcd is not installed: skipped\n");
		return (77);
	}
	if (sf_etcdfix_start(&ef, &eo) != 0) {
		return (1);
	}
	setenv("SF_TEST_ETCD_ENDPOINTS", sf_etcdfix_endpoints(ef), 1);
	for (int i = 1; i < argc; i++) {
		struct timespec t0, t1;
		char            cmd[1024];
		snprintf(cmd, sizeof(cmd), "%s", th_bin(argv[i]));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rc = system(cmd);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
		fprintf(stderr, "etcd_suite: %s on etcd: %s (%.1f s)\n",
		    argv[i], rc == 0 ? "passed" : "FAILED",
		    (double) (t1.tv_sec - t0.tv_sec)
		        + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
		failed += rc != 0;
	}
	sf_etcdfix_stop(ef);
	return (failed == 0 ? 0 : 1);
}
