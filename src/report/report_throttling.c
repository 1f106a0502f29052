/* report_throttling.c - the throttling nettest's section of a report (docs/report.md): per
 * target name its verdict (throttled true/false/null and the outcome key), pattern (policer,
 * stall), estimated rate, the control/target goodput ratio with its 95 % CI, the p-value and
 * what the throttler keys on; in text, JSON, CSV (extra columns) and HTML, where each target
 * also gets a throughput-over-time chart: cumulative bytes against time since the trial's
 * start, one line per trial, target red and control blue, per direction (inline SVG written
 * here: no script, no external resource, every string from the measurement escaped).
 *
 * Read per the measurement shape of the nettest (docs/throttling.md): test_keys.throttled,
 * test_keys.x_throttling, x_trials, and network_events of operation
 * bytes_received_cumulative (downloads) / x_bytes_sent_cumulative (uploads) joined to the
 * trials by transaction_id; a trial's time origin is its request_t (when the request was sent),
 * else its earliest event. Bounded: CS_THR_MAX_TARGETS targets, CS_THR_MAX_TRIALS trials per
 * target, CS_THR_MAX_POINTS points per trial (evenly thinned, the last one kept). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_impl.h"
#include "util/arena.h"

#define CS_THR_MAX_TARGETS 1024
#define CS_THR_MAX_TRIALS 64
#define CS_THR_MAX_POINTS 200
#define CS_THR_JSON_ARENA (96u << 20) /* one measurement's parse */

typedef struct {
  float t; /* seconds since the trial's first event */
  double bytes;
} thr_pt;

typedef struct {
  int64_t txid;
  bool target; /* role "target" (else "control") */
  int dir;     /* 0 down, 1 up */
  int pair;
  double goodput_bps; /* NAN unknown */
  const char *failure;
  double t_start;   /* request_t, else the earliest event of the transaction (INFINITY: none) */
  bool fixed_start; /* t_start is request_t */
  thr_pt *pts;
  size_t npts, cap;
} thr_trial;

typedef struct {
  int64_t id; /* the measurement's row id (CSV cells) */
  const char *input, *outcome, *reason, *pattern, *keyed, *direction, *control_sni, *server;
  int throttled; /* 1 true, 0 false, -1 null */
  bool nodata;   /* the measurement JSON was not available */
  double ratio, ci_lo, ci_hi, p_value, rate_bps;
  int64_t stall_after_bytes; /* -1: none */
  int pairs;
  thr_trial *trials;
  size_t ntrials;
} thr_target;

struct cs_report_thr {
  thr_target *v;
  size_t n, cap;
  uint64_t more; /* targets beyond CS_THR_MAX_TARGETS (counted, not listed) */
};

/* ---- pass 1: one throttling measurement ------------------------------------------------ */

static double num_or_nan(const cs_jval *o, const char *k) {
  const cs_jval *v = cs_json_get(o, k);
  return v && v->type == CS_JNUM && isfinite(v->num) ? v->num : NAN;
}

static const char *str_dup(cs_report *r, const cs_jval *o, const char *k) {
  return cs_arena_strdup(r->arena, cs_json_get_str(o, k, NULL));
}

static thr_trial *trial_of(thr_target *t, int64_t txid) {
  for (size_t i = 0; i < t->ntrials; i++)
    if (t->trials[i].txid == txid) return &t->trials[i];
  return NULL;
}

/* The samples of each trial: its cumulative-bytes events, thinned to CS_THR_MAX_POINTS. */
static int read_samples(cs_report *r, thr_target *t, const cs_jval *events) {
  if (!events) return 0;
  size_t *count = calloc(t->ntrials ? t->ntrials : 1, sizeof *count);
  size_t *seen = calloc(t->ntrials ? t->ntrials : 1, sizeof *seen);
  if (!count || !seen) {
    free(count), free(seen);
    return -1;
  }
  int ret = 0;
  /* pass a: each trial's start (its earliest event) and number of samples */
  for (size_t i = 0; i < events->len; i++) {
    const cs_jval *e = events->kids[i];
    int64_t txid = 0;
    if (!cs_json_get_i64(e, "transaction_id", &txid)) continue;
    thr_trial *tr = trial_of(t, txid);
    if (!tr) continue;
    double t0 = num_or_nan(e, "t0"), tt = num_or_nan(e, "t");
    double first = isfinite(t0) ? t0 : tt;
    if (!tr->fixed_start && isfinite(first) && first < tr->t_start) tr->t_start = first;
    const char *op = cs_json_get_str(e, "operation", "");
    const char *want = tr->dir ? "x_bytes_sent_cumulative" : "bytes_received_cumulative";
    if (!strcmp(op, want) && isfinite(tt)) count[tr - t->trials]++;
  }
  for (size_t k = 0; k < t->ntrials; k++) {
    size_t n = count[k] < CS_THR_MAX_POINTS ? count[k] : CS_THR_MAX_POINTS;
    if (!n) continue;
    t->trials[k].cap = n + 2; /* the start, n thinned samples and the last */
    t->trials[k].pts = cs_arena_alloc(r->arena, t->trials[k].cap * sizeof(thr_pt));
    if (!t->trials[k].pts) {
      ret = -1;
      goto done;
    }
    t->trials[k].pts[t->trials[k].npts++] = (thr_pt){0, 0}; /* the start: nothing moved */
  }
  /* pass b: keep sample j of trial k when it is one of n evenly spaced ones (the last kept) */
  for (size_t i = 0; i < events->len; i++) {
    const cs_jval *e = events->kids[i];
    int64_t txid = 0, nb = 0;
    if (!cs_json_get_i64(e, "transaction_id", &txid)) continue;
    thr_trial *tr = trial_of(t, txid);
    if (!tr || !tr->pts) continue;
    const char *op = cs_json_get_str(e, "operation", "");
    const char *want = tr->dir ? "x_bytes_sent_cumulative" : "bytes_received_cumulative";
    double tt = num_or_nan(e, "t");
    if (strcmp(op, want) != 0 || !isfinite(tt)) continue;
    size_t k = (size_t)(tr - t->trials), j = seen[k]++, c = count[k];
    size_t n = c < CS_THR_MAX_POINTS ? c : CS_THR_MAX_POINTS;
    /* keep the first sample of each of n equal index buckets, and the last one */
    bool keep =
        n == c || j == 0 || j == c - 1 || (j * (n - 1)) / (c - 1) != ((j - 1) * (n - 1)) / (c - 1);
    if (!keep || tr->npts >= tr->cap) continue;
    if (!cs_json_get_i64(e, "num_bytes", &nb) || nb < 0) nb = 0;
    double x = tt - (isfinite(tr->t_start) ? tr->t_start : tt);
    if (!(x > 0)) x = 0; /* hostile times: kept in [0, 1e6] s (and in float's range) */
    if (x > 1e6) x = 1e6;
    tr->pts[tr->npts++] = (thr_pt){(float)x, (double)nb};
  }
done:
  free(count), free(seen);
  return ret;
}

static int read_measurement(cs_report *r, thr_target *t, const char *js, size_t len) {
  cs_arena *a = cs_arena_new(CS_THR_JSON_ARENA);
  if (!a) return -1;
  int ret = 0;
  const cs_jval *m = cs_json_parse(a, js, len, NULL, NULL, 0);
  const cs_jval *tk = cs_json_get_obj(m, "test_keys");
  if (!tk) {
    t->nodata = true;
    goto done;
  }
  const cs_jval *th = cs_json_get(tk, "throttled");
  t->throttled = th && th->type == CS_JBOOL ? th->b : -1;
  const cs_jval *x = cs_json_get_obj(tk, "x_throttling");
  t->ratio = num_or_nan(x, "ratio"), t->p_value = num_or_nan(x, "p_value");
  t->rate_bps = num_or_nan(x, "rate_bps");
  const cs_jval *ci = cs_json_get_arr(x, "ci95");
  if (ci && ci->len == 2 && ci->kids[0]->type == CS_JNUM && ci->kids[1]->type == CS_JNUM)
    t->ci_lo = ci->kids[0]->num, t->ci_hi = ci->kids[1]->num;
  if (!cs_json_get_i64(x, "stall_after_bytes", &t->stall_after_bytes) || t->stall_after_bytes < 0)
    t->stall_after_bytes = -1;
  t->pairs = cs_json_get_int(x, "pairs", -1);
  t->reason = str_dup(r, x, "reason"), t->pattern = str_dup(r, x, "pattern");
  t->keyed = str_dup(r, x, "keyed"), t->direction = str_dup(r, x, "direction");
  t->control_sni = str_dup(r, x, "control_sni"), t->server = str_dup(r, x, "server");
  const cs_jval *trials = cs_json_get_arr(tk, "x_trials");
  size_t nt = trials ? trials->len : 0;
  if (nt > CS_THR_MAX_TRIALS) nt = CS_THR_MAX_TRIALS;
  if (nt && !(t->trials = cs_arena_alloc(r->arena, nt * sizeof *t->trials))) goto nomem;
  for (size_t i = 0; i < nt; i++) {
    const cs_jval *j = trials->kids[i];
    thr_trial *tr = &t->trials[t->ntrials];
    if (!cs_json_get_i64(j, "transaction_id", &tr->txid) || trial_of(t, tr->txid)) continue;
    tr->target = !strcmp(cs_json_get_str(j, "role", ""), "target");
    tr->dir = !strcmp(cs_json_get_str(j, "direction", ""), "up");
    tr->pair = cs_json_get_int(j, "pair", -1);
    tr->goodput_bps = num_or_nan(j, "goodput_bps");
    tr->failure = str_dup(r, j, "failure");
    /* the time origin: when the request was sent (request_t, the nettest's sample origin),
     * else the trial's earliest event (read_samples) */
    double rq = num_or_nan(j, "request_t");
    tr->t_start = isfinite(rq) ? rq : INFINITY;
    tr->fixed_start = isfinite(rq);
    t->ntrials++;
  }
  if (read_samples(r, t, cs_json_get_arr(tk, "network_events")) < 0) goto nomem;
done:
  cs_arena_free(a);
  return ret;
nomem:
  ret = -1;
  goto done;
}

static int thr_add(cs_report *r, const cs_report_row *row) {
  if (!r->thr && !(r->thr = cs_arena_alloc(r->arena, sizeof *r->thr))) return -1;
  struct cs_report_thr *s = r->thr;
  if (s->n >= CS_THR_MAX_TARGETS) {
    s->more++;
    return 0;
  }
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 16;
    thr_target *v = cs_arena_alloc(r->arena, nc * sizeof *v);
    if (!v) return -1;
    if (s->n) memcpy(v, s->v, s->n * sizeof *v);
    s->v = v, s->cap = nc;
  }
  thr_target *t = &s->v[s->n++];
  *t = (thr_target){.id = row->m->id,
                    .throttled = -1,
                    .ratio = NAN,
                    .ci_lo = NAN,
                    .ci_hi = NAN,
                    .p_value = NAN,
                    .rate_bps = NAN,
                    .stall_after_bytes = -1,
                    .pairs = -1};
  t->input = cs_arena_strdup(r->arena, row->m->input ? row->m->input : "");
  t->outcome = cs_arena_strdup(r->arena, row->key ? row->key : "");
  if (!t->input || !t->outcome) return -1;
  size_t len = 0;
  const char *js = row->it ? cs_store_iter_json(row->it, &len) : NULL;
  if (!js || !len) {
    t->nodata = true;
    return 0;
  }
  return read_measurement(r, t, js, len);
}

/* ---- shared formatting ------------------------------------------------------------------ */

static const char *verdict(const thr_target *t) {
  return t->throttled == 1 ? "throttled" : t->throttled == 0 ? "not throttled" : "inconclusive";
}

/* "148.2 kbit/s" style into b ("-" when unknown). */
static const char *fmt_rate(char *b, size_t n, double bps) {
  if (!isfinite(bps)) snprintf(b, n, "-");
  else if (bps >= 1e6) snprintf(b, n, "%.2f Mbit/s", bps / 1e6);
  else snprintf(b, n, "%.1f kbit/s", bps / 1e3);
  return b;
}

static const char *fmt_ratio(char *b, size_t n, const thr_target *t) {
  if (!isfinite(t->ratio)) snprintf(b, n, "-");
  else if (isfinite(t->ci_lo) && isfinite(t->ci_hi))
    snprintf(b, n, "%.2f [%.2f, %.2f]", t->ratio, t->ci_lo, t->ci_hi);
  else snprintf(b, n, "%.2f", t->ratio);
  return b;
}

static const char *fmt_p(char *b, size_t n, double p) {
  if (!isfinite(p)) snprintf(b, n, "-");
  else snprintf(b, n, "%.3g", p);
  return b;
}

/* ---- text ------------------------------------------------------------------------------- */

static void render_text(FILE *o, const struct cs_report_thr *s) {
  fputs("\nThrottling (target name vs control name, same server, interleaved pairs)\n", o);
  for (size_t i = 0; i < s->n; i++) {
    const thr_target *t = &s->v[i];
    char rb[32], qb[64], pb[32];
    fputs("  ", o);
    cs_report_text_safe(o, t->input);
    fprintf(o, ": %s", verdict(t));
    if (t->nodata) {
      fputs(" (details not stored)\n", o);
      continue;
    }
    if (t->pattern) {
      fputs(", ", o);
      cs_report_text_safe(o, t->pattern);
    }
    if (isfinite(t->rate_bps)) fprintf(o, " at %s", fmt_rate(rb, sizeof rb, t->rate_bps));
    if (t->stall_after_bytes >= 0)
      fprintf(o, ", stalls after %lld bytes", (long long)t->stall_after_bytes);
    fprintf(o, "; ratio %s, p %s", fmt_ratio(qb, sizeof qb, t), fmt_p(pb, sizeof pb, t->p_value));
    if (t->keyed) {
      fputs(", keyed on ", o);
      cs_report_text_safe(o, t->keyed);
    }
    if (t->direction) {
      fputs(", direction ", o);
      cs_report_text_safe(o, t->direction);
    }
    if (t->throttled < 0 && t->reason) {
      fputs(" (", o);
      cs_report_text_safe(o, t->reason);
      fputc(')', o);
    }
    fputc('\n', o);
  }
  if (s->more) fprintf(o, "  ... and %llu more targets\n", (unsigned long long)s->more);
}

/* ---- JSON ------------------------------------------------------------------------------- */

static void kdbl(cs_jw *w, const char *k, double v) {
  if (isfinite(v)) cs_jw_kdouble(w, k, v);
  else cs_jw_knull(w, k);
}

static void render_json(cs_jw *w, const struct cs_report_thr *s) {
  cs_jw_key(w, "throttling");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < s->n; i++) {
    const thr_target *t = &s->v[i];
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "input", t->input);
    if (t->throttled < 0) cs_jw_knull(w, "throttled");
    else cs_jw_kbool(w, "throttled", t->throttled == 1);
    cs_jw_kstr(w, "outcome", t->outcome);
    cs_jw_kstr(w, "pattern", t->pattern);
    kdbl(w, "rate_bps", t->rate_bps);
    kdbl(w, "ratio", t->ratio);
    cs_jw_key(w, "ci95");
    if (isfinite(t->ci_lo) && isfinite(t->ci_hi)) {
      cs_jw_arr_open(w);
      cs_jw_double(w, t->ci_lo);
      cs_jw_double(w, t->ci_hi);
      cs_jw_arr_close(w);
    } else {
      cs_jw_null(w);
    }
    kdbl(w, "p_value", t->p_value);
    cs_jw_kstr(w, "keyed", t->keyed);
    cs_jw_kstr(w, "direction", t->direction);
    if (t->stall_after_bytes >= 0) cs_jw_kint(w, "stall_after_bytes", t->stall_after_bytes);
    else cs_jw_knull(w, "stall_after_bytes");
    cs_jw_kstr(w, "reason", t->reason);
    cs_jw_kstr(w, "control_sni", t->control_sni);
    cs_jw_kstr(w, "server", t->server);
    if (t->pairs >= 0) cs_jw_kint(w, "pairs", t->pairs);
    else cs_jw_knull(w, "pairs");
    cs_jw_kint(w, "trials", (int64_t)t->ntrials);
    cs_jw_kbool(w, "details_stored", !t->nodata);
    cs_jw_obj_close(w);
  }
  cs_jw_arr_close(w);
  cs_jw_kint(w, "throttling_more", (int64_t)s->more);
}

/* ---- CSV: extra columns on every row (empty for other nettests' measurements) ----------- */

static const char csv_cols[] = ",throttled,throttle_pattern,throttle_rate_bps,throttle_ratio,"
                               "throttle_ci95_lo,throttle_ci95_hi,throttle_p_value,"
                               "throttle_keyed,throttle_direction,throttle_reason";

static void csv_num(FILE *o, double v) {
  fputc(',', o);
  if (isfinite(v)) fprintf(o, "%.6g", v);
}

static void csv_str(FILE *o, const char *s) {
  fputc(',', o);
  cs_report_csv_field(o, s);
}

static void thr_csv_cells(FILE *o, const cs_report *r, const cs_report_row *row) {
  const thr_target *t = NULL;
  if (r->thr) /* rows come back in insertion order: a linear search is short in practice */
    for (size_t i = 0; i < r->thr->n && !t; i++)
      if (r->thr->v[i].id == row->m->id) t = &r->thr->v[i];
  if (!t || t->nodata) {
    fputs(",,,,,,,,,,", o);
    return;
  }
  fprintf(o, ",%s", t->throttled == 1 ? "true" : t->throttled == 0 ? "false" : "");
  csv_str(o, t->pattern);
  csv_num(o, t->rate_bps);
  csv_num(o, t->ratio);
  csv_num(o, t->ci_lo);
  csv_num(o, t->ci_hi);
  csv_num(o, t->p_value);
  csv_str(o, t->keyed);
  csv_str(o, t->direction);
  csv_str(o, t->reason);
}

/* ---- HTML: table and charts --------------------------------------------------------------- */

/* A "nice" axis step (1, 2 or 5 x 10^k) giving about 5 ticks up to max. */
static double nice_step(double max) {
  if (!(max > 0)) return 1;
  double raw = max / 5, p = pow(10, floor(log10(raw))), f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

static int dbl_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The median goodput_bps of the trials of one role in one direction (NAN: none known). */
static double median_goodput(const thr_target *t, int dir, bool target) {
  double v[CS_THR_MAX_TRIALS];
  size_t n = 0;
  for (size_t i = 0; i < t->ntrials && n < CS_THR_MAX_TRIALS; i++)
    if (t->trials[i].dir == dir && t->trials[i].target == target &&
        isfinite(t->trials[i].goodput_bps))
      v[n++] = t->trials[i].goodput_bps;
  if (!n) return NAN;
  qsort(v, n, sizeof *v, dbl_cmp);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define CW 640 /* chart size and plot margins (px) */
#define CH 260
#define ML 64
#define MR 16
#define MT 16
#define MB 44

static void chart(FILE *o, const thr_target *t, int dir, size_t idx) {
  double tmax = 0, bmax = 0;
  bool any = false;
  for (size_t i = 0; i < t->ntrials; i++) {
    const thr_trial *tr = &t->trials[i];
    if (tr->dir != dir || tr->npts < 2) continue;
    any = true;
    for (size_t j = 0; j < tr->npts; j++) {
      if (tr->pts[j].t > tmax) tmax = tr->pts[j].t;
      if (tr->pts[j].bytes > bmax) bmax = tr->pts[j].bytes;
    }
  }
  if (!any) return;
  double xs = nice_step(tmax), ys = nice_step(bmax / 1e3); /* x: s, y: kB */
  /* (the epsilon keeps 8.0000001 s on an axis to 8, not 10) */
  double xmax = ceil(tmax / xs - 1e-6) * xs, ymax = ceil(bmax / 1e3 / ys - 1e-6) * ys;
  if (!(xmax > 0)) xmax = xs;
  if (!(ymax > 0)) ymax = ys;
  const double pw = CW - ML - MR, ph = CH - MT - MB;
  const char *what = dir ? "sent" : "received";
  fprintf(o,
          "<figure class=\"thr-fig\"><svg class=\"thr-chart\" id=\"thr-chart-%zu-%s\" "
          "xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
          "role=\"img\"><title>",
          idx, dir ? "up" : "down", CW, CH, CW, CH);
  fprintf(o, "Bytes %s over time, target vs control: ", what);
  cs_report_html_escape(o, t->input);
  fputs("</title>\n", o);
  /* grid, ticks and labels */
  int nx = (int)lround(xmax / xs), ny = (int)lround(ymax / ys); /* about 5 each (nice_step) */
  for (int k = 0; k <= nx && k <= 20; k++) {
    double v = k * xs, x = ML + v / xmax * pw;
    fprintf(o,
            "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\"/>"
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
            x, MT, x, MT + ph, x, MT + ph + 16, v);
  }
  for (int k = 0; k <= ny && k <= 20; k++) {
    double v = k * ys, y = MT + ph - v / ymax * ph;
    fprintf(o,
            "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
            ML, y, ML + pw, y, ML - 6, y + 4, v);
  }
  fprintf(o,
          "<line class=\"axis\" x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
          "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\"/>\n",
          ML, MT + ph, ML + pw, MT + ph, ML, MT, ML, MT + ph);
  fprintf(o,
          "<text class=\"xlabel\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">time since the "
          "trial started (s)</text>\n"
          "<text class=\"ylabel\" x=\"14\" y=\"%.1f\" text-anchor=\"middle\" "
          "transform=\"rotate(-90 14 %.1f)\">%s (kB)</text>\n",
          ML + pw / 2, CH - 6, MT + ph / 2, MT + ph / 2, dir ? "bytes sent" : "bytes received");
  /* one line per trial: control first, so that the target's lines are drawn on top */
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < t->ntrials; i++) {
      const thr_trial *tr = &t->trials[i];
      if (tr->dir != dir || tr->npts < 2 || tr->target != (pass == 1)) continue;
      fprintf(o,
              "<polyline class=\"thr-%s\" data-role=\"%s\" data-pair=\"%d\" "
              "data-transaction-id=\"%lld\" points=\"",
              tr->target ? "target" : "control", tr->target ? "target" : "control", tr->pair,
              (long long)tr->txid);
      for (size_t j = 0; j < tr->npts; j++)
        fprintf(o, "%s%.1f,%.1f", j ? " " : "", ML + tr->pts[j].t / xmax * pw,
                MT + ph - tr->pts[j].bytes / 1e3 / ymax * ph);
      fputs("\"/>\n", o);
    }
  /* legend */
  fprintf(o,
          "<rect class=\"legend-target\" x=\"%d\" y=\"%d\" width=\"12\" height=\"4\"/>"
          "<text x=\"%d\" y=\"%d\">target</text>"
          "<rect class=\"legend-control\" x=\"%d\" y=\"%d\" width=\"12\" height=\"4\"/>"
          "<text x=\"%d\" y=\"%d\">control</text>\n",
          ML + 10, MT + 6, ML + 26, MT + 11, ML + 90, MT + 6, ML + 106, MT + 11);
  fputs("</svg><figcaption>", o);
  cs_report_html_escape(o, t->input);
  fprintf(o,
          ": bytes %s over time, one line per trial; <span class=\"thr-key-target\">target "
          "name</span> vs <span class=\"thr-key-control\">control name",
          what);
  if (t->control_sni) {
    fputs(" (", o);
    cs_report_html_escape(o, t->control_sni);
    fputc(')', o);
  }
  fputs("</span>.", o);
  /* the slopes in numbers: the median goodput of each role in this direction */
  double mt = median_goodput(t, dir, true), mc = median_goodput(t, dir, false);
  if (isfinite(mt) && isfinite(mc)) {
    char a[32], b[32];
    fprintf(o, " Median goodput: target %s, control %s.", fmt_rate(a, sizeof a, mt),
            fmt_rate(b, sizeof b, mc));
  }
  fputs("</figcaption></figure>\n", o);
}

static void html_cell(FILE *o, const char *s) {
  fputs("<td>", o);
  cs_report_html_escape(o, s ? s : "-");
  fputs("</td>", o);
}

static void render_html(FILE *o, const struct cs_report_thr *s) {
  fputs("<h2 id=\"throttling\">Throttling</h2>\n<p>Each target name was fetched from our own "
        "server and compared with a control name on the same server and path, in "
        "interleaved pairs: a censor keyed on the name slows only the target. Ratio = median "
        "control/target goodput, with its 95 % confidence interval.</p>\n"
        "<style>.thr-chart .grid{stroke:#ddd}.thr-chart .axis{stroke:#333}.thr-chart text{"
        "font:11px sans-serif;fill:#333}.thr-chart polyline{fill:none;stroke-width:1.5}"
        ".thr-target,.legend-target{stroke:#c0392b;fill:#c0392b}.thr-control,"
        ".legend-control{stroke:#2471a3;fill:#2471a3}.thr-key-target{color:#c0392b}"
        ".thr-key-control{color:#2471a3}</style>\n"
        "<table id=\"throttling-targets\"><thead><tr><th>Target</th><th>Verdict</th>"
        "<th>Pattern</th><th class=\"num\">Estimated rate</th><th class=\"num\">Ratio "
        "[95 % CI]</th><th class=\"num\">p-value</th><th>Keyed on</th><th>Direction</th>"
        "<th>Reason</th></tr></thead><tbody>\n",
        o);
  for (size_t i = 0; i < s->n; i++) {
    const thr_target *t = &s->v[i];
    char rb[32], qb[64], pb[32];
    fputs("<tr>", o);
    html_cell(o, t->input);
    html_cell(o, verdict(t));
    html_cell(o, t->pattern);
    fprintf(o, "<td class=\"num\">%s</td><td class=\"num\">%s</td><td class=\"num\">%s</td>",
            fmt_rate(rb, sizeof rb, t->rate_bps), fmt_ratio(qb, sizeof qb, t),
            fmt_p(pb, sizeof pb, t->p_value));
    html_cell(o, t->keyed);
    html_cell(o, t->direction);
    html_cell(o, t->nodata ? "details not stored" : t->reason);
    fputs("</tr>\n", o);
  }
  fputs("</tbody></table>\n", o);
  if (s->more) fprintf(o, "<p>... and %llu more targets.</p>\n", (unsigned long long)s->more);
  for (size_t i = 0; i < s->n; i++)
    for (int dir = 0; dir < 2; dir++) chart(o, &s->v[i], dir, i);
}

static int thr_render(const cs_report_out *out, const cs_report *r) {
  const struct cs_report_thr *s = r->thr;
  if (!s) return 0;
  if (!strcmp(out->format, "text")) render_text(out->f, s);
  else if (!strcmp(out->format, "json")) render_json(out->w, s);
  else if (!strcmp(out->format, "html")) render_html(out->f, s);
  return out->f && ferror(out->f) ? -1 : 0;
}

const struct cs_report_section cs_report_throttling_section = {
    .name = "throttling",
    .add = thr_add,
    .render = thr_render,
    .csv_columns = csv_cols,
    .csv_cells = thr_csv_cells,
};
