/* cmd_analyze.c - `censorscope analyze [OPTIONS] FILE...`: re-analyses stored measurements
 * (ours or OONI's: JSON lines, one JSON object or array, or the OONI explorer API wrapper)
 * and compares our verdict with the one recorded in the file. Each measurement goes to its
 * nettest's analyze (nettests/registry.h, by test_name); web_connectivity keeps its detailed
 * output (blocking/accessible, OONI's algorithm, fingerprints). The analyses themselves are
 * in the library (pure); this file only reads files and prints. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/fingerprints.h"
#include "analysis/wc_analysis.h"
#include "cli/cli.h"
#include "nettests/registry.h"
#include "util/buf.h"
#include "util/ipnet.h"
#include "util/json.h"

#define MAX_INPUT (512u << 20) /* per file */

static const char usage_text[] =
    "usage: censorscope analyze [OPTIONS] FILE...\n"
    "\n"
    "Re-analyses each web_connectivity measurement in FILE (JSON lines, a single JSON object\n"
    "or array, or an OONI explorer API response; '-' is stdin) and prints, per measurement:\n"
    "the input URL, the blocking/accessible values recorded in the file (OONI's), ours,\n"
    "'match' or 'DIFFERENT' with the rule that decided, and any blockpage fingerprint.\n"
    "Measurements of the other nettests with an analysis get one line: the input, the\n"
    "outcome recorded in the file (x_outcome), ours, and 'match' or 'DIFFERENT'; those of a\n"
    "nettest without one are skipped with the reason.\n"
    "\n"
    "options:\n"
    "      --fingerprints DIR  fingerprint files (default $CS_FINGERPRINTS_DIR, else\n"
    "                          data/fingerprints of the cwd or of the repo holding this\n"
    "                          binary); --fingerprints none disables matching\n"
    "      --lab-net CIDR      treat this reserved range as public address space (repeatable)\n"
    "      --algo ALGO         auto (default: by test_version; with --ooni-strict each\n"
    "                          version's own rule), lte, lte-orig (LTE 0.5.0-0.5.26),\n"
    "                          v0.4 or legacy\n"
    "      --ooni-strict       reproduce OONI exactly: no censorscope deviations\n"
    "      --json              one JSON object per measurement with the verdict keys\n"
    "  -h, --help              this help\n"
    "\n"
    "exit status: 0 when every file was read (whatever the verdicts), 1 when a file could not\n"
    "be read or parsed, 2 on a usage error.\n";

typedef struct {
  cs_wc_options opt;
  const char *algo; /* --algo as given */
  bool json;
  size_t n, same, differ, skipped;
  size_t other_n, other_same, other_differ; /* nettests other than web_connectivity */
} state;

static const char *tri_str(cs_wc_tri t) {
  return t == CS_WC_YES ? "true" : t == CS_WC_NO ? "false" : "null";
}

static void ktri(cs_jw *w, const char *k, cs_wc_tri t) {
  if (t == CS_WC_UNKNOWN) cs_jw_knull(w, k);
  else cs_jw_kbool(w, k, t == CS_WC_YES);
}

/* A measurement of another nettest, through its registry entry: recorded outcome vs ours. */
static int analyze_other(state *s, const cs_nettest *nt, cs_arena *a, const cs_jval *m,
                         const char *where) {
  cs_analysis_opts ao = {.fingerprints = s->opt.fingerprints,
                         .ooni_strict = s->opt.ooni_strict,
                         .algo = s->algo,
                         .probe_cc = cs_json_get_str(m, "probe_cc", NULL)};
  cs_outcome rec, ours;
  bool has_rec = cs_outcome_read(m, &rec) == 0;
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_jw w;
  cs_jw_init(&w, &b);
  if (s->json) {
    cs_jw_obj_open(&w);
    cs_jw_kstr(&w, "file", where);
    cs_jw_kstr(&w, "input", cs_json_get_str(m, "input", NULL));
    cs_jw_kstr(&w, "test_name", nt->name);
    cs_jw_kstr(&w, "test_version", cs_json_get_str(m, "test_version", NULL));
    cs_jw_kstr(&w, "report_id", cs_json_get_str(m, "report_id", NULL));
    cs_jw_kstr(&w, "probe_cc", cs_json_get_str(m, "probe_cc", NULL));
    cs_jw_key(&w, "recorded");
    if (has_rec) {
      cs_jw_obj_open(&w);
      cs_outcome_write(&w, &rec);
      cs_jw_obj_close(&w);
    } else {
      cs_jw_null(&w);
    }
  }
  int rc = nt->analyze(a, m, &ao, s->json ? &w : NULL, &ours);
  bool same = has_rec && rc == 0 && !strcmp(rec.key, ours.key) && rec.censorship == ours.censorship;
  s->other_n++;
  if (has_rec) same ? s->other_same++ : s->other_differ++;
  if (s->json) {
    cs_jw_key(&w, "outcome_matches_recorded");
    if (has_rec) cs_jw_bool(&w, same);
    else cs_jw_null(&w);
    cs_jw_obj_close(&w);
    if (!b.overflow) {
      fwrite(b.data, 1, b.len, stdout);
      fputc('\n', stdout);
    }
    cs_buf_free(&b);
    return 0;
  }
  cs_buf_free(&b);
  const char *input = cs_json_get_str(m, "input", NULL);
  printf("%s  %s\n", where, input ? input : "(no input)");
  printf("    %s %s: recorded outcome=%s | ours outcome=%s%s  %s%s%s%s\n", nt->name,
         cs_json_get_str(m, "test_version", "?"), has_rec ? rec.key : "-", rc == 0 ? ours.key : "-",
         rc == 0 && ours.censorship ? " (censorship)" : "",
         rc < 0     ? "not-analysable"
         : !has_rec ? "no-recorded-verdict"
         : same     ? "match"
                    : "DIFFERENT",
         rc == 0 && ours.evidence ? "  (" : "", rc == 0 && ours.evidence ? ours.evidence : "",
         rc == 0 && ours.evidence ? ")" : "");
  return 0;
}

/* One measurement value (already unwrapped or not). Returns 0, or 1 when skipped. */
static int analyze_one(state *s, cs_arena *a, const cs_jval *m0, const char *where) {
  const cs_jval *m = cs_wc_unwrap(a, m0);
  const char *tn = cs_json_get_str(m, "test_name", NULL);
  const cs_nettest *nt = tn ? cs_nettest_find(tn) : NULL;
  if (!m || !cs_json_get(m, "test_keys") ||
      (tn && strcmp(tn, "web_connectivity") && (!nt || !nt->analyze))) {
    s->skipped++;
    if (!s->json) fprintf(stdout, "%s  skipped (%s)\n", where, tn ? tn : "not a measurement");
    return 1;
  }
  if (tn && strcmp(tn, "web_connectivity")) return analyze_other(s, nt, a, m, where);
  cs_wc_obs o;
  cs_wc_obs_read(a, m, &o);
  cs_wc_verdict v;
  cs_wc_verdict_compute(a, &o, &s->opt, &v);
  bool has_rec = o.recorded.present;
  bool same = has_rec && (int)v.blocking == o.recorded.blocking;
  s->n++;
  if (has_rec) same ? s->same++ : s->differ++;

  if (s->json) {
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_jw w;
    cs_jw_init(&w, &b);
    cs_jw_obj_open(&w);
    cs_jw_kstr(&w, "file", where);
    cs_jw_kstr(&w, "input", o.input);
    cs_jw_kstr(&w, "test_version", o.test_version);
    cs_jw_kstr(&w, "report_id", o.report_id);
    cs_jw_kstr(&w, "probe_cc", o.probe_cc);
    cs_jw_key(&w, "recorded");
    if (has_rec) {
      cs_jw_obj_open(&w);
      cs_jw_key(&w, "blocking");
      cs_wc_write_blocking(&w, (cs_wc_blocking)o.recorded.blocking);
      ktri(&w, "accessible", o.recorded.accessible);
      cs_jw_obj_close(&w);
    } else {
      cs_jw_null(&w);
    }
    cs_jw_key(&w, "blocking_matches_recorded");
    if (has_rec) cs_jw_bool(&w, same);
    else cs_jw_null(&w);
    cs_wc_verdict_write(&w, &v);
    cs_jw_obj_close(&w);
    fwrite(b.data, 1, b.len, stdout);
    fputc('\n', stdout);
    cs_buf_free(&b);
    return 0;
  }
  printf("%s  %s\n", where, o.input ? o.input : "(no input)");
  printf("    web_connectivity %s: recorded blocking=%s accessible=%s | ours blocking=%s "
         "accessible=%s  %s  (%s: %s)\n",
         o.test_version ? o.test_version : "?",
         has_rec ? cs_wc_blocking_str((cs_wc_blocking)o.recorded.blocking) : "-",
         has_rec ? tri_str(o.recorded.accessible) : "-", cs_wc_blocking_str(v.blocking),
         tri_str(v.accessible),
         !has_rec ? "no-recorded-verdict"
         : same   ? "match"
                  : "DIFFERENT",
         v.algorithm ? v.algorithm : "?", v.reason ? v.reason : "?");
  if (v.blocking != v.ooni_blocking || v.accessible != v.ooni_accessible)
    printf("    OONI's algorithm alone: blocking=%s accessible=%s\n",
           cs_wc_blocking_str(v.ooni_blocking), tri_str(v.ooni_accessible));
  if (v.server_side_block)
    printf("    server-side block (not censorship): %s\n", v.server_side_block);
  if (v.blockpage_found)
    printf("    fingerprint: %s (%s, scope %s%s%s, %s)%s%s\n", v.blockpage.name, v.blockpage.source,
           v.blockpage.scope, *v.blockpage.expected_countries ? ", expected " : "",
           v.blockpage.expected_countries, cs_fp_kind_str(v.blockpage.kind),
           v.blockpage_confirmed ? " CONFIRMED" : "", v.blockpage_optin ? " OPT-IN FILTER" : "");
  return 0;
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!f) return NULL;
  cs_buf b;
  cs_buf_init(&b, MAX_INPUT);
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (cs_buf_append(&b, chunk, n)) break;
  bool bad = ferror(f) || b.overflow;
  if (f != stdin) fclose(f);
  if (bad || !cs_buf_cstr(&b)) {
    cs_buf_free(&b);
    return NULL;
  }
  *len = b.len;
  return (char *)b.data;
}

static int analyze_file(state *s, const char *path) {
  size_t len;
  char *text = read_all(path, &len);
  if (!text) {
    fprintf(stderr, "analyze: %s: cannot read\n", path);
    return 1;
  }
  int rc = 0;
  char err[128];
  cs_arena *a = cs_arena_new(0);
  const cs_jval *v = a ? cs_json_parse(a, text, len, NULL, err, sizeof err) : NULL;
  if (v && v->type == CS_JARR) {
    for (size_t i = 0; i < v->len; i++) {
      char where[4200];
      snprintf(where, sizeof where, "%s[%zu]", path, i);
      analyze_one(s, a, v->kids[i], where);
    }
  } else if (v) {
    analyze_one(s, a, v, path);
  } else {
    /* JSON lines: one arena per line keeps memory bounded by the longest line */
    size_t off = 0, lineno = 0, parsed = 0;
    while (off < len) {
      const char *nl = memchr(text + off, '\n', len - off);
      size_t l = nl ? (size_t)(nl - (text + off)) : len - off;
      const char *line = text + off;
      off += l + (nl ? 1 : 0);
      lineno++;
      size_t k = 0;
      while (k < l && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) k++;
      if (k == l) continue;
      cs_arena *la = cs_arena_new(0);
      if (!la) break;
      const cs_jval *m = cs_json_parse(la, line, l, NULL, err, sizeof err);
      char where[4200];
      snprintf(where, sizeof where, "%s:%zu", path, lineno);
      if (!m) {
        fprintf(stderr, "analyze: %s: %s\n", where, err);
        rc = 1;
      } else {
        parsed++;
        analyze_one(s, la, m, where);
      }
      cs_arena_free(la);
    }
    if (!parsed) rc = 1;
  }
  cs_arena_free(a);
  free(text);
  return rc;
}

static int run(int argc, char **argv) {
  enum { O_FP = 1000, O_LABNET, O_ALGO, O_STRICT, O_JSON };
  static const struct option opts[] = {{"fingerprints", required_argument, 0, O_FP},
                                       {"lab-net", required_argument, 0, O_LABNET},
                                       {"algo", required_argument, 0, O_ALGO},
                                       {"ooni-strict", no_argument, 0, O_STRICT},
                                       {"json", no_argument, 0, O_JSON},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  state s;
  memset(&s, 0, sizeof s);
  const char *fpdir = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case O_FP: fpdir = optarg; break;
    case O_LABNET:
      if (cs_labnet_add(optarg) < 0) {
        fprintf(stderr, "analyze: bad --lab-net '%s' (CIDR expected)\n", optarg);
        return 2;
      }
      break;
    case O_ALGO:
      s.algo = optarg;
      if (!strcmp(optarg, "auto")) s.opt.algo = CS_WC_ALGO_AUTO;
      else if (!strcmp(optarg, "lte")) s.opt.algo = CS_WC_ALGO_LTE;
      else if (!strcmp(optarg, "v0.4")) s.opt.algo = CS_WC_ALGO_V04;
      else if (!strcmp(optarg, "legacy")) s.opt.algo = CS_WC_ALGO_LEGACY;
      else if (!strcmp(optarg, "lte-orig")) s.opt.algo = CS_WC_ALGO_LTE_ORIG;
      else {
        fprintf(stderr, "analyze: bad --algo '%s'\n", optarg);
        return 2;
      }
      break;
    case O_STRICT: s.opt.ooni_strict = true; break;
    case O_JSON: s.json = true; break;
    case 'h': fputs(usage_text, stdout); return 0;
    default: fputs(usage_text, stderr); return 2;
    }
  }
  if (optind >= argc) {
    fputs(usage_text, stderr);
    return 2;
  }
  cs_fp_db *db = NULL;
  if (!fpdir || strcmp(fpdir, "none")) {
    char err[256];
    db = cs_fp_db_load(fpdir, err, sizeof err);
    if (!db && !fpdir && !getenv("CS_FINGERPRINTS_DIR")) {
      /* not run from the repo root: try <repo>/data/fingerprints next to build/<BUILD>/censorscope */
      char exe[4096], dir[4200];
      ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
      if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
          *slash = 0;
          snprintf(dir, sizeof dir, "%s/../../data/fingerprints", exe);
          db = cs_fp_db_load(dir, err, sizeof err);
        }
      }
    }
    if (!db && fpdir) {
      fprintf(stderr, "analyze: %s\n", err);
      return 1;
    }
    if (!db) fprintf(stderr, "analyze: no fingerprints (%s); continuing without\n", err);
  }
  s.opt.fingerprints = db;
  int rc = 0;
  for (int i = optind; i < argc; i++)
    if (analyze_file(&s, argv[i])) rc = 1;
  if (!s.json) {
    printf("\n%zu web_connectivity measurement(s): %zu match the recorded blocking, %zu differ; "
           "%zu skipped\n",
           s.n, s.same, s.differ, s.skipped);
    if (s.other_n)
      printf("%zu measurement(s) of other nettests: %zu match the recorded outcome, %zu differ\n",
             s.other_n, s.other_same, s.other_differ);
  }
  cs_fp_db_free(db);
  return rc;
}

const cs_command cs_cmd_analyze = {
    "analyze", "re-analyse stored measurements of any nettest (ours or OONI's)", run};
