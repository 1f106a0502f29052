/* endpoints.h - the endpoint files of the app and platform tests (whatsapp, telegram, signal,
 * facebook_messenger, platforms): which endpoints of which function of an app to measure, as
 * data, not code (docs/apps.md describes the format and the default files in data/apps/).
 *
 * Line-based UTF-8, '#' starts a comment, whitespace-separated words, lines < 1 KiB, files
 * < 256 KiB:
 *   app NAME                            (exactly once)
 *   source TEXT...                      (where the list comes from; may repeat)
 *   date YYYY-MM-DD                     (when it was taken; at most once)
 *   function NAME TEXT...               (a function of the app: NAME [a-z0-9_]+, TEXT a label)
 *   endpoint FUNCTION KIND TARGET [key=value ...]
 * KIND: dns (TARGET a host name), tcp / tls / stun (host:port, ip:port or [v6]:port), http /
 * https (a URL of that scheme). Options: sni=NAME (tls, https), addr=IP (connect to IP instead
 * of resolving), expect=STATUS[,STATUS...] (http, https), method=GET|POST|HEAD (http, https),
 * ooni=KEY (which OONI test key the endpoint feeds; the app's nettest gives it meaning).
 *
 * The parser is all-or-nothing: any error gives "FILE:LINE: message" and no file, so a
 * measurement never runs half a list. Everything is bounded (the file is hostile input);
 * fuzzed by fuzz/fuzz_endpoints.c. */
#ifndef CS_ENDPOINTS_H
#define CS_ENDPOINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/ipnet.h"

#define CS_EP_FILE_MAX (256u << 10) /* bytes of a file */
#define CS_EP_LINE_MAX 1023         /* bytes of a line, without its line ending */
#define CS_EP_MAX_FUNCTIONS 32      /* functions per file */
#define CS_EP_MAX_ENDPOINTS 256     /* endpoints per file */
#define CS_EP_MAX_SOURCES 16        /* source lines per file */
#define CS_EP_MAX_EXPECT 8          /* statuses of one expect= */
#define CS_EP_NAME_MAX 32           /* bytes of an app, function or ooni name */

typedef enum {
  CS_EP_DNS,
  CS_EP_TCP,
  CS_EP_TLS,
  CS_EP_HTTP,
  CS_EP_HTTPS,
  CS_EP_STUN,
} cs_ep_kind;

typedef struct {
  const char *name;  /* [a-z0-9_]+ */
  const char *label; /* human text */
  size_t line;
} cs_ep_function;

typedef struct {
  size_t function; /* index into cs_ep_file.functions */
  cs_ep_kind kind;
  const char *target; /* as written */
  const char *host;   /* lower case host name or canonical IP literal (IPv6 without brackets) */
  bool host_is_ip;
  uint16_t port;     /* tcp, tls, stun, http(s) (the URL's, explicit or default); dns: 0 */
  const char *path;  /* http(s): request target ("/..."); else NULL */
  const char *sni;   /* tls, https: sni= (NULL: the host; never for an IP host) */
  bool has_addr;     /* addr= given */
  cs_ip addr;        /* connect here instead of resolving host */
  const char *addrs; /* addr= as written (canonical), NULL when absent */
  int expect[CS_EP_MAX_EXPECT];
  size_t nexpect;     /* 0: any status */
  const char *method; /* http(s): "GET" (default), "POST" or "HEAD" */
  const char *ooni;   /* ooni= or NULL */
  size_t line;
} cs_ep;

typedef struct {
  const char *name; /* for messages: the path, or what the caller named it */
  const char *app;
  const char *sources[CS_EP_MAX_SOURCES];
  size_t nsources;
  const char *date; /* NULL when absent */
  cs_ep_function functions[CS_EP_MAX_FUNCTIONS];
  size_t nfunctions;
  cs_ep *eps;
  size_t neps;
} cs_ep_file;

/* Parses text[0..len) (need not be NUL-terminated) named name into *out, every string in
 * arena a. Returns 0, or -1 with "NAME:LINE: message" (or "NAME: message" for the file as a
 * whole) in err; *out is then unusable (its strings may live in a). */
int cs_ep_parse(cs_arena *a, const char *name, const char *text, size_t len, cs_ep_file *out,
                char *err, size_t errlen);

/* Reads the file at path (at most CS_EP_FILE_MAX bytes) and parses it. Same contract. */
int cs_ep_load(cs_arena *a, const char *path, cs_ep_file *out, char *err, size_t errlen);

/* "dns", "tcp", "tls", "http", "https", "stun". */
const char *cs_ep_kind_str(cs_ep_kind k);

#endif
