/* detector.c - the change detector run over the rollups (issue 13): for every (probe_cc,
 * probe_asn, domain) cell the rollup queued in detector_dirty, the hourly series of verdicts
 * (n) and of anomalies per blocking_type (k) is read from cell_hour and fed, in hour order,
 * to the two-sided CUSUM of analysis/cusum.c, one series per blocking_type. A cell is replayed
 * from its earliest dirty hour, restarting from the state checkpointed at the end of the day
 * before (detector_state), so a late upload reaches detection exactly as if it had come in
 * time. Alerts go to the append-only detector_changepoint log; the country-wide events of the
 * (cc, domain) pairs whose changepoints changed are recomputed (cs_flip_events: >= 3 ASNs of
 * one country flipping the same way within 6 h). docs/collector.md "Change detector". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/cusum.h"
#include "collector/explorer.h"

#define DET_MAX_TYPES 16         /* blocking types per cell (the outcome keys: ~8) */
#define DET_MAX_HOURS (24 * 800) /* history replayed per cell (retention is shorter) */
#define DET_EVENT_WINDOW_H 6     /* country-wide: flips within 6 h ... */
#define DET_EVENT_MIN_ASNS 3     /* ... of at least 3 ASNs */
#define DET_MAX_FLIPS 4096       /* changepoints of one (cc, domain) considered for events */

typedef struct {
  char type[64];
  cs_cusum_state st;
  bool fresh;        /* no checkpoint before the replay day: replayed from the first hour */
  int64_t from_hour; /* first hour this series is replayed from */
} det_series;

typedef struct {
  int64_t hour;
  uint32_t n;
  uint32_t k[DET_MAX_TYPES];
} det_hour;

static PGresult *q(PGconn *pg, const char *sql, int np, const char *const *pv) {
  PGresult *r = PQexecParams(pg, sql, np, NULL, pv, NULL, NULL, 0);
  if (!cs_coll_pg_ok(r)) {
    fprintf(stderr, "collector: detector: %s", PQerrorMessage(pg));
    PQclear(r);
    return NULL;
  }
  return r;
}

static int64_t i64(const PGresult *r, int row, int col, int64_t def) {
  const char *v = cs_coll_pg_value(r, row, col);
  return v ? (int64_t)strtoll(v, NULL, 10) : def;
}

static void hour_txt(char *b, size_t n, int64_t h) { snprintf(b, n, "%lld", (long long)h); }

/* Appends "v" or "" (NULL in the array) and a comma to an array literal. */
static int arr_add(cs_buf *b, int64_t v, bool null) {
  if (b->len > 1) cs_buf_putc(b, ',');
  if (null) return cs_buf_puts(b, "NULL");
  return cs_buf_printf(b, "%lld", (long long)v);
}

/* Appends a text element of an array literal, quoted ("..." with \\ before " and \\). */
static int arr_text(cs_buf *b, const char *v) {
  if (b->len > 1) cs_buf_putc(b, ',');
  cs_buf_putc(b, '"');
  for (; *v; v++) {
    if (*v == '"' || *v == '\\') cs_buf_putc(b, '\\');
    cs_buf_putc(b, *v);
  }
  return cs_buf_putc(b, '"');
}

typedef struct {
  cs_buf type, day, status, s_pos, s_neg, last, ps, pp, ns, np;
} det_rows;

static void rows_init(det_rows *w) {
  cs_buf *all[] = {&w->type, &w->day, &w->status, &w->s_pos, &w->s_neg,
                   &w->last, &w->ps,  &w->pp,     &w->ns,    &w->np};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
    cs_buf_init(all[i], (size_t)64 << 20);
    cs_buf_putc(all[i], '{');
  }
}
static void rows_free(det_rows *w) {
  cs_buf *all[] = {&w->type, &w->day, &w->status, &w->s_pos, &w->s_neg,
                   &w->last, &w->ps,  &w->pp,     &w->ns,    &w->np};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) cs_buf_free(all[i]);
}
static int rows_end(det_rows *w) {
  cs_buf *all[] = {&w->type, &w->day, &w->status, &w->s_pos, &w->s_neg,
                   &w->last, &w->ps,  &w->pp,     &w->ns,    &w->np};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++)
    if (cs_buf_putc(all[i], '}') < 0 || !cs_buf_cstr(all[i])) return -1;
  return 0;
}
static void rows_add(det_rows *w, const char *type, int64_t day, const cs_cusum_state *s) {
  arr_text(&w->type, type); /* types are the outcome keys; quoted anyway */
  arr_add(&w->day, day, false);
  arr_add(&w->status, s->status, false);
  if (w->s_pos.len > 1) cs_buf_putc(&w->s_pos, ',');
  cs_buf_printf(&w->s_pos, "%.17g", s->s_pos);
  if (w->s_neg.len > 1) cs_buf_putc(&w->s_neg, ',');
  cs_buf_printf(&w->s_neg, "%.17g", s->s_neg);
  arr_add(&w->last, s->last_hour, s->last_hour < 0);
  arr_add(&w->ps, s->pos_start, s->pos_start < 0);
  arr_add(&w->pp, s->pos_prev, s->pos_prev < 0);
  arr_add(&w->ns, s->neg_start, s->neg_start < 0);
  arr_add(&w->np, s->neg_prev, s->neg_prev < 0);
}

static const char sql_types[] =
    "SELECT DISTINCT blocking_type FROM cell_hour WHERE probe_cc = $1 AND probe_asn = $2::integer"
    " AND domain = $3 AND blocking_type IS NOT NULL AND anomaly_count + confirmed_count > 0"
    " ORDER BY 1 LIMIT 16";
/* the checkpoint of each type before day $4 (epoch hours) */
static const char sql_states[] =
    "SELECT DISTINCT ON (blocking_type) blocking_type, status, s_pos, s_neg,"
    " extract(epoch FROM last_hour)::bigint / 3600, extract(epoch FROM pos_start)::bigint / 3600,"
    " extract(epoch FROM pos_prev)::bigint / 3600, extract(epoch FROM neg_start)::bigint / 3600,"
    " extract(epoch FROM neg_prev)::bigint / 3600 FROM detector_state"
    " WHERE probe_cc = $1 AND probe_asn = $2::integer AND domain = $3"
    " AND day < to_timestamp($4::bigint * 3600) ORDER BY blocking_type, day DESC";
static const char sql_series[] =
    "SELECT extract(epoch FROM hour)::bigint / 3600, blocking_type,"
    " sum(measurement_count - failure_count), sum(anomaly_count + confirmed_count)"
    " FROM cell_hour WHERE probe_cc = $1 AND probe_asn = $2::integer AND domain = $3"
    " AND hour >= to_timestamp($4::bigint * 3600) GROUP BY 1, 2 ORDER BY 1";
static const char sql_del_states[] =
    "DELETE FROM detector_state WHERE probe_cc = $1 AND probe_asn = $2::integer AND domain = $3"
    " AND day >= to_timestamp($4::bigint * 3600)";
static const char sql_ins_states[] =
    "INSERT INTO detector_state SELECT $1, $2::integer, $3, t, to_timestamp(d * 3600), st, sp,"
    " sn, to_timestamp(l * 3600), to_timestamp(ps * 3600), to_timestamp(pp * 3600),"
    " to_timestamp(ns * 3600), to_timestamp(np * 3600) FROM unnest($4::text[], $5::bigint[],"
    " $6::smallint[], $7::float8[], $8::float8[], $9::bigint[], $10::bigint[], $11::bigint[],"
    " $12::bigint[], $13::bigint[]) AS u(t, d, st, sp, sn, l, ps, pp, ns, np)"
    " ON CONFLICT (probe_cc, probe_asn, domain, blocking_type, day) DO UPDATE SET"
    " status = EXCLUDED.status, s_pos = EXCLUDED.s_pos, s_neg = EXCLUDED.s_neg,"
    " last_hour = EXCLUDED.last_hour, pos_start = EXCLUDED.pos_start,"
    " pos_prev = EXCLUDED.pos_prev, neg_start = EXCLUDED.neg_start, neg_prev = EXCLUDED.neg_prev";
static const char sql_ins_cp[] =
    "INSERT INTO detector_changepoint (probe_cc, probe_asn, domain, blocking_type, ts, start_ts,"
    " prev_ts, change_dir, s_pos, s_neg, n, k, h) VALUES ($1, $2::integer, $3, $4,"
    " to_timestamp($5::bigint * 3600), to_timestamp($6::bigint * 3600),"
    " to_timestamp($7::bigint * 3600), $8::smallint, $9::float8, $10::float8, $11::integer,"
    " $12::integer, $13::float8)"
    " ON CONFLICT (probe_cc, probe_asn, domain, blocking_type, ts, change_dir)"
    " DO UPDATE SET retracted_at = NULL RETURNING id";
/* alerts of the replayed span that the replay no longer gives */
static const char sql_retract[] =
    "UPDATE detector_changepoint SET retracted_at = now() WHERE probe_cc = $1"
    " AND probe_asn = $2::integer AND domain = $3 AND ts >= to_timestamp($4::bigint * 3600)"
    " AND retracted_at IS NULL AND id <> ALL($5::bigint[])";

/* Replays one cell; *changed: alerts were added or retracted. Returns 0 or -1. */
static int run_cell(PGconn *pg, const char *cc, const char *asn, const char *domain, int64_t hour0,
                    bool *changed) {
  const cs_cusum_params *p;
  cs_cusum_params pd;
  cs_cusum_params_default(&pd);
  p = &pd;
  int64_t day0 = hour0 - (hour0 % 24 + 24) % 24; /* the UTC day's first hour */
  char d0[32];
  hour_txt(d0, sizeof d0, day0);
  const char *pv[13] = {cc, asn, domain, d0};

  det_series ser[DET_MAX_TYPES];
  size_t nser = 0;
  PGresult *r = q(pg, sql_types, 3, pv);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r) && nser < DET_MAX_TYPES; i++) {
    const char *t = PQgetvalue(r, i, 0);
    if (strlen(t) >= sizeof ser[0].type) continue;
    det_series *s = &ser[nser++];
    snprintf(s->type, sizeof s->type, "%s", t);
    cs_cusum_state_init(&s->st);
    s->fresh = true;
    s->from_hour = INT64_MIN;
  }
  PQclear(r);
  /* never an anomaly in this cell: no series, no state, nothing to alert (most cells) */
  if (nser == 0) return 0;
  if (!(r = q(pg, sql_states, 4, pv))) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    for (size_t j = 0; j < nser; j++) {
      if (strcmp(ser[j].type, PQgetvalue(r, i, 0)) != 0) continue;
      cs_cusum_state *st = &ser[j].st;
      st->status = (int)i64(r, i, 1, 0);
      st->s_pos = strtod(PQgetvalue(r, i, 2), NULL);
      st->s_neg = strtod(PQgetvalue(r, i, 3), NULL);
      st->last_hour = i64(r, i, 4, -1);
      st->pos_start = i64(r, i, 5, -1);
      st->pos_prev = i64(r, i, 6, -1);
      st->neg_start = i64(r, i, 7, -1);
      st->neg_prev = i64(r, i, 8, -1);
      ser[j].fresh = false;
      ser[j].from_hour = day0;
    }
  }
  PQclear(r);
  int64_t from = day0;
  for (size_t j = 0; j < nser; j++)
    if (ser[j].fresh) from = 0; /* a type seen for the first time: its whole history */
  char fb[32];
  hour_txt(fb, sizeof fb, from);
  const char *pf[4] = {cc, asn, domain, fb};
  if (!(r = q(pg, sql_series, 4, pf))) return -1;
  int nr = PQntuples(r);
  det_hour *hs = calloc(nr > 0 ? (size_t)nr : 1, sizeof *hs);
  if (!hs) {
    PQclear(r);
    return -1;
  }
  size_t nh = 0;
  for (int i = 0; i < nr; i++) {
    int64_t h = i64(r, i, 0, 0);
    if (nh == 0 || hs[nh - 1].hour != h) {
      if (nh == DET_MAX_HOURS) break;
      hs[nh++].hour = h;
    }
    det_hour *d = &hs[nh - 1];
    int64_t n = i64(r, i, 2, 0), k = i64(r, i, 3, 0);
    if (n > 0 && n < (int64_t)UINT32_MAX - d->n) d->n += (uint32_t)n;
    if (PQgetisnull(r, i, 1) || k <= 0) continue;
    for (size_t j = 0; j < nser; j++)
      if (strcmp(ser[j].type, PQgetvalue(r, i, 1)) == 0 && k < (int64_t)UINT32_MAX - d->k[j])
        d->k[j] += (uint32_t)k;
  }
  PQclear(r);

  det_rows w;
  rows_init(&w);
  cs_buf ids;
  cs_buf_init(&ids, (size_t)1 << 20);
  cs_buf_putc(&ids, '{');
  int rc = 0;
  for (size_t j = 0; j < nser && rc == 0; j++) {
    det_series *s = &ser[j];
    for (size_t i = 0; i < nh && rc == 0; i++) {
      if (hs[i].hour < s->from_hour) continue;
      cs_cusum_obs o = {hs[i].hour, hs[i].n, hs[i].k[j]};
      cs_cusum_alert a;
      if (cs_cusum_step(p, &s->st, &o, &a) != 0) {
        char ts[32], st[32], pr[32], dir[8], sp[40], sn[40], nb[16], kb[16], hb[40];
        hour_txt(ts, sizeof ts, a.hour);
        hour_txt(st, sizeof st, a.start);
        hour_txt(pr, sizeof pr, a.prev);
        snprintf(dir, sizeof dir, "%d", a.dir);
        snprintf(sp, sizeof sp, "%.17g", a.s_pos);
        snprintf(sn, sizeof sn, "%.17g", a.s_neg);
        snprintf(nb, sizeof nb, "%u", o.n);
        snprintf(kb, sizeof kb, "%u", o.k);
        snprintf(hb, sizeof hb, "%.17g", p->h);
        const char *cv[13] = {
            cc, asn, domain, s->type, ts, a.start >= 0 ? st : NULL, a.prev >= 0 ? pr : NULL, dir,
            sp, sn,  nb,     kb,      hb};
        PGresult *ri = q(pg, sql_ins_cp, 13, cv);
        if (!ri) {
          rc = -1;
          break;
        }
        if (ids.len > 1) cs_buf_putc(&ids, ',');
        cs_buf_puts(&ids, PQgetvalue(ri, 0, 0));
        *changed = true;
        PQclear(ri);
      }
      /* checkpoint at the end of each day with data */
      bool day_end = i + 1 == nh || hs[i + 1].hour / 24 != hs[i].hour / 24;
      if (day_end && hs[i].hour >= day0) rows_add(&w, s->type, hs[i].hour / 24 * 24, &s->st);
      else if (day_end && s->fresh) rows_add(&w, s->type, hs[i].hour / 24 * 24, &s->st);
    }
  }
  free(hs);
  if (rc == 0 && (cs_buf_putc(&ids, '}') < 0 || rows_end(&w) < 0)) rc = -1;
  if (rc == 0) {
    PGresult *rd = q(pg, sql_del_states, 4, pv);
    if (!rd) rc = -1;
    PQclear(rd);
  }
  if (rc == 0 && nser > 0) {
    const char *iv[13] = {cc,
                          asn,
                          domain,
                          cs_buf_cstr(&w.type),
                          cs_buf_cstr(&w.day),
                          cs_buf_cstr(&w.status),
                          cs_buf_cstr(&w.s_pos),
                          cs_buf_cstr(&w.s_neg),
                          cs_buf_cstr(&w.last),
                          cs_buf_cstr(&w.ps),
                          cs_buf_cstr(&w.pp),
                          cs_buf_cstr(&w.ns),
                          cs_buf_cstr(&w.np)};
    PGresult *ri = q(pg, sql_ins_states, 13, iv);
    if (!ri) rc = -1;
    PQclear(ri);
  }
  if (rc == 0) {
    const char *xv[5] = {cc, asn, domain, d0, cs_buf_cstr(&ids)};
    PGresult *rr = q(pg, sql_retract, 5, xv);
    if (!rr) rc = -1;
    else if (strcmp(PQcmdTuples(rr), "0") != 0) *changed = true;
    PQclear(rr);
  }
  rows_free(&w);
  cs_buf_free(&ids);
  return rc;
}

static const char sql_flips[] =
    "SELECT id, probe_asn, extract(epoch FROM ts)::bigint / 3600, change_dir, blocking_type"
    " FROM detector_changepoint WHERE probe_cc = $1 AND domain = $2 AND retracted_at IS NULL"
    " ORDER BY change_dir, ts, probe_asn LIMIT 4096";
static const char sql_del_events[] =
    "DELETE FROM detector_event WHERE probe_cc = $1 AND domain = $2";
static const char sql_ins_event[] =
    "INSERT INTO detector_event (probe_cc, domain, change_dir, ts_first, ts_last, asn_count,"
    " probe_asns, blocking_types, changepoints, window_h, min_asns) VALUES ($1, $2,"
    " $3::smallint, to_timestamp($4::bigint * 3600), to_timestamp($5::bigint * 3600),"
    " $6::integer, (SELECT array_agg(DISTINCT a ORDER BY a) FROM unnest($7::integer[]) a),"
    " (SELECT array_agg(DISTINCT b ORDER BY b) FROM unnest($8::text[]) b), $9::bigint[],"
    " $10::integer, $11::integer)";

/* Recomputes the country-wide events of one (cc, domain). */
static int run_events(PGconn *pg, const char *cc, const char *domain) {
  const char *pv[2] = {cc, domain};
  PGresult *r = q(pg, sql_flips, 2, pv);
  if (!r) return -1;
  int n = PQntuples(r);
  cs_flip *fl = calloc(n > 0 ? (size_t)n : 1, sizeof *fl);
  cs_flip_event *ev = calloc(n > 0 ? (size_t)n : 1, sizeof *ev);
  int rc = 0;
  if (!fl || !ev) rc = -1;
  PGresult *rd = rc ? NULL : q(pg, sql_del_events, 2, pv);
  if (!rd) rc = -1;
  PQclear(rd);
  for (int lo = 0; rc == 0 && lo < n;) {
    int hi = lo;
    int64_t dir = i64(r, lo, 3, 0);
    while (hi < n && i64(r, hi, 3, 0) == dir) {
      fl[hi - lo].hour = i64(r, hi, 2, 0);
      fl[hi - lo].asn = (uint32_t)i64(r, hi, 1, 0);
      hi++;
    }
    size_t ne = cs_flip_events(fl, (size_t)(hi - lo), DET_EVENT_WINDOW_H, DET_EVENT_MIN_ASNS, ev,
                               (size_t)n);
    for (size_t e = 0; e < ne && rc == 0; e++) {
      cs_buf asns, types, idl;
      cs_buf_init(&asns, (size_t)1 << 20);
      cs_buf_init(&types, (size_t)1 << 20);
      cs_buf_init(&idl, (size_t)1 << 20);
      cs_buf_putc(&asns, '{');
      cs_buf_putc(&types, '{');
      cs_buf_putc(&idl, '{');
      for (size_t m = ev[e].first; m <= ev[e].last; m++) {
        int row = lo + (int)m;
        const char *sep = m > ev[e].first ? "," : "";
        cs_buf_printf(&asns, "%s%s", sep, PQgetvalue(r, row, 1));
        cs_buf_printf(&idl, "%s%s", sep, PQgetvalue(r, row, 0));
        arr_text(&types, PQgetvalue(r, row, 4));
      }
      cs_buf_putc(&asns, '}');
      cs_buf_putc(&types, '}');
      cs_buf_putc(&idl, '}');
      char db[8], t1[32], t2[32], na[16], wb[16], mb[16];
      snprintf(db, sizeof db, "%lld", (long long)dir);
      hour_txt(t1, sizeof t1, fl[ev[e].first].hour);
      hour_txt(t2, sizeof t2, fl[ev[e].last].hour);
      snprintf(na, sizeof na, "%zu", ev[e].nasn);
      snprintf(wb, sizeof wb, "%d", DET_EVENT_WINDOW_H);
      snprintf(mb, sizeof mb, "%d", DET_EVENT_MIN_ASNS);
      const char *ev_v[11] = {
          cc, domain, db, t1, t2, na, cs_buf_cstr(&asns), cs_buf_cstr(&types), cs_buf_cstr(&idl),
          wb, mb};
      if (asns.overflow || types.overflow || idl.overflow) rc = -1;
      PGresult *ri = rc ? NULL : q(pg, sql_ins_event, 11, ev_v);
      if (!ri) rc = -1;
      PQclear(ri);
      cs_buf_free(&asns);
      cs_buf_free(&types);
      cs_buf_free(&idl);
    }
    lo = hi;
  }
  PQclear(r);
  free(fl);
  free(ev);
  return rc;
}

static const char sql_take_cells[] =
    "SELECT probe_cc, probe_asn, domain, extract(epoch FROM hour)::bigint / 3600"
    " FROM detector_dirty ORDER BY hour LIMIT $1::integer FOR UPDATE SKIP LOCKED";
/* the cells of a batch (1-based positions) that ever had an anomaly with a blocking type: the
 * others have no series (run_cell's first query gives nothing), so most cells of a bulk load
 * cost one statement for the whole batch instead of two each */
static const char sql_active[] =
    "SELECT u.i FROM unnest($1::text[], $2::integer[], $3::text[]) WITH ORDINALITY"
    " AS u(cc, asn, dom, i) WHERE EXISTS (SELECT 1 FROM cell_hour c WHERE c.probe_cc = u.cc"
    " AND c.probe_asn = u.asn AND c.domain = u.dom AND c.blocking_type IS NOT NULL"
    " AND c.anomaly_count + c.confirmed_count > 0) ORDER BY u.i";
static const char sql_done_cells[] =
    "DELETE FROM detector_dirty d USING unnest($1::text[], $2::integer[], $3::text[])"
    " AS u(cc, asn, dom) WHERE d.probe_cc = u.cc AND d.probe_asn = u.asn AND d.domain = u.dom";

long cs_detector_run(PGconn *pg, long max_cells) {
  if (!pg || max_cells <= 0) return -1;
  PGresult *r = PQexec(pg, "BEGIN");
  bool ok = cs_coll_pg_ok(r);
  PQclear(r);
  if (!ok) return -1;
  char lim[24];
  snprintf(lim, sizeof lim, "%ld", max_cells);
  const char *pl[1] = {lim};
  PGresult *cells = q(pg, sql_take_cells, 1, pl);
  int rc = cells ? 0 : -1;
  int nc = cells ? PQntuples(cells) : 0;
  /* the batch as three arrays: (cc, asn, domain) */
  cs_buf acc, aasn, adom;
  cs_buf_init(&acc, (size_t)16 << 20);
  cs_buf_init(&aasn, (size_t)16 << 20);
  cs_buf_init(&adom, (size_t)16 << 20);
  cs_buf_putc(&acc, '{');
  cs_buf_putc(&aasn, '{');
  cs_buf_putc(&adom, '{');
  for (int i = 0; i < nc; i++) {
    arr_text(&acc, PQgetvalue(cells, i, 0));
    arr_add(&aasn, i64(cells, i, 1, 0), false);
    arr_text(&adom, PQgetvalue(cells, i, 2));
  }
  cs_buf_putc(&acc, '}');
  cs_buf_putc(&aasn, '}');
  cs_buf_putc(&adom, '}');
  if (acc.overflow || aasn.overflow || adom.overflow || !cs_buf_cstr(&acc) || !cs_buf_cstr(&aasn) ||
      !cs_buf_cstr(&adom))
    rc = -1;
  const char *av[3] = {cs_buf_cstr(&acc), cs_buf_cstr(&aasn), cs_buf_cstr(&adom)};
  /* which cells to replay; the (cc, domain) pairs whose changepoints changed: events */
  bool *active = calloc(nc > 0 ? (size_t)nc : 1, sizeof *active);
  bool *changed = calloc(nc > 0 ? (size_t)nc : 1, sizeof *changed);
  if (!active || !changed) rc = -1;
  if (rc == 0 && nc > 0) {
    PGresult *ra = q(pg, sql_active, 3, av);
    if (!ra) rc = -1;
    for (int i = 0; ra && i < PQntuples(ra); i++) {
      int64_t pos = i64(ra, i, 0, 0);
      if (pos >= 1 && pos <= nc) active[pos - 1] = true;
    }
    PQclear(ra);
  }
  for (int i = 0; rc == 0 && i < nc; i++) {
    if (!active[i]) continue;
    const char *cc = PQgetvalue(cells, i, 0), *asn = PQgetvalue(cells, i, 1),
               *dom = PQgetvalue(cells, i, 2);
    if (run_cell(pg, cc, asn, dom, i64(cells, i, 3, 0), &changed[i]) < 0) rc = -1;
  }
  if (rc == 0 && nc > 0) {
    PGresult *rd = q(pg, sql_done_cells, 3, av);
    if (!rd) rc = -1;
    PQclear(rd);
  }
  for (int i = 0; rc == 0 && i < nc; i++) {
    if (!changed[i]) continue;
    const char *cc = PQgetvalue(cells, i, 0), *dom = PQgetvalue(cells, i, 2);
    bool seen = false; /* once per (cc, domain) */
    for (int j = 0; j < i && !seen; j++)
      seen = changed[j] && strcmp(PQgetvalue(cells, j, 0), cc) == 0 &&
             strcmp(PQgetvalue(cells, j, 2), dom) == 0;
    if (!seen && run_events(pg, cc, dom) < 0) rc = -1;
  }
  free(active);
  free(changed);
  cs_buf_free(&acc);
  cs_buf_free(&aasn);
  cs_buf_free(&adom);
  PQclear(cells);
  r = PQexec(pg, rc == 0 ? "COMMIT" : "ROLLBACK");
  ok = cs_coll_pg_ok(r);
  PQclear(r);
  return rc == 0 && ok ? nc : -1;
}
