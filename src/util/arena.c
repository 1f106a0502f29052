/* arena.c - chunked bump allocator (see arena.h). */
#include "util/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct chunk {
  struct chunk *next;
  size_t cap, used;
  alignas(max_align_t) unsigned char data[];
} chunk;

typedef struct adopted {
  struct adopted *next;
  void *p;
} adopted;

struct cs_arena {
  chunk *head;    /* the chunk small allocations are cut from; large ones follow it */
  adopted *owned; /* blocks handed over by cs_arena_adopt */
  size_t total, limit;
  size_t next_cap; /* capacity of the next regular chunk */
};

/* Small allocations are cut from regular chunks that double from CHUNK_MIN to CHUNK_MAX;
 * an allocation of BIG bytes or more (a body, a certificate) gets a chunk of its own, so it
 * neither wastes a regular chunk's tail nor makes the next regular chunk grow. */
#define CHUNK_MIN 4096u
#define CHUNK_MAX (32u * 1024u)
#define BIG 1024u

cs_arena *cs_arena_new(size_t limit) {
  cs_arena *a = calloc(1, sizeof *a);
  if (a) a->limit = limit, a->next_cap = CHUNK_MIN;
  return a;
}

void cs_arena_free(cs_arena *a) {
  if (!a) return;
  for (adopted *o = a->owned; o; o = o->next) free(o->p); /* first: the nodes are in chunks */
  for (chunk *c = a->head, *n; c; c = n) {
    n = c->next;
    free(c);
  }
  free(a);
}

static chunk *new_chunk(cs_arena *a, size_t cap) {
  if (a->limit && (cap > a->limit || a->total > a->limit - cap)) return NULL;
  chunk *c = malloc(sizeof *c + cap);
  if (!c) return NULL;
  c->cap = cap, c->used = 0;
  a->total += cap;
  return c;
}

void *cs_arena_alloc_raw(cs_arena *a, size_t n) {
  const size_t al = alignof(max_align_t);
  if (n > SIZE_MAX / 2) return NULL;
  n = (n + al - 1) & ~(al - 1);
  if (n == 0) n = al;
  chunk *c = a->head;
  if (n >= BIG) {
    chunk *nc = new_chunk(a, n);
    if (!nc) return NULL;
    nc->used = n;
    if (c) nc->next = c->next, c->next = nc; /* behind the head: the head keeps its space */
    else nc->next = NULL, a->head = nc;
    return nc->data;
  }
  if (!c || c->cap - c->used < n) {
    chunk *nc = new_chunk(a, a->next_cap);
    if (!nc && !(nc = new_chunk(a, n))) return NULL; /* near the limit: just enough */
    if (a->next_cap < CHUNK_MAX) a->next_cap *= 2;
    nc->next = c;
    a->head = c = nc;
  }
  void *p = c->data + c->used;
  c->used += n;
  return p;
}

void *cs_arena_alloc(cs_arena *a, size_t n) {
  void *p = cs_arena_alloc_raw(a, n);
  if (p) memset(p, 0, n);
  return p;
}

void *cs_arena_adopt(cs_arena *a, void *p, size_t n) {
  if (!p) return NULL;
  adopted *o = NULL;
  if (!a->limit || (n <= a->limit && a->total <= a->limit - n))
    o = cs_arena_alloc_raw(a, sizeof *o);
  if (!o) {
    free(p);
    return NULL;
  }
  o->p = p, o->next = a->owned;
  a->owned = o;
  a->total += n;
  return p;
}

size_t cs_arena_used(const cs_arena *a) { return a->total; }

void *cs_arena_memdup(cs_arena *a, const void *p, size_t n) {
  unsigned char *d = cs_arena_alloc_raw(a, n + 1); /* +1: callers may treat it as a C string */
  if (!d) return NULL;
  if (n) memcpy(d, p, n);
  d[n] = 0;
  return d;
}

char *cs_arena_strndup(cs_arena *a, const char *s, size_t n) {
  if (!s) return NULL;
  return cs_arena_memdup(a, s, n);
}

char *cs_arena_strdup(cs_arena *a, const char *s) {
  return s ? cs_arena_strndup(a, s, strlen(s)) : NULL;
}

char *cs_arena_printf(cs_arena *a, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = NULL;
  if (n >= 0 && (s = cs_arena_alloc(a, (size_t)n + 1))) vsnprintf(s, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return s;
}
