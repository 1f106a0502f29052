/* wc_control.c - the probe side of the test-helper protocol (see wc_control.h): resolve the TH
 * host (cs_resolve, system resolver), connect to its addresses in order until one works with
 * TLS for https (cs_dial, sequential), write `POST / HTTP/1.1` (RFC 9112 §3, §6.2
 * Content-Length framing) and read the reply with the bounded cs_http_parser. Both clients
 * open their connections with the one connector below. The engine steps record into a small
 * private trace that is thrown away: the control exchange is not part of the measurement. */
#include "nettests/wc_control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/conn.h"
#include "engine/dial.h"
#include "engine/resolve.h"
#include "engine/httpparse.h"
#include "record/record.h"
#include "thproto/thproto.h"
#include "util/failure.h"
#include "util/ipnet.h"
#include "util/json.h"
#include "util/url.h"

#define TH_MAX_ADDRS 8
#define TH_TRACE_LIMIT (1u << 20)
#define TH_READ_CHUNK 16384

/* ---- connecting to the TH (both clients) ------------------------------------------------ */

/* c: the connected (and for https handshaken) conn, owned by the callee; NULL on failure with
 * the engine's failure string (valid while the trace lives). */
typedef void (*th_conn_cb)(void *arg, cs_conn *c, const char *failure);

typedef struct {
  cs_loop *l;
  cs_trace *t;
  const cs_url *url;
  cs_tls_ctx *tls;
  cs_resolve_req *res;
  cs_dial *dial;
  cs_ip addrs[TH_MAX_ADDRS];
  cs_dial_opts o; /* must outlive the dial */
  th_conn_cb cb;
  void *arg;
} th_connector;

static void th_on_dial(void *arg, cs_conn *c, const char *failure, const cs_dial_result *r) {
  (void)r;
  th_connector *k = arg;
  k->dial = NULL; /* frees itself after this returns */
  k->cb(k->arg, c, failure);
}

static void th_on_resolve(void *arg, const cs_dns_result *r) {
  th_connector *k = arg;
  k->res = NULL;
  size_t n = 0;
  for (size_t i = 0; i < r->naddrs && n < TH_MAX_ADDRS; i++) k->addrs[n++] = r->addrs[i];
  if (n == 0) {
    k->cb(k->arg, NULL, r->failure ? r->failure : cs_failure_str(CS_FAIL_DNS_NO_ANSWER));
    return;
  }
  static const char *const h1[] = {"http/1.1"};
  k->o = (cs_dial_opts){.addrs = k->addrs,
                        .naddrs = n,
                        .port = k->url->port,
                        .mode = CS_DIAL_SEQUENTIAL,
                        .max_addrs = TH_MAX_ADDRS,
                        .max_events = 1};
  if (!strcmp(k->url->scheme, "https")) {
    k->o.tls = true;
    k->o.tls_ctx = k->tls;
    k->o.tls_opts = (cs_tls_opts){.sni = k->url->host, .alpn = h1, .nalpn = 1};
    if (k->url->host_is_ip) k->o.tls_opts.sni = NULL, k->o.tls_opts.verify_name = k->url->host;
  }
  k->dial = cs_dial_start(k->l, k->t, &k->o, th_on_dial, k);
  if (!k->dial) k->cb(k->arg, NULL, CS_FAILURE_OOM);
}

/* Resolves url's host, then dials. cb runs once from a later loop iteration unless
 * th_connect_cancel() is called first. tls: trust store for https (the dial's tls_ctx).
 * Returns -1 (cb never called) when the lookup cannot start. */
static int th_connect(th_connector *k, cs_loop *l, cs_trace *t, const cs_url *url, cs_tls_ctx *tls,
                      th_conn_cb cb, void *arg) {
  *k = (th_connector){.l = l, .t = t, .url = url, .tls = tls, .cb = cb, .arg = arg};
  cs_resolve_opts ro = {.resolver = "system"};
  k->res = cs_resolve(l, t, &ro, url->host, th_on_resolve, k);
  return k->res ? 0 : -1;
}

static void th_connect_cancel(th_connector *k) {
  cs_resolve_cancel(k->res);
  k->res = NULL;
  cs_dial_cancel(k->dial);
  k->dial = NULL;
}

struct cs_th_req {
  cs_loop *l;
  cs_tls_ctx *tls;
  cs_trace *t;
  cs_url url;
  cs_buf req;
  th_connector k;
  cs_conn *c;
  cs_http_parser p;
  bool parser_init;
  uint8_t rbuf[TH_READ_CHUNK];
  cs_timer timer;
  cs_defer d;
  const char *failure;
  char detail[192];
  bool finished;
  cs_th_cb cb;
  void *arg;
};

static void stop_steps(cs_th_req *q) {
  th_connect_cancel(&q->k);
  cs_conn_free(q->c);
  q->c = NULL;
  cs_timer_stop(q->l, &q->timer);
}

static void free_req(cs_th_req *q) {
  stop_steps(q);
  cs_defer_cancel(q->l, &q->d);
  if (q->parser_init) cs_http_parser_free(&q->p);
  cs_buf_free(&q->req);
  cs_trace_free(q->t);
  free(q);
}

static void deliver_cb(cs_defer *d) {
  cs_th_req *q = d->data;
  if (q->failure) {
    q->cb(q->arg, q->failure, NULL, 0);
  } else {
    const char *body = cs_buf_cstr(&q->p.body);
    q->cb(q->arg, NULL, body, q->p.body.len);
  }
  free_req(q);
}

/* Ends the query (once): stops every step, then calls back from a deferred call. */
static void finish(cs_th_req *q, const char *failure) {
  if (q->finished) return;
  q->finished = true;
  q->failure = failure;
  stop_steps(q);
  cs_defer_call(q->l, &q->d, deliver_cb, q);
}

static const char *unknown(cs_th_req *q, const char *detail) {
  return cs_failure_unknown(q->detail, sizeof q->detail, detail);
}

static void on_timeout(cs_timer *t) { finish(t->data, cs_failure_str(CS_FAIL_GENERIC_TIMEOUT)); }

/* ---- reply ----------------------------------------------------------------------------- */

static void check_reply(cs_th_req *q) {
  if (q->p.code != 200) {
    finish(q, cs_failure_str(CS_FAIL_HTTP_REQUEST_FAILED));
    return;
  }
  const char *body = cs_buf_cstr(&q->p.body);
  if (q->p.truncated || !body) {
    finish(q, cs_failure_str(CS_FAIL_JSON_PARSE_ERROR));
    return;
  }
  cs_arena *a = cs_arena_new(64u << 20);
  if (!a) {
    finish(q, unknown(q, "out of memory"));
    return;
  }
  char err[64];
  cs_jval *v = cs_json_parse(a, body, q->p.body.len, NULL, err, sizeof err);
  cs_arena_free(a);
  finish(q, v ? NULL : cs_failure_str(CS_FAIL_JSON_PARSE_ERROR));
}

static void on_read(cs_conn *c, ssize_t n, const char *failure, void *data) {
  cs_th_req *q = data;
  cs_http_pstatus st;
  if (n > 0) {
    st = cs_http_parser_feed(&q->p, q->rbuf, (size_t)n, NULL);
  } else if (n == 0) {
    st = cs_http_parser_eof(&q->p);
    if (st == CS_HTTP_P_ERROR) {
      finish(q, cs_failure_str(CS_FAIL_EOF_ERROR));
      return;
    }
  } else {
    finish(q, failure ? failure : unknown(q, "read failed"));
    return;
  }
  if (st == CS_HTTP_P_DONE) check_reply(q);
  else if (st == CS_HTTP_P_ERROR) finish(q, unknown(q, q->p.error));
  else if (cs_conn_read(c, q->rbuf, sizeof q->rbuf, on_read, q) < 0)
    finish(q, unknown(q, "cannot read"));
}

static void on_write(cs_conn *c, ssize_t n, const char *failure, void *data) {
  (void)c, (void)n;
  cs_th_req *q = data;
  if (failure) finish(q, failure);
}

static void send_request(cs_th_req *q) {
  if (cs_conn_write(q->c, q->req.data, q->req.len, on_write, q) < 0 ||
      cs_conn_read(q->c, q->rbuf, sizeof q->rbuf, on_read, q) < 0)
    finish(q, unknown(q, "cannot start the request"));
}

/* ---- connect ----------------------------------------------------------------------------- */

static void on_connected(void *arg, cs_conn *c, const char *failure) {
  cs_th_req *q = arg;
  if (failure) {
    finish(q, failure);
    return;
  }
  q->c = c;
  send_request(q);
}

cs_th_req *cs_th_query(cs_loop *l, cs_tls_ctx *tls, const char *th_url, const char *request_json,
                       size_t len, double timeout, cs_th_cb cb, void *arg) {
  cs_th_req *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  q->l = l;
  q->tls = tls;
  q->cb = cb;
  q->arg = arg;
  cs_buf_init(&q->req, len + 4096);
  q->t = cs_trace_new(cs_loop_now(l), TH_TRACE_LIMIT);
  if (!q->t) {
    free_req(q);
    return NULL;
  }
  cs_http_limits lim = {.body_cap = CS_TH_MAX_RESPONSE};
  cs_http_parser_init(&q->p, &lim);
  q->parser_init = true;
  cs_timer_start(l, &q->timer, timeout > 0 ? timeout : CS_TH_TIMEOUT, on_timeout, q);

  char err[128];
  if (!th_url || cs_url_parse(q->t->a, th_url, &q->url, err, sizeof err) < 0) {
    finish(q, unknown(q, th_url ? err : "no TH URL"));
    return q;
  }
  if (!strcmp(q->url.scheme, "https") && !tls) {
    finish(q, unknown(q, "https TH without a trust store"));
    return q;
  }
  const char *hostport = cs_url_hostport(q->t->a, &q->url);
  cs_buf_printf(&q->req,
                "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: censorscope\r\n"
                "Accept: application/json\r\nContent-Type: application/json\r\n"
                "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                q->url.path, hostport ? hostport : "", len);
  cs_buf_append(&q->req, request_json, len);
  if (q->req.overflow || !hostport) {
    finish(q, unknown(q, "out of memory"));
    return q;
  }
  if (th_connect(&q->k, l, q->t, &q->url, q->tls, on_connected, q) < 0)
    finish(q, unknown(q, "cannot resolve"));
  return q;
}

/* ---- request builder: thproto's encoder, from the engine's header type ------------------ */

int cs_th_request_build(cs_buf *out, const char *url, const cs_http_hdr *headers, size_t nheaders,
                        const char *const *endpoints, size_t nendpoints, bool quic) {
  return cs_th_request_build_ext(out, url, headers, nheaders, endpoints, nendpoints, quic, 0);
}

int cs_th_request_build_ext(cs_buf *out, const char *url, const cs_http_hdr *headers,
                            size_t nheaders, const char *const *endpoints, size_t nendpoints,
                            bool quic, unsigned ext) {
  if (!out || (nheaders && !headers)) return -1;
  cs_th_hdr *h = nheaders ? malloc(nheaders * sizeof *h) : NULL;
  if (nheaders && !h) return -1;
  for (size_t i = 0; i < nheaders; i++) h[i] = (cs_th_hdr){headers[i].name, headers[i].value};
  cs_th_request r = {.url = url,
                     .headers = h,
                     .nheaders = nheaders,
                     .endpoints = endpoints,
                     .nendpoints = nendpoints,
                     .quic = quic,
                     .want_chain = (ext & CS_TH_EXT_CHAIN) != 0,
                     .want_body_sha256 = (ext & CS_TH_EXT_BODY_SHA256) != 0};
  int rc = cs_th_request_encode(out, &r);
  free(h);
  return rc;
}

/* ---- pooled client --------------------------------------------------------------------- */

#define POOL_CONNS 4
#define POOL_PIPELINE 8

typedef struct pconn pconn;

struct cs_th_job {
  cs_th_job *next;          /* in the client's wait queue or a connection's in-flight list */
  cs_th_job *aprev, *anext; /* every job of the client, whatever its state */
  cs_th_client *cl;
  pconn *pc; /* the connection carrying it, NULL while waiting */
  uint8_t *req;
  size_t reqlen;
  cs_th_cb cb;
  void *arg;
  cs_timer timer;
  cs_defer d;
  bool done; /* callback delivered (or being delivered) or cancelled */
  bool retried;
  const char *failure;
  char detail[192];
  char *body;
  size_t bodylen;
};

struct pconn {
  pconn *next;
  cs_th_client *cl;
  cs_trace *t;
  th_connector k;
  cs_conn *c;
  bool connected, closing, writing;
  cs_th_job *ih, *it; /* in flight, in request order */
  cs_th_job *wnext;   /* next job to write (in the in-flight list) */
  size_t n;           /* jobs in flight */
  cs_http_parser p;
  uint8_t rbuf[TH_READ_CHUNK];
};

struct cs_th_client {
  cs_loop *l;
  cs_tls_ctx *tls;
  cs_arena *a;
  cs_url url;
  const char *hostport;
  size_t max_conns, max_pipeline;
  double timeout;
  pconn *conns;
  size_t nconns;
  cs_th_job *wh, *wt; /* waiting */
  cs_th_job *all;     /* every live job (so that free finds those with a pending callback) */
  cs_defer kick;
  int in_cb; /* > 0 while a query callback runs */
  bool dead; /* cs_th_client_free was called from inside a callback */
};

static void client_free_now(cs_th_client *cl);

static void pool_dispatch(cs_th_client *cl);
static void pconn_start_read(pconn *pc);
static void pool_kick_cb(cs_defer *d) { pool_dispatch(d->data); }

static void job_free(cs_th_job *j) {
  cs_th_client *cl = j->cl;
  if (j->aprev) j->aprev->anext = j->anext;
  else cl->all = j->anext;
  if (j->anext) j->anext->aprev = j->aprev;
  cs_timer_stop(j->cl->l, &j->timer);
  cs_defer_cancel(j->cl->l, &j->d);
  free(j->req);
  free(j->body);
  free(j);
}

static void job_deliver_cb(cs_defer *d) {
  cs_th_job *j = d->data;
  cs_th_client *cl = j->cl;
  cl->in_cb++;
  j->cb(j->arg, j->failure, j->failure ? NULL : j->body, j->failure ? 0 : j->bodylen);
  cl->in_cb--;
  if (cl->dead) { /* the client was freed from inside the callback: finish that now */
    if (!j->pc) job_free(j);
    if (!cl->in_cb) client_free_now(cl);
    return;
  }
  if (!j->pc) job_free(j);
  else { /* still in a connection's pipeline: freed when its answer (or the end) comes */
    free(j->body);
    j->body = NULL;
  }
}

/* Completes a job (once): the callback runs from a deferred call. */
static void job_finish(cs_th_job *j, const char *failure) {
  if (j->done) return;
  j->done = true;
  cs_timer_stop(j->cl->l, &j->timer);
  if (failure && failure != j->detail) {
    snprintf(j->detail, sizeof j->detail, "%s", failure);
    failure = j->detail;
  }
  j->failure = failure;
  cs_defer_call(j->cl->l, &j->d, job_deliver_cb, j);
}

static void wait_remove(cs_th_client *cl, cs_th_job *j) {
  cs_th_job **pp = &cl->wh, *prev = NULL;
  while (*pp && *pp != j) prev = *pp, pp = &(*pp)->next;
  if (!*pp) return;
  *pp = j->next;
  if (cl->wt == j) cl->wt = prev;
  j->next = NULL;
}

static void pconn_free(pconn *pc) {
  cs_th_client *cl = pc->cl;
  pconn **pp = &cl->conns;
  while (*pp && *pp != pc) pp = &(*pp)->next;
  if (*pp) *pp = pc->next, cl->nconns--;
  th_connect_cancel(&pc->k);
  cs_conn_free(pc->c);
  cs_http_parser_free(&pc->p);
  cs_trace_free(pc->t);
  free(pc);
}

/* The connection is gone: requests that were sent are retried once elsewhere (a keep-alive
 * race is the usual cause); requests of a connection that never connected fail with its
 * connect failure. */
static void pconn_fail(pconn *pc, const char *failure) {
  cs_th_client *cl = pc->cl;
  cs_th_job *retry_h = NULL, *retry_t = NULL;
  for (cs_th_job *j = pc->ih, *n; j; j = n) {
    n = j->next;
    j->next = NULL;
    j->pc = NULL;
    if (j->done) {
      if (!j->d.queued) job_free(j); /* else freed by job_deliver_cb */
      continue;
    }
    if (pc->connected && !j->retried) {
      j->retried = true;
      if (retry_t) retry_t->next = j;
      else retry_h = j;
      retry_t = j;
    } else {
      job_finish(j, failure);
    }
  }
  pc->ih = pc->it = pc->wnext = NULL;
  pc->n = 0;
  if (retry_h) { /* back at the front of the queue, in order */
    retry_t->next = cl->wh;
    cl->wh = retry_h;
    if (!cl->wt) cl->wt = retry_t;
  }
  pconn_free(pc);
  cs_defer_call(cl->l, &cl->kick, pool_kick_cb, cl);
}

/* The answer at the head of the pipeline is complete. Returns false when pc was freed. */
static bool pconn_answer(pconn *pc) {
  cs_th_job *j = pc->ih;
  size_t vl;
  const uint8_t *conn = cs_http_parser_get(&pc->p, "Connection", &vl);
  if (conn && vl >= 5 && memmem(conn, vl, "close", 5)) pc->closing = true;
  if (!j) { /* an answer nobody asked for: the stream is out of sync */
    pconn_fail(pc, CS_FAILURE_UNKNOWN_CONST("unexpected response"));
    return false;
  }
  if (j == pc->wnext) { /* answered before we finished sending it (e.g. a 413) */
    pconn_fail(pc, CS_FAILURE_UNKNOWN_CONST("response before the request was sent"));
    return false;
  }
  pc->ih = j->next;
  if (!pc->ih) pc->it = NULL;
  pc->n--;
  j->next = NULL;
  j->pc = NULL;
  if (j->done) {
    if (!j->d.queued) job_free(j);
  } else {
    const char *f = NULL;
    if (pc->p.code != 200) f = cs_failure_str(CS_FAIL_HTTP_REQUEST_FAILED);
    else if (pc->p.truncated) f = cs_failure_str(CS_FAIL_JSON_PARSE_ERROR);
    else {
      cs_arena *a = cs_arena_new(64u << 20);
      char err[64];
      if (!a ||
          !cs_json_parse(a, (const char *)pc->p.body.data, pc->p.body.len, NULL, err, sizeof err))
        f = cs_failure_str(CS_FAIL_JSON_PARSE_ERROR);
      cs_arena_free(a);
    }
    if (!f) {
      j->body = malloc(pc->p.body.len + 1);
      if (!j->body) f = CS_FAILURE_OOM;
      else {
        memcpy(j->body, pc->p.body.data, pc->p.body.len);
        j->body[pc->p.body.len] = 0;
        j->bodylen = pc->p.body.len;
      }
    }
    job_finish(j, f);
  }
  cs_http_limits lim = {.body_cap = CS_TH_MAX_RESPONSE};
  cs_http_parser_free(&pc->p);
  cs_http_parser_init(&pc->p, &lim);
  return true;
}

static void pconn_on_read(cs_conn *c, ssize_t n, const char *failure, void *data) {
  (void)c;
  pconn *pc = data;
  cs_th_client *cl = pc->cl;
  if (n <= 0) {
    if (n == 0 && pc->n == 0) { /* the server closed an idle connection */
      pconn_free(pc);
      cs_defer_call(cl->l, &cl->kick, pool_kick_cb, cl);
      return;
    }
    if (n == 0 && cs_http_parser_eof(&pc->p) == CS_HTTP_P_DONE && !pconn_answer(pc)) return;
    pconn_fail(pc, failure ? failure : cs_failure_str(CS_FAIL_EOF_ERROR));
    return;
  }
  size_t off = 0;
  while (off < (size_t)n) {
    size_t used = 0;
    cs_http_pstatus st = cs_http_parser_feed(&pc->p, pc->rbuf + off, (size_t)n - off, &used);
    off += used;
    if (st == CS_HTTP_P_ERROR) {
      char msg[192];
      pconn_fail(pc, cs_failure_unknown(msg, sizeof msg, pc->p.error));
      return;
    }
    if (st != CS_HTTP_P_DONE) break;
    bool was_closing = pc->closing;
    if (!pconn_answer(pc)) return;
    if (!was_closing && pc->closing) break;  /* nothing more will be answered here */
    if (used == 0 && off < (size_t)n) break; /* defensive: no progress */
  }
  if (pc->closing && pc->n == 0) {
    pconn_free(pc);
    cs_defer_call(cl->l, &cl->kick, pool_kick_cb, cl);
    return;
  }
  pconn_start_read(pc);
  if (!pc->closing) cs_defer_call(cl->l, &cl->kick, pool_kick_cb, cl);
}

static void pconn_start_read(pconn *pc) {
  if (cs_conn_read(pc->c, pc->rbuf, sizeof pc->rbuf, pconn_on_read, pc) < 0)
    pconn_fail(pc, CS_FAILURE_UNKNOWN_CONST("cannot read"));
}

static void pconn_pump(pconn *pc);

static void pconn_on_write(cs_conn *c, ssize_t n, const char *failure, void *data) {
  (void)c, (void)n;
  pconn *pc = data;
  pc->writing = false;
  if (failure) {
    pconn_fail(pc, failure);
    return;
  }
  pc->wnext = pc->wnext ? pc->wnext->next : NULL;
  pconn_pump(pc);
}

/* Writes the next request of the pipeline (one write at a time, in order). */
static void pconn_pump(pconn *pc) {
  if (!pc->connected || pc->writing || !pc->wnext) return;
  pc->writing = true;
  if (cs_conn_write(pc->c, pc->wnext->req, pc->wnext->reqlen, pconn_on_write, pc) < 0) {
    pc->writing = false;
    pconn_fail(pc, CS_FAILURE_UNKNOWN_CONST("cannot write"));
  }
}

static void pconn_connected(pconn *pc) {
  pc->connected = true;
  pconn_start_read(pc);
  pconn_pump(pc);
}

static void pconn_on_connected(void *arg, cs_conn *c, const char *failure) {
  pconn *pc = arg;
  if (failure) {
    pconn_fail(pc, failure);
    return;
  }
  pc->c = c;
  pconn_connected(pc);
}

static pconn *pconn_new(cs_th_client *cl) {
  pconn *pc = calloc(1, sizeof *pc);
  if (!pc) return NULL;
  pc->cl = cl;
  /* the conn records one tcp_connect and a bounded number of events per connection */
  pc->t = cs_trace_new(cs_loop_now(cl->l), TH_TRACE_LIMIT);
  cs_http_limits lim = {.body_cap = CS_TH_MAX_RESPONSE};
  cs_http_parser_init(&pc->p, &lim);
  if (!pc->t) {
    cs_http_parser_free(&pc->p);
    free(pc);
    return NULL;
  }
  pc->next = cl->conns;
  cl->conns = pc;
  cl->nconns++;
  if (th_connect(&pc->k, cl->l, pc->t, &cl->url, cl->tls, pconn_on_connected, pc) < 0) {
    pconn_free(pc);
    return NULL;
  }
  return pc;
}

/* Assigns waiting jobs to the least loaded usable connection, opening new ones up to
 * max_conns. */
static void pool_dispatch(cs_th_client *cl) {
  while (cl->wh) {
    pconn *best = NULL;
    for (pconn *pc = cl->conns; pc; pc = pc->next)
      if (!pc->closing && pc->n < cl->max_pipeline && (!best || pc->n < best->n)) best = pc;
    if ((!best || best->n > 0) && cl->nconns < cl->max_conns) {
      pconn *pc = pconn_new(cl);
      if (pc) best = pc;
    }
    if (!best) return; /* everything is full: wait for answers */
    cs_th_job *j = cl->wh;
    cl->wh = j->next;
    if (!cl->wh) cl->wt = NULL;
    j->next = NULL;
    j->pc = best;
    if (best->it) best->it->next = j;
    else best->ih = j;
    best->it = j;
    best->n++;
    if (!best->wnext) best->wnext = j;
    pconn_pump(best);
  }
}

static void job_on_timeout(cs_timer *t) {
  cs_th_job *j = t->data;
  pconn *pc = j->pc;
  if (!pc) {
    wait_remove(j->cl, j);
    job_finish(j, cs_failure_str(CS_FAIL_GENERIC_TIMEOUT));
    return;
  }
  job_finish(j, cs_failure_str(CS_FAIL_GENERIC_TIMEOUT));
  /* the head of a pipeline timed out: the connection is stuck; the others try elsewhere */
  if (pc->ih == j) pconn_fail(pc, cs_failure_str(CS_FAIL_GENERIC_TIMEOUT));
}

cs_th_client *cs_th_client_new(cs_loop *l, cs_tls_ctx *tls, const char *th_url,
                               const cs_th_client_opts *o, char *err, size_t errlen) {
  cs_th_client *cl = calloc(1, sizeof *cl);
  if (!cl) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  cl->l = l;
  cl->tls = tls;
  cl->max_conns = o && o->max_conns ? o->max_conns : POOL_CONNS;
  cl->max_pipeline = o && o->max_pipeline ? o->max_pipeline : POOL_PIPELINE;
  cl->timeout = o && o->timeout > 0 ? o->timeout : CS_TH_TIMEOUT;
  cl->a = cs_arena_new(1u << 16);
  if (!cl->a || !th_url || cs_url_parse(cl->a, th_url, &cl->url, err, errlen) < 0 ||
      !(cl->hostport = cs_url_hostport(cl->a, &cl->url))) {
    if (cl->a && !th_url) snprintf(err, errlen, "no TH URL");
    cs_arena_free(cl->a);
    free(cl);
    return NULL;
  }
  if (!strcmp(cl->url.scheme, "https") && !tls) {
    snprintf(err, errlen, "https TH without a trust store");
    cs_arena_free(cl->a);
    free(cl);
    return NULL;
  }
  return cl;
}

cs_th_job *cs_th_client_query(cs_th_client *cl, const char *request_json, size_t len, cs_th_cb cb,
                              void *arg) {
  cs_th_job *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  j->cl = cl;
  j->cb = cb;
  j->arg = arg;
  cs_buf b;
  cs_buf_init(&b, len + 4096);
  cs_buf_printf(&b,
                "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: censorscope\r\n"
                "Accept: application/json\r\nContent-Type: application/json\r\n"
                "Content-Length: %zu\r\n\r\n",
                cl->url.path, cl->hostport, len);
  cs_buf_append(&b, request_json, len);
  if (b.overflow) {
    cs_buf_free(&b);
    free(j);
    return NULL;
  }
  j->req = b.data; /* ownership moves to the job */
  j->reqlen = b.len;
  j->anext = cl->all;
  if (cl->all) cl->all->aprev = j;
  cl->all = j;
  if (cl->wt) cl->wt->next = j;
  else cl->wh = j;
  cl->wt = j;
  cs_timer_start(cl->l, &j->timer, cl->timeout, job_on_timeout, j);
  cs_defer_call(cl->l, &cl->kick, pool_kick_cb, cl); /* never call back from in here */
  return j;
}

void cs_th_job_cancel(cs_th_job *j) {
  if (!j) return;
  cs_defer_cancel(j->cl->l, &j->d); /* a completion not delivered yet is dropped too */
  j->done = true;
  cs_timer_stop(j->cl->l, &j->timer);
  if (!j->pc) {
    wait_remove(j->cl, j);
    job_free(j);
  } /* else: a zombie in the pipeline, freed when its answer arrives */
}

void cs_th_client_free(cs_th_client *cl) {
  if (!cl) return;
  if (cl->in_cb) { /* from inside a query callback: completed when it returns */
    cl->dead = true;
    return;
  }
  client_free_now(cl);
}

static void client_free_now(cs_th_client *cl) {
  /* pconn_free and job_free unlink the head of their list before freeing it, so each loop
   * reads a new head, never a freed one (the analyzer does not follow the unlinking) */
  while (cl->conns) {
    pconn *pc = cl->conns;
    // NOLINTNEXTLINE(clang-analyzer-unix.Malloc)
    pc->ih = pc->it = pc->wnext = NULL; /* its jobs are freed below, with all the others */
    pconn_free(pc);
  }
  cl->wh = cl->wt = NULL;
  while (cl->all) job_free(cl->all); // NOLINT(clang-analyzer-unix.Malloc)
  cs_defer_cancel(cl->l, &cl->kick);
  cs_arena_free(cl->a);
  free(cl);
}
