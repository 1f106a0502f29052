/* can.c - the collector's durable log: every accepted measurement is one JSON line appended to
 * DATA_DIR/cans/YYYYMMDD/HH.jsonl (the receipt hour, UTC) and on disk before its 200 goes out.
 *
 * Group commit: request threads append their line to a shared pending buffer and wait; one
 * writer thread writes the whole batch with one write() and one fdatasync(), then wakes every
 * waiter whose line the batch covered. Under load a batch holds as many lines as requests
 * arrived during the previous fdatasync, so the disk sees one flush per batch, not per
 * measurement (OONI keeps raw bodies outside the database the same way: hourly JSONL).
 *
 * A failed write or flush is sticky: the can refuses every later append (503) rather than
 * acknowledge data whose place on disk is unknown. On open, an unterminated last line (a
 * write interrupted by a kill -9, never acknowledged) is cut. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector/collector.h"

#define MAX_FILES 64

typedef struct {
  char path[CS_COLL_CAN_PATH_MAX];
  int64_t hour;     /* epoch hour */
  int64_t size;     /* logical size: written + pending */
  int64_t quiet;    /* size at the last moment nothing was in flight and nothing failed */
  int64_t recorded; /* what the checkpoint recorded in can_file */
  unsigned inflight;
  bool pg_failed;
  unsigned fail_gen;
} canfile;

struct cs_coll_can {
  char dir[PATH_MAX]; /* the data dir */
  int lockfd;
  pthread_mutex_t mu;
  pthread_cond_t cv_work, cv_done;
  pthread_t th;
  bool started, stop, writing, failed;
  int fd;  /* the current hour's file */
  int cur; /* its record in files, -1: none */
  canfile files[MAX_FILES];
  size_t nfiles;
  cs_buf pend;
  int pend_fd;
  uint64_t next_ticket, pend_ticket, good; /* good: every ticket <= good is on disk */
};

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void *writer(void *arg) {
  cs_coll_can *c = arg;
  cs_buf wb;
  cs_buf_init(&wb, 0);
  pthread_mutex_lock(&c->mu);
  for (;;) {
    while (!c->stop && c->pend.len == 0) pthread_cond_wait(&c->cv_work, &c->mu);
    if (c->pend.len == 0) break; /* stopping and drained */
    cs_buf tmp = wb;
    wb = c->pend;
    c->pend = tmp;
    cs_buf_reset(&c->pend);
    uint64_t ticket = c->pend_ticket;
    int fd = c->pend_fd;
    c->writing = true;
    pthread_mutex_unlock(&c->mu);
    int rc = write_all(fd, wb.data, wb.len);
    if (rc == 0 && fdatasync(fd) != 0) rc = -1;
    if (rc) fprintf(stderr, "collector: can write failed: %s\n", strerror(errno));
    cs_buf_reset(&wb);
    pthread_mutex_lock(&c->mu);
    c->writing = false;
    if (rc) c->failed = true;
    else c->good = ticket;
    pthread_cond_broadcast(&c->cv_done);
  }
  pthread_mutex_unlock(&c->mu);
  cs_buf_free(&wb);
  return NULL;
}

static int fsync_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

static int mkdir_durable(const char *path, const char *parent) {
  if (mkdir(path, 0750) == 0) return fsync_dir(parent);
  return errno == EEXIST ? 0 : -1;
}

/* Cuts an unterminated last line of one can file. */
static int cut_tail(const char *full) {
  int fd = open(full, O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return -1;
  }
  off_t end = st.st_size, keep = 0;
  char chunk[4096];
  while (end > 0) {
    off_t start = end > (off_t)sizeof chunk ? end - (off_t)sizeof chunk : 0;
    ssize_t n = pread(fd, chunk, (size_t)(end - start), start);
    if (n != end - start) {
      close(fd);
      return -1;
    }
    for (ssize_t i = n; i > 0; i--)
      if (chunk[i - 1] == '\n') {
        keep = start + i;
        goto found;
      }
    end = start;
  }
found:
  if (keep != st.st_size) {
    fprintf(stderr, "collector: %s: cut %lld unacknowledged byte(s) at the end\n", full,
            (long long)(st.st_size - keep));
    if (ftruncate(fd, keep) != 0 || fsync(fd) != 0) {
      close(fd);
      return -1;
    }
  }
  close(fd);
  return 0;
}

static bool can_path_ok(const char *p) {
  /* cans/YYYYMMDD/HH.jsonl */
  if (strlen(p) != 22 || strncmp(p, "cans/", 5) || p[13] != '/' || strcmp(p + 16, ".jsonl"))
    return false;
  for (int i = 5; i < 13; i++)
    if (p[i] < '0' || p[i] > '9') return false;
  return p[14] >= '0' && p[14] <= '2' && p[15] >= '0' && p[15] <= '9';
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int cs_coll_can_list(const char *data_dir, char ***paths, size_t *n) {
  *paths = NULL;
  *n = 0;
  char top[PATH_MAX];
  snprintf(top, sizeof top, "%s/cans", data_dir);
  DIR *d = opendir(top);
  if (!d) return errno == ENOENT ? 0 : -1;
  char **v = NULL;
  size_t cnt = 0, cap = 0;
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d))) {
    if (strlen(e->d_name) != 8 || strspn(e->d_name, "0123456789") != 8) continue;
    char sub[PATH_MAX + 32];
    snprintf(sub, sizeof sub, "%s/%.8s", top, e->d_name);
    DIR *d2 = opendir(sub);
    if (!d2) continue;
    struct dirent *f;
    while ((f = readdir(d2))) {
      char rel[64];
      if (strlen(f->d_name) != 8) continue;
      snprintf(rel, sizeof rel, "cans/%.8s/%.8s", e->d_name, f->d_name);
      if (!can_path_ok(rel)) continue;
      if (cnt == cap) {
        size_t nc = cap ? cap * 2 : 16;
        char **nv = realloc(v, nc * sizeof *nv);
        if (!nv) {
          rc = -1;
          break;
        }
        v = nv;
        cap = nc;
      }
      if (!(v[cnt] = strdup(rel))) {
        rc = -1;
        break;
      }
      cnt++;
    }
    closedir(d2);
  }
  closedir(d);
  if (rc) {
    for (size_t i = 0; i < cnt; i++) free(v[i]);
    free(v);
    return -1;
  }
  if (cnt) qsort(v, cnt, sizeof *v, cmp_str);
  *paths = v;
  *n = cnt;
  return 0;
}

cs_coll_can *cs_coll_can_open(const char *data_dir, char *err, size_t errlen) {
  cs_coll_can *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  c->lockfd = -1;
  c->fd = -1;
  c->cur = -1;
  cs_buf_init(&c->pend, 0);
  snprintf(c->dir, sizeof c->dir, "%s", data_dir);
  char top[PATH_MAX + 16];
  snprintf(top, sizeof top, "%s/cans", data_dir);
  if (mkdir(data_dir, 0750) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "%s: %s", data_dir, strerror(errno));
    goto fail;
  }
  if (mkdir_durable(top, data_dir) != 0) {
    snprintf(err, errlen, "%s: %s", top, strerror(errno));
    goto fail;
  }
  char lock[PATH_MAX + 32];
  snprintf(lock, sizeof lock, "%s/cans/.lock", data_dir);
  c->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (c->lockfd < 0 || flock(c->lockfd, LOCK_EX | LOCK_NB) != 0) {
    snprintf(err, errlen, "%s: %s (another collector uses this data dir?)", lock, strerror(errno));
    goto fail;
  }
  char **paths;
  size_t n;
  if (cs_coll_can_list(data_dir, &paths, &n) != 0) {
    snprintf(err, errlen, "%s: cannot list the cans", top);
    goto fail;
  }
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    char full[PATH_MAX + 64];
    snprintf(full, sizeof full, "%s/%s", data_dir, paths[i]);
    if (!bad && cut_tail(full) != 0) {
      snprintf(err, errlen, "%s: %s", full, strerror(errno));
      bad = 1;
    }
    free(paths[i]);
  }
  free(paths);
  if (bad) goto fail;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv_work, NULL);
  pthread_cond_init(&c->cv_done, NULL);
  if (pthread_create(&c->th, NULL, writer, c) != 0) {
    snprintf(err, errlen, "cannot start the can writer thread");
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv_work);
    pthread_cond_destroy(&c->cv_done);
    goto fail;
  }
  c->started = true;
  return c;
fail:
  if (c->lockfd >= 0) close(c->lockfd);
  cs_buf_free(&c->pend);
  free(c);
  return NULL;
}

void cs_coll_can_close(cs_coll_can *c) {
  if (!c) return;
  pthread_mutex_lock(&c->mu);
  c->stop = true;
  pthread_cond_signal(&c->cv_work);
  pthread_mutex_unlock(&c->mu);
  pthread_join(c->th, NULL);
  if (c->fd >= 0) close(c->fd);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv_work);
  pthread_cond_destroy(&c->cv_done);
  cs_buf_free(&c->pend);
  close(c->lockfd);
  free(c);
}

static canfile *find_file(cs_coll_can *c, const char *path) {
  for (size_t i = 0; i < c->nfiles; i++)
    if (!strcmp(c->files[i].path, path)) return &c->files[i];
  return NULL;
}

/* Drops records nothing needs any more (recorded, idle, not current) to make room. */
static void compact(cs_coll_can *c) {
  size_t j = 0;
  for (size_t i = 0; i < c->nfiles; i++) {
    canfile *f = &c->files[i];
    bool keep = (int)i == c->cur || f->inflight || f->pg_failed || f->recorded < f->size;
    if (!keep) continue;
    if ((int)i == c->cur) c->cur = (int)j;
    if (i != j) c->files[j] = *f;
    j++;
  }
  c->nfiles = j;
}

/* Makes the file of hour h current (called with mu held, writer idle, nothing pending). */
static int switch_file(cs_coll_can *c, int64_t h) {
  time_t t = (time_t)(h * 3600);
  struct tm tm;
  gmtime_r(&t, &tm);
  char rel[CS_COLL_CAN_PATH_MAX], day[PATH_MAX + 32], full[PATH_MAX + 64], top[PATH_MAX + 16];
  snprintf(rel, sizeof rel, "cans/%04d%02d%02d/%02d.jsonl", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour);
  snprintf(top, sizeof top, "%s/cans", c->dir);
  snprintf(day, sizeof day, "%s/%.13s", c->dir, rel);
  snprintf(full, sizeof full, "%s/%s", c->dir, rel);
  if (mkdir_durable(day, top) != 0) return -1;
  bool existed = access(full, F_OK) == 0;
  int fd = open(full, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || (!existed && fsync_dir(day) != 0)) {
    close(fd);
    return -1;
  }
  canfile *f = find_file(c, rel);
  if (!f) {
    compact(c);
    if (c->nfiles == MAX_FILES) {
      close(fd);
      errno = ENOSPC;
      return -1;
    }
    f = &c->files[c->nfiles++];
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", rel);
    f->quiet = f->recorded = f->size = (int64_t)st.st_size;
  }
  f->hour = h;
  f->size = (int64_t)st.st_size;
  if (c->fd >= 0) close(c->fd);
  c->fd = fd;
  c->cur = (int)(f - c->files);
  return 0;
}

int cs_coll_can_append(cs_coll_can *c, int64_t t, const uint8_t *line, size_t len,
                       char path[CS_COLL_CAN_PATH_MAX], int64_t *off) {
  int64_t h = t / 3600;
  pthread_mutex_lock(&c->mu);
  if (c->failed) goto fail;
  if (c->cur < 0 || c->files[c->cur].hour != h) {
    while (!c->failed && (c->pend.len || c->writing)) pthread_cond_wait(&c->cv_done, &c->mu);
    if (c->failed) goto fail;
    if (c->cur >= 0 && c->files[c->cur].hour == h) {
      /* another thread switched while we waited */
    } else if (switch_file(c, h) != 0) {
      fprintf(stderr, "collector: cannot open the can of hour %lld: %s\n", (long long)h,
              strerror(errno));
      c->failed = true;
      goto fail;
    }
  }
  canfile *f = &c->files[c->cur];
  if (cs_buf_append(&c->pend, line, len) != 0) goto fail;
  *off = f->size;
  f->size += (int64_t)len;
  f->inflight++;
  snprintf(path, CS_COLL_CAN_PATH_MAX, "%s", f->path);
  c->pend_fd = c->fd;
  uint64_t ticket = ++c->next_ticket;
  c->pend_ticket = ticket;
  pthread_cond_signal(&c->cv_work);
  while (c->good < ticket && !c->failed) pthread_cond_wait(&c->cv_done, &c->mu);
  if (c->good < ticket) {
    f = find_file(c, path);
    if (f) f->inflight--;
    goto fail;
  }
  pthread_mutex_unlock(&c->mu);
  return 0;
fail:
  pthread_mutex_unlock(&c->mu);
  return -1;
}

void cs_coll_can_done(cs_coll_can *c, const char *path, bool in_pg) {
  pthread_mutex_lock(&c->mu);
  canfile *f = find_file(c, path);
  if (f) {
    if (f->inflight) f->inflight--;
    if (!in_pg) {
      f->pg_failed = true;
      f->fail_gen++;
    }
    if (!f->inflight && !f->pg_failed) f->quiet = f->size;
  }
  pthread_mutex_unlock(&c->mu);
}

size_t cs_coll_can_states(cs_coll_can *c, cs_coll_can_state *out, size_t max) {
  size_t n = 0;
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->nfiles && n < max; i++) {
    canfile *f = &c->files[i];
    if (f->recorded >= f->quiet && !f->pg_failed) continue;
    cs_coll_can_state *s = &out[n++];
    snprintf(s->path, sizeof s->path, "%s", f->path);
    s->quiet = f->quiet;
    s->size = f->size;
    s->pg_failed = f->pg_failed;
    s->fail_gen = f->fail_gen;
  }
  pthread_mutex_unlock(&c->mu);
  return n;
}

void cs_coll_can_replayed(cs_coll_can *c, const char *path, unsigned gen, int64_t upto) {
  pthread_mutex_lock(&c->mu);
  canfile *f = find_file(c, path);
  if (f && f->fail_gen == gen) {
    f->pg_failed = false;
    if (!f->inflight) f->quiet = f->size;
    else if (upto > f->quiet && upto <= f->size) f->quiet = upto; /* replayed up to upto */
  }
  pthread_mutex_unlock(&c->mu);
}

void cs_coll_can_recorded(cs_coll_can *c, const char *path, int64_t upto) {
  pthread_mutex_lock(&c->mu);
  canfile *f = find_file(c, path);
  if (f && upto > f->recorded) f->recorded = upto;
  pthread_mutex_unlock(&c->mu);
}

int64_t cs_coll_can_scan(const char *data_dir, const char *path, int64_t from, int64_t to,
                         int (*fn)(void *arg, const char *line, size_t len, int64_t off),
                         void *arg) {
  if (!can_path_ok(path) || from < 0) return -1;
  char full[PATH_MAX + 64];
  snprintf(full, sizeof full, "%s/%s", data_dir, path);
  int fd = open(full, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  cs_buf b;
  cs_buf_init(&b, 0);
  int64_t pos = from; /* file offset of b.data[0] */
  int64_t rdpos = from;
  bool eof = false;
  int64_t ret = -1;
  for (;;) {
    /* emit every complete line in b */
    size_t start = 0;
    for (;;) {
      const uint8_t *nl = b.len > start ? memchr(b.data + start, '\n', b.len - start) : NULL;
      if (!nl) break;
      size_t l = (size_t)(nl - (b.data + start));
      if (to >= 0 && pos + (int64_t)start + (int64_t)l + 1 > to) {
        eof = true;
        break;
      }
      if (fn(arg, (const char *)b.data + start, l, pos + (int64_t)start) != 0) goto out;
      start += l + 1;
    }
    cs_buf_consume(&b, start);
    pos += (int64_t)start;
    if (eof) break;
    if (cs_buf_reserve(&b, 1 << 20) != 0) goto out;
    ssize_t n = pread(fd, b.data + b.len, 1 << 20, (off_t)rdpos);
    if (n < 0) {
      if (errno == EINTR) continue;
      goto out;
    }
    if (n == 0) break;
    b.len += (size_t)n;
    rdpos += n;
  }
  ret = pos;
out:
  cs_buf_free(&b);
  close(fd);
  return ret;
}

int cs_coll_can_read(const cs_coll_cfg *cfg, const char *can_path, int64_t off, int64_t len,
                     cs_buf *out) {
  if (!cfg->data_dir || !can_path || !can_path_ok(can_path) || off < 0 || len <= 0 ||
      len > (int64_t)256 << 20)
    return -1;
  char full[PATH_MAX + 64];
  snprintf(full, sizeof full, "%s/%s", cfg->data_dir, can_path);
  int fd = open(full, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = -1;
  if (cs_buf_reserve(out, (size_t)len) == 0) {
    ssize_t n = pread(fd, out->data + out->len, (size_t)len, (off_t)off);
    if (n == len) {
      out->len += (size_t)n;
      rc = 0;
    }
  }
  close(fd);
  return rc;
}
