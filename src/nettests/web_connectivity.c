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

#include "analysis/wc_analysis.h"
#include "engine/dns.h"
#include "engine/fetch.h"
#include "engine/http.h"
#include "engine/resolve.h"
#include "nettests/wc_control.h"
#include "record/record.h"
#include "util/failure.h"
#include "util/timeutil.h"
#include "util/url.h"

typedef struct {
  const cs_wc_cfg *cfg;
  cs_loop *l;
  cs_trace *t;
  cs_meas_cb done;
  void *arg;
  time_t start_wall;
  const char *input, *category;
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
  cs_defer fin;
} wc;

static void finish_cb(cs_defer *d);

static void maybe_finish(wc *m) {
  if (m->th_done && m->fetch_done) cs_defer_call(m->l, &m->fin, finish_cb, m);
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
  if (m->th_req.len && !m->th_req.overflow) cs_jw_raw(w, (const char *)m->th_req.data, m->th_req.len);
  else cs_jw_null(w);
  cs_jw_key(w, "control");
  if (m->control) cs_jw_raw(w, m->control, m->control_len);
  else cs_jw_null(w);
  cs_jw_kstr(w, "control_failure", m->control_failure);
  if (m->url_error) cs_jw_kstr(w, "x_input_error", m->url_error);
}

static void finish_cb(cs_defer *d) {
  wc *m = d->data;
  const cs_wc_cfg *cfg = m->cfg;
  cs_buf ev, out;
  cs_buf_init(&ev, 0);
  cs_buf_init(&out, 0);
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
  cs_jval *tk = a && !ev.overflow ? cs_json_parse(a, (const char *)ev.data, ev.len, NULL, err,
                                                  sizeof err)
                                  : NULL;
  cs_wc_options opt = {.fingerprints = cfg->fingerprints, .probe_cc = cfg->probe.probe_cc};
  bool analysed = tk && cs_wc_analyze_test_keys(a, tk, m->input, CS_WC_TEST_VERSION, &opt, &v) == 0;

  char rid[128];
  const char *report_id = cfg->probe.report_id;
  if (!report_id) {
    cs_probe_report_id(rid, sizeof rid, "web_connectivity", cfg->probe.probe_cc,
                       cfg->probe.probe_asn, cfg->probe.test_start);
    report_id = rid;
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
  cs_envelope env = {
      .test_name = "web_connectivity",
      .test_version = CS_WC_TEST_VERSION,
      .input = m->input,
      .measurement_start = m->start_wall,
      .test_start = cfg->probe.test_start ? cfg->probe.test_start : m->start_wall,
      .test_runtime = cs_trace_rel(m->t, cs_mono_now()),
      .probe_asn = cfg->probe.probe_asn,
      .probe_cc = cfg->probe.probe_cc,
      .probe_network_name = cfg->probe.probe_network_name,
      .report_id = report_id,
      .software_name = "censorscope",
      .software_version = cfg->probe.software_version,
      .annotations_json = cs_buf_cstr(&ann),
      .test_helpers_json = m->th_used ? cs_buf_cstr(&thj) : NULL,
  };
  cs_jw ow;
  cs_jw_init(&ow, &out);
  cs_envelope_begin(&ow, &env);
  if (ev.len >= 2) cs_jw_raw_members(&ow, (const char *)ev.data + 1, ev.len - 2);
  if (analysed) {
    cs_wc_verdict_write(&ow, &v);
  } else {
    cs_jw_knull(&ow, "blocking");
    cs_jw_knull(&ow, "accessible");
    cs_jw_kstr(&ow, "x_analysis_error", tk ? "not analysable" : err);
  }
  cs_envelope_end(&ow);
  size_t n = 0;
  char *clean = out.overflow ? NULL : cs_probe_scrub_self((const char *)out.data, out.len, &n);
  if (clean) m->done(m->arg, clean, n);
  else m->done(m->arg, "{\"error\":\"out of memory writing the measurement\"}", 51);
  free(clean);
  cs_arena_free(a);
  cs_buf_free(&ann);
  cs_buf_free(&thj);
  cs_buf_free(&ev);
  cs_buf_free(&out);
  cs_buf_free(&m->th_req);
  free(m->control);
  cs_trace_free(m->t);
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
      m->control_failure = "unknown_failure: out of memory";
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
    if (!m->control_failure) m->control_failure = "unknown_failure: no test helper configured";
    m->th_done = true;
    maybe_finish(m);
    return;
  }
  cs_th_client *pool = m->cfg->pool[m->th_idx];
  if (pool)
    m->th_job = cs_th_client_query(pool, (const char *)m->th_req.data, m->th_req.len, on_th, m);
  else
    m->th = cs_th_query(m->l, m->cfg->probe.tls, m->cfg->th[m->th_idx],
                        (const char *)m->th_req.data, m->th_req.len, m->cfg->th_timeout, on_th, m);
  if (!m->th && !m->th_job) {
    m->control_failure = "unknown_failure: out of memory";
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
  if (!url || cs_th_request_build(&m->th_req, url, hdrs, 3, eps, neps, false) < 0) {
    m->control_failure = "unknown_failure: cannot build the control request";
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
  const cs_probe_cfg *p = &m->cfg->probe;
  m->fo = (cs_fetch_opts){
      .resolver = p->resolver,
      .sni = p->sni,
      .tls = p->tls,
      .dns_timeout = p->dns_timeout,
      .tcp_timeout = p->tcp_timeout,
      .tls_timeout = p->tls_timeout,
      .http_timeout = p->http_timeout,
      .max_redirects = p->max_redirects,
      .addrs = m->addrs,
      .naddrs = m->naddrs,
      .skip_loopback = true, /* OONI never dials loopback (webconnectivitylte ipfiltering.go) */
  };
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
    abandon(m, "unknown_failure: out of memory");
    return;
  }
  after_dns(m);
}

int cs_wc_start(cs_loop *l, const cs_wc_cfg *cfg, const char *url, const cs_wc_input_meta *meta,
                cs_meas_cb done, void *arg) {
  wc *m = calloc(1, sizeof *m);
  if (!m) return -1;
  const cs_probe_cfg *p = &cfg->probe;
  m->t = cs_trace_new(cs_mono_now(), p->arena_limit ? p->arena_limit : (64u << 20));
  if (!m->t) {
    free(m);
    return -1;
  }
  m->cfg = cfg, m->l = l, m->done = done, m->arg = arg;
  m->start_wall = time(NULL);
  m->input = cs_arena_strdup(m->t->a, url);
  m->category = meta && meta->category_code ? cs_arena_strdup(m->t->a, meta->category_code) : NULL;
  cs_buf_init(&m->th_req, 1u << 20);
  char err[128];
  if (!m->input || cs_url_parse(m->t->a, m->input, &m->url, err, sizeof err) < 0) {
    m->url_error = cs_arena_strdup(m->t->a, err);
    abandon(m, "unknown_failure: invalid input URL");
    return 0;
  }
  cs_ip ip;
  if (m->url.host_is_ip && cs_ip_parse(m->url.host, &ip)) {
    m->addrs = cs_arena_memdup(m->t->a, &ip, sizeof ip);
    m->naddrs = 1;
    if (!m->addrs) {
      abandon(m, "unknown_failure: out of memory");
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
  if (!m->dns) abandon(m, "unknown_failure: cannot start the DNS lookup");
  return 0;
}
