/* wc_locate.h - web_connectivity's opt-in --locate step (docs/forensics.md "Localisation in
 * web_connectivity"): on a blocked result only, replay the trigger that matches the blocking
 * method with increasing TTL (nettests/locate_trace.h) and write test_keys.x_locate.
 *
 * This part decides what to replay from the measurement's own records:
 *   dns                                   -> a DNS query for the URL's host to the resolver the
 *                                            lookup used (--resolver udp://, or the system
 *                                            resolver's first IPv4 nameserver in resolv.conf)
 *   tls, http_failure or blockpage on an  -> a ClientHello with the SNI of the failed (else the
 *   https URL                                first) TLS handshake, to its address
 *   http_failure, blockpage (http URL)    -> an HTTP GET with the Host of the first failed (else
 *                                            the first) request, to its address
 *   tcp_ip                                -> nothing: no payload to replay (x_locate null)
 * and bounds the step (CS_WC_LOCATE_*). */
#ifndef CS_NETTESTS_WC_LOCATE_H
#define CS_NETTESTS_WC_LOCATE_H

#include <stddef.h>

#include "nettests/locate_trace.h"
#include "record/record.h"
#include "util/ipnet.h"
#include "util/url.h"

/* The bounds of the step: per run two traces (control, target) of at most MAX_TTL probes,
 * MAX_RUNS runs when the first finds interference, each TTL waits at most PROBE_TIMEOUT s,
 * and the whole step stops after MAX_TIME s with what it has. */
#define CS_WC_LOCATE_MAX_TTL 16
#define CS_WC_LOCATE_RUNS 2
#define CS_WC_LOCATE_PROBE_TIMEOUT 1.0
#define CS_WC_LOCATE_INTERVAL 0.1
#define CS_WC_LOCATE_MAX_TIME 20.0
#define CS_WC_LOCATE_CONNECT_TIMEOUT 3.0 /* each TCP trigger's connect (at the normal TTL) */
#define CS_WC_LOCATE_MAX_PROBES (2 * CS_WC_LOCATE_MAX_TTL * CS_WC_LOCATE_RUNS)
#define CS_WC_LOCATE_CONTROL "example.com"

/* The first IPv4 "nameserver" of a resolv.conf text (bounded: at most len bytes, lines of any
 * length). Returns 1 and *out, or 0 when there is none. */
int cs_wc_locate_resolv_conf(const char *text, size_t len, cs_ip *out);

/* "ip:port" (a record's address) -> IPv4 address and port. Returns 0, or -1 (IPv6, bad). */
int cs_wc_locate_addr(const char *addr, cs_ip *ip, uint16_t *port);

/* Plans the step for a measurement whose outcome key is outcome (a censorship outcome of
 * web_connectivity). resolv_conf: the system resolver's file (NULL: /etc/resolv.conf).
 * Returns 1 with *o filled (names point into t's arena or url), or 0 with *why (no trace
 * possible: why not, in words, in t's arena or static). */
int cs_wc_locate_plan(cs_trace *t, const cs_url *url, const char *outcome, const char *resolv_conf,
                      cs_locate_opts *o, const char **why);

#endif
