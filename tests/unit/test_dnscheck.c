/* test_dnscheck.c - the dnscheck nettest against loopback resolvers that misbehave on cue
 * (tests/support/dns_mock.c for UDP, the canned HTTPS server of tests/support/tcp_servers.c
 * for DoH), driven through its registry entry (cs_nettest_find("dnscheck")) as the generic
 * command drives it: answered, NXDOMAIN (alone and where the probe's resolver answered), a
 * bogon answer, SERVFAIL, garbage, silence, tcp://, a closed port, a bootstrap through "localhost",
 * DoH, "system", an unsupported input; every time the outcome and OONI's test keys in the
 * JSON, and analyze() on the stored JSON giving the same outcome. Plus analyze() on an
 * OONI-shaped measurement (no control) and on test keys that are not dnscheck's. Nothing here
 * talks to anything but 127.0.0.1 (and getaddrinfo of localhost / *.invalid). */
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
#include "nettests/registry.h"
#include "tcp_servers.h"
#include "util/ipnet.h"

static const cs_nettest *NT; /* the registry's entry, as the generic command finds it */

#define SHORT_TIMEOUT 0.5

static bool no_packets; /* run(): --no-packets */

/* ---- running one measurement ----------------------------------------------------------- */

typedef struct {
  int calls;
  char *json;
  size_t len;
  char key[64];
  char evidence[CS_OUTCOME_EVIDENCE_MAX + 1];
  bool censorship;
} meas;

static void on_meas(void *arg, const cs_meas *m) {
  meas *x = arg;
  x->calls++;
  x->json = malloc(m->len + 1);
  assert_non_null(x->json);
  memcpy(x->json, m->json, m->len);
  x->json[m->len] = 0;
  x->len = m->len;
  assert_non_null(m->outcome);
  snprintf(x->key, sizeof x->key, "%s", m->outcome->key);
  snprintf(x->evidence, sizeof x->evidence, "%s", m->outcome->evidence ? m->outcome->evidence : "");
  x->censorship = m->outcome->censorship;
}

/* Measures input with --domain domain; resolver: the probe's resolver (NULL: system). */
static void run(const char *input, const char *domain, const char *resolver, cs_tls_ctx *tls,
                meas *x) {
  memset(x, 0, sizeof *x);
  void *s = NT->create();
  assert_non_null(s);
  char err[128];
  if (domain) assert_int_equal(NT->opts[0].set(s, domain, err, sizeof err), 0);
  cs_probe_cfg probe = {.resolver = resolver,
                        .tls = tls,
                        .dns_timeout = SHORT_TIMEOUT,
                        .probe_cc = "ZZ",
                        .probe_asn = "AS0",
                        .software_version = "test",
                        .no_packets = no_packets};
  cs_loop *l = cs_loop_new();
  assert_non_null(l);
  cs_nettest_input in = {.input = input};
  assert_int_equal(NT->start(l, s, &probe, &in, on_meas, x), 0);
  assert_int_equal(x->calls, 0); /* never from inside start */
  cs_loop_run(l);
  cs_loop_free(l);
  NT->destroy(s);
  assert_int_equal(x->calls, 1);
}

/* The stored measurement, parsed, with analyze() re-deriving the outcome: same key and
 * evidence as the run, and the verdict keys written as the run wrote them. */
typedef struct {
  cs_arena *a;
  cs_jval *m;
  const cs_jval *tk;
} parsed;

static parsed check_stored(const meas *x) {
  parsed p = {.a = cs_arena_new(0)};
  assert_non_null(p.a);
  char err[128];
  p.m = cs_json_parse(p.a, x->json, x->len, NULL, err, sizeof err);
  assert_non_null(p.m);
  assert_string_equal(cs_json_get_str(p.m, "test_name", ""), "dnscheck");
  assert_string_equal(cs_json_get_str(p.m, "test_version", ""), "0.9.2");
  p.tk = cs_json_get(p.m, "test_keys");
  assert_non_null(p.tk);
  cs_outcome stored;
  assert_int_equal(cs_outcome_read(p.m, &stored), 0);
  assert_string_equal(stored.key, x->key);
  assert_false(stored.censorship);

  cs_outcome again;
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_jw_obj_open(&w);
  cs_analysis_opts opt = {0};
  NT->analyze(p.a, p.m, &opt, &w, &again);
  cs_jw_obj_close(&w);
  assert_string_equal(again.key, x->key);
  assert_string_equal(again.evidence ? again.evidence : "", x->evidence);
  assert_int_equal(again.censorship, x->censorship);
  cs_jval *wv = cs_json_parse(p.a, (const char *)b.data, b.len, NULL, err, sizeof err);
  assert_non_null(wv);
  assert_string_equal(cs_json_get_str(wv, "x_outcome", ""), x->key);
  cs_buf_free(&b);
  /* every outcome is declared in the entry's table */
  assert_non_null(cs_outcome_def_find(NT->outcomes, NT->noutcomes, x->key));
  return p;
}

static void parsed_free(parsed *p, meas *x) {
  cs_arena_free(p->a);
  free(x->json);
}

static const cs_jval *lookup(const parsed *p, const char *key) {
  const cs_jval *lk = cs_json_get(p->tk, "lookups");
  assert_non_null(lk);
  assert_int_equal(lk->type, CS_JOBJ);
  const cs_jval *v = cs_json_get(lk, key);
  if (!v) fail_msg("no lookup %s", key);
  return v;
}

static const char *first_answer(const cs_jval *lookup_v) {
  const cs_jval *qs = cs_json_get(lookup_v, "queries");
  assert_non_null(qs);
  for (size_t i = 0; i < qs->len; i++) {
    const cs_jval *ans = cs_json_get(qs->kids[i], "answers");
    if (ans && ans->type == CS_JARR && ans->len)
      return cs_json_get_str(ans->kids[0], "ipv4", cs_json_get_str(ans->kids[0], "ipv6", NULL));
  }
  return NULL;
}

/* ---- fixtures: the resolver under test and the probe's resolver (the control) ------------ */

typedef struct {
  cs_dns_mock *tested, *control;
  char input[64], control_url[64];
} mocks;

static mocks *mocks_new(cs_dns_mock_mode tested, cs_dns_mock_mode control) {
  mocks *m = calloc(1, sizeof *m);
  assert_non_null(m);
  m->tested = cs_dns_mock_start(tested);
  m->control = cs_dns_mock_start(control);
  assert_non_null(m->tested);
  assert_non_null(m->control);
  snprintf(m->input, sizeof m->input, "udp://127.0.0.1:%u", cs_dns_mock_port(m->tested));
  snprintf(m->control_url, sizeof m->control_url, "udp://127.0.0.1:%u",
           cs_dns_mock_port(m->control));
  return m;
}

static void mocks_free(mocks *m) {
  cs_dns_mock_stop(m->tested);
  cs_dns_mock_stop(m->control);
  free(m);
}

/* One UDP resolver measurement: outcome key expected, lookup failure expected (NULL: none). */
static void udp_case(cs_dns_mock_mode tested, cs_dns_mock_mode control, const char *want_key,
                     const char *want_failure) {
  mocks *mk = mocks_new(tested, control);
  meas x;
  run(mk->input, "dnscheck.test", mk->control_url, NULL, &x);
  assert_string_equal(x.key, want_key);
  parsed p = check_stored(&x);
  /* OONI's keys: domain, bootstrap null for an IP literal, lookups keyed by the input */
  assert_string_equal(cs_json_get_str(p.tk, "domain", ""), "dnscheck.test");
  assert_true(cs_json_is_null(cs_json_get(p.tk, "bootstrap")));
  assert_true(cs_json_is_null(cs_json_get(p.tk, "bootstrap_failure")));
  assert_non_null(cs_json_get(p.tk, "x_default_addrs"));
  assert_int_equal(cs_json_get_bool(p.tk, "x_residual", -1), 0);
  const cs_jval *lv = lookup(&p, mk->input);
  const char *failure = cs_json_get_str(lv, "failure", NULL);
  if (want_failure) assert_string_equal(failure, want_failure);
  else assert_null(failure);
  const cs_jval *qs = cs_json_get(lv, "queries");
  assert_true(qs && qs->type == CS_JARR && qs->len >= 2); /* A and AAAA */
  assert_string_equal(cs_json_get_str(qs->kids[0], "engine", ""), "udp");
  assert_string_equal(cs_json_get_str(qs->kids[0], "hostname", ""), "dnscheck.test");
  assert_string_equal(cs_json_get_str(qs->kids[0], "resolver_address", ""), mk->input + 6);
  const cs_jval *ev = cs_json_get(lv, "network_events");
  assert_true(ev && ev->type == CS_JARR && ev->len >= 1);
  /* the control went through the probe's resolver */
  const cs_jval *ctl = cs_json_get(p.tk, "x_control_lookup");
  assert_true(ctl && ctl->type == CS_JOBJ);
  const cs_jval *cq = cs_json_get(ctl, "queries");
  assert_true(cq && cq->type == CS_JARR && cq->len >= 1);
  assert_string_equal(cs_json_get_str(cq->kids[0], "resolver_address", ""), mk->control_url + 6);
  parsed_free(&p, &x);
  mocks_free(mk);
}

/* ---- UDP ----------------------------------------------------------------------------- */

static void test_answered(void **st) {
  (void)st;
  udp_case(CS_DNS_MOCK_NORMAL, CS_DNS_MOCK_NORMAL, "accessible", NULL);
}

static void test_answered_addresses(void **st) {
  (void)st;
  mocks *mk = mocks_new(CS_DNS_MOCK_NORMAL, CS_DNS_MOCK_NORMAL);
  meas x;
  run(mk->input, "dnscheck.test", mk->control_url, NULL, &x);
  assert_string_equal(x.key, "accessible");
  assert_string_equal(x.evidence, "");
  parsed p = check_stored(&x);
  assert_string_equal(first_answer(lookup(&p, mk->input)), CS_DNS_MOCK_A);
  parsed_free(&p, &x);
  mocks_free(mk);
}

/* The resolver says NXDOMAIN where the probe's resolver answered: they disagree. */
static void test_nxdomain_vs_control(void **st) {
  (void)st;
  udp_case(CS_DNS_MOCK_NXDOMAIN, CS_DNS_MOCK_NORMAL, "disagree", "dns_nxdomain_error");
}

/* Both say NXDOMAIN: the resolver is not singled out. */
static void test_nxdomain_both(void **st) {
  (void)st;
  udp_case(CS_DNS_MOCK_NXDOMAIN, CS_DNS_MOCK_NXDOMAIN, "nxdomain", "dns_nxdomain_error");
}

/* The control says NXDOMAIN where the tested resolver answers. */
static void test_control_nxdomain(void **st) {
  (void)st;
  udp_case(CS_DNS_MOCK_NORMAL, CS_DNS_MOCK_NXDOMAIN, "disagree", NULL);
}

/* Answers with no address in common (the control answers through a CNAME chain elsewhere). */
static void test_answers_differ(void **st) {
  (void)st;
  udp_case(CS_DNS_MOCK_NORMAL, CS_DNS_MOCK_CNAME, "disagree", NULL);
}

/* A forged answer (10.10.34.35, a bogon) arrives first: RejectDNSBogons. */
static void test_bogon(void **st) {
  (void)st;
  udp_case(CS_DNS_MOCK_INJECT, CS_DNS_MOCK_NORMAL, "bogon", "dns_bogon_error");
}

/* Packet evidence (docs/forensics.md): the lookups share the measurement's capture. The
 * capture's filter passes DNS replies from port 53 only, so the mock's replies (an ephemeral
 * port) are not captured: here x_packets_status is "ok" with no DNS evidence (or
 * "no_privilege" unprivileged) and no TTL-copy probe is sent (the mock sees no more queries
 * than with --no-packets, which says "disabled"). The probe itself is proven in the testbed
 * (tests/net/forensics_packets.sh: dnscheck against the injectors). */
static void test_packets(void **st) {
  (void)st;
  mocks *mk = mocks_new(CS_DNS_MOCK_INJECT, CS_DNS_MOCK_NORMAL);
  meas x;
  no_packets = true;
  run(mk->input, "dnscheck.test", mk->control_url, NULL, &x);
  no_packets = false;
  parsed p = check_stored(&x);
  assert_string_equal(cs_json_get_str(p.tk, "x_packets_status", ""), "disabled");
  assert_true(cs_json_is_null(cs_json_get(p.tk, "x_packets")));
  assert_true(cs_json_is_null(cs_json_get(p.tk, "x_middlebox")));
  parsed_free(&p, &x);
  unsigned q0 = cs_dns_mock_udp_queries(mk->tested);
  assert_true(q0 >= 2); /* A and AAAA */

  run(mk->input, "dnscheck.test", mk->control_url, NULL, &x);
  p = check_stored(&x);
  const char *status = cs_json_get_str(p.tk, "x_packets_status", "");
  if (!strcmp(status, "ok")) assert_non_null(cs_json_get_arr(p.tk, "x_packets"));
  else assert_string_equal(status, "no_privilege"); /* an unprivileged CI */
  assert_true(cs_json_is_null(cs_json_get(p.tk, "x_middlebox")));
  assert_int_equal(cs_dns_mock_udp_queries(mk->tested), 2 * q0); /* no probe */
  parsed_free(&p, &x);
  mocks_free(mk);
}

static void test_servfail(void **st) {
  (void)st;
  udp_case(CS_DNS_MOCK_SERVFAIL, CS_DNS_MOCK_NORMAL, "resolver_error", "dns_servfail_error");
}

static void test_garbage(void **st) {
  (void)st;
  udp_case(CS_DNS_MOCK_GARBAGE, CS_DNS_MOCK_NORMAL, "resolver_error", "dns_server_misbehaving");
}

static void test_timeout(void **st) {
  (void)st;
  udp_case(CS_DNS_MOCK_SILENT, CS_DNS_MOCK_NORMAL, "timeout", "generic_timeout_error");
}

/* tcp://: the same resolver over TCP (the mock serves both on one port). */
static void test_tcp(void **st) {
  (void)st;
  mocks *mk = mocks_new(CS_DNS_MOCK_NORMAL, CS_DNS_MOCK_NORMAL);
  char input[64];
  snprintf(input, sizeof input, "tcp://127.0.0.1:%u", cs_dns_mock_port(mk->tested));
  meas x;
  run(input, "dnscheck.test", mk->control_url, NULL, &x);
  assert_string_equal(x.key, "accessible");
  parsed p = check_stored(&x);
  const cs_jval *lv = lookup(&p, input);
  const cs_jval *qs = cs_json_get(lv, "queries");
  assert_true(qs && qs->len == 2);
  assert_string_equal(cs_json_get_str(qs->kids[0], "engine", ""), "tcp");
  assert_true(cs_dns_mock_tcp_queries(mk->tested) >= 2);
  parsed_free(&p, &x);
  mocks_free(mk);
}

/* Nothing listens: ICMP port unreachable. */
static void test_unreachable(void **st) {
  (void)st;
  char input[64], ctl[64];
  cs_dns_mock *c = cs_dns_mock_start(CS_DNS_MOCK_NORMAL);
  assert_non_null(c);
  snprintf(input, sizeof input, "udp://127.0.0.1:%u", tsrv_closed_port());
  snprintf(ctl, sizeof ctl, "udp://127.0.0.1:%u", cs_dns_mock_port(c));
  meas x;
  run(input, "dnscheck.test", ctl, NULL, &x);
  assert_string_equal(x.key, "unreachable");
  parsed p = check_stored(&x);
  assert_string_equal(cs_json_get_str(lookup(&p, input), "failure", ""), "connection_refused");
  assert_string_equal(cs_json_get_str(lookup(&p, input), "failed_operation", ""), "resolve");
  parsed_free(&p, &x);
  cs_dns_mock_stop(c);
}

/* udp://localhost:PORT: bootstrapped with the system resolver, then one lookup per address,
 * keyed by the address. */
static void test_bootstrap(void **st) {
  (void)st;
  mocks *mk = mocks_new(CS_DNS_MOCK_NORMAL, CS_DNS_MOCK_NORMAL);
  char input[64], key4[64];
  snprintf(input, sizeof input, "udp://localhost:%u", cs_dns_mock_port(mk->tested));
  snprintf(key4, sizeof key4, "udp://127.0.0.1:%u", cs_dns_mock_port(mk->tested));
  meas x;
  run(input, "dnscheck.test", mk->control_url, NULL, &x);
  parsed p = check_stored(&x);
  const cs_jval *boot = cs_json_get(p.tk, "bootstrap");
  assert_true(boot && boot->type == CS_JOBJ);
  const cs_jval *bq = cs_json_get(boot, "queries");
  assert_true(bq && bq->type == CS_JARR && bq->len == 1);
  assert_string_equal(cs_json_get_str(bq->kids[0], "engine", ""), "getaddrinfo");
  assert_string_equal(cs_json_get_str(bq->kids[0], "hostname", ""), "localhost");
  assert_true(cs_json_is_null(cs_json_get(p.tk, "bootstrap_failure")));
  assert_null(cs_json_get_str(lookup(&p, key4), "failure", NULL));
  const cs_jval *lk = cs_json_get(p.tk, "lookups");
  if (lk->len == 1) {
    assert_string_equal(x.key, "accessible");
  } else { /* localhost is also ::1 here, where nothing listens */
    assert_string_equal(x.key, "partial");
  }
  parsed_free(&p, &x);
  mocks_free(mk);
}

/* The resolver's own name does not resolve: no lookups. */
static void test_bootstrap_failure(void **st) {
  (void)st;
  meas x;
  run("udp://censorscope-dnscheck.invalid:53", "dnscheck.test", "system", NULL, &x);
  assert_string_equal(x.key, "bootstrap_failed");
  parsed p = check_stored(&x);
  const char *bf = cs_json_get_str(p.tk, "bootstrap_failure", NULL);
  assert_non_null(bf);
  assert_int_equal(cs_json_get(p.tk, "lookups")->len, 0);
  assert_true(cs_json_get(p.tk, "bootstrap")->type == CS_JOBJ);
  parsed_free(&p, &x);
}

/* "system": the domain through getaddrinfo, no control. */
static void test_system(void **st) {
  (void)st;
  meas x;
  run("system", "localhost", NULL, NULL, &x);
  assert_string_equal(x.key, "accessible");
  parsed p = check_stored(&x);
  const cs_jval *lv = lookup(&p, "system");
  const cs_jval *qs = cs_json_get(lv, "queries");
  assert_true(qs && qs->len >= 1);
  assert_string_equal(cs_json_get_str(qs->kids[0], "engine", ""), "getaddrinfo");
  assert_string_equal(first_answer(lv), "127.0.0.1");
  assert_true(cs_json_is_null(cs_json_get(p.tk, "x_control_lookup")));
  parsed_free(&p, &x);
}

static void test_unsupported_input(void **st) {
  (void)st;
  meas x;
  run("dot://127.0.0.1:853", "dnscheck.test", NULL, NULL, &x);
  assert_string_equal(x.key, "undetermined");
  parsed p = check_stored(&x);
  assert_non_null(cs_json_get_str(p.tk, "x_input_error", NULL));
  assert_int_equal(cs_json_get(p.tk, "lookups")->len, 0);
  parsed_free(&p, &x);
  run("udp://127.0.0.1:0", "dnscheck.test", NULL, NULL, &x);
  assert_string_equal(x.key, "undetermined");
  free(x.json);
}

static void test_domain_option(void **st) {
  (void)st;
  void *s = NT->create();
  char err[128];
  assert_int_equal(NT->opts[0].set(s, "", err, sizeof err), -1);
  assert_int_equal(NT->opts[0].set(s, "a/b", err, sizeof err), -1);
  assert_int_equal(NT->opts[0].set(s, "ok.test", err, sizeof err), 0);
  NT->destroy(s);
  assert_string_equal(NT->name, "dnscheck");
  assert_int_equal(NT->input, CS_INPUT_RESOLVER);
}

/* ---- DoH ----------------------------------------------------------------------------- */

static tsrv_pki pki;

/* https://localhost:PORT/dns-query answering example.test A 192.0.2.7 (AAAA: a reply to
 * another question); the control answers 192.0.2.7 too (the mock's CNAME chain). */
static void test_doh(void **st) {
  (void)st;
  cs_buf body, resp;
  cs_buf_init(&body, 0);
  cs_buf_init(&resp, 0);
  cs_dnswire_synth_rr an[] = {{.type = CS_DNS_TYPE_A, .ttl = 60, .data = CS_DNS_MOCK_CNAME_A}};
  cs_dnswire_synth syn = {
      .id = 0, .qname = "example.test", .qtype = CS_DNS_TYPE_A, .an = an, .nan = 1};
  assert_int_equal(cs_dnswire_build_reply(&syn, &body), CS_DNSWIRE_OK);
  cs_buf_printf(&resp,
                "HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\n"
                "Content-Length: %zu\r\n\r\n",
                body.len);
  cs_buf_append(&resp, body.data, body.len);
  SSL_CTX *sctx = tsrv_server_ctx(&pki, "localhost", TSRV_CERT_GOOD, "http/1.1");
  tsrv_cfg cfg = {.mode = TSRV_RESPOND, .resp = resp.data, .resp_len = resp.len, .tls = sctx};
  tsrv *srv = tsrv_start(&cfg);
  assert_non_null(srv);
  char err[128], url[96], ctl[64];
  cs_tls_ctx *tls = cs_tls_ctx_new(pki.ca_file, true, err, sizeof err);
  assert_non_null(tls);
  snprintf(url, sizeof url, "https://localhost:%u/dns-query", tsrv_port(srv));
  cs_dns_mock *c = cs_dns_mock_start(CS_DNS_MOCK_CNAME);
  assert_non_null(c);
  snprintf(ctl, sizeof ctl, "udp://127.0.0.1:%u", cs_dns_mock_port(c));

  meas x;
  run(url, "example.test", ctl, tls, &x);
  assert_string_equal(x.key, "accessible");
  parsed p = check_stored(&x);
  const cs_jval *lv = lookup(&p, url);
  assert_null(cs_json_get_str(lv, "failure", NULL));
  const cs_jval *qs = cs_json_get(lv, "queries");
  assert_true(qs && qs->len == 2);
  assert_string_equal(cs_json_get_str(qs->kids[0], "engine", ""), "doh");
  assert_string_equal(cs_json_get_str(qs->kids[0], "resolver_address", ""), url);
  assert_string_equal(first_answer(lv), CS_DNS_MOCK_CNAME_A);
  const cs_jval *boot = cs_json_get(p.tk, "bootstrap");
  assert_true(boot && boot->type == CS_JOBJ); /* localhost was bootstrapped */
  parsed_free(&p, &x);

  /* the same server against a control that says NXDOMAIN */
  cs_dns_mock_set_mode(c, CS_DNS_MOCK_NXDOMAIN);
  run(url, "example.test", ctl, tls, &x);
  assert_string_equal(x.key, "disagree");
  p = check_stored(&x);
  parsed_free(&p, &x);

  cs_dns_mock_stop(c);
  tsrv_stop(srv);
  SSL_CTX_free(sctx);
  cs_tls_ctx_free(tls);
  cs_buf_free(&body);
  cs_buf_free(&resp);
}

/* ---- analyze() on measurements it did not write ---------------------------------------- */

static void analyze_str(const char *json, int want_rc, const char *want_key) {
  cs_arena *a = cs_arena_new(0);
  char err[128];
  cs_jval *m = cs_json_parse(a, json, strlen(json), NULL, err, sizeof err);
  assert_non_null(m);
  cs_outcome o;
  cs_analysis_opts opt = {0};
  assert_int_equal(NT->analyze(a, m, &opt, NULL, &o), want_rc);
  assert_string_equal(o.key, want_key);
  assert_false(o.censorship);
  cs_arena_free(a);
}

/* OONI's shape (probe-cli 0.9.2): lookups keyed by resolver URL with the address, no control. */
static void test_analyze_ooni(void **st) {
  (void)st;
  const char *ok =
      "{\"test_name\":\"dnscheck\",\"test_keys\":{\"domain\":\"example.org\",\"bootstrap\":null,"
      "\"bootstrap_failure\":null,\"lookups\":{\"https://192.0.2.8/dns-query\":{\"failure\":null,"
      "\"queries\":[{\"answers\":[{\"answer_type\":\"A\",\"ipv4\":\"192.0.2.80\"}]}]},"
      "\"https://192.0.2.9/dns-query\":{\"failure\":null,\"queries\":[{\"answers\":"
      "[{\"answer_type\":\"A\",\"ipv4\":\"192.0.2.80\"}]}]}}}}";
  analyze_str(ok, 0, "accessible");
  const char *part =
      "{\"test_keys\":{\"lookups\":{\"dot://192.0.2.8:853\":{\"failure\":null,\"queries\":[]},"
      "\"dot://192.0.2.9:853\":{\"failure\":\"generic_timeout_error\"}}}}";
  analyze_str(part, 0, "partial");
  const char *split =
      "{\"test_keys\":{\"lookups\":{\"dot://192.0.2.8:853\":{\"failure\":null,\"queries\":[]},"
      "\"dot://192.0.2.9:853\":{\"failure\":\"dns_nxdomain_error\"}}}}";
  analyze_str(split, 0, "disagree");
  const char *boot =
      "{\"test_keys\":{\"bootstrap_failure\":\"dns_nxdomain_error\",\"lookups\":{}}}";
  analyze_str(boot, 0, "bootstrap_failed");
  const char *tls = "{\"test_keys\":{\"lookups\":{\"dot://192.0.2.8:853\":"
                    "{\"failure\":\"ssl_invalid_hostname\"}}}}";
  analyze_str(tls, 0, "unreachable");
  analyze_str("{\"test_keys\":{\"blocking\":false}}", -1, "undetermined");
  analyze_str("[]", -1, "undetermined");
}

static int setup(void **st) {
  (void)st;
  NT = cs_nettest_find("dnscheck");
  if (!NT || !NT->start || !NT->analyze) return -1;
  /* the mock's answers and loopback are this test's lab, not bogons */
  cs_labnet_add("127.0.0.0/8");
  cs_labnet_add("192.0.2.0/24");
  cs_labnet_add("2001:db8::/32");
  return tsrv_pki_init(&pki);
}

static int teardown(void **st) {
  (void)st;
  tsrv_pki_free(&pki);
  cs_labnet_clear();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_answered),
      cmocka_unit_test(test_answered_addresses),
      cmocka_unit_test(test_nxdomain_vs_control),
      cmocka_unit_test(test_nxdomain_both),
      cmocka_unit_test(test_control_nxdomain),
      cmocka_unit_test(test_answers_differ),
      cmocka_unit_test(test_bogon),
      cmocka_unit_test(test_packets),
      cmocka_unit_test(test_servfail),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_timeout),
      cmocka_unit_test(test_tcp),
      cmocka_unit_test(test_unreachable),
      cmocka_unit_test(test_bootstrap),
      cmocka_unit_test(test_bootstrap_failure),
      cmocka_unit_test(test_system),
      cmocka_unit_test(test_unsupported_input),
      cmocka_unit_test(test_domain_option),
      cmocka_unit_test(test_doh),
      cmocka_unit_test(test_analyze_ooni),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
