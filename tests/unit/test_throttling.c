/* test_throttling.c - the throttling nettest against a throughput server on loopback
 * (tests/support/tp_srv.c: the helper's protocol, TLS with any SNI and plain HTTP on one
 * port), driven through its registry entry as the generic command drives it:
 *   - a target paced by the server (what a name-keyed policer does) against a fast control:
 *     throttled, down and up; the same pace for both names: not throttled;
 *   - the schedule: control first on each address, one fresh connection per trial, the
 *     second address of /throughput/info used, --http sends the name as Host, -j measures
 *     one target after the other;
 *   - hostile servers: a reset mid-transfer, a body shorter / longer than its Content-Length,
 *     a smaller Content-Length than asked, a lie about the bytes received, a refusal, a stall;
 *   - names: 255 bytes measured, 256 bytes and bad bytes refused (option and input);
 *   - an unreachable server;
 * and every time analyze() on the stored JSON gives the run's outcome. Only 127.0.0.1 and
 * 127.0.0.2 are used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tls.h"
#include "nettests/registry.h"
#include "tcp_servers.h"
#include "tp_srv.h"
#include "util/json.h"

static const cs_nettest *NT;
static tsrv_pki PKI;
static cs_tls_ctx *CLIENT_TLS;

#define SLOW "slow.example"

/* ---- running ----------------------------------------------------------------------------- */

typedef struct {
  int calls;
  char *json[4];
  size_t len[4];
  char key[4][64];
  char evidence[4][CS_OUTCOME_EVIDENCE_MAX + 1];
  bool censorship[4];
} meas;

static void on_meas(void *arg, const cs_meas *m) {
  meas *x = arg;
  assert_true(x->calls < 4);
  int i = x->calls++;
  x->json[i] = malloc(m->len + 1);
  assert_non_null(x->json[i]);
  memcpy(x->json[i], m->json, m->len);
  x->json[i][m->len] = 0;
  x->len[i] = m->len;
  assert_non_null(m->outcome);
  snprintf(x->key[i], sizeof x->key[i], "%s", m->outcome->key);
  snprintf(x->evidence[i], sizeof x->evidence[i], "%s",
           m->outcome->evidence ? m->outcome->evidence : "");
  x->censorship[i] = m->outcome->censorship;
  const char *dump = getenv("THR_DUMP"); /* debugging: append every measurement to a file */
  if (dump) {
    FILE *f = fopen(dump, "a");
    if (f) fprintf(f, "%s\n", x->json[i]), fclose(f);
  }
}

static void meas_free(meas *x) {
  for (int i = 0; i < x->calls; i++) free(x->json[i]);
}

static int set_opt(void *s, const char *name, const char *val, char *err, size_t errlen) {
  for (size_t i = 0; i < NT->nopts; i++)
    if (!strcmp(NT->opts[i].name, name)) return NT->opts[i].set(s, val, err, errlen);
  fail_msg("no option %s", name);
  return -1;
}

/* Runs the inputs with options (name, value pairs, NULL-terminated) against server port. */
static void run_v(uint16_t port, const char *const *inputs, size_t ninputs, meas *x,
                  const char *const *opts) {
  memset(x, 0, sizeof *x);
  void *s = NT->create();
  assert_non_null(s);
  char err[256], srv[64];
  snprintf(srv, sizeof srv, "127.0.0.1:%u", port);
  assert_int_equal(set_opt(s, "server", srv, err, sizeof err), 0);
  for (size_t i = 0; opts && opts[i]; i += 2)
    assert_true(set_opt(s, opts[i], opts[i + 1], err, sizeof err) >= 0);
  cs_probe_cfg probe = {.tls = CLIENT_TLS,
                        .tcp_timeout = 2,
                        .tls_timeout = 2,
                        .probe_cc = "ZZ",
                        .probe_asn = "AS0",
                        .software_version = "test"};
  assert_int_equal(NT->prepare(s, &probe, err, sizeof err), 0);
  cs_loop *l = cs_loop_new();
  assert_non_null(l);
  for (size_t i = 0; i < ninputs; i++) {
    cs_nettest_input in = {.input = inputs[i]};
    assert_int_equal(NT->start(l, s, &probe, &in, on_meas, x), 0);
  }
  assert_int_equal(x->calls, 0); /* never from inside start */
  cs_loop_run(l);
  cs_loop_free(l);
  NT->destroy(s);
  assert_int_equal(x->calls, (int)ninputs);
}

#define RUN(port, input, x, ...)                                                                   \
  do {                                                                                             \
    const char *in_[] = {input};                                                                   \
    const char *o_[] = {__VA_ARGS__, NULL};                                                        \
    run_v(port, in_, 1, x, o_);                                                                    \
  } while (0)

/* The stored measurement parsed; analyze() re-derives the same outcome and verdict keys. */
typedef struct {
  cs_arena *a;
  cs_jval *m;
  const cs_jval *tk, *xt, *thr;
} parsed;

static parsed check_stored(const meas *x, int i) {
  parsed p = {.a = cs_arena_new(0)};
  assert_non_null(p.a);
  char err[128];
  p.m = cs_json_parse(p.a, x->json[i], x->len[i], NULL, err, sizeof err);
  assert_non_null(p.m);
  assert_string_equal(cs_json_get_str(p.m, "test_name", ""), "throttling");
  p.tk = cs_json_get(p.m, "test_keys");
  assert_non_null(p.tk);
  p.xt = cs_json_get_arr(p.tk, "x_trials");
  p.thr = cs_json_get_obj(p.tk, "x_throttling");
  cs_outcome stored;
  assert_int_equal(cs_outcome_read(p.m, &stored), 0);
  assert_string_equal(stored.key, x->key[i]);
  assert_non_null(cs_outcome_def_find(NT->outcomes, NT->noutcomes, x->key[i]));

  cs_outcome again;
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_jw_obj_open(&w);
  cs_analysis_opts opt = {0};
  NT->analyze(p.a, p.m, &opt, &w, &again);
  cs_jw_obj_close(&w);
  assert_string_equal(again.key, x->key[i]);
  assert_string_equal(again.evidence ? again.evidence : "", x->evidence[i]);
  cs_jval *wv = cs_json_parse(p.a, (const char *)b.data, b.len, NULL, err, sizeof err);
  assert_non_null(wv);
  /* the verdict keys as the run wrote them */
  const cs_jval *t1 = cs_json_get(p.tk, "throttled"), *t2 = cs_json_get(wv, "throttled");
  assert_non_null(t1);
  assert_non_null(t2);
  assert_int_equal(t1->type, t2->type);
  if (t1->type == CS_JBOOL) assert_int_equal(t1->b, t2->b);
  const cs_jval *r1 = cs_json_get_obj(p.tk, "x_throttling"),
                *r2 = cs_json_get_obj(wv, "x_throttling");
  if (r1) {
    assert_non_null(r2);
    assert_true(
        cs_json_get_num(r1, "ratio", -1) == cs_json_get_num(r2, "ratio", -1) ||
        (cs_json_is_null(cs_json_get(r1, "ratio")) && cs_json_is_null(cs_json_get(r2, "ratio"))));
  }
  cs_buf_free(&b);
  return p;
}

static const cs_jval *trial(const parsed *p, size_t i) {
  assert_non_null(p->xt);
  assert_true(i < p->xt->len);
  return p->xt->kids[i];
}

static size_t count_samples(const parsed *p, int64_t txid, const char *op) {
  const cs_jval *ev = cs_json_get_arr(p->tk, "network_events");
  assert_non_null(ev);
  size_t n = 0;
  int64_t prev = -1;
  for (size_t i = 0; i < ev->len; i++) {
    int64_t id, nb;
    if (strcmp(cs_json_get_str(ev->kids[i], "operation", ""), op) != 0) continue;
    assert_true(cs_json_get_i64(ev->kids[i], "transaction_id", &id));
    if (id != txid) continue;
    assert_true(cs_json_get_i64(ev->kids[i], "num_bytes", &nb));
    assert_true(nb >= prev); /* cumulative */
    prev = nb;
    n++;
  }
  return n;
}

/* ---- throttled / not ----------------------------------------------------------------------- */

static void test_throttled_down(void **state) {
  (void)state;
  tp_srv *s =
      tp_start(&(tp_cfg){.tls = tsrv_server_ctx(&PKI, "tp.test", TSRV_CERT_SELF_SIGNED, "http/1.1"),
                         .base_bps = 20e6,
                         .slow_name = SLOW,
                         .slow_bps = 200e3});
  meas x;
  RUN(tp_port(s), SLOW, &x, "direction", "down", "bytes", "96k", "control-sni", "ctl.example");
  assert_string_equal(x.key[0], "throttled");
  assert_true(x.censorship[0]);
  parsed p = check_stored(&x, 0);
  const cs_jval *tk = p.tk;
  assert_true(cs_json_get_bool(tk, "throttled", -1) == 1);
  assert_non_null(p.thr);
  assert_string_equal(cs_json_get_str(p.thr, "direction", ""), "down");
  assert_string_equal(cs_json_get_str(p.thr, "control_sni", ""), "ctl.example");
  assert_true(cs_json_get_num(p.thr, "ratio", 0) >= 3);
  double rate = cs_json_get_num(p.thr, "rate_bps", 0);
  assert_true(rate > 100e3 && rate < 400e3); /* paced at 200 kbit/s */
  assert_non_null(cs_json_get_obj(cs_json_get_obj(p.thr, "per_direction"), "down"));
  assert_null(cs_json_get_obj(cs_json_get_obj(p.thr, "per_direction"), "up"));
  /* pair 0: the control first; each trial its own connection, with its samples */
  assert_string_equal(cs_json_get_str(trial(&p, 0), "role", ""), "control");
  assert_string_equal(cs_json_get_str(trial(&p, 1), "role", ""), "target");
  assert_string_equal(cs_json_get_str(trial(&p, 1), "sni", ""), SLOW);
  size_t ntr = p.xt->len;
  assert_true(ntr >= 4 && ntr % 2 == 0);
  for (size_t i = 0; i < ntr; i++) {
    const cs_jval *t = trial(&p, i);
    int64_t id = 0;
    assert_true(cs_json_get_i64(t, "transaction_id", &id));
    assert_int_equal(id, (int64_t)i + 1);
    const char *stopped = cs_json_get_str(t, "stopped", "");
    /* a trial our deadline ended says so, as OONI would: generic_timeout_error */
    if (!strcmp(stopped, "complete")) assert_null(cs_json_get_str(t, "failure", NULL));
    else assert_string_equal(cs_json_get_str(t, "failure", ""), "generic_timeout_error");
    assert_true(cs_json_get_num(t, "handshake_time", -1) >= 0);
    assert_true(count_samples(&p, id, "bytes_received_cumulative") >= 1);
    bool target = !strcmp(cs_json_get_str(t, "role", ""), "target");
    /* controls finish; targets are cut early (well before the 5 s cap) */
    if (!target) assert_string_equal(stopped, "complete");
    else assert_true(!strcmp(stopped, "cut") || !strcmp(stopped, "complete"));
    if (target) assert_true(cs_json_get_num(t, "duration", 99) < 3.0);
  }
  const cs_jval *hs = cs_json_get_arr(tk, "tls_handshakes");
  assert_non_null(hs);
  assert_int_equal(hs->len, ntr); /* the info request is not among them */
  char log[64][300];
  size_t nl = tp_log(s, log, 64);
  assert_int_equal(nl, ntr + 1);
  assert_string_equal(log[0], "info ctl.example");
  assert_string_equal(log[1], "down ctl.example");
  assert_string_equal(log[2], "down " SLOW);
  assert_string_equal(cs_json_get_str(p.m, "probe_ip", ""), "127.0.0.1"); /* never our own */
  cs_arena_free(p.a);
  meas_free(&x);
  tp_stop(s);
}

static void test_throttled_up_http(void **state) {
  (void)state;
  tp_srv *s = tp_start(
      &(tp_cfg){.base_bps = 20e6, .slow_name = SLOW, .slow_bps = 200e3, .small_rcvbuf = true});
  meas x;
  RUN(tp_port(s), SLOW, &x, "direction", "up", "bytes", "256k", "http", NULL);
  assert_string_equal(x.key[0], "throttled");
  parsed p = check_stored(&x, 0);
  assert_string_equal(cs_json_get_str(p.thr, "direction", ""), "up");
  assert_string_equal(cs_json_get_str(cs_json_get(p.tk, "x_transport"), "", "?"), "?");
  assert_string_equal(cs_json_get_str(p.tk, "x_transport", ""), "http");
  const cs_jval *t = trial(&p, 1);
  assert_string_equal(cs_json_get_str(t, "host", ""), SLOW); /* Host, not SNI */
  assert_string_equal(cs_json_get_str(t, "direction", ""), "up");
  int64_t id = 0;
  cs_json_get_i64(t, "transaction_id", &id);
  assert_true(count_samples(&p, id, "x_bytes_sent_cumulative") >= 2);
  /* the control completes and the server's count agrees with what was sent */
  const cs_jval *c = trial(&p, 0);
  int64_t rcv = 0, b = 0;
  assert_true(cs_json_get_i64(c, "server_received", &rcv));
  assert_true(cs_json_get_i64(c, "bytes", &b));
  assert_int_equal(rcv, b);
  assert_int_equal(b, 256 * 1024);
  assert_int_equal(cs_json_get_arr(p.tk, "tls_handshakes")->len, 0);
  char log[64][300];
  size_t nl = tp_log(s, log, 64);
  assert_true(nl >= 3);
  assert_string_equal(log[2], "up " SLOW);
  cs_arena_free(p.a);
  meas_free(&x);
  tp_stop(s);
}

/* Same server, same rate for both names: never "throttled: true". The "false" verdict needs
 * the timing of loopback transfers to agree, which a loaded machine can spoil (then the
 * detector honestly says null: inconclusive), so up to three runs; at least one must be a
 * clear "not throttled", and none may claim throttling. */
static void test_not_throttled(void **state) {
  (void)state;
  tp_srv *s = tp_start(&(tp_cfg){
      .tls = tsrv_server_ctx(&PKI, "tp.test", TSRV_CERT_SELF_SIGNED, NULL), .base_bps = 20e6});
  bool clear = false;
  for (int run = 0; run < 3 && !clear; run++) {
    meas x;
    RUN(tp_port(s), "fine.example", &x, "bytes", "64k", "pairs", "6");
    assert_false(x.censorship[0]);
    parsed p = check_stored(&x, 0);
    int thr = cs_json_get_bool(p.tk, "throttled", -1);
    assert_true(thr != 1);
    assert_string_equal(cs_json_get_str(p.thr, "direction", ""), "both");
    /* both directions, every pair complete */
    size_t up = 0, down = 0;
    for (size_t i = 0; i < p.xt->len; i++) {
      const char *d = cs_json_get_str(trial(&p, i), "direction", "");
      if (!strcmp(d, "up")) up++;
      else down++;
      assert_string_equal(cs_json_get_str(trial(&p, i), "stopped", ""), "complete");
    }
    assert_int_equal(up, down);
    double r = cs_json_get_num(p.thr, "ratio", 0);
    if (thr == 0) {
      assert_string_equal(x.key[0], "ok");
      assert_true(r > 0.5 && r < 2);
      clear = true;
    }
    cs_arena_free(p.a);
    meas_free(&x);
  }
  assert_true(clear);
  tp_stop(s);
}

/* ---- schedule ---------------------------------------------------------------------------- */

static void test_second_address(void **state) {
  (void)state;
  tp_srv *s =
      tp_start(&(tp_cfg){.tls = tsrv_server_ctx(&PKI, "tp.test", TSRV_CERT_SELF_SIGNED, NULL),
                         .base_bps = 20e6,
                         .second = true});
  meas x;
  RUN(tp_port(s), "a.example", &x, "direction", "down", "bytes", "32k", "pairs", "3", "control-sni",
      "c.example");
  parsed p = check_stored(&x, 0);
  const cs_jval *info = cs_json_get_obj(p.tk, "x_server_info");
  assert_non_null(info);
  char want[64];
  snprintf(want, sizeof want, "127.0.0.2:%u", tp_port(s));
  assert_string_equal(cs_json_get_str(info, "second_address", ""), want);
  /* pair 1 is on the second address, control first there too */
  size_t on2 = 0;
  for (size_t i = 0; i < p.xt->len; i++) {
    int64_t ai = -1, pair = -1;
    cs_json_get_i64(trial(&p, i), "address_index", &ai);
    cs_json_get_i64(trial(&p, i), "pair", &pair);
    assert_int_equal(ai, pair == 1 ? 1 : 0);
    if (ai == 1) {
      assert_string_equal(cs_json_get_str(trial(&p, i), "address", ""), want);
      on2++;
    }
  }
  assert_int_equal(on2, 2);
  char log[64][300];
  size_t nl = tp_log(s, log, 64), first2 = nl;
  for (size_t i = 0; i < nl; i++)
    if (!strncmp(log[i], "2 ", 2) && first2 == nl) first2 = i;
  assert_true(first2 < nl);
  assert_string_equal(log[first2], "2 down c.example");
  cs_arena_free(p.a);
  meas_free(&x);
  tp_stop(s);
}

/* Every name slow on the main address, fast on the second: IP-keyed, never "not throttled". */
static void test_ip_keyed(void **state) {
  (void)state;
  tp_srv *s =
      tp_start(&(tp_cfg){.tls = tsrv_server_ctx(&PKI, "tp.test", TSRV_CERT_SELF_SIGNED, NULL),
                         .base_bps = 20e6,
                         .second = true,
                         .second_bps = 200e3});
  meas x;
  RUN(tp_port(s), "any.example", &x, "direction", "down", "bytes", "48k");
  parsed p = check_stored(&x, 0);
  assert_true(cs_json_get_bool(p.tk, "throttled", -1) != 0); /* true (keyed ip) or null */
  assert_string_not_equal(x.key[0], "ok");
  const cs_jval *k = cs_json_get(p.thr, "keyed");
  if (cs_json_get_bool(p.tk, "throttled", -1) == 1) assert_string_equal(k->str, "ip");
  /* the second address was measured, control first there */
  size_t on2 = 0;
  for (size_t i = 0; i < p.xt->len; i++) {
    int64_t ai = -1;
    cs_json_get_i64(trial(&p, i), "address_index", &ai);
    if (ai == 1) on2++;
  }
  assert_true(on2 >= 2);
  cs_arena_free(p.a);
  meas_free(&x);
  tp_stop(s);
}

static void test_one_at_a_time(void **state) {
  (void)state;
  tp_srv *s = tp_start(&(tp_cfg){
      .tls = tsrv_server_ctx(&PKI, "tp.test", TSRV_CERT_SELF_SIGNED, NULL), .base_bps = 20e6});
  meas x;
  const char *in[] = {"one.example", "two.example"};
  const char *o[] = {"direction", "down",        "bytes",     "16k", "pairs",
                     "2",         "control-sni", "c.example", NULL};
  run_v(tp_port(s), in, 2, &x, o);
  char log[64][300];
  size_t nl = tp_log(s, log, 64);
  /* every request of the first target comes before any of the second */
  size_t last_one = 0, first_two = nl;
  for (size_t i = 0; i < nl; i++) {
    if (strstr(log[i], "one.example")) last_one = i;
    if (strstr(log[i], "two.example") && first_two == nl) first_two = i;
  }
  assert_true(first_two < nl);
  assert_true(last_one < first_two);
  for (int i = 0; i < 2; i++) {
    parsed p = check_stored(&x, i);
    assert_string_equal(cs_json_get_str(p.m, "input", ""), in[i]);
    cs_arena_free(p.a);
  }
  meas_free(&x);
  tp_stop(s);
}

/* ---- hostile servers ---------------------------------------------------------------------- */

/* One pair, down, against a server in mode; returns the parsed measurement. */
static parsed hostile(tp_mode mode, const char *dir, meas *x, tp_srv **srv) {
  *srv = tp_start(&(tp_cfg){.tls = tsrv_server_ctx(&PKI, "tp.test", TSRV_CERT_SELF_SIGNED, NULL),
                            .mode = mode});
  RUN(tp_port(*srv), "t.example", x, "direction", dir, "bytes", "64k", "pairs", "1");
  return check_stored(x, 0);
}

static void test_reset_mid_transfer(void **state) {
  (void)state;
  meas x;
  tp_srv *s;
  parsed p = hostile(TP_RESET_MID, "down", &x, &s);
  assert_int_equal(p.xt->len, 2);
  for (size_t i = 0; i < 2; i++) {
    const cs_jval *t = trial(&p, i);
    assert_string_equal(cs_json_get_str(t, "failure", ""), "connection_reset");
    assert_string_equal(cs_json_get_str(t, "stopped", ""), "failure");
    int64_t b = 0;
    assert_true(cs_json_get_i64(t, "bytes", &b));
    assert_true(b > 0 && b <= 32 * 1024); /* what came before the reset, no more */
  }
  assert_false(x.censorship[0]);
  assert_true(!strcmp(x.key[0], "inconclusive") || !strcmp(x.key[0], "failure"));
  cs_arena_free(p.a);
  meas_free(&x);
  tp_stop(s);
}

static void test_short_body(void **state) {
  (void)state;
  meas x;
  tp_srv *s;
  parsed p = hostile(TP_SHORT_BODY, "down", &x, &s);
  const cs_jval *t = trial(&p, 0);
  assert_string_equal(cs_json_get_str(t, "failure", ""), "eof_error");
  int64_t b = 0, cl = 0;
  cs_json_get_i64(t, "bytes", &b);
  cs_json_get_i64(t, "content_length", &cl);
  assert_int_equal(b, 32 * 1024);
  assert_int_equal(cl, 64 * 1024);
  assert_false(x.censorship[0]);
  cs_arena_free(p.a);
  meas_free(&x);
  tp_stop(s);
}

static void test_long_body(void **state) {
  (void)state;
  meas x;
  tp_srv *s;
  parsed p = hostile(TP_LONG_BODY, "down", &x, &s);
  const cs_jval *t = trial(&p, 0);
  assert_null(cs_json_get_str(t, "failure", NULL));
  int64_t b = 0;
  cs_json_get_i64(t, "bytes", &b);
  assert_int_equal(b, 64 * 1024); /* what was asked, never what was pushed beyond it */
  assert_string_equal(cs_json_get_str(t, "stopped", ""), "complete");
  cs_arena_free(p.a);
  meas_free(&x);
  tp_stop(s);
}

static void test_small_content_length(void **state) {
  (void)state;
  meas x;
  tp_srv *s;
  parsed p = hostile(TP_SMALL_CL, "down", &x, &s);
  const cs_jval *t = trial(&p, 0);
  int64_t b = 0, cl = 0, exp = 0;
  cs_json_get_i64(t, "bytes", &b);
  cs_json_get_i64(t, "content_length", &cl);
  cs_json_get_i64(t, "expected_bytes", &exp);
  assert_int_equal(exp, 64 * 1024);
  assert_int_equal(cl, 16 * 1024);
  assert_int_equal(b, 16 * 1024);
  cs_arena_free(p.a);
  meas_free(&x);
  tp_stop(s);
}

static void test_lie_received(void **state) {
  (void)state;
  meas x;
  tp_srv *s;
  parsed p = hostile(TP_LIE_RECEIVED, "up", &x, &s);
  const cs_jval *t = trial(&p, 0);
  int64_t b = 0, r = 0;
  cs_json_get_i64(t, "bytes", &b);
  assert_true(cs_json_get_i64(t, "server_received", &r));
  assert_int_equal(b, 64 * 1024); /* our count, not the server's */
  assert_int_equal(r, 128 * 1024);
  cs_arena_free(p.a);
  meas_free(&x);
  tp_stop(s);
}

static void test_refused(void **state) {
  (void)state;
  meas x;
  tp_srv *s;
  parsed p = hostile(TP_REFUSE, "down", &x, &s);
  const cs_jval *t = trial(&p, 0);
  int64_t st = 0;
  assert_true(cs_json_get_i64(t, "status", &st));
  assert_int_equal(st, 429);
  assert_string_equal(cs_json_get_str(t, "refused", ""), "rate-limit");
  assert_string_equal(cs_json_get_str(t, "failure", ""), "http_request_failed");
  assert_string_equal(x.key[0], "failure"); /* the control failed too */
  assert_true(cs_json_is_null(cs_json_get(p.tk, "throttled")));
  cs_arena_free(p.a);
  meas_free(&x);
  tp_stop(s);
}

static void test_stall(void **state) {
  (void)state;
  tp_srv *s =
      tp_start(&(tp_cfg){.tls = tsrv_server_ctx(&PKI, "tp.test", TSRV_CERT_SELF_SIGNED, NULL),
                         .base_bps = 20e6,
                         .slow_name = SLOW,
                         .stall_after = 16000});
  meas x;
  RUN(tp_port(s), SLOW, &x, "direction", "down", "bytes", "64k", "trial-time", "3");
  assert_string_equal(x.key[0], "stalled");
  assert_true(x.censorship[0]);
  parsed p = check_stored(&x, 0);
  assert_string_equal(cs_json_get_str(p.thr, "pattern", ""), "stall");
  int64_t at = 0;
  assert_true(cs_json_get_i64(p.thr, "stall_after_bytes", &at));
  assert_true(at >= 16000 && at <= 17000); /* the body's 16000 bytes, plus head and TLS framing */
  const cs_jval *t = trial(&p, 1);
  int64_t b = 0;
  cs_json_get_i64(t, "bytes", &b);
  assert_int_equal(b, 16000);
  assert_string_equal(cs_json_get_str(t, "failure", ""), "generic_timeout_error"); /* no RST */
  assert_string_not_equal(cs_json_get_str(t, "stopped", ""), "failure");
  /* a frozen flow is not cut at once: it waits THR_FROZEN_WAIT past the cut */
  assert_true(cs_json_get_num(t, "duration", 0) >= 2.0);
  cs_arena_free(p.a);
  meas_free(&x);
  tp_stop(s);
}

/* A target reset by "the censor" is blocked, not slowed: two pairs, then the run stops. */
static void test_blocked_target(void **state) {
  (void)state;
  tp_srv *s =
      tp_start(&(tp_cfg){.tls = tsrv_server_ctx(&PKI, "tp.test", TSRV_CERT_SELF_SIGNED, NULL),
                         .base_bps = 20e6,
                         .reset_name = "blocked.example"});
  meas x;
  RUN(tp_port(s), "blocked.example", &x, "direction", "down", "bytes", "32k");
  assert_string_equal(x.key[0], "inconclusive");
  assert_non_null(strstr(x.evidence[0], "blocked, not slowed"));
  parsed p = check_stored(&x, 0);
  assert_int_equal(p.xt->len, 4); /* two pairs of the ten allowed */
  assert_true(cs_json_is_null(cs_json_get(p.tk, "throttled")));
  const cs_jval *t = trial(&p, 1);
  assert_string_equal(cs_json_get_str(t, "role", ""), "target");
  assert_non_null(cs_json_get_str(t, "failure", NULL));
  cs_arena_free(p.a);
  meas_free(&x);
  tp_stop(s);
}

/* ---- names, unreachable ------------------------------------------------------------------- */

static void test_names(void **state) {
  (void)state;
  char err[256];
  void *s = NT->create();
  char name[300];
  memset(name, 'a', sizeof name);
  for (int i = 63; i < 255; i += 64) name[i] = '.';
  name[255] = 0;
  assert_int_equal(set_opt(s, "sni", name, err, sizeof err), 1); /* an input */
  name[255] = 'b', name[256] = 0;
  assert_int_equal(set_opt(s, "sni", name, err, sizeof err), -1);
  assert_non_null(strstr(err, "256"));
  assert_int_equal(set_opt(s, "sni", "a b.example", err, sizeof err), -1);
  assert_non_null(strstr(err, "0x20"));
  assert_int_equal(set_opt(s, "sni", "", err, sizeof err), -1);
  assert_int_equal(set_opt(s, "sni", "a..b", err, sizeof err), -1);
  assert_int_equal(set_opt(s, "control-sni", "x\ny", err, sizeof err), -1);
  assert_int_equal(set_opt(s, "server", "example.com:443", err, sizeof err), -1);
  assert_int_equal(set_opt(s, "server", "127.0.0.1", err, sizeof err), -1);
  assert_int_equal(set_opt(s, "direction", "sideways", err, sizeof err), -1);
  assert_int_equal(set_opt(s, "bytes", "1", err, sizeof err), -1);
  assert_int_equal(set_opt(s, "bytes", "65M", err, sizeof err), -1);
  assert_int_equal(set_opt(s, "pairs", "0", err, sizeof err), -1);
  NT->destroy(s);

  /* a 255-byte name is measured (as SNI), a longer input is refused with its reason */
  tp_srv *srv = tp_start(&(tp_cfg){
      .tls = tsrv_server_ctx(&PKI, "tp.test", TSRV_CERT_SELF_SIGNED, NULL), .base_bps = 20e6});
  name[255] = 0;
  meas x;
  char longer[320];
  snprintf(longer, sizeof longer, "%sb", name); /* 256 bytes */
  const char *in[] = {name, longer};
  const char *o[] = {"direction", "down", "bytes", "16k", "pairs", "1", NULL};
  run_v(tp_port(srv), in, 2, &x, o);
  parsed p = check_stored(&x, 0);
  assert_string_equal(cs_json_get_str(trial(&p, 1), "sni", ""), name);
  assert_null(cs_json_get_str(trial(&p, 1), "failure", NULL));
  char log[16][300];
  size_t nl = tp_log(srv, log, 16);
  assert_true(nl >= 3);
  assert_int_equal(strlen(log[2]), 5 + 255); /* "down " + the name the server saw */
  cs_arena_free(p.a);
  p = check_stored(&x, 1);
  assert_string_equal(x.key[1], "undetermined");
  assert_non_null(strstr(x.evidence[1], "invalid target name"));
  assert_non_null(strstr(x.evidence[1], "256"));
  assert_true(cs_json_is_null(cs_json_get(p.tk, "throttled")));
  cs_arena_free(p.a);
  meas_free(&x);
  tp_stop(srv);
}

static void test_unreachable(void **state) {
  (void)state;
  meas x;
  RUN(tsrv_closed_port(), "t.example", &x, "direction", "down");
  assert_string_equal(x.key[0], "failure");
  assert_non_null(strstr(x.evidence[0], "connection_refused"));
  parsed p = check_stored(&x, 0);
  assert_int_equal(p.xt->len, 0);
  assert_string_equal(cs_json_get_str(cs_json_get_obj(p.tk, "x_server_info"), "failure", ""),
                      "connection_refused");
  assert_true(cs_json_is_null(cs_json_get(p.tk, "throttled")));
  cs_arena_free(p.a);
  meas_free(&x);
}

static void test_analyze_other(void **state) {
  (void)state;
  cs_arena *a = cs_arena_new(0);
  const char *j = "{\"test_name\":\"web_connectivity\",\"test_keys\":{\"blocking\":false}}";
  cs_jval *m = cs_json_parse(a, j, strlen(j), NULL, NULL, 0);
  cs_outcome o;
  cs_analysis_opts opt = {0};
  assert_int_equal(NT->analyze(a, m, &opt, NULL, &o), -1);
  assert_string_equal(o.key, "undetermined");
  /* hostile stored keys: nonsense trials are skipped, never trusted */
  const char *h = "{\"test_keys\":{\"x_trials\":[1,{\"transaction_id\":1,\"pair\":-4,\"role\":"
                  "\"target\",\"direction\":\"down\"},{\"transaction_id\":2,\"pair\":0,\"role\":"
                  "\"x\",\"direction\":\"down\"}],\"network_events\":[{\"operation\":"
                  "\"bytes_received_cumulative\",\"transaction_id\":1,\"num_bytes\":-5,\"t\":1}]}}";
  m = cs_json_parse(a, h, strlen(h), NULL, NULL, 0);
  assert_non_null(m);
  assert_int_equal(NT->analyze(a, m, &opt, NULL, &o), 0);
  assert_string_equal(o.key, "inconclusive");
  cs_arena_free(a);
}

static int setup(void **state) {
  (void)state;
  NT = cs_nettest_find("throttling");
  if (!NT || tsrv_pki_init(&PKI) != 0) return -1;
  char err[128];
  CLIENT_TLS = cs_tls_ctx_new(NULL, true, err, sizeof err);
  return CLIENT_TLS ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  cs_tls_ctx_free(CLIENT_TLS);
  tsrv_pki_free(&PKI);
  return 0;
}

int main(void) {
  if (getenv("THR_FILTER")) cmocka_set_test_filter(getenv("THR_FILTER"));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_throttled_down),
      cmocka_unit_test(test_throttled_up_http),
      cmocka_unit_test(test_not_throttled),
      cmocka_unit_test(test_second_address),
      cmocka_unit_test(test_ip_keyed),
      cmocka_unit_test(test_one_at_a_time),
      cmocka_unit_test(test_reset_mid_transfer),
      cmocka_unit_test(test_short_body),
      cmocka_unit_test(test_long_body),
      cmocka_unit_test(test_small_content_length),
      cmocka_unit_test(test_lie_received),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_stall),
      cmocka_unit_test(test_blocked_target),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_unreachable),
      cmocka_unit_test(test_analyze_other),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
