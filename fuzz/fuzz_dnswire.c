/* fuzz_dnswire.c - libFuzzer target: the DNS codec must never crash on hostile bytes.
 * Each input is parsed (1) as a reply to a fixed query (www.example.com A, ID 0x1234),
 * (2) as a DNS-over-TCP byte stream of length-framed replies, (3) as a query (the mock
 * server's parser). Accepted replies are checked against the codec's own invariants.
 *
 * Built with -DCS_DNSWIRE_GEN_CORPUS instead, main() writes the seed corpus
 * (fuzz/corpus/dnswire/) with the synthetic-reply builder:
 *   cc -std=c17 -D_GNU_SOURCE -Isrc -DCS_DNSWIRE_GEN_CORPUS fuzz/fuzz_dnswire.c \
 *      build/release/libcensorscope.a -o /tmp/gen && /tmp/gen fuzz/corpus/dnswire */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dnswire.h"
#include "util/buf.h"

#define FQ_NAME "www.example.com"
#define FQ_ID 0x1234

static cs_dnswire_reply rep;

static void check_reply(const cs_dnswire_query *q) {
  char s[CS_DNSWIRE_NAME_STRMAX];
  if (rep.nan > CS_DNSWIRE_MAX_ANSWERS) abort();
  if (rep.qdcount == 1 && (rep.qname.len < 1 || rep.qname.b[rep.qname.len - 1] != 0)) abort();
  for (size_t i = 0; i < rep.nan; i++) {
    const cs_dnswire_rr *rr = &rep.an[i];
    if (rr->owner.len < 1 || rr->owner.b[rr->owner.len - 1] != 0) abort();
    cs_dnswire_name_to_str(&rr->owner, s, sizeof s);
    if (strlen(s) >= sizeof s) abort();
    if (rr->type == CS_DNS_TYPE_CNAME) {
      if (rr->target.len < 1 || rr->target.b[rr->target.len - 1] != 0) abort();
      cs_dnswire_name_to_str(&rr->target, s, sizeof s);
    } else if (rr->type != CS_DNS_TYPE_A && rr->type != CS_DNS_TYPE_AAAA) {
      abort();
    }
  }
  cs_ip ips[CS_DNSWIRE_MAX_ANSWERS];
  size_t n4 = cs_dnswire_addrs(&rep, CS_DNS_TYPE_A, ips, CS_DNSWIRE_MAX_ANSWERS);
  size_t n6 = cs_dnswire_addrs(&rep, CS_DNS_TYPE_AAAA, ips, CS_DNSWIRE_MAX_ANSWERS);
  if (n4 + n6 > rep.nan) abort();
  (void)cs_dnswire_match(q, &rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cs_dnswire_query q;
  cs_dnswire_query_init(&q, FQ_NAME, CS_DNS_TYPE_A, FQ_ID);
  /* (1) one UDP datagram */
  if (cs_dnswire_parse(data, size, &rep) == CS_DNSWIRE_OK) check_reply(&q);
  /* (2) a TCP stream: framed messages back to back, bounded like the client */
  size_t off = 0;
  for (int k = 0; k < 64 && off < size; k++) {
    const uint8_t *m;
    size_t mlen, used;
    if (cs_dnswire_tcp_next(data + off, size - off, &m, &mlen, &used) != CS_DNSWIRE_OK) break;
    if (used != mlen + 2 || used > size - off) abort();
    if (cs_dnswire_parse(m, mlen, &rep) == CS_DNSWIRE_OK) check_reply(&q);
    off += used;
  }
  /* (3) as a query, and a reply built back from it must parse and match */
  cs_dnswire_query pq;
  if (cs_dnswire_query_parse(data, size, &pq) == CS_DNSWIRE_OK) {
    char name[CS_DNSWIRE_NAME_STRMAX];
    cs_dnswire_name_to_str(&pq.qname, name, sizeof name);
    if (pq.qname.len < 1 || strlen(name) >= sizeof name) abort();
  }
  return 0;
}

#ifdef CS_DNSWIRE_GEN_CORPUS
static void put(const char *dir, const char *name, const void *p, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n) abort();
  fclose(f);
}

static void reply(const char *dir, const char *name, int rcode, bool tc, uint16_t qtype,
                  const cs_dnswire_synth_rr *an, size_t nan, bool framed) {
  cs_dnswire_synth s;
  memset(&s, 0, sizeof s);
  s.id = FQ_ID, s.rcode = rcode, s.tc = tc, s.qname = FQ_NAME, s.qtype = qtype;
  s.an = an, s.nan = nan;
  cs_buf b, f;
  cs_buf_init(&b, 0);
  cs_buf_init(&f, 0);
  if (cs_dnswire_build_reply(&s, &b) != CS_DNSWIRE_OK) abort();
  if (framed) {
    cs_dnswire_tcp_frame(b.data, b.len, &f);
    cs_dnswire_tcp_frame(b.data, b.len, &f); /* two messages in one stream */
    put(dir, name, f.data, f.len);
  } else {
    put(dir, name, b.data, b.len);
  }
  cs_buf_free(&b);
  cs_buf_free(&f);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : ".";
  cs_dnswire_synth_rr a[] = {{CS_DNS_TYPE_A, 300, NULL, "192.0.2.1", 0}};
  cs_dnswire_synth_rr aaaa[] = {{CS_DNS_TYPE_AAAA, 300, NULL, "2001:db8::1", 0}};
  cs_dnswire_synth_rr cn[] = {{CS_DNS_TYPE_CNAME, 60, NULL, "a.example.net", 0},
                              {CS_DNS_TYPE_A, 60, "a.example.net", "192.0.2.7", 0},
                              {CS_DNS_TYPE_TXT, 60, NULL, "\x02hi", 3}};
  reply(dir, "a", 0, false, CS_DNS_TYPE_A, a, 1, false);
  reply(dir, "aaaa", 0, false, CS_DNS_TYPE_AAAA, aaaa, 1, false);
  reply(dir, "cname", 0, false, CS_DNS_TYPE_A, cn, 3, false);
  reply(dir, "nxdomain", 3, false, CS_DNS_TYPE_A, NULL, 0, false);
  reply(dir, "tc", 0, true, CS_DNS_TYPE_A, NULL, 0, false);
  reply(dir, "tcp2", 0, false, CS_DNS_TYPE_A, a, 1, true);
  /* the query itself (for the query parser), with EDNS0 */
  cs_dnswire_query q;
  cs_dnswire_query_init(&q, FQ_NAME, CS_DNS_TYPE_A, FQ_ID);
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_dnswire_query_encode(&q, true, &b);
  put(dir, "query_edns", b.data, b.len);
  cs_buf_free(&b);
  /* malformed: pointer loop, forward pointer, reserved label, truncated, OPT ext-rcode */
  static const uint8_t loop[] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0,    0,  0, 0,
                                 1,    'a',  0xc0, 12,   0, 1, 0, 1, 0xc0, 12, 0, 1,
                                 0,    1,    0,    0,    0, 5, 0, 4, 1,    2,  3, 4};
  put(dir, "bad_loop", loop, sizeof loop);
  static const uint8_t fwd[] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0,    1,  0, 0, 0, 0,
                                0xc0, 0x30, 0,    1,    0, 1, 0xc0, 12, 0, 1, 0, 1,
                                0,    0,    0,    5,    0, 4, 1,    2,  3, 4};
  put(dir, "bad_fwd", fwd, sizeof fwd);
  static const uint8_t lbl[] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0,
                                0,    0,    0x41, 'x',  0, 0, 1, 0, 1};
  put(dir, "bad_label", lbl, sizeof lbl);
  static const uint8_t trunc[] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0,    2,  0, 0, 0, 0, 3, 'w', 'w',
                                  'w',  0,    0,    1,    0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0};
  put(dir, "bad_trunc", trunc, sizeof trunc);
  static const uint8_t opt[] = {0x12, 0x34, 0x81, 0x83, 0,   1,   0,   0,   0,   0,   0,
                                1,    3,    'w',  'w',  'w', 7,   'e', 'x', 'a', 'm', 'p',
                                'l',  'e',  3,    'c',  'o', 'm', 0,   0,   1,   0,   1,
                                0,    0,    41,   0x10, 0,   1,   0,   0,   0,   0,   0};
  put(dir, "opt_extrcode", opt, sizeof opt);
  put(dir, "garbage", "hello, this is not DNS", 22);
  return 0;
}
#endif
