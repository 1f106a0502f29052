/* run.c - the scheduler (see run.h). */
#include "run/run.h"

#include <ctype.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  cs_run *r;
  cs_loop *l;
  size_t *queue;             /* indices of inputs to run, in order; TAKEN once started */
  size_t nqueue, head, left; /* entries, first entry not taken, entries not taken */
  size_t running;
  char **hosts; /* host of the measurement in each of the `parallel` slots, or NULL */
  int write_error;
  bool done_called;
} run_state;

static void start_more(run_state *s);

/* The host an input measures, lower-cased, into out: the host part of a URL
 * (scheme://HOST/...), else the input up to the first '/' (a domain, a host:port endpoint);
 * "" for a null input. Politeness counts measurements per this key. */
static void url_host(const char *url, char *out, size_t cap) {
  if (!url) url = "";
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  size_t n = 0;
  while (p[n] && p[n] != '/' && p[n] != '?' && p[n] != '#' && n + 1 < cap) n++;
  for (size_t i = 0; i < n; i++) out[i] = (char)tolower((unsigned char)p[i]);
  out[n] = 0;
}

static size_t host_running(run_state *s, const char *host) {
  size_t k = 0;
  for (size_t i = 0; i < s->r->parallel; i++)
    if (s->hosts[i] && !strcmp(s->hosts[i], host)) k++;
  return k;
}

typedef struct {
  run_state *s;
  size_t slot;
  const cs_nettest_input *in;
} job;

static void on_done(void *arg, const cs_meas *m) {
  job *j = arg;
  const char *json = m->json;
  size_t len = m->len;
  run_state *s = j->s;
  cs_run *r = s->r;
  /* The database is the record of what was measured (resume reads it), so it is written
   * first; the JSON lines follow. */
  if (r->store) {
    int rc = cs_store_add(r->store, r->run_id, json, len);
    if (rc != CS_STORE_OK && rc != CS_STORE_DUPLICATE) {
      fprintf(stderr, "storing a measurement failed: %s (%s)\n", cs_store_strerror(rc),
              cs_store_errmsg(r->store));
      s->write_error = EIO;
    }
  }
  if (r->out) {
    if (fwrite(json, 1, len, r->out) != len || fputc('\n', r->out) == EOF || fflush(r->out))
      s->write_error = errno ? errno : EIO;
    /* durable before the next one starts: an interrupted run loses only what is in flight */
    int fd = fileno(r->out);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fdatasync(fd) < 0)
      s->write_error = errno;
  }
  r->measured++;
  if (r->on_meas) r->on_meas(r->ctx, j->in, m);
  free(s->hosts[j->slot]);
  s->hosts[j->slot] = NULL;
  free(j);
  s->running--;
  start_more(s);
  if (s->running == 0 && s->left == 0 && !s->done_called) {
    s->done_called = true;
    if (r->nettest->loop_done) r->nettest->loop_done(r->settings);
  }
}

#define TAKEN ((size_t)-1)
/* How far past the first waiting input we look for one whose host has a free slot: bounded
 * so that starting a measurement never costs a scan of a huge list. */
#define LOOKAHEAD 4096

static void start_more(run_state *s) {
  cs_run *r = s->r;
  size_t per_host = r->per_host ? r->per_host : 2;
  while (s->head < s->nqueue && s->queue[s->head] == TAKEN) s->head++;
  for (size_t qi = s->head; qi < s->nqueue && qi - s->head < LOOKAHEAD && s->running < r->parallel;
       qi++) {
    if (s->queue[qi] == TAKEN) continue;
    const cs_nettest_input *in = &r->inputs->v[s->queue[qi]];
    char host[256];
    url_host(in->input, host, sizeof host);
    if (host_running(s, host) >= per_host) continue; /* wait for a slot on that host */
    s->queue[qi] = TAKEN;
    s->left--;
    size_t slot = 0;
    while (s->hosts[slot]) slot++; /* running < parallel: a free slot exists */
    job *j = malloc(sizeof *j);
    char *h = strdup(host);
    const char *what = in->input ? in->input : "a measurement";
    if (!j || !h) {
      free(j), free(h);
      fprintf(stderr, "out of memory starting %s\n", what);
      continue;
    }
    j->s = s, j->slot = slot, j->in = in;
    s->hosts[slot] = h;
    s->running++;
    if (r->nettest->start(s->l, r->settings, r->probe, in, on_done, j) < 0) {
      fprintf(stderr, "out of memory starting %s\n", what);
      s->running--;
      free(h);
      s->hosts[slot] = NULL;
      free(j);
    }
  }
}

/* Whether the store already has this input's measurement in this run (resume). A null
 * input is measured again. */
static bool stored(const cs_run *r, const cs_nettest_input *in) {
  return r->store && in->input && cs_store_has(r->store, r->run_id, in->input);
}

size_t cs_run_todo(const cs_run *r) {
  size_t n = 0;
  for (size_t i = 0; i < r->inputs->n; i++)
    if (!stored(r, &r->inputs->v[i])) n++;
  return n;
}

int cs_run_run(cs_run *r) {
#ifdef __GLIBC__
  /* Bodies and the buffers a finished measurement is serialised through (16 KiB to 512 KiB,
   * each alive for a moment or for one measurement) come from mmap and go back to the system
   * when freed, instead of leaving holes in a heap that hundreds of in-flight measurements
   * keep fragmented (a few MB of peak RSS at -j 512; docs/architecture.md). */
  mallopt(M_MMAP_THRESHOLD, 16 * 1024);
#endif
  if (!r->parallel) r->parallel = 1;
  run_state s = {.r = r};
  s.queue = calloc(r->inputs->n ? r->inputs->n : 1, sizeof *s.queue);
  s.hosts = calloc(r->parallel, sizeof *s.hosts);
  s.l = cs_loop_new();
  if (!s.l || !s.queue || !s.hosts) {
    fprintf(stderr, "cannot create the event loop\n");
    free(s.queue), free(s.hosts);
    if (s.l) cs_loop_free(s.l);
    return 1;
  }
  for (size_t i = 0; i < r->inputs->n; i++) {
    if (stored(r, &r->inputs->v[i])) {
      r->skipped_done++;
      continue;
    }
    s.queue[s.nqueue++] = i;
  }
  s.left = s.nqueue;
  /* the system resolver (getaddrinfo) blocks a worker per lookup */
  cs_loop_set_workers(s.l, r->parallel < 4 ? 4 : r->parallel > 32 ? 32 : (int)r->parallel);
  if (r->nettest->loop_ready) r->nettest->loop_ready(r->settings, s.l, r->probe, r->parallel);
  if (s.left == 0) {
    s.done_called = true;
    if (r->nettest->loop_done) r->nettest->loop_done(r->settings);
  }
  start_more(&s);
  int rc = cs_loop_run(s.l) < 0 ? 1 : 0;
  cs_loop_free(s.l);
  for (size_t i = 0; i < r->parallel; i++) free(s.hosts[i]);
  free(s.hosts);
  free(s.queue);
  if (s.write_error) {
    fprintf(stderr, "writing measurements failed: %s\n", strerror(s.write_error));
    rc = 1;
  }
  return rc;
}
