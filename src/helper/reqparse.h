/* reqparse.h - the control server's HTTP/1.1 *request* parser (RFC 9112): pure, bounded,
 * no I/O. It is handed the bytes buffered so far on a connection and says whether they start
 * with a complete request (head + Content-Length body), need more bytes, or are invalid (with
 * the status code to answer). Hostile input by default: fuzzed by fuzz/fuzz_th_request.c. */
#ifndef CS_HELPER_REQPARSE_H
#define CS_HELPER_REQPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_HELPER_MAX_HEAD 16384      /* request line + fields */
#define CS_HELPER_MAX_HEADERS 64      /* field lines */
#define CS_HELPER_MAX_BODY (1u << 20) /* request body (OONI allows 1<<24) */
#define CS_HELPER_MAX_METHOD 32

typedef struct {
  size_t max_head;    /* 0: CS_HELPER_MAX_HEAD */
  size_t max_headers; /* 0: CS_HELPER_MAX_HEADERS */
  size_t max_body;    /* 0: CS_HELPER_MAX_BODY */
} cs_helper_limits;

typedef enum {
  CS_HREQ_MORE = 0, /* incomplete: read more (head fields below are valid once head_len > 0) */
  CS_HREQ_OK,       /* a complete request of total_len bytes */
  CS_HREQ_ERROR,    /* invalid: answer error_status and close the connection */
} cs_helper_pstatus;

typedef struct {
  /* request line; pointers into the parsed bytes */
  const uint8_t *method, *target;
  size_t method_len, target_len;
  int minor; /* HTTP/1.<minor> */
  /* fields */
  bool keep_alive;           /* after this request (version default + Connection) */
  bool expect_continue;      /* Expect: 100-continue */
  const uint8_t *user_agent; /* first User-Agent value, NULL when absent */
  size_t user_agent_len;
  uint64_t content_length;
  bool has_content_length;    /* a Content-Length field was present */
  bool has_transfer_encoding; /* a Transfer-Encoding field was seen (then the 501/400) */
  /* framing */
  size_t head_len; /* bytes up to and including the empty line (0: head incomplete) */
  const uint8_t *body;
  size_t body_len;
  size_t total_len; /* bytes this request occupies (leading empty lines included) */
  /* CS_HREQ_ERROR */
  int error_status;  /* 400, 413, 431, 501 or 505 */
  const char *error; /* static description */
} cs_helper_req;

/* Parses the request at the start of p[0..n). Always fills r (zeroed first).
 * scan (may be NULL) makes re-parsing a growing buffer linear instead of quadratic (a client
 * sending its head one byte at a time): set it to 0 for a new request and pass it back
 * unchanged with the same, longer, buffer; it remembers how far the end of the head was
 * already searched for. */
cs_helper_pstatus cs_helper_req_parse(const uint8_t *p, size_t n, const cs_helper_limits *lim,
                                      cs_helper_req *r, size_t *scan);

/* True when the method is exactly m (methods are case-sensitive, RFC 9110 §9.1). */
bool cs_helper_req_method_is(const cs_helper_req *r, const char *m);

#endif
