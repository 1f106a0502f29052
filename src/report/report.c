/* report.c - outcome rules, aggregation (pass 1) and helpers shared by the renderers. */
#include "report/report.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
  const char *key, *label;
  bool blocked;
} outcomes[CS_OUT_N] = {
#define CS_REPORT_X(id, key, label, blocked) {key, label, blocked},
    CS_REPORT_OUTCOMES(CS_REPORT_X)
#undef CS_REPORT_X
};

const char *cs_report_outcome_key(cs_report_outcome o) {
  return o < CS_OUT_N ? outcomes[o].key : "?";
}
const char *cs_report_outcome_label(cs_report_outcome o) {
  return o < CS_OUT_N ? outcomes[o].label : "?";
}
bool cs_report_outcome_blocked(cs_report_outcome o) { return o < CS_OUT_N && outcomes[o].blocked; }

/* Citizen Lab category codes (test-lists/lists/00-LEGEND-new_category_codes.csv). */
static const char *const categories[][2] = {
    {"ALDR", "Alcohol & Drugs"},
    {"REL", "Religion"},
    {"PORN", "Pornography"},
    {"PROV", "Provocative Attire"},
    {"POLR", "Political Criticism"},
    {"HUMR", "Human Rights Issues"},
    {"ENV", "Environment"},
    {"MILX", "Terrorism and Militants"},
    {"HATE", "Hate Speech"},
    {"NEWS", "News Media"},
    {"XED", "Sex Education"},
    {"PUBH", "Public Health"},
    {"GMB", "Gambling"},
    {"ANON", "Anonymization and circumvention tools"},
    {"DATE", "Online Dating"},
    {"GRP", "Social Networking"},
    {"LGBT", "LGBT"},
    {"FILE", "File-sharing"},
    {"HACK", "Hacking Tools"},
    {"COMT", "Communication Tools"},
    {"MMED", "Media sharing"},
    {"HOST", "Hosting and Blogging Platforms"},
    {"SRCH", "Search Engines"},
    {"GAME", "Gaming"},
    {"CULTR", "Culture"},
    {"ECON", "Economics"},
    {"GOVT", "Government"},
    {"COMM", "E-commerce"},
    {"CTRL", "Control content"},
    {"IGO", "Intergovernmental Organizations"},
    {"MISC", "Miscellaneous content"},
};

const char *cs_report_category_name(const char *code) {
  if (!code) return NULL;
  for (size_t i = 0; i < sizeof categories / sizeof *categories; i++)
    if (!strcmp(code, categories[i][0])) return categories[i][1];
  return NULL;
}

void cs_report_wc_summary(const cs_store_meas *m, cs_wc_summary *s) {
  *s = (cs_wc_summary){
      .blocking = m->blocking,
      .accessible = m->accessible,
      .dns_consistency = m->dns_consistency,
      .dns_experiment_failure = m->dns_experiment_failure,
      .http_experiment_failure = m->http_experiment_failure,
      .control_failure = m->control_failure,
      .dns_answers = m->dns_answers,
      .tcp_failure = m->tcp_failure,
      .tls_failure = m->tls_failure,
      .tls_ok = m->tls_ok,
      .http_status = m->http_status,
      .blockpage_name = m->blockpage_name,
      .blockpage_optin = m->blockpage_optin == 1,
      .server_side_block = m->server_side_block,
  };
}

int cs_report_analyzer(void *ctx, cs_arena *a, const cs_jval *m, const cs_store_meas *cols,
                       cs_outcome *out) {
  (void)ctx, (void)m;
  /* no test_name: the measurements of censorscope before nettests had names in the store */
  if (cols->test_name && strcmp(cols->test_name, "web_connectivity")) return -1;
  cs_wc_summary s;
  cs_report_wc_summary(cols, &s);
  return cs_wc_outcome_compute(a, &s, out);
}

/* TLS-stage failure: the handshake failed and none succeeded, or the HTTP failure is itself a
 * TLS error (ssl_*). See docs/report.md. */
static bool tls_stage(const cs_store_meas *m) {
  const char *hf = m->http_experiment_failure;
  if (hf && !strncmp(hf, "ssl_", 4)) return true;
  return m->tls_failure && m->tls_ok == 0;
}

cs_report_outcome cs_report_classify(const cs_store_meas *m) {
  const char *b = m->blocking;
  if (!b) return CS_OUT_UNDETERMINED;
  if (!strcmp(b, "false")) {
    if (m->accessible == 0) return m->server_side_block ? CS_OUT_SERVER_SIDE : CS_OUT_SITE_DOWN;
    return m->accessible == 1 ? CS_OUT_ACCESSIBLE : CS_OUT_UNDETERMINED;
  }
  cs_report_outcome o;
  if (!strcmp(b, "dns")) o = CS_OUT_DNS;
  else if (!strcmp(b, "tcp_ip")) o = CS_OUT_TCP_IP;
  else if (!strcmp(b, "http-failure")) o = tls_stage(m) ? CS_OUT_TLS : CS_OUT_HTTP_FAILURE;
  else if (!strcmp(b, "http-diff")) o = CS_OUT_BLOCKPAGE;
  else return CS_OUT_UNDETERMINED; /* not one of OONI's values */
  return m->blockpage_optin == 1 ? CS_OUT_OPTIN : o;
}

const char *cs_report_evidence(const cs_store_meas *m, cs_report_outcome o, char *buf,
                               size_t len) {
  if (!len) return buf;
  buf[0] = 0;
  const char *bp = m->blockpage_name;
  switch (o) {
  case CS_OUT_DNS:
    if (bp) snprintf(buf, len, "DNS answer is the blockpage server %s (%s)", bp,
                     m->dns_answers ? m->dns_answers : "");
    else if (m->dns_experiment_failure)
      snprintf(buf, len, "DNS lookup failed: %s", m->dns_experiment_failure);
    else if (m->dns_answers) snprintf(buf, len, "unexpected DNS answer: %s", m->dns_answers);
    else snprintf(buf, len, "DNS %s", m->dns_consistency ? m->dns_consistency : "inconsistent");
    break;
  case CS_OUT_TCP_IP:
    snprintf(buf, len, "TCP connect failed: %s",
             m->tcp_failure              ? m->tcp_failure
             : m->http_experiment_failure ? m->http_experiment_failure
                                         : "?");
    break;
  case CS_OUT_TLS:
    snprintf(buf, len, "TLS handshake failed: %s",
             m->tls_failure ? m->tls_failure
                            : m->http_experiment_failure ? m->http_experiment_failure : "?");
    break;
  case CS_OUT_HTTP_FAILURE:
    snprintf(buf, len, "HTTP request failed: %s",
             m->http_experiment_failure ? m->http_experiment_failure : "?");
    break;
  case CS_OUT_BLOCKPAGE:
  case CS_OUT_OPTIN:
    if (bp) snprintf(buf, len, "blockpage %s", bp);
    else if (m->http_status)
      snprintf(buf, len, "HTTP %d, page differs from the control's", m->http_status);
    else snprintf(buf, len, "page differs from the control's");
    break;
  case CS_OUT_SERVER_SIDE:
    snprintf(buf, len, "%s", m->server_side_block ? m->server_side_block : "");
    break;
  case CS_OUT_SITE_DOWN:
  case CS_OUT_UNDETERMINED:
    if (m->control_failure) snprintf(buf, len, "control failed: %s", m->control_failure);
    else if (m->dns_experiment_failure)
      snprintf(buf, len, "DNS lookup failed: %s", m->dns_experiment_failure);
    else if (m->http_experiment_failure)
      snprintf(buf, len, "HTTP failed: %s", m->http_experiment_failure);
    break;
  case CS_OUT_ACCESSIBLE:
  case CS_OUT_N:
    break;
  }
  return buf;
}

/* ---- pass 1 ------------------------------------------------------------------------------ */

static cs_report_category *category_slot(cs_report *r, const char *code, size_t *cap) {
  if (!code) code = "";
  for (size_t i = 0; i < r->ncategories; i++)
    if (!strcmp(r->categories[i].code, code)) return &r->categories[i];
  if (r->ncategories >= CS_REPORT_MAX_CATEGORIES - 1) code = "(other)";
  for (size_t i = 0; i < r->ncategories; i++)
    if (!strcmp(r->categories[i].code, code)) return &r->categories[i];
  if (r->ncategories == *cap) {
    size_t nc = *cap ? *cap * 2 : 16;
    cs_report_category *v = realloc(r->categories, nc * sizeof *v);
    if (!v) return NULL;
    r->categories = v, *cap = nc;
  }
  cs_report_category *c = &r->categories[r->ncategories];
  memset(c, 0, sizeof *c);
  c->code = cs_arena_strdup(r->arena, code);
  if (!c->code) return NULL;
  r->ncategories++;
  return c;
}

static cs_report_fingerprint *fp_slot(cs_report *r, const cs_store_meas *m, bool optin,
                                      size_t *cap) {
  const char *name = m->blockpage_name;
  const char *src = m->blockpage_source, *scope = m->blockpage_scope;
  for (size_t i = 0; i < r->nfingerprints; i++)
    if (!strcmp(r->fingerprints[i].name, name) && r->fingerprints[i].optin == optin)
      return &r->fingerprints[i];
  if (r->nfingerprints >= CS_REPORT_MAX_FINGERPRINTS - 1) {
    name = "(other)", src = scope = NULL;
    for (size_t i = 0; i < r->nfingerprints; i++)
      if (!strcmp(r->fingerprints[i].name, name) && r->fingerprints[i].optin == optin)
        return &r->fingerprints[i];
  }
  if (r->nfingerprints == *cap) {
    size_t nc = *cap ? *cap * 2 : 16;
    cs_report_fingerprint *v = realloc(r->fingerprints, nc * sizeof *v);
    if (!v) return NULL;
    r->fingerprints = v, *cap = nc;
  }
  cs_report_fingerprint *f = &r->fingerprints[r->nfingerprints];
  memset(f, 0, sizeof *f);
  f->name = cs_arena_strdup(r->arena, name);
  f->source = cs_arena_strdup(r->arena, src);
  f->scope = cs_arena_strdup(r->arena, scope);
  f->optin = optin;
  if (!f->name) return NULL;
  r->nfingerprints++;
  return f;
}

static int cat_cmp(const void *a, const void *b) {
  const cs_report_category *x = a, *y = b;
  if (x->blocked != y->blocked) return x->blocked > y->blocked ? -1 : 1;
  if (x->tested != y->tested) return x->tested > y->tested ? -1 : 1;
  return strcmp(x->code, y->code);
}

static int fp_cmp(const void *a, const void *b) {
  const cs_report_fingerprint *x = a, *y = b;
  if (x->optin != y->optin) return x->optin ? 1 : -1;
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  return strcmp(x->name, y->name);
}

static bool same(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

cs_report *cs_report_compute(cs_store *s, int64_t run_id, char *err, size_t errlen) {
  cs_report *r = calloc(1, sizeof *r);
  cs_store_iter *it = NULL;
  if (!r || !(r->arena = cs_arena_new(0))) {
    if (errlen) snprintf(err, errlen, "out of memory");
    goto fail;
  }
  cs_store_run run;
  int rc = cs_store_run_get(s, run_id, r->arena, &run);
  if (rc) {
    if (errlen)
      snprintf(err, errlen, "run %lld: %s", (long long)run_id,
               rc == CS_STORE_IO ? cs_store_errmsg(s) : cs_store_strerror(rc));
    goto fail;
  }
  r->run_id = run.id;
  r->test_name = run.test_name;
  r->input_list = run.input_list;
  r->started_at = run.started_at;
  r->finished_at = run.finished_at;
  it = cs_store_iter_new(s, run_id);
  if (!it) {
    if (errlen) snprintf(err, errlen, "%s", cs_store_errmsg(s));
    goto fail;
  }
  size_t ccap = 0, fcap = 0;
  bool first = true;
  cs_store_meas m;
  while ((rc = cs_store_iter_next(it, &m)) == 1) {
    cs_report_outcome o = cs_report_classify(&m);
    bool blocked = cs_report_outcome_blocked(o);
    r->tested++;
    r->n[o]++;
    if (blocked) r->blocked++;
    if (blocked && m.blockpage_confirmed == 1) r->confirmed++;
    cs_report_category *c = category_slot(r, m.category_code, &ccap);
    if (!c) goto nomem;
    c->tested++;
    c->n[o]++;
    if (blocked) c->blocked++;
    if (m.blockpage_name && ((blocked && m.blockpage_confirmed == 1) || o == CS_OUT_OPTIN)) {
      cs_report_fingerprint *f = fp_slot(r, &m, o == CS_OUT_OPTIN, &fcap);
      if (!f) goto nomem;
      f->count++;
    }
    if (first) {
      r->probe_cc = cs_arena_strdup(r->arena, m.probe_cc);
      r->probe_asn = cs_arena_strdup(r->arena, m.probe_asn);
    } else {
      if (!same(r->probe_cc, m.probe_cc)) r->mixed_cc = true;
      if (!same(r->probe_asn, m.probe_asn)) r->mixed_asn = true;
    }
    const char *t = m.measurement_start_time;
    if (t && (!r->first_time || strcmp(t, r->first_time) < 0))
      r->first_time = cs_arena_strdup(r->arena, t);
    if (t && (!r->last_time || strcmp(t, r->last_time) > 0))
      r->last_time = cs_arena_strdup(r->arena, t);
    if (m.test_runtime > 0) r->runtime_sum += m.test_runtime;
    first = false;
  }
  if (rc < 0) {
    if (errlen) snprintf(err, errlen, "reading run %lld: %s", (long long)run_id,
                         cs_store_errmsg(s));
    goto fail;
  }
  cs_store_iter_free(it);
  if (r->ncategories) qsort(r->categories, r->ncategories, sizeof *r->categories, cat_cmp);
  if (r->nfingerprints)
    qsort(r->fingerprints, r->nfingerprints, sizeof *r->fingerprints, fp_cmp);
  return r;
nomem:
  if (errlen) snprintf(err, errlen, "out of memory");
fail:
  cs_store_iter_free(it);
  cs_report_free(r);
  return NULL;
}

void cs_report_free(cs_report *r) {
  if (!r) return;
  free(r->categories);
  free(r->fingerprints);
  cs_arena_free(r->arena);
  free(r);
}

int cs_report_format_parse(const char *name, cs_report_format *out) {
  static const struct {
    const char *name;
    cs_report_format f;
  } t[] = {{"text", CS_REPORT_TEXT}, {"json", CS_REPORT_JSON}, {"csv", CS_REPORT_CSV},
           {"html", CS_REPORT_HTML}};
  for (size_t i = 0; i < sizeof t / sizeof *t; i++)
    if (name && !strcasecmp(name, t[i].name)) {
      *out = t[i].f;
      return 0;
    }
  return -1;
}

int cs_report_write(FILE *out, cs_report_format f, const cs_report *r, cs_store *s) {
  int rc;
  switch (f) {
  case CS_REPORT_JSON: rc = cs_report_write_json(out, r, s); break;
  case CS_REPORT_CSV: rc = cs_report_write_csv(out, r, s); break;
  case CS_REPORT_HTML: rc = cs_report_write_html(out, r, s); break;
  case CS_REPORT_TEXT:
  default: rc = cs_report_write_text(out, r, s); break;
  }
  if (fflush(out) != 0 || ferror(out)) rc = -1;
  return rc;
}

/* ---- escaping ---------------------------------------------------------------------------- */

void cs_report_html_escape(FILE *out, const char *s) {
  if (!s) return;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '&': fputs("&amp;", out); break;
    case '<': fputs("&lt;", out); break;
    case '>': fputs("&gt;", out); break;
    case '"': fputs("&quot;", out); break;
    case '\'': fputs("&#39;", out); break;
    default:
      if (*p < 0x20 || *p == 0x7f) fputs("&#xFFFD;", out);
      else fputc(*p, out);
    }
  }
}

void cs_report_csv_field(FILE *out, const char *s) {
  if (!s) return;
  /* Spreadsheets run cells that start with = + - @ (or tab/CR) as formulas: prefix a quote. */
  bool formula = strchr("=+-@\t\r", s[0]) != NULL && s[0];
  fputc('"', out);
  if (formula) fputc('\'', out);
  for (const char *p = s; *p; p++) {
    if (*p == '"') fputc('"', out);
    fputc(*p, out);
  }
  fputc('"', out);
}

void cs_report_text_safe(FILE *out, const char *s) {
  if (!s) return;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, out);
}
