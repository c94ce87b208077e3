// buf.h: a growable byte/string buffer (always NUL-terminated).
#ifndef SF_BUF_H
#define SF_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct sf_buf {
	char  *b_data; // NUL-terminated when b_len > 0 or after any append
	size_t b_len;
	size_t b_cap;
	int    b_oom; // set when an append failed; later appends do nothing
} sf_buf;

#define SF_BUF_INIT           \
	{                     \
		NULL, 0, 0, 0 \
	}

void sf_buf_init(sf_buf *b);
void sf_buf_fini(sf_buf *b);
void sf_buf_reset(sf_buf *b); // length 0, memory kept
// Appends return 0 or -1 (out of memory, b_oom set).
int sf_buf_put(sf_buf *b, const void *p, size_t n);
int sf_buf_puts(sf_buf *b, const char *s);
int sf_buf_putc(sf_buf *b, char c);
int sf_buf_printf(sf_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int sf_buf_vprintf(sf_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
// sf_buf_take hands the data to the caller (free() it) and empties b. It
// never returns NULL unless out of memory.
char *sf_buf_take(sf_buf *b);
// sf_buf_cstr returns the contents as a string ("" when empty).
const char *sf_buf_cstr(const sf_buf *b);

#endif // SF_BUF_H
