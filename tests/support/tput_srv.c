/* tput_srv.c - see tput_srv.h. Loopback only. */
#include "tput_srv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/loop.h"
#include "util/buf.h"

struct tput_srv {
  cs_tput_opts o;
  cs_loop *l;
  cs_tput *t;
  uint16_t port[2];
  int pipe[2];
  cs_io io;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool cmd_done;
  cs_tput_stats st;
  cs_buf log;
};

static void collect(void *arg, const char *line) {
  tput_srv *s = arg;
  pthread_mutex_lock(&s->mu);
  cs_buf_puts(&s->log, line);
  cs_buf_putc(&s->log, '\n');
  pthread_mutex_unlock(&s->mu);
}

static void on_cmd(cs_io *w, unsigned events) {
  (void)events;
  tput_srv *s = w->data;
  char ch;
  if (read(s->pipe[0], &ch, 1) != 1) return;
  pthread_mutex_lock(&s->mu);
  if (ch == 's') {
    s->st = cs_tput_get_stats(s->t);
  } else {
    cs_tput_free(s->t);
    s->t = NULL;
    cs_io_stop(s->l, &s->io);
  }
  s->cmd_done = true;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void *srv_main(void *arg) {
  tput_srv *s = arg;
  cs_loop_run(s->l);
  return NULL;
}

tput_srv *tput_srv_start(const cs_tput_opts *o, bool two) {
  tput_srv *s = calloc(1, sizeof *s);
  if (!s) abort();
  s->o = *o;
  s->o.log = collect;
  s->o.log_arg = s;
  cs_buf_init(&s->log, 1u << 20);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  char err[160];
  s->l = cs_loop_new();
  s->t = s->l ? cs_tput_new(s->l, &s->o, err, sizeof err) : NULL;
  int p0 = s->t ? cs_tput_listen(s->t, "127.0.0.1:0", err, sizeof err) : -1;
  int p1 = two && p0 > 0 ? cs_tput_listen(s->t, "127.0.0.2:0", err, sizeof err) : 0;
  if (p0 <= 0 || p1 < 0 || pipe(s->pipe) < 0 ||
      cs_io_start(s->l, &s->io, s->pipe[0], CS_EV_READ, on_cmd, s) < 0 ||
      pthread_create(&s->th, NULL, srv_main, s) != 0) {
    fprintf(stderr, "tput_srv_start failed: %s\n", err);
    abort();
  }
  s->port[0] = (uint16_t)p0;
  s->port[1] = (uint16_t)p1;
  return s;
}

uint16_t tput_srv_port(const tput_srv *s, int i) { return s->port[i ? 1 : 0]; }

static void command(tput_srv *s, char ch) {
  pthread_mutex_lock(&s->mu);
  s->cmd_done = false;
  if (write(s->pipe[1], &ch, 1) != 1) abort();
  while (!s->cmd_done) pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
}

cs_tput_stats tput_srv_stats(tput_srv *s) {
  command(s, 's');
  return s->st;
}

char *tput_srv_log(tput_srv *s) {
  pthread_mutex_lock(&s->mu);
  char *r = strndup(s->log.data ? (const char *)s->log.data : "", s->log.len);
  pthread_mutex_unlock(&s->mu);
  return r;
}

void tput_srv_stop(tput_srv *s) {
  command(s, 'q');
  pthread_join(s->th, NULL);
  close(s->pipe[0]);
  close(s->pipe[1]);
  cs_loop_free(s->l);
  cs_buf_free(&s->log);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

/* ---- client ---------------------------------------------------------------------------- */

static int wait_io(int fd, short ev, double timeout_s) {
  struct pollfd pf = {fd, ev, 0};
  return poll(&pf, 1, (int)(timeout_s * 1000)) == 1 ? 0 : -1;
}

int tput_fetch(const char *ip, uint16_t port, bool tls, const char *sni, const void *req,
               size_t reqlen, double timeout_s, tput_resp *r) {
  memset(r, 0, sizeof *r);
  r->status = -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  struct timeval tv = {(time_t)timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  SSL_CTX *ctx = NULL;
  SSL *ssl = NULL;
  if (tls) {
    ctx = SSL_CTX_new(TLS_client_method());
    ssl = ctx ? SSL_new(ctx) : NULL;
    if (!ssl) abort();
    SSL_set_fd(ssl, fd);
    if (sni) SSL_set_tlsext_host_name(ssl, sni);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_set_alpn_protos(ssl, alpn, sizeof alpn - 1);
    if (SSL_connect(ssl) != 1) {
      SSL_free(ssl);
      SSL_CTX_free(ctx);
      close(fd);
      return 0; /* status -1: TLS failed */
    }
    r->tls_ok = true;
    const unsigned char *p;
    unsigned pl;
    SSL_get0_alpn_selected(ssl, &p, &pl);
    if (pl < sizeof r->alpn) memcpy(r->alpn, p, pl);
  }
  const uint8_t *q = req;
  size_t left = reqlen;
  while (left) {
    ssize_t n = tls ? SSL_write(ssl, q, (int)left) : send(fd, q, left, MSG_NOSIGNAL);
    if (n <= 0) break; /* the server may have answered and closed already */
    q += n;
    left -= (size_t)n;
  }
  size_t cap = 1u << 16, len = 0;
  uint8_t *buf = malloc(cap + 1);
  if (!buf) abort();
  for (;;) {
    if (len == cap) {
      cap *= 2;
      uint8_t *nb = realloc(buf, cap + 1);
      if (!nb) abort();
      buf = nb;
    }
    if (!tls && wait_io(fd, POLLIN, timeout_s) < 0) break;
    ssize_t n =
        tls ? SSL_read(ssl, buf + len, (int)(cap - len)) : recv(fd, buf + len, cap - len, 0);
    if (n <= 0) break;
    if (tls && len < 65536 && (size_t)n > r->max_read_64k) r->max_read_64k = (size_t)n;
    len += (size_t)n;
  }
  buf[len] = 0;
  if (ssl) SSL_free(ssl);
  if (ctx) SSL_CTX_free(ctx);
  close(fd);
  r->status = 0;
  uint8_t *end = len >= 4 ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
  if (!end || strncmp((char *)buf, "HTTP/1.1 ", 9) != 0) {
    free(buf);
    return 0;
  }
  size_t hl = (size_t)(end - buf) + 4;
  r->status = (int)strtol((char *)buf + 9, NULL, 10);
  r->head = strndup((char *)buf, hl);
  r->body_len = len - hl;
  r->body = malloc(r->body_len + 1);
  memcpy(r->body, buf + hl, r->body_len);
  r->body[r->body_len] = 0;
  free(buf);
  return 0;
}

char *tput_resp_header(const tput_resp *r, const char *name) {
  if (!r->head) return NULL;
  size_t nl = strlen(name);
  for (const char *line = strstr(r->head, "\r\n"); line && line[2];
       line = strstr(line + 2, "\r\n")) {
    const char *l = line + 2;
    if (!strncasecmp(l, name, nl) && l[nl] == ':') {
      const char *v = l + nl + 1;
      while (*v == ' ') v++;
      const char *e = strstr(v, "\r\n");
      return strndup(v, e ? (size_t)(e - v) : strlen(v));
    }
  }
  return NULL;
}

void tput_resp_free(tput_resp *r) {
  free(r->head);
  free(r->body);
  memset(r, 0, sizeof *r);
}
