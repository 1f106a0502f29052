/* test_thproto.c - the test-helper wire protocol as pure functions (src/thproto/): the exact
 * request and response bytes (OONI's), the round trip encode -> decode -> write -> read, the
 * reader on hostile input, and the TH failure vocabulary. No sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thproto/thproto.h"
#include "util/buf.h"
#include "util/json.h"

static const char *REQ_JSON =
    "{\"http_request\":\"http://x.org/\",\"http_request_headers\":{\"User-Agent\":"
    "[\"ua\",\"ua2\"],\"Accept\":[\"a\"]},\"tcp_connect\":[\"1.2.3.4:443\","
    "\"[2001:db8::1]:80\"],\"x_quic_enabled\":false}";

static void test_request_round_trip(void **st) {
  (void)st;
  const cs_th_hdr h[] = {{"User-Agent", "ua"}, {"Accept", "a"}, {"user-agent", "ua2"}};
  const char *eps[] = {"1.2.3.4:443", "[2001:db8::1]:80"};
  cs_th_request r = {
      .url = "http://x.org/", .headers = h, .nheaders = 3, .endpoints = eps, .nendpoints = 2};
  cs_buf b;
  cs_buf_init(&b, 0);
  assert_int_equal(cs_th_request_encode(&b, &r), 0);
  assert_string_equal(cs_buf_cstr(&b), REQ_JSON);

  cs_arena *a = cs_arena_new(0);
  cs_th_request d;
  char err[128];
  assert_int_equal(cs_th_request_decode(a, (const char *)b.data, b.len, &d, err, sizeof err), 0);
  assert_string_equal(d.url, "http://x.org/");
  assert_int_equal(d.nheaders, 3); /* grouped: User-Agent ua, User-Agent ua2, Accept a */
  assert_string_equal(d.headers[1].name, "User-Agent");
  assert_string_equal(d.headers[1].value, "ua2");
  assert_string_equal(cs_th_request_header(&d, "user-agent"), "ua");
  assert_string_equal(cs_th_request_header(&d, "ACCEPT"), "a");
  assert_null(cs_th_request_header(&d, "Accept-Language"));
  assert_int_equal(d.nendpoints, 2);
  assert_string_equal(d.endpoints[1], "[2001:db8::1]:80");
  assert_false(d.quic);
  cs_buf b2;
  cs_buf_init(&b2, 0);
  assert_int_equal(cs_th_request_encode(&b2, &d), 0);
  assert_string_equal(cs_buf_cstr(&b2), REQ_JSON); /* decode then encode gives the same bytes */

  /* null members are absent; an empty value list drops the header; quic survives */
  const char *q = "{\"http_request\":\"https://y.example/p\",\"http_request_headers\":"
                  "{\"A\":[],\"B\":null},\"tcp_connect\":null,\"x_quic_enabled\":true}";
  assert_int_equal(cs_th_request_decode(a, q, strlen(q), &d, err, sizeof err), 0);
  assert_int_equal(d.nheaders, 0);
  assert_int_equal(d.nendpoints, 0);
  assert_true(d.quic);
  cs_buf_reset(&b2);
  assert_int_equal(cs_th_request_encode(&b2, &d), 0);
  assert_string_equal(cs_buf_cstr(&b2), "{\"http_request\":\"https://y.example/p\","
                                        "\"http_request_headers\":{},\"tcp_connect\":[],"
                                        "\"x_quic_enabled\":true}");

  /* rejections explain themselves */
  static const struct {
    const char *in, *err;
  } bad[] = {
      {"[]", "the request is not a JSON object"},
      {"{", "invalid JSON"},
      {"{}", "missing http_request"},
      {"{\"http_request\":\"\"}", "missing http_request"},
      {"{\"http_request\":1}", "http_request is not a string"},
      {"{\"http_request\":\"a\\u0000b\"}", "http_request is not a string"},
      {"{\"http_request\":\"ftp://x/\"}", "invalid http_request URL"},
      {"{\"http_request\":\"http://x/\",\"http_request_headers\":[]}", "http_request_headers"},
      {"{\"http_request\":\"http://x/\",\"http_request_headers\":{\"A\":\"v\"}}", "a header"},
      {"{\"http_request\":\"http://x/\",\"http_request_headers\":{\"A\":[1]}}", "a header"},
      {"{\"http_request\":\"http://x/\",\"tcp_connect\":{}}", "tcp_connect is not an array"},
      {"{\"http_request\":\"http://x/\",\"tcp_connect\":[1]}", "a tcp_connect entry"},
      {"{\"http_request\":\"http://x/\",\"x_quic_enabled\":1}", "x_quic_enabled"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = 0;
    assert_int_equal(cs_th_request_decode(a, bad[i].in, strlen(bad[i].in), &d, err, sizeof err),
                     -1);
    if (!strstr(err, bad[i].err)) fail_msg("%s: %s", bad[i].in, err);
    assert_null(d.url);
  }
  /* 1024 endpoints are accepted, 1025 are not */
  cs_buf big;
  cs_buf_init(&big, 0);
  cs_buf_printf(&big, "{\"http_request\":\"http://x/\",\"tcp_connect\":[");
  for (int i = 0; i < CS_TH_MAX_REQ_ENDPOINTS; i++)
    cs_buf_printf(&big, "%s\"1.1.1.1:80\"", i ? "," : "");
  cs_buf_printf(&big, "]}");
  assert_int_equal(cs_th_request_decode(a, (const char *)big.data, big.len, &d, err, sizeof err),
                   0);
  assert_int_equal(d.nendpoints, CS_TH_MAX_REQ_ENDPOINTS);
  big.len -= 2;
  cs_buf_printf(&big, ",\"1.1.1.1:80\"]}");
  assert_int_equal(cs_th_request_decode(a, (const char *)big.data, big.len, &d, err, sizeof err),
                   -1);
  assert_string_equal(err, "too many tcp_connect endpoints");
  cs_buf_free(&big);

  /* encoder arguments and a full buffer */
  cs_th_request none = {0};
  assert_int_equal(cs_th_request_encode(&b2, &none), -1);
  const cs_th_hdr nul[] = {{"A", NULL}};
  cs_th_request nulh = {.url = "http://x/", .headers = nul, .nheaders = 1};
  assert_int_equal(cs_th_request_encode(&b2, &nulh), -1);
  cs_buf small;
  cs_buf_init(&small, 8);
  assert_int_equal(cs_th_request_encode(&small, &r), -1);
  assert_true(small.overflow);
  cs_buf_free(&small);
  cs_buf_free(&b);
  cs_buf_free(&b2);
  cs_arena_free(a);
}

/* oohelperd's bytes for one measurement (Go's encoding/json order, map keys sorted) */
static const char *RESP_JSON =
    "{\"tcp_connect\":{\"203.0.113.5:443\":{\"status\":false,\"failure\":\"connect_error\"},"
    "\"[2001:db8::1]:443\":{\"status\":true,\"failure\":null}},"
    "\"tls_handshake\":{\"[2001:db8::1]:443\":{\"server_name\":\"www.example.com\",\"status\":"
    "true,\"failure\":null}},\"quic_handshake\":{},"
    "\"http_request\":{\"body_length\":1533,\"discovered_h3_endpoint\":\"www.example.com:443\","
    "\"failure\":null,\"title\":\"Caf\xc3\xa9\",\"headers\":{\"Content-Type\":\"text/html\","
    "\"Server\":\"ECS\",\"X-Nul\":\"a\\u0000b\"},\"status_code\":200},\"http3_request\":null,"
    "\"dns\":{\"failure\":null,\"addrs\":[\"2001:db8::1\",\"203.0.113.5\"]},"
    "\"ip_info\":{\"2001:db8::1\":{\"asn\":0,\"flags\":11},\"203.0.113.5\":{\"asn\":0,"
    "\"flags\":2}}}";

static void write_read(const cs_th_response *r, cs_buf *b, cs_arena *a, cs_th_response *out) {
  cs_buf_reset(b);
  assert_int_equal(cs_th_response_write(b, r), 0);
  char err[96];
  cs_jval *v = cs_json_parse(a, (const char *)b->data, b->len, NULL, err, sizeof err);
  assert_non_null(v);
  cs_th_response_read(a, v, out);
}

static void test_response_round_trip(void **st) {
  (void)st;
  /* as the server fills it: in measurement order, not sorted */
  cs_th_ep tcp[] = {{.endpoint = "[2001:db8::1]:443", .status = true},
                    {.endpoint = "203.0.113.5:443", .failure = "connect_error"}};
  cs_th_ep tls[] = {
      {.endpoint = "[2001:db8::1]:443", .status = true, .server_name = "www.example.com"}};
  cs_th_header h[] = {{"Server", "ECS", 3}, {"X-Nul", "a\0b", 3}, {"Content-Type", "text/html", 9}};
  const char *addrs[] = {"2001:db8::1", "203.0.113.5"};
  cs_th_ipinfo ii[] = {{"203.0.113.5", 0, CS_TH_IP_TH},
                       {"2001:db8::1", 0, CS_TH_IP_PROBE | CS_TH_IP_TH | CS_TH_IP_VALID}};
  cs_th_response r = {.tcp = tcp,
                      .ntcp = 2,
                      .tls = tls,
                      .ntls = 1,
                      .http_body_length = 1533,
                      .http_status = 200,
                      .http_title = "Caf\xc3\xa9",
                      .http_discovered_h3 = "www.example.com:443",
                      .http_headers = h,
                      .nhttp_headers = 3,
                      .dns_addrs = addrs,
                      .ndns_addrs = 2,
                      .ipinfo = ii,
                      .nipinfo = 2};
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_arena *a = cs_arena_new(0);
  cs_th_response x;
  write_read(&r, &b, a, &x);
  assert_string_equal(cs_buf_cstr(&b), RESP_JSON);
  assert_true(x.present && x.dns_present && x.http_present);
  assert_null(x.dns_failure);
  assert_int_equal(x.ndns_addrs, 2);
  assert_string_equal(x.dns_addrs[0], "2001:db8::1");
  assert_int_equal(x.ntcp, 2);
  assert_string_equal(x.tcp[0].endpoint, "203.0.113.5:443");
  assert_string_equal(x.tcp[0].ip, "203.0.113.5");
  assert_int_equal(x.tcp[0].port, 443);
  assert_false(x.tcp[0].status);
  assert_string_equal(x.tcp[0].failure, "connect_error");
  assert_true(cs_th_failure_is(x.tcp[0].failure, CS_THF_CONNECT_ERROR));
  assert_string_equal(x.tcp[1].ip, "2001:db8::1");
  assert_true(x.tcp[1].status);
  assert_int_equal(x.ntls, 1);
  assert_string_equal(x.tls[0].server_name, "www.example.com");
  assert_int_equal(x.http_body_length, 1533);
  assert_int_equal(x.http_status, 200);
  assert_string_equal(x.http_title, "Caf\xc3\xa9");
  assert_string_equal(x.http_discovered_h3, "www.example.com:443");
  assert_int_equal(x.nhttp_headers, 3);
  assert_string_equal(x.http_headers[2].name, "X-Nul");
  assert_int_equal(x.http_headers[2].value_len, 3);
  assert_memory_equal(x.http_headers[2].value, "a\0b", 3);
  assert_int_equal(x.nipinfo, 2);
  assert_int_equal(x.ipinfo[0].flags, 11);
  /* and what was read writes the same bytes again */
  cs_buf b2;
  cs_buf_init(&b2, 0);
  assert_int_equal(cs_th_response_write(&b2, &x), 0);
  assert_string_equal(cs_buf_cstr(&b2), RESP_JSON);

  /* empty parts: tls_handshake and ip_info omitted, the rest written as unknown */
  cs_th_response e = {.http_body_length = -1,
                      .http_status = -1,
                      .http_failure = cs_th_failure_str(CS_THF_DNS_LOOKUP_ERROR),
                      .dns_failure = cs_th_failure_str(CS_THF_DNS_NAME_ERROR)};
  write_read(&e, &b, a, &x);
  assert_string_equal(cs_buf_cstr(&b),
                      "{\"tcp_connect\":{},\"quic_handshake\":{},\"http_request\":{\"body_length\":"
                      "-1,\"discovered_h3_endpoint\":\"\",\"failure\":\"dns_lookup_error\","
                      "\"title\":\"\",\"headers\":{},\"status_code\":-1},\"http3_request\":null,"
                      "\"dns\":{\"failure\":\"dns_name_error\",\"addrs\":[]}}");
  assert_true(cs_th_failure_is(x.dns_failure, CS_THF_DNS_NAME_ERROR));
  assert_true(cs_th_failure_is(x.http_failure, CS_THF_DNS_LOOKUP_ERROR));
  assert_int_equal(x.ntcp + x.ntls + x.nipinfo + x.nhttp_headers + x.ndns_addrs, 0);

  /* a full buffer */
  cs_buf small;
  cs_buf_init(&small, 16);
  assert_int_equal(cs_th_response_write(&small, &r), -1);
  cs_buf_free(&small);
  cs_buf_free(&b);
  cs_buf_free(&b2);
  cs_arena_free(a);
}

/* The reader on what old or hostile helpers send: never fails, keeps what it can. */
static void test_response_read_hostile(void **st) {
  (void)st;
  cs_arena *a = cs_arena_new(0);
  char err[96];
  cs_th_response x;
  const char *in[] = {"null", "[]", "{}", "\"x\""};
  for (size_t i = 0; i < 4; i++) {
    cs_jval *v = cs_json_parse(a, in[i], strlen(in[i]), NULL, err, sizeof err);
    cs_th_response_read(a, v, &x);
    assert_false(x.present);
    assert_int_equal(x.http_status, -1);
    assert_int_equal(x.http_body_length, -1);
  }
  cs_th_response_read(a, NULL, &x);
  assert_false(x.present);
  const char *odd =
      "{\"dns\":{\"failure\":7,\"addrs\":[\"0:0::1\",3,\"name.example\"]},"
      "\"tcp_connect\":{\"bad\":{\"status\":true},\"1.2.3.4:80\":{\"failure\":\"connect_error\"},"
      "\"5.6.7.8:80\":{},\"x\":3},\"tls_handshake\":[],"
      "\"http_request\":{\"body_length\":1e300,\"status_code\":\"200\",\"title\":null,"
      "\"headers\":{\"A\":[\"first\",\"second\"],\"B\":{\"format\":\"base64\",\"data\":\"eA==\"},"
      "\"C\":5}},\"ip_info\":{\"0:0::2\":{\"asn\":-3,\"flags\":1},\"y\":[]}}";
  cs_jval *v = cs_json_parse(a, odd, strlen(odd), NULL, err, sizeof err);
  assert_non_null(v);
  cs_th_response_read(a, v, &x);
  assert_true(x.present && x.dns_present && x.http_present);
  assert_null(x.dns_failure);
  assert_int_equal(x.ndns_addrs, 2);
  assert_string_equal(x.dns_addrs[0], "::1"); /* canonical */
  assert_string_equal(x.dns_addrs[1], "name.example");
  assert_int_equal(x.ntcp, 3);
  assert_null(x.tcp[0].ip);
  assert_true(x.tcp[0].status);
  assert_false(x.tcp[1].status); /* no status: a failure means false */
  assert_true(x.tcp[2].status);  /* no status, no failure: true */
  assert_int_equal(x.tcp[2].port, 80);
  assert_int_equal(x.ntls, 0);
  assert_int_equal(x.http_body_length, 9000000000000000);
  assert_int_equal(x.http_status, -1);
  assert_null(x.http_title);
  assert_int_equal(x.nhttp_headers, 3);
  assert_string_equal(x.http_headers[0].value, "first");
  assert_string_equal(x.http_headers[1].value, "");
  assert_string_equal(x.http_headers[2].value, "");
  assert_int_equal(x.nipinfo, 1);
  assert_string_equal(x.ipinfo[0].ip, "::2");
  assert_int_equal(x.ipinfo[0].asn, 0);
  assert_int_equal(x.ipinfo[0].flags, 1);
  /* lists are capped */
  cs_buf big;
  cs_buf_init(&big, 0);
  cs_buf_printf(&big, "{\"tcp_connect\":{");
  for (int i = 0; i < CS_TH_MAX_ITEMS + 5; i++)
    cs_buf_printf(&big, "%s\"10.0.%d.%d:80\":{}", i ? "," : "", i / 256, i % 256);
  cs_buf_printf(&big, "}}");
  v = cs_json_parse(a, (const char *)big.data, big.len, NULL, err, sizeof err);
  assert_non_null(v);
  cs_th_response_read(a, v, &x);
  assert_int_equal(x.ntcp, CS_TH_MAX_ITEMS);
  cs_buf_free(&big);
  cs_arena_free(a);
}

static void test_failure_vocabulary(void **st) {
  (void)st;
  assert_null(cs_th_failure_str(CS_THF_NONE));
  assert_null(cs_th_failure_str(CS_THF__COUNT));
  assert_string_equal(cs_th_failure_str(CS_THF_DNS_NAME_ERROR), "dns_name_error");
  assert_string_equal(cs_th_failure_str(CS_THF_DNS_SERVER_FAILURE), "dns_server_failure");
  assert_string_equal(cs_th_failure_str(CS_THF_DNS_LOOKUP_ERROR), "dns_lookup_error");
  assert_string_equal(cs_th_failure_str(CS_THF_CONNECTION_REFUSED_ERROR),
                      "connection_refused_error");
  assert_string_equal(cs_th_failure_str(CS_THF_CONNECT_ERROR), "connect_error");
  assert_string_equal(cs_th_failure_str(CS_THF_GENERIC_TIMEOUT_ERROR), "generic_timeout_error");
  assert_string_equal(cs_th_failure_str(CS_THF_UNKNOWN_ERROR), "unknown_error");
  assert_true(cs_th_failure_is(NULL, CS_THF_NONE));
  assert_false(cs_th_failure_is(NULL, CS_THF_UNKNOWN_ERROR));
  assert_false(cs_th_failure_is("unknown_error", CS_THF_NONE));
  assert_false(cs_th_failure_is("dns_name_errorx", CS_THF_DNS_NAME_ERROR));
  /* every mapping lands in the list */
  const char *in[] = {
      "dns_nxdomain_error", "dns_servfail_error",   "connection_refused", "generic_timeout_error",
      "connection_reset",   "ssl_invalid_hostname", "eof_error",          "unknown_failure: x"};
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
    const char *m[] = {cs_th_map_dns_failure(in[i]), cs_th_map_tcp_failure(in[i]),
                       cs_th_map_http_failure(in[i], "connect")};
    for (size_t j = 0; j < 3; j++) {
      bool listed = false;
      for (int f = CS_THF_NONE + 1; f < CS_THF__COUNT; f++)
        listed = listed || cs_th_failure_is(m[j], (cs_th_failure)f);
      assert_true(listed);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_round_trip),
      cmocka_unit_test(test_response_round_trip),
      cmocka_unit_test(test_response_read_hostile),
      cmocka_unit_test(test_failure_vocabulary),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
