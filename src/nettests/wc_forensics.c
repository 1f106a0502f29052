/* wc_forensics.c - x_tls_interception and x_http_tampering for web_connectivity (see
 * wc_forensics.h; rules in analysis/tamper.c, docs/forensics.md). */
#include "nettests/wc_forensics.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analysis/tamper.h"
#include "engine/certinfo.h"
#include "nettests/wc_control.h"
#include "thproto/thproto.h"
#include "util/arena.h"

unsigned cs_wc_forensics_ext(const cs_url *u) {
  if (!u || !u->scheme) return 0;
  return !strcmp(u->scheme, "https") ? CS_TH_EXT_CHAIN : CS_TH_EXT_BODY_SHA256;
}

/* The digests and issuer of one recorded chain, in arena a. false when out of memory. */
static bool chain_of(cs_arena *a, const cs_tls_rec *r, cs_tamper_chain *c, cs_chain_issuer *is) {
  memset(c, 0, sizeof *c);
  size_t n = r->npeer_certificates;
  if (n > CS_TH_MAX_CHAIN) n = CS_TH_MAX_CHAIN;
  char **sha = n ? cs_arena_alloc(a, n * sizeof *sha) : NULL;
  if (n && !sha) return false;
  for (size_t i = 0; i < n; i++) {
    if (!(sha[i] = cs_arena_alloc(a, CS_SHA256_HEX))) return false;
    cs_sha256_hex(r->peer_certificates[i].der, r->peer_certificates[i].len, sha[i]);
  }
  cs_chain_issuer_get(r->peer_certificates, r->npeer_certificates, is);
  c->sha256 = (const char *const *)sha;
  c->n = n;
  c->issuer = is->issuer;
  c->issuer_key = is->issuer_key;
  return true;
}

static cs_tamper_anchor anchor_of(const cs_tls_rec *r, cs_tls_ctx *probe_tls) {
  if (r->no_tls_verify) return CS_ANCHOR_UNKNOWN;
  char err[128];
  cs_tls_ctx *sys = cs_tls_ctx_shared(NULL, err, sizeof err);
  long v = sys ? cs_tls_chain_verify(sys, r->peer_certificates, r->npeer_certificates) : -1;
  if (v == 0) return CS_ANCHOR_SYSTEM;
  if (v < 0 && !sys) return CS_ANCHOR_UNKNOWN;
  long p =
      probe_tls ? cs_tls_chain_verify(probe_tls, r->peer_certificates, r->npeer_certificates) : -1;
  if (p == 0) return CS_ANCHOR_CA_FILE;
  return p < 0 || v < 0 ? CS_ANCHOR_UNKNOWN : CS_ANCHOR_NONE;
}

static const char *anchor_str(cs_tamper_anchor a) {
  switch (a) {
  case CS_ANCHOR_SYSTEM: return "system";
  case CS_ANCHOR_CA_FILE: return "ca_file";
  case CS_ANCHOR_NONE: return "none";
  case CS_ANCHOR_UNKNOWN:
  default: return NULL;
  }
}

static void write_shas(cs_jw *w, const char *k, const cs_tamper_chain *c) {
  cs_jw_key(w, k);
  cs_jw_arr_open(w);
  for (size_t i = 0; c && i < c->n; i++) cs_jw_str(w, c->sha256[i]);
  cs_jw_arr_close(w);
}

static void write_tls(cs_jw *w, cs_arena *a, const cs_trace *t, const cs_url *u,
                      const cs_th_response *ctl, cs_tls_ctx *probe_tls) {
  /* the control's chains (for the URL's host, every endpoint it reached) */
  cs_tamper_chain *cc = ctl->ntls ? cs_arena_alloc(a, ctl->ntls * sizeof *cc) : NULL;
  size_t ncc = 0;
  for (size_t i = 0; cc && i < ctl->ntls; i++)
    if (ctl->tls[i].nchain)
      cc[ncc++] = (cs_tamper_chain){.sha256 = ctl->tls[i].chain_sha256,
                                    .n = ctl->tls[i].nchain,
                                    .issuer = ctl->tls[i].issuer,
                                    .issuer_key = ctl->tls[i].issuer_key};
  /* the probe's handshakes for the URL's host: the one that says most (intercepted, then
   * not intercepted, then unknown) */
  bool any = false;
  cs_tamper_tls best = {.intercepted = -2};
  cs_tamper_chain bestc = {0};
  cs_chain_issuer besti = {0};
  cs_tamper_anchor besta = CS_ANCHOR_UNKNOWN;
  for (const cs_tls_rec *r = t->tls.head; r; r = r->next) {
    if (!r->server_name || strcasecmp(r->server_name, u->host) || !r->npeer_certificates) continue;
    any = true;
    cs_tamper_chain pc;
    cs_chain_issuer pi;
    if (!chain_of(a, r, &pc, &pi)) break;
    cs_tamper_tls v;
    cs_tamper_anchor an = CS_ANCHOR_UNKNOWN;
    cs_tamper_tls_judge(&pc, cc, ncc, an, &v);
    if (v.intercepted < 0 && ncc && pc.n) { /* differs: where is the probe's chain anchored? */
      an = anchor_of(r, probe_tls);
      cs_tamper_tls_judge(&pc, cc, ncc, an, &v);
    }
    int rank = v.intercepted == 1 ? 3 : v.intercepted == 0 ? 2 : 1;
    int brank = best.intercepted == 1 ? 3 : best.intercepted == 0 ? 2 : best.intercepted == -1;
    if (rank > brank) best = v, bestc = pc, besti = pi, besta = an;
  }
  if (!any || !ncc) { /* nothing to compare: no https handshake, or no control chain */
    cs_jw_knull(w, "x_tls_interception");
    return;
  }
  cs_jw_key(w, "x_tls_interception");
  cs_jw_obj_open(w);
  if (best.intercepted < 0) cs_jw_knull(w, "intercepted");
  else cs_jw_kbool(w, "intercepted", best.intercepted == 1);
  cs_jw_kstr(w, "issuer", besti.parsed ? besti.issuer : NULL);
  write_shas(w, "probe_chain_sha256", &bestc);
  write_shas(w, "control_chain_sha256", &cc[0]);
  cs_jw_kstr(w, "control_issuer", cc[0].issuer);
  if (besta == CS_ANCHOR_SYSTEM) cs_jw_kbool(w, "public_ca", true);
  else if (besta == CS_ANCHOR_CA_FILE || besta == CS_ANCHOR_NONE)
    cs_jw_kbool(w, "public_ca", false);
  else cs_jw_knull(w, "public_ca");
  cs_jw_kstr(w, "anchor", anchor_str(besta));
  cs_jw_kstr(w, "reason", best.reason);
  cs_jw_obj_close(w);
}

static const char *probe_header(const cs_http_rec *r, const char *name, char *buf, size_t cap) {
  for (size_t i = 0; i < r->resp.nheaders; i++)
    if (!strcasecmp(r->resp.headers[i].name, name)) {
      size_t n = r->resp.headers[i].value_len < cap - 1 ? r->resp.headers[i].value_len : cap - 1;
      memcpy(buf, r->resp.headers[i].value, n);
      buf[n] = 0;
      return buf;
    }
  return NULL;
}

static const char *ctl_header(const cs_th_response *c, const char *name) {
  for (size_t i = 0; i < c->nhttp_headers; i++)
    if (!strcasecmp(c->http_headers[i].name, name)) return c->http_headers[i].value;
  return NULL;
}

static void write_http(cs_jw *w, const cs_url *u, const char *input, const cs_th_response *ctl,
                       const cs_http_rec *final, const char *fetch_failure) {
  if (strcmp(u->scheme, "http") || !final || !ctl->http_body_sha256) {
    cs_jw_knull(w, "x_http_tampering");
    return;
  }
  char psha[CS_SHA256_HEX], ct[256];
  bool complete = final->code > 0 && !final->failure;
  if (complete) cs_sha256_hex(final->resp.body, final->resp.body_len, psha);
  cs_tamper_body pb = {.status = final->code > 0 ? final->code : -1,
                       .failed = !complete || fetch_failure,
                       .truncated = final->resp.body_is_truncated,
                       .sha256 = complete && psha[0] ? psha : NULL,
                       .length = complete ? (int64_t) final->resp.body_len : -1,
                       .content_type = probe_header(final, "Content-Type", ct, sizeof ct)};
  cs_tamper_body cb = {.status = ctl->http_status,
                       .failed = ctl->http_failure != NULL,
                       .truncated = ctl->http_body_truncated == 1,
                       .sha256 = ctl->http_body_sha256,
                       .length = ctl->http_body_length,
                       .content_type = ctl_header(ctl, "Content-Type")};
  cs_tamper_http v;
  cs_tamper_http_judge(&pb, &cb, u->path, &v);
  cs_jw_key(w, "x_http_tampering");
  cs_jw_obj_open(w);
  if (v.tampered < 0) cs_jw_knull(w, "tampered");
  else cs_jw_kbool(w, "tampered", v.tampered == 1);
  cs_jw_kstr(w, "probe_sha256", pb.sha256);
  cs_jw_kstr(w, "control_sha256", cb.sha256);
  if (pb.length >= 0) cs_jw_kint(w, "probe_length", pb.length);
  else cs_jw_knull(w, "probe_length");
  if (cb.length >= 0) cs_jw_kint(w, "control_length", cb.length);
  else cs_jw_knull(w, "control_length");
  cs_jw_kstr(w, "url", final->url ? final->url : input);
  cs_jw_kstr(w, "reason", v.reason);
  cs_jw_obj_close(w);
}

void cs_wc_forensics_write(cs_jw *w, const cs_trace *t, const cs_url *u, const char *input,
                           const char *control, size_t control_len, const cs_http_rec *final,
                           const char *fetch_failure, cs_tls_ctx *tls) {
  cs_arena *a = cs_arena_new(64u << 20);
  cs_jval *cj = NULL;
  if (a && control) {
    char err[96];
    cs_json_limits lim = {.max_depth = 16, .max_nodes = 1u << 18};
    cj = cs_json_parse(a, control, control_len, &lim, err, sizeof err);
  }
  cs_th_response ctl;
  cs_th_response_read(a, cj, &ctl);
  if (!a || !u || !u->scheme || !u->host) {
    cs_jw_knull(w, "x_tls_interception");
    cs_jw_knull(w, "x_http_tampering");
  } else {
    write_tls(w, a, t, u, &ctl, tls);
    write_http(w, u, input, &ctl, final, fetch_failure);
  }
  cs_arena_free(a);
}
