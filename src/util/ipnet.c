/* ipnet.c - see ipnet.h */
#include "util/ipnet.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cs_ip_parse(const char *s, cs_ip *out) {
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, s, out->b) == 1) {
    out->family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s, out->b) == 1) {
    out->family = AF_INET6;
    return true;
  }
  return false;
}

void cs_ip_format(const cs_ip *ip, char out[CS_IPSTR_MAX]) {
  if (!inet_ntop(ip->family, ip->b, out, CS_IPSTR_MAX)) out[0] = 0;
}

bool cs_cidr_parse(const char *s, cs_cidr *out) {
  char tmp[64];
  const char *slash = strchr(s, '/');
  size_t l = slash ? (size_t)(slash - s) : strlen(s);
  if (l >= sizeof tmp) return false;
  memcpy(tmp, s, l);
  tmp[l] = 0;
  if (!cs_ip_parse(tmp, &out->ip)) return false;
  unsigned max = out->ip.family == AF_INET ? 32 : 128;
  if (!slash) {
    out->prefix = max;
    return true;
  }
  char *end;
  unsigned long p = strtoul(slash + 1, &end, 10);
  if (*end || end == slash + 1 || p > max) return false;
  out->prefix = (unsigned)p;
  return true;
}

bool cs_cidr_contains(const cs_cidr *c, const cs_ip *ip) {
  if (c->ip.family != ip->family) return false;
  unsigned full = c->prefix / 8, rem = c->prefix % 8;
  if (memcmp(c->ip.b, ip->b, full) != 0) return false;
  if (rem == 0) return true;
  uint8_t mask = (uint8_t)(0xFF << (8 - rem));
  return (c->ip.b[full] & mask) == (ip->b[full] & mask);
}

bool cs_ip_is_loopback(const cs_ip *ip) {
  static const uint8_t v6lo[16] = {[15] = 1};
  if (ip->family == AF_INET) return ip->b[0] == 127;
  if (memcmp(ip->b, v6lo, 16) == 0) return true;
  /* IPv4-mapped loopback */
  static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
  return memcmp(ip->b, mapped, 12) == 0 && ip->b[12] == 127;
}

#define MAX_LABNETS 32
static cs_cidr labnets[MAX_LABNETS];
static size_t nlabnets;

int cs_labnet_add(const char *cidr) {
  if (nlabnets == MAX_LABNETS) return -1;
  if (!cs_cidr_parse(cidr, &labnets[nlabnets])) return -1;
  nlabnets++;
  return 0;
}
void cs_labnet_clear(void) { nlabnets = 0; }
bool cs_ip_is_labnet(const cs_ip *ip) {
  for (size_t i = 0; i < nlabnets; i++)
    if (cs_cidr_contains(&labnets[i], ip)) return true;
  return false;
}

/* The ranges OONI treats as bogons (probe-cli netxlite/bogon.go, from ipinfo.io's list). */
static const char *const bogon_list[] = {
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "::/96",
    "100::/64",
    "2001:10::/28",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
    "2002::/24",
    "2002:a00::/24",
    "2002:7f00::/24",
    "2002:a9fe::/32",
    "2002:ac10::/28",
    "2002:c000::/40",
    "2002:c000:200::/40",
    "2002:c0a8::/32",
    "2002:c612::/31",
    "2002:c633:6400::/40",
    "2002:cb00:7100::/40",
    "2002:e000::/20",
    "2002:f000::/20",
    "2002:ffff:ffff::/48",
    "2001::/40",
    "2001:0:a00::/40",
    "2001:0:7f00::/40",
    "2001:0:a9fe::/48",
    "2001:0:ac10::/44",
    "2001:0:c000::/56",
    "2001:0:c000:200::/56",
    "2001:0:c0a8::/48",
    "2001:0:c612::/47",
    "2001:0:c633:6400::/56",
    "2001:0:cb00:7100::/56",
    "2001:0:e000::/36",
    "2001:0:f000::/36",
    "2001:0:ffff:ffff::/64",
};

#define NBOGONS (sizeof bogon_list / sizeof *bogon_list)
static cs_cidr bogons[NBOGONS];
static pthread_once_t bogons_once = PTHREAD_ONCE_INIT;
static void bogons_init(void) {
  for (size_t i = 0; i < NBOGONS; i++)
    if (!cs_cidr_parse(bogon_list[i], &bogons[i])) abort(); /* a typo in the table above */
}

bool cs_ip_is_bogon(const cs_ip *ip) {
  if (cs_ip_is_labnet(ip)) return false;
  pthread_once(&bogons_once, bogons_init);
  for (size_t i = 0; i < NBOGONS; i++)
    if (cs_cidr_contains(&bogons[i], ip)) return true;
  return false;
}

bool cs_ipstr_is_bogon(const char *s) {
  cs_ip ip;
  return cs_ip_parse(s, &ip) && cs_ip_is_bogon(&ip);
}

socklen_t cs_ip_to_sockaddr(const cs_ip *ip, uint16_t port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (ip->family == AF_INET) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    memcpy(&s4->sin_addr, ip->b, 4);
    return sizeof *s4;
  }
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
  s6->sin6_family = AF_INET6;
  s6->sin6_port = htons(port);
  memcpy(&s6->sin6_addr, ip->b, 16);
  return sizeof *s6;
}

bool cs_ip_from_sockaddr(const struct sockaddr *sa, cs_ip *ip, uint16_t *port) {
  memset(ip, 0, sizeof *ip);
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    ip->family = AF_INET;
    memcpy(ip->b, &s4->sin_addr, 4);
    if (port) *port = ntohs(s4->sin_port);
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    ip->family = AF_INET6;
    memcpy(ip->b, &s6->sin6_addr, 16);
    if (port) *port = ntohs(s6->sin6_port);
    return true;
  }
  return false;
}

void cs_endpoint_format(const cs_ip *ip, uint16_t port, char *out, size_t outlen) {
  char a[CS_IPSTR_MAX];
  cs_ip_format(ip, a);
  if (ip->family == AF_INET6) snprintf(out, outlen, "[%s]:%u", a, port);
  else snprintf(out, outlen, "%s:%u", a, port);
}

bool cs_endpoint_parse(const char *s, cs_ip *ip, uint16_t *port) {
  char host[CS_IPSTR_MAX + 2];
  const char *colon;
  size_t hl;
  if (s[0] == '[') {
    const char *rb = strchr(s, ']');
    if (!rb || rb[1] != ':') return false;
    hl = (size_t)(rb - s - 1);
    if (hl >= sizeof host) return false;
    memcpy(host, s + 1, hl);
    colon = rb + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) return false;
    hl = (size_t)(colon - s);
    if (hl >= sizeof host) return false;
    memcpy(host, s, hl);
  }
  host[hl] = 0;
  char *end;
  unsigned long p = strtoul(colon + 1, &end, 10);
  if (*end || end == colon + 1 || p > 65535) return false;
  if (!cs_ip_parse(host, ip)) return false;
  if (s[0] != '[' && ip->family == AF_INET6) return false;
  *port = (uint16_t)p;
  return true;
}

const char *cs_ip_canon(cs_arena *a, const char *s) {
  cs_ip ip;
  if (!s || !cs_ip_parse(s, &ip)) return s;
  char out[CS_IPSTR_MAX];
  cs_ip_format(&ip, out);
  if (!strcmp(out, s)) return s;
  const char *d = cs_arena_strdup(a, out);
  return d ? d : s;
}
