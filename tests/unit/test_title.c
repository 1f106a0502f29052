/* test_title.c - OONI's <title> rule (util/title.h) and the agreement it exists for: the
 * control server's title (cs_http_rec_title, written by helper/measure.c) and the probe-side
 * analysis' title (read back from the recorded test keys by analysis/wcobs.c) are the same
 * for every body, including stray UTF-8 (aesthetics review F1). Pure: no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/wcobs.h"
#include "engine/http.h"
#include "record/record.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/title.h"

/* body = "<title>" + inner + "</title>" + tail, in a malloc'd exact-size buffer (ASan sees
 * any over-read). */
static uint8_t *make_body(const char *pre, const uint8_t *inner, size_t il, const char *post,
                          size_t *n) {
  size_t pl = strlen(pre), ql = strlen(post);
  *n = pl + il + ql;
  uint8_t *b = malloc(*n);
  assert_non_null(b);
  memcpy(b, pre, pl);
  memcpy(b + pl, inner, il);
  memcpy(b + pl + il, post, ql);
  return b;
}

/* The probe side: the body recorded as a response of a trace, written as test keys the way
 * the probe writes them (MaybeBinaryData), parsed and read by wcobs. */
static const char *probe_title(cs_arena *a, const uint8_t *body, size_t n) {
  cs_trace *t = cs_trace_new(0, 1u << 24);
  assert_non_null(t);
  cs_http_rec *r = cs_trace_add_http(t);
  assert_non_null(r);
  r->network = "tcp", r->address = "192.0.2.1:80", r->alpn = "", r->url = "http://x.example/";
  r->method = "GET";
  r->code = 200;
  r->resp.body = body;
  r->resp.body_len = n;
  cs_buf b;
  cs_buf_init(&b, 1u << 24);
  cs_jw w;
  cs_jw_init(&w, &b);
  cs_jw_obj_open(&w);
  cs_write_trace_keys(&w, t);
  cs_jw_obj_close(&w);
  assert_false(b.overflow);
  char err[96];
  cs_jval *tk = cs_json_parse(a, (const char *)b.data, b.len, NULL, err, sizeof err);
  assert_non_null(tk);
  cs_wc_obs o;
  assert_int_equal(cs_wc_obs_read_test_keys(a, tk, "http://x.example/", "0.4.3", &o), 0);
  assert_int_equal(o.nhttp, 1);
  assert_int_equal(o.http[0].body_len, n);
  const char *title = o.http[0].title;
  cs_buf_free(&b);
  cs_trace_free(t);
  return title;
}

/* The control server side: the title of a recorded response, as measure.c writes it. */
static const char *server_title(cs_arena *a, const uint8_t *body, size_t n) {
  cs_trace *t = cs_trace_new(0, 1u << 24);
  assert_non_null(t);
  cs_http_rec r = {.code = 200, .resp = {.body = body, .body_len = n}};
  const char *s = cs_http_rec_title(t, &r);
  const char *copy = cs_arena_strdup(a, s);
  cs_trace_free(t);
  return copy;
}

/* want: the title (want_len bytes), or NULL when there is none. */
static void check(const uint8_t *body, size_t n, const char *want, size_t want_len) {
  cs_arena *a = cs_arena_new(0);
  const uint8_t *o = NULL;
  size_t ol = 0;
  bool found = cs_title_find(body, n, &o, &ol);
  assert_int_equal(found, want != NULL);
  if (want) {
    assert_int_equal(ol, want_len);
    assert_memory_equal(o, want, ol);
  }
  const char *d = cs_title_dup(a, body, n);
  assert_int_equal(strlen(d), want ? want_len : 0);
  const char *st = server_title(a, body, n), *pt = probe_title(a, body, n);
  /* titles with a NUL byte cannot be compared as C strings; none of the cases has one */
  assert_string_equal(st, d);
  assert_string_equal(pt, d);
  cs_arena_free(a);
}

static void check_str(const char *body, const char *want) {
  check((const uint8_t *)body, strlen(body), want, want ? strlen(want) : 0);
}

/* The F1 body: 500 'a' + 20 stray continuation bytes are 520 runes for Go (over 512). Before,
 * the analysis counted 500 "characters" and returned a 520-byte title; the server none. */
static void test_f1_stray_continuation_bytes(void **st) {
  (void)st;
  uint8_t inner[520];
  memset(inner, 'a', 500);
  memset(inner + 500, 0x80, 20);
  size_t n;
  uint8_t *b = make_body("<title>", inner, sizeof inner, "</title>", &n);
  check(b, n, NULL, 0);
  free(b);
  /* 492 'a' + 20 stray bytes = 512 runes: a title of 512 bytes */
  b = make_body("<title>", inner + 8, 512, "</title>", &n);
  check(b, n, (const char *)inner + 8, 512);
  free(b);
}

static void test_rune_bounds(void **st) {
  (void)st;
  uint8_t inner[2048];
  size_t n;
  memset(inner, 'a', 513);
  uint8_t *b = make_body("<title>", inner, 512, "</title>", &n);
  check(b, n, (const char *)inner, 512);
  free(b);
  b = make_body("<title>", inner, 513, "</title>", &n);
  check(b, n, NULL, 0);
  free(b);
  /* 512 two-byte runes (U+0416) match; 513 do not */
  for (size_t i = 0; i < 513; i++) inner[2 * i] = 0xd0, inner[2 * i + 1] = 0x96;
  b = make_body("<title>", inner, 1024, "</title>", &n);
  check(b, n, (const char *)inner, 1024);
  free(b);
  b = make_body("<title>", inner, 1026, "</title>", &n);
  check(b, n, NULL, 0);
  free(b);
  /* a truncated three-byte sequence is two runes, an overlong two-byte form two, a surrogate
   * (ED A0 80) three: 170 * 3 + 2 = 512 runes match, one more byte does not */
  for (size_t i = 0; i < 170; i++)
    inner[3 * i] = 0xed, inner[3 * i + 1] = 0xa0, inner[3 * i + 2] = 0x80;
  inner[510] = 0xc0, inner[511] = 0x80;
  b = make_body("<title>", inner, 512, "</title>", &n);
  check(b, n, (const char *)inner, 512);
  free(b);
  inner[512] = 0xe2;
  b = make_body("<title>", inner, 513, "</title>", &n);
  check(b, n, NULL, 0);
  free(b);
}

static void test_cases(void **st) {
  (void)st;
  check_str("<html><TITLE>Hello World</Title>", "Hello World");
  check_str("<TiTlE>Case</tItLe>", "Case");
  check_str("<title></title>", NULL); /* empty: {1,512} needs one rune */
  check_str("<title></title><title>second</title>", "second");
  check_str("<title>a<b>c</title>", NULL);
  check_str("<title>a<b>c</title><title>ok</title>", "ok");
  check_str("<title >x</title>", NULL);
  check_str("<title>no end", NULL);
  check_str("<title>x</titl", NULL);
  check_str("", NULL);
  check_str("<title>\xff\xfe raw</title>", "\xff\xfe raw");
  check_str("<title>caf\xc3\xa9 \xe2\x82</title>", "caf\xc3\xa9 \xe2\x82");
  check_str("<TITLE>\xe6\x97\xa5\xe6\x9c\xac</TITLE>", "\xe6\x97\xa5\xe6\x9c\xac");
  check((const uint8_t *)"<title>x", 8, NULL, 0);
  assert_string_equal(cs_title_dup(NULL, NULL, 0), "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_f1_stray_continuation_bytes),
      cmocka_unit_test(test_rune_bounds),
      cmocka_unit_test(test_cases),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
