/* wc_analysis.c - the Web Connectivity verdict (see wc_analysis.h).
 *
 * Three OONI algorithms, chosen by test_version, then censorscope's deviations:
 *   lte     docs/ooni-methodology.md a.3 (classic filter), a.4.1-LTE, a.4.2-LTE, a.5.2
 *           (probe-cli webconnectivitylte/analysisclassic.go, minipipeline/ analysis.go, observation.go)
 *   v0.4    a.4.1-v0.4, a.4.2-v0.4, a.5.1 (probe-cli webconnectivity/summary.go)
 *   legacy  measurement-kit era rules for test_version < 0.4 (docs/analysis.md)
 *   ours    docs/analysis.md "Deviations": no control => never a blocking verdict from
 *           inference alone; server-side blocks (CDN challenges, site geo-blocks) are not
 *           censorship; censorship fingerprints confirm and win; opt-in filters are flagged;
 *           TLS validates an address unless the probe then saw it interfere (a censor's proxy
 *           cannot launder a DNS lie); a look-alike page from a hijacked address is dns.
 * Everything is allocated in the caller's arena; nothing here does I/O. */
#include "analysis/wc_analysis.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/ipnet.h"
#include "util/url.h"

/* ---- context ----------------------------------------------------------------------------- */

typedef struct {
  cs_arena *a;
  const cs_wc_obs *o;
  const cs_wc_options *opt;
  cs_wc_verdict *v;
  const char *host; /* URL host, IDNA/lower-cased ("" when unknown) */
  bool host_is_ip;
  const char *host_ip;    /* the host's canonical IP literal when host_is_ip (else NULL) */
  bool https;             /* URL scheme */
  bool ctl_ok;            /* usable control: present and no control_failure */
  bool any_system;        /* some lookup used the system resolver (see probe_resolver()) */
  const char *cc;         /* probe country for fingerprints (NULL = any) */
  bool dns_expected_any;  /* an expected DNS failure at depth 0, any resolver (analysisext) */
  bool th_empty_probe_ok; /* the TH resolved nothing while the probe resolved something */
  int64_t *ctl_asns;      /* ASNs of the TH's addresses (non-zero, known) */
  size_t nctl_asns;
  /* deviation 5: addresses where the probe saw interference the control did not (lazy) */
  const char **misbehaving;
  size_t nmisbehaving;
  bool misbehaving_done;
  /* LTE: the endpoint whose final response was compared with the control (deviation 9) */
  const char *cmp_ip;
  int cmp_depth;
} ctx;

/* ---- small helpers ----------------------------------------------------------------------- */

static bool streq(const char *a, const char *b) { return a && b && !strcmp(a, b); }
static bool nonempty(const char *s) { return s && *s; }

/* IP literals are canonical after the reader (wcobs.c), so equality is strcmp. */
static bool ip_eq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

static bool is_ip_literal(const char *s) {
  cs_ip x;
  return s && cs_ip_parse(s, &x);
}

static bool ip_is_loopback(const char *s) {
  cs_ip x;
  return s && cs_ip_parse(s, &x) && cs_ip_is_loopback(&x);
}

/* System-resolver engines (getaddrinfo-like); NULL = old probes that only had the system
 * resolver. */
static bool engine_is_system(const char *e) {
  return !e || !strcmp(e, "getaddrinfo") || !strcmp(e, "system") ||
         !strcmp(e, "golang_net_resolver") || !strcmp(e, "go");
}
static bool engine_is_doh(const char *e) { return e && !strcmp(e, "doh"); }

/* The resolver the verdict is about: the system resolver; when a measurement has no system
 * lookup at all (our probe run with --resolver udp/DoH), the resolver it did use. */
static bool probe_resolver(const ctx *c, const char *engine) {
  return engine_is_system(engine) || !c->any_system;
}
/* DoH failures are ignored (ooni/probe#2274) unless DoH is the probe's own resolver. */
static bool ignored_doh_failure(const ctx *c, const cs_wc_dns *d) {
  return c->any_system && engine_is_doh(d->engine);
}

/* The domain of a DNS query, IDNA-normalised to compare with the URL host. */
static bool same_domain(ctx *c, const char *qhost) {
  if (!qhost || !*c->host) return false;
  if (!strcasecmp(qhost, c->host)) return true;
  size_t l = strlen(qhost);
  if (l > 0 && qhost[l - 1] == '.' && l - 1 == strlen(c->host) &&
      !strncasecmp(qhost, c->host, l - 1))
    return true;
  /* unicode vs punycode */
  char err[64];
  cs_url u;
  char *s = cs_arena_printf(c->a, "http://%s/", qhost);
  if (!s || cs_url_parse(c->a, s, &u, err, sizeof err) != 0) return false;
  return !strcasecmp(u.host, c->host);
}

static int64_t ipinfo_asn(const cs_wc_control *ct, const char *ip, int64_t *flags) {
  if (flags) *flags = 0;
  for (size_t i = 0; i < ct->nipinfo; i++)
    if (ip_eq(ct->ipinfo[i].ip, ip)) {
      if (flags) *flags = ct->ipinfo[i].flags;
      return ct->ipinfo[i].asn;
    }
  return 0;
}

/* ASN of an address: an asn annotation in the probe's answers, else the control's ip_info
 * (we have no geoip database: docs/analysis.md). 0 = unknown. */
static int64_t asn_of(const cs_wc_obs *o, const char *ip) {
  for (size_t i = 0; i < o->ndns; i++)
    for (size_t j = 0; j < o->dns[i].nanswers; j++)
      if (o->dns[i].answers[j].asn > 0 && ip_eq(o->dns[i].answers[j].ip, ip))
        return o->dns[i].answers[j].asn;
  return ipinfo_asn(&o->ctl, ip, NULL);
}

/* Extension (docs/analysis.md): an address is valid for the domain when a TLS handshake to
 * it with SNI = the URL host succeeded (probe tls_handshakes, or the TH's ip_info flag 8). */
static bool tls_valid_for_domain(ctx *c, const char *ip) {
  const cs_wc_obs *o = c->o;
  for (size_t i = 0; i < o->ntls; i++) {
    const cs_wc_tls *t = &o->tls[i];
    if (t->failure || !t->ip || !*c->host) continue;
    if (!t->server_name || strcasecmp(t->server_name, c->host)) continue;
    if (ip_eq(t->ip, ip)) return true;
  }
  int64_t flags;
  ipinfo_asn(&o->ctl, ip, &flags);
  return (flags & 8) != 0;
}

static bool ctl_has_ip(const cs_wc_control *ct, const char *ip) {
  for (size_t i = 0; i < ct->ndns_addrs; i++)
    if (ip_eq(ct->dns_addrs[i], ip)) return true;
  return false;
}

static size_t ctl_ip_count(const cs_wc_control *ct) {
  size_t n = 0;
  for (size_t i = 0; i < ct->ndns_addrs; i++)
    if (is_ip_literal(ct->dns_addrs[i])) n++;
  return n;
}

/* The TH's ASNs, computed once (asn_of scans the answers). */
static void ctl_asns_init(ctx *c) {
  const cs_wc_control *ct = &c->o->ctl;
  c->ctl_asns = cs_arena_alloc(c->a, (ct->ndns_addrs + 1) * sizeof *c->ctl_asns);
  if (!c->ctl_asns) return;
  for (size_t i = 0; i < ct->ndns_addrs; i++) {
    if (!is_ip_literal(ct->dns_addrs[i])) continue;
    int64_t asn = asn_of(c->o, ct->dns_addrs[i]);
    if (asn > 0) c->ctl_asns[c->nctl_asns++] = asn;
  }
}

static bool ctl_has_asn(const ctx *c, int64_t asn) {
  if (asn <= 0) return false;
  for (size_t i = 0; i < c->nctl_asns; i++)
    if (c->ctl_asns[i] == asn) return true;
  return false;
}

static const cs_wc_ctl_ep *ctl_find(const cs_wc_ctl_ep *e, size_t n, const char *ip, int port) {
  for (size_t i = 0; i < n; i++)
    if (e[i].port == port && ip_eq(e[i].ip, ip)) return &e[i];
  return NULL;
}
static const cs_wc_ctl_ep *ctl_tcp(const cs_wc_control *ct, const char *ip, int port) {
  return ctl_find(ct->tcp, ct->ntcp, ip, port);
}
static const cs_wc_ctl_ep *ctl_tls(const cs_wc_control *ct, const char *ip, int port) {
  return ctl_find(ct->tls, ct->ntls, ip, port);
}

static const char *hdr_get(const cs_wc_header *h, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (h[i].name && !strcasecmp(h[i].name, name)) return h[i].value;
  return NULL;
}

/* ---- a.4.2 HTTP comparisons -------------------------------------------------------------- */

/* probe-cli model/http.go + webconnectivity: headers every server sends (excluded). */
static const char *const common_headers[] = {"date",
                                             "content-type",
                                             "server",
                                             "cache-control",
                                             "vary",
                                             "set-cookie",
                                             "location",
                                             "expires",
                                             "x-powered-by",
                                             "content-encoding",
                                             "last-modified",
                                             "accept-ranges",
                                             "pragma",
                                             "x-frame-options",
                                             "etag",
                                             "x-content-type-options",
                                             "age",
                                             "via",
                                             "p3p",
                                             "x-xss-protection",
                                             "content-language",
                                             "cf-ray",
                                             "strict-transport-security",
                                             "link",
                                             "x-varnish"};

/* censorscope deviation (docs/analysis.md): message-framing and hop-by-hop fields say how
 * bytes travel, not which site sent them, yet any two servers share them; OONI's list
 * misses them, so a blockpage served with "Connection" or "Content-Length" "matches" the
 * real site's headers (the archive.org measurement, the testbed's httpDiff cases). */
static const char *const framing_headers[] = {
    "connection",       "keep-alive", "content-length", "transfer-encoding",
    "proxy-connection", "te",         "trailer",        "upgrade"};

static bool is_framing_header(const char *lname) {
  for (size_t i = 0; i < sizeof framing_headers / sizeof *framing_headers; i++)
    if (!strcmp(lname, framing_headers[i])) return true;
  return false;
}

static bool is_common_header(const char *lname) {
  for (size_t i = 0; i < sizeof common_headers / sizeof *common_headers; i++)
    if (!strcmp(lname, common_headers[i])) return true;
  return false;
}

static char *lower_dup(cs_arena *a, const char *s) {
  char *d = cs_arena_strdup(a, s ? s : "");
  if (d)
    for (char *p = d; *p; p++) *p = (char)tolower((unsigned char)*p);
  return d;
}

/* Lower-cased distinct header keys. */
static size_t header_keys(cs_arena *a, const cs_wc_header *h, size_t n, char ***out) {
  char **k = cs_arena_alloc(a, (n ? n : 1) * sizeof *k);
  size_t m = 0;
  if (!k) {
    *out = NULL;
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    char *l = lower_dup(a, h[i].name);
    if (!l) continue;
    bool dup = false;
    for (size_t j = 0; j < m && !dup; j++) dup = !strcmp(k[j], l);
    if (!dup) k[m++] = l;
  }
  *out = k;
  return m;
}

static bool keyset_has(char **k, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(k[i], s)) return true;
  return false;
}

/* v0.4: identical key sets => true; otherwise (both) uncommon-key intersection non-empty. */
static cs_wc_tri headers_match(cs_arena *a, const cs_wc_header *ph, size_t pn,
                               const cs_wc_header *ch, size_t cn, bool equal_shortcut,
                               bool skip_framing) {
  char **pk, **ck;
  size_t np = header_keys(a, ph, pn, &pk), nc = header_keys(a, ch, cn, &ck);
  if (equal_shortcut && np == nc) {
    bool same = true;
    for (size_t i = 0; i < np && same; i++) same = keyset_has(ck, nc, pk[i]);
    if (same) return CS_WC_YES;
  }
  for (size_t i = 0; i < np; i++)
    if (!is_common_header(pk[i]) && !(skip_framing && is_framing_header(pk[i])) &&
        keyset_has(ck, nc, pk[i]))
      return CS_WC_YES;
  return CS_WC_NO;
}

/* Words of byte length >= 5, lower-cased, split on " ". */
static size_t long_words(cs_arena *a, const char *title, char ***out) {
  size_t cap = 0;
  for (const char *p = title; *p; p++)
    if (*p == ' ') cap++;
  char **w = cs_arena_alloc(a, (cap + 1) * sizeof *w);
  size_t n = 0;
  *out = w;
  if (!w) return 0;
  const char *p = title;
  while (1) {
    const char *e = strchr(p, ' ');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l >= 5) {
      char *s = cs_arena_strndup(a, p, l);
      if (s) {
        for (char *q = s; *q; q++) *q = (char)tolower((unsigned char)*q);
        w[n++] = s;
      }
    }
    if (!e) break;
    p = e + 1;
  }
  return n;
}

/* a.4.2: every long word of either title appears in the other (empty symmetric difference). */
static bool titles_match(cs_arena *a, const char *pt, const char *ct) {
  char **pw, **cw;
  size_t np = long_words(a, pt ? pt : "", &pw), nc = long_words(a, ct ? ct : "", &cw);
  for (size_t i = 0; i < np; i++)
    if (!keyset_has(cw, nc, pw[i])) return false;
  for (size_t i = 0; i < nc; i++)
    if (!keyset_has(pw, np, cw[i])) return false;
  return true;
}

static bool status_is_final(int code) {
  return (code >= 200 && code < 300) || (code >= 400 && code < 600);
}

/* Fills body_proportion .. title_match for response h against the control (lte or v0.4). */
static void http_compare(ctx *c, const cs_wc_http *h, bool lte) {
  cs_wc_verdict *v = c->v;
  const cs_wc_control *ct = &c->o->ctl;
  int64_t cl = ct->http_body_length;
  int64_t pl = (int64_t)h->body_len;
  if (cl > 0 && pl > 0 && !h->body_is_truncated) {
    double lo = (double)(pl < cl ? pl : cl), hi = (double)(pl < cl ? cl : pl);
    v->body_proportion = lo / hi;
    v->body_length_match = v->body_proportion > 0.7 ? CS_WC_YES : CS_WC_NO;
  }
  int pc = h->code, cc = ct->http_status;
  if (pc > 0 && cc > 0) {
    if (pc == cc) v->status_code_match = CS_WC_YES;
    else if (lte) v->status_code_match = cc / 100 != 2 ? CS_WC_UNKNOWN : CS_WC_NO;
    else v->status_code_match = cc / 100 == 5 ? CS_WC_UNKNOWN : CS_WC_NO;
  }
  if (lte) {
    if (cc > 0)
      v->headers_match =
          headers_match(c->a, h->headers, h->nheaders, ct->http_headers, ct->nhttp_headers, false,
                        !c->opt->ooni_strict && !h->body_is_truncated);
    if (!h->body_is_truncated && pc > 0 && cc > 0)
      v->title_match = titles_match(c->a, h->title, ct->http_title) ? CS_WC_YES : CS_WC_NO;
  } else {
    if (pc > 0 && cc > 0)
      v->headers_match = headers_match(c->a, h->headers, h->nheaders, ct->http_headers,
                                       ct->nhttp_headers, true, false);
    if (nonempty(h->title) && !h->body_is_truncated && pc > 0 && cc > 0)
      v->title_match = titles_match(c->a, h->title, ct->http_title) ? CS_WC_YES : CS_WC_NO;
  }
}

/* a.4.2 HTTP-diff verdict: no diff iff status matches and one of body/headers/title match. */
static bool http_diff(const cs_wc_verdict *v) {
  if (v->status_code_match != CS_WC_YES) return true;
  return !(v->body_length_match == CS_WC_YES || v->headers_match == CS_WC_YES ||
           v->title_match == CS_WC_YES);
}

/* Deviation 9 (docs/analysis.md): status and body length match while the title and every
 * uncommon header differ. OONI counts that as the expected page; by evidence strength the
 * length alone does not show the page is the site's (a small blockpage vs a small site). */
static bool lookalike_only(const cs_wc_verdict *v) {
  return v->status_code_match == CS_WC_YES && v->body_length_match == CS_WC_YES &&
         v->headers_match == CS_WC_NO && v->title_match == CS_WC_NO;
}

/* ---- verdict setters (a.5.2) ------------------------------------------------------------- */

static bool dns_inconsistent(const cs_wc_verdict *v) {
  return streq(v->dns_consistency, "inconsistent");
}

static void set_false(cs_wc_verdict *v, const char *why) {
  v->blocking = CS_WC_BLOCKING_FALSE;
  v->accessible = CS_WC_YES;
  v->reason = why;
}
static void set_string(cs_wc_verdict *v, cs_wc_blocking b, const char *why) {
  v->blocking = dns_inconsistent(v) ? CS_WC_BLOCKING_DNS : b;
  v->accessible = CS_WC_NO;
  v->reason = why;
}
static void set_nil(cs_wc_verdict *v, const char *why) {
  if (dns_inconsistent(v)) {
    v->blocking = CS_WC_BLOCKING_DNS;
    v->accessible = CS_WC_NO;
  } else {
    v->blocking = CS_WC_BLOCKING_NULL;
    v->accessible = CS_WC_UNKNOWN;
  }
  v->reason = why;
}
static void set_down(cs_wc_verdict *v, const char *why) {
  v->blocking = dns_inconsistent(v) ? CS_WC_BLOCKING_DNS : CS_WC_BLOCKING_FALSE;
  v->accessible = CS_WC_NO;
  v->reason = why;
}

/* ---- LTE observations -------------------------------------------------------------------- */

typedef struct {
  int depth;  /* depth= tag, 0 when absent (deviation 8) */
  int rdepth; /* depth= tag as recorded, -1 when absent (--ooni-strict) */
  const char *ip;
  int port;
  const cs_wc_tcp *tcp;
  const cs_wc_tls *tls;
  const cs_wc_http *http;
  bool th_only; /* the address came only from the TH (no lookup, not the URL or a redirect) */
  bool classic;
} ep_obs;

static int depth_of(const cs_wc_tags *t) { return t->depth < 0 ? 0 : t->depth; }

/* The depth the walk and the depth-0 rules use: under --ooni-strict the recorded one (an
 * untagged event sorts last and is never a depth-0 event, minipipeline analysis.go), else
 * deviation 8's tolerance (untagged = 0, our own older records). */
static int walk_depth(const ctx *c, const cs_wc_tags *t) {
  return c->opt->ooni_strict ? (t->depth < 0 ? -1 : t->depth) : depth_of(t);
}

/* Whether a lookup (a system-resolver one when system_only) resolved ip. */
static bool resolved_by(const ctx *c, const char *ip, bool system_only) {
  const cs_wc_obs *o = c->o;
  for (size_t i = 0; i < o->ndns; i++) {
    if (o->dns[i].failure || (system_only && !probe_resolver(c, o->dns[i].engine))) continue;
    for (size_t j = 0; j < o->dns[i].nanswers; j++)
      if (ip_eq(o->dns[i].answers[j].ip, ip)) return true;
  }
  return false;
}

static bool tls_addr_is(const cs_wc_tls *t, const char *ip, int port) {
  return t->port == port && ip_eq(t->ip, ip);
}
static bool http_addr_is(const cs_wc_http *h, const char *ip, int port) {
  return h->port == port && ip_eq(h->ip, ip);
}

/* An address that no lookup of the probe found but the TH's DNS answer holds: the probe
 * measured it only because the control supplied it (webconnectivitylte control.go "additional
 * addrs discovered by the TH"). minipipeline marks its origin "th" (observation.go
 * controlMatchDNSLookupResults) and the classic filter drops it (classic.go): the verdict is
 * about what the probe's own resolver and the URL led to, not about the TH's addresses. */
static bool th_only_addr(const ctx *c, const char *ip) {
  if (!ip || !c->ctl_ok) return false;
  /* the URL's own IP literal is never the TH's (oohelperd answers no addresses for it; a
   * helper that echoed it must not take the URL's endpoint out of the verdict) */
  if (c->host_is_ip && ip_eq(ip, c->host_ip)) return false;
  return !resolved_by(c, ip, false) && ctl_has_ip(&c->o->ctl, ip);
}

/* The classic filter's origin rule (minipipeline/classic.go, a.3): an address the system
 * resolver found, or one no lookup found and the TH did not supply either (the URL's literal
 * or a redirect's); never an address only another resolver or only the TH found. */
static bool classic_origin(const ctx *c, const char *ip) {
  if (!ip) return true;
  if (resolved_by(c, ip, true)) return true;
  return !resolved_by(c, ip, false) && !th_only_addr(c, ip);
}

/* Endpoint observations keyed by transaction (minipipeline/observation.go): TCP connect, plus
 * the TLS handshake and HTTP round trip with the same transaction_id (or, when there are no
 * transaction ids, the same address and depth). */
static size_t build_endpoints(ctx *c, ep_obs **out) {
  const cs_wc_obs *o = c->o;
  size_t cap = o->ntcp + o->ntls + o->nhttp + 1, n = 0;
  ep_obs *e = cs_arena_alloc(c->a, cap * sizeof *e);
  bool *tls_used = cs_arena_alloc(c->a, (o->ntls + 1) * sizeof *tls_used);
  bool *http_used = cs_arena_alloc(c->a, (o->nhttp + 1) * sizeof *http_used);
  *out = e;
  if (!e || !tls_used || !http_used) return 0;
  for (size_t i = 0; i < o->ntcp; i++) {
    const cs_wc_tcp *t = &o->tcp[i];
    ep_obs *x = &e[n++];
    x->tcp = t;
    x->ip = t->ip;
    x->port = t->port;
    x->depth = depth_of(&t->tags);
    x->rdepth = walk_depth(c, &t->tags);
    for (size_t j = 0; j < o->ntls; j++) {
      const cs_wc_tls *s = &o->tls[j];
      if (tls_used[j]) continue;
      bool m = t->tags.txid ? s->tags.txid == t->tags.txid
                            : (!s->tags.txid && depth_of(&s->tags) == x->depth &&
                               tls_addr_is(s, t->ip, t->port));
      if (m) {
        x->tls = s;
        tls_used[j] = true;
        break;
      }
    }
    for (size_t j = 0; j < o->nhttp; j++) {
      const cs_wc_http *h = &o->http[j];
      if (http_used[j]) continue;
      bool m = t->tags.txid ? h->tags.txid == t->tags.txid
                            : (!h->tags.txid && depth_of(&h->tags) == x->depth &&
                               http_addr_is(h, t->ip, t->port));
      if (m) {
        x->http = h;
        http_used[j] = true;
        break;
      }
    }
    /* classic filter (minipipeline/classic.go, a.3): the address was resolved by the system
     * resolver, or by no lookup at all (URL or redirect literal); and the flow fetched the
     * body (a missing fetch_body tag counts as true: our own older records) */
    x->th_only = th_only_addr(c, t->ip);
    x->classic = classic_origin(c, t->ip) && t->tags.fetch_body != CS_WC_NO;
  }
  /* Robustness beyond probe-cli (which drops them): a TLS handshake or HTTP round trip that
   * no TCP connect explains (e.g. a record writer that gave the request its own transaction
   * id) becomes an endpoint of its own, joined by address and depth. */
  size_t first_orphan = n;
  for (size_t j = 0; j < o->ntls && n < cap; j++) {
    if (tls_used[j]) continue;
    const cs_wc_tls *s = &o->tls[j];
    ep_obs *x = &e[n++];
    x->tls = s, x->ip = s->ip, x->port = s->port, x->depth = depth_of(&s->tags);
    x->rdepth = walk_depth(c, &s->tags);
    x->th_only = th_only_addr(c, s->ip);
    x->classic = classic_origin(c, s->ip) && s->tags.fetch_body != CS_WC_NO;
  }
  for (size_t j = 0; j < o->nhttp; j++) {
    if (http_used[j]) continue;
    const cs_wc_http *h = &o->http[j];
    ep_obs *x = NULL;
    for (size_t k = first_orphan; k < n && !x; k++)
      if (!e[k].http && e[k].depth == depth_of(&h->tags) && h->ip && e[k].port == h->port &&
          ip_eq(e[k].ip, h->ip))
        x = &e[k];
    if (!x) {
      if (n >= cap) break;
      x = &e[n++];
      x->ip = h->ip, x->port = h->port, x->depth = depth_of(&h->tags);
      x->rdepth = walk_depth(c, &h->tags);
      x->th_only = th_only_addr(c, h->ip);
      x->classic = classic_origin(c, h->ip) && h->tags.fetch_body != CS_WC_NO;
    }
    x->http = h;
  }
  return n;
}

static bool misconfigured_ipv6(const ep_obs *e);

/* Deviation 5's guard (docs/analysis.md): a TLS handshake for the URL host proves that an
 * address reaches the site, not that it is the site's. A censor's pass-through proxy relays
 * the handshake (the TH's succeeds through it) and interferes with the probe's traffic. An
 * address where the probe saw interference the control did not see at the same endpoint
 * (TCP, TLS or HTTP failure; a final page over plain HTTP that differs from the control's,
 * or that matches it by body length alone: lookalike_only)
 * is therefore not validated by TLS: the DNS answer that led there was the first
 * manipulation. Computed once, over every endpoint observation (any depth, classic or not). */
static void misbehaving_init(ctx *c) {
  c->misbehaving_done = true;
  const cs_wc_control *ct = &c->o->ctl;
  if (!c->ctl_ok) return;
  bool ctl_http_ok = ct->http_present && !ct->http_failure;
  ep_obs *eps;
  size_t neps = build_endpoints(c, &eps);
  c->misbehaving = cs_arena_alloc(c->a, (neps + 1) * sizeof *c->misbehaving);
  if (!c->misbehaving) return;
  for (size_t i = 0; i < neps; i++) {
    const ep_obs *e = &eps[i];
    if (!e->ip) continue;
    bool bad = false;
    const cs_wc_ctl_ep *t = e->tcp ? ctl_tcp(ct, e->ip, e->port) : NULL;
    if (t && !t->failure && e->tcp->failure && !misconfigured_ipv6(e)) bad = true;
    const cs_wc_ctl_ep *s = e->tls ? ctl_tls(ct, e->ip, e->port) : NULL;
    if (s && e->tls->server_name && s->server_name && strcmp(s->server_name, e->tls->server_name))
      s = NULL;
    if (s && !s->failure && e->tls->failure) bad = true;
    bool over_tls = e->tls && !e->tls->failure;
    if (e->http && ctl_http_ok) {
      if (e->http->failure && !(e->tls && e->tls->failure)) bad = true;
      if (!e->http->failure && !over_tls && status_is_final(e->http->code)) {
        cs_wc_verdict tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.body_length_match = tmp.status_code_match = tmp.headers_match = tmp.title_match =
            CS_WC_UNKNOWN;
        ctx c2 = *c;
        c2.v = &tmp;
        http_compare(&c2, e->http, true);
        if (http_diff(&tmp) || lookalike_only(&tmp)) bad = true;
      }
    }
    if (bad) c->misbehaving[c->nmisbehaving++] = e->ip;
  }
}

static bool addr_misbehaving(ctx *c, const char *ip) {
  if (!c->misbehaving_done) misbehaving_init(c);
  for (size_t i = 0; i < c->nmisbehaving; i++)
    if (ip_eq(c->misbehaving[i], ip)) return true;
  return false;
}

/* Classic DNS lookups: system resolver only. */
static bool dns_classic(const ctx *c, const cs_wc_dns *d) { return probe_resolver(c, d->engine); }

static bool aaaa_no_answer(const cs_wc_dns *d) {
  return streq(d->query_type, "AAAA") && streq(d->failure, "dns_no_answer");
}

/* a.4.1 LTE: dns_consistency and dns_experiment_failure from depth-0 classic lookups. */
static void lte_dns(ctx *c, bool ext_tls) {
  const cs_wc_obs *o = c->o;
  const cs_wc_control *ct = &o->ctl;
  cs_wc_verdict *v = c->v;
  size_t valid = 0, invalid = 0, unexpected = 0, expected = 0, success = 0;
  bool th_data = c->ctl_ok && ct->dns_present;
  size_t th_ips = th_data ? ctl_ip_count(ct) : 0;
  for (size_t i = 0; i < o->ndns; i++) {
    const cs_wc_dns *d = &o->dns[i];
    if (walk_depth(c, &d->tags) != 0) continue; /* strict: untagged lookups are not judged */
    bool classic = dns_classic(c, d);
    if (d->failure) {
      if (ignored_doh_failure(c, d) || aaaa_no_answer(d)) continue;
      if (classic && !v->dns_experiment_failure) v->dns_experiment_failure = d->failure;
      if (!th_data || !same_domain(c, d->hostname)) continue;
      bool exp = ct->dns_failure || (streq(d->failure, "dns_no_answer") && th_ips == 0);
      if (!exp) v->dns_flags |= 2; /* x_dns_flags: unexpected failure (any resolver) */
      else c->dns_expected_any = true;
      if (!classic) continue;
      if (exp) expected++;
      else unexpected++;
      continue;
    }
    size_t nips = 0;
    bool ok = false, tls_ok = false, tls_clean = false, bogon = false;
    for (size_t j = 0; j < d->nanswers; j++) {
      const char *ip = d->answers[j].ip;
      if (!ip) continue;
      nips++;
      if (ctl_has_ip(ct, ip) || ctl_has_asn(c, asn_of(o, ip))) ok = true;
      if (tls_valid_for_domain(c, ip)) {
        tls_ok = true;
        if (ext_tls && !addr_misbehaving(c, ip)) tls_clean = true;
      }
      if (cs_ipstr_is_bogon(ip)) bogon = true; /* util/ipnet.h: --lab-net ranges are public */
    }
    if (!nips) continue;
    /* x_dns_flags (analysisext.go): bogon 1, invalid addresses 4 (bogon or no overlap, unless
     * a TLS handshake proves the address valid for the domain) */
    if (bogon) v->dns_flags |= 1;
    if (th_data && th_ips > 0 && !tls_ok && (bogon || !ok)) v->dns_flags |= 4;
    if (th_data && th_ips == 0) c->th_empty_probe_ok = true;
    if (!classic) continue;
    success++;
    /* only lookups of the input's domain are compared with the TH's answer, which is for
     * that domain (observation.go controlXrefDNSQueries): a redirect target's addresses are
     * not "invalid" for the original host */
    if (!th_data || th_ips == 0 || !same_domain(c, d->hostname)) continue;
    if (ok || tls_clean) valid++;
    else invalid++;
  }
  if (!unexpected && !invalid && (valid || expected)) v->dns_consistency = "consistent";
  else if (invalid || unexpected || (success && th_data && th_ips == 0))
    v->dns_consistency = "inconsistent";
}

/* Walk types, highest first (a.5.2): HTTP > TLS > TCP > DNS. */
enum { T_HTTP = 3, T_TLS = 2, T_TCP = 1, T_DNS = 0 };

static int ep_type(const ep_obs *e) { return e->http ? T_HTTP : e->tls ? T_TLS : T_TCP; }
static const char *ep_failure(const ep_obs *e) {
  switch (ep_type(e)) {
  case T_HTTP: return e->http->failure;
  case T_TLS: return e->tls->failure;
  default: return e->tcp->failure;
  }
}

/* Order within a (depth, type) group: success first, then failure strings ascending. */
static int fail_cmp(const char *a, const char *b) {
  if (!a && !b) return 0;
  if (!a) return -1;
  if (!b) return 1;
  return strcmp(a, b);
}

/* Applies a.5.2 rules 1-4 to one endpoint observation. Returns true when it decided. */
static bool lte_rule_ep(ctx *c, const ep_obs *e) {
  cs_wc_verdict *v = c->v;
  const cs_wc_control *ct = &c->o->ctl;
  bool ctl_http = c->ctl_ok && ct->http_present; /* ControlHTTPFailure is Some */
  int type = ep_type(e);
  const char *f = ep_failure(e);
  if (type == T_HTTP && !f && status_is_final(e->http->code)) {
    if (e->tls && !e->tls->failure) return set_false(v, "lte.http.final_over_tls"), true;
    if (!ctl_http) return set_nil(v, "lte.http.final_no_control"), true;
    /* deviation (docs/analysis.md 7): the TH could not fetch the page, so there is nothing
     * to compare with; probe-cli calls that http-diff, v0.4 (a.5.1 rule 6) undetermined */
    if (ct->http_failure && !c->opt->ooni_strict)
      return set_nil(v, "lte.http.final_control_http_failed"), true;
    if (!http_diff(v)) return set_false(v, "lte.http.final_matches_control"), true;
    return set_string(v, CS_WC_BLOCKING_HTTP_DIFF, "lte.http.diff"), true;
  }
  if (!f) return false;
  if (type == T_HTTP) {
    v->http_experiment_failure = f;
    if (!ctl_http) return set_nil(v, "lte.http.failure_no_control"), true;
    if (ct->http_failure) return set_down(v, "lte.http.failure_control_failed_too"), true;
    return set_string(v, CS_WC_BLOCKING_HTTP_FAILURE, "lte.http.failure_probe_only"), true;
  }
  if (type == T_TLS) {
    v->http_experiment_failure = f;
    const cs_wc_ctl_ep *t = c->ctl_ok ? ctl_tls(ct, e->ip, e->port) : NULL;
    if (t && e->tls->server_name && t->server_name && strcmp(t->server_name, e->tls->server_name))
      t = NULL;
    if (!t) {
      if (!ctl_http) return set_nil(v, "lte.tls.failure_no_control"), true;
      return set_string(v, CS_WC_BLOCKING_HTTP_FAILURE, "lte.tls.failure_no_tls_control"), true;
    }
    if (t->failure) return set_down(v, "lte.tls.failure_control_failed_too"), true;
    return set_string(v, CS_WC_BLOCKING_HTTP_FAILURE, "lte.tls.failure_probe_only"), true;
  }
  v->http_experiment_failure = f;
  const cs_wc_ctl_ep *t = c->ctl_ok ? ctl_tcp(ct, e->ip, e->port) : NULL;
  if (!t) {
    if (!ctl_http) return set_nil(v, "lte.tcp.failure_no_control"), true;
    return set_string(v, CS_WC_BLOCKING_HTTP_FAILURE, "lte.tcp.failure_no_tcp_control"), true;
  }
  if (t->failure) return set_down(v, "lte.tcp.failure_control_failed_too"), true;
  return set_string(v, CS_WC_BLOCKING_TCP_IP, "lte.tcp.failure_probe_only"), true;
}

static bool all_loopback(const char *const *ips, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_ip_literal(ips[i])) continue;
    if (!ip_is_loopback(ips[i])) return false;
    k++;
  }
  return k > 0;
}

/* Applies a.5.2 rules 5-7 to one DNS lookup. Returns true when it decided. */
static bool lte_rule_dns(ctx *c, const cs_wc_dns *d) {
  cs_wc_verdict *v = c->v;
  const cs_wc_control *ct = &c->o->ctl;
  bool dns_ctl = c->ctl_ok && ct->dns_present && same_domain(c, d->hostname);
  bool ctl_http = c->ctl_ok && ct->http_present;
  if (d->failure) {
    if (ignored_doh_failure(c, d) || aaaa_no_answer(d)) return false;
    if (!dns_ctl) {
      v->http_experiment_failure = d->failure;
      if (!ctl_http) return set_false(v, "lte.dns.failure_no_control"), true;
      return set_string(v, CS_WC_BLOCKING_DNS, "lte.dns.failure_no_dns_control"), true;
    }
    if (ct->dns_failure) {
      v->http_experiment_failure = d->failure;
      return set_down(v, "lte.dns.failure_control_failed_too"), true;
    }
    if (streq(d->failure, "dns_no_answer") && ctl_ip_count(ct) == 0)
      return set_down(v, "lte.dns.no_answer_control_empty"), true;
    v->http_experiment_failure = d->failure;
    return set_string(v, CS_WC_BLOCKING_DNS, "lte.dns.failure_probe_only"), true;
  }
  if (!dns_ctl || depth_of(&d->tags) != 0) return false;
  const char *ips[CS_WC_MAX_ITEMS];
  size_t n = 0;
  for (size_t j = 0; j < d->nanswers && n < CS_WC_MAX_ITEMS; j++)
    if (d->answers[j].ip) ips[n++] = d->answers[j].ip;
  if (!all_loopback(ips, n)) return false;
  if (all_loopback((const char *const *)ct->dns_addrs, ct->ndns_addrs))
    return set_down(v, "lte.dns.loopback_both"), true;
  if (ctl_ip_count(ct) > 0)
    return set_string(v, CS_WC_BLOCKING_DNS, "lte.dns.loopback_probe_only"), true;
  return false;
}

typedef struct {
  int depth, type;
  const char *failure;
  size_t seq;
  const ep_obs *ep;
  const cs_wc_dns *dns;
} walk_item;

static int walk_cmp(const void *pa, const void *pb) {
  const walk_item *a = pa, *b = pb;
  if (a->depth != b->depth) return a->depth > b->depth ? -1 : 1;
  if (a->type != b->type) return a->type > b->type ? -1 : 1;
  int f = fail_cmp(a->failure, b->failure);
  if (f) return f;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* IPv6 connect failures that look like a host without IPv6 (minipipeline utils): not blocking */
static bool misconfigured_ipv6(const ep_obs *e) {
  return e->ip && strchr(e->ip, ':') && e->tcp &&
         (streq(e->tcp->failure, "host_unreachable") ||
          streq(e->tcp->failure, "network_unreachable"));
}

/* x_blocking_flags and x_null_null_flags (analysisext.go, a.5.2 "Extended flags") over ALL
 * observations, not only the classic ones. */
static void lte_ext_flags(ctx *c, const ep_obs *eps, size_t neps) {
  const cs_wc_obs *o = c->o;
  const cs_wc_control *ct = &o->ctl;
  cs_wc_verdict *v = c->v;
  bool ctl_http = c->ctl_ok && ct->http_present;
  bool ctl_http_ok = ctl_http && !ct->http_failure;
  if (v->dns_flags & 6) v->blocking_flags |= 1;
  if (c->dns_expected_any) v->null_null_flags |= 1;
  if (c->th_empty_probe_ok) v->null_null_flags |= 16;
  bool final_seen = false;
  for (size_t i = 0; i < neps; i++) {
    const ep_obs *e = &eps[i];
    const cs_wc_ctl_ep *t = c->ctl_ok && e->tcp ? ctl_tcp(ct, e->ip, e->port) : NULL;
    if (e->tcp && e->depth == 0 && t) {
      if (e->tcp->failure && t->failure) v->null_null_flags |= 2;
      else if (e->tcp->failure && !misconfigured_ipv6(e)) v->blocking_flags |= 2;
    }
    const cs_wc_ctl_ep *s = c->ctl_ok && e->tls ? ctl_tls(ct, e->ip, e->port) : NULL;
    if (s && e->tls->server_name && s->server_name && strcmp(s->server_name, e->tls->server_name))
      s = NULL;
    if (e->tls && e->depth == 0 && s) {
      if (e->tls->failure && s->failure) v->null_null_flags |= 4;
      else if (e->tls->failure) v->blocking_flags |= 4;
    }
    if (e->http && e->http->failure && ctl_http_ok) v->blocking_flags |= 8;
    if (e->http && !e->http->failure && status_is_final(e->http->code)) {
      final_seen = true;
      bool over_tls = e->tls && !e->tls->failure;
      if (over_tls) v->blocking_flags |= 32;
      if (over_tls && !ctl_http) v->null_null_flags |= 8;
      if (!over_tls && ctl_http_ok) {
        cs_wc_verdict tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.body_length_match = tmp.status_code_match = tmp.headers_match = tmp.title_match =
            CS_WC_UNKNOWN;
        ctx c2 = *c;
        c2.v = &tmp;
        http_compare(&c2, e->http, true);
        v->blocking_flags |= http_diff(&tmp) ? 16 : 32;
      }
    }
  }
  /* no final response although the control fetched the page: failures after a redirect,
   * where there is no control to compare with, are "unexplained" blocking */
  if (!final_seen && ctl_http_ok) {
    for (size_t i = 0; i < o->ndns; i++)
      if (o->dns[i].failure && depth_of(&o->dns[i].tags) > 0 &&
          !ignored_doh_failure(c, &o->dns[i]) && !aaaa_no_answer(&o->dns[i]))
        v->blocking_flags |= 1;
    for (size_t i = 0; i < neps; i++) {
      const ep_obs *e = &eps[i];
      if (e->depth == 0) continue;
      if (e->tcp && e->tcp->failure) v->blocking_flags |= 2;
      if (e->tls && e->tls->failure) v->blocking_flags |= 4;
    }
  }
}

static void lte(ctx *c) {
  const cs_wc_obs *o = c->o;
  cs_wc_verdict *v = c->v;
  v->algorithm = "lte";
  lte_dns(c, !c->opt->ooni_strict);

  ep_obs *eps;
  size_t neps = build_endpoints(c, &eps);
  /* HTTP diff values: the deepest classic final response, when the control fetched the page */
  if (c->ctl_ok && o->ctl.http_present && !o->ctl.http_failure) {
    const ep_obs *best = NULL;
    for (size_t i = 0; i < neps; i++) {
      const ep_obs *e = &eps[i];
      if (!e->classic || !e->http || e->http->failure || !status_is_final(e->http->code)) continue;
      if (!best || e->depth > best->depth) best = e;
    }
    if (best) {
      c->cmp_ip = best->ip, c->cmp_depth = best->depth;
      http_compare(c, best->http, true);
    }
  }
  lte_ext_flags(c, eps, neps);

  /* the walk (a.5.2): depth descending, type HTTP > TLS > TCP > DNS, success first, then
   * failure strings ascending; ties keep the measurement's order */
  v->blocking = CS_WC_BLOCKING_NULL;
  v->accessible = CS_WC_UNKNOWN;
  v->reason = "lte.no_rule_matched";
  size_t n = 0;
  walk_item *items = cs_arena_alloc(c->a, (neps + o->ndns + 1) * sizeof *items);
  if (!items) return;
  for (size_t i = 0; i < neps; i++)
    if (eps[i].classic)
      items[n] =
          (walk_item){eps[i].rdepth, ep_type(&eps[i]), ep_failure(&eps[i]), n, &eps[i], NULL},
      n++;
  for (size_t i = 0; i < o->ndns; i++)
    if (dns_classic(c, &o->dns[i]))
      items[n] =
          (walk_item){
              walk_depth(c, &o->dns[i].tags), T_DNS, o->dns[i].failure, n, NULL, &o->dns[i]},
      n++;
  qsort(items, n, sizeof *items, walk_cmp);
  for (size_t i = 0; i < n; i++)
    if (items[i].ep ? lte_rule_ep(c, items[i].ep) : lte_rule_dns(c, items[i].dns)) return;
}

/* ---- LTE 0.5.0-0.5.26: the "orig" engine ------------------------------------------------
 * Until probe-cli #1392 (test_version 0.5.27) LTE decided from its own flags
 * (webconnectivitylte analysiscore.go analysisOrig, analysisdns.go, analysistcpip.go,
 * analysistls.go, analysishttpcore.go, analysishttpdiff.go as of 0.5.26): every lookup and
 * endpoint counts (no classic filter, no depth), HTTP means the final request only, and when
 * no flag explains the result a few "null-null" checks decide. Flag bits: x_blocking_flags
 * DNS 1, TCP/IP 2, TLS 4, HTTP 8, HTTP diff 16, success 32; x_dns_flags bogon 1, unexpected
 * failure 2, unexpected addresses 4; x_null_null_flags no addresses 1, all connects failed 2,
 * TLS misconfigured 4, successful HTTPS 8, NXDOMAIN with censorship 16. */

static bool ipv6_unreachable(const cs_wc_tcp *t) {
  return t->ip && strchr(t->ip, ':') &&
         (streq(t->failure, "host_unreachable") || streq(t->failure, "network_unreachable"));
}

static bool answer_is_addr(const cs_wc_answer *an) {
  return an->ip && (streq(an->answer_type, "A") || streq(an->answer_type, "AAAA"));
}

/* analysisdns.go: the ASN rule counts 0 (unknown) as an ASN like any other. */
static bool orig_asn_in(const int64_t *asns, size_t n, int64_t asn) {
  for (size_t i = 0; i < n; i++)
    if (asns[i] == asn) return true;
  return false;
}

/* analysisDNSUnexpectedAddrs: some address of the input's domain, not the TH's, not a bogon,
 * without a TLS handshake for the domain and without obvious IPv6 trouble, is in an AS none
 * of the TH's addresses is in (or the probe resolved nothing for the domain). */
static bool orig_unexpected_addrs(ctx *c) {
  const cs_wc_obs *o = c->o;
  const cs_wc_control *ct = &o->ctl;
  size_t nprobe = 0;
  int64_t *thasn = cs_arena_alloc(c->a, (ct->ndns_addrs + 1) * sizeof *thasn);
  if (!thasn) return false;
  for (size_t i = 0; i < ct->ndns_addrs; i++) thasn[i] = asn_of(o, ct->dns_addrs[i]);
  for (size_t i = 0; i < o->ndns; i++) {
    const cs_wc_dns *d = &o->dns[i];
    if (!same_domain(c, d->hostname)) continue;
    for (size_t j = 0; j < d->nanswers; j++) {
      const char *ip = d->answers[j].ip;
      if (!answer_is_addr(&d->answers[j])) continue;
      nprobe++;
      if (cs_ipstr_is_bogon(ip) || ctl_has_ip(ct, ip)) continue;
      bool tls_ok = false, v6_issue = false;
      for (size_t k = 0; k < o->ntls && !tls_ok; k++)
        tls_ok = !o->tls[k].failure && ip_eq(o->tls[k].ip, ip) && o->tls[k].server_name &&
                 !strcmp(o->tls[k].server_name, c->host);
      for (size_t k = 0; k < o->ntcp && !v6_issue; k++)
        v6_issue = ip_eq(o->tcp[k].ip, ip) && ipv6_unreachable(&o->tcp[k]);
      if (tls_ok || v6_issue) continue;
      if (!orig_asn_in(thasn, ct->ndns_addrs, asn_of(o, ip))) return true;
    }
  }
  return nprobe == 0;
}

static void orig_dns(ctx *c) {
  const cs_wc_obs *o = c->o;
  const cs_wc_control *ct = &o->ctl;
  cs_wc_verdict *v = c->v;
  for (size_t i = 0; i < o->ndns && !v->dns_experiment_failure; i++)
    if (o->dns[i].failure && !aaaa_no_answer(&o->dns[i]) && !engine_is_doh(o->dns[i].engine))
      v->dns_experiment_failure = o->dns[i].failure;
  for (size_t i = 0; i < o->ndns; i++)
    for (size_t j = 0; j < o->dns[i].nanswers; j++)
      if (answer_is_addr(&o->dns[i].answers[j]) && cs_ipstr_is_bogon(o->dns[i].answers[j].ip))
        v->dns_flags |= 1;
  /* both checks need the TH's addresses for a domain name */
  if (c->ctl_ok && *c->host && !c->host_is_ip && ct->ndns_addrs > 0) {
    for (size_t i = 0; i < o->ndns; i++) {
      const cs_wc_dns *d = &o->dns[i];
      if (!same_domain(c, d->hostname) || engine_is_doh(d->engine) || !d->failure) continue;
      /* (a typo in analysisdns.go makes only A answers count as "has addresses") */
      bool has_a = false;
      for (size_t j = 0; j < d->nanswers && !has_a; j++)
        has_a = d->answers[j].ip && streq(d->answers[j].answer_type, "A");
      if (!has_a && !aaaa_no_answer(d)) v->dns_flags |= 2;
    }
    if (orig_unexpected_addrs(c)) v->dns_flags |= 4;
  }
  if (v->dns_flags) {
    v->dns_consistency = "inconsistent";
    v->blocking_flags |= 1;
  } else {
    v->dns_consistency = "consistent";
  }
}

/* analysishttpdiff.go on the final response (plain HTTP). */
static void orig_http_diff(ctx *c, const cs_wc_http *h) {
  cs_wc_verdict *v = c->v;
  const cs_wc_control *ct = &c->o->ctl;
  if (h->url && !strncasecmp(h->url, "https://", 8)) {
    v->blocking_flags |= 32;
    return;
  }
  int64_t cl = ct->http_body_length, pl = (int64_t)h->body_len;
  if (cl > 0 && pl > 0 && !h->body_is_truncated) {
    double lo = (double)(pl < cl ? pl : cl), hi = (double)(pl < cl ? cl : pl);
    v->body_proportion = lo / hi;
    v->body_length_match = v->body_proportion > 0.7 ? CS_WC_YES : CS_WC_NO;
  }
  int pc = h->code, cc = ct->http_status;
  if (pc > 0 && cc > 0 && (pc == cc || cc / 100 == 2))
    v->status_code_match = pc == cc ? CS_WC_YES : CS_WC_NO;
  if (h->nheaders > 0 && ct->nhttp_headers > 0)
    v->headers_match = headers_match(c->a, h->headers, h->nheaders, ct->http_headers,
                                     ct->nhttp_headers, true, false);
  if (pc > 0 && !h->body_is_truncated && cc > 0 && nonempty(h->title) && nonempty(ct->http_title))
    v->title_match = titles_match(c->a, h->title, ct->http_title) ? CS_WC_YES : CS_WC_NO;
  bool ok = v->status_code_match == CS_WC_YES &&
            (v->body_length_match == CS_WC_YES || v->headers_match == CS_WC_YES ||
             v->title_match == CS_WC_YES);
  v->blocking_flags |= ok ? 32 : 16;
}

static void orig_flags(ctx *c) {
  const cs_wc_obs *o = c->o;
  const cs_wc_control *ct = &o->ctl;
  cs_wc_verdict *v = c->v;
  orig_dns(c);
  if (c->ctl_ok)
    for (size_t i = 0; i < o->ntcp; i++) { /* analysistcpip.go */
      const cs_wc_tcp *t = &o->tcp[i];
      const cs_wc_ctl_ep *e =
          t->failure && !ipv6_unreachable(t) ? ctl_tcp(ct, t->ip, t->port) : NULL;
      if (e && !e->failure) v->blocking_flags |= 2;
    }
  if (c->ctl_ok)
    for (size_t i = 0; i < o->ntls; i++) { /* analysistls.go: by endpoint */
      const cs_wc_tls *t = &o->tls[i];
      const cs_wc_ctl_ep *e = t->failure ? ctl_tls(ct, t->ip, t->port) : NULL;
      if (e && !e->failure) v->blocking_flags |= 4;
    }
  if (!o->nhttp) return; /* analysishttpcore.go: the final request */
  const cs_wc_http *h = &o->http[0];
  v->http_experiment_failure = h->failure;
  if (!c->ctl_ok || !ct->http_present || ct->http_failure) return;
  if (h->failure) {
    if (streq(h->failure, "connection_reset") || streq(h->failure, "generic_timeout_error") ||
        streq(h->failure, "eof_error"))
      v->blocking_flags |= 8;
    return;
  }
  orig_http_diff(c, h);
}

/* The "null-null" checks of analysiscore.go, in order. */
static bool orig_null_null(ctx *c) {
  const cs_wc_obs *o = c->o;
  const cs_wc_control *ct = &o->ctl;
  cs_wc_verdict *v = c->v;
  if (c->ctl_ok) { /* the TH says NXDOMAIN, the probe's cleartext lookups succeeded */
    size_t ok = 0;
    bool other_failure = false;
    for (size_t i = 0; i < o->ndns; i++) {
      if (engine_is_doh(o->dns[i].engine)) continue;
      if (o->dns[i].failure && !streq(o->dns[i].failure, "dns_no_answer")) other_failure = true;
      else if (!o->dns[i].failure) ok++;
    }
    if (!other_failure && ok > 0 && cs_th_failure_is(ct->dns_failure, CS_THF_DNS_NAME_ERROR)) {
      v->null_null_flags |= 16;
      v->blocking = CS_WC_BLOCKING_DNS, v->accessible = CS_WC_NO;
      v->reason = "lte-orig.th_nxdomain_probe_resolved";
      return true;
    }
  }
  if (c->ctl_ok && !o->ntcp && !o->ntls && !ct->ndns_addrs && !ct->ntcp) {
    bool answers = false;
    for (size_t i = 0; i < o->ndns; i++) answers |= o->dns[i].nanswers > 0;
    if (!answers) {
      v->null_null_flags |= 1;
      v->blocking = CS_WC_BLOCKING_FALSE, v->accessible = CS_WC_NO;
      v->reason = "lte-orig.no_addrs";
      return true;
    }
  }
  if (c->ctl_ok && o->ntcp > 0 && ct->ntcp > 0) {
    bool all = true;
    for (size_t i = 0; i < o->ntcp && all; i++) {
      const cs_wc_ctl_ep *e = ctl_tcp(ct, o->tcp[i].ip, o->tcp[i].port);
      all = o->tcp[i].failure && e && e->failure;
    }
    if (all) {
      v->null_null_flags |= 2;
      v->blocking = CS_WC_BLOCKING_FALSE, v->accessible = CS_WC_NO;
      v->reason = "lte-orig.all_connects_failed";
      return true;
    }
  }
  if (c->ctl_ok && o->ntls > 0 && ct->ntls > 0) {
    bool all = true;
    for (size_t i = 0; i < o->ntls && all; i++) {
      const cs_wc_ctl_ep *e = ctl_tls(ct, o->tls[i].ip, o->tls[i].port);
      all = o->tls[i].failure && e && e->failure && !strcmp(o->tls[i].failure, e->failure);
    }
    if (all) {
      v->null_null_flags |= 4;
      v->blocking = CS_WC_BLOCKING_FALSE, v->accessible = CS_WC_NO;
      v->reason = "lte-orig.tls_misconfigured";
      return true;
    }
  }
  if (o->nhttp > 0) { /* a successful chain of HTTPS transactions (no control needed) */
    bool all = true;
    for (size_t i = 0; i < o->nhttp && all; i++) {
      const cs_wc_http *h = &o->http[i];
      all =
          h->url && !strncasecmp(h->url, "https://", 8) && !h->failure &&
          (h->code == 200 || h->code == 301 || h->code == 302 || h->code == 307 || h->code == 308);
    }
    if (all) {
      v->null_null_flags |= 8;
      v->blocking = CS_WC_BLOCKING_FALSE, v->accessible = CS_WC_YES;
      v->reason = "lte-orig.successful_https";
      return true;
    }
  }
  return false;
}

static void lte_orig(ctx *c) {
  cs_wc_verdict *v = c->v;
  v->algorithm = "lte-orig";
  orig_flags(c);
  int f = v->blocking_flags;
  v->accessible = CS_WC_NO;
  if (f & 1) v->blocking = CS_WC_BLOCKING_DNS, v->reason = "lte-orig.dns";
  else if (f & 2) v->blocking = CS_WC_BLOCKING_TCP_IP, v->reason = "lte-orig.tcp_ip";
  else if (f & (4 | 8))
    v->blocking = CS_WC_BLOCKING_HTTP_FAILURE, v->reason = "lte-orig.http_failure";
  else if (f & 16) v->blocking = CS_WC_BLOCKING_HTTP_DIFF, v->reason = "lte-orig.http_diff";
  else if (f == 32) set_false(v, "lte-orig.success");
  else if (!orig_null_null(c)) {
    v->blocking = CS_WC_BLOCKING_NULL, v->accessible = CS_WC_UNKNOWN;
    v->reason = "lte-orig.unknown";
  }
}

/* ---- v0.4 (summary.go, dnsanalysis.go, httpanalysis.go) ---------------------------------- */

static bool is_nxdomain_like(const char *f) {
  return streq(f, "dns_nxdomain_error") || streq(f, "android_dns_cache_no_data");
}

/* a.4.1 v0.4 (and, with legacy=true, the measurement-kit variant). */
static void dns_v04(ctx *c, bool legacy) {
  const cs_wc_obs *o = c->o;
  const cs_wc_control *ct = &o->ctl;
  cs_wc_verdict *v = c->v;
  for (size_t i = 0; i < o->ndns; i++)
    if (o->dns[i].failure && probe_resolver(c, o->dns[i].engine)) {
      if (!(legacy ? false : aaaa_no_answer(&o->dns[i]))) {
        v->dns_experiment_failure = o->dns[i].failure;
        break;
      }
    }
  if (!c->ctl_ok) return;
  if (c->host_is_ip) {
    v->dns_consistency = "consistent";
    return;
  }
  const char *pf = v->dns_experiment_failure, *cf = ct->dns_failure;
  if (legacy) {
    if (pf) {
      v->dns_consistency = streq(pf, cf) ? "consistent" : "inconsistent";
      return;
    }
  } else {
    if (pf && cf) {
      v->dns_consistency = cs_th_failure_is(cf, CS_THF_DNS_NAME_ERROR) && is_nxdomain_like(pf)
                               ? "consistent"
                               : "inconsistent";
      return;
    }
    if (pf || cf) {
      v->dns_consistency = "inconsistent";
      return;
    }
  }
  bool ip_overlap = false, asn_overlap = false, private_ip = false;
  for (size_t i = 0; i < o->ndns; i++)
    for (size_t j = 0; j < o->dns[i].nanswers; j++) {
      const char *ip = o->dns[i].answers[j].ip;
      if (!ip) continue;
      if (ctl_has_ip(ct, ip)) ip_overlap = true;
      if (ctl_has_asn(c, asn_of(o, ip))) asn_overlap = true;
      if (cs_ipstr_is_bogon(ip)) private_ip = true;
    }
  /* measurement-kit: a private (bogon) answer is inconsistent before any overlap check */
  if (legacy && private_ip) {
    v->dns_consistency = "inconsistent";
    return;
  }
  v->dns_consistency = (ip_overlap || asn_overlap) ? "consistent" : "inconsistent";
}

static void v04(ctx *c) {
  const cs_wc_obs *o = c->o;
  const cs_wc_control *ct = &o->ctl;
  cs_wc_verdict *v = c->v;
  v->algorithm = "v0.4";
  dns_v04(c, false);
  const cs_wc_http *r0 = o->nhttp ? &o->http[0] : NULL;
  if (r0) v->http_experiment_failure = r0->failure;
  if (r0 && !r0->failure && c->ctl_ok && ct->http_present && !ct->http_failure)
    http_compare(c, r0, false);
  bool incons = dns_inconsistent(v);

  /* a.5.1 rule 1 */
  if (r0 && !r0->failure && r0->url && !strncasecmp(r0->url, "https://", 8))
    return set_false(v, "v0.4.https_success");
  if (!c->ctl_ok) {
    v->blocking = CS_WC_BLOCKING_NULL, v->accessible = CS_WC_UNKNOWN,
    v->reason = "v0.4.control_failure";
    return;
  }
  const char *df = v->dns_experiment_failure;
  if (is_nxdomain_like(df) && streq(v->dns_consistency, "consistent")) {
    v->blocking = CS_WC_BLOCKING_FALSE, v->accessible = CS_WC_YES,
    v->reason = "v0.4.nxdomain_consistent";
    return;
  }
  if (incons && is_nxdomain_like(df)) {
    v->blocking = CS_WC_BLOCKING_DNS, v->accessible = CS_WC_NO,
    v->reason = "v0.4.nxdomain_inconsistent";
    return;
  }
  size_t attempts = o->ntcp, ok = 0;
  for (size_t i = 0; i < o->ntcp; i++) ok += o->tcp[i].success;
  if (attempts > 0 && ok == 0 && v->dns_consistency) {
    v->accessible = CS_WC_NO;
    v->blocking = incons ? CS_WC_BLOCKING_DNS : CS_WC_BLOCKING_TCP_IP;
    v->reason = "v0.4.all_tcp_failed";
    return;
  }
  if (ct->http_failure || !ct->http_present) {
    v->blocking = CS_WC_BLOCKING_NULL, v->accessible = CS_WC_UNKNOWN,
    v->reason = "v0.4.control_http_failed";
    return;
  }
  if (!r0) {
    v->blocking = CS_WC_BLOCKING_NULL, v->accessible = CS_WC_UNKNOWN,
    v->reason = "v0.4.no_requests";
    return;
  }
  if (r0->failure) {
    const char *f = r0->failure;
    cs_wc_blocking b = CS_WC_BLOCKING_NULL;
    if (streq(f, "connection_refused") || streq(f, "connection_reset") || streq(f, "eof_error") ||
        streq(f, "generic_timeout_error") || streq(f, "ssl_invalid_hostname") ||
        streq(f, "ssl_invalid_certificate") || streq(f, "ssl_unknown_authority"))
      b = CS_WC_BLOCKING_HTTP_FAILURE;
    else if (streq(f, "dns_nxdomain_error")) b = CS_WC_BLOCKING_DNS;
    if (b == CS_WC_BLOCKING_NULL) {
      v->blocking = CS_WC_BLOCKING_NULL, v->accessible = CS_WC_UNKNOWN,
      v->reason = "v0.4.http_failure_unclassified";
      return;
    }
    if (o->nhttp == 1 && incons) b = CS_WC_BLOCKING_DNS;
    v->blocking = b, v->accessible = CS_WC_NO, v->reason = "v0.4.http_failure";
    return;
  }
  if (!http_diff(v)) return set_false(v, "v0.4.http_matches_control");
  v->accessible = CS_WC_NO;
  v->blocking = incons ? CS_WC_BLOCKING_DNS : CS_WC_BLOCKING_HTTP_DIFF;
  v->reason = "v0.4.http_diff";
}

/* ---- legacy (measurement-kit era, test_version < 0.4) ------------------------------------ */

/* Python ooniprobe (test_version 0.1.x, ooni/probe-legacy nettests/blocking/
 * web_connectivity.py test_web_connectivity): accessible is true exactly when there was no
 * HTTP failure, no DNS failure and blocking is false or null (null when the control failed:
 * then --ooni-strict only, the default mode never infers accessibility without a control). */
static void legacy_python_accessible(ctx *c, const char *http_failure) {
  cs_wc_verdict *v = c->v;
  if (c->o->ver[0] != 0 || c->o->ver[1] != 1) return;
  if (v->blocking != CS_WC_BLOCKING_FALSE && v->blocking != CS_WC_BLOCKING_NULL) return;
  if (v->blocking == CS_WC_BLOCKING_NULL && !c->opt->ooni_strict) return;
  const char *df = c->o->recorded.dns_experiment_failure;
  for (size_t i = 0; i < c->o->ndns && !df; i++) df = c->o->dns[i].failure;
  v->accessible = !http_failure && !df ? CS_WC_YES : CS_WC_NO;
}

static void legacy(ctx *c) {
  const cs_wc_obs *o = c->o;
  const cs_wc_control *ct = &o->ctl;
  cs_wc_verdict *v = c->v;
  v->algorithm = "legacy";
  const cs_wc_http *r0 = o->nhttp ? &o->http[0] : NULL;
  /* old probes sometimes archived the HTTP failure without any request */
  const char *pf = r0 ? r0->failure : o->recorded.http_experiment_failure, *cf = ct->http_failure;
  v->http_experiment_failure = pf;
  if (!c->ctl_ok) {
    v->blocking = CS_WC_BLOCKING_NULL, v->accessible = CS_WC_UNKNOWN,
    v->reason = "legacy.control_failure";
    legacy_python_accessible(c, pf);
    return;
  }
  dns_v04(c, true);
  bool cons = streq(v->dns_consistency, "consistent"), incons = dns_inconsistent(v);
  /* MK compared only the first word of the failure strings */
  char *pfw = pf ? cs_arena_strndup(c->a, pf, strcspn(pf, " ")) : NULL;
  bool tcp_ok = true;
  for (size_t i = 0; i < o->ntcp; i++) {
    const cs_wc_ctl_ep *t = ctl_tcp(ct, o->tcp[i].ip, o->tcp[i].port);
    if (t && t->status && !o->tcp[i].success) tcp_ok = false;
  }
  bool expected_page = false;
  if (r0 && !pf && !cf && ct->http_present) {
    http_compare(c, r0, false);
    expected_page = (v->body_length_match == CS_WC_YES || v->headers_match == CS_WC_YES ||
                     v->title_match == CS_WC_YES) &&
                    v->status_code_match != CS_WC_NO;
  }
  if (cons && !tcp_ok && pf) {
    v->blocking = CS_WC_BLOCKING_TCP_IP, v->reason = "legacy.tcp_blocked";
  } else if (cons && tcp_ok && !expected_page && r0 && !pf && !cf) {
    v->blocking = CS_WC_BLOCKING_HTTP_DIFF, v->reason = "legacy.http_diff";
  } else if (cons && tcp_ok && pf && !cf) {
    v->blocking = cs_th_failure_is(pfw, CS_THF_DNS_LOOKUP_ERROR) ? CS_WC_BLOCKING_DNS
                                                                 : CS_WC_BLOCKING_HTTP_FAILURE;
    v->reason = "legacy.http_failure";
  } else if (incons && !expected_page) {
    v->blocking = CS_WC_BLOCKING_DNS, v->reason = "legacy.dns_inconsistent";
  } else {
    set_false(v, "legacy.accessible");
    legacy_python_accessible(c, pf);
    return;
  }
  v->accessible = CS_WC_NO;
}

/* ---- censorscope deviations -------------------------------------------------------------- */

/* Server-side blocks that the site (or its CDN) shows to the probe: not censorship
 * (ooni/probe#2661, #2528, #1734). Returns a short name or NULL. */
static const char *server_side_block(const cs_wc_http *h, const cs_wc_control *ct,
                                     const cs_wc_verdict *v) {
  if (!h || h->failure || h->code <= 0) return NULL;
  const char *server = hdr_get(h->headers, h->nheaders, "server");
  const char *title = h->title ? h->title : "";
  int code = h->code;
  bool cf = (server && !strncasecmp(server, "cloudflare", 10)) ||
            hdr_get(h->headers, h->nheaders, "cf-ray");
  if (hdr_get(h->headers, h->nheaders, "cf-mitigated")) return "cloudflare_challenge";
  if (strstr(title, "Just a moment...") || strstr(title, "Attention Required! | Cloudflare"))
    return "cloudflare_challenge";
  if (cf && (code == 403 || code == 429 || code == 503)) return "cloudflare_block";
  if (server && !strncasecmp(server, "AkamaiGHost", 11) && code == 403)
    return "akamai_access_denied";
  if (code == 403 && strstr(title, "Access Denied") && server && strcasestr(server, "akamai"))
    return "akamai_access_denied";
  const char *xcache = hdr_get(h->headers, h->nheaders, "x-cache");
  if (code == 403 && xcache && strcasestr(xcache, "cloudfront")) return "cloudfront_block";
  if (hdr_get(h->headers, h->nheaders, "x-iinfo") && (code == 403 || code == 200) && h->body &&
      h->body_len && memmem(h->body, h->body_len, "Incapsula", 9))
    return "imperva_incapsula";
  if (hdr_get(h->headers, h->nheaders, "x-sucuri-block")) return "sucuri_block";
  if (server && !strncasecmp(server, "ddos-guard", 10) && (code == 403 || code == 503))
    return "ddos_guard";
  /* a geo-block by the site itself: 403/451 while the control got a 2xx, carrying an
   * uncommon header that the control's response also has (headers_match): site-specific
   * headers that a middlebox would not know. A bare 451 is often a censor (RFC 7725 use by
   * ISPs), so it is not enough on its own. */
  if ((code == 403 || code == 451) && ct->http_status / 100 == 2 && v->headers_match == CS_WC_YES)
    return "site_geo_block";
  return NULL;
}

static bool censorship(const cs_fp_match *m, const char *cc) {
  return m->kind == CS_FP_KIND_CENSORSHIP && cs_fp_country_ok(m, cc);
}

/* Fingerprints over every DNS answer and the newest responses of the chain. *dns_sys_cens:
 * a censorship DNS fingerprint matched an answer of the system resolver (the one the
 * verdict is about; an injected reply to a foreign UDP resolver is evidence, not a verdict). */
static void match_fingerprints(ctx *c, const cs_fp_db *db, cs_fp_match *dns_m, bool *dns_found,
                               bool *dns_sys_cens, bool *dns_sys_optin, cs_fp_match *http_m,
                               bool *http_found, const cs_wc_http **http_resp) {
  const cs_wc_obs *o = c->o;
  *dns_found = *http_found = *dns_sys_cens = *dns_sys_optin = false;
  for (size_t i = 0; i < o->ndns; i++)
    for (size_t j = 0; j < o->dns[i].nanswers; j++) {
      cs_fp_match m;
      if (!o->dns[i].answers[j].ip || !cs_fp_match_dns(db, o->dns[i].answers[j].ip, &m)) continue;
      if (probe_resolver(c, o->dns[i].engine) && censorship(&m, c->cc)) *dns_sys_cens = true;
      if (probe_resolver(c, o->dns[i].engine) && m.kind == CS_FP_KIND_OPTIN) *dns_sys_optin = true;
      if (!*dns_found || m.kind < dns_m->kind) *dns_m = m, *dns_found = true;
    }
  /* the newest responses only: a real chain has at most 11 (10 redirects) */
  for (size_t i = 0; i < o->nhttp && i < 32; i++) {
    const cs_wc_http *h = &o->http[i];
    if (!h->body && !h->nheaders) continue;
    const char **hn = cs_arena_alloc(c->a, (h->nheaders + 1) * sizeof *hn);
    const char **hv = cs_arena_alloc(c->a, (h->nheaders + 1) * sizeof *hv);
    if (!hn || !hv) return;
    for (size_t k = 0; k < h->nheaders; k++)
      hn[k] = h->headers[k].name, hv[k] = h->headers[k].value;
    cs_fp_http r = {hn, hv, h->nheaders, h->body, h->body_len};
    cs_fp_match m;
    if (!cs_fp_match_http(db, &r, &m)) continue;
    if (!*http_found || m.kind < http_m->kind) *http_m = m, *http_found = true, *http_resp = h;
  }
}

/* Deviation 9 (docs/analysis.md): a look-alike page from a hijacked address. OONI's HTTP
 * comparison says "the expected page" when any one of body length, uncommon headers and
 * title matches; a small blockpage is within 30 % of many small sites. Evidence strength:
 * when the system resolver's answer is inconsistent with the control's (no IP or ASN overlap,
 * no TLS handshake for the site's name that the address did not then betray: deviation 5),
 * the page came from such an address, and both the title and every uncommon header differ
 * from the control's, a body-length match alone does not make it the site's page: the DNS
 * answer pointed somewhere else. Returns true when the rule applies. */
static bool lookalike_from_hijacked_dns(ctx *c) {
  const cs_wc_obs *o = c->o;
  const cs_wc_verdict *v = c->v;
  if (v->blocking != CS_WC_BLOCKING_FALSE || v->accessible != CS_WC_YES) return false;
  if (!dns_inconsistent(v) || !c->ctl_ok) return false;
  if (!lookalike_only(v)) return false;
  if (!strcmp(v->reason, "v0.4.http_matches_control") || !strcmp(v->reason, "legacy.accessible"))
    return o->nhttp == 1; /* no redirect: the page came from the inconsistent answers */
  if (strcmp(v->reason, "lte.http.final_matches_control") || !c->cmp_ip || c->cmp_depth != 0)
    return false;
  /* LTE: the compared page came from an address the system resolver gave for the URL's host
   * and that nothing validates */
  const char *ip = c->cmp_ip;
  if (ctl_has_ip(&o->ctl, ip) || ctl_has_asn(c, asn_of(o, ip))) return false;
  if (tls_valid_for_domain(c, ip) && !addr_misbehaving(c, ip)) return false;
  for (size_t i = 0; i < o->ndns; i++) {
    const cs_wc_dns *d = &o->dns[i];
    if (d->failure || !probe_resolver(c, d->engine) || depth_of(&d->tags) != 0 ||
        !same_domain(c, d->hostname))
      continue;
    for (size_t j = 0; j < d->nanswers; j++)
      if (ip_eq(d->answers[j].ip, ip)) return true;
  }
  return false;
}

static void deviations(ctx *c) {
  const cs_wc_obs *o = c->o;
  cs_wc_verdict *v = c->v;
  v->ooni_blocking = v->blocking;
  v->ooni_accessible = v->accessible;
  const char *cc = o->probe_cc ? o->probe_cc : c->opt->probe_cc;
  c->cc = cc;

  cs_fp_match dm = {0}, hm = {0}; /* read only when found; zeroed for the analysers */
  bool dfound = false, hfound = false, dns_sys_cens = false, dns_sys_optin = false;
  const cs_wc_http *hresp = NULL;
  if (c->opt->fingerprints)
    match_fingerprints(c, c->opt->fingerprints, &dm, &dfound, &dns_sys_cens, &dns_sys_optin, &hm,
                       &hfound, &hresp);
  bool dns_cens = dns_sys_cens;
  /* A page fetched after the system resolver pointed at an opt-in filter's server belongs to
   * that opt-in filter, whatever text it shows (Nayatel's Surf Safely server serves the
   * national PTA wording: data/fingerprints citizenlab_pk_blockpage_samples). */
  bool http_cens = hfound && censorship(&hm, cc) && !dns_sys_optin;
  /* The reported match: the more specific kind first (censorship, opt-in, weak, benign, false
   * positive); on a tie, or when an opt-in resolver served the page, the page (HTTP). */
  bool dns_any_cens = dfound && censorship(&dm, cc); /* evidence even from a foreign resolver */
  if (dfound || hfound) {
    v->blockpage_found = true;
    if (hfound && (!dfound || http_cens || dns_sys_optin || hm.kind <= dm.kind) &&
        !(dns_any_cens && !http_cens))
      v->blockpage = hm;
    else v->blockpage = dm;
    v->blockpage_confirmed = dns_any_cens || http_cens;
    v->blockpage_optin =
        !v->blockpage_confirmed && (dns_sys_optin || v->blockpage.kind == CS_FP_KIND_OPTIN);
  }
  if (c->opt->ooni_strict) return;

  /* 0. a look-alike page from a hijacked address is DNS-based blocking (deviation 9) */
  if (lookalike_from_hijacked_dns(c)) {
    v->blocking = CS_WC_BLOCKING_DNS, v->accessible = CS_WC_NO;
    v->reason = "dns.lookalike_page";
  }

  /* 1. a censorship fingerprint always wins (conclusive even without a control) */
  bool undecided = v->blocking == CS_WC_BLOCKING_NULL || v->blocking == CS_WC_BLOCKING_FALSE;
  if (dns_cens || http_cens) {
    /* keep OONI's mechanism when it already found blocking; otherwise the fingerprint's */
    if (undecided) {
      v->blocking = dns_cens ? CS_WC_BLOCKING_DNS : CS_WC_BLOCKING_HTTP_DIFF;
      v->accessible = CS_WC_NO;
      v->reason = dns_cens ? "fingerprint.dns" : "fingerprint.http";
    }
  } else {
    /* 2. no usable control: never a blocking verdict from inference alone */
    if (!c->ctl_ok && v->blocking != CS_WC_BLOCKING_NULL &&
        !(v->blocking == CS_WC_BLOCKING_FALSE && v->accessible == CS_WC_YES &&
          (!strcmp(v->reason, "lte.http.final_over_tls") ||
           !strcmp(v->reason, "v0.4.https_success")))) {
      v->blocking = CS_WC_BLOCKING_NULL, v->accessible = CS_WC_UNKNOWN, v->reason = "no_control";
    }
    /* 3. server-side blocks shown to the probe only are not censorship */
    if (v->blocking == CS_WC_BLOCKING_HTTP_DIFF && !dns_inconsistent(v)) {
      const cs_wc_http *fin = o->nhttp ? &o->http[0] : NULL;
      const char *ss = server_side_block(fin, &o->ctl, v);
      if (!ss && hfound && hm.kind == CS_FP_KIND_FALSE_POSITIVE && hresp == fin) ss = hm.name;
      if (ss) {
        v->server_side_block = ss;
        v->blocking = CS_WC_BLOCKING_FALSE, v->accessible = CS_WC_NO,
        v->reason = "server_side_block";
      }
    }
  }
  if (v->blockpage_optin && !v->blockpage_confirmed)
    v->reason = cs_arena_printf(c->a, "%s+optin_filter", v->reason ? v->reason : "");
}

/* ---- entry points ------------------------------------------------------------------------ */

cs_wc_algo cs_wc_algo_for(const cs_wc_obs *o, bool ooni_strict) {
  if (o->ver[0] < 0 || o->ver[0] > 0 || o->ver[1] > 5) return CS_WC_ALGO_LTE;
  if (o->ver[1] == 5)
    /* 0.5.0-0.5.26 decided from LTE's own flags; the classic analysis from 0.5.27 (probe-cli
     * #1392). The default mode re-analyses every 0.5.x record with the classic one. */
    return ooni_strict && o->ver[2] >= 0 && o->ver[2] <= 26 ? CS_WC_ALGO_LTE_ORIG : CS_WC_ALGO_LTE;
  if (o->ver[1] == 4) return CS_WC_ALGO_V04;
  return CS_WC_ALGO_LEGACY;
}

void cs_wc_verdict_compute(cs_arena *a, const cs_wc_obs *o, const cs_wc_options *opt,
                           cs_wc_verdict *v) {
  static const cs_wc_options defopt = {0};
  memset(v, 0, sizeof *v);
  v->body_length_match = v->status_code_match = v->headers_match = v->title_match = CS_WC_UNKNOWN;
  v->accessible = CS_WC_UNKNOWN;
  v->ooni_accessible = CS_WC_UNKNOWN;
  v->reason = "none";
  if (!opt) opt = &defopt;
  ctx c = {.a = a, .o = o, .opt = opt, .v = v, .host = ""};

  /* the URL: input, else the first request of the chain */
  const char *url = o->input;
  if (!url && o->nhttp) url = o->http[o->nhttp - 1].url;
  cs_url u;
  char err[64];
  if (url && cs_url_parse(a, url, &u, err, sizeof err) == 0) {
    c.host = u.host;
    c.host_is_ip = u.host_is_ip;
    if (u.host_is_ip) c.host_ip = cs_ip_canon(a, u.host);
    c.https = !strcmp(u.scheme, "https");
  }
  c.ctl_ok = o->ctl.present && !o->control_failure;
  for (size_t i = 0; i < o->ndns && !c.any_system; i++)
    c.any_system = engine_is_system(o->dns[i].engine);
  ctl_asns_init(&c);

  cs_wc_algo algo = opt->algo == CS_WC_ALGO_AUTO ? cs_wc_algo_for(o, opt->ooni_strict) : opt->algo;
  switch (algo) {
  case CS_WC_ALGO_LTE_ORIG: lte_orig(&c); break;
  case CS_WC_ALGO_V04: v04(&c); break;
  case CS_WC_ALGO_LEGACY: legacy(&c); break;
  default: lte(&c); break;
  }
  if (!v->reason) v->reason = "none";
  deviations(&c);
  if (!opt->ooni_strict) {
    /* OONI's own answer (x_ooni_blocking): the same algorithm with no deviation at all, some
     * of which act inside the walk (TLS evidence, TH without the page) */
    cs_wc_options strict = *opt;
    strict.ooni_strict = true;
    strict.fingerprints = NULL;
    cs_wc_verdict sv;
    cs_wc_verdict_compute(a, o, &strict, &sv);
    v->ooni_blocking = sv.blocking;
    v->ooni_accessible = sv.accessible;
  }
  if (v->blocking != v->ooni_blocking || v->accessible != v->ooni_accessible)
    v->ooni_blocking_note = cs_arena_printf(a, "ooni:%s", cs_wc_blocking_str(v->ooni_blocking));
  /* the outcome, once, for everyone downstream (wc_outcome.c); out of memory: no evidence */
  cs_wc_summary sum;
  cs_wc_summarize(a, o, v, &sum);
  (void)cs_wc_outcome_compute(a, &sum, &v->outcome);
}

int cs_wc_analyze_test_keys(cs_arena *a, const cs_jval *tk, const char *input,
                            const char *test_version, const cs_wc_options *opt, cs_wc_verdict *v) {
  cs_wc_obs o;
  int rc = cs_wc_obs_read_test_keys(a, tk, input, test_version, &o);
  cs_wc_verdict_compute(a, &o, opt, v);
  return rc;
}

int cs_wc_analyze(cs_arena *a, const cs_jval *m, const cs_wc_options *opt, cs_wc_verdict *v) {
  cs_wc_obs o;
  int rc = cs_wc_obs_read(a, cs_wc_unwrap(a, m), &o);
  cs_wc_verdict_compute(a, &o, opt, v);
  return rc;
}

/* ---- output ------------------------------------------------------------------------------ */

const char *cs_wc_blocking_str(cs_wc_blocking b) {
  switch (b) {
  case CS_WC_BLOCKING_FALSE: return "false";
  case CS_WC_BLOCKING_DNS: return "dns";
  case CS_WC_BLOCKING_TCP_IP: return "tcp_ip";
  case CS_WC_BLOCKING_HTTP_FAILURE: return "http-failure";
  case CS_WC_BLOCKING_HTTP_DIFF: return "http-diff";
  default: return "null";
  }
}

void cs_wc_write_blocking(cs_jw *w, cs_wc_blocking b) {
  if (b == CS_WC_BLOCKING_NULL) cs_jw_null(w);
  else if (b == CS_WC_BLOCKING_FALSE) cs_jw_bool(w, false);
  else cs_jw_str(w, cs_wc_blocking_str(b));
}

static void ktri(cs_jw *w, const char *k, cs_wc_tri t) {
  if (t == CS_WC_UNKNOWN) cs_jw_knull(w, k);
  else cs_jw_kbool(w, k, t == CS_WC_YES);
}

void cs_wc_verdict_write_ooni(cs_jw *w, const cs_wc_verdict *v) {
  cs_jw_kstr(w, "dns_experiment_failure", v->dns_experiment_failure);
  cs_jw_kstr(w, "dns_consistency", v->dns_consistency);
  cs_jw_kstr(w, "http_experiment_failure", v->http_experiment_failure);
  ktri(w, "body_length_match", v->body_length_match);
  cs_jw_kdouble(w, "body_proportion", v->body_proportion);
  ktri(w, "status_code_match", v->status_code_match);
  ktri(w, "headers_match", v->headers_match);
  ktri(w, "title_match", v->title_match);
  cs_jw_key(w, "blocking");
  cs_wc_write_blocking(w, v->blocking);
  ktri(w, "accessible", v->accessible);
}

void cs_wc_verdict_write(cs_jw *w, const cs_wc_verdict *v) {
  cs_wc_verdict_write_ooni(w, v);
  cs_jw_kstr(w, "x_analysis_reason", v->reason);
  cs_jw_kstr(w, "x_analysis_algorithm", v->algorithm);
  if (v->algorithm && !strncmp(v->algorithm, "lte", 3)) {
    cs_jw_kint(w, "x_dns_flags", v->dns_flags);
    cs_jw_kint(w, "x_blocking_flags", v->blocking_flags);
    cs_jw_kint(w, "x_null_null_flags", v->null_null_flags);
  }
  if (v->ooni_blocking != v->blocking || v->ooni_accessible != v->accessible) {
    cs_jw_key(w, "x_ooni_blocking");
    cs_wc_write_blocking(w, v->ooni_blocking);
    ktri(w, "x_ooni_accessible", v->ooni_accessible);
  }
  cs_jw_kstr(w, "x_server_side_block", v->server_side_block);
  cs_jw_key(w, "x_blockpage");
  if (v->blockpage_found) {
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "name", v->blockpage.name);
    cs_jw_kstr(w, "source", v->blockpage.source);
    cs_jw_kstr(w, "scope", v->blockpage.scope);
    cs_jw_kstr(w, "expected_countries", v->blockpage.expected_countries);
    cs_jw_kstr(w, "location", v->blockpage.location);
    cs_jw_kstr(w, "kind", cs_fp_kind_str(v->blockpage.kind));
    cs_jw_obj_close(w);
  } else {
    cs_jw_null(w);
  }
  cs_jw_kbool(w, "x_blockpage_confirmed", v->blockpage_confirmed);
  cs_jw_kbool(w, "x_blockpage_optin", v->blockpage_optin);
  cs_outcome_write(w, &v->outcome);
}
