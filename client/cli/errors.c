// errors.c: how the command line reports failure. One line on stderr,
// "error: <STATUS_NAME>: <message>", then "  <field.path>: <reason>" per
// field violation (DESIGN §8). Usage errors are found here, before any
// call, so they carry no RPC status: "error: <message> (see '... --help')",
// exit 2 (issue 20).
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

// Messages are one line by contract; a stray line break from a server or
// a file name would break scripts that read the first line.
static void
put_line(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
	}
}

int
sf__cli_usage(const cli *c, const char *fmt, ...)
{
	char    msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fputs("error: ", stderr);
	put_line(stderr, msg);
	if (c != NULL && c->c_cmdname[0] != '\0') {
		fprintf(stderr, " (see '%s %s --help')\n", c->c_prog,
		    c->c_cmdname);
	} else {
		fprintf(stderr, " (see '%s help')\n",
		    c != NULL ? c->c_prog : "svcfleet");
	}
	return (CLI_EXIT_USAGE);
}

int
sf__cli_fail(int code, const char *fmt, ...)
{
	char    msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "error: %s: ", svcfleet_code_name(code));
	put_line(stderr, msg);
	fputc('\n', stderr);
	return (CLI_EXIT_FAIL);
}

static void
put_error_line(int code, const char *prefix, const char *msg)
{
	fprintf(stderr, "error: %s: ", svcfleet_code_name(code));
	if (prefix != NULL) {
		put_line(stderr, prefix);
	}
	put_line(stderr, msg[0] != '\0' ? msg : sf_status_str(code));
	fputc('\n', stderr);
}

static void
put_violation(const char *field, const char *reason)
{
	fputs("  ", stderr);
	put_line(stderr, field != NULL && field[0] != '\0' ? field : "<root>");
	fputs(": ", stderr);
	put_line(stderr, sf_nz(reason));
	fputc('\n', stderr);
}

// Set by sf__cli_connect once it knows where the token came from.
static const char *auth_hint;

void
sf__cli_set_auth_hint(const char *hint)
{
	auth_hint = hint;
}

// Set by the commands whose flags map to fields (create, update).
static cli *flags_cli;

void
sf__cli_name_flags(cli *c)
{
	flags_cli = c;
}

// The message without a trailing copy of the violations ("Service "x"
// is invalid: spec.type: Unsupported value ..." -> "Service "x" is
// invalid"; with several, ": [a: ..., b: ...]"), into buf: each violation
// gets its own line, and is printed once (issue 20). A message that is nothing
// but the violation becomes the status's generic text.
static const char *
trimmed_message(int code, const char *msg, size_t nviol, const char *field,
    const char *reason, char *buf, size_t cap)
{
	char   dup[1100];
	size_t n = strlen(msg), k;

	if (nviol == 0 || field == NULL || reason == NULL) {
		return (msg);
	}
	// Several: the server lists them as ": [a: x, b: y]" too.
	if (nviol > 1) {
		snprintf(dup, sizeof(dup), ": [%s: ", field);
		const char *at = strstr(msg, dup);
		if (at == NULL || msg[n - 1] != ']') {
			return (msg);
		}
		snprintf(buf, cap, "%.*s", (int) (at - msg), msg);
		return (buf);
	}
	snprintf(dup, sizeof(dup), "%s: %s", field, reason);
	k = strlen(dup);
	if (n < k || strcmp(msg + n - k, dup) != 0) {
		return (msg);
	}
	n -= k;
	while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == ':')) {
		n--;
	}
	if (n == 0) {
		return (sf_status_str(code));
	}
	snprintf(buf, cap, "%.*s", (int) n, msg);
	return (buf);
}

int
sf__cli_fail_status(const svcfleet_status *st, const char *prefix)
{
	char msg[sizeof(st->message)];
	put_error_line(st->code, prefix,
	    trimmed_message(st->code, st->message, st->n_violations,
	        st->n_violations > 0 ? st->violations[0].field : NULL,
	        st->n_violations > 0 ? st->violations[0].reason : NULL, msg,
	        sizeof(msg)));
	for (size_t i = 0; i < st->n_violations; i++) {
		const char *flag = flags_cli != NULL
		    ? sf__cli_field_flag(flags_cli, st->violations[i].field)
		    : NULL;
		if (flag == NULL) {
			put_violation(
			    st->violations[i].field, st->violations[i].reason);
			continue;
		}
		char *r = sf_arena_printf(&flags_cli->c_arena, "%s (from %s)",
		    sf_nz(st->violations[i].reason), flag);
		put_violation(st->violations[i].field,
		    r != NULL ? r : st->violations[i].reason);
	}
	// Not indented: it is advice, not a field violation.
	if (st->code == SVCFLEET_UNAUTHENTICATED && auth_hint != NULL) {
		fputs("hint: ", stderr);
		put_line(stderr, auth_hint);
		fputc('\n', stderr);
	}
	return (CLI_EXIT_FAIL);
}

int
sf__cli_fail_sf(const sf_status *st, const char *prefix)
{
	int  code = st->st_code != 0 ? st->st_code : SF_INVALID_ARGUMENT;
	char msg[1024];
	put_error_line(code, prefix,
	    trimmed_message(code, sf_nz(st->st_msg), st->st_nviol,
	        st->st_nviol > 0 ? st->st_viol[0].v_field : NULL,
	        st->st_nviol > 0 ? st->st_viol[0].v_reason : NULL, msg,
	        sizeof(msg)));
	for (size_t i = 0; i < st->st_nviol; i++) {
		put_violation(st->st_viol[i].v_field, st->st_viol[i].v_reason);
	}
	return (CLI_EXIT_FAIL);
}
