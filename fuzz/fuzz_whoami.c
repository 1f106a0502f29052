/* fuzz_whoami.c - libFuzzer target for the helper's whoami zone (src/helper/whoami.c
 * cs_whoami_answer): whatever arrives on its UDP port, from an IPv4 or an IPv6 source.
 * Invariants: 0 or 1 (never -1 below the buffer cap), a reply is one well-formed DNS response
 * to exactly that query, never longer than the query plus one record (no amplification), and
 * nothing is written when the input is dropped. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/dnswire.h"
#include "helper/whoami.h"
#include "util/buf.h"
#include "util/ipnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static cs_dnswire_reply r; /* large: not on the stack */
  const char *srcs[] = {"198.18.2.1", "2001:db8::53"};
  for (size_t i = 0; i < 2; i++) {
    cs_ip src;
    if (!cs_ip_parse(srcs[i], &src)) abort();
    cs_buf out;
    cs_buf_init(&out, 4096);
    int rc = cs_whoami_answer("whoami.test", data, size, &src, &out);
    if (rc < 0 || rc > 1 || (rc == 0 && out.len)) abort();
    if (rc == 1) {
      cs_dnswire_query q;
      if (cs_dnswire_query_parse(data, size, &q) != CS_DNSWIRE_OK) abort();
      if (cs_dnswire_parse(out.data, out.len, &r) != CS_DNSWIRE_OK) abort();
      if (cs_dnswire_match(&q, &r) != CS_DNSWIRE_OK) abort();
      if (out.len > size + 64 || r.ancount > 1) abort();
    }
    cs_buf_free(&out);
  }
  return 0;
}
