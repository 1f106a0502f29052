/* test_conn.c - the TCP connect step and the measured byte stream, against loopback servers:
 * success, connection_refused, generic_timeout_error (full accept queue), connection_reset,
 * eof, the recorded tcp_connect record and read/write/connect network events (counts, bytes,
 * the 64-event cap), throughput samples and freeing a conn from its own callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/conn.h"
#include "record/record.h"
#include "tcp_servers.h"
#include "util/timeutil.h"

typedef struct {
  cs_loop *l;
  cs_trace *t;
  cs_conn *c;
  const char *cfail;
  int ccalls;
  uint8_t rbuf[4096];
  size_t got;
  const char *rfail;
  const char *wfail;
  bool free_in_cb;
  bool eof;
  size_t chunk; /* read at most this many bytes per cs_conn_read (0: the whole buffer) */
} ctx_t;

static size_t rcap(const ctx_t *x) {
  size_t left = sizeof x->rbuf - x->got;
  return x->chunk && x->chunk < left ? x->chunk : left;
}

static void ctx_init(ctx_t *x) {
  memset(x, 0, sizeof *x);
  x->l = cs_loop_new();
  x->t = cs_trace_new(cs_mono_now(), 0);
  assert_non_null(x->l);
  assert_non_null(x->t);
}

static void ctx_free(ctx_t *x) {
  cs_conn_free(x->c);
  cs_trace_free(x->t);
  cs_loop_free(x->l);
}

static void on_connect(cs_conn *c, const char *failure, void *data) {
  ctx_t *x = data;
  assert_ptr_equal(c, x->c);
  x->ccalls++;
  x->cfail = failure;
  if (x->free_in_cb) {
    cs_conn_free(c);
    x->c = NULL;
  }
}

static cs_conn *start(ctx_t *x, uint16_t port, const cs_conn_opts *o) {
  cs_ip ip;
  assert_true(cs_ip_parse("127.0.0.1", &ip));
  x->c = cs_conn_connect(x->l, x->t, &ip, port, o, on_connect, x);
  assert_non_null(x->c);
  assert_int_equal(x->ccalls, 0); /* never synchronous */
  return x->c;
}

static size_t count_events(const cs_trace *t, const char *op) {
  size_t n = 0;
  for (const cs_netevent_rec *e = t->events.head; e; e = e->next)
    if (!strcmp(e->operation, op)) n++;
  return n;
}

static const cs_netevent_rec *nth_event_or_null(const cs_trace *t, const char *op, size_t i) {
  for (const cs_netevent_rec *e = t->events.head; e; e = e->next)
    if (!strcmp(e->operation, op) && i-- == 0) return e;
  return NULL;
}

__attribute__((returns_nonnull)) static const cs_netevent_rec *nth_event(const cs_trace *t,
                                                                         const char *op, size_t i) {
  const cs_netevent_rec *e = nth_event_or_null(t, op, i);
  if (!e) {
    fail_msg("no event %s #%zu", op, i);
    abort();
  }
  return e;
}

static void test_connect_success(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_STALL};
  tsrv *s = tsrv_start(&cfg);
  ctx_t x;
  ctx_init(&x);
  const char *tags[] = {"depth=0", "fetch_body=true"};
  cs_conn_opts o = {.transaction_id = 40001, .tags = tags, .ntags = 2};
  start(&x, tsrv_port(s), &o);
  assert_int_equal(cs_loop_run(x.l), 0);
  assert_int_equal(x.ccalls, 1);
  assert_null(x.cfail);
  assert_int_equal(x.t->tcp.n, 1);
  const cs_tcp_rec *r = x.t->tcp.head;
  assert_string_equal(r->ip, "127.0.0.1");
  assert_int_equal(r->port, tsrv_port(s));
  assert_null(r->failure);
  assert_true(r->success);
  assert_int_equal(r->c.transaction_id, 40001);
  assert_int_equal(r->c.ntags, 2);
  assert_string_equal(r->c.tags[1], "fetch_body=true");
  assert_true(r->c.t >= r->c.t0);
  assert_int_equal(x.t->events.n, 1);
  const cs_netevent_rec *e = x.t->events.head;
  assert_string_equal(e->operation, "connect");
  assert_string_equal(e->proto, "tcp");
  assert_null(e->failure);
  char want[32];
  snprintf(want, sizeof want, "127.0.0.1:%u", tsrv_port(s));
  assert_string_equal(e->address, want);
  assert_string_equal(cs_conn_address(x.c), want);
  assert_int_equal(e->c.transaction_id, 40001);
  ctx_free(&x);
  tsrv_stop(s);
}

static void test_connect_refused(void **st) {
  (void)st;
  ctx_t x;
  ctx_init(&x);
  x.free_in_cb = true; /* freeing from inside the callback is allowed */
  start(&x, tsrv_closed_port(), NULL);
  assert_int_equal(cs_loop_run(x.l), 0);
  assert_int_equal(x.ccalls, 1);
  assert_string_equal(x.cfail, "connection_refused");
  const cs_tcp_rec *r = x.t->tcp.head;
  assert_string_equal(r->failure, "connection_refused");
  assert_false(r->success);
  assert_int_equal(count_events(x.t, "connect"), 1);
  assert_string_equal(x.t->events.head->failure, "connection_refused");
  ctx_free(&x);
}

static void test_connect_refused_v6(void **st) {
  (void)st;
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  socklen_t al = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    if (fd >= 0) close(fd);
    skip(); /* no IPv6 loopback here */
  }
  getsockname(fd, (struct sockaddr *)&a, &al);
  close(fd);
  uint16_t port = ntohs(a.sin6_port);
  ctx_t x;
  ctx_init(&x);
  cs_ip ip;
  assert_true(cs_ip_parse("::1", &ip));
  x.c = cs_conn_connect(x.l, x.t, &ip, port, NULL, on_connect, &x);
  assert_int_equal(cs_loop_run(x.l), 0);
  assert_string_equal(x.cfail, "connection_refused");
  assert_string_equal(x.t->tcp.head->ip, "::1");
  char want[40];
  snprintf(want, sizeof want, "[::1]:%u", port);
  assert_string_equal(x.t->events.head->address, want);
  ctx_free(&x);
}

/* A listener with a full accept queue drops SYNs: the connect never completes. */
static void test_connect_timeout(void **st) {
  (void)st;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(lfd, 0), 0);
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
  int fill[4];
  for (int i = 0; i < 4; i++) { /* fill the queue (non-blocking: later ones just hang) */
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    (void)connect(fill[i], (struct sockaddr *)&a, sizeof a);
  }
  usleep(50000);
  ctx_t x;
  ctx_init(&x);
  cs_conn_opts o = {.connect_timeout = 0.3};
  double t0 = cs_mono_now();
  start(&x, ntohs(a.sin_port), &o);
  assert_int_equal(cs_loop_run(x.l), 0);
  double dt = cs_mono_now() - t0;
  assert_string_equal(x.cfail, "generic_timeout_error");
  assert_string_equal(x.t->tcp.head->failure, "generic_timeout_error");
  assert_true(dt >= 0.29 && dt < 2.0);
  const cs_tcp_rec *r = x.t->tcp.head;
  assert_true(r->c.t - r->c.t0 >= 0.29);
  ctx_free(&x);
  for (int i = 0; i < 4; i++) close(fill[i]);
  close(lfd);
}

/* ---- data transfer --------------------------------------------------------------------- */

static void on_read(cs_conn *c, ssize_t n, const char *failure, void *data) {
  ctx_t *x = data;
  if (n > 0) {
    x->got += (size_t)n;
    assert_int_equal(cs_conn_read(c, x->rbuf + x->got, rcap(x), on_read, x), 0);
    return;
  }
  x->rfail = failure;
  x->eof = n == 0;
}

static void on_written(cs_conn *c, ssize_t n, const char *failure, void *data) {
  ctx_t *x = data;
  x->wfail = failure;
  if (n > 0) assert_int_equal(cs_conn_read(c, x->rbuf, rcap(x), on_read, x), 0);
}

static void on_connect_write(cs_conn *c, const char *failure, void *data) {
  ctx_t *x = data;
  x->ccalls++;
  x->cfail = failure;
  assert_null(failure);
  static const char req[] = "GET / HTTP/1.1\r\n\r\n";
  assert_int_equal(cs_conn_write(c, req, sizeof req - 1, on_written, x), 0);
  assert_int_equal(cs_conn_write(c, req, sizeof req - 1, on_written, x), -1); /* one at a time */
}

static void run_exchange(ctx_t *x, uint16_t port, const cs_conn_opts *o) {
  cs_ip ip;
  cs_ip_parse("127.0.0.1", &ip);
  x->c = cs_conn_connect(x->l, x->t, &ip, port, o, on_connect_write, x);
  assert_int_equal(cs_loop_run(x->l), 0);
}

static void test_read_write_events(void **st) {
  (void)st;
  static const char resp[] = "hello, world";
  tsrv_cfg cfg = {.mode = TSRV_RESPOND, .resp = (const uint8_t *)resp, .resp_len = 12};
  tsrv *s = tsrv_start(&cfg);
  ctx_t x;
  ctx_init(&x);
  run_exchange(&x, tsrv_port(s), NULL);
  assert_null(x.wfail);
  assert_true(x.eof);
  assert_string_equal(x.rfail, "eof_error");
  assert_int_equal(x.got, 12);
  assert_memory_equal(x.rbuf, resp, 12);
  assert_int_equal(count_events(x.t, "connect"), 1);
  assert_int_equal(count_events(x.t, "write"), 1);
  const cs_netevent_rec *w = nth_event(x.t, "write", 0);
  assert_int_equal(w->num_bytes, 18);
  assert_null(w->failure);
  /* reads: data (possibly split), then one EOF read */
  size_t nr = count_events(x.t, "read"), sum = 0;
  assert_true(nr >= 2);
  for (size_t i = 0; i + 1 < nr; i++) {
    const cs_netevent_rec *e = nth_event(x.t, "read", i);
    assert_null(e->failure);
    sum += (size_t)e->num_bytes;
  }
  assert_int_equal(sum, 12);
  const cs_netevent_rec *last = nth_event(x.t, "read", nr - 1);
  assert_string_equal(last->failure, "eof_error");
  assert_int_equal(last->num_bytes, 0);
  assert_int_equal(cs_conn_bytes_read(x.c), 12);
  assert_int_equal(cs_conn_bytes_written(x.c), 18);
  size_t ns;
  const cs_conn_sample *sm = cs_conn_samples(x.c, &ns);
  assert_int_equal(ns, nr - 1);
  assert_int_equal(sm[ns - 1].bytes, 12);
  cs_conn_emit_cumulative(x.c);
  const cs_netevent_rec *cum = nth_event(x.t, "bytes_received_cumulative", 0);
  assert_non_null(cum);
  assert_int_equal(cum->num_bytes, 12);
  size_t len;
  const char *req = tsrv_last_request(s, &len);
  assert_string_equal(req, "GET / HTTP/1.1\r\n\r\n");
  ctx_free(&x);
  tsrv_stop(s);
}

static void test_event_cap(void **st) {
  (void)st;
  /* A response bigger than the small read buffer, read with max_events = 3: the events stop
   * at 3 but the byte counter and the samples keep going. */
  size_t n = 3000;
  uint8_t *resp = malloc(n);
  memset(resp, 'z', n);
  tsrv_cfg cfg = {.mode = TSRV_RESPOND, .resp = resp, .resp_len = n};
  tsrv *s = tsrv_start(&cfg);
  free(resp);
  ctx_t x;
  ctx_init(&x);
  cs_conn_opts o = {.max_events = 3};
  x.chunk = 256;
  run_exchange(&x, tsrv_port(s), &o);
  assert_int_equal(x.got, n);
  assert_int_equal(count_events(x.t, "read") + count_events(x.t, "write"), 3);
  assert_int_equal(count_events(x.t, "connect"), 1); /* not capped */
  assert_true(cs_conn_events_dropped(x.c) >= 10);
  assert_int_equal(cs_conn_bytes_read(x.c), n);
  size_t ns;
  const cs_conn_sample *sm = cs_conn_samples(x.c, &ns);
  assert_true(ns >= 12);
  assert_int_equal(sm[ns - 1].bytes, n);
  for (size_t i = 1; i < ns; i++)
    assert_true(sm[i].bytes > sm[i - 1].bytes && sm[i].t >= sm[i - 1].t);
  ctx_free(&x);
  tsrv_stop(s);
}

typedef struct {
  size_t calls;
  uint64_t last, sum;
  double last_t;
  const cs_conn *c;
} obs_t;

static void observer(void *arg, cs_conn *c, double t, size_t n, uint64_t cum) {
  obs_t *o = arg;
  assert_ptr_equal(c, o->c);
  assert_true(n > 0 && cum > o->last && t >= o->last_t);
  o->sum += n;
  assert_int_equal(cum, o->sum);
  o->calls++, o->last = cum, o->last_t = t;
}

static void test_read_observer(void **st) {
  (void)st;
  /* every read with bytes reaches the observer while the conn lives, with a growing total;
   * it agrees with the samples; a cleared observer is not called */
  size_t n = 3000;
  uint8_t *resp = malloc(n);
  memset(resp, 'o', n);
  tsrv_cfg cfg = {.mode = TSRV_RESPOND, .resp = resp, .resp_len = n};
  tsrv *s = tsrv_start(&cfg);
  free(resp);
  ctx_t x;
  ctx_init(&x);
  x.chunk = 256;
  obs_t o = {0};
  cs_ip ip;
  cs_ip_parse("127.0.0.1", &ip);
  x.c = cs_conn_connect(x.l, x.t, &ip, tsrv_port(s), NULL, on_connect_write, &x);
  o.c = x.c;
  cs_conn_set_observer(x.c, observer, &o);
  assert_int_equal(cs_loop_run(x.l), 0);
  assert_int_equal(x.got, n);
  assert_int_equal(o.last, n);
  assert_true(o.calls >= 12);
  size_t ns;
  cs_conn_samples(x.c, &ns);
  assert_int_equal(o.calls, ns);
  ctx_free(&x);

  obs_t none = {0};
  ctx_init(&x);
  x.c = cs_conn_connect(x.l, x.t, &ip, tsrv_port(s), NULL, on_connect_write, &x);
  cs_conn_set_observer(x.c, observer, &none);
  cs_conn_set_observer(x.c, NULL, NULL);
  assert_int_equal(cs_loop_run(x.l), 0);
  assert_int_equal(x.got, n);
  assert_int_equal(none.calls, 0);
  ctx_free(&x);
  tsrv_stop(s);
}

static void test_reset(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_RST};
  tsrv *s = tsrv_start(&cfg);
  ctx_t x;
  ctx_init(&x);
  run_exchange(&x, tsrv_port(s), NULL);
  assert_string_equal(x.rfail, "connection_reset");
  assert_int_equal(x.got, 0);
  const cs_netevent_rec *e = nth_event(x.t, "read", count_events(x.t, "read") - 1);
  assert_string_equal(e->failure, "connection_reset");
  ctx_free(&x);
  tsrv_stop(s);
}

static void test_fin(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_FIN};
  tsrv *s = tsrv_start(&cfg);
  ctx_t x;
  ctx_init(&x);
  run_exchange(&x, tsrv_port(s), NULL);
  assert_true(x.eof);
  assert_string_equal(x.rfail, "eof_error");
  ctx_free(&x);
  tsrv_stop(s);
}

static void on_timer_cancel(cs_timer *t) {
  ctx_t *x = t->data;
  cs_conn_cancel(x->c, "generic_timeout_error");
}

static void test_cancel_records_timeout(void **st) {
  (void)st;
  tsrv_cfg cfg = {.mode = TSRV_STALL};
  tsrv *s = tsrv_start(&cfg);
  ctx_t x;
  ctx_init(&x);
  cs_ip ip;
  cs_ip_parse("127.0.0.1", &ip);
  x.c = cs_conn_connect(x.l, x.t, &ip, tsrv_port(s), NULL, on_connect_write, &x);
  cs_timer tm = {0};
  cs_timer_start(x.l, &tm, 0.2, on_timer_cancel, &x);
  assert_int_equal(cs_loop_run(x.l), 0); /* ends: the cancelled read leaves nothing active */
  assert_null(x.rfail);                  /* the callback is not called on cancel */
  const cs_netevent_rec *e = nth_event(x.t, "read", 0);
  assert_non_null(e);
  assert_string_equal(e->failure, "generic_timeout_error");
  assert_true(e->c.t - e->c.t0 >= 0.15); /* spans the wait, like Go's blocking Read */
  ctx_free(&x);
  tsrv_stop(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_success),
      cmocka_unit_test(test_connect_refused),
      cmocka_unit_test(test_connect_refused_v6),
      cmocka_unit_test(test_connect_timeout),
      cmocka_unit_test(test_read_write_events),
      cmocka_unit_test(test_event_cap),
      cmocka_unit_test(test_read_observer),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_fin),
      cmocka_unit_test(test_cancel_records_timeout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
