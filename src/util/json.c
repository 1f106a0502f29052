/* json.c - JSON writer and bounded reader (see json.h). RFC 8259. */
#include "util/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- writer ---------------------------------------------------------------------------- */

void cs_jw_init(cs_jw *w, cs_buf *b) {
  memset(w, 0, sizeof *w);
  w->b = b;
}

static void sep(cs_jw *w) {
  if (w->after_key) {
    w->after_key = false;
    return;
  }
  uint64_t bit = w->depth >= 0 && w->depth < 64 ? (uint64_t)1 << w->depth : 0;
  if (w->need_comma & bit) cs_buf_putc(w->b, ',');
  w->need_comma |= bit;
}

static void open_(cs_jw *w, char c) {
  sep(w);
  cs_buf_putc(w->b, c);
  w->depth++;
  if (w->depth > 0 && w->depth < 64) w->need_comma &= ~((uint64_t)1 << w->depth);
}
static void close_(cs_jw *w, char c) {
  if (w->depth > 0) w->depth--;
  cs_buf_putc(w->b, c);
}
void cs_jw_obj_open(cs_jw *w) { open_(w, '{'); }
void cs_jw_obj_close(cs_jw *w) { close_(w, '}'); }
void cs_jw_arr_open(cs_jw *w) { open_(w, '['); }
void cs_jw_arr_close(cs_jw *w) { close_(w, ']'); }

/* Decodes one UTF-8 sequence at p (n bytes left); returns its length or 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, size_t n, uint32_t *cp) {
  uint8_t c = p[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if ((c & 0xE0) == 0xC0) len = 2, v = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0) len = 3, v = c & 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0) len = 4, v = c & 0x07, min = 0x10000;
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (p[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

bool cs_utf8_valid(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n;) {
    /* ASCII, eight bytes at a time */
    while (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080u) break;
      i += 8;
    }
    if (i >= n) break;
    uint32_t cp;
    size_t l = utf8_seq(p + i, n - i, &cp);
    if (!l) return false;
    i += l;
  }
  return true;
}

static void put_escaped(cs_buf *b, const uint8_t *p, size_t n) {
  cs_buf_putc(b, '"');
  size_t run = 0; /* start of a run of bytes that need no escaping */
  for (size_t i = 0; i < n;) {
    uint8_t c = p[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      i++;
      continue;
    }
    cs_buf_append(b, p + run, i - run);
    if (c < 0x80) {
      switch (c) {
      case '"': cs_buf_puts(b, "\\\""); break;
      case '\\': cs_buf_puts(b, "\\\\"); break;
      case '\n': cs_buf_puts(b, "\\n"); break;
      case '\r': cs_buf_puts(b, "\\r"); break;
      case '\t': cs_buf_puts(b, "\\t"); break;
      default: cs_buf_printf(b, "\\u%04x", c); break;
      }
      i++;
    } else {
      uint32_t cp;
      size_t l = utf8_seq(p + i, n - i, &cp);
      if (l) {
        cs_buf_append(b, p + i, l);
        i += l;
      } else {
        cs_buf_puts(b, "\\ufffd");
        i++;
      }
    }
    run = i;
  }
  cs_buf_append(b, p + run, n - run);
  cs_buf_putc(b, '"');
}

void cs_jw_key(cs_jw *w, const char *k) {
  sep(w);
  put_escaped(w->b, (const uint8_t *)k, strlen(k));
  cs_buf_putc(w->b, ':');
  w->after_key = true;
}
void cs_jw_strn(cs_jw *w, const char *s, size_t n) {
  sep(w);
  put_escaped(w->b, (const uint8_t *)s, n);
}
void cs_jw_str(cs_jw *w, const char *s) {
  if (!s) cs_jw_null(w);
  else cs_jw_strn(w, s, strlen(s));
}
void cs_jw_int(cs_jw *w, int64_t v) {
  sep(w);
  cs_buf_printf(w->b, "%lld", (long long)v);
}
void cs_jw_double(cs_jw *w, double v) {
  if (!isfinite(v)) {
    cs_jw_null(w);
    return;
  }
  sep(w);
  cs_buf_printf(w->b, "%.9g", v);
}
void cs_jw_bool(cs_jw *w, bool v) {
  sep(w);
  cs_buf_puts(w->b, v ? "true" : "false");
}
void cs_jw_null(cs_jw *w) {
  sep(w);
  cs_buf_puts(w->b, "null");
}
void cs_jw_raw(cs_jw *w, const char *json, size_t n) {
  sep(w);
  cs_buf_append(w->b, json, n);
}
void cs_jw_raw_members(cs_jw *w, const char *members, size_t n) {
  if (n == 0) return;
  sep(w);
  cs_buf_append(w->b, members, n);
}
void cs_jw_maybe_binary(cs_jw *w, const uint8_t *p, size_t n) {
  if (cs_utf8_valid(p, n)) {
    cs_jw_strn(w, (const char *)p, n);
    return;
  }
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "format", "base64");
  cs_jw_key(w, "data");
  sep(w);
  cs_buf_putc(w->b, '"');
  cs_buf_base64(w->b, p, n);
  cs_buf_putc(w->b, '"');
  cs_jw_obj_close(w);
}
void cs_jw_kstr(cs_jw *w, const char *k, const char *v) {
  cs_jw_key(w, k);
  cs_jw_str(w, v);
}
void cs_jw_kint(cs_jw *w, const char *k, int64_t v) {
  cs_jw_key(w, k);
  cs_jw_int(w, v);
}
void cs_jw_kdouble(cs_jw *w, const char *k, double v) {
  cs_jw_key(w, k);
  cs_jw_double(w, v);
}
void cs_jw_kbool(cs_jw *w, const char *k, bool v) {
  cs_jw_key(w, k);
  cs_jw_bool(w, v);
}
void cs_jw_ksecs(cs_jw *w, const char *k, double v) {
  cs_jw_key(w, k);
  if (!isfinite(v)) {
    cs_jw_null(w);
    return;
  }
  sep(w);
  cs_buf_printf(w->b, "%.6f", v);
}
void cs_jw_knull(cs_jw *w, const char *k) {
  cs_jw_key(w, k);
  cs_jw_null(w);
}

/* ---- reader ---------------------------------------------------------------------------- */

typedef struct {
  cs_arena *a;
  const char *s;
  size_t n, i, nodes, max_nodes, max_depth;
  char *err;
  size_t errlen;
  bool failed;
} jp;

static void jfail(jp *p, const char *msg) {
  if (!p->failed && p->errlen) snprintf(p->err, p->errlen, "%s at byte %zu", msg, p->i);
  p->failed = true;
}

static void ws(jp *p) {
  while (p->i < p->n &&
         (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
    p->i++;
}

static cs_jval *node(jp *p, cs_jtype t) {
  if (++p->nodes > p->max_nodes) {
    jfail(p, "too many JSON values");
    return NULL;
  }
  cs_jval *v = cs_arena_alloc(p->a, sizeof *v);
  if (!v) jfail(p, "out of memory");
  else v->type = t;
  return v;
}

static int hex4(const char *s, uint32_t *out) {
  uint32_t v = 0;
  for (int k = 0; k < 4; k++) {
    char c = s[k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

/* Writes code point cp as UTF-8 at o; returns the bytes written (1..4). */
static size_t utf8_put(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 63)),
    o[2] = (char)(0x80 | (cp & 63));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 63));
  o[2] = (char)(0x80 | ((cp >> 6) & 63)), o[3] = (char)(0x80 | (cp & 63));
  return 4;
}

/* Parses a string at p->i (which is at the opening quote). Two passes: find the closing
 * quote, then copy the runs between escapes in bulk into one allocation (an escape never
 * decodes to more bytes than it takes, so the escaped length bounds the result). */
static char *jstring(jp *p, size_t *outlen) {
  p->i++; /* opening quote */
  size_t start = p->i, end = start;
  bool escaped = false;
  while (end < p->n) {
    uint8_t c = (uint8_t)p->s[end];
    if (c == '"') break;
    if (c < 0x20) {
      p->i = end;
      jfail(p, "control character in string");
      return NULL;
    }
    if (c == '\\') escaped = true, end++;
    end++;
  }
  if (end >= p->n) {
    p->i = p->n;
    jfail(p, "unterminated string");
    return NULL;
  }
  char *r = cs_arena_alloc_raw(p->a, end - start + 1);
  if (!r) {
    jfail(p, "out of memory");
    return NULL;
  }
  size_t o = 0, i = start;
  if (!escaped) {
    memcpy(r, p->s + start, end - start);
    o = end - start;
  }
  while (escaped && i < end) {
    const char *bs = memchr(p->s + i, '\\', end - i);
    size_t run = bs ? (size_t)(bs - (p->s + i)) : end - i;
    memcpy(r + o, p->s + i, run);
    o += run, i += run;
    if (i >= end) break;
    char c = p->s[i + 1]; /* the scan above guarantees a byte after '\' before end */
    i += 2;
    switch (c) {
    case '"': r[o++] = '"'; break;
    case '\\': r[o++] = '\\'; break;
    case '/': r[o++] = '/'; break;
    case 'b': r[o++] = '\b'; break;
    case 'f': r[o++] = '\f'; break;
    case 'n': r[o++] = '\n'; break;
    case 'r': r[o++] = '\r'; break;
    case 't': r[o++] = '\t'; break;
    case 'u': {
      uint32_t cp, lo;
      if (end - i < 4 || hex4(p->s + i, &cp) < 0) {
        p->i = i;
        jfail(p, "bad \\u escape");
        return NULL;
      }
      i += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF && end - i >= 6 && p->s[i] == '\\' && p->s[i + 1] == 'u' &&
          hex4(p->s + i + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        i += 6;
      } else if (cp >= 0xD800 && cp <= 0xDFFF) {
        cp = 0xFFFD; /* lone surrogate */
      }
      o += utf8_put(r + o, cp);
      break;
    }
    default:
      p->i = i;
      jfail(p, "bad escape");
      return NULL;
    }
  }
  r[o] = 0;
  *outlen = o;
  p->i = end + 1; /* closing quote */
  return r;
}

static cs_jval *jvalue(jp *p, size_t depth);

static cs_jval *jcontainer(jp *p, size_t depth, bool obj) {
  cs_jval *v = node(p, obj ? CS_JOBJ : CS_JARR);
  if (!v) return NULL;
  p->i++;
  size_t cap = 0;
  ws(p);
  if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) {
    p->i++;
    return v;
  }
  for (;;) {
    char *key = NULL;
    if (obj) {
      ws(p);
      if (p->i >= p->n || p->s[p->i] != '"') {
        jfail(p, "expected object key");
        return NULL;
      }
      size_t kl;
      key = jstring(p, &kl);
      if (!key) return NULL;
      ws(p);
      if (p->i >= p->n || p->s[p->i] != ':') {
        jfail(p, "expected ':'");
        return NULL;
      }
      p->i++;
    }
    cs_jval *kid = jvalue(p, depth + 1);
    if (!kid) return NULL;
    if (v->len == cap) {
      size_t nc = cap ? cap * 2 : 4;
      cs_jval **nk = cs_arena_alloc(p->a, nc * sizeof *nk);
      char **nkeys = obj ? cs_arena_alloc(p->a, nc * sizeof *nkeys) : NULL;
      if (!nk || (obj && !nkeys)) {
        jfail(p, "out of memory");
        return NULL;
      }
      if (cap) {
        memcpy(nk, v->kids, cap * sizeof *nk);
        if (obj) memcpy(nkeys, v->keys, cap * sizeof *nkeys);
      }
      v->kids = nk, v->keys = nkeys, cap = nc;
    }
    v->kids[v->len] = kid;
    if (obj) v->keys[v->len] = key;
    v->len++;
    ws(p);
    if (p->i < p->n && p->s[p->i] == ',') {
      p->i++;
      continue;
    }
    if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) {
      p->i++;
      return v;
    }
    jfail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    return NULL;
  }
}

static cs_jval *jvalue(jp *p, size_t depth) {
  if (depth > p->max_depth) {
    jfail(p, "nesting too deep");
    return NULL;
  }
  ws(p);
  if (p->i >= p->n) {
    jfail(p, "unexpected end of input");
    return NULL;
  }
  char c = p->s[p->i];
  if (c == '{' || c == '[') return jcontainer(p, depth, c == '{');
  if (c == '"') {
    cs_jval *v = node(p, CS_JSTR);
    if (v && !(v->str = jstring(p, &v->len))) return NULL;
    return v;
  }
  static const struct {
    const char *lit;
    cs_jtype t;
    bool b;
  } lits[] = {{"true", CS_JBOOL, true}, {"false", CS_JBOOL, false}, {"null", CS_JNULL, false}};
  for (size_t k = 0; k < 3; k++) {
    size_t l = strlen(lits[k].lit);
    if (p->n - p->i >= l && memcmp(p->s + p->i, lits[k].lit, l) == 0) {
      p->i += l;
      cs_jval *v = node(p, lits[k].t);
      if (v) v->b = lits[k].b;
      return v;
    }
  }
  /* number: validate the RFC 8259 grammar, then strtod on a bounded copy */
  size_t st = p->i, j = p->i;
  if (j < p->n && p->s[j] == '-') j++;
  if (j < p->n && p->s[j] == '0') j++;
  else if (j < p->n && p->s[j] >= '1' && p->s[j] <= '9')
    while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
  else {
    jfail(p, "unexpected character");
    return NULL;
  }
  if (j < p->n && p->s[j] == '.') {
    j++;
    size_t d = j;
    while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
    if (j == d) {
      jfail(p, "bad number");
      return NULL;
    }
  }
  if (j < p->n && (p->s[j] == 'e' || p->s[j] == 'E')) {
    j++;
    if (j < p->n && (p->s[j] == '+' || p->s[j] == '-')) j++;
    size_t d = j;
    while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
    if (j == d) {
      jfail(p, "bad number");
      return NULL;
    }
  }
  char tmp[64];
  size_t l = j - st;
  if (l >= sizeof tmp) l = sizeof tmp - 1; /* precision beyond 63 chars is irrelevant */
  memcpy(tmp, p->s + st, l);
  tmp[l] = 0;
  p->i = j;
  cs_jval *v = node(p, CS_JNUM);
  if (v) v->num = strtod(tmp, NULL);
  return v;
}

cs_jval *cs_json_parse(cs_arena *a, const char *text, size_t n, const cs_json_limits *lim,
                       char *err, size_t errlen) {
  jp p = {.a = a, .s = text, .n = n, .err = err, .errlen = errlen};
  p.max_depth = lim && lim->max_depth ? lim->max_depth : CS_JSON_MAX_DEPTH;
  p.max_nodes = lim && lim->max_nodes ? lim->max_nodes : (size_t)1 << 20;
  if (errlen) err[0] = 0;
  cs_jval *v = jvalue(&p, 0);
  if (v && !p.failed) {
    ws(&p);
    if (p.i != p.n) jfail(&p, "trailing data");
  }
  return p.failed ? NULL : v;
}

const cs_jval *cs_json_get(const cs_jval *v, const char *key) {
  if (!v || v->type != CS_JOBJ) return NULL;
  for (size_t i = 0; i < v->len; i++)
    if (strcmp(v->keys[i], key) == 0) return v->kids[i];
  return NULL;
}
const char *cs_json_get_str(const cs_jval *v, const char *key, const char *def) {
  const cs_jval *x = cs_json_get(v, key);
  return x && x->type == CS_JSTR ? x->str : def;
}
double cs_json_get_num(const cs_jval *v, const char *key, double def) {
  const cs_jval *x = cs_json_get(v, key);
  return x && x->type == CS_JNUM ? x->num : def;
}
int cs_json_get_bool(const cs_jval *v, const char *key, int def) {
  const cs_jval *x = cs_json_get(v, key);
  return x && x->type == CS_JBOOL ? x->b : def;
}
bool cs_json_is_null(const cs_jval *v) { return !v || v->type == CS_JNULL; }
bool cs_json_get_i64(const cs_jval *v, const char *key, int64_t *out) {
  const cs_jval *x = cs_json_get(v, key);
  if (!x || x->type != CS_JNUM || !isfinite(x->num)) return false;
  double d = x->num;
  if (d > 9.0e15) d = 9.0e15;
  if (d < -9.0e15) d = -9.0e15;
  *out = (int64_t)d;
  return true;
}
int cs_json_get_int(const cs_jval *v, const char *key, int def) {
  int64_t i;
  if (!cs_json_get_i64(v, key, &i)) return def;
  if (i > 1000000000) return 1000000000;
  if (i < -1000000000) return -1000000000;
  return (int)i;
}
const cs_jval *cs_json_get_obj(const cs_jval *v, const char *key) {
  const cs_jval *x = cs_json_get(v, key);
  return x && x->type == CS_JOBJ ? x : NULL;
}
const cs_jval *cs_json_get_arr(const cs_jval *v, const char *key) {
  const cs_jval *x = cs_json_get(v, key);
  return x && x->type == CS_JARR ? x : NULL;
}
