/* url.h - URLs as measured: http/https only, host lower-cased and IDNA-converted (punycode),
 * explicit or default port, path+query; RFC 3986 reference resolution for redirects. */
#ifndef CS_URL_H
#define CS_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"

typedef struct {
  const char *scheme; /* "http" or "https" */
  const char *host;   /* ASCII (punycode), lower case, IPv6 without brackets */
  uint16_t port;      /* explicit or default (80/443) */
  bool explicit_port;
  bool host_is_ip;
  const char *path; /* path + "?" + query, always starting with "/"; fragment dropped */
} cs_url;

/* Parses an absolute http(s) URL. Returns 0, or -1 with a message in err. */
int cs_url_parse(cs_arena *a, const char *s, cs_url *out, char *err, size_t errlen);
/* Resolves ref (a Location header value) against base (RFC 3986 section 5.2) and returns the
 * absolute URL string, or NULL when ref is not a usable http(s) reference. */
char *cs_url_resolve(cs_arena *a, const char *base, const char *ref);
/* scheme://host[:port]path ; IPv6 hosts bracketed; the port only when explicit. */
char *cs_url_format(cs_arena *a, const cs_url *u);
/* Value for the Host header: host, or host:port when the port is explicit and not default. */
char *cs_url_hostport(cs_arena *a, const cs_url *u);

#endif
