/* fuzz_fp_literal.c - libFuzzer target: the required literal of a regular expression
 * (cs_fp_required_literal, used to skip Censored Planet signatures whose literal is absent
 * from a page) must really be required: whenever PCRE2 matches the expression in a subject,
 * the subject contains the literal. Input: pattern, a NUL byte, subject. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "analysis/fingerprints.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  if (!nul) return 0;
  size_t plen = (size_t)(nul - data), slen = size - plen - 1;
  const uint8_t *subj = nul + 1;
  char lit[CS_FP_LITERAL_MAX];
  size_t l = cs_fp_required_literal((const char *)data, plen, lit, sizeof lit);
  if (l > plen) __builtin_trap(); /* a literal is never longer than its pattern */
  int errc;
  PCRE2_SIZE erroff;
  pcre2_code *re = pcre2_compile(data, plen, 0, &errc, &erroff, NULL);
  if (!re) return 0;
  pcre2_match_context *mc = pcre2_match_context_create(NULL);
  pcre2_set_match_limit(mc, 20000);
  pcre2_set_depth_limit(mc, 1000);
  pcre2_match_data *md = pcre2_match_data_create(1, NULL);
  int rc = pcre2_match(re, subj, slen, 0, 0, md, mc);
  if (rc >= 0 && l > 0) {
    /* the literal lies inside the matched text */
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    if (ov[1] < ov[0] || !memmem(subj + ov[0], ov[1] - ov[0], lit, l)) __builtin_trap();
  }
  pcre2_match_data_free(md);
  pcre2_match_context_free(mc);
  pcre2_code_free(re);
  return 0;
}
