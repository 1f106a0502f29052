/* test_doh.c - DNS over HTTPS against a loopback HTTPS server that answers with a canned DNS
 * message: the A question is answered and recorded with engine "doh"; the AAAA question gets
 * a reply to another question (recorded as dns_server_misbehaving); wrong content type and
 * HTTP errors are failures, not answers; a stalled server hits the deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dnswire.h"
#include "engine/doh.h"
#include "record/record.h"
#include "tcp_servers.h"
#include "util/timeutil.h"

static tsrv_pki pki;

typedef struct {
  int calls;
  char failure[128];
  char addrs[4][CS_IPSTR_MAX];
  size_t naddrs;
} result;

static void on_done(void *arg, const cs_dns_result *r) {
  result *res = arg;
  res->calls++;
  snprintf(res->failure, sizeof res->failure, "%s", r->failure ? r->failure : "");
  for (size_t i = 0; i < r->naddrs && i < 4; i++) cs_ip_format(&r->addrs[i], res->addrs[i]);
  res->naddrs = r->naddrs;
}

/* Runs one DoH lookup of example.test against a server that always sends `head` + body. */
static cs_trace *run(const char *head, bool with_dns_body, tsrv_mode mode, double timeout,
                     result *res) {
  cs_buf body, resp;
  cs_buf_init(&body, 0);
  cs_buf_init(&resp, 0);
  cs_dnswire_synth_rr an[] = {{.type = CS_DNS_TYPE_A, .ttl = 60, .data = "192.0.2.7"}};
  cs_dnswire_synth s = {
      .id = 0, .qname = "example.test", .qtype = CS_DNS_TYPE_A, .an = an, .nan = 1};
  if (with_dns_body) assert_int_equal(cs_dnswire_build_reply(&s, &body), CS_DNSWIRE_OK);
  cs_buf_printf(&resp, "%sContent-Length: %zu\r\n\r\n", head, body.len);
  cs_buf_append(&resp, body.data, body.len);
  SSL_CTX *sctx = tsrv_server_ctx(&pki, "localhost", TSRV_CERT_GOOD, "http/1.1");
  tsrv_cfg cfg = {.mode = mode, .resp = resp.data, .resp_len = resp.len, .tls = sctx};
  tsrv *srv = tsrv_start(&cfg);
  assert_non_null(srv);
  char err[128], url[128];
  cs_tls_ctx *tls = cs_tls_ctx_new(pki.ca_file, true, err, sizeof err);
  assert_non_null(tls);
  snprintf(url, sizeof url, "https://localhost:%u/dns-query", tsrv_port(srv));
  cs_loop *l = cs_loop_new();
  cs_trace *t = cs_trace_new(cs_mono_now(), 0);
  const char *tags[] = {"depth=0"};
  cs_dns_opts o = {.timeout = timeout, .transaction_id = 7, .tags = tags, .ntags = 1};
  memset(res, 0, sizeof *res);
  assert_non_null(cs_doh_lookup_host(l, t, tls, url, "example.test", &o, on_done, res));
  cs_loop_run(l);
  cs_loop_free(l);
  tsrv_stop(srv);
  SSL_CTX_free(sctx);
  cs_tls_ctx_free(tls);
  cs_buf_free(&body);
  cs_buf_free(&resp);
  assert_int_equal(res->calls, 1);
  return t;
}

static const cs_query_rec *query(const cs_trace *t, const char *qtype) {
  for (const cs_query_rec *q = t->queries.head; q; q = q->next)
    if (!strcmp(q->query_type, qtype)) return q;
  return NULL;
}

static void test_doh_answer(void **st) {
  (void)st;
  result res;
  cs_trace *t = run("HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\n", true,
                    TSRV_RESPOND, 4, &res);
  assert_int_equal(res.naddrs, 1);
  assert_string_equal(res.addrs[0], "192.0.2.7");
  const cs_query_rec *a = query(t, "A"), *aaaa = query(t, "AAAA");
  assert_non_null(a);
  assert_non_null(aaaa);
  if (!a || !aaaa) return; /* unreachable after the asserts; tells the optimiser too */
  assert_int_equal(t->queries.n, 2);
  assert_string_equal(a->engine, "doh");
  assert_null(a->failure);
  assert_true(a->has_rcode && a->rcode == 0);
  assert_int_equal(a->nanswers, 1);
  assert_string_equal(a->answers[0].ipv4, "192.0.2.7");
  assert_non_null(strstr(a->resolver_address, "/dns-query"));
  assert_true(a->raw_response_len > 12);
  assert_int_equal(a->c.transaction_id, 7);
  assert_true(a->c.t0 <= a->c.t);
  /* the reply to the AAAA question is for the A question: not an answer */
  assert_string_equal(aaaa->failure, "dns_server_misbehaving");
  assert_string_equal(res.failure, "dns_server_misbehaving");
  /* the DoH transport is not mixed into the measurement's connects and requests */
  assert_int_equal(t->tcp.n, 0);
  assert_int_equal(t->requests.n, 0);
  cs_trace_free(t);
}

static void test_doh_bad_content_type(void **st) {
  (void)st;
  result res;
  cs_trace *t = run("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n", true, TSRV_RESPOND, 4, &res);
  assert_int_equal(res.naddrs, 0);
  assert_string_equal(res.failure, "unknown_failure: doh: invalid content-type");
  cs_trace_free(t);
}

static void test_doh_http_error(void **st) {
  (void)st;
  result res;
  cs_trace *t = run("HTTP/1.1 503 Service Unavailable\r\n", false, TSRV_RESPOND, 4, &res);
  assert_int_equal(res.naddrs, 0);
  assert_string_equal(res.failure, "unknown_failure: doh: server returned HTTP status 503");
  cs_trace_free(t);
}

static void test_doh_timeout(void **st) {
  (void)st;
  result res;
  double t0 = cs_mono_now();
  cs_trace *t = run("", false, TSRV_STALL, 0.4, &res);
  assert_true(cs_mono_now() - t0 < 3.0);
  assert_string_equal(res.failure, "generic_timeout_error");
  const cs_query_rec *qa = query(t, "A");
  assert_non_null(qa);
  if (qa) assert_string_equal(qa->failure, "generic_timeout_error");
  cs_trace_free(t);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_doh_answer),
      cmocka_unit_test(test_doh_bad_content_type),
      cmocka_unit_test(test_doh_http_error),
      cmocka_unit_test(test_doh_timeout),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
