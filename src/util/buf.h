/* buf.h - the only way wire bytes are read or written (c-ares `ares_buf` style).
 *
 * cs_rbuf: a read cursor over untrusted bytes. Every read is bounds-checked; the first failed
 *          read sets a sticky error and all later reads return 0/empty, so parsers check once.
 * cs_buf:  a growable byte buffer with a hard cap; appends beyond the cap fail (return -1) and
 *          set `overflow` instead of growing without bound. */
#ifndef CS_BUF_H
#define CS_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  const uint8_t *p;
  size_t len, off;
  bool err;
} cs_rbuf;

static inline cs_rbuf cs_rbuf_make(const void *p, size_t len) {
  cs_rbuf r = {(const uint8_t *)p, len, 0, false};
  return r;
}
static inline size_t cs_rbuf_left(const cs_rbuf *r) { return r->err ? 0 : r->len - r->off; }
uint8_t cs_rbuf_u8(cs_rbuf *r);
uint16_t cs_rbuf_u16be(cs_rbuf *r);
uint32_t cs_rbuf_u32be(cs_rbuf *r);
/* Returns a pointer to the next n bytes and advances, or NULL (and sets err). */
const uint8_t *cs_rbuf_bytes(cs_rbuf *r, size_t n);
/* Moves the cursor to an absolute offset (<= len). */
bool cs_rbuf_seek(cs_rbuf *r, size_t off);

typedef struct {
  uint8_t *data;
  size_t len, cap, max; /* max: hard limit on len (0 = SIZE_MAX/2) */
  bool overflow;
} cs_buf;

void cs_buf_init(cs_buf *b, size_t max);
void cs_buf_free(cs_buf *b);
void cs_buf_reset(cs_buf *b); /* len = 0, keeps memory */
int cs_buf_reserve(cs_buf *b, size_t extra);
/* Room for exactly extra more bytes (+ the NUL of cs_buf_cstr), without doubling. */
int cs_buf_reserve_exact(cs_buf *b, size_t extra);
int cs_buf_append(cs_buf *b, const void *p, size_t n);
int cs_buf_putc(cs_buf *b, char c);
int cs_buf_puts(cs_buf *b, const char *s);
int cs_buf_printf(cs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cs_buf_u8(cs_buf *b, uint8_t v);
int cs_buf_u16be(cs_buf *b, uint16_t v);
/* Removes the first n bytes (n <= len). */
void cs_buf_consume(cs_buf *b, size_t n);
/* NUL-terminates without counting the NUL in len; returns data or NULL on overflow. */
const char *cs_buf_cstr(cs_buf *b);

/* Base64 (RFC 4648, with padding) of p[0..n) appended to b. */
int cs_buf_base64(cs_buf *b, const void *p, size_t n);

#endif
