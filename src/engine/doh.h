/* doh.h - DNS over HTTPS (RFC 8484) with the GET method: the same DNS message as over UDP,
 * base64url-encoded in the `dns` query parameter, over our own TCP + TLS + HTTP/1.1 steps.
 *
 * Records one `queries` entry per question with engine "doh" and resolver_address = the
 * DoH URL (raw_response, rcode and answers as for UDP). The transport of the DoH exchange
 * (bootstrap lookup, connect, handshake, HTTP transaction) is recorded in a private trace
 * and NOT mixed into the measurement's tcp_connect/tls_handshakes/requests: those describe
 * the measured site, and analysis reads them as such. */
#ifndef CS_DOH_H
#define CS_DOH_H

#include "engine/dns.h"
#include "engine/tls.h"

typedef struct cs_doh_req cs_doh_req;

/* Resolves host (A and AAAA in parallel) through the DoH server at url ("https://..."),
 * completing like cs_dns_lookup_host (cb from a deferred call; r->rec is the A query).
 * Returns NULL when out of memory or url is not an https URL. */
cs_doh_req *cs_doh_lookup_host(cs_loop *l, cs_trace *t, cs_tls_ctx *tls, const char *url,
                               const char *host, const cs_dns_opts *o, cs_dns_cb cb, void *arg);
/* Stops and frees the request without calling cb. Not allowed from inside cb. */
void cs_doh_cancel(cs_doh_req *r);

#endif
