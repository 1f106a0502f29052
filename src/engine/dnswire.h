/* dnswire.h - the DNS message codec: builds queries and parses replies, with no sockets, so
 * the same code serves DNS over UDP, over TCP (RFC 1035 4.2.2 length framing) and, later,
 * DNS over HTTPS (RFC 8484 carries the same message bytes).
 *
 * Protocol: RFC 1035 (messages, names, compression), RFC 3596 (AAAA), RFC 2181 (TTL and
 * label rules), RFC 6891 (EDNS0 OPT), RFC 4343 (case-insensitive name comparison).
 *
 * Every byte of untrusted input is read through cs_rbuf (util/buf.h). Any malformation is a
 * precise cs_dnswire_err, never a crash; parsing cost and memory are bounded by the limits
 * below whatever the peer sends. Names are kept in uncompressed wire form (length-prefixed
 * labels ending with the root label) and converted to text only when recorded. */
#ifndef CS_DNSWIRE_H
#define CS_DNSWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/ipnet.h"

#define CS_DNSWIRE_MAX_NAME 255   /* wire length of a name, root label included (RFC 1035 3.1) */
#define CS_DNSWIRE_MAX_LABEL 63   /* RFC 1035 2.3.4 */
#define CS_DNSWIRE_MAX_MSG 65535  /* the TCP length prefix is 16 bits (RFC 1035 4.2.2) */
#define CS_DNSWIRE_MAX_JUMPS 32   /* compression pointers followed per name */
#define CS_DNSWIRE_MAX_RRS 1024   /* ANCOUNT+NSCOUNT+ARCOUNT accepted per message */
#define CS_DNSWIRE_MAX_ANSWERS 64 /* A/AAAA/CNAME answers kept per reply (more: counted) */
#define CS_DNSWIRE_EDNS_UDP_SIZE 1232 /* advertised UDP payload size (DNS flag day 2020) */
#define CS_DNSWIRE_NAME_STRMAX 1024   /* text form: 255 wire bytes, "\DDD" escapes, NUL */

/* RR types and classes (RFC 1035 3.2.2, RFC 3596 2.1, RFC 6891 6.1.1). */
enum {
  CS_DNS_TYPE_A = 1,
  CS_DNS_TYPE_NS = 2,
  CS_DNS_TYPE_CNAME = 5,
  CS_DNS_TYPE_SOA = 6,
  CS_DNS_TYPE_PTR = 12,
  CS_DNS_TYPE_TXT = 16,
  CS_DNS_TYPE_AAAA = 28,
  CS_DNS_TYPE_OPT = 41,
  CS_DNS_TYPE_ANY = 255,
  CS_DNS_CLASS_IN = 1,
};

/* RCODEs (RFC 1035 4.1.1). */
enum {
  CS_DNS_RCODE_NOERROR = 0,
  CS_DNS_RCODE_FORMERR = 1,
  CS_DNS_RCODE_SERVFAIL = 2,
  CS_DNS_RCODE_NXDOMAIN = 3,
  CS_DNS_RCODE_NOTIMP = 4,
  CS_DNS_RCODE_REFUSED = 5,
};

/* Codec errors (X-macro: code, description). */
#define CS_DNSWIRE_ERR_MAP(X)                                                                      \
  X(OK, "ok")                                                                                      \
  X(SHORT, "message truncated: a field runs past the end")                                         \
  X(INCOMPLETE, "TCP stream: more bytes needed for a whole message")                               \
  X(NOT_RESPONSE, "QR bit is 0: the message is a query, not a response")                           \
  X(IS_RESPONSE, "QR bit is 1: the message is a response, not a query")                            \
  X(OPCODE, "opcode is not QUERY")                                                                 \
  X(QDCOUNT, "QDCOUNT is not 1")                                                                   \
  X(TOO_MANY_RRS, "too many resource records")                                                     \
  X(LABEL_TOO_LONG, "label longer than 63 bytes")                                                  \
  X(NAME_TOO_LONG, "name longer than 255 bytes")                                                   \
  X(BAD_LABEL_TYPE, "reserved label type (0x40/0x80)")                                             \
  X(BAD_POINTER, "compression pointer not pointing backwards")                                     \
  X(POINTER_LOOP, "too many compression pointers")                                                 \
  X(BAD_RDATA, "RDATA length does not fit the record type")                                        \
  X(ID_MISMATCH, "reply ID differs from the query ID")                                             \
  X(QUESTION_MISMATCH, "reply question differs from the query")                                    \
  X(BAD_NAME, "name not representable (empty label or too long)")                                  \
  X(BAD_ARG, "invalid argument")                                                                   \
  X(NOMEM, "output buffer full or out of memory")

typedef enum {
#define CS_DNSWIRE_ERR_ENUM(code, str) CS_DNSWIRE_##code,
  CS_DNSWIRE_ERR_MAP(CS_DNSWIRE_ERR_ENUM)
#undef CS_DNSWIRE_ERR_ENUM
      CS_DNSWIRE__ERR_COUNT
} cs_dnswire_err;

const char *cs_dnswire_strerror(cs_dnswire_err e);

/* A name in uncompressed wire form: labels ending with the zero-length root label. */
typedef struct {
  uint8_t b[CS_DNSWIRE_MAX_NAME];
  uint8_t len; /* 1..255 (1 = the root) */
} cs_dnswire_name;

/* Text -> wire: "example.com" or "example.com." (no escapes; every byte but '.' is label
 * data). Empty labels ("a..b", ".x") and over-long labels/names are CS_DNSWIRE_BAD_NAME. */
cs_dnswire_err cs_dnswire_name_from_str(const char *s, cs_dnswire_name *out);
/* Wire -> text, without the trailing dot ("." for the root). Bytes outside 0x21..0x7e, '.'
 * inside a label and '\\' are escaped RFC 1035 5.1 style ("\DDD", "\."). Returns out. */
char *cs_dnswire_name_to_str(const cs_dnswire_name *n, char *out, size_t cap);
/* ASCII case-insensitive comparison (RFC 4343). */
bool cs_dnswire_name_eq(const cs_dnswire_name *a, const cs_dnswire_name *b);

/* The question we asked; kept to validate replies (RFC 1035 7.3). */
typedef struct {
  uint16_t id, qtype, qclass;
  cs_dnswire_name qname;
} cs_dnswire_query;

/* A random 16-bit ID from getrandom() (falls back to a mixed clock if it fails). */
uint16_t cs_dnswire_random_id(void);
/* Fills q: name from text, qclass IN. id is used as given (see cs_dnswire_random_id()). */
cs_dnswire_err cs_dnswire_query_init(cs_dnswire_query *q, const char *name, uint16_t qtype,
                                     uint16_t id);
/* Appends the query message to out (RFC 1035 4.1): RD=1, one question, and when edns0 an
 * OPT RR in the additional section advertising CS_DNSWIRE_EDNS_UDP_SIZE (RFC 6891 6.1.2). */
cs_dnswire_err cs_dnswire_query_encode(const cs_dnswire_query *q, bool edns0, cs_buf *out);
/* Parses a query message (used by the mock server and the test helpers): QR must be 0,
 * QDCOUNT 1. Fills q with its ID and question. */
cs_dnswire_err cs_dnswire_query_parse(const uint8_t *p, size_t n, cs_dnswire_query *q);

/* One answer-section RR of type A, AAAA or CNAME, class IN (others are skipped). */
typedef struct {
  uint16_t type;
  uint32_t ttl; /* as sent; RFC 2181 8: values with the top bit set are to be read as 0 */
  cs_dnswire_name owner;
  cs_ip ip;               /* A / AAAA */
  cs_dnswire_name target; /* CNAME */
} cs_dnswire_rr;

/* A parsed reply (about 34 KiB: allocate it, don't put it on a small stack). */
typedef struct {
  uint16_t id, flags; /* flags: the raw second header word */
  int rcode;          /* 4-bit header RCODE, extended to 12 bits by an OPT RR (RFC 6891 6.1.3) */
  bool tc, aa, ra;
  uint16_t qdcount, ancount, nscount, arcount;
  uint16_t qtype, qclass; /* valid when qdcount == 1 */
  cs_dnswire_name qname;
  bool has_edns;
  uint16_t edns_udp_size;
  cs_dnswire_rr an[CS_DNSWIRE_MAX_ANSWERS];
  size_t nan;         /* kept in an[] (wire order) */
  size_t nan_dropped; /* A/AAAA/CNAME answers beyond CS_DNSWIRE_MAX_ANSWERS */
} cs_dnswire_reply;

/* Parses a whole response message (RFC 1035 4.1). Validates every section (names,
 * compression, RR framing), keeps the answer section's A/AAAA/CNAME records. QR must be 1,
 * opcode QUERY, QDCOUNT 0 or 1 (0 is allowed so that e.g. FORMERR replies parse; such a
 * reply never matches a query). Trailing bytes after the last RR are ignored. */
cs_dnswire_err cs_dnswire_parse(const uint8_t *p, size_t n, cs_dnswire_reply *r);
/* Is r a reply to q? ID (CS_DNSWIRE_ID_MISMATCH), then question: name (case-insensitive),
 * type and class (CS_DNSWIRE_QUESTION_MISMATCH). */
cs_dnswire_err cs_dnswire_match(const cs_dnswire_query *q, const cs_dnswire_reply *r);
/* Addresses of type qtype (A or AAAA) in r's answer section, in wire order, at most cap.
 * Like OONI (netxlite DecodeLookupHost) every A/AAAA of the asked type counts, whatever its
 * owner name; a CNAME-only answer yields 0. Returns the number written. */
size_t cs_dnswire_addrs(const cs_dnswire_reply *r, uint16_t qtype, cs_ip *out, size_t cap);

/* ---- DNS over TCP framing (RFC 1035 4.2.2, RFC 7766 8) -------------------------------- */

/* Appends the 2-byte big-endian length then the message (n <= CS_DNSWIRE_MAX_MSG). */
cs_dnswire_err cs_dnswire_tcp_frame(const uint8_t *msg, size_t n, cs_buf *out);
/* Looks for one whole framed message at the start of p[0..n): on CS_DNSWIRE_OK sets *msg,
 * *msglen and *consumed (2 + msglen); CS_DNSWIRE_INCOMPLETE when more bytes are needed;
 * CS_DNSWIRE_SHORT for a zero-length frame (no DNS message can be empty). */
cs_dnswire_err cs_dnswire_tcp_next(const uint8_t *p, size_t n, const uint8_t **msg, size_t *msglen,
                                   size_t *consumed);

/* ---- synthetic replies (tests, mock server, fuzz corpus) ------------------------------ */

typedef struct {
  uint16_t type; /* A, AAAA, CNAME, or any other type with raw rdata */
  uint32_t ttl;
  const char *owner; /* NULL: a compression pointer to the question name */
  const char *data;  /* A/AAAA: IP literal; CNAME: target name; other: raw bytes */
  size_t data_len;   /* other types only */
} cs_dnswire_synth_rr;

typedef struct {
  uint16_t id;
  int rcode; /* 0..15 */
  bool tc, aa;
  bool no_ra;        /* RA is set unless this is true */
  bool no_question;  /* QDCOUNT = 0 */
  const char *qname; /* text form */
  uint16_t qtype;    /* qclass is IN */
  const cs_dnswire_synth_rr *an;
  size_t nan;
} cs_dnswire_synth;

/* Appends a reply message built from s to out. */
cs_dnswire_err cs_dnswire_build_reply(const cs_dnswire_synth *s, cs_buf *out);

#endif
