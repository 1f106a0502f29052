/* web_connectivity.c - the web_connectivity nettest (see web_connectivity.h).
 *
 *   DNS (system resolver, or --resolver) ──┬── control query (TH 1, then TH 2 ...)
 *                                          └── fetch: connect to every address (TCP [+TLS]),
 *                                              GET, redirects (engine/fetch.h)
 *   both done ──> test keys (raw records + control) ──> analysis ──> measurement
 *
 * The engine records, the analysis judges: this file only sequences the steps and writes
 * what they recorded; the verdict comes from cs_wc_analyze_test_keys() on the serialised
 * evidence, exactly as `censorscope analyze` would compute it from the stored measurement. */
#include "nettests/web_connectivity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/wc_analysis.h"
#include "nettests/meas.h"
#include "engine/dns.h"
#include "engine/fetch.h"
#include "engine/http.h"
#include "engine/resolve.h"
#include "nettests/wc_control.h"
#include "nettests/wc_forensics.h"
#include "nettests/wc_locate.h"
#include "report/report.h"
#include "record/record.h"
#include "util/failure.h"
#include "util/timeutil.h"
#include "util/url.h"

typedef struct {
  const cs_wc_cfg *cfg;
  cs_loop *l;
  cs_meas_base b;
  cs_trace *t;       /* b.t */
  const char *input; /* b.input */
  const char *category;
  cs_url url;
  const char *url_error;
  /* DNS */
  cs_resolve_req *dns;
  cs_ip *addrs; /* in the trace's arena: as many as resolved, not CS_DNS_MAX_ADDRS each */
  size_t naddrs;
  /* control */
  cs_buf th_req;
  size_t th_idx;
  cs_th_req *th;
  cs_th_job *th_job;
  const char *control_failure, *th_used;
  char *control; /* JSON reply body (malloc) */
  size_t control_len;
  bool th_done;
  /* fetch */
  cs_fetch_opts fo;
  cs_fetch *fetch;
  bool fetch_done;
  const char *http_failure;
  const cs_http_rec *final; /* the fetch's last transaction (in the trace) */
  cs_defer fin;
  /* --locate (wc_locate.h): 0 not decided, 1 running, 2 decided */
  int loc_phase;
  cs_locate *loc;                     /* the step's result when it ran */
  const char *loc_reason;             /* why there is no trace (x_locate null) */
  const char *loc_trigger, *loc_name; /* what was replayed: "tls", "http", "dns"; the name */
} wc;

static void finish_cb(cs_defer *d);

static void probe_done(void *arg) {
  wc *m = arg;
  cs_defer_call(m->l, &m->fin, finish_cb, m);
}

/* A DNS injection seen: the TTL-copy probe first (docs/forensics.md), then finish. */
static void maybe_finish(wc *m) {
  if (m->th_done && m->fetch_done && !cs_meas_ttl_probe(&m->b, probe_done, m)) probe_done(m);
}

/* Ends the measurement before the control query and the fetch start, with why. */
static void abandon(wc *m, const char *control_failure) {
  m->control_failure = control_failure;
  m->th_done = m->fetch_done = true;
  maybe_finish(m);
}

/* ---- output ---------------------------------------------------------------------------- */

/* The test keys that are evidence (no verdict yet), as object members without braces. */
static void write_evidence(wc *m, cs_jw *w) {
  cs_jw_kstr(w, "agent", "redirect");
  cs_jw_knull(w, "client_resolver");
  cs_jw_knull(w, "retries");
  cs_jw_knull(w, "socksproxy");
  cs_write_trace_keys(w, m->t);
  cs_jw_key(w, "x_control_request");
  if (m->th_req.len && !m->th_req.overflow)
    cs_jw_raw(w, (const char *)m->th_req.data, m->th_req.len);
  else cs_jw_null(w);
  cs_jw_key(w, "control");
  if (m->control) cs_jw_raw(w, m->control, m->control_len);
  else cs_jw_null(w);
  cs_jw_kstr(w, "control_failure", m->control_failure);
  if (m->url_error) cs_jw_kstr(w, "x_input_error", m->url_error);
  /* issue 14: x_tls_interception, x_http_tampering (docs/forensics.md) */
  cs_wc_forensics_write(w, m->t, m->url_error ? NULL : &m->url, m->input, m->control,
                        m->control_len, m->final, m->http_failure, m->cfg->probe->tls);
}

/* What finish_cb hands to cs_meas_finish's key writer. */
typedef struct {
  const wc *m;
  const cs_buf *ev;       /* the evidence object */
  const cs_wc_verdict *v; /* NULL: not analysable */
  const char *analysis_error;
  const cs_outcome *outcome; /* the verdict's, or undetermined when not analysable */
} wc_keys;

static void write_keys(cs_jw *w, void *arg) {
  const wc_keys *k = arg;
  if (k->ev->len >= 2) cs_jw_raw_members(w, (const char *)k->ev->data + 1, k->ev->len - 2);
  if (k->m->cfg->locate) { /* issue 14: x_locate on blocked results only */
    cs_jw_key(w, "x_locate");
    if (k->m->loc) cs_locate_write(k->m->loc, w);
    else cs_jw_null(w);
    if (!k->m->loc) cs_jw_kstr(w, "x_locate_reason", k->m->loc_reason);
    else cs_jw_kstr(w, "x_locate_trigger", k->m->loc_trigger);
    if (k->m->loc) cs_jw_kstr(w, "x_locate_target", k->m->loc_name);
  }
  if (k->v) {
    cs_wc_verdict_write(w, k->v); /* the outcome keys included */
  } else {
    cs_jw_knull(w, "blocking");
    cs_jw_knull(w, "accessible");
    cs_jw_kstr(w, "x_analysis_error", k->analysis_error);
    cs_outcome_write(w, k->outcome);
  }
}

static void on_locate(void *arg, cs_locate *lc) {
  wc *m = arg;
  (void)lc;
  m->loc_phase = 2;
  cs_defer_call(m->l, &m->fin, finish_cb, m);
}

/* --locate: on a blocked result, starts the replay and returns true (finish_cb runs again when
 * it is over); else records why not and returns false. */
static bool locate_step(wc *m, bool analysed, const cs_outcome *o) {
  m->loc_phase = 2;
  if (!analysed || !o->censorship) {
    m->loc_reason = analysed ? cs_arena_printf(m->t->a, "not blocked (%s): no trace", o->key)
                             : "no verdict: no trace";
    return false;
  }
  cs_locate_opts lo;
  const char *why = NULL;
  if (m->url_error || cs_wc_locate_plan(m->t, &m->url, o->key, NULL, &lo, &why) != 1) {
    m->loc_reason = why ? why : m->url_error ? "no URL" : "out of memory";
    return false;
  }
  m->loc_trigger = cs_locate_trig_str(lo.trig);
  m->loc_name = lo.name;
  m->loc = cs_locate_start(m->l, m->t->a, &lo, on_locate, m, &why);
  if (!m->loc) {
    m->loc_reason = why;
    return false;
  }
  m->loc_phase = 1;
  return true;
}

static void finish_cb(cs_defer *d) {
  wc *m = d->data;
  const cs_wc_cfg *cfg = m->cfg;
  cs_buf ev;
  cs_buf_init(&ev, 0);
  cs_jw w;
  cs_jw_init(&w, &ev);
  cs_jw_obj_open(&w);
  write_evidence(m, &w);
  cs_jw_obj_close(&w);

  /* The verdict is computed from the serialised evidence, like `censorscope analyze`. */
  cs_wc_verdict v;
  memset(&v, 0, sizeof v);
  cs_arena *a = cs_arena_new(0);
  char err[160];
  cs_jval *tk = a && !ev.overflow
                    ? cs_json_parse(a, (const char *)ev.data, ev.len, NULL, err, sizeof err)
                    : NULL;
  if (!a || ev.overflow) snprintf(err, sizeof err, "out of memory");
  cs_wc_options opt = {.fingerprints = cfg->fingerprints, .probe_cc = cfg->probe->probe_cc};
  bool analysed = tk && cs_wc_analyze_test_keys(a, tk, m->input, CS_WC_TEST_VERSION, &opt, &v) == 0;
  if (cfg->locate && m->loc_phase == 0 && locate_step(m, analysed, &v.outcome)) {
    cs_arena_free(a); /* the verdict is computed again, from the same records, afterwards */
    cs_buf_free(&ev);
    return;
  }

  cs_buf ann;
  cs_buf_init(&ann, 4096);
  cs_jw aw;
  cs_jw_init(&aw, &ann);
  cs_jw_obj_open(&aw);
  cs_jw_kstr(&aw, "engine_name", "libcensorscope");
  if (m->category) cs_jw_kstr(&aw, "category_code", m->category);
  cs_jw_obj_close(&aw);
  cs_buf thj;
  cs_buf_init(&thj, 4096);
  if (m->th_used) {
    cs_jw tw;
    cs_jw_init(&tw, &thj);
    cs_jw_obj_open(&tw);
    cs_jw_key(&tw, "backend");
    cs_jw_obj_open(&tw);
    cs_jw_kstr(&tw, "address", m->th_used);
    cs_jw_kstr(&tw, "type", strncmp(m->th_used, "https:", 6) ? "http" : "https");
    cs_jw_obj_close(&tw);
    cs_jw_obj_close(&tw);
  }
  const char *why = tk ? "not analysable" : err;
  cs_outcome undetermined = {.key = CS_OUTCOME_UNDETERMINED, .censorship = false, .evidence = why};
  wc_keys k = {.m = m,
               .ev = &ev,
               .v = analysed ? &v : NULL,
               .analysis_error = why,
               .outcome = analysed ? &v.outcome : &undetermined};
  /* The outcome is the verdict's, computed once by the analysis (no re-parse). */
  cs_meas_out o = {.annotations_json = cs_buf_cstr(&ann),
                   .test_helpers_json = m->th_used ? cs_buf_cstr(&thj) : NULL,
                   .write_keys = write_keys,
                   .ctx = &k,
                   .outcome = k.outcome};
  cs_meas_finish(&m->b, &o);
  cs_arena_free(a);
  cs_buf_free(&ann);
  cs_buf_free(&thj);
  cs_buf_free(&ev);
  cs_buf_free(&m->th_req);
  cs_locate_free(m->loc);
  free(m->control);
  free(m);
}

/* ---- control --------------------------------------------------------------------------- */

static void th_next(wc *m);

static void on_th(void *arg, const char *failure, const char *json, size_t len) {
  wc *m = arg;
  m->th = NULL;
  m->th_job = NULL;
  if (!failure) {
    m->control = malloc(len + 1);
    if (m->control) {
      memcpy(m->control, json, len);
      m->control[len] = 0;
      m->control_len = len;
      m->control_failure = NULL;
      m->th_used = m->cfg->th[m->th_idx];
    } else {
      m->control_failure = CS_FAILURE_OOM;
    }
    m->th_done = true;
    maybe_finish(m);
    return;
  }
  m->control_failure = cs_arena_strdup(m->t->a, failure);
  m->th_idx++;
  th_next(m);
}

static void th_next(wc *m) {
  if (m->th_idx >= m->cfg->nth) {
    if (!m->control_failure)
      m->control_failure = CS_FAILURE_UNKNOWN_CONST("no test helper configured");
    m->th_done = true;
    maybe_finish(m);
    return;
  }
  cs_th_client *pool = m->cfg->pool[m->th_idx];
  if (pool)
    m->th_job = cs_th_client_query(pool, (const char *)m->th_req.data, m->th_req.len, on_th, m);
  else
    m->th = cs_th_query(m->l, m->cfg->probe->tls, m->cfg->th[m->th_idx],
                        (const char *)m->th_req.data, m->th_req.len, m->cfg->th_timeout, on_th, m);
  if (!m->th && !m->th_job) {
    m->control_failure = CS_FAILURE_OOM;
    m->th_done = true;
    maybe_finish(m);
  }
}

static void start_control(wc *m) {
  /* OONI LTE: for each resolved address, addr:443 and addr:80, or addr:port when the URL
   * has an explicit port; sent even for https URLs (pc:webconnectivitylte/control.go). */
  const char *eps[2 * CS_DNS_MAX_ADDRS];
  size_t neps = 0;
  for (size_t i = 0; i < m->naddrs; i++) {
    char ep[CS_IPSTR_MAX + 8];
    if (m->url.explicit_port) {
      cs_endpoint_format(&m->addrs[i], m->url.port, ep, sizeof ep);
      eps[neps++] = cs_arena_strdup(m->t->a, ep);
    } else {
      cs_endpoint_format(&m->addrs[i], 443, ep, sizeof ep);
      eps[neps++] = cs_arena_strdup(m->t->a, ep);
      cs_endpoint_format(&m->addrs[i], 80, ep, sizeof ep);
      eps[neps++] = cs_arena_strdup(m->t->a, ep);
    }
  }
  for (size_t i = 0; i < neps; i++)
    if (!eps[i]) neps = 0; /* out of memory: send no endpoints rather than garbage */
  const cs_http_hdr hdrs[] = {{"Accept", CS_HTTP_ACCEPT},
                              {"Accept-Language", CS_HTTP_ACCEPT_LANGUAGE},
                              {"User-Agent", CS_HTTP_USER_AGENT}};
  const char *url = cs_url_format(m->t->a, &m->url);
  if (!url || cs_th_request_build_ext(&m->th_req, url, hdrs, 3, eps, neps, false,
                                      cs_wc_forensics_ext(&m->url)) < 0) {
    m->control_failure = CS_FAILURE_UNKNOWN_CONST("cannot build the control request");
    m->th_done = true;
    maybe_finish(m);
    return;
  }
  th_next(m);
}

/* ---- probe-side fetch ------------------------------------------------------------------ */

static void on_fetch(void *arg, const cs_fetch_result *r) {
  wc *m = arg;
  m->fetch = NULL;
  m->http_failure = r->failure;
  m->final = r->final;
  m->fetch_done = true;
  maybe_finish(m);
}

static void after_dns(wc *m) {
  start_control(m);
  if (m->naddrs == 0) { /* OONI: no HTTP step without addresses */
    m->fetch_done = true;
    maybe_finish(m);
    return;
  }
  cs_probe_fetch_opts(m->cfg->probe, &m->fo, NULL);
  m->fo.addrs = m->addrs;
  m->fo.naddrs = m->naddrs;
  m->fo.skip_loopback = true; /* OONI never dials loopback (webconnectivitylte ipfiltering.go) */
  m->fo.speed_samples =
      true; /* OONI's speed samples (webconnectivitylte uses throttling.Sampler) */
  m->fetch = cs_fetch_start(m->l, m->t, cs_url_format(m->t->a, &m->url), &m->fo, on_fetch, m);
  if (!m->fetch) {
    m->fetch_done = true;
    maybe_finish(m);
  }
}

static void on_dns(void *arg, const cs_dns_result *r) {
  wc *m = arg;
  m->dns = NULL;
  m->naddrs = r->naddrs < CS_DNS_MAX_ADDRS ? r->naddrs : CS_DNS_MAX_ADDRS;
  m->addrs = m->naddrs ? cs_arena_memdup(m->t->a, r->addrs, m->naddrs * sizeof *m->addrs) : NULL;
  if (m->naddrs && !m->addrs) { /* the DNS step is recorded; nothing else can be */
    abandon(m, CS_FAILURE_OOM);
    return;
  }
  after_dns(m);
}

int cs_wc_start(cs_loop *l, const cs_wc_cfg *cfg, const char *url, const cs_wc_input_meta *meta,
                cs_meas_done done, void *arg) {
  wc *m = calloc(1, sizeof *m);
  if (!m) return -1;
  const cs_probe_cfg *p = cfg->probe;
  if (cs_meas_begin(&m->b, p, "web_connectivity", CS_WC_TEST_VERSION, url, done, arg) < 0) {
    free(m);
    return -1;
  }
  cs_meas_capture(&m->b, l); /* x_packets, x_middlebox (engine/capture.h) */
  m->t = m->b.t;
  m->input = m->b.input;
  m->cfg = cfg, m->l = l;
  m->category = meta && meta->category_code ? cs_arena_strdup(m->t->a, meta->category_code) : NULL;
  cs_buf_init(&m->th_req, 1u << 20);
  char err[128];
  if (!m->input || cs_url_parse(m->t->a, m->input, &m->url, err, sizeof err) < 0) {
    m->url_error = cs_arena_strdup(m->t->a, err);
    abandon(m, CS_FAILURE_UNKNOWN_CONST("invalid input URL"));
    return 0;
  }
  cs_ip ip;
  if (m->url.host_is_ip && cs_ip_parse(m->url.host, &ip)) {
    m->addrs = cs_arena_memdup(m->t->a, &ip, sizeof ip);
    m->naddrs = 1;
    if (!m->addrs) {
      abandon(m, CS_FAILURE_OOM);
      return 0;
    }
    after_dns(m);
    return 0;
  }
  const char *tags[] = {"depth=0"};
  cs_resolve_opts o = {.resolver = p->resolver,
                       .tls = p->tls,
                       .dns = {.timeout = p->dns_timeout,
                               .transaction_id = cs_trace_txid(m->t),
                               .tags = tags,
                               .ntags = 1}};
  m->dns = cs_resolve(l, m->t, &o, m->url.host, on_dns, m);
  if (!m->dns) abandon(m, CS_FAILURE_UNKNOWN_CONST("cannot start the DNS lookup"));
  return 0;
}

/* ---- registry entry --------------------------------------------------------------------- */

/* The settings of one run. */
typedef struct {
  cs_wc_cfg cfg;
  const char *fp_dir; /* --fingerprints */
  cs_fp_db *db;
} wc_settings;

static void *wc_create(void) { return calloc(1, sizeof(wc_settings)); }

static void wc_destroy(void *settings) {
  wc_settings *s = settings;
  if (!s) return;
  cs_fp_db_free(s->db);
  free(s);
}

static int set_th(void *settings, const char *arg, char *err, size_t errlen) {
  wc_settings *s = settings;
  if (s->cfg.nth == CS_WC_MAX_TH) {
    snprintf(err, errlen, "can be given at most %d times", CS_WC_MAX_TH);
    return -1;
  }
  s->cfg.th[s->cfg.nth++] = arg;
  return 0;
}

static int set_th_timeout(void *settings, const char *arg, char *err, size_t errlen) {
  wc_settings *s = settings;
  char *end;
  double d = strtod(arg, &end);
  if (*end || !(d > 0) || d > 3600) {
    snprintf(err, errlen, "needs seconds");
    return -1;
  }
  s->cfg.th_timeout = d;
  return 0;
}

static int set_fingerprints(void *settings, const char *arg, char *err, size_t errlen) {
  (void)err, (void)errlen;
  ((wc_settings *)settings)->fp_dir = arg;
  return 0;
}

static int set_locate(void *settings, const char *arg, char *err, size_t errlen) {
  (void)arg, (void)err, (void)errlen;
  ((wc_settings *)settings)->cfg.locate = true;
  return 0;
}

static const cs_optdef options[] = {
    {"th", 0, "URL",
     "control server (ours: `censorscope helper`, or OONI's); repeat to give fallbacks, tried "
     "in turn",
     true, set_th},
    {"th-timeout", 0, "S", "deadline of one control query (default 30)", false, set_th_timeout},
    {"fingerprints", 0, "DIR",
     "blockpage/DNS fingerprint data (default: $CS_FINGERPRINTS_DIR, else data/fingerprints of "
     "this source tree)",
     false, set_fingerprints},
    {"locate", 0, NULL,
     "on a blocked result only, find the hop where the censor sits: replay the trigger of the "
     "blocking method (DNS query, TLS ClientHello, HTTP request) with TTL 1, 2, ... as "
     "`censorscope locate` does, into test_keys.x_locate (at most 64 probes and 20 s per URL; "
     "TCP triggers need CAP_NET_RAW to name routers; docs/forensics.md)",
     false, set_locate},
};

/* The fingerprint directory: option, then $CS_FINGERPRINTS_DIR, then data/fingerprints of
 * the source tree this binary was built in (build/<kind>/censorscope), then ./data/... */
static int wc_prepare(void *settings, const cs_probe_cfg *probe, char *err, size_t errlen) {
  wc_settings *s = settings;
  (void)probe;
  if (s->cfg.nth == 0) {
    snprintf(err, errlen, "give a control server with --th URL");
    return -1;
  }
  char path[4096], e[256];
  const char *dir = s->fp_dir ? s->fp_dir : getenv("CS_FINGERPRINTS_DIR");
  if (!dir) {
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n > 0) {
      path[n] = 0;
      char *p = strrchr(path, '/'); /* .../build/<kind>/censorscope -> .../build/<kind> */
      if (p) *p = 0, p = strrchr(path, '/');
      if (p) *p = 0, p = strrchr(path, '/');
      if (p) {
        *p = 0;
        char repo[4096 + 32];
        snprintf(repo, sizeof repo, "%s/data/fingerprints", path);
        if (strlen(repo) < sizeof path && access(repo, R_OK) == 0) {
          memcpy(path, repo, strlen(repo) + 1);
          dir = path;
        }
      }
    }
    if (!dir) dir = "data/fingerprints";
  }
  s->db = cs_fp_db_load(dir, e, sizeof e);
  if (!s->db)
    fprintf(stderr,
            "web_connectivity: no blockpage fingerprints (%s): %s; verdicts will not "
            "be confirmed\n",
            dir, e);
  s->cfg.fingerprints = s->db;
  return 0;
}

/* One pooled, pipelined client per control server for the whole run, so the control
 * queries of thousands of URLs share a few keep-alive connections: parallel/16 + 1
 * connections per server, at most 16. */
static void wc_loop_ready(void *settings, cs_loop *l, const cs_probe_cfg *probe, size_t parallel) {
  wc_settings *s = settings;
  size_t conns = parallel / 16 + 1;
  if (conns > 16) conns = 16;
  s->cfg.probe = probe;
  cs_th_client_opts o = {.max_conns = conns, .timeout = s->cfg.th_timeout};
  for (size_t i = 0; i < s->cfg.nth; i++) {
    char err[160];
    s->cfg.pool[i] = cs_th_client_new(l, probe->tls, s->cfg.th[i], &o, err, sizeof err);
    if (!s->cfg.pool[i]) fprintf(stderr, "web_connectivity: %s: %s\n", s->cfg.th[i], err);
  }
}

static void wc_loop_done(void *settings) {
  wc_settings *s = settings;
  for (size_t i = 0; i < s->cfg.nth; i++) {
    cs_th_client_free(s->cfg.pool[i]);
    s->cfg.pool[i] = NULL;
  }
}

static int wc_entry_start(cs_loop *l, void *settings, const cs_probe_cfg *probe,
                          const cs_nettest_input *in, cs_meas_done done, void *arg) {
  wc_settings *s = settings;
  s->cfg.probe = probe;
  cs_wc_input_meta meta = {.category_code = in->category};
  return cs_wc_start(l, &s->cfg, in->input, &meta, done, arg);
}

static int wc_analyze(cs_arena *a, const cs_jval *m, const cs_analysis_opts *opt, cs_jw *w,
                      cs_outcome *out) {
  *out = (cs_outcome){.key = CS_OUTCOME_UNDETERMINED};
  if (!cs_json_get(m, "test_keys")) return -1;
  cs_wc_options o = {.fingerprints = opt ? opt->fingerprints : NULL,
                     .ooni_strict = opt && opt->ooni_strict,
                     .probe_cc = opt ? opt->probe_cc : NULL};
  const char *algo = opt && opt->algo ? opt->algo : "auto";
  o.algo = !strcmp(algo, "lte")      ? CS_WC_ALGO_LTE
           : !strcmp(algo, "v0.4")   ? CS_WC_ALGO_V04
           : !strcmp(algo, "legacy") ? CS_WC_ALGO_LEGACY
                                     : CS_WC_ALGO_AUTO;
  cs_wc_obs obs;
  if (cs_wc_obs_read(a, m, &obs) < 0) return -1;
  cs_wc_verdict v;
  cs_wc_verdict_compute(a, &obs, &o, &v);
  if (w) cs_wc_verdict_write(w, &v);
  *out = v.outcome;
  return 0;
}

const cs_nettest cs_nettest_web_connectivity = {
    .name = "web_connectivity",
    .version = CS_WC_TEST_VERSION,
    .summary = "detect blocking of URLs with a control server (OONI web_connectivity)",
    .help =
        "For each URL: resolve it with the system resolver, ask a control server (test helper)\n"
        "what an uncensored vantage point sees, connect to every resolved address (TCP, plus TLS\n"
        "for https), GET with redirects, and compare. Prints one OONI web_connectivity\n"
        "measurement per line with the raw evidence and OONI's verdict keys (dns_consistency,\n"
        "body_length_match, ..., blocking, accessible), plus censorscope's extras (x_analysis_*,\n"
        "x_blockpage*: confirmed blockpage fingerprints, opt-in filters, server-side blocks)\n"
        "and the outcome (x_outcome, x_censorship, x_evidence).",
    .synopsis = "--th URL (URL... | -f LIST)",
    .input = CS_INPUT_URL,
    .db_by_default = true,
    .lines_by_default = false,
    .opts = options,
    .nopts = sizeof options / sizeof *options,
    .outcomes = cs_wc_outcome_defs, /* analysis/wc_outcome.c: the report's labels too */
    .noutcomes = CS_WC_OUT_N,
    .create = wc_create,
    .destroy = wc_destroy,
    .prepare = wc_prepare,
    .loop_ready = wc_loop_ready,
    .loop_done = wc_loop_done,
    .start = wc_entry_start,
    .analyze = wc_analyze,
    .report = &cs_report_wc_section, /* confirmed blockpages and opt-in filters */
};
