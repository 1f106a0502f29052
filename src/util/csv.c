/* csv.c - bounded RFC 4180 CSV reader (see csv.h). Used for the OONI and Citizen Lab
 * fingerprint files, which contain quoted fields with commas, doubled quotes and newlines. */
#include "util/csv.h"

#include <stdlib.h>
#include <string.h>

void cs_csv_init(cs_csv *c, const char *text, size_t len) {
  memset(c, 0, sizeof *c);
  c->p = text;
  c->len = len;
  c->line = 1;
}

void cs_csv_free(cs_csv *c) {
  free(c->scratch);
  c->scratch = NULL;
  c->scratch_cap = 0;
}

/* Appends byte ch to the scratch area at *used (grows; bounded by the record's length). */
static int put(cs_csv *c, size_t *used, char ch) {
  if (*used + 1 > c->scratch_cap) {
    size_t ncap = c->scratch_cap ? c->scratch_cap * 2 : 1024;
    char *n = realloc(c->scratch, ncap);
    if (!n) return -1;
    c->scratch = n;
    c->scratch_cap = ncap;
  }
  c->scratch[(*used)++] = ch;
  return 0;
}

int cs_csv_next(cs_csv *c, const char **fields, size_t *nfields) {
  *nfields = 0;
  if (c->err) return -1;
  if (c->off >= c->len) return 0;
  size_t used = 0, starts[CS_CSV_MAX_FIELDS], nf = 0, flen = 0;
  bool quoted = false, was_quoted = false, in_field_start = true;
  starts[nf++] = 0;
  while (1) {
    if (c->off >= c->len) {
      if (quoted) goto bad; /* unterminated quote */
      break;
    }
    char ch = c->p[c->off++];
    if (quoted) {
      if (ch == '"') {
        if (c->off < c->len && c->p[c->off] == '"') {
          c->off++;
        } else {
          quoted = false;
          continue;
        }
      }
      if (ch == '\n') c->line++;
      if (++flen > CS_CSV_MAX_FIELD || put(c, &used, ch)) goto bad;
      continue;
    }
    if (ch == '"') {
      if (!in_field_start) goto bad; /* quote inside an unquoted field */
      if (was_quoted) goto bad;      /* "a""b" handled above; "a"x is malformed */
      quoted = was_quoted = true;
      in_field_start = false;
      continue;
    }
    if (ch == ',') {
      if (put(c, &used, 0)) goto bad;
      if (nf == CS_CSV_MAX_FIELDS) goto bad;
      starts[nf++] = used;
      flen = 0;
      was_quoted = false;
      in_field_start = true;
      continue;
    }
    if (ch == '\r' && c->off < c->len && c->p[c->off] == '\n') continue;
    if (ch == '\n') {
      c->line++;
      break;
    }
    if (was_quoted) goto bad; /* text after a closing quote */
    in_field_start = false;
    if (++flen > CS_CSV_MAX_FIELD || put(c, &used, ch)) goto bad;
  }
  if (put(c, &used, 0)) goto bad;
  for (size_t i = 0; i < nf; i++) fields[i] = c->scratch + starts[i];
  *nfields = nf;
  return 1;
bad:
  c->err = true;
  *nfields = 0;
  return -1;
}
