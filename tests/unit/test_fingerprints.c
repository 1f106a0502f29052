/* test_fingerprints.c - the bounded CSV reader (src/util/csv.c) and blockpage/DNS
 * fingerprint loading and matching (src/analysis/fingerprints.c) against the committed
 * copies in data/fingerprints/ (OONI, Citizen Lab, Censored Planet). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/csv.h"
#include "analysis/fingerprints.h"

static char fpdir[PATH_MAX + 32];

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* data/fingerprints of the repo holding the cwd */
static const char *dir(void) {
  if (fpdir[0]) return fpdir;
  char cur[PATH_MAX];
  if (!getcwd(cur, sizeof cur)) return "data/fingerprints";
  for (int up = 0; up < 8; up++) {
    char a[PATH_MAX + 64];
    snprintf(a, sizeof a, "%s/src/analysis", cur);
    if (is_dir(a)) {
      snprintf(fpdir, sizeof fpdir, "%s/data/fingerprints", cur);
      return fpdir;
    }
    char *slash = strrchr(cur, '/');
    if (!slash || slash == cur) break;
    *slash = 0;
  }
  return "data/fingerprints";
}

/* ---- CSV --------------------------------------------------------------------------------- */

static void test_csv_rfc4180(void **st) {
  (void)st;
  const char *t = "a,b,c\r\n\"x, y\",\"he said \"\"hi\"\"\",\"multi\nline\"\n,,\nlast,no newline";
  cs_csv c;
  cs_csv_init(&c, t, strlen(t));
  const char *f[CS_CSV_MAX_FIELDS];
  size_t n;
  assert_int_equal(cs_csv_next(&c, f, &n), 1);
  assert_int_equal(n, 3);
  assert_string_equal(f[2], "c");
  assert_int_equal(cs_csv_next(&c, f, &n), 1);
  assert_int_equal(n, 3);
  assert_string_equal(f[0], "x, y");
  assert_string_equal(f[1], "he said \"hi\"");
  assert_string_equal(f[2], "multi\nline");
  assert_int_equal(cs_csv_next(&c, f, &n), 1);
  assert_int_equal(n, 3);
  assert_string_equal(f[0], "");
  assert_string_equal(f[2], "");
  assert_int_equal(cs_csv_next(&c, f, &n), 1);
  assert_int_equal(n, 2);
  assert_string_equal(f[1], "no newline");
  assert_int_equal(cs_csv_next(&c, f, &n), 0);
  cs_csv_free(&c);
}

static void test_csv_malformed(void **st) {
  (void)st;
  static const char *const bad[] = {"\"unterminated,a\n", "ab\"c\",d\n", "\"a\"x,b\n"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    cs_csv c;
    cs_csv_init(&c, bad[i], strlen(bad[i]));
    const char *f[CS_CSV_MAX_FIELDS];
    size_t n;
    assert_int_equal(cs_csv_next(&c, f, &n), -1);
    assert_int_equal(cs_csv_next(&c, f, &n), -1); /* sticky */
    cs_csv_free(&c);
  }
  /* too many fields */
  char many[CS_CSV_MAX_FIELDS * 2 + 8];
  size_t k = 0;
  for (int i = 0; i < CS_CSV_MAX_FIELDS + 1; i++) many[k++] = ',';
  many[k] = 0;
  cs_csv c;
  cs_csv_init(&c, many, k);
  const char *f[CS_CSV_MAX_FIELDS];
  size_t n;
  assert_int_equal(cs_csv_next(&c, f, &n), -1);
  cs_csv_free(&c);
  /* an over-long field */
  size_t big = CS_CSV_MAX_FIELD + 10;
  char *b = malloc(big + 1);
  assert_non_null(b);
  memset(b, 'x', big);
  b[big] = 0;
  cs_csv_init(&c, b, big);
  assert_int_equal(cs_csv_next(&c, f, &n), -1);
  cs_csv_free(&c);
  free(b);
}

/* The OONI files parse completely with the documented row counts (shared/data/README.md). */
static void test_csv_row_counts(void **st) {
  (void)st;
  static const struct {
    const char *file;
    size_t rows;
  } t[] = {{"ooni_fingerprints_dns.csv", 226},
           {"ooni_fingerprints_http.csv", 1729},
           {"citizenlab_filtering_annotations_dns.csv", 127},
           {"citizenlab_filtering_annotations_http.csv", 346}};
  for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir(), t[i].file);
    FILE *fh = fopen(p, "rb");
    assert_non_null(fh);
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text, fh);
    fclose(fh);
    cs_csv c;
    cs_csv_init(&c, text, len);
    const char *f[CS_CSV_MAX_FIELDS];
    size_t n, rows = 0, width = 0;
    int rc;
    while ((rc = cs_csv_next(&c, f, &n)) == 1) {
      if (!width) width = n;
      else assert_int_equal(n, width);
      rows++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(rows - 1, t[i].rows);
    cs_csv_free(&c);
  }
}

/* ---- fingerprints ------------------------------------------------------------------------ */

static cs_fp_db *db;

static int setup(void **st) {
  (void)st;
  char err[256];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  db = cs_fp_db_load(dir(), err, sizeof err);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (!db) {
    fprintf(stderr, "load: %s\n", err);
    return -1;
  }
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  fprintf(stderr, "loaded %zu fingerprints in %.1f ms\n", cs_fp_db_count(db), ms);
  return 0;
}

static int teardown(void **st) {
  (void)st;
  cs_fp_db_free(db);
  return 0;
}

static void test_load(void **st) {
  (void)st;
  /* 226 + 1729 + 127 + 346 + 643 + 463, minus the few PCRE patterns that do not compile */
  size_t n = cs_fp_db_count(db);
  assert_true(n > 3400);
  assert_true(n <= 3534);
  char err[128];
  assert_null(cs_fp_db_load("/nonexistent/dir", err, sizeof err));
  assert_non_null(strstr(err, "no fingerprint file"));
}

/* A copy of the directory with a BOM-prefixed CSV and a broken one still loads. */
static void test_load_bom_and_partial(void **st) {
  (void)st;
  char tmpl[] = "/tmp/cs_fp_test_XXXXXX";
  char *d = mkdtemp(tmpl);
  assert_non_null(d);
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/ooni_fingerprints_dns.csv", d);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  fputs(
      "\xEF\xBB\xBFname,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,expected_countries,source,exp_url,notes\r\n"
      "x.test,isp,,dns,full,192.0.2.99,5,\"ZZ,PK\",x,,\r\n",
      f);
  fclose(f);
  snprintf(p, sizeof p, "%s/ooni_fingerprints_http.csv", d);
  f = fopen(p, "wb");
  assert_non_null(f);
  fputs("name,pattern\n\"unterminated\n", f);
  fclose(f);
  char err[256];
  cs_fp_db *x = cs_fp_db_load(d, err, sizeof err);
  assert_non_null(x);
  assert_int_equal(cs_fp_db_count(x), 1);
  cs_fp_match m;
  assert_true(cs_fp_match_dns(x, "192.0.2.99", &m));
  assert_string_equal(m.expected_countries, "ZZ,PK");
  assert_true(cs_fp_country_ok(&m, "PK"));
  assert_false(cs_fp_country_ok(&m, "IT"));
  cs_fp_db_free(x);
  snprintf(p, sizeof p, "%s/ooni_fingerprints_dns.csv", d);
  unlink(p);
  snprintf(p, sizeof p, "%s/ooni_fingerprints_http.csv", d);
  unlink(p);
  rmdir(d);
}

static bool http_match(const char *const *hn, const char *const *hv, size_t nh, const char *body,
                       cs_fp_match *m) {
  cs_fp_http r = {hn, hv, nh, (const uint8_t *)body, body ? strlen(body) : 0};
  return cs_fp_match_http(db, &r, m);
}

static void test_match_kinds(void **st) {
  (void)st;
  cs_fp_match m;
  /* body contains (ooni.ir_0) */
  assert_true(http_match(NULL, NULL, 0, "<html><iframe src=\"http://10.10.34.34\"></iframe>", &m));
  assert_string_equal(m.name, "ooni.ir_0");
  assert_int_equal(m.kind, CS_FP_KIND_CENSORSHIP);
  assert_string_equal(m.expected_countries, "IR");
  assert_true(cs_fp_country_ok(&m, "IR"));
  assert_false(cs_fp_country_ok(&m, "US"));
  assert_true(cs_fp_country_ok(&m, NULL));
  /* header.location prefix (ooni.ae_1), header name case-insensitive */
  const char *hn[] = {"LOCATION"}, *hv[] = {"http://www.bluecoat.com/notify-NotifyUser1?x=1"};
  assert_true(http_match(hn, hv, 1, "", &m));
  assert_string_equal(m.name, "ooni.ae_1");
  assert_string_equal(m.location, "header.location");
  /* header.server prefix (ooni.ae_0): the prefix must be at the start */
  const char *hn2[] = {"Server"}, *hv2[] = {"x Protected by WireFilter"};
  assert_false(http_match(hn2, hv2, 1, "", &m) && !strcmp(m.name, "ooni.ae_0"));
  hv2[0] = "Protected by WireFilter 8";
  assert_true(http_match(hn2, hv2, 1, "", &m));
  assert_string_equal(m.name, "ooni.ae_0");
  /* regexp (cp.b_nat_sa_national_2, PCRE) */
  assert_true(http_match(NULL, NULL, 0,
                         "If you believe the requested page should not be blocked please click "
                         "<a href=http://www.internet.gov.sa>here</a>",
                         &m));
  assert_int_equal(m.kind, CS_FP_KIND_CENSORSHIP);
  /* Censored Planet signature over header lines (a_prod_barracuda_2: "Server: Barracuda/NGFirewall") */
  const char *hn3[] = {"Server"}, *hv3[] = {"Barracuda/NGFirewall"};
  assert_true(http_match(hn3, hv3, 1, "", &m));
  assert_string_equal(m.name, "ooni.zz_2"); /* OONI files load first: their names win ties */
  assert_string_equal(m.location, "header.server");
  assert_int_equal(m.kind, CS_FP_KIND_CENSORSHIP);
  /* nothing */
  assert_false(http_match(NULL, NULL, 0, "<html><title>Example Domain</title></html>", &m));
}

static void test_false_positive_first(void **st) {
  (void)st;
  cs_fp_match m;
  /* a Cloudflare error page (CP false positive "Ray ID:") */
  assert_true(http_match(NULL, NULL, 0, "<html>Cloudflare Ray ID: 1234 Access denied</html>", &m));
  assert_int_equal(m.kind, CS_FP_KIND_FALSE_POSITIVE);
  /* ... but a specific OONI censorship fingerprint on the same page still wins */
  assert_true(http_match(NULL, NULL, 0, "Ray ID: 1 <iframe src=\"http://10.10.34.34\">", &m));
  assert_int_equal(m.kind, CS_FP_KIND_CENSORSHIP);
}

static void test_dns(void **st) {
  (void)st;
  cs_fp_match m;
  assert_true(cs_fp_match_dns(db, "10.10.34.36", &m));
  assert_int_equal(m.kind, CS_FP_KIND_CENSORSHIP);
  assert_string_equal(m.location, "dns");
  assert_false(cs_fp_match_dns(db, "93.184.216.34", &m));
  /* the conventional bogus answers are weak evidence, not confirmation */
  assert_true(cs_fp_match_dns(db, "127.0.0.1", &m));
  assert_int_equal(m.kind, CS_FP_KIND_WEAK);
  assert_false(cs_fp_match_dns(db, "not an ip", &m));
}

/* Nayatel Safeweb / Surf Safely (PK) are a subscriber's opt-in filter. */
static void test_optin(void **st) {
  (void)st;
  cs_fp_match m;
  assert_true(cs_fp_match_dns(db, "203.82.48.86", &m));
  assert_true(m.optin);
  assert_int_equal(m.kind, CS_FP_KIND_OPTIN);
  assert_true(cs_fp_match_dns(db, "203.82.48.83", &m));
  assert_true(m.optin);
  static const char *const pages[] = {"isp_pk_nayatel_block_optin.html",
                                      "dns_isp_pk_nayatel_safeweb.html"};
  for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) {
    char p[PATH_MAX + 128];
    snprintf(p, sizeof p, "%s/citizenlab_pk_blockpage_samples/%s", dir(), pages[i]);
    FILE *fh = fopen(p, "rb");
    assert_non_null(fh);
    static char body[1 << 16];
    size_t n = fread(body, 1, sizeof body - 1, fh);
    body[n] = 0;
    fclose(fh);
    assert_true(http_match(NULL, NULL, 0, body, &m));
    if (!m.optin)
      fail_msg("%s matched %s (%s), not opt-in", pages[i], m.name, cs_fp_kind_str(m.kind));
    assert_int_equal(m.kind, CS_FP_KIND_OPTIN);
  }
}

/* The literal a regular expression's every match contains: the longest required run, and
 * nothing when it cannot be proven. */
static void test_required_literal(void **st) {
  (void)st;
  static const struct {
    const char *re, *lit;
  } cases[] = {
      {"abc\\.def", "abc.def"},
      {"ab+cd", "cd"},
      {"x(a|b)yyyy", "yyyy"},
      {"abc{2}defg", "defg"},
      {"[abc]hello", "hello"},
      {"foo.*barbaz", "barbaz"},
      {"{\"error\":\"x\"}", "{\"error\":\"x\"}"},
      {"ab?cdef", "cdef"},
      {"abcd\\d+xy", "abcd"},
      {"(?:ab)cdef", "cdef"},
      /* not provable */
      {"a|bcdef", ""},
      {"(?i)abcdef", ""},
      {"\\Qabc\\E", ""},
      {"hello\\x41world", ""},
      {"a{,3}bcdef", ""},
      {"(a(*ACCEPT))bcdef", ""},
      {"[[:alpha:]]bcdef", ""},
      {"abcdef\\1", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char out[CS_FP_LITERAL_MAX];
    size_t n = cs_fp_required_literal(cases[i].re, strlen(cases[i].re), out, sizeof out);
    if (n != strlen(cases[i].lit) || memcmp(out, cases[i].lit, n))
      fail_msg("%s: got '%.*s', want '%s'", cases[i].re, (int)n, out, cases[i].lit);
  }
}

/* A hostile body cannot make regex matching run away (match/depth limits). */
static void test_hostile_body_is_bounded(void **st) {
  (void)st;
  size_t n = 512 * 1024;
  char *body = malloc(n + 1);
  assert_non_null(body);
  for (size_t i = 0; i < n; i++) body[i] = "<span style=ab color:red;>"[i % 26];
  body[n] = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  cs_fp_match m;
  http_match(NULL, NULL, 0, body, &m);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  fprintf(stderr, "512 KiB hostile body matched in %.2f s\n", s);
  assert_true(s < 20.0); /* generous: ASan build on a shared machine */
  free(body);
}

int main(void) {
  const struct CMUnitTest csv_tests[] = {
      cmocka_unit_test(test_csv_rfc4180),
      cmocka_unit_test(test_csv_malformed),
      cmocka_unit_test(test_csv_row_counts),
      cmocka_unit_test(test_required_literal),
  };
  const struct CMUnitTest fp_tests[] = {
      cmocka_unit_test(test_load),
      cmocka_unit_test(test_load_bom_and_partial),
      cmocka_unit_test(test_match_kinds),
      cmocka_unit_test(test_false_positive_first),
      cmocka_unit_test(test_dns),
      cmocka_unit_test(test_optin),
      cmocka_unit_test(test_hostile_body_is_bounded),
  };
  int rc = cmocka_run_group_tests(csv_tests, NULL, NULL);
  return rc | cmocka_run_group_tests(fp_tests, setup, teardown);
}
