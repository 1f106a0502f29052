/* whatsapp.c - OONI's whatsapp nettest (ooni/spec ts-018, test keys as probe-cli's 0.11.0) on
 * the apps engine (nettests/apps.h), endpoints from data/apps/whatsapp.endpoints (or
 * --endpoints). ooni= vocabulary: endpoint (the chat servers e*.whatsapp.net, TCP connect),
 * registration_server (v.whatsapp.net/v2/register), web (web.whatsapp.com).
 *
 * OONI's keys: whatsapp_endpoints_status is "ok" when any chat endpoint connects; a host is
 * in whatsapp_endpoints_blocked when all its endpoints (OONI: both ports) failed;
 * registration_server_status/failure and whatsapp_web_status/failure from their endpoints
 * (any HTTP status is fine); whatsapp_endpoints_dns_inconsistent is always [] (OONI removed
 * the check, probe-engine#341). Beyond OONI, the default list adds the media CDN, which OONI
 * does not measure: its verdict is only in x_functions. */
#include "nettests/apps.h"
#include "report/report.h"

#include <string.h>

#define WA_VERSION "0.11.0"
#define WA_MAX_HOSTS 256

static void wa_status(cs_jw *w, const char *fkey, const char *skey, const cs_app_epview *v,
                      size_t n, const char *ooni) {
  /* OONI's defaults when nothing was measured: blocked with "unknown_failure" */
  bool seen = false;
  const char *failure = NULL;
  for (size_t i = 0; i < n; i++)
    if (cs_app_ep_is(&v[i], ooni)) {
      if (!seen || v[i].failure) failure = v[i].failure;
      seen = true;
    }
  cs_jw_kstr(w, fkey, seen ? failure : "unknown_failure");
  cs_jw_kstr(w, skey, seen && !failure ? "ok" : "blocked");
}

static void wa_keys(cs_jw *w, const cs_app_epview *v, size_t n) {
  wa_status(w, "registration_server_failure", "registration_server_status", v, n,
            "registration_server");
  bool any_ok = false;
  const char *hosts[WA_MAX_HOSTS];
  size_t nh = 0;
  cs_jw_key(w, "whatsapp_endpoints_blocked");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < n; i++) {
    if (!cs_app_ep_is(&v[i], "endpoint")) continue;
    any_ok |= !v[i].failure;
    bool done = false;
    for (size_t j = 0; j < nh && !done; j++) done = !strcmp(hosts[j], v[i].host);
    if (done || nh == WA_MAX_HOSTS) continue;
    hosts[nh++] = v[i].host;
    bool all_failed = true;
    for (size_t j = i; j < n; j++)
      if (cs_app_ep_is(&v[j], "endpoint") && !strcmp(v[j].host, v[i].host) && !v[j].failure)
        all_failed = false;
    if (all_failed) cs_jw_str(w, v[i].host);
  }
  cs_jw_arr_close(w);
  cs_jw_key(w, "whatsapp_endpoints_dns_inconsistent");
  cs_jw_arr_open(w);
  cs_jw_arr_close(w);
  cs_jw_kstr(w, "whatsapp_endpoints_status", any_ok ? "ok" : "blocked");
  wa_status(w, "whatsapp_web_failure", "whatsapp_web_status", v, n, "web");
}

static void wa_ooni_outcome(const cs_jval *tk, cs_outcome *out) {
  static const char *const keys[] = {"registration_server_status", "whatsapp_endpoints_status",
                                     "whatsapp_web_status"};
  out->key = CS_OUTCOME_ACCESSIBLE;
  for (size_t i = 0; i < 3; i++)
    if (!strcmp(cs_json_get_str(tk, keys[i], ""), "blocked")) {
      out->key = "blocked";
      out->evidence = keys[i];
      return;
    }
}

static const char *const wa_apps[] = {"whatsapp"};
static const cs_app_def wa_def = {
    .test_name = "whatsapp",
    .version = WA_VERSION,
    .apps = wa_apps,
    .napps = 1,
    .ooni_keys = wa_keys,
    .ooni_outcome = wa_ooni_outcome,
};

static void *wa_create(void) { return cs_apps_create(&wa_def); }

static int wa_analyze(cs_arena *a, const cs_jval *m, const cs_analysis_opts *opt, cs_jw *w,
                      cs_outcome *out) {
  (void)opt;
  return cs_apps_analyze(&wa_def, a, m, w, out);
}

const cs_nettest cs_nettest_whatsapp = {
    .name = "whatsapp",
    .version = WA_VERSION,
    .summary = "check whether WhatsApp's chat servers, registration, web client and media work",
    .help = "Measures every endpoint of data/apps/whatsapp.endpoints (or --endpoints FILE) at\n"
            "once: the chat servers (TCP connect to e1..e16.whatsapp.net on 443 and 5222, as\n"
            "OONI), the registration server and the web client (HTTPS), and the media CDN.\n"
            "Writes OONI's whatsapp test keys (registration_server_status/failure,\n"
            "whatsapp_endpoints_status/blocked/dns_inconsistent, whatsapp_web_status/failure),\n"
            "every endpoint's result (x_endpoints) and a verdict per function (x_functions);\n"
            "with --th, the control server's view tells blocked from down (docs/apps.md).",
    .input = CS_INPUT_NONE,
    .db_by_default = true,
    .lines_by_default = true,
    .opts = cs_apps_opts,
    .nopts = CS_APPS_NOPTS,
    .outcomes = cs_apps_outcomes,
    .noutcomes = CS_APPS_NOUTCOMES,
    .create = wa_create,
    .destroy = cs_apps_destroy,
    .prepare = cs_apps_prepare,
    .start = cs_apps_start,
    .analyze = wa_analyze,
    .report = &cs_report_whatsapp_section, /* report/report_apps.c: per app and function */
};
