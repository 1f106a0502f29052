/* fuzz_httpparse.c - libFuzzer target: the HTTP/1.1 response parser and the title extractor.
 *
 * Input layout: byte 0 = mode, byte 1 = slicing seed, rest = payload. Modes (mode % 4):
 *   0: the payload is a whole response;
 *   1: the payload is a chunked + gzip body behind a fixed head;
 *   2: the payload is a gzip (or, by bit 4, deflate) body read until close;
 *   3: like 0 with tiny limits (line 40, head 200, 4 fields, body cap 64).
 * Bit 2 of the mode sets HEAD, bit 3 no_decode. The payload goes in random-sized slices,
 * then EOF. Invariants: bounded body and fields, consumed <= offered, sticky final state,
 * and a title (if any) lies inside the searched bytes with 1..512 runes and no '<'. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/httpparse.h"
#include "util/title.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_title(const uint8_t *p, size_t n) {
  const uint8_t *t;
  size_t tl;
  if (!cs_title_find(p, n, &t, &tl)) return;
  if (t < p || t + tl > p + n || tl == 0 || tl > 4 * CS_TITLE_MAX) abort();
  if (memchr(t, '<', tl)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  uint8_t mode = data[0];
  uint32_t rng = data[1] * 2654435761u + 1;
  const uint8_t *pl = data + 2;
  size_t n = size - 2;
  check_title(pl, n);

  cs_http_limits lim = {0};
  if ((mode & 3) == 3)
    lim = (cs_http_limits){.max_line = 40, .max_head = 200, .max_headers = 4, .body_cap = 64};
  lim.head_request = (mode & 4) != 0;
  lim.no_decode = (mode & 8) != 0;
  cs_http_parser p;
  cs_http_parser_init(&p, &lim);
  cs_http_pstatus st = CS_HTTP_P_MORE;
  if ((mode & 3) == 1) {
    static const char h[] =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n";
    lim.head_request = false;
    st = cs_http_parser_feed(&p, h, sizeof h - 1, NULL);
  } else if ((mode & 3) == 2) {
    const char *h = (mode & 16) ? "HTTP/1.0 200 OK\r\nContent-Encoding: deflate\r\n\r\n"
                                : "HTTP/1.0 200 OK\r\nContent-Encoding: gzip\r\n\r\n";
    st = cs_http_parser_feed(&p, h, strlen(h), NULL);
  }
  size_t off = 0;
  while (st == CS_HTTP_P_MORE && off < n) {
    rng = rng * 1103515245u + 12345u;
    size_t k = 1 + (rng >> 16) % 97;
    if (k > n - off) k = n - off;
    size_t used = 0;
    st = cs_http_parser_feed(&p, pl + off, k, &used);
    if (used > k) abort();
    if (st == CS_HTTP_P_MORE && used != k) abort();
    off += used;
  }
  if (st == CS_HTTP_P_MORE) st = cs_http_parser_eof(&p);
  if (st == CS_HTTP_P_MORE) abort(); /* EOF always decides */
  /* sticky */
  size_t used = 1;
  if (cs_http_parser_feed(&p, "x", 1, &used) != st || used != 0) abort();
  if (p.body.len > p.lim.body_cap) abort();
  if (p.nfields > p.lim.max_headers) abort();
  if (st == CS_HTTP_P_ERROR && !p.error[0]) abort();
  for (size_t i = 0; i < cs_http_parser_nfields(&p); i++) {
    const uint8_t *nm, *v;
    size_t nl, vl;
    cs_http_parser_field(&p, i, &nm, &nl, &v, &vl);
    if (nl == 0 || nm + nl > p.head.data + p.head.len || v + vl > p.head.data + p.head.len) abort();
  }
  if (p.body.len) check_title(p.body.data, p.body.len);
  cs_http_parser_free(&p);
  return 0;
}
