/* udp.c - the UDP exchange step (see udp.h): one unconnected, non-blocking UDP socket, the
 * datagrams sent on a schedule, every reply received until the deadline or the reply limit,
 * each send and receive recorded as a network event. */
#include "engine/udp.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/failure.h"
#include "util/timeutil.h"

#define MAX_DGRAM 65536 /* larger than any UDP payload (65507 over IPv4) */

struct cs_udp {
  cs_loop *l;
  cs_trace *t;
  cs_ip ip;
  uint16_t port;
  const char *dst; /* "ip:port", trace arena */
  int fd;
  cs_io io;
  cs_timer deadline, pace;
  cs_defer defer;
  cs_udp_opts o;
  const char **tags; /* trace arena */
  size_t ntags;
  cs_udp_dgram *d; /* copies (one allocation with the bytes) */
  size_t nd, next, nsent, kept;
  const char *send_failure;
  cs_udp_reply *replies;
  size_t nreplies, capreplies;
  double wait_since; /* when the current wait for a reply began */
  bool finished, limit;
  const char *failure;
  cs_udp_cb cb;
  void *arg;
};

/* Every exchange of a thread receives into one buffer (each datagram is copied out at once). */
static _Thread_local uint8_t g_rbuf[MAX_DGRAM];

static const char *errno_failure(cs_udp *u, int err) {
  cs_failure f = cs_failure_from_errno(err);
  if (f != CS_FAIL_UNKNOWN) return cs_failure_str(f);
  char msg[128], out[160];
  snprintf(msg, sizeof msg, "%s", strerror(err));
  if (msg[0]) msg[0] = (char)tolower((unsigned char)msg[0]); /* Go style */
  cs_failure_unknown(out, sizeof out, msg);
  const char *s = cs_arena_strdup(u->t->a, out);
  return s ? s : cs_failure_str(CS_FAIL_UNKNOWN);
}

static void add_event(cs_udp *u, const char *op, const char *addr, double t0, double t,
                      const char *failure, size_t nbytes) {
  cs_netevent_rec *e = cs_trace_add_event(u->t);
  if (!e) return;
  e->c.t0 = cs_trace_rel(u->t, t0);
  e->c.t = cs_trace_rel(u->t, t);
  e->c.transaction_id = u->o.transaction_id;
  e->c.tags = u->tags;
  e->c.ntags = u->ntags;
  e->address = addr;
  e->failure = failure;
  e->num_bytes = (int64_t)nbytes;
  e->operation = op;
  e->proto = "udp";
}

static void free_udp(cs_udp *u) {
  cs_timer_stop(u->l, &u->deadline);
  cs_timer_stop(u->l, &u->pace);
  cs_defer_cancel(u->l, &u->defer);
  cs_io_stop(u->l, &u->io);
  if (u->fd >= 0) close(u->fd);
  free(u->replies);
  free(u->d);
  free(u);
}

static void deliver(cs_defer *df) {
  cs_udp *u = df->data;
  cs_udp_result r = {
      .failure = u->failure,
      .replies = u->replies,
      .nreplies = u->nreplies,
      .nsent = u->nsent,
      .limit_reached = u->limit,
  };
  u->cb(u->arg, &r);
  free_udp(u);
}

/* Ends the exchange; cb runs from the next loop turn (never inside a caller's stack). */
static void finish(cs_udp *u, const char *failure) {
  if (u->finished) return;
  u->finished = true;
  u->failure = failure;
  cs_timer_stop(u->l, &u->deadline);
  cs_timer_stop(u->l, &u->pace);
  cs_io_stop(u->l, &u->io);
  cs_defer_call(u->l, &u->defer, deliver, u);
}

/* Keeps a reply for the caller: avail bytes in g_rbuf of a datagram of size bytes. */
static void keep_reply(cs_udp *u, const cs_ip *src, uint16_t sport, size_t avail, size_t size,
                       double now) {
  if (u->nreplies == u->capreplies) {
    size_t nc = u->capreplies ? u->capreplies * 2 : 4;
    if (nc > u->o.max_replies) nc = u->o.max_replies;
    cs_udp_reply *nr = realloc(u->replies, nc * sizeof *nr);
    if (!nr) return; /* the event is recorded; the reply itself is lost to the caller */
    u->replies = nr, u->capreplies = nc;
  }
  char ep[CS_IPSTR_MAX + 8];
  cs_endpoint_format(src, sport, ep, sizeof ep);
  size_t room = u->o.max_bytes - u->kept;
  size_t len = avail < room ? avail : room;
  uint8_t *data = len ? cs_arena_memdup(u->t->a, g_rbuf, len) : NULL;
  if (!data) len = 0;
  u->kept += len;
  u->replies[u->nreplies++] = (cs_udp_reply){
      .t = cs_trace_rel(u->t, now),
      .source = cs_arena_strdup(u->t->a, ep),
      .data = data,
      .len = len,
      .size = size,
  };
}

static void on_readable(cs_io *w, unsigned events) {
  (void)events;
  cs_udp *u = w->data;
  while (!u->finished) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    ssize_t r;
    do r = recvfrom(u->fd, g_rbuf, sizeof g_rbuf, MSG_TRUNC, (struct sockaddr *)&ss, &sl);
    while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    double now = cs_mono_now();
    if (r < 0) { /* e.g. an ICMP error reported on the socket: recorded, the wait goes on */
      add_event(u, "read_from", NULL, u->wait_since, now, errno_failure(u, errno), 0);
      u->wait_since = now;
      continue;
    }
    cs_ip src = {0};
    uint16_t sport = 0;
    cs_ip_from_sockaddr((struct sockaddr *)&ss, &src, &sport);
    char ep[CS_IPSTR_MAX + 8];
    cs_endpoint_format(&src, sport, ep, sizeof ep);
    size_t size = (size_t)r; /* MSG_TRUNC: the datagram's real size */
    add_event(u, "read_from", cs_arena_strdup(u->t->a, ep), u->wait_since, now, NULL, size);
    keep_reply(u, &src, sport, size < sizeof g_rbuf ? size : sizeof g_rbuf, size, now);
    u->wait_since = now;
    if (u->nreplies >= u->o.max_replies) {
      u->limit = true;
      finish(u, NULL);
    }
  }
}

static void on_deadline(cs_timer *tm) {
  cs_udp *u = tm->data;
  double now = cs_mono_now();
  if (u->nsent) /* Go's deadline fails the pending ReadFrom: record it like that */
    add_event(u, "read_from", NULL, u->wait_since, now, cs_failure_str(CS_FAIL_GENERIC_TIMEOUT), 0);
  finish(u, u->nreplies ? NULL
            : u->nsent  ? cs_failure_str(CS_FAIL_GENERIC_TIMEOUT)
                        : u->send_failure);
}

static void on_pace(cs_timer *tm);

/* Sends the next datagram(s): all that are due now. */
static void send_due(cs_udp *u) {
  while (!u->finished && u->next < u->nd) {
    const cs_udp_dgram *d = &u->d[u->next++];
    struct sockaddr_storage ss;
    socklen_t sl = cs_ip_to_sockaddr(&u->ip, u->port, &ss);
    double t0 = cs_mono_now();
    ssize_t r;
    do r = sendto(u->fd, d->data, d->len, MSG_NOSIGNAL, (struct sockaddr *)&ss, sl);
    while (r < 0 && errno == EINTR);
    double t = cs_mono_now();
    if (r < 0) {
      const char *f = errno_failure(u, errno);
      if (!u->send_failure) u->send_failure = f;
      add_event(u, "write_to", u->dst, t0, t, f, 0);
    } else {
      add_event(u, "write_to", u->dst, t0, t, NULL, (size_t)r);
      if (u->nsent++ == 0) u->wait_since = t;
    }
    if (u->o.send_interval > 0 && u->next < u->nd) {
      cs_timer_start(u->l, &u->pace, u->o.send_interval, on_pace, u);
      break;
    }
  }
  if (u->next == u->nd && u->nsent == 0) finish(u, u->send_failure); /* nothing went out */
}

static void on_pace(cs_timer *tm) { send_due(tm->data); }
static void on_start(cs_defer *df) {
  cs_udp *u = df->data;
  send_due(u);
}

cs_udp *cs_udp_exchange(cs_loop *l, cs_trace *t, const cs_ip *ip, uint16_t port,
                        const cs_udp_dgram *d, size_t n, const cs_udp_opts *o, cs_udp_cb cb,
                        void *arg) {
  cs_udp_opts def = {0};
  if (!o) o = &def;
  if (!l || !t || !ip || !d || n == 0 || n > CS_UDP_MAX_SENDS || !cb) return NULL;
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    if (!d[i].data || d[i].len == 0 || d[i].len > MAX_DGRAM) return NULL;
    bytes += d[i].len;
  }
  cs_udp *u = calloc(1, sizeof *u);
  if (!u) return NULL;
  u->d = malloc(n * sizeof *u->d + bytes);
  if (!u->d) {
    free(u);
    return NULL;
  }
  uint8_t *p = (uint8_t *)(u->d + n);
  for (size_t i = 0; i < n; i++) {
    memcpy(p, d[i].data, d[i].len);
    u->d[i] = (cs_udp_dgram){p, d[i].len};
    p += d[i].len;
  }
  u->l = l, u->t = t, u->ip = *ip, u->port = port, u->nd = n, u->cb = cb, u->arg = arg;
  u->fd = -1;
  u->o = *o;
  if (u->o.timeout <= 0) u->o.timeout = CS_UDP_TIMEOUT;
  if (!u->o.max_replies) u->o.max_replies = CS_UDP_MAX_REPLIES;
  if (!u->o.max_bytes) u->o.max_bytes = CS_UDP_MAX_BYTES;
  if (o->ntags) {
    cs_rec_common rc = {0};
    cs_trace_tags(t, &rc, o->tags, o->ntags);
    u->tags = rc.tags, u->ntags = rc.tags ? rc.ntags : 0;
  }
  u->o.tags = NULL;
  char ep[CS_IPSTR_MAX + 8];
  cs_endpoint_format(ip, port, ep, sizeof ep);
  u->dst = cs_arena_strdup(t->a, ep);
  u->wait_since = cs_mono_now();

  /* an explicit bind (any address, ephemeral port) so replies are received from the start */
  cs_ip any = {.family = ip->family};
  struct sockaddr_storage ss;
  socklen_t sl = cs_ip_to_sockaddr(&any, 0, &ss);
  u->fd = socket(ip->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (u->fd < 0 || bind(u->fd, (struct sockaddr *)&ss, sl) < 0 ||
      cs_io_start(l, &u->io, u->fd, CS_EV_READ, on_readable, u) < 0) {
    u->send_failure = errno_failure(u, errno);
    double now = cs_mono_now();
    add_event(u, "write_to", u->dst, now, now, u->send_failure, 0);
    finish(u, u->send_failure);
    return u;
  }
  cs_timer_start(l, &u->deadline, u->o.timeout, on_deadline, u);
  cs_defer_call(l, &u->defer, on_start, u);
  return u;
}

void cs_udp_cancel(cs_udp *u) {
  if (u) free_udp(u);
}
