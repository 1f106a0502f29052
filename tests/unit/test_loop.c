/* test_loop.c - the event loop: timer order, io readiness, stopping watchers mid-batch,
 * deferred calls and the worker pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/loop.h"

static char order[16];
static size_t norder;

static void tcb(cs_timer *t) { order[norder++] = *(const char *)t->data; }

static void test_timer_order(void **st) {
  (void)st;
  cs_loop *l = cs_loop_new();
  cs_timer a = {0}, b = {0}, c = {0}, d = {0};
  norder = 0;
  static char na = 'a', nb = 'b', nc = 'c', nd = 'd';
  cs_timer_start(l, &a, 0.03, tcb, &na);
  cs_timer_start(l, &b, 0.01, tcb, &nb);
  cs_timer_start(l, &c, 0.02, tcb, &nc);
  cs_timer_start(l, &d, 0.015, tcb, &nd);
  cs_timer_stop(l, &d); /* never fires */
  assert_int_equal(cs_loop_run(l), 0);
  order[norder] = 0;
  assert_string_equal(order, "bca");
  cs_loop_free(l);
}

typedef struct {
  cs_io w[2];
  int fds[2][2];
  int calls;
} two_pipes;

/* The first callback to run stops the other watcher: it must not be called afterwards. */
static void io_cb(cs_io *w, unsigned ev) {
  two_pipes *tp = w->data;
  assert_true(ev & CS_EV_READ);
  tp->calls++;
  cs_loop *l = *(cs_loop **)((char *)tp + sizeof *tp);
  cs_io_stop(l, &tp->w[0]);
  cs_io_stop(l, &tp->w[1]);
}

static void test_io_stop_in_batch(void **st) {
  (void)st;
  struct {
    two_pipes tp;
    cs_loop *l;
  } s;
  memset(&s, 0, sizeof s);
  s.l = cs_loop_new();
  for (int i = 0; i < 2; i++) {
    assert_int_equal(pipe(s.tp.fds[i]), 0);
    assert_int_equal(write(s.tp.fds[i][1], "x", 1), 1);
    assert_int_equal(cs_io_start(s.l, &s.tp.w[i], s.tp.fds[i][0], CS_EV_READ, io_cb, &s.tp), 0);
  }
  assert_int_equal(cs_loop_run(s.l), 0);
  assert_int_equal(s.tp.calls, 1);
  for (int i = 0; i < 2; i++) close(s.tp.fds[i][0]), close(s.tp.fds[i][1]);
  cs_loop_free(s.l);
}

static int ndefer;
static cs_loop *dl;
static cs_defer d2;
static void dcb2(cs_defer *d) {
  (void)d;
  ndefer += 10;
}
static void dcb(cs_defer *d) {
  (void)d;
  ndefer++;
  cs_defer_call(dl, &d2, dcb2, NULL); /* runs on the next turn, still within cs_loop_run */
}

static void test_defer(void **st) {
  (void)st;
  dl = cs_loop_new();
  cs_defer d = {0}, dc = {0};
  memset(&d2, 0, sizeof d2);
  ndefer = 0;
  cs_defer_call(dl, &d, dcb, NULL);
  cs_defer_call(dl, &d, dcb, NULL); /* already queued: no-op */
  cs_defer_call(dl, &dc, dcb, NULL);
  cs_defer_cancel(dl, &dc);
  cs_loop_run(dl);
  assert_int_equal(ndefer, 11);
  cs_loop_free(dl);
}

typedef struct {
  cs_work w;
  int in, out;
  int done;
} job;
static void work_fn(cs_work *w) {
  job *j = w->data;
  usleep(1000);
  j->out = j->in * 2;
}
static void work_done(cs_work *w) {
  job *j = w->data;
  j->done = 1;
}

static void test_work_pool(void **st) {
  (void)st;
  cs_loop *l = cs_loop_new();
  job jobs[20];
  memset(jobs, 0, sizeof jobs);
  for (int i = 0; i < 20; i++) {
    jobs[i].in = i;
    assert_int_equal(cs_work_submit(l, &jobs[i].w, work_fn, work_done, &jobs[i]), 0);
  }
  cs_loop_run(l); /* must not return before every done callback ran */
  for (int i = 0; i < 20; i++) {
    assert_int_equal(jobs[i].done, 1);
    assert_int_equal(jobs[i].out, 2 * i);
  }
  cs_loop_free(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timer_order),
      cmocka_unit_test(test_io_stop_in_batch),
      cmocka_unit_test(test_defer),
      cmocka_unit_test(test_work_pool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
