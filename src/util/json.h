/* json.h - streaming JSON writer (into a cs_buf) and a bounded DOM reader.
 *
 * The writer tracks commas itself, escapes strings per RFC 8259, replaces invalid UTF-8 in
 * text with U+FFFD, and writes OONI's MaybeBinaryData ({"format":"base64","data":...}) for
 * bodies that are not valid UTF-8. Doubles are written with enough digits and never as
 * NaN/Inf (those become null). */
#ifndef CS_JSON_H
#define CS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/buf.h"

#define CS_JSON_MAX_DEPTH 64

typedef struct {
  cs_buf *b;
  uint64_t need_comma; /* bit d: a value was already written at depth d */
  int depth;
  bool after_key;
} cs_jw;

void cs_jw_init(cs_jw *w, cs_buf *b);
void cs_jw_obj_open(cs_jw *w);
void cs_jw_obj_close(cs_jw *w);
void cs_jw_arr_open(cs_jw *w);
void cs_jw_arr_close(cs_jw *w);
void cs_jw_key(cs_jw *w, const char *k);
void cs_jw_str(cs_jw *w, const char *s); /* NULL writes null */
void cs_jw_strn(cs_jw *w, const char *s, size_t n);
void cs_jw_int(cs_jw *w, int64_t v);
void cs_jw_double(cs_jw *w, double v);
void cs_jw_bool(cs_jw *w, bool v);
void cs_jw_null(cs_jw *w);
void cs_jw_raw(cs_jw *w, const char *json, size_t n); /* an already-serialised value */
/* Already-serialised object members ("k":v,"k2":v2 — no braces) into the open object. */
void cs_jw_raw_members(cs_jw *w, const char *members, size_t n);
/* UTF-8 text as a string, anything else as {"format":"base64","data":"..."}. */
void cs_jw_maybe_binary(cs_jw *w, const uint8_t *p, size_t n);

/* key + value shorthands */
void cs_jw_kstr(cs_jw *w, const char *k, const char *v);
void cs_jw_kint(cs_jw *w, const char *k, int64_t v);
void cs_jw_kdouble(cs_jw *w, const char *k, double v);
void cs_jw_kbool(cs_jw *w, const char *k, bool v);
void cs_jw_knull(cs_jw *w, const char *k);
/* A time in seconds with microsecond precision, fixed notation (OONI style: 0.000804). */
void cs_jw_ksecs(cs_jw *w, const char *k, double v);

bool cs_utf8_valid(const uint8_t *p, size_t n);

/* ---- reader ---------------------------------------------------------------------------- */

typedef enum { CS_JNULL, CS_JBOOL, CS_JNUM, CS_JSTR, CS_JARR, CS_JOBJ } cs_jtype;

typedef struct cs_jval cs_jval;
struct cs_jval {
  cs_jtype type;
  bool b;
  double num;
  char *str;      /* CS_JSTR: NUL-terminated, may contain embedded NULs (see len) */
  size_t len;     /* string length, or number of children */
  char **keys;    /* CS_JOBJ: keys[i] for kids[i] */
  cs_jval **kids; /* CS_JARR / CS_JOBJ */
};

typedef struct {
  size_t max_depth; /* default CS_JSON_MAX_DEPTH */
  size_t max_nodes; /* default 1<<20 */
} cs_json_limits;

/* Parses one JSON value spanning all of text[0..n) (surrounding whitespace allowed).
 * Everything is allocated in arena a. Returns NULL on error and writes a message with the
 * byte offset into err (if errlen > 0). */
cs_jval *cs_json_parse(cs_arena *a, const char *text, size_t n, const cs_json_limits *lim,
                       char *err, size_t errlen);

/* Object member lookup (first match), NULL if absent or v is not an object. */
const cs_jval *cs_json_get(const cs_jval *v, const char *key);
/* Typed helpers: return def when absent or of another type. */
const char *cs_json_get_str(const cs_jval *v, const char *key, const char *def);
double cs_json_get_num(const cs_jval *v, const char *key, double def);
int cs_json_get_bool(const cs_jval *v, const char *key, int def); /* -1 allowed as def */
bool cs_json_is_null(const cs_jval *v);                           /* NULL pointer or JSON null */
/* An integral value: a finite number clamped to +-9e15 (exact in a double) and truncated.
 * Returns false (and leaves *out) when absent, not a number or not finite. */
bool cs_json_get_i64(const cs_jval *v, const char *key, int64_t *out);
/* The same clamped to [-1e9, 1e9] as an int; def when absent or not a finite number. */
int cs_json_get_int(const cs_jval *v, const char *key, int def);
/* The member when it is an object (an array), else NULL. */
const cs_jval *cs_json_get_obj(const cs_jval *v, const char *key);
const cs_jval *cs_json_get_arr(const cs_jval *v, const char *key);

#endif
