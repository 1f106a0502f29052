/* capture.h - packet evidence: what the network sends back on a measurement's flows (RST,
 * FIN, the server's SYN-ACK, ICMP errors, DNS replies), read with libpcap while the
 * measurement runs (docs/forensics.md).
 *
 * One pcap handle per event loop ("any" device, inbound only, immediate mode, a BPF filter
 * that passes only those packet kinds), shared by every measurement on the loop and watched
 * through pcap's selectable fd like any other cs_io. Each measurement opens a session; the
 * engine notes each socket it opens on the measurement's trace (cs_capture_note_fd, reached
 * through cs_trace.capture), and a captured packet is kept by the sessions whose flows it
 * belongs to (remote address and port, local port). The local address is never stored.
 *
 * Without CAP_NET_RAW the session says so (x_packets_status "no_privilege") and the
 * measurement runs exactly as without capture. */
#ifndef CS_CAPTURE_H
#define CS_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "analysis/middlebox.h"
#include "engine/loop.h"
#include "record/record.h"
#include "util/ipnet.h"
#include "util/json.h"

#define CS_CAPTURE_MAX_PKTS 256    /* packets kept per measurement (x_packets_truncated) */
#define CS_CAPTURE_MAX_PER_FLOW 32 /* ... and per flow */
#define CS_CAPTURE_MAX_FLOWS 128   /* flows followed per measurement */

typedef struct cs_capture_sess cs_capture_sess;

/* Starts a session for the measurement of trace t on loop l and sets t->capture. disabled:
 * no capture at all (x_packets_status "disabled"). Returns NULL only when out of memory (the
 * measurement then runs without capture and says "error: out of memory"). */
cs_capture_sess *cs_capture_begin(cs_loop *l, cs_trace *t, bool disabled);

/* Engine hook, right after connect(): the socket fd (proto IPPROTO_TCP or IPPROTO_UDP) to
 * remote:rport belongs to the measurement of t (its local port is read with getsockname and
 * kept in memory only). conn_id: its transaction id (0: none). No-op when t has no session. */
void cs_capture_note_fd(cs_trace *t, int fd, int proto, const cs_ip *remote, uint16_t rport,
                        int64_t conn_id);

/* Engine hook after cs_capture_note_fd for a DNS query over UDP: the flow of fd asked
 * qname (kept by pointer: it must live as long as the trace, e.g. in its arena) of qtype. */
void cs_capture_note_query(cs_trace *t, int fd, const char *qname, uint16_t qtype);

/* The TTL-copy probe (docs/forensics.md), for a nettest before it writes the measurement:
 * when the packets captured so far show DNS interference (x_middlebox would have a DNS
 * entry that is not genuine) on a UDP query whose name is known, sends that query again to
 * that resolver on 3 new sockets with different IP TTLs (the default and two others, +32
 * each, or -32 from 192 up), captures the replies until each has two or for at most timeout
 * seconds (at most 2), then calls cb(arg) from the loop. The analysis then says whether the
 * interfering reply's TTL moved with the sent TTL (`ttl_copied`). Returns 1 when started, 0
 * when there is nothing to probe (no interference, no capture, no name): cb is then not
 * called. Uncensored names never cost a packet. */
int cs_capture_ttl_probe(cs_capture_sess *s, double timeout, void (*cb)(void *), void *arg);

/* Reads what is already queued, then writes x_packets_status, x_packets_note (when some
 * evidence could not be seen), x_packets, x_packets_truncated and x_middlebox as members of
 * the open test_keys object. */
void cs_capture_write(cs_jw *w, cs_capture_sess *s);

/* For a nettest's own reading of its flows (resolver_identity's reply-TTL comparison): the
 * packets kept so far, after reading what is already queued; *n of them (NULL and 0 when
 * none or no capture). Valid until the next call or cs_capture_end. */
const cs_mb_pkt *cs_capture_packets(cs_capture_sess *s, size_t *n);
/* "ok" while packets are being captured, else what x_packets_status says ("disabled",
 * "no_privilege", "error: ..."). NULL s: "error: out of memory". */
const char *cs_capture_status(const cs_capture_sess *s);

/* Ends the session (NULL: no-op); clears the trace's pointer. The loop's pcap handle is
 * closed with the last session. */
void cs_capture_end(cs_capture_sess *s);

#endif
