/* cmd_nettest.c - `censorscope NETTEST [OPTIONS] [INPUT...]` for every registered nettest:
 * getopt built from the shared probe options plus the nettest's own table, --help from the
 * same tables, the run on the library's scheduler (run/run.h), and on stderr one line per
 * measurement and a final summary, both from the measurement's outcome (never re-derived).
 *
 * The final line is the run's tally (run/tally.h; docs/nettests.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/probe_opts.h"
#include "nettests/registry.h"
#include "run/run.h"
#include "run/tally.h"
#include "util/json.h"
#include "util/timeutil.h"

#define NT_OPT_BASE 512 /* getopt values: 256 + shared index, 512 + nettest index */
#define SHARED_OPT_BASE 256

typedef struct {
  const cs_nettest *nt;
  cs_probe_opts *po;
  cs_tally tally; /* the outcomes so far */
  size_t todo;    /* measurements this run will make */
  double t0;      /* monotonic start */
  bool progress;  /* live line on a terminal */
  bool lines;     /* one line per measurement */
} nt_cli;

/* The word a measurement's line starts with. */
static void outcome_word(const cs_outcome *o, char *out, size_t cap) {
  const char *w = !o                                         ? "ERROR"
                  : o->censorship                            ? "BLOCKED"
                  : !strcmp(o->key, CS_OUTCOME_ACCESSIBLE)   ? "ok"
                  : !strcmp(o->key, CS_OUTCOME_SITE_DOWN)    ? "DOWN"
                  : !strcmp(o->key, CS_OUTCOME_UNDETERMINED) ? "UNKNOWN"
                                                             : NULL;
  if (w) {
    snprintf(out, cap, "%s", w);
    return;
  }
  size_t i = 0;
  for (; o->key[i] && i + 1 < cap; i++)
    out[i] = o->key[i] >= 'a' && o->key[i] <= 'z' ? (char)(o->key[i] - 'a' + 'A') : o->key[i];
  out[i] = 0;
}

static void on_meas(void *ctx, const cs_nettest_input *in, const cs_meas *m) {
  nt_cli *c = ctx;
  const cs_nettest *nt = c->nt;
  cs_probe_opts_stored(c->po);
  cs_tally_add(&c->tally, m->outcome);
  if (c->progress) fputs("\r\033[K", stderr); /* clear the live line */
  if (c->lines) {
    char word[32];
    outcome_word(m->outcome, word, sizeof word);
    fprintf(stderr, "%-7s %s", word, in->input ? in->input : "(no input)");
    if (m->outcome && m->outcome->censorship) fprintf(stderr, " [%s]", m->outcome->key);
    const char *ev = m->outcome ? m->outcome->evidence : "the measurement could not be written";
    if (ev) fprintf(stderr, ": %s", ev);
    if (c->po->verbose) { /* the runtime the measurement records */
      cs_arena *a = cs_arena_new(0);
      char err[64];
      const cs_jval *v = a ? cs_json_parse(a, m->json, m->len, NULL, err, sizeof err) : NULL;
      if (v) fprintf(stderr, " (%.2fs)", cs_json_get_num(v, "test_runtime", 0));
      cs_arena_free(a);
    }
    fputc('\n', stderr);
  }
  if (c->progress) {
    size_t n = c->tally.n;
    double el = cs_mono_now() - c->t0, rate = el > 0 ? (double)n / el : 0;
    fprintf(stderr, "%zu/%zu measured, %zu blocked, %.1f %s/s, ETA %.0fs", n, c->todo,
            cs_tally_blocked(&c->tally), rate, nt->input == CS_INPUT_URL ? "URL" : "input",
            rate > 0 ? (double)(c->todo - (n < c->todo ? n : c->todo)) / rate : 0.0);
  }
}

/* getopt_long's tables from the shared options and the nettest's. Returns 0 or -1 (OOM). */
static int build_getopt(const cs_nettest *nt, struct option **longopts, char *shortopts,
                        size_t cap) {
  size_t nshared = 0;
  while (cs_probe_optdef(nshared)) nshared++;
  struct option *lo = calloc(nshared + nt->nopts + 1, sizeof *lo);
  if (!lo) return -1;
  size_t k = 0, s = 0;
  for (size_t j = 0; j < nshared + nt->nopts; j++) {
    /* the nettest's own options first: one of them named like a shared option replaces it
     * (throttling's repeatable --sni), and the shared one is left out */
    size_t i = j < nt->nopts ? nshared + j : j - nt->nopts;
    const cs_optdef *d = i < nshared ? cs_probe_optdef(i) : &nt->opts[i - nshared];
    if (i < nshared && cs_nettest_has_opt(nt, d->name)) continue;
    int val = i < nshared ? SHARED_OPT_BASE + (int)i : NT_OPT_BASE + (int)(i - nshared);
    lo[k++] = (struct option){d->name, d->arg ? required_argument : no_argument, NULL, val};
    if (d->short_name && s + 3 < cap) {
      shortopts[s++] = (char)d->short_name;
      if (d->arg) shortopts[s++] = ':';
    }
  }
  shortopts[s] = 0;
  *longopts = lo;
  return 0;
}

/* The index in the getopt tables of short option c. */
static int short_to_val(const cs_nettest *nt, int c) {
  for (size_t i = 0; i < nt->nopts; i++)
    if (nt->opts[i].short_name == c) return NT_OPT_BASE + (int)i;
  for (size_t i = 0; cs_probe_optdef(i); i++)
    if (cs_probe_optdef(i)->short_name == c) return SHARED_OPT_BASE + (int)i;
  return -1;
}

static void usage_hint(const cs_nettest *nt) {
  fprintf(stderr, "usage: censorscope %s [OPTIONS]%s%s (see --help)\n", nt->name,
          nt->synopsis ? " " : "", nt->synopsis ? nt->synopsis : "");
}

/* Parses the options into po and settings (the values of a nettest option whose setter says
 * so become inputs, in order). Returns -1 to go on, else the exit code. */
static int parse(const cs_nettest *nt, cs_probe_opts *po, void *settings, int argc, char **argv) {
  struct option *lo;
  char shortopts[64];
  if (build_getopt(nt, &lo, shortopts, sizeof shortopts) < 0) {
    fprintf(stderr, "%s: out of memory\n", nt->name);
    return 1;
  }
  int c, rc = -1;
  optind = 1;
  while (rc < 0 && (c = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
    if (c != '?' && c < SHARED_OPT_BASE) c = short_to_val(nt, c);
    if (c >= NT_OPT_BASE) {
      const cs_optdef *d = &nt->opts[c - NT_OPT_BASE];
      char err[256] = "invalid value";
      int set = d->set(settings, optarg, err, sizeof err);
      if (set < 0) {
        fprintf(stderr, "%s: --%s %s\n", nt->name, d->name, err);
        rc = 2;
      } else if (set == 1 && cs_inputs_add(&po->inputs, optarg, NULL, 0) < 0) {
        fprintf(stderr, "%s: out of memory\n", nt->name);
        rc = 1;
      }
    } else if (c >= SHARED_OPT_BASE) {
      int h = cs_probe_opts_set(po, (size_t)(c - SHARED_OPT_BASE), optarg);
      if (h == 2) {
        cs_help_nettest(stdout, nt);
        rc = 0;
      } else if (h < 0) {
        rc = 2;
      }
    } else {
      usage_hint(nt);
      rc = 2;
    }
  }
  free(lo);
  return rc;
}

int cs_cmd_nettest(const cs_nettest *nt, int argc, char **argv) {
  void *settings = nt->create ? nt->create() : NULL;
  if (nt->create && !settings) {
    fprintf(stderr, "%s: out of memory\n", nt->name);
    return 1;
  }
  static cs_probe_opts po; /* the probe cfg must outlive every measurement of the run */
  cs_probe_opts_init(&po, nt->name, nt->db_by_default, nt->input);
  nt_cli c = {.nt = nt, .po = &po};
  cs_tally_init(&c.tally, nt);
  int rc = parse(nt, &po, settings, argc, argv);
  bool go = rc < 0; /* options parsed, no --help */
  if (go && nt->prepare) {
    char err[512] = "";
    if (nt->prepare(settings, &po.cfg, err, sizeof err) < 0) {
      fprintf(stderr, "%s: %s\n", nt->name, err);
      rc = 2, go = false;
    }
  }
  if (go) go = (rc = cs_probe_opts_finish(&po, argc, argv, optind)) == 0;
  if (go) {
    cs_run r = {.nettest = nt,
                .settings = settings,
                .probe = &po.cfg,
                .inputs = &po.inputs,
                .parallel = po.parallel,
                .per_host = po.per_host,
                .out = po.out,
                .store = po.store,
                .run_id = po.run_id,
                .on_meas = on_meas,
                .ctx = &c};
    c.todo = cs_run_todo(&r);
    c.lines = po.verbose || (nt->lines_by_default && !po.quiet);
    c.progress = !c.lines && !po.quiet && isatty(STDERR_FILENO);
    c.t0 = cs_mono_now();
    rc = cs_probe_opts_run(&po, &r);
    if (c.progress) fputs("\r\033[K", stderr);
    if (r.skipped_done && !po.quiet)
      fprintf(stderr, "%s: resumed: %zu %ss already measured in this run were skipped\n", nt->name,
              r.skipped_done, nt->input == CS_INPUT_URL ? "URL" : "input");
    if (rc == 0 && (po.work || r.measured + r.skipped_done == po.inputs.n))
      cs_probe_opts_run_end(&po);
    char line[1024];
    if (!po.quiet) fprintf(stderr, "%s\n", cs_tally_line(&c.tally, line, sizeof line));
    cs_probe_opts_upload_end(&po);
  }
  cs_probe_opts_free(&po);
  if (nt->destroy) nt->destroy(settings);
  return rc;
}
