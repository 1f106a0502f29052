/* icmp.c - ICMPv4 error messages with their quoted datagram (see icmp.h). RFC 791 (IPv4
 * header), RFC 792 (ICMP), RFC 1812 4.3.2.3 (how much routers quote). */
#include "engine/icmp.h"

#include <string.h>

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void ip4(cs_ip *ip, const uint8_t *p) {
  memset(ip, 0, sizeof *ip);
  ip->family = AF_INET;
  memcpy(ip->b, p, 4);
}

/* An IPv4 header at p[0..n): its length (IHL * 4), or 0 when malformed. RFC 791 3.1. */
static size_t ip4_hlen(const uint8_t *p, size_t n) {
  if (n < 20 || (p[0] >> 4) != 4) return 0;
  size_t hl = (size_t)(p[0] & 0x0f) * 4;
  return hl >= 20 && hl <= n ? hl : 0;
}

int cs_icmp_parse(const uint8_t *p, size_t n, cs_icmp_err *out) {
  memset(out, 0, sizeof *out);
  size_t hl = ip4_hlen(p, n);
  if (!hl || p[9] != 1 /* ICMP */) return -1;
  /* The total length may be smaller than what was read (padding), never larger. */
  size_t tot = rd16(p + 2);
  if (tot < hl || tot > n) return -1;
  n = tot;
  ip4(&out->from, p + 12);
  out->ttl = p[8];
  out->ip_id = rd16(p + 4);
  const uint8_t *ic = p + hl;
  size_t icn = n - hl;
  if (icn < 8) return -1;
  out->type = ic[0], out->code = ic[1];
  if (out->type != CS_ICMP_DEST_UNREACH && out->type != CS_ICMP_TIME_EXCEEDED) return -1;
  const uint8_t *q = ic + 8; /* the quoted datagram */
  size_t qn = icn - 8;
  size_t qhl = ip4_hlen(q, qn);
  if (!qhl || qn - qhl < 8) return -1;
  out->qproto = q[9];
  out->qttl = q[8];
  out->qip_id = rd16(q + 4);
  ip4(&out->qsrc, q + 12);
  ip4(&out->qdst, q + 16);
  const uint8_t *t = q + qhl;
  size_t tn = qn - qhl;
  if (out->qproto == 6 || out->qproto == 17) {
    out->qsport = rd16(t);
    out->qdport = rd16(t + 2);
  }
  if (out->qproto == 6) {
    out->has_seq = true;
    out->qseq = rd32(t + 4);
  }
  out->qpayload = t + 8;
  out->qpayload_len = tn - 8;
  return 0;
}
