// arena.h: per-request bump allocation.
//
// A request's decoded message, its handler's scratch strings and its reply
// all come from one arena, released in one step when the reply has been
// sent. sf_arena_pbc() adapts an arena to protobuf-c's allocator interface
// (its free is a no-op), so unpacking a request costs no malloc per field.
#ifndef SF_ARENA_H
#define SF_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stddef.h>

typedef struct sf_arena_chunk sf_arena_chunk;

// sf_arena: embed it or allocate it; zero-initialised is a valid empty
// arena. Not thread-safe.
typedef struct sf_arena {
	sf_arena_chunk    *ar_head;
	size_t             ar_used; // bytes handed out, for metrics
	ProtobufCAllocator ar_pbc;
} sf_arena;

void sf_arena_init(sf_arena *a);
// sf_arena_reset frees every chunk but the first, which is kept for reuse.
void sf_arena_reset(sf_arena *a);
// sf_arena_fini frees everything.
void sf_arena_fini(sf_arena *a);

// sf_arena_alloc returns n bytes aligned for any type, valid until the next
// reset or fini, or NULL when memory is exhausted. Memory is not zeroed;
// sf_arena_zalloc zeroes it.
void *sf_arena_alloc(sf_arena *a, size_t n);
void *sf_arena_zalloc(sf_arena *a, size_t n);
char *sf_arena_strdup(sf_arena *a, const char *s);
char *sf_arena_strndup(sf_arena *a, const char *s, size_t n);
char *sf_arena_printf(sf_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// sf_arena_pbc returns a protobuf-c allocator drawing from a; it stays valid
// as long as a does.
ProtobufCAllocator *sf_arena_pbc(sf_arena *a);

#endif // SF_ARENA_H
