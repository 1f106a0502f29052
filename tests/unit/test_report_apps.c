/* test_report_apps.c - unit tests for the report's "Apps and platforms" section
 * (report/report_apps.c) with hand-written measurements in the shape of docs/apps.md: the
 * verdict and the way each function was blocked in text, JSON, CSV and HTML, one matrix for a
 * run mixing app nettests, platforms measurements split by app, a scratch store (report
 * straight from JSON lines) keeping what the section reads, hostile strings escaped, the caps,
 * and measurements without per-function details. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "util/json.h"

#define HOSTILE "<script>alert(1)</script>\"'&"

/* WhatsApp: chat works, the media CDN is reset after the ClientHello (the control reaches it). */
static const char WA[] =
    "{\"input\":null,\"test_name\":\"whatsapp\",\"measurement_start_time\":\"2026-12-03 "
    "10:00:00\",\"probe_cc\":\"PK\",\"test_keys\":{\"whatsapp_endpoints_status\":\"ok\","
    "\"registration_server_status\":\"ok\",\"whatsapp_web_status\":\"ok\","
    "\"x_outcome\":\"blocked\",\"x_censorship\":true,\"x_evidence\":\"media: tls\","
    "\"x_functions\":[{\"function\":\"chat\",\"label\":\"Chat servers\",\"verdict\":\"ok\","
    "\"method\":null,\"endpoints_ok\":32,\"endpoints_failed\":0,\"control_ok\":32},"
    "{\"function\":\"media\",\"label\":\"Media CDN\",\"verdict\":\"blocked\",\"method\":\"tls\","
    "\"endpoints_ok\":0,\"endpoints_failed\":2,\"control_ok\":2}],"
    "\"x_endpoints\":[{\"function\":\"chat\",\"kind\":\"tcp\",\"target\":\"e1.whatsapp.net:5222\","
    "\"failure\":null},{\"function\":\"media\",\"kind\":\"https\",\"target\":"
    "\"https://mmg.whatsapp.net/\",\"failure\":\"connection_reset\",\"control_failure\":null}]}}";

/* Telegram: five of six data centres time out; OONI's keys say not blocked. */
static const char TG[] =
    "{\"input\":null,\"test_name\":\"telegram\",\"measurement_start_time\":\"2026-12-03 "
    "10:00:05\",\"probe_cc\":\"PK\",\"test_keys\":{\"telegram_http_blocking\":false,"
    "\"telegram_tcp_blocking\":false,\"telegram_web_status\":\"ok\",\"x_outcome\":\"partial\","
    "\"x_censorship\":true,\"x_functions\":[{\"function\":\"dc\",\"label\":\"Data centres\","
    "\"verdict\":\"partial\",\"method\":\"tcp\",\"endpoints_ok\":2,\"endpoints_failed\":10,"
    "\"control_ok\":12},{\"function\":\"web\",\"label\":\"Telegram Web\",\"verdict\":\"ok\","
    "\"method\":null,\"endpoints_ok\":1,\"endpoints_failed\":0,\"control_ok\":1}],"
    "\"x_endpoints\":[{\"function\":\"dc\",\"kind\":\"http\",\"target\":"
    "\"http://198.18.67.32/\",\"failure\":\"generic_timeout_error\"}]}}";

/* platforms: one measurement per platform, the app named by x_app or by the input. */
static const char PX[] =
    "{\"input\":\"x\",\"test_name\":\"platforms\",\"probe_cc\":\"PK\",\"test_keys\":{"
    "\"x_outcome\":\"blocked\",\"x_censorship\":true,\"x_functions\":[{\"function\":\"site\","
    "\"label\":\"Web site\",\"verdict\":\"blocked\",\"method\":\"tls\",\"endpoints_ok\":0,"
    "\"endpoints_failed\":3,\"control_ok\":3}]}}";
static const char PY[] =
    "{\"input\":\"yt\",\"test_name\":\"platforms\",\"probe_cc\":\"PK\",\"test_keys\":{"
    "\"x_app\":\"youtube\",\"x_outcome\":\"ok\",\"x_censorship\":false,\"x_functions\":[{"
    "\"function\":\"video\",\"label\":\"Video CDN\",\"verdict\":\"ok\",\"method\":null,"
    "\"endpoints_ok\":2,\"endpoints_failed\":0,\"control_ok\":2}]}}";

/* A web_connectivity row in the same run: not part of the section. */
static const char WC[] =
    "{\"input\":\"http://a.example/\",\"test_name\":\"web_connectivity\",\"probe_cc\":\"PK\","
    "\"test_keys\":{\"blocking\":false,\"accessible\":true,\"x_outcome\":\"accessible\","
    "\"x_censorship\":false}}";

static cs_store *open_with(bool scratch, const char *const *lines, size_t n, int64_t *run) {
  char err[256];
  cs_store *s =
      scratch ? cs_store_open_scratch(err, sizeof err) : cs_store_open(":memory:", err, sizeof err);
  assert_non_null(s);
  assert_int_equal(cs_store_set_analyzer(s, cs_report_analyzer, NULL), CS_STORE_OK);
  *run = cs_store_run_begin(s, "whatsapp", "", NULL, false);
  assert_true(*run > 0);
  FILE *f = tmpfile();
  assert_non_null(f);
  for (size_t i = 0; i < n; i++) fprintf(f, "%s\n", lines[i]);
  rewind(f);
  cs_store_import_stats is;
  assert_int_equal(cs_store_import_jsonl(s, *run, f, &is), CS_STORE_OK);
  assert_int_equal(is.added, n);
  fclose(f);
  return s;
}

static char *render(cs_store *s, const cs_report *r, const char *name, size_t *len) {
  cs_report_format f;
  assert_int_equal(cs_report_format_parse(name, &f), 0);
  char *buf = NULL;
  size_t n = 0;
  FILE *o = open_memstream(&buf, &n);
  assert_non_null(o);
  assert_int_equal(cs_report_write(o, f, r, s), 0);
  fclose(o);
  *len = n;
  return buf;
}

static size_t count_sub(const char *h, const char *n) {
  size_t c = 0;
  for (const char *p = strstr(h, n); p; p = strstr(p + 1, n)) c++;
  return c;
}

static const cs_jval *app_of(const cs_jval *apps, const char *name) {
  for (size_t i = 0; apps && i < apps->len; i++)
    if (!strcmp(cs_json_get_str(apps->kids[i], "app", ""), name)) return apps->kids[i];
  return NULL;
}

static const cs_jval *fn_of(const cs_jval *app, const char *name) {
  const cs_jval *fns = cs_json_get_arr(app, "functions");
  for (size_t i = 0; fns && i < fns->len; i++)
    if (!strcmp(cs_json_get_str(fns->kids[i], "function", ""), name)) return fns->kids[i];
  return NULL;
}

/* The four formats of one run mixing two app nettests, platforms and web_connectivity. */
static void check_mixed(bool scratch) {
  const char *const lines[] = {WA, TG, PX, PY, WC};
  int64_t run;
  cs_store *s = open_with(scratch, lines, 5, &run);
  char err[256];
  cs_report *r = cs_report_compute(s, run, err, sizeof err);
  assert_non_null(r);
  assert_int_equal(r->tested, 5);
  size_t n;

  char *t = render(s, r, "text", &n);
  assert_int_equal(count_sub(t, "Apps and platforms"), 1); /* one section for three nettests */
  assert_non_null(strstr(t, "  WhatsApp: "));
  assert_non_null(strstr(t, "    media: blocked by tls (connection_reset), 0 of 2 endpoints ok, "
                            "control reached 2 - Media CDN\n"));
  assert_non_null(strstr(t, "    chat: ok, 32 of 32 endpoints ok"));
  assert_non_null(strstr(t, "    dc: partial by tcp (generic_timeout_error), 2 of 12 endpoints "
                            "ok, control reached 12 - Data centres\n"));
  assert_non_null(strstr(t, "  X: "));
  assert_non_null(strstr(t, "  YouTube: "));
  free(t);

  char *j = render(s, r, "json", &n);
  cs_arena *a = cs_arena_new(0);
  const cs_jval *v = cs_json_parse(a, j, n, NULL, NULL, 0);
  assert_non_null(v);
  const cs_jval *apps = cs_json_get_arr(v, "apps");
  assert_non_null(apps);
  assert_int_equal(apps->len, 4);
  const cs_jval *wa = app_of(apps, "whatsapp");
  assert_non_null(wa);
  assert_string_equal(cs_json_get_str(wa, "name", ""), "WhatsApp");
  assert_string_equal(cs_json_get_str(wa, "outcome", ""), "blocked");
  assert_int_equal(cs_json_get_bool(wa, "details", -1), 1);
  const cs_jval *media = fn_of(wa, "media");
  assert_string_equal(cs_json_get_str(media, "verdict", ""), "blocked");
  assert_string_equal(cs_json_get_str(media, "method", ""), "tls");
  assert_string_equal(cs_json_get_str(media, "failure", ""), "connection_reset");
  assert_int_equal(cs_json_get_int(media, "endpoints_failed", -1), 2);
  const cs_jval *chat = fn_of(wa, "chat");
  assert_true(cs_json_is_null(cs_json_get(chat, "method")));
  assert_true(cs_json_is_null(cs_json_get(chat, "failure"))); /* ok: no failure looked up */
  const cs_jval *tg = app_of(apps, "telegram");
  assert_string_equal(cs_json_get_str(tg, "outcome", ""), "partial");
  assert_string_equal(cs_json_get_str(fn_of(tg, "dc"), "verdict", ""), "partial");
  assert_string_equal(cs_json_get_str(fn_of(app_of(apps, "x"), "site"), "verdict", ""), "blocked");
  assert_string_equal(cs_json_get_str(app_of(apps, "youtube"), "test_name", ""), "platforms");
  assert_null(app_of(apps, "yt")); /* x_app wins over the input */
  assert_int_equal(cs_json_get_int(v, "apps_not_shown", -1), 0);
  cs_arena_free(a);
  free(j);

  char *h = render(s, r, "html", &n);
  assert_int_equal(count_sub(h, "<table id=\"apps-matrix\">"), 1);
  assert_int_equal(count_sub(h, "<tr data-app="), 4);
  /* columns: every function once, in order of first appearance */
  assert_non_null(strstr(h, "<th>Outcome</th><th>chat</th><th>media</th><th>dc</th><th>web</th>"
                            "<th>site</th><th>video</th></tr>"));
  assert_non_null(strstr(h, "data-verdict=\"blocked\" style=\"background:#f5b7b1\" "
                            "title=\"Media CDN: connection_reset\"><b>blocked</b><br><small>by "
                            "tls</small></td>"));
  assert_non_null(strstr(h, "data-verdict=\"partial\""));
  assert_int_equal(count_sub(h, "<td class=\"na\">"), 4 * 6 - 6); /* cells without function */
  free(h);

  /* CSV: one x_functions column after the fixed ones (once for three app nettests) */
  char *c = render(s, r, "csv", &n);
  const char *eol = strstr(c, "\r\n");
  assert_non_null(eol);
  assert_int_equal(strncmp(eol - 12, ",x_functions", 12), 0);
  assert_int_equal(count_sub(c, "x_functions"), 1);
  assert_non_null(strstr(c, ",\"chat=ok;media=blocked:tls\"\r\n"));
  assert_non_null(strstr(c, ",\"dc=partial:tcp;web=ok\"\r\n"));
  assert_non_null(strstr(c, ",\"site=blocked:tls\"\r\n"));
  assert_non_null(strstr(c, ",\"video=ok\"\r\n"));
  size_t rows = 0;
  for (const char *q = strstr(c, "\r\n"); q; q = strstr(q + 2, "\r\n")) rows++;
  assert_int_equal(rows, 6);                           /* header + 5 */
  const char *wc = strstr(c, "\"http://a.example/\""); /* web_connectivity's row */
  assert_non_null(wc);
  assert_int_equal(strstr(wc, "\r\n")[-1], ','); /* an empty last cell */
  free(c);
  cs_report_free(r);
  cs_store_close(s);
}

static void test_mixed_run(void **st) {
  (void)st;
  check_mixed(false);
}

/* `censorscope report FILE.jsonl` goes through a scratch store: it keeps the app nettests'
 * JSON (the section reads it) and no other. */
static void test_scratch_store(void **st) {
  (void)st;
  check_mixed(true);
  const char *const lines[] = {WC, WA};
  int64_t run;
  cs_store *s = open_with(true, lines, 2, &run);
  cs_store_iter *it = cs_store_iter_new(s, run);
  cs_store_meas m;
  size_t len = 99;
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(cs_store_iter_json(it, &len), "");
  assert_int_equal(len, 0);
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(cs_store_iter_json(it, &len), WA);
  cs_store_iter_free(it);
  cs_store_close(s);
}

/* Hostile strings: escaped in HTML, neutralised in text, valid JSON. */
static void test_hostile(void **st) {
  (void)st;
  char line[2048];
  snprintf(line, sizeof line,
           "{\"input\":null,\"test_name\":\"signal\",\"test_keys\":{\"x_app\":\"%s\","
           "\"x_outcome\":\"blocked\",\"x_censorship\":true,\"x_functions\":[{\"function\":\"%s"
           "\",\"label\":\"a\\u001b[31mred\\n%s\",\"verdict\":\"%s\",\"method\":\"%s\"}],"
           "\"x_endpoints\":[{\"function\":\"%s\",\"failure\":\"%s\"}]}}",
           "<script>alert(1)</script>\\\"'&", "<script>alert(1)</script>\\\"'&", "<b>", "<i>\\\"",
           "<u>'", "<script>alert(1)</script>\\\"'&", "<img src=x onerror=y>");
  const char *const lines[] = {line};
  int64_t run;
  cs_store *s = open_with(false, lines, 1, &run);
  char err[256];
  cs_report *r = cs_report_compute(s, run, err, sizeof err);
  assert_non_null(r);
  size_t n;
  char *h = render(s, r, "html", &n);
  assert_null(strstr(h, "<script>alert"));
  assert_null(strstr(h, "<img src=x"));
  assert_null(strstr(h, "<b>\""));
  assert_null(strstr(h, "<i>"));
  assert_null(strstr(h, "<u>"));
  assert_non_null(strstr(h, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert_non_null(strstr(h, "&lt;img src=x onerror=y&gt;"));
  free(h);
  char *t = render(s, r, "text", &n);
  assert_null(strchr(t, 0x1b));
  assert_null(strstr(t, "red\n<b>")); /* the label's newline is neutralised too */
  free(t);
  char *j = render(s, r, "json", &n);
  cs_arena *a = cs_arena_new(0);
  const cs_jval *v = cs_json_parse(a, j, n, NULL, NULL, 0);
  assert_non_null(v);
  const cs_jval *app = cs_json_get_arr(v, "apps")->kids[0];
  assert_string_equal(cs_json_get_str(app, "app", ""), HOSTILE);
  assert_string_equal(cs_json_get_str(fn_of(app, HOSTILE), "failure", ""), "<img src=x onerror=y>");
  cs_arena_free(a);
  free(j);
  cs_report_free(r);
  cs_store_close(s);
}

/* At most 16 apps and 16 functions each, strings cut; the rest is counted, not lost. A
 * measurement without x_functions is listed with its outcome and "no details". */
static void test_caps_and_no_details(void **st) {
  (void)st;
  enum { NAPPS = 20, NFN = 20 };
  char *lines[NAPPS + 1];
  char longname[400];
  memset(longname, 'f', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  for (int i = 0; i < NAPPS; i++) {
    char fns[NFN * 160] = "", *p = fns;
    for (int k = 0; k < NFN; k++)
      p += snprintf(p, sizeof fns - (size_t)(p - fns),
                    "%s{\"function\":\"f%d%s\",\"verdict\":\"ok\"}", k ? "," : "", k,
                    k == 0 ? longname : "");
    size_t sz = strlen(fns) + 256;
    lines[i] = malloc(sz);
    assert_non_null(lines[i]);
    snprintf(lines[i], sz,
             "{\"input\":\"app%02d\",\"test_name\":\"platforms\",\"test_keys\":{\"x_outcome\":"
             "\"ok\",\"x_censorship\":false,\"x_functions\":[%s]}}",
             i, fns);
  }
  lines[NAPPS] = strdup("{\"input\":null,\"test_name\":\"whatsapp\",\"test_keys\":{"
                        "\"x_outcome\":\"down\",\"x_censorship\":false}}");
  int64_t run;
  cs_store *s = open_with(false, (const char *const *)lines, NAPPS + 1, &run);
  char err[256];
  cs_report *r = cs_report_compute(s, run, err, sizeof err);
  assert_non_null(r);
  size_t n;
  char *j = render(s, r, "json", &n);
  cs_arena *a = cs_arena_new(0);
  const cs_jval *v = cs_json_parse(a, j, n, NULL, NULL, 0);
  assert_non_null(v);
  const cs_jval *apps = cs_json_get_arr(v, "apps");
  assert_int_equal(apps->len, 16);
  assert_int_equal(cs_json_get_int(v, "apps_not_shown", -1), NAPPS + 1 - 16);
  const cs_jval *first = apps->kids[0];
  assert_string_equal(cs_json_get_str(first, "app", ""), "app00");
  assert_int_equal(cs_json_get_arr(first, "functions")->len, 16);
  assert_int_equal(cs_json_get_int(first, "functions_not_shown", -1), NFN - 16);
  const char *f0 = cs_json_get_str(cs_json_get_arr(first, "functions")->kids[0], "function", "");
  assert_true(strlen(f0) <= 40);
  assert_int_equal(strncmp(f0, "f0ffff", 6), 0);
  cs_arena_free(a);
  free(j);
  cs_report_free(r);
  cs_store_close(s);

  /* the whatsapp row alone: listed, no details */
  const char *const one[] = {lines[NAPPS]};
  s = open_with(false, one, 1, &run);
  r = cs_report_compute(s, run, err, sizeof err);
  assert_non_null(r);
  char *t = render(s, r, "text", &n);
  assert_non_null(strstr(t, "  WhatsApp: "));
  assert_non_null(strstr(t, "  WhatsApp: "));
  assert_non_null(strstr(t, "down")); /* its label, or the key after it */
  assert_non_null(strstr(t, " (no per-function details)\n"));
  free(t);
  char *h = render(s, r, "html", &n);
  assert_non_null(strstr(h, "(no per-function details)"));
  free(h);
  cs_report_free(r);
  cs_store_close(s);
  for (int i = 0; i <= NAPPS; i++) free(lines[i]);
}

/* One platforms measurement for several platforms (each function names its app): one row per
 * platform, its outcome its worst verdict, the failure looked up in that app's endpoints. */
static const char PALL[] =
    "{\"input\":null,\"test_name\":\"platforms\",\"test_keys\":{\"x_outcome\":\"blocked\","
    "\"x_censorship\":true,\"x_functions\":["
    "{\"app\":\"x\",\"function\":\"web\",\"verdict\":\"ok\",\"endpoints_ok\":2},"
    "{\"app\":\"youtube\",\"function\":\"web\",\"verdict\":\"ok\"},"
    "{\"app\":\"youtube\",\"function\":\"video\",\"verdict\":\"blocked\",\"method\":\"tls\","
    "\"endpoints_ok\":0,\"endpoints_failed\":2,\"endpoints_down\":0,\"control_ok\":2},"
    "{\"app\":\"facebook\",\"function\":\"web\",\"verdict\":\"partial\",\"method\":\"dns\"},"
    "{\"app\":\"instagram\",\"function\":\"media\",\"verdict\":\"down\"}],"
    "\"x_endpoints\":[{\"app\":\"x\",\"function\":\"video\",\"failure\":\"eof_error\"},"
    "{\"app\":\"youtube\",\"function\":\"video\",\"failure\":\"connection_refused\","
    "\"control_ok\":false},{\"app\":\"youtube\",\"function\":\"video\",\"failure\":"
    "\"generic_timeout_error\",\"control_ok\":true}]}}";

static void test_platforms_one_measurement(void **st) {
  (void)st;
  const char *const lines[] = {PALL};
  int64_t run;
  cs_store *s = open_with(false, lines, 1, &run);
  char err[256];
  cs_report *r = cs_report_compute(s, run, err, sizeof err);
  assert_non_null(r);
  size_t n;
  char *j = render(s, r, "json", &n);
  cs_arena *a = cs_arena_new(0);
  const cs_jval *v = cs_json_parse(a, j, n, NULL, NULL, 0);
  assert_non_null(v);
  const cs_jval *apps = cs_json_get_arr(v, "apps");
  assert_int_equal(apps->len, 4);
  assert_string_equal(cs_json_get_str(app_of(apps, "x"), "outcome", ""), "ok");
  assert_string_equal(cs_json_get_str(app_of(apps, "youtube"), "outcome", ""), "blocked");
  assert_string_equal(cs_json_get_str(app_of(apps, "facebook"), "outcome", ""), "partial");
  assert_string_equal(cs_json_get_str(app_of(apps, "instagram"), "outcome", ""), "down");
  const cs_jval *video = fn_of(app_of(apps, "youtube"), "video");
  /* the endpoint the control reached, not x's nor the one down for the control too */
  assert_string_equal(cs_json_get_str(video, "failure", ""), "generic_timeout_error");
  assert_int_equal(cs_json_get_int(video, "endpoints_down", -1), 0);
  assert_int_equal(cs_json_get_arr(app_of(apps, "youtube"), "functions")->len, 2);
  cs_arena_free(a);
  free(j);
  char *t = render(s, r, "text", &n);
  assert_non_null(strstr(t, "  YouTube: "));
  assert_non_null(strstr(t, "\n    web: ok\n    video: blocked by tls (generic_timeout_error), 0 "
                            "of 2 endpoints ok, control reached 2\n"));
  free(t);
  char *h = render(s, r, "html", &n);
  assert_int_equal(count_sub(h, "<tr data-app="), 4);
  assert_non_null(strstr(h, "<th>Outcome</th><th>web</th><th>video</th><th>media</th></tr>"));
  free(h);
  char *c = render(s, r, "csv", &n);
  assert_non_null(strstr(c, ",\"x/web=ok;youtube/web=ok;youtube/video=blocked:tls;facebook/"
                            "web=partial:dns;instagram/media=down\"\r\n"));
  free(c);
  cs_report_free(r);
  cs_store_close(s);
}

/* Structurally mutated app measurements (bytes flipped or deleted, spans duplicated, hostile
 * values swapped in; fixed seed) through the store and every format: never a crash (ASan,
 * UBSan), the JSON report parses, the HTML holds no injected tag. */
static void test_mutations(void **st) {
  (void)st;
  static const char *const hostile[] = {
      "\"<script>x</script>\"", "null", "[]", "{}", "-1", "1e308", "\"\\u0000\"", "true",
      "\"\\u001b[2J\""};
  const char *seeds[] = {WA, TG, PALL, PX};
  unsigned rng = 12345;
  size_t accepted = 0;
  for (int iter = 0; iter < 600; iter++) {
    const char *src = seeds[iter % 4];
    size_t n = strlen(src);
    char *b = malloc(n * 2 + 64);
    assert_non_null(b);
    memcpy(b, src, n + 1);
    for (int k = 0; k < 1 + iter % 2; k++) {
      rng = rng * 1103515245u + 12345u;
      size_t at = (rng >> 8) % n;
      switch ((rng >> 4) % 4) {
      case 0: b[at] = (char)(rng >> 16); break;
      case 1: memmove(b + at, b + at + 1, n - at), n--; break;
      case 2: { /* duplicate a span */
        size_t len = ((rng >> 20) % 40) + 1;
        if (at + len > n) len = n - at;
        memmove(b + at + len, b + at, n - at + 1), n += len;
        if (n > strlen(src) * 2) n = strlen(src), b[n] = 0;
        break;
      }
      default: { /* swap a value after a ':' for a hostile one */
        char *c = strchr(b + at, ':');
        if (!c) break;
        const char *h = hostile[(rng >> 12) % (sizeof hostile / sizeof *hostile)];
        size_t hl = strlen(h), tail = strlen(c + 1);
        if ((size_t)(c + 1 - b) + hl + tail + 1 > n * 2 + 64) break;
        memmove(c + 1 + hl, c + 1, tail + 1);
        memcpy(c + 1, h, hl);
        n = strlen(b);
      }
      }
    }
    b[n] = 0;
    for (size_t i = 0; i < n; i++)
      if (b[i] == '\n' || b[i] == 0) b[i] = ' ';
    char err[256];
    cs_store *s = cs_store_open(":memory:", err, sizeof err);
    assert_non_null(s);
    assert_int_equal(cs_store_set_analyzer(s, cs_report_analyzer, NULL), CS_STORE_OK);
    int64_t run = cs_store_run_begin(s, "platforms", "", NULL, false);
    if (cs_store_add(s, run, b, n) == CS_STORE_OK) {
      accepted++;
      cs_report *r = cs_report_compute(s, run, err, sizeof err);
      assert_non_null(r);
      size_t len;
      char *j = render(s, r, "json", &len);
      cs_arena *a = cs_arena_new(0);
      assert_non_null(cs_json_parse(a, j, len, NULL, NULL, 0));
      cs_arena_free(a);
      free(j);
      char *h = render(s, r, "html", &len);
      assert_null(strstr(h, "<script"));
      free(h);
      free(render(s, r, "text", &len));
      free(render(s, r, "csv", &len));
      cs_report_free(r);
    }
    cs_store_close(s);
    free(b);
  }
  assert_true(accepted > 150); /* the mutations reach the section, not only the parser */
}

/* A run without app measurements has no apps section in any format. */
static void test_absent(void **st) {
  (void)st;
  const char *const lines[] = {WC};
  int64_t run;
  cs_store *s = open_with(false, lines, 1, &run);
  char err[256];
  cs_report *r = cs_report_compute(s, run, err, sizeof err);
  assert_non_null(r);
  const char *fmts[] = {"text", "json", "html"};
  for (size_t i = 0; i < 3; i++) {
    size_t n;
    char *o = render(s, r, fmts[i], &n);
    assert_null(strstr(o, "Apps and platforms"));
    assert_null(strstr(o, "\"apps\""));
    free(o);
  }
  cs_report_free(r);
  cs_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mixed_run), cmocka_unit_test(test_scratch_store),
      cmocka_unit_test(test_hostile),   cmocka_unit_test(test_caps_and_no_details),
      cmocka_unit_test(test_absent),    cmocka_unit_test(test_platforms_one_measurement),
      cmocka_unit_test(test_mutations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
