/* fuzz_json.c - libFuzzer target: the bounded JSON reader (used for stored measurements and
 * control-server requests) must never crash, and what it accepts must survive a re-write. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/arena.h"
#include "util/json.h"

static void rewrite(cs_jw *w, const cs_jval *v, int depth) {
  if (depth > 80) return;
  switch (v->type) {
  case CS_JNULL: cs_jw_null(w); break;
  case CS_JBOOL: cs_jw_bool(w, v->b); break;
  case CS_JNUM: cs_jw_double(w, v->num); break;
  case CS_JSTR: cs_jw_strn(w, v->str, v->len); break;
  case CS_JARR:
    cs_jw_arr_open(w);
    for (size_t i = 0; i < v->len; i++) rewrite(w, v->kids[i], depth + 1);
    cs_jw_arr_close(w);
    break;
  case CS_JOBJ:
    cs_jw_obj_open(w);
    for (size_t i = 0; i < v->len; i++) {
      cs_jw_key(w, v->keys[i]);
      rewrite(w, v->kids[i], depth + 1);
    }
    cs_jw_obj_close(w);
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cs_arena *a = cs_arena_new(64u << 20);
  char err[128];
  cs_json_limits lim = {.max_depth = 64, .max_nodes = 100000};
  cs_jval *v = cs_json_parse(a, (const char *)data, size, &lim, err, sizeof err);
  if (v) {
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_jw w;
    cs_jw_init(&w, &b);
    rewrite(&w, v, 0);
    /* our own output must parse again */
    cs_jval *v2 = cs_json_parse(a, (const char *)b.data, b.len, &lim, err, sizeof err);
    if (!v2 && b.len && !b.overflow) __builtin_trap();
    cs_buf_free(&b);
  }
  cs_arena_free(a);
  return 0;
}
