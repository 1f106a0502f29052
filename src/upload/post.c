/* post.c - see post.h. resolve (system; skipped for an IP literal) -> dial (sequential,
 * TLS with ALPN http/1.1) -> cs_http_request, one request per connection. */
#include "upload/post.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/conn.h"
#include "engine/dial.h"
#include "engine/resolve.h"
#include "record/record.h"
#include "util/failure.h"
#include "util/ipnet.h"
#include "util/url.h"

#define UA "censorscope/0.1.0"

struct cs_post {
  cs_loop *l;
  cs_trace *t;
  const cs_post_target *tg;
  cs_post_opts o;
  cs_resolve_req *res;
  cs_dial *dial;
  cs_conn *c;
  cs_ip addrs[CS_DIAL_MAX_ADDRS];
  cs_dial_opts dopts;
  cs_http_req req;
  cs_http_hdr hdr[3];
  char auth[300];
  char target[1024];
  char url[1400];
  char *body;
  size_t body_len;
  cs_defer d;
  const char *failure;
  cs_post_cb cb;
  void *arg;
};

int cs_post_target_parse(cs_post_target *t, const char *url, char *err, size_t errlen) {
  if (!url || !*url || strlen(url) >= CS_POST_MAX_URL) {
    snprintf(err, errlen, "a collector URL is http(s)://HOST[:PORT][/PREFIX] (< %d bytes)",
             CS_POST_MAX_URL);
    return -1;
  }
  cs_arena *a = cs_arena_new(0);
  cs_url p;
  char e[128];
  if (!a || cs_url_parse(a, url, &p, e, sizeof e) < 0) {
    snprintf(err, errlen, "bad collector URL %s: %s", url, a ? e : "out of memory");
    cs_arena_free(a);
    return -1;
  }
  memset(t, 0, sizeof *t);
  t->url = url;
  t->https = !strcmp(p.scheme, "https");
  t->host_is_ip = p.host_is_ip;
  t->port = p.port;
  const char *hp = cs_url_hostport(a, &p);
  int rc = 0;
  if (strchr(p.path, '?')) {
    snprintf(err, errlen, "a collector URL has no query: %s", url);
    rc = -1;
  } else if (strlen(p.host) >= sizeof t->host || !hp || strlen(hp) >= sizeof t->hostport ||
             strlen(p.path) >= sizeof t->prefix) {
    snprintf(err, errlen, "collector URL too long: %s", url);
    rc = -1;
  } else {
    snprintf(t->host, sizeof t->host, "%s", p.host);
    snprintf(t->hostport, sizeof t->hostport, "%s", hp);
    snprintf(t->prefix, sizeof t->prefix, "%s", p.path);
    size_t n = strlen(t->prefix);
    while (n && t->prefix[n - 1] == '/') t->prefix[--n] = 0;
  }
  cs_arena_free(a);
  return rc;
}

static void post_free(cs_post *p) {
  cs_resolve_cancel(p->res);
  cs_dial_cancel(p->dial);
  cs_conn_free(p->c);
  cs_defer_cancel(p->l, &p->d);
  cs_trace_free(p->t);
  free(p->body);
  free(p);
}

void cs_post_cancel(cs_post *p) {
  if (p) post_free(p);
}

/* Ends the request: the callback, then the request is freed. */
static void end(cs_post *p, int status, const uint8_t *body, size_t len, const char *failure) {
  p->res = NULL;
  p->dial = NULL;
  p->cb(p->arg, status, body ? (const char *)body : "", body ? len : 0, failure);
  post_free(p);
}

static void on_deferred(cs_defer *d) {
  cs_post *p = d->data;
  end(p, 0, NULL, 0, p->failure);
}

static void fail_soon(cs_post *p, const char *failure) {
  p->failure = failure;
  cs_defer_call(p->l, &p->d, on_deferred, p);
}

static void on_http(cs_conn *c, const cs_http_rec *rec, const char *failure, void *data) {
  (void)c;
  cs_post *p = data;
  if (!rec || failure) end(p, 0, NULL, 0, failure ? failure : CS_FAILURE_OOM);
  else if (rec->resp.body_is_truncated)
    end(p, 0, NULL, 0, CS_FAILURE_UNKNOWN_CONST("collector answer too large"));
  else if (rec->resp.body && rec->resp.body_len) {
    /* NUL-terminated for the caller: the arena copy may not be */
    char *b = malloc(rec->resp.body_len + 1);
    if (!b) {
      end(p, 0, NULL, 0, CS_FAILURE_OOM);
      return;
    }
    memcpy(b, rec->resp.body, rec->resp.body_len);
    b[rec->resp.body_len] = 0;
    p->cb(p->arg, rec->code, b, rec->resp.body_len, NULL);
    free(b);
    post_free(p);
  } else end(p, rec->code, NULL, 0, NULL);
}

static void on_dial(void *arg, cs_conn *c, const char *failure, const cs_dial_result *r) {
  (void)r;
  cs_post *p = arg;
  p->dial = NULL;
  if (!c) {
    end(p, 0, NULL, 0, failure ? failure : CS_FAILURE_OOM);
    return;
  }
  p->c = c;
  if (cs_http_request(c, &p->req, on_http, p) < 0) fail_soon(p, CS_FAILURE_OOM);
}

static void dial(cs_post *p, const cs_ip *addrs, size_t n) {
  static const char *const h1[] = {"http/1.1"};
  if (n > CS_DIAL_MAX_ADDRS) n = CS_DIAL_MAX_ADDRS;
  memcpy(p->addrs, addrs, n * sizeof *addrs);
  p->dopts = (cs_dial_opts){.addrs = p->addrs,
                            .naddrs = n,
                            .port = p->tg->port,
                            .mode = CS_DIAL_SEQUENTIAL,
                            .tcp_timeout = p->o.connect_timeout,
                            .max_events = 1};
  if (p->tg->https) {
    p->dopts.tls = true;
    p->dopts.tls_ctx = p->o.tls;
    p->dopts.tls_opts = (cs_tls_opts){.sni = p->tg->host, .alpn = h1, .nalpn = 1};
    if (p->tg->host_is_ip)
      p->dopts.tls_opts.sni = NULL, p->dopts.tls_opts.verify_name = p->tg->host;
  }
  p->dial = cs_dial_start(p->l, p->t, &p->dopts, on_dial, p);
  if (!p->dial) fail_soon(p, CS_FAILURE_OOM);
}

static void on_resolve(void *arg, const cs_dns_result *r) {
  cs_post *p = arg;
  p->res = NULL;
  if (!r->naddrs) {
    end(p, 0, NULL, 0, r->failure ? r->failure : cs_failure_str(CS_FAIL_DNS_NO_ANSWER));
    return;
  }
  dial(p, r->addrs, r->naddrs);
}

cs_post *cs_post_start(cs_loop *l, const cs_post_target *t, const cs_post_opts *o, const char *path,
                       const char *body, size_t len, cs_post_cb cb, void *arg) {
  if (!l || !t || !o || !path || !cb) return NULL;
  cs_post *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->l = l;
  p->tg = t;
  p->o = *o;
  if (p->o.connect_timeout <= 0) p->o.connect_timeout = 5;
  if (p->o.timeout <= 0) p->o.timeout = 30;
  p->cb = cb;
  p->arg = arg;
  p->body = malloc(len + 1);
  p->t = cs_trace_new(cs_loop_now(l), 1u << 20);
  if (!p->body || !p->t) {
    free(p->body);
    cs_trace_free(p->t);
    free(p);
    return NULL;
  }
  if (len) memcpy(p->body, body, len);
  p->body[len] = 0;
  p->body_len = len;
  snprintf(p->target, sizeof p->target, "%s%s", t->prefix, path);
  snprintf(p->url, sizeof p->url, "%s://%s%s", t->https ? "https" : "http", t->hostport, p->target);
  size_t nh = 0;
  p->hdr[nh++] = (cs_http_hdr){"Content-Type", "application/json"};
  if (o->probe_set) p->hdr[nh++] = (cs_http_hdr){"X-Censorscope-Probe-Set", o->probe_set};
  if (o->bearer) {
    snprintf(p->auth, sizeof p->auth, "Bearer %s", o->bearer);
    p->hdr[nh++] = (cs_http_hdr){"Authorization", p->auth};
  }
  p->req = (cs_http_req){
      .url = p->url,
      .method = "POST",
      .host = t->hostport,
      .target = p->target,
      .user_agent = UA,
      .extra = p->hdr,
      .nextra = nh,
      .no_gzip = true,
      .connection_close = true,
      .timeout = p->o.timeout,
      .limits = {.body_cap = o->max_response ? o->max_response : CS_POST_RESPONSE_CAP},
      .body = (const uint8_t *)p->body,
      .body_len = len,
      .body_record_cap = 1};
  if (t->https && !o->tls) {
    fail_soon(p, CS_FAILURE_UNKNOWN_CONST("https collector without a trust store"));
    return p;
  }
  cs_ip ip;
  if (t->host_is_ip && cs_ip_parse(t->host, &ip)) {
    dial(p, &ip, 1);
    return p;
  }
  cs_resolve_opts ro = {.resolver = "system"};
  p->res = cs_resolve(l, p->t, &ro, t->host, on_resolve, p);
  if (!p->res) fail_soon(p, CS_FAILURE_OOM);
  return p;
}

typedef struct {
  int *status;
  cs_buf *out;
  char *failure;
  size_t failcap;
} sync_ctx;

static void on_sync(void *arg, int status, const char *body, size_t len, const char *failure) {
  sync_ctx *s = arg;
  *s->status = status;
  if (len) cs_buf_append(s->out, body, len);
  snprintf(s->failure, s->failcap, "%s", failure ? failure : "");
}

int cs_post_sync(const cs_post_target *t, const cs_post_opts *o, const char *path, const char *body,
                 size_t len, int *status, cs_buf *out, char *failure, size_t failcap) {
  *status = 0;
  if (failcap) failure[0] = 0;
  cs_loop *l = cs_loop_new();
  if (!l) return -1;
  sync_ctx s = {status, out, failure, failcap};
  cs_post *p = cs_post_start(l, t, o, path, body, len, on_sync, &s);
  if (!p) {
    cs_loop_free(l);
    return -1;
  }
  int rc = cs_loop_run(l);
  cs_loop_free(l);
  if (rc < 0 && failcap && !failure[0]) snprintf(failure, failcap, "event loop failure");
  return 0;
}
