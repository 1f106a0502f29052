/* web_connectivity.h - the web_connectivity nettest (OONI ts-017): for one URL, the probe's
 * own DNS lookup, the control query to a test helper (ours or OONI's), TCP connects (+ TLS
 * for https) to every resolved address and the HTTP GET chain with redirects, then the
 * verdict from src/analysis (pure function of the recorded evidence). */
#ifndef CS_WEB_CONNECTIVITY_H
#define CS_WEB_CONNECTIVITY_H

#include "analysis/fingerprints.h"
#include "nettests/nettest.h"

#define CS_WC_TEST_VERSION "0.5.28" /* the OONI version whose rules and format we follow */
#define CS_WC_MAX_TH 8

typedef struct {
  const cs_probe_cfg *probe;
  const char *th[CS_WC_MAX_TH]; /* control servers, tried in turn */
  size_t nth;
  double th_timeout;            /* seconds per control query (<= 0: 30, as OONI) */
  const cs_fp_db *fingerprints; /* NULL: no blockpage matching */
  bool locate; /* --locate: on blocked results, the TTL-limited replay (nettests/wc_locate.h) */
  /* Optional pooled clients (nettests/wc_control.h), one per th[i], created on the run's loop:
   * when set, control queries share keep-alive, pipelined connections. */
  struct cs_th_client *pool[CS_WC_MAX_TH];
} cs_wc_cfg;

/* Per-URL facts that are not measured (they go into the envelope's annotations). */
typedef struct {
  const char *category_code; /* Citizen Lab category, or NULL */
} cs_wc_input_meta;

/* Starts measuring url; done(arg, m) is called once from the loop with the measurement and
 * its outcome. cfg (and cfg->probe) must outlive the measurement. Returns -1 when out of
 * memory. */
int cs_wc_start(cs_loop *l, const cs_wc_cfg *cfg, const char *url, const cs_wc_input_meta *meta,
                cs_meas_done done, void *arg);

/* The registry entry: options --th (repeatable), --th-timeout, --fingerprints; prepare
 * loads the fingerprints, loop_ready opens one pooled control-server client per --th. */
extern const cs_nettest cs_nettest_web_connectivity;

#endif
