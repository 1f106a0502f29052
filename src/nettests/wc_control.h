/* wc_control.h - the probe side of the OONI test-helper protocol: POST a control request
 * (built by cs_th_request_build, pc:internal/model/th.go, docs/helper.md) to a control server
 * ("test helper", ours or OONI's oohelperd) over HTTP/1.1 (RFC 9112), cleartext or TLS, on a
 * cs_loop. Web Connectivity's control query; the server side is src/helper/.
 *
 * Two clients, one callback contract:
 *   - cs_th_query, one-shot: one query = one TCP (+TLS) connection carrying a single
 *     `POST` with `Connection: close`; no keep-alive, no pipelining.
 *   - cs_th_client, pooled: a few keep-alive connections, each pipelining several POSTs
 *     (RFC 9112 §9.3.2), for many queries to one TH.
 * Replies are read with the bounded cs_http_parser. Nothing is recorded (the control exchange
 * is not part of the measurement's trace). */
#ifndef CS_WC_CONTROL_H
#define CS_WC_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/http.h"
#include "engine/loop.h"
#include "engine/tls.h"
#include "util/buf.h"

#define CS_TH_TIMEOUT 30.0            /* seconds: whole query (connect..last body byte) */
#define CS_TH_MAX_RESPONSE (1u << 22) /* reply bodies above this fail (json_parse_error) */

/* failure: NULL on success (HTTP 200 with a JSON body), else an OONI-style failure string:
 *   "connection_refused", "generic_timeout_error", "eof_error", "connection_reset", ... (the
 *   connect / TLS / read failure as the engine reports it; "dns_..." when resolving the TH
 *   host failed), "http_request_failed" (a status other than 200), "json_parse_error" (the
 *   body is not one JSON value, or is over CS_TH_MAX_RESPONSE), or
 *   "unknown_failure: <detail>" (bad th_url, malformed HTTP reply, out of memory).
 * response_json/len: the reply body on success (NUL-terminated), NULL/0 on failure. Valid
 * only during the call. */
typedef void (*cs_th_cb)(void *arg, const char *failure, const char *response_json, size_t len);

typedef struct cs_th_req cs_th_req;

/* Starts one query. th_url: "http://HOST[:PORT][/PATH]" or "https://..." (HOST an IP literal
 * or a name resolved with the system resolver; PATH defaults to "/"). tls: trust store for
 * https (required then; may be NULL for http). request_json[0..len) is sent as the body
 * (copied: it need not outlive the call). timeout <= 0: CS_TH_TIMEOUT.
 * cb is called exactly once, from a later loop iteration (never from inside cs_th_query).
 * Returns NULL only when out of memory (cb never called). The request is freed right after
 * cb returns. */
cs_th_req *cs_th_query(cs_loop *l, cs_tls_ctx *tls, const char *th_url, const char *request_json,
                       size_t len, double timeout, cs_th_cb cb, void *arg);

/* Appends the control request JSON to out (thproto's cs_th_request_encode):
 *   {"http_request":url,"http_request_headers":{name:[values...]...},
 *    "tcp_connect":[endpoints...],"x_quic_enabled":quic}
 * Headers with the same name (case-insensitive) are grouped under the first spelling seen,
 * in order. endpoints are "ip:port" / "[v6]:port" strings (as probe-cli). Returns 0, or -1
 * when out is full (out->overflow) or an argument is NULL. */
int cs_th_request_build(cs_buf *out, const char *url, const cs_http_hdr *headers, size_t nheaders,
                        const char *const *endpoints, size_t nendpoints, bool quic);

/* The same with censorscope's request extensions (thproto.h; ignored by OONI's helper):
 * CS_TH_EXT_CHAIN asks for the TLS chains' digests, CS_TH_EXT_BODY_SHA256 for the final
 * body's SHA-256 (docs/forensics.md). */
enum { CS_TH_EXT_CHAIN = 1, CS_TH_EXT_BODY_SHA256 = 2 };
int cs_th_request_build_ext(cs_buf *out, const char *url, const cs_http_hdr *headers,
                            size_t nheaders, const char *const *endpoints, size_t nendpoints,
                            bool quic, unsigned ext);

/* ---- pooled client: keep-alive connections with pipelining ------------------------------
 * For many queries to one TH (national lists): up to max_conns persistent connections, each
 * carrying up to max_pipeline requests in flight (RFC 9112 §9.3.2: answers come back in
 * order). Queries wait in a FIFO when every connection is full. A request that was sent on a
 * connection which then broke (e.g. the server closed an idle keep-alive connection just as
 * we wrote) is retried once on another connection; a connect failure fails the queries that
 * were waiting for that connection. Same callback contract and failure strings as
 * cs_th_query (cb exactly once, never from inside cs_th_client_query, unless cancelled). */
typedef struct cs_th_client cs_th_client;
typedef struct cs_th_job cs_th_job;

typedef struct {
  size_t max_conns;    /* 0: 4 */
  size_t max_pipeline; /* requests in flight per connection; 0: 8 (our server allows 32) */
  double timeout;      /* per query, from cs_th_client_query to the last byte;
                          <= 0: CS_TH_TIMEOUT */
} cs_th_client_opts;

/* th_url and tls as for cs_th_query; tls must outlive the client. o may be NULL. Returns
 * NULL on a bad URL (message in err) or out of memory. */
cs_th_client *cs_th_client_new(cs_loop *l, cs_tls_ctx *tls, const char *th_url,
                               const cs_th_client_opts *o, char *err, size_t errlen);
/* Queues one query (request_json is copied). NULL only when out of memory. */
cs_th_job *cs_th_client_query(cs_th_client *c, const char *request_json, size_t len, cs_th_cb cb,
                              void *arg);
/* Cancels a query whose callback has not run yet (no callback). Not from inside its cb. */
void cs_th_job_cancel(cs_th_job *j);
/* Closes every connection and drops every pending query without calling callbacks. Allowed
 * from inside a query callback (then completed when that callback returns). */
void cs_th_client_free(cs_th_client *c);

#endif
