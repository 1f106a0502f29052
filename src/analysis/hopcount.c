/* hopcount.c - hop counts from IP TTLs and the reply-TTL comparison (see hopcount.h).
 * IPv4 TTL: RFC 791 §3.1 (decremented by every router); IPv6 hop limit: RFC 8200 §3. */
#include "analysis/hopcount.h"

#include <string.h>

int cs_hop_initial_ttl(unsigned ttl) { return ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255; }

int cs_hop_count(unsigned ttl) { return cs_hop_initial_ttl(ttl) - (int)(ttl > 255 ? 255 : ttl); }

static bool same_ip(const cs_ip *a, const cs_ip *b) {
  return a->family == b->family && !memcmp(a->b, b->b, a->family == AF_INET ? 4 : 16);
}

/* A packet sent by addr on one of its flows to port (proto 6 or 17). */
static bool from(const cs_mb_pkt *p, const cs_ip *addr, uint16_t port, int proto) {
  return p->proto == proto && p->flow_proto == proto && p->rport == port && p->sport == port &&
         same_ip(&p->remote, addr) && same_ip(&p->src, addr);
}

static bool is_synack(const cs_mb_pkt *p) {
  return (p->tcp_flags & (CS_MB_SYN | CS_MB_ACK | CS_MB_RST)) == (CS_MB_SYN | CS_MB_ACK);
}

/* One side's packets: count, first TTL (earliest t) and the range of hop counts. kind: 0 DNS
 * reply (UDP), 1 SYN-ACK, 2 RST. */
typedef struct {
  size_t n;
  double t;
  int ttl, hmin, hmax;
} side;

static void side_scan(const cs_mb_pkt *pk, size_t n, const cs_ip *addr, uint16_t port, int proto,
                      int kind, side *s) {
  *s = (side){.ttl = -1, .hmin = -1, .hmax = -1};
  for (size_t i = 0; i < n; i++) {
    const cs_mb_pkt *p = &pk[i];
    if (!from(p, addr, port, proto)) continue;
    bool want = kind == 0 ? p->is_dns : kind == 1 ? is_synack(p) : (p->tcp_flags & CS_MB_RST) != 0;
    if (!want) continue;
    int h = cs_hop_count(p->ttl);
    if (!s->n || p->t < s->t) s->t = p->t, s->ttl = p->ttl;
    if (!s->n || h < s->hmin) s->hmin = h;
    if (!s->n || h > s->hmax) s->hmax = h;
    s->n++;
  }
}

void cs_hop_compare(const cs_mb_pkt *pk, size_t n, const cs_ip *addr, uint16_t dns_port,
                    int dns_proto, const uint16_t *other_ports, size_t nports, cs_hop_cmp *out) {
  *out = (cs_hop_cmp){.dns_ttl = -1,
                      .dns_hops = -1,
                      .dns_hops_min = -1,
                      .dns_hops_max = -1,
                      .other_ttl = -1,
                      .other_hops = -1,
                      .other_hops_min = -1,
                      .other_hops_max = -1};
  side d, o = {.ttl = -1};
  side_scan(pk, n, addr, dns_port, dns_proto, dns_proto == 6 ? 1 : 0, &d);
  out->ndns = d.n;
  if (d.n) {
    out->dns_ttl = d.ttl, out->dns_hops = cs_hop_count((unsigned)d.ttl);
    out->dns_hops_min = d.hmin, out->dns_hops_max = d.hmax;
  }
  for (int kind = 1; kind <= 2 && !out->other_port; kind++)
    for (size_t i = 0; i < nports && !out->other_port; i++) {
      if (other_ports[i] == dns_port) continue;
      side_scan(pk, n, addr, other_ports[i], 6, kind, &o);
      if (o.n) out->other_port = other_ports[i], out->other_is_rst = kind == 2;
    }
  if (out->other_port) {
    out->nother = o.n;
    out->other_ttl = o.ttl, out->other_hops = cs_hop_count((unsigned)o.ttl);
    out->other_hops_min = o.hmin, out->other_hops_max = o.hmax;
  }
  out->compared = d.n && out->other_port && d.hmax - d.hmin <= CS_HOP_TOLERANCE &&
                  o.hmax - o.hmin <= CS_HOP_TOLERANCE;
  if (out->compared) {
    out->hop_difference = out->other_hops - out->dns_hops;
    out->beyond = out->hop_difference > CS_HOP_TOLERANCE || out->hop_difference < -CS_HOP_TOLERANCE;
  }
}
