/* doh.c - DNS over HTTPS, GET method (RFC 8484 section 4.1), see doh.h. */
#include "engine/doh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/dnswire.h"
#include "engine/fetch.h"
#include "util/failure.h"
#include "util/url.h"

typedef struct {
  cs_doh_req *r;
  uint16_t qtype;
  cs_dnswire_query q;
  const char *url; /* the DoH URL with ?dns= */
  cs_fetch *fetch;
  double t0;
  bool done;
  const char *failure;
  cs_ip addrs[CS_DNS_MAX_ADDRS];
  size_t naddrs;
  cs_query_rec *rec;
} doh_q;

struct cs_doh_req {
  cs_loop *l;
  cs_trace *t;   /* the measurement's trace: gets the `queries` records */
  cs_trace *sub; /* private: the DoH transport's own records */
  const char *doh_url, *host;
  cs_rec_common tmpl;
  cs_fetch_opts fo;
  cs_dns_cb cb;
  void *arg;
  doh_q q[2];
  int pending;
  cs_timer deadline;
  cs_defer fin;
};

/* RFC 4648 section 5, without padding (RFC 8484 section 4.1). */
static char *b64url(cs_arena *a, const uint8_t *p, size_t n) {
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_buf_base64(&b, p, n);
  char *s = cs_arena_strndup(a, (const char *)b.data, b.len);
  cs_buf_free(&b);
  if (!s) return NULL;
  size_t k = 0;
  for (size_t i = 0; s[i]; i++) {
    if (s[i] == '=') break;
    s[k++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
  }
  s[k] = 0;
  return s;
}

/* Is the response's Content-Type application/dns-message (parameters allowed)? */
static bool is_dns_message(const cs_http_rec *h) {
  static const char want[] = "application/dns-message";
  for (size_t i = 0; i < h->resp.nheaders; i++) {
    const cs_header *x = &h->resp.headers[i];
    if (strcasecmp(x->name, "content-type") != 0) continue;
    return x->value_len >= sizeof want - 1 &&
           strncasecmp((const char *)x->value, want, sizeof want - 1) == 0 &&
           (x->value_len == sizeof want - 1 || x->value[sizeof want - 1] == ';' ||
            x->value[sizeof want - 1] == ' ');
  }
  return false;
}

static void finish_cb(cs_defer *d) {
  cs_doh_req *r = d->data;
  cs_dns_result res = {.rcode = -1};
  cs_ip all[CS_DNS_MAX_ADDRS];
  size_t n = 0;
  for (int k = 0; k < 2; k++) {
    doh_q *q = &r->q[k];
    for (size_t i = 0; i < q->naddrs && n < CS_DNS_MAX_ADDRS; i++) {
      bool dup = false;
      for (size_t j = 0; j < n; j++)
        dup = dup || (all[j].family == q->addrs[i].family && !memcmp(all[j].b, q->addrs[i].b, 16));
      if (!dup) all[n++] = q->addrs[i];
    }
    bool skip = k == 1 && q->failure && !strcmp(q->failure, "dns_no_answer");
    if (!res.failure && q->failure && !skip) res.failure = q->failure;
  }
  res.addrs = all;
  res.naddrs = n;
  res.rec = r->q[0].rec;
  if (r->q[0].rec && r->q[0].rec->has_rcode) res.rcode = r->q[0].rec->rcode;
  cs_dns_cb cb = r->cb;
  void *arg = r->arg;
  cb(arg, &res);
  cs_doh_cancel(r);
}

/* Completes one question: its `queries` record in the measurement's trace. */
static void q_done(doh_q *q, const char *failure, const cs_http_rec *h) {
  cs_doh_req *r = q->r;
  if (q->done) return;
  q->done = true;
  cs_query_rec *rec = cs_trace_add_query(r->t);
  q->rec = rec;
  const uint8_t *body = h ? h->resp.body : NULL;
  size_t blen = h ? h->resp.body_len : 0;
  cs_dnswire_reply *rep = NULL;
  if (!failure && h) {
    if (h->code != 200) {
      failure = cs_arena_printf(r->t->a, "unknown_failure: doh: server returned HTTP status %d",
                                h->code);
    } else if (!is_dns_message(h)) {
      failure = "unknown_failure: doh: invalid content-type";
    } else if (!(rep = malloc(sizeof *rep)) || cs_dnswire_parse(body, blen, rep) != CS_DNSWIRE_OK ||
               cs_dnswire_match(&q->q, rep) != CS_DNSWIRE_OK) {
      failure = cs_failure_str(CS_FAIL_DNS_SERVER_MISBEHAVING);
      free(rep);
      rep = NULL;
    } else {
      switch (rep->rcode) {
      case CS_DNS_RCODE_NOERROR:
        q->naddrs = cs_dnswire_addrs(rep, q->qtype, q->addrs, CS_DNS_MAX_ADDRS);
        if (!q->naddrs) failure = cs_failure_str(CS_FAIL_DNS_NO_ANSWER);
        break;
      case CS_DNS_RCODE_NXDOMAIN: failure = cs_failure_str(CS_FAIL_DNS_NXDOMAIN); break;
      case CS_DNS_RCODE_REFUSED: failure = cs_failure_str(CS_FAIL_DNS_REFUSED); break;
      case CS_DNS_RCODE_SERVFAIL: failure = cs_failure_str(CS_FAIL_DNS_SERVFAIL); break;
      default: failure = cs_failure_str(CS_FAIL_DNS_SERVER_MISBEHAVING); break;
      }
    }
  }
  q->failure = failure;
  if (rec) {
    rec->c = r->tmpl;
    rec->c.t0 = cs_trace_rel(r->t, q->t0);
    rec->c.t = cs_trace_rel(r->t, cs_loop_now(r->l));
    rec->engine = "doh";
    rec->hostname = r->host;
    rec->query_type = q->qtype == CS_DNS_TYPE_A ? "A" : "AAAA";
    rec->resolver_address = r->doh_url;
    rec->failure = failure;
    if (body && blen && h && h->code == 200) {
      rec->raw_response = cs_arena_memdup(r->t->a, body, blen);
      rec->raw_response_len = rec->raw_response ? blen : 0;
    }
    if (rep) cs_dns_fill_answers(r->t->a, rec, rep);
  }
  free(rep);
  if (--r->pending == 0) {
    cs_timer_stop(r->l, &r->deadline);
    cs_defer_call(r->l, &r->fin, finish_cb, r);
  }
}

static void on_fetch(void *arg, const cs_fetch_result *res) {
  doh_q *q = arg;
  q->fetch = NULL; /* freed by the fetch module after this callback */
  q_done(q, res->failure, res->failure ? NULL : res->final);
}

static void on_deadline(cs_timer *tm) {
  cs_doh_req *r = tm->data;
  for (int k = 0; k < 2; k++) {
    doh_q *q = &r->q[k];
    if (q->done) continue;
    cs_fetch_cancel(q->fetch);
    q->fetch = NULL;
    q_done(q, cs_failure_str(CS_FAIL_GENERIC_TIMEOUT), NULL);
  }
}

cs_doh_req *cs_doh_lookup_host(cs_loop *l, cs_trace *t, cs_tls_ctx *tls, const char *url,
                               const char *host, const cs_dns_opts *o, cs_dns_cb cb, void *arg) {
  if (!url || strncasecmp(url, "https://", 8) != 0 || !tls) return NULL;
  cs_doh_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->sub = cs_trace_new(t->zero, 4u << 20);
  if (!r->sub) {
    free(r);
    return NULL;
  }
  r->l = l, r->t = t, r->cb = cb, r->arg = arg;
  r->doh_url = cs_arena_strdup(t->a, url);
  r->host = cs_arena_strdup(t->a, host);
  r->tmpl.transaction_id = o ? o->transaction_id : 0;
  if (o && o->ntags) cs_trace_tags(t, &r->tmpl, o->tags, o->ntags);
  double timeout = o && o->timeout > 0 ? o->timeout : CS_DNS_TIMEOUT;
  r->fo = (cs_fetch_opts){.resolver = "system",
                          .tls = tls,
                          .dns_timeout = timeout,
                          .tcp_timeout = timeout,
                          .tls_timeout = timeout,
                          .http_timeout = timeout,
                          .max_redirects = 0,
                          .body_cap = CS_DNSWIRE_MAX_MSG};
  static const uint16_t types[2] = {CS_DNS_TYPE_A, CS_DNS_TYPE_AAAA};
  r->pending = 2;
  bool ok = r->doh_url && r->host;
  for (int k = 0; k < 2 && ok; k++) {
    doh_q *q = &r->q[k];
    q->r = r;
    q->qtype = types[k];
    q->t0 = cs_loop_now(l);
    cs_buf msg;
    cs_buf_init(&msg, CS_DNSWIRE_MAX_MSG);
    /* ID 0 (RFC 8484 section 4.1: cache friendly); the question still has to match. */
    if (cs_dnswire_query_init(&q->q, host, q->qtype, 0) != CS_DNSWIRE_OK ||
        cs_dnswire_query_encode(&q->q, true, &msg) != CS_DNSWIRE_OK) {
      cs_buf_free(&msg);
      ok = false;
      break;
    }
    char *enc = b64url(t->a, msg.data, msg.len);
    cs_buf_free(&msg);
    q->url = enc ? cs_arena_printf(t->a, "%s%sdns=%s", url, strchr(url, '?') ? "&" : "?", enc)
                 : NULL;
    ok = q->url != NULL;
  }
  if (!ok) {
    cs_trace_free(r->sub);
    free(r);
    return NULL;
  }
  cs_timer_start(l, &r->deadline, timeout, on_deadline, r);
  for (int k = 0; k < 2; k++) {
    doh_q *q = &r->q[k];
    q->fetch = cs_fetch_start(l, r->sub, q->url, &r->fo, on_fetch, q);
    if (!q->fetch) q_done(q, "unknown_failure: out of memory", NULL);
  }
  return r;
}

void cs_doh_cancel(cs_doh_req *r) {
  if (!r) return;
  cs_timer_stop(r->l, &r->deadline);
  cs_defer_cancel(r->l, &r->fin);
  for (int k = 0; k < 2; k++) cs_fetch_cancel(r->q[k].fetch);
  cs_trace_free(r->sub);
  free(r);
}
