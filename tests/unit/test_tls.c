/* test_tls.c - the TLS handshake step against loopback TLS servers with certificates made at
 * test time: success (record fields, certificates, ALPN, events, plaintext I/O), every ssl_*
 * verification failure, alerts (112 -> ssl_invalid_hostname, 40 -> ssl_failed_handshake),
 * RST / FIN after the ClientHello, a stalled server, a non-TLS server, SNI choices. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/conn.h"
#include "engine/tls.h"
#include "record/record.h"
#include "tcp_servers.h"
#include "util/timeutil.h"

static tsrv_pki g_pki;
static cs_tls_ctx *g_ctx;

#define HOST "test.example"

typedef struct {
  cs_loop *l;
  cs_trace *t;
  cs_conn *c;
  cs_tls_opts o;
  const char *cfail, *tfail;
  const cs_tls_rec *rec;
  int tcalls;
  bool do_io;
  uint8_t rbuf[256];
  size_t got;
  const char *rfail;
} ctx_t;

static void on_read(cs_conn *c, ssize_t n, const char *failure, void *data) {
  ctx_t *x = data;
  if (n > 0) {
    x->got += (size_t)n;
    cs_conn_read(c, x->rbuf + x->got, sizeof x->rbuf - x->got - 1, on_read, x);
    return;
  }
  x->rfail = failure;
}

static void on_written(cs_conn *c, ssize_t n, const char *failure, void *data) {
  ctx_t *x = data;
  assert_null(failure);
  assert_int_equal(n, 18);
  cs_conn_read(c, x->rbuf, sizeof x->rbuf - 1, on_read, x);
}

static void on_tls(cs_conn *c, const cs_tls_rec *rec, const char *failure, void *data) {
  ctx_t *x = data;
  x->tcalls++;
  x->tfail = failure;
  x->rec = rec;
  if (!failure && x->do_io) {
    static const char req[] = "GET / HTTP/1.1\r\n\r\n";
    assert_int_equal(cs_conn_write(c, req, 18, on_written, x), 0);
  }
}

static void on_connect(cs_conn *c, const char *failure, void *data) {
  ctx_t *x = data;
  x->cfail = failure;
  assert_null(failure);
  assert_int_equal(cs_tls_handshake(c, g_ctx, &x->o, on_tls, x), 0);
  assert_int_equal(x->tcalls, 0); /* never synchronous */
}

static void run(ctx_t *x, uint16_t port) {
  x->l = cs_loop_new();
  x->t = cs_trace_new(cs_mono_now(), 0);
  cs_ip ip;
  cs_ip_parse("127.0.0.1", &ip);
  cs_conn_opts co = {.transaction_id = 50001};
  x->c = cs_conn_connect(x->l, x->t, &ip, port, &co, on_connect, x);
  assert_int_equal(cs_loop_run(x->l), 0);
  assert_int_equal(x->tcalls, 1);
}

static void done(ctx_t *x) {
  cs_conn_free(x->c);
  cs_trace_free(x->t);
  cs_loop_free(x->l);
}

static size_t count_events(const cs_trace *t, const char *op) {
  size_t n = 0;
  for (const cs_netevent_rec *e = t->events.head; e; e = e->next)
    if (!strcmp(e->operation, op)) n++;
  return n;
}

static const cs_netevent_rec *find_event_or_null(const cs_trace *t, const char *op) {
  for (const cs_netevent_rec *e = t->events.head; e; e = e->next)
    if (!strcmp(e->operation, op)) return e;
  return NULL;
}

__attribute__((returns_nonnull)) static const cs_netevent_rec *find_event(const cs_trace *t,
                                                                          const char *op) {
  const cs_netevent_rec *e = find_event_or_null(t, op);
  if (!e) {
    fail_msg("no event %s", op);
    abort();
  }
  return e;
}

/* Runs a handshake against a server presenting `kind` and returns the failure. */
static void run_kind(ctx_t *x, tsrv_cert_kind kind, tsrv_mode mode) {
  SSL_CTX *sctx = tsrv_server_ctx(&g_pki, HOST, kind, "http/1.1");
  tsrv_cfg cfg = {.mode = mode, .tls = sctx};
  tsrv *s = tsrv_start(&cfg);
  SSL_CTX_free(sctx);
  if (!x->o.sni) x->o.sni = HOST;
  run(x, tsrv_port(s));
  tsrv_stop(s);
}

static void test_success_and_io(void **st) {
  (void)st;
  static const char resp[] = "HTTP/1.1 200 OK\r\n\r\nhi";
  SSL_CTX *sctx = tsrv_server_ctx(&g_pki, HOST, TSRV_CERT_GOOD, "http/1.1");
  tsrv_cfg cfg = {
      .mode = TSRV_RESPOND, .tls = sctx, .resp = (const uint8_t *)resp, .resp_len = strlen(resp)};
  tsrv *s = tsrv_start(&cfg);
  SSL_CTX_free(sctx);
  ctx_t x = {.o = {.sni = HOST}, .do_io = true};
  run(&x, tsrv_port(s));
  assert_null(x.tfail);
  const cs_tls_rec *r = x.rec;
  assert_non_null(r);
  assert_int_equal(x.t->tls.n, 1);
  assert_string_equal(r->network, "tcp");
  char addr[32];
  snprintf(addr, sizeof addr, "127.0.0.1:%u", tsrv_port(s));
  assert_string_equal(r->address, addr);
  assert_string_equal(r->server_name, HOST);
  assert_string_equal(r->tls_version, "TLSv1.3");
  assert_string_equal(r->cipher_suite, "TLS_AES_256_GCM_SHA384");
  assert_string_equal(r->negotiated_protocol, "http/1.1");
  assert_string_equal(cs_tls_alpn(x.c), "http/1.1");
  assert_false(r->no_tls_verify);
  assert_null(r->failure);
  assert_int_equal(r->c.transaction_id, 50001);
  assert_true(r->c.t >= r->c.t0);
  assert_int_equal(r->npeer_certificates, 2);
  const unsigned char *p = r->peer_certificates[0].der;
  X509 *leaf = d2i_X509(NULL, &p, (long)r->peer_certificates[0].len);
  assert_non_null(leaf);
  char cn[64];
  X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof cn);
  assert_string_equal(cn, HOST);
  X509_free(leaf);
  unsigned char *ca_der = NULL;
  int cal = i2d_X509(g_pki.ca, &ca_der);
  assert_int_equal(r->peer_certificates[1].len, cal);
  assert_memory_equal(r->peer_certificates[1].der, ca_der, (size_t)cal);
  OPENSSL_free(ca_der);
  /* events: connect, start, raw writes/reads of the handshake, done */
  assert_int_equal(count_events(x.t, "tls_handshake_start"), 1);
  const cs_netevent_rec *d = find_event(x.t, "tls_handshake_done");
  assert_non_null(d);
  assert_null(d->failure);
  assert_null(d->address); /* an OONI annotation: no address/proto, t0 == t */
  assert_null(d->proto);
  assert_true(d->c.t0 == d->c.t);
  assert_true(d->c.t >= find_event(x.t, "tls_handshake_start")->c.t);
  assert_int_equal(d->c.transaction_id, 50001);
  assert_true(count_events(x.t, "write") >= 2); /* ClientHello, Finished, request */
  assert_true(count_events(x.t, "read") >= 1);
  int64_t wsum = 0;
  for (const cs_netevent_rec *e = x.t->events.head; e; e = e->next)
    if (!strcmp(e->operation, "write")) wsum += e->num_bytes;
  assert_int_equal((uint64_t)wsum, cs_conn_bytes_written(x.c));
  assert_true(wsum > 18 + 200); /* raw TLS bytes, not plaintext */
  /* plaintext through the filter */
  assert_int_equal(x.got, strlen(resp));
  assert_memory_equal(x.rbuf, resp, x.got);
  assert_string_equal(x.rfail, "eof_error");
  assert_string_equal(tsrv_last_request(s, NULL), "GET / HTTP/1.1\r\n\r\n");
  done(&x);
  tsrv_stop(s);
}

static void expect_failure(tsrv_cert_kind kind, const char *want, bool certs) {
  ctx_t x = {0};
  run_kind(&x, kind, TSRV_STALL);
  assert_non_null(x.tfail);
  assert_string_equal(x.tfail, want);
  assert_string_equal(x.rec->failure, want);
  assert_string_equal(x.rec->cipher_suite ? x.rec->cipher_suite : "", "");
  assert_string_equal(x.rec->tls_version ? x.rec->tls_version : "", "");
  if (certs) assert_true(x.rec->npeer_certificates >= 1); /* recorded despite the failure */
  const cs_netevent_rec *d = find_event(x.t, "tls_handshake_done");
  assert_null(d->failure); /* annotations never carry the failure (probe-cli) */
  done(&x);
}

static void test_wrong_host(void **st) {
  (void)st;
  expect_failure(TSRV_CERT_WRONG_HOST, "ssl_invalid_hostname", true);
}
static void test_expired(void **st) {
  (void)st;
  expect_failure(TSRV_CERT_EXPIRED, "ssl_invalid_certificate", true);
}
static void test_unknown_ca(void **st) {
  (void)st;
  expect_failure(TSRV_CERT_UNKNOWN_CA, "ssl_unknown_authority", true);
}
static void test_self_signed(void **st) {
  (void)st;
  expect_failure(TSRV_CERT_SELF_SIGNED, "ssl_unknown_authority", true);
}

static void test_no_verify(void **st) {
  (void)st;
  ctx_t x = {.o = {.no_verify = true}};
  run_kind(&x, TSRV_CERT_UNKNOWN_CA, TSRV_STALL);
  assert_null(x.tfail);
  assert_true(x.rec->no_tls_verify);
  assert_int_equal(x.rec->npeer_certificates, 2);
  done(&x);
}

static void test_sni_choices(void **st) {
  (void)st;
  /* SNI of another name, verification against the real one */
  ctx_t x = {.o = {.sni = "blocked.example", .verify_name = HOST}};
  run_kind(&x, TSRV_CERT_GOOD, TSRV_STALL);
  assert_null(x.tfail);
  assert_string_equal(x.rec->server_name, "blocked.example");
  done(&x);
  /* no SNI at all */
  ctx_t y = {.o = {.sni = "", .verify_name = HOST}};
  run_kind(&y, TSRV_CERT_GOOD, TSRV_STALL);
  assert_null(y.tfail);
  assert_string_equal(y.rec->server_name, "");
  done(&y);
  /* SNI without a matching certificate */
  ctx_t z = {.o = {.sni = "other.example"}};
  run_kind(&z, TSRV_CERT_GOOD, TSRV_STALL);
  assert_string_equal(z.tfail, "ssl_invalid_hostname");
  done(&z);
  /* ALPN: offer only http/1.1; no ALPN at all */
  static const char *const h1[] = {"http/1.1"};
  ctx_t a = {.o = {.alpn = h1, .nalpn = 1}};
  run_kind(&a, TSRV_CERT_GOOD, TSRV_STALL);
  assert_string_equal(a.rec->negotiated_protocol, "http/1.1");
  done(&a);
  ctx_t b = {.o = {.alpn = h1, .nalpn = 0}};
  run_kind(&b, TSRV_CERT_GOOD, TSRV_STALL);
  assert_null(b.tfail);
  assert_string_equal(b.rec->negotiated_protocol, "");
  done(&b);
}

static void test_tls12_names(void **st) {
  (void)st;
  SSL_CTX *sctx = tsrv_server_ctx(&g_pki, HOST, TSRV_CERT_GOOD, NULL);
  SSL_CTX_set_max_proto_version(sctx, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(sctx, "ECDHE-ECDSA-AES128-GCM-SHA256");
  tsrv_cfg cfg = {.mode = TSRV_STALL, .tls = sctx};
  tsrv *s = tsrv_start(&cfg);
  SSL_CTX_free(sctx);
  ctx_t x = {.o = {.sni = HOST}};
  run(&x, tsrv_port(s));
  assert_null(x.tfail);
  assert_string_equal(x.rec->tls_version, "TLSv1.2");
  assert_string_equal(x.rec->cipher_suite, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"); /* IANA */
  assert_string_equal(x.rec->negotiated_protocol, "");
  done(&x);
  tsrv_stop(s);
}

static int sni_reject(SSL *ssl, int *al, void *arg) {
  (void)ssl, (void)arg;
  *al = SSL_AD_UNRECOGNIZED_NAME;
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void test_alerts(void **st) {
  (void)st;
  /* alert 112 unrecognized_name */
  SSL_CTX *sctx = tsrv_server_ctx(&g_pki, HOST, TSRV_CERT_GOOD, NULL);
  SSL_CTX_set_tlsext_servername_callback(sctx, sni_reject);
  tsrv_cfg cfg = {.mode = TSRV_STALL, .tls = sctx};
  tsrv *s = tsrv_start(&cfg);
  SSL_CTX_free(sctx);
  ctx_t x = {.o = {.sni = HOST}};
  run(&x, tsrv_port(s));
  assert_string_equal(x.tfail, "ssl_invalid_hostname");
  assert_int_equal(x.rec->npeer_certificates, 0);
  done(&x);
  tsrv_stop(s);
  /* alert 40 handshake_failure: a TLS 1.2 server that demands a client certificate */
  sctx = tsrv_server_ctx(&g_pki, HOST, TSRV_CERT_GOOD, NULL);
  SSL_CTX_set_max_proto_version(sctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  cfg.tls = sctx;
  s = tsrv_start(&cfg);
  SSL_CTX_free(sctx);
  ctx_t y = {.o = {.sni = HOST}};
  run(&y, tsrv_port(s));
  assert_string_equal(y.tfail, "ssl_failed_handshake");
  done(&y);
  tsrv_stop(s);
}

static void test_rst_after_client_hello(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_RST};
  tsrv *s = tsrv_start(&cfg);
  ctx_t x = {.o = {.sni = HOST}};
  run(&x, tsrv_port(s));
  assert_string_equal(x.tfail, "connection_reset");
  assert_string_equal(x.rec->failure, "connection_reset");
  assert_string_equal(x.rec->cipher_suite, "");
  assert_string_equal(x.rec->negotiated_protocol, "");
  assert_int_equal(x.rec->npeer_certificates, 0);
  assert_int_equal(count_events(x.t, "write"), 1); /* the ClientHello */
  const cs_netevent_rec *w = find_event(x.t, "write");
  assert_true(w->num_bytes > 100);
  const cs_netevent_rec *r = find_event(x.t, "read");
  assert_string_equal(r->failure, "connection_reset");
  done(&x);
  tsrv_stop(s);
}

static void test_fin_after_client_hello(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_FIN};
  tsrv *s = tsrv_start(&cfg);
  ctx_t x = {.o = {.sni = HOST}};
  run(&x, tsrv_port(s));
  assert_string_equal(x.tfail, "eof_error");
  const cs_netevent_rec *r = find_event(x.t, "read");
  assert_string_equal(r->failure, "eof_error");
  done(&x);
  tsrv_stop(s);
}

static void test_stall_timeout(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_STALL};
  tsrv *s = tsrv_start(&cfg);
  ctx_t x = {.o = {.sni = HOST, .timeout = 0.3}};
  double t0 = cs_mono_now();
  run(&x, tsrv_port(s));
  double dt = cs_mono_now() - t0;
  assert_string_equal(x.tfail, "generic_timeout_error");
  assert_true(dt >= 0.29 && dt < 2);
  /* the interrupted read is recorded, spanning the wait like Go's blocking Read */
  const cs_netevent_rec *r = find_event(x.t, "read");
  assert_string_equal(r->failure, "generic_timeout_error");
  assert_true(r->c.t - r->c.t0 >= 0.25);
  assert_true(x.rec->c.t - x.rec->c.t0 >= 0.29);
  done(&x);
  tsrv_stop(s);
}

static void test_not_tls(void **st) {
  (void)st;
  static const char resp[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  tsrv_cfg cfg = {.mode = TSRV_RESPOND,
                  .resp = (const uint8_t *)resp,
                  .resp_len = strlen(resp),
                  .no_wait_head = true};
  tsrv *s = tsrv_start(&cfg);
  ctx_t x = {.o = {.sni = HOST}};
  run(&x, tsrv_port(s));
  /* an HTTP server answers the ClientHello with an HTTP error */
  assert_non_null(x.tfail);
  assert_string_equal(x.tfail, "unknown_failure: wrong version number");
  done(&x);
  tsrv_stop(s);
}

static void test_shared_ctx(void **st) {
  (void)st;
  char err[200];
  cs_tls_ctx *a = cs_tls_ctx_shared(g_pki.ca_file, err, sizeof err);
  cs_tls_ctx *b = cs_tls_ctx_shared(g_pki.ca_file, err, sizeof err);
  cs_tls_ctx *c = cs_tls_ctx_shared(NULL, err, sizeof err);
  assert_non_null(a);
  assert_ptr_equal(a, b);
  assert_non_null(c);
  assert_ptr_not_equal(a, c);
  assert_null(cs_tls_ctx_shared("/nonexistent/ca.pem", err, sizeof err));
  assert_true(strstr(err, "/nonexistent/ca.pem") != NULL);
  cs_tls_ctx_shared_cleanup();
}

static void on_connect_refused(cs_conn *c, const char *failure, void *data) {
  (void)data;
  assert_string_equal(failure, "connection_refused");
  assert_int_equal(cs_tls_handshake(c, g_ctx, NULL, on_tls, NULL), -1); /* not connected */
}

static void test_handshake_needs_connection(void **st) {
  (void)st;
  cs_loop *l = cs_loop_new();
  cs_trace *t = cs_trace_new(cs_mono_now(), 0);
  cs_ip ip;
  cs_ip_parse("127.0.0.1", &ip);
  cs_conn *c = cs_conn_connect(l, t, &ip, tsrv_closed_port(), NULL, on_connect_refused, NULL);
  assert_int_equal(cs_tls_handshake(c, g_ctx, NULL, on_tls, NULL), -1); /* still connecting */
  assert_int_equal(cs_loop_run(l), 0);
  assert_int_equal(t->tls.n, 0);
  cs_conn_free(c);
  cs_trace_free(t);
  cs_loop_free(l);
}

static void test_verify_failure_map(void **st) {
  (void)st;
  assert_null(cs_tls_verify_failure(X509_V_OK));
  assert_string_equal(cs_tls_verify_failure(X509_V_ERR_HOSTNAME_MISMATCH), "ssl_invalid_hostname");
  assert_string_equal(cs_tls_verify_failure(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
                      "ssl_unknown_authority");
  assert_string_equal(cs_tls_verify_failure(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT),
                      "ssl_unknown_authority");
  assert_string_equal(cs_tls_verify_failure(X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN),
                      "ssl_unknown_authority");
  assert_string_equal(cs_tls_verify_failure(X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE),
                      "ssl_unknown_authority");
  assert_string_equal(cs_tls_verify_failure(X509_V_ERR_CERT_HAS_EXPIRED),
                      "ssl_invalid_certificate");
  assert_string_equal(cs_tls_verify_failure(X509_V_ERR_CERT_NOT_YET_VALID),
                      "ssl_invalid_certificate");
}

/* The system trust store without --ca-file: a hashed certificate directory is read lazily
 * (the CA is found through its subject-hash name), and $SSL_CERT_FILE naming the default
 * bundle does not stop that; another $SSL_CERT_FILE is loaded. */
static const char *system_store_failure(const char *file_env, const char *dir_env) {
  const char *of = getenv("SSL_CERT_FILE"), *od = getenv("SSL_CERT_DIR");
  char *saved_f = of ? strdup(of) : NULL, *saved_d = od ? strdup(od) : NULL;
  if (file_env) setenv("SSL_CERT_FILE", file_env, 1);
  else unsetenv("SSL_CERT_FILE");
  setenv("SSL_CERT_DIR", dir_env, 1);
  char err[200];
  cs_tls_ctx *sys = cs_tls_ctx_new(NULL, false, err, sizeof err);
  assert_non_null(sys);
  cs_tls_ctx *keep = g_ctx;
  g_ctx = sys;
  ctx_t x = {0};
  run_kind(&x, TSRV_CERT_GOOD, TSRV_STALL);
  const char *f = x.tfail; /* a static string or one in the trace: copy what we compare */
  static char out[64];
  snprintf(out, sizeof out, "%s", f ? f : "ok");
  done(&x);
  g_ctx = keep;
  cs_tls_ctx_free(sys);
  if (saved_f) setenv("SSL_CERT_FILE", saved_f, 1);
  else unsetenv("SSL_CERT_FILE");
  if (saved_d) setenv("SSL_CERT_DIR", saved_d, 1);
  else unsetenv("SSL_CERT_DIR");
  free(saved_f), free(saved_d);
  return out;
}

static void test_system_store(void **st) {
  (void)st;
  char tmpl[] = "/tmp/cs_tls_dir_XXXXXX", empty_t[] = "/tmp/cs_tls_empty_XXXXXX";
  char *dir = mkdtemp(tmpl), *empty = mkdtemp(empty_t);
  assert_non_null(dir);
  assert_non_null(empty);
  char link[128];
  snprintf(link, sizeof link, "%s/%08lx.0", dir, X509_subject_name_hash(g_pki.ca));
  FILE *f = fopen(link, "w");
  assert_non_null(f);
  assert_int_equal(PEM_write_X509(f, g_pki.ca), 1);
  fclose(f);
  /* the CA only in the hashed directory: found when the chain needs it */
  assert_string_equal(system_store_failure(NULL, dir), "ok");
  assert_string_equal(system_store_failure(X509_get_default_cert_file(), dir), "ok");
  /* nowhere: unknown authority (the system bundle does not hold the test CA) */
  assert_string_equal(system_store_failure(NULL, empty), "ssl_unknown_authority");
  /* only in a bundle named by $SSL_CERT_FILE: loaded */
  assert_string_equal(system_store_failure(g_pki.ca_file, empty), "ok");
  unlink(link);
  rmdir(dir);
  rmdir(empty);
}

static int setup(void **st) {
  (void)st;
  if (tsrv_pki_init(&g_pki) != 0) return -1;
  char err[200];
  g_ctx = cs_tls_ctx_new(g_pki.ca_file, false, err, sizeof err);
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
      cmocka_unit_test(test_success_and_io),
      cmocka_unit_test(test_wrong_host),
      cmocka_unit_test(test_expired),
      cmocka_unit_test(test_unknown_ca),
      cmocka_unit_test(test_self_signed),
      cmocka_unit_test(test_no_verify),
      cmocka_unit_test(test_sni_choices),
      cmocka_unit_test(test_tls12_names),
      cmocka_unit_test(test_alerts),
      cmocka_unit_test(test_rst_after_client_hello),
      cmocka_unit_test(test_fin_after_client_hello),
      cmocka_unit_test(test_stall_timeout),
      cmocka_unit_test(test_not_tls),
      cmocka_unit_test(test_shared_ctx),
      cmocka_unit_test(test_handshake_needs_connection),
      cmocka_unit_test(test_verify_failure_map),
      cmocka_unit_test(test_system_store),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
