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
 * Matching mirrors ooni/backend fastpath (body / header.<name> / dns answer). Literal
 * patterns are found in one pass over a haystack by a gram index (build_index). Regular
 * expressions are compiled once at load with PCRE2 and run with match and depth limits, so
 * hostile bodies cannot make a match run away, and only on haystacks that contain the
 * literal every match needs (cs_fp_required_literal), so most never run at all. */
#include "analysis/fingerprints.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/csv.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/ipnet.h"
#include "util/json.h"

#define FP_MAX_FILE (16u << 20) /* refuse bigger fingerprint files */
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
  /* Bytes every match must contain, found by the literal index: the pattern itself for
   * "contains", the required literal of a regular expression (NULL: none proven). A regular
   * expression whose literal is absent from a haystack is not run on it. */
  const char *lit;
  size_t litlen;
  cs_ip ip; /* LOC_DNS: the pattern as an address (when has_ip) */
  bool has_ip;
  bool cp_origin; /* a Censored Planet signature (discarded when a CP false positive matches) */
} fp;

/* The literal index maps each 4-byte window ("gram") chosen for a literal to the patterns
 * that contain it at a known offset; a 65536-bit filter skips almost every text position
 * without a table lookup. */
#define GRAM 4
#define MAX_WINDOWS 512 /* windows of a long literal considered for its gram */
typedef struct {
  uint32_t gram, start, count; /* count 0: empty slot */
} gram_slot;
typedef struct {
  uint32_t id, off; /* pattern, offset of the gram in its literal */
} gram_ent;

struct cs_fp_db {
  cs_arena *a;
  fp *v;
  size_t n, cap;
  /* One pass over a haystack finds every indexed literal in it (instead of one memmem per
   * pattern): Wu-Manber-like, each literal is filed under its rarest gram. */
  uint64_t filter[65536 / 64];
  gram_slot *slots;
  uint32_t slot_bits;
  gram_ent *ents;
  pcre2_match_context *mctx;
  size_t nbad; /* patterns that did not compile */
};

/* ---- classification ---------------------------------------------------------------------- */

/* Subscriber opt-in filters (not state censorship): Nayatel Safeweb / Surf Safely, PK. */
static const char *const optin_names[] = {"isp_pk_nayatel_block_optin",
                                          "dns_isp_pk_nayatel_safeweb",
                                          "dns_isp_pk_nayatel_surfsafely",
                                          "ooni.pk_2",
                                          "ooni.pk_3",
                                          "ooni.pk_4"};

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
  if (!strcmp(scope, "nat") || !strcmp(scope, "isp") || !strcmp(scope, "prod") ||
      !strcmp(scope, "inst"))
    return CS_FP_KIND_CENSORSHIP;
  if (!strcmp(scope, "fp")) return CS_FP_KIND_FALSE_POSITIVE;
  if (!strcmp(scope, "injb") || !strcmp(scope, "prov")) return CS_FP_KIND_BENIGN;
  return CS_FP_KIND_WEAK; /* vbw, br, unknown */
}

/* Censored Planet names: a_prod, b_nat, c_isp, d_corp, e_unk, f_gen (README order). */
static const char *cp_scope(const char *name) {
  static const struct {
    const char *prefix, *scope;
  } t[] = {{"a_", "prod"}, {"b_", "nat"}, {"c_", "isp"},
           {"d_", "inst"}, {"e_", "unk"}, {"f_", "gen"}};
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

/* Literals found by the index: body / whole response / header lines. Values of one named
 * header are short and matched directly. */
static bool indexed(const fp *f) {
  return f->lit && f->litlen >= GRAM &&
         (f->loc == LOC_BODY || f->loc == LOC_RESPONSE || f->loc == LOC_ANY_HDR);
}

static inline uint32_t gram_at(const uint8_t *p) {
  uint32_t g;
  memcpy(&g, p, sizeof g);
  return g;
}
static inline uint32_t gram_hash(uint32_t g) { return g * 0x9E3779B1u; }

static gram_slot *slot_find(const cs_fp_db *db, uint32_t g) {
  uint32_t mask = (1u << db->slot_bits) - 1, i = gram_hash(g) >> (32 - db->slot_bits);
  for (;; i = (i + 1) & mask) {
    gram_slot *sl = &db->slots[i];
    if (!sl->count || sl->gram == g) return sl;
  }
}

static int build_index(cs_fp_db *db) {
  size_t nlit = 0;
  for (size_t i = 0; i < db->n; i++) nlit += indexed(&db->v[i]);
  /* how often each gram (by a 16-bit hash: collisions only make a count pessimistic) occurs
   * in the literals, to file each literal under a rare one */
  uint16_t *freq = calloc(65536, sizeof *freq);
  uint32_t *choice = malloc((db->n ? db->n : 1) * sizeof *choice);
  db->ents = malloc((nlit ? nlit : 1) * sizeof *db->ents);
  db->slot_bits = 4;
  while ((1u << db->slot_bits) < 2 * nlit + 16) db->slot_bits++;
  db->slots = calloc((size_t)1 << db->slot_bits, sizeof *db->slots);
  uint32_t *fill = calloc((size_t)1 << db->slot_bits, sizeof *fill);
  if (!freq || !choice || !db->ents || !db->slots || !fill) {
    free(freq), free(choice), free(fill);
    return -1;
  }
  for (size_t i = 0; i < db->n; i++) {
    const fp *f = &db->v[i];
    if (!indexed(f)) continue;
    for (size_t k = 0; k + GRAM <= f->litlen && k < MAX_WINDOWS; k++) {
      uint16_t *c = &freq[gram_hash(gram_at((const uint8_t *)f->lit + k)) >> 16];
      if (*c < UINT16_MAX) ++*c;
    }
  }
  /* each literal is filed under its rarest gram (the first such window) */
  for (size_t i = 0; i < db->n; i++) {
    const fp *f = &db->v[i];
    if (!indexed(f)) continue;
    size_t best = SIZE_MAX, boff = 0;
    for (size_t k = 0; k + GRAM <= f->litlen && k < MAX_WINDOWS; k++) {
      size_t c = freq[gram_hash(gram_at((const uint8_t *)f->lit + k)) >> 16];
      if (c < best) best = c, boff = k;
    }
    choice[i] = (uint32_t)boff;
    uint32_t g = gram_at((const uint8_t *)f->lit + boff);
    gram_slot *sl = slot_find(db, g);
    sl->gram = g;
    sl->count++;
  }
  free(freq);
  /* CSR: each slot's entries are contiguous */
  uint32_t at = 0;
  for (size_t i = 0; i < (size_t)1 << db->slot_bits; i++) {
    db->slots[i].start = at;
    at += db->slots[i].count;
  }
  for (size_t i = 0; i < db->n; i++) {
    const fp *f = &db->v[i];
    if (!indexed(f)) continue;
    uint32_t g = gram_at((const uint8_t *)f->lit + choice[i]);
    gram_slot *sl = slot_find(db, g);
    db->ents[sl->start + fill[sl - db->slots]++] = (gram_ent){(uint32_t)i, choice[i]};
    uint32_t h = gram_hash(g) >> 16;
    db->filter[h >> 6] |= (uint64_t)1 << (h & 63);
  }
  free(fill);
  free(choice);
  return 0;
}

/* Sets bit i of hits for every indexed literal i found in s[0..n). */
static void literal_hits(const cs_fp_db *db, const uint8_t *s, size_t n, uint8_t *hits) {
  for (size_t i = 0; i + GRAM <= n; i++) {
    uint32_t g = gram_at(s + i), h = gram_hash(g) >> 16;
    if (!(db->filter[h >> 6] >> (h & 63) & 1)) continue;
    const gram_slot *sl = slot_find(db, g);
    for (uint32_t k = 0; k < sl->count; k++) {
      const gram_ent *e = &db->ents[sl->start + k];
      const fp *f = &db->v[e->id];
      if (hits[e->id >> 3] & (1u << (e->id & 7))) continue;
      if (e->off > i || f->litlen > n - (i - e->off)) continue;
      if (!memcmp(s + i - e->off, f->lit, f->litlen))
        hits[e->id >> 3] |= (uint8_t)(1u << (e->id & 7));
    }
  }
}

/* ---- required literals of regular expressions ------------------------------------------ */

/* A PCRE2 quantifier "{n}", "{n,}" or "{n,m}" at p (p[0] == '{'); its length, or 0. */
static size_t brace_quantifier(const char *p, size_t n) {
  size_t i = 1;
  while (i < n && p[i] >= '0' && p[i] <= '9') i++;
  if (i == 1) return 0;
  if (i < n && p[i] == ',') {
    i++;
    while (i < n && p[i] >= '0' && p[i] <= '9') i++;
  }
  return i < n && p[i] == '}' ? i + 1 : 0;
}

/* Skips a character class starting at p[0] == '['; returns its length, or 0 if unterminated. */
static size_t skip_class(const char *p, size_t n) {
  size_t i = 1;
  if (i < n && p[i] == '^') i++;
  if (i < n && p[i] == ']') i++; /* a leading ']' is a member */
  while (i < n && p[i] != ']') {
    if (p[i] == '\\') i++;
    i++;
  }
  return i < n ? i + 1 : 0;
}

/* Skips a group starting at p[0] == '('; returns its length, or 0 if unbalanced. */
static size_t skip_group(const char *p, size_t n) {
  size_t depth = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\\') {
      i++;
    } else if (p[i] == '[') {
      size_t k = skip_class(p + i, n - i);
      if (!k) return 0;
      i += k - 1;
    } else if (p[i] == '(') depth++;
    else if (p[i] == ')' && --depth == 0) return i + 1;
  }
  return 0;
}

/* The run being read: bytes that must appear consecutively in every match. */
typedef struct {
  char run[CS_FP_LITERAL_MAX];
  size_t rl; /* bytes in run */
  bool lost; /* the run went on past the buffer (run is still a required prefix) */
  char *out; /* the longest run so far */
  size_t cap, best;
} lit_scan;

static void ls_put(lit_scan *ls, char c) {
  if (ls->rl < sizeof ls->run) ls->run[ls->rl++] = c;
  else ls->lost = true;
}
static void ls_flush(lit_scan *ls) {
  if (ls->rl > ls->best && ls->rl <= ls->cap) memcpy(ls->out, ls->run, ls->rl), ls->best = ls->rl;
  ls->rl = 0, ls->lost = false;
}

/* Constructs after which the simple reading below could lose its place or miss that a later
 * byte is not required: inline options and comments "(?x)" "(?#", lookaround, conditionals,
 * verbs "(*ACCEPT)", quoting "\\Q", POSIX classes "[:alpha:]". Looked for as plain
 * substrings, escaped or not, anywhere: such a pattern gets no literal. */
static bool unfollowable(const char *p, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    char a = p[i], b = p[i + 1];
    if ((a == '(' && b == '?' && !(i + 2 < n && p[i + 2] == ':')) || (a == '(' && b == '*') ||
        (a == '\\' && b == 'Q') || (a == '[' && (b == ':' || b == '.' || b == '=')))
      return true;
  }
  return false;
}

size_t cs_fp_required_literal(const char *p, size_t n, char *out, size_t cap) {
  lit_scan ls = {.out = out, .cap = cap};
  if (unfollowable(p, n)) return 0;
  for (size_t i = 0; i < n;) {
    char c = p[i];
    size_t k;
    switch (c) {
    case '|': /* alternation at the top level: no byte is required */
    case ')': /* unbalanced */ return 0;
    case '(': /* a group (capturing or "(?:"): required or not, its bytes are not followed */
      if (!(k = skip_group(p + i, n - i))) return 0;
      ls_flush(&ls);
      i += k;
      break;
    case '[':
      if (!(k = skip_class(p + i, n - i))) return 0;
      ls_flush(&ls);
      i += k;
      break;
    case '.':
    case '^':
    case '$':
      ls_flush(&ls);
      i++;
      break;
    case '*':
    case '?':
    case '+':
    case '{':
      if (c == '{' && !(k = brace_quantifier(p + i, n - i))) {
        /* not a quantifier: a literal '{', unless some PCRE2 version could read one here
         * ("{,3}", "{ 2}" since 10.43) */
        size_t j = i + 1;
        while (j < n && (p[j] == ' ' || p[j] == '\t')) j++;
        if (j < n && ((p[j] >= '0' && p[j] <= '9') || p[j] == ',')) return 0;
        ls_put(&ls, c);
        i++;
        break;
      }
      if (c != '{') {
        k = 1;
      }
      /* the quantified atom (the run's last byte, when the run ends with one) is optional or
       * repeated: the run before it is still required */
      if (!ls.lost && ls.rl) ls.rl--;
      ls_flush(&ls);
      i += k;
      break;
    case '\\':
      if (i + 1 >= n) return 0;
      c = p[i + 1];
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        /* single-token classes and assertions end a run; escapes with arguments or other
         * meanings (\x41, \Q..\E, \1, \p{..}, \K ...) are not followed */
        if (!strchr("dDsSwWhHvVbBAzZGnrtfeaR", c)) return 0;
        ls_flush(&ls);
      } else {
        ls_put(&ls, c); /* an escaped metacharacter is itself */
      }
      i += 2;
      break;
    default:
      ls_put(&ls, c);
      i++;
      break;
    }
  }
  ls_flush(&ls);
  return ls.best;
}

static bool compile(cs_fp_db *db, fp *f, const char *pattern, size_t len) {
  int errc;
  PCRE2_SIZE erroff;
  f->re = pcre2_compile((PCRE2_SPTR)pattern, len, 0, &errc, &erroff, NULL);
  if (!f->re) {
    db->nbad++;
    return false;
  }
  /* The required literal decides whether the expression runs at all (most never do on a
   * given page), so the interpreter is enough: no JIT (no writable+executable memory, less
   * RSS, no compile time at start-up). */
  char lit[CS_FP_LITERAL_MAX];
  size_t l = cs_fp_required_literal(pattern, len, lit, sizeof lit);
  if (l >= GRAM) {
    f->lit = cs_arena_memdup(db->a, lit, l);
    f->litlen = f->lit ? l : 0;
  }
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
  int c_name = col(hdr, nh, "name"), c_scope = col(hdr, nh, "scope"),
      c_loc = col(hdr, nh, "location_found"), c_pt = col(hdr, nh, "pattern_type"),
      c_pat = col(hdr, nh, "pattern"), c_cc = col(hdr, nh, "expected_countries"),
      c_other = col(hdr, nh, "other_names"), c_resp = col(hdr, nh, "response");
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
    const char *pt = kind == F_OONI_DNS || kind == F_OONI_HTTP ? FIELD(c_pt)
                     : kind == F_CL_DNS                        ? "full"
                                                               : "contains";
    f->m.location = dup(db, loc);
    if (!strcmp(loc, "dns")) f->loc = LOC_DNS, f->has_ip = cs_ip_parse(f->pat, &f->ip);
    else if (!strcmp(loc, "body")) f->loc = LOC_BODY;
    else if (!strncmp(loc, "header.", 7) && loc[7])
      f->loc = LOC_HEADER, f->hname = f->m.location + 7;
    else if (!strcmp(loc, "header")) f->loc = LOC_ANY_HDR;
    else {
      db->n--; /* unknown location */
      continue;
    }
    if (!strcmp(pt, "full")) f->pt = PT_FULL;
    else if (!strcmp(pt, "prefix")) f->pt = PT_PREFIX;
    else if (!strcmp(pt, "contains")) f->pt = PT_CONTAINS, f->lit = f->pat, f->litlen = f->patlen;
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
    const char *name = cs_json_get_str(o, "fingerprint", NULL),
               *pat = cs_json_get_str(o, "pattern", NULL);
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
      f->lit = f->pat, f->litlen = f->patlen;
    }
    cs_fp_kind kind = false_positive               ? CS_FP_KIND_FALSE_POSITIVE
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
  if (db->n < db->cap) { /* the array doubled while loading: give the tail back */
    fp *nv = realloc(db->v, (db->n ? db->n : 1) * sizeof *nv);
    if (nv) db->v = nv, db->cap = db->n;
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
  free(db->slots);
  free(db->ents);
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

/* Whether the literal of f (indexed) occurs in h; the haystack's hits are computed on first use. */
static bool lit_hit(const cs_fp_db *db, const fp *f, hay *h) {
  if (!h->hits) {
    h->hits = calloc(db->n / 8 + 1, 1);
    if (!h->hits) return memmem(h->s, h->n, f->lit, f->litlen) != NULL;
    literal_hits(db, h->s, h->n, h->hits);
  }
  size_t id = (size_t)(f - db->v);
  return (h->hits[id >> 3] >> (id & 7)) & 1;
}

static bool match_bytes(const cs_fp_db *db, const fp *f, hay *h, pcre2_match_data *md) {
  if (!h->s) h->s = (const uint8_t *)"", h->n = 0;
  const uint8_t *s = h->s;
  size_t n = h->n;
  switch (f->pt) {
  case PT_FULL: return n == f->patlen && !memcmp(s, f->pat, n);
  case PT_PREFIX: return n >= f->patlen && !memcmp(s, f->pat, f->patlen);
  case PT_CONTAINS:
    if (indexed(f)) return lit_hit(db, f, h);
    return f->patlen && memmem(s, n, f->pat, f->patlen) != NULL;
  case PT_REGEXP:
    if (!f->re || !md) return false;
    if (indexed(f) && !lit_hit(db, f, h)) return false; /* its required literal is absent */
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
    cs_buf_printf(&head, "%s: %s\r\n", r->hnames[i] ? r->hnames[i] : "",
                  r->hvalues[i] ? r->hvalues[i] : "");
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
    if (!hit && is_ip && f->has_ip)
      hit = f->ip.family == a.family && !memcmp(a.b, f->ip.b, a.family == AF_INET ? 4 : 16);
    if (hit) better(f, out, &found);
  }
  return found;
}

bool cs_fp_country_ok(const cs_fp_match *m, const char *cc) {
  if (!m->expected_countries || !*m->expected_countries || !cc || !*cc || !strcmp(cc, "ZZ"))
    return true;
  size_t l = strlen(cc);
  for (const char *p = m->expected_countries; *p;) {
    size_t k = strcspn(p, ",");
    if (k == l && !strncasecmp(p, cc, l)) return true;
    p += k;
    if (*p == ',') p++;
  }
  return false;
}
