/* test_ooni_corpus.c - `analyze --ooni-strict` against every public OONI web_connectivity
 * measurement we have (docs/analysis.md "Results on OONI's measurements").
 *
 * Walks the reference set ../shared/data/ooni-measurements (required; $CS_SHARED_DATA when
 * the repo is not beside shared/) and every further corpus directory that exists:
 * ../shared/ooni-corpus, tests/fixtures/ooni, and the ':'-separated directories of
 * $CS_OONI_CORPUS. Each file is one measurement (JSON object, explorer API wrapper, JSON
 * array or JSON lines). For every web_connectivity measurement that recorded a verdict, OONI's
 * algorithm for its test_version (cs_wc_options.ooni_strict, auto algorithm, no fingerprints)
 * must reproduce the recorded `blocking` and `accessible`, except the documented OONI errors
 * below; a documented error that no longer disagrees fails too, so the list cannot hide
 * anything. Prints the per-test_version tally. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/wc_analysis.h"
#include "analysis/wcobs.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"

/* OONI's own errors: the recorded verdict is not what the probe's published algorithm gives,
 * for a reason outside the measurement (docs/analysis.md names each). Matched by file name
 * suffix. */
static const struct {
  const char *file_suffix;
  const char *reason;
} ooni_errors[] = {
    {"manual_8844.json",
     "miniooni 3.21.0-alpha built at probe-cli 9a7567753 (annotations.vcs_revision), the commit "
     "before #1472: its classic filter dropped every endpoint no getaddrinfo lookup resolved, so "
     "the only endpoint of the IP-address URL https://8.8.4.4/dns-query was dropped and no rule "
     "matched (null/null); #1472 keeps URL addresses and the analysis says false/true"},
};
#define NERRORS (sizeof ooni_errors / sizeof *ooni_errors)

/* ---- files ------------------------------------------------------------------------------- */

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static char repo_root[PATH_MAX];

/* The repo root: the first ancestor of the cwd holding src/analysis. */
static const char *root(void) {
  if (repo_root[0]) return repo_root;
  char cur[PATH_MAX];
  if (!getcwd(cur, sizeof cur)) return ".";
  for (int up = 0; up < 8; up++) {
    char a[PATH_MAX + 64];
    snprintf(a, sizeof a, "%s/src/analysis", cur);
    if (is_dir(a)) {
      snprintf(repo_root, sizeof repo_root, "%s", cur);
      return repo_root;
    }
    char *slash = strrchr(cur, '/');
    if (!slash || slash == cur) break;
    *slash = 0;
  }
  return ".";
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  cs_buf b;
  cs_buf_init(&b, 0);
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) cs_buf_append(&b, chunk, n);
  fclose(f);
  cs_buf_cstr(&b);
  *len = b.len;
  return (char *)b.data;
}

/* ---- tally ------------------------------------------------------------------------------- */

#define MAXVER 64
typedef struct {
  int ver[3];
  char version[24];
  const char *algorithm;
  size_t n, agree, ooni_error;
} ver_row;

typedef struct {
  ver_row rows[MAXVER];
  size_t nrows;
  size_t wc, no_verdict, agree, ooni_error, disagree;
  bool error_seen[NERRORS];
} tally;

static ver_row *row_for(tally *t, const char *version) {
  for (size_t i = 0; i < t->nrows; i++)
    if (!strcmp(t->rows[i].version, version)) return &t->rows[i];
  assert_true(t->nrows < MAXVER);
  ver_row *r = &t->rows[t->nrows++];
  snprintf(r->version, sizeof r->version, "%s", version);
  return r;
}

static int row_cmp(const void *pa, const void *pb) {
  const ver_row *a = pa, *b = pb;
  for (int i = 0; i < 3; i++)
    if (a->ver[i] != b->ver[i]) return a->ver[i] < b->ver[i] ? -1 : 1;
  return strcmp(a->version, b->version);
}

static const char *algo_name(cs_wc_algo a) {
  switch (a) {
  case CS_WC_ALGO_LTE_ORIG: return "lte-orig";
  case CS_WC_ALGO_V04: return "v0.4";
  case CS_WC_ALGO_LEGACY: return "legacy";
  default: return "lte";
  }
}

static const char *tri(cs_wc_tri t) {
  return t == CS_WC_YES ? "true" : t == CS_WC_NO ? "false" : "null";
}

/* One measurement (already unwrapped). */
static void check_measurement(cs_arena *a, const char *path, const cs_jval *m, tally *t) {
  if (!m || strcmp(cs_json_get_str(m, "test_name", ""), "web_connectivity")) return;
  cs_wc_obs o;
  if (cs_wc_obs_read(a, m, &o) != 0 || !o.recorded.present) {
    t->no_verdict++;
    return;
  }
  t->wc++;
  cs_wc_options strict = {.ooni_strict = true};
  cs_wc_verdict v;
  cs_wc_verdict_compute(a, &o, &strict, &v);
  ver_row *r = row_for(t, o.test_version ? o.test_version : "?");
  r->algorithm = algo_name(cs_wc_algo_for(&o, true));
  memcpy(r->ver, o.ver, sizeof r->ver);
  r->n++;
  bool agree = (int)v.blocking == o.recorded.blocking && v.accessible == o.recorded.accessible;
  size_t err = NERRORS;
  size_t pl = strlen(path);
  for (size_t i = 0; i < NERRORS; i++) {
    size_t sl = strlen(ooni_errors[i].file_suffix);
    if (pl >= sl && !strcmp(path + pl - sl, ooni_errors[i].file_suffix)) err = i;
  }
  if (err < NERRORS) {
    t->error_seen[err] = true;
    if (agree)
      fail_msg("%s is listed as an OONI error but now agrees (%s/%s): remove it from the list",
               path, cs_wc_blocking_str(v.blocking), tri(v.accessible));
    t->ooni_error++, r->ooni_error++;
    return;
  }
  if (!agree) {
    print_error("DISAGREE %s (%s, %s): ours %s/%s (%s), recorded %s/%s\n", path,
                o.test_version ? o.test_version : "?", v.algorithm, cs_wc_blocking_str(v.blocking),
                tri(v.accessible), v.reason,
                cs_wc_blocking_str((cs_wc_blocking)o.recorded.blocking),
                tri(o.recorded.accessible));
    t->disagree++;
    return;
  }
  t->agree++, r->agree++;
}

static void check_file(const char *path, tally *t) {
  size_t len;
  char *text = slurp(path, &len);
  if (!text) fail_msg("cannot read %s", path);
  cs_arena *a = cs_arena_new(0);
  assert_non_null(a);
  char err[128];
  const cs_jval *doc = cs_json_parse(a, text, len, NULL, err, sizeof err);
  if (doc && doc->type == CS_JARR) {
    for (size_t i = 0; i < doc->len; i++)
      check_measurement(a, path, cs_wc_unwrap(a, doc->kids[i]), t);
  } else if (doc) {
    check_measurement(a, path, cs_wc_unwrap(a, doc), t);
  } else { /* JSON lines */
    char *line = text;
    while (line && *line) {
      char *nl = strchr(line, '\n');
      size_t l = nl ? (size_t)(nl - line) : strlen(line);
      if (l > 1) {
        const cs_jval *m = cs_json_parse(a, line, l, NULL, err, sizeof err);
        if (!m) fail_msg("%s: not JSON: %s", path, err);
        check_measurement(a, path, cs_wc_unwrap(a, m), t);
      }
      line = nl ? nl + 1 : NULL;
    }
  }
  cs_arena_free(a);
  free(text);
}

static void walk(const char *dir, tally *t, int depth) {
  /* sorted, so that the DISAGREE lines come in a stable order */
  struct dirent **names;
  int n = scandir(dir, &names, NULL, alphasort);
  if (n < 0) fail_msg("cannot open %s", dir);
  for (int i = 0; i < n; i++) {
    const char *nm = names[i]->d_name;
    char p[PATH_MAX];
    if (nm[0] != '.') {
      snprintf(p, sizeof p, "%s/%s", dir, nm);
      size_t l = strlen(nm);
      if (is_dir(p)) {
        if (depth < 4) walk(p, t, depth + 1);
      } else if ((l > 5 && !strcmp(nm + l - 5, ".json")) ||
                 (l > 6 && !strcmp(nm + l - 6, ".jsonl"))) {
        check_file(p, t);
      }
    }
    free(names[i]);
  }
  free(names);
}

static void test_corpus(void **st) {
  (void)st;
  tally *t = calloc(1, sizeof *t);
  assert_non_null(t);
  char dir[PATH_MAX + 64];
  snprintf(dir, sizeof dir, "%s/../shared/data/ooni-measurements", root());
  if (!is_dir(dir) && getenv("CS_SHARED_DATA"))
    snprintf(dir, sizeof dir, "%s/ooni-measurements", getenv("CS_SHARED_DATA"));
  if (!is_dir(dir)) fail_msg("reference measurements not found at %s", dir);
  walk(dir, t, 0);
  size_t base = t->wc;
  /* the reference set: 12 web_connectivity measurements with a verdict (data/README.md) */
  assert_int_equal(base, 12);
  const char *more[] = {"../shared/ooni-corpus", "tests/fixtures/ooni"};
  for (size_t i = 0; i < sizeof more / sizeof *more; i++) {
    snprintf(dir, sizeof dir, "%s/%s", root(), more[i]);
    if (is_dir(dir)) walk(dir, t, 0);
  }
  const char *env = getenv("CS_OONI_CORPUS");
  if (env) {
    char *list = strdup(env);
    assert_non_null(list);
    char *save = NULL;
    for (char *d = strtok_r(list, ":", &save); d; d = strtok_r(NULL, ":", &save))
      if (*d) walk(d, t, 0);
    free(list);
  }
  /* the per-version tally (docs/analysis.md "Results on OONI's measurements") */
  qsort(t->rows, t->nrows, sizeof *t->rows, row_cmp);
  print_message("%-10s %-9s %5s %6s %11s\n", "version", "algorithm", "n", "agree", "ooni-error");
  for (size_t i = 0; i < t->nrows; i++)
    print_message("%-10s %-9s %5zu %6zu %11zu\n", t->rows[i].version, t->rows[i].algorithm,
                  t->rows[i].n, t->rows[i].agree, t->rows[i].ooni_error);
  print_message("total: %zu web_connectivity measurements (%zu without a recorded verdict "
                "skipped): %zu agree, %zu documented OONI errors, %zu disagree\n",
                t->wc, t->no_verdict, t->agree, t->ooni_error, t->disagree);
  for (size_t i = 0; i < NERRORS; i++)
    if (t->error_seen[i])
      print_message("OONI error %s: %s\n", ooni_errors[i].file_suffix, ooni_errors[i].reason);
  size_t disagree = t->disagree;
  free(t);
  assert_int_equal(disagree, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
