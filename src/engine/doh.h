/* doh.h - DNS over HTTPS (RFC 8484) with the GET method: the same DNS message as over UDP,
 * base64url-encoded in the `dns` query parameter, over our own TCP + TLS + HTTP/1.1 steps
 * (dial.h, http.h; not the fetch flow). Callers choose DoH through engine/resolve.h.
 *
 * Records one `queries` entry per question with engine "doh" and resolver_address = the
 * DoH URL (raw_response, rcode and answers as for UDP). The transport of the DoH exchange
 * (bootstrap lookup, connect, handshake, HTTP transaction) is recorded in a private trace
 * and NOT mixed into the measurement's tcp_connect/tls_handshakes/requests: those describe
 * the measured site, and analysis reads them as such.
 *
 * The DoH server's own name is resolved with the system resolver (cs_dns_lookup,
 * CS_DNS_VIA_SYSTEM), never through DoH: no recursion. Its addresses are dialled one after
 * the other (cs_dial, CS_DIAL_SEQUENTIAL: connect, then TLS with SNI = the URL's host, ALPN
 * http/1.1) until one works; when none does, the question fails with the first address's
 * failure. Redirects are not followed
 * (a 3xx is "server returned HTTP status 3xx"). The deadline (opts.timeout, default
 * CS_DNS_TIMEOUT) covers the bootstrap and both exchanges. The lookup's result is merged by
 * cs_dns_merge, as for UDP. */
#ifndef CS_DOH_H
#define CS_DOH_H

#include "engine/dns.h"
#include "engine/tls.h"

typedef struct cs_doh_req cs_doh_req;

/* Resolves host (A and AAAA in parallel) through the DoH server at url ("https://..."),
 * completing like cs_dns_lookup (cb from a deferred call; r->rec is the A query).
 * Returns NULL (cb never called) when out of memory, without tls, or when url is not a valid
 * https URL. */
cs_doh_req *cs_doh_lookup_host(cs_loop *l, cs_trace *t, cs_tls_ctx *tls, const char *url,
                               const char *host, const cs_dns_opts *o, cs_dns_cb cb, void *arg);
/* Stops and frees the request without calling cb; a no-op from inside cb (the request is
 * freed when cb returns). NULL: no-op. */
void cs_doh_cancel(cs_doh_req *r);

#endif
