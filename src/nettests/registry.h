/* registry.h - the list of nettests (nettests/registry.c: one line per nettest). */
#ifndef CS_REGISTRY_H
#define CS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "nettests/nettest.h"

/* The i-th registered nettest (in registry order), NULL past the end. */
const cs_nettest *cs_nettest_at(size_t i);
/* The nettest whose name is name, or NULL. */
const cs_nettest *cs_nettest_find(const char *name);
/* Whether nt has an option of its own with this long name (one named like a shared probe
 * option replaces it for that nettest: getopt, --help). */
bool cs_nettest_has_opt(const cs_nettest *nt, const char *name);

#endif
