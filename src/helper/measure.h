/* measure.h - what the control server measures for one control request, as OONI's
 * oohelperd does (pc:internal/oohelperd/measure.go, docs/helper.md):
 *   DNS (system resolver) -> ip_info (probe's + TH's addresses, bogon flag) -> concurrently:
 *   TCP connect to every non-bogon IP x port (+ TLS for port 443) and an HTTP GET of the URL
 *   with redirects (cs_fetch) -> the control response (thproto/thproto.h writes the JSON,
 *   section (c) of the methodology).
 * Each measurement records into a private cs_trace (its own arena, bounded) that is freed when
 * the response has been produced. */
#ifndef CS_HELPER_MEASURE_H
#define CS_HELPER_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/loop.h"
#include "engine/tls.h"
#include "util/arena.h"

#define CS_HELPER_TCP_TIMEOUT 15.0          /* OONI TH: TCP connect */
#define CS_HELPER_TLS_TIMEOUT 10.0          /* TLS handshake */
#define CS_HELPER_HTTP_TIMEOUT 15.0         /* OONI TH: whole HTTP client (all redirects) */
#define CS_HELPER_FETCH_BODY_CAP (1u << 24) /* OONI TH body limit */
#define CS_HELPER_MAX_IPS 64                /* ip_info entries (further addresses are ignored) */
#define CS_HELPER_MAX_ENDPOINTS 128         /* endpoints measured */

typedef struct {
  cs_tls_ctx *tls;      /* trust store for TLS handshakes and https fetches (required) */
  const char *resolver; /* NULL/"system": getaddrinfo (on the loop's small worker pool), or
                           "udp://IP:PORT": plain DNS, fully asynchronous (for high load) */
  double dns_timeout, tcp_timeout, tls_timeout, http_timeout; /* <= 0: defaults above */
  size_t body_cap;                                            /* 0: CS_HELPER_FETCH_BODY_CAP */
  uint16_t tls_port; /* endpoints on this port get a TLS handshake; 0: 443 (OONI). A test
                        hook: loopback tests cannot always bind 443. */
} cs_helper_mopts;

/* status: 200 with the response JSON, or 500 (out of memory) with a small error JSON.
 * json is valid only during the call. */
typedef void (*cs_helper_measure_cb)(void *arg, int status, const char *json, size_t len);

typedef struct cs_helper_measure cs_helper_measure;

/* Decodes the request and starts measuring. Returns the measurement, or NULL with *status
 * set: 400 (invalid request; message in err) or 500 (out of memory). cb is called exactly
 * once from a later loop iteration unless cs_helper_measure_cancel() is called first; the
 * measurement is freed right after cb returns. opts must outlive the measurement. */
cs_helper_measure *cs_helper_measure_start(cs_loop *l, const cs_helper_mopts *opts,
                                           const char *json, size_t n, cs_helper_measure_cb cb,
                                           void *arg, int *status, char *err, size_t errlen);
/* Stops every step and frees the measurement without calling cb. Not from inside cb. */
void cs_helper_measure_cancel(cs_helper_measure *m);

#endif
