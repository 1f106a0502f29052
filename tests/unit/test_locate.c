/* test_locate.c - `censorscope locate` (src/nettests/locate.c) against loopback servers, driven
 * through its registry entry as the generic command drives it, and the ICMP error parser
 * (src/engine/icmp.c) on crafted packets. On loopback every TTL reaches the server, so the
 * traces end at TTL 1: a TLS server that answers (accessible, the ClientHello carried the
 * SNI), one that resets every connection (the control fails: nothing to compare), DNS
 * replies (the answer and its IP TTL; a forged reply and the real one 100 ms later both
 * counted), a silent resolver (three silent TTLs end the trace), bad inputs and options; and
 * analyze() on test keys for every outcome. The hop finding itself needs routers: it is
 * proven in the testbed (tests/net/forensics_locate.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_mock.h"
#include "engine/icmp.h"
#include "nettests/registry.h"
#include "tcp_servers.h"

static const cs_nettest *NT;

typedef struct {
  int calls;
  char *json;
  size_t len;
  char key[64];
  bool censorship;
  cs_arena *a;
  cs_jval *m;
  const cs_jval *tk, *x;
} meas;

static void on_meas(void *arg, const cs_meas *m) {
  meas *x = arg;
  x->calls++;
  x->json = malloc(m->len + 1);
  assert_non_null(x->json);
  memcpy(x->json, m->json, m->len);
  x->json[m->len] = 0;
  x->len = m->len;
  assert_non_null(m->outcome);
  snprintf(x->key, sizeof x->key, "%s", m->outcome->key);
  x->censorship = m->outcome->censorship;
}

static int set_opt(void *s, const char *name, const char *val) {
  char err[128];
  for (size_t i = 0; i < NT->nopts; i++)
    if (!strcmp(NT->opts[i].name, name)) return NT->opts[i].set(s, val, err, sizeof err);
  fail_msg("no option %s", name);
  return -1;
}

/* Runs one measurement; opts: name, value pairs, then NULL. */
static void run(const char *input, meas *x, const char *const *opts) {
  memset(x, 0, sizeof *x);
  void *s = NT->create();
  assert_non_null(s);
  for (size_t i = 0; opts[i]; i += 2) assert_int_equal(set_opt(s, opts[i], opts[i + 1]), 0);
  assert_int_equal(set_opt(s, "max-ttl", "3"), 0);
  assert_int_equal(set_opt(s, "interval", "0"), 0);
  cs_probe_cfg probe = {
      .tcp_timeout = 2, .probe_cc = "ZZ", .probe_asn = "AS0", .software_version = "test"};
  char err[128];
  assert_int_equal(NT->prepare(s, &probe, err, sizeof err), 0);
  cs_loop *l = cs_loop_new();
  assert_non_null(l);
  cs_nettest_input in = {.input = input};
  assert_int_equal(NT->start(l, s, &probe, &in, on_meas, x), 0);
  assert_int_equal(x->calls, 0);
  cs_loop_run(l);
  cs_loop_free(l);
  NT->destroy(s);
  assert_int_equal(x->calls, 1);
  x->a = cs_arena_new(0);
  x->m = cs_json_parse(x->a, x->json, x->len, NULL, err, sizeof err);
  assert_non_null(x->m);
  assert_string_equal(cs_json_get_str(x->m, "test_name", ""), "locate");
  x->tk = cs_json_get(x->m, "test_keys");
  assert_non_null(x->tk);
  x->x = cs_json_get_obj(x->tk, "x_locate");
  /* analyze() on the stored JSON: the same outcome */
  cs_outcome again;
  cs_analysis_opts opt = {0};
  assert_int_equal(NT->analyze(x->a, x->m, &opt, NULL, &again), 0);
  assert_string_equal(again.key, x->key);
  assert_int_equal(again.censorship, x->censorship);
}

static void meas_free(meas *x) {
  cs_arena_free(x->a);
  free(x->json);
}

static const cs_jval *hop_at(const meas *x, const char *path, size_t i) {
  const cs_jval *p = cs_json_get_arr(x->x, path);
  assert_non_null(p);
  assert_true(i < p->len);
  return p->kids[i];
}

static void test_tls_answer(void **st) {
  (void)st;
  static const uint8_t hello[] = "\x16\x03\x03\x00\x02hi";
  tsrv_cfg cfg = {
      .mode = TSRV_RESPOND, .resp = hello, .resp_len = sizeof hello - 1, .no_wait_head = true};
  tsrv *srv = tsrv_start(&cfg);
  assert_non_null(srv);
  char in[64];
  snprintf(in, sizeof in, "127.0.0.1:%u", tsrv_port(srv));
  meas x;
  run(in, &x, (const char *const[]){"sni", "blocked.example", NULL});
  assert_string_equal(x.key, "accessible");
  assert_false(x.censorship);
  assert_string_equal(cs_json_get_str(x.tk, "trigger", ""), "tls");
  assert_string_equal(cs_json_get_str(x.tk, "target", ""), "blocked.example");
  assert_string_equal(cs_json_get_str(x.tk, "control", ""), "example.com");
  assert_non_null(x.x);
  assert_int_equal(cs_json_get_int(x.x, "control_ttl", 0), 1);
  assert_int_equal(cs_json_get_int(x.x, "target_ttl", 0), 1);
  assert_true(cs_json_is_null(cs_json_get(x.x, "hop")));
  assert_int_equal(cs_json_get_int(x.x, "runs", 0), 1); /* no interference: no repeat */
  assert_string_equal(cs_json_get_str(hop_at(&x, "path", 0), "result", ""), "answer");
  assert_non_null(strstr(cs_json_get_str(x.x, "flow", ""), "tcp 127.0.0.1:"));
  /* the last connection carried the target's ClientHello with its SNI */
  size_t n;
  const char *req = tsrv_last_request(srv, &n);
  assert_true(n > 40 && (uint8_t)req[0] == 0x16);
  assert_non_null(memmem(req, n, "blocked.example", 15));
  assert_true(tsrv_connections(srv) >= 2);
  meas_free(&x);
  tsrv_stop(srv);
}

static void test_http_reset_control_fails(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_RST};
  tsrv *srv = tsrv_start(&cfg);
  assert_non_null(srv);
  char in[64];
  snprintf(in, sizeof in, "127.0.0.1:%u", tsrv_port(srv));
  meas x;
  run(in, &x, (const char *const[]){"host", "blocked.example", NULL});
  assert_string_equal(x.key, "control_failed");
  assert_string_equal(cs_json_get_str(x.tk, "trigger", ""), "http");
  assert_true(cs_json_is_null(cs_json_get(x.x, "control_ttl")));
  const cs_jval *h = hop_at(&x, "control_path", 0);
  assert_string_equal(cs_json_get_str(h, "result", ""), "reset");
  assert_string_equal(cs_json_get_str(h, "failure", ""), "connection_reset");
  meas_free(&x);
  tsrv_stop(srv);
  /* an HTTP server that answers: the request carried the target's Host */
  static const uint8_t ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  tsrv_cfg c2 = {.mode = TSRV_RESPOND, .resp = ok, .resp_len = sizeof ok - 1};
  srv = tsrv_start(&c2);
  assert_non_null(srv);
  snprintf(in, sizeof in, "127.0.0.1:%u", tsrv_port(srv));
  run(in, &x, (const char *const[]){"host", "blocked.example", NULL});
  assert_string_equal(x.key, "accessible");
  size_t n;
  const char *req = tsrv_last_request(srv, &n);
  assert_non_null(req);
  assert_non_null(strstr(req, "Host: blocked.example\r\n"));
  meas_free(&x);
  tsrv_stop(srv);
}

static void test_dns(void **st) {
  (void)st;
  cs_dns_mock *d = cs_dns_mock_start(CS_DNS_MOCK_INJECT);
  assert_non_null(d);
  char in[64];
  snprintf(in, sizeof in, "127.0.0.1:%u", cs_dns_mock_port(d));
  meas x;
  run(in, &x, (const char *const[]){"dns", "blocked.example", NULL});
  assert_string_equal(x.key, "accessible");
  assert_string_equal(cs_json_get_str(x.x, "method", ""), "ip_recverr");
  const cs_jval *h = hop_at(&x, "path", 0);
  assert_string_equal(cs_json_get_str(h, "result", ""), "answer");
  assert_int_equal(cs_json_get_int(h, "replies", 0), 2);    /* forged, then the real one */
  assert_int_equal(cs_json_get_int(h, "reply_ttl", 0), 64); /* the server's own TTL */
  meas_free(&x);
  cs_dns_mock_stop(d);
}

static void test_dns_silent(void **st) {
  (void)st;
  cs_dns_mock *d = cs_dns_mock_start(CS_DNS_MOCK_SILENT);
  assert_non_null(d);
  char in[64];
  snprintf(in, sizeof in, "127.0.0.1:%u", cs_dns_mock_port(d));
  meas x;
  run(in, &x, (const char *const[]){"dns", "blocked.example", "probe-timeout", "0.1", NULL});
  assert_string_equal(x.key, "control_failed");
  const cs_jval *p = cs_json_get_arr(x.x, "control_path");
  assert_int_equal(p->len, 3); /* three silent TTLs end a trace */
  assert_string_equal(cs_json_get_str(p->kids[2], "result", ""), "timeout");
  assert_string_equal(cs_json_get_str(p->kids[2], "failure", ""), "generic_timeout_error");
  meas_free(&x);
  cs_dns_mock_stop(d);
}

static void test_bad_input(void **st) {
  (void)st;
  static const char *const bad[] = {"not-an-ip", "::1", "127.0.0.1:0", "127.0.0.1:x", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    meas x;
    run(bad[i], &x, (const char *const[]){"sni", "a.example", NULL});
    assert_string_equal(x.key, "undetermined");
    assert_non_null(cs_json_get_str(x.tk, "x_input_error", NULL));
    assert_true(cs_json_is_null(cs_json_get(x.tk, "x_locate")));
    meas_free(&x);
  }
}

static void test_options(void **st) {
  (void)st;
  void *s = NT->create();
  char err[128];
  cs_probe_cfg probe = {0};
  assert_int_equal(NT->prepare(s, &probe, err, sizeof err), -1); /* no trigger */
  assert_int_equal(set_opt(s, "sni", "a.example"), 0);
  assert_int_equal(set_opt(s, "dns", "b.example"), -1); /* one trigger only */
  assert_int_equal(set_opt(s, "control", "with space"), -1);
  assert_int_equal(set_opt(s, "max-ttl", "65"), -1);
  assert_int_equal(set_opt(s, "repeats", "0"), -1);
  assert_int_equal(set_opt(s, "probe-timeout", "0"), -1);
  assert_int_equal(NT->prepare(s, &probe, err, sizeof err), 0);
  NT->destroy(s);
}

/* analyze() maps x_locate to the outcome, whoever wrote it. */
static void analyze_json(const char *tk, const char *want, bool censorship) {
  cs_arena *a = cs_arena_new(0);
  char err[128];
  cs_jval *v = cs_json_parse(a, tk, strlen(tk), NULL, err, sizeof err);
  assert_non_null(v);
  cs_outcome o;
  cs_analysis_opts opt = {0};
  assert_int_equal(NT->analyze(a, v, &opt, NULL, &o), 0);
  assert_string_equal(o.key, want);
  assert_int_equal(o.censorship, censorship);
  cs_arena_free(a);
}

static void test_analyze(void **st) {
  (void)st;
  analyze_json("{\"test_keys\":{\"x_locate\":{\"hop\":3,\"router\":\"198.18.70.10\","
               "\"control_ttl\":5,\"placement\":\"in-path\",\"interference\":true,\"runs\":2,"
               "\"agreeing_runs\":2}}}",
               "located", true);
  analyze_json("{\"test_keys\":{\"x_locate\":{\"hop\":3,\"control_ttl\":5,\"interference\":true,"
               "\"runs\":2,\"agreeing_runs\":1}}}",
               "unlocated", true);
  analyze_json("{\"test_keys\":{\"x_locate\":{\"hop\":5,\"control_ttl\":5,\"interference\":true,"
               "\"placement\":\"endpoint\",\"runs\":2,\"agreeing_runs\":2}}}",
               "endpoint", false);
  analyze_json("{\"test_keys\":{\"x_locate\":{\"hop\":null,\"control_ttl\":null}}}",
               "control_failed", false);
  analyze_json("{\"test_keys\":{\"x_locate\":{\"hop\":null,\"control_ttl\":5,"
               "\"interference\":false}}}",
               "accessible", false);
  cs_arena *a = cs_arena_new(0);
  cs_jval *v = cs_json_parse(a, "{\"test_keys\":{}}", 16, NULL, NULL, 0);
  cs_outcome o;
  cs_analysis_opts opt = {0};
  assert_int_equal(NT->analyze(a, v, &opt, NULL, &o), -1);
  cs_arena_free(a);
}

/* ---- the ICMP error parser -------------------------------------------------------------- */

static size_t mk_icmp(uint8_t *p, uint8_t type, uint8_t qproto, size_t qtail) {
  memset(p, 0, 128);
  p[0] = 0x45, p[8] = 61, p[9] = 1;
  p[4] = 0x12, p[5] = 0x34;
  memcpy(p + 12, "\xc6\x12\x46\x0a", 4); /* 198.18.70.10 */
  memcpy(p + 16, "\xc6\x12\x01\x02", 4);
  uint8_t *ic = p + 20;
  ic[0] = type;
  uint8_t *q = ic + 8;
  q[0] = 0x45, q[8] = 1, q[9] = qproto;
  memcpy(q + 12, "\xc6\x12\x01\x02", 4);
  memcpy(q + 16, "\xc6\x12\x46\xc8", 4); /* 198.18.70.200 */
  uint8_t *t = q + 20;
  t[0] = 0xc3, t[1] = 0x50, t[2] = 0x01, t[3] = 0xbb; /* 50000 -> 443 */
  t[4] = 0xde, t[5] = 0xad, t[6] = 0xbe, t[7] = 0xef;
  size_t n = 20 + 8 + 20 + 8 + qtail;
  p[2] = (uint8_t)(n >> 8), p[3] = (uint8_t)n;
  return n;
}

static void test_icmp_parse(void **st) {
  (void)st;
  uint8_t p[128];
  cs_icmp_err e;
  size_t n = mk_icmp(p, 11, 6, 0);
  assert_int_equal(cs_icmp_parse(p, n, &e), 0);
  char s[CS_IPSTR_MAX];
  cs_ip_format(&e.from, s);
  assert_string_equal(s, "198.18.70.10");
  cs_ip_format(&e.qdst, s);
  assert_string_equal(s, "198.18.70.200");
  assert_int_equal(e.type, 11);
  assert_int_equal(e.ttl, 61);
  assert_int_equal(e.ip_id, 0x1234);
  assert_int_equal(e.qsport, 50000);
  assert_int_equal(e.qdport, 443);
  assert_true(e.has_seq);
  assert_int_equal(e.qseq, 0xdeadbeefu);
  assert_int_equal(e.qttl, 1);
  /* UDP with a payload (a DNS ID) */
  n = mk_icmp(p, 3, 17, 4);
  assert_int_equal(cs_icmp_parse(p, n, &e), 0);
  assert_false(e.has_seq);
  assert_int_equal(e.qpayload_len, 4);
  /* not an error message; truncated quote; bad version; length beyond the buffer */
  n = mk_icmp(p, 0, 6, 0);
  assert_int_equal(cs_icmp_parse(p, n, &e), -1);
  n = mk_icmp(p, 11, 6, 0);
  assert_int_equal(cs_icmp_parse(p, n - 1, &e), -1);
  p[0] = 0x65;
  assert_int_equal(cs_icmp_parse(p, n, &e), -1);
  n = mk_icmp(p, 11, 6, 0);
  p[28] = 0x4f; /* quoted IHL 60 > what is there */
  assert_int_equal(cs_icmp_parse(p, n, &e), -1);
  assert_int_equal(cs_icmp_parse(p, 0, &e), -1);
}

int main(void) {
  NT = cs_nettest_find("locate");
  if (!NT) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tls_answer), cmocka_unit_test(test_http_reset_control_fails),
      cmocka_unit_test(test_dns),        cmocka_unit_test(test_dns_silent),
      cmocka_unit_test(test_bad_input),  cmocka_unit_test(test_options),
      cmocka_unit_test(test_analyze),    cmocka_unit_test(test_icmp_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
