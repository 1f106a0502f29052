/* ui.c - serves the explorer web UI (src/collector/ui/, embedded at build time by
 * scripts/ui-embed.sh): GET / is index.html, GET /ui/{name} one of the files, by exact name
 * from the embedded table (nothing is read from disk, so no path can escape it).
 *
 * The server gives every answer a strict Content-Security-Policy (W3C CSP3: default-src
 * 'self', no inline script or style, frame-ancestors 'none') and X-Content-Type-Options:
 * nosniff; the UI's answers add a strong ETag and Cache-Control: no-cache, so browsers
 * revalidate (RFC 9111 §5.2.2.4) and get a 304 when If-None-Match matches (RFC 9110
 * §13.1.2): a new binary's UI is used at once, an unchanged one costs no transfer. */
#include <stdio.h>
#include <string.h>

#include "collector/collector.h"
#include "collector/ui.h"

const cs_ui_file *cs_ui_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < cs_ui_nfiles; i++)
    if (strcmp(cs_ui_files[i].name, name) == 0) return &cs_ui_files[i];
  return NULL;
}

/* RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; If-None-Match uses the weak
 * comparison (§8.8.3.2: the opaque tags are equal, W/ ignored). */
bool cs_ui_etag_match(const char *inm, const char *etag) {
  if (!inm || !etag) return false;
  size_t elen = strlen(etag);
  const char *p = inm;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    if (!*p) return false;
    if (*p == '*') return true;
    if (p[0] == 'W' && p[1] == '/') p += 2;
    if (*p != '"') return false; /* not a list of entity tags: no match */
    const char *q = strchr(p + 1, '"');
    if (!q) return false;
    size_t n = (size_t)(q - p) + 1;
    if (n == elen && memcmp(p, etag, n) == 0) return true;
    p = q + 1;
  }
}

static void serve(const cs_coll_req *rq, cs_coll_resp *rs, const char *name) {
  const cs_ui_file *f = cs_ui_find(name);
  if (!f) {
    cs_coll_error(rs, 404, "no such file in the explorer UI");
    return;
  }
  /* the CSP, nosniff and Referrer-Policy headers come with every answer (server.c) */
  snprintf(rs->etag, sizeof rs->etag, "%s", f->etag);
  rs->cache_control = "no-cache";
  rs->content_type = f->content_type;
  if (cs_ui_etag_match(cs_coll_header(rq, "If-None-Match"), f->etag)) {
    rs->status = 304;
    return;
  }
  if (cs_buf_append(&rs->body, f->data, f->len) != 0) {
    rs->etag[0] = 0;
    rs->cache_control = NULL;
    cs_coll_error(rs, 500, "out of memory serving the explorer UI");
    return;
  }
  rs->status = 200;
}

/* GET / */
CS_COLL_HANDLER(cs_coll_h_ui_index) { serve(rq, rs, "index.html"); }

/* GET /ui/{name} */
CS_COLL_HANDLER(cs_coll_h_ui_file) { serve(rq, rs, rq->ncap > 0 ? rq->cap[0] : NULL); }
