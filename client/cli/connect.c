// connect.c: where the server is and who we are — the --server URL and the
// bearer token from flags, environment or defaults — and opening the
// connection. Also the file reading the commands share.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>

#include "cli.h"

#define DEFAULT_IPC_PATH   "./svcfleet-data/svcfleet.sock"
#define DEFAULT_IPC_URL    "ipc://" DEFAULT_IPC_PATH
#define DEFAULT_TCP_URL    "tcp://127.0.0.1:7070"
#define DEFAULT_TOKEN_FILE "./svcfleet-data/admin.token"

int
sf__cli_read_file(const char *path, sf_buf *out)
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
sf__cli_read_secret(cli *c, const char *path)
{
	sf_buf      b = SF_BUF_INIT;
	const char *s;
	size_t      n;
	char       *out;

	if (sf__cli_read_file(path, &b) != 0) {
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

// Is the default socket one to trust with the caller's token? Only a
// socket owned by the caller (or root): ./svcfleet-data in a directory
// others can write (/tmp, a shared checkout) may hold anyone's listener,
// which would receive the token (issue 17, finding 19). why gets the
// reason when it is not.
static bool
default_socket_ok(cli *c, const char **why)
{
	struct stat sb;
	if (lstat(DEFAULT_IPC_PATH, &sb) != 0) {
		return (false);
	}
	if (!S_ISSOCK(sb.st_mode)) {
		*why = sf_arena_printf(
		    &c->c_arena, "%s is not a socket", DEFAULT_IPC_PATH);
		return (false);
	}
	if (sb.st_uid != geteuid() && sb.st_uid != 0) {
		*why = sf_arena_printf(&c->c_arena,
		    "%s belongs to uid %u, not to you (uid %u) or root",
		    DEFAULT_IPC_PATH, (unsigned) sb.st_uid,
		    (unsigned) geteuid());
		return (false);
	}
	return (true);
}

// The server URL and, in *from, where it came from (for -v).
static const char *
server_url(cli *c, const char **from)
{
	const char *env = getenv("SVCFLEET_SERVER");
	const char *why = NULL;
	if (c->c_set[F_SERVER]) {
		*from = "--server";
		return (c->c_val[F_SERVER]);
	}
	if (env != NULL && env[0] != '\0') {
		*from = "SVCFLEET_SERVER";
		return (env);
	}
	if (default_socket_ok(c, &why)) {
		*from = "the default: the socket is yours";
		return (DEFAULT_IPC_URL);
	}
	if (why != NULL) {
		fprintf(stderr, "warning: not using %s: %s\n", DEFAULT_IPC_URL,
		    why);
	}
	*from = "the default";
	return (DEFAULT_TCP_URL);
}

// Reads a token file the caller named (from says how: "--token-file");
// prints the error on failure. A file that cannot be read or holds no
// token is an error naming it: sending no token instead would only earn
// a puzzling UNAUTHENTICATED.
static int
token_from_file(cli *c, const char *path, const char *from, char **out)
{
	if ((*out = sf__cli_read_secret(c, path)) == NULL) {
		return (sf__cli_fail(SF_INVALID_ARGUMENT,
		    "cannot read the token file %s (%s): %s", path, from,
		    strerror(errno)));
	}
	if ((*out)[0] == '\0') {
		return (sf__cli_fail(SF_INVALID_ARGUMENT,
		    "the token file %s (%s) holds no token", path, from));
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
	// --server URL,URL,... (svcfleetd replicas): every one must be.
	for (const char *u = url; u != NULL;
	     u = strchr(u, ',') != NULL ? strchr(u, ',') + 1 : NULL) {
		bool local = false;
		while (*u == ' ') {
			u++;
		}
		for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]);
		     i++) {
			if (strncmp(u, prefixes[i], strlen(prefixes[i]))
			    == 0) {
				local = true;
			}
		}
		if (!local) {
			return (false);
		}
	}
	return (true);
}

// The admin token svcfleetd wrote, when path holds one we may read. A
// default file we cannot use is skipped (calls that need no token still
// work), and the reason goes into the hint of an UNAUTHENTICATED error.
static char *
default_token(cli *c, const char *path, const char **why)
{
	char *tok;
	if (access(path, F_OK) != 0) {
		return (NULL);
	}
	if (access(path, R_OK) != 0
	    || (tok = sf__cli_read_secret(c, path)) == NULL) {
		*why = sf_arena_printf(
		    &c->c_arena, "%s exists but is not readable by you", path);
		return (NULL);
	}
	if (tok[0] == '\0') {
		*why = sf_arena_printf(&c->c_arena, "%s is empty", path);
		return (NULL);
	}
	return (tok);
}

// How to pass a token, for the hint.
static const char *
token_ways(void)
{
	return ("pass one with --token TOKEN or --token-file FILE, or set "
	        "SVCFLEET_TOKEN or SVCFLEET_TOKEN_FILE (an admin makes one "
	        "with `svcfleet token create USER`)");
}

// Where the token of this run came from, for -v.
static const char *token_from = "";

// The caller's token, in this order: the flags (--token, --token-file),
// the environment (SVCFLEET_TOKEN, SVCFLEET_TOKEN_FILE), then, for a
// server on this machine only, the admin token svcfleetd wrote: in
// ./svcfleet-data, or beside the ipc socket --server names. Also sets the
// hint an UNAUTHENTICATED reply gets, naming where the token came from.
static int
find_token(cli *c, const char *url, const char **out)
{
	const char *env  = getenv("SVCFLEET_TOKEN");
	const char *envf = getenv("SVCFLEET_TOKEN_FILE");
	const char *from = NULL, *why = NULL;
	char       *tok = NULL;
	int         rv  = 0;

	*out = NULL;
	if (c->c_set[F_TOKEN] && c->c_set[F_TOKEN_FILE]) {
		return (sf__cli_usage(
		    c, "--token and --token-file exclude each other"));
	}
	if (c->c_set[F_TOKEN]) {
		*out = c->c_val[F_TOKEN];
		from = "--token";
	} else if (c->c_set[F_TOKEN_FILE]) {
		rv = token_from_file(
		    c, c->c_val[F_TOKEN_FILE], "--token-file", &tok);
		*out = tok;
		from = sf_arena_printf(
		    &c->c_arena, "--token-file %s", c->c_val[F_TOKEN_FILE]);
	} else if (env != NULL && env[0] != '\0') {
		*out = env;
		from = "SVCFLEET_TOKEN";
	} else if (envf != NULL && envf[0] != '\0') {
		rv   = token_from_file(c, envf, "SVCFLEET_TOKEN_FILE", &tok);
		*out = tok;
		from = sf_arena_printf(
		    &c->c_arena, "SVCFLEET_TOKEN_FILE=%s", envf);
	} else if (local_server(url)) {
		const char *path = DEFAULT_TOKEN_FILE;
		if ((*out = default_token(c, path, &why)) == NULL
		    && strncmp(url, "ipc://", 6) == 0) {
			const char *sock  = url + 6;
			const char *slash = strrchr(sock, '/');
			path = sf_arena_printf(&c->c_arena, "%.*s/admin.token",
			    slash ? (int) (slash - sock) : 1,
			    slash ? sock : ".");
			if (path != NULL) {
				*out = default_token(c, path, &why);
			}
		}
		if (*out != NULL) {
			from = sf_arena_printf(
			    &c->c_arena, "%s (the default)", path);
		}
	}
	token_from = from;
	if (rv != 0) {
		return (rv);
	}
	if (*out == NULL) {
		sf__cli_set_auth_hint(sf_arena_printf(&c->c_arena,
		    "no token was sent%s%s%s: %s", why ? " (" : "",
		    why ? why : "", why ? ")" : "", token_ways()));
	} else if (from != NULL) {
		sf__cli_set_auth_hint(sf_arena_printf(&c->c_arena,
		    "the token came from %s; %s", from, token_ways()));
	}
	return (0);
}

// ----------------------------------------------------------------- TLS

static bool
is_tls(const char *url)
{
	// (In a list of servers, when any is.)
	return (strstr(url, "tls+tcp://") != NULL);
}

// The TLS options of o from the flags and environment. Only a tls+tcp://
// server takes them; naming one for another server is a mistake worth
// hearing about (it would not protect anything).
static int
tls_options(cli *c, svcfleet_options *o)
{
	bool        own_ca   = (c->c_cmd->cm_flags & FL(CA_FILE)) != 0;
	bool        flag_ca  = c->c_set[F_CA_FILE] && !own_ca;
	bool        insecure = sf__cli_flag(c, F_INSECURE_SKIP_VERIFY);
	const char *env_ca   = getenv("SVCFLEET_CA_FILE");
	const char *env_name = getenv("SVCFLEET_SERVER_NAME");
	const char *ca = NULL, *ca_from = NULL;
	FILE       *f;

	if (!is_tls(c->c_url)) {
		const char *flag = flag_ca    ? "--ca-file"
		    : c->c_set[F_SERVER_NAME] ? "--server-name"
		    : insecure                ? "--insecure-skip-verify"
		                              : NULL;
		if (flag != NULL) {
			return (sf__cli_usage(c,
			    "%s applies to tls+tcp:// servers only, and %s "
			    "is not one",
			    flag, c->c_url));
		}
		return (0);
	}
	if (flag_ca) {
		ca      = c->c_val[F_CA_FILE];
		ca_from = "--ca-file";
	} else if (env_ca != NULL && env_ca[0] != '\0') {
		ca      = env_ca;
		ca_from = "SVCFLEET_CA_FILE";
	}
	if (insecure && flag_ca) {
		return (sf__cli_usage(c,
		    "--ca-file and --insecure-skip-verify exclude each "
		    "other"));
	}
	if (!insecure && ca == NULL) {
		return (sf__cli_usage(c,
		    "%s is a TLS server: give --ca-file FILE (or "
		    "SVCFLEET_CA_FILE) with the CA certificate that signed "
		    "its certificate, or --insecure-skip-verify to connect "
		    "without checking who answers",
		    c->c_url));
	}
	if (insecure) {
		fprintf(stderr,
		    "warning: --insecure-skip-verify: the certificate of %s "
		    "is not verified; anyone on the way can read the token "
		    "and change the answers\n",
		    c->c_url);
		ca = NULL;
	} else if ((f = fopen(ca, "r")) == NULL) {
		return (sf__cli_fail(SF_INVALID_ARGUMENT,
		    "cannot read the CA file %s (%s): %s", ca, ca_from,
		    strerror(errno)));
	} else {
		fclose(f);
	}
	o->ca_file              = ca;
	o->insecure_skip_verify = insecure;
	o->server_name          = c->c_set[F_SERVER_NAME]
	             ? c->c_val[F_SERVER_NAME]
	             : (env_name != NULL && env_name[0] != '\0' ? env_name : NULL);
	return (0);
}

// Does a failure to connect read like nng's error code rv?
static bool
failed_with(const svcfleet_status *st, int rv)
{
	const char *want = nng_strerror(rv);
	size_t      n = strlen(st->message), k = strlen(want);
	return (n >= k && strcmp(st->message + n - k, want) == 0);
}

// Reports a failed svcfleet_open. The library's "Cryptographic error" or
// "Connection shutdown" is true but says little; the usual causes of a
// failed handshake are named here.
static int
open_failed(cli *c, const svcfleet_options *o)
{
	const svcfleet_status *st = &c->c_st;

	if (st->code != SVCFLEET_UNAVAILABLE) {
		return (sf__cli_fail_status(st, NULL));
	}
	if (is_tls(c->c_url)
	    && (failed_with(st, NNG_ECRYPTO) || failed_with(st, NNG_EPEERAUTH)
	        || failed_with(st, NNG_ECONNSHUT))) {
		if (o->insecure_skip_verify) {
			return (sf__cli_fail(SF_UNAVAILABLE,
			    "%s: the TLS handshake failed: is it a tls+tcp:// "
			    "listener?",
			    st->message));
		}
		return (sf__cli_fail(SF_UNAVAILABLE,
		    "%s: the TLS handshake failed: the server's certificate "
		    "is not signed by a CA in %s, does not name %s (see "
		    "--server-name), or the server does not speak TLS",
		    st->message, o->ca_file,
		    o->server_name != NULL ? o->server_name
		                           : "the --server host"));
	}
	// Nobody listens there: the usual cause is a daemon not started.
	if (failed_with(st, NNG_ECONNREFUSED) || failed_with(st, NNG_ENOENT)) {
		return (sf__cli_fail(SF_UNAVAILABLE,
		    "%s: is svcfleetd running? (`./dev.sh run` starts one in "
		    "a checkout; see --server)",
		    st->message));
	}
	if (!is_tls(c->c_url) && failed_with(st, NNG_ECONNSHUT)) {
		return (sf__cli_fail(SF_UNAVAILABLE,
		    "%s: the server closed the connection during the "
		    "handshake: if it is a TLS listener, use tls+tcp://",
		    st->message));
	}
	return (sf__cli_fail_status(st, NULL));
}

// The schemes svcfleetd listens on. Anything else (http://, a bare
// host:port) is a usage error that says which to use (issue 20).
static int
check_schemes(cli *c, const char *from)
{
	static const char *const ok[] = {"tcp://", "ipc://", "tls+tcp://",
	    "tcp4://", "tcp6://", "tls+tcp4://", "tls+tcp6://", "inproc://"};
	for (const char *u = c->c_url; u != NULL;
	     u = strchr(u, ',') != NULL ? strchr(u, ',') + 1 : NULL) {
		bool   good = false;
		size_t n;
		while (*u == ' ') {
			u++;
		}
		n = strcspn(u, ",");
		for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
			good |= strncmp(u, ok[i], strlen(ok[i])) == 0;
		}
		if (!good) {
			return (sf__cli_usage(c,
			    "invalid server URL \"%.*s\" (from %s): use "
			    "tcp://, ipc:// or tls+tcp://, e.g. "
			    "tcp://127.0.0.1:7070",
			    (int) n, u, from));
		}
	}
	return (0);
}

int
sf__cli_connect(cli *c)
{
	svcfleet_options o = {0};
	const char      *token;
	int              rv;

	if (c->c_client != NULL) {
		return (0);
	}
	const char *from = "";
	c->c_url         = server_url(c, &from);
	if ((rv = check_schemes(c, from)) != 0
	    || (rv = tls_options(c, &o)) != 0
	    || (rv = find_token(c, c->c_url, &token)) != 0) {
		return (rv);
	}
	if (sf__cli_flag(c, F_VERBOSE)) {
		fprintf(stderr, "svcfleet: server %s (from %s); %s\n",
		    c->c_url, from,
		    token == NULL ? "no token"
		                  : sf_arena_printf(&c->c_arena,
		                      "token from %s", token_from));
	}
	o.url         = c->c_url;
	o.token       = token;
	o.timeout_ms  = c->c_timeout_ms;
	o.connect_now = true;
	if (svcfleet_open(&c->c_client, &o, &c->c_st) != 0) {
		return (open_failed(c, &o));
	}
	return (0);
}
