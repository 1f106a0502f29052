/* test_collector_ui.c - the explorer UI embedded in the binary (collector/ui.h): every file of
 * src/collector/ui/ is there with its bytes, Content-Type and ETag; lookups are by exact name
 * only (no path, no traversal); If-None-Match matching (RFC 9110 §13.1.2); and the static
 * files keep their rules: index.html loads only /ui/ files and has no inline script or
 * style, app.js never parses HTML (no innerHTML & co.) nor evals. Pure: no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "collector/ui.h"

/* The bytes of an embedded file as a string (the generator appends a NUL). */
static const char *text(const char *name) {
  const cs_ui_file *f = cs_ui_find(name);
  assert_non_null(f);
  assert_int_equal(f->data[f->len], 0);
  assert_int_equal(strlen((const char *)f->data), f->len);
  return (const char *)f->data;
}

static void test_files(void **state) {
  (void)state;
  assert_true(cs_ui_nfiles >= 3);
  const char *names[] = {"index.html", "app.js", "app.css"};
  const char *types[] = {"text/html; charset=utf-8", "text/javascript; charset=utf-8",
                         "text/css; charset=utf-8"};
  for (size_t i = 0; i < 3; i++) {
    const cs_ui_file *f = cs_ui_find(names[i]);
    assert_non_null(f);
    assert_string_equal(f->content_type, types[i]);
    assert_true(f->len > 1000);
    /* "\"" + 20 hex + "\"" */
    assert_int_equal(strlen(f->etag), 22);
    assert_int_equal(f->etag[0], '"');
    assert_int_equal(f->etag[21], '"');
    assert_int_equal(strspn(f->etag + 1, "0123456789abcdef"), 20);
  }
  /* distinct files have distinct ETags */
  for (size_t i = 0; i < cs_ui_nfiles; i++)
    for (size_t j = i + 1; j < cs_ui_nfiles; j++)
      assert_string_not_equal(cs_ui_files[i].etag, cs_ui_files[j].etag);
}

static void test_find_exact(void **state) {
  (void)state;
  const char *bad[] = {"",       "/app.js",    "ui/app.js", "../app.js", "app.js/",
                       "APP.JS", "app.js%00",  "app.js\n",  "index",     ".",
                       "..",     "app.js.bak", "./app.js",  "app.cs",    "%2e%2e"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_null(cs_ui_find(bad[i]));
  assert_null(cs_ui_find(NULL));
}

static void test_etag_match(void **state) {
  (void)state;
  const char *e = "\"0123456789abcdef0123\"";
  assert_true(cs_ui_etag_match("\"0123456789abcdef0123\"", e));
  assert_true(cs_ui_etag_match("W/\"0123456789abcdef0123\"", e));
  assert_true(cs_ui_etag_match("\"x\", W/\"0123456789abcdef0123\"", e));
  assert_true(cs_ui_etag_match("  ,\"x\" ,\t\"0123456789abcdef0123\"", e));
  assert_true(cs_ui_etag_match("*", e));
  assert_false(cs_ui_etag_match(NULL, e));
  assert_false(cs_ui_etag_match("", e));
  assert_false(cs_ui_etag_match("\"0123456789abcdef012\"", e));
  assert_false(cs_ui_etag_match("\"0123456789abcdef01234\"", e));
  assert_false(cs_ui_etag_match("0123456789abcdef0123", e));   /* unquoted */
  assert_false(cs_ui_etag_match("\"0123456789abcdef0123", e)); /* unterminated */
  assert_false(cs_ui_etag_match("\"x\", garbage \"0123456789abcdef0123\"", e));
}

static void test_static_rules(void **state) {
  (void)state;
  const char *html = text("index.html");
  assert_non_null(strstr(html, "src=\"/ui/app.js\""));
  assert_non_null(strstr(html, "href=\"/ui/app.css\""));
  assert_null(strstr(html, "<style"));
  assert_null(strstr(html, " style="));
  assert_null(strstr(html, "http://"));
  assert_null(strstr(html, "https://"));
  assert_null(strstr(html, "//cdn"));
  /* the only <script> has a src */
  const char *p = html;
  int scripts = 0;
  while ((p = strstr(p, "<script")) != NULL) {
    const char *end = strchr(p, '>');
    assert_non_null(end);
    char tag[128];
    size_t n = (size_t)(end - p) < sizeof tag - 1 ? (size_t)(end - p) : sizeof tag - 1;
    memcpy(tag, p, n);
    tag[n] = 0;
    assert_non_null(strstr(tag, " src=\"/ui/"));
    scripts++;
    p = end;
  }
  assert_int_equal(scripts, 1);
  const char *js = text("app.js");
  const char *sinks[] = {
      "innerHTML", "outerHTML",    "insertAdjacentHTML", "document.write",
      "eval(",     "new Function", "DOMParser",          "createContextualFragment"};
  for (size_t i = 0; i < sizeof sinks / sizeof *sinks; i++) assert_null(strstr(js, sinks[i]));
  assert_null(strstr(js, "https://"));
  const char *css = text("app.css");
  assert_null(strstr(css, "@import"));
  assert_null(strstr(css, "url("));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_files),
      cmocka_unit_test(test_find_exact),
      cmocka_unit_test(test_etag_match),
      cmocka_unit_test(test_static_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
