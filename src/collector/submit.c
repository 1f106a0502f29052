/* submit.c - OONI's probe-services submission API on the collector (research §1.2, from
 * ooni/backend ooniapi/services/ooniprobe/.../routers/reports.py and v1/probe_services.py):
 *
 *   POST /report                    open a report      -> {"backend_version","report_id",...}
 *   POST /report/{report_id}        {"format":"json","content":{...}} -> {"measurement_uid"}
 *   POST /report/{report_id}/close  -> {}
 *   POST /api/v1/submit_measurement {"format":"json","content":{...} or "<json>"}
 *                                   -> {"measurement_uid","report_id",...} (a report per msmt)
 *
 * OONI's rules (a report_id of 6 '_' parts; the content's probe_cc, probe_asn and test_name
 * equal the report's, else "Inconsistent measurement"; ASN 0 / CC ZZ discarded with {}) plus
 * ours: JSON within the parser's limits, a measurement_start_time in the accepted window, a
 * test_name of [a-z0-9_], bounded strings. Every refusal is a 4xx with {"error": reason}.
 *
 * An accepted measurement is deduplicated (dedup_key: SHA-256 of the probe set and the
 * content without report_id/measurement_uid, re-serialised by cs_coll_json_write), appended
 * to the can and flushed (can.c), then stored in PostgreSQL with the verdict of its nettest's
 * registry `analyze` (the probe's own code). The first half of this file is pure (unit tests,
 * fuzz/fuzz_collector_submit.c); the handlers follow. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/fingerprints.h"
#include "collector/collector.h"
#include "nettests/registry.h"
#include "record/outcome.h"
#include "util/url.h"

#define MAX_INPUT_LEN 8192
#define MAX_META_LEN 256
#define ASN_MAX 4294967295LL

/* ---- pure parts --------------------------------------------------------------------------- */

static bool all_in(const char *s, size_t n, const char *set) { return strspn(s, set) >= n; }
#define DIGITS "0123456789"
#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

static bool test_name_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  return n >= 1 && n <= 64 && all_in(s, n, "abcdefghijklmnopqrstuvwxyz0123456789_");
}

static bool cc_ok(const char *s) {
  return s && strlen(s) == 2 && all_in(s, 2, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
}

/* "AS1234" (or bare digits when bare) -> 0..2^32-1; -1 when malformed. */
static int64_t parse_asn(const char *s, bool bare) {
  if (!s) return -1;
  if (!bare) {
    if (strncmp(s, "AS", 2)) return -1;
    s += 2;
  }
  size_t n = strlen(s);
  if (n < 1 || n > 10 || !all_in(s, n, DIGITS)) return -1;
  int64_t v = strtoll(s, NULL, 10);
  return v <= ASN_MAX ? v : -1;
}

int cs_coll_report_id_parse(const char *rid, cs_coll_rid *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!rid || strlen(rid) >= CS_COLL_RID_MAX) {
    snprintf(err, errlen, "bad report_id: longer than %d bytes", CS_COLL_RID_MAX - 1);
    return -1;
  }
  const char *p[6];
  size_t l[6], np = 0;
  const char *s = rid;
  for (;;) {
    const char *u = strchr(s, '_');
    if (np == 6) {
      np++;
      break;
    }
    p[np] = s;
    l[np] = u ? (size_t)(u - s) : strlen(s);
    np++;
    if (!u) break;
    s = u + 1;
  }
  if (np != 6) {
    snprintf(err, errlen, "bad report_id: expected 6 '_'-separated parts");
    return -1;
  }
  /* YYYYmmddTHHMMSSZ */
  if (l[0] != 16 || !all_in(p[0], 8, DIGITS) || p[0][8] != 'T' || !all_in(p[0] + 9, 6, DIGITS) ||
      p[0][15] != 'Z') {
    snprintf(err, errlen, "bad report_id: timestamp part is not YYYYmmddTHHMMSSZ");
    return -1;
  }
  if (l[1] < 1 || l[1] > 63 || !all_in(p[1], l[1], "abcdefghijklmnopqrstuvwxyz0123456789")) {
    snprintf(err, errlen, "bad report_id: test name part is not [a-z0-9]{1,63}");
    return -1;
  }
  if (l[2] != 2 || !all_in(p[2], 2, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")) {
    snprintf(err, errlen, "bad report_id: country part is not two capital letters");
    return -1;
  }
  char asn[16];
  if (l[3] < 1 || l[3] > 10) {
    snprintf(err, errlen, "bad report_id: ASN part is not a number");
    return -1;
  }
  memcpy(asn, p[3], l[3]);
  asn[l[3]] = 0;
  out->asn = parse_asn(asn, true);
  if (out->asn < 0) {
    snprintf(err, errlen, "bad report_id: ASN part is not a number");
    return -1;
  }
  if (l[4] < 2 || l[4] > 10 || p[4][0] != 'n' || !all_in(p[4] + 1, l[4] - 1, DIGITS)) {
    snprintf(err, errlen, "bad report_id: collector part is not n<digits>");
    return -1;
  }
  out->collector_id = (unsigned)strtoul(p[4] + 1, NULL, 10);
  if (l[5] < 8 || l[5] > 64 || !all_in(p[5], l[5], ALNUM)) {
    snprintf(err, errlen, "bad report_id: random part is not [A-Za-z0-9]{8,64}");
    return -1;
  }
  memcpy(out->test_name, p[1], l[1]);
  out->test_name[l[1]] = 0;
  memcpy(out->cc, p[2], 2);
  out->cc[2] = 0;
  return 0;
}

static void squeeze_test_name(const char *tn, char *out, size_t outlen) {
  size_t j = 0;
  for (size_t i = 0; tn[i] && j + 1 < outlen; i++)
    if (tn[i] != '_') out[j++] = tn[i];
  out[j] = 0;
}

int cs_coll_report_id_make(int64_t t, const char *test_name, const char *cc, int64_t asn,
                           unsigned cid, const uint8_t rand16[16], char *out, size_t outlen) {
  static const char al[] = ALNUM;
  char tn[65], rnd[17];
  squeeze_test_name(test_name, tn, sizeof tn);
  for (int i = 0; i < 16; i++) rnd[i] = al[rand16[i] % 62];
  rnd[16] = 0;
  time_t tt = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm)) return -1;
  int n = snprintf(out, outlen, "%04d%02d%02dT%02d%02d%02dZ_%s_%s_%" PRId64 "_n%u_%s",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   tn, cc, asn, cid, rnd);
  return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int cs_coll_uid_make(int64_t sec, long usec, const char *cc, const char *test_name,
                     const uint8_t *body, size_t len, char *out, size_t outlen) {
  uint8_t md[64];
  unsigned mdlen = 0;
  if (!EVP_Digest(body, len, md, &mdlen, EVP_sha512(), NULL) || mdlen != 64) return -1;
  char tn[65];
  squeeze_test_name(test_name, tn, sizeof tn);
  time_t tt = (time_t)sec;
  struct tm tm;
  if (!gmtime_r(&tt, &tm)) return -1;
  int n =
      snprintf(out, outlen, "%04d%02d%02d%02d%02d%02d.%06ld_%s_%s_%02x%02x%02x%02x%02x%02x%02x%02x",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec,
               cc, tn, md[0], md[1], md[2], md[3], md[4], md[5], md[6], md[7]);
  return n > 0 && (size_t)n < outlen ? 0 : -1;
}

bool cs_coll_probe_set_ok(const char *s) {
  size_t n = strlen(s);
  return n <= CS_COLL_PROBE_SET_MAX && all_in(s, n, ALNUM "._-");
}

/* Numbers as the shortest text that reads back to the same double (our writer's %.9g is
 * for measurements we make, not for keeping someone else's). */
static void put_num(cs_buf *b, double v) {
  if (!isfinite(v)) {
    cs_buf_puts(b, "null");
    return;
  }
  if (v == floor(v) && fabs(v) < 9007199254740992.0) {
    cs_buf_printf(b, "%.0f", v);
    return;
  }
  char t[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(t, sizeof t, "%.*g", prec, v);
    if (strtod(t, NULL) == v) break;
  }
  cs_buf_puts(b, t);
}

/* RFC 8259 string escaping as our writer does it, except that a byte that is not UTF-8 becomes
 * U+FFFD as raw UTF-8 (not "\ufffd"): re-reading and re-writing the canonical form must give
 * the same bytes, or a replayed can line would get another dedup key (found by
 * fuzz_collector_submit). */
static void put_str(cs_buf *b, const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s;
  cs_buf_putc(b, '"');
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      size_t j = i + 1;
      while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\') j++;
      cs_buf_append(b, p + i, j - i);
      i = j;
      continue;
    }
    if (c < 0x80) {
      switch (c) {
      case '"': cs_buf_puts(b, "\\\""); break;
      case '\\': cs_buf_puts(b, "\\\\"); break;
      case '\n': cs_buf_puts(b, "\\n"); break;
      case '\r': cs_buf_puts(b, "\\r"); break;
      case '\t': cs_buf_puts(b, "\\t"); break;
      default: cs_buf_printf(b, "\\u%04x", c); break;
      }
      i++;
      continue;
    }
    size_t l = c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (l > n - i || (l && !cs_utf8_valid(p + i, l))) l = 0;
    if (l) {
      cs_buf_append(b, p + i, l);
      i += l;
    } else {
      cs_buf_puts(b, "\xef\xbf\xbd");
      i++;
    }
  }
  cs_buf_putc(b, '"');
}

static void jwrite(cs_buf *b, const cs_jval *v, bool top_skip) {
  switch (v->type) {
  case CS_JNULL: cs_buf_puts(b, "null"); break;
  case CS_JBOOL: cs_buf_puts(b, v->b ? "true" : "false"); break;
  case CS_JNUM: put_num(b, v->num); break;
  case CS_JSTR: put_str(b, v->str, v->len); break;
  case CS_JARR:
    cs_buf_putc(b, '[');
    for (size_t i = 0; i < v->len; i++) {
      if (i) cs_buf_putc(b, ',');
      jwrite(b, v->kids[i], false);
    }
    cs_buf_putc(b, ']');
    break;
  case CS_JOBJ: {
    cs_buf_putc(b, '{');
    bool first = true;
    for (size_t i = 0; i < v->len; i++) {
      if (top_skip && (!strcmp(v->keys[i], "report_id") || !strcmp(v->keys[i], "measurement_uid")))
        continue;
      if (!first) cs_buf_putc(b, ',');
      first = false;
      put_str(b, v->keys[i], strlen(v->keys[i]));
      cs_buf_putc(b, ':');
      jwrite(b, v->kids[i], false);
    }
    cs_buf_putc(b, '}');
    break;
  }
  }
}

void cs_coll_json_write(cs_buf *b, const cs_jval *v) { jwrite(b, v, false); }

void cs_coll_msm_free(cs_coll_msm *m) { cs_buf_free(&m->canon); }

static int num(const char *s, size_t n) {
  int v = 0;
  for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
  return v;
}

/* "YYYY-mm-dd HH:MM:SS" (UTC) -> epoch seconds; -1 when malformed. */
static int64_t parse_time(const char *s) {
  if (!s || strlen(s) != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' ||
      s[16] != ':')
    return -1;
  static const int pos[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};
  for (size_t i = 0; i < sizeof pos / sizeof *pos; i++)
    if (s[pos[i]] < '0' || s[pos[i]] > '9') return -1;
  int y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2), h = num(s + 11, 2), mi = num(s + 14, 2),
      se = num(s + 17, 2);
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return -1;
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  time_t t = timegm(&tm);
  if (t == (time_t)-1) return -1;
  /* 31 February and friends: timegm normalises, we refuse */
  struct tm back;
  if (!gmtime_r(&t, &back) || back.tm_mday != d || back.tm_mon != mo - 1) return -1;
  return (int64_t)t;
}

/* An optional metadata string: absent/null/non-string -> NULL; longer than max -> error. */
static int meta_str(const cs_jval *c, const char *key, size_t max, const char **out, char *err,
                    size_t errlen) {
  const cs_jval *v = cs_json_get(c, key);
  *out = NULL;
  if (!v || v->type != CS_JSTR) return 0;
  /* UTF-8 only: the canonical form would turn each stray byte into 3 (U+FFFD) and the replay
   * of the can line would then find it too long */
  if (v->len > max || strlen(v->str) != v->len || !cs_utf8_valid((const uint8_t *)v->str, v->len)) {
    snprintf(err, errlen, "%s longer than %zu bytes or not UTF-8 text", key, max);
    return -1;
  }
  *out = v->str;
  return 0;
}

/* The lower-cased host of a URL input, or the input itself for domain inputs; NULL when
 * there is none or it is not a host name or address literal (a hostile input such as
 * "http://\"><svg onload=...>/" is stored, but indexes no domain). */
static const char *domain_of(cs_arena *a, const cs_nettest *nt, const char *input) {
  if (!input || !*input) return NULL;
  if (!strncmp(input, "http://", 7) || !strncmp(input, "https://", 8)) {
    cs_url u;
    char e[64];
    if (cs_url_parse(a, input, &u, e, sizeof e) != 0 || !u.host) return NULL;
    size_t n = strlen(u.host);
    return n >= 1 && n <= 253 && all_in(u.host, n, ALNUM ".-_:[]") ? u.host : NULL;
  }
  if (nt && nt->input == CS_INPUT_DOMAIN) {
    size_t n = strcspn(input, ":/");
    if (n == 0 || n > 253 || !all_in(input, n, ALNUM ".-")) return NULL;
    char *d = cs_arena_strndup(a, input, n);
    if (!d) return NULL;
    for (char *p = d; *p; p++)
      if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    return d;
  }
  return NULL;
}

static void analyse(cs_arena *a, const cs_jval *c, const struct cs_fp_db *fp, cs_coll_msm *m) {
  const cs_nettest *nt = cs_nettest_find(m->test_name);
  m->msm_failure = true;
  if (!nt || !nt->analyze || !cs_json_get_obj(c, "test_keys")) return;
  cs_analysis_opts ao = {.fingerprints = fp, .algo = "auto", .probe_cc = m->probe_cc};
  cs_buf b;
  cs_buf_init(&b, 1u << 20);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_jw_obj_open(&w);
  cs_outcome out;
  int rc = nt->analyze(a, c, &ao, &w, &out);
  cs_jw_obj_close(&w);
  if (rc == 0 && out.key) {
    m->outcome = out.key;
    m->anomaly = out.censorship;
    m->evidence = out.evidence;
    m->msm_failure = !strcmp(out.key, CS_OUTCOME_UNDETERMINED);
    if (m->msm_failure) m->anomaly = false;
    m->blocking_type = m->anomaly ? out.key : NULL;
    if (m->anomaly && !b.overflow) {
      char e[64];
      const cs_jval *keys = cs_json_parse(a, (const char *)b.data, b.len, NULL, e, sizeof e);
      m->confirmed = cs_json_get_bool(keys, "x_blockpage_confirmed", 0) == 1;
    }
  }
  cs_buf_free(&b);
}

int cs_coll_content_check(cs_arena *a, const cs_jval *c, const cs_coll_rid *rid,
                          const char *probe_set, int64_t now, const cs_coll_cfg *cfg,
                          const struct cs_fp_db *fp, cs_coll_msm *m, char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  m->resolver_asn = -1;
  m->test_runtime = NAN;
  cs_buf_init(&m->canon, 0);
  if (!c || c->type != CS_JOBJ) {
    snprintf(err, errlen, "content is not a JSON object");
    return 400;
  }
  m->test_name = cs_json_get_str(c, "test_name", NULL);
  if (!test_name_ok(m->test_name)) {
    snprintf(err, errlen, "test_name missing or not [a-z0-9_]{1,64}");
    return 400;
  }
  m->probe_cc = cs_json_get_str(c, "probe_cc", NULL);
  if (!cc_ok(m->probe_cc)) {
    snprintf(err, errlen, "probe_cc missing or not two capital letters");
    return 400;
  }
  m->probe_asn = parse_asn(cs_json_get_str(c, "probe_asn", NULL), false);
  if (m->probe_asn < 0) {
    snprintf(err, errlen, "probe_asn missing or not AS<number>");
    return 400;
  }
  const char *st = cs_json_get_str(c, "measurement_start_time", NULL);
  m->start = parse_time(st);
  if (m->start < 0) {
    snprintf(err, errlen, "measurement_start_time missing or not \"YYYY-mm-dd HH:MM:SS\"");
    return 400;
  }
  if (now > 0 && m->start > now + (int64_t)cfg->max_future_s) {
    snprintf(err, errlen, "measurement_start_time %s is more than %.0f s in the future", st,
             cfg->max_future_s);
    return 400;
  }
  if (now > 0 && m->start < now - (int64_t)cfg->max_age_s) {
    snprintf(err, errlen, "measurement_start_time %s is older than %.0f days", st,
             cfg->max_age_s / 86400);
    return 400;
  }
  if (rid) {
    char tn[65];
    squeeze_test_name(m->test_name, tn, sizeof tn);
    if (strcmp(rid->cc, m->probe_cc) || rid->asn != m->probe_asn || strcmp(rid->test_name, tn)) {
      snprintf(err, errlen,
               "Inconsistent measurement: content has %s AS%" PRId64 " %s, the report_id %s "
               "AS%" PRId64 " %s",
               m->probe_cc, m->probe_asn, tn, rid->cc, rid->asn, rid->test_name);
      return 400;
    }
  }
  if (m->probe_asn == 0 || !strcmp(m->probe_cc, "ZZ")) return CS_COLL_DISCARD;
  const cs_jval *in = cs_json_get(c, "input");
  if (in && in->type == CS_JSTR) {
    if (in->len > MAX_INPUT_LEN || strlen(in->str) != in->len ||
        !cs_utf8_valid((const uint8_t *)in->str, in->len)) {
      snprintf(err, errlen, "input longer than %d bytes or not UTF-8 text", MAX_INPUT_LEN);
      return 400;
    }
    m->input = in->str;
  } else if (in && in->type != CS_JNULL && in->type != CS_JARR) {
    snprintf(err, errlen, "input is neither a string nor null");
    return 400;
  }
  if (meta_str(c, "test_version", 64, &m->test_version, err, errlen) ||
      meta_str(c, "software_name", MAX_META_LEN, &m->software_name, err, errlen) ||
      meta_str(c, "software_version", MAX_META_LEN, &m->software_version, err, errlen) ||
      meta_str(c, "probe_network_name", MAX_META_LEN, &m->probe_network_name, err, errlen))
    return 400;
  m->resolver_asn = parse_asn(cs_json_get_str(c, "resolver_asn", NULL), false);
  double rt = cs_json_get_num(c, "test_runtime", NAN);
  if (isfinite(rt) && rt >= 0 && rt < 1e9) m->test_runtime = rt;
  const char *cat = cs_json_get_str(cs_json_get_obj(c, "annotations"), "category_code", NULL);
  if (cat && strlen(cat) >= 1 && strlen(cat) <= 32 &&
      all_in(cat, strlen(cat), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"))
    m->category_code = cat;
  /* Web Connectivity measures http(s) URLs only (OONI's ts-017): anything else
   * ("javascript:...") is not one of its measurements */
  if (!strcmp(m->test_name, "web_connectivity") && m->input &&
      strncmp(m->input, "http://", 7) != 0 && strncmp(m->input, "https://", 8) != 0) {
    snprintf(err, errlen, "input: web_connectivity measures http:// or https:// URLs only");
    return 400;
  }
  m->domain = domain_of(a, cs_nettest_find(m->test_name), m->input);

  /* dedup key over the canonical content */
  jwrite(&m->canon, c, true);
  if (m->canon.overflow || !cs_buf_cstr(&m->canon)) {
    snprintf(err, errlen, "out of memory");
    return 500;
  }
  EVP_MD_CTX *mc = EVP_MD_CTX_new();
  unsigned dl = 0;
  const char *ps = probe_set ? probe_set : "";
  bool ok = mc && EVP_DigestInit_ex(mc, EVP_sha256(), NULL) &&
            EVP_DigestUpdate(mc, "cs-dedup-1", 11) && EVP_DigestUpdate(mc, ps, strlen(ps)) &&
            EVP_DigestUpdate(mc, "", 1) && EVP_DigestUpdate(mc, m->canon.data, m->canon.len) &&
            EVP_DigestFinal_ex(mc, m->dedup_key, &dl) && dl == 32;
  EVP_MD_CTX_free(mc);
  if (!ok) {
    snprintf(err, errlen, "digest failed");
    return 500;
  }
  analyse(a, c, fp, m);
  return 0;
}

int cs_coll_submission_parse(cs_arena *a, const uint8_t *body, size_t len, cs_coll_sub_kind kind,
                             const cs_coll_rid *rid, const char *probe_set, int64_t now,
                             const cs_coll_cfg *cfg, const struct cs_fp_db *fp, cs_coll_msm *m,
                             char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  cs_buf_init(&m->canon, 0);
  if (cfg->max_body && len > cfg->max_body) {
    snprintf(err, errlen, "body of %zu bytes is larger than the %zu-byte limit", len,
             cfg->max_body);
    return 413;
  }
  char perr[160];
  cs_json_limits lim = {CS_JSON_MAX_DEPTH, 1u << 20};
  const cs_jval *env = cs_json_parse(a, (const char *)body, len, &lim, perr, sizeof perr);
  if (!env) {
    snprintf(err, errlen, "malformed JSON: %s", perr);
    return 400;
  }
  if (env->type != CS_JOBJ) {
    snprintf(err, errlen, "body is not a JSON object");
    return 400;
  }
  const cs_jval *fmt = cs_json_get(env, "format");
  if (fmt && !(fmt->type == CS_JSTR && !strcmp(fmt->str, "json"))) {
    snprintf(err, errlen, "format must be \"json\" (yaml is not accepted)");
    return 400;
  }
  const cs_jval *c = cs_json_get(env, "content");
  if (c && c->type == CS_JSTR && kind == CS_COLL_SUB_SUBMIT) {
    c = cs_json_parse(a, c->str, c->len, &lim, perr, sizeof perr);
    if (!c) {
      snprintf(err, errlen, "content: malformed JSON: %s", perr);
      return 400;
    }
  }
  if (!c || c->type != CS_JOBJ) {
    snprintf(err, errlen, "content missing or not a JSON object");
    return 400;
  }
  return cs_coll_content_check(a, c, rid, probe_set, now, cfg, fp, m, err, errlen);
}

int cs_coll_can_line(const cs_coll_msm *m, const char *uid, const char *rid, const char *probe_set,
                     cs_buf *out) {
  cs_jw w;
  cs_jw_init(&w, out);
  cs_jw_obj_open(&w);
  cs_jw_kstr(&w, "measurement_uid", uid);
  cs_jw_kstr(&w, "report_id", rid);
  if (probe_set && *probe_set) cs_jw_kstr(&w, "probe_set", probe_set);
  cs_jw_key(&w, "content");
  /* the canonical content with the report_id it was submitted under */
  if (m->canon.len < 2) return -1;
  cs_jw_raw(&w, (const char *)m->canon.data, m->canon.len - 1);
  if (m->canon.len > 2) cs_buf_putc(out, ',');
  cs_buf_puts(out, "\"report_id\":");
  put_str(out, rid, strlen(rid));
  cs_buf_putc(out, '}');
  cs_jw_obj_close(&w);
  cs_buf_putc(out, '\n');
  return out->overflow ? -1 : 0;
}

/* ---- handlers ----------------------------------------------------------------------------- */

/* Measurements with the same dedup key are ingested one at a time (check, append, insert), so
 * two concurrent re-uploads store one row and get the same uid. */
#define MAX_KEYS 1024
static pthread_mutex_t keys_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t keys_cv = PTHREAD_COND_INITIALIZER;
static uint8_t keys[MAX_KEYS][32];
static bool key_used[MAX_KEYS];

static int key_lock(const uint8_t k[32]) {
  pthread_mutex_lock(&keys_mu);
  for (;;) {
    int free_slot = -1;
    bool busy = false;
    for (int i = 0; i < MAX_KEYS; i++) {
      if (key_used[i] && !memcmp(keys[i], k, 32)) {
        busy = true;
        break;
      }
      if (!key_used[i] && free_slot < 0) free_slot = i;
    }
    if (!busy && free_slot >= 0) {
      key_used[free_slot] = true;
      memcpy(keys[free_slot], k, 32);
      pthread_mutex_unlock(&keys_mu);
      return free_slot;
    }
    pthread_cond_wait(&keys_cv, &keys_mu);
  }
}

static void key_unlock(int slot) {
  pthread_mutex_lock(&keys_mu);
  key_used[slot] = false;
  pthread_cond_broadcast(&keys_cv);
  pthread_mutex_unlock(&keys_mu);
}

static void now_us(int64_t *sec, long *usec) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  *sec = (int64_t)ts.tv_sec;
  *usec = ts.tv_nsec / 1000;
}

static bool encoding_ok(const cs_coll_req *rq, cs_coll_resp *rs) {
  const char *ce = cs_coll_header(rq, "Content-Encoding");
  if (ce && *ce && strcmp(ce, "identity")) {
    cs_coll_error(rs, 415, "Content-Encoding %.32s is not supported: send identity", ce);
    return false;
  }
  return true;
}

static bool probe_set_of(const cs_coll_req *rq, cs_coll_resp *rs, const char **ps) {
  *ps = cs_coll_header(rq, "X-Censorscope-Probe-Set");
  if (!*ps) *ps = "";
  if (!cs_coll_probe_set_ok(*ps)) {
    cs_coll_error(rs, 400, "X-Censorscope-Probe-Set is not [A-Za-z0-9._-]{0,64}");
    return false;
  }
  return true;
}

/* Dedup check, can append + flush, row insert. Fills uid (the stored one for a duplicate).
 * Returns 0, or sets the error response and returns -1. */
static int ingest(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs, cs_coll_msm *m,
                  const char *rid, const char *probe_set, char *uid, size_t uidlen) {
  if (!ctx->pg) {
    cs_coll_error(rs, 503, "database unavailable");
    snprintf(rs->retry_after, sizeof rs->retry_after, "10");
    return -1;
  }
  int64_t sec;
  long usec;
  now_us(&sec, &usec);
  int slot = key_lock(m->dedup_key);
  int rc = -1;
  int d = cs_coll_pg_dedup(ctx->pg, m, uid, uidlen);
  if (d < 0) {
    cs_coll_error(rs, 503, "database unavailable");
    snprintf(rs->retry_after, sizeof rs->retry_after, "10");
    goto out;
  }
  if (d == 1) { /* a re-upload: the first stored uid, nothing new */
    rc = 0;
    goto out;
  }
  if (cs_coll_uid_make(sec, usec, m->probe_cc, m->test_name, rq->body, rq->body_len, uid, uidlen)) {
    cs_coll_error(rs, 500, "cannot make a measurement_uid");
    goto out;
  }
  cs_buf line;
  cs_buf_init(&line, 0);
  if (cs_coll_can_line(m, uid, rid, probe_set, &line)) {
    cs_buf_free(&line);
    cs_coll_error(rs, 500, "out of memory");
    goto out;
  }
  char path[CS_COLL_CAN_PATH_MAX];
  int64_t off = 0;
  cs_coll_can *can = cs_coll_get_can(ctx->coll);
  if (!can || cs_coll_can_append(can, sec, line.data, line.len, path, &off)) {
    cs_buf_free(&line);
    cs_coll_error(rs, 503, "storage failure: the measurement was not stored");
    goto out;
  }
  int64_t can_len = (int64_t)line.len - 1;
  cs_buf_free(&line);
  /* acknowledged from here on: the can holds it */
  char err[256];
  int ins = cs_coll_pg_insert(ctx->pg, m, uid, rid, path, off, can_len, err, sizeof err);
  if (ins == 0) {
    /* another collector stored the same content meanwhile: answer its uid */
    char other[CS_COLL_UID_MAX];
    if (cs_coll_pg_dedup(ctx->pg, m, other, sizeof other) == 1) snprintf(uid, uidlen, "%s", other);
  } else if (ins < 0) {
    fprintf(stderr, "collector: insert of %s failed (the can keeps it; replayed later): %s\n", uid,
            err);
  }
  cs_coll_can_done(can, path, ins >= 0);
  rc = 0;
out:
  key_unlock(slot);
  return rc;
}

CS_COLL_HANDLER(cs_coll_h_report_open) {
  char err[256];
  cs_arena *a = cs_arena_new(0);
  if (!a) {
    cs_coll_error(rs, 500, "out of memory");
    return;
  }
  cs_json_limits lim = {16, 4096};
  const cs_jval *v = cs_json_parse(a, (const char *)rq->body, rq->body_len, &lim, err, sizeof err);
  if (!v || v->type != CS_JOBJ) {
    cs_coll_error(rs, 400, "malformed JSON: %s", v ? "not an object" : err);
    goto out;
  }
  const char *fmt = cs_json_get_str(v, "format", "json");
  if (strcmp(fmt, "json")) {
    cs_coll_error(rs, 400, "format must be \"json\" (yaml is not accepted)");
    goto out;
  }
  const char *tn = cs_json_get_str(v, "test_name", NULL);
  if (!test_name_ok(tn)) {
    cs_coll_error(rs, 400, "test_name missing or not [a-z0-9_]{1,64}");
    goto out;
  }
  /* like OONI: a bad country becomes ZZ and a bad ASN AS0 (their measurements are discarded) */
  const char *cc = cs_json_get_str(v, "probe_cc", NULL);
  if (!cc_ok(cc)) cc = "ZZ";
  int64_t asn = parse_asn(cs_json_get_str(v, "probe_asn", NULL), false);
  if (asn < 0) asn = 0;
  const char *swn, *swv;
  if (meta_str(v, "software_name", MAX_META_LEN, &swn, err, sizeof err) ||
      meta_str(v, "software_version", MAX_META_LEN, &swv, err, sizeof err)) {
    cs_coll_error(rs, 400, "%s", err);
    goto out;
  }
  uint8_t rnd[16];
  char rid[CS_COLL_RID_MAX];
  int64_t sec;
  long usec;
  now_us(&sec, &usec);
  if (RAND_bytes(rnd, sizeof rnd) != 1 ||
      cs_coll_report_id_make(sec, tn, cc, asn, ctx->cfg->collector_id, rnd, rid, sizeof rid)) {
    cs_coll_error(rs, 500, "cannot make a report_id");
    goto out;
  }
  if (!ctx->pg || cs_coll_pg_report_open(ctx->pg, rid, tn, cc, asn, swn, swv)) {
    cs_coll_error(rs, 503, "database unavailable");
    goto out;
  }
  cs_jw w;
  cs_jw_init(&w, &rs->body);
  cs_jw_obj_open(&w);
  cs_jw_kstr(&w, "backend_version", "censorscope-collector-1");
  cs_jw_kstr(&w, "report_id", rid);
  cs_jw_key(&w, "supported_formats");
  cs_jw_arr_open(&w);
  cs_jw_str(&w, "json");
  cs_jw_arr_close(&w);
  cs_jw_obj_close(&w);
out:
  cs_arena_free(a);
}

CS_COLL_HANDLER(cs_coll_h_report_submit) {
  char err[320];
  cs_coll_rid rid;
  if (cs_coll_report_id_parse(rq->cap[0], &rid, err, sizeof err)) {
    cs_coll_error(rs, 400, "%s", err);
    return;
  }
  const char *ps;
  if (!encoding_ok(rq, rs) || !probe_set_of(rq, rs, &ps)) return;
  if (rid.asn == 0 || !strcmp(rid.cc, "ZZ")) { /* OONI: discarded, {} */
    cs_buf_puts(&rs->body, "{}");
    return;
  }
  cs_arena *a = cs_arena_new(0);
  if (!a) {
    cs_coll_error(rs, 500, "out of memory");
    return;
  }
  cs_coll_msm m;
  int rc = cs_coll_submission_parse(a, rq->body, rq->body_len, CS_COLL_SUB_REPORT, &rid, ps,
                                    (int64_t)time(NULL), ctx->cfg, cs_coll_get_fp(ctx->coll), &m,
                                    err, sizeof err);
  char uid[CS_COLL_UID_MAX];
  if (rc == CS_COLL_DISCARD) {
    cs_buf_puts(&rs->body, "{}");
  } else if (rc) {
    cs_coll_error(rs, rc, "%s", err);
  } else if (ingest(ctx, rq, rs, &m, rq->cap[0], ps, uid, sizeof uid) == 0) {
    cs_jw w;
    cs_jw_init(&w, &rs->body);
    cs_jw_obj_open(&w);
    cs_jw_kstr(&w, "measurement_uid", uid);
    cs_jw_obj_close(&w);
  }
  cs_coll_msm_free(&m);
  cs_arena_free(a);
}

CS_COLL_HANDLER(cs_coll_h_report_close) {
  char err[160];
  cs_coll_rid rid;
  if (cs_coll_report_id_parse(rq->cap[0], &rid, err, sizeof err)) {
    cs_coll_error(rs, 400, "%s", err);
    return;
  }
  if (!ctx->pg || cs_coll_pg_report_close(ctx->pg, rq->cap[0]) < 0) {
    cs_coll_error(rs, 503, "database unavailable");
    return;
  }
  cs_buf_puts(&rs->body, "{}"); /* OONI answers {} for any well-formed report_id */
}

CS_COLL_HANDLER(cs_coll_h_submit_measurement) {
  char err[320];
  const char *ps;
  if (!encoding_ok(rq, rs) || !probe_set_of(rq, rs, &ps)) return;
  cs_arena *a = cs_arena_new(0);
  if (!a) {
    cs_coll_error(rs, 500, "out of memory");
    return;
  }
  cs_coll_msm m;
  int rc = cs_coll_submission_parse(a, rq->body, rq->body_len, CS_COLL_SUB_SUBMIT, NULL, ps,
                                    (int64_t)time(NULL), ctx->cfg, cs_coll_get_fp(ctx->coll), &m,
                                    err, sizeof err);
  char uid[CS_COLL_UID_MAX], rid[CS_COLL_RID_MAX];
  uint8_t rnd[16];
  if (rc == CS_COLL_DISCARD) {
    cs_buf_puts(&rs->body, "{}");
  } else if (rc) {
    cs_coll_error(rs, rc, "%s", err);
  } else if (RAND_bytes(rnd, sizeof rnd) != 1 ||
             cs_coll_report_id_make((int64_t)time(NULL), m.test_name, m.probe_cc, m.probe_asn,
                                    ctx->cfg->collector_id, rnd, rid, sizeof rid)) {
    cs_coll_error(rs, 500, "cannot make a report_id");
  } else if (ingest(ctx, rq, rs, &m, rid, ps, uid, sizeof uid) == 0) {
    cs_jw w;
    cs_jw_init(&w, &rs->body);
    cs_jw_obj_open(&w);
    cs_jw_kstr(&w, "measurement_uid", uid);
    cs_jw_kstr(&w, "report_id", rid);
    cs_jw_kstr(&w, "verification_status", "unverified");
    cs_jw_knull(&w, "error");
    cs_jw_obj_close(&w);
  }
  cs_coll_msm_free(&m);
  cs_arena_free(a);
}

/* GET /api/_/collector/health: is the database reachable (OONI has /health likewise). */
CS_COLL_HANDLER(cs_coll_h_health) {
  PGconn *pg = ctx->pg_read ? ctx->pg_read : ctx->pg;
  PGresult *r = pg ? PQexec(pg, "SELECT 1") : NULL;
  bool ok = cs_coll_pg_ok(r);
  PQclear(r);
  cs_jw w;
  cs_jw_init(&w, &rs->body);
  cs_jw_obj_open(&w);
  cs_jw_kbool(&w, "database", ok);
  cs_jw_kbool(&w, "read_only", ctx->cfg->read_only);
  cs_jw_kint(&w, "collector_id", ctx->cfg->collector_id);
  cs_jw_obj_close(&w);
  if (!ok) rs->status = 503;
}
