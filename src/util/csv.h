/* csv.h - a bounded RFC 4180 CSV reader: quoted fields ("" escapes, embedded commas and line
 * breaks), CRLF or LF records, a cap on fields per record and on field length. */
#ifndef CS_CSV_H
#define CS_CSV_H

#include <stdbool.h>
#include <stddef.h>

#define CS_CSV_MAX_FIELDS 64
#define CS_CSV_MAX_FIELD (1u << 16)

typedef struct {
  const char *p;
  size_t len, off;
  size_t line;   /* 1-based line of the record being read (for messages) */
  char *scratch; /* field storage for one record, CS_CSV_MAX_FIELDS * ... allocated lazily */
  size_t scratch_cap;
  bool err;
} cs_csv;

void cs_csv_init(cs_csv *c, const char *text, size_t len);
void cs_csv_free(cs_csv *c);
/* Reads the next record into fields[] (pointers valid until the next call), sets *nfields.
 * Returns 1 for a record, 0 at end of input, -1 on a malformed record (unterminated quote,
 * a quote inside an unquoted field, too many fields, an over-long field, out of memory);
 * after -1 the reader stops. */
int cs_csv_next(cs_csv *c, const char **fields, size_t *nfields);

#endif
