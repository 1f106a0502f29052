/* httpparse.c - incremental, bounded HTTP/1.1 response parser (RFC 9112) with gzip/deflate
 * content decoding (zlib). See httpparse.h (the OONI <title> rule is util/title.h).
 *
 * Error strings follow Go's net/http where Go has one (OONI archives them as
 * "unknown_failure: <Go error>"): `malformed HTTP response "<line>"`,
 * `malformed HTTP status code "<code>"`, `malformed HTTP version "<proto>"`,
 * `malformed MIME header line: <line>`, `bad Content-Length "<v>"`,
 * `unsupported transfer encoding: "<v>"`, `invalid byte in chunk length`,
 * `unexpected EOF`. Our own limits give `header ... too long` style messages. */
#include "engine/httpparse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

enum {
  S_STATUS,
  S_HEADERS,
  S_BODY_LEN,
  S_BODY_CLOSE,
  S_CHUNK_SIZE,
  S_CHUNK_EXT,
  S_CHUNK_DATA,
  S_CHUNK_DATA_CR,
  S_TRAILERS,
  S_DONE,
  S_ERROR
};

#define ZCHUNK 16384

static size_t lim_or(size_t v, size_t d) { return v ? v : d; }

void cs_http_parser_init(cs_http_parser *p, const cs_http_limits *lim) {
  memset(p, 0, sizeof *p);
  if (lim) p->lim = *lim;
  p->lim.max_line = lim_or(p->lim.max_line, CS_HTTP_MAX_LINE);
  p->lim.max_head = lim_or(p->lim.max_head, CS_HTTP_MAX_HEAD);
  p->lim.max_headers = lim_or(p->lim.max_headers, CS_HTTP_MAX_HEADERS);
  p->lim.body_cap = lim_or(p->lim.body_cap, CS_HTTP_BODY_CAP);
  cs_buf_init(&p->head, p->lim.max_head);
  cs_buf_init(&p->body, p->lim.body_cap);
  p->state = S_STATUS;
}

void cs_http_parser_free(cs_http_parser *p) {
  cs_buf_free(&p->head);
  cs_buf_free(&p->body);
  free(p->fields);
  if (p->zs) {
    inflateEnd(p->zs);
    free(p->zs);
  }
  p->fields = NULL, p->zs = NULL;
}

/* Go's %q, shortened: printable ASCII as is, '"' and '\\' escaped, the rest as \xNN. */
static void quote(char *out, size_t cap, const uint8_t *s, size_t n) {
  size_t o = 0;
  if (cap < 8) {
    if (cap) out[0] = 0;
    return;
  }
  out[o++] = '"';
  for (size_t i = 0; i < n; i++) {
    if (o + 8 >= cap) {
      out[o++] = '.', out[o++] = '.', out[o++] = '.';
      break;
    }
    uint8_t ch = s[i];
    if (ch == '"' || ch == '\\') out[o++] = '\\', out[o++] = (char)ch;
    else if (ch >= 0x20 && ch < 0x7f) out[o++] = (char)ch;
    else o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
  }
  out[o++] = '"';
  out[o] = 0;
}

/* error = prefix + quote(s) */
static cs_http_pstatus fail(cs_http_parser *p, const char *prefix, const uint8_t *s, size_t n) {
  char q[96];
  quote(q, sizeof q, s ? s : (const uint8_t *)"", s ? n : 0);
  snprintf(p->error, sizeof p->error, "%s%s", prefix, q);
  p->state = S_ERROR;
  return CS_HTTP_P_ERROR;
}
static cs_http_pstatus fail0(cs_http_parser *p, const char *msg) {
  snprintf(p->error, sizeof p->error, "%s", msg);
  p->state = S_ERROR;
  return CS_HTTP_P_ERROR;
}

/* RFC 9110 §5.6.2 token characters. */
static bool is_tchar(uint8_t c) {
  return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}
static bool is_ows(uint8_t c) { return c == ' ' || c == '\t'; }

static bool ieq(const uint8_t *a, size_t n, const char *b) {
  return strlen(b) == n && strncasecmp((const char *)a, b, n) == 0;
}

/* ---- body sink: content decoding + cap ------------------------------------------------- */

/* Appends decoded bytes to the body; sets truncated once more than body_cap arrive. */
static void sink_plain(cs_http_parser *p, const uint8_t *d, size_t n) {
  size_t room = p->lim.body_cap - p->body.len;
  if (n > room) {
    p->truncated = true;
    n = room;
  }
  if (n && p->state == S_BODY_LEN && !p->coding && p->body.len + n + 1 > p->body.cap) {
    /* a body of known length: the buffer doubles as data arrives (what a peer merely
     * announces reserves nothing), but never past the announced length */
    size_t total = p->body.len + (p->remaining < room ? (size_t)p->remaining : room);
    size_t cap = p->body.cap ? p->body.cap * 2 : 4096;
    if (cap > total + 1) cap = total + 1;
    if (cap < p->body.len + n + 1) cap = p->body.len + n + 1;
    (void)cs_buf_reserve_exact(&p->body, cap - p->body.len - 1);
  }
  if (n) cs_buf_append(&p->body, d, n);
}

/* Feeds wire body bytes (after de-chunking). Returns false on a decoding error. */
static bool sink(cs_http_parser *p, const uint8_t *d, size_t n) {
  p->wire_body_bytes += n;
  if (!p->coding) {
    sink_plain(p, d, n);
    return true;
  }
  z_stream *zs = p->zs;
  if (!zs) {
    zs = calloc(1, sizeof *zs);
    if (!zs) return fail0(p, "out of memory"), false;
    /* gzip: 16+ (gzip only); deflate: 32+ auto-detects zlib (RFC 9110 §8.4.1.2) or gzip */
    if (inflateInit2(zs, (p->coding == 1 ? 16 : 32) + MAX_WBITS) != Z_OK) {
      free(zs);
      return fail0(p, "out of memory"), false;
    }
    p->zs = zs;
  }
  uint8_t out[ZCHUNK];
  zs->next_in = (Bytef *)(uintptr_t)d;
  zs->avail_in = (uInt)n;
  while (zs->avail_in > 0 && !p->truncated) {
    if (p->z_done) {
      if (p->coding != 1) return true; /* trailing bytes after a zlib stream: ignored */
      inflateReset(zs);                /* gzip: another member follows (RFC 1952 §2.2) */
      p->z_done = false;
    }
    zs->next_out = out;
    zs->avail_out = sizeof out;
    int rc = inflate(zs, Z_NO_FLUSH);
    size_t got = sizeof out - zs->avail_out;
    if (got) sink_plain(p, out, got);
    if (rc == Z_STREAM_END) {
      p->z_done = true;
    } else if (rc == Z_BUF_ERROR && got == 0) {
      break; /* needs more input */
    } else if (rc != Z_OK) {
      char m[120];
      snprintf(m, sizeof m, "%s: %s", p->coding == 1 ? "gzip" : "flate",
               zs->msg ? zs->msg : "invalid data");
      return fail0(p, m), false;
    }
  }
  return true;
}

/* End of the message body: a compressed stream must be complete. */
static cs_http_pstatus finish(cs_http_parser *p) {
  if (p->coding && !p->truncated && !p->z_done && p->wire_body_bytes > 0) {
    p->unexpected_eof = true;
    return fail0(p, "unexpected EOF");
  }
  p->state = S_DONE;
  return CS_HTTP_P_DONE;
}

/* ---- head ------------------------------------------------------------------------------ */

static cs_http_pstatus status_line(cs_http_parser *p, const uint8_t *l, size_t n) {
  /* RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ] */
  const uint8_t *sp = memchr(l, ' ', n);
  if (!sp) return fail(p, "malformed HTTP response ", l, n);
  size_t vlen = (size_t)(sp - l);
  const uint8_t *s = sp;
  while (s < l + n && *s == ' ') s++;
  const uint8_t *e = s;
  while (e < l + n && *e != ' ') e++;
  size_t clen = (size_t)(e - s);
  if (clen != 3 || !isdigit(s[0]) || !isdigit(s[1]) || !isdigit(s[2]))
    return fail(p, "malformed HTTP status code ", s, clen);
  /* RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT; we accept 1.x */
  if (vlen != 8 || memcmp(l, "HTTP/1.", 7) != 0 || !isdigit(l[7]))
    return fail(p, "malformed HTTP version ", l, vlen);
  p->minor_version = l[7] - '0';
  p->code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
  if (p->code < 100) return fail(p, "malformed HTTP status code ", s, clen);
  const uint8_t *r = e < l + n ? e + 1 : e;
  p->reason_off = (size_t)(r - p->head.data);
  p->reason_len = (size_t)(l + n - r);
  p->state = S_HEADERS;
  return CS_HTTP_P_MORE;
}

static cs_http_pstatus field_line(cs_http_parser *p, const uint8_t *l, size_t n) {
  /* RFC 9112 §5: field-line = field-name ":" OWS field-value OWS; no whitespace before ':'
   * (§5.1) and no obs-fold (§5.2: we reject it, as a proxy would). */
  const uint8_t *colon = memchr(l, ':', n);
  if (!colon || colon == l) return fail(p, "malformed MIME header line: ", l, n);
  for (const uint8_t *q = l; q < colon; q++)
    if (!is_tchar(*q)) return fail(p, "malformed MIME header line: ", l, n);
  const uint8_t *v = colon + 1, *ve = l + n;
  while (v < ve && is_ows(*v)) v++;
  while (ve > v && is_ows(ve[-1])) ve--;
  if (p->nfields == p->lim.max_headers) return fail0(p, "too many header fields");
  if (!p->fields) {
    p->fields = calloc(p->lim.max_headers, sizeof *p->fields);
    if (!p->fields) return fail0(p, "out of memory");
  }
  cs_http_field *f = &p->fields[p->nfields++];
  f->name_off = (size_t)(l - p->head.data);
  f->name_len = (size_t)(colon - l);
  f->value_off = (size_t)(v - p->head.data);
  f->value_len = (size_t)(ve - v);
  return CS_HTTP_P_MORE;
}

static bool parse_u64(const uint8_t *s, size_t n, uint64_t *out) {
  uint64_t v = 0;
  if (n == 0 || n > 18) return false;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit(s[i])) return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return true;
}

/* Decides the message framing once the head is complete (RFC 9112 §6.3). */
static cs_http_pstatus head_complete(cs_http_parser *p) {
  const uint8_t *h = p->head.data;
  if (p->code >= 100 && p->code < 200 && p->code != 101) {
    /* interim response (RFC 9110 §15.2): drop it and parse the next head */
    if (++p->ninterim > 5) return fail0(p, "net/http: too many 1xx informational responses");
    p->nfields = 0;
    cs_buf_reset(&p->head);
    p->line_start = 0;
    p->state = S_STATUS;
    return CS_HTTP_P_MORE;
  }
  p->head_done = true;
  bool have_cl = false, have_te = false;
  uint64_t cl = 0;
  for (size_t i = 0; i < p->nfields; i++) {
    const cs_http_field *f = &p->fields[i];
    const uint8_t *name = h + f->name_off, *val = h + f->value_off;
    if (ieq(name, f->name_len, "Transfer-Encoding")) {
      /* only "chunked" is supported, like Go: RFC 9112 §6.1 */
      if (!ieq(val, f->value_len, "chunked"))
        return fail(p, "unsupported transfer encoding: ", val, f->value_len);
      if (have_te) return fail(p, "too many transfer encodings: ", val, f->value_len);
      have_te = true;
    } else if (ieq(name, f->name_len, "Content-Length")) {
      uint64_t v;
      if (!parse_u64(val, f->value_len, &v))
        return fail(p, "bad Content-Length ", val, f->value_len);
      if (have_cl && v != cl) return fail(p, "bad Content-Length ", val, f->value_len);
      have_cl = true, cl = v;
    } else if (ieq(name, f->name_len, "Content-Encoding") && !p->lim.no_decode) {
      /* RFC 9110 §8.4.1: gzip / x-gzip / deflate; anything else is kept as is */
      if (ieq(val, f->value_len, "gzip") || ieq(val, f->value_len, "x-gzip")) p->coding = 1;
      else if (ieq(val, f->value_len, "deflate")) p->coding = 2;
      else p->coding = 0;
    }
  }
  /* RFC 9112 §6.3 rules 1-2: HEAD, 1xx, 204, 304 have no body */
  if (p->lim.head_request || p->code == 101 || p->code == 204 || p->code == 304) {
    p->coding = 0;
    p->state = S_DONE;
    return CS_HTTP_P_DONE;
  }
  if (have_te) { /* rule 4: chunked wins over Content-Length */
    p->chunked = true;
    p->state = S_CHUNK_SIZE;
    p->remaining = 0;
    p->chunk_line_len = 0;
  } else if (have_cl) { /* rule 6 */
    p->remaining = cl;
    p->state = S_BODY_LEN;
    if (cl == 0) return finish(p);
  } else { /* rule 8: read until close */
    p->until_close = true;
    p->state = S_BODY_CLOSE;
  }
  return CS_HTTP_P_MORE;
}

/* Accumulates head bytes up to LF; processes complete lines. Returns bytes consumed. */
static size_t feed_head(cs_http_parser *p, const uint8_t *d, size_t n, cs_http_pstatus *st) {
  const uint8_t *lf = memchr(d, '\n', n);
  size_t take = lf ? (size_t)(lf - d) + 1 : n;
  size_t cur = p->head.len - p->line_start;
  if (cur + take > p->lim.max_line + 2) {
    *st = fail0(p, p->state == S_STATUS ? "status line too long" : "header line too long");
    return take;
  }
  if (cs_buf_append(&p->head, d, take) < 0) {
    *st = fail0(p, "response head too large");
    return take;
  }
  *st = CS_HTTP_P_MORE;
  if (!lf) return take;
  /* a complete line: strip LF and an optional CR (RFC 9112 §2.2 allows bare LF) */
  const uint8_t *l = p->head.data + p->line_start;
  size_t ln = p->head.len - p->line_start - 1;
  if (ln && l[ln - 1] == '\r') ln--;
  p->line_start = p->head.len;
  if (p->state == S_STATUS) {
    if (ln == 0 && p->head.len <= 2) { /* RFC 9112 §2.2: ignore leading empty line */
      cs_buf_reset(&p->head);
      p->line_start = 0;
      return take;
    }
    *st = status_line(p, l, ln);
  } else if (ln == 0) {
    *st = head_complete(p);
  } else if (l[0] == ' ' || l[0] == '\t') {
    *st = fail(p, "malformed MIME header line: ", l, ln);
  } else {
    *st = field_line(p, l, ln);
  }
  return take;
}

/* ---- chunked (RFC 9112 §7.1) ------------------------------------------------------------ */

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = (uint8_t)tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static size_t feed_chunked(cs_http_parser *p, const uint8_t *d, size_t n, cs_http_pstatus *st) {
  size_t i = 0;
  *st = CS_HTTP_P_MORE;
  while (i < n && *st == CS_HTTP_P_MORE && !p->truncated) {
    uint8_t ch = d[i];
    switch (p->state) {
    case S_CHUNK_SIZE: /* chunk-size = 1*HEXDIG */
      if (hexval(ch) >= 0) {
        if (p->remaining >> 56) return *st = fail0(p, "http chunk length too large"), i;
        p->remaining = p->remaining * 16 + (uint64_t)hexval(ch);
        p->chunk_line_len++;
        i++;
        break;
      }
      if (p->chunk_line_len == 0) return *st = fail0(p, "invalid byte in chunk length"), i;
      if (ch != ';' && ch != '\r' && ch != '\n' && !is_ows(ch))
        return *st = fail0(p, "invalid byte in chunk length"), i;
      p->state = S_CHUNK_EXT;
      break;
    case S_CHUNK_EXT: /* chunk-ext = *( BWS ";" BWS chunk-ext-name [ "=" value ] ): skipped */
      i++;
      if (++p->chunk_line_len > p->lim.max_line)
        return *st = fail0(p, "http chunk line too long"), i;
      if (ch == '\n') {
        p->chunk_line_len = 0;
        if (p->remaining == 0) {
          p->state = S_TRAILERS;
          p->trailer_bytes = 0;
        } else {
          p->state = S_CHUNK_DATA;
        }
      }
      break;
    case S_CHUNK_DATA: {
      size_t take = n - i;
      if ((uint64_t)take > p->remaining) take = (size_t)p->remaining;
      if (!sink(p, d + i, take)) return *st = CS_HTTP_P_ERROR, i + take;
      i += take;
      p->remaining -= take;
      if (p->remaining == 0) p->state = S_CHUNK_DATA_CR;
      break;
    }
    case S_CHUNK_DATA_CR: /* CRLF after chunk-data (bare LF tolerated) */
      i++;
      if (ch == '\r' && p->chunk_line_len == 0) {
        p->chunk_line_len = 1;
      } else if (ch == '\n') {
        p->chunk_line_len = 0;
        p->state = S_CHUNK_SIZE;
      } else {
        return *st = fail0(p, "malformed chunked encoding"), i;
      }
      break;
    case S_TRAILERS: /* trailer-section = *( field-line CRLF ) CRLF: counted, not kept */
      i++;
      if (++p->trailer_bytes > p->lim.max_head)
        return *st = fail0(p, "trailer section too large"), i;
      if (ch == '\n') {
        if (p->chunk_line_len == 0) return *st = finish(p), i;
        p->chunk_line_len = 0;
      } else if (ch != '\r') {
        if (++p->chunk_line_len > p->lim.max_line)
          return *st = fail0(p, "trailer line too long"), i;
      }
      break;
    default: return i;
    }
  }
  return i;
}

/* ---- feed ------------------------------------------------------------------------------ */

cs_http_pstatus cs_http_parser_feed(cs_http_parser *p, const void *data, size_t n, size_t *used) {
  const uint8_t *d = data;
  size_t i = 0;
  cs_http_pstatus st = CS_HTTP_P_MORE;
  if (used) *used = 0;
  if (p->state == S_DONE) return CS_HTTP_P_DONE;
  if (p->state == S_ERROR) return CS_HTTP_P_ERROR;
  while (i < n && st == CS_HTTP_P_MORE) {
    switch (p->state) {
    case S_STATUS:
    case S_HEADERS: i += feed_head(p, d + i, n - i, &st); break;
    case S_BODY_LEN: {
      size_t take = n - i;
      if ((uint64_t)take > p->remaining) take = (size_t)p->remaining;
      if (!sink(p, d + i, take)) st = CS_HTTP_P_ERROR;
      i += take;
      p->remaining -= take;
      if (st != CS_HTTP_P_ERROR && p->remaining == 0) st = finish(p);
      break;
    }
    case S_BODY_CLOSE:
      if (!sink(p, d + i, n - i)) st = CS_HTTP_P_ERROR;
      i = n;
      break;
    default: i += feed_chunked(p, d + i, n - i, &st); break;
    }
    if (st == CS_HTTP_P_MORE && p->truncated) {
      p->state = S_DONE; /* body cap reached: stop reading (OONI) */
      st = CS_HTTP_P_DONE;
    }
  }
  if (st == CS_HTTP_P_MORE && p->truncated) p->state = S_DONE, st = CS_HTTP_P_DONE;
  if (used) *used = i;
  return st;
}

cs_http_pstatus cs_http_parser_eof(cs_http_parser *p) {
  switch (p->state) {
  case S_DONE: return CS_HTTP_P_DONE;
  case S_ERROR: return CS_HTTP_P_ERROR;
  case S_BODY_CLOSE: return finish(p);
  default:
    p->unexpected_eof = true;
    /* Go: io.EOF before any byte of the response; io.ErrUnexpectedEOF afterwards */
    return fail0(p, p->head.len == 0 && !p->head_done ? "EOF" : "unexpected EOF");
  }
}

bool cs_http_parser_head_done(const cs_http_parser *p) { return p->head_done; }
size_t cs_http_parser_nfields(const cs_http_parser *p) { return p->head_done ? p->nfields : 0; }

void cs_http_parser_field(const cs_http_parser *p, size_t i, const uint8_t **name, size_t *nlen,
                          const uint8_t **value, size_t *vlen) {
  const cs_http_field *f = &p->fields[i];
  *name = p->head.data + f->name_off, *nlen = f->name_len;
  *value = p->head.data + f->value_off, *vlen = f->value_len;
}

const uint8_t *cs_http_parser_get(const cs_http_parser *p, const char *name, size_t *vlen) {
  for (size_t i = 0; i < cs_http_parser_nfields(p); i++) {
    const cs_http_field *f = &p->fields[i];
    if (ieq(p->head.data + f->name_off, f->name_len, name)) {
      *vlen = f->value_len;
      return p->head.data + f->value_off;
    }
  }
  return NULL;
}

bool cs_http_is_redirect(int code) {
  return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}
