/* report_apps.c - the "Apps and platforms" section of a report (issue 12): for each app or
 * platform measured (whatsapp, telegram, signal, facebook_messenger, and the platforms X,
 * YouTube, Facebook, Instagram...) and each of its functions, the verdict and how it was
 * blocked, read from the measurement's x_functions and x_endpoints (contract in docs/apps.md,
 * rendering in docs/report.md). One implementation behind one section struct per nettest name
 * (cs_report_whatsapp_section ...); the report counts them as one section (report.c
 * add_section: same add), so a run mixing app nettests shows one matrix and one CSV column.
 *
 * Everything read from a measurement is hostile: bounded counts (CS_REPORT_APPS_MAX apps,
 * CS_REPORT_APPS_MAX_FN functions each), strings cut to a fixed length, escaped by each
 * format. A measurement whose JSON is not available (a scratch store keeps it for these
 * nettests: store.c) or not readable still counts with its outcome, marked "no details". */
#include <stdlib.h>
#include <string.h>

#include "report/report_impl.h"

#define CS_REPORT_APPS_MAX 16    /* apps and platforms in one report; more are counted apart */
#define CS_REPORT_APPS_MAX_FN 16 /* functions of one app */
#define NAME_MAX_LEN 40          /* app and function names, verdicts, methods */
#define TEXT_MAX_LEN 120         /* labels, failure strings */

typedef struct {
  const char *function, *label, *verdict, *method, *failure; /* method, failure may be NULL */
  int64_t endpoints_ok, endpoints_failed, endpoints_down, control_ok; /* -1: not recorded */
} app_fn;

typedef struct {
  const char *app, *test_name, *outcome, *time; /* of the latest measurement */
  int64_t meas_id;                              /* the measurement that last set it */
  uint64_t measurements;
  bool details; /* the latest measurement's x_functions could be read */
  app_fn fn[CS_REPORT_APPS_MAX_FN];
  size_t nfn;
  size_t fn_dropped; /* functions beyond the cap */
} app_row;

struct cs_report_apps {
  app_row app[CS_REPORT_APPS_MAX];
  size_t napps;
  uint64_t apps_dropped; /* measurements with an app beyond the cap */
  int64_t seq;           /* a number per measurement added (rows may share a store id 0) */
};

/* A copy of s cut to max bytes (at a UTF-8 boundary), or NULL when s is NULL. */
static const char *cut(cs_arena *a, const char *s, size_t max, bool *nomem) {
  if (!s) return NULL;
  size_t n = strnlen(s, max + 1);
  if (n > max) {
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
  }
  char *c = cs_arena_strndup(a, s, n);
  if (!c) *nomem = true;
  return c;
}

static int64_t get_count(const cs_jval *o, const char *key) {
  int64_t v;
  if (!cs_json_get_i64(o, key, &v) || v < 0) return -1;
  return v;
}

/* The failure that tells how function fn of app was blocked: the first of its endpoints that
 * failed while the control reached it (or with no control view), else its first failure. An
 * endpoint without "app" belongs to every app (a single-app measurement). */
static const char *fn_failure(const cs_jval *eps, const char *app, const char *fn) {
  const char *any = NULL;
  for (size_t i = 0; eps && i < eps->len; i++) {
    const cs_jval *e = eps->kids[i];
    const char *f = cs_json_get_str(e, "failure", NULL);
    const char *ea = cs_json_get_str(e, "app", NULL);
    if (!f || strcmp(cs_json_get_str(e, "function", ""), fn) || (ea && strcmp(ea, app))) continue;
    if (cs_json_get_bool(e, "control_ok", -1) != 0) return f;
    if (!any) any = f;
  }
  return any;
}

/* The app a measurement is about when its functions do not say: test_keys.x_app, else the
 * input of a platforms measurement, else the nettest's name. */
static const char *app_name(const cs_jval *tk, const cs_store_meas *m) {
  const char *a = cs_json_get_str(tk, "x_app", NULL);
  if (a && *a) return a;
  if (m->test_name && !strcmp(m->test_name, "platforms") && m->input && *m->input) return m->input;
  return m->test_name ? m->test_name : "?";
}

/* The row of app (name already cut), created or reset for measurement seq; NULL when full. */
static app_row *app_slot(struct cs_report_apps *ap, const char *app, int64_t seq) {
  app_row *a = NULL;
  for (size_t i = 0; i < ap->napps && !a; i++)
    if (!strcmp(ap->app[i].app, app)) a = &ap->app[i];
  if (!a) {
    if (ap->napps == CS_REPORT_APPS_MAX) return NULL;
    a = &ap->app[ap->napps++];
    *a = (app_row){.app = app};
  }
  if (a->meas_id != seq) { /* the latest measurement of an app is the one shown */
    uint64_t n = a->measurements + 1;
    *a = (app_row){.app = a->app, .meas_id = seq, .measurements = n};
  }
  return a;
}

/* Verdicts from best to worst: an app's outcome in a measurement of several apps is its
 * worst function's verdict. */
static int verdict_rank(const char *v) {
  static const char *const order[] = {"ok", "unknown", "down", "partial", "blocked"};
  for (int i = 0; i < 5; i++)
    if (v && !strcmp(v, order[i])) return i;
  return 1;
}

static int apps_add(cs_report *r, const cs_report_row *row) {
  if (!r->apps && !(r->apps = cs_arena_alloc(r->arena, sizeof *r->apps))) return -1;
  struct cs_report_apps *ap = r->apps;
  const cs_store_meas *m = row->m;
  int64_t seq = ++ap->seq;
  size_t len = 0;
  const char *json = row->it ? cs_store_iter_json(row->it, &len) : NULL;
  cs_arena *tmp = cs_arena_new(0);
  if (!tmp) return -1;
  const cs_jval *v = NULL;
  if (json && len) v = cs_json_parse(tmp, json, len, NULL, NULL, 0);
  const cs_jval *tk = cs_json_get_obj(v, "test_keys");
  const cs_jval *fns = cs_json_get_arr(tk, "x_functions");
  const cs_jval *eps = cs_json_get_arr(tk, "x_endpoints");
  bool nomem = false;
  const char *deflt = app_name(tk, m);
  /* one app or several (platforms): then each app's outcome is its worst verdict */
  bool several = false;
  for (size_t i = 0; fns && i < fns->len && !several; i++) {
    const char *fa = cs_json_get_str(fns->kids[i], "app", NULL);
    several = fa && strcmp(fa, cs_json_get_str(fns->kids[0], "app", deflt));
  }
  const char *test_name = cut(r->arena, m->test_name, NAME_MAX_LEN, &nomem);
  const char *outcome = cut(r->arena, row->key, NAME_MAX_LEN, &nomem);
  const char *time = cut(r->arena, m->measurement_start_time, NAME_MAX_LEN, &nomem);
  size_t k = 0;
  bool dropped = false;
  do { /* at least once: a measurement without functions still lists its app */
    const cs_jval *f = fns && k < fns->len ? fns->kids[k] : NULL;
    const char *fname = f ? cs_json_get_str(f, "function", NULL) : NULL;
    if (f && (!fname || !*fname)) continue;
    const char *an =
        cut(r->arena, f ? cs_json_get_str(f, "app", deflt) : deflt, NAME_MAX_LEN, &nomem);
    app_row *a = an && *an ? app_slot(ap, an, seq) : NULL;
    if (!a) {
      if (an && *an && !dropped) ap->apps_dropped++, dropped = true;
      continue;
    }
    a->test_name = test_name, a->time = time, a->details = fns != NULL;
    if (!a->outcome) a->outcome = several && f ? "ok" : outcome;
    if (!f) continue;
    if (a->nfn == CS_REPORT_APPS_MAX_FN) {
      a->fn_dropped++;
      continue;
    }
    app_fn *o = &a->fn[a->nfn++];
    o->function = cut(r->arena, fname, NAME_MAX_LEN, &nomem);
    o->label = cut(r->arena, cs_json_get_str(f, "label", NULL), TEXT_MAX_LEN, &nomem);
    o->verdict = cut(r->arena, cs_json_get_str(f, "verdict", "unknown"), NAME_MAX_LEN, &nomem);
    o->method = cut(r->arena, cs_json_get_str(f, "method", NULL), NAME_MAX_LEN, &nomem);
    o->endpoints_ok = get_count(f, "endpoints_ok");
    o->endpoints_failed = get_count(f, "endpoints_failed");
    o->endpoints_down = get_count(f, "endpoints_down");
    o->control_ok = get_count(f, "control_ok");
    if (o->verdict && strcmp(o->verdict, "ok"))
      o->failure = cut(r->arena, fn_failure(eps, an, fname), TEXT_MAX_LEN, &nomem);
    if (several && o->verdict && verdict_rank(o->verdict) > verdict_rank(a->outcome))
      a->outcome = o->verdict;
  } while (fns && ++k < fns->len && !nomem);
  cs_arena_free(tmp);
  return nomem ? -1 : 0;
}

/* ---- rendering ---------------------------------------------------------------------------- */

static const char *display_name(const char *app) {
  static const struct {
    const char *key, *name;
  } names[] = {{"whatsapp", "WhatsApp"},
               {"telegram", "Telegram"},
               {"signal", "Signal"},
               {"facebook_messenger", "Facebook Messenger"},
               {"x", "X"},
               {"youtube", "YouTube"},
               {"facebook", "Facebook"},
               {"instagram", "Instagram"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(names[i].key, app)) return names[i].name;
  return app;
}

static const char *verdict_colour(const char *v) {
  if (!strcmp(v, "ok")) return "#d4efdf";
  if (!strcmp(v, "blocked")) return "#f5b7b1";
  if (!strcmp(v, "partial")) return "#fad7a0";
  if (!strcmp(v, "down")) return "#d5d8dc";
  return "#eeeeee"; /* unknown, or a verdict this report does not know */
}

static void render_text(FILE *o, const struct cs_report_apps *ap, const cs_report *r) {
  fputs("\nApps and platforms (per function: verdict, how it was blocked, endpoints)\n", o);
  for (size_t i = 0; i < ap->napps; i++) {
    const app_row *a = &ap->app[i];
    fputs("  ", o);
    cs_report_text_safe(o, display_name(a->app));
    fputs(": ", o);
    const char *label = cs_report_label(a->test_name, a->outcome);
    cs_report_text_safe(o, label);
    if (strcmp(label, a->outcome)) { /* the key too, when the label is not it */
      fputs(" [", o);
      cs_report_text_safe(o, a->outcome);
      fputc(']', o);
    }
    if (a->measurements > 1)
      fprintf(o, " (latest of %llu measurements)", (unsigned long long)a->measurements);
    if (!a->details) fputs(" (no per-function details)", o);
    fputc('\n', o);
    for (size_t k = 0; k < a->nfn; k++) {
      const app_fn *f = &a->fn[k];
      fputs("    ", o);
      cs_report_text_safe(o, f->function);
      fputs(": ", o);
      cs_report_text_safe(o, f->verdict);
      if (f->method || f->failure) {
        fputs(" by ", o);
        cs_report_text_safe(o, f->method ? f->method : "?");
        if (f->failure) {
          fputs(" (", o);
          cs_report_text_safe(o, f->failure);
          fputc(')', o);
        }
      }
      if (f->endpoints_ok >= 0 && f->endpoints_failed >= 0)
        fprintf(o, ", %lld of %lld endpoints ok", (long long)f->endpoints_ok,
                (long long)f->endpoints_ok + (long long)f->endpoints_failed);
      if (f->endpoints_down > 0)
        fprintf(o, ", %lld down for the control too", (long long)f->endpoints_down);
      if (f->control_ok >= 0) fprintf(o, ", control reached %lld", (long long)f->control_ok);
      if (f->label) {
        fputs(" - ", o);
        cs_report_text_safe(o, f->label);
      }
      fputc('\n', o);
    }
    if (a->fn_dropped) fprintf(o, "    (%zu more functions not shown)\n", a->fn_dropped);
  }
  if (ap->apps_dropped)
    fprintf(o, "  (%llu measurements of further apps not shown)\n",
            (unsigned long long)ap->apps_dropped);
  (void)r;
}

static void kcount(cs_jw *w, const char *k, int64_t v) {
  if (v < 0) cs_jw_knull(w, k);
  else cs_jw_kint(w, k, v);
}

static void render_json(cs_jw *w, const struct cs_report_apps *ap) {
  cs_jw_key(w, "apps");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < ap->napps; i++) {
    const app_row *a = &ap->app[i];
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "app", a->app);
    cs_jw_kstr(w, "name", display_name(a->app));
    cs_jw_kstr(w, "test_name", a->test_name);
    cs_jw_kstr(w, "outcome", a->outcome);
    cs_jw_kstr(w, "measurement_start_time", a->time);
    cs_jw_kint(w, "measurements", (int64_t)a->measurements);
    cs_jw_kbool(w, "details", a->details);
    cs_jw_key(w, "functions");
    cs_jw_arr_open(w);
    for (size_t k = 0; k < a->nfn; k++) {
      const app_fn *f = &a->fn[k];
      cs_jw_obj_open(w);
      cs_jw_kstr(w, "function", f->function);
      cs_jw_kstr(w, "label", f->label);
      cs_jw_kstr(w, "verdict", f->verdict);
      cs_jw_kstr(w, "method", f->method);
      cs_jw_kstr(w, "failure", f->failure);
      kcount(w, "endpoints_ok", f->endpoints_ok);
      kcount(w, "endpoints_failed", f->endpoints_failed);
      kcount(w, "endpoints_down", f->endpoints_down);
      kcount(w, "control_ok", f->control_ok);
      cs_jw_obj_close(w);
    }
    cs_jw_arr_close(w);
    cs_jw_kint(w, "functions_not_shown", (int64_t)a->fn_dropped);
    cs_jw_obj_close(w);
  }
  cs_jw_arr_close(w);
  cs_jw_kint(w, "apps_not_shown", (int64_t)ap->apps_dropped);
}

/* The matrix's columns: every function name, in order of first appearance. */
#define MAX_COLUMNS (CS_REPORT_APPS_MAX * CS_REPORT_APPS_MAX_FN)
static size_t columns(const struct cs_report_apps *ap, const char **col) {
  size_t n = 0;
  for (size_t i = 0; i < ap->napps; i++)
    for (size_t k = 0; k < ap->app[i].nfn; k++) {
      const char *f = ap->app[i].fn[k].function;
      size_t j = 0;
      while (j < n && strcmp(col[j], f)) j++;
      if (j == n) col[n++] = f;
    }
  return n;
}

static const app_fn *fn_of(const app_row *a, const char *f) {
  for (size_t k = 0; k < a->nfn; k++)
    if (!strcmp(a->fn[k].function, f)) return &a->fn[k];
  return NULL;
}

static void html_cell(FILE *o, const app_fn *f) {
  fprintf(o, "<td class=\"fn\" data-verdict=\"");
  cs_report_html_escape(o, f->verdict);
  fprintf(o, "\" style=\"background:%s\" title=\"", verdict_colour(f->verdict));
  cs_report_html_escape(o, f->label ? f->label : f->function);
  if (f->failure) {
    fputs(": ", o);
    cs_report_html_escape(o, f->failure);
  }
  fputs("\"><b>", o);
  cs_report_html_escape(o, f->verdict);
  fputs("</b>", o);
  if (f->method) {
    fputs("<br><small>by ", o);
    cs_report_html_escape(o, f->method);
    fputs("</small>", o);
  }
  fputs("</td>", o);
}

static void render_html(FILE *o, const struct cs_report_apps *ap, const cs_report *r) {
  static const char *col[MAX_COLUMNS];
  size_t nc = columns(ap, col);
  fputs("<h2 id=\"apps\">Apps and platforms</h2>\n<p>Each app or platform is tested function "
        "by function (its endpoints as listed in its endpoint file). A cell says whether the "
        "function works from this network (<b>ok</b>), is cut (<b>blocked</b>), works only "
        "through some of its endpoints while the control reaches all (<b>partial</b>), is down "
        "for the control too (<b>down</b>), or cannot be told (<b>unknown</b>), and how it was "
        "blocked (dns, tcp, tls, http, stun).</p>\n",
        o);
  fputs("<table id=\"apps-matrix\"><thead><tr><th>App / platform</th><th>Outcome</th>", o);
  for (size_t j = 0; j < nc; j++) {
    fputs("<th>", o);
    cs_report_html_escape(o, col[j]);
    fputs("</th>", o);
  }
  fputs("</tr></thead><tbody>\n", o);
  for (size_t i = 0; i < ap->napps; i++) {
    const app_row *a = &ap->app[i];
    fputs("<tr data-app=\"", o);
    cs_report_html_escape(o, a->app);
    fputs("\"><th>", o);
    cs_report_html_escape(o, display_name(a->app));
    fputs("</th><td data-outcome=\"", o);
    cs_report_html_escape(o, a->outcome);
    fputs("\">", o);
    cs_report_html_escape(o, cs_report_label(a->test_name, a->outcome));
    if (!a->details) fputs(" <small>(no per-function details)</small>", o);
    fputs("</td>", o);
    for (size_t j = 0; j < nc; j++) {
      const app_fn *f = fn_of(a, col[j]);
      if (f) html_cell(o, f);
      else fputs("<td class=\"na\">&ndash;</td>", o);
    }
    fputs("</tr>\n", o);
  }
  fputs("</tbody></table>\n", o);
  /* the details: one row per function */
  fputs("<table id=\"apps-functions\"><thead><tr><th>App / platform</th><th>Function</th>"
        "<th>Verdict</th><th>How</th><th class=\"num\">Endpoints ok</th>"
        "<th class=\"num\">Endpoints failed</th><th class=\"num\">Control ok</th></tr></thead>"
        "<tbody>\n",
        o);
  for (size_t i = 0; i < ap->napps; i++) {
    const app_row *a = &ap->app[i];
    for (size_t k = 0; k < a->nfn; k++) {
      const app_fn *f = &a->fn[k];
      fputs("<tr><td>", o);
      cs_report_html_escape(o, display_name(a->app));
      fputs("</td><td>", o);
      cs_report_html_escape(o, f->label ? f->label : f->function);
      fputs(" <small>(", o);
      cs_report_html_escape(o, f->function);
      fprintf(o, ")</small></td><td style=\"background:%s\">", verdict_colour(f->verdict));
      cs_report_html_escape(o, f->verdict);
      fputs("</td><td>", o);
      cs_report_html_escape(o, f->method ? f->method : "");
      if (f->failure) {
        fputs(" <code>", o);
        cs_report_html_escape(o, f->failure);
        fputs("</code>", o);
      }
      fputs("</td>", o);
      int64_t c[3] = {f->endpoints_ok, f->endpoints_failed, f->control_ok};
      for (int j = 0; j < 3; j++)
        if (c[j] < 0) fputs("<td class=\"num\">?</td>", o);
        else fprintf(o, "<td class=\"num\">%lld</td>", (long long)c[j]);
      fputs("</tr>\n", o);
    }
  }
  fputs("</tbody></table>\n", o);
  if (ap->apps_dropped)
    fprintf(o, "<p class=\"note\">%llu measurements of further apps are not shown.</p>\n",
            (unsigned long long)ap->apps_dropped);
  (void)r;
}

static int render(const cs_report_out *out, const cs_report *r) {
  if (!r->apps) return 0;
  if (!strcmp(out->format, "text")) render_text(out->f, r->apps, r);
  else if (!strcmp(out->format, "json")) render_json(out->w, r->apps);
  else if (!strcmp(out->format, "html")) render_html(out->f, r->apps, r);
  return out->f && ferror(out->f) ? -1 : 0;
}

/* CSV: one cell per row, on an app nettest's row its functions as
 * "[APP/]FUNCTION=VERDICT[:METHOD]" joined by ';' (the app named when the measurement covers
 * several), cut at CSV_CELL_MAX bytes; empty on other nettests' rows. */
#define CSV_CELL_MAX 4096
static void csv_cells(FILE *o, const cs_report *r, const cs_report_row *row) {
  (void)r;
  fputc(',', o);
  if (!cs_report_apps_section_of(row->m->test_name) || !row->it) return;
  size_t len = 0;
  const char *json = cs_store_iter_json(row->it, &len);
  cs_arena *a = json && len ? cs_arena_new(0) : NULL;
  if (!a) return;
  const cs_jval *v = cs_json_parse(a, json, len, NULL, NULL, 0);
  const cs_jval *fns = cs_json_get_arr(cs_json_get_obj(v, "test_keys"), "x_functions");
  char cell[CSV_CELL_MAX];
  size_t n = 0;
  const char *app0 = fns && fns->len ? cs_json_get_str(fns->kids[0], "app", "") : "";
  bool several = false;
  for (size_t i = 0; fns && i < fns->len; i++)
    several |= strcmp(cs_json_get_str(fns->kids[i], "app", ""), app0) != 0;
  for (size_t i = 0; fns && i < fns->len && n < sizeof cell; i++) {
    const cs_jval *f = fns->kids[i];
    const char *method = cs_json_get_str(f, "method", NULL);
    int w = snprintf(cell + n, sizeof cell - n, "%s%s%s%s=%s%s%s", n ? ";" : "",
                     several ? cs_json_get_str(f, "app", "") : "", several ? "/" : "",
                     cs_json_get_str(f, "function", "?"), cs_json_get_str(f, "verdict", "unknown"),
                     method ? ":" : "", method ? method : "");
    if (w < 0) break;
    n += (size_t)w;
  }
  if (n >= sizeof cell) n = sizeof cell - 1;
  cell[n] = 0;
  if (n) cs_report_csv_field(o, cell);
  cs_arena_free(a);
}

#define APPS_SECTION(nm)                                                                           \
  const struct cs_report_section cs_report_##nm##_section = {.name = #nm,                          \
                                                             .add = apps_add,                      \
                                                             .render = render,                     \
                                                             .csv_columns = ",x_functions",        \
                                                             .csv_cells = csv_cells};

APPS_SECTION(whatsapp)
APPS_SECTION(telegram)
APPS_SECTION(signal)
APPS_SECTION(facebook_messenger)
APPS_SECTION(platforms)

const struct cs_report_section *cs_report_apps_section_of(const char *test_name) {
  static const struct cs_report_section *const all[] = {
      &cs_report_whatsapp_section, &cs_report_telegram_section, &cs_report_signal_section,
      &cs_report_facebook_messenger_section, &cs_report_platforms_section};
  for (size_t i = 0; test_name && i < sizeof all / sizeof all[0]; i++)
    if (!strcmp(all[i]->name, test_name)) return all[i];
  return NULL;
}
