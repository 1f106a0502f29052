/* server.h - the control server ("test helper"): a non-blocking HTTP/1.1 server (RFC 9112)
 * on one cs_loop that speaks OONI's test-helper protocol (pc:internal/oohelperd/handler.go):
 *   GET (any path)  -> 200 {"message":"Hello OONItarian!"}
 *   POST (any path) -> the control measurement (helper/measure.h) -> 200 + response JSON
 *   other methods   -> 400; invalid request -> 400/413/431/501/505 + {"error":...} and close;
 *   over max_inflight measurements -> 503.
 * Keep-alive and pipelining (answers in request order), optional TLS, bounded buffers, and
 * deadlines so that idle or slow clients (slowloris) cannot hold a connection forever. */
#ifndef CS_HELPER_SERVER_H
#define CS_HELPER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/loop.h"
#include "helper/measure.h"
#include "helper/reqparse.h"

#define CS_HELPER_MAX_INFLIGHT 512     /* measurements running at once; more -> 503 */
#define CS_HELPER_MAX_CONNS 4096       /* open client connections; more are closed at accept */
#define CS_HELPER_MAX_PIPELINE 32      /* queued requests per connection (then reading pauses) */
#define CS_HELPER_IDLE_TIMEOUT 60.0    /* s: keep-alive connection with nothing to do */
#define CS_HELPER_REQUEST_TIMEOUT 20.0 /* s: from a request's first byte to its last */
#define CS_HELPER_WRITE_TIMEOUT 30.0   /* s: a response write making no progress */
#define CS_HELPER_MAX_LISTEN 16

typedef struct {
  cs_helper_mopts measure; /* measurement options (measure.tls is required) */
  cs_helper_limits limits; /* request head/fields/body limits (zeroes: defaults) */
  size_t max_inflight;     /* 0: CS_HELPER_MAX_INFLIGHT */
  size_t max_conns;        /* 0: CS_HELPER_MAX_CONNS */
  size_t max_pipeline;     /* 0: CS_HELPER_MAX_PIPELINE */
  double idle_timeout, request_timeout, write_timeout; /* <= 0: defaults above */
  void *server_ssl_ctx;      /* an SSL_CTX * with certificate and key: serve HTTPS (not owned) */
  const char *server_header; /* "Server:" value; NULL: "censorscope-helper" */
} cs_helper_opts;

typedef struct {
  uint64_t connections, requests, measurements, rejected_busy, bad_requests, timeouts;
  size_t open_conns, inflight;
} cs_helper_stats;

typedef struct cs_helper cs_helper;

/* opts (and what it points to) must outlive the server. */
cs_helper *cs_helper_new(cs_loop *l, const cs_helper_opts *opts);
/* Listens on "IPv4:PORT" or "[IPv6]:PORT" (PORT 0: ephemeral). Returns the bound port, or
 * -1 with a message in err. */
int cs_helper_listen(cs_helper *h, const char *addr, char *err, size_t errlen);
/* Closes every listener and connection and cancels running measurements. */
void cs_helper_free(cs_helper *h);
cs_helper_stats cs_helper_get_stats(const cs_helper *h);

#endif
