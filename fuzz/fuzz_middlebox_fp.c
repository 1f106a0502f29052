/* fuzz_middlebox_fp.c - libFuzzer target: the middlebox fingerprint parser (data/middlebox,
 * cs_mb_db_parse) on hostile text. A file either fails with a message and adds nothing, or
 * adds at most CS_MB_MAX_FP definitions; parsing the same text twice never exceeds the cap. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "analysis/middlebox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cs_mb_db *db = NULL;
  char err[160];
  for (int round = 0; round < 2; round++) {
    size_t before = cs_mb_db_count(db);
    int rc = cs_mb_db_parse(&db, (const char *)data, size, err, sizeof err);
    size_t after = cs_mb_db_count(db);
    if (rc < 0 && after != before) __builtin_trap(); /* a bad file adds nothing */
    if (rc < 0 && !memchr(err, 0, sizeof err)) __builtin_trap();
    if (after > CS_MB_MAX_FP) __builtin_trap();
  }
  cs_mb_db_free(db);
  return 0;
}
