/* fuzz_icmp.c - libFuzzer target: the ICMPv4 error parser of `censorscope locate`
 * (src/engine/icmp.c) reads whatever arrives on a raw ICMP socket; it must never crash or read
 * past the input, and what it accepts must be consistent (an error type, a quote that fits). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/icmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cs_icmp_err e;
  if (cs_icmp_parse(data, size, &e) != 0) return 0;
  if (e.type != CS_ICMP_DEST_UNREACH && e.type != CS_ICMP_TIME_EXCEEDED) abort();
  if (e.qpayload < data || e.qpayload + e.qpayload_len > data + size) abort();
  if (e.has_seq && e.qproto != 6) abort();
  return 0;
}
