/* collector.h - `censorscope collector`: the fleet's server. OONI's probe-services submission
 * API (submit.c), a durable on-disk log of every acknowledged measurement ("cans", can.c),
 * metadata and verdicts in PostgreSQL (pgstore.c, schema.c), the explorer API and UI (other
 * files), all dispatched by one route table (routes.c) on a libmicrohttpd thread pool
 * (server.c). See docs/collector.md.
 *
 * Extending it: a handler is a cs_coll_handler; add one line to the route, job or schema list
 * in routes.c (the X-macro lists declare the function for you). Handlers run on the server's
 * worker threads, concurrently: each gets its thread's own PGconn in ctx. */
#ifndef CS_COLLECTOR_H
#define CS_COLLECTOR_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"

typedef struct cs_coll cs_coll;

typedef struct {
  const char *listen, *pg, *pg_read, *data_dir;
  bool read_only;
  unsigned threads;
  size_t max_body;
  double rate, burst;
  unsigned collector_id;
  /* ---- additions (coll-core) ---- */
  double max_age_s;         /* measurement_start_time older than this is refused (30 d) */
  double max_future_s;      /* ... or further in the future than this (1 d) */
  unsigned conns_per_ip;    /* libmicrohttpd per-IP connection limit (0: none) */
  unsigned max_conns;       /* connections in total */
  unsigned conn_timeout_s;  /* idle/slow connection timeout */
  const char *admin_token;  /* the --admin-token FILE's contents (trimmed), NULL: none */
  const char *fingerprints; /* blockpage fingerprint dir (NULL: data/fingerprints search) */
  bool quiet;               /* no start-up lines on stderr */
} cs_coll_cfg;

typedef struct {
  const char *method; /* "GET" / "POST" */
  const char *path;   /* decoded, without the query: "/api/v1/aggregation" */
  const char *cap[4]; /* "{}" segments of the route pattern, decoded */
  size_t ncap;
  const uint8_t *body; /* NUL-terminated (not counted in body_len) */
  size_t body_len;
  const char *client; /* rate-limit key: the peer's /24 or /48, never stored */
  void *impl;
} cs_coll_req;

const char *cs_coll_param(const cs_coll_req *rq, const char *name);  /* query value or NULL */
const char *cs_coll_header(const cs_coll_req *rq, const char *name); /* request header or NULL */

typedef struct {
  int status;               /* default 200 */
  const char *content_type; /* static string; default "application/json" */
  cs_buf body;              /* append here; the server frees it */
  char disposition[128];    /* optional Content-Disposition (CSV download) */
  /* ---- additions (coll-core) ---- */
  char reason[200];     /* set by cs_coll_error: logged with the route */
  char retry_after[16]; /* optional Retry-After header (429, 503) */
  /* ---- additions (coll-ui): the UI's caching headers (ui.c) ---- */
  char etag[48];             /* optional ETag header */
  const char *cache_control; /* optional Cache-Control header (static string) */
} cs_coll_resp;

typedef struct {
  PGconn *pg;      /* this thread's primary connection (NULL in --read-only) */
  PGconn *pg_read; /* explorer reads: the --pg-read replica, else == pg */
  const cs_coll_cfg *cfg;
  cs_coll *coll;
} cs_coll_ctx;

typedef void (*cs_coll_handler)(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs);

/* Sets status and {"error":"<reason>"}; the reason is also logged (with the route, not the IP). */
void cs_coll_error(cs_coll_resp *rs, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct {
  const char *method, *pattern;
  cs_coll_handler fn;
  bool write;
} cs_coll_route;
typedef struct {
  const char *name;
  double interval_s;
  void (*fn)(cs_coll_ctx *ctx);
} cs_coll_job;

extern const cs_coll_route cs_coll_routes[];
extern const size_t cs_coll_nroutes;
extern const cs_coll_job cs_coll_jobs[];
extern const size_t cs_coll_njobs;
/* DDL parts, applied in order at start, idempotent (IF NOT EXISTS) */
extern const char *const cs_coll_schema[];
extern const size_t cs_coll_nschema;

/* Definitions of what routes.c lists, with their prototype (-Wmissing-prototypes):
 *   CS_COLL_HANDLER(cs_coll_h_aggregation) { ... ctx, rq, rs ... }
 *   CS_COLL_JOB_FN(cs_coll_job_rollup) { ... ctx ... }
 *   CS_COLL_SCHEMA_PART(cs_coll_schema_rollup) = "CREATE TABLE IF NOT EXISTS ...";  */
#define CS_COLL_HANDLER(fn)                                                                        \
  void fn(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs);                              \
  void fn(cs_coll_ctx *ctx __attribute__((unused)), const cs_coll_req *rq __attribute__((unused)), \
          cs_coll_resp *rs __attribute__((unused)))
#define CS_COLL_JOB_FN(fn)                                                                         \
  void fn(cs_coll_ctx *ctx);                                                                       \
  void fn(cs_coll_ctx *ctx)
/* NOLINTBEGIN(bugprone-macro-parentheses): name is a declarator */
#define CS_COLL_SCHEMA_PART(name)                                                                  \
  extern const char name[];                                                                        \
  const char name[]
/* NOLINTEND(bugprone-macro-parentheses) */

/* ---- additions (coll-core) --------------------------------------------------------------- */

/* Runs the collector until SIGINT/SIGTERM (the caller blocks those signals in every thread
 * first; this waits for them with sigwait). Returns 0, or 1 with a message on stderr when
 * it cannot start (listen, PostgreSQL, data dir). */
int cs_coll_run(const cs_coll_cfg *cfg);

/* Reads the raw can line of a stored measurement (can_path relative to the data dir, as in
 * the measurement table) into out (appended; at most max bytes). Returns 0, or -1 when the
 * path is not a can path or the bytes cannot be read. */
int cs_coll_can_read(const cs_coll_cfg *cfg, const char *can_path, int64_t off, int64_t len,
                     cs_buf *out);

/* The first value of a PGresult as text (NULL when absent), and whether a result is OK
 * (COMMAND_OK or TUPLES_OK); both accept NULL. */
const char *cs_coll_pg_value(const PGresult *r, int row, int col);
bool cs_coll_pg_ok(const PGresult *r);

/* The daily partition of measurement for the day of the epoch second t exists (created on
 * demand, cached per process). Returns 0, or -1 with a message in err. */
int cs_coll_partition_ensure(PGconn *pg, int64_t t, char *err, size_t errlen);

/* ---- internals of the core (coll-core; pure parts unit-tested and fuzzed) ------------------ */

#define CS_COLL_RID_MAX 128
#define CS_COLL_UID_MAX 128
#define CS_COLL_PROBE_SET_MAX 64

/* A report_id's six parts (OONI be:ooniapi .../reports.py): "20261203T124210Z",
 * "webconnectivity", "PK", 45595, 1 (n1), and the random part. */
typedef struct {
  char test_name[64]; /* without '_' */
  char cc[3];
  int64_t asn;
  unsigned collector_id;
} cs_coll_rid;

/* Returns 0, or -1 with the reason in err. */
int cs_coll_report_id_parse(const char *rid, cs_coll_rid *out, char *err, size_t errlen);
/* YYYYmmddTHHMMSSZ_<test_name without _>_<CC>_<ASN>_n<cid>_<rand16> into out (>= 128 bytes).
 * rand16: 16 bytes of randomness (mapped to [A-Za-z0-9]). Returns 0 or -1 (too long). */
int cs_coll_report_id_make(int64_t t, const char *test_name, const char *cc, int64_t asn,
                           unsigned cid, const uint8_t rand16[16], char *out, size_t outlen);
/* measurement_uid: YYYYmmddHHMMSS.ffffff_<CC>_<test_name without _>_<16 hex of SHA-512(body)>
 * (OONI's own shape: the test name as in its report_ids). */
int cs_coll_uid_make(int64_t sec, long usec, const char *cc, const char *test_name,
                     const uint8_t *body, size_t len, char *out, size_t outlen);
/* The probe-set header value is acceptable (<= 64 of [A-Za-z0-9._-]; empty allowed). */
bool cs_coll_probe_set_ok(const char *s);

/* A parsed, validated, analysed submission: the columns of the measurement table. */
typedef struct {
  const char *test_name, *test_version, *software_name, *software_version;
  const char *probe_cc, *probe_network_name, *input, *domain, *category_code;
  int64_t probe_asn, resolver_asn; /* resolver_asn -1: none */
  int64_t start;                   /* measurement_start_time, epoch seconds */
  double test_runtime;             /* NaN: none */
  bool anomaly, confirmed, msm_failure;
  const char *blocking_type, *outcome, *evidence; /* NULL: none */
  uint8_t dedup_key[32];
  cs_buf canon; /* the content without report_id/measurement_uid (our writer) */
} cs_coll_msm;

typedef enum { CS_COLL_SUB_REPORT, CS_COLL_SUB_SUBMIT } cs_coll_sub_kind;

#define CS_COLL_DISCARD 1 /* ASN 0 or CC ZZ: answered {} like OONI, nothing stored */

struct cs_fp_db;
/* Parses and validates a submission body (the envelope {"format":"json","content":...}; for
 * CS_COLL_SUB_SUBMIT content may be a JSON string), checks it against rid (NULL: none),
 * analyses it with its nettest's analyze (fingerprints may be NULL) and fills m (m->canon
 * allocated: free with cs_coll_msm_free). now: epoch seconds of receipt. Returns 0,
 * CS_COLL_DISCARD, or an HTTP status (400, 413, 500) with the reason in err. */
int cs_coll_submission_parse(cs_arena *a, const uint8_t *body, size_t len, cs_coll_sub_kind kind,
                             const cs_coll_rid *rid, const char *probe_set, int64_t now,
                             const cs_coll_cfg *cfg, const struct cs_fp_db *fp, cs_coll_msm *m,
                             char *err, size_t errlen);
/* The same from an already-parsed content object (replay of a can line). */
int cs_coll_content_check(cs_arena *a, const cs_jval *content, const cs_coll_rid *rid,
                          const char *probe_set, int64_t now, const cs_coll_cfg *cfg,
                          const struct cs_fp_db *fp, cs_coll_msm *m, char *err, size_t errlen);
void cs_coll_msm_free(cs_coll_msm *m);
/* The can line for m: {"measurement_uid":..,"report_id":..,["probe_set":..,]"content":{..}}\n */
int cs_coll_can_line(const cs_coll_msm *m, const char *uid, const char *rid, const char *probe_set,
                     cs_buf *out);
/* A JSON value in the collector's canonical form (numbers exact, key order kept). */
void cs_coll_json_write(cs_buf *b, const cs_jval *v);

/* ---- cans (can.c): the durable log ------------------------------------------------------- */

typedef struct cs_coll_can cs_coll_can;
#define CS_COLL_CAN_PATH_MAX 40 /* "cans/YYYYMMDD/HH.jsonl" */

/* Opens DATA_DIR/cans (created), takes its lock (one collector per data dir) and cuts every
 * can's unterminated last line (a write a kill -9 interrupted: never acknowledged). Starts
 * the group-commit writer thread. NULL with the reason in err. */
cs_coll_can *cs_coll_can_open(const char *data_dir, char *err, size_t errlen);
void cs_coll_can_close(cs_coll_can *c);
/* Appends one line (ending in '\n') to the can of the receipt time t (epoch s) and returns
 * once it is on disk (fdatasync by the writer thread, one per batch). Fills path (relative to
 * the data dir) and the line's offset. Returns 0, or -1 when the can cannot be written (then
 * every later append fails too: storage is broken). */
int cs_coll_can_append(cs_coll_can *c, int64_t t, const uint8_t *line, size_t len,
                       char path[CS_COLL_CAN_PATH_MAX], int64_t *off);
/* After the line's row went to PostgreSQL (in_pg) or failed to (replayed later). */
void cs_coll_can_done(cs_coll_can *c, const char *path, bool in_pg);
/* Calls fn for each complete line of the can path (relative) from byte from to the end (or
 * to: -1 for the end of file). Returns the end offset reached, or -1 on a read error. */
int64_t cs_coll_can_scan(const char *data_dir, const char *path, int64_t from, int64_t to,
                         int (*fn)(void *arg, const char *line, size_t len, int64_t off),
                         void *arg);
/* Every can path under DATA_DIR/cans, sorted (caller frees each and the array). */
int cs_coll_can_list(const char *data_dir, char ***paths, size_t *n);
/* The files this process wrote: what the checkpoint job may record. */
typedef struct {
  char path[CS_COLL_CAN_PATH_MAX];
  int64_t quiet;  /* every line before this offset is in PostgreSQL */
  int64_t size;   /* bytes appended so far */
  bool pg_failed; /* an insert failed since the last replay */
  unsigned fail_gen;
} cs_coll_can_state;
size_t cs_coll_can_states(cs_coll_can *c, cs_coll_can_state *out, size_t max);
/* The replay of path up to `upto` succeeded: clear pg_failed unless a failure came after
 * generation gen; quiet moves to upto when nothing is in flight. */
void cs_coll_can_replayed(cs_coll_can *c, const char *path, unsigned gen, int64_t upto);
/* Forget files that are fully recorded and no longer current (bounded memory). */
void cs_coll_can_recorded(cs_coll_can *c, const char *path, int64_t upto);

/* ---- PostgreSQL (pgstore.c) ----------------------------------------------------------------- */

/* Connects; a primary connection gets synchronous_commit=off (the can is the log), UTC and
 * the core's prepared statements. NULL with the reason in err. */
PGconn *cs_coll_pg_open(const char *conninfo, bool primary, char *err, size_t errlen);
/* Applies cs_coll_schema in order under an advisory lock. Returns 0 or -1 (err). */
int cs_coll_schema_apply(PGconn *pg, char *err, size_t errlen);
/* The stored uid of m's dedup key into uid: 1 found, 0 not, -1 error. */
int cs_coll_pg_dedup(PGconn *pg, const cs_coll_msm *m, char *uid, size_t uidlen);
/* One row (ON CONFLICT DO NOTHING) and its dirty hour: 1 inserted, 0 already there, -1 error. */
int cs_coll_pg_insert(PGconn *pg, const cs_coll_msm *m, const char *uid, const char *rid,
                      const char *can_path, int64_t off, int64_t len, char *err, size_t errlen);
int cs_coll_pg_report_open(PGconn *pg, const char *rid, const char *test_name, const char *cc,
                           int64_t asn, const char *sw_name, const char *sw_version);
/* 1 closed, 0 unknown report, -1 error. */
int cs_coll_pg_report_close(PGconn *pg, const char *rid);
/* Re-inserts every line of a can from byte from (ON CONFLICT DO NOTHING). *end: the offset
 * reached. Returns 0, or -1 when PostgreSQL failed (lines that do not parse are reported and
 * skipped: they cannot have been acknowledged). */
int cs_coll_replay_can(PGconn *pg, const cs_coll_cfg *cfg, const struct cs_fp_db *fp,
                       const char *path, int64_t from, int64_t *end, size_t *nlines,
                       size_t *ninserted);
/* Replays every can not recorded as complete in can_file (at start). */
int cs_coll_replay_all(PGconn *pg, const cs_coll_cfg *cfg, const struct cs_fp_db *fp);

/* ---- the server's state (server.c) --------------------------------------------------------- */

cs_coll_can *cs_coll_get_can(cs_coll *c);
const struct cs_fp_db *cs_coll_get_fp(cs_coll *c);
/* Per-client token bucket (--rate/--burst): true when a request of client may go on; when
 * not, *retry_s is the seconds until the next token. */
bool cs_coll_rate_take(cs_coll *c, const char *client, double *retry_s);

#endif
