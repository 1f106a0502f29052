/* fuzz_report_throttling.c - libFuzzer target: arbitrary bytes as the test_keys of a
 * throttling measurement, stored in a scratch store (which keeps throttling JSON) and turned
 * into a report in every format: the Throttling section (src/report/report_throttling.c)
 * reads x_throttling, x_trials and network_events from hostile JSON. The JSON report must
 * parse and the HTML must never carry a <script element. */
#include <stddef.h>
#include <stdint.h>

#include "report_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_report_one("throttling", "\"t.example\"", data, size);
  return 0;
}
