/* upload.h - the probe's uploader: drains the store's upload queue (store/store.h) to one or
 * more collectors with OONI's probe-services flow (POST /report, POST /report/{report_id} with
 * {"format":"json","content":...}, POST /report/{report_id}/close), on the project's own
 * engine (resolve, dial, TLS with the run's trust store, HTTP/1.1) and one cs_loop. See
 * docs/collector.md ("Probes upload").
 *
 * Guarantees: a measurement stays pending until the collector's 200 with its measurement_uid
 * is recorded in the store (nothing lost); it is sent at most once by one uploader in normal
 * operation (a crash between the 200 and the record re-sends it later, and the collector's
 * dedup on probe-set id + content returns the first measurement_uid). Network errors and 5xx:
 * the collector is skipped for a backoff (exponential with jitter) and the next one in the
 * list is tried (fallbacks in turn); a 4xx is final and recorded with the collector's reason.
 * Every request carries X-Censorscope-Probe-Set (the store's random id, never an address). */
#ifndef CS_UPLOAD_H
#define CS_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/loop.h"
#include "engine/tls.h"
#include "store/store.h"

#define CS_UPLOAD_MAX_COLLECTORS 8

typedef struct {
  const char *const *collectors; /* base URLs (http:// or https://, optional path prefix) */
  size_t ncollectors;
  cs_tls_ctx *tls;        /* trust store for https collectors (--ca-file) */
  double connect_timeout; /* seconds; <= 0: 5 */
  double request_timeout; /* seconds per request; <= 0: 15 */
  double backoff_base;    /* first backoff of a failing collector (s); <= 0: 1 */
  double backoff_max;     /* cap (s); <= 0: 300 */
  bool hold;              /* start with only ids <= hold_above sent (cs_upload_set_limit) */
  int64_t hold_above;
  FILE *log;       /* one line per refusal / collector failure (NULL: silent) */
  const char *cmd; /* prefix of log lines */
} cs_upload_cfg;

typedef struct {
  size_t sent, refused;  /* measurements whose fate was recorded by this uploader */
  size_t failures;       /* failed attempts (network errors, 5xx, 429) */
  size_t reports_opened; /* POST /report answered */
  bool store_error;      /* the store could not be read or written: stopped */
} cs_upload_stats;

typedef struct cs_upload cs_upload;

/* Checks a collector URL (http/https, bounded). Returns 0, or -1 with a message in err. */
int cs_upload_url_check(const char *url, char *err, size_t errlen);

/* An uploader on loop l over store s (neither owned; both outlive it). cfg is copied (the
 * strings it points to must outlive the uploader). NULL when out of memory or on bad input
 * (message in err). */
cs_upload *cs_upload_new(cs_loop *l, cs_store *s, const cs_upload_cfg *cfg, char *err,
                         size_t errlen);
/* Only measurements with an id <= max_id are sent (-1: all, the default): a chunk of a work
 * list is uploaded once it is done (cs_upload_bg_limit). */
void cs_upload_set_limit(cs_upload *u, int64_t max_id);
/* New measurements may be pending: start draining (no-op while already draining). */
void cs_upload_kick(cs_upload *u);
/* Drain what is pending now and what is kicked meanwhile, then close the reports and stop;
 * stop at loop time `deadline` (monotonic s, cs_loop_now) at the latest, leaving the rest
 * pending. done(arg) is called once from the loop when stopped. */
void cs_upload_finish(cs_upload *u, double deadline, void (*done)(void *arg), void *arg);
const cs_upload_stats *cs_upload_stats_get(const cs_upload *u);
/* Frees the uploader (any request in flight is abandoned: its measurement stays pending). */
void cs_upload_free(cs_upload *u);

/* One blocking drain on a private loop (`censorscope upload`): every pending measurement,
 * at most max_s seconds. Returns 0 when it ran (see st), -1 on setup failure (err). */
int cs_upload_drain(cs_store *s, const cs_upload_cfg *cfg, double max_s, cs_upload_stats *st,
                    char *err, size_t errlen);

/* ---- in the background of a measurement run ---------------------------------------------- */

/* An uploader on its own thread, loop and store connection (db_path), so that measuring
 * never waits for a collector: cs_upload_bg_kick after each stored measurement. */
typedef struct cs_upload_bg cs_upload_bg;
cs_upload_bg *cs_upload_bg_start(const char *db_path, const cs_upload_cfg *cfg, char *err,
                                 size_t errlen);
void cs_upload_bg_kick(cs_upload_bg *b);
/* cs_upload_set_limit on the uploader's thread (then a kick). */
void cs_upload_bg_limit(cs_upload_bg *b, int64_t max_id);
/* Drains for at most wait_s more seconds, stops the thread and frees b; st gets the totals. */
void cs_upload_bg_stop(cs_upload_bg *b, double wait_s, cs_upload_stats *st);

/* Backoff before try number n (1, 2, ...) of a failing collector: base * 2^(n-1), capped,
 * with equal jitter (half fixed, half uniform random: r in [0, 1)). Pure, for the tests. */
double cs_upload_backoff(double base, double cap, unsigned n, double r);

#endif
