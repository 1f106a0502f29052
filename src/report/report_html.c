/* report_html.c - the report as ONE self-contained HTML file: inline CSS, inline SVG charts
 * drawn here, no script, no external resource (a Content-Security-Policy forbids them too),
 * so it can be mailed and opened offline. Every string that comes from a measurement is
 * escaped with cs_report_html_escape; URLs are shown as text, never as links. */
#include <string.h>

#include "report/report_impl.h"

#define CS_REPORT_VERSION_TEXT "censorscope"

static const char css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    "margin:0;color:#1d2330;background:#f6f7f9;line-height:1.45}"
    "main{max-width:1040px;margin:0 auto;padding:24px 28px 48px;background:#fff}"
    "h1{font-size:1.7em;margin:.2em 0 .1em}h2{font-size:1.25em;margin:1.8em 0 .5em;"
    "border-bottom:2px solid #e3e6eb;padding-bottom:.2em}"
    ".sub{color:#5a6272;margin:0 0 1em}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:18px 0}"
    ".card{flex:1 1 150px;border:1px solid #e3e6eb;border-radius:8px;padding:12px 14px}"
    ".card .n{font-size:2em;font-weight:700;display:block}"
    ".card.blocked .n{color:#c0392b}.card.ok .n{color:#1e8449}.card.conf .n{color:#7d3c98}"
    ".card .l{color:#5a6272;font-size:.9em}"
    "table{border-collapse:collapse;width:100%;font-size:.92em;margin:.4em 0 1em}"
    "th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e6eb;vertical-align:top}"
    "th{background:#f0f2f5;font-weight:600}td.num,th.num{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    "td.url{word-break:break-all;font-family:ui-monospace,Menlo,Consolas,monospace;"
    "font-size:.9em}td.ev{word-break:break-word}#categories td:first-child{min-width:13em}"
    ".tag{display:inline-block;padding:1px 7px;border-radius:10px;color:#fff;font-size:.85em;"
    "white-space:nowrap}"
    ".note{color:#5a6272;font-size:.9em}"
    "svg{max-width:100%;height:auto;font-family:inherit}"
    "dl.gl dt{font-weight:600;margin-top:.6em}dl.gl dd{margin:0 0 0 1em;color:#3a4150}"
    "footer{margin-top:2.5em;color:#7a8190;font-size:.85em}";

/* Colours per outcome (index = cs_report_outcome). */
static const char *const colour[CS_OUT_N] = {
    "#27ae60", /* accessible */
    "#c0392b", /* dns */
    "#e67e22", /* tcp_ip */
    "#8e44ad", /* tls */
    "#a0522d", /* http_failure */
    "#d63384", /* blockpage */
    "#2e86c1", /* optin */
    "#7f8c8d", /* server_side */
    "#95a5a6", /* site_down */
    "#bdc3c7", /* undetermined */
};

#define OTHER_COLOUR "#5d6d7e" /* outcomes of other nettests, outside the slots */

static const char *const explain[CS_OUT_N] = {
    "The page loaded as the uncensored control server saw it.",
    "The network's DNS resolver gave a wrong answer or no answer, while the control resolved "
    "the name normally: a common way to block a site.",
    "Connections to the site's servers were blocked (failed or timed out) while the control "
    "could connect.",
    "The encrypted (TLS) connection was cut during the handshake, typically by equipment that "
    "reads the site name (SNI) sent in clear.",
    "The connection worked but the web request failed (e.g. was reset) while the control got "
    "the page.",
    "A different page was served instead of the site (often a government or ISP blockpage).",
    "Blocked by a filter the subscriber chose to enable (e.g. a family-safety service). Shown "
    "for completeness; not counted as censorship.",
    "The site itself or its CDN refused this network (e.g. a Cloudflare challenge or geo-block). "
    "Not counted as censorship.",
    "Neither the probe nor the control could load the site: it seems to be down.",
    "The data does not allow a conclusion (e.g. the control server could not be reached).",
};

static void esc(FILE *o, const char *s) { cs_report_html_escape(o, s); }

/* At most max bytes of s, escaped, cut at a UTF-8 character boundary, with an ellipsis. */
static void label(FILE *o, const char *s, size_t max) {
  size_t n = strlen(s);
  if (n <= max) {
    esc(o, s);
    return;
  }
  while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) max--;
  char buf[64];
  snprintf(buf, sizeof buf, "%.*s", (int)max, s);
  esc(o, buf);
  fputs("\xe2\x80\xa6", o);
}

static double pct(uint64_t n, uint64_t d) { return d ? 100.0 * (double)n / (double)d : 0.0; }

static void card(FILE *o, const char *cls, const char *id, uint64_t n, const char *label,
                 const char *extra) {
  fprintf(o, "<div class=\"card %s\" id=\"%s\"><span class=\"n\">%llu</span><span class=\"l\">%s",
          cls, id, (unsigned long long)n, label);
  if (extra) fprintf(o, " %s", extra);
  fputs("</span></div>\n", o);
}

/* Bar chart by method: one <g class="bar" data-key data-value> per censorship method. */
static void chart_methods(FILE *o, const cs_report *r) {
  static const cs_report_outcome shown[] = {
      CS_OUT_DNS,   CS_OUT_TCP_IP,      CS_OUT_TLS,       CS_OUT_HTTP_FAILURE, CS_OUT_BLOCKPAGE,
      CS_OUT_OPTIN, CS_OUT_SERVER_SIDE, CS_OUT_SITE_DOWN, CS_OUT_UNDETERMINED};
  const int n = (int)(sizeof shown / sizeof *shown);
  const int rowh = 30, top = 10, labw = 250, barw = 420, W = 760;
  uint64_t max = 1;
  for (int i = 0; i < n; i++)
    if (r->n[shown[i]] > max) max = r->n[shown[i]];
  int H = top + n * rowh + 10;
  fprintf(o,
          "<svg id=\"chart-methods\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
          "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby=\"chart-methods-t\">"
          "<title id=\"chart-methods-t\">URLs by outcome</title>\n",
          W, H, W, H);
  for (int i = 0; i < n; i++) {
    cs_report_outcome oc = shown[i];
    int y = top + i * rowh;
    double w = (double)barw * (double)r->n[oc] / (double)max;
    if (i == 5)
      fprintf(o,
              "<line x1=\"0\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#d0d4da\" "
              "stroke-dasharray=\"4 3\"/>\n",
              W, y - 3, y - 3);
    fprintf(o,
            "<g class=\"bar\" data-key=\"%s\" data-value=\"%llu\">"
            "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"13\" fill=\"#1d2330\">%s"
            "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" rx=\"3\" fill=\"%s\"/>"
            "<text class=\"v\" x=\"%.1f\" y=\"%d\" font-size=\"13\" font-weight=\"600\" "
            "fill=\"#1d2330\">%llu</text></g>\n",
            cs_report_outcome_key(oc), (unsigned long long)r->n[oc], labw - 10, y + 17,
            cs_report_outcome_label(oc), labw, y + 4, w, rowh - 10, colour[oc], labw + w + 6,
            y + 17, (unsigned long long)r->n[oc]);
  }
  fputs("</svg>\n", o);
}

/* Stacked bars by category: one <g class="cat" data-code data-value=blocked> per category,
 * with one <rect class="seg" data-key data-value> per censorship method present. */
static void chart_categories(FILE *o, const cs_report *r) {
  const int rowh = 28, top = 10, labw = 300, barw = 340, W = 760;
  uint64_t max = 1;
  for (size_t i = 0; i < r->ncategories; i++)
    if (r->categories[i].blocked > max) max = r->categories[i].blocked;
  int H = top + (int)r->ncategories * rowh + 10;
  fprintf(o,
          "<svg id=\"chart-categories\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
          "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
          "aria-labelledby=\"chart-categories-t\"><title id=\"chart-categories-t\">Blocked URLs "
          "by category</title>\n",
          W, H, W, H);
  for (size_t i = 0; i < r->ncategories; i++) {
    const cs_report_category *c = &r->categories[i];
    const char *name = cs_report_category_name(c->code);
    int y = top + (int)i * rowh;
    fputs("<g class=\"cat\" data-code=\"", o);
    esc(o, c->code);
    fprintf(o,
            "\" data-value=\"%llu\" data-tested=\"%llu\"><text x=\"%d\" y=\"%d\" "
            "text-anchor=\"end\" font-size=\"13\" fill=\"#1d2330\">",
            (unsigned long long)c->blocked, (unsigned long long)c->tested, labw - 10, y + 17);
    label(o, name ? name : *c->code ? c->code : "No category", 40);
    fputs("<title>", o);
    esc(o, *c->code ? c->code : "no category code");
    fputs("</title></text>", o);
    double x = labw;
    for (int k = 0; k < CS_OUT_N; k++) {
      if (!cs_report_outcome_blocked((cs_report_outcome)k) || !c->n[k]) continue;
      double w = (double)barw * (double)c->n[k] / (double)max;
      fprintf(o,
              "<rect class=\"seg\" data-key=\"%s\" data-value=\"%llu\" x=\"%.1f\" y=\"%d\" "
              "width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s: %llu</title></rect>",
              cs_report_outcome_key((cs_report_outcome)k), (unsigned long long)c->n[k], x, y + 4, w,
              rowh - 10, colour[k], cs_report_outcome_label((cs_report_outcome)k),
              (unsigned long long)c->n[k]);
      x += w;
    }
    fprintf(o,
            "<text class=\"v\" x=\"%.1f\" y=\"%d\" font-size=\"13\" fill=\"#1d2330\">"
            "<tspan font-weight=\"600\">%llu</tspan> of %llu</text></g>\n",
            x + 6, y + 17, (unsigned long long)c->blocked, (unsigned long long)c->tested);
  }
  fputs("</svg>\n<p class=\"note\">", o);
  for (int k = 0; k < CS_OUT_N; k++) {
    if (!cs_report_outcome_blocked((cs_report_outcome)k)) continue;
    fprintf(o, "<span class=\"tag\" style=\"background:%s\">%s</span> ", colour[k],
            cs_report_outcome_label((cs_report_outcome)k));
  }
  fputs("</p>\n", o);
}

static int url_row(void *ctx, const cs_report_row *row) {
  FILE *o = ctx;
  const cs_store_meas *m = row->m;
  fputs("<tr data-outcome=\"", o);
  esc(o, row->key);
  fprintf(o, "\"><td><span class=\"tag\" style=\"background:%s\">",
          row->slot < CS_OUT_N ? colour[row->slot] : OTHER_COLOUR);
  esc(o, row->label);
  fputs("</span></td><td class=\"url\">", o);
  esc(o, m->input);
  fputs("</td><td>", o);
  const char *name = cs_report_category_name(m->category_code);
  if (name) esc(o, name);
  else esc(o, m->category_code);
  fputs("</td><td class=\"ev\">", o);
  esc(o, row->evidence);
  if (m->blockpage_confirmed == 1) fputs(" <strong>(confirmed fingerprint)</strong>", o);
  fputs("</td><td class=\"ev\">", o);
  esc(o, m->analysis_reason);
  fputs("</td></tr>\n", o);
  return ferror(o) ? -1 : 0;
}

static int url_table(FILE *o, cs_store *s, int64_t run_id, bool optin, const char *id) {
  fprintf(o,
          "<table id=\"%s\"><thead><tr><th>How</th><th>Website (URL)</th><th>Category</th>"
          "<th>Evidence</th><th>Analysis rule</th></tr></thead><tbody>\n",
          id);
  int rc =
      cs_report_each(s, run_id, optin ? CS_REPORT_ROWS_OPTIN : CS_REPORT_ROWS_BLOCKED, url_row, o);
  fputs("</tbody></table>\n", o);
  return rc ? -1 : 0;
}

static int write_html(FILE *o, const cs_report *r, cs_store *s) {
  fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">\n"
        "<meta name=\"generator\" content=\"" CS_REPORT_VERSION_TEXT "\">\n<title>",
        o);
  fputs("Website blocking report", o);
  if (r->probe_cc) {
    fputs(" \xe2\x80\x94 ", o);
    esc(o, r->probe_cc);
  }
  if (r->probe_asn) {
    fputc(' ', o);
    esc(o, r->probe_asn);
  }
  fprintf(o, "</title>\n<style>%s</style></head>\n<body><main>\n", css);

  fputs("<h1>Website blocking report</h1>\n<p class=\"sub\">", o);
  fputs("Network: <strong>", o);
  esc(o, r->probe_asn ? r->probe_asn : "unknown");
  fputs("</strong> in <strong>", o);
  esc(o, r->probe_cc ? r->probe_cc : "unknown country");
  fputs("</strong>", o);
  if (r->mixed_cc || r->mixed_asn) fputs(" (and other networks)", o);
  if (r->first_time) {
    fputs(" &middot; measured ", o);
    esc(o, r->first_time);
    fputs(" to ", o);
    esc(o, r->last_time);
    fputs(" UTC", o);
  }
  fprintf(o, "<br>Run %lld (", (long long)r->run_id);
  esc(o, r->test_name);
  fputs(")", o);
  if (r->input_list && *r->input_list) {
    fputs(", test list <code>", o);
    esc(o, r->input_list);
    fputs("</code>", o);
  }
  if (!r->finished_at) fputs(", <strong>run not finished</strong>", o);
  fputs("</p>\n", o);

  char extra[64];
  fputs("<div class=\"cards\">\n", o);
  card(o, "", "n-tested", r->tested, "websites tested", NULL);
  snprintf(extra, sizeof extra, "(%.1f%%)", pct(r->blocked, r->tested));
  card(o, "blocked", "n-blocked", r->blocked, "blocked (censorship)", extra);
  card(o, "conf", "n-confirmed", r->confirmed, "confirmed by a known blockpage", NULL);
  snprintf(extra, sizeof extra, "(%.1f%%)", pct(r->n[CS_OUT_ACCESSIBLE], r->tested));
  card(o, "ok", "n-accessible", r->n[CS_OUT_ACCESSIBLE], "accessible", extra);
  fputs("</div>\n", o);

  fprintf(o,
          "<p>Out of <strong>%llu</strong> websites tested, <strong>%llu</strong> showed "
          "signs of censorship",
          (unsigned long long)r->tested, (unsigned long long)r->blocked);
  if (r->confirmed)
    fprintf(o,
            "; for <strong>%llu</strong> of them the network served a page known to be a "
            "blockpage, which confirms the blocking",
            (unsigned long long)r->confirmed);
  fputs(". A single measurement can be wrong (a site down at that moment, a flaky "
        "connection): repeated measurements make findings stronger.</p>\n",
        o);

  fputs("<h2>How websites were blocked</h2>\n", o);
  chart_methods(o, r);
  fputs("<p class=\"note\">Below the dashed line: outcomes that are <em>not</em> counted as "
        "censorship.</p>\n",
        o);

  fputs("<h2>Blocking by category</h2>\n", o);
  chart_categories(o, r);

  if (cs_report_sections_render(&(cs_report_out){.format = "html", .f = o}, r) < 0) return -1;

  fputs("<h2>By category</h2>\n<table id=\"categories\"><thead><tr><th>Category</th>"
        "<th class=\"num\">Tested</th><th class=\"num\">Blocked</th><th class=\"num\">DNS</th>"
        "<th class=\"num\">TCP/IP</th><th class=\"num\">TLS</th><th class=\"num\">HTTP</th>"
        "<th class=\"num\">Blockpage</th><th class=\"num\">Accessible</th>"
        "<th class=\"num\">Opt-in</th><th class=\"num\">Down</th>"
        "<th class=\"num\">Undetermined</th></tr></thead><tbody>\n",
        o);
  for (size_t i = 0; i < r->ncategories; i++) {
    const cs_report_category *c = &r->categories[i];
    const char *name = cs_report_category_name(c->code);
    fputs("<tr data-code=\"", o);
    esc(o, c->code);
    fputs("\"><td>", o);
    esc(o, name ? name : *c->code ? c->code : "No category");
    if (name) {
      fputs(" <span class=\"note\">", o);
      esc(o, c->code);
      fputs("</span>", o);
    }
    fputs("</td>", o);
    uint64_t v[] = {c->tested,
                    c->blocked,
                    c->n[CS_OUT_DNS],
                    c->n[CS_OUT_TCP_IP],
                    c->n[CS_OUT_TLS],
                    c->n[CS_OUT_HTTP_FAILURE],
                    c->n[CS_OUT_BLOCKPAGE],
                    c->n[CS_OUT_ACCESSIBLE],
                    c->n[CS_OUT_OPTIN],
                    c->n[CS_OUT_SITE_DOWN] + c->n[CS_OUT_SERVER_SIDE],
                    c->n[CS_OUT_UNDETERMINED]};
    for (size_t k = 0; k < sizeof v / sizeof *v; k++)
      fprintf(o, "<td class=\"num\">%llu</td>", (unsigned long long)v[k]);
    fputs("</tr>\n", o);
  }
  fputs("</tbody></table>\n", o);

  fputs("<h2>Blocked websites and evidence</h2>\n", o);
  if (r->blocked) {
    if (url_table(o, s, r->run_id, false, "blocked") < 0) return -1;
  } else {
    fputs("<p id=\"blocked\">No website showed signs of censorship.</p>\n", o);
  }
  if (r->n[CS_OUT_OPTIN]) {
    fputs("<h2>Websites blocked by an opt-in filter</h2>\n", o);
    if (url_table(o, s, r->run_id, true, "optin") < 0) return -1;
  }

  fputs("<h2>What the outcomes mean</h2>\n<dl class=\"gl\">\n", o);
  for (int k = 0; k < CS_OUT_N; k++)
    fprintf(o,
            "<dt><span class=\"tag\" style=\"background:%s\">%s</span> <span class=\"num\" "
            "data-outcome=\"%s\">%llu</span></dt><dd>%s</dd>\n",
            colour[k], cs_report_outcome_label((cs_report_outcome)k),
            cs_report_outcome_key((cs_report_outcome)k), (unsigned long long)r->n[k], explain[k]);
  for (size_t i = 0; i < r->nothers; i++) { /* other nettests' own outcomes */
    fprintf(o, "<dt><span class=\"tag\" style=\"background:%s\">", OTHER_COLOUR);
    esc(o, r->others[i].label);
    fputs("</span> <span class=\"num\" data-outcome=\"", o);
    esc(o, r->others[i].key);
    fprintf(o, "\">%llu</span></dt><dd>%s</dd>\n", (unsigned long long)r->others[i].count,
            r->others[i].censorship ? "Counted as censorship." : "Not counted as censorship.");
  }
  fputs("</dl>\n<p class=\"note\">Method: OONI Web Connectivity. Each website is fetched from "
        "this network and, at the same time, by an independent control server outside it; "
        "the two views are compared step by step (DNS, TCP, TLS, HTTP). Verdicts follow OONI's "
        "methodology; blockpages are recognised with the OONI, Citizen Lab and Censored Planet "
        "fingerprint lists. Category names from the Citizen Lab test lists.</p>\n",
        o);
  fprintf(o, "<footer>Generated by censorscope from %llu stored measurements",
          (unsigned long long)r->tested);
  if (r->source_label) {
    fputs(" (", o);
    esc(o, r->source_label);
    fputc(')', o);
  }
  fputs(". Self-contained file: no scripts, no external resources.</footer>\n</main></body>"
        "</html>\n",
        o);
  return ferror(o) ? -1 : 0;
}

const cs_report_renderer cs_report_render_html = {"html", write_html};
