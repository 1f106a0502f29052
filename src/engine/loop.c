/* loop.c - epoll event loop, timer heap, deferred calls, worker pool (see loop.h). */
#include "engine/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/timeutil.h"

#define MAX_EVENTS 128
#define WORKERS_DEFAULT 4
#define WORKERS_MAX 64

struct cs_loop {
  int epfd;
  double now;
  bool stop;
  size_t nio; /* active user io watchers */
  /* timers: binary min-heap ordered by (due, seq) */
  cs_timer **heap;
  size_t nheap, capheap;
  uint64_t timer_seq;
  /* deferred calls: FIFO */
  cs_defer *dhead, *dtail;
  /* events of the current epoll batch; cs_io_stop() clears entries pointing to a stopped
   * watcher so a watcher freed by an earlier callback in the batch is never touched */
  struct epoll_event batch[MAX_EVENTS];
  int nbatch;
  /* worker pool */
  pthread_t threads[WORKERS_MAX];
  int nthreads, max_workers;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  cs_work *qhead, *qtail;   /* submitted, not started */
  cs_work *dnhead, *dntail; /* finished, done not yet called */
  size_t npending;          /* submitted and done not yet called */
  bool quit;
  int efd;
  cs_io efd_io;
};

static void *worker_main(void *arg);

static void work_wakeup(cs_io *w, unsigned ev);

cs_loop *cs_loop_new(void) {
  cs_loop *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (l->epfd < 0 || l->efd < 0) {
    if (l->epfd >= 0) close(l->epfd);
    if (l->efd >= 0) close(l->efd);
    free(l);
    return NULL;
  }
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  l->now = cs_mono_now();
  l->max_workers = WORKERS_DEFAULT;
  if (cs_io_start(l, &l->efd_io, l->efd, CS_EV_READ, work_wakeup, l) < 0) {
    cs_loop_free(l);
    return NULL;
  }
  l->nio--; /* the internal wakeup watcher does not keep the loop alive */
  return l;
}

void cs_loop_free(cs_loop *l) {
  if (!l) return;
  pthread_mutex_lock(&l->mu);
  l->quit = true;
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
  for (int i = 0; i < l->nthreads; i++) pthread_join(l->threads[i], NULL);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  close(l->efd);
  close(l->epfd);
  free(l->heap);
  free(l);
}

double cs_loop_now(const cs_loop *l) { return l->now; }
void cs_loop_update_now(cs_loop *l) { l->now = cs_mono_now(); }
void cs_loop_stop(cs_loop *l) { l->stop = true; }

/* ---- io -------------------------------------------------------------------------------- */

static uint32_t to_epoll(unsigned ev) {
  return ((ev & CS_EV_READ) ? EPOLLIN : 0u) | ((ev & CS_EV_WRITE) ? EPOLLOUT : 0u);
}

int cs_io_start(cs_loop *l, cs_io *w, int fd, unsigned events, cs_io_cb cb, void *data) {
  struct epoll_event e = {.events = to_epoll(events), .data.ptr = w};
  if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) < 0) return -1;
  w->fd = fd, w->events = events, w->cb = cb, w->data = data, w->active = true;
  l->nio++;
  return 0;
}

int cs_io_set(cs_loop *l, cs_io *w, unsigned events) {
  if (!w->active) return -1;
  if (events == w->events) return 0;
  struct epoll_event e = {.events = to_epoll(events), .data.ptr = w};
  if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &e) < 0) return -1;
  w->events = events;
  return 0;
}

void cs_io_stop(cs_loop *l, cs_io *w) {
  if (!w->active) return;
  epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
  w->active = false;
  l->nio--;
  for (int i = 0; i < l->nbatch; i++)
    if (l->batch[i].data.ptr == w) l->batch[i].data.ptr = NULL;
}

/* ---- timers ---------------------------------------------------------------------------- */

static bool tless(const cs_timer *a, const cs_timer *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}
static void hswap(cs_loop *l, size_t i, size_t j) {
  cs_timer *t = l->heap[i];
  l->heap[i] = l->heap[j], l->heap[j] = t;
  l->heap[i]->heap_idx = i, l->heap[j]->heap_idx = j;
}
static void sift_up(cs_loop *l, size_t i) {
  while (i > 0 && tless(l->heap[i], l->heap[(i - 1) / 2])) {
    hswap(l, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}
static void sift_down(cs_loop *l, size_t i) {
  for (;;) {
    size_t m = i, a = 2 * i + 1, b = a + 1;
    if (a < l->nheap && tless(l->heap[a], l->heap[m])) m = a;
    if (b < l->nheap && tless(l->heap[b], l->heap[m])) m = b;
    if (m == i) return;
    hswap(l, i, m);
    i = m;
  }
}

void cs_timer_start(cs_loop *l, cs_timer *t, double after_s, cs_timer_cb cb, void *data) {
  if (t->active) cs_timer_stop(l, t);
  if (l->nheap == l->capheap) {
    size_t nc = l->capheap ? l->capheap * 2 : 64;
    cs_timer **nh = realloc(l->heap, nc * sizeof *nh);
    if (!nh) abort(); /* a few pointers; failing here leaves no safe way to keep a deadline */
    l->heap = nh, l->capheap = nc;
  }
  t->due = cs_mono_now() + (after_s > 0 ? after_s : 0);
  t->seq = l->timer_seq++;
  t->cb = cb, t->data = data, t->active = true;
  t->heap_idx = l->nheap;
  l->heap[l->nheap++] = t;
  sift_up(l, t->heap_idx);
}

void cs_timer_stop(cs_loop *l, cs_timer *t) {
  if (!t->active) return;
  size_t i = t->heap_idx;
  t->active = false;
  l->nheap--;
  if (i != l->nheap) {
    l->heap[i] = l->heap[l->nheap];
    l->heap[i]->heap_idx = i;
    sift_down(l, i);
    sift_up(l, i);
  }
}

/* ---- deferred calls -------------------------------------------------------------------- */

void cs_defer_call(cs_loop *l, cs_defer *d, cs_defer_cb cb, void *data) {
  if (d->queued) return;
  d->cb = cb, d->data = data, d->queued = true, d->next = NULL;
  if (l->dtail) l->dtail->next = d;
  else l->dhead = d;
  l->dtail = d;
}

void cs_defer_cancel(cs_loop *l, cs_defer *d) {
  if (!d->queued) return;
  cs_defer **pp = &l->dhead, *prev = NULL;
  while (*pp && *pp != d) prev = *pp, pp = &(*pp)->next;
  if (*pp) {
    *pp = d->next;
    if (l->dtail == d) l->dtail = prev;
  }
  d->queued = false;
}

static void run_defers(cs_loop *l) {
  /* Only the calls queued before this point run now; new ones wait for the next turn.
   * Items stay in the list until run, so cs_defer_cancel() works from any callback. */
  size_t n = 0;
  for (cs_defer *d = l->dhead; d; d = d->next) n++;
  while (n-- > 0 && l->dhead) {
    cs_defer *d = l->dhead;
    l->dhead = d->next;
    if (!l->dhead) l->dtail = NULL;
    d->queued = false;
    d->next = NULL;
    d->cb(d);
  }
}

/* ---- worker pool ----------------------------------------------------------------------- */

static void *worker_main(void *arg) {
  cs_loop *l = arg;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    while (!l->qhead && !l->quit) pthread_cond_wait(&l->cv, &l->mu);
    if (l->quit) break;
    cs_work *w = l->qhead;
    l->qhead = w->next;
    if (!l->qhead) l->qtail = NULL;
    pthread_mutex_unlock(&l->mu);
    w->fn(w);
    pthread_mutex_lock(&l->mu);
    w->next = NULL;
    if (l->dntail) l->dntail->next = w;
    else l->dnhead = w;
    l->dntail = w;
    uint64_t one = 1;
    ssize_t r = write(l->efd, &one, sizeof one);
    (void)r;
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

void cs_loop_set_workers(cs_loop *l, int n) {
  pthread_mutex_lock(&l->mu);
  l->max_workers = n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : n;
  pthread_mutex_unlock(&l->mu);
}

int cs_work_submit(cs_loop *l, cs_work *w, cs_work_fn fn, cs_work_done done, void *data) {
  w->loop = l, w->fn = fn, w->done = done, w->data = data, w->next = NULL;
  pthread_mutex_lock(&l->mu);
  if (l->nthreads < l->max_workers && l->npending >= (size_t)l->nthreads) {
    if (pthread_create(&l->threads[l->nthreads], NULL, worker_main, l) == 0) l->nthreads++;
  }
  if (l->nthreads == 0) {
    pthread_mutex_unlock(&l->mu);
    return -1;
  }
  if (l->qtail) l->qtail->next = w;
  else l->qhead = w;
  l->qtail = w;
  l->npending++;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
  return 0;
}

static void work_wakeup(cs_io *io, unsigned ev) {
  (void)ev;
  cs_loop *l = io->data;
  uint64_t v;
  ssize_t r = read(l->efd, &v, sizeof v);
  (void)r;
  pthread_mutex_lock(&l->mu);
  cs_work *w = l->dnhead;
  l->dnhead = l->dntail = NULL;
  pthread_mutex_unlock(&l->mu);
  while (w) {
    cs_work *n = w->next;
    pthread_mutex_lock(&l->mu);
    l->npending--;
    pthread_mutex_unlock(&l->mu);
    w->done(w);
    w = n;
  }
}

/* ---- run ------------------------------------------------------------------------------- */

static bool alive(cs_loop *l) {
  pthread_mutex_lock(&l->mu);
  size_t pend = l->npending;
  pthread_mutex_unlock(&l->mu);
  return l->nio > 0 || l->nheap > 0 || l->dhead != NULL || pend > 0;
}

int cs_loop_run(cs_loop *l) {
  l->stop = false;
  while (!l->stop && alive(l)) {
    l->now = cs_mono_now();
    int timeout = -1;
    if (l->dhead) timeout = 0;
    else if (l->nheap) {
      double d = l->heap[0]->due - l->now;
      timeout = d <= 0 ? 0 : (int)(d * 1000.0) + 1;
    }
    int n = epoll_wait(l->epfd, l->batch, MAX_EVENTS, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    l->nbatch = n;
    l->now = cs_mono_now();
    for (int i = 0; i < n; i++) {
      cs_io *w = l->batch[i].data.ptr;
      if (!w) continue; /* stopped by an earlier callback in this batch */
      uint32_t e = l->batch[i].events;
      unsigned ev = ((e & EPOLLIN) ? CS_EV_READ : 0u) | ((e & EPOLLOUT) ? CS_EV_WRITE : 0u) |
                    ((e & (EPOLLERR | EPOLLHUP)) ? CS_EV_ERROR : 0u);
      w->cb(w, ev);
    }
    l->nbatch = 0;
    /* expired timers */
    double now = cs_mono_now();
    while (l->nheap && l->heap[0]->due <= now) {
      cs_timer *t = l->heap[0];
      cs_timer_stop(l, t);
      t->cb(t);
    }
    if (l->dhead) run_defers(l);
  }
  return 0;
}
