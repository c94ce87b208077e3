// cli_util.c: see cli_util.h.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_util.h"

// A self-signed CA, valid until 2126; only parsed, never used to connect.
static const char test_ca[]
    = "-----BEGIN CERTIFICATE-----\n"
      "MIIBjjCCATOgAwIBAgIUfFghfhIWitMRxYBhC2oS8lcCuE0wCgYIKoZIzj0EAwIw\n"
      "GzEZMBcGA1UEAwwQc3ZjZmxlZXQtdGVzdC1jYTAgFw0yNjExMjYwMzI5MjNaGA8y\n"
      "MTI2MTEwMjAzMjkyM1owGzEZMBcGA1UEAwwQc3ZjZmxlZXQtdGVzdC1jYTBZMBMG\n"
      "ByqGSM49AgEGCCqGSM49AwEHA0IABLE1Y9hCQLZ5aqMCNgf1Zzg+gkd8AwEkMHm9\n"
      "Vhg2Rp0jReb0Jh9v5czkrsT9exDNia1WMVvTiqzanT4G3x9RC+mjUzBRMB0GA1Ud\n"
      "DgQWBBTkjPL3jwNBOmpcqiqSMuDnaUJoOzAfBgNVHSMEGDAWgBTkjPL3jwNBOmpc\n"
      "qiqSMuDnaUJoOzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCQ\n"
      "c6rlZeQ9H5+JaRFfx8llscQoFS+6Ohx6SWZGHoLOXAIhAPKQSbEOUulYxsNXkjJM\n"
      "dfIM+0LqOCtm/XaiLFo7Kn9Q\n"
      "-----END CERTIFICATE-----\n";

// Children started by the tests, for ct_cleanup.
static pid_t started[16];

static void
remember(pid_t pid)
{
	for (size_t i = 0; i < 16; i++) {
		if (started[i] == 0) {
			started[i] = pid;
			return;
		}
	}
}

int
ct_cleanup(void **state)
{
	(void) state;
	for (size_t i = 0; i < 16; i++) {
		// Only a child not yet reaped is ours to kill: a reaped pid
		// may belong to someone else by now.
		if (started[i] > 0
		    && waitpid(started[i], NULL, WNOHANG) == 0) {
			kill(started[i], SIGKILL);
			waitpid(started[i], NULL, 0);
		}
		started[i] = 0;
	}
	return (0);
}

void
ct_start(ct_env *e, const char *const *extra)
{
	memset(e, 0, sizeof(*e));
	if (th_server_start(&e->ce_srv, NULL, extra) != 0) {
		fail_msg("svcfleetd did not start");
	}
	remember(e->ce_srv.ts_pid);
	snprintf(e->ce_ca, sizeof(e->ce_ca), "%s/ca.pem", e->ce_srv.ts_dir);
	snprintf(e->ce_tok, sizeof(e->ce_tok), "%s/cluster.token",
	    e->ce_srv.ts_dir);
	assert_int_equal(th_write_file(e->ce_ca, test_ca), 0);
	assert_int_equal(th_write_file(e->ce_tok, CT_CLUSTER_TOKEN "\n"), 0);
}

void
ct_restart(ct_env *e)
{
	assert_int_equal(th_server_stop(&e->ce_srv), 0);
	if (th_server_start(&e->ce_srv, e->ce_srv.ts_dir, NULL) != 0) {
		fail_msg("svcfleetd did not restart");
	}
	remember(e->ce_srv.ts_pid);
}

void
ct_stop(ct_env *e)
{
	assert_int_equal(th_server_stop(&e->ce_srv), 0);
	// A test that got here passed: its files are of no more use. A
	// failed one keeps them (and the daemon's log) for a look.
	assert_int_equal(
	    th_runf(NULL, NULL, "rm -rf '%s'", e->ce_srv.ts_dir), 0);
}

static int vcli(ct_env *e, const char *in, char **out, char **err,
    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static int
vcli(ct_env *e, const char *in, char **out, char **err, const char *fmt,
    va_list ap)
{
	char args[6144], cmd[8192];
	vsnprintf(args, sizeof(args), fmt, ap);
	snprintf(cmd, sizeof(cmd), "%s%s%s --server '%s' %s",
	    e->ce_prefix != NULL ? e->ce_prefix : "",
	    e->ce_prefix != NULL ? " " : "", th_bin("client/cli/svcfleet"),
	    e->ce_srv.ts_url, args);
	return (th_run(cmd, in, out, err));
}

int
ct_cli(ct_env *e, const char *in, char **out, char **err, const char *fmt, ...)
{
	va_list ap;
	int     rv;
	va_start(ap, fmt);
	rv = vcli(e, in, out, err, fmt, ap);
	va_end(ap);
	return (rv);
}

char *
ct_ok(ct_env *e, const char *fmt, ...)
{
	char   *out, *err;
	va_list ap;
	int     rv;
	va_start(ap, fmt);
	rv = vcli(e, NULL, &out, &err, fmt, ap);
	va_end(ap);
	if (rv != 0 || err[0] != '\0') {
		fail_msg("exit %d, stderr:\n%s\nstdout:\n%s", rv, err, out);
	}
	free(err);
	return (out);
}

char *
ct_fails(ct_env *e, int code, const char *fmt, ...)
{
	char   *out, *err;
	va_list ap;
	int     rv;
	va_start(ap, fmt);
	rv = vcli(e, NULL, &out, &err, fmt, ap);
	va_end(ap);
	if (rv != code || out[0] != '\0') {
		fail_msg("exit %d (want %d), stdout:\n%s\nstderr:\n%s", rv,
		    code, out, err);
	}
	free(out);
	return (err);
}

void
ct_add_cluster(ct_env *e, const char *name)
{
	char *out = ct_ok(e,
	    "cluster add %s --api-server https://127.0.0.1:6443 --ca-file %s "
	    "--cluster-token-file %s",
	    name, e->ce_ca, e->ce_tok);
	char  want[128];
	snprintf(want, sizeof(want), "cluster/%s registered\n", name);
	assert_string_equal(out, want);
	free(out);
}

char *
ct_token(ct_env *e, const char *user, const char *flags)
{
	char  *out = ct_ok(e, "token create %s %s", user, flags ? flags : "");
	size_t n   = strcspn(out, "\n");
	assert_true(n > 0);
	assert_string_equal(out + n, "\n");
	out[n] = '\0';
	return (out);
}

int
ct_listen_port(ct_env *e, const char *scheme)
{
	char needle[64];
	snprintf(
	    needle, sizeof(needle), "\"listening on %s://127.0.0.1:", scheme);
	for (int i = 0; i < 100; i++) {
		char       *log  = th_read_file(e->ce_srv.ts_log, NULL);
		const char *at   = log != NULL ? strstr(log, needle) : NULL;
		int         port = at != NULL ? atoi(at + strlen(needle)) : 0;
		free(log);
		if (port > 0) {
			return (port);
		}
		usleep(50000);
	}
	fail_msg("svcfleetd logged no %s listener", scheme);
	return (0);
}

const char *
ct_file(ct_env *e, const char *name, const char *text)
{
	static char buf[4][600];
	static int  slot;
	char       *p = buf[slot++ & 3];
	snprintf(p, sizeof(buf[0]), "%s/%s", e->ce_srv.ts_dir, name);
	assert_int_equal(th_write_file(p, text), 0);
	return (p);
}

json_t *
ct_json(const char *text)
{
	json_error_t err;
	json_t      *j = json_loads(text, 0, &err);
	if (j == NULL) {
		fail_msg(
		    "not JSON (%s, line %d):\n%s", err.text, err.line, text);
	}
	return (j);
}

json_t *
ct_at(const json_t *j, const char *path)
{
	char        key[128];
	const char *p = path;
	while (j != NULL) {
		const char *dot = strchr(p, '.');
		size_t      n   = dot != NULL ? (size_t) (dot - p) : strlen(p);
		snprintf(key, sizeof(key), "%.*s", (int) n, p);
		j = json_object_get(j, key);
		if (dot == NULL) {
			break;
		}
		p = dot + 1;
	}
	return ((json_t *) j);
}

const char *
ct_str_at(const json_t *j, const char *path)
{
	return (json_string_value(ct_at(j, path)));
}

unsigned long long
ct_revision(ct_env *e)
{
	char   *out = ct_ok(e, "version -o json");
	json_t *j   = ct_json(out);
	json_t *r
	    = json_object_get(json_object_get(j, "serverVersion"), "revision");
	unsigned long long v;
	assert_true(json_is_integer(r));
	v = (unsigned long long) json_integer_value(r);
	json_decref(j);
	free(out);
	return (v);
}

size_t
ct_nlines(const char *text)
{
	size_t n = 0;
	for (; *text != '\0'; text++) {
		n += *text == '\n';
	}
	return (n);
}

const char *
ct_line(const char *text, size_t i)
{
	static char buf[4096];
	for (; i > 0 && *text != '\0'; text++) {
		i -= *text == '\n';
	}
	size_t n = strcspn(text, "\n");
	snprintf(buf, sizeof(buf), "%.*s", (int) n, text);
	return (buf);
}

char ***
ct_assert_table(const char *text, const char *header, size_t nrows)
{
	char    hdr[4096];
	size_t  starts[32], ncols = 0;
	char ***cells;

	snprintf(hdr, sizeof(hdr), "%s", ct_line(text, 0));
	// Header words, and where each starts.
	for (size_t i = 0; hdr[i] != '\0'; i++) {
		if (hdr[i] != ' ' && (i == 0 || hdr[i - 1] == ' ')) {
			assert_true(ncols < 32);
			starts[ncols++] = i;
		}
	}
	{
		char words[4096] = "";
		for (size_t c = 0; c < ncols; c++) {
			size_t n = strcspn(hdr + starts[c], " ");
			snprintf(words + strlen(words),
			    sizeof(words) - strlen(words), "%s%.*s",
			    c > 0 ? " " : "", (int) n, hdr + starts[c]);
		}
		if (strcmp(words, header) != 0) {
			fail_msg("header \"%s\", want \"%s\"; table:\n%s",
			    words, header, text);
		}
	}
	if (ct_nlines(text) != nrows + 1) {
		fail_msg("%zu rows, want %zu; table:\n%s", ct_nlines(text) - 1,
		    nrows, text);
	}
	cells = calloc(nrows + 1, sizeof(*cells));
	for (size_t r = 0; r < nrows; r++) {
		const char *row = ct_line(text, r + 1);
		size_t      len = strlen(row);
		cells[r]        = calloc(ncols + 1, sizeof(**cells));
		for (size_t c = 0; c < ncols; c++) {
			size_t from = starts[c];
			size_t to   = c + 1 < ncols ? starts[c + 1] : len;
			if (from >= len || row[from] == ' '
			    || (from > 0 && row[from - 1] != ' ')) {
				fail_msg("row %zu column %zu is not aligned "
				         "with the header:\n%s",
				    r, c, text);
			}
			if (c + 1 < ncols) {
				// Three spaces at least between columns.
				assert_true(to >= 3 && row[to - 1] == ' '
				    && row[to - 2] == ' '
				    && row[to - 3] == ' ');
			}
			size_t n = to - from;
			while (n > 0 && row[from + n - 1] == ' ') {
				n--;
			}
			cells[r][c] = strndup(row + from, n);
		}
	}
	return (cells);
}

void
ct_cells_free(char ***cells)
{
	for (size_t r = 0; cells != NULL && cells[r] != NULL; r++) {
		for (size_t c = 0; cells[r][c] != NULL; c++) {
			free(cells[r][c]);
		}
		free(cells[r]);
	}
	free(cells);
}

bool
ct_kubefake_start(ct_kubefake *kf, const char *dir)
{
	const char *bin = th_bin("tests/kubefake/kubefake");
	char        state[600], log[600], buf[512];
	size_t      len = 0;
	int         p[2];

	memset(kf, 0, sizeof(*kf));
	if (access(bin, X_OK) != 0 || access("/usr/bin/kubectl", X_OK) != 0) {
		return (false);
	}
	snprintf(state, sizeof(state), "%s/kubefake-state", dir);
	snprintf(log, sizeof(log), "%s/kubefake.log", dir);
	snprintf(kf->kf_kubeconfig, sizeof(kf->kf_kubeconfig), "%s/kubeconfig",
	    dir);
	assert_int_equal(pipe(p), 0);
	kf->kf_pid = fork();
	if (kf->kf_pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(p[1], 1);
		if (fd >= 0) {
			dup2(fd, 2);
		}
		close(p[0]);
		execl(bin, bin, "--listen", "127.0.0.1:0", "--state-dir",
		    state, "--token", "kf-admin-token", "--write-kubeconfig",
		    kf->kf_kubeconfig, (char *) NULL);
		_exit(127);
	}
	close(p[1]);
	remember(kf->kf_pid);
	kf->kf_out = p[0];
	// Wait for "ready https://127.0.0.1:PORT".
	while (len + 1 < sizeof(buf)) {
		struct pollfd pf = {kf->kf_out, POLLIN, 0};
		ssize_t       n;
		if (poll(&pf, 1, 10000) <= 0
		    || (n = read(kf->kf_out, buf + len, sizeof(buf) - 1 - len))
		        <= 0) {
			break;
		}
		len += (size_t) n;
		buf[len] = '\0';
		char *nl = strchr(buf, '\n');
		if (nl != NULL && strncmp(buf, "ready ", 6) == 0) {
			snprintf(kf->kf_url, sizeof(kf->kf_url), "%.*s",
			    (int) (nl - buf - 6), buf + 6);
			return (true);
		}
	}
	buf[len] = '\0';
	char *l  = th_read_file(log, NULL);
	ct_kubefake_stop(kf);
	fail_msg("kubefake did not become ready: %s\n%s", buf, l ? l : "");
	return (false);
}

void
ct_kubefake_stop(ct_kubefake *kf)
{
	if (kf->kf_pid > 0) {
		kill(kf->kf_pid, SIGTERM);
		waitpid(kf->kf_pid, NULL, 0);
		kf->kf_pid = 0;
	}
	if (kf->kf_out > 0) {
		close(kf->kf_out);
		kf->kf_out = 0;
	}
}
