/* fetch.c - the fetch flow (see fetch.h): a small state machine driven by step callbacks. */
#include "engine/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/conn.h"
#include "engine/dial.h"
#include "engine/http.h"
#include "engine/resolve.h"
#include "util/failure.h"
#include "util/url.h"

struct cs_fetch {
  cs_loop *l;
  cs_trace *t;
  const cs_fetch_opts *o;
  cs_fetch_cb cb;
  void *arg;
  /* current hop */
  const char *cur_url, *prev_url;
  cs_url url;
  int depth, nredirects;
  const char *tag; /* "depth=N" */
  cs_resolve_req *dns;
  cs_dial *dial;
  cs_conn *http_conn;
  const cs_http_rec *final;
  const cs_conn_sample *samples; /* keep_samples: the last HTTP conn's, in the arena */
  size_t nsamples;
  /* outcome */
  const char *failure, *failed_op;
  cs_defer fin;
};

static void hop(cs_fetch *f, const char *url);

static void free_steps(cs_fetch *f) {
  cs_resolve_cancel(f->dns);
  f->dns = NULL;
  cs_dial_cancel(f->dial);
  f->dial = NULL;
  cs_conn_free(f->http_conn);
  f->http_conn = NULL;
}

static void finish_cb(cs_defer *d) {
  cs_fetch *f = d->data;
  cs_fetch_result r = {
      .failure = f->failure,
      .failed_op = f->failed_op,
      .nredirects = f->nredirects,
      .final_url = f->cur_url,
      .final = f->final,
      .samples = f->samples,
      .nsamples = f->nsamples,
  };
  f->cb(f->arg, &r);
  free_steps(f);
  free(f);
}

static void finish(cs_fetch *f, const char *failure, const char *op) {
  f->failure = failure;
  f->failed_op = failure ? op : NULL;
  cs_defer_call(f->l, &f->fin, finish_cb, f);
}

void cs_fetch_cancel(cs_fetch *f) {
  if (!f) return;
  cs_defer_cancel(f->l, &f->fin);
  free_steps(f);
  free(f);
}

/* ---- HTTP -------------------------------------------------------------------------------- */

static void on_http(cs_conn *c, const cs_http_rec *rec, const char *failure, void *data) {
  cs_fetch *f = data;
  if (f->o->keep_samples) { /* copied before the conn goes (throughput analysis) */
    size_t n = 0;
    const cs_conn_sample *sm = cs_conn_samples(c, &n);
    f->samples = n ? cs_arena_memdup(f->t->a, sm, n * sizeof *sm) : NULL;
    f->nsamples = f->samples ? n : 0;
  }
  cs_conn_free(c);
  f->http_conn = NULL;
  if (rec) f->final = rec;
  if (failure || !rec) {
    finish(f, failure ? failure : CS_FAILURE_OOM, "http_round_trip");
    return;
  }
  bool redirect = false;
  const char *loc = cs_http_location(f->t, rec, &redirect);
  if (!redirect || !loc) {
    finish(f, NULL, NULL); /* a final response (Go returns a 3xx without Location as is) */
    return;
  }
  int max = f->o->max_redirects > 0 ? f->o->max_redirects : CS_FETCH_MAX_REDIRECTS;
  const char *redirect_failure = NULL;
  char *next = NULL;
  if (f->nredirects >= max)
    redirect_failure =
        CS_FAILURE_UNKNOWN_CONST("stopped after too many redirects"); /* Go's error */
  else if (!(next = cs_url_resolve(f->t->a, f->cur_url, loc)))
    redirect_failure = "http_invalid_redirect_location_host";
  if (redirect_failure && !next && f->nredirects < max && f->o->keep_unfollowable_redirect) {
    finish(f, NULL, NULL);
    return;
  }
  if (redirect_failure) {
    /* As in OONI, the round trip whose redirect cannot be followed is the failed one: its
     * record keeps the response it got and carries the failure. */
    ((cs_http_rec *)rec)->failure = redirect_failure;
    finish(f, redirect_failure, "http_round_trip");
    return;
  }
  f->nredirects++;
  f->prev_url = f->cur_url;
  f->depth++;
  hop(f, next);
}

static void start_http(cs_fetch *f, cs_conn *c) {
  f->http_conn = c;
  cs_http_req req = {
      .url = f->cur_url,
      .host = cs_url_hostport(f->t->a, &f->url),
      .target = f->url.path,
      .referer = f->prev_url,
      .user_agent = f->o->user_agent,
      .timeout = f->o->http_timeout,
  };
  req.limits.body_cap = f->o->body_cap;
  if (!req.host || cs_http_get(c, &req, on_http, f) < 0) {
    cs_conn_free(c);
    f->http_conn = NULL;
    finish(f, CS_FAILURE_OOM, "http_round_trip");
  }
}

/* ---- connects (engine/dial.h: every address at once, the first that worked in order) ---- */

static void on_dial(void *arg, cs_conn *c, const char *failure, const cs_dial_result *r) {
  cs_fetch *f = arg;
  f->dial = NULL;
  if (!c) {
    finish(f, failure, r->failed_op);
    return;
  }
  start_http(f, c);
}

static void connect_all(cs_fetch *f, const cs_ip *addrs, size_t n) {
  const char *tags[] = {f->tag};
  cs_dial_opts o = {
      .addrs = addrs,
      .naddrs = n,
      .port = f->url.port,
      .mode = CS_DIAL_PARALLEL,
      .max_addrs = CS_FETCH_MAX_ADDRS,
      .skip_loopback = f->o->skip_loopback,
      .skip_bogons = f->o->skip_bogons,
      .tcp_timeout = f->o->tcp_timeout,
      .transaction_id = CS_DIAL_TXID_NEW,
      .tags = tags,
      .ntags = 1,
      .observer = f->o->observer,
      .observer_arg = f->o->observer_arg,
      .speed_samples = f->o->speed_samples,
  };
  /* We speak HTTP/1.1 only, so we offer only http/1.1 (OONI offers h2 too). */
  static const char *const alpn[] = {"http/1.1"};
  if (!strcmp(f->url.scheme, "https")) {
    o.tls = true;
    o.tls_ctx = f->o->tls;
    o.tls_opts = (cs_tls_opts){
        .sni = f->o->sni ? f->o->sni : f->url.host,
        .alpn = alpn,
        .nalpn = 1,
        .timeout = f->o->tls_timeout,
        .no_verify = f->o->no_verify,
    };
    if (f->url.host_is_ip && !f->o->sni)
      o.tls_opts.sni = NULL, o.tls_opts.verify_name = f->url.host;
  }
  f->dial = cs_dial_start(f->l, f->t, &o, on_dial, f);
  if (!f->dial) finish(f, CS_FAILURE_OOM, "connect");
}

/* ---- DNS --------------------------------------------------------------------------------- */

static void on_dns(void *arg, const cs_dns_result *r) {
  cs_fetch *f = arg;
  f->dns = NULL;
  if (r->naddrs == 0) {
    finish(f, r->failure ? r->failure : "dns_no_answer", "resolve");
    return;
  }
  connect_all(f, r->addrs, r->naddrs);
}

static void hop(cs_fetch *f, const char *url) {
  char err[128];
  f->cur_url = url;
  f->tag = cs_arena_printf(f->t->a, "depth=%d", f->depth);
  if (!f->tag) {
    finish(f, CS_FAILURE_OOM, "parse_url");
    return;
  }
  if (cs_url_parse(f->t->a, url, &f->url, err, sizeof err) < 0) {
    char msg[200];
    if (f->depth > 0) finish(f, "http_invalid_redirect_location_host", "http_round_trip");
    else finish(f, cs_arena_strdup(f->t->a, cs_failure_unknown(msg, sizeof msg, err)), "parse_url");
    return;
  }
  cs_ip ip;
  if (f->o->addrs && f->depth == 0) {
    connect_all(f, f->o->addrs, f->o->naddrs);
    return;
  }
  if (f->url.host_is_ip && cs_ip_parse(f->url.host, &ip)) {
    connect_all(f, &ip, 1);
    return;
  }
  const char *tags[] = {f->tag};
  cs_resolve_opts o = {
      .resolver = f->o->resolver,
      .tls = f->o->tls,
      .dns = {.timeout = f->o->dns_timeout,
              .transaction_id = cs_trace_txid(f->t),
              .tags = tags,
              .ntags = 1},
  };
  f->dns = cs_resolve(f->l, f->t, &o, f->url.host, on_dns, f);
  if (!f->dns) finish(f, CS_FAILURE_UNKNOWN_CONST("cannot start the DNS lookup"), "resolve");
}

cs_fetch *cs_fetch_start(cs_loop *l, cs_trace *t, const char *url, const cs_fetch_opts *opts,
                         cs_fetch_cb cb, void *arg) {
  cs_fetch *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->l = l, f->t = t, f->o = opts, f->cb = cb, f->arg = arg;
  hop(f, url);
  return f;
}
