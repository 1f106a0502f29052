/* apps.h - the engine shared by the app and platform nettests (whatsapp, telegram, signal,
 * facebook_messenger, platforms): one measurement measures every endpoint of one or more
 * endpoint files (nettests/endpoints.h) concurrently on the run's loop, with bounded
 * parallelism and the probe's step timeouts, optionally asks a control server (--th, the web
 * connectivity TH protocol) for its view of each endpoint, and writes:
 *   - the OONI arrays (queries, tcp_connect, tls_handshakes, requests, network_events), every
 *     endpoint's steps with the endpoint's transaction_id;
 *   - x_endpoints (every endpoint's result and the control's view), x_endpoint_files;
 *   - the app's OONI verdict keys (cs_app_def.ooni_keys), x_functions (per function ok |
 *     blocked | partial | down | unknown, with the method) and the outcome, all computed from
 *     the serialised evidence by the same function `censorscope analyze` runs.
 * Each app is a small file (nettests/app_*.c) with its cs_app_def and registry entry. See
 * docs/apps.md. */
#ifndef CS_APPS_H
#define CS_APPS_H

#include <stdbool.h>
#include <stddef.h>

#include "nettests/nettest.h"

#define CS_APPS_MAX_FILES 8      /* endpoint files per measurement (platforms: one per platform) */
#define CS_APPS_PARALLEL 16      /* endpoints measured at once */
#define CS_APPS_STUN_TIMEOUT 5.0 /* seconds (or --tcp-timeout when shorter) */

/* One endpoint's result as the analysis reads it back from x_endpoints. */
typedef struct {
  const char *app, *function, *kind, *target, *host, *ooni;
  const char *failure;   /* NULL: the endpoint's steps all worked */
  const char *failed_op; /* "resolve", "connect", "tls_handshake", "http_round_trip", "stun" */
  int dns_consistent;    /* 1, 0, -1 unknown (no lookup: an IP literal or addr=) */
  int control;           /* 1 the control reached it, 0 the control failed too, -1 none */
} cs_app_epview;

typedef struct cs_app_def {
  const char *test_name, *version;
  const char *const *apps; /* the apps measured: endpoint files data/apps/APP.endpoints */
  size_t napps;
  bool platforms; /* accepts --platform (a selection of apps) */
  /* Writes the OONI verdict keys from the endpoints' results (NULL: none). */
  void (*ooni_keys)(cs_jw *w, const cs_app_epview *v, size_t n);
  /* The outcome of a measurement without x_endpoints (OONI's own), from its OONI keys: key
   * "accessible" or "blocked" (NULL: unknown). */
  void (*ooni_outcome)(const cs_jval *tk, cs_outcome *out);
} cs_app_def;

/* The nettest entry's callbacks (each app's file wraps create and analyze with its def). */
void *cs_apps_create(const cs_app_def *d);
void cs_apps_destroy(void *settings);
int cs_apps_prepare(void *settings, const cs_probe_cfg *probe, char *err, size_t errlen);
int cs_apps_start(cs_loop *l, void *settings, const cs_probe_cfg *probe, const cs_nettest_input *in,
                  cs_meas_done done, void *arg);
int cs_apps_analyze(const cs_app_def *d, cs_arena *a, const cs_jval *m, cs_jw *w, cs_outcome *out);

/* The options of the app tests (--endpoints, --th, --th-timeout) and of platforms (the same
 * plus --platform). */
#define CS_APPS_NOPTS 3
#define CS_APPS_PLATFORM_NOPTS 4
extern const cs_optdef cs_apps_opts[CS_APPS_NOPTS];
extern const cs_optdef cs_apps_platform_opts[CS_APPS_PLATFORM_NOPTS];

/* The outcome vocabulary: ok, blocked, partial, down, unknown; accessible for OONI's own
 * measurements whose keys show no blocking (no per-function data). */
#define CS_APPS_NOUTCOMES 6
extern const cs_outcome_def cs_apps_outcomes[CS_APPS_NOUTCOMES];

/* Helpers for the OONI key writers. */
bool cs_app_ep_is(const cs_app_epview *v, const char *ooni);

#endif
