/* throughput.h - the helper's throughput server (issue 11, contract-11 part A): the far end
 * of the throttling nettest. One port serves TLS (any SNI or none, the helper's certificate)
 * and plain HTTP/1.1, told apart by the first byte (0x16: a TLS handshake record, RFC 8446
 * §5.1). One request per connection, always answered with "Connection: close":
 *   GET  /throughput?bytes=N -> 200, N incompressible bytes (AES-128-CTR keystream)
 *   POST /throughput (Content-Length: N) -> the N body bytes are read and discarded, then
 *        200 {"received":N,"elapsed_ms":T} (T: first body byte to last, server side)
 *   GET  /throughput/info    -> 200 {"version":1,"max_bytes":N,"addresses":[...], ...}
 * It is a public server: every request and connection is capped (bytes per request, bytes
 * and requests per client address per minute, connections per client address and in total,
 * request-head size, timeouts for the head, for a stalled body and for the whole
 * connection). A refusal is answered 429/413/411/400/408 with the header
 * "X-Censorscope-Refused: REASON" and a one-line text body, counted by reason, and logged
 * with the client's /24 (IPv4) or /48 (IPv6) prefix only, never the whole address.
 * Runs on one cs_loop (engine/loop.h), no threads; memory per connection is bounded (a
 * request-head buffer and one 16 KiB I/O buffer). See docs/helper.md "Throughput server". */
#ifndef CS_HELPER_THROUGHPUT_H
#define CS_HELPER_THROUGHPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/loop.h"

#define CS_TPUT_MAX_BYTES (8ull << 20)     /* per request (GET size, POST body) */
#define CS_TPUT_BYTES_PER_MIN (1ull << 30) /* per client address (IPv4 /32, IPv6 /64) */
#define CS_TPUT_REQUESTS_PER_MIN 600       /* per client address */
#define CS_TPUT_MAX_CONNS 512              /* open connections, all clients */
#define CS_TPUT_CONNS_PER_ADDR 16          /* open connections per client address */
#define CS_TPUT_MAX_HEAD 4096              /* request line + header fields */
#define CS_TPUT_HEAD_TIMEOUT 10.0          /* s: accept -> complete request head (slowloris) */
#define CS_TPUT_IO_TIMEOUT 15.0            /* s: body upload or download making no progress */
#define CS_TPUT_MAX_LIFETIME 600.0         /* s: whole connection */
#define CS_TPUT_MAX_LISTEN 16

/* Refusal reasons, as sent in X-Censorscope-Refused (contract-11 A). */
typedef enum {
  CS_TPUT_R_RATE_LIMIT = 0,  /* 429: bytes or requests per address per minute */
  CS_TPUT_R_TOO_MANY_CONNS,  /* 429: connections per address or in total */
  CS_TPUT_R_TOO_LARGE,       /* 413: N > max_bytes; 431 -> 413 for a head over max_head */
  CS_TPUT_R_BAD_REQUEST,     /* 400: unparsable request, missing/invalid bytes=N */
  CS_TPUT_R_LENGTH_REQUIRED, /* 411: POST without Content-Length, or chunked */
  CS_TPUT_R_TIMEOUT,         /* 408 (when an answer is still possible): head or body too slow */
  CS_TPUT_NREASONS
} cs_tput_reason;

/* "rate-limit", "too-many-connections", "too-large", "bad-request", "length-required",
 * "timeout". */
const char *cs_tput_reason_name(cs_tput_reason r);

/* One log line (no trailing newline). */
typedef void (*cs_tput_log_fn)(void *arg, const char *line);

typedef struct {
  uint64_t max_bytes;                            /* 0: CS_TPUT_MAX_BYTES */
  uint64_t bytes_per_min;                        /* 0: CS_TPUT_BYTES_PER_MIN */
  unsigned requests_per_min;                     /* 0: CS_TPUT_REQUESTS_PER_MIN */
  size_t max_conns;                              /* 0: CS_TPUT_MAX_CONNS */
  size_t conns_per_addr;                         /* 0: CS_TPUT_CONNS_PER_ADDR */
  size_t max_head;                               /* 0: CS_TPUT_MAX_HEAD (at least 256 is used) */
  double head_timeout, io_timeout, max_lifetime; /* <= 0: defaults above */
  void *ssl_ctx;             /* SSL_CTX * with certificate and key (not owned); NULL: the server
                                makes its own self-signed one (cs_tput_selfsigned_ctx) */
  const char *server_header; /* "Server:" value; NULL: "censorscope-helper" */
  cs_tput_log_fn log;        /* refusals and timeouts (rate-limited); NULL: silent */
  void *log_arg;
} cs_tput_opts;

typedef struct {
  uint64_t connections, requests, downloads, uploads, infos, not_found, aborted;
  uint64_t bytes_sent, bytes_received; /* body bytes of GET / POST */
  uint64_t refused[CS_TPUT_NREASONS];  /* by reason (timeouts included, answered or not) */
  uint64_t log_suppressed;             /* refusal log lines dropped by the log rate limit */
  size_t open_conns;
} cs_tput_stats;

typedef struct cs_tput cs_tput;

/* opts (and what it points to) must outlive the server. NULL with a message in err. */
cs_tput *cs_tput_new(cs_loop *l, const cs_tput_opts *opts, char *err, size_t errlen);
/* Listens on "IPv4:PORT" or "[IPv6]:PORT" (PORT 0: ephemeral). The bound address:port is
 * advertised in /throughput/info (listen on concrete addresses, not 0.0.0.0, for a useful
 * list). Returns the bound port, or -1 with a message in err. */
int cs_tput_listen(cs_tput *t, const char *addr, char *err, size_t errlen);
/* Closes every listener and connection. */
void cs_tput_free(cs_tput *t);
cs_tput_stats cs_tput_get_stats(const cs_tput *t);

/* The request target's query: bytes=N (other parameters, e.g. a cache-busting nonce, are
 * ignored; a repeated bytes= is malformed). Returns 1 with *n, 0 when absent, -1 when
 * malformed (not decimal, empty, or more than 16 digits). Fuzzed by fuzz/fuzz_tput_request.c. */
int cs_tput_query_bytes(const uint8_t *q, size_t ql, uint64_t *n);

/* A TLS server context (TLS 1.2+, ALPN http/1.1) with a fresh self-signed P-256 certificate
 * (CN "censorscope-helper", valid from an hour ago for 30 days). Returns an SSL_CTX * that
 * the caller frees with SSL_CTX_free, or NULL with a message in err. */
void *cs_tput_selfsigned_ctx(char *err, size_t errlen);

#endif
