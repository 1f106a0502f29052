/* udp.h - the UDP exchange step: from a bound UDP socket, send one or more datagrams to
 * ip:port and record every reply until a deadline or a reply limit — for the STUN, VPN and
 * QUIC probes (and any other datagram protocol) that will be built on it.
 *
 * The socket is not connected, so replies from any source are received and recorded with
 * their source (an on-path injector answering from another address or port is visible), and
 * every reply counts, not just the first (duplicate or late replies are evidence too).
 *
 * Records (df-008 network events, proto "udp", the caller's transaction id and tags):
 *   - one `write_to` per datagram sent (address = destination, num_bytes, failure);
 *   - one `read_from` per datagram received (address = its source, num_bytes = its size;
 *     t0 = when the wait for it began, t = when it arrived, as conn.c times reads);
 *   - at the deadline, one `read_from` with generic_timeout_error for the wait it interrupted
 *     (as Go's deadline fails the pending ReadFrom).
 * The replies themselves (source, time, bytes) go to the caller, who decides what they mean.
 *
 * Bounded: at most CS_UDP_MAX_SENDS datagrams sent, max_replies replies received (then the
 * exchange ends), max_bytes reply bytes kept in total (later bytes are counted, not kept). */
#ifndef CS_UDP_H
#define CS_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/loop.h"
#include "record/record.h"
#include "util/ipnet.h"

#define CS_UDP_TIMEOUT 5.0          /* seconds: the exchange's deadline by default */
#define CS_UDP_MAX_SENDS 64         /* datagrams sent per exchange */
#define CS_UDP_MAX_REPLIES 32       /* replies received by default (then the exchange ends) */
#define CS_UDP_MAX_BYTES (1u << 18) /* reply bytes kept per exchange by default */

typedef struct {
  const uint8_t *data;
  size_t len; /* 1..65507 */
} cs_udp_dgram;

typedef struct {
  double timeout;         /* seconds from the start; <= 0: CS_UDP_TIMEOUT */
  double send_interval;   /* seconds between successive datagrams; 0: all at once */
  size_t max_replies;     /* the exchange ends at this many replies; 0: CS_UDP_MAX_REPLIES */
  size_t max_bytes;       /* reply bytes kept in total; 0: CS_UDP_MAX_BYTES */
  int64_t transaction_id; /* copied into every record (0: omitted) */
  const char *const *tags;
  size_t ntags;
} cs_udp_opts;

typedef struct {
  double t;            /* arrival, seconds since the measurement start */
  const char *source;  /* "ip:port" / "[v6]:port" of the sender (trace arena) */
  const uint8_t *data; /* the kept bytes (trace arena; NULL when len is 0) */
  size_t len;          /* bytes kept (<= size; less once max_bytes is reached) */
  size_t size;         /* bytes of the datagram */
} cs_udp_reply;

typedef struct {
  /* NULL when a reply came; "generic_timeout_error" when none came before the deadline; a
   * socket or send failure when nothing could be sent */
  const char *failure;
  const cs_udp_reply *replies; /* in arrival order */
  size_t nreplies;
  size_t nsent;       /* datagrams sent without error */
  bool limit_reached; /* ended by max_replies rather than by the deadline */
} cs_udp_result;

/* r is valid only during the call (the data it points to lives in the trace arena). */
typedef void (*cs_udp_cb)(void *arg, const cs_udp_result *r);

typedef struct cs_udp cs_udp;

/* Starts the exchange: sends d[0..n) (n >= 1; at most CS_UDP_MAX_SENDS) to ip:port, then
 * collects replies. The datagrams are copied. cb is called exactly once, never from inside
 * cs_udp_exchange, unless cs_udp_cancel() is called first; the exchange frees itself after
 * cb. Returns NULL on misuse or out of memory (nothing recorded). */
cs_udp *cs_udp_exchange(cs_loop *l, cs_trace *t, const cs_ip *ip, uint16_t port,
                        const cs_udp_dgram *d, size_t n, const cs_udp_opts *o, cs_udp_cb cb,
                        void *arg);
/* Stops the exchange without calling cb (records made stay). NULL is a no-op; not from cb. */
void cs_udp_cancel(cs_udp *u);

#endif
