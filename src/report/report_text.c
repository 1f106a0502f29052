/* report_text.c - the terminal rendering of a report. Every string from a measurement goes
 * through cs_report_text_safe (no terminal escape sequences from hostile input). */
#include <string.h>

#include "report/report_impl.h"

static double pct(uint64_t n, uint64_t d) { return d ? 100.0 * (double)n / (double)d : 0.0; }

static void line(FILE *o, const char *label, uint64_t n, uint64_t total, int indent) {
  fprintf(o, "%*s%-*s %6llu  %5.1f%%\n", indent, "", 40 - indent, label, (unsigned long long)n,
          pct(n, total));
}

static int list_url(void *ctx, const cs_report_row *row) {
  FILE *o = ctx;
  const cs_store_meas *m = row->m;
  fprintf(o, "  %-13s ", row->key);
  cs_report_text_safe(o, m->input ? m->input : "(no input)");
  if (m->category_code) {
    fputs("  [", o);
    cs_report_text_safe(o, m->category_code);
    fputc(']', o);
  }
  fputs("\n                ", o);
  cs_report_text_safe(o, row->evidence);
  if (m->blockpage_confirmed == 1) fputs(" (confirmed)", o);
  if (m->analysis_reason) {
    fputs("; rule ", o);
    cs_report_text_safe(o, m->analysis_reason);
  }
  fputc('\n', o);
  return 0;
}

static int write_text(FILE *o, const cs_report *r, cs_store *s) {
  fprintf(o, "censorscope report: run %lld (", (long long)r->run_id);
  cs_report_text_safe(o, r->test_name);
  fputs(")\n", o);
  if (r->source_label) {
    fputs("Source:       ", o);
    cs_report_text_safe(o, r->source_label);
    fputc('\n', o);
  }
  if (r->input_list && *r->input_list) {
    fputs("Input list:   ", o);
    cs_report_text_safe(o, r->input_list);
    fputc('\n', o);
  }
  fputs("Run:          started ", o);
  cs_report_text_safe(o, r->started_at ? r->started_at : "?");
  fputs(" UTC, ", o);
  if (r->finished_at) {
    fputs("finished ", o);
    cs_report_text_safe(o, r->finished_at);
    fputs(" UTC\n", o);
  } else {
    fputs("not finished\n", o);
  }
  fputs("Probe:        ", o);
  cs_report_text_safe(o, r->probe_cc ? r->probe_cc : "?");
  fputc(' ', o);
  cs_report_text_safe(o, r->probe_asn ? r->probe_asn : "?");
  if (r->mixed_cc || r->mixed_asn) fputs(" (measurements from several networks)", o);
  fputc('\n', o);
  if (r->first_time) {
    fputs("Measured:     ", o);
    cs_report_text_safe(o, r->first_time);
    fputs(" to ", o);
    cs_report_text_safe(o, r->last_time);
    fputs(" UTC\n", o);
  }
  fputc('\n', o);
  uint64_t t = r->tested;
  fprintf(o, "%-40s %6llu\n", "URLs tested", (unsigned long long)t);
  line(o, "Accessible", r->n[CS_OUT_ACCESSIBLE], t, 0);
  line(o, "Blocked (censorship)", r->blocked, t, 0);
  for (int i = 0; i < CS_OUT_N; i++)
    if (cs_report_outcome_blocked((cs_report_outcome)i))
      line(o, cs_report_outcome_label((cs_report_outcome)i), r->n[i], t, 4);
  line(o, "confirmed by a blockpage fingerprint", r->confirmed, t, 4);
  line(o, cs_report_outcome_label(CS_OUT_OPTIN), r->n[CS_OUT_OPTIN], t, 0);
  line(o, cs_report_outcome_label(CS_OUT_SERVER_SIDE), r->n[CS_OUT_SERVER_SIDE], t, 0);
  line(o, cs_report_outcome_label(CS_OUT_SITE_DOWN), r->n[CS_OUT_SITE_DOWN], t, 0);
  line(o, cs_report_outcome_label(CS_OUT_UNDETERMINED), r->n[CS_OUT_UNDETERMINED], t, 0);
  for (size_t i = 0; i < r->nothers; i++) { /* other nettests' own outcomes */
    char lab[41];
    size_t j = 0;
    for (const char *p = r->others[i].label; *p && j < sizeof lab - 1; p++)
      lab[j++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    lab[j] = 0;
    line(o, lab, r->others[i].count, t, r->others[i].censorship ? 4 : 0);
  }
  if (cs_report_sections_render(&(cs_report_out){.format = "text", .f = o}, r) < 0) return -1;

  fprintf(o, "\nBy category\n  %-7s %-38s %6s %7s %5s %5s %5s %5s %5s %5s %5s %5s\n", "code",
          "name", "tested", "blocked", "dns", "tcp", "tls", "http", "page", "optin", "down",
          "undet");
  for (size_t i = 0; i < r->ncategories; i++) {
    const cs_report_category *c = &r->categories[i];
    const char *name = cs_report_category_name(c->code);
    char code[16];
    size_t j = 0;
    for (const char *p = *c->code ? c->code : "-"; *p && j < 7; p++)
      code[j++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    code[j] = 0;
    fprintf(o, "  %-7s %-38.38s %6llu %7llu %5llu %5llu %5llu %5llu %5llu %5llu %5llu %5llu\n",
            code, name ? name : (*c->code ? "(unknown code)" : "(no category)"),
            (unsigned long long)c->tested, (unsigned long long)c->blocked,
            (unsigned long long)c->n[CS_OUT_DNS], (unsigned long long)c->n[CS_OUT_TCP_IP],
            (unsigned long long)c->n[CS_OUT_TLS], (unsigned long long)c->n[CS_OUT_HTTP_FAILURE],
            (unsigned long long)c->n[CS_OUT_BLOCKPAGE], (unsigned long long)c->n[CS_OUT_OPTIN],
            (unsigned long long)c->n[CS_OUT_SITE_DOWN] + c->n[CS_OUT_SERVER_SIDE],
            (unsigned long long)c->n[CS_OUT_UNDETERMINED]);
  }
  if (r->blocked) {
    fputs("\nBlocked URLs (method, URL [category], evidence)\n", o);
    if (cs_report_each(s, r->run_id, CS_REPORT_ROWS_BLOCKED, list_url, o) < 0) return -1;
  }
  if (r->n[CS_OUT_OPTIN]) {
    fputs("\nOpt-in filtered URLs (not counted as censorship)\n", o);
    if (cs_report_each(s, r->run_id, CS_REPORT_ROWS_OPTIN, list_url, o) < 0) return -1;
  }
  return ferror(o) ? -1 : 0;
}

const cs_report_renderer cs_report_render_text = {"text", write_text};
