/* nettest.h - what a nettest is: one const table entry (ZMap's probe modules are the model).
 *
 * A nettest is one file in src/nettests/ that defines `const cs_nettest cs_nettest_NAME` and
 * one line in the list of nettests/registry.c. From the entry alone:
 *   - `censorscope NAME [OPTIONS] [INPUT...]` exists, with getopt, --help and the man page
 *     generated from the shared probe options plus `opts`;
 *   - the scheduler runs it over its inputs (URL list, domain/endpoint list, or none) with
 *     bounded concurrency, politeness, progress, JSON lines, the store and --resume;
 *   - `censorscope analyze` re-analyses its stored measurements through `analyze`;
 *   - the store keeps its outcome, and `censorscope report` labels it with `outcomes` and adds
 *     the nettest's own `report` section.
 *
 * Lifecycle of a run: create() -> options (opts[i].set) -> prepare() -> loop_ready() ->
 * start() per input, each ending with exactly one done() -> loop_done() -> destroy(). */
#ifndef CS_NETTEST_H
#define CS_NETTEST_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/loop.h"
#include "nettests/probe.h"
#include "record/outcome.h"
#include "util/arena.h"
#include "util/json.h"

struct cs_fp_db;
struct cs_report_section; /* report/: what the nettest adds to `censorscope report` */

typedef enum {
  CS_INPUT_NONE,    /* one measurement per run, input null (OONI's app tests) */
  CS_INPUT_URL,     /* URLs: command line or -f (Citizen Lab CSV or one per line) */
  CS_INPUT_DOMAIN,  /* domain names, or host:port endpoints, one per line */
  CS_INPUT_RESOLVER /* resolver specs: "system", udp://IP:PORT, https://... (dnscheck) */
} cs_input_kind;

/* One input of a run. */
typedef struct {
  const char *input;    /* NULL for CS_INPUT_NONE */
  const char *category; /* Citizen Lab category code, or NULL */
  size_t line;          /* line in the input file (0: command line) */
} cs_nettest_input;

/* A finished measurement: one JSON object (no trailing newline) and its outcome, both valid
 * only during the callback. outcome is NULL only when the measurement could not be written
 * (out of memory: json is then a short {"error":...} object). */
typedef struct {
  const char *json;
  size_t len;
  const cs_outcome *outcome;
} cs_meas;
typedef void (*cs_meas_done)(void *arg, const cs_meas *m);

/* One option of a nettest, declared once: getopt_long, --help and censorscope.1 come from
 * this table. */
typedef struct {
  const char *name; /* long name without "--" ("th-timeout") */
  int short_name;   /* 0: none */
  const char *arg;  /* the argument's name in the help ("S", "URL"); NULL: a flag */
  const char *help; /* one sentence or more; wrapped by the help printer */
  bool repeatable;  /* may be given more than once */
  /* Stores the value (arg is NULL for a flag) in the nettest's settings. Returns 0, 1 when
   * the value is also one input of the run (throttling's --sni NAME), or -1 with a message
   * (without the option name) in err. An option named like a shared probe option replaces
   * it for this nettest. */
  int (*set)(void *settings, const char *arg, char *err, size_t errlen);
} cs_optdef;

/* Options of `censorscope analyze` that analyses may honour. */
typedef struct {
  const struct cs_fp_db *fingerprints; /* NULL: no blockpage matching */
  bool ooni_strict;                    /* reproduce OONI exactly, no censorscope deviations */
  const char *algo;                    /* web_connectivity: "auto", "lte", "v0.4", "legacy" */
  const char *probe_cc;                /* when the measurement has none (fingerprints) */
} cs_analysis_opts;

typedef struct cs_nettest {
  const char *name;    /* test_name, and the command's name */
  const char *version; /* test_version written into measurements */
  const char *summary; /* one line for `censorscope --help` */
  const char *help;    /* what it does, for `censorscope NAME --help` and the man page */
  cs_input_kind input;
  bool db_by_default; /* store into the default database unless --no-db */

  const cs_optdef *opts; /* the nettest's own options (the shared probe options are added) */
  size_t nopts;

  /* The nettest's outcome vocabulary (the core keys of record/outcome.h included). */
  const cs_outcome_def *outcomes;
  size_t noutcomes;

  /* Settings of one run (may all be NULL for a nettest without options). */
  void *(*create)(void);           /* defaults; NULL when out of memory */
  void (*destroy)(void *settings); /* NULL ok */
  /* After option parsing: validate and load what the run needs (fingerprints...). Returns
   * 0, or -1 with a message in err (a usage/setup error). */
  int (*prepare)(void *settings, const cs_probe_cfg *probe, char *err, size_t errlen);
  /* On the run's loop, before the first start / after the last measurement (e.g. pooled
   * control-server clients sized by the run's parallelism). */
  void (*loop_ready)(void *settings, cs_loop *l, const cs_probe_cfg *probe, size_t parallel);
  void (*loop_done)(void *settings);

  /* Starts one measurement; done(arg, m) is called exactly once, from the loop, never from
   * inside start. settings and probe outlive the measurement. Returns -1 when out of memory
   * (done is then never called). */
  int (*start)(cs_loop *l, void *settings, const cs_probe_cfg *probe, const cs_nettest_input *in,
               cs_meas_done done, void *arg);

  /* Re-analysis of a stored measurement (ours or OONI's, already unwrapped): writes the
   * nettest's verdict keys, outcome included, into the open object w (NULL: don't) exactly
   * as its own run writes them, and fills *out. The probe computes its verdict with the same
   * function on its serialised evidence. Returns 0, or -1 when m is not analysable (*out is
   * then undetermined). */
  int (*analyze)(cs_arena *a, const cs_jval *m, const cs_analysis_opts *opt, cs_jw *w,
                 cs_outcome *out);

  const struct cs_report_section *report; /* NULL: the generic report only */

  /* For the command line: what follows "[OPTIONS]" in the usage line ("URL...", NULL: none),
   * and whether the one-line-per-measurement stderr summary is shown without -v (else with
   * -v only, and a live progress line instead when stderr is a terminal). */
  const char *synopsis;
  bool lines_by_default;
} cs_nettest;

#endif
