/* platforms.c - the platforms nettest: X, YouTube, Facebook and Instagram, per function (site,
 * API, media/video CDN...), on the apps engine (nettests/apps.h). One measurement covers the
 * platforms chosen with --platform (default all), each from data/apps/NAME.endpoints (or an
 * --endpoints file whose app line names the platform). No OONI test exists for these: the
 * verdicts are x_functions (each entry names its app) and the outcome. */
#include "nettests/apps.h"
#include "report/report.h"

#define PF_VERSION "0.1.0"

static const char *const pf_apps[] = {"x", "youtube", "facebook", "instagram"};
static const cs_app_def pf_def = {
    .test_name = "platforms",
    .version = PF_VERSION,
    .apps = pf_apps,
    .napps = 4,
    .platforms = true,
};

static void *pf_create(void) { return cs_apps_create(&pf_def); }

static int pf_analyze(cs_arena *a, const cs_jval *m, const cs_analysis_opts *opt, cs_jw *w,
                      cs_outcome *out) {
  (void)opt;
  return cs_apps_analyze(&pf_def, a, m, w, out);
}

const cs_nettest cs_nettest_platforms = {
    .name = "platforms",
    .version = PF_VERSION,
    .summary = "check which functions of X, YouTube, Facebook and Instagram a network blocks",
    .help = "Measures every endpoint of data/apps/{x,youtube,facebook,instagram}.endpoints (the\n"
            "platforms chosen with --platform, default all; --endpoints FILE replaces the file\n"
            "of the platform its app line names) at once, in one measurement: DNS, TCP, TLS and\n"
            "HTTPS steps of each platform's site, API, media or video CDN. Writes every\n"
            "endpoint's result (x_endpoints) and a verdict per platform and function\n"
            "(x_functions: ok, blocked, partial, down or unknown, with the method); with --th,\n"
            "the control server's view tells blocked from down (docs/apps.md).",
    .input = CS_INPUT_NONE,
    .db_by_default = true,
    .lines_by_default = true,
    .opts = cs_apps_platform_opts,
    .nopts = CS_APPS_PLATFORM_NOPTS,
    .outcomes = cs_apps_outcomes,
    .noutcomes = CS_APPS_NOUTCOMES,
    .create = pf_create,
    .destroy = cs_apps_destroy,
    .prepare = cs_apps_prepare,
    .start = cs_apps_start,
    .analyze = pf_analyze,
    .report = &cs_report_platforms_section, /* report/report_apps.c: per app and function */
};
