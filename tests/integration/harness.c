// harness.c: see harness.h.
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "svcfleet/svcfleet.h"

void
th_tmpdir(char *out, size_t cap, const char *tag)
{
	const char *base = getenv("TMPDIR");
	snprintf(out, cap, "%s/sf-%s-XXXXXX", base ? base : "/tmp", tag);
	if (mkdtemp(out) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", out, strerror(errno));
		abort();
	}
}

const char *
th_bin(const char *rel)
{
	static _Thread_local char buf[4][512];
	static _Thread_local int  slot;
	const char               *b = getenv("SF_BIN_DIR");
	char                     *p = buf[slot++ & 3];
	snprintf(p, 512, "%s/%s", b ? b : ".", rel);
	return (p);
}

static int
health_ok(const char *url)
{
	svcfleet_client *c;
	svcfleet_status  st;
	svcfleet_options o
	    = {.url = url, .timeout_ms = 1000, .connect_now = true};
	Svcfleet__V1__Empty        e = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__HealthReply *h = NULL;
	int                        rv;

	svcfleet_status_init(&st);
	if ((rv = svcfleet_open(&c, &o, &st)) == 0) {
		rv = svcfleet_health(c, &e, &h, &st);
		svcfleet_free(h);
		svcfleet_close(c);
	}
	svcfleet_status_fini(&st);
	return (rv == 0);
}

// Finds the endpoint's URL in the log line "svcfleetd serving URL (...".
static bool
th_server_find_http(th_server *s)
{
	size_t len = 0;
	char  *log = th_read_file(s->ts_log, &len), *p = NULL, *q;
	s->ts_http[0] = '\0';
	// Only what this start wrote: an earlier start's line names a port
	// nobody listens on any more.
	for (q = log != NULL && len >= s->ts_log_from ? log + s->ts_log_from
	                                              : NULL;
	     q != NULL && (q = strstr(q, "svcfleetd serving ")) != NULL;
	     q += 18) {
		p = q + 18; // the last start's line
	}
	if (p != NULL) {
		snprintf(s->ts_http, sizeof(s->ts_http), "%.*s",
		    (int) strcspn(p, " \""), p);
	}
	free(log);
	return (p != NULL);
}

// A test process that hangs (a deadlock in a library, a wait without a
// deadline) would only be killed by ctest's timeout, leaving no word of
// where it hung (ops_http_test, once in a stress lane: no request reached
// its daemon for ten minutes). Shortly before that timeout, this thread
// prints the stacks of every thread of the test process and of the
// daemons it started (with gdb, from dev.sh's packages), then ends the
// test. SF_TEST_WATCHDOG_S sets the time (0: off).
static void *
watchdog(void *arg)
{
	struct timespec t = {.tv_sec = (time_t) (uintptr_t) arg};
	char            cmd[600];
	pid_t           me = getpid();

	while (nanosleep(&t, &t) != 0 && errno == EINTR) {
	}
	fprintf(stderr,
	    "harness: the test still runs after %lld s: every thread's "
	    "stack follows, then it is ended\n",
	    (long long) (uintptr_t) arg);
	snprintf(cmd, sizeof(cmd),
	    "{ command -v gdb >/dev/null || echo 'harness: no gdb'; "
	    "gdb -q -batch -p %d -ex 'thread apply all bt' </dev/null; "
	    "for p in $(pgrep -P %d); do [ $p = $$ ] && continue; "
	    "echo \"== child $p: $(ps -o args= -p $p)\"; "
	    "gdb -q -batch -p $p -ex 'thread apply all bt' </dev/null; "
	    "done; } 1>&2 2>&1",
	    (int) me, (int) me);
	if (system(cmd) != 0) {
		fprintf(stderr, "harness: the stack dump failed\n");
	}
	snprintf(cmd, sizeof(cmd), "pkill -KILL -P %d", (int) me);
	(void) !system(cmd);
	abort();
	return (NULL);
}

static void
watchdog_start(void)
{
	const char *env = getenv("SF_TEST_WATCHDOG_S");
	const char *vg  = getenv("SF_VALGRIND");
	// ctest's --timeout in dev.sh: 600 s, 900 s under valgrind.
	long      secs = vg != NULL && strcmp(vg, "0") != 0 ? 840 : 540;
	pthread_t thr;

	if (env != NULL && env[0] != '\0') {
		secs = strtol(env, NULL, 10);
	}
	if (secs > 0
	    && pthread_create(&thr, NULL, watchdog, (void *) (uintptr_t) secs)
	        == 0) {
		pthread_detach(thr);
	}
}

int
th_server_start(th_server *s, const char *dir, const char *const *extra)
{
	const char *argv[64];
	int         n = 0;

	static bool fini_registered;
	if (!fini_registered) {
		// nng frees closed sockets on its own threads; let them finish
		// before the leak checker looks at the test process.
		atexit(nng_fini);
		fini_registered = true;
		watchdog_start();
	}
	if (dir == NULL) {
		const char *env   = s->ts_env;
		bool        recon = s->ts_reconciler;
		memset(s, 0, sizeof(*s));
		s->ts_env        = env;
		s->ts_reconciler = recon;
		th_tmpdir(s->ts_dir, sizeof(s->ts_dir), "srv");
		snprintf(s->ts_data, sizeof(s->ts_data), "%s/data", s->ts_dir);
		snprintf(s->ts_url, sizeof(s->ts_url),
		    "ipc://%s/svcfleet.sock", s->ts_data);
		snprintf(s->ts_log, sizeof(s->ts_log), "%s/svcfleetd.log",
		    s->ts_dir);
	}
	argv[n++]       = th_bin("cmd/svcfleetd/svcfleetd");
	argv[n++]       = "--data-dir";
	argv[n++]       = s->ts_data;
	argv[n++]       = "--listen";
	argv[n++]       = s->ts_url;
	argv[n++]       = "--log-level";
	argv[n++]       = "debug";
	bool http_given = false, http_off = false;
	for (const char *const *e = extra; e != NULL && *e != NULL; e++) {
		http_given |= strncmp(*e, "--http", 6) == 0;
		http_off
		    |= strcmp(*e, "off") == 0 || strcmp(*e, "--http=off") == 0;
	}
	if (!http_given) {
		// Tests run in parallel: never the fixed default port.
		argv[n++] = "--http";
		argv[n++] = "127.0.0.1:0";
	}
	if (!s->ts_reconciler) {
		argv[n++] = "--no-reconciler";
	}
	// SF_TEST_ETCD_ENDPOINTS (set by etcd_suite, issue 15): the same test
	// on etcd, each server under a key prefix of its own (its directory's
	// name, so a restart on the same directory finds its data).
	static __thread char prefix[300];
	const char          *eps = getenv("SF_TEST_ETCD_ENDPOINTS");
	if (eps != NULL && eps[0] != '\0') {
		const char *base = strrchr(s->ts_dir, '/');
		snprintf(prefix, sizeof(prefix), "/t/%s/",
		    base != NULL ? base + 1 : s->ts_dir);
		argv[n++] = "--store";
		argv[n++] = "etcd";
		argv[n++] = "--etcd-endpoints";
		argv[n++] = eps;
		argv[n++] = "--etcd-prefix";
		argv[n++] = prefix;
	}
	for (; extra != NULL && *extra != NULL && n < 62; extra++) {
		argv[n++] = *extra;
	}
	argv[n] = NULL;

	// SF_VALGRIND=1 runs the daemon under memcheck: any error or leak
	// makes it exit 97, which th_server_stop returns (tests expect 0).
	// The report goes to the daemon's log.
	const char *vg[16 + 64];
	int         nvg   = 0;
	bool        under = getenv("SF_VALGRIND") != NULL
	    && strcmp(getenv("SF_VALGRIND"), "0") != 0;
	if (under) {
		static char supp[600];
		const char *src = getenv("SF_SRC_DIR");
		snprintf(supp, sizeof(supp),
		    "--suppressions=%s/tests/valgrind.supp",
		    src != NULL ? src : ".");
		vg[nvg++] = "valgrind";
		vg[nvg++] = "--quiet";
		vg[nvg++] = "--error-exitcode=97";
		vg[nvg++] = "--leak-check=full";
		vg[nvg++] = "--show-leak-kinds=definite,indirect";
		vg[nvg++] = "--errors-for-leak-kinds=definite,indirect";
		vg[nvg++] = "--num-callers=30";
		// valgrind runs one thread at a time; its default hand-over
		// is unfair and can starve a thread for seconds while others
		// poll (seen in callgrind runs of 8 writing clients: calls
		// stalled up to 17 s; none with fair scheduling).
		vg[nvg++] = "--fair-sched=yes";
		vg[nvg++] = supp;
		for (int i = 0; i <= n; i++) {
			vg[nvg + i] = argv[i];
		}
	}
	const char *const *run = under ? vg : argv;

	struct stat lst;
	s->ts_log_from = stat(s->ts_log, &lst) == 0 ? (size_t) lst.st_size : 0;
	s->ts_pid      = fork();
	if (s->ts_pid == 0) {
		int fd = open(s->ts_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
			close(fd);
		}
		if (s->ts_env != NULL) {
			putenv((char *) s->ts_env);
		}
		execvp(run[0], (char *const *) run);
		_exit(127);
	}
	for (int i = 0; i < (under ? 1200 : 200); i++) {
		int status;
		if (waitpid(s->ts_pid, &status, WNOHANG) == s->ts_pid) {
			char *log = th_read_file(s->ts_log, NULL);
			fprintf(stderr, "svcfleetd exited at start:\n%s\n",
			    log ? log : "");
			free(log);
			s->ts_pid = 0;
			return (-1);
		}
		if (health_ok(s->ts_url)) {
			char path[400], *tok;
			snprintf(
			    path, sizeof(path), "%s/admin.token", s->ts_data);
			if ((tok = th_read_file(path, NULL)) != NULL) {
				snprintf(s->ts_token, sizeof(s->ts_token),
				    "%.*s", (int) strcspn(tok, "\r\n"), tok);
				free(tok);
			}
			// The endpoint starts right after the RPC server.
			for (int k = 0;
			     !http_off && k < 100 && !th_server_find_http(s);
			     k++) {
				usleep(20000);
			}
			return (0);
		}
		usleep(50000);
	}
	fprintf(stderr, "svcfleetd did not become healthy\n");
	th_server_kill(s);
	return (-1);
}

int
th_server_stop(th_server *s)
{
	int status;
	if (s->ts_pid <= 0) {
		return (-1);
	}
	kill(s->ts_pid, SIGTERM);
	if (waitpid(s->ts_pid, &status, 0) != s->ts_pid) {
		return (-1);
	}
	s->ts_pid = 0;
	int code
	    = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (code != 0) {
		// Show how it ended, for the test log.
		char *log = th_read_file(s->ts_log, NULL);
		if (log != NULL) {
			size_t n = strlen(log);
			fprintf(stderr,
			    "svcfleetd exited with %d; its log ends:\n%s\n",
			    code, n > 4000 ? log + n - 4000 : log);
			free(log);
		}
	}
	return (code);
}

void
th_server_kill(th_server *s)
{
	if (s->ts_pid > 0) {
		kill(s->ts_pid, SIGKILL);
		waitpid(s->ts_pid, NULL, 0);
		s->ts_pid = 0;
	}
}

bool
th_server_log_contains(const th_server *s, const char *needle)
{
	char *log = th_read_file(s->ts_log, NULL);
	bool  yes = log != NULL && strstr(log, needle) != NULL;
	free(log);
	return (yes);
}

int
th_fixture_setup(th_fixture *f, const char *const *extra)
{
	svcfleet_options o = {.timeout_ms = 10000, .connect_now = true};

	svcfleet_status_init(&f->tf_st);
	if (th_server_start(&f->tf_srv, NULL, extra) != 0) {
		return (-1);
	}
	o.url   = f->tf_srv.ts_url;
	o.token = f->tf_srv.ts_token;
	if (svcfleet_open(&f->tf_c, &o, &f->tf_st) != 0) {
		fprintf(stderr, "cannot connect to svcfleetd at %s: %s\n",
		    o.url, f->tf_st.message);
		th_server_kill(&f->tf_srv);
		return (-1);
	}
	return (0);
}

int
th_fixture_stop(th_fixture *f)
{
	svcfleet_close(f->tf_c);
	f->tf_c = NULL;
	svcfleet_status_fini(&f->tf_st);
	f->tf_code    = th_server_stop(&f->tf_srv);
	f->tf_stopped = true;
	return (f->tf_code);
}

int
th_fixture_teardown(th_fixture *f)
{
	if (!f->tf_stopped) {
		th_fixture_stop(f);
	}
	if (f->tf_code == 0) {
		th_runf(NULL, NULL, "rm -rf '%s'", f->tf_srv.ts_dir);
	} else {
		fprintf(stderr, "kept %s for its log\n", f->tf_srv.ts_dir);
	}
	return (f->tf_code);
}

int
th_setup(void **state)
{
	th_fixture *f = calloc(1, sizeof(*f));
	if (f == NULL || th_fixture_setup(f, NULL) != 0) {
		free(f);
		return (-1);
	}
	*state = f;
	return (0);
}

int
th_teardown(void **state)
{
	th_fixture *f    = *state;
	int         code = th_fixture_teardown(f);
	free(f);
	assert_int_equal(code, 0);
	return (0);
}

svcfleet_client *
th_client(const char *url, const char *token, uint32_t timeout_ms)
{
	svcfleet_client *c  = NULL;
	svcfleet_status  st = {0};
	svcfleet_options o  = {.url = url,
	     .token                 = token,
	     .timeout_ms            = timeout_ms != 0 ? timeout_ms : 10000,
	     .connect_now           = true};

	th_must(svcfleet_open(&c, &o, &st), &st, "svcfleet_open", __FILE__,
	    __LINE__);
	svcfleet_status_fini(&st);
	return (c);
}

int
th_register_cluster(svcfleet_client *c, const char *name, svcfleet_status *st)
{
	Svcfleet__V1__Cluster                cl = SVCFLEET__V1__CLUSTER__INIT;
	Svcfleet__V1__RegisterClusterRequest req
	    = SVCFLEET__V1__REGISTER_CLUSTER_REQUEST__INIT;
	Svcfleet__V1__Cluster *out = NULL;
	int                    rv;

	cl.name       = (char *) name;
	cl.api_server = "https://127.0.0.1:1";
	cl.token      = "test-cluster-token";
	req.cluster   = &cl;
	rv            = svcfleet_register_cluster(c, &req, &out, st);
	svcfleet_free(out);
	return (rv);
}

void
th_must(int rv, const svcfleet_status *st, const char *call, const char *file,
    int line)
{
	if (rv == 0) {
		return;
	}
	fprintf(stderr, "%s:%d: %s: %s: %s\n", file, line, call,
	    svcfleet_code_name(rv), st != NULL ? st->message : "");
	for (size_t i = 0; st != NULL && i < st->n_violations; i++) {
		const svcfleet_violation *v = &st->violations[i];
		fprintf(stderr, "  %s: %s (%s)\n", v->field, v->reason,
		    v->type != NULL ? v->type : "?");
	}
	_fail(file, line);
}

char *
th_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long  n;
	if (f == NULL) {
		return (NULL);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) n + 1);
	if (buf != NULL) {
		n      = (long) fread(buf, 1, (size_t) n, f);
		buf[n] = '\0';
		if (len != NULL) {
			*len = (size_t) n;
		}
	}
	fclose(f);
	return (buf);
}

int
th_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL) {
		return (-1);
	}
	fputs(text, f);
	return (fclose(f));
}

// Reads what fd has into a growing string; returns false at EOF.
static bool
drain(int fd, char **out, size_t *len, size_t *cap)
{
	char    buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
		return (true);
	}
	if (n <= 0) {
		return (false);
	}
	if (*len + (size_t) n + 1 > *cap) {
		*cap = (*len + (size_t) n + 1) * 2;
		*out = realloc(*out, *cap);
	}
	memcpy(*out + *len, buf, (size_t) n);
	*len += (size_t) n;
	(*out)[*len] = '\0';
	return (true);
}

int
th_run(const char *cmd, const char *stdin_text, char **out, char **err)
{
	int    pin[2], pout[2], perr[2], status;
	pid_t  pid;
	char  *ob = calloc(1, 1), *eb = calloc(1, 1);
	size_t ol = 0, oc = 1, el = 0, ec = 1;

	// Close-on-exec, so a child that leaves something running in the
	// background does not keep our ends open (and us waiting).
	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC)
	    || pipe2(perr, O_CLOEXEC)) {
		abort();
	}
	pid = fork();
	if (pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		close(pin[1]);
		close(pout[0]);
		close(perr[0]);
		execl("/bin/sh", "sh", "-c", cmd, (char *) NULL);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	signal(SIGPIPE, SIG_IGN);
	if (stdin_text != NULL) {
		size_t      left = strlen(stdin_text);
		const char *p    = stdin_text;
		// Write stdin while draining outputs, so big inputs and
		// outputs cannot deadlock.
		fcntl(pin[1], F_SETFL, O_NONBLOCK);
		while (left > 0) {
			struct pollfd pf[3] = {{pin[1], POLLOUT, 0},
			    {pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}};
			poll(pf, 3, 1000);
			if (pf[0].revents & (POLLERR | POLLHUP)) {
				break;
			}
			if (pf[0].revents & POLLOUT) {
				ssize_t w = write(pin[1], p, left);
				if (w > 0) {
					p += w;
					left -= (size_t) w;
				}
			}
			if (pf[1].revents & POLLIN) {
				drain(pout[0], &ob, &ol, &oc);
			}
			if (pf[2].revents & POLLIN) {
				drain(perr[0], &eb, &el, &ec);
			}
		}
	}
	close(pin[1]);
	bool oopen = true, eopen = true;
	while (oopen || eopen) {
		struct pollfd pf[2] = {{oopen ? pout[0] : -1, POLLIN, 0},
		    {eopen ? perr[0] : -1, POLLIN, 0}};
		if (poll(pf, 2, 120000) <= 0) {
			break;
		}
		if (pf[0].revents && !drain(pout[0], &ob, &ol, &oc)) {
			oopen = false;
		}
		if (pf[1].revents && !drain(perr[0], &eb, &el, &ec)) {
			eopen = false;
		}
	}
	close(pout[0]);
	close(perr[0]);
	waitpid(pid, &status, 0);
	if (out != NULL) {
		*out = ob;
	} else {
		free(ob);
	}
	if (err != NULL) {
		*err = eb;
	} else {
		free(eb);
	}
	return (
	    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

int
th_runf(char **out, char **err, const char *fmt, ...)
{
	char    cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return (th_run(cmd, NULL, out, err));
}
