/* test_dnswire.c - the DNS codec: query bytes, names, reply parsing (compression, loops,
 * bounds, every error code), reply/query matching, TCP framing, synthetic replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dnswire.h"

static cs_dnswire_reply *rep; /* large: heap */

static int setup(void **st) {
  (void)st;
  rep = malloc(sizeof *rep);
  return rep ? 0 : -1;
}
static int teardown(void **st) {
  (void)st;
  free(rep);
  return 0;
}

static void test_query_bytes(void **st) {
  (void)st;
  cs_dnswire_query q;
  assert_int_equal(cs_dnswire_query_init(&q, "example.com", CS_DNS_TYPE_A, 0x1234), 0);
  cs_buf b;
  cs_buf_init(&b, 0);
  assert_int_equal(cs_dnswire_query_encode(&q, false, &b), CS_DNSWIRE_OK);
  static const uint8_t want[] = {0x12, 0x34, 0x01, 0x00, 0,   1,   0,   0,   0,   0,
                                 0,    0,    7,    'e',  'x', 'a', 'm', 'p', 'l', 'e',
                                 3,    'c',  'o',  'm',  0,   0,   1,   0,   1};
  assert_int_equal(b.len, sizeof want);
  assert_memory_equal(b.data, want, sizeof want);
  cs_buf_reset(&b);
  assert_int_equal(cs_dnswire_query_encode(&q, true, &b), CS_DNSWIRE_OK);
  static const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
  assert_int_equal(b.len, sizeof want + sizeof opt);
  assert_int_equal(b.data[11], 1); /* ARCOUNT */
  assert_memory_equal(b.data + sizeof want, opt, sizeof opt);
  /* and the mock's parser reads it back */
  cs_dnswire_query p;
  assert_int_equal(cs_dnswire_query_parse(b.data, b.len, &p), CS_DNSWIRE_OK);
  assert_int_equal(p.id, 0x1234);
  assert_int_equal(p.qtype, CS_DNS_TYPE_A);
  assert_true(cs_dnswire_name_eq(&p.qname, &q.qname));
  cs_buf_free(&b);
}

static void test_names(void **st) {
  (void)st;
  cs_dnswire_name n;
  char s[CS_DNSWIRE_NAME_STRMAX];
  assert_int_equal(cs_dnswire_name_from_str("Example.COM.", &n), CS_DNSWIRE_OK);
  assert_int_equal(n.len, 13);
  assert_string_equal(cs_dnswire_name_to_str(&n, s, sizeof s), "Example.COM");
  assert_int_equal(cs_dnswire_name_from_str("", &n), CS_DNSWIRE_OK);
  assert_int_equal(n.len, 1);
  assert_string_equal(cs_dnswire_name_to_str(&n, s, sizeof s), ".");
  assert_int_equal(cs_dnswire_name_from_str(".", &n), CS_DNSWIRE_OK);
  assert_int_equal(cs_dnswire_name_from_str("a..b", &n), CS_DNSWIRE_BAD_NAME);
  assert_int_equal(cs_dnswire_name_from_str(".a", &n), CS_DNSWIRE_BAD_NAME);
  assert_int_equal(cs_dnswire_name_from_str("a..", &n), CS_DNSWIRE_BAD_NAME);
  char l64[70];
  memset(l64, 'x', 64);
  l64[64] = 0;
  assert_int_equal(cs_dnswire_name_from_str(l64, &n), CS_DNSWIRE_BAD_NAME);
  l64[63] = 0;
  assert_int_equal(cs_dnswire_name_from_str(l64, &n), CS_DNSWIRE_OK);
  /* 4 x 63-byte labels = 4*64 + 1 = 257 > 255; 3 labels of 63 + one of 61 = 255 */
  char big[300];
  memset(big, 'y', sizeof big);
  big[63] = big[127] = big[191] = '.';
  big[255] = 0;
  assert_int_equal(cs_dnswire_name_from_str(big, &n), CS_DNSWIRE_BAD_NAME);
  big[253] = 0;
  assert_int_equal(cs_dnswire_name_from_str(big, &n), CS_DNSWIRE_OK);
  assert_int_equal(n.len, 255);
  /* escapes (RFC 1035 5.1) */
  static const uint8_t w[] = {4, 'a', '.', 0x01, '\\', 0};
  memcpy(n.b, w, sizeof w);
  n.len = sizeof w;
  assert_string_equal(cs_dnswire_name_to_str(&n, s, sizeof s), "a\\.\\001\\\\");
  /* cut at a whole character when the output is small */
  assert_string_equal(cs_dnswire_name_to_str(&n, s, 4), "a\\.");
  cs_dnswire_name a, b;
  cs_dnswire_name_from_str("WWW.Example.com", &a);
  cs_dnswire_name_from_str("www.example.COM.", &b);
  assert_true(cs_dnswire_name_eq(&a, &b));
  cs_dnswire_name_from_str("www.example.co", &b);
  assert_false(cs_dnswire_name_eq(&a, &b));
}

/* Builds a synthetic reply into b. */
static void synth(cs_buf *b, uint16_t id, int rcode, const char *qname, uint16_t qtype,
                  const cs_dnswire_synth_rr *an, size_t nan) {
  cs_dnswire_synth s;
  memset(&s, 0, sizeof s);
  s.id = id, s.rcode = rcode, s.qname = qname, s.qtype = qtype, s.an = an, s.nan = nan;
  cs_buf_reset(b);
  assert_int_equal(cs_dnswire_build_reply(&s, b), CS_DNSWIRE_OK);
}

static void test_parse_normal_and_match(void **st) {
  (void)st;
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_dnswire_synth_rr an[] = {
      {CS_DNS_TYPE_CNAME, 60, NULL, "web.example.net", 0},
      {CS_DNS_TYPE_A, 300, "web.example.net", "192.0.2.1", 0},
      {CS_DNS_TYPE_A, 0x80000000u, "web.example.net", "192.0.2.2", 0},
      {CS_DNS_TYPE_TXT, 5, NULL, "\x03xyz", 4},
  };
  synth(&b, 777, 0, "www.example.com", CS_DNS_TYPE_A, an, 4);
  assert_int_equal(cs_dnswire_parse(b.data, b.len, rep), CS_DNSWIRE_OK);
  assert_int_equal(rep->id, 777);
  assert_int_equal(rep->rcode, 0);
  assert_false(rep->tc);
  assert_true(rep->ra);
  assert_int_equal(rep->ancount, 4);
  assert_int_equal(rep->nan, 3); /* TXT skipped */
  assert_int_equal(rep->an[0].type, CS_DNS_TYPE_CNAME);
  char s[CS_DNSWIRE_NAME_STRMAX];
  assert_string_equal(cs_dnswire_name_to_str(&rep->an[0].target, s, sizeof s), "web.example.net");
  assert_string_equal(cs_dnswire_name_to_str(&rep->an[0].owner, s, sizeof s), "www.example.com");
  assert_int_equal(rep->an[1].ttl, 300);
  assert_int_equal(rep->an[2].ttl, 0x80000000u);
  cs_ip ips[4];
  assert_int_equal(cs_dnswire_addrs(rep, CS_DNS_TYPE_A, ips, 4), 2);
  assert_int_equal(ips[0].family, AF_INET);
  assert_int_equal(ips[1].b[3], 2);
  assert_int_equal(cs_dnswire_addrs(rep, CS_DNS_TYPE_AAAA, ips, 4), 0);
  assert_int_equal(cs_dnswire_addrs(rep, CS_DNS_TYPE_A, ips, 1), 1);

  cs_dnswire_query q;
  cs_dnswire_query_init(&q, "WWW.EXAMPLE.com", CS_DNS_TYPE_A, 777);
  assert_int_equal(cs_dnswire_match(&q, rep), CS_DNSWIRE_OK);
  q.id = 778;
  assert_int_equal(cs_dnswire_match(&q, rep), CS_DNSWIRE_ID_MISMATCH);
  cs_dnswire_query_init(&q, "www.example.org", CS_DNS_TYPE_A, 777);
  assert_int_equal(cs_dnswire_match(&q, rep), CS_DNSWIRE_QUESTION_MISMATCH);
  cs_dnswire_query_init(&q, "www.example.com", CS_DNS_TYPE_AAAA, 777);
  assert_int_equal(cs_dnswire_match(&q, rep), CS_DNSWIRE_QUESTION_MISMATCH);

  /* AAAA */
  cs_dnswire_synth_rr an6[] = {{CS_DNS_TYPE_AAAA, 1, NULL, "2001:db8::1", 0}};
  synth(&b, 1, 0, "v6.test", CS_DNS_TYPE_AAAA, an6, 1);
  assert_int_equal(cs_dnswire_parse(b.data, b.len, rep), CS_DNSWIRE_OK);
  assert_int_equal(cs_dnswire_addrs(rep, CS_DNS_TYPE_AAAA, ips, 4), 1);
  assert_int_equal(ips[0].family, AF_INET6);
  assert_int_equal(ips[0].b[15], 1);

  /* rcode, no question (FORMERR style): parses, never matches */
  cs_dnswire_synth sy;
  memset(&sy, 0, sizeof sy);
  sy.id = 1, sy.rcode = CS_DNS_RCODE_FORMERR, sy.no_question = true, sy.qname = "x";
  cs_buf_reset(&b);
  assert_int_equal(cs_dnswire_build_reply(&sy, &b), CS_DNSWIRE_OK);
  assert_int_equal(cs_dnswire_parse(b.data, b.len, rep), CS_DNSWIRE_OK);
  assert_int_equal(rep->rcode, 1);
  cs_dnswire_query_init(&q, "x", CS_DNS_TYPE_A, 1);
  assert_int_equal(cs_dnswire_match(&q, rep), CS_DNSWIRE_QUESTION_MISMATCH);
  cs_buf_free(&b);
}

static const uint8_t HDR_RESP_1Q[] = {0xab, 0xcd, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0};

/* header + question "a." A IN, then `tail` */
static size_t msg(uint8_t *out, const uint8_t *hdr, const uint8_t *tail, size_t tl) {
  memcpy(out, hdr, 12);
  static const uint8_t qs[] = {1, 'a', 0, 0, 1, 0, 1};
  memcpy(out + 12, qs, sizeof qs);
  memcpy(out + 12 + sizeof qs, tail, tl);
  return 12 + sizeof qs + tl;
}

static void test_parse_errors(void **st) {
  (void)st;
  uint8_t m[600];
  size_t n;
  /* short header */
  assert_int_equal(cs_dnswire_parse(HDR_RESP_1Q, 11, rep), CS_DNSWIRE_SHORT);
  assert_int_equal(cs_dnswire_parse(HDR_RESP_1Q, 0, rep), CS_DNSWIRE_SHORT);
  /* ok: one A via pointer to the question */
  static const uint8_t ok[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4};
  n = msg(m, HDR_RESP_1Q, ok, sizeof ok);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_OK);
  assert_int_equal(rep->nan, 1);
  /* trailing garbage ignored */
  m[n] = 0xff;
  assert_int_equal(cs_dnswire_parse(m, n + 1, rep), CS_DNSWIRE_OK);
  /* every truncation of the valid message is SHORT */
  for (size_t k = 0; k < n; k++) assert_int_equal(cs_dnswire_parse(m, k, rep), CS_DNSWIRE_SHORT);
  /* A with 5 bytes of rdata */
  static const uint8_t bad_a[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 5, 1, 2, 3, 4, 5};
  n = msg(m, HDR_RESP_1Q, bad_a, sizeof bad_a);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_BAD_RDATA);
  /* AAAA with 4 bytes */
  static const uint8_t bad_aaaa[] = {0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4};
  n = msg(m, HDR_RESP_1Q, bad_aaaa, sizeof bad_aaaa);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_BAD_RDATA);
  /* CNAME whose name does not fill rdata */
  static const uint8_t bad_cn[] = {0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 5, 0, 3, 0, 0xaa, 0xbb};
  n = msg(m, HDR_RESP_1Q, bad_cn, sizeof bad_cn);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_BAD_RDATA);
  /* CNAME whose name runs past rdata into the next bytes */
  static const uint8_t bad_cn2[] = {0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 5, 0, 1, 1, 'b', 0};
  n = msg(m, HDR_RESP_1Q, bad_cn2, sizeof bad_cn2);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_BAD_RDATA);
  /* pointer to itself / forward */
  static const uint8_t self[] = {0xc0, 19, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4};
  n = msg(m, HDR_RESP_1Q, self, sizeof self);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_BAD_POINTER);
  static const uint8_t fwd[] = {0xc0, 40, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4};
  n = msg(m, HDR_RESP_1Q, fwd, sizeof fwd);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_BAD_POINTER);
  /* label then pointer back to its own label: a loop, caught as BAD_POINTER */
  static const uint8_t loop[] = {1, 'x', 0xc0, 19, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4};
  n = msg(m, HDR_RESP_1Q, loop, sizeof loop);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_BAD_POINTER);
  /* reserved label types */
  static const uint8_t l40[] = {0x41, 'x', 0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4};
  n = msg(m, HDR_RESP_1Q, l40, sizeof l40);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_BAD_LABEL_TYPE);
  m[19] = 0x81;
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_BAD_LABEL_TYPE);
  /* QR=0, opcode, QDCOUNT */
  n = msg(m, HDR_RESP_1Q, ok, sizeof ok);
  m[2] = 0x01;
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_NOT_RESPONSE);
  m[2] = 0x81 | (2 << 3);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_OPCODE);
  m[2] = 0x81;
  m[5] = 2;
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_QDCOUNT);
  m[5] = 1;
  m[6] = 0xff; /* ANCOUNT 65281 */
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_TOO_MANY_RRS);
  m[6] = 0;
  m[7] = 3; /* claims 3 answers, has 1 */
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_SHORT);
  m[2] |= 0x02; /* ... unless TC=1: keep what parsed */
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_OK);
  assert_true(rep->tc);
  assert_int_equal(rep->nan, 1);
  /* query parser rejects a response */
  cs_dnswire_query q;
  assert_int_equal(cs_dnswire_query_parse(m, n, &q), CS_DNSWIRE_IS_RESPONSE);
  assert_int_equal(cs_dnswire_parse(m, CS_DNSWIRE_MAX_MSG + 1, rep), CS_DNSWIRE_BAD_ARG);
  assert_string_equal(cs_dnswire_strerror(CS_DNSWIRE_POINTER_LOOP),
                      "too many compression pointers");
}

/* A chain of 40 pointers, each to the previous one: more than CS_DNSWIRE_MAX_JUMPS. */
static void test_pointer_chain(void **st) {
  (void)st;
  uint8_t m[400];
  uint8_t hdr[12];
  memcpy(hdr, HDR_RESP_1Q, 12);
  hdr[7] = 2;
  /* answer 1: TXT owned by the question, rdata = the pointer chain */
  uint8_t tail[300];
  size_t t = 0;
  const size_t nptr = 40;
  tail[t++] = 0xc0, tail[t++] = 12;
  tail[t++] = 0, tail[t++] = 16, tail[t++] = 0, tail[t++] = 1;
  tail[t++] = 0, tail[t++] = 0, tail[t++] = 0, tail[t++] = 1;
  tail[t++] = 0, tail[t++] = (uint8_t)(nptr * 2);
  size_t base = 12 + 7 + t; /* message offset of the first pointer */
  for (size_t i = 0; i < nptr; i++) {
    size_t target = i == 0 ? 12 : base + 2 * (i - 1);
    tail[t++] = (uint8_t)(0xc0 | (target >> 8)), tail[t++] = (uint8_t)target;
  }
  /* answer 2: A whose owner is the last pointer of the chain */
  size_t last = base + 2 * (nptr - 1);
  tail[t++] = (uint8_t)(0xc0 | (last >> 8)), tail[t++] = (uint8_t)last;
  static const uint8_t rest[] = {0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4};
  memcpy(tail + t, rest, sizeof rest);
  t += sizeof rest;
  size_t n = msg(m, hdr, tail, t);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_POINTER_LOOP);
  /* a short chain (10 pointers) is fine */
  last = base + 2 * 9;
  size_t off = 12 + 7 + 12 + 2 * nptr - 12 - 7;
  tail[off] = (uint8_t)(0xc0 | (last >> 8)), tail[off + 1] = (uint8_t)last;
  n = msg(m, hdr, tail, t);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_OK);
  assert_int_equal(rep->nan, 1);
}

/* A name made longer than 255 bytes through compression. */
static void test_name_too_long_compressed(void **st) {
  (void)st;
  uint8_t m[800];
  uint8_t hdr[12];
  memcpy(hdr, HDR_RESP_1Q, 12);
  hdr[7] = 2;
  uint8_t tail[700];
  size_t t = 0;
  /* answer 1: TXT, rdata = 63-byte label x3 then pointer to question ("a", 3 bytes): 3*64+3 =
   * 195 fine; answer 2 owner = label 63 + pointer to that = 64 + 195 = 259 > 255 */
  tail[t++] = 0xc0, tail[t++] = 12;
  tail[t++] = 0, tail[t++] = 16, tail[t++] = 0, tail[t++] = 1;
  tail[t++] = 0, tail[t++] = 0, tail[t++] = 0, tail[t++] = 1;
  tail[t++] = 0, tail[t++] = 3 * 64 + 2;
  size_t name_off = 12 + 7 + t;
  for (int k = 0; k < 3; k++) {
    tail[t++] = 63;
    memset(tail + t, 'z', 63);
    t += 63;
  }
  tail[t++] = 0xc0, tail[t++] = 12;
  tail[t++] = 63;
  memset(tail + t, 'w', 63);
  t += 63;
  tail[t++] = (uint8_t)(0xc0 | (name_off >> 8)), tail[t++] = (uint8_t)name_off;
  static const uint8_t rest[] = {0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4};
  memcpy(tail + t, rest, sizeof rest);
  t += sizeof rest;
  size_t n = msg(m, hdr, tail, t);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_NAME_TOO_LONG);
}

static void test_edns_and_limits(void **st) {
  (void)st;
  /* OPT in additional with extended rcode 1 -> rcode 16 | header rcode */
  uint8_t m[64];
  uint8_t hdr[12];
  memcpy(hdr, HDR_RESP_1Q, 12);
  hdr[3] = 0x83; /* NXDOMAIN */
  hdr[7] = 0, hdr[11] = 1;
  static const uint8_t opt[] = {0, 0, 41, 0x10, 0x00, 1, 0, 0, 0, 0, 0};
  size_t n = msg(m, hdr, opt, sizeof opt);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_OK);
  assert_true(rep->has_edns);
  assert_int_equal(rep->edns_udp_size, 4096);
  assert_int_equal(rep->rcode, 16 | 3);
  /* OPT with a non-root owner */
  static const uint8_t opt2[] = {1, 'x', 0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0};
  n = msg(m, hdr, opt2, sizeof opt2);
  assert_int_equal(cs_dnswire_parse(m, n, rep), CS_DNSWIRE_BAD_RDATA);

  /* 100 A answers: 64 kept, 36 counted */
  cs_dnswire_synth_rr an[100];
  char ips[100][20];
  for (int i = 0; i < 100; i++) {
    snprintf(ips[i], sizeof ips[i], "10.0.%d.%d", i / 250, i % 250);
    an[i] = (cs_dnswire_synth_rr){CS_DNS_TYPE_A, 1, NULL, ips[i], 0};
  }
  cs_buf b;
  cs_buf_init(&b, 0);
  synth(&b, 5, 0, "many.test", CS_DNS_TYPE_A, an, 100);
  assert_int_equal(cs_dnswire_parse(b.data, b.len, rep), CS_DNSWIRE_OK);
  assert_int_equal(rep->nan, CS_DNSWIRE_MAX_ANSWERS);
  assert_int_equal(rep->nan_dropped, 100 - CS_DNSWIRE_MAX_ANSWERS);
  cs_buf_free(&b);
}

static void test_tcp_framing(void **st) {
  (void)st;
  cs_buf b;
  cs_buf_init(&b, 0);
  static const uint8_t m1[] = {1, 2, 3};
  assert_int_equal(cs_dnswire_tcp_frame(m1, 3, &b), CS_DNSWIRE_OK);
  assert_int_equal(cs_dnswire_tcp_frame(m1, 2, &b), CS_DNSWIRE_OK);
  assert_int_equal(b.len, 9);
  assert_int_equal(cs_dnswire_tcp_frame(m1, 0, &b), CS_DNSWIRE_BAD_ARG);
  const uint8_t *p;
  size_t len, used;
  for (size_t k = 0; k < 5; k++)
    assert_int_equal(cs_dnswire_tcp_next(b.data, k, &p, &len, &used), CS_DNSWIRE_INCOMPLETE);
  assert_int_equal(cs_dnswire_tcp_next(b.data, b.len, &p, &len, &used), CS_DNSWIRE_OK);
  assert_int_equal(len, 3);
  assert_int_equal(used, 5);
  assert_memory_equal(p, m1, 3);
  assert_int_equal(cs_dnswire_tcp_next(b.data + used, b.len - used, &p, &len, &used),
                   CS_DNSWIRE_OK);
  assert_int_equal(len, 2);
  static const uint8_t zero[] = {0, 0, 9};
  assert_int_equal(cs_dnswire_tcp_next(zero, 3, &p, &len, &used), CS_DNSWIRE_SHORT);
  cs_buf_free(&b);
}

static void test_random_id(void **st) {
  (void)st;
  uint16_t first = cs_dnswire_random_id();
  bool differ = false;
  for (int i = 0; i < 64 && !differ; i++) differ = cs_dnswire_random_id() != first;
  assert_true(differ);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_query_bytes),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_parse_normal_and_match),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_pointer_chain),
      cmocka_unit_test(test_name_too_long_compressed),
      cmocka_unit_test(test_edns_and_limits),
      cmocka_unit_test(test_tcp_framing),
      cmocka_unit_test(test_random_id),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
