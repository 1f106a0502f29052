/* server.c - the control server's HTTP/1.1 front (see server.h). Connection handling follows
 * RFC 9112: persistent connections and pipelining (§9.3, §9.3.2: responses in request order),
 * "Connection: close" (§9.6), 100-continue (RFC 9110 §10.1.1); the request handler follows
 * pc:internal/oohelperd/handler.go (hello on GET, measurement on POST, 400 otherwise, 503 when
 * too many measurements are in flight). One cs_loop, no threads, level-triggered I/O. */
#include "helper/server.h"

#include <errno.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/ipnet.h"
#include "util/json.h"

#define READ_CHUNK 16384
#define MAX_RESPONSE_BYTES (32u << 20)
#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE 0.1     /* s: after EMFILE and friends */
#define DRAIN_TIME 2.0       /* s: lingering close after an error response */
#define DRAIN_MAX (1u << 20) /* bytes discarded at most during a lingering close */

typedef struct hconn hconn;
typedef struct slot slot;

/* One queued response, in request order (RFC 9112 §9.3.2). */
struct slot {
  slot *next;
  hconn *c;
  cs_buf out;
  size_t off;
  bool ready, close_after, interim;
  bool ka_10; /* an HTTP/1.0 keep-alive request: say "Connection: keep-alive" (RFC 9112 C.2.2) */
  double write_start; /* first write attempt (for the write deadline) */
  cs_helper_measure *m;
};

struct hconn {
  hconn *prev, *next;
  cs_helper *h;
  int fd;
  cs_io io;
  cs_timer timer;
  cs_defer kick;
  SSL *ssl;
  bool handshaking;
  cs_buf in;
  slot *qh, *qt;
  size_t nq;
  size_t scan; /* reqparse's progress through the current request's head */
  size_t need; /* head parsed, body incomplete: bytes the request needs (0: unknown) */
  bool no_more_reads, continue_sent;
  bool peer_eof;
  bool paused;   /* reading stopped because the pipeline was full */
  bool draining; /* lingering close: our side is shut, discarding what the client still sends */
  size_t drained;
  double opened, req_start, last_write, last_active, drain_until;
};

typedef struct {
  cs_helper *h;
  int fd;
  cs_io io;
  cs_timer pause;
} listener;

struct cs_helper {
  cs_loop *l;
  const cs_helper_opts *o;
  listener ls[CS_HELPER_MAX_LISTEN];
  size_t nls;
  hconn *conns;
  cs_helper_stats st;
  size_t max_inflight, max_conns, max_pipeline;
  double idle_timeout, request_timeout, write_timeout;
  size_t in_cap;
};

static void conn_run(hconn *c);

/* ---- responses ------------------------------------------------------------------------- */

static const char *reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 400: return "Bad Request";
  case 413: return "Content Too Large";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

static void respond(slot *s, int status, const char *body, size_t len) {
  const cs_helper_opts *o = s->c->h->o;
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm); /* RFC 9110 §5.6.7 */
  cs_buf_reset(&s->out);
  cs_buf_printf(
      &s->out,
      "HTTP/1.1 %d %s\r\nServer: %s\r\nDate: %s\r\nContent-Type: application/json\r\n"
      "Content-Length: %zu\r\n%s\r\n",
      status, reason(status), o->server_header ? o->server_header : "censorscope-helper", date, len,
      s->close_after ? "Connection: close\r\n" : (s->ka_10 ? "Connection: keep-alive\r\n" : ""));
  cs_buf_append(&s->out, body, len);
  if (s->out.overflow) { /* cannot happen with the caps above; answer something sane */
    cs_buf_reset(&s->out);
    s->out.overflow = false;
    cs_buf_puts(&s->out, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n");
    s->close_after = true;
  }
  s->ready = true;
}

static void respond_error(slot *s, int status, const char *msg) {
  cs_buf b;
  cs_buf_init(&b, 4096);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_jw_obj_open(&w);
  cs_jw_kstr(&w, "error", msg);
  cs_jw_obj_close(&w);
  const char *s_ = cs_buf_cstr(&b);
  respond(s, status, s_ ? s_ : "{}", s_ ? b.len : 2);
  cs_buf_free(&b);
}

static slot *slot_new(hconn *c) {
  slot *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->c = c;
  cs_buf_init(&s->out, MAX_RESPONSE_BYTES);
  if (c->qt) c->qt->next = s;
  else c->qh = s;
  c->qt = s;
  c->nq++;
  return s;
}

static void slot_free(cs_helper *h, slot *s) {
  if (s->m) {
    cs_helper_measure_cancel(s->m);
    h->st.inflight--;
  }
  cs_buf_free(&s->out);
  free(s);
}

static void conn_close(hconn *c) {
  cs_helper *h = c->h;
  if (c->prev) c->prev->next = c->next;
  else h->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  cs_io_stop(h->l, &c->io);
  cs_timer_stop(h->l, &c->timer);
  cs_defer_cancel(h->l, &c->kick);
  for (slot *s = c->qh, *n; s; s = n) {
    n = s->next;
    slot_free(h, s);
  }
  if (c->ssl) SSL_free(c->ssl);
  if (c->fd >= 0) close(c->fd);
  cs_buf_free(&c->in);
  h->st.open_conns--;
  free(c);
}

static void kick_cb(cs_defer *d) { conn_run(d->data); }
static void kick(hconn *c) { cs_defer_call(c->h->l, &c->kick, kick_cb, c); }

/* ---- request handling (handler.go) ----------------------------------------------------- */

static void on_measured(void *arg, int status, const char *json, size_t len) {
  slot *s = arg;
  s->m = NULL; /* freed by measure.c right after this returns */
  s->c->h->st.inflight--;
  respond(s, status, json, len);
  kick(s->c);
}

static const char hello[] = "{\"message\":\"Hello OONItarian!\"}";

static void handle(hconn *c, const cs_helper_req *r) {
  cs_helper *h = c->h;
  slot *s = slot_new(c);
  if (!s) { /* out of memory: give up on the connection after what is queued */
    c->no_more_reads = true;
    if (c->qt) c->qt->close_after = true;
    return;
  }
  h->st.requests++;
  s->close_after = !r->keep_alive;
  s->ka_10 = r->keep_alive && r->minor == 0;
  if (cs_helper_req_method_is(r, "GET")) {
    respond(s, 200, hello, sizeof hello - 1);
  } else if (cs_helper_req_method_is(r, "POST")) {
    if (h->st.inflight >= h->max_inflight) {
      h->st.rejected_busy++;
      respond_error(s, 503, "too many requests in flight");
      return;
    }
    int status = 500;
    char err[192];
    s->m = cs_helper_measure_start(h->l, &h->o->measure, (const char *)r->body, r->body_len,
                                   on_measured, s, &status, err, sizeof err);
    if (!s->m) {
      if (status == 400) h->st.bad_requests++;
      respond_error(s, status, err);
      return;
    }
    h->st.inflight++;
    h->st.measurements++;
  } else {
    h->st.bad_requests++;
    respond_error(s, 400, "method not allowed");
  }
}

static void parse_requests(hconn *c) {
  cs_helper *h = c->h;
  double now = cs_loop_now(h->l);
  while (!c->no_more_reads && c->nq < h->max_pipeline && c->in.len) {
    if (c->need && c->in.len < c->need) return; /* do not re-parse the head per body byte */
    cs_helper_req r;
    cs_helper_pstatus st = cs_helper_req_parse(c->in.data, c->in.len, &h->o->limits, &r, &c->scan);
    if (st == CS_HREQ_MORE) {
      if (r.head_len) c->need = r.head_len + (size_t)r.content_length;
      /* RFC 9110 §10.1.1: ask for the body only when nothing is queued before it */
      if (r.head_len && r.expect_continue && !c->continue_sent && c->nq == 0) {
        slot *s = slot_new(c);
        if (s) {
          s->interim = true;
          cs_buf_puts(&s->out, "HTTP/1.1 100 Continue\r\n\r\n");
          s->ready = true;
          c->continue_sent = true;
        }
      }
      return;
    }
    if (st == CS_HREQ_ERROR) {
      h->st.bad_requests++;
      c->no_more_reads = true;
      c->in.len = 0;
      slot *s = slot_new(c);
      if (s) {
        s->close_after = true;
        respond_error(s, r.error_status, r.error);
      } else if (c->qt) {
        c->qt->close_after = true;
      }
      return;
    }
    handle(c, &r);
    cs_buf_consume(&c->in, r.total_len);
    c->scan = 0;
    c->need = 0;
    if (c->in.len == 0 && c->in.cap > 4 * READ_CHUNK) { /* idle: drop a big body's buffer */
      cs_buf_free(&c->in);
      cs_buf_init(&c->in, h->in_cap);
    }
    c->continue_sent = false;
    c->req_start = c->in.len ? now : 0;
    if (!r.keep_alive) c->no_more_reads = true;
  }
}

/* ---- I/O ------------------------------------------------------------------------------- */

/* > 0 bytes, 0 at EOF (recv), -1 with *want set (would block) or with *want == 0 (error). */
static ssize_t io_recv(hconn *c, void *p, size_t n, unsigned *want) {
  *want = 0;
  if (c->ssl) {
    ERR_clear_error();
    int r = SSL_read(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) *want = CS_EV_READ;
    else if (e == SSL_ERROR_WANT_WRITE) *want = CS_EV_WRITE;
    else if (e == SSL_ERROR_ZERO_RETURN) return 0;
    return -1;
  }
  ssize_t r = recv(c->fd, p, n, 0);
  if (r >= 0) return r;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) *want = CS_EV_READ;
  return -1;
}

static ssize_t io_send(hconn *c, const void *p, size_t n, unsigned *want) {
  *want = 0;
  if (c->ssl) {
    ERR_clear_error();
    int r = SSL_write(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) *want = CS_EV_READ;
    else if (e == SSL_ERROR_WANT_WRITE) *want = CS_EV_WRITE;
    return -1;
  }
  ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
  if (r >= 0) return r;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) *want = CS_EV_WRITE;
  return -1;
}

static void on_conn_timer(cs_timer *t) {
  hconn *c = t->data;
  if (!c->draining) c->h->st.timeouts++;
  conn_close(c);
}

/* One deadline per connection, for whatever the connection is waiting on the client for. */
static void update_timer(hconn *c) {
  cs_helper *h = c->h;
  double now = cs_loop_now(h->l), due;
  if (c->draining) {
    due = c->drain_until;
  } else if (c->qh && c->qh->ready) { /* the client is not reading its responses */
    double since = c->last_write > c->qh->write_start ? c->last_write : c->qh->write_start;
    due = (since > 0 ? since : now) + h->write_timeout;
  } else if (c->handshaking) {
    due = c->opened + h->request_timeout;
  } else if (c->in.len && !c->no_more_reads && c->nq < h->max_pipeline) {
    due = c->req_start + h->request_timeout; /* a request trickling in (slowloris) */
  } else if (c->nq == 0) {
    due = c->last_active + h->idle_timeout; /* keep-alive with nothing to do */
  } else { /* waiting for our own measurements, which have their own deadlines */
    cs_timer_stop(h->l, &c->timer);
    return;
  }
  cs_timer_start(h->l, &c->timer, due > now ? due - now : 0, on_conn_timer, c);
}

/* RFC 9112 §9.6: after an error response that closes the connection, shut down our sending
 * side but keep reading (and discarding) for a moment, so that a client still sending its
 * body gets our response instead of a reset. Returns false when the connection was closed. */
static bool drain(hconn *c) {
  uint8_t junk[READ_CHUNK];
  for (;;) {
    ssize_t n = recv(c->fd, junk, sizeof junk, 0);
    if (n > 0) {
      c->drained += (size_t)n;
      if (c->drained <= DRAIN_MAX) continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      return true;
    }
    conn_close(c); /* EOF, error, or too much */
    return false;
  }
}

static void conn_run(hconn *c) {
  cs_helper *h = c->h;
  if (c->draining) {
    if (drain(c)) {
      cs_io_set(h->l, &c->io, CS_EV_READ);
      update_timer(c);
    }
    return;
  }
  double now = cs_loop_now(h->l);
  unsigned want = 0;
  bool more = false;
  for (int iter = 0;; iter++) {
    if (iter == 64) { /* be fair to other connections: continue on the next iteration */
      more = true;
      break;
    }
    bool progress = false;
    want = 0;
    if (c->handshaking) {
      ERR_clear_error();
      int r = SSL_accept(c->ssl);
      if (r != 1) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) want = CS_EV_READ;
        else if (e == SSL_ERROR_WANT_WRITE) want = CS_EV_WRITE;
        else {
          conn_close(c);
          return;
        }
        break;
      }
      c->handshaking = false;
      c->last_active = now;
    }
    while (c->qh && c->qh->ready) {
      slot *s = c->qh;
      unsigned w;
      if (s->write_start == 0) s->write_start = now;
      ssize_t n = io_send(c, s->out.data + s->off, s->out.len - s->off, &w);
      if (n < 0 && !w) {
        conn_close(c);
        return;
      }
      if (n < 0) {
        want |= w;
        break;
      }
      s->off += (size_t)n;
      c->last_write = c->last_active = now;
      progress = true;
      if (s->off < s->out.len) continue;
      bool close_after = s->close_after;
      c->qh = s->next;
      if (!c->qh) c->qt = NULL;
      c->nq--;
      slot_free(h, s);
      if (close_after) {
        if (c->ssl || c->peer_eof || shutdown(c->fd, SHUT_WR) < 0) {
          conn_close(c); /* the client is done sending (or TLS): a plain close is safe */
          return;
        }
        c->draining = true;
        c->drain_until = now + DRAIN_TIME;
        conn_run(c);
        return;
      }
    }
    if (!c->no_more_reads && c->nq < h->max_pipeline) parse_requests(c);
    if (!c->no_more_reads && c->nq >= h->max_pipeline) c->paused = true;
    if (!c->no_more_reads && c->nq < h->max_pipeline && c->in.len < h->in_cap) {
      if (c->paused) { /* the client could not send while we were not reading */
        c->paused = false;
        if (c->in.len) c->req_start = now;
      }
      size_t room = h->in_cap - c->in.len;
      size_t ask = room < READ_CHUNK ? room : READ_CHUNK;
      unsigned w;
      if (cs_buf_reserve(&c->in, ask) < 0) {
        conn_close(c);
        return;
      }
      ssize_t n = io_recv(c, c->in.data + c->in.len, ask, &w);
      if (n > 0) {
        if (c->in.len == 0) c->req_start = now;
        c->in.len += (size_t)n;
        c->last_active = now;
        progress = true;
        parse_requests(c);
      } else if (n == 0) { /* the client is done sending: answer what is queued, then close */
        c->no_more_reads = true;
        c->peer_eof = true;
        progress = true;
      } else if (w) {
        want |= w;
      } else {
        conn_close(c);
        return;
      }
    }
    if (!progress) break;
  }
  if (c->no_more_reads && c->nq == 0) {
    conn_close(c);
    return;
  }
  if (more) kick(c);
  cs_io_set(h->l, &c->io, want);
  update_timer(c);
}

static void on_conn_io(cs_io *w, unsigned events) {
  hconn *c = w->data;
  if (events & CS_EV_ERROR) { /* reset or hang-up: nobody left to answer */
    conn_close(c);
    return;
  }
  conn_run(c);
}

/* ---- listeners ------------------------------------------------------------------------- */

static void on_accept(cs_io *w, unsigned events);

static void on_pause_end(cs_timer *t) {
  listener *ls = t->data;
  cs_io_start(ls->h->l, &ls->io, ls->fd, CS_EV_READ, on_accept, ls);
}

static void accept_one(cs_helper *h, int fd) {
  if (h->st.open_conns >= h->max_conns) {
    close(fd);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  hconn *c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return;
  }
  c->h = h;
  c->fd = fd;
  cs_buf_init(&c->in, h->in_cap);
  c->opened = c->last_active = cs_loop_now(h->l);
  if (h->o->server_ssl_ctx) {
    c->ssl = SSL_new(h->o->server_ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
      if (c->ssl) SSL_free(c->ssl);
      free(c);
      close(fd);
      return;
    }
    SSL_set_accept_state(c->ssl);
    SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
    c->handshaking = true;
  }
  if (cs_io_start(h->l, &c->io, fd, CS_EV_READ, on_conn_io, c) < 0) {
    if (c->ssl) SSL_free(c->ssl);
    free(c);
    close(fd);
    return;
  }
  c->next = h->conns;
  if (h->conns) h->conns->prev = c;
  h->conns = c;
  h->st.open_conns++;
  h->st.connections++;
  update_timer(c);
}

static void on_accept(cs_io *w, unsigned events) {
  (void)events;
  listener *ls = w->data;
  cs_helper *h = ls->h;
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    int fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        cs_io_stop(h->l, &ls->io); /* level-triggered: do not spin while out of fds */
        cs_timer_start(h->l, &ls->pause, ACCEPT_PAUSE, on_pause_end, ls);
      }
      return;
    }
    accept_one(h, fd);
  }
}

cs_helper *cs_helper_new(cs_loop *l, const cs_helper_opts *o) {
  cs_helper *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->l = l;
  h->o = o;
  h->max_inflight = o->max_inflight ? o->max_inflight : CS_HELPER_MAX_INFLIGHT;
  h->max_conns = o->max_conns ? o->max_conns : CS_HELPER_MAX_CONNS;
  h->max_pipeline = o->max_pipeline ? o->max_pipeline : CS_HELPER_MAX_PIPELINE;
  h->idle_timeout = o->idle_timeout > 0 ? o->idle_timeout : CS_HELPER_IDLE_TIMEOUT;
  h->request_timeout = o->request_timeout > 0 ? o->request_timeout : CS_HELPER_REQUEST_TIMEOUT;
  h->write_timeout = o->write_timeout > 0 ? o->write_timeout : CS_HELPER_WRITE_TIMEOUT;
  size_t mh = o->limits.max_head ? o->limits.max_head : CS_HELPER_MAX_HEAD;
  size_t mb = o->limits.max_body ? o->limits.max_body : CS_HELPER_MAX_BODY;
  h->in_cap = mh + mb + READ_CHUNK; /* one whole request plus the start of the next */
  return h;
}

int cs_helper_listen(cs_helper *h, const char *addr, char *err, size_t errlen) {
  cs_ip ip;
  uint16_t port;
  if (h->nls == CS_HELPER_MAX_LISTEN) {
    snprintf(err, errlen, "too many listen addresses");
    return -1;
  }
  if (!cs_endpoint_parse(addr, &ip, &port)) {
    snprintf(err, errlen, "%s: not IPv4:PORT or [IPv6]:PORT", addr);
    return -1;
  }
  struct sockaddr_storage ss;
  socklen_t sl = cs_ip_to_sockaddr(&ip, port, &ss);
  int fd = socket(ip.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "%s: socket: %s", addr, strerror(errno));
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ip.family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
    snprintf(err, errlen, "%s: %s", addr, strerror(errno));
    close(fd);
    return -1;
  }
  sl = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &sl);
  cs_ip bound;
  uint16_t bport = 0;
  cs_ip_from_sockaddr((struct sockaddr *)&ss, &bound, &bport);
  listener *ls = &h->ls[h->nls];
  ls->h = h;
  ls->fd = fd;
  if (cs_io_start(h->l, &ls->io, fd, CS_EV_READ, on_accept, ls) < 0) {
    snprintf(err, errlen, "%s: cannot watch the socket", addr);
    close(fd);
    return -1;
  }
  h->nls++;
  return bport;
}

void cs_helper_free(cs_helper *h) {
  if (!h) return;
  for (size_t i = 0; i < h->nls; i++) {
    cs_io_stop(h->l, &h->ls[i].io);
    cs_timer_stop(h->l, &h->ls[i].pause);
    close(h->ls[i].fd);
  }
  /* conn_close unlinks the head from h->conns before freeing it: the loop reads a new head */
  while (h->conns) conn_close(h->conns); // NOLINT(clang-analyzer-unix.Malloc)
  free(h);
}

cs_helper_stats cs_helper_get_stats(const cs_helper *h) { return h->st; }
