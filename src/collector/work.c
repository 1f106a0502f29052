/* work.c - the collector's work API: lists too big for one probe, split in chunks that probes
 * lease (docs/collector.md "Work splitting"; research fleet-and-scale.md §3.6, measured at
 * ~1,000 claim+done/s on this machine).
 *
 *   POST /api/v1/work/lists          admin (Authorization: Bearer <--admin-token FILE>):
 *        {"name":"pk-2026-12","chunk_size":100,"lease_seconds":600,
 *         "inputs":["https://a.example/", {"input":"https://b.example/","category_code":"NEWS"}]}
 *        -> 201 {"name","items","chunks","chunk_size","lease_seconds"}
 *   POST /api/v1/work/claim           {"list":"pk-2026-12","probe_cc":"PK","probe_asn":"AS45595"}
 *        -> {"lease_id":"<id>-<token>","list","chunk","lease_seconds","inputs":[{"input",
 *            "category_code"}]}
 *        or {"lease_id":null,"done":true}  (every chunk of this scope is done)
 *        or {"lease_id":null,"done":false,"retry_after":S}  (the rest is leased by others)
 *   POST /api/v1/work/{lease_id}/heartbeat -> {"lease_seconds":S}, or 409 when the lease is lost
 *   POST /api/v1/work/{lease_id}/done      -> {} (idempotent), or 409 when the lease is lost
 *
 * Leases are rows of work_lease, one per (list, probe_cc, probe_asn, chunk): every network
 * measures the whole list, and the probes of one network share it. A claim takes the first
 * free or expired chunk with FOR UPDATE SKIP LOCKED (concurrent claims never wait for each
 * other nor get the same row) and gives it a fresh random token: the holder of an expired
 * lease that was re-leased can neither extend nor complete it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "collector/collector.h"
#include "util/json.h"

#define WORK_MAX_ITEMS 200000 /* items per list */
#define WORK_MAX_INPUT 2048   /* bytes per input */
#define WORK_MAX_CHUNK 10000  /* items per chunk */
#define WORK_TOKEN_LEN 16
#define WORK_MIN_LEASE 5 /* seconds */
#define WORK_MAX_LEASE 86400

CS_COLL_SCHEMA_PART(cs_coll_schema_work) =
    "CREATE TABLE IF NOT EXISTS work_list (\n"
    "  name text PRIMARY KEY, chunk_size integer NOT NULL, nitems integer NOT NULL,\n"
    "  nchunks integer NOT NULL, lease_s integer NOT NULL,\n"
    "  created timestamptz NOT NULL DEFAULT now());\n"
    "CREATE TABLE IF NOT EXISTS work_item (\n"
    "  list text NOT NULL REFERENCES work_list(name) ON DELETE CASCADE, idx integer NOT NULL,\n"
    "  chunk integer NOT NULL, input text NOT NULL, category_code text,\n"
    "  PRIMARY KEY (list, idx));\n"
    "CREATE INDEX IF NOT EXISTS work_item_chunk ON work_item (list, chunk, idx);\n"
    /* state: 0 free, 1 leased (until lease_until), 2 done */
    "CREATE TABLE IF NOT EXISTS work_lease (\n"
    "  id bigserial PRIMARY KEY,\n"
    "  list text NOT NULL REFERENCES work_list(name) ON DELETE CASCADE,\n"
    "  probe_cc text NOT NULL, probe_asn integer NOT NULL, chunk integer NOT NULL,\n"
    "  state smallint NOT NULL DEFAULT 0, token text, leased_by text, lease_until timestamptz,\n"
    "  leases integer NOT NULL DEFAULT 0, done_at timestamptz,\n"
    "  UNIQUE (list, probe_cc, probe_asn, chunk));\n"
    "CREATE INDEX IF NOT EXISTS work_lease_open ON work_lease (list, probe_cc, probe_asn, chunk)\n"
    "  WHERE state < 2;\n";

/* ---- helpers --------------------------------------------------------------------------- */

static bool name_ok(const char *s, size_t len) {
  if (!s || len == 0 || len > 64) return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  }
  return true;
}

/* A test-list input: 1..WORK_MAX_INPUT bytes of printable text (no controls, no NUL). */
static bool input_ok(const cs_jval *v) {
  if (!v || v->type != CS_JSTR || v->len == 0 || v->len > WORK_MAX_INPUT) return false;
  for (size_t i = 0; i < v->len; i++)
    if ((unsigned char)v->str[i] < 0x20 || v->str[i] == 0x7f) return false;
  return true;
}

/* Citizen Lab category codes: up to 16 of [A-Z0-9_]. */
static bool category_ok(const cs_jval *v) {
  if (!v || v->type != CS_JSTR || v->len == 0 || v->len > 16) return false;
  for (size_t i = 0; i < v->len; i++) {
    char c = v->str[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

/* Compares in time independent of where the strings differ. */
static bool token_eq(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la != lb) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < la; i++) d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

/* The request's body as a JSON object (bounded by the server's --max-body and our parser's
 * limits), or NULL with the 400 set. */
static const cs_jval *body_obj(cs_arena *a, const cs_coll_req *rq, cs_coll_resp *rs) {
  char err[128];
  cs_json_limits lim = {.max_depth = 8, .max_nodes = 3 * WORK_MAX_ITEMS + 64};
  const cs_jval *v =
      rq->body_len ? cs_json_parse(a, (const char *)rq->body, rq->body_len, &lim, err, sizeof err)
                   : NULL;
  if (!v || v->type != CS_JOBJ) {
    cs_coll_error(rs, 400, "the body must be a JSON object%s%s", v || !rq->body_len ? "" : ": ",
                  v || !rq->body_len ? "" : err);
    return NULL;
  }
  return v;
}

static bool pg_ready(cs_coll_ctx *ctx, cs_coll_resp *rs) {
  if (ctx->pg) return true;
  cs_coll_error(rs, 503, "database unavailable");
  snprintf(rs->retry_after, sizeof rs->retry_after, "10");
  return false;
}

static void db_error(cs_coll_ctx *ctx, cs_coll_resp *rs) {
  cs_coll_error(rs, 503, "database error: %.120s", ctx->pg ? PQerrorMessage(ctx->pg) : "none");
  snprintf(rs->retry_after, sizeof rs->retry_after, "5");
}

/* "AS3269", "3269" or 3269 -> 3269; -1 when not an ASN. */
static int64_t asn_of(const cs_jval *v) {
  if (!v) return -1;
  if (v->type == CS_JNUM) return v->num >= 0 && v->num <= 4294967295.0 ? (int64_t)v->num : -1;
  if (v->type != CS_JSTR) return -1;
  const char *p = v->str;
  if ((p[0] == 'A' || p[0] == 'a') && (p[1] == 'S' || p[1] == 's')) p += 2;
  if (!*p || strlen(p) > 10) return -1;
  int64_t n = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    n = n * 10 + (*p - '0');
  }
  return n <= 4294967295LL ? n : -1;
}

static bool cc_ok(const char *s) {
  return s && strlen(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

/* "<id>-<token>" -> id, token. */
static bool lease_id_parse(const char *s, char *id, size_t idcap, char *token, size_t tokcap) {
  const char *dash = s ? strchr(s, '-') : NULL;
  if (!dash || dash == s || (size_t)(dash - s) >= idcap || (size_t)(dash - s) > 18) return false;
  for (const char *p = s; p < dash; p++)
    if (*p < '0' || *p > '9') return false;
  const char *t = dash + 1;
  size_t tl = strlen(t);
  if (tl != WORK_TOKEN_LEN || tl >= tokcap || !name_ok(t, tl)) return false;
  memcpy(id, s, (size_t)(dash - s));
  id[dash - s] = 0;
  memcpy(token, t, tl + 1);
  return true;
}

static void random_token(char *out) {
  static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  uint8_t r[WORK_TOKEN_LEN];
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) abort(); /* no randomness: no leases */
  for (size_t i = 0; i < sizeof r; i++) out[i] = alnum[r[i] % (sizeof alnum - 1)];
  out[WORK_TOKEN_LEN] = 0;
}

static PGresult *q(PGconn *pg, const char *sql, int n, const char *const *params) {
  return PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
}

/* ---- POST /api/v1/work/lists ------------------------------------------------------------ */

CS_COLL_HANDLER(cs_coll_h_work_lists) {
  const char *tok = ctx->cfg->admin_token;
  if (!tok || !*tok) {
    cs_coll_error(rs, 403, "work lists are disabled: the collector has no --admin-token");
    return;
  }
  const char *auth = cs_coll_header(rq, "Authorization");
  if (!auth || strncmp(auth, "Bearer ", 7) || !token_eq(tok, auth + 7)) {
    cs_coll_error(rs, 401, "admin only: Authorization: Bearer <the collector's admin token>");
    return;
  }
  if (!pg_ready(ctx, rs)) return;
  cs_arena *a = cs_arena_new(0);
  if (!a) {
    cs_coll_error(rs, 500, "out of memory");
    return;
  }
  const cs_jval *v = body_obj(a, rq, rs);
  const cs_jval *name = cs_json_get(v, "name"), *inputs = cs_json_get_arr(v, "inputs");
  int chunk = cs_json_get_int(v, "chunk_size", 100);
  int lease = cs_json_get_int(v, "lease_seconds", 600);
  cs_buf items;
  cs_buf_init(&items, 0);
  if (!v) goto out;
  if (!name || name->type != CS_JSTR || !name_ok(name->str, name->len)) {
    cs_coll_error(rs, 400, "name must be 1-64 of [A-Za-z0-9._-]");
    goto out;
  }
  if (chunk < 1 || chunk > WORK_MAX_CHUNK) {
    cs_coll_error(rs, 400, "chunk_size must be in 1..%d", WORK_MAX_CHUNK);
    goto out;
  }
  if (lease < WORK_MIN_LEASE || lease > WORK_MAX_LEASE) {
    cs_coll_error(rs, 400, "lease_seconds must be in %d..%d", WORK_MIN_LEASE, WORK_MAX_LEASE);
    goto out;
  }
  if (!inputs || inputs->len == 0 || inputs->len > WORK_MAX_ITEMS) {
    cs_coll_error(rs, 400, "inputs must be an array of 1..%d URLs or {input, category_code}",
                  WORK_MAX_ITEMS);
    goto out;
  }
  /* normalised by our writer: [{"input":..,"category_code":..|null}, ...] */
  cs_jw w;
  cs_jw_init(&w, &items);
  cs_jw_arr_open(&w);
  for (size_t i = 0; i < inputs->len; i++) {
    const cs_jval *e = inputs->kids[i], *in = e, *cat = NULL;
    if (e->type == CS_JOBJ) in = cs_json_get(e, "input"), cat = cs_json_get(e, "category_code");
    if (!input_ok(in) || (cat && !cs_json_is_null(cat) && !category_ok(cat))) {
      cs_coll_error(rs, 400,
                    "inputs[%zu]: an input is 1-%d printable bytes, a category_code 1-16 of "
                    "[A-Z0-9_]",
                    i, WORK_MAX_INPUT);
      goto out;
    }
    cs_jw_obj_open(&w);
    cs_jw_key(&w, "input");
    cs_jw_strn(&w, in->str, in->len);
    if (cat && cat->type == CS_JSTR) cs_jw_kstr(&w, "category_code", cat->str);
    else cs_jw_knull(&w, "category_code");
    cs_jw_obj_close(&w);
  }
  cs_jw_arr_close(&w);
  const char *json = cs_buf_cstr(&items);
  if (!json) {
    cs_coll_error(rs, 500, "out of memory");
    goto out;
  }
  char sn[16], sc[16], sl[16], sch[16];
  size_t nchunks = (inputs->len + (size_t)chunk - 1) / (size_t)chunk;
  snprintf(sn, sizeof sn, "%zu", inputs->len);
  snprintf(sc, sizeof sc, "%d", chunk);
  snprintf(sl, sizeof sl, "%d", lease);
  snprintf(sch, sizeof sch, "%zu", nchunks);
  PGresult *r = PQexec(ctx->pg, "BEGIN");
  bool ok = cs_coll_pg_ok(r);
  PQclear(r);
  if (!ok) {
    db_error(ctx, rs);
    goto out;
  }
  const char *p1[] = {name->str, sc, sn, sch, sl};
  r = q(ctx->pg,
        "INSERT INTO work_list (name, chunk_size, nitems, nchunks, lease_s)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        5, p1);
  ok = cs_coll_pg_ok(r);
  bool exists = ok && !strcmp(PQcmdTuples(r), "0");
  PQclear(r);
  if (ok && !exists) {
    const char *p2[] = {name->str, sc, json};
    r = q(ctx->pg,
          "INSERT INTO work_item (list, idx, chunk, input, category_code)"
          " SELECT $1, (t.o - 1)::integer, ((t.o - 1) / $2::integer)::integer, t.e->>'input',"
          " t.e->>'category_code' FROM json_array_elements($3::json) WITH ORDINALITY AS t(e, o)",
          3, p2);
    ok = cs_coll_pg_ok(r);
    PQclear(r);
  }
  r = PQexec(ctx->pg, ok && !exists ? "COMMIT" : "ROLLBACK");
  ok = ok && cs_coll_pg_ok(r);
  PQclear(r);
  if (exists) {
    cs_coll_error(rs, 409, "a work list named %s exists (lists are immutable: use a new name)",
                  name->str);
    goto out;
  }
  if (!ok) {
    db_error(ctx, rs);
    goto out;
  }
  rs->status = 201;
  cs_jw_init(&w, &rs->body);
  cs_jw_obj_open(&w);
  cs_jw_kstr(&w, "name", name->str);
  cs_jw_kint(&w, "items", (int64_t)inputs->len);
  cs_jw_kint(&w, "chunks", (int64_t)nchunks);
  cs_jw_kint(&w, "chunk_size", chunk);
  cs_jw_kint(&w, "lease_seconds", lease);
  cs_jw_obj_close(&w);
out:
  cs_buf_free(&items);
  cs_arena_free(a);
}

/* ---- POST /api/v1/work/claim ------------------------------------------------------------- */

CS_COLL_HANDLER(cs_coll_h_work_claim) {
  if (!pg_ready(ctx, rs)) return;
  cs_arena *a = cs_arena_new(0);
  if (!a) {
    cs_coll_error(rs, 500, "out of memory");
    return;
  }
  const cs_jval *v = body_obj(a, rq, rs);
  const cs_jval *lv = cs_json_get(v, "list");
  const char *cc = cs_json_get_str(v, "probe_cc", NULL);
  int64_t asn = asn_of(cs_json_get(v, "probe_asn"));
  const char *ps = cs_coll_header(rq, "X-Censorscope-Probe-Set");
  PGresult *r = NULL;
  if (!v) goto out;
  if (!lv || lv->type != CS_JSTR || !name_ok(lv->str, lv->len)) {
    cs_coll_error(rs, 400, "list must be 1-64 of [A-Za-z0-9._-]");
    goto out;
  }
  if (!cc_ok(cc) || !strcmp(cc, "ZZ") || asn <= 0) {
    cs_coll_error(rs, 400,
                  "probe_cc (2 capital letters, not ZZ) and probe_asn (AS1..) are the"
                  " lease's scope");
    goto out;
  }
  if (ps && !cs_coll_probe_set_ok(ps)) {
    cs_coll_error(rs, 400, "X-Censorscope-Probe-Set is not [A-Za-z0-9._-]{0,64}");
    goto out;
  }
  char sasn[24];
  snprintf(sasn, sizeof sasn, "%lld", (long long)asn);
  const char *p1[] = {lv->str};
  r = q(ctx->pg, "SELECT nchunks, lease_s FROM work_list WHERE name=$1", 1, p1);
  if (!cs_coll_pg_ok(r)) {
    db_error(ctx, rs);
    goto out;
  }
  if (PQntuples(r) != 1) {
    cs_coll_error(rs, 404, "no work list named %s", lv->str);
    goto out;
  }
  char nchunks[16], lease_s[16];
  snprintf(nchunks, sizeof nchunks, "%s", cs_coll_pg_value(r, 0, 0));
  snprintf(lease_s, sizeof lease_s, "%s", cs_coll_pg_value(r, 0, 1));
  PQclear(r);
  /* the scope's lease rows, once (concurrent first claims: ON CONFLICT) */
  const char *p2[] = {lv->str, cc, sasn, nchunks};
  r = q(ctx->pg,
        "INSERT INTO work_lease (list, probe_cc, probe_asn, chunk)"
        " SELECT $1, $2, $3::integer, g FROM generate_series(0, $4::integer - 1) g"
        " WHERE NOT EXISTS (SELECT 1 FROM work_lease WHERE list=$1 AND probe_cc=$2 AND"
        " probe_asn=$3::integer) ON CONFLICT DO NOTHING",
        4, p2);
  if (!cs_coll_pg_ok(r)) {
    db_error(ctx, rs);
    goto out;
  }
  PQclear(r);
  char token[WORK_TOKEN_LEN + 1];
  random_token(token);
  const char *p3[] = {lv->str, cc, sasn, token, ps ? ps : "", lease_s};
  r = q(ctx->pg,
        "WITH c AS (SELECT id FROM work_lease WHERE list=$1 AND probe_cc=$2 AND"
        " probe_asn=$3::integer AND (state=0 OR (state=1 AND lease_until < now()))"
        " ORDER BY chunk LIMIT 1 FOR UPDATE SKIP LOCKED)"
        " UPDATE work_lease w SET state=1, token=$4, leased_by=$5,"
        " lease_until=now() + make_interval(secs => $6::integer), leases=w.leases+1"
        " FROM c WHERE w.id=c.id RETURNING w.id, w.chunk",
        6, p3);
  if (!cs_coll_pg_ok(r)) {
    db_error(ctx, rs);
    goto out;
  }
  cs_jw w;
  cs_jw_init(&w, &rs->body);
  if (PQntuples(r) == 0) { /* nothing free: all done, or wait for a lease to end */
    PQclear(r);
    const char *p4[] = {lv->str, cc, sasn};
    r = q(ctx->pg,
          "SELECT count(*) FILTER (WHERE state<2),"
          " ceil(coalesce(min(extract(epoch FROM lease_until - now())) FILTER (WHERE state=1),"
          " 1)) FROM work_lease WHERE list=$1 AND probe_cc=$2 AND probe_asn=$3::integer",
          3, p4);
    if (!cs_coll_pg_ok(r) || PQntuples(r) != 1) {
      db_error(ctx, rs);
      goto out;
    }
    long open = strtol(cs_coll_pg_value(r, 0, 0), NULL, 10);
    long wait = strtol(cs_coll_pg_value(r, 0, 1), NULL, 10);
    cs_jw_obj_open(&w);
    cs_jw_knull(&w, "lease_id");
    cs_jw_kstr(&w, "list", lv->str);
    cs_jw_kbool(&w, "done", open == 0);
    if (open) cs_jw_kint(&w, "retry_after", wait < 1 ? 1 : wait > 60 ? 60 : wait);
    cs_jw_obj_close(&w);
    goto out;
  }
  char id[32], chunk[16];
  snprintf(id, sizeof id, "%s", cs_coll_pg_value(r, 0, 0));
  snprintf(chunk, sizeof chunk, "%s", cs_coll_pg_value(r, 0, 1));
  PQclear(r);
  const char *p5[] = {lv->str, chunk};
  r = q(ctx->pg,
        "SELECT input, category_code FROM work_item WHERE list=$1 AND chunk=$2::integer"
        " ORDER BY idx",
        2, p5);
  if (!cs_coll_pg_ok(r)) {
    db_error(ctx, rs);
    goto out;
  }
  char lid[64];
  snprintf(lid, sizeof lid, "%s-%s", id, token);
  cs_jw_obj_open(&w);
  cs_jw_kstr(&w, "lease_id", lid);
  cs_jw_kstr(&w, "list", lv->str);
  cs_jw_kint(&w, "chunk", strtol(chunk, NULL, 10));
  cs_jw_kint(&w, "lease_seconds", strtol(lease_s, NULL, 10));
  cs_jw_key(&w, "inputs");
  cs_jw_arr_open(&w);
  for (int i = 0; i < PQntuples(r); i++) {
    cs_jw_obj_open(&w);
    cs_jw_kstr(&w, "input", cs_coll_pg_value(r, i, 0));
    if (PQgetisnull(r, i, 1)) cs_jw_knull(&w, "category_code");
    else cs_jw_kstr(&w, "category_code", cs_coll_pg_value(r, i, 1));
    cs_jw_obj_close(&w);
  }
  cs_jw_arr_close(&w);
  cs_jw_obj_close(&w);
out:
  PQclear(r);
  cs_arena_free(a);
}

/* ---- POST /api/v1/work/{lease_id}/heartbeat and /done ------------------------------------ */

static bool lease_of(const cs_coll_req *rq, cs_coll_resp *rs, char *id, size_t idcap, char *token,
                     size_t tokcap) {
  if (rq->ncap < 1 || !lease_id_parse(rq->cap[0], id, idcap, token, tokcap)) {
    cs_coll_error(rs, 400, "a lease_id is <digits>-<%d of [A-Za-z0-9]>", WORK_TOKEN_LEN);
    return false;
  }
  return true;
}

CS_COLL_HANDLER(cs_coll_h_work_heartbeat) {
  char id[24], token[WORK_TOKEN_LEN + 1];
  if (!lease_of(rq, rs, id, sizeof id, token, sizeof token) || !pg_ready(ctx, rs)) return;
  const char *p[] = {id, token};
  PGresult *r = q(ctx->pg,
                  "UPDATE work_lease w SET lease_until=now() + make_interval(secs => l.lease_s)"
                  " FROM work_list l WHERE l.name=w.list AND w.id=$1::bigint AND w.token=$2"
                  " AND w.state=1 RETURNING l.lease_s",
                  2, p);
  if (!cs_coll_pg_ok(r)) db_error(ctx, rs);
  else if (PQntuples(r) != 1)
    cs_coll_error(rs, 409,
                  "lease lost: it was re-leased to another probe after expiring, or is"
                  " done");
  else cs_buf_printf(&rs->body, "{\"lease_seconds\":%s}", cs_coll_pg_value(r, 0, 0));
  PQclear(r);
}

CS_COLL_HANDLER(cs_coll_h_work_done) {
  char id[24], token[WORK_TOKEN_LEN + 1];
  if (!lease_of(rq, rs, id, sizeof id, token, sizeof token) || !pg_ready(ctx, rs)) return;
  const char *p[] = {id, token};
  /* idempotent for its holder: a retried done (lost answer) finds state 2 with its token */
  PGresult *r = q(ctx->pg,
                  "UPDATE work_lease SET state=2, done_at=coalesce(done_at, now()),"
                  " lease_until=NULL WHERE id=$1::bigint AND token=$2 AND state IN (1, 2)"
                  " RETURNING chunk",
                  2, p);
  if (!cs_coll_pg_ok(r)) db_error(ctx, rs);
  else if (PQntuples(r) != 1)
    cs_coll_error(rs, 409, "lease lost: it was re-leased to another probe after expiring");
  else cs_buf_puts(&rs->body, "{}");
  PQclear(r);
}
