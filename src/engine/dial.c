/* dial.c - the dialer (see dial.h): TCP connect to a list of addresses, in parallel or one
 * after another, each followed by the TLS handshake when asked; keeps one connection.
 *
 * Each address is one attempt; an attempt runs the step chain connect -> [TLS] and ends ok or
 * with the failure of the step that failed. The steps record themselves (conn.c, tls.c); the
 * dialer adds no record, so a flow built on it records exactly what its steps record. */
#include "engine/dial.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/failure.h"

typedef struct {
  cs_dial *d;
  cs_ip ip;
  cs_conn *c;
  const char *failure, *failed_op;
  const cs_tls_rec *tls;
  bool ok, done;
} attempt;

struct cs_dial {
  cs_loop *l;
  cs_trace *t;
  cs_dial_opts o; /* a copy; o.tags points to the arena copy */
  uint16_t port;
  cs_dial_cb cb;
  void *arg;
  size_t natt, npending, next; /* next: sequential mode's next attempt */
  bool starting;               /* inside cs_dial_start: completion must be deferred */
  bool finished;
  const char *failure, *failed_op; /* a failure known before any attempt */
  cs_defer fin;
  attempt att[]; /* natt */
};

static const char *oom(void) { return CS_FAILURE_OOM; }

static void free_dial(cs_dial *d) {
  cs_defer_cancel(d->l, &d->fin);
  for (size_t i = 0; i < d->natt; i++) cs_conn_free(d->att[i].c);
  free(d);
}

/* Hands the winner (or the failure) to the caller and frees the dial. */
static void deliver(cs_dial *d) {
  attempt *win = NULL;
  size_t wi = 0;
  for (size_t i = 0; i < d->natt; i++) {
    if (d->att[i].ok && !win) {
      win = &d->att[i], wi = i;
      continue;
    }
    cs_conn_free(d->att[i].c); /* the losers, as soon as the choice is made */
    d->att[i].c = NULL;
  }
  cs_dial_result r = {.nattempts = d->natt};
  const char *failure = NULL;
  cs_conn *c = NULL;
  if (win) {
    c = win->c, win->c = NULL;
    r.tls = win->tls, r.index = wi;
  } else if (d->natt > 0) {
    failure = d->att[0].failure, r.failed_op = d->att[0].failed_op;
  } else {
    failure = d->failure, r.failed_op = d->failed_op;
  }
  if (!win && !failure) failure = cs_failure_str(CS_FAIL_UNKNOWN), r.failed_op = "connect";
  d->cb(d->arg, c, failure, &r);
  free_dial(d);
}

static void deliver_cb(cs_defer *df) { deliver(df->data); }

static void finish(cs_dial *d) {
  if (d->finished) return;
  d->finished = true;
  if (d->starting) cs_defer_call(d->l, &d->fin, deliver_cb, d);
  else deliver(d);
}

static void start_attempt(cs_dial *d, attempt *a);

/* An attempt ended (ok or not): decide what comes next. */
static void attempt_done(attempt *a, const char *failure, const char *op) {
  cs_dial *d = a->d;
  a->done = true;
  if (failure) {
    a->failure = failure, a->failed_op = op;
    if (d->o.mode == CS_DIAL_SEQUENTIAL) {
      cs_conn_free(a->c);
      a->c = NULL;
    }
  } else {
    a->ok = true;
  }
  if (d->o.mode == CS_DIAL_SEQUENTIAL) {
    if (a->ok || d->next == d->natt) finish(d);
    else start_attempt(d, &d->att[d->next++]);
    return;
  }
  if (--d->npending == 0) finish(d);
}

static void on_tls(cs_conn *c, const cs_tls_rec *rec, const char *failure, void *data) {
  (void)c;
  attempt *a = data;
  a->tls = rec;
  attempt_done(a, failure, "tls_handshake");
}

static void on_connect(cs_conn *c, const char *failure, void *data) {
  attempt *a = data;
  cs_dial *d = a->d;
  if (failure || !d->o.tls) {
    attempt_done(a, failure, "connect");
    return;
  }
  if (cs_tls_handshake(c, d->o.tls_ctx, &d->o.tls_opts, on_tls, a) < 0)
    attempt_done(a, CS_FAILURE_UNKNOWN_CONST("cannot start the TLS handshake"), "tls_handshake");
}

static void start_attempt(cs_dial *d, attempt *a) {
  cs_conn_opts co = {
      .connect_timeout = d->o.tcp_timeout,
      .max_events = d->o.max_events,
      .transaction_id =
          d->o.transaction_id == CS_DIAL_TXID_NEW ? cs_trace_txid(d->t) : d->o.transaction_id,
      .tags = d->o.tags,
      .ntags = d->o.ntags,
      .no_tcp_record = d->o.no_tcp_record,
      .observer = d->o.observer,
      .observer_arg = d->o.observer_arg,
      .speed_samples = d->o.speed_samples,
  };
  a->c = cs_conn_connect(d->l, d->t, &a->ip, d->port, &co, on_connect, a);
  if (!a->c) attempt_done(a, oom(), "connect");
}

static bool skipped(const cs_dial_opts *o, const cs_ip *ip) {
  return (o->skip_loopback && cs_ip_is_loopback(ip)) || (o->skip_bogons && cs_ip_is_bogon(ip));
}

bool cs_dial_endpoint_split(const char *ep, char *host, size_t hostcap, uint16_t *port) {
  if (!ep || !hostcap) return false;
  const char *h = ep, *colon;
  size_t hl;
  if (ep[0] == '[') { /* RFC 3986 §3.2.2 IP-literal */
    const char *rb = strchr(ep, ']');
    if (!rb || rb[1] != ':') return false;
    h = ep + 1, hl = (size_t)(rb - h), colon = rb + 1;
  } else {
    colon = strrchr(ep, ':');
    if (!colon || memchr(ep, ':', (size_t)(colon - ep))) return false; /* bare IPv6 */
    hl = (size_t)(colon - ep);
  }
  if (hl == 0 || hl >= hostcap) return false;
  char *end;
  unsigned long p = strtoul(colon + 1, &end, 10);
  if (*end || end == colon + 1 || colon[1] == '-' || colon[1] == '+' || p == 0 || p > 65535)
    return false;
  memcpy(host, h, hl);
  host[hl] = 0;
  *port = (uint16_t)p;
  return true;
}

cs_dial *cs_dial_start(cs_loop *l, cs_trace *t, const cs_dial_opts *o, cs_dial_cb cb, void *arg) {
  if (!l || !t || !o || !cb) return NULL;
  const cs_ip *addrs = o->addrs;
  size_t naddrs = o->addrs ? o->naddrs : 0;
  uint16_t port = o->port;
  const char *early = NULL; /* a failure known before dialling */
  cs_ip lit;
  if (o->endpoint) {
    char host[256];
    if (!cs_dial_endpoint_split(o->endpoint, host, sizeof host, &port)) {
      early = CS_FAILURE_UNKNOWN_CONST("invalid endpoint");
    } else if (cs_ip_parse(host, &lit)) {
      addrs = &lit, naddrs = 1;
    } else if (!naddrs) {
      early = CS_FAILURE_UNKNOWN_CONST(
          "no address to connect to"); /* a name the caller did not resolve */
    }
  }
  size_t max = o->max_addrs ? o->max_addrs : CS_DIAL_MAX_ADDRS;
  size_t n = 0;
  for (size_t i = 0; !early && i < naddrs && n < max; i++)
    if (!skipped(o, &addrs[i])) n++;
  cs_dial *d = calloc(1, sizeof *d + n * sizeof(attempt));
  if (!d) return NULL;
  d->l = l, d->t = t, d->o = *o, d->port = port, d->cb = cb, d->arg = arg;
  d->o.addrs = NULL, d->o.endpoint = NULL; /* copied below; the caller's may go away */
  if (o->ntags) {
    cs_rec_common rc = {0};
    cs_trace_tags(t, &rc, o->tags, o->ntags);
    d->o.tags = (const char *const *)rc.tags, d->o.ntags = rc.tags ? rc.ntags : 0;
  }
  for (size_t i = 0; i < naddrs && d->natt < n; i++) {
    if (skipped(o, &addrs[i])) continue;
    attempt *a = &d->att[d->natt++];
    a->d = d, a->ip = addrs[i];
  }
  d->starting = true;
  if (d->natt == 0) {
    /* every address was excluded (loopback for OONI's probe, bogons for the control) */
    d->failure = early ? early : CS_FAILURE_UNKNOWN_CONST("no address to connect to");
    d->failed_op = "connect";
    finish(d);
  } else if (o->mode == CS_DIAL_SEQUENTIAL) {
    start_attempt(d, &d->att[d->next++]);
  } else {
    d->npending = d->natt;
    for (size_t i = 0; i < d->natt; i++) start_attempt(d, &d->att[i]);
  }
  d->starting = false;
  return d;
}

void cs_dial_cancel(cs_dial *d) {
  if (d) free_dial(d);
}
