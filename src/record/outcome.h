/* outcome.h - the outcome of one measurement: what it found, in one word, whether that counts
 * as censorship, and the key evidence in a few words.
 *
 * One rule in one place: a nettest's analysis computes the outcome once and writes it into the
 * measurement's test_keys; the CLI summary, the store, the report (and later the collector)
 * read it back and never re-derive it. Keys in test_keys:
 *
 *   "x_outcome"     string: one of the nettest's outcome keys ("accessible", "dns", "optin"...)
 *   "x_censorship"  bool:   true when the outcome counts as censorship
 *   "x_evidence"    string or null: the key evidence ("DNS lookup failed: dns_nxdomain_error")
 *
 * Every nettest shares the core keys below; it declares its own others (with a label and
 * whether they count as censorship) in its registry entry (nettests/nettest.h). */
#ifndef CS_OUTCOME_H
#define CS_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/json.h"

/* The core keys every nettest may use. */
#define CS_OUTCOME_ACCESSIBLE "accessible"     /* reached, nothing interfered */
#define CS_OUTCOME_UNDETERMINED "undetermined" /* the evidence supports no verdict */
#define CS_OUTCOME_SITE_DOWN "site_down"       /* the control failed too: not censorship */

/* test_keys members */
#define CS_OUTCOME_JSON_KEY "x_outcome"
#define CS_OUTCOME_JSON_CENSORSHIP "x_censorship"
#define CS_OUTCOME_JSON_EVIDENCE "x_evidence"

#define CS_OUTCOME_EVIDENCE_MAX 512 /* bytes of evidence kept (longer text is cut) */

typedef struct {
  const char *key;      /* never NULL once computed (CS_OUTCOME_UNDETERMINED at worst) */
  bool censorship;      /* counted as censorship */
  const char *evidence; /* NULL: none */
} cs_outcome;

/* How a nettest declares one of its outcomes (registry entry, report labels). */
typedef struct {
  const char *key;   /* "dns" */
  const char *label; /* "DNS tampering" */
  bool censorship;
} cs_outcome_def;

/* Writes the three members into an already-open JSON object (test_keys). */
void cs_outcome_write(cs_jw *w, const cs_outcome *o);

/* Reads them back from test_keys (or from a whole measurement: its "test_keys" is used).
 * Strings point into the parse tree. Returns 0, or -1 when there is no string x_outcome
 * (then *o is {"undetermined", false, NULL}). */
int cs_outcome_read(const cs_jval *v, cs_outcome *o);

/* The definition of key in defs[0..n), or NULL. */
const cs_outcome_def *cs_outcome_def_find(const cs_outcome_def *defs, size_t n, const char *key);

#endif
