/* facebook_messenger.c - OONI's facebook_messenger nettest (ooni/spec ts-019, test keys as
 * probe-cli's 0.2.1) on the apps engine (nettests/apps.h), endpoints from
 * data/apps/facebook_messenger.endpoints (or --endpoints). ooni= vocabulary: the service
 * infix of OONI's keys: b_api, b_graph, edge, external_cdn, scontent_cdn, star (TCP connect to
 * :443) and stun (a DNS lookup of stun.fbsbx.com).
 *
 * OONI's keys, per service: facebook_SVC_dns_consistent (false when the lookup failed or
 * lied) and facebook_SVC_reachable (false when the connect failed; null for stun and when not
 * measured); facebook_dns_blocking / facebook_tcp_blocking when any service failed that way.
 * Deviation: OONI calls an answer consistent when every address is in Facebook's AS32934; the
 * probe has no ASN database, so an answer is inconsistent when it failed, holds a bogon, or
 * shares no address with the control's answer (--th) unless a verified TLS handshake proved
 * it (docs/apps.md). */
#include "nettests/apps.h"
#include "report/report.h"

#include <stdio.h>
#include <string.h>

#define FB_VERSION "0.2.1"

static const char *const fb_services[] = {"b_api",        "b_graph", "edge", "external_cdn",
                                          "scontent_cdn", "star",    "stun"};
#define FB_NSERVICES (sizeof fb_services / sizeof *fb_services)

static void fb_keys(cs_jw *w, const cs_app_epview *v, size_t n) {
  int dns_blocking = 0, tcp_blocking = 0;
  for (size_t s = 0; s < FB_NSERVICES; s++) {
    int dns = -1, tcp = -1; /* null until measured */
    for (size_t i = 0; i < n; i++) {
      if (!cs_app_ep_is(&v[i], fb_services[s])) continue;
      if (v[i].dns_consistent == 0) {
        dns = 0, dns_blocking = 1;
        continue;
      }
      if (dns < 0 && v[i].dns_consistent == 1) dns = 1;
      if (!strcmp(fb_services[s], "stun")) continue; /* OONI: stun's reachability stays null */
      if (v[i].failed_op && !strcmp(v[i].failed_op, "connect")) tcp = 0, tcp_blocking = 1;
      else if (tcp < 0) tcp = 1;
    }
    char k[64];
    snprintf(k, sizeof k, "facebook_%s_dns_consistent", fb_services[s]);
    if (dns < 0) cs_jw_knull(w, k);
    else cs_jw_kbool(w, k, dns == 1);
    snprintf(k, sizeof k, "facebook_%s_reachable", fb_services[s]);
    if (tcp < 0) cs_jw_knull(w, k);
    else cs_jw_kbool(w, k, tcp == 1);
  }
  cs_jw_kbool(w, "facebook_dns_blocking", dns_blocking);
  cs_jw_kbool(w, "facebook_tcp_blocking", tcp_blocking);
}

static void fb_ooni_outcome(const cs_jval *tk, cs_outcome *out) {
  bool dns = cs_json_get_bool(tk, "facebook_dns_blocking", 0) == 1;
  bool tcp = cs_json_get_bool(tk, "facebook_tcp_blocking", 0) == 1;
  out->key = dns || tcp ? "blocked" : CS_OUTCOME_ACCESSIBLE;
  out->evidence = dns   ? "OONI keys: facebook_dns_blocking"
                  : tcp ? "OONI keys: facebook_tcp_blocking"
                        : NULL;
}

static const char *const fb_apps[] = {"facebook_messenger"};
static const cs_app_def fb_def = {
    .test_name = "facebook_messenger",
    .version = FB_VERSION,
    .apps = fb_apps,
    .napps = 1,
    .ooni_keys = fb_keys,
    .ooni_outcome = fb_ooni_outcome,
};

static void *fb_create(void) { return cs_apps_create(&fb_def); }

static int fb_analyze(cs_arena *a, const cs_jval *m, const cs_analysis_opts *opt, cs_jw *w,
                      cs_outcome *out) {
  (void)opt;
  return cs_apps_analyze(&fb_def, a, m, w, out);
}

const cs_nettest cs_nettest_facebook_messenger = {
    .name = "facebook_messenger",
    .version = FB_VERSION,
    .summary = "check whether Facebook Messenger's services resolve correctly and are reachable",
    .help = "Measures every endpoint of data/apps/facebook_messenger.endpoints (or --endpoints\n"
            "FILE) at once: DNS lookup and TCP connect to :443 of b-api, b-graph, edge-mqtt,\n"
            "the external and scontent CDNs and star.c10r, and a lookup of the STUN host, as\n"
            "OONI. Writes OONI's facebook_messenger test keys (facebook_*_dns_consistent,\n"
            "facebook_*_reachable, facebook_dns_blocking, facebook_tcp_blocking), every\n"
            "endpoint's result (x_endpoints) and a verdict per function (x_functions); with\n"
            "--th, the control's answers judge DNS consistency (docs/apps.md).",
    .input = CS_INPUT_NONE,
    .db_by_default = true,
    .lines_by_default = true,
    .opts = cs_apps_opts,
    .nopts = CS_APPS_NOPTS,
    .outcomes = cs_apps_outcomes,
    .noutcomes = CS_APPS_NOUTCOMES,
    .create = fb_create,
    .destroy = cs_apps_destroy,
    .prepare = cs_apps_prepare,
    .start = cs_apps_start,
    .analyze = fb_analyze,
    .report = &cs_report_facebook_messenger_section, /* report/report_apps.c */
};
