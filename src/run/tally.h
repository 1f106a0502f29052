/* tally.h - counts of a run's outcomes and the one-line summary the CLI prints at the end of
 * a run (and a collector may log): from each measurement's outcome (record/outcome.h) and the
 * nettest's vocabulary, never re-derived from the test keys. An outcome the vocabulary counts
 * as censorship is "blocked"; the nettest's other outcomes (opt-in filters, server-side
 * blocks, urlgetter failures...) are "not censorship":
 *
 *   web_connectivity: 5 measured: 1 accessible, 1 blocked (dns 1, tcp_ip 0, tls 0,
 *   http_failure 0, blockpage 0), 2 not censorship (optin 2, server_side 0), 0 down,
 *   1 undetermined
 *
 * (one line; the groups a vocabulary lacks are left out). */
#ifndef CS_TALLY_H
#define CS_TALLY_H

#include <stddef.h>

#include "nettests/nettest.h"

#define CS_TALLY_MAX 64 /* outcomes counted one by one; more are counted as undetermined */

typedef struct {
  const cs_nettest *nt;
  size_t n;       /* measurements */
  size_t unknown; /* no outcome (not written) or a key outside the vocabulary */
  size_t count[CS_TALLY_MAX];
} cs_tally;

void cs_tally_init(cs_tally *t, const cs_nettest *nt);
/* Counts one measurement (o NULL: it could not be written). */
void cs_tally_add(cs_tally *t, const cs_outcome *o);
/* Measurements whose outcome counts as censorship. */
size_t cs_tally_blocked(const cs_tally *t);
/* The summary line (no newline) into buf (always NUL-terminated; cut when too small).
 * Returns buf. */
const char *cs_tally_line(const cs_tally *t, char *buf, size_t cap);

#endif
