/* wc_analysis.h - the Web Connectivity verdict: observations (+ control) -> OONI's keys
 * (dns_consistency, body_length_match, ..., blocking, accessible) plus our extras.
 *
 * Pure: no I/O, no network, no global state except the --lab-net ranges of util/ipnet.h.
 * Algorithms (docs/ooni-methodology.md a.4, a.5): LTE v0.5 "classic" for test_version >= 0.5
 * (and our own measurements), v0.4 Summarize for 0.4.x, the legacy (measurement-kit era)
 * rules for older versions; then censorscope's documented deviations (docs/analysis.md).
 *
 * Typical probe use:
 *   cs_jval *tk = cs_json_parse(a, json, len, NULL, err, sizeof err);
 *   cs_wc_verdict v;
 *   cs_wc_analyze_test_keys(a, tk, url, "0.5.28", NULL, &v);
 *   cs_wc_verdict_write(&w, &v);   // inside the open test_keys object
 */
#ifndef CS_WC_ANALYSIS_H
#define CS_WC_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>

#include "analysis/fingerprints.h"
#include "analysis/wcobs.h"
#include "record/outcome.h"
#include "util/arena.h"
#include "util/json.h"

typedef enum {
  CS_WC_BLOCKING_NULL = 0,     /* null: undetermined */
  CS_WC_BLOCKING_FALSE,        /* false */
  CS_WC_BLOCKING_DNS,          /* "dns" */
  CS_WC_BLOCKING_TCP_IP,       /* "tcp_ip" */
  CS_WC_BLOCKING_HTTP_FAILURE, /* "http-failure" */
  CS_WC_BLOCKING_HTTP_DIFF     /* "http-diff" */
} cs_wc_blocking;

typedef enum {
  CS_WC_ALGO_AUTO = 0, /* by test_version: >=0.5 (or unknown) LTE, 0.4.x v0.4, older legacy */
  CS_WC_ALGO_LTE,
  CS_WC_ALGO_V04,
  CS_WC_ALGO_LEGACY,
  CS_WC_ALGO_LTE_ORIG /* LTE 0.5.0-0.5.26: the verdict from LTE's own flags ("orig" engine) */
} cs_wc_algo;

typedef struct {
  cs_wc_algo algo;
  const cs_fp_db *fingerprints; /* NULL: no blockpage matching */
  bool ooni_strict;             /* true: reproduce OONI exactly, no censorscope deviations */
  const char *probe_cc;         /* for fingerprints' expected_countries when the measurement
                                   has no probe_cc (cs_wc_analyze_test_keys); NULL = any */
} cs_wc_options;

typedef struct {
  /* OONI keys */
  const char *dns_experiment_failure; /* NULL = null */
  const char *dns_consistency;        /* "consistent" / "inconsistent" / NULL */
  const char *http_experiment_failure;
  cs_wc_tri body_length_match, status_code_match, headers_match, title_match;
  double body_proportion; /* 0 when not computable */
  cs_wc_blocking blocking;
  cs_wc_tri accessible;
  /* extras */
  const char *algorithm; /* "lte", "lte-orig", "v0.4", "legacy" */
  const char *reason;    /* x_analysis_reason: the rule that decided, e.g. "lte.tcp.probe_only" */
  const char *ooni_blocking_note; /* when a deviation changed OONI's verdict: what OONI would say */
  cs_wc_blocking
      ooni_blocking; /* OONI's verdict: the same algorithm with ooni_strict, no fingerprints */
  cs_wc_tri ooni_accessible;
  const char *server_side_block; /* x_server_side_block: e.g. "cloudflare_challenge", NULL */
  bool blockpage_found;          /* a fingerprint matched (any kind) */
  cs_fp_match blockpage;         /* the best match */
  bool blockpage_confirmed;      /* censorship fingerprint => confirmed blocking */
  bool blockpage_optin;          /* x_blockpage_optin */
  int dns_flags;       /* x_dns_flags (LTE only): 1 bogon, 2 unexpected failure, 4 invalid */
  int blocking_flags;  /* x_blocking_flags (LTE): 1 DNS, 2 TCP, 4 TLS, 8 HTTP, 16 diff, 32 ok */
  int null_null_flags; /* x_null_null_flags (LTE): 1 DNS, 2 TCP, 4 TLS expected failures,
                                    8 HTTPS without control, 16 TH resolved nothing */
  cs_outcome outcome;  /* x_outcome, x_censorship, x_evidence (wc_outcome.c) */
} cs_wc_verdict;

/* The algorithm CS_WC_ALGO_AUTO picks for a measurement, by its test_version: >= 0.6 or
 * unknown (our own records) lte; 0.5.x lte, except 0.5.0-0.5.26 under --ooni-strict
 * lte-orig (those probes decided from LTE's own flags); 0.4.x v0.4; older legacy. */
cs_wc_algo cs_wc_algo_for(const cs_wc_obs *o, bool ooni_strict);

/* From observations. Always fills *v. */
void cs_wc_verdict_compute(cs_arena *a, const cs_wc_obs *o, const cs_wc_options *opt,
                           cs_wc_verdict *v);

/* From a whole measurement (explorer wrapper accepted). Returns 0, or -1 when it is not a
 * web_connectivity-like measurement (no test_keys): *v is then blocking null. */
int cs_wc_analyze(cs_arena *a, const cs_jval *measurement, const cs_wc_options *opt,
                  cs_wc_verdict *v);
/* From test keys alone (the probe's in-memory measurement). */
int cs_wc_analyze_test_keys(cs_arena *a, const cs_jval *test_keys, const char *input,
                            const char *test_version, const cs_wc_options *opt, cs_wc_verdict *v);

/* Writes the verdict keys into an already-open JSON object: OONI's keys with OONI's types,
 * then x_analysis_reason, x_analysis_algorithm, x_dns_flags, x_blocking_flags and
 * x_null_null_flags (lte), x_ooni_blocking and
 * x_ooni_accessible (only when a deviation changed OONI's verdict),
 * x_server_side_block, x_blockpage{...}, x_blockpage_confirmed, x_blockpage_optin. */
void cs_wc_verdict_write(cs_jw *w, const cs_wc_verdict *v);
/* Just the OONI keys (for a probe that must stay byte-compatible). */
void cs_wc_verdict_write_ooni(cs_jw *w, const cs_wc_verdict *v);

/* "dns", "tcp_ip", ... ; "false" and "null" for those two. */
const char *cs_wc_blocking_str(cs_wc_blocking b);
/* Writes the blocking value with its JSON type (false / null / string). */
void cs_wc_write_blocking(cs_jw *w, cs_wc_blocking b);

/* ---- outcome (wc_outcome.c) ---------------------------------------------------------------
 * One outcome per measurement, computed once from the verdict and written with it (x_outcome,
 * x_censorship, x_evidence: record/outcome.h). The X-macro keeps key, label and "counts as
 * censorship" together; rules in docs/report.md "Outcomes". */
#define CS_WC_OUTCOMES(X)                                                                          \
  X(ACCESSIBLE, "accessible", "Accessible", 0)                                                     \
  X(DNS, "dns", "DNS tampering", 1)                                                                \
  X(TCP_IP, "tcp_ip", "TCP/IP blocking", 1)                                                        \
  X(TLS, "tls", "TLS/SNI interference", 1)                                                         \
  X(HTTP_FAILURE, "http_failure", "HTTP failure", 1)                                               \
  X(BLOCKPAGE, "blockpage", "Blockpage / HTTP diff", 1)                                            \
  X(OPTIN, "optin", "Opt-in filter (not censorship)", 0)                                           \
  X(SERVER_SIDE, "server_side", "Blocked by the site or its CDN", 0)                               \
  X(SITE_DOWN, "site_down", "Site down", 0)                                                        \
  X(UNDETERMINED, "undetermined", "Undetermined", 0)

typedef enum {
#define CS_WC_X(id, key, label, censorship) CS_WC_OUT_##id,
  CS_WC_OUTCOMES(CS_WC_X)
#undef CS_WC_X
      CS_WC_OUT_N
} cs_wc_outcome_id;

/* web_connectivity's outcome vocabulary, indexed by cs_wc_outcome_id (the registry entry's
 * `outcomes`, the report's labels). */
extern const cs_outcome_def cs_wc_outcome_defs[];
extern const size_t cs_wc_noutcome_defs;

/* What the outcome rules look at: the verdict keys and evidence summaries. Strings NULL when
 * absent; accessible 1 / 0 / -1 unknown. */
typedef struct {
  const char *blocking; /* "false", "dns", "tcp_ip", "http-failure", "http-diff", other, NULL */
  int accessible;
  const char *dns_consistency, *dns_experiment_failure, *http_experiment_failure;
  const char *control_failure;
  const char *dns_answers;    /* system-resolver A/AAAA answers (CNAMEs if none), space separated */
  const char *tcp_failure;    /* "ip:port failure" of the first failed TCP connect */
  const char *tls_failure;    /* failure of the first failed TLS handshake */
  int tls_ok;                 /* TLS handshakes that succeeded */
  int http_status;            /* status of the newest response (requests[0]), 0 none */
  const char *blockpage_name; /* x_blockpage.name */
  bool blockpage_optin;
  const char *server_side_block;
} cs_wc_summary;

/* The summary of a verdict computed from observations o (strings in a or in o / v). */
void cs_wc_summarize(cs_arena *a, const cs_wc_obs *o, const cs_wc_verdict *v, cs_wc_summary *s);
/* The outcome's id. */
cs_wc_outcome_id cs_wc_outcome_classify(const cs_wc_summary *s);
/* The key evidence of outcome o in a few words ("TCP connect failed: 192.0.2.1:443 ..."), into
 * buf (always NUL-terminated, "" when none). Returns buf. */
const char *cs_wc_outcome_evidence(const cs_wc_summary *s, cs_wc_outcome_id o, char *buf,
                                   size_t len);
/* Both, as a cs_outcome (evidence copied into a, NULL when none). Returns 0, or -1 when out of
 * memory (*out then has no evidence). */
int cs_wc_outcome_compute(cs_arena *a, const cs_wc_summary *s, cs_outcome *out);

#endif
