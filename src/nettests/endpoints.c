/* endpoints.c - the endpoint-file parser of the app and platform tests (format: endpoints.h,
 * docs/apps.md). All-or-nothing and bounded: the first error stops the parse with its line. */
#include "nettests/endpoints.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/url.h"

const char *cs_ep_kind_str(cs_ep_kind k) {
  switch (k) {
  case CS_EP_DNS: return "dns";
  case CS_EP_TCP: return "tcp";
  case CS_EP_TLS: return "tls";
  case CS_EP_HTTP: return "http";
  case CS_EP_HTTPS: return "https";
  case CS_EP_STUN: return "stun";
  }
  return "?";
}

typedef struct {
  cs_arena *a;
  const char *name;
  size_t line;
  char *err;
  size_t errlen;
  cs_ep_file *f;
  size_t cap; /* eps allocated */
  bool has_app;
} ep_parser;

__attribute__((format(printf, 2, 3))) static int ep_fail(ep_parser *p, const char *fmt, ...) {
  char msg[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (p->line) snprintf(p->err, p->errlen, "%s:%zu: %s", p->name, p->line, msg);
  else snprintf(p->err, p->errlen, "%s: %s", p->name, msg);
  return -1;
}

/* [a-z0-9_]{1,CS_EP_NAME_MAX} */
static bool ep_is_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > CS_EP_NAME_MAX) return false;
  for (size_t i = 0; i < n; i++)
    if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_') return false;
  return true;
}

/* A DNS host name: labels of [A-Za-z0-9_-]{1,63} separated by dots, 253 bytes at most, no
 * leading or trailing hyphen in a label. Lower-cased in place. */
static bool ep_is_hostname(char *s) {
  size_t n = strlen(s), lab = 0;
  if (n == 0 || n > 253 || s[n - 1] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '.') {
      if (lab == 0 || s[i - 1] == '-') return false;
      lab = 0;
      continue;
    }
    if (!isalnum(c) && c != '-' && c != '_') return false;
    if (c == '-' && lab == 0) return false;
    if (++lab > 63) return false;
    s[i] = (char)tolower(c);
  }
  return s[n - 1] != '-';
}

/* host:port, ip:port or [v6]:port into e->host/port/host_is_ip. */
static int ep_hostport(ep_parser *p, cs_ep *e, const char *t) {
  const char *colon, *h = t;
  size_t hl;
  if (*t == '[') {
    const char *rb = strchr(t, ']');
    if (!rb || rb[1] != ':') return ep_fail(p, "%s: expected [IPv6]:PORT", t);
    h = t + 1, hl = (size_t)(rb - t - 1), colon = rb + 1;
  } else {
    colon = strrchr(t, ':');
    if (!colon || colon == t) return ep_fail(p, "%s: expected HOST:PORT", t);
    if (memchr(t, ':', (size_t)(colon - t)))
      return ep_fail(p, "%s: an IPv6 address needs brackets: [IPv6]:PORT", t);
    hl = (size_t)(colon - t);
  }
  char *end;
  errno = 0;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (!isdigit((unsigned char)colon[1]) || *end || errno || port == 0 || port > 65535)
    return ep_fail(p, "%s: bad port (1-65535)", t);
  char *host = cs_arena_strndup(p->a, h, hl);
  if (!host) return ep_fail(p, "out of memory");
  cs_ip ip;
  if (cs_ip_parse(host, &ip)) {
    if (*t != '[' && ip.family != AF_INET)
      return ep_fail(p, "%s: an IPv6 address needs brackets", t);
    if (*t == '[' && ip.family == AF_INET)
      return ep_fail(p, "%s: brackets hold an IPv6 address", t);
    e->host_is_ip = true;
    e->host = cs_ip_canon(p->a, host);
    if (!e->host) return ep_fail(p, "out of memory");
  } else {
    if (*t == '[') return ep_fail(p, "%s: not an IPv6 address in brackets", t);
    if (!ep_is_hostname(host)) return ep_fail(p, "%s: not a host name or IP address", t);
    e->host = host;
  }
  e->port = (uint16_t)port;
  return 0;
}

static int ep_target(ep_parser *p, cs_ep *e, char *t) {
  switch (e->kind) {
  case CS_EP_DNS: {
    cs_ip ip;
    if (cs_ip_parse(t, &ip)) return ep_fail(p, "%s: a dns endpoint needs a host name", t);
    if (!ep_is_hostname(t)) return ep_fail(p, "%s: not a host name", t);
    e->host = t;
    return 0;
  }
  case CS_EP_TCP:
  case CS_EP_TLS:
  case CS_EP_STUN: return ep_hostport(p, e, t);
  case CS_EP_HTTP:
  case CS_EP_HTTPS: {
    const char *want = e->kind == CS_EP_HTTP ? "http://" : "https://";
    if (strncmp(t, want, strlen(want)) != 0)
      return ep_fail(p, "%s: a %s endpoint needs a %sURL", t, cs_ep_kind_str(e->kind), want);
    cs_url u;
    char uerr[128];
    if (cs_url_parse(p->a, t, &u, uerr, sizeof uerr) != 0)
      return ep_fail(p, "%s: bad URL: %s", t, uerr);
    e->host = u.host, e->host_is_ip = u.host_is_ip, e->port = u.port, e->path = u.path;
    return 0;
  }
  }
  return ep_fail(p, "bad kind");
}

static int ep_option(ep_parser *p, cs_ep *e, char *opt, unsigned *seen) {
  char *eq = strchr(opt, '=');
  if (!eq || eq == opt) return ep_fail(p, "%s: expected key=value", opt);
  *eq = 0;
  char *v = eq + 1;
  static const char *const keys[] = {"sni", "addr", "expect", "method", "ooni"};
  size_t k = 0;
  while (k < sizeof keys / sizeof *keys && strcmp(keys[k], opt)) k++;
  if (k == sizeof keys / sizeof *keys)
    return ep_fail(p, "unknown option %s= (sni, addr, expect, method, ooni)", opt);
  if (*seen & (1u << k)) return ep_fail(p, "option %s= given twice", opt);
  *seen |= 1u << k;
  if (!*v) return ep_fail(p, "option %s= needs a value", opt);
  bool web = e->kind == CS_EP_HTTP || e->kind == CS_EP_HTTPS;
  switch (k) {
  case 0: /* sni */
    if (e->kind != CS_EP_TLS && e->kind != CS_EP_HTTPS)
      return ep_fail(p, "sni= applies to tls and https endpoints only");
    if (!ep_is_hostname(v)) return ep_fail(p, "sni=%s: not a host name", v);
    e->sni = v;
    return 0;
  case 1: /* addr */
    if (e->kind == CS_EP_DNS) return ep_fail(p, "addr= does not apply to a dns endpoint");
    if (!cs_ip_parse(v, &e->addr)) return ep_fail(p, "addr=%s: not an IP address", v);
    e->has_addr = true;
    e->addrs = cs_ip_canon(p->a, v);
    if (!e->addrs) return ep_fail(p, "out of memory");
    return 0;
  case 2: /* expect */
    if (!web) return ep_fail(p, "expect= applies to http and https endpoints only");
    for (char *s = v;;) {
      char *end;
      errno = 0;
      long st = strtol(s, &end, 10);
      if (!isdigit((unsigned char)*s) || errno || st < 100 || st > 599 || (*end && *end != ','))
        return ep_fail(p, "expect=%s: give HTTP statuses 100-599, comma separated", v);
      if (e->nexpect == CS_EP_MAX_EXPECT)
        return ep_fail(p, "expect=: at most %d statuses", CS_EP_MAX_EXPECT);
      e->expect[e->nexpect++] = (int)st;
      if (!*end) break;
      s = end + 1;
    }
    return 0;
  case 3: /* method */
    if (!web) return ep_fail(p, "method= applies to http and https endpoints only");
    if (strcmp(v, "GET") && strcmp(v, "POST") && strcmp(v, "HEAD"))
      return ep_fail(p, "method=%s: give GET, POST or HEAD", v);
    e->method = v;
    return 0;
  default: /* ooni */
    if (!ep_is_name(v)) return ep_fail(p, "ooni=%s: give a name of [a-z0-9_]", v);
    e->ooni = v;
    return 0;
  }
}

static int ep_endpoint(ep_parser *p, char **w, size_t nw) {
  cs_ep_file *f = p->f;
  if (nw < 4) return ep_fail(p, "endpoint: expected FUNCTION KIND TARGET [key=value ...]");
  if (f->neps == CS_EP_MAX_ENDPOINTS)
    return ep_fail(p, "more than %d endpoints", CS_EP_MAX_ENDPOINTS);
  if (f->neps == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 16;
    cs_ep *n = cs_arena_alloc(p->a, cap * sizeof *n);
    if (!n) return ep_fail(p, "out of memory");
    if (f->neps) memcpy(n, f->eps, f->neps * sizeof *n);
    f->eps = n, p->cap = cap;
  }
  cs_ep *e = &f->eps[f->neps];
  memset(e, 0, sizeof *e);
  e->line = p->line;
  size_t fi = 0;
  while (fi < f->nfunctions && strcmp(f->functions[fi].name, w[1])) fi++;
  if (fi == f->nfunctions)
    return ep_fail(p,
                   "endpoint: function %s is not declared (declare it first with: function "
                   "NAME LABEL)",
                   w[1]);
  e->function = fi;
  static const char *const kinds[] = {"dns", "tcp", "tls", "http", "https", "stun"};
  size_t k = 0;
  while (k < sizeof kinds / sizeof *kinds && strcmp(kinds[k], w[2])) k++;
  if (k == sizeof kinds / sizeof *kinds)
    return ep_fail(p, "endpoint: unknown kind %s (dns, tcp, tls, http, https, stun)", w[2]);
  e->kind = (cs_ep_kind)k;
  e->target = cs_arena_strdup(p->a, w[3]);
  if (!e->target) return ep_fail(p, "out of memory");
  if (ep_target(p, e, w[3]) < 0) return -1;
  unsigned seen = 0;
  for (size_t i = 4; i < nw; i++)
    if (ep_option(p, e, w[i], &seen) < 0) return -1;
  if (e->has_addr && e->host_is_ip)
    return ep_fail(p, "addr= is for a named host (the target already is an address)");
  if ((e->kind == CS_EP_HTTP || e->kind == CS_EP_HTTPS) && !e->method) e->method = "GET";
  f->neps++;
  return 0;
}

/* The rest of the line after the first nskip words, trimmed (labels, sources). */
static const char *ep_rest(ep_parser *p, char *const *w, size_t nw, size_t nskip) {
  size_t n = 0;
  for (size_t i = nskip; i < nw; i++) n += strlen(w[i]) + 1;
  char *s = cs_arena_alloc(p->a, n + 1);
  if (!s) return NULL;
  size_t o = 0;
  for (size_t i = nskip; i < nw; i++) {
    if (o) s[o++] = ' ';
    size_t l = strlen(w[i]);
    memcpy(s + o, w[i], l);
    o += l;
  }
  s[o] = 0;
  return s;
}

static int ep_line(ep_parser *p, char *line) {
  char *hash = strchr(line, '#');
  if (hash) *hash = 0;
  char *w[64];
  size_t nw = 0;
  for (char *s = line; *s;) {
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) break;
    if (nw == sizeof w / sizeof *w) return ep_fail(p, "more than %zu words", nw);
    w[nw++] = s;
    while (*s && *s != ' ' && *s != '\t') s++;
    if (*s) *s++ = 0;
  }
  if (nw == 0) return 0;
  cs_ep_file *f = p->f;
  if (!strcmp(w[0], "app")) {
    if (nw != 2) return ep_fail(p, "app: expected one NAME");
    if (p->has_app) return ep_fail(p, "app given twice");
    if (!ep_is_name(w[1])) return ep_fail(p, "app %s: give a name of [a-z0-9_]", w[1]);
    f->app = cs_arena_strdup(p->a, w[1]);
    p->has_app = true;
    return f->app ? 0 : ep_fail(p, "out of memory");
  }
  if (!p->has_app) return ep_fail(p, "%s before the app line (start with: app NAME)", w[0]);
  if (!strcmp(w[0], "source")) {
    if (nw < 2) return ep_fail(p, "source: expected a text");
    if (f->nsources == CS_EP_MAX_SOURCES)
      return ep_fail(p, "more than %d source lines", CS_EP_MAX_SOURCES);
    const char *s = ep_rest(p, w, nw, 1);
    if (!s) return ep_fail(p, "out of memory");
    f->sources[f->nsources++] = s;
    return 0;
  }
  if (!strcmp(w[0], "date")) {
    if (nw != 2) return ep_fail(p, "date: expected one YYYY-MM-DD");
    if (f->date) return ep_fail(p, "date given twice");
    const char *d = w[1];
    bool shape = strlen(d) == 10 && d[4] == '-' && d[7] == '-';
    for (size_t i = 0; shape && i < 10; i++)
      if (i != 4 && i != 7 && !isdigit((unsigned char)d[i])) shape = false;
    int y = shape ? (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0') : 0;
    int m = shape ? (d[5] - '0') * 10 + (d[6] - '0') : 0;
    int dd = shape ? (d[8] - '0') * 10 + (d[9] - '0') : 0;
    if (!shape || y < 1970 || m < 1 || m > 12 || dd < 1 || dd > 31)
      return ep_fail(p, "date %s: expected YYYY-MM-DD", d);
    f->date = cs_arena_strdup(p->a, d);
    return f->date ? 0 : ep_fail(p, "out of memory");
  }
  if (!strcmp(w[0], "function")) {
    if (nw < 3) return ep_fail(p, "function: expected NAME LABEL");
    if (!ep_is_name(w[1])) return ep_fail(p, "function %s: give a name of [a-z0-9_]", w[1]);
    for (size_t i = 0; i < f->nfunctions; i++)
      if (!strcmp(f->functions[i].name, w[1]))
        return ep_fail(p, "function %s declared twice (first on line %zu)", w[1],
                       f->functions[i].line);
    if (f->nfunctions == CS_EP_MAX_FUNCTIONS)
      return ep_fail(p, "more than %d functions", CS_EP_MAX_FUNCTIONS);
    cs_ep_function *fn = &f->functions[f->nfunctions];
    fn->name = cs_arena_strdup(p->a, w[1]);
    fn->label = ep_rest(p, w, nw, 2);
    fn->line = p->line;
    if (!fn->name || !fn->label) return ep_fail(p, "out of memory");
    f->nfunctions++;
    return 0;
  }
  if (!strcmp(w[0], "endpoint")) return ep_endpoint(p, w, nw);
  return ep_fail(p, "unknown directive %.64s (app, source, date, function, endpoint)", w[0]);
}

int cs_ep_parse(cs_arena *a, const char *name, const char *text, size_t len, cs_ep_file *out,
                char *err, size_t errlen) {
  ep_parser p = {.a = a, .name = name ? name : "(endpoints)", .err = err, .errlen = errlen};
  memset(out, 0, sizeof *out);
  p.f = out;
  out->name = p.name;
  if (!a || (!text && len)) return ep_fail(&p, "nothing to parse");
  if (len > CS_EP_FILE_MAX) return ep_fail(&p, "larger than %u bytes", CS_EP_FILE_MAX);
  size_t off = 0;
  while (off < len) {
    p.line++;
    const char *nl = memchr(text + off, '\n', len - off);
    size_t n = nl ? (size_t)(nl - (text + off)) : len - off;
    size_t next = off + n + (nl ? 1 : 0);
    if (n && text[off + n - 1] == '\r') n--;
    if (n > CS_EP_LINE_MAX) return ep_fail(&p, "line longer than %d bytes", CS_EP_LINE_MAX);
    if (!cs_utf8_valid((const uint8_t *)text + off, n)) return ep_fail(&p, "not valid UTF-8");
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)text[off + i];
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        return ep_fail(&p, "control character 0x%02x in column %zu", c, i + 1);
    }
    char *line = cs_arena_strndup(a, text + off, n); /* the words stay in the arena */
    if (!line) return ep_fail(&p, "out of memory");
    if (ep_line(&p, line) < 0) return -1;
    off = next;
  }
  p.line = 0;
  if (!p.has_app) return ep_fail(&p, "no app line");
  if (out->nfunctions == 0) return ep_fail(&p, "no function declared");
  for (size_t i = 0; i < out->nfunctions; i++) {
    size_t n = 0;
    for (size_t j = 0; j < out->neps; j++) n += out->eps[j].function == i;
    if (!n) {
      p.line = out->functions[i].line;
      return ep_fail(&p, "function %s has no endpoint", out->functions[i].name);
    }
  }
  return 0;
}

int cs_ep_load(cs_arena *a, const char *path, cs_ep_file *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  char *buf = malloc(CS_EP_FILE_MAX + 1);
  if (!buf) {
    fclose(fp);
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  size_t n = fread(buf, 1, CS_EP_FILE_MAX + 1, fp);
  bool rerr = ferror(fp) != 0;
  fclose(fp);
  int rc;
  if (rerr) {
    snprintf(err, errlen, "%s: read error", path);
    rc = -1;
  } else if (n > CS_EP_FILE_MAX) {
    snprintf(err, errlen, "%s: larger than %u bytes", path, CS_EP_FILE_MAX);
    rc = -1;
  } else {
    const char *name = cs_arena_strdup(a, path);
    rc = name ? cs_ep_parse(a, name, buf, n, out, err, errlen) : -1;
    if (!name) snprintf(err, errlen, "%s: out of memory", path);
  }
  free(buf);
  return rc;
}
