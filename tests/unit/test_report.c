/* test_report.c - unit tests for report/: the outcome rules, the numbers of a report built from
 * synthetic measurements (tests/fixtures/report/sample.jsonl) cross-checked with SQL over the
 * stored rows, hostile strings escaped in HTML / quoted in CSV / neutralised in text, the
 * JSON schema, and the category/fingerprint caps that keep memory flat on big runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/csv.h"
#include "report/report.h"
#include "util/json.h"

#define SAMPLE "tests/fixtures/report/sample.jsonl"
#define HOSTILE "<script>alert(1)</script>\"'&"

static char dir[64], dbpath[128];
static cs_store *store;
static int64_t run;

static int setup(void **st) {
  (void)st;
  snprintf(dir, sizeof dir, "/tmp/cs_report_test.XXXXXX");
  if (!mkdtemp(dir)) return -1;
  snprintf(dbpath, sizeof dbpath, "%s/r.db", dir);
  char err[256];
  store = cs_store_open(dbpath, err, sizeof err);
  if (!store || cs_store_set_analyzer(store, cs_report_analyzer, NULL)) return -1;
  run = cs_store_run_begin(store, "web_connectivity", SAMPLE, NULL, false);
  FILE *f = fopen(SAMPLE, "rb");
  if (!f || run <= 0) return -1;
  cs_store_import_stats is;
  int rc = cs_store_import_jsonl(store, run, f, &is);
  fclose(f);
  /* 15 measurements, one duplicate input, one truncated line */
  if (rc || is.added != 15 || is.duplicate != 1 || is.bad != 1) return -1;
  return 0;
}

static int teardown(void **st) {
  (void)st;
  cs_store_close(store);
  char p[192];
  const char *sfx[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s%s", dbpath, sfx[i]);
    unlink(p);
  }
  rmdir(dir);
  return 0;
}

/* The renderer called name. */
static cs_report_format format(const char *name) {
  cs_report_format f;
  assert_int_equal(cs_report_format_parse(name, &f), 0);
  return f;
}
static bool is_format(cs_report_format f, const char *name) {
  return !strcmp(cs_report_format_name(f), name);
}

/* Renders the report into a malloc'd string. */
static char *render(cs_report_format f, size_t *len) {
  char err[256];
  cs_report *r = cs_report_compute(store, run, err, sizeof err);
  assert_non_null(r);
  char *buf = NULL;
  size_t n = 0;
  FILE *o = open_memstream(&buf, &n);
  assert_non_null(o);
  assert_int_equal(cs_report_write(o, f, r, store), 0);
  fclose(o);
  cs_report_free(r);
  if (len) *len = n;
  return buf;
}

static void test_classify(void **st) {
  (void)st;
  static const struct {
    const char *blocking;
    int accessible;
    const char *http_failure, *tls_failure;
    int tls_ok, optin;
    const char *server_side;
    cs_report_outcome want;
  } t[] = {
      {"false", 1, NULL, NULL, 0, 0, NULL, CS_OUT_ACCESSIBLE},
      {"false", 0, NULL, NULL, 0, 0, NULL, CS_OUT_SITE_DOWN},
      {"false", 0, NULL, NULL, 0, 0, "cloudflare_challenge", CS_OUT_SERVER_SIDE},
      {"false", -1, NULL, NULL, 0, 0, NULL, CS_OUT_UNDETERMINED},
      {NULL, -1, NULL, NULL, 0, 0, NULL, CS_OUT_UNDETERMINED},
      {"true", 0, NULL, NULL, 0, 0, NULL, CS_OUT_UNDETERMINED}, /* not an OONI value */
      {"dns", 0, NULL, NULL, 0, 0, NULL, CS_OUT_DNS},
      {"dns", 0, NULL, NULL, 0, 1, NULL, CS_OUT_OPTIN},
      {"tcp_ip", 0, "generic_timeout_error", NULL, 0, 0, NULL, CS_OUT_TCP_IP},
      {"http-failure", 0, "connection_reset", "connection_reset", 0, 0, NULL, CS_OUT_TLS},
      {"http-failure", 0, "ssl_invalid_hostname", NULL, 0, 0, NULL, CS_OUT_TLS},
      /* one handshake failed, another worked and the request then failed: HTTP stage */
      {"http-failure", 0, "connection_reset", "generic_timeout_error", 1, 0, NULL,
       CS_OUT_HTTP_FAILURE},
      {"http-failure", 0, "connection_reset", NULL, 0, 0, NULL, CS_OUT_HTTP_FAILURE},
      {"http-failure", 0, "connection_reset", NULL, 0, 1, NULL, CS_OUT_OPTIN},
      {"http-diff", 0, NULL, NULL, 1, 0, NULL, CS_OUT_BLOCKPAGE},
      {"http-diff", 0, NULL, NULL, 1, 1, NULL, CS_OUT_OPTIN},
  };
  for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
    cs_store_meas m = {.input = "x",
                       .blocking = t[i].blocking,
                       .accessible = t[i].accessible,
                       .http_experiment_failure = t[i].http_failure,
                       .tls_failure = t[i].tls_failure,
                       .tls_ok = t[i].tls_ok,
                       .blockpage_optin = t[i].optin,
                       .server_side_block = t[i].server_side};
    /* the rules now live in the analysis (wc_outcome.c); the report's hook applies them to
     * stored columns of measurements that carry no outcome */
    cs_wc_summary sm;
    cs_report_wc_summary(&m, &sm);
    cs_report_outcome o = (cs_report_outcome)cs_wc_outcome_classify(&sm);
    if (o != t[i].want)
      fail_msg("case %zu: got %s, want %s", i, cs_report_outcome_key(o),
               cs_report_outcome_key(t[i].want));
  }
  assert_true(cs_report_outcome_blocked(CS_OUT_TLS));
  assert_false(cs_report_outcome_blocked(CS_OUT_OPTIN));
  assert_false(cs_report_outcome_blocked(CS_OUT_SERVER_SIDE));
  assert_string_equal(cs_report_category_name("NEWS"), "News Media");
  assert_null(cs_report_category_name("NOPE"));
  char ev[64];
  cs_store_meas m = {.input = "x", .blocking = "tcp_ip", .tcp_failure = "1.2.3.4:443 eof"};
  cs_wc_summary sm;
  cs_report_wc_summary(&m, &sm);
  assert_string_equal(cs_wc_outcome_evidence(&sm, CS_WC_OUT_TCP_IP, ev, sizeof ev),
                      "TCP connect failed: 1.2.3.4:443 eof");
  /* truncation always leaves a terminated string */
  assert_int_equal(strlen(cs_wc_outcome_evidence(&sm, CS_WC_OUT_TCP_IP, ev, 8)), 7);
}

static void test_numbers(void **st) {
  (void)st;
  char err[256];
  cs_report *r = cs_report_compute(store, run, err, sizeof err);
  assert_non_null(r);
  assert_int_equal(r->tested, 15);
  assert_int_equal(r->blocked, 9);
  assert_int_equal(r->confirmed, 3);
  assert_int_equal(r->n[CS_OUT_ACCESSIBLE], 2);
  assert_int_equal(r->n[CS_OUT_DNS], 2);
  assert_int_equal(r->n[CS_OUT_TCP_IP], 1);
  assert_int_equal(r->n[CS_OUT_TLS], 1);
  assert_int_equal(r->n[CS_OUT_HTTP_FAILURE], 2);
  assert_int_equal(r->n[CS_OUT_BLOCKPAGE], 3);
  assert_int_equal(r->n[CS_OUT_OPTIN], 1);
  assert_int_equal(r->n[CS_OUT_SERVER_SIDE], 1);
  assert_int_equal(r->n[CS_OUT_SITE_DOWN], 1);
  assert_int_equal(r->n[CS_OUT_UNDETERMINED], 1);
  assert_string_equal(r->probe_cc, "ZZ");
  assert_string_equal(r->probe_asn, "AS64500");
  assert_false(r->mixed_cc);
  assert_string_equal(r->first_time, "2026-11-25 04:01:00");
  assert_string_equal(r->last_time, "2026-11-25 04:15:00");
  /* fingerprints: confirmed ones by count, then opt-in */
  assert_int_equal(r->nfingerprints, 3);
  assert_string_equal(r->fingerprints[0].name, HOSTILE);
  assert_int_equal(r->fingerprints[0].count, 2);
  assert_string_equal(r->fingerprints[1].name, "ooni.zz_dns_1");
  assert_int_equal(r->fingerprints[1].count, 1);
  assert_true(r->fingerprints[2].optin);
  assert_string_equal(r->fingerprints[2].name, "dns_isp_pk_nayatel_safeweb");
  /* categories sorted by blocked desc: ANON(2), HUMR(2), POLR(2) ... */
  assert_int_equal(r->ncategories, 9);
  assert_string_equal(r->categories[0].code, "ANON");
  assert_int_equal(r->categories[0].n[CS_OUT_TLS], 1);
  assert_int_equal(r->categories[0].n[CS_OUT_HTTP_FAILURE], 1);
  uint64_t sum = 0, bl = 0;
  for (size_t i = 0; i < r->ncategories; i++) {
    sum += r->categories[i].tested;
    bl += r->categories[i].blocked;
    if (!strcmp(r->categories[i].code, "NEWS")) {
      assert_int_equal(r->categories[i].tested, 3);
      assert_int_equal(r->categories[i].n[CS_OUT_ACCESSIBLE], 2);
    }
  }
  assert_int_equal(sum, 15);
  assert_int_equal(bl, 9);

  /* the same numbers straight from the stored rows, with SQL */
  sqlite3 *db;
  assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
  static const struct {
    cs_report_outcome o;
    const char *where;
  } q[] = {
      {CS_OUT_ACCESSIBLE, "blocking='false' AND accessible=1"},
      {CS_OUT_DNS, "blocking='dns' AND blockpage_optin=0"},
      {CS_OUT_TCP_IP, "blocking='tcp_ip' AND blockpage_optin=0"},
      {CS_OUT_TLS, "blocking='http-failure' AND blockpage_optin=0 AND (http_experiment_failure "
                   "LIKE 'ssl\\_%' ESCAPE '\\' OR (tls_failure IS NOT NULL AND tls_ok=0))"},
      {CS_OUT_BLOCKPAGE, "blocking='http-diff' AND blockpage_optin=0"},
      {CS_OUT_OPTIN, "blocking IN ('dns','tcp_ip','http-failure','http-diff') AND "
                     "blockpage_optin=1"},
      {CS_OUT_SERVER_SIDE, "blocking='false' AND accessible=0 AND server_side_block IS NOT NULL"},
      {CS_OUT_SITE_DOWN, "blocking='false' AND accessible=0 AND server_side_block IS NULL"},
      {CS_OUT_UNDETERMINED, "blocking IS NULL OR blocking NOT IN ('false','dns','tcp_ip',"
                            "'http-failure','http-diff') OR (blocking='false' AND accessible "
                            "IS NULL)"},
  };
  for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM measurements WHERE run_id=%lld AND (%s)",
             (long long)run, q[i].where);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    if ((uint64_t)sqlite3_column_int64(s, 0) != r->n[q[i].o])
      fail_msg("%s: SQL %lld, report %llu", cs_report_outcome_key(q[i].o),
               (long long)sqlite3_column_int64(s, 0), (unsigned long long)r->n[q[i].o]);
    sqlite3_finalize(s);
  }
  sqlite3_stmt *s;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT count(*) FROM measurements WHERE blockpage_optin=0 "
                                      "AND blockpage_confirmed=1 AND blocking IN "
                                      "('dns','tcp_ip','http-failure','http-diff')",
                                      -1, &s, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(s), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int64(s, 0), r->confirmed);
  sqlite3_finalize(s);
  sqlite3_close(db);
  cs_report_free(r);
}

static size_t count_sub(const char *h, const char *n) {
  size_t c = 0;
  for (const char *p = strstr(h, n); p; p = strstr(p + 1, n)) c++;
  return c;
}

static void test_html_escaped(void **st) {
  (void)st;
  size_t n;
  char *h = render(format("html"), &n);
  assert_int_equal(strlen(h), n);
  assert_null(strstr(h, "<script"));
  assert_null(strstr(h, "alert(1)</script>")); /* never unescaped */
  assert_null(strstr(h, "\x1b"));              /* control bytes replaced */
  assert_non_null(strstr(h, "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
  /* self-contained: no links, no external resources, a CSP forbidding them anyway */
  assert_null(strstr(h, "src="));
  assert_null(strstr(h, "href="));
  assert_null(strstr(h, "@import"));
  assert_null(strstr(h, "url("));
  assert_non_null(strstr(h, "Content-Security-Policy\" content=\"default-src 'none'"));
  /* charts: one bar per outcome other than accessible, with the numbers */
  assert_non_null(strstr(h, "<svg id=\"chart-methods\""));
  assert_non_null(strstr(h, "<svg id=\"chart-categories\""));
  assert_int_equal(count_sub(h, "<g class=\"bar\""), CS_OUT_N - 1);
  assert_non_null(strstr(h, "<g class=\"bar\" data-key=\"dns\" data-value=\"2\""));
  assert_non_null(strstr(h, "<g class=\"bar\" data-key=\"blockpage\" data-value=\"3\""));
  assert_int_equal(count_sub(h, "<g class=\"cat\""), 9);
  assert_non_null(strstr(h, "<g class=\"cat\" data-code=\"ANON\" data-value=\"2\" "
                            "data-tested=\"2\""));
  /* the hostile category code is escaped inside attributes too */
  assert_non_null(strstr(h, "data-code=\"=cmd|&#39; /C calc&#39;!A0\""));
  assert_non_null(strstr(h, "id=\"n-tested\"><span class=\"n\">15</span>"));
  assert_non_null(strstr(h, "id=\"n-blocked\"><span class=\"n\">9</span>"));
  assert_int_equal(count_sub(h, "<tr data-outcome="), 10); /* 9 blocked + 1 opt-in */
  free(h);
}

static void test_csv_quoted(void **st) {
  (void)st;
  size_t n;
  char *c = render(format("csv"), &n);
  cs_csv r;
  cs_csv_init(&r, c, n);
  const char *f[CS_CSV_MAX_FIELDS];
  size_t nf, rows = 0, ncols = 0;
  bool hostile_seen = false, formula_seen = false;
  int rc;
  while ((rc = cs_csv_next(&r, f, &nf)) == 1) {
    if (nf == 1 && !f[0][0]) continue;
    if (!rows) {
      ncols = nf;
      assert_string_equal(f[1], "input");
      assert_string_equal(f[4], "outcome");
    } else {
      assert_int_equal(nf, ncols); /* embedded commas/newlines/quotes did not split a row */
      for (size_t i = 0; i < nf; i++) {
        assert_false(f[i][0] == '=' || f[i][0] == '+' || f[i][0] == '-' || f[i][0] == '@');
        if (strstr(f[i], HOSTILE)) hostile_seen = true;
      }
      if (!strcmp(f[1], "https://x.example/?q=" HOSTILE)) {
        assert_string_equal(f[2], "'=cmd|' /C calc'!A0");
        assert_string_equal(f[14], "'=HYPERLINK(\"http://evil\")," HOSTILE "\n\x1b[31m");
        assert_string_equal(f[4], "http_failure");
        formula_seen = true;
      }
    }
    rows++;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(ncols, 29);
  assert_int_equal(rows, 16); /* header + one row per URL */
  assert_true(hostile_seen);
  assert_true(formula_seen);
  cs_csv_free(&r);
  free(c);
}

static void test_json_and_text(void **st) {
  (void)st;
  size_t n;
  char *j = render(format("json"), &n);
  cs_arena *a = cs_arena_new(0);
  char err[128];
  cs_jval *v = cs_json_parse(a, j, n, NULL, err, sizeof err);
  if (!v) fail_msg("report JSON does not parse: %s", err);
  assert_string_equal(cs_json_get_str(v, "format", ""), "censorscope-report");
  const cs_jval *t = cs_json_get(v, "totals");
  assert_int_equal((int)cs_json_get_num(t, "tested", -1), 15);
  assert_int_equal((int)cs_json_get_num(t, "blocked", -1), 9);
  assert_int_equal((int)cs_json_get_num(t, "tls", -1), 1);
  assert_int_equal((int)cs_json_get_num(t, "optin", -1), 1);
  const cs_jval *bl = cs_json_get(v, "blocked_urls");
  assert_non_null(bl);
  assert_int_equal(bl->len, 9);
  assert_int_equal(cs_json_get(v, "optin_urls")->len, 1);
  assert_int_equal(cs_json_get(v, "categories")->len, 9);
  assert_int_equal(cs_json_get(v, "outcomes")->len, CS_OUT_N);
  bool hostile = false;
  for (size_t i = 0; i < bl->len; i++) {
    const cs_jval *b = cs_json_get(bl->kids[i], "blockpage");
    if (b && !strcmp(cs_json_get_str(b, "name", ""), HOSTILE)) hostile = true;
  }
  assert_true(hostile); /* round-trips exactly */
  cs_arena_free(a);
  free(j);

  char *x = render(format("text"), &n);
  assert_null(memchr(x, 0x1b, n)); /* no terminal escapes from measurements */
  assert_non_null(strstr(x, "URLs tested                                  15"));
  assert_non_null(strstr(x, "TLS/SNI interference"));
  free(x);
}

/* 3000 measurements over 100 distinct category codes and 200 fingerprints: the caps hold and
 * the report's own memory stays small (no row or JSON is kept). */
static void test_big_run_caps(void **st) {
  (void)st;
  char err[256];
  cs_store *s = cs_store_open_scratch(err, sizeof err);
  assert_non_null(s);
  assert_int_equal(cs_store_set_analyzer(s, cs_report_analyzer, NULL), CS_STORE_OK);
  int64_t r = cs_store_run_begin(s, "web_connectivity", "", NULL, false);
  char b[1024];
  for (int i = 0; i < 3000; i++) {
    int len = snprintf(b, sizeof b,
                       "{\"input\":\"http://h%d.example/\",\"annotations\":{\"category_code\":"
                       "\"C%d\"},\"test_keys\":{\"blocking\":\"http-diff\",\"accessible\":false,"
                       "\"x_blockpage\":{\"name\":\"fp%d\"},\"x_blockpage_confirmed\":true}}",
                       i, i % 100, i % 200);
    assert_int_equal(cs_store_add(s, r, b, (size_t)len), CS_STORE_OK);
  }
  cs_report *rep = cs_report_compute(s, r, err, sizeof err);
  assert_non_null(rep);
  assert_int_equal(rep->tested, 3000);
  assert_int_equal(rep->n[CS_OUT_BLOCKPAGE], 3000);
  assert_int_equal(rep->ncategories, CS_REPORT_MAX_CATEGORIES);
  assert_int_equal(rep->nfingerprints, CS_REPORT_MAX_FINGERPRINTS);
  uint64_t sum = 0;
  for (size_t i = 0; i < rep->ncategories; i++) sum += rep->categories[i].tested;
  assert_int_equal(sum, 3000);
  sum = 0;
  for (size_t i = 0; i < rep->nfingerprints; i++) sum += rep->fingerprints[i].count;
  assert_int_equal(sum, 3000);
  assert_true(cs_arena_used(rep->arena) < 64 * 1024);
  cs_report_free(rep);
  assert_null(cs_report_compute(s, 4242, err, sizeof err));
  assert_non_null(strstr(err, "no such run"));
  cs_store_close(s);
}

/* An empty run (interrupted before the first measurement) renders in every format. */
static void test_empty_run(void **st) {
  (void)st;
  char err[256];
  cs_store *s = cs_store_open_scratch(err, sizeof err);
  assert_non_null(s);
  int64_t r = cs_store_run_begin(s, "web_connectivity", "", NULL, false);
  cs_report *rep = cs_report_compute(s, r, err, sizeof err);
  assert_non_null(rep);
  assert_int_equal(rep->tested, 0);
  assert_null(rep->finished_at);
  for (size_t fi = 0; cs_report_format_at(fi); fi++) {
    cs_report_format f = cs_report_format_at(fi);
    char *buf = NULL;
    size_t n = 0;
    FILE *o = open_memstream(&buf, &n);
    assert_int_equal(cs_report_write(o, f, rep, s), 0);
    fclose(o);
    assert_true(n > 0);
    if (is_format(f, "json")) {
      cs_arena *a = cs_arena_new(0);
      const cs_jval *v = cs_json_parse(a, buf, n, NULL, NULL, 0);
      assert_non_null(v);
      assert_int_equal((int)cs_json_get_num(cs_json_get(v, "totals"), "tested", -1), 0);
      assert_true(cs_json_is_null(cs_json_get(cs_json_get(v, "run"), "finished_at")));
      cs_arena_free(a);
    }
    if (is_format(f, "csv")) assert_non_null(strstr(buf, "report_id\r\n"));
    if (is_format(f, "csv")) assert_null(strstr(buf, "report_id\r\n1"));
    if (is_format(f, "html")) {
      assert_non_null(strstr(buf, "run not finished"));
      assert_non_null(strstr(buf, "No website showed signs of censorship"));
      assert_null(strstr(buf, "nan"));
    }
    free(buf);
  }
  cs_report_free(rep);
  cs_store_close(s);
  cs_report_format fmt;
  assert_int_equal(cs_report_format_parse("HTML", &fmt), 0);
  assert_string_equal(cs_report_format_name(fmt), "html");
  assert_int_equal(cs_report_format_parse("pdf", &fmt), -1);
  assert_int_equal(cs_report_format_parse(NULL, &fmt), -1);
}

/* Structurally mutated measurements (bytes flipped, deleted, duplicated, JSON tokens swapped
 * in) go through the store and every renderer: whatever is accepted must render, JSON output
 * must parse, and ASan/UBSan must stay quiet. Deterministic (fixed seed). */
static void test_mutations(void **st) {
  (void)st;
  FILE *f = fopen(SAMPLE, "rb");
  assert_non_null(f);
  static char lines[16][8192];
  size_t nl = 0;
  while (nl < 16 && fgets(lines[nl], sizeof lines[nl], f)) nl++;
  fclose(f);
  assert_true(nl >= 15);
  char err[256];
  cs_store *s = cs_store_open_scratch(err, sizeof err);
  assert_int_equal(cs_store_set_analyzer(s, cs_report_analyzer, NULL), CS_STORE_OK);
  int64_t r = cs_store_run_begin(s, "web_connectivity", "", NULL, false);
  static const char *tok[] = {"null",     "true",        "\"\"",        "{}",
                              "[]",       "-1e999",      "\"\\u0000\"", "\"<svg onload=x>\"",
                              "\"=1+1\"", "\"\xff\xfe\""};
  uint64_t seed = 0x9e3779b97f4a7c15u;
  size_t accepted = 0;
  for (int iter = 0; iter < 20000; iter++) {
    char buf[9000];
    const char *src = lines[(size_t)iter % nl];
    size_t n = strlen(src);
    if (n > 8000) n = 8000;
    memcpy(buf, src, n);
    int muts = 1 + iter % 4;
    for (int k = 0; k < muts; k++) {
      seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
      size_t pos = n ? (size_t)(seed >> 16) % n : 0;
      switch ((seed >> 8) % 4) {
      case 0: buf[pos] = (char)(seed >> 40); break;
      case 1: memmove(buf + pos, buf + pos + 1, n - pos - 1), n--; break;
      case 2: /* a JSON value in place of the next value-looking byte */
        for (size_t q = pos; q < n; q++)
          if (buf[q] == ':') {
            const char *t = tok[(seed >> 32) % (sizeof tok / sizeof *tok)];
            size_t tl = strlen(t);
            if (n + tl < sizeof buf - 1) {
              memmove(buf + q + 1 + tl, buf + q + 1, n - q - 1);
              memcpy(buf + q + 1, t, tl);
              n += tl;
            }
            break;
          }
        break;
      default: /* duplicate a span */
        if (n + 64 < sizeof buf && pos + 64 < n) {
          memmove(buf + pos + 64, buf + pos, n - pos);
          n += 64;
        }
      }
    }
    /* a fresh input so that accepted mutants are not rejected as duplicates */
    char tagged[9100];
    buf[n] = 0;
    const char *in = strstr(buf, "\"input\": \"");
    int tn =
        in ? snprintf(tagged, sizeof tagged, "%.*sm%d-%s", (int)(in - buf + 10), buf, iter, in + 10)
           : snprintf(tagged, sizeof tagged, "%s", buf);
    if (memchr(buf, 0, n)) tn = (int)n, memcpy(tagged, buf, n); /* keep embedded NULs */
    if (cs_store_add(s, r, tagged, (size_t)tn) == CS_STORE_OK) accepted++;
  }
  fprintf(stderr, "mutations: %zu of 20000 accepted\n", accepted);
  assert_true(accepted > 2000);
  cs_report *rep = cs_report_compute(s, r, err, sizeof err);
  assert_non_null(rep);
  assert_int_equal(rep->tested, cs_store_count(s, r));
  uint64_t sum = 0;
  for (int k = 0; k < CS_OUT_N; k++) sum += rep->n[k];
  assert_int_equal(sum, rep->tested);
  for (size_t fi = 0; cs_report_format_at(fi); fi++) {
    cs_report_format fmt = cs_report_format_at(fi);
    char *out = NULL;
    size_t on = 0;
    FILE *o = open_memstream(&out, &on);
    assert_int_equal(cs_report_write(o, fmt, rep, s), 0);
    fclose(o);
    if (is_format(fmt, "json")) {
      cs_arena *a = cs_arena_new(0);
      assert_non_null(cs_json_parse(a, out, on, NULL, NULL, 0));
      cs_arena_free(a);
    }
    if (is_format(fmt, "html")) {
      assert_null(strstr(out, "<svg onload"));
      assert_null(strstr(out, "<script"));
    }
    free(out);
  }
  cs_report_free(rep);
  cs_store_close(s);
}

/* Renders r in format name into a malloc'd string. */
static char *render_run(cs_store *s, const cs_report *r, const char *name, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *o = open_memstream(&buf, &n);
  assert_non_null(o);
  assert_int_equal(cs_report_write(o, format(name), r, s), 0);
  fclose(o);
  *len = n;
  return buf;
}

/* Issue 9: the CLI summary said "2 blocked" where the report said "2 opt-in" for the same
 * measurements. Now the report takes the outcome the analysis wrote (x_outcome) and decides
 * nothing: no analyzer is installed here, and the second measurement's recorded keys alone
 * would not even say opt-in. */
static void test_optin_from_outcome(void **st) {
  (void)st;
  char err[256];
  cs_store *s = cs_store_open_scratch(err, sizeof err);
  assert_non_null(s);
  int64_t r = cs_store_run_begin(s, "web_connectivity", "", NULL, false);
  static const char *const ms[] = {
      "{\"input\":\"http://optin.example/\",\"test_name\":\"web_connectivity\",\"test_keys\":"
      "{\"blocking\":\"dns\",\"accessible\":false,\"dns_consistency\":\"inconsistent\","
      "\"x_blockpage\":{\"name\":\"dns_isp_pk_nayatel_safeweb\",\"kind\":\"optin\"},"
      "\"x_blockpage_confirmed\":false,\"x_blockpage_optin\":true,\"x_outcome\":\"optin\","
      "\"x_censorship\":false,\"x_evidence\":\"DNS answer is the blockpage server "
      "dns_isp_pk_nayatel_safeweb (203.0.113.86)\"}}",
      "{\"input\":\"http://optin2.example/\",\"test_name\":\"web_connectivity\",\"test_keys\":"
      "{\"blocking\":\"dns\",\"accessible\":false,\"x_blockpage_optin\":false,"
      "\"x_outcome\":\"optin\",\"x_censorship\":false,\"x_evidence\":null}}",
  };
  for (size_t i = 0; i < 2; i++)
    assert_int_equal(cs_store_add(s, r, ms[i], strlen(ms[i])), CS_STORE_OK);
  cs_report *rep = cs_report_compute(s, r, err, sizeof err);
  assert_non_null(rep);
  assert_int_equal(rep->tested, 2);
  assert_int_equal(rep->blocked, 0);
  assert_int_equal(rep->n[CS_OUT_OPTIN], 2);
  assert_int_equal(rep->n[CS_OUT_DNS], 0);
  assert_int_equal(rep->nfingerprints, 1); /* the opt-in filter's page, apart */
  assert_true(rep->fingerprints[0].optin);
  size_t n;
  char *csv = render_run(s, rep, "csv", &n);
  assert_non_null(strstr(csv, "\"http://optin.example/\",,,optin,false,\"DNS answer is the "
                              "blockpage server dns_isp_pk_nayatel_safeweb (203.0.113.86)\""));
  assert_non_null(strstr(csv, "\"http://optin2.example/\",,,optin,false,\"\","));
  free(csv);
  char *j = render_run(s, rep, "json", &n);
  cs_arena *a = cs_arena_new(0);
  const cs_jval *v = cs_json_parse(a, j, n, NULL, NULL, 0);
  assert_non_null(v);
  assert_int_equal((int)cs_json_get_num(cs_json_get(v, "totals"), "blocked", -1), 0);
  assert_int_equal((int)cs_json_get_num(cs_json_get(v, "totals"), "optin", -1), 2);
  assert_int_equal(cs_json_get(v, "blocked_urls")->len, 0);
  assert_int_equal(cs_json_get(v, "optin_urls")->len, 2);
  cs_arena_free(a);
  free(j);
  char *t = render_run(s, rep, "text", &n);
  assert_non_null(strstr(t, "Blocked (censorship)                          0"));
  assert_non_null(strstr(t, "Opt-in filtered URLs (not counted as censorship)"));
  free(t);
  cs_report_free(rep);
  cs_store_close(s);
}

/* A run that mixes nettests, imported from JSON lines: each line keeps its own test_name, an
 * input-less measurement is stored and listed, another nettest's own outcome key is counted
 * (apart from the shared slots) with its censorship flag as recorded. */
static void test_mixed_run(void **st) {
  (void)st;
  char err[256];
  cs_store *s = cs_store_open(dbpath, err, sizeof err);
  assert_non_null(s);
  assert_int_equal(cs_store_set_analyzer(s, cs_report_analyzer, NULL), CS_STORE_OK);
  int64_t r = cs_store_run_begin(s, "web_connectivity", "mixed.jsonl", NULL, false);
  FILE *f = tmpfile();
  assert_non_null(f);
  fputs("{\"input\":\"http://a.example/\",\"test_name\":\"web_connectivity\",\"probe_cc\":\"ZZ\","
        "\"test_keys\":{\"blocking\":\"tcp_ip\",\"accessible\":false,\"tcp_connect\":[{\"ip\":"
        "\"192.0.2.1\",\"port\":80,\"status\":{\"failure\":\"generic_timeout_error\"}}]}}\n",
        f); /* an OONI file: no x_outcome, the hook decides from the recorded keys */
  fputs("{\"input\":\"http://a.example/\",\"test_name\":\"urlgetter\",\"probe_cc\":\"ZZ\","
        "\"test_keys\":{\"failure\":\"connection_reset\",\"x_outcome\":\"failed\","
        "\"x_censorship\":false,\"x_evidence\":\"connection_reset during connect\"}}\n",
        f); /* the same input by another nettest; its own key and label (registry) */
  fputs("{\"input\":\"http://c.example/\",\"test_name\":\"urlgetter\",\"probe_cc\":\"ZZ\","
        "\"test_keys\":{\"failure\":null,\"requests\":[{\"response\":{\"code\":200}}]}}\n",
        f); /* no x_outcome: the hook asks urlgetter's analyze through the registry */
  fputs("{\"input\":null,\"test_name\":\"dnscheck\",\"probe_cc\":\"ZZ\",\"test_keys\":"
        "{\"x_outcome\":\"nxdomain\",\"x_censorship\":false,\"x_evidence\":null}}\n",
        f); /* an input-less measurement, with an outcome key of its own nettest */
  fputs("{\"input\":\"http://b.example/\",\"test_name\":\"example_app\",\"probe_cc\":\"ZZ\","
        "\"test_keys\":{\"failure\":null}}\n",
        f); /* no outcome, and no nettest to analyse it: undetermined */
  fputs("{\"input\":null,\"test_name\":\"example_app\",\"probe_cc\":\"ZZ\",\"test_keys\":"
        "{\"x_outcome\":\"app_blocked\",\"x_censorship\":true,\"x_evidence\":\"all endpoints "
        "reset\"}}\n",
        f);
  rewind(f);
  cs_store_import_stats is;
  assert_int_equal(cs_store_import_jsonl(s, r, f, &is), CS_STORE_OK);
  fclose(f);
  assert_int_equal(is.added, 6);
  assert_int_equal(cs_store_run_name(s, r), CS_STORE_OK);
  cs_store_iter *it = cs_store_iter_new(s, r);
  cs_store_meas m;
  static const char *const names[] = {"web_connectivity", "urlgetter",   "urlgetter",
                                      "dnscheck",         "example_app", "example_app"};
  for (size_t i = 0; i < 6; i++) {
    assert_int_equal(cs_store_iter_next(it, &m), 1);
    assert_string_equal(m.test_name, names[i]);
  }
  cs_store_iter_free(it);
  cs_report *rep = cs_report_compute(s, r, err, sizeof err);
  assert_non_null(rep);
  assert_string_equal(rep->test_name, "mixed");
  assert_int_equal(rep->tested, 6);
  assert_int_equal(rep->blocked, 2);
  assert_int_equal(rep->n[CS_OUT_TCP_IP], 1);
  assert_int_equal(rep->n[CS_OUT_ACCESSIBLE], 1); /* urlgetter's analyze decided it */
  assert_int_equal(rep->n[CS_OUT_UNDETERMINED], 1);
  assert_int_equal(rep->nothers, 3);
  assert_string_equal(rep->others[0].key, "failed");
  assert_string_equal(rep->others[0].label, "Failed (no control: not judged)");
  assert_false(rep->others[0].censorship);
  assert_string_equal(rep->others[1].key, "nxdomain");
  assert_false(rep->others[1].censorship);
  assert_string_equal(rep->others[2].key, "app_blocked");
  assert_true(rep->others[2].censorship);
  assert_int_equal(rep->others[2].count, 1);
  size_t n;
  char *t = render_run(s, rep, "text", &n);
  assert_non_null(strstr(t, "(mixed)"));
  assert_non_null(strstr(t, "app_blocked   (no input)"));
  assert_non_null(strstr(t, "TCP connect failed: 192.0.2.1:80 generic_timeout_error"));
  free(t);
  char *j = render_run(s, rep, "json", &n);
  cs_arena *a = cs_arena_new(0);
  const cs_jval *v = cs_json_parse(a, j, n, NULL, NULL, 0);
  assert_non_null(v);
  const cs_jval *tot = cs_json_get(v, "totals");
  assert_int_equal((int)cs_json_get_num(tot, "nxdomain", -1), 1);
  assert_int_equal((int)cs_json_get_num(tot, "app_blocked", -1), 1);
  assert_int_equal(cs_json_get(v, "outcomes")->len, CS_OUT_N + 3);
  const cs_jval *bl = cs_json_get(v, "blocked_urls");
  assert_int_equal(bl->len, 2);
  assert_true(cs_json_is_null(cs_json_get(bl->kids[1], "input")));
  assert_string_equal(cs_json_get_str(bl->kids[1], "test_name", ""), "example_app");
  assert_string_equal(cs_json_get_str(bl->kids[1], "evidence", ""), "all endpoints reset");
  cs_arena_free(a);
  free(j);
  char *c = render_run(s, rep, "csv", &n);
  size_t rows = 0;
  for (const char *p = strstr(c, "\r\n"); p; p = strstr(p + 2, "\r\n")) rows++;
  assert_int_equal(rows, 7); /* header + 6 */
  assert_non_null(strstr(c, "\"http://c.example/\",,,accessible,false,\"HTTP 200\","));
  assert_non_null(strstr(c, ",,,,nxdomain,false,")); /* input null: an empty cell */
  free(c);
  char *h = render_run(s, rep, "html", &n);
  assert_non_null(strstr(h, "data-outcome=\"app_blocked\">1</span>"));
  assert_int_equal(count_sub(h, "<tr data-outcome="), 2);
  free(h);
  cs_report_free(rep);
  cs_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classify),
      cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_html_escaped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_csv_quoted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json_and_text, setup, teardown),
      cmocka_unit_test(test_big_run_caps),
      cmocka_unit_test(test_empty_run),
      cmocka_unit_test(test_mutations),
      cmocka_unit_test(test_optin_from_outcome),
      cmocka_unit_test_setup_teardown(test_mixed_run, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
