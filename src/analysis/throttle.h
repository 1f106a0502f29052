/* throttle.h - the throttling statistics (issue 11, contract-11 part B): steady-state goodput
 * from cumulative byte samples, per-pair target/control ratios, the median ratio with a
 * bootstrap 95 % CI, a one-sided sign test, the decision (true / false / null with a
 * reason), and the fingerprints: "policer" (a plateau at a steady rate, estimated as an HTB
 * would count it) and "stall" (the flow freezes after some bytes), and the IP-keyed case
 * (both names slow on the main address, fast on the second). Pure functions: no I/O, no
 * globals, deterministic for a given seed. Method and thresholds: docs/throttling.md.
 *
 * Additions to the contract (all optional for the caller; zero/false keep contract
 * behaviour): cs_thr_params.http (keyed "host" instead of "sni"), cs_thr_params.fast_pairs (t-test
 * on the log ratios before min_pairs); cs_thr_result.control_bps,
 * target_bps, concordant, failed_target, failed_control; CS_THR_REASON_* names of the
 * reasons; CS_THR_L2_FACTOR; cs_thr_window_rates(), cs_thr_interval_rates(). */
#ifndef CS_ANALYSIS_THROTTLE_H
#define CS_ANALYSIS_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  double t;       /* s since the request was sent */
  uint64_t bytes; /* cumulative payload bytes at t */
} cs_thr_sample;

typedef struct {
  bool target;         /* true: target name; false: control name */
  unsigned pair;       /* pair index (0..k-1) */
  unsigned addr;       /* index of the server address used (0: main, 1: second) */
  int dir;             /* 0 down, 1 up */
  double handshake_s;  /* TLS handshake (or TCP connect for --http) time; < 0 unknown */
  double ttfb_s;       /* down: first body byte; up: response; < 0 unknown */
  double duration_s;   /* request sent -> last byte (or failure/timeout) */
  uint64_t bytes;      /* payload bytes moved */
  uint64_t expected;   /* payload bytes asked for */
  const char *failure; /* OONI failure string or NULL */
  const cs_thr_sample *samples;
  size_t nsamples;
} cs_thr_trial;

typedef struct {
  double min_ratio;       /* default 3.0 (real cases are >= 10x; 3 keeps a margin for drop-based
                             policers near the control's rate, and noise stays far below it) */
  double alpha;           /* default 0.05, one-sided sign test */
  double max_control_cv;  /* default 0.5 */
  double min_control_bps; /* default 1e6: below it a 150-kbit/s policer is not separable */
  unsigned min_pairs, max_pairs; /* defaults 5 and 10 */
  uint64_t seed;                 /* bootstrap RNG seed (deterministic output); default 1 */
  bool http;                     /* added: trials used plain HTTP (--http): keyed "host" */
  unsigned fast_pairs; /* added: 0 (default, contract behaviour) or 3..4: from this many pairs,
                          an extreme effect decides by a t-test on the log ratios (see
                          analyze: p_value is then the t-test's) */
} cs_thr_params;

typedef struct {
  int throttled;      /* 1 true, 0 false, -1 null (inconclusive) */
  const char *reason; /* static string when throttled == -1 (else NULL): CS_THR_REASON_* */
  double ratio, ci_lo, ci_hi, p_value; /* NAN when unknown */
  const char *pattern;                 /* "policer", "stall" or NULL */
  double rate_bps;           /* policer estimate (bits/s, L2 as HTB counts): the plateau, NAN */
  int64_t stall_after_bytes; /* -1 if none */
  const char *keyed;         /* "sni", "host", "ip" or NULL */
  unsigned pairs_used;
  /* added */
  double control_bps, target_bps; /* median steady goodput of the controls / targets (addr 0) */
  unsigned concordant;            /* pairs with the target slower than its control */
  unsigned failed_target, failed_control; /* trials excluded for a (non-timeout) failure */
} cs_thr_result;

/* Reasons for throttled == -1 (the strings are the values of x_throttling.reason). */
#define CS_THR_REASON_NO_DATA "no_data"                 /* no trial in this direction */
#define CS_THR_REASON_TOO_FEW_PAIRS "too_few_pairs"     /* fewer usable pairs than min_pairs */
#define CS_THR_REASON_CONTROL_SLOW "control_slow"       /* median control < min_control_bps */
#define CS_THR_REASON_CONTROL_ERRATIC "control_erratic" /* control CV > max_control_cv */
#define CS_THR_REASON_CONTROL_FAILED "control_failures" /* over half the controls failed */
#define CS_THR_REASON_CONTROL_STALLED "control_stalled" /* controls freeze too: not name-keyed */
#define CS_THR_REASON_TARGET_FAILED                                                                \
  "target_failures" /* over half the targets failed (not a
                                                           timeout): blocked, not slowed */
#define CS_THR_REASON_NOT_SIGNIFICANT                                                              \
  "not_significant" /* ratio and sign test disagree, or the
                                                           CI straddles min_ratio */

/* HTB counts L2 bytes (skb->len: Ethernet + IP + TCP headers + payload). A full TCP segment
 * with timestamps carries 1448 payload bytes in a 1514-byte frame, so a policer's configured
 * rate is the payload goodput times 1514/1448 (TLS record overhead, 22 bytes per 16 KiB
 * record, is below 0.2 % and ignored). */
#define CS_THR_L2_FACTOR (1514.0 / 1448.0)

void cs_thr_params_default(cs_thr_params *p);

/* Steady-state payload goodput in bits/s: the rate over the last 2/3 of the transfer (from the
 * first byte, or the request for uploads, to the last byte, or to duration_s for a transfer
 * that ended early), with the cumulative count interpolated at the 1/3 point. Skipping the
 * first third drops TCP slow start and a policer's initial token-bucket burst. Falls back to
 * bytes / (duration - ttfb) without usable samples. NAN when nothing is usable. */
double cs_thr_goodput(const cs_thr_trial *t);

/* Added: rates (bits/s) over consecutive windows within the last 2/3 of the transfer, each at
 * least 1 s and at least 4 typical increments of the count long (reads arrive a TLS record,
 * 16 KiB, at a time: shorter windows would measure the record size), at most max into out.
 * Returns the number written (0 on OOM). */
size_t cs_thr_window_rates(const cs_thr_trial *t, double *out, size_t max);

/* Added: the rates (payload bits/s) between arrivals of the trial's samples, each over one
 * growth of the count for downloads (per-read samples: one segment's spacing; a few
 * segments let through at once are single intervals the median skips), over 2 for uploads
 * (the acknowledged count is polled every 50 ms: one step is too coarse), reads within 1 ms
 * merged; downloads over every arrival (a policer that starts after N packets lets its
 * fast start through in a few reads: a few intervals), uploads in the later half (from the
 * midpoint of the first and last arrival times), at most max into out; the policer's
 * plateau is their median pooled over the target's trials. A shaper spaces segments at
 * exactly its rate, so most intervals measure it; an RTO stall and the catch-up burst after
 * it are a few intervals the median skips. Returns the number written (0 without samples or on OOM). */
size_t cs_thr_interval_rates(const cs_thr_trial *t, double *out, size_t max);

/* Analyses the trials of direction dir (0 down, 1 up); others are ignored. Returns 0 (out
 * filled), or -1 on bad input (t NULL with n > 0, out NULL) or out of memory. p NULL: the
 * defaults. */
int cs_thr_analyze(const cs_thr_trial *t, size_t n, int dir, const cs_thr_params *p,
                   cs_thr_result *out);

/* Early stop: true when more pairs would not change the answer: at least min_pairs usable
 * pairs that are all concordant with median >= min_ratio and p <= alpha (throttled), or all
 * ratios below sqrt(min_ratio) with healthy controls (clearly equal), or max_pairs pairs
 * reached. */
bool cs_thr_decisive(const cs_thr_trial *t, size_t n, int dir, const cs_thr_params *p);

#endif
