/* dns.h - the DNS steps: the system resolver (getaddrinfo on the worker pool), plain DNS over
 * UDP (with the duplicate-response window that exposes on-path injection, and TCP fallback
 * on TC=1), DNS over TCP, and a lookup (A + AAAA, merged) over one of them. Choosing a
 * resolver from a user's spec ("system", "udp://...", "https://...") is engine/resolve.h's
 * job, not this file's.
 *
 * Every step is asynchronous on a cs_loop, has a deadline (OONI: 4 s), never blocks the loop,
 * and records into a cs_trace, OONI style (df-002-dnst, df-008-netevents):
 *   - one `queries` record (cs_query_rec) per question asked: engine "getaddrinfo" (query_type
 *     "ANY", resolver_address ""), "udp" or "tcp" (resolver_address "ip:port", raw_response,
 *     rcode);
 *   - for UDP, every further datagram received during the duplicate window (duplicates,
 *     conflicting answers, wrong-ID replies, garbage) goes to trace->dns_duplicates
 *     (x_dns_duplicate_responses), each with its own t and raw bytes;
 *   - for UDP/TCP, `write_to`/`read_from` (UDP) or `connect`/`write`/`read` (TCP) network
 *     events, at most opts.max_events per step.
 * Every record carries opts.transaction_id and opts.tags. See docs/dns.md for the mapping of
 * failures.
 *
 * Lifetime: a cs_dns_req is allocated by the start function and freed by this module right
 * after its callback returns, or by cs_dns_cancel(). The callback is never called from inside
 * the start function (cs_defer). The trace and the loop must outlive the request (until its
 * callback or cs_dns_cancel()); a getaddrinfo still running on a worker when the request ends
 * finishes detached and never touches the trace. */
#ifndef CS_DNS_H
#define CS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/dnswire.h"
#include "engine/loop.h"
#include "record/record.h"
#include "util/failure.h"
#include "util/ipnet.h"

#define CS_DNS_TIMEOUT 4.0    /* seconds, per step (OONI LTE: 4 s) */
#define CS_DNS_DUP_WINDOW 0.5 /* seconds of listening after the first UDP reply (OONI LTE) */
#define CS_DNS_MAX_EVENTS 64  /* network events recorded per step */
#define CS_DNS_MAX_EXTRA 32   /* dns_duplicates records per UDP query; later ones counted */
#define CS_DNS_MAX_ADDRS 128  /* addresses delivered by one lookup */

typedef struct {
  double timeout;          /* per-step deadline in seconds; <= 0: CS_DNS_TIMEOUT */
  double dup_window;       /* UDP: listen this long after the first valid reply (never past the
                          deadline); the callback runs when the window closes.
                          0: CS_DNS_DUP_WINDOW; < 0: complete at the first reply */
  size_t max_events;       /* 0: CS_DNS_MAX_EVENTS */
  int64_t transaction_id;  /* copied into every record (0: omitted) */
  const char *const *tags; /* copied; e.g. {"depth=0"} */
  size_t ntags;
  bool no_edns0;        /* UDP/TCP: omit the EDNS0 OPT RR (default: advertise 1232 bytes) */
  bool no_tcp_fallback; /* UDP: record a TC=1 reply as is instead of retrying over TCP */
} cs_dns_opts;

typedef struct {
  /* OONI failure string or NULL. For a lookup-host this is the lookup's
   * dns_experiment_failure: the first non-NULL failure among its queries in record order
   * (A, then AAAA), skipping an AAAA dns_no_answer. Addresses may be present even when it
   * is set (e.g. A answered, AAAA timed out). */
  const char *failure;
  const cs_ip *addrs; /* de-duplicated, in answer order (A first for a lookup-host) */
  size_t naddrs;
  /* The `queries` record of the step (the TCP one after a TC fallback; for a lookup-host,
   * the A query). NULL when the trace arena is full. Lives in the trace. */
  const cs_query_rec *rec;
  int rcode;             /* -1 when no reply was accepted */
  size_t nduplicates;    /* UDP: datagrams recorded in dns_duplicates by this step */
  size_t nextra_dropped; /* UDP: further datagrams beyond CS_DNS_MAX_EXTRA (not recorded) */
} cs_dns_result;

/* r and everything it points to (except r->rec) is valid only during the call. */
typedef void (*cs_dns_cb)(void *arg, const cs_dns_result *r);

typedef struct cs_dns_req cs_dns_req;

/* System resolver: getaddrinfo(host, AF_UNSPEC, AI_CANONNAME) on the loop's worker pool.
 * Records engine "getaddrinfo", query_type "ANY", resolver_address "", A/AAAA answers, plus a
 * CNAME answer when the canonical name differs from host; getaddrinfo_error when non-zero.
 * Returns NULL only when out of memory or on a bad argument (cb never called). */
cs_dns_req *cs_dns_getaddrinfo(cs_loop *l, cs_trace *t, const char *host, const cs_dns_opts *o,
                               cs_dns_cb cb, void *arg);

/* getaddrinfo's signature. Results are released with freeaddrinfo. */
struct addrinfo;
typedef int (*cs_dns_getaddrinfo_fn)(const char *node, const char *service,
                                     const struct addrinfo *hints, struct addrinfo **res);
/* Replaces the system resolver's getaddrinfo (NULL: back to getaddrinfo). For the unit tests
 * only, which must not send DNS queries to the host's nameserver (tests/support/no_dns.c);
 * call it before any lookup starts. */
void cs_dns_set_system_resolver(cs_dns_getaddrinfo_fn fn);

/* One query (qtype CS_DNS_TYPE_A or CS_DNS_TYPE_AAAA) over UDP to resolver:port, engine
 * "udp". Falls back to TCP (a second record, engine "tcp") when the reply has TC=1.
 * Returns NULL (cb never called, nothing recorded) when out of memory, for an empty host, a
 * NULL/non-IP resolver or another qtype; a host that cannot be encoded as a DNS name is
 * recorded and reported as "invalid_argument". */
cs_dns_req *cs_dns_udp(cs_loop *l, cs_trace *t, const char *host, uint16_t qtype,
                       const cs_ip *resolver, uint16_t port, const cs_dns_opts *o, cs_dns_cb cb,
                       void *arg);

/* One query over TCP (RFC 1035 4.2.2 / RFC 7766), engine "tcp". Same arguments and NULL
 * cases as cs_dns_udp(). */
cs_dns_req *cs_dns_tcp(cs_loop *l, cs_trace *t, const char *host, uint16_t qtype,
                       const cs_ip *resolver, uint16_t port, const cs_dns_opts *o, cs_dns_cb cb,
                       void *arg);

/* Where a lookup sends its questions. engine/resolve.h turns a resolver spec string into one
 * of these (or into DoH); callers choose a resolver there, not here. */
typedef enum {
  CS_DNS_VIA_SYSTEM, /* getaddrinfo: one question, query_type "ANY" */
  CS_DNS_VIA_UDP,    /* A and AAAA over UDP in parallel (TCP fallback on TC=1) */
  CS_DNS_VIA_TCP,    /* A and AAAA over TCP in parallel */
} cs_dns_via;

/* Resolves host to addresses through `via` (server/port: the UDP or TCP resolver, ignored
 * for the system resolver). An IP literal host ("192.0.2.1", "2001:db8::1" or "[2001:db8::1]")
 * completes with that address and records nothing. The result is merged as cs_dns_merge()
 * says. Returns NULL (cb never called) when out of memory or on a bad argument. */
cs_dns_req *cs_dns_lookup(cs_loop *l, cs_trace *t, const char *host, cs_dns_via via,
                          const cs_ip *server, uint16_t port, const cs_dns_opts *o, cs_dns_cb cb,
                          void *arg);

/* The system / UDP subset of resolve.h's specs, for callers that have not moved to
 * cs_resolve() yet (helper/): mode NULL, "" or "system" (getaddrinfo), or "udp://SERVER" with
 * SERVER as cs_dns_server_parse() takes it. Anything else (DoH included): returns NULL. */
cs_dns_req *cs_dns_lookup_host(cs_loop *l, cs_trace *t, const char *host, const char *mode,
                               const cs_dns_opts *o, cs_dns_cb cb, void *arg);

/* Is host an IP literal ("192.0.2.1", "2001:db8::1" or "[2001:db8::1]")? Sets *ip. */
bool cs_dns_host_literal(const char *host, cs_ip *ip);

/* Parses a DNS server endpoint: "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT" (a bare IPv6
 * address too); the port defaults to 53 and must not be 0. */
bool cs_dns_server_parse(const char *s, cs_ip *ip, uint16_t *port);

/* The OONI failure of a reply that matched its question (netxlite's rcode mapping):
 * NOERROR with an address of qtype: none; NOERROR without: dns_no_answer (unless `tc`, when
 * the answer section may be incomplete: none); NXDOMAIN, REFUSED, SERVFAIL: their failure;
 * any other rcode: dns_server_misbehaving. Shared by UDP, TCP and DoH. */
cs_failure cs_dns_reply_failure(const cs_dnswire_reply *rep, uint16_t qtype, bool tc);

/* Merges the results of one lookup's questions (q[0] = A, q[1] = AAAA, or q[0] alone for
 * getaddrinfo) into *out, as OONI webconnectivity does:
 *   - failure: the first non-NULL failure in question order, skipping an AAAA
 *     dns_no_answer (dns_experiment_failure);
 *   - addresses: de-duplicated, A first whatever the completion order, at most
 *     CS_DNS_MAX_ADDRS, written to buf (CS_DNS_MAX_ADDRS entries);
 *   - rec and rcode: q[0]'s; nduplicates and nextra_dropped: summed.
 * Shared by cs_dns_lookup and DoH, so every resolver reports a lookup the same way. */
void cs_dns_merge(const cs_dns_result *q, size_t nq, cs_ip *buf, cs_dns_result *out);

/* Stops the request and frees it without calling its callback; records nothing more (records
 * already added stay). Safe from any callback on the loop, including the request's own
 * callback (then a no-op: the request is freed when the callback returns). NULL: no-op.
 * After the callback has returned the pointer is dangling: clear it in the callback. */
void cs_dns_cancel(cs_dns_req *r);

/* Sets q's rcode and its answers (A/AAAA/CNAME, wire order, in arena a) from a parsed reply
 * (shared with DNS over HTTPS). */
void cs_dns_fill_answers(cs_arena *a, cs_query_rec *q, const cs_dnswire_reply *rep);

/* OONI query_type string for a qtype ("A", "AAAA", "CNAME", "ANY", ...; "" when unknown). */
const char *cs_dns_qtype_str(uint16_t qtype);

#endif
