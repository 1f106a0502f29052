/* signal.c - OONI's signal nettest (ooni/spec ts-029, test keys as probe-cli's 0.2.5) on the
 * apps engine (nettests/apps.h), endpoints from data/apps/signal.endpoints (or --endpoints).
 * ooni= vocabulary: backend (an HTTPS GET whose any network failure makes the backend
 * "blocked"), uptime (a DNS lookup OONI ignores).
 *
 * OONI's keys: signal_backend_status "ok" unless a backend endpoint failed, then "blocked"
 * with signal_backend_failure the last failure seen. OONI pins Signal's own CAs; we verify
 * against the probe's trust store (system CAs + --ca-file): a certificate error is recorded
 * as the TLS failure it is (docs/apps.md). */
#include "nettests/apps.h"
#include "report/report.h"

#include <string.h>

#define SG_VERSION "0.2.5"

static void sg_keys(cs_jw *w, const cs_app_epview *v, size_t n) {
  const char *failure = NULL;
  for (size_t i = 0; i < n; i++)
    if (cs_app_ep_is(&v[i], "backend") && v[i].failure) failure = v[i].failure;
  cs_jw_kstr(w, "signal_backend_status", failure ? "blocked" : "ok");
  cs_jw_kstr(w, "signal_backend_failure", failure);
}

static void sg_ooni_outcome(const cs_jval *tk, cs_outcome *out) {
  bool b = !strcmp(cs_json_get_str(tk, "signal_backend_status", ""), "blocked");
  out->key = b ? "blocked" : CS_OUTCOME_ACCESSIBLE;
  out->evidence = b ? cs_json_get_str(tk, "signal_backend_failure", NULL) : NULL;
}

static const char *const sg_apps[] = {"signal"};
static const cs_app_def sg_def = {
    .test_name = "signal",
    .version = SG_VERSION,
    .apps = sg_apps,
    .napps = 1,
    .ooni_keys = sg_keys,
    .ooni_outcome = sg_ooni_outcome,
};

static void *sg_create(void) { return cs_apps_create(&sg_def); }

static int sg_analyze(cs_arena *a, const cs_jval *m, const cs_analysis_opts *opt, cs_jw *w,
                      cs_outcome *out) {
  (void)opt;
  return cs_apps_analyze(&sg_def, a, m, w, out);
}

const cs_nettest cs_nettest_signal = {
    .name = "signal",
    .version = SG_VERSION,
    .summary = "check whether Signal's servers (chat, storage, contact discovery, calls) work",
    .help = "Measures every endpoint of data/apps/signal.endpoints (or --endpoints FILE) at\n"
            "once: HTTPS GETs of Signal's chat, storage, contact-discovery and calling (SFU)\n"
            "servers and attachment CDNs, and the uptime lookup, as OONI. Writes OONI's signal\n"
            "test keys (signal_backend_status, signal_backend_failure), every endpoint's\n"
            "result (x_endpoints) and a verdict per function (x_functions); with --th, the\n"
            "control server's view tells blocked from down (docs/apps.md).",
    .input = CS_INPUT_NONE,
    .db_by_default = true,
    .lines_by_default = true,
    .opts = cs_apps_opts,
    .nopts = CS_APPS_NOPTS,
    .outcomes = cs_apps_outcomes,
    .noutcomes = CS_APPS_NOUTCOMES,
    .create = sg_create,
    .destroy = cs_apps_destroy,
    .prepare = cs_apps_prepare,
    .start = cs_apps_start,
    .analyze = sg_analyze,
    .report = &cs_report_signal_section, /* report/report_apps.c: per app and function */
};
