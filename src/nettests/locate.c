/* locate.c - `censorscope locate`: where on the path does the censor sit? A TTL-limited replay
 * of the trigger (docs/forensics.md "Localisation"; OONI tlsmiddlebox ts-037 and CenTrace,
 * CoNEXT '22, are the models).
 *
 * The trigger is one of: a TLS ClientHello with an SNI (--sni NAME), an HTTP request with a
 * Host (--host NAME), a DNS query for a name (--dns NAME). The input is the target's address
 * (ADDR[:PORT]; 443, 80 or 53 by default). One run is two traces, the control name first (the
 * same trigger with --control, default example.com), then the target name:
 *
 *   for TTL = 1, 2, ... --max-ttl:        (one source port per trace: one 5-tuple, so an
 *     TCP: connect at the normal TTL,      ECMP router keeps every TTL of a trace on one path)
 *          set IP_TTL, send the trigger
 *     DNS: set IP_TTL on the trace's UDP socket, send the query
 *     wait for: ICMP time-exceeded (the router), an answer, a reset, EOF, unreachable, or
 *     nothing (--probe-timeout); after the first event a short grace period catches the
 *     second half of an on-path injection (a forged reply AND the router's time-exceeded)
 *   until a response that is not time-exceeded, or 3 silent TTLs in a row, or --max-ttl
 *
 * The router of a time-exceeded message: TCP probes read a raw ICMP socket (CAP_NET_RAW),
 * matched by the quoted 5-tuple; without the privilege the socket error (IP_RECVERR:
 * EHOSTUNREACH) still says "time exceeded" but not who sent it, and the measurement says so.
 * DNS probes read the UDP socket's error queue (IP_RECVERR, SO_EE_OFFENDER): no privilege.
 *
 * The first TTL where the target trace differs from the control trace is the hop: a response
 * where the control was still in transit (placement "in-path", or "on-path" when the router's
 * time-exceeded came too: the trigger went on while someone answered), or silence to the end
 * where the control went on ("in-path", a drop). A difference at the TTL where the control
 * reached the endpoint is "endpoint" (the server or a firewall in front of it). The router is
 * the time-exceeded sender at that TTL (the target trace's when on-path, else the control's).
 * When the first run finds interference, the run is repeated (--repeats) and the answer is
 * the one most runs agree on ("consistent" when all do). Bounded: --max-ttl, --probe-timeout,
 * --repeats and --max-time. IPv4 only. The traces themselves are nettests/locate_trace.c
 * (web_connectivity's --locate step runs the same code); this file is the nettest around them:
 * options, input, outcome. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nettests/locate_trace.h"
#include "nettests/meas.h"
#include "nettests/nettest.h"
#include "util/failure.h"

#define LC_VERSION "0.1.0"
#define LC_MAX_TTL CS_LOCATE_MAX_TTL
#define LC_MAX_RUNS CS_LOCATE_MAX_RUNS
#define LC_DEFAULT_CONTROL "example.com"

/* ---- settings -------------------------------------------------------------------------- */

enum { LC_TLS = CS_LOCATE_TLS, LC_HTTP = CS_LOCATE_HTTP, LC_DNS = CS_LOCATE_DNS };

typedef struct {
  int trig; /* LC_TLS, LC_HTTP, LC_DNS; -1: none given */
  char *name, *control;
  int max_ttl, repeats;
  double timeout, interval, max_time;
} lc_settings;

static void *lc_create(void) {
  lc_settings *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->trig = -1;
  s->control = strdup(LC_DEFAULT_CONTROL);
  if (!s->control) {
    free(s);
    return NULL;
  }
  s->max_ttl = 20, s->repeats = 2;
  s->timeout = 2, s->interval = 0.1, s->max_time = 120;
  return s;
}

static void lc_destroy(void *settings) {
  lc_settings *s = settings;
  if (!s) return;
  free(s->name);
  free(s->control);
  free(s);
}

static int lc_name_ok(const char *arg, char *err, size_t errlen) {
  size_t n = strlen(arg);
  if (n == 0 || n > 253 || strpbrk(arg, "/ \t\r\n:")) {
    snprintf(err, errlen, "not a host name: %s", arg);
    return -1;
  }
  return 0;
}

static int lc_set_trigger(lc_settings *s, int trig, const char *arg, char *err, size_t errlen) {
  if (lc_name_ok(arg, err, errlen) < 0) return -1;
  if (s->trig >= 0) {
    snprintf(err, errlen, "give one trigger: --sni, --host or --dns");
    return -1;
  }
  char *d = strdup(arg);
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  s->trig = trig;
  s->name = d;
  return 0;
}

static int lc_set_sni(void *st, const char *arg, char *err, size_t errlen) {
  return lc_set_trigger(st, LC_TLS, arg, err, errlen);
}
static int lc_set_host(void *st, const char *arg, char *err, size_t errlen) {
  return lc_set_trigger(st, LC_HTTP, arg, err, errlen);
}
static int lc_set_dns(void *st, const char *arg, char *err, size_t errlen) {
  return lc_set_trigger(st, LC_DNS, arg, err, errlen);
}

static int lc_set_control(void *st, const char *arg, char *err, size_t errlen) {
  lc_settings *s = st;
  if (lc_name_ok(arg, err, errlen) < 0) return -1;
  char *d = strdup(arg);
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  free(s->control);
  s->control = d;
  return 0;
}

static int lc_int(const char *arg, long lo, long hi, int *out, char *err, size_t errlen) {
  char *e;
  errno = 0;
  long v = strtol(arg, &e, 10);
  if (e == arg || *e || errno || v < lo || v > hi) {
    snprintf(err, errlen, "expected a number from %ld to %ld", lo, hi);
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int lc_secs(const char *arg, double lo, double hi, double *out, char *err, size_t errlen) {
  char *e;
  double v = strtod(arg, &e);
  if (e == arg || *e || !(v >= lo && v <= hi)) {
    snprintf(err, errlen, "expected seconds from %g to %g", lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

static int lc_set_max_ttl(void *st, const char *arg, char *err, size_t errlen) {
  return lc_int(arg, 1, LC_MAX_TTL, &((lc_settings *)st)->max_ttl, err, errlen);
}
static int lc_set_repeats(void *st, const char *arg, char *err, size_t errlen) {
  return lc_int(arg, 1, LC_MAX_RUNS, &((lc_settings *)st)->repeats, err, errlen);
}
static int lc_set_timeout(void *st, const char *arg, char *err, size_t errlen) {
  return lc_secs(arg, 0.05, 30, &((lc_settings *)st)->timeout, err, errlen);
}
static int lc_set_interval(void *st, const char *arg, char *err, size_t errlen) {
  return lc_secs(arg, 0, 10, &((lc_settings *)st)->interval, err, errlen);
}
static int lc_set_max_time(void *st, const char *arg, char *err, size_t errlen) {
  return lc_secs(arg, 1, 3600, &((lc_settings *)st)->max_time, err, errlen);
}

static const cs_optdef lc_opts[] = {
    {"sni", 0, "NAME", "trigger: a TLS ClientHello with server name NAME (target port 443)", false,
     lc_set_sni},
    {"host", 0, "NAME", "trigger: an HTTP GET with Host: NAME (target port 80)", false,
     lc_set_host},
    {"dns", 0, "NAME",
     "trigger: a DNS query (A) for NAME; the input is then the resolver's address (port 53)", false,
     lc_set_dns},
    {"control", 0, "NAME",
     "the control name: the same trigger with NAME is traced first (default example.com)", false,
     lc_set_control},
    {"max-ttl", 0, "N", "highest TTL tried (1-64, default 20)", false, lc_set_max_ttl},
    {"repeats", 0, "N",
     "runs (control trace then target trace) when the first finds interference (1-10, "
     "default 2)",
     false, lc_set_repeats},
    {"probe-timeout", 0, "S", "seconds to wait for an answer at each TTL (default 2)", false,
     lc_set_timeout},
    {"interval", 0, "S", "seconds between two TTLs (default 0.1)", false, lc_set_interval},
    {"max-time", 0, "S", "the measurement stops after S seconds, with what it has (default 120)",
     false, lc_set_max_time},
};

/* ---- outcomes -------------------------------------------------------------------------- */

#define LC_OUT_LOCATED "located"
#define LC_OUT_UNLOCATED "unlocated"
#define LC_OUT_ENDPOINT "endpoint"
#define LC_OUT_CONTROL "control_failed"

static const cs_outcome_def lc_outcomes[] = {
    {CS_OUTCOME_ACCESSIBLE, "No interference on the path", false},
    {LC_OUT_LOCATED, "Interference located", true},
    {LC_OUT_UNLOCATED, "Interference, hop not found", true},
    {LC_OUT_ENDPOINT, "At the endpoint", false},
    {LC_OUT_CONTROL, "Control trace failed", false},
    {CS_OUTCOME_UNDETERMINED, "Undetermined", false},
};

/* ---- the measurement ------------------------------------------------------------------- */

typedef struct {
  cs_meas_base b;
  cs_arena *a;
  cs_loop *l;
  const lc_settings *s;
  const cs_probe_cfg *probe;
  const char *input_error;
  cs_ip dst;
  uint16_t port;
  cs_locate *trace; /* NULL: not started (input error) */
  cs_defer defer;
} lc;

static void lc_write_evidence(const lc *m, cs_jw *w) {
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "trigger", m->s->trig >= 0 ? cs_locate_trig_str((cs_locate_trig)m->s->trig) : NULL);
  cs_jw_kstr(w, "target", m->s->name);
  cs_jw_kstr(w, "control", m->s->control);
  if (m->input_error || !m->trace) {
    cs_jw_kstr(w, "x_input_error", m->input_error);
    cs_jw_knull(w, "x_locate");
    cs_jw_obj_close(w);
    return;
  }
  cs_jw_key(w, "x_locate");
  cs_locate_write(m->trace, w);
  cs_jw_obj_close(w);
}

/* The outcome from test_keys (the run and `censorscope analyze` use this one function). */
static int lc_outcome(cs_arena *a, const cs_jval *tk, cs_outcome *o) {
  *o = (cs_outcome){.key = CS_OUTCOME_UNDETERMINED};
  const char *ie = cs_json_get_str(tk, "x_input_error", NULL);
  if (ie) {
    o->evidence = ie;
    return 0;
  }
  const cs_jval *x = cs_json_get_obj(tk, "x_locate");
  if (!x) {
    o->evidence = "no x_locate: not a locate measurement";
    return -1;
  }
  const char *why = cs_json_get_str(x, "why", NULL);
  int hop = cs_json_get_int(x, "hop", 0);
  const char *placement = cs_json_get_str(x, "placement", NULL);
  const char *router = cs_json_get_str(x, "router", NULL);
  if (cs_json_is_null(cs_json_get(x, "control_ttl"))) {
    o->key = LC_OUT_CONTROL;
    o->evidence = why;
    return 0;
  }
  if (cs_json_get_bool(x, "interference", 0) != 1) {
    o->key = CS_OUTCOME_ACCESSIBLE;
    o->evidence = why;
    return 0;
  }
  if (placement && !strcmp(placement, "endpoint")) {
    o->key = LC_OUT_ENDPOINT;
    o->evidence = cs_arena_printf(a, "at the endpoint (TTL %d): %s", hop, why ? why : "");
    return 0;
  }
  int runs = cs_json_get_int(x, "runs", 0), agree = cs_json_get_int(x, "agreeing_runs", 0);
  if (hop <= 0 || agree * 2 <= runs) {
    o->key = LC_OUT_UNLOCATED;
    o->censorship = true;
    o->evidence = cs_arena_printf(a, "%d of %d runs agree; %s", agree, runs, why ? why : "");
    return 0;
  }
  o->key = LC_OUT_LOCATED;
  o->censorship = true;
  o->evidence = cs_arena_printf(a, "hop %d (%s, %s), %d of %d runs: %s", hop,
                                router ? router : "router unknown", placement ? placement : "?",
                                agree, runs, why ? why : "");
  return 0;
}

static int lc_analyze(cs_arena *a, const cs_jval *meas, const cs_analysis_opts *opt, cs_jw *w,
                      cs_outcome *out) {
  (void)opt;
  const cs_jval *tk = cs_json_get_obj(meas, "test_keys");
  if (!tk) tk = meas;
  if (lc_outcome(a, tk, out) < 0) return -1;
  if (w) cs_outcome_write(w, out);
  return 0;
}

typedef struct {
  const cs_buf *ev;
  const cs_outcome *o;
} lc_keys;

static void lc_write_keys(cs_jw *w, void *ctx) {
  const lc_keys *k = ctx;
  if (!k->ev->overflow && k->ev->len >= 2)
    cs_jw_raw_members(w, (const char *)k->ev->data + 1, k->ev->len - 2);
  cs_outcome_write(w, k->o);
}

static void lc_finish(lc *m) {
  cs_buf ev;
  cs_buf_init(&ev, m->probe->json_limit);
  cs_jw w;
  cs_jw_init(&w, &ev);
  lc_write_evidence(m, &w);
  cs_arena *a = cs_arena_new(0);
  cs_jval *tk =
      a && !ev.overflow ? cs_json_parse(a, (const char *)ev.data, ev.len, NULL, NULL, 0) : NULL;
  cs_outcome o = {.key = CS_OUTCOME_UNDETERMINED,
                  .evidence = "the test keys could not be written (out of memory)"};
  if (tk) lc_outcome(a, tk, &o);
  lc_keys k = {&ev, &o};
  cs_meas_finish(&m->b, &(cs_meas_out){.write_keys = lc_write_keys, .ctx = &k, .outcome = &o});
  cs_arena_free(a);
  cs_buf_free(&ev);
  cs_locate_free(m->trace);
  free(m);
}

static void lc_finish_cb(cs_defer *d) { lc_finish(d->data); }

static void lc_trace_done(void *arg, cs_locate *trace) {
  (void)trace;
  lc_finish(arg);
}

/* ADDR[:PORT] (IPv4 only for now). */
static const char *lc_parse_input(lc *m, const char *in) {
  char host[CS_IPSTR_MAX + 1];
  const char *colon = strrchr(in, ':');
  size_t hl = colon ? (size_t)(colon - in) : strlen(in);
  if (hl == 0 || hl >= sizeof host) return "the input is not ADDR[:PORT]";
  memcpy(host, in, hl);
  host[hl] = 0;
  if (!cs_ip_parse(host, &m->dst)) {
    if (strchr(in, ':') != colon || !strchr(in, '.'))
      return "IPv6 targets are not supported yet: give an IPv4 ADDR[:PORT]";
    return cs_arena_printf(m->a, "not an IP address: %s (resolve the name first)", host);
  }
  if (m->dst.family != AF_INET) return "IPv6 targets are not supported yet";
  m->port = m->s->trig == LC_DNS ? 53 : m->s->trig == LC_HTTP ? 80 : 443;
  if (colon) {
    char *e;
    unsigned long p = strtoul(colon + 1, &e, 10);
    if (e == colon + 1 || *e || p == 0 || p > 65535) return "bad port";
    m->port = (uint16_t)p;
  }
  return NULL;
}

static int lc_prepare(void *settings, const cs_probe_cfg *probe, char *err, size_t errlen) {
  (void)probe;
  const lc_settings *s = settings;
  if (s->trig < 0) {
    snprintf(err, errlen, "give a trigger: --sni NAME, --host NAME or --dns NAME");
    return -1;
  }
  return 0;
}

static int lc_start(cs_loop *l, void *settings, const cs_probe_cfg *probe,
                    const cs_nettest_input *in, cs_meas_done done, void *arg) {
  lc *m = calloc(1, sizeof *m);
  if (!m) return -1;
  if (!in->input || cs_meas_begin(&m->b, probe, "locate", LC_VERSION, in->input, done, arg) < 0) {
    free(m);
    return -1;
  }
  m->a = m->b.t->a;
  m->l = l, m->s = settings, m->probe = probe;
  m->input_error = lc_parse_input(m, in->input);
  if (!m->input_error) {
    cs_locate_opts o = {.trig = (cs_locate_trig)m->s->trig,
                        .name = m->s->name,
                        .control = m->s->control,
                        .dst = m->dst,
                        .port = m->port,
                        .max_ttl = m->s->max_ttl,
                        .repeats = m->s->repeats,
                        .timeout = m->s->timeout,
                        .interval = m->s->interval,
                        .max_time = m->s->max_time,
                        .connect_timeout = probe->tcp_timeout};
    m->trace = cs_locate_start(l, m->a, &o, lc_trace_done, m, &m->input_error);
  }
  if (!m->trace) cs_defer_call(l, &m->defer, lc_finish_cb, m);
  return 0;
}

/* ---- the registry entry ---------------------------------------------------------------- */

const cs_nettest cs_nettest_locate = {
    .name = "locate",
    .version = LC_VERSION,
    .summary = "find the hop where a censor interferes: TTL-limited replay of the trigger",
    .help = "Replays a trigger - a TLS ClientHello (--sni NAME), an HTTP request (--host NAME)\n"
            "or a DNS query (--dns NAME) - towards the target ADDR[:PORT] with TTL 1, 2, ...\n"
            "on one 5-tuple per trace, a control name's trace first, and finds the first hop\n"
            "where the target trace differs: a reset, an answer or silence where the control\n"
            "still got ICMP time-exceeded. The router there is read from the time-exceeded\n"
            "message (a raw ICMP socket for TCP: CAP_NET_RAW; the socket's error queue for\n"
            "DNS); without the privilege the hop is still found and the measurement says what\n"
            "it could not see. In-path vs on-path: an injected response together with the\n"
            "router's time-exceeded at one TTL is on-path. Writes test_keys.x_locate\n"
            "(docs/forensics.md \"Localisation\"). IPv4 targets only.",
    .synopsis = "(--sni NAME | --host NAME | --dns NAME) ADDR[:PORT]...",
    .input = CS_INPUT_DOMAIN,
    .db_by_default = true,
    .lines_by_default = true,
    .opts = lc_opts,
    .nopts = sizeof lc_opts / sizeof *lc_opts,
    .outcomes = lc_outcomes,
    .noutcomes = sizeof lc_outcomes / sizeof *lc_outcomes,
    .create = lc_create,
    .destroy = lc_destroy,
    .prepare = lc_prepare,
    .start = lc_start,
    .analyze = lc_analyze,
};
