/* cusum.c - the collector's change detector: a two-sided CUSUM over one cell's hourly blocked
 * fraction (OONI's CusumDetector with the differences listed in cusum.h) and the grouping of
 * per-ASN flips into country-wide events. Pure: no I/O, no globals. */
#include "analysis/cusum.h"

#include <math.h>

void cs_cusum_params_default(cs_cusum_params *p) {
  p->mu0 = 0.0;
  p->mu1 = 0.7;
  p->h = 3.5;
  p->gap_h = 24.0;
  p->half_life_h = 48.0;
  p->n_cap = 3.0;
}

void cs_cusum_state_init(cs_cusum_state *s) {
  s->status = CS_CUSUM_UNKNOWN;
  s->s_pos = s->s_neg = 0.0;
  s->last_hour = -1;
  s->pos_start = s->pos_prev = s->neg_start = s->neg_prev = -1;
}

static void reset_acc(cs_cusum_state *s) {
  s->s_pos = s->s_neg = 0.0;
  s->pos_start = s->pos_prev = s->neg_start = s->neg_prev = -1;
}

/* One accumulator: acc = max(0, acc + inc), tracking where its current run started. */
static void accumulate(double *acc, int64_t *start, int64_t *prev, double inc, int64_t hour,
                       int64_t last) {
  double next = *acc + inc;
  if (!(next > 0.0)) { /* also catches NaN */
    *acc = 0.0;
    *start = *prev = -1;
    return;
  }
  if (!(*acc > 0.0)) {
    *start = hour;
    *prev = last;
  }
  *acc = next;
}

int cs_cusum_step(const cs_cusum_params *p, cs_cusum_state *s, const cs_cusum_obs *o,
                  cs_cusum_alert *alert) {
  if (o->n == 0 || o->k > o->n) return 0;
  if (s->last_hour >= 0 && o->hour <= s->last_hour) return 0;
  int64_t last = s->last_hour;
  if (last >= 0) {
    double gap = (double)(o->hour - last);
    if (gap > p->gap_h && p->half_life_h > 0) {
      double f = pow(0.5, gap / p->half_life_h);
      s->s_pos *= f;
      s->s_neg *= f;
    }
  }
  double x = (double)o->k / (double)o->n;
  double w = (double)o->n < p->n_cap ? (double)o->n : p->n_cap;
  if (!(w > 0)) w = 1.0;
  double half_v = (p->mu1 - p->mu0) / 2.0;
  if (s->status != CS_CUSUM_BLOCKED)
    accumulate(&s->s_pos, &s->pos_start, &s->pos_prev, w * (x - p->mu0 - half_v), o->hour, last);
  if (s->status != CS_CUSUM_OK)
    accumulate(&s->s_neg, &s->neg_start, &s->neg_prev, w * (p->mu1 - x - half_v), o->hour, last);
  s->last_hour = o->hour;

  /* a tie (s == h up to rounding: 10 * 0.35 may sum to 3.5000000000000004) is not a crossing */
  double h = p->h + 1e-9;
  int from = s->status, to = from, dir = 0;
  int64_t start = -1, prev = -1;
  if (from != CS_CUSUM_BLOCKED && s->s_pos > h) {
    to = CS_CUSUM_BLOCKED;
    dir = 1;
    start = s->pos_start;
    prev = s->pos_prev;
  } else if (from != CS_CUSUM_OK && s->s_neg > h) {
    to = CS_CUSUM_OK;
    dir = -1;
    start = s->neg_start;
    prev = s->neg_prev;
  }
  if (to == from) return 0;
  if (from == CS_CUSUM_UNKNOWN) dir = 0; /* the first known state: set silently */
  if (dir != 0 && alert) {
    alert->dir = dir;
    alert->hour = o->hour;
    alert->start = start;
    alert->prev = prev;
    alert->s_pos = s->s_pos;
    alert->s_neg = s->s_neg;
  }
  s->status = to;
  reset_acc(s);
  return dir;
}

unsigned cs_cusum_delay_h(const cs_cusum_params *p, uint32_t n, double x, int recovery) {
  if (n == 0 || !(x >= 0.0 && x <= 1.0)) return 0;
  cs_cusum_state s;
  cs_cusum_state_init(&s);
  s.status = recovery ? CS_CUSUM_BLOCKED : CS_CUSUM_OK;
  /* k/n as close to x as whole measurements allow */
  uint32_t k = (uint32_t)lround(x * (double)n);
  for (unsigned t = 1; t <= 10000; t++) {
    cs_cusum_obs o = {(int64_t)t, n, k};
    cs_cusum_alert a;
    if (cs_cusum_step(p, &s, &o, &a) != 0) return t;
  }
  return 0;
}

size_t cs_flip_events(const cs_flip *flips, size_t n, int64_t window_h, size_t min_asns,
                      cs_flip_event *ev, size_t max) {
  size_t found = 0, i = 0;
  if (min_asns == 0) min_asns = 1;
  while (i < n) {
    size_t j = i, nasn = 0;
    while (j < n && flips[j].hour - flips[i].hour <= window_h) {
      size_t m = i;
      while (m < j && flips[m].asn != flips[j].asn) m++;
      if (m == j) nasn++;
      j++;
    }
    if (nasn >= min_asns) {
      if (found < max) {
        ev[found].first = i;
        ev[found].last = j - 1;
        ev[found].nasn = nasn;
      }
      found++;
      i = j;
    } else {
      i++;
    }
  }
  return found;
}
