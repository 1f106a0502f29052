/* fuzz_resolv_conf.c - libFuzzer target: the resolv.conf reader of web_connectivity's --locate
 * step (src/nettests/wc_locate.c cs_wc_locate_resolv_conf, and the "ip:port" reader of record
 * addresses) on arbitrary bytes: never read past the input, and what it accepts is an IPv4
 * nameserver that appears in the text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nettests/wc_locate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cs_ip ip;
  if (cs_wc_locate_resolv_conf((const char *)data, size, &ip) == 1) {
    if (ip.family != AF_INET) abort();
    char s[CS_IPSTR_MAX];
    cs_ip_format(&ip, s);
    if (!memmem(data, size, "nameserver", 10)) abort();
  }
  char *z = malloc(size + 1);
  if (!z) return 0;
  memcpy(z, data, size);
  z[size] = 0;
  uint16_t port;
  if (cs_wc_locate_addr(z, &ip, &port) == 0 && (ip.family != AF_INET || port == 0)) abort();
  free(z);
  return 0;
}
