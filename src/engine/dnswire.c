/* dnswire.c - DNS message codec (see dnswire.h): query building, reply parsing with
 * bounds-checked reads (cs_rbuf), TCP length framing, synthetic replies. No I/O here. */
#include "engine/dnswire.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Header flag bits (RFC 1035 4.1.1). */
#define F_QR 0x8000u
#define F_AA 0x0400u
#define F_TC 0x0200u
#define F_RD 0x0100u
#define F_RA 0x0080u
#define HDR_LEN 12

const char *cs_dnswire_strerror(cs_dnswire_err e) {
  static const char *const s[] = {
#define CS_DNSWIRE_ERR_STR(code, str) str,
      CS_DNSWIRE_ERR_MAP(CS_DNSWIRE_ERR_STR)
#undef CS_DNSWIRE_ERR_STR
  };
  return (unsigned)e < CS_DNSWIRE__ERR_COUNT ? s[e] : "unknown";
}

/* ---- names (RFC 1035 2.3.4, 3.1, 4.1.4) ------------------------------------------------ */

cs_dnswire_err cs_dnswire_name_from_str(const char *s, cs_dnswire_name *out) {
  if (!s || !out) return CS_DNSWIRE_BAD_ARG;
  size_t n = strlen(s);
  if (n > 0 && s[n - 1] == '.') n--; /* one trailing dot: fully qualified */
  size_t len = 0;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && s[j] != '.') j++;
    size_t l = j - i;
    if (l == 0 || l > CS_DNSWIRE_MAX_LABEL) return CS_DNSWIRE_BAD_NAME;
    if (len + 1 + l + 1 > CS_DNSWIRE_MAX_NAME) return CS_DNSWIRE_BAD_NAME; /* + root */
    out->b[len++] = (uint8_t)l;
    memcpy(out->b + len, s + i, l);
    len += l;
    i = j + 1;
    if (j < n && i == n) return CS_DNSWIRE_BAD_NAME; /* "a..": an empty last label */
  }
  out->b[len++] = 0;
  out->len = (uint8_t)len;
  return CS_DNSWIRE_OK;
}

char *cs_dnswire_name_to_str(const cs_dnswire_name *nm, char *out, size_t cap) {
  if (!out || cap == 0) return out;
  size_t o = 0, i = 0;
  out[0] = 0;
  /* Appends up to 4 chars; on lack of room the output is cut at a whole character. */
#define PUT(str)                                                                                   \
  do {                                                                                             \
    size_t k_ = strlen(str);                                                                       \
    if (o + k_ >= cap) goto done;                                                                  \
    memcpy(out + o, str, k_);                                                                      \
    o += k_;                                                                                       \
  } while (0)
  while (i < nm->len && nm->b[i] != 0) {
    size_t l = nm->b[i++];
    if (l > CS_DNSWIRE_MAX_LABEL || i + l > nm->len) break;
    if (o > 0) PUT(".");
    for (size_t k = 0; k < l; k++) {
      uint8_t c = nm->b[i + k];
      char tmp[8];
      if (c == '.' || c == '\\') snprintf(tmp, sizeof tmp, "\\%c", c);
      else if (c < 0x21 || c > 0x7e) snprintf(tmp, sizeof tmp, "\\%03u", c);
      else tmp[0] = (char)c, tmp[1] = 0;
      PUT(tmp);
    }
    i += l;
  }
  if (o == 0) PUT(".");
#undef PUT
done:
  out[o] = 0;
  return out;
}

static uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

bool cs_dnswire_name_eq(const cs_dnswire_name *a, const cs_dnswire_name *b) {
  if (a->len != b->len) return false;
  /* Label length bytes are <= 63, so lowering them is harmless; comparing the wire forms
   * byte by byte compares labels pairwise (RFC 4343 2). */
  for (size_t i = 0; i < a->len; i++)
    if (lower(a->b[i]) != lower(b->b[i])) return false;
  return true;
}

/* Reads a possibly compressed name at r's cursor into out and leaves r after the name's
 * in-place bytes (after the first pointer, if any). RFC 1035 4.1.4: every pointer must point
 * before the start of the label run that contains it, so pointers strictly move backwards
 * and cannot loop; CS_DNSWIRE_MAX_JUMPS bounds the work anyway. */
static cs_dnswire_err read_name(cs_rbuf *r, cs_dnswire_name *out) {
  cs_rbuf c = *r;
  size_t len = 0, resume = 0, seg_start = c.off;
  unsigned jumps = 0;
  bool jumped = false;
  for (;;) {
    uint8_t l = cs_rbuf_u8(&c);
    if (c.err) return CS_DNSWIRE_SHORT;
    if ((l & 0xC0) == 0xC0) {
      uint8_t lo = cs_rbuf_u8(&c);
      if (c.err) return CS_DNSWIRE_SHORT;
      size_t ptr = ((size_t)(l & 0x3F) << 8) | lo;
      if (ptr >= seg_start) return CS_DNSWIRE_BAD_POINTER;
      if (++jumps > CS_DNSWIRE_MAX_JUMPS) return CS_DNSWIRE_POINTER_LOOP;
      if (!jumped) resume = c.off, jumped = true;
      if (!cs_rbuf_seek(&c, ptr)) return CS_DNSWIRE_BAD_POINTER;
      seg_start = ptr;
      continue;
    }
    if (l & 0xC0) return CS_DNSWIRE_BAD_LABEL_TYPE; /* 0x40 / 0x80: RFC 6891 5, obsolete */
    if (len + 1 + l > CS_DNSWIRE_MAX_NAME) return CS_DNSWIRE_NAME_TOO_LONG;
    out->b[len++] = l;
    if (l == 0) break;
    const uint8_t *p = cs_rbuf_bytes(&c, l);
    if (!p) return CS_DNSWIRE_SHORT;
    memcpy(out->b + len, p, l);
    len += l;
  }
  out->len = (uint8_t)len;
  if (!cs_rbuf_seek(r, jumped ? resume : c.off)) return CS_DNSWIRE_SHORT;
  return CS_DNSWIRE_OK;
}

/* ---- queries --------------------------------------------------------------------------- */

uint16_t cs_dnswire_random_id(void) {
  uint16_t v;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v) return v;
  /* Entropy pool not ready (early boot): a clock-derived ID is still unpredictable enough
   * for a measurement, and better than failing the step. */
  static unsigned ctr;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint32_t x = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u ^ (++ctr * 40503u);
  x ^= x >> 16;
  return (uint16_t)x;
}

cs_dnswire_err cs_dnswire_query_init(cs_dnswire_query *q, const char *name, uint16_t qtype,
                                     uint16_t id) {
  if (!q) return CS_DNSWIRE_BAD_ARG;
  memset(q, 0, sizeof *q);
  q->id = id, q->qtype = qtype, q->qclass = CS_DNS_CLASS_IN;
  return cs_dnswire_name_from_str(name, &q->qname);
}

static int put_u32(cs_buf *b, uint32_t v) {
  uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  return cs_buf_append(b, x, 4);
}

static int put_header(cs_buf *out, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
                      uint16_t ns, uint16_t ar) {
  int rc = 0;
  rc |= cs_buf_u16be(out, id);
  rc |= cs_buf_u16be(out, flags);
  rc |= cs_buf_u16be(out, qd);
  rc |= cs_buf_u16be(out, an);
  rc |= cs_buf_u16be(out, ns);
  rc |= cs_buf_u16be(out, ar);
  return rc;
}

cs_dnswire_err cs_dnswire_query_encode(const cs_dnswire_query *q, bool edns0, cs_buf *out) {
  if (!q || !out || q->qname.len == 0) return CS_DNSWIRE_BAD_ARG;
  int rc = put_header(out, q->id, F_RD, 1, 0, 0, edns0 ? 1 : 0); /* RFC 1035 4.1.1 */
  rc |= cs_buf_append(out, q->qname.b, q->qname.len);            /* RFC 1035 4.1.2 */
  rc |= cs_buf_u16be(out, q->qtype);
  rc |= cs_buf_u16be(out, q->qclass);
  if (edns0) { /* RFC 6891 6.1.2: root owner, TYPE OPT, CLASS = UDP payload size, TTL 0 */
    rc |= cs_buf_u8(out, 0);
    rc |= cs_buf_u16be(out, CS_DNS_TYPE_OPT);
    rc |= cs_buf_u16be(out, CS_DNSWIRE_EDNS_UDP_SIZE);
    rc |= put_u32(out, 0);
    rc |= cs_buf_u16be(out, 0);
  }
  return rc ? CS_DNSWIRE_NOMEM : CS_DNSWIRE_OK;
}

typedef struct {
  uint16_t id, flags, qd, an, ns, ar;
} hdr;

static cs_dnswire_err read_header(cs_rbuf *r, hdr *h) {
  h->id = cs_rbuf_u16be(r);
  h->flags = cs_rbuf_u16be(r);
  h->qd = cs_rbuf_u16be(r);
  h->an = cs_rbuf_u16be(r);
  h->ns = cs_rbuf_u16be(r);
  h->ar = cs_rbuf_u16be(r);
  if (r->err) return CS_DNSWIRE_SHORT;
  if (((h->flags >> 11) & 0xF) != 0) return CS_DNSWIRE_OPCODE; /* only QUERY (0) */
  return CS_DNSWIRE_OK;
}

cs_dnswire_err cs_dnswire_query_parse(const uint8_t *p, size_t n, cs_dnswire_query *q) {
  if (!p || !q) return CS_DNSWIRE_BAD_ARG;
  memset(q, 0, sizeof *q);
  cs_rbuf r = cs_rbuf_make(p, n);
  hdr h;
  cs_dnswire_err e = read_header(&r, &h);
  if (e) return e;
  if (h.flags & F_QR) return CS_DNSWIRE_IS_RESPONSE;
  if (h.qd != 1) return CS_DNSWIRE_QDCOUNT;
  q->id = h.id;
  if ((e = read_name(&r, &q->qname))) return e;
  q->qtype = cs_rbuf_u16be(&r);
  q->qclass = cs_rbuf_u16be(&r);
  return r.err ? CS_DNSWIRE_SHORT : CS_DNSWIRE_OK;
}

/* ---- replies (RFC 1035 4.1) ------------------------------------------------------------ */

/* Reads one RR (RFC 1035 4.1.3). section: 1 answer, 2 authority, 3 additional. */
static cs_dnswire_err read_rr(cs_rbuf *r, int section, cs_dnswire_reply *out) {
  cs_dnswire_name owner;
  cs_dnswire_err e = read_name(r, &owner);
  if (e) return e;
  uint16_t type = cs_rbuf_u16be(r);
  uint16_t klass = cs_rbuf_u16be(r);
  uint32_t ttl = cs_rbuf_u32be(r);
  uint16_t rdlen = cs_rbuf_u16be(r);
  size_t rdstart = r->off;
  const uint8_t *rd = cs_rbuf_bytes(r, rdlen);
  if (!rd) return CS_DNSWIRE_SHORT;

  if (section == 3 && type == CS_DNS_TYPE_OPT) {     /* RFC 6891 6.1.2-6.1.3 */
    if (owner.len != 1) return CS_DNSWIRE_BAD_RDATA; /* owner must be the root */
    if (!out->has_edns) {
      out->has_edns = true;
      out->edns_udp_size = klass;
      out->rcode |= (int)((ttl >> 24) & 0xFF) << 4; /* extended RCODE: upper 8 bits */
    }
    return CS_DNSWIRE_OK;
  }
  if (section != 1 || klass != CS_DNS_CLASS_IN) return CS_DNSWIRE_OK;
  if (type != CS_DNS_TYPE_A && type != CS_DNS_TYPE_AAAA && type != CS_DNS_TYPE_CNAME)
    return CS_DNSWIRE_OK;

  cs_dnswire_rr rr;
  memset(&rr, 0, sizeof rr);
  rr.type = type, rr.ttl = ttl, rr.owner = owner;
  if (type == CS_DNS_TYPE_A) { /* RFC 1035 3.4.1 */
    if (rdlen != 4) return CS_DNSWIRE_BAD_RDATA;
    rr.ip.family = AF_INET;
    memcpy(rr.ip.b, rd, 4);
  } else if (type == CS_DNS_TYPE_AAAA) { /* RFC 3596 2.2 */
    if (rdlen != 16) return CS_DNSWIRE_BAD_RDATA;
    rr.ip.family = AF_INET6;
    memcpy(rr.ip.b, rd, 16);
  } else { /* CNAME, RFC 1035 3.3.1: the name may be compressed and must fill RDATA */
    cs_rbuf c = *r;
    if (!cs_rbuf_seek(&c, rdstart)) return CS_DNSWIRE_SHORT;
    if ((e = read_name(&c, &rr.target))) return e;
    if (c.off != rdstart + rdlen) return CS_DNSWIRE_BAD_RDATA;
  }
  if (out->nan < CS_DNSWIRE_MAX_ANSWERS) out->an[out->nan++] = rr;
  else out->nan_dropped++;
  return CS_DNSWIRE_OK;
}

cs_dnswire_err cs_dnswire_parse(const uint8_t *p, size_t n, cs_dnswire_reply *out) {
  if (!p || !out) return CS_DNSWIRE_BAD_ARG;
  /* Reset only the header fields and counters: an[] is written as answers are kept. */
  out->id = out->flags = 0;
  out->rcode = 0;
  out->tc = out->aa = out->ra = false;
  out->qdcount = out->ancount = out->nscount = out->arcount = 0;
  out->qtype = out->qclass = 0;
  out->qname.len = 0;
  out->has_edns = false;
  out->edns_udp_size = 0;
  out->nan = out->nan_dropped = 0;

  if (n > CS_DNSWIRE_MAX_MSG) return CS_DNSWIRE_BAD_ARG;
  cs_rbuf r = cs_rbuf_make(p, n);
  hdr h;
  cs_dnswire_err e = read_header(&r, &h);
  if (e) return e;
  out->id = h.id, out->flags = h.flags;
  out->rcode = h.flags & 0xF;
  out->tc = (h.flags & F_TC) != 0;
  out->aa = (h.flags & F_AA) != 0;
  out->ra = (h.flags & F_RA) != 0;
  out->qdcount = h.qd, out->ancount = h.an, out->nscount = h.ns, out->arcount = h.ar;
  if (!(h.flags & F_QR)) return CS_DNSWIRE_NOT_RESPONSE;
  if (h.qd > 1) return CS_DNSWIRE_QDCOUNT;
  if ((size_t)h.an + h.ns + h.ar > CS_DNSWIRE_MAX_RRS) return CS_DNSWIRE_TOO_MANY_RRS;
  if (h.qd == 1) { /* RFC 1035 4.1.2 */
    if ((e = read_name(&r, &out->qname))) return e;
    out->qtype = cs_rbuf_u16be(&r);
    out->qclass = cs_rbuf_u16be(&r);
    if (r.err) return CS_DNSWIRE_SHORT;
  }
  /* A TC=1 reply may legitimately end anywhere (RFC 2181 9): keep what parsed completely. */
  const uint16_t counts[3] = {h.an, h.ns, h.ar};
  for (int s = 0; s < 3; s++) {
    for (unsigned i = 0; i < counts[s]; i++) {
      if ((e = read_rr(&r, s + 1, out))) {
        if (out->tc && e == CS_DNSWIRE_SHORT) return CS_DNSWIRE_OK;
        return e;
      }
    }
  }
  return CS_DNSWIRE_OK;
}

cs_dnswire_err cs_dnswire_match(const cs_dnswire_query *q, const cs_dnswire_reply *r) {
  if (!q || !r) return CS_DNSWIRE_BAD_ARG;
  if (r->id != q->id) return CS_DNSWIRE_ID_MISMATCH;
  if (r->qdcount != 1 || r->qtype != q->qtype || r->qclass != q->qclass ||
      !cs_dnswire_name_eq(&r->qname, &q->qname))
    return CS_DNSWIRE_QUESTION_MISMATCH;
  return CS_DNSWIRE_OK;
}

size_t cs_dnswire_addrs(const cs_dnswire_reply *r, uint16_t qtype, cs_ip *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < r->nan && n < cap; i++)
    if (r->an[i].type == qtype && (qtype == CS_DNS_TYPE_A || qtype == CS_DNS_TYPE_AAAA))
      out[n++] = r->an[i].ip;
  return n;
}

/* ---- TCP framing (RFC 1035 4.2.2) ------------------------------------------------------ */

cs_dnswire_err cs_dnswire_tcp_frame(const uint8_t *msg, size_t n, cs_buf *out) {
  if (!msg || !out || n == 0 || n > CS_DNSWIRE_MAX_MSG) return CS_DNSWIRE_BAD_ARG;
  if (cs_buf_u16be(out, (uint16_t)n) < 0 || cs_buf_append(out, msg, n) < 0) return CS_DNSWIRE_NOMEM;
  return CS_DNSWIRE_OK;
}

cs_dnswire_err cs_dnswire_tcp_next(const uint8_t *p, size_t n, const uint8_t **msg, size_t *msglen,
                                   size_t *consumed) {
  if (!p && n) return CS_DNSWIRE_BAD_ARG;
  cs_rbuf r = cs_rbuf_make(p, n);
  uint16_t len = cs_rbuf_u16be(&r);
  if (r.err) return CS_DNSWIRE_INCOMPLETE;
  if (len == 0) return CS_DNSWIRE_SHORT;
  const uint8_t *m = cs_rbuf_bytes(&r, len);
  if (!m) return CS_DNSWIRE_INCOMPLETE;
  if (msg) *msg = m;
  if (msglen) *msglen = len;
  if (consumed) *consumed = (size_t)len + 2;
  return CS_DNSWIRE_OK;
}

/* ---- synthetic replies ----------------------------------------------------------------- */

cs_dnswire_err cs_dnswire_build_reply(const cs_dnswire_synth *s, cs_buf *out) {
  if (!s || !out || s->rcode < 0 || s->rcode > 15 || s->nan > 0xFFFF || (s->nan && !s->an))
    return CS_DNSWIRE_BAD_ARG;
  cs_dnswire_name qn;
  cs_dnswire_err e = cs_dnswire_name_from_str(s->qname ? s->qname : "", &qn);
  if (e) return e;
  uint16_t flags = (uint16_t)(F_QR | F_RD | (unsigned)s->rcode);
  if (s->aa) flags |= F_AA;
  if (s->tc) flags |= F_TC;
  if (!s->no_ra) flags |= F_RA;
  int rc = put_header(out, s->id, flags, s->no_question ? 0 : 1, (uint16_t)s->nan, 0, 0);
  if (!s->no_question) {
    rc |= cs_buf_append(out, qn.b, qn.len);
    rc |= cs_buf_u16be(out, s->qtype);
    rc |= cs_buf_u16be(out, CS_DNS_CLASS_IN);
  }
  for (size_t i = 0; i < s->nan && !rc; i++) {
    const cs_dnswire_synth_rr *a = &s->an[i];
    if (a->owner) {
      cs_dnswire_name on;
      if ((e = cs_dnswire_name_from_str(a->owner, &on))) return e;
      rc |= cs_buf_append(out, on.b, on.len);
    } else if (!s->no_question) { /* RFC 1035 4.1.4: pointer to the question name */
      rc |= cs_buf_u16be(out, 0xC000 | HDR_LEN);
    } else {
      rc |= cs_buf_append(out, qn.b, qn.len);
    }
    rc |= cs_buf_u16be(out, a->type);
    rc |= cs_buf_u16be(out, CS_DNS_CLASS_IN);
    rc |= put_u32(out, a->ttl);
    if (a->type == CS_DNS_TYPE_A || a->type == CS_DNS_TYPE_AAAA) {
      cs_ip ip;
      int fam = a->type == CS_DNS_TYPE_A ? AF_INET : AF_INET6;
      if (!a->data || !cs_ip_parse(a->data, &ip) || ip.family != fam) return CS_DNSWIRE_BAD_ARG;
      size_t l = fam == AF_INET ? 4 : 16;
      rc |= cs_buf_u16be(out, (uint16_t)l);
      rc |= cs_buf_append(out, ip.b, l);
    } else if (a->type == CS_DNS_TYPE_CNAME) {
      cs_dnswire_name tn;
      if ((e = cs_dnswire_name_from_str(a->data ? a->data : "", &tn))) return e;
      rc |= cs_buf_u16be(out, tn.len);
      rc |= cs_buf_append(out, tn.b, tn.len);
    } else {
      if (a->data_len > 0xFFFF || (a->data_len && !a->data)) return CS_DNSWIRE_BAD_ARG;
      rc |= cs_buf_u16be(out, (uint16_t)a->data_len);
      rc |= cs_buf_append(out, a->data, a->data_len);
    }
  }
  return rc ? CS_DNSWIRE_NOMEM : CS_DNSWIRE_OK;
}
