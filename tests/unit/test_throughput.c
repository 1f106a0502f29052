/* test_throughput.c - the helper's throughput server (src/helper/throughput.c) on loopback,
 * the real server on its own loop thread (tests/support/tput_srv.c): GET sizes 0..max and
 * over max, the body's incompressibility, POST sink (plain and TLS), /throughput/info with
 * two addresses, TLS with arbitrary SNI (a 255-byte name) and none, every refusal reason with
 * its status, header, body, count and log line (a /24 only, never the whole address), the
 * per-address byte and request allowances, connection caps per address and in total,
 * slowloris, a lying Content-Length, early close and reset by the client; and the query
 * parser directly. Only 127.0.0.1 and 127.0.0.2 are used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "helper/throughput.h"
#include "tput_srv.h"
#include "util/arena.h"
#include "util/json.h"

static cs_tput_opts base_opts(void) {
  cs_tput_opts o = {0};
  o.max_bytes = 1u << 20;
  o.head_timeout = 5;
  o.io_timeout = 5;
  return o;
}

static int fetch_str(uint16_t port, bool tls, const char *sni, const char *req, tput_resp *r) {
  return tput_fetch("127.0.0.1", port, tls, sni, req, strlen(req), 10, r);
}

static void get_n(uint16_t port, bool tls, const char *sni, uint64_t n, tput_resp *r) {
  char req[160];
  snprintf(req, sizeof req, "GET /throughput?bytes=%llu HTTP/1.1\r\nHost: t\r\n\r\n",
           (unsigned long long)n);
  assert_int_equal(fetch_str(port, tls, sni, req, r), 0);
}

static void assert_header(const tput_resp *r, const char *name, const char *want) {
  char *v = tput_resp_header(r, name);
  if (!want) {
    assert_null(v);
    return;
  }
  assert_non_null(v);
  assert_string_equal(v, want);
  free(v);
}

static void assert_refused(const tput_resp *r, int status, const char *reason) {
  assert_int_equal(r->status, status);
  assert_header(r, "X-Censorscope-Refused", reason);
  assert_header(r, "Connection", "close");
  char want[64];
  snprintf(want, sizeof want, "refused: %s: ", reason);
  assert_non_null(r->body);
  assert_true(strncmp((const char *)r->body, want, strlen(want)) == 0);
  /* one line */
  assert_true(r->body_len > 0 && r->body[r->body_len - 1] == '\n');
  assert_null(memchr(r->body, '\n', r->body_len - 1));
}

static uint64_t refused(tput_srv *s, cs_tput_reason why) { return tput_srv_stats(s).refused[why]; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* rcvbuf > 0: a fixed receive buffer (no autotuning: a reader that stops stalls quickly) */
static int raw_connect_buf(const char *ip, uint16_t port, int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

static int raw_connect(const char *ip, uint16_t port) { return raw_connect_buf(ip, port, 0); }

/* Waits until the server has at most n open connections (it notices closes asynchronously). */
static void wait_open_at_most(tput_srv *s, size_t n) {
  double until = now_s() + 5;
  while (tput_srv_stats(s).open_conns > n && now_s() < until) usleep(10000);
  assert_true(tput_srv_stats(s).open_conns <= n);
}

/* Waits until the server has accepted at least n connections in all. */
static void wait_accepted(tput_srv *s, uint64_t n) {
  double until = now_s() + 5;
  while (tput_srv_stats(s).connections < n && now_s() < until) usleep(5000);
  assert_true(tput_srv_stats(s).connections >= n);
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_query_parser(void **state) {
  (void)state;
  uint64_t n = 7;
#define Q(s) cs_tput_query_bytes((const uint8_t *)(s), strlen(s), &n)
  assert_int_equal(Q("bytes=123"), 1);
  assert_int_equal(n, 123);
  assert_int_equal(Q("nonce=abc&bytes=0"), 1);
  assert_int_equal(n, 0);
  assert_int_equal(Q("bytes=5&x"), 1);
  assert_int_equal(n, 5);
  assert_int_equal(Q("x=1"), 0);
  assert_int_equal(Q(""), 0);
  assert_int_equal(Q("bytes="), -1);
  assert_int_equal(Q("bytes=-1"), -1);
  assert_int_equal(Q("bytes=1e6"), -1);
  assert_int_equal(Q("bytes=1&bytes=2"), -1);
  assert_int_equal(Q("bytes=12345678901234567"), -1); /* 17 digits */
  assert_int_equal(Q("bytes=9999999999999999"), 1);
  assert_int_equal(n, 9999999999999999ull);
#undef Q
}

static void test_get_sizes(void **state) {
  (void)state;
  cs_tput_opts o = base_opts();
  tput_srv *s = tput_srv_start(&o, false);
  uint16_t p = tput_srv_port(s, 0);
  const uint64_t sizes[] = {0, 1, 1000, 65537, 1u << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    tput_resp r;
    get_n(p, false, NULL, sizes[i], &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, sizes[i]);
    char cl[32];
    snprintf(cl, sizeof cl, "%llu", (unsigned long long)sizes[i]);
    assert_header(&r, "Content-Length", cl);
    assert_header(&r, "Content-Type", "application/octet-stream");
    assert_header(&r, "Cache-Control", "no-store");
    assert_header(&r, "X-Censorscope-Refused", NULL);
    if (sizes[i] == 1u << 20) { /* incompressible: deflate cannot shrink it */
      uLongf zl = compressBound((uLong)r.body_len);
      uint8_t *z = malloc(zl);
      assert_int_equal(compress2(z, &zl, r.body, (uLong)r.body_len, 9), Z_OK);
      assert_true(zl >= r.body_len);
      free(z);
      /* and a second download is a different stream */
      tput_resp r2;
      get_n(p, false, NULL, sizes[i], &r2);
      assert_int_equal(r2.body_len, r.body_len);
      assert_true(memcmp(r.body, r2.body, 4096) != 0);
      tput_resp_free(&r2);
    }
    tput_resp_free(&r);
  }
  tput_resp r;
  get_n(p, false, NULL, (1u << 20) + 1, &r);
  assert_refused(&r, 413, "too-large");
  tput_resp_free(&r);
  cs_tput_stats st = tput_srv_stats(s);
  assert_int_equal(st.downloads, 6);
  assert_int_equal(st.bytes_sent, 1 + 1000 + 65537 + 2 * (1u << 20));
  assert_int_equal(st.refused[CS_TPUT_R_TOO_LARGE], 1);
  tput_srv_stop(s);
}

static void test_tls_any_sni(void **state) {
  (void)state;
  cs_tput_opts o = base_opts();
  tput_srv *s = tput_srv_start(&o, false);
  uint16_t p = tput_srv_port(s, 0);
  char longname[256];
  memset(longname, 'a', 255);
  for (int i = 63; i < 255; i += 64) longname[i] = '.';
  longname[255] = 0;
  const char *snis[] = {"twitter.com", "x7f3q-ctl.example", longname, NULL};
  for (size_t i = 0; i < 4; i++) {
    tput_resp r;
    get_n(p, true, snis[i], 200000, &r);
    assert_true(r.tls_ok);
    assert_string_equal(r.alpn, "http/1.1");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 200000);
    /* the start of a body comes in small records (a freeze after ~16 KB still shows bytes) */
    assert_true(r.max_read_64k > 0 && r.max_read_64k <= 4096);
    tput_resp_free(&r);
  }
  /* a refusal over TLS carries the same header */
  tput_resp r;
  get_n(p, true, "twitter.com", 5u << 20, &r);
  assert_refused(&r, 413, "too-large");
  tput_resp_free(&r);
  tput_srv_stop(s);
}

static void post_n(uint16_t port, bool tls, size_t n, tput_resp *r) {
  char head[160];
  int hl = snprintf(head, sizeof head,
                    "POST /throughput HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
  uint8_t *req = calloc(1, (size_t)hl + n);
  memcpy(req, head, (size_t)hl);
  for (size_t i = 0; i < n; i++) req[(size_t)hl + i] = (uint8_t)(i * 131u);
  assert_int_equal(tput_fetch("127.0.0.1", port, tls, "upload.example", req, (size_t)hl + n, 10, r),
                   0);
  free(req);
}

static void test_post_sink(void **state) {
  (void)state;
  cs_tput_opts o = base_opts();
  tput_srv *s = tput_srv_start(&o, false);
  uint16_t p = tput_srv_port(s, 0);
  cs_arena *a = cs_arena_new(1u << 20);
  const size_t sizes[] = {0, 10, 100000, 1u << 20};
  for (int tls = 0; tls < 2; tls++) {
    for (size_t i = 0; i < 4; i++) {
      tput_resp r;
      post_n(p, tls, sizes[i], &r);
      assert_int_equal(r.status, 200);
      assert_header(&r, "Content-Type", "application/json");
      char err[64];
      cs_jval *v = cs_json_parse(a, (const char *)r.body, r.body_len, NULL, err, sizeof err);
      assert_non_null(v);
      assert_true(cs_json_get_num(v, "received", -1) == (double)sizes[i]);
      double el = cs_json_get_num(v, "elapsed_ms", -1);
      assert_true(el >= 0 && el < 10000);
      tput_resp_free(&r);
    }
  }
  cs_tput_stats st = tput_srv_stats(s);
  assert_int_equal(st.uploads, 8);
  assert_int_equal(st.bytes_received, 2 * (10 + 100000 + (1u << 20)));
  /* over max: refused from the head alone, before the body is sent */
  tput_resp r;
  const char *big = "POST /throughput HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\n";
  assert_int_equal(fetch_str(p, false, NULL, big, &r), 0);
  assert_refused(&r, 413, "too-large");
  tput_resp_free(&r);
  /* no Content-Length, or chunked: 411 */
  assert_int_equal(fetch_str(p, false, NULL, "POST /throughput HTTP/1.1\r\nHost: t\r\n\r\n", &r),
                   0);
  assert_refused(&r, 411, "length-required");
  tput_resp_free(&r);
  assert_int_equal(fetch_str(p, true, "x.example",
                             "POST /throughput HTTP/1.1\r\nHost: t\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                             &r),
                   0);
  assert_refused(&r, 411, "length-required");
  tput_resp_free(&r);
  assert_int_equal(refused(s, CS_TPUT_R_LENGTH_REQUIRED), 2);
  cs_arena_free(a);
  tput_srv_stop(s);
}

static void test_info(void **state) {
  (void)state;
  cs_tput_opts o = base_opts();
  o.max_bytes = 123456;
  tput_srv *s = tput_srv_start(&o, true);
  cs_arena *a = cs_arena_new(1u << 20);
  for (int i = 0; i < 2; i++) {
    tput_resp r;
    const char *req = "GET /throughput/info HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(tput_fetch(i ? "127.0.0.2" : "127.0.0.1", tput_srv_port(s, i), i == 1, NULL,
                                req, strlen(req), 10, &r),
                     0);
    assert_int_equal(r.status, 200);
    char err[64];
    cs_jval *v = cs_json_parse(a, (const char *)r.body, r.body_len, NULL, err, sizeof err);
    assert_non_null(v);
    assert_int_equal(cs_json_get_int(v, "version", 0), 1);
    assert_true(cs_json_get_num(v, "max_bytes", 0) == 123456);
    const cs_jval *ad = cs_json_get_arr(v, "addresses");
    assert_non_null(ad);
    assert_int_equal(ad->len, 2);
    char want[2][32];
    snprintf(want[0], sizeof want[0], "127.0.0.1:%u", tput_srv_port(s, 0));
    snprintf(want[1], sizeof want[1], "127.0.0.2:%u", tput_srv_port(s, 1));
    assert_string_equal(ad->kids[0]->str, want[0]);
    assert_string_equal(ad->kids[1]->str, want[1]);
    tput_resp_free(&r);
  }
  /* not found and method not allowed are answers, not refusals */
  tput_resp r;
  assert_int_equal(
      fetch_str(tput_srv_port(s, 0), false, NULL, "GET /other HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
  assert_int_equal(r.status, 404);
  assert_header(&r, "X-Censorscope-Refused", NULL);
  tput_resp_free(&r);
  assert_int_equal(fetch_str(tput_srv_port(s, 0), false, NULL,
                             "PUT /throughput HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
                             &r),
                   0);
  assert_int_equal(r.status, 405);
  assert_header(&r, "Allow", "GET, POST");
  tput_resp_free(&r);
  cs_arena_free(a);
  tput_srv_stop(s);
}

static void test_bad_requests(void **state) {
  (void)state;
  cs_tput_opts o = base_opts();
  o.max_head = 512;
  tput_srv *s = tput_srv_start(&o, false);
  uint16_t p = tput_srv_port(s, 0);
  const char *bad[] = {
      "GET /throughput HTTP/1.1\r\nHost: t\r\n\r\n",                 /* no bytes=N */
      "GET /throughput?bytes=abc HTTP/1.1\r\nHost: t\r\n\r\n",       /* not a number */
      "GET /throughput?bytes= HTTP/1.1\r\nHost: t\r\n\r\n",          /* empty */
      "GET /throughput?bytes=1 HTTP/1.1\r\n\r\n",                    /* no Host (RFC 9112 §3.2) */
      "\x01\x02\x03 garbage\r\n\r\n",                                /* not HTTP */
      "GET /throughput?bytes=1 HTTP/1.1\r\nHost: t\r\n bad\r\n\r\n", /* obs-fold */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    tput_resp r;
    assert_int_equal(fetch_str(p, false, NULL, bad[i], &r), 0);
    assert_refused(&r, 400, "bad-request");
    tput_resp_free(&r);
  }
  assert_int_equal(refused(s, CS_TPUT_R_BAD_REQUEST), sizeof bad / sizeof *bad);
  /* a head over max_head: 413 too-large, without waiting for its end */
  char huge[2048];
  int n = snprintf(huge, sizeof huge, "GET /throughput?bytes=1 HTTP/1.1\r\nHost: t\r\nX-Pad: ");
  memset(huge + n, 'p', sizeof huge - (size_t)n - 1);
  huge[sizeof huge - 1] = 0;
  tput_resp r;
  assert_int_equal(fetch_str(p, false, NULL, huge, &r), 0);
  assert_refused(&r, 413, "too-large");
  tput_resp_free(&r);
  tput_srv_stop(s);
}

static void test_rate_limits(void **state) {
  (void)state;
  cs_tput_opts o = base_opts();
  o.bytes_per_min = 200000;
  tput_srv *s = tput_srv_start(&o, false);
  uint16_t p = tput_srv_port(s, 0);
  tput_resp r;
  get_n(p, false, NULL, 150000, &r);
  assert_int_equal(r.status, 200);
  tput_resp_free(&r);
  get_n(p, false, NULL, 100000, &r); /* admitted with 50000 left; goes 50000 into debt */
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body_len, 100000);
  tput_resp_free(&r);
  get_n(p, false, NULL, 1, &r); /* the debt takes ~15 s to repay */
  assert_refused(&r, 429, "rate-limit");
  assert_header(&r, "Retry-After", "60");
  tput_resp_free(&r);
  post_n(p, false, 10, &r); /* uploads count against the same allowance */
  assert_refused(&r, 429, "rate-limit");
  tput_resp_free(&r);
  assert_int_equal(refused(s, CS_TPUT_R_RATE_LIMIT), 2);
  tput_srv_stop(s);

  o = base_opts();
  o.requests_per_min = 3;
  s = tput_srv_start(&o, true);
  for (int i = 0; i < 4; i++) {
    get_n(tput_srv_port(s, 0), false, NULL, 10, &r);
    assert_int_equal(r.status, i < 3 ? 200 : 429);
    if (i == 3) assert_refused(&r, 429, "rate-limit");
    tput_resp_free(&r);
  }
  /* per client address: a client bound to 127.0.0.3 has its own allowance */
  const char *req = "GET /throughput?bytes=10 HTTP/1.1\r\nHost: t\r\n\r\n";
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in src = {0}, dst = {0};
  src.sin_family = dst.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.3", &src.sin_addr);
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  dst.sin_port = htons(tput_srv_port(s, 0));
  assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof src), 0);
  assert_int_equal(connect(fd, (struct sockaddr *)&dst, sizeof dst), 0);
  assert_true(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
  char buf[512];
  ssize_t got = recv(fd, buf, sizeof buf - 1, MSG_WAITALL);
  assert_true(got > 12);
  assert_true(strncmp(buf, "HTTP/1.1 200", 12) == 0);
  close(fd);
  tput_srv_stop(s);
}

static void test_conn_caps(void **state) {
  (void)state;
  cs_tput_opts o = base_opts();
  o.conns_per_addr = 2;
  tput_srv *s = tput_srv_start(&o, false);
  uint16_t p = tput_srv_port(s, 0);
  int idle[4];
  for (int i = 0; i < 2; i++) idle[i] = raw_connect("127.0.0.1", p);
  double until = now_s() + 5;
  while (tput_srv_stats(s).open_conns < 2 && now_s() < until) usleep(5000);
  tput_resp r;
  get_n(p, true, "x.example", 10, &r);
  assert_refused(&r, 429, "too-many-connections");
  tput_resp_free(&r);
  /* far over the cap (2x): closed at accept, without an answer, but counted */
  for (int i = 2; i < 4; i++) idle[i] = raw_connect("127.0.0.1", p);
  while (tput_srv_stats(s).open_conns < 4 && now_s() < until) usleep(5000);
  get_n(p, false, NULL, 10, &r);
  assert_int_equal(r.status, 0);
  tput_resp_free(&r);
  assert_int_equal(refused(s, CS_TPUT_R_TOO_MANY_CONNS), 2);
  for (int i = 0; i < 4; i++) close(idle[i]);
  wait_open_at_most(s, 0);
  get_n(p, false, NULL, 10, &r);
  assert_int_equal(r.status, 200);
  tput_resp_free(&r);
  tput_srv_stop(s);

  o = base_opts();
  o.max_conns = 3;
  s = tput_srv_start(&o, false);
  p = tput_srv_port(s, 0);
  for (int i = 0; i < 3; i++) idle[i] = raw_connect("127.0.0.1", p);
  until = now_s() + 5;
  while (tput_srv_stats(s).open_conns < 3 && now_s() < until) usleep(5000);
  get_n(p, false, NULL, 10, &r);
  assert_refused(&r, 429, "too-many-connections");
  tput_resp_free(&r);
  for (int i = 0; i < 3; i++) close(idle[i]);
  wait_open_at_most(s, 0);
  tput_srv_stop(s);
}

static void test_timeouts_and_hostile_clients(void **state) {
  (void)state;
  cs_tput_opts o = base_opts();
  o.head_timeout = 0.5;
  o.io_timeout = 0.5;
  tput_srv *s = tput_srv_start(&o, false);
  uint16_t p = tput_srv_port(s, 0);
  tput_resp r;
  /* a partial head: 408 timeout */
  double t0 = now_s();
  assert_int_equal(fetch_str(p, false, NULL, "GET /throughput?bytes=1 HTTP/1.1\r\nHo", &r), 0);
  assert_refused(&r, 408, "timeout");
  assert_true(now_s() - t0 < 4);
  tput_resp_free(&r);
  /* a lying Content-Length (announces 1000, sends 10): 408 timeout */
  assert_int_equal(fetch_str(p, false, NULL,
                             "POST /throughput HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n"
                             "0123456789",
                             &r),
                   0);
  assert_refused(&r, 408, "timeout");
  tput_resp_free(&r);
  /* a silent connection: closed, counted; also a TLS client that never finishes */
  assert_int_equal(fetch_str(p, false, NULL, "", &r), 0);
  assert_int_equal(r.status, 0);
  tput_resp_free(&r);
  int fd = raw_connect("127.0.0.1", p);
  assert_true(send(fd, "\x16\x03\x01", 3, MSG_NOSIGNAL) == 3);
  struct pollfd pf = {fd, POLLIN, 0};
  assert_int_equal(poll(&pf, 1, 4000), 1); /* the server gives up on us */
  close(fd);
  assert_int_equal(refused(s, CS_TPUT_R_TIMEOUT), 4);
  /* slowloris: one byte every 100 ms never completes a head within the deadline */
  fd = raw_connect("127.0.0.1", p);
  const char *req = "GET /throughput?bytes=1 HTTP/1.1\r\nHost: t\r\n\r\n";
  bool answered = false;
  for (size_t i = 0; i < strlen(req) && !answered; i++) {
    if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1) break;
    pf.revents = 0;
    answered = poll(&pf, 1, 100) == 1;
  }
  assert_true(answered);
  char buf[512] = {0};
  assert_true(recv(fd, buf, sizeof buf - 1, 0) > 0);
  assert_true(strncmp(buf, "HTTP/1.1 408", 12) == 0);
  assert_non_null(strstr(buf, "X-Censorscope-Refused: timeout"));
  close(fd);
  tput_srv_stop(s);
  /* early close and reset during a (64 MiB: more than the socket buffers hold) download:
   * counted as aborted, and the server carries on */
  o.max_bytes = 64u << 20;
  s = tput_srv_start(&o, false);
  p = tput_srv_port(s, 0);
  const char *g = "GET /throughput?bytes=67108864 HTTP/1.1\r\nHost: t\r\n\r\n";
  for (int mode = 0; mode < 2; mode++) {
    fd = raw_connect("127.0.0.1", p);
    assert_true(send(fd, g, strlen(g), MSG_NOSIGNAL) == (ssize_t)strlen(g));
    assert_true(recv(fd, buf, sizeof buf, MSG_WAITALL) == (ssize_t)sizeof buf);
    if (mode) {
      struct linger lg = {1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(fd);
  }
  wait_open_at_most(s, 0);
  assert_int_equal(tput_srv_stats(s).aborted, 2);
  /* a reader that stops reading: dropped after io_timeout, counted as a timeout */
  uint64_t to_before = refused(s, CS_TPUT_R_TIMEOUT);
  fd = raw_connect_buf("127.0.0.1", p, 8192);
  assert_true(send(fd, g, strlen(g), MSG_NOSIGNAL) == (ssize_t)strlen(g));
  wait_accepted(s, 3);
  wait_open_at_most(s, 0);
  assert_int_equal(refused(s, CS_TPUT_R_TIMEOUT), to_before + 1);
  close(fd);
  get_n(p, false, NULL, 1000, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body_len, 1000);
  tput_resp_free(&r);
  tput_srv_stop(s);
}

static void test_log_and_counts(void **state) {
  (void)state;
  cs_tput_opts o = base_opts();
  tput_srv *s = tput_srv_start(&o, false);
  uint16_t p = tput_srv_port(s, 0);
  tput_resp r;
  get_n(p, false, NULL, 99999999, &r);
  tput_resp_free(&r);
  assert_int_equal(fetch_str(p, false, NULL, "GET /throughput HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
  tput_resp_free(&r);
  char *log = tput_srv_log(s);
  assert_non_null(strstr(log, "refused too-large"));
  assert_non_null(strstr(log, "refused bad-request"));
  assert_non_null(strstr(log, "from 127.0.0.0/24"));
  assert_null(strstr(log, "127.0.0.1")); /* never the whole client address */
  free(log);
  cs_tput_stats st = tput_srv_stats(s);
  assert_int_equal(st.refused[CS_TPUT_R_TOO_LARGE], 1);
  assert_int_equal(st.refused[CS_TPUT_R_BAD_REQUEST], 1);
  assert_int_equal(st.requests, 2);
  /* the log is rate-limited: a flood of refusals logs a bounded number of lines */
  for (int i = 0; i < 40; i++) {
    get_n(p, false, NULL, 99999999, &r);
    assert_refused(&r, 413, "too-large");
    tput_resp_free(&r);
  }
  log = tput_srv_log(s);
  size_t lines = 0;
  for (const char *q = log; (q = strchr(q, '\n')); q++) lines++;
  assert_true(lines <= 20);
  free(log);
  st = tput_srv_stats(s);
  assert_int_equal(st.refused[CS_TPUT_R_TOO_LARGE], 41);
  assert_true(st.log_suppressed >= 22);
  for (int i = 0; i < CS_TPUT_NREASONS; i++)
    assert_string_not_equal(cs_tput_reason_name((cs_tput_reason)i), "unknown");
  tput_srv_stop(s);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_query_parser),
      cmocka_unit_test(test_get_sizes),
      cmocka_unit_test(test_tls_any_sni),
      cmocka_unit_test(test_post_sink),
      cmocka_unit_test(test_info),
      cmocka_unit_test(test_bad_requests),
      cmocka_unit_test(test_rate_limits),
      cmocka_unit_test(test_conn_caps),
      cmocka_unit_test(test_timeouts_and_hostile_clients),
      cmocka_unit_test(test_log_and_counts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
