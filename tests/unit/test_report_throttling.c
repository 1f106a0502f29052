/* test_report_throttling.c - the report's Throttling section (report/report_throttling.c)
 * from throttling measurements written here by hand per the nettest's measurement shape
 * (test_keys.throttled, x_throttling, x_trials, network_events joined by transaction_id):
 * values in text, JSON and CSV, hostile target names escaped, the HTML chart with one
 * polyline per trial by role and its samples thinned to a bound; from a database and from a
 * scratch store (report --jsonl). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/report.h"
#include "util/json.h"

#define HOSTILE_JSON "<script>alert(1)</script>\\\"'&.example"
#define HOSTILE_TEXT "<script>alert(1)</script>\"'&.example"

/* One trial's cumulative-bytes events: n samples at rate bytes/s from t0, every dt seconds. */
static void samples(FILE *o, int txid, const char *op, double t0, double dt, int n, double rate,
                    bool *first) {
  fprintf(o,
          "%s{\"address\":\"198.18.5.2:443\",\"failure\":null,\"operation\":\"connect\","
          "\"proto\":\"tcp\",\"t0\":%.3f,\"t\":%.3f,\"transaction_id\":%d}",
          *first ? "" : ",", t0, t0 + 0.001, txid);
  *first = false;
  for (int i = 1; i <= n; i++)
    fprintf(o,
            ",{\"address\":\"198.18.5.2:443\",\"failure\":null,\"num_bytes\":%lld,"
            "\"operation\":\"%s\",\"proto\":\"tcp\",\"t0\":%.4f,\"t\":%.4f,"
            "\"transaction_id\":%d,\"tags\":[]}",
            (long long)(rate * dt * i), op, t0 + dt * i, t0 + dt * i, txid);
}

static void trial(FILE *o, int txid, int pair, const char *role, const char *dir, double gp,
                  bool last) {
  if (txid == 3) fputs("{\"request_t\":9.0,", o); /* origin 1 s before its connect event */
  fprintf(o,
          "%s\"transaction_id\":%d,\"pair\":%d,\"role\":\"%s\",\"sni\":\"x\",\"address\":"
          "\"198.18.5.2:443\",\"direction\":\"%s\",\"handshake_time\":0.01,\"ttfb\":0.02,"
          "\"bytes\":1000,\"expected_bytes\":1000,\"duration\":1,\"goodput_bps\":%.0f,"
          "\"failure\":null}%s",
          txid == 3 ? "" : "{", txid, pair, role, dir, gp, last ? "" : ",");
}

/* A measurement string (malloc'd): a throttled target (policer at 148 kbit/s, 2 pairs down,
 * the last target trial with 1000 samples) or an inconclusive one (1 pair up). */
static char *measurement(const char *input_json, bool throttled) {
  char *buf = NULL;
  size_t n = 0;
  FILE *o = open_memstream(&buf, &n);
  assert_non_null(o);
  fprintf(o, "{\"input\":\"%s\",\"test_name\":\"throttling\",\"probe_cc\":\"ZZ\",\"test_keys\":{",
          input_json);
  if (throttled)
    fputs("\"throttled\":true,\"x_outcome\":\"throttled\",\"x_censorship\":true,\"x_evidence\":"
          "\"policer\",\"x_throttling\":{\"ratio\":9.5,\"ci95\":[8.1,11.2],\"p_value\":0.0039,"
          "\"pattern\":\"policer\",\"rate_bps\":148000,\"stall_after_bytes\":null,\"direction\":"
          "\"down\",\"keyed\":\"sni\",\"control_sni\":\"q7x3k.example\",\"server\":"
          "\"198.18.5.2:443\",\"pairs\":2},",
          o);
  else
    fputs("\"throttled\":null,\"x_outcome\":\"inconclusive\",\"x_censorship\":false,"
          "\"x_throttling\":{\"ratio\":1.1,\"ci95\":null,\"p_value\":0.5,\"pattern\":null,"
          "\"rate_bps\":null,\"stall_after_bytes\":null,\"direction\":\"up\",\"keyed\":null,"
          "\"reason\":\"control <b>erratic</b>\",\"control_sni\":\"q7x3k.example\",\"server\":"
          "\"198.18.5.2:443\",\"pairs\":1},",
          o);
  fputs("\"x_trials\":[", o);
  if (throttled) {
    trial(o, 1, 0, "control", "down", 1.4e6, false);
    trial(o, 2, 0, "target", "down", 1.48e5, false);
    trial(o, 3, 1, "control", "down", 1.5e6, false);
    trial(o, 4, 1, "target", "down", 1.47e5, true);
  } else {
    trial(o, 1, 0, "control", "up", 1e6, false);
    trial(o, 2, 0, "target", "up", 0.9e6, true);
  }
  fputs("],\"network_events\":[", o);
  bool first = true;
  if (throttled) {
    samples(o, 1, "bytes_received_cumulative", 0.0, 0.25, 4, 175000, &first);
    samples(o, 2, "bytes_received_cumulative", 1.5, 0.25, 32, 18500, &first);
    samples(o, 3, "bytes_received_cumulative", 10.0, 0.25, 4, 187500, &first);
    samples(o, 4, "bytes_received_cumulative", 11.5, 0.008, 1000, 18375, &first);
    samples(o, 99, "bytes_received_cumulative", 30.0, 0.25, 3, 1, &first); /* no trial */
  } else {
    samples(o, 1, "x_bytes_sent_cumulative", 0.0, 0.25, 4, 125000, &first);
    samples(o, 2, "x_bytes_sent_cumulative", 2.0, 0.25, 4, 112500, &first);
    samples(o, 2, "bytes_received_cumulative", 2.0, 0.25, 2, 10, &first); /* not the upload's */
  }
  fputs("]}}", o);
  fclose(o);
  return buf;
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

/* The points attribute of the k-th polyline of class cls: its number of points. */
static size_t polyline_points(const char *h, const char *cls, size_t k, double *last_x) {
  char needle[64];
  snprintf(needle, sizeof needle, "<polyline class=\"%s\"", cls);
  const char *p = strstr(h, needle);
  for (size_t i = 0; p && i < k; i++) p = strstr(p + 1, needle);
  assert_non_null(p);
  p = strstr(p, "points=\"");
  assert_non_null(p);
  p += 8;
  const char *end = strchr(p, '"');
  assert_non_null(end);
  size_t n = 0;
  for (const char *q = p; q < end; q++)
    if (*q == ',') n++;
  const char *sp = end;
  while (sp > p && sp[-1] != ' ') sp--;
  *last_x = strtod(sp, NULL);
  return n;
}

static void check_report(cs_store *s, int64_t run) {
  char err[256];
  cs_report *rep = cs_report_compute(s, run, err, sizeof err);
  assert_non_null(rep);
  assert_int_equal(rep->tested, 2);
  size_t n;

  char *t = render(s, rep, "text", &n);
  assert_non_null(strstr(t, "\nThrottling (target name vs control name"));
  assert_non_null(strstr(t, "  " HOSTILE_TEXT ": throttled, policer at 148.0 kbit/s; ratio 9.50 "
                            "[8.10, 11.20], p 0.0039, keyed on sni, direction down\n"));
  assert_non_null(strstr(t, "  big.example: inconclusive; ratio 1.10, p 0.5, direction up "
                            "(control <b>erratic</b>)\n"));
  free(t);

  char *j = render(s, rep, "json", &n);
  cs_arena *a = cs_arena_new(0);
  const cs_jval *v = cs_json_parse(a, j, n, NULL, NULL, 0);
  assert_non_null(v);
  const cs_jval *th = cs_json_get_arr(v, "throttling");
  assert_non_null(th);
  assert_int_equal(th->len, 2);
  const cs_jval *x = th->kids[0];
  assert_string_equal(cs_json_get_str(x, "input", ""), HOSTILE_TEXT);
  assert_int_equal(cs_json_get_bool(x, "throttled", -1), 1);
  assert_string_equal(cs_json_get_str(x, "outcome", ""), "throttled");
  assert_string_equal(cs_json_get_str(x, "pattern", ""), "policer");
  assert_true(cs_json_get_num(x, "rate_bps", 0) == 148000);
  assert_true(cs_json_get_num(x, "ratio", 0) == 9.5);
  const cs_jval *ci = cs_json_get_arr(x, "ci95");
  assert_true(ci && ci->len == 2 && ci->kids[0]->num == 8.1 && ci->kids[1]->num == 11.2);
  assert_true(cs_json_get_num(x, "p_value", 0) == 0.0039);
  assert_string_equal(cs_json_get_str(x, "keyed", ""), "sni");
  assert_int_equal(cs_json_get_int(x, "trials", -1), 4);
  x = th->kids[1];
  assert_true(cs_json_is_null(cs_json_get(x, "throttled")));
  assert_true(cs_json_is_null(cs_json_get(x, "ci95")));
  assert_true(cs_json_is_null(cs_json_get(x, "rate_bps")));
  assert_string_equal(cs_json_get_str(x, "reason", ""), "control <b>erratic</b>");
  cs_arena_free(a);
  free(j);

  char *c = render(s, rep, "csv", &n);
  assert_non_null(strstr(c, ",report_id,throttled,throttle_pattern,throttle_rate_bps,"
                            "throttle_ratio,throttle_ci95_lo,throttle_ci95_hi,throttle_p_value,"
                            "throttle_keyed,throttle_direction,throttle_reason\r\n"));
  assert_non_null(strstr(c, ",true,\"policer\",148000,9.5,8.1,11.2,0.0039,\"sni\",\"down\",\r\n"));
  assert_non_null(strstr(c, ",,,,1.1,,,0.5,,\"up\",\"control <b>erratic</b>\"\r\n"));
  free(c);

  char *h = render(s, rep, "html", &n);
  assert_non_null(strstr(h, "<h2 id=\"throttling\">Throttling</h2>"));
  assert_null(strstr(h, "<script")); /* the hostile name never becomes markup */
  assert_null(strstr(h, "<b>erratic"));
  assert_non_null(strstr(h, "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;.example"));
  assert_non_null(strstr(h, "control &lt;b&gt;erratic&lt;/b&gt;"));
  /* charts: the throttled target's download (4 trials) and the other's upload (2 trials) */
  assert_int_equal(count_sub(h, "<svg class=\"thr-chart\""), 2);
  assert_non_null(strstr(h, "id=\"thr-chart-0-down\""));
  assert_non_null(strstr(h, "id=\"thr-chart-1-up\""));
  assert_null(strstr(h, "id=\"thr-chart-1-down\"")); /* 2 download events: no trial's */
  assert_int_equal(count_sub(h, "<polyline class=\"thr-target\""), 3);
  assert_int_equal(count_sub(h, "<polyline class=\"thr-control\""), 3);
  /* the caption's medians: targets 148 and 147 kbit/s, controls 1.4 and 1.5 Mbit/s */
  assert_non_null(strstr(h, "Median goodput: target 147.5 kbit/s, control 1.45 Mbit/s."));
  assert_non_null(strstr(h, "time since the trial started (s)"));
  assert_non_null(strstr(h, "bytes received (kB)"));
  assert_non_null(strstr(h, "bytes sent (kB)"));
  assert_null(strstr(h, "transaction-id=\"99\"")); /* samples without a trial: no line */
  /* the 1000-sample trial is thinned to the bound (the start point, 200 samples and the
   * last); its last point is the longest trial's end, 8 s: the right edge of the plot (the
   * axis runs to 8 s in steps of 2; 64 + 560 px) */
  double lx = 0;
  size_t pts = polyline_points(h, "thr-target", 1, &lx);
  assert_true(pts >= 200 && pts <= 202);
  assert_true(lx > 623.5 && lx < 624.5);
  pts = polyline_points(h, "thr-target", 0, &lx);
  assert_int_equal(pts, 33); /* start + 32 samples, not thinned */
  /* trial 3's origin is its request_t (9 s), not its connect (10 s): its last sample at 11 s
   * is 2 s in, 64 + 2/8 * 560 px */
  pts = polyline_points(h, "thr-control", 1, &lx);
  assert_int_equal(pts, 5);
  assert_true(lx > 203.5 && lx < 204.5);
  /* the chart is self-contained: no script, no external reference */
  const char *sec = strstr(h, "<h2 id=\"throttling\">");
  assert_null(strstr(sec, "href="));
  assert_null(strstr(sec, "src="));
  assert_null(strstr(sec, "url("));
  free(h);
  cs_report_free(rep);
}

static void add_all(cs_store *s, int64_t run) {
  char *m1 = measurement(HOSTILE_JSON, true), *m2 = measurement("big.example", false);
  assert_int_equal(cs_store_add(s, run, m1, strlen(m1)), CS_STORE_OK);
  assert_int_equal(cs_store_add(s, run, m2, strlen(m2)), CS_STORE_OK);
  free(m1), free(m2);
}

static void test_from_database(void **st) {
  (void)st;
  char dir[] = "/tmp/cs_rthr.XXXXXX", path[64], err[256];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/r.db", dir);
  cs_store *s = cs_store_open(path, err, sizeof err);
  assert_non_null(s);
  int64_t run = cs_store_run_begin(s, "throttling", "", NULL, false);
  assert_true(run > 0);
  add_all(s, run);
  check_report(s, run);
  cs_store_close(s);
  const char *sfx[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char p[96];
    snprintf(p, sizeof p, "%s%s", path, sfx[i]);
    unlink(p);
  }
  rmdir(dir);
}

static void test_from_scratch(void **st) { /* report --jsonl: the scratch store */
  (void)st;
  char err[256];
  cs_store *s = cs_store_open_scratch(err, sizeof err);
  assert_non_null(s);
  int64_t run = cs_store_run_begin(s, "throttling", "", NULL, false);
  assert_true(run > 0);
  add_all(s, run);
  check_report(s, run);
  cs_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_from_database),
      cmocka_unit_test(test_from_scratch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
