/* fuzz_explorer_params.c - libFuzzer target: the explorer's query-parameter checks
 * (src/collector/explorer.c). Input: one byte choosing the filter, then the value. A list
 * filter either refuses with a reason or yields a PostgreSQL array literal that is well
 * formed: {"item","item",...} with at most 50 items, no quote, backslash, brace, comma or
 * control character inside an item, so it cannot escape its $n parameter's array syntax;
 * a time parses only to a UTC second within 2000-2100. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/explorer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const names[] = {"probe_cc",      "probe_asn",     "domain", "test_name",
                                      "category_code", "blocking_type", "since",  "other"};
  if (size < 1 || size > 20000) return 0;
  const char *name = names[data[0] % 8];
  char *v = malloc(size);
  if (!v) return 0;
  memcpy(v, data + 1, size - 1);
  v[size - 1] = 0;
  if (!strcmp(name, "since")) {
    int64_t t;
    if (cs_explorer_parse_time(v, &t) == 0 && (t < 946684800 || t > 4133980799))
      __builtin_trap(); /* 2000-01-01 .. 2100-12-31 */
    free(v);
    return 0;
  }
  cs_arena *a = cs_arena_new((size_t)1 << 20);
  if (!a) {
    free(v);
    return 0;
  }
  const char *lit = NULL;
  char err[200];
  err[0] = 0;
  int st = cs_explorer_list(a, name, v, &lit, err, sizeof err);
  if (st != 0) {
    if (lit || !err[0] || (st != 400 && st != 500)) __builtin_trap();
  } else {
    if (!lit) __builtin_trap();
    size_t n = strlen(lit), items = 0;
    if (n < 4 || lit[0] != '{' || lit[n - 1] != '}') __builtin_trap();
    size_t i = 1;
    while (i < n - 1) {
      if (lit[i] != '"') __builtin_trap();
      i++;
      size_t start = i;
      while (i < n - 1 && lit[i] != '"') {
        unsigned char c = (unsigned char)lit[i];
        if (c < 0x21 || c == '\\' || c == '{' || c == '}' || c == ',' || c >= 0x7f)
          __builtin_trap();
        i++;
      }
      if (i >= n - 1 || i == start) __builtin_trap(); /* unterminated or empty item */
      i++;
      items++;
      if (i < n - 1 && lit[i++] != ',') __builtin_trap();
    }
    if (items == 0 || items > 50) __builtin_trap();
  }
  cs_arena_free(a);
  free(v);
  return 0;
}
