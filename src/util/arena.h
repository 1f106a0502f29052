/* arena.h - region allocation: everything a measurement records lives in one arena and is
 * freed in one go when the measurement has been written out. Out of memory is reported as
 * NULL (never aborts); callers turn it into a recorded failure. */
#ifndef CS_ARENA_H
#define CS_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct cs_arena cs_arena;

/* limit: maximum bytes the arena may hold (0 = unlimited). */
cs_arena *cs_arena_new(size_t limit);
void cs_arena_free(cs_arena *a);
void *cs_arena_alloc(cs_arena *a, size_t n);     /* zeroed, aligned to max_align_t */
void *cs_arena_alloc_raw(cs_arena *a, size_t n); /* the same, not zeroed */
void *cs_arena_memdup(cs_arena *a, const void *p, size_t n);
char *cs_arena_strdup(cs_arena *a, const char *s); /* NULL in -> NULL out */
/* Hands a malloc'd block of n bytes to the arena, which frees it with everything else (a
 * body kept without a copy). Returns p, or NULL (p freed) when the limit or memory says no. */
void *cs_arena_adopt(cs_arena *a, void *p, size_t n);
char *cs_arena_strndup(cs_arena *a, const char *s, size_t n);
char *cs_arena_printf(cs_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t cs_arena_used(const cs_arena *a);

#endif
