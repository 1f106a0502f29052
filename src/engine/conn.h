/* conn.h - a measured byte stream: a non-blocking TCP socket (the "socket" connection filter,
 * curl style), optionally topped by a TLS filter (engine/tls.h).
 *
 * One cs_conn = one TCP connection = one OONI "flow". It records, into a cs_trace:
 *   - one `tcp_connect` record and one `connect` network event (the TCP connect step);
 *   - one `read` / `write` network event per recv()/send() syscall on the socket that moved
 *     bytes or failed (raw socket bytes, TLS records included), for the first
 *     `max_events` (default 64, like OONI) of them; later ones are only counted. Like Go's
 *     blocking Read, t0 is when the wait for the bytes began (the first EAGAIN), t the
 *     syscall's return;
 *   - annotation events (`tls_handshake_start`/`_done` from tls.c, `http_transaction_start`/
 *     `_done` from http.c, via cs_conn_annotate()), which do not count against max_events;
 *   - a compact array of per-read samples (time, cumulative bytes) for throughput analysis,
 *     and optionally a final `bytes_received_cumulative` event;
 *   - with speed_samples, OONI's download-speed samples: `bytes_received_cumulative` events
 *     taken on a memoryless ticker (probe-cli internal/throttling: exponential waits of mean
 *     250 ms clamped to [25 ms, 650 ms]) while the conn lives, plus one when it is freed.
 * Every record carries the conn's transaction_id and tags.
 *
 * Completion is always by callback, never from inside the call that started the operation
 * (cs_defer). Callbacks may free the conn (cs_conn_free) before returning. */
#ifndef CS_CONN_H
#define CS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/loop.h"
#include "record/record.h"
#include "util/ipnet.h"

#define CS_CONN_CONNECT_TIMEOUT 10.0 /* seconds (OONI: TCP connect 10 s) */
#define CS_CONN_MAX_EVENTS 64        /* read/write events recorded per connection (OONI) */
#define CS_CONN_MAX_SAMPLES 4096     /* per-read samples kept; later reads merge into the last */
#define CS_CONN_SPEED_EXPECTED 0.250 /* memoryless sampler: mean wait (s), as OONI */
#define CS_CONN_SPEED_MIN 0.025      /* ... waits are clamped to [MIN, MAX] (s), as OONI */
#define CS_CONN_SPEED_MAX 0.650
#define CS_CONN_MAX_SPEED_SAMPLES                                                                  \
  512 /* ticker samples per conn (>= 2 min at the mean); the
                                         ticker stops there, the final sample at close stays */

typedef struct cs_conn cs_conn;

/* Read observer: called after every recv() that returned bytes (raw socket bytes, TLS records
 * included), while the connection lives, with the time t in seconds since the measurement
 * start (cs_trace_rel, as the samples), the bytes of this read and the cumulative bytes read.
 * It runs inside the read path (possibly inside OpenSSL): it must not free the conn or start
 * or cancel operations on it. */
typedef void (*cs_conn_read_observer)(void *arg, cs_conn *c, double t, size_t n,
                                      uint64_t cumulative);

typedef struct {
  double connect_timeout; /* seconds; <= 0: CS_CONN_CONNECT_TIMEOUT */
  size_t max_events;      /* read/write events to record; 0: CS_CONN_MAX_EVENTS */
  int64_t transaction_id; /* copied into every record (0: omitted) */
  const char *const *tags;
  size_t ntags;
  bool no_tcp_record; /* true: do not add the tcp_connect record (the connect event stays) */
  cs_conn_read_observer observer; /* NULL: none (see cs_conn_set_observer) */
  void *observer_arg;
  bool speed_samples; /* record OONI's memoryless `bytes_received_cumulative` samples (above):
                         a tick, and the final sample at cs_conn_free, records an event only
                         once bytes were read (as OONI's per-endpoint map, empty before) */
} cs_conn_opts;

/* failure: NULL on success, else an OONI failure string (stable until the trace is freed). */
typedef void (*cs_conn_connect_cb)(cs_conn *c, const char *failure, void *data);

/* Starts a TCP connect to ip:port. Returns NULL only when out of memory (nothing recorded,
 * cb never called). Every other outcome, including socket() failing, is recorded and
 * reported through cb from a later loop iteration. On failure the caller still owns c and
 * must cs_conn_free() it (typically from inside cb). */
cs_conn *cs_conn_connect(cs_loop *l, cs_trace *t, const cs_ip *ip, uint16_t port,
                         const cs_conn_opts *o, cs_conn_connect_cb cb, void *data);

/* Closes the socket (and the TLS filter), cancels every pending operation without calling
 * its callback, and frees c. Safe from inside any callback of c. NULL is a no-op. */
void cs_conn_free(cs_conn *c);
/* The same, but the connection is reset (SO_LINGER 0): what is still queued to send is
 * dropped instead of being delivered after the close (a measurement cut short must not keep
 * sending in the background). */
void cs_conn_abort(cs_conn *c);

/* ---- data transfer (over TLS once a TLS filter is installed) ---------------------------- */

/* n > 0: bytes transferred; n == 0 only for a read at clean EOF (failure "eof_error");
 * n < 0 with failure set: error (connection_reset, generic_timeout_error, ...). */
typedef void (*cs_conn_io_cb)(cs_conn *c, ssize_t n, const char *failure, void *data);

/* Reads what one recv() (or one SSL_read) returns, 1..cap bytes, into p, which must stay
 * valid until cb. At most one read and one write may be pending at a time (-1 else; also -1
 * before the connect succeeded). */
int cs_conn_read(cs_conn *c, void *p, size_t cap, cs_conn_io_cb cb, void *data);
/* Writes all n bytes of p (which must stay valid until cb), then cb(c, n, NULL). */
int cs_conn_write(cs_conn *c, const void *p, size_t n, cs_conn_io_cb cb, void *data);
/* Cancels pending reads/writes without calling their callbacks. When failure is non-NULL
 * (e.g. "generic_timeout_error" from a caller's deadline) and a read or write was pending,
 * a read/write event with that failure is recorded, as Go's deadline would. */
void cs_conn_cancel(cs_conn *c, const char *failure);

/* ---- accessors ------------------------------------------------------------------------- */
cs_loop *cs_conn_loop(const cs_conn *c);
cs_trace *cs_conn_trace(const cs_conn *c);
const char *cs_conn_address(const cs_conn *c); /* "ip:port" / "[v6]:port", in the trace arena */
bool cs_conn_is_tls(const cs_conn *c);
bool cs_conn_connected(const cs_conn *c);         /* the TCP connect step succeeded */
uint64_t cs_conn_bytes_read(const cs_conn *c);    /* raw socket bytes, cumulative */
uint64_t cs_conn_bytes_written(const cs_conn *c); /* raw socket bytes, cumulative */
/* Bytes written that the peer has acknowledged (the bytes written minus SIOCOUTQ, tcp(7); raw
 * socket bytes, TLS records included): what an upload has really delivered, whatever the send
 * buffer holds. Returns false when unknown (not connected, old kernel). */
bool cs_conn_bytes_acked(const cs_conn *c, uint64_t *acked);
size_t cs_conn_events_dropped(const cs_conn *c); /* read/write events beyond max_events */

typedef struct {
  float t;        /* seconds since the measurement start (cs_trace_rel) */
  uint32_t bytes; /* cumulative raw bytes read at t (saturates at UINT32_MAX) */
} cs_conn_sample;
/* The per-read samples, oldest first (valid until the next read or cs_conn_free). */
const cs_conn_sample *cs_conn_samples(const cs_conn *c, size_t *n);
/* Sets (fn NULL: clears) the read observer (see cs_conn_read_observer), e.g. to follow a
 * download's progress while it runs. */
void cs_conn_set_observer(cs_conn *c, cs_conn_read_observer fn, void *arg);
/* One wait of the memoryless speed sampler in seconds (exponential of mean
 * CS_CONN_SPEED_EXPECTED clamped to [CS_CONN_SPEED_MIN, CS_CONN_SPEED_MAX]), drawn from the
 * xorshift state *rng (non-zero); exposed for tests of its distribution. */
double cs_conn_speed_wait(uint64_t *rng);
/* Records a `bytes_received_cumulative` event with the cumulative raw bytes read. */
void cs_conn_emit_cumulative(cs_conn *c);

/* Records an OONI "annotation" event (tls_handshake_start, http_transaction_done, ...) at
 * absolute monotonic time `when`: t0 == t, failure null, no address/proto/num_bytes, as
 * probe-cli's NewAnnotationArchivalNetworkEvent. Not counted against max_events. */
void cs_conn_annotate(cs_conn *c, const char *operation, double when);

/* Fills t0/t (absolute monotonic times, converted), transaction_id and tags of a record made
 * by an upper layer (tls.c, http.c) so it matches the conn's other records. */
void cs_conn_fill_common(const cs_conn *c, cs_rec_common *rc, double t0, double t);

/* One upper-layer attachment (e.g. a pending HTTP transaction): destroy(ctx) runs from
 * cs_conn_free unless cs_conn_detach() was called first. */
void cs_conn_attach(cs_conn *c, void (*destroy)(void *ctx), void *ctx);
void cs_conn_detach(cs_conn *c);

/* ---- the filter interface (used by tls.c; the socket filter is built in) --------------- */

enum { CS_CONN_AGAIN = -1, CS_CONN_ERR = -2 };

typedef struct {
  const char *name; /* "tls" */
  /* Return > 0 bytes, 0 at clean EOF (recv only), CS_CONN_AGAIN with *want set to the
   * socket events to wait for (CS_EV_READ/CS_EV_WRITE), or CS_CONN_ERR with *failure set. */
  ssize_t (*recv)(void *ctx, cs_conn *c, void *p, size_t n, unsigned *want, const char **failure);
  ssize_t (*send)(void *ctx, cs_conn *c, const void *p, size_t n, unsigned *want,
                  const char **failure);
  void (*destroy)(void *ctx);
} cs_conn_filter_ops;

/* Installs a filter above the socket; c takes ownership of ctx (destroy on free). */
void cs_conn_set_filter(cs_conn *c, const cs_conn_filter_ops *ops, void *ctx);
/* The installed filter's ctx when its ops are `ops`, else NULL. */
void *cs_conn_filter_ctx(const cs_conn *c, const cs_conn_filter_ops *ops);

/* Socket-level primitives for filters: one recv()/send() syscall, recorded as a network event.
 * Return > 0, 0 at EOF (recv), CS_CONN_AGAIN (EAGAIN), or CS_CONN_ERR with *failure set.
 * The last socket-level failure/EOF is remembered (cs_conn_sock_state) so a filter can
 * classify an error reported by its library. */
ssize_t cs_conn_sock_recv(cs_conn *c, void *p, size_t n, const char **failure);
ssize_t cs_conn_sock_send(cs_conn *c, const void *p, size_t n, const char **failure);
typedef struct {
  bool eof;            /* a recv() returned 0 */
  const char *failure; /* failure of the last failed syscall, or NULL */
} cs_conn_sock_state_t;
cs_conn_sock_state_t cs_conn_sock_state(const cs_conn *c);
/* A filter's deadline interrupted its wait (cs_conn_wait): records the read (or write) it was
 * waiting for with `failure`, t0 = when the wait began, as Go's deadline would. */
void cs_conn_sock_timeout(cs_conn *c, const char *failure);

/* Waits for socket readiness on behalf of a filter's multi-step operation (the TLS
 * handshake): cb runs once, from the loop, when one of `events` is ready (or on a socket
 * error/hang-up). One waiter at a time; events == 0 stops waiting. */
typedef void (*cs_conn_ready_cb)(cs_conn *c, void *data);
int cs_conn_wait(cs_conn *c, unsigned events, cs_conn_ready_cb cb, void *data);

#endif
