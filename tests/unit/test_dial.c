/* test_dial.c - the dialer (engine/dial.h) against loopback listeners and the TLS servers of
 * tcp_servers.c: parallel vs sequential, the first success in the given order wins, refused
 * and timed-out addresses, skipped addresses, endpoint strings (incl. [::1]:port), SNI none vs
 * custom (as seen by the server), no_verify with a bad certificate (chain still recorded),
 * ALPN, and the read observer seeing growing byte counts while the connection lives; the
 * fetch flow on the dialer: its samples surviving the fetch on request, its observer, and
 * no_verify passed through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/dial.h"
#include "engine/fetch.h"
#include "engine/tls.h"
#include "record/record.h"
#include "tcp_servers.h"
#include "util/timeutil.h"

#define HOST "test.example"

static tsrv_pki g_pki;
static cs_tls_ctx *g_ctx;

typedef struct {
  cs_loop *l;
  cs_trace *t;
  cs_dial *d;
  int calls;
  cs_conn *c;
  const char *failure, *failed_op;
  cs_dial_result r;
  char addr[64]; /* the winner's address */
} dx;

static void on_dial(void *arg, cs_conn *c, const char *failure, const cs_dial_result *r) {
  dx *x = arg;
  x->calls++;
  x->c = c, x->failure = failure, x->failed_op = r->failed_op, x->r = *r;
  x->d = NULL;
  if (c) snprintf(x->addr, sizeof x->addr, "%s", cs_conn_address(c));
  assert_true((c == NULL) == (failure != NULL));
}

static void dial(dx *x, const cs_dial_opts *o) {
  x->l = cs_loop_new();
  x->t = cs_trace_new(cs_mono_now(), 0);
  assert_non_null(x->l);
  assert_non_null(x->t);
  x->d = cs_dial_start(x->l, x->t, o, on_dial, x);
  assert_non_null(x->d);
  assert_int_equal(x->calls, 0); /* never from inside cs_dial_start */
  assert_int_equal(cs_loop_run(x->l), 0);
  assert_int_equal(x->calls, 1);
}

static void dx_free(dx *x) {
  cs_conn_free(x->c);
  cs_dial_cancel(x->d);
  cs_trace_free(x->t);
  cs_loop_free(x->l);
}

static cs_ip ip4(const char *s) {
  cs_ip ip;
  assert_true(cs_ip_parse(s, &ip));
  return ip;
}

static size_t ntcp(const cs_trace *t) { return t->tcp.n; }

/* A listener on ip:port that never accepts: the kernel completes connects while its queue has
 * room (a connect succeeds); with full_queue, the queue is filled and SYNs are dropped (a
 * connect times out). port 0: ephemeral. Returns the fd, -1 when ip cannot be bound. */
static int fill[4];
static int listener(const char *ip, uint16_t *port, bool full_queue) {
  cs_ip a = ip4(ip);
  struct sockaddr_storage ss;
  socklen_t sl = cs_ip_to_sockaddr(&a, *port, &ss);
  int fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, full_queue ? 0 : 16) < 0) {
    close(fd);
    return -1;
  }
  sl = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &sl);
  cs_ip_from_sockaddr((struct sockaddr *)&ss, &a, port);
  if (full_queue) {
    for (int i = 0; i < 4; i++) { /* non-blocking: the later ones just hang */
      fill[i] = socket(a.family, SOCK_STREAM | SOCK_NONBLOCK, 0);
      (void)connect(fill[i], (struct sockaddr *)&ss, sl);
    }
    usleep(50000);
  }
  return fd;
}
static void unfill(void) {
  for (int i = 0; i < 4; i++) close(fill[i]);
}

/* ---- TCP: parallel / sequential --------------------------------------------------------- */

static void test_parallel_first_success_in_order(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_STALL};
  tsrv *s = tsrv_start(&cfg);
  uint16_t port = tsrv_port(s); /* 127.0.0.1 */
  uint16_t p3 = port;
  int l3 = listener("127.0.0.3", &p3, false); /* same port, another loopback address */
  assert_true(l3 >= 0);
  /* 127.0.0.2:port refuses; .1 and .3 both connect: the first in the given order wins */
  cs_ip addrs[] = {ip4("127.0.0.2"), ip4("127.0.0.3"), ip4("127.0.0.1")};
  const char *tags[] = {"depth=0"};
  cs_dial_opts o = {.addrs = addrs,
                    .naddrs = 3,
                    .port = port,
                    .mode = CS_DIAL_PARALLEL,
                    .transaction_id = CS_DIAL_TXID_NEW,
                    .tags = tags,
                    .ntags = 1};
  dx x = {0};
  dial(&x, &o);
  assert_null(x.failure);
  assert_int_equal(x.r.index, 1);
  assert_int_equal(x.r.nattempts, 3);
  char want[40];
  snprintf(want, sizeof want, "127.0.0.3:%u", port);
  assert_string_equal(x.addr, want);
  /* every address was measured, in order, each with its own transaction id and the tag */
  assert_int_equal(ntcp(x.t), 3);
  const cs_tcp_rec *r = x.t->tcp.head;
  int64_t ids[3];
  for (int i = 0; i < 3; i++, r = r->next) {
    ids[i] = r->c.transaction_id;
    assert_int_equal(r->c.ntags, 1);
    assert_string_equal(r->c.tags[0], "depth=0");
    if (!strcmp(r->ip, "127.0.0.2")) {
      assert_string_equal(r->failure, "connection_refused");
      assert_int_equal(ids[i], 1);
    } else {
      assert_null(r->failure);
      assert_int_equal(ids[i], !strcmp(r->ip, "127.0.0.3") ? 2 : 3);
    }
  }
  dx_free(&x);
  close(l3);
  tsrv_stop(s);
}

static void test_parallel_all_fail_first_failure(void **st) {
  (void)st;
  uint16_t port = 0;
  int lt = listener("127.0.0.1", &port, true); /* full queue: connects time out */
  assert_true(lt >= 0);
  cs_ip addrs[] = {ip4("127.0.0.1"), ip4("127.0.0.2")}; /* timeout, refused */
  cs_dial_opts o = {.addrs = addrs, .naddrs = 2, .port = port, .tcp_timeout = 0.3};
  dx x = {0};
  double t0 = cs_mono_now();
  dial(&x, &o);
  double dt = cs_mono_now() - t0;
  /* the dial waited for every attempt and reports the first address's failure */
  assert_string_equal(x.failure, "generic_timeout_error");
  assert_string_equal(x.failed_op, "connect");
  assert_null(x.c);
  assert_true(dt >= 0.29 && dt < 3.0);
  assert_int_equal(ntcp(x.t), 2);
  dx_free(&x);
  /* two addresses that time out: at once in parallel (~0.3 s), one after the other in
   * sequence (~0.6 s) */
  cs_ip two[] = {ip4("127.0.0.1"), ip4("127.0.0.1")};
  cs_dial_opts p = {.addrs = two, .naddrs = 2, .port = port, .tcp_timeout = 0.3};
  dx y = {0};
  t0 = cs_mono_now();
  dial(&y, &p);
  dt = cs_mono_now() - t0;
  assert_string_equal(y.failure, "generic_timeout_error");
  assert_true(dt >= 0.29 && dt < 0.55);
  dx_free(&y);
  p.mode = CS_DIAL_SEQUENTIAL;
  dx z = {0};
  t0 = cs_mono_now();
  dial(&z, &p);
  dt = cs_mono_now() - t0;
  assert_string_equal(z.failure, "generic_timeout_error");
  assert_true(dt >= 0.58);
  assert_int_equal(ntcp(z.t), 2);
  dx_free(&z);
  unfill();
  close(lt);
}

static void test_sequential(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_STALL};
  tsrv *s = tsrv_start(&cfg);
  uint16_t port = tsrv_port(s);
  cs_ip addrs[] = {ip4("127.0.0.2"), ip4("127.0.0.1"), ip4("127.0.0.5")};
  cs_dial_opts o = {.addrs = addrs,
                    .naddrs = 3,
                    .port = port,
                    .mode = CS_DIAL_SEQUENTIAL,
                    .transaction_id = 7,
                    .max_events = 1};
  dx x = {0};
  dial(&x, &o);
  assert_null(x.failure);
  assert_int_equal(x.r.index, 1);
  /* the third address was never dialled; the second began after the first ended */
  assert_int_equal(ntcp(x.t), 2);
  const cs_tcp_rec *a = x.t->tcp.head, *b = a->next;
  assert_string_equal(a->ip, "127.0.0.2");
  assert_string_equal(a->failure, "connection_refused");
  assert_string_equal(b->ip, "127.0.0.1");
  assert_null(b->failure);
  assert_true(b->c.t0 >= a->c.t);
  assert_int_equal(a->c.transaction_id, 7);
  assert_int_equal(b->c.transaction_id, 7);
  dx_free(&x);

  /* all fail: the first failure, every address tried */
  cs_ip bad[] = {ip4("127.0.0.2"), ip4("127.0.0.6")};
  cs_dial_opts ob = {
      .addrs = bad, .naddrs = 2, .port = tsrv_closed_port(), .mode = CS_DIAL_SEQUENTIAL};
  dx y = {0};
  dial(&y, &ob);
  assert_string_equal(y.failure, "connection_refused");
  assert_string_equal(y.failed_op, "connect");
  assert_int_equal(ntcp(y.t), 2);
  dx_free(&y);
  tsrv_stop(s);
}

static void test_skip_and_max(void **st) {
  (void)st;
  cs_ip addrs[] = {ip4("127.0.0.1"), ip4("192.0.2.1")};
  cs_dial_opts o = {
      .addrs = addrs, .naddrs = 2, .port = 80, .skip_loopback = true, .skip_bogons = true};
  dx x = {0};
  dial(&x, &o);
  assert_string_equal(x.failure, "unknown_failure: no address to connect to");
  assert_string_equal(x.failed_op, "connect");
  assert_int_equal(ntcp(x.t), 0);
  assert_int_equal(x.t->events.n, 0);
  dx_free(&x);

  /* max_addrs bounds the attempts; skipped addresses do not count */
  cs_ip many[] = {ip4("127.0.0.1"), ip4("127.0.0.2"), ip4("127.0.0.3"), ip4("127.0.0.4")};
  cs_dial_opts om = {.addrs = many, .naddrs = 4, .port = tsrv_closed_port(), .max_addrs = 2};
  dx y = {0};
  dial(&y, &om);
  assert_int_equal(y.r.nattempts, 2);
  assert_int_equal(ntcp(y.t), 2);
  dx_free(&y);
}

/* ---- endpoints -------------------------------------------------------------------------- */

static void test_endpoint_split(void **st) {
  (void)st;
  char h[64];
  uint16_t p = 0;
  assert_true(cs_dial_endpoint_split("example.com:443", h, sizeof h, &p));
  assert_string_equal(h, "example.com");
  assert_int_equal(p, 443);
  assert_true(cs_dial_endpoint_split("[2001:db8::1]:5222", h, sizeof h, &p));
  assert_string_equal(h, "2001:db8::1");
  assert_int_equal(p, 5222);
  assert_true(cs_dial_endpoint_split("192.0.2.1:80", h, sizeof h, &p));
  assert_string_equal(h, "192.0.2.1");
  assert_false(cs_dial_endpoint_split("2001:db8::1:80", h, sizeof h, &p)); /* unbracketed v6 */
  assert_false(cs_dial_endpoint_split("example.com", h, sizeof h, &p));
  assert_false(cs_dial_endpoint_split("example.com:", h, sizeof h, &p));
  assert_false(cs_dial_endpoint_split(":80", h, sizeof h, &p));
  assert_false(cs_dial_endpoint_split("example.com:65536", h, sizeof h, &p));
  assert_false(cs_dial_endpoint_split("example.com:0", h, sizeof h, &p));
  assert_false(cs_dial_endpoint_split("example.com:-1", h, sizeof h, &p));
  assert_false(cs_dial_endpoint_split("[::1]80", h, sizeof h, &p));
  assert_false(cs_dial_endpoint_split("averyveryverylonghostname.example:80", h, 8, &p));
}

static void test_endpoint_strings(void **st) {
  (void)st;
  uint16_t port = 0;
  int l4 = listener("127.0.0.1", &port, false);
  assert_true(l4 >= 0);
  char ep[64];
  snprintf(ep, sizeof ep, "127.0.0.1:%u", port);
  cs_dial_opts o = {.endpoint = ep};
  dx x = {0};
  dial(&x, &o);
  assert_null(x.failure);
  assert_string_equal(x.addr, ep);
  dx_free(&x);

  /* a host name with the caller's addresses (resolved elsewhere); the port is the endpoint's */
  snprintf(ep, sizeof ep, "www.example.com:%u", port);
  cs_ip addrs[] = {ip4("127.0.0.1")};
  cs_dial_opts on = {.endpoint = ep, .addrs = addrs, .naddrs = 1, .port = 1};
  dx y = {0};
  dial(&y, &on);
  assert_null(y.failure);
  assert_int_equal(y.t->tcp.head->port, port);
  dx_free(&y);

  /* a host name without addresses, and a malformed endpoint: failures through cb */
  cs_dial_opts nn = {.endpoint = ep};
  dx z = {0};
  dial(&z, &nn);
  assert_string_equal(z.failure, "unknown_failure: no address to connect to");
  dx_free(&z);
  cs_dial_opts bad = {.endpoint = "no-port-here"};
  dx w = {0};
  dial(&w, &bad);
  assert_string_equal(w.failure, "unknown_failure: invalid endpoint");
  assert_int_equal(ntcp(w.t), 0);
  dx_free(&w);
  close(l4);

  /* [::1]:port */
  uint16_t p6 = 0;
  int l6 = listener("::1", &p6, false);
  if (l6 < 0) skip(); /* no IPv6 loopback here */
  snprintf(ep, sizeof ep, "[::1]:%u", p6);
  cs_dial_opts o6 = {.endpoint = ep};
  dx v = {0};
  dial(&v, &o6);
  assert_null(v.failure);
  assert_string_equal(v.addr, ep);
  assert_string_equal(v.t->tcp.head->ip, "::1");
  dx_free(&v);
  close(l6);
}

/* ---- TLS -------------------------------------------------------------------------------- */

static char g_seen_sni[256];
static int g_sni_calls;

static int servername_cb(SSL *ssl, int *ad, void *arg) {
  (void)ad, (void)arg;
  const char *n = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  g_sni_calls++;
  snprintf(g_seen_sni, sizeof g_seen_sni, "%s", n ? n : "(none)");
  return SSL_TLSEXT_ERR_OK;
}

static tsrv *tls_server(tsrv_cert_kind kind, const char *alpn) {
  SSL_CTX *sctx = tsrv_server_ctx(&g_pki, HOST, kind, alpn);
  SSL_CTX_set_tlsext_servername_callback(sctx, servername_cb);
  static const char resp[] = "HTTP/1.1 200 OK\r\n\r\n";
  tsrv_cfg cfg = {
      .mode = TSRV_STALL, .tls = sctx, .resp = (const uint8_t *)resp, .resp_len = sizeof resp - 1};
  tsrv *s = tsrv_start(&cfg);
  SSL_CTX_free(sctx);
  g_seen_sni[0] = 0, g_sni_calls = 0;
  return s;
}

static void dial_tls(dx *x, tsrv *s, const cs_tls_opts *to) {
  cs_ip addrs[] = {ip4("127.0.0.1")};
  cs_dial_opts o = {.addrs = addrs,
                    .naddrs = 1,
                    .port = tsrv_port(s),
                    .tls = true,
                    .tls_ctx = g_ctx,
                    .tls_opts = *to};
  dial(x, &o);
}

static void test_tls_sni_none_and_custom(void **st) {
  (void)st;
  tsrv *s = tls_server(TSRV_CERT_GOOD, "http/1.1");
  /* custom SNI, the certificate checked against another name */
  cs_tls_opts to = {.sni = "custom.example", .verify_name = HOST};
  dx x = {0};
  dial_tls(&x, s, &to);
  assert_null(x.failure);
  assert_true(cs_conn_is_tls(x.c));
  assert_non_null(x.r.tls);
  assert_string_equal(x.r.tls->server_name, "custom.example");
  assert_int_equal(x.t->tls.n, 1);
  dx_free(&x);
  tsrv_stop(s); /* joins the server thread: g_seen_sni is stable */
  assert_string_equal(g_seen_sni, "custom.example");

  /* no SNI extension at all */
  s = tls_server(TSRV_CERT_GOOD, "http/1.1");
  cs_tls_opts none = {.sni = NULL, .verify_name = HOST};
  dx y = {0};
  dial_tls(&y, s, &none);
  assert_null(y.failure);
  assert_string_equal(y.r.tls->server_name, "");
  dx_free(&y);
  tsrv_stop(s);
  assert_true(g_sni_calls == 0 || !strcmp(g_seen_sni, "(none)"));
}

static void test_tls_no_verify_records_chain(void **st) {
  (void)st;
  /* verification on: a wrong-host certificate fails, the chain is still recorded */
  tsrv *s = tls_server(TSRV_CERT_WRONG_HOST, "http/1.1");
  cs_tls_opts on = {.sni = HOST};
  dx x = {0};
  dial_tls(&x, s, &on);
  assert_string_equal(x.failure, "ssl_invalid_hostname");
  assert_string_equal(x.failed_op, "tls_handshake");
  const cs_tls_rec *r = x.t->tls.head;
  assert_non_null(r);
  assert_int_equal(r->npeer_certificates, 2); /* leaf + issuing CA, as sent */
  assert_false(r->no_tls_verify);
  size_t leaf_len = r->peer_certificates[0].len;
  dx_free(&x);
  tsrv_stop(s);

  /* verification off: the same server succeeds and the chain is recorded */
  s = tls_server(TSRV_CERT_WRONG_HOST, "http/1.1");
  cs_tls_opts off = {.sni = HOST, .no_verify = true};
  dx y = {0};
  dial_tls(&y, s, &off);
  assert_null(y.failure);
  r = y.t->tls.head;
  assert_true(r->no_tls_verify);
  assert_null(r->failure);
  assert_int_equal(r->npeer_certificates, 2);
  assert_true(r->peer_certificates[0].len > 100);
  assert_true(leaf_len > 100);
  dx_free(&y);
  tsrv_stop(s);

  /* a self-signed certificate, verification off */
  s = tls_server(TSRV_CERT_SELF_SIGNED, NULL);
  dx z = {0};
  dial_tls(&z, s, &off);
  assert_null(z.failure);
  assert_int_equal(z.t->tls.head->npeer_certificates, 1);
  dx_free(&z);
  tsrv_stop(s);
}

static void test_tls_alpn(void **st) {
  (void)st;
  tsrv *s = tls_server(TSRV_CERT_GOOD, "h2,http/1.1");
  static const char *const h1[] = {"http/1.1"};
  cs_tls_opts o = {.sni = HOST, .alpn = h1, .nalpn = 1};
  dx x = {0};
  dial_tls(&x, s, &o);
  assert_null(x.failure);
  assert_string_equal(x.r.tls->negotiated_protocol, "http/1.1");
  assert_string_equal(cs_tls_alpn(x.c), "http/1.1");
  dx_free(&x);
  /* the default list (h2, http/1.1): the server's preference, h2 */
  cs_tls_opts d = {.sni = HOST};
  dx y = {0};
  dial_tls(&y, s, &d);
  assert_null(y.failure);
  assert_string_equal(y.r.tls->negotiated_protocol, "h2");
  dx_free(&y);
  /* no ALPN extension: nothing negotiated */
  cs_tls_opts n = {.sni = HOST, .alpn = h1, .nalpn = 0};
  dx z = {0};
  dial_tls(&z, s, &n);
  assert_null(z.failure);
  assert_string_equal(z.r.tls->negotiated_protocol, "");
  dx_free(&z);
  tsrv_stop(s);
}

static void test_tls_parallel_first_in_order(void **st) {
  (void)st;
  /* .2 refuses, .1 completes TLS: TLS runs per attempt, the winner is the first success */
  tsrv *s = tls_server(TSRV_CERT_GOOD, "http/1.1");
  cs_ip addrs[] = {ip4("127.0.0.2"), ip4("127.0.0.1")};
  cs_dial_opts o = {.addrs = addrs,
                    .naddrs = 2,
                    .port = tsrv_port(s),
                    .tls = true,
                    .tls_ctx = g_ctx,
                    .tls_opts = {.sni = HOST}};
  dx x = {0};
  dial(&x, &o);
  assert_null(x.failure);
  assert_int_equal(x.r.index, 1);
  assert_int_equal(x.t->tls.n, 1);
  dx_free(&x);
  /* the TLS step without a trust store fails as it did in fetch.c */
  cs_dial_opts n = {.addrs = addrs + 1, .naddrs = 1, .port = tsrv_port(s), .tls = true};
  dx y = {0};
  dial(&y, &n);
  assert_string_equal(y.failure, "unknown_failure: cannot start the TLS handshake");
  assert_string_equal(y.failed_op, "tls_handshake");
  dx_free(&y);
  tsrv_stop(s);
}

/* ---- the read observer ------------------------------------------------------------------ */

typedef struct {
  dx x;
  uint8_t buf[8192];
  uint64_t got;
  const char *rfail;
  size_t nobs;
  uint64_t last_cum, sum;
  double last_t;
  bool monotonic;
} obs_t;

static void observer(void *arg, cs_conn *c, double t, size_t n, uint64_t cum) {
  obs_t *o = arg;
  assert_non_null(c);
  if (o->nobs && (cum <= o->last_cum || t < o->last_t)) o->monotonic = false;
  o->nobs++, o->sum += n, o->last_cum = cum, o->last_t = t;
  assert_int_equal(cum, o->sum);
  assert_int_equal(cum, cs_conn_bytes_read(c)); /* while the connection lives */
}

static void obs_read(cs_conn *c, ssize_t n, const char *failure, void *data) {
  obs_t *o = data;
  if (n > 0) {
    o->got += (uint64_t)n;
    assert_int_equal(cs_conn_read(c, o->buf, sizeof o->buf, obs_read, o), 0);
    return;
  }
  o->rfail = failure;
}

static void obs_written(cs_conn *c, ssize_t n, const char *failure, void *data) {
  (void)n;
  assert_null(failure);
  assert_int_equal(
      cs_conn_read(c, ((obs_t *)data)->buf, sizeof((obs_t *)data)->buf, obs_read, data), 0);
}

static void obs_dialled(void *arg, cs_conn *c, const char *failure, const cs_dial_result *r) {
  obs_t *o = arg;
  on_dial(&o->x, c, failure, r);
  assert_non_null(c);
  assert_int_equal(cs_conn_write(c, "GET / HTTP/1.1\r\n\r\n", 18, obs_written, o), 0);
}

static void test_read_observer(void **st) {
  (void)st;
  size_t len = 300000;
  uint8_t *resp = malloc(len);
  assert_non_null(resp);
  memset(resp, 'a', len);
  tsrv_cfg cfg = {.mode = TSRV_RESPOND, .resp = resp, .resp_len = len};
  tsrv *s = tsrv_start(&cfg);
  free(resp);
  obs_t o = {.monotonic = true};
  cs_ip addrs[] = {ip4("127.0.0.1")};
  cs_dial_opts d = {
      .addrs = addrs, .naddrs = 1, .port = tsrv_port(s), .observer = observer, .observer_arg = &o};
  o.x.l = cs_loop_new();
  o.x.t = cs_trace_new(cs_mono_now(), 0);
  o.x.d = cs_dial_start(o.x.l, o.x.t, &d, obs_dialled, &o);
  assert_int_equal(cs_loop_run(o.x.l), 0);
  assert_string_equal(o.rfail, "eof_error");
  assert_int_equal(o.got, len);
  assert_true(o.nobs >= 2); /* 300 kB over loopback take several reads */
  assert_true(o.monotonic);
  assert_int_equal(o.last_cum, len);
  size_t ns = 0;
  const cs_conn_sample *sm = cs_conn_samples(o.x.c, &ns);
  assert_int_equal(ns, o.nobs); /* one sample per observed read */
  assert_int_equal(sm[ns - 1].bytes, len);
  dx_free(&o.x);
  tsrv_stop(s);
}

/* ---- the fetch flow on the dialer ------------------------------------------------------- */

typedef struct {
  int calls;
  cs_fetch_result r;
  const char *failure;
  size_t nobs;
  uint64_t last_cum;
} fx;

static void on_fetch(void *arg, const cs_fetch_result *r) {
  fx *x = arg;
  x->calls++;
  x->r = *r;
  x->failure = r->failure;
}

static void fetch_observer(void *arg, cs_conn *c, double t, size_t n, uint64_t cum) {
  (void)c, (void)t, (void)n;
  fx *x = arg;
  assert_true(cum > x->last_cum);
  x->nobs++, x->last_cum = cum;
}

static void run_fetch(fx *x, cs_trace *t, const char *url, const cs_fetch_opts *o) {
  cs_loop *l = cs_loop_new();
  assert_non_null(cs_fetch_start(l, t, url, o, on_fetch, x));
  assert_int_equal(cs_loop_run(l), 0);
  assert_int_equal(x->calls, 1);
  cs_loop_free(l);
}

static void test_fetch_samples_and_observer(void **st) {
  (void)st;
  size_t blen = 200000;
  char *resp = malloc(blen + 64);
  assert_non_null(resp);
  int hl = snprintf(resp, 64, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", blen);
  memset(resp + hl, 'b', blen);
  tsrv_cfg cfg = {
      .mode = TSRV_RESPOND, .resp = (const uint8_t *)resp, .resp_len = (size_t)hl + blen};
  tsrv *s = tsrv_start(&cfg);
  free(resp);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_port(s));
  fx x = {0};
  cs_fetch_opts o = {.keep_samples = true, .observer = fetch_observer, .observer_arg = &x};
  cs_trace *t = cs_trace_new(cs_mono_now(), 0);
  run_fetch(&x, t, url, &o);
  assert_null(x.failure);
  assert_int_equal(x.r.final->code, 200);
  /* the samples outlive the connection (freed inside the fetch) */
  assert_true(x.r.nsamples >= 2);
  assert_int_equal(x.r.nsamples, x.nobs);
  assert_int_equal(x.r.samples[x.r.nsamples - 1].bytes, x.last_cum);
  assert_true(x.last_cum >= blen);
  for (size_t i = 1; i < x.r.nsamples; i++) {
    assert_true(x.r.samples[i].bytes > x.r.samples[i - 1].bytes);
    assert_true(x.r.samples[i].t >= x.r.samples[i - 1].t);
  }
  cs_trace_free(t);
  /* without keep_samples: none */
  fx y = {0};
  cs_fetch_opts n = {0};
  t = cs_trace_new(cs_mono_now(), 0);
  run_fetch(&y, t, url, &n);
  assert_null(y.failure);
  assert_null(y.r.samples);
  assert_int_equal(y.r.nsamples, 0);
  cs_trace_free(t);
  tsrv_stop(s);
}

static void test_fetch_no_verify(void **st) {
  (void)st;
  SSL_CTX *sctx = tsrv_server_ctx(&g_pki, HOST, TSRV_CERT_SELF_SIGNED, "http/1.1");
  static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  tsrv_cfg cfg = {.mode = TSRV_RESPOND,
                  .tls = sctx,
                  .resp = (const uint8_t *)resp,
                  .resp_len = sizeof resp - 1};
  tsrv *s = tsrv_start(&cfg);
  SSL_CTX_free(sctx);
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%u/", tsrv_port(s));
  cs_ip a = ip4("127.0.0.1");
  cs_fetch_opts o = {.tls = g_ctx, .sni = HOST, .addrs = &a, .naddrs = 1};
  fx x = {0};
  cs_trace *t = cs_trace_new(cs_mono_now(), 0);
  run_fetch(&x, t, url, &o);
  assert_string_equal(x.failure, "ssl_unknown_authority");
  assert_string_equal(x.r.failed_op, "tls_handshake");
  assert_int_equal(t->tls.head->npeer_certificates, 1);
  cs_trace_free(t);
  o.no_verify = true;
  fx y = {0};
  t = cs_trace_new(cs_mono_now(), 0);
  run_fetch(&y, t, url, &o);
  assert_null(y.failure);
  assert_true(t->tls.head->no_tls_verify);
  assert_int_equal(t->tls.head->npeer_certificates, 1);
  assert_string_equal(t->tls.head->server_name, HOST);
  assert_int_equal(y.r.final->code, 200);
  cs_trace_free(t);
  tsrv_stop(s);
}

static int setup(void **st) {
  (void)st;
  if (tsrv_pki_init(&g_pki) != 0) return -1;
  char err[256];
  g_ctx = cs_tls_ctx_new(g_pki.ca_file, true, err, sizeof err);
  return g_ctx ? 0 : -1;
}

static int teardown(void **st) {
  (void)st;
  cs_tls_ctx_free(g_ctx);
  tsrv_pki_free(&g_pki);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parallel_first_success_in_order),
      cmocka_unit_test(test_parallel_all_fail_first_failure),
      cmocka_unit_test(test_sequential),
      cmocka_unit_test(test_skip_and_max),
      cmocka_unit_test(test_endpoint_split),
      cmocka_unit_test(test_endpoint_strings),
      cmocka_unit_test(test_tls_sni_none_and_custom),
      cmocka_unit_test(test_tls_no_verify_records_chain),
      cmocka_unit_test(test_tls_alpn),
      cmocka_unit_test(test_tls_parallel_first_in_order),
      cmocka_unit_test(test_read_observer),
      cmocka_unit_test(test_fetch_samples_and_observer),
      cmocka_unit_test(test_fetch_no_verify),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
