/* report_wc.c - web_connectivity's section of a report: the blockpage fingerprints seen
 * (confirmed censorship pages, and opt-in filters' pages apart), counted in pass 1 and
 * rendered in the text, JSON and HTML formats at their fixed places (docs/report.md). */
#include <stdlib.h>
#include <string.h>

#include "report/report_impl.h"

/* Capacity of the fingerprint array for n entries: grown by doubling from 16. */
static size_t fp_cap(size_t n) {
  size_t c = 16;
  while (c < n) c *= 2;
  return c;
}

static cs_report_fingerprint *fp_slot(cs_report *r, const cs_store_meas *m, bool optin) {
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
  if (r->nfingerprints == 0 || r->nfingerprints == fp_cap(r->nfingerprints)) {
    size_t nc = r->nfingerprints ? r->nfingerprints * 2 : fp_cap(0);
    cs_report_fingerprint *v = realloc(r->fingerprints, nc * sizeof *v);
    if (!v) return NULL;
    r->fingerprints = v;
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

/* A fingerprint counts when it confirms censorship, or names the opt-in filter. */
static int wc_add(cs_report *r, const cs_report_row *row) {
  const cs_store_meas *m = row->m;
  bool optin = row->slot == CS_OUT_OPTIN;
  if (!m->blockpage_name || !((row->censorship && m->blockpage_confirmed == 1) || optin)) return 0;
  cs_report_fingerprint *f = fp_slot(r, m, optin);
  if (!f) return -1;
  f->count++;
  return 0;
}

static int fp_cmp(const void *a, const void *b) {
  const cs_report_fingerprint *x = a, *y = b;
  if (x->optin != y->optin) return x->optin ? 1 : -1;
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  return strcmp(x->name, y->name);
}

static void wc_finish(cs_report *r) {
  if (r->nfingerprints) qsort(r->fingerprints, r->nfingerprints, sizeof *r->fingerprints, fp_cmp);
}

static void render_text(FILE *o, const cs_report *r) {
  for (int pass = 0; pass < 2; pass++) {
    bool header = false;
    for (size_t i = 0; i < r->nfingerprints; i++) {
      const cs_report_fingerprint *f = &r->fingerprints[i];
      if (f->optin != (pass == 1)) continue;
      if (!header)
        fprintf(o, "\n%s\n",
                pass ? "Opt-in filters (a subscriber's choice, not censorship)"
                     : "Confirmed blockpages (fingerprints)");
      header = true;
      fprintf(o, "  %6llu  ", (unsigned long long)f->count);
      cs_report_text_safe(o, f->name);
      if (f->source || f->scope) {
        fputs(" (", o);
        cs_report_text_safe(o, f->source ? f->source : "?");
        if (f->scope) {
          fputs(", scope ", o);
          cs_report_text_safe(o, f->scope);
        }
        fputc(')', o);
      }
      fputc('\n', o);
    }
  }
}

static void render_json(cs_jw *w, const cs_report *r) {
  cs_jw_key(w, "fingerprints");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < r->nfingerprints; i++) {
    const cs_report_fingerprint *f = &r->fingerprints[i];
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "name", f->name);
    cs_jw_kstr(w, "source", f->source);
    cs_jw_kstr(w, "scope", f->scope);
    cs_jw_kbool(w, "optin", f->optin);
    cs_jw_kint(w, "count", (int64_t)f->count);
    cs_jw_obj_close(w);
  }
  cs_jw_arr_close(w);
}

static void fp_table(FILE *o, const cs_report *r, bool optin, const char *id) {
  fprintf(o,
          "<table id=\"%s\"><thead><tr><th>Blockpage fingerprint</th><th>Source</th>"
          "<th>Scope</th><th class=\"num\">URLs</th></tr></thead><tbody>\n",
          id);
  for (size_t i = 0; i < r->nfingerprints; i++) {
    const cs_report_fingerprint *f = &r->fingerprints[i];
    if (f->optin != optin) continue;
    fputs("<tr><td>", o);
    cs_report_html_escape(o, f->name);
    fputs("</td><td>", o);
    cs_report_html_escape(o, f->source);
    fputs("</td><td>", o);
    cs_report_html_escape(o, f->scope);
    fprintf(o, "</td><td class=\"num\">%llu</td></tr>\n", (unsigned long long)f->count);
  }
  fputs("</tbody></table>\n", o);
}

static void render_html(FILE *o, const cs_report *r) {
  fputs("<h2>Confirmed blockpages</h2>\n", o);
  bool any_conf = false, any_optin = false;
  for (size_t i = 0; i < r->nfingerprints; i++)
    *(r->fingerprints[i].optin ? &any_optin : &any_conf) = true;
  if (any_conf) {
    fputs("<p>Pages matching a published fingerprint of a national or ISP blockpage (OONI, "
          "Citizen Lab, Censored Planet lists).</p>\n",
          o);
    fp_table(o, r, false, "fingerprints");
  } else {
    fputs("<p id=\"fingerprints\">No known blockpage was seen.</p>\n", o);
  }
  if (any_optin) {
    fputs("<h2>Opt-in filters (not censorship)</h2>\n<p>These pages come from a filtering "
          "service the subscriber can switch on or off.</p>\n",
          o);
    fp_table(o, r, true, "optin-fingerprints");
  }
}

static int wc_render(const cs_report_out *out, const cs_report *r) {
  if (!strcmp(out->format, "text")) render_text(out->f, r);
  else if (!strcmp(out->format, "json")) render_json(out->w, r);
  else if (!strcmp(out->format, "html")) render_html(out->f, r);
  return out->f && ferror(out->f) ? -1 : 0;
}

const struct cs_report_section cs_report_wc_section = {
    .name = "web_connectivity",
    .add = wc_add,
    .finish = wc_finish,
    .render = wc_render,
};
