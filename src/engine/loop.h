/* loop.h - the event loop: one per thread, epoll, a timer heap, deferred calls and a small
 * worker pool for the few calls that can only block (getaddrinfo). No step ever blocks the
 * loop; every step has a deadline timer.
 *
 * Handles are embedded in their owner's struct (libuv style): no allocation per watcher, and
 * stopping a handle is always safe, even from inside its own or another handle's callback. */
#ifndef CS_LOOP_H
#define CS_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cs_loop cs_loop;

enum { CS_EV_READ = 1, CS_EV_WRITE = 2, CS_EV_ERROR = 4 /* EPOLLERR/EPOLLHUP, always reported */ };

typedef struct cs_io cs_io;
typedef void (*cs_io_cb)(cs_io *w, unsigned events);
struct cs_io {
  int fd;
  unsigned events;
  cs_io_cb cb;
  void *data;
  bool active;
};

typedef struct cs_timer cs_timer;
typedef void (*cs_timer_cb)(cs_timer *t);
struct cs_timer {
  double due;
  uint64_t seq; /* FIFO order among equal deadlines */
  size_t heap_idx;
  cs_timer_cb cb;
  void *data;
  bool active;
};

typedef struct cs_defer cs_defer;
typedef void (*cs_defer_cb)(cs_defer *d);
struct cs_defer {
  cs_defer *next;
  cs_defer_cb cb;
  void *data;
  bool queued;
};

typedef struct cs_work cs_work;
typedef void (*cs_work_fn)(cs_work *w);   /* runs on a worker thread: may block */
typedef void (*cs_work_done)(cs_work *w); /* runs on the loop thread afterwards */
struct cs_work {
  cs_work *next;
  cs_loop *loop;
  cs_work_fn fn;
  cs_work_done done;
  void *data;
};

cs_loop *cs_loop_new(void);
void cs_loop_free(cs_loop *l);
/* Runs until nothing is active (no io, timer, deferred call or pending work) or
 * cs_loop_stop() is called. Returns 0, or -1 on an epoll failure. */
int cs_loop_run(cs_loop *l);
void cs_loop_stop(cs_loop *l);
/* Monotonic seconds, cached at the start of each iteration and refreshed by
 * cs_loop_update_now(). */
double cs_loop_now(const cs_loop *l);
void cs_loop_update_now(cs_loop *l);

int cs_io_start(cs_loop *l, cs_io *w, int fd, unsigned events, cs_io_cb cb, void *data);
int cs_io_set(cs_loop *l, cs_io *w, unsigned events);
void cs_io_stop(cs_loop *l, cs_io *w);

void cs_timer_start(cs_loop *l, cs_timer *t, double after_s, cs_timer_cb cb, void *data);
void cs_timer_stop(cs_loop *l, cs_timer *t);

/* Calls cb on the next loop iteration (used to complete a step without re-entering the
 * caller). Queuing an already-queued cs_defer is a no-op. */
void cs_defer_call(cs_loop *l, cs_defer *d, cs_defer_cb cb, void *data);
void cs_defer_cancel(cs_loop *l, cs_defer *d);

/* At most n worker threads (1..64; default 4), started on demand. Blocking work such as
 * getaddrinfo waits in a queue when all are busy, so a run with many concurrent lookups
 * needs more workers. */
void cs_loop_set_workers(cs_loop *l, int n);

/* Runs fn on a worker thread, then done on the loop. The cs_work must stay valid until done
 * runs; work cannot be cancelled (its owner must wait for done). */
int cs_work_submit(cs_loop *l, cs_work *w, cs_work_fn fn, cs_work_done done, void *data);

#endif
