/* resolver_identity.c - is a resolver's address answered by that resolver? (issue 14,
 * docs/forensics.md "Resolver identity"). WMS 2.0's "WAN-NAT" DNATs public resolvers'
 * addresses to an operator resolver: 8.8.8.8 answers, but it is not Google. One input is one
 * resolver (udp://IP[:PORT], tcp://IP[:PORT], or https://... for a DoH resolver):
 *
 *   whoami   ── two A lookups of RANDOM.ZONE through the resolver, ZONE an authoritative zone
 *               that answers with the address of whoever asked (`censorscope helper
 *               --dns-zone`): the resolver that really resolved them (answered_by) ─┐
 *   doh      ── with --doh URL (the same operator's DNS over HTTPS, which a DNAT of port 53
 *               does not reach): the same lookup through it, the genuine egress ─┤
 *   domain   ── with --doh and --domain: the domain through both, answers compared ─┘
 *            ──> x_resolver_identity {resolver, dnat, answered_by, evidence[]} ──> outcome
 *
 *   ttl      ── with CAP_NET_RAW (engine/capture.h): the IP TTL of the resolver's DNS replies
 *               (UDP; the SYN-ACK for tcp://) versus a TCP handshake to port 443 (else 853) of
 *               the same address, which a DNAT of port 53 does not touch: its SYN-ACK (or RST)
 *               comes from the host really behind the address (analysis/hopcount.h)
 *
 * dnat is true when answered_by is outside every expected egress (--egress CIDR: the
 * operator's published egress ranges, and the DoH view's /24 or /48), false when inside,
 * null when either side is unknown (the evidence says which). Differing answers for --domain
 * are evidence, never a verdict alone (a DNS lie or injection differs too). The reply TTLs
 * never decide alone either: a hop difference beyond CS_HOP_TOLERANCE backs a dnat true, and
 * turns a false into null (a transparent proxy forwarding to the genuine resolver, or two
 * paths); without capture the fields are null and the evidence says why.
 *
 * A nettest of its own, not a dnscheck option: dnscheck's test keys are OONI's (ts-028) and
 * its input set (system, any resolver) differs; this one needs the helper's zone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analysis/hopcount.h"
#include "engine/capture.h"
#include "engine/dial.h"
#include "engine/dnswire.h"
#include "engine/resolve.h"
#include "nettests/meas.h"
#include "nettests/nettest.h"
#include "record/record.h"
#include "util/failure.h"
#include "util/ipnet.h"

#define RI_VERSION "0.1.0"
#define RI_MAX_EGRESS 32
#define RI_WHOAMI 2          /* lookups through the resolver */
#define RI_OTHER_TIMEOUT 5.0 /* s per "other traffic" handshake (without --tcp-timeout) */

/* The ports of the resolver's address whose answer shows the genuine host's distance: DoH and
 * DoT, which a DNAT of port 53 leaves alone (853 only when 443 answered nothing). */
static const uint16_t ri_other_ports[] = {443, 853};

/* ---- settings ------------------------------------------------------------------------------ */

typedef struct {
  const char *zone, *doh, *domain;
  cs_cidr egress[RI_MAX_EGRESS];
  const char *egress_str[RI_MAX_EGRESS];
  size_t negress;
} ri_settings;

static void *ri_create(void) { return calloc(1, sizeof(ri_settings)); }
static void ri_destroy(void *s) { free(s); }

static int set_zone(void *settings, const char *arg, char *err, size_t errlen) {
  cs_dnswire_name n;
  if (!*arg || strlen(arg) > 200 || cs_dnswire_name_from_str(arg, &n)) {
    snprintf(err, errlen, "needs a DNS name");
    return -1;
  }
  ((ri_settings *)settings)->zone = arg;
  return 0;
}

static int set_doh(void *settings, const char *arg, char *err, size_t errlen) {
  cs_resolver_spec sp;
  if (cs_resolver_spec_parse(arg, &sp, err, errlen) < 0) return -1;
  if (sp.kind != CS_RESOLVER_DOH) {
    snprintf(err, errlen, "needs an https:// DoH URL");
    return -1;
  }
  ((ri_settings *)settings)->doh = arg;
  return 0;
}

static int set_domain(void *settings, const char *arg, char *err, size_t errlen) {
  cs_dnswire_name n;
  if (!*arg || cs_dnswire_name_from_str(arg, &n)) {
    snprintf(err, errlen, "needs a DNS name");
    return -1;
  }
  ((ri_settings *)settings)->domain = arg;
  return 0;
}

static int set_egress(void *settings, const char *arg, char *err, size_t errlen) {
  ri_settings *s = settings;
  if (s->negress == RI_MAX_EGRESS) {
    snprintf(err, errlen, "at most %d ranges", RI_MAX_EGRESS);
    return -1;
  }
  if (!cs_cidr_parse(arg, &s->egress[s->negress])) {
    snprintf(err, errlen, "needs a CIDR range (ADDR/BITS)");
    return -1;
  }
  s->egress_str[s->negress++] = arg;
  return 0;
}

static const cs_optdef ri_opts[] = {
    {"whoami-zone", 0, "NAME",
     "the identity zone: every name under it is answered with the asking resolver's address "
     "(`censorscope helper --dns-zone NAME`; required)",
     false, set_zone},
    {"egress", 0, "CIDR",
     "an egress range the resolver's operator publishes (its queries to authoritative servers "
     "come from there); repeatable",
     true, set_egress},
    {"doh", 0, "URL",
     "the operator's DNS-over-HTTPS endpoint: its answer to the identity query is the genuine "
     "egress (a DNAT of port 53 does not reach it)",
     false, set_doh},
    {"domain", 0, "NAME",
     "with --doh: also resolve NAME through both and compare the answers (evidence only)", false,
     set_domain},
};

static int ri_prepare(void *settings, const cs_probe_cfg *probe, char *err, size_t errlen) {
  (void)probe;
  ri_settings *s = settings;
  if (!s->zone) {
    snprintf(err, errlen, "give the identity zone with --whoami-zone NAME");
    return -1;
  }
  return 0;
}

/* ---- outcome (from the serialised test keys: the run and `analyze` agree) ----------------- */

#define RI_DNAT "dnat"
#define RI_GENUINE CS_OUTCOME_ACCESSIBLE /* the resolver answers for itself */

static const cs_outcome_def ri_outcomes[] = {
    {RI_GENUINE, "Answered by its own operator", false},
    {RI_DNAT, "Answered by another resolver (DNAT)", false},
    {CS_OUTCOME_UNDETERMINED, "Undetermined", false},
};

static int ri_outcome(cs_arena *a, const cs_jval *tk, cs_outcome *out) {
  *out = (cs_outcome){.key = CS_OUTCOME_UNDETERMINED};
  const cs_jval *x = cs_json_get(tk, "x_resolver_identity");
  if (!x || x->type != CS_JOBJ) {
    out->evidence = "no x_resolver_identity";
    return -1;
  }
  int d = cs_json_get_bool(x, "dnat", -1);
  const char *by = cs_json_get_str(x, "answered_by", NULL);
  const char *res = cs_json_get_str(x, "resolver", "?");
  const cs_jval *ev = cs_json_get(x, "evidence");
  const char *why = ev && ev->type == CS_JARR && ev->len && ev->kids[0]->type == CS_JSTR
                        ? ev->kids[0]->str
                        : NULL;
  if (d == 1) {
    out->key = RI_DNAT;
    out->evidence = cs_arena_printf(a, "%s answered by %s", res, by ? by : "?");
  } else if (d == 0) {
    out->key = RI_GENUINE;
    out->evidence = cs_arena_printf(a, "%s answered by %s", res, by ? by : "?");
  } else {
    out->evidence = why;
  }
  return 0;
}

static int ri_analyze(cs_arena *a, const cs_jval *m, const cs_analysis_opts *opt, cs_jw *w,
                      cs_outcome *out) {
  (void)opt;
  const cs_jval *tk = cs_json_get(m, "test_keys");
  int rc = ri_outcome(a, tk && tk->type == CS_JOBJ ? tk : m, out);
  if (w) cs_outcome_write(w, out);
  return rc;
}

/* ---- the measurement ----------------------------------------------------------------------- */

typedef struct ri ri;

typedef struct {
  ri *m;
  const char *what; /* "whoami" | "whoami_doh" | "domain" | "domain_doh" */
  const char *via;  /* resolver spec */
  const char *name;
  const char *failure;
  cs_ip addrs[8];
  size_t naddrs;
  cs_resolve_req *req;
} ri_lookup;

struct ri {
  cs_meas_base b;
  cs_loop *l;
  const ri_settings *s;
  const cs_probe_cfg *probe;
  const char *input_error;
  cs_resolver_spec sp;
  /* the "other traffic" handshake (only with capture, for udp:// and tcp:// resolvers) */
  cs_dial_opts other[2]; /* per port: each must outlive its dial */
  size_t other_try;      /* index in ri_other_ports of the handshake under way */
  const char *other_failure[2];
  ri_lookup lk[RI_WHOAMI + 3];
  size_t nlk;
  int pending;
  cs_defer fin;
};

static void ri_finish_cb(cs_defer *d);

static void ri_step_done(ri *m) {
  if (--m->pending == 0) cs_defer_call(m->l, &m->fin, ri_finish_cb, m);
}

static void ri_on_lookup(void *arg, const cs_dns_result *r) {
  ri_lookup *lu = arg;
  lu->req = NULL;
  lu->failure = r->failure && !r->naddrs ? cs_arena_strdup(lu->m->b.t->a, r->failure) : NULL;
  if (!r->naddrs && !lu->failure) lu->failure = cs_failure_str(CS_FAIL_DNS_NO_ANSWER);
  for (size_t i = 0; i < r->naddrs && lu->naddrs < 8; i++) lu->addrs[lu->naddrs++] = r->addrs[i];
  ri_step_done(lu->m);
}

static void ri_lookup_start(ri *m, const char *what, const char *via, const char *name) {
  ri_lookup *lu = &m->lk[m->nlk++];
  *lu = (ri_lookup){.m = m, .what = what, .via = via, .name = name};
  m->pending++;
  const char *tags[] = {what};
  cs_resolve_opts ro = {.resolver = via,
                        .tls = m->probe->tls,
                        .dns = {.timeout = m->probe->dns_timeout,
                                .transaction_id = cs_trace_txid(m->b.t),
                                .tags = tags,
                                .ntags = 1}};
  if (name) lu->req = cs_resolve(m->l, m->b.t, &ro, name, ri_on_lookup, lu);
  if (!lu->req) {
    lu->failure = CS_FAILURE_UNKNOWN_CONST("the lookup could not start");
    ri_step_done(m);
  }
}

/* The "other traffic": a TCP handshake to the resolver's address on 443, then 853 when 443
 * answered nothing (its SYN-ACK or RST is what the capture compares; the connection is
 * closed at once). */
static void ri_other_start(ri *m);

static void ri_on_other(void *arg, cs_conn *c, const char *failure, const cs_dial_result *r) {
  (void)r;
  ri *m = arg;
  if (c) cs_conn_free(c);
  m->other_failure[m->other_try] =
      failure ? cs_arena_strdup(m->b.t->a, failure) : NULL; /* NULL: connected */
  bool answered = !failure || !strcmp(failure, cs_failure_str(CS_FAIL_CONNECTION_REFUSED));
  if (!answered && ++m->other_try < sizeof ri_other_ports / sizeof *ri_other_ports)
    ri_other_start(m);
  ri_step_done(m);
}

static void ri_other_start(ri *m) {
  static const char *const tagp[] = {"other_traffic"};
  m->other[m->other_try] = (cs_dial_opts){
      .addrs = &m->sp.server,
      .naddrs = 1,
      .port = ri_other_ports[m->other_try],
      .mode = CS_DIAL_SEQUENTIAL,
      .tcp_timeout = m->probe->tcp_timeout > 0 ? m->probe->tcp_timeout : RI_OTHER_TIMEOUT,
      .transaction_id = CS_DIAL_TXID_NEW,
      .tags = tagp,
      .ntags = 1};
  m->pending++;
  if (!cs_dial_start(m->l, m->b.t, &m->other[m->other_try], ri_on_other, m)) {
    m->other_failure[m->other_try] = CS_FAILURE_UNKNOWN_CONST("the handshake could not start");
    m->other_try = sizeof ri_other_ports / sizeof *ri_other_ports;
    ri_step_done(m);
  }
}

/* A fresh name under the zone: nothing cached anywhere on the way. */
static const char *ri_rand_name(ri *m) {
  return cs_arena_printf(m->b.t->a, "cs-%04x%04x.%s", cs_dnswire_random_id(),
                         cs_dnswire_random_id(), m->s->zone);
}

static int ri_start(cs_loop *l, void *settings, const cs_probe_cfg *probe,
                    const cs_nettest_input *in, cs_meas_done done, void *arg) {
  ri *m = calloc(1, sizeof *m);
  if (!m) return -1;
  if (!in->input ||
      cs_meas_begin(&m->b, probe, "resolver_identity", RI_VERSION, in->input, done, arg) < 0) {
    free(m);
    return -1;
  }
  m->l = l, m->s = settings, m->probe = probe;
  m->pending = 1;
  cs_meas_capture(&m->b, l); /* x_packets, and the reply TTLs compared below */
  cs_resolver_spec *sp = &m->sp;
  char err[160];
  if (cs_resolver_spec_parse(m->b.input, sp, err, sizeof err) < 0)
    m->input_error = cs_arena_strdup(m->b.t->a, err);
  else if (sp->kind == CS_RESOLVER_SYSTEM)
    m->input_error = "the system resolver has no address to check: give udp://, tcp:// or https://";
  if (!m->input_error) {
    for (int i = 0; i < RI_WHOAMI; i++) ri_lookup_start(m, "whoami", m->b.input, ri_rand_name(m));
    if (m->s->doh) {
      ri_lookup_start(m, "whoami_doh", m->s->doh, ri_rand_name(m));
      if (m->s->domain) {
        ri_lookup_start(m, "domain", m->b.input, m->s->domain);
        ri_lookup_start(m, "domain_doh", m->s->doh, m->s->domain);
      }
    }
    /* other traffic of the same address: only worth sending when its answer can be seen */
    if (sp->kind != CS_RESOLVER_DOH && !strcmp(cs_capture_status(m->b.cap), "ok"))
      ri_other_start(m);
  }
  ri_step_done(m);
  return 0;
}

/* ---- verdict and output --------------------------------------------------------------------- */

/* Same /24 (IPv4) or /48 (IPv6): one operator's egress pool, as far as one answer can tell. */
static bool same_net(const cs_ip *a, const cs_ip *b) {
  if (a->family != b->family) return false;
  return !memcmp(a->b, b->b, a->family == AF_INET ? 3 : 6);
}

static const ri_lookup *first_answer(const ri *m, const char *what) {
  for (size_t i = 0; i < m->nlk; i++)
    if (!strcmp(m->lk[i].what, what) && m->lk[i].naddrs) return &m->lk[i];
  return NULL;
}

static const char *first_failure(const ri *m, const char *what) {
  for (size_t i = 0; i < m->nlk; i++)
    if (!strcmp(m->lk[i].what, what) && m->lk[i].failure) return m->lk[i].failure;
  return NULL;
}

static void write_addrs(cs_jw *w, const char *k, const ri_lookup *lu) {
  cs_jw_key(w, k);
  if (!lu) {
    cs_jw_null(w);
    return;
  }
  cs_jw_arr_open(w);
  for (size_t i = 0; i < lu->naddrs; i++) {
    char s[CS_IPSTR_MAX];
    cs_ip_format(&lu->addrs[i], s);
    cs_jw_str(w, s);
  }
  cs_jw_arr_close(w);
}

static bool addr_sets_meet(const ri_lookup *a, const ri_lookup *b) {
  for (size_t i = 0; i < a->naddrs; i++)
    for (size_t j = 0; j < b->naddrs; j++)
      if (a->addrs[i].family == b->addrs[j].family && !memcmp(a->addrs[i].b, b->addrs[j].b, 16))
        return true;
  return false;
}

/* The reply-TTL comparison: status ("compared", "not_applicable", "no_dns_reply",
 * "no_other_reply", "inconsistent", or x_packets_status when there is no capture), the numbers
 * in *c, and one evidence line. */
typedef struct {
  const char *status, *line;
  cs_hop_cmp c;
} ri_ttl;

static void ri_ttl_compare(const ri *m, ri_ttl *t) {
  cs_arena *a = m->b.t->a;
  *t = (ri_ttl){.status = "not_applicable"};
  cs_hop_compare(NULL, 0, &m->sp.server, 0, 0, NULL, 0, &t->c); /* all unknown */
  if (m->sp.kind == CS_RESOLVER_DOH) {
    t->line = "reply TTLs not compared: a DoH resolver (no port 53 to redirect)";
    return;
  }
  char ip[CS_IPSTR_MAX];
  cs_ip_format(&m->sp.server, ip);
  const char *st = cs_capture_status(m->b.cap);
  if (strcmp(st, "ok")) {
    t->status = st;
    t->line = cs_arena_printf(a,
                              "reply TTLs not seen (x_packets_status %s): the hop comparison of "
                              "%s's DNS replies with its other traffic needs CAP_NET_RAW",
                              st, ip);
    return;
  }
  size_t n;
  const cs_mb_pkt *pk = cs_capture_packets(m->b.cap, &n);
  bool tcp = m->sp.kind == CS_RESOLVER_TCP;
  cs_hop_compare(pk, n, &m->sp.server, m->sp.port, tcp ? 6 : 17, ri_other_ports,
                 sizeof ri_other_ports / sizeof *ri_other_ports, &t->c);
  const cs_hop_cmp *c = &t->c;
  const char *what = tcp ? cs_arena_printf(a, "TCP/%u SYN-ACK", m->sp.port) : "DNS reply";
  if (!what) what = "DNS reply";
  if (!c->ndns) {
    t->status = "no_dns_reply";
    t->line = cs_arena_printf(
        a, "reply TTLs not compared: no %s from %s was captured%s", what, ip,
        !tcp && m->sp.port != 53 ? " (the capture keeps UDP replies from port 53 only)" : "");
  } else if (!c->other_port) {
    const char *f = m->other_failure[m->other_try < 2 ? m->other_try : 1];
    t->status = "no_other_reply";
    t->line = cs_arena_printf(a,
                              "reply TTLs not compared: %s answered nothing on TCP 443 or 853 "
                              "(%s), no other traffic to compare its %ss with",
                              ip, f ? f : "no SYN-ACK or RST captured", what);
  } else if (!c->compared) {
    t->status = "inconsistent";
    t->line = c->dns_hops_max - c->dns_hops_min > CS_HOP_TOLERANCE
                  ? cs_arena_printf(a,
                                    "reply TTLs not compared: the %ss from %s came from %d to %d "
                                    "hops (two senders: an injector racing the resolver?)",
                                    what, ip, c->dns_hops_min, c->dns_hops_max)
                  : cs_arena_printf(a,
                                    "reply TTLs not compared: %s's answers on TCP %u came from "
                                    "%d to %d hops",
                                    ip, c->other_port, c->other_hops_min, c->other_hops_max);
  } else {
    t->status = "compared";
    const char *head =
        cs_arena_printf(a, "reply TTLs: %s's %s TTL %d (%d hops), its TCP %u %s TTL %d (%d hops)",
                        ip, what, c->dns_ttl, c->dns_hops, c->other_port,
                        c->other_is_rst ? "RST" : "SYN-ACK", c->other_ttl, c->other_hops);
    int d = c->hop_difference < 0 ? -c->hop_difference : c->hop_difference;
    t->line =
        !c->beyond
            ? cs_arena_printf(a, "%s: %d hop%s apart, within the tolerance of %d (not counted)",
                              head, d, d == 1 ? "" : "s", CS_HOP_TOLERANCE)
            : cs_arena_printf(a,
                              "%s: the DNS answers come from a box %d hops %s than the host "
                              "behind the address",
                              head, d, c->hop_difference > 0 ? "closer" : "farther");
  }
}

static void write_ttl_keys(cs_jw *w, const ri_ttl *t) {
  const cs_hop_cmp *c = &t->c;
  cs_jw_kstr(w, "reply_ttl_status", t->status);
  if (c->dns_ttl >= 0) cs_jw_kint(w, "dns_reply_ttl", c->dns_ttl);
  else cs_jw_knull(w, "dns_reply_ttl");
  if (c->other_ttl >= 0) cs_jw_kint(w, "other_reply_ttl", c->other_ttl);
  else cs_jw_knull(w, "other_reply_ttl");
  if (c->other_port)
    cs_jw_kstr(w, "other_reply",
               c->other_port == 443 ? (c->other_is_rst ? "tcp/443 rst" : "tcp/443 syn-ack")
                                    : (c->other_is_rst ? "tcp/853 rst" : "tcp/853 syn-ack"));
  else cs_jw_knull(w, "other_reply");
  if (c->dns_hops >= 0) cs_jw_kint(w, "dns_hops", c->dns_hops);
  else cs_jw_knull(w, "dns_hops");
  if (c->other_hops >= 0) cs_jw_kint(w, "other_hops", c->other_hops);
  else cs_jw_knull(w, "other_hops");
  if (c->compared) cs_jw_kint(w, "hop_difference", c->hop_difference);
  else cs_jw_knull(w, "hop_difference");
}

static void write_identity(const ri *m, cs_jw *w) {
  cs_arena *a = m->b.t->a;
  const char *ev[8];
  size_t nev = 0;
  int dnat = -1;
  const ri_lookup *who = first_answer(m, "whoami"), *doh = first_answer(m, "whoami_doh");
  char by[CS_IPSTR_MAX] = "", dby[CS_IPSTR_MAX] = "";
  if (who) cs_ip_format(&who->addrs[0], by);
  if (doh) cs_ip_format(&doh->addrs[0], dby);
  /* both whoami lookups through the resolver should name the same network */
  const ri_lookup *who2 = NULL;
  for (size_t i = 0; i < m->nlk; i++)
    if (!strcmp(m->lk[i].what, "whoami") && m->lk[i].naddrs && &m->lk[i] != who) who2 = &m->lk[i];
  if (who && who2 && !same_net(&who->addrs[0], &who2->addrs[0]))
    ev[nev++] = "the two identity lookups were answered from different networks";
  if (!who) {
    const char *f = first_failure(m, "whoami");
    ev[nev++] = cs_arena_printf(a, "the identity zone was not answered through the resolver (%s)",
                                f ? f : "no answer");
  } else if (!m->s->negress && !doh) {
    ev[nev++] = m->s->doh ? cs_arena_printf(a, "no reference: the DoH identity lookup failed (%s)",
                                            first_failure(m, "whoami_doh"))
                          : "no reference to compare with: give --egress or --doh";
  } else {
    bool in = false;
    const char *match = NULL;
    for (size_t i = 0; i < m->s->negress && !in; i++)
      if (cs_cidr_contains(&m->s->egress[i], &who->addrs[0]))
        in = true,
        match = cs_arena_printf(a, "%s is in the egress range %s", by, m->s->egress_str[i]);
    if (!in && doh && same_net(&who->addrs[0], &doh->addrs[0]))
      in = true,
      match = cs_arena_printf(a, "%s is in the network of the DoH view's egress %s", by, dby);
    dnat = in ? 0 : 1;
    ev[nev++] =
        in ? match
           : cs_arena_printf(a, "%s asked the identity zone, outside %s%s%s", by,
                             m->s->negress ? "the operator's egress ranges" : "",
                             m->s->negress && doh ? " and " : "",
                             doh ? cs_arena_printf(a, "the DoH view's network (%s)", dby) : "");
  }
  /* the reply TTLs: evidence; a difference beyond the tolerance backs a true and makes a false
   * undetermined, never a verdict on its own */
  ri_ttl ttl;
  ri_ttl_compare(m, &ttl);
  if (ttl.line) ev[nev++] = ttl.line;
  if (dnat == 0 && ttl.c.beyond) {
    dnat = -1;
    /* first: the outcome's evidence */
    memmove(ev + 1, ev, nev * sizeof *ev);
    nev++;
    ev[0] =
        cs_arena_printf(a,
                        "undetermined: %s is the operator's, but its DNS replies come from "
                        "%d hops %s than its other traffic (a transparent proxy forwarding "
                        "to the genuine resolver, or two paths)",
                        by, ttl.c.hop_difference > 0 ? ttl.c.hop_difference : -ttl.c.hop_difference,
                        ttl.c.hop_difference > 0 ? "closer" : "farther");
  }
  const ri_lookup *d1 = first_answer(m, "domain"), *d2 = first_answer(m, "domain_doh");
  if (d1 && d2)
    ev[nev++] = addr_sets_meet(d1, d2)
                    ? cs_arena_printf(a, "%s: the resolver and its DoH view agree", m->s->domain)
                    : cs_arena_printf(a, "%s: the resolver's answers differ from its DoH view's",
                                      m->s->domain);
  cs_jw_key(w, "x_resolver_identity");
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "resolver", m->b.input);
  if (dnat < 0) cs_jw_knull(w, "dnat");
  else cs_jw_kbool(w, "dnat", dnat == 1);
  cs_jw_kstr(w, "answered_by", who ? by : NULL);
  cs_jw_kstr(w, "doh_answered_by", doh ? dby : NULL);
  cs_jw_key(w, "egress");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < m->s->negress; i++) cs_jw_str(w, m->s->egress_str[i]);
  cs_jw_arr_close(w);
  write_ttl_keys(w, &ttl);
  cs_jw_key(w, "evidence");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < nev; i++) cs_jw_str(w, ev[i] ? ev[i] : "(out of memory)");
  cs_jw_arr_close(w);
  if (m->s->domain && m->s->doh) {
    write_addrs(w, "domain_answers", d1);
    write_addrs(w, "domain_doh_answers", d2);
  }
  cs_jw_obj_close(w);
}

static void write_evidence(const ri *m, cs_jw *w) {
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "resolver", m->b.input);
  cs_jw_kstr(w, "whoami_zone", m->s->zone);
  cs_jw_kstr(w, "x_input_error", m->input_error);
  cs_jw_key(w, "lookups");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < m->nlk; i++) {
    const ri_lookup *lu = &m->lk[i];
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "step", lu->what);
    cs_jw_kstr(w, "resolver", lu->via);
    cs_jw_kstr(w, "name", lu->name);
    cs_jw_kstr(w, "failure", lu->failure);
    write_addrs(w, "addrs", lu);
    cs_jw_obj_close(w);
  }
  cs_jw_arr_close(w);
  cs_write_trace_keys(w, m->b.t);
  if (m->input_error) {
    cs_jw_key(w, "x_resolver_identity");
    cs_jw_obj_open(w);
    cs_jw_kstr(w, "resolver", m->b.input);
    cs_jw_knull(w, "dnat");
    cs_jw_knull(w, "answered_by");
    cs_jw_key(w, "evidence");
    cs_jw_arr_open(w);
    cs_jw_str(w, m->input_error);
    cs_jw_arr_close(w);
    cs_jw_obj_close(w);
  } else {
    write_identity(m, w);
  }
  cs_jw_obj_close(w);
}

typedef struct {
  const cs_buf *ev;
  const cs_outcome *o;
} ri_keys;

static void ri_write_keys(cs_jw *w, void *ctx) {
  const ri_keys *k = ctx;
  if (!k->ev->overflow && k->ev->len >= 2)
    cs_jw_raw_members(w, (const char *)k->ev->data + 1, k->ev->len - 2);
  cs_outcome_write(w, k->o);
}

static void ri_finish_cb(cs_defer *d) {
  ri *m = d->data;
  cs_buf ev;
  cs_buf_init(&ev, m->probe->json_limit);
  cs_jw w;
  cs_jw_init(&w, &ev);
  write_evidence(m, &w);
  cs_arena *a = cs_arena_new(0);
  cs_jval *tk =
      a && !ev.overflow ? cs_json_parse(a, (const char *)ev.data, ev.len, NULL, NULL, 0) : NULL;
  cs_outcome o = {.key = CS_OUTCOME_UNDETERMINED,
                  .evidence = "the test keys could not be written (out of memory)"};
  if (tk) ri_outcome(a, tk, &o);
  ri_keys k = {&ev, &o};
  cs_meas_finish(&m->b, &(cs_meas_out){.write_keys = ri_write_keys, .ctx = &k, .outcome = &o});
  cs_arena_free(a);
  cs_buf_free(&ev);
  free(m);
}

const cs_nettest cs_nettest_resolver_identity = {
    .name = "resolver_identity",
    .version = RI_VERSION,
    .summary = "is a resolver's address answered by that resolver, or DNAT'ed to another?",
    .help = "For each resolver (udp://IP[:PORT], tcp://IP[:PORT] or https://... DoH): resolve\n"
            "two random names under --whoami-zone (a zone whose server answers with the address\n"
            "of the resolver that asked: `censorscope helper --dns-zone`) through it, and compare\n"
            "who asked with the operator's egress ranges (--egress) and the identity its DoH\n"
            "endpoint reports (--doh). x_resolver_identity: dnat true (another resolver answers\n"
            "for the address, as WMS 2.0's WAN-NAT does), false, or null with the reason;\n"
            "answered_by is the resolver that asked the zone. With CAP_NET_RAW it also compares\n"
            "the IP TTL of the resolver's DNS replies with a TCP handshake to port 443 (else\n"
            "853) of the same address (dns_reply_ttl, other_reply_ttl, hop_difference): a\n"
            "difference of more than one hop backs a DNAT, never decides alone (--no-packets:\n"
            "no capture, no handshake). See docs/forensics.md.",
    .synopsis = "--whoami-zone NAME [--egress CIDR]... [--doh URL] (RESOLVER... | -f LIST)",
    .input = CS_INPUT_RESOLVER,
    .db_by_default = true,
    .lines_by_default = true,
    .opts = ri_opts,
    .nopts = sizeof ri_opts / sizeof *ri_opts,
    .outcomes = ri_outcomes,
    .noutcomes = sizeof ri_outcomes / sizeof *ri_outcomes,
    .create = ri_create,
    .destroy = ri_destroy,
    .prepare = ri_prepare,
    .start = ri_start,
    .analyze = ri_analyze,
};
