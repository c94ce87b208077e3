// log.c: logfmt lines to a sink (stderr by default).
#include "log.h"

#include "clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static atomic_int         sf_log_level = SF_LOG_INFO;
static sf_log_sink        sf_log_sinkfn;
static void              *sf_log_sinkarg;
static _Thread_local char sf_log_reqid[64];
static const char *const  level_names[]
    = {"debug", "info", "warn", "error", "none"};

void
sf_log_set_level(int level)
{
	atomic_store(&sf_log_level, level);
}

int
sf_log_get_level(void)
{
	return (atomic_load(&sf_log_level));
}

int
sf_log_level_parse(const char *s)
{
	for (int i = 0; i <= SF_LOG_NONE; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			return (i);
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		return (SF_LOG_WARN);
	}
	return (-1);
}

const char *
sf_log_level_name(int level)
{
	if (level < 0 || level > SF_LOG_NONE) {
		return ("?");
	}
	return (level_names[level]);
}

void
sf_log_set_sink(sf_log_sink sink, void *arg)
{
	sf_log_sinkfn  = sink;
	sf_log_sinkarg = arg;
}

void
sf_log_set_request_id(const char *id)
{
	if (id == NULL) {
		sf_log_reqid[0] = '\0';
	} else {
		snprintf(sf_log_reqid, sizeof(sf_log_reqid), "%s", id);
	}
}

const char *
sf_log_request_id(void)
{
	return (sf_log_reqid[0] ? sf_log_reqid : NULL);
}

// Appends s to out as a logfmt value: bare when safe, else quoted with
// backslash escapes. Control characters never reach the log verbatim.
static size_t
put_value(char *out, size_t cap, size_t n, const char *s)
{
	int quote = (*s == '\0') || strpbrk(s, " \"=\\\t\n\r") != NULL;

	if (quote && n < cap) {
		out[n++] = '"';
	}
	for (; *s != '\0' && n + 4 < cap; s++) {
		unsigned char c = (unsigned char) *s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char) c;
		} else if (c == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			out[n++] = '?';
		} else {
			out[n++] = (char) c;
		}
	}
	if (quote && n < cap) {
		out[n++] = '"';
	}
	return (n);
}

void
sf_log(int level, const char *mod, const char *fmt, ...)
{
	char    msg[2048];
	char    line[4096];
	char    ts[40];
	va_list ap;
	int     n;

	if (level < atomic_load(&sf_log_level) || level >= SF_LOG_NONE) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	sf_clock_format_rfc3339_ms(sf_clock_now_ms(), ts, sizeof(ts));
	n = snprintf(line, sizeof(line), "time=%s level=%s mod=%s", ts,
	    level_names[level], mod);
	if (n < 0 || (size_t) n >= sizeof(line)) {
		return;
	}
	if (sf_log_reqid[0] != '\0') {
		size_t k = (size_t) n;
		k = (size_t) snprintf(line + k, sizeof(line) - k, " req=") + k;
		n = (int) put_value(line, sizeof(line), k, sf_log_reqid);
	}
	size_t k = (size_t) n;
	if (k + 5 < sizeof(line)) {
		memcpy(line + k, " msg=", 5);
		k = put_value(line, sizeof(line) - 1, k + 5, msg);
	}
	line[k < sizeof(line) ? k : sizeof(line) - 1] = '\0';

	if (sf_log_sinkfn != NULL) {
		sf_log_sinkfn(sf_log_sinkarg, level, line);
	} else {
		fprintf(stderr, "%s\n", line);
	}
}
