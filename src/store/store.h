/* store.h - the results store: measurements of a run in one SQLite database (see docs/store.md).
 *
 * A *run* is one invocation of a nettest over an input list (an imported file may mix
 * nettests). Each measurement is stored with the columns the report needs (its test_name, its
 * outcome, verdict keys, blockpage, evidence summaries: CS_STORE_COLUMNS) extracted once at
 * insert time, plus the full JSON. Every cs_store_add is one transaction, committed with
 * WAL + synchronous=FULL: once it returns 0 the measurement survives kill -9 and power loss.
 * Unique per run: (test_name, input or "") - a resumed run never measures or stores an input
 * twice, and an input-less nettest (input null) stores one measurement per run.
 *
 * Not thread-safe: one cs_store per thread (SQLite itself allows several processes). */
#ifndef CS_STORE_H
#define CS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "record/outcome.h"
#include "util/arena.h"
#include "util/json.h"

typedef struct cs_store cs_store;

/* Return codes of cs_store_add / cs_store_run_end (0 = done). */
enum {
  CS_STORE_OK = 0,
  CS_STORE_DUPLICATE = -1, /* this input is already stored in this run; nothing written */
  CS_STORE_BADJSON = -2,   /* not a measurement (cs_store_extract); nothing written */
  CS_STORE_NORUN = -3,     /* no such run */
  CS_STORE_IO = -4,        /* SQLite error (disk full, I/O, locked...): see cs_store_errmsg */
  CS_STORE_NOMEM = -5,
};
const char *cs_store_strerror(int rc);

/* Creates or opens the database at path (created with mode 0600 by SQLite's defaults;
 * ":memory:" works for tests). Returns NULL and a message in err on failure, including a
 * database written by a newer, incompatible schema version. */
cs_store *cs_store_open(const char *path, char *err, size_t errlen);
void cs_store_close(cs_store *s); /* NULL ok */
/* A private temporary database (deleted on close), not durable (synchronous=OFF), that
 * keeps the extracted columns only (cs_store_iter_json returns "", except for the throttling
 * and app nettests' measurements, whose report sections read them): for reporting straight
 * from a JSON-lines file without copying every measurement to disk. */
cs_store *cs_store_open_scratch(char *err, size_t errlen);
/* The last SQLite error message ("" if none). */
const char *cs_store_errmsg(const cs_store *s);

/* Starts a run, or with resume=true continues the most recent unfinished run with the same
 * test_name and input_list (input_list: the list's path, or "" for command-line inputs).
 * params_json: the run's options as a JSON object (or NULL); kept for the record, not
 * compared. Returns the run id (> 0), or -1 on error. */
int64_t cs_store_run_begin(cs_store *s, const char *test_name, const char *input_list,
                           const char *params_json, bool resume);
/* Marks the run finished (it is then never resumed). Returns 0 or a CS_STORE_* code. */
int cs_store_run_end(cs_store *s, int64_t run_id);

/* True when this input (NULL: an input-less measurement) is already stored in this run (false
 * also on error). */
bool cs_store_has(cs_store *s, int64_t run_id, const char *input);
/* Number of measurements stored in the run (-1 on error). */
int64_t cs_store_count(cs_store *s, int64_t run_id);

/* Parses one measurement (bounded: cs_json_parse limits, 64 MiB at most), extracts the indexed
 * columns and stores them with the full JSON, in one durable transaction. The key is the
 * measurement's (test_name, input). Returns CS_STORE_OK or a negative CS_STORE_* code; on any
 * error nothing is stored. */
int cs_store_add(cs_store *s, int64_t run_id, const char *json, size_t len);

/* Names the run after its measurements: their common test_name, or "mixed" when they differ
 * (unchanged when none has one). For imports, whose nettests are known only once read.
 * Returns 0 or a CS_STORE_* code. */
int cs_store_run_name(cs_store *s, int64_t run_id);

/* Adds every line of a JSON-lines file to the run (blank lines skipped; lines over 64 MiB are
 * counted as bad). Returns 0, or CS_STORE_IO / CS_STORE_NOMEM / CS_STORE_NORUN when it had to
 * stop; per-line outcomes are counted in st. */
typedef struct {
  uint64_t added, duplicate, bad;
} cs_store_import_stats;
int cs_store_import_jsonl(cs_store *s, int64_t run_id, FILE *f, cs_store_import_stats *st);

/* Makes the JSON-lines file out (opened for appending at path) fit for this run before it
 * starts. A last line cut by an interruption (kill -9, power loss) is removed when resuming
 * (its measurement is in the database, or is measured again), and ended otherwise, so that
 * the next line starts on its own. When resuming, every measurement the database holds for
 * the run but the file lacks (the interruption fell between the two writes) is appended, so
 * the file ends up with each measurement of the run exactly once, as the database does.
 * Measurements are told apart by (report_id, input). Returns the number of measurements
 * appended, or -1 on an I/O error. Not a regular file, or an empty one: nothing to do. */
long cs_store_sync_jsonl(cs_store *s, int64_t run_id, FILE *out, const char *path, bool resume);

/* Recomputes the extracted columns of every measurement of the run (0: of all runs) from its
 * stored JSON, in one transaction, one row in memory at a time: for schema migrations and
 * after cs_store_extract learns something new. Rows whose JSON no longer parses keep their
 * columns. *updated (may be NULL) gets the number of rows rewritten. Returns 0 or a
 * CS_STORE_* code (CS_STORE_BADJSON on a scratch store, which keeps no JSON). */
int cs_store_reextract(cs_store *s, int64_t run_id, int64_t *updated);

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct {
  int64_t id;
  const char *test_name;
  const char *input_list;  /* "" for command-line inputs */
  const char *params_json; /* NULL when none was given */
  const char *started_at;  /* "YYYY-MM-DD HH:MM:SS" UTC */
  const char *finished_at; /* NULL while unfinished (or interrupted) */
  int64_t count;           /* measurements stored */
} cs_store_run;

/* Calls fn for every run, newest first, until fn returns non-zero. Strings are valid during
 * the call only. Returns 0, or -1 on error. */
int cs_store_runs(cs_store *s, int (*fn)(void *ctx, const cs_store_run *r), void *ctx);
/* One run, strings copied into arena a. Returns 0, CS_STORE_NORUN or CS_STORE_IO. */
int cs_store_run_get(cs_store *s, int64_t run_id, cs_arena *a, cs_store_run *out);
/* Id of the newest run (0 when there is none, -1 on error). */
int64_t cs_store_run_latest(cs_store *s);

/* The columns of a measurement, declared once: X(name, kind, since) with the schema version
 * that added the column. The table's DDL, the column list of the insert, update and select,
 * the fields of cs_store_meas and the binds are all generated from this list (store.c).
 * Kinds (C type / SQL): TEXT const char * / TEXT, NULL when the key was absent, null or of
 * another type; TRI int / INTEGER, 1 true, 0 false, -1 null or absent; FLAG int / INTEGER NOT
 * NULL 0 or 1; COUNT int / INTEGER NOT NULL; REAL double / REAL, -1 unknown. */
#define CS_STORE_COLUMNS(X)                                                                        \
  X(input, TEXT, 1)                  /* NULL for an input-less nettest */                          \
  X(test_name, TEXT, 1)              /* the measurement's own test_name */                         \
  X(category_code, TEXT, 1)          /* annotations.category_code */                               \
  X(measurement_start_time, TEXT, 1) /* as recorded: "YYYY-MM-DD HH:MM:SS" */                      \
  X(test_runtime, REAL, 1)           /* seconds */                                                 \
  X(blocking, TEXT, 1)               /* web_connectivity's key: "false", "dns", ... as recorded */ \
  X(accessible, TRI, 1)                                                                            \
  X(dns_consistency, TEXT, 1) /* "consistent" | "inconsistent" | NULL */                           \
  X(dns_experiment_failure, TEXT, 1)                                                               \
  X(http_experiment_failure, TEXT, 1)                                                              \
  X(control_failure, TEXT, 1)                                                                      \
  /* evidence summaries, from OONI's archival keys (queries, tcp_connect, tls_handshakes,     \
   * requests): NULL / 0 for nettests that lack them */    \
  X(dns_answers, TEXT, 1)  /* system-resolver A/AAAA answers (CNAMEs if none), space separated */  \
  X(tcp_failure, TEXT, 1)  /* "ip:port failure" of the first failed TCP connect */                 \
  X(tls_failure, TEXT, 1)  /* failure of the first failed TLS handshake */                         \
  X(tls_ok, COUNT, 1)      /* number of TLS handshakes that succeeded */                           \
  X(http_status, COUNT, 1) /* status code of the newest response (requests[0]), 0 none */          \
  /* our extras */                                                                                 \
  X(blockpage_name, TEXT, 1)                                                                       \
  X(blockpage_source, TEXT, 1)                                                                     \
  X(blockpage_scope, TEXT, 1)                                                                      \
  X(blockpage_kind, TEXT, 1)                                                                       \
  X(blockpage_confirmed, FLAG, 1)                                                                  \
  X(blockpage_optin, FLAG, 1)                                                                      \
  X(server_side_block, TEXT, 1)                                                                    \
  X(analysis_reason, TEXT, 1)                                                                      \
  /* envelope */                                                                                   \
  X(probe_cc, TEXT, 1)                                                                             \
  X(probe_asn, TEXT, 1)                                                                            \
  X(report_id, TEXT, 1)                                                                            \
  /* the outcome (record/outcome.h), read from x_outcome, x_censorship, x_evidence; never     \
   * re-derived. A measurement without x_outcome gets it from the analyzer hook             \
   * (cs_store_set_analyzer); NULL in the table until one decides, "undetermined" on reading */    \
  X(outcome, TEXT, 2)                                                                              \
  X(censorship, FLAG, 2)                                                                           \
  X(evidence, TEXT, 2)

#define CS_STORE_CTYPE_TEXT const char *
#define CS_STORE_CTYPE_TRI int
#define CS_STORE_CTYPE_FLAG int
#define CS_STORE_CTYPE_COUNT int
#define CS_STORE_CTYPE_REAL double

/* The extracted columns of one measurement (see CS_STORE_COLUMNS). */
typedef struct {
  int64_t id, run_id; /* 0 for measurements not read from a store */
#define CS_STORE_FIELD(name, kind, since) CS_STORE_CTYPE_##kind name;
  CS_STORE_COLUMNS(CS_STORE_FIELD)
#undef CS_STORE_FIELD
} cs_store_meas;

/* Fills out from a parsed measurement. Strings point into the parse tree or into arena a; the
 * outcome columns come from x_outcome (NULL when it has none: the analyzer's turn). Returns 0,
 * or -1 when m is not a measurement: not an object, or an "input" that is neither a string
 * (without NUL characters) nor null, or no input and no string "test_name". */
int cs_store_extract(cs_arena *a, const cs_jval *m, cs_store_meas *out);

/* The outcome of a measurement that carries none (an imported OONI file, a row older than
 * schema 2): m is the parsed measurement, cols its extracted columns. Returns 0 with *out set
 * (strings in a or in m), or -1 when it cannot tell (the row is then "undetermined"). */
typedef int (*cs_store_analyzer)(void *ctx, cs_arena *a, const cs_jval *m,
                                 const cs_store_meas *cols, cs_outcome *out);
/* Installs the hook for every later cs_store_add and cs_store_reextract, and gives the rows
 * still waiting for an outcome (from a migration, or added without a hook) theirs now, in one
 * transaction. fn NULL: no hook (rows without x_outcome wait, read as "undetermined").
 * Returns 0 or a CS_STORE_* code (the hook stays installed). */
int cs_store_set_analyzer(cs_store *s, cs_store_analyzer fn, void *ctx);

/* Streams the measurements of a run in insertion order, one row in memory at a time. */
typedef struct cs_store_iter cs_store_iter;
cs_store_iter *cs_store_iter_new(cs_store *s, int64_t run_id); /* NULL on error */
/* 1: *m holds the next row (strings valid until the next call; outcome never NULL:
 * "undetermined" for a row none decided); 0: end; <0: error. */
int cs_store_iter_next(cs_store_iter *it, cs_store_meas *m);
/* The full JSON of the current row, loaded on demand (valid until the next call), or NULL. */
const char *cs_store_iter_json(cs_store_iter *it, size_t *len);
void cs_store_iter_free(cs_store_iter *it); /* NULL ok */

/* ---- the upload queue (src/upload/ drains it; docs/collector.md) -------------------------- *
 * Every stored measurement (a trigger queues it in the same transaction as cs_store_add) has
 * an upload state: pending until a collector's 200 is recorded, then sent (with the
 * collector's measurement_uid and URL) or refused (with its 4xx and reason: final). Network
 * errors and 5xx leave it pending with attempts and the next try recorded. A state leaves
 * pending once: a later update of the same row is a no-op. Not on scratch stores. */

#define CS_STORE_PROBE_SET_LEN 16

/* This store's probe-set id (16 of [A-Za-z0-9], random, created on the first call and kept):
 * the X-Censorscope-Probe-Set header, never derived from an address. Returns 0 or CS_STORE_IO. */
int cs_store_probe_set(cs_store *s, char *out, size_t cap);

typedef struct {
  int64_t meas_id, run_id;
  const char *test_name, *probe_cc, *probe_asn, *report_id, *input; /* columns, may be NULL */
  const char *json;                                                 /* the measurement */
  size_t len;
  int attempts;
  double next_try;
} cs_store_upload_item;

/* The first pending measurement with id > after_id whose next try is due at unix time now
 * (now < 0: due or not), strings copied into a. Returns 1, 0 (none), or a CS_STORE_* code. */
int cs_store_upload_next(cs_store *s, int64_t after_id, double now, cs_arena *a,
                         cs_store_upload_item *out);
/* Records the collector's 200: sent, with its measurement_uid. */
int cs_store_upload_sent(cs_store *s, int64_t meas_id, const char *collector, const char *uid);
/* Records a 4xx (or an answer that can never succeed): refused, with the reason. Final. */
int cs_store_upload_refused(cs_store *s, int64_t meas_id, const char *collector, int status,
                            const char *reason);
/* Records a failed attempt (network error, 5xx): still pending, next try at unix time
 * next_try. */
int cs_store_upload_retry(cs_store *s, int64_t meas_id, const char *error, double next_try);

typedef struct {
  int64_t pending, sent, refused;
} cs_store_upload_tally;
/* Counts per state over one run (0: every run). Returns 0 or CS_STORE_IO. */
int cs_store_upload_counts(cs_store *s, int64_t run_id, cs_store_upload_tally *c);

typedef struct {
  const char *state; /* "pending" | "sent" | "refused" */
  int attempts;
  double next_try;
  const char *last_error, *collector, *measurement_uid, *reason; /* NULL when none */
  int http_status;                                               /* refused: the 4xx, else 0 */
} cs_store_upload_state;
/* One measurement's upload state, strings in a. Returns 0, CS_STORE_NORUN (no such
 * measurement) or another CS_STORE_* code. */
int cs_store_upload_get(cs_store *s, int64_t meas_id, cs_arena *a, cs_store_upload_state *out);

/* The id of the newest measurement (0 when none, -1 on error). */
int64_t cs_store_last_id(cs_store *s);

/* The store's small settings (table meta: the probe-set id, the collectors last used).
 * get: 1 with the value in out, 0 when unset, or a CS_STORE_* code (NOMEM: does not fit). */
int cs_store_meta_get(cs_store *s, const char *key, char *out, size_t cap);
int cs_store_meta_set(cs_store *s, const char *key, const char *value);

#endif
