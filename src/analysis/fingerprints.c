/* fingerprints.c - loads and matches blockpage / DNS fingerprints (see fingerprints.h).
 *
 * Sources (data/fingerprints/README.md):
 *   ooni_fingerprints_{dns,http}.csv            ooni/blocking-fingerprints: name, scope, other_names,
 *                                               location_found (dns | body | header.<name>),
 *                                               pattern_type (full | prefix | contains | regexp), ...
 *   citizenlab_filtering_annotations_{dns,http}.csv   Citizen Lab: dns (response = IP), http
 *                                               (pattern, location_found body | header: contains)
 *   censoredplanet_{blockpage,false_positive}_signatures.json   JSON lines {fingerprint, pattern},
 *                                               PCRE over the whole response (headers + body);
 *                                               false positives are matched first (CP README).
 * Matching mirrors ooni/backend fastpath (body / header.<name> / dns answer). Regular
 * expressions are compiled once at load with PCRE2 (JIT when available) and run with match
 * and depth limits, so hostile bodies cannot make a match run away. */
#include "analysis/fingerprints.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analysis/csv.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/ipnet.h"
#include "util/json.h"

#define FP_MAX_FILE (16u << 20)   /* refuse bigger fingerprint files */
#define FP_MAX_ENTRIES 100000
#define FP_MATCH_LIMIT 200000
#define FP_DEPTH_LIMIT 5000

typedef enum { PT_FULL, PT_PREFIX, PT_CONTAINS, PT_REGEXP } pattern_type;
typedef enum {
  LOC_BODY,     /* response body */
  LOC_HEADER,   /* value of header <hname> */
  LOC_ANY_HDR,  /* any "Name: value" header line (Citizen Lab "header") */
  LOC_RESPONSE, /* header lines + body (Censored Planet) */
  LOC_DNS       /* a DNS answer */
} location;

typedef struct {
  cs_fp_match m;
  pattern_type pt;
  location loc;
  const char *hname;
  const char *pat;
  size_t patlen;
  pcre2_code *re;
  bool cp_origin; /* a Censored Planet signature (discarded when a CP false positive matches) */
} fp;

struct cs_fp_db {
  cs_arena *a;
  fp *v;
  size_t n, cap;
  /* Index of the literal "contains" patterns (>= 2 bytes) by their first two bytes, so one
   * pass over a body finds every literal pattern in it instead of one memmem per pattern
   * (CSR layout: ids of the patterns starting with bigram b are bg_ids[bg_off[b]..bg_off[b+1])). */
  uint32_t *bg_off, *bg_ids;
  pcre2_match_context *mctx;
  size_t nbad; /* patterns that did not compile */
};

/* ---- classification ---------------------------------------------------------------------- */

/* Subscriber opt-in filters (not state censorship): Nayatel Safeweb / Surf Safely, PK. */
static const char *const optin_names[] = {
    "isp_pk_nayatel_block_optin", "dns_isp_pk_nayatel_safeweb", "dns_isp_pk_nayatel_surfsafely",
    "ooni.pk_2", "ooni.pk_3", "ooni.pk_4"};

static bool name_is_optin(const char *name) {
  if (!name) return false;
  if (!strncmp(name, "cl.", 3) || !strncmp(name, "cp.", 3)) name += 3;
  for (size_t i = 0; i < sizeof optin_names / sizeof *optin_names; i++)
    if (!strcmp(name, optin_names[i])) return true;
  return strstr(name, "optin") != NULL;
}

/* other_names is a comma-separated list */
static bool any_optin(const char *list) {
  char tmp[256];
  if (!list) return false;
  while (*list) {
    size_t l = strcspn(list, ", ");
    if (l && l < sizeof tmp) {
      memcpy(tmp, list, l);
      tmp[l] = 0;
      if (name_is_optin(tmp)) return true;
    }
    list += l;
    while (*list == ',' || *list == ' ') list++;
  }
  return false;
}

static cs_fp_kind kind_of_scope(const char *scope) {
  if (!scope) return CS_FP_KIND_WEAK;
  if (!strcmp(scope, "nat") || !strcmp(scope, "isp") || !strcmp(scope, "prod") || !strcmp(scope, "inst"))
    return CS_FP_KIND_CENSORSHIP;
  if (!strcmp(scope, "fp")) return CS_FP_KIND_FALSE_POSITIVE;
  if (!strcmp(scope, "injb") || !strcmp(scope, "prov")) return CS_FP_KIND_BENIGN;
  return CS_FP_KIND_WEAK; /* vbw, br, unknown */
}

/* Censored Planet names: a_prod, b_nat, c_isp, d_corp, e_unk, f_gen (README order). */
static const char *cp_scope(const char *name) {
  static const struct {
    const char *prefix, *scope;
  } t[] = {{"a_", "prod"}, {"b_", "nat"}, {"c_", "isp"}, {"d_", "inst"}, {"e_", "unk"}, {"f_", "gen"}};
  for (size_t i = 0; i < sizeof t / sizeof *t; i++)
    if (!strncmp(name, t[i].prefix, 2)) return t[i].scope;
  return "";
}

const char *cs_fp_kind_str(cs_fp_kind k) {
  switch (k) {
  case CS_FP_KIND_CENSORSHIP: return "censorship";
  case CS_FP_KIND_OPTIN: return "optin";
  case CS_FP_KIND_WEAK: return "weak";
  case CS_FP_KIND_BENIGN: return "benign";
  default: return "false_positive";
  }
}

/* ---- building ---------------------------------------------------------------------------- */

static fp *add(cs_fp_db *db) {
  if (db->n >= FP_MAX_ENTRIES) return NULL;
  if (db->n == db->cap) {
    size_t ncap = db->cap ? db->cap * 2 : 1024;
    fp *nv = realloc(db->v, ncap * sizeof *nv);
    if (!nv) return NULL;
    db->v = nv;
    db->cap = ncap;
  }
  fp *f = &db->v[db->n++];
  memset(f, 0, sizeof *f);
  return f;
}

static const char *dup(cs_fp_db *db, const char *s) {
  const char *d = cs_arena_strdup(db->a, s ? s : "");
  return d ? d : "";
}

/* "['PK', 'IN']" or "PK,IN" -> "PK,IN" */
static const char *countries(cs_fp_db *db, const char *s) {
  char out[512];
  size_t o = 0;
  for (const char *p = s ? s : ""; *p && o + 2 < sizeof out; p++) {
    char ch = *p;
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')) out[o++] = (char)(ch & ~0x20);
    else if (ch == ',' && o && out[o - 1] != ',') out[o++] = ',';
  }
  while (o && out[o - 1] == ',') o--;
  out[o] = 0;
  return dup(db, out);
}

/* A PCRE pattern without any metacharacter matches exactly its own bytes. */
static bool is_literal(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strchr("\\^$.|?*+()[]{}", p[i]) || p[i] == 0) return false;
  return true;
}

static bool indexed(const fp *f) { return f->pt == PT_CONTAINS && f->patlen >= 2 && f->loc != LOC_DNS; }

static int build_index(cs_fp_db *db) {
  db->bg_off = calloc(65537, sizeof *db->bg_off);
  size_t total = 0;
  for (size_t i = 0; i < db->n; i++) total += indexed(&db->v[i]);
  db->bg_ids = malloc((total ? total : 1) * sizeof *db->bg_ids);
  if (!db->bg_off || !db->bg_ids) return -1;
  for (size_t i = 0; i < db->n; i++)
    if (indexed(&db->v[i])) {
      const uint8_t *p = (const uint8_t *)db->v[i].pat;
      db->bg_off[((unsigned)p[0] << 8 | p[1]) + 1]++;
    }
  for (size_t b = 0; b < 65536; b++) db->bg_off[b + 1] += db->bg_off[b];
  uint32_t *fill = calloc(65536, sizeof *fill);
  if (!fill) return -1;
  for (size_t i = 0; i < db->n; i++)
    if (indexed(&db->v[i])) {
      const uint8_t *p = (const uint8_t *)db->v[i].pat;
      unsigned b = (unsigned)p[0] << 8 | p[1];
      db->bg_ids[db->bg_off[b] + fill[b]++] = (uint32_t)i;
    }
  free(fill);
  return 0;
}

/* Sets bit i of hits for every indexed pattern i found in s[0..n). */
static void literal_hits(const cs_fp_db *db, const uint8_t *s, size_t n, uint8_t *hits) {
  for (size_t i = 0; i + 1 < n; i++) {
    unsigned b = (unsigned)s[i] << 8 | s[i + 1];
    for (uint32_t k = db->bg_off[b]; k < db->bg_off[b + 1]; k++) {
      uint32_t id = db->bg_ids[k];
      const fp *f = &db->v[id];
      if (!(hits[id >> 3] & (1u << (id & 7))) && f->patlen <= n - i &&
          !memcmp(s + i, f->pat, f->patlen))
        hits[id >> 3] |= (uint8_t)(1u << (id & 7));
    }
  }
}

static bool compile(cs_fp_db *db, fp *f, const char *pattern, size_t len) {
  int errc;
  PCRE2_SIZE erroff;
  f->re = pcre2_compile((PCRE2_SPTR)pattern, len, 0, &errc, &erroff, NULL);
  if (!f->re) {
    db->nbad++;
    return false;
  }
  (void)pcre2_jit_compile(f->re, PCRE2_JIT_COMPLETE); /* best effort */
  return true;
}

static void set_kind(fp *f, cs_fp_kind k) {
  f->m.kind = k;
  if (k != CS_FP_KIND_FALSE_POSITIVE && name_is_optin(f->m.name)) f->m.kind = CS_FP_KIND_OPTIN;
  f->m.optin = f->m.kind == CS_FP_KIND_OPTIN;
}

/* Column index by header name, or -1. */
static int col(const char **hdr, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(hdr[i], name)) return (int)i;
  return -1;
}

typedef enum { F_OONI_DNS, F_OONI_HTTP, F_CL_DNS, F_CL_HTTP } csv_kind;

static int load_csv(cs_fp_db *db, const char *text, size_t len, csv_kind kind) {
  if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) text += 3, len -= 3; /* UTF-8 BOM */
  cs_csv c;
  cs_csv_init(&c, text, len);
  const char *fields[CS_CSV_MAX_FIELDS];
  size_t nf;
  if (cs_csv_next(&c, fields, &nf) != 1) {
    cs_csv_free(&c);
    return -1;
  }
  /* copy the header names: fields[] is reused by the next record */
  const char *hdr[CS_CSV_MAX_FIELDS];
  size_t nh = nf;
  for (size_t i = 0; i < nf; i++) hdr[i] = dup(db, fields[i]);
  int c_name = col(hdr, nh, "name"), c_scope = col(hdr, nh, "scope"), c_loc = col(hdr, nh, "location_found"),
      c_pt = col(hdr, nh, "pattern_type"), c_pat = col(hdr, nh, "pattern"),
      c_cc = col(hdr, nh, "expected_countries"), c_other = col(hdr, nh, "other_names"),
      c_resp = col(hdr, nh, "response");
  if (c_name < 0 || (kind == F_CL_DNS ? c_resp < 0 : c_pat < 0)) {
    cs_csv_free(&c);
    return -1;
  }
  int rc;
  while ((rc = cs_csv_next(&c, fields, &nf)) == 1) {
#define FIELD(i) ((i) >= 0 && (size_t)(i) < nf ? fields[i] : "")
    const char *pat = kind == F_CL_DNS ? FIELD(c_resp) : FIELD(c_pat);
    if (!*pat || !*FIELD(c_name)) continue;
    fp *f = add(db);
    if (!f) break;
    f->m.name = dup(db, FIELD(c_name));
    f->m.scope = dup(db, FIELD(c_scope));
    f->m.expected_countries = countries(db, FIELD(c_cc));
    f->m.source = (kind == F_OONI_DNS || kind == F_OONI_HTTP) ? "ooni" : "citizenlab";
    f->cp_origin = !strncmp(f->m.name, "cp.", 3);
    f->pat = dup(db, pat);
    f->patlen = strlen(f->pat);
    const char *loc = kind == F_CL_DNS ? "dns" : FIELD(c_loc);
    const char *pt = kind == F_OONI_DNS || kind == F_OONI_HTTP ? FIELD(c_pt) : kind == F_CL_DNS ? "full" : "contains";
    f->m.location = dup(db, loc);
    if (!strcmp(loc, "dns")) f->loc = LOC_DNS;
    else if (!strcmp(loc, "body")) f->loc = LOC_BODY;
    else if (!strncmp(loc, "header.", 7) && loc[7]) f->loc = LOC_HEADER, f->hname = f->m.location + 7;
    else if (!strcmp(loc, "header")) f->loc = LOC_ANY_HDR;
    else {
      db->n--; /* unknown location */
      continue;
    }
    if (!strcmp(pt, "full")) f->pt = PT_FULL;
    else if (!strcmp(pt, "prefix")) f->pt = PT_PREFIX;
    else if (!strcmp(pt, "contains")) f->pt = PT_CONTAINS;
    else if (!strcmp(pt, "regexp")) {
      f->pt = PT_REGEXP;
      if (!compile(db, f, f->pat, f->patlen)) {
        db->n--;
        continue;
      }
    } else {
      db->n--;
      continue;
    }
    set_kind(f, kind_of_scope(f->m.scope));
    if (any_optin(FIELD(c_other)) && f->m.kind != CS_FP_KIND_FALSE_POSITIVE)
      f->m.kind = CS_FP_KIND_OPTIN, f->m.optin = true;
#undef FIELD
  }
  cs_csv_free(&c);
  return rc < 0 ? -1 : 0;
}

static int load_cp(cs_fp_db *db, const char *text, size_t len, bool false_positive) {
  size_t off = 0;
  int bad = 0;
  cs_json_limits lim = {.max_depth = 4, .max_nodes = 64};
  while (off < len) {
    const char *nl = memchr(text + off, '\n', len - off);
    size_t l = nl ? (size_t)(nl - (text + off)) : len - off;
    const char *line = text + off;
    off += l + (nl ? 1 : 0);
    size_t k = 0;
    while (k < l && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) k++;
    if (k == l) continue;
    cs_arena *tmp = cs_arena_new(1u << 20);
    if (!tmp) return -1;
    char err[64];
    const cs_jval *o = cs_json_parse(tmp, line, l, &lim, err, sizeof err);
    const char *name = cs_json_get_str(o, "fingerprint", NULL), *pat = cs_json_get_str(o, "pattern", NULL);
    const cs_jval *pv = cs_json_get(o, "pattern");
    if (!name || !pat || !*pat) {
      bad++;
      cs_arena_free(tmp);
      continue;
    }
    fp *f = add(db);
    if (!f) {
      cs_arena_free(tmp);
      break;
    }
    f->m.name = dup(db, name);
    f->m.source = false_positive ? "censoredplanet-fp" : "censoredplanet";
    f->m.scope = false_positive ? "fp" : cp_scope(name);
    f->m.expected_countries = "";
    f->m.location = "response";
    f->loc = LOC_RESPONSE;
    f->pt = PT_REGEXP;
    f->cp_origin = true;
    f->pat = cs_arena_memdup(db->a, pat, pv->len + 1);
    f->patlen = pv->len;
    cs_arena_free(tmp);
    if (!f->pat || !compile(db, f, f->pat, f->patlen)) {
      db->n--;
      continue;
    }
    if (is_literal(f->pat, f->patlen)) { /* same match, found by the literal index */
      pcre2_code_free(f->re);
      f->re = NULL;
      f->pt = PT_CONTAINS;
    }
    cs_fp_kind kind = false_positive ? CS_FP_KIND_FALSE_POSITIVE
                      : !strcmp(f->m.scope, "gen") ? CS_FP_KIND_WEAK
                                                   : CS_FP_KIND_CENSORSHIP;
    set_kind(f, kind);
  }
  (void)bad;
  return 0;
}

static char *slurp(const char *path, size_t *len) {
  FILE *fh = fopen(path, "rb");
  if (!fh) return NULL;
  cs_buf b;
  cs_buf_init(&b, FP_MAX_FILE);
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, fh)) > 0)
    if (cs_buf_append(&b, chunk, n)) break;
  bool bad = ferror(fh) || b.overflow;
  fclose(fh);
  if (bad || !cs_buf_cstr(&b)) {
    cs_buf_free(&b);
    return NULL;
  }
  *len = b.len;
  return (char *)b.data; /* NUL-terminated by cs_buf_cstr */
}

cs_fp_db *cs_fp_db_load(const char *dir, char *err, size_t errlen) {
  if (!dir) dir = getenv("CS_FINGERPRINTS_DIR");
  if (!dir || !*dir) dir = "data/fingerprints";
  cs_fp_db *db = calloc(1, sizeof *db);
  if (!db || !(db->a = cs_arena_new(0)) || !(db->mctx = pcre2_match_context_create(NULL))) {
    if (errlen) snprintf(err, errlen, "out of memory");
    cs_fp_db_free(db);
    return NULL;
  }
  pcre2_set_match_limit(db->mctx, FP_MATCH_LIMIT);
  pcre2_set_depth_limit(db->mctx, FP_DEPTH_LIMIT);
  static const struct {
    const char *file;
    int kind; /* csv_kind, or 10 = CP blockpages, 11 = CP false positives */
  } files[] = {
      {"ooni_fingerprints_dns.csv", F_OONI_DNS},
      {"ooni_fingerprints_http.csv", F_OONI_HTTP},
      {"citizenlab_filtering_annotations_dns.csv", F_CL_DNS},
      {"citizenlab_filtering_annotations_http.csv", F_CL_HTTP},
      {"censoredplanet_false_positive_signatures.json", 11},
      {"censoredplanet_blockpage_signatures.json", 10},
  };
  size_t loaded = 0;
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, files[i].file);
    size_t len;
    char *text = slurp(path, &len);
    if (!text) continue;
    int rc = files[i].kind >= 10 ? load_cp(db, text, len, files[i].kind == 11)
                                 : load_csv(db, text, len, (csv_kind)files[i].kind);
    free(text);
    if (rc == 0) loaded++;
    else if (errlen) snprintf(err, errlen, "%s: malformed", path);
  }
  if (!loaded) {
    if (errlen) snprintf(err, errlen, "no fingerprint file could be read in %s", dir);
    cs_fp_db_free(db);
    return NULL;
  }
  if (build_index(db) < 0) {
    if (errlen) snprintf(err, errlen, "out of memory");
    cs_fp_db_free(db);
    return NULL;
  }
  return db;
}

void cs_fp_db_free(cs_fp_db *db) {
  if (!db) return;
  for (size_t i = 0; i < db->n; i++) pcre2_code_free(db->v[i].re);
  free(db->v);
  pcre2_match_context_free(db->mctx);
  free(db->bg_off);
  free(db->bg_ids);
  cs_arena_free(db->a);
  free(db);
}

size_t cs_fp_db_count(const cs_fp_db *db) { return db ? db->n : 0; }

/* ---- matching ---------------------------------------------------------------------------- */

/* One haystack (the body, the header lines, or both): its literal hits are computed once,
 * on first use. */
typedef struct {
  const uint8_t *s;
  size_t n;
  uint8_t *hits; /* NULL until computed */
  bool ok;
} hay;

static bool match_bytes(const cs_fp_db *db, const fp *f, hay *h, pcre2_match_data *md) {
  const uint8_t *s = h->s ? h->s : (const uint8_t *)"";
  size_t n = h->s ? h->n : 0;
  switch (f->pt) {
  case PT_FULL: return n == f->patlen && !memcmp(s, f->pat, n);
  case PT_PREFIX: return n >= f->patlen && !memcmp(s, f->pat, f->patlen);
  case PT_CONTAINS:
    if (!indexed(f)) return f->patlen && memmem(s, n, f->pat, f->patlen) != NULL;
    if (!h->hits) {
      h->hits = calloc(db->n / 8 + 1, 1);
      if (!h->hits) return f->patlen && memmem(s, n, f->pat, f->patlen) != NULL;
      literal_hits(db, s, n, h->hits);
    }
    {
      size_t id = (size_t)(f - db->v);
      return (h->hits[id >> 3] >> (id & 7)) & 1;
    }
  case PT_REGEXP:
    if (!f->re || !md) return false;
    return pcre2_match(f->re, s, n, 0, 0, md, db->mctx) >= 0;
  }
  return false;
}

static void better(const fp *f, cs_fp_match *best, bool *found) {
  if (!*found || f->m.kind < best->kind) {
    *best = f->m;
    *found = true;
  }
}

bool cs_fp_match_http(const cs_fp_db *db, const cs_fp_http *r, cs_fp_match *out) {
  if (!db || !r) return false;
  /* "Name: value\r\n" lines, then (for CP) a blank line and the body */
  cs_buf head;
  cs_buf_init(&head, 1u << 20);
  for (size_t i = 0; i < r->nheaders; i++)
    cs_buf_printf(&head, "%s: %s\r\n", r->hnames[i] ? r->hnames[i] : "", r->hvalues[i] ? r->hvalues[i] : "");
  size_t headlen = head.len;
  cs_buf whole;
  cs_buf_init(&whole, 0);
  bool whole_ok = !cs_buf_append(&whole, head.data, head.len) && !cs_buf_puts(&whole, "\r\n") &&
                  (!r->body_len || !cs_buf_append(&whole, r->body, r->body_len));
  pcre2_match_data *md = pcre2_match_data_create(1, NULL);
  hay body = {r->body, r->body_len, NULL, true}, all = {whole.data, whole.len, NULL, whole_ok},
      hdrs = {head.data, headlen, NULL, true};

  bool fp_found = false, found = false;
  cs_fp_match fpm, best;
  /* pass 1: false positives (Censored Planet README: match these first) */
  for (size_t i = 0; i < db->n; i++) {
    const fp *f = &db->v[i];
    if (f->m.kind != CS_FP_KIND_FALSE_POSITIVE || f->loc == LOC_DNS) continue;
    bool hit = false;
    if (f->loc == LOC_RESPONSE) hit = all.ok && match_bytes(db, f, &all, md);
    else if (f->loc == LOC_BODY) hit = match_bytes(db, f, &body, md);
    if (hit) {
      better(f, &fpm, &fp_found);
      break;
    }
  }
  /* pass 2: everything else */
  for (size_t i = 0; i < db->n; i++) {
    const fp *f = &db->v[i];
    if (f->m.kind == CS_FP_KIND_FALSE_POSITIVE || f->loc == LOC_DNS) continue;
    if (fp_found && f->cp_origin) continue; /* a CP false positive vetoes CP signatures */
    if (found && f->m.kind >= best.kind) continue;
    bool hit = false;
    switch (f->loc) {
    case LOC_BODY: hit = match_bytes(db, f, &body, md); break;
    case LOC_RESPONSE: hit = all.ok && match_bytes(db, f, &all, md); break;
    case LOC_ANY_HDR: hit = match_bytes(db, f, &hdrs, md); break;
    case LOC_HEADER:
      for (size_t k = 0; k < r->nheaders && !hit; k++)
        if (r->hnames[k] && !strcasecmp(r->hnames[k], f->hname) && r->hvalues[k]) {
          hay v = {(const uint8_t *)r->hvalues[k], strlen(r->hvalues[k]), NULL, true};
          hit = match_bytes(db, f, &v, md);
          free(v.hits);
        }
      break;
    default: break;
    }
    if (hit) better(f, &best, &found);
  }
  free(body.hits);
  free(all.hits);
  free(hdrs.hits);
  pcre2_match_data_free(md);
  cs_buf_free(&head);
  cs_buf_free(&whole);
  if (found) *out = best;
  else if (fp_found) *out = fpm;
  return found || fp_found;
}

bool cs_fp_match_dns(const cs_fp_db *db, const char *answer, cs_fp_match *out) {
  if (!db || !answer) return false;
  cs_ip a;
  bool is_ip = cs_ip_parse(answer, &a);
  bool found = false;
  for (size_t i = 0; i < db->n; i++) {
    const fp *f = &db->v[i];
    if (f->loc != LOC_DNS) continue;
    bool hit = !strcmp(f->pat, answer);
    if (!hit && is_ip) {
      cs_ip b;
      hit = cs_ip_parse(f->pat, &b) && b.family == a.family && !memcmp(a.b, b.b, a.family == AF_INET ? 4 : 16);
    }
    if (hit) better(f, out, &found);
  }
  return found;
}

bool cs_fp_country_ok(const cs_fp_match *m, const char *cc) {
  if (!m->expected_countries || !*m->expected_countries || !cc || !*cc || !strcmp(cc, "ZZ")) return true;
  size_t l = strlen(cc);
  for (const char *p = m->expected_countries; *p;) {
    size_t k = strcspn(p, ",");
    if (k == l && !strncasecmp(p, cc, l)) return true;
    p += k;
    if (*p == ',') p++;
  }
  return false;
}
