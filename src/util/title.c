/* title.c - OONI's <title> rule (see title.h): Go's regexp (?i)<title>([^<]{1,512})</title>
 * matched by hand, counting runes the way Go decodes them. */
#include "util/title.h"

#include <string.h>
#include <strings.h>

/* Width of the rune at s as Go's utf8.DecodeRune sees it: an invalid or truncated sequence,
 * an overlong form, a surrogate or a code point above U+10FFFF is one byte (RFC 3629 §3). */
static size_t rune_len(const uint8_t *s, size_t n) {
  uint8_t c = s[0];
  if (c < 0x80) return 1;
  size_t l;
  uint32_t min;
  if (c >= 0xc2 && c <= 0xdf) l = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef) l = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4) l = 4, min = 0x10000;
  else return 1;
  if (n < l) return 1;
  uint32_t cp = c & (0x7fu >> l);
  for (size_t i = 1; i < l; i++) {
    if ((s[i] & 0xc0) != 0x80) return 1;
    cp = (cp << 6) | (s[i] & 0x3fu);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 1;
  return l;
}

static bool ci_at(const uint8_t *s, size_t n, const char *lit) {
  size_t l = strlen(lit);
  return n >= l && strncasecmp((const char *)s, lit, l) == 0;
}

/* The capture cannot contain '<' and must be followed by "</title>", so from each "<title>"
 * it extends exactly to the next '<'. Every scan stops at the next '<' (or after 513 runes),
 * so the whole search is linear in n. */
bool cs_title_find(const uint8_t *body, size_t n, const uint8_t **out, size_t *outlen) {
  if (!body) return false;
  for (size_t i = 0; i < n;) {
    const uint8_t *lt = memchr(body + i, '<', n - i);
    if (!lt) return false;
    size_t at = (size_t)(lt - body);
    if (!ci_at(lt, n - at, "<title>")) {
      i = at + 1;
      continue;
    }
    size_t j = at + 7, k = j, runes = 0;
    while (k < n && body[k] != '<' && runes <= CS_TITLE_MAX) {
      k += rune_len(body + k, n - k);
      runes++;
    }
    if (runes >= 1 && runes <= CS_TITLE_MAX && k < n && ci_at(body + k, n - k, "</title>")) {
      *out = body + j;
      *outlen = k - j;
      return true;
    }
    i = at + 1;
  }
  return false;
}

const char *cs_title_dup(cs_arena *a, const uint8_t *body, size_t n) {
  const uint8_t *s;
  size_t l;
  if (!cs_title_find(body, n, &s, &l)) return "";
  const char *t = cs_arena_strndup(a, (const char *)s, l);
  return t ? t : "";
}
