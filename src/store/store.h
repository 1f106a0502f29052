/* store.h - the results store: measurements of a run in one SQLite database (see docs/store.md).
 *
 * A *run* is one invocation of a nettest over an input list. Each measurement is stored with
 * the columns the report needs (verdict keys, blockpage, evidence summaries) extracted once at
 * insert time, plus the full JSON. Every cs_store_add is one transaction, committed with
 * WAL + synchronous=FULL: once it returns 0 the measurement survives kill -9 and power loss.
 * UNIQUE(run_id, input): a resumed run never measures or stores a URL twice.
 *
 * Not thread-safe: one cs_store per thread (SQLite itself allows several processes). */
#ifndef CS_STORE_H
#define CS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/arena.h"
#include "util/json.h"

typedef struct cs_store cs_store;

/* Return codes of cs_store_add / cs_store_run_end (0 = done). */
enum {
  CS_STORE_OK = 0,
  CS_STORE_DUPLICATE = -1, /* this input is already stored in this run; nothing written */
  CS_STORE_BADJSON = -2,   /* not a JSON object with a string "input"; nothing written */
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
 * keeps the extracted columns only (cs_store_iter_json returns ""): for reporting straight
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

/* True when this input is already stored in this run (false also on error). */
bool cs_store_has(cs_store *s, int64_t run_id, const char *input);
/* Number of measurements stored in the run (-1 on error). */
int64_t cs_store_count(cs_store *s, int64_t run_id);

/* Parses one measurement (bounded: cs_json_parse limits, 64 MiB at most), extracts the indexed
 * columns and stores them with the full JSON, in one durable transaction. The key is the
 * measurement's "input" string. Returns CS_STORE_OK or a negative CS_STORE_* code; on any
 * error nothing is stored. */
int cs_store_add(cs_store *s, int64_t run_id, const char *json, size_t len);

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

/* The extracted columns of one measurement. Strings are NULL when the key was absent, null or
 * of another type; tri-state ints are 1 true, 0 false, -1 null/absent. */
typedef struct {
  int64_t id, run_id; /* 0 for measurements not read from a store */
  const char *input;
  const char *test_name;
  const char *category_code;          /* annotations.category_code */
  const char *measurement_start_time; /* as recorded: "YYYY-MM-DD HH:MM:SS" */
  double test_runtime;                /* seconds, -1 unknown */
  const char *blocking; /* "false", "dns", "tcp_ip", "http-failure", "http-diff", any other
                           string as recorded, or NULL for null/absent */
  int accessible;
  const char *dns_consistency; /* "consistent" | "inconsistent" | NULL */
  const char *dns_experiment_failure, *http_experiment_failure, *control_failure;
  /* evidence summaries (from queries / tcp_connect / tls_handshakes / requests) */
  const char *dns_answers; /* system-resolver A/AAAA answers (CNAMEs if none), space separated */
  const char *tcp_failure; /* "ip:port failure" of the first failed TCP connect */
  const char *tls_failure; /* failure of the first failed TLS handshake */
  int tls_ok;              /* number of TLS handshakes that succeeded */
  int http_status;         /* status code of the newest response (requests[0]), 0 none */
  /* our extras */
  const char *blockpage_name, *blockpage_source, *blockpage_scope, *blockpage_kind;
  int blockpage_confirmed, blockpage_optin;
  const char *server_side_block, *analysis_reason;
  /* envelope */
  const char *probe_cc, *probe_asn, *report_id;
} cs_store_meas;

/* Fills out from a parsed measurement. Strings point into the parse tree or into arena a.
 * Returns 0, or -1 when m is not an object with a string "input" (without NUL characters). */
int cs_store_extract(cs_arena *a, const cs_jval *m, cs_store_meas *out);

/* Streams the measurements of a run in insertion order, one row in memory at a time. */
typedef struct cs_store_iter cs_store_iter;
cs_store_iter *cs_store_iter_new(cs_store *s, int64_t run_id); /* NULL on error */
/* 1: *m holds the next row (strings valid until the next call); 0: end; <0: error. */
int cs_store_iter_next(cs_store_iter *it, cs_store_meas *m);
/* The full JSON of the current row, loaded on demand (valid until the next call), or NULL. */
const char *cs_store_iter_json(cs_store_iter *it, size_t *len);
void cs_store_iter_free(cs_store_iter *it); /* NULL ok */

#endif
