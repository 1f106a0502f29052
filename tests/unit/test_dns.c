/* test_dns.c - the DNS steps against the loopback mock server (tests/support/dns_mock.c):
 * getaddrinfo (localhost, *.invalid only), UDP with every misbehaviour (NXDOMAIN, SERVFAIL,
 * REFUSED, empty, injected answer + real one, wrong ID, wrong question, TC -> TCP fallback,
 * garbage, silence, ICMP port unreachable, CNAME chain, floods), TCP, lookup-host,
 * cancellation and the OONI records. Never touches anything but 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns_mock.h"
#include "engine/dns.h"
#include "engine/dnswire.h"
#include "record/record.h"
#include "util/buf.h"
#include "util/json.h"

#define SHORT_TIMEOUT 0.3

typedef struct {
  int calls;
  bool started; /* set after the start function returned */
  const char *failure;
  cs_ip addrs[CS_DNS_MAX_ADDRS];
  size_t naddrs;
  const cs_query_rec *rec;
  int rcode;
  size_t ndup, ndropped;
  double at; /* loop time of the callback */
  cs_loop *loop;
  cs_dns_req *self;
  bool cancel_self; /* calls cs_dns_cancel(self) from the callback: must be a no-op */
} res_t;

static void on_done(void *arg, const cs_dns_result *r) {
  res_t *x = arg;
  assert_true(x->started); /* never called from inside the start function */
  x->calls++;
  x->failure = r->failure;
  x->naddrs = r->naddrs;
  if (r->naddrs) memcpy(x->addrs, r->addrs, r->naddrs * sizeof *r->addrs);
  x->rec = r->rec;
  x->rcode = r->rcode;
  x->ndup = r->nduplicates;
  x->ndropped = r->nextra_dropped;
  x->at = cs_loop_now(x->loop);
  if (x->cancel_self) cs_dns_cancel(x->self);
}

typedef struct {
  cs_loop *l;
  cs_trace *t;
  cs_dns_mock *m;
  cs_ip lo;
  res_t res;
} env;

static const char *const TAGS[] = {"depth=0", "classic"};

static void env_init(env *e, int mode) {
  memset(e, 0, sizeof *e);
  e->l = cs_loop_new();
  assert_non_null(e->l);
  e->t = cs_trace_new(cs_loop_now(e->l), 0);
  assert_non_null(e->t);
  if (mode >= 0) {
    e->m = cs_dns_mock_start((cs_dns_mock_mode)mode);
    assert_non_null(e->m);
  }
  assert_true(cs_ip_parse("127.0.0.1", &e->lo));
  e->res.loop = e->l;
}

static void env_free(env *e) {
  if (e->m) cs_dns_mock_stop(e->m);
  cs_trace_free(e->t);
  cs_loop_free(e->l);
}

static cs_dns_opts opts(double timeout, double window) {
  cs_dns_opts o;
  memset(&o, 0, sizeof o);
  o.timeout = timeout;
  o.dup_window = window;
  o.transaction_id = 7;
  o.tags = TAGS;
  o.ntags = 2;
  return o;
}

static void run_udp(env *e, uint16_t qtype, const cs_dns_opts *o) {
  e->res.self = cs_dns_udp(e->l, e->t, "www.example.test", qtype, &e->lo, cs_dns_mock_port(e->m), o,
                           on_done, &e->res);
  assert_non_null(e->res.self);
  e->res.started = true;
  assert_int_equal(cs_loop_run(e->l), 0);
  assert_int_equal(e->res.calls, 1);
}

static const char *ipstr(const cs_ip *ip, char *buf) {
  cs_ip_format(ip, buf);
  return buf;
}

static void check_common(const cs_rec_common *c) {
  assert_true(c->t0 >= 0);
  assert_true(c->t0 <= c->t);
  assert_int_equal(c->transaction_id, 7);
  assert_int_equal(c->ntags, 2);
  assert_string_equal(c->tags[0], "depth=0");
  assert_string_equal(c->tags[1], "classic");
}

/* Checks the fields every UDP/TCP query record has. */
static void check_wire_rec(env *e, const cs_query_rec *q, const char *engine, const char *qtype) {
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_dns_mock_port(e->m));
  assert_non_null(q);
  check_common(&q->c);
  assert_string_equal(q->engine, engine);
  assert_string_equal(q->hostname, "www.example.test");
  assert_string_equal(q->query_type, qtype);
  assert_string_equal(q->resolver_address, addr);
  assert_int_equal(q->getaddrinfo_error, 0);
}

static size_t count_events(env *e, const char *op, const char *proto) {
  size_t n = 0;
  for (cs_netevent_rec *ev = e->t->events.head; ev; ev = ev->next)
    if (strcmp(ev->operation, op) == 0 && strcmp(ev->proto, proto) == 0) n++;
  return n;
}

/* ---- UDP ------------------------------------------------------------------------------- */

static void test_udp_normal(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_NORMAL);
  cs_dns_opts o = opts(2, 0.05);
  run_udp(&e, CS_DNS_TYPE_A, &o);
  char b[CS_IPSTR_MAX];
  assert_null(e.res.failure);
  assert_int_equal(e.res.naddrs, 1);
  assert_string_equal(ipstr(&e.res.addrs[0], b), CS_DNS_MOCK_A);
  assert_int_equal(e.res.rcode, 0);
  assert_int_equal(e.t->queries.n, 1);
  assert_int_equal(e.t->dns_duplicates.n, 0);
  const cs_query_rec *q = e.t->queries.head;
  assert_ptr_equal(q, e.res.rec);
  check_wire_rec(&e, q, "udp", "A");
  assert_null(q->failure);
  assert_true(q->has_rcode);
  assert_int_equal(q->rcode, 0);
  assert_non_null(q->raw_response);
  assert_true(q->raw_response_len > 12);
  assert_int_equal(q->nanswers, 1);
  assert_string_equal(q->answers[0].answer_type, "A");
  assert_string_equal(q->answers[0].ipv4, CS_DNS_MOCK_A);
  assert_null(q->answers[0].ipv6);
  assert_true(q->answers[0].has_ttl);
  assert_int_equal(q->answers[0].ttl, CS_DNS_MOCK_TTL);
  /* network events: one write_to, one read_from, with address and bytes */
  assert_int_equal(count_events(&e, "write_to", "udp"), 1);
  assert_int_equal(count_events(&e, "read_from", "udp"), 1);
  for (cs_netevent_rec *ev = e.t->events.head; ev; ev = ev->next) {
    check_common(&ev->c);
    assert_string_equal(ev->address, q->resolver_address);
    assert_null(ev->failure);
    assert_true(ev->num_bytes > 12);
  }
  assert_int_equal(e.t->events.head->num_bytes, 12 + 18 + 4 + 11); /* query with OPT */
  /* the query the mock saw: RD=1, EDNS0 OPT 1232 */
  uint8_t qb[512];
  size_t qn = cs_dns_mock_last_query(e.m, qb, sizeof qb);
  cs_dnswire_query pq;
  assert_int_equal(cs_dnswire_query_parse(qb, qn, &pq), CS_DNSWIRE_OK);
  assert_int_equal(qb[2] & 0x01, 1);
  assert_int_equal(qb[11], 1);
  assert_int_equal(qb[qn - 9], 41); /* TYPE OPT, CLASS 1232 */
  assert_int_equal(qb[qn - 8], 0x04);
  assert_int_equal(qb[qn - 7], 0xd0);
  assert_int_equal(cs_dns_mock_udp_queries(e.m), 1);
  env_free(&e);
}

static void test_udp_aaaa_no_edns(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_NORMAL);
  cs_dns_opts o = opts(2, -1); /* complete at the first reply */
  o.no_edns0 = true;
  run_udp(&e, CS_DNS_TYPE_AAAA, &o);
  char b[CS_IPSTR_MAX];
  assert_null(e.res.failure);
  assert_int_equal(e.res.naddrs, 1);
  assert_string_equal(ipstr(&e.res.addrs[0], b), CS_DNS_MOCK_AAAA);
  const cs_query_rec *q = e.t->queries.head;
  check_wire_rec(&e, q, "udp", "AAAA");
  assert_string_equal(q->answers[0].answer_type, "AAAA");
  assert_string_equal(q->answers[0].ipv6, CS_DNS_MOCK_AAAA);
  uint8_t qb[512];
  size_t qn = cs_dns_mock_last_query(e.m, qb, sizeof qb);
  assert_int_equal(qn, 12 + 18 + 4);
  assert_int_equal(qb[11], 0); /* no additional RR */
  env_free(&e);
}

/* rcode -> failure mapping */
static void check_rcode(int mode, const char *failure, int rcode) {
  env e;
  env_init(&e, mode);
  cs_dns_opts o = opts(2, -1);
  run_udp(&e, CS_DNS_TYPE_A, &o);
  assert_string_equal(e.res.failure, failure);
  assert_int_equal(e.res.naddrs, 0);
  assert_int_equal(e.res.rcode, rcode);
  const cs_query_rec *q = e.t->queries.head;
  check_wire_rec(&e, q, "udp", "A");
  assert_string_equal(q->failure, failure);
  assert_true(q->has_rcode);
  assert_int_equal(q->rcode, rcode);
  assert_non_null(q->raw_response);
  assert_null(q->answers);
  assert_int_equal(q->nanswers, 0);
  env_free(&e);
}

static void test_udp_rcodes(void **st) {
  (void)st;
  check_rcode(CS_DNS_MOCK_NXDOMAIN, "dns_nxdomain_error", 3);
  check_rcode(CS_DNS_MOCK_SERVFAIL, "dns_servfail_error", 2);
  check_rcode(CS_DNS_MOCK_REFUSED, "dns_refused_error", 5);
  check_rcode(CS_DNS_MOCK_NOTIMP, "dns_server_misbehaving", 4);
  check_rcode(CS_DNS_MOCK_EMPTY, "dns_no_answer", 0);
}

/* The forged answer comes first and wins (that is what a client would use); the real one,
 * 100 ms later, is kept in dns_duplicates. */
static void test_udp_injection(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_INJECT);
  cs_dns_opts o = opts(2, 0.5);
  double t_start = cs_loop_now(e.l);
  run_udp(&e, CS_DNS_TYPE_A, &o);
  char b[CS_IPSTR_MAX];
  assert_null(e.res.failure);
  assert_int_equal(e.res.naddrs, 1);
  assert_string_equal(ipstr(&e.res.addrs[0], b), CS_DNS_MOCK_FORGED_A);
  assert_int_equal(e.res.ndup, 1);
  assert_int_equal(e.t->queries.n, 1);
  assert_int_equal(e.t->dns_duplicates.n, 1);
  const cs_query_rec *q = e.t->queries.head, *d = e.t->dns_duplicates.head;
  check_wire_rec(&e, q, "udp", "A");
  check_wire_rec(&e, d, "udp", "A");
  assert_string_equal(q->answers[0].ipv4, CS_DNS_MOCK_FORGED_A);
  assert_string_equal(d->answers[0].ipv4, CS_DNS_MOCK_A);
  assert_null(d->failure);
  assert_true(d->has_rcode);
  assert_non_null(d->raw_response);
  assert_true(d->c.t - q->c.t >= 0.09);
  assert_true(d->c.t0 == q->c.t0);
  assert_int_equal(count_events(&e, "read_from", "udp"), 2);
  /* the callback came at the end of the window (first reply + 0.5 s) */
  assert_true(e.res.at - t_start >= 0.5);
  assert_true(e.res.at - t_start < 1.5);
  env_free(&e);
}

static void test_udp_wrong_id(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_WRONG_ID);
  cs_dns_opts o = opts(2, 0.05);
  run_udp(&e, CS_DNS_TYPE_A, &o);
  char b[CS_IPSTR_MAX];
  assert_null(e.res.failure);
  assert_string_equal(ipstr(&e.res.addrs[0], b), CS_DNS_MOCK_A);
  assert_int_equal(e.t->queries.n, 1);
  assert_int_equal(e.t->dns_duplicates.n, 1);
  const cs_query_rec *q = e.t->queries.head, *d = e.t->dns_duplicates.head;
  assert_string_equal(q->answers[0].ipv4, CS_DNS_MOCK_A);
  check_wire_rec(&e, d, "udp", "A");
  assert_string_equal(d->failure, "dns_reply_with_wrong_query_id");
  assert_string_equal(d->answers[0].ipv4, CS_DNS_MOCK_FORGED_A);
  assert_non_null(d->raw_response);
  assert_true(d->c.t <= q->c.t); /* it came first */
  env_free(&e);
}

static void test_udp_wrong_question(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_WRONG_QUESTION);
  cs_dns_opts o = opts(2, 0.05);
  run_udp(&e, CS_DNS_TYPE_A, &o);
  assert_null(e.res.failure);
  assert_int_equal(e.t->queries.n, 1);
  assert_int_equal(e.t->dns_duplicates.n, 1);
  assert_string_equal(e.t->dns_duplicates.head->failure, "dns_server_misbehaving");
  assert_true(e.t->dns_duplicates.head->has_rcode);
  assert_string_equal(e.t->queries.head->answers[0].ipv4, CS_DNS_MOCK_A);
  env_free(&e);
}

static void test_udp_tc_tcp_fallback(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_TC);
  cs_dns_opts o = opts(2, 0.05);
  run_udp(&e, CS_DNS_TYPE_A, &o);
  char b[CS_IPSTR_MAX];
  assert_null(e.res.failure);
  assert_int_equal(e.res.naddrs, 1);
  assert_string_equal(ipstr(&e.res.addrs[0], b), CS_DNS_MOCK_A);
  assert_int_equal(e.t->queries.n, 2);
  const cs_query_rec *u = e.t->queries.head, *t = u->next;
  check_wire_rec(&e, u, "udp", "A");
  check_wire_rec(&e, t, "tcp", "A");
  assert_ptr_equal(e.res.rec, t);
  assert_null(u->failure); /* truncated, not a failure */
  assert_int_equal(u->nanswers, 0);
  assert_non_null(u->raw_response);
  assert_int_equal(u->raw_response[2] & 0x02, 0x02); /* TC */
  assert_null(t->failure);
  assert_true(t->has_rcode);
  assert_int_equal(t->nanswers, 1);
  assert_string_equal(t->answers[0].ipv4, CS_DNS_MOCK_A);
  assert_non_null(t->raw_response);
  assert_true(t->c.t0 >= u->c.t);
  assert_int_equal(cs_dns_mock_udp_queries(e.m), 1);
  assert_int_equal(cs_dns_mock_tcp_queries(e.m), 1);
  assert_int_equal(count_events(&e, "connect", "tcp"), 1);
  assert_int_equal(count_events(&e, "write", "tcp"), 1);
  assert_true(count_events(&e, "read", "tcp") >= 1);
  env_free(&e);
}

static void test_udp_tc_no_fallback(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_TC);
  cs_dns_opts o = opts(2, -1);
  o.no_tcp_fallback = true;
  run_udp(&e, CS_DNS_TYPE_A, &o);
  assert_string_equal(e.res.failure, "dns_no_answer");
  assert_int_equal(e.t->queries.n, 1);
  assert_int_equal(cs_dns_mock_tcp_queries(e.m), 0);
  env_free(&e);
}

static void test_udp_garbage(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_GARBAGE);
  cs_dns_opts o = opts(SHORT_TIMEOUT, 0);
  run_udp(&e, CS_DNS_TYPE_A, &o);
  assert_string_equal(e.res.failure, "dns_server_misbehaving");
  assert_int_equal(e.res.rcode, -1);
  assert_int_equal(e.t->queries.n, 1);
  const cs_query_rec *q = e.t->queries.head;
  check_wire_rec(&e, q, "udp", "A");
  assert_string_equal(q->failure, "dns_server_misbehaving");
  assert_null(q->raw_response);
  assert_false(q->has_rcode);
  assert_true(q->c.t - q->c.t0 >= SHORT_TIMEOUT - 0.01); /* waited for a real reply */
  assert_int_equal(e.t->dns_duplicates.n, 1);
  const cs_query_rec *d = e.t->dns_duplicates.head;
  assert_string_equal(d->failure, "dns_server_misbehaving");
  assert_int_equal(d->raw_response_len, strlen("hello, this is not DNS"));
  assert_memory_equal(d->raw_response, "hello, this is not DNS", d->raw_response_len);
  assert_false(d->has_rcode);
  env_free(&e);
}

static void test_udp_timeout(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_SILENT);
  cs_dns_opts o = opts(SHORT_TIMEOUT, 0);
  double t_start = cs_loop_now(e.l);
  run_udp(&e, CS_DNS_TYPE_A, &o);
  assert_string_equal(e.res.failure, "generic_timeout_error");
  assert_null(e.res.rec->raw_response);
  assert_false(e.res.rec->has_rcode);
  assert_null(e.res.rec->answers);
  assert_true(e.res.at - t_start >= SHORT_TIMEOUT - 0.01);
  assert_true(e.res.at - t_start < SHORT_TIMEOUT + 1.0);
  assert_int_equal(e.t->dns_duplicates.n, 0);
  /* write_to, then a read_from that timed out */
  assert_int_equal(e.t->events.n, 2);
  assert_string_equal(e.t->events.tail->operation, "read_from");
  assert_string_equal(e.t->events.tail->failure, "generic_timeout_error");
  env_free(&e);
}

/* ICMP port unreachable: recv() on the connected socket fails with ECONNREFUSED. */
static uint16_t closed_port(int type) {
  int fd = socket(AF_INET, type, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t al = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &al);
  close(fd);
  return ntohs(a.sin_port);
}

static void test_udp_port_unreachable(void **st) {
  (void)st;
  env e;
  env_init(&e, -1);
  cs_dns_opts o = opts(2, 0);
  e.res.self = cs_dns_udp(e.l, e.t, "x.test", CS_DNS_TYPE_A, &e.lo, closed_port(SOCK_DGRAM), &o,
                          on_done, &e.res);
  e.res.started = true;
  cs_loop_run(e.l);
  assert_int_equal(e.res.calls, 1);
  assert_string_equal(e.res.failure, "connection_refused");
  assert_string_equal(e.t->queries.head->failure, "connection_refused");
  assert_string_equal(e.t->events.tail->operation, "read_from");
  assert_string_equal(e.t->events.tail->failure, "connection_refused");
  env_free(&e);
}

static void test_udp_cname_chain(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_CNAME);
  cs_dns_opts o = opts(2, -1);
  run_udp(&e, CS_DNS_TYPE_A, &o);
  char b[CS_IPSTR_MAX];
  assert_null(e.res.failure);
  assert_int_equal(e.res.naddrs, 1);
  assert_string_equal(ipstr(&e.res.addrs[0], b), CS_DNS_MOCK_CNAME_A);
  const cs_query_rec *q = e.t->queries.head;
  assert_int_equal(q->nanswers, 3);
  assert_string_equal(q->answers[0].answer_type, "CNAME");
  assert_string_equal(q->answers[0].hostname, CS_DNS_MOCK_CNAME1);
  assert_int_equal(q->answers[0].ttl, 60);
  assert_string_equal(q->answers[1].answer_type, "CNAME");
  assert_string_equal(q->answers[1].hostname, CS_DNS_MOCK_CNAME2);
  assert_string_equal(q->answers[2].answer_type, "A");
  assert_string_equal(q->answers[2].ipv4, CS_DNS_MOCK_CNAME_A);
  env_free(&e);

  env_init(&e, CS_DNS_MOCK_CNAME_ONLY);
  run_udp(&e, CS_DNS_TYPE_A, &o);
  assert_string_equal(e.res.failure, "dns_no_answer");
  assert_int_equal(e.t->queries.head->nanswers, 1);
  assert_string_equal(e.t->queries.head->answers[0].hostname, CS_DNS_MOCK_CNAME1);
  env_free(&e);
}

/* A hostile peer cannot make the trace grow without bound. */
static void test_udp_flood_bounded(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_FLOOD);
  cs_dns_opts o = opts(2, 0.3);
  o.max_events = 10;
  run_udp(&e, CS_DNS_TYPE_A, &o);
  assert_null(e.res.failure);
  assert_int_equal(e.t->queries.n, 1);
  assert_int_equal(e.res.ndup, CS_DNS_MAX_EXTRA);
  assert_int_equal(e.t->dns_duplicates.n, CS_DNS_MAX_EXTRA);
  assert_int_equal(e.res.ndropped, CS_DNS_MOCK_FLOOD_N - 1 - CS_DNS_MAX_EXTRA);
  assert_int_equal(e.t->events.n, 10);
  env_free(&e);
}

static void test_udp_bad_name(void **st) {
  (void)st;
  env e;
  env_init(&e, -1);
  cs_dns_opts o = opts(1, 0);
  e.res.self = cs_dns_udp(e.l, e.t, "a..b", CS_DNS_TYPE_A, &e.lo, 53, &o, on_done, &e.res);
  assert_non_null(e.res.self);
  e.res.started = true;
  assert_int_equal(e.res.calls, 0);
  cs_loop_run(e.l);
  assert_int_equal(e.res.calls, 1);
  assert_string_equal(e.res.failure, "invalid_argument");
  assert_int_equal(e.t->queries.n, 1);
  assert_int_equal(e.t->events.n, 0); /* nothing was sent */
  /* bad arguments: NULL, nothing recorded */
  assert_null(cs_dns_udp(e.l, e.t, "x", CS_DNS_TYPE_TXT, &e.lo, 53, &o, on_done, &e.res));
  assert_null(cs_dns_udp(e.l, e.t, "x", CS_DNS_TYPE_A, NULL, 53, &o, on_done, &e.res));
  assert_null(cs_dns_lookup_host(e.l, e.t, "x", "doh://nope", &o, on_done, &e.res));
  assert_null(cs_dns_lookup_host(e.l, e.t, "x", "udp://not-an-ip", &o, on_done, &e.res));
  assert_null(cs_dns_lookup_host(e.l, e.t, "", NULL, &o, on_done, &e.res));
  assert_null(cs_dns_getaddrinfo(e.l, e.t, "", &o, on_done, &e.res));
  env_free(&e);
}

/* ---- TCP ------------------------------------------------------------------------------- */

static void test_tcp(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_NORMAL);
  cs_dns_opts o = opts(2, 0);
  e.res.self = cs_dns_tcp(e.l, e.t, "www.example.test", CS_DNS_TYPE_AAAA, &e.lo,
                          cs_dns_mock_port(e.m), &o, on_done, &e.res);
  e.res.started = true;
  cs_loop_run(e.l);
  char b[CS_IPSTR_MAX];
  assert_int_equal(e.res.calls, 1);
  assert_null(e.res.failure);
  assert_string_equal(ipstr(&e.res.addrs[0], b), CS_DNS_MOCK_AAAA);
  check_wire_rec(&e, e.t->queries.head, "tcp", "AAAA");
  assert_non_null(e.t->queries.head->raw_response);
  assert_int_equal(cs_dns_mock_tcp_queries(e.m), 1);
  env_free(&e);

  env_init(&e, CS_DNS_MOCK_NXDOMAIN);
  e.res.self = cs_dns_tcp(e.l, e.t, "www.example.test", CS_DNS_TYPE_A, &e.lo, cs_dns_mock_port(e.m),
                          &o, on_done, &e.res);
  e.res.started = true;
  cs_loop_run(e.l);
  assert_string_equal(e.res.failure, "dns_nxdomain_error");
  assert_int_equal(e.t->queries.head->rcode, 3);
  env_free(&e);

  env_init(&e, CS_DNS_MOCK_SILENT);
  o = opts(SHORT_TIMEOUT, 0);
  e.res.self = cs_dns_tcp(e.l, e.t, "www.example.test", CS_DNS_TYPE_A, &e.lo, cs_dns_mock_port(e.m),
                          &o, on_done, &e.res);
  e.res.started = true;
  cs_loop_run(e.l);
  assert_string_equal(e.res.failure, "generic_timeout_error");
  assert_string_equal(e.t->events.tail->operation, "read");
  assert_string_equal(e.t->events.tail->failure, "generic_timeout_error");
  env_free(&e);

  env_init(&e, -1);
  e.res.self = cs_dns_tcp(e.l, e.t, "www.example.test", CS_DNS_TYPE_A, &e.lo,
                          closed_port(SOCK_STREAM), &o, on_done, &e.res);
  e.res.started = true;
  cs_loop_run(e.l);
  assert_string_equal(e.res.failure, "connection_refused");
  assert_string_equal(e.t->events.head->operation, "connect");
  assert_string_equal(e.t->events.head->failure, "connection_refused");
  env_free(&e);
}

/* ---- getaddrinfo ----------------------------------------------------------------------- */

static void test_gai_localhost(void **st) {
  (void)st;
  env e;
  env_init(&e, -1);
  cs_dns_opts o = opts(4, 0);
  e.res.self = cs_dns_getaddrinfo(e.l, e.t, "localhost", &o, on_done, &e.res);
  assert_non_null(e.res.self);
  e.res.started = true;
  cs_loop_run(e.l);
  assert_int_equal(e.res.calls, 1);
  assert_null(e.res.failure);
  assert_true(e.res.naddrs >= 1);
  for (size_t i = 0; i < e.res.naddrs; i++) {
    char b[CS_IPSTR_MAX];
    ipstr(&e.res.addrs[i], b);
    assert_true(strcmp(b, "127.0.0.1") == 0 || strcmp(b, "::1") == 0);
  }
  assert_int_equal(e.t->queries.n, 1);
  const cs_query_rec *q = e.t->queries.head;
  check_common(&q->c);
  assert_string_equal(q->engine, "getaddrinfo");
  assert_string_equal(q->query_type, "ANY");
  assert_string_equal(q->resolver_address, "");
  assert_string_equal(q->hostname, "localhost");
  assert_null(q->failure);
  assert_null(q->raw_response);
  assert_false(q->has_rcode);
  assert_int_equal(q->getaddrinfo_error, 0);
  assert_true(q->nanswers >= e.res.naddrs);
  assert_true(strcmp(q->answers[0].answer_type, "A") == 0 ||
              strcmp(q->answers[0].answer_type, "AAAA") == 0);
  assert_false(q->answers[0].has_ttl);
  assert_int_equal(e.t->events.n, 0);
  env_free(&e);
}

static void test_gai_invalid_tld(void **st) {
  (void)st;
  env e;
  env_init(&e, -1);
  cs_dns_opts o = opts(4, 0);
  e.res.self = cs_dns_getaddrinfo(e.l, e.t, "censorscope-test.invalid", &o, on_done, &e.res);
  e.res.started = true;
  cs_loop_run(e.l);
  assert_int_equal(e.res.calls, 1);
  /* tests/support/no_dns.c answers *.invalid as RFC 6761 says a resolver must: NXDOMAIN */
  assert_string_equal(e.res.failure, "dns_nxdomain_error");
  assert_int_equal(e.res.naddrs, 0);
  const cs_query_rec *q = e.t->queries.head;
  assert_string_equal(q->failure, e.res.failure);
  assert_int_equal(q->getaddrinfo_error, EAI_NONAME);
  assert_null(q->answers);
  env_free(&e);
}

/* The unit tests' guard (tests/support/no_dns.c) refuses a name that only the host's
 * nameserver could answer, so no test sends DNS off the machine; the refusal is recorded like
 * any other getaddrinfo error. */
static void test_gai_guard_refuses_real_names(void **st) {
  (void)st;
  env e;
  env_init(&e, -1);
  cs_dns_opts o = opts(4, 0);
  e.res.self = cs_dns_getaddrinfo(e.l, e.t, "www.example.com", &o, on_done, &e.res);
  e.res.started = true;
  cs_loop_run(e.l);
  assert_int_equal(e.res.calls, 1);
  assert_non_null(e.res.failure);
  assert_int_equal(e.res.naddrs, 0);
  assert_int_equal(e.t->queries.head->getaddrinfo_error, EAI_FAIL);
  env_free(&e);
}

/* The deadline fires (or the request is cancelled) while the worker still runs: the late
 * result must be discarded without touching the freed request (ASan checks). */
static void test_gai_deadline_and_cancel(void **st) {
  (void)st;
  env e;
  env_init(&e, -1);
  cs_dns_opts o = opts(1e-9, 0);
  e.res.self = cs_dns_getaddrinfo(e.l, e.t, "localhost", &o, on_done, &e.res);
  e.res.started = true;
  cs_loop_run(e.l); /* returns once the worker is done too */
  assert_int_equal(e.res.calls, 1);
  assert_true(e.res.failure == NULL || strcmp(e.res.failure, "generic_timeout_error") == 0);
  assert_int_equal(e.t->queries.n, 1);

  /* cancel right away: no callback, no record, the job frees itself later */
  res_t r2;
  memset(&r2, 0, sizeof r2);
  r2.loop = e.l;
  cs_dns_req *q = cs_dns_getaddrinfo(e.l, e.t, "localhost", &o, on_done, &r2);
  cs_dns_cancel(q);
  cs_loop_run(e.l);
  assert_int_equal(r2.calls, 0);
  assert_int_equal(e.t->queries.n, 1);
  env_free(&e);
}

/* ---- lookup host ----------------------------------------------------------------------- */

static void run_lookup(env *e, const char *host, const char *mode, const cs_dns_opts *o) {
  e->res.self = cs_dns_lookup_host(e->l, e->t, host, mode, o, on_done, &e->res);
  assert_non_null(e->res.self);
  e->res.started = true;
  cs_loop_run(e->l);
  assert_int_equal(e->res.calls, 1);
}

static void test_lookup_udp(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_NORMAL);
  char mode[64];
  snprintf(mode, sizeof mode, "udp://127.0.0.1:%u", cs_dns_mock_port(e.m));
  cs_dns_opts o = opts(2, 0.05);
  run_lookup(&e, "www.example.test", mode, &o);
  char b[CS_IPSTR_MAX];
  assert_null(e.res.failure);
  assert_int_equal(e.res.naddrs, 2);
  assert_string_equal(ipstr(&e.res.addrs[0], b), CS_DNS_MOCK_A); /* A first */
  assert_string_equal(ipstr(&e.res.addrs[1], b), CS_DNS_MOCK_AAAA);
  assert_int_equal(e.t->queries.n, 2);
  assert_int_equal(cs_dns_mock_udp_queries(e.m), 2);
  assert_ptr_equal(e.res.rec->query_type, cs_dns_qtype_str(CS_DNS_TYPE_A));
  for (const cs_query_rec *q = e.t->queries.head; q; q = q->next) check_common(&q->c);
  assert_int_equal(count_events(&e, "write_to", "udp"), 2);
  env_free(&e);

  /* AAAA dns_no_answer does not count as the lookup's failure */
  env_init(&e, CS_DNS_MOCK_A_ONLY);
  snprintf(mode, sizeof mode, "udp://127.0.0.1:%u", cs_dns_mock_port(e.m));
  run_lookup(&e, "www.example.test", mode, &o);
  assert_null(e.res.failure);
  assert_int_equal(e.res.naddrs, 1);
  int noans = 0;
  for (const cs_query_rec *q = e.t->queries.head; q; q = q->next)
    if (q->failure && strcmp(q->failure, "dns_no_answer") == 0) noans++;
  assert_int_equal(noans, 1);
  env_free(&e);

  /* both NXDOMAIN */
  env_init(&e, CS_DNS_MOCK_NXDOMAIN);
  snprintf(mode, sizeof mode, "udp://127.0.0.1:%u", cs_dns_mock_port(e.m));
  run_lookup(&e, "www.example.test", mode, &o);
  assert_string_equal(e.res.failure, "dns_nxdomain_error");
  assert_int_equal(e.res.naddrs, 0);
  env_free(&e);

  /* injection on both queries: forged answers delivered, real ones in duplicates */
  env_init(&e, CS_DNS_MOCK_INJECT);
  snprintf(mode, sizeof mode, "udp://127.0.0.1:%u", cs_dns_mock_port(e.m));
  o = opts(2, 0.5);
  run_lookup(&e, "www.example.test", mode, &o);
  assert_null(e.res.failure);
  assert_int_equal(e.res.naddrs, 2);
  assert_string_equal(ipstr(&e.res.addrs[0], b), CS_DNS_MOCK_FORGED_A);
  assert_string_equal(ipstr(&e.res.addrs[1], b), CS_DNS_MOCK_FORGED_AAAA);
  assert_int_equal(e.res.ndup, 2);
  assert_int_equal(e.t->dns_duplicates.n, 2);
  env_free(&e);
}

/* The network-event cap is per lookup, not per query. */
static void test_lookup_event_cap(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_NORMAL);
  char mode[64];
  snprintf(mode, sizeof mode, "udp://127.0.0.1:%u", cs_dns_mock_port(e.m));
  cs_dns_opts o = opts(2, -1);
  o.max_events = 3;
  run_lookup(&e, "www.example.test", mode, &o);
  assert_int_equal(e.res.naddrs, 2);
  assert_int_equal(e.t->events.n, 3);
  env_free(&e);
}

static void test_lookup_system_and_literal(void **st) {
  (void)st;
  env e;
  env_init(&e, -1);
  cs_dns_opts o = opts(4, 0);
  run_lookup(&e, "localhost", "system", &o);
  assert_null(e.res.failure);
  assert_true(e.res.naddrs >= 1);
  assert_int_equal(e.t->queries.n, 1);
  assert_string_equal(e.t->queries.head->engine, "getaddrinfo");
  env_free(&e);

  env_init(&e, -1);
  run_lookup(&e, "192.0.2.9", NULL, &o);
  char b[CS_IPSTR_MAX];
  assert_null(e.res.failure);
  assert_int_equal(e.res.naddrs, 1);
  assert_string_equal(ipstr(&e.res.addrs[0], b), "192.0.2.9");
  assert_null(e.res.rec);
  assert_int_equal(e.t->queries.n, 0);
  env_free(&e);

  env_init(&e, -1);
  run_lookup(&e, "[2001:db8::2]", "udp://127.0.0.1", &o);
  assert_int_equal(e.res.naddrs, 1);
  assert_string_equal(ipstr(&e.res.addrs[0], b), "2001:db8::2");
  env_free(&e);
}

/* ---- cancellation ---------------------------------------------------------------------- */

typedef struct {
  cs_dns_req *victim;
  cs_timer t;
} canceller;

static void cancel_cb(cs_timer *t) {
  canceller *c = t->data;
  cs_dns_cancel(c->victim);
}

static void test_cancel(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_SILENT);
  cs_dns_opts o = opts(2, 0);
  char mode[64];
  snprintf(mode, sizeof mode, "udp://127.0.0.1:%u", cs_dns_mock_port(e.m));
  /* cancel before the loop ever runs */
  cs_dns_req *r = cs_dns_udp(e.l, e.t, "x.test", CS_DNS_TYPE_A, &e.lo, cs_dns_mock_port(e.m), &o,
                             on_done, &e.res);
  cs_dns_cancel(r);
  cs_dns_cancel(NULL);
  /* cancel a lookup (two UDP queries in flight) from a timer */
  canceller c;
  memset(&c, 0, sizeof c);
  c.victim = cs_dns_lookup_host(e.l, e.t, "x.test", mode, &o, on_done, &e.res);
  assert_non_null(c.victim);
  cs_timer_start(e.l, &c.t, 0.05, cancel_cb, &c);
  double t0 = cs_loop_now(e.l);
  cs_loop_run(e.l);
  assert_true(cs_loop_now(e.l) - t0 < 1.0); /* did not wait for the 2 s deadline */
  assert_int_equal(e.res.calls, 0);
  assert_int_equal(e.t->queries.n, 0);
  /* cancel a TC -> TCP fallback in the middle (mock TCP silent on a TC'd... use SILENT TCP) */
  env_free(&e);

  /* cancel a completed-but-not-yet-delivered request (its defer is queued) */
  env_init(&e, -1);
  r = cs_dns_lookup_host(e.l, e.t, "192.0.2.1", NULL, &o, on_done, &e.res);
  cs_dns_cancel(r);
  cs_loop_run(e.l);
  assert_int_equal(e.res.calls, 0);
  env_free(&e);

  /* cancel from inside its own callback: a no-op */
  env_init(&e, CS_DNS_MOCK_NORMAL);
  e.res.cancel_self = true;
  o = opts(2, -1);
  run_udp(&e, CS_DNS_TYPE_A, &o);
  assert_int_equal(e.res.calls, 1);
  env_free(&e);
}

/* A full trace arena: records go missing, nothing crashes, the callback still comes. */
static void test_arena_full(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_FLOOD);
  cs_trace_free(e.t);
  e.t = cs_trace_new(cs_loop_now(e.l), 8192);
  assert_non_null(e.t);
  cs_dns_opts o = opts(2, 0.2);
  run_udp(&e, CS_DNS_TYPE_A, &o);
  assert_null(e.res.failure);
  assert_int_equal(e.res.naddrs, 1);
  assert_true(e.res.ndup + e.res.ndropped == CS_DNS_MOCK_FLOOD_N - 1);
  assert_true(e.t->dns_duplicates.n < CS_DNS_MAX_EXTRA); /* the arena ran out first */
  env_free(&e);
}

/* The records serialise as OONI JSON (x_dns_duplicate_responses included). */
static void test_json(void **st) {
  (void)st;
  env e;
  env_init(&e, CS_DNS_MOCK_INJECT);
  cs_dns_opts o = opts(2, 0.3);
  run_udp(&e, CS_DNS_TYPE_A, &o);
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_jw_obj_open(&w);
  cs_write_trace_keys(&w, e.t);
  cs_jw_obj_close(&w);
  const char *s = cs_buf_cstr(&b);
  assert_non_null(s);
  assert_non_null(strstr(s, "\"x_dns_duplicate_responses\""));
  assert_non_null(strstr(s, "\"engine\":\"udp\""));
  assert_non_null(strstr(s, CS_DNS_MOCK_FORGED_A));
  assert_non_null(strstr(s, "\"raw_response\""));
  cs_buf_free(&b);
  env_free(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_udp_normal),
      cmocka_unit_test(test_udp_aaaa_no_edns),
      cmocka_unit_test(test_udp_rcodes),
      cmocka_unit_test(test_udp_injection),
      cmocka_unit_test(test_udp_wrong_id),
      cmocka_unit_test(test_udp_wrong_question),
      cmocka_unit_test(test_udp_tc_tcp_fallback),
      cmocka_unit_test(test_udp_tc_no_fallback),
      cmocka_unit_test(test_udp_garbage),
      cmocka_unit_test(test_udp_timeout),
      cmocka_unit_test(test_udp_port_unreachable),
      cmocka_unit_test(test_udp_cname_chain),
      cmocka_unit_test(test_udp_flood_bounded),
      cmocka_unit_test(test_udp_bad_name),
      cmocka_unit_test(test_tcp),
      cmocka_unit_test(test_gai_localhost),
      cmocka_unit_test(test_gai_invalid_tld),
      cmocka_unit_test(test_gai_guard_refuses_real_names),
      cmocka_unit_test(test_gai_deadline_and_cancel),
      cmocka_unit_test(test_lookup_udp),
      cmocka_unit_test(test_lookup_event_cap),
      cmocka_unit_test(test_lookup_system_and_literal),
      cmocka_unit_test(test_cancel),
      cmocka_unit_test(test_arena_full),
      cmocka_unit_test(test_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
