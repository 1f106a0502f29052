/* dnscheck.c - OONI's dnscheck nettest (ooni/spec ts-028, test keys as probe-cli's 0.9.2):
 * does a given resolver answer for a domain, through every address it has, and does its answer
 * agree with the probe's own resolver (the system resolver unless --resolver)?
 *
 * One input is one resolver: "system" (getaddrinfo), "udp://HOST[:PORT]" or "tcp://HOST[:PORT]"
 * (port 53 by default) or "https://HOST/PATH" (DNS over HTTPS). Every lookup goes through the
 * engine's one resolver entry (cs_resolve). For each input:
 *
 *   bootstrap ── HOST is a name: the system resolver resolves it (bogons are an error, as
 *                OONI's) ─┐
 *   lookups   ── the domain (--domain, default example.org) through the resolver, once per
 *                bootstrap address for UDP/TCP (keyed "udp://ADDR:PORT"), once for an IP literal,
 *                for DoH and for "system" (keyed by the input) ─┤
 *   control   ── the domain through the probe's resolver (system, or --resolver):
 *                x_control_lookup; not for the input "system" ─┘
 *             ──> test keys (evidence) ──> dc_outcome() on the serialised evidence ──> done
 *
 * Each lookup has its own trace, written in urlgetter's shape (agent, failed_operation,
 * failure, queries, network_events, ...); the lookups share the measurement's packet capture
 * (x_packets, x_middlebox at the top of test_keys, docs/forensics.md). A lookup whose answers include a bogon fails with
 * dns_bogon_error, as OONI's RejectDNSBogons (lab networks given with --lab-net are public).
 *
 * The outcome is computed by dc_outcome() from test_keys alone, so the run and `censorscope
 * analyze` (ours or OONI's measurements) agree by construction. No outcome counts as
 * censorship: one resolver answering differently from another is evidence worth a look, not
 * proof of who lies. See docs/nettests.md for the vocabulary and the deviations from OONI. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/resolve.h"
#include "nettests/meas.h"
#include "nettests/nettest.h"
#include "record/record.h"
#include "util/failure.h"
#include "util/url.h"

#define DC_VERSION "0.9.2"              /* probe-cli's dnscheck test keys */
#define DC_DEFAULT_DOMAIN "example.org" /* OONI's default */
#define DC_MAX_LOOKUPS 10               /* bootstrap addresses measured (OONI's parallelism) */
#define DC_MAX_COMPARE 64               /* addresses per lookup compared by the analysis */
#define DC_TRACE_LIMIT (8u << 20)       /* bytes of records per lookup */

/* ---- settings -------------------------------------------------------------------------- */

typedef struct {
  char *domain;
} dc_settings;

static void *dc_create(void) {
  dc_settings *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->domain = strdup(DC_DEFAULT_DOMAIN);
  if (!s->domain) {
    free(s);
    return NULL;
  }
  return s;
}

static void dc_destroy(void *settings) {
  dc_settings *s = settings;
  if (!s) return;
  free(s->domain);
  free(s);
}

static int dc_set_domain(void *settings, const char *arg, char *err, size_t errlen) {
  dc_settings *s = settings;
  size_t n = strlen(arg);
  if (n == 0 || n > 253 || strchr(arg, '/') || strchr(arg, ' ')) {
    snprintf(err, errlen, "not a domain name: %s", arg);
    return -1;
  }
  char *d = strdup(arg);
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  free(s->domain);
  s->domain = d;
  return 0;
}

static const cs_optdef dc_opts[] = {
    {"domain", 0, "NAME",
     "the domain to resolve through each resolver (default example.org, as OONI)", false,
     dc_set_domain},
};

/* ---- outcomes -------------------------------------------------------------------------- */

#define DC_DISAGREE "disagree"
#define DC_PARTIAL "partial"
#define DC_NXDOMAIN "nxdomain"
#define DC_BOGON "bogon"
#define DC_ERROR "resolver_error"
#define DC_TIMEOUT "timeout"
#define DC_UNREACHABLE "unreachable"
#define DC_BOOTSTRAP "bootstrap_failed"

static const cs_outcome_def dc_outcomes[] = {
    {CS_OUTCOME_ACCESSIBLE, "Answered", false},
    {DC_DISAGREE, "Answers disagree", false},
    {DC_PARTIAL, "Some addresses failed", false},
    {DC_NXDOMAIN, "NXDOMAIN", false},
    {DC_BOGON, "Bogon answer", false},
    {DC_ERROR, "Resolver error", false},
    {DC_TIMEOUT, "Resolver timed out", false},
    {DC_UNREACHABLE, "Resolver unreachable", false},
    {DC_BOOTSTRAP, "Bootstrap failed", false},
    {CS_OUTCOME_UNDETERMINED, "Undetermined", false},
};

/* ---- analysis -------------------------------------------------------------------------- */

/* What one lookup (or the control) amounts to, from its failure string. Order matters: when no
 * lookup answered, the outcome is that of the lowest class found. */
typedef enum {
  DC_C_ANSWERED,
  DC_C_NXDOMAIN,
  DC_C_BOGON,
  DC_C_ERROR,
  DC_C_TIMEOUT,
  DC_C_UNREACHABLE,
} dc_class;

static dc_class dc_classify(const char *failure) {
  if (!failure) return DC_C_ANSWERED;
  if (!strcmp(failure, "dns_nxdomain_error")) return DC_C_NXDOMAIN;
  if (!strcmp(failure, "dns_bogon_error")) return DC_C_BOGON;
  if (!strcmp(failure, "generic_timeout_error")) return DC_C_TIMEOUT;
  if (!strncmp(failure, "dns_", 4) || !strncmp(failure, CS_FAILURE_UNKNOWN_CONST("doh"),
                                               sizeof CS_FAILURE_UNKNOWN_CONST("doh") - 1))
    return DC_C_ERROR;     /* the resolver answered, with an error or nonsense */
  return DC_C_UNREACHABLE; /* connect, TLS, HTTP transport, socket errors */
}

/* A lookup in urlgetter's shape: its failure and the addresses of its answers. */
typedef struct {
  const char *key;
  const char *failure;
  dc_class cls;
  cs_ip addrs[DC_MAX_COMPARE];
  size_t naddrs;
} dc_view;

static void dc_view_of(const char *key, const cs_jval *v, dc_view *o) {
  memset(o, 0, sizeof *o);
  o->key = key;
  const cs_jval *f = cs_json_get(v, "failure");
  o->failure = f && f->type == CS_JSTR ? f->str : NULL;
  o->cls = dc_classify(o->failure);
  const cs_jval *qs = cs_json_get(v, "queries");
  if (!qs || qs->type != CS_JARR) return;
  for (size_t i = 0; i < qs->len; i++) {
    const cs_jval *ans = cs_json_get(qs->kids[i], "answers");
    if (!ans || ans->type != CS_JARR) continue;
    for (size_t j = 0; j < ans->len && o->naddrs < DC_MAX_COMPARE; j++) {
      const char *s = cs_json_get_str(ans->kids[j], "ipv4", NULL);
      if (!s) s = cs_json_get_str(ans->kids[j], "ipv6", NULL);
      if (s && cs_ip_parse(s, &o->addrs[o->naddrs])) o->naddrs++;
    }
  }
}

static bool dc_share_addr(const dc_view *x, const dc_view *y) {
  for (size_t i = 0; i < x->naddrs; i++)
    for (size_t j = 0; j < y->naddrs; j++)
      if (x->addrs[i].family == y->addrs[j].family && !memcmp(x->addrs[i].b, y->addrs[j].b, 16))
        return true;
  return false;
}

static const char *dc_fail_str(const dc_view *v) { return v->failure ? v->failure : "answered"; }

/* The outcome of a dnscheck measurement from its test_keys. Returns -1 (undetermined) when
 * they have no "lookups" object. Strings go into arena a or point into tk. */
static int dc_outcome(cs_arena *a, const cs_jval *tk, cs_outcome *out) {
  *out = (cs_outcome){.key = CS_OUTCOME_UNDETERMINED};
  const cs_jval *lk = cs_json_get(tk, "lookups");
  if (!lk || lk->type != CS_JOBJ) return -1;
  const char *input_error = cs_json_get_str(tk, "x_input_error", NULL);
  if (input_error) {
    out->evidence = input_error;
    return 0;
  }
  const char *boot_fail = cs_json_get_str(tk, "bootstrap_failure", NULL);
  if (lk->len == 0) {
    if (boot_fail) {
      out->key = DC_BOOTSTRAP;
      out->evidence = cs_arena_printf(a, "bootstrap: %s", boot_fail);
    } else {
      out->evidence = "no lookup was made";
    }
    return 0;
  }

  /* The lookups, and the control (the probe's resolver), when there is one. */
  size_t n = lk->len;
  dc_view *v = cs_arena_alloc(a, (n + 1) * sizeof *v);
  if (!v) return -1;
  size_t nanswered = 0, first_answered = n, first_failed = n;
  dc_class worst = DC_C_UNREACHABLE;
  bool dns_level_failure = false;
  for (size_t i = 0; i < n; i++) {
    dc_view_of(lk->keys[i], lk->kids[i], &v[i]);
    if (v[i].cls == DC_C_ANSWERED) {
      nanswered++;
      if (first_answered == n) first_answered = i;
      continue;
    }
    if (first_failed == n || v[i].cls < v[first_failed].cls) first_failed = i;
    if (v[i].cls < worst) worst = v[i].cls;
    if (v[i].cls <= DC_C_ERROR) dns_level_failure = true;
  }
  const cs_jval *cj = cs_json_get(tk, "x_control_lookup");
  dc_view *ctl = NULL;
  if (cj && cj->type == CS_JOBJ) {
    ctl = &v[n];
    dc_view_of("control", cj, ctl);
  }

  if (nanswered == n) {
    /* Everyone answered: do the answers overlap? (Disjoint sets may be a CDN's geography;
     * the outcome says they differ, not who is right.) */
    for (size_t i = 0; i < n; i++)
      for (size_t j = i + 1; j < n; j++)
        if (!dc_share_addr(&v[i], &v[j])) {
          out->key = DC_DISAGREE;
          out->evidence = cs_arena_printf(a, "%s and %s answered with no address in common",
                                          v[i].key, v[j].key);
          return 0;
        }
    if (ctl && ctl->cls == DC_C_ANSWERED && !dc_share_addr(&v[0], ctl)) {
      out->key = DC_DISAGREE;
      out->evidence = cs_arena_printf(
          a, "%s and the probe's resolver answered with no address in common", v[0].key);
      return 0;
    }
    if (ctl && ctl->cls <= DC_C_ERROR && ctl->cls != DC_C_ANSWERED) {
      out->key = DC_DISAGREE;
      out->evidence =
          cs_arena_printf(a, "%s answered; the probe's resolver: %s", v[0].key, dc_fail_str(ctl));
      return 0;
    }
    out->key = CS_OUTCOME_ACCESSIBLE;
    out->evidence = ctl && ctl->cls != DC_C_ANSWERED
                        ? cs_arena_printf(a, "answered; the probe's resolver: %s", ctl->failure)
                        : NULL;
    return 0;
  }

  const dc_view *f = &v[first_failed];
  if (nanswered > 0) {
    const dc_view *ok = &v[first_answered];
    out->key = dns_level_failure ? DC_DISAGREE : DC_PARTIAL;
    out->evidence = cs_arena_printf(a, "%s answered; %s: %s", ok->key, f->key, f->failure);
    return 0;
  }

  /* Nobody answered: the most telling failure. */
  if (worst == DC_C_NXDOMAIN && ctl && ctl->cls == DC_C_ANSWERED) {
    out->key = DC_DISAGREE;
    out->evidence = cs_arena_printf(a, "%s: %s; the probe's resolver answered", f->key, f->failure);
    return 0;
  }
  switch (worst) {
  case DC_C_NXDOMAIN: out->key = DC_NXDOMAIN; break;
  case DC_C_BOGON: out->key = DC_BOGON; break;
  case DC_C_ERROR: out->key = DC_ERROR; break;
  case DC_C_TIMEOUT: out->key = DC_TIMEOUT; break;
  case DC_C_ANSWERED: /* not reached: nobody answered */
  case DC_C_UNREACHABLE: out->key = DC_UNREACHABLE; break;
  }
  out->evidence = ctl && worst == DC_C_NXDOMAIN
                      ? cs_arena_printf(a, "%s: %s; the probe's resolver: %s", f->key, f->failure,
                                        dc_fail_str(ctl))
                      : cs_arena_printf(a, "%s: %s", f->key, f->failure);
  return 0;
}

static int dc_analyze(cs_arena *a, const cs_jval *m, const cs_analysis_opts *opt, cs_jw *w,
                      cs_outcome *out) {
  (void)opt;
  const cs_jval *tk = cs_json_get(m, "test_keys");
  int rc = dc_outcome(a, tk && tk->type == CS_JOBJ ? tk : m, out);
  if (w) cs_outcome_write(w, out);
  return rc;
}

/* ---- the measurement ------------------------------------------------------------------- */

typedef enum { DC_SYSTEM, DC_UDP, DC_TCP, DC_DOH } dc_kind;

typedef struct dc dc;

typedef struct {
  dc *m;
  const char *key;  /* the lookups key */
  const char *mode; /* resolver spec: "system", "udp://IP:PORT", the DoH URL... */
  cs_trace *t;
  const char *failure;
  cs_resolve_req *req;
} dc_lookup;

struct dc {
  cs_meas_base b; /* envelope, delivery; b.t holds the bootstrap's records and our strings */
  cs_arena *a;    /* b.t->a */
  cs_loop *l;
  const dc_settings *s;
  const cs_probe_cfg *probe;
  const char *category, *input_error;
  dc_kind kind;
  const char *host; /* the resolver's host (UDP, TCP, DoH), IPv6 without brackets */
  uint16_t port;
  bool host_is_ip;
  cs_dns_opts dopts;

  bool booted; /* false: no bootstrap (system, IP literal, bad input) */
  const char *boot_failure;
  dc_lookup ctl; /* x_control_lookup: the probe's resolver (not for "system") */
  bool has_ctl;
  dc_lookup lk[DC_MAX_LOOKUPS];
  size_t nlk;
  cs_resolve_req *boot_req;
  int pending;
  cs_defer fin;
};

static void dc_finish_cb(cs_defer *d);

static void dc_probe_done(void *arg) {
  dc *m = arg;
  cs_defer_call(m->l, &m->fin, dc_finish_cb, m);
}

/* When every step is done: the TTL-copy probe if a DNS injection was seen (engine/capture.h),
 * then the measurement is written. */
static void dc_step_done(dc *m) {
  if (--m->pending == 0 && !cs_meas_ttl_probe(&m->b, dc_probe_done, m)) dc_probe_done(m);
}

/* A lookup's failure as OONI's LookupHost reports it: none when A or AAAA gave addresses
 * (the other question's failure stays in its `queries` record), and a bogon among the answers
 * makes the lookup fail (RejectDNSBogons). */
static const char *dc_failure_of(const cs_dns_result *r) {
  for (size_t i = 0; i < r->naddrs; i++)
    if (cs_ip_is_bogon(&r->addrs[i])) return cs_failure_str(CS_FAIL_DNS_BOGON);
  if (r->naddrs) return NULL;
  return r->failure ? r->failure : cs_failure_str(CS_FAIL_DNS_NO_ANSWER);
}

static void dc_on_lookup(void *arg, const cs_dns_result *r) {
  dc_lookup *lu = arg;
  lu->req = NULL; /* freed by the engine after this callback */
  lu->failure = dc_failure_of(r);
  dc_step_done(lu->m);
}

/* Starts one lookup of the domain through lu->mode; a lookup that cannot start is done with
 * its failure (and still written). */
static void dc_lookup_start(dc *m, dc_lookup *lu) {
  m->pending++;
  lu->m = m;
  lu->t = cs_trace_new(m->b.t->zero, DC_TRACE_LIMIT);
  if (lu->t) {
    lu->t->capture = m->b.t->capture; /* its sockets are this measurement's flows (x_packets) */
    cs_resolve_opts ro = {.resolver = lu->mode, .tls = m->probe->tls, .dns = m->dopts};
    lu->req = cs_resolve(m->l, lu->t, &ro, m->s->domain, dc_on_lookup, lu);
  }
  if (!lu->req) {
    lu->failure =
        lu->t ? CS_FAILURE_UNKNOWN_CONST(
                    "the lookup could not start (bad domain, no trust ") "store or out of memory)"
              : CS_FAILURE_OOM;
    dc_step_done(m);
  }
}

static void dc_add_lookup(dc *m, const char *key, const char *mode) {
  dc_lookup *lu = &m->lk[m->nlk++];
  lu->key = key, lu->mode = mode;
  if (!key || !mode) { /* out of memory formatting them */
    lu->key = key ? key : "?";
    lu->failure = CS_FAILURE_OOM;
    return;
  }
  dc_lookup_start(m, lu);
}

/* The lookups through the resolver at addresses addrs (UDP/TCP: one each) or its URL (DoH). */
static void dc_start_lookups(dc *m, const cs_ip *addrs, size_t naddrs) {
  if (m->kind == DC_SYSTEM) {
    dc_add_lookup(m, "system", "system");
    return;
  }
  if (m->kind == DC_DOH) {
    /* The DoH transport resolves the URL's host itself: one lookup, keyed by the input
     * (OONI pins each bootstrap address; see docs/nettests.md). */
    dc_add_lookup(m, m->b.input, m->b.input);
    return;
  }
  for (size_t i = 0; i < naddrs && m->nlk < DC_MAX_LOOKUPS; i++) {
    char ep[CS_IPSTR_MAX + 16];
    cs_endpoint_format(&addrs[i], m->port, ep, sizeof ep);
    const char *mode = cs_arena_printf(m->a, "%s://%s", m->kind == DC_TCP ? "tcp" : "udp", ep);
    dc_add_lookup(m, m->host_is_ip ? m->b.input : mode, mode);
  }
}

static void dc_on_bootstrap(void *arg, const cs_dns_result *r) {
  dc *m = arg;
  m->boot_req = NULL;
  m->boot_failure = dc_failure_of(r);
  if (!m->boot_failure) dc_start_lookups(m, r->addrs, r->naddrs);
  dc_step_done(m);
}

/* Parses the input into kind, host, port. Returns an error message or NULL. */
static const char *dc_parse_input(dc *m) {
  const char *in = m->b.input;
  if (!strcmp(in, "system")) {
    m->kind = DC_SYSTEM;
    return NULL;
  }
  if (!strncasecmp(in, "https://", 8)) {
    cs_url u;
    char err[128];
    if (cs_url_parse(m->a, in, &u, err, sizeof err) != 0)
      return cs_arena_printf(m->a, "invalid DoH URL: %s", err);
    m->kind = DC_DOH, m->host = u.host, m->port = u.port, m->host_is_ip = u.host_is_ip;
    return NULL;
  }
  if (strncasecmp(in, "udp://", 6) != 0 && strncasecmp(in, "tcp://", 6) != 0)
    return "unsupported resolver: give system, udp://HOST[:PORT], tcp://HOST[:PORT] or "
           "https://HOST/PATH";
  m->kind = tolower((unsigned char)in[0]) == 't' ? DC_TCP : DC_UDP;
  const char *h = in + 6, *end;
  char *host;
  if (*h == '[') {
    end = strchr(h, ']');
    if (!end) return "invalid resolver: unterminated [";
    host = cs_arena_strndup(m->a, h + 1, (size_t)(end - h - 1));
    end++;
  } else {
    end = strchr(h, ':');
    if (!end) end = h + strlen(h);
    host = cs_arena_strndup(m->a, h, (size_t)(end - h));
  }
  if (!host) return "out of memory";
  m->port = 53;
  if (*end == ':') {
    char *e;
    unsigned long p = strtoul(end + 1, &e, 10);
    if (e == end + 1 || *e || p == 0 || p > 65535) return "invalid resolver: bad port";
    m->port = (uint16_t)p;
  } else if (*end) {
    return "invalid resolver: trailing characters";
  }
  if (!*host || strchr(host, '/')) return "invalid resolver: no host";
  cs_ip ip;
  m->host_is_ip = cs_ip_parse(host, &ip);
  m->host = host;
  return NULL;
}

static void dc_free(dc *m) {
  cs_trace_free(m->ctl.t);
  for (size_t i = 0; i < m->nlk; i++) cs_trace_free(m->lk[i].t);
  free(m);
}

static int dc_start(cs_loop *l, void *settings, const cs_probe_cfg *probe,
                    const cs_nettest_input *in, cs_meas_done done, void *arg) {
  dc *m = calloc(1, sizeof *m);
  if (!m) return -1;
  if (!in->input || cs_meas_begin(&m->b, probe, "dnscheck", DC_VERSION, in->input, done, arg) < 0) {
    free(m);
    return -1;
  }
  cs_meas_capture(&m->b, l); /* x_packets, x_middlebox of every lookup (engine/capture.h) */
  m->a = m->b.t->a;
  m->category = in->category ? cs_arena_strdup(m->a, in->category) : NULL;
  m->l = l, m->s = settings, m->probe = probe;
  m->dopts = (cs_dns_opts){.timeout = probe->dns_timeout};
  m->pending = 1; /* this function, until it has started everything */

  m->input_error = dc_parse_input(m);
  if (!m->input_error) {
    if (m->kind != DC_SYSTEM) {
      m->has_ctl = true;
      m->ctl.key = "control";
      m->ctl.mode = probe->resolver && *probe->resolver ? probe->resolver : "system";
      dc_lookup_start(m, &m->ctl);
    }
    if (m->kind == DC_SYSTEM) {
      dc_start_lookups(m, NULL, 0);
    } else if (m->host_is_ip) {
      cs_ip ip;
      cs_ip_parse(m->host, &ip);
      dc_start_lookups(m, &ip, 1);
    } else {
      m->booted = true;
      cs_resolve_opts ro = {.resolver = "system", .dns = m->dopts};
      m->boot_req = cs_resolve(l, m->b.t, &ro, m->host, dc_on_bootstrap, m);
      if (m->boot_req) m->pending++;
      else m->boot_failure = CS_FAILURE_UNKNOWN_CONST("the bootstrap could not start");
    }
  }
  dc_step_done(m); /* deferred: done is never called from inside start */
  return 0;
}

/* ---- output ---------------------------------------------------------------------------- */

/* One lookup in urlgetter's test-keys shape. */
static void dc_write_lookup(cs_jw *w, const dc_lookup *lu) {
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "agent", "redirect");
  cs_jw_kstr(w, "failed_operation", lu->failure ? "resolve" : NULL);
  cs_jw_kstr(w, "failure", lu->failure);
  if (lu->t) {
    cs_write_trace_keys(w, lu->t);
  } else {
    static const char *const keys[] = {"queries", "tcp_connect", "tls_handshakes", "requests",
                                       "network_events"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) cs_jw_knull(w, keys[i]);
  }
  cs_jw_obj_close(w);
}

/* The test keys that are evidence (no verdict yet). */
static void dc_write_evidence(const dc *m, cs_jw *w) {
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "x_default_addrs", "");
  cs_jw_kstr(w, "domain", m->s->domain);
  cs_jw_kbool(w, "x_residual", false);
  cs_jw_key(w, "bootstrap");
  if (m->booted) {
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "agent", "");
    cs_jw_kstr(w, "failed_operation", m->boot_failure ? "resolve" : NULL);
    cs_jw_kstr(w, "failure", m->boot_failure);
    cs_write_trace_keys(w, m->b.t);
    cs_jw_obj_close(w);
  } else {
    cs_jw_null(w);
  }
  cs_jw_kstr(w, "bootstrap_failure", m->boot_failure);
  cs_jw_key(w, "lookups");
  cs_jw_obj_open(w);
  for (size_t i = 0; i < m->nlk; i++) {
    cs_jw_key(w, m->lk[i].key);
    dc_write_lookup(w, &m->lk[i]);
  }
  cs_jw_obj_close(w);
  cs_jw_key(w, "x_control_lookup");
  if (m->has_ctl) dc_write_lookup(w, &m->ctl);
  else cs_jw_null(w);
  if (m->input_error) cs_jw_kstr(w, "x_input_error", m->input_error);
  cs_jw_obj_close(w);
}

typedef struct {
  const cs_buf *ev; /* the evidence, one serialised object */
  const cs_outcome *o;
} dc_keys;

/* The test keys: the evidence as it was analysed, then the outcome. */
static void dc_write_keys(cs_jw *w, void *ctx) {
  const dc_keys *k = ctx;
  if (!k->ev->overflow && k->ev->len >= 2)
    cs_jw_raw_members(w, (const char *)k->ev->data + 1, k->ev->len - 2);
  cs_outcome_write(w, k->o);
}

static void dc_finish_cb(cs_defer *d) {
  dc *m = d->data;
  cs_buf ev, ann;
  cs_buf_init(&ev, m->probe->json_limit);
  cs_buf_init(&ann, 4096);
  cs_jw w;
  cs_jw_init(&w, &ev);
  dc_write_evidence(m, &w);

  /* The outcome from the serialised evidence, as `censorscope analyze` computes it. */
  cs_arena *a = cs_arena_new(0);
  cs_jval *tk =
      a && !ev.overflow ? cs_json_parse(a, (const char *)ev.data, ev.len, NULL, NULL, 0) : NULL;
  cs_outcome o = {.key = CS_OUTCOME_UNDETERMINED,
                  .evidence = "the test keys could not be written (out of memory)"};
  if (tk) dc_outcome(a, tk, &o);

  if (m->category) {
    cs_jw aw;
    cs_jw_init(&aw, &ann);
    cs_jw_obj_open(&aw);
    cs_jw_kstr(&aw, "engine_name", "libcensorscope");
    cs_jw_kstr(&aw, "category_code", m->category);
    cs_jw_obj_close(&aw);
  }
  dc_keys k = {&ev, &o};
  cs_meas_finish(&m->b,
                 &(cs_meas_out){
                     .annotations_json = m->category && !ann.overflow ? cs_buf_cstr(&ann) : NULL,
                     .write_keys = dc_write_keys,
                     .ctx = &k,
                     .outcome = &o,
                 });
  cs_arena_free(a);
  cs_buf_free(&ann);
  cs_buf_free(&ev);
  dc_free(m);
}

/* ---- the registry entry ---------------------------------------------------------------- */

const cs_nettest cs_nettest_dnscheck = {
    .name = "dnscheck",
    .version = DC_VERSION,
    .summary = "check that DNS resolvers (system, UDP, TCP, DoH) answer for a domain and agree",
    .help = "For each resolver (\"system\", udp://HOST[:PORT], tcp://HOST[:PORT], or\n"
            "https://HOST/PATH for DNS over HTTPS): resolve the resolver's own name with the\n"
            "system resolver when it is a name (the bootstrap), resolve --domain through the\n"
            "resolver (through each bootstrap address for UDP/TCP) and through the probe's own\n"
            "resolver (--resolver, default system), and compare. Prints one OONI dnscheck\n"
            "measurement per line (bootstrap, bootstrap_failure, lookups) plus x_control_lookup\n"
            "and the outcome; none of the outcomes counts as censorship (see docs/nettests.md).",
    .synopsis = "(RESOLVER... | -f LIST)",
    .input = CS_INPUT_RESOLVER,
    .db_by_default = true,
    .lines_by_default = true,
    .opts = dc_opts,
    .nopts = sizeof dc_opts / sizeof *dc_opts,
    .outcomes = dc_outcomes,
    .noutcomes = sizeof dc_outcomes / sizeof *dc_outcomes,
    .create = dc_create,
    .destroy = dc_destroy,
    .start = dc_start,
    .analyze = dc_analyze,
};
