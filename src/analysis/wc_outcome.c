/* wc_outcome.c - Web Connectivity's outcome: the verdict keys and a few evidence summaries ->
 * one outcome key ("dns", "optin"...), whether it counts as censorship, and the key evidence
 * in a few words (see wc_analysis.h and docs/report.md "Outcomes").
 *
 * The rules were the report's (report.c cs_report_classify / cs_report_evidence); they live
 * here so that the probe computes the outcome once, writes it into the measurement
 * (x_outcome, x_censorship, x_evidence) and the store, the CLI summary and the report read it
 * back instead of deciding again. */
#include "analysis/wc_analysis.h"

#include <stdio.h>
#include <string.h>

#include "util/buf.h"

const cs_outcome_def cs_wc_outcome_defs[] = {
#define CS_WC_X(id, key, label, censorship) {key, label, censorship},
    CS_WC_OUTCOMES(CS_WC_X)
#undef CS_WC_X
};
const size_t cs_wc_noutcome_defs = sizeof cs_wc_outcome_defs / sizeof *cs_wc_outcome_defs;

_Static_assert(sizeof cs_wc_outcome_defs / sizeof *cs_wc_outcome_defs == CS_WC_OUT_N,
               "one definition per outcome id");

#define MAX_ANSWERS_TEXT 512 /* as the store's dns_answers column */

/* System-resolver engines, as the store reads them (NULL or "" = old probes). */
static bool system_engine(const char *e) {
  return !e || !*e || !strcmp(e, "getaddrinfo") || !strcmp(e, "system") ||
         !strcmp(e, "golang_net_resolver");
}

/* Appends v to the space-separated list in b unless it is there already or would not fit. */
static bool answer_add(cs_buf *b, const char *v) {
  size_t vl = strlen(v);
  if (b->len + 1 + vl >= MAX_ANSWERS_TEXT) return false;
  const char *text = b->len ? cs_buf_cstr(b) : "";
  if (!text) return false; /* out of memory */
  for (const char *p = strstr(text, v); p; p = strstr(p + 1, v))
    if ((p == text || p[-1] == ' ') && (p[vl] == ' ' || p[vl] == 0)) return true;
  if (b->len) cs_buf_putc(b, ' ');
  cs_buf_puts(b, v);
  return true;
}

/* Answers of the system resolver (of any resolver when none was used), deduplicated:
 * addresses, or the CNAME targets when there is no address at all; capped. */
static const char *obs_answers(cs_arena *a, const cs_wc_obs *o) {
  bool any_system = false;
  for (size_t i = 0; i < o->ndns; i++)
    if (system_engine(o->dns[i].engine)) any_system = true;
  cs_buf b;
  cs_buf_init(&b, MAX_ANSWERS_TEXT);
  bool full = false;
  for (int pass = 0; pass < 2 && !b.len; pass++) {
    for (size_t i = 0; i < o->ndns && !full; i++) {
      const cs_wc_dns *d = &o->dns[i];
      if (any_system && !system_engine(d->engine)) continue;
      for (size_t j = 0; j < d->nanswers && !full; j++) {
        const char *v = pass ? d->answers[j].hostname : d->answers[j].ip;
        if (v && *v) full = !answer_add(&b, v);
      }
    }
  }
  const char *r = b.len && !b.overflow ? cs_arena_strndup(a, (const char *)b.data, b.len) : NULL;
  cs_buf_free(&b);
  return r;
}

void cs_wc_summarize(cs_arena *a, const cs_wc_obs *o, const cs_wc_verdict *v, cs_wc_summary *s) {
  memset(s, 0, sizeof *s);
  s->blocking = v->blocking == CS_WC_BLOCKING_NULL ? NULL : cs_wc_blocking_str(v->blocking);
  s->accessible = v->accessible == CS_WC_UNKNOWN ? -1 : v->accessible == CS_WC_YES;
  s->dns_consistency = v->dns_consistency;
  s->dns_experiment_failure = v->dns_experiment_failure;
  s->http_experiment_failure = v->http_experiment_failure;
  s->control_failure = o->control_failure;
  s->dns_answers = obs_answers(a, o);
  for (size_t i = 0; i < o->ntcp; i++) {
    const cs_wc_tcp *t = &o->tcp[i];
    if (!t->failure) continue;
    if (!t->ip) {
      s->tcp_failure = t->failure;
    } else {
      bool v6 = strchr(t->ip, ':') != NULL;
      s->tcp_failure = cs_arena_printf(a, "%s%s%s:%d %s", v6 ? "[" : "", t->ip, v6 ? "]" : "",
                                       t->port > 0 && t->port < 65536 ? t->port : 0, t->failure);
    }
    break;
  }
  for (size_t i = 0; i < o->ntls; i++) {
    if (o->tls[i].failure) {
      if (!s->tls_failure) s->tls_failure = o->tls[i].failure;
    } else {
      s->tls_ok++;
    }
  }
  if (o->nhttp && o->http[0].code > 0 && o->http[0].code < 1000) s->http_status = o->http[0].code;
  s->blockpage_name = v->blockpage_found ? v->blockpage.name : NULL;
  s->blockpage_optin = v->blockpage_optin;
  s->server_side_block = v->server_side_block;
}

/* TLS-stage failure: the handshake failed and none succeeded, or the HTTP failure is itself a
 * TLS error (ssl_*). See docs/report.md. */
static bool tls_stage(const cs_wc_summary *s) {
  const char *hf = s->http_experiment_failure;
  if (hf && !strncmp(hf, "ssl_", 4)) return true;
  return s->tls_failure && s->tls_ok == 0;
}

cs_wc_outcome_id cs_wc_outcome_classify(const cs_wc_summary *s) {
  const char *b = s->blocking;
  if (!b) return CS_WC_OUT_UNDETERMINED;
  if (!strcmp(b, "false")) {
    if (s->accessible == 0)
      return s->server_side_block ? CS_WC_OUT_SERVER_SIDE : CS_WC_OUT_SITE_DOWN;
    return s->accessible == 1 ? CS_WC_OUT_ACCESSIBLE : CS_WC_OUT_UNDETERMINED;
  }
  cs_wc_outcome_id o;
  if (!strcmp(b, "dns")) o = CS_WC_OUT_DNS;
  else if (!strcmp(b, "tcp_ip")) o = CS_WC_OUT_TCP_IP;
  else if (!strcmp(b, "http-failure")) o = tls_stage(s) ? CS_WC_OUT_TLS : CS_WC_OUT_HTTP_FAILURE;
  else if (!strcmp(b, "http-diff")) o = CS_WC_OUT_BLOCKPAGE;
  else return CS_WC_OUT_UNDETERMINED; /* not one of OONI's values */
  return s->blockpage_optin ? CS_WC_OUT_OPTIN : o;
}

const char *cs_wc_outcome_evidence(const cs_wc_summary *s, cs_wc_outcome_id o, char *buf,
                                   size_t len) {
  if (!len) return buf;
  buf[0] = 0;
  const char *bp = s->blockpage_name;
  const char *hf = s->http_experiment_failure;
  switch (o) {
  case CS_WC_OUT_DNS:
    if (bp)
      snprintf(buf, len, "DNS answer is the blockpage server %s (%s)", bp,
               s->dns_answers ? s->dns_answers : "");
    else if (s->dns_experiment_failure)
      snprintf(buf, len, "DNS lookup failed: %s", s->dns_experiment_failure);
    else if (s->dns_answers) snprintf(buf, len, "unexpected DNS answer: %s", s->dns_answers);
    else snprintf(buf, len, "DNS %s", s->dns_consistency ? s->dns_consistency : "inconsistent");
    break;
  case CS_WC_OUT_TCP_IP:
    snprintf(buf, len, "TCP connect failed: %s", s->tcp_failure ? s->tcp_failure : hf ? hf : "?");
    break;
  case CS_WC_OUT_TLS:
    snprintf(buf, len, "TLS handshake failed: %s", s->tls_failure ? s->tls_failure : hf ? hf : "?");
    break;
  case CS_WC_OUT_HTTP_FAILURE: snprintf(buf, len, "HTTP request failed: %s", hf ? hf : "?"); break;
  case CS_WC_OUT_BLOCKPAGE:
  case CS_WC_OUT_OPTIN:
    if (bp) snprintf(buf, len, "blockpage %s", bp);
    else if (s->http_status)
      snprintf(buf, len, "HTTP %d, page differs from the control's", s->http_status);
    else snprintf(buf, len, "page differs from the control's");
    break;
  case CS_WC_OUT_SERVER_SIDE:
    snprintf(buf, len, "%s", s->server_side_block ? s->server_side_block : "");
    break;
  case CS_WC_OUT_SITE_DOWN:
  case CS_WC_OUT_UNDETERMINED:
    if (s->control_failure) snprintf(buf, len, "control failed: %s", s->control_failure);
    else if (s->dns_experiment_failure)
      snprintf(buf, len, "DNS lookup failed: %s", s->dns_experiment_failure);
    else if (hf) snprintf(buf, len, "HTTP failed: %s", hf);
    break;
  case CS_WC_OUT_ACCESSIBLE:
  case CS_WC_OUT_N: break;
  }
  return buf;
}

int cs_wc_outcome_compute(cs_arena *a, const cs_wc_summary *s, cs_outcome *out) {
  cs_wc_outcome_id id = cs_wc_outcome_classify(s);
  const cs_outcome_def *d = &cs_wc_outcome_defs[id];
  char ev[CS_OUTCOME_EVIDENCE_MAX];
  cs_wc_outcome_evidence(s, id, ev, sizeof ev);
  *out = (cs_outcome){.key = d->key, .censorship = d->censorship};
  if (ev[0] && !(out->evidence = cs_arena_strdup(a, ev))) return -1;
  return 0;
}
