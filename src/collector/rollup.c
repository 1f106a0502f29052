/* rollup.c - the explorer's rollups (issue 13): cell_hour (one row per UTC hour and every
 * combination of the aggregation axes other than input) rebuilt from `measurement` for each
 * hour listed in dirty_hour; cell_day (the same per UTC day, summed from cell_hour) for the
 * day/week/month grains; net_hour / net_day, the same without the domain (a country's or
 * an ISP's dashboard sums a few rows per network instead of one per domain); and dom_day, the
 * day without the network and the blocking type (a country's domain list sums one row per
 * domain and day instead of one per network, blocking type, domain and day: ~30x fewer for
 * Pakistan's 12 networks). A day's dirty
 * hours are rebuilt in one transaction that also deletes their dirty_hour rows, so a reader
 * sees either the old rollups with the hour still dirty (and counts it from `measurement`,
 * explorer.c) or the new ones. The touched (cc, asn, domain) cells are queued for the
 * detector (detector_dirty, earliest hour kept). Research: fleet-and-scale.md §3.4 (rollup
 * latencies), §5.1. docs/collector.md "Rollups". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/explorer.h"

/* Counters as OONI's aggregation defines them (research §1.4): anomaly_count excludes the
 * confirmed and failed ones; ok = none of the three. */
const char cs_explorer_schema[] =
    "CREATE TABLE IF NOT EXISTS cell_hour ("
    " hour timestamptz NOT NULL, probe_cc text NOT NULL, probe_asn integer NOT NULL,"
    " domain text, category_code text, test_name text NOT NULL, blocking_type text,"
    " measurement_count integer NOT NULL, anomaly_count integer NOT NULL,"
    " confirmed_count integer NOT NULL, failure_count integer NOT NULL,"
    " ok_count integer NOT NULL);"
    "CREATE INDEX IF NOT EXISTS cell_hour_hour ON cell_hour (hour);"
    "CREATE INDEX IF NOT EXISTS cell_hour_cc ON cell_hour (probe_cc, hour);"
    "CREATE INDEX IF NOT EXISTS cell_hour_dom ON cell_hour (domain, hour);"
    "CREATE INDEX IF NOT EXISTS cell_hour_cell ON cell_hour (probe_cc, probe_asn, domain, hour);"
    "CREATE TABLE IF NOT EXISTS cell_day ("
    " day timestamptz NOT NULL, probe_cc text NOT NULL, probe_asn integer NOT NULL,"
    " domain text, category_code text, test_name text NOT NULL, blocking_type text,"
    " measurement_count integer NOT NULL, anomaly_count integer NOT NULL,"
    " confirmed_count integer NOT NULL, failure_count integer NOT NULL,"
    " ok_count integer NOT NULL);"
    "CREATE INDEX IF NOT EXISTS cell_day_day ON cell_day (day);"
    "CREATE INDEX IF NOT EXISTS cell_day_cc ON cell_day (probe_cc, day);"
    "CREATE INDEX IF NOT EXISTS cell_day_dom ON cell_day (domain, day);"
    "CREATE TABLE IF NOT EXISTS net_hour ("
    " hour timestamptz NOT NULL, probe_cc text NOT NULL, probe_asn integer NOT NULL,"
    " category_code text, test_name text NOT NULL, blocking_type text,"
    " measurement_count integer NOT NULL, anomaly_count integer NOT NULL,"
    " confirmed_count integer NOT NULL, failure_count integer NOT NULL,"
    " ok_count integer NOT NULL);"
    "CREATE INDEX IF NOT EXISTS net_hour_hour ON net_hour (hour);"
    "CREATE INDEX IF NOT EXISTS net_hour_cc ON net_hour (probe_cc, hour);"
    "CREATE TABLE IF NOT EXISTS net_day ("
    " day timestamptz NOT NULL, probe_cc text NOT NULL, probe_asn integer NOT NULL,"
    " category_code text, test_name text NOT NULL, blocking_type text,"
    " measurement_count integer NOT NULL, anomaly_count integer NOT NULL,"
    " confirmed_count integer NOT NULL, failure_count integer NOT NULL,"
    " ok_count integer NOT NULL);"
    "CREATE INDEX IF NOT EXISTS net_day_day ON net_day (day);"
    "CREATE INDEX IF NOT EXISTS net_day_cc ON net_day (probe_cc, day);"
    "CREATE TABLE IF NOT EXISTS dom_day ("
    " day timestamptz NOT NULL, probe_cc text NOT NULL,"
    " domain text, category_code text, test_name text NOT NULL,"
    " measurement_count integer NOT NULL, anomaly_count integer NOT NULL,"
    " confirmed_count integer NOT NULL, failure_count integer NOT NULL,"
    " ok_count integer NOT NULL);"
    /* covering: a country's domain list over a month is an index-only scan */
    "CREATE INDEX IF NOT EXISTS dom_day_cc ON dom_day (probe_cc, day) INCLUDE (domain,"
    " category_code, test_name, measurement_count, anomaly_count, confirmed_count,"
    " failure_count, ok_count);"
    "CREATE INDEX IF NOT EXISTS dom_day_dom ON dom_day (domain, day);"
    /* a database from before dom_day: built once from cell_day (the schema is applied under
     * an advisory lock, pgstore.c; afterwards dom_day is empty only when cell_day is) */
    "INSERT INTO dom_day SELECT day, probe_cc, domain, category_code, test_name,"
    " sum(measurement_count), sum(anomaly_count), sum(confirmed_count), sum(failure_count),"
    " sum(ok_count) FROM cell_day WHERE NOT EXISTS (SELECT 1 FROM dom_day)"
    " GROUP BY day, probe_cc, domain, category_code, test_name;"
    "CREATE TABLE IF NOT EXISTS detector_dirty ("
    " probe_cc text NOT NULL, probe_asn integer NOT NULL, domain text NOT NULL,"
    " hour timestamptz NOT NULL, PRIMARY KEY (probe_cc, probe_asn, domain));"
    "CREATE INDEX IF NOT EXISTS detector_dirty_hour ON detector_dirty (hour);"
    /* detector.c: a cell's CUSUM state after the last hour with data of each UTC day (the
     * checkpoint a replay from a late hour restarts from) */
    "CREATE TABLE IF NOT EXISTS detector_state ("
    " probe_cc text NOT NULL, probe_asn integer NOT NULL, domain text NOT NULL,"
    " blocking_type text NOT NULL, day timestamptz NOT NULL, status smallint NOT NULL,"
    " s_pos double precision NOT NULL, s_neg double precision NOT NULL,"
    " last_hour timestamptz, pos_start timestamptz, pos_prev timestamptz,"
    " neg_start timestamptz, neg_prev timestamptz,"
    " PRIMARY KEY (probe_cc, probe_asn, domain, blocking_type, day));"
    /* the alert log: append-only (a replay that no longer alerts sets retracted_at, never
     * deletes) */
    "CREATE TABLE IF NOT EXISTS detector_changepoint ("
    " id bigserial PRIMARY KEY, probe_cc text NOT NULL, probe_asn integer NOT NULL,"
    " domain text NOT NULL, blocking_type text NOT NULL, ts timestamptz NOT NULL,"
    " start_ts timestamptz, prev_ts timestamptz, change_dir smallint NOT NULL,"
    " s_pos double precision NOT NULL, s_neg double precision NOT NULL,"
    " n integer NOT NULL, k integer NOT NULL, h double precision NOT NULL,"
    " detected_at timestamptz NOT NULL DEFAULT now(), retracted_at timestamptz,"
    " UNIQUE (probe_cc, probe_asn, domain, blocking_type, ts, change_dir));"
    "CREATE INDEX IF NOT EXISTS detector_changepoint_ts ON detector_changepoint (ts);"
    "CREATE INDEX IF NOT EXISTS detector_changepoint_cc ON detector_changepoint (probe_cc, ts);"
    "CREATE INDEX IF NOT EXISTS detector_changepoint_dom ON detector_changepoint (domain, ts);"
    /* country-wide events: derived from the changepoints (recomputed per (cc, domain)) */
    "CREATE TABLE IF NOT EXISTS detector_event ("
    " id bigserial PRIMARY KEY, probe_cc text NOT NULL, domain text NOT NULL,"
    " change_dir smallint NOT NULL, ts_first timestamptz NOT NULL, ts_last timestamptz NOT NULL,"
    " asn_count integer NOT NULL, probe_asns integer[] NOT NULL, blocking_types text[] NOT NULL,"
    " changepoints bigint[] NOT NULL, window_h integer NOT NULL, min_asns integer NOT NULL,"
    " updated_at timestamptz NOT NULL DEFAULT now(),"
    " UNIQUE (probe_cc, domain, change_dir, ts_first));"
    "CREATE INDEX IF NOT EXISTS detector_event_ts ON detector_event (ts_first);";

/* $1: the day (timestamptz, UTC midnight). Takes (and deletes) that day's dirty hours, then
 * rebuilds them; every statement runs in the caller's transaction. */
static const char sql_take[] =
    "DELETE FROM dirty_hour WHERE hour >= $1::timestamptz AND hour < $1::timestamptz + "
    "interval '1 day' RETURNING extract(epoch FROM hour)::bigint";
static const char sql_del_hours[] = "DELETE FROM cell_hour WHERE hour = ANY($1::timestamptz[])";
static const char sql_ins_hours[] =
    "INSERT INTO cell_hour SELECT h.hour, m.probe_cc, m.probe_asn, m.domain, m.category_code,"
    " m.test_name, m.blocking_type, count(*),"
    " count(*) FILTER (WHERE m.anomaly AND NOT m.confirmed AND NOT m.msm_failure),"
    " count(*) FILTER (WHERE m.confirmed AND NOT m.msm_failure),"
    " count(*) FILTER (WHERE m.msm_failure),"
    " count(*) FILTER (WHERE NOT m.anomaly AND NOT m.confirmed AND NOT m.msm_failure)"
    " FROM unnest($1::timestamptz[]) AS h(hour) JOIN measurement m"
    " ON m.measurement_start_time >= h.hour AND m.measurement_start_time < h.hour + interval "
    "'1 hour'"
    " GROUP BY h.hour, m.probe_cc, m.probe_asn, m.domain, m.category_code, m.test_name,"
    " m.blocking_type";
static const char sql_queue[] = "INSERT INTO detector_dirty (probe_cc, probe_asn, domain, hour)"
                                " SELECT probe_cc, probe_asn, domain, min(hour) FROM cell_hour"
                                " WHERE hour = ANY($1::timestamptz[]) AND domain IS NOT NULL"
                                " GROUP BY probe_cc, probe_asn, domain"
                                " ON CONFLICT (probe_cc, probe_asn, domain)"
                                " DO UPDATE SET hour = LEAST(detector_dirty.hour, EXCLUDED.hour)";
static const char sql_del_net_hours[] = "DELETE FROM net_hour WHERE hour = ANY($1::timestamptz[])";
static const char sql_ins_net_hours[] =
    "INSERT INTO net_hour SELECT hour, probe_cc, probe_asn, category_code, test_name,"
    " blocking_type, sum(measurement_count), sum(anomaly_count), sum(confirmed_count),"
    " sum(failure_count), sum(ok_count) FROM cell_hour WHERE hour = ANY($1::timestamptz[])"
    " GROUP BY hour, probe_cc, probe_asn, category_code, test_name, blocking_type";
static const char sql_del_day[] = "DELETE FROM cell_day WHERE day = $1::timestamptz";
static const char sql_del_net_day[] = "DELETE FROM net_day WHERE day = $1::timestamptz";
static const char sql_ins_net_day[] =
    "INSERT INTO net_day SELECT $1::timestamptz, probe_cc, probe_asn, category_code,"
    " test_name, blocking_type, sum(measurement_count), sum(anomaly_count),"
    " sum(confirmed_count), sum(failure_count), sum(ok_count) FROM net_hour"
    " WHERE hour >= $1::timestamptz AND hour < $1::timestamptz + interval '1 day'"
    " GROUP BY probe_cc, probe_asn, category_code, test_name, blocking_type";
static const char sql_del_dom_day[] = "DELETE FROM dom_day WHERE day = $1::timestamptz";
static const char sql_ins_dom_day[] =
    "INSERT INTO dom_day SELECT $1::timestamptz, probe_cc, domain, category_code, test_name,"
    " sum(measurement_count), sum(anomaly_count), sum(confirmed_count), sum(failure_count),"
    " sum(ok_count) FROM cell_day WHERE day = $1::timestamptz"
    " GROUP BY probe_cc, domain, category_code, test_name";
static const char sql_ins_day[] =
    "INSERT INTO cell_day SELECT $1::timestamptz, probe_cc, probe_asn, domain, category_code,"
    " test_name, blocking_type, sum(measurement_count), sum(anomaly_count),"
    " sum(confirmed_count), sum(failure_count), sum(ok_count) FROM cell_hour"
    " WHERE hour >= $1::timestamptz AND hour < $1::timestamptz + interval '1 day'"
    " GROUP BY probe_cc, probe_asn, domain, category_code, test_name, blocking_type";

static int exec_ok(PGconn *pg, const char *sql, int np, const char *const *pv, const char *what) {
  PGresult *r = PQexecParams(pg, sql, np, NULL, pv, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
  if (!ok) fprintf(stderr, "collector: rollup: %s: %s", what, PQerrorMessage(pg));
  PQclear(r);
  return ok ? 0 : -1;
}

/* UNIX seconds as a timestamptz literal read the same whatever the session time zone. */
static void iso_utc(char *out, size_t n, int64_t t) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, n, "%Y-%m-%d %H:%M:%S+00", &tm);
}

/* Rebuilds one day's dirty hours in one transaction; returns the number of hours, -1 on error. */
static long refresh_day(PGconn *pg, int64_t day) {
  char dbuf[40];
  iso_utc(dbuf, sizeof dbuf, day);
  const char *p1[1] = {dbuf};
  if (exec_ok(pg, "BEGIN", 0, NULL, "begin") < 0) return -1;
  /* Waits for every ingest transaction that has written dirty_hour to commit (they hold ROW
   * EXCLUSIVE until then) and holds new ones until this one commits: the rebuild below then
   * sees every measurement whose dirty mark it consumes, whatever form the ingest's upsert
   * takes (an ON CONFLICT DO NOTHING on an existing row locks no row). Two refreshers
   * serialise here too. */
  if (exec_ok(pg, "LOCK TABLE dirty_hour IN SHARE ROW EXCLUSIVE MODE", 0, NULL, "lock") < 0) {
    exec_ok(pg, "ROLLBACK", 0, NULL, "rollback");
    return -1;
  }
  PGresult *r = PQexecParams(pg, sql_take, 1, NULL, p1, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    fprintf(stderr, "collector: rollup: take dirty hours: %s", PQerrorMessage(pg));
    PQclear(r);
    exec_ok(pg, "ROLLBACK", 0, NULL, "rollback");
    return -1;
  }
  int nh = PQntuples(r);
  if (nh == 0) {
    PQclear(r);
    return exec_ok(pg, "COMMIT", 0, NULL, "commit") < 0 ? -1 : 0;
  }
  /* the hours as a PostgreSQL array literal of timestamps: {"...","..."} */
  char *arr = NULL;
  size_t cap = (size_t)nh * 40 + 4, len = 0;
  arr = malloc(cap);
  if (!arr) {
    PQclear(r);
    exec_ok(pg, "ROLLBACK", 0, NULL, "rollback");
    return -1;
  }
  arr[len++] = '{';
  for (int i = 0; i < nh; i++) {
    char hb[40];
    iso_utc(hb, sizeof hb, (int64_t)strtoll(PQgetvalue(r, i, 0), NULL, 10));
    len += (size_t)snprintf(arr + len, cap - len, "%s\"%s\"", i ? "," : "", hb);
  }
  arr[len++] = '}';
  arr[len] = 0;
  PQclear(r);
  const char *pa[1] = {arr};
  int rc = 0;
  rc |= exec_ok(pg, sql_del_hours, 1, pa, "delete cell_hour");
  if (!rc) rc |= exec_ok(pg, sql_ins_hours, 1, pa, "insert cell_hour");
  if (!rc) rc |= exec_ok(pg, sql_del_net_hours, 1, pa, "delete net_hour");
  if (!rc) rc |= exec_ok(pg, sql_ins_net_hours, 1, pa, "insert net_hour");
  if (!rc) rc |= exec_ok(pg, sql_queue, 1, pa, "queue detector cells");
  if (!rc) rc |= exec_ok(pg, sql_del_day, 1, p1, "delete cell_day");
  if (!rc) rc |= exec_ok(pg, sql_ins_day, 1, p1, "insert cell_day");
  if (!rc) rc |= exec_ok(pg, sql_del_dom_day, 1, p1, "delete dom_day");
  if (!rc) rc |= exec_ok(pg, sql_ins_dom_day, 1, p1, "insert dom_day");
  if (!rc) rc |= exec_ok(pg, sql_del_net_day, 1, p1, "delete net_day");
  if (!rc) rc |= exec_ok(pg, sql_ins_net_day, 1, p1, "insert net_day");
  free(arr);
  if (rc) {
    exec_ok(pg, "ROLLBACK", 0, NULL, "rollback");
    return -1;
  }
  return exec_ok(pg, "COMMIT", 0, NULL, "commit") < 0 ? -1 : nh;
}

long cs_rollup_refresh(PGconn *pg, int64_t lo, int64_t hi, long max_hours) {
  if (!pg) return -1;
  long done = 0;
  int idle = 0;
  while (done < max_hours) {
    /* the oldest dirty day (in the range) */
    char lob[40], hib[40];
    iso_utc(lob, sizeof lob, lo < hi ? lo : 0);
    iso_utc(hib, sizeof hib, lo < hi ? hi : (int64_t)253402300799);
    const char *pv[2] = {lob, hib};
    PGresult *r = PQexecParams(pg,
                               "SELECT extract(epoch FROM date_trunc('day', min(hour), 'UTC'))"
                               "::bigint FROM dirty_hour WHERE hour >= $1::timestamptz AND "
                               "hour < $2::timestamptz",
                               2, NULL, pv, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      fprintf(stderr, "collector: rollup: dirty hours: %s", PQerrorMessage(pg));
      PQclear(r);
      return -1;
    }
    if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
      PQclear(r);
      break;
    }
    int64_t day = (int64_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    long n = refresh_day(pg, day);
    if (n < 0) return -1;
    if (n == 0 && ++idle > 8) break; /* taken by another refresher meanwhile */
    done += n;
  }
  return done;
}

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bounded per run (the job thread is shared with the core's jobs): a few days of dirty hours
 * and about 3 s of detector work, in transactions of 200 cells (the quiet cells, most of a
 * bulk load, settled for the whole batch in one statement, detector.c; a rollup of another
 * collector on the same database waits for the cells' queue rows, and ingest for that
 * rollup); what is left waits for the next run. Readers stay exact meanwhile (dirty hours are
 * counted from measurement). */
void cs_rollup_job(cs_coll_ctx *ctx) {
  if (!ctx->pg) return;
  double t0 = mono_s();
  if (cs_rollup_refresh(ctx->pg, 0, 0, 72) < 0) return;
  while (mono_s() - t0 < 3.0 && cs_detector_run(ctx->pg, 200) == 200) {
  }
}
