/* test_udp.c - the UDP exchange step (engine/udp.h) against a loopback echo server started
 * here that answers every datagram twice from its port and once from another port: every
 * reply is recorded with its source (duplicates and the other port included), the reply
 * limit ends the exchange early, the deadline without a reply is generic_timeout_error, the
 * send interval spaces the datagrams, the kept bytes are bounded, misuse is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/udp.h"
#include "record/record.h"
#include "util/timeutil.h"

/* ---- the echo server -------------------------------------------------------------------- */

typedef struct {
  int fd, other; /* the server's port, and a second socket (another source port) */
  uint16_t port, other_port;
  int stop[2];
  pthread_t th;
  size_t pad; /* > 0: reply with `pad` bytes of 'p' instead of the datagram */
} echo_srv;

static int udp_socket(int family, uint16_t *port) {
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_storage ss = {0};
  socklen_t sl;
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET, a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sl = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6, a->sin6_addr = in6addr_loopback;
    sl = sizeof *a;
  }
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl)) {
    close(fd);
    return -1;
  }
  *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                  : ((struct sockaddr_in6 *)&ss)->sin6_port);
  return fd;
}

static void *echo_main(void *arg) {
  echo_srv *s = arg;
  uint8_t b[2048], pad[2048];
  memset(pad, 'p', sizeof pad);
  for (;;) {
    struct pollfd p[2] = {{s->fd, POLLIN, 0}, {s->stop[0], POLLIN, 0}};
    if (poll(p, 2, -1) < 0 || p[1].revents) return NULL;
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(s->fd, b, sizeof b, 0, (struct sockaddr *)&from, &fl);
    if (n <= 0) continue;
    const uint8_t *r = s->pad ? pad : b;
    size_t rl = s->pad ? s->pad : (size_t)n;
    (void)!sendto(s->fd, r, rl, 0, (struct sockaddr *)&from, fl);
    (void)!sendto(s->fd, r, rl, 0, (struct sockaddr *)&from, fl);    /* a duplicate */
    (void)!sendto(s->other, r, rl, 0, (struct sockaddr *)&from, fl); /* from elsewhere */
  }
}

static bool echo_start(echo_srv *s, int family, size_t pad) {
  memset(s, 0, sizeof *s);
  s->pad = pad;
  s->fd = udp_socket(family, &s->port);
  s->other = udp_socket(family, &s->other_port);
  if (s->fd < 0 || s->other < 0) {
    if (s->fd >= 0) close(s->fd);
    if (s->other >= 0) close(s->other);
    return false;
  }
  assert_int_equal(pipe(s->stop), 0);
  assert_int_equal(pthread_create(&s->th, NULL, echo_main, s), 0);
  return true;
}

static void echo_stop(echo_srv *s) {
  (void)!write(s->stop[1], "x", 1);
  pthread_join(s->th, NULL);
  close(s->fd), close(s->other), close(s->stop[0]), close(s->stop[1]);
}

/* ---- running an exchange ---------------------------------------------------------------- */

typedef struct {
  cs_loop *l;
  cs_trace *t;
  int calls;
  const char *failure;
  cs_udp_reply rep[64];
  char src[64][64];
  size_t nrep, nsent;
  bool limit;
  double dt;
} ux;

static void on_udp(void *arg, const cs_udp_result *r) {
  ux *x = arg;
  x->calls++;
  x->failure = r->failure, x->nsent = r->nsent, x->limit = r->limit_reached;
  for (size_t i = 0; i < r->nreplies && i < 64; i++) {
    x->rep[i] = r->replies[i];
    snprintf(x->src[i], sizeof x->src[i], "%s", r->replies[i].source);
  }
  x->nrep = r->nreplies;
}

static void exchange(ux *x, const char *ip, uint16_t port, const cs_udp_dgram *d, size_t n,
                     const cs_udp_opts *o) {
  x->l = cs_loop_new();
  x->t = cs_trace_new(cs_mono_now(), 0);
  cs_ip a;
  assert_true(cs_ip_parse(ip, &a));
  double t0 = cs_mono_now();
  cs_udp *u = cs_udp_exchange(x->l, x->t, &a, port, d, n, o, on_udp, x);
  assert_non_null(u);
  assert_int_equal(x->calls, 0); /* never from inside cs_udp_exchange */
  assert_int_equal(cs_loop_run(x->l), 0);
  x->dt = cs_mono_now() - t0;
  assert_int_equal(x->calls, 1);
}

static void ux_free(ux *x) {
  cs_trace_free(x->t);
  cs_loop_free(x->l);
}

static size_t count_ops(const cs_trace *t, const char *op, bool failed) {
  size_t n = 0;
  for (const cs_netevent_rec *e = t->events.head; e; e = e->next)
    if (!strcmp(e->operation, op) && (e->failure != NULL) == failed) n++;
  return n;
}

static const cs_udp_dgram PINGS[] = {{(const uint8_t *)"ping1", 5}, {(const uint8_t *)"ping2", 5}};

static void test_every_reply_recorded(void **st) {
  (void)st;
  echo_srv s;
  assert_true(echo_start(&s, AF_INET, 0));
  const char *tags[] = {"udp=1"};
  cs_udp_opts o = {
      .timeout = 0.5, .max_replies = 20, .transaction_id = 9, .tags = tags, .ntags = 1};
  ux x = {0};
  exchange(&x, "127.0.0.1", s.port, PINGS, 2, &o);
  /* 2 datagrams x (reply + duplicate + one from another port), all kept, until the deadline */
  assert_null(x.failure);
  assert_int_equal(x.nsent, 2);
  assert_int_equal(x.nrep, 6);
  assert_false(x.limit);
  assert_true(x.dt >= 0.45);
  char main_ep[32], other_ep[32];
  snprintf(main_ep, sizeof main_ep, "127.0.0.1:%u", s.port);
  snprintf(other_ep, sizeof other_ep, "127.0.0.1:%u", s.other_port);
  size_t from_main = 0, from_other = 0, ping1 = 0;
  for (size_t i = 0; i < x.nrep; i++) {
    from_main += !strcmp(x.src[i], main_ep);
    from_other += !strcmp(x.src[i], other_ep);
    assert_int_equal(x.rep[i].len, 5);
    assert_int_equal(x.rep[i].size, 5);
    ping1 += !memcmp(x.rep[i].data, "ping1", 5);
    assert_true(x.rep[i].t > 0 && (i == 0 || x.rep[i].t >= x.rep[i - 1].t));
  }
  assert_int_equal(from_main, 4);
  assert_int_equal(from_other, 2);
  assert_int_equal(ping1, 3);
  /* the records: 2 write_to, 6 read_from (source, size), the interrupted wait */
  assert_int_equal(count_ops(x.t, "write_to", false), 2);
  assert_int_equal(count_ops(x.t, "read_from", false), 6);
  assert_int_equal(count_ops(x.t, "read_from", true), 1);
  for (const cs_netevent_rec *e = x.t->events.head; e; e = e->next) {
    assert_string_equal(e->proto, "udp");
    assert_int_equal(e->c.transaction_id, 9);
    assert_string_equal(e->c.tags[0], "udp=1");
    if (!strcmp(e->operation, "write_to")) {
      assert_string_equal(e->address, main_ep);
      assert_int_equal(e->num_bytes, 5);
    } else if (!e->failure) {
      assert_true(!strcmp(e->address, main_ep) || !strcmp(e->address, other_ep));
      assert_int_equal(e->num_bytes, 5);
      assert_true(e->c.t >= e->c.t0);
    } else {
      assert_string_equal(e->failure, "generic_timeout_error");
    }
  }
  /* the JSON writer emits num_bytes for these operations */
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_write_event(&w, x.t->events.head);
  assert_non_null(strstr(cs_buf_cstr(&b), "\"num_bytes\":5"));
  assert_non_null(strstr(cs_buf_cstr(&b), "\"operation\":\"write_to\""));
  assert_non_null(strstr(cs_buf_cstr(&b), "\"proto\":\"udp\""));
  cs_buf_free(&b);
  ux_free(&x);
  echo_stop(&s);
}

static void test_reply_limit(void **st) {
  (void)st;
  echo_srv s;
  assert_true(echo_start(&s, AF_INET, 0));
  cs_udp_opts o = {.timeout = 3, .max_replies = 3};
  ux x = {0};
  exchange(&x, "127.0.0.1", s.port, PINGS, 2, &o);
  assert_null(x.failure);
  assert_true(x.limit);
  assert_int_equal(x.nrep, 3);
  assert_true(x.dt < 2.0); /* ended by the limit, not by the 3 s deadline */
  assert_int_equal(count_ops(x.t, "read_from", false), 3);
  assert_int_equal(count_ops(x.t, "read_from", true), 0);
  ux_free(&x);
  echo_stop(&s);
}

static void test_timeout_without_reply(void **st) {
  (void)st;
  uint16_t port;
  int fd = udp_socket(AF_INET, &port);
  assert_true(fd >= 0);
  close(fd); /* nothing listens there now */
  cs_udp_opts o = {.timeout = 0.3};
  ux x = {0};
  exchange(&x, "127.0.0.1", port, PINGS, 1, &o);
  assert_string_equal(x.failure, "generic_timeout_error");
  assert_int_equal(x.nrep, 0);
  assert_int_equal(x.nsent, 1);
  assert_true(x.dt >= 0.29);
  assert_int_equal(count_ops(x.t, "write_to", false), 1);
  assert_int_equal(count_ops(x.t, "read_from", true), 1);
  ux_free(&x);
}

static void test_send_interval(void **st) {
  (void)st;
  echo_srv s;
  assert_true(echo_start(&s, AF_INET, 0));
  cs_udp_dgram d[3] = {PINGS[0], PINGS[1], PINGS[0]};
  cs_udp_opts o = {.timeout = 0.6, .send_interval = 0.1, .max_replies = 60};
  ux x = {0};
  exchange(&x, "127.0.0.1", s.port, d, 3, &o);
  assert_null(x.failure);
  assert_int_equal(x.nsent, 3);
  assert_int_equal(x.nrep, 9);
  double prev = -1;
  size_t nw = 0;
  for (const cs_netevent_rec *e = x.t->events.head; e; e = e->next) {
    if (strcmp(e->operation, "write_to")) continue;
    if (prev >= 0) assert_true(e->c.t0 - prev >= 0.09);
    prev = e->c.t0, nw++;
  }
  assert_int_equal(nw, 3);
  ux_free(&x);
  echo_stop(&s);
}

static void test_bounded_bytes(void **st) {
  (void)st;
  echo_srv s;
  assert_true(echo_start(&s, AF_INET, 100)); /* every reply is 100 bytes */
  cs_udp_opts o = {.timeout = 0.4, .max_bytes = 150};
  ux x = {0};
  exchange(&x, "127.0.0.1", s.port, PINGS, 1, &o);
  assert_int_equal(x.nrep, 3);
  assert_int_equal(x.rep[0].len, 100);
  assert_int_equal(x.rep[1].len, 50);
  assert_int_equal(x.rep[2].len, 0);
  assert_null(x.rep[2].data);
  for (size_t i = 0; i < 3; i++) assert_int_equal(x.rep[i].size, 100);
  assert_memory_equal(x.rep[1].data, "pppppppppp", 10);
  ux_free(&x);
  echo_stop(&s);
}

static void test_ipv6_and_misuse(void **st) {
  (void)st;
  cs_loop *l = cs_loop_new();
  cs_trace *t = cs_trace_new(cs_mono_now(), 0);
  cs_ip a;
  assert_true(cs_ip_parse("127.0.0.1", &a));
  ux x = {0};
  assert_null(cs_udp_exchange(l, t, &a, 9, PINGS, 0, NULL, on_udp, &x)); /* nothing to send */
  cs_udp_dgram empty = {(const uint8_t *)"", 0};
  assert_null(cs_udp_exchange(l, t, &a, 9, &empty, 1, NULL, on_udp, &x));
  assert_null(cs_udp_exchange(l, t, &a, 9, PINGS, CS_UDP_MAX_SENDS + 1, NULL, on_udp, &x));
  assert_int_equal(t->events.n, 0);
  /* cancel: no callback, records made stay */
  cs_udp *u = cs_udp_exchange(l, t, &a, 9, PINGS, 1, NULL, on_udp, &x);
  assert_non_null(u);
  cs_udp_cancel(u);
  assert_int_equal(cs_loop_run(l), 0);
  assert_int_equal(x.calls, 0);
  cs_trace_free(t);
  cs_loop_free(l);

  echo_srv s;
  if (!echo_start(&s, AF_INET6, 0)) skip(); /* no IPv6 loopback here */
  cs_udp_opts o = {.timeout = 2, .max_replies = 3};
  ux y = {0};
  exchange(&y, "::1", s.port, PINGS, 1, &o);
  assert_null(y.failure);
  assert_int_equal(y.nrep, 3);
  char want[40];
  snprintf(want, sizeof want, "[::1]:%u", s.port);
  assert_true(!strcmp(y.src[0], want) || !strcmp(y.src[1], want));
  ux_free(&y);
  echo_stop(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_reply_recorded),  cmocka_unit_test(test_reply_limit),
      cmocka_unit_test(test_timeout_without_reply), cmocka_unit_test(test_send_interval),
      cmocka_unit_test(test_bounded_bytes),         cmocka_unit_test(test_ipv6_and_misuse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
