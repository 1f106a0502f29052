/* test_collector.c - the collector's pure parts (collector/submit.c): report_id shape and
 * round trip, measurement_uid, the probe-set header, the canonical JSON and the dedup key,
 * and the validation rules of a submission with their reasons. No server, no PostgreSQL
 * (tests/net/collector_ingest.sh runs those). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/collector.h"

static const cs_coll_cfg cfg = {
    .max_body = 1u << 20, .max_age_s = 30 * 86400.0, .max_future_s = 86400.0};

static void test_report_id(void **state) {
  (void)state;
  cs_coll_rid r;
  char err[160];
  assert_int_equal(cs_coll_report_id_parse("20261203T124210Z_webconnectivity_PK_45595_n1_"
                                           "abcdEFGH12345678",
                                           &r, err, sizeof err),
                   0);
  assert_string_equal(r.test_name, "webconnectivity");
  assert_string_equal(r.cc, "PK");
  assert_int_equal(r.asn, 45595);
  assert_int_equal(r.collector_id, 1);
  const char *bad[] = {
      "",
      "20261203T124210Z_webconnectivity_PK_45595_n1",                        /* 5 parts */
      "20261203T124210Z_web_connectivity_PK_45595_n1_abcdEFGH12345678",      /* 7 parts */
      "20261203X124210Z_webconnectivity_PK_45595_n1_abcdEFGH12345678",       /* timestamp */
      "20261203T124210Z_webconnectivity_pk_45595_n1_abcdEFGH12345678",       /* cc */
      "20261203T124210Z_webconnectivity_PK_AS45595_n1_abcdEFGH12345678",     /* asn */
      "20261203T124210Z_webconnectivity_PK_99999999999_n1_abcdEFGH12345678", /* asn range */
      "20261203T124210Z_webconnectivity_PK_45595_x1_abcdEFGH12345678",       /* collector */
      "20261203T124210Z_webconnectivity_PK_45595_n1_abc",                    /* random short */
      "20261203T124210Z_webconnectivity_PK_45595_n1_abcdEFGH1234567/",       /* random set */
      "20261203T124210Z_Web!_PK_45595_n1_abcdEFGH12345678",                  /* test name */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err[0] = 0;
    assert_int_equal(cs_coll_report_id_parse(bad[i], &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad report_id"));
  }
  /* made ids parse back to what they were made from */
  uint8_t rnd[16];
  for (int i = 0; i < 16; i++) rnd[i] = (uint8_t)(i * 37 + 200);
  char rid[CS_COLL_RID_MAX];
  assert_int_equal(
      cs_coll_report_id_make(1796301730, "web_connectivity", "PK", 45595, 7, rnd, rid, sizeof rid),
      0);
  assert_int_equal(strncmp(rid, "20261203T124210Z_webconnectivity_PK_45595_n7_", 45), 0);
  assert_int_equal(strlen(rid), 45 + 16);
  assert_int_equal(cs_coll_report_id_parse(rid, &r, err, sizeof err), 0);
  assert_int_equal(r.collector_id, 7);
  assert_string_equal(r.test_name, "webconnectivity");
}

static void test_uid(void **state) {
  (void)state;
  char uid[CS_COLL_UID_MAX], uid2[CS_COLL_UID_MAX];
  const uint8_t body[] = "{\"x\":1}";
  assert_int_equal(
      cs_coll_uid_make(1796301730, 1234, "PK", "web_connectivity", body, 7, uid, sizeof uid), 0);
  /* YYYYmmddHHMMSS.ffffff_CC_testname_16hex: OONI's shape */
  assert_int_equal(strncmp(uid, "20261203124210.001234_PK_webconnectivity_", 41), 0);
  assert_int_equal(strlen(uid), 41 + 16);
  assert_int_equal(strspn(uid + 41, "0123456789abcdef"), 16);
  /* the hash is SHA-512 of the body: another body, another suffix */
  assert_int_equal(cs_coll_uid_make(1796301730, 1234, "PK", "web_connectivity",
                                    (const uint8_t *)"{\"x\":2}", 7, uid2, sizeof uid2),
                   0);
  assert_string_not_equal(uid + 41, uid2 + 41);
  assert_int_equal(strncmp(uid, uid2, 41), 0);
}

static void test_probe_set(void **state) {
  (void)state;
  assert_true(cs_coll_probe_set_ok(""));
  assert_true(cs_coll_probe_set_ok("probe-1.a_B"));
  assert_false(cs_coll_probe_set_ok("a b"));
  assert_false(cs_coll_probe_set_ok("x/y"));
  char big[80];
  memset(big, 'a', 65);
  big[65] = 0;
  assert_false(cs_coll_probe_set_ok(big));
  big[64] = 0;
  assert_true(cs_coll_probe_set_ok(big));
}

static void now_str(int64_t t, char *out, size_t n) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

/* A submission envelope around a small measurement (not analysable: msm_failure). */
static char *envelope(const char *extra, const char *cc, const char *asn, const char *tn,
                      const char *start) {
  char *b = malloc(2048);
  assert_non_null(b);
  snprintf(b, 2048,
           "{\"format\":\"json\",\"content\":{\"test_name\":\"%s\",\"probe_cc\":\"%s\","
           "\"probe_asn\":\"%s\",\"measurement_start_time\":\"%s\",\"input\":"
           "\"https://Example.ORG/path\",\"test_runtime\":1.25,\"software_name\":\"t\"%s}}",
           tn, cc, asn, start, extra);
  return b;
}

static int parse(const char *body, const cs_coll_rid *rid, const char *ps, int64_t now,
                 cs_coll_msm *m, char *err, size_t errlen, cs_arena *a) {
  return cs_coll_submission_parse(a, (const uint8_t *)body, strlen(body), CS_COLL_SUB_REPORT, rid,
                                  ps, now, &cfg, NULL, m, err, errlen);
}

static void test_submission_rules(void **state) {
  (void)state;
  int64_t now = (int64_t)time(NULL);
  char st[32], old[32], fut[32], err[320];
  now_str(now - 60, st, sizeof st);
  now_str(now - 31 * 86400, old, sizeof old);
  now_str(now + 2 * 86400, fut, sizeof fut);
  cs_arena *a = cs_arena_new(0);
  assert_non_null(a);
  cs_coll_rid rid;
  assert_int_equal(cs_coll_report_id_parse("20261203T124210Z_webconnectivity_PK_45595_n1_"
                                           "abcdEFGH12345678",
                                           &rid, err, sizeof err),
                   0);
  cs_coll_msm m;
  char *b = envelope("", "PK", "AS45595", "web_connectivity", st);
  assert_int_equal(parse(b, &rid, "", now, &m, err, sizeof err, a), 0);
  assert_string_equal(m.domain, "example.org");
  assert_int_equal(m.probe_asn, 45595);
  assert_true(fabs(m.test_runtime - 1.25) < 1e-9);
  assert_true(m.msm_failure); /* no test_keys: not analysable */
  assert_null(m.outcome);
  uint8_t k1[32];
  memcpy(k1, m.dedup_key, 32);
  cs_coll_msm_free(&m);
  /* the same content under another report_id and with a measurement_uid: same key */
  char *b2 = envelope(",\"report_id\":\"other\",\"measurement_uid\":\"x\"", "PK", "AS45595",
                      "web_connectivity", st);
  assert_int_equal(parse(b2, NULL, "", now, &m, err, sizeof err, a), 0);
  assert_memory_equal(k1, m.dedup_key, 32);
  cs_coll_msm_free(&m);
  /* another probe set: another key; another content: another key */
  assert_int_equal(parse(b, NULL, "set-2", now, &m, err, sizeof err, a), 0);
  assert_memory_not_equal(k1, m.dedup_key, 32);
  cs_coll_msm_free(&m);
  free(b2);
  b2 = envelope(",\"x\":1", "PK", "AS45595", "web_connectivity", st);
  assert_int_equal(parse(b2, NULL, "", now, &m, err, sizeof err, a), 0);
  assert_memory_not_equal(k1, m.dedup_key, 32);
  cs_coll_msm_free(&m);
  free(b2);
  free(b);

  struct {
    const char *body_extra, *cc, *asn, *tn, *start;
    bool with_rid;
    int want;
    const char *reason;
  } cases[] = {
      {"", "IT", "AS45595", "web_connectivity", st, true, 400, "Inconsistent measurement"},
      {"", "PK", "AS1", "web_connectivity", st, true, 400, "Inconsistent measurement"},
      {"", "PK", "AS45595", "dnscheck", st, true, 400, "Inconsistent measurement"},
      {"", "PK", "AS45595", "web_connectivity", old, false, 400, "older than"},
      {"", "PK", "AS45595", "web_connectivity", fut, false, 400, "in the future"},
      {"", "PK", "AS45595", "web_connectivity", "2026-02-31 00:00:00", false, 400,
       "measurement_start_time"},
      {"", "PK", "45595", "web_connectivity", st, false, 400, "probe_asn"},
      {"", "pk", "AS45595", "web_connectivity", st, false, 400, "probe_cc"},
      {"", "PK", "AS45595", "Web-Connectivity", st, false, 400, "test_name"},
      {"", "ZZ", "AS45595", "web_connectivity", st, false, CS_COLL_DISCARD, NULL},
      {"", "PK", "AS0", "web_connectivity", st, false, CS_COLL_DISCARD, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    b = envelope(cases[i].body_extra, cases[i].cc, cases[i].asn, cases[i].tn, cases[i].start);
    err[0] = 0;
    int rc = parse(b, cases[i].with_rid ? &rid : NULL, "", now, &m, err, sizeof err, a);
    if (rc != cases[i].want) fail_msg("case %zu: %d (%s)", i, rc, err);
    if (cases[i].reason && !strstr(err, cases[i].reason)) fail_msg("case %zu: reason '%s'", i, err);
    cs_coll_msm_free(&m);
    free(b);
  }
  /* envelope errors */
  const char *envs[] = {"{", "[]", "{\"format\":\"yaml\",\"content\":{}}", "{\"format\":\"json\"}",
                        "{\"content\":\"{}\"}"};
  const char *why[] = {"malformed JSON", "not a JSON object", "format", "content", "content"};
  for (size_t i = 0; i < sizeof envs / sizeof *envs; i++) {
    assert_int_equal(parse(envs[i], NULL, "", now, &m, err, sizeof err, a), 400);
    if (!strstr(err, why[i])) fail_msg("envelope %zu: '%s'", i, err);
    cs_coll_msm_free(&m);
  }
  /* a body over the cap is 413 before parsing */
  cs_coll_cfg small = cfg;
  small.max_body = 16;
  assert_int_equal(cs_coll_submission_parse(a, (const uint8_t *)"{\"format\":\"json\",\"a\":1}", 24,
                                            CS_COLL_SUB_REPORT, NULL, "", now, &small, NULL, &m,
                                            err, sizeof err),
                   413);
  cs_coll_msm_free(&m);
  cs_arena_free(a);
}

static void test_canonical_json(void **state) {
  (void)state;
  cs_arena *a = cs_arena_new(0);
  char err[64];
  const char *in = "{ \"a\" : [1, 2.5, 1e300, -0.1, 1234567890123, 0.30000000000000004],"
                   "\"s\":\"\\u00e9\\n\", \"t\":true,\"n\":null,\"t0\":1796301730.123456}";
  const cs_jval *v = cs_json_parse(a, in, strlen(in), NULL, err, sizeof err);
  assert_non_null(v);
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_coll_json_write(&b, v);
  assert_non_null(cs_buf_cstr(&b));
  assert_string_equal((const char *)b.data,
                      "{\"a\":[1,2.5,1e+300,-0.1,1234567890123,0.30000000000000004],"
                      "\"s\":\"\xc3\xa9\\n\",\"t\":true,\"n\":null,\"t0\":1796301730.123456}");
  /* a fixed point: writing the re-read output gives the same bytes */
  const cs_jval *v2 = cs_json_parse(a, (const char *)b.data, b.len, NULL, err, sizeof err);
  assert_non_null(v2);
  cs_buf b2;
  cs_buf_init(&b2, 0);
  cs_coll_json_write(&b2, v2);
  assert_int_equal(b.len, b2.len);
  assert_memory_equal(b.data, b2.data, b.len);
  cs_buf_free(&b);
  cs_buf_free(&b2);
  /* bytes that are not UTF-8 (in a key and a value) become U+FFFD as raw UTF-8, so the
   * canonical form is a fixed point (a replayed can line keeps its dedup key) */
  const char *bad = "{\"k\xe5y\":\"v\xff\\u0001\"}";
  v = cs_json_parse(a, bad, strlen(bad), NULL, err, sizeof err);
  assert_non_null(v);
  cs_buf_init(&b, 0);
  cs_coll_json_write(&b, v);
  assert_non_null(cs_buf_cstr(&b));
  assert_string_equal((const char *)b.data, "{\"k\xef\xbf\xbdy\":\"v\xef\xbf\xbd\\u0001\"}");
  v2 = cs_json_parse(a, (const char *)b.data, b.len, NULL, err, sizeof err);
  assert_non_null(v2);
  cs_buf_init(&b2, 0);
  cs_coll_json_write(&b2, v2);
  assert_int_equal(b.len, b2.len);
  assert_memory_equal(b.data, b2.data, b.len);
  cs_buf_free(&b);
  cs_buf_free(&b2);
  cs_arena_free(a);
}

static void test_can_line(void **state) {
  (void)state;
  int64_t now = (int64_t)time(NULL);
  char st[32], err[320];
  now_str(now, st, sizeof st);
  cs_arena *a = cs_arena_new(0);
  char *b = envelope(",\"report_id\":\"old\"", "PK", "AS45595", "web_connectivity", st);
  cs_coll_msm m;
  assert_int_equal(parse(b, NULL, "", now, &m, err, sizeof err, a), 0);
  cs_buf line;
  cs_buf_init(&line, 0);
  assert_int_equal(cs_coll_can_line(&m, "UID", "RID", "ps1", &line), 0);
  assert_int_equal(line.data[line.len - 1], '\n');
  const cs_jval *v = cs_json_parse(a, (const char *)line.data, line.len - 1, NULL, err, sizeof err);
  assert_non_null(v);
  assert_string_equal(cs_json_get_str(v, "measurement_uid", ""), "UID");
  assert_string_equal(cs_json_get_str(v, "probe_set", ""), "ps1");
  const cs_jval *c = cs_json_get_obj(v, "content");
  assert_string_equal(cs_json_get_str(c, "report_id", ""), "RID"); /* the submission's */
  assert_string_equal(cs_json_get_str(c, "probe_cc", ""), "PK");
  /* re-checking the stored content gives the same dedup key (replay) */
  cs_coll_msm m2;
  assert_int_equal(cs_coll_content_check(a, c, NULL, "ps1", 0, &cfg, NULL, &m2, err, sizeof err),
                   0);
  cs_coll_msm m3;
  assert_int_equal(parse(b, NULL, "ps1", now, &m3, err, sizeof err, a), 0);
  assert_memory_equal(m2.dedup_key, m3.dedup_key, 32);
  cs_coll_msm_free(&m);
  cs_coll_msm_free(&m2);
  cs_coll_msm_free(&m3);
  cs_buf_free(&line);
  free(b);
  cs_arena_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report_id),      cmocka_unit_test(test_uid),
      cmocka_unit_test(test_probe_set),      cmocka_unit_test(test_submission_rules),
      cmocka_unit_test(test_canonical_json), cmocka_unit_test(test_can_line),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
