/* coll_mock.h - a small OONI probe-services collector on 127.0.0.1 for the uploader's unit
 * tests: POST /report, POST /report/{id} (dedup on probe-set + content, as the real
 * collector), POST /report/{id}/close, and misbehaviours (5xx, 4xx with a reason, {} for a
 * discarded measurement, a blackhole that accepts and never answers). One thread, one
 * connection at a time. The real collector is tested in tests/net/collector_upload.sh. */
#ifndef CS_TEST_COLL_MOCK_H
#define CS_TEST_COLL_MOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  COLLM_OK,        /* the API as OONI's */
  COLLM_FAIL_500,  /* every request: 503 {"error":"overloaded"} */
  COLLM_REFUSE,    /* submissions: 400 {"error":"Inconsistent measurement"} */
  COLLM_DISCARD,   /* submissions: 200 {} */
  COLLM_BLACKHOLE, /* accept, read, never answer */
  COLLM_FORGET,    /* the first submission (once): 404, the report unknown */
} collm_mode;

typedef struct collm collm;

collm *collm_start(collm_mode mode);
uint16_t collm_port(const collm *m);
void collm_set_mode(collm *m, collm_mode mode);
int collm_requests(collm *m);       /* requests answered or swallowed */
int collm_stored(collm *m);         /* distinct measurements stored */
int collm_submissions(collm *m);    /* POST /report/{id} answered 200 with a uid (dups too) */
int collm_reports_opened(collm *m); /* POST /report */
int collm_reports_closed(collm *m); /* POST /report/{id}/close */
/* The X-Censorscope-Probe-Set of the last request (copied into out). */
void collm_last_probe_set(collm *m, char *out, size_t cap);
void collm_stop(collm *m);

#endif
