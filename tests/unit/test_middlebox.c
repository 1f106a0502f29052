/* test_middlebox.c - packet evidence: header parsing of hostile packets, the signature-mode
 * seed solver, injected-versus-genuine verdicts and fingerprint families (analysis/middlebox.h,
 * with the fingerprint files of data/middlebox), and the capture itself against a real
 * loopback server (engine/capture.h): the SYN-ACK and the server's RST are seen as genuine,
 * and without CAP_NET_RAW the measurement says "no_privilege". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analysis/middlebox.h"
#include "engine/loop.h"
#include "engine/tls.h"
#include "nettests/urlgetter.h"
#include "tcp_servers.h"
#include "util/buf.h"
#include "util/json.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static char repo_root[PATH_MAX];

static const char *root(void) {
  if (repo_root[0]) return repo_root;
  char cur[PATH_MAX];
  if (!getcwd(cur, sizeof cur)) return ".";
  for (int up = 0; up < 8; up++) {
    char a[PATH_MAX + 64];
    struct stat st;
    snprintf(a, sizeof a, "%s/data/middlebox", cur);
    if (stat(a, &st) == 0 && S_ISDIR(st.st_mode)) {
      snprintf(repo_root, sizeof repo_root, "%s", cur);
      return repo_root;
    }
    char *slash = strrchr(cur, '/');
    if (!slash || slash == cur) break;
    *slash = 0;
  }
  return ".";
}

static cs_mb_db *load_db(void) {
  char dir[PATH_MAX + 32], err[256];
  snprintf(dir, sizeof dir, "%s/data/middlebox", root());
  cs_mb_db *db = cs_mb_db_load(dir, err, sizeof err);
  if (!db) fprintf(stderr, "fingerprints: %s\n", err);
  assert_non_null(db);
  return db;
}

static cs_ip v4(const char *s) {
  cs_ip ip;
  assert_true(cs_ip_parse(s, &ip));
  return ip;
}

/* A TCP packet on flow tcp 198.51.100.7:443 (local port 40000 as flow key). */
static cs_mb_pkt tcp_pkt(double t, uint16_t flags, uint8_t ttl, uint16_t ipid, bool df,
                         uint16_t win) {
  cs_mb_pkt p = {0};
  p.t = t;
  p.flow_proto = 6, p.proto = 6;
  p.remote = v4("198.51.100.7"), p.src = p.remote;
  p.rport = 443, p.flow_key = 40000, p.conn_id = 3;
  p.tcp_flags = flags, p.ttl = ttl, p.ip_id = ipid, p.has_ip_id = true, p.df = df;
  p.window = win;
  return p;
}

/* x_middlebox of pk, parsed; NULL when it is null. */
static const cs_jval *analyze(cs_arena *a, const cs_mb_pkt *pk, size_t n, const cs_mb_db *db,
                              int *ninj) {
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_jw_obj_open(&w);
  *ninj = cs_mb_write_analysis(&w, pk, n, db);
  cs_jw_key(&w, "x_packets");
  cs_mb_write_packets(&w, pk, n);
  cs_jw_obj_close(&w);
  char err[128];
  const cs_jval *v = cs_json_parse(a, (const char *)b.data, b.len, NULL, err, sizeof err);
  cs_buf_free(&b);
  assert_non_null(v);
  const cs_jval *x = cs_json_get(v, "x_middlebox");
  assert_non_null(x);
  return cs_json_is_null(x) ? NULL : x;
}

static bool has_reason(const cs_jval *e, const char *needle) {
  const cs_jval *r = cs_json_get_arr(e, "reasons");
  for (size_t i = 0; r && i < r->len; i++)
    if (r->kids[i]->type == CS_JSTR && strstr(r->kids[i]->str, needle)) return true;
  return false;
}

/* The signature-mode model of docs/forensics.md: ipid = A - k*win + (sip mod win). */
static uint16_t model_ipid(uint16_t a, uint16_t k, uint16_t win, uint32_t sip) {
  return (uint16_t)(a - (uint32_t)k * win + sip % win);
}

/* ---- parsing ------------------------------------------------------------------------------ */

static const uint8_t rst_pkt[] = {
    0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x06, 0x00, 0x00, /* ttl 63, DF */
    198,  51,   100,  7,    192,  0,    2,    9,                            /* src, dst */
    0x01, 0xbb, 0x9c, 0x40, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x20, 0x00, /* 443 -> 40000 */
    0x50, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};                        /* RST|ACK, win 0 */

static void test_parse_tcp(void **st) {
  (void)st;
  cs_mb_pkt p;
  assert_int_equal(cs_mb_parse_ip(rst_pkt, sizeof rst_pkt, &p), 0);
  assert_int_equal(p.proto, 6);
  assert_int_equal(p.ttl, 63);
  assert_int_equal(p.ip_id, 0x1234);
  assert_true(p.df);
  assert_int_equal(p.sport, 443);
  assert_int_equal(p.dport, 40000);
  assert_int_equal(p.seq, 0x1000);
  assert_int_equal(p.ack, 0x2000);
  char f[16];
  cs_mb_flags_str(p.tcp_flags, f);
  assert_string_equal(f, "RA");
  cs_mb_flags_str(CS_MB_SYN | CS_MB_ACK, f);
  assert_string_equal(f, "SA");
  cs_mb_flags_str(CS_MB_FIN | CS_MB_ACK | CS_MB_PSH, f);
  assert_string_equal(f, "FPA");
  /* every truncation, in an exact-size buffer: no over-read (ASan), never a TCP record
   * without its header */
  for (size_t n = 0; n < sizeof rst_pkt; n++) {
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    memcpy(b, rst_pkt, n);
    assert_int_equal(cs_mb_parse_ip(b, n, &p), -1);
    free(b);
  }
}

static void test_parse_dns_icmp(void **st) {
  (void)st;
  /* IPv4 + UDP 53 -> 5353 + DNS reply: 1 question (a.b), 1 answer with a pointer */
  uint8_t d[] = {0x45, 0,   0,    0,    0,    0,    0,  0, 64, 17,   0,    0,    198,
                 51,   100, 53,   192,  0,    2,    9,  0, 53, 0x14, 0xe9, 0,    0,
                 0,    0,   0xbe, 0xef, 0x81, 0x80, 0,  1, 0,  1,    0,    0,    0,
                 0,    1,   'a',  1,    'b',  0,    0,  1, 0,  1,    0xc0, 0x0c, 0,
                 1,    0,   1,    0,    0,    0,    60, 0, 4,  203,  0,    113,  9};
  d[3] = (uint8_t)sizeof d;
  cs_mb_pkt p;
  assert_int_equal(cs_mb_parse_ip(d, sizeof d, &p), 0);
  assert_true(p.is_dns);
  assert_int_equal(p.dns_id, 0xbeef);
  assert_int_equal(p.dns_flags, 0x8180);
  assert_int_equal(p.dns_answers, 1);
  assert_true(p.compression);
  assert_int_equal(p.nanswer_a, 1);
  assert_int_equal(p.answer_a[0].b[0], 203);
  assert_false(p.df);
  for (size_t n = 0; n < sizeof d; n++) { /* truncated replies parse partially or not at all */
    uint8_t *b = malloc(n ? n : 1);
    memcpy(b, d, n);
    (void)cs_mb_parse_ip(b, n, &p);
    free(b);
  }
  /* the same reply with an AAAA answer 2001:db8::5 */
  uint8_t d6[sizeof d + 12];
  memcpy(d6, d, sizeof d - 14); /* up to the answer's pointer to the question name */
  static const uint8_t rr6[] = {0,    28, 0, 1, 0, 0, 0, 60, 0, 16, 0x20, 0x01, 0x0d,
                                0xb8, 0,  0, 0, 0, 0, 0, 0,  0, 0,  0,    0,    5};
  memcpy(d6 + sizeof d - 14, rr6, sizeof rr6);
  d6[3] = (uint8_t)sizeof d6;
  assert_int_equal(cs_mb_parse_ip(d6, sizeof d6, &p), 0);
  assert_int_equal(p.nanswer_a, 0);
  assert_int_equal(p.nanswer_aaaa, 1);
  assert_int_equal(p.answer_aaaa[0].family, AF_INET6);
  assert_int_equal(p.answer_aaaa[0].b[1], 0x01);
  assert_int_equal(p.answer_aaaa[0].b[15], 5);
  /* ICMP time exceeded quoting our TCP segment to 198.51.100.7:443 from port 40000 */
  uint8_t ic[20 + 8 + 28] = {0x45, 0, 0,   56, 0,   0, 0,    0,    250,  1,    0, 0, 198, 18,
                             2,    1, 192, 0,  2,   9, 11,   0,    0,    0,    0, 0, 0,   0,
                             0x45, 0, 0,   60, 0,   0, 0x40, 0,    1,    6,    0, 0, 192, 0,
                             2,    9, 198, 51, 100, 7, 0x9c, 0x40, 0x01, 0xbb, 0, 0, 0,   0};
  assert_int_equal(cs_mb_parse_ip(ic, sizeof ic, &p), 0);
  assert_int_equal(p.proto, 1);
  assert_int_equal(p.icmp_type, 11);
  assert_true(p.has_quote);
  assert_int_equal(p.q_proto, 6);
  assert_int_equal(p.q_sport, 40000);
  assert_int_equal(p.q_dport, 443);
  ic[20] = 8; /* echo request: not an error this module reads */
  assert_int_equal(cs_mb_parse_ip(ic, sizeof ic, &p), -1);
}

/* ---- seed solver -------------------------------------------------------------------------- */

static void test_seed_solver(void **st) {
  (void)st;
  uint32_t sip = 0xc6336407; /* 198.51.100.7 */
  uint16_t win[3] = {8191, 12032, 40015}, ipid[3], out[4];
  for (size_t i = 0; i < 3; i++) ipid[i] = model_ipid(0x5a5a, 13, win[i], sip);
  assert_int_equal(cs_mb_solve_seed(sip, ipid, win, 3, out, 4), 1);
  assert_int_equal(out[0], 13);
  for (size_t i = 0; i < 3; i++) ipid[i] = model_ipid(0x0101, 65535, win[i], sip);
  assert_int_equal(cs_mb_solve_seed(sip, ipid, win, 3, out, 4), 1);
  assert_int_equal(out[0], 65535);
  /* the research's integer formula agrees where the division is exact: 2 packets, odd
   * window difference => one seed */
  uint16_t w2[2] = {1001, 2000}, i2[2];
  for (size_t i = 0; i < 2; i++) i2[i] = model_ipid(77, 4242, w2[i], sip);
  assert_int_equal(cs_mb_solve_seed(sip, i2, w2, 2, out, 4), 1);
  assert_int_equal(out[0], 4242);
  /* a third packet that does not follow the model: no seed */
  ipid[2] ^= 0x0400;
  assert_int_equal(cs_mb_solve_seed(sip, ipid, win, 3, out, 4), 0);
  /* zero window, too few packets: nothing */
  uint16_t wz[2] = {0, 5};
  assert_int_equal(cs_mb_solve_seed(sip, i2, wz, 2, out, 4), 0);
  assert_int_equal(cs_mb_solve_seed(sip, i2, w2, 1, out, 4), 0);
}

/* ---- verdicts ------------------------------------------------------------------------------ */

static void test_genuine_and_injected(void **st) {
  (void)st;
  cs_mb_db *db = load_db();
  cs_arena *a = cs_arena_new(0);
  int ninj;
  /* genuine close: FIN and RST from the server with the SYN-ACK's TTL and DF */
  cs_mb_pkt g[] = {tcp_pkt(0.01, CS_MB_SYN | CS_MB_ACK, 61, 0, true, 64240),
                   tcp_pkt(0.20, CS_MB_FIN | CS_MB_ACK, 61, 7, true, 501),
                   tcp_pkt(0.21, CS_MB_RST, 61, 8, true, 0)};
  assert_null(analyze(a, g, 3, db, &ninj));
  assert_int_equal(ninj, 0);
  /* a router's REJECT: its own TTL (64 vs 61), DF, window 0 -> linux-reject */
  cs_mb_pkt r[] = {tcp_pkt(0.01, CS_MB_SYN | CS_MB_ACK, 61, 0, true, 64240),
                   tcp_pkt(0.05, CS_MB_RST | CS_MB_ACK, 64, 0, true, 0)};
  const cs_jval *x = analyze(a, r, 2, db, &ninj);
  assert_non_null(x);
  assert_int_equal(ninj, 1);
  const cs_jval *e = x->kids[0];
  assert_string_equal(cs_json_get_str(e, "kind", ""), "rst");
  assert_int_equal(cs_json_get_bool(e, "injected", -1), 1);
  assert_true(has_reason(e, "ttl 64 vs syn-ack 61"));
  assert_string_equal(cs_json_get_str(e, "family", "(null)"), "linux-reject");
  assert_int_equal(cs_json_get_int(e, "hops_from_probe", -1), 1);
  /* Pakistan-RST-like: RST+ACK without DF */
  r[1].df = false, r[1].window = 0;
  x = analyze(a, r, 2, db, &ninj);
  assert_string_equal(cs_json_get_str(x->kids[0], "family", "(null)"), "pk-rst");
  /* no SYN-ACK at all (RST to the SYN): unknown, never a family */
  x = analyze(a, r + 1, 1, db, &ninj);
  assert_int_equal(ninj, 0);
  assert_true(cs_json_is_null(cs_json_get(x->kids[0], "injected")));
  assert_true(cs_json_is_null(cs_json_get(x->kids[0], "family")));
  /* same TTL, DF differs: unknown */
  cs_mb_pkt d[] = {tcp_pkt(0.01, CS_MB_SYN | CS_MB_ACK, 61, 0, true, 64240),
                   tcp_pkt(0.05, CS_MB_RST, 61, 0, false, 0)};
  x = analyze(a, d, 2, db, &ninj);
  assert_true(cs_json_is_null(cs_json_get(x->kids[0], "injected")));
  cs_arena_free(a);
  cs_mb_db_free(db);
}

static void test_signature_mode(void **st) {
  (void)st;
  cs_mb_db *db = load_db();
  cs_arena *a = cs_arena_new(0);
  int ninj;
  uint32_t sip = 0xc6336407;
  uint16_t wins[3] = {24001, 5002, 61111};
  cs_mb_pkt p[4] = {tcp_pkt(0.01, CS_MB_SYN | CS_MB_ACK, 61, 0, true, 64240)};
  for (size_t i = 0; i < 3; i++)
    p[i + 1] = tcp_pkt(0.1 + 0.001 * (double)i, CS_MB_RST | CS_MB_ACK, (uint8_t)(90 + i * 7),
                       model_ipid(0x1234, 13, wins[i], sip), true, wins[i]);
  const cs_jval *x = analyze(a, p, 4, db, &ninj);
  assert_non_null(x);
  const cs_jval *e = x->kids[0];
  assert_int_equal(cs_json_get_bool(e, "injected", -1), 1);
  assert_string_equal(cs_json_get_str(e, "family", "(null)"), "tsg-signature");
  assert_int_equal(cs_json_get_int(e, "seed", -1), 13);
  assert_int_equal(cs_json_get_int(e, "count", -1), 3);
  /* another seed is solved too, and still the family (>= 3 consistent RSTs) */
  for (size_t i = 0; i < 3; i++) p[i + 1].ip_id = model_ipid(0x0777, 31337, wins[i], sip);
  x = analyze(a, p, 4, db, &ninj);
  assert_int_equal(cs_json_get_int(x->kids[0], "seed", -1), 31337);
  assert_string_equal(cs_json_get_str(x->kids[0], "family", "(null)"), "tsg-signature");
  /* two RSTs fit some seed whatever they are: only the known seed 13 names the family */
  x = analyze(a, p, 3, db, &ninj);
  assert_true(cs_json_is_null(cs_json_get(x->kids[0], "family")));
  assert_true(cs_json_is_null(cs_json_get(x->kids[0], "seed")));
  for (size_t i = 0; i < 2; i++) p[i + 1].ip_id = model_ipid(0x0777, 13, wins[i], sip);
  x = analyze(a, p, 3, db, &ninj);
  assert_string_equal(cs_json_get_str(x->kids[0], "family", "(null)"), "tsg-signature");
  assert_int_equal(cs_json_get_int(x->kids[0], "seed", -1), 13);
  /* random IP IDs over 3 RSTs: no seed, so no TSG (no other RST family fits varying windows
   * with DF either) */
  p[1].ip_id = 1, p[2].ip_id = 40000, p[3].ip_id = 999;
  x = analyze(a, p, 4, db, &ninj);
  assert_int_equal(ninj, 1);
  assert_true(cs_json_is_null(cs_json_get(x->kids[0], "seed")));
  assert_true(has_reason(x->kids[0], "no signature-mode seed"));
  assert_true(cs_json_is_null(cs_json_get(x->kids[0], "family")));
  cs_arena_free(a);
  cs_mb_db_free(db);
}

static cs_mb_pkt dns_pkt(double t, uint16_t id, uint16_t flags, uint8_t ttl, bool df, bool comp,
                         const char *answer) {
  cs_mb_pkt p = {0};
  p.t = t;
  p.flow_proto = 17, p.proto = 17;
  p.remote = v4("198.51.100.53"), p.src = p.remote;
  p.rport = 53, p.flow_key = 5353;
  p.sport = 53, p.dport = 5353;
  p.ttl = ttl, p.df = df, p.has_ip_id = true;
  p.is_dns = true, p.dns_id = id, p.dns_flags = flags, p.dns_answers = 1;
  p.compression = comp;
  p.nanswer_a = 1, p.answer_a[0] = v4(answer);
  return p;
}

static void test_dns_injection(void **st) {
  (void)st;
  cs_mb_db *db = load_db();
  cs_arena *a = cs_arena_new(0);
  int ninj;
  /* one genuine reply: nothing */
  cs_mb_pkt one = dns_pkt(0.01, 7, 0x8180, 62, true, true, "203.0.113.5");
  assert_null(analyze(a, &one, 1, db, &ninj));
  /* a racing reply with another TTL and answer, then the real one */
  cs_mb_pkt race[] = {dns_pkt(0.002, 7, 0x8180, 64, false, true, "192.0.2.66"),
                      dns_pkt(0.010, 7, 0x8180, 62, true, true, "203.0.113.5")};
  const cs_jval *x = analyze(a, race, 2, db, &ninj);
  assert_non_null(x);
  assert_int_equal(ninj, 1);
  const cs_jval *e = x->kids[0];
  assert_string_equal(cs_json_get_str(e, "kind", ""), "dns");
  assert_string_equal(cs_json_get_str(e, "family", "(null)"), "tsg-gfw2-dns");
  assert_string_equal(cs_json_get_str(e, "flags", ""), "0x8180");
  assert_true(has_reason(e, "ttl 64 vs 62"));
  /* GFW injector 1 traits: AA, no compression */
  race[0].dns_flags = 0x8580, race[0].compression = false;
  x = analyze(a, race, 2, db, &ninj);
  assert_string_equal(cs_json_get_str(x->kids[0], "family", "(null)"), "gfw-dns-1");
  /* answer ranges: a forged AAAA answer in Teredo 2001::/32 (GFWatch), data/middlebox/gfw.fp */
  cs_mb_pkt six[] = {dns_pkt(0.002, 9, 0x8400, 64, false, false, "192.0.2.66"),
                     dns_pkt(0.010, 9, 0x8180, 62, true, true, "203.0.113.5")};
  six[0].nanswer_a = six[1].nanswer_a = 0, six[0].flow_key = six[1].flow_key = 5354;
  six[0].nanswer_aaaa = six[1].nanswer_aaaa = 1;
  assert_true(cs_ip_parse("2001:0:53aa:64c:0:1:2:3", &six[0].answer_aaaa[0]));
  assert_true(cs_ip_parse("2001:db8::5", &six[1].answer_aaaa[0]));
  x = analyze(a, six, 2, db, &ninj);
  assert_non_null(x);
  /* gfw-dns-3 (flags 0x8400, no compression: 2 traits) outranks the 1-trait range */
  assert_string_equal(cs_json_get_str(x->kids[0], "family", "(null)"), "gfw-dns-3");
  assert_string_equal(cs_json_get_arr(x->kids[0], "answers")->kids[0]->str,
                      "2001:0:53aa:64c:0:1:2:3");
  six[0].dns_flags = 0x8100; /* no flags fingerprint: the range decides */
  x = analyze(a, six, 2, db, &ninj);
  assert_string_equal(cs_json_get_str(x->kids[0], "family", "(null)"), "gfw-dns-teredo");
  assert_true(cs_ip_parse("2001:db8::66", &six[0].answer_aaaa[0])); /* outside: no family */
  x = analyze(a, six, 2, db, &ninj);
  assert_string_equal(cs_json_get_str(x->kids[0], "family", "(null)"), "(null)");
  /* identical duplicates (a retransmission): nothing */
  race[0] = race[1];
  race[0].t = 0.001;
  assert_null(analyze(a, race, 2, db, &ninj));
  cs_arena_free(a);
  cs_mb_db_free(db);
}

/* The TTL-copy probe's verdict (docs/forensics.md): the query of an interfering reply sent
 * again with TTLs 64, 96, 128; the forged reply's TTL follows the sent TTL or does not. */
/* A true|false|null key: 1, 0, -1 (7 when absent or of another type). */
static int tri(const cs_jval *e, const char *key) {
  const cs_jval *v = cs_json_get(e, key);
  if (v && cs_json_is_null(v)) return -1;
  return cs_json_get_bool(e, key, 7);
}

static void ttl_probe_pkts(cs_mb_pkt *out, const uint8_t *forged_ttl, const char *qname) {
  static const uint8_t sent[] = {64, 96, 128};
  for (int i = 0; i < 3; i++) {
    cs_mb_pkt f = dns_pkt(0.1 + i * 0.01, (uint16_t)(100 + i), 0x8180, forged_ttl[i], false, true,
                          "192.0.2.66");
    cs_mb_pkt g =
        dns_pkt(0.105 + i * 0.01, (uint16_t)(100 + i), 0x8180, 62, true, true, "203.0.113.5");
    f.flow_key = g.flow_key = (uint32_t)(6000 + i);
    f.sent_ttl = g.sent_ttl = sent[i];
    f.qname = g.qname = qname, f.qtype = g.qtype = 1;
    out[2 * i] = f, out[2 * i + 1] = g;
  }
}

static void test_dns_ttl_copy(void **st) {
  (void)st;
  cs_mb_db *db = load_db();
  cs_arena *a = cs_arena_new(0);
  int ninj;
  /* the measured query: a racing reply with the SAME TTL as the real one, other answers:
   * injected is null (a TTL-copying injector hides behind the real TTL) */
  cs_mb_pkt pk[8] = {dns_pkt(0.002, 7, 0x8180, 62, true, true, "192.0.2.66"),
                     dns_pkt(0.010, 7, 0x8180, 62, true, true, "203.0.113.5")};
  pk[0].qname = pk[1].qname = "blocked.example", pk[0].qtype = pk[1].qtype = 1;
  const cs_jval *x = analyze(a, pk, 2, db, &ninj);
  assert_non_null(x);
  assert_int_equal(ninj, 0);
  assert_int_equal(tri(x->kids[0], "injected"), -1);
  assert_int_equal(tri(x->kids[0], "ttl_copied"), -1);
  assert_true(cs_json_is_null(cs_json_get(x->kids[0], "ttl_probe")));
  const cs_mb_pkt *tgt = NULL;
  assert_true(cs_mb_dns_probe_target(pk, 2, &tgt));
  assert_ptr_equal(tgt, &pk[0]);
  /* the probe: the forged reply's TTL moves with the sent TTL (64 -> 62, 96 -> 94, ...) */
  static const uint8_t copy[] = {62, 94, 126}, fixed[] = {62, 62, 62}, odd[] = {62, 70, 90};
  ttl_probe_pkts(pk + 2, copy, "blocked.example");
  x = analyze(a, pk, 8, db, &ninj);
  assert_non_null(x);
  assert_int_equal(x->len, 1); /* the probe's replies make no entries of their own */
  const cs_jval *e = x->kids[0];
  assert_int_equal(ninj, 1);
  assert_int_equal(tri(e, "ttl_copied"), 1);
  assert_int_equal(tri(e, "injected"), 1);
  assert_string_equal(cs_json_get_str(e, "family", "(null)"), "tsg-gfw2-dns");
  assert_true(has_reason(e, "follows the sent ttl (64>62 96>94 128>126)"));
  assert_true(cs_json_is_null(cs_json_get(e, "hops_from_probe")));
  const cs_jval *tp = cs_json_get_arr(e, "ttl_probe");
  assert_non_null(tp);
  assert_int_equal(tp->len, 3);
  assert_int_equal((int)cs_json_get_num(tp->kids[1], "sent_ttl", 0), 96);
  assert_int_equal(cs_json_get_arr(tp->kids[1], "replies")->len, 2);
  /* a fixed-TTL injector: not copied, and the entry stays as it was (null) */
  ttl_probe_pkts(pk + 2, fixed, "blocked.example");
  e = analyze(a, pk, 8, db, &ninj)->kids[0];
  assert_int_equal(tri(e, "ttl_copied"), 0);
  assert_int_equal(tri(e, "injected"), -1);
  assert_true(has_reason(e, "is 62 whatever the sent ttl"));
  /* a TTL that varies otherwise: unknown */
  ttl_probe_pkts(pk + 2, odd, "blocked.example");
  e = analyze(a, pk, 8, db, &ninj)->kids[0];
  assert_int_equal(tri(e, "ttl_copied"), -1);
  /* a probe of another name proves nothing about this entry */
  ttl_probe_pkts(pk + 2, copy, "other.example");
  e = analyze(a, pk, 8, db, &ninj)->kids[0];
  assert_int_equal(tri(e, "ttl_copied"), -1);
  assert_true(cs_json_is_null(cs_json_get(e, "ttl_probe")));
  /* the same resolver's other query (AAAA, its own flow) is not probed, but the TTL-copying
   * injector that answers for this resolver forged it too: no hop estimate there either */
  ttl_probe_pkts(pk + 2, copy, "blocked.example");
  cs_mb_pkt sib[10];
  memcpy(sib, pk, 8 * sizeof *pk);
  sib[8] = dns_pkt(0.003, 9, 0x8180, 60, false, true, "192.0.2.67");
  sib[9] = dns_pkt(0.011, 9, 0x8180, 62, true, true, "203.0.113.5");
  for (int i = 8; i < 10; i++) {
    sib[i].flow_key = 5454, sib[i].dport = 5454;
    sib[i].qname = "blocked.example", sib[i].qtype = 28;
  }
  x = analyze(a, sib, 10, db, &ninj);
  assert_non_null(x);
  assert_int_equal(x->len, 2);
  assert_int_equal(tri(x->kids[0], "ttl_copied"), 1);
  assert_int_equal(tri(x->kids[1], "ttl_copied"), -1);
  assert_int_equal(tri(x->kids[1], "injected"), 1);
  assert_true(cs_json_is_null(cs_json_get(x->kids[1], "hops_from_probe")));
  assert_true(has_reason(x->kids[1], "a ttl-copying injector answers for 198.51.100.53"));
  /* without the probed entry the same AAAA entry keeps its hop estimate */
  x = analyze(a, sib + 8, 2, db, &ninj);
  assert_true(cs_json_get_num(x->kids[0], "hops_from_probe", 0) > 0);
  /* weak evidence: no probe reply has the entry's answers and only 2 probes were answered:
   * the first replies may come from different senders, so no verdict either way */
  ttl_probe_pkts(pk + 2, copy, "blocked.example");
  for (int i = 0; i < 3; i++) pk[2 + 2 * i].answer_a[0] = v4("192.0.2.99");
  e = analyze(a, pk, 6, db, &ninj)->kids[0];
  assert_int_equal(tri(e, "ttl_copied"), -1);
  assert_true(has_reason(e, "undecided"));
  /* all three answered, TTLs following: a verdict even without matching answers */
  e = analyze(a, pk, 8, db, &ninj)->kids[0];
  assert_int_equal(tri(e, "ttl_copied"), 1);
  assert_int_equal(tri(e, "injected"), -1); /* not by answer: the entry is not upgraded */
  /* a genuine query (identical duplicates) is no probe target; nor is a query without name */
  pk[0] = pk[1];
  pk[0].t = 0.001;
  assert_false(cs_mb_dns_probe_target(pk, 2, &tgt));
  cs_mb_pkt race[] = {dns_pkt(0.002, 7, 0x8180, 64, false, true, "192.0.2.66"),
                      dns_pkt(0.010, 7, 0x8180, 62, true, true, "203.0.113.5")};
  assert_false(cs_mb_dns_probe_target(race, 2, &tgt));
  cs_arena_free(a);
  cs_mb_db_free(db);
}

static void test_fp_parser(void **st) {
  (void)st;
  char err[160];
  cs_mb_db *db = NULL;
  const char ok[] = "# c\nid x-1\nname X\nkind rst\ndf true # trailing\nflags RA\n";
  assert_int_equal(cs_mb_db_parse(&db, ok, sizeof ok - 1, err, sizeof err), 0);
  assert_int_equal(cs_mb_db_count(db), 1);
  static const char *const bad[] = {
      "kind rst\n",                        /* before id */
      "id X\nkind rst\n",                  /* bad id */
      "id x\nkind tcp\n",                  /* bad kind */
      "id x\nkind rst\nwindow maybe\n",    /* bad value */
      "id x\nkind rst\nfoo bar\n",         /* unknown key */
      "id x\nflags RA\n",                  /* no kind */
      "id x\nkind dns\ndns-flags 1ffff\n", /* out of range */
      "id x\nkind rst\nknown-seeds 1,2,3,4,5,6,7,8,9\n",
      "id x\nkind rst\nflags Q\n",
      "id x\nkind dns\nanswers-in 10.0.0.0/33\n", /* bad CIDR */
      "id x\nkind dns\nanswers-in 1.0.0.0/8,2.0.0.0/8,3.0.0.0/8,4.0.0.0/8,5.0.0.0/8,6.0.0.0/8,"
      "7.0.0.0/8,8.0.0.0/8,9.0.0.0/8\n", /* more than 8 ranges */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(cs_mb_db_parse(&db, bad[i], strlen(bad[i]), err, sizeof err), -1);
    assert_int_equal(cs_mb_db_count(db), 1); /* nothing of a bad file is kept */
  }
  char *big = malloc(2000);
  memset(big, 'a', 1999);
  big[1999] = 0;
  assert_int_equal(cs_mb_db_parse(&db, big, 1999, err, sizeof err), -1);
  free(big);
  char many[65 * 24] = ""; /* 65 definitions: more than CS_MB_MAX_FP */
  for (int i = 0; i < 65; i++) {
    size_t used = strlen(many);
    snprintf(many + used, sizeof many - used, "id y%d\nkind fin\n", i);
  }
  assert_int_equal(cs_mb_db_parse(&db, many, strlen(many), err, sizeof err), -1);
  assert_non_null(strstr(err, "more than"));
  cs_mb_db_free(db);
}

/* ---- capture against a real loopback server ------------------------------------------------ */

typedef struct {
  char *json;
} one_meas;

static void on_done(void *arg, const cs_meas *m) {
  one_meas *o = arg;
  o->json = strndup(m->json, m->len);
}

static char *measure(const char *url) {
  char err[128];
  cs_probe_cfg cfg = {
      .resolver = "system", .software_version = "test", .tcp_timeout = 2, .http_timeout = 2};
  cfg.tls = cs_tls_ctx_new(NULL, true, err, sizeof err);
  assert_non_null(cfg.tls);
  cs_loop *l = cs_loop_new();
  one_meas o = {0};
  assert_int_equal(cs_urlgetter_start(l, &cfg, url, on_done, &o), 0);
  assert_int_equal(cs_loop_run(l), 0);
  cs_loop_free(l);
  cs_tls_ctx_free(cfg.tls);
  assert_non_null(o.json);
  return o.json;
}

static void test_capture_loopback(void **st) {
  (void)st;
  tsrv_cfg sc = {.mode = TSRV_RST};
  tsrv *srv = tsrv_start(&sc);
  assert_non_null(srv);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(srv));
  char *js = measure(url);
  cs_arena *a = cs_arena_new(0);
  char err[128];
  const cs_jval *v = cs_json_parse(a, js, strlen(js), NULL, err, sizeof err);
  assert_non_null(v);
  const cs_jval *tk = cs_json_get(v, "test_keys");
  const char *status = cs_json_get_str(tk, "x_packets_status", "");
  if (!strcmp(status, "ok")) {
    const cs_jval *pk = cs_json_get_arr(tk, "x_packets");
    assert_non_null(pk);
    bool sa = false, rst = false;
    for (size_t i = 0; i < pk->len; i++) {
      const char *f = cs_json_get_str(pk->kids[i], "flags", "");
      assert_int_equal(cs_json_get_int(pk->kids[i], "conn_id", -1), 1);
      assert_string_equal(cs_json_get_str(pk->kids[i], "src", ""), "127.0.0.1");
      sa |= !strcmp(f, "SA");
      rst |= strchr(f, 'R') != NULL;
    }
    assert_true(sa && rst);
    /* the server's own reset: genuine, so nothing to report */
    assert_true(cs_json_is_null(cs_json_get(tk, "x_middlebox")));
  } else {
    assert_string_equal(status, "no_privilege"); /* an unprivileged CI */
  }
  cs_arena_free(a);
  free(js);

  /* without CAP_NET_RAW (dropped in a child): the measurement runs and says so */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0) _exit(2);
    d[0].effective &= ~(1u << CAP_NET_RAW), d[0].permitted &= ~(1u << CAP_NET_RAW);
    d[0].inheritable &= ~(1u << CAP_NET_RAW);
    if (syscall(SYS_capset, &h, d) < 0) _exit(3);
    char *j = measure(url);
    int ok = strstr(j, "\"x_packets_status\":\"no_privilege\"") &&
             strstr(j, "\"x_packets_note\":\"no CAP_NET_RAW") && strstr(j, "\"tcp_connect\"");
    free(j);
    _exit(ok ? 0 : 1);
  }
  int wst = 0;
  assert_int_equal(waitpid(pid, &wst, 0), pid);
  assert_true(WIFEXITED(wst));
  assert_int_equal(WEXITSTATUS(wst), 0);
  tsrv_stop(srv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_tcp),        cmocka_unit_test(test_parse_dns_icmp),
      cmocka_unit_test(test_seed_solver),      cmocka_unit_test(test_genuine_and_injected),
      cmocka_unit_test(test_signature_mode),   cmocka_unit_test(test_dns_injection),
      cmocka_unit_test(test_dns_ttl_copy),     cmocka_unit_test(test_fp_parser),
      cmocka_unit_test(test_capture_loopback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
