/* coll_mock.c - see coll_mock.h. Loopback only. */
#include "coll_mock.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQ (4u << 20)
#define MAX_STORED 1024

struct collm {
  int fd, stop_pipe[2];
  uint16_t port;
  pthread_t th;
  pthread_mutex_t mu;
  collm_mode mode;
  int requests, submissions, opened, closed, nreports;
  char *stored[MAX_STORED]; /* probe-set + "\n" + content */
  int nstored;
  bool forgot_once; /* COLLM_FORGET: the 404 was given */
  char probe_set[80];
  int held[16]; /* blackholed connections, closed at stop */
  int nheld;
};

static void respond(int c, int code, const char *body) {
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   code, strlen(body));
  if (write(c, head, (size_t)n) < 0 || write(c, body, strlen(body)) < 0) { /* peer gone */
  }
}

static const char *header(const char *req, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name);
  for (const char *p = strstr(req, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
    if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':') {
      const char *v = p + 3 + nl;
      while (*v == ' ') v++;
      size_t k = 0;
      while (v[k] && v[k] != '\r' && k + 1 < cap) k++;
      memcpy(out, v, k);
      out[k] = 0;
      return out;
    }
  }
  return NULL;
}

/* Reads one request (head + Content-Length body) into a malloc'ed NUL-terminated buffer. */
static char *read_req(int c, size_t *body_off, size_t *body_len) {
  char *b = malloc(MAX_REQ + 1);
  size_t n = 0, need = 0;
  if (!b) return NULL;
  for (;;) {
    ssize_t r = read(c, b + n, MAX_REQ - n);
    if (r <= 0) break;
    n += (size_t)r;
    b[n] = 0;
    char *e = strstr(b, "\r\n\r\n");
    if (e && !need) {
      char cl[32];
      *body_off = (size_t)(e + 4 - b);
      need = *body_off + (header(b, "Content-Length", cl, sizeof cl) ? strtoul(cl, NULL, 10) : 0);
    }
    if (need && n >= need) break;
    if (n == MAX_REQ) break;
  }
  b[n] = 0;
  *body_len = need && n >= need ? need - *body_off : 0;
  if (!need) {
    free(b);
    return NULL;
  }
  return b;
}

static void serve(collm *m, int c) {
  size_t off = 0, blen = 0;
  char *req = read_req(c, &off, &blen);
  if (!req) {
    close(c);
    return;
  }
  pthread_mutex_lock(&m->mu);
  m->requests++;
  char ps[80] = "";
  header(req, "X-Censorscope-Probe-Set", ps, sizeof ps);
  snprintf(m->probe_set, sizeof m->probe_set, "%s", ps);
  collm_mode mode = m->mode;
  char path[256] = "";
  sscanf(req, "POST %255s ", path);
  if (mode == COLLM_BLACKHOLE) {
    if (m->nheld < 16) m->held[m->nheld++] = c;
    else close(c);
    pthread_mutex_unlock(&m->mu);
    free(req);
    return;
  }
  if (mode == COLLM_FAIL_500) {
    respond(c, 503, "{\"error\":\"overloaded\"}");
  } else if (!strcmp(path, "/report")) {
    char rid[160];
    snprintf(rid, sizeof rid,
             "{\"backend_version\":\"mock\",\"report_id\":"
             "\"20261203T000000Z_webconnectivity_IT_3269_n1_mock%08d\","
             "\"supported_formats\":[\"json\"]}",
             ++m->nreports);
    m->opened++;
    respond(c, 200, rid);
  } else if (!strncmp(path, "/report/", 8) && strstr(path + 8, "/close")) {
    m->closed++;
    respond(c, 200, "{}");
  } else if (!strncmp(path, "/report/", 8)) {
    bool forgot = false;
    if (mode == COLLM_FORGET && !m->forgot_once) forgot = m->forgot_once = true;
    const char *content = strstr(req + off, "\"content\":");
    if (forgot) {
      respond(c, 404, "{\"error\":\"report not found\"}");
    } else if (mode == COLLM_REFUSE) {
      respond(c, 400, "{\"error\":\"Inconsistent measurement\\u0007\"}");
    } else if (mode == COLLM_DISCARD) {
      respond(c, 200, "{}");
    } else if (!content) {
      respond(c, 400, "{\"error\":\"no content\"}");
    } else {
      size_t kl = strlen(ps) + 1 + strlen(content) + 1;
      char *key = malloc(kl);
      int idx = -1;
      if (key) {
        snprintf(key, kl, "%s\n%s", ps, content);
        for (int i = 0; i < m->nstored; i++)
          if (!strcmp(m->stored[i], key)) idx = i;
        if (idx < 0 && m->nstored < MAX_STORED) {
          idx = m->nstored;
          m->stored[m->nstored++] = key;
          key = NULL;
        }
        free(key);
      }
      char uid[96];
      snprintf(uid, sizeof uid, "{\"measurement_uid\":\"20261203000000.000000_IT_wc_%016d\"}", idx);
      m->submissions++;
      respond(c, idx < 0 ? 500 : 200, uid);
    }
  } else {
    respond(c, 404, "{\"error\":\"no such route\"}");
  }
  pthread_mutex_unlock(&m->mu);
  free(req);
  close(c);
}

static void *run(void *arg) {
  collm *m = arg;
  for (;;) {
    struct pollfd p[2] = {{m->fd, POLLIN, 0}, {m->stop_pipe[0], POLLIN, 0}};
    if (poll(p, 2, -1) < 0) continue;
    if (p[1].revents) break;
    int c = accept(m->fd, NULL, NULL);
    if (c >= 0) serve(m, c);
  }
  return NULL;
}

collm *collm_start(collm_mode mode) {
  collm *m = calloc(1, sizeof *m);
  if (!m) abort();
  m->mode = mode;
  pthread_mutex_init(&m->mu, NULL);
  m->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  int one = 1;
  setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (m->fd < 0 || bind(m->fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(m->fd, 64) < 0 ||
      getsockname(m->fd, (struct sockaddr *)&a, &al) < 0 || pipe(m->stop_pipe) < 0 ||
      pthread_create(&m->th, NULL, run, m) != 0)
    abort();
  m->port = ntohs(a.sin_port);
  return m;
}

uint16_t collm_port(const collm *m) { return m->port; }

#define GETTER(name, field)                                                                        \
  int name(collm *m) {                                                                             \
    pthread_mutex_lock(&m->mu);                                                                    \
    int v = m->field;                                                                              \
    pthread_mutex_unlock(&m->mu);                                                                  \
    return v;                                                                                      \
  }
GETTER(collm_requests, requests)
GETTER(collm_stored, nstored)
GETTER(collm_submissions, submissions)
GETTER(collm_reports_opened, opened)
GETTER(collm_reports_closed, closed)

void collm_set_mode(collm *m, collm_mode mode) {
  pthread_mutex_lock(&m->mu);
  m->mode = mode;
  pthread_mutex_unlock(&m->mu);
}

void collm_last_probe_set(collm *m, char *out, size_t cap) {
  pthread_mutex_lock(&m->mu);
  snprintf(out, cap, "%s", m->probe_set);
  pthread_mutex_unlock(&m->mu);
}

void collm_stop(collm *m) {
  if (write(m->stop_pipe[1], "x", 1) != 1) abort();
  pthread_join(m->th, NULL);
  close(m->fd);
  close(m->stop_pipe[0]);
  close(m->stop_pipe[1]);
  for (int i = 0; i < m->nheld; i++) close(m->held[i]);
  for (int i = 0; i < m->nstored; i++) free(m->stored[i]);
  pthread_mutex_destroy(&m->mu);
  free(m);
}
