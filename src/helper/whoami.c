/* whoami.c - the helper's "whoami" DNS zone (see whoami.h). Wire format: engine/dnswire.h
 * (RFC 1035 4.1; TXT RDATA as <character-string>s, RFC 1035 3.3.14). */
#include "helper/whoami.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/dnswire.h"

static bool in_zone(const char *name, const char *zone) {
  size_t n = strlen(name), z = strlen(zone);
  if (n < z || strcasecmp(name + n - z, zone)) return false;
  return n == z || name[n - z - 1] == '.';
}

int cs_whoami_answer(const char *zone, const uint8_t *q, size_t n, const cs_ip *src, cs_buf *out) {
  cs_dnswire_query qq;
  if (!q || !src || n > 512 || cs_dnswire_query_parse(q, n, &qq) != CS_DNSWIRE_OK) return 0;
  if (qq.qclass != CS_DNS_CLASS_IN) return 0;
  char name[CS_DNSWIRE_NAME_STRMAX];
  cs_dnswire_name_to_str(&qq.qname, name, sizeof name);
  if (strchr(name, '\\')) return 0; /* could not be echoed as asked */
  char ip[CS_IPSTR_MAX], txt[CS_IPSTR_MAX + 1];
  cs_ip_format(src, ip);
  cs_dnswire_synth_rr rr = {.type = qq.qtype, .ttl = 0, .owner = NULL, .data = ip};
  cs_dnswire_synth s = {.id = qq.id, .aa = true, .no_ra = true, .qname = name, .qtype = qq.qtype};
  if (!in_zone(name, zone)) {
    s.rcode = CS_DNS_RCODE_REFUSED;
  } else if ((qq.qtype == CS_DNS_TYPE_A && src->family == AF_INET) ||
             (qq.qtype == CS_DNS_TYPE_AAAA && src->family == AF_INET6)) {
    s.an = &rr, s.nan = 1;
  } else if (qq.qtype == CS_DNS_TYPE_TXT) {
    size_t l = strlen(ip);
    txt[0] = (char)l;
    memcpy(txt + 1, ip, l + 1); /* the NUL is not sent (data_len) */
    rr.data = txt, rr.data_len = l + 1;
    s.an = &rr, s.nan = 1;
  } /* else: NOERROR, no answer (NODATA) */
  size_t before = out->len;
  if (cs_dnswire_build_reply(&s, out) != CS_DNSWIRE_OK) {
    if (out->overflow) return -1;
    out->len = before;
    return 0;
  }
  return 1;
}

/* ---- the UDP server --------------------------------------------------------------------- */

#define NBUCKETS 1024
#define NTCP 64         /* TCP connections at once; more are closed at accept */
#define TCP_TIMEOUT 5.0 /* seconds for a TCP client to send its one query */

/* One TCP client (RFC 7766): one length-framed query, one framed answer, then close. */
typedef struct {
  cs_whoami *w;
  int fd;
  cs_io io;
  cs_timer t;
  cs_ip src;
  uint8_t buf[2 + 512];
  size_t len;
  bool used;
} tcp_conn;

typedef struct {
  uint8_t net[7]; /* family + /24 or /48 */
  bool used;
  double tokens, at;
} bucket;

struct cs_whoami {
  cs_loop *l;
  char zone[256];
  int fd, port, tfd;
  cs_io io, tio;
  tcp_conn tc[NTCP];
  unsigned rate;
  cs_whoami_stats st;
  bucket b[NBUCKETS];
};

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One token from the bucket of src's network; false when it is empty. A table slot shared by
 * two networks is taken over by the newer one (a bounded table, never an allocation). */
static bool take_token(cs_whoami *w, const cs_ip *src) {
  uint8_t net[7] = {(uint8_t)src->family};
  memcpy(net + 1, src->b, src->family == AF_INET ? 3 : 6);
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < sizeof net; i++) h = (h ^ net[i]) * 16777619u;
  bucket *k = &w->b[h % NBUCKETS];
  double now = mono(), cap = 2.0 * w->rate;
  if (!k->used || memcmp(k->net, net, sizeof net)) {
    memcpy(k->net, net, sizeof net);
    k->used = true, k->tokens = cap, k->at = now;
  }
  k->tokens += (now - k->at) * w->rate;
  if (k->tokens > cap) k->tokens = cap;
  k->at = now;
  if (k->tokens < 1) return false;
  k->tokens -= 1;
  return true;
}

static void tcp_close(tcp_conn *c) {
  cs_io_stop(c->w->l, &c->io);
  cs_timer_stop(c->w->l, &c->t);
  close(c->fd);
  c->used = false;
}

static void tcp_timeout(cs_timer *t) {
  tcp_conn *c = t->data;
  c->w->st.dropped++;
  tcp_close(c);
}

static void tcp_readable(cs_io *io, unsigned events) {
  (void)events;
  tcp_conn *c = io->data;
  cs_whoami *w = c->w;
  ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    tcp_close(c);
    return;
  }
  c->len += (size_t)n;
  if (c->len < 2) return;
  size_t want = (size_t)c->buf[0] << 8 | c->buf[1];
  if (want == 0 || want > 512) { /* no query is that long: drop */
    w->st.queries++, w->st.dropped++;
    tcp_close(c);
    return;
  }
  if (c->len < 2 + want) return;
  w->st.queries++;
  cs_buf out, framed;
  cs_buf_init(&out, 1024);
  cs_buf_init(&framed, 1100);
  int rc = take_token(w, &c->src) ? cs_whoami_answer(w->zone, c->buf + 2, want, &c->src, &out) : -2;
  if (rc == 1 && cs_dnswire_tcp_frame(out.data, out.len, &framed) == CS_DNSWIRE_OK) {
    if ((out.data[3] & 0x0f) == CS_DNS_RCODE_REFUSED) w->st.refused++;
    else w->st.answered++;
    (void)send(c->fd, framed.data, framed.len, MSG_NOSIGNAL | MSG_DONTWAIT); /* < 1 KiB */
  } else if (rc == -2) {
    w->st.limited++;
  } else {
    w->st.dropped++;
  }
  cs_buf_free(&out);
  cs_buf_free(&framed);
  tcp_close(c);
}

static void on_accept(cs_io *io, unsigned events) {
  (void)events;
  cs_whoami *w = io->data;
  for (int i = 0; i < 16; i++) {
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof ss;
    int fd = accept4(w->tfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    tcp_conn *c = NULL;
    for (size_t k = 0; k < NTCP && !c; k++)
      if (!w->tc[k].used) c = &w->tc[k];
    if (!c || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
      w->st.dropped++;
      close(fd);
      continue;
    }
    memset(c, 0, sizeof *c);
    c->w = w, c->fd = fd, c->used = true;
    c->src.family = ss.ss_family;
    if (ss.ss_family == AF_INET) memcpy(c->src.b, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    else memcpy(c->src.b, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    if (cs_io_start(w->l, &c->io, fd, CS_EV_READ, tcp_readable, c) < 0) {
      close(fd);
      c->used = false;
      continue;
    }
    cs_timer_start(w->l, &c->t, TCP_TIMEOUT, tcp_timeout, c);
  }
}

static void on_readable(cs_io *io, unsigned events) {
  (void)events;
  cs_whoami *w = io->data;
  for (int i = 0; i < 64; i++) { /* a bounded batch per wake-up */
    uint8_t q[513];
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof ss;
    ssize_t n = recvfrom(w->fd, q, sizeof q, 0, (struct sockaddr *)&ss, &sl);
    if (n < 0) return;
    w->st.queries++;
    cs_ip src = {0};
    if (ss.ss_family == AF_INET) {
      const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
      src.family = AF_INET;
      memcpy(src.b, &s4->sin_addr, 4);
    } else if (ss.ss_family == AF_INET6) {
      const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
      src.family = AF_INET6;
      memcpy(src.b, &s6->sin6_addr, 16);
    } else {
      w->st.dropped++;
      continue;
    }
    if (!take_token(w, &src)) {
      w->st.limited++;
      continue;
    }
    cs_buf out;
    cs_buf_init(&out, 1024);
    int rc = cs_whoami_answer(w->zone, q, (size_t)n, &src, &out);
    if (rc == 1) {
      if (out.len > 5 && (out.data[3] & 0x0f) == CS_DNS_RCODE_REFUSED) w->st.refused++;
      else w->st.answered++;
      (void)sendto(w->fd, out.data, out.len, 0, (struct sockaddr *)&ss, sl);
    } else {
      w->st.dropped++;
    }
    cs_buf_free(&out);
  }
}

static cs_whoami *whoami_new(cs_loop *l, const char *zone, const char *addr, unsigned rate,
                             char *err, size_t errlen);

cs_whoami *cs_whoami_new(cs_loop *l, const char *zone, const char *addr, unsigned rate, char *err,
                         size_t errlen) {
  /* port 0: the UDP port is the kernel's choice, and TCP may find it taken; try again */
  cs_ip ip;
  uint16_t port = 1;
  bool any = addr && cs_endpoint_parse(addr, &ip, &port) && port == 0;
  cs_whoami *w = NULL;
  for (int i = 0; i < (any ? 16 : 1) && !w; i++) w = whoami_new(l, zone, addr, rate, err, errlen);
  return w;
}

static cs_whoami *whoami_new(cs_loop *l, const char *zone, const char *addr, unsigned rate,
                             char *err, size_t errlen) {
  cs_dnswire_name zn;
  if (!zone || !*zone || strlen(zone) >= 256 || cs_dnswire_name_from_str(zone, &zn)) {
    snprintf(err, errlen, "invalid zone name");
    return NULL;
  }
  cs_ip ip;
  uint16_t port;
  if (!addr || !cs_endpoint_parse(addr, &ip, &port)) {
    snprintf(err, errlen, "%s: not ADDR:PORT", addr ? addr : "(null)");
    return NULL;
  }
  cs_whoami *w = calloc(1, sizeof *w);
  if (!w) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  w->l = l;
  w->rate = rate ? rate : CS_WHOAMI_RATE;
  size_t zl = strlen(zone);
  if (zl && zone[zl - 1] == '.') zl--;
  for (size_t i = 0; i < zl; i++)
    w->zone[i] = (char)(zone[i] >= 'A' && zone[i] <= 'Z' ? zone[i] + 32 : zone[i]);
  struct sockaddr_storage ss = {0};
  socklen_t sl;
  if (ip.family == AF_INET) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET, s4->sin_port = htons(port);
    memcpy(&s4->sin_addr, ip.b, 4);
    sl = sizeof *s4;
  } else {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6, s6->sin6_port = htons(port);
    memcpy(&s6->sin6_addr, ip.b, 16);
    sl = sizeof *s6;
  }
  w->tfd = -1;
  w->fd = socket(ip.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (w->fd < 0 || bind(w->fd, (struct sockaddr *)&ss, sl) < 0 ||
      getsockname(w->fd, (struct sockaddr *)&ss, &sl) < 0) {
    snprintf(err, errlen, "%s: %s", addr, strerror(errno));
    if (w->fd >= 0) close(w->fd);
    free(w);
    return NULL;
  }
  w->port = ntohs(ip.family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                       : ((struct sockaddr_in6 *)&ss)->sin6_port);
  /* TCP on the same address and port (RFC 7766: a resolver may forward over TCP) */
  if (ip.family == AF_INET) ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)w->port);
  else ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)w->port);
  int one = 1;
  w->tfd = socket(ip.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (w->tfd < 0 || setsockopt(w->tfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(w->tfd, (struct sockaddr *)&ss, sl) < 0 || listen(w->tfd, 64) < 0) {
    snprintf(err, errlen, "%s (tcp): %s", addr, strerror(errno));
    goto fail;
  }
  if (cs_io_start(l, &w->io, w->fd, CS_EV_READ, on_readable, w) < 0) {
    snprintf(err, errlen, "cannot watch the socket");
    goto fail;
  }
  if (cs_io_start(l, &w->tio, w->tfd, CS_EV_READ, on_accept, w) < 0) {
    cs_io_stop(l, &w->io);
    snprintf(err, errlen, "cannot watch the socket");
    goto fail;
  }
  return w;
fail:
  if (w->tfd >= 0) close(w->tfd);
  close(w->fd);
  free(w);
  return NULL;
}

int cs_whoami_port(const cs_whoami *w) { return w ? w->port : -1; }

cs_whoami_stats cs_whoami_get_stats(const cs_whoami *w) { return w ? w->st : (cs_whoami_stats){0}; }

void cs_whoami_free(cs_whoami *w) {
  if (!w) return;
  for (size_t i = 0; i < NTCP; i++)
    if (w->tc[i].used) tcp_close(&w->tc[i]);
  cs_io_stop(w->l, &w->io);
  cs_io_stop(w->l, &w->tio);
  close(w->fd);
  close(w->tfd);
  free(w);
}
