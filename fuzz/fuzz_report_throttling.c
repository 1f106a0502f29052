/* fuzz_report_throttling.c - libFuzzer target: arbitrary bytes as the test_keys of a
 * throttling measurement, stored in a scratch store (which keeps throttling JSON) and turned
 * into a report in every format: the Throttling section (src/report/report_throttling.c)
 * reads x_throttling, x_trials and network_events from hostile JSON. The JSON report must
 * parse and the HTML must never carry a <script element. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "util/arena.h"
#include "util/json.h"

static cs_store *store;
static unsigned uses;

static char *render(cs_report *r, const char *name, size_t *len) {
  cs_report_format f;
  if (cs_report_format_parse(name, &f) < 0) __builtin_trap();
  char *buf = NULL;
  FILE *o = open_memstream(&buf, len);
  if (!o) return NULL;
  if (cs_report_write(o, f, r, store) < 0) __builtin_trap();
  fclose(o);
  return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256];
  if (store && ++uses % 512 == 0) { /* a fresh database now and then: rows accumulate */
    cs_store_close(store);
    store = NULL;
  }
  if (!store && !(store = cs_store_open_scratch(err, sizeof err))) return 0;
  static const char head[] = "{\"input\":\"t.example\",\"test_name\":\"throttling\",\"test_keys\":";
  size_t n = sizeof head - 1 + size + 1;
  char *m = malloc(n);
  if (!m) return 0;
  memcpy(m, head, sizeof head - 1);
  memcpy(m + sizeof head - 1, data, size);
  m[n - 1] = '}';
  int64_t run = cs_store_run_begin(store, "throttling", "", NULL, false);
  if (run > 0 && cs_store_add(store, run, m, n) == CS_STORE_OK) {
    cs_report *r = cs_report_compute(store, run, err, sizeof err);
    if (r) {
      size_t len = 0;
      char *j = render(r, "json", &len);
      cs_arena *a = cs_arena_new(64u << 20);
      if (j && a && !cs_json_parse(a, j, len, NULL, err, sizeof err)) __builtin_trap();
      cs_arena_free(a);
      free(j);
      char *h = render(r, "html", &len);
      if (h && memmem(h, len, "<script", 7)) __builtin_trap();
      free(h);
      free(render(r, "text", &len));
      free(render(r, "csv", &len));
      cs_report_free(r);
    }
  }
  free(m);
  return 0;
}
