/* post.h - one HTTP POST to a collector on the project's engine (system resolver, dialer with
 * TLS and the run's trust store, HTTP/1.1 with a bounded response): what the uploader and the
 * work client send. The engine's records go to a private trace that is thrown away: talking
 * to the collector is not part of any measurement. */
#ifndef CS_UPLOAD_POST_H
#define CS_UPLOAD_POST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/http.h"
#include "engine/loop.h"
#include "engine/tls.h"
#include "util/buf.h"

#define CS_POST_MAX_URL 512
#define CS_POST_RESPONSE_CAP 65536 /* default bytes of an answer read at most */

/* A collector's base URL, parsed once: http(s)://HOST[:PORT][/PREFIX]. */
typedef struct {
  const char *url; /* as given (not copied) */
  bool https, host_is_ip;
  char host[256];
  uint16_t port;
  char hostport[300]; /* Host header */
  char prefix[256];   /* path prefix without the trailing '/' ("" for the root) */
} cs_post_target;

/* Returns 0, or -1 with a message in err. */
int cs_post_target_parse(cs_post_target *t, const char *url, char *err, size_t errlen);

/* status: the HTTP status (0 when no complete response came: failure is then the OONI
 * failure string); body: the response body (NUL-terminated, valid during the call). */
typedef void (*cs_post_cb)(void *arg, int status, const char *body, size_t len,
                           const char *failure);

typedef struct {
  cs_tls_ctx *tls;        /* for https */
  double connect_timeout; /* s; <= 0: 5 */
  double timeout;         /* whole round trip, s; <= 0: 30 */
  const char *probe_set;  /* X-Censorscope-Probe-Set (NULL: none) */
  const char *bearer;     /* Authorization: Bearer (NULL: none) */
  size_t max_response;    /* answer body bytes read at most (more: a failure); 0:
                             CS_POST_RESPONSE_CAP */
} cs_post_opts;

typedef struct cs_post cs_post;
/* POSTs body (copied) as application/json to t's prefix + path. cb runs once from a later
 * loop iteration unless cs_post_cancel() is called first; the request frees itself after cb.
 * t and o's strings must outlive the request. NULL when out of memory (cb never called). */
cs_post *cs_post_start(cs_loop *l, const cs_post_target *t, const cs_post_opts *o, const char *path,
                       const char *body, size_t len, cs_post_cb cb, void *arg);
void cs_post_cancel(cs_post *p); /* NULL ok; not from inside its cb */

/* The same on a private loop, waiting for the answer: *status, the body appended to out (at
 * most o->max_response), failure ("" when none). Returns 0, or -1 when out of memory. */
int cs_post_sync(const cs_post_target *t, const cs_post_opts *o, const char *path, const char *body,
                 size_t len, int *status, cs_buf *out, char *failure, size_t failcap);

#endif
