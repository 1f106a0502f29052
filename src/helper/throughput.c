/* throughput.c - the helper's throughput server (see throughput.h and docs/helper.md).
 * Per connection: peek the first byte (0x16 -> TLS, RFC 8446 §5.1), TLS handshake if so,
 * read the request head (parsed by helper/reqparse.c: RFC 9112 §3, §5, §6.3), then either
 * stream N bytes of AES-128-CTR keystream (GET), or read and discard N body bytes (POST),
 * or answer the info JSON; one request per connection ("Connection: close", RFC 9112 §9.6),
 * then a lingering close (shut our side, discard what the client still sends, briefly) so
 * that a refused client still sending its body reads the refusal instead of a reset.
 * Per-address caps use token buckets (refilled continuously, capacity = one minute's
 * allowance) in a fixed table keyed by the IPv4 address or the IPv6 /64. */
#include "helper/throughput.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helper/reqparse.h"
#include "util/buf.h"
#include "util/ipnet.h"

#define IO_CHUNK 16384
#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE 0.1     /* s: after EMFILE and friends */
#define DRAIN_TIME 2.0       /* s: lingering close */
#define DRAIN_MAX (1u << 20) /* bytes discarded at most during a lingering close */
#define ITER_MAX 64          /* I/O chunks per callback before yielding to other connections */
#define ADDR_SLOTS 4096      /* per-address table (fixed: memory does not grow with clients) */
#define ADDR_PROBE 64        /* slots searched from an address's hash position */
#define LOG_WINDOW 10.0      /* s */
#define LOG_PER_WINDOW 20    /* refusal log lines per window; the rest are counted */
#define OUT_MAX 512          /* a response head, or a whole small response */
#define SMALL_RECORDS (256u << 10) /* TLS: the first bytes of a body go in small records ... */
#define SMALL_RECORD 4096          /* ... of this size (see below) */

typedef struct {
  cs_ip key; /* IPv4 address, or IPv6 /64 prefix (rest zeroed) */
  bool used;
  size_t conns;
  double bytes, reqs; /* tokens; bytes may go negative (charged as they flow) */
  double last;        /* last refill */
} addr_ent;

typedef enum { S_PEEK, S_HANDSHAKE, S_HEAD, S_BODY_IN, S_SEND, S_DRAIN } cstate;

typedef struct tconn tconn;
struct tconn {
  tconn *prev, *next;
  cs_tput *t;
  int fd;
  cs_io io;
  cs_timer timer;
  cs_defer kick;
  SSL *ssl;
  addr_ent *a;
  char pfx[CS_IPSTR_MAX + 4]; /* the client's /24 or /48, for logs */
  cstate st;
  bool over_limit; /* accepted over a connection cap: the request gets a 429 */
  bool peer_eof;
  uint8_t *head;
  size_t hlen, scan;
  uint64_t need, got; /* POST body */
  double body_t0;     /* first body byte */
  uint64_t gen_left;  /* GET body bytes still to generate */
  uint64_t gen_done;  /* GET body bytes generated */
  uint8_t *buf;       /* IO_CHUNK bytes: keystream to send, or a sink for the body */
  size_t io_len, io_off;
  EVP_CIPHER_CTX *cc;
  char out[OUT_MAX];
  size_t out_len, out_off;
  size_t drained;
  double opened, last_progress, drain_until;
};

typedef struct {
  cs_tput *t;
  int fd;
  cs_io io;
  cs_timer pause;
  char addr[CS_IPSTR_MAX + 10]; /* bound address:port, advertised */
} listener;

struct cs_tput {
  cs_loop *l;
  const cs_tput_opts *o;
  void *own_ctx; /* SSL_CTX made here when o->ssl_ctx is NULL */
  void *ctx;
  listener ls[CS_TPUT_MAX_LISTEN];
  size_t nls;
  tconn *conns;
  cs_tput_stats st;
  uint64_t max_bytes, bytes_per_min;
  double reqs_per_min;
  size_t max_conns, hard_conns, conns_per_addr, max_head;
  double head_timeout, io_timeout, max_lifetime;
  addr_ent *addrs; /* ADDR_SLOTS */
  unsigned char key[16];
  uint64_t conn_seq;
  double log_window;
  unsigned log_count;
  uint64_t log_dropped_window;
};

static void conn_run(tconn *c);

static const char *const reason_names[CS_TPUT_NREASONS] = {
    "rate-limit", "too-many-connections", "too-large", "bad-request", "length-required", "timeout"};

const char *cs_tput_reason_name(cs_tput_reason r) {
  return (unsigned)r < CS_TPUT_NREASONS ? reason_names[r] : "unknown";
}

/* ---- logging (never a whole client address) -------------------------------------------- */

static void logf_(cs_tput *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(cs_tput *t, const char *fmt, ...) {
  if (!t->o->log) return;
  double now = cs_loop_now(t->l);
  if (now - t->log_window >= LOG_WINDOW) {
    if (t->log_dropped_window) {
      char note[96];
      snprintf(note, sizeof note, "throughput: %llu refusal log lines suppressed",
               (unsigned long long)t->log_dropped_window);
      t->o->log(t->o->log_arg, note);
    }
    t->log_window = now;
    t->log_count = 0;
    t->log_dropped_window = 0;
  }
  if (t->log_count >= LOG_PER_WINDOW) {
    t->log_dropped_window++;
    t->st.log_suppressed++;
    return;
  }
  t->log_count++;
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  t->o->log(t->o->log_arg, line);
}

/* The client's /24 (IPv4) or /48 (IPv6) in CIDR text. */
static void prefix_text(const cs_ip *ip, char *out, size_t outlen) {
  cs_ip m = *ip;
  if (m.family == AF_INET) {
    m.b[3] = 0;
  } else {
    memset(m.b + 6, 0, 10);
  }
  char s[CS_IPSTR_MAX];
  cs_ip_format(&m, s);
  snprintf(out, outlen, "%s/%d", s, m.family == AF_INET ? 24 : 48);
}

/* ---- per-address buckets --------------------------------------------------------------- */

static void refill(cs_tput *t, addr_ent *a, double now) {
  double dt = now - a->last;
  if (dt > 0) {
    a->bytes += dt * (double)t->bytes_per_min / 60.0;
    a->reqs += dt * t->reqs_per_min / 60.0;
    if (a->bytes > (double)t->bytes_per_min) a->bytes = (double)t->bytes_per_min;
    if (a->reqs > t->reqs_per_min) a->reqs = t->reqs_per_min;
  }
  a->last = now;
}

/* Finds or makes the entry of ip's key; NULL when the table's neighbourhood is full of
 * addresses still active or with spent allowances. */
static addr_ent *addr_get(cs_tput *t, const cs_ip *ip, double now) {
  cs_ip k = {0};
  k.family = ip->family;
  if (ip->family == AF_INET) memcpy(k.b, ip->b, 4);
  else memcpy(k.b, ip->b, 8); /* one client = one /64 */
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < 16; i++) h = (h ^ k.b[i]) * 1099511628211ull;
  h ^= (uint64_t)k.family;
  size_t start = (size_t)(h % ADDR_SLOTS);
  addr_ent *free_slot = NULL;
  for (size_t j = 0; j < ADDR_PROBE; j++) {
    addr_ent *a = &t->addrs[(start + j) % ADDR_SLOTS];
    if (a->used && a->key.family == k.family && !memcmp(a->key.b, k.b, 16)) {
      refill(t, a, now);
      return a;
    }
    if (!free_slot) {
      if (!a->used) {
        free_slot = a;
      } else if (a->conns == 0) {
        refill(t, a, now);
        if (a->bytes >= (double)t->bytes_per_min && a->reqs >= t->reqs_per_min) free_slot = a;
      }
    }
  }
  if (!free_slot) return NULL;
  memset(free_slot, 0, sizeof *free_slot);
  free_slot->used = true;
  free_slot->key = k;
  free_slot->bytes = (double)t->bytes_per_min;
  free_slot->reqs = t->reqs_per_min;
  free_slot->last = now;
  return free_slot;
}

/* ---- connections ----------------------------------------------------------------------- */

static void conn_close(tconn *c) {
  cs_tput *t = c->t;
  if (c->prev) c->prev->next = c->next;
  else t->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  cs_io_stop(t->l, &c->io);
  cs_timer_stop(t->l, &c->timer);
  cs_defer_cancel(t->l, &c->kick);
  if (c->a && c->a->conns) c->a->conns--;
  if (c->ssl) SSL_free(c->ssl);
  if (c->cc) EVP_CIPHER_CTX_free(c->cc);
  if (c->fd >= 0) close(c->fd);
  free(c->head);
  free(c->buf);
  t->st.open_conns--;
  free(c);
}

static void kick_cb(cs_defer *d) { conn_run(d->data); }

static void http_date(char *out, size_t n) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm); /* RFC 9110 §5.6.7 */
}

static const char *status_text(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 429: return "Too Many Requests";
  default: return "Internal Server Error";
  }
}

/* Writes a response head into c->out and switches to sending it. */
static size_t put_head(tconn *c, int status, const char *ctype, const char *extra, uint64_t clen) {
  const cs_tput_opts *o = c->t->o;
  char date[64];
  http_date(date, sizeof date);
  int n = snprintf(c->out, sizeof c->out,
                   "HTTP/1.1 %d %s\r\nServer: %s\r\nDate: %s\r\nContent-Type: %s\r\n"
                   "Content-Length: %llu\r\nCache-Control: no-store\r\n%sConnection: close\r\n\r\n",
                   status, status_text(status),
                   o->server_header ? o->server_header : "censorscope-helper", date, ctype,
                   (unsigned long long)clen, extra ? extra : "");
  c->out_len = n > 0 && (size_t)n < sizeof c->out ? (size_t)n : 0;
  c->out_off = 0;
  c->gen_left = 0;
  c->st = S_SEND;
  c->last_progress = cs_loop_now(c->t->l);
  return c->out_len;
}

/* Queues a complete response (head + small body) and switches to sending it. */
static void respond(tconn *c, int status, const char *ctype, const char *extra, const char *body,
                    size_t blen) {
  size_t len = put_head(c, status, ctype, extra, blen);
  if (len == 0 || len + blen > sizeof c->out) { /* cannot happen with the bodies below */
    c->out_len = (size_t)snprintf(c->out, sizeof c->out,
                                  "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n");
    return;
  }
  if (blen) memcpy(c->out + len, body, blen);
  c->out_len = len + blen;
}

static void refuse(tconn *c, cs_tput_reason r, const char *detail) {
  static const int status[CS_TPUT_NREASONS] = {429, 429, 413, 400, 411, 408};
  cs_tput *t = c->t;
  t->st.refused[r]++;
  logf_(t, "throughput: refused %s (%s) from %s", reason_names[r], detail, c->pfx);
  char extra[96], body[160];
  snprintf(extra, sizeof extra, "X-Censorscope-Refused: %s\r\n%s", reason_names[r],
           status[r] == 429 ? "Retry-After: 60\r\n" : "");
  int n = snprintf(body, sizeof body, "refused: %s: %s\n", reason_names[r], detail);
  respond(c, status[r], "text/plain; charset=utf-8", extra, body, n > 0 ? (size_t)n : 0);
}

/* A timeout: answered when the client can still read an HTTP answer, else just counted. */
static void timed_out(tconn *c, const char *what) {
  cs_tput *t = c->t;
  if ((c->st == S_HEAD && c->hlen) || c->st == S_BODY_IN) {
    refuse(c, CS_TPUT_R_TIMEOUT, what);
    c->last_progress = cs_loop_now(t->l);
    conn_run(c);
    return;
  }
  t->st.refused[CS_TPUT_R_TIMEOUT]++;
  logf_(t, "throughput: refused timeout (%s) from %s", what, c->pfx);
  conn_close(c);
}

static void on_timer(cs_timer *tm) {
  tconn *c = tm->data;
  cs_tput *t = c->t;
  double now = cs_loop_now(t->l);
  if (c->st == S_DRAIN) {
    conn_close(c);
  } else if (now >= c->opened + t->max_lifetime) {
    t->st.refused[CS_TPUT_R_TIMEOUT]++;
    logf_(t, "throughput: refused timeout (connection lifetime) from %s", c->pfx);
    conn_close(c);
  } else if (c->st == S_PEEK || c->st == S_HANDSHAKE || c->st == S_HEAD) {
    timed_out(c, "request head not received in time");
  } else if (c->st == S_BODY_IN) {
    timed_out(c, "request body stalled");
  } else {
    timed_out(c, "client not reading");
  }
}

static void update_timer(tconn *c) {
  cs_tput *t = c->t;
  double now = cs_loop_now(t->l), due;
  if (c->st == S_DRAIN) {
    due = c->drain_until;
  } else {
    due = c->opened + t->max_lifetime;
    double phase = (c->st == S_PEEK || c->st == S_HANDSHAKE || c->st == S_HEAD)
                       ? c->opened + t->head_timeout
                       : c->last_progress + t->io_timeout;
    if (phase < due) due = phase;
  }
  cs_timer_start(t->l, &c->timer, due > now ? due - now : 0, on_timer, c);
}

/* > 0 bytes, 0 at EOF, -1 with *want set (would block) or *want == 0 (error). */
static ssize_t io_recv(tconn *c, void *p, size_t n, unsigned *want) {
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

static ssize_t io_send(tconn *c, const void *p, size_t n, unsigned *want) {
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

/* ---- requests -------------------------------------------------------------------------- */

static bool target_is(const cs_helper_req *r, size_t path_len, const char *s) {
  size_t n = strlen(s);
  return path_len == n && !memcmp(r->target, s, n);
}

int cs_tput_query_bytes(const uint8_t *q, size_t ql, uint64_t *n) {
  size_t i = 0;
  int found = 0;
  while (i < ql) {
    size_t s = i;
    while (i < ql && q[i] != '&') i++;
    if (i - s > 6 && !memcmp(q + s, "bytes=", 6)) {
      if (found) return -1; /* repeated: ambiguous */
      uint64_t v = 0;
      size_t k = s + 6;
      if (i - k > 16) return -1;
      for (; k < i; k++) {
        if (q[k] < '0' || q[k] > '9') return -1;
        v = v * 10 + (uint64_t)(q[k] - '0');
      }
      *n = v;
      found = 1;
    } else if (i - s == 6 && !memcmp(q + s, "bytes=", 6)) {
      return -1;
    }
    if (i < ql) i++;
  }
  return found;
}

/* Request admission by the per-address buckets: one request token and a non-negative byte
 * balance (bytes are charged as they move, so a client that stops early pays for what it
 * moved, and a client's overshoot is bounded by one request per open connection). */
static bool admit(tconn *c) {
  cs_tput *t = c->t;
  addr_ent *a = c->a;
  refill(t, a, cs_loop_now(t->l));
  if (a->reqs < 1.0 || a->bytes <= 0) return false;
  a->reqs -= 1.0;
  return true;
}

static void charge(tconn *c, size_t n) {
  refill(c->t, c->a, cs_loop_now(c->t->l));
  c->a->bytes -= (double)n;
}

static void answer_info(tconn *c) {
  cs_tput *t = c->t;
  cs_buf b;
  cs_buf_init(&b, OUT_MAX - 300);
  cs_buf_printf(&b, "{\"version\":1,\"max_bytes\":%llu,\"addresses\":[",
                (unsigned long long)t->max_bytes);
  for (size_t i = 0; i < t->nls; i++) cs_buf_printf(&b, "%s\"%s\"", i ? "," : "", t->ls[i].addr);
  cs_buf_printf(&b, "],\"bytes_per_minute\":%llu,\"requests_per_minute\":%.0f}",
                (unsigned long long)t->bytes_per_min, t->reqs_per_min);
  const char *s = cs_buf_cstr(&b);
  if (!s || b.overflow) {
    cs_buf_free(&b);
    respond(c, 500, "text/plain", NULL, "", 0);
    return;
  }
  respond(c, 200, "application/json", NULL, s, b.len);
  cs_buf_free(&b);
}

static void finish_upload(tconn *c) {
  double el = c->need ? (cs_loop_now(c->t->l) - c->body_t0) * 1000.0 : 0.0;
  if (!(el >= 0)) el = 0;
  char body[96];
  int n = snprintf(body, sizeof body, "{\"received\":%llu,\"elapsed_ms\":%.3f}",
                   (unsigned long long)c->need, el);
  respond(c, 200, "application/json", NULL, body, n > 0 ? (size_t)n : 0);
}

/* A complete request head: decide. extra = body bytes already buffered after the head. */
static bool handle(tconn *c, const cs_helper_req *r) {
  cs_tput *t = c->t;
  t->st.requests++;
  if (c->over_limit) {
    refuse(c, CS_TPUT_R_TOO_MANY_CONNS, "too many open connections");
    return true;
  }
  size_t path_len = 0;
  while (path_len < r->target_len && r->target[path_len] != '?') path_len++;
  const uint8_t *q = path_len < r->target_len ? r->target + path_len + 1 : NULL;
  size_t ql = q ? r->target_len - path_len - 1 : 0;
  bool get = cs_helper_req_method_is(r, "GET"), post = cs_helper_req_method_is(r, "POST");
  bool is_info = target_is(r, path_len, "/throughput/info");
  bool is_tp = target_is(r, path_len, "/throughput");
  if (!is_info && !is_tp) {
    t->st.not_found++;
    static const char nf[] = "not found: GET /throughput?bytes=N, POST /throughput, "
                             "GET /throughput/info\n";
    respond(c, 404, "text/plain; charset=utf-8", NULL, nf, sizeof nf - 1);
    return true;
  }
  if ((is_info && !get) || (is_tp && !get && !post)) {
    t->st.not_found++;
    static const char na[] = "method not allowed\n";
    respond(c, 405, "text/plain; charset=utf-8",
            is_info ? "Allow: GET\r\n" : "Allow: GET, POST\r\n", na, sizeof na - 1);
    return true;
  }
  uint64_t n = 0;
  if (get && is_tp) {
    int qb = q ? cs_tput_query_bytes(q, ql, &n) : 0;
    if (qb <= 0) {
      refuse(c, CS_TPUT_R_BAD_REQUEST, qb < 0 ? "invalid bytes=N" : "missing bytes=N");
      return true;
    }
  } else if (post) {
    if (!r->has_content_length) {
      refuse(c, CS_TPUT_R_LENGTH_REQUIRED, "POST needs Content-Length");
      return true;
    }
    n = r->content_length;
  }
  if (n > t->max_bytes) {
    char d[80];
    snprintf(d, sizeof d, "at most %llu bytes per request", (unsigned long long)t->max_bytes);
    refuse(c, CS_TPUT_R_TOO_LARGE, d);
    return true;
  }
  if (!admit(c)) {
    refuse(c, CS_TPUT_R_RATE_LIMIT, "per-address allowance per minute used up");
    return true;
  }
  if (is_info) {
    t->st.infos++;
    answer_info(c);
    return true;
  }
  if (!c->buf && !(c->buf = malloc(IO_CHUNK))) {
    conn_close(c); /* out of memory: nothing sane to answer */
    return false;
  }
  if (post) {
    t->st.uploads++;
    c->need = n;
    size_t extra = c->hlen - r->head_len;
    c->got = extra < n ? extra : n;
    c->body_t0 = cs_loop_now(t->l);
    if (c->got) {
      charge(c, (size_t)c->got);
      t->st.bytes_received += c->got;
    }
    if (c->got == c->need) {
      finish_upload(c);
      return true;
    }
    c->st = S_BODY_IN;
    c->last_progress = cs_loop_now(t->l);
    return true;
  }
  /* GET: keystream of AES-128-CTR under a per-server random key, IV = connection counter */
  t->st.downloads++;
  if (n) {
    unsigned char iv[16] = {0};
    uint64_t seq = ++t->conn_seq;
    memcpy(iv, &seq, sizeof seq);
    c->cc = EVP_CIPHER_CTX_new();
    if (!c->cc || EVP_EncryptInit_ex(c->cc, EVP_aes_128_ctr(), NULL, t->key, iv) != 1) {
      conn_close(c);
      return false;
    }
  }
  put_head(c, 200, "application/octet-stream", NULL, n);
  c->gen_left = n;
  c->io_len = c->io_off = 0;
  return true;
}

/* Parses the buffered head; acts on a complete or invalid one. */
/* Returns false when the connection was closed. */
static bool parse_head(tconn *c) {
  cs_tput *t = c->t;
  cs_helper_limits lim = {.max_head = t->max_head, .max_headers = 32, .max_body = SIZE_MAX};
  cs_helper_req r;
  cs_helper_pstatus ps = cs_helper_req_parse(c->head, c->hlen, &lim, &r, &c->scan);
  if (ps == CS_HREQ_MORE && r.head_len == 0) return true;
  if (ps == CS_HREQ_ERROR) {
    t->st.requests++;
    if (r.has_transfer_encoding && !(r.error_status == 400 && r.has_content_length))
      refuse(c, CS_TPUT_R_LENGTH_REQUIRED, "chunked bodies are not accepted");
    else if (r.error_status == 431 || r.error_status == 413)
      refuse(c, CS_TPUT_R_TOO_LARGE, r.error ? r.error : "too large");
    else refuse(c, CS_TPUT_R_BAD_REQUEST, r.error ? r.error : "malformed request");
    return true;
  }
  return handle(c, &r);
}

/* ---- the connection state machine ------------------------------------------------------ */

static void start_drain(tconn *c) {
  cs_tput *t = c->t;
  if (c->ssl) {
    ERR_clear_error();
    (void)SSL_shutdown(c->ssl); /* close_notify, best effort (non-blocking) */
  }
  if (c->peer_eof || shutdown(c->fd, SHUT_WR) < 0) {
    conn_close(c);
    return;
  }
  c->st = S_DRAIN;
  c->drain_until = cs_loop_now(t->l) + DRAIN_TIME;
  cs_io_set(t->l, &c->io, CS_EV_READ);
  update_timer(c);
}

/* Returns false when the connection was closed. */
static bool drain(tconn *c) {
  uint8_t junk[4096];
  for (;;) {
    ssize_t n = recv(c->fd, junk, sizeof junk, 0);
    if (n > 0) {
      c->drained += (size_t)n;
      if (c->drained <= DRAIN_MAX) continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      return true;
    }
    conn_close(c);
    return false;
  }
}

/* Returns false when the connection was closed. */
static bool setup_tls(tconn *c) {
  c->ssl = SSL_new(c->t->ctx);
  if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
    conn_close(c);
    return false;
  }
  SSL_set_accept_state(c->ssl);
  SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
  c->st = S_HANDSHAKE;
  return true;
}

static void conn_run(tconn *c) {
  cs_tput *t = c->t;
  double now = cs_loop_now(t->l);
  unsigned want = 0;
  for (int iter = 0;; iter++) {
    if (iter == ITER_MAX) { /* fair to the others; TLS may hold buffered bytes: come back */
      cs_defer_call(t->l, &c->kick, kick_cb, c);
      break;
    }
    want = 0;
    if (c->st == S_DRAIN) {
      if (!drain(c)) return;
      want = CS_EV_READ;
      break;
    }
    if (c->st == S_PEEK) {
      uint8_t b;
      ssize_t n = recv(c->fd, &b, 1, MSG_PEEK);
      if (n == 1) {
        if (b == 0x16) { /* RFC 8446 §5.1: ContentType handshake(22) */
          if (!setup_tls(c)) return;
        } else {
          c->st = S_HEAD;
        }
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        want = CS_EV_READ;
        break;
      }
      conn_close(c); /* closed or failed before the first byte */
      return;
    }
    if (c->st == S_HANDSHAKE) {
      ERR_clear_error();
      int r = SSL_accept(c->ssl);
      if (r != 1) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) want = CS_EV_READ;
        else if (e == SSL_ERROR_WANT_WRITE) want = CS_EV_WRITE;
        else {
          t->st.aborted++;
          conn_close(c);
          return;
        }
        break;
      }
      c->st = S_HEAD;
      continue;
    }
    if (c->st == S_HEAD) {
      size_t room = t->max_head - c->hlen;
      if (room == 0) { /* parse_head refuses a full buffer as 431; defensive */
        refuse(c, CS_TPUT_R_TOO_LARGE, "request head too large");
        continue;
      }
      unsigned w;
      ssize_t n = io_recv(c, c->head + c->hlen, room, &w);
      if (n > 0) {
        c->hlen += (size_t)n;
        if (!parse_head(c)) return;
        continue;
      }
      if (n < 0 && w) {
        want = w;
        break;
      }
      t->st.aborted++; /* EOF or error before a complete head */
      conn_close(c);
      return;
    }
    if (c->st == S_BODY_IN) {
      uint64_t left = c->need - c->got;
      size_t ask = left < IO_CHUNK ? (size_t)left : IO_CHUNK;
      unsigned w;
      ssize_t n = io_recv(c, c->buf, ask, &w);
      if (n > 0) {
        if (c->got == 0) c->body_t0 = now;
        c->got += (uint64_t)n;
        t->st.bytes_received += (uint64_t)n;
        charge(c, (size_t)n);
        c->last_progress = now;
        if (c->got == c->need) finish_upload(c);
        continue;
      }
      if (n < 0 && w) {
        want = w;
        break;
      }
      t->st.aborted++; /* the client closed before sending what it announced */
      conn_close(c);
      return;
    }
    /* S_SEND: the response head (or a whole small response), then the GET body */
    unsigned w = 0;
    ssize_t n;
    if (c->out_off < c->out_len) {
      n = io_send(c, c->out + c->out_off, c->out_len - c->out_off, &w);
      if (n > 0) c->out_off += (size_t)n;
    } else if (c->gen_left || c->io_off < c->io_len) {
      if (c->io_off == c->io_len) {
        /* A TLS reader sees a record only once it is complete: with 16 KiB records a flow
         * frozen after ~16 KB (RU "TCP 16-20") shows 0 body bytes, and at 150 kbit/s the
         * count moves once per 0.9 s. 4 KiB records for the first 256 KiB make the probe's
         * count track the wire (0.5 % overhead), then 16 KiB records for speed. */
        size_t lim = c->ssl && c->gen_done < SMALL_RECORDS ? SMALL_RECORD : IO_CHUNK;
        size_t k = c->gen_left < lim ? (size_t)c->gen_left : lim;
        int ol = 0;
        memset(c->buf, 0, k);
        if (EVP_EncryptUpdate(c->cc, c->buf, &ol, c->buf, (int)k) != 1 || ol != (int)k) {
          conn_close(c);
          return;
        }
        c->io_len = k;
        c->io_off = 0;
        c->gen_left -= k;
        c->gen_done += k;
      }
      n = io_send(c, c->buf + c->io_off, c->io_len - c->io_off, &w);
      if (n > 0) {
        c->io_off += (size_t)n;
        t->st.bytes_sent += (uint64_t)n;
        charge(c, (size_t)n);
      }
    } else {
      start_drain(c);
      return;
    }
    if (n > 0) {
      c->last_progress = now;
      continue;
    }
    if (w) {
      want = w;
      break;
    }
    t->st.aborted++; /* reset or closed by the client while we were sending */
    conn_close(c);
    return;
  }
  cs_io_set(t->l, &c->io, want);
  update_timer(c);
}

static void on_conn_io(cs_io *w, unsigned events) {
  tconn *c = w->data;
  if ((events & CS_EV_ERROR) && !(events & CS_EV_READ)) {
    if (c->st != S_DRAIN) c->t->st.aborted++;
    conn_close(c);
    return;
  }
  conn_run(c);
}

/* ---- listeners ------------------------------------------------------------------------- */

static void on_accept(cs_io *w, unsigned events);

static void on_pause_end(cs_timer *tm) {
  listener *ls = tm->data;
  cs_io_start(ls->t->l, &ls->io, ls->fd, CS_EV_READ, on_accept, ls);
}

static void accept_one(cs_tput *t, int fd, const struct sockaddr *sa) {
  double now = cs_loop_now(t->l);
  cs_ip ip;
  uint16_t port;
  char pfx[CS_IPSTR_MAX + 4] = "?";
  if (!cs_ip_from_sockaddr(sa, &ip, &port)) {
    close(fd);
    return;
  }
  prefix_text(&ip, pfx, sizeof pfx);
  t->st.connections++;
  addr_ent *a = addr_get(t, &ip, now);
  bool over = false;
  if (!a) { /* the address table is saturated by active clients: shed load */
    t->st.refused[CS_TPUT_R_RATE_LIMIT]++;
    logf_(t, "throughput: refused rate-limit (address table full) from %s", pfx);
    close(fd);
    return;
  }
  if (t->st.open_conns >= t->hard_conns || a->conns >= 2 * t->conns_per_addr) {
    t->st.refused[CS_TPUT_R_TOO_MANY_CONNS]++; /* far over a cap: not even an answer */
    logf_(t, "throughput: refused too-many-connections (closed at accept) from %s", pfx);
    close(fd);
    return;
  }
  if (t->st.open_conns >= t->max_conns || a->conns >= t->conns_per_addr) over = true;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  tconn *c = calloc(1, sizeof *c);
  uint8_t *head = malloc(t->max_head);
  if (!c || !head) {
    free(c);
    free(head);
    close(fd);
    return;
  }
  c->t = t;
  c->fd = fd;
  c->head = head;
  c->a = a;
  c->over_limit = over;
  memcpy(c->pfx, pfx, sizeof pfx);
  c->opened = c->last_progress = now;
  c->st = S_PEEK;
  if (cs_io_start(t->l, &c->io, fd, CS_EV_READ, on_conn_io, c) < 0) {
    free(head);
    free(c);
    close(fd);
    return;
  }
  a->conns++;
  c->next = t->conns;
  if (t->conns) t->conns->prev = c;
  t->conns = c;
  t->st.open_conns++;
  update_timer(c);
}

static void on_accept(cs_io *w, unsigned events) {
  (void)events;
  listener *ls = w->data;
  cs_tput *t = ls->t;
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(ls->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        cs_io_stop(t->l, &ls->io); /* level-triggered: do not spin while out of fds */
        cs_timer_start(t->l, &ls->pause, ACCEPT_PAUSE, on_pause_end, ls);
      }
      return;
    }
    accept_one(t, fd, (struct sockaddr *)&ss);
  }
}

/* ---- TLS context ----------------------------------------------------------------------- */

/* RFC 7301: prefer http/1.1 (no h2 here). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
  (void)ssl, (void)arg;
  for (unsigned i = 0; i < inlen;) {
    unsigned n = in[i];
    if (i + 1 + n > inlen) break;
    if (n == 8 && !memcmp(in + i + 1, "http/1.1", 8)) {
      *out = in + i + 1;
      *outlen = (unsigned char)n;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

void *cs_tput_selfsigned_ctx(char *err, size_t errlen) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  unsigned char serial[8];
  bool ok = key && x && ctx && RAND_bytes(serial, sizeof serial) == 1;
  if (ok) {
    serial[0] &= 0x7f; /* positive (RFC 5280 §4.1.2.2) */
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
  }
  if (ok) {
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    ok = X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"censorscope-helper", -1, -1, 0) == 1 &&
         X509_set_issuer_name(x, name) == 1 && X509_sign(x, key, EVP_sha256()) > 0;
  }
  if (ok) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    ok = SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
         SSL_CTX_check_private_key(ctx) == 1;
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
  }
  if (!ok) {
    char buf[200];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    snprintf(err, errlen, "self-signed certificate: %s", buf);
    SSL_CTX_free(ctx);
    ctx = NULL;
  }
  X509_free(x);
  EVP_PKEY_free(key);
  return ctx;
}

/* ---- public API ------------------------------------------------------------------------ */

cs_tput *cs_tput_new(cs_loop *l, const cs_tput_opts *o, char *err, size_t errlen) {
  cs_tput *t = calloc(1, sizeof *t);
  if (!t || !(t->addrs = calloc(ADDR_SLOTS, sizeof *t->addrs))) {
    free(t);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  t->l = l;
  t->o = o;
  t->max_bytes = o->max_bytes ? o->max_bytes : CS_TPUT_MAX_BYTES;
  t->bytes_per_min = o->bytes_per_min ? o->bytes_per_min : CS_TPUT_BYTES_PER_MIN;
  t->reqs_per_min = o->requests_per_min ? o->requests_per_min : CS_TPUT_REQUESTS_PER_MIN;
  t->max_conns = o->max_conns ? o->max_conns : CS_TPUT_MAX_CONNS;
  t->hard_conns = t->max_conns + t->max_conns / 4 + 4; /* room to answer 429 to a few more */
  t->conns_per_addr = o->conns_per_addr ? o->conns_per_addr : CS_TPUT_CONNS_PER_ADDR;
  t->max_head = o->max_head ? o->max_head : CS_TPUT_MAX_HEAD;
  if (t->max_head < 256) t->max_head = 256;
  t->head_timeout = o->head_timeout > 0 ? o->head_timeout : CS_TPUT_HEAD_TIMEOUT;
  t->io_timeout = o->io_timeout > 0 ? o->io_timeout : CS_TPUT_IO_TIMEOUT;
  t->max_lifetime = o->max_lifetime > 0 ? o->max_lifetime : CS_TPUT_MAX_LIFETIME;
  t->log_window = -LOG_WINDOW;
  if (RAND_bytes(t->key, sizeof t->key) != 1) {
    snprintf(err, errlen, "no randomness for the keystream");
    free(t->addrs);
    free(t);
    return NULL;
  }
  t->ctx = o->ssl_ctx;
  if (!t->ctx && !(t->ctx = t->own_ctx = cs_tput_selfsigned_ctx(err, errlen))) {
    free(t->addrs);
    free(t);
    return NULL;
  }
  return t;
}

int cs_tput_listen(cs_tput *t, const char *addr, char *err, size_t errlen) {
  cs_ip ip;
  uint16_t port;
  if (t->nls == CS_TPUT_MAX_LISTEN) {
    snprintf(err, errlen, "too many throughput addresses");
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
  listener *ls = &t->ls[t->nls];
  ls->t = t;
  ls->fd = fd;
  cs_endpoint_format(&bound, bport, ls->addr, sizeof ls->addr);
  if (cs_io_start(t->l, &ls->io, fd, CS_EV_READ, on_accept, ls) < 0) {
    snprintf(err, errlen, "%s: cannot watch the socket", addr);
    close(fd);
    return -1;
  }
  t->nls++;
  return bport;
}

void cs_tput_free(cs_tput *t) {
  if (!t) return;
  for (size_t i = 0; i < t->nls; i++) {
    cs_io_stop(t->l, &t->ls[i].io);
    cs_timer_stop(t->l, &t->ls[i].pause);
    close(t->ls[i].fd);
  }
  while (t->conns) conn_close(t->conns); // NOLINT(clang-analyzer-unix.Malloc)
  if (t->own_ctx) SSL_CTX_free(t->own_ctx);
  free(t->addrs);
  free(t);
}

cs_tput_stats cs_tput_get_stats(const cs_tput *t) { return t->st; }
