/* fuzz_report_apps.c - libFuzzer target: arbitrary bytes as the test_keys of an app nettest's
 * measurement (the first byte picks whatsapp, telegram, signal, facebook_messenger or
 * platforms), stored in a scratch store (which keeps the app nettests' JSON) and turned into a
 * report in every format: the "Apps and platforms" section (src/report/report_apps.c) reads
 * x_functions and x_endpoints from hostile JSON. The JSON report must parse and the HTML must
 * never carry a <script element. */
#include <stddef.h>
#include <stdint.h>

#include "report_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const names[] = {"whatsapp", "telegram", "signal", "facebook_messenger",
                                      "platforms"};
  if (size < 1) return 0;
  fuzz_report_one(names[data[0] % 5], "null", data + 1, size - 1);
  return 0;
}
