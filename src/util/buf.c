/* buf.c - bounds-checked reader and capped growable buffer (see buf.h). */
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t cs_rbuf_u8(cs_rbuf *r) {
  const uint8_t *p = cs_rbuf_bytes(r, 1);
  return p ? p[0] : 0;
}
uint16_t cs_rbuf_u16be(cs_rbuf *r) {
  const uint8_t *p = cs_rbuf_bytes(r, 2);
  if (!p) return 0;
  return (uint16_t)((p[0] << 8) | p[1]); /* not a ?: (gcc -O1 -Wconversion sees an int) */
}
uint32_t cs_rbuf_u32be(cs_rbuf *r) {
  const uint8_t *p = cs_rbuf_bytes(r, 4);
  return p ? ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3] : 0;
}
const uint8_t *cs_rbuf_bytes(cs_rbuf *r, size_t n) {
  if (r->err || n > r->len - r->off) {
    r->err = true;
    return NULL;
  }
  const uint8_t *p = r->p + r->off;
  r->off += n;
  return p;
}
bool cs_rbuf_seek(cs_rbuf *r, size_t off) {
  if (r->err || off > r->len) {
    r->err = true;
    return false;
  }
  r->off = off;
  return true;
}

void cs_buf_init(cs_buf *b, size_t max) {
  memset(b, 0, sizeof *b);
  b->max = max ? max : SIZE_MAX / 2;
}
void cs_buf_free(cs_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
void cs_buf_reset(cs_buf *b) {
  b->len = 0;
  b->overflow = false;
}

/* Room for extra more bytes (+1 kept for cs_buf_cstr): capacity doubled, or exactly that. */
static int grow(cs_buf *b, size_t extra, bool exact) {
  if (extra > b->max - b->len) {
    b->overflow = true;
    return -1;
  }
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return 0;
  size_t cap = need;
  if (!exact) {
    cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 4 ? need : cap * 2;
    if (cap > b->max + 1) cap = b->max + 1; /* never more than max (+ the NUL), as curl's dynbuf */
  }
  uint8_t *d = realloc(b->data, cap);
  if (!d) {
    b->overflow = true;
    return -1;
  }
  b->data = d, b->cap = cap;
  return 0;
}

int cs_buf_reserve(cs_buf *b, size_t extra) { return grow(b, extra, false); }
int cs_buf_reserve_exact(cs_buf *b, size_t extra) { return grow(b, extra, true); }

int cs_buf_append(cs_buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (cs_buf_reserve(b, n) < 0) return -1;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}
int cs_buf_putc(cs_buf *b, char c) { return cs_buf_append(b, &c, 1); }
int cs_buf_puts(cs_buf *b, const char *s) { return cs_buf_append(b, s, strlen(s)); }
int cs_buf_u8(cs_buf *b, uint8_t v) { return cs_buf_append(b, &v, 1); }
int cs_buf_u16be(cs_buf *b, uint16_t v) {
  uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  return cs_buf_append(b, x, 2);
}

int cs_buf_printf(cs_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return -1;
  if ((size_t)n < sizeof small) return cs_buf_append(b, small, (size_t)n);
  if (cs_buf_reserve(b, (size_t)n) < 0) return -1;
  va_start(ap, fmt);
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

void cs_buf_consume(cs_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

const char *cs_buf_cstr(cs_buf *b) {
  if (!b->data && cs_buf_reserve(b, 0) < 0) return NULL;
  b->data[b->len] = '\0';
  return (const char *)b->data;
}

int cs_buf_base64(cs_buf *b, const void *p, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const uint8_t *s = p;
  if (n > (SIZE_MAX / 4) * 3 - 3) return -1;
  if (cs_buf_reserve(b, (n + 2) / 3 * 4) < 0) return -1;
  char *o = (char *)b->data + b->len;
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
    *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = tab[(v >> 6) & 63], *o++ = tab[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
    *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63];
    *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  b->len = (size_t)((uint8_t *)o - b->data);
  return 0;
}
