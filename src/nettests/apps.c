/* apps.c - the engine of the app and platform nettests (apps.h, docs/apps.md): settings and
 * endpoint files, the per-endpoint step chains (resolve -> TCP [-> TLS] [-> HTTP], a lookup,
 * a STUN binding request), the control query per endpoint, the evidence, and the analysis
 * (OONI keys through the app's def, x_functions, outcome) from the serialised evidence. */
#include "nettests/apps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "engine/dial.h"
#include "engine/http.h"
#include "engine/resolve.h"
#include "engine/udp.h"
#include "nettests/endpoints.h"
#include "nettests/meas.h"
#include "nettests/wc_control.h"
#include "thproto/thproto.h"
#include "util/failure.h"

/* ---- settings -------------------------------------------------------------------------- */

typedef struct {
  const cs_app_def *d;
  const char *ep_paths[CS_APPS_MAX_FILES]; /* --endpoints, as given */
  size_t nep_paths;
  const char *platforms[CS_APPS_MAX_FILES]; /* --platform */
  size_t nplatforms;
  const char *th; /* --th */
  double th_timeout;
  cs_arena *a; /* the loaded files */
  cs_ep_file files[CS_APPS_MAX_FILES];
  size_t nfiles;
  /* every endpoint of the files, in order, with its file */
  const cs_ep *flat[CS_APPS_MAX_FILES * CS_EP_MAX_ENDPOINTS];
  const cs_ep_file *flat_file[CS_APPS_MAX_FILES * CS_EP_MAX_ENDPOINTS];
  size_t nflat;
} apps_settings;

void *cs_apps_create(const cs_app_def *d) {
  apps_settings *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->d = d;
  return s;
}

void cs_apps_destroy(void *settings) {
  apps_settings *s = settings;
  if (!s) return;
  cs_arena_free(s->a);
  free(s);
}

static int set_endpoints(void *settings, const char *arg, char *err, size_t errlen) {
  apps_settings *s = settings;
  if (s->nep_paths == CS_APPS_MAX_FILES) {
    snprintf(err, errlen, "at most %d endpoint files", CS_APPS_MAX_FILES);
    return -1;
  }
  s->ep_paths[s->nep_paths++] = arg;
  return 0;
}

static int set_th(void *settings, const char *arg, char *err, size_t errlen) {
  apps_settings *s = settings;
  if (strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8)) {
    snprintf(err, errlen, "give an http:// or https:// URL: %s", arg);
    return -1;
  }
  s->th = arg;
  return 0;
}

static int set_th_timeout(void *settings, const char *arg, char *err, size_t errlen) {
  apps_settings *s = settings;
  char *end;
  double v = strtod(arg, &end);
  if (end == arg || *end || !(v > 0 && v <= 600)) {
    snprintf(err, errlen, "give seconds in (0, 600]: %s", arg);
    return -1;
  }
  s->th_timeout = v;
  return 0;
}

static int set_platform(void *settings, const char *arg, char *err, size_t errlen) {
  apps_settings *s = settings;
  for (size_t i = 0; i < s->d->napps; i++)
    if (!strcmp(s->d->apps[i], arg)) {
      for (size_t j = 0; j < s->nplatforms; j++)
        if (!strcmp(s->platforms[j], arg)) return 0;
      s->platforms[s->nplatforms++] = s->d->apps[i];
      return 0;
    }
  size_t o = (size_t)snprintf(err, errlen, "unknown platform %s (give", arg);
  for (size_t i = 0; i < s->d->napps && o < errlen; i++)
    o += (size_t)snprintf(err + o, errlen - o, " %s", s->d->apps[i]);
  if (o < errlen) snprintf(err + o, errlen - o, ")");
  return -1;
}

#define APPS_OPT_ENDPOINTS                                                                         \
  {                                                                                                \
    "endpoints", 0, "FILE",                                                                        \
        "the endpoint list to measure instead of the default data/apps/APP.endpoints (format: "    \
        "docs/apps.md); its app line names the app it is for; a malformed file stops the run "     \
        "with FILE:LINE and exit status 2",                                                        \
        true, set_endpoints                                                                        \
  }
#define APPS_OPT_TH                                                                                \
  {                                                                                                \
    "th", 0, "URL",                                                                                \
        "a control server (web_connectivity's test-helper protocol): its DNS, TCP/TLS and HTTP "   \
        "view of each endpoint tells a blocked endpoint from one that is down (without it, a "     \
        "failure counts as blocked, as in OONI's tests)",                                          \
        false, set_th                                                                              \
  }
#define APPS_OPT_TH_TIMEOUT                                                                        \
  { "th-timeout", 0, "S", "deadline of one control query (default 30)", false, set_th_timeout }

const cs_optdef cs_apps_opts[CS_APPS_NOPTS] = {APPS_OPT_ENDPOINTS, APPS_OPT_TH,
                                               APPS_OPT_TH_TIMEOUT};
const cs_optdef cs_apps_platform_opts[CS_APPS_PLATFORM_NOPTS] = {
    {"platform", 0, "NAME",
     "measure this platform: x, youtube, facebook or instagram (repeatable; default all)", true,
     set_platform},
    APPS_OPT_ENDPOINTS,
    APPS_OPT_TH,
    APPS_OPT_TH_TIMEOUT,
};

#define APPS_OK "ok"
#define APPS_BLOCKED "blocked"
#define APPS_PARTIAL "partial"
#define APPS_DOWN "down"
#define APPS_UNKNOWN "unknown"

const cs_outcome_def cs_apps_outcomes[CS_APPS_NOUTCOMES] = {
    {APPS_OK, "Every function works", false},
    {APPS_BLOCKED, "A function is blocked", true},
    {APPS_PARTIAL, "Some endpoints blocked", true},
    {APPS_DOWN, "A function is down (control fails too)", false},
    {APPS_UNKNOWN, "Unknown", false},
    /* OONI's own measurements (no x_endpoints): its keys show no blocking, but say nothing
     * per function */
    {CS_OUTCOME_ACCESSIBLE, "Accessible (OONI keys only)", false},
};

/* The default file of app: $CS_APPS_DIR, else data/apps of the source tree this binary was
 * built in (build/<kind>/censorscope), else ./data/apps. */
static void apps_default_path(const char *app, char *out, size_t outlen) {
  const char *dir = getenv("CS_APPS_DIR");
  if (dir && *dir) {
    snprintf(out, outlen, "%s/%s.endpoints", dir, app);
    return;
  }
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n > 0) {
    path[n] = 0;
    char *p = strrchr(path, '/');
    if (p) *p = 0, p = strrchr(path, '/');
    if (p) *p = 0, p = strrchr(path, '/');
    if (p) {
      *p = 0;
      snprintf(out, outlen, "%s/data/apps/%s.endpoints", path, app);
      if (access(out, R_OK) == 0) return;
    }
  }
  snprintf(out, outlen, "data/apps/%s.endpoints", app);
}

static bool apps_is_app(const cs_app_def *d, const char *app) {
  for (size_t i = 0; i < d->napps; i++)
    if (!strcmp(d->apps[i], app)) return true;
  return false;
}

/* Loads the files: --endpoints first (each must be for one of the def's apps, once), then
 * the default file of every selected app without one. All or nothing. */
int cs_apps_prepare(void *settings, const cs_probe_cfg *probe, char *err, size_t errlen) {
  apps_settings *s = settings;
  const cs_app_def *d = s->d;
  if (probe && (probe->address || probe->sni)) {
    /* one address or server name for every endpoint of every function would measure
     * something else than the app: per endpoint, the file has addr= and sni= */
    snprintf(err, errlen,
             "--%s does not apply to %s (give addr= or sni= per endpoint in the "
             "endpoint file, docs/apps.md)",
             probe->address ? "address" : "sni", d->test_name);
    return -1;
  }
  cs_arena_free(s->a);
  s->nfiles = 0;
  s->a = cs_arena_new(0);
  if (!s->a) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (d->platforms && s->nplatforms == 0)
    for (size_t i = 0; i < d->napps && i < CS_APPS_MAX_FILES; i++)
      s->platforms[s->nplatforms++] = d->apps[i];
  for (size_t i = 0; i < s->nep_paths; i++) {
    cs_ep_file *f = &s->files[s->nfiles];
    if (cs_ep_load(s->a, s->ep_paths[i], f, err, errlen) < 0) return -1;
    if (!apps_is_app(d, f->app)) {
      snprintf(err, errlen, "%s: the file is for app %s, not for %s", s->ep_paths[i], f->app,
               d->test_name);
      return -1;
    }
    for (size_t j = 0; j < s->nfiles; j++)
      if (!strcmp(s->files[j].app, f->app)) {
        snprintf(err, errlen, "%s: a second endpoint file for %s (the first: %s)", s->ep_paths[i],
                 f->app, s->files[j].name);
        return -1;
      }
    if (d->platforms) { /* an explicit file selects its platform when none was chosen */
      bool sel = false;
      for (size_t j = 0; j < s->nplatforms; j++) sel |= !strcmp(s->platforms[j], f->app);
      if (!sel) {
        snprintf(err, errlen, "%s: platform %s is not selected (--platform)", s->ep_paths[i],
                 f->app);
        return -1;
      }
    }
    s->nfiles++;
  }
  size_t nsel = d->platforms ? s->nplatforms : d->napps;
  for (size_t i = 0; i < nsel; i++) {
    const char *app = d->platforms ? s->platforms[i] : d->apps[i];
    bool have = false;
    for (size_t j = 0; j < s->nfiles; j++) have |= !strcmp(s->files[j].app, app);
    if (have) continue;
    if (s->nfiles == CS_APPS_MAX_FILES) break;
    char path[4200];
    apps_default_path(app, path, sizeof path);
    cs_ep_file *f = &s->files[s->nfiles];
    if (cs_ep_load(s->a, path, f, err, errlen) < 0) return -1;
    if (strcmp(f->app, app)) {
      snprintf(err, errlen, "%s: the file is for app %s, not for %s", path, f->app, app);
      return -1;
    }
    s->nfiles++;
  }
  s->nflat = 0;
  for (size_t i = 0; i < s->nfiles; i++)
    for (size_t j = 0; j < s->files[i].neps; j++) {
      s->flat[s->nflat] = &s->files[i].eps[j];
      s->flat_file[s->nflat++] = &s->files[i];
    }
  return 0;
}

/* ---- one endpoint ---------------------------------------------------------------------- */

typedef struct apps_m apps_m;

typedef struct {
  apps_m *m;
  const cs_ep_file *f;
  const cs_ep *e;
  int64_t txid;
  cs_resolve_req *rr;
  cs_dial *dial;
  cs_udp *udp;
  cs_th_req *th;
  cs_dial_opts dopts;
  cs_http_req hreq;
  const char *alpn[1];
  cs_ip addrs[CS_DIAL_MAX_ADDRS];
  size_t naddrs;
  bool resolved; /* a lookup ran (its addresses are the DNS answer) */
  const char *failure, *failed_op, *address;
  int status;
  bool tls_ok; /* a TLS handshake with certificate verification succeeded */
  double t;    /* when the steps ended */
  uint8_t stun_tx[12];
  bool meas_done, ctl_done;
  /* the control's view (with --th) */
  bool ctl_asked;
  const char *ctl_error; /* the query failed (no view) */
  int ctl_ok;            /* 1, 0, -1 (no view) */
  const char *ctl_failure;
  const char **ctl_addrs;
  size_t nctl_addrs;
} apps_ep;

struct apps_m {
  cs_meas_base b;
  cs_arena *a;
  cs_loop *l;
  const apps_settings *s;
  const cs_probe_cfg *probe;
  apps_ep *eps;
  size_t neps, next, ndone;
  cs_defer fin;
};

static void apps_finish_cb(cs_defer *d);
static void apps_ep_begin(apps_ep *ep);

static void apps_ep_maybe_done(apps_ep *ep) {
  if (!ep->meas_done || !ep->ctl_done) return;
  apps_m *m = ep->m;
  m->ndone++;
  if (m->next < m->neps) apps_ep_begin(&m->eps[m->next++]);
  else if (m->ndone == m->neps) cs_defer_call(m->l, &m->fin, apps_finish_cb, m);
}

static void apps_meas_end(apps_ep *ep, const char *failure, const char *op) {
  ep->failure = failure;
  ep->failed_op = failure ? op : NULL;
  ep->t = cs_trace_rel(ep->m->b.t, cs_loop_now(ep->m->l));
  ep->meas_done = true;
  apps_ep_maybe_done(ep);
}

static const char *apps_fmt_addr(apps_m *m, const cs_ip *ip) {
  char s[CS_IPSTR_MAX];
  cs_ip_format(ip, s);
  return cs_arena_strdup(m->a, s);
}

/* ---- HTTP ---- */

static void apps_on_http(cs_conn *c, const cs_http_rec *rec, const char *failure, void *data) {
  apps_ep *ep = data;
  cs_conn_free(c);
  ep->status = rec ? rec->code : 0;
  if (!failure && ep->e->nexpect) {
    bool hit = false;
    for (size_t i = 0; i < ep->e->nexpect; i++) hit |= ep->e->expect[i] == ep->status;
    if (!hit) failure = cs_failure_str(CS_FAIL_HTTP_UNEXPECTED_STATUS_CODE);
  }
  apps_meas_end(ep, failure, "http_round_trip");
}

static const char *apps_host_header(apps_m *m, const cs_ep *e) {
  bool v6 = strchr(e->host, ':') != NULL;
  bool dflt =
      (e->kind == CS_EP_HTTPS && e->port == 443) || (e->kind == CS_EP_HTTP && e->port == 80);
  if (dflt) return v6 ? cs_arena_printf(m->a, "[%s]", e->host) : e->host;
  return v6 ? cs_arena_printf(m->a, "[%s]:%u", e->host, (unsigned)e->port)
            : cs_arena_printf(m->a, "%s:%u", e->host, (unsigned)e->port);
}

static void apps_on_dial(void *arg, cs_conn *c, const char *failure, const cs_dial_result *r) {
  apps_ep *ep = arg;
  ep->dial = NULL;
  const cs_ep *e = ep->e;
  if (r && r->index < ep->naddrs && !failure)
    ep->address = apps_fmt_addr(ep->m, &ep->addrs[r->index]);
  else if (ep->naddrs) /* the first address dialled: its failure is the one reported */
    ep->address = apps_fmt_addr(ep->m, &ep->addrs[0]);
  if (failure) {
    apps_meas_end(ep, failure, r && r->failed_op ? r->failed_op : "connect");
    return;
  }
  ep->tls_ok = ep->dopts.tls;
  if (e->kind != CS_EP_HTTP && e->kind != CS_EP_HTTPS) {
    cs_conn_free(c);
    apps_meas_end(ep, NULL, NULL);
    return;
  }
  apps_m *m = ep->m;
  ep->hreq = (cs_http_req){
      .url = e->target,
      .method = e->method,
      .host = apps_host_header(m, e),
      .target = e->path,
      .connection_close = true,
      .timeout = m->probe->http_timeout,
      .body = (const uint8_t *)"",
      .body_len = 0,
  };
  if (!ep->hreq.host || cs_http_request(c, &ep->hreq, apps_on_http, ep) < 0) {
    cs_conn_free(c);
    apps_meas_end(ep, CS_FAILURE_OOM, "http_round_trip");
  }
}

/* ---- STUN (RFC 5389 §6: a Binding request; §7.3 the response's transaction ID) ---- */

static void apps_on_stun(void *arg, const cs_udp_result *r) {
  apps_ep *ep = arg;
  ep->udp = NULL;
  const char *failure = r->failure;
  bool valid = false;
  for (size_t i = 0; i < r->nreplies && !valid; i++) {
    const cs_udp_reply *rp = &r->replies[i];
    const uint8_t *p = rp->data;
    if (rp->len < 20 || !p) continue;
    unsigned type = (unsigned)p[0] << 8 | p[1], len = (unsigned)p[2] << 8 | p[3];
    /* a success (0x0101) or error (0x0111) response to our request: the server answered */
    if ((type != 0x0101 && type != 0x0111) || len % 4 || len + 20u != rp->size) continue;
    if (p[4] != 0x21 || p[5] != 0x12 || p[6] != 0xA4 || p[7] != 0x42) continue;
    if (memcmp(p + 8, ep->stun_tx, 12)) continue;
    valid = true;
  }
  if (valid) failure = NULL;
  else if (!failure || r->nreplies)
    failure = CS_FAILURE_UNKNOWN_CONST("no STUN binding response to our transaction");
  apps_meas_end(ep, failure, "stun");
}

static void apps_stun(apps_ep *ep) {
  apps_m *m = ep->m;
  ep->address = apps_fmt_addr(m, &ep->addrs[0]);
  uint8_t msg[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42};
  if (getrandom(ep->stun_tx, sizeof ep->stun_tx, 0) != (ssize_t)sizeof ep->stun_tx) {
    apps_meas_end(ep, CS_FAILURE_UNKNOWN_CONST("no randomness for the STUN transaction ID"),
                  "stun");
    return;
  }
  memcpy(msg + 8, ep->stun_tx, 12);
  cs_udp_dgram dg[2] = {{msg, sizeof msg}, {msg, sizeof msg}}; /* one retransmission (§7.2.1) */
  cs_udp_opts uo = {.timeout =
                        m->probe->tcp_timeout > 0 && m->probe->tcp_timeout < CS_APPS_STUN_TIMEOUT
                            ? m->probe->tcp_timeout
                            : CS_APPS_STUN_TIMEOUT,
                    .send_interval = 1.0,
                    .max_replies = 1,
                    .max_bytes = 2048,
                    .transaction_id = ep->txid};
  ep->udp = cs_udp_exchange(m->l, m->b.t, &ep->addrs[0], ep->e->port, dg, 2, &uo, apps_on_stun, ep);
  if (!ep->udp) apps_meas_end(ep, CS_FAILURE_OOM, "stun");
}

/* After the addresses are known: connect (or STUN). */
static void apps_connect(apps_ep *ep) {
  apps_m *m = ep->m;
  const cs_ep *e = ep->e;
  if (e->kind == CS_EP_STUN) {
    apps_stun(ep);
    return;
  }
  bool tls = e->kind == CS_EP_TLS || e->kind == CS_EP_HTTPS;
  ep->dopts = (cs_dial_opts){
      .addrs = ep->addrs,
      .naddrs = ep->naddrs,
      .port = e->port,
      .mode = CS_DIAL_PARALLEL,
      .max_addrs = 4,
      .tcp_timeout = m->probe->tcp_timeout,
      .transaction_id = ep->txid,
      .tls = tls,
      .tls_ctx = m->probe->tls,
  };
  if (tls) {
    const char *sni = e->sni ? e->sni : e->host_is_ip ? NULL : e->host;
    ep->dopts.tls_opts.sni = sni;
    ep->dopts.tls_opts.verify_name = sni ? sni : e->host;
    ep->dopts.tls_opts.timeout = m->probe->tls_timeout;
    if (e->kind == CS_EP_HTTPS) { /* we speak HTTP/1.1 */
      ep->alpn[0] = "http/1.1";
      ep->dopts.tls_opts.alpn = ep->alpn;
      ep->dopts.tls_opts.nalpn = 1;
    }
  }
  ep->dial = cs_dial_start(m->l, m->b.t, &ep->dopts, apps_on_dial, ep);
  if (!ep->dial) apps_meas_end(ep, CS_FAILURE_OOM, "connect");
}

static void apps_on_resolve(void *arg, const cs_dns_result *r) {
  apps_ep *ep = arg;
  ep->rr = NULL;
  ep->resolved = true;
  for (size_t i = 0; i < r->naddrs && ep->naddrs < CS_DIAL_MAX_ADDRS; i++)
    ep->addrs[ep->naddrs++] = r->addrs[i];
  const char *failure = r->naddrs    ? NULL
                        : r->failure ? r->failure
                                     : cs_failure_str(CS_FAIL_DNS_NO_ANSWER);
  for (size_t i = 0; !failure && i < ep->naddrs; i++)
    if (cs_ip_is_bogon(&ep->addrs[i])) failure = cs_failure_str(CS_FAIL_DNS_BOGON);
  if (failure || ep->e->kind == CS_EP_DNS) {
    apps_meas_end(ep, failure, "resolve");
    return;
  }
  apps_connect(ep);
}

/* ---- the control query ---- */

static bool apps_ctl_any(const cs_th_ep *v, size_t n, const char **failure) {
  for (size_t i = 0; i < n; i++)
    if (v[i].status) return true;
  *failure = n ? v[0].failure : NULL;
  return false;
}

static void apps_on_th(void *arg, const char *failure, const char *json, size_t len) {
  apps_ep *ep = arg;
  apps_m *m = ep->m;
  ep->th = NULL;
  ep->ctl_done = true;
  if (failure) {
    ep->ctl_error = cs_arena_strdup(m->a, failure);
    apps_ep_maybe_done(ep);
    return;
  }
  cs_th_response r;
  cs_jval *v = cs_json_parse(m->a, json, len, NULL, NULL, 0);
  cs_th_response_read(m->a, v, &r);
  if (!v || !r.present) {
    ep->ctl_error = cs_failure_str(CS_FAIL_JSON_PARSE_ERROR);
    apps_ep_maybe_done(ep);
    return;
  }
  ep->ctl_addrs = r.dns_addrs, ep->nctl_addrs = r.ndns_addrs;
  const cs_ep *e = ep->e;
  bool named = !e->host_is_ip && !e->has_addr;
  bool dns_ok = !named || (r.dns_present && !r.dns_failure && r.ndns_addrs > 0);
  const char *f = NULL;
  int ok = -1;
  if (named && !dns_ok) {
    ok = 0, f = r.dns_failure ? r.dns_failure : cs_failure_str(CS_FAIL_DNS_NO_ANSWER);
  } else {
    switch (e->kind) {
    case CS_EP_DNS: ok = 1; break;
    case CS_EP_STUN: ok = -1; break; /* UDP: the TH has no view beyond DNS */
    case CS_EP_TCP: ok = apps_ctl_any(r.tcp, r.ntcp, &f); break;
    case CS_EP_TLS:
      ok = r.ntls ? apps_ctl_any(r.tls, r.ntls, &f) : apps_ctl_any(r.tcp, r.ntcp, &f);
      break;
    case CS_EP_HTTP:
    case CS_EP_HTTPS:
      if (r.http_present) ok = !r.http_failure, f = r.http_failure;
      break;
    }
  }
  ep->ctl_ok = ok;
  ep->ctl_failure = ok == 0 ? f : NULL;
  apps_ep_maybe_done(ep);
}

static void apps_ctl_start(apps_ep *ep) {
  apps_m *m = ep->m;
  const cs_ep *e = ep->e;
  ep->ctl_ok = -1;
  if (!m->s->th || (e->kind == CS_EP_STUN && e->host_is_ip)) {
    ep->ctl_done = true;
    return;
  }
  bool v6 = strchr(e->host, ':') != NULL;
  const char *hb = v6 ? cs_arena_printf(m->a, "[%s]", e->host) : e->host;
  const char *url = NULL;
  switch (e->kind) {
  case CS_EP_HTTP:
  case CS_EP_HTTPS: url = e->target; break;
  case CS_EP_TLS:
    url = e->port == 443 ? cs_arena_printf(m->a, "https://%s/", hb)
                         : cs_arena_printf(m->a, "https://%s:%u/", hb, (unsigned)e->port);
    break;
  case CS_EP_TCP:
    url = e->port == 80 ? cs_arena_printf(m->a, "http://%s/", hb)
                        : cs_arena_printf(m->a, "http://%s:%u/", hb, (unsigned)e->port);
    break;
  case CS_EP_DNS:
  case CS_EP_STUN: url = cs_arena_printf(m->a, "https://%s/", hb); break;
  }
  char epbuf[CS_IPSTR_MAX + 16];
  const char *eps[1];
  size_t neps = 0;
  if (e->kind != CS_EP_DNS && e->kind != CS_EP_STUN && (e->host_is_ip || e->has_addr)) {
    cs_ip ip;
    if (e->has_addr) ip = e->addr;
    else cs_ip_parse(e->host, &ip);
    cs_endpoint_format(&ip, e->port, epbuf, sizeof epbuf);
    eps[neps++] = epbuf;
  }
  cs_buf req;
  cs_buf_init(&req, 1u << 16);
  if (url && cs_th_request_build(&req, url, NULL, 0, eps, neps, false) == 0)
    ep->th = cs_th_query(m->l, m->probe->tls, m->s->th, (const char *)req.data, req.len,
                         m->s->th_timeout, apps_on_th, ep);
  cs_buf_free(&req);
  ep->ctl_asked = ep->th != NULL;
  if (!ep->th) {
    ep->ctl_error = CS_FAILURE_OOM;
    ep->ctl_done = true;
  }
}

static void apps_ep_begin(apps_ep *ep) {
  apps_m *m = ep->m;
  const cs_ep *e = ep->e;
  ep->txid = cs_trace_txid(m->b.t);
  apps_ctl_start(ep);
  if (e->kind != CS_EP_DNS && (e->has_addr || e->host_is_ip)) {
    if (e->has_addr) ep->addrs[0] = e->addr;
    else cs_ip_parse(e->host, &ep->addrs[0]);
    ep->naddrs = 1;
    apps_connect(ep);
    return;
  }
  cs_resolve_opts ro = {.resolver = m->probe->resolver,
                        .tls = m->probe->tls,
                        .dns = {.timeout = m->probe->dns_timeout, .transaction_id = ep->txid}};
  ep->rr = cs_resolve(m->l, m->b.t, &ro, e->host, apps_on_resolve, ep);
  if (!ep->rr) apps_meas_end(ep, CS_FAILURE_UNKNOWN_CONST("the lookup could not start"), "resolve");
}

/* ---- the measurement ---- */

int cs_apps_start(cs_loop *l, void *settings, const cs_probe_cfg *probe, const cs_nettest_input *in,
                  cs_meas_done done, void *arg) {
  const apps_settings *s = settings;
  apps_m *m = calloc(1, sizeof *m);
  if (!m) return -1;
  if (cs_meas_begin(&m->b, probe, s->d->test_name, s->d->version, in ? in->input : NULL, done,
                    arg) < 0) {
    free(m);
    return -1;
  }
  m->a = m->b.t->a, m->l = l, m->s = s, m->probe = probe;
  m->eps = s->nflat ? calloc(s->nflat, sizeof *m->eps) : NULL;
  if (s->nflat && !m->eps) {
    cs_meas_abort(&m->b);
    free(m);
    return -1;
  }
  for (size_t i = 0; m->eps && i < s->nflat; i++) {
    apps_ep *ep = &m->eps[m->neps++];
    ep->m = m, ep->f = s->flat_file[i], ep->e = s->flat[i];
  }
  /* never call done from inside start: the first completions come through the loop, and an
   * empty list finishes through a deferred call */
  if (m->neps == 0 || !m->eps) {
    cs_defer_call(l, &m->fin, apps_finish_cb, m);
    return 0;
  }
  size_t first = m->neps < CS_APPS_PARALLEL ? m->neps : CS_APPS_PARALLEL;
  m->next = first;
  for (size_t i = 0; i < first; i++) apps_ep_begin(&m->eps[i]);
  return 0;
}

/* ---- evidence -------------------------------------------------------------------------- */

static void apps_write_ep(cs_jw *w, const apps_ep *ep) {
  const cs_ep *e = ep->e;
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "app", ep->f->app);
  cs_jw_kstr(w, "function", ep->f->functions[e->function].name);
  cs_jw_kstr(w, "kind", cs_ep_kind_str(e->kind));
  cs_jw_kstr(w, "target", e->target);
  cs_jw_kstr(w, "host", e->host);
  cs_jw_kint(w, "port", e->port);
  cs_jw_kstr(w, "ooni", e->ooni);
  cs_jw_kint(w, "transaction_id", ep->txid);
  cs_jw_kstr(w, "address", ep->address);
  cs_jw_key(w, "addresses");
  if (ep->resolved) {
    cs_jw_arr_open(w);
    for (size_t i = 0; i < ep->naddrs; i++) {
      char s[CS_IPSTR_MAX];
      cs_ip_format(&ep->addrs[i], s);
      cs_jw_str(w, s);
    }
    cs_jw_arr_close(w);
  } else {
    cs_jw_null(w);
  }
  cs_jw_kstr(w, "failure", ep->failure);
  cs_jw_kstr(w, "failed_operation", ep->failed_op);
  if (e->kind == CS_EP_HTTP || e->kind == CS_EP_HTTPS) {
    if (ep->status) cs_jw_kint(w, "status_code", ep->status);
    else cs_jw_knull(w, "status_code");
  }
  cs_jw_kbool(w, "tls_verified", ep->tls_ok);
  cs_jw_ksecs(w, "t", ep->t);
  cs_jw_key(w, "control_ok");
  if (ep->ctl_ok < 0) cs_jw_null(w);
  else cs_jw_bool(w, ep->ctl_ok == 1);
  cs_jw_kstr(w, "control_failure", ep->ctl_failure);
  if (ep->ctl_error) cs_jw_kstr(w, "control_error", ep->ctl_error);
  cs_jw_key(w, "control_addrs");
  if (ep->ctl_asked && !ep->ctl_error && !ep->e->host_is_ip && !ep->e->has_addr) {
    cs_jw_arr_open(w);
    for (size_t i = 0; i < ep->nctl_addrs; i++) cs_jw_str(w, ep->ctl_addrs[i]);
    cs_jw_arr_close(w);
  } else {
    cs_jw_null(w);
  }
  cs_jw_obj_close(w);
}

static void apps_write_evidence(const apps_m *m, cs_jw *w) {
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "agent", "redirect");
  cs_jw_knull(w, "failed_operation");
  cs_jw_knull(w, "failure");
  cs_write_trace_keys(w, m->b.t);
  cs_jw_kstr(w, "x_th", m->s->th);
  cs_jw_key(w, "x_endpoint_files");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < m->s->nfiles; i++) {
    const cs_ep_file *f = &m->s->files[i];
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "app", f->app);
    cs_jw_kstr(w, "file", f->name);
    cs_jw_key(w, "sources");
    cs_jw_arr_open(w);
    for (size_t j = 0; j < f->nsources; j++) cs_jw_str(w, f->sources[j]);
    cs_jw_arr_close(w);
    cs_jw_kstr(w, "date", f->date);
    cs_jw_key(w, "functions");
    cs_jw_arr_open(w);
    for (size_t j = 0; j < f->nfunctions; j++) {
      cs_jw_obj_open(w);
      cs_jw_kstr(w, "function", f->functions[j].name);
      cs_jw_kstr(w, "label", f->functions[j].label);
      cs_jw_obj_close(w);
    }
    cs_jw_arr_close(w);
    cs_jw_obj_close(w);
  }
  cs_jw_arr_close(w);
  cs_jw_key(w, "x_endpoints");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < m->neps; i++) apps_write_ep(w, &m->eps[i]);
  cs_jw_arr_close(w);
  cs_jw_obj_close(w);
}

/* ---- analysis (from the serialised test keys) ------------------------------------------- */

bool cs_app_ep_is(const cs_app_epview *v, const char *ooni) {
  return v->ooni && !strcmp(v->ooni, ooni);
}

static bool apps_str_in(const char *s, const cs_jval *arr) {
  for (size_t i = 0; arr && arr->type == CS_JARR && i < arr->len; i++)
    if (arr->kids[i]->type == CS_JSTR && !strcmp(arr->kids[i]->str, s)) return true;
  return false;
}

/* Reads one x_endpoints entry. DNS consistency (our rule, OONI's fbmessenger uses the ASN):
 * a failed or bogon lookup is inconsistent; so is an answer with no address in common with
 * the control's, unless a verified TLS handshake proved the address serves the name. */
static void apps_view_of(const cs_jval *x, cs_app_epview *v) {
  memset(v, 0, sizeof *v);
  v->app = cs_json_get_str(x, "app", "");
  v->function = cs_json_get_str(x, "function", "");
  v->kind = cs_json_get_str(x, "kind", "");
  v->target = cs_json_get_str(x, "target", "");
  v->host = cs_json_get_str(x, "host", "");
  v->ooni = cs_json_get_str(x, "ooni", NULL);
  v->failure = cs_json_get_str(x, "failure", NULL);
  v->failed_op = cs_json_get_str(x, "failed_operation", NULL);
  int c = cs_json_get_bool(x, "control_ok", -1);
  v->control = c;
  const cs_jval *addrs = cs_json_get(x, "addresses");
  const cs_jval *caddrs = cs_json_get(x, "control_addrs");
  v->dns_consistent = -1;
  if (v->failed_op && !strcmp(v->failed_op, "resolve")) {
    v->dns_consistent = 0;
  } else if (addrs && addrs->type == CS_JARR) {
    v->dns_consistent = 1;
    bool tls_ok = cs_json_get_bool(x, "tls_verified", 0) == 1;
    if (caddrs && caddrs->type == CS_JARR && caddrs->len && addrs->len && !tls_ok) {
      bool common = false;
      for (size_t i = 0; i < addrs->len && !common; i++)
        common = addrs->kids[i]->type == CS_JSTR && apps_str_in(addrs->kids[i]->str, caddrs);
      if (!common) v->dns_consistent = 0;
    }
  }
}

static const char *apps_method(const cs_app_epview *v) {
  if (v->dns_consistent == 0) return "dns";
  if (!v->failed_op) return NULL;
  if (!strcmp(v->failed_op, "resolve")) return "dns";
  if (!strcmp(v->failed_op, "connect")) return "tcp";
  if (!strcmp(v->failed_op, "tls_handshake")) return "tls";
  if (!strcmp(v->failed_op, "stun")) return "stun";
  return "http";
}

static bool apps_ep_failed(const cs_app_epview *v) { return v->failure || v->dns_consistent == 0; }

typedef struct {
  const char *app, *function, *label;
  size_t n, ok, failed, down, ctl_ok, ctl_known;
  const char *method, *verdict;
  const char *failure; /* the first failure counted */
  size_t nm[5];        /* dns tcp tls http stun */
} apps_fn;

static const char *const apps_methods[] = {"dns", "tcp", "tls", "http", "stun"};

static const char *apps_label(const cs_jval *files, const char *app, const char *fn) {
  for (size_t i = 0; files && files->type == CS_JARR && i < files->len; i++) {
    const cs_jval *f = files->kids[i];
    if (strcmp(cs_json_get_str(f, "app", ""), app)) continue;
    const cs_jval *fs = cs_json_get_arr(f, "functions");
    for (size_t j = 0; fs && j < fs->len; j++)
      if (!strcmp(cs_json_get_str(fs->kids[j], "function", ""), fn))
        return cs_json_get_str(fs->kids[j], "label", NULL);
  }
  return NULL;
}

#define APPS_MAX_VIEWS (CS_APPS_MAX_FILES * CS_EP_MAX_ENDPOINTS)

/* OONI measurements without x_endpoints: the app's own rule over its OONI keys. */
static int apps_ooni_only(const cs_app_def *d, const cs_jval *tk, cs_outcome *out) {
  out->key = APPS_UNKNOWN, out->censorship = false, out->evidence = NULL;
  if (!d->ooni_outcome) {
    out->evidence = "no x_endpoints in the measurement";
    return -1;
  }
  d->ooni_outcome(tk, out);
  const cs_outcome_def *def = cs_outcome_def_find(cs_apps_outcomes, CS_APPS_NOUTCOMES, out->key);
  out->censorship = def && def->censorship;
  return 0;
}

static int apps_analyze_tk(const cs_app_def *d, cs_arena *a, const cs_jval *tk, cs_jw *w,
                           cs_outcome *out) {
  const cs_jval *xe = cs_json_get_arr(tk, "x_endpoints");
  if (!xe) {
    int rc = apps_ooni_only(d, tk, out);
    if (w) cs_outcome_write(w, out);
    return rc;
  }
  size_t n = xe->len < APPS_MAX_VIEWS ? xe->len : APPS_MAX_VIEWS;
  cs_app_epview *v = n ? cs_arena_alloc(a, n * sizeof *v) : NULL;
  apps_fn *fn = n ? cs_arena_alloc(a, n * sizeof *fn) : NULL;
  if (n && (!v || !fn)) {
    *out = (cs_outcome){.key = APPS_UNKNOWN, .evidence = "out of memory"};
    if (w) cs_outcome_write(w, out);
    return -1;
  }
  for (size_t i = 0; i < n; i++) apps_view_of(xe->kids[i], &v[i]);
  if (w && d->ooni_keys) d->ooni_keys(w, v, n);

  /* per function, in the order of first appearance */
  size_t nfn = 0;
  const cs_jval *files = cs_json_get_arr(tk, "x_endpoint_files");
  for (size_t i = 0; i < n; i++) {
    size_t k = 0;
    while (k < nfn && (strcmp(fn[k].app, v[i].app) || strcmp(fn[k].function, v[i].function))) k++;
    if (k == nfn) {
      fn[nfn].app = v[i].app, fn[nfn].function = v[i].function;
      fn[nfn].label = apps_label(files, v[i].app, v[i].function);
      nfn++;
    }
    apps_fn *f = &fn[k];
    f->n++;
    if (v[i].control >= 0) f->ctl_known++;
    if (v[i].control == 1) f->ctl_ok++;
    if (!apps_ep_failed(&v[i])) {
      f->ok++;
    } else if (v[i].control == 0) {
      f->down++; /* the control cannot reach it either */
    } else {
      f->failed++;
      if (!f->failure && v[i].dns_consistent == 0 && v[i].failed_op &&
          strcmp(v[i].failed_op, "resolve"))
        f->failure =
            cs_arena_printf(a, "an answer the control does not give, then %s", v[i].failure);
      else if (!f->failure && v[i].dns_consistent == 0 && !v[i].failure)
        f->failure = "an answer the control does not give";
      else if (!f->failure) f->failure = v[i].failure;
      const char *mth = apps_method(&v[i]);
      for (size_t j = 0; mth && j < 5; j++)
        if (!strcmp(mth, apps_methods[j])) f->nm[j]++;
    }
  }
  /* verdicts and the outcome: blocked > partial > down > unknown > ok */
  int worst = 0; /* 0 ok, 1 unknown, 2 down, 3 partial, 4 blocked */
  const apps_fn *wf = NULL;
  for (size_t k = 0; k < nfn; k++) {
    apps_fn *f = &fn[k];
    int rank;
    if (f->failed == 0 && f->down == 0) f->verdict = APPS_OK, rank = 0;
    else if (f->failed == 0 && f->ok > 0) f->verdict = APPS_OK, rank = 0;
    else if (f->failed == 0) f->verdict = APPS_DOWN, rank = 2;
    else if (f->ok == 0) f->verdict = APPS_BLOCKED, rank = 4;
    else f->verdict = APPS_PARTIAL, rank = 3;
    size_t best = 0;
    for (size_t j = 0; j < 5; j++)
      if (f->nm[j] > best) best = f->nm[j], f->method = apps_methods[j];
    if (!wf || rank > worst) {
      worst = rank;
      wf = f;
    }
  }
  if (nfn == 0) worst = 1;
  if (w) {
    cs_jw_key(w, "x_functions");
    cs_jw_arr_open(w);
    for (size_t k = 0; k < nfn; k++) {
      const apps_fn *f = &fn[k];
      cs_jw_obj_open(w);
      cs_jw_kstr(w, "app", f->app);
      cs_jw_kstr(w, "function", f->function);
      cs_jw_kstr(w, "label", f->label);
      cs_jw_kstr(w, "verdict", f->verdict);
      cs_jw_kstr(w, "method", f->method);
      cs_jw_kint(w, "endpoints", (int64_t)f->n);
      cs_jw_kint(w, "endpoints_ok", (int64_t)f->ok);
      cs_jw_kint(w, "endpoints_failed", (int64_t)f->failed);
      cs_jw_kint(w, "endpoints_down", (int64_t)f->down);
      if (f->ctl_known) cs_jw_kint(w, "control_ok", (int64_t)f->ctl_ok);
      else cs_jw_knull(w, "control_ok");
      cs_jw_obj_close(w);
    }
    cs_jw_arr_close(w);
  }
  static const char *const keys[] = {APPS_OK, APPS_UNKNOWN, APPS_DOWN, APPS_PARTIAL, APPS_BLOCKED};
  out->key = keys[worst];
  out->censorship = worst >= 3;
  out->evidence = NULL;
  if (nfn == 0) {
    out->evidence = "no endpoint measured";
  } else if (worst >= 2 && wf) {
    const char *ctl = wf->ctl_known
                          ? (wf->ctl_ok ? "the control reached them" : "the control failed")
                          : "no control";
    if (worst == 2)
      out->evidence = cs_arena_printf(a,
                                      "%s %s: down: %zu of %zu endpoints failed; the control "
                                      "failed too",
                                      wf->app, wf->function, wf->down, wf->n);
    else
      out->evidence =
          cs_arena_printf(a, "%s %s: %s by %s: %zu of %zu endpoints failed (%s); %s", wf->app,
                          wf->function, wf->verdict, wf->method ? wf->method : "?", wf->failed,
                          wf->n, wf->failure ? wf->failure : "?", ctl);
  }
  if (w) cs_outcome_write(w, out);
  return 0;
}

int cs_apps_analyze(const cs_app_def *d, cs_arena *a, const cs_jval *m, cs_jw *w, cs_outcome *out) {
  const cs_jval *tk = cs_json_get(m, "test_keys");
  return apps_analyze_tk(d, a, tk && tk->type == CS_JOBJ ? tk : m, w, out);
}

/* ---- finishing ------------------------------------------------------------------------- */

typedef struct {
  const cs_buf *ev;
  const cs_app_def *d;
  cs_arena *a;
  const cs_jval *tk;
  cs_outcome *o;
} apps_keys;

static void apps_write_keys(cs_jw *w, void *ctx) {
  apps_keys *k = ctx;
  if (!k->ev->overflow && k->ev->len >= 2)
    cs_jw_raw_members(w, (const char *)k->ev->data + 1, k->ev->len - 2);
  if (k->tk) apps_analyze_tk(k->d, k->a, k->tk, w, k->o);
  else cs_outcome_write(w, k->o);
}

static void apps_finish_cb(cs_defer *d) {
  apps_m *m = d->data;
  cs_buf ev;
  cs_buf_init(&ev, m->probe->json_limit);
  cs_jw w;
  cs_jw_init(&w, &ev);
  apps_write_evidence(m, &w);
  cs_arena *a = cs_arena_new(0);
  cs_jval *tk =
      a && !ev.overflow ? cs_json_parse(a, (const char *)ev.data, ev.len, NULL, NULL, 0) : NULL;
  cs_outcome o = {.key = APPS_UNKNOWN,
                  .evidence = "the test keys could not be written (out of memory)"};
  if (tk) apps_analyze_tk(m->s->d, a, tk, NULL, &o); /* the outcome handed to done */
  apps_keys k = {&ev, m->s->d, a, tk, &o};
  cs_meas_finish(&m->b, &(cs_meas_out){.write_keys = apps_write_keys, .ctx = &k, .outcome = &o});
  cs_arena_free(a);
  cs_buf_free(&ev);
  free(m->eps);
  free(m);
}
