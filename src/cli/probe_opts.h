/* probe_opts.h - the options every nettest command shares (trust store, resolver, overrides,
 * lab networks, concurrency, envelope metadata, deadlines, output, database), declared once
 * in a table (probe_opts.c) from which the getopt entries, the validation, --help and the man
 * page come, so that they mean the same thing everywhere. */
#ifndef CS_PROBE_OPTS_H
#define CS_PROBE_OPTS_H

#include <stdbool.h>
#include <stdio.h>

#include "nettests/nettest.h"
#include "run/run.h"
#include "store/store.h"
#include "upload/upload.h"

typedef struct {
  const char *cmd; /* command name for messages */
  bool db_by_default;
  cs_input_kind kind;
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
  /* --collector (repeatable): uploads as measurements are stored (docs/collector.md) */
  const char *collectors[CS_UPLOAD_MAX_COLLECTORS];
  size_t ncollectors;
  double upload_wait;   /* --upload-wait: the final drain's bound (s) */
  const char *db_used;  /* the database opened (path) */
  cs_upload_bg *upload; /* the uploader's thread while the run lasts */
  const char *work;     /* --work LIST: inputs are claimed from the collector */
} cs_probe_opts;

/* The shared options, in help order: the i-th, NULL past the end. */
const cs_optdef *cs_probe_optdef(size_t i);

/* db_by_default: open the default database ($CENSORSCOPE_DB, else ./censorscope.db, as
 * `censorscope report`) when --db is not given. kind: what the inputs are. */
void cs_probe_opts_init(cs_probe_opts *o, const char *cmd, bool db_by_default, cs_input_kind kind);
/* Sets shared option i (cs_probe_optdef(i)) from arg (NULL for a flag). Returns 1 when set,
 * -1 on a usage error (message printed), 2 for --help. */
int cs_probe_opts_set(cs_probe_opts *o, size_t i, const char *arg);
/* After option parsing: collects inputs (positional + -f; one null input for a nettest
 * without input), builds the TLS context, opens the output and the store, sets test_start
 * and report_id. Returns 0, or 2 on a usage/setup error (message printed). */
int cs_probe_opts_finish(cs_probe_opts *o, int argc, char **argv, int optind_);
/* Runs r: once over the inputs, or with --work chunk after chunk of the collector's list
 * (claim, measure with heartbeats, mark done, upload) until the list is done for this
 * network. Returns cs_run_run's code (1 also when the work API failed). */
int cs_probe_opts_run(cs_probe_opts *o, cs_run *r);
/* A measurement was stored: the uploader (--collector) may send it. */
void cs_probe_opts_stored(cs_probe_opts *o);
/* The final drain of the upload queue (at most --upload-wait seconds) and its summary line;
 * a no-op without --collector. */
void cs_probe_opts_upload_end(cs_probe_opts *o);
/* Marks the store's run finished (call when every input was measured). */
void cs_probe_opts_run_end(cs_probe_opts *o);
void cs_probe_opts_free(cs_probe_opts *o);

#endif
