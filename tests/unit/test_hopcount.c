/* test_hopcount.c - hop counts from TTLs and resolver_identity's reply-TTL comparison
 * (analysis/hopcount.c, docs/forensics.md "Resolver identity") on packet records built here:
 * a DNAT'ed resolver (DNS replies from a box closer than the address's 443 answers), a
 * genuine one, the tolerance, RST and 853 fallbacks, disagreeing replies, packets of other
 * senders and flows ignored, TCP/53 SYN-ACKs, IPv6. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "analysis/hopcount.h"

static cs_ip ip(const char *s) {
  cs_ip a;
  assert_true(cs_ip_parse(s, &a));
  return a;
}

static const char *RES = "198.18.3.53";
static const uint16_t OTHER[] = {443, 853};

static cs_mb_pkt dns(const char *from, uint8_t ttl, double t) {
  return (cs_mb_pkt){.t = t,
                     .flow_proto = 17,
                     .remote = ip(RES),
                     .rport = 53,
                     .proto = 17,
                     .src = ip(from),
                     .ttl = ttl,
                     .sport = 53,
                     .is_dns = true};
}

static cs_mb_pkt tcp(const char *from, uint16_t port, uint16_t flags, uint8_t ttl, double t) {
  return (cs_mb_pkt){.t = t,
                     .flow_proto = 6,
                     .remote = ip(RES),
                     .rport = port,
                     .proto = 6,
                     .src = ip(from),
                     .ttl = ttl,
                     .sport = port,
                     .tcp_flags = flags};
}

#define SA (CS_MB_SYN | CS_MB_ACK)
#define RA (CS_MB_RST | CS_MB_ACK)

static void cmp(const cs_mb_pkt *pk, size_t n, int proto, cs_hop_cmp *c) {
  cs_ip r = ip(RES);
  cs_hop_compare(pk, n, &r, 53, proto, OTHER, 2, c);
}

static void test_initial_ttl(void **st) {
  (void)st;
  assert_int_equal(cs_hop_initial_ttl(64), 64);
  assert_int_equal(cs_hop_initial_ttl(1), 64);
  assert_int_equal(cs_hop_initial_ttl(65), 128);
  assert_int_equal(cs_hop_initial_ttl(128), 128);
  assert_int_equal(cs_hop_initial_ttl(129), 255);
  assert_int_equal(cs_hop_initial_ttl(255), 255);
  assert_int_equal(cs_hop_count(61), 3);
  assert_int_equal(cs_hop_count(116), 12);
  assert_int_equal(cs_hop_count(250), 5);
  assert_int_equal(cs_hop_count(64), 0);
}

static void test_dnat(void **st) {
  (void)st;
  /* the ISP resolver next door answers port 53 (TTL 64: 0 hops); the real host 3 hops away
   * answers 443 */
  cs_mb_pkt pk[] = {dns(RES, 64, 0.01), dns(RES, 64, 0.02), tcp(RES, 443, SA, 61, 0.03),
                    tcp(RES, 443, CS_MB_FIN | CS_MB_ACK, 61, 0.04)};
  cs_hop_cmp c;
  cmp(pk, 4, 17, &c);
  assert_int_equal(c.ndns, 2);
  assert_int_equal(c.dns_ttl, 64);
  assert_int_equal(c.dns_hops, 0);
  assert_int_equal(c.other_port, 443);
  assert_false(c.other_is_rst);
  assert_int_equal(c.nother, 1); /* the FIN is not a handshake answer */
  assert_int_equal(c.other_ttl, 61);
  assert_int_equal(c.other_hops, 3);
  assert_true(c.compared);
  assert_int_equal(c.hop_difference, 3);
  assert_true(c.beyond);
  /* a resolver farther than the host (a national resolver deeper in): negative */
  cs_mb_pkt far[] = {dns(RES, 54, 0.01), tcp(RES, 443, SA, 62, 0.03)};
  cmp(far, 2, 17, &c);
  assert_int_equal(c.hop_difference, -8);
  assert_true(c.beyond);
  /* different initial TTLs (a 255 DNS appliance, a 64 web host) count hops, not TTLs */
  cs_mb_pkt mixed[] = {dns(RES, 250, 0.01), tcp(RES, 443, SA, 59, 0.03)};
  cmp(mixed, 2, 17, &c);
  assert_int_equal(c.dns_hops, 5);
  assert_int_equal(c.other_hops, 5);
  assert_int_equal(c.hop_difference, 0);
  assert_false(c.beyond);
}

static void test_genuine_and_tolerance(void **st) {
  (void)st;
  cs_mb_pkt same[] = {dns(RES, 52, 0.01), tcp(RES, 443, SA, 52, 0.03)};
  cs_hop_cmp c;
  cmp(same, 2, 17, &c);
  assert_true(c.compared);
  assert_int_equal(c.hop_difference, 0);
  assert_false(c.beyond);
  cs_mb_pkt one[] = {dns(RES, 63, 0.01), tcp(RES, 443, SA, 62, 0.03)}; /* one hop: noise */
  cmp(one, 2, 17, &c);
  assert_true(c.compared);
  assert_int_equal(c.hop_difference, 1);
  assert_false(c.beyond);
  cs_mb_pkt two[] = {dns(RES, 64, 0.01), tcp(RES, 443, SA, 62, 0.03)};
  cmp(two, 2, 17, &c);
  assert_true(c.beyond);
}

static void test_fallbacks(void **st) {
  (void)st;
  cs_hop_cmp c;
  /* 443 refused (RST), 853 open: the SYN-ACK wins */
  cs_mb_pkt a[] = {dns(RES, 64, 0.01), tcp(RES, 443, RA, 60, 0.02), tcp(RES, 853, SA, 61, 0.03)};
  cmp(a, 3, 17, &c);
  assert_int_equal(c.other_port, 853);
  assert_false(c.other_is_rst);
  assert_int_equal(c.other_ttl, 61);
  /* only a RST: used, and said */
  cmp(a, 2, 17, &c);
  assert_int_equal(c.other_port, 443);
  assert_true(c.other_is_rst);
  assert_int_equal(c.hop_difference, 4);
  /* nothing answered on 443/853: no comparison */
  cmp(a, 1, 17, &c);
  assert_int_equal(c.other_port, 0);
  assert_int_equal(c.other_ttl, -1);
  assert_false(c.compared);
  assert_false(c.beyond);
  /* no DNS reply */
  cmp(a + 1, 2, 17, &c);
  assert_int_equal(c.ndns, 0);
  assert_int_equal(c.dns_ttl, -1);
  assert_false(c.compared);
}

static void test_ignored_and_inconsistent(void **st) {
  (void)st;
  cs_hop_cmp c;
  /* a forged reply racing the genuine one: 0 and 4 hops, not compared */
  cs_mb_pkt race[] = {dns(RES, 64, 0.01), dns(RES, 60, 0.02), tcp(RES, 443, SA, 60, 0.03)};
  cmp(race, 3, 17, &c);
  assert_int_equal(c.dns_hops_min, 0);
  assert_int_equal(c.dns_hops_max, 4);
  assert_false(c.compared);
  assert_false(c.beyond);
  /* the first reply (by time) gives dns_ttl, whatever the order of the array */
  cs_mb_pkt order[] = {dns(RES, 63, 0.2), dns(RES, 64, 0.1), tcp(RES, 443, SA, 61, 0.3)};
  cmp(order, 3, 17, &c);
  assert_int_equal(c.dns_ttl, 64);
  assert_true(c.compared);
  /* other senders on the flows (an ICMP-sending router, a forger with another address),
   * other ports, a non-DNS UDP packet: ignored */
  cs_mb_pkt other[] = {dns("198.18.2.9", 60, 0.01), tcp("198.18.2.9", 443, SA, 60, 0.02),
                       tcp(RES, 80, SA, 50, 0.02), dns(RES, 64, 0.05), tcp(RES, 443, SA, 63, 0.06)};
  other[4].tcp_flags = SA;
  cs_mb_pkt notdns = dns(RES, 30, 0.01);
  notdns.is_dns = false;
  cmp(other, 5, 17, &c);
  assert_int_equal(c.ndns, 1);
  assert_int_equal(c.nother, 1);
  assert_int_equal(c.hop_difference, 1);
  cmp(&notdns, 1, 17, &c);
  assert_int_equal(c.ndns, 0);
}

static void test_tcp53_and_v6(void **st) {
  (void)st;
  cs_hop_cmp c;
  /* tcp://: the TCP/53 SYN-ACK is the DNS side; UDP replies do not count */
  cs_mb_pkt t[] = {tcp(RES, 53, SA, 64, 0.01), dns(RES, 50, 0.02), tcp(RES, 443, SA, 61, 0.03)};
  cmp(t, 3, 6, &c);
  assert_int_equal(c.ndns, 1);
  assert_int_equal(c.dns_ttl, 64);
  assert_int_equal(c.hop_difference, 3);
  /* IPv6 hop limits */
  cs_mb_pkt v6[] = {dns(RES, 64, 0.01), tcp(RES, 443, SA, 58, 0.02)};
  for (int i = 0; i < 2; i++) v6[i].remote = v6[i].src = ip("2001:db8:3::53");
  cs_ip r = ip("2001:db8:3::53");
  cs_hop_compare(v6, 2, &r, 53, 17, OTHER, 2, &c);
  assert_int_equal(c.hop_difference, 6);
  /* the same packets against the IPv4 address: nothing */
  cmp(v6, 2, 17, &c);
  assert_int_equal(c.ndns, 0);
  assert_int_equal(c.other_port, 0);
  /* none at all */
  cs_hop_compare(NULL, 0, &r, 53, 17, OTHER, 2, &c);
  assert_false(c.compared);
  assert_int_equal(c.hop_difference, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_initial_ttl),
      cmocka_unit_test(test_dnat),
      cmocka_unit_test(test_genuine_and_tolerance),
      cmocka_unit_test(test_fallbacks),
      cmocka_unit_test(test_ignored_and_inconsistent),
      cmocka_unit_test(test_tcp53_and_v6),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
