/* fuzz_work_claim.c - libFuzzer target: the probe's parser of a collector's work claim
 * answer (upload/work_client.c), hostile input. Besides "no crash", it checks what the probe
 * relies on: a lease has a bounded [A-Za-z0-9._-] id, 1..CS_WORK_MAX_INPUTS inputs each of
 * 1..CS_WORK_MAX_INPUT printable bytes without NUL, a lease time in [1, 86400]; no lease
 * means done, or a retry_after in [1, 300]. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upload/work_client.h"
#include "util/arena.h"

static void check(int ok) {
  if (!ok) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 20)) return 0;
  cs_arena *a = cs_arena_new(64u << 20);
  if (!a) return 0;
  cs_work_claim c;
  char err[256];
  if (cs_work_claim_parse(a, (const char *)data, size, &c, err, sizeof err) == 0) {
    if (c.lease_id) {
      size_t n = strlen(c.lease_id);
      check(n >= 1 && n <= CS_WORK_LEASE_ID_MAX);
      check(strspn(c.lease_id,
                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n);
      check(c.ninputs >= 1 && c.ninputs <= CS_WORK_MAX_INPUTS);
      check(c.lease_seconds >= 1 && c.lease_seconds <= 86400);
      check(c.chunk >= 0);
      for (size_t i = 0; i < c.ninputs; i++) {
        size_t l = strlen(c.inputs[i]);
        check(l >= 1 && l <= CS_WORK_MAX_INPUT);
        for (size_t k = 0; k < l; k++) check((unsigned char)c.inputs[i][k] >= 0x20);
        if (c.categories[i]) check(strlen(c.categories[i]) <= 16);
      }
    } else {
      check(c.done || (c.retry_after >= 1 && c.retry_after <= 300));
    }
  } else {
    check(err[0] != 0);
  }
  cs_arena_free(a);
  return 0;
}
