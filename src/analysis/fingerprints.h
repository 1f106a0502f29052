/* fingerprints.h - blockpage and DNS-answer fingerprints (OONI blocking-fingerprints, Citizen Lab
 * filtering-annotations, Censored Planet blockpage/false-positive signatures) and matching.
 *
 * Load once (cs_fp_db_load), match many times from any thread (the database is read-only
 * after loading; PCRE2 match data is allocated per call). Files and their formats: see
 * data/fingerprints/README.md and docs/analysis.md. */
#ifndef CS_FINGERPRINTS_H
#define CS_FINGERPRINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cs_fp_db cs_fp_db;

/* What a fingerprint is for. Only CENSORSHIP fingerprints confirm blocking. */
typedef enum {
  CS_FP_KIND_CENSORSHIP = 0, /* scope nat / isp / prod / inst (and CP a_..f_ blockpages) */
  CS_FP_KIND_OPTIN,          /* a subscriber's own filter (e.g. Nayatel Safeweb, PK) */
  CS_FP_KIND_WEAK,           /* vague words / bogus-resolver conventions (scope vbw, br) */
  CS_FP_KIND_BENIGN,         /* injected benign notices (injb), provider pages (prov) */
  CS_FP_KIND_FALSE_POSITIVE  /* server-side / CDN / hosting pages (scope fp, CP false positives) */
} cs_fp_kind;

typedef struct {
  const char *name;   /* e.g. "ooni.ir_0", "cl.isp_pk_nayatel_block_optin", "cp.b_nat_..." */
  const char *source; /* "ooni", "citizenlab", "censoredplanet", "censoredplanet-fp" */
  const char *scope;  /* nat, isp, prod, inst, vbw, fp, injb, ... ("" if unknown) */
  const char *expected_countries; /* comma-separated ISO codes, "" = any */
  const char *location;           /* "body", "header.server", "dns", "response" ... */
  cs_fp_kind kind;
  bool optin; /* kind == CS_FP_KIND_OPTIN */
} cs_fp_match;

/* Loads every known file present in dir (missing files are skipped; at least one must load).
 * dir NULL: $CS_FINGERPRINTS_DIR, else "data/fingerprints". Returns NULL with a message in
 * err on failure. */
cs_fp_db *cs_fp_db_load(const char *dir, char *err, size_t errlen);
void cs_fp_db_free(cs_fp_db *db);
size_t cs_fp_db_count(const cs_fp_db *db);

/* One HTTP response as matched: headers as parallel arrays (names any case). */
typedef struct {
  const char *const *hnames;
  const char *const *hvalues;
  size_t nheaders;
  const uint8_t *body;
  size_t body_len;
} cs_fp_http;

/* Best HTTP match for a response: censorship before opt-in before weak; false-positive
 * signatures are tried first (Censored Planet README) and, if one matches and no censorship
 * fingerprint does, it is returned. Returns false when nothing matched. */
bool cs_fp_match_http(const cs_fp_db *db, const cs_fp_http *resp, cs_fp_match *out);
/* Best match for one DNS answer (an IP literal). */
bool cs_fp_match_dns(const cs_fp_db *db, const char *answer, cs_fp_match *out);

/* The longest run of bytes that every match of the regular expression re[0..n) (PCRE2, no
 * compile options) provably contains, copied to out (at most cap bytes); returns its length,
 * 0 when none can be proven (top-level alternation, inline options, escapes with arguments
 * ...). Conservative by construction: a shorter or no literal is always safe. The matcher
 * runs an expression only on haystacks that contain its literal (fuzz/fuzz_fp_literal.c
 * checks the property against PCRE2 itself). */
#define CS_FP_LITERAL_MAX 256
size_t cs_fp_required_literal(const char *re, size_t n, char *out, size_t cap);

/* True when cc (e.g. "PK") is listed in m->expected_countries, or that list is empty. */
bool cs_fp_country_ok(const cs_fp_match *m, const char *cc);
const char *cs_fp_kind_str(cs_fp_kind k);

#endif
