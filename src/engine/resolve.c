/* resolve.c - the one resolver entry (see resolve.h): parses the resolver spec and hands the
 * lookup to dns.c (system, UDP, TCP) or doh.c (DNS over HTTPS). Only the choice lives here;
 * the steps, their records and the A+AAAA merge are in dns.c and doh.c. */
#include "engine/resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/doh.h"
#include "util/arena.h"
#include "util/url.h"

struct cs_resolve_req {
  cs_dns_req *dns;
  cs_doh_req *doh;
  cs_dns_cb cb;
  void *arg;
  bool in_cb;
};

const char *cs_resolver_kind_str(cs_resolver_kind k) {
  switch (k) {
  case CS_RESOLVER_SYSTEM: return "system";
  case CS_RESOLVER_UDP: return "udp";
  case CS_RESOLVER_TCP: return "tcp";
  case CS_RESOLVER_DOH: return "doh";
  }
  return "";
}

int cs_resolver_spec_parse(const char *spec, cs_resolver_spec *out, char *err, size_t errlen) {
  cs_resolver_spec tmp;
  if (!out) out = &tmp;
  memset(out, 0, sizeof *out);
  out->kind = CS_RESOLVER_SYSTEM;
  if (!spec || !*spec || strcasecmp(spec, "system") == 0) return 0;
  bool udp = strncasecmp(spec, "udp://", 6) == 0, tcp = strncasecmp(spec, "tcp://", 6) == 0;
  if (udp || tcp) {
    const char *s = spec + 6;
    if (!cs_dns_server_parse(s, &out->server, &out->port)) {
      if (err && errlen)
        snprintf(err, errlen, "%s: \"%s\" is not IP, IP:PORT, [IPv6] or [IPv6]:PORT (port 1-65535)",
                 udp ? "udp://" : "tcp://", s);
      return -1;
    }
    out->kind = udp ? CS_RESOLVER_UDP : CS_RESOLVER_TCP;
    return 0;
  }
  if (strncasecmp(spec, "https://", 8) == 0) {
    /* The same parser and checks as the DoH step uses (doh.c). */
    cs_arena *a = cs_arena_new(0);
    if (!a) {
      if (err && errlen) snprintf(err, errlen, "out of memory");
      return -1;
    }
    cs_url u;
    char uerr[128];
    int rc = cs_url_parse(a, spec, &u, uerr, sizeof uerr);
    cs_arena_free(a);
    if (rc < 0) {
      if (err && errlen)
        snprintf(err, errlen, "https://: \"%s\" is not a valid URL: %s", spec, uerr);
      return -1;
    }
    out->kind = CS_RESOLVER_DOH;
    out->url = spec;
    return 0;
  }
  if (err && errlen)
    snprintf(err, errlen,
             "unknown resolver \"%s\": expected system, udp://IP[:PORT], tcp://IP[:PORT] or "
             "https://URL",
             spec);
  return -1;
}

static void on_result(void *arg, const cs_dns_result *r) {
  cs_resolve_req *q = arg;
  q->dns = NULL; /* freed by their modules after this callback returns */
  q->doh = NULL;
  q->in_cb = true;
  q->cb(q->arg, r);
  free(q);
}

cs_resolve_req *cs_resolve(cs_loop *l, cs_trace *t, const cs_resolve_opts *o, const char *host,
                           cs_dns_cb cb, void *arg) {
  cs_resolver_spec sp;
  if (!l || !t || !o || !host || !*host || !cb) return NULL;
  if (cs_resolver_spec_parse(o->resolver, &sp, NULL, 0) < 0) return NULL;
  if (sp.kind == CS_RESOLVER_DOH && o->no_doh) sp.kind = CS_RESOLVER_SYSTEM; /* allowDOH */
  cs_resolve_req *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  q->cb = cb, q->arg = arg;
  /* An IP literal needs no resolver: dns.c completes it without recording anything. */
  cs_ip lit;
  if (sp.kind == CS_RESOLVER_DOH && cs_dns_host_literal(host, &lit)) sp.kind = CS_RESOLVER_SYSTEM;
  switch (sp.kind) {
  case CS_RESOLVER_DOH:
    q->doh = cs_doh_lookup_host(l, t, o->tls, sp.url, host, &o->dns, on_result, q);
    break;
  case CS_RESOLVER_SYSTEM:
    q->dns = cs_dns_lookup(l, t, host, CS_DNS_VIA_SYSTEM, NULL, 0, &o->dns, on_result, q);
    break;
  case CS_RESOLVER_UDP:
  case CS_RESOLVER_TCP:
    q->dns = cs_dns_lookup(l, t, host, sp.kind == CS_RESOLVER_UDP ? CS_DNS_VIA_UDP : CS_DNS_VIA_TCP,
                           &sp.server, sp.port, &o->dns, on_result, q);
    break;
  }
  if (!q->dns && !q->doh) {
    free(q);
    return NULL;
  }
  return q;
}

void cs_resolve_cancel(cs_resolve_req *r) {
  if (!r || r->in_cb) return;
  cs_dns_cancel(r->dns);
  cs_doh_cancel(r->doh);
  free(r);
}
