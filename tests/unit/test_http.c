/* test_http.c - the HTTP/1.1 GET step against loopback servers: the request on the wire and
 * as recorded, 200 with a title, chunked, gzip, a body over 1<<19 (truncation), a truncated
 * body, garbage, EOF before the head, RST, stalls (before and mid-body), a 302 loop hop with
 * Location parsing, and HTTPS over the TLS filter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "engine/conn.h"
#include "engine/http.h"
#include "engine/tls.h"
#include "record/record.h"
#include "tcp_servers.h"
#include "util/timeutil.h"

typedef struct {
  cs_loop *l;
  cs_trace *t;
  cs_conn *c;
  cs_http_req req;
  cs_tls_ctx *tls; /* non-NULL: TLS handshake first */
  const char *hfail;
  const cs_http_rec *rec;
  int calls;
} ctx_t;

static void on_http(cs_conn *c, const cs_http_rec *rec, const char *failure, void *data) {
  ctx_t *x = data;
  assert_ptr_equal(c, x->c);
  x->calls++;
  x->hfail = failure;
  x->rec = rec;
  cs_conn_free(c); /* the conn is consumed: free it right here */
  x->c = NULL;
}

static void get(ctx_t *x) {
  assert_int_equal(cs_http_get(x->c, &x->req, on_http, x), 0);
  assert_int_equal(x->calls, 0);
}

static void on_tls(cs_conn *c, const cs_tls_rec *rec, const char *failure, void *data) {
  (void)c, (void)rec;
  assert_null(failure);
  get(data);
}

static void on_connect(cs_conn *c, const char *failure, void *data) {
  ctx_t *x = data;
  assert_null(failure);
  if (x->tls) {
    static const char *const h1[] = {"http/1.1"};
    cs_tls_opts o = {.sni = "test.example", .alpn = h1, .nalpn = 1};
    assert_int_equal(cs_tls_handshake(c, x->tls, &o, on_tls, x), 0);
  } else {
    get(x);
  }
}

static void run(ctx_t *x, uint16_t port) {
  x->l = cs_loop_new();
  x->t = cs_trace_new(cs_mono_now(), 0);
  if (!x->req.url) x->req.url = "http://example.com/";
  if (!x->req.host) x->req.host = "example.com";
  cs_ip ip;
  cs_ip_parse("127.0.0.1", &ip);
  cs_conn_opts o = {.transaction_id = 40001};
  x->c = cs_conn_connect(x->l, x->t, &ip, port, &o, on_connect, x);
  assert_int_equal(cs_loop_run(x->l), 0);
  assert_int_equal(x->calls, 1);
  assert_int_equal(x->t->requests.n, 1);
  assert_ptr_equal(x->rec, x->t->requests.head);
}

static void done(ctx_t *x) {
  cs_conn_free(x->c);
  cs_trace_free(x->t);
  cs_loop_free(x->l);
}

static tsrv *serve(const char *resp, size_t len, bool stall_after) {
  tsrv_cfg cfg = {.mode = TSRV_RESPOND,
                  .resp = (const uint8_t *)resp,
                  .resp_len = len,
                  .stall_after = stall_after};
  return tsrv_start(&cfg);
}

static void assert_hdr(const cs_http_msg *m, size_t i, const char *name, const char *value) {
  assert_true(i < m->nheaders);
  assert_string_equal(m->headers[i].name, name);
  assert_int_equal(m->headers[i].value_len, strlen(value));
  assert_memory_equal(m->headers[i].value, value, strlen(value));
}

static size_t count_events(const cs_trace *t, const char *op) {
  size_t n = 0;
  for (const cs_netevent_rec *e = t->events.head; e; e = e->next)
    if (!strcmp(e->operation, op)) n++;
  return n;
}

static const cs_netevent_rec *find_event_or_null(const cs_trace *t, const char *op,
                                                 const char *failure) {
  for (const cs_netevent_rec *e = t->events.head; e; e = e->next)
    if (!strcmp(e->operation, op) && (!failure || (e->failure && !strcmp(e->failure, failure))))
      return e;
  return NULL;
}

__attribute__((returns_nonnull)) static const cs_netevent_rec *
find_event(const cs_trace *t, const char *op, const char *failure) {
  const cs_netevent_rec *e = find_event_or_null(t, op, failure);
  if (!e) {
    fail_msg("no event %s", op);
    abort();
  }
  return e;
}

static void test_ok_with_title(void **st) {
  (void)st;
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nServer: test\r\nContent-Type: text/html\r\nSet-Cookie: a=1\r\n"
      "set-cookie: b=2\r\nContent-Length: 44\r\n\r\n<html><title>Test "
      "Page</title></html>\n\n\n\n\n\n\n";
  tsrv *s = serve(resp, strlen(resp), false);
  ctx_t x = {
      .req = {
          .url = "http://example.com/a?b", .host = "example.com", .target = "/a?b", .referer = ""}};
  run(&x, tsrv_port(s));
  assert_null(x.hfail);
  const cs_http_rec *r = x.rec;
  /* the request on the wire, in this exact order */
  const char *want_wire =
      "GET /a?b HTTP/1.1\r\nHost: example.com\r\nUser-Agent: " CS_HTTP_USER_AGENT "\r\n"
      "Accept: " CS_HTTP_ACCEPT "\r\nAccept-Language: " CS_HTTP_ACCEPT_LANGUAGE "\r\n"
      "Referer: \r\nAccept-Encoding: gzip\r\n\r\n";
  assert_string_equal(tsrv_last_request(s, NULL), want_wire);
  /* ... and as recorded */
  assert_string_equal(r->network, "tcp");
  char addr[32];
  snprintf(addr, sizeof addr, "127.0.0.1:%u", tsrv_port(s));
  assert_string_equal(r->address, addr);
  assert_string_equal(r->alpn, "");
  assert_string_equal(r->url, "http://example.com/a?b");
  assert_string_equal(r->method, "GET");
  assert_int_equal(r->c.transaction_id, 40001);
  assert_int_equal(r->req.nheaders, 6);
  assert_hdr(&r->req, 0, "Host", "example.com");
  assert_hdr(&r->req, 1, "User-Agent", CS_HTTP_USER_AGENT);
  assert_hdr(&r->req, 2, "Accept", CS_HTTP_ACCEPT);
  assert_hdr(&r->req, 3, "Accept-Language", CS_HTTP_ACCEPT_LANGUAGE);
  assert_hdr(&r->req, 4, "Referer", "");
  assert_hdr(&r->req, 5, "Accept-Encoding", "gzip");
  assert_int_equal(r->code, 200);
  assert_int_equal(r->resp.nheaders, 5);
  assert_hdr(&r->resp, 0, "Server", "test");
  assert_hdr(&r->resp, 2, "Set-Cookie", "a=1");
  assert_hdr(&r->resp, 3, "set-cookie", "b=2");
  assert_hdr(&r->resp, 4, "Content-Length", "44");
  assert_int_equal(r->resp.body_len, 44);
  assert_false(r->resp.body_is_truncated);
  assert_string_equal(cs_http_rec_title(x.t, r), "Test Page");
  bool redir = true;
  assert_null(cs_http_location(x.t, r, &redir));
  assert_false(redir);
  assert_true(r->c.t >= r->c.t0);
  /* events: connect, start, write (the whole request), reads, done */
  assert_int_equal(count_events(x.t, "http_transaction_start"), 1);
  assert_int_equal(count_events(x.t, "http_transaction_done"), 1);
  assert_int_equal(count_events(x.t, "write"), 1);
  assert_int_equal(find_event(x.t, "write", NULL)->num_bytes, (int64_t)strlen(want_wire));
  int64_t rsum = 0;
  for (const cs_netevent_rec *e = x.t->events.head; e; e = e->next)
    if (!strcmp(e->operation, "read")) rsum += e->num_bytes;
  assert_int_equal(rsum, (int64_t)strlen(resp));
  done(&x);
  tsrv_stop(s);
}

/* The recorded transaction as OONI JSON (df-001): headers_list in wire order, the first
 * value per key in headers, a binary body as base64. */
static void test_json_record(void **st) {
  (void)st;
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 3\r\n\r\n\xff\x00\x01";
  tsrv *s = serve(resp, sizeof resp - 1, false);
  ctx_t x = {.req = {.user_agent = "", .no_gzip = true}};
  run(&x, tsrv_port(s));
  assert_null(x.hfail);
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_write_http(&w, x.rec);
  const char *j = cs_buf_cstr(&b);
  assert_non_null(strstr(j,
                         "\"request\":{\"body\":\"\",\"body_is_truncated\":false,\"headers_list\":"
                         "[[\"Host\",\"example.com\"],[\"Accept\","));
  assert_null(strstr(j, "User-Agent"));      /* "" omits it */
  assert_null(strstr(j, "Accept-Encoding")); /* no_gzip */
  assert_non_null(strstr(j, "\"response\":{\"body\":{\"format\":\"base64\",\"data\":\"/wAB\"}"));
  assert_non_null(
      strstr(j, "\"headers_list\":[[\"X-A\",\"1\"],[\"x-a\",\"2\"],[\"Content-Length\",\"3\"]]"));
  assert_non_null(strstr(j, "\"headers\":{\"X-A\":\"1\",\"Content-Length\":\"3\"}"));
  assert_non_null(strstr(j, "\"code\":200"));
  assert_non_null(strstr(j, "\"failure\":null"));
  assert_non_null(strstr(j, "\"transaction_id\":40001"));
  cs_buf_free(&b);
  done(&x);
  tsrv_stop(s);
}

static void test_chunked(void **st) {
  (void)st;
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "7;ext=1\r\n<title>\r\n4\r\nABCD\r\n8\r\n</title>\r\n0\r\nX-T: 1\r\n\r\n";
  tsrv *s = serve(resp, strlen(resp), true); /* keep-alive: done at the last chunk, not at EOF */
  ctx_t x = {0};
  run(&x, tsrv_port(s));
  assert_null(x.hfail);
  assert_int_equal(x.rec->resp.body_len, 19);
  assert_memory_equal(x.rec->resp.body, "<title>ABCD</title>", 19);
  assert_string_equal(cs_http_rec_title(x.t, x.rec), "ABCD");
  done(&x);
  tsrv_stop(s);
}

static void test_gzip(void **st) {
  (void)st;
  const char *text = "<html><title>gzipped</title>hello hello hello hello</html>";
  uint8_t z[512];
  z_stream zs = {0};
  deflateInit2(&zs, 9, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY);
  zs.next_in = (Bytef *)(uintptr_t)text;
  zs.avail_in = (uInt)strlen(text);
  zs.next_out = z;
  zs.avail_out = sizeof z;
  assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
  size_t zl = zs.total_out;
  deflateEnd(&zs);
  char resp[1024];
  int hl = snprintf(resp, sizeof resp,
                    "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", zl);
  memcpy(resp + hl, z, zl);
  tsrv *s = serve(resp, (size_t)hl + zl, false);
  ctx_t x = {0};
  run(&x, tsrv_port(s));
  assert_null(x.hfail);
  assert_int_equal(x.rec->resp.body_len, strlen(text));
  assert_memory_equal(x.rec->resp.body, text, strlen(text));
  assert_hdr(&x.rec->resp, 0, "Content-Encoding", "gzip");
  done(&x);
  tsrv_stop(s);
}

static void test_large_body_truncated(void **st) {
  (void)st;
  size_t blen = CS_HTTP_BODY_CAP + 100000;
  char head[100];
  int hl = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", blen);
  char *resp = malloc((size_t)hl + blen);
  memcpy(resp, head, (size_t)hl);
  memset(resp + hl, 'b', blen);
  tsrv *s = serve(resp, (size_t)hl + blen, true);
  free(resp);
  ctx_t x = {0};
  run(&x, tsrv_port(s));
  assert_null(x.hfail);
  assert_int_equal(x.rec->code, 200);
  assert_true(x.rec->resp.body_is_truncated);
  assert_int_equal(x.rec->resp.body_len, CS_HTTP_BODY_CAP);
  done(&x);
  tsrv_stop(s);
}

static void test_truncated_body(void **st) {
  (void)st;
  static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this";
  tsrv *s = serve(resp, strlen(resp), false);
  ctx_t x = {0};
  run(&x, tsrv_port(s));
  assert_string_equal(x.hfail, "unknown_failure: unexpected EOF");
  assert_string_equal(x.rec->failure, "unknown_failure: unexpected EOF");
  assert_int_equal(x.rec->code, 200);
  assert_int_equal(x.rec->resp.body_len, 9);
  done(&x);
  tsrv_stop(s);
}

static void test_garbage(void **st) {
  (void)st;
  static const char resp[] = "garbage\r\n\r\n";
  tsrv *s = serve(resp, strlen(resp), false);
  ctx_t x = {0};
  run(&x, tsrv_port(s));
  assert_string_equal(x.hfail, "unknown_failure: malformed HTTP response \"garbage\"");
  assert_int_equal(x.rec->code, 0);
  assert_int_equal(x.rec->resp.nheaders, 0);
  done(&x);
  tsrv_stop(s);
}

static void test_eof_before_head(void **st) {
  (void)st;
  static const char resp[] = "HTTP/1.1 200 OK\r\nServer: x\r\n";
  tsrv *s = serve(resp, strlen(resp), false);
  ctx_t x = {0};
  run(&x, tsrv_port(s));
  assert_string_equal(x.hfail, "eof_error");
  assert_int_equal(x.rec->code, 0);
  done(&x);
  tsrv_stop(s);
  tsrv_cfg cfg = {.mode = TSRV_FIN};
  s = tsrv_start(&cfg);
  ctx_t y = {0};
  run(&y, tsrv_port(s));
  assert_string_equal(y.hfail, "eof_error");
  assert_non_null(find_event(y.t, "read", "eof_error"));
  done(&y);
  tsrv_stop(s);
}

static void test_reset(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_RST};
  tsrv *s = tsrv_start(&cfg);
  ctx_t x = {0};
  run(&x, tsrv_port(s));
  assert_string_equal(x.hfail, "connection_reset");
  assert_null(find_event(x.t, "http_transaction_done", NULL)->failure); /* annotation */
  assert_string_equal(find_event(x.t, "read", NULL)->failure, "connection_reset");
  done(&x);
  tsrv_stop(s);
}

static void test_stall(void **st) {
  (void)st;
  /* no answer at all */
  tsrv_cfg cfg = {.mode = TSRV_STALL};
  tsrv *s = tsrv_start(&cfg);
  ctx_t x = {.req = {.timeout = 0.3}};
  double t0 = cs_mono_now();
  run(&x, tsrv_port(s));
  assert_true(cs_mono_now() - t0 >= 0.29);
  assert_string_equal(x.hfail, "generic_timeout_error");
  assert_int_equal(x.rec->code, 0);
  const cs_netevent_rec *rd = find_event(x.t, "read", "generic_timeout_error");
  assert_true(rd->c.t - rd->c.t0 >= 0.25); /* t0 = when the wait began */
  assert_true(x.rec->c.t - x.rec->c.t0 >= 0.29);
  done(&x);
  tsrv_stop(s);
  /* head and part of the body, then silence */
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<title>partial</title>";
  s = serve(resp, strlen(resp), true);
  ctx_t y = {.req = {.timeout = 0.3}};
  run(&y, tsrv_port(s));
  assert_string_equal(y.hfail, "generic_timeout_error");
  assert_int_equal(y.rec->code, 200);
  assert_int_equal(y.rec->resp.nheaders, 1);
  assert_int_equal(y.rec->resp.body_len, 22);
  done(&y);
  tsrv_stop(s);
}

static void test_redirect_loop_hop(void **st) {
  (void)st;
  static const char resp[] =
      "HTTP/1.1 302 Found\r\nLocation: http://example.com/loop\r\nContent-Length: 0\r\n\r\n";
  tsrv *s = serve(resp, strlen(resp), true);
  ctx_t x = {.req = {.url = "http://example.com/loop", .target = "/loop"}};
  run(&x, tsrv_port(s));
  assert_null(x.hfail);
  assert_int_equal(x.rec->code, 302);
  bool redir = false;
  const char *loc = cs_http_location(x.t, x.rec, &redir);
  assert_true(redir);
  assert_string_equal(loc, "http://example.com/loop");
  assert_string_equal(loc, x.rec->url); /* a loop: the caller must count hops */
  done(&x);
  tsrv_stop(s);
  /* a redirect without Location */
  static const char resp2[] = "HTTP/1.1 307 Temporary Redirect\r\nContent-Length: 0\r\n\r\n";
  s = serve(resp2, strlen(resp2), false);
  ctx_t y = {0};
  run(&y, tsrv_port(s));
  redir = false;
  assert_null(cs_http_location(y.t, y.rec, &redir));
  assert_true(redir);
  done(&y);
  tsrv_stop(s);
}

static void test_bad_request_args(void **st) {
  (void)st;
  ctx_t x = {0};
  x.l = cs_loop_new();
  x.t = cs_trace_new(cs_mono_now(), 0);
  cs_ip ip;
  cs_ip_parse("127.0.0.1", &ip);
  x.c = cs_conn_connect(x.l, x.t, &ip, tsrv_closed_port(), NULL, on_connect, &x);
  cs_http_req q = {.url = "http://x/", .host = "x\r\nInjected: 1"};
  assert_int_equal(cs_http_get(x.c, &q, on_http, &x), -1); /* CRLF injection refused */
  cs_http_req q2 = {.url = "http://x/", .host = "x", .target = "/a b"};
  assert_int_equal(cs_http_get(x.c, &q2, on_http, &x), -1);
  cs_http_req q3 = {.url = "http://x/", .host = "x"};
  assert_int_equal(cs_http_get(x.c, &q3, on_http, &x), -1); /* not connected yet */
  assert_int_equal(x.t->requests.n, 0);                     /* nothing recorded */
  cs_conn_free(x.c);
  x.c = NULL;
  cs_loop_run(x.l);
  done(&x);
}

static void test_https(void **st) {
  (void)st;
  tsrv_pki pki;
  assert_int_equal(tsrv_pki_init(&pki), 0);
  cs_tls_ctx *cx = cs_tls_ctx_new(pki.ca_file, true, NULL, 0);
  assert_non_null(cx);
  SSL_CTX *sctx = tsrv_server_ctx(&pki, "test.example", TSRV_CERT_GOOD, "http/1.1");
  static const char resp[] = "HTTP/1.1 200 OK\r\n\r\n<title>secure</title>"; /* until close */
  tsrv_cfg cfg = {
      .mode = TSRV_RESPOND, .tls = sctx, .resp = (const uint8_t *)resp, .resp_len = strlen(resp)};
  tsrv *s = tsrv_start(&cfg);
  SSL_CTX_free(sctx);
  ctx_t x = {.tls = cx, .req = {.url = "https://test.example/", .host = "test.example"}};
  run(&x, tsrv_port(s));
  assert_null(x.hfail);
  assert_string_equal(x.rec->alpn, "http/1.1");
  assert_int_equal(x.rec->code, 200);
  assert_string_equal(cs_http_rec_title(x.t, x.rec), "secure");
  assert_int_equal(x.t->tls.n, 1);
  const char *wire = tsrv_last_request(s, NULL);
  assert_true(strncmp(wire, "GET / HTTP/1.1\r\nHost: test.example\r\n", 36) == 0);
  done(&x);
  tsrv_stop(s);
  cs_tls_ctx_free(cx);
  tsrv_pki_free(&pki);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ok_with_title),
      cmocka_unit_test(test_json_record),
      cmocka_unit_test(test_chunked),
      cmocka_unit_test(test_gzip),
      cmocka_unit_test(test_large_body_truncated),
      cmocka_unit_test(test_truncated_body),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_eof_before_head),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_stall),
      cmocka_unit_test(test_redirect_loop_hop),
      cmocka_unit_test(test_bad_request_args),
      cmocka_unit_test(test_https),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
