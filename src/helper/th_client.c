/* th_client.c - the probe side of the test-helper protocol (see th_client.h): resolve the TH
 * host, connect (the addresses in order until one works), optional TLS, write one
 * `POST / HTTP/1.1` (RFC 9112 §3, §6.2 Content-Length framing) and read the reply with the
 * bounded cs_http_parser. The engine steps record into a small private trace that is thrown
 * away: the control exchange is not part of the measurement. */
#include "helper/th_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/conn.h"
#include "engine/dns.h"
#include "engine/httpparse.h"
#include "record/record.h"
#include "util/failure.h"
#include "util/ipnet.h"
#include "util/json.h"
#include "util/url.h"

#define TH_MAX_ADDRS 8
#define TH_TRACE_LIMIT (1u << 20)
#define TH_READ_CHUNK 16384

struct cs_th_req {
  cs_loop *l;
  cs_tls_ctx *tls;
  cs_trace *t;
  cs_url url;
  cs_buf req;
  cs_dns_req *dns;
  cs_ip addrs[TH_MAX_ADDRS];
  size_t naddrs, next;
  cs_conn *c;
  const char *first_failure;
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
  cs_dns_cancel(q->dns);
  q->dns = NULL;
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

void cs_th_cancel(cs_th_req *q) {
  if (q) free_req(q);
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

/* ---- connect --------------------------------------------------------------------------- */

static void connect_next(cs_th_req *q);

static void conn_failed(cs_th_req *q, const char *failure) {
  if (!q->first_failure) q->first_failure = failure;
  cs_conn_free(q->c);
  q->c = NULL;
  connect_next(q);
}

static void on_tls(cs_conn *c, const cs_tls_rec *rec, const char *failure, void *data) {
  (void)c, (void)rec;
  cs_th_req *q = data;
  if (failure) conn_failed(q, failure);
  else send_request(q);
}

static void on_connect(cs_conn *c, const char *failure, void *data) {
  cs_th_req *q = data;
  if (failure) {
    conn_failed(q, failure);
    return;
  }
  if (strcmp(q->url.scheme, "https") != 0) {
    send_request(q);
    return;
  }
  static const char *const h1[] = {"http/1.1"};
  cs_tls_opts o = {.sni = q->url.host, .alpn = h1, .nalpn = 1};
  if (q->url.host_is_ip) o.sni = NULL, o.verify_name = q->url.host;
  if (cs_tls_handshake(c, q->tls, &o, on_tls, q) < 0) conn_failed(q, unknown(q, "cannot start TLS"));
}

static void connect_next(cs_th_req *q) {
  if (q->next == q->naddrs) {
    finish(q, q->first_failure ? q->first_failure : unknown(q, "no address"));
    return;
  }
  cs_conn_opts o = {.max_events = 1};
  q->c = cs_conn_connect(q->l, q->t, &q->addrs[q->next++], q->url.port, &o, on_connect, q);
  if (!q->c) finish(q, unknown(q, "out of memory"));
}

static void on_dns(void *arg, const cs_dns_result *r) {
  cs_th_req *q = arg;
  q->dns = NULL;
  for (size_t i = 0; i < r->naddrs && q->naddrs < TH_MAX_ADDRS; i++) q->addrs[q->naddrs++] = r->addrs[i];
  if (q->naddrs == 0) {
    finish(q, r->failure ? r->failure : cs_failure_str(CS_FAIL_DNS_NO_ANSWER));
    return;
  }
  connect_next(q);
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
  q->dns = cs_dns_lookup_host(l, q->t, q->url.host, "system", NULL, on_dns, q);
  if (!q->dns) finish(q, unknown(q, "cannot resolve"));
  return q;
}

/* ---- request builder (pc:internal/model/th.go THRequest) ------------------------------- */

int cs_th_request_build(cs_buf *out, const char *url, const cs_http_hdr *headers,
                        size_t nheaders, const char *const *endpoints, size_t nendpoints,
                        bool quic) {
  if (!out || !url || (nheaders && !headers) || (nendpoints && !endpoints)) return -1;
  cs_jw w;
  cs_jw_init(&w, out);
  cs_jw_obj_open(&w);
  cs_jw_kstr(&w, "http_request", url);
  cs_jw_key(&w, "http_request_headers");
  cs_jw_obj_open(&w);
  for (size_t i = 0; i < nheaders; i++) {
    if (!headers[i].name || !headers[i].value) return -1;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++) seen = !strcasecmp(headers[j].name, headers[i].name);
    if (seen) continue; /* written with its first spelling */
    cs_jw_key(&w, headers[i].name);
    cs_jw_arr_open(&w);
    for (size_t j = i; j < nheaders; j++)
      if (headers[j].name && !strcasecmp(headers[j].name, headers[i].name))
        cs_jw_str(&w, headers[j].value ? headers[j].value : "");
    cs_jw_arr_close(&w);
  }
  cs_jw_obj_close(&w);
  cs_jw_key(&w, "tcp_connect");
  cs_jw_arr_open(&w);
  for (size_t i = 0; i < nendpoints; i++) cs_jw_str(&w, endpoints[i] ? endpoints[i] : "");
  cs_jw_arr_close(&w);
  cs_jw_kbool(&w, "x_quic_enabled", quic);
  cs_jw_obj_close(&w);
  return out->overflow ? -1 : 0;
}
