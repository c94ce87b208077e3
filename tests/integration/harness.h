// harness.h: helpers for end-to-end tests — a real svcfleetd in a private
// temporary directory, a fixture of it with an admin client, TH_MUST for
// calls that must succeed, and running commands with their output
// captured. For cmocka tests: failures end the running test.
//
// Binaries are found through SF_BIN_DIR (set by ctest, see sf_test()).
#ifndef SF_TEST_HARNESS_H
#define SF_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "svcfleet/svcfleet.h"

typedef struct th_server {
	pid_t ts_pid;
	char  ts_dir[256];   // private temp dir (data dir is ts_dir/data)
	char  ts_data[300];  // data dir
	char  ts_url[400];   // ipc://.../svcfleet.sock
	char  ts_log[300];   // the daemon's stderr
	char  ts_token[128]; // the admin token svcfleetd wrote on first start
	char  ts_http[128];  // its HTTP endpoint, "http://127.0.0.1:PORT"
	                     // ("" when off)
	// Extra environment for the daemon ("NAME=value"), or NULL.
	const char *ts_env;
	// Run the embedded reconciler. Off by default: tests of the API
	// alone register clusters nobody can reach, and count revisions
	// that status reports would move.
	bool ts_reconciler;
	// The log's size when this start began: the HTTP endpoint is looked
	// up after it (the log is appended to across restarts, and a new
	// start's line comes after its RPC server answers).
	size_t ts_log_from;
} th_server;

// th_tmpdir makes a fresh directory under $TMPDIR (or /tmp); out gets the
// path. Aborts the test on failure.
void th_tmpdir(char *out, size_t cap, const char *tag);

// th_bin returns "$SF_BIN_DIR/<rel>" in a static buffer per call slot.
const char *th_bin(const char *rel);

// th_server_start starts svcfleetd on a fresh temp dir (ts_env and
// ts_reconciler are kept when set before the call) (or on dir when not
// NULL, to restart on existing data) listening on ipc only, with its HTTP
// endpoint on a free port (unless extra says --http), plus extra
// arguments (NULL-terminated list), and waits until it answers Health.
// Returns 0, or -1 with the log printed to stderr.
int th_server_start(th_server *s, const char *dir, const char *const *extra);
// th_server_stop sends SIGTERM and waits; returns the exit status (0 is a
// clean shutdown) or -1.
int th_server_stop(th_server *s);
// th_server_kill sends SIGKILL and reaps the process.
void th_server_kill(th_server *s);
// th_server_log_contains: true when the daemon's log contains needle.
bool th_server_log_contains(const th_server *s, const char *needle);

// th_fixture: a daemon and an admin client on it, shared by the tests of
// a cmocka group (its setup and teardown), and a status for their calls.
typedef struct th_fixture {
	th_server        tf_srv;
	svcfleet_client *tf_c; // the admin's (tf_srv.ts_token)
	svcfleet_status  tf_st;
	bool             tf_stopped; // th_fixture_stop ran
	int              tf_code;    // and the daemon's exit status
} th_fixture;

// th_fixture_setup starts svcfleetd as th_server_start(&f->tf_srv, NULL,
// extra) does (set tf_srv.ts_env or ts_reconciler first when wanted) and
// opens the admin's client on it. Returns 0, or -1 with the reason on
// stderr: what a cmocka group setup returns.
int th_fixture_setup(th_fixture *f, const char *const *extra);

// th_fixture_stop closes the client and stops the daemon, leaving its
// directory (and log) for the test to look at; returns the daemon's exit
// status (0 is a clean stop).
int th_fixture_stop(th_fixture *f);

// th_fixture_teardown stops the fixture (unless th_fixture_stop did) and
// then removes its temporary directory after a clean stop, or keeps it
// for its log and names it on stderr. Returns the daemon's exit status.
int th_fixture_teardown(th_fixture *f);

// th_setup and th_teardown are a cmocka group's setup and teardown for
// tests that need a th_fixture and nothing more (*state is the fixture);
// a test that needs more calls th_setup first in its own setup. A test's
// own fixture struct that begins with its th_fixture, allocated with
// malloc, is torn down by th_teardown too. th_teardown fails the group
// unless the daemon stopped cleanly.
int th_setup(void **state);
int th_teardown(void **state);

// th_client opens a client of url with token (NULL: none) and a deadline
// of timeout_ms per call (0: 10 s), connected at once; it fails the
// running test when it cannot. Close it with svcfleet_close.
svcfleet_client *th_client(
    const char *url, const char *token, uint32_t timeout_ms);

// th_register_cluster registers a cluster called name that nobody can
// reach (https://127.0.0.1:1, a made-up token), as tests of the API alone
// want: returns the call's code, st holding its status.
int th_register_cluster(
    svcfleet_client *c, const char *name, svcfleet_status *st);

// TH_MUST(rv, st): the call rv must have succeeded; otherwise the running
// test fails, after printing the call, its status code and message, and
// each field violation in st (nng's NUTS_PASS, for svcfleet statuses):
//   TH_MUST(svcfleet_create_service(c, &req, &out, &st), &st);
#define TH_MUST(rv, st) th_must((rv), (st), #rv, __FILE__, __LINE__)
void th_must(int rv, const svcfleet_status *st, const char *call,
    const char *file, int line);

// th_run runs a shell command line, capturing stdout and stderr (each
// malloc'd, NUL-terminated; pass NULL to discard). stdin_text (may be NULL)
// is written to its standard input. Returns the exit code (128+n for a
// signal).
int th_run(const char *cmd, const char *stdin_text, char **out, char **err);

// th_runf is th_run with a printf-formatted command and no stdin.
int th_runf(char **out, char **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// th_read_file returns a file's contents (malloc'd) or NULL.
char *th_read_file(const char *path, size_t *len);
int   th_write_file(const char *path, const char *text);

#endif // SF_TEST_HARNESS_H
