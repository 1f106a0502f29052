/* dial.h - the dialer: one call that chains the connection steps the way curl chains its
 * connection filters — TCP connect (to each of a list of addresses, in parallel or one after
 * another) then, optionally, the TLS handshake — and hands back one ready cs_conn.
 *
 * Every step records exactly what it records when called alone (conn.h: `tcp_connect` and
 * `connect`/`read`/`write` network events; tls.h: `tls_handshakes` and the handshake
 * annotations), with the tags and transaction ids the caller chooses. The dialer decides only
 * which connection to keep, never why a step failed.
 *
 * Where to connect is one of:
 *   - addresses (e.g. a resolver's answer, in its order) and a port;
 *   - an endpoint string "ip:port" / "[v6]:port";
 *   - an endpoint string "host:port" together with the addresses the caller resolved for host
 *     (the dialer never resolves: resolution is engine/resolve.h's, chosen by the caller).
 *
 * Modes:
 *   - CS_DIAL_PARALLEL: connect (+TLS) to every address at once, wait for all, keep the first
 *     that succeeded in the given order and close the others (the URL getter's behaviour: all
 *     addresses are measured, the choice does not depend on timing). Failure: the first
 *     address's failure.
 *   - CS_DIAL_SEQUENTIAL: one address after another until one succeeds (a client that only
 *     needs a connection). Failure: the first address's failure. */
#ifndef CS_DIAL_H
#define CS_DIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/conn.h"
#include "engine/loop.h"
#include "engine/tls.h"
#include "record/record.h"
#include "util/ipnet.h"

#define CS_DIAL_MAX_ADDRS 8   /* addresses dialled at most (OONI's URL getter dials all) */
#define CS_DIAL_TXID_NEW (-1) /* transaction_id: a fresh cs_trace_txid() for every attempt */

typedef enum {
  CS_DIAL_PARALLEL = 0,
  CS_DIAL_SEQUENTIAL,
} cs_dial_mode;

typedef struct {
  /* where (see above): addrs/naddrs + port, or endpoint (+ addrs when its host is a name) */
  const cs_ip *addrs; /* in the resolver's order */
  size_t naddrs;
  uint16_t port;        /* with addrs and no endpoint */
  const char *endpoint; /* "ip:port", "[v6]:port" or "host:port" (NULL: use addrs + port) */

  cs_dial_mode mode;
  size_t max_addrs;   /* addresses tried at most, after skipping; 0: CS_DIAL_MAX_ADDRS */
  bool skip_loopback; /* never dial loopback addresses (OONI web_connectivity) */
  bool skip_bogons;   /* never dial bogons (util/ipnet.h; --lab-net ranges are not bogons) */

  /* the TCP step (cs_conn_opts of every attempt) */
  double tcp_timeout;     /* seconds; <= 0: CS_CONN_CONNECT_TIMEOUT */
  size_t max_events;      /* read/write events recorded per conn; 0: CS_CONN_MAX_EVENTS */
  int64_t transaction_id; /* 0: none; CS_DIAL_TXID_NEW: cs_trace_txid() per attempt */
  const char *const *tags;
  size_t ntags;
  bool no_tcp_record;             /* no tcp_connect records (the connect events stay) */
  cs_conn_read_observer observer; /* called on every read of every attempt (conn.h) */
  void *observer_arg;
  bool speed_samples; /* OONI's memoryless speed samples on every attempt (conn.h) */

  /* the TLS step, after a successful connect when tls is set */
  bool tls;
  cs_tls_ctx *tls_ctx;  /* the trust store (required with tls: without it the step fails with
                           "unknown_failure: cannot start the TLS handshake") */
  cs_tls_opts tls_opts; /* SNI (NULL or "": none), verify_name, no_verify, ALPN, timeout */
} cs_dial_opts;

typedef struct {
  const char *failed_op; /* NULL on success, else "connect" or "tls_handshake" */
  const cs_tls_rec *tls; /* the winner's handshake record (NULL: no TLS step / arena full) */
  size_t index;          /* on success: the winner's index among the dialled addresses */
  size_t nattempts;      /* addresses dialled (after skipping and max_addrs) */
} cs_dial_result;

/* c: the connected (and, with TLS, handshaken) conn, owned by the caller from here on; NULL
 * on failure. failure: NULL on success, else the OONI failure string. r: valid only during
 * the call. */
typedef void (*cs_dial_cb)(void *arg, cs_conn *c, const char *failure, const cs_dial_result *r);

typedef struct cs_dial cs_dial;

/* Starts dialling. o (and what it points to) must stay valid until cb; the trace must outlive
 * the dial. cb is called exactly once, never from inside cs_dial_start, unless
 * cs_dial_cancel() is called first; the dial frees itself after cb returns. Failures that are
 * known at once (bad endpoint, no address left after skipping: "unknown_failure: no address
 * to connect to") come through cb too. Returns NULL only when out of memory or on misuse
 * (no loop, trace, options or cb); nothing is recorded then and cb is never called. */
cs_dial *cs_dial_start(cs_loop *l, cs_trace *t, const cs_dial_opts *o, cs_dial_cb cb, void *arg);

/* Stops every attempt (their records stay) and frees the dial without calling cb. NULL is a
 * no-op. Not allowed from inside cb. */
void cs_dial_cancel(cs_dial *d);

/* Splits "host:port" / "[v6]:port" / "ip:port" into host (without brackets, NUL-terminated)
 * and port. Returns false when malformed or host does not fit in hostcap. */
bool cs_dial_endpoint_split(const char *endpoint, char *host, size_t hostcap, uint16_t *port);

#endif
