/* test_fetch.c - the fetch flow (engine/fetch.h) against loopback servers, through its public
 * API only: redirect chains (301/302/307/308) with depth tags and Referer, max_redirects,
 * keep_unfollowable_redirect, broken Location values, DNS failure on a redirect hop, the
 * winner among several addresses (the first that works in resolver order, not the fastest),
 * HTTPS with the test PKI, and OONI's memoryless speed samples (speed_samples) of a slow
 * download. No root, no namespaces: every address is in 127.0.0.0/8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns_mock.h"
#include "engine/fetch.h"
#include "engine/tls.h"
#include "record/record.h"
#include "tcp_servers.h"
#include "util/ipnet.h"
#include "util/timeutil.h"

static tsrv_pki pki;

typedef struct {
  int calls;
  const char *failure, *failed_op, *final_url;
  int nredirects;
  const cs_http_rec *final;
} result;

static void on_done(void *arg, const cs_fetch_result *r) {
  result *res = arg;
  res->calls++;
  res->failure = r->failure; /* strings live in the trace (or are static) */
  res->failed_op = r->failed_op;
  res->final_url = r->final_url;
  res->nredirects = r->nredirects;
  res->final = r->final;
}

/* Runs one fetch to the end; the caller frees the trace. */
static cs_trace *fetch(const char *url, const cs_fetch_opts *o, result *res) {
  cs_loop *l = cs_loop_new();
  assert_non_null(l);
  cs_trace *t = cs_trace_new(cs_mono_now(), 0);
  assert_non_null(t);
  memset(res, 0, sizeof *res);
  cs_fetch *f = cs_fetch_start(l, t, url, o, on_done, res);
  assert_non_null(f);
  assert_int_equal(res->calls, 0); /* never called from inside cs_fetch_start */
  assert_int_equal(cs_loop_run(l), 0);
  cs_loop_free(l);
  assert_int_equal(res->calls, 1);
  return t;
}

/* A server answering every request with `status` and, when loc is set, a Location. */
static tsrv *http_server(int status, const char *loc, const char *body) {
  static char resp[8][1024];
  static int next;
  char *r = resp[next++ % 8];
  int n =
      snprintf(r, sizeof resp[0],
               "HTTP/1.1 %d X\r\n%s%s%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s", status,
               loc ? "Location: " : "", loc ? loc : "", loc ? "\r\n" : "", strlen(body), body);
  assert_true(n > 0 && (size_t)n < sizeof resp[0]);
  tsrv_cfg cfg = {.mode = TSRV_RESPOND, .resp = (const uint8_t *)r, .resp_len = (size_t)n};
  tsrv *s = tsrv_start(&cfg);
  assert_non_null(s);
  return s;
}

static bool has_tag(const cs_rec_common *c, const char *tag) {
  for (size_t i = 0; i < c->ntags; i++)
    if (!strcmp(c->tags[i], tag)) return true;
  return false;
}

static const cs_http_rec *request_at(const cs_trace *t, size_t i) {
  const cs_http_rec *r = t->requests.head;
  while (r && i--) r = r->next;
  if (!r) {
    fail_msg("no request %zu", i);
    abort(); /* not reached */
  }
  return r;
}

static const char *header(const cs_http_msg *m, const char *name) {
  static char v[512];
  for (size_t i = 0; i < m->nheaders; i++)
    if (!strcasecmp(m->headers[i].name, name)) {
      snprintf(v, sizeof v, "%.*s", (int)m->headers[i].value_len,
               (const char *)m->headers[i].value);
      return v;
    }
  return NULL;
}

/* 301 -> 302 -> 307 -> 308 -> 200 over five servers: every hop recorded once, tagged with its
 * depth, with the previous URL as Referer; the result names the last URL and response. */
static void test_redirect_chain(void **st) {
  (void)st;
  tsrv *s[5];
  static const int codes[] = {301, 302, 307, 308};
  char loc[5][64];
  s[4] = http_server(200, NULL, "<title>end</title>");
  for (int i = 3; i >= 0; i--) {
    snprintf(loc[i], sizeof loc[i], "http://127.0.0.1:%u/hop%d", tsrv_port(s[i + 1]), i + 1);
    s[i] = http_server(codes[i], loc[i], "");
  }
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(s[0]));
  cs_fetch_opts o = {.http_timeout = 5};
  result res;
  cs_trace *t = fetch(url, &o, &res);
  assert_null(res.failure);
  assert_null(res.failed_op);
  assert_int_equal(res.nredirects, 4);
  assert_string_equal(res.final_url, loc[3]);
  assert_non_null(res.final);
  assert_int_equal(res.final->code, 200);
  assert_int_equal(t->requests.n, 5);
  assert_int_equal(t->tcp.n, 5);
  assert_int_equal(t->queries.n, 0); /* IP literals: nothing resolved */
  assert_ptr_equal(res.final, t->requests.tail);
  const cs_tcp_rec *tc = t->tcp.head;
  for (int i = 0; i < 5; i++, tc = tc->next) {
    char depth[16];
    snprintf(depth, sizeof depth, "depth=%d", i);
    const cs_http_rec *r = request_at(t, (size_t)i);
    assert_int_equal(r->code, i < 4 ? codes[i] : 200);
    assert_null(r->failure);
    assert_string_equal(r->url, i == 0 ? url : loc[i - 1]);
    assert_true(has_tag(&tc->c, depth));
    assert_true(tc->success);
    assert_int_equal(tc->port, tsrv_port(s[i]));
    assert_int_equal(tsrv_connections(s[i]), 1);
    /* Referer: the URL that redirected here */
    const char *ref = header(&r->req, "Referer");
    if (i == 0) assert_null(ref);
    else assert_string_equal(ref, i == 1 ? url : loc[i - 2]);
    size_t len;
    const char *wire = tsrv_last_request(s[i], &len);
    char want[80];
    snprintf(want, sizeof want, "GET /%s%d HTTP/1.1\r\n", i ? "hop" : "", i);
    if (i == 0) snprintf(want, sizeof want, "GET / HTTP/1.1\r\n");
    assert_int_equal(strncmp(wire, want, strlen(want)), 0);
  }
  cs_trace_free(t);
  for (int i = 0; i < 5; i++) tsrv_stop(s[i]);
}

/* A redirect to itself (relative Location) is followed max_redirects times, then the round
 * trip whose redirect cannot be followed fails with Go's error and keeps its response. */
static void test_max_redirects(void **st) {
  (void)st;
  tsrv *s = http_server(302, "/again", "");
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/start", tsrv_port(s));
  cs_fetch_opts o = {.max_redirects = 3};
  result res;
  cs_trace *t = fetch(url, &o, &res);
  assert_string_equal(res.failure, "unknown_failure: stopped after too many redirects");
  assert_string_equal(res.failed_op, "http_round_trip");
  assert_int_equal(res.nredirects, 3);
  assert_int_equal(t->requests.n, 4);
  assert_int_equal(tsrv_connections(s), 4);
  const cs_http_rec *last = t->requests.tail;
  assert_ptr_equal(res.final, last);
  assert_int_equal(last->code, 302);
  assert_string_equal(last->failure, res.failure);
  for (size_t i = 0; i < 3; i++) assert_null(request_at(t, i)->failure);
  char again[64];
  snprintf(again, sizeof again, "http://127.0.0.1:%u/again", tsrv_port(s));
  assert_string_equal(res.final_url, again);
  assert_true(has_tag(&t->tcp.tail->c, "depth=3"));
  cs_trace_free(t);
  /* keep_unfollowable_redirect does not turn "too many redirects" into a success */
  cs_fetch_opts k = {.max_redirects = 1, .keep_unfollowable_redirect = true};
  t = fetch(url, &k, &res);
  assert_string_equal(res.failure, "unknown_failure: stopped after too many redirects");
  assert_int_equal(res.nredirects, 1);
  assert_int_equal(t->requests.n, 2);
  cs_trace_free(t);
  tsrv_stop(s);
}

/* Location values that cannot be followed: the fetch fails with
 * http_invalid_redirect_location_host on that round trip, or, with keep_unfollowable_redirect,
 * ends successfully with the 3xx as the final response. */
static void test_unfollowable_location(void **st) {
  (void)st;
  static const char *const bad[] = {
      "http://",             /* no host */
      "mailto:x@example",    /* not http(s) */
      "http://[2001:db8::1", /* unterminated IPv6 literal */
      "http://a b.example/", /* space in the host */
      "ftp://example.test/",
      "http://x:99999/", /* port out of range */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    tsrv *s = http_server(301, bad[i], "moved");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(s));
    cs_fetch_opts o = {0};
    result res;
    cs_trace *t = fetch(url, &o, &res);
    assert_string_equal(res.failure, "http_invalid_redirect_location_host");
    assert_string_equal(res.failed_op, "http_round_trip");
    assert_int_equal(res.nredirects, 0);
    assert_int_equal(t->requests.n, 1);
    assert_int_equal(res.final->code, 301);
    assert_string_equal(res.final->failure, "http_invalid_redirect_location_host");
    assert_string_equal(res.final_url, url);
    cs_trace_free(t);

    cs_fetch_opts k = {.keep_unfollowable_redirect = true};
    t = fetch(url, &k, &res);
    assert_null(res.failure);
    assert_null(res.failed_op);
    assert_int_equal(res.nredirects, 0);
    assert_int_equal(t->requests.n, 1);
    assert_int_equal(res.final->code, 301);
    assert_null(res.final->failure);
    assert_int_equal((int)res.final->resp.body_len, 5);
    assert_int_equal(tsrv_connections(s), 2);
    cs_trace_free(t);
    tsrv_stop(s);
  }
  /* a 3xx without Location is a final response (Go returns it as is) */
  tsrv *s = http_server(302, NULL, "");
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(s));
  cs_fetch_opts o = {0};
  result res;
  cs_trace *t = fetch(url, &o, &res);
  assert_null(res.failure);
  assert_int_equal(res.final->code, 302);
  assert_int_equal(res.nredirects, 0);
  cs_trace_free(t);
  tsrv_stop(s);
}

/* A redirect to a name is resolved with the configured resolver, at depth 1; an NXDOMAIN
 * there ends the fetch in "resolve". */
static void test_redirect_dns_failure(void **st) {
  (void)st;
  cs_dns_mock *m = cs_dns_mock_start(CS_DNS_MOCK_NXDOMAIN);
  assert_non_null(m);
  tsrv *s = http_server(302, "http://nx.example.test/x", "");
  char url[64], resolver[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(s));
  snprintf(resolver, sizeof resolver, "udp://127.0.0.1:%u", cs_dns_mock_port(m));
  cs_fetch_opts o = {.resolver = resolver, .dns_timeout = 2};
  result res;
  cs_trace *t = fetch(url, &o, &res);
  assert_string_equal(res.failure, "dns_nxdomain_error");
  assert_string_equal(res.failed_op, "resolve");
  assert_int_equal(res.nredirects, 1);
  assert_string_equal(res.final_url, "http://nx.example.test/x");
  assert_int_equal(t->requests.n, 1);
  assert_true(t->queries.n >= 1);
  for (const cs_query_rec *q = t->queries.head; q; q = q->next) {
    assert_string_equal(q->hostname, "nx.example.test");
    assert_string_equal(q->engine, "udp");
    assert_true(has_tag(&q->c, "depth=1"));
    assert_string_equal(q->failure, "dns_nxdomain_error");
  }
  assert_true(cs_dns_mock_udp_queries(m) >= 1);
  cs_trace_free(t);
  tsrv_stop(s);
  cs_dns_mock_stop(m);
}

/* A listener on 127.0.0.X:port that completes TCP handshakes (kernel backlog) and never
 * answers: connects to it succeed, requests over it stall. */
static int silent_listener(const char *ip, uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 8), 0);
  return fd;
}

/* Every address is dialled; the GET goes over the first that worked in resolver order. The
 * server listens on 127.0.0.1 only, so 127.0.0.2/.3 refuse, unless a silent listener is put
 * there. */
static void test_winner_selection(void **st) {
  (void)st;
  tsrv *s = http_server(200, NULL, "ok");
  uint16_t port = tsrv_port(s);
  char url[64];
  snprintf(url, sizeof url, "http://winner.test:%u/", port);
  cs_ip ips[3];
  cs_ip_parse("127.0.0.2", &ips[0]);
  cs_ip_parse("127.0.0.1", &ips[1]);
  cs_ip_parse("127.0.0.3", &ips[2]);
  /* refused, ok, refused: the one that works wins, whatever its position */
  cs_fetch_opts o = {.addrs = ips, .naddrs = 3, .http_timeout = 5};
  result res;
  cs_trace *t = fetch(url, &o, &res);
  assert_null(res.failure);
  assert_int_equal(res.final->code, 200);
  char want[32];
  snprintf(want, sizeof want, "127.0.0.1:%u", port);
  assert_string_equal(res.final->address, want);
  assert_int_equal(t->tcp.n, 3);
  assert_int_equal(t->queries.n, 0); /* preset addresses: nothing resolved */
  const cs_tcp_rec *r = t->tcp.head;
  assert_string_equal(r->ip, "127.0.0.2");
  assert_string_equal(r->failure, "connection_refused");
  assert_string_equal(r->next->ip, "127.0.0.1");
  assert_true(r->next->success);
  assert_string_equal(r->next->next->failure, "connection_refused");
  for (r = t->tcp.head; r; r = r->next) assert_true(has_tag(&r->c, "depth=0"));
  /* three distinct transaction ids */
  assert_true(t->tcp.head->c.transaction_id != t->tcp.head->next->c.transaction_id);
  cs_trace_free(t);

  /* every address refuses: the failure of the first one (resolver order) is the fetch's */
  cs_ip bad[2];
  cs_ip_parse("127.0.0.2", &bad[0]);
  cs_ip_parse("127.0.0.3", &bad[1]);
  cs_fetch_opts b = {.addrs = bad, .naddrs = 2};
  t = fetch(url, &b, &res);
  assert_string_equal(res.failure, "connection_refused");
  assert_string_equal(res.failed_op, "connect");
  assert_null(res.final);
  assert_int_equal(t->requests.n, 0);
  cs_trace_free(t);

  /* both connect: the earlier one in resolver order wins even though it never answers */
  int quiet = silent_listener("127.0.0.2", port);
  cs_fetch_opts q = {.addrs = ips, .naddrs = 2, .http_timeout = 0.5};
  double t0 = cs_mono_now();
  t = fetch(url, &q, &res);
  assert_true(cs_mono_now() - t0 < 5.0);
  assert_string_equal(res.failure, "generic_timeout_error");
  assert_string_equal(res.failed_op, "http_round_trip");
  snprintf(want, sizeof want, "127.0.0.2:%u", port);
  assert_string_equal(res.final->address, want);
  assert_int_equal(t->tcp.n, 2);
  assert_true(t->tcp.head->success && t->tcp.head->next->success);
  cs_trace_free(t);
  /* ...and the other order picks the answering server */
  cs_ip rev[2] = {ips[1], ips[0]};
  cs_fetch_opts v = {.addrs = rev, .naddrs = 2, .http_timeout = 5};
  t = fetch(url, &v, &res);
  assert_null(res.failure);
  assert_int_equal(res.final->code, 200);
  snprintf(want, sizeof want, "127.0.0.1:%u", port);
  assert_string_equal(res.final->address, want);
  cs_trace_free(t);
  close(quiet);

  /* skip_loopback leaves nothing to dial */
  cs_fetch_opts sl = {.addrs = ips, .naddrs = 3, .skip_loopback = true};
  t = fetch(url, &sl, &res);
  assert_string_equal(res.failure, "unknown_failure: no address to connect to");
  assert_string_equal(res.failed_op, "connect");
  assert_int_equal(t->tcp.n, 0);
  cs_trace_free(t);
  tsrv_stop(s);
}

/* HTTPS with the test PKI: the name of the URL is the SNI and is verified; a redirect from
 * https to http keeps the chain going; a certificate for another name fails the handshake. */
static void test_https(void **st) {
  (void)st;
  char err[128];
  cs_tls_ctx *tls = cs_tls_ctx_new(pki.ca_file, true, err, sizeof err);
  assert_non_null(tls);
  tsrv *plain = http_server(200, NULL, "plain");
  char loc[64];
  snprintf(loc, sizeof loc, "http://127.0.0.1:%u/down", tsrv_port(plain));
  static char resp[256];
  int n = snprintf(resp, sizeof resp,
                   "HTTP/1.1 308 Permanent\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n", loc);
  SSL_CTX *good = tsrv_server_ctx(&pki, "secure.test", TSRV_CERT_GOOD, "http/1.1");
  tsrv_cfg cfg = {
      .mode = TSRV_RESPOND, .resp = (const uint8_t *)resp, .resp_len = (size_t)n, .tls = good};
  tsrv *s = tsrv_start(&cfg);
  assert_non_null(s);
  char url[64];
  snprintf(url, sizeof url, "https://secure.test:%u/", tsrv_port(s));
  cs_ip lo;
  cs_ip_parse("127.0.0.1", &lo);
  cs_fetch_opts o = {.tls = tls, .addrs = &lo, .naddrs = 1, .http_timeout = 5};
  result res;
  cs_trace *t = fetch(url, &o, &res);
  assert_null(res.failure);
  assert_int_equal(res.nredirects, 1);
  assert_string_equal(res.final_url, loc);
  assert_int_equal(res.final->code, 200);
  assert_int_equal(t->tls.n, 1);
  const cs_tls_rec *h = t->tls.head;
  assert_null(h->failure);
  assert_string_equal(h->server_name, "secure.test");
  assert_string_equal(h->negotiated_protocol, "http/1.1");
  assert_true(has_tag(&h->c, "depth=0"));
  assert_true(h->npeer_certificates >= 1);
  assert_int_equal(request_at(t, 0)->code, 308);
  assert_string_equal(request_at(t, 0)->url, url);
  assert_true(has_tag(&t->tcp.tail->c, "depth=1"));
  cs_trace_free(t);

  /* an SNI override is what the server sees and what is verified */
  cs_fetch_opts sni = o;
  sni.sni = "other.test";
  t = fetch(url, &sni, &res);
  assert_string_equal(res.failure, "ssl_invalid_hostname");
  assert_string_equal(res.failed_op, "tls_handshake");
  assert_string_equal(t->tls.head->server_name, "other.test");
  assert_int_equal(t->requests.n, 0);
  cs_trace_free(t);
  tsrv_stop(s);
  SSL_CTX_free(good);

  /* a certificate from a CA nobody trusts */
  SSL_CTX *unknown = tsrv_server_ctx(&pki, "secure.test", TSRV_CERT_UNKNOWN_CA, "http/1.1");
  cfg.tls = unknown;
  s = tsrv_start(&cfg);
  assert_non_null(s);
  snprintf(url, sizeof url, "https://secure.test:%u/", tsrv_port(s));
  t = fetch(url, &o, &res);
  assert_string_equal(res.failure, "ssl_unknown_authority");
  assert_string_equal(res.failed_op, "tls_handshake");
  assert_null(res.final);
  cs_trace_free(t);
  tsrv_stop(s);
  SSL_CTX_free(unknown);
  tsrv_stop(plain);
  cs_tls_ctx_free(tls);
}

/* An input URL that does not parse fails in parse_url, without touching the network; a
 * cancelled fetch never calls back. */
static void test_bad_input_and_cancel(void **st) {
  (void)st;
  cs_fetch_opts o = {0};
  result res;
  cs_trace *t = fetch("gopher://x/", &o, &res);
  assert_string_equal(res.failed_op, "parse_url");
  assert_int_equal(strncmp(res.failure, "unknown_failure: ", 17), 0);
  assert_int_equal(t->tcp.n + t->queries.n + t->requests.n, 0);
  cs_trace_free(t);

  tsrv_cfg cfg = {.mode = TSRV_STALL};
  tsrv *s = tsrv_start(&cfg);
  assert_non_null(s);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(s));
  cs_loop *l = cs_loop_new();
  t = cs_trace_new(cs_mono_now(), 0);
  memset(&res, 0, sizeof res);
  cs_fetch *f = cs_fetch_start(l, t, url, &o, on_done, &res);
  assert_non_null(f);
  cs_fetch_cancel(f);
  assert_int_equal(cs_loop_run(l), 0);
  assert_int_equal(res.calls, 0);
  cs_loop_free(l);
  cs_trace_free(t);
  tsrv_stop(s);
}

static int setup(void **st) {
  (void)st;
  return tsrv_pki_init(&pki);
}
static int teardown(void **st) {
  (void)st;
  tsrv_pki_free(&pki);
  return 0;
}

/* ---- speed samples (speed_samples): OONI's memoryless bytes_received_cumulative --------- */

static void test_speed_wait_distribution(void **st) {
  (void)st;
  uint64_t rng = 0x1234567890abcdefULL;
  enum { N = 20000 };
  double sum = 0;
  int at_min = 0, at_max = 0;
  for (int i = 0; i < N; i++) {
    double w = cs_conn_speed_wait(&rng);
    assert_true(w >= CS_CONN_SPEED_MIN && w <= CS_CONN_SPEED_MAX);
    sum += w;
    at_min += w == CS_CONN_SPEED_MIN, at_max += w == CS_CONN_SPEED_MAX;
  }
  /* E[clamp(Exp(mean 0.25), 0.025, 0.65)] = 0.025 + 0.25 (e^-0.1 - e^-2.6) = 0.2326 (standard
   * error over N draws ~0.0013); P(min) = 1 - e^-0.1 = 0.095, P(max) = e^-2.6 = 0.074 */
  double mean = sum / N;
  assert_true(mean > 0.2226 && mean < 0.2426);
  assert_true(at_min > N * 0.08 && at_min < N * 0.11);
  assert_true(at_max > N * 0.06 && at_max < N * 0.09);
}

static void test_speed_samples(void **st) {
  (void)st;
  /* a slow sender: 45 000 body bytes in 30 pieces of 1500, 50 ms apart (~1.5 s) */
  enum { BODY = 45000, PIECE = 1500 };
  static char resp[BODY + 256];
  int h = snprintf(resp, sizeof resp,
                   "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", BODY);
  assert_true(h > 0);
  memset(resp + h, 'x', BODY);
  size_t total = (size_t)h + BODY;
  tsrv_cfg cfg = {.mode = TSRV_RESPOND,
                  .resp = (const uint8_t *)resp,
                  .resp_len = total,
                  .chunk = PIECE,
                  .chunk_delay_ms = 50};
  tsrv *s = tsrv_start(&cfg);
  assert_non_null(s);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/slow", tsrv_port(s));
  cs_fetch_opts o = {.speed_samples = true, .http_timeout = 20};
  result res;
  cs_trace *t = fetch(url, &o, &res);
  tsrv_stop(s);
  assert_null(res.failure);
  assert_non_null(res.final);
  assert_int_equal(res.final->resp.body_len, BODY);
  int64_t txid = res.final->c.transaction_id;
  assert_true(txid > 0);

  enum { MAXEV = 256 };
  double ts[MAXEV] = {0};
  int64_t bs[MAXEV] = {0};
  size_t n = 0;
  for (const cs_netevent_rec *e = t->events.head; e; e = e->next) {
    if (strcmp(e->operation, "bytes_received_cumulative") != 0) continue;
    assert_int_equal(e->c.transaction_id, txid); /* the fetch's transaction */
    assert_non_null(e->address);
    assert_string_equal(e->proto, "tcp");
    assert_null(e->failure);
    assert_true(e->c.t0 == e->c.t);
    assert_true(n < MAXEV);
    ts[n] = e->c.t, bs[n] = e->num_bytes, n++;
  }
  /* every wait is <= 0.65 s, so a ~1.5 s download has at least 2 ticks, plus the final one */
  assert_true(n >= 3);
  for (size_t i = 0; i < n; i++) {
    assert_true(bs[i] > 0); /* no sample before the first byte (OONI's empty map) */
    if (i == 0) continue;
    assert_true(ts[i] > ts[i - 1]);  /* in time order */
    assert_true(bs[i] >= bs[i - 1]); /* cumulative: monotonic */
    /* ticker samples (all but the final one, taken at close) are spaced by one clamped
     * wait: never below MIN (the timer never fires early; 5 ms for the loop iteration) and
     * above MAX only by scheduling delay (0.5 s of slack for a loaded machine) */
    if (i < n - 1) {
      double gap = ts[i] - ts[i - 1];
      assert_true(gap >= CS_CONN_SPEED_MIN - 0.005);
      assert_true(gap <= CS_CONN_SPEED_MAX + 0.5);
    }
  }
  assert_true(bs[0] < (int64_t)total);             /* the download was sampled while it ran */
  assert_int_equal(bs[n - 1], (int64_t)total);     /* the final sample: every byte read */
  assert_true(ts[n - 1] >= res.final->c.t - 1e-6); /* ... taken after the response was read */

  /* a connection that never received a byte records no sample (refused port) */
  cs_trace_free(t);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_closed_port());
  t = fetch(url, &o, &res);
  assert_non_null(res.failure);
  for (const cs_netevent_rec *e = t->events.head; e; e = e->next)
    assert_string_not_equal(e->operation, "bytes_received_cumulative");
  cs_trace_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_redirect_chain),        cmocka_unit_test(test_max_redirects),
      cmocka_unit_test(test_unfollowable_location), cmocka_unit_test(test_redirect_dns_failure),
      cmocka_unit_test(test_winner_selection),      cmocka_unit_test(test_https),
      cmocka_unit_test(test_bad_input_and_cancel),  cmocka_unit_test(test_speed_wait_distribution),
      cmocka_unit_test(test_speed_samples),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
