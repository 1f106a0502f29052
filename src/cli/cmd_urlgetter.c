/* cmd_urlgetter.c - `censorscope urlgetter [OPTIONS] URL...`: measures each URL step by step
 * and prints one OONI measurement (JSON) per line. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/probe_opts.h"
#include "cli/runner.h"
#include "nettests/urlgetter.h"
#include "util/json.h"

static const char usage_text[] =
    "usage: censorscope urlgetter [OPTIONS] URL...\n"
    "\n"
    "For each URL: resolve the host, connect to every address (TCP, plus TLS for https),\n"
    "GET over the first address that works, follow up to 10 redirects, and print one OONI\n"
    "measurement (test_name \"urlgetter\") per line, with every DNS query and reply\n"
    "(including duplicate replies), TCP connect, TLS handshake, HTTP transaction and network\n"
    "event, timed from the measurement start. The probe's own IP address is never written.\n"
    "\n"
    "options:\n";

static void summary(void *ctx, const char *json, size_t len) {
  const cs_probe_opts *o = ctx;
  cs_arena *a = cs_arena_new(0);
  if (!a) return;
  char err[64];
  cs_jval *v = cs_json_parse(a, json, len, NULL, err, sizeof err);
  const cs_jval *tk = cs_json_get(v, "test_keys");
  const char *failure = cs_json_get_str(tk, "failure", NULL);
  const char *op = cs_json_get_str(tk, "failed_operation", NULL);
  const cs_jval *reqs = cs_json_get(tk, "requests");
  double code = 0;
  if (reqs && reqs->type == CS_JARR && reqs->len > 0)
    code = cs_json_get_num(cs_json_get(reqs->kids[0], "response"), "code", 0);
  fprintf(stderr, "%-7s %s", failure ? "FAILED" : "ok", cs_json_get_str(v, "input", "?"));
  if (failure) fprintf(stderr, ": %s%s%s", failure, op ? " during " : "", op ? op : "");
  else if (code > 0) fprintf(stderr, ": HTTP %d", (int)code);
  if (o->verbose) fprintf(stderr, " (%.2fs)", cs_json_get_num(v, "test_runtime", 0));
  fputc('\n', stderr);
  cs_arena_free(a);
}

static int start(void *ctx, cs_loop *l, const cs_input *in, cs_meas_cb done, void *arg) {
  const cs_probe_opts *o = ctx;
  return cs_urlgetter_start(l, &o->cfg, in->url, done, arg);
}

static int run(int argc, char **argv) {
  static const struct option opts[] = {CS_PROBE_LONGOPTS, {0, 0, 0, 0}};
  cs_probe_opts o;
  cs_probe_opts_init(&o, "urlgetter", false);
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, CS_PROBE_SHORTOPTS, opts, NULL)) != -1) {
    int h = cs_probe_opts_handle(&o, c, optarg);
    if (h == 2) {
      fputs(usage_text, stdout);
      fputs(cs_probe_opts_help, stdout);
      fputs("\nexit status: 0 when every URL was measured (whatever it found), 2 on a usage "
            "error.\n", stdout);
      cs_probe_opts_free(&o);
      return 0;
    }
    if (h != 1) {
      if (h == 0) fprintf(stderr, "usage: censorscope urlgetter [OPTIONS] URL... (see --help)\n");
      cs_probe_opts_free(&o);
      return 2;
    }
  }
  int rc = cs_probe_opts_finish(&o, argc, argv, optind);
  if (rc == 0) {
    cs_runner r = {.inputs = &o.inputs, .parallel = o.parallel, .per_host = o.per_host,
                   .out = o.out, .store = o.store, .run_id = o.run_id, .start = start,
                   .summary = o.quiet ? NULL : summary, .ctx = &o};
    rc = cs_runner_run(&r);
    if (rc == 0 && r.measured + r.skipped_done == o.inputs.n) cs_probe_opts_run_end(&o);
  }
  cs_probe_opts_free(&o);
  return rc;
}

const cs_command cs_cmd_urlgetter = {"urlgetter", "measure URLs step by step (OONI urlgetter)", run};
