/* report.h - summaries of a stored run: one outcome per URL, counts by method, category and
 * blockpage fingerprint, and renderers (text, JSON, CSV, self-contained HTML). See
 * docs/report.md for the outcome rules and the JSON/CSV schemas.
 *
 * Everything is computed from the store's extracted columns, streaming: pass 1 aggregates
 * (memory bounded by the number of categories and fingerprints, both capped), pass 2 streams
 * the rows again for the per-URL listings. No JSON blob is loaded. */
#ifndef CS_REPORT_H
#define CS_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis/wc_analysis.h"
#include "store/store.h"

/* One outcome per measurement. The X-macro keeps key, label and "is censorship" together. */
#define CS_REPORT_OUTCOMES(X)                                                                  \
  X(ACCESSIBLE, "accessible", "Accessible", 0)                                                 \
  X(DNS, "dns", "DNS tampering", 1)                                                            \
  X(TCP_IP, "tcp_ip", "TCP/IP blocking", 1)                                                    \
  X(TLS, "tls", "TLS/SNI interference", 1)                                                     \
  X(HTTP_FAILURE, "http_failure", "HTTP failure", 1)                                           \
  X(BLOCKPAGE, "blockpage", "Blockpage / HTTP diff", 1)                                        \
  X(OPTIN, "optin", "Opt-in filter (not censorship)", 0)                                       \
  X(SERVER_SIDE, "server_side", "Blocked by the site or its CDN", 0)                           \
  X(SITE_DOWN, "site_down", "Site down", 0)                                                    \
  X(UNDETERMINED, "undetermined", "Undetermined", 0)

typedef enum {
#define CS_REPORT_X(id, key, label, blocked) CS_OUT_##id,
  CS_REPORT_OUTCOMES(CS_REPORT_X)
#undef CS_REPORT_X
      CS_OUT_N
} cs_report_outcome;

const char *cs_report_outcome_key(cs_report_outcome o);   /* "dns" ... */
const char *cs_report_outcome_label(cs_report_outcome o); /* "DNS tampering" ... */
bool cs_report_outcome_blocked(cs_report_outcome o);      /* counted as censorship */

/* The outcome of one measurement (rules in docs/report.md). */
cs_report_outcome cs_report_classify(const cs_store_meas *m);
/* The key evidence for the outcome in a few words (a failure string, DNS answers, blockpage
 * name...), written into buf (always NUL-terminated). Returns buf. */
const char *cs_report_evidence(const cs_store_meas *m, cs_report_outcome o, char *buf,
                               size_t len);
/* The outcome rules' view of a web_connectivity measurement's stored columns. */
void cs_report_wc_summary(const cs_store_meas *m, cs_wc_summary *s);
/* The store's analyzer hook (cs_store_set_analyzer) for measurements that carry no outcome
 * (imported OONI files, rows older than schema 2): web_connectivity's outcome from its
 * recorded verdict keys (what the measurement said, not a re-analysis: that is `censorscope
 * analyze`'s job). Returns -1 for other nettests (undetermined). ctx is unused. */
int cs_report_analyzer(void *ctx, cs_arena *a, const cs_jval *m, const cs_store_meas *cols,
                       cs_outcome *out);
/* Citizen Lab category name for a code ("NEWS" -> "News Media"), or NULL. */
const char *cs_report_category_name(const char *code);

#define CS_REPORT_MAX_CATEGORIES 64
#define CS_REPORT_MAX_FINGERPRINTS 128

typedef struct {
  const char *code; /* "" for measurements without a category; "(other)" for overflow */
  uint64_t tested, blocked, n[CS_OUT_N];
} cs_report_category;

typedef struct {
  const char *name, *source, *scope; /* name "(other)" collects the overflow */
  bool optin;                        /* an opt-in filter's page, not censorship */
  uint64_t count;
} cs_report_fingerprint;

typedef struct {
  /* the run */
  int64_t run_id;
  const char *test_name, *input_list, *started_at, *finished_at; /* finished_at may be NULL */
  const char *source_label; /* e.g. the database or JSONL path (set by the caller) */
  /* totals */
  uint64_t tested, blocked, confirmed, n[CS_OUT_N];
  /* probe and time range (first seen; mixed_* when measurements disagree) */
  const char *probe_cc, *probe_asn;
  bool mixed_cc, mixed_asn;
  const char *first_time, *last_time;
  double runtime_sum;
  /* sorted: categories by blocked desc, tested desc, code; fingerprints by count desc, name */
  cs_report_category *categories;
  size_t ncategories;
  cs_report_fingerprint *fingerprints;
  size_t nfingerprints;
  cs_arena *arena; /* owns all strings above */
} cs_report;

/* Pass 1 over the run. Returns NULL on error (message in err). */
cs_report *cs_report_compute(cs_store *s, int64_t run_id, char *err, size_t errlen);
void cs_report_free(cs_report *r);

typedef enum { CS_REPORT_TEXT, CS_REPORT_JSON, CS_REPORT_CSV, CS_REPORT_HTML } cs_report_format;
int cs_report_format_parse(const char *name, cs_report_format *out); /* 0 or -1 */

/* Renders the report; formats that list URLs stream the run again (pass 2). Returns 0, or -1
 * on a store or write error. */
int cs_report_write(FILE *out, cs_report_format f, const cs_report *r, cs_store *s);

/* Per-format renderers (report_{text,json,csv,html}.c). */
int cs_report_write_text(FILE *out, const cs_report *r, cs_store *s);
int cs_report_write_json(FILE *out, const cs_report *r, cs_store *s);
int cs_report_write_csv(FILE *out, const cs_report *r, cs_store *s);
int cs_report_write_html(FILE *out, const cs_report *r, cs_store *s);

/* Helpers shared by the renderers. */
void cs_report_html_escape(FILE *out, const char *s);      /* & < > " ' and controls */
void cs_report_csv_field(FILE *out, const char *s);        /* RFC 4180 + formula guard */
void cs_report_text_safe(FILE *out, const char *s);        /* control bytes -> '?' */

#endif
