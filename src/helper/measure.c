/* measure.c - one control measurement (see measure.h). Mirrors pc:internal/oohelperd:
 * measure.go (DNS first, then endpoints and HTTP concurrently), dns.go, ipinfo.go,
 * tcptls.go and http.go, including their failure mappings; the JSON written is
 * pc:internal/model/th.go THResponse. Deviations are listed in docs/helper.md. */
#include "helper/measure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/certinfo.h"
#include "engine/conn.h"
#include "engine/dns.h"
#include "engine/fetch.h"
#include "engine/http.h"
#include "record/record.h"
#include "thproto/thproto.h"
#include "util/buf.h"
#include "util/failure.h"
#include "util/ipnet.h"
#include "util/url.h"

#define ARENA_SLACK (8u << 20)  /* trace arena: body_cap + this */
#define MAX_RESPONSE (8u << 20) /* response JSON */
#define ENDPOINT_MAX (CS_IPSTR_MAX + 8)
#define CS_HELPER_MAX_H3 320

/* ---- the measurement ------------------------------------------------------------------- */

enum {
  IP_PROBE = CS_TH_IP_PROBE,
  IP_TH = CS_TH_IP_TH,
  IP_BOGON = CS_TH_IP_BOGON,
  IP_VALID = CS_TH_IP_VALID
};

typedef struct {
  cs_ip ip;
  char str[CS_IPSTR_MAX];
  unsigned flags;
} ipinfo;

typedef struct {
  cs_helper_measure *m;
  size_t ipidx;
  uint16_t port;
  char key[ENDPOINT_MAX];
  cs_conn *c;
  bool tls, tcp_ok, tls_ok;
  const char *tcp_failure, *tls_failure;
  /* x_tls_chain (extension): the chain's digests and issuer, in the trace arena */
  const char **chain;
  size_t nchain;
  const char *issuer, *issuer_key;
} endpoint;

struct cs_helper_measure {
  cs_loop *l;
  const cs_helper_mopts *o;
  cs_trace *t;
  cs_th_request req;
  const char *user_agent; /* the request's first User-Agent, NULL when absent */
  cs_url url;
  cs_helper_measure_cb cb;
  void *arg;
  /* dns */
  cs_dns_req *dns;
  const char *dns_failure;
  char (*dns_addrs)[CS_IPSTR_MAX];
  size_t ndns;
  /* ip_info and endpoints */
  ipinfo ips[CS_HELPER_MAX_IPS];
  size_t nips;
  endpoint *eps;
  size_t neps;
  /* http */
  cs_fetch *fetch;
  cs_fetch_opts fo;
  cs_ip fetch_addrs[CS_FETCH_MAX_ADDRS];
  cs_timer fetch_timer;
  const char *http_failure;
  const cs_http_rec *final;
  size_t pending;
  cs_defer d;
};

static void free_measure(cs_helper_measure *m) {
  cs_defer_cancel(m->l, &m->d);
  cs_dns_cancel(m->dns);
  if (m->fetch) cs_fetch_cancel(m->fetch);
  cs_timer_stop(m->l, &m->fetch_timer);
  for (size_t i = 0; i < m->neps; i++) cs_conn_free(m->eps[i].c);
  free(m->eps);
  cs_trace_free(m->t);
  free(m);
}

void cs_helper_measure_cancel(cs_helper_measure *m) {
  if (m) free_measure(m);
}

/* Go's textproto.CanonicalMIMEHeaderKey: "content-type" -> "Content-Type"; names with bytes
 * outside token characters are left as they are. */
static void canon_header(const char *in, char *out, size_t cap) {
  size_t n = strlen(in);
  if (n >= cap) n = cap - 1;
  bool ok = true;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c <= ' ' || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c)) ok = false;
  }
  bool upper = true;
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    if (ok) {
      if (upper && c >= 'a' && c <= 'z') c = (char)(c - 32);
      else if (!upper && c >= 'A' && c <= 'Z') c = (char)(c + 32);
      upper = c == '-';
    }
    out[i] = c;
  }
  out[n] = 0;
}

/* http.go: the final response's headers as Go's Header.Get sees them, one per canonical name
 * with its first value (the writer sorts them). Returns -1 when out of memory. */
static int collect_headers(cs_arena *a, const cs_http_rec *rec, cs_th_response *r) {
  size_t n = rec ? rec->resp.nheaders : 0;
  if (!n) return 0;
  cs_th_header *e = cs_arena_alloc(a, n * sizeof *e);
  if (!e) return -1;
  size_t ne = 0;
  for (size_t i = 0; i < n; i++) {
    char name[256];
    canon_header(rec->resp.headers[i].name, name, sizeof name);
    bool dup = false;
    for (size_t j = 0; j < ne && !dup; j++) dup = !strcmp(e[j].name, name);
    if (dup) continue; /* the first value of each header (Header.Get) */
    if (!(e[ne].name = cs_arena_strdup(a, name))) return -1;
    e[ne].value = (const char *)rec->resp.headers[i].value;
    e[ne].value_len = rec->resp.headers[i].value_len;
    ne++;
  }
  r->http_headers = e;
  r->nhttp_headers = ne;
  return 0;
}

/* http.go parseAltSvc: the alt-authority of the first "h3=" entry of the first response's
 * Alt-Svc header in the redirect chain (RFC 7838 §3), then discoverH3Endpoint's
 * SplitHostPort/JoinHostPort with the URL's host when the authority has no host. */
static void discover_h3(const cs_helper_measure *m, const cs_http_rec *fin, char *out, size_t cap) {
  out[0] = 0;
  const cs_http_rec *first = m->t->requests.head;
  if (!fin || !first || first->code <= 0) return;
  const cs_header *alt = NULL;
  for (size_t i = 0; i < first->resp.nheaders && !alt; i++)
    if (!strcasecmp(first->resp.headers[i].name, "Alt-Svc")) alt = &first->resp.headers[i];
  if (!alt || alt->value_len >= 1024 || memchr(alt->value, 0, alt->value_len)) return;
  char v[1024];
  memcpy(v, alt->value, alt->value_len);
  v[alt->value_len] = 0;
  char *save = NULL;
  for (char *entry = strtok_r(v, ",", &save); entry; entry = strtok_r(NULL, ",", &save)) {
    char *semi = strchr(entry, ';');
    if (semi) *semi = 0;
    char *h = strstr(entry, "h3=");
    if (!h || !h[3]) continue;
    char *a = h + 3;
    size_t al = strlen(a);
    if (al && a[0] == '"') a++, al--;
    if (al && a[al - 1] == '"') a[--al] = 0;
    if (!al) continue;
    /* SplitHostPort */
    const char *host, *port;
    size_t hl;
    if (a[0] == '[') {
      char *rb = strchr(a, ']');
      if (!rb || rb[1] != ':') return;
      host = a + 1, hl = (size_t)(rb - a - 1), port = rb + 2;
    } else {
      char *colon = strrchr(a, ':');
      if (!colon || memchr(a, ':', (size_t)(colon - a))) return;
      host = a, hl = (size_t)(colon - a), port = colon + 1;
    }
    if (strchr(port, '[') || strchr(port, ']')) return;
    char hbuf[300];
    if (hl == 0) { /* ":443": Go's URL.Host, i.e. with the URL's explicit port */
      bool v6 = strchr(m->url.host, ':') != NULL;
      int k = snprintf(hbuf, sizeof hbuf, v6 ? "[%s]" : "%s", m->url.host);
      if (m->url.explicit_port && k > 0 && (size_t)k < sizeof hbuf)
        snprintf(hbuf + k, sizeof hbuf - (size_t)k, ":%u", m->url.port);
    } else {
      snprintf(hbuf, sizeof hbuf, "%.*s", (int)(hl < 299 ? hl : 299), host);
    }
    /* JoinHostPort */
    if (strchr(hbuf, ':')) snprintf(out, cap, "[%s]:%s", hbuf, port);
    else snprintf(out, cap, "%s:%s", hbuf, port);
    return;
  }
}

/* The THResponse of this measurement, written by thproto (Go's order, sorted map keys). */
static void finish_cb(cs_defer *d) {
  cs_helper_measure *m = d->data;
  cs_arena *a = m->t->a;
  cs_th_response r = {0};
  bool oom = false;

  /* tcp_connect for every endpoint; tls_handshake where TCP worked and TLS was tried */
  r.tcp = m->neps ? cs_arena_alloc(a, m->neps * sizeof *r.tcp) : NULL;
  r.tls = m->neps ? cs_arena_alloc(a, m->neps * sizeof *r.tls) : NULL;
  oom |= m->neps && (!r.tcp || !r.tls);
  for (size_t i = 0; !oom && i < m->neps; i++) {
    const endpoint *e = &m->eps[i];
    r.tcp[r.ntcp++] =
        (cs_th_ep){.endpoint = e->key, .status = e->tcp_ok, .failure = e->tcp_failure};
    if (e->tls && e->tcp_ok)
      r.tls[r.ntls++] = (cs_th_ep){.endpoint = e->key,
                                   .server_name = m->url.host,
                                   .status = e->tls_ok,
                                   .failure = e->tls_failure,
                                   .chain_sha256 = e->chain,
                                   .nchain = e->nchain,
                                   .issuer = e->issuer,
                                   .issuer_key = e->issuer_key};
  }

  /* http_request. As http.go: when the final response's head arrived but reading its body
   * failed, status, headers and the partial body are kept next to the failure; any earlier
   * failure gives -1/-1/{}/"". */
  const cs_http_rec *fin = m->final;
  if (m->http_failure && !(fin && fin->code > 0 && fin->failure)) fin = NULL;
  char h3[CS_HELPER_MAX_H3];
  discover_h3(m, fin, h3, sizeof h3);
  r.http_present = true;
  r.http_body_length = fin ? (int64_t)fin->resp.body_len : -1;
  r.http_discovered_h3 = h3;
  r.http_failure = m->http_failure;
  r.http_title = fin ? cs_http_rec_title(m->t, fin) : "";
  oom |= collect_headers(a, fin, &r) < 0;
  r.http_status = fin ? fin->code : -1;
  char body_sha[CS_SHA256_HEX];
  if (m->req.want_body_sha256 && fin && fin->code > 0 && !fin->failure) {
    cs_sha256_hex(fin->resp.body, fin->resp.body_len, body_sha);
    r.http_body_sha256 = body_sha[0] ? body_sha : NULL;
    r.http_body_truncated = fin->resp.body_is_truncated;
  }

  r.dns_present = true;
  r.dns_failure = m->dns_failure;
  r.dns_addrs = m->ndns ? cs_arena_alloc(a, m->ndns * sizeof *r.dns_addrs) : NULL;
  oom |= m->ndns && !r.dns_addrs;
  for (size_t i = 0; !oom && i < m->ndns; i++) r.dns_addrs[r.ndns_addrs++] = m->dns_addrs[i];

  cs_th_ipinfo ii[CS_HELPER_MAX_IPS];
  for (size_t i = 0; i < m->nips; i++) /* asn 0: no geoip database, see docs/helper.md */
    ii[i] = (cs_th_ipinfo){.ip = m->ips[i].str, .asn = 0, .flags = m->ips[i].flags};
  r.ipinfo = ii;
  r.nipinfo = m->nips;

  cs_buf b;
  cs_buf_init(&b, MAX_RESPONSE);
  const char *s = oom || cs_th_response_write(&b, &r) < 0 ? NULL : cs_buf_cstr(&b);
  if (!s) m->cb(m->arg, 500, "{\"error\":\"out of memory\"}", 25);
  else m->cb(m->arg, 200, s, b.len);
  cs_buf_free(&b);
  free_measure(m);
}

static void step_done(cs_helper_measure *m) {
  if (--m->pending == 0) cs_defer_call(m->l, &m->d, finish_cb, m);
}

/* ---- endpoints: TCP connect (+ TLS on 443), tcptls.go ---------------------------------- */

/* x_tls_chain: the digests of the chain the handshake saw (whatever its verdict), so the
 * probe can compare its own chain with ours (docs/forensics.md, "TLS interception"). */
static void record_chain(endpoint *e, const cs_tls_rec *rec) {
  cs_arena *a = e->m->t->a;
  size_t n = rec->npeer_certificates;
  if (!n) return;
  if (n > CS_TH_MAX_CHAIN) n = CS_TH_MAX_CHAIN;
  const char **ch = cs_arena_alloc(a, n * sizeof *ch);
  if (!ch) return;
  for (size_t i = 0; i < n; i++) {
    char hex[CS_SHA256_HEX];
    cs_sha256_hex(rec->peer_certificates[i].der, rec->peer_certificates[i].len, hex);
    if (!hex[0] || !(ch[e->nchain] = cs_arena_strdup(a, hex))) break;
    e->nchain++;
  }
  e->chain = ch;
  cs_chain_issuer is;
  cs_chain_issuer_get(rec->peer_certificates, rec->npeer_certificates, &is);
  e->issuer = cs_arena_strdup(a, is.issuer);
  e->issuer_key = cs_arena_strdup(a, is.issuer_key);
}

static void on_tls(cs_conn *c, const cs_tls_rec *rec, const char *failure, void *data) {
  endpoint *e = data;
  if (rec && e->m->req.want_chain) record_chain(e, rec);
  e->tls_ok = failure == NULL;
  e->tls_failure = failure; /* not mapped (OONI strings such as ssl_invalid_hostname) */
  if (e->tls_ok) e->m->ips[e->ipidx].flags |= IP_VALID;
  cs_conn_free(c);
  e->c = NULL;
  step_done(e->m);
}

static void on_connect(cs_conn *c, const char *failure, void *data) {
  endpoint *e = data;
  cs_helper_measure *m = e->m;
  if (failure) {
    e->tcp_failure = cs_th_map_tcp_failure(failure);
    cs_conn_free(c);
    e->c = NULL;
    step_done(m);
    return;
  }
  e->tcp_ok = true;
  if (e->tls) {
    cs_tls_opts to = {.sni = m->url.host, .timeout = m->o->tls_timeout};
    if (m->url.host_is_ip) to.sni = NULL, to.verify_name = m->url.host;
    if (cs_tls_handshake(c, m->o->tls, &to, on_tls, e) == 0) return;
    e->tls_failure = CS_FAILURE_UNKNOWN_CONST("cannot start the TLS handshake");
  }
  cs_conn_free(c);
  e->c = NULL;
  step_done(m);
}

/* ---- HTTP (http.go) -------------------------------------------------------------------- */

static void on_fetch(void *arg, const cs_fetch_result *r) {
  cs_helper_measure *m = arg;
  m->fetch = NULL; /* freed by the engine after this returns */
  cs_timer_stop(m->l, &m->fetch_timer);
  m->final = r->final;
  m->http_failure = cs_th_map_http_failure(r->failure, r->failed_op);
  if (!r->failure && !r->final) m->http_failure = cs_th_failure_str(CS_THF_UNKNOWN_ERROR);
  step_done(m);
}

static void on_fetch_timeout(cs_timer *tm) {
  cs_helper_measure *m = tm->data;
  cs_fetch_cancel(m->fetch);
  m->fetch = NULL;
  m->http_failure = cs_th_failure_str(CS_THF_GENERIC_TIMEOUT_ERROR); /* Go's http.Client.Timeout */
  step_done(m);
}

static void start_fetch(cs_helper_measure *m) {
  size_t n = 0;
  cs_ip lit;
  if (m->url.host_is_ip && cs_ip_parse(m->url.host, &lit) && !cs_ip_is_bogon(&lit))
    m->fetch_addrs[n++] = lit;
  for (size_t i = 0; i < m->nips && n < CS_FETCH_MAX_ADDRS; i++) {
    /* depth 0 uses the TH's own addresses (or the IP literal), never a bogon: OONI's DoH
     * resolver for the HTTP client rejects bogons (dns_bogon_error -> dns_lookup_error). */
    if (!(m->ips[i].flags & IP_TH) || (m->ips[i].flags & IP_BOGON)) continue;
    m->fetch_addrs[n++] = m->ips[i].ip;
  }
  m->pending++;
  if (n == 0) {
    m->http_failure = cs_th_failure_str(CS_THF_DNS_LOOKUP_ERROR);
    step_done(m);
    return;
  }
  cs_ip lo;
  cs_ip_parse("127.0.0.1", &lo);
  m->fo = (cs_fetch_opts){
      .resolver = m->o->resolver ? m->o->resolver : "system",
      .tls = m->o->tls,
      .dns_timeout = m->o->dns_timeout,
      .tcp_timeout = m->o->tcp_timeout,
      .tls_timeout = m->o->tls_timeout,
      .http_timeout = m->o->http_timeout,
      .body_cap = m->o->body_cap ? m->o->body_cap : CS_HELPER_FETCH_BODY_CAP,
      .addrs = m->fetch_addrs,
      .naddrs = n,
      /* redirect hops: never dial loopback unless the operator made it a lab net */
      .skip_loopback = cs_ip_is_bogon(&lo),
      /* and never any other bogon (no request forgery into private networks) */
      .skip_bogons = true,
      /* oohelperd reports a redirect it cannot follow as the final response (ooni/probe#2628) */
      .keep_unfollowable_redirect = true,
      .user_agent = m->user_agent,
  };
  m->fetch = cs_fetch_start(m->l, m->t, m->req.url, &m->fo, on_fetch, m);
  if (!m->fetch) {
    m->http_failure = cs_th_failure_str(CS_THF_UNKNOWN_ERROR);
    step_done(m);
    return;
  }
  double ht = m->o->http_timeout > 0 ? m->o->http_timeout : CS_HELPER_HTTP_TIMEOUT;
  cs_timer_start(m->l, &m->fetch_timer, ht, on_fetch_timeout, m);
}

/* ---- ip_info (ipinfo.go) and the endpoint plan (ipInfoToEndpoints) ---------------------- */

static void add_ip(cs_helper_measure *m, const cs_ip *ip, unsigned flag) {
  for (size_t i = 0; i < m->nips; i++)
    if (m->ips[i].ip.family == ip->family && !memcmp(m->ips[i].ip.b, ip->b, 16)) {
      m->ips[i].flags |= flag;
      return;
    }
  if (m->nips == CS_HELPER_MAX_IPS) return;
  ipinfo *ii = &m->ips[m->nips++];
  memset(ii, 0, sizeof *ii);
  ii->ip = *ip;
  cs_ip_format(ip, ii->str);
  ii->flags = flag | (cs_ip_is_bogon(ip) ? IP_BOGON : 0);
}

static void phase2(cs_helper_measure *m) {
  /* the TH's own addresses first, so that the CS_HELPER_MAX_IPS cap never drops them */
  for (size_t i = 0; i < m->ndns; i++) {
    cs_ip ip;
    if (cs_ip_parse(m->dns_addrs[i], &ip)) add_ip(m, &ip, IP_TH);
  }
  for (size_t i = 0; i < m->req.nendpoints; i++) {
    cs_ip ip;
    uint16_t port;
    if (cs_endpoint_parse(m->req.endpoints[i], &ip, &port)) add_ip(m, &ip, IP_PROBE);
  }
  uint16_t ports[2];
  size_t nports;
  if (m->url.explicit_port) ports[0] = m->url.port, nports = 1;
  else if (!strcmp(m->url.scheme, "https")) ports[0] = 443, nports = 1;
  else ports[0] = 80, ports[1] = 443, nports = 2;

  m->eps = calloc(CS_HELPER_MAX_ENDPOINTS, sizeof *m->eps);
  m->pending = 1; /* held until every step has started */
  for (size_t i = 0; m->eps && i < m->nips; i++) {
    if (m->ips[i].flags & IP_BOGON) continue;
    for (size_t p = 0; p < nports && m->neps < CS_HELPER_MAX_ENDPOINTS; p++) {
      endpoint *e = &m->eps[m->neps++];
      e->m = m;
      e->ipidx = i;
      e->port = ports[p];
      e->tls = ports[p] == (m->o->tls_port ? m->o->tls_port : 443);
      cs_endpoint_format(&m->ips[i].ip, ports[p], e->key, sizeof e->key);
      cs_conn_opts co = {.connect_timeout =
                             m->o->tcp_timeout > 0 ? m->o->tcp_timeout : CS_HELPER_TCP_TIMEOUT,
                         .max_events = 1};
      m->pending++;
      e->c = cs_conn_connect(m->l, m->t, &m->ips[i].ip, ports[p], &co, on_connect, e);
      if (!e->c) {
        e->tcp_failure = cs_th_failure_str(CS_THF_CONNECT_ERROR);
        step_done(m);
      }
    }
  }
  start_fetch(m);
  step_done(m);
}

/* ---- DNS (dns.go) ---------------------------------------------------------------------- */

static void on_dns(void *arg, const cs_dns_result *r) {
  cs_helper_measure *m = arg;
  m->dns = NULL; /* freed by the engine after this returns */
  m->dns_failure = cs_th_map_dns_failure(r->failure);
  size_t n = r->naddrs < CS_HELPER_MAX_IPS ? r->naddrs : CS_HELPER_MAX_IPS;
  m->dns_addrs = n ? cs_arena_alloc(m->t->a, n * sizeof *m->dns_addrs) : NULL;
  for (size_t i = 0; m->dns_addrs && i < n; i++)
    cs_ip_format(&r->addrs[i], m->dns_addrs[m->ndns++]);
  phase2(m);
}

static void start_cb(cs_defer *d) { phase2(d->data); }

cs_helper_measure *cs_helper_measure_start(cs_loop *l, const cs_helper_mopts *opts,
                                           const char *json, size_t n, cs_helper_measure_cb cb,
                                           void *arg, int *status, char *err, size_t errlen) {
  *status = 500;
  if (errlen) snprintf(err, errlen, "out of memory");
  cs_helper_measure *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->l = l;
  m->o = opts;
  m->cb = cb;
  m->arg = arg;
  size_t cap = opts->body_cap ? opts->body_cap : CS_HELPER_FETCH_BODY_CAP;
  m->t = cs_trace_new(cs_loop_now(l), cap + ARENA_SLACK);
  if (!m->t) {
    free(m);
    return NULL;
  }
  if (cs_th_request_decode(m->t->a, json, n, &m->req, err, errlen) < 0 ||
      cs_url_parse(m->t->a, m->req.url, &m->url, err, errlen) < 0) {
    *status = strcmp(err, "out of memory") ? 400 : 500;
    free_measure(m);
    return NULL;
  }
  m->user_agent = cs_th_request_header(&m->req, "User-Agent");
  if (m->url.host_is_ip) { /* no DNS step: dns = {failure: null, addrs: []} */
    cs_defer_call(l, &m->d, start_cb, m);
    return m;
  }
  /* dup_window < 0: complete at the first reply (the TH does not hunt for injection) */
  cs_dns_opts dopts = {.timeout = opts->dns_timeout, .max_events = 1, .dup_window = -1};
  m->dns = cs_dns_lookup_host(l, m->t, m->url.host, opts->resolver ? opts->resolver : "system",
                              &dopts, on_dns, m);
  if (!m->dns) {
    free_measure(m);
    return NULL;
  }
  return m;
}
