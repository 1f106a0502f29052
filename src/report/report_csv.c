/* report_csv.c - one CSV row per measured URL (RFC 4180, CRLF; columns in docs/report.md).
 * Every text field is quoted, and cells a spreadsheet would run as a formula get a leading
 * apostrophe (cs_report_csv_field). Streams the run: one row in memory at a time. */
#include "report/report_impl.h"

static const char header[] =
    "id,input,category_code,category_name,outcome,censorship,evidence,blocking,accessible,"
    "dns_consistency,dns_experiment_failure,dns_answers,tcp_failure,tls_failure,"
    "http_experiment_failure,http_status,control_failure,blockpage_name,blockpage_source,"
    "blockpage_scope,blockpage_confirmed,blockpage_optin,server_side_block,analysis_reason,"
    "measurement_start_time,test_runtime,probe_cc,probe_asn,report_id\r\n";

static void f(FILE *o, const char *s) {
  cs_report_csv_field(o, s);
  fputc(',', o);
}

typedef struct {
  FILE *o;
  const cs_report *r;
} csv_ctx;

static int row_csv(void *ctx, const cs_report_row *row) {
  const csv_ctx *cx = ctx;
  FILE *o = cx->o;
  const cs_store_meas *mp = row->m, m = *mp;
  fprintf(o, "%lld,", (long long)m.id);
  f(o, m.input);
  f(o, m.category_code);
  f(o, cs_report_category_name(m.category_code));
  fprintf(o, "%s,%s,", row->key, row->censorship ? "true" : "false");
  f(o, row->evidence);
  f(o, m.blocking);
  fprintf(o, "%s,", m.accessible < 0 ? "" : m.accessible ? "true" : "false");
  f(o, m.dns_consistency);
  f(o, m.dns_experiment_failure);
  f(o, m.dns_answers);
  f(o, m.tcp_failure);
  f(o, m.tls_failure);
  f(o, m.http_experiment_failure);
  if (m.http_status) fprintf(o, "%d", m.http_status);
  fputc(',', o);
  f(o, m.control_failure);
  f(o, m.blockpage_name);
  f(o, m.blockpage_source);
  f(o, m.blockpage_scope);
  fprintf(o, "%s,%s,", m.blockpage_confirmed == 1 ? "true" : "false",
          m.blockpage_optin == 1 ? "true" : "false");
  f(o, m.server_side_block);
  f(o, m.analysis_reason);
  f(o, m.measurement_start_time);
  if (m.test_runtime >= 0) fprintf(o, "%.3f", m.test_runtime);
  fputc(',', o);
  f(o, m.probe_cc);
  f(o, m.probe_asn);
  cs_report_csv_field(o, m.report_id);
  for (size_t i = 0; i < cx->r->nsections; i++)
    if (cx->r->sections[i]->csv_cells) cx->r->sections[i]->csv_cells(o, cx->r, row);
  fputs("\r\n", o);
  return ferror(o) ? -1 : 0;
}

static int write_csv(FILE *o, const cs_report *r, cs_store *s) {
  /* the fixed columns, then those of the run's sections that add some (throttling's) */
  fwrite(header, 1, sizeof header - 3, o);
  for (size_t i = 0; i < r->nsections; i++)
    if (r->sections[i]->csv_columns) fputs(r->sections[i]->csv_columns, o);
  fputs("\r\n", o);
  csv_ctx cx = {o, r};
  return cs_report_each(s, r->run_id, CS_REPORT_ROWS_ALL, row_csv, &cx) ? -1 : 0;
}

const cs_report_renderer cs_report_render_csv = {"csv", write_csv};
