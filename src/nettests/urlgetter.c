/* urlgetter.c - the urlgetter nettest (see urlgetter.h): one trace, the fetch flow
 * (engine/fetch.h), and the measurement written out when the flow completes. */
#include "nettests/urlgetter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fetch.h"
#include "record/record.h"
#include "util/timeutil.h"

typedef struct {
  const cs_probe_cfg *cfg;
  cs_trace *t;
  cs_meas_cb done;
  void *arg;
  time_t start_wall;
  const char *input;
  cs_ip addr;
  cs_fetch_opts fo;
} ug;

static void on_fetch(void *arg, const cs_fetch_result *r) {
  ug *u = arg;
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_jw w;
  cs_jw_init(&w, &b);
  char rid[128];
  const char *report_id = u->cfg->report_id;
  if (!report_id) {
    cs_probe_report_id(rid, sizeof rid, "urlgetter", u->cfg->probe_cc, u->cfg->probe_asn,
                       u->cfg->test_start);
    report_id = rid;
  }
  cs_envelope env = {
      .test_name = "urlgetter",
      .test_version = CS_URLGETTER_VERSION,
      .input = u->input,
      .measurement_start = u->start_wall,
      .test_start = u->cfg->test_start ? u->cfg->test_start : u->start_wall,
      .test_runtime = cs_trace_rel(u->t, cs_mono_now()),
      .probe_asn = u->cfg->probe_asn,
      .probe_cc = u->cfg->probe_cc,
      .probe_network_name = u->cfg->probe_network_name,
      .report_id = report_id,
      .software_name = "censorscope",
      .software_version = u->cfg->software_version,
      .annotations_json = "{\"engine_name\":\"libcensorscope\"}",
  };
  cs_envelope_begin(&w, &env);
  cs_jw_kstr(&w, "agent", "redirect");
  cs_jw_kstr(&w, "failed_operation", r->failed_op);
  cs_jw_kstr(&w, "failure", r->failure);
  cs_jw_knull(&w, "socksproxy");
  cs_jw_kint(&w, "x_redirects", r->nredirects);
  cs_write_trace_keys(&w, u->t);
  cs_envelope_end(&w);
  size_t n = 0;
  char *clean = b.overflow ? NULL : cs_probe_scrub_self((const char *)b.data, b.len, &n);
  cs_buf_free(&b);
  if (clean) u->done(u->arg, clean, n);
  else u->done(u->arg, "{\"error\":\"out of memory writing the measurement\"}", 51);
  free(clean);
  cs_trace_free(u->t);
  free(u);
}

int cs_urlgetter_start(cs_loop *l, const cs_probe_cfg *cfg, const char *url, cs_meas_cb done,
                       void *arg) {
  ug *u = calloc(1, sizeof *u);
  if (!u) return -1;
  u->t = cs_trace_new(cs_mono_now(), cfg->arena_limit ? cfg->arena_limit : (64u << 20));
  if (!u->t) {
    free(u);
    return -1;
  }
  u->cfg = cfg, u->done = done, u->arg = arg;
  u->start_wall = time(NULL);
  u->input = cs_arena_strdup(u->t->a, url);
  u->fo = (cs_fetch_opts){
      .resolver = cfg->resolver,
      .sni = cfg->sni,
      .tls = cfg->tls,
      .dns_timeout = cfg->dns_timeout,
      .tcp_timeout = cfg->tcp_timeout,
      .tls_timeout = cfg->tls_timeout,
      .http_timeout = cfg->http_timeout,
      .max_redirects = cfg->max_redirects,
  };
  if (cfg->address && cs_ip_parse(cfg->address, &u->addr)) u->fo.addrs = &u->addr, u->fo.naddrs = 1;
  if (!u->input || !cs_fetch_start(l, u->t, u->input, &u->fo, on_fetch, u)) {
    cs_trace_free(u->t);
    free(u);
    return -1;
  }
  return 0;
}
