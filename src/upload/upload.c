/* upload.c - the uploader (see upload.h): one request at a time on a cs_loop, OONI's
 * probe-services flow (research fleet-and-scale.md §1.2), the collector list with per-collector
 * backoff, and the store's queue as the only record of what was sent. */
#include "upload/upload.h"

#include "upload/post.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "engine/conn.h"
#include "engine/dial.h"
#include "engine/http.h"
#include "engine/resolve.h"
#include "record/record.h"
#include "util/failure.h"
#include "util/ipnet.h"
#include "util/json.h"
#include "util/url.h"

#define MAX_REPORTS 64   /* open reports remembered (run, test_name, cc, asn, collector) */
#define ID_MAX 128       /* report_id / measurement_uid */
#define REASON_MAX 300   /* a refusal's reason as recorded */
#define CLOSE_TIMEOUT 5. /* seconds for each POST /report/{id}/close at the end */

/* A collector of the list. */
typedef struct {
  cs_post_target t;
  const char *url;   /* as given */
  unsigned fails;    /* consecutive failures */
  double down_until; /* loop time before which it is skipped */
} up_coll;

typedef struct {
  int64_t run_id;
  char test_name[64], cc[8], asn[24];
  size_t coll;
  char rid[ID_MAX + 1];
} up_report;

typedef void (*up_cb)(cs_upload *u, int status, const char *body, size_t len, const char *failure);

enum { PH_DRAIN, PH_CLOSE, PH_STOPPED };

struct cs_upload {
  cs_loop *l;
  cs_store *s;
  cs_upload_cfg cfg;
  up_coll coll[CS_UPLOAD_MAX_COLLECTORS];
  size_t ncoll;
  char probe_set[CS_STORE_PROBE_SET_LEN + 1];
  up_report reports[MAX_REPORTS];
  size_t nreports;
  /* the measurement being uploaded */
  cs_arena *ia;
  cs_store_upload_item item;
  bool have_item;
  size_t cur;     /* collector of the request in flight */
  int resubmits;  /* reopened reports for this item (a collector forgot one) */
  int64_t cursor; /* the queue is read in id order past this */
  int64_t limit;  /* ids above are not sent yet (-1: no limit) */
  cs_post *req;   /* the request in flight */
  up_cb cb;
  bool in_flight;
  cs_defer step_d;
  cs_timer wait_t, deadline_t;
  int phase;
  bool finishing;
  double deadline;
  void (*done)(void *arg);
  void *done_arg;
  cs_defer done_d;
  size_t close_i;
  cs_upload_stats st;
  long crash_after; /* test hook: SIGKILL after this many 200s, before recording (0: off) */
  long acks;
};

static void step(cs_upload *u);

/* ---- small helpers ------------------------------------------------------------------------ */

double cs_upload_backoff(double base, double cap, unsigned n, double r) {
  if (n < 1) n = 1;
  double d = base * pow(2.0, n > 60 ? 60.0 : (double)(n - 1));
  if (d > cap) d = cap;
  if (r < 0) r = 0;
  if (r >= 1) r = 0.999999;
  return d / 2 + d / 2 * r;
}

static double rnd01(void) {
  uint32_t v;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) v = (uint32_t)clock();
  return (double)v / 4294967296.0;
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ulog(cs_upload *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ulog(cs_upload *u, const char *fmt, ...) {
  if (!u->cfg.log) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(u->cfg.log, "%s: ", u->cfg.cmd ? u->cfg.cmd : "upload");
  vfprintf(u->cfg.log, fmt, ap);
  fputc('\n', u->cfg.log);
  va_end(ap);
}

/* An id the collector gave (report_id, measurement_uid): goes into a URL path and the store,
 * so only [A-Za-z0-9._-], 1..ID_MAX bytes. */
static bool id_ok(const char *s, size_t len) {
  if (!s || len == 0 || len > ID_MAX) return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  }
  return true;
}

/* A collector's answer: a small JSON object, parsed with tight limits. NULL when not one. */
static const cs_jval *answer_parse(cs_arena *a, const char *body, size_t len) {
  if (!body || !len || len > CS_POST_RESPONSE_CAP) return NULL;
  cs_json_limits lim = {.max_depth = 8, .max_nodes = 4096};
  const cs_jval *v = cs_json_parse(a, body, len, &lim, NULL, 0);
  return v && v->type == CS_JOBJ ? v : NULL;
}

/* The refusal's reason: the answer's "error" string, printable ASCII, bounded. */
static void answer_reason(const char *body, size_t len, int status, char *out, size_t cap) {
  cs_arena *a = cs_arena_new(1u << 20);
  const cs_jval *v = a ? answer_parse(a, body, len) : NULL;
  const char *e = cs_json_get_str(v, "error", NULL);
  if (!e) e = cs_json_get_str(v, "msg", NULL);
  size_t n = (size_t)snprintf(out, cap, "HTTP %d%s", status, e ? ": " : "");
  for (size_t i = 0; e && e[i] && n + 1 < cap && i < REASON_MAX; i++)
    out[n++] = e[i] >= 0x20 && e[i] < 0x7f ? e[i] : '?';
  if (n < cap) out[n] = 0;
  cs_arena_free(a);
}

int cs_upload_url_check(const char *url, char *err, size_t errlen) {
  cs_post_target t;
  return cs_post_target_parse(&t, url, err, errlen);
}

/* ---- requests ---------------------------------------------------------------------------- */

static void on_post(void *arg, int status, const char *body, size_t len, const char *failure) {
  cs_upload *u = arg;
  u->req = NULL;
  u->in_flight = false;
  u->cb(u, status, body, len, failure);
}

static void post_cancel(cs_upload *u) {
  cs_post_cancel(u->req);
  u->req = NULL;
  u->in_flight = false;
}

/* POSTs b (freed here) to collector ci's prefix + path; cb gets the answer. */
static void http_post(cs_upload *u, size_t ci, const char *path, cs_buf *b, double timeout,
                      up_cb cb) {
  cs_post_opts o = {.tls = u->cfg.tls,
                    .connect_timeout = u->cfg.connect_timeout,
                    .timeout = timeout,
                    .probe_set = u->probe_set};
  u->cur = ci;
  u->cb = cb;
  const char *body = cs_buf_cstr(b);
  u->req = body ? cs_post_start(u->l, &u->coll[ci].t, &o, path, body, b->len, on_post, u) : NULL;
  cs_buf_free(b);
  if (!u->req) {
    u->in_flight = false;
    cb(u, 0, NULL, 0, CS_FAILURE_OOM);
    return;
  }
  u->in_flight = true;
}

/* ---- the queue ------------------------------------------------------------------------------ */

static void on_step(cs_defer *d) { step(d->data); }
static void on_wait(cs_timer *t) { step(t->data); }

static void kick_step(cs_upload *u) {
  if (u->phase != PH_STOPPED) cs_defer_call(u->l, &u->step_d, on_step, u);
}

static void on_done_d(cs_defer *d) {
  cs_upload *u = d->data;
  if (u->done) {
    void (*fn)(void *) = u->done;
    u->done = NULL;
    fn(u->done_arg);
  }
}

static void stop_all(cs_upload *u) {
  if (u->phase == PH_STOPPED) return;
  u->phase = PH_STOPPED;
  post_cancel(u); /* a measurement in flight stays pending */
  cs_timer_stop(u->l, &u->wait_t);
  cs_timer_stop(u->l, &u->deadline_t);
  cs_defer_cancel(u->l, &u->step_d);
  cs_defer_call(u->l, &u->done_d, on_done_d, u);
}

static void item_done(cs_upload *u) {
  u->cursor = u->item.meas_id;
  u->have_item = false;
}

static void store_failed(cs_upload *u) {
  ulog(u, "the upload queue cannot be written: %s", cs_store_errmsg(u->s));
  u->st.store_error = true;
  stop_all(u);
}

static void refuse(cs_upload *u, size_t ci, int status, const char *reason) {
  ulog(u, "%s refused measurement %lld (%s%s%s): %s", u->coll[ci].url, (long long)u->item.meas_id,
       u->item.test_name ? u->item.test_name : "?", u->item.input ? " " : "",
       u->item.input ? u->item.input : "", reason);
  if (cs_store_upload_refused(u->s, u->item.meas_id, u->coll[ci].url, status, reason) !=
      CS_STORE_OK) {
    store_failed(u);
    return;
  }
  u->st.refused++;
  item_done(u);
  kick_step(u);
}

/* A network error, 5xx or 429 from collector ci: skip it for a backoff; when every collector
 * is skipped, the measurement's failed attempt is recorded. retry_after: the server's wish (s,
 * 0: none). */
static void coll_failed(cs_upload *u, size_t ci, const char *error, double retry_after) {
  up_coll *co = &u->coll[ci];
  double now = cs_loop_now(u->l);
  co->fails++;
  double b = cs_upload_backoff(u->cfg.backoff_base, u->cfg.backoff_max, co->fails, rnd01());
  if (retry_after > b) b = retry_after < u->cfg.backoff_max ? retry_after : u->cfg.backoff_max;
  co->down_until = now + b;
  u->st.failures++;
  if (co->fails == 1) /* the first failure of a streak; the rest are counted (stats) */
    ulog(u, "%s: %s (retrying with backoff, fallbacks in turn)", co->url, error);
  bool any_up = false;
  double wake = INFINITY;
  for (size_t i = 0; i < u->ncoll; i++) {
    if (u->coll[i].down_until <= now) any_up = true;
    if (u->coll[i].down_until < wake) wake = u->coll[i].down_until;
  }
  if (!any_up && u->have_item &&
      cs_store_upload_retry(u->s, u->item.meas_id, error, wall_now() + (wake - now)) !=
          CS_STORE_OK) {
    store_failed(u);
    return;
  }
  kick_step(u);
}

static up_report *report_find(cs_upload *u, size_t ci) {
  const cs_store_upload_item *it = &u->item;
  for (size_t i = 0; i < u->nreports; i++) {
    up_report *r = &u->reports[i];
    if (r->coll == ci && r->run_id == it->run_id && !strcmp(r->test_name, it->test_name) &&
        !strcmp(r->cc, it->probe_cc) && !strcmp(r->asn, it->probe_asn))
      return r;
  }
  return NULL;
}

static void report_forget(cs_upload *u, up_report *r) {
  size_t i = (size_t)(r - u->reports);
  memmove(&u->reports[i], &u->reports[i + 1], (u->nreports - i - 1) * sizeof *r);
  u->nreports--;
}

static void on_submit(cs_upload *u, int status, const char *body, size_t len, const char *failure) {
  size_t ci = u->cur;
  if (failure) {
    coll_failed(u, ci, failure, 0);
    return;
  }
  if (status == 200) {
    cs_arena *a = cs_arena_new(1u << 20);
    const cs_jval *v = a ? answer_parse(a, body, len) : NULL;
    const cs_jval *uidv = cs_json_get(v, "measurement_uid");
    if (v && !uidv && v->len == 0) { /* {}: OONI's answer for CC ZZ / ASN 0, nothing kept */
      cs_arena_free(a);
      refuse(u, ci, 200,
             "the collector discarded it ({}: probe_cc ZZ or probe_asn AS0 are not kept)");
      return;
    }
    if (!uidv || uidv->type != CS_JSTR || !id_ok(uidv->str, uidv->len)) {
      cs_arena_free(a);
      coll_failed(u, ci,
                  CS_FAILURE_UNKNOWN_CONST("malformed collector answer (no measurement_uid)"), 0);
      return;
    }
    char uid[ID_MAX + 1];
    snprintf(uid, sizeof uid, "%s", uidv->str);
    cs_arena_free(a);
    if (u->crash_after > 0 && ++u->acks >= u->crash_after) raise(SIGKILL); /* test hook */
    if (cs_store_upload_sent(u->s, u->item.meas_id, u->coll[ci].url, uid) != CS_STORE_OK) {
      store_failed(u);
      return;
    }
    u->coll[ci].fails = 0;
    u->st.sent++;
    item_done(u);
    kick_step(u);
    return;
  }
  if (status == 429 || status >= 500 || status < 400) {
    char e[REASON_MAX + 32];
    answer_reason(body, len, status, e, sizeof e);
    coll_failed(u, ci, e, status == 429 ? 30 : 0);
    return;
  }
  up_report *r = report_find(u, ci);
  if ((status == 404 || status == 409 || status == 410) && u->resubmits == 0 && r) {
    /* the collector no longer knows the report (closed, expired): open a new one once */
    u->resubmits++;
    report_forget(u, r);
    kick_step(u);
    return;
  }
  char reason[REASON_MAX + 32];
  answer_reason(body, len, status, reason, sizeof reason);
  refuse(u, ci, status, reason);
}

static void submit(cs_upload *u, size_t ci, const up_report *r) {
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_buf_puts(&b, "{\"format\":\"json\",\"content\":");
  cs_buf_append(&b, u->item.json, u->item.len);
  cs_buf_putc(&b, '}');
  char path[ID_MAX + 16];
  snprintf(path, sizeof path, "/report/%s", r->rid);
  http_post(u, ci, path, &b, u->cfg.request_timeout, on_submit);
}

static void on_open(cs_upload *u, int status, const char *body, size_t len, const char *failure) {
  size_t ci = u->cur;
  if (failure) {
    coll_failed(u, ci, failure, 0);
    return;
  }
  if (status == 429 || status >= 500 || (status != 200 && status < 400)) {
    char e[REASON_MAX + 32];
    answer_reason(body, len, status, e, sizeof e);
    coll_failed(u, ci, e, status == 429 ? 30 : 0);
    return;
  }
  if (status != 200) {
    char reason[REASON_MAX + 48];
    answer_reason(body, len, status, reason, sizeof reason);
    refuse(u, ci, status, reason);
    return;
  }
  cs_arena *a = cs_arena_new(1u << 20);
  const cs_jval *v = a ? answer_parse(a, body, len) : NULL;
  const cs_jval *rid = cs_json_get(v, "report_id");
  if (!rid || rid->type != CS_JSTR || !id_ok(rid->str, rid->len)) {
    cs_arena_free(a);
    coll_failed(u, ci, CS_FAILURE_UNKNOWN_CONST("malformed collector answer (no report_id)"), 0);
    return;
  }
  if (u->nreports == MAX_REPORTS) report_forget(u, &u->reports[0]); /* oldest: left open */
  up_report *r = &u->reports[u->nreports++];
  memset(r, 0, sizeof *r);
  r->run_id = u->item.run_id;
  r->coll = ci;
  snprintf(r->test_name, sizeof r->test_name, "%s", u->item.test_name);
  snprintf(r->cc, sizeof r->cc, "%s", u->item.probe_cc);
  snprintf(r->asn, sizeof r->asn, "%s", u->item.probe_asn);
  snprintf(r->rid, sizeof r->rid, "%s", rid->str);
  cs_arena_free(a);
  u->st.reports_opened++;
  kick_step(u);
}

/* POST /report for the current item's (test_name, probe_cc, probe_asn), with the envelope
 * fields OONI's probes send, read from the measurement itself. */
static void open_report(cs_upload *u, size_t ci) {
  cs_arena *a = cs_arena_new(0);
  const cs_jval *m = a ? cs_json_parse(a, u->item.json, u->item.len, NULL, NULL, 0) : NULL;
  cs_buf b;
  cs_buf_init(&b, 1u << 16);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_jw_obj_open(&w);
  cs_jw_kstr(&w, "data_format_version", cs_json_get_str(m, "data_format_version", "0.2.0"));
  cs_jw_kstr(&w, "format", "json");
  cs_jw_kstr(&w, "probe_asn", u->item.probe_asn);
  cs_jw_kstr(&w, "probe_cc", u->item.probe_cc);
  cs_jw_kstr(&w, "software_name", cs_json_get_str(m, "software_name", "censorscope"));
  cs_jw_kstr(&w, "software_version", cs_json_get_str(m, "software_version", ""));
  cs_jw_kstr(&w, "test_name", u->item.test_name);
  cs_jw_kstr(&w, "test_start_time", cs_json_get_str(m, "test_start_time", ""));
  cs_jw_kstr(&w, "test_version", cs_json_get_str(m, "test_version", ""));
  cs_jw_obj_close(&w);
  cs_arena_free(a);
  http_post(u, ci, "/report", &b, u->cfg.request_timeout, on_open);
}

static void on_closed(cs_upload *u, int status, const char *body, size_t len, const char *failure) {
  (void)status, (void)body, (void)len, (void)failure; /* best effort: reports also expire */
  u->close_i++;
  kick_step(u);
}

static void close_next(cs_upload *u) {
  double left = u->deadline - cs_loop_now(u->l);
  while (u->close_i < u->nreports &&
         u->coll[u->reports[u->close_i].coll].down_until > cs_loop_now(u->l))
    u->close_i++; /* a collector that just failed is not asked again */
  if (u->close_i >= u->nreports || left <= 0.05) {
    stop_all(u);
    return;
  }
  const up_report *r = &u->reports[u->close_i];
  char path[ID_MAX + 24];
  snprintf(path, sizeof path, "/report/%s/close", r->rid);
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_buf_puts(&b, "{}");
  http_post(u, r->coll, path, &b, left < CLOSE_TIMEOUT ? left : CLOSE_TIMEOUT, on_closed);
}

static void step(cs_upload *u) {
  if (u->in_flight || u->phase == PH_STOPPED) return;
  if (u->phase == PH_CLOSE) {
    close_next(u);
    return;
  }
  double now = cs_loop_now(u->l);
  if (u->finishing && now >= u->deadline) {
    stop_all(u);
    return;
  }
  if (!u->have_item) {
    cs_arena_free(u->ia);
    u->ia = cs_arena_new(0);
    int rc = u->ia ? cs_store_upload_next(u->s, u->cursor, -1, u->ia, &u->item) : CS_STORE_NOMEM;
    if (rc < 0) {
      store_failed(u);
      return;
    }
    if (rc == 1 && u->limit >= 0 && u->item.meas_id > u->limit) rc = 0; /* held back */
    if (rc == 0) {                                                      /* drained */
      if (u->finishing) {
        u->phase = PH_CLOSE;
        close_next(u);
      }
      return; /* idle until kicked */
    }
    if (!u->item.test_name || !u->item.probe_cc || !u->item.probe_asn) {
      refuse(u, 0, 0, "not uploadable: no test_name, probe_cc or probe_asn");
      return;
    }
    u->have_item = true;
    u->resubmits = 0;
  }
  size_t ci = u->ncoll;
  double wake = INFINITY;
  for (size_t i = 0; i < u->ncoll; i++) {
    if (u->coll[i].down_until <= now) {
      ci = i;
      break;
    }
    if (u->coll[i].down_until < wake) wake = u->coll[i].down_until;
  }
  if (ci == u->ncoll) { /* every collector is backing off */
    if (u->finishing && wake >= u->deadline) {
      stop_all(u);
      return;
    }
    cs_timer_start(u->l, &u->wait_t, wake - now, on_wait, u);
    return;
  }
  const up_report *r = report_find(u, ci);
  if (r) submit(u, ci, r);
  else open_report(u, ci);
}

/* ---- public -------------------------------------------------------------------------------- */

cs_upload *cs_upload_new(cs_loop *l, cs_store *s, const cs_upload_cfg *cfg, char *err,
                         size_t errlen) {
  if (!l || !s || !cfg || !cfg->ncollectors || cfg->ncollectors > CS_UPLOAD_MAX_COLLECTORS) {
    snprintf(err, errlen, "1 to %d collectors", CS_UPLOAD_MAX_COLLECTORS);
    return NULL;
  }
  cs_upload *u = calloc(1, sizeof *u);
  if (!u) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  u->l = l;
  u->s = s;
  u->cfg = *cfg;
  if (u->cfg.connect_timeout <= 0) u->cfg.connect_timeout = 5;
  if (u->cfg.request_timeout <= 0) u->cfg.request_timeout = 15;
  if (u->cfg.backoff_base <= 0) u->cfg.backoff_base = 1;
  if (u->cfg.backoff_max <= 0) u->cfg.backoff_max = 300;
  for (size_t i = 0; i < cfg->ncollectors; i++) {
    if (cs_post_target_parse(&u->coll[i].t, cfg->collectors[i], err, errlen) < 0) {
      free(u);
      return NULL;
    }
    u->coll[i].url = cfg->collectors[i];
  }
  u->ncoll = cfg->ncollectors;
  if (cs_store_probe_set(s, u->probe_set, sizeof u->probe_set) != CS_STORE_OK) {
    snprintf(err, errlen, "cannot read the store's probe-set id: %s", cs_store_errmsg(s));
    free(u);
    return NULL;
  }
  const char *crash = getenv("CENSORSCOPE_TEST_UPLOAD_CRASH_AFTER");
  u->crash_after = crash ? strtol(crash, NULL, 10) : 0;
  u->wait_t.data = u->deadline_t.data = u;
  u->limit = cfg->hold ? cfg->hold_above : -1;
  return u;
}

void cs_upload_set_limit(cs_upload *u, int64_t max_id) {
  u->limit = max_id;
  cs_upload_kick(u);
}

void cs_upload_kick(cs_upload *u) {
  if (u && u->phase == PH_DRAIN && !u->in_flight) kick_step(u);
}

static void on_deadline(cs_timer *t) { stop_all(t->data); }

void cs_upload_finish(cs_upload *u, double deadline, void (*done)(void *arg), void *arg) {
  u->finishing = true;
  u->deadline = deadline;
  u->done = done;
  u->done_arg = arg;
  if (u->phase == PH_STOPPED) {
    cs_defer_call(u->l, &u->done_d, on_done_d, u);
    return;
  }
  double now = cs_loop_now(u->l);
  cs_timer_start(u->l, &u->deadline_t, deadline > now ? deadline - now : 0, on_deadline, u);
  cs_timer_stop(u->l, &u->wait_t); /* re-decide: the deadline may end a wait */
  kick_step(u);
}

const cs_upload_stats *cs_upload_stats_get(const cs_upload *u) { return &u->st; }

void cs_upload_free(cs_upload *u) {
  if (!u) return;
  post_cancel(u);
  cs_timer_stop(u->l, &u->wait_t);
  cs_timer_stop(u->l, &u->deadline_t);
  cs_defer_cancel(u->l, &u->step_d);
  cs_defer_cancel(u->l, &u->done_d);
  cs_arena_free(u->ia);
  free(u);
}

int cs_upload_drain(cs_store *s, const cs_upload_cfg *cfg, double max_s, cs_upload_stats *st,
                    char *err, size_t errlen) {
  cs_loop *l = cs_loop_new();
  if (!l) {
    snprintf(err, errlen, "cannot create the event loop");
    return -1;
  }
  cs_upload *u = cs_upload_new(l, s, cfg, err, errlen);
  if (!u) {
    cs_loop_free(l);
    return -1;
  }
  cs_upload_finish(u, cs_loop_now(l) + max_s, NULL, NULL);
  int rc = cs_loop_run(l);
  *st = u->st;
  cs_upload_free(u);
  cs_loop_free(l);
  if (rc < 0) snprintf(err, errlen, "event loop failure");
  return rc < 0 ? -1 : 0;
}

/* ---- background thread ------------------------------------------------------------------- */

struct cs_upload_bg {
  pthread_t th;
  int efd;
  cs_loop *l;
  cs_store *s;
  cs_upload *u;
  cs_io io;
  pthread_mutex_t mu;
  bool stop;      /* under mu */
  double wait_s;  /* under mu */
  int64_t limit;  /* under mu */
  bool finishing; /* loop thread only */
  cs_upload_stats st;
};

static void bg_done(void *arg) {
  cs_upload_bg *b = arg;
  cs_io_stop(b->l, &b->io); /* nothing left: the loop returns */
}

static void bg_on_event(cs_io *w, unsigned ev) {
  (void)ev;
  cs_upload_bg *b = w->data;
  uint64_t v;
  if (read(b->efd, &v, sizeof v) < 0 && errno != EAGAIN) { /* nothing to do: level-triggered */
  }
  pthread_mutex_lock(&b->mu);
  bool stop = b->stop;
  double wait_s = b->wait_s;
  int64_t limit = b->limit;
  pthread_mutex_unlock(&b->mu);
  b->u->limit = limit;
  if (stop && !b->finishing) {
    b->finishing = true;
    cs_upload_finish(b->u, cs_loop_now(b->l) + wait_s, bg_done, b);
  } else if (!stop) {
    cs_upload_kick(b->u);
  }
}

static void *bg_main(void *arg) {
  cs_upload_bg *b = arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the main thread's */
  cs_upload_kick(b->u);                   /* what earlier runs left pending */
  cs_loop_run(b->l);
  b->st = b->u->st;
  return NULL;
}

cs_upload_bg *cs_upload_bg_start(const char *db_path, const cs_upload_cfg *cfg, char *err,
                                 size_t errlen) {
  cs_upload_bg *b = calloc(1, sizeof *b);
  if (!b) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  b->limit = cfg->hold ? cfg->hold_above : -1;
  pthread_mutex_init(&b->mu, NULL);
  char serr[256];
  if (b->efd < 0 || !(b->l = cs_loop_new())) {
    snprintf(err, errlen, "cannot create the uploader's loop");
    goto fail;
  }
  if (!(b->s = cs_store_open(db_path, serr, sizeof serr))) {
    snprintf(err, errlen, "cannot open the database for uploading: %s", serr);
    goto fail;
  }
  if (!(b->u = cs_upload_new(b->l, b->s, cfg, err, errlen))) goto fail;
  if (cs_io_start(b->l, &b->io, b->efd, CS_EV_READ, bg_on_event, b) < 0 ||
      pthread_create(&b->th, NULL, bg_main, b) != 0) {
    snprintf(err, errlen, "cannot start the uploader's thread");
    goto fail;
  }
  return b;
fail:
  cs_upload_free(b->u);
  if (b->l) {
    cs_io_stop(b->l, &b->io);
    cs_loop_free(b->l);
  }
  cs_store_close(b->s);
  if (b->efd >= 0) close(b->efd);
  pthread_mutex_destroy(&b->mu);
  free(b);
  return NULL;
}

void cs_upload_bg_kick(cs_upload_bg *b) {
  uint64_t one = 1;
  if (b && write(b->efd, &one, sizeof one) < 0) { /* the counter is full: a kick is due anyway */
  }
}

void cs_upload_bg_limit(cs_upload_bg *b, int64_t max_id) {
  if (!b) return;
  pthread_mutex_lock(&b->mu);
  b->limit = max_id;
  pthread_mutex_unlock(&b->mu);
  cs_upload_bg_kick(b);
}

void cs_upload_bg_stop(cs_upload_bg *b, double wait_s, cs_upload_stats *st) {
  if (!b) return;
  pthread_mutex_lock(&b->mu);
  b->stop = true;
  b->wait_s = wait_s;
  pthread_mutex_unlock(&b->mu);
  cs_upload_bg_kick(b);
  pthread_join(b->th, NULL);
  if (st) *st = b->st;
  cs_upload_free(b->u);
  cs_loop_free(b->l);
  cs_store_close(b->s);
  close(b->efd);
  pthread_mutex_destroy(&b->mu);
  free(b);
}
