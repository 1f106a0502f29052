/* telegram.c - OONI's telegram nettest (ooni/spec ts-020, test keys as probe-cli's 0.3.1) on
 * the apps engine (nettests/apps.h): the endpoints come from data/apps/telegram.endpoints (or
 * --endpoints). Endpoints with ooni=dc are data-centre access points (OONI: an HTTP POST to
 * port 80 and 443 of each DC address), ooni=web the web client.
 *
 * OONI's keys: telegram_http_blocking is false as soon as one DC POST succeeds;
 * telegram_tcp_blocking is false when one succeeds or one fails after connecting;
 * telegram_web_status/failure from the web endpoints. One working DC makes OONI say "ok"
 * (ooni/probe#2466); x_functions says "partial" when other DCs fail where the control reaches
 * them. */
#include "nettests/apps.h"
#include "report/report.h"

#include <string.h>

#define TG_VERSION "0.3.1"

static void tg_keys(cs_jw *w, const cs_app_epview *v, size_t n) {
  bool http_blocking = true, tcp_blocking = true;
  const char *web_failure = NULL;
  for (size_t i = 0; i < n; i++) {
    if (cs_app_ep_is(&v[i], "dc")) {
      if (!v[i].failure) http_blocking = tcp_blocking = false;
      else if (!v[i].failed_op || strcmp(v[i].failed_op, "connect")) tcp_blocking = false;
    } else if (cs_app_ep_is(&v[i], "web") && v[i].failure) {
      web_failure = v[i].failure; /* OONI keeps the last one seen */
    }
  }
  cs_jw_kbool(w, "telegram_http_blocking", http_blocking);
  cs_jw_kbool(w, "telegram_tcp_blocking", tcp_blocking);
  cs_jw_kstr(w, "telegram_web_failure", web_failure);
  cs_jw_kstr(w, "telegram_web_status", web_failure ? "blocked" : "ok");
}

static void tg_ooni_outcome(const cs_jval *tk, cs_outcome *out) {
  bool http = cs_json_get_bool(tk, "telegram_http_blocking", 0) == 1;
  bool tcp = cs_json_get_bool(tk, "telegram_tcp_blocking", 0) == 1;
  bool web = !strcmp(cs_json_get_str(tk, "telegram_web_status", ""), "blocked");
  out->key = http || tcp || web ? "blocked" : CS_OUTCOME_ACCESSIBLE;
  out->evidence = tcp    ? "OONI keys: telegram_tcp_blocking"
                  : http ? "OONI keys: telegram_http_blocking"
                  : web  ? "OONI keys: telegram_web_status blocked"
                         : NULL;
}

static const char *const tg_apps[] = {"telegram"};
static const cs_app_def tg_def = {
    .test_name = "telegram",
    .version = TG_VERSION,
    .apps = tg_apps,
    .napps = 1,
    .ooni_keys = tg_keys,
    .ooni_outcome = tg_ooni_outcome,
};

static void *tg_create(void) { return cs_apps_create(&tg_def); }

static int tg_analyze(cs_arena *a, const cs_jval *m, const cs_analysis_opts *opt, cs_jw *w,
                      cs_outcome *out) {
  (void)opt;
  return cs_apps_analyze(&tg_def, a, m, w, out);
}

const cs_nettest cs_nettest_telegram = {
    .name = "telegram",
    .version = TG_VERSION,
    .summary = "check whether Telegram's data centres and web client are reachable, per function",
    .help = "Measures every endpoint of data/apps/telegram.endpoints (or --endpoints FILE) at\n"
            "once: the data centres (an HTTP POST to port 80 and 443 of each address, as OONI)\n"
            "and the web client (HTTPS). Writes OONI's telegram test keys\n"
            "(telegram_http_blocking, telegram_tcp_blocking, telegram_web_status,\n"
            "telegram_web_failure), every endpoint's result (x_endpoints) and a verdict per\n"
            "function (x_functions: ok, blocked, partial, down or unknown, with the method);\n"
            "with --th, the control server's view tells blocked from down (docs/apps.md).",
    .input = CS_INPUT_NONE,
    .db_by_default = true,
    .lines_by_default = true,
    .opts = cs_apps_opts,
    .nopts = CS_APPS_NOPTS,
    .outcomes = cs_apps_outcomes,
    .noutcomes = CS_APPS_NOUTCOMES,
    .create = tg_create,
    .destroy = cs_apps_destroy,
    .prepare = cs_apps_prepare,
    .start = cs_apps_start,
    .analyze = tg_analyze,
    .report = &cs_report_telegram_section, /* report/report_apps.c: per app and function */
};
