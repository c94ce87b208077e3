// connect.c: where the server is and who we are — the --server URL and the
// bearer token from flags, environment or defaults — and opening the
// connection. Also the file reading the commands share.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define DEFAULT_IPC_PATH   "./svcfleet-data/svcfleet.sock"
#define DEFAULT_IPC_URL    "ipc://" DEFAULT_IPC_PATH
#define DEFAULT_TCP_URL    "tcp://127.0.0.1:7070"
#define DEFAULT_TOKEN_FILE "./svcfleet-data/admin.token"

int
cli_read_file(const char *path, sf_buf *out)
{
	FILE  *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char   chunk[16384];
	size_t n;
	int    err = 0;

	if (f == NULL) {
		return (-1);
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (sf_buf_put(out, chunk, n) != 0) {
			err = ENOMEM;
			break;
		}
	}
	if (err == 0 && ferror(f)) {
		err = errno != 0 ? errno : EIO;
	}
	if (f != stdin) {
		fclose(f);
	}
	if (err == 0 && sf_buf_put(out, "", 0) != 0) {
		err = ENOMEM; // keeps b_data non-NULL for an empty file
	}
	if (err != 0) {
		errno = err;
		return (-1);
	}
	return (0);
}

char *
cli_read_secret(cli *c, const char *path)
{
	sf_buf      b = SF_BUF_INIT;
	const char *s;
	size_t      n;
	char       *out;

	if (cli_read_file(path, &b) != 0) {
		int e = errno;
		sf_buf_fini(&b);
		errno = e;
		return (NULL);
	}
	s = sf_buf_cstr(&b);
	s += strspn(s, " \t\r\n");
	n = strcspn(s, "\r\n");
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
		n--;
	}
	out = sf_arena_strndup(&c->c_arena, s, n);
	sf_buf_fini(&b);
	if (out == NULL) {
		errno = ENOMEM;
	}
	return (out);
}

static bool
exists(const char *path)
{
	struct stat sb;
	return (stat(path, &sb) == 0);
}

static const char *
server_url(const cli *c)
{
	const char *env = getenv("SVCFLEET_SERVER");
	if (c->c_set[F_SERVER]) {
		return (c->c_val[F_SERVER]);
	}
	if (env != NULL && env[0] != '\0') {
		return (env);
	}
	return (exists(DEFAULT_IPC_PATH) ? DEFAULT_IPC_URL : DEFAULT_TCP_URL);
}

// Reads an explicitly named token file; prints the error on failure.
static int
token_from_file(cli *c, const char *path, const char *from, char **out)
{
	if ((*out = cli_read_secret(c, path)) == NULL) {
		return (cli_fail(SF_INVALID_ARGUMENT,
		    "cannot read the token file %s (%s): %s", path, from,
		    strerror(errno)));
	}
	return (0);
}

// Is url a server on this machine? Only such a server gets the admin
// token found on disk by default: a token is never sent elsewhere unless
// the caller named it.
static bool
local_server(const char *url)
{
	static const char *const prefixes[] = {"ipc://", "tcp://127.",
	    "tcp://localhost:", "tcp://[::1]:", "tls+tcp://127.",
	    "tls+tcp://localhost:", "tls+tcp://[::1]:"};
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (strncmp(url, prefixes[i], strlen(prefixes[i])) == 0) {
			return (true);
		}
	}
	return (false);
}

// The caller's token: --token, --token-file, SVCFLEET_TOKEN,
// SVCFLEET_TOKEN_FILE, then, for a server on this machine, the admin
// token svcfleetd wrote: in ./svcfleet-data, or beside the ipc socket
// --server names.
static int
find_token(cli *c, const char *url, const char **out)
{
	bool        own_file = (c->c_cmd->cm_opts & CMD_OWN_TOKEN_FILE) != 0;
	const char *env      = getenv("SVCFLEET_TOKEN");
	const char *envf     = getenv("SVCFLEET_TOKEN_FILE");
	char       *tok      = NULL;
	int         rv;

	*out = NULL;
	if (c->c_set[F_TOKEN] && c->c_set[F_TOKEN_FILE] && !own_file) {
		return (cli_usage(
		    c, "--token and --token-file exclude each other"));
	}
	if (c->c_set[F_TOKEN]) {
		*out = c->c_val[F_TOKEN];
		return (0);
	}
	if (c->c_set[F_TOKEN_FILE] && !own_file) {
		rv = token_from_file(
		    c, c->c_val[F_TOKEN_FILE], "--token-file", &tok);
		*out = tok;
		return (rv);
	}
	if (env != NULL && env[0] != '\0') {
		*out = env;
		return (0);
	}
	if (envf != NULL && envf[0] != '\0') {
		rv   = token_from_file(c, envf, "SVCFLEET_TOKEN_FILE", &tok);
		*out = tok;
		return (rv);
	}
	if (!local_server(url)) {
		return (0);
	}
	if (access(DEFAULT_TOKEN_FILE, R_OK) == 0) {
		*out = cli_read_secret(c, DEFAULT_TOKEN_FILE);
		return (0);
	}
	if (strncmp(url, "ipc://", 6) == 0) {
		const char *path  = url + 6;
		const char *slash = strrchr(path, '/');
		char *f = sf_arena_printf(&c->c_arena, "%.*s/admin.token",
		    slash ? (int) (slash - path) : 1, slash ? path : ".");
		if (f != NULL && access(f, R_OK) == 0) {
			*out = cli_read_secret(c, f);
		}
	}
	return (0);
}

int
cli_connect(cli *c)
{
	const char *token;
	int         rv;

	if (c->c_client != NULL) {
		return (0);
	}
	c->c_url = server_url(c);
	if ((rv = find_token(c, c->c_url, &token)) != 0) {
		return (rv);
	}
	svcfleet_options o = {
	    .url         = c->c_url,
	    .token       = token,
	    .timeout_ms  = c->c_timeout_ms,
	    .connect_now = true,
	    .ca_file     = getenv("SVCFLEET_CA_FILE"),
	};
	if (svcfleet_open(&c->c_client, &o, &c->c_st) != 0) {
		return (cli_fail_status(&c->c_st, NULL));
	}
	return (0);
}
