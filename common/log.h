// log.h: leveled, structured (logfmt) logging to one sink.
//
// A line looks like
//   time=2026-11-26T03:12:18.123Z level=info mod=store req=4f2a msg="opened"
// with req= present while a request id is set on the calling thread. The
// default sink is stderr; the client library installs none, so a program
// using libsvcfleet sees no output unless it asks for it.
#ifndef SF_LOG_H
#define SF_LOG_H

#include <stdarg.h>

enum sf_log_level {
	SF_LOG_DEBUG = 0,
	SF_LOG_INFO  = 1,
	SF_LOG_WARN  = 2,
	SF_LOG_ERROR = 3,
	SF_LOG_NONE  = 4,
};

// sf_log_sink receives one finished line without the trailing newline.
typedef void (*sf_log_sink)(void *arg, int level, const char *line);

// sf_log_set_level sets the lowest level written (default SF_LOG_INFO).
void sf_log_set_level(int level);
int  sf_log_get_level(void);

// sf_log_level_parse parses "debug", "info", "warn", "error" or "none";
// returns -1 otherwise.
int         sf_log_level_parse(const char *s);
const char *sf_log_level_name(int level);

// sf_log_set_sink replaces the sink; NULL restores stderr. Not thread-safe
// with concurrent logging; call it at start-up.
void sf_log_set_sink(sf_log_sink sink, void *arg);

// sf_log_set_request_id tags this thread's lines with req=ID until it is
// set to NULL. The string is copied.
void        sf_log_set_request_id(const char *id);
const char *sf_log_request_id(void);

// sf_log writes msg (printf format) at level from module mod. Extra
// key=value pairs can be written into the message by the caller; the
// message is quoted when it contains spaces, quotes or '='.
void sf_log(int level, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SF_DEBUG(mod, ...)                                      \
	do {                                                    \
		if (sf_log_get_level() <= SF_LOG_DEBUG)         \
			sf_log(SF_LOG_DEBUG, mod, __VA_ARGS__); \
	} while (0)
#define SF_INFO(mod, ...)  sf_log(SF_LOG_INFO, mod, __VA_ARGS__)
#define SF_WARN(mod, ...)  sf_log(SF_LOG_WARN, mod, __VA_ARGS__)
#define SF_ERROR(mod, ...) sf_log(SF_LOG_ERROR, mod, __VA_ARGS__)

#endif // SF_LOG_H
