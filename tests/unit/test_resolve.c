/* test_resolve.c - the one resolver entry (engine/resolve.h) on loopback: the spec parser
 * (case-insensitive schemes, precise messages for bad specs), cs_resolve choosing the system
 * resolver, UDP, TCP or DoH from the spec (against tests/support/dns_mock.c and a canned
 * HTTPS DoH server from tcp_servers.c), the DoH bootstrap going to the system resolver and
 * never to DoH, the no_doh guard, cancellation, and the shared A+AAAA merge and rcode
 * mapping. Never touches anything but 127.0.0.1 / ::1 and "localhost". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_mock.h"
#include "engine/dnswire.h"
#include "engine/resolve.h"
#include "record/record.h"
#include "tcp_servers.h"
#include "util/buf.h"
#include "util/timeutil.h"

static tsrv_pki pki;

typedef struct {
  int calls;
  bool started;
  char failure[128];
  char addrs[8][CS_IPSTR_MAX];
  size_t naddrs;
  int rcode;
  bool had_rec;
  cs_resolve_req *self;
} result;

static void on_done(void *arg, const cs_dns_result *r) {
  result *res = arg;
  assert_true(res->started); /* never from inside cs_resolve */
  res->calls++;
  snprintf(res->failure, sizeof res->failure, "%s", r->failure ? r->failure : "");
  res->naddrs = r->naddrs;
  for (size_t i = 0; i < r->naddrs && i < 8; i++) cs_ip_format(&r->addrs[i], res->addrs[i]);
  res->rcode = r->rcode;
  res->had_rec = r->rec != NULL;
  cs_resolve_cancel(res->self); /* from inside its own callback: a no-op */
}

static const char *const TAGS[] = {"depth=0"};

/* Runs one cs_resolve of host with spec; returns the trace (caller frees). */
static cs_trace *run(const char *spec, cs_tls_ctx *tls, bool no_doh, const char *host,
                     result *res) {
  cs_loop *l = cs_loop_new();
  assert_non_null(l);
  cs_trace *t = cs_trace_new(cs_mono_now(), 0);
  assert_non_null(t);
  cs_resolve_opts o = {
      .resolver = spec,
      .tls = tls,
      .no_doh = no_doh,
      .dns = {.timeout = 2, .dup_window = 0.05, .transaction_id = 7, .tags = TAGS, .ntags = 1}};
  memset(res, 0, sizeof *res);
  res->self = cs_resolve(l, t, &o, host, on_done, res);
  assert_non_null(res->self);
  res->started = true;
  cs_loop_run(l);
  cs_loop_free(l);
  assert_int_equal(res->calls, 1);
  return t;
}

static size_t count_engine(const cs_trace *t, const char *engine) {
  size_t n = 0;
  for (const cs_query_rec *q = t->queries.head; q; q = q->next)
    if (!strcmp(q->engine, engine)) n++;
  return n;
}

/* ---- the spec parser ------------------------------------------------------------------- */

static void test_spec_parse_good(void **st) {
  (void)st;
  cs_resolver_spec s;
  char err[256] = "";
  const char *system[] = {NULL, "", "system", "SYSTEM", "System"};
  for (size_t i = 0; i < sizeof system / sizeof *system; i++) {
    assert_int_equal(cs_resolver_spec_parse(system[i], &s, err, sizeof err), 0);
    assert_int_equal(s.kind, CS_RESOLVER_SYSTEM);
  }
  char ip[CS_IPSTR_MAX];
  assert_int_equal(cs_resolver_spec_parse("udp://127.0.0.1:5353", &s, err, sizeof err), 0);
  assert_int_equal(s.kind, CS_RESOLVER_UDP);
  assert_int_equal(s.port, 5353);
  cs_ip_format(&s.server, ip);
  assert_string_equal(ip, "127.0.0.1");
  assert_int_equal(cs_resolver_spec_parse("UDP://[::1]", &s, err, sizeof err), 0);
  assert_int_equal(s.kind, CS_RESOLVER_UDP);
  assert_int_equal(s.port, 53);
  cs_ip_format(&s.server, ip);
  assert_string_equal(ip, "::1");
  assert_int_equal(cs_resolver_spec_parse("Tcp://192.0.2.1", &s, err, sizeof err), 0);
  assert_int_equal(s.kind, CS_RESOLVER_TCP);
  assert_int_equal(s.port, 53);
  assert_int_equal(cs_resolver_spec_parse("tcp://[2001:db8::1]:5300", &s, err, sizeof err), 0);
  assert_int_equal(s.kind, CS_RESOLVER_TCP);
  assert_int_equal(s.port, 5300);
  const char *doh = "HTTPS://dns.example.test/dns-query";
  assert_int_equal(cs_resolver_spec_parse(doh, &s, err, sizeof err), 0);
  assert_int_equal(s.kind, CS_RESOLVER_DOH);
  assert_ptr_equal(s.url, doh);
  assert_string_equal(cs_resolver_kind_str(CS_RESOLVER_DOH), "doh");
  assert_int_equal(cs_resolver_spec_parse("udp://127.0.0.1", NULL, NULL, 0), 0); /* validate */
}

static void test_spec_parse_bad(void **st) {
  (void)st;
  static const struct {
    const char *spec, *msg1, *msg2; /* the message must name the scheme and the culprit */
  } bad[] = {
      {"doh://dns.example", "unknown resolver", "doh://dns.example"},
      {"8.8.8.8", "unknown resolver", "8.8.8.8"},
      {"systemd", "unknown resolver", "systemd"},
      {"udp://", "udp://", "\"\""},
      {"udp://dns.example", "udp://", "dns.example"},
      {"udp://127.0.0.1:0", "udp://", "127.0.0.1:0"},
      {"udp://127.0.0.1:99999", "udp://", "127.0.0.1:99999"},
      {"tcp://[::1", "tcp://", "[::1"},
      {"https://", "https://", "not a valid URL"},
      {"https://[::1/dns-query", "https://", "[::1/dns-query"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    cs_resolver_spec s;
    char err[256] = "";
    assert_int_equal(cs_resolver_spec_parse(bad[i].spec, &s, err, sizeof err), -1);
    if (!strstr(err, bad[i].msg1) || !strstr(err, bad[i].msg2))
      fail_msg("%s: message \"%s\" lacks \"%s\" / \"%s\"", bad[i].spec, err, bad[i].msg1,
               bad[i].msg2);
  }
  /* cs_resolve refuses what the parser refuses, and DoH without a trust store */
  cs_loop *l = cs_loop_new();
  cs_trace *t = cs_trace_new(cs_mono_now(), 0);
  result res = {0};
  cs_resolve_opts o = {.resolver = "udp://dns.example"};
  assert_null(cs_resolve(l, t, &o, "www.example.test", on_done, &res));
  o.resolver = "https://localhost/dns-query";
  assert_null(cs_resolve(l, t, &o, "www.example.test", on_done, &res));
  o.resolver = NULL;
  assert_null(cs_resolve(l, t, &o, "", on_done, &res));
  cs_loop_run(l);
  assert_int_equal(res.calls, 0);
  assert_int_equal(t->queries.n, 0);
  cs_trace_free(t);
  cs_loop_free(l);
}

/* ---- system / UDP / TCP chosen by the spec -------------------------------------------- */

static void test_resolve_system(void **st) {
  (void)st;
  result res;
  cs_trace *t = run("SYSTEM", NULL, false, "localhost", &res);
  assert_string_equal(res.failure, "");
  assert_true(res.naddrs >= 1);
  assert_int_equal(t->queries.n, 1);
  assert_string_equal(t->queries.head->engine, "getaddrinfo");
  assert_int_equal(t->queries.head->c.transaction_id, 7);
  cs_trace_free(t);

  /* an IP literal needs no resolver, whatever the spec: nothing recorded */
  t = run("https://localhost/dns-query", NULL, false, "192.0.2.9", &res);
  assert_int_equal(res.naddrs, 1);
  assert_string_equal(res.addrs[0], "192.0.2.9");
  assert_false(res.had_rec);
  assert_int_equal(t->queries.n, 0);
  cs_trace_free(t);
}

static void test_resolve_udp_tcp(void **st) {
  (void)st;
  cs_dns_mock *m = cs_dns_mock_start(CS_DNS_MOCK_NORMAL);
  assert_non_null(m);
  char spec[64];
  result res;
  /* the scheme is case-insensitive (web_connectivity used to compare it case-sensitively) */
  snprintf(spec, sizeof spec, "UDP://127.0.0.1:%u", cs_dns_mock_port(m));
  cs_trace *t = run(spec, NULL, false, "www.example.test", &res);
  assert_string_equal(res.failure, "");
  assert_int_equal(res.naddrs, 2);
  assert_string_equal(res.addrs[0], CS_DNS_MOCK_A); /* A first */
  assert_string_equal(res.addrs[1], CS_DNS_MOCK_AAAA);
  assert_int_equal(res.rcode, 0);
  assert_int_equal(count_engine(t, "udp"), 2);
  assert_int_equal(t->queries.n, 2);
  assert_int_equal(cs_dns_mock_udp_queries(m), 2);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_dns_mock_port(m));
  assert_string_equal(t->queries.head->resolver_address, addr);
  cs_trace_free(t);

  snprintf(spec, sizeof spec, "tcp://127.0.0.1:%u", cs_dns_mock_port(m));
  t = run(spec, NULL, false, "www.example.test", &res);
  assert_string_equal(res.failure, "");
  assert_int_equal(res.naddrs, 2);
  assert_string_equal(res.addrs[0], CS_DNS_MOCK_A);
  assert_int_equal(count_engine(t, "tcp"), 2);
  assert_int_equal(t->queries.n, 2);
  assert_int_equal(cs_dns_mock_tcp_queries(m), 2);
  assert_int_equal(cs_dns_mock_udp_queries(m), 2); /* no more UDP */
  cs_trace_free(t);

  /* the merge: an AAAA dns_no_answer is not the lookup's failure ... */
  cs_dns_mock_set_mode(m, CS_DNS_MOCK_A_ONLY);
  snprintf(spec, sizeof spec, "udp://127.0.0.1:%u", cs_dns_mock_port(m));
  t = run(spec, NULL, false, "www.example.test", &res);
  assert_string_equal(res.failure, "");
  assert_int_equal(res.naddrs, 1);
  cs_trace_free(t);
  /* ... the rcode mapping: NXDOMAIN, SERVFAIL, REFUSED, other */
  static const struct {
    cs_dns_mock_mode mode;
    const char *failure;
  } rc[] = {{CS_DNS_MOCK_NXDOMAIN, "dns_nxdomain_error"},
            {CS_DNS_MOCK_SERVFAIL, "dns_servfail_error"},
            {CS_DNS_MOCK_REFUSED, "dns_refused_error"},
            {CS_DNS_MOCK_NOTIMP, "dns_server_misbehaving"},
            {CS_DNS_MOCK_EMPTY, "dns_no_answer"}};
  for (size_t i = 0; i < sizeof rc / sizeof *rc; i++) {
    cs_dns_mock_set_mode(m, rc[i].mode);
    t = run(spec, NULL, false, "www.example.test", &res);
    assert_string_equal(res.failure, rc[i].failure);
    assert_int_equal(res.naddrs, 0);
    cs_trace_free(t);
  }
  cs_dns_mock_stop(m);
}

/* ---- DoH -------------------------------------------------------------------------------- */

typedef struct {
  tsrv *srv;
  SSL_CTX *sctx;
  cs_tls_ctx *tls;
  cs_buf resp;
  char url[128];
} doh_srv;

/* A DoH server on 127.0.0.1 that answers every request with A example.test 192.0.2.7. The
 * URL names it "localhost", so the lookup needs a bootstrap. */
static void doh_start(doh_srv *d, const char *scheme) {
  cs_buf body;
  cs_buf_init(&body, 0);
  cs_buf_init(&d->resp, 0);
  cs_dnswire_synth_rr an[] = {{.type = CS_DNS_TYPE_A, .ttl = 60, .data = "192.0.2.7"}};
  cs_dnswire_synth s = {.qname = "example.test", .qtype = CS_DNS_TYPE_A, .an = an, .nan = 1};
  assert_int_equal(cs_dnswire_build_reply(&s, &body), CS_DNSWIRE_OK);
  cs_buf_printf(&d->resp,
                "HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\n"
                "Content-Length: %zu\r\n\r\n",
                body.len);
  cs_buf_append(&d->resp, body.data, body.len);
  cs_buf_free(&body);
  d->sctx = tsrv_server_ctx(&pki, "localhost", TSRV_CERT_GOOD, "http/1.1");
  assert_non_null(d->sctx);
  tsrv_cfg cfg = {
      .mode = TSRV_RESPOND, .resp = d->resp.data, .resp_len = d->resp.len, .tls = d->sctx};
  d->srv = tsrv_start(&cfg);
  assert_non_null(d->srv);
  char err[128];
  d->tls = cs_tls_ctx_new(pki.ca_file, true, err, sizeof err);
  assert_non_null(d->tls);
  snprintf(d->url, sizeof d->url, "%slocalhost:%u/dns-query", scheme, tsrv_port(d->srv));
}

static void doh_stop(doh_srv *d) {
  tsrv_stop(d->srv);
  SSL_CTX_free(d->sctx);
  cs_tls_ctx_free(d->tls);
  cs_buf_free(&d->resp);
}

static void test_resolve_doh(void **st) {
  (void)st;
  doh_srv d;
  doh_start(&d, "HTTPS://"); /* case-insensitive scheme, as for udp:// */
  result res;
  cs_trace *t = run(d.url, d.tls, false, "example.test", &res);
  assert_int_equal(res.naddrs, 1);
  assert_string_equal(res.addrs[0], "192.0.2.7");
  /* the canned reply answers the A question; for AAAA it is a reply to another question */
  assert_string_equal(res.failure, "dns_server_misbehaving");
  assert_int_equal(res.rcode, 0);
  assert_int_equal(t->queries.n, 2);
  assert_int_equal(count_engine(t, "doh"), 2);
  for (const cs_query_rec *q = t->queries.head; q; q = q->next) {
    assert_string_equal(q->resolver_address, d.url);
    assert_string_equal(q->hostname, "example.test");
    assert_int_equal(q->c.transaction_id, 7);
  }
  /* The bootstrap (localhost) went to the system resolver in the private trace: no DoH query
   * for the DoH server's own name (that would be more connections to the server and a third
   * "doh" record), and nothing of the transport in the measurement. */
  assert_int_equal(tsrv_connections(d.srv), 2);
  assert_int_equal(count_engine(t, "getaddrinfo"), 0);
  assert_int_equal(t->tcp.n, 0);
  assert_int_equal(t->requests.n, 0);
  size_t len = 0;
  const char *req = tsrv_last_request(d.srv, &len);
  assert_non_null(req);
  assert_true(len > 20 && !strncmp(req, "GET /dns-query?dns=", 19));
  cs_trace_free(t);

  /* no_doh (curl's allowDOH = FALSE): the same spec resolves through the system resolver */
  t = run(d.url, d.tls, true, "localhost", &res);
  assert_string_equal(res.failure, "");
  assert_true(res.naddrs >= 1);
  assert_int_equal(t->queries.n, 1);
  assert_string_equal(t->queries.head->engine, "getaddrinfo");
  assert_int_equal(tsrv_connections(d.srv), 2); /* the DoH server was not asked */
  cs_trace_free(t);
  doh_stop(&d);
}

/* Every address of the DoH server refuses: each question fails with the first address's
 * failure, within the deadline. */
static void test_resolve_doh_refused(void **st) {
  (void)st;
  char url[128];
  snprintf(url, sizeof url, "https://127.0.0.1:%u/dns-query", tsrv_closed_port());
  char err[128];
  cs_tls_ctx *tls = cs_tls_ctx_new(pki.ca_file, true, err, sizeof err);
  assert_non_null(tls);
  result res;
  double t0 = cs_mono_now();
  cs_trace *t = run(url, tls, false, "example.test", &res);
  assert_true(cs_mono_now() - t0 < 1.5);
  assert_string_equal(res.failure, "connection_refused");
  assert_int_equal(res.naddrs, 0);
  assert_int_equal(count_engine(t, "doh"), 2);
  for (const cs_query_rec *q = t->queries.head; q; q = q->next)
    assert_string_equal(q->failure, "connection_refused");
  cs_trace_free(t);
  cs_tls_ctx_free(tls);
}

/* ---- cancellation ----------------------------------------------------------------------- */

static void test_resolve_cancel(void **st) {
  (void)st;
  doh_srv d;
  doh_start(&d, "https://");
  cs_dns_mock *m = cs_dns_mock_start(CS_DNS_MOCK_SILENT);
  assert_non_null(m);
  char udp[64];
  snprintf(udp, sizeof udp, "udp://127.0.0.1:%u", cs_dns_mock_port(m));
  const char *specs[] = {"system", udp, d.url};
  for (size_t i = 0; i < 3; i++) {
    cs_loop *l = cs_loop_new();
    cs_trace *t = cs_trace_new(cs_mono_now(), 0);
    result res = {0};
    cs_resolve_opts o = {.resolver = specs[i], .tls = d.tls, .dns = {.timeout = 2}};
    cs_resolve_req *r = cs_resolve(l, t, &o, "localhost", on_done, &res);
    assert_non_null(r);
    cs_resolve_cancel(r); /* before anything ran: no callback, no leak (ASan) */
    cs_loop_run(l);
    assert_int_equal(res.calls, 0);
    cs_trace_free(t);
    cs_loop_free(l);
  }
  cs_resolve_cancel(NULL);
  cs_dns_mock_stop(m);
  doh_stop(&d);
}

/* ---- the shared merge and rcode mapping -------------------------------------------------- */

static void test_merge(void **st) {
  (void)st;
  cs_ip a1, a2, v6;
  assert_true(cs_ip_parse("192.0.2.1", &a1));
  assert_true(cs_ip_parse("192.0.2.2", &a2));
  assert_true(cs_ip_parse("2001:db8::1", &v6));
  cs_ip qa[] = {a1, a2, a1}, qaaaa[] = {v6, a2};
  cs_dns_result q[2] = {{.addrs = qa, .naddrs = 3, .rcode = 0, .nduplicates = 1},
                        {.failure = "dns_no_answer",
                         .addrs = qaaaa,
                         .naddrs = 2,
                         .rcode = 3,
                         .nduplicates = 2,
                         .nextra_dropped = 4}};
  cs_ip buf[CS_DNS_MAX_ADDRS];
  cs_dns_result out;
  cs_dns_merge(q, 2, buf, &out);
  assert_null(out.failure);        /* AAAA dns_no_answer skipped */
  assert_int_equal(out.naddrs, 3); /* de-duplicated across A and AAAA, A first */
  char s[CS_IPSTR_MAX];
  cs_ip_format(&out.addrs[0], s);
  assert_string_equal(s, "192.0.2.1");
  cs_ip_format(&out.addrs[1], s);
  assert_string_equal(s, "192.0.2.2");
  cs_ip_format(&out.addrs[2], s);
  assert_string_equal(s, "2001:db8::1");
  assert_int_equal(out.rcode, 0); /* the A question's */
  assert_int_equal(out.nduplicates, 3);
  assert_int_equal(out.nextra_dropped, 4);

  q[1].failure = "dns_servfail_error"; /* another AAAA failure counts */
  cs_dns_merge(q, 2, buf, &out);
  assert_string_equal(out.failure, "dns_servfail_error");
  q[0].failure = "generic_timeout_error"; /* the first one in question order wins */
  cs_dns_merge(q, 2, buf, &out);
  assert_string_equal(out.failure, "generic_timeout_error");
  q[0].failure = "dns_no_answer"; /* an A dns_no_answer is a failure */
  q[1].failure = NULL;
  cs_dns_merge(q, 2, buf, &out);
  assert_string_equal(out.failure, "dns_no_answer");
  cs_dns_result one = {.failure = "dns_no_answer", .rcode = 0}; /* getaddrinfo: one question */
  cs_dns_merge(&one, 1, buf, &out);
  assert_string_equal(out.failure, "dns_no_answer");
  assert_int_equal(out.naddrs, 0);
}

static void test_rcode_failure(void **st) {
  (void)st;
  static const struct {
    int rcode;
    bool with_answer, tc;
    cs_failure want;
  } cases[] = {
      {CS_DNS_RCODE_NOERROR, true, false, CS_FAIL_NONE},
      {CS_DNS_RCODE_NOERROR, false, false, CS_FAIL_DNS_NO_ANSWER},
      {CS_DNS_RCODE_NOERROR, false, true, CS_FAIL_NONE}, /* truncated: not "no answer" */
      {CS_DNS_RCODE_NXDOMAIN, false, false, CS_FAIL_DNS_NXDOMAIN},
      {CS_DNS_RCODE_SERVFAIL, false, false, CS_FAIL_DNS_SERVFAIL},
      {CS_DNS_RCODE_REFUSED, false, false, CS_FAIL_DNS_REFUSED},
      {4, false, false, CS_FAIL_DNS_SERVER_MISBEHAVING},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cs_dnswire_synth_rr an[] = {{.type = CS_DNS_TYPE_A, .ttl = 60, .data = "192.0.2.7"}};
    cs_dnswire_synth s = {.rcode = cases[i].rcode,
                          .tc = cases[i].tc,
                          .qname = "a.test",
                          .qtype = CS_DNS_TYPE_A,
                          .an = an,
                          .nan = cases[i].with_answer ? 1 : 0};
    cs_buf b;
    cs_buf_init(&b, 0);
    assert_int_equal(cs_dnswire_build_reply(&s, &b), CS_DNSWIRE_OK);
    cs_dnswire_reply *rep = malloc(sizeof *rep);
    assert_non_null(rep);
    assert_int_equal(cs_dnswire_parse(b.data, b.len, rep), CS_DNSWIRE_OK);
    assert_int_equal(cs_dns_reply_failure(rep, CS_DNS_TYPE_A, cases[i].tc), cases[i].want);
    /* an A answer is no answer to an AAAA question */
    if (cases[i].with_answer)
      assert_int_equal(cs_dns_reply_failure(rep, CS_DNS_TYPE_AAAA, false), CS_FAIL_DNS_NO_ANSWER);
    free(rep);
    cs_buf_free(&b);
  }
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
      cmocka_unit_test(test_spec_parse_good), cmocka_unit_test(test_spec_parse_bad),
      cmocka_unit_test(test_resolve_system),  cmocka_unit_test(test_resolve_udp_tcp),
      cmocka_unit_test(test_resolve_doh),     cmocka_unit_test(test_resolve_doh_refused),
      cmocka_unit_test(test_resolve_cancel),  cmocka_unit_test(test_merge),
      cmocka_unit_test(test_rcode_failure),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
