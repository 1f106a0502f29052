/* cusum.h - the collector's change detector (issue 13): a two-sided CUSUM over the hourly
 * blocked fraction of one (probe_cc, probe_asn, domain, blocking_type) cell, and the grouping
 * of per-ASN flips into country-wide events. Pure functions: no I/O, no globals.
 *
 * Baseline: OONI's CusumDetector (ooni/data oonipipeline/analysis/detector.py, Basseville
 * 1993 §2.2.5): fixed means mu0 = 0 (reachable) and mu1 = 0.7 (blocked), v = mu1 - mu0,
 * threshold h = edd * v / 2 = 3.5 (edd 10), accumulators reset after each alert, a gap of more
 * than 24 h decays both by 0.5^(gap / 48 h), an unknown start state set silently by the first
 * crossing. Differences (docs/collector.md "Change detector"):
 *   - the value of an hour is the blocked FRACTION k/n of the hour's measurements with a
 *     verdict (OONI: the hourly median of a score, which is 0 while fewer than half are
 *     blocked, so partial blocking never shows);
 *   - the hour's step is weighted by its count, w = min(n, n_cap) (OONI: weight 1 for any
 *     n > 0): one measurement an hour keeps OONI's pace, three or more move three times as
 *     fast, a burst of one flaky probe cannot alert in one hour (w is capped);
 *   - every alert carries the estimated onset (the hour the alerting accumulator last left 0)
 *     and the last observed hour before it, so "changed between prev and start" is evidence,
 *     and a gap in the data shows as a wide interval rather than a guessed time;
 *   - cs_cusum_delay_h() states the detection delay the parameters promise (the tests check
 *     the detector against it). */
#ifndef CS_ANALYSIS_CUSUM_H
#define CS_ANALYSIS_CUSUM_H

#include <stddef.h>
#include <stdint.h>

typedef enum { CS_CUSUM_UNKNOWN = 0, CS_CUSUM_OK = 1, CS_CUSUM_BLOCKED = 2 } cs_cusum_status;

typedef struct {
  double mu0;         /* mean blocked fraction when reachable; OONI 0.0 */
  double mu1;         /* mean blocked fraction when blocked; OONI 0.7 */
  double h;           /* alert threshold; OONI 3.5 (edd 10 * v / 2) */
  double gap_h;       /* a gap longer than this (hours) decays the accumulators; OONI 24 */
  double half_life_h; /* decay half-life over the gap; OONI 48 */
  double n_cap;       /* an hour weighs min(n, n_cap); ours 3 (1 = OONI's weighting) */
} cs_cusum_params;

/* OONI's parameters plus n_cap 3. */
void cs_cusum_params_default(cs_cusum_params *p);

/* The state of one cell. Hours are UNIX time / 3600 (UTC hours); -1 = none. */
typedef struct {
  int status;          /* cs_cusum_status */
  double s_pos, s_neg; /* evidence of blocking / of recovery */
  int64_t last_hour;   /* last hour with a verdict (n > 0) */
  int64_t pos_start;   /* first hour of the current s_pos run (s_pos > 0), -1 when 0 */
  int64_t pos_prev;    /* the observed hour before pos_start, -1 none */
  int64_t neg_start, neg_prev;
} cs_cusum_state;

void cs_cusum_state_init(cs_cusum_state *s);

typedef struct {
  int64_t hour;
  uint32_t n; /* measurements with a verdict (not msm_failure) in the cell's (cc, asn, domain) */
  uint32_t k; /* of them: anomalies of this cell's blocking_type */
} cs_cusum_obs;

typedef struct {
  int dir;       /* +1 blocking started, -1 blocking ended */
  int64_t hour;  /* the hour whose data made the accumulator cross h */
  int64_t start; /* estimated onset: the first hour of the crossing run */
  int64_t prev;  /* the last observed hour before start (-1 none): the change is in (prev, start] */
  double s_pos, s_neg; /* the accumulators at the crossing (before the reset) */
} cs_cusum_alert;

/* One hour of data. Returns +1 / -1 and fills *alert when the state changes from a known
 * state (OK -> BLOCKED is +1, BLOCKED -> OK is -1), 0 otherwise (including the silent first
 * setting from UNKNOWN, an hour with n == 0 or k > n, which change nothing, and an hour not
 * after last_hour, which is ignored: callers feed hours in order). */
int cs_cusum_step(const cs_cusum_params *p, cs_cusum_state *s, const cs_cusum_obs *o,
                  cs_cusum_alert *alert);

/* The promised detection delay: the number of consecutive hours with blocked fraction x at n
 * verdicts per hour after which a cell in state OK with zero accumulators alerts (for x below
 * the drift, never: returns 0). For a recovery (x the blocked fraction after recovery, from
 * BLOCKED) pass recovery = 1. Computed by running cs_cusum_step, so it is exact. */
unsigned cs_cusum_delay_h(const cs_cusum_params *p, uint32_t n, double x, int recovery);

/* ---- country-wide events ---------------------------------------------------------------- */

typedef struct {
  int64_t hour; /* alert hour of one ASN's changepoint */
  uint32_t asn;
} cs_flip;

typedef struct {
  size_t first, last; /* indexes into the (sorted) flips: [first, last] */
  size_t nasn;        /* distinct ASNs among them */
} cs_flip_event;

/* Groups the flips of one (probe_cc, domain, change_dir), sorted by hour (ties any order),
 * into events: scanning from the earliest flip not yet in an event, the flips within
 * window_h hours of it form an event when they come from at least min_asns distinct ASNs.
 * Writes at most max events to ev; returns how many were found (may exceed max). */
size_t cs_flip_events(const cs_flip *flips, size_t n, int64_t window_h, size_t min_asns,
                      cs_flip_event *ev, size_t max);

#endif
