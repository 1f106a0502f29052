/* runner.h - runs one nettest over a list of inputs with bounded concurrency (-j), writing
 * each finished measurement as one JSON line as soon as it is done, and a one-line human
 * summary per measurement on stderr. Shared by the measurement commands. */
#ifndef CS_RUNNER_H
#define CS_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "engine/loop.h"
#include "nettests/probe.h"
#include "store/store.h"

typedef struct {
  const char *url;
  const char *category; /* Citizen Lab category code, or NULL */
  size_t line;          /* line in the input file (0: command line) */
} cs_input;

typedef struct {
  cs_input *v;
  size_t n, cap;
  char *text; /* the loaded file (fields point into it or into owned copies) */
  char **owned;
  size_t nowned;
} cs_input_list;

/* Appends one input (url is copied). Returns 0 or -1 (out of memory). */
int cs_inputs_add(cs_input_list *l, const char *url, const char *category, size_t line);
/* Loads a Citizen Lab CSV test list (header starting with "url,") or a plain list (one URL
 * per line, '#' comments, blank lines ignored). Malformed rows are reported on stderr with
 * their line number and skipped. Returns the number of rows skipped, or -1 when the file
 * cannot be read. */
long cs_inputs_load(cs_input_list *l, const char *path);
void cs_inputs_free(cs_input_list *l);

typedef int (*cs_start_fn)(void *ctx, cs_loop *l, const cs_input *in, cs_meas_cb done,
                           void *arg);
typedef void (*cs_summary_fn)(void *ctx, const char *json, size_t len);

typedef struct {
  const cs_input_list *inputs;
  size_t parallel;
  size_t per_host; /* politeness: at most this many measurements of one host at once (0: 2) */
  FILE *out;       /* JSON lines; a regular file is fdatasync'ed after every measurement */
  cs_store *store; /* NULL: no database */
  int64_t run_id;  /* the store's run (cs_store_run_begin); inputs it has are skipped */
  cs_start_fn start;
  cs_summary_fn summary; /* NULL: no per-measurement callback */
  void (*loop_ready)(void *ctx, cs_loop *l); /* before the first start (e.g. TH clients) */
  void (*all_done)(void *ctx);               /* after the last measurement (free them) */
  void *ctx;
  size_t skipped_done; /* out: inputs skipped because the store had them (resume) */
  size_t measured;     /* out: measurements written */
} cs_runner;

/* The inputs a run will measure (those the store does not have yet). */
size_t cs_runner_todo(const cs_runner *r);
/* Runs every input; returns 0, or 1 when the loop failed or writing failed. */
int cs_runner_run(cs_runner *r);

#endif
