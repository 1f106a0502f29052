/* report_json.c - the JSON rendering of a report (schema: docs/report.md, "JSON"). Written
 * with the cs_jw writer into a small buffer flushed after each URL, so memory stays flat. */
#include <string.h>

#include "report/report_impl.h"

static int flush(FILE *o, cs_buf *b) {
  if (b->overflow) return -1;
  if (b->len && fwrite(b->data, 1, b->len, o) != b->len) return -1;
  cs_buf_reset(b);
  return 0;
}

static void counts(cs_jw *w, const uint64_t n[CS_OUT_N]) {
  for (int i = 0; i < CS_OUT_N; i++)
    cs_jw_kint(w, cs_report_outcome_key((cs_report_outcome)i), (int64_t)n[i]);
}

static void tri(cs_jw *w, const char *k, int v) {
  if (v < 0) cs_jw_knull(w, k);
  else cs_jw_kbool(w, k, v);
}

typedef struct {
  FILE *o;
  cs_jw *w;
} urls_ctx;

static int url_json(void *ctx, const cs_report_row *row) {
  urls_ctx *u = ctx;
  cs_jw *w = u->w;
  const cs_store_meas *mp = row->m, m = *mp;
  cs_jw_obj_open(w);
  cs_jw_kint(w, "id", m.id);
  cs_jw_kstr(w, "input", m.input);
  cs_jw_kstr(w, "category_code", m.category_code);
  cs_jw_kstr(w, "outcome", row->key);
  cs_jw_kstr(w, "evidence", row->evidence);
  cs_jw_kstr(w, "blocking", m.blocking);
  tri(w, "accessible", m.accessible);
  cs_jw_kstr(w, "dns_consistency", m.dns_consistency);
  cs_jw_kstr(w, "dns_experiment_failure", m.dns_experiment_failure);
  cs_jw_kstr(w, "dns_answers", m.dns_answers);
  cs_jw_kstr(w, "tcp_failure", m.tcp_failure);
  cs_jw_kstr(w, "tls_failure", m.tls_failure);
  cs_jw_kstr(w, "http_experiment_failure", m.http_experiment_failure);
  if (m.http_status) cs_jw_kint(w, "http_status", m.http_status);
  else cs_jw_knull(w, "http_status");
  cs_jw_key(w, "blockpage");
  if (m.blockpage_name) {
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "name", m.blockpage_name);
    cs_jw_kstr(w, "source", m.blockpage_source);
    cs_jw_kstr(w, "scope", m.blockpage_scope);
    cs_jw_kstr(w, "kind", m.blockpage_kind);
    cs_jw_obj_close(w);
  } else {
    cs_jw_null(w);
  }
  cs_jw_kbool(w, "confirmed", m.blockpage_confirmed == 1);
  cs_jw_kstr(w, "reason", m.analysis_reason);
  cs_jw_kstr(w, "measurement_start_time", m.measurement_start_time);
  cs_jw_kstr(w, "report_id", m.report_id);
  if (m.test_name && strcmp(m.test_name, "web_connectivity"))
    cs_jw_kstr(w, "test_name", m.test_name);
  cs_jw_obj_close(w);
  return flush(u->o, w->b) < 0 ? -1 : 0;
}

static int urls(FILE *o, cs_jw *w, cs_store *s, int64_t run_id, bool optin) {
  urls_ctx u = {o, w};
  return cs_report_each(s, run_id, optin ? CS_REPORT_ROWS_OPTIN : CS_REPORT_ROWS_BLOCKED, url_json,
                        &u)
             ? -1
             : 0;
}

static int write_json(FILE *o, const cs_report *r, cs_store *s) {
  cs_buf b;
  cs_buf_init(&b, 16u << 20);
  cs_jw jw, *w = &jw;
  cs_jw_init(w, &b);
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "format", "censorscope-report");
  cs_jw_kint(w, "format_version", 1);
  cs_jw_key(w, "run");
  cs_jw_obj_open(w);
  cs_jw_kint(w, "id", r->run_id);
  cs_jw_kstr(w, "test_name", r->test_name);
  cs_jw_kstr(w, "input_list", r->input_list);
  cs_jw_kstr(w, "started_at", r->started_at);
  cs_jw_kstr(w, "finished_at", r->finished_at);
  cs_jw_kstr(w, "source", r->source_label);
  cs_jw_kstr(w, "probe_cc", r->probe_cc);
  cs_jw_kstr(w, "probe_asn", r->probe_asn);
  cs_jw_kbool(w, "mixed_networks", r->mixed_cc || r->mixed_asn);
  cs_jw_kstr(w, "first_measurement", r->first_time);
  cs_jw_kstr(w, "last_measurement", r->last_time);
  cs_jw_kdouble(w, "runtime_sum", r->runtime_sum);
  cs_jw_obj_close(w);
  cs_jw_key(w, "totals");
  cs_jw_obj_open(w);
  cs_jw_kint(w, "tested", (int64_t)r->tested);
  cs_jw_kint(w, "blocked", (int64_t)r->blocked);
  cs_jw_kint(w, "confirmed", (int64_t)r->confirmed);
  counts(w, r->n);
  for (size_t i = 0; i < r->nothers; i++)
    cs_jw_kint(w, r->others[i].key, (int64_t)r->others[i].count);
  cs_jw_obj_close(w);
  cs_jw_key(w, "outcomes");
  cs_jw_arr_open(w);
  for (int i = 0; i < CS_OUT_N; i++) {
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "key", cs_report_outcome_key((cs_report_outcome)i));
    cs_jw_kstr(w, "label", cs_report_outcome_label((cs_report_outcome)i));
    cs_jw_kbool(w, "censorship", cs_report_outcome_blocked((cs_report_outcome)i));
    cs_jw_kint(w, "count", (int64_t)r->n[i]);
    cs_jw_obj_close(w);
  }
  for (size_t i = 0; i < r->nothers; i++) { /* other nettests' own outcomes */
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "key", r->others[i].key);
    cs_jw_kstr(w, "label", r->others[i].label);
    cs_jw_kbool(w, "censorship", r->others[i].censorship);
    cs_jw_kint(w, "count", (int64_t)r->others[i].count);
    cs_jw_obj_close(w);
  }
  cs_jw_arr_close(w);
  if (cs_report_sections_render(&(cs_report_out){.format = "json", .w = w}, r) < 0) {
    cs_buf_free(&b);
    return -1;
  }
  cs_jw_key(w, "categories");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < r->ncategories; i++) {
    const cs_report_category *c = &r->categories[i];
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "code", c->code);
    cs_jw_kstr(w, "name", cs_report_category_name(c->code));
    cs_jw_kint(w, "tested", (int64_t)c->tested);
    cs_jw_kint(w, "blocked", (int64_t)c->blocked);
    cs_jw_key(w, "counts");
    cs_jw_obj_open(w);
    counts(w, c->n);
    cs_jw_obj_close(w);
    cs_jw_obj_close(w);
  }
  cs_jw_arr_close(w);
  int rc = flush(o, &b);
  cs_jw_key(w, "blocked_urls");
  cs_jw_arr_open(w);
  if (rc == 0) rc = urls(o, w, s, r->run_id, false);
  cs_jw_arr_close(w);
  cs_jw_key(w, "optin_urls");
  cs_jw_arr_open(w);
  if (rc == 0) rc = urls(o, w, s, r->run_id, true);
  cs_jw_arr_close(w);
  cs_jw_obj_close(w);
  cs_buf_putc(&b, '\n');
  if (rc == 0) rc = flush(o, &b);
  cs_buf_free(&b);
  return rc;
}

const cs_report_renderer cs_report_render_json = {"json", write_json};
