/* http.h - the HTTP/1.1 request step (RFC 9110/9112) over a cs_conn (cleartext or TLS):
 * GET, HEAD, and POST (or any method) with a request body given as a buffer or streamed.
 *
 * One request per connection; records one `requests` entry (df-001) with the request
 * headers in wire order, the request body (up to a cap, body_is_truncated beyond) and the
 * response (code, headers_list in wire order, decoded body up
 * to 1<<19 bytes with body_is_truncated). The deadline (default 10 s, OONI) covers the whole
 * round trip plus body. Redirects are not followed here: cs_http_location() tells the caller
 * (the URL getter) where to go next. */
#ifndef CS_HTTP_H
#define CS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/conn.h"
#include "engine/httpparse.h"
#include "record/record.h"

#define CS_HTTP_TIMEOUT 10.0 /* seconds, round trip + body (OONI) */
#define CS_HTTP_ACCEPT "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
#define CS_HTTP_ACCEPT_LANGUAGE "en-US,en;q=0.9"
#define CS_HTTP_USER_AGENT                                                                         \
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "             \
  "Gecko) Version/17.4 Safari/605.1.15"

typedef struct {
  const char *name, *value;
} cs_http_hdr;

/* A streamed request body: sets *p to the next chunk and returns its length; 0 at the end;
 * < 0 on an error (the transaction fails with "unknown_failure: request body error"). The
 * chunk must stay valid until the next call or the end of the transaction. */
typedef ssize_t (*cs_http_body_fn)(void *arg, const uint8_t **p);

#define CS_HTTP_REQ_BODY_CAP (1u << 19) /* request body bytes recorded (as the response's) */

typedef struct {
  const char *url;    /* recorded as request.url (required) */
  const char *method; /* NULL: "GET"; "HEAD" never waits for a response body */
  const char *host;   /* Host header value (required), e.g. "example.com" or "example.com:8080" */
  const char *target; /* request-target, e.g. "/path?q" (NULL: "/") */
  const char *user_agent;   /* NULL: CS_HTTP_USER_AGENT; "" omits the header */
  const char *referer;      /* NULL: no Referer header; "" sends an empty one (OONI depth 0) */
  const cs_http_hdr *extra; /* more headers (e.g. Cookie), sent after the standard ones */
  size_t nextra;
  bool no_gzip;          /* do not send "Accept-Encoding: gzip" (then nothing is decoded) */
  bool connection_close; /* send "Connection: close" (default: no Connection header, like Go) */
  double timeout;        /* seconds; <= 0: CS_HTTP_TIMEOUT */
  cs_http_limits limits; /* zeroes: the defaults (body cap 1<<19) */
  const char *alpn;      /* recorded as alpn; NULL: cs_tls_alpn(conn) ("" for cleartext) */
  /* request body (at most one of body / body_fn). With either, or with method POST, PUT or
   * PATCH, the head carries its framing (RFC 9112 §6.2, §6.1): Content-Length, or
   * Transfer-Encoding: chunked for a streamed body of unknown length; the response is read
   * while the body is being written (a server may answer early). */
  const uint8_t *body; /* in one buffer (body_len bytes; may be empty), valid until cb */
  size_t body_len;
  cs_http_body_fn body_fn; /* streamed, chunk by chunk */
  void *body_arg;
  bool chunked;            /* body_fn: send chunked; else content_length bytes are promised */
  uint64_t content_length; /* body_fn without chunked: the exact total the callback supplies */
  size_t body_record_cap;  /* request body bytes recorded; 0: CS_HTTP_REQ_BODY_CAP */
} cs_http_req;

/* rec: the recorded `requests` entry (NULL only if the trace arena is exhausted). failure:
 * NULL on success (a complete response, possibly with a truncated body), else the OONI
 * failure string (== rec->failure); rec->code is the status if a head was received. */
typedef void (*cs_http_cb)(cs_conn *c, const cs_http_rec *rec, const char *failure, void *data);

/* Sends the request (head, then body) and reads the response. Returns -1 on misuse/out of
 * memory (nothing recorded, cb not called). The conn is consumed by this request (no
 * keep-alive): after cb the caller frees it. req is copied; what it points to (body,
 * body_arg) must stay valid until cb. */
int cs_http_request(cs_conn *c, const cs_http_req *req, cs_http_cb cb, void *data);
/* The same (kept for its callers: a request without a body is a GET by default). */
int cs_http_get(cs_conn *c, const cs_http_req *req, cs_http_cb cb, void *data);

/* When rec's status is a redirect (301/302/303/307/308), returns its first Location header
 * value as a NUL-terminated string in the trace arena (NULL when absent) and sets
 * *is_redirect (may be NULL). Returns NULL and *is_redirect=false otherwise. */
const char *cs_http_location(cs_trace *t, const cs_http_rec *rec, bool *is_redirect);

/* The OONI title of a recorded response body ("" when none), NUL-terminated in the arena. */
const char *cs_http_rec_title(cs_trace *t, const cs_http_rec *rec);

#endif
