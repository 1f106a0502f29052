/* resolve.h - the one resolver entry: every lookup of a name in the engine and the nettests
 * goes through cs_resolve(), which picks the system resolver, DNS over UDP or TCP, or DNS over
 * HTTPS from a resolver spec. The spec is parsed by one function, cs_resolver_spec_parse(),
 * which the CLI also uses to reject a bad --resolver with a precise message.
 *
 * Specs (the scheme and "system" are matched case-insensitively):
 *   NULL, "" or "system"            getaddrinfo (dns.h: engine "getaddrinfo")
 *   "udp://SERVER"                  A + AAAA over UDP (engine "udp", TCP fallback on TC=1)
 *   "tcp://SERVER"                  A + AAAA over TCP (engine "tcp")
 *   "https://HOST[:PORT]/PATH"      A + AAAA over DNS over HTTPS (doh.h: engine "doh")
 * SERVER is "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT", port 53 by default.
 *
 * Whatever the resolver, the lookup records what its step records (dns.h, doh.h) and
 * completes with one merged result (cs_dns_merge: first failure, AAAA dns_no_answer
 * skipped, addresses de-duplicated, A first). An IP literal host completes with that
 * address and records nothing.
 *
 * Recursion guard (curl's allowDOH, lib/hostip.c): with opts.no_doh, an https spec resolves
 * through the system resolver instead. A lookup made on behalf of a DoH exchange (the DoH
 * server's own name) sets it; DoH itself bootstraps through the system resolver directly. */
#ifndef CS_RESOLVE_H
#define CS_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/dns.h"
#include "engine/tls.h"

typedef enum {
  CS_RESOLVER_SYSTEM,
  CS_RESOLVER_UDP,
  CS_RESOLVER_TCP,
  CS_RESOLVER_DOH,
} cs_resolver_kind;

typedef struct {
  cs_resolver_kind kind;
  cs_ip server;    /* UDP/TCP */
  uint16_t port;   /* UDP/TCP */
  const char *url; /* DoH: the spec itself (points into the parsed string) */
} cs_resolver_spec;

/* Parses and validates a resolver spec (see above) into *out (may be NULL: validate only).
 * Returns 0, or -1 with a one-line message in err (e.g. "udp://: not an IP address or
 * IP:PORT: \"dns.example\"") that names what is wrong. */
int cs_resolver_spec_parse(const char *spec, cs_resolver_spec *out, char *err, size_t errlen);

/* The spec's kind as a word: "system", "udp", "tcp" or "doh". */
const char *cs_resolver_kind_str(cs_resolver_kind k);

typedef struct {
  const char *resolver; /* the spec; NULL: system */
  cs_tls_ctx *tls;      /* trust store for DoH (required with an https spec) */
  bool no_doh;          /* an https spec resolves through the system resolver (see above) */
  cs_dns_opts dns;      /* timeout (per step, default CS_DNS_TIMEOUT), transaction_id, tags,
                           UDP window, EDNS0, ... as for the dns.h steps */
} cs_resolve_opts;

typedef struct cs_resolve_req cs_resolve_req;

/* Resolves host through the resolver o->resolver names. cb runs exactly once from a later
 * loop iteration (never from inside cs_resolve) with the merged result, unless
 * cs_resolve_cancel() is called first. The request is freed after cb returns. The trace, the
 * loop and o->tls must outlive the request; o itself is copied. Returns NULL (cb never called,
 * nothing recorded) when out of memory, for an empty host, an invalid spec, or an https spec
 * without o->tls. */
cs_resolve_req *cs_resolve(cs_loop *l, cs_trace *t, const cs_resolve_opts *o, const char *host,
                           cs_dns_cb cb, void *arg);

/* Stops the lookup and frees it without calling cb; records already made stay. A no-op from
 * inside the request's own cb and for NULL. */
void cs_resolve_cancel(cs_resolve_req *r);

#endif
