/* middlebox.c - packet header parsing, injected-versus-genuine analysis, the signature-mode
 * seed solver and fingerprint definitions (see middlebox.h and docs/forensics.md).
 *
 * Protocol references: IPv4 header RFC 791 §3.1 (TTL, identification, DF), IPv6 RFC 8200 §3,
 * TCP RFC 9293 §3.1 (flags, window, options) and RFC 9768 (AE, ex-NS, bit), ICMP RFC 792
 * (type 3 destination unreachable, 11 time exceeded, quoting the IP header + 8 bytes),
 * ICMPv6 RFC 4443 §3.1/§3.3, DNS RFC 1035 §4.1 (header) and §4.1.4 (compression pointers). */
#include "analysis/middlebox.h"

#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- parsing ---------------------------------------------------------------------------- */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void ip_set(cs_ip *ip, int family, const uint8_t *b) {
  memset(ip, 0, sizeof *ip);
  ip->family = family;
  memcpy(ip->b, b, family == AF_INET ? 4 : 16);
}

/* Skips a DNS name at m[off] (RFC 1035 §4.1.4); *ptr set when it is or ends in a pointer.
 * Returns the offset after it, or 0 when it runs past n. */
static size_t dns_skip_name(const uint8_t *m, size_t n, size_t off, bool *ptr) {
  for (int labels = 0; off < n && labels < 128; labels++) {
    uint8_t c = m[off];
    if (c == 0) return off + 1;
    if ((c & 0xc0) == 0xc0) {
      if (ptr) *ptr = true;
      return off + 2 <= n ? off + 2 : 0;
    }
    if (c & 0xc0) return 0; /* reserved label types */
    off += 1u + c;
  }
  return 0;
}

static void parse_dns(const uint8_t *m, size_t n, cs_mb_pkt *p) {
  if (n < 12) return;
  uint16_t flags = rd16(m + 2);
  if (!(flags & 0x8000)) return; /* a query, not a reply */
  p->is_dns = true;
  p->dns_id = rd16(m);
  p->dns_flags = flags;
  p->dns_rcode = (uint8_t)(flags & 0x0f);
  p->dns_answers = rd16(m + 6);
  size_t off = 12;
  unsigned qd = rd16(m + 4);
  for (unsigned i = 0; i < qd && i < 4; i++) {
    off = dns_skip_name(m, n, off, NULL);
    if (!off || off + 4 > n) return;
    off += 4;
  }
  for (unsigned i = 0; i < p->dns_answers && i < 32; i++) {
    bool ptr = false;
    off = dns_skip_name(m, n, off, &ptr);
    if (ptr) p->compression = true;
    if (!off || off + 10 > n) return;
    uint16_t type = rd16(m + off), rdlen = rd16(m + off + 8);
    off += 10;
    if (off + rdlen > n) return;
    if (type == 1 && rdlen == 4 && p->nanswer_a < CS_MB_MAX_ANSWERS)
      ip_set(&p->answer_a[p->nanswer_a++], AF_INET, m + off);
    if (type == 28 && rdlen == 16 && p->nanswer_aaaa < CS_MB_MAX_ANSWERS)
      ip_set(&p->answer_aaaa[p->nanswer_aaaa++], AF_INET6, m + off);
    off += rdlen;
  }
}

static void parse_tcp(const uint8_t *t, size_t n, size_t l4len, cs_mb_pkt *p) {
  if (n < 20) return;
  p->sport = rd16(t), p->dport = rd16(t + 2);
  p->seq = rd32(t + 4), p->ack = rd32(t + 8);
  size_t doff = (size_t)(t[12] >> 4) * 4;
  p->tcp_flags = (uint16_t)((t[12] & 1u) << 8 | t[13]);
  p->window = rd16(t + 14);
  if (doff >= 20 && l4len >= doff) p->payload_len = (uint16_t)(l4len - doff);
  size_t end = doff < n ? doff : n;
  for (size_t i = 20; i < end && p->nopts < CS_MB_MAX_OPTS;) {
    uint8_t kind = t[i];
    if (kind == 0) break;
    if (kind == 1) {
      i++;
      continue;
    }
    if (i + 1 >= end || t[i + 1] < 2) break;
    p->opts[p->nopts++] = kind;
    i += t[i + 1];
  }
}

/* The quoted packet of an ICMP error: an IP header + at least 8 bytes (RFC 792). */
static void parse_quote(const uint8_t *q, size_t n, bool v6, cs_mb_pkt *p) {
  size_t ihl;
  if (!v6) {
    if (n < 20 || q[0] >> 4 != 4) return;
    ihl = (size_t)(q[0] & 0x0f) * 4;
    if (ihl < 20 || ihl > n) return;
    p->q_proto = q[9];
    ip_set(&p->q_dst, AF_INET, q + 16);
  } else {
    if (n < 40 || q[0] >> 4 != 6) return;
    ihl = 40;
    p->q_proto = q[6];
    ip_set(&p->q_dst, AF_INET6, q + 24);
  }
  p->has_quote = true;
  if (n >= ihl + 4 && (p->q_proto == 6 || p->q_proto == 17))
    p->q_sport = rd16(q + ihl), p->q_dport = rd16(q + ihl + 2);
}

int cs_mb_parse_ip(const uint8_t *pkt, size_t caplen, cs_mb_pkt *p) {
  memset(p, 0, sizeof *p);
  if (!pkt || caplen < 1) return -1;
  size_t hl, iplen;
  uint8_t proto;
  bool v6 = false;
  if (pkt[0] >> 4 == 4) {
    if (caplen < 20) return -1;
    hl = (size_t)(pkt[0] & 0x0f) * 4;
    if (hl < 20 || hl > caplen) return -1;
    if (rd16(pkt + 6) & 0x1fff) return -1; /* a later fragment: no transport header */
    iplen = rd16(pkt + 2);
    p->ttl = pkt[8];
    proto = pkt[9];
    p->has_ip_id = true;
    p->ip_id = rd16(pkt + 4);
    p->df = (pkt[6] & 0x40) != 0;
    ip_set(&p->src, AF_INET, pkt + 12);
  } else if (pkt[0] >> 4 == 6) {
    if (caplen < 40) return -1;
    hl = 40;
    iplen = 40u + rd16(pkt + 4);
    p->ttl = pkt[7];
    proto = pkt[6];
    ip_set(&p->src, AF_INET6, pkt + 8);
    v6 = true;
  } else {
    return -1;
  }
  if (iplen < hl) iplen = hl;
  p->len = (uint16_t)(iplen > 65535 ? 65535 : iplen);
  p->proto = proto;
  const uint8_t *l4 = pkt + hl;
  size_t n = caplen - hl, l4len = iplen - hl;
  if (n > l4len) n = l4len; /* ignore trailer padding */
  switch (proto) {
  case 6: parse_tcp(l4, n, l4len, p); return n >= 20 ? 0 : -1;
  case 17:
    if (n < 8) return -1;
    p->sport = rd16(l4), p->dport = rd16(l4 + 2);
    if (p->sport == 53) parse_dns(l4 + 8, n - 8, p);
    return 0;
  case 1:
  case 58:
    if ((proto == 1) == v6 || n < 8) return -1;
    p->icmp_type = l4[0], p->icmp_code = l4[1];
    if (proto == 1 && p->icmp_type != 3 && p->icmp_type != 11) return -1;
    if (proto == 58 && p->icmp_type != 1 && p->icmp_type != 3) return -1;
    parse_quote(l4 + 8, n - 8, v6, p);
    return 0;
  default: return -1;
  }
}

void cs_mb_flags_str(uint16_t flags, char out[16]) {
  static const struct {
    uint16_t bit;
    char c;
  } order[] = {{CS_MB_SYN, 'S'}, {CS_MB_FIN, 'F'}, {CS_MB_RST, 'R'},
               {CS_MB_PSH, 'P'}, {CS_MB_ACK, 'A'}, {0x20, 'U'},
               {0x40, 'E'},      {0x80, 'C'},      {0x100, 'N'}};
  size_t j = 0;
  for (size_t i = 0; i < sizeof order / sizeof *order; i++)
    if (flags & order[i].bit) out[j++] = order[i].c;
  out[j] = 0;
}

/* ---- fingerprint definitions ------------------------------------------------------------ */

typedef enum { TRI_ANY, TRI_NO, TRI_YES } tri;
typedef enum { WIN_ANY, WIN_ZERO, WIN_NONZERO, WIN_VARYING } win_rule;
typedef enum { SEED_ANY, SEED_SOLVED } seed_rule;

typedef struct {
  char id[64];
  char kind[8]; /* "rst", "fin", "dns" */
  char flags[16];
  bool has_flags;
  tri df, compression;
  win_rule window;
  seed_rule seed;
  uint16_t known_seeds[8];
  size_t nknown;
  int dns_flags;     /* -1: any */
  cs_cidr ranges[8]; /* answers-in: every A/AAAA answer in one of these */
  size_t nranges;
  unsigned min_count;
  unsigned ntraits; /* specificity */
} fp_def;

struct cs_mb_db {
  fp_def fp[CS_MB_MAX_FP];
  size_t n;
};

size_t cs_mb_db_count(const cs_mb_db *db) { return db ? db->n : 0; }
void cs_mb_db_free(cs_mb_db *db) { free(db); }

static int parse_tri(const char *v, tri *out) {
  if (!strcmp(v, "true")) *out = TRI_YES;
  else if (!strcmp(v, "false")) *out = TRI_NO;
  else return -1;
  return 0;
}

static bool id_ok(const char *s) {
  if (!*s || strlen(s) > 63) return false;
  for (; *s; s++)
    if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '-' && *s != '_')
      return false;
  return true;
}

/* One "key value" line of the current definition d. Returns 0 or -1 (message in err). */
static int fp_line(fp_def *d, const char *key, const char *val, char *err, size_t errlen) {
  if (!strcmp(key, "name") || !strcmp(key, "source") || !strcmp(key, "note")) return 0;
  if (!*val) {
    snprintf(err, errlen, "%.32s needs a value", key);
    return -1;
  }
  char *end = NULL;
  if (!strcmp(key, "kind")) {
    if (strcmp(val, "rst") && strcmp(val, "fin") && strcmp(val, "dns")) goto bad;
    snprintf(d->kind, sizeof d->kind, "%.7s", val);
    return 0;
  }
  d->ntraits++;
  if (!strcmp(key, "flags")) {
    size_t n = strlen(val);
    if (n >= sizeof d->flags || strspn(val, "SFRPAUECN") != n) goto bad;
    memcpy(d->flags, val, n + 1);
    d->has_flags = true;
  } else if (!strcmp(key, "df")) {
    if (parse_tri(val, &d->df) < 0) goto bad;
  } else if (!strcmp(key, "compression")) {
    if (parse_tri(val, &d->compression) < 0) goto bad;
  } else if (!strcmp(key, "window")) {
    if (!strcmp(val, "zero")) d->window = WIN_ZERO;
    else if (!strcmp(val, "nonzero")) d->window = WIN_NONZERO;
    else if (!strcmp(val, "varying")) d->window = WIN_VARYING;
    else goto bad;
  } else if (!strcmp(key, "seed")) {
    if (strcmp(val, "solved")) goto bad;
    d->seed = SEED_SOLVED;
  } else if (!strcmp(key, "known-seeds")) {
    d->ntraits--;
    const char *s = val;
    while (*s) {
      unsigned long v = strtoul(s, &end, 10);
      if (end == s || v > 65535 || d->nknown >= 8) goto bad;
      d->known_seeds[d->nknown++] = (uint16_t)v;
      s = end;
      while (*s == ',' || *s == ' ') s++;
    }
  } else if (!strcmp(key, "dns-flags")) {
    unsigned long v = strtoul(val, &end, 16);
    if (end == val || *end || v > 0xffff) goto bad;
    d->dns_flags = (int)v;
  } else if (!strcmp(key, "answers-in")) {
    const char *s = val;
    while (*s) {
      char one[64];
      size_t l = strcspn(s, ", ");
      if (l == 0 || l >= sizeof one || d->nranges >= 8) goto bad;
      memcpy(one, s, l);
      one[l] = 0;
      if (!cs_cidr_parse(one, &d->ranges[d->nranges])) goto bad;
      d->nranges++;
      s += l;
      while (*s == ',' || *s == ' ') s++;
    }
  } else if (!strcmp(key, "min-count")) {
    unsigned long v = strtoul(val, &end, 10);
    if (end == val || *end || v < 1 || v > 64) goto bad;
    d->min_count = (unsigned)v;
  } else {
    snprintf(err, errlen, "unknown key '%.32s'", key);
    return -1;
  }
  return 0;
bad:
  snprintf(err, errlen, "bad value for %.32s", key);
  return -1;
}

int cs_mb_db_parse(cs_mb_db **dbp, const char *text, size_t len, char *err, size_t errlen) {
  if (!*dbp && !(*dbp = calloc(1, sizeof **dbp))) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  cs_mb_db *db = *dbp;
  size_t first = db->n, lineno = 0;
  fp_def *cur = NULL;
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && text[j] != '\n') j++;
    lineno++;
    char line[1024];
    if (j - i >= sizeof line) {
      snprintf(err, errlen, "line %zu: too long", lineno);
      goto fail;
    }
    memcpy(line, text + i, j - i);
    line[j - i] = 0;
    i = j + 1;
    char *s = line;
    char *hash = strchr(s, '#');
    if (hash) *hash = 0;
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    if (!n) continue;
    char *val = s;
    while (*val && !isspace((unsigned char)*val)) val++;
    if (*val) *val++ = 0;
    while (*val && isspace((unsigned char)*val)) val++;
    char e[128];
    if (!strcmp(s, "id")) {
      if (db->n >= CS_MB_MAX_FP) {
        snprintf(err, errlen, "line %zu: more than %d fingerprints", lineno, CS_MB_MAX_FP);
        goto fail;
      }
      if (!id_ok(val)) {
        snprintf(err, errlen, "line %zu: bad id", lineno);
        goto fail;
      }
      cur = &db->fp[db->n++];
      memset(cur, 0, sizeof *cur);
      snprintf(cur->id, sizeof cur->id, "%.63s", val);
      cur->dns_flags = -1;
      continue;
    }
    if (!cur) {
      snprintf(err, errlen, "line %zu: '%s' before the first id", lineno, s);
      goto fail;
    }
    if (fp_line(cur, s, val, e, sizeof e) < 0) {
      snprintf(err, errlen, "line %zu: %s", lineno, e);
      goto fail;
    }
  }
  for (size_t k = first; k < db->n; k++)
    if (!db->fp[k].kind[0]) {
      snprintf(err, errlen, "fingerprint %s: no kind", db->fp[k].id);
      goto fail;
    }
  return 0;
fail:
  db->n = first;
  return -1;
}

#define FP_FILE_MAX (64u << 10)

cs_mb_db *cs_mb_db_load(const char *dir, char *err, size_t errlen) {
  char path[4096];
  if (!dir) dir = getenv("CS_MIDDLEBOX_DIR");
  if (!dir || !*dir) {
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 32);
    if (n > 0) {
      path[n] = 0;
      for (int up = 0; up < 3; up++) { /* .../build/<kind>/censorscope -> ... */
        char *p = strrchr(path, '/');
        if (p) *p = 0;
      }
      size_t pl = strlen(path);
      snprintf(path + pl, sizeof path - pl, "/data/middlebox");
      if (access(path, R_OK) == 0) dir = path;
    }
    if (!dir || !*dir) dir = "data/middlebox";
  }
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, errlen, "%s: cannot open", dir);
    return NULL;
  }
  cs_mb_db *db = NULL;
  struct dirent *e;
  char *buf = malloc(FP_FILE_MAX);
  err[0] = 0;
  while (buf && (e = readdir(d))) {
    size_t nl = strlen(e->d_name);
    if (nl < 4 || strcmp(e->d_name + nl - 3, ".fp")) continue;
    char f[4096 + 256];
    snprintf(f, sizeof f, "%s/%s", dir, e->d_name);
    FILE *fh = fopen(f, "rb");
    if (!fh) continue;
    size_t len = fread(buf, 1, FP_FILE_MAX, fh);
    bool big = len == FP_FILE_MAX;
    fclose(fh);
    char pe[160];
    if (big) {
      snprintf(err, errlen, "%s: larger than %u bytes", e->d_name, FP_FILE_MAX);
    } else if (cs_mb_db_parse(&db, buf, len, pe, sizeof pe) < 0) {
      snprintf(err, errlen, "%s: %s", e->d_name, pe);
    }
  }
  free(buf);
  closedir(d);
  if (!db || !db->n) {
    if (!err[0]) snprintf(err, errlen, "%s: no *.fp fingerprint", dir);
    free(db);
    return NULL;
  }
  return db;
}

/* ---- the signature-mode seed solver ------------------------------------------------------ */

size_t cs_mb_solve_seed(uint32_t sip, const uint16_t *ipid, const uint16_t *win, size_t n,
                        uint16_t *out, size_t cap) {
  if (n < 2) return 0;
  for (size_t i = 0; i < n; i++)
    if (!win[i]) return 0;
  size_t found = 0;
  /* A(k) = ipid_i + k * win_i - (sip mod win_i) (mod 2^16) must not depend on i. */
  for (uint32_t k = 0; k <= 65535; k++) {
    uint16_t a0 = (uint16_t)(ipid[0] + k * win[0] - sip % win[0]);
    size_t i = 1;
    for (; i < n; i++)
      if ((uint16_t)(ipid[i] + k * win[i] - sip % win[i]) != a0) break;
    if (i == n) {
      if (found < cap) out[found] = (uint16_t)k;
      found++;
    }
  }
  return found;
}

/* ---- analysis --------------------------------------------------------------------------- */

#define MAX_GROUP 64 /* packets of one kind on one flow that the analysis looks at */

static bool ip_eq(const cs_ip *a, const cs_ip *b) {
  return a->family == b->family && !memcmp(a->b, b->b, a->family == AF_INET ? 4 : 16);
}

static bool same_flow(const cs_mb_pkt *a, const cs_mb_pkt *b) {
  return a->flow_proto == b->flow_proto && a->rport == b->rport && a->flow_key == b->flow_key &&
         ip_eq(&a->remote, &b->remote);
}

static void flow_str(const cs_mb_pkt *p, char *out, size_t cap) {
  char ep[CS_IPSTR_MAX + 8];
  cs_endpoint_format(&p->remote, p->rport, ep, sizeof ep);
  snprintf(out, cap, "%s %s", p->flow_proto == 17 ? "udp" : "tcp", ep);
}

static int hops_of(uint8_t ttl) {
  static const int init[] = {32, 64, 128, 255};
  for (size_t i = 0; i < 4; i++)
    if (ttl <= init[i]) return init[i] - ttl <= 30 ? init[i] - ttl + 1 : -1;
  return -1;
}

#define MAX_PROBES 8      /* TTL-copy probe flows looked at per entry */
#define MAX_PROBE_REPLY 8 /* ... and replies per probe flow */

/* One flow of the TTL-copy probe: its sent TTL and its replies in time order. */
typedef struct {
  uint32_t key;
  uint8_t sent;
  const cs_mb_pkt *rep[MAX_PROBE_REPLY];
  size_t nrep;
} probe_flow;

typedef struct {
  const char *kind;
  const cs_mb_pkt *first; /* the packet whose fields the entry shows */
  const cs_mb_pkt *g[MAX_GROUP];
  size_t ng;
  int injected; /* 1, 0, -1 (null) */
  char reasons[6][96];
  size_t nreasons;
  bool seed_ok, seed_unique;
  uint16_t seed;
  size_t ninjected;
  bool windows_vary;
  /* DNS: the TTL-copy probe (judge_ttl_copy) */
  int ttl_copied; /* 1, 0, -1 (null) */
  bool copier;    /* not probed, but a TTL-copying injector answers for this resolver */
  probe_flow pf[MAX_PROBES];
  size_t npf;
} entry;

/* The resolvers for which a probed DNS entry was judged ttl_copied (run()'s first pass): the
 * other entries of those resolvers (an AAAA query, a second lookup: one probe is sent per
 * measurement) get no hop estimate either. */
#define MAX_COPIERS 8
typedef struct {
  int pass; /* 1: judge and collect; 2: write */
  cs_ip a[MAX_COPIERS];
  size_t n;
} mb_copiers;

static bool copier_of(const mb_copiers *cp, const cs_ip *ip) {
  for (size_t i = 0; cp && i < cp->n; i++)
    if (ip_eq(&cp->a[i], ip)) return true;
  return false;
}

static void reason(entry *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reason(entry *e, const char *fmt, ...) {
  if (e->nreasons >= 6) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->reasons[e->nreasons++], sizeof e->reasons[0], fmt, ap);
  va_end(ap);
}

static bool in_ranges(const fp_def *d, const cs_ip *ip) {
  for (size_t i = 0; i < d->nranges; i++)
    if (cs_cidr_contains(&d->ranges[i], ip)) return true;
  return false;
}

/* answers-in: the reply has address answers, and each is in one of d's ranges. */
static bool answers_in(const fp_def *d, const cs_mb_pkt *p) {
  if (!p->is_dns || p->nanswer_a + p->nanswer_aaaa == 0) return false;
  for (size_t i = 0; i < p->nanswer_a; i++)
    if (!in_ranges(d, &p->answer_a[i])) return false;
  for (size_t i = 0; i < p->nanswer_aaaa; i++)
    if (!in_ranges(d, &p->answer_aaaa[i])) return false;
  return true;
}

/* Whether fingerprint d matches entry e (all its traits). */
static bool fp_matches(const fp_def *d, const entry *e) {
  const cs_mb_pkt *p = e->first;
  if (strcmp(d->kind, e->kind) || e->injected != 1) return false;
  if (d->min_count && e->ninjected < d->min_count) return false;
  if (d->has_flags) {
    char f[16];
    cs_mb_flags_str(p->tcp_flags, f);
    if (strcmp(f, d->flags)) return false;
  }
  if (d->df != TRI_ANY && (d->df == TRI_YES) != p->df) return false;
  if (d->compression != TRI_ANY && (d->compression == TRI_YES) != p->compression) return false;
  if (d->dns_flags >= 0 && (!p->is_dns || p->dns_flags != (uint16_t)d->dns_flags)) return false;
  if (d->nranges && !answers_in(d, p)) return false;
  switch (d->window) {
  case WIN_ANY: break;
  case WIN_ZERO:
    if (p->window) return false;
    break;
  case WIN_NONZERO:
    if (!p->window) return false;
    break;
  case WIN_VARYING:
    if (!e->windows_vary) return false;
    break;
  }
  if (d->seed == SEED_SOLVED) {
    if (!e->seed_unique) return false;
    bool known = false;
    for (size_t i = 0; i < d->nknown; i++) known |= d->known_seeds[i] == e->seed;
    /* with 2 RSTs any pair fits some seed: only a known seed is evidence */
    if (!(e->seed_ok || known)) return false;
  }
  return true;
}

/* The reply's address answers: its A records, then its AAAA records. */
static void write_answers(cs_jw *w, const cs_mb_pkt *p) {
  cs_jw_arr_open(w);
  char a[CS_IPSTR_MAX];
  for (size_t i = 0; i < p->nanswer_a; i++) {
    cs_ip_format(&p->answer_a[i], a);
    cs_jw_str(w, a);
  }
  for (size_t i = 0; i < p->nanswer_aaaa; i++) {
    cs_ip_format(&p->answer_aaaa[i], a);
    cs_jw_str(w, a);
  }
  cs_jw_arr_close(w);
}

/* "ttl_copied" and "ttl_probe" of a DNS entry: null when the probe did not run. */
static void write_ttl_probe(cs_jw *w, const entry *e) {
  if (e->ttl_copied < 0) cs_jw_knull(w, "ttl_copied");
  else cs_jw_kbool(w, "ttl_copied", e->ttl_copied == 1);
  cs_jw_key(w, "ttl_probe");
  if (!e->npf) {
    cs_jw_null(w);
    return;
  }
  cs_jw_arr_open(w);
  for (size_t i = 0; i < e->npf; i++) {
    const probe_flow *f = &e->pf[i];
    cs_jw_obj_open(w);
    cs_jw_kint(w, "sent_ttl", f->sent);
    cs_jw_key(w, "replies");
    cs_jw_arr_open(w);
    for (size_t j = 0; j < f->nrep; j++) {
      const cs_mb_pkt *q = f->rep[j];
      char fl[8];
      snprintf(fl, sizeof fl, "0x%04x", q->dns_flags);
      cs_jw_obj_open(w);
      cs_jw_kint(w, "ttl", q->ttl);
      cs_jw_kstr(w, "flags", fl);
      cs_jw_kint(w, "rcode", q->dns_rcode);
      cs_jw_key(w, "answers");
      write_answers(w, q);
      cs_jw_obj_close(w);
    }
    cs_jw_arr_close(w);
    cs_jw_obj_close(w);
  }
  cs_jw_arr_close(w);
}

static void write_entry(cs_jw *w, entry *e, const cs_mb_db *db) {
  const cs_mb_pkt *p = e->first;
  const char *family = NULL;
  unsigned best = 0;
  size_t nbest = 0;
  const char *tie = NULL;
  for (size_t i = 0; db && i < db->n; i++) {
    if (!fp_matches(&db->fp[i], e)) continue;
    if (db->fp[i].ntraits > best) best = db->fp[i].ntraits, family = db->fp[i].id, nbest = 1;
    else if (db->fp[i].ntraits == best) nbest++, tie = db->fp[i].id;
  }
  if (nbest > 1) {
    reason(e, "traits fit %s and %s equally: no family", family, tie);
    family = NULL;
  } else if (family) {
    reason(e, "traits fit fingerprint %s", family);
  }
  char flow[CS_IPSTR_MAX + 16];
  flow_str(p, flow, sizeof flow);
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "flow", flow);
  cs_jw_kstr(w, "kind", e->kind);
  if (e->injected < 0) cs_jw_knull(w, "injected");
  else cs_jw_kbool(w, "injected", e->injected == 1);
  cs_jw_key(w, "reasons");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < e->nreasons; i++) cs_jw_str(w, e->reasons[i]);
  cs_jw_arr_close(w);
  cs_jw_kstr(w, "family", family);
  if (e->seed_unique && (e->seed_ok || family)) cs_jw_kint(w, "seed", e->seed);
  else cs_jw_knull(w, "seed");
  cs_jw_kint(w, "count", (int64_t)e->ng);
  char fl[16];
  if (p->is_dns) {
    snprintf(fl, sizeof fl, "0x%04x", p->dns_flags);
    cs_jw_kstr(w, "flags", fl);
    cs_jw_kbool(w, "compression", p->compression);
    cs_jw_key(w, "answers");
    write_answers(w, p);
    write_ttl_probe(w, e);
  } else if (p->proto == 6) {
    cs_mb_flags_str(p->tcp_flags, fl);
    cs_jw_kstr(w, "flags", fl);
  } else {
    cs_jw_knull(w, "flags");
  }
  cs_jw_kbool(w, "df", p->df);
  if (p->proto == 6) cs_jw_kint(w, "window", p->window);
  else cs_jw_knull(w, "window");
  cs_jw_kint(w, "ttl", p->ttl);
  if (p->has_ip_id) cs_jw_kint(w, "ip_id", p->ip_id);
  else cs_jw_knull(w, "ip_id");
  /* a copied TTL says nothing of distance */
  int h = e->ttl_copied == 1 || e->copier ? -1 : hops_of(p->ttl);
  if (h > 0) cs_jw_kint(w, "hops_from_probe", h);
  else cs_jw_knull(w, "hops_from_probe");
  if (p->proto == 1 || p->proto == 58) {
    char s[CS_IPSTR_MAX];
    cs_ip_format(&p->src, s);
    cs_jw_kstr(w, "src", s);
  }
  cs_jw_obj_close(w);
}

/* A SYN-ACK from remote: on this flow first, else on another flow to the same address. */
static const cs_mb_pkt *synack_for(const cs_mb_pkt *const *s, size_t n, const cs_mb_pkt *p,
                                   bool *other) {
  const cs_mb_pkt *alt = NULL;
  for (size_t i = 0; i < n; i++) {
    const cs_mb_pkt *q = s[i];
    if (q->proto != 6 || (q->tcp_flags & (CS_MB_SYN | CS_MB_ACK)) != (CS_MB_SYN | CS_MB_ACK))
      continue;
    if (same_flow(q, p)) {
      *other = false;
      return q;
    }
    if (!alt && ip_eq(&q->remote, &p->remote)) alt = q;
  }
  *other = alt != NULL;
  return alt;
}

/* RST or FIN packets of one TCP flow. */
static void judge_tcp(entry *e, const cs_mb_pkt *const *s, size_t n) {
  if (!e->ng || !e->g[0]) return;
  const cs_mb_pkt *p0 = e->g[0];
  bool other = false;
  const cs_mb_pkt *sa = synack_for(s, n, p0, &other);
  const char *where = other ? " (another flow to this address)" : "";
  int verdict = 0; /* all genuine-looking so far */
  e->first = NULL;
  for (size_t i = 0; i < e->ng; i++) {
    const cs_mb_pkt *p = e->g[i];
    int v;
    if (!sa) {
      v = -1;
      if (i == 0) reason(e, "no syn-ack captured to compare with");
    } else if (p->ttl != sa->ttl) {
      v = 1;
      if (e->ninjected == 0) {
        reason(e, "ttl %u vs syn-ack %u%s", p->ttl, sa->ttl, where);
        if (p->has_ip_id && sa->has_ip_id) reason(e, "ip_id %u vs syn-ack %u", p->ip_id, sa->ip_id);
        if (p->df != sa->df)
          reason(e, "df %s vs syn-ack %s", p->df ? "set" : "clear", sa->df ? "set" : "clear");
      }
      e->ninjected++;
    } else if (p->df != sa->df) {
      v = -1;
      reason(e, "ttl matches the syn-ack but df differs");
    } else {
      v = 0;
    }
    if (v == 1 && (verdict != 1)) e->first = p;
    if (v == 1) verdict = 1;
    else if (v < 0 && verdict == 0) verdict = -1;
  }
  if (!e->first) e->first = p0;
  e->injected = verdict;
  if (verdict == 0) reason(e, "ttl and df match the syn-ack");
  /* the RST/FIN pattern and the signature-mode check over the injected packets */
  uint16_t ipid[MAX_GROUP], win[MAX_GROUP];
  size_t k = 0;
  bool v4 = true;
  for (size_t i = 0; i < e->ng; i++) {
    const cs_mb_pkt *p = e->g[i];
    if (e->injected == 1 && sa && p->ttl == sa->ttl) continue;
    if (!p->has_ip_id) v4 = false;
    ipid[k] = p->ip_id, win[k] = p->window;
    if (k && win[k] != win[0]) e->windows_vary = true;
    k++;
  }
  if (e->injected == 1 && !strcmp(e->kind, "rst") && v4 && k >= 2) {
    if (!e->windows_vary) {
      reason(e, "%zu RSTs, same window: no seed", k);
      return;
    }
    uint16_t cand[4];
    const cs_mb_pkt *f = e->first;
    uint32_t sip = (uint32_t)f->src.b[0] << 24 | (uint32_t)f->src.b[1] << 16 |
                   (uint32_t)f->src.b[2] << 8 | f->src.b[3];
    size_t nc = cs_mb_solve_seed(sip, ipid, win, k, cand, 4);
    if (nc == 1) {
      e->seed_unique = true;
      e->seed = cand[0];
      e->seed_ok = k >= 3;
      if (k >= 3) reason(e, "signature-mode model fits all %zu RSTs with seed %u", k, cand[0]);
      else reason(e, "2 RSTs fit seed %u (any 2 fit some seed)", cand[0]);
    } else if (nc == 0) {
      reason(e, "no signature-mode seed fits the %zu RSTs", k);
    } else {
      reason(e, "%zu signature-mode seeds fit the %zu RSTs", nc, k);
    }
  }
}

static bool same_answers(const cs_mb_pkt *a, const cs_mb_pkt *b) {
  bool same = a->nanswer_a == b->nanswer_a && a->nanswer_aaaa == b->nanswer_aaaa &&
              a->dns_rcode == b->dns_rcode;
  for (size_t i = 0; same && i < a->nanswer_a; i++) same = ip_eq(&a->answer_a[i], &b->answer_a[i]);
  for (size_t i = 0; same && i < a->nanswer_aaaa; i++)
    same = ip_eq(&a->answer_aaaa[i], &b->answer_aaaa[i]);
  return same;
}

/* DNS replies of one flow with one id: the first of two or more that differ was injected.
 * base: the last reply from this resolver on any flow (for a lone reply). */
static void judge_dns(entry *e, const cs_mb_pkt *base) {
  if (!e->ng || !e->g[0]) return;
  const cs_mb_pkt *a = e->g[0];
  const cs_mb_pkt *b = e->ng >= 2 ? e->g[e->ng - 1] : base;
  e->first = a;
  e->injected = 0;
  if (!b || b == a) return;
  bool same_ans = same_answers(a, b);
  const char *what = e->ng >= 2 ? "the later reply" : "other replies from this resolver";
  if (a->ttl != b->ttl) {
    e->injected = 1;
    reason(e, "ttl %u vs %u of %s", a->ttl, b->ttl, what);
  }
  if (a->df != b->df) {
    if (e->injected == 0) e->injected = -1;
    reason(e, "df %s vs %s of %s", a->df ? "set" : "clear", b->df ? "set" : "clear", what);
  }
  if (e->ng >= 2 && !same_ans) {
    if (e->injected == 0) e->injected = -1;
    reason(e, "%zu replies to one query, answers differ", e->ng);
  }
  if (e->injected == 1) e->ninjected = 1;
}

/* Whether q is a reply to the TTL-copy probe of the query whose reply is p: the same resolver,
 * name and type. */
static bool probe_of(const cs_mb_pkt *q, const cs_mb_pkt *p) {
  return q->sent_ttl && q->is_dns && q->flow_proto == 17 && q->rport == p->rport &&
         ip_eq(&q->remote, &p->remote) && p->qname && q->qname && q->qtype == p->qtype &&
         !strcasecmp(q->qname, p->qname);
}

/* The TTL-copy probe (docs/forensics.md): the query of e's flow was sent again with different
 * IP TTLs, one flow each. A genuine resolver's reply has the same TTL whatever the query's;
 * a reply whose TTL moves with the sent TTL was made by a box copying the query's TTL. The
 * reply compared is, in each probe flow, the first with the same rcode and answers as the
 * entry's reply, else the probe's first reply. */
static void judge_ttl_copy(entry *e, const cs_mb_pkt *const *s, size_t n) {
  e->ttl_copied = -1;
  const cs_mb_pkt *p = e->first;
  for (size_t i = 0; i < n; i++) {
    const cs_mb_pkt *q = s[i];
    if (!probe_of(q, p)) continue;
    size_t k = 0;
    while (k < e->npf && e->pf[k].key != q->flow_key) k++;
    if (k == e->npf) {
      if (e->npf == MAX_PROBES) continue;
      e->pf[e->npf++] = (probe_flow){.key = q->flow_key, .sent = q->sent_ttl};
    }
    if (e->pf[k].nrep < MAX_PROBE_REPLY) e->pf[k].rep[e->pf[k].nrep++] = q;
  }
  if (!e->npf) return;
  const cs_mb_pkt *f[MAX_PROBES];
  uint8_t sent[MAX_PROBES];
  size_t k = 0;
  bool by_answer = true, sent_differ = false;
  for (size_t i = 0; i < e->npf; i++) {
    const probe_flow *pf = &e->pf[i];
    if (!pf->nrep) continue;
    const cs_mb_pkt *pick = NULL;
    for (size_t j = 0; j < pf->nrep && !pick; j++)
      if (same_answers(pf->rep[j], p)) pick = pf->rep[j];
    if (!pick) by_answer = false, pick = pf->rep[0];
    if (!pick) continue;
    sent[k] = pf->sent;
    if (sent[k] != sent[0]) sent_differ = true;
    f[k++] = pick;
  }
  if (k < 2 || !sent_differ) {
    reason(e, "ttl-copy probe: %zu of %zu queries answered", k, e->npf);
    return;
  }
  bool fixed = true, follows = true;
  for (size_t i = 1; i < k; i++) {
    if (f[i]->ttl != f[0]->ttl) fixed = false;
    if ((int)f[i]->ttl - (int)sent[i] != (int)f[0]->ttl - (int)sent[0]) follows = false;
  }
  char ev[48] = "";
  for (size_t i = 0; i < k && i < 4; i++) {
    size_t l = strlen(ev);
    snprintf(ev + l, sizeof ev - l, "%s%u>%u", i ? " " : "", sent[i], f[i]->ttl);
  }
  const char *which = by_answer ? "the reply with these answers" : "the first reply";
  if ((follows || fixed) && !by_answer && k < 3) {
    /* no probe reply has the entry's answers and not every probe (3 are sent) was answered:
     * the first replies may come from different senders (racing injectors, the resolver),
     * and two points agree with either rule by chance */
    reason(e, "ttl-copy probe: %zu queries answered, none with these answers (%s): undecided", k,
           ev);
    return;
  }
  if (follows) {
    e->ttl_copied = 1;
    reason(e, "ttl of %s follows the sent ttl (%s): ttl copied", which, ev);
    if (by_answer && e->injected < 0) {
      e->injected = 1;
      e->ninjected = 1;
      reason(e, "a reply that copies the query's ttl is forged on the path");
    }
  } else if (fixed) {
    e->ttl_copied = 0;
    reason(e, "ttl of %s is %u whatever the sent ttl (%s)", which, f[0]->ttl, ev);
  } else {
    reason(e, "ttl of %s varies but not with the sent ttl (%s)", which, ev);
  }
}

static int cmp_t(const void *x, const void *y) {
  const cs_mb_pkt *a = *(const cs_mb_pkt *const *)x, *b = *(const cs_mb_pkt *const *)y;
  return (a->t > b->t) - (a->t < b->t);
}

/* Groups the packets into entries and judges them; writes x_middlebox when w is set, else
 * finds the TTL-copy probe's target (cs_mb_dns_probe_target). */
static int run(cs_jw *w, const cs_mb_pkt *pk, size_t n, const cs_mb_db *db,
               const cs_mb_pkt **target, mb_copiers *cp) {
  bool judge = w || (cp && cp->pass == 1); /* the TTL-copy probe's verdicts */
  const cs_mb_pkt **s = n ? malloc(n * sizeof *s) : NULL;
  bool *done = n ? calloc(n, 1) : NULL;
  entry *e = malloc(sizeof *e);
  if (n && (!s || !done || !e)) {
    free(s), free(done), free(e);
    if (w) cs_jw_knull(w, "x_middlebox");
    return 0;
  }
  for (size_t i = 0; i < n; i++) s[i] = &pk[i];
  if (n > 1) qsort(s, n, sizeof *s, cmp_t);
  int injected = 0;
  bool open = false;
  for (size_t i = 0; e && i < n; i++) {
    const cs_mb_pkt *p = s[i];
    if (done[i]) continue;
    memset(e, 0, sizeof *e);
    if (p->proto == 6 && (p->tcp_flags & (CS_MB_RST | CS_MB_FIN))) {
      uint16_t bit = (p->tcp_flags & CS_MB_RST) ? CS_MB_RST : CS_MB_FIN;
      e->kind = bit == CS_MB_RST ? "rst" : "fin";
      for (size_t j = i; j < n; j++) {
        const cs_mb_pkt *q = s[j];
        if (done[j] || q->proto != 6 || !same_flow(p, q)) continue;
        bool is_rst = (q->tcp_flags & CS_MB_RST) != 0;
        if (bit == CS_MB_RST ? !is_rst : (is_rst || !(q->tcp_flags & CS_MB_FIN))) continue;
        done[j] = true;
        if (e->ng < MAX_GROUP) e->g[e->ng++] = q;
      }
      judge_tcp(e, s, n);
    } else if (p->proto == 17 && p->is_dns && !p->sent_ttl) {
      e->kind = "dns";
      for (size_t j = i; j < n; j++) {
        const cs_mb_pkt *q = s[j];
        if (done[j] || !q->is_dns || !same_flow(p, q) || q->dns_id != p->dns_id) continue;
        done[j] = true;
        if (e->ng < MAX_GROUP) e->g[e->ng++] = q;
      }
      const cs_mb_pkt *base = NULL; /* the TTL-copy probe's replies are no baseline */
      for (size_t j = 0; j < n; j++)
        if (s[j]->is_dns && !s[j]->sent_ttl && s[j] != p && ip_eq(&s[j]->src, &p->src)) base = s[j];
      judge_dns(e, base);
      if (target && e->injected != 0 && p->qname &&
          (!*target || ((*target)->qtype != 1 && p->qtype == 1)))
        *target = p;
      if (judge && e->injected != 0) judge_ttl_copy(e, s, n);
      if (cp && cp->pass == 1 && e->ttl_copied == 1 && cp->n < MAX_COPIERS &&
          !copier_of(cp, &p->src))
        cp->a[cp->n++] = p->src;
      if (cp && cp->pass == 2 && e->injected != 0 && e->ttl_copied != 1 && copier_of(cp, &p->src)) {
        char src[CS_IPSTR_MAX];
        cs_ip_format(&p->src, src);
        e->copier = true;
        reason(e, "a ttl-copying injector answers for %s (see the probed entry): no hop estimate",
               src);
      }
    } else if (p->proto == 1 || p->proto == 58) {
      done[i] = true;
      e->kind = "icmp";
      e->g[e->ng++] = p;
      e->first = p;
      e->injected = -1;
      char src[CS_IPSTR_MAX];
      cs_ip_format(&p->src, src);
      reason(e, "icmp%s type %u code %u from %s", p->proto == 58 ? "v6" : "", p->icmp_type,
             p->icmp_code, src);
    } else {
      done[i] = true; /* the TTL-copy probe's replies: evidence of the entry they probe */
      continue;
    }
    if (e->injected == 0 || !w) continue; /* genuine: no entry */
    if (!open) {
      cs_jw_key(w, "x_middlebox");
      cs_jw_arr_open(w);
      open = true;
    }
    if (e->injected == 1) injected++;
    write_entry(w, e, db);
  }
  if (open) cs_jw_arr_close(w);
  else if (w) cs_jw_knull(w, "x_middlebox");
  free(s), free(done), free(e);
  return injected;
}

int cs_mb_write_analysis(cs_jw *w, const cs_mb_pkt *pk, size_t n, const cs_mb_db *db) {
  mb_copiers cp = {.pass = 1};
  bool probed = false; /* copiers come only from the TTL-copy probe's replies */
  for (size_t i = 0; i < n && !probed; i++) probed = pk[i].sent_ttl != 0;
  if (probed) run(NULL, pk, n, db, NULL, &cp);
  cp.pass = 2;
  return run(w, pk, n, db, NULL, &cp);
}

bool cs_mb_dns_probe_target(const cs_mb_pkt *pk, size_t n, const cs_mb_pkt **target) {
  *target = NULL;
  run(NULL, pk, n, NULL, target, NULL);
  return *target != NULL;
}

/* ---- x_packets ---------------------------------------------------------------------------- */

void cs_mb_write_packets(cs_jw *w, const cs_mb_pkt *pk, size_t n) {
  cs_jw_arr_open(w);
  for (size_t i = 0; i < n; i++) {
    const cs_mb_pkt *p = &pk[i];
    char flow[CS_IPSTR_MAX + 16], src[CS_IPSTR_MAX];
    flow_str(p, flow, sizeof flow);
    cs_ip_format(&p->src, src);
    cs_jw_obj_open(w);
    cs_jw_kdouble(w, "t", p->t);
    cs_jw_kstr(w, "flow", flow);
    if (p->conn_id) cs_jw_kint(w, "conn_id", p->conn_id);
    else cs_jw_knull(w, "conn_id");
    cs_jw_kstr(w, "proto", p->proto == 6 ? "tcp" : p->proto == 17 ? "udp" : "icmp");
    cs_jw_kstr(w, "src", src);
    cs_jw_kint(w, "ttl", p->ttl);
    if (p->has_ip_id) cs_jw_kint(w, "ip_id", p->ip_id);
    else cs_jw_knull(w, "ip_id");
    cs_jw_kbool(w, "df", p->df);
    cs_jw_kint(w, "len", p->len);
    if (p->proto == 6) {
      char fl[16];
      cs_mb_flags_str(p->tcp_flags, fl);
      cs_jw_kstr(w, "flags", fl);
      cs_jw_kint(w, "window", p->window);
      const cs_mb_pkt *sa = NULL;
      for (size_t j = 0; j < n && !sa; j++)
        if (pk[j].proto == 6 &&
            (pk[j].tcp_flags & (CS_MB_SYN | CS_MB_ACK)) == (CS_MB_SYN | CS_MB_ACK) &&
            same_flow(&pk[j], p))
          sa = &pk[j];
      if (sa) {
        cs_jw_kint(w, "seq_rel", (int64_t)(uint32_t)(p->seq - sa->seq));
        cs_jw_kint(w, "ack_rel",
                   (p->tcp_flags & CS_MB_ACK) ? (int64_t)(uint32_t)(p->ack - sa->ack) : 0);
      } else {
        cs_jw_knull(w, "seq_rel");
        cs_jw_knull(w, "ack_rel");
      }
      cs_jw_key(w, "options");
      cs_jw_arr_open(w);
      for (size_t j = 0; j < p->nopts; j++) cs_jw_int(w, p->opts[j]);
      cs_jw_arr_close(w);
      cs_jw_kint(w, "payload_len", p->payload_len);
    } else if (p->proto == 17) {
      if (p->sent_ttl) cs_jw_kint(w, "sent_ttl", p->sent_ttl); /* the TTL-copy probe's */
      if (p->is_dns) {
        char fl[8];
        snprintf(fl, sizeof fl, "0x%04x", p->dns_flags);
        cs_jw_kint(w, "dns_id", p->dns_id);
        cs_jw_kstr(w, "dns_flags", fl);
        cs_jw_kint(w, "dns_rcode", p->dns_rcode);
        cs_jw_kint(w, "answers", p->dns_answers);
        cs_jw_kbool(w, "compression", p->compression);
        cs_jw_key(w, "answer_a");
        cs_jw_arr_open(w);
        for (size_t j = 0; j < p->nanswer_a; j++) {
          char a[CS_IPSTR_MAX];
          cs_ip_format(&p->answer_a[j], a);
          cs_jw_str(w, a);
        }
        cs_jw_arr_close(w);
        cs_jw_key(w, "answer_aaaa");
        cs_jw_arr_open(w);
        for (size_t j = 0; j < p->nanswer_aaaa; j++) {
          char a[CS_IPSTR_MAX];
          cs_ip_format(&p->answer_aaaa[j], a);
          cs_jw_str(w, a);
        }
        cs_jw_arr_close(w);
      }
    } else {
      cs_jw_kint(w, "icmp_type", p->icmp_type);
      cs_jw_kint(w, "icmp_code", p->icmp_code);
      cs_jw_key(w, "quoted");
      if (p->has_quote) {
        char d[CS_IPSTR_MAX];
        cs_ip_format(&p->q_dst, d);
        cs_jw_obj_open(w);
        cs_jw_kstr(w, "proto", p->q_proto == 6 ? "tcp" : p->q_proto == 17 ? "udp" : "other");
        cs_jw_kstr(w, "dst", d);
        cs_jw_kint(w, "dport", p->q_dport);
        cs_jw_obj_close(w);
      } else {
        cs_jw_null(w);
      }
    }
    cs_jw_obj_close(w);
  }
  cs_jw_arr_close(w);
}
