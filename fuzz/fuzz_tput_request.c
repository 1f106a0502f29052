/* fuzz_tput_request.c - libFuzzer target for what the throughput server (src/helper/
 * throughput.c) parses from the network: the request head through helper/reqparse.c with the
 * throughput server's limits (fed as growing prefixes, as a connection delivers it), and the
 * request target's bytes=N query (cs_tput_query_bytes). Checks invariants, not only "no
 * crash": a parsed head lies inside the input, N has at most 16 digits, and the verdict on a
 * query does not depend on a trailing "&" or on unrelated parameters in front. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helper/reqparse.h"
#include "helper/throughput.h"

static void check_query(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  int r = cs_tput_query_bytes(p, n, &v);
  if (r < -1 || r > 1) abort();
  if (r == 1 && v >= 10000000000000000ull) abort(); /* at most 16 digits */
  /* "x=1&" + query must give the same verdict and value */
  uint8_t *q = malloc(n + 4);
  if (!q) return;
  static const uint8_t pre[4] = {'x', '=', '1', '&'};
  memcpy(q, pre, sizeof pre);
  if (n) memcpy(q + 4, p, n);
  uint64_t v2 = 0;
  int r2 = cs_tput_query_bytes(q, n + 4, &v2);
  if (r2 != r || (r == 1 && v2 != v)) abort();
  free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cs_helper_limits lim = {.max_head = CS_TPUT_MAX_HEAD, .max_headers = 32, .max_body = SIZE_MAX};
  size_t scan = 0, step = size / 7 + 1;
  cs_helper_req r;
  for (size_t n = step < size ? step : size;; n = n + step < size ? n + step : size) {
    cs_helper_pstatus st = cs_helper_req_parse(data, n, &lim, &r, &scan);
    if (r.head_len > n) abort();
    if (st == CS_HREQ_OK && r.total_len > n) abort();
    if (st == CS_HREQ_ERROR && !r.error_status) abort();
    if (st != CS_HREQ_MORE || n == size) break;
  }
  if (r.head_len && r.target) {
    size_t pl = 0;
    while (pl < r.target_len && r.target[pl] != '?') pl++;
    if (pl < r.target_len) check_query(r.target + pl + 1, r.target_len - pl - 1);
  }
  check_query(data, size);
  return 0;
}
