/* thproto.h - OONI's test-helper (TH) wire protocol in one place: the control request
 * (pc:internal/model/th.go THRequest) and response (THResponse), their encoders and decoders,
 * and the TH's own failure vocabulary (pc:internal/oohelperd dns.go, tcptls.go, http.go).
 *
 * Pure: no I/O, no loop, only util/. The control server (src/helper/) decodes requests and
 * writes responses; the probe (src/nettests/wc_control.c) encodes requests; the analysis
 * (src/analysis/wcobs.c) reads responses. Round trip: encode -> decode -> write -> read,
 * tested in tests/unit/test_helper.c, fuzzed by fuzz/fuzz_th_request.c and
 * fuzz/fuzz_th_response.c. Wire format: docs/helper.md, docs/ooni-methodology.md (c). */
#ifndef CS_THPROTO_H
#define CS_THPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"

#define CS_TH_MAX_REQ_ENDPOINTS 1024 /* tcp_connect entries accepted in a request */
#define CS_TH_MAX_ITEMS 1024 /* entries read per list or map of a response (more are ignored) */

/* ---- failure vocabulary -----------------------------------------------------------------
 * What a TH archives in a response, beside util/failure.h's CS_FAILURE_MAP (the probe's
 * vocabulary; the TH passes TLS failures through in that one). Code, archived string. */
#define CS_TH_FAILURE_MAP(X)                                                                       \
  X(NONE, NULL)                                                                                    \
  /* dns.failure (dns.go) */                                                                       \
  X(DNS_NAME_ERROR, "dns_name_error")                                                              \
  X(DNS_SERVER_FAILURE, "dns_server_failure")                                                      \
  /* http_request.failure: resolving failed (http.go) */                                           \
  X(DNS_LOOKUP_ERROR, "dns_lookup_error")                                                          \
  /* tcp_connect[].failure and http_request.failure (tcptls.go, http.go) */                        \
  X(CONNECTION_REFUSED_ERROR, "connection_refused_error")                                          \
  X(CONNECT_ERROR, "connect_error")                                                                \
  X(GENERIC_TIMEOUT_ERROR, "generic_timeout_error")                                                \
  /* anything else (dns.failure, http_request.failure) */                                          \
  X(UNKNOWN_ERROR, "unknown_error")

typedef enum {
#define CS_TH_FAILURE_ENUM(code, str) CS_THF_##code,
  CS_TH_FAILURE_MAP(CS_TH_FAILURE_ENUM)
#undef CS_TH_FAILURE_ENUM
      CS_THF__COUNT
} cs_th_failure;

/* The archived string; NULL for CS_THF_NONE (and out-of-range codes). */
const char *cs_th_failure_str(cs_th_failure f);
/* True when s is the archived string of f (NULL s is CS_THF_NONE). */
bool cs_th_failure_is(const char *s, cs_th_failure f);

/* oohelperd's mappings from a probe-vocabulary failure (util/failure.h) to the TH's.
 * NULL in -> NULL out; the results are static strings of the list above, or NULL. */
const char *cs_th_map_dns_failure(const char *f); /* dns.failure ("dns_no_answer": NULL) */
const char *cs_th_map_tcp_failure(const char *f); /* tcp_connect[].failure */
const char *cs_th_map_http_failure(const char *f, const char *failed_op); /* http_request */

/* ---- request (THRequest) ---------------------------------------------------------------- */

typedef struct {
  const char *name, *value;
} cs_th_hdr;

typedef struct {
  const char *url;          /* http_request */
  const cs_th_hdr *headers; /* http_request_headers, one (name, value) per value, in order */
  size_t nheaders;
  const char *const *endpoints; /* tcp_connect: "ip:port" / "[v6]:port" (as probe-cli) */
  size_t nendpoints;
  bool quic; /* x_quic_enabled */
  /* censorscope extensions (OONI's oohelperd ignores unknown request fields; our helper
   * answers them only when asked, so OONI clients see OONI's response): */
  bool want_chain;       /* x_tls_chain: tls_handshake entries carry the chain's digests */
  bool want_body_sha256; /* x_body_sha256: http_request carries the final body's SHA-256 */
} cs_th_request;

/* Appends the request JSON to out:
 *   {"http_request":url,"http_request_headers":{name:[values...]...},
 *    "tcp_connect":[endpoints...],"x_quic_enabled":quic}
 * plus "x_tls_chain":true / "x_body_sha256":true when asked (omitted when false).
 * Headers with the same name (case-insensitive) are grouped under the first spelling seen,
 * in order. Returns 0, or -1 when out is full (out->overflow), r->url or a header is NULL. */
int cs_th_request_encode(cs_buf *out, const cs_th_request *r);

/* Decodes and validates a request body; strings in arena a. Returns 0, or -1 with a message in
 * err (not JSON, not an object, a field of the wrong type, http_request missing or not an
 * http(s) URL, more than CS_TH_MAX_REQ_ENDPOINTS tcp_connect entries, out of memory). null
 * fields are absent ones; unknown keys are ignored. */
int cs_th_request_decode(cs_arena *a, const char *json, size_t n, cs_th_request *out, char *err,
                         size_t errlen);

/* The first value of header `name` (case-insensitive), NULL when absent. */
const char *cs_th_request_header(const cs_th_request *r, const char *name);

/* ---- response (THResponse) -------------------------------------------------------------- */

typedef struct {
  const char *name;
  const char *value; /* NUL-terminated */
  size_t value_len;
} cs_th_header;

typedef struct {
  const char *endpoint; /* "ip:port" as archived (the map key) */
  const char *ip;       /* read: canonical IP of endpoint, NULL when unparsable */
  int port;             /* read */
  bool status;
  const char *failure;
  const char *server_name; /* tls_handshake only */
  /* extension (tls_handshake, when the request had x_tls_chain): the peer chain's SHA-256
   * (DER, leaf first, lowercase hex), the leaf's issuer (RFC 2253) and the signing key's
   * identity (engine/certinfo.h: "spki:HEX" / "aki:HEX" / ""). nchain 0 and issuer NULL:
   * not written / not read. Read: hex strings of 64 digits only, at most CS_TH_MAX_CHAIN. */
  const char **chain_sha256;
  size_t nchain;
  const char *issuer, *issuer_key;
} cs_th_ep;

#define CS_TH_MAX_CHAIN 16

typedef struct {
  const char *ip; /* the map key (read: canonical form) */
  int64_t asn;
  int64_t flags; /* 1 probe, 2 TH, 4 bogon, 8 valid for domain (TLS OK): ipinfo.go */
} cs_th_ipinfo;

enum { CS_TH_IP_PROBE = 1, CS_TH_IP_TH = 2, CS_TH_IP_BOGON = 4, CS_TH_IP_VALID = 8 };

typedef struct {
  bool present; /* read: a non-empty control object */
  bool dns_present;
  const char *dns_failure;
  const char **dns_addrs; /* read: IPs in canonical form; may include names (old helpers) */
  size_t ndns_addrs;
  cs_th_ep *tcp;
  size_t ntcp;
  cs_th_ep *tls;
  size_t ntls;
  bool http_present;
  const char *http_failure;
  int64_t http_body_length; /* -1 unknown */
  int http_status;          /* -1 unknown */
  const char *http_title;
  const char *http_discovered_h3; /* discovered_h3_endpoint ("" none; NULL: not read) */
  /* extension (request x_body_sha256): "x_body_sha256" (64 lowercase hex digits of the final
   * body as received, NULL: not written / absent or malformed) and "x_body_truncated" (the
   * body hit the helper's cap; -1 unknown (written null), 0, 1) */
  const char *http_body_sha256;
  int http_body_truncated;
  cs_th_header *http_headers;
  size_t nhttp_headers;
  cs_th_ipinfo *ipinfo;
  size_t nipinfo;
} cs_th_response;

/* Appends the response JSON to out, as oohelperd writes it (Go's encoding/json):
 *   {"tcp_connect":{..},"tls_handshake":{..},"quic_handshake":{},
 *    "http_request":{"body_length","discovered_h3_endpoint","failure","title","headers",
 *                    "status_code"},"http3_request":null,"dns":{"failure","addrs"},
 *    "ip_info":{ip:{"asn","flags"}}}
 * Extensions (x_chain_sha256/x_issuer/x_issuer_key in tls_handshake entries, x_body_sha256/
 * x_body_truncated in http_request) only when set, after OONI's fields.
 * Map keys (endpoints, header names, IPs) sorted bytewise; tls_handshake and ip_info omitted
 * when empty. present/dns_present/http_present are not consulted (every part is written;
 * NULL strings are null, except title and discovered_h3_endpoint which are ""). Returns 0,
 * or -1 when out is full or out of memory. */
int cs_th_response_write(cs_buf *out, const cs_th_response *r);

/* Reads a control object (test_keys.control, or a TH reply) into *out, in arena a. Never
 * fails on odd input: missing or mistyped fields stay unknown (NULL, -1, false), lists are
 * capped at CS_TH_MAX_ITEMS, IP literals are rewritten in canonical form (so they compare
 * with strcmp). out->present is false when ctl is not a non-empty object. */
void cs_th_response_read(cs_arena *a, const cs_jval *ctl, cs_th_response *out);

#endif
