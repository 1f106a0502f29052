/* cmd_web_connectivity.c - `censorscope web_connectivity [OPTIONS] URL...` (or -f LIST):
 * OONI's Web Connectivity with a control server; JSON lines on stdout (or -o), a human
 * summary on stderr. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/fingerprints.h"
#include "cli/cli.h"
#include "cli/probe_opts.h"
#include "cli/runner.h"
#include "nettests/wc_control.h"
#include "nettests/web_connectivity.h"
#include "util/json.h"
#include "util/timeutil.h"

static const char usage_text[] =
    "usage: censorscope web_connectivity [OPTIONS] --th URL (URL... | -f LIST)\n"
    "\n"
    "For each URL: resolve it with the system resolver, ask a control server (test helper)\n"
    "what an uncensored vantage point sees, connect to every resolved address (TCP, plus TLS\n"
    "for https), GET with redirects, and compare. Prints one OONI web_connectivity\n"
    "measurement per line with the raw evidence and OONI's verdict keys (dns_consistency,\n"
    "body_length_match, ..., blocking, accessible), plus censorscope's extras (x_analysis_*,\n"
    "x_blockpage*: confirmed blockpage fingerprints, opt-in filters, server-side blocks).\n"
    "\n"
    "options:\n"
    "      --th URL           control server (ours: `censorscope helper`, or OONI's); repeat\n"
    "                         to give fallbacks, tried in turn\n"
    "      --th-timeout S     deadline of one control query (default 30)\n"
    "      --fingerprints DIR blockpage/DNS fingerprint data (default: $CS_FINGERPRINTS_DIR,\n"
    "                         else data/fingerprints of this source tree)\n";

enum { O_TH = CS_OPT__FIRST_FREE, O_TH_TO, O_FP };

typedef struct {
  cs_probe_opts po;
  cs_wc_cfg cfg;
  size_t n, accessible, down, undetermined, blocked[6];
  size_t todo;     /* measurements this run will make */
  double t0;       /* monotonic start */
  bool progress;   /* live line on a terminal */
  size_t th_conns; /* connections per control server (pooled, pipelined) */
} wc_cli;

static const char *verdict_word(const cs_jval *tk, const char **method) {
  const cs_jval *b = cs_json_get(tk, "blocking");
  int acc = cs_json_get_bool(tk, "accessible", -1);
  *method = NULL;
  if (b && b->type == CS_JSTR) {
    *method = b->str;
    return "BLOCKED";
  }
  if (b && b->type == CS_JBOOL && !b->b) return acc == 1 ? "ok" : "DOWN";
  return "UNKNOWN";
}

static void summary(void *ctx, const char *json, size_t len) {
  wc_cli *w = ctx;
  cs_arena *a = cs_arena_new(0);
  if (!a) return;
  char err[64];
  cs_jval *v = cs_json_parse(a, json, len, NULL, err, sizeof err);
  const cs_jval *tk = cs_json_get(v, "test_keys");
  const char *method;
  const char *word = verdict_word(tk, &method);
  w->n++;
  if (method) {
    static const char *const names[] = {"dns", "tcp_ip", "http-failure", "http-diff"};
    size_t k = 4;
    for (size_t i = 0; i < 4; i++)
      if (!strcmp(method, names[i])) k = i;
    w->blocked[k]++;
  } else if (!strcmp(word, "ok")) w->accessible++;
  else if (!strcmp(word, "DOWN")) w->down++;
  else w->undetermined++;
  if (w->progress) fputs("\r\033[K", stderr); /* clear the live line */
  if (w->po.verbose) {
    fprintf(stderr, "%-8s %-13s %s", word, method ? method : "",
            cs_json_get_str(v, "input", "?"));
    const cs_jval *bp = cs_json_get(tk, "x_blockpage");
    if (bp && bp->type == CS_JOBJ)
      fprintf(stderr, "  [blockpage %s%s]", cs_json_get_str(bp, "name", "?"),
              cs_json_get_bool(tk, "x_blockpage_optin", 0) == 1 ? ", opt-in filter" : "");
    const char *cf = cs_json_get_str(tk, "control_failure", NULL);
    if (cf) fprintf(stderr, "  [control: %s]", cf);
    const char *r = cs_json_get_str(tk, "x_analysis_reason", NULL);
    if (r) fprintf(stderr, "  (%s)", r);
    fputc('\n', stderr);
  }
  if (w->progress) {
    double el = cs_mono_now() - w->t0, rate = el > 0 ? (double)w->n / el : 0;
    size_t blocked = w->blocked[0] + w->blocked[1] + w->blocked[2] + w->blocked[3] + w->blocked[4];
    fprintf(stderr, "%zu/%zu measured, %zu blocked, %.1f URL/s, ETA %.0fs", w->n, w->todo, blocked,
            rate, rate > 0 ? (double)(w->todo - (w->n < w->todo ? w->n : w->todo)) / rate : 0.0);
  }
  cs_arena_free(a);
}

/* One pooled, pipelined client per control server for the whole run, so the control
 * queries of thousands of URLs share a few keep-alive connections. */
static void loop_ready(void *ctx, cs_loop *l) {
  wc_cli *w = ctx;
  cs_th_client_opts o = {.max_conns = w->th_conns, .timeout = w->cfg.th_timeout};
  for (size_t i = 0; i < w->cfg.nth; i++) {
    char err[160];
    w->cfg.pool[i] = cs_th_client_new(l, w->cfg.probe.tls, w->cfg.th[i], &o, err, sizeof err);
    if (!w->cfg.pool[i]) fprintf(stderr, "web_connectivity: %s: %s\n", w->cfg.th[i], err);
  }
}

static void all_done(void *ctx) {
  wc_cli *w = ctx;
  for (size_t i = 0; i < w->cfg.nth; i++) {
    cs_th_client_free(w->cfg.pool[i]);
    w->cfg.pool[i] = NULL;
  }
}

static int start(void *ctx, cs_loop *l, const cs_input *in, cs_meas_cb done, void *arg) {
  wc_cli *w = ctx;
  cs_wc_input_meta meta = {.category_code = in->category};
  return cs_wc_start(l, &w->cfg, in->url, &meta, done, arg);
}

/* The fingerprint directory: option, then $CS_FINGERPRINTS_DIR, then data/fingerprints of
 * the source tree this binary was built in (build/<kind>/censorscope), then ./data/... */
static cs_fp_db *load_fingerprints(const char *opt) {
  char err[256], path[PATH_MAX];
  const char *dir = opt ? opt : getenv("CS_FINGERPRINTS_DIR");
  if (!dir) {
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 40);
    if (n > 0) {
      path[n] = 0;
      char *s = strrchr(path, '/');
      if (s) *s = 0, s = strrchr(path, '/');
      if (s) *s = 0, s = strrchr(path, '/');
      if (s) {
        strcpy(s, "/data/fingerprints");
        if (access(path, R_OK) == 0) dir = path;
      }
    }
    if (!dir) dir = "data/fingerprints";
  }
  cs_fp_db *db = cs_fp_db_load(dir, err, sizeof err);
  if (!db)
    fprintf(stderr, "web_connectivity: no blockpage fingerprints (%s): %s; verdicts will not "
                    "be confirmed\n", dir, err);
  return db;
}

static int run(int argc, char **argv) {
  static const struct option opts[] = {CS_PROBE_LONGOPTS,
                                       {"th", required_argument, 0, O_TH},
                                       {"th-timeout", required_argument, 0, O_TH_TO},
                                       {"fingerprints", required_argument, 0, O_FP},
                                       {0, 0, 0, 0}};
  static wc_cli w;
  memset(&w, 0, sizeof w);
  cs_probe_opts_init(&w.po, "web_connectivity", true);
  const char *fp_dir = NULL;
  int c, rc = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, CS_PROBE_SHORTOPTS, opts, NULL)) != -1) {
    if (c == O_TH) {
      if (w.cfg.nth == CS_WC_MAX_TH) {
        fprintf(stderr, "web_connectivity: at most %d --th\n", CS_WC_MAX_TH);
        rc = 2;
        break;
      }
      w.cfg.th[w.cfg.nth++] = optarg;
      continue;
    }
    if (c == O_TH_TO) {
      char *end;
      w.cfg.th_timeout = strtod(optarg, &end);
      if (*end || !(w.cfg.th_timeout > 0)) {
        fprintf(stderr, "web_connectivity: --th-timeout needs seconds\n");
        rc = 2;
        break;
      }
      continue;
    }
    if (c == O_FP) {
      fp_dir = optarg;
      continue;
    }
    int h = cs_probe_opts_handle(&w.po, c, optarg);
    if (h == 2) {
      fputs(usage_text, stdout);
      fputs(cs_probe_opts_help, stdout);
      fputs("\nexit status: 0 when every URL was measured (whatever it found), 2 on a usage "
            "error.\n", stdout);
      cs_probe_opts_free(&w.po);
      return 0;
    }
    if (h != 1) {
      if (h == 0) fprintf(stderr, "see censorscope web_connectivity --help\n");
      rc = 2;
      break;
    }
  }
  if (rc == 0 && w.cfg.nth == 0) {
    fprintf(stderr, "web_connectivity: give a control server with --th URL\n");
    rc = 2;
  }
  if (rc == 0) rc = cs_probe_opts_finish(&w.po, argc, argv, optind);
  cs_fp_db *db = NULL;
  if (rc == 0) {
    db = load_fingerprints(fp_dir);
    w.cfg.probe = w.po.cfg;
    w.cfg.fingerprints = db;
    cs_runner r = {.inputs = &w.po.inputs, .parallel = w.po.parallel, .per_host = w.po.per_host,
                   .out = w.po.out, .store = w.po.store, .run_id = w.po.run_id, .start = start,
                   .summary = summary, .loop_ready = loop_ready, .all_done = all_done, .ctx = &w};
    w.todo = cs_runner_todo(&r);
    w.progress = !w.po.quiet && !w.po.verbose && isatty(STDERR_FILENO);
    w.t0 = cs_mono_now();
    w.th_conns = w.po.parallel / 16 + 1;
    if (w.th_conns > 16) w.th_conns = 16;
    rc = cs_runner_run(&r);
    if (w.progress) fputs("\r\033[K", stderr);
    if (r.skipped_done && !w.po.quiet)
      fprintf(stderr, "web_connectivity: resumed: %zu URLs already measured in this run were skipped\n",
              r.skipped_done);
    if (rc == 0 && r.measured + r.skipped_done == w.po.inputs.n) cs_probe_opts_run_end(&w.po);
    if (!w.po.quiet)
      fprintf(stderr,
              "web_connectivity: %zu measured: %zu accessible, %zu blocked (dns %zu, tcp_ip %zu, "
              "http-failure %zu, http-diff %zu), %zu down, %zu undetermined\n",
              w.n, w.accessible, w.blocked[0] + w.blocked[1] + w.blocked[2] + w.blocked[3],
              w.blocked[0], w.blocked[1], w.blocked[2], w.blocked[3], w.down, w.undetermined);
  }
  cs_fp_db_free(db);
  cs_probe_opts_free(&w.po);
  return rc;
}

const cs_command cs_cmd_web_connectivity = {
    "web_connectivity", "detect blocking of URLs with a control server (OONI web_connectivity)",
    run};
