/* throttling.c - does a network slow a name down on purpose? For each target name, download
 * (and upload) N bytes from our own throughput server (the helper's --throughput, one port for
 * TLS with any SNI and plain HTTP) with the target name and with a control name, in
 * interleaved pairs, and let the statistics (analysis/throttle.h) compare them pair by pair.
 * Same server, same path, same bytes: only the name changes, so a censor keyed on the name
 * slows only the target, and a slow or lossy path slows both (docs/throttling.md).
 *
 *   info   ── GET /throughput/info (control name): max_bytes, the server's other address
 *   pairs  ── pair 0: control then target (IP tainting: the control never follows the target
 *             on an address), later pairs in random order; each direction (down: GET
 *             /throughput?bytes=N, up: POST N bytes) one fresh connection (fresh source port)
 *             per trial; a pair every third on the second address when there is one (IP-keyed
 *             throttling); stop once cs_thr_decisive() says every direction is decided
 *   trial  ── dial (TCP, then TLS with SNI = the name, certificate recorded, not verified; or
 *             plain HTTP with Host = the name), request, then read: per-read samples of the
 *             payload received (down) or acknowledged (up: bytes written minus SIOCOUTQ), cut
 *             at --trial-time, or earlier once the trial is already far slower than the
 *             controls (see thr_cut_at)
 *   verdict ─ the evidence is serialised (x_trials + OONI network_events with the samples),
 *             parsed back and analysed by the same code `censorscope analyze` runs
 *
 * Targets are measured one at a time even with -j (parallel downloads would slow each other).
 * Everything the server says is hostile input: sizes it lies about, resets, stalls and refusals
 * are recorded per trial, never trusted. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "analysis/throttle.h"
#include "engine/dial.h"
#include "engine/http.h"
#include "engine/httpparse.h"
#include "nettests/meas.h"
#include "nettests/nettest.h"
#include "record/record.h"
#include "report/report.h"
#include "util/failure.h"
#include "util/ipnet.h"
#include "util/timeutil.h"

#define THR_VERSION "0.1.0"
#define THR_NAME_MAX 255             /* longest name (OpenSSL's SNI limit, RFC 6066) */
#define THR_DEFAULT_BYTES (1u << 20) /* bytes offered per trial */
#define THR_MIN_BYTES 4096u
#define THR_MAX_BYTES (64u << 20)
#define THR_DEFAULT_TRIAL_TIME 5.0 /* hard cap per trial, seconds */
#define THR_DEFAULT_PAIRS 10       /* pairs at most */
#define THR_MAX_PAIRS 50
#define THR_CUT_MIN 1.0      /* a slow trial runs at least this long (s) */
#define THR_CUT_FACTOR 2.0   /* ... and min_ratio x this x the controls' time, ... */
#define THR_CUT_SAMPLES 20   /* ... or x 1 once this many samples grew the count (measurable) */
#define THR_FAST_PAIRS 3     /* an extreme effect may decide from 3 pairs (cs_thr_params) */
#define THR_FROZEN 0.3       /* no byte for this long: the flow is frozen (s) */
#define THR_FROZEN_WAIT 1.5  /* a frozen flow is cut this much later (s) */
#define THR_TICK 0.05        /* cap/cut checks and upload samples (s) */
#define THR_SAMPLE_GAP 0.05  /* samples kept at most this often, but ... */
#define THR_MAX_SAMPLES 1024 /* ... at most this many per trial (then merged) */
#define THR_MAX_EVENTS 32    /* read/write network events per connection */
#define THR_READ_BUF 16384
#define THR_INFO_BODY_CAP 16384
#define THR_UP_BODY_CAP 4096
#define THR_PAYLOAD 65536 /* random upload data, sent over and over */
#define THR_ANALYZE_MAX_TRIALS (THR_MAX_PAIRS * 4 + 8)

enum { THR_DOWN = 0, THR_UP = 1 };
static const char *const thr_dir_name[2] = {"down", "up"};

/* ---- names ----------------------------------------------------------------------------- */

/* A name we may send as SNI / Host: 1..255 bytes of letters, digits, '-', '_' and '.', no
 * empty label. Returns 0, or -1 with the reason in err. */
static int thr_name_check(const char *s, char *err, size_t errlen) {
  size_t n = strlen(s);
  if (n == 0 || n > THR_NAME_MAX) {
    snprintf(err, errlen, "a name must have 1 to %d bytes (this one has %zu)", THR_NAME_MAX, n);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!isalnum(c) && c != '-' && c != '_' && c != '.') {
      snprintf(err, errlen, "invalid byte 0x%02x at offset %zu of the name", c, i);
      return -1;
    }
    if (c == '.' && (i == 0 || s[i - 1] == '.')) {
      snprintf(err, errlen, "empty label at offset %zu of the name", i);
      return -1;
    }
  }
  return 0;
}

/* ---- settings -------------------------------------------------------------------------- */

typedef struct thr thr;

typedef struct {
  char server[CS_IPSTR_MAX + 8]; /* ip:port as normalised */
  cs_ip ip;
  uint16_t port;
  bool have_server;
  char control[THR_NAME_MAX + 1]; /* --control-sni, or a random label made in prepare */
  bool control_given;
  unsigned dirs; /* bit THR_DOWN, bit THR_UP */
  bool http;
  unsigned pairs;
  double trial_time;
  uint64_t bytes;
  double min_ratio; /* 0: the statistics' default */
  uint8_t payload[THR_PAYLOAD];
  /* one measurement at a time */
  thr *running, *qhead, *qtail;
} thr_settings;

static void *thr_create(void) {
  thr_settings *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->dirs = 1u << THR_DOWN | 1u << THR_UP;
  s->pairs = THR_DEFAULT_PAIRS;
  s->trial_time = THR_DEFAULT_TRIAL_TIME;
  s->bytes = THR_DEFAULT_BYTES;
  return s;
}

static void thr_destroy(void *settings) { free(settings); }

static int thr_set_server(void *settings, const char *arg, char *err, size_t errlen) {
  thr_settings *s = settings;
  if (!cs_endpoint_parse(arg, &s->ip, &s->port) || s->port == 0) {
    snprintf(err, errlen, "needs IP:PORT (or [IPv6]:PORT), not '%s'", arg);
    return -1;
  }
  cs_endpoint_format(&s->ip, s->port, s->server, sizeof s->server);
  s->have_server = true;
  return 0;
}

static int thr_set_sni(void *settings, const char *arg, char *err, size_t errlen) {
  (void)settings;
  return thr_name_check(arg, err, errlen) < 0 ? -1 : 1; /* 1: the name is an input */
}

static int thr_set_control(void *settings, const char *arg, char *err, size_t errlen) {
  thr_settings *s = settings;
  if (thr_name_check(arg, err, errlen) < 0) return -1;
  snprintf(s->control, sizeof s->control, "%s", arg);
  s->control_given = true;
  return 0;
}

static int thr_set_direction(void *settings, const char *arg, char *err, size_t errlen) {
  thr_settings *s = settings;
  if (!strcmp(arg, "down")) s->dirs = 1u << THR_DOWN;
  else if (!strcmp(arg, "up")) s->dirs = 1u << THR_UP;
  else if (!strcmp(arg, "both")) s->dirs = 1u << THR_DOWN | 1u << THR_UP;
  else {
    snprintf(err, errlen, "must be down, up or both");
    return -1;
  }
  return 0;
}

static int thr_set_http(void *settings, const char *arg, char *err, size_t errlen) {
  (void)arg, (void)err, (void)errlen;
  ((thr_settings *)settings)->http = true;
  return 0;
}

static int thr_set_pairs(void *settings, const char *arg, char *err, size_t errlen) {
  char *end;
  long n = strtol(arg, &end, 10);
  if (!*arg || *end || n < 1 || n > THR_MAX_PAIRS) {
    snprintf(err, errlen, "needs a number in 1..%d", THR_MAX_PAIRS);
    return -1;
  }
  ((thr_settings *)settings)->pairs = (unsigned)n;
  return 0;
}

static int thr_set_trial_time(void *settings, const char *arg, char *err, size_t errlen) {
  char *end;
  double d = strtod(arg, &end);
  if (!*arg || *end || !(d >= 0.5) || d > 60) {
    snprintf(err, errlen, "needs a number of seconds in [0.5, 60]");
    return -1;
  }
  ((thr_settings *)settings)->trial_time = d;
  return 0;
}

static int thr_set_bytes(void *settings, const char *arg, char *err, size_t errlen) {
  char *end;
  unsigned long long n = strtoull(arg, &end, 10);
  uint64_t mult = 1;
  if (end != arg && (*end == 'k' || *end == 'K')) mult = 1024, end++;
  else if (end != arg && (*end == 'm' || *end == 'M')) mult = 1024 * 1024, end++;
  if (!*arg || *end || arg[0] == '-' || n > THR_MAX_BYTES || n * mult < THR_MIN_BYTES ||
      n * mult > THR_MAX_BYTES) {
    snprintf(err, errlen, "needs a number of bytes in %u..%u (suffix k or M allowed)",
             THR_MIN_BYTES, THR_MAX_BYTES);
    return -1;
  }
  ((thr_settings *)settings)->bytes = (uint64_t)n * mult;
  return 0;
}

static int thr_set_min_ratio(void *settings, const char *arg, char *err, size_t errlen) {
  char *end;
  double d = strtod(arg, &end);
  if (!*arg || *end || !(d >= 1.5) || d > 1000) {
    snprintf(err, errlen, "needs a ratio in [1.5, 1000]");
    return -1;
  }
  ((thr_settings *)settings)->min_ratio = d;
  return 0;
}

static const cs_optdef thr_opts[] = {
    {"server", 0, "ADDR:PORT",
     "the throughput server (`censorscope helper --throughput ADDR:PORT`): an IP literal and "
     "port, never a name (required)",
     false, thr_set_server},
    {"sni", 0, "NAME",
     "a target name to measure (repeatable; each is one measurement). With TLS it is the SNI, "
     "with --http the Host header. 1 to 255 bytes of letters, digits, '-', '_', '.'. Names "
     "may also be given as arguments or one per line with -f FILE",
     true, thr_set_sni},
    {"control-sni", 0, "NAME",
     "the control name (default: a random-looking label made once per run, e.g. "
     "k3v9x2mzt7qa.com)",
     false, thr_set_control},
    {"direction", 0, "DIR",
     "down (GET N bytes), up (POST N bytes) or both (default both, interleaved)", false,
     thr_set_direction},
    {"http", 0, NULL,
     "plain HTTP with the name in the Host header instead of TLS with the name as SNI (the "
     "server's one port serves both)",
     false, thr_set_http},
    {"pairs", 0, "N",
     "at most N (control, target) pairs per direction (default 10, at most 50); the run "
     "stops earlier once the statistics are decisive",
     false, thr_set_pairs},
    {"trial-time", 0, "S",
     "hard cap of one trial from the request, seconds (default 5). A trial also ends when "
     "its N bytes are done, or after max(1 s, 2 x min-ratio x the controls' time) when it "
     "is that much slower than the controls (later while the flow is frozen)",
     false, thr_set_trial_time},
    {"bytes", 0, "N",
     "bytes offered per trial (default 1M = 1048576; suffix k or M; 4096..64M; lowered to the "
     "server's max_bytes)",
     false, thr_set_bytes},
    {"min-ratio", 0, "R",
     "control/target goodput ratio the median must reach to say throttled (default: the "
     "statistics' own, see docs/throttling.md)",
     false, thr_set_min_ratio},
};

static uint64_t thr_random64(void) {
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) v = (uint64_t)(cs_mono_now() * 1e9);
  return v;
}

/* xorshift64*: the pair order and the control label (not security relevant). */
static uint64_t thr_rand(uint64_t *st) {
  uint64_t x = *st ? *st : 0x9e3779b97f4a7c15ull;
  x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
  *st = x;
  return x * 0x2545f4914f6cdd1dull;
}

static int thr_prepare(void *settings, const cs_probe_cfg *probe, char *err, size_t errlen) {
  thr_settings *s = settings;
  (void)probe;
  if (!s->have_server) {
    snprintf(err, errlen, "--server ADDR:PORT is required (the helper's --throughput address)");
    return -1;
  }
  uint64_t st = thr_random64();
  if (!s->control_given) { /* a random-looking label: 12 of [a-z0-9], a letter first */
    static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char lab[13];
    for (int i = 0; i < 12; i++) lab[i] = al[thr_rand(&st) % (i == 0 ? 26 : 36)];
    lab[12] = 0;
    snprintf(s->control, sizeof s->control, "%s.com", lab);
  }
  if (getrandom(s->payload, sizeof s->payload, 0) != (ssize_t)sizeof s->payload)
    for (size_t i = 0; i < sizeof s->payload; i += 8) {
      uint64_t v = thr_rand(&st);
      memcpy(s->payload + i, &v, 8);
    }
  return 0;
}

/* ---- outcomes -------------------------------------------------------------------------- */

#define THR_O_OK "ok"
#define THR_O_THROTTLED "throttled"
#define THR_O_STALLED "stalled"
#define THR_O_INCONCLUSIVE "inconclusive"
#define THR_O_FAILURE "failure"

static const cs_outcome_def thr_outcomes[] = {
    {THR_O_OK, "Not throttled", false},
    {THR_O_THROTTLED, "Throttled", true},
    {THR_O_STALLED, "Stalled after some bytes", true},
    {THR_O_INCONCLUSIVE, "Inconclusive", false},
    {THR_O_FAILURE, "Server unreachable", false},
    {CS_OUTCOME_UNDETERMINED, "Undetermined", false},
    /* the core key every nettest declares; this nettest says "ok" (the issue's contract) */
    {CS_OUTCOME_ACCESSIBLE, "Accessible", false},
};

/* ---- the measurement's state ----------------------------------------------------------- */

typedef enum { THR_K_INFO, THR_K_DOWN, THR_K_UP } thr_kind;

typedef struct {
  unsigned id; /* transaction_id, 1.. */
  unsigned pair, addr;
  int dir;
  bool target;
  const char *name;
  double t_request;                 /* request sent, seconds since the measurement start; < 0 */
  double handshake, ttfb, duration; /* < 0: unknown */
  uint64_t bytes, expected;
  const char *failure;
  const char *stopped;                     /* "complete", "time_cap", "cut", "failure" */
  int status;                              /* 0: no response head */
  const char *refused;                     /* X-Censorscope-Refused */
  int64_t content_length, server_received; /* -1: none */
  double server_elapsed;                   /* seconds, < 0: none */
  uint64_t excess;                         /* bytes past Content-Length / what we asked */
  cs_thr_sample *samples;                  /* t relative to t_request */
  size_t ns;
  cs_thr_sample pending; /* the last read, not kept yet (see thr_sample) */
  bool has_pending;
  double goodput;
} thr_trial;

/* The server's /throughput/info answer. */
typedef struct {
  const char *failure;
  bool unreachable; /* the TCP connect failed: no trial is made */
  int status;
  int64_t max_bytes; /* -1: unknown */
  const char **addresses;
  size_t naddresses;
  double duration;
} thr_info;

/* One transfer in flight (the info request or a trial). */
typedef struct {
  thr_kind kind;
  thr_trial *tr; /* NULL for the info request */
  cs_trace *t;   /* where it records */
  cs_dial *dial;
  cs_conn *c;
  cs_dial_opts dopts;
  const char *alpn[1];
  cs_http_parser p;
  bool parser_live, head_done;
  uint64_t want;        /* body bytes we will read (down) */
  uint64_t body;        /* body bytes read (down) */
  uint64_t sent;        /* payload bytes written (up) */
  uint64_t raw0;        /* raw bytes written when the body began (up) */
  uint64_t acked0;      /* raw bytes acknowledged when the body began (up) */
  uint64_t read0;       /* raw bytes read when the request was sent (down) */
  double t_req_abs;     /* monotonic time the request was sent */
  double last_progress; /* monotonic time of the last progress */
  uint64_t last_bytes;
  char head[THR_NAME_MAX + 512];
  size_t head_len;
  uint8_t rbuf[THR_READ_BUF];
  bool ended;
} thr_xfer;

struct thr {
  cs_meas_base b;
  cs_arena *a;
  cs_loop *l;
  thr_settings *s;
  const cs_probe_cfg *probe;
  char *input; /* until begun */
  char *category;
  cs_meas_done done;
  void *arg;
  thr *qnext;
  const char *input_error;
  uint64_t rng;
  cs_thr_params params;

  /* the server's addresses: [0] --server, [1] a second one from the info */
  char addr[2][CS_IPSTR_MAX + 8];
  unsigned naddrs;
  cs_trace *info_trace;
  thr_info info;
  uint64_t bytes; /* per trial, after the server's max_bytes */

  thr_trial *tr; /* in the arena, THR_MAX_PAIRS * 4 + 4 of them */
  size_t ntr, trcap;
  unsigned pair, pairs_run;
  unsigned blocked_pairs; /* consecutive pairs where only the target failed (thr_more_pairs) */
  bool used_addr[2];
  bool decided[2];
  size_t plan[8], nplan, iplan; /* indices in tr of the current pair's trials */

  thr_xfer x;
  cs_timer tick;
  cs_defer step;
};

/* ---- samples --------------------------------------------------------------------------- */

static void thr_push(thr *m, thr_trial *tr, cs_thr_sample s) {
  if (!tr->samples) {
    tr->samples = cs_arena_alloc(m->a, THR_MAX_SAMPLES * sizeof *tr->samples);
    if (!tr->samples) return;
  }
  if (tr->ns > 0 && s.t <= tr->samples[tr->ns - 1].t) { /* same instant: keep the larger */
    if (s.bytes > tr->samples[tr->ns - 1].bytes) tr->samples[tr->ns - 1].bytes = s.bytes;
    return;
  }
  if (tr->ns == THR_MAX_SAMPLES) {
    tr->samples[tr->ns - 1] = s; /* full: the last one moves on */
    return;
  }
  tr->samples[tr->ns++] = s;
}

/* A progress report (t since the request, cumulative payload bytes). Kept at most every
 * THR_SAMPLE_GAP, except that the report before a gap of THR_SAMPLE_GAP or more is always
 * kept too, so the edges of a freeze or a burst are exact. */
static void thr_sample(thr *m, thr_trial *tr, double t, uint64_t bytes) {
  cs_thr_sample s = {t, bytes};
  double last_kept = tr->ns ? tr->samples[tr->ns - 1].t : -1;
  double last_seen = tr->has_pending ? tr->pending.t : last_kept;
  if (tr->ns == 0 || t - last_kept >= THR_SAMPLE_GAP) {
    if (tr->has_pending && t - last_seen >= THR_SAMPLE_GAP) thr_push(m, tr, tr->pending);
    thr_push(m, tr, s);
    tr->has_pending = false;
  } else {
    tr->pending = s, tr->has_pending = true;
  }
}

static void thr_sample_flush(thr *m, thr_trial *tr) {
  if (tr->has_pending) thr_push(m, tr, tr->pending);
  tr->has_pending = false;
}

static cs_thr_trial thr_view(const thr_trial *tr) {
  return (cs_thr_trial){.target = tr->target,
                        .pair = tr->pair,
                        .addr = tr->addr,
                        .dir = tr->dir,
                        .handshake_s = tr->handshake,
                        .ttfb_s = tr->ttfb,
                        .duration_s = tr->duration,
                        .bytes = tr->bytes,
                        .expected = tr->expected,
                        .failure = tr->failure,
                        .samples = tr->samples,
                        .nsamples = tr->ns};
}

/* ---- one transfer ---------------------------------------------------------------------- */

static void thr_step_cb(cs_defer *d);
static void thr_xfer_end(thr *m, const char *failure, const char *stopped);

/* The payload bytes of an upload the server has acknowledged: the raw bytes acknowledged
 * since the body began, less the TLS records' share, at most what was written. */
static uint64_t thr_up_acked(const thr_xfer *x) {
  uint64_t acked;
  if (!x->c || !cs_conn_bytes_acked(x->c, &acked) || acked < x->acked0) return 0;
  uint64_t raw = cs_conn_bytes_written(x->c) - x->raw0, a = acked - x->acked0;
  if (raw == 0 || x->sent == 0) return 0;
  double payload = (double)a * (double)x->sent / (double)raw;
  return payload >= (double)x->sent ? x->sent : (uint64_t)payload;
}

static int thr_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* When a slow trial may be cut: max(THR_CUT_MIN, THR_CUT_FACTOR x min_ratio x the median
 * duration of the completed controls of its direction, on the address where it is the
 * smallest; the factor is 1 once the trial is measurable: THR_CUT_SAMPLES samples, enough
 * arrivals for the plateau rate); never before a
 * control of the direction completed (a slow path: then only --trial-time ends it). A trial
 * cut there moves its bytes at least THR_CUT_FACTOR x min_ratio times slower than the typical
 * control, so the cut never hides a pair that could have been within min_ratio. It applies to
 * controls too: on an address that slows every name (IP-keyed), its controls are as slow as
 * its targets, while the second address's controls complete. */
static double thr_cut_at(const thr *m, const thr_trial *tr, bool measurable) {
  double best = INFINITY; /* the fastest address's median: IP-keyed slows one address only */
  for (unsigned addr = 0; addr < m->naddrs && addr < 2; addr++) {
    double d[THR_MAX_PAIRS * 2];
    size_t n = 0;
    for (size_t i = 0; i < m->ntr && n < sizeof d / sizeof *d; i++) {
      const thr_trial *c = &m->tr[i];
      if (!c->target && c->addr == addr && c->dir == tr->dir && c->stopped &&
          !strcmp(c->stopped, "complete"))
        d[n++] = c->duration;
    }
    if (n == 0) continue;
    qsort(d, n, sizeof *d, thr_cmp_double);
    double med = n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2;
    if (med < best) best = med;
  }
  if (!isfinite(best)) return INFINITY;
  double cut = (measurable ? 1.0 : THR_CUT_FACTOR) * m->params.min_ratio * best;
  return cut > THR_CUT_MIN ? cut : THR_CUT_MIN;
}

/* How many kept samples grew the count (uploads are sampled on every tick, moving or not). */
static size_t thr_growths(const thr_trial *tr) {
  size_t g = 0;
  uint64_t last = 0;
  for (size_t i = 0; i < tr->ns; i++) {
    if (tr->samples[i].bytes > last) {
      g++;
      last = tr->samples[i].bytes;
    }
  }
  return g;
}

static void thr_tick_cb(cs_timer *tm) {
  thr *m = tm->data;
  thr_xfer *x = &m->x;
  double now = cs_mono_now(), el = now - x->t_req_abs;
  if (x->tr && x->kind == THR_K_UP && x->sent > 0) {
    uint64_t a = thr_up_acked(x);
    if (a > x->last_bytes) x->last_bytes = a, x->last_progress = now;
    thr_sample(m, x->tr, el, a);
    x->tr->bytes = a;
  }
  if (el >= (x->tr ? m->s->trial_time : THR_DEFAULT_TRIAL_TIME)) {
    if (x->tr) thr_xfer_end(m, NULL, "time_cap");
    else thr_xfer_end(m, cs_failure_str(CS_FAIL_GENERIC_TIMEOUT), "failure");
    return;
  }
  if (x->tr) {
    double cut = thr_cut_at(m, x->tr, thr_growths(x->tr) >= THR_CUT_SAMPLES);
    bool frozen = now - x->last_progress >= THR_FROZEN;
    if (el >= cut && (!frozen || el >= cut + THR_FROZEN_WAIT)) {
      thr_xfer_end(m, NULL, "cut");
      return;
    }
  }
  cs_timer_start(m->l, &m->tick, THR_TICK, thr_tick_cb, m);
}

/* The value of response header name as a NUL-terminated string in the arena, or NULL. */
static const char *thr_header(thr *m, const char *name) {
  size_t n;
  const uint8_t *v = cs_http_parser_get(&m->x.p, name, &n);
  if (!v) return NULL;
  if (n > 200) n = 200;
  char *s = cs_arena_strndup(m->a, (const char *)v, n);
  for (char *q = s; q && *q; q++)
    if (!isprint((unsigned char)*q)) *q = '?';
  return s;
}

/* The response head is complete: checks it. Returns a failure or NULL. */
static const char *thr_on_head(thr *m) {
  thr_xfer *x = &m->x;
  thr_trial *tr = x->tr;
  int code = x->p.code;
  const char *cl = thr_header(m, "Content-Length");
  int64_t len = -1;
  if (cl) {
    char *end;
    unsigned long long v = strtoull(cl, &end, 10);
    if (end != cl && !*end && cl[0] != '-' && v <= (1ull << 62)) len = (int64_t)v;
  }
  if (tr) {
    tr->status = code;
    tr->refused = thr_header(m, "X-Censorscope-Refused");
    tr->content_length = len;
  } else {
    m->info.status = code;
  }
  if (code != 200) return cs_failure_str(CS_FAIL_HTTP_REQUEST_FAILED);
  if (x->kind == THR_K_DOWN && tr) {
    if (len < 0) return CS_FAILURE_UNKNOWN_CONST("throughput response without Content-Length");
    x->want = (uint64_t)len < tr->expected ? (uint64_t)len : tr->expected;
  }
  return NULL;
}

/* Every recv() of a download's connection (conn.h's read observer): a sample of the raw bytes
 * read since the request was sent. Raw socket bytes, not decrypted payload: a TLS record
 * (16 KiB) takes most of a second at 150 kbit/s and only then decrypts, so the payload moves
 * in steps far too coarse for a rate, while the socket sees every segment. The difference is
 * the response head and the TLS framing (under 0.5 %). */
static void thr_on_raw_read(void *arg, cs_conn *c, double t, size_t n, uint64_t cumulative) {
  (void)c, (void)n;
  thr *m = arg;
  thr_xfer *x = &m->x;
  if (!x->tr || x->kind != THR_K_DOWN || x->tr->t_request < 0 || x->ended) return;
  uint64_t raw = cumulative > x->read0 ? cumulative - x->read0 : 0;
  if (raw > x->last_bytes) x->last_bytes = raw, x->last_progress = cs_mono_now();
  thr_sample(m, x->tr, t - x->tr->t_request, raw);
}

static void thr_on_read(cs_conn *c, ssize_t n, const char *failure, void *data);

static void thr_read_more(thr *m) {
  if (cs_conn_read(m->x.c, m->x.rbuf, sizeof m->x.rbuf, thr_on_read, m) < 0)
    thr_xfer_end(m, CS_FAILURE_UNKNOWN_CONST("cannot read"), "failure");
}

/* Download body bytes arrived (at monotonic time now). */
static void thr_down_body(thr *m, size_t n, double now) {
  thr_xfer *x = &m->x;
  thr_trial *tr = x->tr;
  uint64_t take = n;
  if (x->body + take > x->want) take = x->want - x->body;
  tr->excess += n - take;
  if (take == 0) return;
  if (x->body == 0) tr->ttfb = now - x->t_req_abs;
  x->body += take;
  tr->bytes = x->body;
}

static void thr_on_read(cs_conn *c, ssize_t n, const char *failure, void *data) {
  (void)c;
  thr *m = data;
  thr_xfer *x = &m->x;
  double now = cs_mono_now();
  if (n < 0) {
    thr_xfer_end(m, failure ? failure : CS_FAILURE_UNKNOWN_CONST("read error"), "failure");
    return;
  }
  if (n == 0) { /* EOF */
    if (x->kind == THR_K_DOWN && x->head_done && x->body >= x->want) {
      thr_xfer_end(m, NULL, "complete");
      return;
    }
    if (x->parser_live && !x->head_done) cs_http_parser_eof(&x->p);
    if (x->kind != THR_K_DOWN && x->parser_live && cs_http_parser_eof(&x->p) == CS_HTTP_P_DONE) {
      thr_xfer_end(m, NULL, "complete");
      return;
    }
    thr_xfer_end(m, cs_failure_str(CS_FAIL_EOF_ERROR), "failure");
    return;
  }
  const uint8_t *p = x->rbuf;
  size_t len = (size_t)n;
  if (x->kind == THR_K_DOWN && x->head_done) {
    thr_down_body(m, len, now);
  } else if (x->kind == THR_K_DOWN) {
    /* the head byte by byte, so that what follows it is counted here, not by the parser */
    size_t i = 0;
    cs_http_pstatus st = CS_HTTP_P_MORE;
    while (i < len && !cs_http_parser_head_done(&x->p) && st == CS_HTTP_P_MORE)
      st = cs_http_parser_feed(&x->p, p + i++, 1, NULL);
    if (st == CS_HTTP_P_ERROR) {
      thr_xfer_end(m, cs_failure_str(CS_FAIL_HTTP_REQUEST_FAILED), "failure");
      return;
    }
    if (cs_http_parser_head_done(&x->p)) {
      x->head_done = true;
      const char *f = thr_on_head(m);
      if (f) {
        thr_xfer_end(m, f, "failure");
        return;
      }
      if (i < len) thr_down_body(m, len - i, now);
    }
  } else { /* info or upload response: parsed whole, body capped */
    cs_http_pstatus st = cs_http_parser_feed(&x->p, p, len, NULL);
    if (!x->head_done && cs_http_parser_head_done(&x->p)) {
      x->head_done = true;
      const char *f = thr_on_head(m);
      if (f) {
        thr_xfer_end(m, f, "failure");
        return;
      }
    }
    if (st == CS_HTTP_P_ERROR) {
      thr_xfer_end(m, cs_failure_str(CS_FAIL_HTTP_REQUEST_FAILED), "failure");
      return;
    }
    if (st == CS_HTTP_P_DONE) {
      thr_xfer_end(m, NULL, "complete");
      return;
    }
  }
  if (x->kind == THR_K_DOWN && x->head_done && x->body >= x->want) {
    thr_xfer_end(m, NULL, "complete");
    return;
  }
  thr_read_more(m);
}

static void thr_on_write(cs_conn *c, ssize_t n, const char *failure, void *data);

/* Writes the next chunk of the upload body, or nothing when all was written. */
static void thr_up_next(thr *m) {
  thr_xfer *x = &m->x;
  uint64_t left = x->tr->expected - x->sent;
  if (left == 0) return;
  size_t chunk = left < 16384 ? (size_t)left : 16384;
  size_t off = (size_t)(x->sent % (THR_PAYLOAD - 16384));
  if (cs_conn_write(x->c, m->s->payload + off, chunk, thr_on_write, m) < 0)
    thr_xfer_end(m, CS_FAILURE_UNKNOWN_CONST("cannot write"), "failure");
}

static void thr_on_write(cs_conn *c, ssize_t n, const char *failure, void *data) {
  thr *m = data;
  thr_xfer *x = &m->x;
  if (n < 0) {
    thr_xfer_end(m, failure ? failure : CS_FAILURE_UNKNOWN_CONST("write error"), "failure");
    return;
  }
  if (x->kind != THR_K_UP || !x->tr) return;
  if (x->head_len) { /* the head went out: the body begins */
    x->head_len = 0;
    x->raw0 = cs_conn_bytes_written(c);
    if (!cs_conn_bytes_acked(c, &x->acked0)) x->acked0 = 0;
  } else {
    x->sent += (uint64_t)n;
  }
  thr_up_next(m);
}

static void thr_on_dial(void *arg, cs_conn *c, const char *failure, const cs_dial_result *r) {
  thr *m = arg;
  thr_xfer *x = &m->x;
  x->dial = NULL;
  x->c = c;
  if (x->tr) { /* handshake: the TLS step, or the TCP connect with --http */
    const cs_tls_rec *tls = r ? r->tls : NULL;
    const cs_tcp_rec *tcp = x->t->tcp.tail;
    if (tls) x->tr->handshake = tls->c.t - tls->c.t0;
    else if (!m->s->http) x->tr->handshake = -1;
    else if (tcp && tcp->c.transaction_id == (int64_t)x->tr->id)
      x->tr->handshake = tcp->c.t - tcp->c.t0;
  }
  if (failure || !c) {
    if (!x->tr && r && r->failed_op && !strcmp(r->failed_op, "connect")) m->info.unreachable = true;
    thr_xfer_end(m, failure ? failure : CS_FAILURE_OOM, "failure");
    return;
  }
  const char *name = x->tr ? x->tr->name : m->s->control;
  int k;
  if (x->kind == THR_K_DOWN && x->tr)
    k = snprintf(x->head, sizeof x->head,
                 "GET /throughput?bytes=%llu HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n"
                 "Accept: */*\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                 (unsigned long long)x->tr->expected, name, CS_HTTP_USER_AGENT);
  else if (x->kind == THR_K_UP && x->tr)
    k = snprintf(x->head, sizeof x->head,
                 "POST /throughput HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n"
                 "Content-Type: application/octet-stream\r\nContent-Length: %llu\r\n"
                 "Connection: close\r\n\r\n",
                 name, CS_HTTP_USER_AGENT, (unsigned long long)x->tr->expected);
  else
    k = snprintf(x->head, sizeof x->head,
                 "GET /throughput/info HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: "
                 "application/json\r\nConnection: close\r\n\r\n",
                 name, CS_HTTP_USER_AGENT);
  if (k < 0 || (size_t)k >= sizeof x->head) {
    thr_xfer_end(m, CS_FAILURE_UNKNOWN_CONST("request too long"), "failure");
    return;
  }
  x->head_len = (size_t)k;
  cs_http_parser_init(&x->p, &(cs_http_limits){.body_cap = x->kind == THR_K_INFO ? THR_INFO_BODY_CAP
                                                                                 : THR_UP_BODY_CAP,
                                               .no_decode = true});
  x->parser_live = true;
  x->t_req_abs = x->last_progress = cs_mono_now();
  x->read0 = cs_conn_bytes_read(c);
  if (x->tr) x->tr->t_request = cs_trace_rel(m->b.t, x->t_req_abs);
  if (cs_conn_write(c, x->head, x->head_len, thr_on_write, m) < 0) {
    thr_xfer_end(m, CS_FAILURE_UNKNOWN_CONST("cannot write"), "failure");
    return;
  }
  thr_read_more(m);
  if (!x->ended) cs_timer_start(m->l, &m->tick, THR_TICK, thr_tick_cb, m);
}

/* Starts a transfer (info when tr is NULL) to address index addr. */
static void thr_xfer_start(thr *m, thr_kind kind, thr_trial *tr, unsigned addr) {
  thr_xfer *x = &m->x;
  memset(x, 0, sizeof *x);
  x->kind = kind, x->tr = tr;
  x->t = tr ? m->b.t : m->info_trace;
  x->alpn[0] = "http/1.1";
  x->dopts = (cs_dial_opts){
      .endpoint = m->addr[addr],
      .mode = CS_DIAL_SEQUENTIAL,
      .tcp_timeout = m->probe->tcp_timeout,
      .max_events = THR_MAX_EVENTS,
      .observer = kind == THR_K_DOWN ? thr_on_raw_read : NULL,
      .observer_arg = m,
      .transaction_id = tr ? (int64_t)tr->id : 0,
      .tls = !m->s->http,
      .tls_ctx = m->probe->tls,
      .tls_opts = {.sni = tr ? tr->name : m->s->control,
                   .no_verify = true,
                   .alpn = x->alpn,
                   .nalpn = 1,
                   .timeout = m->probe->tls_timeout},
  };
  x->dial = cs_dial_start(m->l, x->t, &x->dopts, thr_on_dial, m);
  if (!x->dial) thr_xfer_end(m, CS_FAILURE_OOM, "failure");
}

/* ---- info ------------------------------------------------------------------------------ */

/* Reads the info body: max_bytes and the addresses; picks a second address. */
static void thr_info_parse(thr *m) {
  thr_info *in = &m->info;
  const cs_buf *b = &m->x.p.body;
  if (m->x.p.truncated) {
    in->failure = CS_FAILURE_UNKNOWN_CONST("info body too large");
    return;
  }
  char err[96];
  const cs_jval *v = cs_json_parse(m->a, (const char *)b->data, b->len, NULL, err, sizeof err);
  if (!v || v->type != CS_JOBJ) {
    in->failure = cs_failure_str(CS_FAIL_JSON_PARSE_ERROR);
    return;
  }
  int64_t mb;
  if (cs_json_get_i64(v, "max_bytes", &mb) && mb > 0) in->max_bytes = mb;
  const cs_jval *as = cs_json_get_arr(v, "addresses");
  size_t n = as ? as->len : 0;
  if (n > 16) n = 16;
  in->addresses = n ? cs_arena_alloc(m->a, n * sizeof *in->addresses) : NULL;
  const cs_ip *self = &m->s->ip;
  for (size_t i = 0; in->addresses && i < n; i++) {
    const cs_jval *e = as->kids[i];
    if (e->type != CS_JSTR || e->len > CS_IPSTR_MAX + 8 || strlen(e->str) != e->len) continue;
    in->addresses[in->naddresses++] = e->str;
    cs_ip ip;
    uint16_t port;
    if (m->naddrs > 1 || !cs_endpoint_parse(e->str, &ip, &port) || port == 0) continue;
    if (ip.family == self->family && !memcmp(ip.b, self->b, 16)) continue; /* the same */
    /* where a server may send us: loopback only from loopback, no bogon but --lab-net */
    if (cs_ip_is_loopback(&ip) ? !cs_ip_is_loopback(self)
                               : cs_ip_is_bogon(&ip) && !cs_ip_is_labnet(&ip))
      continue;
    cs_endpoint_format(&ip, port, m->addr[1], sizeof m->addr[1]);
    m->naddrs = 2;
  }
}

/* ---- the schedule ---------------------------------------------------------------------- */

static void thr_finish(thr *m);

static thr_trial *thr_add_trial(thr *m, unsigned addr, int dir, bool target) {
  if (m->ntr >= m->trcap) return NULL;
  thr_trial *tr = &m->tr[m->ntr++];
  *tr = (thr_trial){.id = (unsigned)m->ntr,
                    .pair = m->pair,
                    .addr = addr,
                    .dir = dir,
                    .target = target,
                    .name = target ? m->b.input : m->s->control,
                    .t_request = -1,
                    .handshake = -1,
                    .ttfb = -1,
                    .duration = -1,
                    .expected = m->bytes,
                    .content_length = -1,
                    .server_received = -1,
                    .server_elapsed = -1,
                    .goodput = NAN};
  return tr;
}

/* Plans pair m->pair: its address, and its trials in order. */
static bool thr_plan_pair(thr *m) {
  unsigned addr = m->naddrs > 1 && m->pair % 3 == 1 ? 1 : 0;
  bool first_on_addr = !m->used_addr[addr];
  m->used_addr[addr] = true;
  int dirs[2], nd = 0;
  for (int d = 0; d < 2; d++)
    if (m->s->dirs & (1u << d) && !m->decided[d]) dirs[nd++] = d;
  if (nd == 2 && thr_rand(&m->rng) & 1) dirs[0] = THR_UP, dirs[1] = THR_DOWN;
  m->nplan = m->iplan = 0;
  if (first_on_addr) { /* every control before any target on a fresh address */
    for (int i = 0; i < nd; i++) {
      thr_trial *c = thr_add_trial(m, addr, dirs[i], false);
      if (c) m->plan[m->nplan++] = (size_t)(c - m->tr);
    }
    for (int i = 0; i < nd; i++) {
      thr_trial *t = thr_add_trial(m, addr, dirs[i], true);
      if (t) m->plan[m->nplan++] = (size_t)(t - m->tr);
    }
  } else {
    for (int i = 0; i < nd; i++) {
      bool target_first = thr_rand(&m->rng) & 1;
      thr_trial *a = thr_add_trial(m, addr, dirs[i], target_first);
      thr_trial *b = thr_add_trial(m, addr, dirs[i], !target_first);
      if (a) m->plan[m->nplan++] = (size_t)(a - m->tr);
      if (b) m->plan[m->nplan++] = (size_t)(b - m->tr);
    }
  }
  return m->nplan > 0;
}

/* After a pair: go on? */
static bool thr_more_pairs(thr *m) {
  bool any_moved = false;
  for (size_t i = 0; i < m->nplan; i++)
    if (m->tr[m->plan[i]].bytes > 0) any_moved = true;
  if (!any_moved) return false; /* nothing moved at all: the server is not usable */
  /* every target failed before its first byte while every control moved bytes, two pairs
   * running: the name is blocked, not slowed; more pairs would only wait for timeouts */
  bool blocked = true;
  for (size_t i = 0; i < m->nplan; i++) {
    const thr_trial *t = &m->tr[m->plan[i]];
    /* blocked: failed before a byte, not by our deadline once the request was out */
    bool fail0 = t->failure && t->bytes == 0 &&
                 (t->t_request < 0 || strcmp(t->stopped ? t->stopped : "", "failure") == 0);
    if (t->target ? !fail0 : !(t->bytes > 0)) blocked = false;
  }
  m->blocked_pairs = blocked ? m->blocked_pairs + 1 : 0;
  if (m->blocked_pairs >= 2) return false;
  cs_thr_trial *v = malloc(m->ntr * sizeof *v);
  if (!v) return false;
  for (size_t i = 0; i < m->ntr; i++) v[i] = thr_view(&m->tr[i]);
  bool all = true;
  for (int d = 0; d < 2; d++) {
    if (!(m->s->dirs & (1u << d))) continue;
    if (!m->decided[d]) m->decided[d] = cs_thr_decisive(v, m->ntr, d, &m->params);
    if (!m->decided[d]) all = false;
  }
  free(v);
  if (all) return false;
  return m->pair + 1 < m->s->pairs;
}

static void thr_next(thr *m) { cs_defer_call(m->l, &m->step, thr_step_cb, m); }

static void thr_step_cb(cs_defer *d) {
  thr *m = d->data;
  if (m->input_error || m->info.unreachable) { /* no trial at all */
    thr_finish(m);
    return;
  }
  if (m->iplan == m->nplan) { /* a pair is done (or none began) */
    if (m->nplan > 0) {
      m->pairs_run = m->pair + 1;
      if (!thr_more_pairs(m)) {
        thr_finish(m);
        return;
      }
      m->pair++;
    }
    if (!thr_plan_pair(m)) {
      thr_finish(m);
      return;
    }
  }
  thr_trial *tr = &m->tr[m->plan[m->iplan++]];
  thr_xfer_start(m, tr->dir == THR_UP ? THR_K_UP : THR_K_DOWN, tr, tr->addr);
}

/* Ends the transfer in flight: records it and moves on. */
static void thr_xfer_end(thr *m, const char *failure, const char *stopped) {
  thr_xfer *x = &m->x;
  if (x->ended) return;
  x->ended = true;
  cs_timer_stop(m->l, &m->tick);
  double now = cs_mono_now();
  thr_trial *tr = x->tr;
  if (tr && x->kind == THR_K_UP && x->sent > 0) {
    uint64_t a = x->head_done && x->p.code == 200 && !failure ? x->sent : thr_up_acked(x);
    tr->bytes = a;
    if (tr->t_request >= 0) thr_sample(m, tr, now - x->t_req_abs, a);
    if (x->head_done) tr->ttfb = now - x->t_req_abs;
    if (x->head_done && x->p.code == 200) { /* {"received":N,"elapsed_ms":T} */
      const cs_jval *v =
          cs_json_parse(m->a, (const char *)x->p.body.data, x->p.body.len, NULL, NULL, 0);
      int64_t r;
      if (v && cs_json_get_i64(v, "received", &r)) tr->server_received = r;
      double ms = v ? cs_json_get_num(v, "elapsed_ms", -1) : -1;
      if (ms >= 0 && ms < 1e9) tr->server_elapsed = ms / 1000;
    }
  }
  cs_dial_cancel(x->dial);
  x->dial = NULL;
  if (stopped && strcmp(stopped, "complete") != 0) cs_conn_abort(x->c); /* cut: drop the rest */
  else cs_conn_free(x->c);
  x->c = NULL;
  if (tr) {
    thr_sample_flush(m, tr);
    /* our own deadline ended it: OONI's generic_timeout_error, as a Go deadline would say;
     * "stopped" tells the cut from the cap (the statistics read a timeout as the evidence
     * itself: a policed or frozen transfer, not a failed one) */
    bool deadline = !failure && (!strcmp(stopped, "cut") || !strcmp(stopped, "time_cap"));
    tr->failure = deadline ? cs_failure_str(CS_FAIL_GENERIC_TIMEOUT) : failure;
    tr->stopped = failure ? "failure" : stopped;
    if (tr->t_request >= 0) tr->duration = now - x->t_req_abs;
    cs_thr_trial v = thr_view(tr);
    tr->goodput = cs_thr_goodput(&v);
  } else {
    thr_info *in = &m->info;
    in->failure = failure;
    if (x->t_req_abs > 0) in->duration = now - x->t_req_abs;
    if (!failure) thr_info_parse(m);
    if (in->max_bytes > 0 && (uint64_t)in->max_bytes < m->bytes) m->bytes = (uint64_t)in->max_bytes;
  }
  if (x->parser_live) cs_http_parser_free(&x->p);
  x->parser_live = false;
  thr_next(m);
}

/* ---- analysis -------------------------------------------------------------------------- */

typedef struct {
  bool measured;
  cs_thr_result r;
} thr_dir_result;

/* The verdict of stored test keys: the trials from x_trials, their samples from
 * network_events. Returns 0, or -1 when tk has no x_trials (not analysable). */
static int thr_verdict(cs_arena *a, const cs_jval *tk, thr_dir_result out[2],
                       const char **ctl_failure, size_t *nctl_ok, const char **tgt_failure,
                       size_t *ntgt_moved) {
  memset(out, 0, 2 * sizeof *out);
  *ctl_failure = NULL, *nctl_ok = 0, *tgt_failure = NULL, *ntgt_moved = 0;
  const cs_jval *xt = cs_json_get_arr(tk, "x_trials");
  if (!xt) return -1;
  cs_thr_params p;
  cs_thr_params_default(&p);
  p.http = !strcmp(cs_json_get_str(tk, "x_transport", ""), "http");
  const cs_jval *pp = cs_json_get_obj(tk, "x_params");
  if (pp) {
    double r = cs_json_get_num(pp, "min_ratio", p.min_ratio);
    if (r >= 1.5 && r <= 1000) p.min_ratio = r;
    int64_t v;
    if (cs_json_get_i64(pp, "max_pairs", &v) && v >= 1 && v <= THR_MAX_PAIRS)
      p.max_pairs = (unsigned)v;
    if (cs_json_get_i64(pp, "fast_pairs", &v) && v >= 0 && v <= 4) p.fast_pairs = (unsigned)v;
  }
  size_t n = xt->len < THR_ANALYZE_MAX_TRIALS ? xt->len : THR_ANALYZE_MAX_TRIALS;
  cs_thr_trial *t = cs_arena_alloc(a, (n ? n : 1) * sizeof *t);
  int64_t *txid = cs_arena_alloc(a, (n ? n : 1) * sizeof *txid);
  double *treq = cs_arena_alloc(a, (n ? n : 1) * sizeof *treq);
  size_t *cap = cs_arena_alloc(a, (n ? n : 1) * sizeof *cap);
  if (!t || !txid || !treq || !cap) return -1;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const cs_jval *e = xt->kids[i];
    if (e->type != CS_JOBJ) continue;
    const char *role = cs_json_get_str(e, "role", "");
    const char *dir = cs_json_get_str(e, "direction", "");
    int64_t id, pair, bytes, expected, ai = 0;
    if (!cs_json_get_i64(e, "transaction_id", &id) || !cs_json_get_i64(e, "pair", &pair) ||
        pair < 0 || pair >= THR_MAX_PAIRS * 2 ||
        (strcmp(role, "target") && strcmp(role, "control")) ||
        (strcmp(dir, "down") && strcmp(dir, "up")))
      continue;
    cs_json_get_i64(e, "address_index", &ai);
    if (!cs_json_get_i64(e, "bytes", &bytes) || bytes < 0) bytes = 0;
    if (!cs_json_get_i64(e, "expected_bytes", &expected) || expected < 0) expected = 0;
    const char *f = cs_json_get_str(e, "failure", NULL);
    t[k] = (cs_thr_trial){.target = !strcmp(role, "target"),
                          .pair = (unsigned)pair,
                          .addr = ai == 1 ? 1 : 0,
                          .dir = !strcmp(dir, "up") ? THR_UP : THR_DOWN,
                          .handshake_s = cs_json_get_num(e, "handshake_time", -1),
                          .ttfb_s = cs_json_get_num(e, "ttfb", -1),
                          .duration_s = cs_json_get_num(e, "duration", -1),
                          .bytes = (uint64_t)bytes,
                          .expected = (uint64_t)expected,
                          .failure = f};
    if (!(t[k].handshake_s >= 0)) t[k].handshake_s = -1;
    if (!(t[k].ttfb_s >= 0)) t[k].ttfb_s = -1;
    if (!(t[k].duration_s >= 0)) t[k].duration_s = -1;
    txid[k] = id;
    treq[k] = cs_json_get_num(e, "request_t", NAN);
    cap[k] = 0;
    if (!t[k].target) {
      if (!f) ++*nctl_ok;
      else if (!*ctl_failure) *ctl_failure = f;
    } else {
      if (bytes > 0) ++*ntgt_moved;
      if (f && !*tgt_failure) *tgt_failure = f;
    }
    out[t[k].dir].measured = true;
    k++;
  }
  /* samples: bytes_received_cumulative (down) / x_bytes_sent_cumulative (up) */
  cs_thr_sample **sm = cs_arena_alloc(a, (k ? k : 1) * sizeof *sm);
  if (!sm) return -1;
  const cs_jval *ev = cs_json_get_arr(tk, "network_events");
  for (size_t i = 0; ev && i < ev->len; i++) {
    const cs_jval *e = ev->kids[i];
    const char *op = cs_json_get_str(e, "operation", "");
    int up = !strcmp(op, "x_bytes_sent_cumulative")     ? 1
             : !strcmp(op, "bytes_received_cumulative") ? 0
                                                        : -1;
    int64_t id, nb;
    if (up < 0 || !cs_json_get_i64(e, "transaction_id", &id) ||
        !cs_json_get_i64(e, "num_bytes", &nb) || nb < 0)
      continue;
    double tt = cs_json_get_num(e, "t", NAN);
    for (size_t j = 0; j < k; j++) {
      if (txid[j] != id || t[j].dir != up || !isfinite(treq[j]) || !isfinite(tt)) continue;
      if (!sm[j]) {
        sm[j] = cs_arena_alloc(a, THR_MAX_SAMPLES * 2 * sizeof **sm);
        if (!sm[j]) return -1;
      }
      if (cap[j] < THR_MAX_SAMPLES * 2)
        sm[j][cap[j]++] = (cs_thr_sample){tt - treq[j], (uint64_t)nb};
      break;
    }
  }
  for (size_t j = 0; j < k; j++) t[j].samples = sm[j], t[j].nsamples = cap[j];
  for (int d = 0; d < 2; d++) {
    if (!out[d].measured) continue;
    if (cs_thr_analyze(t, k, d, &p, &out[d].r) < 0) return -1;
  }
  return 0;
}

/* The direction whose figures the top level shows. */
static int thr_primary(const thr_dir_result r[2]) {
  for (int d = 0; d < 2; d++)
    if (r[d].measured && r[d].r.throttled == 1) return d;
  for (int d = 0; d < 2; d++)
    if (r[d].measured && r[d].r.throttled == -1) return d;
  return r[THR_DOWN].measured ? THR_DOWN : THR_UP;
}

static void thr_write_result(cs_jw *w, const cs_thr_result *r) {
  cs_jw_kdouble(w, "ratio", r->ratio);
  cs_jw_key(w, "ci95");
  if (isfinite(r->ci_lo) && isfinite(r->ci_hi)) {
    cs_jw_arr_open(w);
    cs_jw_double(w, r->ci_lo);
    cs_jw_double(w, r->ci_hi);
    cs_jw_arr_close(w);
  } else {
    cs_jw_null(w);
  }
  cs_jw_kdouble(w, "p_value", r->p_value);
  cs_jw_kstr(w, "pattern", r->pattern);
  cs_jw_kdouble(w, "rate_bps", r->rate_bps);
  cs_jw_key(w, "stall_after_bytes");
  if (r->stall_after_bytes >= 0) cs_jw_int(w, r->stall_after_bytes);
  else cs_jw_null(w);
  cs_jw_kstr(w, "reason", r->throttled == -1 ? (r->reason ? r->reason : "inconclusive") : NULL);
  cs_jw_kstr(w, "keyed", r->keyed);
}

static void thr_write_throttled(cs_jw *w, int v) {
  if (v == 1) cs_jw_bool(w, true);
  else if (v == 0) cs_jw_bool(w, false);
  else cs_jw_null(w);
}

static void thr_fmt_rate(char *out, size_t cap, double bps) {
  if (!isfinite(bps)) snprintf(out, cap, "?");
  else if (bps >= 1e6) snprintf(out, cap, "%.1f Mbit/s", bps / 1e6);
  else snprintf(out, cap, "%.0f kbit/s", bps / 1e3);
}

/* Verdict keys and outcome from test keys (the run's serialised evidence, or a stored
 * measurement). w may be NULL. Returns 0, or -1 when not analysable (outcome undetermined). */
static int thr_outcome(cs_arena *a, const cs_jval *tk, cs_jw *w, cs_outcome *o) {
  *o = (cs_outcome){.key = CS_OUTCOME_UNDETERMINED};
  thr_dir_result r[2];
  const char *ctl_failure, *tgt_failure;
  size_t nctl_ok, ntgt_moved;
  const char *input_error = cs_json_get_str(tk, "x_input_error", NULL);
  int rc =
      input_error ? -1 : thr_verdict(a, tk, r, &ctl_failure, &nctl_ok, &tgt_failure, &ntgt_moved);
  if (rc < 0) {
    o->evidence = input_error ? input_error : "no x_trials: not a throttling measurement";
    if (w) {
      cs_jw_knull(w, "throttled");
      cs_jw_knull(w, "x_throttling");
      cs_outcome_write(w, o);
    }
    return -1;
  }
  const cs_jval *info = cs_json_get_obj(tk, "x_server_info");
  if (!ctl_failure && info) /* the info request is made with the control name */
    ctl_failure = cs_json_get_str(info, "failure", NULL);
  int overall = -1, nthrottled = 0, nfalse = 0, nmeasured = 0;
  for (int d = 0; d < 2; d++) {
    if (!r[d].measured) continue;
    nmeasured++;
    if (r[d].r.throttled == 1) nthrottled++;
    if (r[d].r.throttled == 0) nfalse++;
  }
  if (nthrottled) overall = 1;
  else if (nmeasured && nfalse == nmeasured) overall = 0;
  int pd = thr_primary(r);
  const cs_thr_result *pr = &r[pd].r;
  const char *dirword = nthrottled == 2 || (!nthrottled && nmeasured == 2) ? "both"
                        : nthrottled                                       ? thr_dir_name[pd]
                        : r[THR_DOWN].measured                             ? "down"
                                                                           : "up";
  char rate[32];
  thr_fmt_rate(rate, sizeof rate, pr->rate_bps);
  if (overall == 1) {
    bool stall = pr->pattern && !strcmp(pr->pattern, "stall");
    o->key = stall ? THR_O_STALLED : THR_O_THROTTLED;
    o->censorship = true;
    o->evidence =
        stall ? cs_arena_printf(a,
                                "%s: the flow stalls after %lld bytes (control %.1fx faster, "
                                "p=%.3g, keyed %s)",
                                dirword, (long long)pr->stall_after_bytes, pr->ratio, pr->p_value,
                                pr->keyed ? pr->keyed : "?")
              : cs_arena_printf(a, "%s: %.1fx slower than the control (p=%.3g)%s%s, keyed %s",
                                dirword, pr->ratio, pr->p_value,
                                isfinite(pr->rate_bps) ? ", policed at about " : "",
                                isfinite(pr->rate_bps) ? rate : "", pr->keyed ? pr->keyed : "?");
  } else if (overall == 0) {
    o->key = THR_O_OK;
    o->evidence = cs_arena_printf(a, "%s: control/target ratio %.2f", dirword, pr->ratio);
  } else if (nctl_ok == 0 && ctl_failure) {
    o->key = THR_O_FAILURE;
    o->evidence = cs_arena_printf(a, "the control failed too: %s", ctl_failure);
  } else {
    o->key = THR_O_INCONCLUSIVE;
    if (nctl_ok > 0 && ntgt_moved == 0 && tgt_failure) /* blocked, which is not our verdict */
      o->evidence = cs_arena_printf(a,
                                    "the target fails (%s) where the control works: blocked, "
                                    "not slowed (web_connectivity tells how)",
                                    tgt_failure);
    else
      o->evidence =
          cs_arena_printf(a, "%s: %s", thr_dir_name[pd], pr->reason ? pr->reason : "inconclusive");
  }
  if (w) {
    cs_jw_key(w, "throttled");
    thr_write_throttled(w, overall);
    cs_jw_key(w, "x_throttling");
    cs_jw_obj_open(w);
    thr_write_result(w, pr);
    if (overall == -1 && !(pr->throttled == -1)) /* no direction measured */
      cs_jw_kstr(w, "reason", "no trial");
    cs_jw_kstr(w, "direction", dirword);
    cs_jw_kstr(w, "control_sni", cs_json_get_str(tk, "control_sni", NULL));
    cs_jw_kstr(w, "server", cs_json_get_str(tk, "server", NULL));
    int64_t pairs = 0;
    cs_json_get_i64(tk, "x_pairs_run", &pairs);
    cs_jw_kint(w, "pairs", pairs);
    cs_jw_key(w, "per_direction");
    cs_jw_obj_open(w);
    for (int d = 0; d < 2; d++) {
      if (!r[d].measured) continue;
      cs_jw_key(w, thr_dir_name[d]);
      cs_jw_obj_open(w);
      cs_jw_key(w, "throttled");
      thr_write_throttled(w, r[d].r.throttled);
      thr_write_result(w, &r[d].r);
      cs_jw_kint(w, "pairs_used", r[d].r.pairs_used);
      cs_jw_obj_close(w);
    }
    cs_jw_obj_close(w);
    cs_jw_obj_close(w);
    cs_outcome_write(w, o);
  }
  return 0;
}

static int thr_analyze(cs_arena *a, const cs_jval *m, const cs_analysis_opts *opt, cs_jw *w,
                       cs_outcome *out) {
  (void)opt;
  const cs_jval *tk = cs_json_get(m, "test_keys");
  return thr_outcome(a, tk && tk->type == CS_JOBJ ? tk : m, w, out);
}

/* ---- output ---------------------------------------------------------------------------- */

static void thr_write_trial(cs_jw *w, const thr *m, const thr_trial *tr) {
  cs_jw_obj_open(w);
  cs_jw_kint(w, "transaction_id", tr->id);
  cs_jw_kint(w, "pair", tr->pair);
  cs_jw_kstr(w, "role", tr->target ? "target" : "control");
  cs_jw_kstr(w, m->s->http ? "host" : "sni", tr->name);
  cs_jw_kstr(w, "address", m->addr[tr->addr]);
  cs_jw_kint(w, "address_index", tr->addr);
  cs_jw_kstr(w, "direction", thr_dir_name[tr->dir]);
  cs_jw_ksecs(w, "handshake_time", tr->handshake >= 0 ? tr->handshake : NAN);
  cs_jw_ksecs(w, "ttfb", tr->ttfb >= 0 ? tr->ttfb : NAN);
  cs_jw_kint(w, "bytes", (int64_t)tr->bytes);
  cs_jw_kint(w, "expected_bytes", (int64_t)tr->expected);
  cs_jw_ksecs(w, "duration", tr->duration >= 0 ? tr->duration : NAN);
  cs_jw_key(w, "goodput_bps");
  if (isfinite(tr->goodput)) cs_jw_int(w, (int64_t)llround(tr->goodput));
  else cs_jw_null(w);
  cs_jw_kstr(w, "failure", tr->failure);
  cs_jw_kstr(w, "stopped", tr->stopped);
  cs_jw_ksecs(w, "request_t", tr->t_request >= 0 ? tr->t_request : NAN);
  cs_jw_key(w, "status");
  if (tr->status) cs_jw_int(w, tr->status);
  else cs_jw_null(w);
  if (tr->refused) cs_jw_kstr(w, "refused", tr->refused);
  if (tr->content_length >= 0) cs_jw_kint(w, "content_length", tr->content_length);
  if (tr->server_received >= 0) cs_jw_kint(w, "server_received", tr->server_received);
  if (tr->server_elapsed >= 0) cs_jw_ksecs(w, "server_elapsed", tr->server_elapsed);
  if (tr->excess) cs_jw_kint(w, "excess_bytes", (int64_t)tr->excess);
  cs_jw_obj_close(w);
}

static void thr_write_samples(cs_jw *w, const thr *m, const thr_trial *tr) {
  for (size_t i = 0; i < tr->ns; i++) {
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "address", m->addr[tr->addr]);
    cs_jw_knull(w, "failure");
    cs_jw_kint(w, "num_bytes", (int64_t)tr->samples[i].bytes);
    cs_jw_kstr(w, "operation",
               tr->dir == THR_UP ? "x_bytes_sent_cumulative" : "bytes_received_cumulative");
    cs_jw_kstr(w, "proto", "tcp");
    cs_jw_ksecs(w, "t0", tr->t_request + tr->samples[i].t);
    cs_jw_ksecs(w, "t", tr->t_request + tr->samples[i].t);
    cs_jw_kint(w, "transaction_id", tr->id);
    cs_jw_obj_close(w);
  }
}

/* The evidence: everything but the verdict. */
static void thr_write_evidence(const thr *m, cs_jw *w) {
  const thr_settings *s = m->s;
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "server", m->addr[0]);
  cs_jw_kstr(w, "target", m->b.input);
  cs_jw_kstr(w, "control_sni", s->control);
  cs_jw_kstr(w, "x_transport", s->http ? "http" : "tls");
  cs_jw_key(w, "x_directions");
  cs_jw_arr_open(w);
  for (int d = 0; d < 2; d++)
    if (s->dirs & (1u << d)) cs_jw_str(w, thr_dir_name[d]);
  cs_jw_arr_close(w);
  cs_jw_kint(w, "x_bytes_offered", (int64_t)m->bytes);
  cs_jw_kdouble(w, "x_trial_time", s->trial_time);
  cs_jw_kint(w, "x_pairs_run", m->pairs_run);
  cs_jw_key(w, "x_params");
  cs_jw_obj_open(w);
  cs_jw_kdouble(w, "min_ratio", m->params.min_ratio);
  cs_jw_kdouble(w, "alpha", m->params.alpha);
  cs_jw_kdouble(w, "max_control_cv", m->params.max_control_cv);
  cs_jw_kdouble(w, "min_control_bps", m->params.min_control_bps);
  cs_jw_kint(w, "min_pairs", m->params.min_pairs);
  cs_jw_kint(w, "max_pairs", m->params.max_pairs);
  cs_jw_kint(w, "fast_pairs", m->params.fast_pairs);
  cs_jw_obj_close(w);
  if (m->input_error) cs_jw_kstr(w, "x_input_error", m->input_error);
  cs_jw_key(w, "x_server_info");
  if (m->input_error) {
    cs_jw_null(w);
  } else {
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "failure", m->info.failure);
    cs_jw_key(w, "status");
    if (m->info.status) cs_jw_int(w, m->info.status);
    else cs_jw_null(w);
    cs_jw_key(w, "max_bytes");
    if (m->info.max_bytes > 0) cs_jw_int(w, m->info.max_bytes);
    else cs_jw_null(w);
    cs_jw_key(w, "addresses");
    cs_jw_arr_open(w);
    for (size_t i = 0; i < m->info.naddresses; i++) cs_jw_str(w, m->info.addresses[i]);
    cs_jw_arr_close(w);
    cs_jw_kstr(w, "second_address", m->naddrs > 1 ? m->addr[1] : NULL);
    cs_jw_obj_close(w);
  }
  cs_jw_key(w, "tcp_connect");
  cs_jw_arr_open(w);
  for (const cs_tcp_rec *r = m->b.t->tcp.head; r; r = r->next) cs_write_tcp(w, r);
  cs_jw_arr_close(w);
  cs_jw_key(w, "tls_handshakes");
  cs_jw_arr_open(w);
  for (const cs_tls_rec *r = m->b.t->tls.head; r; r = r->next) cs_write_tls(w, r);
  cs_jw_arr_close(w);
  cs_jw_key(w, "network_events");
  cs_jw_arr_open(w);
  for (const cs_netevent_rec *e = m->b.t->events.head; e; e = e->next) cs_write_event(w, e);
  for (size_t i = 0; i < m->ntr; i++) thr_write_samples(w, m, &m->tr[i]);
  cs_jw_arr_close(w);
  cs_jw_key(w, "x_trials");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < m->ntr; i++)
    if (m->tr[i].stopped) thr_write_trial(w, m, &m->tr[i]);
  cs_jw_arr_close(w);
  cs_jw_obj_close(w);
}

typedef struct {
  const cs_buf *ev;
  cs_arena *a;
  const cs_jval *tk; /* the evidence parsed back; NULL: it could not be written */
} thr_keys;

/* The test keys: the evidence as it was analysed, then the verdict (the same function on the
 * same parsed evidence as for the outcome handed to done, so they agree). */
static void thr_write_keys(cs_jw *w, void *ctx) {
  thr_keys *k = ctx;
  cs_outcome o = {.key = CS_OUTCOME_UNDETERMINED,
                  .evidence = "the test keys could not be written (out of memory)"};
  if (!k->ev->overflow && k->ev->len >= 2)
    cs_jw_raw_members(w, (const char *)k->ev->data + 1, k->ev->len - 2);
  if (k->tk) thr_outcome(k->a, k->tk, w, &o);
  else cs_outcome_write(w, &o);
}

static int thr_begin(thr *m);

static void thr_free(thr *m) {
  cs_trace_free(m->info_trace);
  free(m->input);
  free(m->category);
  free(m);
}

static void thr_finish(thr *m) {
  thr_settings *s = m->s;
  cs_buf ev, ann;
  cs_buf_init(&ev, m->probe->json_limit);
  cs_buf_init(&ann, 4096);
  cs_jw w;
  cs_jw_init(&w, &ev);
  thr_write_evidence(m, &w);
  cs_arena *a = cs_arena_new(0);
  cs_jval *tk =
      a && !ev.overflow ? cs_json_parse(a, (const char *)ev.data, ev.len, NULL, NULL, 0) : NULL;
  cs_outcome o = {.key = CS_OUTCOME_UNDETERMINED,
                  .evidence = "the test keys could not be written (out of memory)"};
  if (m->category) {
    cs_jw aw;
    cs_jw_init(&aw, &ann);
    cs_jw_obj_open(&aw);
    cs_jw_kstr(&aw, "engine_name", "libcensorscope");
    cs_jw_kstr(&aw, "category_code", m->category);
    cs_jw_obj_close(&aw);
  }
  if (tk) thr_outcome(a, tk, NULL, &o); /* the same call writes the keys below */
  thr_keys k = {&ev, a, tk};
  cs_meas_finish(&m->b,
                 &(cs_meas_out){
                     .annotations_json = m->category && !ann.overflow ? cs_buf_cstr(&ann) : NULL,
                     .write_keys = thr_write_keys,
                     .ctx = &k,
                     .outcome = &o,
                 });
  cs_arena_free(a);
  cs_buf_free(&ann);
  cs_buf_free(&ev);
  thr_free(m);
  /* the next target, if one waits (we are on the loop: done may be called here) */
  s->running = NULL;
  while (s->qhead && !s->running) {
    thr *next = s->qhead;
    s->qhead = next->qnext;
    if (!s->qhead) s->qtail = NULL;
    if (thr_begin(next) < 0) {
      cs_meas_done done = next->done;
      void *arg = next->arg;
      thr_free(next);
      done(arg, &(cs_meas){cs_meas_fallback_json, cs_meas_fallback_len, NULL});
    }
  }
}

/* Begins a measurement (the run's only one in flight). Returns -1 when out of memory
 * (nothing begun, m untouched). */
static int thr_begin(thr *m) {
  thr_settings *s = m->s;
  if (cs_meas_begin(&m->b, m->probe, "throttling", THR_VERSION, m->input, m->done, m->arg) < 0)
    return -1;
  s->running = m;
  m->a = m->b.t->a;
  m->rng = thr_random64();
  cs_thr_params_default(&m->params);
  if (s->min_ratio > 0) m->params.min_ratio = s->min_ratio;
  m->params.max_pairs = s->pairs;
  m->params.fast_pairs = THR_FAST_PAIRS;
  m->params.http = s->http;
  m->bytes = s->bytes;
  m->info.max_bytes = -1;
  snprintf(m->addr[0], sizeof m->addr[0], "%s", s->server);
  m->naddrs = 1;
  m->trcap = (size_t)s->pairs * 4;
  m->tr = cs_arena_alloc(m->a, m->trcap * sizeof *m->tr);
  m->tick.data = m;
  char err[160];
  if (thr_name_check(m->b.input, err, sizeof err) < 0)
    m->input_error = cs_arena_printf(m->a, "invalid target name: %s", err);
  else if (!m->tr || !(m->info_trace = cs_trace_new(m->b.t->zero, 1u << 20)))
    m->input_error = "out of memory";
  if (m->input_error) thr_next(m); /* finishes at once */
  else thr_xfer_start(m, THR_K_INFO, NULL, 0);
  return 0;
}

static int thr_start(cs_loop *l, void *settings, const cs_probe_cfg *probe,
                     const cs_nettest_input *in, cs_meas_done done, void *arg) {
  thr_settings *s = settings;
  if (!in->input) return -1;
  thr *m = calloc(1, sizeof *m);
  if (!m) return -1;
  m->input = strdup(in->input);
  m->category = in->category ? strdup(in->category) : NULL;
  if (!m->input || (in->category && !m->category)) {
    thr_free(m);
    return -1;
  }
  m->l = l, m->s = s, m->probe = probe, m->done = done, m->arg = arg;
  if (s->running) { /* one target at a time */
    if (s->qtail) s->qtail->qnext = m;
    else s->qhead = m;
    s->qtail = m;
    return 0;
  }
  if (thr_begin(m) < 0) { /* done() only ever comes from the loop, never from here */
    thr_free(m);
    return -1;
  }
  return 0;
}

/* ---- the registry entry ---------------------------------------------------------------- */

const cs_nettest cs_nettest_throttling = {
    .name = "throttling",
    .version = THR_VERSION,
    .summary = "does the network slow a name down on purpose? (target vs control name, pairs)",
    .help =
        "For each target name: download (GET /throughput?bytes=N) and upload (POST N bytes)\n"
        "from our own throughput server (--server, `censorscope helper --throughput`), with\n"
        "the target name and with a control name, in interleaved pairs, a fresh connection\n"
        "per trial; the control runs first on each address, later pairs in random order; a\n"
        "pair on the server's second address (if its /throughput/info lists one) tells\n"
        "IP-keyed throttling apart. Stops once the statistics are decisive (or after --pairs).\n"
        "One OONI-style measurement per target: throttled (true/false/null) and x_throttling\n"
        "(ratio, ci95, p_value, pattern policer/stall, rate_bps, stall_after_bytes,\n"
        "direction, keyed), every trial in x_trials and its samples in network_events\n"
        "(bytes_received_cumulative / x_bytes_sent_cumulative). See docs/throttling.md.",
    .synopsis = "--server ADDR:PORT (--sni NAME... | -f FILE)",
    .input = CS_INPUT_DOMAIN,
    .db_by_default = false,
    .lines_by_default = true,
    .opts = thr_opts,
    .nopts = sizeof thr_opts / sizeof *thr_opts,
    .outcomes = thr_outcomes,
    .noutcomes = sizeof thr_outcomes / sizeof *thr_outcomes,
    .create = thr_create,
    .destroy = thr_destroy,
    .prepare = thr_prepare,
    .start = thr_start,
    .analyze = thr_analyze,
    .report = &cs_report_throttling_section,
};
