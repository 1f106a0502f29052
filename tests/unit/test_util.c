/* test_util.c - unit tests for util/: buffers, JSON writer/reader, failures, IP ranges, URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/failure.h"
#include "util/ipnet.h"
#include "util/json.h"
#include "util/url.h"

static void test_rbuf_bounds(void **st) {
  (void)st;
  const uint8_t d[] = {1, 2, 3};
  cs_rbuf r = cs_rbuf_make(d, sizeof d);
  assert_int_equal(cs_rbuf_u16be(&r), 0x0102);
  assert_false(r.err);
  assert_int_equal(cs_rbuf_u16be(&r), 0); /* only one byte left */
  assert_true(r.err);
  assert_int_equal(cs_rbuf_u8(&r), 0); /* sticky */
  assert_int_equal(cs_rbuf_left(&r), 0);
}

static void test_buf_cap(void **st) {
  (void)st;
  cs_buf b;
  cs_buf_init(&b, 8);
  assert_int_equal(cs_buf_puts(&b, "12345678"), 0);
  assert_int_equal(cs_buf_putc(&b, 'x'), -1);
  assert_true(b.overflow);
  assert_int_equal(b.len, 8);
  cs_buf_consume(&b, 3);
  assert_string_equal(cs_buf_cstr(&b), "45678");
  cs_buf_free(&b);
}

/* Doubling stops at the cap (+1 for the NUL of cs_buf_cstr): a buffer capped at 1000 bytes
 * never holds 1024 (curl's dynbuf does the same). */
static void test_buf_grow_clamped(void **st) {
  (void)st;
  cs_buf b;
  cs_buf_init(&b, 1000);
  char chunk[400];
  memset(chunk, 'a', sizeof chunk);
  assert_int_equal(cs_buf_append(&b, chunk, 300), 0);
  assert_int_equal(b.cap, 512);
  assert_int_equal(cs_buf_append(&b, chunk, 400), 0); /* needs 701: 1024 clamped to 1001 */
  assert_int_equal(b.cap, 1001);
  assert_int_equal(cs_buf_append(&b, chunk, 300), 0); /* exactly max */
  assert_int_equal(b.len, 1000);
  assert_int_equal(b.cap, 1001);
  assert_non_null(cs_buf_cstr(&b));
  assert_int_equal(cs_buf_putc(&b, 'x'), -1);
  assert_true(b.overflow);
  cs_buf_free(&b);
  /* reserve_exact is never clamped below what was asked, and never over max either */
  cs_buf_init(&b, 100);
  assert_int_equal(cs_buf_reserve_exact(&b, 100), 0);
  assert_int_equal(b.cap, 101);
  assert_int_equal(cs_buf_reserve_exact(&b, 101), -1);
  cs_buf_free(&b);
}

static void test_base64(void **st) {
  (void)st;
  static const struct {
    const char *in, *out;
  } v[] = {{"", ""},
           {"f", "Zg=="},
           {"fo", "Zm8="},
           {"foo", "Zm9v"},
           {"foob", "Zm9vYg=="},
           {"fooba", "Zm9vYmE="},
           {"foobar", "Zm9vYmFy"}}; /* RFC 4648 section 10 */
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_buf_base64(&b, v[i].in, strlen(v[i].in));
    assert_string_equal(cs_buf_cstr(&b), v[i].out);
    cs_buf_free(&b);
  }
}

static void test_json_writer(void **st) {
  (void)st;
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_jw_obj_open(&w);
  cs_jw_kstr(&w, "a", "x\"y\\\n\x01");
  cs_jw_kint(&w, "n", -5);
  cs_jw_key(&w, "arr");
  cs_jw_arr_open(&w);
  cs_jw_bool(&w, true);
  cs_jw_null(&w);
  cs_jw_double(&w, 0.5);
  cs_jw_arr_close(&w);
  cs_jw_kstr(&w, "bad",
             "\xff"
             "ok");
  cs_jw_key(&w, "bin");
  cs_jw_maybe_binary(&w, (const uint8_t *)"\xff\x00", 2);
  cs_jw_key(&w, "empty");
  cs_jw_obj_open(&w);
  cs_jw_obj_close(&w);
  cs_jw_obj_close(&w);
  assert_string_equal(cs_buf_cstr(&b),
                      "{\"a\":\"x\\\"y\\\\\\n\\u0001\",\"n\":-5,\"arr\":[true,null,0.5],"
                      "\"bad\":\"\\ufffdok\",\"bin\":{\"format\":\"base64\",\"data\":\"/wA=\"},"
                      "\"empty\":{}}");
  cs_buf_free(&b);
}

/* Typed getters shared by the TH protocol reader and the analysis: clamps, types, defaults. */
static void test_json_typed_getters(void **st) {
  (void)st;
  cs_arena *a = cs_arena_new(0);
  const char *t = "{\"n\": 42.9, \"big\": 1e300, \"neg\": -1e20, \"s\": \"7\", \"o\": {},"
                  " \"a\": [], \"mid\": 3000000000}";
  cs_jval *v = cs_json_parse(a, t, strlen(t), NULL, NULL, 0);
  assert_non_null(v);
  int64_t i = -7;
  assert_true(cs_json_get_i64(v, "n", &i));
  assert_int_equal(i, 42); /* truncated */
  assert_true(cs_json_get_i64(v, "big", &i));
  assert_true(i == (int64_t)9.0e15); /* clamped, not undefined */
  assert_true(cs_json_get_i64(v, "neg", &i));
  assert_true(i == -(int64_t)9.0e15);
  i = -7;
  assert_false(cs_json_get_i64(v, "s", &i)); /* a string is not a number */
  assert_false(cs_json_get_i64(v, "absent", &i));
  assert_int_equal(i, -7);
  assert_int_equal(cs_json_get_int(v, "mid", 0), 1000000000);
  assert_int_equal(cs_json_get_int(v, "neg", 0), -1000000000);
  assert_int_equal(cs_json_get_int(v, "s", 5), 5);
  assert_non_null(cs_json_get_obj(v, "o"));
  assert_null(cs_json_get_obj(v, "a"));
  assert_non_null(cs_json_get_arr(v, "a"));
  assert_null(cs_json_get_arr(v, "o"));
  assert_null(cs_json_get_obj(NULL, "o"));
  cs_arena_free(a);
}

static void test_json_reader(void **st) {
  (void)st;
  cs_arena *a = cs_arena_new(0);
  char err[128];
  const char *t = " {\"a\": [1, 2.5e1, -0.5], \"s\": \"h\\u00e9\\ud83d\\ude00\\n\", \"t\": true,"
                  " \"z\": null, \"o\": {}} ";
  cs_jval *v = cs_json_parse(a, t, strlen(t), NULL, err, sizeof err);
  assert_non_null(v);
  const cs_jval *arr = cs_json_get(v, "a");
  assert_int_equal(arr->len, 3);
  assert_true(arr->kids[1]->num == 25.0);
  assert_string_equal(cs_json_get_str(v, "s", NULL), "h\xc3\xa9\xf0\x9f\x98\x80\n");
  assert_int_equal(cs_json_get_bool(v, "t", -1), 1);
  assert_true(cs_json_is_null(cs_json_get(v, "z")));
  assert_true(cs_json_is_null(cs_json_get(v, "missing")));
  static const char *bad[] = {"",        "{",   "[1,]",  "{\"a\"}",   "01", "1.",
                              "\"\\x\"", "tru", "[1] x", "\"a\x01\"", "-",  "{\"a\":1,}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_null(cs_json_parse(a, bad[i], strlen(bad[i]), NULL, err, sizeof err));
    assert_true(strlen(err) > 0);
  }
  /* escapes between long runs are decoded in place; embedded NULs keep their length */
  const char *es = "\"<p class=\\\"x\\\">caf\\u00e9\\n</p>\\u0000\\/ok\"";
  cs_jval *sv = cs_json_parse(a, es, strlen(es), NULL, err, sizeof err);
  assert_non_null(sv);
  assert_int_equal(sv->type, CS_JSTR);
  assert_int_equal(sv->len, 27);
  assert_memory_equal(sv->str, "<p class=\"x\">caf\xc3\xa9\n</p>\0/ok", 28);
  /* where an error is, precisely */
  static const struct {
    const char *in, *msg;
  } where[] = {{"\"ab\\q\"", "bad escape"},         {"\"ab\\u12\"", "bad \\u escape"},
               {"\"ab\\u12g4\"", "bad \\u escape"}, {"\"abc", "unterminated string"},
               {"\"ab\\\"", "unterminated string"}, {"\"a\tb\"", "control character"}};
  for (size_t i = 0; i < sizeof where / sizeof *where; i++) {
    assert_null(cs_json_parse(a, where[i].in, strlen(where[i].in), NULL, err, sizeof err));
    if (!strstr(err, where[i].msg))
      fail_msg("%s: got '%s', want '%s'", where[i].in, err, where[i].msg);
  }
  /* depth limit */
  char deep[200];
  memset(deep, '[', 100);
  memset(deep + 100, ']', 100);
  assert_null(cs_json_parse(a, deep, 200, NULL, err, sizeof err));
  assert_non_null(strstr(err, "deep"));
  cs_arena_free(a);
}

static void test_failures(void **st) {
  (void)st;
  assert_string_equal(cs_failure_str(cs_failure_from_errno(ECONNREFUSED)), "connection_refused");
  assert_string_equal(cs_failure_str(cs_failure_from_errno(ECONNRESET)), "connection_reset");
  assert_string_equal(cs_failure_str(cs_failure_from_errno(EHOSTUNREACH)), "host_unreachable");
  assert_string_equal(cs_failure_str(cs_failure_from_errno(ENETUNREACH)), "network_unreachable");
  assert_null(cs_failure_str(CS_FAIL_NONE));
  assert_string_equal(cs_failure_str(cs_failure_from_gai(EAI_NONAME, 0)), "dns_nxdomain_error");
  assert_string_equal(cs_failure_str(cs_failure_from_gai(EAI_NODATA, 0)), "dns_no_answer");
  assert_string_equal(cs_failure_str(cs_failure_from_gai(EAI_AGAIN, 0)), "dns_server_misbehaving");
  char out[128];
  cs_failure_unknown(out, sizeof out, "dial 198.51.100.7:443 and [2001:db8::1]:80 failed");
  assert_null(strstr(out, "198.51"));
  assert_null(strstr(out, "2001:db8"));
  assert_int_equal(strncmp(out, "unknown_failure: dial ", 22), 0);
  /* failure.h: addresses become 'x's of the same length, whatever the room (cap unused) */
  assert_string_equal(out, "unknown_failure: dial xxxxxxxxxxxx:443 and [xxxxxxxxxxx]:80 failed");
  char s[64] = "peer 192.0.2.1 reset";
  cs_scrub_addresses(s, sizeof s);
  assert_string_equal(s, "peer xxxxxxxxx reset");
  char t[] = "from ::ffff:192.0.2.1 x";
  cs_scrub_addresses(t, sizeof t);
  assert_string_equal(t, "from xxxxxxxxxxxxxxxx x");
}

static void test_ipnet(void **st) {
  (void)st;
  assert_true(cs_ipstr_is_bogon("10.1.2.3"));
  assert_true(cs_ipstr_is_bogon("127.0.0.1"));
  assert_true(cs_ipstr_is_bogon("198.18.0.1"));
  assert_true(cs_ipstr_is_bogon("2001:db8::1"));
  assert_true(cs_ipstr_is_bogon("::1"));
  assert_false(cs_ipstr_is_bogon("93.184.216.34"));
  assert_false(cs_ipstr_is_bogon("not-an-ip"));
  assert_int_equal(cs_labnet_add("198.18.0.0/15"), 0);
  assert_false(cs_ipstr_is_bogon("198.19.255.1"));
  assert_false(cs_ipstr_is_bogon("198.20.0.1")); /* public, outside 198.18/15 */
  assert_true(cs_ipstr_is_bogon("192.0.2.1"));   /* not a lab net: still a bogon */
  cs_labnet_clear();
  assert_true(cs_ipstr_is_bogon("198.19.255.1"));
  assert_int_equal(cs_labnet_add("nonsense"), -1);
  cs_ip ip;
  uint16_t port;
  char s[64];
  assert_true(cs_endpoint_parse("[2001:db8::5]:443", &ip, &port));
  assert_int_equal(port, 443);
  cs_endpoint_format(&ip, port, s, sizeof s);
  assert_string_equal(s, "[2001:db8::5]:443");
  assert_true(cs_endpoint_parse("198.18.1.2:80", &ip, &port));
  assert_false(cs_endpoint_parse("2001:db8::5:443", &ip, &port));
  assert_false(cs_endpoint_parse("1.2.3.4:99999", &ip, &port));
  assert_true(cs_ip_parse("127.9.9.9", &ip) && cs_ip_is_loopback(&ip));
}

static void test_url(void **st) {
  (void)st;
  cs_arena *a = cs_arena_new(0);
  cs_url u;
  char err[128];
  assert_int_equal(cs_url_parse(a, "http://www.Vtunnel.info/", &u, err, sizeof err), 0);
  assert_string_equal(u.host, "www.vtunnel.info");
  assert_int_equal(u.port, 80);
  assert_string_equal(u.path, "/");
  assert_int_equal(cs_url_parse(a, "HTTPS://[2001:DB8::1]:8443/a?b=c#frag", &u, err, sizeof err),
                   0);
  assert_string_equal(u.host, "2001:db8::1");
  assert_true(u.host_is_ip && u.explicit_port);
  assert_int_equal(u.port, 8443);
  assert_string_equal(u.path, "/a?b=c");
  assert_string_equal(cs_url_format(a, &u), "https://[2001:db8::1]:8443/a?b=c");
  assert_int_equal(cs_url_parse(a, "http://example.com?q", &u, err, sizeof err), 0);
  assert_string_equal(u.path, "/?q");
  assert_int_equal(cs_url_parse(a,
                                "http://b\xc3\xbc"
                                "cher.example/",
                                &u, err, sizeof err),
                   0);
  assert_string_equal(u.host, "xn--bcher-kva.example");
  assert_int_equal(cs_url_parse(a, "ftp://x/", &u, err, sizeof err), -1);
  assert_int_equal(cs_url_parse(a, "http:///x", &u, err, sizeof err), -1);
  assert_int_equal(cs_url_parse(a, "http://x:0/", &u, err, sizeof err), -1);
  assert_int_equal(cs_url_parse(a, "http://x:65536/", &u, err, sizeof err), -1);
  /* RFC 3986 section 5.4 examples, base http://a/b/c/d;p?q */
  static const struct {
    const char *ref, *want;
  } v[] = {
      {"g", "http://a/b/c/g"},      {"./g", "http://a/b/c/g"},
      {"g/", "http://a/b/c/g/"},    {"/g", "http://a/g"},
      {"//g", "http://g/"},         {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},  {"#s", "http://a/b/c/d;p?q"},
      {"../g", "http://a/b/g"},     {"../../g", "http://a/g"},
      {"../../../g", "http://a/g"}, {"/./g", "http://a/g"},
      {"g/../h", "http://a/b/c/h"}, {"https://x.example:444/y", "https://x.example:444/y"},
  };
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    char *r = cs_url_resolve(a, "http://a/b/c/d;p?q", v[i].ref);
    assert_non_null(r);
    assert_string_equal(r, v[i].want);
  }
  assert_null(cs_url_resolve(a, "http://a/", "mailto:x@y"));
  assert_null(cs_url_resolve(a, "http://a/", ""));
  assert_null(cs_url_resolve(a, "http://a/", "http://"));
  /* one trailing dot (the root) goes; "a.." stays as given so that a formatted URL parses
   * back to the same host (found by fuzz_url) */
  assert_int_equal(cs_url_parse(a, "http://www.example.com./", &u, err, sizeof err), 0);
  assert_string_equal(u.host, "www.example.com");
  assert_int_equal(cs_url_parse(a, "http://a../", &u, err, sizeof err), 0);
  assert_string_equal(u.host, "a..");
  assert_string_equal(cs_url_resolve(a, "http://x/", "http://a../p"), "http://a../p");
  /* control bytes are refused in the host as in the path (they would reach the Host header) */
  assert_int_equal(cs_url_parse(a, "http://exam\x10ple.com/", &u, err, sizeof err), -1);
  assert_int_equal(cs_url_parse(a, "http://exam\x7fple.com/", &u, err, sizeof err), -1);
  assert_null(cs_url_resolve(a, "http://x/", "//a\x01b/"));
  /* brackets hold an IPv6 address only: "[[902]" used to become host "[902", which formats to
   * a URL that does not parse (found by fuzz_url) */
  assert_int_equal(cs_url_parse(a, "https://[[902]/", &u, err, sizeof err), -1);
  assert_int_equal(cs_url_parse(a, "http://[example.com]/", &u, err, sizeof err), -1);
  assert_int_equal(cs_url_parse(a, "http://[192.0.2.1]/", &u, err, sizeof err), -1);
  assert_int_equal(cs_url_parse(a, "http://[::ffff:192.0.2.1]:81/", &u, err, sizeof err), 0);
  assert_string_equal(cs_url_format(a, &u), "http://[::ffff:192.0.2.1]:81/");
  cs_arena_free(a);
}

static void test_arena_limit(void **st) {
  (void)st;
  cs_arena *a = cs_arena_new(10000);
  assert_non_null(cs_arena_alloc(a, 5000));
  assert_null(cs_arena_alloc(a, 6000));
  assert_non_null(cs_arena_alloc(a, 100));
  assert_string_equal(cs_arena_printf(a, "%d-%s", 7, "x"), "7-x");
  /* adopted blocks count against the limit and are freed with the arena (ASan: no leak) */
  cs_arena_free(a);
  a = cs_arena_new(20000);
  char *big = malloc(9000);
  assert_non_null(big);
  assert_ptr_equal(cs_arena_adopt(a, big, 9000), big);
  assert_null(cs_arena_adopt(a, malloc(12000), 12000)); /* over the limit: freed, NULL */
  assert_null(cs_arena_adopt(a, NULL, 10));
  cs_arena_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rbuf_bounds),
      cmocka_unit_test(test_buf_cap),
      cmocka_unit_test(test_base64),
      cmocka_unit_test(test_json_writer),
      cmocka_unit_test(test_json_reader),
      cmocka_unit_test(test_json_typed_getters),
      cmocka_unit_test(test_failures),
      cmocka_unit_test(test_ipnet),
      cmocka_unit_test(test_url),
      cmocka_unit_test(test_arena_limit),
      cmocka_unit_test(test_buf_grow_clamped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
