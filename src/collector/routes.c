/* routes.c - what the collector serves: the route table, the background jobs and the schema
 * parts, one line each (X-macros: the line also declares the function or string). Routes are
 * matched in order; "{}" matches one path segment (captured in cs_coll_req.cap). Routes with
 * write=true are refused in --read-only. */
#include "collector/collector.h"

/* ROUTE(method, pattern, handler, write) */
#define CS_COLL_ROUTE_LIST(ROUTE)                                                                  \
  ROUTE("POST", "/report", cs_coll_h_report_open, true)                                            \
  ROUTE("POST", "/report/{}", cs_coll_h_report_submit, true)                                       \
  ROUTE("POST", "/report/{}/close", cs_coll_h_report_close, true)                                  \
  ROUTE("POST", "/api/v1/submit_measurement", cs_coll_h_submit_measurement, true)                  \
  ROUTE("GET", "/api/_/collector/health", cs_coll_h_health, false)                                 \
  ROUTE("POST", "/api/v1/work/lists", cs_coll_h_work_lists, true)                                  \
  ROUTE("POST", "/api/v1/work/claim", cs_coll_h_work_claim, true)                                  \
  ROUTE("POST", "/api/v1/work/{}/heartbeat", cs_coll_h_work_heartbeat, true)                       \
  ROUTE("POST", "/api/v1/work/{}/done", cs_coll_h_work_done, true)                                 \
  ROUTE("GET", "/api/v1/aggregation", cs_explorer_aggregation, false)                              \
  ROUTE("GET", "/api/v1/measurements", cs_explorer_measurements, false)                            \
  ROUTE("GET", "/api/v1/measurement/{}", cs_explorer_measurement, false)                           \
  ROUTE("GET", "/api/v1/detector/changepoints", cs_explorer_changepoints, false)                   \
  ROUTE("GET", "/api/v1/detector/events", cs_explorer_events, false)                               \
  ROUTE("GET", "/", cs_coll_h_ui_index, false)                                                     \
  ROUTE("GET", "/ui/{}", cs_coll_h_ui_file, false)                                                 \
  /* end of routes: add yours above this line */

/* JOB(name, interval_s, fn) */
#define CS_COLL_JOB_LIST(JOB)                                                                      \
  JOB("can-checkpoint", 5.0, cs_coll_job_can_checkpoint)                                           \
  JOB("rollup-detector", 5.0, cs_rollup_job)                                                       \
  /* end of jobs: add yours above this line */

/* SCHEMA(string) */
#define CS_COLL_SCHEMA_LIST(SCHEMA)                                                                \
  SCHEMA(cs_coll_schema_core)                                                                      \
  SCHEMA(cs_coll_schema_work)                                                                      \
  SCHEMA(cs_explorer_schema)                                                                       \
  /* end of schema parts: add yours above this line */

#define CS_DECL_ROUTE(m, p, fn, w) void fn(cs_coll_ctx *, const cs_coll_req *, cs_coll_resp *);
#define CS_DECL_JOB(n, i, fn) void fn(cs_coll_ctx *);
/* NOLINTNEXTLINE(bugprone-macro-parentheses): s is a declarator */
#define CS_DECL_SCHEMA(s) extern const char s[];
CS_COLL_ROUTE_LIST(CS_DECL_ROUTE)
CS_COLL_JOB_LIST(CS_DECL_JOB)
CS_COLL_SCHEMA_LIST(CS_DECL_SCHEMA)

#define CS_ROUTE(m, p, fn, w) {m, p, fn, w},
#define CS_JOB(n, i, fn) {n, i, fn},
#define CS_SCHEMA(s) s,
const cs_coll_route cs_coll_routes[] = {CS_COLL_ROUTE_LIST(CS_ROUTE)};
const size_t cs_coll_nroutes = sizeof cs_coll_routes / sizeof *cs_coll_routes;
const cs_coll_job cs_coll_jobs[] = {CS_COLL_JOB_LIST(CS_JOB)};
const size_t cs_coll_njobs = sizeof cs_coll_jobs / sizeof *cs_coll_jobs;
const char *const cs_coll_schema[] = {CS_COLL_SCHEMA_LIST(CS_SCHEMA)};
const size_t cs_coll_nschema = sizeof cs_coll_schema / sizeof *cs_coll_schema;
