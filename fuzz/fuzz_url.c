/* fuzz_url.c - libFuzzer target: the URL parser and the redirect resolver (util/url.c) read
 * hostile input (test lists, Location headers). Besides "no crash", it checks the properties
 * the engine relies on:
 *   - a parsed URL is well formed: http(s), a port (the default one when not explicit), an
 *     ASCII host without separators, a path that starts with "/" and has no control bytes;
 *   - cs_url_format is canonical: its output parses back to the same fields and formats to the
 *     same string; cs_url_hostport is the authority of that string minus a default port;
 *   - cs_url_resolve returns NULL or such a canonical absolute URL; an absolute reference
 *     resolves to its own canonical form whatever the base; "#frag" gives the base; a
 *     reference starting with one "/" keeps the base's scheme and authority.
 * Input: "BASE\nREF" (both are also parsed alone), or one line used as both a URL and a
 * reference against a fixed base. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/url.h"

#define DEFAULT_BASE "http://www.example.com/a/b/c?x=1"

static void check(int ok) {
  if (!ok) __builtin_trap();
}

static int same_url(const cs_url *a, const cs_url *b) {
  return !strcmp(a->scheme, b->scheme) && !strcmp(a->host, b->host) && a->port == b->port &&
         a->explicit_port == b->explicit_port && a->host_is_ip == b->host_is_ip &&
         !strcmp(a->path, b->path);
}

/* The properties of a successfully parsed URL; returns its canonical string. */
static const char *check_parsed(cs_arena *a, const cs_url *u) {
  int https = !strcmp(u->scheme, "https");
  check(https || !strcmp(u->scheme, "http"));
  check(u->port != 0);
  if (!u->explicit_port) check(u->port == (https ? 443 : 80));
  check(u->host && u->host[0]);
  for (const char *p = u->host; *p; p++) {
    unsigned char c = (unsigned char)*p;
    check(c > 0x20 && c < 0x7f);
    check(!strchr("/\\?#@%", c));
    check(!(c >= 'A' && c <= 'Z'));
  }
  check(u->path && u->path[0] == '/');
  for (const char *p = u->path; *p; p++) {
    unsigned char c = (unsigned char)*p;
    check(c > 0x20 && c != 0x7f && c != '#');
  }
  char *s = cs_url_format(a, u);
  char *hp = cs_url_hostport(a, u);
  if (!s || !hp) return NULL; /* out of memory in the arena */
  /* round trip */
  cs_url v;
  char err[128];
  check(cs_url_parse(a, s, &v, err, sizeof err) == 0);
  check(same_url(u, &v));
  char *s2 = cs_url_format(a, &v);
  check(!s2 || !strcmp(s, s2));
  /* hostport is the authority of the formatted URL, without a default port */
  const char *auth = s + strlen(u->scheme) + 3;
  size_t alen = strlen(auth) - strlen(u->path);
  int dflt = u->port == (https ? 443 : 80);
  if (!u->explicit_port || !dflt) {
    check(strlen(hp) == alen && !strncmp(auth, hp, alen));
  } else {
    check(strlen(hp) < alen && !strncmp(auth, hp, strlen(hp)) && auth[strlen(hp)] == ':');
  }
  return s;
}

static void check_resolve(cs_arena *a, const char *base, const char *ref) {
  char err[128];
  cs_url b;
  int base_ok = cs_url_parse(a, base, &b, err, sizeof err) == 0;
  char *r = cs_url_resolve(a, base, ref);
  if (!base_ok) {
    check(r == NULL);
    return;
  }
  const char *bs = check_parsed(a, &b);
  if (!bs) return;
  if (r) {
    cs_url u;
    check(cs_url_parse(a, r, &u, err, sizeof err) == 0);
    const char *rs = check_parsed(a, &u);
    check(!rs || !strcmp(rs, r));
    /* the result is absolute: resolving it again against any base gives itself */
    char *again = cs_url_resolve(a, DEFAULT_BASE, r);
    check(again && !strcmp(again, r));
  }
  /* leading and trailing white space is ignored, as the parser does */
  const char *t = ref;
  while (*t == ' ' || (*t >= '\t' && *t <= '\r')) t++;
  if (t[0] == '#') {
    check(r && !strcmp(r, bs));
  } else if (t[0] == '/' && t[1] != '/' && r) {
    /* same scheme and authority as the base */
    size_t blen = strlen(bs) - strlen(b.path);
    check(!strncmp(r, bs, blen) && r[blen] == '/');
  }
  /* an absolute reference resolves to its own canonical form */
  cs_url abs;
  if (r && cs_url_parse(a, ref, &abs, err, sizeof err) == 0) {
    const char *as = cs_url_format(a, &abs);
    check(!as || !strcmp(as, r));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 16384) return 0;
  char *in = malloc(size + 1);
  if (!in) return 0;
  memcpy(in, data, size);
  in[size] = 0;
  cs_arena *a = cs_arena_new(16u << 20);
  if (!a) {
    free(in);
    return 0;
  }
  char *nl = strchr(in, '\n');
  const char *base = DEFAULT_BASE, *ref = in;
  if (nl) {
    *nl = 0;
    base = in;
    ref = nl + 1;
  }
  char err[128];
  const char *urls[2] = {base, ref};
  for (int i = 0; i < 2; i++) {
    cs_url u;
    if (cs_url_parse(a, urls[i], &u, err, sizeof err) == 0) check_parsed(a, &u);
    else check(err[0] != 0);
  }
  check_resolve(a, base, ref);
  cs_arena_free(a);
  free(in);
  return 0;
}
