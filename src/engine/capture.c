/* capture.c - libpcap capture of the network's answers on measured flows (see capture.h).
 *
 * libpcap (pcap(3PCAP), pcap-filter(7)) rather than AF_PACKET by hand: it compiles the BPF
 * filter, handles the "any" pseudo-device's cooked headers and TPACKET rings, and is what a
 * researcher would use to re-check the evidence. Only the headers are kept (snaplen 600:
 * enough for a DNS reply's answer section). */
#include "engine/capture.h"

#include <errno.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "analysis/middlebox.h"
#include "engine/dnswire.h"
#include "util/buf.h"
#include "util/ipnet.h"
#include "util/timeutil.h"

/* Inbound packets of the kinds the analysis reads: TCP with RST or FIN, or SYN+ACK; ICMP
 * destination unreachable / time exceeded (v4 and v6); DNS replies. IPv6 TCP flags are read
 * at a fixed offset (no extension headers). Flow matching is done in user space: one filter
 * serves every measurement on the loop and never needs recompiling. */
static const char capture_filter[] =
    "(tcp[tcpflags] & (tcp-rst|tcp-fin) != 0) or "
    "(tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)) or "
    "(icmp[icmptype] == icmp-unreach or icmp[icmptype] == icmp-timxceed) or "
    "(ip6 and ip6[6] == 6 and (ip6[53] & 0x05 != 0 or ip6[53] & 0x12 == 0x12)) or "
    "(ip6 and ip6[6] == 58 and (ip6[40] == 1 or ip6[40] == 3)) or "
    "(udp src port 53)";

#define SNAPLEN 600
#define MAX_LOOPS 64

typedef struct shared shared;

typedef struct {
  uint8_t proto;
  cs_ip remote;
  uint16_t rport, lport;
  int64_t conn_id;
  uint16_t npk;
  const char *qname; /* DNS over UDP: the query's name (the trace's arena) */
  uint16_t qtype;
  uint8_t sent_ttl; /* a flow of the TTL-copy probe: its IP TTL */
} flow;

/* The TTL-copy probe (cs_capture_ttl_probe): one query per socket, each with its own TTL. */
#define TTL_PROBES 3
#define TTL_PROBE_TICK 0.05
typedef struct {
  bool active;
  int fd[TTL_PROBES];
  uint32_t lport[TTL_PROBES];
  size_t nfd;
  double deadline;
  cs_timer tm;
  void (*cb)(void *);
  void *arg;
} ttl_probe;

struct cs_capture_sess {
  shared *sh;
  cs_trace *t;
  cs_capture_sess *next, *prev;
  bool disabled;
  flow flows[CS_CAPTURE_MAX_FLOWS];
  size_t nflows;
  bool flows_truncated;
  cs_mb_pkt *pk;
  size_t npk;
  bool truncated;
  ttl_probe probe;
};

struct shared {
  cs_loop *l;
  pcap_t *p;
  int linktype;
  cs_io io;
  int refs;
  double mono_minus_wall;
  char error[PCAP_ERRBUF_SIZE + 32]; /* why there is no handle ("" when there is one) */
  bool no_priv;
  cs_capture_sess *sessions;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static shared *reg[MAX_LOOPS];

/* ---- fingerprints (loaded once per process) --------------------------------------------- */

static pthread_once_t db_once = PTHREAD_ONCE_INIT;
static cs_mb_db *mb_db;
static char mb_db_err[200];

static void db_init(void) { mb_db = cs_mb_db_load(NULL, mb_db_err, sizeof mb_db_err); }

/* ---- packets ------------------------------------------------------------------------------ */

static bool ip_eq(const cs_ip *a, const cs_ip *b) {
  return a->family == b->family && !memcmp(a->b, b->b, a->family == AF_INET ? 4 : 16);
}

static void keep(cs_capture_sess *s, flow *f, const cs_mb_pkt *p, double mono) {
  if (s->npk >= CS_CAPTURE_MAX_PKTS || f->npk >= CS_CAPTURE_MAX_PER_FLOW) {
    s->truncated = true;
    return;
  }
  if (!s->pk && !(s->pk = malloc(CS_CAPTURE_MAX_PKTS * sizeof *s->pk))) {
    s->truncated = true;
    return;
  }
  cs_mb_pkt *q = &s->pk[s->npk++];
  *q = *p;
  q->t = cs_trace_rel(s->t, mono);
  q->flow_proto = f->proto;
  q->remote = f->remote;
  q->rport = f->rport;
  q->conn_id = f->conn_id;
  q->flow_key = f->lport;
  q->qname = f->qname;
  q->qtype = f->qtype;
  q->sent_ttl = f->sent_ttl;
  f->npk++;
}

/* The newest matching flow takes a packet: a closed socket's local port may be reused by a
 * later one to the same remote (the TTL-copy probe's sockets to the resolver), whose replies
 * belong to the later flow. */
static void dispatch(shared *sh, const cs_mb_pkt *p, double mono) {
  for (cs_capture_sess *s = sh->sessions; s; s = s->next) {
    for (size_t i = s->nflows; i-- > 0;) {
      flow *f = &s->flows[i];
      bool hit;
      if (p->proto == 1 || p->proto == 58)
        hit = p->has_quote && p->q_proto == f->proto && p->q_dport == f->rport &&
              p->q_sport == f->lport && ip_eq(&p->q_dst, &f->remote);
      else
        hit = p->proto == f->proto && p->sport == f->rport && p->dport == f->lport &&
              ip_eq(&p->src, &f->remote);
      if (hit) {
        keep(s, f, p, mono);
        break;
      }
    }
  }
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes) {
  shared *sh = (shared *)user;
  size_t off, cap = h->caplen;
  /* the "any" device's cooked headers: SLL (16 bytes, type at 0, protocol at 14) and SLL2
   * (20 bytes, protocol at 0, packet type at 10); 4 = PACKET_OUTGOING */
  if (sh->linktype == DLT_LINUX_SLL) {
    if (cap < 16 || (bytes[0] == 0 && bytes[1] == 4)) return;
    off = 16;
  } else if (sh->linktype == DLT_LINUX_SLL2) {
    if (cap < 20 || bytes[10] == 4) return;
    off = 20;
  } else if (sh->linktype == DLT_RAW) {
    off = 0;
  } else {
    return;
  }
  cs_mb_pkt p;
  if (cs_mb_parse_ip(bytes + off, cap - off, &p) < 0) return;
  double wall = (double)h->ts.tv_sec + (double)h->ts.tv_usec / 1e6;
  dispatch(sh, &p, wall + sh->mono_minus_wall);
}

static void drain(shared *sh) {
  if (!sh->p) return;
  for (int i = 0; i < 64; i++)
    if (pcap_dispatch(sh->p, 256, on_packet, (u_char *)sh) <= 0) break;
}

static void on_io(cs_io *w, unsigned ev) {
  (void)ev;
  drain(w->data);
}

static void sh_open(shared *sh) {
  char eb[PCAP_ERRBUF_SIZE] = "";
  struct timeval tv;
  gettimeofday(&tv, NULL);
  sh->mono_minus_wall = cs_mono_now() - ((double)tv.tv_sec + (double)tv.tv_usec / 1e6);
  pcap_t *p = pcap_create("any", eb);
  if (!p) {
    snprintf(sh->error, sizeof sh->error, "error: pcap_create: %s", eb);
    return;
  }
  pcap_set_snaplen(p, SNAPLEN);
  pcap_set_immediate_mode(p, 1);
  pcap_set_buffer_size(p, 1 << 20);
  int rc = pcap_activate(p);
  if (rc == PCAP_ERROR_PERM_DENIED || (rc < 0 && (errno == EPERM || errno == EACCES))) {
    sh->no_priv = true;
    snprintf(sh->error, sizeof sh->error, "no_privilege");
    pcap_close(p);
    return;
  }
  struct bpf_program prog;
  if (rc < 0 || pcap_setnonblock(p, 1, eb) < 0 || pcap_setdirection(p, PCAP_D_IN) < 0 ||
      pcap_compile(p, &prog, capture_filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
    snprintf(sh->error, sizeof sh->error, "error: %s",
             rc < 0 ? pcap_statustostr(rc) : pcap_geterr(p));
    pcap_close(p);
    return;
  }
  int fr = pcap_setfilter(p, &prog);
  pcap_freecode(&prog);
  int fd = pcap_get_selectable_fd(p);
  if (fr < 0 || fd < 0 || cs_io_start(sh->l, &sh->io, fd, CS_EV_READ, on_io, sh) < 0) {
    snprintf(sh->error, sizeof sh->error, "error: %s",
             fr < 0 ? pcap_geterr(p) : "no selectable fd");
    pcap_close(p);
    return;
  }
  sh->linktype = pcap_datalink(p);
  sh->p = p;
}

/* The loop's shared handle (created on first use); NULL when out of memory. */
static shared *sh_get(cs_loop *l) {
  pthread_mutex_lock(&reg_mu);
  shared *sh = NULL;
  size_t free_slot = MAX_LOOPS;
  for (size_t i = 0; i < MAX_LOOPS; i++) {
    if (reg[i] && reg[i]->l == l) sh = reg[i];
    if (!reg[i] && free_slot == MAX_LOOPS) free_slot = i;
  }
  if (!sh && free_slot < MAX_LOOPS && (sh = calloc(1, sizeof *sh))) {
    sh->l = l;
    reg[free_slot] = sh;
    sh_open(sh);
  }
  if (sh) sh->refs++;
  pthread_mutex_unlock(&reg_mu);
  return sh;
}

static void sh_put(shared *sh) {
  pthread_mutex_lock(&reg_mu);
  if (--sh->refs == 0) {
    for (size_t i = 0; i < MAX_LOOPS; i++)
      if (reg[i] == sh) reg[i] = NULL;
    if (sh->p) {
      cs_io_stop(sh->l, &sh->io);
      pcap_close(sh->p);
    }
    free(sh);
  }
  pthread_mutex_unlock(&reg_mu);
}

/* ---- sessions ----------------------------------------------------------------------------- */

cs_capture_sess *cs_capture_begin(cs_loop *l, cs_trace *t, bool disabled) {
  cs_capture_sess *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->t = t;
  s->disabled = disabled;
  if (!disabled) {
    s->sh = sh_get(l);
    if (s->sh && s->sh->p) {
      s->next = s->sh->sessions;
      if (s->next) s->next->prev = s;
      s->sh->sessions = s;
      t->capture = s;
    }
  }
  return s;
}

static flow *note(cs_capture_sess *s, int fd, int proto, const cs_ip *remote, uint16_t rport,
                  int64_t conn_id) {
  if (!s || fd < 0 || !remote) return NULL;
  struct sockaddr_storage self;
  socklen_t sl = sizeof self;
  cs_ip lip;
  uint16_t lport = 0;
  if (getsockname(fd, (struct sockaddr *)&self, &sl) < 0 ||
      !cs_ip_from_sockaddr((struct sockaddr *)&self, &lip, &lport) || !lport)
    return NULL;
  if (s->nflows >= CS_CAPTURE_MAX_FLOWS) {
    s->flows_truncated = true;
    return NULL;
  }
  flow *f = &s->flows[s->nflows++];
  *f = (flow){.proto = (uint8_t)proto,
              .remote = *remote,
              .rport = rport,
              .lport = lport,
              .conn_id = conn_id};
  return f;
}

void cs_capture_note_fd(cs_trace *t, int fd, int proto, const cs_ip *remote, uint16_t rport,
                        int64_t conn_id) {
  note(t ? t->capture : NULL, fd, proto, remote, rport, conn_id);
}

void cs_capture_note_query(cs_trace *t, int fd, const char *qname, uint16_t qtype) {
  cs_capture_sess *s = t ? t->capture : NULL;
  struct sockaddr_storage self;
  socklen_t sl = sizeof self;
  cs_ip lip;
  uint16_t lport = 0;
  if (!s || fd < 0 || getsockname(fd, (struct sockaddr *)&self, &sl) < 0 ||
      !cs_ip_from_sockaddr((struct sockaddr *)&self, &lip, &lport))
    return;
  for (size_t i = s->nflows; i-- > 0;)
    if (s->flows[i].proto == IPPROTO_UDP && s->flows[i].lport == lport) {
      s->flows[i].qname = qname;
      s->flows[i].qtype = qtype;
      return;
    }
}

/* ---- the TTL-copy probe ------------------------------------------------------------------ */

static void probe_close(cs_capture_sess *s) {
  ttl_probe *pr = &s->probe;
  if (!pr->active) return;
  cs_timer_stop(s->sh->l, &pr->tm);
  for (size_t i = 0; i < pr->nfd; i++) close(pr->fd[i]);
  pr->nfd = 0;
  pr->active = false;
}

/* Done when every probe query has two replies (the forgery and the resolver's), or at the
 * deadline. The replies themselves are read by the capture, not from the sockets. */
static void probe_tick(cs_timer *tm) {
  cs_capture_sess *s = tm->data;
  ttl_probe *pr = &s->probe;
  drain(s->sh);
  size_t full = 0;
  for (size_t i = 0; i < pr->nfd; i++) {
    size_t got = 0;
    for (size_t j = 0; j < s->npk; j++)
      if (s->pk[j].sent_ttl && s->pk[j].flow_key == pr->lport[i]) got++;
    if (got >= 2) full++;
  }
  if (full < pr->nfd && cs_loop_now(s->sh->l) < pr->deadline) {
    cs_timer_start(s->sh->l, &pr->tm, TTL_PROBE_TICK, probe_tick, s);
    return;
  }
  void (*cb)(void *) = pr->cb;
  void *arg = pr->arg;
  probe_close(s);
  cb(arg);
}

/* One probe socket: connected to the resolver, IP TTL (hop limit) ttl, the query sent. */
static int probe_send(cs_capture_sess *s, const cs_mb_pkt *tgt, int ttl, const cs_buf *q) {
  ttl_probe *pr = &s->probe;
  struct sockaddr_storage ss;
  socklen_t sl = cs_ip_to_sockaddr(&tgt->remote, tgt->rport, &ss);
  int fd = socket(tgt->remote.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  bool v6 = tgt->remote.family == AF_INET6;
  if (setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_UNICAST_HOPS : IP_TTL, &ttl,
                 sizeof ttl) < 0 ||
      connect(fd, (struct sockaddr *)&ss, sl) < 0) {
    close(fd);
    return -1;
  }
  flow *f = note(s, fd, IPPROTO_UDP, &tgt->remote, tgt->rport, 0);
  if (!f) {
    close(fd);
    return -1;
  }
  f->qname = tgt->qname;
  f->qtype = tgt->qtype;
  f->sent_ttl = (uint8_t)ttl;
  pr->fd[pr->nfd] = fd;
  pr->lport[pr->nfd++] = f->lport;
  return send(fd, q->data, q->len, 0) < 0 ? -1 : 0;
}

/* The sending host's default TTL (hop limit) for this family: what a fresh socket reports. */
static int default_ttl(int family) {
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), v = 64;
  socklen_t l = sizeof v;
  if (fd >= 0) {
    bool v6 = family == AF_INET6;
    if (getsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_UNICAST_HOPS : IP_TTL, &v, &l) <
            0 ||
        v < 1 || v > 255)
      v = 64;
    close(fd);
  }
  return v;
}

int cs_capture_ttl_probe(cs_capture_sess *s, double timeout, void (*cb)(void *), void *arg) {
  if (!s || s->disabled || !s->sh || !s->sh->p || s->probe.active || !cb) return 0;
  drain(s->sh);
  const cs_mb_pkt *tgt = NULL;
  if (!cs_mb_dns_probe_target(s->pk, s->npk, &tgt) || !tgt->qname || !tgt->qtype) return 0;
  cs_dnswire_query dq;
  cs_buf q;
  cs_buf_init(&q, 0);
  if (cs_dnswire_query_init(&dq, tgt->qname, tgt->qtype, cs_dnswire_random_id()) != CS_DNSWIRE_OK ||
      cs_dnswire_query_encode(&dq, false, &q) != CS_DNSWIRE_OK || q.overflow) {
    cs_buf_free(&q);
    return 0;
  }
  /* the default TTL and two clearly different ones, all large enough to reach the resolver */
  int base = default_ttl(tgt->remote.family), step = base + 2 * 32 <= 255 ? 32 : -32;
  ttl_probe *pr = &s->probe;
  *pr = (ttl_probe){.active = true, .cb = cb, .arg = arg};
  for (int i = 0; i < TTL_PROBES; i++) {
    int ttl = base + i * step;
    if (ttl < 1 || ttl > 255) break;
    probe_send(s, tgt, ttl, &q);
  }
  cs_buf_free(&q);
  if (!pr->nfd) {
    pr->active = false;
    return 0;
  }
  pr->deadline = cs_loop_now(s->sh->l) + (timeout > 0 && timeout < 2 ? timeout : 2);
  cs_timer_start(s->sh->l, &pr->tm, TTL_PROBE_TICK, probe_tick, s);
  return 1;
}

void cs_capture_write(cs_jw *w, cs_capture_sess *s) {
  if (!s) {
    cs_jw_kstr(w, "x_packets_status", "error: out of memory");
    cs_jw_knull(w, "x_packets");
    cs_jw_knull(w, "x_middlebox");
    return;
  }
  if (s->disabled || !s->sh || !s->sh->p) {
    const char *st = s->disabled ? "disabled" : s->sh ? s->sh->error : "error: out of memory";
    cs_jw_kstr(w, "x_packets_status", st);
    if (s->sh && s->sh->no_priv)
      cs_jw_kstr(w, "x_packets_note",
                 "no CAP_NET_RAW: the headers of resets, FINs, ICMP errors and DNS replies "
                 "(TTL, IP ID, DF, window) were not seen; only socket errors are recorded, so "
                 "injected and genuine packets cannot be told apart");
    cs_jw_knull(w, "x_packets");
    cs_jw_knull(w, "x_middlebox");
    return;
  }
  drain(s->sh);
  pthread_once(&db_once, db_init);
  cs_jw_kstr(w, "x_packets_status", "ok");
  char note[400] = "";
  if (!mb_db) snprintf(note, sizeof note, "no middlebox fingerprints (%s): no family", mb_db_err);
  if (s->flows_truncated)
    snprintf(note + strlen(note), sizeof note - strlen(note),
             "%smore than %d flows: later ones not followed", note[0] ? "; " : "",
             CS_CAPTURE_MAX_FLOWS);
  if (note[0]) cs_jw_kstr(w, "x_packets_note", note);
  cs_jw_key(w, "x_packets");
  cs_mb_write_packets(w, s->pk, s->npk);
  cs_jw_kbool(w, "x_packets_truncated", s->truncated);
  cs_mb_write_analysis(w, s->pk, s->npk, mb_db);
}

const cs_mb_pkt *cs_capture_packets(cs_capture_sess *s, size_t *n) {
  *n = 0;
  if (!s || s->disabled || !s->sh || !s->sh->p) return NULL;
  drain(s->sh);
  *n = s->npk;
  return s->npk ? s->pk : NULL;
}

const char *cs_capture_status(const cs_capture_sess *s) {
  if (!s) return "error: out of memory";
  if (s->disabled) return "disabled";
  if (!s->sh) return "error: out of memory";
  return s->sh->p ? "ok" : s->sh->error;
}

void cs_capture_end(cs_capture_sess *s) {
  if (!s) return;
  if (s->sh) probe_close(s);
  if (s->t && s->t->capture == s) s->t->capture = NULL;
  if (s->sh) {
    if (s->prev) s->prev->next = s->next;
    else if (s->sh->sessions == s) s->sh->sessions = s->next;
    if (s->next) s->next->prev = s->prev;
    sh_put(s->sh);
  }
  free(s->pk);
  free(s);
}
