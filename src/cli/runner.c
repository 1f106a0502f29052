/* runner.c - see runner.h */
#include "cli/runner.h"

#include <ctype.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analysis/csv.h"

int cs_inputs_add(cs_input_list *l, const char *url, const char *category, size_t line) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    cs_input *nv = realloc(l->v, nc * sizeof *nv);
    if (!nv) return -1;
    l->v = nv, l->cap = nc;
  }
  char **no = realloc(l->owned, (l->nowned + 2) * sizeof *no);
  if (!no) return -1;
  l->owned = no;
  char *u = strdup(url), *c = category && *category ? strdup(category) : NULL;
  if (!u || (category && *category && !c)) {
    free(u), free(c);
    return -1;
  }
  l->owned[l->nowned++] = u;
  if (c) l->owned[l->nowned++] = c;
  l->v[l->n++] = (cs_input){u, c, line};
  return 0;
}

void cs_inputs_free(cs_input_list *l) {
  for (size_t i = 0; i < l->nowned; i++) free(l->owned[i]);
  free(l->owned);
  free(l->v);
  free(l->text);
  memset(l, 0, sizeof *l);
}

static bool plausible_url(const char *u) {
  return (!strncasecmp(u, "http://", 7) || !strncasecmp(u, "https://", 8)) && !strpbrk(u, " \t");
}

long cs_inputs_load(cs_input_list *l, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  cs_buf b;
  cs_buf_init(&b, 256u << 20);
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (cs_buf_append(&b, chunk, n) < 0) break;
  bool bad = ferror(f) || b.overflow;
  fclose(f);
  if (bad) {
    cs_buf_free(&b);
    return -1;
  }
  const char *text = cs_buf_cstr(&b);
  long skipped = 0;
  if (!strncmp(text, "url,", 4)) {
    cs_csv c;
    cs_csv_init(&c, text, b.len);
    const char *fields[CS_CSV_MAX_FIELDS];
    size_t nf;
    int rc = cs_csv_next(&c, fields, &nf); /* header */
    while (rc == 1 && (rc = cs_csv_next(&c, fields, &nf)) == 1) {
      if (nf == 1 && !fields[0][0]) continue; /* blank line */
      if (nf < 2 || !plausible_url(fields[0])) {
        fprintf(stderr, "%s:%zu: skipped: not a test-list row with an http(s) URL\n", path,
                c.line);
        skipped++;
        continue;
      }
      if (cs_inputs_add(l, fields[0], fields[1], c.line) < 0) break;
    }
    if (rc < 0) {
      fprintf(stderr, "%s:%zu: malformed CSV; the rest of the file is skipped\n", path, c.line);
      skipped++;
    }
    cs_csv_free(&c);
  } else {
    size_t line = 0;
    for (const char *p = text; *p;) {
      const char *e = strchr(p, '\n');
      size_t len = e ? (size_t)(e - p) : strlen(p);
      line++;
      char tmp[8192];
      while (len && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
      size_t s = 0;
      while (s < len && (p[s] == ' ' || p[s] == '\t')) s++;
      if (len > s && p[s] != '#') {
        if (len - s >= sizeof tmp) {
          fprintf(stderr, "%s:%zu: skipped: line too long\n", path, line);
          skipped++;
        } else {
          memcpy(tmp, p + s, len - s);
          tmp[len - s] = 0;
          if (!plausible_url(tmp)) {
            fprintf(stderr, "%s:%zu: skipped: not an http(s) URL\n", path, line);
            skipped++;
          } else if (cs_inputs_add(l, tmp, NULL, line) < 0) {
            break;
          }
        }
      }
      if (!e) break;
      p = e + 1;
    }
  }
  cs_buf_free(&b);
  return skipped;
}

typedef struct {
  cs_runner *r;
  cs_loop *l;
  size_t *queue; /* indices of inputs to run, in order; TAKEN once started */
  size_t nqueue, head, left; /* entries, first entry not taken, entries not taken */
  size_t running;
  char **hosts;   /* host of the measurement in each of the `parallel` slots, or NULL */
  int write_error;
  bool done_called;
} run_state;

static void start_more(run_state *s);

/* The host part of an http(s) URL, lower-cased, into out. */
static void url_host(const char *url, char *out, size_t cap) {
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
} job;

static void on_done(void *arg, const char *json, size_t len) {
  job *j = arg;
  run_state *s = j->s;
  cs_runner *r = s->r;
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
  if (r->summary) r->summary(r->ctx, json, len);
  free(s->hosts[j->slot]);
  s->hosts[j->slot] = NULL;
  free(j);
  s->running--;
  start_more(s);
  if (s->running == 0 && s->left == 0 && !s->done_called) {
    s->done_called = true;
    if (r->all_done) r->all_done(r->ctx);
  }
}

#define TAKEN ((size_t)-1)
/* How far past the first waiting input we look for one whose host has a free slot: bounded
 * so that starting a measurement never costs a scan of a huge list. */
#define LOOKAHEAD 4096

static void start_more(run_state *s) {
  cs_runner *r = s->r;
  size_t per_host = r->per_host ? r->per_host : 2;
  while (s->head < s->nqueue && s->queue[s->head] == TAKEN) s->head++;
  for (size_t qi = s->head; qi < s->nqueue && qi - s->head < LOOKAHEAD && s->running < r->parallel;
       qi++) {
    if (s->queue[qi] == TAKEN) continue;
    const cs_input *in = &r->inputs->v[s->queue[qi]];
    char host[256];
    url_host(in->url, host, sizeof host);
    if (host_running(s, host) >= per_host) continue; /* wait for a slot on that host */
    s->queue[qi] = TAKEN;
    s->left--;
    size_t slot = 0;
    while (s->hosts[slot]) slot++; /* running < parallel: a free slot exists */
    job *j = malloc(sizeof *j);
    char *h = strdup(host);
    if (!j || !h) {
      free(j), free(h);
      fprintf(stderr, "out of memory starting %s\n", in->url);
      continue;
    }
    j->s = s, j->slot = slot;
    s->hosts[slot] = h;
    s->running++;
    if (r->start(r->ctx, s->l, in, on_done, j) < 0) {
      fprintf(stderr, "out of memory starting %s\n", in->url);
      s->running--;
      free(h);
      s->hosts[slot] = NULL;
      free(j);
    }
  }
}

size_t cs_runner_todo(const cs_runner *r) {
  size_t n = 0;
  for (size_t i = 0; i < r->inputs->n; i++)
    if (!r->store || !cs_store_has(r->store, r->run_id, r->inputs->v[i].url)) n++;
  return n;
}

int cs_runner_run(cs_runner *r) {
#ifdef __GLIBC__
  /* Bodies and the buffers a finished measurement is serialised through (16 KiB to 512 KiB,
   * each alive for a moment or for one measurement) come from mmap and go back to the system
   * when freed, instead of leaving holes in a heap that hundreds of in-flight measurements
   * keep fragmented (a few MB of peak RSS at -j 512; docs/architecture.md). */
  mallopt(M_MMAP_THRESHOLD, 16 * 1024);
#endif
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
    if (r->store && cs_store_has(r->store, r->run_id, r->inputs->v[i].url)) {
      r->skipped_done++;
      continue;
    }
    s.queue[s.nqueue++] = i;
  }
  s.left = s.nqueue;
  /* the system resolver (getaddrinfo) blocks a worker per lookup */
  cs_loop_set_workers(s.l, r->parallel < 4 ? 4 : r->parallel > 32 ? 32 : (int)r->parallel);
  if (r->loop_ready) r->loop_ready(r->ctx, s.l);
  if (s.left == 0) {
    s.done_called = true;
    if (r->all_done) r->all_done(r->ctx);
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
