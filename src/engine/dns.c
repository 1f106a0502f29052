/* dns.c - the DNS steps (see dns.h): getaddrinfo on the worker pool, DNS over UDP with the
 * duplicate-response window and TCP fallback, DNS over TCP, and a lookup (A + AAAA, merged by
 * cs_dns_merge, which DoH shares).
 * Wire format work is in dnswire.c; this file owns sockets, timers and OONI records. */
#include "engine/dns.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/capture.h"
#include "engine/dnswire.h"
#include "util/buf.h"
#include "util/failure.h"

#define UDP_RXBUF 65536 /* a datagram never exceeds this (MSG_TRUNC tells if it did) */
#define TCP_RXMAX (2 + CS_DNSWIRE_MAX_MSG)
#define UDP_BURST 16 /* datagrams handled per readiness callback (fairness) */

enum { K_GAI, K_UDP, K_TCP, K_LOOKUP };
enum { TCP_CONNECTING, TCP_WRITING, TCP_READING };

typedef struct gai_job gai_job;

struct cs_dns_req {
  int kind;
  cs_loop *loop;
  cs_trace *trace;
  cs_dns_cb cb;
  void *arg;
  /* options, resolved */
  double timeout, window;
  size_t max_events;
  size_t nevents_own;
  size_t *nevents;    /* shared by a lookup and its sub-steps */
  cs_rec_common tmpl; /* txid + tags (in the trace arena), copied into every record */
  bool edns0, tcp_fallback;
  /* life cycle */
  cs_defer defer;
  cs_timer deadline, window_timer;
  bool finished, in_cb;
  double start; /* monotonic */
  /* what was asked */
  char *host;         /* malloc'd */
  const char *host_a; /* arena copy for records */
  uint16_t qtype;
  cs_ip resolver;
  uint16_t port;
  const char *resolver_a; /* "ip:port" in the arena */
  /* result */
  const char *failure;
  cs_ip addrs[CS_DNS_MAX_ADDRS];
  size_t naddrs;
  const cs_query_rec *rec;
  int rcode;
  size_t ndup, ndropped;
  /* getaddrinfo */
  gai_job *job;
  /* UDP / TCP */
  cs_dnswire_query q;
  cs_dnswire_reply *reply; /* malloc'd (large) */
  int fd;
  cs_io io;
  cs_buf tx;
  size_t txoff;
  uint8_t *rx; /* UDP: UDP_RXBUF bytes; TCP: TCP_RXMAX bytes */
  size_t rxlen;
  int tcp_state;
  double t0; /* monotonic: query sent (UDP) / connect started (TCP) */
  bool got_first, saw_garbage, window_done;
  cs_dns_req *child; /* UDP: the TCP fallback */
  /* lookup */
  cs_dns_req *sub[2];
  cs_ip sub_addrs[2][CS_DNS_MAX_ADDRS];
  cs_dns_result sub_res[2]; /* addrs point into sub_addrs */
  bool sub_done[2];
  int nsub;
};

struct gai_job {
  cs_work work;
  char *host;
  int rc, err;
  struct addrinfo *res;
  cs_dns_req *req; /* NULL once the request has gone: the result is then discarded */
};

const char *cs_dns_qtype_str(uint16_t qtype) {
  switch (qtype) {
  case CS_DNS_TYPE_A: return "A";
  case CS_DNS_TYPE_NS: return "NS";
  case CS_DNS_TYPE_CNAME: return "CNAME";
  case CS_DNS_TYPE_SOA: return "SOA";
  case CS_DNS_TYPE_PTR: return "PTR";
  case CS_DNS_TYPE_TXT: return "TXT";
  case CS_DNS_TYPE_AAAA: return "AAAA";
  case CS_DNS_TYPE_ANY: return "ANY";
  default: return "";
  }
}

static double now(cs_dns_req *r) {
  cs_loop_update_now(r->loop);
  return cs_loop_now(r->loop);
}
static double rel(cs_dns_req *r, double mono) { return cs_trace_rel(r->trace, mono); }

/* ---- life cycle ------------------------------------------------------------------------ */

static void close_fd(cs_dns_req *r) {
  cs_io_stop(r->loop, &r->io);
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
}

/* Stops every activity of r (not its deferred delivery). Sub-requests are cancelled. */
static void quiesce(cs_dns_req *r) {
  close_fd(r);
  cs_timer_stop(r->loop, &r->deadline);
  cs_timer_stop(r->loop, &r->window_timer);
  if (r->job) { /* the worker may still run: detach, its done callback frees the job */
    r->job->req = NULL;
    r->job = NULL;
  }
  if (r->child) {
    cs_dns_cancel(r->child);
    r->child = NULL;
  }
  for (int i = 0; i < 2; i++) {
    if (r->sub[i]) cs_dns_cancel(r->sub[i]);
    r->sub[i] = NULL;
  }
}

static void req_free(cs_dns_req *r) {
  quiesce(r);
  cs_defer_cancel(r->loop, &r->defer);
  cs_buf_free(&r->tx);
  free(r->rx);
  free(r->reply);
  free(r->host);
  free(r);
}

static void deliver(cs_defer *d) {
  cs_dns_req *r = d->data;
  cs_dns_result res;
  memset(&res, 0, sizeof res);
  res.failure = r->failure;
  res.addrs = r->naddrs ? r->addrs : NULL;
  res.naddrs = r->naddrs;
  res.rec = r->rec;
  res.rcode = r->rcode;
  res.nduplicates = r->ndup;
  res.nextra_dropped = r->ndropped;
  r->in_cb = true;
  r->cb(r->arg, &res);
  req_free(r);
}

/* Ends the step: stops everything and delivers the result from the next loop turn. */
static void finish(cs_dns_req *r) {
  if (r->finished) return;
  r->finished = true;
  quiesce(r);
  cs_defer_call(r->loop, &r->defer, deliver, r);
}

void cs_dns_cancel(cs_dns_req *r) {
  if (!r || r->in_cb) return;
  req_free(r);
}

static cs_dns_req *req_new(cs_loop *l, cs_trace *t, int kind, const char *host,
                           const cs_dns_opts *o, cs_dns_cb cb, void *arg) {
  if (!l || !t || !host || !*host || !cb) return NULL;
  cs_dns_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->host = strdup(host);
  if (!r->host) {
    free(r);
    return NULL;
  }
  cs_dns_opts def;
  memset(&def, 0, sizeof def);
  if (!o) o = &def;
  r->kind = kind, r->loop = l, r->trace = t, r->cb = cb, r->arg = arg;
  r->fd = -1;
  r->rcode = -1;
  r->timeout = o->timeout > 0 ? o->timeout : CS_DNS_TIMEOUT;
  r->window = o->dup_window == 0 ? CS_DNS_DUP_WINDOW : o->dup_window;
  r->max_events = o->max_events ? o->max_events : CS_DNS_MAX_EVENTS;
  r->nevents = &r->nevents_own;
  r->edns0 = !o->no_edns0;
  r->tcp_fallback = !o->no_tcp_fallback;
  r->tmpl.transaction_id = o->transaction_id;
  if (o->ntags && o->tags) cs_trace_tags(t, &r->tmpl, o->tags, o->ntags);
  r->host_a = cs_arena_strdup(t->a, host);
  cs_buf_init(&r->tx, 2 + CS_DNSWIRE_MAX_MSG);
  r->start = now(r);
  return r;
}

/* ---- records --------------------------------------------------------------------------- */

static void set_common(cs_dns_req *r, cs_rec_common *c, double t0, double t) {
  *c = r->tmpl;
  c->t0 = rel(r, t0);
  c->t = rel(r, t);
}

/* One network event, unless this step already recorded max_events. */
static void add_event(cs_dns_req *r, const char *op, const char *proto, int64_t nbytes,
                      const char *failure, double t0, double t) {
  if (*r->nevents >= r->max_events) return;
  (*r->nevents)++;
  cs_netevent_rec *e = cs_trace_add_event(r->trace);
  if (!e) return;
  set_common(r, &e->c, t0, t);
  e->address = r->resolver_a;
  e->failure = failure;
  e->num_bytes = nbytes;
  e->operation = op;
  e->proto = proto;
}

static cs_query_rec *init_query(cs_dns_req *r, cs_query_rec *q, const char *engine, double t0,
                                double t) {
  if (!q) return NULL;
  set_common(r, &q->c, t0, t);
  q->engine = engine;
  q->hostname = r->host_a;
  q->query_type = r->kind == K_GAI ? "ANY" : cs_dns_qtype_str(r->qtype);
  q->resolver_address = r->kind == K_GAI ? "" : r->resolver_a;
  return q;
}

void cs_dns_fill_answers(cs_arena *a, cs_query_rec *q, const cs_dnswire_reply *rep) {
  q->rcode = rep->rcode;
  q->has_rcode = true;
  if (rep->nan == 0) return;
  cs_dns_answer *ans = cs_arena_alloc(a, rep->nan * sizeof *ans);
  if (!ans) return;
  for (size_t i = 0; i < rep->nan; i++) {
    const cs_dnswire_rr *rr = &rep->an[i];
    cs_dns_answer *x = &ans[i];
    x->ttl = (int64_t)rr->ttl;
    x->has_ttl = true;
    if (rr->type == CS_DNS_TYPE_CNAME) {
      char buf[CS_DNSWIRE_NAME_STRMAX];
      x->answer_type = "CNAME";
      x->hostname = cs_arena_strdup(a, cs_dnswire_name_to_str(&rr->target, buf, sizeof buf));
    } else {
      char ip[CS_IPSTR_MAX];
      cs_ip_format(&rr->ip, ip);
      x->answer_type = rr->type == CS_DNS_TYPE_A ? "A" : "AAAA";
      if (rr->type == CS_DNS_TYPE_A) x->ipv4 = cs_arena_strdup(a, ip);
      else x->ipv6 = cs_arena_strdup(a, ip);
    }
  }
  q->answers = ans;
  q->nanswers = rep->nan;
}

/* Fills answers (A/AAAA/CNAME in wire order), rcode and raw bytes from a parsed reply. */
static void fill_from_reply(cs_dns_req *r, cs_query_rec *q, const cs_dnswire_reply *rep,
                            const uint8_t *raw, size_t rawlen, bool parsed) {
  cs_arena *a = r->trace->a;
  q->raw_response = rawlen ? cs_arena_memdup(a, raw, rawlen) : NULL;
  q->raw_response_len = q->raw_response ? rawlen : 0;
  if (parsed) cs_dns_fill_answers(a, q, rep);
}

static bool ip_eq(const cs_ip *a, const cs_ip *b) {
  if (a->family != b->family) return false;
  return memcmp(a->b, b->b, a->family == AF_INET ? 4 : 16) == 0;
}

static void add_addr(cs_dns_req *r, const cs_ip *ip) {
  for (size_t i = 0; i < r->naddrs; i++)
    if (ip_eq(&r->addrs[i], ip)) return;
  if (r->naddrs < CS_DNS_MAX_ADDRS) r->addrs[r->naddrs++] = *ip;
}

/* netxlite dnsdecoder's rcode mapping. With TC=1 the answer section may be incomplete, so an
 * empty NOERROR is not "no answer". */
cs_failure cs_dns_reply_failure(const cs_dnswire_reply *rep, uint16_t qtype, bool tc) {
  switch (rep->rcode) {
  case CS_DNS_RCODE_NOERROR: {
    cs_ip tmp[1];
    if (tc) return CS_FAIL_NONE;
    return cs_dnswire_addrs(rep, qtype, tmp, 1) ? CS_FAIL_NONE : CS_FAIL_DNS_NO_ANSWER;
  }
  case CS_DNS_RCODE_NXDOMAIN: return CS_FAIL_DNS_NXDOMAIN;
  case CS_DNS_RCODE_REFUSED: return CS_FAIL_DNS_REFUSED;
  case CS_DNS_RCODE_SERVFAIL: return CS_FAIL_DNS_SERVFAIL;
  default: return CS_FAIL_DNS_SERVER_MISBEHAVING;
  }
}

static void take_addrs(cs_dns_req *r, const cs_dnswire_reply *rep) {
  cs_ip ips[CS_DNSWIRE_MAX_ANSWERS];
  size_t n = cs_dnswire_addrs(rep, r->qtype, ips, CS_DNSWIRE_MAX_ANSWERS);
  for (size_t i = 0; i < n; i++) add_addr(r, &ips[i]);
}

/* ---- getaddrinfo (system resolver) ----------------------------------------------------- */

/* The system resolver's entry point: getaddrinfo, or what cs_dns_set_system_resolver set
 * (the unit tests' guard, tests/support/no_dns.c). Written before any lookup starts. */
static cs_dns_getaddrinfo_fn system_getaddrinfo = getaddrinfo;

void cs_dns_set_system_resolver(cs_dns_getaddrinfo_fn fn) {
  system_getaddrinfo = fn ? fn : getaddrinfo;
}

static void gai_work(cs_work *w) {
  gai_job *j = w->data;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM; /* one entry per address, not one per socket type */
  hints.ai_flags = AI_CANONNAME;
  errno = 0;
  j->rc = system_getaddrinfo(j->host, NULL, &hints, &j->res);
  j->err = errno;
}

static bool same_name(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la && a[la - 1] == '.') la--;
  if (lb && b[lb - 1] == '.') lb--;
  return la == lb && strncasecmp(a, b, la) == 0;
}

static void gai_record(cs_dns_req *r, gai_job *j) {
  double t = now(r);
  cs_query_rec *q = init_query(r, cs_trace_add_query(r->trace), "getaddrinfo", r->start, t);
  cs_failure f = cs_failure_from_gai(j->rc, j->err);
  const char *canon = NULL;
  if (j->rc == 0) {
    for (struct addrinfo *ai = j->res; ai; ai = ai->ai_next) {
      cs_ip ip;
      uint16_t port;
      if (!canon && ai->ai_canonname) canon = ai->ai_canonname;
      if (ai->ai_addr && cs_ip_from_sockaddr(ai->ai_addr, &ip, &port)) add_addr(r, &ip);
    }
    if (r->naddrs == 0) f = CS_FAIL_DNS_NO_ANSWER;
  }
  r->failure = cs_failure_str(f);
  if (!q) return;
  r->rec = q;
  q->failure = r->failure;
  if (j->rc != 0) q->getaddrinfo_error = j->rc;
  bool cname = canon && !same_name(canon, r->host);
  size_t n = r->naddrs + (cname ? 1 : 0);
  if (n == 0) return;
  cs_dns_answer *ans = cs_arena_alloc(r->trace->a, n * sizeof *ans);
  if (!ans) return;
  for (size_t i = 0; i < r->naddrs; i++) {
    char s[CS_IPSTR_MAX];
    cs_ip_format(&r->addrs[i], s);
    if (r->addrs[i].family == AF_INET) {
      ans[i].answer_type = "A";
      ans[i].ipv4 = cs_arena_strdup(r->trace->a, s);
    } else {
      ans[i].answer_type = "AAAA";
      ans[i].ipv6 = cs_arena_strdup(r->trace->a, s);
    }
  }
  if (cname) {
    ans[r->naddrs].answer_type = "CNAME";
    ans[r->naddrs].hostname = cs_arena_strdup(r->trace->a, canon);
  }
  q->answers = ans;
  q->nanswers = n;
}

static void gai_done(cs_work *w) {
  gai_job *j = w->data;
  cs_dns_req *r = j->req;
  if (r) {
    r->job = NULL;
    gai_record(r, j);
    finish(r);
  }
  if (j->res) freeaddrinfo(j->res);
  free(j->host);
  free(j);
}

static void gai_timeout(cs_timer *t) {
  cs_dns_req *r = t->data;
  double tn = now(r);
  cs_query_rec *q = init_query(r, cs_trace_add_query(r->trace), "getaddrinfo", r->start, tn);
  r->failure = cs_failure_str(CS_FAIL_GENERIC_TIMEOUT);
  if (q) q->failure = r->failure, r->rec = q;
  finish(r); /* detaches the job */
}

cs_dns_req *cs_dns_getaddrinfo(cs_loop *l, cs_trace *t, const char *host, const cs_dns_opts *o,
                               cs_dns_cb cb, void *arg) {
  cs_dns_req *r = req_new(l, t, K_GAI, host, o, cb, arg);
  if (!r) return NULL;
  gai_job *j = calloc(1, sizeof *j);
  if (!j || !(j->host = strdup(host))) {
    free(j);
    req_free(r);
    return NULL;
  }
  j->req = r;
  r->job = j;
  if (cs_work_submit(l, &j->work, gai_work, gai_done, j) < 0) {
    /* No worker thread: record the failure like any other outcome. */
    r->job = NULL;
    free(j->host);
    free(j);
    cs_query_rec *q = init_query(r, cs_trace_add_query(t), "getaddrinfo", r->start, r->start);
    r->failure = cs_failure_str(CS_FAIL_UNKNOWN);
    if (q) q->failure = r->failure, r->rec = q;
    finish(r);
    return r;
  }
  cs_timer_start(l, &r->deadline, r->timeout, gai_timeout, r);
  return r;
}

/* ---- DNS over UDP (RFC 1035 4.2.1) ----------------------------------------------------- */

static void udp_finish_if_idle(cs_dns_req *r) {
  if (r->window_done && !r->child) finish(r);
}

static void udp_window_end(cs_timer *t) {
  cs_dns_req *r = t->data;
  close_fd(r);
  cs_timer_stop(r->loop, &r->deadline);
  cs_timer_stop(r->loop, &r->window_timer);
  r->window_done = true;
  udp_finish_if_idle(r);
}

/* Records a datagram that is not the step's answer: a duplicate, a wrong-ID or
 * wrong-question reply, or garbage (failure given, or from the reply's rcode). */
static void udp_extra(cs_dns_req *r, const uint8_t *raw, size_t n, const cs_dnswire_reply *rep,
                      bool parsed, cs_failure f, double t) {
  if (r->ndup >= CS_DNS_MAX_EXTRA) {
    r->ndropped++;
    return;
  }
  cs_query_rec *q = init_query(r, cs_trace_add_dns_duplicate(r->trace), "udp", r->t0, t);
  if (!q) {
    r->ndropped++;
    return;
  }
  r->ndup++;
  fill_from_reply(r, q, rep, raw, n, parsed);
  q->failure = cs_failure_str(f);
}

static void tcp_fallback_done(void *arg, const cs_dns_result *res) {
  cs_dns_req *r = arg;
  r->child = NULL;
  r->failure = res->failure;
  r->rec = res->rec;
  r->rcode = res->rcode;
  for (size_t i = 0; i < res->naddrs; i++) add_addr(r, &res->addrs[i]);
  udp_finish_if_idle(r);
}

static cs_dns_req *tcp_start(cs_loop *l, cs_trace *t, const char *host, uint16_t qtype,
                             const cs_ip *resolver, uint16_t port, const cs_dns_opts *o,
                             cs_dns_cb cb, void *arg, cs_dns_req *events_owner);

/* The first datagram that answers our question. */
static void udp_first(cs_dns_req *r, const uint8_t *raw, size_t n, double t) {
  const cs_dnswire_reply *rep = r->reply;
  r->got_first = true;
  cs_query_rec *q = init_query(r, cs_trace_add_query(r->trace), "udp", r->t0, t);
  /* With a TCP retry coming, an empty TC=1 NOERROR is not "no answer"; without one, the
   * truncated reply is judged as it is. */
  cs_failure f = cs_dns_reply_failure(rep, r->qtype, rep->tc && r->tcp_fallback);
  r->failure = cs_failure_str(f);
  r->rcode = rep->rcode;
  if (q) {
    fill_from_reply(r, q, rep, raw, n, true);
    q->failure = r->failure;
    r->rec = q;
  }
  if (rep->tc && r->tcp_fallback) { /* RFC 7766 5: retry the question over TCP */
    cs_dns_opts o;
    memset(&o, 0, sizeof o);
    o.timeout = r->timeout;
    o.max_events = r->max_events;
    o.no_edns0 = !r->edns0;
    o.transaction_id = r->tmpl.transaction_id;
    o.tags = r->tmpl.tags;
    o.ntags = r->tmpl.ntags;
    r->child = tcp_start(r->loop, r->trace, r->host, r->qtype, &r->resolver, r->port, &o,
                         tcp_fallback_done, r, r);
  }
  if (!r->child) take_addrs(r, rep); /* no retry (or out of memory): what UDP gave */
  double left = r->start + r->timeout - t;
  double w = r->window < left ? r->window : left;
  if (w <= 0 || r->window < 0) {
    close_fd(r);
    cs_timer_stop(r->loop, &r->deadline);
    r->window_done = true;
    udp_finish_if_idle(r);
    return;
  }
  cs_timer_start(r->loop, &r->window_timer, w, udp_window_end, r);
}

static void udp_datagram(cs_dns_req *r, const uint8_t *raw, size_t n, double t) {
  cs_dnswire_err e = cs_dnswire_parse(raw, n, r->reply);
  if (e != CS_DNSWIRE_OK) {
    r->saw_garbage = true;
    udp_extra(r, raw, n, r->reply, false, CS_FAIL_DNS_SERVER_MISBEHAVING, t);
    return;
  }
  e = cs_dnswire_match(&r->q, r->reply);
  if (e == CS_DNSWIRE_ID_MISMATCH) {
    udp_extra(r, raw, n, r->reply, true, CS_FAIL_DNS_WRONG_QUERY_ID, t);
    return;
  }
  if (e != CS_DNSWIRE_OK) {
    r->saw_garbage = true;
    udp_extra(r, raw, n, r->reply, true, CS_FAIL_DNS_SERVER_MISBEHAVING, t);
    return;
  }
  if (!r->got_first) {
    udp_first(r, raw, n, t);
    return;
  }
  cs_failure f = cs_dns_reply_failure(r->reply, r->qtype, r->reply->tc);
  udp_extra(r, raw, n, r->reply, true, f, t);
}

/* A socket error: before the first answer it is the step's failure; afterwards it only ends
 * the listening. */
static void udp_sock_error(cs_dns_req *r, int err, double t) {
  cs_failure f = cs_failure_from_errno(err);
  add_event(r, "read_from", "udp", 0, cs_failure_str(f), t, t);
  close_fd(r);
  if (!r->got_first) {
    cs_query_rec *q = init_query(r, cs_trace_add_query(r->trace), "udp", r->t0, t);
    r->failure = cs_failure_str(f);
    if (q) q->failure = r->failure, r->rec = q;
    finish(r);
    return;
  }
  cs_timer_stop(r->loop, &r->window_timer);
  cs_timer_stop(r->loop, &r->deadline);
  r->window_done = true;
  udp_finish_if_idle(r);
}

static void udp_readable(cs_io *w, unsigned ev) {
  cs_dns_req *r = w->data;
  (void)ev;
  for (int i = 0; i < UDP_BURST && r->fd >= 0 && !r->finished; i++) {
    ssize_t n = recv(r->fd, r->rx, UDP_RXBUF, MSG_TRUNC);
    double t = now(r);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      udp_sock_error(r, errno, t);
      return;
    }
    size_t got = (size_t)n > UDP_RXBUF ? UDP_RXBUF : (size_t)n;
    add_event(r, "read_from", "udp", (int64_t)got, NULL, t, t);
    if (got == 0) continue; /* an empty datagram carries nothing to record */
    udp_datagram(r, r->rx, got, t);
  }
}

static void udp_deadline(cs_timer *tm) {
  cs_dns_req *r = tm->data;
  double t = now(r);
  if (r->got_first) { /* the window was cut by the deadline (defensive: see udp_first) */
    r->window_timer.data = r;
    udp_window_end(&r->window_timer);
    return;
  }
  cs_failure f = r->saw_garbage ? CS_FAIL_DNS_SERVER_MISBEHAVING : CS_FAIL_GENERIC_TIMEOUT;
  add_event(r, "read_from", "udp", 0, cs_failure_str(CS_FAIL_GENERIC_TIMEOUT), t, t);
  cs_query_rec *q = init_query(r, cs_trace_add_query(r->trace), "udp", r->t0, t);
  r->failure = cs_failure_str(f);
  if (q) q->failure = r->failure, r->rec = q;
  finish(r);
}

static cs_dns_req *wire_req_new(cs_loop *l, cs_trace *t, int kind, const char *host, uint16_t qtype,
                                const cs_ip *resolver, uint16_t port, const cs_dns_opts *o,
                                cs_dns_cb cb, void *arg, size_t rxcap) {
  if (!resolver || (resolver->family != AF_INET && resolver->family != AF_INET6)) return NULL;
  if (qtype != CS_DNS_TYPE_A && qtype != CS_DNS_TYPE_AAAA) return NULL;
  cs_dns_req *r = req_new(l, t, kind, host, o, cb, arg);
  if (!r) return NULL;
  r->qtype = qtype;
  r->resolver = *resolver;
  r->port = port;
  char ep[CS_IPSTR_MAX + 8];
  cs_endpoint_format(resolver, port, ep, sizeof ep);
  r->resolver_a = cs_arena_strdup(t->a, ep);
  r->reply = malloc(sizeof *r->reply);
  r->rx = malloc(rxcap);
  if (!r->reply || !r->rx) {
    req_free(r);
    return NULL;
  }
  /* A name that cannot be encoded is the step's failure, recorded like any other. */
  if (cs_dnswire_query_init(&r->q, host, qtype, cs_dnswire_random_id()) != CS_DNSWIRE_OK ||
      cs_dnswire_query_encode(&r->q, r->edns0, &r->tx) != CS_DNSWIRE_OK) {
    cs_buf_reset(&r->tx);
  }
  return r;
}

static int open_socket(cs_dns_req *r, int type) {
  struct sockaddr_storage ss;
  socklen_t sl = cs_ip_to_sockaddr(&r->resolver, r->port, &ss);
  int fd = socket(r->resolver.family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  r->fd = fd;
  if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) return -errno;
  cs_capture_note_fd(r->trace, fd, type == SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP, &r->resolver,
                     r->port, 0);
  return 0;
}

/* Records the step's only query record with a failure and ends it (setup errors). */
static void fail_now(cs_dns_req *r, const char *engine, cs_failure f) {
  double t = now(r);
  cs_query_rec *q = init_query(r, cs_trace_add_query(r->trace), engine, r->t0, t);
  r->failure = cs_failure_str(f);
  if (q) q->failure = r->failure, r->rec = q;
  finish(r);
}

/* events_owner: the request whose network-event budget this step uses (NULL: its own). */
static cs_dns_req *udp_start(cs_loop *l, cs_trace *t, const char *host, uint16_t qtype,
                             const cs_ip *resolver, uint16_t port, const cs_dns_opts *o,
                             cs_dns_cb cb, void *arg, cs_dns_req *events_owner) {
  cs_dns_req *r = wire_req_new(l, t, K_UDP, host, qtype, resolver, port, o, cb, arg, UDP_RXBUF);
  if (!r) return NULL;
  if (events_owner) r->nevents = events_owner->nevents;
  r->t0 = r->start;
  if (r->tx.len == 0) {
    fail_now(r, "udp", CS_FAIL_INVALID_ARGUMENT);
    return r;
  }
  int rc = open_socket(r, SOCK_DGRAM);
  if (rc < 0) {
    fail_now(r, "udp", cs_failure_from_errno(-rc));
    return r;
  }
  cs_capture_note_query(r->trace, r->fd, r->host_a, qtype); /* for the TTL-copy probe */
  r->t0 = now(r);
  ssize_t n = send(r->fd, r->tx.data, r->tx.len, 0);
  double tn = now(r);
  if (n < 0) {
    cs_failure f = cs_failure_from_errno(errno);
    add_event(r, "write_to", "udp", 0, cs_failure_str(f), r->t0, tn);
    fail_now(r, "udp", f);
    return r;
  }
  add_event(r, "write_to", "udp", (int64_t)n, NULL, r->t0, tn);
  if (cs_io_start(l, &r->io, r->fd, CS_EV_READ, udp_readable, r) < 0) {
    fail_now(r, "udp", CS_FAIL_UNKNOWN);
    return r;
  }
  cs_timer_start(l, &r->deadline, r->timeout, udp_deadline, r);
  return r;
}

cs_dns_req *cs_dns_udp(cs_loop *l, cs_trace *t, const char *host, uint16_t qtype,
                       const cs_ip *resolver, uint16_t port, const cs_dns_opts *o, cs_dns_cb cb,
                       void *arg) {
  return udp_start(l, t, host, qtype, resolver, port, o, cb, arg, NULL);
}

/* ---- DNS over TCP (RFC 1035 4.2.2, RFC 7766) ------------------------------------------- */

static void tcp_fail(cs_dns_req *r, cs_failure f) { fail_now(r, "tcp", f); }

static void tcp_reply(cs_dns_req *r, const uint8_t *msg, size_t n, double t) {
  cs_query_rec *q = init_query(r, cs_trace_add_query(r->trace), "tcp", r->t0, t);
  cs_dnswire_err e = cs_dnswire_parse(msg, n, r->reply);
  cs_failure f;
  bool parsed = e == CS_DNSWIRE_OK;
  if (!parsed) f = CS_FAIL_DNS_SERVER_MISBEHAVING;
  else if ((e = cs_dnswire_match(&r->q, r->reply)) == CS_DNSWIRE_ID_MISMATCH)
    f = CS_FAIL_DNS_WRONG_QUERY_ID;
  else if (e != CS_DNSWIRE_OK) f = CS_FAIL_DNS_SERVER_MISBEHAVING;
  else {
    /* TC over TCP makes no sense (RFC 7766 8): judge what arrived. */
    f = cs_dns_reply_failure(r->reply, r->qtype, false);
    r->rcode = r->reply->rcode;
    take_addrs(r, r->reply);
  }
  r->failure = cs_failure_str(f);
  if (q) {
    fill_from_reply(r, q, r->reply, msg, n, parsed);
    q->failure = r->failure;
    r->rec = q;
  }
  finish(r);
}

static void tcp_io(cs_io *w, unsigned ev) {
  cs_dns_req *r = w->data;
  (void)ev;
  if (r->tcp_state == TCP_CONNECTING) {
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
    double t = now(r);
    if (err == EINPROGRESS) return;
    const char *fs = err ? cs_failure_str(cs_failure_from_errno(err)) : NULL;
    add_event(r, "connect", "tcp", 0, fs, r->t0, t);
    if (err) {
      tcp_fail(r, cs_failure_from_errno(err));
      return;
    }
    r->tcp_state = TCP_WRITING;
  }
  if (r->tcp_state == TCP_WRITING) {
    while (r->txoff < r->tx.len) {
      double t0 = now(r);
      ssize_t n = send(r->fd, r->tx.data + r->txoff, r->tx.len - r->txoff, MSG_NOSIGNAL);
      double t = now(r);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
          cs_io_set(r->loop, &r->io, CS_EV_WRITE);
          return;
        }
        cs_failure f = cs_failure_from_errno(errno);
        add_event(r, "write", "tcp", 0, cs_failure_str(f), t0, t);
        tcp_fail(r, f);
        return;
      }
      add_event(r, "write", "tcp", (int64_t)n, NULL, t0, t);
      r->txoff += (size_t)n;
    }
    r->tcp_state = TCP_READING;
    cs_io_set(r->loop, &r->io, CS_EV_READ);
    return;
  }
  /* reading: bounded by TCP_RXMAX, one framed message (RFC 1035 4.2.2) */
  double t0 = now(r);
  ssize_t n = recv(r->fd, r->rx + r->rxlen, TCP_RXMAX - r->rxlen, 0);
  double t = now(r);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    cs_failure f = cs_failure_from_errno(errno);
    add_event(r, "read", "tcp", 0, cs_failure_str(f), t0, t);
    tcp_fail(r, f);
    return;
  }
  if (n == 0) {
    add_event(r, "read", "tcp", 0, cs_failure_str(CS_FAIL_EOF_ERROR), t0, t);
    tcp_fail(r, CS_FAIL_EOF_ERROR);
    return;
  }
  add_event(r, "read", "tcp", (int64_t)n, NULL, t0, t);
  r->rxlen += (size_t)n;
  const uint8_t *msg;
  size_t mlen, used;
  cs_dnswire_err e = cs_dnswire_tcp_next(r->rx, r->rxlen, &msg, &mlen, &used);
  if (e == CS_DNSWIRE_INCOMPLETE) return; /* rxlen < TCP_RXMAX is implied: a frame fits */
  if (e != CS_DNSWIRE_OK) {
    tcp_fail(r, CS_FAIL_DNS_SERVER_MISBEHAVING);
    return;
  }
  tcp_reply(r, msg, mlen, t);
}

static void tcp_deadline(cs_timer *tm) {
  cs_dns_req *r = tm->data;
  double t = now(r);
  const char *op = r->tcp_state == TCP_CONNECTING ? "connect"
                   : r->tcp_state == TCP_WRITING  ? "write"
                                                  : "read";
  add_event(r, op, "tcp", 0, cs_failure_str(CS_FAIL_GENERIC_TIMEOUT), t, t);
  tcp_fail(r, CS_FAIL_GENERIC_TIMEOUT);
}

static cs_dns_req *tcp_start(cs_loop *l, cs_trace *t, const char *host, uint16_t qtype,
                             const cs_ip *resolver, uint16_t port, const cs_dns_opts *o,
                             cs_dns_cb cb, void *arg, cs_dns_req *events_owner) {
  cs_dns_req *r = wire_req_new(l, t, K_TCP, host, qtype, resolver, port, o, cb, arg, TCP_RXMAX);
  if (!r) return NULL;
  if (events_owner) r->nevents = events_owner->nevents;
  r->t0 = r->start;
  if (r->tx.len == 0) {
    tcp_fail(r, CS_FAIL_INVALID_ARGUMENT);
    return r;
  }
  /* frame in place: the 2-byte length goes in front of the message */
  cs_buf framed;
  cs_buf_init(&framed, 2 + CS_DNSWIRE_MAX_MSG);
  if (cs_dnswire_tcp_frame(r->tx.data, r->tx.len, &framed) != CS_DNSWIRE_OK) {
    cs_buf_free(&framed);
    tcp_fail(r, CS_FAIL_UNKNOWN);
    return r;
  }
  cs_buf_free(&r->tx);
  r->tx = framed;
  r->t0 = now(r);
  int rc = open_socket(r, SOCK_STREAM);
  if (rc < 0) {
    add_event(r, "connect", "tcp", 0, cs_failure_str(cs_failure_from_errno(-rc)), r->t0, now(r));
    tcp_fail(r, cs_failure_from_errno(-rc));
    return r;
  }
  r->tcp_state = TCP_CONNECTING;
  if (cs_io_start(l, &r->io, r->fd, CS_EV_WRITE, tcp_io, r) < 0) {
    tcp_fail(r, CS_FAIL_UNKNOWN);
    return r;
  }
  cs_timer_start(l, &r->deadline, r->timeout, tcp_deadline, r);
  return r;
}

cs_dns_req *cs_dns_tcp(cs_loop *l, cs_trace *t, const char *host, uint16_t qtype,
                       const cs_ip *resolver, uint16_t port, const cs_dns_opts *o, cs_dns_cb cb,
                       void *arg) {
  return tcp_start(l, t, host, qtype, resolver, port, o, cb, arg, NULL);
}

/* ---- lookup (A + AAAA) ----------------------------------------------------------------- */

void cs_dns_merge(const cs_dns_result *q, size_t nq, cs_ip *buf, cs_dns_result *out) {
  const char *noans = cs_failure_str(CS_FAIL_DNS_NO_ANSWER);
  memset(out, 0, sizeof *out);
  out->rcode = nq ? q[0].rcode : -1;
  out->rec = nq ? q[0].rec : NULL;
  out->addrs = buf;
  for (size_t i = 0; i < nq; i++) {
    const char *f = q[i].failure;
    /* dns_experiment_failure: first non-NULL failure in record order, skipping AAAA
     * dns_no_answer (OONI webconnectivity) */
    if (!out->failure && f && !(nq == 2 && i == 1 && strcmp(f, noans) == 0)) out->failure = f;
    for (size_t k = 0; k < q[i].naddrs; k++) { /* A addresses first, in answer order */
      bool dup = false;
      for (size_t j = 0; j < out->naddrs && !dup; j++) dup = ip_eq(&buf[j], &q[i].addrs[k]);
      if (!dup && out->naddrs < CS_DNS_MAX_ADDRS) buf[out->naddrs++] = q[i].addrs[k];
    }
    out->nduplicates += q[i].nduplicates;
    out->nextra_dropped += q[i].nextra_dropped;
  }
}

static void lookup_maybe_done(cs_dns_req *r) {
  for (int i = 0; i < r->nsub; i++)
    if (!r->sub_done[i]) return;
  cs_dns_result m;
  cs_dns_merge(r->sub_res, (size_t)r->nsub, r->addrs, &m);
  r->failure = m.failure;
  r->naddrs = m.naddrs;
  r->rec = m.rec;
  r->rcode = m.rcode;
  r->ndup = m.nduplicates;
  r->ndropped = m.nextra_dropped;
  finish(r);
}

static void lookup_child_cb(cs_dns_req *r, int slot, const cs_dns_result *res) {
  r->sub[slot] = NULL;
  size_t n = res->naddrs < CS_DNS_MAX_ADDRS ? res->naddrs : CS_DNS_MAX_ADDRS;
  if (n) memcpy(r->sub_addrs[slot], res->addrs, n * sizeof *res->addrs);
  r->sub_res[slot] = *res;
  r->sub_res[slot].addrs = r->sub_addrs[slot];
  r->sub_res[slot].naddrs = n;
  r->sub_done[slot] = true;
  lookup_maybe_done(r);
}

static void lookup_cb0(void *arg, const cs_dns_result *res) { lookup_child_cb(arg, 0, res); }
static void lookup_cb1(void *arg, const cs_dns_result *res) { lookup_child_cb(arg, 1, res); }

bool cs_dns_host_literal(const char *host, cs_ip *ip) {
  char tmp[CS_IPSTR_MAX + 2];
  size_t n = host ? strlen(host) : 0;
  if (n > 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof tmp) {
    memcpy(tmp, host + 1, n - 2);
    tmp[n - 2] = 0;
    host = tmp;
  }
  return n && cs_ip_parse(host, ip);
}

bool cs_dns_server_parse(const char *s, cs_ip *ip, uint16_t *port) {
  if (!s || !*s) return false;
  if (cs_endpoint_parse(s, ip, port)) return *port != 0;
  *port = 53;
  return cs_dns_host_literal(s, ip);
}

cs_dns_req *cs_dns_lookup(cs_loop *l, cs_trace *t, const char *host, cs_dns_via via,
                          const cs_ip *server, uint16_t port, const cs_dns_opts *o, cs_dns_cb cb,
                          void *arg) {
  if (via != CS_DNS_VIA_SYSTEM && via != CS_DNS_VIA_UDP && via != CS_DNS_VIA_TCP) return NULL;
  if (via != CS_DNS_VIA_SYSTEM && !server) return NULL;
  cs_dns_req *r = req_new(l, t, K_LOOKUP, host, o, cb, arg);
  if (!r) return NULL;
  cs_ip lit;
  if (cs_dns_host_literal(host, &lit)) { /* nothing to resolve, nothing to record */
    add_addr(r, &lit);
    finish(r);
    return r;
  }
  cs_dns_opts so;
  memset(&so, 0, sizeof so);
  if (o) so = *o;
  if (via == CS_DNS_VIA_SYSTEM) {
    r->nsub = 1;
    r->sub[0] = cs_dns_getaddrinfo(l, t, host, &so, lookup_cb0, r);
  } else if (via == CS_DNS_VIA_UDP) {
    r->nsub = 2;
    r->sub[0] = udp_start(l, t, host, CS_DNS_TYPE_A, server, port, &so, lookup_cb0, r, r);
    r->sub[1] = udp_start(l, t, host, CS_DNS_TYPE_AAAA, server, port, &so, lookup_cb1, r, r);
  } else {
    r->nsub = 2;
    r->sub[0] = tcp_start(l, t, host, CS_DNS_TYPE_A, server, port, &so, lookup_cb0, r, r);
    r->sub[1] = tcp_start(l, t, host, CS_DNS_TYPE_AAAA, server, port, &so, lookup_cb1, r, r);
  }
  for (int i = 0; i < r->nsub; i++) {
    if (!r->sub[i]) { /* out of memory (or bad argument): give up cleanly */
      req_free(r);
      return NULL;
    }
  }
  return r;
}

cs_dns_req *cs_dns_lookup_host(cs_loop *l, cs_trace *t, const char *host, const char *mode,
                               const cs_dns_opts *o, cs_dns_cb cb, void *arg) {
  if (!mode || !*mode || strcmp(mode, "system") == 0)
    return cs_dns_lookup(l, t, host, CS_DNS_VIA_SYSTEM, NULL, 0, o, cb, arg);
  cs_ip ip;
  uint16_t port;
  if (strncasecmp(mode, "udp://", 6) != 0 || !cs_dns_server_parse(mode + 6, &ip, &port))
    return NULL;
  return cs_dns_lookup(l, t, host, CS_DNS_VIA_UDP, &ip, port, o, cb, arg);
}
