/* report.c - the outcome slots, the run visitor, aggregation (pass 1), the renderer table
 * and the helpers the renderers share. */
#include "report/report_impl.h"

#include "nettests/registry.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *cs_report_outcome_key(cs_report_outcome o) {
  return o < CS_OUT_N ? cs_wc_outcome_defs[o].key : "?";
}
const char *cs_report_outcome_label(cs_report_outcome o) {
  return o < CS_OUT_N ? cs_wc_outcome_defs[o].label : "?";
}
bool cs_report_outcome_blocked(cs_report_outcome o) {
  return o < CS_OUT_N && cs_wc_outcome_defs[o].censorship;
}
cs_report_outcome cs_report_outcome_slot(const char *key) {
  const cs_outcome_def *d = cs_outcome_def_find(cs_wc_outcome_defs, cs_wc_noutcome_defs, key);
  return d ? (cs_report_outcome)(d - cs_wc_outcome_defs) : CS_OUT_N;
}

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

/* ---- nettests: labels, sections, outcomes of measurements that carry none ---------------- */

/* The nettest of a stored measurement: web_connectivity for rows without a test_name (ours
 * before schema 2 kept it everywhere). */
static bool is_wc(const char *test_name) {
  return !test_name || !strcmp(test_name, "web_connectivity");
}
static const cs_nettest *nettest_of(const char *test_name) {
  return cs_nettest_find(test_name ? test_name : "web_connectivity");
}

const char *cs_report_label(const char *test_name, const char *key) {
  const cs_nettest *nt = nettest_of(test_name);
  const cs_outcome_def *d = nt ? cs_outcome_def_find(nt->outcomes, nt->noutcomes, key) : NULL;
  if (d) return d->label;
  cs_report_outcome o = cs_report_outcome_slot(key);
  return o < CS_OUT_N ? cs_report_outcome_label(o) : key;
}

const struct cs_report_section *cs_report_section_of(const char *test_name) {
  const cs_nettest *nt = nettest_of(test_name);
  if (nt && nt->report) return nt->report;
  if (test_name && !strcmp(test_name, "throttling")) return &cs_report_throttling_section;
  const struct cs_report_section *apps = cs_report_apps_section_of(test_name);
  if (apps) return apps; /* also for imported measurements of OONI's app tests */
  return is_wc(test_name) ? &cs_report_wc_section : NULL;
}

int cs_report_analyzer(void *ctx, cs_arena *a, const cs_jval *m, const cs_store_meas *cols,
                       cs_outcome *out) {
  (void)ctx;
  if (is_wc(cols->test_name)) { /* the recorded verdict, not a re-analysis */
    cs_wc_summary s;
    cs_report_wc_summary(cols, &s);
    return cs_wc_outcome_compute(a, &s, out);
  }
  const cs_nettest *nt = nettest_of(cols->test_name);
  if (!nt || !nt->analyze) return -1;
  static const cs_analysis_opts opts = {0};
  return nt->analyze(a, m, &opts, NULL, out);
}

/* ---- the run visitor --------------------------------------------------------------------- */

int cs_report_each(cs_store *s, int64_t run_id, cs_report_rows which,
                   int (*fn)(void *ctx, const cs_report_row *row), void *ctx) {
  cs_store_iter *it = cs_store_iter_new(s, run_id);
  if (!it) return -1;
  cs_store_meas m;
  int rc, ret = 0;
  while (!ret && (rc = cs_store_iter_next(it, &m)) == 1) {
    cs_report_row row = {.m = &m,
                         .key = m.outcome,
                         .censorship = m.censorship == 1,
                         .evidence = m.evidence ? m.evidence : "",
                         .it = it};
    row.slot = cs_report_outcome_slot(row.key);
    row.label = cs_report_label(m.test_name, row.key);
    if (which == CS_REPORT_ROWS_BLOCKED && !row.censorship) continue;
    if (which == CS_REPORT_ROWS_OPTIN && row.slot != CS_OUT_OPTIN) continue;
    ret = fn(ctx, &row);
  }
  if (!ret && rc < 0) ret = -1;
  cs_store_iter_free(it);
  return ret;
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

static cs_report_other *other_slot(cs_report *r, const cs_report_row *row, size_t *cap) {
  const char *key = row->key;
  for (size_t i = 0; i < r->nothers; i++)
    if (!strcmp(r->others[i].key, key)) return &r->others[i];
  if (r->nothers >= CS_REPORT_MAX_OTHERS - 1) {
    key = "(other)";
    for (size_t i = 0; i < r->nothers; i++)
      if (!strcmp(r->others[i].key, key)) return &r->others[i];
  }
  if (r->nothers == *cap) {
    size_t nc = *cap ? *cap * 2 : 8;
    cs_report_other *v = realloc(r->others, nc * sizeof *v);
    if (!v) return NULL;
    r->others = v, *cap = nc;
  }
  cs_report_other *o = &r->others[r->nothers];
  *o = (cs_report_other){.key = cs_arena_strdup(r->arena, key),
                         .label = cs_arena_strdup(r->arena, key == row->key ? row->label : key),
                         .censorship = row->censorship};
  if (!o->key || !o->label) return NULL;
  r->nothers++;
  return o;
}

static int cat_cmp(const void *a, const void *b) {
  const cs_report_category *x = a, *y = b;
  if (x->blocked != y->blocked) return x->blocked > y->blocked ? -1 : 1;
  if (x->tested != y->tested) return x->tested > y->tested ? -1 : 1;
  return strcmp(x->code, y->code);
}

static bool same(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

/* Pass 1: one measurement. */
typedef struct {
  cs_report *r;
  size_t ccap, ocap;
  bool first, nomem;
} pass1;

/* Sections sharing one implementation (the apps': one struct per nettest name, one add) are
 * one section of the report: the first of them stands for all (one matrix, one CSV column). */
static bool add_section(cs_report *r, const struct cs_report_section *sec) {
  for (size_t i = 0; i < r->nsections; i++)
    if (r->sections[i] == sec || (sec->add && r->sections[i]->add == sec->add)) return true;
  if (r->nsections == CS_REPORT_MAX_SECTIONS) return false;
  r->sections[r->nsections++] = sec;
  return true;
}

static int count_row(void *ctx, const cs_report_row *row) {
  pass1 *p = ctx;
  cs_report *r = p->r;
  const cs_store_meas *m = row->m;
  bool blocked = row->censorship;
  r->tested++;
  if (row->slot < CS_OUT_N) {
    r->n[row->slot]++;
  } else {
    cs_report_other *o = other_slot(r, row, &p->ocap);
    if (!o) goto nomem;
    o->count++;
  }
  if (blocked) r->blocked++;
  if (blocked && m->blockpage_confirmed == 1) r->confirmed++;
  cs_report_category *c = category_slot(r, m->category_code, &p->ccap);
  if (!c) goto nomem;
  c->tested++;
  if (row->slot < CS_OUT_N) c->n[row->slot]++;
  if (blocked) c->blocked++;
  const struct cs_report_section *sec = cs_report_section_of(m->test_name);
  if (sec && add_section(r, sec) && sec->add && sec->add(r, row) < 0) goto nomem;
  int fx = cs_report_forensics_add(r, row); /* any nettest's middlebox evidence */
  if (fx < 0) goto nomem;
  if (fx > 0) add_section(r, &cs_report_forensics_section);
  if (p->first) {
    r->probe_cc = cs_arena_strdup(r->arena, m->probe_cc);
    r->probe_asn = cs_arena_strdup(r->arena, m->probe_asn);
  } else {
    if (!same(r->probe_cc, m->probe_cc)) r->mixed_cc = true;
    if (!same(r->probe_asn, m->probe_asn)) r->mixed_asn = true;
  }
  const char *t = m->measurement_start_time;
  if (t && (!r->first_time || strcmp(t, r->first_time) < 0))
    r->first_time = cs_arena_strdup(r->arena, t);
  if (t && (!r->last_time || strcmp(t, r->last_time) > 0))
    r->last_time = cs_arena_strdup(r->arena, t);
  if (m->test_runtime > 0) r->runtime_sum += m->test_runtime;
  p->first = false;
  return 0;
nomem:
  p->nomem = true;
  return 1;
}

cs_report *cs_report_compute(cs_store *s, int64_t run_id, char *err, size_t errlen) {
  cs_report *r = calloc(1, sizeof *r);
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
  /* web_connectivity's section always comes first: the fixed layout of every format */
  r->sections[r->nsections++] = &cs_report_wc_section;
  pass1 p = {.r = r, .first = true};
  rc = cs_report_each(s, run_id, CS_REPORT_ROWS_ALL, count_row, &p);
  if (p.nomem) {
    if (errlen) snprintf(err, errlen, "out of memory");
    goto fail;
  }
  if (rc) {
    if (errlen)
      snprintf(err, errlen, "reading run %lld: %s", (long long)run_id, cs_store_errmsg(s));
    goto fail;
  }
  if (r->ncategories) qsort(r->categories, r->ncategories, sizeof *r->categories, cat_cmp);
  for (size_t i = 0; i < r->nsections; i++)
    if (r->sections[i]->finish) r->sections[i]->finish(r);
  return r;
fail:
  cs_report_free(r);
  return NULL;
}

int cs_report_sections_render(const cs_report_out *out, const cs_report *r) {
  for (size_t i = 0; i < r->nsections; i++)
    if (r->sections[i]->render && r->sections[i]->render(out, r) < 0) return -1;
  return 0;
}

void cs_report_free(cs_report *r) {
  if (!r) return;
  free(r->categories);
  free(r->fingerprints);
  free(r->others);
  cs_arena_free(r->arena);
  free(r);
}

/* ---- renderers ---------------------------------------------------------------------------- */

static const cs_report_renderer *const renderers[] = {
    &cs_report_render_text,
    &cs_report_render_json,
    &cs_report_render_csv,
    &cs_report_render_html,
};

cs_report_format cs_report_format_at(size_t i) {
  return i < sizeof renderers / sizeof *renderers ? renderers[i] : NULL;
}

const char *cs_report_format_name(cs_report_format f) { return f ? f->name : NULL; }

int cs_report_format_parse(const char *name, cs_report_format *out) {
  for (size_t i = 0; name && i < sizeof renderers / sizeof *renderers; i++)
    if (!strcasecmp(name, renderers[i]->name)) {
      *out = renderers[i];
      return 0;
    }
  return -1;
}

int cs_report_write(FILE *out, cs_report_format f, const cs_report *r, cs_store *s) {
  int rc = (f ? f : renderers[0])->write(out, r, s);
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
