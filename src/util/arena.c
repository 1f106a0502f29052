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

struct cs_arena {
  chunk *head;
  size_t total, limit;
};

#define CHUNK_MIN 4096u

cs_arena *cs_arena_new(size_t limit) {
  cs_arena *a = calloc(1, sizeof *a);
  if (a) a->limit = limit;
  return a;
}

void cs_arena_free(cs_arena *a) {
  if (!a) return;
  for (chunk *c = a->head, *n; c; c = n) {
    n = c->next;
    free(c);
  }
  free(a);
}

void *cs_arena_alloc(cs_arena *a, size_t n) {
  const size_t al = alignof(max_align_t);
  if (n > SIZE_MAX / 2) return NULL;
  n = (n + al - 1) & ~(al - 1);
  if (n == 0) n = al;
  chunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
    if (c && c->cap * 2 > cap && c->cap * 2 <= 256u * 1024u) cap = c->cap * 2;
    if (a->limit && a->total + cap > a->limit) {
      if (a->total + n > a->limit) return NULL;
      cap = n;
    }
    chunk *nc = malloc(sizeof *nc + cap);
    if (!nc) return NULL;
    nc->cap = cap, nc->used = 0;
    /* A large one-off allocation goes behind the head so the head keeps its free space. */
    if (c && n > CHUNK_MIN && c->cap - c->used >= CHUNK_MIN / 4) {
      nc->next = c->next;
      c->next = nc;
    } else {
      nc->next = c;
      a->head = nc;
    }
    a->total += cap;
    c = nc;
  }
  void *p = c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

size_t cs_arena_used(const cs_arena *a) { return a->total; }

void *cs_arena_memdup(cs_arena *a, const void *p, size_t n) {
  void *d = cs_arena_alloc(a, n + 1); /* +1: callers may treat it as a C string */
  if (d && n) memcpy(d, p, n);
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
