/* dns_mock.h - a misbehaving DNS server for the loopback tests (c-ares style): UDP and TCP on
 * the same ephemeral port of 127.0.0.1, served by its own thread, answering every query
 * according to the current mode. Never used outside tests. */
#ifndef CS_DNS_MOCK_H
#define CS_DNS_MOCK_H

#include <stddef.h>
#include <stdint.h>

/* Addresses the mock answers with. */
#define CS_DNS_MOCK_A "192.0.2.1"
#define CS_DNS_MOCK_AAAA "2001:db8::1"
#define CS_DNS_MOCK_FORGED_A "10.10.34.35"
#define CS_DNS_MOCK_FORGED_AAAA "2001:db8::bad"
#define CS_DNS_MOCK_CNAME1 "a.cname.test"
#define CS_DNS_MOCK_CNAME2 "b.cname.test"
#define CS_DNS_MOCK_CNAME_A "192.0.2.7"
#define CS_DNS_MOCK_CNAME_AAAA "2001:db8::7"
#define CS_DNS_MOCK_TTL 300
#define CS_DNS_MOCK_INJECT_DELAY_MS 100
#define CS_DNS_MOCK_FLOOD_N 40

typedef enum {
  CS_DNS_MOCK_NORMAL,         /* A 192.0.2.1 / AAAA 2001:db8::1 */
  CS_DNS_MOCK_NXDOMAIN,       /* rcode 3 */
  CS_DNS_MOCK_SERVFAIL,       /* rcode 2 */
  CS_DNS_MOCK_REFUSED,        /* rcode 5 */
  CS_DNS_MOCK_NOTIMP,         /* rcode 4 */
  CS_DNS_MOCK_EMPTY,          /* NOERROR, no answer */
  CS_DNS_MOCK_INJECT,         /* forged answer first, the real one 100 ms later */
  CS_DNS_MOCK_WRONG_ID,       /* a reply with another ID, then the right one 50 ms later */
  CS_DNS_MOCK_TC,             /* UDP: TC=1 and no answer; TCP: the normal answer */
  CS_DNS_MOCK_GARBAGE,        /* bytes that are not a DNS message */
  CS_DNS_MOCK_SILENT,         /* never answers */
  CS_DNS_MOCK_CNAME,          /* qname CNAME a.cname.test CNAME b.cname.test A/AAAA */
  CS_DNS_MOCK_CNAME_ONLY,     /* qname CNAME a.cname.test, nothing else */
  CS_DNS_MOCK_WRONG_QUESTION, /* right ID, question for another name; then the right reply */
  CS_DNS_MOCK_A_ONLY,         /* A: the normal answer; AAAA: NOERROR, no answer */
  CS_DNS_MOCK_FLOOD,          /* the normal answer CS_DNS_MOCK_FLOOD_N times */
} cs_dns_mock_mode;

typedef struct cs_dns_mock cs_dns_mock;

/* Starts the server (NULL on failure). */
cs_dns_mock *cs_dns_mock_start(cs_dns_mock_mode mode);
void cs_dns_mock_stop(cs_dns_mock *m); /* joins the thread, closes sockets, frees */
uint16_t cs_dns_mock_port(const cs_dns_mock *m);
void cs_dns_mock_set_mode(cs_dns_mock *m, cs_dns_mock_mode mode);
unsigned cs_dns_mock_udp_queries(cs_dns_mock *m);
unsigned cs_dns_mock_tcp_queries(cs_dns_mock *m);
/* Copies the last query received (raw message, no TCP framing); returns its length. */
size_t cs_dns_mock_last_query(cs_dns_mock *m, uint8_t *out, size_t cap);

#endif
