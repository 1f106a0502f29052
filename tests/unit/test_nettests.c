/* test_nettests.c - the nettest registry and its entries, started the way the CLI starts
 * them (through the registry and the library's scheduler, run/run.h), against loopback
 * servers (tests/support: tcp_servers, dns_mock, helper_srv); no root, no network. Each
 * measurement's outcome must be the same in the JSON (x_outcome...) and in what done()
 * hands over (cs_meas). Also: the out-of-memory fallback's length, and the input lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns_mock.h"
#include "engine/tls.h"
#include "helper_srv.h"
#include "nettests/meas.h"
#include "nettests/registry.h"
#include "report/report_impl.h"
#include "run/run.h"
#include "run/tally.h"
#include "tcp_servers.h"
#include "util/json.h"

/* ---- the registry ----------------------------------------------------------------------- */

static void test_registry(void **st) {
  (void)st;
  const cs_nettest *ug = cs_nettest_find("urlgetter"), *wc = cs_nettest_find("web_connectivity");
  assert_non_null(ug);
  assert_non_null(wc);
  assert_null(cs_nettest_find("nope"));
  assert_null(cs_nettest_find(NULL));
  assert_ptr_equal(cs_nettest_at(0), ug);
  assert_ptr_equal(cs_nettest_at(1), wc);
  size_t n = 0;
  for (const cs_nettest *nt; (nt = cs_nettest_at(n)); n++) {
    assert_ptr_equal(cs_nettest_find(nt->name), nt); /* names are unique */
    assert_non_null(nt->version);
    assert_non_null(nt->summary);
    assert_non_null(nt->help);
    assert_non_null(nt->start);
    assert_true(nt->noutcomes > 0);
    assert_non_null(cs_outcome_def_find(nt->outcomes, nt->noutcomes, CS_OUTCOME_ACCESSIBLE));
    for (size_t i = 0; i < nt->noutcomes; i++)
      assert_ptr_equal(cs_outcome_def_find(nt->outcomes, nt->noutcomes, nt->outcomes[i].key),
                       &nt->outcomes[i]);
    for (size_t i = 0; i < nt->nopts; i++) {
      assert_non_null(nt->opts[i].name);
      assert_non_null(nt->opts[i].help);
      assert_non_null(nt->opts[i].set);
    }
  }
  assert_true(n >= 2);
  assert_null(cs_nettest_at(n));
  /* urlgetter never claims censorship: it has no control */
  for (size_t i = 0; i < ug->noutcomes; i++) assert_false(ug->outcomes[i].censorship);
  /* web_connectivity's vocabulary is the report's (keys, labels, censorship) */
  static const struct {
    const char *key, *label;
    bool censorship;
  } want[] = {{"accessible", "Accessible", false},
              {"dns", "DNS tampering", true},
              {"tcp_ip", "TCP/IP blocking", true},
              {"tls", "TLS/SNI interference", true},
              {"http_failure", "HTTP failure", true},
              {"blockpage", "Blockpage / HTTP diff", true},
              {"optin", "Opt-in filter (not censorship)", false},
              {"server_side", "Blocked by the site or its CDN", false},
              {"site_down", "Site down", false},
              {"undetermined", "Undetermined", false}};
  assert_int_equal(wc->noutcomes, sizeof want / sizeof *want);
  assert_non_null(wc->report); /* its report section: blockpages and opt-in filters */
  assert_string_equal(wc->report->name, "web_connectivity");
  assert_null(ug->report);
  for (size_t i = 0; i < wc->noutcomes; i++) {
    assert_string_equal(wc->outcomes[i].key, want[i].key);
    assert_string_equal(wc->outcomes[i].label, want[i].label);
    assert_int_equal(wc->outcomes[i].censorship, want[i].censorship);
  }
}

/* ---- running a nettest ------------------------------------------------------------------ */

#define MAXM 8
typedef struct {
  size_t n;
  char *json[MAXM];
  size_t len[MAXM];
  bool has_outcome[MAXM];
  char key[MAXM][32], evidence[MAXM][128];
  bool censorship[MAXM];
  const char *input[MAXM];
} collected;

static void collect(void *ctx, const cs_nettest_input *in, const cs_meas *m) {
  collected *c = ctx;
  assert_true(c->n < MAXM);
  size_t i = c->n++;
  c->json[i] = malloc(m->len + 1);
  assert_non_null(c->json[i]);
  memcpy(c->json[i], m->json, m->len);
  c->json[i][m->len] = 0;
  c->len[i] = m->len;
  c->input[i] = in->input;
  c->has_outcome[i] = m->outcome != NULL;
  if (m->outcome) {
    snprintf(c->key[i], sizeof c->key[i], "%s", m->outcome->key);
    snprintf(c->evidence[i], sizeof c->evidence[i], "%s",
             m->outcome->evidence ? m->outcome->evidence : "(null)");
    c->censorship[i] = m->outcome->censorship;
  }
}

static void collected_free(collected *c) {
  for (size_t i = 0; i < c->n; i++) free(c->json[i]);
}

/* Runs nt over inputs with the library's scheduler; JSON lines into a temporary file whose
 * lines must be exactly what the callback got. */
static void run_nettest(const cs_nettest *nt, void *settings, cs_probe_cfg *cfg,
                        const char *const *inputs, size_t n, collected *c) {
  cs_input_list in = {0};
  for (size_t i = 0; i < n; i++) assert_int_equal(cs_inputs_add(&in, inputs[i], NULL, 0), 0);
  FILE *out = tmpfile();
  assert_non_null(out);
  cs_run r = {.nettest = nt,
              .settings = settings,
              .probe = cfg,
              .inputs = &in,
              .parallel = 2,
              .out = out,
              .on_meas = collect,
              .ctx = c};
  assert_int_equal(cs_run_todo(&r), n);
  assert_int_equal(cs_run_run(&r), 0);
  assert_int_equal(r.measured, n);
  assert_int_equal(c->n, n);
  rewind(out);
  char line[1 << 16];
  for (size_t i = 0; i < n; i++) {
    assert_non_null(fgets(line, sizeof line, out));
    assert_int_equal(strlen(line), c->len[i] + 1);
    assert_memory_equal(line, c->json[i], c->len[i]);
  }
  fclose(out);
  for (size_t i = 0; i < n; i++) c->input[i] = NULL; /* owned by the list */
  cs_inputs_free(&in);
}

/* The outcome in the JSON must be the one done() handed over. Returns the parsed value. */
static const cs_jval *check_outcome(cs_arena *a, const collected *c, size_t i) {
  char err[128];
  const cs_jval *v = cs_json_parse(a, c->json[i], c->len[i], NULL, err, sizeof err);
  assert_non_null(v);
  cs_outcome o;
  assert_true(c->has_outcome[i]);
  assert_int_equal(cs_outcome_read(v, &o), 0);
  assert_string_equal(o.key, c->key[i]);
  assert_int_equal(o.censorship, c->censorship[i]);
  assert_string_equal(o.evidence ? o.evidence : "(null)", c->evidence[i]);
  return v;
}

static cs_probe_cfg probe_cfg(void) {
  char err[128];
  cs_probe_cfg cfg = {.resolver = "system",
                      .software_version = "test",
                      .dns_timeout = 2,
                      .tcp_timeout = 2,
                      .tls_timeout = 2,
                      .http_timeout = 3};
  cfg.tls = cs_tls_ctx_new(NULL, true, err, sizeof err);
  assert_non_null(cfg.tls);
  return cfg;
}

static const char ok_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

static void test_urlgetter(void **st) {
  (void)st;
  const cs_nettest *nt = cs_nettest_find("urlgetter");
  tsrv_cfg sc = {
      .mode = TSRV_RESPOND, .resp = (const uint8_t *)ok_resp, .resp_len = sizeof ok_resp - 1};
  tsrv *srv = tsrv_start(&sc);
  assert_non_null(srv);
  cs_dns_mock *nx = cs_dns_mock_start(CS_DNS_MOCK_NXDOMAIN);
  assert_non_null(nx);
  char ok[64], refused[64], resolver[64];
  snprintf(ok, sizeof ok, "http://127.0.0.1:%u/", tsrv_port(srv));
  snprintf(refused, sizeof refused, "http://127.0.0.1:%u/", tsrv_closed_port());
  snprintf(resolver, sizeof resolver, "udp://127.0.0.1:%u", cs_dns_mock_port(nx));
  cs_probe_cfg cfg = probe_cfg();
  cfg.resolver = resolver;
  const char *const inputs[] = {ok, refused, "http://nx.test/"};
  collected c = {0};
  run_nettest(nt, NULL, &cfg, inputs, 3, &c);
  cs_arena *a = cs_arena_new(0);
  for (size_t i = 0; i < 3; i++) {
    const cs_jval *v = check_outcome(a, &c, i);
    assert_string_equal(cs_json_get_str(v, "test_name", ""), "urlgetter");
    const char *in = cs_json_get_str(v, "input", "");
    const cs_jval *tk = cs_json_get(v, "test_keys");
    assert_false(c.censorship[i]);
    assert_string_equal(cs_json_get_str(tk, "x_outcome", ""), c.key[i]);
    if (!strcmp(in, ok)) {
      assert_string_equal(c.key[i], "accessible");
      assert_string_equal(c.evidence[i], "HTTP 200");
    } else if (!strcmp(in, refused)) {
      assert_string_equal(c.key[i], "failed");
      assert_string_equal(c.evidence[i], "connection_refused during connect");
    } else {
      assert_string_equal(in, "http://nx.test/");
      assert_string_equal(c.key[i], "failed");
      assert_string_equal(c.evidence[i], "dns_nxdomain_error during resolve");
    }
    /* re-analysis through the registry gives the same outcome */
    cs_outcome o;
    assert_int_equal(nt->analyze(a, v, NULL, NULL, &o), 0);
    assert_string_equal(o.key, c.key[i]);
    assert_string_equal(o.evidence ? o.evidence : "(null)", c.evidence[i]);
  }
  cs_arena_free(a);
  collected_free(&c);
  cs_tls_ctx_free(cfg.tls);
  cs_dns_mock_stop(nx);
  tsrv_stop(srv);
}

/* A measurement that cannot be written (here: longer than json_limit) is handed over as the
 * fallback object, with its exact length and no outcome. */
static void test_fallback_length(void **st) {
  (void)st;
  assert_int_equal(cs_meas_fallback_len, strlen(cs_meas_fallback_json));
  const cs_nettest *nt = cs_nettest_find("urlgetter");
  cs_probe_cfg cfg = probe_cfg();
  cfg.json_limit = 64; /* no measurement fits */
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", tsrv_closed_port());
  const char *const inputs[] = {url};
  collected c = {0};
  run_nettest(nt, NULL, &cfg, inputs, 1, &c);
  assert_false(c.has_outcome[0]);
  assert_int_equal(c.len[0], strlen(cs_meas_fallback_json));
  assert_string_equal(c.json[0], cs_meas_fallback_json);
  char err[64];
  cs_arena *a = cs_arena_new(0);
  const cs_jval *v = cs_json_parse(a, c.json[0], c.len[0], NULL, err, sizeof err);
  assert_non_null(v); /* valid JSON: no NUL or stray byte in the JSON lines */
  assert_non_null(cs_json_get_str(v, "error", NULL));
  cs_arena_free(a);
  collected_free(&c);
  cs_tls_ctx_free(cfg.tls);
}

/* Sets option `name` of a nettest through its table. */
static void set_opt(const cs_nettest *nt, void *settings, const char *name, const char *arg) {
  for (size_t i = 0; i < nt->nopts; i++)
    if (!strcmp(nt->opts[i].name, name)) {
      char err[128];
      assert_int_equal(nt->opts[i].set(settings, arg, err, sizeof err), 0);
      return;
    }
  fail_msg("no option %s", name);
}

/* web_connectivity with the probe's resolver answering NXDOMAIN while the control server's
 * resolver answers: DNS blocking, with the control from helper_srv. */
static void test_web_connectivity(void **st) {
  (void)st;
  const cs_nettest *nt = cs_nettest_find("web_connectivity");
  cs_dns_mock *nx = cs_dns_mock_start(CS_DNS_MOCK_NXDOMAIN);
  cs_dns_mock *good = cs_dns_mock_start(CS_DNS_MOCK_NORMAL);
  assert_non_null(nx);
  assert_non_null(good);
  char probe_resolver[64], th_resolver[64], th[64];
  snprintf(probe_resolver, sizeof probe_resolver, "udp://127.0.0.1:%u", cs_dns_mock_port(nx));
  snprintf(th_resolver, sizeof th_resolver, "udp://127.0.0.1:%u", cs_dns_mock_port(good));
  cs_helper_opts ho = {0};
  ho.measure.resolver = th_resolver;
  ho.measure.dns_timeout = 2, ho.measure.tcp_timeout = 1, ho.measure.http_timeout = 2;
  helper_srv *hs = helper_srv_start(&ho);
  assert_non_null(hs);
  snprintf(th, sizeof th, "http://127.0.0.1:%u", helper_srv_port(hs));

  void *settings = nt->create();
  assert_non_null(settings);
  set_opt(nt, settings, "th", th);
  set_opt(nt, settings, "th-timeout", "5");
  set_opt(nt, settings, "fingerprints", "data/fingerprints");
  cs_probe_cfg cfg = probe_cfg();
  cfg.resolver = probe_resolver;
  char err[256];
  assert_int_equal(nt->prepare(settings, &cfg, err, sizeof err), 0);
  const char *const inputs[] = {"http://blocked.test/"};
  collected c = {0};
  run_nettest(nt, settings, &cfg, inputs, 1, &c);
  cs_arena *a = cs_arena_new(0);
  const cs_jval *v = check_outcome(a, &c, 0);
  const cs_jval *tk = cs_json_get(v, "test_keys");
  assert_string_equal(cs_json_get_str(v, "test_name", ""), "web_connectivity");
  assert_null(cs_json_get_str(tk, "control_failure", NULL));
  assert_string_equal(cs_json_get_str(tk, "dns_experiment_failure", ""), "dns_nxdomain_error");
  assert_string_equal(cs_json_get_str(tk, "blocking", ""), "dns");
  assert_string_equal(c.key[0], "dns");
  assert_true(c.censorship[0]);
  /* re-analysis through the registry gives the outcome the probe handed over */
  cs_outcome o;
  cs_analysis_opts ao = {.algo = "auto"};
  assert_int_equal(nt->analyze(a, v, &ao, NULL, &o), 0);
  assert_string_equal(o.key, c.key[0]);
  assert_int_equal(o.censorship, c.censorship[0]);
  cs_arena_free(a);
  collected_free(&c);
  /* without --th, prepare refuses */
  void *bare = nt->create();
  assert_int_equal(nt->prepare(bare, &cfg, err, sizeof err), -1);
  assert_non_null(strstr(err, "--th"));
  nt->destroy(bare);
  nt->destroy(settings);
  cs_tls_ctx_free(cfg.tls);
  helper_srv_stop(hs);
  cs_dns_mock_stop(nx);
  cs_dns_mock_stop(good);
}

/* ---- the run's summary line ------------------------------------------------------------ */

/* Opt-in filter pages are not counted as blocked (the CLI once said "2 blocked" where
 * `censorscope report` said "0 censorship, 2 opt-in"): the line comes from the outcomes. */
static void test_tally(void **st) {
  (void)st;
  const cs_nettest *wc = cs_nettest_find("web_connectivity");
  cs_tally t;
  cs_tally_init(&t, wc);
  cs_outcome optin = {.key = "optin", .censorship = false, .evidence = "blockpage nayatel"};
  cs_tally_add(&t, &optin);
  cs_tally_add(&t, &optin);
  char line[512];
  assert_int_equal(cs_tally_blocked(&t), 0);
  assert_string_equal(cs_tally_line(&t, line, sizeof line),
                      "web_connectivity: 2 measured: 0 accessible, 0 blocked (dns 0, tcp_ip 0, "
                      "tls 0, http_failure 0, blockpage 0), 2 not censorship (optin 2, "
                      "server_side 0), 0 down, 0 undetermined");
  cs_tally_add(&t, &(cs_outcome){.key = "dns", .censorship = true});
  cs_tally_add(&t, &(cs_outcome){.key = "accessible"});
  cs_tally_add(&t, &(cs_outcome){.key = "site_down"});
  cs_tally_add(&t, NULL); /* not written */
  cs_tally_add(&t, &(cs_outcome){.key = "not-a-key"});
  assert_int_equal(cs_tally_blocked(&t), 1);
  assert_string_equal(cs_tally_line(&t, line, sizeof line),
                      "web_connectivity: 7 measured: 1 accessible, 1 blocked (dns 1, tcp_ip 0, "
                      "tls 0, http_failure 0, blockpage 0), 2 not censorship (optin 2, "
                      "server_side 0), 1 down, 2 undetermined");
  /* a small buffer cuts the line, NUL-terminated */
  char small[16];
  assert_string_equal(cs_tally_line(&t, small, sizeof small), "web_connectivit");
  /* urlgetter: only the groups its vocabulary has */
  cs_tally_init(&t, cs_nettest_find("urlgetter"));
  cs_tally_add(&t, &(cs_outcome){.key = "accessible"});
  cs_tally_add(&t, &(cs_outcome){.key = "failed"});
  assert_string_equal(cs_tally_line(&t, line, sizeof line),
                      "urlgetter: 2 measured: 1 accessible, 1 not censorship (failed 1)");
}

/* ---- inputs ----------------------------------------------------------------------------- */

static void test_inputs(void **st) {
  (void)st;
  char path[] = "/tmp/cs-test-inputs-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  static const char text[] = "# resolvers\nsystem\n\nudp://127.0.0.1:53\nnot one\n";
  assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
  close(fd);
  cs_input_list l = {0};
  assert_int_equal(cs_inputs_load(&l, CS_INPUT_RESOLVER, path), 1); /* "not one" skipped */
  assert_int_equal(l.n, 2);
  assert_string_equal(l.v[0].input, "system");
  assert_int_equal(l.v[0].line, 2);
  assert_string_equal(l.v[1].input, "udp://127.0.0.1:53");
  cs_inputs_free(&l);
  /* the same file as URLs: nothing is an http(s) URL */
  assert_int_equal(cs_inputs_load(&l, CS_INPUT_URL, path), 3);
  assert_int_equal(l.n, 0);
  cs_inputs_free(&l);
  unlink(path);
  /* a null input */
  assert_int_equal(cs_inputs_add(&l, NULL, NULL, 0), 0);
  assert_int_equal(l.n, 1);
  assert_null(l.v[0].input);
  cs_inputs_free(&l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry),        cmocka_unit_test(test_urlgetter),
      cmocka_unit_test(test_fallback_length), cmocka_unit_test(test_web_connectivity),
      cmocka_unit_test(test_tally),           cmocka_unit_test(test_inputs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
