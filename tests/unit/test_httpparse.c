/* test_httpparse.c - the incremental HTTP/1.1 response parser (framing, limits, gzip/deflate,
 * error strings) and the OONI <title> extractor. Pure: no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "engine/httpparse.h"
#include "util/title.h"

/* Feeds s in slices of `step` bytes (0: all at once) and returns the final status. */
static cs_http_pstatus feed_steps(cs_http_parser *p, const void *s, size_t n, size_t step) {
  const uint8_t *d = s;
  cs_http_pstatus st = CS_HTTP_P_MORE;
  size_t off = 0;
  while (off < n && st == CS_HTTP_P_MORE) {
    size_t k = step ? (n - off < step ? n - off : step) : n - off;
    size_t used = 0;
    st = cs_http_parser_feed(p, d + off, k, &used);
    assert_true(used <= k);
    if (st == CS_HTTP_P_MORE) assert_int_equal(used, k);
    off += used;
  }
  return st;
}

static cs_http_pstatus parse(cs_http_parser *p, const char *s, size_t step, bool eof) {
  cs_http_parser_init(p, NULL);
  cs_http_pstatus st = feed_steps(p, s, strlen(s), step);
  if (eof && st == CS_HTTP_P_MORE) st = cs_http_parser_eof(p);
  return st;
}

static cs_http_pstatus parse_n(cs_http_parser *p, const char *s, size_t n, size_t step) {
  cs_http_parser_init(p, NULL);
  return feed_steps(p, s, n, step);
}

static void assert_field(const cs_http_parser *p, size_t i, const char *name, const char *value) {
  const uint8_t *n, *v;
  size_t nl, vl;
  cs_http_parser_field(p, i, &n, &nl, &v, &vl);
  assert_int_equal(nl, strlen(name));
  assert_memory_equal(n, name, nl);
  assert_int_equal(vl, strlen(value));
  if (vl) assert_memory_equal(v, value, vl);
}

static void test_content_length_any_slicing(void **st) {
  (void)st;
  const char *r = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n"
                  "X-Empty:\r\nX-Spaces:   a b  \r\n\r\nhelloEXTRA";
  for (size_t step = 0; step <= 7; step++) {
    cs_http_parser p;
    cs_http_parser_init(&p, NULL);
    size_t used = 0, n = strlen(r), off = 0;
    cs_http_pstatus s = CS_HTTP_P_MORE;
    while (s == CS_HTTP_P_MORE && off < n) {
      size_t k = step ? (n - off < step ? n - off : step) : n - off;
      s = cs_http_parser_feed(&p, r + off, k, &used);
      off += used;
    }
    assert_int_equal(s, CS_HTTP_P_DONE);
    assert_int_equal(off, n - 5); /* "EXTRA" left unconsumed */
    assert_int_equal(p.code, 200);
    assert_int_equal(cs_http_parser_nfields(&p), 4);
    assert_field(&p, 0, "Content-Type", "text/html");
    assert_field(&p, 2, "X-Empty", "");
    assert_field(&p, 3, "X-Spaces", "a b");
    assert_int_equal(p.body.len, 5);
    assert_memory_equal(p.body.data, "hello", 5);
    assert_false(p.truncated);
    size_t vl;
    const uint8_t *v = cs_http_parser_get(&p, "content-length", &vl);
    assert_non_null(v);
    assert_int_equal(vl, 1);
    cs_http_parser_free(&p);
  }
}

/* A body of announced length ends in a buffer of exactly its size (+ NUL), grown as bytes
 * arrive; an announcement alone reserves nothing. */
static void test_body_buffer_size(void **st) {
  (void)st;
  const size_t len = 100000;
  char *r = malloc(len + 128);
  assert_non_null(r);
  int h = snprintf(r, 128, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", len);
  memset(r + h, 'x', len);
  cs_http_parser p;
  assert_int_equal(parse_n(&p, r, (size_t)h + len, 1400), CS_HTTP_P_DONE);
  assert_int_equal(p.body.len, len);
  assert_int_equal(p.body.cap, len + 1);
  cs_http_parser_free(&p);
  /* 400000 announced, 10 sent: a small buffer */
  const char *lie = "HTTP/1.1 200 OK\r\nContent-Length: 400000\r\n\r\n0123456789";
  assert_int_equal(parse_n(&p, lie, strlen(lie), 0), CS_HTTP_P_MORE);
  assert_int_equal(p.body.len, 10);
  assert_true(p.body.cap <= 4096);
  cs_http_parser_free(&p);
  free(r);
}

static void test_chunked_ext_trailers(void **st) {
  (void)st;
  const char *r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 999\r\n\r\n"
                  "5;name=value;x=\"q\"\r\nhello\r\n"
                  "1\nX\n" /* bare LF tolerated */
                  "0000A\r\n0123456789\r\n"
                  "0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n";
  for (size_t step = 0; step <= 5; step++) {
    cs_http_parser p;
    assert_int_equal(parse(&p, r, step, false), CS_HTTP_P_DONE);
    assert_true(p.chunked);
    assert_int_equal(p.body.len, 16);
    assert_memory_equal(p.body.data, "helloX0123456789", 16);
    assert_int_equal(cs_http_parser_nfields(&p), 2); /* trailers are not fields */
    cs_http_parser_free(&p);
  }
}

static void test_chunked_errors(void **st) {
  (void)st;
  cs_http_parser p;
  assert_int_equal(
      parse(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, false),
      CS_HTTP_P_ERROR);
  assert_string_equal(p.error, "invalid byte in chunk length");
  cs_http_parser_free(&p);
  assert_int_equal(
      parse(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", 0, false),
      CS_HTTP_P_ERROR);
  assert_string_equal(p.error, "malformed chunked encoding");
  cs_http_parser_free(&p);
  assert_int_equal(
      parse(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", 0,
            false),
      CS_HTTP_P_ERROR);
  assert_string_equal(p.error, "http chunk length too large");
  cs_http_parser_free(&p);
  assert_int_equal(
      parse(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, false),
      CS_HTTP_P_ERROR);
  assert_string_equal(p.error, "unsupported transfer encoding: \"gzip, chunked\"");
  cs_http_parser_free(&p);
  /* EOF inside the chunked body */
  assert_int_equal(
      parse(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 0, true),
      CS_HTTP_P_ERROR);
  assert_string_equal(p.error, "unexpected EOF");
  assert_true(p.unexpected_eof);
  assert_true(cs_http_parser_head_done(&p));
  assert_int_equal(p.body.len, 2);
  cs_http_parser_free(&p);
}

static void test_until_close_and_eof(void **st) {
  (void)st;
  cs_http_parser p;
  assert_int_equal(parse(&p, "HTTP/1.0 200 OK\r\n\r\nbody bytes", 3, true), CS_HTTP_P_DONE);
  assert_true(p.until_close);
  assert_int_equal(p.minor_version, 0);
  assert_int_equal(p.body.len, 10);
  cs_http_parser_free(&p);
  /* nothing at all */
  assert_int_equal(parse(&p, "", 0, true), CS_HTTP_P_ERROR);
  assert_string_equal(p.error, "EOF");
  cs_http_parser_free(&p);
  /* inside the head */
  assert_int_equal(parse(&p, "HTTP/1.1 200 OK\r\nA: b\r\n", 0, true), CS_HTTP_P_ERROR);
  assert_string_equal(p.error, "unexpected EOF");
  assert_false(cs_http_parser_head_done(&p));
  cs_http_parser_free(&p);
  /* inside a Content-Length body */
  assert_int_equal(parse(&p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, true),
                   CS_HTTP_P_ERROR);
  assert_string_equal(p.error, "unexpected EOF");
  assert_true(cs_http_parser_head_done(&p));
  cs_http_parser_free(&p);
}

static void test_malformed(void **st) {
  (void)st;
  static const struct {
    const char *in, *err;
  } cases[] = {
      {"garbage\r\n", "malformed HTTP response \"garbage\""},
      {"\x16\x03\x01\x02 x\r\n", "malformed HTTP status code \"x\""},
      {"HTTP/1.1 2x0 OK\r\n", "malformed HTTP status code \"2x0\""},
      {"HTTP/1.1 20 OK\r\n", "malformed HTTP status code \"20\""},
      {"HTTP/1.1 099 OK\r\n", "malformed HTTP status code \"099\""},
      {"HTTP/2.0 200 OK\r\n", "malformed HTTP version \"HTTP/2.0\""},
      {"SSH-2.0-OpenSSH_9 x\r\n", "malformed HTTP status code \"x\""},
      {"HTTP/1.1 200 OK\r\nNo colon here\r\n", "malformed MIME header line: \"No colon here\""},
      {"HTTP/1.1 200 OK\r\nBad Name: v\r\n", "malformed MIME header line: \"Bad Name: v\""},
      {"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n", "malformed MIME header line: \" folded\""},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length \"-1\""},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       "bad Content-Length \"2\""},
      {"HTTP/1.1 200 OK\r\nX: \x01\xff\r\nContent-Length: z\r\n\r\n", "bad Content-Length \"z\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cs_http_parser p;
    assert_int_equal(parse(&p, cases[i].in, 0, false), CS_HTTP_P_ERROR);
    assert_string_equal(p.error, cases[i].err);
    cs_http_parser_free(&p);
  }
  /* non-printable bytes are escaped, and the quote is bounded */
  char big[300];
  memset(big, 'A', sizeof big);
  big[0] = '\x01';
  memcpy(big + sizeof big - 3, "\r\n", 3);
  cs_http_parser p;
  assert_int_equal(parse(&p, big, 0, false), CS_HTTP_P_ERROR);
  assert_true(strncmp(p.error, "malformed HTTP response \"\\x01AAA", 32) == 0);
  assert_true(strlen(p.error) < sizeof p.error);
  cs_http_parser_free(&p);
}

static void test_limits(void **st) {
  (void)st;
  cs_http_parser p;
  cs_http_limits lim = {.max_line = 64, .max_headers = 3, .max_head = 256};
  cs_http_parser_init(&p, &lim);
  char line[200];
  memset(line, 'a', sizeof line);
  assert_int_equal(feed_steps(&p, "HTTP/1.1 200 OK\r\nX: ", 20, 0), CS_HTTP_P_MORE);
  assert_int_equal(feed_steps(&p, line, sizeof line, 7), CS_HTTP_P_ERROR);
  assert_string_equal(p.error, "header line too long");
  cs_http_parser_free(&p);

  cs_http_parser_init(&p, &lim);
  const char *r = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
  assert_int_equal(feed_steps(&p, r, strlen(r), 0), CS_HTTP_P_ERROR);
  assert_string_equal(p.error, "too many header fields");
  cs_http_parser_free(&p);

  cs_http_limits lim2 = {.max_line = 64, .max_headers = 100, .max_head = 100};
  cs_http_parser_init(&p, &lim2);
  char head[400] = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 10; i++) strcat(head, "Header-X: 0123456789\r\n");
  assert_int_equal(feed_steps(&p, head, strlen(head), 1), CS_HTTP_P_ERROR);
  assert_string_equal(p.error, "response head too large");
  cs_http_parser_free(&p);
}

static void test_interim_and_no_body(void **st) {
  (void)st;
  cs_http_parser p;
  assert_int_equal(parse(&p,
                         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\n"
                         "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
                         2, false),
                   CS_HTTP_P_DONE);
  assert_int_equal(p.code, 404);
  assert_int_equal(cs_http_parser_nfields(&p), 1);
  assert_int_equal(p.body.len, 2);
  cs_http_parser_free(&p);
  char many[400] = "";
  for (int i = 0; i < 6; i++) strcat(many, "HTTP/1.1 102 Processing\r\n\r\n");
  assert_int_equal(parse(&p, many, 0, false), CS_HTTP_P_ERROR);
  assert_string_equal(p.error, "net/http: too many 1xx informational responses");
  cs_http_parser_free(&p);
  assert_int_equal(parse(&p, "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", 0, false),
                   CS_HTTP_P_DONE);
  assert_int_equal(p.body.len, 0);
  cs_http_parser_free(&p);
  assert_int_equal(parse(&p, "HTTP/1.1 304 Not Modified\r\n\r\n", 0, false), CS_HTTP_P_DONE);
  cs_http_parser_free(&p);
  cs_http_limits lim = {.head_request = true};
  cs_http_parser_init(&p, &lim);
  const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
  assert_int_equal(feed_steps(&p, r, strlen(r), 0), CS_HTTP_P_DONE);
  cs_http_parser_free(&p);
  /* no reason phrase, no trailing space */
  assert_int_equal(parse(&p, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, false),
                   CS_HTTP_P_DONE);
  assert_int_equal(p.code, 200);
  assert_int_equal(p.reason_len, 0);
  cs_http_parser_free(&p);
  /* a leading empty line is ignored (RFC 9112 §2.2) */
  assert_int_equal(parse(&p, "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, false),
                   CS_HTTP_P_DONE);
  assert_int_equal(p.code, 200);
  cs_http_parser_free(&p);
}

static void test_truncation(void **st) {
  (void)st;
  cs_http_parser p;
  cs_http_parser_init(&p, NULL);
  char head[100];
  size_t total = CS_HTTP_BODY_CAP + 1000;
  snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", total);
  assert_int_equal(feed_steps(&p, head, strlen(head), 0), CS_HTTP_P_MORE);
  uint8_t *body = malloc(total);
  memset(body, 'x', total);
  size_t used = 0;
  assert_int_equal(cs_http_parser_feed(&p, body, total, &used), CS_HTTP_P_DONE);
  assert_true(p.truncated);
  assert_int_equal(p.body.len, CS_HTTP_BODY_CAP);
  cs_http_parser_free(&p);
  /* exactly the cap is not truncated (we know the body ended) */
  cs_http_parser_init(&p, NULL);
  snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", CS_HTTP_BODY_CAP);
  feed_steps(&p, head, strlen(head), 0);
  assert_int_equal(cs_http_parser_feed(&p, body, CS_HTTP_BODY_CAP, &used), CS_HTTP_P_DONE);
  assert_false(p.truncated);
  assert_int_equal(p.body.len, CS_HTTP_BODY_CAP);
  cs_http_parser_free(&p);
  free(body);
}

static size_t zcompress(const uint8_t *in, size_t n, uint8_t **out, bool gzip) {
  z_stream z = {0};
  assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, (gzip ? 16 : 0) + 15, 9, Z_DEFAULT_STRATEGY),
                   Z_OK);
  size_t cap = deflateBound(&z, (uLong)n);
  *out = malloc(cap);
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)n;
  z.next_out = *out;
  z.avail_out = (uInt)cap;
  assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
  size_t len = z.total_out;
  deflateEnd(&z);
  return len;
}

static void test_gzip_and_deflate(void **st) {
  (void)st;
  const char *text = "<html><head><title>Compressed!</title></head><body>hi</body></html>";
  for (int gz = 0; gz < 2; gz++) {
    uint8_t *z;
    size_t zl = zcompress((const uint8_t *)text, strlen(text), &z, gz);
    char head[200];
    snprintf(head, sizeof head,
             "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %zu\r\n\r\n",
             gz ? "GZIP" : "deflate", zl);
    for (size_t step = 1; step <= 17; step += 8) {
      cs_http_parser p;
      cs_http_parser_init(&p, NULL);
      assert_int_equal(feed_steps(&p, head, strlen(head), 0), CS_HTTP_P_MORE);
      assert_int_equal(feed_steps(&p, z, zl, step), CS_HTTP_P_DONE);
      assert_int_equal(p.body.len, strlen(text));
      assert_memory_equal(p.body.data, text, strlen(text));
      assert_int_equal(p.wire_body_bytes, zl);
      cs_http_parser_free(&p);
    }
    /* no_decode keeps the wire bytes */
    cs_http_limits lim = {.no_decode = true};
    cs_http_parser p;
    cs_http_parser_init(&p, &lim);
    feed_steps(&p, head, strlen(head), 0);
    assert_int_equal(feed_steps(&p, z, zl, 0), CS_HTTP_P_DONE);
    assert_int_equal(p.body.len, zl);
    cs_http_parser_free(&p);
    /* truncated compressed stream */
    cs_http_parser_init(&p, NULL);
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n\r\n",
             gz ? "gzip" : "deflate");
    feed_steps(&p, head, strlen(head), 0);
    assert_int_equal(feed_steps(&p, z, zl / 2, 0), CS_HTTP_P_MORE);
    assert_int_equal(cs_http_parser_eof(&p), CS_HTTP_P_ERROR);
    assert_string_equal(p.error, "unexpected EOF");
    cs_http_parser_free(&p);
    free(z);
  }
  /* corrupt gzip */
  cs_http_parser p;
  assert_int_equal(
      parse(&p, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\nthis is not gzip", 0, false),
      CS_HTTP_P_ERROR);
  assert_string_equal(p.error, "gzip: incorrect header check");
  cs_http_parser_free(&p);
}

static void test_gzip_bomb(void **st) {
  (void)st;
  size_t n = 64u << 20; /* 64 MiB of zeros -> ~64 KiB compressed */
  uint8_t *zeros = calloc(1, n), *z;
  size_t zl = zcompress(zeros, n, &z, true);
  free(zeros);
  char head[200];
  snprintf(head, sizeof head,
           "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", zl);
  cs_http_parser p;
  cs_http_parser_init(&p, NULL);
  feed_steps(&p, head, strlen(head), 0);
  assert_int_equal(feed_steps(&p, z, zl, 4096), CS_HTTP_P_DONE);
  assert_true(p.truncated);
  assert_int_equal(p.body.len, CS_HTTP_BODY_CAP);
  assert_true(p.body.cap <= 2 * CS_HTTP_BODY_CAP);
  assert_true(p.wire_body_bytes < zl); /* stopped reading early */
  cs_http_parser_free(&p);
  free(z);
}

static bool title(const char *s, const char *want) {
  const uint8_t *o;
  size_t ol;
  bool ok = cs_title_find((const uint8_t *)s, strlen(s), &o, &ol);
  if (!want) return !ok;
  return ok && ol == strlen(want) && memcmp(o, want, ol) == 0;
}

static void test_title(void **st) {
  (void)st;
  assert_true(title("<html><title>Hello World</title>", "Hello World"));
  assert_true(title("<TiTlE>Case</tItLe>", "Case"));
  assert_true(title("<title></title><title>second</title>", "second"));
  assert_true(title("<title>a<b>c</title><title>ok</title>", "ok"));
  assert_true(title("<title >x</title>", NULL));
  assert_true(title("<title>no end", NULL));
  assert_true(title("<title>x</titl", NULL));
  assert_true(title("", NULL));
  assert_true(title("<title>\xff\xfe raw</title>", "\xff\xfe raw"));
  char buf[2200];
  /* 512 characters match; 513 do not; limits count runes like Go's regexp */
  strcpy(buf, "<title>");
  for (int i = 0; i < 512; i++) strcat(buf, "a");
  strcat(buf, "</title>");
  const uint8_t *o;
  size_t ol;
  assert_true(cs_title_find((const uint8_t *)buf, strlen(buf), &o, &ol));
  assert_int_equal(ol, 512);
  strcpy(buf, "<title>");
  for (int i = 0; i < 513; i++) strcat(buf, "a");
  strcat(buf, "</title>");
  assert_false(cs_title_find((const uint8_t *)buf, strlen(buf), &o, &ol));
  strcpy(buf, "<title>");
  for (int i = 0; i < 512; i++) strcat(buf, "\xd0\x96"); /* 512 two-byte runes */
  strcat(buf, "</title>");
  assert_true(cs_title_find((const uint8_t *)buf, strlen(buf), &o, &ol));
  assert_int_equal(ol, 1024);
  assert_true(cs_http_is_redirect(301) && cs_http_is_redirect(302) && cs_http_is_redirect(303) &&
              cs_http_is_redirect(307) && cs_http_is_redirect(308));
  assert_false(cs_http_is_redirect(300) || cs_http_is_redirect(304) || cs_http_is_redirect(200));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_content_length_any_slicing),
      cmocka_unit_test(test_body_buffer_size),
      cmocka_unit_test(test_chunked_ext_trailers),
      cmocka_unit_test(test_chunked_errors),
      cmocka_unit_test(test_until_close_and_eof),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_interim_and_no_body),
      cmocka_unit_test(test_truncation),
      cmocka_unit_test(test_gzip_and_deflate),
      cmocka_unit_test(test_gzip_bomb),
      cmocka_unit_test(test_title),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
