// arena.c: a chunked bump allocator.
#include "arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK 8192
#define ARENA_ALIGN 16

struct sf_arena_chunk {
	sf_arena_chunk *next;
	size_t          size;
	size_t          used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

void
sf_arena_init(sf_arena *a)
{
	memset(a, 0, sizeof(*a));
}

void
sf_arena_reset(sf_arena *a)
{
	sf_arena_chunk *c = a->ar_head, *keep = NULL;

	// Keep the last (oldest, first-allocated) standard chunk.
	while (c != NULL) {
		sf_arena_chunk *next = c->next;
		if (next == NULL && c->size == ARENA_CHUNK) {
			keep       = c;
			keep->used = 0;
		} else {
			free(c);
		}
		c = next;
	}
	a->ar_head = keep;
	a->ar_used = 0;
}

void
sf_arena_fini(sf_arena *a)
{
	if (a == NULL) {
		return;
	}
	sf_arena_chunk *c = a->ar_head;
	while (c != NULL) {
		sf_arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	a->ar_head = NULL;
	a->ar_used = 0;
}

void *
sf_arena_alloc(sf_arena *a, size_t n)
{
	sf_arena_chunk *c = a->ar_head;
	size_t          need;

	if (n == 0) {
		n = 1;
	}
	if (n > SIZE_MAX / 2) {
		return (NULL);
	}
	need = (n + ARENA_ALIGN - 1) & ~(size_t) (ARENA_ALIGN - 1);
	if (c == NULL || c->size - c->used < need) {
		size_t          size = need > ARENA_CHUNK ? need : ARENA_CHUNK;
		sf_arena_chunk *nc   = malloc(sizeof(*nc) + size);
		if (nc == NULL) {
			return (NULL);
		}
		nc->size = size;
		nc->used = 0;
		if (size > ARENA_CHUNK && c != NULL) {
			// A large block goes behind the current chunk so the
			// current chunk's free space stays usable.
			nc->next = c->next;
			c->next  = nc;
			nc->used = need;
			a->ar_used += need;
			return (nc->data);
		}
		nc->next   = c;
		a->ar_head = nc;
		c          = nc;
	}
	void *p = c->data + c->used;
	c->used += need;
	a->ar_used += need;
	return (p);
}

void *
sf_arena_zalloc(sf_arena *a, size_t n)
{
	void *p = sf_arena_alloc(a, n);
	if (p != NULL) {
		memset(p, 0, n);
	}
	return (p);
}

char *
sf_arena_strndup(sf_arena *a, const char *s, size_t n)
{
	char *p = sf_arena_alloc(a, n + 1);
	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return (p);
}

char *
sf_arena_strdup(sf_arena *a, const char *s)
{
	return (sf_arena_strndup(a, s, strlen(s)));
}

char *
sf_arena_printf(sf_arena *a, const char *fmt, ...)
{
	va_list ap;
	int     n;
	char   *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (p = sf_arena_alloc(a, (size_t) n + 1)) == NULL) {
		return (NULL);
	}
	va_start(ap, fmt);
	vsnprintf(p, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return (p);
}

static void *
pbc_alloc(void *data, size_t n)
{
	return (sf_arena_alloc(data, n));
}

static void
pbc_free(void *data, void *p)
{
	(void) data;
	(void) p;
}

ProtobufCAllocator *
sf_arena_pbc(sf_arena *a)
{
	a->ar_pbc.alloc          = pbc_alloc;
	a->ar_pbc.free           = pbc_free;
	a->ar_pbc.allocator_data = a;
	return (&a->ar_pbc);
}
