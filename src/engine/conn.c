/* conn.c - a measured, non-blocking TCP connection with an optional filter on top (TLS).
 * See conn.h. The socket is the bottom "connection filter" (curl's idea): it does the
 * syscalls and records them; a filter (tls.c) turns socket bytes into plaintext. */
#include "engine/conn.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/capture.h"
#include "util/failure.h"
#include "util/timeutil.h"

struct cs_conn {
  cs_loop *loop;
  cs_trace *tr;
  cs_ip ip;
  uint16_t port;
  const char *addr; /* trace arena */
  int fd;
  cs_io io;
  cs_timer timer;
  cs_defer defer;
  double connect_timeout;
  size_t max_events;
  int64_t txid;
  const char **tags; /* trace arena, shared by every record of this conn */
  size_t ntags;
  bool no_tcp_record;
  /* connect step */
  bool connecting, connected;
  double connect_t0;
  const char *connect_failure;
  cs_conn_connect_cb ccb;
  void *cdata;
  bool connect_cb_pending;
  /* filter */
  const cs_conn_filter_ops *fops;
  void *fctx;
  /* attachment */
  void (*att_destroy)(void *);
  void *att_ctx;
  /* pending read */
  bool rd_pending;
  void *rd_p;
  size_t rd_cap;
  unsigned rd_want;
  cs_conn_io_cb rd_cb;
  void *rd_data;
  /* pending write */
  bool wr_pending;
  const uint8_t *wr_p;
  size_t wr_n, wr_off;
  unsigned wr_want;
  cs_conn_io_cb wr_cb;
  void *wr_data;
  /* readiness waiter (filters) */
  unsigned w_events;
  cs_conn_ready_cb w_cb;
  void *w_data;
  /* stats */
  uint64_t nread, nwritten;
  size_t nevents, dropped;
  cs_conn_sample *samples;
  size_t nsamples, capsamples;
  bool sock_eof;
  const char *sock_failure;
  double rd_since, wr_since; /* when the current wait for readability/writability began */
  bool *freed; /* set while dispatching: tells the dispatcher that a callback freed c */
  cs_conn_read_observer obs;
  void *obs_arg;
  /* OONI speed samples (speed_samples) */
  bool speed;
  cs_timer speed_timer;
  uint64_t speed_rng;
  size_t nspeed;
};

/* ---- recording ------------------------------------------------------------------------- */

static void fill_common(const cs_conn *c, cs_rec_common *rc, double t0, double t) {
  rc->t0 = cs_trace_rel(c->tr, t0);
  rc->t = cs_trace_rel(c->tr, t);
  rc->transaction_id = c->txid;
  rc->tags = c->tags;
  rc->ntags = c->ntags;
}

/* An OONI failure string for errno err, in the trace arena when it must be formatted. */
static const char *errno_failure(cs_conn *c, int err) {
  cs_failure f = cs_failure_from_errno(err);
  if (f != CS_FAIL_UNKNOWN) return cs_failure_str(f);
  char msg[128], out[160];
  snprintf(msg, sizeof msg, "%s", strerror(err));
  if (msg[0]) msg[0] = (char)tolower((unsigned char)msg[0]); /* Go style: "broken pipe" */
  cs_failure_unknown(out, sizeof out, msg);
  const char *s = cs_arena_strdup(c->tr->a, out);
  return s ? s : cs_failure_str(CS_FAIL_UNKNOWN);
}

static void add_event(cs_conn *c, const char *op, double t0, double t, const char *failure,
                      int64_t nbytes) {
  cs_netevent_rec *e = cs_trace_add_event(c->tr);
  if (!e) return;
  fill_common(c, &e->c, t0, t);
  e->address = c->addr;
  e->failure = failure;
  e->num_bytes = nbytes;
  e->operation = op;
  e->proto = "tcp";
}

static void add_io_event(cs_conn *c, const char *op, double t0, double t, const char *failure,
                         int64_t nbytes) {
  if (c->nevents >= c->max_events) {
    c->dropped++;
    return;
  }
  c->nevents++;
  add_event(c, op, t0, t, failure, nbytes);
}

void cs_conn_annotate(cs_conn *c, const char *operation, double when) {
  cs_netevent_rec *e = cs_trace_add_event(c->tr);
  if (!e) return;
  fill_common(c, &e->c, when, when);
  e->operation = operation;
}

static void add_sample(cs_conn *c, double t) {
  float rt = (float)cs_trace_rel(c->tr, t);
  uint32_t b = c->nread > UINT32_MAX ? UINT32_MAX : (uint32_t)c->nread;
  if (c->nsamples == c->capsamples && c->capsamples < CS_CONN_MAX_SAMPLES) {
    size_t nc = c->capsamples ? c->capsamples * 2 : 64;
    if (nc > CS_CONN_MAX_SAMPLES) nc = CS_CONN_MAX_SAMPLES;
    cs_conn_sample *ns = realloc(c->samples, nc * sizeof *ns);
    if (ns) c->samples = ns, c->capsamples = nc;
  }
  if (c->nsamples < c->capsamples) {
    c->samples[c->nsamples++] = (cs_conn_sample){rt, b};
  } else if (c->nsamples > 0) { /* full: the last sample absorbs later reads */
    c->samples[c->nsamples - 1] = (cs_conn_sample){rt, b};
  }
}

/* ---- OONI's speed samples: a memoryless ticker --------------------------------------------
 * probe-cli's throttling.Sampler snapshots the bytes received per "address proto" on a
 * memoryless.Ticker (Expected 250 ms, Min 25 ms, Max 650 ms: an exponential wait clamped to
 * [Min, Max], which keeps the PASTA property within those bounds) and once more when the flow
 * ends. Each snapshot is an event {address, failure: null, num_bytes: cumulative bytes
 * received, operation: "bytes_received_cumulative", proto, t0 == t, transaction_id, tags}.
 * Here one conn is one endpoint, so a snapshot is one event with this conn's raw byte count. */

static uint64_t speed_rand(uint64_t *rng) { /* xorshift64* (statistical use only) */
  uint64_t x = *rng;
  x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
  *rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

double cs_conn_speed_wait(uint64_t *rng) {
  double u = ((double)(speed_rand(rng) >> 11) + 1.0) / 9007199254740992.0; /* (0, 1] */
  double w = -log(u) * CS_CONN_SPEED_EXPECTED;
  if (w < CS_CONN_SPEED_MIN) w = CS_CONN_SPEED_MIN;
  if (w > CS_CONN_SPEED_MAX) w = CS_CONN_SPEED_MAX;
  return w;
}

static void speed_snapshot(cs_conn *c) {
  if (c->nread == 0) return; /* OONI: no entry for an endpoint that received nothing */
  double now = cs_mono_now();
  add_event(c, "bytes_received_cumulative", now, now, NULL,
            c->nread > INT64_MAX ? INT64_MAX : (int64_t)c->nread);
}

static void on_speed_tick(cs_timer *t) {
  cs_conn *c = t->data;
  if (c->nread > 0) {
    speed_snapshot(c);
    c->nspeed++;
  }
  if (c->nspeed < CS_CONN_MAX_SPEED_SAMPLES)
    cs_timer_start(c->loop, &c->speed_timer, cs_conn_speed_wait(&c->speed_rng), on_speed_tick, c);
}

static void speed_start(cs_conn *c) {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
    seed = (uint64_t)(cs_mono_now() * 1e9) ^ (uint64_t)(uintptr_t)c;
  c->speed_rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
  c->speed = true;
  cs_timer_start(c->loop, &c->speed_timer, cs_conn_speed_wait(&c->speed_rng), on_speed_tick, c);
}

/* ---- the io watcher: interest = union of what pending operations wait for --------------- */

static void on_io(cs_io *w, unsigned events);

static void update_io(cs_conn *c) {
  unsigned want = 0;
  if (c->connecting) want |= CS_EV_WRITE;
  if (c->rd_pending) want |= c->rd_want;
  if (c->wr_pending) want |= c->wr_want;
  want |= c->w_events;
  if (c->fd < 0) want = 0;
  if (!want) {
    cs_io_stop(c->loop, &c->io); /* level-triggered HUP must not spin an idle watcher */
    return;
  }
  if (c->io.active) {
    if (cs_io_set(c->loop, &c->io, want) == 0) return;
    cs_io_stop(c->loop, &c->io);
  }
  cs_io_start(c->loop, &c->io, c->fd, want, on_io, c);
}

/* ---- connect --------------------------------------------------------------------------- */

static void on_kick(cs_defer *d);

static void connect_done(cs_conn *c, const char *failure) {
  double now = cs_mono_now();
  c->connecting = false;
  c->connected = failure == NULL;
  c->connect_failure = failure;
  cs_timer_stop(c->loop, &c->timer);
  update_io(c);
  if (!c->no_tcp_record) {
    cs_tcp_rec *r = cs_trace_add_tcp(c->tr);
    if (r) {
      fill_common(c, &r->c, c->connect_t0, now);
      char ip[CS_IPSTR_MAX];
      cs_ip_format(&c->ip, ip);
      r->ip = cs_arena_strdup(c->tr->a, ip);
      r->port = c->port;
      r->failure = failure;
      r->success = failure == NULL;
    }
  }
  add_event(c, "connect", c->connect_t0, now, failure, 0);
  c->connect_cb_pending = true;
  cs_defer_call(c->loop, &c->defer, on_kick, c);
}

static void on_connect_timeout(cs_timer *t) {
  cs_conn *c = t->data;
  if (c->connecting) connect_done(c, cs_failure_str(CS_FAIL_GENERIC_TIMEOUT));
}

cs_conn *cs_conn_connect(cs_loop *l, cs_trace *t, const cs_ip *ip, uint16_t port,
                         const cs_conn_opts *o, cs_conn_connect_cb cb, void *data) {
  cs_conn_opts def = {0};
  if (!o) o = &def;
  cs_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->loop = l, c->tr = t, c->ip = *ip, c->port = port, c->fd = -1;
  c->connect_timeout = o->connect_timeout > 0 ? o->connect_timeout : CS_CONN_CONNECT_TIMEOUT;
  c->max_events = o->max_events ? o->max_events : CS_CONN_MAX_EVENTS;
  c->txid = o->transaction_id;
  c->no_tcp_record = o->no_tcp_record;
  c->obs = o->observer, c->obs_arg = o->observer_arg;
  if (o->ntags) {
    cs_rec_common rc = {0};
    cs_trace_tags(t, &rc, o->tags, o->ntags);
    c->tags = rc.tags, c->ntags = rc.ntags;
  }
  char ep[CS_IPSTR_MAX + 8];
  cs_endpoint_format(ip, port, ep, sizeof ep);
  c->addr = cs_arena_strdup(t->a, ep);
  c->ccb = cb, c->cdata = data;
  c->connecting = true;
  c->connect_t0 = cs_mono_now();
  if (o->speed_samples) speed_start(c); /* OONI: the sampler starts with the flow */

  struct sockaddr_storage ss;
  socklen_t sl = cs_ip_to_sockaddr(ip, port, &ss);
  c->fd = socket(ip->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (c->fd < 0) {
    connect_done(c, errno_failure(c, errno));
    return c;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc;
  do rc = connect(c->fd, (struct sockaddr *)&ss, sl);
  while (rc < 0 && errno == EINTR);
  cs_capture_note_fd(t, c->fd, IPPROTO_TCP, ip, port, c->txid);
  if (rc == 0) {
    connect_done(c, NULL);
  } else if (errno == EINPROGRESS) {
    cs_timer_start(l, &c->timer, c->connect_timeout, on_connect_timeout, c);
    update_io(c);
  } else {
    connect_done(c, errno_failure(c, errno));
  }
  return c;
}

static void connect_ready(cs_conn *c) {
  int err = 0;
  socklen_t el = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
  if (err == EINPROGRESS || err == EALREADY) return; /* spurious */
  connect_done(c, err ? errno_failure(c, err) : NULL);
}

/* ---- socket primitives ----------------------------------------------------------------- */

ssize_t cs_conn_sock_recv(cs_conn *c, void *p, size_t n, const char **failure) {
  if (c->fd < 0) {
    *failure = cs_failure_str(CS_FAIL_CONNECTION_ALREADY_CLOSED);
    return CS_CONN_ERR;
  }
  double t0 = cs_mono_now();
  ssize_t r;
  do r = recv(c->fd, p, n, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    if (c->rd_since == 0) c->rd_since = t0;
    return CS_CONN_AGAIN;
  }
  double t = cs_mono_now();
  if (c->rd_since > 0 && c->rd_since < t0) t0 = c->rd_since;
  c->rd_since = 0;
  if (r > 0) {
    c->nread += (uint64_t)r;
    add_io_event(c, "read", t0, t, NULL, r);
    add_sample(c, t);
    if (c->obs) c->obs(c->obs_arg, c, cs_trace_rel(c->tr, t), (size_t)r, c->nread);
    return r;
  }
  if (r == 0) {
    c->sock_eof = true;
    add_io_event(c, "read", t0, t, cs_failure_str(CS_FAIL_EOF_ERROR), 0);
    return 0;
  }
  *failure = c->sock_failure = errno_failure(c, errno);
  add_io_event(c, "read", t0, t, *failure, 0);
  return CS_CONN_ERR;
}

ssize_t cs_conn_sock_send(cs_conn *c, const void *p, size_t n, const char **failure) {
  if (c->fd < 0) {
    *failure = cs_failure_str(CS_FAIL_CONNECTION_ALREADY_CLOSED);
    return CS_CONN_ERR;
  }
  double t0 = cs_mono_now();
  ssize_t r;
  do r = send(c->fd, p, n, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    if (c->wr_since == 0) c->wr_since = t0;
    return CS_CONN_AGAIN;
  }
  double t = cs_mono_now();
  if (c->wr_since > 0 && c->wr_since < t0) t0 = c->wr_since;
  c->wr_since = 0;
  if (r >= 0) {
    c->nwritten += (uint64_t)r;
    add_io_event(c, "write", t0, t, NULL, r);
    return r;
  }
  *failure = c->sock_failure = errno_failure(c, errno);
  add_io_event(c, "write", t0, t, *failure, 0);
  return CS_CONN_ERR;
}

cs_conn_sock_state_t cs_conn_sock_state(const cs_conn *c) {
  cs_conn_sock_state_t s = {c->sock_eof, c->sock_failure};
  return s;
}

void cs_conn_sock_timeout(cs_conn *c, const char *failure) {
  double now = cs_mono_now();
  bool wr = (c->w_events & CS_EV_WRITE) && !(c->w_events & CS_EV_READ);
  double since = wr ? c->wr_since : c->rd_since;
  add_io_event(c, wr ? "write" : "read", since > 0 ? since : now, now, failure, 0);
  c->rd_since = c->wr_since = 0;
}

/* ---- data transfer --------------------------------------------------------------------- */

/* Each try_* returns true when it invoked a user callback (which may have freed c). */
static bool try_read(cs_conn *c) {
  unsigned want = CS_EV_READ;
  const char *f = NULL;
  ssize_t n = c->fops ? c->fops->recv(c->fctx, c, c->rd_p, c->rd_cap, &want, &f)
                      : cs_conn_sock_recv(c, c->rd_p, c->rd_cap, &f);
  if (n == CS_CONN_AGAIN) {
    c->rd_want = want ? want : CS_EV_READ;
    update_io(c);
    return false;
  }
  c->rd_pending = false;
  update_io(c);
  if (n == 0) f = cs_failure_str(CS_FAIL_EOF_ERROR);
  if (n < 0 && !f) f = cs_failure_str(CS_FAIL_UNKNOWN);
  c->rd_cb(c, n < 0 ? -1 : n, n > 0 ? NULL : f, c->rd_data);
  return true;
}

static bool try_write(cs_conn *c) {
  while (c->wr_off < c->wr_n) {
    unsigned want = CS_EV_WRITE;
    const char *f = NULL;
    const uint8_t *p = c->wr_p + c->wr_off;
    size_t left = c->wr_n - c->wr_off;
    ssize_t n =
        c->fops ? c->fops->send(c->fctx, c, p, left, &want, &f) : cs_conn_sock_send(c, p, left, &f);
    if (n == CS_CONN_AGAIN) {
      c->wr_want = want ? want : CS_EV_WRITE;
      update_io(c);
      return false;
    }
    if (n <= 0) {
      c->wr_pending = false;
      update_io(c);
      c->wr_cb(c, -1, f ? f : cs_failure_str(CS_FAIL_UNKNOWN), c->wr_data);
      return true;
    }
    c->wr_off += (size_t)n;
  }
  c->wr_pending = false;
  update_io(c);
  c->wr_cb(c, (ssize_t)c->wr_n, NULL, c->wr_data);
  return true;
}

/* Runs the pending work selected by `ready` (0 from the defer: try everything). */
static void dispatch(cs_conn *c, unsigned ready, bool kick) {
  bool freed = false;
  // cppcheck-suppress autoVariables ; reset below, or c itself was freed (what it reports)
  c->freed = &freed;
  if (c->connecting && (ready & (CS_EV_WRITE | CS_EV_ERROR))) connect_ready(c);
  if (kick && c->connect_cb_pending) {
    c->connect_cb_pending = false;
    c->ccb(c, c->connect_failure, c->cdata);
    if (freed) return;
  }
  if (c->w_cb && (ready & (c->w_events | CS_EV_ERROR))) {
    cs_conn_ready_cb cb = c->w_cb;
    void *d = c->w_data;
    c->w_cb = NULL, c->w_events = 0;
    update_io(c);
    cb(c, d);
    if (freed) return;
  }
  if (c->rd_pending && (kick || (ready & (c->rd_want | CS_EV_ERROR)))) {
    try_read(c);
    if (freed) return;
  }
  if (c->wr_pending && (kick || (ready & (c->wr_want | CS_EV_ERROR)))) {
    try_write(c);
    if (freed) return;
  }
  c->freed = NULL;
}

static void on_io(cs_io *w, unsigned events) { dispatch(w->data, events, false); }
static void on_kick(cs_defer *d) { dispatch(d->data, 0, true); }

int cs_conn_read(cs_conn *c, void *p, size_t cap, cs_conn_io_cb cb, void *data) {
  if (!c || !c->connected || c->rd_pending || !cb || cap == 0) return -1;
  c->rd_pending = true, c->rd_p = p, c->rd_cap = cap, c->rd_cb = cb, c->rd_data = data;
  c->rd_want = CS_EV_READ;
  cs_defer_call(c->loop, &c->defer, on_kick, c);
  return 0;
}

int cs_conn_write(cs_conn *c, const void *p, size_t n, cs_conn_io_cb cb, void *data) {
  if (!c || !c->connected || c->wr_pending || !cb || n == 0) return -1;
  c->wr_pending = true, c->wr_p = p, c->wr_n = n, c->wr_off = 0, c->wr_cb = cb;
  c->wr_data = data, c->wr_want = CS_EV_WRITE;
  cs_defer_call(c->loop, &c->defer, on_kick, c);
  return 0;
}

void cs_conn_cancel(cs_conn *c, const char *failure) {
  if (!c) return;
  double now = cs_mono_now();
  if (c->rd_pending && failure)
    add_io_event(c, "read", c->rd_since > 0 ? c->rd_since : now, now, failure, 0);
  if (c->wr_pending && failure)
    add_io_event(c, "write", c->wr_since > 0 ? c->wr_since : now, now, failure, 0);
  c->rd_pending = c->wr_pending = false;
  c->rd_since = c->wr_since = 0;
  update_io(c);
}

int cs_conn_wait(cs_conn *c, unsigned events, cs_conn_ready_cb cb, void *data) {
  if (!c || c->fd < 0) return -1;
  c->w_events = cb ? events : 0;
  c->w_cb = events ? cb : NULL;
  c->w_data = data;
  update_io(c);
  return 0;
}

void cs_conn_set_observer(cs_conn *c, cs_conn_read_observer fn, void *arg) {
  c->obs = fn, c->obs_arg = arg;
}

void cs_conn_set_filter(cs_conn *c, const cs_conn_filter_ops *ops, void *ctx) {
  if (c->fops && c->fops->destroy) c->fops->destroy(c->fctx);
  c->fops = ops, c->fctx = ctx;
}

void cs_conn_fill_common(const cs_conn *c, cs_rec_common *rc, double t0, double t) {
  fill_common(c, rc, t0, t);
}

void *cs_conn_filter_ctx(const cs_conn *c, const cs_conn_filter_ops *ops) {
  return c->fops == ops ? c->fctx : NULL;
}

void cs_conn_attach(cs_conn *c, void (*destroy)(void *ctx), void *ctx) {
  c->att_destroy = destroy, c->att_ctx = ctx;
}
void cs_conn_detach(cs_conn *c) { c->att_destroy = NULL, c->att_ctx = NULL; }

void cs_conn_free(cs_conn *c) {
  if (!c) return;
  if (c->freed) *c->freed = true;
  if (c->att_destroy) {
    void (*d)(void *) = c->att_destroy;
    c->att_destroy = NULL;
    d(c->att_ctx);
  }
  cs_timer_stop(c->loop, &c->timer);
  if (c->speed) {
    cs_timer_stop(c->loop, &c->speed_timer);
    speed_snapshot(c); /* OONI's final sample when the flow ends */
  }
  cs_defer_cancel(c->loop, &c->defer);
  cs_io_stop(c->loop, &c->io);
  if (c->fops && c->fops->destroy) c->fops->destroy(c->fctx);
  if (c->fd >= 0) close(c->fd);
  free(c->samples);
  free(c);
}

void cs_conn_abort(cs_conn *c) {
  if (!c) return;
  struct linger lg = {1, 0}; /* close() then drops what is queued and sends RST (tcp(7)) */
  if (c->fd >= 0) setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  cs_conn_free(c);
}

/* ---- accessors ------------------------------------------------------------------------- */
cs_loop *cs_conn_loop(const cs_conn *c) { return c->loop; }
cs_trace *cs_conn_trace(const cs_conn *c) { return c->tr; }
const char *cs_conn_address(const cs_conn *c) { return c->addr; }
bool cs_conn_is_tls(const cs_conn *c) { return c->fops != NULL; }
bool cs_conn_connected(const cs_conn *c) { return c->connected; }
uint64_t cs_conn_bytes_read(const cs_conn *c) { return c->nread; }
uint64_t cs_conn_bytes_written(const cs_conn *c) { return c->nwritten; }

bool cs_conn_bytes_acked(const cs_conn *c, uint64_t *acked) {
  int outq = 0; /* SIOCOUTQ: bytes written but not yet acknowledged by the peer (tcp(7)) */
  if (!c || c->fd < 0 || ioctl(c->fd, SIOCOUTQ, &outq) < 0 || outq < 0) return false;
  *acked = c->nwritten >= (uint64_t)outq ? c->nwritten - (uint64_t)outq : 0;
  return true;
}
size_t cs_conn_events_dropped(const cs_conn *c) { return c->dropped; }

const cs_conn_sample *cs_conn_samples(const cs_conn *c, size_t *n) {
  *n = c->nsamples;
  return c->samples;
}

void cs_conn_emit_cumulative(cs_conn *c) {
  double now = cs_mono_now();
  add_event(c, "bytes_received_cumulative", now, now, NULL,
            c->nread > INT64_MAX ? INT64_MAX : (int64_t)c->nread);
}
