/* wcobs.c - reads Web Connectivity measurements (OONI's or ours, web_connectivity 0.0.1 ..
 * 0.5.x, raw or wrapped by the explorer API) into typed observations (wcobs.h).
 *
 * Formats: docs/ooni-methodology.md (d) test keys; spec df-001 httpt (MaybeBinaryData
 * bodies/headers), df-002 dnst, df-005 tcpconnect, df-006 tlshandshake. The control, (c), is
 * read by thproto/thproto.c (cs_th_response_read), the module that also writes it.
 * Hostile input: every field is type-checked; lists are capped at CS_WC_MAX_ITEMS. */
#include "analysis/wcobs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/ipnet.h"
#include "util/title.h"

static const cs_json_limits wrap_limits = {.max_depth = 64, .max_nodes = 1u << 20};

/* ---- small JSON helpers ----------------------------------------------------------------- */

static const char *jstr(const cs_jval *v) { return (v && v->type == CS_JSTR) ? v->str : NULL; }

static cs_wc_tri get_tri(const cs_jval *o, const char *k) {
  const cs_jval *v = cs_json_get(o, k);
  if (!v || v->type != CS_JBOOL) return CS_WC_UNKNOWN;
  return v->b ? CS_WC_YES : CS_WC_NO;
}

static size_t capped(size_t n) { return n > CS_WC_MAX_ITEMS ? CS_WC_MAX_ITEMS : n; }

/* "ip:port" / "[v6]:port" -> canonical ip + port (ip NULL when unparsable) */
static void split_endpoint(cs_arena *a, const char *ep, const char **ip, int *port) {
  cs_ip x;
  uint16_t p;
  *ip = NULL;
  *port = 0;
  if (!ep || !cs_endpoint_parse(ep, &x, &p)) return;
  char out[CS_IPSTR_MAX];
  cs_ip_format(&x, out);
  *ip = cs_arena_strdup(a, out);
  *port = p;
}

/* ---- base64 (RFC 4648) for MaybeBinaryData ---------------------------------------------- */

static int b64val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

/* Lenient decoder: skips whitespace, stops at '=' or the first invalid character. The
 * output is NUL-terminated (not counted). */
static uint8_t *b64_decode(cs_arena *a, const char *s, size_t n, size_t *outlen) {
  uint8_t *out = cs_arena_alloc(a, n / 4 * 3 + 4);
  if (!out) return NULL;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    int v = b64val(c);
    if (v < 0) break;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  out[o] = 0;
  *outlen = o;
  return out;
}

/* MaybeBinaryData: a string, or {"format":"base64","data":"..."}. */
static const char *maybe_binary(cs_arena *a, const cs_jval *v, size_t *len) {
  *len = 0;
  if (!v) return NULL;
  if (v->type == CS_JSTR) {
    *len = v->len;
    return v->str;
  }
  if (v->type == CS_JOBJ) {
    const char *fmt = cs_json_get_str(v, "format", NULL);
    const cs_jval *d = cs_json_get(v, "data");
    if (d && d->type == CS_JSTR) {
      if (fmt && !strcmp(fmt, "base64")) return (const char *)b64_decode(a, d->str, d->len, len);
      *len = d->len;
      return d->str;
    }
  }
  return NULL;
}

/* ---- tags -------------------------------------------------------------------------------- */

static void read_tags(const cs_jval *ev, cs_wc_tags *t) {
  t->depth = -1;
  t->fetch_body = CS_WC_UNKNOWN;
  int64_t id;
  if (cs_json_get_i64(ev, "transaction_id", &id)) t->txid = id;
  const cs_jval *tags = cs_json_get_arr(ev, "tags");
  if (!tags) return;
  size_t n = capped(tags->len);
  for (size_t i = 0; i < n; i++) {
    const char *s = jstr(tags->kids[i]);
    if (!s) continue;
    if (!strcmp(s, "classic")) t->classic = true;
    else if (!strncmp(s, "depth=", 6)) {
      char *end;
      long d = strtol(s + 6, &end, 10);
      if (end != s + 6 && *end == 0 && d >= 0 && d < 1000) t->depth = (int)d;
    } else if (!strcmp(s, "fetch_body=true")) t->fetch_body = CS_WC_YES;
    else if (!strcmp(s, "fetch_body=false")) t->fetch_body = CS_WC_NO;
  }
}

/* ---- headers ----------------------------------------------------------------------------- */

/* headers_list [[k, v], ...] when present (keeps duplicates), else the headers object. */
static void read_headers(cs_arena *a, const cs_jval *msg, cs_wc_header **out, size_t *nout) {
  *out = NULL;
  *nout = 0;
  const cs_jval *list = cs_json_get_arr(msg, "headers_list");
  const cs_jval *obj = cs_json_get_obj(msg, "headers");
  size_t n = list ? capped(list->len) : obj ? capped(obj->len) : 0;
  if (!n) return;
  cs_wc_header *h = cs_arena_alloc(a, n * sizeof *h);
  if (!h) return;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *name;
    const cs_jval *val;
    if (list) {
      const cs_jval *pair = list->kids[i];
      if (pair->type != CS_JARR || pair->len < 2) continue;
      name = jstr(pair->kids[0]);
      val = pair->kids[1];
    } else {
      name = obj->keys[i];
      val = obj->kids[i];
      /* some old records hold a list of values */
      if (val->type == CS_JARR && val->len > 0) val = val->kids[0];
    }
    if (!name) continue;
    size_t vl;
    const char *v = maybe_binary(a, val, &vl);
    h[k].name = name;
    h[k].value = v ? v : "";
    h[k].value_len = v ? vl : 0;
    k++;
  }
  *out = h;
  *nout = k;
}

/* ---- test keys --------------------------------------------------------------------------- */

static void read_queries(cs_arena *a, const cs_jval *tk, cs_wc_obs *o) {
  const cs_jval *qs = cs_json_get_arr(tk, "queries");
  if (!qs) return;
  size_t n = capped(qs->len);
  o->dns = cs_arena_alloc(a, (n ? n : 1) * sizeof *o->dns);
  if (!o->dns) return;
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    const cs_jval *q = qs->kids[i];
    if (q->type != CS_JOBJ) continue;
    cs_wc_dns *d = &o->dns[o->ndns++];
    read_tags(q, &d->tags);
    d->engine = cs_json_get_str(q, "engine", NULL);
    d->failure = cs_json_get_str(q, "failure", NULL);
    d->hostname = cs_json_get_str(q, "hostname", NULL);
    d->query_type = cs_json_get_str(q, "query_type", NULL);
    const cs_jval *ans = cs_json_get_arr(q, "answers");
    size_t na = ans ? capped(ans->len) : 0;
    if (na > CS_WC_MAX_ANSWERS - total) na = CS_WC_MAX_ANSWERS - total;
    total += na;
    if (!na) continue;
    d->answers = cs_arena_alloc(a, na * sizeof *d->answers);
    if (!d->answers) continue;
    for (size_t j = 0; j < na; j++) {
      const cs_jval *an = ans->kids[j];
      if (an->type != CS_JOBJ) continue;
      cs_wc_answer *x = &d->answers[d->nanswers++];
      x->answer_type = cs_json_get_str(an, "answer_type", NULL);
      x->ip = cs_json_get_str(an, "ipv4", NULL);
      if (!x->ip) x->ip = cs_json_get_str(an, "ipv6", NULL);
      x->ip = cs_ip_canon(a, x->ip);
      x->hostname = cs_json_get_str(an, "hostname", NULL);
      int64_t asn;
      if (cs_json_get_i64(an, "asn", &asn) && asn > 0) x->asn = asn;
    }
  }
}

static void read_tcp(cs_arena *a, const cs_jval *tk, cs_wc_obs *o) {
  const cs_jval *arr = cs_json_get_arr(tk, "tcp_connect");
  if (!arr) return;
  size_t n = capped(arr->len);
  o->tcp = cs_arena_alloc(a, (n ? n : 1) * sizeof *o->tcp);
  if (!o->tcp) return;
  for (size_t i = 0; i < n; i++) {
    const cs_jval *e = arr->kids[i];
    if (e->type != CS_JOBJ) continue;
    const char *ip = cs_json_get_str(e, "ip", NULL);
    if (!ip) continue;
    cs_wc_tcp *t = &o->tcp[o->ntcp++];
    read_tags(e, &t->tags);
    t->ip = cs_ip_canon(a, ip);
    t->port = cs_json_get_int(e, "port", 0);
    const cs_jval *st = cs_json_get_obj(e, "status");
    t->failure = cs_json_get_str(st, "failure", NULL);
    int s = cs_json_get_bool(st, "success", -1);
    t->success = s == 1 || (s == -1 && !t->failure);
  }
}

static void read_tls(cs_arena *a, const cs_jval *tk, cs_wc_obs *o) {
  const cs_jval *arr = cs_json_get_arr(tk, "tls_handshakes");
  if (!arr) return;
  size_t n = capped(arr->len);
  o->tls = cs_arena_alloc(a, (n ? n : 1) * sizeof *o->tls);
  if (!o->tls) return;
  for (size_t i = 0; i < n; i++) {
    const cs_jval *e = arr->kids[i];
    if (e->type != CS_JOBJ) continue;
    cs_wc_tls *t = &o->tls[o->ntls++];
    read_tags(e, &t->tags);
    t->address = cs_json_get_str(e, "address", NULL);
    split_endpoint(a, t->address, &t->ip, &t->port);
    t->server_name = cs_json_get_str(e, "server_name", NULL);
    t->failure = cs_json_get_str(e, "failure", NULL);
  }
}

static void read_requests(cs_arena *a, const cs_jval *tk, cs_wc_obs *o) {
  const cs_jval *arr = cs_json_get_arr(tk, "requests");
  if (!arr) return;
  size_t n = capped(arr->len);
  o->http = cs_arena_alloc(a, (n ? n : 1) * sizeof *o->http);
  if (!o->http) return;
  for (size_t i = 0; i < n; i++) {
    const cs_jval *e = arr->kids[i];
    if (e->type != CS_JOBJ) continue;
    cs_wc_http *h = &o->http[o->nhttp++];
    read_tags(e, &h->tags);
    h->failure = cs_json_get_str(e, "failure", NULL);
    h->address = cs_json_get_str(e, "address", NULL);
    split_endpoint(a, h->address, &h->ip, &h->port);
    const cs_jval *req = cs_json_get_obj(e, "request");
    h->url = cs_json_get_str(req, "url", NULL);
    const cs_jval *resp = cs_json_get_obj(e, "response");
    h->title = "";
    if (!resp) continue;
    h->code = cs_json_get_int(resp, "code", 0);
    if (h->code < 0) h->code = 0;
    read_headers(a, resp, &h->headers, &h->nheaders);
    size_t bl;
    const char *body = maybe_binary(a, cs_json_get(resp, "body"), &bl);
    h->body = (const uint8_t *)body;
    h->body_len = body ? bl : 0;
    h->body_is_truncated = cs_json_get_bool(resp, "body_is_truncated", 0) == 1 ||
                           cs_json_get_bool(req, "body_is_truncated", 0) == 1;
    h->title = cs_title_dup(a, h->body, h->body_len);
  }
}

static void read_recorded(const cs_jval *tk, cs_wc_obs *o) {
  o->recorded.dns_experiment_failure = cs_json_get_str(tk, "dns_experiment_failure", NULL);
  o->recorded.http_experiment_failure = cs_json_get_str(tk, "http_experiment_failure", NULL);
  const cs_jval *b = cs_json_get(tk, "blocking");
  if (!b) return;
  o->recorded.present = true;
  o->recorded.blocking = 0; /* CS_WC_BLOCKING_NULL */
  if (b->type == CS_JBOOL && !b->b) o->recorded.blocking = 1;
  else if (b->type == CS_JSTR) {
    static const char *const names[] = {"dns", "tcp_ip", "http-failure", "http-diff"};
    for (int i = 0; i < 4; i++)
      if (!strcmp(b->str, names[i])) o->recorded.blocking = 2 + i;
  }
  o->recorded.accessible = get_tri(tk, "accessible");
  o->recorded.dns_consistency = cs_json_get_str(tk, "dns_consistency", NULL);
}

static void parse_version(const char *s, int ver[3]) {
  ver[0] = ver[1] = ver[2] = -1;
  if (!s) return;
  for (int i = 0; i < 3; i++) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 0 || v > 100000) return;
    ver[i] = (int)v;
    if (*end != '.') return;
    s = end + 1;
  }
}

int cs_wc_obs_read_test_keys(cs_arena *a, const cs_jval *tk, const char *input,
                             const char *test_version, cs_wc_obs *o) {
  memset(o, 0, sizeof *o);
  o->ctl.http_body_length = -1;
  o->ctl.http_status = -1;
  o->input = input;
  o->test_version = test_version;
  parse_version(test_version, o->ver);
  if (!tk || tk->type != CS_JOBJ) return -1;
  o->control_failure = cs_json_get_str(tk, "control_failure", NULL);
  read_queries(a, tk, o);
  read_tcp(a, tk, o);
  read_tls(a, tk, o);
  read_requests(a, tk, o);
  cs_th_response_read(a, cs_json_get_obj(tk, "control"), &o->ctl);
  read_recorded(tk, o);
  return 0;
}

int cs_wc_obs_read(cs_arena *a, const cs_jval *m, cs_wc_obs *o) {
  memset(o, 0, sizeof *o);
  if (!m || m->type != CS_JOBJ) return -1;
  const cs_jval *tk = cs_json_get_obj(m, "test_keys");
  int rc = cs_wc_obs_read_test_keys(a, tk, cs_json_get_str(m, "input", NULL),
                                    cs_json_get_str(m, "test_version", NULL), o);
  o->test_name = cs_json_get_str(m, "test_name", NULL);
  o->probe_cc = cs_json_get_str(m, "probe_cc", NULL);
  o->probe_asn = cs_json_get_str(m, "probe_asn", NULL);
  o->report_id = cs_json_get_str(m, "report_id", NULL);
  return rc;
}

/* ---- explorer wrapper -------------------------------------------------------------------- */

static const cs_jval *parse_str_or_obj(cs_arena *a, const cs_jval *v) {
  if (!v) return NULL;
  if (v->type == CS_JOBJ) return v;
  if (v->type != CS_JSTR) return NULL;
  char err[64];
  return cs_json_parse(a, v->str, v->len, &wrap_limits, err, sizeof err);
}

const cs_jval *cs_wc_unwrap(cs_arena *a, const cs_jval *v) {
  if (!v || v->type != CS_JOBJ) return v;
  if (cs_json_get(v, "test_keys")) return v;
  const cs_jval *cur = v;
  /* {"status","contentType","body"} -> body (string or object) */
  if (cs_json_get(cur, "body") && (cs_json_get(cur, "status") || cs_json_get(cur, "contentType"))) {
    cur = parse_str_or_obj(a, cs_json_get(cur, "body"));
    if (!cur || cur->type != CS_JOBJ) return NULL;
    if (cs_json_get(cur, "test_keys")) return cur;
  }
  /* measurement_meta: raw_measurement (string or object) */
  if (cs_json_get(cur, "raw_measurement")) {
    const cs_jval *m = parse_str_or_obj(a, cs_json_get(cur, "raw_measurement"));
    return (m && m->type == CS_JOBJ) ? m : NULL;
  }
  return cur;
}
