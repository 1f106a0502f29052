/* cmd_report.c - `censorscope report`: summarises one stored run (or a JSON-lines file) as
 * text, JSON, CSV or a self-contained HTML page. A thin wrapper around report/report.h. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "report/report.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: censorscope report [--db PATH] [--run ID|latest] [--format text|json|csv|html]\n"
    "                          [-o FILE]\n"
    "       censorscope report --jsonl FILE [--format ...] [-o FILE]\n"
    "       censorscope report --db PATH --import FILE [--format ...] [-o FILE]\n"
    "       censorscope report --db PATH --list-runs\n"
    "\n"
    "Summarises a run of measurements: URLs tested, accessible, blocked by method (DNS,\n"
    "TCP/IP, TLS/SNI, HTTP failure, blockpage), confirmed blockpages, opt-in filters (not\n"
    "counted as censorship), sites down and undetermined, by Citizen Lab category, with every\n"
    "blocked URL and its evidence. Each measurement counts with the outcome its nettest\n"
    "recorded (x_outcome); web_connectivity measurements without one (OONI files, older\n"
    "databases) get it from their recorded verdict. A run may mix nettests (an imported file\n"
    "keeps each line's test_name; the run is named after them, or \"mixed\").\n"
    "See docs/report.md.\n"
    "\n"
    "options:\n"
    "  --db PATH        results database (default: $CENSORSCOPE_DB, else censorscope.db)\n"
    "  --run ID|latest  which run (default: latest)\n"
    "  --jsonl FILE     report straight from a JSON-lines file of measurements ('-': stdin)\n"
    "                   instead of a database (duplicate inputs: the first one counts)\n"
    "  --import FILE    store a JSON-lines file in the database (--db) as a new, finished\n"
    "                   run, then report on it\n"
    "  -f, --format F   text (default), json, csv (one row per URL) or html (one\n"
    "                   self-contained file: inline CSS and SVG, no scripts)\n"
    "  -o, --output F   write to F (atomically: F.tmp then rename) instead of stdout\n"
    "  --list-runs      list the runs in the database and exit\n"
    "  -h, --help       this help\n"
    "\n"
    "exit status: 0 ok, 1 error (no such run, unreadable database, write error), 2 usage.\n";

enum { OPT_DB = 256, OPT_RUN, OPT_JSONL, OPT_LIST, OPT_IMPORT };

/* Reads a JSON-lines file ("-": stdin) into a new run of s. Returns the run id or -1. */
static int64_t load_jsonl(cs_store *s, const char *path) {
  bool from_stdin = !strcmp(path, "-");
  FILE *in = from_stdin ? stdin : fopen(path, "rb");
  if (!in) {
    perror(path);
    return -1;
  }
  /* named after its measurements once read: their common test_name, or "mixed" */
  int64_t run_id = cs_store_run_begin(s, "web_connectivity", path, "{\"imported\":true}", false);
  cs_store_import_stats st;
  int irc = run_id > 0 ? cs_store_import_jsonl(s, run_id, in, &st) : CS_STORE_IO;
  if (!from_stdin) fclose(in);
  if (irc) {
    fprintf(stderr, "report: %s: %s (%s)\n", path, cs_store_strerror(irc), cs_store_errmsg(s));
    return -1;
  }
  if (st.bad || st.duplicate)
    fprintf(stderr,
            "report: %s: %llu measurements, %llu malformed lines skipped, %llu "
            "duplicate inputs skipped\n",
            path, (unsigned long long)st.added, (unsigned long long)st.bad,
            (unsigned long long)st.duplicate);
  if (cs_store_run_name(s, run_id) != CS_STORE_OK || cs_store_run_end(s, run_id) != CS_STORE_OK) {
    fprintf(stderr, "report: %s: %s\n", path, cs_store_errmsg(s));
    return -1;
  }
  return run_id;
}

static int print_run(void *ctx, const cs_store_run *r) {
  FILE *o = ctx;
  fprintf(o, "%6lld  ", (long long)r->id);
  char f[3][20];
  const char *v[3] = {r->test_name, r->started_at,
                      r->finished_at ? r->finished_at : "(unfinished)"};
  for (int i = 0; i < 3; i++) { /* fixed-width columns, no control bytes from the file */
    size_t j = 0;
    for (const char *p = v[i]; p && *p && j < sizeof f[i] - 1; p++)
      f[i][j++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    f[i][j] = 0;
  }
  fprintf(o, "%-18s %7lld  %-19s  %-19s  ", f[0], (long long)r->count, f[1], f[2]);
  cs_report_text_safe(o, *r->input_list ? r->input_list : "(command line)");
  fputc('\n', o);
  return 0;
}

static int run(int argc, char **argv) {
  static const struct option opts[] = {{"db", required_argument, 0, OPT_DB},
                                       {"run", required_argument, 0, OPT_RUN},
                                       {"jsonl", required_argument, 0, OPT_JSONL},
                                       {"format", required_argument, 0, 'f'},
                                       {"output", required_argument, 0, 'o'},
                                       {"list-runs", no_argument, 0, OPT_LIST},
                                       {"import", required_argument, 0, OPT_IMPORT},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *db = getenv("CENSORSCOPE_DB"), *run_arg = "latest", *jsonl = NULL, *out = NULL,
             *import = NULL;
  cs_report_format fmt = cs_report_format_at(0); /* text */
  bool list = false;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
    switch (c) {
    case OPT_DB: db = optarg; break;
    case OPT_RUN: run_arg = optarg; break;
    case OPT_JSONL: jsonl = optarg; break;
    case OPT_LIST: list = true; break;
    case OPT_IMPORT: import = optarg; break;
    case 'o': out = optarg; break;
    case 'f':
      if (cs_report_format_parse(optarg, &fmt) < 0) {
        fprintf(stderr, "report: unknown format '%s' (text, json, csv, html)\n", optarg);
        return 2;
      }
      break;
    case 'h': fputs(usage_text, stdout); return 0;
    default: fprintf(stderr, "usage: censorscope report [OPTIONS] (see --help)\n"); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "report: unexpected argument '%s' (see --help)\n", argv[optind]);
    return 2;
  }
  if (!db || !*db) db = "censorscope.db";
  char *end = NULL;
  long long want = 0;
  /* run_arg: "latest" or the optarg of a required_argument option, never NULL */
  if (strcmp(run_arg, "latest")) { // NOLINT(clang-analyzer-core.NonNullParamChecker)
    want = strtoll(run_arg, &end, 10);
    if (!*run_arg || *end || want <= 0) {
      fprintf(stderr, "report: --run wants a run id or 'latest'\n");
      return 2;
    }
  }
  if (jsonl && (list || want || import)) {
    fprintf(stderr, "report: --jsonl reports the whole file; --run/--list-runs/--import need "
                    "--db\n");
    return 2;
  }
  if (import && (list || want)) {
    fprintf(stderr, "report: --import reports on the run it creates\n");
    return 2;
  }
  struct stat sb;
  if (!jsonl && !import && stat(db, &sb) != 0) { /* a typo must not create an empty database */
    fprintf(stderr, "report: %s: no such database\n", db);
    return 1;
  }

  char err[512];
  cs_store *s = jsonl ? cs_store_open_scratch(err, sizeof err) : cs_store_open(db, err, sizeof err);
  if (!s) {
    fprintf(stderr, "report: %s\n", err);
    return 1;
  }
  int rc = 1;
  cs_report *r = NULL;
  /* measurements without x_outcome (OONI files, rows older than schema 2) get theirs here */
  if (!list && cs_store_set_analyzer(s, cs_report_analyzer, NULL) != CS_STORE_OK)
    fprintf(stderr, "report: %s: rows without an outcome stay undetermined (%s)\n",
            jsonl ? jsonl : db, cs_store_errmsg(s));
  FILE *o = NULL;
  char *tmp = NULL;
  int64_t run_id = want;
  if (list) {
    printf("%6s  %-18s %7s  %-19s  %-19s  %s\n", "run", "test", "URLs", "started (UTC)",
           "finished (UTC)", "input list");
    rc = cs_store_runs(s, print_run, stdout) < 0 ? 1 : 0;
    if (rc) fprintf(stderr, "report: %s\n", cs_store_errmsg(s));
    goto done;
  }
  if (jsonl || import) {
    run_id = load_jsonl(s, jsonl ? jsonl : import);
    if (run_id < 0) goto done;
  } else if (!run_id) {
    run_id = cs_store_run_latest(s);
    if (run_id <= 0) {
      fprintf(stderr, "report: %s: %s\n", db, run_id ? cs_store_errmsg(s) : "no runs stored");
      goto done;
    }
  }
  r = cs_report_compute(s, run_id, err, sizeof err);
  if (!r) {
    fprintf(stderr, "report: %s\n", err);
    goto done;
  }
  r->source_label = jsonl ? jsonl : db;
  if (out) {
    size_t n = strlen(out) + 5;
    tmp = malloc(n);
    if (!tmp) goto done;
    snprintf(tmp, n, "%s.tmp", out);
    o = fopen(tmp, "wb");
    if (!o) {
      perror(tmp);
      goto done;
    }
  }
  if (cs_report_write(o ? o : stdout, fmt, r, s) < 0) {
    fprintf(stderr, "report: writing the report failed (%s)\n", cs_store_errmsg(s));
    goto done;
  }
  if (o) {
    int cerr = fclose(o);
    o = NULL;
    if (cerr != 0 || rename(tmp, out) != 0) {
      perror(out);
      goto done;
    }
  }
  rc = 0;
done:
  if (o) fclose(o);
  if (tmp && rc) remove(tmp);
  free(tmp);
  cs_report_free(r);
  cs_store_close(s);
  return rc;
}

const cs_command cs_cmd_report = {"report", "summarise stored measurements (text, JSON, CSV, HTML)",
                                  run};
