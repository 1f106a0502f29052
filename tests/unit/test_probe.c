/* test_probe.c - what every nettest shares (src/nettests/probe.c): scrubbing the probe's own
 * addresses out of a measurement, and OONI-format report ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "nettests/probe.h"

static char *scrub(const char *in, const char *const *addrs, size_t n) {
  size_t len = 0;
  char *out = cs_probe_scrub(in, strlen(in), addrs, n, &len);
  assert_non_null(out);
  assert_int_equal(len, strlen(out));
  return out;
}

static void test_scrub(void **st) {
  (void)st;
  static const char *const self[] = {"198.18.1.2", "2001:db8:1::2"};
  static const struct {
    const char *in, *want;
  } cases[] = {
      {"{\"probe\":\"198.18.1.2\"}", "{\"probe\":\"[scrubbed]\"}"},
      /* an address with a port, at the end of a sentence, in brackets, mapped */
      {"from 198.18.1.2:53012 to x", "from [scrubbed]:53012 to x"},
      {"your address is 198.18.1.2.", "your address is [scrubbed]."},
      {"[2001:db8:1::2]:443", "[[scrubbed]]:443"},
      {"peer ::ffff:198.18.1.2 reset", "peer ::ffff:[scrubbed] reset"},
      {"2001:DB8:1::2", "[scrubbed]"},
      /* not the same address: longer numbers and neighbours stay */
      {"198.18.1.23 and 10.198.18.1.2 and 198.18.1.2.5",
       "198.18.1.23 and 10.198.18.1.2 and 198.18.1.2.5"},
      {"2001:db8:1::23 2001:db8:1::2:1 a2001:db8:1::2",
       "2001:db8:1::23 2001:db8:1::2:1 a2001:db8:1::2"},
      {"", ""},
      {"198.18.1.2198.18.1.2", "198.18.1.2198.18.1.2"},
      {"198.18.1.2,198.18.1.2", "[scrubbed],[scrubbed]"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *out = scrub(cases[i].in, self, 2);
    if (strcmp(out, cases[i].want))
      fail_msg("scrub(%s) = %s, want %s", cases[i].in, out, cases[i].want);
    free(out);
  }
  /* no addresses: an exact copy */
  char *out = scrub("198.18.1.2", self, 0);
  assert_string_equal(out, "198.18.1.2");
  free(out);
}

static void test_report_id(void **st) {
  (void)st;
  char id[128];
  cs_probe_report_id(id, sizeof id, "web_connectivity", "PK", "AS17557", 0);
  /* {YYYYmmddTHHMMSSZ}_{test without '_'}_{CC}_{ASN}_n0_{16 random} */
  assert_int_equal(strncmp(id, "19700101T000000Z_webconnectivity_PK_17557_n0_", 45), 0);
  assert_int_equal(strlen(id), 45 + 16);
  char id2[128];
  cs_probe_report_id(id2, sizeof id2, "web_connectivity", "PK", "AS17557", 0);
  assert_string_not_equal(id, id2);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_scrub),
                                     cmocka_unit_test(test_report_id)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
