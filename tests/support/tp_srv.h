/* tp_srv.h - a small throughput server on loopback for the throttling tests, speaking the
 * helper's throughput protocol (GET /throughput?bytes=N, POST /throughput, GET
 * /throughput/info; TLS with any SNI or plain HTTP on one port, told apart by the first
 * byte) with behaviours on cue: a per-name or per-address pace (what a censor's policer does
 * to a flow, done here by the sender), a stall after N bytes, and the hostile cases — a reset
 * mid-transfer, a body shorter or longer than its Content-Length, a smaller Content-Length
 * than asked, a wrong "received" count, a refusal.
 *
 * One thread per connection (the helper serves them concurrently), on 127.0.0.1 and,
 * optionally, a second listener on 127.0.0.2. Nothing here talks to anything but loopback. */
#ifndef CS_TEST_TP_SRV_H
#define CS_TEST_TP_SRV_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  TP_OK,           /* the protocol as it should be */
  TP_RESET_MID,    /* a download: half the body, then RST */
  TP_SHORT_BODY,   /* a download: Content-Length N, half of it, then FIN */
  TP_LONG_BODY,    /* a download: Content-Length N, then N + 5000 bytes */
  TP_SMALL_CL,     /* a download: Content-Length N/4 (and N/4 bytes) */
  TP_LIE_RECEIVED, /* an upload: "received" is twice what came */
  TP_REFUSE,       /* every throughput request: 429 with X-Censorscope-Refused: rate-limit */
} tp_mode;

typedef struct {
  SSL_CTX *tls;          /* TLS connections (first byte 0x16) use it (the server takes it
                            over, tp_stop frees it); NULL: plain only */
  tp_mode mode;          /* for every trial (the info request is always answered) */
  double base_bps;       /* pace of every flow, bits/s (0: as fast as it goes) */
  const char *slow_name; /* SNI (TLS) or Host (plain) paced at slow_bps instead */
  double slow_bps;
  uint64_t stall_after;   /* with slow_name: its downloads stop after this many bytes, the
                           connection left open (0: no stall) */
  bool second;            /* also listen on 127.0.0.2 (same port) and list it in the info */
  double second_bps;      /* when > 0: every flow on 127.0.0.1 is paced at this (IP-keyed) */
  bool no_info;           /* /throughput/info answers 404 */
  const char *reset_name; /* connections with this SNI are reset after the handshake (blocked) */
  bool small_rcvbuf;      /* a 16 KiB receive buffer: an upload's sender feels the pace at once */
} tp_cfg;

typedef struct tp_srv tp_srv;

tp_srv *tp_start(const tp_cfg *cfg);
uint16_t tp_port(const tp_srv *s);
/* The names (SNI, else Host) of the throughput requests served so far, in order, as
 * "down NAME" / "up NAME" / "info NAME", each prefixed with "2 " when it came to the second
 * address. Returns how many (at most max). */
size_t tp_log(tp_srv *s, char (*out)[300], size_t max);
void tp_stop(tp_srv *s);

#endif
