// harness.h: helpers for end-to-end tests — a real svcfleetd in a private
// temporary directory, and running commands with their output captured.
//
// Binaries are found through SF_BIN_DIR (set by ctest, see sf_test()).
#ifndef SF_TEST_HARNESS_H
#define SF_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

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
