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

typedef struct {
  uint8_t net[7]; /* family + /24 or /48 */
  bool used;
  double tokens, at;
} bucket;

struct cs_whoami {
  cs_loop *l;
  char zone[256];
  int fd, port;
  cs_io io;
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

cs_whoami *cs_whoami_new(cs_loop *l, const char *zone, const char *listen, unsigned rate, char *err,
                         size_t errlen) {
  cs_dnswire_name zn;
  if (!zone || !*zone || strlen(zone) >= 256 || cs_dnswire_name_from_str(zone, &zn)) {
    snprintf(err, errlen, "invalid zone name");
    return NULL;
  }
  cs_ip ip;
  uint16_t port;
  if (!listen || !cs_endpoint_parse(listen, &ip, &port)) {
    snprintf(err, errlen, "%s: not ADDR:PORT", listen ? listen : "(null)");
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
  w->fd = socket(ip.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (w->fd < 0 || bind(w->fd, (struct sockaddr *)&ss, sl) < 0 ||
      getsockname(w->fd, (struct sockaddr *)&ss, &sl) < 0) {
    snprintf(err, errlen, "%s: %s", listen, strerror(errno));
    if (w->fd >= 0) close(w->fd);
    free(w);
    return NULL;
  }
  w->port = ntohs(ip.family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                       : ((struct sockaddr_in6 *)&ss)->sin6_port);
  if (cs_io_start(l, &w->io, w->fd, CS_EV_READ, on_readable, w) < 0) {
    snprintf(err, errlen, "cannot watch the socket");
    close(w->fd);
    free(w);
    return NULL;
  }
  return w;
}

int cs_whoami_port(const cs_whoami *w) { return w ? w->port : -1; }

cs_whoami_stats cs_whoami_get_stats(const cs_whoami *w) { return w ? w->st : (cs_whoami_stats){0}; }

void cs_whoami_free(cs_whoami *w) {
  if (!w) return;
  cs_io_stop(w->l, &w->io);
  close(w->fd);
  free(w);
}
