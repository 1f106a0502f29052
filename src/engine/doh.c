/* doh.c - DNS over HTTPS, GET method (RFC 8484 section 4.1), see doh.h.
 *
 * One lookup = a bootstrap (the DoH server's own name through the system resolver, never
 * through DoH: no recursion) and, per question (A, AAAA), a sequential cs_dial (TCP -> TLS
 * over the server's addresses in resolver order) then a GET. The exchange uses the lower
 * steps (dial.h, http.h), not the fetch flow, so fetch and DoH do not depend on each other. */
#include "engine/doh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/dial.h"
#include "engine/dnswire.h"
#include "engine/http.h"
#include "util/failure.h"
#include "util/url.h"

#define DOH_MAX_ADDRS CS_DIAL_MAX_ADDRS /* DoH server addresses tried per question */

typedef struct {
  cs_doh_req *r;
  uint16_t qtype;
  cs_dnswire_query q;
  const char *target; /* the DoH URL's path with ?dns= (in the private trace) */
  cs_dial *dial;
  cs_conn *c;
  double t0;
  bool done;
  cs_dns_result res;
  cs_ip addrs[CS_DNS_MAX_ADDRS];
} doh_q;

struct cs_doh_req {
  cs_loop *l;
  cs_trace *t;   /* the measurement's trace: gets the `queries` records */
  cs_trace *sub; /* private: the DoH transport's own records */
  const char *doh_url, *host;
  cs_url url; /* doh_url parsed (in sub's arena) */
  cs_tls_ctx *tls;
  double timeout;
  cs_rec_common tmpl;
  cs_dns_cb cb;
  void *arg;
  cs_dns_req *boot; /* the bootstrap lookup (system resolver) */
  cs_ip srv[DOH_MAX_ADDRS];
  size_t nsrv;
  cs_dial_opts dial; /* shared by both questions' dials */
  doh_q q[2];
  int pending;
  bool in_cb;
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

static void stop_steps(cs_doh_req *r) {
  cs_timer_stop(r->l, &r->deadline);
  cs_dns_cancel(r->boot);
  r->boot = NULL;
  for (int k = 0; k < 2; k++) {
    cs_dial_cancel(r->q[k].dial);
    r->q[k].dial = NULL;
    cs_conn_free(r->q[k].c);
    r->q[k].c = NULL;
  }
}

static void req_free(cs_doh_req *r) {
  stop_steps(r);
  cs_defer_cancel(r->l, &r->fin);
  cs_trace_free(r->sub);
  free(r);
}

static void finish_cb(cs_defer *d) {
  cs_doh_req *r = d->data;
  cs_dns_result q[2] = {r->q[0].res, r->q[1].res}, res;
  cs_ip all[CS_DNS_MAX_ADDRS];
  cs_dns_merge(q, 2, all, &res);
  r->in_cb = true;
  r->cb(r->arg, &res);
  req_free(r);
}

/* Completes one question: its `queries` record in the measurement's trace. h: the HTTP
 * transaction when there was one without a transport failure. */
static void q_done(doh_q *q, const char *failure, const cs_http_rec *h) {
  cs_doh_req *r = q->r;
  if (q->done) return;
  q->done = true;
  cs_dial_cancel(q->dial);
  q->dial = NULL;
  cs_conn_free(q->c);
  q->c = NULL;
  cs_query_rec *rec = cs_trace_add_query(r->t);
  const uint8_t *body = h ? h->resp.body : NULL;
  size_t blen = h ? h->resp.body_len : 0;
  cs_dnswire_reply *rep = NULL;
  q->res.rcode = -1;
  if (!failure && h) {
    if (h->code != 200) {
      failure = cs_arena_printf(
          r->t->a, CS_FAILURE_UNKNOWN_CONST("doh: server returned HTTP status %d"), h->code);
    } else if (!is_dns_message(h)) {
      failure = CS_FAILURE_UNKNOWN_CONST("doh: invalid content-type");
    } else if (!(rep = malloc(sizeof *rep)) || cs_dnswire_parse(body, blen, rep) != CS_DNSWIRE_OK ||
               cs_dnswire_match(&q->q, rep) != CS_DNSWIRE_OK) {
      failure = cs_failure_str(CS_FAIL_DNS_SERVER_MISBEHAVING);
      free(rep);
      rep = NULL;
    } else { /* HTTP has no truncation: an empty NOERROR is no answer (tc = false) */
      failure = cs_failure_str(cs_dns_reply_failure(rep, q->qtype, false));
      q->res.rcode = rep->rcode;
      if (rep->rcode == CS_DNS_RCODE_NOERROR)
        q->res.naddrs = cs_dnswire_addrs(rep, q->qtype, q->addrs, CS_DNS_MAX_ADDRS);
    }
  }
  q->res.failure = failure;
  q->res.addrs = q->addrs;
  q->res.rec = rec;
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
    stop_steps(r);
    cs_defer_call(r->l, &r->fin, finish_cb, r);
  }
}

/* ---- the exchange: dial (connect -> TLS, one address after the other) -> GET ---------- */

static void on_http(cs_conn *c, const cs_http_rec *rec, const char *failure, void *data) {
  doh_q *q = data;
  (void)c;
  if (!failure && !rec) failure = CS_FAILURE_OOM;
  q_done(q, failure, failure ? NULL : rec); /* frees the conn */
}

/* Failure: the first address's (connect or TLS), as the fetch flow reports it. */
static void on_dial(void *arg, cs_conn *c, const char *failure, const cs_dial_result *dr) {
  doh_q *q = arg;
  cs_doh_req *r = q->r;
  (void)dr;
  q->dial = NULL; /* freed by the dialer after this callback */
  if (failure || !c) {
    q_done(q, failure ? failure : CS_FAILURE_OOM, NULL);
    return;
  }
  q->c = c;
  const char *hostport = cs_url_hostport(r->sub->a, &r->url);
  cs_http_req req = {
      .url = hostport ? cs_arena_printf(r->sub->a, "https://%s%s", hostport, q->target) : NULL,
      .host = hostport,
      .target = q->target,
      .timeout = r->timeout,
  };
  req.limits.body_cap = CS_DNSWIRE_MAX_MSG;
  if (!req.url || cs_http_get(c, &req, on_http, q) < 0) q_done(q, CS_FAILURE_OOM, NULL);
}

static void exchange_start(doh_q *q) {
  q->dial = cs_dial_start(q->r->l, q->r->sub, &q->r->dial, on_dial, q);
  if (!q->dial) q_done(q, CS_FAILURE_OOM, NULL);
}

/* ---- bootstrap: the DoH server's name, through the system resolver only ------------------ */

static void start_exchanges(cs_doh_req *r, const char *failure) {
  /* We speak HTTP/1.1 only, so we offer only http/1.1. */
  static const char *const alpn[] = {"http/1.1"};
  r->dial = (cs_dial_opts){
      .addrs = r->srv,
      .naddrs = r->nsrv,
      .port = r->url.port,
      .mode = CS_DIAL_SEQUENTIAL,
      .tcp_timeout = r->timeout,
      .tls = true,
      .tls_ctx = r->tls,
      .tls_opts = {.sni = r->url.host, .alpn = alpn, .nalpn = 1, .timeout = r->timeout},
  };
  /* an IP-literal URL: no SNI, the certificate must name the IP */
  if (r->url.host_is_ip) r->dial.tls_opts.sni = NULL, r->dial.tls_opts.verify_name = r->url.host;
  for (int k = 0; k < 2; k++) {
    if (r->nsrv == 0) q_done(&r->q[k], failure ? failure : "dns_no_answer", NULL);
    else exchange_start(&r->q[k]);
  }
}

static void on_boot(void *arg, const cs_dns_result *res) {
  cs_doh_req *r = arg;
  r->boot = NULL;
  r->nsrv = res->naddrs < DOH_MAX_ADDRS ? res->naddrs : DOH_MAX_ADDRS;
  if (r->nsrv) memcpy(r->srv, res->addrs, r->nsrv * sizeof *r->srv);
  start_exchanges(r, res->failure);
}

static void on_deadline(cs_timer *tm) {
  cs_doh_req *r = tm->data;
  cs_dns_cancel(r->boot);
  r->boot = NULL;
  for (int k = 0; k < 2; k++) q_done(&r->q[k], cs_failure_str(CS_FAIL_GENERIC_TIMEOUT), NULL);
}

cs_doh_req *cs_doh_lookup_host(cs_loop *l, cs_trace *t, cs_tls_ctx *tls, const char *url,
                               const char *host, const cs_dns_opts *o, cs_dns_cb cb, void *arg) {
  if (!l || !t || !url || strncasecmp(url, "https://", 8) != 0 || !tls || !host || !cb) return NULL;
  cs_doh_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->sub = cs_trace_new(t->zero, 4u << 20);
  if (!r->sub) {
    free(r);
    return NULL;
  }
  r->l = l, r->t = t, r->tls = tls, r->cb = cb, r->arg = arg;
  r->doh_url = cs_arena_strdup(t->a, url);
  r->host = cs_arena_strdup(t->a, host);
  r->tmpl.transaction_id = o ? o->transaction_id : 0;
  if (o && o->ntags) cs_trace_tags(t, &r->tmpl, o->tags, o->ntags);
  r->timeout = o && o->timeout > 0 ? o->timeout : CS_DNS_TIMEOUT;
  char err[128];
  bool ok = r->doh_url && r->host && cs_url_parse(r->sub->a, url, &r->url, err, sizeof err) == 0 &&
            strcmp(r->url.scheme, "https") == 0;
  static const uint16_t types[2] = {CS_DNS_TYPE_A, CS_DNS_TYPE_AAAA};
  r->pending = 2;
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
    char *enc = b64url(r->sub->a, msg.data, msg.len);
    cs_buf_free(&msg);
    const char *path = r->url.path;
    q->target =
        enc ? cs_arena_printf(r->sub->a, "%s%sdns=%s", path, strchr(path, '?') ? "&" : "?", enc)
            : NULL;
    ok = q->target != NULL;
  }
  if (!ok) {
    req_free(r);
    return NULL;
  }
  cs_timer_start(l, &r->deadline, r->timeout, on_deadline, r);
  cs_ip ip;
  if (r->url.host_is_ip && cs_ip_parse(r->url.host, &ip)) {
    r->srv[0] = ip;
    r->nsrv = 1;
    start_exchanges(r, NULL);
    return r;
  }
  /* The bootstrap goes to the system resolver explicitly: resolving the DoH server through
   * DoH would recurse (curl's allowDOH = FALSE in the same spot). */
  cs_dns_opts bo = {.timeout = r->timeout};
  r->boot = cs_dns_lookup(l, r->sub, r->url.host, CS_DNS_VIA_SYSTEM, NULL, 0, &bo, on_boot, r);
  if (!r->boot) {
    req_free(r);
    return NULL;
  }
  return r;
}

void cs_doh_cancel(cs_doh_req *r) {
  if (!r || r->in_cb) return;
  req_free(r);
}
