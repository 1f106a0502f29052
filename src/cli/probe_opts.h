/* probe_opts.h - the options every measurement command shares (trust store, resolver,
 * overrides, lab networks, concurrency, envelope metadata, deadlines, output), parsed in one
 * place so that they mean the same thing everywhere. */
#ifndef CS_PROBE_OPTS_H
#define CS_PROBE_OPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/runner.h"
#include "nettests/probe.h"
#include "store/store.h"

enum {
  CS_OPT_CA = 256, CS_OPT_RESOLVER, CS_OPT_SNI, CS_OPT_ADDRESS, CS_OPT_LABNET, CS_OPT_CC,
  CS_OPT_ASN, CS_OPT_DNS_TO, CS_OPT_TCP_TO, CS_OPT_TLS_TO, CS_OPT_HTTP_TO, CS_OPT_DB,
  CS_OPT_NO_DB, CS_OPT_RESUME, CS_OPT_PER_HOST,
  CS_OPT__FIRST_FREE = 300 /* commands number their own options from here */
};

/* getopt_long entries for the shared options (short: -o, -j, -f, -q, -v, -h). */
#define CS_PROBE_LONGOPTS                                                                   \
  {"output", required_argument, 0, 'o'}, {"ca-file", required_argument, 0, CS_OPT_CA},      \
      {"resolver", required_argument, 0, CS_OPT_RESOLVER},                                  \
      {"sni", required_argument, 0, CS_OPT_SNI},                                            \
      {"address", required_argument, 0, CS_OPT_ADDRESS},                                    \
      {"lab-net", required_argument, 0, CS_OPT_LABNET},                                     \
      {"parallel", required_argument, 0, 'j'}, {"input-file", required_argument, 0, 'f'},  \
      {"probe-cc", required_argument, 0, CS_OPT_CC},                                        \
      {"probe-asn", required_argument, 0, CS_OPT_ASN},                                      \
      {"dns-timeout", required_argument, 0, CS_OPT_DNS_TO},                                 \
      {"tcp-timeout", required_argument, 0, CS_OPT_TCP_TO},                                 \
      {"tls-timeout", required_argument, 0, CS_OPT_TLS_TO},                                 \
      {"http-timeout", required_argument, 0, CS_OPT_HTTP_TO},                               \
      {"db", required_argument, 0, CS_OPT_DB}, {"no-db", no_argument, 0, CS_OPT_NO_DB},     \
      {"resume", no_argument, 0, CS_OPT_RESUME},                                            \
      {"per-host", required_argument, 0, CS_OPT_PER_HOST},                                  \
      {"quiet", no_argument, 0, 'q'}, {"verbose", no_argument, 0, 'v'},                     \
      {"help", no_argument, 0, 'h'}
#define CS_PROBE_SHORTOPTS "o:j:f:qvh"

/* Help text for the shared options (to print after a command's own text). */
extern const char cs_probe_opts_help[];

typedef struct {
  const char *cmd; /* command name for messages */
  bool db_by_default;
  cs_probe_cfg cfg;
  const char *ca_file, *output, *list_file;
  size_t parallel, per_host;
  bool quiet, verbose;
  const char *db_path; /* --db */
  bool no_db, resume;
  cs_input_list inputs;
  FILE *out;
  cs_store *store; /* opened by cs_probe_opts_finish unless --no-db (or no default) */
  int64_t run_id;
} cs_probe_opts;

/* db_by_default: open the default database ($CENSORSCOPE_DB, else ./censorscope.db, as
 * `censorscope report`) when --db is not given. */
void cs_probe_opts_init(cs_probe_opts *o, const char *cmd, bool db_by_default);
/* Handles one getopt_long result. Returns 1 when handled, 0 when not a shared option, -1 on
 * a usage error (message printed), 2 for --help (caller prints its usage and exits 0). */
int cs_probe_opts_handle(cs_probe_opts *o, int c, const char *arg);
/* After option parsing: collects inputs (positional URLs + -f), builds the TLS context,
 * opens the output, sets test_start and report_id. Returns 0, or 2 on a usage/setup error
 * (message printed). */
int cs_probe_opts_finish(cs_probe_opts *o, int argc, char **argv, int optind_);
/* Marks the store's run finished (call when every input was measured). */
void cs_probe_opts_run_end(cs_probe_opts *o);
void cs_probe_opts_free(cs_probe_opts *o);

#endif
