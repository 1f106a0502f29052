/* probe.h - what every nettest of the probe shares: its configuration (resolver, trust
 * store, overrides, timeouts, envelope metadata), report ids and scrubbing. The shared
 * measurement base (trace, envelope, delivery) is nettests/meas.h. */
#ifndef CS_PROBE_H
#define CS_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "engine/loop.h"
#include "engine/tls.h"

typedef struct {
  const char *resolver; /* "system" (default), "udp://IP:PORT" or "https://..." (DoH) */
  const char *sni;      /* TLS server name override (NULL: the URL's host) */
  const char *address;  /* connect to this IP instead of resolving (NULL: resolve) */
  cs_tls_ctx *tls;      /* trust store (system CAs + --ca-file) */
  const char *probe_cc, *probe_asn, *probe_network_name;
  const char *report_id;
  const char *software_version;
  time_t test_start;
  double dns_timeout, tcp_timeout, tls_timeout, http_timeout; /* <= 0: OONI defaults */
  int max_redirects;                                          /* 0: 10 (Go's default, as OONI) */
  size_t arena_limit; /* bytes of records one measurement may hold (0: 64 MiB) */
  size_t json_limit;  /* bytes of one serialised measurement (0: no limit but memory) */
  bool no_packets;    /* --no-packets: no packet capture (x_packets_status "disabled") */
} cs_probe_cfg;

#define CS_PROBE_ARENA_LIMIT (64u << 20) /* default of arena_limit */

/* Fills a report_id in OONI's format: {YYYYmmddTHHMMSSZ}_{test}_{CC}_{ASN}_n0_{16 random}. */
void cs_probe_report_id(char *out, size_t outlen, const char *test_name, const char *cc,
                        const char *asn, time_t start);

/* Replaces, in a serialised measurement, every occurrence of one of this host's own
 * interface addresses (getifaddrs, loopback excluded) with "[scrubbed]" — the probe's own
 * address must never be saved or sent (a blockpage or error text may echo it). Returns a
 * malloc'd copy (caller frees) or NULL when out of memory; *outlen gets its length. */
char *cs_probe_scrub_self(const char *json, size_t len, size_t *outlen);
/* The same with the given addresses (at most 64; text form as cs_ip_format writes them).
 * An address is replaced where it stands whole: "198.18.1.2", "198.18.1.2:53012",
 * "::ffff:198.18.1.2", "[2001:db8::2]:443", but not "198.18.1.23" or "10.198.18.1.2". */
char *cs_probe_scrub(const char *json, size_t len, const char *const *addrs, size_t naddrs,
                     size_t *outlen);

#endif
