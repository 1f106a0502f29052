/* thproto.c - the test-helper wire protocol (see thproto.h): pc:internal/model/th.go THRequest
 * and THResponse as JSON (RFC 8259, written in Go's encoding/json order), and oohelperd's
 * failure mappings (pc:internal/oohelperd dns.go, tcptls.go, http.go). Everything read is
 * hostile: type-checked, bounded, never trusted to be NUL-free or sorted. */
#include "thproto/thproto.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/ipnet.h"
#include "util/url.h"

/* ---- failure vocabulary ------------------------------------------------------------------ */

static const char *const th_names[CS_THF__COUNT] = {
#define CS_TH_FAILURE_NAME(code, str) [CS_THF_##code] = (str),
    CS_TH_FAILURE_MAP(CS_TH_FAILURE_NAME)
#undef CS_TH_FAILURE_NAME
};

const char *cs_th_failure_str(cs_th_failure f) {
  if ((unsigned)f >= CS_THF__COUNT) return NULL;
  return th_names[f];
}

bool cs_th_failure_is(const char *s, cs_th_failure f) {
  const char *want = cs_th_failure_str(f);
  if (!s || !want) return !s && f == CS_THF_NONE;
  return strcmp(s, want) == 0;
}

/* dns.go: NXDOMAIN -> dns_name_error, no answer -> success with addrs [], any other DNS
 * error -> dns_server_failure, anything else -> unknown_error. */
const char *cs_th_map_dns_failure(const char *f) {
  if (!f) return NULL;
  if (!strcmp(f, "dns_nxdomain_error")) return cs_th_failure_str(CS_THF_DNS_NAME_ERROR);
  if (!strcmp(f, "dns_no_answer")) return NULL; /* with addrs [] */
  if (!strncmp(f, "dns_", 4)) return cs_th_failure_str(CS_THF_DNS_SERVER_FAILURE);
  return cs_th_failure_str(CS_THF_UNKNOWN_ERROR);
}

/* tcptls.go: timeout and refused keep their meaning, everything else is connect_error. */
const char *cs_th_map_tcp_failure(const char *f) {
  if (!f) return NULL;
  if (!strcmp(f, "generic_timeout_error")) return cs_th_failure_str(CS_THF_GENERIC_TIMEOUT_ERROR);
  if (!strcmp(f, "connection_refused")) return cs_th_failure_str(CS_THF_CONNECTION_REFUSED_ERROR);
  return cs_th_failure_str(CS_THF_CONNECT_ERROR);
}

/* http.go: a resolve failure -> dns_lookup_error, timeout, refused, else unknown_error. */
const char *cs_th_map_http_failure(const char *f, const char *failed_op) {
  if (!f) return NULL;
  if (!strncmp(f, "dns_", 4) || (failed_op && !strcmp(failed_op, "resolve")))
    return cs_th_failure_str(CS_THF_DNS_LOOKUP_ERROR);
  if (!strcmp(f, "generic_timeout_error")) return cs_th_failure_str(CS_THF_GENERIC_TIMEOUT_ERROR);
  if (!strcmp(f, "connection_refused")) return cs_th_failure_str(CS_THF_CONNECTION_REFUSED_ERROR);
  return cs_th_failure_str(CS_THF_UNKNOWN_ERROR);
}

/* ---- request ----------------------------------------------------------------------------- */

int cs_th_request_encode(cs_buf *out, const cs_th_request *r) {
  if (!out || !r || !r->url || (r->nheaders && !r->headers) || (r->nendpoints && !r->endpoints))
    return -1;
  const cs_th_hdr *h = r->headers;
  for (size_t i = 0; i < r->nheaders; i++)
    if (!h[i].name || !h[i].value) return -1;
  cs_jw w;
  cs_jw_init(&w, out);
  cs_jw_obj_open(&w);
  cs_jw_kstr(&w, "http_request", r->url);
  cs_jw_key(&w, "http_request_headers");
  cs_jw_obj_open(&w);
  for (size_t i = 0; i < r->nheaders; i++) {
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++) seen = !strcasecmp(h[j].name, h[i].name);
    if (seen) continue; /* written with its first spelling */
    cs_jw_key(&w, h[i].name);
    cs_jw_arr_open(&w);
    for (size_t j = i; j < r->nheaders; j++)
      if (!strcasecmp(h[j].name, h[i].name)) cs_jw_str(&w, h[j].value);
    cs_jw_arr_close(&w);
  }
  cs_jw_obj_close(&w);
  cs_jw_key(&w, "tcp_connect");
  cs_jw_arr_open(&w);
  for (size_t i = 0; i < r->nendpoints; i++) cs_jw_str(&w, r->endpoints[i] ? r->endpoints[i] : "");
  cs_jw_arr_close(&w);
  cs_jw_kbool(&w, "x_quic_enabled", r->quic);
  if (r->want_chain) cs_jw_kbool(&w, "x_tls_chain", true);
  if (r->want_body_sha256) cs_jw_kbool(&w, "x_body_sha256", true);
  cs_jw_obj_close(&w);
  return out->overflow ? -1 : 0;
}

static int derr(char *err, size_t errlen, const char *msg) {
  if (errlen) snprintf(err, errlen, "%s", msg);
  return -1;
}

int cs_th_request_decode(cs_arena *a, const char *json, size_t n, cs_th_request *out, char *err,
                         size_t errlen) {
  memset(out, 0, sizeof *out);
  cs_arena *tmp = cs_arena_new(64u << 20);
  if (!tmp) return derr(err, errlen, "out of memory");
  int rc = -1;
  char jerr[96];
  cs_json_limits lim = {.max_depth = 8, .max_nodes = 1u << 16};
  cs_jval *v = cs_json_parse(tmp, json, n, &lim, jerr, sizeof jerr);
  const char *url = NULL;
  const cs_jval *hdrs = NULL, *eps = NULL;
  size_t nvals = 0;
  if (!v) {
    if (errlen) snprintf(err, errlen, "invalid JSON: %s", jerr);
    goto out;
  }
  if (v->type != CS_JOBJ) {
    derr(err, errlen, "the request is not a JSON object");
    goto out;
  }
  for (size_t i = 0; i < v->len; i++) {
    const char *k = v->keys[i];
    const cs_jval *x = v->kids[i];
    if (x->type == CS_JNULL) continue;
    if (!strcmp(k, "http_request")) {
      if (x->type != CS_JSTR || strlen(x->str) != x->len) {
        derr(err, errlen, "http_request is not a string");
        goto out;
      }
      url = x->str;
    } else if (!strcmp(k, "http_request_headers")) {
      if (x->type != CS_JOBJ) {
        derr(err, errlen, "http_request_headers is not an object");
        goto out;
      }
      for (size_t j = 0; j < x->len; j++) {
        const cs_jval *hv = x->kids[j];
        if (hv->type == CS_JNULL) continue;
        bool ok = hv->type == CS_JARR;
        for (size_t m = 0; ok && m < hv->len; m++) ok = hv->kids[m]->type == CS_JSTR;
        if (!ok) {
          derr(err, errlen, "a header value is not an array of strings");
          goto out;
        }
      }
      hdrs = x;
    } else if (!strcmp(k, "tcp_connect")) {
      if (x->type != CS_JARR) {
        derr(err, errlen, "tcp_connect is not an array");
        goto out;
      }
      if (x->len > CS_TH_MAX_REQ_ENDPOINTS) {
        derr(err, errlen, "too many tcp_connect endpoints");
        goto out;
      }
      for (size_t j = 0; j < x->len; j++)
        if (x->kids[j]->type != CS_JSTR) {
          derr(err, errlen, "a tcp_connect entry is not a string");
          goto out;
        }
      eps = x;
    } else if (!strcmp(k, "x_quic_enabled")) {
      if (x->type != CS_JBOOL) {
        derr(err, errlen, "x_quic_enabled is not a boolean");
        goto out;
      }
      out->quic = x->b;
    } else if (!strcmp(k, "x_tls_chain") || !strcmp(k, "x_body_sha256")) {
      if (x->type != CS_JBOOL) {
        derr(err, errlen, "an x_ extension flag is not a boolean");
        goto out;
      }
      if (k[2] == 't') out->want_chain = x->b;
      else out->want_body_sha256 = x->b;
    }
  }
  if (!url || !*url) {
    derr(err, errlen, "missing http_request");
    goto out;
  }
  cs_url u;
  char uerr[96];
  if (cs_url_parse(tmp, url, &u, uerr, sizeof uerr) < 0) {
    if (errlen) snprintf(err, errlen, "invalid http_request URL: %s", uerr);
    goto out;
  }
  if (!(out->url = cs_arena_strdup(a, url))) goto oom;
  for (size_t j = 0; hdrs && j < hdrs->len; j++) /* the last http_request_headers key */
    if (hdrs->kids[j]->type == CS_JARR) nvals += hdrs->kids[j]->len;
  if (nvals) {
    cs_th_hdr *h = cs_arena_alloc(a, nvals * sizeof *h);
    if (!h) goto oom;
    for (size_t j = 0; j < hdrs->len; j++) {
      const cs_jval *hv = hdrs->kids[j];
      if (hv->type != CS_JARR || !hv->len) continue;
      const char *name = cs_arena_strdup(a, hdrs->keys[j]);
      if (!name) goto oom;
      for (size_t m = 0; m < hv->len; m++) {
        h[out->nheaders].name = name;
        if (!(h[out->nheaders].value = cs_arena_strdup(a, hv->kids[m]->str))) goto oom;
        out->nheaders++;
      }
    }
    out->headers = h;
  }
  if (eps && eps->len) {
    const char **e = cs_arena_alloc(a, eps->len * sizeof *e);
    if (!e) goto oom;
    for (size_t j = 0; j < eps->len; j++)
      if (!(e[out->nendpoints++] = cs_arena_strdup(a, eps->kids[j]->str))) goto oom;
    out->endpoints = e;
  }
  rc = 0;
  goto out;
oom:
  derr(err, errlen, "out of memory");
out:
  cs_arena_free(tmp);
  if (rc < 0) memset(out, 0, sizeof *out);
  return rc;
}

const char *cs_th_request_header(const cs_th_request *r, const char *name) {
  for (size_t i = 0; i < r->nheaders; i++)
    if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
  return NULL;
}

/* ---- response: writer ------------------------------------------------------------------- */

typedef struct {
  const char *k;
  size_t i;
} key_ix;

static int cmp_key(const void *a, const void *b) {
  const key_ix *x = a, *y = b;
  int c = strcmp(x->k, y->k);
  return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* The n records at base (size bytes each) in the order of their key, the const char * member
 * at offset off (NULL sorts as ""), as Go's encoding/json orders map keys. NULL when out of
 * memory or n == 0. */
static key_ix *sorted_keys(const void *base, size_t n, size_t size, size_t off) {
  if (!n) return NULL;
  key_ix *p = malloc(n * sizeof *p);
  if (!p) return NULL;
  for (size_t i = 0; i < n; i++) {
    const char *k;
    memcpy(&k, (const char *)base + i * size + off, sizeof k);
    p[i] = (key_ix){k ? k : "", i};
  }
  qsort(p, n, sizeof *p, cmp_key);
  return p;
}

static void write_eps(cs_jw *w, const cs_th_ep *e, const key_ix *ix, size_t n, bool tls) {
  cs_jw_obj_open(w);
  for (size_t i = 0; i < n; i++) {
    const cs_th_ep *x = &e[ix[i].i];
    cs_jw_key(w, ix[i].k);
    cs_jw_obj_open(w);
    if (tls) cs_jw_kstr(w, "server_name", x->server_name);
    cs_jw_kbool(w, "status", x->status);
    cs_jw_kstr(w, "failure", x->failure);
    if (tls && (x->nchain || x->issuer)) { /* extension: only when asked */
      cs_jw_key(w, "x_chain_sha256");
      cs_jw_arr_open(w);
      for (size_t j = 0; j < x->nchain; j++) cs_jw_str(w, x->chain_sha256[j]);
      cs_jw_arr_close(w);
      cs_jw_kstr(w, "x_issuer", x->issuer);
      cs_jw_kstr(w, "x_issuer_key", x->issuer_key);
    }
    cs_jw_obj_close(w);
  }
  cs_jw_obj_close(w);
}

int cs_th_response_write(cs_buf *out, const cs_th_response *r) {
  key_ix *tcp = sorted_keys(r->tcp, r->ntcp, sizeof *r->tcp, offsetof(cs_th_ep, endpoint));
  key_ix *tls = sorted_keys(r->tls, r->ntls, sizeof *r->tls, offsetof(cs_th_ep, endpoint));
  key_ix *hdr = sorted_keys(r->http_headers, r->nhttp_headers, sizeof *r->http_headers,
                            offsetof(cs_th_header, name));
  key_ix *ipi = sorted_keys(r->ipinfo, r->nipinfo, sizeof *r->ipinfo, offsetof(cs_th_ipinfo, ip));
  int rc = -1;
  if ((r->ntcp && !tcp) || (r->ntls && !tls) || (r->nhttp_headers && !hdr) || (r->nipinfo && !ipi))
    goto out;
  cs_jw w;
  cs_jw_init(&w, out);
  cs_jw_obj_open(&w);
  cs_jw_key(&w, "tcp_connect");
  write_eps(&w, r->tcp, tcp, r->ntcp, false);
  if (r->ntls) { /* omitempty */
    cs_jw_key(&w, "tls_handshake");
    write_eps(&w, r->tls, tls, r->ntls, true);
  }
  cs_jw_key(&w, "quic_handshake");
  cs_jw_obj_open(&w);
  cs_jw_obj_close(&w);

  /* THHTTPRequestResult, in its field order */
  cs_jw_key(&w, "http_request");
  cs_jw_obj_open(&w);
  cs_jw_kint(&w, "body_length", r->http_body_length);
  cs_jw_kstr(&w, "discovered_h3_endpoint", r->http_discovered_h3 ? r->http_discovered_h3 : "");
  cs_jw_kstr(&w, "failure", r->http_failure);
  cs_jw_kstr(&w, "title", r->http_title ? r->http_title : "");
  cs_jw_key(&w, "headers");
  cs_jw_obj_open(&w);
  for (size_t i = 0; i < r->nhttp_headers; i++) {
    const cs_th_header *h = &r->http_headers[hdr[i].i];
    cs_jw_key(&w, hdr[i].k);
    cs_jw_strn(&w, h->value ? h->value : "", h->value ? h->value_len : 0);
  }
  cs_jw_obj_close(&w);
  cs_jw_kint(&w, "status_code", r->http_status);
  if (r->http_body_sha256) { /* extension: only when asked */
    cs_jw_kstr(&w, "x_body_sha256", r->http_body_sha256);
    if (r->http_body_truncated < 0) cs_jw_knull(&w, "x_body_truncated"); /* unknown */
    else cs_jw_kbool(&w, "x_body_truncated", r->http_body_truncated == 1);
  }
  cs_jw_obj_close(&w);
  cs_jw_knull(&w, "http3_request");

  cs_jw_key(&w, "dns");
  cs_jw_obj_open(&w);
  cs_jw_kstr(&w, "failure", r->dns_failure);
  cs_jw_key(&w, "addrs");
  cs_jw_arr_open(&w);
  for (size_t i = 0; i < r->ndns_addrs; i++) cs_jw_str(&w, r->dns_addrs[i]);
  cs_jw_arr_close(&w);
  cs_jw_obj_close(&w);

  if (r->nipinfo) { /* omitempty */
    cs_jw_key(&w, "ip_info");
    cs_jw_obj_open(&w);
    for (size_t i = 0; i < r->nipinfo; i++) {
      const cs_th_ipinfo *x = &r->ipinfo[ipi[i].i];
      cs_jw_key(&w, ipi[i].k);
      cs_jw_obj_open(&w);
      cs_jw_kint(&w, "asn", x->asn);
      cs_jw_kint(&w, "flags", x->flags);
      cs_jw_obj_close(&w);
    }
    cs_jw_obj_close(&w);
  }
  cs_jw_obj_close(&w);
  rc = out->overflow ? -1 : 0;
out:
  free(tcp), free(tls), free(hdr), free(ipi);
  return rc;
}

/* ---- response: reader ------------------------------------------------------------------- */

static const char *jstr(const cs_jval *v) { return (v && v->type == CS_JSTR) ? v->str : NULL; }

static size_t capped(size_t n) { return n > CS_TH_MAX_ITEMS ? CS_TH_MAX_ITEMS : n; }

/* A SHA-256 in lowercase hex (64 digits), as our helper writes it; NULL otherwise. */
static const char *sha_hex(const cs_jval *v) {
  if (!v || v->type != CS_JSTR || v->len != 64) return NULL;
  for (size_t i = 0; i < 64; i++)
    if (!strchr("0123456789abcdef", v->str[i]) || !v->str[i]) return NULL;
  return v->str;
}

/* The chain extension of a tls_handshake entry (x_chain_sha256, x_issuer, x_issuer_key). */
static void read_chain(cs_arena *a, const cs_jval *v, cs_th_ep *e) {
  const cs_jval *ch = cs_json_get(v, "x_chain_sha256");
  if (ch && ch->type == CS_JARR && ch->len) {
    size_t n = ch->len < CS_TH_MAX_CHAIN ? ch->len : CS_TH_MAX_CHAIN;
    e->chain_sha256 = cs_arena_alloc(a, n * sizeof *e->chain_sha256);
    for (size_t i = 0; e->chain_sha256 && i < n; i++) {
      const char *h = sha_hex(ch->kids[i]);
      if (h) e->chain_sha256[e->nchain++] = h;
    }
  }
  const char *is = cs_json_get_str(v, "x_issuer", NULL);
  if (is && strlen(is) < 1024) e->issuer = is;
  const char *ik = cs_json_get_str(v, "x_issuer_key", NULL);
  if (ik && strlen(ik) < 128) e->issuer_key = ik;
}

static void read_eps(cs_arena *a, const cs_jval *m, bool tls, cs_th_ep **out, size_t *nout) {
  *out = NULL;
  *nout = 0;
  if (!m || m->type != CS_JOBJ || !m->len) return;
  size_t n = capped(m->len);
  cs_th_ep *e = cs_arena_alloc(a, n * sizeof *e);
  if (!e) return;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const cs_jval *v = m->kids[i];
    if (v->type != CS_JOBJ) continue;
    e[k].endpoint = m->keys[i];
    cs_ip ip;
    uint16_t port;
    if (cs_endpoint_parse(e[k].endpoint, &ip, &port)) {
      char s[CS_IPSTR_MAX];
      cs_ip_format(&ip, s);
      e[k].ip = cs_arena_strdup(a, s);
      e[k].port = port;
    }
    e[k].failure = cs_json_get_str(v, "failure", NULL);
    int st = cs_json_get_bool(v, "status", -1);
    e[k].status = st == 1 || (st == -1 && !e[k].failure);
    if (tls) e[k].server_name = cs_json_get_str(v, "server_name", NULL);
    if (tls) read_chain(a, v, &e[k]);
    k++;
  }
  *out = e;
  *nout = k;
}

/* http_request.headers, Go's map[string]string; a list value (some old helpers) gives its
 * first element. Other values read as "". */
static void read_headers(cs_arena *a, const cs_jval *o, cs_th_header **out, size_t *nout) {
  *out = NULL;
  *nout = 0;
  size_t n = o ? capped(o->len) : 0;
  if (!n) return;
  cs_th_header *h = cs_arena_alloc(a, n * sizeof *h);
  if (!h) return;
  for (size_t i = 0; i < n; i++) {
    const cs_jval *v = o->kids[i];
    if (v->type == CS_JARR && v->len > 0) v = v->kids[0];
    h[i].name = o->keys[i];
    h[i].value = v->type == CS_JSTR ? v->str : "";
    h[i].value_len = v->type == CS_JSTR ? v->len : 0;
  }
  *out = h;
  *nout = n;
}

void cs_th_response_read(cs_arena *a, const cs_jval *ctl, cs_th_response *c) {
  memset(c, 0, sizeof *c);
  c->http_body_length = -1;
  c->http_status = -1;
  c->http_body_truncated = -1;
  if (!ctl || ctl->type != CS_JOBJ || !ctl->len) return;
  c->present = true;
  const cs_jval *dns = cs_json_get_obj(ctl, "dns");
  if (dns) {
    c->dns_present = true;
    c->dns_failure = cs_json_get_str(dns, "failure", NULL);
    const cs_jval *addrs = cs_json_get(dns, "addrs");
    size_t n = addrs && addrs->type == CS_JARR ? capped(addrs->len) : 0;
    if (n) c->dns_addrs = cs_arena_alloc(a, n * sizeof *c->dns_addrs);
    if (c->dns_addrs)
      for (size_t i = 0; i < n; i++) {
        const char *s = jstr(addrs->kids[i]);
        if (s) c->dns_addrs[c->ndns_addrs++] = cs_ip_canon(a, s);
      }
  }
  read_eps(a, cs_json_get(ctl, "tcp_connect"), false, &c->tcp, &c->ntcp);
  read_eps(a, cs_json_get(ctl, "tls_handshake"), true, &c->tls, &c->ntls);
  const cs_jval *hr = cs_json_get_obj(ctl, "http_request");
  if (hr) {
    c->http_present = true;
    c->http_failure = cs_json_get_str(hr, "failure", NULL);
    int64_t v;
    if (cs_json_get_i64(hr, "body_length", &v)) c->http_body_length = v;
    c->http_status = cs_json_get_int(hr, "status_code", -1);
    c->http_title = cs_json_get_str(hr, "title", NULL);
    c->http_discovered_h3 = cs_json_get_str(hr, "discovered_h3_endpoint", NULL);
    read_headers(a, cs_json_get_obj(hr, "headers"), &c->http_headers, &c->nhttp_headers);
    c->http_body_sha256 = sha_hex(cs_json_get(hr, "x_body_sha256"));
    int tr = cs_json_get_bool(hr, "x_body_truncated", -1);
    if (c->http_body_sha256) c->http_body_truncated = tr;
  }
  const cs_jval *ii = cs_json_get_obj(ctl, "ip_info");
  if (ii && ii->len) {
    size_t n = capped(ii->len);
    c->ipinfo = cs_arena_alloc(a, n * sizeof *c->ipinfo);
    if (c->ipinfo)
      for (size_t i = 0; i < n; i++) {
        const cs_jval *v = ii->kids[i];
        if (v->type != CS_JOBJ) continue;
        cs_th_ipinfo *x = &c->ipinfo[c->nipinfo++];
        x->ip = cs_ip_canon(a, ii->keys[i]);
        int64_t t;
        if (cs_json_get_i64(v, "asn", &t) && t > 0) x->asn = t;
        if (cs_json_get_i64(v, "flags", &t)) x->flags = t;
      }
  }
}
