/* jsonl_sync.c - brings a run's JSON-lines file in line with the database before the run
 * (re)starts (see cs_store_sync_jsonl in store.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "util/arena.h"
#include "util/json.h"

/* "report_id\ninput" of a measurement: what identifies it in a JSON-lines file. */
static char *meas_key(const char *report_id, const char *input) {
  size_t a = strlen(report_id ? report_id : ""), b = strlen(input ? input : "");
  char *k = malloc(a + b + 2);
  if (k) memcpy(k, report_id ? report_id : "", a), k[a] = '\n', memcpy(k + a + 1, input ? input : "", b + 1);
  return k;
}

static int key_cmp(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

long cs_store_sync_jsonl(cs_store *s, int64_t run_id, FILE *out, const char *path, bool resume) {
  int fd = fileno(out);
  struct stat st;
  if (!s) resume = false;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) return 0; /* a pipe, a terminal */
  if (st.st_size == 0 && !resume) return 0;
  if (fflush(out) != 0) return -1;
  FILE *in = st.st_size > 0 ? fopen(path, "rb") : NULL;
  if (st.st_size > 0 && !in) return -1;
  char **keys = NULL;
  size_t nkeys = 0, capkeys = 0;
  off_t good = 0; /* end of the last complete line */
  bool cut = false, nomem = false;
  if (in) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    off_t at = 0;
    while ((n = getline(&line, &cap, in)) > 0) {
      bool complete = line[n - 1] == '\n';
      if (!complete) {
        cut = true; /* the interrupted write of the last line */
        break;
      }
      at += n;
      good = at;
      if (!resume) continue;
      cs_arena *a = cs_arena_new(0);
      char err[64];
      cs_jval *v = a ? cs_json_parse(a, line, (size_t)n - 1, NULL, err, sizeof err) : NULL;
      const char *input = cs_json_get_str(v, "input", NULL);
      if (input) {
        if (nkeys == capkeys) {
          size_t nc = capkeys ? capkeys * 2 : 256;
          char **nk = realloc(keys, nc * sizeof *nk);
          if (nk) keys = nk, capkeys = nc;
        }
        char *k = nkeys < capkeys ? meas_key(cs_json_get_str(v, "report_id", ""), input) : NULL;
        if (k) keys[nkeys++] = k;
        else nomem = true; /* a key missed would write its measurement twice */
      }
      cs_arena_free(a);
      if (nomem) break;
    }
    free(line);
    fclose(in);
  }
  long written = nomem ? -1 : 0;
  if (cut && written == 0) {
    /* A run resumed from this file drops the cut line (its measurement is in the database and
     * written again below, or is measured again); any other run ends it, so that its own
     * first line starts on a line of its own. */
    if (resume ? ftruncate(fd, good) < 0 : fputc('\n', out) == EOF) written = -1;
    else if (!resume && fflush(out) != 0) written = -1;
  }
  if (resume && written == 0) {
    if (nkeys) qsort(keys, nkeys, sizeof *keys, key_cmp);
    cs_store_iter *it = cs_store_iter_new(s, run_id);
    cs_store_meas m;
    int rc = it ? 0 : -1;
    while (it && (rc = cs_store_iter_next(it, &m)) == 1) {
      char *k = meas_key(m.report_id, m.input);
      if (!k) {
        written = -1;
        break;
      }
      bool have = nkeys && bsearch(&k, keys, nkeys, sizeof *keys, key_cmp);
      free(k);
      if (have) continue;
      size_t len;
      const char *json = cs_store_iter_json(it, &len);
      if (!json || fwrite(json, 1, len, out) != len || fputc('\n', out) == EOF) {
        written = -1;
        break;
      }
      written++;
    }
    if (rc < 0 || (written >= 0 && fflush(out) != 0)) written = -1;
    cs_store_iter_free(it);
    if (written > 0 && fdatasync(fd) < 0) written = -1;
  }
  for (size_t i = 0; i < nkeys; i++) free(keys[i]);
  free(keys);
  return written;
}

