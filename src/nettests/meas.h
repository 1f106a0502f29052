/* meas.h - the measurement base every nettest shares (implemented in nettests/probe.c):
 * a trace with the configured memory cap, the envelope, the report id, scrubbing of the
 * probe's own addresses, delivery with the outcome, and the out-of-memory fallback. A
 * nettest only sequences its steps and writes its own test keys:
 *
 *   cs_meas_base b;                       // in the nettest's per-measurement state
 *   cs_meas_begin(&b, probe, "urlgetter", "0.2.0", in->input, done, arg);
 *   ... steps record into b.t ...
 *   cs_meas_finish(&b, &(cs_meas_out){.write_keys = keys, .ctx = x, .outcome = &o});
 */
#ifndef CS_MEAS_H
#define CS_MEAS_H

#include <time.h>

#include "engine/fetch.h"
#include "nettests/nettest.h"
#include "record/record.h"

typedef struct {
  const cs_probe_cfg *cfg;
  const char *test_name, *test_version;
  cs_trace *t;       /* the measurement's records (and arena) */
  time_t start_wall; /* measurement_start */
  const char *input; /* copy in the trace's arena, or NULL (input null) */
  cs_meas_done done;
  void *arg;
  bool capture;                /* cs_meas_capture() was called: write x_packets */
  struct cs_capture_sess *cap; /* engine/capture.h session (NULL: none) */
} cs_meas_base;

/* What cs_meas_finish writes besides the envelope. */
typedef struct {
  const char *annotations_json;  /* NULL: {"engine_name":"libcensorscope"} */
  const char *test_helpers_json; /* NULL: {} */
  /* Writes the test keys (members of the open test_keys object), outcome keys included. */
  void (*write_keys)(cs_jw *w, void *ctx);
  void *ctx;
  /* The outcome handed to done: the one write_keys wrote (required). */
  const cs_outcome *outcome;
} cs_meas_out;

/* What done() gets when the measurement cannot be written (out of memory, or longer than
 * the probe's json_limit): a short JSON object, and no outcome. */
extern const char cs_meas_fallback_json[];
extern const size_t cs_meas_fallback_len;

/* Starts a measurement: the trace (cfg->arena_limit, default CS_PROBE_ARENA_LIMIT), the wall
 * start time, a copy of input (NULL: input null). Returns 0, or -1 when out of memory
 * (nothing to free). */
int cs_meas_begin(cs_meas_base *m, const cs_probe_cfg *cfg, const char *test_name,
                  const char *test_version, const char *input, cs_meas_done done, void *arg);
/* Ends it: writes envelope + test keys, scrubs the probe's own addresses, calls done exactly
 * once (the fallback when writing fails) and frees the trace. */
void cs_meas_finish(cs_meas_base *m, const cs_meas_out *o);
/* Frees the trace of a measurement that never started (done is not called). */
void cs_meas_abort(cs_meas_base *m);
/* Packet evidence for this measurement (engine/capture.h; unless cfg->no_packets): its
 * flows' RST/FIN/SYN-ACK, ICMP errors and DNS replies are captured, and cs_meas_finish
 * writes x_packets_status, x_packets and x_middlebox into the test keys. Call right after
 * cs_meas_begin, before any step starts. */
void cs_meas_capture(cs_meas_base *m, cs_loop *l);

/* The TTL-copy probe (engine/capture.h, docs/forensics.md), for a nettest right before
 * cs_meas_finish: when the packets captured so far show DNS interference, the query is sent
 * again with other IP TTLs and the replies captured (at most min(dns_timeout, 2) s). Returns
 * true when it started: cb(arg) is then called from the loop when it ends, and the nettest
 * finishes there; false (no capture, no interference): finish now, cb is not called. */
bool cs_meas_ttl_probe(cs_meas_base *m, void (*cb)(void *arg), void *arg);

/* The probe options as fetch options (engine/fetch.h): resolver, SNI, trust store,
 * timeouts, redirects, and --address as the depth-0 address (stored in *addr). */
void cs_probe_fetch_opts(const cs_probe_cfg *cfg, cs_fetch_opts *fo, cs_ip *addr);

#endif
