/* report_forensics.c - the "Who and where" section of a report (docs/forensics.md "Report"):
 * for every measurement that carries middlebox evidence, grouped by its blocking method (its
 * outcome key), the injector's family (x_middlebox), the hop and router where the
 * interference sits (x_locate, from `censorscope locate` or web_connectivity's --locate
 * step), and what else the box tampers with (x_resolver_identity, x_tls_interception,
 * x_http_tampering), each with its evidence; in text, JSON and HTML. Every measurement of the
 * run is offered to it (report.c), whatever its nettest; a cheap substring test skips those
 * without any of these keys before anything is parsed. Bounded: CS_FX_MAX_ENTRIES entries
 * (more are counted), strings cut at CS_FX_MAX_STR bytes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/hopcount.h"
#include "record/record.h"
#include "report/report_impl.h"
#include "util/arena.h"

#define CS_FX_MAX_ENTRIES 512
#define CS_FX_MAX_STR 200
#define CS_FX_JSON_ARENA (64u << 20)

typedef struct {
  const char *input, *test_name, *method;
  const char *family, *mb_kind, *mb_reason; /* x_middlebox: the first injected entry */
  int injected;                             /* -1 unknown */
  int64_t seed;                             /* -1 none */
  int hop;                                  /* 0 none */
  const char *router, *placement, *locate_why;
  int dnat; /* x_resolver_identity.dnat: -1 null/absent */
  const char *answered_by, *resolver;
  int hopdiff;     /* x_resolver_identity.hop_difference beyond the tolerance (0: none) */
  int intercepted; /* -1 */
  const char *issuer;
  int tampered; /* -1 */
  const char *tamper_url;
} fx_entry;

struct cs_report_fx {
  fx_entry *v;
  size_t n, cap;
  uint64_t more;
};

static const char *fx_str(cs_report *r, const cs_jval *o, const char *k) {
  const char *s = cs_json_get_str(o, k, NULL);
  if (!s) return NULL;
  size_t n = strlen(s);
  return cs_arena_strndup(r->arena, s, n > CS_FX_MAX_STR ? CS_FX_MAX_STR : n);
}

static int fx_bool(const cs_jval *o, const char *k) {
  const cs_jval *v = cs_json_get(o, k);
  if (!v || v->type != CS_JBOOL) return -1;
  return cs_json_get_bool(o, k, -1);
}

/* Reads one measurement's evidence into e. Returns 1 when there is any, 0 none, -1 memory. */
static int fx_read(cs_report *r, fx_entry *e, const cs_jval *tk) {
  int any = 0;
  const cs_jval *mb = cs_json_get_arr(tk, "x_middlebox");
  for (size_t i = 0; mb && i < mb->len && i < 256; i++) {
    const cs_jval *x = mb->kids[i];
    if (fx_bool(x, "injected") != 1 && !cs_json_get_str(x, "family", NULL)) continue;
    e->injected = fx_bool(x, "injected");
    e->family = fx_str(r, x, "family");
    e->mb_kind = fx_str(r, x, "kind");
    int64_t seed;
    if (cs_json_get_i64(x, "seed", &seed)) e->seed = seed;
    const cs_jval *rs = cs_json_get_arr(x, "reasons");
    if (rs && rs->len && rs->kids[0]->type == CS_JSTR) {
      size_t n = strlen(rs->kids[0]->str);
      e->mb_reason =
          cs_arena_strndup(r->arena, rs->kids[0]->str, n > CS_FX_MAX_STR ? CS_FX_MAX_STR : n);
    }
    any = 1;
    break;
  }
  const cs_jval *lo = cs_json_get_obj(tk, "x_locate");
  if (lo && cs_json_get_int(lo, "hop", 0) > 0) {
    e->hop = cs_json_get_int(lo, "hop", 0);
    if (e->hop > 255) e->hop = 255;
    e->router = fx_str(r, lo, "router");
    e->placement = fx_str(r, lo, "placement");
    e->locate_why = fx_str(r, lo, "why");
    any = 1;
  }
  const cs_jval *ri = cs_json_get_obj(tk, "x_resolver_identity");
  if (ri && fx_bool(ri, "dnat") == 1) {
    e->dnat = 1;
    e->answered_by = fx_str(r, ri, "answered_by");
    e->resolver = fx_str(r, ri, "resolver");
    const cs_jval *hd = cs_json_get(ri, "hop_difference");
    if (hd && hd->type == CS_JNUM && hd->num >= -255 && hd->num <= 255 &&
        hd->num == (double)(int)hd->num &&
        ((int)hd->num > CS_HOP_TOLERANCE || (int)hd->num < -CS_HOP_TOLERANCE))
      e->hopdiff = (int)hd->num;
    any = 1;
  }
  const cs_jval *ti = cs_json_get_obj(tk, "x_tls_interception");
  if (ti && fx_bool(ti, "intercepted") == 1) {
    e->intercepted = 1;
    e->issuer = fx_str(r, ti, "issuer");
    any = 1;
  }
  const cs_jval *ht = cs_json_get_obj(tk, "x_http_tampering");
  if (ht && fx_bool(ht, "tampered") == 1) {
    e->tampered = 1;
    e->tamper_url = fx_str(r, ht, "url");
    any = 1;
  }
  return any;
}

int cs_report_forensics_add(cs_report *r, const cs_report_row *row) {
  size_t len = 0;
  const char *js = row->it ? cs_store_iter_json(row->it, &len) : NULL;
  if (!js || !len || !cs_record_has_forensics(js, len)) return 0;
  cs_arena *a = cs_arena_new(CS_FX_JSON_ARENA);
  if (!a) return -1;
  cs_jval *m = cs_json_parse(a, js, len, NULL, NULL, 0);
  const cs_jval *tk = m ? cs_json_get_obj(m, "test_keys") : NULL;
  int rc = 0;
  if (tk) {
    fx_entry e = {.injected = -1, .seed = -1, .dnat = -1, .intercepted = -1, .tampered = -1};
    rc = fx_read(r, &e, tk);
    if (rc == 1) {
      if (!r->fx && !(r->fx = cs_arena_alloc(r->arena, sizeof *r->fx))) rc = -1;
      struct cs_report_fx *s = r->fx;
      if (rc == 1 && s->n >= CS_FX_MAX_ENTRIES) {
        s->more++;
      } else if (rc == 1) {
        if (s->n == s->cap) {
          size_t nc = s->cap ? s->cap * 2 : 16;
          fx_entry *v = cs_arena_alloc(r->arena, nc * sizeof *v);
          if (!v) rc = -1;
          else {
            if (s->n) memcpy(v, s->v, s->n * sizeof *v);
            s->v = v, s->cap = nc;
          }
        }
        if (rc == 1) {
          e.input = cs_arena_strdup(r->arena, row->m->input ? row->m->input : "");
          e.test_name = cs_arena_strdup(r->arena, row->m->test_name ? row->m->test_name : "");
          e.method = cs_arena_strdup(r->arena, row->key ? row->key : "");
          if (!e.input || !e.test_name || !e.method) rc = -1;
          else s->v[s->n++] = e;
        }
      }
    }
  }
  cs_arena_free(a);
  return rc;
}

/* ---- rendering ------------------------------------------------------------------------- */

static int fx_cmp(const void *x, const void *y) {
  const fx_entry *a = x, *b = y;
  int c = strcmp(a->method, b->method);
  return c ? c : strcmp(a->input, b->input);
}

static void fx_finish(cs_report *r) {
  if (r->fx && r->fx->n) qsort(r->fx->v, r->fx->n, sizeof *r->fx->v, fx_cmp);
}

__attribute__((format(printf, 4, 5))) static void fx_add(char *b, size_t cap, size_t *n,
                                                         const char *fmt, ...) {
  if (*n + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(b + *n, cap - *n, fmt, ap);
  va_end(ap);
  if (k > 0) *n += (size_t)k < cap - *n ? (size_t)k : cap - *n - 1;
}

/* One line of findings (no input, no method) into b. */
static const char *fx_line(char *b, size_t cap, const fx_entry *e) {
  size_t n = 0;
  b[0] = 0;
  if (e->family || e->injected == 1) {
    fx_add(b, cap, &n, "injected %s", e->mb_kind ? e->mb_kind : "packet");
    if (e->family) fx_add(b, cap, &n, ", family %s", e->family);
    if (e->seed >= 0) fx_add(b, cap, &n, " (seed %lld)", (long long)e->seed);
    if (e->mb_reason) fx_add(b, cap, &n, " [%s]", e->mb_reason);
  }
  if (e->hop) {
    fx_add(b, cap, &n, "%shop %d, router %s, %s", n ? "; " : "", e->hop,
           e->router ? e->router : "unknown", e->placement ? e->placement : "?");
    if (e->locate_why) fx_add(b, cap, &n, " [%s]", e->locate_why);
  }
  if (e->dnat == 1)
    fx_add(b, cap, &n, "%sresolver %s answered by %s (DNAT)", n ? "; " : "",
           e->resolver ? e->resolver : "?", e->answered_by ? e->answered_by : "someone else");
  if (e->dnat == 1 && e->hopdiff)
    fx_add(b, cap, &n, ", its DNS replies %d hops %s than its other traffic",
           e->hopdiff > 0 ? e->hopdiff : -e->hopdiff, e->hopdiff > 0 ? "closer" : "farther");
  if (e->intercepted == 1)
    fx_add(b, cap, &n, "%sTLS intercepted, issuer %s", n ? "; " : "", e->issuer ? e->issuer : "?");
  if (e->tampered == 1)
    fx_add(b, cap, &n, "%sdownload tampered (%s)", n ? "; " : "",
           e->tamper_url ? e->tamper_url : "?");
  return b;
}

static void render_text(FILE *o, const struct cs_report_fx *s) {
  fputs("\nWho and where (middlebox forensics)\n", o);
  const char *cur = NULL;
  char b[1024];
  for (size_t i = 0; i < s->n; i++) {
    const fx_entry *e = &s->v[i];
    if (!cur || strcmp(cur, e->method)) {
      cur = e->method;
      size_t k = 0;
      for (size_t j = i; j < s->n && !strcmp(s->v[j].method, cur); j++) k++;
      fprintf(o, "  %s (%zu):\n", cur, k);
    }
    fprintf(o, "    %s [%s]: %s\n", e->input, e->test_name, fx_line(b, sizeof b, e));
  }
  if (s->more) fprintf(o, "  ... and %llu more.\n", (unsigned long long)s->more);
}

static void kint_or_null(cs_jw *w, const char *k, int v) {
  if (v < 0) cs_jw_knull(w, k);
  else cs_jw_kbool(w, k, v == 1);
}

static void render_json(cs_jw *w, const struct cs_report_fx *s) {
  cs_jw_key(w, "who_and_where");
  cs_jw_obj_open(w);
  cs_jw_key(w, "entries");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < s->n; i++) {
    const fx_entry *e = &s->v[i];
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "input", e->input);
    cs_jw_kstr(w, "test_name", e->test_name);
    cs_jw_kstr(w, "method", e->method);
    cs_jw_kstr(w, "family", e->family);
    kint_or_null(w, "injected", e->injected);
    if (e->seed >= 0) cs_jw_kint(w, "seed", e->seed);
    else cs_jw_knull(w, "seed");
    cs_jw_kstr(w, "middlebox_evidence", e->mb_reason);
    if (e->hop) cs_jw_kint(w, "hop", e->hop);
    else cs_jw_knull(w, "hop");
    cs_jw_kstr(w, "router", e->router);
    cs_jw_kstr(w, "placement", e->placement);
    cs_jw_kstr(w, "locate_evidence", e->locate_why);
    kint_or_null(w, "dnat", e->dnat);
    cs_jw_kstr(w, "answered_by", e->answered_by);
    if (e->hopdiff) cs_jw_kint(w, "dnat_hop_difference", e->hopdiff);
    else cs_jw_knull(w, "dnat_hop_difference");
    kint_or_null(w, "tls_intercepted", e->intercepted);
    cs_jw_kstr(w, "issuer", e->issuer);
    kint_or_null(w, "download_tampered", e->tampered);
    cs_jw_obj_close(w);
  }
  cs_jw_arr_close(w);
  cs_jw_kint(w, "more", (int64_t)s->more);
  cs_jw_obj_close(w);
}

static void render_html(FILE *o, const struct cs_report_fx *s) {
  fputs("<h2 id=\"who-and-where\">Who and where</h2>\n<p>Middlebox forensics: which box "
        "injected the packets (its fingerprint family), at which hop of the path it sits "
        "(TTL-limited replay of the trigger), and what else it tampers with.</p>\n"
        "<table id=\"who-and-where-table\"><thead><tr><th>Method</th><th>Input</th>"
        "<th>Nettest</th><th>Findings</th></tr></thead><tbody>\n",
        o);
  char b[1024];
  for (size_t i = 0; i < s->n; i++) {
    const fx_entry *e = &s->v[i];
    fputs("<tr><td>", o);
    cs_report_html_escape(o, e->method);
    fputs("</td><td>", o);
    cs_report_html_escape(o, e->input);
    fputs("</td><td>", o);
    cs_report_html_escape(o, e->test_name);
    fputs("</td><td>", o);
    cs_report_html_escape(o, fx_line(b, sizeof b, e));
    fputs("</td></tr>\n", o);
  }
  fputs("</tbody></table>\n", o);
  if (s->more) fprintf(o, "<p>... and %llu more.</p>\n", (unsigned long long)s->more);
}

static int fx_render(const cs_report_out *out, const cs_report *r) {
  const struct cs_report_fx *s = r->fx;
  if (!s || !s->n) return 0;
  if (!strcmp(out->format, "text")) render_text(out->f, s);
  else if (!strcmp(out->format, "json")) render_json(out->w, s);
  else if (!strcmp(out->format, "html")) render_html(out->f, s);
  return out->f && ferror(out->f) ? -1 : 0;
}

const struct cs_report_section cs_report_forensics_section = {
    .name = "forensics",
    .finish = fx_finish,
    .render = fx_render,
};
