/* wcobs.h - typed Web Connectivity observations read from a measurement (any web_connectivity
 * version 0.0.1 .. 0.5.x, ours or OONI's, or the OONI explorer API wrapper).
 *
 * The reader never fails on odd input: missing or mistyped fields become "unknown" (NULL
 * strings, -1 numbers, CS_WC_UNKNOWN), lists are capped (CS_WC_MAX_ITEMS, CS_WC_MAX_ANSWERS),
 * IP literals are rewritten in canonical form (so they compare with strcmp), and everything
 * lives in the caller's arena. Formats: docs/ooni-methodology.md section (d), spec df-001,
 * df-002, df-005, df-006; control: section (c). */
#ifndef CS_WCOBS_H
#define CS_WCOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "thproto/thproto.h"
#include "util/arena.h"
#include "util/json.h"

#define CS_WC_MAX_ITEMS 1024   /* per list (queries, answers, connects, requests, headers ...) */
#define CS_WC_MAX_ANSWERS 4096 /* DNS answers over all queries */

/* A JSON boolean that may be missing or null. */
typedef enum { CS_WC_UNKNOWN = -1, CS_WC_NO = 0, CS_WC_YES = 1 } cs_wc_tri;

typedef struct {
  const char *answer_type; /* "A", "AAAA", "CNAME", ... */
  const char *ip;          /* ipv4 or ipv6 (canonical form), NULL for other types */
  const char *hostname;    /* CNAME target */
  int64_t asn;             /* 0 when absent */
} cs_wc_answer;

/* Common per-event tags. */
typedef struct {
  int64_t txid;         /* 0 when absent */
  int depth;            /* from tag depth=N; -1 when absent */
  cs_wc_tri fetch_body; /* tag fetch_body=true|false */
  bool classic;         /* tag "classic" */
} cs_wc_tags;

typedef struct {
  cs_wc_tags tags;
  const char *engine;  /* NULL when absent (old probes: system resolver) */
  const char *failure; /* NULL on success */
  const char *hostname;
  const char *query_type;
  cs_wc_answer *answers;
  size_t nanswers;
} cs_wc_dns;

typedef struct {
  cs_wc_tags tags;
  const char *ip;
  int port;
  const char *failure; /* NULL on success */
  bool success;
} cs_wc_tcp;

typedef struct {
  cs_wc_tags tags;
  const char *address; /* "ip:port" as recorded */
  const char *ip;      /* canonical IP of address, NULL when unparsable */
  int port;
  const char *server_name;
  const char *failure;
} cs_wc_tls;

/* {name, value (decoded MaybeBinaryData, NUL-terminated), value_len}: the type of the control's
 * headers too, so probe and control headers compare with one function. */
typedef cs_th_header cs_wc_header;

typedef struct {
  cs_wc_tags tags;
  const char *url;
  const char *address; /* may be NULL (old formats) */
  const char *ip;      /* canonical IP of address, NULL when unknown */
  int port;
  const char *failure;
  int code; /* 0 when no response */
  cs_wc_header *headers;
  size_t nheaders;
  const uint8_t *body; /* decoded; NULL when absent */
  size_t body_len;
  bool body_is_truncated;
  const char *title; /* <title> of the body (util/title.h), "" when none */
} cs_wc_http;

/* The control (test_keys.control): the THResponse as thproto reads it (thproto/thproto.h). */
typedef cs_th_ep cs_wc_ctl_ep;
typedef cs_th_ipinfo cs_wc_ipinfo;
typedef cs_th_response cs_wc_control;

/* The verdict recorded in the measurement itself (for comparison). */
typedef struct {
  bool present;
  int blocking; /* cs_wc_blocking value (see wc_analysis.h) */
  cs_wc_tri accessible;
  const char *dns_consistency;
  const char *dns_experiment_failure; /* as recorded (old probes: sometimes no requests) */
  const char *http_experiment_failure;
} cs_wc_recorded;

typedef struct {
  const char *test_name;    /* "web_connectivity" */
  const char *test_version; /* "0.4.3" */
  int ver[3];               /* parsed test_version, -1 when unknown */
  const char *input;        /* the URL */
  const char *probe_cc;
  const char *probe_asn;
  const char *report_id;
  const char *control_failure;
  cs_wc_dns *dns;
  size_t ndns;
  cs_wc_tcp *tcp;
  size_t ntcp;
  cs_wc_tls *tls;
  size_t ntls;
  cs_wc_http *http; /* requests, newest first (requests[0] = last response) */
  size_t nhttp;
  cs_wc_control ctl;
  cs_wc_recorded recorded;
} cs_wc_obs;

/* If v is an explorer API wrapper ({"status","contentType","body"} with body a JSON string
 * whose raw_measurement is a JSON string, or an object), returns the decoded measurement;
 * otherwise returns v. Decoding happens in arena a; NULL when a layer does not parse. */
const cs_jval *cs_wc_unwrap(cs_arena *a, const cs_jval *v);

/* Reads a whole measurement (envelope + test_keys). Always fills *out (zeroed first); returns
 * 0, or -1 when m is not an object or has no test_keys object. */
int cs_wc_obs_read(cs_arena *a, const cs_jval *m, cs_wc_obs *out);
/* Reads test keys alone (the probe's own in-memory measurement); input/test_version may be
 * NULL. */
int cs_wc_obs_read_test_keys(cs_arena *a, const cs_jval *tk, const char *input,
                             const char *test_version, cs_wc_obs *out);

#endif
