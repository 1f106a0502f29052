/* report_harness.h - what the report-section fuzz targets (fuzz_report_*.c) share: hostile bytes
 * become the test_keys of one measurement of a nettest, stored in a scratch store (a fresh one
 * every 512 inputs: rows accumulate) and turned into a report in every format. The JSON report
 * must parse and the HTML must never carry a <script element; any other failure to write a
 * report traps. Included once per target (its statics are the target's own). */
#ifndef CS_FUZZ_REPORT_HARNESS_H
#define CS_FUZZ_REPORT_HARNESS_H

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

/* One measurement {"input":INPUT_JSON,"test_name":NT,"test_keys":DATA} of nettest nt. */
static void fuzz_report_one(const char *nt, const char *input_json, const uint8_t *data,
                            size_t size) {
  char err[256], head[128];
  if (store && ++uses % 512 == 0) {
    cs_store_close(store);
    store = NULL;
  }
  if (!store && !(store = cs_store_open_scratch(err, sizeof err))) return;
  int hl = snprintf(head, sizeof head,
                    "{\"input\":%s,\"test_name\":\"%s\",\"test_keys\":", input_json, nt);
  if (hl < 0 || (size_t)hl >= sizeof head) return;
  size_t n = (size_t)hl + size + 1;
  char *m = malloc(n);
  if (!m) return;
  memcpy(m, head, (size_t)hl);
  memcpy(m + hl, data, size);
  m[n - 1] = '}';
  int64_t run = cs_store_run_begin(store, nt, "", NULL, false);
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
}

#endif
