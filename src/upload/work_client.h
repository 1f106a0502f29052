/* work_client.h - the probe side of the collector's work API (src/collector/work.c): claim a
 * chunk of a list for this network (probe_cc, probe_asn), keep the lease alive while its
 * inputs are measured, mark it done once every measurement of it is stored. The claim answer
 * is hostile input: parsed with hard bounds (cs_work_claim_parse, fuzzed). */
#ifndef CS_UPLOAD_WORK_CLIENT_H
#define CS_UPLOAD_WORK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "upload/post.h"
#include "util/arena.h"

#define CS_WORK_MAX_INPUTS 10000       /* inputs per claimed chunk */
#define CS_WORK_MAX_INPUT 2048         /* bytes per input */
#define CS_WORK_MAX_ANSWER (24u << 20) /* bytes of a claim answer */
#define CS_WORK_LEASE_ID_MAX 64

typedef struct {
  const char *lease_id; /* NULL: no chunk given (see done / retry_after) */
  const char *list;
  int64_t chunk;
  double lease_seconds;
  const char *const *inputs;     /* ninputs URLs */
  const char *const *categories; /* their category_code, or NULL each */
  size_t ninputs;
  bool done;          /* no lease: every chunk of this network is done */
  double retry_after; /* no lease, not done: others hold the rest; ask again after (s) */
} cs_work_claim;

/* Parses a claim answer into out (strings in a). Returns 0, or -1 with the reason in err. */
int cs_work_claim_parse(cs_arena *a, const char *body, size_t len, cs_work_claim *out, char *err,
                        size_t errlen);

typedef struct {
  const cs_post_target *targets; /* the collectors, fallbacks in turn */
  size_t ntargets;
  cs_post_opts o; /* trust store, timeouts, probe-set header */
  const char *list, *probe_cc, *probe_asn;
  size_t holder; /* out: the collector that gave the last lease */
} cs_work_session;

/* Claims the next chunk (blocking). Returns 0 with *out set (a lease, done, or wait), or -1
 * with err when no collector answered or the collector refused the claim (4xx). */
int cs_work_claim_next(cs_work_session *s, cs_arena *a, cs_work_claim *out, char *err,
                       size_t errlen);
/* Marks the lease done (blocking). Returns 0, 1 when the lease was lost (re-leased to another
 * probe after expiring), or -1 with err. */
int cs_work_mark_done(cs_work_session *s, const char *lease_id, char *err, size_t errlen);

/* Heartbeats every interval_s seconds on a thread until stopped. */
typedef struct cs_work_hb cs_work_hb;
cs_work_hb *cs_work_hb_start(cs_work_session *s, const char *lease_id, double interval_s);
/* Stops the thread; returns true when a heartbeat was answered "lease lost". */
bool cs_work_hb_stop(cs_work_hb *h);

#endif
