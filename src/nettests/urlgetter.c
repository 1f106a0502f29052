/* urlgetter.c - the urlgetter nettest (see urlgetter.h): one trace, the fetch flow
 * (engine/fetch.h), and the measurement written out when the flow completes. */
#include "nettests/urlgetter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fetch.h"
#include "nettests/meas.h"
#include "record/record.h"

typedef struct {
  cs_meas_base b;
  cs_ip addr;
  cs_fetch_opts fo;
  const cs_fetch_result *r; /* while writing: &res */
  cs_fetch_result res;      /* the fetch's result (its strings live in the trace) */
} ug;

static const cs_outcome_def outcomes[] = {
    {CS_OUTCOME_ACCESSIBLE, "Accessible", false},
    {CS_URLGETTER_FAILED, "Failed (no control: not judged)", false},
};

/* The outcome from the recorded failure, failed operation and final response code (the
 * same rule for the probe and for `censorscope analyze`). evidence is written into buf:
 * "connection_refused during connect", "HTTP 200". */
static void outcome_of(const char *failure, const char *op, int code, cs_outcome *o, char *buf,
                       size_t cap) {
  if (failure) {
    *o = (cs_outcome){.key = CS_URLGETTER_FAILED, .censorship = false, .evidence = failure};
    if (op) {
      snprintf(buf, cap, "%s during %s", failure, op);
      o->evidence = buf;
    }
    return;
  }
  *o = (cs_outcome){.key = CS_OUTCOME_ACCESSIBLE, .censorship = false, .evidence = NULL};
  if (code > 0) {
    snprintf(buf, cap, "HTTP %d", code);
    o->evidence = buf;
  }
}

/* The response code of the last request of the chain (written first in "requests"). */
static int last_code(const cs_trace *t) { return t->requests.tail ? t->requests.tail->code : 0; }

typedef struct {
  ug *u;
  const cs_outcome *o;
} keys_ctx;

static void write_keys(cs_jw *w, void *arg) {
  keys_ctx *k = arg;
  const cs_fetch_result *r = k->u->r;
  cs_jw_kstr(w, "agent", "redirect");
  cs_jw_kstr(w, "failed_operation", r->failed_op);
  cs_jw_kstr(w, "failure", r->failure);
  cs_jw_knull(w, "socksproxy");
  cs_jw_kint(w, "x_redirects", r->nredirects);
  cs_write_trace_keys(w, k->u->b.t);
  cs_outcome_write(w, k->o);
}

static void finish(void *arg) {
  ug *u = arg;
  const cs_fetch_result *r = &u->res;
  char ev[CS_OUTCOME_EVIDENCE_MAX];
  cs_outcome o;
  outcome_of(r->failure, r->failed_op, last_code(u->b.t), &o, ev, sizeof ev);
  u->r = r;
  keys_ctx k = {u, &o};
  cs_meas_finish(&u->b, &(cs_meas_out){.write_keys = write_keys, .ctx = &k, .outcome = &o});
  free(u);
}

static void on_fetch(void *arg, const cs_fetch_result *r) {
  ug *u = arg;
  u->res = *r;
  /* a DNS injection seen: is its TTL copied from the query's? (docs/forensics.md) */
  if (!cs_meas_ttl_probe(&u->b, finish, u)) finish(u);
}

int cs_urlgetter_start(cs_loop *l, const cs_probe_cfg *cfg, const char *url, cs_meas_done done,
                       void *arg) {
  ug *u = calloc(1, sizeof *u);
  if (!u) return -1;
  if (!url || cs_meas_begin(&u->b, cfg, "urlgetter", CS_URLGETTER_VERSION, url, done, arg) < 0) {
    free(u);
    return -1;
  }
  cs_meas_capture(&u->b, l);
  cs_probe_fetch_opts(cfg, &u->fo, &u->addr);
  if (!cs_fetch_start(l, u->b.t, u->b.input, &u->fo, on_fetch, u)) {
    cs_meas_abort(&u->b);
    free(u);
    return -1;
  }
  return 0;
}

/* ---- registry entry --------------------------------------------------------------------- */

static int start(cs_loop *l, void *settings, const cs_probe_cfg *probe, const cs_nettest_input *in,
                 cs_meas_done done, void *arg) {
  (void)settings;
  return cs_urlgetter_start(l, probe, in->input, done, arg);
}

static int analyze(cs_arena *a, const cs_jval *m, const cs_analysis_opts *opt, cs_jw *w,
                   cs_outcome *out) {
  (void)opt;
  const cs_jval *tk = cs_json_get(m, "test_keys");
  if (!tk || tk->type != CS_JOBJ) {
    *out = (cs_outcome){.key = CS_OUTCOME_UNDETERMINED};
    return -1;
  }
  const cs_jval *reqs = cs_json_get(tk, "requests");
  double code = 0;
  if (reqs && reqs->type == CS_JARR && reqs->len > 0)
    code = cs_json_get_num(cs_json_get(reqs->kids[0], "response"), "code", 0);
  char ev[CS_OUTCOME_EVIDENCE_MAX];
  outcome_of(cs_json_get_str(tk, "failure", NULL), cs_json_get_str(tk, "failed_operation", NULL),
             code > 0 && code < 1000 ? (int)code : 0, out, ev, sizeof ev);
  if (out->evidence == ev) out->evidence = cs_arena_strdup(a, ev);
  if (w) cs_outcome_write(w, out);
  return 0;
}

const cs_nettest cs_nettest_urlgetter = {
    .name = "urlgetter",
    .version = CS_URLGETTER_VERSION,
    .summary = "measure URLs step by step (OONI urlgetter)",
    .help =
        "For each URL: resolve the host, connect to every address (TCP, plus TLS for https),\n"
        "GET over the first address that works, follow up to 10 redirects, and print one OONI\n"
        "measurement (test_name \"urlgetter\") per line, with every DNS query and reply\n"
        "(including duplicate replies), TCP connect, TLS handshake, HTTP transaction and network\n"
        "event, timed from the measurement start. The probe's own IP address is never written.\n"
        "Outcome (x_outcome): accessible when the fetch succeeded, else failed with the\n"
        "failure string and operation as evidence; without a control, it never claims\n"
        "censorship.",
    .synopsis = "URL...",
    .input = CS_INPUT_URL,
    .db_by_default = false,
    .lines_by_default = true,
    .outcomes = outcomes,
    .noutcomes = sizeof outcomes / sizeof *outcomes,
    .start = start,
    .analyze = analyze,
};
