/* inputs.c - the inputs of a run: test lists (Citizen Lab CSV or one per line) for every
 * input kind (see run.h). */
#include "run/run.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/csv.h"

int cs_inputs_add(cs_input_list *l, const char *input, const char *category, size_t line) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    cs_nettest_input *nv = realloc(l->v, nc * sizeof *nv);
    if (!nv) return -1;
    l->v = nv, l->cap = nc;
  }
  char **no = realloc(l->owned, (l->nowned + 2) * sizeof *no);
  if (!no) return -1;
  l->owned = no;
  char *u = input ? strdup(input) : NULL, *c = category && *category ? strdup(category) : NULL;
  if ((input && !u) || (category && *category && !c)) {
    free(u), free(c);
    return -1;
  }
  if (u) l->owned[l->nowned++] = u;
  if (c) l->owned[l->nowned++] = c;
  l->v[l->n++] = (cs_nettest_input){u, c, line};
  return 0;
}

void cs_inputs_free(cs_input_list *l) {
  for (size_t i = 0; i < l->nowned; i++) free(l->owned[i]);
  free(l->owned);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static bool plausible_url(const char *u) {
  return (!strncasecmp(u, "http://", 7) || !strncasecmp(u, "https://", 8)) && !strpbrk(u, " \t");
}

/* Whether one line of a plain list is an input of this kind. */
static bool plausible(cs_input_kind kind, const char *s) {
  return kind == CS_INPUT_URL ? plausible_url(s) : !strpbrk(s, " \t");
}

long cs_inputs_load(cs_input_list *l, cs_input_kind kind, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  cs_buf b;
  cs_buf_init(&b, 256u << 20);
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (cs_buf_append(&b, chunk, n) < 0) break;
  bool bad = ferror(f) || b.overflow;
  fclose(f);
  if (bad) {
    cs_buf_free(&b);
    return -1;
  }
  const char *text = cs_buf_cstr(&b);
  if (!text) {
    cs_buf_free(&b);
    errno = ENOMEM;
    return -1;
  }
  long skipped = 0;
  if (kind == CS_INPUT_URL && !strncmp(text, "url,", 4)) {
    cs_csv c;
    cs_csv_init(&c, text, b.len);
    const char *fields[CS_CSV_MAX_FIELDS];
    size_t nf;
    int rc = cs_csv_next(&c, fields, &nf); /* header */
    while (rc == 1 && (rc = cs_csv_next(&c, fields, &nf)) == 1) {
      if (nf == 1 && !fields[0][0]) continue; /* blank line */
      if (nf < 2 || !plausible_url(fields[0])) {
        fprintf(stderr, "%s:%zu: skipped: not a test-list row with an http(s) URL\n", path, c.line);
        skipped++;
        continue;
      }
      if (cs_inputs_add(l, fields[0], fields[1], c.line) < 0) break;
    }
    if (rc < 0) {
      fprintf(stderr, "%s:%zu: malformed CSV; the rest of the file is skipped\n", path, c.line);
      skipped++;
    }
    cs_csv_free(&c);
  } else {
    size_t line = 0;
    for (const char *p = text; *p;) {
      const char *e = strchr(p, '\n');
      size_t len = e ? (size_t)(e - p) : strlen(p);
      line++;
      char tmp[8192];
      while (len && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
      size_t s = 0;
      while (s < len && (p[s] == ' ' || p[s] == '\t')) s++;
      if (len > s && p[s] != '#') {
        if (len - s >= sizeof tmp) {
          fprintf(stderr, "%s:%zu: skipped: line too long\n", path, line);
          skipped++;
        } else {
          memcpy(tmp, p + s, len - s);
          tmp[len - s] = 0;
          if (!plausible(kind, tmp)) {
            fprintf(stderr, "%s:%zu: skipped: %s\n", path, line,
                    kind == CS_INPUT_URL ? "not an http(s) URL" : "not a single word");
            skipped++;
          } else if (cs_inputs_add(l, tmp, NULL, line) < 0) {
            break;
          }
        }
      }
      if (!e) break;
      p = e + 1;
    }
  }
  cs_buf_free(&b);
  return skipped;
}
