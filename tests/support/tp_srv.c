/* tp_srv.c - a throughput server on loopback with behaviours on cue (see tp_srv.h). */
#include "tp_srv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define TP_LOG_MAX 512

struct tp_srv {
  tp_cfg cfg;
  char slow_name[300], reset_name[300];
  int lfd[2];
  uint16_t port;
  int stopfd[2];
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int nthreads;
  char (*log)[300];
  size_t nlog;
};

typedef struct {
  int fd;
  SSL *ssl;
} tp_io;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool stop_requested(tp_srv *s) {
  struct pollfd p = {s->stopfd[0], POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

/* 1: readable; 0: stop requested or timeout. */
static int wait_readable(tp_srv *s, int fd, int ms) {
  struct pollfd p[2] = {{fd, POLLIN, 0}, {s->stopfd[0], POLLIN, 0}};
  int r = poll(p, 2, ms);
  if (r <= 0 || (p[1].revents & POLLIN)) return 0;
  return 1;
}

static ssize_t io_read(tp_srv *s, tp_io *io, void *b, size_t n) {
  if (!io->ssl || SSL_pending(io->ssl) == 0)
    if (wait_readable(s, io->fd, 5000) != 1) return -1;
  if (io->ssl) {
    size_t got = 0;
    int r = SSL_read_ex(io->ssl, b, n, &got);
    return r == 1 ? (ssize_t)got : 0;
  }
  return recv(io->fd, b, n, 0);
}

static bool io_write_all(tp_io *io, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w;
    if (io->ssl) {
      size_t put = 0;
      w = SSL_write_ex(io->ssl, p, n, &put) == 1 ? (ssize_t)put : -1;
    } else {
      w = send(io->fd, p, n, MSG_NOSIGNAL);
    }
    if (w <= 0) return false;
    p += w, n -= (size_t)w;
  }
  return true;
}

/* Sleeps so that `done` bytes since t0 do not exceed bps. */
static void pace(double t0, uint64_t done, double bps) {
  if (bps <= 0) return;
  double due = t0 + (double)done * 8 / bps, now = now_s();
  if (due > now) {
    struct timespec ts = {(time_t)(due - now),
                          (long)((due - now - (double)(time_t)(due - now)) * 1e9)};
    nanosleep(&ts, NULL);
  }
}

static void log_req(tp_srv *s, const char *what, const char *name, bool second) {
  pthread_mutex_lock(&s->mu);
  if (s->nlog < TP_LOG_MAX) {
    size_t n = strlen(name);
    if (n > 280) n = 280;
    snprintf(s->log[s->nlog++], 300, "%s%s %.*s", second ? "2 " : "", what, (int)n, name);
  }
  pthread_mutex_unlock(&s->mu);
}

static void reply(tp_io *io, int code, const char *extra, const char *body) {
  char h[512];
  int k =
      snprintf(h, sizeof h, "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
               code, extra ? extra : "", strlen(body));
  if (k > 0 && io_write_all(io, (const uint8_t *)h, (size_t)k))
    io_write_all(io, (const uint8_t *)body, strlen(body));
}

static void stall(tp_srv *s, tp_io *io) {
  uint8_t b[4096];
  while (!stop_requested(s)) {
    struct pollfd p[2] = {{io->fd, POLLIN, 0}, {s->stopfd[0], POLLIN, 0}};
    if (poll(p, 2, 200) < 0 || p[1].revents) return;
    if ((p[0].revents & POLLIN) && io_read(s, io, b, sizeof b) <= 0) return;
  }
}

static void handle(tp_srv *s, int fd, bool second) {
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  tp_io io = {fd, NULL};
  uint8_t first;
  if (wait_readable(s, fd, 5000) != 1 || recv(fd, &first, 1, MSG_PEEK) != 1) {
    close(fd);
    return;
  }
  char name[300] = "";
  if (first == 0x16 && s->cfg.tls) {
    io.ssl = SSL_new(s->cfg.tls);
    SSL_set_fd(io.ssl, fd);
    if (SSL_accept(io.ssl) != 1) {
      ERR_clear_error();
      SSL_free(io.ssl);
      close(fd);
      return;
    }
    const char *sni = SSL_get_servername(io.ssl, TLSEXT_NAMETYPE_host_name);
    if (sni) snprintf(name, sizeof name, "%s", sni);
    if (sni && s->cfg.reset_name && !strcmp(sni, s->reset_name)) { /* a censor's RST */
      log_req(s, "reset", name, second);
      struct linger lg = {1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      SSL_free(io.ssl);
      close(fd);
      return;
    }
  }
  /* the request head */
  char h[8192];
  size_t got = 0;
  while (got < sizeof h - 1) {
    ssize_t r = io_read(s, &io, h + got, sizeof h - 1 - got);
    if (r <= 0) break;
    got += (size_t)r;
    h[got] = 0;
    if (strstr(h, "\r\n\r\n")) break;
  }
  h[got] = 0;
  char *end = strstr(h, "\r\n\r\n");
  if (!end) goto out;
  size_t head_len = (size_t)(end + 4 - h);
  if (!name[0]) { /* Host */
    const char *p = strcasestr(h, "\r\nHost: ");
    if (p) {
      p += 8;
      size_t n = strcspn(p, "\r\n");
      if (n >= sizeof name) n = sizeof name - 1;
      memcpy(name, p, n);
      name[n] = 0;
    }
  }
  bool slow = s->cfg.slow_name && !strcmp(name, s->slow_name);
  double bps = slow ? s->cfg.slow_bps : s->cfg.base_bps;
  if (!second && s->cfg.second_bps > 0) bps = s->cfg.second_bps;
  if (!strncmp(h, "GET /throughput/info ", 21)) {
    log_req(s, "info", name, second);
    if (s->cfg.no_info) {
      reply(&io, 404, NULL, "no\n");
      goto out;
    }
    char body[256];
    if (s->cfg.second)
      snprintf(body, sizeof body,
               "{\"version\":1,\"max_bytes\":8388608,\"addresses\":[\"127.0.0.1:%u\","
               "\"127.0.0.2:%u\"]}",
               s->port, s->port);
    else
      snprintf(body, sizeof body,
               "{\"version\":1,\"max_bytes\":8388608,\"addresses\":[\"127.0.0.1:%u\"]}", s->port);
    reply(&io, 200, "Content-Type: application/json\r\n", body);
    goto out;
  }
  if (s->cfg.mode == TP_REFUSE) {
    log_req(s, "refused", name, second);
    reply(&io, 429, "X-Censorscope-Refused: rate-limit\r\n", "refused: rate-limit\n");
    goto out;
  }
  uint8_t junk[16384];
  uint64_t rng = UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)(unsigned)fd;
  if (!strncmp(h, "GET /throughput?bytes=", 22)) {
    log_req(s, "down", name, second);
    unsigned long long n = strtoull(h + 22, NULL, 10);
    unsigned long long cl = s->cfg.mode == TP_SMALL_CL ? n / 4 : n;
    unsigned long long send_n = s->cfg.mode == TP_SHORT_BODY || s->cfg.mode == TP_RESET_MID ? cl / 2
                                : s->cfg.mode == TP_LONG_BODY ? cl + 5000
                                                              : cl;
    if (slow && s->cfg.stall_after && s->cfg.stall_after < send_n) send_n = s->cfg.stall_after;
    char hd[256];
    int k = snprintf(hd, sizeof hd,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: %llu\r\nCache-Control: no-store\r\n\r\n",
                     cl);
    if (!io_write_all(&io, (const uint8_t *)hd, (size_t)k)) goto out;
    double t0 = now_s();
    unsigned long long done = 0;
    size_t chunk = bps > 0 && bps < 2e6 ? 1000 : sizeof junk;
    while (done < send_n && !stop_requested(s)) {
      size_t c = send_n - done < chunk ? (size_t)(send_n - done) : chunk;
      for (size_t i = 0; i < c; i++) { /* xorshift: incompressible enough, not security */
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        junk[i] = (uint8_t)rng;
      }
      if (!io_write_all(&io, junk, c)) goto out;
      done += c;
      pace(t0, done, bps);
    }
    if (s->cfg.mode == TP_RESET_MID) {
      struct linger lg = {1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      if (io.ssl) SSL_free(io.ssl);
      close(fd);
      return;
    }
    if (slow && s->cfg.stall_after) {
      stall(s, &io);
      goto out;
    }
    goto out;
  }
  if (!strncmp(h, "POST /throughput ", 17)) {
    log_req(s, "up", name, second);
    const char *p = strcasestr(h, "\r\nContent-Length: ");
    unsigned long long n = p ? strtoull(p + 18, NULL, 10) : 0, seen = got - head_len;
    double t0 = now_s();
    while (seen < n) {
      ssize_t r = io_read(s, &io, junk, n - seen < 4096 ? (size_t)(n - seen) : 4096);
      if (r <= 0) goto out;
      seen += (unsigned long long)r;
      pace(t0, seen, bps);
    }
    char body[128];
    snprintf(body, sizeof body, "{\"received\":%llu,\"elapsed_ms\":%.0f}",
             s->cfg.mode == TP_LIE_RECEIVED ? seen * 2 : seen, (now_s() - t0) * 1000);
    reply(&io, 200, "Content-Type: application/json\r\n", body);
    goto out;
  }
  reply(&io, 400, "X-Censorscope-Refused: bad-request\r\n", "bad request\n");
out:
  if (io.ssl) {
    SSL_shutdown(io.ssl);
    ERR_clear_error();
  }
  shutdown(fd, SHUT_WR);
  {
    uint8_t b[4096];
    struct pollfd p = {fd, POLLIN, 0};
    while (poll(&p, 1, 200) > 0 && recv(fd, b, sizeof b, 0) > 0) {
    }
  }
  if (io.ssl) SSL_free(io.ssl);
  close(fd);
}

typedef struct {
  tp_srv *s;
  int fd;
  bool second;
} tp_conn;

static void *conn_main(void *arg) {
  tp_conn *c = arg;
  handle(c->s, c->fd, c->second);
  pthread_mutex_lock(&c->s->mu);
  c->s->nthreads--;
  pthread_cond_signal(&c->s->cv);
  pthread_mutex_unlock(&c->s->mu);
  free(c);
  OPENSSL_thread_stop();
  return NULL;
}

/* One thread per connection, as the helper serves them concurrently: a connection the probe
 * cut short never delays the next one. */
static void spawn(tp_srv *s, int fd, bool second) {
  tp_conn *c = malloc(sizeof *c);
  if (!c) abort();
  *c = (tp_conn){s, fd, second};
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  pthread_t th;
  pthread_mutex_lock(&s->mu);
  s->nthreads++;
  pthread_mutex_unlock(&s->mu);
  if (pthread_create(&th, &at, conn_main, c) != 0) abort();
  pthread_attr_destroy(&at);
}

static void *srv_main(void *arg) {
  tp_srv *s = arg;
  for (;;) {
    struct pollfd p[3] = {
        {s->stopfd[0], POLLIN, 0}, {s->lfd[0], POLLIN, 0}, {s->lfd[1], POLLIN, 0}};
    int np = s->lfd[1] >= 0 ? 3 : 2;
    if (poll(p, (nfds_t)np, -1) < 0 || p[0].revents) break;
    for (int i = 1; i < np; i++) {
      if (!(p[i].revents & POLLIN)) continue;
      int fd = accept(s->lfd[i - 1], NULL, NULL);
      if (fd >= 0) spawn(s, fd, i == 2);
    }
  }
  OPENSSL_thread_stop();
  return NULL;
}

static int listen_on(const char *ip, uint16_t *port, bool small_rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1, rb = 16384;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* the sender of a paced upload feels the pace at once, not after filling a large buffer */
  if (small_rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(*port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  socklen_t al = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

tp_srv *tp_start(const tp_cfg *cfg) {
  signal(SIGPIPE, SIG_IGN);
  tp_srv *s = calloc(1, sizeof *s);
  if (!s) abort();
  s->cfg = *cfg;
  if (cfg->slow_name) {
    snprintf(s->slow_name, sizeof s->slow_name, "%s", cfg->slow_name);
    s->cfg.slow_name = s->slow_name;
  }
  if (cfg->reset_name) {
    snprintf(s->reset_name, sizeof s->reset_name, "%s", cfg->reset_name);
    s->cfg.reset_name = s->reset_name;
  }
  s->log = calloc(TP_LOG_MAX, sizeof *s->log);
  if (!s->log) abort();
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  s->lfd[1] = -1;
  for (int tries = 0; tries < 20; tries++) { /* the same port on both addresses */
    s->port = 0;
    s->lfd[0] = listen_on("127.0.0.1", &s->port, cfg->small_rcvbuf);
    if (s->lfd[0] < 0) abort();
    if (!cfg->second) break;
    uint16_t p2 = s->port;
    s->lfd[1] = listen_on("127.0.0.2", &p2, cfg->small_rcvbuf);
    if (s->lfd[1] >= 0) break;
    close(s->lfd[0]);
  }
  if ((cfg->second && s->lfd[1] < 0) || pipe(s->stopfd) < 0 ||
      pthread_create(&s->th, NULL, srv_main, s) != 0)
    abort(); /* test infrastructure failure */
  return s;
}

uint16_t tp_port(const tp_srv *s) { return s->port; }

size_t tp_log(tp_srv *s, char (*out)[300], size_t max) {
  pthread_mutex_lock(&s->mu);
  size_t n = s->nlog < max ? s->nlog : max;
  memcpy(out, s->log, n * sizeof *out);
  pthread_mutex_unlock(&s->mu);
  return n;
}

void tp_stop(tp_srv *s) {
  if (!s) return;
  char c = 'x';
  if (write(s->stopfd[1], &c, 1) != 1) abort();
  pthread_join(s->th, NULL);
  pthread_mutex_lock(&s->mu); /* the connection threads see the stop request and end */
  while (s->nthreads > 0) pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  close(s->stopfd[0]);
  close(s->stopfd[1]);
  close(s->lfd[0]);
  if (s->lfd[1] >= 0) close(s->lfd[1]);
  if (s->cfg.tls) SSL_CTX_free(s->cfg.tls);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s->log);
  free(s);
}
