/* test_helper.c - the control server and the TH client on loopback: hello, measurements of
 * a local HTTP server (fields, headers, title, ip_info flags), failure mappings (refused
 * port, NXDOMAIN via .invalid), invalid requests (400/413/431/501/505), pipelining order,
 * the in-flight limit (503), slow and idle clients dropped, keep-alive, 100-continue, HTTPS;
 * the request parser and decoder directly; the client against the server, a closed port,
 * a 500, a non-JSON body and a stall. Only 127.0.0.1 and *.invalid names are used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/loop.h"
#include "engine/tls.h"
#include "helper/measure.h"
#include "helper/reqparse.h"
#include "helper/server.h"
#include "nettests/wc_control.h"
#include "thproto/thproto.h"
#include "dns_mock.h"
#include "helper_srv.h"
#include "tcp_servers.h"
#include "util/ipnet.h"
#include "util/json.h"

#define NX_URL "http://censorscope-test.invalid/"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static cs_helper_opts test_opts(void) {
  cs_helper_opts o = {0};
  o.measure.dns_timeout = 3;
  o.measure.tcp_timeout = 2;
  o.measure.tls_timeout = 2;
  o.measure.http_timeout = 3;
  o.idle_timeout = 10;
  o.request_timeout = 10;
  return o;
}

static char *post_req(const char *json, const char *extra) {
  size_t n = strlen(json) + 256 + (extra ? strlen(extra) : 0);
  char *s = malloc(n);
  snprintf(s, n,
           "POST / HTTP/1.1\r\nHost: th\r\nContent-Type: application/json\r\n%s"
           "Content-Length: %zu\r\n\r\n%s",
           extra ? extra : "", strlen(json), json);
  return s;
}

/* Sends one request on a new connection and returns the status; body (and head) malloc'd. */
static int roundtrip(uint16_t port, const char *req, char **body, char **head) {
  hcli c;
  assert_int_equal(hcli_connect(&c, port, 15), 0);
  assert_int_equal(hcli_sendstr(&c, req), 0);
  int st = hcli_read(&c, body, head);
  hcli_close(&c);
  return st;
}

static int post(uint16_t port, const char *json, char **body) {
  char *r = post_req(json, NULL);
  int st = roundtrip(port, r, body, NULL);
  free(r);
  return st;
}

/* ---- JSON helpers ---------------------------------------------------------------------- */
static cs_arena *ja;
static const cs_jval *J(const char *s) {
  if (!ja) ja = cs_arena_new(0);
  char err[64];
  const cs_jval *v = cs_json_parse(ja, s, strlen(s), NULL, err, sizeof err);
  if (!v) fail_msg("not JSON (%s): %s", err, s);
  return v;
}
static const cs_jval *G(const cs_jval *v, const char *k) {
  const cs_jval *x = cs_json_get(v, k);
  if (!x) fail_msg("missing key %s", k);
  return x;
}
static void assert_jnull(const cs_jval *v) { assert_true(v && v->type == CS_JNULL); }
static void assert_jstr(const cs_jval *v, const char *s) {
  assert_non_null(v);
  assert_int_equal(v->type, CS_JSTR);
  assert_string_equal(v->str, s);
}
static void assert_jnum(const cs_jval *v, double n) {
  assert_non_null(v);
  assert_int_equal(v->type, CS_JNUM);
  assert_true(v->num == n);
}

static const char hello[] = "{\"message\":\"Hello OONItarian!\"}";

/* ---- server: basics -------------------------------------------------------------------- */

static void test_hello(void **st) {
  (void)st;
  cs_helper_opts o = test_opts();
  o.server_header = "censorscope-helper/test";
  helper_srv *s = helper_srv_start(&o);
  char *body, *head;
  assert_int_equal(roundtrip(helper_srv_port(s), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &body, &head),
                   200);
  assert_string_equal(body, hello);
  assert_non_null(strstr(head, "\r\nServer: censorscope-helper/test\r\n"));
  assert_non_null(strstr(head, "\r\nContent-Type: application/json\r\n"));
  free(body), free(head);
  helper_srv_stop(s);
}

static const char page[] = "<html><head><TITLE>Local Title</TITLE></head><body>hi</body></html>";

static tsrv *page_server(void) {
  static char resp[512];
  snprintf(resp, sizeof resp,
           "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nx-test: one\r\nX-Test: two\r\n"
           "Alt-Svc: h2=\":443\", h3=\"alt.example:8443\"; ma=60\r\n"
           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
           strlen(page), page);
  tsrv_cfg cfg = {.mode = TSRV_RESPOND, .resp = (const uint8_t *)resp, .resp_len = strlen(resp)};
  return tsrv_start(&cfg);
}

static void test_measure_local_http(void **st) {
  (void)st;
  tsrv *web = page_server();
  helper_srv *s = helper_srv_start(&(cs_helper_opts){0});
  char json[512], key[64], *body;
  uint16_t wp = tsrv_port(web);
  snprintf(json, sizeof json,
           "{\"http_request\":\"http://127.0.0.1:%u/\",\"http_request_headers\":{},"
           "\"tcp_connect\":[\"127.0.0.1:%u\",\"10.1.2.3:80\",\"not-an-ip:80\"],"
           "\"x_quic_enabled\":false}",
           wp, wp);
  assert_int_equal(post(helper_srv_port(s), json, &body), 200);
  const cs_jval *v = J(body);
  /* IP host: no DNS step */
  assert_jnull(G(G(v, "dns"), "failure"));
  assert_int_equal(G(G(v, "dns"), "addrs")->len, 0);
  /* endpoints: the URL's explicit port on every non-bogon IP (127/8 is a lab net here) */
  const cs_jval *tcp = G(v, "tcp_connect");
  assert_int_equal(tcp->len, 1);
  snprintf(key, sizeof key, "127.0.0.1:%u", wp);
  assert_true(G(G(tcp, key), "status")->b);
  assert_jnull(G(G(tcp, key), "failure"));
  assert_null(cs_json_get(v, "tls_handshake")); /* not port 443: omitted (omitempty) */
  assert_int_equal(G(v, "quic_handshake")->len, 0);
  assert_jnull(G(v, "http3_request"));
  const cs_jval *h = G(v, "http_request");
  assert_jnull(G(h, "failure"));
  assert_jnum(G(h, "status_code"), 200);
  assert_jnum(G(h, "body_length"), (double)strlen(page));
  assert_jstr(G(h, "title"), "Local Title");
  assert_jstr(G(h, "discovered_h3_endpoint"), "alt.example:8443"); /* from Alt-Svc */
  assert_jstr(G(G(h, "headers"), "X-Test"), "one");                /* canonical name, first value */
  assert_jstr(G(G(h, "headers"), "Content-Type"), "text/html");
  const cs_jval *ii = G(v, "ip_info");
  assert_int_equal(ii->len, 2);
  assert_jnum(G(G(ii, "127.0.0.1"), "flags"), 1);
  assert_jnum(G(G(ii, "127.0.0.1"), "asn"), 0);
  assert_jnum(G(G(ii, "10.1.2.3"), "flags"), 1 | 4);
  /* key order as Go's encoding/json: tcp_connect first, ip_info last */
  assert_true(strstr(body, "\"tcp_connect\"") < strstr(body, "\"http_request\""));
  assert_true(strstr(body, "\"dns\"") < strstr(body, "\"ip_info\""));
  free(body);
  helper_srv_stop(s);
  tsrv_stop(web);
}

static void test_measure_user_agent(void **st) {
  (void)st;
  tsrv *web = page_server();
  helper_srv *s = helper_srv_start(&(cs_helper_opts){0});
  char json[512], *body;
  /* IP host and no probe endpoints: only the HTTP fetch reaches the server */
  snprintf(json, sizeof json,
           "{\"http_request\":\"http://127.0.0.1:%u/p?q=1\",\"http_request_headers\":"
           "{\"user-agent\":[\"censorscope-test-ua/1\",\"second\"],\"Cookie\":[\"x\"]},"
           "\"tcp_connect\":null}",
           tsrv_port(web));
  assert_int_equal(post(helper_srv_port(s), json, &body), 200);
  const cs_jval *v = J(body);
  assert_int_equal(G(v, "tcp_connect")->len, 0);
  assert_null(cs_json_get(v, "ip_info"));
  assert_jnum(G(G(v, "http_request"), "status_code"), 200);
  size_t n;
  const char *req = tsrv_last_request(web, &n);
  assert_non_null(strstr(req, "GET /p?q=1 HTTP/1.1\r\n"));
  assert_non_null(strstr(req, "\r\nUser-Agent: censorscope-test-ua/1\r\n"));
  assert_null(strstr(req, "Cookie"));
  free(body);
  helper_srv_stop(s);
  tsrv_stop(web);
}

static void test_measure_localhost_dns(void **st) {
  (void)st;
  tsrv *web = page_server();
  helper_srv *s = helper_srv_start(&(cs_helper_opts){0});
  char json[256], key[64], *body;
  snprintf(json, sizeof json, "{\"http_request\":\"http://localhost:%u/\"}", tsrv_port(web));
  assert_int_equal(post(helper_srv_port(s), json, &body), 200);
  const cs_jval *v = J(body);
  const cs_jval *addrs = G(G(v, "dns"), "addrs");
  bool found = false;
  for (size_t i = 0; i < addrs->len; i++) found |= !strcmp(addrs->kids[i]->str, "127.0.0.1");
  assert_true(found);
  assert_jnull(G(G(v, "dns"), "failure"));
  assert_jnum(G(G(G(v, "ip_info"), "127.0.0.1"), "flags"), 2);
  snprintf(key, sizeof key, "127.0.0.1:%u", tsrv_port(web));
  assert_true(G(G(G(v, "tcp_connect"), key), "status")->b);
  snprintf(key, sizeof key, "[::1]:%u", tsrv_port(web)); /* ::1 is a bogon (not a lab net) */
  assert_null(cs_json_get(G(v, "tcp_connect"), key));
  const cs_jval *v6 = cs_json_get(G(v, "ip_info"), "::1");
  if (v6) assert_jnum(G(v6, "flags"), 2 | 4);
  assert_jnum(G(G(v, "http_request"), "status_code"), 200);
  assert_jstr(G(G(v, "http_request"), "title"), "Local Title");
  free(body);
  helper_srv_stop(s);
  tsrv_stop(web);
}

static void test_measure_refused(void **st) {
  (void)st;
  helper_srv *s = helper_srv_start(&(cs_helper_opts){0});
  uint16_t cp = tsrv_closed_port();
  char json[256], key[64], *body;
  snprintf(json, sizeof json,
           "{\"http_request\":\"http://127.0.0.1:%u/\",\"tcp_connect\":[\"127.0.0.1:%u\"]}", cp,
           cp);
  assert_int_equal(post(helper_srv_port(s), json, &body), 200);
  const cs_jval *v = J(body);
  snprintf(key, sizeof key, "127.0.0.1:%u", cp);
  const cs_jval *e = G(G(v, "tcp_connect"), key);
  assert_false(G(e, "status")->b);
  assert_jstr(G(e, "failure"), "connection_refused_error");
  const cs_jval *h = G(v, "http_request");
  assert_jstr(G(h, "failure"), "connection_refused_error");
  assert_jnum(G(h, "status_code"), -1);
  assert_jnum(G(h, "body_length"), -1);
  assert_jstr(G(h, "title"), "");
  assert_int_equal(G(h, "headers")->len, 0);
  free(body);
  helper_srv_stop(s);
}

static void test_measure_partial_body(void **st) {
  (void)st;
  static const char cut[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nAlt-Svc: h3=\":443\"\r\n\r\n"
                            "<title>Cut</title>";
  tsrv_cfg cfg = {.mode = TSRV_RESPOND, .resp = (const uint8_t *)cut, .resp_len = sizeof cut - 1};
  tsrv *web = tsrv_start(&cfg);
  helper_srv *s = helper_srv_start(&(cs_helper_opts){0});
  char json[256], h3[64], *body;
  snprintf(json, sizeof json, "{\"http_request\":\"http://127.0.0.1:%u/\"}", tsrv_port(web));
  assert_int_equal(post(helper_srv_port(s), json, &body), 200);
  const cs_jval *h = G(J(body), "http_request");
  /* the head arrived, the body was cut: http.go keeps status, headers and what was read */
  assert_jstr(G(h, "failure"), "unknown_error");
  assert_jnum(G(h, "status_code"), 200);
  assert_jnum(G(h, "body_length"), 18);
  assert_jstr(G(h, "title"), "Cut");
  assert_jstr(G(G(h, "headers"), "Alt-Svc"), "h3=\":443\"");
  snprintf(h3, sizeof h3, "[127.0.0.1:%u]:443", tsrv_port(web)); /* Go's JoinHostPort(URL.Host) */
  assert_jstr(G(h, "discovered_h3_endpoint"), h3);
  free(body);
  helper_srv_stop(s);
  tsrv_stop(web);
}

/* TLS endpoints (flag 8, tls_handshake) and an https fetch against a loopback TLS server;
 * tls_port points the "port 443" rule at the test server's port. */
static void measure_tls(tsrv_cert_kind kind, bool expect_ok) {
  tsrv_pki pki;
  assert_int_equal(tsrv_pki_init(&pki), 0);
  SSL_CTX *sctx = tsrv_server_ctx(&pki, "localhost", kind, "http/1.1");
  static char resp[256];
  snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(page),
           page);
  tsrv_cfg cfg = {
      .mode = TSRV_RESPOND, .resp = (const uint8_t *)resp, .resp_len = strlen(resp), .tls = sctx};
  tsrv *web = tsrv_start(&cfg);
  char err[128], json[256], key[64], *body;
  cs_helper_opts o = test_opts();
  o.measure.tls = cs_tls_ctx_new(pki.ca_file, true, err, sizeof err);
  o.measure.tls_port = tsrv_port(web);
  helper_srv *s = helper_srv_start(&o);
  snprintf(json, sizeof json,
           "{\"http_request\":\"https://localhost:%u/\",\"tcp_connect\":[\"127.0.0.1:%u\"]}",
           tsrv_port(web), tsrv_port(web));
  assert_int_equal(post(helper_srv_port(s), json, &body), 200);
  const cs_jval *v = J(body);
  snprintf(key, sizeof key, "127.0.0.1:%u", tsrv_port(web));
  assert_true(G(G(G(v, "tcp_connect"), key), "status")->b);
  const cs_jval *t = G(G(v, "tls_handshake"), key);
  assert_jstr(G(t, "server_name"), "localhost");
  const cs_jval *h = G(v, "http_request");
  if (expect_ok) {
    assert_true(G(t, "status")->b);
    assert_jnull(G(t, "failure"));
    assert_jnum(G(G(G(v, "ip_info"), "127.0.0.1"), "flags"), 1 | 2 | 8);
    assert_jnull(G(h, "failure"));
    assert_jnum(G(h, "status_code"), 200);
    assert_jstr(G(h, "title"), "Local Title");
  } else {
    assert_false(G(t, "status")->b);
    assert_jstr(G(t, "failure"), "ssl_invalid_hostname"); /* TLS failures are not mapped */
    assert_jnum(G(G(G(v, "ip_info"), "127.0.0.1"), "flags"), 1 | 2);
    assert_jstr(G(h, "failure"), "unknown_error");
    assert_jnum(G(h, "status_code"), -1);
  }
  free(body);
  helper_srv_stop(s);
  tsrv_stop(web);
  cs_tls_ctx_free(o.measure.tls);
  SSL_CTX_free(sctx);
  tsrv_pki_free(&pki);
}

static void test_measure_tls_ok(void **st) {
  (void)st;
  measure_tls(TSRV_CERT_GOOD, true);
}

static void test_measure_tls_wrong_host(void **st) {
  (void)st;
  measure_tls(TSRV_CERT_WRONG_HOST, false);
}

static void test_measure_nxdomain(void **st) {
  (void)st;
  helper_srv *s = helper_srv_start(&(cs_helper_opts){0});
  char *body;
  assert_int_equal(
      post(helper_srv_port(s), "{\"http_request\":\"" NX_URL "\",\"tcp_connect\":[]}", &body), 200);
  const cs_jval *v = J(body);
  assert_jstr(G(G(v, "dns"), "failure"), "dns_name_error");
  assert_int_equal(G(G(v, "dns"), "addrs")->len, 0);
  assert_int_equal(G(v, "tcp_connect")->len, 0);
  assert_jstr(G(G(v, "http_request"), "failure"), "dns_lookup_error");
  assert_jnum(G(G(v, "http_request"), "status_code"), -1);
  assert_null(cs_json_get(v, "ip_info"));
  free(body);
  helper_srv_stop(s);
}

/* ---- server: hostile and invalid requests ---------------------------------------------- */

static void expect_status(uint16_t port, const char *req, int status, bool closes) {
  hcli c;
  char *body = NULL;
  assert_int_equal(hcli_connect(&c, port, 10), 0);
  assert_int_equal(hcli_sendstr(&c, req), 0);
  int got = hcli_read(&c, &body, NULL);
  if (got != status) fail_msg("expected %d, got %d for: %s", status, got, req);
  assert_non_null(J(body)); /* always a JSON body */
  if (status != 200) assert_non_null(cs_json_get(J(body), "error"));
  free(body);
  if (closes) assert_true(hcli_wait_eof(&c, 5));
  hcli_close(&c);
}

static void test_bad_requests(void **st) {
  (void)st;
  cs_helper_opts o = test_opts();
  helper_srv *s = helper_srv_start(&o);
  uint16_t p = helper_srv_port(s);
  const char *bad_json[] = {
      "{",
      "[]",
      "nope",
      "{\"tcp_connect\":[]}",
      "{\"http_request\":\"ftp://x/\"}",
      "{\"http_request\":42}",
      "{\"http_request\":\"http://a/\",\"tcp_connect\":\"1.2.3.4:80\"}",
      "{\"http_request\":\"http://a/\",\"tcp_connect\":[1]}",
      "{\"http_request\":\"http://a/\",\"http_request_headers\":{\"A\":\"b\"}}",
      "{\"http_request\":\"http://a/\",\"x_quic_enabled\":\"yes\"}"};
  for (size_t i = 0; i < sizeof bad_json / sizeof *bad_json; i++) {
    char *r = post_req(bad_json[i], NULL);
    expect_status(p, r, 400, false);
    free(r);
  }
  expect_status(p, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, false);
  expect_status(p, "DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 400, false);
  expect_status(p, "GARBAGE\r\n\r\n", 400, true);
  expect_status(p, "GET / HTTP/1.1\r\n\r\n", 400, true); /* no Host */
  expect_status(p, "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, true);
  expect_status(p, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501,
                true);
  expect_status(
      p, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
      400, true);
  expect_status(p, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                400, true);
  expect_status(p, "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, true);
  expect_status(p, "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, true);
  /* a 400 for a wrong method keeps the connection usable */
  hcli c;
  char *body;
  assert_int_equal(hcli_connect(&c, p, 10), 0);
  assert_int_equal(
      hcli_sendstr(&c, "PATCH / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  assert_int_equal(hcli_read(&c, &body, NULL), 400);
  free(body);
  assert_int_equal(hcli_read(&c, &body, NULL), 200);
  assert_string_equal(body, hello);
  free(body);
  hcli_close(&c);
  /* a head that never ends: 431 once over the limit */
  char *big = malloc(40000);
  memset(big, 'a', 40000);
  memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
  big[39999] = 0;
  expect_status(p, big, 431, true);
  free(big);
  cs_helper_stats stt = helper_srv_stats(s);
  assert_true(stt.bad_requests >= 20);
  helper_srv_stop(s);
}

static void test_oversized_body(void **st) {
  (void)st;
  cs_helper_opts o = test_opts();
  o.limits.max_body = 1024;
  helper_srv *s = helper_srv_start(&o);
  /* refused from the head alone: the body is never read */
  expect_status(helper_srv_port(s), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
                413, true);
  /* a client that sends its whole oversized body anyway still reads the 413 (lingering
   * close, RFC 9112 §9.6), not a reset */
  {
    hcli c;
    char *body;
    size_t bl = 300000;
    char *big = malloc(bl + 128);
    int k = snprintf(big, 128, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", bl);
    memset(big + k, 'x', bl);
    assert_int_equal(hcli_connect(&c, helper_srv_port(s), 10), 0);
    assert_int_equal(hcli_send(&c, big, (size_t)k + bl), 0);
    usleep(100000);
    assert_int_equal(hcli_read(&c, &body, NULL), 413);
    free(body);
    /* the client keeps sending; the server discards it and ends with a clean FIN (a plain
     * close with unread data would answer with RST: ECONNRESET here) */
    assert_int_equal(hcli_send(&c, big + k, 65536), 0);
    usleep(100000);
    assert_int_equal(hcli_send(&c, big + k, 1000), 0);
    usleep(200000);
    uint8_t tmp[16];
    assert_int_equal(recv(c.fd, tmp, sizeof tmp, MSG_DONTWAIT), 0);
    hcli_close(&c);
    free(big);
  }
  /* at the limit: accepted (and invalid JSON -> 400, connection kept) */
  char *j = malloc(1025);
  memset(j, ' ', 1024);
  j[0] = '{', j[1023] = 0;
  char *r = post_req(j, NULL);
  expect_status(helper_srv_port(s), r, 400, false);
  free(r), free(j);
  helper_srv_stop(s);
}

static void test_pipelining(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_STALL};
  tsrv *stall = tsrv_start(&cfg);
  cs_helper_opts o = test_opts();
  o.measure.http_timeout = 1;
  helper_srv *s = helper_srv_start(&o);
  char json[256];
  snprintf(json, sizeof json, "{\"http_request\":\"http://127.0.0.1:%u/\"}", tsrv_port(stall));
  char *slow = post_req(json, NULL);
  char *fast = post_req("{\"http_request\":\"" NX_URL "\"}", NULL);
  size_t n = strlen(slow) + strlen(fast) + 200;
  char *all = malloc(n);
  snprintf(all, n, "%sGET /a HTTP/1.1\r\nHost: x\r\n\r\n%s", slow, fast);
  hcli c;
  assert_int_equal(hcli_connect(&c, helper_srv_port(s), 15), 0);
  double t0 = now_s();
  assert_int_equal(hcli_sendstr(&c, all), 0);
  char *b1, *b2, *b3;
  assert_int_equal(hcli_read(&c, &b1, NULL), 200);
  double t1 = now_s() - t0;
  assert_int_equal(hcli_read(&c, &b2, NULL), 200);
  assert_int_equal(hcli_read(&c, &b3, NULL), 200);
  /* in request order although the first finished last */
  assert_true(t1 >= 0.9);
  assert_jstr(G(G(J(b1), "http_request"), "failure"), "generic_timeout_error");
  assert_string_equal(b2, hello);
  assert_jstr(G(G(J(b3), "dns"), "failure"), "dns_name_error");
  free(b1), free(b2), free(b3), free(all), free(slow), free(fast);
  hcli_close(&c);
  helper_srv_stop(s);

  /* more pipelined requests than the per-connection queue: reading pauses, then resumes */
  o.max_pipeline = 2;
  s = helper_srv_start(&o);
  assert_int_equal(hcli_connect(&c, helper_srv_port(s), 15), 0);
  char many[2048] = "";
  for (int i = 0; i < 9; i++) {
    char one[128];
    snprintf(one, sizeof one, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
    strcat(many, one);
  }
  char *p1 = post_req("{\"http_request\":\"" NX_URL "\"}", NULL);
  strcat(many, p1);
  strcat(many, "GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  assert_int_equal(hcli_sendstr(&c, many), 0);
  for (int i = 0; i < 11; i++) {
    char *b;
    assert_int_equal(hcli_read(&c, &b, NULL), 200);
    if (i == 9) assert_jstr(G(G(J(b), "dns"), "failure"), "dns_name_error");
    else assert_string_equal(b, hello);
    free(b);
  }
  assert_true(hcli_wait_eof(&c, 3));
  hcli_close(&c);
  free(p1);
  helper_srv_stop(s);
  tsrv_stop(stall);
}

static void test_busy_503(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_STALL};
  tsrv *stall = tsrv_start(&cfg);
  cs_helper_opts o = test_opts();
  o.measure.http_timeout = 1.5;
  o.max_inflight = 1;
  helper_srv *s = helper_srv_start(&o);
  char json[256], *body;
  snprintf(json, sizeof json, "{\"http_request\":\"http://127.0.0.1:%u/\"}", tsrv_port(stall));
  char *r = post_req(json, NULL);
  hcli a, b;
  assert_int_equal(hcli_connect(&a, helper_srv_port(s), 15), 0);
  assert_int_equal(hcli_sendstr(&a, r), 0);
  for (int i = 0; i < 100 && helper_srv_stats(s).inflight == 0; i++) usleep(10000);
  assert_int_equal(helper_srv_stats(s).inflight, 1);
  assert_int_equal(hcli_connect(&b, helper_srv_port(s), 15), 0);
  assert_int_equal(hcli_sendstr(&b, r), 0);
  assert_int_equal(hcli_read(&b, &body, NULL), 503);
  free(body);
  assert_int_equal(hcli_sendstr(&b, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0); /* still open */
  assert_int_equal(hcli_read(&b, &body, NULL), 200);
  free(body);
  assert_int_equal(hcli_read(&a, &body, NULL), 200);
  free(body);
  assert_int_equal(helper_srv_stats(s).rejected_busy, 1);
  hcli_close(&a), hcli_close(&b);
  free(r);
  helper_srv_stop(s);
  tsrv_stop(stall);
}

static void test_slow_and_idle_clients(void **st) {
  (void)st;
  cs_helper_opts o = test_opts();
  o.request_timeout = 0.5;
  o.idle_timeout = 0.7;
  helper_srv *s = helper_srv_start(&o);
  uint16_t p = helper_srv_port(s);
  hcli slow, idle, ka;
  /* slowloris: a head trickling in, one byte at a time, never finishing */
  assert_int_equal(hcli_connect(&slow, p, 10), 0);
  double t0 = now_s();
  bool dropped = false;
  for (int i = 0; i < 40 && !dropped; i++) {
    if (hcli_sendstr(&slow, i == 0 ? "GET / HTTP/1.1\r\nHost: x\r\nX-a: " : "a") < 0) break;
    dropped = hcli_wait_eof(&slow, 0.1);
  }
  if (!dropped) dropped = hcli_wait_eof(&slow, 3);
  assert_true(dropped);
  double el = now_s() - t0;
  assert_true(el >= 0.4 && el < 3);
  /* a connection that never sends anything */
  assert_int_equal(hcli_connect(&idle, p, 10), 0);
  t0 = now_s();
  assert_true(hcli_wait_eof(&idle, 3));
  assert_true(now_s() - t0 >= 0.5);
  /* keep-alive: answered, then closed after the idle time */
  assert_int_equal(hcli_connect(&ka, p, 10), 0);
  char *body;
  assert_int_equal(hcli_sendstr(&ka, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  assert_int_equal(hcli_read(&ka, &body, NULL), 200);
  free(body);
  usleep(300000);
  assert_int_equal(hcli_sendstr(&ka, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  assert_int_equal(hcli_read(&ka, &body, NULL), 200);
  free(body);
  assert_true(hcli_wait_eof(&ka, 3));
  assert_true(helper_srv_stats(s).timeouts >= 3);
  assert_int_equal(helper_srv_stats(s).open_conns, 0);
  hcli_close(&slow), hcli_close(&idle), hcli_close(&ka);
  helper_srv_stop(s);
}

static void test_connection_close_and_continue(void **st) {
  (void)st;
  helper_srv *s = helper_srv_start(&(cs_helper_opts){0});
  hcli c;
  char *body, *head;
  assert_int_equal(hcli_connect(&c, helper_srv_port(s), 10), 0);
  /* 100-continue: the interim response comes before the body is sent */
  const char *json = "{\"http_request\":\"" NX_URL "\"}";
  char h[256];
  snprintf(h, sizeof h,
           "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %zu\r\n\r\n",
           strlen(json));
  assert_int_equal(hcli_sendstr(&c, h), 0);
  assert_int_equal(hcli_read(&c, &body, NULL), 100);
  free(body);
  assert_int_equal(hcli_sendstr(&c, json), 0);
  assert_int_equal(hcli_read(&c, &body, NULL), 200);
  assert_jstr(G(G(J(body), "dns"), "failure"), "dns_name_error");
  free(body);
  /* HTTP/1.0 without keep-alive, then Connection: close: answered, then closed */
  assert_int_equal(hcli_sendstr(&c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 0);
  assert_int_equal(hcli_read(&c, &body, &head), 200);
  assert_non_null(strstr(head, "\r\nConnection: close\r\n"));
  free(body), free(head);
  assert_true(hcli_wait_eof(&c, 3));
  hcli_close(&c);
  assert_int_equal(roundtrip(helper_srv_port(s), "GET / HTTP/1.0\r\n\r\n", &body, &head), 200);
  assert_non_null(strstr(head, "Connection: close"));
  free(body), free(head);
  /* HTTP/1.0 keep-alive is confirmed explicitly, and the connection stays usable */
  assert_int_equal(hcli_connect(&c, helper_srv_port(s), 10), 0);
  assert_int_equal(hcli_sendstr(&c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
  assert_int_equal(hcli_read(&c, &body, &head), 200);
  assert_non_null(strstr(head, "\r\nConnection: keep-alive\r\n"));
  free(body), free(head);
  assert_int_equal(hcli_sendstr(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  assert_int_equal(hcli_read(&c, &body, &head), 200);
  assert_null(strstr(head, "Connection:"));
  free(body), free(head);
  hcli_close(&c);
  helper_srv_stop(s);
}

/* ---- pure parts ------------------------------------------------------------------------ */

static cs_helper_pstatus P(const char *s, cs_helper_req *r) {
  return cs_helper_req_parse((const uint8_t *)s, strlen(s), NULL, r, NULL);
}

static void test_reqparse(void **st) {
  (void)st;
  cs_helper_req r;
  assert_int_equal(P("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET", &r), CS_HREQ_OK);
  assert_int_equal(r.total_len, strlen("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  assert_true(r.keep_alive);
  assert_true(cs_helper_req_method_is(&r, "GET"));
  assert_false(cs_helper_req_method_is(&r, "get"));
  assert_int_equal(P("\r\n\r\nPOST /x HTTP/1.1\r\nHost: a\r\nUser-Agent: ooniprobe-x \r\n"
                     "Content-Length: 3\r\nConnection: keep-alive, close\r\n\r\nabcdef",
                     &r),
                   CS_HREQ_OK);
  assert_int_equal(r.body_len, 3);
  assert_memory_equal(r.body, "abc", 3);
  assert_int_equal(r.user_agent_len, 11); /* OWS trimmed */
  assert_false(r.keep_alive);
  assert_int_equal(P("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", &r),
                   CS_HREQ_MORE);
  assert_int_equal(r.head_len, strlen("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"));
  assert_int_equal(
      P("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 10\r\n\r\n", &r),
      CS_HREQ_MORE);
  assert_true(r.expect_continue);
  assert_int_equal(P("GET / HTTP/1.1\r\nHost: a\r\n", &r), CS_HREQ_MORE);
  assert_int_equal(P("GET / HTTP/1.0\r\n\r\n", &r), CS_HREQ_OK);
  assert_false(r.keep_alive);
  assert_int_equal(P("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r), CS_HREQ_OK);
  assert_true(r.keep_alive);
  struct {
    const char *s;
    int status;
  } bad[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", 413},
      {"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\n\rX: y\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400},
      {"G\x7f / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400}, /* a TLS ClientHello */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (P(bad[i].s, &r) != CS_HREQ_ERROR || r.error_status != bad[i].status)
      fail_msg("case %zu: status %d", i, r.error_status);
    assert_non_null(r.error);
  }
  /* byte by byte with the scan hint (the server's slowloris path): MORE until the last byte */
  const char *full = "\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\nGET";
  size_t scan = 0, flen = strlen(full) - 3;
  for (size_t i = 1; i <= flen; i++) {
    cs_helper_pstatus ps = cs_helper_req_parse((const uint8_t *)full, i, NULL, &r, &scan);
    if (ps != (i == flen ? CS_HREQ_OK : CS_HREQ_MORE)) fail_msg("at %zu: %d", i, ps);
  }
  assert_int_equal(r.total_len, flen);
  assert_int_equal(r.target_len, 2);
  cs_helper_limits lim = {.max_headers = 2};
  const char *three = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
  assert_int_equal(cs_helper_req_parse((const uint8_t *)three, strlen(three), &lim, &r, NULL),
                   CS_HREQ_ERROR);
  assert_int_equal(r.error_status, 431);
}

static void test_decode_and_mappings(void **st) {
  (void)st;
  cs_arena *a = cs_arena_new(0);
  cs_th_request q;
  char err[128];
  const char *ok = "{\"http_request\":\"https://www.example.com/\",\"http_request_headers\":"
                   "{\"Accept\":[\"a\"],\"Accept-Language\":[\"en\"],\"User-Agent\":[\"ua\"],"
                   "\"X\":null},\"tcp_connect\":[\"93.184.216.34:443\",\"[2001:db8::1]:443\"],"
                   "\"x_quic_enabled\":true,\"unknown\":{}}";
  assert_int_equal(cs_th_request_decode(a, ok, strlen(ok), &q, err, sizeof err), 0);
  assert_string_equal(q.url, "https://www.example.com/");
  assert_string_equal(cs_th_request_header(&q, "User-Agent"), "ua");
  assert_string_equal(cs_th_request_header(&q, "Accept"), "a");
  assert_string_equal(cs_th_request_header(&q, "Accept-Language"), "en");
  assert_int_equal(q.nendpoints, 2);
  assert_string_equal(q.endpoints[1], "[2001:db8::1]:443");
  assert_true(q.quic);
  const char *nul = "{\"http_request\":\"http://a\\u0000b/\"}";
  assert_int_equal(cs_th_request_decode(a, nul, strlen(nul), &q, err, sizeof err), -1);
  cs_arena_free(a);

  assert_string_equal(cs_th_map_dns_failure("dns_nxdomain_error"), "dns_name_error");
  assert_null(cs_th_map_dns_failure("dns_no_answer"));
  assert_string_equal(cs_th_map_dns_failure("dns_temporary_failure"), "dns_server_failure");
  assert_string_equal(cs_th_map_dns_failure("dns_refused_error"), "dns_server_failure");
  assert_string_equal(cs_th_map_dns_failure("generic_timeout_error"), "unknown_error");
  assert_null(cs_th_map_dns_failure(NULL));
  assert_string_equal(cs_th_map_tcp_failure("generic_timeout_error"), "generic_timeout_error");
  assert_string_equal(cs_th_map_tcp_failure("connection_refused"), "connection_refused_error");
  assert_string_equal(cs_th_map_tcp_failure("connection_reset"), "connect_error");
  assert_string_equal(cs_th_map_http_failure("dns_nxdomain_error", "resolve"), "dns_lookup_error");
  assert_string_equal(cs_th_map_http_failure("generic_timeout_error", "resolve"),
                      "dns_lookup_error");
  assert_string_equal(cs_th_map_http_failure("generic_timeout_error", "http_round_trip"),
                      "generic_timeout_error");
  assert_string_equal(cs_th_map_http_failure("connection_refused", "connect"),
                      "connection_refused_error");
  assert_string_equal(cs_th_map_http_failure("ssl_invalid_hostname", "tls_handshake"),
                      "unknown_error");
}

static void test_request_build(void **st) {
  (void)st;
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_http_hdr h[] = {{"User-Agent", "ua"}, {"Accept", "a"}, {"user-agent", "ua2"}};
  const char *eps[] = {"1.2.3.4:443", "[2001:db8::1]:80"};
  assert_int_equal(cs_th_request_build(&b, "http://x.org/", h, 3, eps, 2, false), 0);
  assert_string_equal(
      cs_buf_cstr(&b),
      "{\"http_request\":\"http://x.org/\",\"http_request_headers\":{\"User-Agent\":"
      "[\"ua\",\"ua2\"],\"Accept\":[\"a\"]},\"tcp_connect\":[\"1.2.3.4:443\","
      "\"[2001:db8::1]:80\"],\"x_quic_enabled\":false}");
  cs_buf_reset(&b);
  assert_int_equal(cs_th_request_build(&b, NULL, NULL, 0, NULL, 0, false), -1);
  cs_buf_free(&b);
  cs_buf small;
  cs_buf_init(&small, 8);
  assert_int_equal(cs_th_request_build(&small, "http://x.org/", NULL, 0, NULL, 0, true), -1);
  cs_buf_free(&small);
}

/* ---- client ---------------------------------------------------------------------------- */

typedef struct {
  int calls;
  char *failure, *body;
} qres;

static void on_q(void *arg, const char *failure, const char *json, size_t len) {
  qres *r = arg;
  r->calls++;
  r->failure = failure ? strdup(failure) : NULL;
  r->body = json ? strndup(json, len) : NULL;
  if (json) assert_int_equal(strlen(json), len);
}

static qres query(cs_tls_ctx *tls, const char *url, const char *json, double timeout) {
  qres r = {0};
  cs_loop *l = cs_loop_new();
  cs_th_req *q = cs_th_query(l, tls, url, json, strlen(json), timeout, on_q, &r);
  assert_non_null(q);
  assert_int_equal(r.calls, 0); /* never from inside cs_th_query */
  cs_loop_run(l);
  cs_loop_free(l);
  assert_int_equal(r.calls, 1);
  return r;
}

static void qfree(qres *r) { free(r->failure), free(r->body); }

static void test_client_ok(void **st) {
  (void)st;
  helper_srv *s = helper_srv_start(&(cs_helper_opts){0});
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", helper_srv_port(s));
  cs_buf b;
  cs_buf_init(&b, 0);
  assert_int_equal(cs_th_request_build(&b, NX_URL, NULL, 0, NULL, 0, false), 0);
  qres r = query(NULL, url, cs_buf_cstr(&b), 10);
  assert_null(r.failure);
  assert_jstr(G(G(J(r.body), "dns"), "failure"), "dns_name_error");
  qfree(&r);
  /* an invalid request is a 400: http_request_failed */
  r = query(NULL, url, "{}", 10);
  assert_string_equal(r.failure, "http_request_failed");
  assert_null(r.body);
  qfree(&r);
  cs_buf_free(&b);
  helper_srv_stop(s);
}

static void test_client_failures(void **st) {
  (void)st;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_closed_port());
  qres r = query(NULL, url, "{}", 5);
  assert_string_equal(r.failure, "connection_refused");
  qfree(&r);

  static const char e500[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}";
  tsrv_cfg cfg = {.mode = TSRV_RESPOND, .resp = (const uint8_t *)e500, .resp_len = sizeof e500 - 1};
  tsrv *t = tsrv_start(&cfg);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(t));
  r = query(NULL, url, "{\"a\":1}", 5);
  assert_string_equal(r.failure, "http_request_failed");
  size_t n;
  const char *req = tsrv_last_request(t, &n);
  assert_non_null(strstr(req, "POST / HTTP/1.1\r\n"));
  assert_non_null(strstr(req, "\r\nContent-Type: application/json\r\n"));
  assert_non_null(strstr(req, "\r\nContent-Length: 7\r\n"));
  qfree(&r);
  tsrv_stop(t);

  static const char notjson[] = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nnot json";
  cfg.resp = (const uint8_t *)notjson, cfg.resp_len = sizeof notjson - 1;
  t = tsrv_start(&cfg);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(t));
  r = query(NULL, url, "{}", 5);
  assert_string_equal(r.failure, "json_parse_error");
  qfree(&r);
  tsrv_stop(t);

  static const char cut[] = "HTTP/1.1 200 OK\r\nContent-Length: 80\r\n\r\n{\"a\":";
  cfg.resp = (const uint8_t *)cut, cfg.resp_len = sizeof cut - 1;
  t = tsrv_start(&cfg);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(t));
  r = query(NULL, url, "{}", 5);
  assert_string_equal(r.failure, "eof_error");
  qfree(&r);
  tsrv_stop(t);

  cfg = (tsrv_cfg){.mode = TSRV_STALL};
  t = tsrv_start(&cfg);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(t));
  double t0 = now_s();
  r = query(NULL, url, "{}", 0.5);
  assert_string_equal(r.failure, "generic_timeout_error");
  assert_true(now_s() - t0 < 3);
  qfree(&r);
  tsrv_stop(t);

  r = query(NULL, "gopher://x/", "{}", 5);
  assert_non_null(strstr(r.failure, "unknown_failure"));
  qfree(&r);
}

static void test_https_server_and_client(void **st) {
  (void)st;
  tsrv_pki pki;
  assert_int_equal(tsrv_pki_init(&pki), 0);
  SSL_CTX *sctx = tsrv_server_ctx(&pki, "localhost", TSRV_CERT_GOOD, "http/1.1");
  cs_helper_opts o = test_opts();
  o.server_ssl_ctx = sctx;
  helper_srv *s = helper_srv_start(&o);
  char err[128], url[64];
  cs_tls_ctx *tls = cs_tls_ctx_new(pki.ca_file, true, err, sizeof err);
  assert_non_null(tls);
  snprintf(url, sizeof url, "https://localhost:%u/", helper_srv_port(s));
  qres r = query(tls, url, "{\"http_request\":\"" NX_URL "\"}", 10);
  assert_null(r.failure);
  assert_jstr(G(G(J(r.body), "http_request"), "failure"), "dns_lookup_error");
  qfree(&r);
  /* a cleartext request to the TLS port is dropped, not answered */
  hcli c;
  assert_int_equal(hcli_connect(&c, helper_srv_port(s), 5), 0);
  assert_int_equal(hcli_sendstr(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  char *body;
  assert_true(hcli_read(&c, &body, NULL) <= 0);
  free(body);
  hcli_close(&c);
  cs_tls_ctx_free(tls);
  helper_srv_stop(s);
  SSL_CTX_free(sctx);
  tsrv_pki_free(&pki);
}

typedef struct {
  int done, ok;
} many_state;

static void on_many(void *arg, const char *failure, const char *json, size_t len) {
  many_state *m = arg;
  m->done++;
  if (failure || !json) return;
  cs_arena *a = cs_arena_new(0);
  char err[64];
  const cs_jval *v = cs_json_parse(a, json, len, NULL, err, sizeof err);
  const char *f = cs_json_get_str(cs_json_get(v, "http_request"), "failure", "");
  if (!strcmp(f, "connection_refused_error")) m->ok++;
  cs_arena_free(a);
}

/* Hundreds of measurements in flight at once on one server loop. */
static void test_many_concurrent(void **st) {
  (void)st;
  enum { N = 300 };
  helper_srv *s = helper_srv_start(&(cs_helper_opts){0});
  char url[64], json[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", helper_srv_port(s));
  snprintf(json, sizeof json, "{\"http_request\":\"http://127.0.0.1:%u/\"}", tsrv_closed_port());
  many_state m = {0};
  cs_loop *l = cs_loop_new();
  for (int i = 0; i < N; i++)
    assert_non_null(cs_th_query(l, NULL, url, json, strlen(json), 30, on_many, &m));
  cs_loop_run(l);
  cs_loop_free(l);
  assert_int_equal(m.done, N);
  assert_int_equal(m.ok, N);
  cs_helper_stats stt = helper_srv_stats(s);
  assert_int_equal(stt.measurements, N);
  assert_int_equal(stt.rejected_busy, 0);
  helper_srv_stop(s);
}

/* ---- pooled client ---------------------------------------------------------------------- */

typedef struct {
  int done, ok, calls_after_stop;
  const char *want;         /* expected http_request.failure in the body, or NULL */
  const char *want_failure; /* expected query failure, or NULL */
  int bad;
} pool_state;

static void on_pool(void *arg, const char *failure, const char *json, size_t len) {
  pool_state *m = arg;
  m->done++;
  if (m->want_failure) {
    if (failure && !strcmp(failure, m->want_failure)) m->ok++;
    else m->bad++;
    return;
  }
  if (failure || !json || strlen(json) != len) {
    m->bad++;
    return;
  }
  cs_arena *a = cs_arena_new(0);
  char err[64];
  const cs_jval *v = cs_json_parse(a, json, len, NULL, err, sizeof err);
  const char *f = cs_json_get_str(cs_json_get(v, "http_request"), "failure", "");
  if (!strcmp(f, m->want)) m->ok++;
  else m->bad++;
  cs_arena_free(a);
}

static void stop_loop_cb(cs_timer *t) { cs_loop_stop(t->data); }

static void run_for(cs_loop *l, double secs) {
  cs_timer t = {0};
  cs_timer_start(l, &t, secs, stop_loop_cb, l);
  cs_loop_run(l);
  cs_timer_stop(l, &t);
}

static void test_pool_pipelining(void **st) {
  (void)st;
  enum { N = 60 };
  helper_srv *s = helper_srv_start(&(cs_helper_opts){0});
  char url[64], json[128], err[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", helper_srv_port(s));
  snprintf(json, sizeof json, "{\"http_request\":\"http://127.0.0.1:%u/\"}", tsrv_closed_port());
  cs_loop *l = cs_loop_new();
  cs_th_client_opts o = {.max_conns = 2, .max_pipeline = 4, .timeout = 20};
  cs_th_client *cl = cs_th_client_new(l, NULL, url, &o, err, sizeof err);
  assert_non_null(cl);
  pool_state m = {.want = "connection_refused_error"};
  for (int i = 0; i < N; i++)
    assert_non_null(cs_th_client_query(cl, json, strlen(json), on_pool, &m));
  assert_int_equal(m.done, 0);
  /* one cancelled query never calls back */
  cs_th_job_cancel(cs_th_client_query(cl, json, strlen(json), on_pool, &m));
  for (int i = 0; i < 100 && m.done < N; i++) run_for(l, 0.1);
  assert_int_equal(m.done, N);
  assert_int_equal(m.ok, N);
  cs_helper_stats stt = helper_srv_stats(s);
  assert_true(stt.connections <= 2); /* kept alive and pipelined */
  assert_true(stt.measurements >= N);
  cs_th_client_free(cl);
  cs_loop_run(l);
  cs_loop_free(l);
  helper_srv_stop(s);
}

static void test_pool_server_closes_idle(void **st) {
  (void)st;
  cs_helper_opts o = test_opts();
  o.idle_timeout = 0.3;
  helper_srv *s = helper_srv_start(&o);
  char url[64], json[128], err[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", helper_srv_port(s));
  snprintf(json, sizeof json, "{\"http_request\":\"http://127.0.0.1:%u/\"}", tsrv_closed_port());
  cs_loop *l = cs_loop_new();
  cs_th_client_opts co = {.max_conns = 1};
  cs_th_client *cl = cs_th_client_new(l, NULL, url, &co, err, sizeof err);
  pool_state m = {.want = "connection_refused_error"};
  cs_th_client_query(cl, json, strlen(json), on_pool, &m);
  for (int i = 0; i < 50 && m.done < 1; i++) run_for(l, 0.1);
  run_for(l, 0.8); /* the server closes the idle connection meanwhile */
  cs_th_client_query(cl, json, strlen(json), on_pool, &m);
  cs_th_client_query(cl, json, strlen(json), on_pool, &m);
  for (int i = 0; i < 50 && m.done < 3; i++) run_for(l, 0.1);
  assert_int_equal(m.ok, 3);
  assert_int_equal(helper_srv_stats(s).connections, 2);
  cs_th_client_free(cl);
  cs_loop_run(l);
  cs_loop_free(l);
  helper_srv_stop(s);
}

static void pool_expect(const char *url, double timeout, const char *want_failure, int n) {
  char err[128];
  cs_loop *l = cs_loop_new();
  cs_th_client_opts o = {.max_conns = 2, .max_pipeline = 2, .timeout = timeout};
  cs_th_client *cl = cs_th_client_new(l, NULL, url, &o, err, sizeof err);
  assert_non_null(cl);
  pool_state m = {.want_failure = want_failure};
  for (int i = 0; i < n; i++) cs_th_client_query(cl, "{}", 2, on_pool, &m);
  for (int i = 0; i < 100 && m.done < n; i++) run_for(l, 0.1);
  if (m.ok != n) fail_msg("%s: %d of %d ok, %d bad", want_failure, m.ok, n, m.bad);
  cs_th_client_free(cl);
  cs_loop_run(l);
  cs_loop_free(l);
}

static void test_pool_failures(void **st) {
  (void)st;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_closed_port());
  pool_expect(url, 5, "connection_refused", 5);

  static const char e500[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}";
  tsrv_cfg cfg = {.mode = TSRV_RESPOND, .resp = (const uint8_t *)e500, .resp_len = sizeof e500 - 1};
  tsrv *t = tsrv_start(&cfg);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(t));
  pool_expect(url, 5, "http_request_failed", 3);
  tsrv_stop(t);

  cfg = (tsrv_cfg){.mode = TSRV_STALL};
  t = tsrv_start(&cfg);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(t));
  pool_expect(url, 0.5, "generic_timeout_error", 4);
  tsrv_stop(t);

  char err[128];
  assert_null(cs_th_client_new(NULL, NULL, "https://127.0.0.1/", NULL, err, sizeof err));
  assert_null(cs_th_client_new(NULL, NULL, "nope", NULL, err, sizeof err));
}

/* A client that resets its connection mid-measurement: the measurement is cancelled (DNS on
 * the worker pool, fetch, endpoint connects) without leaks or use-after-free. */
static void test_client_vanishes(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_STALL};
  tsrv *stall = tsrv_start(&cfg);
  helper_srv *s = helper_srv_start(&(cs_helper_opts){0});
  char json[256];
  for (int k = 0; k < 3; k++) {
    for (int i = 0; i < 10; i++) {
      char u[128];
      if (k == 0) snprintf(u, sizeof u, "http://127.0.0.1:%u/", tsrv_port(stall));
      else if (k == 1) snprintf(u, sizeof u, "http://localhost:%u/", tsrv_port(stall));
      else snprintf(u, sizeof u, "%s", NX_URL);
      snprintf(json, sizeof json, "{\"http_request\":\"%s\",\"tcp_connect\":[\"127.0.0.1:%u\"]}", u,
               tsrv_port(stall));
      char *r = post_req(json, NULL);
      hcli c;
      assert_int_equal(hcli_connect(&c, helper_srv_port(s), 5), 0);
      assert_int_equal(hcli_sendstr(&c, r), 0);
      if (i % 2) usleep(20000);
      struct linger lg = {1, 0};
      setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      hcli_close(&c);
      free(r);
    }
  }
  cs_helper_stats stt;
  for (int i = 0; i < 200; i++) {
    stt = helper_srv_stats(s);
    if (stt.inflight == 0 && stt.open_conns == 0) break;
    usleep(10000);
  }
  assert_int_equal(stt.inflight, 0);
  assert_int_equal(stt.open_conns, 0);
  char *body;
  assert_int_equal(roundtrip(helper_srv_port(s), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &body, NULL),
                   200);
  free(body);
  helper_srv_stop(s);
  tsrv_stop(stall);
}

/* Without a lab net, loopback is a bogon: flagged 4, never dialled, and the fetch refuses it
 * (dns_lookup_error, as OONI's bogon-rejecting resolver). */
static void test_bogons_not_dialled(void **st) {
  (void)st;
  tsrv *web = page_server();
  helper_srv *s = helper_srv_start(&(cs_helper_opts){0});
  char json[256], *body;
  snprintf(json, sizeof json,
           "{\"http_request\":\"http://127.0.0.1:%u/\",\"tcp_connect\":[\"127.0.0.1:%u\"]}",
           tsrv_port(web), tsrv_port(web));
  cs_labnet_clear();
  int st_ = post(helper_srv_port(s), json, &body);
  cs_labnet_add("127.0.0.0/8");
  assert_int_equal(st_, 200);
  const cs_jval *v = J(body);
  assert_int_equal(G(v, "tcp_connect")->len, 0);
  assert_jnum(G(G(G(v, "ip_info"), "127.0.0.1"), "flags"), 1 | 4);
  assert_jstr(G(G(v, "http_request"), "failure"), "dns_lookup_error");
  assert_int_equal(tsrv_connections(web), 0);
  free(body);
  helper_srv_stop(s);
  tsrv_stop(web);
}

static void test_max_conns(void **st) {
  (void)st;
  cs_helper_opts o = test_opts();
  o.max_conns = 2;
  helper_srv *s = helper_srv_start(&o);
  hcli a, b, c;
  char *body;
  assert_int_equal(hcli_connect(&a, helper_srv_port(s), 5), 0);
  assert_int_equal(hcli_connect(&b, helper_srv_port(s), 5), 0);
  for (int i = 0; i < 100 && helper_srv_stats(s).open_conns < 2; i++) usleep(10000);
  assert_int_equal(hcli_connect(&c, helper_srv_port(s), 5), 0);
  assert_true(hcli_wait_eof(&c, 3)); /* over the limit: closed at accept */
  assert_int_equal(hcli_sendstr(&a, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  assert_int_equal(hcli_read(&a, &body, NULL), 200);
  free(body);
  hcli_close(&a), hcli_close(&b), hcli_close(&c);
  helper_srv_stop(s);
}

/* The DNS step end to end against the mock resolver (--resolver udp://), with oohelperd's
 * dns.go mapping of every outcome. */
static void test_dns_mappings_udp(void **st) {
  (void)st;
  cs_dns_mock *dm = cs_dns_mock_start(CS_DNS_MOCK_NORMAL);
  assert_non_null(dm);
  char res[64], *body;
  snprintf(res, sizeof res, "udp://127.0.0.1:%u", cs_dns_mock_port(dm));
  cs_helper_opts o = test_opts();
  o.measure.resolver = res;
  o.measure.dns_timeout = 0.5;
  helper_srv *s = helper_srv_start(&o);
  const char *req = "{\"http_request\":\"http://www.example.test/\"}";
  struct {
    cs_dns_mock_mode mode;
    const char *failure;
    size_t naddrs;
  } cases[] = {
      {CS_DNS_MOCK_NORMAL, NULL, 2},
      {CS_DNS_MOCK_NXDOMAIN, "dns_name_error", 0},
      {CS_DNS_MOCK_SERVFAIL, "dns_server_failure", 0},
      {CS_DNS_MOCK_REFUSED, "dns_server_failure", 0},
      {CS_DNS_MOCK_EMPTY, NULL, 0},             /* dns_no_answer -> null, [] */
      {CS_DNS_MOCK_SILENT, "unknown_error", 0}, /* a timeout is "anything else" */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cs_dns_mock_set_mode(dm, cases[i].mode);
    assert_int_equal(post(helper_srv_port(s), req, &body), 200);
    const cs_jval *v = J(body);
    const cs_jval *d = G(v, "dns");
    if (cases[i].failure) assert_jstr(G(d, "failure"), cases[i].failure);
    else assert_jnull(G(d, "failure"));
    assert_int_equal(G(d, "addrs")->len, cases[i].naddrs);
    /* the HTTP step never gets a usable address here: the mock's are documentation ranges */
    assert_jstr(G(G(v, "http_request"), "failure"), "dns_lookup_error");
    if (cases[i].mode == CS_DNS_MOCK_NORMAL) {
      assert_jstr(G(d, "addrs")->kids[0], CS_DNS_MOCK_A);
      assert_jnum(G(G(G(v, "ip_info"), CS_DNS_MOCK_A), "flags"), 2 | 4);
      assert_jnum(G(G(G(v, "ip_info"), CS_DNS_MOCK_AAAA), "flags"), 2 | 4);
      assert_int_equal(G(v, "tcp_connect")->len, 0); /* bogons are not dialled */
    }
    free(body);
  }
  helper_srv_stop(s);
  cs_dns_mock_stop(dm);
}

/* The command itself (when `make check` passes CS_BIN, or build/<BUILD>/censorscope exists):
 * listens on an ephemeral port, answers, and exits 0 on SIGTERM. */
static void test_cli(void **st) {
  (void)st;
  const char *bin = getenv("CS_BIN");
  if (!bin) bin = access("build/asan/censorscope", X_OK) == 0 ? "build/asan/censorscope" : NULL;
  if (!bin) {
    skip();
    return;
  }
  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(pfd[1], 2);
    close(pfd[0]);
    execl(bin, bin, "helper", "--listen", "127.0.0.1:0", "--max-inflight", "8", (char *)NULL);
    _exit(127);
  }
  close(pfd[1]);
  char line[256] = "";
  size_t n = 0;
  while (n < sizeof line - 1 && !strchr(line, '\n')) {
    ssize_t r = read(pfd[0], line + n, sizeof line - 1 - n);
    if (r <= 0) break;
    n += (size_t)r;
    line[n] = 0;
  }
  unsigned port = 0;
  const char *pp = strstr(line, "(port ");
  assert_non_null(pp);
  assert_int_equal(sscanf(pp, "(port %u", &port), 1);
  char *body, *head;
  assert_int_equal(roundtrip((uint16_t)port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &body, &head),
                   200);
  assert_string_equal(body, hello);
  assert_non_null(strstr(head, "\r\nServer: censorscope-helper/"));
  free(body), free(head);
  kill(pid, SIGTERM);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  close(pfd[0]);
}

typedef struct {
  cs_th_client *cl;
  int calls;
} free_in_cb_state;

static void on_free_in_cb(void *arg, const char *failure, const char *json, size_t len) {
  (void)failure, (void)json, (void)len;
  free_in_cb_state *f = arg;
  f->calls++;
  cs_th_client_free(f->cl); /* the last answer we wanted: drop the rest */
}

/* Freeing the pooled client from inside a callback drops the other queries silently. */
static void test_pool_free_in_callback(void **st) {
  (void)st;
  helper_srv *s = helper_srv_start(&(cs_helper_opts){0});
  char url[64], json[128], err[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", helper_srv_port(s));
  snprintf(json, sizeof json, "{\"http_request\":\"http://127.0.0.1:%u/\"}", tsrv_closed_port());
  cs_loop *l = cs_loop_new();
  cs_th_client_opts o = {.max_conns = 1, .max_pipeline = 4};
  free_in_cb_state f = {0};
  f.cl = cs_th_client_new(l, NULL, url, &o, err, sizeof err);
  for (int i = 0; i < 6; i++) cs_th_client_query(f.cl, json, strlen(json), on_free_in_cb, &f);
  cs_loop_run(l); /* ends once the client is gone */
  assert_int_equal(f.calls, 1);
  cs_loop_free(l);
  helper_srv_stop(s);

  /* two answers in one segment: both completions are queued when the first frees the client */
  static const char two[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
                            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
  tsrv_cfg cfg = {.mode = TSRV_RESPOND,
                  .resp = (const uint8_t *)two,
                  .resp_len = sizeof two - 1,
                  .stall_after = true};
  tsrv *t = tsrv_start(&cfg);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(t));
  l = cs_loop_new();
  o.max_pipeline = 2;
  f = (free_in_cb_state){0};
  f.cl = cs_th_client_new(l, NULL, url, &o, err, sizeof err);
  for (int i = 0; i < 2; i++) cs_th_client_query(f.cl, "{}", 2, on_free_in_cb, &f);
  cs_loop_run(l);
  assert_int_equal(f.calls, 1);
  cs_loop_free(l);
  tsrv_stop(t);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  cs_labnet_add("127.0.0.0/8"); /* the local test servers count as public addresses */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reqparse),
      cmocka_unit_test(test_decode_and_mappings),
      cmocka_unit_test(test_request_build),
      cmocka_unit_test(test_hello),
      cmocka_unit_test(test_cli),
      cmocka_unit_test(test_measure_local_http),
      cmocka_unit_test(test_measure_user_agent),
      cmocka_unit_test(test_measure_localhost_dns),
      cmocka_unit_test(test_measure_refused),
      cmocka_unit_test(test_measure_nxdomain),
      cmocka_unit_test(test_dns_mappings_udp),
      cmocka_unit_test(test_measure_partial_body),
      cmocka_unit_test(test_bogons_not_dialled),
      cmocka_unit_test(test_max_conns),
      cmocka_unit_test(test_measure_tls_ok),
      cmocka_unit_test(test_measure_tls_wrong_host),
      cmocka_unit_test(test_bad_requests),
      cmocka_unit_test(test_oversized_body),
      cmocka_unit_test(test_pipelining),
      cmocka_unit_test(test_busy_503),
      cmocka_unit_test(test_slow_and_idle_clients),
      cmocka_unit_test(test_connection_close_and_continue),
      cmocka_unit_test(test_client_ok),
      cmocka_unit_test(test_client_failures),
      cmocka_unit_test(test_https_server_and_client),
      cmocka_unit_test(test_many_concurrent),
      cmocka_unit_test(test_client_vanishes),
      cmocka_unit_test(test_pool_pipelining),
      cmocka_unit_test(test_pool_server_closes_idle),
      cmocka_unit_test(test_pool_failures),
      cmocka_unit_test(test_pool_free_in_callback),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  cs_arena_free(ja);
  return rc;
}
