/* fuzz_th_request.c - libFuzzer target for the control server's hostile-input parsers: the
 * HTTP/1.1 request parser (src/helper/reqparse.c), fed the input as a connection would
 * deliver it (growing prefixes at pseudo-random slice points, pipelined requests consumed
 * one after another), and the control request decoder (src/thproto/thproto.c) on the whole
 * input and on every request body, with the encoder's round trip. Checks the invariants, not
 * only "no crash". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helper/reqparse.h"
#include "thproto/thproto.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"

static bool all_utf8(const cs_th_request *q) {
  if (!cs_utf8_valid((const uint8_t *)q->url, strlen(q->url))) return false;
  for (size_t i = 0; i < q->nheaders; i++)
    if (!cs_utf8_valid((const uint8_t *)q->headers[i].name, strlen(q->headers[i].name)) ||
        !cs_utf8_valid((const uint8_t *)q->headers[i].value, strlen(q->headers[i].value)))
      return false;
  for (size_t i = 0; i < q->nendpoints; i++)
    if (!cs_utf8_valid((const uint8_t *)q->endpoints[i], strlen(q->endpoints[i]))) return false;
  return true;
}

/* decode; and for an accepted request, encode -> decode -> encode reaches a fixed point (what
 * the probe sends is what the server understood). */
static void check_decode(const uint8_t *p, size_t n) {
  cs_arena *a = cs_arena_new(1u << 24);
  if (!a) return;
  cs_th_request q;
  char err[128];
  if (cs_th_request_decode(a, (const char *)p, n, &q, err, sizeof err) == 0) {
    if (!q.url || !*q.url) abort();
    for (size_t i = 0; i < q.nendpoints; i++)
      if (!q.endpoints[i]) abort();
    for (size_t i = 0; i < q.nheaders; i++)
      if (!q.headers[i].name || !q.headers[i].value) abort();
    if (q.nendpoints > CS_TH_MAX_REQ_ENDPOINTS) abort();
    /* the writer escapes invalid UTF-8 as \ufffd but writes a valid U+FFFD as is: with
     * valid strings the bytes are stable at once, otherwise from the second round */
    cs_buf e1, e2, e3;
    cs_buf_init(&e1, 1u << 24);
    cs_buf_init(&e2, 1u << 24);
    cs_buf_init(&e3, 1u << 24);
    if (cs_th_request_encode(&e1, &q) < 0) abort();
    cs_th_request q2, q3;
    if (cs_th_request_decode(a, (const char *)e1.data, e1.len, &q2, err, sizeof err) == 0) {
      if (cs_th_request_encode(&e2, &q2) < 0) abort();
      if (all_utf8(&q) && (e1.len != e2.len || memcmp(e1.data, e2.data, e1.len))) abort();
      if (q2.quic != q.quic || q2.nendpoints != q.nendpoints) abort();
      /* censorscope's extension flags survive the round trip (issue 14) */
      if (q2.want_chain != q.want_chain || q2.want_body_sha256 != q.want_body_sha256) abort();
      if (cs_th_request_decode(a, (const char *)e2.data, e2.len, &q3, err, sizeof err) < 0) abort();
      if (cs_th_request_encode(&e3, &q3) < 0) abort();
      if (e2.len != e3.len || memcmp(e2.data, e3.data, e2.len)) abort();
    } else if (all_utf8(&q)) {
      abort(); /* our own encoding of an accepted request is refused */
    }
    cs_buf_free(&e1);
    cs_buf_free(&e2);
    cs_buf_free(&e3);
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
  cs_helper_limits lim = {
      .max_head = 512 + (seed & 0x3f) * 16, .max_headers = 1 + (seed >> 6) * 4, .max_body = 4096};
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
