/* test_cusum.c - the collector's change detector (src/analysis/cusum.c) on scripted hourly
 * series: the promised delay (cs_cusum_delay_h) against OONI's pace, an onset of blocking
 * detected exactly at the promised hour with its onset interval, partial blocking (which an
 * hourly median never shows), recovery (-1), noise (5 % random anomalies over months, several
 * seeds) and sparse data staying quiet, long gaps not alerting, the silent first state, bad
 * hours ignored, and the country-wide grouping of per-ASN flips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "analysis/cusum.h"

static uint64_t rng_s = 7;
static double urand(void) { /* splitmix64 -> [0,1) */
  uint64_t z = (rng_s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double)(z >> 11) / 9007199254740992.0;
}

/* Feeds hours [from, to) with n verdicts of which k blocked; returns the number of alerts and
 * the last one in *last. */
static int feed(const cs_cusum_params *p, cs_cusum_state *s, int64_t from, int64_t to, uint32_t n,
                uint32_t k, cs_cusum_alert *last) {
  int alerts = 0;
  for (int64_t h = from; h < to; h++) {
    cs_cusum_obs o = {h, n, k};
    cs_cusum_alert a;
    if (cs_cusum_step(p, s, &o, &a) != 0) {
      alerts++;
      if (last) *last = a;
    }
  }
  return alerts;
}

static void test_delay(void **st) {
  (void)st;
  cs_cusum_params p;
  cs_cusum_params_default(&p);
  /* fully blocked: one verdict an hour keeps OONI's pace (6 h: 6 * 0.65 > 3.5), >= 3 an hour
   * weigh 3: 2 h */
  assert_int_equal(cs_cusum_delay_h(&p, 1, 1.0, 0), 6);
  assert_int_equal(cs_cusum_delay_h(&p, 2, 1.0, 0), 3);
  assert_int_equal(cs_cusum_delay_h(&p, 3, 1.0, 0), 2);
  assert_int_equal(cs_cusum_delay_h(&p, 50, 1.0, 0), 2);
  /* half the measurements blocked (one ISP's resolver of two): 0.15 a verdict */
  assert_int_equal(cs_cusum_delay_h(&p, 4, 0.5, 0), 8);
  /* below the drift (x <= 0.35) never */
  assert_int_equal(cs_cusum_delay_h(&p, 10, 0.3, 0), 0);
  assert_int_equal(cs_cusum_delay_h(&p, 1, 0.0, 0), 0);
  /* recovery: 0.35 a verdict */
  assert_int_equal(cs_cusum_delay_h(&p, 1, 0.0, 1), 11);
  assert_int_equal(cs_cusum_delay_h(&p, 3, 0.0, 1), 4);
  /* OONI's weighting (n_cap 1): 6 h whatever the count */
  cs_cusum_params o = p;
  o.n_cap = 1;
  assert_int_equal(cs_cusum_delay_h(&o, 40, 1.0, 0), 6);
  assert_int_equal(cs_cusum_delay_h(&p, 0, 1.0, 0), 0);
  assert_int_equal(cs_cusum_delay_h(&p, 1, NAN, 0), 0);
}

static void test_onset(void **st) {
  (void)st;
  cs_cusum_params p;
  cs_cusum_params_default(&p);
  for (uint32_t n = 1; n <= 5; n++) {
    cs_cusum_state s;
    cs_cusum_state_init(&s);
    int64_t t0 = 490000; /* an hour in 2025 */
    cs_cusum_alert a;
    assert_int_equal(feed(&p, &s, t0, t0 + 24, n, 0, &a), 0); /* OK, set silently */
    assert_int_equal(s.status, CS_CUSUM_OK);
    unsigned d = cs_cusum_delay_h(&p, n, 1.0, 0);
    assert_true(d >= 1);
    /* one hour short of the promise: nothing yet */
    assert_int_equal(feed(&p, &s, t0 + 24, t0 + 24 + d - 1, n, n, &a), 0);
    assert_int_equal(feed(&p, &s, t0 + 24 + d - 1, t0 + 24 + d, n, n, &a), 1);
    assert_int_equal(a.dir, 1);
    assert_int_equal(a.hour, t0 + 24 + d - 1);
    assert_int_equal(a.start, t0 + 24); /* the onset hour */
    assert_int_equal(a.prev, t0 + 23);  /* last hour seen reachable */
    assert_true(a.s_pos > p.h);
    assert_int_equal(s.status, CS_CUSUM_BLOCKED);
    assert_true(s.s_pos == 0.0 && s.s_neg == 0.0);
    /* staying blocked: no more alerts */
    assert_int_equal(feed(&p, &s, t0 + 24 + d, t0 + 24 * 10, n, n, &a), 0);
  }
}

static void test_partial(void **st) {
  (void)st;
  cs_cusum_params p;
  cs_cusum_params_default(&p);
  cs_cusum_state s;
  cs_cusum_state_init(&s);
  cs_cusum_alert a;
  feed(&p, &s, 1000, 1024, 4, 0, NULL);
  /* 2 of 4 blocked each hour: an hourly median would read 0 (or 0.5 at best) */
  assert_int_equal(feed(&p, &s, 1024, 1024 + 8, 4, 2, &a), 1);
  assert_int_equal(a.hour, 1024 + 7);
  /* 1 of 4 (below mu0 + v/2): never */
  cs_cusum_state_init(&s);
  feed(&p, &s, 1000, 1024, 4, 0, NULL);
  assert_int_equal(feed(&p, &s, 1024, 1024 + 24 * 30, 4, 1, NULL), 0);
}

static void test_recovery(void **st) {
  (void)st;
  cs_cusum_params p;
  cs_cusum_params_default(&p);
  cs_cusum_state s;
  cs_cusum_state_init(&s);
  cs_cusum_alert a;
  /* blocked from the start: the first state is set silently, no alert */
  assert_int_equal(feed(&p, &s, 5000, 5048, 3, 3, &a), 0);
  assert_int_equal(s.status, CS_CUSUM_BLOCKED);
  unsigned d = cs_cusum_delay_h(&p, 3, 0.0, 1);
  assert_int_equal(feed(&p, &s, 5048, 5048 + d, 3, 0, &a), 1);
  assert_int_equal(a.dir, -1);
  assert_int_equal(a.start, 5048);
  assert_int_equal(a.hour, 5048 + d - 1);
  assert_int_equal(s.status, CS_CUSUM_OK);
}

static void test_noise(void **st) {
  (void)st;
  cs_cusum_params p;
  cs_cusum_params_default(&p);
  for (uint64_t seed = 1; seed <= 20; seed++) {
    rng_s = seed;
    cs_cusum_state s;
    cs_cusum_state_init(&s);
    int alerts = 0;
    /* 90 days, 1..6 verdicts an hour, each an anomaly with probability 5 %, some hours empty */
    for (int64_t h = 0; h < 24 * 90; h++) {
      if (urand() < 0.2) continue;
      uint32_t n = 1 + (uint32_t)(urand() * 6.0), k = 0;
      for (uint32_t i = 0; i < n; i++) k += urand() < 0.05 ? 1u : 0u;
      cs_cusum_obs o = {h, n, k};
      cs_cusum_alert a;
      alerts += cs_cusum_step(&p, &s, &o, &a) != 0;
    }
    assert_int_equal(alerts, 0);
    assert_int_equal(s.status, CS_CUSUM_OK);
  }
  /* and a blocked cell with 5 % of measurements getting through stays blocked quietly */
  rng_s = 99;
  cs_cusum_state s;
  cs_cusum_state_init(&s);
  int alerts = 0;
  for (int64_t h = 0; h < 24 * 60; h++) {
    uint32_t n = 1 + (uint32_t)(urand() * 4.0), k = 0;
    for (uint32_t i = 0; i < n; i++) k += urand() < 0.95 ? 1u : 0u;
    cs_cusum_obs o = {h, n, k};
    alerts += cs_cusum_step(&p, &s, &o, NULL) != 0;
  }
  assert_int_equal(alerts, 0);
  assert_int_equal(s.status, CS_CUSUM_BLOCKED);
}

static void test_gaps(void **st) {
  (void)st;
  cs_cusum_params p;
  cs_cusum_params_default(&p);
  cs_cusum_state s;
  cs_cusum_state_init(&s);
  cs_cusum_alert a;
  /* reachable, 3 days without data, reachable: nothing (a missing hour is not a value) */
  feed(&p, &s, 0, 24, 2, 0, NULL);
  assert_int_equal(feed(&p, &s, 24 + 72, 24 + 96, 2, 0, &a), 0);
  /* blocked, 10 days silent, blocked again: no spurious recovery */
  cs_cusum_state_init(&s);
  feed(&p, &s, 0, 24, 2, 2, NULL);
  assert_int_equal(s.status, CS_CUSUM_BLOCKED);
  assert_int_equal(feed(&p, &s, 24 + 240, 24 + 300, 2, 2, &a), 0);
  /* a few blocked hours, then a long gap decays them: 4 blocked hours (2.6) do not add up
   * with 4 more after 4 days (2.6 * 0.5^(96/48) + 2.6 = 3.25 < 3.5) */
  cs_cusum_state_init(&s);
  feed(&p, &s, 0, 24, 1, 0, NULL);
  assert_int_equal(feed(&p, &s, 24, 28, 1, 1, NULL), 0);
  assert_int_equal(feed(&p, &s, 28 + 96, 28 + 96 + 4, 1, 1, &a), 0);
  /* without the gap the same 8 blocked hours alert (check the contrast is real) */
  cs_cusum_state_init(&s);
  feed(&p, &s, 0, 24, 1, 0, NULL);
  assert_int_equal(feed(&p, &s, 24, 32, 1, 1, &a), 1);
  /* sparse: one blocked measurement every 30 h for 60 days, nothing else */
  cs_cusum_state_init(&s);
  feed(&p, &s, 0, 24, 1, 0, NULL);
  int alerts = 0;
  for (int64_t h = 24; h < 24 * 60; h += 30) alerts += feed(&p, &s, h, h + 1, 1, 1, NULL);
  assert_int_equal(alerts, 0);
  /* a real change across a gap: the alert's interval spans the gap */
  cs_cusum_state_init(&s);
  feed(&p, &s, 0, 24, 3, 0, NULL);
  assert_int_equal(feed(&p, &s, 100, 110, 3, 3, &a), 1);
  assert_int_equal(a.start, 100);
  assert_int_equal(a.prev, 23);
}

static void test_bad_input(void **st) {
  (void)st;
  cs_cusum_params p;
  cs_cusum_params_default(&p);
  cs_cusum_state s;
  cs_cusum_state_init(&s);
  feed(&p, &s, 0, 24, 2, 0, NULL);
  cs_cusum_state before = s;
  cs_cusum_obs bad[] = {{30, 0, 0}, {31, 2, 3}, {23, 5, 5}, {10, 5, 5}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cs_cusum_alert a;
    assert_int_equal(cs_cusum_step(&p, &s, &bad[i], &a), 0);
  }
  assert_int_equal(s.last_hour, before.last_hour);
  assert_true(s.s_pos == before.s_pos && s.status == before.status);
  /* huge counts: the weight is capped, no overflow */
  cs_cusum_obs big = {40, UINT32_MAX, UINT32_MAX};
  cs_cusum_alert a;
  assert_int_equal(cs_cusum_step(&p, &s, &big, &a), 0);
  assert_true(s.s_pos > 1.9 && s.s_pos < 2.0);
}

static void test_flip_events(void **st) {
  (void)st;
  cs_flip_event ev[4];
  /* three ASNs within 6 h: one event */
  cs_flip f1[] = {{100, 1}, {102, 2}, {105, 3}};
  assert_int_equal(cs_flip_events(f1, 3, 6, 3, ev, 4), 1);
  assert_int_equal(ev[0].first, 0);
  assert_int_equal(ev[0].last, 2);
  assert_int_equal(ev[0].nasn, 3);
  /* one ASN flipping three times: none */
  cs_flip f2[] = {{100, 7}, {101, 7}, {102, 7}};
  assert_int_equal(cs_flip_events(f2, 3, 6, 3, ev, 4), 0);
  /* three ASNs, but spread over 20 h: none */
  cs_flip f3[] = {{100, 1}, {110, 2}, {120, 3}};
  assert_int_equal(cs_flip_events(f3, 3, 6, 3, ev, 4), 0);
  /* an early lone flip, then a cluster; then a second cluster a day later */
  cs_flip f4[] = {{90, 9}, {100, 1}, {100, 2}, {101, 2}, {104, 3}, {130, 4}, {131, 5}, {133, 6}};
  assert_int_equal(cs_flip_events(f4, 8, 6, 3, ev, 4), 2);
  assert_int_equal(ev[0].first, 1);
  assert_int_equal(ev[0].last, 4);
  assert_int_equal(ev[0].nasn, 3);
  assert_int_equal(ev[1].first, 5);
  assert_int_equal(ev[1].last, 7);
  /* the count is returned even when ev is too small */
  assert_int_equal(cs_flip_events(f4, 8, 6, 3, ev, 1), 2);
  assert_int_equal(cs_flip_events(f4, 0, 6, 3, ev, 4), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delay),     cmocka_unit_test(test_onset),
      cmocka_unit_test(test_partial),   cmocka_unit_test(test_recovery),
      cmocka_unit_test(test_noise),     cmocka_unit_test(test_gaps),
      cmocka_unit_test(test_bad_input), cmocka_unit_test(test_flip_events),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
