/* record.h - the OONI data formats, as C structs filled by the engine's steps and written out
 * by record.c (and, later, read back from stored measurements for re-analysis).
 *
 * Formats: ooni/spec data-formats df-001-httpt (requests), df-002-dnst (queries), df-005
 * tcpconnect, df-006 tlshandshake, df-008 netevents, df-000 base (envelope).
 * All strings and arrays live in the trace's arena; a NULL string is written as JSON null.
 * Times (t0, t) are seconds relative to the measurement start, from a monotonic clock. */
#ifndef CS_RECORD_H
#define CS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/arena.h"
#include "util/json.h"

/* Fields every event carries. */
typedef struct {
  double t0, t;
  int64_t transaction_id; /* omitted when 0 */
  const char **tags;
  size_t ntags;
} cs_rec_common;

typedef struct {
  const char *answer_type; /* "A", "AAAA", "CNAME" */
  const char *ipv4, *ipv6, *hostname;
  int64_t ttl;
  bool has_ttl; /* false: "ttl": null */
} cs_dns_answer;

typedef struct cs_query_rec {
  struct cs_query_rec *next;
  cs_rec_common c;
  const char *engine;  /* "getaddrinfo", "udp", "tcp", "doh" */
  const char *failure; /* OONI failure string or NULL */
  const char *hostname;
  const char *query_type;       /* "A", "AAAA", "ANY" (getaddrinfo) */
  const char *resolver_address; /* "" for getaddrinfo, "ip:port" or the DoH URL */
  cs_dns_answer *answers;       /* NULL + 0 when none: "answers": null */
  size_t nanswers;
  const uint8_t *raw_response; /* raw DNS reply (omitted when NULL) */
  size_t raw_response_len;
  int rcode; /* written when has_rcode */
  bool has_rcode;
  int64_t getaddrinfo_error; /* written when non-zero */
} cs_query_rec;

typedef struct cs_tcp_rec {
  struct cs_tcp_rec *next;
  cs_rec_common c;
  const char *ip;
  uint16_t port;
  const char *failure;
  bool success;
} cs_tcp_rec;

typedef struct {
  const uint8_t *der;
  size_t len;
} cs_cert_der;

typedef struct cs_tls_rec {
  struct cs_tls_rec *next;
  cs_rec_common c;
  const char *network; /* "tcp" */
  const char *address; /* "ip:port" */
  const char *cipher_suite, *failure, *negotiated_protocol, *server_name, *tls_version;
  bool no_tls_verify;
  cs_cert_der *peer_certificates; /* leaf first */
  size_t npeer_certificates;
} cs_tls_rec;

typedef struct {
  const char *name;
  const uint8_t *value;
  size_t value_len;
} cs_header;

typedef struct {
  cs_header *headers; /* in wire order; "headers" keeps the first value per key */
  size_t nheaders;
  const uint8_t *body;
  size_t body_len;
  bool body_is_truncated;
} cs_http_msg;

typedef struct cs_http_rec {
  struct cs_http_rec *next;
  cs_rec_common c;
  const char *network; /* "tcp" */
  const char *address; /* "ip:port" */
  const char *alpn;    /* "http/1.1" or "" */
  const char *failure;
  /* request */
  const char *url, *method;
  cs_http_msg req;
  /* response */
  int code; /* 0 when there is no response */
  cs_http_msg resp;
} cs_http_rec;

typedef struct cs_netevent_rec {
  struct cs_netevent_rec *next;
  cs_rec_common c;
  const char *address; /* "ip:port" or NULL */
  const char *failure;
  int64_t num_bytes; /* written when operation is read/write */
  const char *operation;
  const char *proto; /* "tcp" / "udp" */
} cs_netevent_rec;

#define CS_TRACE_LIST(T)                                                                           \
  struct {                                                                                         \
    T *head, *tail;                                                                                \
    size_t n;                                                                                      \
  }

/* The records of one measurement. */
typedef struct cs_trace {
  cs_arena *a;
  double zero; /* monotonic time of the measurement start */
  CS_TRACE_LIST(cs_query_rec) queries;
  CS_TRACE_LIST(cs_query_rec)
  dns_duplicates; /* late/extra DNS replies (x_dns_duplicate_responses) */
  CS_TRACE_LIST(cs_tcp_rec) tcp;
  CS_TRACE_LIST(cs_tls_rec) tls;
  CS_TRACE_LIST(cs_http_rec) requests; /* appended oldest-first; written newest-first (OONI) */
  CS_TRACE_LIST(cs_netevent_rec) events;
  int64_t next_txid;
  struct cs_capture_sess *capture; /* engine/capture.h: this measurement's packet capture
                                     session, which the engine tells of each socket (NULL:
                                     none) */
} cs_trace;

/* arena_limit bounds the memory of this measurement (0 = unlimited). */
cs_trace *cs_trace_new(double zero, size_t arena_limit);
void cs_trace_free(cs_trace *t);
/* Seconds since the measurement start for monotonic time `now`. */
double cs_trace_rel(const cs_trace *t, double now);
int64_t cs_trace_txid(cs_trace *t); /* 1, 2, 3 ... */
/* Copies tags into the arena: cs_trace_tags(t, &c, "depth=0", NULL). */
void cs_trace_tags(cs_trace *t, cs_rec_common *c, const char *const *tags, size_t n);

/* Allocate a zeroed record in the arena and append it (NULL when out of memory). */
cs_query_rec *cs_trace_add_query(cs_trace *t);
cs_query_rec *cs_trace_add_dns_duplicate(cs_trace *t);
cs_tcp_rec *cs_trace_add_tcp(cs_trace *t);
cs_tls_rec *cs_trace_add_tls(cs_trace *t);
cs_http_rec *cs_trace_add_http(cs_trace *t);
cs_netevent_rec *cs_trace_add_event(cs_trace *t);

/* Writers: each writes one JSON value (an object). */
void cs_write_query(cs_jw *w, const cs_query_rec *q);
void cs_write_tcp(cs_jw *w, const cs_tcp_rec *r);
void cs_write_tls(cs_jw *w, const cs_tls_rec *r);
void cs_write_http(cs_jw *w, const cs_http_rec *r);
void cs_write_event(cs_jw *w, const cs_netevent_rec *e);
/* Writes the standard test keys as members of the currently open object:
 * queries, tcp_connect, tls_handshakes, requests, network_events, x_dns_duplicate_responses. */
void cs_write_trace_keys(cs_jw *w, const cs_trace *t);

/* ---- envelope (df-000-base) ------------------------------------------------------------ */
typedef struct {
  const char *test_name, *test_version;
  const char *input;        /* NULL: "input": null */
  time_t measurement_start; /* wall clock, UTC */
  time_t test_start;        /* start of the batch */
  double test_runtime;      /* seconds */
  const char *probe_asn, *probe_cc, *probe_network_name;
  const char *resolver_asn, *resolver_ip, *resolver_network_name;
  const char *report_id;
  const char *software_name, *software_version;
  const char *annotations_json;  /* an already-serialised object, or NULL for {} */
  const char *options_json;      /* an already-serialised array, or NULL to omit */
  const char *test_helpers_json; /* an already-serialised object, or NULL for {} */
} cs_envelope;

/* Writes `{` + every envelope key + `"test_keys":{`; the caller writes the test keys, then
 * calls cs_envelope_end() which closes both objects. */
void cs_envelope_begin(cs_jw *w, const cs_envelope *e);
void cs_envelope_end(cs_jw *w);

/* Whether a serialised measurement may carry middlebox-forensics evidence (x_middlebox,
 * x_locate, x_resolver_identity, x_tls_interception, x_http_tampering, as our writer spells
 * them): a cheap substring test, before anything is parsed. The report's "Who and where"
 * section reads those that pass; a scratch store keeps their JSON for it. */
bool cs_record_has_forensics(const char *json, size_t len);

#endif
