/* ui.h - the explorer web UI compiled into the binary: the files of src/collector/ui/ (turned
 * into a C table at build time by scripts/ui-embed.sh, into build/<BUILD>/gen/ui_files.c) and
 * the collector's handlers serving them (ui.c) at GET / and GET /ui/{name}. */
#ifndef CS_COLLECTOR_UI_H
#define CS_COLLECTOR_UI_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  const char *name;         /* "app.js": the file's name under /ui/ */
  const char *content_type; /* "text/javascript; charset=utf-8" */
  const char *etag;         /* strong ETag, quoted: "\"<20 hex of SHA-256>\"" */
  const unsigned char *data;
  size_t len;
} cs_ui_file;

extern const cs_ui_file cs_ui_files[];
extern const size_t cs_ui_nfiles;

/* The embedded file called name (exact match: no path, no decoding), or NULL. */
const cs_ui_file *cs_ui_find(const char *name);

/* Whether an If-None-Match header value (RFC 9110 §13.1.2: "*" or a comma-separated list
 * of entity tags, weak ones compared weakly) matches etag (quoted). NULL never matches. */
bool cs_ui_etag_match(const char *if_none_match, const char *etag);

#endif
