/* fuzz_csv.c - libFuzzer target: the bounded RFC 4180 reader (src/util/csv.c) must never
 * crash or read out of bounds, must stop after a malformed record, and every field it returns
 * must be NUL-terminated within the record's storage. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* no NUL terminator on purpose: the reader must respect len */
  char *copy = malloc(size ? size : 1);
  if (!copy) return 0;
  memcpy(copy, data, size);
  cs_csv c;
  cs_csv_init(&c, copy, size);
  const char *f[CS_CSV_MAX_FIELDS];
  size_t n, records = 0;
  int rc;
  while ((rc = cs_csv_next(&c, f, &n)) == 1) {
    if (n == 0 || n > CS_CSV_MAX_FIELDS) __builtin_trap();
    for (size_t i = 0; i < n; i++)
      if (strlen(f[i]) > CS_CSV_MAX_FIELD) __builtin_trap();
    if (++records > size + 1) __builtin_trap(); /* every record consumes input */
  }
  if (rc == -1 && cs_csv_next(&c, f, &n) != -1) __builtin_trap(); /* sticky error */
  cs_csv_free(&c);
  free(copy);
  return 0;
}
