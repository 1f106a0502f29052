/* test_apps.c - the app and platform nettests (telegram, whatsapp, signal, facebook_messenger,
 * platforms) and their endpoint-file parser, against loopback servers only: canned HTTP and
 * TLS servers (tests/support/tcp_servers.c), a lying DNS server (dns_mock.c: every name is
 * 192.0.2.1, a bogon here), our control server (helper_srv.c), and a STUN responder on a
 * loopback UDP socket in this file. Driven through the registry entries, as the command
 * drives them: OONI's keys, x_endpoints, x_functions, the outcome, and analyze() on the stored
 * JSON giving the same. The parser: every malformed line gives FILE:LINE and no file, and the
 * shipped data/apps files parse (they are never measured here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns_mock.h"
#include "helper_srv.h"
#include "nettests/endpoints.h"
#include "nettests/registry.h"
#include "tcp_servers.h"
#include "util/ipnet.h"

#define SHORT 1.0

static tsrv_pki pki;

/* ---- helpers --------------------------------------------------------------------------- */

static char *write_tmp(const char *text, size_t len) {
  char *path = strdup("/tmp/cs_test_apps_XXXXXX");
  assert_non_null(path);
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  close(fd);
  return path;
}

static const cs_optdef *opt(const cs_nettest *nt, const char *name) {
  for (size_t i = 0; i < nt->nopts; i++)
    if (!strcmp(nt->opts[i].name, name)) return &nt->opts[i];
  fail_msg("no option %s", name);
  return NULL;
}

typedef struct {
  int calls;
  char *json;
  size_t len;
  char key[64];
  char evidence[CS_OUTCOME_EVIDENCE_MAX + 1];
  bool censorship;
  cs_arena *a;
  const cs_jval *m, *tk;
} meas;

static void on_meas(void *arg, const cs_meas *m) {
  meas *x = arg;
  x->calls++;
  x->json = malloc(m->len + 1);
  assert_non_null(x->json);
  memcpy(x->json, m->json, m->len);
  x->json[m->len] = 0;
  x->len = m->len;
  assert_non_null(m->outcome);
  snprintf(x->key, sizeof x->key, "%s", m->outcome->key);
  snprintf(x->evidence, sizeof x->evidence, "%s", m->outcome->evidence ? m->outcome->evidence : "");
  x->censorship = m->outcome->censorship;
}

typedef struct {
  const char *th;       /* --th */
  const char *resolver; /* the probe's resolver */
  const char *platform[4];
  double tcp_timeout; /* 0: SHORT */
} run_opts;

/* Runs nettest name over the endpoint file text; checks the stored measurement against
 * analyze() (same outcome, same verdict keys) and returns it parsed. */
static void run(const char *name, const char *text, const run_opts *ro, cs_tls_ctx *tls, meas *x) {
  memset(x, 0, sizeof *x);
  const cs_nettest *nt = cs_nettest_find(name);
  assert_non_null(nt);
  void *s = nt->create();
  assert_non_null(s);
  char err[512];
  char *path = write_tmp(text, strlen(text));
  assert_int_equal(opt(nt, "endpoints")->set(s, path, err, sizeof err), 0);
  if (ro && ro->th) assert_int_equal(opt(nt, "th")->set(s, ro->th, err, sizeof err), 0);
  for (size_t i = 0; ro && i < 4 && ro->platform[i]; i++)
    assert_int_equal(opt(nt, "platform")->set(s, ro->platform[i], err, sizeof err), 0);
  cs_probe_cfg probe = {.resolver = ro ? ro->resolver : NULL,
                        .tls = tls,
                        .dns_timeout = SHORT,
                        .tcp_timeout = ro && ro->tcp_timeout > 0 ? ro->tcp_timeout : SHORT,
                        .tls_timeout = SHORT,
                        .http_timeout = SHORT,
                        .probe_cc = "ZZ",
                        .probe_asn = "AS0",
                        .software_version = "test"};
  int rc = nt->prepare(s, &probe, err, sizeof err);
  if (rc) fail_msg("prepare: %s", err);
  cs_loop *l = cs_loop_new();
  assert_non_null(l);
  nt->loop_ready ? nt->loop_ready(s, l, &probe, 1) : (void)0;
  cs_nettest_input in = {0};
  assert_int_equal(nt->start(l, s, &probe, &in, on_meas, x), 0);
  assert_int_equal(x->calls, 0); /* never from inside start */
  cs_loop_run(l);
  cs_loop_free(l);
  nt->destroy(s);
  unlink(path);
  free(path);
  assert_int_equal(x->calls, 1);

  x->a = cs_arena_new(0);
  x->m = cs_json_parse(x->a, x->json, x->len, NULL, err, sizeof err);
  if (!x->m) fail_msg("bad JSON: %s", err);
  assert_string_equal(cs_json_get_str(x->m, "test_name", ""), name);
  x->tk = cs_json_get(x->m, "test_keys");
  assert_non_null(x->tk);
  cs_outcome stored;
  assert_int_equal(cs_outcome_read(x->m, &stored), 0);
  assert_string_equal(stored.key, x->key);
  assert_non_null(cs_outcome_def_find(nt->outcomes, nt->noutcomes, x->key));

  /* analyze() on the stored measurement: the same outcome and the same verdict keys */
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_jw_obj_open(&w);
  cs_outcome again;
  cs_analysis_opts ao = {0};
  assert_int_equal(nt->analyze(x->a, x->m, &ao, &w, &again), 0);
  cs_jw_obj_close(&w);
  assert_string_equal(again.key, x->key);
  assert_string_equal(again.evidence ? again.evidence : "", x->evidence);
  cs_jval *wv = cs_json_parse(x->a, (const char *)b.data, b.len, NULL, err, sizeof err);
  assert_non_null(wv);
  for (size_t i = 0; i < wv->len; i++) {
    const cs_jval *mine = cs_json_get(x->tk, wv->keys[i]);
    assert_non_null(mine); /* analyze wrote nothing the run did not */
    /* same type and, for scalars, the same value */
    assert_int_equal(mine->type, wv->kids[i]->type);
    if (mine->type == CS_JSTR) assert_string_equal(mine->str, wv->kids[i]->str);
    if (mine->type == CS_JBOOL) assert_int_equal(mine->b, wv->kids[i]->b);
    if (mine->type == CS_JARR) assert_int_equal(mine->len, wv->kids[i]->len);
  }
  cs_buf_free(&b);
}

static void meas_free(meas *x) {
  cs_arena_free(x->a);
  free(x->json);
}

static const cs_jval *fn_of(const meas *x, const char *app, const char *function) {
  const cs_jval *fs = cs_json_get_arr(x->tk, "x_functions");
  assert_non_null(fs);
  for (size_t i = 0; i < fs->len; i++)
    if (!strcmp(cs_json_get_str(fs->kids[i], "app", ""), app) &&
        !strcmp(cs_json_get_str(fs->kids[i], "function", ""), function))
      return fs->kids[i];
  fail_msg("no x_functions entry %s/%s", app, function);
  return NULL;
}

static const cs_jval *ep_of(const meas *x, const char *target) {
  const cs_jval *es = cs_json_get_arr(x->tk, "x_endpoints");
  assert_non_null(es);
  for (size_t i = 0; i < es->len; i++)
    if (!strcmp(cs_json_get_str(es->kids[i], "target", ""), target)) return es->kids[i];
  fail_msg("no x_endpoints entry %s", target);
  return NULL;
}

static const char *verdict(const meas *x, const char *app, const char *fn) {
  return cs_json_get_str(fn_of(x, app, fn), "verdict", "?");
}

static tsrv *http_server(void) {
  static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  tsrv *s = tsrv_start(&(tsrv_cfg){
      .mode = TSRV_RESPOND, .resp = (const uint8_t *)resp, .resp_len = sizeof resp - 1});
  assert_non_null(s);
  return s;
}

/* ---- the parser ------------------------------------------------------------------------ */

static void test_parse_ok(void **st) {
  (void)st;
  static const char text[] =
      "# comment\r\n"
      "app telegram\n"
      "source the   first source\n"
      "source the second\n"
      "date 2026-12-03\n"
      "function dc Data centres (MTProto)\n"
      "function web Web client\n"
      "endpoint dc http http://149.154.175.50:443/ method=POST ooni=dc  # trailing comment\n"
      "endpoint web https https://Web.Telegram.org/x?y=1 expect=200,302 sni=front.example\n"
      "endpoint web tls web.telegram.org:8443 addr=2001:db8::1\n"
      "endpoint web tcp [2001:db8::2]:443\n"
      "endpoint web dns web.telegram.org\n"
      "\tendpoint web stun stun.example:3478\n";
  cs_arena *a = cs_arena_new(0);
  cs_ep_file f;
  char err[256] = "";
  assert_int_equal(cs_ep_parse(a, "t.endpoints", text, sizeof text - 1, &f, err, sizeof err), 0);
  assert_string_equal(f.app, "telegram");
  assert_int_equal(f.nsources, 2);
  assert_string_equal(f.sources[0], "the first source");
  assert_string_equal(f.date, "2026-12-03");
  assert_int_equal(f.nfunctions, 2);
  assert_string_equal(f.functions[0].label, "Data centres (MTProto)");
  assert_int_equal(f.neps, 6);
  assert_int_equal(f.eps[0].kind, CS_EP_HTTP);
  assert_string_equal(f.eps[0].method, "POST");
  assert_string_equal(f.eps[0].ooni, "dc");
  assert_int_equal(f.eps[0].port, 443);
  assert_true(f.eps[0].host_is_ip);
  assert_int_equal(f.eps[0].line, 8);
  assert_string_equal(f.eps[1].host, "web.telegram.org");
  assert_string_equal(f.eps[1].path, "/x?y=1");
  assert_string_equal(f.eps[1].method, "GET");
  assert_int_equal(f.eps[1].nexpect, 2);
  assert_int_equal(f.eps[1].expect[1], 302);
  assert_string_equal(f.eps[1].sni, "front.example");
  assert_int_equal(f.eps[1].function, 1);
  assert_true(f.eps[2].has_addr);
  assert_string_equal(f.eps[2].addrs, "2001:db8::1");
  assert_int_equal(f.eps[2].port, 8443);
  assert_string_equal(f.eps[3].host, "2001:db8::2");
  assert_int_equal(f.eps[4].kind, CS_EP_DNS);
  assert_int_equal(f.eps[5].kind, CS_EP_STUN);
  assert_int_equal(f.eps[5].line, 13);
  cs_arena_free(a);
}

/* Every malformed file: -1, "NAME:LINE: ..." naming the line, and the message says why. */
static void test_parse_errors(void **st) {
  (void)st;
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"", "e: no app line"},
      {"function a A\n", "e:1: function before the app line"},
      {"app x\napp y\n", "e:2: app given twice"},
      {"app X\n", "e:1: app X: give a name"},
      {"app x\nbogus 1\n", "e:2: unknown directive bogus"},
      {"app x\nfunction a A\nendpoint b tcp h:1\n", "e:3: endpoint: function b is not declared"},
      {"app x\nfunction a A\nendpoint a udp h:1\n", "e:3: endpoint: unknown kind udp"},
      {"app x\nfunction a A\nendpoint a tcp h\n", "e:3: h: expected HOST:PORT"},
      {"app x\nfunction a A\nendpoint a tcp h:0\n", "e:3: h:0: bad port"},
      {"app x\nfunction a A\nendpoint a tcp h:70000\n", "e:3: h:70000: bad port"},
      {"app x\nfunction a A\nendpoint a tcp h:+1\n", "e:3: h:+1: bad port"},
      {"app x\nfunction a A\nendpoint a tcp 2001:db8::1:443\n", "e:3: 2001:db8::1:443: an IPv6"},
      {"app x\nfunction a A\nendpoint a tcp [1.2.3.4]:443\n", "e:3: [1.2.3.4]:443: brackets"},
      {"app x\nfunction a A\nendpoint a tcp bad_host!:443\n", "e:3: bad_host!:443: not a host"},
      {"app x\nfunction a A\nendpoint a dns 1.2.3.4\n", "e:3: 1.2.3.4: a dns endpoint needs"},
      {"app x\nfunction a A\nendpoint a https http://h/\n", "e:3: http://h/: a https endpoint"},
      {"app x\nfunction a A\nendpoint a http http://h:99999/\n", "e:3: http://h:99999/: bad URL"},
      {"app x\nfunction a A\nendpoint a tcp h:1 sni=x\n", "e:3: sni= applies to tls and https"},
      {"app x\nfunction a A\nendpoint a tcp 1.2.3.4:1 addr=1.2.3.5\n", "e:3: addr= is for a named"},
      {"app x\nfunction a A\nendpoint a tcp h:1 addr=nope\n", "e:3: addr=nope: not an IP"},
      {"app x\nfunction a A\nendpoint a dns h addr=1.2.3.4\n", "e:3: addr= does not apply"},
      {"app x\nfunction a A\nendpoint a http http://h/ expect=99\n", "e:3: expect=99: give"},
      {"app x\nfunction a A\nendpoint a http http://h/ expect=200,\n", "e:3: expect=200,: give"},
      {"app x\nfunction a A\nendpoint a tcp h:1 expect=200\n", "e:3: expect= applies to http"},
      {"app x\nfunction a A\nendpoint a http http://h/ method=PUT\n", "e:3: method=PUT: give"},
      {"app x\nfunction a A\nendpoint a tcp h:1 ooni=A\n", "e:3: ooni=A: give a name"},
      {"app x\nfunction a A\nendpoint a tcp h:1 color=red\n", "e:3: unknown option color="},
      {"app x\nfunction a A\nendpoint a tcp h:1 ooni=a ooni=b\n", "e:3: option ooni= given twice"},
      {"app x\nfunction a A\nendpoint a tcp h:1 ooni=\n", "e:3: option ooni= needs a value"},
      {"app x\nfunction a A\nendpoint a tcp h:1 novalue\n", "e:3: novalue: expected key=value"},
      {"app x\nfunction a A\nendpoint a tcp\n", "e:3: endpoint: expected FUNCTION KIND TARGET"},
      {"app x\nfunction a\n", "e:2: function: expected NAME LABEL"},
      {"app x\nfunction a A\nfunction a B\n", "e:3: function a declared twice (first on line 2)"},
      {"app x\nfunction a A\nfunction b B\nendpoint a tcp h:1\n", "e:3: function b has no "},
      {"app x\n", "e: no function declared"},
      {"app x\ndate 2026-13-01\n", "e:2: date 2026-13-01: expected YYYY-MM-DD"},
      {"app x\ndate 2026-1-011\n", "e:2: date 2026-1-011: expected"},
      {"app x\ndate 2026-12-03\ndate 2026-12-04\n", "e:3: date given twice"},
      {"app x\nsource\n", "e:2: source: expected a text"},
      {"app x\nsource \xff\xfe\n", "e:2: not valid UTF-8"},
      {"app x\nsource a\x01z\n", "e:2: control character 0x01 in column 9"},
      {"app x\nsource a\0z\n", "e:2: control character 0x00"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cs_arena *a = cs_arena_new(0);
    cs_ep_file f;
    char err[256] = "";
    size_t len = strlen(cases[i].text);
    if (strstr(cases[i].want, "0x00")) len = 17; /* the embedded NUL */
    int rc = cs_ep_parse(a, "e", cases[i].text, len, &f, err, sizeof err);
    if (rc != -1 || strncmp(err, cases[i].want, strlen(cases[i].want)))
      fail_msg("case %zu: rc %d, err \"%s\", want \"%s\"", i, rc, err, cases[i].want);
    cs_arena_free(a);
  }
}

/* Bounds: a long line, too many endpoints, a file over the size limit, a missing file. */
static void test_parse_bounds(void **st) {
  (void)st;
  cs_arena *a = cs_arena_new(0);
  cs_ep_file f;
  char err[256];
  size_t cap = CS_EP_FILE_MAX + 4096;
  char *t = malloc(cap);
  assert_non_null(t);
  /* a line of 1024 bytes */
  int n = snprintf(t, cap, "app x\nsource ");
  memset(t + n, 'a', 1024 - 7);
  memcpy(t + n + 1024 - 7, "\n", 2);
  assert_int_equal(cs_ep_parse(a, "e", t, strlen(t), &f, err, sizeof err), -1);
  assert_string_equal(err, "e:2: line longer than 1023 bytes");
  /* 257 endpoints */
  size_t o = (size_t)snprintf(t, cap, "app x\nfunction a A\n");
  for (int i = 0; i < CS_EP_MAX_ENDPOINTS + 1; i++)
    o += (size_t)snprintf(t + o, cap - o, "endpoint a tcp h%d:1\n", i);
  assert_int_equal(cs_ep_parse(a, "e", t, o, &f, err, sizeof err), -1);
  assert_string_equal(err, "e:259: more than 256 endpoints");
  /* over 256 KiB of comments */
  memset(t, '#', cap);
  for (size_t i = 100; i < cap; i += 100) t[i] = '\n';
  assert_int_equal(cs_ep_parse(a, "e", t, CS_EP_FILE_MAX + 1, &f, err, sizeof err), -1);
  assert_string_equal(err, "e: larger than 262144 bytes");
  char *path = write_tmp(t, CS_EP_FILE_MAX + 1);
  assert_int_equal(cs_ep_load(a, path, &f, err, sizeof err), -1);
  assert_non_null(strstr(err, ": larger than 262144 bytes"));
  unlink(path);
  free(path);
  assert_int_equal(cs_ep_load(a, "/nonexistent/x.endpoints", &f, err, sizeof err), -1);
  assert_string_equal(err, "/nonexistent/x.endpoints: No such file or directory");
  free(t);
  cs_arena_free(a);
}

/* The shipped default files parse, name their app, say where they come from and when, and
 * feed OONI's keys where OONI has them. (They list real addresses: never measured here.) */
static void test_data_files(void **st) {
  (void)st;
  static const struct {
    const char *app, *ooni;
  } files[] = {{"telegram", "dc"},    {"whatsapp", "endpoint"},
               {"signal", "backend"}, {"facebook_messenger", "b_api"},
               {"x", NULL},           {"youtube", NULL},
               {"facebook", NULL},    {"instagram", NULL}};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char path[256], err[256];
    snprintf(path, sizeof path, "data/apps/%s.endpoints", files[i].app);
    if (access(path, R_OK) != 0)
      snprintf(path, sizeof path, "../data/apps/%s.endpoints", files[i].app);
    cs_arena *a = cs_arena_new(0);
    cs_ep_file f;
    if (cs_ep_load(a, path, &f, err, sizeof err) != 0) fail_msg("%s", err);
    assert_string_equal(f.app, files[i].app);
    assert_true(f.nsources >= 1);
    assert_non_null(f.date);
    bool has = !files[i].ooni;
    for (size_t j = 0; j < f.neps; j++)
      has |= f.eps[j].ooni && !strcmp(f.eps[j].ooni, files[i].ooni);
    assert_true(has);
    cs_arena_free(a);
  }
}

/* ---- telegram -------------------------------------------------------------------------- */

/* One DC answers, the others refuse: OONI says OK (one POST worked), we say partial. */
static void test_telegram_partial(void **st) {
  (void)st;
  tsrv *dc = http_server();
  uint16_t closed = tsrv_closed_port();
  char text[1024];
  snprintf(text, sizeof text,
           "app telegram\nsource test\ndate 2026-12-03\n"
           "function dc Data centres\nfunction web Web client\n"
           "endpoint dc http http://127.0.0.1:%u/ method=POST ooni=dc\n"
           "endpoint dc http http://127.0.0.1:%u/ method=POST ooni=dc\n"
           "endpoint dc http http://127.0.0.2:%u/ method=POST ooni=dc\n"
           "endpoint web http http://127.0.0.1:%u/ ooni=web\n",
           tsrv_port(dc), closed, closed, tsrv_port(dc));
  meas x;
  run("telegram", text, NULL, NULL, &x);
  assert_int_equal(cs_json_get_bool(x.tk, "telegram_http_blocking", -1), 0);
  assert_int_equal(cs_json_get_bool(x.tk, "telegram_tcp_blocking", -1), 0);
  assert_string_equal(cs_json_get_str(x.tk, "telegram_web_status", ""), "ok");
  assert_true(cs_json_is_null(cs_json_get(x.tk, "telegram_web_failure")));
  assert_string_equal(verdict(&x, "telegram", "dc"), "partial");
  assert_string_equal(cs_json_get_str(fn_of(&x, "telegram", "dc"), "method", ""), "tcp");
  assert_int_equal(cs_json_get_int(fn_of(&x, "telegram", "dc"), "endpoints_ok", -1), 1);
  assert_int_equal(cs_json_get_int(fn_of(&x, "telegram", "dc"), "endpoints_failed", -1), 2);
  assert_string_equal(verdict(&x, "telegram", "web"), "ok");
  assert_string_equal(x.key, "partial");
  assert_true(x.censorship);
  /* the POST went out, and every endpoint's steps carry its transaction id */
  const char *req = tsrv_last_request(dc, NULL);
  assert_true(strncmp(req, "POST / HTTP/1.1", 15) == 0 || strncmp(req, "GET / ", 6) == 0);
  const cs_jval *es = cs_json_get_arr(x.tk, "x_endpoints");
  assert_int_equal(es->len, 4);
  const cs_jval *tcp = cs_json_get_arr(x.tk, "tcp_connect");
  assert_int_equal(tcp->len, 4);
  for (size_t i = 0; i < es->len; i++) {
    int64_t id = (int64_t)cs_json_get_num(es->kids[i], "transaction_id", -1);
    bool found = false;
    for (size_t j = 0; j < tcp->len; j++)
      found |= (int64_t)cs_json_get_num(tcp->kids[j], "transaction_id", -2) == id;
    assert_true(found);
  }
  const cs_jval *reqs = cs_json_get_arr(x.tk, "requests");
  assert_int_equal(reqs->len, 2);
  bool post = false;
  for (size_t i = 0; i < reqs->len; i++)
    post |= !strcmp(cs_json_get_str(cs_json_get(reqs->kids[i], "request"), "method", ""), "POST");
  assert_true(post);
  const cs_jval *files = cs_json_get_arr(x.tk, "x_endpoint_files");
  assert_int_equal(files->len, 1);
  assert_string_equal(cs_json_get_str(files->kids[0], "date", ""), "2026-12-03");
  meas_free(&x);
  tsrv_stop(dc);
}

/* Every DC refuses and the web client fails: OONI's keys all say blocked. */
static void test_telegram_blocked(void **st) {
  (void)st;
  uint16_t closed = tsrv_closed_port();
  tsrv *rst = tsrv_start(&(tsrv_cfg){.mode = TSRV_RST});
  char text[1024];
  snprintf(text, sizeof text,
           "app telegram\nfunction dc DCs\nfunction web Web\n"
           "endpoint dc http http://127.0.0.1:%u/ method=POST ooni=dc\n"
           "endpoint dc http http://127.0.0.1:%u/ method=POST ooni=dc\n"
           "endpoint web http http://127.0.0.1:%u/ ooni=web\n",
           closed, closed, tsrv_port(rst));
  meas x;
  run("telegram", text, NULL, NULL, &x);
  assert_int_equal(cs_json_get_bool(x.tk, "telegram_http_blocking", -1), 1);
  assert_int_equal(cs_json_get_bool(x.tk, "telegram_tcp_blocking", -1), 1);
  assert_string_equal(cs_json_get_str(x.tk, "telegram_web_status", ""), "blocked");
  assert_string_equal(cs_json_get_str(x.tk, "telegram_web_failure", ""), "connection_reset");
  assert_string_equal(verdict(&x, "telegram", "dc"), "blocked");
  assert_string_equal(verdict(&x, "telegram", "web"), "blocked");
  assert_string_equal(cs_json_get_str(fn_of(&x, "telegram", "web"), "method", ""), "http");
  assert_string_equal(x.key, "blocked");
  assert_true(x.censorship);
  meas_free(&x);
  /* a POST that fails after connecting: OONI's tcp_blocking turns false */
  snprintf(text, sizeof text,
           "app telegram\nfunction dc DCs\n"
           "endpoint dc http http://127.0.0.1:%u/ method=POST ooni=dc\n",
           tsrv_port(rst));
  run("telegram", text, NULL, NULL, &x);
  assert_int_equal(cs_json_get_bool(x.tk, "telegram_http_blocking", -1), 1);
  assert_int_equal(cs_json_get_bool(x.tk, "telegram_tcp_blocking", -1), 0);
  meas_free(&x);
  tsrv_stop(rst);
}

/* With the control server: the endpoint our (lying) resolver sends to a bogon is reached by
 * the control (blocked by DNS), the one the control cannot reach either is down. */
static void test_telegram_control(void **st) {
  (void)st;
  tsrv *dc = http_server();
  uint16_t closed = tsrv_closed_port();
  cs_dns_mock *dns = cs_dns_mock_start(CS_DNS_MOCK_NORMAL); /* every name: 192.0.2.1 */
  assert_non_null(dns);
  char err[256];
  cs_helper_opts ho = {0};
  ho.measure.tls = cs_tls_ctx_new(pki.ca_file, true, err, sizeof err);
  helper_srv *th = helper_srv_start(&ho);
  assert_non_null(th);
  char text[1024], thurl[64], resolver[64];
  snprintf(thurl, sizeof thurl, "http://127.0.0.1:%u/", helper_srv_port(th));
  snprintf(resolver, sizeof resolver, "udp://127.0.0.1:%u", cs_dns_mock_port(dns));
  snprintf(text, sizeof text,
           "app telegram\nfunction dc DCs\nfunction down Down\n"
           "endpoint dc http http://127.0.0.1:%u/ method=POST ooni=dc\n"
           "endpoint dc http http://localhost:%u/ method=POST ooni=dc\n"
           "endpoint down tcp 127.0.0.1:%u\n",
           tsrv_port(dc), tsrv_port(dc), closed);
  meas x;
  run("telegram", text, &(run_opts){.th = thurl, .resolver = resolver}, NULL, &x);
  const cs_jval *lied =
      ep_of(&x, cs_json_get_str(cs_json_get_arr(x.tk, "x_endpoints")->kids[1], "target", ""));
  assert_string_equal(cs_json_get_str(lied, "failure", ""), "dns_bogon_error");
  assert_string_equal(cs_json_get_str(lied, "failed_operation", ""), "resolve");
  assert_int_equal(cs_json_get_bool(lied, "control_ok", -1), 1);
  assert_string_equal(verdict(&x, "telegram", "dc"), "partial");
  assert_string_equal(cs_json_get_str(fn_of(&x, "telegram", "dc"), "method", ""), "dns");
  assert_int_equal(cs_json_get_int(fn_of(&x, "telegram", "dc"), "control_ok", -1), 2);
  assert_string_equal(verdict(&x, "telegram", "down"), "down");
  const cs_jval *d = cs_json_get_arr(x.tk, "x_endpoints")->kids[2];
  assert_int_equal(cs_json_get_bool(d, "control_ok", -1), 0);
  assert_non_null(cs_json_get_str(d, "control_failure", NULL));
  assert_int_equal(cs_json_get_int(fn_of(&x, "telegram", "down"), "endpoints_down", -1), 1);
  assert_string_equal(x.key, "partial"); /* partial outranks down */
  assert_int_equal(cs_json_get_bool(x.tk, "telegram_http_blocking", -1), 0);
  meas_free(&x);
  /* only the down function: the outcome is down, not censorship */
  snprintf(text, sizeof text, "app telegram\nfunction down Down\nendpoint down tcp 127.0.0.1:%u\n",
           closed);
  run("telegram", text, &(run_opts){.th = thurl}, NULL, &x);
  assert_string_equal(x.key, "down");
  assert_false(x.censorship);
  meas_free(&x);
  helper_srv_stop(th);
  cs_tls_ctx_free(ho.measure.tls);
  cs_dns_mock_stop(dns);
  tsrv_stop(dc);
}

/* ---- whatsapp, signal, facebook_messenger ---------------------------------------------- */

static void test_whatsapp(void **st) {
  (void)st;
  tsrv *web = http_server();
  uint16_t closed = tsrv_closed_port();
  SSL_CTX *sctx = tsrv_server_ctx(&pki, "localhost", TSRV_CERT_GOOD, "http/1.1");
  static const char resp[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
  tsrv_cfg tcfg = {
      .mode = TSRV_RESPOND, .resp = (const uint8_t *)resp, .resp_len = sizeof resp - 1};
  tcfg.tls = sctx;
  tsrv *tlss = tsrv_start(&tcfg);
  char err[256];
  cs_tls_ctx *tctx = cs_tls_ctx_new(pki.ca_file, true, err, sizeof err);
  assert_non_null(tctx);
  char text[2048];
  snprintf(text, sizeof text,
           "app whatsapp\nfunction chat Chat\nfunction registration Reg\nfunction web Web\n"
           "function media Media\n"
           "endpoint chat tcp 127.0.0.1:%u ooni=endpoint\n"
           "endpoint chat tcp 127.0.0.1:%u ooni=endpoint\n"
           "endpoint chat tcp 127.0.0.2:%u ooni=endpoint\n"
           "endpoint chat tcp 127.0.0.2:%u ooni=endpoint\n"
           "endpoint registration https https://localhost:%u/v2/register ooni=registration_server\n"
           "endpoint web http http://127.0.0.1:%u/ ooni=web\n"
           "endpoint media tls localhost:%u\n"
           "endpoint media https https://localhost:%u/ expect=200\n",
           tsrv_port(web), closed, closed, closed, tsrv_port(tlss), closed, tsrv_port(tlss),
           tsrv_port(tlss));
  meas x;
  cs_labnet_add("127.0.0.0/8");
  run("whatsapp", text, NULL, tctx, &x);
  assert_string_equal(cs_json_get_str(x.tk, "whatsapp_endpoints_status", ""), "ok");
  const cs_jval *bl = cs_json_get_arr(x.tk, "whatsapp_endpoints_blocked");
  assert_int_equal(bl->len, 1);
  assert_string_equal(bl->kids[0]->str, "127.0.0.2");
  assert_int_equal(cs_json_get_arr(x.tk, "whatsapp_endpoints_dns_inconsistent")->len, 0);
  /* a 403 is fine for OONI (only network failures count) */
  assert_string_equal(cs_json_get_str(x.tk, "registration_server_status", ""), "ok");
  assert_true(cs_json_is_null(cs_json_get(x.tk, "registration_server_failure")));
  assert_string_equal(cs_json_get_str(x.tk, "whatsapp_web_status", ""), "blocked");
  assert_string_equal(cs_json_get_str(x.tk, "whatsapp_web_failure", ""), "connection_refused");
  assert_string_equal(verdict(&x, "whatsapp", "chat"), "partial");
  /* media: the TLS handshake works, the GET gets 403 where 200 was expected */
  assert_string_equal(verdict(&x, "whatsapp", "media"), "partial");
  assert_string_equal(x.key, "blocked"); /* web is blocked */
  assert_int_equal(cs_json_get_arr(x.tk, "tls_handshakes")->len, 3);
  meas_free(&x);
  cs_tls_ctx_free(tctx);
  tsrv_stop(tlss);
  SSL_CTX_free(sctx);
  tsrv_stop(web);
}

static void test_signal(void **st) {
  (void)st;
  SSL_CTX *good = tsrv_server_ctx(&pki, "localhost", TSRV_CERT_GOOD, "http/1.1");
  SSL_CTX *bad = tsrv_server_ctx(&pki, "localhost", TSRV_CERT_UNKNOWN_CA, "http/1.1");
  static const char resp[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  tsrv *ok = tsrv_start(&(tsrv_cfg){.mode = TSRV_RESPOND,
                                    .resp = (const uint8_t *)resp,
                                    .resp_len = sizeof resp - 1,
                                    .tls = good});
  tsrv *mitm = tsrv_start(&(tsrv_cfg){.mode = TSRV_RESPOND,
                                      .resp = (const uint8_t *)resp,
                                      .resp_len = sizeof resp - 1,
                                      .tls = bad});
  char err[256];
  cs_tls_ctx *tctx = cs_tls_ctx_new(pki.ca_file, true, err, sizeof err);
  char text[1024];
  snprintf(text, sizeof text,
           "app signal\nfunction chat Chat\nfunction storage Storage\nfunction uptime Up\n"
           "endpoint chat https https://localhost:%u/ ooni=backend\n"
           "endpoint storage https https://localhost:%u/ ooni=backend\n"
           "endpoint uptime dns localhost ooni=uptime\n",
           tsrv_port(ok), tsrv_port(mitm));
  meas x;
  run("signal", text, NULL, tctx, &x);
  assert_string_equal(cs_json_get_str(x.tk, "signal_backend_status", ""), "blocked");
  assert_string_equal(cs_json_get_str(x.tk, "signal_backend_failure", ""), "ssl_unknown_authority");
  assert_string_equal(verdict(&x, "signal", "chat"), "ok");
  assert_string_equal(verdict(&x, "signal", "storage"), "blocked");
  assert_string_equal(cs_json_get_str(fn_of(&x, "signal", "storage"), "method", ""), "tls");
  assert_string_equal(verdict(&x, "signal", "uptime"), "ok");
  meas_free(&x);
  /* all fine: OONI's ok, outcome ok */
  snprintf(
      text, sizeof text,
      "app signal\nfunction chat Chat\nendpoint chat https https://localhost:%u/ ooni=backend\n",
      tsrv_port(ok));
  run("signal", text, NULL, tctx, &x);
  assert_string_equal(cs_json_get_str(x.tk, "signal_backend_status", ""), "ok");
  assert_true(cs_json_is_null(cs_json_get(x.tk, "signal_backend_failure")));
  assert_string_equal(x.key, "ok");
  assert_false(x.censorship);
  meas_free(&x);
  cs_tls_ctx_free(tctx);
  tsrv_stop(ok);
  tsrv_stop(mitm);
  SSL_CTX_free(good);
  SSL_CTX_free(bad);
}

/* ---- a STUN responder on loopback (RFC 5389 Binding success, or a wrong transaction) ---- */

typedef struct {
  int fd;
  uint16_t port;
  bool wrong_tx;
  pthread_t th;
  int answered;
} stun_srv;

static void *stun_main(void *arg) {
  stun_srv *s = arg;
  for (;;) {
    uint8_t b[1500];
    struct sockaddr_in from = {0};
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(s->fd, b, sizeof b, 0, (struct sockaddr *)&from, &fl);
    if (n < 0) return NULL;
    if (n == 4 && !memcmp(b, "quit", 4)) return NULL;
    if (n < 20 || b[0] != 0 || b[1] != 1) continue;
    uint8_t r[32];
    memcpy(r, b, 20);
    r[0] = 0x01, r[1] = 0x01, r[2] = 0, r[3] = 12;
    if (s->wrong_tx) r[19] ^= 0xff;
    /* XOR-MAPPED-ADDRESS (§15.2), IPv4 */
    r[20] = 0x00, r[21] = 0x20, r[22] = 0, r[23] = 8, r[24] = 0, r[25] = 1;
    uint16_t xp = (uint16_t)(ntohs(from.sin_port) ^ 0x2112);
    r[26] = (uint8_t)(xp >> 8), r[27] = (uint8_t)xp;
    uint32_t xa = ntohl(from.sin_addr.s_addr) ^ 0x2112A442u;
    r[28] = (uint8_t)(xa >> 24), r[29] = (uint8_t)(xa >> 16), r[30] = (uint8_t)(xa >> 8),
    r[31] = (uint8_t)xa;
    sendto(s->fd, r, sizeof r, 0, (struct sockaddr *)&from, fl);
    __atomic_add_fetch(&s->answered, 1, __ATOMIC_SEQ_CST);
  }
}

static void stun_start(stun_srv *s, bool wrong_tx) {
  memset(s, 0, sizeof *s);
  s->wrong_tx = wrong_tx;
  s->fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t al = sizeof a;
  getsockname(s->fd, (struct sockaddr *)&a, &al);
  s->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&s->th, NULL, stun_main, s), 0);
}

static void stun_stop(stun_srv *s) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {
      .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(s->port)};
  sendto(fd, "quit", 4, 0, (struct sockaddr *)&a, sizeof a);
  close(fd);
  pthread_join(s->th, NULL);
  close(s->fd);
}

static void test_facebook_messenger(void **st) {
  (void)st;
  stun_srv good, wrong;
  stun_start(&good, false);
  stun_start(&wrong, true);
  tsrv *srv = http_server();
  uint16_t closed = tsrv_closed_port();
  cs_dns_mock *dns = cs_dns_mock_start(CS_DNS_MOCK_NORMAL);
  char text[2048], resolver[64];
  snprintf(resolver, sizeof resolver, "udp://127.0.0.1:%u", cs_dns_mock_port(dns));
  /* names through the lying resolver are bogons (dns inconsistent); IPs are measured as is */
  snprintf(text, sizeof text,
           "app facebook_messenger\nfunction api API\nfunction edge Edge\nfunction calls Calls\n"
           "endpoint api tcp 127.0.0.1:%u ooni=b_api\n"
           "endpoint api tcp 127.0.0.1:%u ooni=b_graph\n"
           "endpoint edge tcp edge.example:443 ooni=edge\n"
           "endpoint calls dns stun.example ooni=stun\n"
           "endpoint calls stun 127.0.0.1:%u\n"
           "endpoint calls stun 127.0.0.1:%u\n",
           tsrv_port(srv), closed, good.port, wrong.port);
  meas x;
  run("facebook_messenger", text, &(run_opts){.resolver = resolver}, NULL, &x);
  assert_int_equal(cs_json_get_bool(x.tk, "facebook_b_api_reachable", -1), 1);
  assert_int_equal(cs_json_get_bool(x.tk, "facebook_b_graph_reachable", -1), 0);
  assert_true(cs_json_is_null(cs_json_get(x.tk, "facebook_b_api_dns_consistent")));
  assert_int_equal(cs_json_get_bool(x.tk, "facebook_edge_dns_consistent", -1), 0);
  assert_true(cs_json_is_null(cs_json_get(x.tk, "facebook_edge_reachable")));
  assert_int_equal(cs_json_get_bool(x.tk, "facebook_stun_dns_consistent", -1), 0);
  assert_true(cs_json_is_null(cs_json_get(x.tk, "facebook_stun_reachable")));
  assert_true(cs_json_is_null(cs_json_get(x.tk, "facebook_star_reachable")));
  assert_int_equal(cs_json_get_bool(x.tk, "facebook_dns_blocking", -1), 1);
  assert_int_equal(cs_json_get_bool(x.tk, "facebook_tcp_blocking", -1), 1);
  assert_string_equal(verdict(&x, "facebook_messenger", "api"), "partial");
  assert_string_equal(verdict(&x, "facebook_messenger", "edge"), "blocked");
  assert_string_equal(cs_json_get_str(fn_of(&x, "facebook_messenger", "edge"), "method", ""),
                      "dns");
  /* calls: the lookup lied (dns), one STUN server answered, the other answered another
   * transaction */
  char t1[64], t2[64];
  snprintf(t1, sizeof t1, "127.0.0.1:%u", good.port);
  snprintf(t2, sizeof t2, "127.0.0.1:%u", wrong.port);
  assert_true(cs_json_is_null(cs_json_get(ep_of(&x, t1), "failure")));
  assert_string_equal(cs_json_get_str(ep_of(&x, t2), "failure", ""),
                      "unknown_failure: no STUN binding response to our transaction");
  assert_string_equal(cs_json_get_str(ep_of(&x, t2), "failed_operation", ""), "stun");
  assert_string_equal(verdict(&x, "facebook_messenger", "calls"), "partial");
  assert_true(good.answered >= 1);
  /* the UDP exchange is recorded, without the mapped address (the probe's own) */
  assert_null(strstr(x.json, "XOR"));
  bool udp = false;
  const cs_jval *ev = cs_json_get_arr(x.tk, "network_events");
  for (size_t i = 0; ev && i < ev->len; i++)
    udp |= !strcmp(cs_json_get_str(ev->kids[i], "operation", ""), "read_from");
  assert_true(udp);
  meas_free(&x);
  cs_dns_mock_stop(dns);
  tsrv_stop(srv);
  stun_stop(&good);
  stun_stop(&wrong);
}

/* ---- platforms ------------------------------------------------------------------------- */

static void test_platforms(void **st) {
  (void)st;
  tsrv *srv = http_server();
  uint16_t closed = tsrv_closed_port();
  char xf[512], yf[512];
  snprintf(xf, sizeof xf, "app x\nfunction web Site\nendpoint web http http://127.0.0.1:%u/\n",
           closed);
  snprintf(yf, sizeof yf,
           "app youtube\nfunction web Site\nfunction video Video\n"
           "endpoint web http http://127.0.0.1:%u/\nendpoint video tcp 127.0.0.1:%u\n",
           tsrv_port(srv), closed);
  char *xp = write_tmp(xf, strlen(xf)), *yp = write_tmp(yf, strlen(yf));
  const cs_nettest *nt = cs_nettest_find("platforms");
  assert_non_null(nt);
  void *s = nt->create();
  char err[512];
  assert_int_equal(opt(nt, "platform")->set(s, "x", err, sizeof err), 0);
  assert_int_equal(opt(nt, "platform")->set(s, "youtube", err, sizeof err), 0);
  assert_int_equal(opt(nt, "platform")->set(s, "tiktok", err, sizeof err), -1);
  assert_string_equal(err, "unknown platform tiktok (give x youtube facebook instagram)");
  assert_int_equal(opt(nt, "endpoints")->set(s, xp, err, sizeof err), 0);
  assert_int_equal(opt(nt, "endpoints")->set(s, yp, err, sizeof err), 0);
  cs_probe_cfg probe = {.tcp_timeout = SHORT, .http_timeout = SHORT, .software_version = "t"};
  assert_int_equal(nt->prepare(s, &probe, err, sizeof err), 0);
  cs_loop *l = cs_loop_new();
  meas x = {0};
  cs_nettest_input in = {0};
  assert_int_equal(nt->start(l, s, &probe, &in, on_meas, &x), 0);
  cs_loop_run(l);
  cs_loop_free(l);
  nt->destroy(s);
  assert_int_equal(x.calls, 1);
  x.a = cs_arena_new(0);
  x.m = cs_json_parse(x.a, x.json, x.len, NULL, NULL, 0);
  x.tk = cs_json_get(x.m, "test_keys");
  assert_string_equal(verdict(&x, "x", "web"), "blocked");
  assert_string_equal(verdict(&x, "youtube", "web"), "ok");
  assert_string_equal(verdict(&x, "youtube", "video"), "blocked");
  assert_string_equal(x.key, "blocked");
  assert_non_null(strstr(x.evidence, "x web: blocked by tcp"));
  meas_free(&x);

  /* a file for a platform that is not selected, and the selection's default files */
  s = nt->create();
  assert_int_equal(opt(nt, "platform")->set(s, "youtube", err, sizeof err), 0);
  assert_int_equal(opt(nt, "endpoints")->set(s, xp, err, sizeof err), 0);
  assert_int_equal(nt->prepare(s, &probe, err, sizeof err), -1);
  assert_non_null(strstr(err, ": platform x is not selected (--platform)"));
  nt->destroy(s);
  unlink(xp), unlink(yp);
  free(xp), free(yp);
  tsrv_stop(srv);
}

/* prepare(): a malformed or hostile file stops everything before anything runs. */
static void test_prepare_errors(void **st) {
  (void)st;
  const cs_nettest *nt = cs_nettest_find("whatsapp");
  static const char *const bad[] = {
      "app whatsapp\nfunction chat Chat\nendpoint chat tcp e1.whatsapp.net:99999\n",
      "app telegram\nfunction dc DC\nendpoint dc tcp 1.2.3.4:1\n",
  };
  static const char *const want[] = {":3: e1.whatsapp.net:99999: bad port",
                                     ": the file is for app telegram, not for whatsapp"};
  for (size_t i = 0; i < 2; i++) {
    void *s = nt->create();
    char err[512];
    char *p = write_tmp(bad[i], strlen(bad[i]));
    assert_int_equal(opt(nt, "endpoints")->set(s, p, err, sizeof err), 0);
    cs_probe_cfg probe = {0};
    assert_int_equal(nt->prepare(s, &probe, err, sizeof err), -1);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, want[i]));
    nt->destroy(s);
    unlink(p);
    free(p);
  }
  /* the probe's single --address / --sni make no sense for a list of endpoints */
  void *s = nt->create();
  char err[256];
  cs_probe_cfg probe = {.address = "192.0.2.1"};
  assert_int_equal(nt->prepare(s, &probe, err, sizeof err), -1);
  assert_string_equal(err, "--address does not apply to whatsapp (give addr= or sni= per endpoint "
                           "in the endpoint file, docs/apps.md)");
  probe = (cs_probe_cfg){.sni = "x.example"};
  assert_int_equal(nt->prepare(s, &probe, err, sizeof err), -1);
  assert_non_null(strstr(err, "--sni does not apply"));
  assert_int_equal(opt(nt, "th")->set(s, "ftp://x/", err, sizeof err), -1);
  assert_int_equal(opt(nt, "th-timeout")->set(s, "0", err, sizeof err), -1);
  nt->destroy(s);
}

/* analyze() on OONI's own measurements (no x_endpoints): the verdict from OONI's keys. */
static void test_analyze_ooni(void **st) {
  (void)st;
  static const struct {
    const char *test, *json, *want;
  } cases[] = {
      {"telegram",
       "{\"test_keys\":{\"telegram_http_blocking\":false,\"telegram_tcp_blocking\":false,"
       "\"telegram_web_status\":\"ok\"}}",
       "accessible"},
      {"telegram", "{\"test_keys\":{\"telegram_http_blocking\":true}}", "blocked"},
      {"whatsapp", "{\"test_keys\":{\"whatsapp_web_status\":\"blocked\"}}", "blocked"},
      {"signal", "{\"test_keys\":{\"signal_backend_status\":\"ok\"}}", "accessible"},
      {"facebook_messenger", "{\"test_keys\":{\"facebook_dns_blocking\":true}}", "blocked"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const cs_nettest *nt = cs_nettest_find(cases[i].test);
    cs_arena *a = cs_arena_new(0);
    cs_jval *m = cs_json_parse(a, cases[i].json, strlen(cases[i].json), NULL, NULL, 0);
    cs_outcome o;
    cs_analysis_opts ao = {0};
    assert_int_equal(nt->analyze(a, m, &ao, NULL, &o), 0);
    assert_string_equal(o.key, cases[i].want);
    assert_int_equal(o.censorship, !strcmp(cases[i].want, "blocked"));
    cs_arena_free(a);
  }
  const cs_nettest *pf = cs_nettest_find("platforms");
  cs_arena *a = cs_arena_new(0);
  cs_jval *m = cs_json_parse(a, "{\"test_keys\":{}}", 16, NULL, NULL, 0);
  cs_outcome o;
  cs_analysis_opts ao = {0};
  assert_int_equal(pf->analyze(a, m, &ao, NULL, &o), -1);
  assert_string_equal(o.key, "unknown");
  cs_arena_free(a);
}

/* Many endpoints: all measured, with bounded parallelism, in one measurement. (The server
 * accepts one connection at a time with a backlog of 16: a SYN it drops is retried after 1 s,
 * so the connect deadline is longer here.) */
static void test_many(void **st) {
  (void)st;
  tsrv *srv = tsrv_start(&(tsrv_cfg){.mode = TSRV_ACCEPT_CLOSE});
  uint16_t closed = tsrv_closed_port();
  size_t cap = 8192, o;
  char *text = malloc(cap);
  o = (size_t)snprintf(text, cap, "app telegram\nfunction dc DC\n");
  for (int i = 0; i < 40; i++)
    o += (size_t)snprintf(text + o, cap - o, "endpoint dc tcp 127.0.0.%d:%u ooni=dc\n",
                          i % 2 ? 1 + i % 3 : 1, (unsigned)(i % 2 ? closed : tsrv_port(srv)));
  meas x;
  run("telegram", text, &(run_opts){.tcp_timeout = 5}, NULL, &x);
  assert_int_equal(cs_json_get_arr(x.tk, "x_endpoints")->len, 40);
  assert_int_equal(cs_json_get_arr(x.tk, "tcp_connect")->len, 40);
  assert_int_equal(cs_json_get_int(fn_of(&x, "telegram", "dc"), "endpoints_ok", -1), 20);
  assert_string_equal(verdict(&x, "telegram", "dc"), "partial");
  meas_free(&x);
  free(text);
  tsrv_stop(srv);
}

static int setup(void **st) {
  (void)st;
  cs_labnet_add("127.0.0.0/8"); /* the local servers count as public addresses */
  return tsrv_pki_init(&pki);
}

static int teardown(void **st) {
  (void)st;
  tsrv_pki_free(&pki);
  cs_labnet_clear();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_ok),         cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_parse_bounds),     cmocka_unit_test(test_data_files),
      cmocka_unit_test(test_telegram_partial), cmocka_unit_test(test_telegram_blocked),
      cmocka_unit_test(test_telegram_control), cmocka_unit_test(test_whatsapp),
      cmocka_unit_test(test_signal),           cmocka_unit_test(test_facebook_messenger),
      cmocka_unit_test(test_platforms),        cmocka_unit_test(test_prepare_errors),
      cmocka_unit_test(test_analyze_ooni),     cmocka_unit_test(test_many),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
