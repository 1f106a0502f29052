/* fuzz_report_forensics.c - libFuzzer target: arbitrary bytes as the test_keys of a locate
 * measurement, stored in a scratch store (which keeps locate's JSON) and turned into a report
 * in every format: the "Who and where" section (src/report/report_forensics.c) reads
 * x_middlebox, x_locate, x_resolver_identity, x_tls_interception and x_http_tampering from
 * hostile JSON. The JSON report must parse and the HTML must never carry a <script element. */
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
  char err[256], head[128];
  if (store && ++uses % 512 == 0) { /* a fresh database now and then: rows accumulate */
    cs_store_close(store);
    store = NULL;
  }
  if (!store && !(store = cs_store_open_scratch(err, sizeof err))) return 0;
  const char *nt = "locate";
  int hl = snprintf(head, sizeof head, "{\"input\":null,\"test_name\":\"%s\",\"test_keys\":", nt);
  if (hl < 0) return 0;
  size_t n = (size_t)hl + size + 1;
  char *m = malloc(n);
  if (!m) return 0;
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
  return 0;
}
