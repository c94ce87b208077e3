// term.c: what the CLI writes to a terminal is shown, never obeyed
// (issue 17, finding 10; kubectl's CVE-2021-25743). Annotations, audited
// names and servers' messages are other people's text: an escape sequence
// in one could retitle the window, rewrite lines already printed or, on
// some terminals, answer back as typed input. When stdout or stderr is a
// terminal, the stream is replaced by one that prints control characters
// in caret notation (ESC as ^[, BEL as ^G, DEL as ^?) and C1 controls as
// \u0080..\u009f; newline and tab pass. Pipes and files get the bytes
// unchanged (-o json|yaml output is for programs).
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct guard {
	int g_fd;
	bool
	    g_c2; // the previous chunk ended in 0xc2 (a C1 control may follow)
} guard;

static guard out_guard = {1, false}, err_guard = {2, false};

static bool
put(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0) {
			return (false);
		}
		p += w;
		n -= (size_t) w;
	}
	return (true);
}

static ssize_t
guard_write(void *cookie, const char *buf, size_t size)
{
	guard        *g = cookie;
	char          out[4096 + 16];
	size_t        n = 0;
	unsigned char ch;

	for (size_t i = 0; i < size; i++) {
		ch = (unsigned char) buf[i];
		if (g->g_c2) {
			g->g_c2 = false;
			if (ch >= 0x80 && ch <= 0x9f) {
				n += (size_t) snprintf(
				    out + n, sizeof(out) - n, "\\u%04x", ch);
			} else {
				out[n++] = (char) 0xc2;
				i--; // this byte again, on its own
			}
		} else if (ch == 0xc2) {
			g->g_c2 = true;
		} else if ((ch < 0x20 && ch != '\n' && ch != '\t')
		    || ch == 0x7f) {
			out[n++] = '^';
			out[n++] = ch == 0x7f ? '?' : (char) (ch + 0x40);
		} else {
			out[n++] = (char) ch;
		}
		if (n >= 4096 && !put(g->g_fd, out, n)) {
			return (-1);
		} else if (n >= 4096) {
			n = 0;
		}
	}
	if (n > 0 && !put(g->g_fd, out, n)) {
		return (-1);
	}
	return ((ssize_t) size);
}

static int
guard_close(void *cookie)
{
	guard *g = cookie;
	if (g->g_c2) {
		g->g_c2 = false;
		return (put(g->g_fd, "\xc2", 1) ? 0 : -1);
	}
	return (0);
}

static FILE *
guarded(guard *g, int mode)
{
	cookie_io_functions_t io = {NULL, guard_write, NULL, guard_close};
	FILE                 *f  = fopencookie(g, "w", io);
	if (f != NULL) {
		setvbuf(f, NULL, mode, 0);
	}
	return (f);
}

void
sf__cli_term_guard(void)
{
	FILE *f;
	if (isatty(1) && (f = guarded(&out_guard, _IOLBF)) != NULL) {
		fflush(stdout);
		stdout = f;
	}
	if (isatty(2) && (f = guarded(&err_guard, _IONBF)) != NULL) {
		stderr = f;
	}
}
