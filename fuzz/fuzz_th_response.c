/* fuzz_th_response.c - libFuzzer target for the reader of control responses
 * (src/thproto/thproto.c cs_th_response_read): the probe reads whatever a TH, ours or anyone
 * else's, sends back, and whatever an imported measurement holds as test_keys.control.
 * Invariants: counts within CS_TH_MAX_ITEMS, the fields every reader relies on are set, and
 * read -> write -> read keeps every entry, and repeated writes reach a fixed point. The
 * censorscope extensions (issue 14: x_chain_sha256, x_issuer, x_issuer_key, x_body_sha256,
 * x_body_truncated) are only ever 64-digit lowercase hex, bounded, and survive the trip. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "thproto/thproto.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_sha(const char *s) {
  if (!s || strlen(s) != 64) return false;
  for (size_t i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  return true;
}

static size_t chain_total(const cs_th_response *r) {
  size_t n = 0;
  for (size_t i = 0; i < r->ntls; i++) n += r->tls[i].nchain;
  return n;
}

static void check(const cs_th_response *r) {
  if (r->ntcp > CS_TH_MAX_ITEMS || r->ntls > CS_TH_MAX_ITEMS || r->ndns_addrs > CS_TH_MAX_ITEMS ||
      r->nhttp_headers > CS_TH_MAX_ITEMS || r->nipinfo > CS_TH_MAX_ITEMS)
    abort();
  if (!r->present && (r->ntcp || r->dns_present || r->http_present)) abort();
  for (size_t i = 0; i < r->ntcp; i++)
    if (!r->tcp[i].endpoint || (r->tcp[i].ip && (r->tcp[i].port < 0 || r->tcp[i].port > 65535)))
      abort();
  for (size_t i = 0; i < r->ntls; i++) {
    if (!r->tls[i].endpoint || r->tls[i].nchain > CS_TH_MAX_CHAIN) abort();
    for (size_t j = 0; j < r->tls[i].nchain; j++)
      if (!is_sha(r->tls[i].chain_sha256[j])) abort();
  }
  if (r->http_body_sha256 && !is_sha(r->http_body_sha256)) abort();
  if (r->http_body_truncated < -1 || r->http_body_truncated > 1 ||
      (!r->http_body_sha256 && r->http_body_truncated != -1))
    abort();
  for (size_t i = 0; i < r->nhttp_headers; i++)
    if (!r->http_headers[i].name || !r->http_headers[i].value ||
        r->http_headers[i].value[r->http_headers[i].value_len] != 0) /* NUL-terminated */
      abort();
  for (size_t i = 0; i < r->ndns_addrs; i++)
    if (!r->dns_addrs[i]) abort();
  for (size_t i = 0; i < r->nipinfo; i++)
    if (!r->ipinfo[i].ip || r->ipinfo[i].asn < 0) abort();
  if (r->http_status < -1000000000 || r->http_status > 1000000000) abort();
}

/* Writes r, parses and reads it back into *out. Returns false when the write failed. */
static bool write_read(cs_arena *a, const cs_th_response *r, cs_buf *b, cs_th_response *out) {
  if (cs_th_response_write(b, r) < 0) return false;
  char err[96];
  const cs_jval *v = cs_json_parse(a, (const char *)b->data, b->len, NULL, err, sizeof err);
  if (!v) abort(); /* we wrote something that is not JSON */
  cs_th_response_read(a, v, out);
  check(out);
  if (!out->present || !out->dns_present || !out->http_present) abort();
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cs_arena *a = cs_arena_new(1u << 26);
  if (!a) return 0;
  char err[96];
  cs_json_limits lim = {.max_depth = 32, .max_nodes = 1u << 16};
  const cs_jval *v = cs_json_parse(a, (const char *)data, size, &lim, err, sizeof err);
  cs_th_response r1, r2, r3, r4;
  cs_th_response_read(a, v, &r1);
  check(&r1);
  /* the writer escapes invalid UTF-8 as \ufffd but writes a valid U+FFFD as is, so the bytes
   * are stable from the second write on */
  cs_buf w1, w2, w3;
  cs_buf_init(&w1, 1u << 24);
  cs_buf_init(&w2, 1u << 24);
  cs_buf_init(&w3, 1u << 24);
  if (write_read(a, &r1, &w1, &r2)) {
    if (!write_read(a, &r2, &w2, &r3) || !write_read(a, &r3, &w3, &r4)) abort();
    if (w2.len != w3.len || memcmp(w2.data, w3.data, w2.len)) abort();
    if (r2.ntcp != r1.ntcp || r2.ntls != r1.ntls || r2.nipinfo != r1.nipinfo ||
        r2.nhttp_headers != r1.nhttp_headers || r2.ndns_addrs != r1.ndns_addrs)
      abort(); /* nothing read is lost by writing it */
    if (chain_total(&r2) != chain_total(&r1) || !r2.http_body_sha256 != !r1.http_body_sha256 ||
        (r1.http_body_sha256 && strcmp(r1.http_body_sha256, r2.http_body_sha256)) ||
        r2.http_body_truncated != r1.http_body_truncated)
      abort(); /* nor any extension field */
  }
  cs_buf_free(&w1);
  cs_buf_free(&w2);
  cs_buf_free(&w3);
  cs_arena_free(a);
  return 0;
}
