// file.c: see file.h.
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
sf_file_read(const char *path, size_t max, size_t *len)
{
	FILE  *f = fopen(path, "rb");
	char  *buf;
	size_t n = 0, cap = 4096;

	if (f == NULL) {
		return (NULL);
	}
	if ((buf = malloc(cap)) == NULL) {
		fclose(f);
		errno = ENOMEM;
		return (NULL);
	}
	for (;;) {
		size_t got;
		if (n + 1 == cap) {
			char *nb;
			if (cap > max + 1) {
				break;
			}
			// Not realloc: the old block may hold a key, and
			// realloc would free it unwiped.
			if ((nb = malloc(cap * 2)) == NULL) {
				explicit_bzero(buf, cap);
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return (NULL);
			}
			memcpy(nb, buf, n);
			explicit_bzero(buf, cap);
			free(buf);
			buf = nb;
			cap *= 2;
		}
		got = fread(buf + n, 1, cap - 1 - n, f);
		n += got;
		if (got == 0) {
			break;
		}
	}
	if (ferror(f) || n > max) {
		int e = ferror(f) ? EIO : EFBIG;
		explicit_bzero(buf, cap);
		free(buf);
		fclose(f);
		errno = e;
		return (NULL);
	}
	fclose(f);
	buf[n] = '\0';
	if (len != NULL) {
		*len = n;
	}
	return (buf);
}
