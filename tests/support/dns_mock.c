/* dns_mock.c - the misbehaving loopback DNS server of the tests (see dns_mock.h). One thread
 * polls a UDP socket, a TCP listener and a stop pipe; replies are built with dnswire. */
#include "dns_mock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/dnswire.h"
#include "util/buf.h"

struct cs_dns_mock {
  int udp, tcp, stop[2];
  uint16_t port;
  pthread_t thr;
  _Atomic int mode;
  atomic_uint nudp, ntcp;
  pthread_mutex_t mu;
  uint8_t last[1024];
  size_t last_len;
};

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

/* Builds the reply for q in the given mode (forged: the injected variant). */
static void build(const cs_dnswire_query *q, int mode, bool forged, bool over_tcp, cs_buf *out) {
  char name[CS_DNSWIRE_NAME_STRMAX];
  cs_dnswire_name_to_str(&q->qname, name, sizeof name);
  bool v6 = q->qtype == CS_DNS_TYPE_AAAA;
  cs_dnswire_synth s;
  memset(&s, 0, sizeof s);
  s.id = q->id, s.qname = name, s.qtype = q->qtype;
  cs_dnswire_synth_rr rr[3];
  memset(rr, 0, sizeof rr);
  uint16_t at = v6 ? CS_DNS_TYPE_AAAA : CS_DNS_TYPE_A;
  bool answer_types = q->qtype == CS_DNS_TYPE_A || q->qtype == CS_DNS_TYPE_AAAA;
  switch (mode) {
  case CS_DNS_MOCK_NXDOMAIN: s.rcode = CS_DNS_RCODE_NXDOMAIN; break;
  case CS_DNS_MOCK_SERVFAIL: s.rcode = CS_DNS_RCODE_SERVFAIL; break;
  case CS_DNS_MOCK_REFUSED: s.rcode = CS_DNS_RCODE_REFUSED; break;
  case CS_DNS_MOCK_NOTIMP: s.rcode = CS_DNS_RCODE_NOTIMP; break;
  case CS_DNS_MOCK_EMPTY: break;
  case CS_DNS_MOCK_TC:
  case CS_DNS_MOCK_A_ONLY:
  case CS_DNS_MOCK_NORMAL:
  case CS_DNS_MOCK_FLOOD:
  case CS_DNS_MOCK_INJECT:
  case CS_DNS_MOCK_WRONG_ID:
  case CS_DNS_MOCK_WRONG_QUESTION:
    if (mode == CS_DNS_MOCK_TC && !over_tcp) {
      s.tc = true; /* truncated: no answer over UDP */
      break;
    }
    if (!answer_types || (mode == CS_DNS_MOCK_A_ONLY && v6)) break;
    rr[0].type = at, rr[0].ttl = CS_DNS_MOCK_TTL;
    if (forged) rr[0].data = v6 ? CS_DNS_MOCK_FORGED_AAAA : CS_DNS_MOCK_FORGED_A;
    else rr[0].data = v6 ? CS_DNS_MOCK_AAAA : CS_DNS_MOCK_A;
    s.an = rr, s.nan = 1;
    break;
  case CS_DNS_MOCK_CNAME:
  case CS_DNS_MOCK_CNAME_ONLY:
    rr[0].type = CS_DNS_TYPE_CNAME, rr[0].ttl = 60, rr[0].data = CS_DNS_MOCK_CNAME1;
    rr[1].type = CS_DNS_TYPE_CNAME, rr[1].ttl = 60, rr[1].owner = CS_DNS_MOCK_CNAME1;
    rr[1].data = CS_DNS_MOCK_CNAME2;
    rr[2].type = at, rr[2].ttl = CS_DNS_MOCK_TTL, rr[2].owner = CS_DNS_MOCK_CNAME2;
    rr[2].data = v6 ? CS_DNS_MOCK_CNAME_AAAA : CS_DNS_MOCK_CNAME_A;
    s.an = rr, s.nan = mode == CS_DNS_MOCK_CNAME_ONLY ? 1 : (answer_types ? 3 : 2);
    break;
  default: break;
  }
  cs_dnswire_build_reply(&s, out);
}

static void serve_udp(cs_dns_mock *m) {
  uint8_t buf[2048];
  struct sockaddr_storage from;
  socklen_t fl = sizeof from;
  ssize_t n = recvfrom(m->udp, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
  if (n <= 0) return;
  atomic_fetch_add(&m->nudp, 1);
  pthread_mutex_lock(&m->mu);
  m->last_len = (size_t)n < sizeof m->last ? (size_t)n : sizeof m->last;
  memcpy(m->last, buf, m->last_len);
  pthread_mutex_unlock(&m->mu);
  cs_dnswire_query q;
  if (cs_dnswire_query_parse(buf, (size_t)n, &q) != CS_DNSWIRE_OK) return;
  int mode = atomic_load(&m->mode);
  cs_buf out;
  cs_buf_init(&out, 65535);
#define SEND()                                                                                     \
  do {                                                                                             \
    ssize_t s_ = sendto(m->udp, out.data, out.len, 0, (struct sockaddr *)&from, fl);               \
    (void)s_;                                                                                      \
    cs_buf_reset(&out);                                                                            \
  } while (0)
  switch (mode) {
  case CS_DNS_MOCK_SILENT: break;
  case CS_DNS_MOCK_GARBAGE: {
    static const char junk[] = "hello, this is not DNS";
    ssize_t s_ = sendto(m->udp, junk, sizeof junk - 1, 0, (struct sockaddr *)&from, fl);
    (void)s_;
    break;
  }
  case CS_DNS_MOCK_INJECT:
    build(&q, mode, true, false, &out);
    SEND();
    sleep_ms(CS_DNS_MOCK_INJECT_DELAY_MS);
    build(&q, mode, false, false, &out);
    SEND();
    break;
  case CS_DNS_MOCK_WRONG_ID: {
    cs_dnswire_query w = q;
    w.id = (uint16_t)(q.id ^ 0x5a5a);
    build(&w, mode, true, false, &out);
    SEND();
    sleep_ms(50);
    build(&q, mode, false, false, &out);
    SEND();
    break;
  }
  case CS_DNS_MOCK_WRONG_QUESTION: {
    cs_dnswire_query w = q;
    cs_dnswire_name_from_str("other.test", &w.qname);
    build(&w, mode, true, false, &out);
    SEND();
    sleep_ms(50);
    build(&q, mode, false, false, &out);
    SEND();
    break;
  }
  case CS_DNS_MOCK_FLOOD:
    build(&q, mode, false, false, &out);
    for (int i = 0; i < CS_DNS_MOCK_FLOOD_N; i++) {
      ssize_t s_ = sendto(m->udp, out.data, out.len, 0, (struct sockaddr *)&from, fl);
      (void)s_;
    }
    break;
  default:
    build(&q, mode, false, false, &out);
    SEND();
    break;
  }
#undef SEND
  cs_buf_free(&out);
}

/* Reads exactly n bytes within ~1 s. */
static bool read_full(int fd, uint8_t *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, 1000) <= 0) return false;
    ssize_t r = recv(fd, p + got, n - got, 0);
    if (r <= 0) return false;
    got += (size_t)r;
  }
  return true;
}

static void serve_tcp(cs_dns_mock *m) {
  int c = accept(m->tcp, NULL, NULL);
  if (c < 0) return;
  uint8_t hdr[2], buf[2048];
  if (!read_full(c, hdr, 2)) goto out;
  size_t len = (size_t)hdr[0] << 8 | hdr[1];
  if (len == 0 || len > sizeof buf || !read_full(c, buf, len)) goto out;
  atomic_fetch_add(&m->ntcp, 1);
  pthread_mutex_lock(&m->mu);
  m->last_len = len < sizeof m->last ? len : sizeof m->last;
  memcpy(m->last, buf, m->last_len);
  pthread_mutex_unlock(&m->mu);
  cs_dnswire_query q;
  if (cs_dnswire_query_parse(buf, len, &q) != CS_DNSWIRE_OK) goto out;
  int mode = atomic_load(&m->mode);
  if (mode == CS_DNS_MOCK_SILENT) {
    sleep_ms(500);
    goto out;
  }
  cs_buf msg, framed;
  cs_buf_init(&msg, 65535);
  cs_buf_init(&framed, 65537);
  build(&q, mode, false, true, &msg);
  if (cs_dnswire_tcp_frame(msg.data, msg.len, &framed) == CS_DNSWIRE_OK) {
    /* two writes, to exercise the client's reassembly */
    if (send(c, framed.data, 1, MSG_NOSIGNAL) == 1) {
      sleep_ms(5);
      (void)send(c, framed.data + 1, framed.len - 1, MSG_NOSIGNAL);
    }
  }
  cs_buf_free(&msg);
  cs_buf_free(&framed);
out:
  close(c);
}

static void *mock_main(void *arg) {
  cs_dns_mock *m = arg;
  for (;;) {
    struct pollfd pf[3] = {{m->udp, POLLIN, 0}, {m->tcp, POLLIN, 0}, {m->stop[0], POLLIN, 0}};
    if (poll(pf, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pf[2].revents) break;
    if (pf[0].revents & POLLIN) serve_udp(m);
    if (pf[1].revents & POLLIN) serve_tcp(m);
  }
  return NULL;
}

cs_dns_mock *cs_dns_mock_start(cs_dns_mock_mode mode) {
  cs_dns_mock *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->udp = m->tcp = m->stop[0] = m->stop[1] = -1;
  atomic_store(&m->mode, (int)mode);
  pthread_mutex_init(&m->mu, NULL);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  /* Find a port free for both UDP and TCP. */
  for (int tries = 0; tries < 50; tries++) {
    m->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    a.sin_port = 0;
    if (m->udp < 0 || bind(m->udp, (struct sockaddr *)&a, sizeof a) < 0) goto fail;
    socklen_t al = sizeof a;
    getsockname(m->udp, (struct sockaddr *)&a, &al);
    m->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(m->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (m->tcp >= 0 && bind(m->tcp, (struct sockaddr *)&a, sizeof a) == 0 &&
        listen(m->tcp, 16) == 0)
      break;
    close(m->udp);
    if (m->tcp >= 0) close(m->tcp);
    m->udp = m->tcp = -1;
  }
  if (m->udp < 0) goto fail;
  m->port = ntohs(a.sin_port);
  if (pipe(m->stop) < 0) goto fail;
  if (pthread_create(&m->thr, NULL, mock_main, m) != 0) goto fail;
  return m;
fail:
  if (m->udp >= 0) close(m->udp);
  if (m->tcp >= 0) close(m->tcp);
  if (m->stop[0] >= 0) close(m->stop[0]), close(m->stop[1]);
  pthread_mutex_destroy(&m->mu);
  free(m);
  return NULL;
}

void cs_dns_mock_stop(cs_dns_mock *m) {
  if (!m) return;
  ssize_t w = write(m->stop[1], "x", 1);
  (void)w;
  pthread_join(m->thr, NULL);
  close(m->udp);
  close(m->tcp);
  close(m->stop[0]);
  close(m->stop[1]);
  pthread_mutex_destroy(&m->mu);
  free(m);
}

uint16_t cs_dns_mock_port(const cs_dns_mock *m) { return m->port; }
void cs_dns_mock_set_mode(cs_dns_mock *m, cs_dns_mock_mode mode) {
  atomic_store(&m->mode, (int)mode);
}
unsigned cs_dns_mock_udp_queries(cs_dns_mock *m) { return atomic_load(&m->nudp); }
unsigned cs_dns_mock_tcp_queries(cs_dns_mock *m) { return atomic_load(&m->ntcp); }
size_t cs_dns_mock_last_query(cs_dns_mock *m, uint8_t *out, size_t cap) {
  pthread_mutex_lock(&m->mu);
  size_t n = m->last_len < cap ? m->last_len : cap;
  memcpy(out, m->last, n);
  pthread_mutex_unlock(&m->mu);
  return n;
}
