/* fuzz_collector_submit.c - libFuzzer target: what the collector does with a hostile
 * submission before it touches the disk or the database (collector/submit.c): the report_id
 * parser, the envelope and content validation (both API shapes, with and without a report
 * to be consistent with), the verdict of the nettest's analysis, the canonical JSON and the
 * can line. Checks, besides "no crash":
 *   - a parsed report_id has a 2-letter CC, an ASN < 2^32 and a test name of [a-z0-9];
 *   - an accepted submission has the columns the table needs (test_name, probe_cc, a
 *     non-negative ASN) and a can line that is one JSON line whose content re-checks to the
 *     same dedup key (what the replay of a can computes);
 *   - a refusal is a 4xx/5xx with a reason.
 * Input: the first line is a report_id (also parsed alone), the rest the body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/collector.h"

static void check(int ok) {
  if (!ok) __builtin_trap();
}

static const cs_coll_cfg cfg = {.max_body = 1u << 20, .max_age_s = 1e12, .max_future_s = 1e12};

static void one(const uint8_t *body, size_t len, cs_coll_sub_kind kind, const cs_coll_rid *rid) {
  cs_arena *a = cs_arena_new(64u << 20);
  if (!a) return;
  cs_coll_msm m;
  char err[320] = "";
  int rc = cs_coll_submission_parse(a, body, len, kind, rid, "ps", 1800000000, &cfg, NULL, &m, err,
                                    sizeof err);
  if (rc == 0) {
    check(m.test_name && m.probe_cc && strlen(m.probe_cc) == 2 && m.probe_asn > 0);
    check(m.msm_failure || m.outcome);
    check(!m.anomaly || m.blocking_type);
    cs_buf line;
    cs_buf_init(&line, 0);
    check(cs_coll_can_line(&m, "uid", "rid", "ps", &line) == 0);
    check(line.len >= 2 && line.data[line.len - 1] == '\n');
    check(memchr(line.data, '\n', line.len - 1) == NULL);
    const cs_jval *v =
        cs_json_parse(a, (const char *)line.data, line.len - 1, NULL, err, sizeof err);
    check(v != NULL);
    cs_coll_msm m2;
    check(cs_coll_content_check(a, cs_json_get_obj(v, "content"), NULL, "ps", 0, &cfg, NULL, &m2,
                                err, sizeof err) == 0);
    check(!memcmp(m.dedup_key, m2.dedup_key, 32));
    cs_coll_msm_free(&m2);
    cs_buf_free(&line);
  } else if (rc != CS_COLL_DISCARD) {
    check(rc >= 400 && rc < 600 && err[0]);
  }
  cs_coll_msm_free(&m);
  cs_arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t rl = nl ? (size_t)(nl - data) : size;
  const uint8_t *body = nl ? nl + 1 : data;
  size_t blen = nl ? size - rl - 1 : size;
  char rids[256];
  if (rl >= sizeof rids) rl = sizeof rids - 1;
  memcpy(rids, data, rl);
  rids[rl] = 0;
  cs_coll_rid rid;
  char err[160];
  bool have_rid = cs_coll_report_id_parse(rids, &rid, err, sizeof err) == 0;
  if (have_rid) {
    check(strlen(rid.cc) == 2 && rid.asn >= 0 && rid.asn <= 4294967295LL);
    check(strspn(rid.test_name, "abcdefghijklmnopqrstuvwxyz0123456789") == strlen(rid.test_name));
  }
  /* handlers get a NUL-terminated body */
  uint8_t *copy = malloc(blen + 1);
  if (!copy) return 0;
  memcpy(copy, body, blen);
  copy[blen] = 0;
  one(copy, blen, CS_COLL_SUB_REPORT, have_rid ? &rid : NULL);
  one(copy, blen, CS_COLL_SUB_SUBMIT, NULL);
  free(copy);
  return 0;
}
