/* pgstore.c - the collector's PostgreSQL side (libpq): connections with prepared statements,
 * the schema, daily partitions created on demand, one row per measurement (dedup through the
 * UNIQUE (dedup_key, measurement_start_time) key and ON CONFLICT DO NOTHING), the dirty hours
 * for the rollups, and the replay of cans not yet fully in the database.
 *
 * Rows are written with synchronous_commit=off: a commit does not wait for the WAL flush,
 * because the can (flushed before the 200) is the log. A crash of PostgreSQL may lose the
 * last commits; the collector's next start replays every can past the offset recorded in
 * can_file, so the row comes back. Parameters always go through $n. */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/collector.h"

#define INSERT_SQL                                                                                 \
  "WITH ins AS (INSERT INTO measurement (measurement_uid, measurement_start_time, report_id,"      \
  " dedup_key, test_name, test_version, software_name, software_version, probe_cc, probe_asn,"     \
  " probe_network_name, resolver_asn, input, domain, category_code, anomaly, confirmed,"           \
  " msm_failure, blocking_type, outcome, evidence, test_runtime, can_path, can_offset,"            \
  " can_len) VALUES ($1, to_timestamp($2::bigint), $3, decode($4, 'hex'), $5, $6, $7, $8, $9,"     \
  " $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)"               \
  " ON CONFLICT DO NOTHING RETURNING measurement_start_time),"                                     \
  " d AS (INSERT INTO dirty_hour SELECT date_trunc('hour', measurement_start_time) FROM ins"       \
  " ON CONFLICT DO NOTHING)"                                                                       \
  " SELECT count(*) FROM ins"

#define DEDUP_SQL                                                                                  \
  "SELECT measurement_uid FROM measurement WHERE dedup_key = decode($1, 'hex')"                    \
  " AND measurement_start_time = to_timestamp($2::bigint)"

const char *cs_coll_pg_value(const PGresult *r, int row, int col) {
  if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || row >= PQntuples(r) || col >= PQnfields(r) ||
      PQgetisnull(r, row, col))
    return NULL;
  return PQgetvalue(r, row, col);
}

bool cs_coll_pg_ok(const PGresult *r) {
  if (!r) return false;
  ExecStatusType s = PQresultStatus(r);
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

static void pg_err(PGconn *pg, const PGresult *r, char *err, size_t errlen) {
  const char *m = r ? PQresultErrorMessage(r) : NULL;
  if (!m || !*m) m = PQerrorMessage(pg);
  snprintf(err, errlen, "%s", m && *m ? m : "PostgreSQL error");
  size_t n = strlen(err);
  while (n && (err[n - 1] == '\n' || err[n - 1] == ' ')) err[--n] = 0;
}

static int exec_ok(PGconn *pg, const char *sql, char *err, size_t errlen) {
  PGresult *r = PQexec(pg, sql);
  int rc = cs_coll_pg_ok(r) ? 0 : -1;
  if (rc) pg_err(pg, r, err, errlen);
  PQclear(r);
  return rc;
}

static int prepare(PGconn *pg, const char *name, const char *sql, char *err, size_t errlen) {
  PGresult *r = PQprepare(pg, name, sql, 0, NULL);
  int rc = cs_coll_pg_ok(r) ? 0 : -1;
  if (rc) pg_err(pg, r, err, errlen);
  PQclear(r);
  return rc;
}

#define PREP_MAX 4
static _Thread_local const PGconn *prepared[PREP_MAX];

static void prepared_forget(const PGconn *pg) {
  for (size_t i = 0; i < PREP_MAX; i++)
    if (prepared[i] == pg) prepared[i] = NULL;
}

static void notice_quiet(void *arg, const PGresult *r) { (void)arg, (void)r; }

PGconn *cs_coll_pg_open(const char *conninfo, bool primary, char *err, size_t errlen) {
  PGconn *pg = PQconnectdb(conninfo);
  if (!pg || PQstatus(pg) != CONNECTION_OK) {
    pg_err(pg, NULL, err, errlen);
    PQfinish(pg);
    return NULL;
  }
  prepared_forget(pg); /* a new connection at a freed one's address has nothing prepared */
  PQsetNoticeReceiver(pg, notice_quiet, NULL); /* "relation already exists, skipping" */
  if (exec_ok(pg, "SET TimeZone = 'UTC'", err, errlen)) goto fail;
  if (primary) {
    if (exec_ok(pg, "SET synchronous_commit = off", err, errlen)) goto fail;
  }
  return pg;
fail:
  PQfinish(pg);
  return NULL;
}

/* Statements are prepared once per connection, lazily (the schema may not exist at connect);
 * each thread remembers which of its connections have them. */
static int ensure_prepared(PGconn *pg, char *err, size_t errlen) {
  for (size_t i = 0; i < PREP_MAX; i++)
    if (prepared[i] == pg) return 0;
  if (prepare(pg, "cs_insert", INSERT_SQL, err, errlen) ||
      prepare(pg, "cs_dedup", DEDUP_SQL, err, errlen))
    return -1;
  size_t slot = 0;
  for (size_t i = 0; i < PREP_MAX; i++)
    if (!prepared[i]) {
      slot = i;
      break;
    }
  prepared[slot] = pg;
  return 0;
}

int cs_coll_schema_apply(PGconn *pg, char *err, size_t errlen) {
  if (exec_ok(pg, "BEGIN", err, errlen)) return -1;
  /* one collector applies the schema at a time */
  if (exec_ok(pg, "SELECT pg_advisory_xact_lock(7431001)", err, errlen)) goto fail;
  for (size_t i = 0; i < cs_coll_nschema; i++)
    if (exec_ok(pg, cs_coll_schema[i], err, errlen)) goto fail;
  if (exec_ok(pg, "COMMIT", err, errlen)) return -1;
  return 0;
fail:;
  char e2[64];
  exec_ok(pg, "ROLLBACK", e2, sizeof e2);
  return -1;
}

/* ---- partitions -------------------------------------------------------------------------- */

#define PART_CACHE 4096
static pthread_mutex_t part_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t part_days[PART_CACHE];
static size_t part_n;

static bool part_cached(int64_t day) {
  for (size_t i = 0; i < part_n; i++)
    if (part_days[i] == day) return true;
  return false;
}

int cs_coll_partition_ensure(PGconn *pg, int64_t t, char *err, size_t errlen) {
  int64_t day = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  pthread_mutex_lock(&part_mu);
  bool have = part_cached(day);
  pthread_mutex_unlock(&part_mu);
  if (have) return 0;
  time_t d0 = (time_t)(day * 86400), d1 = (time_t)((day + 1) * 86400);
  struct tm a, b;
  gmtime_r(&d0, &a);
  gmtime_r(&d1, &b);
  char sql[512];
  snprintf(sql, sizeof sql,
           "CREATE TABLE IF NOT EXISTS measurement_p%04d%02d%02d PARTITION OF measurement"
           " FOR VALUES FROM ('%04d-%02d-%02d 00:00:00+00') TO ('%04d-%02d-%02d 00:00:00+00')",
           a.tm_year + 1900, a.tm_mon + 1, a.tm_mday, a.tm_year + 1900, a.tm_mon + 1, a.tm_mday,
           b.tm_year + 1900, b.tm_mon + 1, b.tm_mday);
  /* serialised across collectors: two CREATE ... IF NOT EXISTS may otherwise race */
  bool own_tx = PQtransactionStatus(pg) == PQTRANS_IDLE;
  if (own_tx && exec_ok(pg, "BEGIN", err, errlen)) return -1;
  if (exec_ok(pg, "SELECT pg_advisory_xact_lock(7431002)", err, errlen) ||
      exec_ok(pg, sql, err, errlen)) {
    char e2[64];
    if (own_tx) exec_ok(pg, "ROLLBACK", e2, sizeof e2);
    return -1;
  }
  if (own_tx && exec_ok(pg, "COMMIT", err, errlen)) return -1;
  if (!own_tx) return 0; /* cached only once the caller's transaction commits */
  pthread_mutex_lock(&part_mu);
  if (!part_cached(day) && part_n < PART_CACHE) part_days[part_n++] = day;
  pthread_mutex_unlock(&part_mu);
  return 0;
}

/* ---- rows -------------------------------------------------------------------------------- */

static void hex(const uint8_t *p, size_t n, char *out) {
  static const char h[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = h[p[i] >> 4];
    out[2 * i + 1] = h[p[i] & 15];
  }
  out[2 * n] = 0;
}

int cs_coll_pg_dedup(PGconn *pg, const cs_coll_msm *m, char *uid, size_t uidlen) {
  char e[256];
  if (ensure_prepared(pg, e, sizeof e)) return -1;
  char key[65], start[24];
  hex(m->dedup_key, 32, key);
  snprintf(start, sizeof start, "%" PRId64, m->start);
  const char *v[2] = {key, start};
  PGresult *r = PQexecPrepared(pg, "cs_dedup", 2, v, NULL, NULL, 0);
  int rc = -1;
  if (r && PQresultStatus(r) == PGRES_TUPLES_OK) {
    const char *u = cs_coll_pg_value(r, 0, 0);
    rc = u ? 1 : 0;
    if (u) snprintf(uid, uidlen, "%s", u);
  } else if (r && PQresultStatus(r) == PGRES_FATAL_ERROR) {
    /* no partition yet for that day: nothing stored there */
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (st && !strcmp(st, "42P01")) rc = 0;
  }
  PQclear(r);
  return rc;
}

int cs_coll_pg_insert(PGconn *pg, const cs_coll_msm *m, const char *uid, const char *rid,
                      const char *can_path, int64_t off, int64_t len, char *err, size_t errlen) {
  if (ensure_prepared(pg, err, errlen)) return -1;
  if (cs_coll_partition_ensure(pg, m->start, err, errlen)) return -1;
  char key[65], start[24], asn[24], rasn[24], rt[32], offs[24], lens[24];
  hex(m->dedup_key, 32, key);
  snprintf(start, sizeof start, "%" PRId64, m->start);
  snprintf(asn, sizeof asn, "%" PRId64, m->probe_asn);
  snprintf(rasn, sizeof rasn, "%" PRId64, m->resolver_asn);
  snprintf(rt, sizeof rt, "%.6f", m->test_runtime);
  snprintf(offs, sizeof offs, "%" PRId64, off);
  snprintf(lens, sizeof lens, "%" PRId64, len);
  const char *v[25] = {uid,
                       start,
                       rid,
                       key,
                       m->test_name,
                       m->test_version,
                       m->software_name,
                       m->software_version,
                       m->probe_cc,
                       asn,
                       m->probe_network_name,
                       m->resolver_asn >= 0 ? rasn : NULL,
                       m->input,
                       m->domain,
                       m->category_code,
                       m->anomaly ? "t" : "f",
                       m->confirmed ? "t" : "f",
                       m->msm_failure ? "t" : "f",
                       m->blocking_type,
                       m->outcome,
                       m->evidence,
                       isfinite(m->test_runtime) ? rt : NULL,
                       can_path,
                       offs,
                       lens};
  PGresult *r = PQexecPrepared(pg, "cs_insert", 25, v, NULL, NULL, 0);
  int rc = -1;
  const char *n = cs_coll_pg_value(r, 0, 0);
  if (n) rc = strcmp(n, "0") ? 1 : 0;
  else pg_err(pg, r, err, errlen);
  PQclear(r);
  return rc;
}

int cs_coll_pg_report_open(PGconn *pg, const char *rid, const char *test_name, const char *cc,
                           int64_t asn, const char *sw_name, const char *sw_version) {
  char a[24];
  snprintf(a, sizeof a, "%" PRId64, asn);
  const char *v[6] = {rid, test_name, cc, a, sw_name, sw_version};
  /* a report is rare and small: this one commit waits for the WAL flush */
  PGresult *r = PQexecParams(pg,
                             "WITH s AS (SELECT set_config('synchronous_commit', 'on', true))"
                             " INSERT INTO report (report_id, test_name, probe_cc, probe_asn,"
                             " software_name, software_version) SELECT $1, $2, $3, $4, $5, $6"
                             " FROM s ON CONFLICT DO NOTHING",
                             6, NULL, v, NULL, NULL, 0);
  int rc = cs_coll_pg_ok(r) ? 0 : -1;
  PQclear(r);
  return rc;
}

int cs_coll_pg_report_close(PGconn *pg, const char *rid) {
  const char *v[1] = {rid};
  PGresult *r = PQexecParams(pg,
                             "UPDATE report SET closed = coalesce(closed, now())"
                             " WHERE report_id = $1",
                             1, NULL, v, NULL, NULL, 0);
  int rc = -1;
  if (cs_coll_pg_ok(r)) rc = strcmp(PQcmdTuples(r), "0") ? 1 : 0;
  PQclear(r);
  return rc;
}

/* ---- replay ------------------------------------------------------------------------------ */

typedef struct {
  PGconn *pg;
  const cs_coll_cfg *cfg;
  const struct cs_fp_db *fp;
  const char *path;
  size_t lines, inserted, in_tx;
  bool failed;
  char err[256];
} replay_st;

static int replay_line(void *arg, const char *line, size_t len, int64_t off) {
  replay_st *st = arg;
  st->lines++;
  cs_arena *a = cs_arena_new(0);
  if (!a) {
    st->failed = true;
    snprintf(st->err, sizeof st->err, "out of memory");
    return -1;
  }
  char err[256];
  cs_json_limits lim = {0, 1u << 22};
  const cs_jval *v = cs_json_parse(a, line, len, &lim, err, sizeof err);
  const char *uid = cs_json_get_str(v, "measurement_uid", NULL);
  const char *rid = cs_json_get_str(v, "report_id", NULL);
  const char *ps = cs_json_get_str(v, "probe_set", "");
  const cs_jval *content = cs_json_get_obj(v, "content");
  cs_coll_msm m;
  memset(&m, 0, sizeof m);
  int rc = 0;
  if (!uid || !rid || !content) {
    fprintf(stderr, "collector: %s@%lld: not a can line (%s): skipped\n", st->path, (long long)off,
            v ? "members missing" : err);
  } else if (cs_coll_content_check(a, content, NULL, ps, 0, st->cfg, st->fp, &m, err, sizeof err) !=
             0) {
    fprintf(stderr, "collector: %s@%lld: %s: skipped\n", st->path, (long long)off, err);
  } else {
    if (st->in_tx == 0) {
      if (exec_ok(st->pg, "BEGIN", st->err, sizeof st->err)) rc = -1;
    }
    if (rc == 0) {
      int r = cs_coll_pg_insert(st->pg, &m, uid, rid, st->path, off, (int64_t)len, st->err,
                                sizeof st->err);
      if (r < 0) rc = -1;
      else {
        st->inserted += (size_t)r;
        if (++st->in_tx >= 500) {
          st->in_tx = 0;
          if (exec_ok(st->pg, "COMMIT", st->err, sizeof st->err)) rc = -1;
        }
      }
    }
  }
  cs_coll_msm_free(&m);
  cs_arena_free(a);
  if (rc) st->failed = true;
  return rc;
}

int cs_coll_replay_can(PGconn *pg, const cs_coll_cfg *cfg, const struct cs_fp_db *fp,
                       const char *path, int64_t from, int64_t *end, size_t *nlines,
                       size_t *ninserted) {
  replay_st st = {.pg = pg, .cfg = cfg, .fp = fp, .path = path};
  char e0[256];
  if (ensure_prepared(pg, e0, sizeof e0)) { /* outside the batch's transaction */
    fprintf(stderr, "collector: replay of %s: %s\n", path, e0);
    return -1;
  }
  /* the partition DDL runs in its own transaction: make them all before the batch */
  int64_t e = cs_coll_can_scan(cfg->data_dir, path, from, -1, replay_line, &st);
  if (st.in_tx && !st.failed) {
    if (exec_ok(pg, "COMMIT", st.err, sizeof st.err)) st.failed = true;
  }
  if (st.failed) {
    char e2[64];
    exec_ok(pg, "ROLLBACK", e2, sizeof e2);
    fprintf(stderr, "collector: replay of %s failed: %s\n", path, st.err);
    return -1;
  }
  if (e < 0) return -1;
  *end = e;
  if (nlines) *nlines = st.lines;
  if (ninserted) *ninserted = st.inserted;
  return 0;
}

int cs_coll_replay_all(PGconn *pg, const cs_coll_cfg *cfg, const struct cs_fp_db *fp) {
  char **paths;
  size_t n;
  if (cs_coll_can_list(cfg->data_dir, &paths, &n) != 0) return -1;
  int rc = 0;
  size_t total_lines = 0, total_ins = 0;
  for (size_t i = 0; i < n; i++) {
    if (rc) {
      free(paths[i]);
      continue;
    }
    char cid[16];
    snprintf(cid, sizeof cid, "%u", cfg->collector_id);
    const char *v[2] = {cid, paths[i]};
    PGresult *r = PQexecParams(pg,
                               "SELECT done_size FROM can_file WHERE collector_id = $1"
                               " AND can_path = $2",
                               2, NULL, v, NULL, NULL, 0);
    int64_t from = 0;
    if (!cs_coll_pg_ok(r)) rc = -1;
    else if (cs_coll_pg_value(r, 0, 0)) from = strtoll(cs_coll_pg_value(r, 0, 0), NULL, 10);
    PQclear(r);
    int64_t end = 0;
    size_t lines = 0, ins = 0;
    if (rc == 0 && cs_coll_replay_can(pg, cfg, fp, paths[i], from, &end, &lines, &ins) != 0)
      rc = -1;
    if (rc == 0 && end > from) {
      char es[24];
      snprintf(es, sizeof es, "%" PRId64, end);
      const char *w[3] = {cid, paths[i], es};
      r = PQexecParams(pg,
                       "INSERT INTO can_file (collector_id, can_path, done_size) VALUES"
                       " ($1, $2, $3) ON CONFLICT (collector_id, can_path) DO UPDATE SET"
                       " done_size = GREATEST(can_file.done_size, EXCLUDED.done_size),"
                       " updated = now()",
                       3, NULL, w, NULL, NULL, 0);
      if (!cs_coll_pg_ok(r)) rc = -1;
      PQclear(r);
    }
    total_lines += lines;
    total_ins += ins;
    free(paths[i]);
  }
  free(paths);
  if (total_lines && !cfg->quiet)
    fprintf(stderr, "collector: replayed %zu can line(s): %zu were missing from PostgreSQL\n",
            total_lines, total_ins);
  return rc;
}

/* ---- the checkpoint job ------------------------------------------------------------------ */

static int record_done(PGconn *pg, unsigned cid, const char *path, int64_t upto) {
  char c[16], u[24];
  snprintf(c, sizeof c, "%u", cid);
  snprintf(u, sizeof u, "%" PRId64, upto);
  const char *w[3] = {c, path, u};
  PGresult *r = PQexecParams(pg,
                             "INSERT INTO can_file (collector_id, can_path, done_size) VALUES"
                             " ($1, $2, $3) ON CONFLICT (collector_id, can_path) DO UPDATE SET"
                             " done_size = GREATEST(can_file.done_size, EXCLUDED.done_size),"
                             " updated = now()",
                             3, NULL, w, NULL, NULL, 0);
  int rc = cs_coll_pg_ok(r) ? 0 : -1;
  PQclear(r);
  return rc;
}

/* Records how far each can is in PostgreSQL (so a restart replays only the tail), and
 * replays a can whose inserts failed (PostgreSQL was away) once PostgreSQL answers again. */
CS_COLL_JOB_FN(cs_coll_job_can_checkpoint) {
  cs_coll_can *can = cs_coll_get_can(ctx->coll);
  if (!can || !ctx->pg) return;
  cs_coll_can_state st[16];
  size_t n = cs_coll_can_states(can, st, 16);
  for (size_t i = 0; i < n; i++) {
    if (st[i].pg_failed) {
      int64_t from = 0, end = 0;
      char c[16];
      snprintf(c, sizeof c, "%u", ctx->cfg->collector_id);
      const char *v[2] = {c, st[i].path};
      PGresult *r = PQexecParams(ctx->pg,
                                 "SELECT done_size FROM can_file WHERE collector_id = $1"
                                 " AND can_path = $2",
                                 2, NULL, v, NULL, NULL, 0);
      bool ok = cs_coll_pg_ok(r);
      if (cs_coll_pg_value(r, 0, 0)) from = strtoll(cs_coll_pg_value(r, 0, 0), NULL, 10);
      PQclear(r);
      size_t lines = 0, ins = 0;
      if (ok && cs_coll_replay_can(ctx->pg, ctx->cfg, cs_coll_get_fp(ctx->coll), st[i].path, from,
                                   &end, &lines, &ins) == 0) {
        if (ins) fprintf(stderr, "collector: %s: %zu row(s) inserted by replay\n", st[i].path, ins);
        cs_coll_can_replayed(can, st[i].path, st[i].fail_gen, end);
      }
      continue;
    }
    if (record_done(ctx->pg, ctx->cfg->collector_id, st[i].path, st[i].quiet) == 0)
      cs_coll_can_recorded(can, st[i].path, st[i].quiet);
  }
}
