/* httpparse.h - a pure, incremental, bounded HTTP/1.1 response parser (RFC 9112) with
 * Content-Encoding decoding (gzip/deflate via zlib). (The OONI <title> rule: util/title.h.)
 *
 * No I/O, no loop: bytes go in (any slicing), a status comes out. All memory is bounded by
 * cs_http_limits: the head (status line + fields) by max_head, the number of fields by
 * max_headers, the captured (decoded) body by body_cap; decompression works in fixed-size
 * chunks and stops as soon as body_cap is exceeded, so a gzip bomb costs at most body_cap
 * plus zlib's window. */
#ifndef CS_HTTPPARSE_H
#define CS_HTTPPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define CS_HTTP_BODY_CAP (1u << 19) /* OONI's body snapshot size */
#define CS_HTTP_MAX_LINE 8192       /* one status or field line */
#define CS_HTTP_MAX_HEAD 65536      /* status line + all fields (+ trailers) */
#define CS_HTTP_MAX_HEADERS 128     /* fields in the head */

typedef struct {
  size_t max_line, max_head, max_headers; /* 0: the defaults above */
  size_t body_cap;                        /* 0: CS_HTTP_BODY_CAP */
  bool no_decode;                         /* keep the body as sent (no Content-Encoding decoding) */
  bool head_request; /* response to HEAD: never a body (RFC 9112 §6.3 rule 1) */
} cs_http_limits;

typedef enum {
  CS_HTTP_P_MORE = 0, /* need more bytes (or cs_http_parser_eof) */
  CS_HTTP_P_DONE,     /* message complete (body fully read or capped, see truncated) */
  CS_HTTP_P_ERROR,    /* malformed input; see error */
} cs_http_pstatus;

typedef struct {
  size_t name_off, name_len, value_off, value_len; /* into head */
} cs_http_field;

typedef struct cs_http_parser {
  cs_http_limits lim;
  int state; /* internal */
  /* head: the raw bytes of status line + fields, kept for the offsets below */
  cs_buf head;
  size_t line_start;
  cs_http_field *fields;
  size_t nfields;
  int code; /* status code (100..999 parsed; 1xx interim responses are skipped) */
  int minor_version;
  int ninterim; /* 1xx responses skipped so far (at most 5, like Go) */
  size_t reason_off, reason_len;
  bool head_done;
  /* framing (RFC 9112 §6.3) */
  bool chunked, until_close;
  uint64_t remaining; /* Content-Length left, or bytes left in the current chunk */
  size_t chunk_line_len;
  size_t trailer_bytes;
  /* content coding */
  int coding; /* 0 identity, 1 gzip, 2 deflate */
  void *zs;   /* z_stream * */
  bool z_done;
  /* body */
  cs_buf body;              /* decoded body, at most body_cap bytes */
  bool truncated;           /* the (decoded) body had more than body_cap bytes */
  uint64_t wire_body_bytes; /* message-body bytes seen on the wire (after de-chunking) */
  char error[160];          /* when CS_HTTP_P_ERROR: "malformed HTTP response ...", ... */
  bool unexpected_eof;      /* ERROR was caused by EOF inside the message */
} cs_http_parser;

void cs_http_parser_init(cs_http_parser *p, const cs_http_limits *lim);
void cs_http_parser_free(cs_http_parser *p);

/* Consumes bytes. Returns MORE, DONE or ERROR; *used (may be NULL) gets how many bytes
 * were consumed (bytes after the end of the message are left unconsumed). Once DONE or
 * ERROR, further calls return the same status and consume nothing. */
cs_http_pstatus cs_http_parser_feed(cs_http_parser *p, const void *data, size_t n, size_t *used);
/* The peer closed the stream. Completes a read-until-close body (DONE); otherwise ERROR
 * with unexpected_eof set (error: "EOF" before any byte, "unexpected EOF" afterwards). */
cs_http_pstatus cs_http_parser_eof(cs_http_parser *p);

/* Head accessors (valid after the head is complete). */
bool cs_http_parser_head_done(const cs_http_parser *p);
size_t cs_http_parser_nfields(const cs_http_parser *p);
/* i-th field in wire order: name and value pointers into the parser (not NUL-terminated). */
void cs_http_parser_field(const cs_http_parser *p, size_t i, const uint8_t **name, size_t *nlen,
                          const uint8_t **value, size_t *vlen);
/* First field named `name` (case-insensitive), or NULL. */
const uint8_t *cs_http_parser_get(const cs_http_parser *p, const char *name, size_t *vlen);

/* True for 301, 302, 303, 307, 308 (RFC 9110 §15.4). */
bool cs_http_is_redirect(int code);

#endif
