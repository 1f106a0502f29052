/* work_client.c - see work_client.h and src/collector/work.c. */
#include "upload/work_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/json.h"

static bool lease_id_ok(const cs_jval *v) {
  if (!v || v->type != CS_JSTR || v->len == 0 || v->len > CS_WORK_LEASE_ID_MAX) return false;
  for (size_t i = 0; i < v->len; i++) {
    char c = v->str[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.'))
      return false;
  }
  return true;
}

static bool text_ok(const cs_jval *v, size_t max) {
  if (!v || v->type != CS_JSTR || v->len == 0 || v->len > max) return false;
  for (size_t i = 0; i < v->len; i++)
    if ((unsigned char)v->str[i] < 0x20 || v->str[i] == 0x7f) return false;
  return true;
}

int cs_work_claim_parse(cs_arena *a, const char *body, size_t len, cs_work_claim *out, char *err,
                        size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!a || !body || len == 0 || len > CS_WORK_MAX_ANSWER) {
    snprintf(err, errlen, "empty or oversized claim answer");
    return -1;
  }
  char perr[96];
  cs_json_limits lim = {.max_depth = 6, .max_nodes = 4 * CS_WORK_MAX_INPUTS + 64};
  const cs_jval *v = cs_json_parse(a, body, len, &lim, perr, sizeof perr);
  if (!v || v->type != CS_JOBJ) {
    snprintf(err, errlen, "claim answer is not a JSON object%s%s", v ? "" : ": ", v ? "" : perr);
    return -1;
  }
  const cs_jval *lid = cs_json_get(v, "lease_id");
  if (!lid || cs_json_is_null(lid)) {
    int done = cs_json_get_bool(v, "done", -1);
    if (done < 0) {
      snprintf(err, errlen, "claim answer without lease_id nor done");
      return -1;
    }
    out->done = done == 1;
    double ra = cs_json_get_num(v, "retry_after", 5);
    out->retry_after = !(ra >= 1) ? 1 : ra > 300 ? 300 : ra;
    return 0;
  }
  if (!lease_id_ok(lid)) {
    snprintf(err, errlen, "bad lease_id (1-%d of [A-Za-z0-9._-])", CS_WORK_LEASE_ID_MAX);
    return -1;
  }
  out->lease_id = lid->str;
  out->list = cs_json_get_str(v, "list", "");
  int64_t chunk = -1;
  if (!cs_json_get_i64(v, "chunk", &chunk) || chunk < 0 || chunk > 100000000) {
    snprintf(err, errlen, "bad chunk number");
    return -1;
  }
  out->chunk = chunk;
  double ls = cs_json_get_num(v, "lease_seconds", -1);
  if (!(ls >= 1 && ls <= 86400)) {
    snprintf(err, errlen, "bad lease_seconds");
    return -1;
  }
  out->lease_seconds = ls;
  const cs_jval *ins = cs_json_get_arr(v, "inputs");
  if (!ins || ins->len == 0 || ins->len > CS_WORK_MAX_INPUTS) {
    snprintf(err, errlen, "a lease needs 1-%d inputs", CS_WORK_MAX_INPUTS);
    return -1;
  }
  const char **inputs = cs_arena_alloc(a, ins->len * sizeof *inputs);
  const char **cats = cs_arena_alloc(a, ins->len * sizeof *cats);
  if (!inputs || !cats) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < ins->len; i++) {
    const cs_jval *e = ins->kids[i], *in = e, *cat = NULL;
    if (e->type == CS_JOBJ) in = cs_json_get(e, "input"), cat = cs_json_get(e, "category_code");
    if (!text_ok(in, CS_WORK_MAX_INPUT) || strlen(in->str) != in->len) {
      snprintf(err, errlen, "inputs[%zu] is not 1-%d printable bytes", i, CS_WORK_MAX_INPUT);
      return -1;
    }
    inputs[i] = in->str;
    cats[i] = cat && text_ok(cat, 16) ? cat->str : NULL;
  }
  out->inputs = inputs;
  out->categories = cats;
  out->ninputs = ins->len;
  return 0;
}

/* The reason of a refusal: {"error":...} printable and bounded, else the status. */
static void reason_of(int status, const cs_buf *b, char *out, size_t cap) {
  cs_arena *a = cs_arena_new(1u << 20);
  cs_json_limits lim = {.max_depth = 4, .max_nodes = 64};
  const cs_jval *v =
      a && b->len ? cs_json_parse(a, (const char *)b->data, b->len, &lim, NULL, 0) : NULL;
  const char *e = cs_json_get_str(v, "error", "");
  size_t n = (size_t)snprintf(out, cap, "HTTP %d%s", status, *e ? ": " : "");
  for (size_t i = 0; e[i] && n + 1 < cap && i < 200; i++)
    out[n++] = e[i] >= 0x20 && e[i] < 0x7f ? e[i] : '?';
  if (n < cap) out[n] = 0;
  cs_arena_free(a);
}

int cs_work_claim_next(cs_work_session *s, cs_arena *a, cs_work_claim *out, char *err,
                       size_t errlen) {
  cs_buf req;
  cs_buf_init(&req, 4096);
  cs_jw w;
  cs_jw_init(&w, &req);
  cs_jw_obj_open(&w);
  cs_jw_kstr(&w, "list", s->list);
  cs_jw_kstr(&w, "probe_cc", s->probe_cc);
  cs_jw_kstr(&w, "probe_asn", s->probe_asn);
  cs_jw_obj_close(&w);
  const char *body = cs_buf_cstr(&req);
  cs_post_opts o = s->o;
  o.max_response = CS_WORK_MAX_ANSWER;
  int rc = -1;
  snprintf(err, errlen, "no collector");
  for (size_t i = 0; body && i < s->ntargets && rc < 0; i++) {
    cs_buf ans;
    cs_buf_init(&ans, CS_WORK_MAX_ANSWER);
    int status;
    char fail[160];
    if (cs_post_sync(&s->targets[i], &o, "/api/v1/work/claim", body, req.len, &status, &ans, fail,
                     sizeof fail) < 0) {
      snprintf(err, errlen, "out of memory");
    } else if (status == 200) {
      char perr[160];
      char *copy = cs_arena_alloc(a, ans.len + 1);
      if (copy && ans.len) memcpy(copy, ans.data, ans.len);
      if (copy && cs_work_claim_parse(a, copy, ans.len, out, perr, sizeof perr) == 0) {
        s->holder = i;
        rc = 0;
      } else {
        snprintf(err, errlen, "%s: %s", s->targets[i].url, copy ? perr : "out of memory");
      }
    } else if (status >= 400 && status < 500 && status != 429) {
      char reason[256];
      reason_of(status, &ans, reason, sizeof reason);
      snprintf(err, errlen, "%s refused the claim: %s", s->targets[i].url, reason);
      cs_buf_free(&ans);
      break; /* a refusal is final: the next collector shares the database */
    } else {
      snprintf(err, errlen, "%s: %s", s->targets[i].url,
               fail[0]  ? fail
               : status ? "server error"
                        : "no answer");
    }
    cs_buf_free(&ans);
  }
  cs_buf_free(&req);
  return rc;
}

/* POST /api/v1/work/{lease}/{what}: 0 done, 1 lost (409), -1 error. */
static int lease_post(cs_work_session *s, const char *lease_id, const char *what, char *err,
                      size_t errlen) {
  char path[CS_WORK_LEASE_ID_MAX + 40];
  snprintf(path, sizeof path, "/api/v1/work/%s/%s", lease_id, what);
  int rc = -1;
  for (size_t k = 0; k < s->ntargets && rc < 0; k++) {
    size_t i = (s->holder + k) % s->ntargets; /* the collector that gave the lease first */
    cs_buf ans;
    cs_buf_init(&ans, CS_POST_RESPONSE_CAP);
    int status;
    char fail[160];
    if (cs_post_sync(&s->targets[i], &s->o, path, "{}", 2, &status, &ans, fail, sizeof fail) < 0)
      snprintf(err, errlen, "out of memory");
    else if (status == 200) rc = 0;
    else if (status == 409) rc = 1;
    else if (status >= 400 && status < 500) {
      char reason[256];
      reason_of(status, &ans, reason, sizeof reason);
      snprintf(err, errlen, "%s: %s", s->targets[i].url, reason);
      cs_buf_free(&ans);
      break;
    } else {
      snprintf(err, errlen, "%s: %s", s->targets[i].url,
               fail[0]  ? fail
               : status ? "server error"
                        : "no answer");
    }
    cs_buf_free(&ans);
  }
  return rc;
}

int cs_work_mark_done(cs_work_session *s, const char *lease_id, char *err, size_t errlen) {
  /* a few tries: the chunk is measured and stored, losing the done costs a re-measure */
  int rc = -1;
  for (int t = 0; t < 4 && rc < 0; t++) {
    if (t) nanosleep(&(struct timespec){.tv_sec = 1 << (t - 1)}, NULL);
    rc = lease_post(s, lease_id, "done", err, errlen);
  }
  return rc;
}

struct cs_work_hb {
  cs_work_session *s;
  char lease_id[CS_WORK_LEASE_ID_MAX + 1];
  double interval;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop, lost;
};

static void *hb_main(void *arg) {
  cs_work_hb *h = arg;
  pthread_mutex_lock(&h->mu);
  while (!h->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + h->interval;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    int w = 0;
    while (!h->stop && w != ETIMEDOUT) w = pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    if (h->stop) break;
    pthread_mutex_unlock(&h->mu);
    char err[256];
    int rc = lease_post(h->s, h->lease_id, "heartbeat", err, sizeof err);
    pthread_mutex_lock(&h->mu);
    if (rc == 1) h->lost = true;
  }
  pthread_mutex_unlock(&h->mu);
  return NULL;
}

cs_work_hb *cs_work_hb_start(cs_work_session *s, const char *lease_id, double interval_s) {
  cs_work_hb *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->s = s;
  snprintf(h->lease_id, sizeof h->lease_id, "%s", lease_id);
  h->interval = interval_s < 0.5 ? 0.5 : interval_s;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&h->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&h->mu, NULL);
  if (pthread_create(&h->th, NULL, hb_main, h) != 0) {
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
    return NULL;
  }
  return h;
}

bool cs_work_hb_stop(cs_work_hb *h) {
  if (!h) return false;
  pthread_mutex_lock(&h->mu);
  h->stop = true;
  pthread_cond_signal(&h->cv);
  pthread_mutex_unlock(&h->mu);
  pthread_join(h->th, NULL);
  bool lost = h->lost;
  pthread_cond_destroy(&h->cv);
  pthread_mutex_destroy(&h->mu);
  free(h);
  return lost;
}
