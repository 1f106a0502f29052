/* whoami.h - the helper's authoritative "whoami" DNS zone (issue 14, docs/forensics.md,
 * "Resolver identity"): every name under the zone is answered with the address the query came
 * from — the resolver that asked, since a probe never talks to the zone's server directly. A
 * probe that asks udp://8.8.8.8 for RANDOM.ZONE learns who really resolved it: when that is
 * not 8.8.8.8's operator, the address was DNAT'ed (WMS 2.0's "WAN-NAT").
 *
 * Answers (RFC 1035 4.1, AA set, TTL 0 so that nothing is cached): A with the IPv4 source,
 * AAAA with the IPv6 source, TXT with the source as text; other types NOERROR without
 * answers; names outside the zone REFUSED; anything that is not one well-formed query is
 * dropped (never an error reply to a forged source: no reflection). Replies are no larger
 * than the query plus one record. Each source /24 (IPv6 /48) gets at most `rate` answers per
 * second (token bucket, burst 2x); more are dropped and counted. UDP and TCP (RFC 7766
 * framing, one query per connection, at most 64 connections, 5 s each) on the same port. */
#ifndef CS_HELPER_WHOAMI_H
#define CS_HELPER_WHOAMI_H

#include <stddef.h>
#include <stdint.h>

#include "engine/loop.h"
#include "util/buf.h"
#include "util/ipnet.h"

#define CS_WHOAMI_RATE 50 /* answers per second per source network (default) */

/* Pure: the reply to the query q[0..n) from src, appended to out. Returns 1 (reply in out),
 * 0 (drop: not one well-formed query, or a name that cannot be echoed), -1 (out of memory).
 * zone: lower-case text without the trailing dot. */
int cs_whoami_answer(const char *zone, const uint8_t *q, size_t n, const cs_ip *src, cs_buf *out);

typedef struct cs_whoami cs_whoami;

typedef struct {
  uint64_t queries, answered, refused, dropped, limited;
} cs_whoami_stats;

/* Serves zone on UDP and TCP addr ("IP:PORT", "[v6]:PORT"; port 0: any) on loop l. rate 0:
 * CS_WHOAMI_RATE. Returns NULL with a message in err. */
cs_whoami *cs_whoami_new(cs_loop *l, const char *zone, const char *addr, unsigned rate, char *err,
                         size_t errlen);
int cs_whoami_port(const cs_whoami *w);
cs_whoami_stats cs_whoami_get_stats(const cs_whoami *w);
void cs_whoami_free(cs_whoami *w);

#endif
