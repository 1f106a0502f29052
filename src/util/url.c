/* url.c - see url.h. RFC 3986 (generic syntax), RFC 5891 / UTS #46 via libidn2 for IDNA. */
#include "util/url.h"

#include <ctype.h>
#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/ipnet.h"

#define URL_MAX 8192

static int fail(char *err, size_t errlen, const char *msg) {
  if (errlen) snprintf(err, errlen, "%s", msg);
  return -1;
}

/* RFC 3986 5.2.4 remove_dot_segments, on a path without query. */
static char *remove_dots(cs_arena *a, const char *in, size_t n) {
  char *out = cs_arena_alloc(a, n + 2);
  if (!out) return NULL;
  size_t o = 0, i = 0;
  while (i < n) {
    const char *s = in + i;
    size_t left = n - i;
    if (left >= 3 && !strncmp(s, "../", 3)) i += 3;
    else if (left >= 2 && !strncmp(s, "./", 2)) i += 2;
    else if (left >= 3 && !strncmp(s, "/./", 3)) i += 2;
    else if (left == 2 && !strncmp(s, "/.", 2)) out[o++] = '/', i += 2;
    else if ((left >= 4 && !strncmp(s, "/../", 4)) || (left == 3 && !strncmp(s, "/..", 3))) {
      i += 3;
      while (o > 0 && out[o - 1] != '/') o--;
      if (o > 0) o--;
      if (left == 3) out[o++] = '/';
    } else if ((left == 1 && s[0] == '.') || (left == 2 && !strncmp(s, "..", 2))) i += left;
    else {
      do out[o++] = in[i++];
      while (i < n && in[i] != '/');
    }
  }
  out[o] = 0;
  return out;
}

int cs_url_parse(cs_arena *a, const char *s, cs_url *u, char *err, size_t errlen) {
  memset(u, 0, sizeof *u);
  size_t len = strlen(s);
  if (len == 0 || len > URL_MAX) return fail(err, errlen, "empty or overlong URL");
  while (len && isspace((unsigned char)*s)) s++, len--;
  while (len && isspace((unsigned char)s[len - 1])) len--;
  const char *p = s, *end = s + len;
  const char *colon = memchr(p, ':', len);
  if (!colon) return fail(err, errlen, "missing scheme");
  size_t sl = (size_t)(colon - p);
  if (sl == 4 && !strncasecmp(p, "http", 4)) u->scheme = "http", u->port = 80;
  else if (sl == 5 && !strncasecmp(p, "https", 5)) u->scheme = "https", u->port = 443;
  else return fail(err, errlen, "unsupported scheme (only http and https)");
  p = colon + 1;
  if (end - p < 2 || p[0] != '/' || p[1] != '/') return fail(err, errlen, "missing //authority");
  p += 2;
  const char *auth_end = p;
  while (auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#') auth_end++;
  const char *at = NULL;
  for (const char *q = p; q < auth_end; q++)
    if (*q == '@') at = q;
  if (at) p = at + 1; /* userinfo is ignored and never sent */
  const char *hs = p, *he;
  const char *portp = NULL;
  if (p < auth_end && *p == '[') {
    const char *rb = memchr(p, ']', (size_t)(auth_end - p));
    if (!rb) return fail(err, errlen, "unterminated IPv6 literal");
    hs = p + 1, he = rb;
    if (rb + 1 < auth_end) {
      if (rb[1] != ':') return fail(err, errlen, "garbage after IPv6 literal");
      portp = rb + 2;
    }
  } else {
    he = auth_end;
    for (const char *q = p; q < auth_end; q++)
      if (*q == ':') {
        he = q;
        portp = q + 1;
        break;
      }
  }
  if (he <= hs) return fail(err, errlen, "empty host");
  if (portp && portp < auth_end) {
    unsigned long v = 0;
    for (const char *q = portp; q < auth_end; q++) {
      if (!isdigit((unsigned char)*q)) return fail(err, errlen, "invalid port");
      v = v * 10 + (unsigned long)(*q - '0');
      if (v > 65535) return fail(err, errlen, "port out of range");
    }
    if (v == 0) return fail(err, errlen, "invalid port");
    u->port = (uint16_t)v;
    u->explicit_port = true;
  }
  char *host = cs_arena_strndup(a, hs, (size_t)(he - hs));
  if (!host) return fail(err, errlen, "out of memory");
  bool ascii = true;
  for (char *q = host; *q; q++) {
    if ((unsigned char)*q >= 0x80) ascii = false;
    else if ((unsigned char)*q <= 0x20 || *q == 0x7f || *q == '%' || *q == '/' || *q == '\\')
      return fail(err, errlen, "invalid character in host");
    else *q = (char)tolower((unsigned char)*q);
  }
  /* one trailing dot (the DNS root) goes, so "a.example." and "a.example" are one host; "a.." is
   * kept as given (stripping it to "a." would not be stable under a second parse) */
  size_t hl = strlen(host);
  if (hl > 1 && host[hl - 1] == '.' && host[hl - 2] != '.') host[hl - 1] = 0;
  cs_ip ip;
  /* RFC 3986 3.2.2: brackets hold an IPv6 address and nothing else (IPvFuture is not dialled) */
  if (*p == '[' && (!cs_ip_parse(host, &ip) || ip.family != AF_INET6))
    return fail(err, errlen, "invalid IPv6 literal");
  if (cs_ip_parse(host, &ip)) {
    u->host_is_ip = true;
    char canon[CS_IPSTR_MAX];
    cs_ip_format(&ip, canon);
    host = cs_arena_strdup(a, canon);
  } else if (!ascii || strstr(host, "xn--")) {
    char *out = NULL;
    int rc = idn2_to_ascii_8z(host, &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK) {
      if (!ascii) return fail(err, errlen, "invalid internationalised host name");
      /* an already-punycoded name that libidn2 rejects is used as given */
    } else {
      host = cs_arena_strdup(a, out);
      idn2_free(out);
    }
  }
  if (!host) return fail(err, errlen, "out of memory");
  u->host = host;
  /* path + query, fragment dropped */
  const char *ps = auth_end, *pe = ps;
  while (pe < end && *pe != '#') pe++;
  if (ps == pe) u->path = "/";
  else if (*ps == '?') u->path = cs_arena_printf(a, "/%.*s", (int)(pe - ps), ps);
  else u->path = cs_arena_strndup(a, ps, (size_t)(pe - ps));
  if (!u->path) return fail(err, errlen, "out of memory");
  for (const char *q = u->path; *q; q++)
    if ((unsigned char)*q <= 0x20 || *q == 0x7f)
      return fail(err, errlen, "invalid character in path");
  return 0;
}

char *cs_url_format(cs_arena *a, const cs_url *u) {
  bool v6 = strchr(u->host, ':') != NULL;
  if (u->explicit_port)
    return cs_arena_printf(a, "%s://%s%s%s:%u%s", u->scheme, v6 ? "[" : "", u->host, v6 ? "]" : "",
                           u->port, u->path);
  return cs_arena_printf(a, "%s://%s%s%s%s", u->scheme, v6 ? "[" : "", u->host, v6 ? "]" : "",
                         u->path);
}

char *cs_url_hostport(cs_arena *a, const cs_url *u) {
  bool v6 = strchr(u->host, ':') != NULL;
  bool dflt = (!strcmp(u->scheme, "http") && u->port == 80) ||
              (!strcmp(u->scheme, "https") && u->port == 443);
  if (u->explicit_port && !dflt)
    return cs_arena_printf(a, "%s%s%s:%u", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
  return cs_arena_printf(a, "%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "");
}

char *cs_url_resolve(cs_arena *a, const char *base, const char *ref) {
  cs_url b;
  char err[64];
  if (!ref || cs_url_parse(a, base, &b, err, sizeof err) < 0) return NULL;
  while (isspace((unsigned char)*ref)) ref++;
  size_t rl = strlen(ref);
  while (rl && isspace((unsigned char)ref[rl - 1])) rl--;
  if (rl == 0 || rl > URL_MAX) return NULL;
  char *r = cs_arena_strndup(a, ref, rl);
  if (!r) return NULL;
  char *hash = strchr(r, '#');
  if (hash) *hash = 0;
  if (!r[0]) return cs_url_format(a, &b); /* "#frag": the base document itself */
  /* scheme present? (RFC 3986 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":") */
  const char *q = r;
  if (isalpha((unsigned char)*q)) {
    while (isalnum((unsigned char)*q) || *q == '+' || *q == '-' || *q == '.') q++;
    if (*q == ':') {
      cs_url t;
      if (cs_url_parse(a, r, &t, err, sizeof err) < 0) return NULL;
      return cs_url_format(a, &t);
    }
  }
  char *abs;
  bool v6 = strchr(b.host, ':') != NULL;
  char *auth = b.explicit_port
                   ? cs_arena_printf(a, "%s%s%s:%u", v6 ? "[" : "", b.host, v6 ? "]" : "", b.port)
                   : cs_arena_printf(a, "%s%s%s", v6 ? "[" : "", b.host, v6 ? "]" : "");
  if (!auth) return NULL;
  if (r[0] == '/' && r[1] == '/') {
    abs = cs_arena_printf(a, "%s:%s", b.scheme, r);
  } else if (r[0] == '/') {
    char *qm = strchr(r, '?');
    size_t pl = qm ? (size_t)(qm - r) : strlen(r);
    char *path = remove_dots(a, r, pl);
    if (!path) return NULL;
    abs = cs_arena_printf(a, "%s://%s%s%s", b.scheme, auth, path, qm ? qm : "");
  } else if (r[0] == '?') {
    const char *bq = strchr(b.path, '?');
    size_t bl = bq ? (size_t)(bq - b.path) : strlen(b.path);
    abs = cs_arena_printf(a, "%s://%s%.*s%s", b.scheme, auth, (int)bl, b.path, r);
  } else {
    /* merge: base path up to the last '/', then ref (RFC 3986 5.2.3) */
    const char *bq = strchr(b.path, '?');
    size_t bl = bq ? (size_t)(bq - b.path) : strlen(b.path);
    size_t dir = bl;
    while (dir > 0 && b.path[dir - 1] != '/') dir--;
    char *qm = strchr(r, '?');
    size_t pl = qm ? (size_t)(qm - r) : strlen(r);
    char *merged = cs_arena_printf(a, "%.*s%.*s", (int)dir, b.path, (int)pl, r);
    if (!merged) return NULL;
    char *path = remove_dots(a, merged, strlen(merged));
    if (!path) return NULL;
    abs = cs_arena_printf(a, "%s://%s%s%s", b.scheme, auth, path[0] ? path : "/", qm ? qm : "");
  }
  if (!abs) return NULL;
  cs_url t;
  if (cs_url_parse(a, abs, &t, err, sizeof err) < 0) return NULL;
  return cs_url_format(a, &t);
}
