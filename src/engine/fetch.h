/* fetch.h - the "fetch a URL" flow composed of the engine's steps, shared by urlgetter, the
 * probe side of web_connectivity and the control server:
 *   hop(url): resolve (or preset addresses / IP literal) -> connect to every address
 *   (TCP [+ TLS for https]) concurrently -> GET over the first address that worked (in
 *   resolver order) -> on a redirect (301/302/303/307/308 with a usable Location), hop at
 *   depth+1 -> done.
 * Every step records into the caller's trace with the tag "depth=N". The flow decides only
 * what to do next, never why something failed. */
#ifndef CS_FETCH_H
#define CS_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/conn.h"
#include "engine/loop.h"
#include "engine/tls.h"
#include "record/record.h"
#include "util/ipnet.h"

#define CS_FETCH_MAX_ADDRS 8      /* addresses dialled per hop */
#define CS_FETCH_MAX_REDIRECTS 10 /* Go's default, as OONI */

typedef struct {
  const char *resolver; /* a resolver spec (engine/resolve.h): "system" (NULL too),
                           "udp://IP:PORT", "tcp://IP:PORT" or "https://..." (DoH) */
  const char *sni;      /* TLS server name override (NULL: the URL's host) */
  cs_tls_ctx *tls;      /* trust store; required for https */
  double dns_timeout, tcp_timeout, tls_timeout, http_timeout; /* <= 0: OONI defaults */
  int max_redirects;                                          /* 0: CS_FETCH_MAX_REDIRECTS */
  size_t body_cap;    /* 0: 1<<19 (OONI's probe); the control server uses 1<<24 */
  const cs_ip *addrs; /* depth-0 addresses to use instead of resolving (NULL: resolve) */
  size_t naddrs;
  bool skip_loopback; /* never dial loopback addresses (OONI web_connectivity) */
  bool skip_bogons;   /* never dial bogons (util/ipnet.h; --lab-net ranges are not bogons):
                           the control server must not be a way into private networks */
  bool keep_unfollowable_redirect; /* a redirect whose Location is unusable ends the fetch
                                      successfully with that 3xx as the final response (as
                                      OONI's control server reports it) instead of failing
                                      with http_invalid_redirect_location_host */
  const char *user_agent;          /* NULL: CS_HTTP_USER_AGENT */
  bool no_verify;                  /* TLS: accept any certificate (the chain is still recorded, with
                             no_tls_verify=true), e.g. to measure with a swapped SNI */
  cs_conn_read_observer observer;  /* called on every read of every connection of the fetch
                                     while it lives (engine/conn.h) */
  void *observer_arg;
  bool keep_samples;  /* the per-read samples of the last HTTP transaction's connection
                        survive the fetch: cs_fetch_result.samples */
  bool speed_samples; /* every connection of the fetch records OONI's download-speed samples
                         (memoryless `bytes_received_cumulative` network events with its
                         transaction_id, engine/conn.h), as probe-cli's web_connectivity */
} cs_fetch_opts;

typedef struct {
  const char *failure;   /* OONI failure string of the whole fetch, NULL on success */
  const char *failed_op; /* "resolve", "connect", "tls_handshake", "http_round_trip", ... */
  int nredirects;
  const char *final_url;    /* URL of the last hop attempted (in the trace arena) */
  const cs_http_rec *final; /* last HTTP transaction recorded (NULL when none) */
  /* with keep_samples: the per-read samples (time, cumulative raw bytes) of the connection of
   * the last HTTP transaction, in the trace arena; NULL/0 otherwise */
  const cs_conn_sample *samples;
  size_t nsamples;
} cs_fetch_result;

/* r is valid only during the call (the pointers into the trace stay valid with the trace). */
typedef void (*cs_fetch_cb)(void *arg, const cs_fetch_result *r);

typedef struct cs_fetch cs_fetch;

/* Starts fetching url. opts (and what it points to) and the trace must outlive the fetch. cb
 * is called exactly once, from a deferred call (never from inside cs_fetch_start and never
 * with a step still on the stack), unless cs_fetch_cancel() is called first. Returns NULL
 * when out of memory. */
cs_fetch *cs_fetch_start(cs_loop *l, cs_trace *t, const char *url, const cs_fetch_opts *opts,
                         cs_fetch_cb cb, void *arg);
/* Stops every step of the fetch and frees it without calling cb. Records already made stay.
 * Not allowed from inside cb (the fetch is freed right after cb returns). */
void cs_fetch_cancel(cs_fetch *f);

#endif
