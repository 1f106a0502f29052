/* icmp.h - ICMPv4 error messages as a raw ICMP socket hands them over (the IPv4 header first):
 * who sent it (a router, or whoever forged it), its type and code, and the datagram it quotes
 * (RFC 792: the quoted IP header plus at least the first 64 bits of its payload; RFC 1812
 * 4.3.2.3 lets routers quote more). Enough to match a time-exceeded message to the probe that
 * caused it by the quoted 5-tuple and TCP sequence number (censorscope locate).
 *
 * A pure, bounded parser over hostile bytes: no sockets, no allocation. */
#ifndef CS_ICMP_H
#define CS_ICMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/ipnet.h"

enum {
  CS_ICMP_DEST_UNREACH = 3, /* RFC 792 */
  CS_ICMP_TIME_EXCEEDED = 11,
};

typedef struct {
  cs_ip from;              /* outer IPv4 source: the router (or the forger) */
  uint8_t ttl;             /* outer IP TTL as received */
  uint16_t ip_id;          /* outer IP ID */
  uint8_t type, code;      /* ICMP */
  uint8_t qproto;          /* quoted IP protocol (6 TCP, 17 UDP) */
  cs_ip qsrc, qdst;        /* quoted addresses */
  uint8_t qttl;            /* quoted TTL (what was left when the router dropped it) */
  uint16_t qip_id;         /* quoted IP ID */
  uint16_t qsport, qdport; /* quoted ports (TCP/UDP) */
  bool has_seq;            /* TCP: the quote holds the sequence number */
  uint32_t qseq;
  const uint8_t *qpayload; /* quoted transport payload beyond the first 8 bytes (UDP: the
                              datagram's data), pointing into the input; may be empty */
  size_t qpayload_len;
} cs_icmp_err;

/* Parses one IPv4 packet carrying an ICMP destination-unreachable or time-exceeded message
 * with a quoted IPv4 datagram of at least 8 payload bytes. Returns 0, or -1 (anything else:
 * other ICMP types, IPv6, truncated, inconsistent lengths). */
int cs_icmp_parse(const uint8_t *p, size_t n, cs_icmp_err *out);

#endif
