/* run.h - the scheduler of the library: runs one nettest (nettests/nettest.h) over a list of
 * inputs of any kind (URLs, domains or endpoints, resolvers, or one null input) with bounded
 * concurrency and per-host politeness, writing each finished measurement durably as soon as
 * it is done: into the store first (the record --resume reads), then as one JSON line
 * (fdatasync'ed when the output is a regular file), then to a per-measurement callback
 * (progress, summaries). The CLI and a future collector share it. */
#ifndef CS_RUN_H
#define CS_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "engine/loop.h"
#include "nettests/nettest.h"
#include "store/store.h"

/* The inputs of a run (each cs_nettest_input's strings are owned by the list). */
typedef struct {
  cs_nettest_input *v;
  size_t n, cap;
  char **owned;
  size_t nowned;
} cs_input_list;

/* Appends one input (copied; NULL: a null input, for CS_INPUT_NONE). Returns 0 or -1 (out of
 * memory). */
int cs_inputs_add(cs_input_list *l, const char *input, const char *category, size_t line);
/* Loads an input file for a nettest of input kind `kind`. URLs: a Citizen Lab CSV test list
 * (header starting with "url,") or one http(s) URL per line. Domains, endpoints, resolvers:
 * one per line. '#' comments and blank lines are ignored; malformed rows are reported on
 * stderr with their line number and skipped. Returns the number of rows skipped, or -1 when
 * the file cannot be read (errno set). */
long cs_inputs_load(cs_input_list *l, cs_input_kind kind, const char *path);
void cs_inputs_free(cs_input_list *l);

/* Called once per finished measurement, after it was stored and written. */
typedef void (*cs_run_meas_fn)(void *ctx, const cs_nettest_input *in, const cs_meas *m);

typedef struct {
  const cs_nettest *nettest;
  void *settings;            /* the nettest's (create/prepare) */
  const cs_probe_cfg *probe; /* outlives the run */
  const cs_input_list *inputs;
  size_t parallel; /* measurements at once (0: 1) */
  size_t per_host; /* politeness: at most this many measurements of one host at once (0: 2) */
  FILE *out;       /* JSON lines (NULL: none); a regular file is fdatasync'ed after each */
  cs_store *store; /* NULL: no database */
  int64_t run_id;  /* the store's run (cs_store_run_begin); inputs it has are skipped */
  cs_run_meas_fn on_meas; /* NULL: none */
  void *ctx;
  size_t skipped_done; /* out: inputs skipped because the store had them (resume) */
  size_t measured;     /* out: measurements written */
} cs_run;

/* The inputs a run will measure (those the store does not have yet). */
size_t cs_run_todo(const cs_run *r);
/* Runs every input on a new loop: nettest loop_ready, start per input, loop_done after the
 * last. Returns 0, or 1 when the loop failed or writing failed (message on stderr). */
int cs_run_run(cs_run *r);

#endif
