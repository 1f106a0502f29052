/* fuzz_endpoints.c - libFuzzer target: the endpoint-file parser of the app tests
 * (src/nettests/endpoints.c) must never crash or read out of bounds, and what it accepts must
 * hold its invariants: an app, at least one function, every endpoint in a declared function
 * with a host and a kind-consistent port, every error message naming the file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nettests/endpoints.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* no NUL terminator on purpose: the parser must respect len */
  char *copy = malloc(size ? size : 1);
  if (!copy) return 0;
  memcpy(copy, data, size);
  cs_arena *a = cs_arena_new(1u << 24);
  if (!a) {
    free(copy);
    return 0;
  }
  cs_ep_file f;
  char err[256] = "";
  if (cs_ep_parse(a, "f", copy, size, &f, err, sizeof err) == 0) {
    if (!f.app || f.nfunctions == 0 || f.nfunctions > CS_EP_MAX_FUNCTIONS) __builtin_trap();
    if (f.neps == 0 || f.neps > CS_EP_MAX_ENDPOINTS) __builtin_trap();
    for (size_t i = 0; i < f.neps; i++) {
      const cs_ep *e = &f.eps[i];
      if (e->function >= f.nfunctions || !e->host || !*e->host || !e->target) __builtin_trap();
      if ((e->kind == CS_EP_DNS) != (e->port == 0)) __builtin_trap();
      if ((e->kind == CS_EP_HTTP || e->kind == CS_EP_HTTPS) && (!e->path || !e->method))
        __builtin_trap();
      if (e->nexpect > CS_EP_MAX_EXPECT || e->line == 0) __builtin_trap();
    }
  } else if (strncmp(err, "f:", 2) != 0) {
    __builtin_trap();
  }
  cs_arena_free(a);
  free(copy);
  return 0;
}
