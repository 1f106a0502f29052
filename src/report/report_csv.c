/* report_csv.c - one CSV row per measured URL (RFC 4180, CRLF; columns in docs/report.md).
 * Every text field is quoted, and cells a spreadsheet would run as a formula get a leading
 * apostrophe (cs_report_csv_field). Streams the run: one row in memory at a time. */
#include "report/report.h"

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

int cs_report_write_csv(FILE *o, const cs_report *r, cs_store *s) {
  fputs(header, o);
  cs_store_iter *it = cs_store_iter_new(s, r->run_id);
  if (!it) return -1;
  cs_store_meas m;
  int rc;
  char ev[512];
  while ((rc = cs_store_iter_next(it, &m)) == 1) {
    cs_report_outcome oc = cs_report_classify(&m);
    fprintf(o, "%lld,", (long long)m.id);
    f(o, m.input);
    f(o, m.category_code);
    f(o, cs_report_category_name(m.category_code));
    fprintf(o, "%s,%s,", cs_report_outcome_key(oc),
            cs_report_outcome_blocked(oc) ? "true" : "false");
    f(o, cs_report_evidence(&m, oc, ev, sizeof ev));
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
    fputs("\r\n", o);
    if (ferror(o)) {
      rc = -1;
      break;
    }
  }
  cs_store_iter_free(it);
  return rc < 0 ? -1 : 0;
}
