/* fuzz_throttling.c - libFuzzer target: arbitrary bytes as a stored throttling measurement
 * through the nettest's analyze() (x_trials, the samples in network_events, x_params, all
 * hostile), with and without a writer; the verdict keys written must be valid JSON and the
 * outcome one of the nettest's. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "nettests/registry.h"
#include "util/arena.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const cs_nettest *nt = cs_nettest_find("throttling");
  if (!nt) __builtin_trap();
  cs_arena *a = cs_arena_new(64u << 20);
  if (!a) return 0;
  char err[128];
  cs_json_limits lim = {.max_depth = 64, .max_nodes = 200000};
  const cs_jval *m = cs_json_parse(a, (const char *)data, size, &lim, err, sizeof err);
  if (m) {
    cs_analysis_opts opt = {0};
    cs_outcome o;
    nt->analyze(a, m, &opt, NULL, &o);
    if (!o.key || !cs_outcome_def_find(nt->outcomes, nt->noutcomes, o.key)) __builtin_trap();
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_jw w;
    cs_jw_init(&w, &b);
    cs_jw_obj_open(&w);
    nt->analyze(a, m, &opt, &w, &o);
    cs_jw_obj_close(&w);
    if (!cs_json_parse(a, (const char *)b.data, b.len, NULL, err, sizeof err)) __builtin_trap();
    cs_buf_free(&b);
  }
  cs_arena_free(a);
  return 0;
}
