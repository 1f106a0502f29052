/* helper_srv.c - see helper_srv.h. Loopback only. */
#include "helper_srv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/loop.h"
#include "engine/tls.h"

struct helper_srv {
  cs_helper_opts o;
  cs_tls_ctx *own_tls;
  cs_loop *l;
  cs_helper *h;
  uint16_t port;
  int pipe[2];
  cs_io io;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int cmd; /* 1 stats, 2 stop */
  bool cmd_done;
  cs_helper_stats st;
};

static void on_cmd(cs_io *w, unsigned events) {
  (void)events;
  helper_srv *s = w->data;
  char ch;
  if (read(s->pipe[0], &ch, 1) != 1) return;
  pthread_mutex_lock(&s->mu);
  if (ch == 's') {
    s->st = cs_helper_get_stats(s->h);
  } else {
    cs_helper_free(s->h);
    s->h = NULL;
    cs_io_stop(s->l, &s->io);
  }
  s->cmd_done = true;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void *srv_main(void *arg) {
  helper_srv *s = arg;
  cs_loop_run(s->l);
  return NULL;
}

helper_srv *helper_srv_start(const cs_helper_opts *o) {
  helper_srv *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->o = *o;
  if (!s->o.measure.tls) {
    char err[128];
    s->own_tls = cs_tls_ctx_new(NULL, false, err, sizeof err);
    s->o.measure.tls = s->own_tls;
  }
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  s->l = cs_loop_new();
  s->h = s->l ? cs_helper_new(s->l, &s->o) : NULL;
  char err[128];
  int port = s->h ? cs_helper_listen(s->h, "127.0.0.1:0", err, sizeof err) : -1;
  if (port <= 0 || pipe(s->pipe) < 0 ||
      cs_io_start(s->l, &s->io, s->pipe[0], CS_EV_READ, on_cmd, s) < 0 ||
      pthread_create(&s->th, NULL, srv_main, s) != 0) {
    fprintf(stderr, "helper_srv_start failed\n");
    abort();
  }
  s->port = (uint16_t)port;
  return s;
}

uint16_t helper_srv_port(const helper_srv *s) { return s->port; }

static void command(helper_srv *s, char ch) {
  pthread_mutex_lock(&s->mu);
  s->cmd_done = false;
  if (write(s->pipe[1], &ch, 1) != 1) abort();
  while (!s->cmd_done) pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
}

cs_helper_stats helper_srv_stats(helper_srv *s) {
  command(s, 's');
  return s->st;
}

void helper_srv_stop(helper_srv *s) {
  command(s, 'q');
  pthread_join(s->th, NULL);
  close(s->pipe[0]);
  close(s->pipe[1]);
  cs_loop_free(s->l);
  cs_tls_ctx_free(s->own_tls);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

/* ---- client ---------------------------------------------------------------------------- */

int hcli_connect(hcli *c, uint16_t port, double timeout_s) {
  memset(c, 0, sizeof *c);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -1;
  time_t whole = (time_t)timeout_s;
  struct timeval tv = {whole, (suseconds_t)((timeout_s - (double)whole) * 1e6)};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  return 0;
}

int hcli_send(hcli *c, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t r = send(c->fd, b, n, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

int hcli_sendstr(hcli *c, const char *s) { return hcli_send(c, s, strlen(s)); }

static int fill(hcli *c) {
  if (c->len == sizeof c->buf) return -1;
  ssize_t r;
  do r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) return -1;
  c->len += (size_t)r;
  return (int)r;
}

int hcli_read(hcli *c, char **body, char **head) {
  *body = NULL;
  if (head) *head = NULL;
  uint8_t *end;
  for (;;) {
    end = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
    if (end) break;
    int r = fill(c);
    if (r < 0) return -1;
    if (r == 0) return c->len ? -1 : 0;
  }
  size_t hl = (size_t)(end - c->buf) + 4;
  if (strncmp((const char *)c->buf, "HTTP/1.1 ", 9) != 0) return -1;
  char *num_end = NULL;
  long st = strtol((const char *)c->buf + 9, &num_end, 10);
  if (num_end == (const char *)c->buf + 9 || st < 0 || st > 999) return -1;
  int status = (int)st;
  size_t cl = 0;
  const char *p = (const char *)c->buf;
  for (const char *line = p; line < p + hl;) {
    const char *nl = memchr(line, '\n', (size_t)(p + hl - line));
    if (!nl) break;
    if (!strncasecmp(line, "Content-Length:", 15)) cl = strtoul(line + 15, NULL, 10);
    line = nl + 1;
  }
  if (status == 100) cl = 0;
  if (hl + cl > sizeof c->buf) return -1;
  while (c->len < hl + cl) {
    int r = fill(c);
    if (r <= 0) return -1;
  }
  *body = malloc(cl + 1);
  memcpy(*body, c->buf + hl, cl);
  (*body)[cl] = 0;
  if (head) {
    *head = malloc(hl + 1);
    memcpy(*head, c->buf, hl);
    (*head)[hl] = 0;
  }
  memmove(c->buf, c->buf + hl + cl, c->len - hl - cl);
  c->len -= hl + cl;
  return status;
}

bool hcli_wait_eof(hcli *c, double timeout_s) {
  struct pollfd pf = {c->fd, POLLIN, 0};
  if (poll(&pf, 1, (int)(timeout_s * 1000)) != 1) return false;
  uint8_t b[64];
  ssize_t r = recv(c->fd, b, sizeof b, MSG_DONTWAIT);
  return r == 0 || (r < 0 && errno == ECONNRESET);
}

void hcli_close(hcli *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}
