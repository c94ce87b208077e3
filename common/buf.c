// buf.c: growable buffer.
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sf_buf_init(sf_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
sf_buf_fini(sf_buf *b)
{
	if (b == NULL) {
		return;
	}
	free(b->b_data);
	memset(b, 0, sizeof(*b));
}

void
sf_buf_reset(sf_buf *b)
{
	b->b_len = 0;
	b->b_oom = 0;
	if (b->b_data != NULL) {
		b->b_data[0] = '\0';
	}
}

static int
grow(sf_buf *b, size_t extra)
{
	size_t need = b->b_len + extra + 1;
	if (b->b_oom) {
		return (-1);
	}
	if (need <= b->b_cap) {
		return (0);
	}
	size_t cap = b->b_cap ? b->b_cap : 64;
	while (cap < need) {
		cap *= 2;
	}
	char *d = realloc(b->b_data, cap);
	if (d == NULL) {
		b->b_oom = 1;
		return (-1);
	}
	b->b_data = d;
	b->b_cap  = cap;
	return (0);
}

int
sf_buf_put(sf_buf *b, const void *p, size_t n)
{
	if (grow(b, n) != 0) {
		return (-1);
	}
	if (n > 0) {
		memcpy(b->b_data + b->b_len, p, n);
	}
	b->b_len += n;
	b->b_data[b->b_len] = '\0';
	return (0);
}

int
sf_buf_puts(sf_buf *b, const char *s)
{
	return (sf_buf_put(b, s, strlen(s)));
}

int
sf_buf_putc(sf_buf *b, char c)
{
	return (sf_buf_put(b, &c, 1));
}

int
sf_buf_vprintf(sf_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int     n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || grow(b, (size_t) n) != 0) {
		return (-1);
	}
	vsnprintf(b->b_data + b->b_len, (size_t) n + 1, fmt, ap);
	b->b_len += (size_t) n;
	return (0);
}

int
sf_buf_printf(sf_buf *b, const char *fmt, ...)
{
	va_list ap;
	int     rv;

	va_start(ap, fmt);
	rv = sf_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return (rv);
}

char *
sf_buf_take(sf_buf *b)
{
	char *d;
	if (b->b_data == NULL && grow(b, 0) == 0) {
		b->b_data[0] = '\0';
	}
	d = b->b_data;
	memset(b, 0, sizeof(*b));
	return (d);
}

const char *
sf_buf_cstr(const sf_buf *b)
{
	return (b->b_data != NULL ? b->b_data : "");
}
