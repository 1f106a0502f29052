/* server.c - the collector's HTTP front: libmicrohttpd with its thread pool (a well-kept HTTP/1.1
 * server in Debian; the collector speaks plain HTTP behind whatever TLS front an operator
 * runs), the route table of routes.c, one PGconn per worker thread (created lazily,
 * reconnected after a failure), the per-client token bucket for write routes, the jobs
 * thread, and start-up: schema, can replay, then listening. Refusals are logged with their
 * route and the client's /24 (/48), never a full address, at most LOG_PER_S lines a second. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "analysis/fingerprints.h"
#include "collector/collector.h"

#define LOG_PER_S 20
#define RL_SLOTS 16384
#define RL_PROBE 8
#define DEFAULT_CSP                                                                                \
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"                 \
  " object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

typedef struct {
  char key[48];
  double tokens, last;
} rl_ent;

struct cs_coll {
  cs_coll_cfg cfg;
  struct MHD_Daemon *d;
  cs_coll_can *can;
  cs_fp_db *fp;
  pthread_mutex_t rl_mu;
  rl_ent *rl;
  pthread_mutex_t log_mu;
  time_t log_sec;
  unsigned log_n, log_dropped;
  /* jobs thread */
  pthread_t jobs_th;
  bool jobs_started, stop;
  pthread_mutex_t jobs_mu;
  pthread_cond_t jobs_cv;
};

/* Per worker thread: its connections. */
typedef struct {
  PGconn *pg, *pg_read;
  double pg_retry, read_retry; /* monotonic time before which no reconnect is tried */
} tctx;

static pthread_key_t tkey;

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void tctx_free(void *p) {
  tctx *t = p;
  if (!t) return;
  if (t->pg_read && t->pg_read != t->pg) PQfinish(t->pg_read);
  PQfinish(t->pg);
  free(t);
}

cs_coll_can *cs_coll_get_can(cs_coll *c) { return c ? c->can : NULL; }
const struct cs_fp_db *cs_coll_get_fp(cs_coll *c) { return c ? c->fp : NULL; }

/* (Re)connects one slot when it is missing or broken, at most once a second. */
static PGconn *slot_conn(PGconn **slot, double *retry, const char *conninfo, bool primary,
                         PGconn *other) {
  if (*slot && PQstatus(*slot) == CONNECTION_OK) return *slot;
  if (*slot && *slot != other) PQfinish(*slot);
  *slot = NULL;
  double now = mono();
  if (now < *retry) return NULL;
  char err[256];
  *slot = cs_coll_pg_open(conninfo, primary, err, sizeof err);
  if (!*slot) {
    *retry = now + 1.0;
    fprintf(stderr, "collector: PostgreSQL: %s\n", err);
  }
  return *slot;
}

static void thread_ctx(cs_coll *c, cs_coll_ctx *ctx) {
  memset(ctx, 0, sizeof *ctx);
  ctx->cfg = &c->cfg;
  ctx->coll = c;
  tctx *t = pthread_getspecific(tkey);
  if (!t) {
    t = calloc(1, sizeof *t);
    if (!t || pthread_setspecific(tkey, t)) {
      free(t);
      return;
    }
  }
  if (!c->cfg.read_only) ctx->pg = slot_conn(&t->pg, &t->pg_retry, c->cfg.pg, true, NULL);
  if (c->cfg.pg_read) {
    ctx->pg_read = slot_conn(&t->pg_read, &t->read_retry, c->cfg.pg_read, false, NULL);
  } else if (c->cfg.read_only) {
    ctx->pg_read = slot_conn(&t->pg_read, &t->read_retry, c->cfg.pg, false, NULL);
  } else {
    t->pg_read = NULL;
    ctx->pg_read = ctx->pg;
  }
}

/* ---- requests ----------------------------------------------------------------------------- */

const char *cs_coll_param(const cs_coll_req *rq, const char *name) {
  return MHD_lookup_connection_value(rq->impl, MHD_GET_ARGUMENT_KIND, name);
}

const char *cs_coll_header(const cs_coll_req *rq, const char *name) {
  return MHD_lookup_connection_value(rq->impl, MHD_HEADER_KIND, name);
}

void cs_coll_error(cs_coll_resp *rs, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rs->reason, sizeof rs->reason, fmt, ap);
  va_end(ap);
  rs->status = status;
  rs->content_type = "application/json";
  cs_buf_reset(&rs->body);
  cs_jw w;
  cs_jw_init(&w, &rs->body);
  cs_jw_obj_open(&w);
  cs_jw_kstr(&w, "error", rs->reason);
  cs_jw_obj_close(&w);
}

static void log_refusal(cs_coll *c, int status, const char *method, const char *pattern,
                        const char *client, const char *reason) {
  time_t now = time(NULL);
  pthread_mutex_lock(&c->log_mu);
  if (now != c->log_sec) {
    if (c->log_dropped)
      fprintf(stderr, "collector: %u refusal line(s) not logged (more than %d/s)\n", c->log_dropped,
              LOG_PER_S);
    c->log_sec = now;
    c->log_n = c->log_dropped = 0;
  }
  if (c->log_n++ < LOG_PER_S)
    fprintf(stderr, "collector: %d %s %s from %s: %s\n", status, method, pattern, client,
            reason && *reason ? reason : "-");
  else c->log_dropped++;
  pthread_mutex_unlock(&c->log_mu);
}

/* The rate-limit key: the client's /24 (IPv4) or /48 (IPv6). */
static void client_key(struct MHD_Connection *conn, char *out, size_t outlen) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  snprintf(out, outlen, "unknown");
  if (!ci || !ci->client_addr) return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET) {
    struct in_addr a = ((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    uint32_t h = ntohl(a.s_addr) & 0xffffff00u;
    snprintf(out, outlen, "%u.%u.%u.0/24", h >> 24, (h >> 16) & 255, (h >> 8) & 255);
  } else if (sa->sa_family == AF_INET6) {
    struct in6_addr a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
      snprintf(out, outlen, "%u.%u.%u.0/24", a.s6_addr[12], a.s6_addr[13], a.s6_addr[14]);
      return;
    }
    memset(a.s6_addr + 6, 0, 10);
    char t[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a, t, sizeof t);
    snprintf(out, outlen, "%s/48", t);
  }
}

static uint32_t fnv(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

bool cs_coll_rate_take(cs_coll *c, const char *client, double *retry_s) {
  if (!(c->cfg.rate > 0) || !c->rl) return true;
  double now = mono(), burst = c->cfg.burst >= 1 ? c->cfg.burst : 1;
  uint32_t h = fnv(client);
  pthread_mutex_lock(&c->rl_mu);
  rl_ent *e = NULL, *victim = NULL;
  for (uint32_t i = 0; i < RL_PROBE; i++) {
    rl_ent *x = &c->rl[(h + i) % RL_SLOTS];
    if (!strcmp(x->key, client)) {
      e = x;
      break;
    }
    if (!victim || !x->key[0] || (victim->key[0] && x->last < victim->last)) victim = x;
  }
  if (!e) { /* a new client (or the oldest of its neighbours forgotten): a full bucket */
    e = victim;
    snprintf(e->key, sizeof e->key, "%s", client);
    e->tokens = burst;
    e->last = now;
  }
  e->tokens = fmin(burst, e->tokens + (now - e->last) * c->cfg.rate);
  e->last = now;
  bool ok = e->tokens >= 1;
  if (ok) e->tokens -= 1;
  else *retry_s = (1 - e->tokens) / c->cfg.rate;
  pthread_mutex_unlock(&c->rl_mu);
  return ok;
}

typedef struct {
  cs_buf body;
  size_t seen;
  bool too_big;
} reqst;

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)conn, (void)toe;
  reqst *st = *con_cls;
  if (!st) return;
  cs_buf_free(&st->body);
  free(st);
  *con_cls = NULL;
}

/* Segments of path and pattern agree ("{}" takes one non-empty segment). */
static bool route_match(const char *pattern, const char *path, cs_coll_req *rq, char *capbuf,
                        size_t caplen) {
  size_t used = 0;
  rq->ncap = 0;
  const char *p = pattern, *u = path;
  while (*p && *u) {
    if (p[0] == '{' && p[1] == '}') {
      size_t n = strcspn(u, "/");
      if (n == 0 || rq->ncap == 4 || used + n + 1 > caplen) return false;
      memcpy(capbuf + used, u, n);
      capbuf[used + n] = 0;
      rq->cap[rq->ncap++] = capbuf + used;
      used += n + 1;
      u += n;
      p += 2;
    } else if (*p == *u) {
      p++, u++;
    } else {
      return false;
    }
  }
  return !*p && !*u;
}

static enum MHD_Result respond(struct MHD_Connection *conn, cs_coll_resp *rs) {
  struct MHD_Response *r;
  if (rs->body.overflow) {
    cs_buf_free(&rs->body);
    cs_coll_error(rs, 500, "response too large");
  }
  if (rs->body.len) {
    r = MHD_create_response_from_buffer(rs->body.len, rs->body.data, MHD_RESPMEM_MUST_FREE);
    if (r) rs->body.data = NULL;
  } else {
    r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  }
  cs_buf_free(&rs->body);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type",
                          rs->content_type ? rs->content_type : "application/json");
  MHD_add_response_header(r, "Content-Security-Policy", DEFAULT_CSP);
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  if (rs->disposition[0]) MHD_add_response_header(r, "Content-Disposition", rs->disposition);
  if (rs->retry_after[0]) MHD_add_response_header(r, "Retry-After", rs->retry_after);
  if (rs->etag[0]) MHD_add_response_header(r, "ETag", rs->etag);
  if (rs->cache_control) MHD_add_response_header(r, "Cache-Control", rs->cache_control);
  enum MHD_Result ret = MHD_queue_response(conn, (unsigned)rs->status, r);
  MHD_destroy_response(r);
  return ret;
}

static int hexval(char ch) {
  return ch >= '0' && ch <= '9'   ? ch - '0'
         : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
         : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                  : -1;
}

/* libmicrohttpd's own decoding of %XX (in place, path and query arguments) turns %00 into a
 * NUL that silently cuts the string: "/ui/index.html%00.js" would serve index.html. Decoded
 * here the same way except that %00 stays as it is: on_request refuses it in a path, and an
 * argument keeps it literally (and fails its shape check). */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s) {
  (void)cls;
  (void)conn;
  char *w = s;
  for (const char *r = s; *r;) {
    int hi = r[0] == '%' ? hexval(r[1]) : -1, lo = hi >= 0 ? hexval(r[2]) : -1;
    if (lo >= 0 && (hi | lo) != 0) {
      *w++ = (char)(hi * 16 + lo);
      r += 3;
    } else {
      *w++ = *r++;
    }
  }
  *w = 0;
  return (size_t)(w - s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  (void)version;
  cs_coll *c = cls;
  reqst *st = *con_cls;
  cs_coll_resp rs;
  memset(&rs, 0, sizeof rs);
  rs.status = 200;
  cs_buf_init(&rs.body, 64u << 20);
  char client[64];
  if (!st) { /* headers only: refuse an announced oversize body before reading it */
    st = calloc(1, sizeof *st);
    if (!st) return MHD_NO;
    cs_buf_init(&st->body, c->cfg.max_body);
    *con_cls = st;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > c->cfg.max_body) {
      client_key(conn, client, sizeof client);
      cs_coll_error(&rs, 413, "body of %.20s bytes is larger than the %zu-byte limit", cl,
                    c->cfg.max_body);
      log_refusal(c, 413, method, url, client, rs.reason);
      return respond(conn, &rs);
    }
    return MHD_YES;
  }
  if (*upload_data_size) {
    st->seen += *upload_data_size;
    if (!st->too_big && cs_buf_append(&st->body, upload_data, *upload_data_size))
      st->too_big = true;
    *upload_data_size = 0;
    /* a chunked body past its limit: read (and drop) a little more, then hang up */
    if (st->too_big && st->seen > 4 * c->cfg.max_body + 65536) return MHD_NO;
    return MHD_YES;
  }
  client_key(conn, client, sizeof client);
  const cs_coll_route *rt = NULL;
  bool path_known = false;
  cs_coll_req rq;
  memset(&rq, 0, sizeof rq);
  char capbuf[1024];
  for (size_t i = 0; i < cs_coll_nroutes; i++) {
    if (!route_match(cs_coll_routes[i].pattern, url, &rq, capbuf, sizeof capbuf)) continue;
    path_known = true;
    if (!strcmp(cs_coll_routes[i].method, method) ||
        (!strcmp(method, "HEAD") && !strcmp(cs_coll_routes[i].method, "GET"))) {
      rt = &cs_coll_routes[i];
      break;
    }
  }
  const char *pattern = rt ? rt->pattern : url;
  char shown[80];
  if (!rt) { /* the path as logged: bounded, no query */
    snprintf(shown, sizeof shown, "%s", url);
    pattern = shown;
  }
  if (strstr(url, "%00")) {
    /* kept encoded by unescape(): a NUL would cut the path (and a UI file name) short */
    cs_coll_error(&rs, 400, "path: a NUL byte (%%00) is refused");
  } else if (!rt) {
    if (path_known) cs_coll_error(&rs, 405, "method %.10s not allowed here", method);
    else cs_coll_error(&rs, 404, "no such endpoint");
  } else if (st->too_big) {
    cs_coll_error(&rs, 413, "body is larger than the %zu-byte limit", c->cfg.max_body);
  } else if (rt->write && c->cfg.read_only) {
    cs_coll_error(&rs, 405, "this collector is read-only: submissions go to the primary");
  } else {
    double retry = 0;
    if (rt->write && !cs_coll_rate_take(c, client, &retry)) {
      cs_coll_error(&rs, 429, "rate limit: more than %.3g requests/s (burst %.0f) from %s",
                    c->cfg.rate, c->cfg.burst, client);
      snprintf(rs.retry_after, sizeof rs.retry_after, "%.0f", ceil(retry));
    } else {
      cs_buf_cstr(&st->body); /* NUL-terminated for handlers (max_body + 1 allowed) */
      rq.method = method;
      rq.path = url;
      rq.body = st->body.data ? st->body.data : (const uint8_t *)"";
      rq.body_len = st->body.len;
      rq.client = client;
      rq.impl = conn;
      cs_coll_ctx ctx;
      thread_ctx(c, &ctx);
      rt->fn(&ctx, &rq, &rs);
    }
  }
  if (rs.status >= 400) log_refusal(c, rs.status, method, pattern, client, rs.reason);
  return respond(conn, &rs);
}

/* ---- jobs --------------------------------------------------------------------------------- */

static void *jobs_main(void *arg) {
  cs_coll *c = arg;
  PGconn *pg = NULL;
  double retry = 0;
  double *next = calloc(cs_coll_njobs ? cs_coll_njobs : 1, sizeof *next);
  pthread_mutex_lock(&c->jobs_mu);
  while (!c->stop && next) {
    pthread_mutex_unlock(&c->jobs_mu);
    double now = mono(), wake = now + 1.0;
    PGconn *conn = slot_conn(&pg, &retry, c->cfg.pg, true, NULL);
    for (size_t i = 0; conn && i < cs_coll_njobs; i++) {
      if (now >= next[i]) {
        cs_coll_ctx ctx = {.pg = conn, .pg_read = conn, .cfg = &c->cfg, .coll = c};
        cs_coll_jobs[i].fn(&ctx);
        now = mono();
        next[i] = now + cs_coll_jobs[i].interval_s;
      }
      if (next[i] < wake) wake = next[i];
    }
    pthread_mutex_lock(&c->jobs_mu);
    if (c->stop) break;
    double d = wake - mono();
    if (d > 0) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + d;
      ts.tv_sec = (time_t)t;
      ts.tv_nsec = (long)((t - floor(t)) * 1e9);
      pthread_cond_timedwait(&c->jobs_cv, &c->jobs_mu, &ts);
    }
  }
  pthread_mutex_unlock(&c->jobs_mu);
  PQfinish(pg);
  free(next);
  return NULL;
}

/* ---- start and stop ----------------------------------------------------------------------- */

static int listen_socket(const char *spec, char *err, size_t errlen, unsigned *port_out) {
  char host[256];
  const char *colon = strrchr(spec, ':');
  if (!colon || colon == spec || !colon[1]) {
    snprintf(err, errlen, "--listen %s: ADDR:PORT expected", spec);
    return -1;
  }
  size_t hl = (size_t)(colon - spec);
  if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
    spec++;
    hl -= 2;
  }
  if (hl >= sizeof host) {
    snprintf(err, errlen, "--listen: address too long");
    return -1;
  }
  memcpy(host, spec, hl);
  host[hl] = 0;
  struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                           .ai_socktype = SOCK_STREAM};
  struct addrinfo *ai = NULL;
  int g = getaddrinfo(host, colon + 1, &hints, &ai);
  if (g) {
    snprintf(err, errlen, "--listen %s: %s", host, gai_strerror(g));
    return -1;
  }
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1024)) {
    snprintf(err, errlen, "--listen %s:%s: %s", host, colon + 1, strerror(errno));
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl = sizeof ss;
  *port_out = 0;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET) *port_out = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6) *port_out = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  return fd;
}

static void coll_free(cs_coll *c) {
  if (c->d) MHD_stop_daemon(c->d);
  if (c->jobs_started) {
    pthread_mutex_lock(&c->jobs_mu);
    c->stop = true;
    pthread_cond_signal(&c->jobs_cv);
    pthread_mutex_unlock(&c->jobs_mu);
    pthread_join(c->jobs_th, NULL);
  }
  if (!c->cfg.read_only && c->can && c->cfg.pg) {
    /* the final checkpoint, with every request answered */
    char err[256];
    PGconn *pg = cs_coll_pg_open(c->cfg.pg, true, err, sizeof err);
    if (pg) {
      for (size_t i = 0; i < cs_coll_njobs; i++)
        if (!strcmp(cs_coll_jobs[i].name, "can-checkpoint")) {
          cs_coll_ctx ctx = {.pg = pg, .pg_read = pg, .cfg = &c->cfg, .coll = c};
          cs_coll_jobs[i].fn(&ctx);
        }
      PQfinish(pg);
    }
  }
  cs_coll_can_close(c->can);
  cs_fp_db_free(c->fp);
  free(c->rl);
  pthread_mutex_destroy(&c->rl_mu);
  pthread_mutex_destroy(&c->log_mu);
  pthread_mutex_destroy(&c->jobs_mu);
  pthread_cond_destroy(&c->jobs_cv);
  free(c);
}

int cs_coll_run(const cs_coll_cfg *cfg) {
  cs_coll *c = calloc(1, sizeof *c);
  if (!c) {
    fprintf(stderr, "collector: out of memory\n");
    return 1;
  }
  c->cfg = *cfg;
  pthread_mutex_init(&c->rl_mu, NULL);
  pthread_mutex_init(&c->log_mu, NULL);
  pthread_mutex_init(&c->jobs_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->jobs_cv, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_key_create(&tkey, tctx_free) != 0) {
    fprintf(stderr, "collector: pthread_key_create failed\n");
    free(c);
    return 1;
  }
  int rc = 1;
  char err[512];
  if (c->cfg.rate > 0 && !(c->rl = calloc(RL_SLOTS, sizeof *c->rl))) {
    fprintf(stderr, "collector: out of memory\n");
    goto out;
  }
  char fperr[256];
  c->fp = cs_fp_db_load(c->cfg.fingerprints, fperr, sizeof fperr);
  if (!c->fp && c->cfg.fingerprints) {
    fprintf(stderr, "collector: %s\n", fperr);
    goto out;
  }
  if (!c->fp && !c->cfg.quiet)
    fprintf(stderr, "collector: no blockpage fingerprints (%s): confirmed stays false\n", fperr);
  if (!c->cfg.read_only) {
    PGconn *pg = cs_coll_pg_open(c->cfg.pg, true, err, sizeof err);
    if (!pg) {
      fprintf(stderr, "collector: PostgreSQL %s: %s\n", c->cfg.pg, err);
      goto out;
    }
    if (cs_coll_schema_apply(pg, err, sizeof err)) {
      fprintf(stderr, "collector: schema: %s\n", err);
      PQfinish(pg);
      goto out;
    }
    c->can = cs_coll_can_open(c->cfg.data_dir, err, sizeof err);
    if (!c->can) {
      fprintf(stderr, "collector: can: %s\n", err);
      PQfinish(pg);
      goto out;
    }
    if (cs_coll_replay_all(pg, &c->cfg, c->fp)) {
      fprintf(stderr, "collector: the replay of the cans into PostgreSQL failed\n");
      PQfinish(pg);
      goto out;
    }
    PQfinish(pg);
  }
  unsigned port = 0;
  int lfd = listen_socket(c->cfg.listen, err, sizeof err, &port);
  if (lfd < 0) {
    fprintf(stderr, "collector: %s\n", err);
    goto out;
  }
  c->d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, c,
      MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_THREAD_POOL_SIZE,
      (unsigned)(c->cfg.threads ? c->cfg.threads : 8), MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)(c->cfg.max_conns ? c->cfg.max_conns : 1024), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned)c->cfg.conns_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)(c->cfg.conn_timeout_s ? c->cfg.conn_timeout_s : 30), MHD_OPTION_NOTIFY_COMPLETED,
      on_completed, c, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
  if (!c->d) {
    close(lfd);
    fprintf(stderr, "collector: cannot start the HTTP server\n");
    goto out;
  }
  if (!c->cfg.read_only && cs_coll_njobs) {
    if (pthread_create(&c->jobs_th, NULL, jobs_main, c) != 0) {
      fprintf(stderr, "collector: cannot start the jobs thread\n");
      goto out;
    }
    c->jobs_started = true;
  }
  if (!c->cfg.quiet)
    fprintf(stderr, "collector: listening on %s (port %u)%s, %u threads\n", c->cfg.listen, port,
            c->cfg.read_only ? ", read-only" : "", c->cfg.threads ? c->cfg.threads : 8);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  if (!c->cfg.quiet) fprintf(stderr, "collector: stopping (signal %d)\n", sig);
  rc = 0;
out:
  coll_free(c);
  pthread_key_delete(tkey);
  return rc;
}
