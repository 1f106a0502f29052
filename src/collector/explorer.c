/* explorer.c - the collector's read API in OONI's shapes (issue 13; research
 * fleet-and-scale.md §1.4): GET /api/v1/aggregation (filters, axis_x/axis_y, time grains, JSON
 * and CSV), GET /api/v1/measurements, GET /api/v1/measurement/{uid} (the row and the raw
 * measurement from its can), GET /api/v1/detector/changepoints and GET /api/v1/detector/events.
 *
 * Every query parameter is hostile: each is checked against a strict shape with a precise
 * 400 reason, and reaches PostgreSQL only as a $n parameter (lists as array literals built
 * from the already-checked items). Aggregations read the rollups (rollup.c) and count the
 * hours still listed in dirty_hour straight from `measurement`, in one statement (one
 * snapshot), so the numbers always equal a SQL count over the stored rows. docs/collector.md
 * "Explorer API". */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/cusum.h"
#include "collector/explorer.h"

#define EX_MAX_LIST 50                /* items in one comma-separated filter */
#define EX_MAX_RANGE_S (86400 * 3660) /* since..until at most ~10 years */
#define EX_MAX_PARAMS 64
#define EX_BODY_MAX ((size_t)64 << 20)

/* ---- query building ------------------------------------------------------------------------ */

typedef struct {
  cs_buf sql;
  const char *pv[EX_MAX_PARAMS];
  int np;
  cs_arena *a; /* parameter texts */
  bool oom;
} ex_q;

/* Adds a parameter; returns its number ($n) or 0 when full. */
static int q_param(ex_q *q, const char *v) {
  if (q->np >= EX_MAX_PARAMS) {
    q->oom = true;
    return 0;
  }
  q->pv[q->np++] = v;
  return q->np;
}

static void q_add(ex_q *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void q_add(ex_q *q, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[4096];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp || cs_buf_puts(&q->sql, tmp) < 0) q->oom = true;
}

/* ---- parameters ------------------------------------------------------------------------------ */

typedef struct {
  /* array literals ({"a","b"}) of the checked lists, NULL when the filter is absent */
  const char *cc, *asn, *domain, *category, *test, *btype;
  const char *input;    /* exact */
  int64_t since, until; /* UNIX s, [since, until) */
  bool since_set, until_set;
} ex_filters;

/* Item shapes. Each returns NULL when s[0..n) is acceptable, else what is wrong. */
static const char *shape_cc(const char *s, size_t n) {
  return n == 2 && isupper((unsigned char)s[0]) && isupper((unsigned char)s[1])
             ? NULL
             : "must be a two-letter upper-case country code";
}
static const char *shape_asn(const char *s, size_t n) {
  if (n > 2 && (s[0] == 'A' || s[0] == 'a') && (s[1] == 'S' || s[1] == 's')) s += 2, n -= 2;
  if (n == 0 || n > 10) return "must be an AS number (digits, optional AS prefix)";
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return "must be an AS number (digits, optional AS prefix)";
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  return v > 2147483647u ? "is out of range (0..2147483647)" : NULL;
}
static const char *shape_domain(const char *s, size_t n) {
  if (n == 0 || n > 253) return "must be 1-253 characters";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']'))
      return "may only hold letters, digits and . - _ : [ ]";
  }
  return NULL;
}
/* OONI's ^[A-Z]+$, widened to what the collector stores from annotations.category_code */
static const char *shape_category(const char *s, size_t n) {
  if (n == 0 || n > 32) return "must be 1-32 of [A-Za-z_]";
  for (size_t i = 0; i < n; i++)
    if (!isalpha((unsigned char)s[i]) && s[i] != '_') return "must be 1-32 of [A-Za-z_]";
  return NULL;
}
static const char *shape_test(const char *s, size_t n) {
  if (n == 0 || n > 64) return "must match ^[a-z0-9_]{1,64}$";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(islower(c) || isdigit(c) || c == '_')) return "must match ^[a-z0-9_]{1,64}$";
  }
  return NULL;
}

static const char *shape_btype(const char *s, size_t n) {
  if (n == 0 || n > 32) return "must match ^[a-z_]{1,32}$";
  for (size_t i = 0; i < n; i++)
    if (!(islower((unsigned char)s[i]) || s[i] == '_')) return "must match ^[a-z_]{1,32}$";
  return NULL;
}

int cs_explorer_list(cs_arena *a, const char *name, const char *v, const char **out, char *err,
                     size_t errlen) {
  static const struct {
    const char *name;
    const char *(*shape)(const char *, size_t);
  } kinds[] = {{"probe_cc", shape_cc},    {"probe_asn", shape_asn},
               {"domain", shape_domain},  {"category_code", shape_category},
               {"test_name", shape_test}, {"blocking_type", shape_btype}};
  const char *(*shape)(const char *, size_t) = NULL;
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
    if (!strcmp(kinds[i].name, name)) shape = kinds[i].shape;
  *out = NULL;
  if (!shape) {
    snprintf(err, errlen, "%s: not a list filter", name);
    return 400;
  }
  size_t len = strlen(v);
  if (len == 0) {
    snprintf(err, errlen, "%s: empty value", name);
    return 400;
  }
  if (len > EX_MAX_LIST * 256) {
    snprintf(err, errlen, "%s: too long (at most %d items)", name, EX_MAX_LIST);
    return 400;
  }
  char *lit = cs_arena_alloc(a, len * 2 + 8); /* per item: 2 quotes + a comma, item >= 1 */
  if (!lit) {
    snprintf(err, errlen, "out of memory");
    return 500;
  }
  size_t o = 0, items = 0;
  lit[o++] = '{';
  const char *p = v;
  for (;;) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (++items > EX_MAX_LIST) {
      snprintf(err, errlen, "%s: more than %d items", name, EX_MAX_LIST);
      return 400;
    }
    const char *why = shape(p, n);
    if (why) {
      snprintf(err, errlen, "%s: item %zu %s", name, items, why);
      return 400;
    }
    if (items > 1) lit[o++] = ',';
    lit[o++] = '"';
    size_t skip = shape == shape_asn && n > 2 && isalpha((unsigned char)p[0]) ? 2 : 0;
    for (size_t i = skip; i < n; i++)
      lit[o++] = shape == shape_domain ? (char)tolower((unsigned char)p[i]) : p[i];
    lit[o++] = '"';
    if (!e) break;
    p = e + 1;
  }
  lit[o++] = '}';
  lit[o] = 0;
  *out = lit;
  return 0;
}

/* The list filter `name` of the request (NULL when absent) as an array literal. Returns 0, or
 * -1 after setting the 400. */
static int parse_list(cs_arena *a, const cs_coll_req *rq, cs_coll_resp *rs, const char *name,
                      const char **out) {
  const char *v = cs_coll_param(rq, name);
  *out = NULL;
  if (!v) return 0;
  char err[200];
  int st = cs_explorer_list(a, name, v, out, err, sizeof err);
  if (st) cs_coll_error(rs, st, "%s", err);
  return st ? -1 : 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) { /* H. Hinnant's */
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, unsigned *out) {
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return false;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  *out = v;
  return true;
}

/* "YYYY-MM-DD", "YYYY-MM-DDTHH:MM", "YYYY-MM-DDTHH:MM:SS", each optionally ending in "Z"
 * (always UTC; a space may stand for the T). Returns 0 and *t (UNIX s) or -1. */
int cs_explorer_parse_time(const char *s, int64_t *t) {
  size_t n = strlen(s);
  if (n && s[n - 1] == 'Z') n--;
  unsigned y, mo, d, hh = 0, mi = 0, ss = 0;
  if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
      !digits(s + 8, 2, &d))
    return -1;
  if (n > 10) {
    if ((s[10] != 'T' && s[10] != ' ') || n < 16 || !digits(s + 11, 2, &hh) || s[13] != ':' ||
        !digits(s + 14, 2, &mi))
      return -1;
    if (n > 16 && (n != 19 || s[16] != ':' || !digits(s + 17, 2, &ss))) return -1;
  }
  static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 2000 || y > 2100 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || hh > 23 ||
      mi > 59 || ss > 59)
    return -1;
  if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return -1;
  *t = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss;
  return 0;
}

static void iso_utc(char *out, size_t n, int64_t t) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The filters every list endpoint shares; until defaults to the next UTC midnight, since to
 * 30 days before until. Returns 0 or -1 (400 set). */
static int parse_filters(cs_arena *a, const cs_coll_req *rq, cs_coll_resp *rs, ex_filters *f,
                         bool with_input) {
  memset(f, 0, sizeof *f);
  if (parse_list(a, rq, rs, "probe_cc", &f->cc) < 0 ||
      parse_list(a, rq, rs, "probe_asn", &f->asn) < 0 ||
      parse_list(a, rq, rs, "domain", &f->domain) < 0 ||
      parse_list(a, rq, rs, "category_code", &f->category) < 0 ||
      parse_list(a, rq, rs, "test_name", &f->test) < 0)
    return -1;
  const char *in = cs_coll_param(rq, "input");
  if (in) {
    size_t n = strlen(in);
    if (!with_input) {
      cs_coll_error(rs, 400, "input: not a filter of this endpoint");
      return -1;
    }
    if (n < 3 || n > 2048) {
      cs_coll_error(rs, 400, "input: must be 3-2048 characters");
      return -1;
    }
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)in[i] < 0x20 || in[i] == 0x7f) {
        cs_coll_error(rs, 400, "input: control character at %zu", i);
        return -1;
      }
    f->input = in;
  }
  const char *s = cs_coll_param(rq, "since"), *u = cs_coll_param(rq, "until");
  if (s && cs_explorer_parse_time(s, &f->since) < 0) {
    cs_coll_error(rs, 400, "since: not a date (YYYY-MM-DD[THH:MM[:SS]][Z], UTC, 2000-2100)");
    return -1;
  }
  if (u && cs_explorer_parse_time(u, &f->until) < 0) {
    cs_coll_error(rs, 400, "until: not a date (YYYY-MM-DD[THH:MM[:SS]][Z], UTC, 2000-2100)");
    return -1;
  }
  f->since_set = s != NULL;
  f->until_set = u != NULL;
  if (!u) {
    int64_t now = (int64_t)time(NULL);
    f->until = (now / 86400 + 1) * 86400; /* the end of today (UTC), as OONI */
  }
  if (!s) f->since = f->until - 30 * 86400;
  if (f->until <= f->since) {
    cs_coll_error(rs, 400, "until must be after since");
    return -1;
  }
  if (f->until - f->since > EX_MAX_RANGE_S) {
    cs_coll_error(rs, 400, "since..until spans more than 10 years");
    return -1;
  }
  return 0;
}

/* " AND col = ANY($n::type[])" for every filter present. */
static void add_filters(ex_q *q, const ex_filters *f, const int pn[7]) {
  static const char *const col[7] = {"probe_cc",  "probe_asn",     "domain", "category_code",
                                     "test_name", "blocking_type", "input"};
  static const char *const typ[7] = {"text", "integer", "text", "text", "text", "text", NULL};
  const char *v[7] = {f->cc, f->asn, f->domain, f->category, f->test, f->btype, f->input};
  for (int i = 0; i < 7; i++) {
    if (!v[i]) continue;
    if (typ[i]) q_add(q, " AND %s = ANY($%d::%s[])", col[i], pn[i], typ[i]);
    else q_add(q, " AND %s = $%d", col[i], pn[i]);
  }
}

static void filter_params(ex_q *q, const ex_filters *f, int pn[7]) {
  const char *v[7] = {f->cc, f->asn, f->domain, f->category, f->test, f->btype, f->input};
  for (int i = 0; i < 7; i++) pn[i] = v[i] ? q_param(q, v[i]) : 0;
}

static bool truthy(const char *v, int *out) {
  if (!strcmp(v, "true") || !strcmp(v, "1")) *out = 1;
  else if (!strcmp(v, "false") || !strcmp(v, "0")) *out = 0;
  else return false;
  return true;
}

/* Runs q on the read connection; NULL after setting a 500/503. */
static PGresult *q_run(cs_coll_ctx *ctx, ex_q *q, cs_coll_resp *rs) {
  PGconn *pg = ctx->pg_read ? ctx->pg_read : ctx->pg;
  if (q->oom || q->sql.overflow || !cs_buf_cstr(&q->sql)) {
    cs_coll_error(rs, 500, "query too large");
    return NULL;
  }
  if (!pg || PQstatus(pg) != CONNECTION_OK) {
    cs_coll_error(rs, 503, "database unavailable");
    return NULL;
  }
  /* every parameter is text, cast in the SQL (an unreferenced one needs a type too) */
  Oid types[EX_MAX_PARAMS];
  for (int i = 0; i < q->np; i++) types[i] = 25; /* TEXTOID */
  PGresult *r = PQexecParams(pg, cs_buf_cstr(&q->sql), q->np, types, q->pv, NULL, NULL, 0);
  if (!cs_coll_pg_ok(r)) {
    fprintf(stderr, "collector: explorer: %s", PQerrorMessage(pg));
    PQclear(r);
    cs_coll_error(rs, 503, "database error");
    return NULL;
  }
  return r;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- GET /api/v1/aggregation -------------------------------------------------------------- */

enum { AX_NONE, AX_DAY, AX_CC, AX_ASN, AX_DOMAIN, AX_INPUT, AX_CAT, AX_TEST, AX_BTYPE };
static const char *const ax_name[] = {
    NULL,    "measurement_start_day", "probe_cc",  "probe_asn",    "domain",
    "input", "category_code",         "test_name", "blocking_type"};

static int parse_axis(const cs_coll_req *rq, cs_coll_resp *rs, const char *name, int *out) {
  const char *v = cs_coll_param(rq, name);
  *out = AX_NONE;
  if (!v) return 0;
  for (int i = AX_DAY; i <= AX_BTYPE; i++)
    if (!strcmp(v, ax_name[i])) {
      *out = i;
      return 0;
    }
  cs_coll_error(rs, 400,
                "%s: must be one of measurement_start_day, probe_cc, probe_asn, domain, input, "
                "category_code, test_name, blocking_type",
                name);
  return -1;
}

/* The dirty hours of the asked range, read in the same snapshot as the aggregation (see
 * cs_explorer_aggregation): parameter numbers of their array literals, and the merged
 * ranges of consecutive dirty hours. */
#define EX_MAX_RANGES 12
typedef struct {
  int p_hours, p_days;  /* $n of {hours} and {days} (timestamptz[]) */
  size_t nhours, ndays; /* how many */
  int64_t days[400];    /* the dirty days (UNIX s), sorted, the first 400 */
  int64_t rlo[EX_MAX_RANGES], rhi[EX_MAX_RANGES];
  size_t nr;    /* ranges; when more would be needed: one covering range and */
  bool by_list; /* ... the hour list as a filter */
} ex_dirty;

static const char raw_counts[] =
    "(anomaly AND NOT confirmed AND NOT msm_failure)::int, (confirmed AND NOT msm_failure)::int,"
    " msm_failure::int, (NOT anomaly AND NOT confirmed AND NOT msm_failure)::int, 1";
static const char cell_counts[] =
    "anomaly_count, confirmed_count, failure_count, ok_count, measurement_count";

static void axis_cols(char *cols, size_t n, const int ax[2]) {
  size_t o = 0;
  cols[0] = 0;
  for (int i = 0; i < 2; i++)
    if (ax[i] != AX_NONE && ax[i] != AX_DAY && o < n)
      o += (size_t)snprintf(cols + o, n - o, "%s, ", ax_name[ax[i]]);
}

/* One source of rows ("leaf") over [lo, hi): kind 0 raw measurement rows, 1 hourly rollup
 * without the dirty hours, 2 daily rollup without the days holding a dirty hour (plus the
 * clean hours of those days). Columns: [t,] the axis columns, the five counters. The dirty
 * hours themselves come from dirty_leaf(). */
static void leaf(ex_q *q, int kind, int plo, int phi, int64_t lo, int64_t hi, const int ax[2],
                 bool time_axis, const ex_filters *f, const int pn[7], const ex_dirty *dy) {
  /* without a domain filter or axis the per-network rollups hold the same sums in far
   * fewer rows; with one but without a network or blocking-type filter or axis, the
   * per-domain daily rollup */
  bool dom = f->domain || ax[0] == AX_DOMAIN || ax[1] == AX_DOMAIN;
  bool fine = f->asn || f->btype || ax[0] == AX_ASN || ax[1] == AX_ASN || ax[0] == AX_BTYPE ||
              ax[1] == AX_BTYPE;
  const char *th = dom ? "cell_hour" : "net_hour";
  const char *td = !dom ? "net_day" : fine ? "cell_day" : "dom_day";
  char cols[128];
  axis_cols(cols, sizeof cols, ax);
  if (kind == 0) {
    q_add(q,
          "SELECT %s%s%s FROM measurement WHERE measurement_start_time >= $%d::timestamptz"
          " AND measurement_start_time < $%d::timestamptz",
          time_axis ? "date_trunc('hour', measurement_start_time, 'UTC'), " : "", cols, raw_counts,
          plo, phi);
    add_filters(q, f, pn);
    return;
  }
  if (kind == 1) {
    q_add(q,
          "SELECT %s%s%s FROM %s c WHERE c.hour >= $%d::timestamptz AND c.hour <"
          " $%d::timestamptz",
          time_axis ? "c.hour, " : "", cols, cell_counts, th, plo, phi);
    if (dy->nhours) q_add(q, " AND c.hour <> ALL($%d::timestamptz[])", dy->p_hours);
    add_filters(q, f, pn);
    return;
  }
  q_add(q, "SELECT %s%s%s FROM %s c WHERE c.day >= $%d::timestamptz AND c.day < $%d::timestamptz",
        time_axis ? "c.day, " : "", cols, cell_counts, td, plo, phi);
  bool any = false;
  for (size_t i = 0; i < dy->ndays && i < sizeof dy->days / sizeof *dy->days; i++)
    any |= dy->days[i] >= lo && dy->days[i] < hi;
  if (dy->ndays > sizeof dy->days / sizeof *dy->days) any = true;
  if (any) q_add(q, " AND c.day <> ALL($%d::timestamptz[])", dy->p_days);
  add_filters(q, f, pn);
  if (!any) return;
  q_add(q,
        " UNION ALL SELECT %s%s%s FROM %s c WHERE c.hour >= $%d::timestamptz AND c.hour <"
        " $%d::timestamptz AND date_trunc('day', c.hour, 'UTC') = ANY($%d::timestamptz[])"
        " AND c.hour <> ALL($%d::timestamptz[])",
        time_axis ? "c.hour, " : "", cols, cell_counts, th, plo, phi, dy->p_days, dy->p_hours);
  add_filters(q, f, pn);
}

/* The dirty hours counted from measurement: the ranges as constant parameters, so the planner
 * prunes to their partitions (a join with dirty_hour would plan every partition). */
static void dirty_leaf(ex_q *q, cs_arena *a, const int ax[2], bool time_axis, const ex_filters *f,
                       const int pn[7], const ex_dirty *dy) {
  char cols[128];
  axis_cols(cols, sizeof cols, ax);
  q_add(q, " UNION ALL SELECT %s%s%s FROM measurement WHERE (",
        time_axis ? "date_trunc('hour', measurement_start_time, 'UTC'), " : "", cols, raw_counts);
  for (size_t i = 0; i < dy->nr; i++) {
    char lo[32], hi[32];
    iso_utc(lo, sizeof lo, dy->rlo[i]);
    iso_utc(hi, sizeof hi, dy->rhi[i]);
    char *l = cs_arena_strdup(a, lo), *h = cs_arena_strdup(a, hi);
    if (!l || !h) q->oom = true;
    q_add(q,
          "%s(measurement_start_time >= $%d::timestamptz AND measurement_start_time <"
          " $%d::timestamptz)",
          i ? " OR " : "", q_param(q, l), q_param(q, h));
  }
  q_add(q, ")");
  if (dy->by_list)
    q_add(q, " AND date_trunc('hour', measurement_start_time, 'UTC') = ANY($%d::timestamptz[])",
          dy->p_hours);
  add_filters(q, f, pn);
}

typedef struct {
  int kind; /* leaf() kinds */
  int64_t lo, hi;
} ex_piece;

static int64_t floor_to(int64_t t, int64_t unit) { return t - ((t % unit) + unit) % unit; }
static int64_t ceil_to(int64_t t, int64_t unit) {
  int64_t f = floor_to(t, unit);
  return f == t ? t : f + unit;
}

/* CSV field (RFC 4180), and a leading = + - @ (a spreadsheet formula) made inert with a ' */
static void csv_field(cs_buf *b, const char *s) {
  if (!s) return;
  bool quote = strpbrk(s, ",\"\r\n") != NULL || (*s && strchr("=+-@\t", *s));
  if (!quote) {
    cs_buf_puts(b, s);
    return;
  }
  cs_buf_putc(b, '"');
  if (strchr("=+-@\t", *s)) cs_buf_putc(b, '\'');
  for (; *s; s++) {
    if (*s == '"') cs_buf_putc(b, '"');
    cs_buf_putc(b, *s);
  }
  cs_buf_putc(b, '"');
}

/* Reads the dirty hours of [lo, hi) into dy (and their array literals as parameters). */
static int load_dirty(ex_q *q, cs_arena *a, PGconn *pg, int64_t lo, int64_t hi, ex_dirty *dy) {
  char l[32], h[32];
  iso_utc(l, sizeof l, lo);
  iso_utc(h, sizeof h, hi);
  const char *pv[2] = {l, h};
  PGresult *r = PQexecParams(pg,
                             "SELECT extract(epoch FROM hour)::bigint FROM dirty_hour WHERE hour >="
                             " $1::timestamptz AND hour < $2::timestamptz ORDER BY 1 LIMIT 20000",
                             2, NULL, pv, NULL, NULL, 0);
  if (!cs_coll_pg_ok(r)) {
    fprintf(stderr, "collector: explorer: %s", PQerrorMessage(pg));
    PQclear(r);
    return -1;
  }
  int n = PQntuples(r);
  cs_buf hb, db;
  cs_buf_init(&hb, (size_t)1 << 20);
  cs_buf_init(&db, (size_t)1 << 20);
  cs_buf_putc(&hb, '{');
  cs_buf_putc(&db, '{');
  int64_t last_day = -1, prev = -1;
  size_t nr = 0;
  int64_t rlo[EX_MAX_RANGES], rhi[EX_MAX_RANGES];
  for (int i = 0; i < n; i++) {
    int64_t t = (int64_t)strtoll(PQgetvalue(r, i, 0), NULL, 10);
    char ts[32];
    iso_utc(ts, sizeof ts, t);
    cs_buf_printf(&hb, "%s\"%s\"", i ? "," : "", ts);
    int64_t day = floor_to(t, 86400);
    if (day != last_day) {
      iso_utc(ts, sizeof ts, day);
      cs_buf_printf(&db, "%s\"%s\"", dy->ndays ? "," : "", ts);
      if (dy->ndays < sizeof dy->days / sizeof *dy->days) dy->days[dy->ndays] = day;
      dy->ndays++;
      last_day = day;
    }
    if (prev >= 0 && t == prev + 3600 && nr > 0 && nr <= EX_MAX_RANGES) rhi[nr - 1] = t + 3600;
    else {
      if (nr < EX_MAX_RANGES) {
        rlo[nr] = t;
        rhi[nr] = t + 3600;
      }
      nr++;
    }
    prev = t;
  }
  dy->nhours = (size_t)n;
  cs_buf_putc(&hb, '}');
  cs_buf_putc(&db, '}');
  if (n > 0) {
    if (nr <= EX_MAX_RANGES) {
      memcpy(dy->rlo, rlo, nr * sizeof *rlo);
      memcpy(dy->rhi, rhi, nr * sizeof *rhi);
      dy->nr = nr;
    } else { /* many scattered hours: one range, the list as a filter */
      dy->rlo[0] = (int64_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10);
      dy->rhi[0] = (int64_t)strtoll(PQgetvalue(r, n - 1, 0), NULL, 10) + 3600;
      dy->nr = 1;
      dy->by_list = true;
    }
  }
  PQclear(r);
  char *hs = cs_buf_cstr(&hb) ? cs_arena_strdup(a, cs_buf_cstr(&hb)) : NULL;
  char *ds = cs_buf_cstr(&db) ? cs_arena_strdup(a, cs_buf_cstr(&db)) : NULL;
  bool bad = hb.overflow || db.overflow || !hs || !ds || n == 20000;
  cs_buf_free(&hb);
  cs_buf_free(&db);
  if (bad) return -2; /* 20,000 hours not rolled up yet: a bulk load in progress */
  dy->p_hours = q_param(q, hs);
  dy->p_days = q_param(q, ds);
  return 0;
}

void cs_explorer_aggregation(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs) {
  double t0 = now_s();
  cs_arena *a = cs_arena_new((size_t)4 << 20);
  if (!a) {
    cs_coll_error(rs, 500, "out of memory");
    return;
  }
  ex_q q = {.a = a};
  cs_buf_init(&q.sql, (size_t)1 << 20);
  PGresult *r = NULL;
  bool in_tx = false;
  ex_filters f;
  int ax[2];
  if (parse_filters(a, rq, rs, &f, true) < 0 || parse_axis(rq, rs, "axis_x", &ax[0]) < 0 ||
      parse_axis(rq, rs, "axis_y", &ax[1]) < 0)
    goto done;
  if (ax[0] == AX_NONE && ax[1] != AX_NONE) {
    cs_coll_error(rs, 400, "axis_y needs axis_x");
    goto done;
  }
  if (ax[0] != AX_NONE && ax[0] == ax[1]) {
    cs_coll_error(rs, 400, "axis_x and axis_y must differ");
    goto done;
  }
  bool csv = false;
  const char *fmt = cs_coll_param(rq, "format");
  if (fmt) {
    if (!strcmp(fmt, "CSV") || !strcmp(fmt, "csv")) csv = true;
    else if (strcmp(fmt, "JSON") != 0 && strcmp(fmt, "json") != 0) {
      cs_coll_error(rs, 400, "format: must be JSON or CSV");
      goto done;
    }
  }
  int download = 0;
  const char *dl = cs_coll_param(rq, "download");
  if (dl && !truthy(dl, &download)) {
    cs_coll_error(rs, 400, "download: must be true or false");
    goto done;
  }
  /* time grain (OONI's rule: which grains a range allows; auto = the smallest allowed) */
  int64_t span = f.until - f.since;
  const char *grain = "day";
  const char *tg = cs_coll_param(rq, "time_grain");
  bool ok_h = span <= 7 * 86400, ok_w = span > 7 * 86400, ok_m = span > 30 * 86400,
       ok_y = span > 365 * 86400;
  if (tg) {
    if (!strcmp(tg, "auto")) grain = ok_h ? "hour" : "day";
    else if (!strcmp(tg, "hour") || !strcmp(tg, "day") || !strcmp(tg, "week") ||
             !strcmp(tg, "month") || !strcmp(tg, "year"))
      grain = tg;
    else {
      cs_coll_error(rs, 400, "time_grain: must be hour, day, week, month, year or auto");
      goto done;
    }
    if ((!strcmp(grain, "hour") && !ok_h) || (!strcmp(grain, "week") && !ok_w) ||
        (!strcmp(grain, "month") && !ok_m) || (!strcmp(grain, "year") && !ok_y)) {
      cs_coll_error(rs, 400,
                    "time_grain: %s is not allowed for a %lld-day range (hour: up to 7 days; "
                    "week: over 7; month: over 30; year: over 365)",
                    grain, (long long)((span + 86399) / 86400));
      goto done;
    }
  }
  bool time_axis = ax[0] == AX_DAY || ax[1] == AX_DAY;
  bool hourly = time_axis && !strcmp(grain, "hour");
  bool raw_only = f.input != NULL || ax[0] == AX_INPUT || ax[1] == AX_INPUT;

  int pn[7];
  filter_params(&q, &f, pn);
  /* outer select */
  int ndim = (ax[0] != AX_NONE) + (ax[1] != AX_NONE);
  q_add(&q, "SELECT ");
  for (int i = 0; i < ndim; i++) {
    if (ax[i] == AX_DAY)
      q_add(&q, "to_char(date_trunc('%s', t, 'UTC') AT TIME ZONE 'UTC', '%s'), ", grain,
            hourly ? "YYYY-MM-DD\"T\"HH24:00:00\"Z\"" : "YYYY-MM-DD");
    else q_add(&q, "%s, ", ax_name[ax[i]]);
  }
  q_add(&q, "sum(a), sum(c), sum(f), sum(o), sum(m) FROM (");
  /* the leaves, column t first when there is a time axis */
  ex_piece pieces[5];
  int np = 0;
  int64_t h1 = ceil_to(f.since, 3600), h2 = floor_to(f.until, 3600);
  if (raw_only || h1 >= h2) {
    pieces[np++] = (ex_piece){0, f.since, f.until};
  } else {
    if (f.since < h1) pieces[np++] = (ex_piece){0, f.since, h1};
    int64_t d1 = ceil_to(h1, 86400), d2 = floor_to(h2, 86400);
    if (hourly || d1 >= d2) {
      pieces[np++] = (ex_piece){1, h1, h2};
    } else {
      if (h1 < d1) pieces[np++] = (ex_piece){1, h1, d1};
      pieces[np++] = (ex_piece){2, d1, d2};
      if (d2 < h2) pieces[np++] = (ex_piece){1, d2, h2};
    }
    if (h2 < f.until) pieces[np++] = (ex_piece){0, h2, f.until};
  }
  /* One snapshot for the dirty list and the aggregation: an hour is either still dirty (and
   * counted from measurement) or rebuilt (and read from the rollups), never both or none. A
   * read-only REPEATABLE READ transaction also works on a hot-standby replica. */
  PGconn *pg = ctx->pg_read ? ctx->pg_read : ctx->pg;
  if (!pg || PQstatus(pg) != CONNECTION_OK) {
    cs_coll_error(rs, 503, "database unavailable");
    goto done;
  }
  PGresult *tx = PQexec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  in_tx = cs_coll_pg_ok(tx);
  PQclear(tx);
  if (!in_tx) {
    cs_coll_error(rs, 503, "database error");
    goto done;
  }
  ex_dirty dy;
  memset(&dy, 0, sizeof dy);
  int ld = !raw_only && h1 < h2 ? load_dirty(&q, a, pg, h1, h2, &dy) : 0;
  if (ld < 0) {
    cs_coll_error(rs, 503,
                  ld == -2 ? "too many hours of this range are not rolled up yet (a bulk load?); "
                             "retry later or ask a shorter range"
                           : "database error");
    goto done;
  }
  for (int i = 0; i < np; i++) {
    char lo[32], hi[32];
    iso_utc(lo, sizeof lo, pieces[i].lo);
    iso_utc(hi, sizeof hi, pieces[i].hi);
    char *l = cs_arena_strdup(a, lo), *h = cs_arena_strdup(a, hi);
    if (!l || !h) q.oom = true;
    int plo = q_param(&q, l), phi = q_param(&q, h);
    if (i) q_add(&q, " UNION ALL ");
    leaf(&q, pieces[i].kind, plo, phi, pieces[i].lo, pieces[i].hi, ax, time_axis, &f, pn, &dy);
  }
  if (dy.nhours) dirty_leaf(&q, a, ax, time_axis, &f, pn, &dy);
  q_add(&q, ") u(%s", time_axis ? "t, " : "");
  for (int i = 0; i < ndim; i++)
    if (ax[i] != AX_DAY) q_add(&q, "%s, ", ax_name[ax[i]]);
  q_add(&q, "a, c, f, o, m)");
  if (ndim) {
    q_add(&q, " GROUP BY ");
    for (int i = 0; i < ndim; i++) q_add(&q, "%s%d", i ? ", " : "", i + 1);
    q_add(&q, " ORDER BY ");
    for (int i = 0; i < ndim; i++) q_add(&q, "%s%d", i ? ", " : "", i + 1);
  }
  if (!(r = q_run(ctx, &q, rs))) goto done;

  static const char *const cnames[5] = {"anomaly_count", "confirmed_count", "failure_count",
                                        "ok_count", "measurement_count"};
  int rows = PQntuples(r);
  cs_buf *b = &rs->body;
  if (csv) {
    rs->content_type = "text/csv; charset=utf-8";
    if (download)
      snprintf(rs->disposition, sizeof rs->disposition,
               "attachment; filename=\"censorscope-aggregation.csv\"");
    for (int i = 0; i < ndim; i++) cs_buf_printf(b, "%s,", ax_name[ax[i]]);
    cs_buf_puts(b, "anomaly_count,confirmed_count,failure_count,ok_count,measurement_count\r\n");
    for (int row = 0; row < rows; row++) {
      for (int i = 0; i < ndim; i++) {
        csv_field(b, cs_coll_pg_value(r, row, i));
        cs_buf_putc(b, ',');
      }
      for (int c = 0; c < 5; c++) {
        const char *v = cs_coll_pg_value(r, row, ndim + c);
        cs_buf_printf(b, "%s%s", c ? "," : "", v ? v : "0");
      }
      cs_buf_puts(b, "\r\n");
    }
  } else {
    cs_jw w;
    cs_jw_init(&w, b);
    cs_jw_obj_open(&w);
    cs_jw_kint(&w, "v", 0);
    cs_jw_kint(&w, "dimension_count", ndim);
    cs_jw_key(&w, "result");
    if (ndim) cs_jw_arr_open(&w);
    int64_t total = 0;
    for (int row = 0; row < (ndim ? rows : 1); row++) {
      cs_jw_obj_open(&w);
      for (int c = 0; c < 5; c++) {
        const char *v = row < rows ? cs_coll_pg_value(r, row, ndim + c) : NULL;
        int64_t n = v ? (int64_t)strtoll(v, NULL, 10) : 0;
        if (c == 4) total += n;
        cs_jw_kint(&w, cnames[c], n);
      }
      for (int i = 0; i < ndim; i++) {
        const char *v = cs_coll_pg_value(r, row, i);
        if (ax[i] == AX_ASN && v) cs_jw_kint(&w, "probe_asn", (int64_t)strtoll(v, NULL, 10));
        else cs_jw_kstr(&w, ax_name[ax[i]], v);
      }
      cs_jw_obj_close(&w);
    }
    if (ndim) cs_jw_arr_close(&w);
    cs_jw_key(&w, "db_stats");
    cs_jw_obj_open(&w);
    cs_jw_kint(&w, "row_count", rows);
    cs_jw_kint(&w, "total_row_count", total);
    cs_jw_kdouble(&w, "elapsed_seconds", now_s() - t0);
    cs_jw_obj_close(&w);
    cs_jw_obj_close(&w);
  }
  if (b->overflow) cs_coll_error(rs, 500, "response too large");
done:
  PQclear(r);
  if (in_tx) {
    PGresult *e = PQexec(ctx->pg_read ? ctx->pg_read : ctx->pg, "COMMIT");
    PQclear(e);
  }
  cs_buf_free(&q.sql);
  cs_arena_free(a);
}

/* ---- GET /api/v1/measurements ------------------------------------------------------------- */

static int parse_uint(const cs_coll_req *rq, cs_coll_resp *rs, const char *name, long lo, long hi,
                      long def, long *out) {
  const char *v = cs_coll_param(rq, name);
  *out = def;
  if (!v) return 0;
  size_t n = strlen(v);
  long x = 0;
  if (n == 0 || n > 9) goto bad;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)v[i])) goto bad;
    x = x * 10 + (v[i] - '0');
  }
  if (x < lo || x > hi) goto bad;
  *out = x;
  return 0;
bad:
  cs_coll_error(rs, 400, "%s: must be an integer from %ld to %ld", name, lo, hi);
  return -1;
}

static void url_escape(cs_buf *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') cs_buf_putc(b, (char)c);
    else cs_buf_printf(b, "%%%02X", c);
  }
}

/* the row's JSON, built by PostgreSQL (its escaping), OONI's names plus ours */
#define EX_MSM_JSON                                                                                \
  "json_build_object('measurement_uid', measurement_uid, 'report_id', report_id,"                  \
  " 'measurement_start_time', to_char(measurement_start_time AT TIME ZONE 'UTC',"                  \
  " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'test_name', test_name, 'probe_cc', probe_cc,"              \
  " 'probe_asn', 'AS' || probe_asn, 'probe_network_name', probe_network_name, 'input', input,"     \
  " 'domain', domain, 'category_code', category_code, 'anomaly', anomaly, 'confirmed',"            \
  " confirmed, 'failure', msm_failure, 'blocking_type', blocking_type, 'outcome', outcome,"        \
  " 'measurement_url', '/api/v1/measurement/' || measurement_uid"

void cs_explorer_measurements(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs) {
  double t0 = now_s();
  cs_arena *a = cs_arena_new((size_t)4 << 20);
  if (!a) {
    cs_coll_error(rs, 500, "out of memory");
    return;
  }
  ex_q q = {.a = a};
  cs_buf_init(&q.sql, (size_t)1 << 20);
  PGresult *r = NULL;
  bool in_tx = false;
  ex_filters f;
  long limit, offset;
  if (parse_filters(a, rq, rs, &f, true) < 0 ||
      parse_uint(rq, rs, "limit", 1, 1000, 100, &limit) < 0 ||
      parse_uint(rq, rs, "offset", 0, 100000, 0, &offset) < 0)
    goto done;
  const char *rid = cs_coll_param(rq, "report_id");
  if (rid) {
    size_t n = strlen(rid);
    bool ok = n > 0 && n < CS_COLL_RID_MAX;
    for (size_t i = 0; ok && i < n; i++) ok = isalnum((unsigned char)rid[i]) || rid[i] == '_';
    if (!ok) {
      cs_coll_error(rs, 400, "report_id: must be 1-127 of [A-Za-z0-9_]");
      goto done;
    }
  }
  static const char *const flags[3] = {"anomaly", "confirmed", "failure"};
  static const char *const fcol[3] = {"anomaly", "confirmed", "msm_failure"};
  int fv[3] = {-1, -1, -1};
  for (int i = 0; i < 3; i++) {
    const char *v = cs_coll_param(rq, flags[i]);
    if (v && !truthy(v, &fv[i])) {
      cs_coll_error(rs, 400, "%s: must be true or false", flags[i]);
      goto done;
    }
  }
  const char *order = cs_coll_param(rq, "order"), *order_by = cs_coll_param(rq, "order_by");
  bool asc = false;
  if (order) {
    if (!strcmp(order, "asc") || !strcmp(order, "ASC")) asc = true;
    else if (strcmp(order, "desc") != 0 && strcmp(order, "DESC") != 0) {
      cs_coll_error(rs, 400, "order: must be asc or desc");
      goto done;
    }
  }
  if (order_by && strcmp(order_by, "measurement_start_time") != 0) {
    cs_coll_error(rs, 400, "order_by: only measurement_start_time is supported");
    goto done;
  }
  int pn[7];
  filter_params(&q, &f, pn);
  /* The newest (or oldest) rows first, in windows of 1, 2, 4, ... hours from the end of the
   * range, until offset + limit + 1 rows are in: ORDER BY ... LIMIT over the whole range
   * would sort every match of every partition (seconds at 10 M rows); a window touches a
   * slice of one or a few partitions (the BRIN index on the time: rows arrive in time
   * order). The JSON is built for the page's rows only, after the LIMIT (built in the scan,
   * it cost more than the scan). One REPEATABLE READ snapshot for all windows. */
  char lo[32], hi[32], lim[24];
  int plo = q_param(&q, lo), phi = q_param(&q, hi);
  const char *dir = asc ? "ASC" : "DESC";
  q_add(&q,
        "SELECT " EX_MSM_JSON ")::text FROM (SELECT * FROM measurement WHERE"
        " measurement_start_time >= $%d::timestamptz AND measurement_start_time <"
        " $%d::timestamptz",
        plo, phi);
  add_filters(&q, &f, pn);
  if (rid) q_add(&q, " AND report_id = $%d", q_param(&q, rid));
  for (int i = 0; i < 3; i++)
    if (fv[i] >= 0) q_add(&q, " AND %s%s", fv[i] ? "" : "NOT ", fcol[i]);
  q_add(&q,
        " ORDER BY measurement_start_time %s, measurement_uid %s LIMIT $%d::integer) m"
        " ORDER BY measurement_start_time %s, measurement_uid %s",
        dir, dir, q_param(&q, lim), dir, dir);
  PGconn *pg = ctx->pg_read ? ctx->pg_read : ctx->pg;
  if (!pg || PQstatus(pg) != CONNECTION_OK) {
    cs_coll_error(rs, 503, "database unavailable");
    goto done;
  }
  PGresult *tx = PQexec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  in_tx = cs_coll_pg_ok(tx);
  PQclear(tx);
  if (!in_tx) {
    cs_coll_error(rs, 503, "database error");
    goto done;
  }
  cs_buf got; /* the page's rows, each NUL-terminated */
  cs_buf_init(&got, (size_t)64 << 20);
  long want = offset + limit + 1, seen = 0, rows = 0;
  int64_t span = 3600, edge = asc ? f.since : f.until;
  while (seen < want && (asc ? edge < f.until : edge > f.since)) {
    int64_t wlo = asc ? edge : edge - span, whi = asc ? edge + span : edge;
    if (wlo < f.since) wlo = f.since;
    if (whi > f.until) whi = f.until;
    iso_utc(lo, sizeof lo, wlo);
    iso_utc(hi, sizeof hi, whi);
    snprintf(lim, sizeof lim, "%ld", want - seen);
    if (!(r = q_run(ctx, &q, rs))) break;
    for (int i = 0; i < PQntuples(r); i++, seen++) {
      if (seen < offset || rows > limit) continue;
      cs_buf_append(&got, PQgetvalue(r, i, 0), strlen(PQgetvalue(r, i, 0)) + 1);
      rows++;
    }
    PQclear(r);
    r = NULL;
    edge = asc ? whi : wlo;
    if (span < 64 * 86400) span *= 2;
  }
  if (got.overflow) cs_coll_error(rs, 500, "response too large");
  if (rs->status >= 400) {
    cs_buf_free(&got);
    goto done;
  }
  bool more = rows > limit;
  if (more) rows = limit;
  cs_buf *b = &rs->body;
  cs_jw w;
  cs_jw_init(&w, b);
  cs_jw_obj_open(&w);
  cs_jw_key(&w, "metadata");
  cs_jw_obj_open(&w);
  cs_jw_kint(&w, "count", rows);
  cs_jw_kint(&w, "current_page", limit > 0 ? offset / limit + 1 : 1);
  cs_jw_kint(&w, "limit", limit);
  cs_jw_kint(&w, "offset", offset);
  cs_jw_kint(&w, "pages", -1); /* unknown: counting every match would scan the range */
  if (more && offset + limit <= 100000) {
    cs_buf nu;
    cs_buf_init(&nu, 64 << 10);
    cs_buf_puts(&nu, "/api/v1/measurements?");
    static const char *const names[] = {
        "probe_cc", "probe_asn", "domain",  "category_code", "test_name", "input", "since",
        "until",    "report_id", "anomaly", "confirmed",     "failure",   "order", "order_by"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
      const char *v = cs_coll_param(rq, names[i]);
      if (!v) continue;
      cs_buf_printf(&nu, "%s=", names[i]);
      url_escape(&nu, v);
      cs_buf_putc(&nu, '&');
    }
    cs_buf_printf(&nu, "limit=%ld&offset=%ld", limit, offset + limit);
    cs_jw_kstr(&w, "next_url", cs_buf_cstr(&nu));
    cs_buf_free(&nu);
  } else {
    cs_jw_knull(&w, "next_url");
  }
  cs_jw_kdouble(&w, "query_time", now_s() - t0);
  cs_jw_obj_close(&w);
  cs_jw_key(&w, "results");
  cs_jw_arr_open(&w);
  size_t at = 0;
  for (long i = 0; i < rows && at < got.len; i++) {
    const char *v = (const char *)got.data + at;
    size_t n = strlen(v);
    cs_jw_raw(&w, v, n);
    at += n + 1;
  }
  cs_buf_free(&got);
  cs_jw_arr_close(&w);
  cs_jw_obj_close(&w);
  if (b->overflow) cs_coll_error(rs, 500, "response too large");
done:
  PQclear(r);
  if (in_tx) {
    PGresult *e = PQexec(ctx->pg_read ? ctx->pg_read : ctx->pg, "COMMIT");
    PQclear(e);
  }
  cs_buf_free(&q.sql);
  cs_arena_free(a);
}

/* ---- GET /api/v1/measurement/{uid} -------------------------------------------------------- */

void cs_explorer_measurement(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs) {
  const char *uid = rq->ncap > 0 ? rq->cap[0] : NULL;
  size_t n = uid ? strlen(uid) : 0;
  bool ok = n > 0 && n < CS_COLL_UID_MAX;
  for (size_t i = 0; ok && i < n; i++)
    ok = isalnum((unsigned char)uid[i]) || uid[i] == '_' || uid[i] == '.';
  if (!ok) {
    cs_coll_error(rs, 400, "measurement_uid: must be 1-127 of [A-Za-z0-9_.]");
    return;
  }
  ex_q q = {0};
  cs_buf_init(&q.sql, 64 << 10);
  q_add(&q,
        "SELECT " EX_MSM_JSON ", 'evidence', evidence, 'test_version', test_version,"
        " 'software_name', software_name, 'software_version', software_version,"
        " 'resolver_asn', resolver_asn, 'test_runtime', test_runtime,"
        " 'received_at', to_char(received_at AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))::text, can_path, can_offset, can_len"
        " FROM measurement WHERE measurement_uid = $%d LIMIT 1",
        q_param(&q, uid));
  PGresult *r = q_run(ctx, &q, rs);
  cs_buf_free(&q.sql);
  if (!r) return;
  if (PQntuples(r) == 0) {
    PQclear(r);
    cs_coll_error(rs, 404, "no measurement with this measurement_uid");
    return;
  }
  const char *row = PQgetvalue(r, 0, 0);
  size_t rowlen = strlen(row);
  cs_buf *b = &rs->body;
  /* {row members..., "raw_measurement": the content from the can} */
  cs_buf_append(b, row, rowlen > 0 ? rowlen - 1 : 0); /* without the closing brace */
  cs_buf line;
  cs_buf_init(&line, EX_BODY_MAX);
  int64_t off = (int64_t)strtoll(PQgetvalue(r, 0, 2), NULL, 10),
          len = (int64_t)strtoll(PQgetvalue(r, 0, 3), NULL, 10);
  const char *why = NULL;
  const cs_jval *content = NULL;
  cs_arena *a = NULL;
  if (len > (int64_t)EX_BODY_MAX - 1) why = "raw measurement too large to serve";
  else if (cs_coll_can_read(ctx->cfg, PQgetvalue(r, 0, 1), off, len, &line) < 0)
    why = "raw measurement unreadable (can missing or damaged)";
  else if (!(a = cs_arena_new((size_t)256 << 20))) why = "out of memory";
  else {
    char err[128];
    const cs_jval *v = cs_json_parse(a, (const char *)line.data, line.len, NULL, err, sizeof err);
    const char *cu = v ? cs_json_get_str(v, "measurement_uid", NULL) : NULL;
    content = v ? cs_json_get(v, "content") : NULL;
    if (!v) why = "raw measurement damaged in the can (not JSON)";
    else if (!cu || strcmp(cu, uid) != 0) why = "can line does not belong to this measurement";
    else if (!content || content->type != CS_JOBJ) why = "can line without content";
  }
  cs_buf_puts(b, ",\"raw_measurement\":");
  if (why) {
    cs_buf_puts(b, "null");
    cs_jw w;
    cs_jw_init(&w, b);
    w.depth = 1; /* inside the open object: writes ,"raw_error":"..." */
    w.need_comma = 2;
    cs_jw_kstr(&w, "raw_error", why);
  } else {
    cs_coll_json_write(b, content);
  }
  cs_buf_putc(b, '}');
  cs_buf_free(&line);
  cs_arena_free(a);
  PQclear(r);
  if (b->overflow) cs_coll_error(rs, 500, "response too large");
}

/* ---- GET /api/v1/detector/changepoints and /events ---------------------------------------- */

static int parse_dir(const cs_coll_req *rq, cs_coll_resp *rs, int *dir) {
  const char *v = cs_coll_param(rq, "change_dir");
  *dir = 0;
  if (!v) return 0;
  if (!strcmp(v, "1")) *dir = 1;
  else if (!strcmp(v, "-1")) *dir = -1;
  else {
    cs_coll_error(rs, 400, "change_dir: must be 1 or -1");
    return -1;
  }
  return 0;
}

#define EX_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The detector's parameters and promised delays (docs/collector.md "Change detector"). */
static void write_params(cs_jw *w) {
  cs_cusum_params p;
  cs_cusum_params_default(&p);
  cs_jw_key(w, "detector");
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "method", "two-sided CUSUM over the hourly blocked fraction");
  cs_jw_kdouble(w, "mu0", p.mu0);
  cs_jw_kdouble(w, "mu1", p.mu1);
  cs_jw_kdouble(w, "h", p.h);
  cs_jw_kdouble(w, "gap_h", p.gap_h);
  cs_jw_kdouble(w, "half_life_h", p.half_life_h);
  cs_jw_kdouble(w, "n_cap", p.n_cap);
  cs_jw_key(w, "delay_h");
  cs_jw_obj_open(w);
  cs_jw_kint(w, "onset_1_per_hour", cs_cusum_delay_h(&p, 1, 1.0, 0));
  cs_jw_kint(w, "onset_3_per_hour", cs_cusum_delay_h(&p, 3, 1.0, 0));
  cs_jw_kint(w, "recovery_1_per_hour", cs_cusum_delay_h(&p, 1, 0.0, 1));
  cs_jw_kint(w, "recovery_3_per_hour", cs_cusum_delay_h(&p, 3, 0.0, 1));
  cs_jw_obj_close(w);
  cs_jw_kint(w, "event_window_h", 6);
  cs_jw_kint(w, "event_min_asns", 3);
  cs_jw_obj_close(w);
}

static void detector_list(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs, bool events) {
  cs_arena *a = cs_arena_new((size_t)1 << 20);
  if (!a) {
    cs_coll_error(rs, 500, "out of memory");
    return;
  }
  ex_q q = {.a = a};
  cs_buf_init(&q.sql, 64 << 10);
  PGresult *r = NULL;
  ex_filters f;
  memset(&f, 0, sizeof f);
  int dir;
  long limit;
  int incl = 0;
  const char *ir = cs_coll_param(rq, "include_retracted");
  if (cs_coll_param(rq, "category_code") || cs_coll_param(rq, "test_name")) {
    cs_coll_error(rs, 400, "category_code and test_name are not filters of the detector");
    goto done;
  }
  if (parse_filters(a, rq, rs, &f, false) < 0 || parse_dir(rq, rs, &dir) < 0 ||
      parse_uint(rq, rs, "limit", 1, 10000, 1000, &limit) < 0)
    goto done;
  if (!events && parse_list(a, rq, rs, "blocking_type", &f.btype) < 0) goto done;
  if (events && f.asn) {
    cs_coll_error(rs, 400, "probe_asn: not a filter of country-wide events");
    goto done;
  }
  if (ir && (events || !truthy(ir, &incl))) {
    cs_coll_error(rs, 400,
                  events ? "include_retracted: not a filter of events"
                         : "include_retracted: must be true or false");
    goto done;
  }
  int pn[7];
  filter_params(&q, &f, pn);
  char lo[32], hi[32], lim[24];
  iso_utc(lo, sizeof lo, f.since);
  iso_utc(hi, sizeof hi, f.until);
  snprintf(lim, sizeof lim, "%ld", limit);
  int plo = q_param(&q, lo), phi = q_param(&q, hi);
  if (!events) {
    q_add(
        &q,
        "SELECT json_build_object('id', id, 'probe_cc', probe_cc, 'probe_asn', probe_asn,"
        " 'domain', domain, 'blocking_type', blocking_type, 'ts', " EX_TS(
            "ts") ","
                  " 'start_ts', " EX_TS("start_ts") ", 'prev_ts', " EX_TS(
                      "prev_ts") ","
                                 " 'change_dir', change_dir, 's_pos', s_pos, 's_neg', s_neg, 'n', n, 'k', k,"
                                 " 'blocked_fraction', CASE WHEN n > 0 THEN k::float8 / n END, 'h', h,"
                                 " 'detected_at', " EX_TS("detected_at") ", 'retracted_at', " EX_TS(
                                     "retracted_at") ")::text FROM detector_changepoint"
                                                     " WHERE ts >= $%d::timestamptz AND ts < $%d::timestamptz",
        plo, phi);
    add_filters(&q, &f, pn);
    if (!incl) q_add(&q, " AND retracted_at IS NULL");
    if (dir) q_add(&q, " AND change_dir = %d", dir);
    q_add(&q, " ORDER BY ts, probe_cc, probe_asn, domain, blocking_type LIMIT $%d::integer",
          q_param(&q, lim));
  } else {
    q_add(
        &q,
        "SELECT json_build_object('id', id, 'probe_cc', probe_cc, 'domain', domain,"
        " 'change_dir', change_dir, 'ts_first', " EX_TS(
            "ts_first") ","
                        " 'ts_last', " EX_TS(
                            "ts_last") ", 'asn_count', asn_count, 'probe_asns',"
                                       " probe_asns, 'blocking_types', blocking_types, 'changepoints', changepoints,"
                                       " 'window_h', window_h, 'min_asns', min_asns, 'updated_at', " EX_TS(
                                           "updated_at") ")::text FROM detector_event"
                                                         " WHERE ts_first >= $%d::timestamptz AND ts_first < $%d::timestamptz",
        plo, phi);
    add_filters(&q, &f, pn);
    if (dir) q_add(&q, " AND change_dir = %d", dir);
    q_add(&q, " ORDER BY ts_first, probe_cc, domain LIMIT $%d::integer", q_param(&q, lim));
  }
  if (!(r = q_run(ctx, &q, rs))) goto done;
  cs_jw w;
  cs_jw_init(&w, &rs->body);
  cs_jw_obj_open(&w);
  cs_jw_key(&w, "results");
  cs_jw_arr_open(&w);
  for (int i = 0; i < PQntuples(r); i++) {
    const char *v = PQgetvalue(r, i, 0);
    cs_jw_raw(&w, v, strlen(v));
  }
  cs_jw_arr_close(&w);
  write_params(&w);
  cs_jw_obj_close(&w);
  if (rs->body.overflow) cs_coll_error(rs, 500, "response too large");
done:
  PQclear(r);
  cs_buf_free(&q.sql);
  cs_arena_free(a);
}

void cs_explorer_changepoints(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs) {
  detector_list(ctx, rq, rs, false);
}

void cs_explorer_events(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs) {
  detector_list(ctx, rq, rs, true);
}
