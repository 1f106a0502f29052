/* report.h - summaries of a stored run: one outcome per measurement, counts by outcome,
 * category and blockpage fingerprint, and renderers (text, JSON, CSV, self-contained HTML).
 * See docs/report.md for the JSON/CSV schemas.
 *
 * The outcome of each measurement is the one its nettest computed and the store kept
 * (columns outcome, censorship, evidence: record/outcome.h); the report counts and lists
 * them and never decides again. Labels come from the measurement's nettest's outcome table.
 * Everything is computed from the store's extracted columns, streaming: pass 1 aggregates
 * (memory bounded by the number of categories, fingerprints and outcome keys, all capped),
 * pass 2 streams the rows again for the per-URL listings. No JSON blob is loaded. */
#ifndef CS_REPORT_H
#define CS_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis/wc_analysis.h"
#include "store/store.h"

/* The report's outcome slots: the shared vocabulary (web_connectivity's, whose keys the other
 * nettests reuse: accessible, site_down, undetermined...), in the order of every fixed output
 * (totals, charts, category columns). Keys outside it are counted in cs_report.others. */
typedef enum {
#define CS_REPORT_X(id, key, label, censorship) CS_OUT_##id = CS_WC_OUT_##id,
  CS_WC_OUTCOMES(CS_REPORT_X)
#undef CS_REPORT_X
      CS_OUT_N = CS_WC_OUT_N
} cs_report_outcome;

const char *cs_report_outcome_key(cs_report_outcome o);   /* "dns" ... */
const char *cs_report_outcome_label(cs_report_outcome o); /* "DNS tampering" ... */
bool cs_report_outcome_blocked(cs_report_outcome o);      /* counted as censorship */
/* The slot of an outcome key, or CS_OUT_N when it has none. */
cs_report_outcome cs_report_outcome_slot(const char *key);

/* The outcome rules' view of a web_connectivity measurement's stored columns. */
void cs_report_wc_summary(const cs_store_meas *m, cs_wc_summary *s);
/* The store's analyzer hook (cs_store_set_analyzer) for measurements that carry no outcome
 * (imported OONI files, rows older than schema 2): web_connectivity's outcome from its
 * recorded verdict keys (what the measurement said, not a re-analysis: that is `censorscope
 * analyze`'s job), and for another nettest its registry entry's analyze. Returns -1 when it
 * cannot tell (undetermined). ctx is unused. */
int cs_report_analyzer(void *ctx, cs_arena *a, const cs_jval *m, const cs_store_meas *cols,
                       cs_outcome *out);
/* Citizen Lab category name for a code ("NEWS" -> "News Media"), or NULL. */
const char *cs_report_category_name(const char *code);

#define CS_REPORT_MAX_CATEGORIES 64
#define CS_REPORT_MAX_FINGERPRINTS 128
#define CS_REPORT_MAX_OTHERS 32 /* outcome keys outside the slots */
#define CS_REPORT_MAX_SECTIONS 16

typedef struct {
  const char *code; /* "" for measurements without a category; "(other)" for overflow */
  uint64_t tested, blocked, n[CS_OUT_N];
} cs_report_category;

typedef struct {
  const char *name, *source, *scope; /* name "(other)" collects the overflow */
  bool optin;                        /* an opt-in filter's page, not censorship */
  uint64_t count;
} cs_report_fingerprint;

/* An outcome key outside the slots (another nettest's own): its label from the nettest's
 * outcome table (the key itself when unknown). key "(other)" collects the overflow. */
typedef struct {
  const char *key, *label;
  bool censorship;
  uint64_t count;
} cs_report_other;

/* What a nettest adds to a report (defined in report_impl.h): registry entries point to theirs
 * (nettests/nettest.h `report`). web_connectivity's: blockpage fingerprints (report_wc.c). */
struct cs_report_section;
extern const struct cs_report_section cs_report_wc_section;
/* the throttling nettest's (report_throttling.c): its registry entry sets
 * `.report = &cs_report_throttling_section` */
extern const struct cs_report_section cs_report_throttling_section;
/* The apps' and platforms' section (report_apps.c), one struct per app nettest for its
 * registry entry's `.report` (one implementation, one section in a report). */
extern const struct cs_report_section cs_report_whatsapp_section, cs_report_telegram_section,
    cs_report_signal_section, cs_report_facebook_messenger_section, cs_report_platforms_section;

typedef struct {
  /* the run */
  int64_t run_id;
  const char *test_name, *input_list, *started_at, *finished_at; /* finished_at may be NULL */
  const char *source_label; /* e.g. the database or JSONL path (set by the caller) */
  /* totals */
  uint64_t tested, blocked, confirmed, n[CS_OUT_N];
  cs_report_other *others; /* in order of first appearance */
  size_t nothers;
  /* probe and time range (first seen; mixed_* when measurements disagree) */
  const char *probe_cc, *probe_asn;
  bool mixed_cc, mixed_asn;
  const char *first_time, *last_time;
  double runtime_sum;
  /* sorted: categories by blocked desc, tested desc, code; fingerprints by count desc, name */
  cs_report_category *categories;
  size_t ncategories;
  cs_report_fingerprint *fingerprints; /* web_connectivity's section (report_wc.c) */
  size_t nfingerprints;
  /* the nettests' own sections: web_connectivity's always first (the fixed layout), then
   * those of the other nettests the run holds */
  const struct cs_report_section *sections[CS_REPORT_MAX_SECTIONS];
  size_t nsections;
  struct cs_report_thr *thr;   /* throttling's section (report_throttling.c), in the arena */
  struct cs_report_apps *apps; /* the apps' section (report_apps.c), in the arena; NULL: none */
  struct cs_report_fx *fx;     /* the "Who and where" section (report_forensics.c); NULL: none */
  cs_arena *arena;             /* owns all strings above */
} cs_report;

/* Pass 1 over the run. Returns NULL on error (message in err). */
cs_report *cs_report_compute(cs_store *s, int64_t run_id, char *err, size_t errlen);
void cs_report_free(cs_report *r);

/* A renderer: one entry of the table in report.c (text, json, csv, html). */
typedef struct cs_report_renderer cs_report_renderer;
typedef const cs_report_renderer *cs_report_format;
/* The renderer called name (any case). Returns 0, or -1 when there is none. */
int cs_report_format_parse(const char *name, cs_report_format *out);
cs_report_format cs_report_format_at(size_t i); /* i-th of the table; NULL past the end */
const char *cs_report_format_name(cs_report_format f);

/* Renders the report; formats that list URLs stream the run again (pass 2). Returns 0, or -1
 * on a store or write error. */
int cs_report_write(FILE *out, cs_report_format f, const cs_report *r, cs_store *s);

/* control bytes -> '?' (no terminal escape sequences from measurements) */
void cs_report_text_safe(FILE *out, const char *s);

#endif
