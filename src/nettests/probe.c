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

static bool addr_char(char c) { return isxdigit((unsigned char)c) || c == '.' || c == ':'; }

char *cs_probe_scrub_self(const char *json, size_t len, size_t *outlen) {
  pthread_once(&self_once, self_init);
  static const char rep[] = "[scrubbed]";
  cs_buf b;
  cs_buf_init(&b, 0);
  size_t i = 0, run = 0;
  while (i < len) {
    size_t hit = 0;
    if ((i == 0 || !addr_char(json[i - 1])) && addr_char(json[i])) {
      for (size_t k = 0; k < nself; k++) {
        size_t n = strlen(self_addrs[k]);
        if (n <= len - i && !strncasecmp(json + i, self_addrs[k], n) &&
            (i + n == len || !addr_char(json[i + n]))) {
          hit = n;
          break;
        }
      }
    }
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
