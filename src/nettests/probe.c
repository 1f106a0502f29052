/* probe.c - shared probe helpers: report ids, scrubbing the probe's own addresses, and the
 * measurement base of nettests/meas.h (trace, envelope, delivery, out-of-memory fallback). */
#include "nettests/probe.h"
#include "nettests/meas.h"

#include <ctype.h>
#include <ifaddrs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "engine/capture.h"
#include "util/ipnet.h"
#include "util/json.h"
#include "util/timeutil.h"

void cs_probe_report_id(char *out, size_t outlen, const char *test_name, const char *cc,
                        const char *asn, time_t start) {
  static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  char ts[17], name[64], rnd[17];
  uint8_t r[16];
  cs_utc_compact(start, ts);
  size_t j = 0;
  for (const char *p = test_name; *p && j + 1 < sizeof name; p++)
    if (*p != '_') name[j++] = *p;
  name[j] = 0;
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) memset(r, 0, sizeof r);
  for (size_t i = 0; i < 16; i++) rnd[i] = alnum[r[i] % (sizeof alnum - 1)];
  rnd[16] = 0;
  const char *asnum = asn && (asn[0] == 'A' || asn[0] == 'a') ? asn + 2 : (asn ? asn : "0");
  snprintf(out, outlen, "%s_%s_%s_%s_n0_%s", ts, name, cc ? cc : "ZZ", asnum, rnd);
}

#define MAX_SELF 64
static char self_addrs[MAX_SELF][CS_IPSTR_MAX];
static size_t nself;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void self_init(void) {
  struct ifaddrs *ifa;
  if (getifaddrs(&ifa) < 0) return;
  for (struct ifaddrs *i = ifa; i && nself < MAX_SELF; i = i->ifa_next) {
    cs_ip ip;
    if (!i->ifa_addr || !cs_ip_from_sockaddr(i->ifa_addr, &ip, NULL)) continue;
    if (cs_ip_is_loopback(&ip)) continue;
    cs_ip_format(&ip, self_addrs[nself]);
    if (self_addrs[nself][0]) nself++;
  }
  freeifaddrs(ifa);
}

static bool dec(char c) { return c >= '0' && c <= '9'; }
static bool v6_char(char c) { return isxdigit((unsigned char)c) || c == ':'; }

/* Whether addr (an address in the text form cs_ip_format writes) occurs at json[i] as a
 * whole address: not inside a longer number or address. An IPv4 address may be followed by
 * ":port", a sentence's full stop or anything but another digit / ".digit"; it may be
 * preceded by "::ffff:" (mapped form). An IPv6 address stands alone between non-hex,
 * non-':' bytes. */
static bool addr_at(const char *json, size_t len, size_t i, const char *addr, size_t n, bool v6) {
  if (n > len - i || strncasecmp(json + i, addr, n)) return false;
  char prev = i ? json[i - 1] : 0, next = i + n < len ? json[i + n] : 0;
  if (v6) return !(i && v6_char(prev)) && !v6_char(next) && next != '.';
  if (i && (dec(prev) || prev == '.')) return false;
  return !dec(next) && !(next == '.' && i + n + 1 < len && dec(json[i + n + 1]));
}

char *cs_probe_scrub(const char *json, size_t len, const char *const *addrs, size_t naddrs,
                     size_t *outlen) {
  static const char rep[] = "[scrubbed]";
  size_t alen[MAX_SELF];
  bool v6[MAX_SELF];
  if (naddrs > MAX_SELF) naddrs = MAX_SELF;
  bool first[256] = {false}; /* bytes an address starts with, in either case */
  for (size_t k = 0; k < naddrs; k++) {
    alen[k] = strlen(addrs[k]), v6[k] = strchr(addrs[k], ':') != NULL;
    unsigned char c0 = (unsigned char)addrs[k][0];
    if (!alen[k]) continue;
    first[c0] = first[(unsigned char)tolower(c0)] = first[(unsigned char)toupper(c0)] = true;
  }
  cs_buf b;
  cs_buf_init(&b, 0);
  size_t i = 0, run = 0;
  while (i < len) {
    while (i < len && !first[(unsigned char)json[i]]) i++; /* the common case */
    if (i >= len) break;
    char c = json[i];
    size_t hit = 0;
    for (size_t k = 0; k < naddrs && !hit; k++)
      if (alen[k] && tolower((unsigned char)addrs[k][0]) == tolower((unsigned char)c) &&
          addr_at(json, len, i, addrs[k], alen[k], v6[k]))
        hit = alen[k];
    if (hit) {
      cs_buf_append(&b, json + run, i - run);
      cs_buf_append(&b, rep, sizeof rep - 1);
      i += hit;
      run = i;
    } else {
      i++;
    }
  }
  cs_buf_append(&b, json + run, len - run);
  if (b.overflow || !cs_buf_cstr(&b)) {
    cs_buf_free(&b);
    return NULL;
  }
  *outlen = b.len;
  return (char *)b.data;
}

char *cs_probe_scrub_self(const char *json, size_t len, size_t *outlen) {
  pthread_once(&self_once, self_init);
  const char *addrs[MAX_SELF];
  for (size_t k = 0; k < nself; k++) addrs[k] = self_addrs[k];
  return cs_probe_scrub(json, len, addrs, nself, outlen);
}

/* ---- the measurement base (meas.h) ------------------------------------------------------ */

const char cs_meas_fallback_json[] = "{\"error\":\"out of memory writing the measurement\"}";
const size_t cs_meas_fallback_len = sizeof cs_meas_fallback_json - 1;

int cs_meas_begin(cs_meas_base *m, const cs_probe_cfg *cfg, const char *test_name,
                  const char *test_version, const char *input, cs_meas_done done, void *arg) {
  *m = (cs_meas_base){
      .cfg = cfg, .test_name = test_name, .test_version = test_version, .done = done, .arg = arg};
  m->t = cs_trace_new(cs_mono_now(), cfg->arena_limit ? cfg->arena_limit : CS_PROBE_ARENA_LIMIT);
  if (!m->t) return -1;
  m->start_wall = time(NULL);
  if (input && !(m->input = cs_arena_strdup(m->t->a, input))) {
    cs_meas_abort(m);
    return -1;
  }
  return 0;
}

void cs_meas_capture(cs_meas_base *m, cs_loop *l) {
  m->capture = true;
  m->cap = cs_capture_begin(l, m->t, m->cfg->no_packets);
}

bool cs_meas_ttl_probe(cs_meas_base *m, void (*cb)(void *arg), void *arg) {
  if (!m->capture || !m->cap) return false;
  return cs_capture_ttl_probe(m->cap, m->cfg->dns_timeout, cb, arg) == 1;
}

void cs_meas_abort(cs_meas_base *m) {
  cs_capture_end(m->cap);
  m->cap = NULL;
  cs_trace_free(m->t);
  m->t = NULL;
}

void cs_meas_finish(cs_meas_base *m, const cs_meas_out *o) {
  const cs_probe_cfg *cfg = m->cfg;
  char rid[128];
  const char *report_id = cfg->report_id;
  if (!report_id) {
    cs_probe_report_id(rid, sizeof rid, m->test_name, cfg->probe_cc, cfg->probe_asn,
                       cfg->test_start);
    report_id = rid;
  }
  cs_envelope env = {
      .test_name = m->test_name,
      .test_version = m->test_version,
      .input = m->input,
      .measurement_start = m->start_wall,
      .test_start = cfg->test_start ? cfg->test_start : m->start_wall,
      .test_runtime = cs_trace_rel(m->t, cs_mono_now()),
      .probe_asn = cfg->probe_asn,
      .probe_cc = cfg->probe_cc,
      .probe_network_name = cfg->probe_network_name,
      .report_id = report_id,
      .software_name = "censorscope",
      .software_version = cfg->software_version,
      .annotations_json =
          o->annotations_json ? o->annotations_json : "{\"engine_name\":\"libcensorscope\"}",
      .test_helpers_json = o->test_helpers_json,
  };
  cs_buf b;
  cs_buf_init(&b, cfg->json_limit);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_envelope_begin(&w, &env);
  if (o->write_keys) o->write_keys(&w, o->ctx);
  if (m->capture) cs_capture_write(&w, m->cap);
  cs_envelope_end(&w);
  size_t n = 0;
  char *clean = b.overflow ? NULL : cs_probe_scrub_self((const char *)b.data, b.len, &n);
  cs_buf_free(&b);
  cs_meas res = {.json = clean, .len = n, .outcome = o->outcome};
  if (!clean) res = (cs_meas){.json = cs_meas_fallback_json, .len = cs_meas_fallback_len};
  m->done(m->arg, &res);
  free(clean);
  cs_meas_abort(m);
}

void cs_probe_fetch_opts(const cs_probe_cfg *cfg, cs_fetch_opts *fo, cs_ip *addr) {
  *fo = (cs_fetch_opts){
      .resolver = cfg->resolver,
      .sni = cfg->sni,
      .tls = cfg->tls,
      .dns_timeout = cfg->dns_timeout,
      .tcp_timeout = cfg->tcp_timeout,
      .tls_timeout = cfg->tls_timeout,
      .http_timeout = cfg->http_timeout,
      .max_redirects = cfg->max_redirects,
  };
  if (addr && cfg->address && cs_ip_parse(cfg->address, addr)) fo->addrs = addr, fo->naddrs = 1;
}
