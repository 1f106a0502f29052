/* explorer.h - the collector's explorer side (issue 13, coll-explorer): the read API in OONI's
 * shapes (aggregation, measurements, one measurement, detector changepoints and country-wide
 * events), the hourly/daily rollups rebuilt from dirty_hour, and the change detector run over
 * them. The route, job and schema lines in routes.c point here. docs/collector.md
 * "Explorer API", "Rollups" and "Change detector". */
#ifndef CS_COLLECTOR_EXPLORER_H
#define CS_COLLECTOR_EXPLORER_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "collector/collector.h"

/* ---- routes (explorer.c) ---- */
void cs_explorer_aggregation(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs);
void cs_explorer_measurements(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs);
void cs_explorer_measurement(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs);
void cs_explorer_changepoints(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs);
void cs_explorer_events(cs_coll_ctx *ctx, const cs_coll_req *rq, cs_coll_resp *rs);

/* The checks behind the routes (pure; fuzz/fuzz_explorer_params.c). A comma-separated list
 * filter (name: probe_cc, probe_asn, domain, category_code, test_name, blocking_type; at most
 * 50 items of the filter's shape) as a PostgreSQL array literal allocated in a (domains
 * lower-cased, "AS" dropped). Returns 0, or an HTTP status (400, 500) with the reason in err. */
int cs_explorer_list(cs_arena *a, const char *name, const char *value, const char **lit, char *err,
                     size_t errlen);
/* "YYYY-MM-DD", "YYYY-MM-DDTHH:MM" or "YYYY-MM-DDTHH:MM:SS", optionally ending in "Z" (UTC; a
 * space may stand for the T), years 2000-2100. Returns 0 and *t (UNIX s), or -1. */
int cs_explorer_parse_time(const char *s, int64_t *t);

/* ---- rollups (rollup.c) ---- */
/* DDL of cell_hour, cell_day, detector_dirty and the detector's tables (idempotent): the
 * explorer's one schema part. */
extern const char cs_explorer_schema[];
/* Rebuilds the cell_hour rows of up to max_hours dirty hours (oldest first; all of one UTC day
 * in one transaction, with that day's cell_day row set), consuming their dirty_hour rows and
 * queueing the touched (probe_cc, probe_asn, domain) cells for the detector. When lo < hi
 * (UNIX s), only dirty hours in [lo, hi). Returns the number of hours rebuilt, -1 on a
 * database error (logged; nothing half-done: each day is one transaction). */
long cs_rollup_refresh(PGconn *pg, int64_t lo, int64_t hi, long max_hours);
/* The rollup + detector job (cs_coll_jobs): refresh every dirty hour, then the detector. */
void cs_rollup_job(cs_coll_ctx *ctx);

/* ---- detector (detector.c) ---- */
/* Runs the detector over up to max_cells queued cells (each replayed from its earliest dirty
 * hour, in hour order), appends changepoints, recomputes the country-wide events the new
 * changepoints touch. Returns the number of cells processed, -1 on a database error. */
long cs_detector_run(PGconn *pg, long max_cells);

#endif
