/* wc_locate.c - what web_connectivity's --locate step replays, chosen from the measurement's
 * own records (wc_locate.h; docs/forensics.md "Localisation in web_connectivity"). */
#include "nettests/wc_locate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WL_RESOLV_MAX 65536 /* bytes of resolv.conf read */

int cs_wc_locate_resolv_conf(const char *text, size_t len, cs_ip *out) {
  size_t i = 0;
  while (i < len) {
    size_t e = i;
    while (e < len && text[e] != '\n') e++;
    /* one line: [blanks] "nameserver" blanks ADDR [anything] (resolv.conf(5)) */
    size_t p = i;
    while (p < e && (text[p] == ' ' || text[p] == '\t')) p++;
    static const char kw[] = "nameserver";
    if (e - p > sizeof kw - 1 && !memcmp(text + p, kw, sizeof kw - 1) &&
        (text[p + sizeof kw - 1] == ' ' || text[p + sizeof kw - 1] == '\t')) {
      p += sizeof kw - 1;
      while (p < e && (text[p] == ' ' || text[p] == '\t')) p++;
      size_t q = p;
      while (q < e && text[q] != ' ' && text[q] != '\t' && text[q] != '\r' && text[q] != '#' &&
             text[q] != ';')
        q++;
      char a[CS_IPSTR_MAX];
      cs_ip ip;
      if (q > p && q - p < sizeof a) {
        memcpy(a, text + p, q - p);
        a[q - p] = 0;
        if (cs_ip_parse(a, &ip) && ip.family == AF_INET) {
          *out = ip;
          return 1;
        }
      }
    }
    i = e + 1;
  }
  return 0;
}

int cs_wc_locate_addr(const char *addr, cs_ip *ip, uint16_t *port) {
  if (!addr || addr[0] == '[') return -1;
  const char *colon = strrchr(addr, ':');
  if (!colon || colon == addr || (size_t)(colon - addr) >= CS_IPSTR_MAX) return -1;
  char h[CS_IPSTR_MAX];
  memcpy(h, addr, (size_t)(colon - addr));
  h[colon - addr] = 0;
  char *end;
  unsigned long p = strtoul(colon + 1, &end, 10);
  if (end == colon + 1 || *end || p == 0 || p > 65535) return -1;
  if (!cs_ip_parse(h, ip) || ip->family != AF_INET) return -1;
  *port = (uint16_t)p;
  return 0;
}

static bool is_loopback(const cs_ip *ip) { return ip->family == AF_INET && ip->b[0] == 127; }

/* DNS: the resolver the lookup of the URL's host used. */
static int plan_dns(cs_trace *t, const cs_url *url, const char *resolv_conf, cs_locate_opts *o,
                    const char **why) {
  const cs_query_rec *q = NULL;
  for (const cs_query_rec *r = t->queries.head; r; r = r->next)
    if (r->hostname && !strcmp(r->hostname, url->host)) {
      q = r;
      break;
    }
  const char *engine = q && q->engine ? q->engine : "getaddrinfo";
  o->trig = CS_LOCATE_DNS;
  o->name = url->host;
  if (!strcmp(engine, "udp")) {
    if (cs_wc_locate_addr(q->resolver_address, &o->dst, &o->port) < 0) {
      *why = "the resolver is not an IPv4 ADDR:PORT (IPv6 is not traced yet)";
      return 0;
    }
  } else if (!strcmp(engine, "getaddrinfo") || !strcmp(engine, "system")) {
    const char *path = resolv_conf ? resolv_conf : "/etc/resolv.conf";
    FILE *f = fopen(path, "re");
    char *buf = f ? malloc(WL_RESOLV_MAX) : NULL;
    size_t n = buf ? fread(buf, 1, WL_RESOLV_MAX, f) : 0;
    int found = buf ? cs_wc_locate_resolv_conf(buf, n, &o->dst) : 0;
    free(buf);
    if (f) fclose(f);
    if (!found) {
      *why = cs_arena_printf(t->a, "the system resolver: no IPv4 nameserver in %s", path);
      return 0;
    }
    o->port = 53;
  } else {
    *why = cs_arena_printf(t->a,
                           "the lookup used the %s engine: only a UDP query is replayed with a "
                           "TTL (DNS over TCP, TLS and HTTPS are not traced)",
                           !strcmp(engine, "tcp")   ? "DNS over TCP"
                           : !strcmp(engine, "doh") ? "DNS over HTTPS"
                                                    : engine);
    return 0;
  }
  if (is_loopback(&o->dst)) {
    *why = "the resolver is on this host (loopback, e.g. a local stub): the path of its own "
           "queries is not seen";
    return 0;
  }
  return 1;
}

/* TLS: the failed handshake (else the first), its SNI and address. */
static int plan_tls(cs_trace *t, const cs_url *url, cs_locate_opts *o, const char **why) {
  const cs_tls_rec *pick = NULL;
  for (const cs_tls_rec *r = t->tls.head; r; r = r->next)
    if (r->failure && r->server_name && r->address) {
      pick = r;
      break;
    }
  if (!pick)
    for (const cs_tls_rec *r = t->tls.head; r; r = r->next)
      if (r->server_name && r->address) {
        pick = r;
        break;
      }
  o->trig = CS_LOCATE_TLS;
  if (!pick) {
    *why = "no TLS handshake was recorded: no ClientHello to replay";
    return 0;
  }
  o->name = *pick->server_name ? pick->server_name : url->host;
  if (cs_wc_locate_addr(pick->address, &o->dst, &o->port) < 0) {
    *why = "the TLS handshake's address is not IPv4 (IPv6 is not traced yet)";
    return 0;
  }
  return 1;
}

/* HTTP: the first failed request (else the first), its Host and address. */
static int plan_http(cs_trace *t, const cs_url *url, cs_locate_opts *o, const char **why) {
  const cs_http_rec *pick = NULL;
  for (const cs_http_rec *r = t->requests.head; r; r = r->next)
    if (r->failure && r->address && *r->address) {
      pick = r;
      break;
    }
  if (!pick)
    for (const cs_http_rec *r = t->requests.head; r; r = r->next)
      if (r->address && *r->address) {
        pick = r;
        break;
      }
  o->trig = CS_LOCATE_HTTP;
  if (!pick) {
    *why = "no HTTP request with an address was recorded: no request to replay";
    return 0;
  }
  o->name = url->host;
  cs_url u;
  char err[64];
  if (pick->url && cs_url_parse(t->a, pick->url, &u, err, sizeof err) == 0) o->name = u.host;
  if (cs_wc_locate_addr(pick->address, &o->dst, &o->port) < 0) {
    *why = "the request's address is not IPv4 (IPv6 is not traced yet)";
    return 0;
  }
  return 1;
}

int cs_wc_locate_plan(cs_trace *t, const cs_url *url, const char *outcome, const char *resolv_conf,
                      cs_locate_opts *o, const char **why) {
  memset(o, 0, sizeof *o);
  *why = NULL;
  o->control = CS_WC_LOCATE_CONTROL;
  o->max_ttl = CS_WC_LOCATE_MAX_TTL;
  o->repeats = CS_WC_LOCATE_RUNS;
  o->timeout = CS_WC_LOCATE_PROBE_TIMEOUT;
  o->interval = CS_WC_LOCATE_INTERVAL;
  o->max_time = CS_WC_LOCATE_MAX_TIME;
  o->connect_timeout = CS_WC_LOCATE_CONNECT_TIMEOUT;
  bool https = url->scheme && !strcmp(url->scheme, "https");
  if (!outcome) {
    *why = "no outcome";
    return 0;
  }
  if (!strcmp(outcome, "dns")) return plan_dns(t, url, resolv_conf, o, why);
  if (!strcmp(outcome, "tls")) return plan_tls(t, url, o, why);
  if (!strcmp(outcome, "http_failure") || !strcmp(outcome, "blockpage"))
    return https ? plan_tls(t, url, o, why) : plan_http(t, url, o, why);
  if (!strcmp(outcome, "tcp_ip")) {
    *why = "TCP/IP blocking: the connection itself is blocked, there is no payload trigger to "
           "replay (a TCP-SYN trigger is not implemented)";
    return 0;
  }
  *why = cs_arena_printf(t->a, "no trigger for the outcome %s", outcome);
  return 0;
}
