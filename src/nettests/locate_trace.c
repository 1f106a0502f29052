/* locate_trace.c - the TTL-limited replay of a trigger (locate_trace.h; docs/forensics.md
 * "Localisation"; OONI tlsmiddlebox ts-037 and CenTrace, CoNEXT '22, are the models), shared
 * by `censorscope locate` (locate.c) and web_connectivity's --locate step.
 *
 *   for TTL = 1, 2, ... max_ttl:          (one source port per trace: one 5-tuple, so an
 *     TCP: connect at the normal TTL,      ECMP router keeps every TTL of a trace on one path)
 *          set IP_TTL, send the trigger
 *     DNS: set IP_TTL on the trace's UDP socket, send the query
 *     wait for: ICMP time-exceeded (the router), an answer, a reset, EOF, unreachable, or
 *     nothing (timeout); after the first event a short grace period catches the second half
 *     of an on-path injection (a forged reply AND the router's time-exceeded)
 *   until a response that is not time-exceeded, or 3 silent TTLs in a row, or max_ttl
 *
 * The router of a time-exceeded message: TCP probes read a raw ICMP socket (CAP_NET_RAW),
 * matched by the quoted 5-tuple; without the privilege the socket error (IP_RECVERR:
 * EHOSTUNREACH) still says "time exceeded" but not who sent it, and the result says so.
 * DNS probes read the UDP socket's error queue (IP_RECVERR, SO_EE_OFFENDER): no privilege.
 *
 * The first TTL where the target trace differs from the control trace is the hop: a response
 * where the control was still in transit (placement "in-path", or "on-path" when the router's
 * time-exceeded came too: the trigger went on while someone answered), or silence to the end
 * where the control went on ("in-path", a drop). A difference at the TTL where the control
 * reached the endpoint is "endpoint" (the server or a firewall in front of it). The router is
 * the time-exceeded sender at that TTL (the target trace's when on-path, else the control's).
 * When the first run finds interference, the run is repeated (repeats) and the answer is the
 * one most runs agree on ("consistent" when all do). */
#include "nettests/locate_trace.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/dnswire.h"
#include "engine/icmp.h"
#include "util/failure.h"

#define LC_GRACE 0.2    /* seconds to wait for the second half of an on-path injection */
#define LC_MAX_SILENT 3 /* silent TTLs in a row that end a trace */

static const char *const lc_trig_names[] = {"tls", "http", "dns"};

const char *cs_locate_trig_str(cs_locate_trig t) {
  return (unsigned)t < 3 ? lc_trig_names[t] : NULL;
}

/* ---- one TTL, one trace, one run ------------------------------------------------------- */

typedef enum {
  LC_R_NONE,     /* nothing yet (only time-exceeded, or nothing at all) */
  LC_R_ANSWER,   /* data from the far end (or from whoever answered for it) */
  LC_R_RESET,    /* TCP RST */
  LC_R_EOF,      /* TCP FIN before any data */
  LC_R_UNREACH,  /* ICMP destination unreachable */
  LC_R_CONNFAIL, /* the TCP connect at the normal TTL failed */
  LC_R_ERROR,    /* any other socket error */
} lc_res;

typedef struct {
  int ttl;
  lc_res res;
  bool te;         /* ICMP time-exceeded seen */
  bool has_router; /* te (or unreachable) with its sender known */
  cs_ip router;
  bool sock_err; /* the socket reported EHOSTUNREACH (IP_RECVERR) */
  double t, rtt; /* send time since the start; seconds to the first event (< 0: none) */
  const char *failure;
  size_t bytes;
  uint8_t icmp_type, icmp_code, icmp_ttl;
  /* DNS */
  uint16_t dns_id;
  int rcode;
  int replies; /* DNS replies with this TTL's ID (late ones included) */
  bool has_addr;
  cs_ip addr;    /* first A record of the first reply */
  int reply_ttl; /* IP TTL of the first reply (-1 unknown) */
} lc_hop;

typedef struct {
  lc_hop hop[CS_LOCATE_MAX_TTL];
  int n;
  uint16_t sport;
  bool tuple_changed; /* the source port could not be kept for every TTL */
  bool cut;           /* --max-time ended it */
} lc_trace;

typedef struct {
  bool compared; /* the control reached the endpoint: the traces could be compared */
  bool interference;
  int hop; /* 0: none */
  bool has_router, has_prev;
  cs_ip router, prev;
  int target_ttl, control_ttl; /* 0: none */
  const char *placement;       /* NULL, "in-path", "on-path", "endpoint" */
  const char *why;             /* the difference, in words (arena string or literal) */
} lc_sum;

typedef struct {
  lc_trace ctl, tgt;
  lc_sum sum;
} lc_run;

typedef enum { PH_IDLE, PH_CONNECT, PH_WAIT, PH_GRACE, PH_INTERVAL } lc_phase;

struct cs_locate {
  cs_arena *a;
  cs_loop *l;
  cs_locate_opts o; /* names copied into a */
  cs_locate_done done;
  void *done_arg;
  cs_ip dst;
  uint16_t port;
  bool raw;           /* raw ICMP socket open */
  const char *method; /* "raw_icmp", "so_error", "ip_recverr" */
  const char *note;
  int icmp_fd;
  cs_io icmp_io;
  uint8_t *payload[2]; /* TCP trigger bytes: control, target */
  size_t payload_len[2];
  lc_run *runs;
  int nruns, run, which; /* which: 0 control trace, 1 target trace */
  lc_trace *tr;
  lc_hop *h;
  int fd; /* TCP socket of this TTL, or the trace's UDP socket */
  cs_io io;
  cs_timer timer;
  lc_phase phase;
  int silent;
  uint16_t id_base;
  double t0, deadline, t_send;
  bool cut;
  cs_dnswire_reply *reply;
  cs_defer defer;
};
typedef struct cs_locate lc;

static void lc_probe_begin(lc *m);
static void lc_trace_end(lc *m);

static double lc_now(lc *m) {
  cs_loop_update_now(m->l);
  return cs_loop_now(m->l);
}

/* A probe's timer, never past the trace's deadline (--max-time holds even while a connect or
 * a wait is in flight). */
static double lc_cap(lc *m, double s) {
  double left = m->deadline - lc_now(m);
  if (left < 0.001) left = 0.001;
  return s < left ? s : left;
}

static bool lc_ip_eq(const cs_ip *x, const cs_ip *y) {
  return x->family == y->family && !memcmp(x->b, y->b, x->family == AF_INET ? 4 : 16);
}

static bool lc_is_response(lc_res r) { return r != LC_R_NONE; }

/* ---- the trigger bytes ----------------------------------------------------------------- */

/* A ClientHello as OpenSSL sends it (SNI, ALPN h2 and http/1.1), taken from a memory BIO. */
static int lc_client_hello(const char *sni, uint8_t **out, size_t *outlen) {
  int rc = -1;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  SSL *ssl = ctx ? SSL_new(ctx) : NULL;
  BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
  if (!ssl || !rb || !wb) {
    BIO_free(rb);
    BIO_free(wb);
    goto out;
  }
  SSL_set_bio(ssl, rb, wb); /* ssl owns both now */
  static const unsigned char alpn[] = "\x02h2\x08http/1.1";
  if (SSL_set_tlsext_host_name(ssl, sni) != 1 || SSL_set_alpn_protos(ssl, alpn, sizeof alpn - 1))
    goto out;
  SSL_set_connect_state(ssl);
  (void)SSL_do_handshake(ssl); /* writes the ClientHello, then wants to read */
  char *p;
  long n = BIO_get_mem_data(wb, &p);
  if (n <= 0 || n > 16384) goto out;
  *out = malloc((size_t)n);
  if (!*out) goto out;
  memcpy(*out, p, (size_t)n);
  *outlen = (size_t)n;
  rc = 0;
out:
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return rc;
}

static int lc_http_request(const char *host, uint8_t **out, size_t *outlen) {
  char buf[512];
  int n = snprintf(buf, sizeof buf,
                   "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n"
                   "Connection: close\r\n\r\n",
                   host);
  if (n < 0 || (size_t)n >= sizeof buf) return -1;
  *out = malloc((size_t)n);
  if (!*out) return -1;
  memcpy(*out, buf, (size_t)n);
  *outlen = (size_t)n;
  return 0;
}

/* ---- the localisation (pure) ----------------------------------------------------------- */

/* The TTL at which a trace ended: its last hop's when that was a response, the first of its
 * trailing silent TTLs when it ended in silence; 0 when it ended in transit (max TTL). */
static int lc_end_ttl(const lc_trace *t, bool *silent_end) {
  *silent_end = false;
  if (t->n == 0) return 0;
  const lc_hop *last = &t->hop[t->n - 1];
  if (lc_is_response(last->res)) return last->ttl;
  if (last->te) return 0;
  int i = t->n - 1;
  while (i > 0 && !lc_is_response(t->hop[i - 1].res) && !t->hop[i - 1].te) i--;
  *silent_end = true;
  return t->hop[i].ttl;
}

static void lc_summarize(cs_arena *a, const lc_trace *ctl, const lc_trace *tgt, lc_sum *o) {
  memset(o, 0, sizeof *o);
  bool csil, tsil;
  int cend = lc_end_ttl(ctl, &csil), tend = lc_end_ttl(tgt, &tsil);
  o->target_ttl = tend;
  if (cend && !csil && ctl->hop[ctl->n - 1].res == LC_R_ANSWER) o->control_ttl = cend;
  if (!o->control_ttl) {
    o->why = "the control trace did not reach the endpoint: nothing to compare with";
    return;
  }
  if (tgt->n == 0) {
    o->why = "the target trace did not run: the time limit was reached";
    return;
  }
  o->compared = true;
  for (int i = 0; i < tgt->n; i++) {
    const lc_hop *T = &tgt->hop[i];
    const lc_hop *C = i < ctl->n ? &ctl->hop[i] : NULL;
    bool at_end = T->ttl == o->control_ttl;
    bool differs = false;
    if (lc_is_response(T->res)) {
      if (!C) break;
      if (!lc_is_response(C->res)) differs = true; /* the control was still in transit */
      else if (T->res != C->res) differs = true;   /* both ended here, differently */
      else break;                                  /* both ended here alike */
    } else if (tsil && T->ttl >= tend) {
      /* silence to the end of the target trace: where did the control go on? */
      if (C && (C->te || lc_is_response(C->res))) differs = true;
    }
    if (!differs) {
      if (lc_is_response(T->res)) break;
      continue;
    }
    o->interference = true;
    o->hop = T->ttl;
    o->target_ttl = T->ttl;
    if (at_end) {
      o->placement = "endpoint";
    } else if (lc_is_response(T->res) && T->te) {
      o->placement = "on-path";
    } else {
      o->placement = "in-path";
    }
    if (!at_end) {
      if (T->te && T->has_router) o->has_router = true, o->router = T->router;
      else if (C && C->has_router) o->has_router = true, o->router = C->router;
    }
    if (i > 0) {
      const lc_hop *P = &tgt->hop[i - 1], *Q = &ctl->hop[i - 1];
      if (P->has_router) o->has_prev = true, o->prev = P->router;
      else if (i - 1 < ctl->n && Q->has_router) o->has_prev = true, o->prev = Q->router;
    }
    static const char *const rn[] = {"no response", "an answer",       "a reset", "EOF",
                                     "unreachable", "connect failure", "an error"};
    const char *cwhat = !C                       ? "nothing"
                        : lc_is_response(C->res) ? rn[C->res]
                        : C->te                  ? "time-exceeded"
                                                 : "silence";
    o->why = cs_arena_printf(a, "TTL %d: target %s%s, control %s", T->ttl,
                             lc_is_response(T->res) ? rn[T->res] : "silent to the end",
                             T->te && lc_is_response(T->res) ? " and time-exceeded" : "", cwhat);
    return;
  }
  o->why = "the target trace went as far as the control trace";
}

/* ---- sockets --------------------------------------------------------------------------- */

static void lc_close_fd(lc *m) {
  if (m->fd < 0) return;
  cs_io_stop(m->l, &m->io);
  if (m->o.trig != CS_LOCATE_DNS) {
    /* leave with a reset at the normal TTL: the server forgets the connection and the next
     * TTL's connect on the same 5-tuple starts clean */
    int ttl = 64;
    struct linger lg = {1, 0};
    (void)setsockopt(m->fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    (void)setsockopt(m->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  close(m->fd);
  m->fd = -1;
}

static int lc_bind_port(lc *m, int fd) {
  int one = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(m->tr->sport)};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    if (!m->tr->sport) return -1;
    m->tr->tuple_changed = true; /* the port is taken: go on with another */
    sa.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) return -1;
  }
  socklen_t sl = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) return -1;
  if (!m->tr->sport) m->tr->sport = ntohs(sa.sin_port);
  (void)setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one);
  return 0;
}

static struct sockaddr_in lc_dst_sa(const lc *m) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(m->port)};
  memcpy(&sa.sin_addr, m->dst.b, 4);
  return sa;
}

/* ---- events of one TTL ----------------------------------------------------------------- */

static void lc_timer_cb(cs_timer *t);

static void lc_event(lc *m) {
  if (m->h->rtt < 0) m->h->rtt = lc_now(m) - m->t_send;
  if (m->phase == PH_WAIT) {
    m->phase = PH_GRACE;
    cs_timer_stop(m->l, &m->timer);
    cs_timer_start(m->l, &m->timer, lc_cap(m, m->o.timeout < LC_GRACE ? m->o.timeout : LC_GRACE),
                   lc_timer_cb, m);
  }
}

static void lc_set_res(lc *m, lc_res r, const char *failure) {
  if (m->h->res != LC_R_NONE) return;
  m->h->res = r;
  m->h->failure = failure;
}

static void lc_icmp_cb(cs_io *w, unsigned events) {
  lc *m = w->data;
  (void)events;
  uint8_t buf[1600];
  for (int k = 0; k < 64; k++) {
    ssize_t n = recv(m->icmp_fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    cs_icmp_err e;
    if (cs_icmp_parse(buf, (size_t)n, &e) < 0) continue;
    if (m->phase != PH_WAIT && m->phase != PH_GRACE) continue;
    if (e.qproto != 6 || !lc_ip_eq(&e.qdst, &m->dst) || e.qdport != m->port ||
        e.qsport != m->tr->sport)
      continue;
    lc_hop *h = m->h;
    if (e.type == CS_ICMP_TIME_EXCEEDED) {
      h->te = true;
    } else {
      lc_set_res(m, LC_R_UNREACH, e.code == 1 ? "host_unreachable" : "network_unreachable");
    }
    if (!h->has_router) {
      h->has_router = true;
      h->router = e.from;
      h->icmp_type = e.type, h->icmp_code = e.code, h->icmp_ttl = e.ttl;
    }
    lc_event(m);
  }
}

static void lc_icmp_drain(lc *m) {
  uint8_t buf[1600];
  for (int k = 0; m->raw && k < 256; k++)
    if (recv(m->icmp_fd, buf, sizeof buf, 0) <= 0) break;
}

static void lc_tcp_read(lc *m) {
  uint8_t buf[4096];
  for (int k = 0; k < 16; k++) {
    ssize_t n = recv(m->fd, buf, sizeof buf, 0);
    if (n > 0) {
      lc_set_res(m, LC_R_ANSWER, NULL);
      m->h->bytes += (size_t)n;
      lc_event(m);
      continue;
    }
    if (n == 0) {
      lc_set_res(m, LC_R_EOF, "eof_error");
      cs_io_stop(m->l, &m->io);
      lc_event(m);
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    if (errno == EHOSTUNREACH && m->h->res == LC_R_NONE) {
      /* IP_RECVERR: an ICMP error, time-exceeded most likely (host-unreachable reads the same;
       * the raw socket tells them apart when there is one). The connection lives on. */
      m->h->sock_err = true;
      lc_event(m);
      continue;
    }
    if (errno == ECONNRESET) lc_set_res(m, LC_R_RESET, "connection_reset");
    else if (errno == ENETUNREACH) lc_set_res(m, LC_R_UNREACH, "network_unreachable");
    else lc_set_res(m, LC_R_ERROR, cs_failure_str(cs_failure_from_errno(errno)));
    cs_io_stop(m->l, &m->io);
    lc_event(m);
    return;
  }
}

static lc_hop *lc_hop_by_id(lc *m, uint16_t id) {
  for (int i = 0; i < m->tr->n; i++)
    if (m->tr->hop[i].dns_id == id) return &m->tr->hop[i];
  return NULL;
}

/* The UDP socket's error queue: ICMP errors with their sender (SO_EE_OFFENDER) and the
 * datagram they quote (our query: its ID says which TTL). */
static void lc_dns_errqueue(lc *m) {
  for (int k = 0; k < 64; k++) {
    uint8_t data[512], ctl[512];
    struct sockaddr_in from;
    struct iovec iov = {data, sizeof data};
    struct msghdr mh = {.msg_name = &from,
                        .msg_namelen = sizeof from,
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl,
                        .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(m->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (n < 0) return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_RECVERR) continue;
      if (c->cmsg_len < CMSG_LEN(sizeof(struct sock_extended_err))) continue;
      struct sock_extended_err ee;
      memcpy(&ee, CMSG_DATA(c), sizeof ee);
      if (ee.ee_origin != SO_EE_ORIGIN_ICMP) continue;
      lc_hop *h = n >= 2 ? lc_hop_by_id(m, (uint16_t)(data[0] << 8 | data[1])) : m->h;
      if (!h || h != m->h || (m->phase != PH_WAIT && m->phase != PH_GRACE)) continue;
      if (ee.ee_type == CS_ICMP_TIME_EXCEEDED) {
        h->te = true;
      } else if (ee.ee_type == CS_ICMP_DEST_UNREACH) {
        lc_set_res(m, LC_R_UNREACH,
                   ee.ee_code == 3   ? "connection_refused"
                   : ee.ee_code == 1 ? "host_unreachable"
                                     : "network_unreachable");
      } else {
        continue;
      }
      size_t off_len = (size_t)c->cmsg_len - CMSG_LEN(sizeof ee);
      if (!h->has_router && off_len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in off;
        memcpy(&off, CMSG_DATA(c) + sizeof ee, sizeof off);
        if (off.sin_family == AF_INET) {
          h->has_router = true;
          memset(&h->router, 0, sizeof h->router);
          h->router.family = AF_INET;
          memcpy(h->router.b, &off.sin_addr, 4);
          h->icmp_type = ee.ee_type, h->icmp_code = ee.ee_code;
        }
      }
      lc_event(m);
    }
  }
}

static void lc_dns_read(lc *m) {
  for (int k = 0; k < 32; k++) {
    uint8_t buf[4096], ctl[128];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(m->fd, &mh, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      /* an ICMP error reported on the socket: its details are in the error queue */
      lc_dns_errqueue(m);
      continue;
    }
    int ipttl = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL &&
          c->cmsg_len >= CMSG_LEN(sizeof(int)))
        memcpy(&ipttl, CMSG_DATA(c), sizeof ipttl);
    if (cs_dnswire_parse(buf, (size_t)n, m->reply) != CS_DNSWIRE_OK) continue;
    lc_hop *h = lc_hop_by_id(m, m->reply->id);
    if (!h) continue;
    h->replies++;
    if (h != m->h || (m->phase != PH_WAIT && m->phase != PH_GRACE)) continue; /* late */
    if (h->res == LC_R_NONE) {
      h->rcode = m->reply->rcode;
      h->reply_ttl = ipttl;
      cs_ip ips[1];
      if (cs_dnswire_addrs(m->reply, CS_DNS_TYPE_A, ips, 1) == 1)
        h->has_addr = true, h->addr = ips[0];
    }
    lc_set_res(m, LC_R_ANSWER, NULL);
    lc_event(m);
  }
}

static void lc_io_cb(cs_io *w, unsigned events);

/* ---- the sequence ---------------------------------------------------------------------- */

static void lc_probe_end(lc *m) {
  cs_timer_stop(m->l, &m->timer);
  lc_hop *h = m->h;
  if (!h->te && h->sock_err && h->res == LC_R_NONE) h->te = true; /* via SO_ERROR only */
  if (m->o.trig != CS_LOCATE_DNS) lc_close_fd(m);
  else cs_io_set(m->l, &m->io, CS_EV_READ); /* late replies are still counted */
  m->phase = PH_IDLE;
  bool end = lc_is_response(h->res) || h->ttl >= m->o.max_ttl;
  if (!lc_is_response(h->res) && !h->te) {
    if (h->rtt < 0 && !h->failure) h->failure = "generic_timeout_error";
    if (++m->silent >= LC_MAX_SILENT) end = true;
  } else {
    m->silent = 0;
  }
  if (lc_now(m) >= m->deadline) {
    m->cut = m->tr->cut = !end;
    end = true;
  }
  if (end) {
    lc_trace_end(m);
    return;
  }
  m->phase = PH_INTERVAL;
  cs_timer_start(m->l, &m->timer, m->o.interval, lc_timer_cb, m);
}

static void lc_send(lc *m) {
  lc_hop *h = m->h;
  int ttl = h->ttl;
  if (setsockopt(m->fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) < 0) {
    lc_set_res(m, LC_R_ERROR, cs_failure_str(cs_failure_from_errno(errno)));
    lc_probe_end(m);
    return;
  }
  lc_icmp_drain(m);
  m->t_send = lc_now(m);
  h->t = m->t_send - m->t0;
  ssize_t n;
  if (m->o.trig == CS_LOCATE_DNS) {
    cs_dnswire_query q;
    cs_buf qb;
    cs_buf_init(&qb, 1024);
    h->dns_id = (uint16_t)(m->id_base + (unsigned)ttl);
    const char *name = m->which ? m->o.name : m->o.control;
    if (cs_dnswire_query_init(&q, name, CS_DNS_TYPE_A, h->dns_id) != CS_DNSWIRE_OK ||
        cs_dnswire_query_encode(&q, false, &qb) != CS_DNSWIRE_OK || qb.overflow) {
      cs_buf_free(&qb);
      lc_set_res(m, LC_R_ERROR, CS_FAILURE_UNKNOWN_CONST("the query could not be built"));
      lc_probe_end(m);
      return;
    }
    n = send(m->fd, qb.data, qb.len, MSG_NOSIGNAL);
    cs_buf_free(&qb);
  } else {
    n = send(m->fd, m->payload[m->which], m->payload_len[m->which], MSG_NOSIGNAL);
  }
  if (n < 0 && errno != EAGAIN) {
    lc_set_res(m, LC_R_ERROR, cs_failure_str(cs_failure_from_errno(errno)));
    lc_probe_end(m);
    return;
  }
  m->phase = PH_WAIT;
  cs_io_set(m->l, &m->io, CS_EV_READ);
  cs_timer_start(m->l, &m->timer, lc_cap(m, m->o.timeout), lc_timer_cb, m);
}

static void lc_connected(lc *m) {
  int err = 0;
  socklen_t el = sizeof err;
  if (getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
  if (err) {
    lc_set_res(m, LC_R_CONNFAIL, cs_failure_str(cs_failure_from_errno(err)));
    lc_probe_end(m);
    return;
  }
  cs_timer_stop(m->l, &m->timer);
  lc_send(m);
}

static void lc_io_cb(cs_io *w, unsigned events) {
  lc *m = w->data;
  switch (m->phase) {
  case PH_CONNECT:
    if (events & (CS_EV_WRITE | CS_EV_ERROR)) lc_connected(m);
    break;
  case PH_WAIT:
  case PH_GRACE:
    if (m->o.trig == CS_LOCATE_DNS) {
      if (events & CS_EV_ERROR) lc_dns_errqueue(m);
      lc_dns_read(m);
    } else {
      lc_tcp_read(m);
    }
    break;
  default:
    if (m->o.trig == CS_LOCATE_DNS) {
      if (events & CS_EV_ERROR) lc_dns_errqueue(m);
      lc_dns_read(m); /* late replies */
    } else {
      cs_io_stop(m->l, &m->io);
    }
    break;
  }
}

static void lc_timer_cb(cs_timer *t) {
  lc *m = t->data;
  switch (m->phase) {
  case PH_CONNECT:
    lc_set_res(m, LC_R_CONNFAIL, "generic_timeout_error");
    lc_probe_end(m);
    break;
  case PH_WAIT:
  case PH_GRACE: lc_probe_end(m); break;
  case PH_INTERVAL:
    m->phase = PH_IDLE;
    lc_probe_begin(m);
    break;
  default: break;
  }
}

static void lc_probe_begin(lc *m) {
  lc_trace *tr = m->tr;
  lc_hop *h = &tr->hop[tr->n];
  memset(h, 0, sizeof *h);
  h->ttl = tr->n + 1;
  h->rtt = -1;
  h->reply_ttl = -1;
  tr->n++;
  m->h = h;
  if (m->o.trig == CS_LOCATE_DNS) {
    lc_send(m);
    return;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || lc_bind_port(m, fd) < 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    lc_set_res(m, LC_R_ERROR, cs_failure_str(cs_failure_from_errno(e)));
    lc_probe_end(m);
    return;
  }
  m->fd = fd;
  struct sockaddr_in sa = lc_dst_sa(m);
  m->phase = PH_CONNECT;
  if (cs_io_start(m->l, &m->io, fd, CS_EV_WRITE, lc_io_cb, m) < 0) {
    lc_set_res(m, LC_R_ERROR, CS_FAILURE_UNKNOWN_CONST("epoll"));
    lc_probe_end(m);
    return;
  }
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
    lc_set_res(m, LC_R_CONNFAIL, cs_failure_str(cs_failure_from_errno(errno)));
    lc_probe_end(m);
    return;
  }
  double ct = m->o.connect_timeout > 0 ? m->o.connect_timeout : 10;
  cs_timer_start(m->l, &m->timer, lc_cap(m, ct), lc_timer_cb, m);
}

static void lc_finish_cb(cs_defer *d);

static void lc_trace_begin(lc *m) {
  lc_run *r = &m->runs[m->run];
  m->tr = m->which ? &r->tgt : &r->ctl;
  memset(m->tr, 0, sizeof *m->tr);
  m->silent = 0;
  m->id_base = cs_dnswire_random_id();
  if (m->o.trig == CS_LOCATE_DNS) {
    int one = 1;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = lc_dst_sa(m);
    if (fd < 0 || lc_bind_port(m, fd) < 0 ||
        setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof one) < 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        cs_io_start(m->l, &m->io, fd, CS_EV_READ, lc_io_cb, m) < 0) {
      int e = errno;
      if (fd >= 0) close(fd);
      m->tr->n = 1;
      m->tr->hop[0] = (lc_hop){.ttl = 1,
                               .res = LC_R_ERROR,
                               .rtt = -1,
                               .reply_ttl = -1,
                               .failure = cs_failure_str(cs_failure_from_errno(e))};
      lc_trace_end(m);
      return;
    }
    m->fd = fd;
  }
  lc_probe_begin(m);
}

/* Chooses the answer most runs agree on. */
static const lc_run *lc_pick(const lc *m, int *agree, bool *consistent) {
  const lc_run *best = &m->runs[0];
  int bestn = 0;
  *consistent = true;
  for (int i = 0; i < m->nruns; i++) {
    const lc_sum *x = &m->runs[i].sum;
    int n = 0;
    for (int j = 0; j < m->nruns; j++) {
      const lc_sum *y = &m->runs[j].sum;
      bool same = x->interference == y->interference && x->hop == y->hop &&
                  x->has_router == y->has_router &&
                  (!x->has_router || lc_ip_eq(&x->router, &y->router)) &&
                  (x->placement == y->placement ||
                   (x->placement && y->placement && !strcmp(x->placement, y->placement)));
      if (same) n++;
    }
    if (n != m->nruns) *consistent = false;
    if (n > bestn) best = &m->runs[i], bestn = n;
  }
  *agree = bestn;
  return best;
}

static void lc_trace_end(lc *m) {
  cs_timer_stop(m->l, &m->timer);
  if (m->fd >= 0) {
    cs_io_stop(m->l, &m->io);
    close(m->fd);
    m->fd = -1;
  }
  m->phase = PH_IDLE;
  /* no target trace after a control that ended at the deadline: the bound holds */
  if (m->which == 0 && !m->cut && lc_now(m) >= m->deadline) m->cut = true;
  if (m->which == 0 && !m->cut) {
    m->which = 1;
    lc_trace_begin(m);
    return;
  }
  lc_run *r = &m->runs[m->run];
  lc_summarize(m->a, &r->ctl, &r->tgt, &r->sum);
  m->nruns = m->run + 1;
  bool more = r->sum.interference && m->nruns < m->o.repeats && !m->cut;
  if (m->run > 0) more = m->nruns < m->o.repeats && !m->cut;
  if (more && lc_now(m) < m->deadline) {
    m->run++;
    m->which = 0;
    lc_trace_begin(m);
    return;
  }
  cs_defer_call(m->l, &m->defer, lc_finish_cb, m);
}

/* ---- output ---------------------------------------------------------------------------- */

static const char *const lc_res_names[] = {"time_exceeded", "answer",         "reset", "eof",
                                           "unreachable",   "connect_failed", "error"};

static void lc_kip(cs_jw *w, const char *k, bool has, const cs_ip *ip) {
  char s[CS_IPSTR_MAX];
  if (!has) {
    cs_jw_knull(w, k);
    return;
  }
  cs_ip_format(ip, s);
  cs_jw_kstr(w, k, s);
}

static void lc_write_path(const lc *m, cs_jw *w, const lc_trace *t) {
  cs_jw_arr_open(w);
  for (int i = 0; i < t->n; i++) {
    const lc_hop *h = &t->hop[i];
    cs_jw_obj_open(w);
    cs_jw_kint(w, "ttl", h->ttl);
    lc_kip(w, "router", h->has_router, &h->router);
    if (h->rtt >= 0) cs_jw_kdouble(w, "rtt_ms", (double)(long)(h->rtt * 1e6) / 1e3);
    else cs_jw_knull(w, "rtt_ms");
    const char *res = h->res != LC_R_NONE ? lc_res_names[h->res]
                      : h->te             ? "time_exceeded"
                                          : "timeout";
    cs_jw_kstr(w, "result", res);
    cs_jw_kbool(w, "time_exceeded", h->te);
    cs_jw_kstr(w, "failure", h->failure);
    cs_jw_ksecs(w, "t", h->t);
    if (h->has_router && h->icmp_type == CS_ICMP_TIME_EXCEEDED && h->icmp_ttl)
      cs_jw_kint(w, "icmp_ttl", h->icmp_ttl);
    if (m->o.trig == CS_LOCATE_DNS) {
      cs_jw_kint(w, "dns_id", h->dns_id);
      cs_jw_kint(w, "replies", h->replies);
      if (h->res == LC_R_ANSWER) {
        cs_jw_kint(w, "rcode", h->rcode);
        lc_kip(w, "answer", h->has_addr, &h->addr);
        if (h->reply_ttl >= 0) cs_jw_kint(w, "reply_ttl", h->reply_ttl);
      }
    } else if (h->res == LC_R_ANSWER) {
      cs_jw_kint(w, "bytes", (int64_t)h->bytes);
    }
    cs_jw_obj_close(w);
  }
  cs_jw_arr_close(w);
}

static void lc_write_sum(cs_jw *w, const lc_sum *s) {
  if (s->hop) cs_jw_kint(w, "hop", s->hop);
  else cs_jw_knull(w, "hop");
  lc_kip(w, "router", s->has_router, &s->router);
  lc_kip(w, "previous_router", s->has_prev, &s->prev);
  if (s->target_ttl) cs_jw_kint(w, "target_ttl", s->target_ttl);
  else cs_jw_knull(w, "target_ttl");
  if (s->control_ttl) cs_jw_kint(w, "control_ttl", s->control_ttl);
  else cs_jw_knull(w, "control_ttl");
  cs_jw_kstr(w, "placement", s->placement);
  cs_jw_kbool(w, "interference", s->interference);
  cs_jw_kstr(w, "why", s->why);
}

void cs_locate_write(const cs_locate *m, cs_jw *w) {
  cs_jw_obj_open(w);
  int agree = 0;
  bool consistent = false;
  const lc_run *r = m->nruns ? lc_pick(m, &agree, &consistent) : NULL;
  if (r) lc_write_sum(w, &r->sum);
  char ep[CS_IPSTR_MAX + 16], ip[CS_IPSTR_MAX];
  cs_ip_format(&m->dst, ip);
  snprintf(ep, sizeof ep, "%s %s:%u", m->o.trig == CS_LOCATE_DNS ? "udp" : "tcp", ip, m->port);
  cs_jw_kstr(w, "flow", ep);
  cs_jw_key(w, "path");
  if (r) lc_write_path(m, w, &r->tgt);
  else cs_jw_null(w);
  cs_jw_key(w, "control_path");
  if (r) lc_write_path(m, w, &r->ctl);
  else cs_jw_null(w);
  cs_jw_kint(w, "runs", m->nruns);
  cs_jw_kint(w, "agreeing_runs", agree);
  cs_jw_kbool(w, "consistent", consistent);
  cs_jw_key(w, "run_results");
  cs_jw_arr_open(w);
  bool changed = false, cut = false;
  for (int i = 0; i < m->nruns; i++) {
    cs_jw_obj_open(w);
    lc_write_sum(w, &m->runs[i].sum);
    cs_jw_obj_close(w);
    changed |= m->runs[i].ctl.tuple_changed || m->runs[i].tgt.tuple_changed;
    cut |= m->runs[i].ctl.cut || m->runs[i].tgt.cut;
  }
  cs_jw_arr_close(w);
  cs_jw_kbool(w, "five_tuple_kept", !changed);
  cs_jw_kbool(w, "truncated", cut || m->cut);
  cs_jw_kstr(w, "method", m->method);
  cs_jw_kstr(w, "note", m->note);
  cs_jw_obj_close(w);
}

/* Closes the step's sockets and stops its timer (the results stay). */
static void lc_release(lc *m) {
  if (m->fd >= 0) {
    cs_io_stop(m->l, &m->io);
    close(m->fd);
    m->fd = -1;
  }
  if (m->raw) {
    cs_io_stop(m->l, &m->icmp_io);
    close(m->icmp_fd);
    m->icmp_fd = -1;
    m->raw = false;
  }
  cs_timer_stop(m->l, &m->timer);
}

void cs_locate_free(cs_locate *m) {
  if (!m) return;
  cs_defer_cancel(m->l, &m->defer);
  lc_release(m);
  free(m->payload[0]);
  free(m->payload[1]);
  free(m->runs);
  free(m->reply);
  free(m);
}

static void lc_finish_cb(cs_defer *d) {
  lc *m = d->data;
  lc_release(m); /* nothing of the step stays on the loop */
  m->done(m->done_arg, m);
}

cs_locate *cs_locate_start(cs_loop *l, cs_arena *a, const cs_locate_opts *o, cs_locate_done done,
                           void *arg, const char **err) {
  *err = NULL;
  if (o->dst.family != AF_INET) {
    *err = "IPv6 targets are not supported yet";
    return NULL;
  }
  if ((unsigned)o->trig > CS_LOCATE_DNS || !o->name || !o->control) {
    *err = "no trigger";
    return NULL;
  }
  lc *m = calloc(1, sizeof *m);
  if (!m) {
    *err = "out of memory";
    return NULL;
  }
  m->fd = m->icmp_fd = -1;
  m->a = a, m->l = l;
  m->done = done, m->done_arg = arg;
  m->o = *o;
  if (m->o.max_ttl < 1) m->o.max_ttl = 1;
  if (m->o.max_ttl > CS_LOCATE_MAX_TTL) m->o.max_ttl = CS_LOCATE_MAX_TTL;
  if (m->o.repeats < 1) m->o.repeats = 1;
  if (m->o.repeats > CS_LOCATE_MAX_RUNS) m->o.repeats = CS_LOCATE_MAX_RUNS;
  m->o.name = cs_arena_strdup(a, o->name);
  m->o.control = cs_arena_strdup(a, o->control);
  m->dst = o->dst, m->port = o->port;
  m->runs = calloc(CS_LOCATE_MAX_RUNS, sizeof *m->runs);
  m->reply = malloc(sizeof *m->reply);
  if (!m->runs || !m->reply || !m->o.name || !m->o.control) {
    cs_locate_free(m);
    *err = "out of memory";
    return NULL;
  }
  m->t0 = lc_now(m);
  m->deadline = m->t0 + m->o.max_time;
  if (m->o.trig != CS_LOCATE_DNS) {
    int rc = m->o.trig == CS_LOCATE_TLS
                 ? lc_client_hello(m->o.control, &m->payload[0], &m->payload_len[0])
                 : lc_http_request(m->o.control, &m->payload[0], &m->payload_len[0]);
    if (rc == 0)
      rc = m->o.trig == CS_LOCATE_TLS
               ? lc_client_hello(m->o.name, &m->payload[1], &m->payload_len[1])
               : lc_http_request(m->o.name, &m->payload[1], &m->payload_len[1]);
    if (rc < 0) {
      cs_locate_free(m);
      *err = "the trigger could not be built (out of memory or TLS error)";
      return NULL;
    }
  }
  if (m->o.trig == CS_LOCATE_DNS) {
    m->method = "ip_recverr";
  } else {
    m->icmp_fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (m->icmp_fd >= 0 &&
        cs_io_start(l, &m->icmp_io, m->icmp_fd, CS_EV_READ, lc_icmp_cb, m) == 0) {
      m->raw = true;
      m->method = "raw_icmp";
    } else {
      int e = errno;
      if (m->icmp_fd >= 0) close(m->icmp_fd);
      m->icmp_fd = -1;
      m->method = "so_error";
      m->note = cs_arena_printf(
          m->a,
          "no raw ICMP socket (%s: CAP_NET_RAW needed): time-exceeded seen only as the "
          "socket error EHOSTUNREACH (not told apart from host-unreachable), the routers' "
          "addresses not seen",
          e == EPERM    ? "EPERM"
          : e == EACCES ? "EACCES"
                        : cs_failure_str(cs_failure_from_errno(e)));
    }
  }
  lc_trace_begin(m);
  return m;
}
