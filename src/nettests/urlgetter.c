/* urlgetter.c - the urlgetter nettest (see urlgetter.h).
 *
 * One measurement is a small state machine driven by step callbacks:
 *   hop(url): parse -> resolve (or --address / IP literal) -> connect to every address
 *   (TCP [+ TLS]) concurrently -> GET over the first address that worked -> on a redirect,
 *   hop(location) at depth+1 -> finish.
 * Every step records into the measurement's trace; this file only decides what to do next,
 * never why something failed. finish() runs from a deferred call so no step is still on the
 * stack when the trace is freed. */
#include "nettests/urlgetter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/conn.h"
#include "engine/dns.h"
#include "engine/http.h"
#include "engine/tls.h"
#include "record/record.h"
#include "util/failure.h"
#include "util/ipnet.h"
#include "util/timeutil.h"
#include "util/url.h"

typedef struct ug ug;

typedef struct {
  ug *u;
  cs_conn *c;
  const char *failure, *failed_op;
  bool ok;
} ug_attempt;

struct ug {
  cs_loop *l;
  const cs_probe_cfg *cfg;
  cs_trace *t;
  cs_meas_cb done;
  void *arg;
  time_t start_wall;
  const char *input;
  /* current hop */
  const char *cur_url, *prev_url;
  cs_url url;
  int depth, nredirects;
  const char *tag; /* "depth=N" */
  cs_dns_req *dns;
  ug_attempt att[CS_URLGETTER_MAX_ADDRS];
  size_t natt, npending;
  cs_conn *http_conn;
  /* outcome */
  const char *failure, *failed_op;
  cs_defer fin;
};

static void hop(ug *u, const char *url);

static void finish_cb(cs_defer *d) {
  ug *u = d->data;
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_jw w;
  cs_jw_init(&w, &b);
  char rid[128];
  const char *report_id = u->cfg->report_id;
  if (!report_id) {
    cs_probe_report_id(rid, sizeof rid, "urlgetter", u->cfg->probe_cc, u->cfg->probe_asn,
                       u->cfg->test_start);
    report_id = rid;
  }
  cs_envelope env = {
      .test_name = "urlgetter",
      .test_version = CS_URLGETTER_VERSION,
      .input = u->input,
      .measurement_start = u->start_wall,
      .test_start = u->cfg->test_start ? u->cfg->test_start : u->start_wall,
      .test_runtime = cs_trace_rel(u->t, cs_mono_now()),
      .probe_asn = u->cfg->probe_asn,
      .probe_cc = u->cfg->probe_cc,
      .probe_network_name = u->cfg->probe_network_name,
      .report_id = report_id,
      .software_name = "censorscope",
      .software_version = u->cfg->software_version,
      .annotations_json = "{\"engine_name\":\"libcensorscope\"}",
  };
  cs_envelope_begin(&w, &env);
  cs_jw_kstr(&w, "agent", "redirect");
  cs_jw_kstr(&w, "failed_operation", u->failed_op);
  cs_jw_kstr(&w, "failure", u->failure);
  cs_jw_knull(&w, "socksproxy");
  cs_jw_kint(&w, "x_redirects", u->nredirects);
  cs_write_trace_keys(&w, u->t);
  cs_envelope_end(&w);
  size_t n = 0;
  char *clean = b.overflow ? NULL : cs_probe_scrub_self((const char *)b.data, b.len, &n);
  cs_buf_free(&b);
  if (clean) u->done(u->arg, clean, n);
  else u->done(u->arg, "{\"error\":\"out of memory writing the measurement\"}", 51);
  free(clean);
  cs_trace_free(u->t);
  free(u);
}

static void finish(ug *u, const char *failure, const char *op) {
  u->failure = failure;
  u->failed_op = failure ? op : NULL;
  cs_defer_call(u->l, &u->fin, finish_cb, u);
}

/* ---- HTTP -------------------------------------------------------------------------------- */

static void on_http(cs_conn *c, const cs_http_rec *rec, const char *failure, void *data) {
  ug *u = data;
  cs_conn_free(c);
  u->http_conn = NULL;
  if (failure || !rec) {
    finish(u, failure ? failure : "unknown_failure: out of memory", "http_round_trip");
    return;
  }
  bool redirect = false;
  const char *loc = cs_http_location(u->t, rec, &redirect);
  if (!redirect || !loc) {
    finish(u, NULL, NULL); /* a final response (Go returns a 3xx without Location as is) */
    return;
  }
  int max = u->cfg->max_redirects > 0 ? u->cfg->max_redirects : 10;
  if (u->nredirects >= max) {
    finish(u, "unknown_failure: stopped after too many redirects", "http_round_trip");
    return;
  }
  char *next = cs_url_resolve(u->t->a, u->cur_url, loc);
  if (!next) {
    finish(u, "http_invalid_redirect_location_host", "http_round_trip");
    return;
  }
  u->nredirects++;
  u->prev_url = u->cur_url;
  u->depth++;
  hop(u, next);
}

static void start_http(ug *u, cs_conn *c) {
  u->http_conn = c;
  cs_http_req req = {
      .url = u->cur_url,
      .host = cs_url_hostport(u->t->a, &u->url),
      .target = u->url.path,
      .referer = u->prev_url,
      .timeout = u->cfg->http_timeout,
  };
  if (!req.host || cs_http_get(c, &req, on_http, u) < 0) {
    cs_conn_free(c);
    u->http_conn = NULL;
    finish(u, "unknown_failure: out of memory", "http_round_trip");
  }
}

/* ---- connects ---------------------------------------------------------------------------- */

static void attempt_done(ug_attempt *a) {
  ug *u = a->u;
  if (--u->npending > 0) return;
  ug_attempt *win = NULL;
  for (size_t i = 0; i < u->natt; i++) {
    if (u->att[i].ok && !win) win = &u->att[i];
    else if (u->att[i].c) cs_conn_free(u->att[i].c);
    if (&u->att[i] != win) u->att[i].c = NULL;
  }
  if (!win) {
    finish(u, u->att[0].failure, u->att[0].failed_op);
    return;
  }
  cs_conn *c = win->c;
  win->c = NULL;
  start_http(u, c);
}

static void on_tls(cs_conn *c, const cs_tls_rec *rec, const char *failure, void *data) {
  (void)c, (void)rec;
  ug_attempt *a = data;
  if (failure) {
    a->failure = failure;
    a->failed_op = "tls_handshake";
  } else {
    a->ok = true;
  }
  attempt_done(a);
}

static void on_connect(cs_conn *c, const char *failure, void *data) {
  ug_attempt *a = data;
  ug *u = a->u;
  if (failure) {
    a->failure = failure;
    a->failed_op = "connect";
    attempt_done(a);
    return;
  }
  if (strcmp(u->url.scheme, "https") != 0) {
    a->ok = true;
    attempt_done(a);
    return;
  }
  static const char *const alpn[] = {"http/1.1"};
  cs_tls_opts o = {
      .sni = u->cfg->sni ? u->cfg->sni : u->url.host,
      .alpn = alpn,
      .nalpn = 1,
      .timeout = u->cfg->tls_timeout,
  };
  if (u->url.host_is_ip && !u->cfg->sni) o.sni = NULL, o.verify_name = u->url.host;
  if (cs_tls_handshake(c, u->cfg->tls, &o, on_tls, a) < 0) {
    a->failure = "unknown_failure: cannot start the TLS handshake";
    a->failed_op = "tls_handshake";
    attempt_done(a);
  }
}

static void connect_all(ug *u, const cs_ip *addrs, size_t n) {
  if (n > CS_URLGETTER_MAX_ADDRS) n = CS_URLGETTER_MAX_ADDRS;
  u->natt = n;
  u->npending = n;
  const char *tags[] = {u->tag};
  for (size_t i = 0; i < n; i++) {
    ug_attempt *a = &u->att[i];
    memset(a, 0, sizeof *a);
    a->u = u;
    cs_conn_opts o = {
        .connect_timeout = u->cfg->tcp_timeout,
        .transaction_id = cs_trace_txid(u->t),
        .tags = tags,
        .ntags = 1,
    };
    a->c = cs_conn_connect(u->l, u->t, &addrs[i], u->url.port, &o, on_connect, a);
    if (!a->c) {
      a->failure = "unknown_failure: out of memory";
      a->failed_op = "connect";
      u->npending--;
    }
  }
  if (u->npending == 0) { /* every connect failed to start */
    u->npending = 1;
    attempt_done(&u->att[0]);
  }
}

/* ---- DNS --------------------------------------------------------------------------------- */

static void on_dns(void *arg, const cs_dns_result *r) {
  ug *u = arg;
  u->dns = NULL;
  if (r->naddrs == 0) {
    finish(u, r->failure ? r->failure : "dns_no_answer", "resolve");
    return;
  }
  connect_all(u, r->addrs, r->naddrs);
}

static void hop(ug *u, const char *url) {
  char err[128];
  u->cur_url = url;
  u->tag = cs_arena_printf(u->t->a, "depth=%d", u->depth);
  if (cs_url_parse(u->t->a, url, &u->url, err, sizeof err) < 0 || !u->tag) {
    char f[200];
    if (u->depth > 0) finish(u, "http_invalid_redirect_location_host", "http_round_trip");
    else finish(u, cs_arena_strdup(u->t->a, cs_failure_unknown(f, sizeof f, err)), "parse_url");
    return;
  }
  cs_ip ip;
  if (u->cfg->address && u->depth == 0) {
    if (!cs_ip_parse(u->cfg->address, &ip)) {
      finish(u, "unknown_failure: --address is not an IP address", "connect");
      return;
    }
    connect_all(u, &ip, 1);
    return;
  }
  if (u->url.host_is_ip && cs_ip_parse(u->url.host, &ip)) {
    connect_all(u, &ip, 1);
    return;
  }
  const char *tags[] = {u->tag};
  cs_dns_opts o = {
      .timeout = u->cfg->dns_timeout,
      .transaction_id = cs_trace_txid(u->t),
      .tags = tags,
      .ntags = 1,
  };
  u->dns = cs_dns_lookup_host(u->l, u->t, u->url.host, u->cfg->resolver, &o, on_dns, u);
  if (!u->dns) finish(u, "unknown_failure: unsupported resolver", "resolve");
}

int cs_urlgetter_start(cs_loop *l, const cs_probe_cfg *cfg, const char *url, cs_meas_cb done,
                       void *arg) {
  ug *u = calloc(1, sizeof *u);
  if (!u) return -1;
  u->t = cs_trace_new(cs_mono_now(), cfg->arena_limit ? cfg->arena_limit : (64u << 20));
  if (!u->t) {
    free(u);
    return -1;
  }
  u->l = l, u->cfg = cfg, u->done = done, u->arg = arg;
  u->start_wall = time(NULL);
  u->input = cs_arena_strdup(u->t->a, url);
  hop(u, u->input);
  return 0;
}
