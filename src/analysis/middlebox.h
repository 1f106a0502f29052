/* middlebox.h - packet evidence of interference, analysed without I/O (docs/forensics.md):
 *
 *   - cs_mb_parse_ip(): one captured IPv4/IPv6 packet (hostile, possibly truncated) into the
 *     header fields `x_packets` records (TTL, IP ID, DF, TCP flags/window/seq/ack/options,
 *     ICMP type/code and the quoted packet, DNS id/flags/rcode/answers/compression);
 *   - cs_mb_analyze(): per flow, injected versus genuine (TTL, IP ID and DF of each RST/FIN
 *     against the server's SYN-ACK), the RST/FIN pattern, the TSG-style signature-mode seed
 *     solver, and DNS injector traits of racing replies, matched against fingerprint
 *     definitions (data/middlebox/NAME.fp, cs_mb_db_parse()) into `x_middlebox` entries.
 *
 * Nothing here knows the probe's own address: a packet record holds the remote end of the
 * flow and the sender of the packet only. */
#ifndef CS_MIDDLEBOX_H
#define CS_MIDDLEBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/ipnet.h"
#include "util/json.h"

#define CS_MB_MAX_OPTS 12   /* TCP option kinds kept per packet */
#define CS_MB_MAX_ANSWERS 4 /* DNS A answers (and AAAA answers) kept per reply */

enum { CS_MB_FIN = 0x01, CS_MB_SYN = 0x02, CS_MB_RST = 0x04, CS_MB_PSH = 0x08, CS_MB_ACK = 0x10 };

/* One packet the network sent back on a measured flow. */
typedef struct {
  double t;           /* seconds since the measurement start */
  uint8_t flow_proto; /* 6 (tcp) or 17 (udp): the flow this packet belongs to */
  cs_ip remote;       /* the flow's remote end (server or resolver) */
  uint16_t rport;
  int64_t conn_id;   /* transaction id of the flow (0: unknown) */
  uint32_t flow_key; /* distinguishes two flows to one remote (a local port); never written */
  const char *qname; /* DNS flows: the name the probe asked (NULL: unknown); not written */
  uint16_t qtype;    /* ... and its type (0: unknown) */
  uint8_t sent_ttl;  /* the TTL-copy probe's IP TTL on this flow (0: not a probe flow) */

  uint8_t proto;  /* 6 tcp, 17 udp, 1 icmp, 58 icmpv6 */
  cs_ip src;      /* sender of this packet (server, router or forger) */
  uint8_t ttl;    /* IPv4 TTL / IPv6 hop limit */
  bool df;        /* IPv4 don't-fragment (false for IPv6) */
  bool has_ip_id; /* IPv4 only */
  uint16_t ip_id;
  uint16_t len; /* IP total length */
  uint16_t sport, dport;
  /* tcp */
  uint16_t tcp_flags; /* 12 bits: FIN..CWR plus AE (0x100) */
  uint16_t window;
  uint32_t seq, ack;
  uint8_t opts[CS_MB_MAX_OPTS];
  uint8_t nopts;
  uint16_t payload_len;
  /* icmp error: the quoted packet */
  uint8_t icmp_type, icmp_code, q_proto;
  cs_ip q_dst;
  uint16_t q_sport, q_dport;
  bool has_quote;
  /* dns reply */
  bool is_dns;
  uint16_t dns_id, dns_flags, dns_answers;
  uint8_t dns_rcode;
  bool compression; /* a compression pointer in the answer section */
  uint8_t nanswer_a;
  cs_ip answer_a[CS_MB_MAX_ANSWERS];
  uint8_t nanswer_aaaa; /* AAAA answers kept (as many) */
  cs_ip answer_aaaa[CS_MB_MAX_ANSWERS];
} cs_mb_pkt;

/* Parses an IP packet (IPv4 or IPv6, from the IP header on; caplen bytes present, possibly
 * fewer than the IP length says) into *p (zeroed first; t, flow and conn fields are left
 * for the caller). Returns 0, or -1 when it is not a TCP/UDP/ICMP(v6) packet this module
 * reads. Never reads past caplen. */
int cs_mb_parse_ip(const uint8_t *pkt, size_t caplen, cs_mb_pkt *p);

/* ---- fingerprint definitions (data/middlebox/NAME.fp) ------------------------------------- */

typedef struct cs_mb_db cs_mb_db;

/* Parses the text of one .fp file (format in data/middlebox/README.md) into db (created when
 * *db is NULL). Bounded: at most CS_MB_MAX_FP fingerprints, lines < 1024 bytes, ids <= 63
 * chars. Returns 0, or -1 with a message in err (the file's definitions are then not added).
 * Out of memory is -1 too. */
#define CS_MB_MAX_FP 64
int cs_mb_db_parse(cs_mb_db **db, const char *text, size_t len, char *err, size_t errlen);
/* Loads every .fp file of dir (NULL: $CS_MIDDLEBOX_DIR, else data/middlebox of the source tree
 * the binary was built in, else ./data/middlebox). NULL with a message when none loaded. */
cs_mb_db *cs_mb_db_load(const char *dir, char *err, size_t errlen);
void cs_mb_db_free(cs_mb_db *db);
size_t cs_mb_db_count(const cs_mb_db *db);

/* ---- analysis -------------------------------------------------------------------------- */

/* The TSG-style signature-mode model (docs/forensics.md): the forger's IP ID of RST i is
 * ipid_i = (A - k * win_i + (sip mod win_i)) mod 2^16 with k the seed, A a constant of the
 * flow, win_i the RST's window and sip its IPv4 source address. Given n >= 2 (ipid, win)
 * pairs (windows non-zero), finds every k in [0, 65535] for which A is the same for all of
 * them. Returns the number of such k (candidates written to out, at most cap). */
size_t cs_mb_solve_seed(uint32_t sip, const uint16_t *ipid, const uint16_t *win, size_t n,
                        uint16_t *out, size_t cap);

/* Analyses a measurement's packets (any order; sorted by t inside) and writes `x_middlebox`:
 * null when nothing was injected and nothing unexplained was seen, else an array of
 * {"flow","kind","injected","reasons","family","seed","count","flags","df","window","ttl",
 * "ip_id","hops_from_probe"}; DNS entries add "compression", "answers", "ttl_copied" and
 * "ttl_probe" (the TTL-copy probe's replies, from packets with sent_ttl set, which make no
 * entries of their own). db may be NULL (no families). Returns the number of entries
 * claiming injected:true. Bounded in time and memory by n (the caller caps n). */
int cs_mb_write_analysis(cs_jw *w, const cs_mb_pkt *pk, size_t n, const cs_mb_db *db);

/* The TTL-copy probe's target (docs/forensics.md): whether the packets show DNS interference
 * (a DNS entry that is not genuine: injected true or null) on a flow whose query name is
 * known; the packet of the first such flow (an A query preferred) is stored in *target. Probe
 * packets (sent_ttl != 0) are left out. Returns true when there is one. */
bool cs_mb_dns_probe_target(const cs_mb_pkt *pk, size_t n, const cs_mb_pkt **target);

/* Writes `x_packets` entries: one object per packet (the contract's shape), seq/ack relative
 * to the flow's SYN-ACK when one was captured. */
void cs_mb_write_packets(cs_jw *w, const cs_mb_pkt *pk, size_t n);

/* "SA", "R", "RA", "FA", "FPA"...: TCP flags in the usual order (AE written as "E"... see
 * .c); out holds at least 16 bytes. */
void cs_mb_flags_str(uint16_t flags, char out[16]);

#endif
