/* fuzz_report_forensics.c - libFuzzer target: arbitrary bytes as the test_keys of a locate
 * measurement, stored in a scratch store (which keeps locate's JSON) and turned into a report
 * in every format: the "Who and where" section (src/report/report_forensics.c) reads
 * x_middlebox, x_locate, x_resolver_identity, x_tls_interception and x_http_tampering from
 * hostile JSON. The JSON report must parse and the HTML must never carry a <script element. */
#include <stddef.h>
#include <stdint.h>

#include "report_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_report_one("locate", "null", data, size);
  return 0;
}
