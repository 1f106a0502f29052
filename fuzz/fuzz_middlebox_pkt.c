/* fuzz_middlebox_pkt.c - libFuzzer target: the packet-record analysis on hostile packets.
 * Input: records of [2-byte length][flow byte][IP packet]; each packet goes through
 * cs_mb_parse_ip (must never read past its length), then all parsed packets, grouped into a
 * few flows by the flow byte, through cs_mb_write_analysis and cs_mb_write_packets, whose
 * output must be valid JSON. Flow byte bits 3-4 make a flow one of the TTL-copy probe's
 * (sent TTL 64, 96, 128; all DNS flows ask one name), so the ttl_copied judgement sees
 * hostile replies too; cs_mb_dns_probe_target must return one of the packets. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/middlebox.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"

#define MAXP 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static cs_mb_pkt pk[MAXP];
  size_t n = 0, off = 0;
  while (off + 3 <= size && n < MAXP) {
    size_t len = (size_t)data[off] << 8 | data[off + 1];
    uint8_t fb = data[off + 2];
    off += 3;
    if (len > size - off) len = size - off;
    uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees any over-read */
    if (!copy) return 0;
    memcpy(copy, data + off, len);
    off += len;
    cs_mb_pkt p;
    int rc = cs_mb_parse_ip(copy, len, &p);
    free(copy);
    if (rc < 0) continue;
    p.t = (double)n * 0.001;
    p.flow_proto = (fb & 1) ? 17 : 6;
    p.remote = p.src;
    p.rport = p.sport;
    p.flow_key = fb >> 1 & 3;
    unsigned pr = fb >> 3 & 3u;
    p.sent_ttl = pr ? (uint8_t)(32 + 32 * pr) : 0;
    p.flow_key |= pr << 2;
    p.qname = "q.example";
    p.qtype = 1;
    pk[n++] = p;
  }
  const cs_mb_pkt *tgt = NULL;
  if (cs_mb_dns_probe_target(pk, n, &tgt) && (tgt < pk || tgt >= pk + n || tgt->sent_ttl))
    __builtin_trap();
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_jw_obj_open(&w);
  int inj = cs_mb_write_analysis(&w, pk, n, NULL);
  if (inj < 0 || (size_t)inj > n) __builtin_trap();
  cs_jw_key(&w, "x_packets");
  cs_mb_write_packets(&w, pk, n);
  cs_jw_obj_close(&w);
  cs_arena *a = cs_arena_new(0);
  char err[128];
  if (a && !b.overflow && !cs_json_parse(a, (const char *)b.data, b.len, NULL, err, sizeof err))
    __builtin_trap();
  cs_arena_free(a);
  cs_buf_free(&b);
  return 0;
}
