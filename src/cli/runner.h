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
  FILE *out;
  cs_start_fn start;
  cs_summary_fn summary; /* NULL: no per-measurement line */
  void *ctx;
} cs_runner;

/* Runs every input; returns 0, or 1 when the loop failed or writing failed. */
int cs_runner_run(const cs_runner *r);

#endif
