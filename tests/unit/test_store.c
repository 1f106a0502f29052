/* test_store.c - unit tests for store/: add/has/resume, duplicates, durability across
 * close/reopen, a writer killed with SIGKILL in the middle of a loop of adds, malformed input,
 * schema versioning, extraction of the indexed columns, JSON-lines import; schema 2: several
 * nettests per run, input-less measurements, outcomes read from x_outcome or decided by the
 * analyzer hook, and the migration of a schema-1 database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "tmp_db.h"

static char dir[64], dbpath[128];

static int setup(void **st) {
  (void)st;
  return cs_test_tmpdb_make("store", dir, sizeof dir, dbpath, sizeof dbpath);
}

static int teardown(void **st) {
  (void)st;
  cs_test_tmpdb_remove(dir, dbpath);
  return 0;
}

static cs_store *open_db(void) {
  char err[256];
  cs_store *s = cs_store_open(dbpath, err, sizeof err);
  if (!s) fprintf(stderr, "open: %s\n", err);
  assert_non_null(s);
  return s;
}

/* A small web_connectivity measurement for input u. */
static int meas(char *buf, size_t n, const char *u, const char *blocking) {
  return snprintf(
      buf, n,
      "{\"input\":\"%s\",\"test_name\":\"web_connectivity\",\"probe_cc\":\"ZZ\","
      "\"probe_asn\":\"AS64500\",\"report_id\":\"rid\",\"measurement_start_time\":"
      "\"2026-11-25 04:00:00\",\"test_runtime\":1.25,\"annotations\":{\"category_code\":"
      "\"NEWS\"},\"test_keys\":{\"blocking\":%s,\"accessible\":%s,\"dns_consistency\":"
      "\"consistent\",\"queries\":[{\"engine\":\"getaddrinfo\",\"answers\":[{\"ipv4\":"
      "\"192.0.2.1\"},{\"ipv4\":\"192.0.2.1\"},{\"ipv6\":\"2001:db8::1\"}]},{\"engine\":\"doh\","
      "\"answers\":[{\"ipv4\":\"198.51.100.1\"}]}],\"tcp_connect\":[{\"ip\":\"192.0.2.1\","
      "\"port\":443,\"status\":{\"failure\":null,\"success\":true}},{\"ip\":\"2001:db8::1\","
      "\"port\":443,\"status\":{\"failure\":\"connection_refused\",\"success\":false}}],"
      "\"tls_handshakes\":[{\"failure\":\"connection_reset\"},{\"failure\":null}],"
      "\"requests\":[{\"response\":{\"code\":302}},{\"response\":{\"code\":200}}],"
      "\"x_blockpage\":{\"name\":\"ooni.zz_1\",\"source\":\"ooni\",\"scope\":\"nat\","
      "\"kind\":\"censorship\"},\"x_blockpage_confirmed\":true,\"x_blockpage_optin\":false,"
      "\"x_analysis_reason\":\"fingerprint.http\"}}",
      u, blocking, strcmp(blocking, "false") ? "false" : "true");
}

static int add(cs_store *s, int64_t run, const char *u) {
  char b[4096];
  int n = meas(b, sizeof b, u, "\"http-diff\"");
  return cs_store_add(s, run, b, (size_t)n);
}

static void test_add_has_iter(void **st) {
  (void)st;
  cs_store *s = open_db();
  int64_t run = cs_store_run_begin(s, "web_connectivity", "list.csv", "{\"j\":4}", false);
  assert_true(run > 0);
  assert_false(cs_store_has(s, run, "http://a.example/"));
  assert_int_equal(add(s, run, "http://a.example/"), CS_STORE_OK);
  assert_int_equal(add(s, run, "http://b.example/"), CS_STORE_OK);
  assert_true(cs_store_has(s, run, "http://a.example/"));
  assert_true(cs_store_has(s, run, "http://b.example/"));
  assert_false(cs_store_has(s, run, "http://c.example/"));
  assert_false(cs_store_has(s, run + 1, "http://a.example/"));
  assert_int_equal(cs_store_count(s, run), 2);

  cs_store_iter *it = cs_store_iter_new(s, run);
  assert_non_null(it);
  cs_store_meas m;
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(m.input, "http://a.example/");
  assert_int_equal(m.run_id, run);
  assert_string_equal(m.test_name, "web_connectivity");
  assert_string_equal(m.category_code, "NEWS");
  assert_string_equal(m.blocking, "http-diff");
  assert_int_equal(m.accessible, 0);
  assert_string_equal(m.dns_consistency, "consistent");
  assert_null(m.dns_experiment_failure);
  /* system resolver only, deduplicated */
  assert_string_equal(m.dns_answers, "192.0.2.1 2001:db8::1");
  assert_string_equal(m.tcp_failure, "[2001:db8::1]:443 connection_refused");
  assert_string_equal(m.tls_failure, "connection_reset");
  assert_int_equal(m.tls_ok, 1);
  assert_int_equal(m.http_status, 302); /* requests[0] is the newest */
  assert_string_equal(m.blockpage_name, "ooni.zz_1");
  assert_string_equal(m.blockpage_scope, "nat");
  assert_int_equal(m.blockpage_confirmed, 1);
  assert_int_equal(m.blockpage_optin, 0);
  assert_string_equal(m.analysis_reason, "fingerprint.http");
  assert_string_equal(m.probe_cc, "ZZ");
  assert_string_equal(m.probe_asn, "AS64500");
  assert_true(m.test_runtime > 1.24 && m.test_runtime < 1.26);
  size_t len = 0;
  const char *j = cs_store_iter_json(it, &len);
  char b[4096];
  int n = meas(b, sizeof b, "http://a.example/", "\"http-diff\"");
  assert_non_null(j);
  assert_int_equal(len, n);
  assert_memory_equal(j, b, len);
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(m.input, "http://b.example/");
  assert_int_equal(cs_store_iter_next(it, &m), 0);
  cs_store_iter_free(it);
  cs_store_close(s);
}

static void test_duplicate(void **st) {
  (void)st;
  cs_store *s = open_db();
  int64_t r1 = cs_store_run_begin(s, "web_connectivity", "", NULL, false);
  int64_t r2 = cs_store_run_begin(s, "web_connectivity", "", NULL, false);
  assert_true(r1 > 0 && r2 > r1);
  assert_int_equal(add(s, r1, "http://a.example/"), CS_STORE_OK);
  assert_int_equal(add(s, r1, "http://a.example/"), CS_STORE_DUPLICATE);
  assert_string_equal(cs_store_strerror(CS_STORE_DUPLICATE), "input already stored in this run");
  assert_int_equal(cs_store_count(s, r1), 1);
  /* the same input in another run is another measurement */
  assert_int_equal(add(s, r2, "http://a.example/"), CS_STORE_OK);
  assert_int_equal(cs_store_count(s, r2), 1);
  /* the store still works after a rejected add (the transaction was rolled back) */
  assert_int_equal(add(s, r1, "http://b.example/"), CS_STORE_OK);
  assert_int_equal(cs_store_count(s, r1), 2);
  assert_int_equal(add(s, 9999, "http://a.example/"), CS_STORE_NORUN);
  cs_store_close(s);
}

static void test_resume(void **st) {
  (void)st;
  cs_store *s = open_db();
  int64_t r1 = cs_store_run_begin(s, "web_connectivity", "pk.csv", NULL, true);
  assert_true(r1 > 0);
  assert_int_equal(add(s, r1, "http://a.example/"), CS_STORE_OK);
  cs_store_close(s); /* interrupted */
  s = open_db();
  int64_t other = cs_store_run_begin(s, "web_connectivity", "global.csv", NULL, false);
  assert_true(other > r1);
  int64_t other_test = cs_store_run_begin(s, "urlgetter", "pk.csv", NULL, false);
  assert_true(other_test > other);
  assert_int_equal(cs_store_run_begin(s, "web_connectivity", "pk.csv", NULL, true), r1);
  assert_true(cs_store_has(s, r1, "http://a.example/"));
  assert_int_equal(add(s, r1, "http://a.example/"), CS_STORE_DUPLICATE);
  assert_int_equal(add(s, r1, "http://b.example/"), CS_STORE_OK);
  assert_int_equal(cs_store_run_end(s, r1), CS_STORE_OK);
  assert_int_equal(cs_store_run_end(s, r1), CS_STORE_OK); /* idempotent */
  assert_int_equal(cs_store_run_end(s, 12345), CS_STORE_NORUN);
  /* finished: a new resume starts a new run */
  int64_t r2 = cs_store_run_begin(s, "web_connectivity", "pk.csv", NULL, true);
  assert_true(r2 > other_test);
  assert_false(cs_store_has(s, r2, "http://a.example/"));
  /* without resume, always a new run even when an unfinished one exists */
  int64_t r3 = cs_store_run_begin(s, "web_connectivity", "pk.csv", NULL, false);
  assert_true(r3 > r2);
  /* resume picks the most recent unfinished one */
  assert_int_equal(cs_store_run_begin(s, "web_connectivity", "pk.csv", NULL, true), r3);
  cs_store_close(s);
}

static int collect(void *ctx, const cs_store_run *r) {
  int64_t *ids = ctx;
  for (int i = 0; i < 8; i++)
    if (!ids[i]) {
      ids[i] = r->id;
      break;
    }
  return 0;
}

static void test_durable_reopen(void **st) {
  (void)st;
  cs_store *s = open_db();
  int64_t run = cs_store_run_begin(s, "web_connectivity", "l.csv", "{\"parallel\":8}", false);
  char u[64];
  for (int i = 0; i < 50; i++) {
    snprintf(u, sizeof u, "http://h%d.example/", i);
    assert_int_equal(add(s, run, u), CS_STORE_OK);
  }
  assert_int_equal(cs_store_run_end(s, run), CS_STORE_OK);
  int64_t run2 = cs_store_run_begin(s, "web_connectivity", "", NULL, false);
  cs_store_close(s);

  s = open_db();
  assert_int_equal(cs_store_count(s, run), 50);
  assert_int_equal(cs_store_run_latest(s), run2);
  cs_arena *a = cs_arena_new(0);
  cs_store_run r;
  assert_int_equal(cs_store_run_get(s, run, a, &r), CS_STORE_OK);
  assert_int_equal(r.id, run);
  assert_string_equal(r.test_name, "web_connectivity");
  assert_string_equal(r.input_list, "l.csv");
  assert_string_equal(r.params_json, "{\"parallel\":8}");
  assert_non_null(r.started_at);
  assert_non_null(r.finished_at);
  assert_int_equal(r.count, 50);
  assert_int_equal(cs_store_run_get(s, run2, a, &r), CS_STORE_OK);
  assert_null(r.finished_at);
  assert_null(r.params_json);
  assert_int_equal(cs_store_run_get(s, 777, a, &r), CS_STORE_NORUN);
  cs_arena_free(a);
  int64_t ids[8] = {0};
  assert_int_equal(cs_store_runs(s, collect, ids), 0);
  assert_int_equal(ids[0], run2); /* newest first */
  assert_int_equal(ids[1], run);
  assert_int_equal(ids[2], 0);
  cs_store_close(s);

  /* WAL mode and synchronous=FULL are what the durability claim rests on */
  sqlite3 *db;
  assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
  sqlite3_finalize(q);
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(q, 0), 2); /* schema 2 (issue 9): test_name + outcome */
  sqlite3_finalize(q);
  sqlite3_close(db);
}

static void test_malformed(void **st) {
  (void)st;
  cs_store *s = open_db();
  int64_t run = cs_store_run_begin(s, "web_connectivity", "", NULL, false);
  static const char *bad[] = {
      "",
      "not json",
      "{\"input\":\"http://a.example/\"",           /* truncated */
      "{\"input\":\"http://a.example/\"} trailing", /* trailing garbage */
      "[\"input\"]",                                /* not an object */
      "{\"test_keys\":{}}",                         /* no input */
      "{\"input\":42}",                             /* input not a string */
      "{\"input\":null}",
      "{\"input\":\"http://a.example/\\u0000x\"}", /* a NUL would cut the key short */
      "{\"input\":\"http://\\ud800.example/\"",    /* truncated after a lone surrogate */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(cs_store_add(s, run, bad[i], strlen(bad[i])), CS_STORE_BADJSON);
  const char nul[] = "{\"input\":\"http://a.example/\"}\0{}";
  assert_int_equal(cs_store_add(s, run, nul, sizeof nul - 1), CS_STORE_BADJSON);
  assert_int_equal(cs_store_add(s, run, NULL, 10), CS_STORE_BADJSON);
  /* deeply nested input is bounded by the parser */
  char deep[300];
  memset(deep, '[', sizeof deep);
  assert_int_equal(cs_store_add(s, run, deep, sizeof deep), CS_STORE_BADJSON);
  assert_int_equal(cs_store_count(s, run), 0);
  /* minimal and odd-typed but acceptable: columns unknown */
  const char *min = "{\"input\":\"x\",\"test_keys\":{\"blocking\":7,\"accessible\":\"yes\","
                    "\"tls_handshakes\":{},\"requests\":[{\"response\":{\"code\":1e9}}],"
                    "\"x_blockpage\":\"str\"}}";
  assert_int_equal(cs_store_add(s, run, min, strlen(min)), CS_STORE_OK);
  cs_store_iter *it = cs_store_iter_new(s, run);
  cs_store_meas m;
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_null(m.blocking);
  assert_int_equal(m.accessible, -1);
  assert_int_equal(m.http_status, 0);
  assert_null(m.blockpage_name);
  assert_null(m.category_code);
  assert_true(m.test_runtime < 0);
  cs_store_iter_free(it);
  cs_store_close(s);
}

static void test_schema_newer(void **st) {
  (void)st;
  cs_store_close(open_db());
  sqlite3 *db;
  assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  char err[256];
  assert_null(cs_store_open(dbpath, err, sizeof err));
  assert_non_null(strstr(err, "newer"));
  assert_null(cs_store_open("/nonexistent/dir/x.db", err, sizeof err));
  /* somebody else's SQLite database is left alone */
  char other[160];
  snprintf(other, sizeof other, "%s/other.db", dir);
  assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  assert_null(cs_store_open(other, err, sizeof err));
  assert_non_null(strstr(err, "not a censorscope database"));
  unlink(other);
  assert_null(cs_store_open("", err, sizeof err));
}

/* The child adds measurements as fast as it can and acknowledges each add that returned over
 * a pipe; the parent SIGKILLs it mid-loop, then checks that every acknowledged input is there
 * exactly once, at most one more (committed, not yet acknowledged), and that every row is
 * whole (its JSON parses and equals what was written). */
static void test_kill9(void **st) {
  (void)st;
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    char err[256];
    cs_store *s = cs_store_open(dbpath, err, sizeof err);
    int64_t run = s ? cs_store_run_begin(s, "web_connectivity", "kill.csv", NULL, true) : -1;
    if (run != 1) _exit(3);
    char u[64];
    for (uint32_t i = 0;; i++) {
      snprintf(u, sizeof u, "http://k%u.example/", i);
      if (add(s, run, u) != CS_STORE_OK) _exit(4);
      if (write(p[1], &i, sizeof i) != sizeof i) _exit(5);
    }
  }
  close(p[1]);
  uint32_t last = 0, v;
  long acked = 0;
  while (acked < 150 && read(p[0], &v, sizeof v) == sizeof v) last = v, acked++;
  usleep(3000); /* let it be somewhere inside the next add */
  kill(pid, SIGKILL);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  while (read(p[0], &v, sizeof v) == sizeof v) last = v, acked++; /* acks still in the pipe */
  close(p[0]);
  assert_int_equal(acked, (long)last + 1);

  cs_store *s = open_db();
  int64_t n = cs_store_count(s, 1);
  assert_true(n >= acked && n <= acked + 1);
  char u[64];
  for (uint32_t i = 0; i < (uint32_t)acked; i++) {
    snprintf(u, sizeof u, "http://k%u.example/", i);
    assert_true(cs_store_has(s, 1, u));
  }
  cs_store_iter *it = cs_store_iter_new(s, 1);
  cs_store_meas m;
  int64_t rows = 0;
  cs_arena *a = cs_arena_new(0);
  while (cs_store_iter_next(it, &m) == 1) {
    snprintf(u, sizeof u, "http://k%lld.example/", (long long)rows);
    assert_string_equal(m.input, u); /* in order, each once */
    size_t len;
    const char *j = cs_store_iter_json(it, &len);
    char b[4096];
    int bn = meas(b, sizeof b, u, "\"http-diff\"");
    assert_int_equal(len, bn);
    assert_memory_equal(j, b, len);
    assert_non_null(cs_json_parse(a, j, len, NULL, NULL, 0));
    rows++;
  }
  cs_arena_free(a);
  cs_store_iter_free(it);
  assert_int_equal(rows, n);
  /* the killed run is resumable and refuses duplicates */
  assert_int_equal(cs_store_run_begin(s, "web_connectivity", "kill.csv", NULL, true), 1);
  assert_int_equal(add(s, 1, "http://k0.example/"), CS_STORE_DUPLICATE);
  cs_store_close(s);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
  sqlite3_finalize(q);
  sqlite3_close(db);
}

/* Two processes create the same new database at once and write to it together (the runner
 * and a report, or two runs): schema created once, nothing lost, no SQLITE_BUSY surfacing. */
static void test_two_writers(void **st) {
  (void)st;
  pid_t pids[2];
  for (int c = 0; c < 2; c++) {
    pids[c] = fork();
    assert_true(pids[c] >= 0);
    if (pids[c] == 0) {
      char err[256], u[64];
      cs_store *s = cs_store_open(dbpath, err, sizeof err);
      if (!s) {
        fprintf(stderr, "child %d: %s\n", c, err);
        _exit(3);
      }
      int64_t run = cs_store_run_begin(s, c ? "b" : "a", "", NULL, false);
      if (run <= 0) _exit(4);
      for (int i = 0; i < 60; i++) {
        snprintf(u, sizeof u, "http://w%d.example/", i);
        if (add(s, run, u) != CS_STORE_OK) _exit(5);
        if (!cs_store_has(s, run, u)) _exit(6);
      }
      cs_store_close(s);
      _exit(0);
    }
  }
  for (int c = 0; c < 2; c++) {
    int status;
    assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  cs_store *s = open_db();
  assert_int_equal(cs_store_count(s, 1), 60);
  assert_int_equal(cs_store_count(s, 2), 60);
  assert_int_equal(cs_store_run_latest(s), 2);
  cs_store_close(s);
}

static void test_import_jsonl(void **st) {
  (void)st;
  char err[256];
  cs_store *s = cs_store_open_scratch(err, sizeof err);
  assert_non_null(s);
  int64_t run = cs_store_run_begin(s, "web_connectivity", "-", NULL, false);
  char b[4096];
  FILE *f = tmpfile();
  assert_non_null(f);
  meas(b, sizeof b, "http://a.example/", "\"dns\"");
  fprintf(f, "%s\r\n\n   \n", b);
  meas(b, sizeof b, "http://b.example/", "false");
  fprintf(f, "  %s\n", b);
  fprintf(f, "{broken\n");
  meas(b, sizeof b, "http://a.example/", "false");
  fprintf(f, "%s\n", b); /* duplicate input: the first one stays */
  fputs("{\"input\":\"http://nul.example/\"}", f);
  fputc(0, f);
  fputs("\n", f);
  meas(b, sizeof b, "http://c.example/", "null");
  fputs(b, f); /* no final newline */
  rewind(f);
  cs_store_import_stats is;
  assert_int_equal(cs_store_import_jsonl(s, run, f, &is), CS_STORE_OK);
  fclose(f);
  assert_int_equal(is.added, 3);
  assert_int_equal(is.duplicate, 1);
  assert_int_equal(is.bad, 2);
  cs_store_iter *it = cs_store_iter_new(s, run);
  cs_store_meas m;
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(m.input, "http://a.example/");
  assert_string_equal(m.blocking, "dns");
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(m.blocking, "false");
  assert_int_equal(m.accessible, 1);
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_null(m.blocking);
  assert_int_equal(cs_store_iter_next(it, &m), 0);
  cs_store_iter_free(it);
  cs_store_close(s);
}

/* The inputs of the complete JSON lines of a file, in order, joined by spaces; whether the
 * file ends with a newline. */
static void file_inputs(const char *path, char *out, size_t cap, bool *ends_nl) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  out[0] = 0;
  char line[8192];
  int last = '\n', c;
  while (fgets(line, sizeof line, f)) {
    const char *p = strstr(line, "\"input\":\"");
    assert_non_null(p);
    p += 9;
    size_t l = strcspn(p, "\"");
    snprintf(out + strlen(out), cap - strlen(out), "%s%.*s", out[0] ? " " : "", (int)l, p);
  }
  fseek(f, -1, SEEK_END);
  if ((c = fgetc(f)) != EOF) last = c;
  *ends_nl = last == '\n';
  fclose(f);
}

/* Resuming: the JSON lines get the measurements the database holds but the file lacks, and
 * lose a line cut by the interruption; a new run only ends a cut line. */
static void test_sync_jsonl(void **st) {
  (void)st;
  cs_store *s = open_db();
  int64_t run = cs_store_run_begin(s, "web_connectivity", "list.csv", NULL, false);
  assert_true(run > 0);
  char b[4096], path[160];
  snprintf(path, sizeof path, "%s/m.jsonl", dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  /* u1 in both; u2 in the database only (killed between the two writes); u3 in the database
   * and cut in the file; u4 in neither (in flight) */
  const char *in_db[] = {"http://u1/", "http://u2/", "http://u3/"};
  for (size_t i = 0; i < 3; i++) assert_int_equal(add(s, run, in_db[i]), CS_STORE_OK);
  int n = meas(b, sizeof b, "http://u1/", "\"http-diff\"");
  fwrite(b, 1, (size_t)n, f), fputc('\n', f);
  n = meas(b, sizeof b, "http://u3/", "\"http-diff\"");
  fwrite(b, 1, (size_t)n / 2, f);
  fclose(f);
  f = fopen(path, "a");
  assert_non_null(f);
  assert_int_equal(cs_store_sync_jsonl(s, run, f, path, true), 2);
  fclose(f);
  char got[256];
  bool nl;
  file_inputs(path, got, sizeof got, &nl);
  assert_string_equal(got, "http://u1/ http://u2/ http://u3/");
  assert_true(nl);
  /* once in line, nothing more to do */
  f = fopen(path, "a");
  assert_int_equal(cs_store_sync_jsonl(s, run, f, path, true), 0);
  /* a new run after another cut line: the line is ended, nothing is added */
  n = meas(b, sizeof b, "http://u4/", "\"http-diff\"");
  fwrite(b, 1, 40, f);
  fclose(f);
  f = fopen(path, "a");
  assert_int_equal(cs_store_sync_jsonl(s, run, f, path, false), 0);
  fclose(f);
  f = fopen(path, "rb");
  fseek(f, -1, SEEK_END);
  assert_int_equal(fgetc(f), '\n');
  fclose(f);
  /* not a regular file: left alone */
  f = fopen("/dev/null", "a");
  assert_int_equal(cs_store_sync_jsonl(s, run, f, "/dev/null", true), 0);
  fclose(f);
  unlink(path);
  cs_store_close(s);
}

static void test_extract_answers(void **st) {
  (void)st;
  cs_arena *a = cs_arena_new(0);
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_buf_puts(&b, "{\"input\":\"u\",\"test_keys\":{\"queries\":[{\"engine\":\"system\","
                  "\"answers\":[");
  for (int i = 0; i < 200; i++)
    cs_buf_printf(&b, "%s{\"ipv4\":\"203.0.113.%d\"},{\"hostname\":\"c.example\"}", i ? "," : "",
                  i);
  cs_buf_puts(&b, "]}]}}");
  cs_store_meas m;
  cs_jval *v = cs_json_parse(a, (const char *)b.data, b.len, NULL, NULL, 0);
  assert_int_equal(cs_store_extract(a, v, &m), 0);
  size_t n = strlen(m.dns_answers);
  assert_true(n > 400 && n < 512); /* capped */
  assert_true(!strncmp(m.dns_answers, "203.0.113.0 203.0.113.1 ", 24));
  assert_null(strstr(m.dns_answers, "c.example"));    /* addresses only */
  const char *last = strrchr(m.dns_answers, ' ') + 1; /* ends on a whole address */
  assert_true(!strncmp(last, "203.0.113.", 10) && strlen(last) >= 11);
  const char *cn = "{\"input\":\"u\",\"test_keys\":{\"queries\":[{\"engine\":\"getaddrinfo\","
                   "\"answers\":[{\"hostname\":\"a.example\"},{\"hostname\":\"a.example\"}]}]}}";
  v = cs_json_parse(a, cn, strlen(cn), NULL, NULL, 0);
  assert_int_equal(cs_store_extract(a, v, &m), 0);
  assert_string_equal(m.dns_answers, "a.example"); /* CNAME only when no address */
  assert_int_equal(cs_store_extract(a, NULL, &m), -1);
  cs_buf_free(&b);
  cs_arena_free(a);
}

static void test_reextract(void **st) {
  (void)st;
  cs_store *s = open_db();
  int64_t r1 = cs_store_run_begin(s, "web_connectivity", "", NULL, false);
  int64_t r2 = cs_store_run_begin(s, "web_connectivity", "x", NULL, false);
  assert_int_equal(add(s, r1, "http://a.example/"), CS_STORE_OK);
  assert_int_equal(add(s, r1, "http://b.example/"), CS_STORE_OK);
  assert_int_equal(add(s, r2, "http://a.example/"), CS_STORE_OK);
  /* an older extraction: wrong columns; one row whose JSON is damaged */
  sqlite3 *db;
  assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "UPDATE measurements SET blocking=NULL, dns_answers='old', "
                                "tls_ok=9, blockpage_name=NULL;"
                                "UPDATE measurements SET json='{' WHERE input='http://b.example/'",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  int64_t n = -1;
  assert_int_equal(cs_store_reextract(s, r1, &n), CS_STORE_OK);
  assert_int_equal(n, 1); /* b's JSON does not parse: left alone */
  cs_store_iter *it = cs_store_iter_new(s, r1);
  cs_store_meas m;
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(m.blocking, "http-diff");
  assert_string_equal(m.dns_answers, "192.0.2.1 2001:db8::1");
  assert_int_equal(m.tls_ok, 1);
  assert_string_equal(m.blockpage_name, "ooni.zz_1");
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_null(m.blocking);
  assert_string_equal(m.dns_answers, "old");
  cs_store_iter_free(it);
  it = cs_store_iter_new(s, r2);
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_null(m.blocking); /* other run untouched */
  cs_store_iter_free(it);
  assert_int_equal(cs_store_reextract(s, 0, &n), CS_STORE_OK);
  assert_int_equal(n, 2);
  cs_store_close(s);
  char err[128];
  s = cs_store_open_scratch(err, sizeof err);
  assert_int_equal(cs_store_reextract(s, 0, NULL), CS_STORE_BADJSON);
  cs_store_close(s);
}

/* ---- schema 2: nettests, input-less measurements, outcomes, migration ----------------------- */

/* Test hook: "site_down" for web_connectivity, cannot tell otherwise; counts its calls. */
static int calls;
static char hook_ctx[] = "ctx";
static int hook(void *ctx, cs_arena *a, const cs_jval *m, const cs_store_meas *cols,
                cs_outcome *out) {
  (void)a, (void)m;
  calls++;
  assert_string_equal(ctx, "ctx");
  if (!cols->test_name || strcmp(cols->test_name, "web_connectivity")) return -1;
  *out = (cs_outcome){.key = "site_down", .evidence = "from the hook"};
  return 0;
}

static const char optin_json[] =
    "{\"input\":\"http://optin.example/\",\"test_name\":\"web_connectivity\",\"test_keys\":"
    "{\"blocking\":\"dns\",\"accessible\":false,\"x_blockpage\":{\"name\":\"nayatel\"},"
    "\"x_blockpage_optin\":true,\"x_outcome\":\"optin\",\"x_censorship\":false,"
    "\"x_evidence\":\"DNS answer is the blockpage server nayatel (203.0.113.86)\"}}";
static const char nullin_json[] =
    "{\"input\":null,\"test_name\":\"stunreachability\",\"report_id\":\"r2\",\"test_keys\":"
    "{\"x_outcome\":\"accessible\",\"x_censorship\":false,\"x_evidence\":null}}";
static const char getter_json[] =
    "{\"input\":\"http://optin.example/\",\"test_name\":\"urlgetter\",\"test_keys\":"
    "{\"failure\":\"connection_reset\",\"x_outcome\":\"http_failure\",\"x_censorship\":true}}";

static void test_nettests_outcomes(void **st) {
  (void)st;
  cs_store *s = open_db();
  int64_t run = cs_store_run_begin(s, "import", "", NULL, false);
  /* the outcome is read from x_outcome, never re-derived from blocking "dns" */
  assert_int_equal(cs_store_add(s, run, optin_json, strlen(optin_json)), CS_STORE_OK);
  /* an input-less measurement is stored, once per run */
  assert_false(cs_store_has(s, run, NULL));
  assert_int_equal(cs_store_add(s, run, nullin_json, strlen(nullin_json)), CS_STORE_OK);
  assert_true(cs_store_has(s, run, NULL));
  assert_int_equal(cs_store_add(s, run, nullin_json, strlen(nullin_json)), CS_STORE_DUPLICATE);
  /* the same input measured by another nettest is another measurement */
  assert_int_equal(cs_store_add(s, run, getter_json, strlen(getter_json)), CS_STORE_OK);
  assert_int_equal(cs_store_add(s, run, getter_json, strlen(getter_json)), CS_STORE_DUPLICATE);
  /* without x_outcome and without a hook: waiting, read as undetermined */
  assert_int_equal(add(s, run, "http://a.example/"), CS_STORE_OK);
  cs_store_iter *it = cs_store_iter_new(s, run);
  cs_store_meas m;
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(m.blocking, "dns");
  assert_string_equal(m.outcome, "optin");
  assert_int_equal(m.censorship, 0);
  assert_string_equal(m.evidence, "DNS answer is the blockpage server nayatel (203.0.113.86)");
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_null(m.input);
  assert_string_equal(m.test_name, "stunreachability");
  assert_string_equal(m.outcome, "accessible");
  assert_null(m.evidence);
  assert_null(m.dns_answers); /* evidence summaries: null for a nettest without them */
  assert_int_equal(m.tls_ok, 0);
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(m.test_name, "urlgetter");
  assert_string_equal(m.outcome, "http_failure");
  assert_int_equal(m.censorship, 1);
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(m.outcome, "undetermined");
  assert_int_equal(cs_store_iter_next(it, &m), 0);
  cs_store_iter_free(it);
  /* the hook decides the waiting row now, and every later one without x_outcome */
  calls = 0;
  assert_int_equal(cs_store_set_analyzer(s, hook, hook_ctx), CS_STORE_OK);
  assert_int_equal(calls, 1);
  assert_int_equal(add(s, run, "http://b.example/"), CS_STORE_OK);
  assert_int_equal(calls, 2);
  const char *other = "{\"input\":\"x\",\"test_name\":\"other\"}";
  assert_int_equal(cs_store_add(s, run, other, strlen(other)), CS_STORE_OK);
  assert_int_equal(calls, 3);
  assert_int_equal(cs_store_set_analyzer(s, hook, hook_ctx), CS_STORE_OK);
  assert_int_equal(calls, 3); /* nothing waits any more: decided rows are not asked again */
  it = cs_store_iter_new(s, run);
  for (int i = 0; i < 3; i++) assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(m.input, "http://a.example/");
  assert_string_equal(m.outcome, "site_down");
  assert_string_equal(m.evidence, "from the hook");
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(m.outcome, "site_down");
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(m.outcome, "undetermined"); /* the hook could not tell */
  cs_store_iter_free(it);
  /* the run is named after its measurements: several nettests -> "mixed" */
  assert_int_equal(cs_store_run_name(s, run), CS_STORE_OK);
  cs_arena *a = cs_arena_new(0);
  cs_store_run r;
  assert_int_equal(cs_store_run_get(s, run, a, &r), CS_STORE_OK);
  assert_string_equal(r.test_name, "mixed");
  int64_t run2 = cs_store_run_begin(s, "import", "", NULL, false);
  assert_int_equal(cs_store_run_name(s, run2), CS_STORE_OK); /* empty: unchanged */
  assert_int_equal(cs_store_run_get(s, run2, a, &r), CS_STORE_OK);
  assert_string_equal(r.test_name, "import");
  assert_int_equal(add(s, run2, "http://a.example/"), CS_STORE_OK);
  assert_int_equal(cs_store_run_name(s, run2), CS_STORE_OK);
  assert_int_equal(cs_store_run_get(s, run2, a, &r), CS_STORE_OK);
  assert_string_equal(r.test_name, "web_connectivity");
  cs_arena_free(a);
  /* still not measurements: input null without a test_name, input of another type */
  const char *bad[] = {"{\"input\":null}", "{\"test_keys\":{}}",
                       "{\"input\":[],\"test_name\":\"x\"}"};
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(cs_store_add(s, run, bad[i], strlen(bad[i])), CS_STORE_BADJSON);
  cs_store_close(s);
}

/* Schema 1, exactly as censorscope wrote it before issue 9. */
static const char schema_v1[] =
    "CREATE TABLE runs (id INTEGER PRIMARY KEY, test_name TEXT NOT NULL, input_list TEXT NOT "
    "NULL, params TEXT, started_at TEXT NOT NULL DEFAULT (datetime('now')), finished_at TEXT);"
    "CREATE INDEX runs_resume ON runs(test_name, input_list, finished_at);"
    "CREATE TABLE measurements (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES "
    "runs(id), input TEXT NOT NULL, test_name TEXT, category_code TEXT, measurement_start_time "
    "TEXT, test_runtime REAL, blocking TEXT, accessible INTEGER, dns_consistency TEXT, "
    "dns_experiment_failure TEXT, http_experiment_failure TEXT, control_failure TEXT, "
    "dns_answers TEXT, tcp_failure TEXT, tls_failure TEXT, tls_ok INTEGER NOT NULL DEFAULT 0, "
    "http_status INTEGER NOT NULL DEFAULT 0, blockpage_name TEXT, blockpage_source TEXT, "
    "blockpage_scope TEXT, blockpage_kind TEXT, blockpage_confirmed INTEGER NOT NULL DEFAULT 0, "
    "blockpage_optin INTEGER NOT NULL DEFAULT 0, server_side_block TEXT, analysis_reason TEXT, "
    "probe_cc TEXT, probe_asn TEXT, report_id TEXT, stored_at TEXT NOT NULL DEFAULT "
    "(datetime('now')), json TEXT NOT NULL, UNIQUE(run_id, input));"
    "PRAGMA user_version=1;";

static void test_migrate_v1(void **st) {
  (void)st;
  sqlite3 *db;
  assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
  char b[4096], sql[8192];
  meas(b, sizeof b, "http://old.example/", "\"dns\"");
  char *q = sqlite3_mprintf(
      "INSERT INTO runs (id, test_name, input_list, finished_at) VALUES (7, "
      "'web_connectivity', 'l.txt', '2026-11-25 05:00:00');"
      "INSERT INTO measurements (id, run_id, input, test_name, blocking, dns_answers, "
      "blockpage_confirmed, stored_at, json) VALUES (41, 7, 'http://old.example/', "
      "'web_connectivity', 'dns', '192.0.2.1', 1, '2026-11-25 05:00:01', %Q);"
      "INSERT INTO measurements (id, run_id, input, test_name, blocking, json) VALUES (42, 7, "
      "'http://optin.example/', 'web_connectivity', 'dns', %Q)",
      b, optin_json);
  snprintf(sql, sizeof sql, "%s", q);
  sqlite3_free(q);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);

  cs_store *s = open_db(); /* migrates */
  assert_int_equal(cs_store_count(s, 7), 2);
  cs_store_iter *it = cs_store_iter_new(s, 7);
  cs_store_meas m;
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_int_equal(m.id, 41); /* every row kept, with its id and columns */
  assert_string_equal(m.input, "http://old.example/");
  assert_string_equal(m.dns_answers, "192.0.2.1");
  assert_int_equal(m.blockpage_confirmed, 1);
  assert_string_equal(m.outcome, "undetermined"); /* no x_outcome, no hook yet */
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(m.outcome, "optin"); /* its JSON carries one: filled on migration */
  cs_store_iter_free(it);
  calls = 0;
  assert_int_equal(cs_store_set_analyzer(s, hook, hook_ctx), CS_STORE_OK);
  assert_int_equal(calls, 1);
  it = cs_store_iter_new(s, 7);
  assert_int_equal(cs_store_iter_next(it, &m), 1);
  assert_string_equal(m.outcome, "site_down");
  size_t len;
  const char *j = cs_store_iter_json(it, &len);
  assert_int_equal(len, strlen(b));
  assert_memory_equal(j, b, len);
  cs_store_iter_free(it);
  /* the new key holds on migrated rows, and input-less rows now fit */
  assert_true(cs_store_has(s, 7, "http://old.example/"));
  assert_int_equal(add(s, 7, "http://old.example/"), CS_STORE_DUPLICATE);
  assert_int_equal(cs_store_add(s, 7, nullin_json, strlen(nullin_json)), CS_STORE_OK);
  cs_store_close(s);
  /* reopening does not migrate again */
  s = open_db();
  assert_int_equal(cs_store_count(s, 7), 3);
  cs_store_close(s);
}

/* The JSON-lines sync knows input-less measurements: one in the file is not written again,
 * one missing from it is appended once. */
static void test_sync_jsonl_null_input(void **st) {
  (void)st;
  cs_store *s = open_db();
  int64_t run = cs_store_run_begin(s, "stunreachability", "", NULL, false);
  assert_int_equal(cs_store_add(s, run, nullin_json, strlen(nullin_json)), CS_STORE_OK);
  char path[160];
  snprintf(path, sizeof path, "%s/n.jsonl", dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs("{\"input\":\"http://other/\",\"report_id\":\"r2\"}\n", f);
  fclose(f);
  f = fopen(path, "a");
  assert_int_equal(cs_store_sync_jsonl(s, run, f, path, true), 1); /* appended */
  fclose(f);
  f = fopen(path, "a");
  assert_int_equal(cs_store_sync_jsonl(s, run, f, path, true), 0); /* now in the file */
  fclose(f);
  unlink(path);
  cs_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_add_has_iter, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
      cmocka_unit_test_setup_teardown(test_durable_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_newer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
      cmocka_unit_test_setup_teardown(test_two_writers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_import_jsonl, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sync_jsonl, setup, teardown),
      cmocka_unit_test(test_extract_answers),
      cmocka_unit_test_setup_teardown(test_reextract, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nettests_outcomes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sync_jsonl_null_input, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
