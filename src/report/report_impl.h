/* report_impl.h - what the report's parts share, internal to src/report/: the renderer table
 * entry, the one visitor that walks a run, the escaping helpers, and struct
 * cs_report_section (the part of a report a nettest contributes; nettests/nettest.h points to
 * it from the registry entry). */
#ifndef CS_REPORT_IMPL_H
#define CS_REPORT_IMPL_H

#include "report/report.h"
#include "util/json.h"

/* One renderer (ZMap output-module style): the table is in report.c. */
struct cs_report_renderer {
  const char *name;                                         /* "text", "json", "csv", "html" */
  int (*write)(FILE *out, const cs_report *r, cs_store *s); /* 0 or -1 */
};
extern const cs_report_renderer cs_report_render_text, cs_report_render_json, cs_report_render_csv,
    cs_report_render_html;

/* One measurement of the run as the report sees it. */
typedef struct {
  const cs_store_meas *m;
  cs_report_outcome slot; /* CS_OUT_N: a key outside the slots */
  const char *key, *label;
  bool censorship;      /* as the measurement recorded it (x_censorship) */
  const char *evidence; /* never NULL ("" when none) */
  cs_store_iter *it;    /* the row's measurement JSON: cs_store_iter_json(it, &len) ("" from a
                           scratch store, which keeps only the JSON the sections read: store.c) */
} cs_report_row;

typedef enum {
  CS_REPORT_ROWS_ALL,     /* every measurement */
  CS_REPORT_ROWS_BLOCKED, /* those counted as censorship */
  CS_REPORT_ROWS_OPTIN    /* those an opt-in filter blocked */
} cs_report_rows;

/* Calls fn for each measurement of the run (of the kind asked for), in insertion order, until
 * fn returns non-zero. Returns 0, fn's non-zero value, or -1 on a store error. */
int cs_report_each(cs_store *s, int64_t run_id, cs_report_rows which,
                   int (*fn)(void *ctx, const cs_report_row *row), void *ctx);

/* Where a section renders: the format's name and its output (FILE, or the JSON writer of the
 * report's top-level object for "json"). */
typedef struct {
  const char *format;
  FILE *f;
  cs_jw *w;
} cs_report_out;

/* What a nettest adds to a report: per-measurement hooks in pass 1 and its part of each
 * format. Sections keep their results in the cs_report (e.g. web_connectivity's blockpage
 * fingerprints) so that renderers and tests can read them. */
struct cs_report_section {
  const char *name; /* the nettest's name */
  /* pass 1, for each measurement of its nettest: 0, or -1 when out of memory */
  int (*add)(cs_report *r, const cs_report_row *row);
  /* once, after pass 1 (sorting...) */
  void (*finish)(cs_report *r);
  /* its part of format out->format (nothing for formats it has no part in): 0 or -1 */
  int (*render)(const cs_report_out *out, const cs_report *r);
  /* CSV: extra columns after the fixed ones (header text starting with ',', NULL: none), and
   * the cells of each row (",a,b": empty for measurements of other nettests) */
  const char *csv_columns;
  void (*csv_cells)(FILE *out, const cs_report *r, const cs_report_row *row);
};

/* web_connectivity's section (report_wc.c): confirmed blockpages and opt-in filters. */
extern const struct cs_report_section cs_report_wc_section;
/* throttling's section (report_throttling.c): per target verdict, pattern, rate, ratio with
 * its CI, p-value, keyed; in HTML a throughput-over-time chart, target vs control. */
extern const struct cs_report_section cs_report_throttling_section;
/* The apps' and platforms' section (report_apps.c): per app and function the verdict and how
 * it was blocked; one struct per nettest name (cs_report_whatsapp_section,
 * cs_report_telegram_section, cs_report_signal_section, cs_report_facebook_messenger_section,
 * cs_report_platforms_section: declared in report.h for the registry entries), one
 * implementation, one section in a report. */
/* The apps section of nettest test_name (one of the five above), or NULL. */
const struct cs_report_section *cs_report_apps_section_of(const char *test_name);
/* The "Who and where" section (report_forensics.c): middlebox families, hops and tampering
 * findings of any nettest's measurements. report.c offers it every row: 1 when the row had
 * forensic evidence (the section is then added), 0 none, -1 out of memory. */
extern const struct cs_report_section cs_report_forensics_section;
int cs_report_forensics_add(cs_report *r, const cs_report_row *row);
/* The section of the measurements of test_name (NULL: ours before nettests were stored by
 * name, web_connectivity), or NULL. */
const struct cs_report_section *cs_report_section_of(const char *test_name);
/* Renders every section of r into out. Returns 0 or -1. */
int cs_report_sections_render(const cs_report_out *out, const cs_report *r);

/* Helpers shared by the renderers. */
void cs_report_html_escape(FILE *out, const char *s); /* & < > " ' and controls */
void cs_report_csv_field(FILE *out, const char *s);   /* RFC 4180 + formula guard */
/* The label of an outcome key of nettest test_name (its registry entry's outcome table), the
 * key itself when unknown. */
const char *cs_report_label(const char *test_name, const char *key);

#endif
