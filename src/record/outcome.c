/* outcome.c - writing and reading a measurement's outcome (see outcome.h). */
#include "record/outcome.h"

#include <string.h>

void cs_outcome_write(cs_jw *w, const cs_outcome *o) {
  cs_jw_kstr(w, CS_OUTCOME_JSON_KEY, o->key ? o->key : CS_OUTCOME_UNDETERMINED);
  cs_jw_kbool(w, CS_OUTCOME_JSON_CENSORSHIP, o->censorship);
  if (o->evidence) {
    size_t n = strnlen(o->evidence, CS_OUTCOME_EVIDENCE_MAX);
    cs_jw_key(w, CS_OUTCOME_JSON_EVIDENCE);
    cs_jw_strn(w, o->evidence, n);
  } else {
    cs_jw_knull(w, CS_OUTCOME_JSON_EVIDENCE);
  }
}

int cs_outcome_read(const cs_jval *v, cs_outcome *o) {
  *o = (cs_outcome){.key = CS_OUTCOME_UNDETERMINED};
  if (!v || v->type != CS_JOBJ) return -1;
  const cs_jval *tk = cs_json_get(v, "test_keys");
  if (tk && tk->type == CS_JOBJ) v = tk;
  const cs_jval *k = cs_json_get(v, CS_OUTCOME_JSON_KEY);
  if (!k || k->type != CS_JSTR || k->len == 0 || strlen(k->str) != k->len) return -1;
  o->key = k->str;
  o->censorship = cs_json_get_bool(v, CS_OUTCOME_JSON_CENSORSHIP, 0) == 1;
  const cs_jval *e = cs_json_get(v, CS_OUTCOME_JSON_EVIDENCE);
  if (e && e->type == CS_JSTR) o->evidence = e->str;
  return 0;
}

const cs_outcome_def *cs_outcome_def_find(const cs_outcome_def *defs, size_t n, const char *key) {
  if (!key) return NULL;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(defs[i].key, key)) return &defs[i];
  return NULL;
}
