/* probe.c - shared probe helpers: report ids and scrubbing the probe's own addresses. */
#include "nettests/probe.h"

#include <ctype.h>
#include <ifaddrs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/ipnet.h"
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
