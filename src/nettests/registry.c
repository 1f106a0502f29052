/* registry.c - the list of nettests. Adding a nettest is one file in src/nettests/ that
 * defines `const cs_nettest cs_nettest_NAME` and one X(NAME) line below; the commands,
 * --help, the man page, `censorscope analyze` and the report all come from this list. */
#include "nettests/registry.h"

#include <string.h>

/* One line per nettest, in the order `censorscope --help` lists them. */
#define CS_NETTESTS(X)                                                                             \
  X(urlgetter)                                                                                     \
  X(web_connectivity)                                                                              \
  X(dnscheck)                                                                                      \
  X(telegram)                                                                                      \
  X(whatsapp)                                                                                      \
  X(signal)                                                                                        \
  X(facebook_messenger)                                                                            \
  X(platforms)                                                                                     \
  X(throttling)                                                                                    \
  X(resolver_identity)                                                                             \
  X(locate)                                                                                        \
  /* one line per nettest above this one */

#define CS_NETTEST_DECLARE(name) extern const cs_nettest cs_nettest_##name;
CS_NETTESTS(CS_NETTEST_DECLARE)
#undef CS_NETTEST_DECLARE

#define CS_NETTEST_ENTRY(name) &cs_nettest_##name,
static const cs_nettest *const nettests[] = {CS_NETTESTS(CS_NETTEST_ENTRY)};
#undef CS_NETTEST_ENTRY

const cs_nettest *cs_nettest_at(size_t i) {
  return i < sizeof nettests / sizeof *nettests ? nettests[i] : NULL;
}

const cs_nettest *cs_nettest_find(const char *name) {
  for (size_t i = 0; name && i < sizeof nettests / sizeof *nettests; i++)
    if (!strcmp(nettests[i]->name, name)) return nettests[i];
  return NULL;
}

bool cs_nettest_has_opt(const cs_nettest *nt, const char *name) {
  for (size_t i = 0; nt && name && i < nt->nopts; i++)
    if (!strcmp(nt->opts[i].name, name)) return true;
  return false;
}
