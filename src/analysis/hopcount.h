/* hopcount.h - how far away the sender of a packet is, from its IP TTL (IPv6 hop limit), and
 * the reply-TTL comparison of resolver_identity (docs/forensics.md "Resolver identity"):
 * the DNS replies a resolver's address sends versus "other traffic" of the same address that
 * a DNAT of port 53 does not touch (the SYN-ACK, or a RST, of a TCP handshake to port 443 or
 * 853). Pure: reads packets captured by engine/capture.h (analysis/middlebox.h records), no
 * I/O.
 *
 * A sender starts its packets at an initial TTL (Linux and most Unix: 64, Windows: 128,
 * network gear: 255) and each router takes one off. The initial TTL is taken as the smallest
 * of 64, 128, 255 not below the observed one, so hops = initial - observed (a path longer
 * than 64 hops does not occur in practice). Two packets from one host over one path give the
 * same count; a DNS reply from a box closer (or farther) than the host that answers the
 * address's other ports gives a different one. */
#ifndef CS_HOPCOUNT_H
#define CS_HOPCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/middlebox.h"
#include "util/ipnet.h"

/* Differences of at most this many hops are not counted: two machines behind one anycast or
 * load-balanced address can sit one hop apart inside the operator's site. */
#define CS_HOP_TOLERANCE 1

/* The initial TTL a packet seen with ttl most likely started from: 64, 128 or 255. */
int cs_hop_initial_ttl(unsigned ttl);
/* Hops the packet travelled: cs_hop_initial_ttl(ttl) - ttl. */
int cs_hop_count(unsigned ttl);

typedef struct {
  size_t ndns;         /* DNS replies (UDP) or SYN-ACKs (TCP/53) of the resolver's flows seen */
  int dns_ttl;         /* TTL of the first of them (-1: none) */
  int dns_hops;        /* its hop count (-1: none) */
  int dns_hops_min;    /* the range of hop counts over all of them */
  int dns_hops_max;    /*   (max - min > CS_HOP_TOLERANCE: the replies disagree) */
  size_t nother;       /* SYN-ACKs / RSTs of the chosen other port seen */
  uint16_t other_port; /* the port whose answer is used (0: none answered) */
  bool other_is_rst;   /* a RST, not a SYN-ACK (weaker: a firewall may send it) */
  int other_ttl;       /* TTL of its first answer (-1: none) */
  int other_hops;      /* (-1: none) */
  int other_hops_min, other_hops_max;
  bool compared;      /* both sides seen and each side consistent: hop_difference is valid */
  int hop_difference; /* other_hops - dns_hops: > 0, the DNS replies come from closer */
  bool beyond;        /* compared and |hop_difference| > CS_HOP_TOLERANCE */
} cs_hop_cmp;

/* Compares, among the n packets pk (any order), the replies on the resolver's flows (remote
 * addr:dns_port over dns_proto 17 (UDP: DNS replies) or 6 (TCP: the SYN-ACKs)) with the
 * answer to a TCP handshake on the first of other_ports (in order) that answered addr with a
 * SYN-ACK, else the first that answered with a RST. Only packets sent by addr itself count. */
void cs_hop_compare(const cs_mb_pkt *pk, size_t n, const cs_ip *addr, uint16_t dns_port,
                    int dns_proto, const uint16_t *other_ports, size_t nports, cs_hop_cmp *out);

#endif
