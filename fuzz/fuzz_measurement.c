/* fuzz_measurement.c - libFuzzer target: arbitrary bytes as a stored measurement (raw, or
 * wrapped by the explorer API) through the reader (src/analysis/wcobs.c) and every verdict
 * algorithm (src/analysis/wc_analysis.c), with the fingerprints of data/fingerprints when
 * they can be found (CS_FINGERPRINTS_DIR or the cwd), then the verdict writer; the output
 * must be valid JSON. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "analysis/fingerprints.h"
#include "analysis/wc_analysis.h"
#include "util/arena.h"
#include "util/json.h"

static cs_fp_db *db;
static int db_tried;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!db_tried) {
    char err[128];
    db_tried = 1;
    db = cs_fp_db_load(NULL, err, sizeof err); /* NULL: not found, match nothing */
  }
  cs_arena *a = cs_arena_new(64u << 20);
  if (!a) return 0;
  char err[128];
  cs_json_limits lim = {.max_depth = 64, .max_nodes = 200000};
  const cs_jval *m = cs_json_parse(a, (const char *)data, size, &lim, err, sizeof err);
  if (m) {
    static const cs_wc_algo algos[] = {CS_WC_ALGO_AUTO, CS_WC_ALGO_LTE, CS_WC_ALGO_V04,
                                       CS_WC_ALGO_LEGACY, CS_WC_ALGO_LTE_ORIG};
    for (size_t i = 0; i < 2 * (sizeof algos / sizeof *algos); i++) {
      cs_wc_options opt = {.algo = algos[i / 2], .fingerprints = db, .ooni_strict = (i & 1) != 0};
      cs_wc_verdict v;
      cs_wc_analyze(a, m, &opt, &v);
      if (v.blocking > CS_WC_BLOCKING_HTTP_DIFF || v.accessible < CS_WC_UNKNOWN ||
          v.accessible > CS_WC_YES)
        __builtin_trap();
      cs_buf b;
      cs_buf_init(&b, 0);
      cs_jw w;
      cs_jw_init(&w, &b);
      cs_jw_obj_open(&w);
      cs_wc_verdict_write(&w, &v);
      cs_jw_obj_close(&w);
      if (!cs_json_parse(a, (const char *)b.data, b.len, NULL, err, sizeof err)) __builtin_trap();
      cs_buf_free(&b);
    }
  }
  cs_arena_free(a);
  return 0;
}
