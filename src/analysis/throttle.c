/* throttle.c - the throttling statistics (see throttle.h and docs/throttling.md, "The statistic").
 * Everything here is a pure function of the trials: no I/O, no globals; the bootstrap uses
 * its own splitmix64 generator seeded from the parameters, so the output is reproducible.
 * Every input value is hostile: non-finite or negative times, decreasing cumulative counts,
 * NULL sample arrays and absurd parameters are skipped or replaced, never trusted. */
#include "analysis/throttle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GOODPUT_FLOOR 100.0 /* bits/s: a frozen target's goodput, so that ratios stay finite */
#define BOOT_ROUNDS 1000
#define WINDOW_S 1.0
#define MIN_FREEZE_S 1.0      /* a stall: no progress for at least this long ... */
#define MIN_FREEZE_FRAC 0.25  /* ... and this share of the trial, before the timeout */
#define PLATEAU_STEPS_UP 2    /* upload interval rates span this many arrivals (downloads: 1) */
#define PLATEAU_MIN_RATES 5   /* fewer pooled interval rates: the steady goodput instead */
#define POLICER_TRIAL_CV 0.25 /* across trials: steady goodputs at a similar value */
#define POLICER_WINDOW_CV                                                                          \
  0.35 /* within a trial: 1-s windows flat (64 kbit/s is ~5.5 pkt/s:
                                  one packet more or less in a window is already 18 %) */

typedef struct {
  double t, b;
} pt;

void cs_thr_params_default(cs_thr_params *p) {
  memset(p, 0, sizeof *p);
  p->min_ratio = 3.0;
  p->alpha = 0.05;
  p->max_control_cv = 0.5;
  p->min_control_bps = 1e6;
  p->min_pairs = 5;
  p->max_pairs = 10;
  p->seed = 1;
}

/* Parameters with every absurd value replaced by its default. */
static cs_thr_params sane_params(const cs_thr_params *in) {
  cs_thr_params d, p;
  cs_thr_params_default(&d);
  if (!in) return d;
  p = *in;
  if (!(p.min_ratio > 1.0 && p.min_ratio < 1e9)) p.min_ratio = d.min_ratio;
  if (!(p.alpha > 0 && p.alpha < 1)) p.alpha = d.alpha;
  if (!(p.max_control_cv > 0 && p.max_control_cv < 1e9)) p.max_control_cv = d.max_control_cv;
  if (!(p.min_control_bps >= 0 && p.min_control_bps < 1e15)) p.min_control_bps = d.min_control_bps;
  if (p.min_pairs == 0) p.min_pairs = d.min_pairs;
  if (p.max_pairs < p.min_pairs) p.max_pairs = p.min_pairs;
  if (p.fast_pairs != 0 && (p.fast_pairs < 3 || p.fast_pairs > 4)) p.fast_pairs = 0;
  return p;
}

static bool is_timeout(const char *f) { return f && strstr(f, "timeout") != NULL; }
/* A failure that ends the trial for another reason than slowness (reset, refused, EOF...). */
static bool hard_failure(const cs_thr_trial *t) { return t->failure && !is_timeout(t->failure); }

/* ---- samples -> points ----------------------------------------------------------------- */

/* The trial's cumulative curve as points with increasing t and non-decreasing bytes: a start
 * (first byte for downloads when known, else the request), the valid samples, and the end
 * (duration_s, bytes). Returns the number of points (malloc'd into *out), 0 when none are
 * usable, -1 on OOM. *t_first: when the bytes start to flow. */
static long build_points(const cs_thr_trial *t, pt **out, double *t_first) {
  *out = NULL;
  size_t ns = t->samples ? t->nsamples : 0;
  if (ns > (SIZE_MAX / sizeof(pt)) - 2) return -1;
  pt *p = malloc((ns + 2) * sizeof *p);
  if (!p) return -1;
  size_t n = 0;
  double first_sample = INFINITY;
  for (size_t i = 0; i < ns; i++)
    if (isfinite(t->samples[i].t) && t->samples[i].t >= 0 && t->samples[i].t < first_sample)
      first_sample = t->samples[i].t;
  double start = 0;
  if (t->dir == 0 && isfinite(t->ttfb_s) && t->ttfb_s >= 0 && t->ttfb_s <= first_sample &&
      t->ttfb_s < 1e9)
    start = t->ttfb_s;
  p[n++] = (pt){start, 0};
  for (size_t i = 0; i < ns; i++) {
    double st = t->samples[i].t, sb = (double)t->samples[i].bytes;
    if (!isfinite(st) || st < p[n - 1].t || st > 1e9) continue;
    if (sb < p[n - 1].b) sb = p[n - 1].b;
    if (st == p[n - 1].t) {
      p[n - 1].b = sb;
      continue;
    }
    p[n++] = (pt){st, sb};
  }
  double fb = (double)t->bytes;
  if (isfinite(t->duration_s) && t->duration_s > p[n - 1].t && t->duration_s < 1e9) {
    p[n] = (pt){t->duration_s, fb > p[n - 1].b ? fb : p[n - 1].b};
    n++;
  } else if (fb > p[n - 1].b && n > 1) {
    p[n - 1].b = fb;
  }
  size_t z = 0; /* the last point before the count grows */
  while (z + 1 < n && p[z + 1].b <= 0) z++;
  *t_first = p[z].t;
  *out = p;
  return (long)n;
}

static double median_sort(double *v, size_t n);

static double interp(const pt *p, size_t n, double t) {
  if (t <= p[0].t) return p[0].b;
  for (size_t i = 1; i < n; i++) {
    if (p[i].t >= t) {
      double dt = p[i].t - p[i - 1].t;
      return dt > 0 ? p[i - 1].b + (p[i].b - p[i - 1].b) * (t - p[i - 1].t) / dt : p[i].b;
    }
  }
  return p[n - 1].b;
}

static double fallback_goodput(const cs_thr_trial *t) {
  if (!isfinite(t->duration_s) || t->duration_s <= 0) return NAN;
  double d = t->duration_s;
  if (t->dir == 0 && isfinite(t->ttfb_s) && t->ttfb_s >= 0 && t->ttfb_s < d) d -= t->ttfb_s;
  return (double)t->bytes * 8.0 / d;
}

double cs_thr_goodput(const cs_thr_trial *t) {
  if (!t) return NAN;
  pt *p;
  double t0;
  long n = build_points(t, &p, &t0);
  if (n < 0) return NAN;
  double r;
  double tend = n > 0 ? p[n - 1].t : 0;
  if (n < 2 || !(tend - t0 > 1e-6)) {
    r = fallback_goodput(t);
  } else {
    double skip = t0 + (tend - t0) / 3.0;
    r = (p[n - 1].b - interp(p, (size_t)n, skip)) * 8.0 / (tend - skip);
  }
  free(p);
  return isfinite(r) && r >= 0 ? r : NAN;
}

size_t cs_thr_window_rates(const cs_thr_trial *t, double *out, size_t max) {
  if (!t || !out || !max) return 0;
  pt *p;
  double t0;
  long n = build_points(t, &p, &t0);
  if (n < 2) {
    free(p);
    return 0;
  }
  double tend = p[n - 1].t, skip = t0 + (tend - t0) / 3.0;
  double ct = skip, cb = interp(p, (size_t)n, skip);
  /* the window: >= 1 s and >= 4 typical increments of the count (reads come a TLS record at a
   * time: at 150 kbit/s a 16 KiB record every 0.9 s; a shorter window measures the record
   * size, not the rate). A typical increment: the median positive step after skip. */
  double *inc = malloc((size_t)n * sizeof *inc);
  if (!inc) {
    free(p);
    return 0;
  }
  size_t ni = 0;
  for (long i = 1; i < n; i++)
    if (p[i].t > skip && p[i].b > p[i - 1].b) inc[ni++] = p[i].b - p[i - 1].b;
  double step = median_sort(inc, ni), rate = (p[n - 1].b - cb) / (tend - skip);
  free(inc);
  double wlen = WINDOW_S;
  if (ni && rate > 0 && 4 * step / rate > wlen) wlen = 4 * step / rate;
  size_t k = 0;
  for (long i = 0; i < n && k < max; i++) {
    if (p[i].t - ct >= wlen) {
      out[k++] = (p[i].b - cb) * 8.0 / (p[i].t - ct);
      ct = p[i].t;
      cb = p[i].b;
    }
  }
  free(p);
  return k;
}

size_t cs_thr_interval_rates(const cs_thr_trial *t, double *out, size_t max) {
  size_t steps = t && t->dir == 0 ? 1 : PLATEAU_STEPS_UP;
  if (!t || !out || !max || !t->samples || t->nsamples < steps + 1) return 0;
  if (t->nsamples > SIZE_MAX / sizeof(pt)) return 0;
  pt *a = malloc(t->nsamples * sizeof *a);
  if (!a) return 0;
  size_t n = 0;
  /* arrival points: strictly growing counts; reads within 1 ms are one arrival */
  for (size_t i = 0; i < t->nsamples; i++) {
    double st = t->samples[i].t, sb = (double)t->samples[i].bytes;
    if (!isfinite(st) || st < 0 || st > 1e9) continue;
    if (n && (st < a[n - 1].t || sb <= a[n - 1].b)) continue;
    if (n && st - a[n - 1].t < 1e-3) {
      a[n - 1].b = sb;
      continue;
    }
    a[n++] = (pt){st, sb};
  }
  size_t k = 0;
  /* uploads: the later half (the acknowledged count starts with the socket buffer's burst);
   * downloads: every arrival (a deferred policer's fast start is a few reads; in the testbed
   * a 1.36-s trial's later half held a burst of extra segments instead) */
  double mid = n && t->dir != 0 ? (a[0].t + a[n - 1].t) / 2 : -1;
  for (size_t i = steps; i < n && k < max; i++) {
    if (a[i - steps].t < mid) continue;
    double dt = a[i].t - a[i - steps].t;
    if (dt > 0) out[k++] = (a[i].b - a[i - steps].b) * 8.0 / dt;
  }
  free(a);
  return k;
}

/* A freeze: timed out, fewer bytes than asked, and no progress during the last
 * max(1 s, 25 %) of the trial. *at: the byte count it froze at. */
static bool stalled(const cs_thr_trial *t, int64_t *at) {
  if (!is_timeout(t->failure) || t->expected == 0 || t->bytes >= t->expected) return false;
  if (!t->samples || t->nsamples == 0) return false;
  pt *p;
  double t0;
  long n = build_points(t, &p, &t0);
  if (n < 2) {
    free(p);
    return false;
  }
  double fin = p[n - 1].b, tend = p[n - 1].t;
  long i = n - 1;
  while (i > 0 && p[i - 1].b >= fin) i--;
  double frozen = tend - p[i].t;
  free(p);
  double need = tend * MIN_FREEZE_FRAC > MIN_FREEZE_S ? tend * MIN_FREEZE_FRAC : MIN_FREEZE_S;
  if (!(frozen >= need)) return false;
  *at = fin < 9e18 ? (int64_t)fin : INT64_MAX;
  return true;
}

/* ---- statistics ------------------------------------------------------------------------ */

static int dcmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). NAN when n == 0. */
static double median_sort(double *v, size_t n) {
  if (!n) return NAN;
  qsort(v, n, sizeof *v, dcmp);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static double median_copy(const double *v, size_t n) {
  if (!n) return NAN;
  double *c = malloc(n * sizeof *c);
  if (!c) return NAN;
  memcpy(c, v, n * sizeof *c);
  double m = median_sort(c, n);
  free(c);
  return m;
}

static double cv_of(const double *v, size_t n) {
  if (n < 2) return 0;
  double s = 0, ss = 0;
  for (size_t i = 0; i < n; i++) s += v[i];
  double mean = s / (double)n;
  for (size_t i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
  double sd = sqrt(ss / (double)(n - 1));
  return mean > 0 ? sd / mean : INFINITY;
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Percentile bootstrap 95 % CI of the median of r[0..n). -1 on OOM. */
static int boot_ci(const double *r, size_t n, uint64_t seed, double *lo, double *hi) {
  *lo = *hi = NAN;
  if (!n) return 0;
  double *meds = malloc(BOOT_ROUNDS * sizeof *meds), *tmp = malloc(n * sizeof *tmp);
  if (!meds || !tmp) {
    free(meds);
    free(tmp);
    return -1;
  }
  uint64_t s = seed;
  for (size_t b = 0; b < BOOT_ROUNDS; b++) {
    for (size_t i = 0; i < n; i++) tmp[i] = r[splitmix(&s) % n];
    meds[b] = median_sort(tmp, n);
  }
  qsort(meds, BOOT_ROUNDS, sizeof *meds, dcmp);
  *lo = meds[(size_t)(0.025 * BOOT_ROUNDS)];
  *hi = meds[(size_t)ceil(0.975 * BOOT_ROUNDS) - 1];
  free(meds);
  free(tmp);
  return 0;
}

/* One-sided sign test: P(X >= k), X ~ Binomial(m, 1/2). */
static double sign_p(unsigned k, unsigned m) {
  if (m == 0) return 1.0;
  double p = 0;
  for (unsigned i = k; i <= m; i++)
    p += exp(lgamma((double)m + 1) - lgamma((double)i + 1) - lgamma((double)(m - i) + 1) -
             (double)m * log(2.0));
  return p > 1 ? 1 : p;
}

/* One-sided one-sample t-test on the log ratios: P(T_{n-1} >= t) for
 * t = (mean(log r) - mu0) / (sd / sqrt(n)), for n = 3 or 4 (df 2 or 3: the Student CDF in
 * closed form). NAN for another n. sd == 0: 0 or 1 by the sign of the difference. */
static double logt_p(const double *r, size_t n, double mu0) {
  if (n != 3 && n != 4) return NAN;
  double s = 0, ss = 0;
  for (size_t i = 0; i < n; i++) s += log(r[i]);
  double mean = s / (double)n;
  for (size_t i = 0; i < n; i++) ss += (log(r[i]) - mean) * (log(r[i]) - mean);
  double sd = sqrt(ss / (double)(n - 1));
  if (!isfinite(mean) || !isfinite(sd)) return NAN;
  if (!(sd > 0)) return mean > mu0 ? 0.0 : 1.0;
  double t = (mean - mu0) / (sd / sqrt((double)n));
  if (n == 3) return 0.5 - t / (2.0 * sqrt(t * t + 2.0));
  double u = t / sqrt(3.0);
  return 0.5 - (atan(u) + u / (1.0 + u * u)) / M_PI;
}

typedef struct {
  size_t n;
  double *r; /* ratios */
  double median, lo, hi, p, maxr;
  unsigned conc;
} ratios;

static int ratios_stats(ratios *x, uint64_t seed) {
  x->median = median_copy(x->r, x->n);
  if (x->n && isnan(x->median)) return -1;
  x->conc = 0;
  unsigned m = 0;
  x->maxr = 0;
  for (size_t i = 0; i < x->n; i++) {
    if (x->r[i] > 1.0) x->conc++;
    if (x->r[i] != 1.0) m++;
    if (x->r[i] > x->maxr) x->maxr = x->r[i];
  }
  x->p = x->n ? sign_p(x->conc, m) : NAN;
  return boot_ci(x->r, x->n, seed, &x->lo, &x->hi);
}

/* ---- the analysis ---------------------------------------------------------------------- */

typedef struct {
  const cs_thr_trial *t;
  double g;  /* steady goodput */
  bool hard; /* failed for another reason than slowness */
  bool stall;
  int64_t stall_at;
} tinfo;

static double ratio_of(double num, double den) {
  return num / (den > GOODPUT_FLOOR ? den : GOODPUT_FLOOR);
}

/* The policer's rate (payload bits/s): the median of the interval rates (cs_thr_interval_rates)
 * pooled over the selected trials that did not fail or freeze: the plateau, not the average
 * (a policer that starts after N packets, an RTO stall and the burst that follows it, or a
 * hole filled by a retransmission are a few intervals among many, and the median ignores
 * them). Too few intervals (no per-read samples): g, the median of the trials' plateaus. */
static double plateau_rate(const tinfo *ti, size_t n, const bool *sel, double g) {
  size_t cap = 0, k = 0;
  for (size_t i = 0; i < n; i++)
    if (sel[i] && !ti[i].hard && !ti[i].stall && ti[i].t->samples) {
      if (ti[i].t->nsamples > SIZE_MAX / sizeof(double) - cap) return g;
      cap += ti[i].t->nsamples;
    }
  if (cap == 0) return g;
  double *r = malloc(cap * sizeof *r);
  if (!r) return g;
  for (size_t i = 0; i < n; i++)
    if (sel[i] && !ti[i].hard && !ti[i].stall && ti[i].t->samples)
      k += cs_thr_interval_rates(ti[i].t, r + k, cap - k);
  double m = k >= PLATEAU_MIN_RATES ? median_sort(r, k) : g;
  free(r);
  return isfinite(m) && m > 0 ? m : g;
}

/* One trial's plateau: the median of its interval rates when it has at least 3, else g (its
 * steady goodput). Trials agree on it when a short trial's last 2/3 still holds a fast
 * start (a policer after N packets), which their steady goodputs do not. */
static double trial_plateau(const cs_thr_trial *t, double g) {
  if (!t->samples || t->nsamples < 4 || t->nsamples > SIZE_MAX / sizeof(double)) return g;
  double *r = malloc(t->nsamples * sizeof *r);
  if (!r) return g;
  size_t k = cs_thr_interval_rates(t, r, t->nsamples);
  double m = k >= 3 ? median_sort(r, k) : g;
  free(r);
  return isfinite(m) && m > 0 ? m : g;
}

/* Fingerprint over the trials selected by sel (usable ones): "stall" when at least half of
 * them froze (stall_after_bytes: the median freeze point), else "policer" when their steady
 * goodputs agree (CV <= 0.25) and their 1-s windows are flat. */
static void fingerprint(const tinfo *ti, size_t n, const bool *sel, cs_thr_result *out) {
  size_t used = 0, nst = 0;
  double *v = malloc((n ? n : 1) * sizeof *v), *w = malloc((n ? n : 1) * sizeof *w);
  if (!v || !w) goto done;
  for (size_t i = 0; i < n; i++) {
    if (!sel[i] || ti[i].hard) continue;
    used++;
    if (ti[i].stall) v[nst++] = (double)ti[i].stall_at;
  }
  if (used && nst * 2 >= used) {
    out->pattern = "stall";
    double sb = median_sort(v, nst);
    out->stall_after_bytes = sb >= 0 && sb < 9e18 ? (int64_t)sb : INT64_MAX;
    goto done;
  }
  size_t ng = 0, nw = 0, windows_total = 0;
  double win[64];
  for (size_t i = 0; i < n; i++) {
    if (!sel[i] || ti[i].hard || ti[i].stall || !(ti[i].g > 0)) continue;
    v[ng++] = trial_plateau(ti[i].t, ti[i].g);
    size_t k = cs_thr_window_rates(ti[i].t, win, 64);
    windows_total += k;
    if (k >= 2) w[nw++] = cv_of(win, k);
  }
  bool flat_trials = ng >= 2 ? cv_of(v, ng) <= POLICER_TRIAL_CV : (ng == 1 && windows_total >= 3);
  bool flat_windows = nw == 0 ? ng >= 3 : median_sort(w, nw) <= POLICER_WINDOW_CV;
  if (ng && flat_trials && flat_windows) {
    out->pattern = "policer";
    out->rate_bps = plateau_rate(ti, n, sel, median_sort(v, ng)) * CS_THR_L2_FACTOR;
  }
done:
  free(v);
  free(w);
}

static int analyze(const cs_thr_trial *t, size_t n, int dir, const cs_thr_params *pin,
                   cs_thr_result *out, double *maxr) {
  if (!out || (n && !t)) return -1;
  cs_thr_params p = sane_params(pin);
  memset(out, 0, sizeof *out);
  out->throttled = -1;
  out->ratio = out->ci_lo = out->ci_hi = out->p_value = NAN;
  out->rate_bps = out->control_bps = out->target_bps = NAN;
  out->stall_after_bytes = -1;
  *maxr = NAN;
  int rc = -1;
  tinfo *ti = calloc(n ? n : 1, sizeof *ti);
  bool *sel = calloc(n ? n : 1, sizeof *sel);
  double *cg = malloc((n ? n : 1) * sizeof *cg), *tg = malloc((n ? n : 1) * sizeof *tg);
  ratios rs = {0}, ri = {0};
  rs.r = malloc((n ? n : 1) * sizeof *rs.r);
  ri.r = malloc((n ? n : 1) * sizeof *ri.r);
  if (!ti || !sel || !cg || !tg || !rs.r || !ri.r) goto out;

  size_t m = 0, nc0 = 0, nt0 = 0, ncs = 0, ncu = 0, ntu = 0;
  for (size_t i = 0; i < n; i++) {
    if (t[i].dir != dir) continue;
    tinfo *x = &ti[m++];
    x->t = &t[i];
    x->g = cs_thr_goodput(&t[i]);
    x->hard = hard_failure(&t[i]) || isnan(x->g);
    x->stall = !x->hard && stalled(&t[i], &x->stall_at);
  }
  if (m == 0) {
    out->reason = CS_THR_REASON_NO_DATA;
    rc = 0;
    goto out;
  }
  for (size_t i = 0; i < m; i++) {
    if (ti[i].t->addr != 0) continue;
    if (ti[i].t->target) {
      nt0++;
      if (ti[i].hard) out->failed_target++;
      else tg[ntu++] = ti[i].g;
    } else {
      nc0++;
      if (ti[i].hard) out->failed_control++;
      else {
        cg[ncu++] = ti[i].g;
        if (ti[i].stall) ncs++;
      }
    }
  }
  out->control_bps = median_copy(cg, ncu);
  out->target_bps = median_copy(tg, ntu);
  double ccv = cv_of(cg, ncu);

  /* the pairs: the first usable target and control of each pair index on each address (a
   * pair's two names share its address: the second address's pairs compare names too) */
  for (size_t i = 0; i < m; i++) {
    const tinfo *a = &ti[i];
    if (a->hard || !a->t->target) continue;
    bool dup = false;
    for (size_t j = 0; j < i && !dup; j++)
      dup = !ti[j].hard && ti[j].t->addr == a->t->addr && ti[j].t->target &&
            ti[j].t->pair == a->t->pair;
    if (dup) continue;
    for (size_t j = 0; j < m; j++) {
      const tinfo *c = &ti[j];
      if (c->hard || c->t->addr != a->t->addr || c->t->target || c->t->pair != a->t->pair) continue;
      rs.r[rs.n++] = ratio_of(c->g, a->g);
      break;
    }
  }
  if (ratios_stats(&rs, p.seed) < 0) goto out;
  out->pairs_used = (unsigned)rs.n;
  out->concordant = rs.conc;
  out->ratio = rs.median;
  out->ci_lo = rs.lo;
  out->ci_hi = rs.hi;
  out->p_value = rs.p;
  *maxr = rs.n ? rs.maxr : NAN;

  bool ctl_stalled = ncu && ncs * 2 >= ncu;
  /* the fast path (p.fast_pairs): 3 or 4 pairs may decide when the effect is extreme: a
   * one-sided t-test on the log ratios, against log(min_ratio) (throttled: every pair
   * concordant and the mean log ratio significantly above it); not throttled when every
   * ratio is below sqrt(min_ratio) (the early-stop rule for "clearly equal": a throttle of
   * min_ratio would have to fall short by sqrt(min_ratio) in every pair). The sign test cannot reach alpha = 0.05 under 5 pairs; the t-test's power
   * grows with the size of the effect (docs/throttling.md, "Early stop"). */
  int fast = 0;
  double fast_p = NAN;
  if (p.fast_pairs >= 3 && rs.n >= p.fast_pairs && rs.n < p.min_pairs) {
    double pu = logt_p(rs.r, rs.n, log(p.min_ratio));
    if (rs.conc == rs.n && pu <= p.alpha) fast = 1, fast_p = pu;
    else if (rs.maxr < sqrt(p.min_ratio)) fast = -1;
  }
  if (nc0 == 0 || nt0 == 0) out->reason = CS_THR_REASON_TOO_FEW_PAIRS;
  else if (out->failed_control * 2 > nc0) out->reason = CS_THR_REASON_CONTROL_FAILED;
  else if (ctl_stalled) out->reason = CS_THR_REASON_CONTROL_STALLED;
  else if (out->failed_target * 2 > nt0) out->reason = CS_THR_REASON_TARGET_FAILED;
  else if (rs.n < p.min_pairs && !fast) out->reason = CS_THR_REASON_TOO_FEW_PAIRS;
  else if (!(out->control_bps >= p.min_control_bps)) out->reason = CS_THR_REASON_CONTROL_SLOW;
  else if (ccv > p.max_control_cv) out->reason = CS_THR_REASON_CONTROL_ERRATIC;
  else if (fast == 1 && rs.median >= p.min_ratio) {
    out->throttled = 1;
    out->p_value = fast_p;
  } else if (fast == -1) out->throttled = 0;
  else if (fast) out->reason = CS_THR_REASON_NOT_SIGNIFICANT;
  else if (rs.median >= p.min_ratio && rs.p <= p.alpha) out->throttled = 1;
  else if (rs.median < p.min_ratio && rs.hi < p.min_ratio) out->throttled = 0;
  else out->reason = CS_THR_REASON_NOT_SIGNIFICANT;
  if (out->throttled >= 0) out->reason = NULL;
  if (out->throttled == 1) {
    out->keyed = p.http ? "host" : "sni";
    for (size_t i = 0; i < m; i++) sel[i] = ti[i].t->target; /* every address: name-keyed */
    fingerprint(ti, m, sel, out);
    rc = 0;
    goto out;
  }

  /* IP-keyed: the same role on the second address vs the main one, matched in order */
  double g1[2][64], g0[2][64];
  size_t n1[2] = {0, 0}, n0[2] = {0, 0};
  for (size_t i = 0; i < m; i++) {
    if (ti[i].hard) continue;
    int role = ti[i].t->target ? 1 : 0;
    if (ti[i].t->addr == 1 && n1[role] < 64) g1[role][n1[role]++] = ti[i].g;
    if (ti[i].t->addr == 0 && n0[role] < 64) g0[role][n0[role]++] = ti[i].g;
  }
  double all1[128];
  size_t na1 = 0;
  for (int role = 0; role < 2; role++) {
    for (size_t k = 0; k < n1[role]; k++) all1[na1++] = g1[role][k];
    for (size_t k = 0; k < n1[role] && k < n0[role]; k++)
      ri.r[ri.n++] = ratio_of(g1[role][k], g0[role][k]);
  }
  if (ri.n >= p.min_pairs) {
    if (ratios_stats(&ri, p.seed) < 0) goto out;
    double m1 = median_copy(all1, na1);
    if (ri.median >= p.min_ratio && ri.p <= p.alpha && m1 >= p.min_control_bps) {
      out->throttled = 1;
      out->reason = NULL;
      out->keyed = "ip";
      out->ratio = ri.median;
      out->ci_lo = ri.lo;
      out->ci_hi = ri.hi;
      out->p_value = ri.p;
      out->pairs_used = (unsigned)ri.n;
      out->concordant = ri.conc;
      *maxr = ri.maxr;
      for (size_t i = 0; i < m; i++) sel[i] = ti[i].t->addr == 0;
      fingerprint(ti, m, sel, out);
      rc = 0;
      goto out;
    }
  }
  if (ctl_stalled) { /* report the freeze even though it is not keyed on the name */
    for (size_t i = 0; i < m; i++) sel[i] = ti[i].t->addr == 0;
    fingerprint(ti, m, sel, out);
    if (out->pattern && strcmp(out->pattern, "stall") != 0) {
      out->pattern = NULL;
      out->rate_bps = NAN;
    }
  }
  rc = 0;
out:
  free(ti);
  free(sel);
  free(cg);
  free(tg);
  free(rs.r);
  free(ri.r);
  return rc;
}

int cs_thr_analyze(const cs_thr_trial *t, size_t n, int dir, const cs_thr_params *p,
                   cs_thr_result *out) {
  double maxr;
  return analyze(t, n, dir, p, out, &maxr);
}

bool cs_thr_decisive(const cs_thr_trial *t, size_t n, int dir, const cs_thr_params *pin) {
  cs_thr_params p = sane_params(pin);
  cs_thr_result r;
  double maxr;
  if (analyze(t, n, dir, &p, &r, &maxr) < 0) return false;
  if (r.pairs_used >= p.max_pairs) return true;
  if (r.pairs_used < p.min_pairs && !(p.fast_pairs >= 3 && r.pairs_used >= p.fast_pairs))
    return false;
  if (r.throttled == 1 && r.concordant == r.pairs_used) return true;
  if (r.throttled == 0 && maxr < sqrt(p.min_ratio)) return true;
  return false;
}
