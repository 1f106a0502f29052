/* test_upload.c - unit tests for the upload queue in the store (store/store.h) and the
 * uploader (upload/upload.h) against the loopback collector of tests/support/coll_mock.c:
 * every measurement queued (also those of a store older than the queue), OONI's flow with
 * one report per (run, test_name, cc, asn), the probe-set header, nothing sent twice,
 * fallbacks on a refused connection and on a blackhole, 4xx final and recorded, 5xx retried
 * with the attempt recorded, {} recorded as discarded, a forgotten report reopened, a re-send
 * after a lost record stored once by the collector's dedup, and the background uploader
 * (bounded final drain while the collector does not answer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coll_mock.h"
#include "engine/tls.h"
#include "store/store.h"
#include "tmp_db.h"
#include "tcp_servers.h"
#include "upload/upload.h"
#include "upload/work_client.h"
#include "util/timeutil.h"

static char dir[64], dbpath[128];

static int setup(void **st) {
  (void)st;
  return cs_test_tmpdb_make("upload", dir, sizeof dir, dbpath, sizeof dbpath);
}

static int teardown(void **st) {
  (void)st;
  cs_test_tmpdb_remove(dir, dbpath);
  return 0;
}

static cs_store *open_db(void) {
  char err[256];
  cs_store *s = cs_store_open(dbpath, err, sizeof err);
  if (!s) fprintf(stderr, "open: %s\n", err);
  assert_non_null(s);
  return s;
}

static void add(cs_store *s, int64_t run, const char *test_name, const char *url) {
  char b[1024];
  int n = snprintf(b, sizeof b,
                   "{\"input\":\"%s\",\"test_name\":\"%s\",\"test_version\":\"0.4.3\","
                   "\"probe_cc\":\"IT\",\"probe_asn\":\"AS3269\",\"report_id\":\"local\","
                   "\"software_name\":\"censorscope\",\"software_version\":\"0.1.0\","
                   "\"test_start_time\":\"2026-12-03 10:00:00\",\"measurement_start_time\":"
                   "\"2026-12-03 10:00:01\",\"data_format_version\":\"0.2.0\",\"test_keys\":{}}",
                   url, test_name);
  assert_int_equal(cs_store_add(s, run, b, (size_t)n), CS_STORE_OK);
}

static int64_t fill(cs_store *s, int n) {
  int64_t run = cs_store_run_begin(s, "web_connectivity", "", NULL, false);
  assert_true(run > 0);
  for (int i = 0; i < n; i++) {
    char u[64];
    snprintf(u, sizeof u, "http://site%d.example/", i);
    add(s, run, "web_connectivity", u);
  }
  return run;
}

static cs_store_upload_tally tally(cs_store *s) {
  cs_store_upload_tally t;
  assert_int_equal(cs_store_upload_counts(s, 0, &t), CS_STORE_OK);
  return t;
}

static void url_of(char *out, size_t cap, uint16_t port) {
  snprintf(out, cap, "http://127.0.0.1:%u", (unsigned)port);
}

static cs_upload_stats drain(cs_store *s, const char *const *colls, size_t n, double max_s) {
  cs_upload_cfg cfg = {.collectors = colls,
                       .ncollectors = n,
                       .connect_timeout = 1,
                       .request_timeout = 1,
                       .backoff_base = 0.2,
                       .backoff_max = 0.5};
  cs_upload_stats st;
  char err[256];
  assert_int_equal(cs_upload_drain(s, &cfg, max_s, &st, err, sizeof err), 0);
  return st;
}

/* ---- the queue in the store --------------------------------------------------------------- */

static void test_queue(void **st) {
  (void)st;
  cs_store *s = open_db();
  int64_t run = fill(s, 3);
  cs_store_upload_tally t = tally(s);
  assert_int_equal(t.pending, 3);
  assert_int_equal(t.sent + t.refused, 0);
  char ps[32], ps2[32];
  assert_int_equal(cs_store_probe_set(s, ps, sizeof ps), CS_STORE_OK);
  assert_int_equal(strlen(ps), CS_STORE_PROBE_SET_LEN);
  cs_arena *a = cs_arena_new(0);
  cs_store_upload_item it;
  assert_int_equal(cs_store_upload_next(s, 0, -1, a, &it), 1);
  assert_int_equal(it.run_id, run);
  assert_string_equal(it.probe_cc, "IT");
  assert_string_equal(it.input, "http://site0.example/");
  assert_non_null(strstr(it.json, "\"test_keys\""));
  int64_t first = it.meas_id;
  /* next_try: a retried measurement is not due before its time */
  assert_int_equal(cs_store_upload_retry(s, first, "connection_refused", 2e9), CS_STORE_OK);
  assert_int_equal(cs_store_upload_next(s, 0, 1.9e9, a, &it), 1);
  assert_true(it.meas_id > first);
  assert_int_equal(cs_store_upload_next(s, 0, -1, a, &it), 1);
  assert_int_equal(it.meas_id, first);
  assert_int_equal(it.attempts, 1);
  /* a state leaves pending once */
  assert_int_equal(cs_store_upload_sent(s, first, "http://c1", "uid-1"), CS_STORE_OK);
  assert_int_equal(cs_store_upload_refused(s, first, "http://c2", 400, "late"), CS_STORE_OK);
  assert_int_equal(cs_store_upload_sent(s, first, "http://c3", "uid-2"), CS_STORE_OK);
  cs_store_upload_state us;
  assert_int_equal(cs_store_upload_get(s, first, a, &us), CS_STORE_OK);
  assert_string_equal(us.state, "sent");
  assert_string_equal(us.measurement_uid, "uid-1");
  assert_string_equal(us.collector, "http://c1");
  assert_int_equal(us.attempts, 2);
  assert_null(us.last_error);
  assert_int_equal(cs_store_upload_next(s, first, -1, a, &it), 1);
  assert_int_equal(cs_store_upload_refused(s, it.meas_id, "http://c2", 413, "too big"),
                   CS_STORE_OK);
  t = tally(s);
  assert_int_equal(t.pending, 1);
  assert_int_equal(t.sent, 1);
  assert_int_equal(t.refused, 1);
  cs_arena_free(a);
  cs_store_close(s);
  /* the probe-set id is kept */
  s = open_db();
  assert_int_equal(cs_store_probe_set(s, ps2, sizeof ps2), CS_STORE_OK);
  assert_string_equal(ps, ps2);
  cs_store_close(s);
}

/* A store written before the queue existed: its measurements are all pending once opened. */
static void test_queue_migration(void **st) {
  (void)st;
  cs_store *s = open_db();
  fill(s, 4);
  cs_store_close(s);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "DROP TRIGGER uploads_queue; DROP TABLE uploads; DROP TABLE meta;"
                                "PRAGMA user_version",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  s = open_db();
  cs_store_upload_tally t = tally(s);
  assert_int_equal(t.pending, 4);
  assert_int_equal(cs_store_count(s, 1), 4);
  cs_store_close(s);
}

static void test_backoff(void **st) {
  (void)st;
  assert_true(cs_upload_backoff(1, 300, 1, 0) == 0.5);
  assert_true(cs_upload_backoff(1, 300, 1, 0.999) < 1.0);
  assert_true(cs_upload_backoff(1, 300, 4, 0) == 4.0);
  assert_true(cs_upload_backoff(1, 300, 40, 0.5) == 225.0); /* capped at 300, jitter half */
  assert_true(cs_upload_backoff(1, 300, 100000, 0) == 150.0);
}

/* ---- the uploader against a loopback collector ------------------------------------------- */

static void test_upload_once(void **st) {
  (void)st;
  cs_store *s = open_db();
  int64_t run = fill(s, 3);
  add(s, run, "urlgetter", "http://other.example/"); /* a second report */
  collm *m = collm_start(COLLM_OK);
  char url[64];
  url_of(url, sizeof url, collm_port(m));
  const char *colls[] = {url};
  cs_upload_stats us = drain(s, colls, 1, 10);
  assert_int_equal(us.sent, 4);
  assert_int_equal(us.refused, 0);
  assert_int_equal(collm_stored(m), 4);
  assert_int_equal(collm_submissions(m), 4);
  assert_int_equal(collm_reports_opened(m), 2); /* one per (run, test_name, cc, asn) */
  assert_int_equal(collm_reports_closed(m), 2);
  char ps[32], hdr[80];
  assert_int_equal(cs_store_probe_set(s, ps, sizeof ps), CS_STORE_OK);
  collm_last_probe_set(m, hdr, sizeof hdr);
  assert_string_equal(ps, hdr);
  cs_store_upload_tally t = tally(s);
  assert_int_equal(t.sent, 4);
  assert_int_equal(t.pending, 0);
  cs_arena *a = cs_arena_new(0);
  cs_store_upload_state u;
  assert_int_equal(cs_store_upload_get(s, 1, a, &u), CS_STORE_OK);
  assert_string_equal(u.collector, url);
  assert_non_null(strstr(u.measurement_uid, "_IT_"));
  cs_arena_free(a);
  /* again: nothing to send, no request */
  int before = collm_requests(m);
  us = drain(s, colls, 1, 10);
  assert_int_equal(us.sent, 0);
  assert_int_equal(collm_requests(m), before);
  collm_stop(m);
  cs_store_close(s);
}

/* The first collector refuses connections: the second gets everything. */
static void test_fallback_refused(void **st) {
  (void)st;
  cs_store *s = open_db();
  fill(s, 3);
  collm *m = collm_start(COLLM_OK);
  char u1[64], u2[64];
  url_of(u1, sizeof u1, tsrv_closed_port());
  url_of(u2, sizeof u2, collm_port(m));
  const char *colls[] = {u1, u2};
  cs_upload_stats us = drain(s, colls, 2, 10);
  assert_int_equal(us.sent, 3);
  assert_true(us.failures >= 1);
  assert_int_equal(collm_stored(m), 3);
  cs_arena *a = cs_arena_new(0);
  cs_store_upload_state u;
  assert_int_equal(cs_store_upload_get(s, 3, a, &u), CS_STORE_OK);
  assert_string_equal(u.state, "sent");
  assert_string_equal(u.collector, u2);
  cs_arena_free(a);
  collm_stop(m);
  cs_store_close(s);
}

/* The first collector accepts and never answers: after the request deadline the second is
 * used, and the first is skipped for its backoff (not waited for per measurement). */
static void test_fallback_blackhole(void **st) {
  (void)st;
  cs_store *s = open_db();
  fill(s, 5);
  collm *hole = collm_start(COLLM_BLACKHOLE), *m = collm_start(COLLM_OK);
  char u1[64], u2[64];
  url_of(u1, sizeof u1, collm_port(hole));
  url_of(u2, sizeof u2, collm_port(m));
  const char *colls[] = {u1, u2};
  cs_upload_cfg cfg = {.collectors = colls,
                       .ncollectors = 2,
                       .connect_timeout = 1,
                       .request_timeout = 0.5,
                       .backoff_base = 60,
                       .backoff_max = 60};
  cs_upload_stats us;
  char err[256];
  double t0 = cs_mono_now();
  assert_int_equal(cs_upload_drain(s, &cfg, 20, &us, err, sizeof err), 0);
  double el = cs_mono_now() - t0;
  assert_int_equal(us.sent, 5);
  assert_int_equal(collm_stored(m), 5);
  assert_int_equal(collm_requests(hole), 1); /* asked once, then skipped */
  assert_true(el < 10);
  collm_stop(hole);
  collm_stop(m);
  cs_store_close(s);
}

static void test_refused_final(void **st) {
  (void)st;
  cs_store *s = open_db();
  fill(s, 2);
  collm *m = collm_start(COLLM_REFUSE);
  char url[64];
  url_of(url, sizeof url, collm_port(m));
  const char *colls[] = {url};
  cs_upload_stats us = drain(s, colls, 1, 10);
  assert_int_equal(us.refused, 2);
  assert_int_equal(us.sent, 0);
  cs_arena *a = cs_arena_new(0);
  cs_store_upload_state u;
  assert_int_equal(cs_store_upload_get(s, 1, a, &u), CS_STORE_OK);
  assert_string_equal(u.state, "refused");
  assert_int_equal(u.http_status, 400);
  /* the reason as the collector gave it, control characters neutralised */
  assert_string_equal(u.reason, "HTTP 400: Inconsistent measurement?");
  cs_arena_free(a);
  /* final: never retried, even once the collector would accept */
  collm_set_mode(m, COLLM_OK);
  int before = collm_requests(m);
  us = drain(s, colls, 1, 10);
  assert_int_equal(us.sent + us.refused, 0);
  assert_int_equal(collm_requests(m), before);
  collm_stop(m);
  cs_store_close(s);
}

static void test_5xx_retried(void **st) {
  (void)st;
  cs_store *s = open_db();
  fill(s, 2);
  collm *m = collm_start(COLLM_FAIL_500);
  char url[64];
  url_of(url, sizeof url, collm_port(m));
  const char *colls[] = {url};
  cs_upload_stats us = drain(s, colls, 1, 1.5);
  assert_int_equal(us.sent + us.refused, 0);
  assert_true(us.failures >= 2);       /* retried with backoff within the 1.5 s */
  assert_true(collm_requests(m) < 20); /* ... not hammered */
  cs_arena *a = cs_arena_new(0);
  cs_store_upload_state u;
  assert_int_equal(cs_store_upload_get(s, 1, a, &u), CS_STORE_OK);
  assert_string_equal(u.state, "pending");
  assert_true(u.attempts >= 1);
  assert_string_equal(u.last_error, "HTTP 503: overloaded");
  assert_true(u.next_try > (double)time(NULL) - 1);
  cs_arena_free(a);
  collm_set_mode(m, COLLM_OK);
  us = drain(s, colls, 1, 10);
  assert_int_equal(us.sent, 2);
  assert_int_equal(tally(s).pending, 0);
  collm_stop(m);
  cs_store_close(s);
}

static void test_discarded_and_forgotten(void **st) {
  (void)st;
  cs_store *s = open_db();
  fill(s, 1);
  collm *m = collm_start(COLLM_DISCARD);
  char url[64];
  url_of(url, sizeof url, collm_port(m));
  const char *colls[] = {url};
  cs_upload_stats us = drain(s, colls, 1, 10);
  assert_int_equal(us.refused, 1);
  cs_arena *a = cs_arena_new(0);
  cs_store_upload_state u;
  assert_int_equal(cs_store_upload_get(s, 1, a, &u), CS_STORE_OK);
  assert_string_equal(u.state, "refused");
  assert_non_null(strstr(u.reason, "discarded"));
  /* a collector that forgot the report: a new one is opened, once */
  collm_set_mode(m, COLLM_FORGET);
  add(s, 1, "web_connectivity", "http://later.example/");
  int opened = collm_reports_opened(m);
  us = drain(s, colls, 1, 10);
  assert_int_equal(us.sent, 1);
  assert_int_equal(collm_reports_opened(m), opened + 2);
  cs_arena_free(a);
  collm_stop(m);
  cs_store_close(s);
}

/* The 200 came but was not recorded (a crash in between): the measurement is sent again and
 * the collector's dedup (probe-set + content) answers with the first uid, storing nothing. */
static void test_resend_after_lost_record(void **st) {
  (void)st;
  cs_store *s = open_db();
  fill(s, 3);
  collm *m = collm_start(COLLM_OK);
  char url[64];
  url_of(url, sizeof url, collm_port(m));
  const char *colls[] = {url};
  drain(s, colls, 1, 10);
  cs_arena *a = cs_arena_new(0);
  cs_store_upload_state u;
  assert_int_equal(cs_store_upload_get(s, 2, a, &u), CS_STORE_OK);
  char uid[128];
  snprintf(uid, sizeof uid, "%s", u.measurement_uid);
  cs_store_close(s);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "UPDATE uploads SET state='pending', measurement_uid=NULL "
                                "WHERE meas_id=2",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  s = open_db();
  cs_upload_stats us = drain(s, colls, 1, 10);
  assert_int_equal(us.sent, 1);
  assert_int_equal(collm_stored(m), 3);
  assert_int_equal(collm_submissions(m), 4);
  assert_int_equal(cs_store_upload_get(s, 2, a, &u), CS_STORE_OK);
  assert_string_equal(u.measurement_uid, uid);
  cs_arena_free(a);
  collm_stop(m);
  cs_store_close(s);
}

/* The background uploader: measurements stored while it runs are sent; with the collector
 * silent, stopping takes the bounded wait, and the measurements stay pending. */
static void test_background(void **st) {
  (void)st;
  cs_store *s = open_db();
  int64_t run = fill(s, 2); /* pending from before */
  collm *m = collm_start(COLLM_OK);
  char url[64];
  url_of(url, sizeof url, collm_port(m));
  const char *colls[] = {url};
  cs_upload_cfg cfg = {.collectors = colls, .ncollectors = 1, .connect_timeout = 1};
  char err[256];
  cs_upload_bg *b = cs_upload_bg_start(dbpath, &cfg, err, sizeof err);
  assert_non_null(b);
  for (int i = 0; i < 5; i++) {
    char u[64];
    snprintf(u, sizeof u, "http://bg%d.example/", i);
    add(s, run, "web_connectivity", u);
    cs_upload_bg_kick(b);
  }
  cs_upload_stats us;
  cs_upload_bg_stop(b, 10, &us);
  assert_int_equal(us.sent, 7);
  assert_int_equal(collm_stored(m), 7);
  assert_int_equal(tally(s).pending, 0);

  collm_set_mode(m, COLLM_BLACKHOLE);
  cfg.request_timeout = 30;
  b = cs_upload_bg_start(dbpath, &cfg, err, sizeof err);
  assert_non_null(b);
  add(s, run, "web_connectivity", "http://late.example/");
  cs_upload_bg_kick(b);
  double t0 = cs_mono_now();
  cs_upload_bg_stop(b, 0.5, &us);
  assert_true(cs_mono_now() - t0 < 5); /* the final drain is bounded */
  assert_int_equal(us.sent, 0);
  assert_int_equal(tally(s).pending, 1);
  collm_stop(m);
  cs_store_close(s);
}

/* An https collector verified with the run's trust store (--ca-file); without the CA the
 * handshake fails, the failure is recorded and the measurement stays pending. */
static void test_https(void **st) {
  (void)st;
  cs_store *s = open_db();
  fill(s, 2);
  tsrv_pki pki;
  assert_int_equal(tsrv_pki_init(&pki), 0);
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 70\r\n\r\n"
      "{\"report_id\":\"r1\",\"measurement_uid\":\"20261203000000.000000_IT_wc_abc\"}";
  tsrv_cfg tc = {.mode = TSRV_RESPOND,
                 .resp = (const uint8_t *)resp,
                 .resp_len = sizeof resp - 1,
                 .tls = tsrv_server_ctx(&pki, "127.0.0.1", TSRV_CERT_GOOD, "http/1.1")};
  tsrv *srv = tsrv_start(&tc);
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%u", (unsigned)tsrv_port(srv));
  const char *colls[] = {url};
  char err[256];
  cs_tls_ctx *nocas = cs_tls_ctx_new(NULL, true, err, sizeof err);
  assert_non_null(nocas);
  cs_upload_cfg cfg = {.collectors = colls,
                       .ncollectors = 1,
                       .tls = nocas,
                       .connect_timeout = 2,
                       .request_timeout = 2,
                       .backoff_base = 5};
  cs_upload_stats us;
  assert_int_equal(cs_upload_drain(s, &cfg, 2, &us, err, sizeof err), 0);
  assert_int_equal(us.sent, 0);
  cs_arena *a = cs_arena_new(0);
  cs_store_upload_state u;
  assert_int_equal(cs_store_upload_get(s, 1, a, &u), CS_STORE_OK);
  assert_string_equal(u.state, "pending");
  assert_string_equal(u.last_error, "ssl_unknown_authority");
  cs_tls_ctx *tls = cs_tls_ctx_new(pki.ca_file, true, err, sizeof err);
  assert_non_null(tls);
  cfg.tls = tls;
  assert_int_equal(cs_upload_drain(s, &cfg, 10, &us, err, sizeof err), 0);
  assert_int_equal(us.sent, 2);
  assert_int_equal(cs_store_upload_get(s, 2, a, &u), CS_STORE_OK);
  assert_string_equal(u.state, "sent");
  assert_string_equal(u.measurement_uid, "20261203000000.000000_IT_wc_abc");
  cs_arena_free(a);
  tsrv_stop(srv);
  SSL_CTX_free(tc.tls);
  cs_tls_ctx_free(tls);
  cs_tls_ctx_free(nocas);
  tsrv_pki_free(&pki);
  cs_store_close(s);
}

/* Held back: with a limit, only measurements up to it are sent (a --work chunk once done). */
static void test_limit(void **st) {
  (void)st;
  cs_store *s = open_db();
  fill(s, 4);
  collm *m = collm_start(COLLM_OK);
  char url[64];
  url_of(url, sizeof url, collm_port(m));
  const char *colls[] = {url};
  cs_upload_cfg cfg = {
      .collectors = colls, .ncollectors = 1, .connect_timeout = 1, .hold = true, .hold_above = 2};
  char err[256];
  cs_upload_bg *b = cs_upload_bg_start(dbpath, &cfg, err, sizeof err);
  assert_non_null(b);
  cs_upload_stats us;
  cs_upload_bg_stop(b, 5, &us);
  assert_int_equal(us.sent, 2);
  cs_store_upload_tally t = tally(s);
  assert_int_equal(t.sent, 2);
  assert_int_equal(t.pending, 2);
  /* raised while running: the rest follows */
  b = cs_upload_bg_start(dbpath, &cfg, err, sizeof err);
  assert_non_null(b);
  cs_upload_bg_limit(b, 4);
  cs_upload_bg_stop(b, 5, &us);
  t = tally(s);
  assert_int_equal(t.sent, 4);
  assert_int_equal(collm_stored(m), 4);
  collm_stop(m);
  cs_store_close(s);
}

static int claim(const char *json, cs_work_claim *c, cs_arena *a) {
  char err[256];
  return cs_work_claim_parse(a, json, strlen(json), c, err, sizeof err);
}

static void test_claim_parse(void **st) {
  (void)st;
  cs_arena *a = cs_arena_new(0);
  cs_work_claim c;
  assert_int_equal(claim("{\"lease_id\":\"7-AbCdEfGhIjKlMnOp\",\"list\":\"l\",\"chunk\":2,"
                         "\"lease_seconds\":600,\"inputs\":[{\"input\":\"http://a.example/\","
                         "\"category_code\":\"NEWS\"},\"http://b.example/\"]}",
                         &c, a),
                   0);
  assert_string_equal(c.lease_id, "7-AbCdEfGhIjKlMnOp");
  assert_int_equal(c.chunk, 2);
  assert_int_equal(c.ninputs, 2);
  assert_string_equal(c.inputs[1], "http://b.example/");
  assert_string_equal(c.categories[0], "NEWS");
  assert_null(c.categories[1]);
  assert_int_equal(claim("{\"lease_id\":null,\"done\":true}", &c, a), 0);
  assert_true(c.done);
  assert_null(c.lease_id);
  assert_int_equal(claim("{\"lease_id\":null,\"done\":false,\"retry_after\":1e9}", &c, a), 0);
  assert_false(c.done);
  assert_true(c.retry_after == 300); /* clamped */
  /* hostile answers */
  const char *bad[] = {
      "",
      "[]",
      "{\"lease_id\":null}",
      "{\"lease_id\":\"../x\",\"chunk\":0,\"lease_seconds\":5,\"inputs\":[\"x\"]}",
      "{\"lease_id\":\"1-a\",\"chunk\":-1,\"lease_seconds\":5,\"inputs\":[\"x\"]}",
      "{\"lease_id\":\"1-a\",\"chunk\":0,\"lease_seconds\":0,\"inputs\":[\"x\"]}",
      "{\"lease_id\":\"1-a\",\"chunk\":0,\"lease_seconds\":5,\"inputs\":[]}",
      "{\"lease_id\":\"1-a\",\"chunk\":0,\"lease_seconds\":5,\"inputs\":[\"a\\u0000b\"]}",
      "{\"lease_id\":\"1-a\",\"chunk\":0,\"lease_seconds\":5,\"inputs\":[\"a\\nb\"]}",
      "{\"lease_id\":\"1-a\",\"chunk\":0,\"lease_seconds\":5,\"inputs\":[{\"input\":3}]}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(claim(bad[i], &c, a), -1);
  /* too many inputs */
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_buf_puts(&b, "{\"lease_id\":\"1-a\",\"chunk\":0,\"lease_seconds\":5,\"inputs\":[");
  for (int i = 0; i <= CS_WORK_MAX_INPUTS; i++) cs_buf_printf(&b, "%s\"u%d\"", i ? "," : "", i);
  cs_buf_puts(&b, "]}");
  assert_int_equal(claim(cs_buf_cstr(&b), &c, a), -1);
  cs_buf_free(&b);
  cs_arena_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_migration, setup, teardown),
      cmocka_unit_test(test_backoff),
      cmocka_unit_test_setup_teardown(test_upload_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fallback_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fallback_blackhole, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refused_final, setup, teardown),
      cmocka_unit_test_setup_teardown(test_5xx_retried, setup, teardown),
      cmocka_unit_test_setup_teardown(test_discarded_and_forgotten, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resend_after_lost_record, setup, teardown),
      cmocka_unit_test_setup_teardown(test_background, setup, teardown),
      cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_https, setup, teardown),
      cmocka_unit_test(test_claim_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
