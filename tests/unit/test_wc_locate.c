/* test_wc_locate.c - web_connectivity's --locate step: what it replays for each blocking method
 * (src/nettests/wc_locate.c: the plan from a measurement's records, the resolv.conf and
 * address parsers) and the trace module it runs (src/nettests/locate_trace.c) through its own
 * API against a loopback TLS server. The hop itself needs routers: tests/net/
 * forensics_wclocate.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nettests/wc_locate.h"
#include "tcp_servers.h"

static void test_resolv_conf(void **st) {
  (void)st;
  cs_ip ip;
  char s[CS_IPSTR_MAX];
  static const char a[] = "# comment\nsearch lab.test\n  nameserver\t2001:db8::53\n"
                          "nameserver 198.18.1.53 # isp\nnameserver 198.18.3.53\n";
  assert_int_equal(cs_wc_locate_resolv_conf(a, sizeof a - 1, &ip), 1);
  cs_ip_format(&ip, s);
  assert_string_equal(s, "198.18.1.53");
  static const char b[] = "nameserver198.18.1.53\nnameservers 1.2.3.4\nnameserver 300.1.1.1\n"
                          "nameserver \nnameserver";
  assert_int_equal(cs_wc_locate_resolv_conf(b, sizeof b - 1, &ip), 0);
  assert_int_equal(cs_wc_locate_resolv_conf("", 0, &ip), 0);
  /* bounded by len, not by a terminator */
  static const char c[] = "nameserver 198.18.1.53";
  assert_int_equal(cs_wc_locate_resolv_conf(c, 14, &ip), 0);
  assert_int_equal(cs_wc_locate_resolv_conf(c, sizeof c - 1, &ip), 1);
  static const char d[] = "nameserver 198.18.1.53\r\n";
  assert_int_equal(cs_wc_locate_resolv_conf(d, sizeof d - 1, &ip), 1);
}

static void test_addr(void **st) {
  (void)st;
  cs_ip ip;
  uint16_t port = 0;
  assert_int_equal(cs_wc_locate_addr("198.18.70.202:443", &ip, &port), 0);
  assert_int_equal(port, 443);
  assert_int_equal(cs_wc_locate_addr("[2001:db8::1]:443", &ip, &port), -1);
  assert_int_equal(cs_wc_locate_addr("2001:db8::1", &ip, &port), -1);
  assert_int_equal(cs_wc_locate_addr("198.18.70.202", &ip, &port), -1);
  assert_int_equal(cs_wc_locate_addr("198.18.70.202:0", &ip, &port), -1);
  assert_int_equal(cs_wc_locate_addr("198.18.70.202:70000", &ip, &port), -1);
  assert_int_equal(cs_wc_locate_addr("a.b:80", &ip, &port), -1);
  assert_int_equal(cs_wc_locate_addr(NULL, &ip, &port), -1);
}

static const char *ipstr(const cs_ip *ip) {
  static char s[CS_IPSTR_MAX];
  cs_ip_format(ip, s);
  return s;
}

static void test_plan(void **st) {
  (void)st;
  cs_trace *t = cs_trace_new(0, 0);
  assert_non_null(t);
  cs_url u;
  char err[64];
  assert_int_equal(cs_url_parse(t->a, "https://blocked.example/x", &u, err, sizeof err), 0);
  cs_locate_opts o;
  const char *why;

  /* tcp_ip: nothing to replay, and why */
  assert_int_equal(cs_wc_locate_plan(t, &u, "tcp_ip", NULL, &o, &why), 0);
  assert_non_null(strstr(why, "no payload trigger"));
  assert_int_equal(cs_wc_locate_plan(t, &u, "accessible", NULL, &o, &why), 0);
  /* tls without a handshake record: nothing */
  assert_int_equal(cs_wc_locate_plan(t, &u, "tls", NULL, &o, &why), 0);

  /* tls: the failed handshake's SNI and address, bounded */
  cs_tls_rec *ok = cs_trace_add_tls(t), *bad = cs_trace_add_tls(t);
  assert_true(ok && bad);
  ok->server_name = "blocked.example", ok->address = "198.18.70.9:443";
  bad->server_name = "blocked.example", bad->address = "198.18.70.202:8443";
  bad->failure = "connection_reset";
  assert_int_equal(cs_wc_locate_plan(t, &u, "tls", NULL, &o, &why), 1);
  assert_int_equal(o.trig, CS_LOCATE_TLS);
  assert_string_equal(o.name, "blocked.example");
  assert_string_equal(ipstr(&o.dst), "198.18.70.202");
  assert_int_equal(o.port, 8443);
  assert_string_equal(o.control, "example.com");
  assert_true(o.max_ttl == CS_WC_LOCATE_MAX_TTL && o.repeats == CS_WC_LOCATE_RUNS);
  assert_true(o.max_time == CS_WC_LOCATE_MAX_TIME && o.timeout == CS_WC_LOCATE_PROBE_TIMEOUT);
  /* http_failure on an https URL: the ClientHello too */
  assert_int_equal(cs_wc_locate_plan(t, &u, "http_failure", NULL, &o, &why), 1);
  assert_int_equal(o.trig, CS_LOCATE_TLS);
  /* an IPv6 handshake: said, not traced */
  bad->address = "[2001:db8::1]:443";
  assert_int_equal(cs_wc_locate_plan(t, &u, "tls", NULL, &o, &why), 0);
  assert_non_null(strstr(why, "IPv6"));

  /* http: the first failed request's Host and address */
  cs_url hu;
  assert_int_equal(cs_url_parse(t->a, "http://blocked.example/", &hu, err, sizeof err), 0);
  assert_int_equal(cs_wc_locate_plan(t, &hu, "blockpage", NULL, &o, &why), 0); /* no request */
  cs_http_rec *r1 = cs_trace_add_http(t), *r2 = cs_trace_add_http(t);
  assert_true(r1 && r2);
  r1->url = "http://blocked.example/", r1->address = "198.18.70.202:80";
  r2->url = "http://other.example/", r2->address = "198.18.70.203:80";
  r2->failure = "connection_reset";
  assert_int_equal(cs_wc_locate_plan(t, &hu, "http_failure", NULL, &o, &why), 1);
  assert_int_equal(o.trig, CS_LOCATE_HTTP);
  assert_string_equal(o.name, "other.example");
  assert_string_equal(ipstr(&o.dst), "198.18.70.203");
  assert_int_equal(o.port, 80);
  r2->failure = NULL; /* a blockpage: the first request */
  assert_int_equal(cs_wc_locate_plan(t, &hu, "blockpage", NULL, &o, &why), 1);
  assert_string_equal(o.name, "blocked.example");
  assert_string_equal(ipstr(&o.dst), "198.18.70.202");

  /* dns: the resolver the lookup used */
  assert_int_equal(cs_wc_locate_plan(t, &u, "dns", "/nonexistent/resolv.conf", &o, &why), 0);
  assert_non_null(strstr(why, "no IPv4 nameserver"));
  char path[] = "/tmp/test_wc_locate_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  static const char rc[] = "nameserver 198.18.1.53\n";
  assert_int_equal(write(fd, rc, sizeof rc - 1), (ssize_t)(sizeof rc - 1));
  close(fd);
  assert_int_equal(cs_wc_locate_plan(t, &u, "dns", path, &o, &why), 1);
  assert_int_equal(o.trig, CS_LOCATE_DNS);
  assert_string_equal(o.name, "blocked.example");
  assert_string_equal(ipstr(&o.dst), "198.18.1.53");
  assert_int_equal(o.port, 53);
  cs_query_rec *q = cs_trace_add_query(t);
  assert_non_null(q);
  q->engine = "udp", q->hostname = "blocked.example", q->resolver_address = "198.18.3.53:5353";
  assert_int_equal(cs_wc_locate_plan(t, &u, "dns", path, &o, &why), 1);
  assert_string_equal(ipstr(&o.dst), "198.18.3.53");
  assert_int_equal(o.port, 5353);
  q->resolver_address = "127.0.0.53:53"; /* a local stub: its queries' path is not ours */
  assert_int_equal(cs_wc_locate_plan(t, &u, "dns", path, &o, &why), 0);
  assert_non_null(strstr(why, "loopback"));
  q->engine = "doh";
  assert_int_equal(cs_wc_locate_plan(t, &u, "dns", path, &o, &why), 0);
  assert_non_null(strstr(why, "HTTPS"));
  unlink(path);
  cs_trace_free(t);
}

/* The trace module through its API: a loopback TLS server answers every TTL. */
typedef struct {
  int calls;
  char json[8192];
} done_ctx;

static void on_done(void *arg, cs_locate *lc) {
  done_ctx *d = arg;
  d->calls++;
  cs_buf b;
  cs_buf_init(&b, sizeof d->json - 1);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_locate_write(lc, &w);
  assert_false(b.overflow);
  memcpy(d->json, b.data, b.len);
  d->json[b.len] = 0;
  cs_buf_free(&b);
}

static void test_trace_api(void **st) {
  (void)st;
  static const uint8_t hello[] = "\x16\x03\x03\x00\x02hi";
  tsrv_cfg cfg = {
      .mode = TSRV_RESPOND, .resp = hello, .resp_len = sizeof hello - 1, .no_wait_head = true};
  tsrv *srv = tsrv_start(&cfg);
  assert_non_null(srv);
  cs_loop *l = cs_loop_new();
  cs_arena *a = cs_arena_new(0);
  assert_true(l && a);
  cs_locate_opts o = {.trig = CS_LOCATE_TLS,
                      .name = "blocked.example",
                      .control = "example.com",
                      .port = tsrv_port(srv),
                      .max_ttl = 3,
                      .repeats = 2,
                      .timeout = 1,
                      .interval = 0,
                      .max_time = 10};
  assert_true(cs_ip_parse("127.0.0.1", &o.dst));
  done_ctx d = {0};
  const char *err = NULL;
  cs_locate *lc = cs_locate_start(l, a, &o, on_done, &d, &err);
  assert_non_null(lc);
  assert_null(err);
  assert_int_equal(d.calls, 0); /* never from inside start */
  cs_loop_run(l);
  assert_int_equal(d.calls, 1);
  cs_jval *x = cs_json_parse(a, d.json, strlen(d.json), NULL, NULL, 0);
  assert_non_null(x);
  assert_int_equal(cs_json_get_int(x, "control_ttl", 0), 1);
  assert_true(cs_json_is_null(cs_json_get(x, "hop")));
  assert_int_equal(cs_json_get_int(x, "runs", 0), 1);
  assert_non_null(strstr(cs_json_get_str(x, "flow", ""), "tcp 127.0.0.1:"));
  const char *req = tsrv_last_request(srv, &(size_t){0});
  assert_non_null(req);
  cs_locate_free(lc);

  /* an IPv6 target is refused with why; freeing a running step stops it (no callback) */
  cs_locate_opts o6 = o;
  assert_true(cs_ip_parse("::1", &o6.dst));
  assert_null(cs_locate_start(l, a, &o6, on_done, &d, &err));
  assert_non_null(strstr(err, "IPv6"));
  lc = cs_locate_start(l, a, &o, on_done, &d, &err);
  assert_non_null(lc);
  cs_locate_free(lc);
  cs_loop_run(l);
  assert_int_equal(d.calls, 1);
  assert_string_equal(cs_locate_trig_str(CS_LOCATE_DNS), "dns");
  cs_arena_free(a);
  cs_loop_free(l);
  tsrv_stop(srv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resolv_conf),
      cmocka_unit_test(test_addr),
      cmocka_unit_test(test_plan),
      cmocka_unit_test(test_trace_api),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
