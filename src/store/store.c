/* store.c - the results store on SQLite (see store.h and docs/store.md).
 *
 * Durability: WAL journal + synchronous=FULL, one IMMEDIATE transaction per cs_store_add, so a
 * measurement is on disk when the call returns and a crash leaves either the whole row or
 * nothing. Schema changes bump SCHEMA_VERSION (PRAGMA user_version) and add a migration. */
#include "store/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "record/record.h"

#define SCHEMA_VERSION 2
#define MAX_JSON_BYTES ((size_t)64 << 20)
#define MAX_ANSWERS_TEXT 512

struct cs_store {
  sqlite3 *db;
  sqlite3_stmt *has, *add, *run_exists;
  cs_store_analyzer analyzer; /* outcome of measurements without x_outcome (NULL: none) */
  void *analyzer_ctx;
  bool migrated; /* this open upgraded the schema: outcomes to fill from the JSON */
  bool scratch;  /* temporary database for one report: the JSON itself is not kept */
  int last_rc;   /* SQLite's code for the error in errmsg */
  char errmsg[256];
};

struct cs_store_iter {
  cs_store *s;
  sqlite3_stmt *rows, *json;
};

/* The SQL of each column kind (see CS_STORE_COLUMNS). */
#define DDL_TEXT " TEXT,"
#define DDL_TRI " INTEGER,"
#define DDL_FLAG " INTEGER NOT NULL DEFAULT 0,"
#define DDL_COUNT " INTEGER NOT NULL DEFAULT 0,"
#define DDL_REAL " REAL,"
#define COL_DDL(name, kind, since) " " #name DDL_##kind
#define COL_NAME(name, kind, since) ", " #name
/* NOLINTNEXTLINE(bugprone-macro-parentheses): "+1" per column, summed as 0 +1 +1 ... */
#define COL_COUNT(name, kind, since) +1

/* ", input, test_name, ...": every column, in CS_STORE_COLUMNS order */
#define MEAS_COLS CS_STORE_COLUMNS(COL_NAME)
enum { MEAS_NCOLS = 0 CS_STORE_COLUMNS(COL_COUNT) };

/* The measurements table of the current schema. Unique per run on (test_name, input or ""),
 * input first so that cs_store_has (run_id, input) uses the index too. Rows waiting for an
 * outcome are indexed (a few, or none) for cs_store_set_analyzer. */
#define MEAS_TABLE_SQL                                                                             \
  "CREATE TABLE measurements ("                                                                    \
  " id INTEGER PRIMARY KEY,"                                                                       \
  " run_id INTEGER NOT NULL REFERENCES runs(id)," CS_STORE_COLUMNS(                                \
      COL_DDL) " stored_at TEXT NOT NULL DEFAULT (datetime('now')),"                               \
               " json TEXT NOT NULL);"                                                             \
               "CREATE UNIQUE INDEX measurements_key ON measurements(run_id, coalesce(input, '')," \
               " coalesce(test_name, ''));"                                                        \
               "CREATE INDEX measurements_pending ON measurements(id) WHERE outcome IS NULL;"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS runs ("
    " id INTEGER PRIMARY KEY,"
    " test_name TEXT NOT NULL,"
    " input_list TEXT NOT NULL,"
    " params TEXT,"
    " started_at TEXT NOT NULL DEFAULT (datetime('now')),"
    " finished_at TEXT);"
    "CREATE INDEX IF NOT EXISTS runs_resume ON runs(test_name, input_list, finished_at);" MEAS_TABLE_SQL;

const char *cs_store_strerror(int rc) {
  switch (rc) {
  case CS_STORE_OK: return "ok";
  case CS_STORE_DUPLICATE: return "input already stored in this run";
  case CS_STORE_BADJSON: return "not a measurement (malformed JSON or no string \"input\")";
  case CS_STORE_NORUN: return "no such run";
  case CS_STORE_IO: return "database error";
  case CS_STORE_NOMEM: return "out of memory";
  default: return "unknown error";
  }
}

static void set_err(cs_store *s) {
  s->last_rc = sqlite3_errcode(s->db);
  snprintf(s->errmsg, sizeof s->errmsg, "%s", sqlite3_errmsg(s->db));
}

const char *cs_store_errmsg(const cs_store *s) { return s ? s->errmsg : "no store"; }

static int exec(cs_store *s, const char *sql) {
  char *msg = NULL;
  if ((s->last_rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg)) != SQLITE_OK) {
    snprintf(s->errmsg, sizeof s->errmsg, "%s", msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

static int prepare(cs_store *s, const char *sql, sqlite3_stmt **st) {
  if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
    set_err(s);
    return -1;
  }
  return 0;
}

static int user_version(cs_store *s) {
  sqlite3_stmt *st;
  if (prepare(s, "PRAGMA user_version", &st) < 0) return -1;
  int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  if (v < 0) set_err(s);
  sqlite3_finalize(st);
  return v;
}

/* Schema 1 -> 2: input becomes nullable and the key (test_name, input or ""), and the outcome
 * columns appear. SQLite cannot change a column's constraints in place: the table is rebuilt
 * (https://sqlite.org/lang_altertable.html#otheralter) keeping every row and its id. The new
 * outcome columns stay NULL until read from the JSON (cs_store_set_analyzer). */
static int migrate_v1(cs_store *s) {
#define COL_V1(name, kind, since) COL_V1_##since(name)
#define COL_V1_1(name) ", " #name
#define COL_V1_2(name)
  static const char sql[] = "ALTER TABLE measurements RENAME TO measurements_v1;" MEAS_TABLE_SQL
                            "INSERT INTO measurements (id, run_id" CS_STORE_COLUMNS(
                                COL_V1) ", stored_at, json)"
                                        " SELECT id, run_id" CS_STORE_COLUMNS(
                                            COL_V1) ", stored_at, json FROM measurements_v1;"
                                                    "DROP TABLE measurements_v1;";
#undef COL_V1
#undef COL_V1_1
#undef COL_V1_2
  s->migrated = true;
  return exec(s, sql);
}

/* Creates the schema in a new database (or upgrades an old one), under the write lock so that
 * two processes opening a new file at once do it once. Returns 0 or -1 (errmsg set). */
static int migrate(cs_store *s) {
  if (exec(s, "BEGIN IMMEDIATE") < 0) return -1;
  int v = user_version(s);
  if (v == 0) {
    sqlite3_stmt *st;
    int64_t n = -1;
    if (prepare(s, "SELECT count(*) FROM sqlite_master", &st) == 0) {
      if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
      else set_err(s);
      sqlite3_finalize(st);
    }
    if (n != 0) {
      if (n > 0)
        s->last_rc = SQLITE_OK, snprintf(s->errmsg, sizeof s->errmsg, "not a censorscope database");
      goto fail;
    }
    /* v0 = new, empty database */
    if (exec(s, schema_sql) < 0) goto fail;
  } else if (v < 0) {
    goto fail;
  } else if (v == 1 && migrate_v1(s) < 0) {
    goto fail;
  }
  /* Future migrations (v2 -> v3 ...) go here, in order. */
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA user_version=%d", SCHEMA_VERSION);
  if (exec(s, sql) < 0 || exec(s, "COMMIT") < 0) goto fail;
  return 0;
fail:
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* leaves last_rc and errmsg alone */
  return -1;
}

static int upload_schema(cs_store *s);

/* Pragmas, schema check / creation, WAL. Returns 0 or -1 (errmsg, last_rc set). */
static int setup_db(cs_store *s, bool scratch) {
  s->last_rc = SQLITE_OK;
  int v;
  if (exec(s, scratch ? "PRAGMA synchronous=OFF; PRAGMA foreign_keys=ON;"
                      : "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;") < 0 ||
      (v = user_version(s)) < 0)
    return -1;
  if (v > SCHEMA_VERSION) {
    s->last_rc = SQLITE_OK;
    snprintf(s->errmsg, sizeof s->errmsg, "schema version %d is newer than this censorscope's (%d)",
             v, SCHEMA_VERSION);
    return -1;
  }
  if (v < SCHEMA_VERSION && migrate(s) < 0) return -1;
  /* Only once the file is known to be ours. Persistent; a no-op when already in WAL mode. */
  if (!scratch && exec(s, "PRAGMA journal_mode=WAL") < 0) return -1;
  if (!scratch && upload_schema(s) < 0) return -1;
  return 0;
}

/* "?first,?first+1,...": one placeholder per column. */
static void placeholders(char *buf, size_t len, int first) {
  size_t off = 0;
  buf[0] = 0;
  for (int k = 0; k < MEAS_NCOLS && off < len; k++)
    off += (size_t)snprintf(buf + off, len - off, "%s?%d", k ? "," : "", first + k);
}

static int fill_outcomes(cs_store *s);

static cs_store *open_db(const char *path, bool scratch, char *err, size_t errlen) {
  cs_store *s = calloc(1, sizeof *s);
  if (!s) {
    if (errlen) snprintf(err, errlen, "out of memory");
    return NULL;
  }
  int rc = sqlite3_open_v2(path, &s->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    if (errlen)
      snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
    cs_store_close(s);
    return NULL;
  }
  s->scratch = scratch;
  sqlite3_busy_timeout(s->db, 10000);
  sqlite3_extended_result_codes(s->db, 1);
  /* Another process creating the schema or switching the file to WAL can make a step fail
   * with SQLITE_BUSY at once (SQLite's deadlock avoidance does not wait): try again, for up
   * to 10 s, like the busy timeout. */
  for (int tries = 0; setup_db(s, scratch) < 0; tries++) {
    int ec = s->last_rc & 0xff;
    if ((ec != SQLITE_BUSY && ec != SQLITE_LOCKED) || tries >= 1000) goto fail;
    usleep(10000);
  }
  char ph[MEAS_NCOLS * 6 + 8], sql[sizeof MEAS_COLS + sizeof ph + 96];
  placeholders(ph, sizeof ph, 2);
  snprintf(sql, sizeof sql,
           "INSERT INTO measurements (run_id" MEAS_COLS ", json) VALUES (?1,%s,?%d)", ph,
           MEAS_NCOLS + 2);
  if (prepare(s,
              "SELECT 1 FROM measurements WHERE run_id=?1 AND coalesce(input, '')=coalesce(?2, '')",
              &s->has) < 0 ||
      prepare(s, "SELECT 1 FROM runs WHERE id=?1", &s->run_exists) < 0 ||
      prepare(s, sql, &s->add) < 0)
    goto fail;
  /* rows of an older schema get the outcome their JSON carries, now (the analyzer, when the
   * caller installs one, decides for the others) */
  if (s->migrated && fill_outcomes(s) != CS_STORE_OK) goto fail;
  return s;
fail:
  if (errlen) snprintf(err, errlen, "%s: %s", path, s->errmsg);
  cs_store_close(s);
  return NULL;
}

cs_store *cs_store_open(const char *path, char *err, size_t errlen) {
  if (!path || !*path) {
    if (errlen) snprintf(err, errlen, "no database path");
    return NULL;
  }
  return open_db(path, false, err, errlen);
}

cs_store *cs_store_open_scratch(char *err, size_t errlen) { return open_db("", true, err, errlen); }

void cs_store_close(cs_store *s) {
  if (!s) return;
  sqlite3_finalize(s->has);
  sqlite3_finalize(s->add);
  sqlite3_finalize(s->run_exists);
  sqlite3_close(s->db); /* all statements are finalized: always succeeds */
  free(s);
}

/* ---- runs -------------------------------------------------------------------------------- */

int64_t cs_store_run_begin(cs_store *s, const char *test_name, const char *input_list,
                           const char *params_json, bool resume) {
  if (!s || !test_name) return -1;
  if (!input_list) input_list = "";
  int64_t id = -1;
  sqlite3_stmt *st = NULL;
  if (exec(s, "BEGIN IMMEDIATE") < 0) return -1;
  if (resume) {
    if (prepare(s,
                "SELECT id FROM runs WHERE test_name=?1 AND input_list=?2 AND finished_at IS "
                "NULL ORDER BY id DESC LIMIT 1",
                &st) < 0)
      goto out;
    sqlite3_bind_text(st, 1, test_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, input_list, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) id = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE) set_err(s);
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_ROW || rc != SQLITE_DONE) goto out;
  }
  if (prepare(s, "INSERT INTO runs (test_name, input_list, params) VALUES (?1, ?2, ?3)", &st) < 0)
    goto out;
  sqlite3_bind_text(st, 1, test_name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, input_list, -1, SQLITE_STATIC);
  if (params_json) sqlite3_bind_text(st, 3, params_json, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_DONE) id = sqlite3_last_insert_rowid(s->db);
  else set_err(s);
out:
  sqlite3_finalize(st);
  if (id > 0 && exec(s, "COMMIT") == 0) return id;
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return -1;
}

int cs_store_run_end(cs_store *s, int64_t run_id) {
  if (!s) return CS_STORE_IO;
  sqlite3_stmt *st;
  if (prepare(s, "UPDATE runs SET finished_at=coalesce(finished_at, datetime('now')) WHERE id=?1",
              &st) < 0)
    return CS_STORE_IO;
  sqlite3_bind_int64(st, 1, run_id);
  int rc = sqlite3_step(st) == SQLITE_DONE ? CS_STORE_OK : CS_STORE_IO;
  if (rc) set_err(s);
  else if (sqlite3_changes(s->db) == 0) rc = CS_STORE_NORUN;
  sqlite3_finalize(st);
  return rc;
}

bool cs_store_has(cs_store *s, int64_t run_id, const char *input) {
  if (!s) return false;
  sqlite3_bind_int64(s->has, 1, run_id);
  if (input) sqlite3_bind_text(s->has, 2, input, -1, SQLITE_STATIC);
  else sqlite3_bind_null(s->has, 2);
  int rc = sqlite3_step(s->has);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) set_err(s);
  sqlite3_reset(s->has);
  sqlite3_clear_bindings(s->has);
  return rc == SQLITE_ROW;
}

int64_t cs_store_count(cs_store *s, int64_t run_id) {
  sqlite3_stmt *st;
  if (!s || prepare(s, "SELECT count(*) FROM measurements WHERE run_id=?1", &st) < 0) return -1;
  sqlite3_bind_int64(st, 1, run_id);
  int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  if (n < 0) set_err(s);
  sqlite3_finalize(st);
  return n;
}

/* ---- extraction ---------------------------------------------------------------------------- */

static const char *jstr(const cs_jval *o, const char *k) {
  const cs_jval *v = cs_json_get(o, k);
  /* strings with embedded NULs are cut there: these are identifiers, not payloads */
  return v && v->type == CS_JSTR ? v->str : NULL;
}

static int jtri(const cs_jval *o, const char *k) {
  const cs_jval *v = cs_json_get(o, k);
  return v && v->type == CS_JBOOL ? (int)v->b : -1;
}

static bool system_engine(const char *e) {
  return !e || !*e || !strcmp(e, "getaddrinfo") || !strcmp(e, "system") ||
         !strcmp(e, "golang_net_resolver");
}

static const cs_jval *jarr(const cs_jval *o, const char *k) {
  const cs_jval *v = cs_json_get(o, k);
  return v && v->type == CS_JARR ? v : NULL;
}

/* Appends v to the space-separated list in b unless it is there already or would not fit. */
static bool answer_add(cs_buf *b, const char *v) {
  size_t vl = strlen(v);
  if (b->len + 1 + vl >= MAX_ANSWERS_TEXT) return false;
  const char *text = b->len ? cs_buf_cstr(b) : "";
  for (const char *p = strstr(text, v); p; p = strstr(p + 1, v))
    if ((p == text || p[-1] == ' ') && (p[vl] == ' ' || p[vl] == 0)) return true;
  if (b->len) cs_buf_putc(b, ' ');
  cs_buf_puts(b, v);
  return true;
}

/* Answers of the system resolver (of any resolver when none was used), deduplicated:
 * addresses, or the CNAME targets when there is no address at all; capped. */
static const char *dns_answers(cs_arena *a, const cs_jval *tk) {
  const cs_jval *qs = jarr(tk, "queries");
  if (!qs) return NULL;
  bool any_system = false;
  for (size_t i = 0; i < qs->len; i++)
    if (system_engine(jstr(qs->kids[i], "engine"))) any_system = true;
  cs_buf b;
  cs_buf_init(&b, MAX_ANSWERS_TEXT);
  bool full = false;
  for (int pass = 0; pass < 2 && !b.len; pass++) {
    for (size_t i = 0; i < qs->len && !full; i++) {
      const cs_jval *q = qs->kids[i];
      if (any_system && !system_engine(jstr(q, "engine"))) continue;
      const cs_jval *ans = jarr(q, "answers");
      for (size_t j = 0; ans && j < ans->len && !full; j++) {
        const char *v = pass ? jstr(ans->kids[j], "hostname") : jstr(ans->kids[j], "ipv4");
        if (!v && !pass) v = jstr(ans->kids[j], "ipv6");
        if (v && *v) full = !answer_add(&b, v);
      }
    }
  }
  const char *r = b.len ? cs_arena_strndup(a, (const char *)b.data, b.len) : NULL;
  cs_buf_free(&b);
  return r;
}

static const char *tcp_failure(cs_arena *a, const cs_jval *tk) {
  const cs_jval *tc = jarr(tk, "tcp_connect");
  for (size_t i = 0; tc && i < tc->len; i++) {
    const char *f = jstr(cs_json_get(tc->kids[i], "status"), "failure");
    if (!f) continue;
    const char *ip = jstr(tc->kids[i], "ip");
    double port = cs_json_get_num(tc->kids[i], "port", 0);
    if (!ip) return f;
    bool v6 = strchr(ip, ':') != NULL;
    return cs_arena_printf(a, "%s%s%s:%d %s", v6 ? "[" : "", ip, v6 ? "]" : "",
                           port > 0 && port < 65536 ? (int)port : 0, f);
  }
  return NULL;
}

int cs_store_extract(cs_arena *a, const cs_jval *m, cs_store_meas *out) {
  memset(out, 0, sizeof *out);
  out->test_runtime = -1;
  out->accessible = out->blockpage_confirmed = out->blockpage_optin = -1;
  if (!m || m->type != CS_JOBJ) return -1;
  const cs_jval *in = cs_json_get(m, "input");
  out->test_name = jstr(m, "test_name");
  if (in && in->type == CS_JSTR) {
    if (strlen(in->str) != in->len) return -1; /* a NUL would cut the key short */
    out->input = in->str;
  } else if ((in && in->type != CS_JNULL) || !out->test_name) {
    return -1; /* an input-less measurement must at least say which nettest it is */
  }
  const cs_jval *tk = cs_json_get(m, "test_keys");
  if (tk && tk->type != CS_JOBJ) tk = NULL;
  out->category_code = jstr(cs_json_get(m, "annotations"), "category_code");
  out->measurement_start_time = jstr(m, "measurement_start_time");
  const cs_jval *rt = cs_json_get(m, "test_runtime");
  if (rt && rt->type == CS_JNUM) out->test_runtime = rt->num;
  const cs_jval *bl = cs_json_get(tk, "blocking");
  if (bl && bl->type == CS_JBOOL) out->blocking = bl->b ? "true" : "false";
  else if (bl && bl->type == CS_JSTR) out->blocking = bl->str;
  out->accessible = jtri(tk, "accessible");
  out->dns_consistency = jstr(tk, "dns_consistency");
  out->dns_experiment_failure = jstr(tk, "dns_experiment_failure");
  out->http_experiment_failure = jstr(tk, "http_experiment_failure");
  out->control_failure = jstr(tk, "control_failure");
  if (tk) {
    out->dns_answers = dns_answers(a, tk);
    out->tcp_failure = tcp_failure(a, tk);
    const cs_jval *th = jarr(tk, "tls_handshakes");
    for (size_t i = 0; th && i < th->len; i++) {
      const cs_jval *f = cs_json_get(th->kids[i], "failure");
      if (f && f->type == CS_JSTR) {
        if (!out->tls_failure) out->tls_failure = f->str;
      } else if (cs_json_is_null(f) && th->kids[i]->type == CS_JOBJ) {
        out->tls_ok++;
      }
    }
    const cs_jval *rq = jarr(tk, "requests");
    if (rq && rq->len) {
      double c = cs_json_get_num(cs_json_get(rq->kids[0], "response"), "code", 0);
      if (c > 0 && c < 1000) out->http_status = (int)c;
    }
  }
  const cs_jval *bp = cs_json_get(tk, "x_blockpage");
  if (bp && bp->type == CS_JOBJ) {
    out->blockpage_name = jstr(bp, "name");
    out->blockpage_source = jstr(bp, "source");
    out->blockpage_scope = jstr(bp, "scope");
    out->blockpage_kind = jstr(bp, "kind");
  }
  out->blockpage_confirmed = jtri(tk, "x_blockpage_confirmed") == 1;
  out->blockpage_optin = jtri(tk, "x_blockpage_optin") == 1;
  out->server_side_block = jstr(tk, "x_server_side_block");
  out->analysis_reason = jstr(tk, "x_analysis_reason");
  out->probe_cc = jstr(m, "probe_cc");
  out->probe_asn = jstr(m, "probe_asn");
  out->report_id = jstr(m, "report_id");
  cs_outcome o;
  if (tk && cs_outcome_read(tk, &o) == 0) {
    out->outcome = o.key;
    out->censorship = o.censorship;
    out->evidence = o.evidence;
  }
  return 0;
}

/* ---- add --------------------------------------------------------------------------------- */

static void bind_str(sqlite3_stmt *st, int i, const char *v) {
  if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
  else sqlite3_bind_null(st, i);
}
static void bind_tri(sqlite3_stmt *st, int i, int v) {
  if (v < 0) sqlite3_bind_null(st, i);
  else sqlite3_bind_int(st, i, v);
}

static void bind_real(sqlite3_stmt *st, int i, double v) {
  if (v >= 0) sqlite3_bind_double(st, i, v);
  else sqlite3_bind_null(st, i);
}
#define BIND_TEXT(st, i, v) bind_str(st, i, v)
#define BIND_TRI(st, i, v) bind_tri(st, i, v)
#define BIND_FLAG(st, i, v) sqlite3_bind_int(st, i, (v) == 1)
#define BIND_COUNT(st, i, v) sqlite3_bind_int(st, i, v)
#define BIND_REAL(st, i, v) bind_real(st, i, v)

/* Binds the MEAS_COLS values of m from parameter i on; returns the next parameter index. */
static int bind_cols(sqlite3_stmt *st, int i, const cs_store_meas *m) {
#define COL_BIND(name, kind, since) BIND_##kind(st, i++, m->name);
  CS_STORE_COLUMNS(COL_BIND)
#undef COL_BIND
  return i;
}

/* The outcome of a measurement without x_outcome: the analyzer's, "undetermined" when it
 * cannot tell; NULL (waiting) without an analyzer. Returns 0, or CS_STORE_NOMEM. */
static int decide_outcome(cs_store *s, cs_arena *a, const cs_jval *v, cs_store_meas *m) {
  if (m->outcome || !s->analyzer) return CS_STORE_OK;
  cs_outcome o;
  if (s->analyzer(s->analyzer_ctx, a, v, m, &o) < 0 || !o.key)
    o = (cs_outcome){.key = CS_OUTCOME_UNDETERMINED};
  m->outcome = o.key;
  m->censorship = o.censorship;
  m->evidence = o.evidence
                    ? cs_arena_strndup(a, o.evidence, strnlen(o.evidence, CS_OUTCOME_EVIDENCE_MAX))
                    : NULL;
  return o.evidence && !m->evidence ? CS_STORE_NOMEM : CS_STORE_OK;
}

static int run_exists(cs_store *s, int64_t run_id) {
  sqlite3_bind_int64(s->run_exists, 1, run_id);
  int rc = sqlite3_step(s->run_exists);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) set_err(s);
  sqlite3_reset(s->run_exists);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* A scratch store keeps no JSON but that of the nettests whose report sections read it, few
 * per run: throttling's (one per target: report_throttling.c), the app nettests' (one per
 * app: report_apps.c), locate's, and any measurement with forensic evidence
 * (report_forensics.c). */
static bool scratch_keeps_json(const char *test_name, const char *json, size_t len) {
  static const char *const keep[] = {"throttling",         "whatsapp",  "telegram", "signal",
                                     "facebook_messenger", "platforms", "locate"};
  for (size_t i = 0; test_name && i < sizeof keep / sizeof keep[0]; i++)
    if (!strcmp(test_name, keep[i])) return true;
  /* any other test's forensic evidence (web_connectivity's --locate, x_middlebox, ...) */
  return cs_record_has_forensics(json, len);
}

int cs_store_add(cs_store *s, int64_t run_id, const char *json, size_t len) {
  if (!s) return CS_STORE_IO;
  if (!json || len == 0 || len > MAX_JSON_BYTES) return CS_STORE_BADJSON;
  cs_arena *a = cs_arena_new(0);
  if (!a) return CS_STORE_NOMEM;
  char perr[128];
  cs_store_meas m;
  cs_jval *v = cs_json_parse(a, json, len, NULL, perr, sizeof perr);
  if (!v || cs_store_extract(a, v, &m) < 0 || memchr(json, 0, len)) {
    snprintf(s->errmsg, sizeof s->errmsg, "%s",
             v ? "not a measurement (no string \"input\", nor null with a \"test_name\")" : perr);
    cs_arena_free(a);
    return CS_STORE_BADJSON;
  }
  if (decide_outcome(s, a, v, &m) != CS_STORE_OK) {
    cs_arena_free(a);
    return CS_STORE_NOMEM;
  }
  int rc = CS_STORE_IO;
  if (exec(s, "BEGIN IMMEDIATE") < 0) goto done;
  int ex = run_exists(s, run_id);
  if (ex <= 0) {
    rc = ex == 0 ? CS_STORE_NORUN : CS_STORE_IO;
    goto rollback;
  }
  sqlite3_stmt *st = s->add;
  sqlite3_bind_int64(st, 1, run_id);
  int i = bind_cols(st, 2, &m);
  /* a scratch store keeps no JSON, but that of the nettests whose report sections read it
   * (throttling's trials and samples, the apps' x_functions, forensics): scratch_keeps_json */
  if (s->scratch && !scratch_keeps_json(m.test_name, json, len))
    sqlite3_bind_text(st, i++, "", 0, SQLITE_STATIC);
  else sqlite3_bind_text(st, i++, json, (int)len, SQLITE_STATIC);
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) {
    set_err(s);
    rc = src == SQLITE_CONSTRAINT_UNIQUE ? CS_STORE_DUPLICATE
         : src == SQLITE_NOMEM           ? CS_STORE_NOMEM
                                         : CS_STORE_IO;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (src != SQLITE_DONE) goto rollback;
  if (exec(s, "COMMIT") == 0) {
    rc = CS_STORE_OK;
    goto done;
  }
rollback:
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
done:
  cs_arena_free(a);
  return rc;
}

/* Reads one line of f into line without its '\n', keeping at most line->max bytes (overflow
 * set; the rest of the line is still read). *used: bytes read, '\n' included; *complete: the
 * line ended with '\n'; *nul: it held a NUL byte. Returns false at the end of the file. */
static bool read_line(FILE *f, cs_buf *line, size_t *used, bool *complete, bool *nul) {
  cs_buf_reset(line);
  *used = 0, *complete = false, *nul = false;
  for (int c; (c = getc_unlocked(f)) != EOF;) {
    ++*used;
    if (c == '\n') {
      *complete = true;
      break;
    }
    if (c == 0) *nul = true;
    if (!line->overflow) cs_buf_putc(line, (char)c);
  }
  return *used > 0;
}

int cs_store_import_jsonl(cs_store *s, int64_t run_id, FILE *f, cs_store_import_stats *st) {
  memset(st, 0, sizeof *st);
  cs_buf line;
  cs_buf_init(&line, MAX_JSON_BYTES);
  int ret = CS_STORE_OK;
  size_t used;
  bool complete, nul;
  while (ret == CS_STORE_OK && read_line(f, &line, &used, &complete, &nul)) {
    if (nul) line.overflow = true; /* JSON text never holds a raw NUL */
    size_t n = line.len;
    while (n && (line.data[n - 1] == '\r' || line.data[n - 1] == ' ' || line.data[n - 1] == '\t'))
      n--;
    size_t b = 0;
    while (b < n && (line.data[b] == ' ' || line.data[b] == '\t')) b++;
    if (line.overflow) {
      st->bad++;
      continue;
    }
    if (b == n) continue;
    int rc = cs_store_add(s, run_id, (const char *)line.data + b, n - b);
    if (rc == CS_STORE_OK) st->added++;
    else if (rc == CS_STORE_DUPLICATE) st->duplicate++;
    else if (rc == CS_STORE_BADJSON) st->bad++;
    else ret = rc;
  }
  if (ret == CS_STORE_OK && ferror(f)) {
    snprintf(s->errmsg, sizeof s->errmsg, "read error");
    ret = CS_STORE_IO;
  }
  cs_buf_free(&line);
  return ret;
}

int cs_store_reextract(cs_store *s, int64_t run_id, int64_t *updated) {
  if (updated) *updated = 0;
  if (!s) return CS_STORE_IO;
  if (s->scratch) return CS_STORE_BADJSON; /* no JSON kept */
  sqlite3_stmt *sel = NULL, *upd = NULL;
  int rc = CS_STORE_IO;
  char ph[MEAS_NCOLS * 6 + 8], sql[sizeof MEAS_COLS + sizeof ph + 64];
  placeholders(ph, sizeof ph, 2);
  /* MEAS_COLS starts with ", ": skip it */
  snprintf(sql, sizeof sql, "UPDATE measurements SET (%s) = (%s) WHERE id=?1", &(MEAS_COLS)[2], ph);
  if (exec(s, "BEGIN IMMEDIATE") < 0) return CS_STORE_IO;
  /* one row at a time, by id: the cursor never walks over rows it has updated */
  if (prepare(s,
              "SELECT id, json FROM measurements WHERE id>?1 AND (?2=0 OR run_id=?2) "
              "ORDER BY id LIMIT 1",
              &sel) < 0 ||
      prepare(s, sql, &upd) < 0)
    goto out;
  int64_t last = 0, n = 0;
  for (;;) {
    sqlite3_bind_int64(sel, 1, last);
    sqlite3_bind_int64(sel, 2, run_id);
    int step = sqlite3_step(sel);
    if (step == SQLITE_DONE) break;
    if (step != SQLITE_ROW) {
      set_err(s);
      goto out;
    }
    last = sqlite3_column_int64(sel, 0);
    const char *j = (const char *)sqlite3_column_text(sel, 1);
    size_t len = (size_t)sqlite3_column_bytes(sel, 1);
    cs_arena *a = cs_arena_new(0);
    if (!a) {
      rc = CS_STORE_NOMEM;
      goto out;
    }
    cs_store_meas m;
    cs_jval *v = j ? cs_json_parse(a, j, len, NULL, NULL, 0) : NULL;
    if (v && cs_store_extract(a, v, &m) == 0) { /* unparsable rows keep their columns */
      if (decide_outcome(s, a, v, &m) != CS_STORE_OK) {
        cs_arena_free(a);
        rc = CS_STORE_NOMEM;
        goto out;
      }
      sqlite3_bind_int64(upd, 1, last);
      bind_cols(upd, 2, &m);
      int us = sqlite3_step(upd);
      if (us != SQLITE_DONE) set_err(s);
      sqlite3_reset(upd);
      sqlite3_clear_bindings(upd);
      if (us != SQLITE_DONE) {
        cs_arena_free(a);
        goto out;
      }
      n++;
    }
    cs_arena_free(a);
    sqlite3_reset(sel);
  }
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);
  sel = upd = NULL;
  if (exec(s, "COMMIT") == 0) {
    if (updated) *updated = n;
    return CS_STORE_OK;
  }
out:
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* Gives every row still waiting for an outcome (outcome IS NULL) the one its JSON carries,
 * else the analyzer's; without an analyzer, rows without x_outcome keep waiting. One
 * transaction, one row in memory at a time. Returns 0 or a CS_STORE_* code. */
static int fill_outcomes(cs_store *s) {
  if (s->scratch) return CS_STORE_OK; /* no JSON kept: decided at insert or never */
  sqlite3_stmt *sel = NULL, *upd = NULL;
  int rc = CS_STORE_IO;
  if (exec(s, "BEGIN IMMEDIATE") < 0) return CS_STORE_IO;
  if (prepare(s,
              "SELECT id, json FROM measurements WHERE outcome IS NULL AND id>?1 ORDER BY id "
              "LIMIT 1",
              &sel) < 0 ||
      prepare(s, "UPDATE measurements SET outcome=?2, censorship=?3, evidence=?4 WHERE id=?1",
              &upd) < 0)
    goto out;
  for (int64_t last = 0;;) {
    sqlite3_bind_int64(sel, 1, last);
    int step = sqlite3_step(sel);
    if (step == SQLITE_DONE) break;
    if (step != SQLITE_ROW) {
      set_err(s);
      goto out;
    }
    last = sqlite3_column_int64(sel, 0);
    const char *j = (const char *)sqlite3_column_text(sel, 1);
    size_t len = (size_t)sqlite3_column_bytes(sel, 1);
    cs_arena *a = cs_arena_new(0);
    if (!a) {
      rc = CS_STORE_NOMEM;
      goto out;
    }
    cs_store_meas m;
    cs_jval *v = j ? cs_json_parse(a, j, len, NULL, NULL, 0) : NULL;
    int us = SQLITE_DONE;
    if (v && cs_store_extract(a, v, &m) == 0) {
      if (decide_outcome(s, a, v, &m) != CS_STORE_OK) {
        cs_arena_free(a);
        rc = CS_STORE_NOMEM;
        goto out;
      }
      if (m.outcome) {
        sqlite3_bind_int64(upd, 1, last);
        bind_str(upd, 2, m.outcome);
        sqlite3_bind_int(upd, 3, m.censorship == 1);
        bind_str(upd, 4, m.evidence);
        if ((us = sqlite3_step(upd)) != SQLITE_DONE) set_err(s);
        sqlite3_reset(upd);
        sqlite3_clear_bindings(upd);
      }
    }
    cs_arena_free(a);
    sqlite3_reset(sel);
    if (us != SQLITE_DONE) goto out;
  }
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);
  sel = upd = NULL;
  if (exec(s, "COMMIT") == 0) return CS_STORE_OK;
out:
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

int cs_store_set_analyzer(cs_store *s, cs_store_analyzer fn, void *ctx) {
  if (!s) return CS_STORE_IO;
  s->analyzer = fn;
  s->analyzer_ctx = ctx;
  return fn ? fill_outcomes(s) : CS_STORE_OK;
}

int cs_store_run_name(cs_store *s, int64_t run_id) {
  if (!s) return CS_STORE_IO;
  sqlite3_stmt *st;
  if (prepare(s,
              "UPDATE runs SET test_name=(SELECT CASE WHEN count(DISTINCT test_name)=1 THEN "
              "min(test_name) ELSE 'mixed' END FROM measurements WHERE run_id=?1 AND test_name "
              "IS NOT NULL) WHERE id=?1 AND EXISTS (SELECT 1 FROM measurements WHERE run_id=?1 "
              "AND test_name IS NOT NULL)",
              &st) < 0)
    return CS_STORE_IO;
  sqlite3_bind_int64(st, 1, run_id);
  int rc = sqlite3_step(st) == SQLITE_DONE ? CS_STORE_OK : CS_STORE_IO;
  if (rc) set_err(s);
  sqlite3_finalize(st);
  return rc;
}

/* ---- reading ------------------------------------------------------------------------------ */

#define RUN_SELECT                                                                                 \
  "SELECT r.id, r.test_name, r.input_list, r.params, r.started_at, r.finished_at, "                \
  "(SELECT count(*) FROM measurements m WHERE m.run_id=r.id) FROM runs r "

static void run_row(sqlite3_stmt *st, cs_store_run *r) {
  r->id = sqlite3_column_int64(st, 0);
  r->test_name = (const char *)sqlite3_column_text(st, 1);
  r->input_list = (const char *)sqlite3_column_text(st, 2);
  r->params_json = (const char *)sqlite3_column_text(st, 3);
  r->started_at = (const char *)sqlite3_column_text(st, 4);
  r->finished_at = (const char *)sqlite3_column_text(st, 5);
  r->count = sqlite3_column_int64(st, 6);
}

int cs_store_runs(cs_store *s, int (*fn)(void *ctx, const cs_store_run *r), void *ctx) {
  sqlite3_stmt *st;
  if (!s || prepare(s, RUN_SELECT "ORDER BY r.id DESC", &st) < 0) return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    cs_store_run r;
    run_row(st, &r);
    if (fn(ctx, &r)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  if (rc != SQLITE_DONE) set_err(s);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int cs_store_run_get(cs_store *s, int64_t run_id, cs_arena *a, cs_store_run *out) {
  sqlite3_stmt *st;
  if (!s || prepare(s, RUN_SELECT "WHERE r.id=?1", &st) < 0) return CS_STORE_IO;
  sqlite3_bind_int64(st, 1, run_id);
  int rc = sqlite3_step(st);
  int ret = rc == SQLITE_ROW ? CS_STORE_OK : rc == SQLITE_DONE ? CS_STORE_NORUN : CS_STORE_IO;
  if (rc == SQLITE_ROW) {
    run_row(st, out);
    out->test_name = cs_arena_strdup(a, out->test_name);
    out->input_list = cs_arena_strdup(a, out->input_list);
    out->params_json = cs_arena_strdup(a, out->params_json);
    out->started_at = cs_arena_strdup(a, out->started_at);
    out->finished_at = cs_arena_strdup(a, out->finished_at);
    if (!out->test_name || !out->input_list || !out->started_at) ret = CS_STORE_NOMEM;
  } else if (rc != SQLITE_DONE) {
    set_err(s);
  }
  sqlite3_finalize(st);
  return ret;
}

int64_t cs_store_run_latest(cs_store *s) {
  sqlite3_stmt *st;
  if (!s || prepare(s, "SELECT coalesce(max(id), 0) FROM runs", &st) < 0) return -1;
  int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  if (id < 0) set_err(s);
  sqlite3_finalize(st);
  return id;
}

cs_store_iter *cs_store_iter_new(cs_store *s, int64_t run_id) {
  if (!s) return NULL;
  cs_store_iter *it = calloc(1, sizeof *it);
  if (!it) return NULL;
  it->s = s;
  if (prepare(s, "SELECT id, run_id" MEAS_COLS " FROM measurements WHERE run_id=?1 ORDER BY id",
              &it->rows) < 0) {
    free(it);
    return NULL;
  }
  sqlite3_bind_int64(it->rows, 1, run_id);
  return it;
}

static const char *col_str(sqlite3_stmt *st, int i) {
  return (const char *)sqlite3_column_text(st, i); /* NULL for SQL NULL */
}
static int col_tri(sqlite3_stmt *st, int i) {
  return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int(st, i) != 0;
}
static double col_real(sqlite3_stmt *st, int i) {
  return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_double(st, i);
}
#define READ_TEXT(st, i) col_str(st, i)
#define READ_TRI(st, i) col_tri(st, i)
#define READ_FLAG(st, i) (sqlite3_column_int(st, i) != 0)
#define READ_COUNT(st, i) sqlite3_column_int(st, i)
#define READ_REAL(st, i) col_real(st, i)

int cs_store_iter_next(cs_store_iter *it, cs_store_meas *m) {
  if (!it) return -1;
  if (it->json) sqlite3_reset(it->json);
  int rc = sqlite3_step(it->rows);
  if (rc == SQLITE_DONE) return 0;
  if (rc != SQLITE_ROW) {
    set_err(it->s);
    return -1;
  }
  sqlite3_stmt *st = it->rows;
  memset(m, 0, sizeof *m);
  int i = 0;
  m->id = sqlite3_column_int64(st, i++);
  m->run_id = sqlite3_column_int64(st, i++);
#define COL_READ(name, kind, since) m->name = READ_##kind(st, i++);
  CS_STORE_COLUMNS(COL_READ)
#undef COL_READ
  if (!m->outcome) m->outcome = CS_OUTCOME_UNDETERMINED, m->censorship = 0, m->evidence = NULL;
  return 1;
}

const char *cs_store_iter_json(cs_store_iter *it, size_t *len) {
  if (!it || sqlite3_stmt_busy(it->rows) == 0) return NULL;
  if (!it->json && prepare(it->s, "SELECT json FROM measurements WHERE id=?1", &it->json) < 0)
    return NULL;
  sqlite3_reset(it->json);
  sqlite3_bind_int64(it->json, 1, sqlite3_column_int64(it->rows, 0));
  if (sqlite3_step(it->json) != SQLITE_ROW) return NULL;
  const char *j = (const char *)sqlite3_column_text(it->json, 0);
  if (len) *len = (size_t)sqlite3_column_bytes(it->json, 0);
  return j;
}

void cs_store_iter_free(cs_store_iter *it) {
  if (!it) return;
  sqlite3_finalize(it->rows);
  sqlite3_finalize(it->json);
  free(it);
}

/* ---- JSON lines of a run: in line with the database ------------------------------------ */

/* "report_id\ninput" of a measurement: what identifies it in a JSON-lines file. */
static char *meas_key(const char *report_id, const char *input) {
  size_t a = strlen(report_id ? report_id : ""), b = strlen(input ? input : "");
  char *k = malloc(a + b + 2);
  if (k)
    memcpy(k, report_id ? report_id : "", a), k[a] = '\n',
                                              memcpy(k + a + 1, input ? input : "", b + 1);
  return k;
}

static int key_cmp(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

long cs_store_sync_jsonl(cs_store *s, int64_t run_id, FILE *out, const char *path, bool resume) {
  int fd = fileno(out);
  struct stat st;
  if (!s) resume = false;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) return 0; /* a pipe, a terminal */
  if (st.st_size == 0 && !resume) return 0;
  if (fflush(out) != 0) return -1;
  FILE *in = st.st_size > 0 ? fopen(path, "rb") : NULL;
  if (st.st_size > 0 && !in) return -1;
  char **keys = NULL;
  size_t nkeys = 0, capkeys = 0;
  off_t good = 0; /* end of the last complete line */
  bool cut = false, nomem = false;
  if (in) {
    cs_buf line;
    cs_buf_init(&line, MAX_JSON_BYTES);
    size_t used;
    bool complete, nul;
    off_t at = 0;
    while (read_line(in, &line, &used, &complete, &nul)) {
      if (!complete) {
        cut = true; /* the interrupted write of the last line */
        break;
      }
      at += (off_t)used;
      good = at;
      if (!resume || line.overflow || nul) continue; /* not one of our measurements */
      cs_arena *a = cs_arena_new(0);
      char err[64];
      cs_jval *v =
          a ? cs_json_parse(a, (const char *)line.data, line.len, NULL, err, sizeof err) : NULL;
      const cs_jval *iv = cs_json_get(v, "input"); /* null: an input-less nettest */
      const char *input = !iv                    ? NULL
                          : iv->type == CS_JSTR  ? iv->str
                          : iv->type == CS_JNULL ? ""
                                                 : NULL;
      if (input) {
        if (nkeys == capkeys) {
          size_t nc = capkeys ? capkeys * 2 : 256;
          char **nk = realloc(keys, nc * sizeof *nk);
          if (nk) keys = nk, capkeys = nc;
        }
        char *k = nkeys < capkeys ? meas_key(cs_json_get_str(v, "report_id", ""), input) : NULL;
        if (k) keys[nkeys++] = k;
        else nomem = true; /* a key missed would write its measurement twice */
      }
      cs_arena_free(a);
      if (nomem) break;
    }
    cs_buf_free(&line);
    fclose(in);
  }
  long written = nomem ? -1 : 0;
  if (cut && written == 0) {
    /* A run resumed from this file drops the cut line (its measurement is in the database and
     * written again below, or is measured again); any other run ends it, so that its own
     * first line starts on a line of its own. */
    if (resume ? ftruncate(fd, good) < 0 : fputc('\n', out) == EOF) written = -1;
    else if (!resume && fflush(out) != 0) written = -1;
  }
  if (resume && written == 0) {
    if (nkeys) qsort(keys, nkeys, sizeof *keys, key_cmp);
    cs_store_iter *it = cs_store_iter_new(s, run_id);
    cs_store_meas m;
    int rc = it ? 0 : -1;
    while (it && (rc = cs_store_iter_next(it, &m)) == 1) {
      char *k = meas_key(m.report_id, m.input);
      if (!k) {
        written = -1;
        break;
      }
      bool have = nkeys && bsearch(&k, keys, nkeys, sizeof *keys, key_cmp);
      free(k);
      if (have) continue;
      size_t len;
      const char *json = cs_store_iter_json(it, &len);
      if (!json || fwrite(json, 1, len, out) != len || fputc('\n', out) == EOF) {
        written = -1;
        break;
      }
      written++;
    }
    if (rc < 0 || (written >= 0 && fflush(out) != 0)) written = -1;
    cs_store_iter_free(it);
    if (written > 0 && fdatasync(fd) < 0) written = -1;
  }
  for (size_t i = 0; i < nkeys; i++) free(keys[i]);
  free(keys);
  return written;
}

/* ---- the upload queue (see store.h and docs/collector.md) --------------------------------- */

/* An additive part of schema 2, created on the first open by a censorscope that knows it (the
 * user_version stays 2, so an older censorscope still opens the store; its new measurements
 * are queued too, by the trigger). Every measurement already stored when the queue appears is
 * pending: it was never uploaded. */
static const char upload_sql[] =
    "CREATE TABLE uploads ("
    " meas_id INTEGER PRIMARY KEY REFERENCES measurements(id) ON DELETE CASCADE,"
    " state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'refused')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_try REAL NOT NULL DEFAULT 0," /* unix seconds */
    " last_error TEXT,"                  /* the last network error / 5xx, while pending */
    " collector TEXT,"                   /* sent to / refused by */
    " measurement_uid TEXT,"             /* sent: the collector's receipt */
    " http_status INTEGER,"              /* refused: the 4xx */
    " reason TEXT,"                      /* refused: the collector's reason */
    " updated_at TEXT NOT NULL DEFAULT (datetime('now')));"
    "CREATE INDEX uploads_pending ON uploads(meas_id) WHERE state='pending';"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TRIGGER uploads_queue AFTER INSERT ON measurements BEGIN"
    " INSERT INTO uploads (meas_id) VALUES (new.id); END;"
    "INSERT INTO uploads (meas_id) SELECT id FROM measurements;";

static int upload_schema(cs_store *s) {
  sqlite3_stmt *st;
  if (prepare(s, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='uploads'", &st) < 0)
    return -1;
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_ROW) return 0;
  if (rc != SQLITE_DONE) return set_err(s), -1;
  if (exec(s, "BEGIN IMMEDIATE") < 0) return -1;
  /* another process may have created it meanwhile: check again under the write lock */
  if (prepare(s, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='uploads'", &st) < 0)
    goto fail;
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE && exec(s, upload_sql) < 0) goto fail;
  if ((rc == SQLITE_ROW || rc == SQLITE_DONE) && exec(s, "COMMIT") == 0) return 0;
fail:
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return -1;
}

int cs_store_probe_set(cs_store *s, char *out, size_t cap) {
  if (!s || s->scratch || cap < CS_STORE_PROBE_SET_LEN + 1) return CS_STORE_IO;
  static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  uint8_t r[CS_STORE_PROBE_SET_LEN];
  char id[CS_STORE_PROBE_SET_LEN + 1];
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
    snprintf(s->errmsg, sizeof s->errmsg, "no randomness for the probe-set id");
    return CS_STORE_IO;
  }
  for (size_t i = 0; i < sizeof r; i++) id[i] = alnum[r[i] % (sizeof alnum - 1)];
  id[sizeof r] = 0;
  sqlite3_stmt *ins = NULL, *sel = NULL;
  int rc = CS_STORE_IO;
  /* the first id written wins, also against another process doing the same */
  if (prepare(s, "INSERT OR IGNORE INTO meta (key, value) VALUES ('probe_set', ?1)", &ins) < 0 ||
      prepare(s, "SELECT value FROM meta WHERE key='probe_set'", &sel) < 0)
    goto out;
  sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step(ins) != SQLITE_DONE) {
    set_err(s);
    goto out;
  }
  if (sqlite3_step(sel) != SQLITE_ROW) {
    set_err(s);
    goto out;
  }
  const char *v = (const char *)sqlite3_column_text(sel, 0);
  if (v && strlen(v) < cap) {
    snprintf(out, cap, "%s", v);
    rc = CS_STORE_OK;
  }
out:
  sqlite3_finalize(ins);
  sqlite3_finalize(sel);
  return rc;
}

static const char *arena_col(cs_arena *a, sqlite3_stmt *st, int i) {
  const char *v = (const char *)sqlite3_column_text(st, i);
  return v ? cs_arena_strdup(a, v) : NULL;
}

int cs_store_upload_next(cs_store *s, int64_t after_id, double now, cs_arena *a,
                         cs_store_upload_item *out) {
  if (!s || !a || !out) return CS_STORE_IO;
  sqlite3_stmt *st;
  if (prepare(s,
              "SELECT u.meas_id, m.run_id, m.test_name, m.probe_cc, m.probe_asn, m.report_id,"
              " m.input, u.attempts, u.next_try, m.json FROM uploads u JOIN measurements m"
              " ON m.id=u.meas_id WHERE u.state='pending' AND u.meas_id>?1"
              " AND (?2<0 OR u.next_try<=?2) ORDER BY u.meas_id LIMIT 1",
              &st) < 0)
    return CS_STORE_IO;
  sqlite3_bind_int64(st, 1, after_id);
  sqlite3_bind_double(st, 2, now);
  int rc = sqlite3_step(st), ret;
  if (rc == SQLITE_ROW) {
    memset(out, 0, sizeof *out);
    out->meas_id = sqlite3_column_int64(st, 0);
    out->run_id = sqlite3_column_int64(st, 1);
    out->test_name = arena_col(a, st, 2);
    out->probe_cc = arena_col(a, st, 3);
    out->probe_asn = arena_col(a, st, 4);
    out->report_id = arena_col(a, st, 5);
    out->input = arena_col(a, st, 6);
    out->attempts = sqlite3_column_int(st, 7);
    out->next_try = sqlite3_column_double(st, 8);
    size_t len = (size_t)sqlite3_column_bytes(st, 9);
    const char *j = (const char *)sqlite3_column_text(st, 9);
    char *copy = j ? cs_arena_alloc(a, len + 1) : NULL;
    if (copy) memcpy(copy, j, len), copy[len] = 0;
    out->json = copy;
    out->len = len;
    ret = copy ? 1 : CS_STORE_NOMEM;
  } else {
    if (rc != SQLITE_DONE) set_err(s);
    ret = rc == SQLITE_DONE ? 0 : CS_STORE_IO;
  }
  sqlite3_finalize(st);
  return ret;
}

/* Runs one UPDATE of a pending row (bound by bind); 0 when done (also when the row was no
 * longer pending: its fate was recorded first), else CS_STORE_IO. */
static int upload_update(cs_store *s, const char *sql, int64_t meas_id, const char *a1,
                         const char *a2, const char *a3, double d) {
  sqlite3_stmt *st;
  if (prepare(s, sql, &st) < 0) return CS_STORE_IO;
  sqlite3_bind_int64(st, 1, meas_id);
  /* reasons and errors come from the network: bounded */
  if (a1) sqlite3_bind_text(st, 2, a1, (int)strnlen(a1, 512), SQLITE_STATIC);
  if (a2) sqlite3_bind_text(st, 3, a2, (int)strnlen(a2, 512), SQLITE_STATIC);
  if (a3) sqlite3_bind_text(st, 4, a3, (int)strnlen(a3, 512), SQLITE_STATIC);
  sqlite3_bind_double(st, 5, d);
  int rc = sqlite3_step(st) == SQLITE_DONE ? CS_STORE_OK : CS_STORE_IO;
  if (rc) set_err(s);
  sqlite3_finalize(st);
  return rc;
}

int cs_store_upload_sent(cs_store *s, int64_t meas_id, const char *collector, const char *uid) {
  if (!s || !collector || !uid) return CS_STORE_IO;
  return upload_update(s,
                       "UPDATE uploads SET state='sent', collector=?2, measurement_uid=?3,"
                       " attempts=attempts+1, last_error=NULL, updated_at=datetime('now')"
                       " WHERE meas_id=?1 AND state='pending'",
                       meas_id, collector, uid, NULL, 0);
}

int cs_store_upload_refused(cs_store *s, int64_t meas_id, const char *collector, int status,
                            const char *reason) {
  if (!s || !collector || !reason) return CS_STORE_IO;
  return upload_update(s,
                       "UPDATE uploads SET state='refused', collector=?2, reason=?3,"
                       " http_status=CAST(?5 AS INTEGER), attempts=attempts+1,"
                       " updated_at=datetime('now') WHERE meas_id=?1 AND state='pending'",
                       meas_id, collector, reason, NULL, status);
}

int cs_store_upload_retry(cs_store *s, int64_t meas_id, const char *error, double next_try) {
  if (!s || !error) return CS_STORE_IO;
  return upload_update(s,
                       "UPDATE uploads SET attempts=attempts+1, last_error=?2, next_try=?5,"
                       " updated_at=datetime('now') WHERE meas_id=?1 AND state='pending'",
                       meas_id, error, NULL, NULL, next_try);
}

int cs_store_upload_counts(cs_store *s, int64_t run_id, cs_store_upload_tally *c) {
  if (!s || !c) return CS_STORE_IO;
  memset(c, 0, sizeof *c);
  sqlite3_stmt *st;
  if (prepare(s,
              "SELECT u.state, count(*) FROM uploads u JOIN measurements m ON m.id=u.meas_id"
              " WHERE ?1=0 OR m.run_id=?1 GROUP BY u.state",
              &st) < 0)
    return CS_STORE_IO;
  sqlite3_bind_int64(st, 1, run_id);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *state = (const char *)sqlite3_column_text(st, 0);
    int64_t n = sqlite3_column_int64(st, 1);
    if (!state) continue;
    if (!strcmp(state, "pending")) c->pending = n;
    else if (!strcmp(state, "sent")) c->sent = n;
    else if (!strcmp(state, "refused")) c->refused = n;
  }
  if (rc != SQLITE_DONE) set_err(s);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? CS_STORE_OK : CS_STORE_IO;
}

int cs_store_upload_get(cs_store *s, int64_t meas_id, cs_arena *a, cs_store_upload_state *out) {
  if (!s || !a || !out) return CS_STORE_IO;
  sqlite3_stmt *st;
  if (prepare(s,
              "SELECT state, attempts, next_try, last_error, collector, measurement_uid,"
              " coalesce(http_status, 0), reason FROM uploads WHERE meas_id=?1",
              &st) < 0)
    return CS_STORE_IO;
  sqlite3_bind_int64(st, 1, meas_id);
  int rc = sqlite3_step(st), ret = CS_STORE_IO;
  if (rc == SQLITE_ROW) {
    memset(out, 0, sizeof *out);
    out->state = arena_col(a, st, 0);
    out->attempts = sqlite3_column_int(st, 1);
    out->next_try = sqlite3_column_double(st, 2);
    out->last_error = arena_col(a, st, 3);
    out->collector = arena_col(a, st, 4);
    out->measurement_uid = arena_col(a, st, 5);
    out->http_status = sqlite3_column_int(st, 6);
    out->reason = arena_col(a, st, 7);
    ret = out->state ? CS_STORE_OK : CS_STORE_NOMEM;
  } else if (rc == SQLITE_DONE) {
    ret = CS_STORE_NORUN;
  } else {
    set_err(s);
  }
  sqlite3_finalize(st);
  return ret;
}

int cs_store_meta_get(cs_store *s, const char *key, char *out, size_t cap) {
  sqlite3_stmt *st;
  if (!s || s->scratch || !key || !cap ||
      prepare(s, "SELECT value FROM meta WHERE key=?1", &st) < 0)
    return CS_STORE_IO;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st), ret = 0;
  if (rc == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(st, 0);
    ret = v && strlen(v) < cap ? 1 : CS_STORE_NOMEM;
    if (ret == 1) snprintf(out, cap, "%s", v);
  } else if (rc != SQLITE_DONE) {
    set_err(s);
    ret = CS_STORE_IO;
  }
  sqlite3_finalize(st);
  return ret;
}

int cs_store_meta_set(cs_store *s, const char *key, const char *value) {
  sqlite3_stmt *st;
  if (!s || s->scratch || !key || !value ||
      prepare(s, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", &st) < 0)
    return CS_STORE_IO;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st) == SQLITE_DONE ? CS_STORE_OK : CS_STORE_IO;
  if (rc) set_err(s);
  sqlite3_finalize(st);
  return rc;
}

int64_t cs_store_last_id(cs_store *s) {
  sqlite3_stmt *st;
  if (!s || prepare(s, "SELECT coalesce(max(id), 0) FROM measurements", &st) < 0) return -1;
  int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  if (id < 0) set_err(s);
  sqlite3_finalize(st);
  return id;
}
