/* http.c - the HTTP/1.1 request step over a cs_conn (RFC 9110 semantics, RFC 9112 messages).
 * See http.h. One request per connection: the head is written once, then the body (a buffer
 * or a caller's stream, Content-Length or chunked framing) while the response is already
 * being read; the response is parsed incrementally by httpparse.c, and the transaction is
 * recorded as one `requests` entry plus `http_transaction_start`/`http_transaction_done`
 * network events (OONI LTE).
 *
 * Request headers are written in Go's wire order (Host, User-Agent, then the others) and
 * recorded in that order. Like Go's transport, "Accept-Encoding: gzip" is added (unless
 * no_gzip) and a gzip body is decoded before it is recorded. */
#include "engine/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/tls.h"
#include "util/buf.h"
#include "util/failure.h"
#include "util/timeutil.h"
#include "util/title.h"

#define RBUF 16384
#define MAX_REQ 16384 /* request head bytes */

typedef struct {
  cs_conn *c;
  cs_trace *tr;
  cs_http_rec *rec;
  cs_http_cb cb;
  void *data;
  cs_buf req;
  cs_http_parser p;
  cs_timer timer;
  double t0;
  bool writing_done;
  /* request body */
  const uint8_t *body; /* buffer body not sent with the head (NULL once sent) */
  size_t body_len;
  cs_http_body_fn body_fn;
  void *body_arg;
  bool chunked, body_end;
  uint64_t promised, sent; /* Content-Length of a streamed body; body bytes written so far */
  cs_buf frame;            /* one chunk with its chunked framing */
  cs_buf rbody;            /* the recorded start of the body */
  size_t rcap;
} http_tx;

/* Every transaction of a thread reads into one buffer: the connection fills it right before
 * calling on_read, which hands every byte to the parser before returning, so no transaction
 * needs its own (16 KiB each, times hundreds in flight). */
static _Thread_local uint8_t g_rbuf[RBUF];

static void tx_free(void *ctx) {
  http_tx *tx = ctx;
  cs_timer_stop(cs_conn_loop(tx->c), &tx->timer);
  cs_buf_free(&tx->req);
  cs_buf_free(&tx->frame);
  cs_buf_free(&tx->rbody);
  cs_http_parser_free(&tx->p);
  free(tx);
}

static const char *unknown(cs_trace *t, const char *detail) {
  char out[256];
  cs_failure_unknown(out, sizeof out, detail);
  const char *s = cs_arena_strdup(t->a, out);
  return s ? s : cs_failure_str(CS_FAIL_UNKNOWN);
}

/* Copies the parsed response (whatever part of it exists) into the record. */
static void record_response(http_tx *tx) {
  cs_http_rec *r = tx->rec;
  cs_http_parser *p = &tx->p;
  if (!r || !cs_http_parser_head_done(p)) return;
  cs_arena *a = tx->tr->a;
  r->code = p->code;
  size_t nf = cs_http_parser_nfields(p);
  r->resp.headers = nf ? cs_arena_alloc(a, nf * sizeof *r->resp.headers) : NULL;
  for (size_t i = 0; r->resp.headers && i < nf; i++) {
    const uint8_t *n, *v;
    size_t nl, vl;
    cs_http_parser_field(p, i, &n, &nl, &v, &vl);
    cs_header *h = &r->resp.headers[r->resp.nheaders];
    h->name = cs_arena_strndup(a, (const char *)n, nl);
    h->value = cs_arena_memdup(a, v, vl ? vl : 1);
    h->value_len = vl;
    if (h->name && h->value) r->resp.nheaders++;
  }
  if (p->body.len && cs_buf_cstr(&p->body)) {
    /* the parser's buffer becomes the record's (no copy): trimmed to its length + NUL */
    size_t n = p->body.len;
    uint8_t *d = p->body.cap > n + 1 + 4096 ? realloc(p->body.data, n + 1) : p->body.data;
    if (!d) d = p->body.data;
    p->body.data = NULL, p->body.len = p->body.cap = 0;
    r->resp.body = cs_arena_adopt(a, d, n + 1);
    r->resp.body_len = r->resp.body ? n : 0;
  }
  r->resp.body_is_truncated = p->truncated;
}

static void tx_finish(http_tx *tx, const char *failure) {
  cs_conn *c = tx->c;
  double now = cs_mono_now();
  cs_timer_stop(cs_conn_loop(c), &tx->timer);
  cs_conn_cancel(c, NULL);
  record_response(tx);
  if (tx->rec && tx->rbody.len) {
    uint8_t *b = cs_arena_memdup(tx->tr->a, tx->rbody.data, tx->rbody.len);
    tx->rec->req.body = b;
    tx->rec->req.body_len = b ? tx->rbody.len : 0;
  }
  if (tx->rec) {
    tx->rec->req.body_is_truncated = tx->sent > tx->rcap;
    tx->rec->failure = failure;
    tx->rec->c.t = cs_trace_rel(tx->tr, now);
  }
  cs_conn_annotate(c, "http_transaction_done", now);
  cs_http_cb cb = tx->cb;
  void *data = tx->data;
  const cs_http_rec *rec = tx->rec;
  cs_conn_detach(c);
  tx_free(tx);
  cb(c, rec, failure, data); /* may free c */
}

static void on_timeout(cs_timer *t) {
  http_tx *tx = t->data;
  const char *f = cs_failure_str(CS_FAIL_GENERIC_TIMEOUT);
  cs_conn_cancel(tx->c, f); /* records the interrupted read/write, like Go's deadline */
  tx_finish(tx, f);
}

static void on_read(cs_conn *c, ssize_t n, const char *failure, void *data);

static void parse_failure(http_tx *tx) {
  cs_http_parser *p = &tx->p;
  if (!strcmp(p->error, "EOF") || (p->unexpected_eof && !cs_http_parser_head_done(p)))
    tx_finish(tx, cs_failure_str(CS_FAIL_EOF_ERROR)); /* no complete head: eof_error */
  else tx_finish(tx, unknown(tx->tr, p->error));
}

static void on_read(cs_conn *c, ssize_t n, const char *failure, void *data) {
  http_tx *tx = data;
  cs_http_pstatus st;
  if (n > 0) {
    st = cs_http_parser_feed(&tx->p, g_rbuf, (size_t)n, NULL);
  } else if (n == 0) {
    st = cs_http_parser_eof(&tx->p);
  } else {
    tx_finish(tx, failure);
    return;
  }
  if (st == CS_HTTP_P_DONE) {
    tx_finish(tx, NULL);
  } else if (st == CS_HTTP_P_ERROR) {
    parse_failure(tx);
  } else if (cs_conn_read(c, g_rbuf, sizeof g_rbuf, on_read, tx) < 0) {
    tx_finish(tx, cs_failure_str(CS_FAIL_UNKNOWN));
  }
}

/* Keeps the start of the body for the record (OONI's request.body), bounded. */
static void keep_body(http_tx *tx, const uint8_t *p, size_t n) {
  size_t room = tx->rcap > tx->rbody.len ? tx->rcap - tx->rbody.len : 0;
  if (room) cs_buf_append(&tx->rbody, p, n < room ? n : room);
  tx->sent += n;
}

static void on_body_written(cs_conn *c, ssize_t n, const char *failure, void *data);

/* Writes the next piece of the request body, or notes that the body is complete. Returns
 * false when it finished the transaction. */
static bool write_body(http_tx *tx) {
  const uint8_t *p = NULL;
  size_t n = 0;
  if (tx->body) { /* a buffer body too large to go with the head */
    p = tx->body, n = tx->body_len;
    tx->body = NULL;
    keep_body(tx, p, n);
  } else if (tx->body_fn && !tx->body_end) {
    ssize_t r = tx->body_fn(tx->body_arg, &p);
    if (r < 0 || (r > 0 && !p)) {
      tx_finish(tx, CS_FAILURE_UNKNOWN_CONST("request body error"));
      return false;
    }
    n = (size_t)r;
    if (!tx->chunked && (n > tx->promised - tx->sent || (n == 0 && tx->sent < tx->promised))) {
      char msg[96]; /* Go's error for a body that does not match its Content-Length */
      snprintf(msg, sizeof msg, "http: ContentLength=%llu with Body length %llu",
               (unsigned long long)tx->promised, (unsigned long long)tx->sent + n);
      tx_finish(tx, unknown(tx->tr, msg));
      return false;
    }
    if (n == 0) tx->body_end = true;
    else keep_body(tx, p, n);
    if (tx->chunked) { /* RFC 9112 §7.1: chunk-size CRLF chunk-data CRLF ... last-chunk CRLF */
      cs_buf_reset(&tx->frame);
      cs_buf_printf(&tx->frame, "%zx\r\n", n);
      cs_buf_append(&tx->frame, p, n);
      cs_buf_puts(&tx->frame, "\r\n"); /* after the data; after last-chunk: the end */
      if (tx->frame.overflow) {
        tx_finish(tx, CS_FAILURE_OOM);
        return false;
      }
      p = tx->frame.data, n = tx->frame.len;
    }
  }
  if (n == 0) {
    tx->writing_done = true;
    return true;
  }
  if (cs_conn_write(tx->c, p, n, on_body_written, tx) < 0) {
    tx_finish(tx, cs_failure_str(CS_FAIL_UNKNOWN));
    return false;
  }
  return true;
}

static void on_body_written(cs_conn *c, ssize_t n, const char *failure, void *data) {
  (void)c;
  http_tx *tx = data;
  if (n < 0) {
    tx_finish(tx, failure);
    return;
  }
  write_body(tx);
}

static void on_written(cs_conn *c, ssize_t n, const char *failure, void *data) {
  http_tx *tx = data;
  if (n < 0) {
    tx_finish(tx, failure);
    return;
  }
  bool body = tx->body || (tx->body_fn && !tx->body_end);
  if (!body) tx->writing_done = true;
  if (cs_conn_read(c, g_rbuf, sizeof g_rbuf, on_read, tx) < 0) {
    tx_finish(tx, cs_failure_str(CS_FAIL_UNKNOWN));
    return;
  }
  if (body) write_body(tx);
}

/* A header value may not contain CR/LF (RFC 9110 §5.5): refuse to send one. */
static bool safe_value(const char *s) { return s && !strpbrk(s, "\r\n"); }

static bool add_hdr(cs_buf *wire, cs_http_hdr *list, size_t *n, const char *name,
                    const char *value) {
  if (!safe_value(name) || !safe_value(value) || !*name || strpbrk(name, " :\t")) return false;
  cs_buf_printf(wire, "%s: %s\r\n", name, value);
  list[*n].name = name, list[*n].value = value;
  (*n)++;
  return true;
}

/* Records the request part of the transaction (headers in wire order). */
static void record_request(http_tx *tx, const cs_http_req *q, const char *method,
                           const cs_http_hdr *hv, size_t nh) {
  cs_trace *t = tx->tr;
  cs_http_rec *r = cs_trace_add_http(t);
  if (!r) return;
  tx->rec = r;
  cs_conn_fill_common(tx->c, &r->c, tx->t0, tx->t0);
  r->network = "tcp";
  r->address = cs_conn_address(tx->c);
  r->alpn = cs_arena_strdup(t->a, q->alpn ? q->alpn : cs_tls_alpn(tx->c));
  r->url = cs_arena_strdup(t->a, q->url);
  r->method = cs_arena_strdup(t->a, method);
  r->req.headers = cs_arena_alloc(t->a, nh * sizeof *r->req.headers);
  for (size_t i = 0; r->req.headers && i < nh; i++) {
    cs_header *h = &r->req.headers[r->req.nheaders];
    h->name = cs_arena_strdup(t->a, hv[i].name);
    h->value = (const uint8_t *)cs_arena_strdup(t->a, hv[i].value);
    h->value_len = strlen(hv[i].value);
    if (h->name && h->value) r->req.nheaders++;
  }
}

int cs_http_request(cs_conn *c, const cs_http_req *q, cs_http_cb cb, void *data) {
  if (!c || !q || !q->url || !q->host || !cb || (q->body && q->body_fn)) return -1;
  const char *method = q->method ? q->method : "GET";
  const char *target = q->target && *q->target ? q->target : "/";
  if (!*method || !safe_value(method) || strpbrk(method, " \t") || !safe_value(target) ||
      strpbrk(target, " \t"))
    return -1;
  http_tx *tx = calloc(1, sizeof *tx);
  size_t nmax = 9 + q->nextra;
  cs_http_hdr *hv = calloc(nmax, sizeof *hv);
  if (!tx || !hv) {
    free(tx);
    free(hv);
    return -1;
  }
  tx->c = c, tx->tr = cs_conn_trace(c), tx->cb = cb, tx->data = data;
  cs_buf_init(&tx->req, MAX_REQ);
  cs_http_limits lim = q->limits;
  if (!strcmp(method, "HEAD")) lim.head_request = true;
  /* Go sends "Content-Length: 0" for a POST/PUT/PATCH without a body (transfer.go) */
  bool has_body = q->body || q->body_fn || !strcmp(method, "POST") || !strcmp(method, "PUT") ||
                  !strcmp(method, "PATCH");
  tx->rcap = q->body_record_cap ? q->body_record_cap : CS_HTTP_REQ_BODY_CAP;
  cs_buf_init(&tx->rbody, tx->rcap);
  cs_buf_init(&tx->frame, 0);
  tx->body_fn = q->body_fn, tx->body_arg = q->body_arg;
  tx->chunked = q->body_fn && q->chunked;
  tx->promised = q->body_fn ? q->content_length : q->body_len;
  if (q->no_gzip) lim.no_decode = true;
  cs_http_parser_init(&tx->p, &lim);

  /* RFC 9112 §3: request-line = method SP request-target SP HTTP-version */
  cs_buf_printf(&tx->req, "%s %s HTTP/1.1\r\n", method, target);
  size_t n = 0;
  bool ok = true;
  /* Go's wire order: Host, User-Agent, the sorted request headers, transport extras. */
  ok &= add_hdr(&tx->req, hv, &n, "Host", q->host); /* RFC 9110 §7.2 */
  const char *ua = q->user_agent ? q->user_agent : CS_HTTP_USER_AGENT;
  if (*ua) ok &= add_hdr(&tx->req, hv, &n, "User-Agent", ua);
  char clen[24];
  if (has_body && tx->chunked) { /* RFC 9112 §6.1 */
    ok &= add_hdr(&tx->req, hv, &n, "Transfer-Encoding", "chunked");
  } else if (has_body) { /* RFC 9112 §6.2 */
    snprintf(clen, sizeof clen, "%llu", (unsigned long long)tx->promised);
    ok &= add_hdr(&tx->req, hv, &n, "Content-Length", clen);
  }
  ok &= add_hdr(&tx->req, hv, &n, "Accept", CS_HTTP_ACCEPT);
  ok &= add_hdr(&tx->req, hv, &n, "Accept-Language", CS_HTTP_ACCEPT_LANGUAGE);
  if (q->referer) ok &= add_hdr(&tx->req, hv, &n, "Referer", q->referer);
  for (size_t i = 0; i < q->nextra; i++)
    ok &= add_hdr(&tx->req, hv, &n, q->extra[i].name, q->extra[i].value);
  if (q->connection_close) ok &= add_hdr(&tx->req, hv, &n, "Connection", "close");
  if (!q->no_gzip) ok &= add_hdr(&tx->req, hv, &n, "Accept-Encoding", "gzip");
  cs_buf_puts(&tx->req, "\r\n");
  if (q->body && q->body_len) {
    /* a small body goes with the head in one write (as Go's buffered writer sends it) */
    if (tx->req.len + q->body_len <= MAX_REQ) cs_buf_append(&tx->req, q->body, q->body_len);
    else tx->body = q->body, tx->body_len = q->body_len;
    if (!tx->body) keep_body(tx, q->body, q->body_len);
  }
  if (!ok || tx->req.overflow || cs_conn_write(c, tx->req.data, tx->req.len, on_written, tx) < 0) {
    free(hv);
    tx_free(tx);
    return -1; /* nothing recorded */
  }
  tx->t0 = cs_mono_now();
  record_request(tx, q, method, hv, n);
  free(hv);
  cs_conn_attach(c, tx_free, tx);
  cs_conn_annotate(c, "http_transaction_start", tx->t0);
  cs_timer_start(cs_conn_loop(c), &tx->timer, q->timeout > 0 ? q->timeout : CS_HTTP_TIMEOUT,
                 on_timeout, tx);
  return 0;
}

int cs_http_get(cs_conn *c, const cs_http_req *q, cs_http_cb cb, void *data) {
  return cs_http_request(c, q, cb, data);
}

const char *cs_http_location(cs_trace *t, const cs_http_rec *rec, bool *is_redirect) {
  if (is_redirect) *is_redirect = false;
  if (!rec || !cs_http_is_redirect(rec->code)) return NULL;
  if (is_redirect) *is_redirect = true;
  for (size_t i = 0; i < rec->resp.nheaders; i++) {
    const cs_header *h = &rec->resp.headers[i];
    if (h->name && !strcasecmp(h->name, "Location"))
      return cs_arena_strndup(t->a, (const char *)h->value, h->value_len);
  }
  return NULL;
}

const char *cs_http_rec_title(cs_trace *t, const cs_http_rec *rec) {
  return rec ? cs_title_dup(t->a, rec->resp.body, rec->resp.body_len) : "";
}
