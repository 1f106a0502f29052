/* fuzz_th_request.c - libFuzzer target for the control server's hostile-input parsers: the
 * HTTP/1.1 request parser (src/helper/reqparse.c), fed the input as a connection would
 * deliver it (growing prefixes at pseudo-random slice points, pipelined requests consumed
 * one after another), and the control request decoder (src/helper/measure.c) on the whole
 * input and on every request body. Checks the parser's invariants, not only "no crash". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helper/measure.h"
#include "helper/reqparse.h"
#include "util/arena.h"

static void check_decode(const uint8_t *p, size_t n) {
  cs_arena *a = cs_arena_new(1u << 24);
  if (!a) return;
  cs_helper_threq q;
  char err[128];
  if (cs_helper_threq_decode(a, (const char *)p, n, &q, err, sizeof err) == 0) {
    if (!q.url || !*q.url) abort();
    for (size_t i = 0; i < q.nendpoints; i++)
      if (!q.endpoints[i]) abort();
    if (q.nendpoints > CS_HELPER_MAX_REQ_ENDPOINTS) abort();
  } else if (!err[0]) {
    abort(); /* every rejection explains itself */
  }
  cs_arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint32_t seed = data[0];
  const uint8_t *in = data + 1;
  size_t n = size - 1;
  check_decode(in, n);

  /* small limits so the fuzzer reaches every limit branch */
  cs_helper_limits lim = {.max_head = 512 + (seed & 0x3f) * 16, .max_headers = 1 + (seed >> 6) * 4,
                          .max_body = 4096};
  size_t start = 0, avail = 0, scan = 0;
  int guard = 0;
  while (start < n && guard++ < 4096) {
    /* the connection delivers a few more bytes */
    seed = seed * 1103515245u + 12345u;
    size_t step = 1 + ((seed >> 16) % 97);
    avail = avail + step > n - start ? n - start : avail + step;
    uint8_t *buf = malloc(avail ? avail : 1); /* exact-size copy: ASan catches over-reads */
    if (!buf) return 0;
    memcpy(buf, in + start, avail);
    cs_helper_req r;
    cs_helper_req r2;
    cs_helper_pstatus st = cs_helper_req_parse(buf, avail, &lim, &r, &scan);
    /* the scan hint is only an optimisation: the stateless parse must agree */
    cs_helper_pstatus st2 = cs_helper_req_parse(buf, avail, &lim, &r2, NULL);
    if (st != st2 || r.total_len != r2.total_len || r.error_status != r2.error_status ||
        r.head_len != r2.head_len)
      abort();
    if (st == CS_HREQ_ERROR) {
      if (!r.error || (r.error_status != 400 && r.error_status != 413 && r.error_status != 431 &&
                       r.error_status != 501 && r.error_status != 505))
        abort();
      free(buf);
      break; /* the server closes the connection */
    }
    if (st == CS_HREQ_OK) {
      if (r.total_len == 0 || r.total_len > avail || r.head_len > r.total_len ||
          r.body_len != r.content_length || r.body_len > lim.max_body || !r.method ||
          r.method + r.method_len > buf + avail || r.target + r.target_len > buf + avail ||
          (r.body_len && r.body + r.body_len != buf + r.total_len))
        abort();
      if (r.body_len) check_decode(r.body, r.body_len);
      start += r.total_len;
      avail -= r.total_len;
      scan = 0;
    } else if (avail == n - start) {
      free(buf);
      break; /* MORE at the end of the input */
    }
    free(buf);
  }
  return 0;
}
