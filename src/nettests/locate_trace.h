/* locate_trace.h - the TTL-limited replay of a trigger that finds where on the path a censor
 * sits (docs/forensics.md "Localisation"): `censorscope locate` (locate.c) and the opt-in
 * --locate step of web_connectivity both run it and write its result as `x_locate`.
 *
 * One run is two traces on the event loop, the control name first, then the target name; each
 * sends the trigger (a TLS ClientHello with the name as SNI, an HTTP GET with the name as Host,
 * or a DNS query for the name) to the target address with TTL 1, 2, ... on one 5-tuple, and
 * the first TTL where the target trace differs from the control's is the hop. When the first
 * run finds interference it is repeated (repeats) and the answer is the one most runs agree on.
 * Bounded by max_ttl, timeout (per TTL), repeats and max_time (the whole step). IPv4 only. */
#ifndef CS_NETTESTS_LOCATE_TRACE_H
#define CS_NETTESTS_LOCATE_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/loop.h"
#include "util/arena.h"
#include "util/ipnet.h"
#include "util/json.h"

#define CS_LOCATE_MAX_TTL 64
#define CS_LOCATE_MAX_RUNS 10

typedef enum { CS_LOCATE_TLS, CS_LOCATE_HTTP, CS_LOCATE_DNS } cs_locate_trig;

/* The trigger's name as written in test_keys.trigger: "tls", "http", "dns". */
const char *cs_locate_trig_str(cs_locate_trig t);

typedef struct {
  cs_locate_trig trig;
  const char *name;    /* the target name (SNI, Host or query name) */
  const char *control; /* the control name, traced first */
  cs_ip dst;           /* IPv4: the server (TLS, HTTP) or the resolver (DNS) */
  uint16_t port;
  int max_ttl;            /* 1..CS_LOCATE_MAX_TTL */
  int repeats;            /* 1..CS_LOCATE_MAX_RUNS: runs when the first finds interference */
  double timeout;         /* seconds to wait at each TTL */
  double interval;        /* seconds between two TTLs */
  double max_time;        /* the whole step stops after this many seconds, with what it has */
  double connect_timeout; /* the TCP connect at the normal TTL (<= 0: 10 s) */
} cs_locate_opts;

typedef struct cs_locate cs_locate;

/* Called once, from a later loop iteration, when the step is over (cs_locate_write then writes
 * what it found); the callee may cs_locate_free(lc) there. */
typedef void (*cs_locate_done)(void *arg, cs_locate *lc);

/* Starts the step. Strings in *o are copied into a, which must outlive the step (it also holds
 * the written evidence's strings). Returns NULL with *err set (a static string: the trigger
 * could not be built, IPv6 target, out of memory); done is then never called. */
cs_locate *cs_locate_start(cs_loop *l, cs_arena *a, const cs_locate_opts *o, cs_locate_done done,
                           void *arg, const char **err);

/* Writes the x_locate object (hop, router, previous_router, target_ttl, control_ttl,
 * placement, interference, why, flow, path, control_path, runs, agreeing_runs, consistent,
 * run_results, five_tuple_kept, truncated, method, note). */
void cs_locate_write(const cs_locate *lc, cs_jw *w);

/* Stops the step if it is still running (done is not called) and frees it. NULL is a no-op. */
void cs_locate_free(cs_locate *lc);

#endif
